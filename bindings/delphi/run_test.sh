#!/usr/bin/env bash
# Test of the Delphi binding: compiles bindings/delphi/demo_test.dpr (which uses OAuthMail.pas)
# with Free Pascal in Delphi mode, and bindings/delphi/objfpc_test.pp (a plain mode objfpc
# program using the unit's events) with the README's command line; checks that neither links
# the library (the unit loads it on first use), runs objfpc_test once without the library
# (EOAuthMailLibrary naming the file, the bitness and the places searched) and once with the
# freshly built library; starts the local sandbox
# (the OAuth2 server, the Microsoft Graph emulator, a private Dovecot, the SMTP sink) like
# scripts/demo.sh, seeds mail (IMAP and Graph; IMAP also for the users the sandbox's Google
# service account acts for: one for fetching and sending, one for parsing, listing, flags,
# moves and the new-mail wait, with a facture.eml stored by seed.py --eml), runs the program,
# then checks what the sink received (the service account's message among it) and what was
# sent through Graph. Run as root on Debian:
#   bash bindings/delphi/run_test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
start_time=$(date +%s)

# --- Free Pascal (Debian package fpc); never skipped silently
if ! command -v fpc >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "run_test: Free Pascal is missing: install the Debian package 'fpc' (apt-get install fpc) or run as root" >&2
    exit 1
  fi
  source scripts/apt.sh
  if ! apt_install run_test fpc; then
    echo "run_test: FAILED to install the Debian package 'fpc' (Free Pascal); cannot test the Delphi binding" >&2
    exit 1
  fi
fi
command -v fpc >/dev/null 2>&1 || { echo "run_test: 'fpc' still not found after installing the Debian package fpc" >&2; exit 1; }
echo "== Free Pascal $(fpc -iV) ($(fpc -iTP)-$(fpc -iTO))"

# --- the rest of the toolchain and the sandbox's dependencies (as the demo does)
bash scripts/install-deps.sh

echo "== building the library"
cargo build --quiet
libdir=$root/target/debug
[ -e "$libdir/liboauthmail.so" ] || { echo "run_test: $libdir/liboauthmail.so was not built" >&2; exit 1; }

work=$root/target/delphi-test
rm -rf "$work" && mkdir -p "$work/units"

echo "== om_message layout according to the C compiler"
cat > "$work/layout.c" <<'C'
#include <stdio.h>
#include <stddef.h>
#include "oauthmail.h"
int main(void) {
  printf("%zu,%zu,%zu,%zu,%zu,%zu,%zu,%zu,%zu,%zu\n", sizeof(om_message),
         offsetof(om_message, uid), offsetof(om_message, uidvalidity), offsetof(om_message, resync),
         offsetof(om_message, size), offsetof(om_message, internal_date), offsetof(om_message, folder),
         offsetof(om_message, flags), offsetof(om_message, uidl), offsetof(om_message, parsed_json));
  return 0;
}
C
gcc -std=c11 -I include "$work/layout.c" -o "$work/layout"
OM_C_LAYOUT=$("$work/layout")
echo "$OM_C_LAYOUT"

echo "== compiling demo_test.dpr with fpc -Mdelphi"
# No -Fl / -rpath: the unit does not link the library, it loads it on first use (dlopen).
fpc -Mdelphi -vew -Sh -O1 \
  -Fu"$root/bindings/delphi" -FU"$work/units" \
  -o"$work/demo_test" "$root/bindings/delphi/demo_test.dpr" > "$work/fpc.log" 2>&1 || {
  cat "$work/fpc.log" >&2; echo "run_test: fpc failed" >&2; exit 1; }
grep -E "Warning|Error" "$work/fpc.log" || true

echo "== compiling objfpc_test.pp (mode objfpc) with the README's command line: fpc -Fu<bindings/delphi> <program>"
mkdir -p "$work/units-objfpc"
fpc -Fu"$root/bindings/delphi" -FU"$work/units-objfpc" -o"$work/objfpc_test" \
  "$root/bindings/delphi/objfpc_test.pp" > "$work/fpc-objfpc.log" 2>&1 || {
  cat "$work/fpc-objfpc.log" >&2; echo "run_test: fpc failed on the objfpc program" >&2; exit 1; }

extra_fail=0
# Neither executable may depend on the library at load time: a program starts without it.
for exe in demo_test objfpc_test; do
  needed=$(readelf -d "$work/$exe" | grep NEEDED || true)
  case "$needed" in
    *oauthmail*) echo "not ok - $exe links liboauthmail.so (it must load it on first use): $needed"; extra_fail=1 ;;
    *) echo "ok - $exe does not link liboauthmail.so (the unit loads it on first use)" ;;
  esac
done

echo "== objfpc_test without the library (not next to it, no LD_LIBRARY_PATH)"
if env -u LD_LIBRARY_PATH "$work/objfpc_test" missing; then :; else
  echo "not ok - objfpc_test missing failed"; extra_fail=1; fi
echo "== objfpc_test with the library (LD_LIBRARY_PATH=$libdir)"
if LD_LIBRARY_PATH=$libdir "$work/objfpc_test"; then :; else
  echo "not ok - objfpc_test failed"; extra_fail=1; fi

echo "== sandbox: OAuth2 server, Graph emulator, private Dovecot, SMTP sink"
source scripts/sandbox-env.sh "$work"
bash tests/sandbox/mail/start.sh "$work/mail" "$work/oauth.json" "$work/pki" > "$work/mail.json"
trap 'bash tests/sandbox/mail/stop.sh "$work/mail" >/dev/null 2>&1 || true; sandbox_stop' EXIT
mj() { node -p "require('$work/mail.json').$1"; }
imaps_port=$(mj imaps_port)
submission_port=$(mj submission_port)
sink_dir=$(mj sink_dir)
maildir_root=$(mj maildir_root)

seeded=3
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test $seeded --seed 7 --subject-prefix "Commande" >/dev/null
# The service account scenario's user (the key file: SANDBOX_SA_KEY_FILE from sandbox-env.sh).
sa_user=delphi-sa@example.test
sa_seeded=2
sa_seed=21
python3 tests/sandbox/mail/seed.py "$maildir_root" "$sa_user" $sa_seeded --seed $sa_seed --subject-prefix "Relance" >/dev/null

# The browsing scenario's mailbox (read through the service account too): 3 plain messages and
# a facture with an inline image and a PDF attached, its names in RFC 2047 / RFC 2231 words
# (UTF-8 and ISO-8859-1). The program delivers one more itself (seed.py) while it waits for mail.
browse_user=delphi-browse@example.test
browse_seeded=3
sed "s/@BROWSE_USER@/$browse_user/" tests/sandbox/mail/facture.eml.in >"$work/facture.eml"
python3 tests/sandbox/mail/seed.py "$maildir_root" "$browse_user" $browse_seeded --seed 31 --subject-prefix "Liste" \
  --eml "$work/facture.eml" >/dev/null

# The Graph scenario's mailbox, seeded through the Graph emulator's test endpoint.
graph_user=delphi-graph@example.test
graph_seeded=3
# node graph.mjs METHOD PATH [JSON-BODY]: the Graph emulator's /_test/ endpoints (answer on stdout)
cp tests/sandbox/graph-test.mjs "$work/graph.mjs"
seed=$(node -e '
const [user, n] = process.argv.slice(1);
const messages = [];
for (let i = 1; i <= Number(n); i++)
  messages.push({ mime: `From: Sender <sender@example.test>\r\nTo: ${user}\r\nSubject: Commande ${i}\r\n` +
    `Message-ID: <delphi-graph-${i}@example.test>\r\nDate: Tue, 01 Dec 2026 10:0${i}:00 +0000\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCommande ${i}.\r\n` });
console.log(JSON.stringify({ mailbox: user, folder: "inbox", messages }));' "$graph_user" "$graph_seeded")
node "$work/graph.mjs" POST /_test/seed "$seed" >/dev/null

# The OAuth2 server's counters (GET /_test/stats), for the token store checks:
#   node stats.mjs refresh_token   -> the number of refresh_token requests so far
cp tests/sandbox/token-stats.mjs "$work/stats.mjs"

export OM_IMAPS_PORT=$imaps_port OM_SUBMISSION_PORT=$submission_port OM_SEEDED=$seeded
export OM_WORKDIR=$work OM_C_LAYOUT OM_BROWSER_SCRIPT=$root/tests/sandbox/browser.mjs OM_STATS_SCRIPT=$work/stats.mjs
export OM_GRAPH_URL=$GRAPH_URL OM_GRAPH_USER=$graph_user OM_GRAPH_SEEDED=$graph_seeded
export OM_SA_USER=$sa_user OM_SA_SEEDED=$sa_seeded OM_SA_SEED=$sa_seed
export OM_BROWSE_USER=$browse_user OM_BROWSE_SEEDED=$browse_seeded
export OM_MAILDIR_ROOT=$maildir_root OM_SEED_SCRIPT=$root/tests/sandbox/mail/seed.py
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

echo "== running demo_test"
set +e
"$work/demo_test" | tee "$work/demo_test.out"
rc=${PIPESTATUS[0]}
set -e

# --- what the sink received: Send (1) + SendRaw (1) + SendBatch (1 of 2, one refused recipient)
# + the service account's Send (1)
expected_sink=4
n=$(ls "$sink_dir"/*.json 2>/dev/null | wc -l)
if [ "$n" -eq "$expected_sink" ]; then
  echo "ok - the SMTP sink received $n messages"
else
  echo "not ok - the SMTP sink received $n messages, expected $expected_sink"; extra_fail=1
fi
subject=$(python3 - "$sink_dir" <<'PY'
import email, email.policy, glob, sys
for f in sorted(glob.glob(sys.argv[1] + "/*.eml")):
    m = email.message_from_bytes(open(f, "rb").read(), policy=email.policy.default)
    if "client@example.test" in str(m["To"]):
        print(m["Subject"])
PY
)
if [ "$subject" = "Devis n°42 – société Élan" ]; then
  echo "ok - the sink's message decodes to the subject '$subject'"
else
  echo "not ok - the sink's subject is '$subject'"; extra_fail=1
fi

# --- the service account's message: sent as its user (envelope and From), subject intact
sa_sent=$(python3 - "$sink_dir" "$sa_user" <<'PY'
import email, email.policy, glob, json, sys
sink, user = sys.argv[1:3]
for f in sorted(glob.glob(sink + "/*.json")):
    if json.load(open(f)).get("mail_from") != user:
        continue
    m = email.message_from_bytes(open(f[:-5] + ".eml", "rb").read(), policy=email.policy.default)
    print("%s | %s | %s" % (m["From"], m["To"], m["Subject"]))
PY
)
if [ "$sa_sent" = "$sa_user | Achats <achats@example.test> | Devis n°42 – société Élan (service account)" ]; then
  echo "ok - the service account's message reached the sink from $sa_user: '$sa_sent'"
else
  echo "not ok - the sink's messages from $sa_user: '$sa_sent'"; extra_fail=1
fi

# --- what was sent through Graph: the emulator keeps it in the mailbox's Sent Items (nothing
# reaches the SMTP sink: the emulator runs without one)
if node "$work/graph.mjs" GET "/_test/mailbox?mailbox=$graph_user&folder=sentitems" >"$work/graph-sentitems.json"; then
  graph_subjects=$(node -e 'for (const m of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) console.log(m.subject)' \
    "$work/graph-sentitems.json")
else
  graph_subjects="(the emulator did not answer)"
fi
if [ "$graph_subjects" = "Devis n°42 – société Élan (Graph)" ]; then
  echo "ok - the message sent through Graph is in $graph_user's sentitems: '$graph_subjects'"
else
  echo "not ok - $graph_user's sentitems in the Graph emulator: '$graph_subjects'"; extra_fail=1
fi

echo "== run time: $(( $(date +%s) - start_time )) s"
if [ "$rc" -ne 0 ] || [ "$extra_fail" -ne 0 ]; then
  echo "run_test: FAILED (demo_test exit $rc)" >&2
  exit 1
fi
echo "run_test: passed"
