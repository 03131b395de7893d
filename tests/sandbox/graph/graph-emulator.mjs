#!/usr/bin/env node
// Microsoft Graph mail EMULATOR for the oauthmail test-suite (Node standard library only).
//
//   node graph-emulator.mjs --port 0 --certs DIR --issuer URL [--sink-port N]
//                           [--state-file FILE] [--no-stdin-watch]
//
// Written from Microsoft's Graph documentation (see README.md beside this file): it is not
// Microsoft Graph, only the part of it the library uses, with the same URLs, JSON shapes,
// status codes and error codes, plus fault injection under /_test/. HTTPS on 127.0.0.1 only.
// Access tokens are checked at the sandbox OAuth2 server's introspection endpoint. When it is
// listening it prints exactly one JSON line on stdout ({"base_url","port","pid"}); logs go to
// stderr. State is in memory.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';

// ---------------------------------------------------------------- CLI
function usage(msg) {
  if (msg) process.stderr.write(`graph-emulator: ${msg}\n`);
  process.stderr.write('usage: node graph-emulator.mjs --port PORT --certs DIR --issuer URL [--sink-port N] [--state-file FILE] [--no-stdin-watch]\n');
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

const log = (...args) => process.stderr.write(`[graph-emulator] ${args.join(' ')}\n`);

const tlsKey = fs.readFileSync(path.join(opts.certs, 'server.key'));
const tlsCert = fs.readFileSync(path.join(opts.certs, 'server.pem'));
const caCert = fs.readFileSync(path.join(opts.certs, 'ca.pem'));
const INTROSPECTION_URL = new URL(`${opts.issuer.replace(/\/+$/, '')}/token/introspection`);

// ---------------------------------------------------------------- constants
const GRAPH = 'https://graph.microsoft.com/';
const SCOPE_RW = `${GRAPH}Mail.ReadWrite`;
const SCOPE_SEND = `${GRAPH}Mail.Send`;
const SCOPE_DEFAULT = `${GRAPH}.default`;
const KiB = 1024;
const MiB = 1024 * KiB;
const SEND_LIMIT = 4 * MiB; // Graph's request size limit (sendMail, create message)
const JSON_LIMIT = 1 * MiB; // other request bodies
const DRAIN_LIMIT = 128 * MiB; // a body beyond its limit is read and discarded up to this, then the socket is cut
const SEED_LIMIT = 256 * MiB; // /_test/seed
const CHUNK_LIMIT = 64 * MiB; // one PUT of an upload session
const ATTACHMENT_LIMIT = 150 * MiB; // Graph: attachments up to 150 MB
const MAILBOX_CONCURRENCY = 4; // Outlook service limit: 4 concurrent requests per mailbox
const TOMBSTONES_KEPT = 50000; // per folder; an older delta token then answers 410
const INTROSPECTION_TTL_MS = 1000;
const RECENT_KEPT = 200;
const UPLOAD_SESSION_TTL_MS = 15 * 60 * 1000;
// well-known folders (name -> displayName), listed in this (alphabetical) order
const WELL_KNOWN = [
  ['archive', 'Archive'],
  ['deleteditems', 'Deleted Items'],
  ['drafts', 'Drafts'],
  ['inbox', 'Inbox'],
  ['junkemail', 'Junk Email'],
  ['outbox', 'Outbox'],
  ['sentitems', 'Sent Items'],
];
const JSON_TYPE = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';
const WWW_AUTHENTICATE = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';
const MESSAGE_PROPS = [
  'id', 'createdDateTime', 'lastModifiedDateTime', 'changeKey', 'categories', 'receivedDateTime',
  'sentDateTime', 'hasAttachments', 'internetMessageId', 'subject', 'bodyPreview', 'importance',
  'parentFolderId', 'conversationId', 'conversationIndex', 'isDeliveryReceiptRequested',
  'isReadReceiptRequested', 'isRead', 'isDraft', 'webLink', 'inferenceClassification', 'body',
  'sender', 'from', 'toRecipients', 'ccRecipients', 'bccRecipients', 'replyTo', 'flag',
  'internetMessageHeaders', 'uniqueBody',
];
const MESSAGE_PROP_BY_LOWER = new Map(MESSAGE_PROPS.map((p) => [p.toLowerCase(), p]));
// PATCH: applied (isRead, categories, flag) or accepted and ignored (the rest)
const PATCHABLE = new Set(['isRead', 'categories', 'flag', 'importance', 'inferenceClassification', 'subject', 'body',
  'toRecipients', 'ccRecipients', 'bccRecipients', 'from', 'sender', 'replyTo', 'isDeliveryReceiptRequested',
  'isReadReceiptRequested', 'internetMessageHeaders']);

const SECRET = crypto.randomBytes(32); // HMAC of delta tokens, well-known folder ids

// ---------------------------------------------------------------- small helpers
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const hmac = (...parts) => crypto.createHmac('sha256', SECRET).update(parts.join('\0')).digest();
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const newMessageId = () => `AAMkAD${b64url(crypto.randomBytes(87))}AAA=`; // ~126 chars, like Exchange ids
const newFolderId = () => `AAMkAD${b64url(crypto.randomBytes(45))}AAA=`;
const newChangeKey = () => `CQAAABYAAAA${crypto.randomBytes(15).toString('base64')}`;
function guidFor(key) {
  const h = crypto.createHash('sha256').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
function looksLikeId(s) {
  return /^A[A-Za-z0-9_-]{20,}=*$/.test(s);
}

class GraphError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}
const notFound = () => new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
const malformedId = () => new GraphError(400, 'ErrorInvalidIdMalformed', 'Id is malformed.');
const badRequest = (msg) => new GraphError(400, 'BadRequest', msg);

// ---------------------------------------------------------------- state
let generation = 1; // delta/skip tokens carry the generation they were issued in
let mailboxes = new Map(); // lowercased address -> mailbox
let mailboxByGuid = new Map(); // guid -> lowercased address
const sessions = new Map(); // upload session id -> session
let pageSizeDefault = 10;
let inject;
let stats;
const inflight = new Map(); // mailbox key -> requests being served
let recent = [];

function resetInjections() {
  inject = {
    throttle: { remaining: 0, status: 429, retryAfter: 1, code: null },
    cut: { remaining: 0, when: 'before', send: false },
    delay: { remaining: 0, ms: 0 },
    denyApp: new Set(),
    unlicensed: new Set(),
  };
  pageSizeDefault = 10;
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
    delta_requests: 0,
    value_requests: 0,
    sent: 0,
    relayed: 0,
    relay_failures: 0,
    relay_rejected_rcpts: [],
    introspections: 0,
    introspection_cache_hits: 0,
    upload_chunks: 0,
    list_requests: 0,
    copies: 0,
  };
  recent = [];
}
resetInjections();
resetStats();

// ---------------------------------------------------------------- mailboxes and folders
function addFolder(mb, parentId, displayName, wellKnownName) {
  const id = wellKnownName
    ? `AQMkAD${b64url(hmac(mb.key, wellKnownName)).slice(0, 40)}AAAA=`
    : newFolderId();
  const f = { id, displayName, parentFolderId: parentId, wellKnownName: wellKnownName || null, msgs: new Set(), tombs: [], tombFloor: 0 };
  mb.folders.set(id, f);
  if (wellKnownName) mb.wk.set(wellKnownName, f);
  return f;
}

function getMailbox(address, create) {
  const key = address.toLowerCase();
  let mb = mailboxes.get(key);
  if (mb || !create) return mb;
  mb = { key, address, guid: guidFor(key), seq: 0, folders: new Map(), wk: new Map(), messages: new Map(), root: null };
  mb.root = addFolder(mb, null, 'Top of Information Store', 'msgfolderroot');
  for (const [name, display] of WELL_KNOWN) addFolder(mb, mb.root.id, display, name);
  mailboxes.set(key, mb);
  mailboxByGuid.set(mb.guid, key);
  return mb;
}

function childrenOf(mb, folder) {
  return [...mb.folders.values()].filter((f) => f.parentFolderId === folder.id);
}

// A folder id or a well-known name ("inbox"), as Graph accepts anywhere an id is.
function folderByIdOrName(mb, idOrName) {
  const f = mb.folders.get(idOrName) || mb.wk.get(String(idOrName).toLowerCase());
  if (f) return f;
  throw looksLikeId(idOrName) ? notFound() : malformedId();
}

// Test endpoints: a well-known name, a folder id, or a display path "Inbox/Sub" / "A/B".
function folderByPath(mb, p, create) {
  const direct = mb.wk.get(p.toLowerCase()) || mb.folders.get(p);
  if (direct) return direct;
  const parts = p.split('/').filter(Boolean);
  if (!parts.length) return null;
  let cur = mb.root;
  for (let i = 0; i < parts.length; i += 1) {
    const want = parts[i].toLowerCase();
    let next = i === 0 ? mb.wk.get(want) : undefined;
    if (!next) next = childrenOf(mb, cur).find((f) => f.displayName.toLowerCase() === want);
    if (!next) {
      if (!create) return null;
      next = addFolder(mb, cur.id, parts[i]);
    }
    cur = next;
  }
  return cur;
}

function folderPath(mb, f) {
  const names = [];
  for (let cur = f, n = 0; cur && cur !== mb.root && n < 64; cur = mb.folders.get(cur.parentFolderId), n += 1) names.unshift(cur.displayName);
  return names.join('/');
}

function folderJson(mb, f) {
  let unread = 0;
  let size = 0;
  for (const id of f.msgs) {
    const m = mb.messages.get(id);
    if (!m.isRead) unread += 1;
    size += m.mime.length;
  }
  return {
    id: f.id,
    displayName: f.displayName,
    parentFolderId: f.parentFolderId,
    childFolderCount: childrenOf(mb, f).length,
    unreadItemCount: unread,
    totalItemCount: f.msgs.size,
    sizeInBytes: size,
    isHidden: false,
  };
}

// ---------------------------------------------------------------- MIME parsing (headers only, bounded)
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

function decodeTransfer(bodyLatin1, cte) {
  const e = (cte || '').toLowerCase();
  if (e === 'base64') return Buffer.from(bodyLatin1.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
  if (e === 'quoted-printable') {
    return bodyLatin1.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (x, h) => String.fromCharCode(Number.parseInt(h, 16)));
  }
  return bodyLatin1;
}

function parseMime(buf) {
  const { headerLen, bodyStart } = headerEnd(buf);
  const headerText = buf.subarray(0, headerLen).toString('latin1');
  const fields = parseHeaderFields(headerText);
  const get = (n) => fields.find((f) => f.name.toLowerCase() === n);
  const all = (n) => fields.filter((f) => f.name.toLowerCase() === n).flatMap((f) => parseAddressList(f.value));
  const ct = (get('content-type')?.value || 'text/plain').toLowerCase();
  const dateMs = get('date') ? Date.parse(get('date').value.replace(/\s*\([^)]*\)\s*$/, '')) : NaN;
  let text = '';
  if (ct.startsWith('text/plain')) {
    const raw = buf.subarray(bodyStart, Math.min(buf.length, bodyStart + 256 * KiB)).toString('latin1');
    text = toText(decodeTransfer(raw, get('content-transfer-encoding')?.value.trim()));
  }
  const from = all('from')[0] || null;
  const sender = all('sender')[0] || from;
  return {
    fields,
    subject: get('subject') ? decodeWords(toText(get('subject').value)) : '',
    messageId: get('message-id')?.value.replace(/\s+/g, '') || null,
    date: Number.isNaN(dateMs) ? null : dateMs,
    from,
    sender,
    to: all('to'),
    cc: all('cc'),
    bcc: all('bcc'),
    replyTo: all('reply-to'),
    multipartMixed: ct.startsWith('multipart/mixed'),
    text,
  };
}

// ---------------------------------------------------------------- messages
function addMessage(mb, folder, mime, {
  isRead = false, received = Date.now(), isDraft = false, categories = [], attachments = [], flagStatus = 'notFlagged', lastVerb = null,
} = {}) {
  const now = Date.now();
  mb.seq += 1;
  const meta = parseMime(mime);
  const m = {
    id: newMessageId(),
    folderId: folder.id,
    mime,
    isRead,
    isDraft,
    received,
    created: now,
    modified: now,
    seq: mb.seq,
    createdSeq: mb.seq,
    changeKey: newChangeKey(),
    categories,
    attachments,
    flagStatus,
    lastVerb, // PidTagLastVerbExecuted (0x1081): 102 reply, 103 reply all, 104 forward
    meta,
    conversationId: `AAQkAD${b64url(hmac('conv', meta.subject.replace(/^((re|fw|fwd|aw|wg):\s*)+/i, '').toLowerCase())).slice(0, 40)}=`,
  };
  mb.messages.set(m.id, m);
  folder.msgs.add(m.id);
  return m;
}

function touch(mb, m) {
  mb.seq += 1;
  m.seq = mb.seq;
  m.modified = Date.now();
  m.changeKey = newChangeKey();
}

function removeMessage(mb, m) {
  const f = mb.folders.get(m.folderId);
  mb.seq += 1;
  f.msgs.delete(m.id);
  f.tombs.push({ id: m.id, seq: mb.seq });
  if (f.tombs.length > TOMBSTONES_KEPT) {
    const dropped = f.tombs.splice(0, f.tombs.length - TOMBSTONES_KEPT);
    f.tombFloor = dropped[dropped.length - 1].seq;
  }
  mb.messages.delete(m.id);
}

// Exchange gives a moved item a new id: the old one leaves its folder, a new one arrives.
function moveMessage(mb, m, dest) {
  if (dest.id === m.folderId) return m;
  removeMessage(mb, m);
  const n = addMessage(mb, dest, m.mime, copyOptions(m));
  n.created = m.created;
  return n;
}

// What a moved or copied message keeps.
function copyOptions(m) {
  return {
    isRead: m.isRead, received: m.received, isDraft: m.isDraft, categories: [...m.categories], attachments: m.attachments,
    flagStatus: m.flagStatus, lastVerb: m.lastVerb,
  };
}

function messageByIdOr404(mb, id) {
  const m = mb.messages.get(id);
  if (m) return m;
  throw looksLikeId(id) ? notFound() : malformedId();
}

function recipients(list) {
  return list.map((a) => ({ emailAddress: { name: a.name, address: a.address } }));
}

function mimeWithAttachments(m) {
  return m.attachments.length ? composeWithAttachments(m.mime, m.attachments) : m.mime;
}

function messageJson(mb, m, select, forDelta, expand = null) {
  const meta = m.meta;
  const out = {};
  if (forDelta) out['@odata.type'] = '#microsoft.graph.message';
  out['@odata.etag'] = `W/"${m.changeKey}"`;
  const text = meta.text || '';
  const value = (p) => {
    switch (p) {
      case 'id': return m.id;
      case 'createdDateTime': return iso(m.created);
      case 'lastModifiedDateTime': return iso(m.modified);
      case 'changeKey': return m.changeKey;
      case 'categories': return m.categories;
      case 'receivedDateTime': return iso(m.received);
      case 'sentDateTime': return iso(meta.date ?? m.received);
      case 'hasAttachments': return meta.multipartMixed || m.attachments.length > 0;
      case 'internetMessageId': return meta.messageId;
      case 'subject': return meta.subject;
      case 'bodyPreview': return text.replace(/\s+/g, ' ').trim().slice(0, 255);
      case 'importance': return 'normal';
      case 'parentFolderId': return m.folderId;
      case 'conversationId': return m.conversationId;
      case 'conversationIndex': return Buffer.from(hmac('ci', m.conversationId).subarray(0, 22)).toString('base64');
      case 'isDeliveryReceiptRequested': return false;
      case 'isReadReceiptRequested': return false;
      case 'isRead': return m.isRead;
      case 'isDraft': return m.isDraft;
      case 'webLink': return `https://outlook.office365.com/owa/?ItemID=${encodeURIComponent(m.id)}&exvsurl=1&viewmodel=ReadMessageItem`;
      case 'inferenceClassification': return 'focused';
      case 'body': case 'uniqueBody': return { contentType: 'text', content: text };
      case 'sender': return meta.sender ? { emailAddress: { name: meta.sender.name, address: meta.sender.address } } : null;
      case 'from': return meta.from ? { emailAddress: { name: meta.from.name, address: meta.from.address } } : null;
      case 'toRecipients': return recipients(meta.to);
      case 'ccRecipients': return recipients(meta.cc);
      case 'bccRecipients': return recipients(meta.bcc);
      case 'replyTo': return recipients(meta.replyTo);
      case 'flag': return { flagStatus: m.flagStatus };
      case 'internetMessageHeaders': return meta.fields.map((f) => ({ name: f.name, value: toText(f.value) }));
      default: return undefined;
    }
  };
  const props = select || MESSAGE_PROPS.filter((p) => p !== 'internetMessageHeaders' && p !== 'uniqueBody');
  if (select && !select.includes('id')) out.id = m.id;
  for (const p of props) out[p] = value(p);
  if (expand) {
    const ext = extendedProperties(m, expand);
    if (ext.length) out.singleValueExtendedProperties = ext;
  }
  return out;
}

function parseSelect(raw) {
  if (raw === null || raw === undefined || raw.trim() === '') return null;
  const out = [];
  for (const part of raw.split(',')) {
    const p = MESSAGE_PROP_BY_LOWER.get(part.trim().toLowerCase());
    if (!p) throw new GraphError(400, 'RequestBroker--ParseUri', `Could not find a property named '${part.trim()}' on type 'microsoft.graph.message'.`);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------- MIME composition (drafts with uploaded attachments)
function composeWithAttachments(mime, atts) {
  const s = mime.toString('latin1');
  const { headerLen, bodyStart } = headerEnd(mime);
  const headerText = s.slice(0, headerLen);
  const body = s.slice(bodyStart);
  const fields = parseHeaderFields(headerText);
  const ctField = fields.find((f) => f.name.toLowerCase() === 'content-type');
  const parts = atts.map((a) => {
    const b64 = a.bytes.toString('base64').replace(/.{76}/g, '$&\r\n').replace(/\r\n$/, '');
    const name = a.name.replace(/["\\\r\n]/g, '_');
    return `Content-Type: ${a.contentType || 'application/octet-stream'}; name="${name}"\r\n`
      + `Content-Disposition: attachment; filename="${name}"; size=${a.size}\r\n`
      + `Content-Transfer-Encoding: base64\r\n\r\n${b64}`;
  });
  const bm = ctField && /^multipart\/mixed/i.test(ctField.value) ? /boundary="?([^";]+)"?/i.exec(ctField.value) : null;
  if (bm) {
    const closing = `--${bm[1]}--`;
    const at = body.lastIndexOf(closing);
    if (at !== -1) {
      const before = body.slice(0, at).replace(/\r?\n$/, '');
      const inserted = parts.map((p) => `\r\n--${bm[1]}\r\n${p}`).join('');
      return Buffer.from(`${s.slice(0, bodyStart)}${before}${inserted}\r\n${body.slice(at)}`, 'latin1');
    }
  }
  const boundary = `_emu_${crypto.randomBytes(12).toString('hex')}_`;
  const keep = headerText.split(/\r?\n/);
  const kept = [];
  let drop = false;
  for (const line of keep) {
    if (/^[ \t]/.test(line)) {
      if (!drop) kept.push(line);
      continue;
    }
    const n = line.slice(0, Math.max(0, line.indexOf(':'))).trim().toLowerCase();
    drop = n === 'content-type' || n === 'content-transfer-encoding' || n === 'mime-version';
    if (!drop && line) kept.push(line);
  }
  const cte = fields.find((f) => f.name.toLowerCase() === 'content-transfer-encoding');
  const first = `Content-Type: ${ctField ? ctField.value : 'text/plain; charset=us-ascii'}\r\n${cte ? `Content-Transfer-Encoding: ${cte.value}\r\n` : ''}\r\n${body.replace(/\r?\n$/, '')}`;
  const out = `${kept.join('\r\n')}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n`
    + `--${boundary}\r\n${first}${parts.map((p) => `\r\n--${boundary}\r\n${p}`).join('')}\r\n--${boundary}--\r\n`;
  return Buffer.from(out, 'latin1');
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
      await cmd('EHLO graph-emulator.test', [2]);
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

// Relays a message from mailbox `mb` (complete before the caller answers).
async function relay(mb, mime) {
  const meta = parseMime(mime);
  const seen = new Set();
  const rcpts = [];
  for (const a of [...meta.to, ...meta.cc, ...meta.bcc]) {
    const k = a.address.toLowerCase();
    if (!seen.has(k) && a.address.includes('@')) { seen.add(k); rcpts.push(a.address); }
  }
  if (opts.sinkPort === undefined) return;
  try {
    const r = await smtpRelay(opts.sinkPort, mb.address, rcpts, relayData(mime));
    if (r.accepted.length) stats.relayed += 1;
    for (const x of r.rejected) stats.relay_rejected_rcpts.push(x);
  } catch (e) {
    stats.relay_failures += 1;
    log(`relay to 127.0.0.1:${opts.sinkPort} failed: ${e.message}`);
  }
}

function recipientCount(mime) {
  const meta = parseMime(mime);
  return [...meta.to, ...meta.cc, ...meta.bcc].filter((a) => a.address.includes('@')).length;
}

// ---------------------------------------------------------------- delta tokens (stateless, HMAC-protected)
// payload: {g: generation, mb, f: folder id, k: "s" (skip) | "d" (delta), init, w0, w1, p,
// ps: page size asked by the first request, sel, flt: [op, ms], ct: changeType}
function signToken(payload) {
  const body = b64url(JSON.stringify(payload));
  return `${body}.${b64url(hmac('delta', body)).slice(0, 32)}`;
}
function openToken(tok) {
  const i = typeof tok === 'string' ? tok.lastIndexOf('.') : -1;
  const invalid = () => new GraphError(400, 'SyncStateInvalid', 'The sync state is invalid or corrupt (the token was changed or is not from this server).');
  if (i <= 0) throw invalid();
  const body = tok.slice(0, i);
  const sig = Buffer.from(tok.slice(i + 1));
  const want = Buffer.from(b64url(hmac('delta', body)).slice(0, 32));
  if (sig.length !== want.length || !crypto.timingSafeEqual(sig, want)) throw invalid();
  let p;
  try { p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')); } catch { throw invalid(); }
  if (p.g < generation) {
    throw new GraphError(410, 'SyncStateNotFound', `The sync state generation is not found; generation=${p.g};[highest=${generation}].`);
  }
  return p;
}

function parseReceivedFilter(raw) {
  if (raw === null || raw === '') return null;
  const m = /^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$/i.exec(raw);
  const ms = m ? Date.parse(m[2].replace(/^'(.*)'$/, '$1')) : NaN;
  if (!m || Number.isNaN(ms)) {
    throw new GraphError(400, 'ErrorInvalidUrlQueryFilter', 'The only supported $filter for messages delta is receivedDateTime ge|gt {value}.');
  }
  return [m[1].toLowerCase(), ms];
}

function preferPageSize(req) {
  const h = req.headers.prefer;
  if (!h) return null;
  const m = /odata\.maxpagesize\s*=\s*"?(\d+)"?/i.exec(h);
  if (!m) return null;
  const n = Number.parseInt(m[1], 10);
  return n >= 1 ? Math.min(n, 1000) : null;
}

function deltaPage(ctx, mb, folder) {
  const sp = ctx.url.searchParams;
  const skip = sp.get('$skiptoken');
  const delta = sp.get('$deltatoken');
  let t;
  if (skip !== null || delta !== null) {
    const p = openToken(skip !== null ? skip : delta);
    if (p.mb !== mb.key || p.f !== folder.id || (skip !== null ? p.k !== 's' : p.k !== 'd')) {
      throw new GraphError(400, 'SyncStateInvalid', 'The sync state does not belong to this folder, mailbox or kind of link.');
    }
    t = p.k === 'd' ? { ...p, k: 's', init: false, w1: mb.seq, p: p.w0 } : p;
  } else {
    const ct = sp.get('changeType');
    if (ct !== null && !['created', 'updated', 'deleted'].includes(ct)) throw badRequest(`Invalid changeType '${ct}'.`);
    // the first request's page size (Prefer or $top) is kept in the links
    const top = sp.get('$top');
    const ps = preferPageSize(ctx.req) || (top !== null && /^\d+$/.test(top) && Number(top) > 0 ? Math.min(Number(top), 1000) : null);
    t = {
      g: generation, mb: mb.key, f: folder.id, k: 's', init: true, w0: 0, w1: mb.seq, p: 0,
      ps, sel: parseSelect(sp.get('$select')), flt: parseReceivedFilter(sp.get('$filter')), ct,
    };
  }
  if (!t.init && folder.tombFloor > t.w0) {
    throw new GraphError(410, 'SyncStateNotFound', `The sync state generation is not found; generation=${t.w0};[lowest=${folder.tombFloor}].`);
  }
  const asked = preferPageSize(ctx.req);
  const size = asked || t.ps || pageSizeDefault;
  const lo = Math.max(t.w0, t.p);
  const passes = (m) => !t.flt || (t.flt[0] === 'ge' ? m.received >= t.flt[1] : m.received > t.flt[1]);
  // the size+1 first changes after the position, in change order (bounded sorted insert:
  // a full sync of a big folder stays linear per page)
  const items = [];
  const keep = size + 1;
  const offer = (x) => {
    if (items.length === keep && x.seq >= items[keep - 1].seq) return;
    let lo2 = 0;
    let hi = items.length;
    while (lo2 < hi) {
      const mid = (lo2 + hi) >> 1;
      if (items[mid].seq < x.seq) lo2 = mid + 1; else hi = mid;
    }
    items.splice(lo2, 0, x);
    if (items.length > keep) items.pop();
  };
  for (const id of folder.msgs) {
    const m = mb.messages.get(id);
    if (m.seq > lo && m.seq <= t.w1 && passes(m)) {
      const kind = m.createdSeq > t.w0 ? 'created' : 'updated';
      if (t.init || !t.ct || t.ct === kind) offer({ seq: m.seq, m });
    }
  }
  if (!t.init && (!t.ct || t.ct === 'deleted')) {
    const tombs = folder.tombs; // in seq order
    let a = 0;
    let b = tombs.length;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (tombs[mid].seq <= lo) a = mid + 1; else b = mid;
    }
    for (let i = a; i < tombs.length && tombs[i].seq <= t.w1; i += 1) {
      if (items.length === keep && tombs[i].seq >= items[keep - 1].seq) break;
      offer({ seq: tombs[i].seq, tomb: tombs[i] });
    }
  }
  const page = items.slice(0, size);
  const value = page.map((x) => (x.m
    ? messageJson(mb, x.m, t.sel, true)
    : { '@odata.type': '#microsoft.graph.message', id: x.tomb.id, '@removed': { reason: 'deleted' } }));
  const base = `${ctx.base}/${ctx.mbPath}/mailFolders('${encodeURIComponent(folder.id)}')/messages/delta`;
  const body = { '@odata.context': `${ctx.base}/$metadata#Collection(message)` };
  if (items.length > page.length) {
    const next = { ...t, g: generation, p: page[page.length - 1].seq };
    body['@odata.nextLink'] = `${base}?$skiptoken=${signToken(next)}`;
  } else {
    const d = { g: generation, mb: t.mb, f: t.f, k: 'd', init: false, w0: t.w1, w1: null, p: 0, ps: t.ps, sel: t.sel, flt: t.flt, ct: t.ct };
    body['@odata.deltaLink'] = `${base}?$deltatoken=${signToken(d)}`;
  }
  body.value = value;
  const headers = asked ? { 'Preference-Applied': `odata.maxpagesize=${asked}` } : {};
  return { status: 200, headers, json: body };
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

// -> {kind: "delegated"|"app", email, sub, clientId, perms: {rw, send}}
async function authenticate(req) {
  const h = req.headers.authorization || '';
  const m = /^Bearer\s+(.*)$/i.exec(h.trim());
  const token = m ? m[1].trim() : '';
  const www = { 'WWW-Authenticate': WWW_AUTHENTICATE };
  if (!token) throw new GraphError(401, 'InvalidAuthenticationToken', 'Access token is empty.', www);
  let info;
  try {
    info = await introspect(token);
  } catch (e) {
    log(`introspection failed: ${e.message}`);
    throw new GraphError(500, 'InternalServerError', `The emulator could not introspect the token: ${e.message}`);
  }
  if (!info.active) throw new GraphError(401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.', www);
  const scopes = String(info.scope || '').split(' ').filter(Boolean);
  if (scopes.includes('mail') || !scopes.some((s) => s.startsWith(GRAPH))) {
    throw new GraphError(401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.', www);
  }
  const dflt = scopes.includes(SCOPE_DEFAULT);
  if (info.sub) {
    return {
      kind: 'delegated',
      sub: String(info.sub),
      email: String(info.email || info.sub).toLowerCase(),
      clientId: info.client_id,
      perms: { rw: dflt || scopes.includes(SCOPE_RW), send: dflt || scopes.includes(SCOPE_SEND) },
    };
  }
  return { kind: 'app', clientId: info.client_id, perms: { rw: dflt, send: dflt } };
}

const accessDenied = () => new GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');

function resolveMailbox(auth, sel) {
  if (sel.kind === 'me') {
    if (auth.kind === 'app') throw badRequest('/me request is only valid with delegated authentication flow.');
    if (inject.unlicensed.has(auth.email)) throw new GraphError(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
    return getMailbox(auth.email, true);
  }
  const raw = sel.id;
  const key = mailboxByGuid.get(raw.toLowerCase()) || raw.toLowerCase();
  if (auth.kind === 'delegated') {
    const own = getMailbox(auth.email, true);
    if (key !== own.key && raw.toLowerCase() !== auth.sub.toLowerCase()) throw accessDenied();
    if (inject.unlicensed.has(own.key)) throw new GraphError(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
    return own;
  }
  if (inject.denyApp.has(key)) {
    throw new GraphError(403, 'ErrorAccessDenied', 'Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.');
  }
  if (inject.unlicensed.has(key)) throw new GraphError(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
  const mb = mailboxes.get(key);
  if (!mb) throw new GraphError(404, 'ErrorInvalidUser', `The requested user '${raw}' is invalid.`);
  return mb;
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

function errorBody(ctx, code, message) {
  return {
    error: {
      code,
      message,
      innerError: { date: iso(Date.now()), 'request-id': ctx.rid, 'client-request-id': ctx.crid },
    },
  };
}

function record(ctx, status) {
  const k = String(status);
  stats.status_counts[k] = (stats.status_counts[k] || 0) + 1;
  recent.push({
    at: iso(Date.now()),
    method: ctx.req.method,
    path: ctx.url.pathname + ctx.url.search.replace(/authtoken=[^&]*/, 'authtoken=…'),
    route: ctx.route,
    status,
    mailbox: ctx.mb?.key ?? null,
    auth: ctx.auth?.kind ?? null,
    prefer: ctx.req.headers.prefer ?? null,
    cut: ctx.cutMode ?? null,
  });
  if (recent.length > RECENT_KEPT) recent.splice(0, recent.length - RECENT_KEPT);
}

// Writes a response {status, headers, json|raw}, applying a pending `cut`.
function respond(ctx, resp) {
  const { res } = ctx;
  if (res.headersSent || res.destroyed) return;
  let body = Buffer.alloc(0);
  const headers = { 'request-id': ctx.rid, 'client-request-id': ctx.crid, 'cache-control': 'private', ...resp.headers };
  if (resp.json !== undefined) {
    body = Buffer.from(JSON.stringify(resp.json));
    headers['content-type'] = JSON_TYPE;
  } else if (resp.raw !== undefined) {
    body = resp.raw;
  }
  if (resp.status !== 204) headers['content-length'] = body.length;
  const c = inject.cut;
  const cuttable = ctx.graph && (!ctx.isSend || c.send);
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
  res.writeHead(resp.status, headers);
  res.end(body);
  if (ctx.releaseSlot) ctx.releaseSlot();
}

function graphErrorResponse(ctx, e) {
  return { status: e.status, headers: e.headers, json: errorBody(ctx, e.code, e.message) };
}

// "/v1.0/me/mailFolders('x')/messages/delta()" -> mailbox selector + lower-cased segments
function parseGraphPath(pathname) {
  const raw = pathname.split('/').filter(Boolean).slice(1);
  const segs = [];
  for (const r of raw) {
    let s;
    try { s = decodeURIComponent(r); } catch { return null; }
    const m = /^([A-Za-z.$]+)\('((?:[^']|'')*)'\)$/.exec(s);
    if (m) segs.push(m[1], m[2].replace(/''/g, "'")); else segs.push(s);
  }
  const names = segs.map((s) => s.replace(/^microsoft\.graph\./i, '').replace(/\(\)$/, ''));
  if (names[0]?.toLowerCase() === 'me') return { sel: { kind: 'me' }, mbPath: 'me', rest: names.slice(1) };
  if (names[0]?.toLowerCase() === 'users' && names[1]) {
    return { sel: { kind: 'user', id: names[1] }, mbPath: `users/${encodeURIComponent(names[1])}`, rest: names.slice(2) };
  }
  return { sel: null, rest: names };
}

// rest segments -> {name (for stats), handler, perm, isSend, bodyLimit}
function matchRoute(method, rest) {
  const l = rest.map((s) => s.toLowerCase());
  const n = l.length;
  let msgRest = null;
  if (l[0] === 'messages') msgRest = rest.slice(1);
  else if (l[0] === 'mailfolders' && l[2] === 'messages' && n >= 4 && l[3] !== 'delta') msgRest = rest.slice(3);
  if (msgRest && msgRest.length >= 1) {
    const [id, ...tail] = msgRest;
    const t = tail.map((s) => s.toLowerCase()).join('/');
    const r = (name, handler, extra = {}) => ({ name, handler, perm: 'rw', args: { id }, ...extra });
    if (t === '' && method === 'GET') return r('GET /messages/{id}', getMessage);
    if (t === '' && method === 'PATCH') return r('PATCH /messages/{id}', patchMessage);
    if (t === '' && method === 'DELETE') return r('DELETE /messages/{id}', deleteMessage);
    if (t === '$value' && method === 'GET') return r('GET /messages/{id}/$value', getValue);
    if (t === 'move' && method === 'POST') return r('POST /messages/{id}/move', postMove);
    if (t === 'copy' && method === 'POST') return r('POST /messages/{id}/copy', postCopy);
    if (t === 'send' && method === 'POST') return r('POST /messages/{id}/send', postSendDraft, { perm: 'send', isSend: true });
    if (t === 'attachments/createuploadsession' && method === 'POST') return r('POST /messages/{id}/attachments/createUploadSession', postUploadSession);
    return null;
  }
  if (l[0] === 'messages' && n === 1 && method === 'POST') return { name: 'POST /messages', handler: postDraft, perm: 'rw', bodyLimit: SEND_LIMIT };
  if (l[0] === 'sendmail' && n === 1 && method === 'POST') return { name: 'POST /sendMail', handler: postSendMail, perm: 'send', isSend: true, bodyLimit: SEND_LIMIT };
  if (l[0] === 'mailfolders') {
    if (n === 1 && method === 'GET') return { name: 'GET /mailFolders', handler: listFolders, perm: 'rw', args: {} };
    if (n === 1 && method === 'POST') return { name: 'POST /mailFolders', handler: createFolder, perm: 'rw', args: {} };
    const args = { folder: rest[1] };
    if (n === 2 && method === 'GET') return { name: 'GET /mailFolders/{id}', handler: getFolder, perm: 'rw', args };
    if (n === 3 && l[2] === 'childfolders' && method === 'GET') return { name: 'GET /mailFolders/{id}/childFolders', handler: listFolders, perm: 'rw', args };
    if (n === 3 && l[2] === 'childfolders' && method === 'POST') return { name: 'POST /mailFolders/{id}/childFolders', handler: createFolder, perm: 'rw', args };
    if (n === 3 && l[2] === 'messages' && method === 'GET') return { name: 'GET /mailFolders/{id}/messages', handler: listMessages, perm: 'rw', args };
    if (n === 4 && l[2] === 'messages' && l[3] === 'delta' && method === 'GET') return { name: 'GET /mailFolders/{id}/messages/delta', handler: getDelta, perm: 'rw', args };
  }
  return null;
}

function parseJsonBody(ctx) {
  if (!ctx.body || !ctx.body.length) throw badRequest('Empty Payload. JSON content expected.');
  try {
    const v = JSON.parse(ctx.body.toString('utf8'));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch {
    throw new GraphError(400, 'RequestBodyRead', 'Invalid JSON in the request body.');
  }
}

function decodeMimeBody(ctx) {
  const ct = String(ctx.req.headers['content-type'] || '').toLowerCase();
  if (ct.startsWith('application/json')) throw badRequest('This emulator only supports the MIME form (Content-Type: text/plain, base64 body), not JSON.');
  if (!ct.startsWith('text/plain')) throw new GraphError(415, 'UnsupportedMediaType', `Content-Type '${ct}' is not supported: use text/plain with a base64 MIME body.`);
  const s = ctx.body.toString('latin1').replace(/[\r\n\t ]/g, '');
  if (!s || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) {
    throw new GraphError(400, 'ErrorMimeContentInvalidBase64String', 'Invalid base64 string for MIME content.');
  }
  return Buffer.from(s, 'base64');
}

// ---------------------------------------------------------------- listing: $expand, $filter, $orderby, $search, $count
// Extended properties (MAPI proptags) the emulator knows on a message: the size, In-Reply-To,
// References and the last verb executed. Keys are "type tag" with the tag a number.
const EXT_SIZE = 'integer 3592'; // Integer 0x0E08 PidTagMessageSize
const EXT_IN_REPLY_TO = 'string 4162'; // String 0x1042 PidTagInReplyToId
const EXT_REFERENCES = 'string 4153'; // String 0x1039 PidTagInternetReferences
const EXT_LAST_VERB = 'integer 4225'; // Integer 0x1081 PidTagLastVerbExecuted

// "Integer 0x0E08" -> {key: "integer 3592", id: "Integer 0xe08"}; null for other id formats
function extId(raw) {
  const m = /^\s*(\w+)\s+0x([0-9a-f]{1,8})\s*$/i.exec(raw);
  if (!m) return null;
  let tag = Number.parseInt(m[2], 16);
  if (tag > 0xffff) tag = Math.floor(tag / 0x10000); // a full property tag (id and type)
  const type = m[1].charAt(0).toUpperCase() + m[1].slice(1).toLowerCase();
  return { key: `${m[1].toLowerCase()} ${tag}`, id: `${type} 0x${tag.toString(16)}` };
}

// $expand=singleValueExtendedProperties($filter=id eq 'X' or id eq 'Y') -> [extId…]; null when absent
function parseExpand(raw) {
  if (raw === null || raw === undefined || raw.trim() === '') return null;
  const m = /^\s*singleValueExtendedProperties\s*\(\s*\$filter\s*=\s*(.*)\)\s*$/i.exec(raw);
  if (!m) throw badRequest(`This $expand is not emulated: ${raw} (only singleValueExtendedProperties($filter=id eq '…' or …)).`);
  const out = [];
  for (const part of m[1].split(/\s+or\s+/i)) {
    const c = /^\s*id\s+eq\s+'([^']*)'\s*$/i.exec(part);
    if (!c) throw badRequest(`This $expand filter is not emulated: ${part.trim()}`);
    const id = extId(c[1]);
    if (id) out.push(id);
  }
  return out;
}

function headerValue(m, name) {
  const f = m.meta.fields.find((x) => x.name.toLowerCase() === name);
  return f ? toText(f.value) : null;
}

// The asked extended properties this message has (Graph leaves out the ones it does not have).
function extendedProperties(m, wanted) {
  const out = [];
  for (const w of wanted) {
    let v = null;
    if (w.key === EXT_SIZE) v = String(mimeWithAttachments(m).length);
    else if (w.key === EXT_IN_REPLY_TO) v = headerValue(m, 'in-reply-to');
    else if (w.key === EXT_REFERENCES) v = headerValue(m, 'references');
    else if (w.key === EXT_LAST_VERB && m.lastVerb !== null) v = String(m.lastVerb);
    if (v !== null && !out.some((x) => x.id === w.id)) out.push({ id: w.id, value: v });
  }
  return out;
}

const CMP = {
  eq: (a, b) => a === b, ne: (a, b) => a !== b, gt: (a, b) => a > b, ge: (a, b) => a >= b, lt: (a, b) => a < b, le: (a, b) => a <= b,
};
const inefficientFilter = () => new GraphError(400, 'InefficientFilter', 'The restriction or sort order is too complex for this operation.');
const filterNotEmulated = (clause) => new GraphError(400, 'ErrorInvalidUrlQueryFilter', `This $filter clause is not emulated (or is invalid): ${clause}`);
const unquote = (s) => s.replace(/''/g, "'");
const sentMs = (m) => m.meta.date ?? m.received;

// Splits `s` at `sep` (a regex matching at the start of the rest) outside parentheses and quotes.
function splitTop(s, sep) {
  const parts = [];
  let depth = 0;
  let quoted = false;
  let cur = '';
  for (let i = 0; i < s.length;) {
    const ch = s[i];
    if (ch === "'") quoted = !quoted;
    else if (!quoted && ch === '(') depth += 1;
    else if (!quoted && ch === ')') depth -= 1;
    if (!quoted && depth === 0) {
      const m = sep.exec(s.slice(i));
      if (m && m.index === 0 && cur) {
        parts.push(cur);
        cur = '';
        i += m[0].length;
        continue;
      }
    }
    cur += ch;
    i += 1;
  }
  if (quoted || depth !== 0) return null;
  parts.push(cur);
  return parts.map((p) => p.trim());
}

// One clause -> {prop, test(m)}. The subset a mail client needs; anything else is refused.
function filterClause(raw) {
  let c = raw.trim();
  while (/^\(.*\)$/.test(c) && splitTop(c.slice(1, -1), /^\s+and\s+/i)?.length === 1) c = c.slice(1, -1).trim();
  let m = /^not\s*\((.*)\)$/i.exec(c);
  if (m) {
    const inner = filterClause(m[1]);
    return { prop: inner.prop, test: (x) => !inner.test(x) };
  }
  m = /^(receivedDateTime|sentDateTime)\s+(eq|ne|gt|ge|lt|le)\s+'?([0-9T:.+\-Z]+)'?$/i.exec(c);
  if (m) {
    const ms = Date.parse(m[3]);
    if (Number.isNaN(ms)) throw filterNotEmulated(raw);
    const sent = m[1].toLowerCase() === 'sentdatetime';
    const cmp = CMP[m[2].toLowerCase()];
    return { prop: sent ? 'sentDateTime' : 'receivedDateTime', test: (x) => cmp(sent ? sentMs(x) : x.received, ms) };
  }
  m = /^(isRead|hasAttachments|isDraft)\s+(eq|ne)\s+(true|false)$/i.exec(c);
  if (m) {
    const p = m[1].toLowerCase();
    const want = m[3].toLowerCase() === 'true';
    const cmp = CMP[m[2].toLowerCase()];
    const get = { isread: (x) => x.isRead, isdraft: (x) => x.isDraft, hasattachments: (x) => x.meta.multipartMixed || x.attachments.length > 0 }[p];
    return { prop: p === 'isread' ? 'isRead' : p, test: (x) => cmp(get(x), want) };
  }
  m = /^flag\/flagStatus\s+(eq|ne)\s+'([^']*)'$/i.exec(c);
  if (m) {
    const cmp = CMP[m[1].toLowerCase()];
    const want = m[2];
    return { prop: 'flag/flagStatus', test: (x) => cmp(x.flagStatus, want) };
  }
  m = /^categories\/any\(\s*(\w+)\s*:\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*\)$/i.exec(c);
  if (m && m[1] === m[2]) {
    const want = unquote(m[3]).toLowerCase();
    return { prop: 'categories', test: (x) => x.categories.some((k) => k.toLowerCase() === want) };
  }
  m = /^(from|sender)\/emailAddress\/address\s+(eq|ne)\s+'((?:[^']|'')*)'$/i.exec(c);
  if (m) {
    const who = m[1].toLowerCase();
    const want = unquote(m[3]).toLowerCase();
    const cmp = CMP[m[2].toLowerCase()];
    return { prop: `${who}/emailAddress/address`, test: (x) => cmp((x.meta[who]?.address || '').toLowerCase(), want) };
  }
  m = /^singleValueExtendedProperties\/any\(\s*(\w+)\s*:\s*(\w+)\/id\s+eq\s+'([^']*)'\s+and\s+cast\(\s*(\w+)\/value\s*,\s*Edm\.Int32\s*\)\s+(eq|ne|gt|ge|lt|le)\s+(-?\d+)\s*\)$/i.exec(c);
  if (m && m[1] === m[2] && m[1] === m[4] && extId(m[3])?.key === EXT_SIZE) {
    const cmp = CMP[m[5].toLowerCase()];
    const n = Number(m[6]);
    return { prop: 'singleValueExtendedProperties', test: (x) => cmp(mimeWithAttachments(x).length, n) };
  }
  throw filterNotEmulated(raw);
}

function parseFilter(raw) {
  if (raw === null || raw.trim() === '') return null;
  const parts = splitTop(raw.trim(), /^\s+and\s+/i);
  if (!parts || parts.some((p) => !p)) throw new GraphError(400, 'BadRequest', `Invalid filter clause: ${raw}`);
  return parts.map(filterClause);
}

// $orderby: receivedDateTime or sentDateTime, asc (default) or desc.
function parseOrderBy(raw) {
  if (raw === null || raw.trim() === '') return null;
  return raw.split(',').map((part) => {
    const m = /^\s*(\S+)(?:\s+(asc|desc))?\s*$/i.exec(part);
    const prop = m && { receiveddatetime: 'receivedDateTime', sentdatetime: 'sentDateTime' }[m[1].toLowerCase()];
    if (!prop) throw badRequest(`This $orderby is not emulated: ${part.trim()} (receivedDateTime or sentDateTime, asc or desc).`);
    return { prop, desc: (m[2] || 'asc').toLowerCase() === 'desc' };
  });
}

// Graph's rule for $filter with $orderby on messages (user-list-messages, "Using filter and
// orderby in the same query"): the $orderby properties come first in $filter, in the same order.
function checkFilterOrder(clauses, order) {
  const seq = [];
  for (const c of clauses) if (seq[seq.length - 1] !== c.prop) seq.push(c.prop);
  order.forEach((o, i) => {
    if (seq[i] !== o.prop) throw inefficientFilter();
  });
}

// $search (KQL subset): terms joined by AND (or juxtaposed); `prop:value`, `"a phrase"`,
// `size>N`, `size<N`, `size:A..B`. Text matches are case-insensitive substrings (KQL matches words
// and their prefixes: what passes here with whole words passes there).
function parseSearch(raw) {
  let s = raw.trim();
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1).replace(/\\(["\\])/g, '$1');
  const tokens = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') { quoted = !quoted; continue; }
    if (!quoted && /\s/.test(ch)) {
      if (cur) tokens.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (quoted) throw badRequest(`Syntax error: unbalanced quotes in $search ${raw}.`);
  if (cur) tokens.push(cur);
  const text = (m) => [m.meta.from?.name, m.meta.from?.address, m.meta.subject, m.meta.text].filter(Boolean).join('\n');
  const addrs = (list) => list.map((a) => `${a.name} ${a.address}`).join('\n');
  const fields = {
    from: (m) => (m.meta.from ? `${m.meta.from.name} ${m.meta.from.address}` : ''),
    to: (m) => addrs(m.meta.to),
    cc: (m) => addrs(m.meta.cc),
    bcc: (m) => addrs(m.meta.bcc),
    recipients: (m) => addrs([...m.meta.to, ...m.meta.cc, ...m.meta.bcc]),
    participants: (m) => addrs([m.meta.from, ...m.meta.to, ...m.meta.cc, ...m.meta.bcc].filter(Boolean)),
    subject: (m) => m.meta.subject,
    body: (m) => m.meta.text || '',
  };
  const preds = [];
  for (const t of tokens) {
    if (t === 'AND') continue;
    if (t === 'OR' || t === 'NOT') throw badRequest(`$search: ${t} is not emulated.`);
    let m = /^size(>=|<=|>|<|=)(\d+)$/i.exec(t);
    if (m) {
      const cmp = { '>': CMP.gt, '<': CMP.lt, '>=': CMP.ge, '<=': CMP.le, '=': CMP.eq }[m[1]];
      const n = Number(m[2]);
      preds.push((x) => cmp(mimeWithAttachments(x).length, n));
      continue;
    }
    m = /^size:(\d+)\.\.(\d+)$/i.exec(t);
    if (m) {
      const [a, b] = [Number(m[1]), Number(m[2])];
      preds.push((x) => mimeWithAttachments(x).length >= a && mimeWithAttachments(x).length <= b);
      continue;
    }
    m = /^(\w+):(.+)$/.exec(t);
    if (m) {
      const f = fields[m[1].toLowerCase()];
      if (!f) throw badRequest(`$search: the property ${m[1]} is not emulated.`);
      const want = m[2].toLowerCase();
      preds.push((x) => f(x).toLowerCase().includes(want));
      continue;
    }
    const want = t.toLowerCase();
    preds.push((x) => text(x).toLowerCase().includes(want));
  }
  return (x) => preds.every((p) => p(x));
}

const SEARCH_MAX = 1000; // "A $search request returns up to 1000 results."

function listMessages(ctx, mb, args) {
  stats.list_requests += 1;
  const f = folderByIdOrName(mb, args.folder);
  const sp = ctx.url.searchParams;
  const sel = parseSelect(sp.get('$select'));
  const exp = parseExpand(sp.get('$expand'));
  const search = sp.get('$search');
  const filterRaw = sp.get('$filter');
  const orderRaw = sp.get('$orderby');
  if (search !== null) {
    // Graph: "You cannot use $filter or $orderby in a search request."
    if (filterRaw !== null) throw new GraphError(400, 'SearchWithFilter', "The query parameter '$filter' is not supported with '$search'.");
    if (orderRaw !== null) throw new GraphError(400, 'SearchWithOrderBy', "The query parameter '$orderBy' is not supported with '$search'.");
    if (sp.get('$skip') !== null) throw badRequest("The query parameter '$skip' is not supported with '$search'.");
  }
  const top = sp.get('$top') === null ? 10 : Number(sp.get('$top'));
  if (!Number.isInteger(top) || top < 1 || top > 1000) throw badRequest('Invalid $top.');
  let all = [...f.msgs].map((id) => mb.messages.get(id));
  const linkBase = `${ctx.base}/${ctx.mbPath}/mailFolders/${encodeURIComponent(f.id)}/messages`;
  const body = { '@odata.context': `${ctx.base}/$metadata#Collection(message)` };
  let pageItems;
  if (search !== null) {
    const match = parseSearch(search);
    // "The results of the search are sorted by the date and time that the message was sent."
    all = all.filter(match).sort((a, b) => sentMs(b) - sentMs(a) || b.seq - a.seq).slice(0, SEARCH_MAX);
    const tok = sp.get('$skiptoken');
    let pos = 0;
    if (tok !== null) {
      const [n, sig] = tok.split('.');
      if (!/^\d+$/.test(n || '') || sig !== b64url(hmac('search-skip', mb.key, f.id, search, n)).slice(0, 22)) {
        throw badRequest('The $skiptoken is not valid for this request.');
      }
      pos = Number(n);
    }
    pageItems = all.slice(pos, pos + top);
    if (pos + top < all.length) {
      const q = new URLSearchParams(sp);
      const n = String(pos + top);
      q.set('$skiptoken', `${n}.${b64url(hmac('search-skip', mb.key, f.id, search, n)).slice(0, 22)}`);
      body['@odata.nextLink'] = `${linkBase}?${q.toString().replace(/%24/g, '$')}`;
    }
    // $count is not honoured with $search on messages (no @odata.count: microsoft-graph-docs #9638, #10801)
  } else {
    const clauses = parseFilter(filterRaw);
    const order = parseOrderBy(orderRaw);
    if (clauses && order) checkFilterOrder(clauses, order);
    if (clauses) all = all.filter((m) => clauses.every((c) => c.test(m)));
    const keys = order || [{ prop: 'receivedDateTime', desc: true }];
    const val = (m, p) => (p === 'sentDateTime' ? sentMs(m) : m.received);
    all.sort((a, b) => {
      for (const k of keys) {
        const d = val(a, k.prop) - val(b, k.prop);
        if (d) return k.desc ? -d : d;
      }
      return keys[0].desc ? b.seq - a.seq : a.seq - b.seq;
    });
    const skip = sp.get('$skip') === null ? 0 : Number(sp.get('$skip'));
    if (!Number.isInteger(skip) || skip < 0) throw badRequest('Invalid $skip.');
    if ((sp.get('$count') || '').toLowerCase() === 'true') body['@odata.count'] = all.length;
    pageItems = all.slice(skip, skip + top);
    if (skip + top < all.length) {
      const q = new URLSearchParams(sp);
      q.set('$top', String(top));
      q.set('$skip', String(skip + top));
      body['@odata.nextLink'] = `${linkBase}?${q.toString().replace(/%24/g, '$')}`;
    }
  }
  body.value = pageItems.map((m) => messageJson(mb, m, sel, false, exp));
  if (body['@odata.nextLink']) { // Graph puts the link after the items
    const next = body['@odata.nextLink'];
    delete body['@odata.nextLink'];
    body['@odata.nextLink'] = next;
  }
  return { status: 200, json: body };
}

// ---------------------------------------------------------------- Graph handlers
function listPage(ctx, all, render, linkPath) {
  const sp = ctx.url.searchParams;
  const top = sp.get('$top') === null ? 10 : Number(sp.get('$top'));
  const skip = sp.get('$skip') === null ? 0 : Number(sp.get('$skip'));
  if (!Number.isInteger(top) || top < 1 || top > 1000 || !Number.isInteger(skip) || skip < 0) throw badRequest('Invalid $top or $skip.');
  const slice = all.slice(skip, skip + top);
  const body = { '@odata.context': `${ctx.base}/$metadata#Collection`, value: slice.map(render) };
  if (skip + top < all.length) {
    const q = new URLSearchParams(sp);
    q.set('$top', String(top));
    q.set('$skip', String(skip + top));
    body['@odata.nextLink'] = `${ctx.base}/${ctx.mbPath}/${linkPath}?${q.toString().replace(/%24/g, '$')}`;
  }
  return { status: 200, json: body };
}

function listFolders(ctx, mb, args) {
  const parent = args.folder === undefined ? mb.root : folderByIdOrName(mb, args.folder);
  const link = args.folder === undefined ? 'mailFolders' : `mailFolders/${encodeURIComponent(parent.id)}/childFolders`;
  return listPage(ctx, childrenOf(mb, parent), (f) => folderJson(mb, f), link);
}

function getFolder(ctx, mb, args) {
  return { status: 200, json: { '@odata.context': `${ctx.base}/$metadata#mailFolders/$entity`, ...folderJson(mb, folderByIdOrName(mb, args.folder)) } };
}

function createFolder(ctx, mb, args) {
  const parent = args.folder === undefined ? mb.root : folderByIdOrName(mb, args.folder);
  const b = parseJsonBody(ctx);
  if (typeof b.displayName !== 'string' || !b.displayName.trim()) throw new GraphError(400, 'ErrorInvalidParameter', 'The displayName of the folder is missing or empty.');
  const name = b.displayName;
  if (childrenOf(mb, parent).some((f) => f.displayName.toLowerCase() === name.toLowerCase())) {
    throw new GraphError(409, 'ErrorFolderExists', 'A folder with the specified name already exists.');
  }
  const f = addFolder(mb, parent.id, name);
  return { status: 201, json: { '@odata.context': `${ctx.base}/$metadata#mailFolders/$entity`, ...folderJson(mb, f) } };
}


function getDelta(ctx, mb, args) {
  stats.delta_requests += 1;
  return deltaPage(ctx, mb, folderByIdOrName(mb, args.folder));
}

function getMessage(ctx, mb, args) {
  const m = messageByIdOr404(mb, args.id);
  const sel = parseSelect(ctx.url.searchParams.get('$select'));
  const exp = parseExpand(ctx.url.searchParams.get('$expand'));
  return { status: 200, json: { '@odata.context': `${ctx.base}/$metadata#messages/$entity`, ...messageJson(mb, m, sel, false, exp) } };
}

function getValue(ctx, mb, args) {
  stats.value_requests += 1;
  const m = messageByIdOr404(mb, args.id);
  return { status: 200, headers: { 'content-type': 'text/plain' }, raw: mimeWithAttachments(m) };
}

function patchMessage(ctx, mb, args) {
  const m = messageByIdOr404(mb, args.id);
  const b = parseJsonBody(ctx);
  for (const k of Object.keys(b)) {
    if (k.startsWith('@odata.')) continue;
    if (!PATCHABLE.has(k)) throw new GraphError(400, 'RequestBodyRead', `The property '${k}' does not exist on type 'microsoft.graph.message'. Make sure to only use property names that are defined by the type or mark the type as open type.`);
  }
  if ('isRead' in b && typeof b.isRead !== 'boolean') throw new GraphError(400, 'RequestBodyRead', "Cannot convert the literal to the expected type 'Edm.Boolean'.");
  if ('categories' in b && (!Array.isArray(b.categories) || b.categories.some((c) => typeof c !== 'string'))) throw new GraphError(400, 'RequestBodyRead', 'categories must be an array of strings.');
  const FLAG_STATUSES = ['notFlagged', 'complete', 'flagged'];
  if ('flag' in b && (!b.flag || typeof b.flag !== 'object' || Array.isArray(b.flag)
    || ('flagStatus' in b.flag && !FLAG_STATUSES.includes(b.flag.flagStatus)))) {
    throw new GraphError(400, 'RequestBodyRead', "Cannot convert the literal to the expected type 'microsoft.graph.followupFlagStatus'.");
  }
  if ('isRead' in b) m.isRead = b.isRead;
  if ('categories' in b) m.categories = b.categories.slice(0, 100);
  if ('flag' in b && 'flagStatus' in b.flag) m.flagStatus = b.flag.flagStatus;
  touch(mb, m);
  return { status: 200, json: { '@odata.context': `${ctx.base}/$metadata#messages/$entity`, ...messageJson(mb, m, null, false) } };
}

function destinationOf(ctx, mb) {
  const b = parseJsonBody(ctx);
  if (typeof b.destinationId !== 'string' || !b.destinationId) throw new GraphError(400, 'ErrorInvalidParameter', 'destinationId is missing.');
  let dest;
  try {
    dest = folderByIdOrName(mb, b.destinationId);
  } catch {
    throw new GraphError(404, 'ErrorItemNotFound', 'The specified destination folder was not found in the store.');
  }
  if (dest === mb.root) throw new GraphError(400, 'ErrorInvalidParameter', 'Messages cannot be moved to the root folder.');
  return dest;
}

function postMove(ctx, mb, args) {
  const m = messageByIdOr404(mb, args.id);
  const n = moveMessage(mb, m, destinationOf(ctx, mb));
  return { status: 201, json: { '@odata.context': `${ctx.base}/$metadata#messages/$entity`, ...messageJson(mb, n, null, false) } };
}

// message: copy -> 201, the copy (a new item with a new id) in the destination; the original stays
function postCopy(ctx, mb, args) {
  const m = messageByIdOr404(mb, args.id);
  const dest = destinationOf(ctx, mb);
  const n = addMessage(mb, dest, m.mime, copyOptions(m));
  stats.copies += 1;
  return { status: 201, json: { '@odata.context': `${ctx.base}/$metadata#messages/$entity`, ...messageJson(mb, n, null, false) } };
}

function deleteMessage(ctx, mb, args) {
  const m = messageByIdOr404(mb, args.id);
  const trash = mb.wk.get('deleteditems');
  if (m.folderId === trash.id) removeMessage(mb, m); // already in Deleted Items: gone
  else moveMessage(mb, m, trash);
  return { status: 204 };
}

async function postSendMail(ctx, mb) {
  if (ctx.tooLarge) throw new GraphError(413, 'BadRequest', 'The maximum request length supported is 4MB.');
  const mime = decodeMimeBody(ctx);
  if (!recipientCount(mime)) throw new GraphError(400, 'ErrorInvalidRecipients', "At least one recipient isn't valid., A message can't be sent because it contains no recipients.");
  await relay(mb, mime);
  addMessage(mb, mb.wk.get('sentitems'), mime, { isRead: true });
  stats.sent += 1;
  return { status: 202 };
}

function postDraft(ctx, mb) {
  if (ctx.tooLarge) throw new GraphError(413, 'BadRequest', 'The maximum request length supported is 4MB.');
  const mime = decodeMimeBody(ctx);
  const m = addMessage(mb, mb.wk.get('drafts'), mime, { isRead: true, isDraft: true });
  return { status: 201, json: { '@odata.context': `${ctx.base}/$metadata#messages/$entity`, ...messageJson(mb, m, null, false) } };
}

function postUploadSession(ctx, mb, args) {
  const m = messageByIdOr404(mb, args.id);
  if (!m.isDraft) throw new GraphError(400, 'ErrorInvalidOperation', 'Attachments can only be added to a draft in this emulator.');
  const b = parseJsonBody(ctx);
  const it = b.AttachmentItem || b.attachmentItem;
  if (!it || typeof it !== 'object') throw new GraphError(400, 'ErrorInvalidParameter', 'AttachmentItem is missing.');
  if ((it.attachmentType || 'file') !== 'file') throw new GraphError(400, 'ErrorInvalidParameter', 'Only attachmentType "file" is emulated.');
  if (typeof it.name !== 'string' || !it.name) throw new GraphError(400, 'ErrorInvalidParameter', 'AttachmentItem.name is missing.');
  if (!Number.isInteger(it.size) || it.size < 1 || it.size > ATTACHMENT_LIMIT) {
    throw new GraphError(400, 'ErrorAttachmentSizeShouldNotBeLessThanMinimumSize', `AttachmentItem.size must be 1..${ATTACHMENT_LIMIT} bytes.`);
  }
  const sid = `AAMkAD${b64url(crypto.randomBytes(30))}=`;
  const authtoken = b64url(crypto.randomBytes(24));
  const expires = Date.now() + UPLOAD_SESSION_TTL_MS;
  sessions.set(sid, {
    sid, mbKey: mb.key, msgId: m.id, name: it.name, size: it.size, contentType: typeof it.contentType === 'string' ? it.contentType : 'application/octet-stream',
    chunks: [], received: 0, authtoken, expires,
  });
  const uploadUrl = `https://127.0.0.1:${ctx.port}/upload/api/v2.0/Users('${encodeURIComponent(mb.guid)}')/Messages('${encodeURIComponent(m.id)}')/AttachmentSessions('${encodeURIComponent(sid)}')?authtoken=${authtoken}`;
  return {
    status: 201,
    json: {
      '@odata.context': `${ctx.base}/$metadata#microsoft.graph.uploadSession`,
      uploadUrl,
      expirationDateTime: iso(expires),
      nextExpectedRanges: ['0-'],
    },
  };
}

async function postSendDraft(ctx, mb, args) {
  const m = messageByIdOr404(mb, args.id);
  if (!m.isDraft) throw new GraphError(400, 'ErrorInvalidOperation', 'Only a draft can be sent.');
  const mime = mimeWithAttachments(m);
  if (!recipientCount(mime)) throw new GraphError(400, 'ErrorInvalidRecipients', "At least one recipient isn't valid., A message can't be sent because it contains no recipients.");
  await relay(mb, mime);
  removeMessage(mb, m);
  addMessage(mb, mb.wk.get('sentitems'), mime, { isRead: true });
  stats.sent += 1;
  return { status: 202 };
}

// PUT uploadUrl (pre-authenticated: no Authorization header, as Graph documents)
function putUpload(ctx) {
  const m = /AttachmentSessions\('([^']+)'\)/.exec(decodeURIComponent(ctx.url.pathname));
  const s = m ? sessions.get(m[1]) : undefined;
  if (!s || s.expires < Date.now()) throw new GraphError(404, 'ErrorItemNotFound', 'The upload session was not found or has expired.');
  ctx.mb = mailboxes.get(s.mbKey);
  if (ctx.url.searchParams.get('authtoken') !== s.authtoken) throw new GraphError(401, 'InvalidAuthenticationToken', 'The upload URL authentication token is not valid.');
  if (ctx.req.headers.authorization) {
    throw new GraphError(401, 'InvalidAuthenticationToken', 'Do not send an Authorization header to the pre-authenticated upload URL.');
  }
  if (ctx.tooLarge) throw new GraphError(413, 'BadRequest', `A chunk is limited to ${CHUNK_LIMIT} bytes in this emulator.`);
  const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(ctx.req.headers['content-range'] || '').trim());
  if (!cr) throw new GraphError(400, 'invalidRange', 'Content-Range must be "bytes {start}-{end}/{total}".');
  const [start, end, total] = cr.slice(1).map(Number);
  if (total !== s.size) throw new GraphError(400, 'fragmentLengthMismatch', `Declared total size ${total} differs from the session's size ${s.size}.`);
  if (start !== s.received) throw new GraphError(416, 'fragmentOutOfOrder', `Uploaded fragment is out of order: expected byte ${s.received}.`);
  if (end < start || end >= total || end - start + 1 !== ctx.body.length) {
    throw new GraphError(400, 'invalidRange', `The range ${start}-${end} does not match the ${ctx.body.length} bytes sent.`);
  }
  s.chunks.push(ctx.body);
  s.received += ctx.body.length;
  stats.upload_chunks += 1;
  if (s.received < s.size) {
    return {
      status: 200,
      json: { '@odata.context': 'https://outlook.office.com/api/v2.0/$metadata#AttachmentSessions/$entity', ExpirationDateTime: iso(s.expires), nextExpectedRanges: [String(s.received)] },
    };
  }
  sessions.delete(s.sid);
  const mb = mailboxes.get(s.mbKey);
  const msg = mb && mb.messages.get(s.msgId);
  if (!msg) throw new GraphError(404, 'ErrorItemNotFound', 'The draft of this upload session is gone.');
  const attId = `AAMkAD${b64url(crypto.randomBytes(40))}=`;
  msg.attachments = [...msg.attachments, { id: attId, name: s.name, contentType: s.contentType, size: s.size, bytes: Buffer.concat(s.chunks) }];
  touch(mb, msg);
  return {
    status: 201,
    headers: { Location: `${ctx.base}/users('${encodeURIComponent(mb.guid)}')/messages('${encodeURIComponent(msg.id)}')/attachments('${encodeURIComponent(attId)}')` },
  };
}

// ---------------------------------------------------------------- request flow
async function handleGraph(ctx) {
  const { req } = ctx;
  const isUpload = ctx.url.pathname.startsWith('/upload/');
  let route = null;
  let parsed = null;
  if (isUpload) {
    ctx.route = 'PUT uploadUrl';
    if (req.method !== 'PUT') ctx.route = `${req.method} uploadUrl`;
  } else {
    parsed = parseGraphPath(ctx.url.pathname);
    route = parsed && parsed.sel ? matchRoute(req.method, parsed.rest) : null;
    ctx.route = route ? route.name : `${req.method} (unknown)`;
    ctx.isSend = !!route?.isSend;
  }
  stats.requests_total += 1;
  stats.by_route[ctx.route] = (stats.by_route[ctx.route] || 0) + 1;

  // bodies are read first (bounded; an oversized one is read and thrown away, then refused)
  const limit = isUpload ? CHUNK_LIMIT : (route?.bodyLimit ?? JSON_LIMIT);
  try {
    const b = await readBody(req, limit);
    ctx.body = b.buf;
    ctx.tooLarge = b.tooLarge;
  } catch (e) {
    log(`request body: ${e.message}`);
    req.socket.destroy();
    return;
  }
  if (ctx.tooLarge && !route?.bodyLimit && !isUpload) {
    return respond(ctx, graphErrorResponse(ctx, new GraphError(413, 'BadRequest', 'The request body is too large.')));
  }

  const th = inject.throttle;
  if (th.remaining > 0) {
    th.remaining -= 1;
    stats.throttled += 1;
    stats.throttled_injected += 1;
    const code = th.code || { 429: 'TooManyRequests', 503: 'ServiceUnavailable', 504: 'GatewayTimeout' }[th.status];
    const msg = { 429: 'Too many requests.', 503: 'The service is temporarily unavailable.', 504: 'The gateway timed out.' }[th.status];
    return respond(ctx, graphErrorResponse(ctx, new GraphError(th.status, code, msg, { 'Retry-After': String(th.retryAfter) })));
  }

  let slotKey = null;
  try {
    if (isUpload) {
      if (req.method !== 'PUT') throw new GraphError(405, 'BadRequest', 'Only PUT is emulated on an upload URL.');
    } else {
      if (!parsed || !parsed.sel) {
        const seg = parsed?.rest?.[0] ?? '';
        throw badRequest(`Resource not found for the segment '${seg}'.`);
      }
      if (!route) {
        const seg = parsed.rest[parsed.rest.length - 1] ?? parsed.mbPath;
        throw badRequest(`Resource not found for the segment '${seg}' (or ${req.method} is not emulated there).`);
      }
      ctx.auth = await authenticate(req);
      ctx.mb = resolveMailbox(ctx.auth, parsed.sel);
      ctx.mbPath = parsed.mbPath;
      if (route.perm === 'rw' && !ctx.auth.perms.rw) throw accessDenied();
      if (route.perm === 'send' && !ctx.auth.perms.send) throw accessDenied();
    }
    // Outlook: at most 4 concurrent requests per mailbox (per app; here: per mailbox)
    if (isUpload) {
      const m = /AttachmentSessions\('([^']+)'\)/.exec(decodeURIComponent(ctx.url.pathname));
      slotKey = (m && sessions.get(m[1])?.mbKey) || null;
    } else {
      slotKey = ctx.mb.key;
    }
    if (slotKey) {
      const n = inflight.get(slotKey) || 0;
      if (n >= MAILBOX_CONCURRENCY) {
        slotKey = null;
        stats.throttled += 1;
        stats.throttled_concurrency += 1;
        throw new GraphError(429, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.', { 'Retry-After': '1' });
      }
      inflight.set(slotKey, n + 1);
      stats.max_concurrency[slotKey] = Math.max(stats.max_concurrency[slotKey] || 0, n + 1);
      const k = slotKey;
      // freed once: when the answer has been written (respond), or the socket closes first.
      // Waiting for 'close' alone counted a request for up to ~1.5 ms after its last byte
      // (TLS), and a client keeping exactly 4 requests out met spurious 429s.
      let held = true;
      ctx.releaseSlot = () => {
        if (!held) return;
        held = false;
        inflight.set(k, Math.max(0, (inflight.get(k) || 1) - 1));
      };
      ctx.res.once('close', ctx.releaseSlot);
    }
    const d = inject.delay;
    if (d.remaining > 0) {
      d.remaining -= 1;
      stats.delayed += 1;
      await sleep(d.ms);
      if (ctx.res.destroyed) return undefined;
    }
    const resp = isUpload ? putUpload(ctx) : await route.handler(ctx, ctx.mb, route.args || {});
    return respond(ctx, resp);
  } catch (e) {
    if (e instanceof GraphError) return respond(ctx, graphErrorResponse(ctx, e));
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
          pending: {
            throttle: inject.throttle.remaining,
            cut: inject.cut.remaining,
            delay: inject.delay.remaining,
          },
          page_size: pageSizeDefault,
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
          mailboxByGuid = new Map();
          sessions.clear();
          generation += 1;
        }
        return sendJson(res, 200, { ok: true, generation });
      }
      case 'POST /_test/throttle': {
        const status = intParam(sp, 'status', 429, 429, 504);
        if (![429, 503, 504].includes(status)) throw new Error('status must be 429, 503 or 504');
        inject.throttle = {
          remaining: intParam(sp, 'count', 1, 0, 100000),
          status,
          retryAfter: intParam(sp, 'retry_after', 1, 0, 3600),
          code: sp.get('code') || null,
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
      case 'POST /_test/page-size':
        pageSizeDefault = intParam(sp, 'n', 10, 1, 1000);
        return sendJson(res, 200, { ok: true, page_size: pageSizeDefault });
      case 'POST /_test/expire-delta':
        generation += 1;
        return sendJson(res, 200, { ok: true, generation });
      case 'POST /_test/deny-app-mailbox':
        inject.denyApp.add(needParam(sp, 'mailbox').toLowerCase());
        return sendJson(res, 200, { ok: true, denied: [...inject.denyApp] });
      case 'POST /_test/unlicensed':
        inject.unlicensed.add(needParam(sp, 'mailbox').toLowerCase());
        return sendJson(res, 200, { ok: true, unlicensed: [...inject.unlicensed] });
      case 'POST /_test/seed': {
        let j;
        try { j = JSON.parse(body.toString('utf8')); } catch { throw new Error('seed: body must be JSON'); }
        if (!j || typeof j.mailbox !== 'string' || !j.mailbox.includes('@')) throw new Error('seed: "mailbox" (an address) is required');
        if (!Array.isArray(j.messages)) throw new Error('seed: "messages" must be an array');
        const mb = getMailbox(j.mailbox, true);
        const f = folderByPath(mb, typeof j.folder === 'string' && j.folder ? j.folder : 'inbox', true);
        if (!f || f === mb.root) throw new Error('seed: bad folder');
        const ids = [];
        for (const [i, m] of j.messages.entries()) {
          let mime;
          if (typeof m.mime_base64 === 'string') mime = Buffer.from(m.mime_base64, 'base64');
          else if (typeof m.mime === 'string') mime = Buffer.from(m.mime, 'utf8');
          else throw new Error(`seed: messages[${i}] needs mime_base64 (or mime)`);
          let received = Date.now();
          if (m.receivedDateTime !== undefined) {
            received = Date.parse(m.receivedDateTime);
            if (Number.isNaN(received)) throw new Error(`seed: messages[${i}].receivedDateTime is not a date`);
          }
          const extra = {};
          if (m.flagStatus !== undefined) {
            if (!['notFlagged', 'complete', 'flagged'].includes(m.flagStatus)) throw new Error(`seed: messages[${i}].flagStatus must be notFlagged, complete or flagged`);
            extra.flagStatus = m.flagStatus;
          }
          if (m.categories !== undefined) {
            if (!Array.isArray(m.categories) || m.categories.some((c) => typeof c !== 'string')) throw new Error(`seed: messages[${i}].categories must be strings`);
            extra.categories = [...m.categories];
          }
          if (m.lastVerbExecuted !== undefined) {
            if (!Number.isInteger(m.lastVerbExecuted)) throw new Error(`seed: messages[${i}].lastVerbExecuted must be an integer`);
            extra.lastVerb = m.lastVerbExecuted;
          }
          ids.push(addMessage(mb, f, mime, { isRead: m.isRead === true, received, ...extra }).id);
        }
        return sendJson(res, 200, { ids, folder_id: f.id, mailbox: mb.address });
      }
      case 'GET /_test/mailbox': {
        const mb = getMailbox(needParam(sp, 'mailbox'), false);
        if (!mb) return sendJson(res, 200, []);
        const f = folderByPath(mb, sp.get('folder') || 'inbox', false);
        if (!f) return sendJson(res, 404, { error: `no folder ${sp.get('folder')} in ${mb.address}` });
        const list = [...f.msgs].map((id) => mb.messages.get(id)).sort((a, b) => a.seq - b.seq).map((m) => ({
          id: m.id,
          isRead: m.isRead,
          internetMessageId: m.meta.messageId,
          receivedDateTime: iso(m.received),
          size: mimeWithAttachments(m).length,
          subject: m.meta.subject,
          isDraft: m.isDraft,
          flagStatus: m.flagStatus,
          categories: m.categories,
          lastVerbExecuted: m.lastVerb,
          sentDateTime: iso(m.meta.date ?? m.received),
          attachments: m.attachments.map((a) => ({ name: a.name, size: a.size, contentType: a.contentType })),
        }));
        return sendJson(res, 200, list);
      }
      case 'GET /_test/folders': {
        const mb = getMailbox(needParam(sp, 'mailbox'), false);
        if (!mb) return sendJson(res, 200, []);
        return sendJson(res, 200, [...mb.folders.values()].filter((f) => f !== mb.root).map((f) => ({
          path: folderPath(mb, f), wellKnownName: f.wellKnownName, ...folderJson(mb, f),
        })));
      }
      case 'GET /_test/mime': {
        const mb = getMailbox(needParam(sp, 'mailbox'), false);
        const m = mb && mb.messages.get(needParam(sp, 'id'));
        if (!m) return sendJson(res, 404, { error: 'no such message' });
        const raw = mimeWithAttachments(m);
        res.writeHead(200, { 'content-type': 'message/rfc822', 'content-length': raw.length });
        return res.end(raw);
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
    : (() => {
      const rid = crypto.randomUUID();
      const ctx = {
        req, res, url, rid, crid: String(req.headers['client-request-id'] || rid).slice(0, 100), port,
        base: `https://127.0.0.1:${port}/v1.0`, graph: true, route: null, mb: null, auth: null, mbPath: 'me',
      };
      if (!url.pathname.startsWith('/v1.0/') && !url.pathname.startsWith('/upload/')) {
        stats.requests_total += 1;
        ctx.route = `${req.method} (unknown)`;
        stats.by_route[ctx.route] = (stats.by_route[ctx.route] || 0) + 1;
        req.resume();
        return Promise.resolve(respond(ctx, graphErrorResponse(ctx, new GraphError(404, 'NotFound', `No such path ${url.pathname} (Graph is under /v1.0).`))));
      }
      return handleGraph(ctx);
    })();
  Promise.resolve(work).catch((e) => {
    log('handler error:', e.stack || e);
    if (!res.headersSent) {
      const body = JSON.stringify({ error: { code: 'InternalServerError', message: String(e.message || e) } });
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
  const info = { base_url: `https://127.0.0.1:${port}/v1.0`, port, pid: process.pid };
  const line = `${JSON.stringify(info)}\n`;
  if (opts.stateFile) {
    const tmp = `${opts.stateFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, line);
    fs.renameSync(tmp, opts.stateFile);
  }
  process.stdout.write(line);
  log(`listening on https://127.0.0.1:${port}/v1.0 (introspection ${INTROSPECTION_URL.href}${opts.sinkPort ? `, relay to 127.0.0.1:${opts.sinkPort}` : ', no relay'})`);
});
