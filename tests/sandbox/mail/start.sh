#!/usr/bin/env bash
# Start the private mail sandbox: SMTP sink, loopback relay, private Dovecot.
#   bash tests/sandbox/mail/start.sh WORKDIR OAUTH_STATE PKI_DIR
# OAUTH_STATE: the oauth-server.mjs state file (or the JSON line itself).
# PKI_DIR:     output of tests/sandbox/make-certs.sh (ca.pem, server.pem, server.key).
# Env: MAIL_SANDBOX_DEBUG=1            auth_debug/mail_debug/verbose_ssl = yes
#      MAIL_SANDBOX_REJECT_RCPT="a b"  sink answers 550 for these (default reject@example.test)
#      MAIL_SANDBOX_AUTH_FAILURE_DELAY Dovecot auth_failure_delay (default 0)
#      MAIL_SANDBOX_AUTH_PENALTY=1     keep Dovecot's per-IP auth penalty (2..15 s after failures)
#      MAIL_SANDBOX_RAWLOG=1           HTTP rawlog of introspection requests in WORKDIR/rawlog
#      MAIL_SANDBOX_INTROSPECTION_URL  override the introspection endpoint Dovecot calls
# Prints WORKDIR/mail.json as one line on stdout; servers keep running (stop.sh WORKDIR).
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: start.sh WORKDIR OAUTH_STATE_JSON PKI_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
WORKDIR=$(cd "$1" && pwd)
OAUTH_STATE=$2
PKI=$(cd "$3" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

die() { echo "start.sh: $*" >&2; exit 1; }
command -v dovecot >/dev/null || die "dovecot not installed (run tests/sandbox/mail/install.sh as root)"
id omtestmail >/dev/null 2>&1 || die "user omtestmail missing (run tests/sandbox/mail/install.sh as root)"
for f in ca.pem server.pem server.key; do [ -s "$PKI/$f" ] || die "$PKI/$f missing"; done

# Already running for this WORKDIR? Stop it first.
if [ -s "$WORKDIR/mail.json" ]; then
  bash "$here/stop.sh" "$WORKDIR" >/dev/null 2>&1 || true
fi

# ------------------------------------------------------------------ OAuth state
if [ "${OAUTH_STATE:0:1}" = "{" ]; then state_json=$OAUTH_STATE
else [ -s "$OAUTH_STATE" ] || die "OAuth state file $OAUTH_STATE missing/empty"; state_json=$(cat "$OAUTH_STATE"); fi
INTRO_UPSTREAM=$("$PY" -c '
import json, sys, urllib.parse
j = json.loads(sys.argv[1]); u = urllib.parse.urlsplit(j["introspection_endpoint"])
if u.hostname not in ("127.0.0.1", "localhost", "::1"): sys.exit("introspection endpoint not on loopback")
print(j["introspection_endpoint"])' "$state_json") || die "cannot parse OAuth state"

# Kill what we started if we fail half-way.
started=()
RUNDIR=
on_exit() {
  rc=$?
  if [ $rc -ne 0 ]; then
    [ ${#started[@]} -eq 0 ] || kill "${started[@]}" 2>/dev/null || true
    case "$RUNDIR" in /tmp/omd.*) rm -rf "$RUNDIR" ;; esac
  fi
}
trap on_exit EXIT

# ------------------------------------------------------------------ directories
ETC=$WORKDIR/etc
mkdir -p "$ETC" "$WORKDIR/state" "$WORKDIR/mail" "$WORKDIR/sink"
# Dovecot's sockets live under base_dir and a UNIX socket path holds at most 107 bytes: under a
# deep WORKDIR (a long clone path, a test binary's name) `run/token-login/imap-urlauth` does not
# fit. base_dir is a short directory in /tmp instead, recorded in mail.json; stop.sh removes it.
RUNDIR=$(mktemp -d /tmp/omd.XXXXXX) || die "cannot create a run directory in /tmp"
chmod 0755 "$RUNDIR"
# mail processes run as omtestmail, auth as dovecot: they need to traverse WORKDIR.
chmod 0755 "$WORKDIR" "$ETC" "$WORKDIR/sink"
MAIL_UID=$(id -u omtestmail); MAIL_GID=$(id -g omtestmail)
chown omtestmail:omtestmail "$WORKDIR/mail"; chmod 0770 "$WORKDIR/mail"
# Temp dirs (mktemp -d, Rust's tempfile) are 0700: add o+x (search only) to parents
# of WORKDIR that lack it, but only inside the temp area (/tmp, /var/tmp, $TMPDIR).
tmproot=$(cd "${TMPDIR:-/tmp}" 2>/dev/null && pwd || echo /tmp)
d=$(dirname "$WORKDIR")
while [ "$d" != / ] && [ "$d" != /tmp ] && [ "$d" != /var/tmp ] && [ "$d" != "$tmproot" ]; do
  case "$d/" in /tmp/*|/var/tmp/*|"$tmproot"/*) [ -x "$d" ] && chmod o+x "$d" 2>/dev/null || true ;; *) break ;; esac
  d=$(dirname "$d")
done
if command -v setpriv >/dev/null; then
  setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups test -w "$WORKDIR/mail" \
    || die "user omtestmail cannot reach $WORKDIR/mail (a parent directory is not searchable by others: chmod o+x it)"
fi
install -m 0644 "$PKI/ca.pem" "$ETC/ca.pem"
install -m 0644 "$PKI/server.pem" "$ETC/server.pem"
install -m 0600 "$PKI/server.key" "$ETC/server.key"
# passwd-file: user:{PLAIN}password:uid:gid:gecos:home:shell:extra (scheme=PLAIN default)
cat >"$ETC/passwd" <<'EOF'
bob@example.test:{PLAIN}bob-password::::::
alice@example.test:{PLAIN}alice-password::::::
EOF
chmod 0644 "$ETC/passwd"
rm -f "$WORKDIR/mail.json" "$WORKDIR/sink.port" "$WORKDIR/relay.json"

# ------------------------------------------------------------------ SMTP sink
reject=${MAIL_SANDBOX_REJECT_RCPT-reject@example.test}
sink_args=()
for a in $reject; do sink_args+=(--reject-rcpt "$a"); done
nohup "$PY" "$here/smtp-sink.py" --dir "$WORKDIR/sink" --port 0 --port-file "$WORKDIR/sink.port" \
  "${sink_args[@]}" </dev/null >"$WORKDIR/sink.out" 2>"$WORKDIR/sink.err" &
SINK_PID=$!; started+=("$SINK_PID")
# Dovecot's ports are chosen, then bound by Dovecot: up to 3 attempts when one was taken
# in between.
INTRO_URL=${MAIL_SANDBOX_INTROSPECTION_URL:-$INTRO_UPSTREAM}
for attempt in 1 2 3; do
# ------------------------------------------------------------------ ports
# Hold all sockets open at once so the ports are distinct; tiny race after close.
read -r IMAP_INNER IMAPS POP3_INNER POP3S SUB_INNER SUBS < <("$PY" -c '
import socket
ss = []
for _ in range(6):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))')

# ------------------------------------------------------------------ relay
nohup "$PY" "$here/loopback-relay.py" --source 127.0.0.2 --port-file "$WORKDIR/relay.json" \
  imap="$IMAP_INNER" pop3="$POP3_INNER" submission="$SUB_INNER" \
  </dev/null >"$WORKDIR/relay.out" 2>"$WORKDIR/relay.err" &
RELAY_PID=$!; started+=("$RELAY_PID")
for _ in $(seq 1 100); do
  [ -s "$WORKDIR/sink.port" ] && [ -s "$WORKDIR/relay.json" ] && break
  kill -0 "$SINK_PID" 2>/dev/null || die "smtp-sink died: $(cat "$WORKDIR/sink.err")"
  kill -0 "$RELAY_PID" 2>/dev/null || die "relay died: $(cat "$WORKDIR/relay.err")"
  sleep 0.05
done
[ -s "$WORKDIR/sink.port" ] || die "smtp-sink did not start"
[ -s "$WORKDIR/relay.json" ] || die "relay did not start"
SINK_PORT=$(cat "$WORKDIR/sink.port")

# ------------------------------------------------------------------ config
penalty_mode=0; [ "${MAIL_SANDBOX_AUTH_PENALTY:-0}" = 1 ] && penalty_mode=0600
debug=no; [ "${MAIL_SANDBOX_DEBUG:-0}" = 1 ] && debug=yes
ssl_dh_line="# ssl_dh not needed (EC key)"
[ -s /usr/share/dovecot/dh.pem ] && ssl_dh_line="ssl_dh = </usr/share/dovecot/dh.pem"
rawlog_line="# rawlog_dir (MAIL_SANDBOX_RAWLOG=1)"
if [ "${MAIL_SANDBOX_RAWLOG:-0}" = 1 ]; then
  mkdir -p "$WORKDIR/rawlog"; chown dovecot "$WORKDIR/rawlog" 2>/dev/null || chmod 0777 "$WORKDIR/rawlog"
  rawlog_line="rawlog_dir = $WORKDIR/rawlog"
fi
sedesc() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
fill() {
  sed -e "s|@WORKDIR@|$(sedesc "$WORKDIR")|g" -e "s|@ETC@|$(sedesc "$ETC")|g" \
      -e "s|@RUNDIR@|$(sedesc "$RUNDIR")|g" \
      -e "s|@INSTANCE@|$(basename "$WORKDIR" | tr -c 'A-Za-z0-9_\n-' _)|g" \
      -e "s|@AUTH_DEBUG@|$debug|g" -e "s|@AUTH_FAILURE_DELAY@|${MAIL_SANDBOX_AUTH_FAILURE_DELAY:-0}|g" \
      -e "s|@SSL_DH_LINE@|$(sedesc "$ssl_dh_line")|g" -e "s|@RAWLOG_LINE@|$(sedesc "$rawlog_line")|g" \
      -e "s|@MAIL_UID@|$MAIL_UID|g" -e "s|@MAIL_GID@|$MAIL_GID|g" -e "s|@SINK_PORT@|$SINK_PORT|g" \
      -e "s|@IMAP_INNER_PORT@|$IMAP_INNER|g" -e "s|@IMAPS_PORT@|$IMAPS|g" \
      -e "s|@POP3_INNER_PORT@|$POP3_INNER|g" -e "s|@POP3S_PORT@|$POP3S|g" \
      -e "s|@SUBMISSION_INNER_PORT@|$SUB_INNER|g" -e "s|@SUBMISSIONS_PORT@|$SUBS|g" \
      -e "s|@ANVIL_PENALTY_MODE@|$penalty_mode|g" \
      -e "s|@INTROSPECTION_URL@|$(sedesc "$INTRO_URL")|g" \
      "$1"
}
CONF=$ETC/dovecot.conf
fill "$here/dovecot.conf.in" >"$CONF"
fill "$here/dovecot-oauth2.conf.ext.in" >"$ETC/dovecot-oauth2.conf.ext"
chmod 0644 "$CONF" "$ETC/dovecot-oauth2.conf.ext"
if grep -q '@[A-Z_]*@' "$CONF" "$ETC/dovecot-oauth2.conf.ext"; then die "unfilled placeholder in config"; fi

# ------------------------------------------------------------------ dovecot
: >"$WORKDIR/dovecot.log"
nohup dovecot -c "$CONF" -F </dev/null >"$WORKDIR/dovecot.out" 2>&1 &
DOVECOT_PID=$!; started+=("$DOVECOT_PID")

# Ready = greeting on every listener (direct and through the relay), bounded 20 s.
ready=$("$PY" - "$WORKDIR/relay.json" "$DOVECOT_PID" "$IMAP_INNER" "$IMAPS" "$POP3_INNER" "$POP3S" "$SUB_INNER" "$SUBS" <<'PYEOF'
import json, os, socket, ssl, sys, time
relay = json.load(open(sys.argv[1])); pid = int(sys.argv[2])
imap_i, imaps, pop3_i, pop3s, sub_i, subs = map(int, sys.argv[3:9])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
checks = [(imap_i, False, b"* OK"), (relay["imap"], False, b"* OK"), (imaps, True, b"* OK"),
          (pop3_i, False, b"+OK"), (relay["pop3"], False, b"+OK"), (pop3s, True, b"+OK"),
          (sub_i, False, b"220"), (relay["submission"], False, b"220"), (subs, True, b"220")]
deadline = time.time() + 20
pending = list(checks)
while pending and time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        print("dead"); sys.exit(0)
    port, tls, want = pending[0]
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        if tls:
            s = ctx.wrap_socket(s)
        s.settimeout(3)
        line = s.recv(200)
        s.close()
        if line.startswith(want):
            pending.pop(0); continue
    except OSError:
        pass
    time.sleep(0.05)
print("ok" if not pending else "timeout %r" % (pending[0],))
PYEOF
)
[ "$ready" = ok ] && break
if [ "$ready" = dead ] && [ "$attempt" -lt 3 ] && grep -q "Address already in use" "$WORKDIR/dovecot.out"; then
  # another process took one of the chosen ports between their choice and Dovecot's bind (a
  # busy machine's outgoing connections use the same range): choose again
  echo "start.sh: a chosen port was taken before Dovecot bound it ($(grep -m1 "Address already in use" "$WORKDIR/dovecot.out")); new ports, attempt $((attempt + 1))" >&2
  kill "$RELAY_PID" 2>/dev/null || true; wait "$RELAY_PID" 2>/dev/null || true
  rm -f "$WORKDIR/relay.json"
  continue
fi
echo "start.sh: dovecot not ready ($ready); log:" >&2
tail -n 30 "$WORKDIR/dovecot.log" "$WORKDIR/dovecot.out" >&2 || true
doveconf -c "$CONF" -n >/dev/null 2>>"$WORKDIR/dovecot.out" || tail -5 "$WORKDIR/dovecot.out" >&2
exit 1

done

# ------------------------------------------------------------------ mail.json
"$PY" - "$WORKDIR" "$CONF" "$DOVECOT_PID" "$SINK_PID" "$RELAY_PID" "$SINK_PORT" \
  "$IMAP_INNER" "$IMAPS" "$POP3_INNER" "$POP3S" "$SUB_INNER" "$SUBS" "$reject" "$ETC/ca.pem" \
  "$INTRO_URL" "$RUNDIR" <<'PYEOF'
import json, os, sys
(wd, conf, dpid, spid, rpid, sink, imap_i, imaps, pop3_i, pop3s, sub_i, subs, reject, ca,
 intro, rundir) = sys.argv[1:17]
relay = json.load(open(os.path.join(wd, "relay.json")))
j = {
    "host": "127.0.0.1",
    "imap_port": relay["imap"], "imaps_port": int(imaps),
    "pop3_port": relay["pop3"], "pop3s_port": int(pop3s),
    "submission_port": relay["submission"], "submissions_port": int(subs),
    "sink_port": int(sink), "sink_dir": os.path.join(wd, "sink"),
    "maildir_root": os.path.join(wd, "mail"),
    "config": conf, "log": os.path.join(wd, "dovecot.log"), "ca_file": ca, "base_dir": rundir,
    "direct_ports": {"imap": int(imap_i), "pop3": int(pop3_i), "submission": int(sub_i)},
    "plaintext_auth_refused_before_tls": relay["source"] is not None,
    "reject_rcpt": reject.split(),
    "users": {"alice@example.test": "alice-password", "bob@example.test": "bob-password"},
    "introspection_url": intro,
    "pids": {"dovecot": int(dpid), "sink": int(spid), "relay": int(rpid)},
}
line = json.dumps(j)
tmp = os.path.join(wd, "mail.json.tmp")
with open(tmp, "w") as f:
    f.write(line + "\n")
os.replace(tmp, os.path.join(wd, "mail.json"))
print(line)
PYEOF
