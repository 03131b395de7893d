#!/usr/bin/env node
// Test OAuth 2.0 authorization server for the oauthmail test-suite.
//
//   node oauth-server.mjs --port 0 --certs DIR [--state-file FILE] [--no-stdin-watch]
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
const { default: Provider } = await import('oidc-provider');

// ---------------------------------------------------------------- CLI
function usage(msg) {
  if (msg) process.stderr.write(`oauth-server: ${msg}\n`);
  process.stderr.write('usage: node oauth-server.mjs --port PORT --certs DIR [--state-file FILE] [--no-stdin-watch]\n');
  process.exit(2);
}

const opts = { port: 0, certs: undefined, stateFile: undefined, stdinWatch: true };
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
      case '--state-file': opts.stateFile = val(); break;
      case '--no-stdin-watch': opts.stdinWatch = false; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!opts.certs) usage('--certs DIR is required (create it with make-certs.sh DIR)');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port');
}

const log = (...args) => process.stderr.write(`[oauth-server] ${args.join(' ')}\n`);

const tlsKey = fs.readFileSync(path.join(opts.certs, 'server.key'));
const tlsCert = fs.readFileSync(path.join(opts.certs, 'server.pem'));
const caCert = fs.readFileSync(path.join(opts.certs, 'ca.pem'));

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
    strict_auth_rejections: 0,
    multi_resource_rejections: 0,
    grant_success: {},
    grant_errors: {},
    // per client id: { token_requests: {grant: n}, grant_errors: {error: n} }
    by_client: {},
    last_token_request: null,
  };
  failToken = { remaining: 0, status: 500 };
  slowToken = { remaining: 0, ms: 0 };
}
resetStats();

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
  scopes: ['openid', 'offline_access', 'email', 'profile', 'mail', ...GRAPH_SCOPES],
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

// ---------------------------------------------------------------- front handler
const MAX_BODY = 56 * 1024;
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

function sendJson(res, status, obj) {
  const body = `${JSON.stringify(obj)}\n`;
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
        });
      case 'POST /_test/reset':
        resetStats();
        return sendJson(res, 200, { ok: true });
      case 'POST /_test/fail-token':
        failToken = { remaining: intParam(sp, 'count', 1, 0, 1000), status: intParam(sp, 'status', 500, 400, 599) };
        return sendJson(res, 200, { ok: true, ...failToken });
      case 'POST /_test/slow-token':
        slowToken = { remaining: intParam(sp, 'count', 1, 0, 1000), ms: intParam(sp, 'ms', 1000, 0, 120000) };
        return sendJson(res, 200, { ok: true, ...slowToken });
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
  return { auth: params.has('client_secret') ? 'post' : 'none', client_id: params.get('client_id') };
}

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
  const used = { basic: 'client_secret_basic', post: 'client_secret_post', none: 'none' }[auth];
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
    if (url.pathname === paths.introspection) stats.introspections += 1;
    if (url.pathname === paths.device_authorization) stats.device_authorizations += 1;
    if (strictAuthMismatch(req, res, params)) return undefined;
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
    const short = gt === DEVICE ? 'device_code' : gt;
    stats.token_requests[short] = (stats.token_requests[short] || 0) + 1;
    const cs = clientStats(clientIdOf(req, params).client_id);
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
      stats.grant_errors.invalid_scope = (stats.grant_errors.invalid_scope || 0) + 1;
      cs.grant_errors.invalid_scope = (cs.grant_errors.invalid_scope || 0) + 1;
      return sendJson(res, 400, {
        error: 'invalid_scope',
        error_description: 'AADSTS28000: Provided value for the input parameter scope is not valid because it contains more than one resource. '
          + `Scope ${params.get('scope')} is not valid. (sandbox: "mail" and ${GRAPH_PREFIX}* are two resources)`,
      });
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
  provider.on('grant.success', (ctx) => {
    const gt = ctx.oidc?.params?.grant_type === DEVICE ? 'device_code' : (ctx.oidc?.params?.grant_type || '?');
    stats.grant_success[gt] = (stats.grant_success[gt] || 0) + 1;
  });
  provider.on('grant.error', (ctx, err) => {
    const k = err?.error || 'server_error';
    stats.grant_errors[k] = (stats.grant_errors[k] || 0) + 1;
    const cs = clientStats(ctx.oidc?.client?.clientId || ctx.oidc?.params?.client_id);
    cs.grant_errors[k] = (cs.grant_errors[k] || 0) + 1;
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
  const p = (u) => new URL(u).pathname;
  paths = {
    authorization: p(info.authorization_endpoint),
    token: p(info.token_endpoint),
    device_authorization: p(info.device_authorization_endpoint),
    revocation: p(info.revocation_endpoint),
    introspection: p(info.introspection_endpoint),
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
