// node token-stats.mjs GRANT: how many token requests of GRANT (e.g. refresh_token) the sandbox
// OAuth2 server has answered (GET /_test/stats at $SANDBOX_ISSUER, trusting $SANDBOX_CA_FILE).
// Shared by the bindings' tests and the Delphi test under Wine.
import https from 'node:https';
import fs from 'node:fs';
const grant = process.argv[2];
https.get(process.env.SANDBOX_ISSUER + '/_test/stats', { ca: fs.readFileSync(process.env.SANDBOX_CA_FILE) }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (d) => { body += d; });
  res.on('end', () => {
    if (res.statusCode !== 200) { console.error('HTTP ' + res.statusCode); process.exit(1); }
    console.log(JSON.parse(body).token_requests[grant] ?? 0);
  });
}).on('error', (e) => { console.error(e.message); process.exit(1); });
