#!/usr/bin/env node
// Scripted "browser" for the sandbox authorization server (oauth-server.mjs).
//
//   node browser.mjs [--login NAME] [--password PW] [--deny] [--stop-at-redirect] [--ca FILE] AUTHORIZATION_URL
//   node browser.mjs --device USER_CODE [--login NAME] [--deny] [--ca FILE] VERIFICATION_URI
//
// An HTTP client with a cookie jar that follows redirects by hand and submits the
// HTML forms that oidc-provider's dev interactions render (parsed from the page).
// TLS trust: --ca FILE, else $SANDBOX_CA_FILE, else Node's defaults (which include
// $NODE_EXTRA_CA_CERTS). Prints exactly one JSON line on stdout; diagnostics on stderr.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

const MAX_HOPS = 20;
const OVERALL_MS = 30000;
const MAX_PAGE = 1024 * 1024;

function die(msg, extra = {}) {
  process.stderr.write(`browser: ${msg}\n`);
  process.stdout.write(`${JSON.stringify({ error: msg, ...extra })}\n`);
  process.exit(1);
}

function usage(msg) {
  if (msg) process.stderr.write(`browser: ${msg}\n`);
  process.stderr.write(`usage: node browser.mjs [--login NAME] [--password PW] [--deny] [--stop-at-redirect] [--ca FILE] AUTHORIZATION_URL
       node browser.mjs --device USER_CODE [--login NAME] [--deny] [--ca FILE] VERIFICATION_URI\n`);
  process.exit(2);
}

const opts = {
  login: 'alice@example.test', password: 'test', deny: false, stopAtRedirect: false,
  ca: process.env.SANDBOX_CA_FILE || undefined, device: undefined, url: undefined, verbose: !!process.env.BROWSER_VERBOSE,
};
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
      case '--login': opts.login = val(); break;
      case '--password': opts.password = val(); break;
      case '--deny': opts.deny = true; break;
      case '--stop-at-redirect': opts.stopAtRedirect = true; break;
      case '--ca': opts.ca = val(); break;
      case '--device': opts.device = val(); break;
      case '--verbose': case '-v': opts.verbose = true; break;
      case '-h': case '--help': usage(); break;
      default:
        if (a.startsWith('--')) usage(`unknown option ${a}`);
        if (opts.url) usage('only one URL expected');
        opts.url = a;
    }
  }
  if (!opts.url) usage('URL missing');
}
const vlog = (...a) => { if (opts.verbose) process.stderr.write(`browser: ${a.join(' ')}\n`); };

setTimeout(() => die(`gave up after ${OVERALL_MS / 1000} s`), OVERALL_MS).unref();

let ca;
if (opts.ca) {
  try { ca = fs.readFileSync(opts.ca); } catch (e) { die(`cannot read CA file ${opts.ca}: ${e.message}`); }
}
const httpsAgent = new https.Agent({ keepAlive: false, ...(ca ? { ca } : {}) });

// ------------------------------------------------------------ cookie jar
const jar = []; // { name, value, host, path }
function storeCookies(url, setCookie) {
  for (const line of setCookie || []) {
    const parts = line.split(';').map((s) => s.trim());
    const eq = parts[0].indexOf('=');
    if (eq <= 0) continue;
    const name = parts[0].slice(0, eq);
    const value = parts[0].slice(eq + 1);
    let cpath = '/';
    let expired = false;
    for (const attr of parts.slice(1)) {
      const [k, ...rest] = attr.split('=');
      const v = rest.join('=');
      switch (k.toLowerCase()) {
        case 'path': cpath = v || '/'; break;
        case 'max-age': if (Number(v) <= 0) expired = true; break;
        case 'expires': if (Date.parse(v) <= Date.now()) expired = true; break;
        default: break;
      }
    }
    const idx = jar.findIndex((c) => c.name === name && c.host === url.host && c.path === cpath);
    if (idx !== -1) jar.splice(idx, 1);
    if (!expired) jar.push({ name, value, host: url.host, path: cpath });
  }
}
function cookieHeader(url) {
  const matches = jar.filter((c) => c.host === url.host
    && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)));
  matches.sort((a, b) => b.path.length - a.path.length);
  return matches.map((c) => `${c.name}=${c.value}`).join('; ');
}

// ------------------------------------------------------------ HTTP
let hops = 0;
function request(method, urlStr, body) {
  hops += 1;
  if (hops > MAX_HOPS) die(`more than ${MAX_HOPS} requests, giving up`);
  const url = new URL(urlStr);
  const mod = url.protocol === 'https:' ? https : http;
  const headers = { 'user-agent': 'oauthmail-sandbox-browser/1', accept: 'text/html,*/*' };
  const cookies = cookieHeader(url);
  if (cookies) headers.cookie = cookies;
  let payload;
  if (body !== undefined) {
    payload = Buffer.from(body.toString());
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = payload.length;
  }
  vlog(method, url.href);
  return new Promise((resolve, reject) => {
    const req = mod.request(url, {
      method, headers, timeout: 10000, ...(url.protocol === 'https:' ? { agent: httpsAgent } : { agent: false }),
    }, (res) => {
      storeCookies(url, res.headers['set-cookie']);
      const chunks = [];
      let n = 0;
      res.on('data', (c) => {
        n += c.length;
        if (n <= MAX_PAGE) chunks.push(c);
      });
      res.on('end', () => resolve({
        url, status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout requesting ${url.href}`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

// ------------------------------------------------------------ HTML helpers
const decodeEntities = (s) => s
  .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(Number.parseInt(h, 16)))
  .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
  .replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>')
  .replace(/&amp;/g, '&');

function attrs(tag) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g;
  const inner = tag.replace(/^<\s*[a-zA-Z]+/, '').replace(/\/?>$/, '');
  let m;
  while ((m = re.exec(inner)) !== null) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

function parseForms(html) {
  const forms = [];
  const re = /<form\b[^>]*>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = re.exec(html)) !== null) {
    const openTag = m[0].match(/^<form\b[^>]*>/i)[0];
    const a = attrs(openTag);
    const inputs = [];
    for (const t of m[1].match(/<input\b[^>]*>/gi) || []) inputs.push(attrs(t));
    forms.push({
      id: a.id, action: a.action, method: (a.method || 'get').toLowerCase(), inputs, index: m.index,
    });
  }
  // <button form="ID" name=.. value=..> outside the form
  const buttons = (html.match(/<button\b[^>]*>[\s\S]*?<\/button>/gi) || []).map((b) => ({
    ...attrs(b.match(/^<button\b[^>]*>/i)[0]),
    text: b.replace(/<[^>]*>/g, '').trim(),
  }));
  return { forms, buttons };
}

function links(html) {
  return (html.match(/<a\b[^>]*>[\s\S]*?<\/a>/gi) || []).map((l) => ({
    ...attrs(l.match(/^<a\b[^>]*>/i)[0]),
    text: l.replace(/<[^>]*>/g, '').trim(),
  }));
}

function pageText(html) {
  return decodeEntities(html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim().slice(0, 500);
}

function formData(form, overrides = {}) {
  const data = new URLSearchParams();
  for (const i of form.inputs) {
    if (!i.name) continue;
    const type = (i.type || 'text').toLowerCase();
    if (['submit', 'button', 'image', 'reset', 'file'].includes(type)) continue;
    if ((type === 'checkbox' || type === 'radio') && !('checked' in i)) continue;
    if (i.name in overrides) continue;
    data.append(i.name, i.value ?? '');
  }
  for (const [k, v] of Object.entries(overrides)) data.append(k, v);
  return data;
}

function isLoopbackRedirect(u) {
  return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

// ------------------------------------------------------------ flow
const submitted = { login: false, consent: false, userCode: false, confirm: false };
let autoSubmits = 0;

async function submitForm(page, form, overrides) {
  const action = new URL(form.action || page.url.href, page.url);
  const data = formData(form, overrides);
  if (form.method === 'post') return request('POST', action.href, data);
  for (const [k, v] of data) action.searchParams.append(k, v);
  return request('GET', action.href);
}

function abortLink(page) {
  const l = links(page.body).find((x) => /cancel|abort|deny/i.test(x.text) || /\/abort\b/.test(x.href || ''));
  return l ? new URL(l.href, page.url).href : undefined;
}

// Decide what to do with an HTML page; returns the next response or a final verdict.
async function act(page) {
  const { forms, buttons } = parseForms(page.body);
  const text = pageText(page.body);

  const userCodeForm = forms.find((f) => f.inputs.some((i) => i.name === 'user_code' && (i.type || 'text') === 'text'));
  const confirmForm = forms.find((f) => f.inputs.some((i) => i.name === 'confirm'));
  const loginForm = forms.find((f) => f.inputs.some((i) => i.name === 'login') && f.inputs.some((i) => (i.type || '') === 'password'));
  const consentForm = forms.find((f) => f.inputs.some((i) => i.name === 'prompt' && i.value === 'consent'));

  if (userCodeForm) {
    if (opts.device === undefined) return { fail: `unexpected user code form: ${text}` };
    if (submitted.userCode) return { fail: `user code rejected: ${text}` };
    submitted.userCode = true;
    return { next: await submitForm(page, userCodeForm, { user_code: opts.device }) };
  }
  if (confirmForm) {
    if (submitted.confirm) return { fail: `confirm page shown twice: ${text}` };
    submitted.confirm = true;
    if (opts.deny) {
      const abortBtn = buttons.find((b) => b.name === 'abort' && (!b.form || b.form === confirmForm.id));
      const res = await submitForm(page, confirmForm, { [abortBtn?.name || 'abort']: abortBtn?.value || 'yes' });
      return { next: res, denied: true };
    }
    return { next: await submitForm(page, confirmForm, {}) };
  }
  if (loginForm) {
    if (opts.deny) {
      const href = abortLink(page);
      if (!href) return { fail: 'no cancel link on the login page' };
      return { next: await request('GET', href), denied: true };
    }
    if (submitted.login) return { fail: `login form shown again: ${text}` };
    submitted.login = true;
    return { next: await submitForm(page, loginForm, { login: opts.login, password: opts.password }) };
  }
  if (consentForm) {
    if (opts.deny) {
      const href = abortLink(page);
      if (!href) return { fail: 'no cancel link on the consent page' };
      return { next: await request('GET', href), denied: true };
    }
    if (submitted.consent) return { fail: `consent form shown again: ${text}` };
    submitted.consent = true;
    return { next: await submitForm(page, consentForm, {}) };
  }
  // pages that submit themselves with JavaScript (e.g. oidc-provider's device flow
  // "Submitting Callback" page): submit the first form as it is
  if (forms.length && /\.submit\(\)/.test(page.body)) {
    if (autoSubmits >= 5) return { fail: 'too many self-submitting pages' };
    autoSubmits += 1;
    return { next: await submitForm(page, forms[0], {}) };
  }
  return { fail: `unexpected page (HTTP ${page.status}): ${text}` };
}

async function main() {
  let res = await request('GET', opts.url);
  let denied = false;
  for (;;) {
    if ([301, 302, 303, 307, 308].includes(res.status)) {
      const loc = res.headers.location;
      if (!loc) die(`HTTP ${res.status} without Location at ${res.url.href}`);
      const next = new URL(loc, res.url);
      if (isLoopbackRedirect(next)) {
        if (opts.device !== undefined) die(`device flow unexpectedly redirected to ${next.href}`);
        if (opts.stopAtRedirect) {
          process.stdout.write(`${JSON.stringify({ redirect_url: next.href })}\n`);
          return;
        }
        let final;
        try {
          final = await request('GET', next.href);
        } catch (e) {
          die(`redirect listener at ${next.href} failed: ${e.message}`, { redirect_url: next.href });
        }
        process.stdout.write(`${JSON.stringify({ redirect_url: next.href, status: final.status, body: final.body })}\n`);
        return;
      }
      if (!['https:', 'http:'].includes(next.protocol)) die(`redirect to unsupported URL ${next.href}`, { redirect_url: next.href });
      res = await request('GET', next.href);
      continue;
    }
    if (opts.device !== undefined && /Sign-in Success/i.test(res.body) && res.status === 200) {
      process.stdout.write(`${JSON.stringify(denied ? { done: true, denied: true } : { done: true })}\n`);
      return;
    }
    if (opts.device !== undefined && denied) {
      // after aborting, oidc-provider shows the code input page with an error message
      const text = pageText(res.body);
      if (/interrupted|abort|denied/i.test(text) || res.status < 500) {
        process.stdout.write(`${JSON.stringify({ done: true, denied: true, page: text.slice(0, 200) })}\n`);
        return;
      }
      die(`after abort: HTTP ${res.status}: ${text}`);
    }
    if (res.status >= 400 && !/<form\b/i.test(res.body)) {
      die(`HTTP ${res.status} at ${res.url.href}: ${pageText(res.body)}`, { status: res.status });
    }
    const r = await act(res);
    if (r.fail) die(r.fail);
    if (r.denied) denied = true;
    res = r.next;
  }
}

main().catch((e) => {
  const msg = e.message || String(e);
  const tls = /certificate|self[- ]signed|CERT_|UNABLE_TO/i.test(`${msg} ${e.code || ''}`);
  die(tls ? `${msg} (TLS: pass --ca DIR/ca.pem, SANDBOX_CA_FILE or NODE_EXTRA_CA_CERTS)` : msg);
});
