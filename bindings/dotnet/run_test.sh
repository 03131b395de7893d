#!/usr/bin/env bash
# The .NET binding's test: installs Mono if missing, builds the library, compiles
# bindings/dotnet/OAuthMail.cs + DemoTest.cs with mcs, starts the local sandbox (the test
# OAuth2 server, the Microsoft Graph emulator, a private Dovecot, the SMTP sink) like
# scripts/demo.sh, seeds mail (IMAP and Graph; IMAP also for the users the sandbox's Google
# service account acts for: one for fetching and sending, one for parsing, listing, flags, moves
# and the new-mail wait, with a facture.eml stored by seed.py --eml), runs the program with mono,
# and confirms the sends by counting the sink's files (the service account's message among them)
# and reading the Graph mailbox's Sent Items.
# Run as root on Debian 12: bash bindings/dotnet/run_test.sh   (exit code 0 = passed)
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
here=bindings/dotnet
work=target/dotnet-test
seeded=3

# --- Mono: the compiler and the minimal runtime set the program needs -------------------------
# mono-runtime (the VM), libmono-corlib4.5-cil (mscorlib), libmono-system4.0-cil (System.dll:
# Regex), libmono-system-core4.0-cil (System.Core.dll: Linq), mono-mcs (the C# compiler).
mono_pkgs=(mono-mcs mono-runtime libmono-corlib4.5-cil libmono-system4.0-cil libmono-system-core4.0-cil)
source scripts/apt.sh
apt_install run_test "${mono_pkgs[@]}" || { echo "run_test: Mono is needed to test the .NET binding" >&2; exit 1; }
command -v mcs >/dev/null || { echo "run_test: mcs not found after installing mono-mcs" >&2; exit 1; }
command -v mono >/dev/null || { echo "run_test: mono not found after installing mono-runtime" >&2; exit 1; }
echo "== Mono $(mono --version | sed -n '1s/Mono JIT compiler version //p')"

# --- the rest of the sandbox's needs (node, Dovecot, npm packages), as the demo does -----------
bash scripts/install-deps.sh

echo "== building the library"
cargo build --quiet
lib_dir=$PWD/target/debug
[ -e "$lib_dir/liboauthmail.so" ] || { echo "run_test: $lib_dir/liboauthmail.so not built" >&2; exit 1; }

rm -rf "$work" && mkdir -p "$work"

echo "== compiling OAuthMail.cs alone as C# 5 (what its header promises), then OAuthMail.cs + DemoTest.cs with mcs"
mcs -target:library -langversion:5 -warnaserror+ -r:System.dll -r:System.Core.dll \
    -out:"$work/OAuthMail.dll" "$here/OAuthMail.cs"
mcs -target:exe -langversion:7 -warnaserror+ -r:System.dll -r:System.Core.dll \
    -out:"$work/DemoTest.exe" "$here/OAuthMail.cs" "$here/DemoTest.cs"
# Mono maps DllImport("oauthmail") to liboauthmail.so by itself (lib prefix, .so suffix) through
# LD_LIBRARY_PATH; the dllmap pins it to the library just built, whatever else is on the path.
cat > "$work/DemoTest.exe.config" <<XML
<configuration>
  <dllmap dll="oauthmail" target="$lib_dir/liboauthmail.so" os="linux"/>
</configuration>
XML

# The om_message layout as the C compiler sees it, for the program to compare with its struct.
cat > "$work/layout.c" <<'C'
#include <stdio.h>
#include <stddef.h>
#include "oauthmail.h"
int main(void) {
    printf("sizeof=%zu uid=%zu uidvalidity=%zu resync=%zu size=%zu internal_date=%zu folder=%zu flags=%zu uidl=%zu parsed_json=%zu\n",
           sizeof(om_message), offsetof(om_message, uid), offsetof(om_message, uidvalidity),
           offsetof(om_message, resync), offsetof(om_message, size), offsetof(om_message, internal_date),
           offsetof(om_message, folder), offsetof(om_message, flags), offsetof(om_message, uidl),
           offsetof(om_message, parsed_json));
    return 0;
}
C
gcc -std=c11 -Wall -Wextra -Werror -I include "$work/layout.c" -o "$work/layout"
OM_TEST_C_LAYOUT=$("$work/layout")

# --- the sandbox ------------------------------------------------------------------------------
source scripts/sandbox-env.sh "$work"
echo "== sandbox OAuth2 server at $SANDBOX_ISSUER"
bash tests/sandbox/mail/start.sh "$work/mail" "$work/oauth.json" "$work/pki" > "$work/mail.json"
trap 'bash tests/sandbox/mail/stop.sh "$work/mail" >/dev/null 2>&1 || true; sandbox_stop' EXIT
mj() { node -p "require('./$work/mail.json').$1"; }
OM_TEST_IMAPS_PORT=$(mj imaps_port)
OM_TEST_SUBMISSION_PORT=$(mj submission_port)
OM_TEST_SINK_DIR=$(mj sink_dir)
maildir_root=$(mj maildir_root)
echo "== mail sandbox: IMAPS $OM_TEST_IMAPS_PORT, submission (STARTTLS) $OM_TEST_SUBMISSION_PORT"
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test "$seeded" --seed 7 >/dev/null
# The OAuth2 server's counters (GET /_test/stats), for the token store checks:
#   node stats.mjs refresh_token   -> the number of refresh_token requests so far
cp tests/sandbox/token-stats.mjs "$work/stats.mjs"
echo "== seeded $seeded messages for alice@example.test"
# The service account scenario's user (the key file: SANDBOX_SA_KEY_FILE from sandbox-env.sh).
sa_user=dotnet-sa@example.test
sa_seeded=2
sa_seed=22
python3 tests/sandbox/mail/seed.py "$maildir_root" "$sa_user" "$sa_seeded" --seed "$sa_seed" --subject-prefix Relance >/dev/null
echo "== seeded $sa_seeded messages for $sa_user (the service account's user; key $SANDBOX_SA_KEY_FILE)"

# The browsing scenario's mailbox (read through the service account too): 3 plain messages and
# a facture with an inline image and a PDF attached, its names in RFC 2047 / RFC 2231 words
# (UTF-8 and ISO-8859-1). The program delivers one more itself (seed.py) while it waits for mail.
browse_user=dotnet-browse@example.test
browse_seeded=3
sed "s/@BROWSE_USER@/$browse_user/" tests/sandbox/mail/facture.eml.in >"$work/facture.eml"
python3 tests/sandbox/mail/seed.py "$maildir_root" "$browse_user" "$browse_seeded" --seed 32 --subject-prefix Liste \
  --eml "$work/facture.eml" >/dev/null
echo "== seeded $browse_seeded messages and a facture with attachments for $browse_user (browsing, through the service account)"

# The Graph scenario's mailbox, seeded through the Graph emulator's test endpoint.
graph_user=dotnet-graph@example.test
graph_seeded=3
# node graph.mjs METHOD PATH [JSON-BODY]: the Graph emulator's /_test/ endpoints (answer on stdout)
cp tests/sandbox/graph-test.mjs "$work/graph.mjs"
seed=$(node -e '
const [user, n] = process.argv.slice(1);
const messages = [];
for (let i = 1; i <= Number(n); i++)
  messages.push({ mime: `From: Sender <sender@example.test>\r\nTo: ${user}\r\nSubject: Proposition ${i}\r\n` +
    `Message-ID: <dotnet-graph-${i}@example.test>\r\nDate: Tue, 01 Dec 2026 10:0${i}:00 +0000\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nProposition ${i}.\r\n` });
console.log(JSON.stringify({ mailbox: user, folder: "inbox", messages }));' "$graph_user" "$graph_seeded")
node "$work/graph.mjs" POST /_test/seed "$seed" >/dev/null
echo "== seeded $graph_seeded messages for $graph_user in the Graph emulator ($GRAPH_URL)"
sink_before=$(find "$OM_TEST_SINK_DIR" -name '*.eml' | wc -l)

export OM_TEST_IMAPS_PORT OM_TEST_SUBMISSION_PORT OM_TEST_SINK_DIR OM_TEST_C_LAYOUT
export OM_TEST_SEEDED=$seeded OM_TEST_WORKDIR=$PWD/$work
export OM_TEST_BROWSER_JS=$PWD/tests/sandbox/browser.mjs OM_TEST_STATS_JS=$PWD/$work/stats.mjs
export OM_TEST_GRAPH_URL=$GRAPH_URL OM_TEST_GRAPH_USER=$graph_user OM_TEST_GRAPH_SEEDED=$graph_seeded
export OM_TEST_SA_USER=$sa_user OM_TEST_SA_SEEDED=$sa_seeded OM_TEST_SA_SEED=$sa_seed
export OM_TEST_BROWSE_USER=$browse_user OM_TEST_BROWSE_SEEDED=$browse_seeded
export OM_TEST_MAILDIR_ROOT=$maildir_root OM_TEST_SEED_PY=$PWD/tests/sandbox/mail/seed.py
export LD_LIBRARY_PATH=$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

echo "== running DemoTest.exe with mono"
t0=$(date +%s)
set +e
timeout 300 mono --debug "$work/DemoTest.exe" 2>&1 | tee "$work/output.txt"
rc=${PIPESTATUS[0]}
set -e
echo "== mono exited with $rc after $(( $(date +%s) - t0 ))s"

sink_after=$(find "$OM_TEST_SINK_DIR" -name '*.eml' | wc -l)
sent=$(( sink_after - sink_before ))
if [ "$sent" -ne 5 ]; then
  echo "run_test: the SMTP sink received $sent message(s), expected 5 (Send, SendRaw, SendBatch of 2, the service account's Send)" >&2
  rc=1
else
  echo "== the SMTP sink received the 5 messages sent (Send, SendRaw, SendBatch of 2, the service account's Send)"
fi
# The service account's message: its user is the envelope sender.
sa_from=$( (grep -lF "\"mail_from\": \"$sa_user\"" "$OM_TEST_SINK_DIR"/*.json || true) | wc -l)
if [ "$sa_from" -ne 1 ]; then
  echo "run_test: the SMTP sink holds $sa_from message(s) with envelope sender $sa_user, expected 1" >&2
  rc=1
else
  echo "== the service account's message reached the sink with envelope sender $sa_user"
fi
# What was sent through Graph: the emulator keeps it in the mailbox's Sent Items (the emulator
# has no SMTP sink: the count above is the SMTP sends only).
if node "$work/graph.mjs" GET "/_test/mailbox?mailbox=$graph_user&folder=sentitems" >"$work/graph-sentitems.json"; then
  graph_subjects=$(node -e 'for (const m of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) console.log(m.subject)' \
    "$work/graph-sentitems.json")
else
  graph_subjects="(the emulator did not answer)"
fi
if [ "$graph_subjects" = "Devis n°42 – société Élan (Graph)" ]; then
  echo "== the message sent through Graph is in $graph_user's Sent Items: '$graph_subjects'"
else
  echo "run_test: $graph_user's Sent Items in the Graph emulator: '$graph_subjects', expected the message sent through Graph" >&2
  rc=1
fi
last_line=$(tail -n 1 "$work/output.txt")
[[ $last_line =~ ^[0-9]+\ passed,\ 0\ failed$ ]] || rc=1
echo "== $( [ "$rc" -eq 0 ] && echo PASSED || echo FAILED ) in $(( $(date +%s) - start ))s"
exit "$rc"
