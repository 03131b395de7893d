// node graph-test.mjs METHOD PATH [JSON-BODY]: the Graph emulator's /_test/ endpoints, for the
// bindings' tests (GRAPH_ROOT, SANDBOX_CA_FILE from scripts/sandbox-env.sh).
import https from 'node:https';
import fs from 'node:fs';
const [method, path, body] = process.argv.slice(2);
const req = https.request(process.env.GRAPH_ROOT + path, {
  method, ca: fs.readFileSync(process.env.SANDBOX_CA_FILE),
  headers: body ? { 'content-type': 'application/json' } : {},
}, (res) => {
  let out = '';
  res.setEncoding('utf8');
  res.on('data', (d) => { out += d; });
  res.on('end', () => {
    if (res.statusCode !== 200) { console.error(`HTTP ${res.statusCode}: ${out}`); process.exit(1); }
    process.stdout.write(out);
  });
});
req.on('error', (e) => { console.error(e.message); process.exit(1); });
req.end(body);
