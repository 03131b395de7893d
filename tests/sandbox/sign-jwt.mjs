#!/usr/bin/env node
// Signs a JWT for the sandbox's JWT-based credentials (selftest.sh, manual poking).
//
//   node sign-jwt.mjs --key FILE [--alg RS256|PS256] [--header JSON] [--claims JSON]
//                     [--x5t-s256 CERT] [--x5t CERT]
//
// --key       a PEM private key (PKCS#8 or PKCS#1), or a Google service-account key file
//             (JSON: its private_key is used and its private_key_id becomes the header kid)
// --header    JSON merged over {"alg":ALG,"typ":"JWT"}
// --claims    JSON claim set. String values "now", "now+N", "now-N" become epoch seconds;
//             "uuid" becomes a random UUID (for jti).
// --x5t-s256  add header x5t#S256 = base64url(SHA-256(DER of CERT)); --x5t: the same with SHA-1
//
// Prints the compact JWT on stdout. Exit 2 on bad usage.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

function usage(msg) {
  if (msg) process.stderr.write(`sign-jwt: ${msg}\n`);
  process.stderr.write('usage: node sign-jwt.mjs --key FILE [--alg RS256|PS256] [--header JSON] [--claims JSON] [--x5t-s256 CERT] [--x5t CERT]\n');
  process.exit(2);
}

const o = { alg: 'RS256', header: {}, claims: {} };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 1) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    i += 1;
    return argv[i];
  };
  try {
    switch (a) {
      case '--key': o.key = val(); break;
      case '--alg': o.alg = val(); break;
      case '--header': o.header = JSON.parse(val()); break;
      case '--claims': o.claims = JSON.parse(val()); break;
      case '--x5t-s256': o.x5tS256 = val(); break;
      case '--x5t': o.x5t = val(); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  } catch (e) {
    usage(`${a}: ${e.message}`);
  }
}
if (!o.key) usage('--key is required');
if (!['RS256', 'PS256'].includes(o.alg)) usage('--alg must be RS256 or PS256');

const keyText = fs.readFileSync(o.key, 'utf8');
let pem = keyText;
const header = { alg: o.alg, typ: 'JWT' };
if (keyText.trimStart().startsWith('{')) {
  const sa = JSON.parse(keyText);
  pem = sa.private_key;
  if (sa.private_key_id) header.kid = sa.private_key_id;
}
const key = crypto.createPrivateKey(pem);
const thumb = (file, hash) => crypto.createHash(hash)
  .update(new crypto.X509Certificate(fs.readFileSync(file)).raw).digest('base64url');
if (o.x5tS256) header['x5t#S256'] = thumb(o.x5tS256, 'sha256');
if (o.x5t) header.x5t = thumb(o.x5t, 'sha1');
Object.assign(header, o.header);

const now = Math.floor(Date.now() / 1000);
const claims = {};
for (const [k, v] of Object.entries(o.claims)) {
  const m = typeof v === 'string' ? /^now(?:([+-])(\d+))?$/.exec(v) : null;
  if (m) claims[k] = now + (m[1] === '-' ? -1 : 1) * Number(m[2] || 0);
  else if (v === 'uuid') claims[k] = crypto.randomUUID();
  else claims[k] = v;
}

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const input = `${b64(header)}.${b64(claims)}`;
const sig = o.alg === 'RS256'
  ? crypto.sign('sha256', Buffer.from(input), key)
  : crypto.sign('sha256', Buffer.from(input), {
    key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST,
  });
process.stdout.write(`${input}.${sig.toString('base64url')}\n`);
