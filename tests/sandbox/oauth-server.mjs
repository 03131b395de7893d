#!/usr/bin/env node
// Test OAuth 2.0 authorization server for the oauthmail test-suite.
//
//   node oauth-server.mjs --port 0 --certs DIR [--work DIR] [--state-file FILE] [--no-stdin-watch]
//
// A real oidc-provider 9.x instance, served over HTTPS on 127.0.0.1 only, with
// static test clients and a few test-only endpoints under /_test/. When it is
// listening it prints exactly one JSON line on stdout (the issuer and endpoints);
// everything else goes to stderr. See README.md.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';

// stdout carries exactly one JSON line: send everything oidc-provider (or anyone
// else) prints via console.log/info to stderr. Done before oidc-provider loads.
console.log = console.error;
console.info = console.error;
const { default: Provider, errors: oidcErrors } = await import('oidc-provider');

// ---------------------------------------------------------------- CLI
function usage(msg) {
  if (msg) process.stderr.write(`oauth-server: ${msg}\n`);
  process.stderr.write('usage: node oauth-server.mjs --port PORT --certs DIR [--work DIR] [--state-file FILE] [--no-stdin-watch]\n');
  process.exit(2);
}

const opts = { port: 0, certs: undefined, work: undefined, stateFile: undefined, stdinWatch: true };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      i += 1;
      return argv[i];
    };
    switch (a) {
      case '--port': opts.port = Number.parseInt(val(), 10); break;
      case '--certs': opts.certs = val(); break;
      case '--work': opts.work = val(); break;
      case '--state-file': opts.stateFile = val(); break;
      case '--no-stdin-watch': opts.stdinWatch = false; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!opts.certs) usage('--certs DIR is required (create it with make-certs.sh DIR)');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port');
  // where the service-account key files are written (one pair per server, named by port)
  opts.work ??= opts.certs;
}

const log = (...args) => process.stderr.write(`[oauth-server] ${args.join(' ')}\n`);

const tlsKey = fs.readFileSync(path.join(opts.certs, 'server.key'));
const tlsCert = fs.readFileSync(path.join(opts.certs, 'server.pem'));
const caCert = fs.readFileSync(path.join(opts.certs, 'ca.pem'));

// cert-app's certificate (make-certs.sh adds it, also to a PKI directory made before it existed)
let clientCert;
try {
  clientCert = new crypto.X509Certificate(fs.readFileSync(path.join(opts.certs, 'client-cert.pem')));
} catch (e) {
  log(`cannot read ${path.join(opts.certs, 'client-cert.pem')} (${e.code || e.message}): run make-certs.sh ${opts.certs} again, it adds the missing client certificate files`);
  process.exit(1);
}
const CERT_THUMBPRINT = {
  // Microsoft's identifiers of a certificate credential: base64url of the DER's SHA-256 / SHA-1
  s256: crypto.createHash('sha256').update(clientCert.raw).digest('base64url'),
  sha1: crypto.createHash('sha1').update(clientCert.raw).digest('base64url'),
  sha1Hex: crypto.createHash('sha1').update(clientCert.raw).digest('hex').toUpperCase(),
};
const clientCertKey = clientCert.publicKey;
// oidc-provider selects the verification key by the assertion's `kid` when there is one
// (Microsoft ignores `kid`). The key is registered once without a kid (for assertions that
// carry none) and once under each usual spelling of the certificate's thumbprint.
const CERT_APP_JWKS = (() => {
  const pub = clientCertKey.export({ format: 'jwk' });
  const rfc7638 = crypto.createHash('sha256').update(JSON.stringify({ e: pub.e, kty: pub.kty, n: pub.n })).digest('base64url');
  const sha256Hex = crypto.createHash('sha256').update(clientCert.raw).digest('hex');
  const sha1Hex = CERT_THUMBPRINT.sha1Hex;
  const kids = [CERT_THUMBPRINT.s256, CERT_THUMBPRINT.sha1, sha1Hex, sha1Hex.toLowerCase(),
    sha256Hex.toUpperCase(), sha256Hex, rfc7638];
  const base = { ...pub, use: 'sig', x5c: [clientCert.raw.toString('base64')] };
  return { keys: [base, ...[...new Set(kids)].map((kid) => ({ ...base, kid }))] };
})();

// ---------------------------------------------------------------- clients
const REDIRECT_URIS = [
  // native clients: loopback redirect URIs match with any port (RFC 8252 7.3)
  'http://127.0.0.1/',
  'http://localhost:3017/',
  'http://[::1]/',
  'http://127.0.0.1/callback',
  'http://localhost/callback',
];
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
// Microsoft Graph scopes (see tests/sandbox/graph). "mail" plays the Outlook resource
// (IMAP/POP/SMTP); one token request may name only one resource (AADSTS28000).
const GRAPH_PREFIX = 'https://graph.microsoft.com/';
const GRAPH_DEFAULT = `${GRAPH_PREFIX}.default`;
const GRAPH_SCOPES = [`${GRAPH_PREFIX}Mail.ReadWrite`, `${GRAPH_PREFIX}Mail.Send`, GRAPH_DEFAULT];
const USER_GRANTS = ['authorization_code', 'refresh_token', DEVICE];
// Google service accounts with domain-wide delegation: the JWT-bearer grant (RFC 7523), no
// client authentication; "mail" plays https://mail.google.com/.
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const GMAIL_PREFIX = 'https://www.googleapis.com/auth/gmail.';
const GMAIL_SCOPES = [`${GMAIL_PREFIX}modify`, `${GMAIL_PREFIX}send`, `${GMAIL_PREFIX}readonly`];
const SA_EMAIL = 'mail-robot@sandbox-project.iam.gserviceaccount.test';
const SA_PROJECT = 'sandbox-project';
const SA_USER_DOMAIN = 'example.test';
const SA_DEFAULT_DELEGATION = ['mail', `${GMAIL_PREFIX}modify`, `${GMAIL_PREFIX}send`];
const SA_DEFAULT_TTL = 3600;
const native = {
  application_type: 'native',
  redirect_uris: REDIRECT_URIS,
  response_types: ['code'],
};
const clients = [
  {
    ...native,
    client_id: 'confidential-app',
    client_secret: 'confidential-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: [...USER_GRANTS, 'client_credentials'],
  },
  {
    ...native,
    client_id: 'basic-app',
    client_secret: 'basic-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [...USER_GRANTS, 'client_credentials'],
  },
  {
    // Microsoft's certificate credential: a client assertion signed with the key of
    // client-cert.pem (private_key_jwt, no secret); see certAssertionRejected()
    ...native,
    client_id: 'cert-app',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: CERT_APP_JWKS,
    grant_types: [...USER_GRANTS, 'client_credentials'],
  },
  {
    ...native,
    client_id: 'public-app',
    token_endpoint_auth_method: 'none',
    grant_types: USER_GRANTS,
  },
  {
    ...native,
    client_id: 'short-app',
    client_secret: 'short-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: [...USER_GRANTS, 'client_credentials'],
  },
  {
    // 3-second access tokens: many processes sharing one grant refresh every 2 s or so
    ...native,
    client_id: 'tiny-app',
    client_secret: 'tiny-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: USER_GRANTS,
  },
  {
    ...native,
    client_id: 'tiny-db-app',
    client_secret: 'tiny-db-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: USER_GRANTS,
  },
  {
    client_id: 'cc-app',
    client_secret: 'cc-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'mail',
  },
  {
    // app-only Microsoft Graph (the Graph emulator, tests/sandbox/graph): admin-consented
    // application permissions are modelled by the single scope ".default"
    client_id: 'cc-graph-app',
    client_secret: 'cc-graph-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: GRAPH_DEFAULT,
  },
  {
    // the Google service account: only the JWT-bearer grant. The front handler checks the
    // assertion as Google does and only then hands the request over with client_id = its email.
    client_id: SA_EMAIL,
    token_endpoint_auth_method: 'none',
    grant_types: [JWT_BEARER],
    response_types: [],
    redirect_uris: [],
  },
  {
    client_id: 'mail-introspector',
    client_secret: 'introspector-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
];
const SHORT_TTL = { 'short-app': 5, 'tiny-app': 3, 'tiny-db-app': 3 };
const INTROSPECTORS = new Set(['mail-introspector']);

// ---------------------------------------------------------------- stats / fault injection
let stats;
let failToken; // { remaining, status }
let slowToken; // { remaining, ms }
let failIntrospection; // { remaining, status }
function resetStats() {
  stats = {
    token_requests: {},
    token_requests_total: 0,
    token_injected_failures: 0,
    token_delayed: 0,
    device_polls: 0,
    device_authorizations: 0,
    authorization_requests: 0,
    revocations: 0,
    introspections: 0,
    introspection_injected_failures: 0,
    strict_auth_rejections: 0,
    multi_resource_rejections: 0,
    client_assertion_rejections: 0,
    grant_success: {},
    grant_errors: {},
    // per client id: { token_requests: {grant: n}, grant_errors: {error: n} }
    by_client: {},
    last_token_request: null,
  };
  failToken = { remaining: 0, status: 500 };
  slowToken = { remaining: 0, ms: 0 };
  failIntrospection = { remaining: 0, status: 503 };
}
resetStats();

// service account: delegated scopes (Admin console > domain-wide delegation) and token TTL
let saDelegation;
let saTtl;
function resetServiceAccount() {
  saDelegation = new Set(SA_DEFAULT_DELEGATION);
  saTtl = SA_DEFAULT_TTL;
}
resetServiceAccount();

function countGrantError(clientId, error) {
  stats.grant_errors[error] = (stats.grant_errors[error] || 0) + 1;
  const cs = clientStats(clientId);
  cs.grant_errors[error] = (cs.grant_errors[error] || 0) + 1;
}

function clientStats(id) {
  const k = String(id || '(unknown)');
  if (!stats.by_client[k]) stats.by_client[k] = { token_requests: {}, grant_errors: {} };
  return stats.by_client[k];
}

// ---------------------------------------------------------------- provider
function emailFor(id) {
  return id.includes('@') ? id : `${id}@example.test`;
}

async function findAccount(ctx, id) {
  if (typeof id !== 'string' || !id) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: emailFor(id),
        email_verified: true,
        name: id.split('@')[0],
      };
    },
  };
}

function accessTokenTTL(ctx, token, client) {
  const id = client?.clientId ?? token?.clientId;
  return SHORT_TTL[id] ?? 3600;
}

const { privateKey: sigKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...sigKey.export({ format: 'jwk' }), kid: 'sandbox-rs256', use: 'sig', alg: 'RS256' };

const configuration = {
  clients,
  findAccount,
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'mail', ...GRAPH_SCOPES, ...GMAIL_SCOPES],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  pkce: {
    // S256 is the only method oidc-provider 9 supports; require it for every client.
    required: () => true,
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: {
      enabled: true,
      // public clients: only their own tokens; mail-introspector: anything;
      // other confidential clients: anything (oidc-provider's default behaviour).
      allowedPolicy(ctx, client, token) {
        if (INTROSPECTORS.has(client.clientId)) return true;
        if (client.clientAuthMethod === 'none' && token.clientId !== client.clientId) return false;
        return true;
      },
    },
    // Not needed: scopes listed in `scopes` (like "mail") are granted as ordinary
    // scopes and land in the opaque access token when no resource is requested.
    resourceIndicators: { enabled: false },
  },
  rotateRefreshToken: true,
  async issueRefreshToken(ctx, client, code) {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    // authorization_code / device_code: whenever offline_access was requested
    // (see the prompt=consent rewrite in the front handler for authorization_code).
    return code.scopes.has('offline_access');
  },
  async extraTokenClaims(ctx, token) {
    if (!token.accountId) return undefined;
    return { email: emailFor(token.accountId) };
  },
  ttl: {
    AccessToken: accessTokenTTL,
    ClientCredentials: accessTokenTTL,
    AuthorizationCode: 120,
    DeviceCode: 600,
    RefreshToken: 86400,
    IdToken: 3600,
    Interaction: 3600,
    Session: 86400,
    Grant: 86400,
  },
  // keep the dev error page, but make it short and machine-friendly
  async renderError(ctx, out) {
    ctx.type = 'html';
    const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    ctx.body = `<!DOCTYPE html><html><head><title>oops</title></head><body><h1>oops! something went wrong</h1>${
      Object.entries(out).map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('')}</body></html>`;
  },
};

let provider; // created once the port is known

// ---------------------------------------------------------------- JWS helpers
const isObj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

// Decodes a compact JWS without verifying it; null when it is not one.
function decodeJws(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((x) => !/^[A-Za-z0-9_-]*$/.test(x))) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (!isObj(header) || !isObj(payload)) return null;
    return {
      header,
      payload,
      input: Buffer.from(`${parts[0]}.${parts[1]}`),
      signature: Buffer.from(parts[2], 'base64url'),
    };
  } catch {
    return null;
  }
}

// RS256 / PS256 signature check with an RSA public key
function jwsSignatureOk(jws, publicKey, algs) {
  const { alg } = jws.header;
  if (!algs.includes(alg)) return false;
  try {
    if (alg === 'RS256') return crypto.verify('sha256', jws.input, publicKey, jws.signature);
    if (alg === 'PS256') {
      return crypto.verify('sha256', jws.input, {
        key: publicKey,
        padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
        saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST,
      }, jws.signature);
    }
  } catch {
    return false;
  }
  return false;
}

const nowSecs = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------- Google service account
// Two RSA key pairs made at startup: the service account's registered key and an unrelated
// one, written as Google-format key files (the second is the "wrong key" file) once the
// port, hence the token endpoint, is known.
const genRsa = () => new Promise((resolve, reject) => {
  crypto.generateKeyPair('rsa', { modulusLength: 2048 }, (e, publicKey, privateKey) => (
    e ? reject(e) : resolve({ publicKey, privateKey })));
});
const saKeysPromise = Promise.all([genRsa(), genRsa()]);
let SA; // { clientId, keyId, publicKey, keyFile, wrongKeyFile, jwkPath, jwks }

function writeFileAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

async function makeServiceAccount(info) {
  const [good, wrong] = await saKeysPromise;
  const clientId = `1${Array.from(crypto.randomBytes(20), (b) => b % 10).join('')}`;
  const jwkPath = `/service_accounts/v1/jwk/${encodeURIComponent(SA_EMAIL)}`;
  const keyFile = (keyId, privateKey) => `${JSON.stringify({
    type: 'service_account',
    project_id: SA_PROJECT,
    private_key_id: keyId,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: SA_EMAIL,
    client_id: clientId,
    auth_uri: info.authorization_endpoint,
    token_uri: info.token_endpoint,
    auth_provider_x509_cert_url: info.jwks_uri,
    client_x509_cert_url: `${info.issuer}${jwkPath}`,
    universe_domain: 'googleapis.com',
  }, null, 2)}\n`;
  const keyId = crypto.randomBytes(20).toString('hex');
  const sa = {
    clientId,
    keyId,
    publicKey: good.publicKey,
    keyFile: path.resolve(opts.work, `service-account-${info.port}.json`),
    wrongKeyFile: path.resolve(opts.work, `service-account-wrong-key-${info.port}.json`),
    jwkPath,
    jwks: { keys: [{ ...good.publicKey.export({ format: 'jwk' }), kid: keyId, alg: 'RS256', use: 'sig' }] },
  };
  fs.mkdirSync(opts.work, { recursive: true });
  writeFileAtomic(sa.keyFile, keyFile(keyId, good.privateKey));
  writeFileAtomic(sa.wrongKeyFile, keyFile(crypto.randomBytes(20).toString('hex'), wrong.privateKey));
  return sa;
}
process.on('exit', () => {
  for (const f of [SA?.keyFile, SA?.wrongKeyFile]) {
    if (f) { try { fs.rmSync(f, { force: true }); } catch { /* best effort */ } }
  }
});

// Google's answers (HTTP status, error, error_description)
const GOOGLE = {
  missing: [400, 'invalid_request', 'Missing required parameter: assertion'],
  malformed: [400, 'invalid_grant', 'Bad Request'],
  account: [400, 'invalid_grant', 'Invalid grant: account not found'],
  signature: [400, 'invalid_grant', 'Invalid JWT Signature.'],
  time: [400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.'],
  noScope: [400, 'invalid_scope', 'Empty or missing scope not allowed.'],
  badScope: [400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.'],
  user: [400, 'invalid_grant', 'Invalid email or User ID'],
  delegation: [401, 'unauthorized_client', 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.'],
};
const SA_MAX_LIFETIME = 3600; // exp - iat
const SA_IAT_SKEW = 300; // iat may be this far in the future
const SA_USER_RE = new RegExp(`^[^@\\s]+@${SA_USER_DOMAIN.replace(/\./g, '\\.')}$`, 'i');

// The JWT-bearer grant, checked the way Google's token endpoint does. Returns
// { ok: { accountId, scope, ttl } } or { err: [status, error, description] }.
function checkJwtBearer(params, tokenEndpoint) {
  const assertion = params.get('assertion');
  if (!assertion) return { err: GOOGLE.missing };
  const jws = decodeJws(assertion);
  if (!jws) return { err: GOOGLE.malformed };
  const c = jws.payload;
  if (c.iss !== SA_EMAIL) return { err: GOOGLE.account };
  if (!jwsSignatureOk(jws, SA.publicKey, ['RS256'])) return { err: GOOGLE.signature };
  if (c.aud !== tokenEndpoint) {
    return { err: [400, 'invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${tokenEndpoint}`] };
  }
  const now = nowSecs();
  if (!Number.isFinite(c.iat) || !Number.isFinite(c.exp) || c.exp < c.iat
    || c.exp - c.iat > SA_MAX_LIFETIME || c.exp <= now || c.iat > now + SA_IAT_SKEW) {
    return { err: GOOGLE.time };
  }
  const scopes = typeof c.scope === 'string' ? c.scope.split(' ').filter(Boolean) : [];
  if (scopes.length === 0) return { err: GOOGLE.noScope };
  if (!scopes.every((x) => configuration.scopes.includes(x))) return { err: GOOGLE.badScope };
  const sub = c.sub === SA_EMAIL ? undefined : c.sub;
  if (sub !== undefined) {
    // domain-wide delegation: impersonate a user of the domain, within the delegated scopes
    if (typeof sub !== 'string' || !SA_USER_RE.test(sub)) return { err: GOOGLE.user };
    if (!scopes.every((x) => saDelegation.has(x))) return { err: GOOGLE.delegation };
  }
  return { ok: { accountId: sub ?? SA_EMAIL, scope: [...new Set(scopes)].join(' '), ttl: saTtl } };
}

// requests whose assertion passed checkJwtBearer, for the grant handler
const JWT_BEARER_CHECKED = new WeakMap();

async function jwtBearerHandler(ctx) {
  const ok = JWT_BEARER_CHECKED.get(ctx.req);
  if (!ok) throw new oidcErrors.InvalidGrant('assertion was not checked');
  const at = new provider.AccessToken({
    client: ctx.oidc.client,
    accountId: ok.accountId,
    scope: ok.scope,
    gty: 'jwt_bearer',
    expiresIn: ok.ttl,
  });
  ctx.oidc.entity('AccessToken', at);
  const value = await at.save();
  // no refresh token, no id_token (Google issues neither here)
  ctx.body = {
    access_token: value,
    expires_in: at.expiration,
    scope: at.scope,
    token_type: 'Bearer',
  };
}

// ---------------------------------------------------------------- Microsoft certificate credential
// oidc-provider checks private_key_jwt itself (signature against the registered key, iss, sub,
// aud, exp, jti once only). The sandbox adds Microsoft's rules and messages in front of it:
// the assertion must name the registered certificate by x5t#S256 or x5t, and at the token
// endpoint aud must be the token endpoint URL exactly.
const PRIVATE_KEY_JWT = new Set(clients.filter((c) => c.token_endpoint_auth_method === 'private_key_jwt').map((c) => c.client_id));
const CERT_DOCS = 'Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .';

function thumbprintHex(b64u) {
  try {
    return Buffer.from(String(b64u), 'base64url').toString('hex').toUpperCase() || 'None';
  } catch {
    return 'None';
  }
}

// null when the assertion may go on to oidc-provider, else [AADSTS code, description]
function certAssertionProblem(params, endpoint, tokenEndpoint) {
  const jws = decodeJws(params.get('client_assertion'));
  if (!jws) return [50027, 'AADSTS50027: JWT token is invalid or malformed.'];
  const h = jws.header;
  const c = jws.payload;
  const clientId = params.get('client_id') ?? c.sub;
  const s256 = h['x5t#S256'];
  const sha1 = h.x5t;
  const used = s256 !== undefined ? thumbprintHex(s256) : (sha1 !== undefined ? thumbprintHex(sha1) : 'None');
  if ((s256 === undefined && sha1 === undefined)
    || (s256 !== undefined && s256 !== CERT_THUMBPRINT.s256)
    || (sha1 !== undefined && sha1 !== CERT_THUMBPRINT.sha1)) {
    return [700027, 'AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. '
      + `[Reason - The key was not found., Thumbprint of key used by client: '${used}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`];
  }
  if (!jwsSignatureOk(jws, clientCertKey, ['RS256', 'PS256'])) {
    return [700027, 'AADSTS700027: Client assertion contains an invalid signature. '
      + `[Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${used}']`];
  }
  if (c.iss !== clientId || c.sub !== clientId) {
    return [700021, `AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter. ${CERT_DOCS}`];
  }
  if (endpoint === 'token' && c.aud !== tokenEndpoint) {
    return [700023, `AADSTS700023: Client assertion audience claim does not match Realm issuer. ${CERT_DOCS}`];
  }
  const now = nowSecs();
  if (!Number.isFinite(c.exp) || c.exp <= now || (Number.isFinite(c.nbf) && c.nbf > now + 300)) {
    const iso = (t) => (Number.isFinite(t) ? new Date(t * 1000).toISOString() : 'None');
    return [700024, `AADSTS700024: Client assertion is not within its valid time range. Current time: ${iso(now)}, `
      + `assertion valid from ${iso(c.nbf ?? c.iat)}, expiry time of assertion ${iso(c.exp)}. ${CERT_DOCS}`];
  }
  return null;
}

// Sends Microsoft's 401 and returns true when a client assertion of a private_key_jwt client
// breaks one of Microsoft's rules; false (nothing sent) otherwise.
function certAssertionRejected(res, params, endpoint) {
  if (!params.has('client_assertion')) return false;
  const clientId = params.get('client_id') ?? decodeJws(params.get('client_assertion'))?.payload?.sub;
  if (!PRIVATE_KEY_JWT.has(clientId)) return false; // not a certificate client: oidc-provider decides
  const problem = certAssertionProblem(params, endpoint, paths.tokenUrl);
  if (!problem) return false;
  stats.client_assertion_rejections += 1;
  if (endpoint === 'token') countGrantError(clientId, 'invalid_client');
  const [code, description] = problem;
  sendJson(res, 401, {
    error: 'invalid_client',
    error_description: description,
    error_codes: [code],
    timestamp: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    trace_id: crypto.randomUUID(),
    correlation_id: crypto.randomUUID(),
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
  return true;
}

// ---------------------------------------------------------------- front handler
const MAX_BODY = 56 * 1024;
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

function sendJson(res, status, obj, indent) {
  const body = `${JSON.stringify(obj, null, indent)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function intParam(sp, name, dflt, min, max) {
  const raw = sp.get(name);
  if (raw === null || raw === '') return dflt;
  const v = Number.parseInt(raw, 10);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`bad ${name}`);
  return v;
}

function handleTest(req, res, url) {
  const sp = url.searchParams;
  try {
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /_test/stats':
        return sendJson(res, 200, {
          ...stats,
          pending_fail_token: failToken.remaining,
          pending_slow_token: slowToken.remaining,
          pending_fail_introspection: failIntrospection.remaining,
        });
      case 'POST /_test/reset':
        resetStats();
        resetServiceAccount();
        return sendJson(res, 200, { ok: true });
      case 'GET /_test/delegation':
        return sendJson(res, 200, { client_id: SA.clientId, client_email: SA_EMAIL, scopes: [...saDelegation] });
      case 'POST /_test/delegation': {
        // the Admin console's domain-wide delegation entry for the service account's client id
        const raw = sp.get('scopes');
        if (raw === null) throw new Error('scopes=... is required (empty for none)');
        saDelegation = new Set(raw.split(/[\s,]+/).filter(Boolean));
        return sendJson(res, 200, { ok: true, client_id: SA.clientId, scopes: [...saDelegation] });
      }
      case 'POST /_test/sa-ttl':
        saTtl = intParam(sp, 'secs', SA_DEFAULT_TTL, 1, 86400);
        return sendJson(res, 200, { ok: true, secs: saTtl });
      case 'GET /_test/service-account':
        return sendJson(res, 200, {
          client_email: SA_EMAIL,
          client_id: SA.clientId,
          private_key_id: SA.keyId,
          key_file: SA.keyFile,
          wrong_key_file: SA.wrongKeyFile,
          delegated_scopes: [...saDelegation],
          ttl: saTtl,
        });
      case 'POST /_test/fail-token':
        failToken = { remaining: intParam(sp, 'count', 1, 0, 1000), status: intParam(sp, 'status', 500, 400, 599) };
        return sendJson(res, 200, { ok: true, ...failToken });
      case 'POST /_test/slow-token':
        slowToken = { remaining: intParam(sp, 'count', 1, 0, 1000), ms: intParam(sp, 'ms', 1000, 0, 120000) };
        return sendJson(res, 200, { ok: true, ...slowToken });
      case 'POST /_test/fail-introspection':
        // the mail server's token check fails (this server down or overloaded): Dovecot
        // answers the login with a temporary failure, not a refusal
        failIntrospection = { remaining: intParam(sp, 'count', 1, 0, 1000), status: intParam(sp, 'status', 503, 400, 599) };
        return sendJson(res, 200, { ok: true, ...failIntrospection });
      case 'GET /_test/health':
        return sendJson(res, 200, { ok: true });
      default:
        return sendJson(res, 404, { error: 'no such test endpoint' });
    }
  } catch (e) {
    return sendJson(res, 400, { error: e.message });
  }
}

function clientIdOf(req, params) {
  const auth = req.headers.authorization;
  if (auth && /^basic /i.test(auth)) {
    try {
      const dec = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
      const i = dec.indexOf(':');
      return { auth: 'basic', client_id: decodeURIComponent(i === -1 ? dec : dec.slice(0, i)) };
    } catch {
      return { auth: 'basic', client_id: null };
    }
  }
  if (params.has('client_assertion')) {
    // private_key_jwt: client_id is optional, the assertion's sub names the client
    return {
      auth: 'assertion',
      client_id: params.get('client_id') ?? decodeJws(params.get('client_assertion'))?.payload?.sub ?? null,
    };
  }
  if (params.get('grant_type') === JWT_BEARER) {
    // no client authentication: the assertion's iss (the service account) is the client
    const iss = decodeJws(params.get('assertion'))?.payload?.iss;
    return { auth: 'none', client_id: typeof iss === 'string' ? iss : null };
  }
  return { auth: params.has('client_secret') ? 'post' : 'none', client_id: params.get('client_id') };
}

const shortGrant = (gt) => ({ [DEVICE]: 'device_code', [JWT_BEARER]: 'jwt_bearer' }[gt] ?? gt);

// A token request whose `scope` names a Microsoft Graph scope and the Outlook
// resource ("mail") at once.
function multiResourceScope(params) {
  const scope = (params.get('scope') || '').split(' ').filter(Boolean);
  return scope.includes('mail') && scope.some((s) => s.startsWith(GRAPH_PREFIX));
}

let paths; // filled from discovery
const BUFFERED = new Set();

// oidc-provider treats client_secret_basic and client_secret_post as
// interchangeable. The sandbox is strict, so that tests notice a library that
// uses the wrong method: a confidential client must use the registered one.
const AUTH_METHOD = Object.fromEntries(clients.map((c) => [c.client_id, c.token_endpoint_auth_method]));
function strictAuthMismatch(req, res, params) {
  const { auth, client_id: id } = clientIdOf(req, params);
  const registered = AUTH_METHOD[id];
  const used = {
    basic: 'client_secret_basic', post: 'client_secret_post', none: 'none', assertion: 'private_key_jwt',
  }[auth];
  if (!registered || registered === 'none' || used === registered) return false;
  stats.strict_auth_rejections += 1;
  sendJson(res, 401, {
    error: 'invalid_client',
    error_description: `client authentication failed: ${id} must use ${registered} (got ${used})`,
  });
  return true;
}

async function frontHandler(req, res, providerCallback) {
  const url = new URL(req.url, 'https://127.0.0.1');
  if (url.pathname.startsWith('/_test/')) return handleTest(req, res, url);
  if (SA && req.method === 'GET' && url.pathname === SA.jwkPath) return sendJson(res, 200, SA.jwks);

  if (paths && req.method === 'POST' && BUFFERED.has(url.pathname) && url.pathname !== paths.token) {
    // revocation / introspection / device authorization: count, enforce the
    // registered client authentication method strictly, then hand over.
    let raw;
    try {
      raw = await readBody(req);
    } catch (e) {
      return sendJson(res, 413, { error: 'invalid_request', error_description: e.message });
    }
    const params = new URLSearchParams(raw.toString('utf8'));
    if (url.pathname === paths.revocation) stats.revocations += 1;
    if (url.pathname === paths.introspection) {
      stats.introspections += 1;
      if (failIntrospection.remaining > 0) {
        failIntrospection.remaining -= 1;
        stats.introspection_injected_failures += 1;
        return sendJson(res, failIntrospection.status, { error: 'temporarily_unavailable' });
      }
    }
    if (url.pathname === paths.device_authorization) stats.device_authorizations += 1;
    if (strictAuthMismatch(req, res, params)) return undefined;
    if (certAssertionRejected(res, params, 'other')) return undefined;
    req.body = raw;
    return providerCallback(req, res);
  }

  if (paths && req.method === 'POST' && url.pathname === paths.token) {
    let raw;
    try {
      raw = await readBody(req);
    } catch (e) {
      return sendJson(res, 413, { error: 'invalid_request', error_description: e.message });
    }
    const params = new URLSearchParams(raw.toString('utf8'));
    const gt = params.get('grant_type') || '(none)';
    const short = shortGrant(gt);
    stats.token_requests[short] = (stats.token_requests[short] || 0) + 1;
    const cid = clientIdOf(req, params).client_id;
    const cs = clientStats(cid);
    cs.token_requests[short] = (cs.token_requests[short] || 0) + 1;
    stats.token_requests_total += 1;
    if (short === 'device_code') stats.device_polls += 1;
    stats.last_token_request = { grant_type: short, ...clientIdOf(req, params), params: [...new Set(params.keys())].sort() };

    if (strictAuthMismatch(req, res, params)) return undefined;

    if (failToken.remaining > 0) {
      failToken.remaining -= 1;
      stats.token_injected_failures += 1;
      const body = `<html><body><h1>${failToken.status} injected failure</h1></body></html>\n`;
      res.writeHead(failToken.status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
      return res.end(body);
    }
    if (slowToken.remaining > 0) {
      slowToken.remaining -= 1;
      stats.token_delayed += 1;
      await sleep(slowToken.ms);
      if (req.socket.destroyed) return undefined;
    }
    if (multiResourceScope(params)) {
      // Microsoft: one token request, one resource. Only here, at the token endpoint:
      // consent (/auth, device authorization) may cover several resources at once.
      stats.multi_resource_rejections += 1;
      countGrantError(cid, 'invalid_scope');
      return sendJson(res, 400, {
        error: 'invalid_scope',
        error_description: 'AADSTS28000: Provided value for the input parameter scope is not valid because it contains more than one resource. '
          + `Scope ${params.get('scope')} is not valid. (sandbox: "mail" and ${GRAPH_PREFIX}* are two resources)`,
      });
    }
    if (certAssertionRejected(res, params, 'token')) return undefined;
    if (gt === JWT_BEARER) {
      const r = checkJwtBearer(params, paths.tokenUrl);
      if (r.err) {
        const [status, error, description] = r.err;
        countGrantError(cid, error);
        return sendJson(res, status, { error, error_description: description }, 2);
      }
      // Google needs no client authentication (and ignores any); oidc-provider needs a
      // client: hand over exactly grant_type, assertion and the service account's client_id
      JWT_BEARER_CHECKED.set(req, r.ok);
      delete req.headers.authorization;
      raw = Buffer.from(new URLSearchParams({ grant_type: JWT_BEARER, assertion: params.get('assertion'), client_id: SA_EMAIL }).toString());
    }
    // oidc-provider reads an already consumed body from req.body (string/Buffer)
    req.body = raw;
    return providerCallback(req, res);
  }

  if (paths) {
    if (url.pathname === paths.authorization) {
      stats.authorization_requests += 1;
      // oidc-provider drops offline_access from an authorization request unless
      // prompt contains "consent". Behave like a Google-ish server instead: asking
      // for offline_access is enough to get a refresh token.
      if (req.method === 'GET') {
        const scope = url.searchParams.get('scope') || '';
        const prompt = (url.searchParams.get('prompt') || '').split(' ').filter(Boolean);
        if (scope.split(' ').includes('offline_access') && !prompt.includes('consent') && !prompt.includes('none')) {
          url.searchParams.set('prompt', [...prompt, 'consent'].join(' '));
          req.url = url.pathname + url.search;
        }
      }
    }
  }
  return providerCallback(req, res);
}

// ---------------------------------------------------------------- start
function getJson(u) {
  return new Promise((resolve, reject) => {
    const r = https.get(u, { ca: caCert, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) { reject(e); }
      });
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
  });
}

let providerCallback = (req, res) => { res.writeHead(503); res.end(); };
const server = https.createServer({ key: tlsKey, cert: tlsCert }, (req, res) => {
  frontHandler(req, res, providerCallback).catch((e) => {
    log('front handler error:', e.stack || e);
    if (!res.headersSent) { res.writeHead(500); }
    res.end();
  });
});
server.keepAliveTimeout = 2000;
server.headersTimeout = 10000;
server.requestTimeout = 30000;

let shuttingDown = false;
function shutdown(why, code = 0) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`shutting down (${why})`);
  server.close();
  server.closeAllConnections?.();
  setTimeout(() => process.exit(code), 100);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGHUP', () => shutdown('SIGHUP'));

if (opts.stdinWatch) {
  let st;
  try { st = fs.fstatSync(0); } catch { st = undefined; }
  if (st && (st.isFIFO() || st.isSocket())) {
    process.stdin.on('data', () => {});
    process.stdin.on('end', () => shutdown('stdin EOF'));
    process.stdin.on('error', () => shutdown('stdin error'));
    process.stdin.resume();
  }
}

server.on('error', (e) => { log('listen error:', e.message); process.exit(1); });
server.listen(opts.port, '127.0.0.1', async () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;
  provider = new Provider(issuer, configuration);
  provider.registerGrantType(JWT_BEARER, jwtBearerHandler, ['assertion']);
  provider.on('grant.success', (ctx) => {
    const gt = shortGrant(ctx.oidc?.params?.grant_type || '?');
    stats.grant_success[gt] = (stats.grant_success[gt] || 0) + 1;
  });
  provider.on('grant.error', (ctx, err) => {
    countGrantError(ctx.oidc?.client?.clientId || ctx.oidc?.params?.client_id, err?.error || 'server_error');
  });
  provider.on('server_error', (ctx, err) => log('server_error:', err?.stack || err));
  providerCallback = provider.callback();

  let disc;
  try {
    disc = await getJson(`${issuer}/.well-known/openid-configuration`);
  } catch (e) {
    log('cannot read own discovery document:', e.message);
    process.exit(1);
  }
  const info = {
    issuer: disc.issuer,
    port,
    authorization_endpoint: disc.authorization_endpoint,
    token_endpoint: disc.token_endpoint,
    device_authorization_endpoint: disc.device_authorization_endpoint,
    revocation_endpoint: disc.revocation_endpoint,
    introspection_endpoint: disc.introspection_endpoint,
    userinfo_endpoint: disc.userinfo_endpoint,
    jwks_uri: disc.jwks_uri,
    discovery_url: `${issuer}/.well-known/openid-configuration`,
    ca_file: path.resolve(opts.certs, 'ca.pem'),
    pid: process.pid,
  };
  try {
    SA = await makeServiceAccount(info);
  } catch (e) {
    log('cannot write the service account key files:', e.message);
    process.exit(1);
  }
  info.service_account_key_file = SA.keyFile;
  info.service_account_wrong_key_file = SA.wrongKeyFile;
  info.service_account_email = SA_EMAIL;
  const p = (u) => new URL(u).pathname;
  paths = {
    authorization: p(info.authorization_endpoint),
    token: p(info.token_endpoint),
    device_authorization: p(info.device_authorization_endpoint),
    revocation: p(info.revocation_endpoint),
    introspection: p(info.introspection_endpoint),
    tokenUrl: info.token_endpoint,
  };
  for (const k of ['token', 'device_authorization', 'revocation', 'introspection']) BUFFERED.add(paths[k]);
  const line = `${JSON.stringify(info)}\n`;
  if (opts.stateFile) {
    const tmp = `${opts.stateFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, line);
    fs.renameSync(tmp, opts.stateFile);
  }
  process.stdout.write(line);
  log(`listening on ${issuer}`);
});
