#!/usr/bin/env bash
# End-to-end self-test of the mail sandbox (Dovecot + SMTP sink + relay) against the
# sandbox OAuth server, with a real access token from the code flow.
#   bash tests/sandbox/mail/selftest.sh     (root; after install.sh and `npm ci --prefix tests/sandbox`)
# Development aid only; the real tests are in Rust. Prints "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sandbox=$(cd "$here/.." && pwd)
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
[ -d "$sandbox/node_modules/oidc-provider" ] || { echo "selftest: run 'npm ci --prefix tests/sandbox' first" >&2; exit 2; }
command -v dovecot >/dev/null && id omtestmail >/dev/null 2>&1 || { echo "selftest: run install.sh first" >&2; exit 2; }

work=$(mktemp -d /tmp/oauthmail-mail-selftest.XXXXXX)
server_pid=
cleanup() {
  bash "$here/stop.sh" "$work/mail" >/dev/null 2>&1
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ "${KEEP_WORK:-0}" = 1 ] && echo "# kept $work" || rm -rf "$work"
}
trap cleanup EXIT

passed=0; failed=0
ok()  { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }

t0=$(date +%s.%N)
check "install.sh is idempotent and quick" bash -c "s=\$(date +%s%N); bash '$here/install.sh' >/dev/null 2>&1 && [ \$(( (\$(date +%s%N) - s) / 1000000 )) -lt 5000 ]"
bash "$sandbox/make-certs.sh" "$work/pki" >/dev/null || { echo "make-certs failed"; exit 1; }
node "$sandbox/oauth-server.mjs" --port 0 --certs "$work/pki" --state-file "$work/as.json" --no-stdin-watch \
  >"$work/as.out" 2>"$work/as.err" </dev/null &
server_pid=$!
for _ in $(seq 1 300); do [ -s "$work/as.json" ] && break; sleep 0.1; done
[ -s "$work/as.json" ] || { echo "oauth server did not start:"; cat "$work/as.err"; exit 1; }

s=$(date +%s%N)
mailjson=$(MAIL_SANDBOX_DEBUG=${MAIL_SANDBOX_DEBUG:-0} bash "$here/start.sh" "$work/mail" "$work/as.json" "$work/pki")
rc=$?
start_ms=$(( ($(date +%s%N) - s) / 1000000 ))
echo "# start.sh (${start_ms} ms): $mailjson"
check "start.sh exit 0" [ "$rc" = 0 ]
[ "$rc" = 0 ] || { tail -n 40 "$work/mail/dovecot.log"; exit 1; }
check "stdout is exactly the one line of mail.json" [ "$mailjson" = "$(cat "$work/mail/mail.json")" ]

AT=$(bash "$here/get-token.sh" "$work/as.json" alice@example.test) || AT=
check "got an access token for alice (code flow)" [ -n "$AT" ]
AT_BOB=$(bash "$here/get-token.sh" "$work/as.json" bob@example.test) || AT_BOB=

# listeners: every socket of our processes is on 127.0.0.1
pids=$("$PY" -c 'import json,sys; p=json.load(open(sys.argv[1]))["pids"]; print(" ".join(str(v) for v in p.values()))' "$work/mail/mail.json")
check "all listeners of dovecot/sink/relay are on 127.0.0.1" bash -c "
  out=\$(ss -ltnpH 2>/dev/null); [ -n \"\$out\" ] || exit 0
  for p in $pids; do
    echo \"\$out\" | grep \"pid=\$p,\" | awk '{print \$4}' | grep -v '^127\.0\.0\.1:' | grep -c . >/dev/null && exit 1
  done; exit 0"
check "no dovecot on the standard ports" bash -c "! ss -ltnH 2>/dev/null | awk '{print \$4}' | grep -Eq ':(143|993|110|995|587|465)\$'"

"$PY" - "$work/mail/mail.json" "$AT" "$AT_BOB" "$here/seed.py" <<'PYEOF' 2>&1 | tee "$work/py.out"
import base64, imaplib, json, os, poplib, smtplib, socket, ssl, subprocess, sys, time
mj = json.load(open(sys.argv[1])); AT = sys.argv[2]; AT_BOB = sys.argv[3]; SEED = sys.argv[4]
H = "127.0.0.1"
ctx = ssl.create_default_context(cafile=mj["ca_file"])
def b64(s): return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()
def xoauth2(user, tok): return "user=%s\x01auth=Bearer %s\x01\x01" % (user, tok)
def oauthbearer(user, tok, port): return "n,a=%s,\x01host=127.0.0.1\x01port=%d\x01auth=Bearer %s\x01\x01" % (user, port, tok)
results = []
def check(name, fn):
    t = time.time()
    try:
        r = fn()
        el = " (%.1f s)" % (time.time() - t) if time.time() - t > 1 else ""
        if r is True: print("ok   - " + name + el)
        else: print("FAIL - %s%s: %r" % (name, el, r))
    except Exception as e:
        print("FAIL - %s: %s: %s" % (name, type(e).__name__, e))
    sys.stdout.flush()

def shape():
    keys = {"imap_port", "imaps_port", "pop3_port", "pop3s_port", "submission_port", "submissions_port",
            "sink_port", "sink_dir", "maildir_root", "config", "pids"}
    miss = keys - set(mj)
    return True if not miss and all(isinstance(mj[k], int) for k in keys if k.endswith("_port")) and mj["plaintext_auth_refused_before_tls"] else miss
check("mail.json has all keys, integer ports, relay active", shape)

# ---------------------------------------------------------------- IMAP
def imaps_xoauth2():
    m = imaplib.IMAP4_SSL(H, mj["imaps_port"], ssl_context=ctx)
    if "SASL-IR" not in m.capabilities or "AUTH=XOAUTH2" not in m.capabilities: return m.capabilities
    typ, _ = m.authenticate("XOAUTH2", lambda _: xoauth2("alice@example.test", AT).encode())
    typ2, d = m.select("INBOX"); m.logout()
    return typ == "OK" and typ2 == "OK" or (typ, typ2, d)
check("IMAPS: AUTHENTICATE XOAUTH2 (SASL-IR) with a real token, SELECT INBOX", imaps_xoauth2)

def imaps_oauthbearer():
    m = imaplib.IMAP4_SSL(H, mj["imaps_port"], ssl_context=ctx)
    typ, _ = m.authenticate("OAUTHBEARER", lambda _: oauthbearer("alice@example.test", AT, mj["imaps_port"]).encode())
    m.logout(); return typ == "OK" or typ
check("IMAPS: AUTHENTICATE OAUTHBEARER", imaps_oauthbearer)

def raw_imap(port, tls):
    s = socket.create_connection((H, port), timeout=10)
    if tls: s = ctx.wrap_socket(s, server_hostname="localhost")
    f = s.makefile("rb"); f.readline()
    return s, f

def imap_pre_tls():
    m = imaplib.IMAP4(H, mj["imap_port"])
    caps = m.capabilities
    if not ("STARTTLS" in caps and "LOGINDISABLED" in caps and not any(c.startswith("AUTH=") for c in caps)):
        return caps
    try:
        m.login("bob@example.test", "bob-password"); return "LOGIN accepted before TLS"
    except imaplib.IMAP4.error:
        pass
    s, f = raw_imap(mj["imap_port"], False)
    s.sendall(b"a1 AUTHENTICATE PLAIN " + b64("\0bob@example.test\0bob-password").encode() + b"\r\n")
    l = f.readline(); s.close()
    return l.startswith(b"a1 NO") or l
check("IMAP 143-style: STARTTLS+LOGINDISABLED, no AUTH= before TLS; LOGIN and AUTHENTICATE PLAIN refused", imap_pre_tls)

def imap_starttls_xoauth2():
    m = imaplib.IMAP4(H, mj["imap_port"])
    m.starttls(ssl_context=ctx)
    if "AUTH=XOAUTH2" not in m.capabilities: return m.capabilities
    typ, _ = m.authenticate("XOAUTH2", lambda _: xoauth2("alice@example.test", AT).encode())
    m.logout(); return typ == "OK" or typ
check("IMAP: STARTTLS then AUTHENTICATE XOAUTH2", imap_starttls_xoauth2)

CHALLENGE = b'{"status":"401","schemes":"bearer","scope":"mail"}'
CHALLENGE_OB = b'{"status":"invalid_token"}'
def imap_bad_xoauth2():
    s, f = raw_imap(mj["imaps_port"], True)
    s.sendall(b"a1 AUTHENTICATE XOAUTH2 " + b64(xoauth2("alice@example.test", "not-a-valid-token")).encode() + b"\r\n")
    l1 = f.readline()
    if not l1.startswith(b"+ ") or base64.b64decode(l1[2:].strip()) != CHALLENGE: return l1
    s.sendall(b"\r\n"); l2 = f.readline(); s.close()
    return l2 == b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n" or l2
check("IMAP: bad token -> '+ ' + base64(%s), empty reply -> NO [AUTHENTICATIONFAILED]" % CHALLENGE.decode(), imap_bad_xoauth2)

def imap_bad_oauthbearer():
    s, f = raw_imap(mj["imaps_port"], True)
    s.sendall(b"a1 AUTHENTICATE OAUTHBEARER " + b64(oauthbearer("alice@example.test", "bad", 1)).encode() + b"\r\n")
    l1 = f.readline()
    if not l1.startswith(b"+ ") or base64.b64decode(l1[2:].strip()) != CHALLENGE_OB: return l1
    s.sendall(b"AQ==\r\n"); l2 = f.readline(); s.close()   # RFC 7628: client answers %x01
    return l2.startswith(b"a1 NO") or l2
check("IMAP: bad token with OAUTHBEARER -> '+ ' + base64(%s), %%x01 -> NO" % CHALLENGE_OB.decode(), imap_bad_oauthbearer)

def imap_wrong_user():
    m = imaplib.IMAP4_SSL(H, mj["imaps_port"], ssl_context=ctx)
    try:
        m.authenticate("XOAUTH2", lambda c: b"" if c else xoauth2("bob@example.test", AT).encode())
        return "alice's token accepted for bob"
    except imaplib.IMAP4.error:
        return True
check("IMAP: alice's token with user=bob is refused", imap_wrong_user)

def imap_passwords():
    for user, pw in (("bob@example.test", "bob-password"), ("alice@example.test", "alice-password")):
        m = imaplib.IMAP4(H, mj["imap_port"]); m.starttls(ssl_context=ctx)
        typ, _ = m.login(user, pw); m.logout()
        if typ != "OK": return (user, typ)
    m = imaplib.IMAP4_SSL(H, mj["imaps_port"], ssl_context=ctx)
    try:
        m.login("bob@example.test", "wrong"); return "wrong password accepted"
    except imaplib.IMAP4.error:
        return True
check("IMAP: password LOGIN for bob and alice after STARTTLS; wrong password refused", imap_passwords)

# ---------------------------------------------------------------- POP3
def pop3s_xoauth2():
    p = poplib.POP3_SSL(H, mj["pop3s_port"], context=ctx)
    r1 = p._shortcmd("AUTH XOAUTH2")
    if not r1.startswith(b"+"): return r1
    r2 = p._shortcmd(b64(xoauth2("alice@example.test", AT)))
    st = p.stat(); p.quit()
    return r2.startswith(b"+OK") or r2
check("POP3S: AUTH XOAUTH2 -> '+' -> base64 -> +OK, STAT", pop3s_xoauth2)

def pop3s_oauthbearer_ir():
    p = poplib.POP3_SSL(H, mj["pop3s_port"], context=ctx)
    r = p._shortcmd("AUTH OAUTHBEARER " + b64(oauthbearer("alice@example.test", AT, mj["pop3s_port"])))
    p.quit(); return r.startswith(b"+OK") or r
check("POP3S: AUTH OAUTHBEARER with initial response", pop3s_oauthbearer_ir)

def pop3s_bad():
    p = poplib.POP3_SSL(H, mj["pop3s_port"], context=ctx)
    r1 = p._shortcmd("AUTH XOAUTH2 " + b64(xoauth2("alice@example.test", "bad")))
    if base64.b64decode(r1[2:].strip()) != CHALLENGE: return r1
    try:
        p._shortcmd(""); return "accepted"
    except poplib.error_proto as e:
        return str(e).startswith("b'-ERR") or e.args
check("POP3S: bad token -> '+ base64(json)', empty -> -ERR", pop3s_bad)

def pop3_stls_password():
    p = poplib.POP3(H, mj["pop3_port"])
    caps = p.capa()
    if "STLS" not in caps or caps.get("SASL"): return caps   # Dovecot sends a bare "SASL"
    try:
        p.user("bob@example.test"); p.pass_("bob-password"); return "USER/PASS accepted before STLS"
    except poplib.error_proto:
        pass
    p.stls(context=ctx)
    p.user("bob@example.test"); r = p.pass_("bob-password")
    u = p.uidl(); p.quit()
    return r.startswith(b"+OK") or r
check("POP3: empty SASL and USER/PASS refused before STLS; STLS + USER/PASS for bob", pop3_stls_password)

# ---------------------------------------------------------------- submission
def sink_files():
    d = mj["sink_dir"]
    return sorted(int(n[:-5]) for n in os.listdir(d) if n.endswith(".json"))

def wait_sink(before, timeout=10):
    t = time.time()
    while time.time() - t < timeout:
        now = sink_files()
        if len(now) > len(before):
            n = now[-1]
            return json.load(open(os.path.join(mj["sink_dir"], "%d.json" % n))), open(os.path.join(mj["sink_dir"], "%d.eml" % n), "rb").read()
        time.sleep(0.05)
    return None, None

MSG = ("From: alice@example.test\r\nTo: carol@example.test\r\nSubject: relayed\r\n"
       "Message-ID: <relay-1@example.test>\r\n\r\nhello\r\n.leading dot\r\n")
def submission_starttls_xoauth2():
    s = smtplib.SMTP(H, mj["submission_port"], timeout=15)
    s.ehlo("client.example.test")
    if s.esmtp_features.get("auth", "").strip(): return "AUTH mechanisms before STARTTLS: %r" % s.esmtp_features.get("auth")
    s.starttls(context=ctx); s.ehlo("client.example.test")
    mechs = s.esmtp_features.get("auth", "")
    if "XOAUTH2" not in mechs.upper(): return mechs
    code, _ = s.auth("XOAUTH2", lambda c=None: xoauth2("alice@example.test", AT))
    if code != 235: return code
    before = sink_files()
    refused = s.sendmail("alice@example.test", ["carol@example.test", "dave@example.test"], MSG)
    s.quit()
    meta, eml = wait_sink(before)
    if meta is None: return "nothing in sink"
    if meta["mail_from"] != "alice@example.test" or meta["rcpt_to"] != ["carol@example.test", "dave@example.test"]:
        return meta
    return (b"\r\n.leading dot\r\n" in eml and b"Subject: relayed" in eml) or eml
check("submission: no AUTH mechanisms before STARTTLS; STARTTLS + AUTH XOAUTH2; relayed to sink with envelope + dot-stuffing", submission_starttls_xoauth2)

def submissions_oauthbearer():
    s = smtplib.SMTP_SSL(H, mj["submissions_port"], timeout=15, context=ctx)
    s.ehlo("client.example.test")
    code, _ = s.auth("OAUTHBEARER", lambda c=None: oauthbearer("alice@example.test", AT, mj["submissions_port"]))
    s.quit(); return code == 235 or code
check("submissions (implicit TLS): AUTH OAUTHBEARER", submissions_oauthbearer)

def submission_bad():
    s = smtplib.SMTP_SSL(H, mj["submissions_port"], timeout=15, context=ctx)
    s.ehlo("x")
    try:
        s.auth("XOAUTH2", lambda c=None: "" if c else xoauth2("alice@example.test", "bad"))
        return "accepted"
    except smtplib.SMTPAuthenticationError as e:
        return e.smtp_code == 535 or e.smtp_code
check("submission: bad token refused (535)", submission_bad)

def submission_reject():
    s = smtplib.SMTP_SSL(H, mj["submissions_port"], timeout=15, context=ctx)
    s.ehlo("x"); s.auth("XOAUTH2", lambda c=None: xoauth2("alice@example.test", AT))
    s.mail("alice@example.test")
    c1, m1 = s.rcpt(mj["reject_rcpt"][0]); c2, _ = s.rcpt("erin@example.test")
    before = sink_files()
    c3, _ = s.data(MSG.replace("carol", "erin").encode())
    s.quit()
    meta, _ = wait_sink(before)
    if c1 != 550: return (c1, m1)
    return (c2 == 250 and c3 == 250 and meta and meta["rcpt_to"] == ["erin@example.test"]) or (c2, c3, meta)
check("submission: --reject-rcpt recipient gets 550 through Dovecot; other recipient delivered", submission_reject)

def submission_password():
    s = smtplib.SMTP(H, mj["submission_port"], timeout=15)
    s.starttls(context=ctx); s.login("bob@example.test", "bob-password"); s.quit(); return True
check("submission: STARTTLS + AUTH PLAIN for bob", submission_password)

def sink_direct():
    s = smtplib.SMTP(H, mj["sink_port"], timeout=10)
    s.ehlo("x"); size_ok = "size" in s.esmtp_features
    before = sink_files()
    s.sendmail("a@example.test", ["b@example.test"], b"Subject: t\r\n\r\n..two dots\r\n.\r\n", mail_options=["SIZE=40"])
    c, _ = s.rcpt("x") if False else (0, 0)
    s.quit()
    meta, eml = wait_sink(before)
    return (size_ok and eml == b"Subject: t\r\n\r\n..two dots\r\n.\r\n" and meta["size"] == len(eml)) or (meta, eml)
check("sink directly: SIZE, dot-unstuffing, <n>.eml/<n>.json", sink_direct)

# ---------------------------------------------------------------- seed + folders
def seed_1000():
    t = time.time()
    out = subprocess.run([sys.executable, SEED, mj["maildir_root"], "bob@example.test", "1000"], capture_output=True, text=True)
    if out.returncode != 0: return out.stderr
    secs = time.time() - t
    m = imaplib.IMAP4_SSL(H, mj["imaps_port"], ssl_context=ctx)
    m.login("bob@example.test", "bob-password")
    typ, d = m.select("INBOX"); m.logout()
    print("# seed.py 1000 messages: %.2f s" % secs)
    return d == [b"1000"] or d
check("seed.py 1000 messages -> SELECT INBOX shows 1000", seed_1000)

def folder_utf8():
    out = subprocess.run([sys.executable, SEED, mj["maildir_root"], "bob@example.test", "3", "--folder", "Clients/Société", "--seed", "1"], capture_output=True, text=True)
    if out.returncode != 0: return out.stderr
    if not json.loads(out.stdout)["dir"].endswith("/.Clients.Soci&AOk-t&AOk-"): return out.stdout
    m = imaplib.IMAP4_SSL(H, mj["imaps_port"], ssl_context=ctx)
    m.login("bob@example.test", "bob-password")
    typ, lst = m.list()
    if b'(\\HasNoChildren) "/" Clients/Soci&AOk-t&AOk-' not in lst: return lst
    typ, d = m.select('"Clients/Soci&AOk-t&AOk-"')
    # Dovecot's own mapping of a created folder equals seed.py's
    m.create('"Clients/Caf&AOk-"'); m.logout()
    if not os.path.isdir(os.path.join(mj["maildir_root"], "bob@example.test", "Maildir", ".Clients.Caf&AOk-")): return "Dovecot mapping differs"
    return d == [b"3"] or d
check("non-ASCII folder Clients/Société: seed.py dir == Dovecot's, LIST shows it, SELECT 3", folder_utf8)

def pop3_uidl():
    p = poplib.POP3_SSL(H, mj["pop3s_port"], context=ctx)
    p.user("bob@example.test"); p.pass_("bob-password")
    r = p.uidl(1); p.quit()
    uid = r.split()[-1]
    return (len(uid) == 16 and uid[:8] == b"00000001" and all(c in b"0123456789abcdef" for c in uid)) or r
check("POP3: UIDL format %08Xu%08Xv", pop3_uidl)
PYEOF
passed=$((passed + $(grep -c '^ok ' "$work/py.out")))
failed=$((failed + $(grep -c '^FAIL' "$work/py.out")))
[ "$(grep -c -E '^(ok|FAIL) ' "$work/py.out")" -ge 20 ] || bad "python checks did not all run (crash?)"

# ---------------------------------------------------------------- stop
bash "$here/stop.sh" "$work/mail"
check "stop.sh stops dovecot, sink and relay" bash -c "for p in $pids; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0"
check "stop.sh is a no-op the second time" bash "$here/stop.sh" "$work/mail"
echo "# total $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo 0)") s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
