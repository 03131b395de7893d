#!/usr/bin/env bash
# Stop what start.sh WORKDIR started (Dovecot master + children, SMTP sink, relay).
#   bash tests/sandbox/mail/stop.sh WORKDIR
# Bounded (~15 s worst case). Only kills pids recorded in WORKDIR/mail.json whose
# command line still matches what start.sh launched. Exit 0 even if nothing ran.
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: stop.sh WORKDIR" >&2; exit 2; }
WORKDIR=$(cd "$1" 2>/dev/null && pwd) || exit 0
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
[ -s "$WORKDIR/mail.json" ] || exit 0

read -r DPID SPID RPID RUNDIR CONF < <("$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); p = j["pids"]
print(p.get("dovecot") or 0, p.get("sink") or 0, p.get("relay") or 0, j.get("base_dir") or "-", j["config"])' "$WORKDIR/mail.json") || exit 0

# pid_matches PID STRING: /proc/PID/cmdline contains STRING
pid_matches() {
  [ "$1" -gt 0 ] 2>/dev/null && [ -r "/proc/$1/cmdline" ] && grep -qF -- "$2" <<<"$(tr '\0' ' ' <"/proc/$1/cmdline")"
}
wait_gone() { # PID TENTHS_OF_SECONDS
  for _ in $(seq 1 "$2"); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}
stop_pid() { # PID MATCH
  if pid_matches "$1" "$2"; then
    kill -TERM "$1" 2>/dev/null
    wait_gone "$1" 30 || kill -KILL "$1" 2>/dev/null
  fi
}

if pid_matches "$DPID" "$CONF"; then
  kids=$(pgrep -P "$DPID" 2>/dev/null || true)
  timeout 5 doveadm -c "$CONF" stop >/dev/null 2>&1 || kill -TERM "$DPID" 2>/dev/null
  if ! wait_gone "$DPID" 80; then
    kill -KILL "$DPID" 2>/dev/null
    for p in $kids; do kill -KILL "$p" 2>/dev/null; done
  fi
fi
stop_pid "$SPID" smtp-sink.py
stop_pid "$RPID" loopback-relay.py
# Dovecot's short base_dir in /tmp (start.sh), once Dovecot is gone
if ! pid_matches "$DPID" "$CONF"; then
  case "$RUNDIR" in /tmp/omd.*) rm -rf "$RUNDIR" ;; esac
fi
exit 0
