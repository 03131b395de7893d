#!/usr/bin/env node
// Gmail API EMULATOR for the oauthmail test-suite (Node standard library only).
//
//   node gmail-emulator.mjs --port 0 --certs DIR --issuer URL [--sink-port N]
//                           [--state-file FILE] [--no-stdin-watch]
//
// Written from Google's Gmail API documentation (see README.md beside this file): it is not
// Gmail, only the part of the Gmail API (v1) the library uses, with the same URLs, JSON shapes,
// status codes and error bodies, plus fault injection under /_test/. HTTPS on 127.0.0.1 only.
// Access tokens are checked at the sandbox OAuth2 server's introspection endpoint. When it is
// listening it prints exactly one JSON line on stdout ({"base_url","upload_url","port","pid"});
// logs go to stderr. State is in memory.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';

// ---------------------------------------------------------------- CLI
function usage(msg) {
  if (msg) process.stderr.write(`gmail-emulator: ${msg}\n`);
  process.stderr.write('usage: node gmail-emulator.mjs --port PORT --certs DIR --issuer URL [--sink-port N] [--state-file FILE] [--no-stdin-watch]\n');
  process.exit(2);
}

const opts = { port: 0, certs: undefined, issuer: undefined, sinkPort: undefined, stateFile: undefined, stdinWatch: true };
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
      case '--issuer': opts.issuer = val(); break;
      case '--sink-port': opts.sinkPort = Number.parseInt(val(), 10); break;
      case '--state-file': opts.stateFile = val(); break;
      case '--no-stdin-watch': opts.stdinWatch = false; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!opts.certs) usage('--certs DIR is required (create it with make-certs.sh DIR)');
  if (!opts.issuer) usage('--issuer URL (the sandbox OAuth2 server) is required');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port');
  if (opts.sinkPort !== undefined && (!Number.isInteger(opts.sinkPort) || opts.sinkPort < 1 || opts.sinkPort > 65535)) usage('bad --sink-port');
  let u;
  try { u = new URL(opts.issuer); } catch { usage('bad --issuer'); }
  if (u.protocol !== 'https:' || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) usage('--issuer must be https on loopback');
}

const log = (...args) => process.stderr.write(`[gmail-emulator] ${args.join(' ')}\n`);

const tlsKey = fs.readFileSync(path.join(opts.certs, 'server.key'));
const tlsCert = fs.readFileSync(path.join(opts.certs, 'server.pem'));
const caCert = fs.readFileSync(path.join(opts.certs, 'ca.pem'));
const INTROSPECTION_URL = new URL(`${opts.issuer.replace(/\/+$/, '')}/token/introspection`);

// ---------------------------------------------------------------- constants
const KiB = 1024;
const MiB = 1024 * KiB;
const SCOPE = {
  full: 'https://mail.google.com/',
  modify: 'https://www.googleapis.com/auth/gmail.modify',
  readonly: 'https://www.googleapis.com/auth/gmail.readonly',
  send: 'https://www.googleapis.com/auth/gmail.send',
  compose: 'https://www.googleapis.com/auth/gmail.compose',
  metadata: 'https://www.googleapis.com/auth/gmail.metadata',
  labels: 'https://www.googleapis.com/auth/gmail.labels',
};
// The sandbox's scope "mail" plays Google's https://mail.google.com/.
const SANDBOX_FULL = 'mail';
const F = SCOPE.full;
// Per method, the scopes Google's discovery document lists (gmail.addons.* left out).
const METHOD_SCOPES = {
  'users.getProfile': [F, SCOPE.compose, SCOPE.metadata, SCOPE.modify, SCOPE.readonly],
  'users.labels.list': [F, SCOPE.labels, SCOPE.metadata, SCOPE.modify, SCOPE.readonly],
  'users.labels.get': [F, SCOPE.labels, SCOPE.metadata, SCOPE.modify, SCOPE.readonly],
  'users.labels.create': [F, SCOPE.labels, SCOPE.modify],
  'users.messages.list': [F, SCOPE.metadata, SCOPE.modify, SCOPE.readonly],
  'users.messages.get': [F, SCOPE.metadata, SCOPE.modify, SCOPE.readonly],
  'users.messages.modify': [F, SCOPE.modify],
  'users.messages.batchModify': [F, SCOPE.modify],
  'users.messages.trash': [F, SCOPE.modify],
  'users.messages.untrash': [F, SCOPE.modify],
  'users.messages.delete': [F],
  'users.messages.send': [F, SCOPE.compose, SCOPE.modify, SCOPE.send],
  'users.history.list': [F, SCOPE.metadata, SCOPE.modify, SCOPE.readonly],
};
const JSON_LIMIT = 1 * MiB; // ordinary JSON request bodies
const SEND_JSON_LIMIT = 5 * MiB; // messages.send with {"raw"} (see README: "5 MB", 5,242,880 bytes)
const MEDIA_LIMIT = 36700160; // discovery document: mediaUpload.maxSize of messages.send (35 MiB)
const MULTIPART_LIMIT = MEDIA_LIMIT + 1 * MiB; // the message plus the metadata part and delimiters
const DRAIN_LIMIT = 128 * MiB; // a body beyond its limit is read and thrown away up to this, then the socket is cut
const SEED_LIMIT = 256 * MiB; // /_test/seed
const DEFAULT_CONCURRENCY = 10; // per user (see README)
const HISTORY_KEPT = 100000; // records per mailbox; beyond, the oldest half is dropped (404 for older ids)
const INTROSPECTION_TTL_MS = 1000;
const RECENT_KEPT = 200;
const SESSION_TTL_MS = 60 * 60 * 1000;
const SESSIONS_MAX = 1000;
const BATCH_MODIFY_MAX = 1000;
const SYSTEM_LABELS = [
  'INBOX', 'SENT', 'DRAFT', 'TRASH', 'SPAM', 'UNREAD', 'STARRED', 'IMPORTANT', 'CHAT',
  'CATEGORY_PERSONAL', 'CATEGORY_SOCIAL', 'CATEGORY_PROMOTIONS', 'CATEGORY_UPDATES', 'CATEGORY_FORUMS',
];
const SYSTEM_SET = new Set(SYSTEM_LABELS);
const JSON_TYPE = 'application/json; charset=UTF-8';
const HISTORY_TYPES = ['messageAdded', 'messageDeleted', 'labelAdded', 'labelRemoved'];
const MAX_ID = (1n << 63n) - 1n; // message ids are hex renderings of positive int64 values

const SECRET = crypto.randomBytes(32); // HMAC of page tokens

// ---------------------------------------------------------------- small helpers
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const iso = (ms) => new Date(ms).toISOString();
const hmac = (...parts) => crypto.createHmac('sha256', SECRET).update(parts.join('\0')).digest();
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

// Gmail-like message ids: 16 hex digits, increasing with time (ms << 20 | counter).
let idCounter = 0;
let lastIdMs = 0;
function newMessageId() {
  const now = Date.now();
  if (now !== lastIdMs) { lastIdMs = now; idCounter = 0; }
  idCounter += 1;
  const v = (BigInt(now) << 20n) | BigInt(idCounter & 0xfffff);
  return v.toString(16).padStart(16, '0');
}

// ---------------------------------------------------------------- errors (Google's shape)
const STATUS_NAME = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

class GmailError extends Error {
  // {status, reason, message, itemMessage?, domain?, statusName?, headers?, location?, details?}
  constructor(status, reason, message, more = {}) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.more = more;
  }

  body() {
    const item = { message: this.more.itemMessage ?? this.message, domain: this.more.domain ?? 'global', reason: this.reason };
    if (this.more.location) {
      item.location = this.more.location;
      item.locationType = this.more.locationType ?? 'header';
    }
    const error = { code: this.status, message: this.message, errors: [item], status: this.more.statusName ?? STATUS_NAME[this.status] ?? 'UNKNOWN' };
    if (this.more.details) error.details = this.more.details;
    return { error };
  }
}

const ENTITY_NOT_FOUND = 'Requested entity was not found.';
const notFound = () => new GmailError(404, 'notFound', ENTITY_NOT_FOUND);
const invalidArgument = (msg) => new GmailError(400, 'invalidArgument', msg);
const badRequest = (msg) => new GmailError(400, 'badRequest', msg);
const AUTH_HELP = 'Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

function unauthenticated(missing) {
  const headers = { 'WWW-Authenticate': missing ? 'Bearer realm="https://accounts.google.com/"' : 'Bearer realm="https://accounts.google.com/", error="invalid_token"' };
  if (missing) {
    return new GmailError(401, 'required', `Request is missing required authentication credential. ${AUTH_HELP}`, {
      itemMessage: 'Login Required.', location: 'Authorization', headers,
    });
  }
  return new GmailError(401, 'authError', `Request had invalid authentication credentials. ${AUTH_HELP}`, {
    itemMessage: 'Invalid Credentials', location: 'Authorization', headers,
  });
}

function insufficientScopes(method) {
  return new GmailError(403, 'insufficientPermissions', 'Request had insufficient authentication scopes.', {
    itemMessage: 'Insufficient Permission',
    headers: { 'WWW-Authenticate': `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="${METHOD_SCOPES[method].join(' ')}"` },
    details: [{
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
      domain: 'googleapis.com',
      metadata: { service: 'gmail.googleapis.com', method: `gmail.${method}` },
    }],
  });
}

// Bodies of the throttling / server errors (Google's "Resolve errors" page and observed answers).
function throttleError(status, reason, retryAfter) {
  const headers = retryAfter !== null ? { 'Retry-After': String(retryAfter) } : {};
  if (status === 429 || status === 403) {
    if (reason === 'userRateLimitExceeded') {
      const msg = retryAfter !== null
        ? `User-rate limit exceeded.  Retry after ${iso(Date.now() + retryAfter * 1000)}`
        : 'User Rate Limit Exceeded';
      return new GmailError(status, reason, msg, { domain: 'usageLimits', headers });
    }
    return new GmailError(status, 'rateLimitExceeded', 'Rate Limit Exceeded', { domain: 'usageLimits', headers });
  }
  if (status === 500) return new GmailError(500, 'backendError', 'Backend Error', { headers });
  return new GmailError(status, 'backendError', 'The service is currently unavailable.', { headers });
}

// ---------------------------------------------------------------- state
let generation = 1; // page tokens carry the generation they were issued in
let mailboxes = new Map(); // lowercased address -> mailbox
const sessions = new Map(); // resumable upload id -> session
let inject;
let stats;
const inflight = new Map(); // mailbox key -> requests being served
let recent = [];

function resetInjections() {
  inject = {
    throttle: { remaining: 0, status: 429, reason: 'rateLimitExceeded', retryAfter: null },
    cut: { remaining: 0, when: 'before', send: false },
    delay: { remaining: 0, ms: 0 },
    pageSize: null,
    concurrency: DEFAULT_CONCURRENCY,
  };
}
function resetStats() {
  stats = {
    requests_total: 0,
    by_route: {},
    status_counts: {},
    throttled: 0,
    throttled_concurrency: 0,
    throttled_injected: 0,
    cut: 0,
    delayed: 0,
    max_concurrency: {},
    history_requests: 0,
    history_expired: 0,
    sent: 0,
    relayed: 0,
    relay_failures: 0,
    relay_rejected_rcpts: [],
    uploads: { media: 0, multipart: 0, resumable: 0 },
    upload_chunks: 0,
    introspections: 0,
    introspection_cache_hits: 0,
  };
  recent = [];
}
resetInjections();
resetStats();

// ---------------------------------------------------------------- mailboxes, labels, history
function getMailbox(address, create) {
  const key = String(address).toLowerCase();
  let mb = mailboxes.get(key);
  if (mb || !create) return mb;
  // history ids grow across resets (a stale id from before a reset answers 404)
  const base = generation * 1000000 + 1000 + crypto.randomInt(1000);
  mb = {
    key,
    address: String(address),
    hist: base, // current history id
    floor: base, // records with id <= floor are not kept: an older startHistoryId answers 404
    history: [], // {id, msgId, threadId, added, deleted, la, lr, before, after}
    msgs: new Map(), // id -> message
    seq: 0,
    labels: new Map(), // user labels: id -> {id, name, messageListVisibility, labelListVisibility}
    nextLabel: 1,
    threadByMsgId: new Map(), // Message-ID header -> threadId
  };
  mailboxes.set(key, mb);
  return mb;
}

// History ids increase but are not contiguous (as Google documents): steps of 1 to 3.
function nextHistoryId(mb) {
  mb.hist += 1 + crypto.randomInt(3);
  return mb.hist;
}

function pushHistory(mb, rec) {
  mb.history.push(rec);
  if (mb.history.length > HISTORY_KEPT) {
    const dropped = mb.history.splice(0, Math.floor(HISTORY_KEPT / 2));
    mb.floor = dropped[dropped.length - 1].id;
  }
}

function labelByIdOrName(mb, s) {
  if (SYSTEM_SET.has(s)) return { id: s, name: s, type: 'system' };
  if (mb.labels.has(s)) return mb.labels.get(s);
  const low = String(s).toLowerCase();
  if (SYSTEM_SET.has(String(s).toUpperCase())) return { id: String(s).toUpperCase(), name: String(s).toUpperCase(), type: 'system' };
  for (const l of mb.labels.values()) if (l.name.toLowerCase() === low) return l;
  return null;
}

function createLabel(mb, name, mlv, llv) {
  const id = `Label_${mb.nextLabel}`;
  mb.nextLabel += 1;
  const l = { id, name, type: 'user', messageListVisibility: mlv || 'show', labelListVisibility: llv || 'labelShow' };
  mb.labels.set(id, l);
  return l;
}

function labelCounts(mb, id) {
  let total = 0;
  let unread = 0;
  const threads = new Set();
  const unreadThreads = new Set();
  for (const m of mb.msgs.values()) {
    if (!m.labels.has(id)) continue;
    total += 1;
    threads.add(m.threadId);
    if (m.labels.has('UNREAD')) { unread += 1; unreadThreads.add(m.threadId); }
  }
  return { messagesTotal: total, messagesUnread: unread, threadsTotal: threads.size, threadsUnread: unreadThreads.size };
}

function labelJson(mb, l, withCounts) {
  const out = { id: l.id, name: l.name };
  if (l.type === 'user') {
    out.messageListVisibility = l.messageListVisibility;
    out.labelListVisibility = l.labelListVisibility;
  }
  out.type = l.type;
  if (withCounts) Object.assign(out, labelCounts(mb, l.id));
  return out;
}

// ---------------------------------------------------------------- MIME parsing (bounded)
function headerEnd(buf) {
  const lim = Math.min(buf.length, 1 * MiB);
  const a = buf.indexOf('\r\n\r\n');
  const b = buf.indexOf('\n\n');
  const cands = [];
  if (a !== -1 && a < lim) cands.push({ at: a, len: 4 });
  if (b !== -1 && b < lim) cands.push({ at: b, len: 2 });
  if (!cands.length) return { headerLen: Math.min(buf.length, lim), bodyStart: Math.min(buf.length, lim) };
  cands.sort((x, y) => x.at - y.at);
  return { headerLen: cands[0].at, bodyStart: cands[0].at + cands[0].len };
}

function parseHeaderFields(text) {
  const fields = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length) fields[fields.length - 1].value += ` ${line.trim()}`;
    else {
      const i = line.indexOf(':');
      if (i > 0) fields.push({ name: line.slice(0, i).trim(), value: line.slice(i + 1).trim() });
    }
    if (fields.length > 2000) break;
  }
  return fields;
}

function toText(latin1) {
  const s = Buffer.from(latin1, 'latin1').toString('utf8');
  return s.includes('\uFFFD') ? latin1 : s;
}

// RFC 2047 encoded words
function decodeWords(s) {
  return s.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=(\s+(?==\?))?/g, (all, cs, enc, text) => {
    try {
      const bytes = enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (x, h) => String.fromCharCode(Number.parseInt(h, 16))), 'latin1');
      return new TextDecoder(cs.split('*')[0].toLowerCase()).decode(bytes);
    } catch {
      return all;
    }
  });
}

// "A <a@x>, \"B, C\" <b@x>, c@x, group: d@x;" -> [{name, address}]
function parseAddressList(value) {
  const out = [];
  let cur = '';
  let depthAngle = 0;
  let depthParen = 0;
  let quoted = false;
  const flush = () => {
    let s = cur.trim();
    cur = '';
    if (!s) return;
    const g = /^[^"<]*?:/.exec(s); // group display name
    if (g && !s.includes('<')) s = s.slice(g[0].length).trim();
    else if (g && s.indexOf(':') < s.indexOf('<')) s = s.slice(g[0].length).trim();
    s = s.replace(/;$/, '').trim();
    if (!s) return;
    const m = /^(.*)<([^<>]*)>\s*$/.exec(s);
    let name;
    let address;
    if (m) {
      name = m[1].trim().replace(/^"(.*)"$/, '$1').replace(/\\(.)/g, '$1');
      address = m[2].trim();
    } else {
      address = s.replace(/\([^)]*\)/g, '').trim();
      const c = /\(([^)]*)\)/.exec(s);
      name = c ? c[1] : '';
    }
    if (address) out.push({ name: decodeWords(toText(name)) || address, address });
  };
  for (const ch of value) {
    if (quoted) {
      cur += ch;
      if (ch === '"') quoted = false;
      continue;
    }
    if (ch === '"') quoted = true;
    else if (ch === '<') depthAngle += 1;
    else if (ch === '>') depthAngle = Math.max(0, depthAngle - 1);
    else if (ch === '(') depthParen += 1;
    else if (ch === ')') depthParen = Math.max(0, depthParen - 1);
    if ((ch === ',' || ch === ';') && !depthAngle && !depthParen) {
      flush();
      continue;
    }
    cur += ch;
    if (out.length > 1000) break;
  }
  flush();
  return out;
}

// a parameter of a structured header value: param('multipart/related; boundary="x"', 'boundary')
function param(value, name) {
  if (!value) return '';
  const re = new RegExp(`(?:^|;)\\s*${name}\\*?\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i');
  const m = re.exec(value);
  if (!m) return '';
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

function decodeTransferBuf(body, cte) {
  const e = String(cte || '').trim().toLowerCase();
  if (e === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (e === 'quoted-printable') {
    const s = body.toString('latin1').replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (x, h) => String.fromCharCode(Number.parseInt(h, 16)));
    return Buffer.from(s, 'latin1');
  }
  return body;
}

// The parts of a multipart body (Buffers), binary-safe; at most `max` parts.
function splitMultipart(body, boundary, max = 100) {
  const s = body.toString('latin1');
  const delim = `--${boundary}`;
  const starts = [];
  let i = s.startsWith(delim) ? 0 : s.indexOf(`\n${delim}`);
  if (i > 0) i += 1;
  let closed = false;
  for (let guard = 0; i !== -1 && guard < max + 2; guard += 1) {
    const after = i + delim.length;
    if (s.startsWith('--', after)) { starts.push({ at: i, end: true }); closed = true; break; }
    starts.push({ at: i, end: false });
    const nx = s.indexOf(`\n${delim}`, after);
    i = nx === -1 ? -1 : nx + 1;
  }
  const parts = [];
  for (let k = 0; k < starts.length && parts.length < max; k += 1) {
    if (starts[k].end) break;
    const lineEnd = s.indexOf('\n', starts[k].at);
    if (lineEnd === -1) break;
    const from = lineEnd + 1;
    let to = k + 1 < starts.length ? starts[k + 1].at : s.length;
    if (k + 1 < starts.length || closed) {
      // the line break before the next delimiter belongs to the delimiter
      if (to > from && s[to - 1] === '\n') to -= 1;
      if (to > from && s[to - 1] === '\r') to -= 1;
    }
    parts.push(body.subarray(from, Math.max(from, to)));
  }
  return parts;
}

function parseMeta(buf) {
  const { headerLen } = headerEnd(buf);
  const fields = parseHeaderFields(buf.subarray(0, headerLen).toString('latin1'));
  const get = (n) => fields.find((f) => f.name.toLowerCase() === n)?.value;
  const all = (n) => fields.filter((f) => f.name.toLowerCase() === n).flatMap((f) => parseAddressList(f.value));
  const ids = (v) => (v ? (v.match(/<[^<>]+>/g) || []).slice(0, 100) : []);
  return {
    fields,
    subject: get('subject') !== undefined ? decodeWords(toText(get('subject'))) : '',
    messageId: get('message-id')?.replace(/\s+/g, '') || null,
    inReplyTo: ids(get('in-reply-to')),
    references: ids(get('references')),
    from: all('from'),
    to: all('to'),
    cc: all('cc'),
    bcc: all('bcc'),
  };
}

// The first text/plain part (else text/html without tags), decoded; bounded depth and size.
function firstText(buf, depth = 0) {
  const { headerLen, bodyStart } = headerEnd(buf);
  const fields = parseHeaderFields(buf.subarray(0, headerLen).toString('latin1'));
  const get = (n) => fields.find((f) => f.name.toLowerCase() === n)?.value;
  const ct = get('content-type') || 'text/plain';
  const type = ct.split(';')[0].trim().toLowerCase();
  const body = buf.subarray(bodyStart);
  if (type.startsWith('multipart/') && depth < 10) {
    const b = param(ct, 'boundary');
    if (!b) return null;
    let html = null;
    for (const p of splitMultipart(body, b, 50)) {
      const t = firstText(p, depth + 1);
      if (t && !t.html) return t;
      if (t && !html) html = t;
    }
    return html;
  }
  if (type === 'text/plain' || type === 'text/html') {
    const dec = decodeTransferBuf(body.subarray(0, 64 * KiB), get('content-transfer-encoding'));
    let text = toText(dec.toString('latin1'));
    if (type === 'text/html') text = text.replace(/<(style|script)[^>]*>[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' ');
    return { text, html: type === 'text/html' };
  }
  return null;
}

function snippetOf(buf) {
  const t = firstText(buf);
  if (!t) return '';
  const s = t.text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// format=full: the MIME tree as Gmail's MessagePart (every leaf's data inline; see README).
function buildPart(buf, partId, depth) {
  const { headerLen, bodyStart } = headerEnd(buf);
  const fields = parseHeaderFields(buf.subarray(0, headerLen).toString('latin1'));
  const get = (n) => fields.find((f) => f.name.toLowerCase() === n)?.value;
  const ct = get('content-type') || 'text/plain';
  const mimeType = ct.split(';')[0].trim().toLowerCase() || 'text/plain';
  const filename = decodeWords(toText(param(get('content-disposition'), 'filename') || param(ct, 'name') || ''));
  const part = { partId, mimeType, filename, headers: fields.map((f) => ({ name: f.name, value: decodeWords(toText(f.value)) })) };
  const body = buf.subarray(bodyStart);
  if (mimeType.startsWith('multipart/') && depth < 10 && param(ct, 'boundary')) {
    part.body = { size: 0 };
    part.parts = splitMultipart(body, param(ct, 'boundary'), 100)
      .map((p, i) => buildPart(p, partId === '' ? String(i) : `${partId}.${i}`, depth + 1));
    return part;
  }
  const dec = decodeTransferBuf(body, get('content-transfer-encoding'));
  part.body = dec.length ? { size: dec.length, data: dec.toString('base64url') } : { size: 0 };
  return part;
}

// ---------------------------------------------------------------- messages
function labelsOut(m) {
  return [...m.labels];
}

function addMessage(mb, raw, labelIds, { internalDate = Date.now(), threadId = null } = {}) {
  const meta = parseMeta(raw);
  let tid = threadId && [...mb.msgs.values()].some((x) => x.threadId === threadId) ? threadId : null;
  if (!tid) {
    for (const ref of [...meta.inReplyTo, ...meta.references].reverse()) {
      if (mb.threadByMsgId.has(ref)) { tid = mb.threadByMsgId.get(ref); break; }
    }
  }
  const id = newMessageId();
  mb.seq += 1;
  const m = {
    id,
    threadId: tid || id,
    labels: new Set(labelIds),
    raw,
    internalDate,
    seq: mb.seq,
    historyId: 0,
    meta: { messageId: meta.messageId, subject: meta.subject, from: meta.from, to: meta.to, cc: meta.cc, bcc: meta.bcc, fields: meta.fields },
    snippet: snippetOf(raw),
    trashedInbox: false,
  };
  mb.msgs.set(id, m);
  if (meta.messageId && !mb.threadByMsgId.has(meta.messageId)) mb.threadByMsgId.set(meta.messageId, m.threadId);
  const hid = nextHistoryId(mb);
  m.historyId = hid;
  pushHistory(mb, { id: hid, msgId: id, threadId: m.threadId, added: true, deleted: false, la: [], lr: [], before: [], after: labelsOut(m) });
  return m;
}

// Applies label changes; one history record when anything changed.
function changeLabels(mb, m, add, remove) {
  const before = labelsOut(m);
  const la = [];
  const lr = [];
  for (const l of remove) if (m.labels.has(l) && !add.includes(l)) { m.labels.delete(l); lr.push(l); }
  for (const l of add) if (!m.labels.has(l)) { m.labels.add(l); la.push(l); }
  if (!la.length && !lr.length) return false;
  const hid = nextHistoryId(mb);
  m.historyId = hid;
  pushHistory(mb, { id: hid, msgId: m.id, threadId: m.threadId, added: false, deleted: false, la, lr, before, after: labelsOut(m) });
  return true;
}

function deleteMessage(mb, m) {
  const before = labelsOut(m);
  mb.msgs.delete(m.id);
  const hid = nextHistoryId(mb);
  pushHistory(mb, { id: hid, msgId: m.id, threadId: m.threadId, added: false, deleted: true, la: [], lr: [], before, after: [] });
}

// Gmail: 1..16 hex digits (a positive int64) is a well-formed id: unknown -> 404; else 400.
function messageOr404(mb, id) {
  const m = mb.msgs.get(id);
  if (m) return m;
  if (/^[0-9a-fA-F]{1,16}$/.test(id) && BigInt(`0x${id}`) <= MAX_ID) throw notFound();
  throw invalidArgument('Invalid id value');
}

function messageJson(m, format, metadataHeaders) {
  const out = { id: m.id, threadId: m.threadId };
  const labels = labelsOut(m);
  if (labels.length) out.labelIds = labels; // Gmail leaves empty lists out
  out.snippet = m.snippet;
  if (format === 'metadata') {
    const want = metadataHeaders.length ? new Set(metadataHeaders.map((h) => h.toLowerCase())) : null;
    const ct = m.meta.fields.find((f) => f.name.toLowerCase() === 'content-type')?.value || 'text/plain';
    out.payload = {
      partId: '',
      mimeType: ct.split(';')[0].trim().toLowerCase(),
      filename: '',
      headers: m.meta.fields.filter((f) => !want || want.has(f.name.toLowerCase())).map((f) => ({ name: f.name, value: decodeWords(toText(f.value)) })),
      body: { size: 0 },
    };
  } else if (format === 'full') {
    out.payload = buildPart(m.raw, '', 0);
  }
  out.sizeEstimate = m.raw.length;
  out.historyId = String(m.historyId);
  out.internalDate = String(m.internalDate);
  if (format === 'raw') out.raw = m.raw.toString('base64url') + '='.repeat(padLen(m.raw.length));
  return out;
}

// padding of a base64 rendering of n bytes (Gmail's "raw" is URL-safe base64 with padding)
function padLen(n) {
  const r = n % 3;
  return r === 0 ? 0 : 3 - r;
}

function summary(m) {
  return { id: m.id, threadId: m.threadId };
}

// ---------------------------------------------------------------- search (q)
function parseDate(v) {
  if (/^\d{1,12}$/.test(v)) return Number(v) * 1000;
  const d = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$/.exec(v);
  if (d) return Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]));
  throw invalidArgument(`Invalid date in search query: ${v} (the emulator takes epoch seconds or yyyy/mm/dd)`);
}

// larger:/smaller:/size: values: bytes, or with K / M (1024-based: the emulator's choice).
function parseSize(v, term) {
  const s = /^(\d{1,15})([kKmM]?)$/.exec(v);
  if (!s) throw invalidArgument(`Invalid size in search query: ${term} (the emulator takes bytes, or a number with K or M)`);
  const unit = { '': 1, k: KiB, m: MiB }[s[2].toLowerCase()];
  return Number(s[1]) * unit;
}

// Does the message have an attachment? A leaf part (below the top level or not) with a file
// name (Content-Disposition filename or Content-Type name), a Content-Disposition of
// "attachment", or an attached message (message/rfc822 below the top level). Bounded depth.
function hasAttachmentIn(buf, depth) {
  const { headerLen, bodyStart } = headerEnd(buf);
  const fields = parseHeaderFields(buf.subarray(0, headerLen).toString('latin1'));
  const get = (n) => fields.find((f) => f.name.toLowerCase() === n)?.value;
  const ct = get('content-type') || 'text/plain';
  const type = ct.split(';')[0].trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const b = param(ct, 'boundary');
    if (!b || depth >= 10) return false;
    return splitMultipart(buf.subarray(bodyStart), b, 100).some((p) => hasAttachmentIn(p, depth + 1));
  }
  const disp = get('content-disposition') || '';
  if (depth > 0 && type === 'message/rfc822') return true;
  if (/^\s*attachment\b/i.test(disp)) return true;
  return !!(param(disp, 'filename') || param(ct, 'name'));
}

function hasAttachment(m) {
  if (m.hasAttachment === undefined) m.hasAttachment = hasAttachmentIn(m.raw, 0);
  return m.hasAttachment;
}

// The decoded text of every text/* leaf part (transfer encoding undone; UTF-8, else Latin-1).
function collectText(buf, depth, out) {
  const { headerLen, bodyStart } = headerEnd(buf);
  const fields = parseHeaderFields(buf.subarray(0, headerLen).toString('latin1'));
  const get = (n) => fields.find((f) => f.name.toLowerCase() === n)?.value;
  const ct = get('content-type') || 'text/plain';
  const type = ct.split(';')[0].trim().toLowerCase();
  const body = buf.subarray(bodyStart);
  if (type.startsWith('multipart/')) {
    const b = param(ct, 'boundary');
    if (b && depth < 10) for (const p of splitMultipart(body, b, 100)) collectText(p, depth + 1, out);
    return;
  }
  if (type.startsWith('text/')) {
    let t = toText(decodeTransferBuf(body.subarray(0, 1 * MiB), get('content-transfer-encoding')).toString('latin1'));
    if (type === 'text/html') t = t.replace(/<[^>]*>/g, ' ');
    out.push(t);
  }
}

// Full-text search: the decoded header values and the text parts, lower case (cached).
function fullText(m) {
  if (m.fullText === undefined) {
    const out = m.meta.fields.map((f) => decodeWords(toText(f.value)));
    collectText(m.raw, 0, out);
    m.fullText = out.join('\n').replace(/\s+/g, ' ').toLowerCase();
  }
  return m.fullText;
}

// -> {preds: [m => bool], spamTrash: bool}
function parseQuery(mb, q) {
  const preds = [];
  let spamTrash = false;
  const terms = String(q).match(/-?[A-Za-z0-9_]+:"[^"]*"|-?"[^"]*"|\S+/g) || [];
  if (terms.length > 50) throw invalidArgument('Too many search terms (the emulator takes up to 50).');
  const hdr = (m, names) => names.flatMap((n) => m.meta.fields.filter((f) => f.name.toLowerCase() === n).map((f) => decodeWords(toText(f.value)).toLowerCase()));
  for (const term of terms) {
    const neg = term.startsWith('-') && term.length > 1;
    const t = neg ? term.slice(1) : term;
    const c = t.startsWith('"') ? -1 : t.indexOf(':');
    const op = c > 0 ? t.slice(0, c).toLowerCase() : '';
    const val = (c > 0 ? t.slice(c + 1) : t).replace(/^"(.*)"$/, '$1');
    const vl = val.toLowerCase().replace(/\s+/g, ' ').trim();
    let p;
    if (op === 'is') {
      const map = { unread: 'UNREAD', starred: 'STARRED', important: 'IMPORTANT' };
      if (vl === 'read') p = (m) => !m.labels.has('UNREAD');
      else if (map[vl]) p = (m) => m.labels.has(map[vl]);
      else throw invalidArgument(`Unsupported search term '${term}' (emulator: is:unread|read|starred|important)`);
    } else if (op === 'has') {
      if (vl !== 'attachment') throw invalidArgument(`Unsupported search term '${term}' (emulator: has:attachment)`);
      p = (m) => hasAttachment(m);
    } else if (op === 'larger' || op === 'smaller' || op === 'size') {
      const n = parseSize(val, term);
      if (op === 'larger') p = (m) => m.raw.length > n;
      else if (op === 'smaller') p = (m) => m.raw.length < n;
      else p = (m) => m.raw.length === n;
    } else if (op === 'in' || op === 'label') {
      if (vl === 'anywhere' && op === 'in') { spamTrash = true; p = () => true; } else {
        const sys = { inbox: 'INBOX', sent: 'SENT', trash: 'TRASH', spam: 'SPAM', draft: 'DRAFT', drafts: 'DRAFT', starred: 'STARRED', important: 'IMPORTANT', unread: 'UNREAD' };
        let id = sys[vl];
        if (!id) {
          const l = labelByIdOrName(mb, val) || labelByIdOrName(mb, val.replace(/-/g, '/'));
          if (!l) { preds.push(() => neg); continue; } // an unknown label matches nothing
          id = l.id;
        }
        if (id === 'TRASH' || id === 'SPAM') spamTrash = true;
        p = (m) => m.labels.has(id);
      }
    } else if (op === 'after' || op === 'newer') {
      const ms = parseDate(val);
      p = (m) => m.internalDate >= ms;
    } else if (op === 'before' || op === 'older') {
      const ms = parseDate(val);
      p = (m) => m.internalDate < ms;
    } else if (op === 'rfc822msgid') {
      const want = vl.replace(/^<|>$/g, '');
      p = (m) => (m.meta.messageId || '').toLowerCase().replace(/^<|>$/g, '') === want;
    } else if (op === 'from' || op === 'to' || op === 'subject' || op === 'cc' || op === 'bcc') {
      const names = op === 'to' ? ['to', 'cc', 'bcc'] : [op];
      p = (m) => hdr(m, names).some((v) => v.replace(/\s+/g, ' ').includes(vl));
    } else if (!op && !/^(OR|AND|AROUND)$/.test(t) && !/^[({]|[)}]$/.test(t)) {
      // a word or a "quoted phrase": full text (headers and text parts)
      p = (m) => fullText(m).includes(vl);
    } else {
      throw invalidArgument(`Unsupported search term '${term}' (emulator: is:, has:attachment, in:, label:, after:, before:, newer:, older:, larger:, smaller:, size:, rfc822msgid:, from:, to:, cc:, bcc:, subject:, words and "phrases"; no OR, AROUND or grouping)`);
    }
    preds.push(neg ? (m) => !p(m) : p);
  }
  return { preds, spamTrash };
}

// ---------------------------------------------------------------- page tokens (stateless, HMAC-protected)
function signToken(payload) {
  const body = b64url(JSON.stringify(payload));
  return `${body}.${b64url(hmac('page', body)).slice(0, 22)}`;
}
function openToken(tok, kind) {
  const i = typeof tok === 'string' ? tok.lastIndexOf('.') : -1;
  const invalid = () => invalidArgument('Invalid pageToken');
  if (i <= 0) throw invalid();
  const body = tok.slice(0, i);
  const sig = Buffer.from(tok.slice(i + 1));
  const want = Buffer.from(b64url(hmac('page', body)).slice(0, 22));
  if (sig.length !== want.length || !crypto.timingSafeEqual(sig, want)) throw invalid();
  let p;
  try { p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')); } catch { throw invalid(); }
  if (p.k !== kind) throw invalid();
  return p;
}

function pageSize(sp) {
  const raw = sp.get('maxResults');
  let n = 100;
  if (raw !== null && raw !== '') {
    n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw invalidArgument(`Invalid value for maxResults: ${raw}`);
    if (n === 0) n = 100;
    n = Math.min(n, 500);
  }
  if (inject.pageSize) n = Math.min(n, inject.pageSize);
  return n;
}

// ---------------------------------------------------------------- introspection
const introCache = new Map(); // token -> {at, promise}
function introspect(token) {
  const now = Date.now();
  const hit = introCache.get(token);
  if (hit && now - hit.at <= INTROSPECTION_TTL_MS) {
    stats.introspection_cache_hits += 1;
    return hit.promise;
  }
  if (introCache.size > 1000) introCache.clear();
  stats.introspections += 1;
  const promise = new Promise((resolve, reject) => {
    const body = new URLSearchParams({ client_id: 'mail-introspector', client_secret: 'introspector-secret', token }).toString();
    const r = https.request(INTROSPECTION_URL, {
      method: 'POST',
      ca: caCert,
      timeout: 15000,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), accept: 'application/json' },
    }, (res) => {
      const chunks = [];
      let n = 0;
      res.on('data', (c) => {
        n += c.length;
        if (n > 64 * KiB) { r.destroy(new Error('introspection answer too long')); return; }
        chunks.push(c);
      });
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`introspection HTTP ${res.statusCode}`);
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) { reject(e); }
      });
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error('introspection timed out')));
    r.on('error', reject);
    r.end(body);
  });
  introCache.set(token, { at: now, promise });
  promise.catch(() => introCache.delete(token));
  return promise;
}

// -> {email (or null), scopes: Set, clientId}
async function authenticate(req) {
  const h = String(req.headers.authorization || '');
  const m = /^Bearer\s+(.*)$/i.exec(h.trim());
  const token = m ? m[1].trim() : '';
  if (!token) throw unauthenticated(true);
  let info;
  try {
    info = await introspect(token);
  } catch (e) {
    log(`introspection failed: ${e.message}`);
    throw new GmailError(500, 'backendError', `The emulator could not introspect the token: ${e.message}`);
  }
  if (!info.active) throw unauthenticated(false);
  const scopes = new Set(String(info.scope || '').split(' ').filter(Boolean).map((s) => (s === SANDBOX_FULL ? F : s)));
  let email = info.email ? String(info.email) : null;
  if (!email && info.sub && String(info.sub).includes('@')) email = String(info.sub);
  return { email, scopes, clientId: info.client_id ?? null };
}

function allowed(auth, method) {
  return METHOD_SCOPES[method].some((s) => auth.scopes.has(s));
}

// A token that reaches Gmail only through gmail.metadata (no full, modify or readonly scope).
function metadataOnly(auth) {
  return auth.scopes.has(SCOPE.metadata) && ![F, SCOPE.modify, SCOPE.readonly].some((s) => auth.scopes.has(s));
}

// A service account's own address (Google: …@PROJECT.iam.gserviceaccount.com; the sandbox's
// service account: …@sandbox-project.iam.gserviceaccount.test).
const SERVICE_ACCOUNT_RE = /@[^@\s]+\.iam\.gserviceaccount\.(com|test)$/i;

function resolveUser(auth, userId) {
  if (!auth.email || SERVICE_ACCOUNT_RE.test(auth.email)) {
    // a token that acts for no user: client credentials, or a service account's token without
    // domain-wide delegation ("sub" = a user); Google answers 400 failedPrecondition
    throw new GmailError(400, 'failedPrecondition', 'Precondition check failed.', { statusName: 'FAILED_PRECONDITION' });
  }
  if (userId !== 'me' && userId.toLowerCase() !== auth.email.toLowerCase()) {
    throw new GmailError(403, 'forbidden', `Delegation denied for ${auth.email}`);
  }
  return getMailbox(auth.email, true);
}

// ---------------------------------------------------------------- HTTP plumbing
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    let over = false;
    req.on('data', (c) => {
      n += c.length;
      if (n > DRAIN_LIMIT && n > limit) {
        reject(new Error('request body far beyond its limit'));
        req.destroy();
        return;
      }
      if (n > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve({ buf: over ? null : Buffer.concat(chunks), size: n, tooLarge: over }));
    req.on('error', reject);
    req.on('close', () => { if (!req.complete) reject(new Error('request aborted')); });
  });
}

function record(ctx, status) {
  const k = String(status);
  stats.status_counts[k] = (stats.status_counts[k] || 0) + 1;
  recent.push({
    at: iso(Date.now()),
    method: ctx.req.method,
    path: ctx.url.pathname + ctx.url.search,
    route: ctx.route,
    status,
    user: ctx.mb?.key ?? null,
    reason: ctx.reason ?? null,
    cut: ctx.cutMode ?? null,
  });
  if (recent.length > RECENT_KEPT) recent.splice(0, recent.length - RECENT_KEPT);
}

// Writes a response {status, headers, json|raw}, applying a pending `cut`.
function respond(ctx, resp) {
  const { res } = ctx;
  if (res.headersSent || res.destroyed) return;
  let body = Buffer.alloc(0);
  const headers = { 'cache-control': 'private', vary: 'Origin, X-Origin, Referer', ...resp.headers };
  if (resp.json !== undefined) {
    // Google pretty-prints unless prettyPrint=false
    body = Buffer.from(ctx.url.searchParams.get('prettyPrint') === 'false' ? JSON.stringify(resp.json) : JSON.stringify(resp.json, null, 2));
    headers['content-type'] = JSON_TYPE;
  } else if (resp.raw !== undefined) {
    body = resp.raw;
  }
  if (resp.status !== 204) headers['content-length'] = body.length;
  const c = inject.cut;
  const cuttable = !ctx.isSend || c.send;
  if (cuttable && c.remaining > 0) {
    c.remaining -= 1;
    stats.cut += 1;
    ctx.cutMode = c.when;
    record(ctx, resp.status);
    log(`cut (${c.when}) ${ctx.req.method} ${ctx.url.pathname} (would have been ${resp.status})`);
    if (c.when === 'before') {
      res.destroy();
      return;
    }
    res.writeHead(resp.status, headers);
    if (c.when === 'after_headers') {
      res.flushHeaders();
      setTimeout(() => res.destroy(), 50);
      return;
    }
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.destroy(), 50));
    return;
  }
  record(ctx, resp.status);
  if (resp.statusText) res.writeHead(resp.status, resp.statusText, headers);
  else res.writeHead(resp.status, headers);
  res.end(body);
}

function errorResponse(ctx, e) {
  ctx.reason = e.reason;
  return { status: e.status, headers: e.more.headers || {}, json: e.body() };
}

function parseJsonBody(ctx, required = true) {
  if (!ctx.body || !ctx.body.length) {
    if (!required) return {};
    throw badRequest('Request contains an invalid argument.');
  }
  let v;
  try { v = JSON.parse(ctx.body.toString('utf8')); } catch {
    throw new GmailError(400, 'parseError', 'Invalid JSON payload received. Unexpected token.', { itemMessage: 'Invalid JSON payload received. Unexpected token.' });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest('Invalid JSON payload received. Expected an object.');
  return v;
}

// base64url (or standard base64), padded or not -> Buffer; null when it is not base64
function decodeB64(s) {
  if (typeof s !== 'string') return null;
  const t = s.replace(/[\r\n\t ]/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(t) || t.replace(/=+$/, '').length % 4 === 1) return null;
  return Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

// ---------------------------------------------------------------- SMTP relay to the sink
// CRLF line ends, the Bcc header field removed (the envelope keeps its recipients).
function relayData(mime) {
  let s = mime.toString('latin1').replace(/\r?\n/g, '\r\n');
  if (!s.endsWith('\r\n')) s += '\r\n';
  const end = s.indexOf('\r\n\r\n');
  const head = end === -1 ? s : s.slice(0, end + 2);
  const rest = end === -1 ? '' : s.slice(end + 2);
  const lines = head.split('\r\n');
  const kept = [];
  let dropping = false;
  for (const line of lines) {
    if (/^[ \t]/.test(line)) { // continuation of the previous field
      if (!dropping) kept.push(line);
      continue;
    }
    dropping = /^bcc[ \t]*:/i.test(line);
    if (!dropping) kept.push(line);
  }
  return Buffer.from(kept.join('\r\n') + rest, 'latin1');
}

function dotStuff(buf) {
  return Buffer.from(buf.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
}

function smtpRelay(port, from, rcpts, data) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    let waiter = null;
    let done = false;
    const finish = (err, val) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err); else resolve(val);
    };
    const timer = setTimeout(() => finish(new Error('SMTP relay timed out (60 s)')), 60000);
    const tryReply = () => {
      if (!waiter) return;
      const lines = buf.split('\r\n');
      for (let i = 0; i < lines.length - 1; i += 1) {
        if (/^\d{3} /.test(lines[i]) || /^\d{3}$/.test(lines[i])) {
          const text = lines.slice(0, i + 1).join('\n');
          buf = lines.slice(i + 1).join('\r\n');
          const w = waiter;
          waiter = null;
          w({ code: Number.parseInt(lines[i].slice(0, 3), 10), text });
          return;
        }
      }
      if (buf.length > 64 * KiB) finish(new Error('SMTP reply too long'));
    };
    const reply = () => new Promise((r) => { waiter = r; tryReply(); });
    sock.setEncoding('latin1');
    sock.on('data', (d) => { buf += d; tryReply(); });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error('SMTP connection closed')));
    const cmd = async (line, want) => {
      sock.write(`${line}\r\n`);
      const r = await reply();
      if (want && !want.includes(Math.floor(r.code / 100))) throw new Error(`SMTP ${line.split(' ')[0]}: ${r.text}`);
      return r;
    };
    (async () => {
      const greet = await reply();
      if (greet.code !== 220) throw new Error(`SMTP greeting: ${greet.text}`);
      await cmd('EHLO gmail-emulator.test', [2]);
      await cmd(`MAIL FROM:<${from}>`, [2]);
      const accepted = [];
      const rejected = [];
      for (const r of rcpts) {
        const res = await cmd(`RCPT TO:<${r}>`);
        if (Math.floor(res.code / 100) === 2) accepted.push(r); else rejected.push(r);
      }
      if (accepted.length) {
        await cmd('DATA', [3]);
        sock.write(dotStuff(data));
        sock.write('.\r\n');
        const r = await reply();
        if (Math.floor(r.code / 100) !== 2) throw new Error(`SMTP DATA: ${r.text}`);
      }
      await cmd('QUIT');
      return { accepted, rejected };
    })().then((v) => finish(null, v), (e) => finish(e));
  });
}

function recipientsOf(mime) {
  const meta = parseMeta(mime);
  const seen = new Set();
  const rcpts = [];
  for (const a of [...meta.to, ...meta.cc, ...meta.bcc]) {
    const k = a.address.toLowerCase();
    if (!seen.has(k) && a.address.includes('@')) { seen.add(k); rcpts.push(a.address); }
  }
  return rcpts;
}

// messages.send, whatever the transport: relay (before answering), keep the sent copy.
async function sendMessage(mb, mime, threadId) {
  const rcpts = recipientsOf(mime);
  if (!rcpts.length) throw invalidArgument('Recipient address required');
  if (opts.sinkPort !== undefined) {
    try {
      const r = await smtpRelay(opts.sinkPort, mb.address, rcpts, relayData(mime));
      if (r.accepted.length) stats.relayed += 1;
      for (const x of r.rejected) stats.relay_rejected_rcpts.push(x);
    } catch (e) {
      stats.relay_failures += 1;
      log(`relay to 127.0.0.1:${opts.sinkPort} failed: ${e.message}`);
    }
  }
  const m = addMessage(mb, mime, ['SENT'], { threadId: typeof threadId === 'string' ? threadId : null });
  stats.sent += 1;
  return { status: 200, json: { id: m.id, threadId: m.threadId, labelIds: labelsOut(m) } };
}

// ---------------------------------------------------------------- routes
// "/gmail/v1/users/{userId}/..." -> {userId, rest: [...]}
function parseApiPath(pathname) {
  const raw = pathname.split('/').filter(Boolean);
  const segs = [];
  for (const r of raw) {
    try { segs.push(decodeURIComponent(r)); } catch { return null; }
  }
  let i;
  let upload = null;
  if (segs[0] === 'gmail' && segs[1] === 'v1') i = 2;
  else if (segs[0] === 'upload' && segs[1] === 'gmail' && segs[2] === 'v1') { i = 3; upload = 'upload'; } else if (segs[0] === 'resumable' && segs[1] === 'upload' && segs[2] === 'gmail' && segs[3] === 'v1') { i = 4; upload = 'resumable'; } else return null;
  if (segs[i] !== 'users' || !segs[i + 1]) return null;
  return { upload, userId: segs[i + 1], rest: segs.slice(i + 2) };
}

// -> {name, method (scope key), handler, id?, isSend?, bodyLimit?}
function matchRoute(httpMethod, p) {
  const r = p.rest;
  const n = r.length;
  const M = httpMethod;
  if (p.upload) {
    // specialised by handleApi (uploadType, resumable session)
    if (n === 2 && r[0] === 'messages' && r[1] === 'send') return { name: `${M} /upload/…/messages/send`, method: 'users.messages.send', handler: uploadSend };
    return null;
  }
  if (n === 1 && r[0] === 'profile' && M === 'GET') return { name: 'GET /profile', method: 'users.getProfile', handler: getProfile };
  if (r[0] === 'labels') {
    if (n === 1 && M === 'GET') return { name: 'GET /labels', method: 'users.labels.list', handler: listLabels };
    if (n === 1 && M === 'POST') return { name: 'POST /labels', method: 'users.labels.create', handler: postLabel };
    if (n === 2 && M === 'GET') return { name: 'GET /labels/{id}', method: 'users.labels.get', handler: getLabel, id: r[1] };
    return null;
  }
  if (n === 1 && r[0] === 'history' && M === 'GET') return { name: 'GET /history', method: 'users.history.list', handler: listHistory };
  if (r[0] === 'messages') {
    if (n === 1 && M === 'GET') return { name: 'GET /messages', method: 'users.messages.list', handler: listMessages };
    if (n === 2 && r[1] === 'send' && M === 'POST') return { name: 'POST /messages/send', method: 'users.messages.send', handler: postSend, isSend: true, bodyLimit: SEND_JSON_LIMIT };
    if (n === 2 && r[1] === 'batchModify' && M === 'POST') return { name: 'POST /messages/batchModify', method: 'users.messages.batchModify', handler: batchModify };
    if (n === 2 && M === 'GET') return { name: 'GET /messages/{id}', method: 'users.messages.get', handler: getMessage, id: r[1] };
    if (n === 2 && M === 'DELETE') return { name: 'DELETE /messages/{id}', method: 'users.messages.delete', handler: deleteRoute, id: r[1] };
    if (n === 3 && r[2] === 'modify' && M === 'POST') return { name: 'POST /messages/{id}/modify', method: 'users.messages.modify', handler: modifyMessage, id: r[1] };
    if (n === 3 && r[2] === 'trash' && M === 'POST') return { name: 'POST /messages/{id}/trash', method: 'users.messages.trash', handler: trashMessage, id: r[1] };
    if (n === 3 && r[2] === 'untrash' && M === 'POST') return { name: 'POST /messages/{id}/untrash', method: 'users.messages.untrash', handler: untrashMessage, id: r[1] };
  }
  return null;
}

// ---------------------------------------------------------------- handlers
function getProfile(ctx, mb) {
  const threads = new Set([...mb.msgs.values()].map((m) => m.threadId));
  return { status: 200, json: { emailAddress: mb.address, messagesTotal: mb.msgs.size, threadsTotal: threads.size, historyId: String(mb.hist) } };
}

function listLabels(ctx, mb) {
  const labels = [
    ...SYSTEM_LABELS.map((id) => ({ id, name: id, type: 'system' })),
    ...mb.labels.values(),
  ].map((l) => labelJson(mb, l, false));
  return { status: 200, json: { labels } };
}

function getLabel(ctx, mb, route) {
  const l = SYSTEM_SET.has(route.id) ? { id: route.id, name: route.id, type: 'system' } : mb.labels.get(route.id);
  if (!l) throw notFound();
  return { status: 200, json: labelJson(mb, l, true) };
}

function postLabel(ctx, mb) {
  const b = parseJsonBody(ctx);
  const name = typeof b.name === 'string' ? b.name.trim() : '';
  if (!name || name.length > 225 || /[\r\n]/.test(name)) throw invalidArgument('Invalid label name');
  const low = name.toLowerCase();
  const clash = SYSTEM_LABELS.some((s) => s.toLowerCase() === low) || [...mb.labels.values()].some((l) => l.name.toLowerCase() === low);
  if (clash) throw new GmailError(409, 'aborted', 'Label name exists or conflicts');
  for (const [k, allowedValues] of [['messageListVisibility', ['show', 'hide']], ['labelListVisibility', ['labelShow', 'labelShowIfUnread', 'labelHide']]]) {
    if (b[k] !== undefined && !allowedValues.includes(b[k])) throw invalidArgument(`Invalid value for ${k}: ${b[k]}`);
  }
  const l = createLabel(mb, name, b.messageListVisibility, b.labelListVisibility);
  return { status: 200, json: labelJson(mb, l, false) };
}

function listMessages(ctx, mb, route) {
  const sp = ctx.url.searchParams;
  const labelIds = sp.getAll('labelIds').flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  const q = sp.get('q') || '';
  if (q && metadataOnly(ctx.auth)) throw new GmailError(403, 'forbidden', "Metadata scope does not support 'q' parameter");
  const includeSpamTrash = sp.get('includeSpamTrash') === 'true';
  const size = pageSize(sp);
  for (const id of labelIds) if (!SYSTEM_SET.has(id) && !mb.labels.has(id)) throw invalidArgument(`Invalid label: ${id}`);
  const { preds, spamTrash } = parseQuery(mb, q);
  const showSpamTrash = includeSpamTrash || spamTrash || labelIds.includes('SPAM') || labelIds.includes('TRASH');
  const fp = b64url(hmac('q', JSON.stringify([labelIds, q, showSpamTrash]))).slice(0, 16);
  let after = null;
  const tok = sp.get('pageToken');
  if (tok) {
    const p = openToken(tok, 'm');
    if (p.u !== mb.key || p.f !== fp || p.g !== generation) throw invalidArgument('Invalid pageToken');
    after = p.a; // [internalDate, seq] of the last message returned
  }
  // newest first (internalDate, then arrival); a page continues after the last one returned
  const older = (m) => !after || m.internalDate < after[0] || (m.internalDate === after[0] && m.seq < after[1]);
  const all = [...mb.msgs.values()].filter((m) => (showSpamTrash || (!m.labels.has('SPAM') && !m.labels.has('TRASH')))
    && labelIds.every((l) => m.labels.has(l)) && preds.every((p) => p(m)));
  const rest = all.filter(older).sort((a, b) => b.internalDate - a.internalDate || b.seq - a.seq);
  const page = rest.slice(0, size);
  const out = {};
  if (page.length) out.messages = page.map(summary);
  if (rest.length > page.length) {
    const last = page[page.length - 1];
    out.nextPageToken = signToken({ k: 'm', u: mb.key, f: fp, g: generation, a: [last.internalDate, last.seq] });
  }
  // Google: "Estimated total number of results"; here the exact count of every page
  out.resultSizeEstimate = all.length;
  return { status: 200, json: out };
}

function getMessage(ctx, mb, route) {
  const sp = ctx.url.searchParams;
  const format = (sp.get('format') || 'full').toLowerCase();
  if (!['minimal', 'full', 'raw', 'metadata'].includes(format)) throw invalidArgument(`Invalid value at 'format' (type.googleapis.com/caribou.api.proto.MessageFormat), "${sp.get('format')}"`);
  if ((format === 'raw' || format === 'full') && metadataOnly(ctx.auth)) {
    throw new GmailError(403, 'forbidden', `Metadata scope doesn't allow format ${format.toUpperCase()}`);
  }
  const m = messageOr404(mb, route.id);
  return { status: 200, json: messageJson(m, format, sp.getAll('metadataHeaders')) };
}

function checkLabelIds(mb, list, what) {
  if (list === undefined) return [];
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) throw invalidArgument(`Invalid value for ${what}`);
  for (const id of list) {
    if (id === 'DRAFT' || id === 'SENT') throw invalidArgument(`Invalid label: ${id}`);
    if (!SYSTEM_SET.has(id) && !mb.labels.has(id)) throw invalidArgument(`Invalid label: ${id}`);
  }
  return list;
}

function modifyMessage(ctx, mb, route) {
  const b = parseJsonBody(ctx, false);
  const add = checkLabelIds(mb, b.addLabelIds, 'addLabelIds');
  const remove = checkLabelIds(mb, b.removeLabelIds, 'removeLabelIds');
  if (!add.length && !remove.length) throw invalidArgument('No label add or removes specified');
  const m = messageOr404(mb, route.id);
  changeLabels(mb, m, add, remove);
  return { status: 200, json: { id: m.id, threadId: m.threadId, labelIds: labelsOut(m) } };
}

function batchModify(ctx, mb) {
  const b = parseJsonBody(ctx);
  if (!Array.isArray(b.ids) || b.ids.some((x) => typeof x !== 'string')) throw invalidArgument('ids must be a list of message ids');
  if (b.ids.length > BATCH_MODIFY_MAX) throw invalidArgument('Number of ids cannot exceed 1000');
  const add = checkLabelIds(mb, b.addLabelIds, 'addLabelIds');
  const remove = checkLabelIds(mb, b.removeLabelIds, 'removeLabelIds');
  if (!add.length && !remove.length) throw invalidArgument('No label add or removes specified');
  for (const id of b.ids) {
    const m = mb.msgs.get(id);
    if (m) changeLabels(mb, m, add, remove); // unknown ids are skipped
  }
  return { status: 204 };
}

function trashMessage(ctx, mb, route) {
  const m = messageOr404(mb, route.id);
  if (!m.labels.has('TRASH')) {
    m.trashedInbox = m.labels.has('INBOX');
    changeLabels(mb, m, ['TRASH'], ['INBOX', 'SPAM']);
  }
  return { status: 200, json: { id: m.id, threadId: m.threadId, labelIds: labelsOut(m) } };
}

function untrashMessage(ctx, mb, route) {
  const m = messageOr404(mb, route.id);
  if (m.labels.has('TRASH')) changeLabels(mb, m, m.trashedInbox ? ['INBOX'] : [], ['TRASH']);
  return { status: 200, json: { id: m.id, threadId: m.threadId, labelIds: labelsOut(m) } };
}

function deleteRoute(ctx, mb, route) {
  const m = messageOr404(mb, route.id);
  deleteMessage(mb, m);
  return { status: 204 };
}

// One history record rendered through the historyTypes / labelId filters (null: filtered out).
function renderHistory(r, types, labelId) {
  const want = (t) => !types || types.has(t);
  const ref = { id: r.msgId, threadId: r.threadId };
  const withLabels = () => (r.after.length ? { ...ref, labelIds: r.after } : { ...ref });
  const out = { id: String(r.id) };
  let any = false;
  if (r.added && want('messageAdded') && (!labelId || r.after.includes(labelId))) {
    out.messagesAdded = [{ message: withLabels() }];
    any = true;
  }
  if (r.deleted && want('messageDeleted') && (!labelId || r.before.includes(labelId))) {
    out.messagesDeleted = [{ message: ref }];
    any = true;
  }
  if (r.la.length && want('labelAdded') && (!labelId || r.after.includes(labelId))) {
    out.labelsAdded = [{ message: withLabels(), labelIds: r.la }];
    any = true;
  }
  if (r.lr.length && want('labelRemoved') && (!labelId || r.before.includes(labelId))) {
    out.labelsRemoved = [{ message: withLabels(), labelIds: r.lr }];
    any = true;
  }
  if (!any) return null;
  return { id: out.id, messages: [ref], ...Object.fromEntries(Object.entries(out).filter(([k]) => k !== 'id')) };
}

function listHistory(ctx, mb) {
  stats.history_requests += 1;
  const sp = ctx.url.searchParams;
  const rawStart = sp.get('startHistoryId');
  if (rawStart === null || rawStart === '') {
    throw new GmailError(400, 'invalidArgument', 'startHistoryId is required', { location: 'startHistoryId', locationType: 'parameter' });
  }
  if (!/^\d{1,19}$/.test(rawStart)) throw invalidArgument(`Invalid value for startHistoryId: ${rawStart}`);
  const start = Number(rawStart);
  const typesRaw = sp.getAll('historyTypes').flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  for (const t of typesRaw) {
    if (!HISTORY_TYPES.some((h) => h.toLowerCase() === t.toLowerCase())) throw invalidArgument(`Invalid value at 'history_types' (type.googleapis.com/caribou.api.proto.HistoryType), "${t}"`);
  }
  const types = typesRaw.length ? new Set(typesRaw.map((t) => HISTORY_TYPES.find((h) => h.toLowerCase() === t.toLowerCase()))) : null;
  const labelId = sp.get('labelId') || null;
  const size = pageSize(sp);
  const fp = b64url(hmac('h', JSON.stringify([start, [...(types || [])].sort(), labelId]))).slice(0, 16);
  let pos = start;
  const tok = sp.get('pageToken');
  if (tok) {
    const p = openToken(tok, 'h');
    if (p.u !== mb.key || p.f !== fp || p.g !== generation) throw invalidArgument('Invalid pageToken');
    pos = p.p;
  }
  // older than the oldest record kept (or newer than the mailbox) -> 404: the client must full-sync
  if (start < mb.floor || pos < mb.floor || start > mb.hist) {
    stats.history_expired += 1;
    throw notFound();
  }
  // first record with id > pos (records are in id order)
  let lo = 0;
  let hi = mb.history.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (mb.history[mid].id <= pos) lo = mid + 1; else hi = mid;
  }
  const page = [];
  let more = false;
  let lastId = pos;
  for (let i = lo; i < mb.history.length; i += 1) {
    const h = renderHistory(mb.history[i], types, labelId);
    if (!h) continue;
    if (page.length === size) { more = true; break; }
    page.push(h);
    lastId = mb.history[i].id;
  }
  const out = {};
  if (page.length) out.history = page;
  if (more) out.nextPageToken = signToken({ k: 'h', u: mb.key, f: fp, g: generation, p: lastId });
  out.historyId = String(mb.hist);
  return { status: 200, json: out };
}

async function postSend(ctx, mb) {
  if (ctx.tooLarge) {
    throw new GmailError(413, 'badRequest', `Request payload size exceeds the limit: ${SEND_JSON_LIMIT} bytes.`);
  }
  const b = parseJsonBody(ctx);
  if (b.raw === undefined || b.raw === null || b.raw === '') {
    throw badRequest("'raw' RFC822 payload message string or uploading message via /upload/* URL required");
  }
  const mime = decodeB64(b.raw);
  if (!mime) throw invalidArgument('Invalid value for ByteString: raw is not base64url');
  return sendMessage(mb, mime, b.threadId);
}

function isMessageType(ct) {
  return /^message\/[a-z0-9.+-]+$/i.test(String(ct || '').split(';')[0].trim());
}

function unsupportedMedia(ct) {
  return new GmailError(400, 'badContent', `Media type '${String(ct || '').split(';')[0].trim()}' is not supported. Valid media types: [message/*]`);
}

function uploadTooLarge() {
  return new GmailError(413, 'uploadTooLarge', `Media larger than ${MEDIA_LIMIT} bytes (35 MB) cannot be sent.`, { statusName: 'INVALID_ARGUMENT' });
}

// /upload/gmail/v1/users/{userId}/messages/send?uploadType=media|multipart|resumable
// (and /resumable/upload/… for resumable), plus PUT/POST …&upload_id=ID of a resumable session.
async function uploadSend(ctx, mb, route) {
  if (route.session) return resumablePut(ctx, route.session);
  const type = route.uploadType;
  if (type === 'media') {
    stats.uploads.media += 1;
    if (ctx.tooLarge || ctx.body.length > MEDIA_LIMIT) throw uploadTooLarge();
    const ct = ctx.req.headers['content-type'];
    if (!isMessageType(ct)) throw unsupportedMedia(ct);
    return sendMessage(mb, ctx.body, null);
  }
  if (type === 'multipart') {
    stats.uploads.multipart += 1;
    if (ctx.tooLarge) throw uploadTooLarge();
    const ct = String(ctx.req.headers['content-type'] || '');
    const boundary = param(ct, 'boundary');
    if (!/^multipart\/related/i.test(ct) || !boundary) throw badRequest('uploadType=multipart needs Content-Type: multipart/related; boundary=…');
    const parts = splitMultipart(ctx.body, boundary, 3);
    if (parts.length !== 2) throw badRequest('A multipart upload has two parts: the JSON metadata and the message.');
    const meta = parts[0];
    const mh = headerEnd(meta);
    const metaFields = parseHeaderFields(meta.subarray(0, mh.headerLen).toString('latin1'));
    const metaCt = metaFields.find((f) => f.name.toLowerCase() === 'content-type')?.value || '';
    if (!/^application\/json/i.test(metaCt)) throw badRequest('The first part of a multipart upload must be application/json metadata.');
    let metadata = {};
    const metaText = meta.subarray(mh.bodyStart).toString('utf8').trim();
    if (metaText) {
      try { metadata = JSON.parse(metaText); } catch { throw new GmailError(400, 'parseError', 'Invalid JSON payload received in the metadata part.'); }
    }
    const media = parts[1];
    const h = headerEnd(media);
    const fields = parseHeaderFields(media.subarray(0, h.headerLen).toString('latin1'));
    const mct = fields.find((f) => f.name.toLowerCase() === 'content-type')?.value;
    if (!isMessageType(mct)) throw unsupportedMedia(mct);
    const bytes = decodeTransferBuf(media.subarray(h.bodyStart), fields.find((f) => f.name.toLowerCase() === 'content-transfer-encoding')?.value);
    if (bytes.length > MEDIA_LIMIT) throw uploadTooLarge();
    return sendMessage(mb, bytes, metadata && metadata.threadId);
  }
  if (type === 'resumable') {
    stats.uploads.resumable += 1;
    const xct = ctx.req.headers['x-upload-content-type'];
    if (xct !== undefined && !isMessageType(xct)) throw unsupportedMedia(xct);
    const xlen = ctx.req.headers['x-upload-content-length'];
    let total = null;
    if (xlen !== undefined) {
      total = Number(xlen);
      if (!Number.isInteger(total) || total < 0) throw badRequest('Invalid X-Upload-Content-Length');
      if (total > MEDIA_LIMIT) throw uploadTooLarge();
    }
    if (ctx.tooLarge) throw new GmailError(413, 'badRequest', `Request payload size exceeds the limit: ${JSON_LIMIT} bytes.`);
    let metadata = {};
    if (ctx.body.length) metadata = parseJsonBody(ctx);
    if (sessions.size >= SESSIONS_MAX) {
      for (const [k, s] of sessions) if (s.expires < Date.now() || s.done) sessions.delete(k);
      if (sessions.size >= SESSIONS_MAX) throw new GmailError(429, 'rateLimitExceeded', 'Too many open upload sessions (emulator limit).', { domain: 'usageLimits' });
    }
    const id = `ADPycd${b64url(crypto.randomBytes(36))}`;
    sessions.set(id, { id, mbKey: mb.key, threadId: typeof metadata.threadId === 'string' ? metadata.threadId : null, total, chunks: [], received: 0, done: null, expires: Date.now() + SESSION_TTL_MS });
    const loc = `https://127.0.0.1:${ctx.port}/upload/gmail/v1/users/${encodeURIComponent(route.userId)}/messages/send?uploadType=resumable&upload_id=${id}`;
    return { status: 200, headers: { Location: loc, 'X-GUploader-UploadID': id }, raw: Buffer.alloc(0) };
  }
  throw badRequest(type ? `Invalid uploadType: ${type}` : 'uploadType is required on /upload URLs (media, multipart or resumable).');
}

// PUT (or POST) to a resumable session URL: the bytes, whole or in chunks with Content-Range.
async function resumablePut(ctx, s) {
  const mb = mailboxes.get(s.mbKey);
  if (!mb) throw notFound();
  if (s.done) return s.done; // the upload already finished: its answer again
  stats.upload_chunks += 1;
  if (ctx.tooLarge) throw uploadTooLarge();
  const body = ctx.body;
  const cr = ctx.req.headers['content-range'];
  let start = 0;
  let total = s.total;
  if (cr === undefined) {
    if (s.received !== 0) throw badRequest('Content-Range is required after the first chunk.');
    total = s.total ?? body.length;
  } else {
    const q = /^bytes \*\/(\d+|\*)$/.exec(String(cr).trim());
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(cr).trim());
    if (q) {
      if (body.length) throw badRequest('A status query (Content-Range: bytes */N) has an empty body.');
      if (q[1] !== '*') {
        const t = Number(q[1]);
        if (s.total !== null && t !== s.total) throw badRequest(`Content-Range total ${t} differs from the declared ${s.total}.`);
        s.total = t;
        if (s.received === t) return finishUpload(ctx, mb, s);
      }
      return incomplete(s);
    }
    if (!m) throw badRequest(`Invalid Content-Range: ${cr}`);
    start = Number(m[1]);
    const end = Number(m[2]);
    if (end < start || end - start + 1 !== body.length) throw badRequest(`Content-Range ${cr} does not match the ${body.length} bytes sent.`);
    if (m[3] !== '*') {
      const t = Number(m[3]);
      if (s.total !== null && t !== s.total) throw badRequest(`Content-Range total ${t} differs from the declared ${s.total}.`);
      if (end >= t) throw badRequest(`Content-Range ${cr} goes past the total.`);
      total = t;
    }
    if (start > s.received) throw badRequest(`Chunk starts at byte ${start} but ${s.received} bytes were received: query the session with Content-Range: bytes */*.`);
  }
  if (total !== null && total > MEDIA_LIMIT) throw uploadTooLarge();
  s.total = total;
  const fresh = body.subarray(Math.max(0, s.received - start)); // bytes already received are skipped
  if (s.received + fresh.length > MEDIA_LIMIT) throw uploadTooLarge();
  s.chunks.push(fresh);
  s.received += fresh.length;
  if (s.total !== null && s.received >= s.total) return finishUpload(ctx, mb, s);
  return incomplete(s);
}

function incomplete(s) {
  const headers = s.received ? { Range: `bytes=0-${s.received - 1}` } : {};
  return { status: 308, statusText: 'Resume Incomplete', headers, raw: Buffer.alloc(0) };
}

async function finishUpload(ctx, mb, s) {
  ctx.isSend = true;
  const bytes = Buffer.concat(s.chunks);
  s.chunks = [];
  const resp = await sendMessage(mb, bytes, s.threadId);
  s.done = resp;
  return resp;
}

// ---------------------------------------------------------------- request flow
async function handleApi(ctx) {
  const { req } = ctx;
  const parsed = parseApiPath(ctx.url.pathname);
  let route = parsed ? matchRoute(req.method, parsed) : null;
  const uploadId = ctx.url.searchParams.get('upload_id');
  let session = null;
  if (route && parsed.upload) {
    const type = ctx.url.searchParams.get('uploadType') || (parsed.upload === 'resumable' ? 'resumable' : '');
    if (uploadId) {
      // a chunk (or the whole message) for a resumable session; only the request that
      // completes the upload is a send (finishUpload)
      session = sessions.get(uploadId) || null;
      route = ['PUT', 'POST'].includes(req.method) ? { ...route, name: `${req.method} resumable session`, bodyLimit: MEDIA_LIMIT } : null;
    } else if (req.method !== 'POST') route = null;
    else if (type === 'resumable') route = { ...route, name: 'POST /upload/…/messages/send (resumable start)', bodyLimit: JSON_LIMIT };
    else if (type === 'media') route = { ...route, name: 'POST /upload/…/messages/send (media)', isSend: true, bodyLimit: MEDIA_LIMIT };
    else if (type === 'multipart') route = { ...route, name: 'POST /upload/…/messages/send (multipart)', isSend: true, bodyLimit: MULTIPART_LIMIT };
    else route = { ...route, bodyLimit: JSON_LIMIT };
    if (route) route.uploadType = type;
  }
  ctx.route = route ? route.name : `${req.method} (unknown)`;
  if (route) ctx.isSend = !!route.isSend;
  stats.requests_total += 1;
  stats.by_route[ctx.route] = (stats.by_route[ctx.route] || 0) + 1;

  // bodies are read first (bounded; an oversized one is read and thrown away, then refused)
  try {
    const b = await readBody(req, route?.bodyLimit ?? JSON_LIMIT);
    ctx.body = b.buf;
    ctx.tooLarge = b.tooLarge;
  } catch (e) {
    log(`request body: ${e.message}`);
    req.socket.destroy();
    return undefined;
  }

  const th = inject.throttle;
  if (th.remaining > 0) {
    th.remaining -= 1;
    stats.throttled += 1;
    stats.throttled_injected += 1;
    return respond(ctx, errorResponse(ctx, throttleError(th.status, th.reason, th.retryAfter)));
  }

  let slotKey = null;
  try {
    if (!route) throw new GmailError(404, 'notFound', `Not Found (the emulator has no ${req.method} ${ctx.url.pathname})`);
    if (ctx.tooLarge && !route.isSend && !parsed.upload) throw new GmailError(413, 'badRequest', `Request payload size exceeds the limit: ${route.bodyLimit ?? JSON_LIMIT} bytes.`);
    if (parsed.upload && uploadId) {
      // a resumable session URL is its own credential (no Authorization needed)
      if (!session || session.expires < Date.now()) throw notFound();
      ctx.mb = mailboxes.get(session.mbKey);
      if (!ctx.mb) throw notFound();
    } else {
      ctx.auth = await authenticate(req);
      if (!allowed(ctx.auth, route.method)) throw insufficientScopes(route.method);
      ctx.mb = resolveUser(ctx.auth, parsed.userId);
    }
    // Gmail's per-user concurrent request limit (see README for the number)
    slotKey = ctx.mb.key;
    const n = inflight.get(slotKey) || 0;
    if (n >= inject.concurrency) {
      slotKey = null;
      stats.throttled += 1;
      stats.throttled_concurrency += 1;
      throw new GmailError(429, 'rateLimitExceeded', 'Too many concurrent requests for user.');
    }
    inflight.set(slotKey, n + 1);
    stats.max_concurrency[slotKey] = Math.max(stats.max_concurrency[slotKey] || 0, n + 1);
    const k = slotKey;
    ctx.res.once('close', () => inflight.set(k, Math.max(0, (inflight.get(k) || 1) - 1)));
    const d = inject.delay;
    if (d.remaining > 0) {
      d.remaining -= 1;
      stats.delayed += 1;
      await sleep(d.ms);
      if (ctx.res.destroyed) return undefined;
    }
    const resp = await route.handler(ctx, ctx.mb, { ...route, userId: parsed.userId, session });
    return respond(ctx, resp);
  } catch (e) {
    if (e instanceof GmailError) return respond(ctx, errorResponse(ctx, e));
    throw e;
  }
}

// ---------------------------------------------------------------- test endpoints
function sendJson(res, status, obj) {
  const body = `${JSON.stringify(obj)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function intParam(sp, name, dflt, min, max) {
  const raw = sp.get(name);
  if (raw === null || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`bad ${name} (${min}..${max})`);
  return v;
}

function needParam(sp, name) {
  const v = sp.get(name);
  if (!v) throw new Error(`${name}= is required`);
  return v;
}

// seed label ids: system ids, user label ids or names (a name not yet known creates the label)
function seedLabels(mb, list, where) {
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || !x)) throw new Error(`seed: ${where} must be a list of label ids or names`);
  return list.map((s) => (labelByIdOrName(mb, s) || createLabel(mb, s)).id);
}

function parseInternalDate(v, i) {
  if (v === undefined || v === null) return Date.now();
  if (typeof v === 'number' || /^\d+$/.test(String(v))) return Number(v);
  const ms = Date.parse(String(v));
  if (Number.isNaN(ms)) throw new Error(`seed: messages[${i}].internalDate is neither epoch ms nor a date`);
  return ms;
}

async function handleTest(req, res, url) {
  const sp = url.searchParams;
  try {
    const route = `${req.method} ${url.pathname}`;
    let body = Buffer.alloc(0);
    if (req.method === 'POST') {
      const b = await readBody(req, SEED_LIMIT);
      if (b.tooLarge) return sendJson(res, 413, { error: 'body too large' });
      body = b.buf;
    }
    switch (route) {
      case 'GET /_test/health':
        return sendJson(res, 200, { ok: true });
      case 'GET /_test/stats':
        return sendJson(res, 200, {
          ...stats,
          inflight: Object.fromEntries([...inflight].filter(([, n]) => n > 0)),
          pending: { throttle: inject.throttle.remaining, cut: inject.cut.remaining, delay: inject.delay.remaining },
          page_size: inject.pageSize,
          concurrency_limit: inject.concurrency,
          generation,
          upload_sessions: sessions.size,
        });
      case 'GET /_test/requests':
        return sendJson(res, 200, recent);
      case 'POST /_test/reset': {
        resetStats();
        resetInjections();
        if (sp.get('messages') === '1') {
          mailboxes = new Map();
          sessions.clear();
          generation += 1;
        }
        return sendJson(res, 200, { ok: true, generation });
      }
      case 'POST /_test/throttle': {
        const status = intParam(sp, 'status', 429, 403, 504);
        if (![403, 429, 500, 502, 503, 504].includes(status)) throw new Error('status must be 429, 403, 500, 502, 503 or 504');
        const reason = sp.get('reason') || (status === 403 ? 'userRateLimitExceeded' : 'rateLimitExceeded');
        if (!['rateLimitExceeded', 'userRateLimitExceeded'].includes(reason)) throw new Error('reason must be rateLimitExceeded or userRateLimitExceeded');
        const ra = sp.get('retry_after');
        inject.throttle = {
          remaining: intParam(sp, 'count', 1, 0, 100000),
          status,
          reason,
          retryAfter: ra === null || ra === '' ? null : intParam(sp, 'retry_after', 0, 0, 3600),
        };
        return sendJson(res, 200, { ok: true, ...inject.throttle });
      }
      case 'POST /_test/cut': {
        const when = sp.get('when') || 'before';
        if (!['before', 'after_headers', 'mid_body'].includes(when)) throw new Error('when must be before, after_headers or mid_body');
        inject.cut = { remaining: intParam(sp, 'count', 1, 0, 100000), when, send: sp.get('send') === '1' };
        return sendJson(res, 200, { ok: true, ...inject.cut });
      }
      case 'POST /_test/delay':
        inject.delay = { remaining: intParam(sp, 'count', 1, 0, 100000), ms: intParam(sp, 'ms', 1000, 0, 120000) };
        return sendJson(res, 200, { ok: true, ...inject.delay });
      case 'POST /_test/page-size': {
        const n = intParam(sp, 'n', 0, 0, 500);
        inject.pageSize = n || null;
        return sendJson(res, 200, { ok: true, page_size: inject.pageSize });
      }
      case 'POST /_test/concurrency':
        inject.concurrency = intParam(sp, 'n', DEFAULT_CONCURRENCY, 1, 1000);
        return sendJson(res, 200, { ok: true, concurrency_limit: inject.concurrency });
      case 'POST /_test/expire-history': {
        const u = sp.get('user');
        const list = u ? [getMailbox(u, true)] : [...mailboxes.values()];
        for (const mb of list) {
          mb.history = [];
          mb.floor = mb.hist;
        }
        return sendJson(res, 200, { ok: true, expired: list.map((mb) => ({ user: mb.address, historyId: String(mb.hist) })) });
      }
      case 'POST /_test/seed': {
        let j;
        try { j = JSON.parse(body.toString('utf8')); } catch { throw new Error('seed: body must be JSON'); }
        if (!j || typeof j.user !== 'string' || !j.user.includes('@')) throw new Error('seed: "user" (an address) is required');
        if (!Array.isArray(j.messages)) throw new Error('seed: "messages" must be an array');
        const mb = getMailbox(j.user, true);
        const dflt = seedLabels(mb, j.labelIds ?? ['INBOX', 'UNREAD'], 'labelIds');
        const ids = [];
        for (const [i, m] of j.messages.entries()) {
          let raw;
          if (typeof m.raw_base64 === 'string') raw = decodeB64(m.raw_base64);
          else if (typeof m.raw === 'string') raw = Buffer.from(m.raw, 'utf8');
          if (!raw) throw new Error(`seed: messages[${i}] needs raw_base64 (base64 or base64url) or raw (text)`);
          const labels = m.labelIds !== undefined ? seedLabels(mb, m.labelIds, `messages[${i}].labelIds`) : dflt;
          ids.push(addMessage(mb, raw, labels, { internalDate: parseInternalDate(m.internalDate, i), threadId: typeof m.threadId === 'string' ? m.threadId : null }).id);
        }
        return sendJson(res, 200, { ids, historyId: String(mb.hist), user: mb.address });
      }
      case 'GET /_test/mailbox': {
        const mb = getMailbox(needParam(sp, 'user'), false);
        if (!mb) return sendJson(res, 200, []);
        const label = sp.get('label');
        const list = [...mb.msgs.values()].filter((m) => !label || m.labels.has(label) || m.labels.has(labelByIdOrName(mb, label)?.id))
          .sort((a, b) => a.seq - b.seq).map((m) => ({
            id: m.id,
            threadId: m.threadId,
            labelIds: labelsOut(m),
            size: m.raw.length,
            messageId: m.meta.messageId,
            subject: m.meta.subject,
            internalDate: String(m.internalDate),
            historyId: String(m.historyId),
          }));
        return sendJson(res, 200, list);
      }
      case 'GET /_test/raw': {
        const mb = getMailbox(needParam(sp, 'user'), false);
        const m = mb && mb.msgs.get(needParam(sp, 'id'));
        if (!m) return sendJson(res, 404, { error: 'no such message' });
        res.writeHead(200, { 'content-type': 'message/rfc822', 'content-length': m.raw.length });
        return res.end(m.raw);
      }
      case 'GET /_test/labels': {
        const mb = getMailbox(needParam(sp, 'user'), false);
        if (!mb) return sendJson(res, 200, []);
        return sendJson(res, 200, [...mb.labels.values()].map((l) => labelJson(mb, l, true)));
      }
      default:
        return sendJson(res, 404, { error: 'no such test endpoint' });
    }
  } catch (e) {
    return sendJson(res, 400, { error: e.message });
  }
}

// ---------------------------------------------------------------- server
let port = 0;
const server = https.createServer({ key: tlsKey, cert: tlsCert }, (req, res) => {
  let url;
  try {
    url = new URL(req.url, 'https://127.0.0.1');
  } catch {
    res.writeHead(400, { 'content-length': 0 });
    res.end();
    return;
  }
  const work = url.pathname.startsWith('/_test/')
    ? handleTest(req, res, url)
    : handleApi({ req, res, url, port, route: null, mb: null, auth: null, isSend: false });
  Promise.resolve(work).catch((e) => {
    log('handler error:', e.stack || e);
    if (!res.headersSent) {
      const body = JSON.stringify(new GmailError(500, 'backendError', `Backend Error (emulator: ${e.message || e})`).body());
      res.writeHead(500, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else res.destroy();
  });
});
// idle keep-alive connections outlive reqwest's 90 s pool timeout: the client, not the
// emulator, closes them (no reuse of a connection being closed under the client's feet)
server.keepAliveTimeout = 120000;
server.headersTimeout = 125000;
server.requestTimeout = 180000;
server.maxHeadersCount = 200;

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

// expired upload sessions
setInterval(() => {
  const now = Date.now();
  for (const [k, s] of sessions) if (s.expires < now) sessions.delete(k);
}, 60000).unref();

server.on('error', (e) => { log('listen error:', e.message); process.exit(1); });
server.listen(opts.port, '127.0.0.1', () => {
  port = server.address().port;
  const info = { base_url: `https://127.0.0.1:${port}/gmail/v1`, upload_url: `https://127.0.0.1:${port}/upload/gmail/v1`, port, pid: process.pid };
  const line = `${JSON.stringify(info)}\n`;
  if (opts.stateFile) {
    const tmp = `${opts.stateFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, line);
    fs.renameSync(tmp, opts.stateFile);
  }
  process.stdout.write(line);
  log(`listening on https://127.0.0.1:${port}/gmail/v1 (introspection ${INTROSPECTION_URL.href}${opts.sinkPort ? `, relay to 127.0.0.1:${opts.sinkPort}` : ', no relay'})`);
});
