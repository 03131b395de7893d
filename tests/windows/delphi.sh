#!/usr/bin/env bash
# tests/windows/delphi.sh -- the Delphi binding (bindings/delphi/OAuthMail.pas) on Windows, under
# Wine: bindings/delphi/demo_test.dpr (mode Delphi) and objfpc_test.pp cross-compiled by Free
# Pascal for Win64 and Win32 (the RTL of scripts/fpc-windows.sh), then run against oauthmail.dll
# and the sandbox that scripts/test-windows.sh started -- the same program and the same checks as
# bindings/delphi/run_test.sh on Linux, with Windows paths, LoadLibraryExW and oauthmail.dll.
# Called by scripts/test-windows.sh (its "Delphi" block), after the harness.
#
# Per architecture (x86_64: Win64, i686: Win32), in target/windows/test/delphi/<arch>/:
#   - demo_test.exe and objfpc_test.exe compiled (demo_test with run_test.sh's options); neither
#     imports oauthmail.dll (the unit loads it on first use); OAuthMail.pas compiles without a
#     warning; oauthmail.dll and the ProcessPrng shim beside them, as the harness has them (the
#     shim also carries tests/windows/wine_crypt32_fix.c, see below);
#   - om_message's layout from the mingw C compiler of that architecture (OM_C_LAYOUT);
#   - objfpc_test.exe alone in a directory (no DLL): EOAuthMailLibrary; then beside the DLL;
#   - tests/windows/delphi_loader.dpr, the unit's Windows loading path in a deployment's
#     situations, one directory each: the DLL of the other bitness beside the .exe, a DLL it
#     imports missing, LoadLibrary with a '/' path and a relative one, kernel32.dll, a non-ASCII
#     folder, the DLL found on PATH;
#   - demo_test.exe with run_test.sh's environment (Windows paths): its own ok/not ok lines, then
#     what the SMTP sink received (4 messages: Send, SendRaw, SendBatch's accepted one, the
#     service account's), the subject decoded, the service account's message, and what was sent
#     through Graph (the emulator's sentitems).
# Each architecture has its own users (service account, browsing, Graph), seeded here as
# run_test.sh seeds them; alice@example.test's INBOX is test-windows.sh's ($OMW_SEEDED messages).
# The two programs run one after the other (the checks count the OAuth2 server's refreshes).
#
# Windows programs start host programs by name (demo_test: `node stats.mjs`, `python3 seed.py`,
# browser_command ["node", browser.mjs]): tests/windows/unixcmd.c stands in for them on the
# Windows PATH (WINEPATH) and tests/windows/unixcmd.py runs them on the host (read why there).
# The settings reach the programs through tests/windows/envrun.c (a file: the 32-bit Wine may be
# scripts/wine32-root.sh's chroot wrapper, which passes only WINE*, OMW_* and TZ).
#
# Env (from scripts/test-windows.sh): OMW_WORK (its work directory: <arch>/oauthmail.dll), WINE64,
# WINE32, WINEPREFIX, OMW_WINE32_PREFIX (the 32-bit prefix when WINE32 has its own; empty:
# WINEPREFIX), OMW_WHY32 (why there is no 32-bit Wine; empty when
# there is one), OMW_IMAPS_PORT, OMW_SUBMISSION_PORT, OMW_SINK_DIR, OMW_MAILDIR_ROOT, OMW_SEEDED,
# SANDBOX_* and GRAPH_URL/GRAPH_ROOT (scripts/sandbox-env.sh), the function winpath (exported;
# defined here the same way otherwise); OMW_FPC_WIN_DIR (default target/fpc-win).
# Prints "ok - ..." / "not ok - ..." lines and a final "N passed, M failed"; exit 0 or 1.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
t_all=$(date +%s)

passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
finish() { echo "# delphi: $(($(date +%s) - t_all)) s"; echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit; }
declare -F winpath >/dev/null || winpath() { local p=${1//\//\\}; printf 'Z:%s' "$p"; }

for v in OMW_WORK WINE64 WINE32 WINEPREFIX OMW_IMAPS_PORT OMW_SUBMISSION_PORT OMW_SINK_DIR OMW_MAILDIR_ROOT \
  OMW_SEEDED SANDBOX_AUTHORIZE_URL SANDBOX_TOKEN_URL SANDBOX_REVOCATION_URL SANDBOX_CA_FILE SANDBOX_SA_KEY_FILE \
  SANDBOX_ISSUER GRAPH_URL GRAPH_ROOT; do
  [ -n "${!v:-}" ] || { not_ok "delphi.sh: environment variable $v is not set (run by scripts/test-windows.sh)"; finish; }
done
fpcwin=${OMW_FPC_WIN_DIR:-$repo/target/fpc-win}
if [ ! -x "$fpcwin/bin/fpc-win64" ] || [ ! -x "$fpcwin/bin/fpc-win32" ]; then
  not_ok "Free Pascal's Windows RTL in $fpcwin (bash scripts/fpc-windows.sh builds it)"
  finish
fi
node=$(command -v node) python=$(python3 -c 'import sys; print(sys.executable)')
d=$OMW_WORK/delphi
rm -rf "$d"
mkdir -p "$d/spool"
declare -A TGT=([x86_64]=win64 [i686]=win32) WINE=([x86_64]=$WINE64 [i686]=$WINE32)
declare -A PREFIX=([x86_64]=$WINEPREFIX [i686]=${OMW_WINE32_PREFIX:-$WINEPREFIX})
# per architecture: its own users (the browsing scenario moves and adds messages)
declare -A SHORT=([x86_64]=w64 [i686]=w32)

# --- compile ---------------------------------------------------------------------------------------
cat >"$d/layout.c" <<'C'
#include <stdio.h>
#include <stddef.h>
#include "oauthmail.h"
int main(void) {
  printf("%u,%u,%u,%u,%u,%u,%u,%u,%u,%u\n", (unsigned)sizeof(om_message),
         (unsigned)offsetof(om_message, uid), (unsigned)offsetof(om_message, uidvalidity),
         (unsigned)offsetof(om_message, resync), (unsigned)offsetof(om_message, size),
         (unsigned)offsetof(om_message, internal_date), (unsigned)offsetof(om_message, folder),
         (unsigned)offsetof(om_message, flags), (unsigned)offsetof(om_message, uidl),
         (unsigned)offsetof(om_message, parsed_json));
  return 0;
}
C
built=()
for a in x86_64 i686; do
  m=$a-w64-mingw32 b=$d/$a t0=$(date +%s)
  mkdir -p "$b/units" "$b/units-objfpc" "$b/units-loader" "$b/unixbin" "$b/wd" "$b/nodll"
  if [ ! -f "$OMW_WORK/$a/oauthmail.dll" ]; then
    not_ok "[$a delphi] $OMW_WORK/$a/oauthmail.dll is there"; continue
  fi
  cp "$OMW_WORK/$a/oauthmail.dll" "$b/"
  # the helpers (C, mingw): the ProcessPrng shim carrying the Wine crypt32 fix (below), host
  # program stand-ins, the environment launcher, the C layout of om_message.
  # The harness links tests/windows/wine_crypt32_fix.c into its .exe, whose constructor patches
  # oauthmail.dll's imports at start-up: the DLL is linked, so it is loaded by then. These
  # programs load the DLL on first use, so the fix rides in the shim instead: the loader attaches
  # bcryptprimitives.dll (an import of oauthmail.dll) after binding oauthmail.dll's imports and
  # before its DllMain -- the fix's constructor then finds the DLL and patches it, at first use.
  if ! { $m-gcc -std=c11 -O1 -Wall -Wextra -Werror -shared -Wl,--enable-stdcall-fixup -o "$b/bcryptprimitives.dll" \
           tests/windows/bcryptprimitives_shim.c tests/windows/wine_crypt32_fix.c tests/windows/bcryptprimitives_shim.def \
           -lbcrypt -lws2_32 -lcrypt32 &&
         $m-gcc -std=c11 -municode -Wall -Wextra -Werror -O1 tests/windows/unixcmd.c -o "$b/unixbin/node.exe" &&
         cp "$b/unixbin/node.exe" "$b/unixbin/python3.exe" &&
         $m-gcc -std=c11 -municode -Wall -Wextra -Werror -O1 tests/windows/envrun.c -o "$b/envrun.exe" &&
         $m-gcc -std=c11 -Wall -Wextra -Werror -O1 -Iinclude "$d/layout.c" -o "$b/layout.exe"; } >"$b/helpers.log" 2>&1; then
    not_ok "[$a delphi] the helpers (the shim with wine_crypt32_fix.c, unixcmd.c, envrun.c, layout.c) build with $m-gcc"
    sed 's/^/#   /' "$b/helpers.log" | tail -10; continue
  fi
  # demo_test.dpr: run_test.sh's command line, for Windows
  if ! "$fpcwin/bin/fpc-${TGT[$a]}" -Mdelphi -vew -Sh -O1 -Fu"$repo/bindings/delphi" -FU"$b/units" \
      -o"$b/demo_test.exe" "$repo/bindings/delphi/demo_test.dpr" >"$b/fpc.log" 2>&1; then
    not_ok "[$a delphi] demo_test.dpr compiles for ${TGT[$a]} (mode Delphi)"
    grep -E 'Error|Fatal' "$b/fpc.log" | sed 's/^/#   /' | tail -15; continue
  fi
  unit_warnings=$(grep -E '^OAuthMail\.pas\(.*(Warning|Error)' "$b/fpc.log" || true)
  [ -z "$unit_warnings" ] &&
    ok "[$a delphi] demo_test.dpr compiled for ${TGT[$a]} (fpc -Mdelphi -O1), OAuthMail.pas without a warning" ||
    { not_ok "[$a delphi] OAuthMail.pas compiles for ${TGT[$a]} without a warning"; sed 's/^/#   /' <<<"$unit_warnings" | tail -10; }
  # objfpc_test.pp: the README's command line (plain mode objfpc), for Windows
  if ! "$fpcwin/bin/fpc-${TGT[$a]}" -Fu"$repo/bindings/delphi" -FU"$b/units-objfpc" -o"$b/objfpc_test.exe" \
      "$repo/bindings/delphi/objfpc_test.pp" >"$b/fpc-objfpc.log" 2>&1; then
    not_ok "[$a delphi] objfpc_test.pp compiles for ${TGT[$a]}"
    grep -E 'Error|Fatal' "$b/fpc-objfpc.log" | sed 's/^/#   /' | tail -15; continue
  fi
  cp "$b/objfpc_test.exe" "$b/nodll/"
  # tests/windows/delphi_loader.dpr: the unit's Windows loading path (LoadLibraryExW and its errors)
  if ! "$fpcwin/bin/fpc-${TGT[$a]}" -Mdelphi -vew -O1 -Fu"$repo/bindings/delphi" -FU"$b/units-loader" \
      -o"$b/delphi_loader.exe" "$repo/tests/windows/delphi_loader.dpr" >"$b/fpc-loader.log" 2>&1; then
    not_ok "[$a delphi] tests/windows/delphi_loader.dpr compiles for ${TGT[$a]}"
    grep -E 'Error|Fatal' "$b/fpc-loader.log" | sed 's/^/#   /' | tail -15; continue
  fi
  # neither program may import the DLL: it is loaded on first use (LoadLibraryExW)
  imports_ok=1
  for exe in demo_test objfpc_test; do
    imports=$($m-objdump -p "$b/$exe.exe" | awk '/DLL Name:/ { print $3 }' | tr '\n' ' ')
    case " ${imports,,}" in
      *" oauthmail.dll "*) not_ok "[$a delphi] $exe.exe imports oauthmail.dll (it must load it on first use): $imports"; imports_ok=0 ;;
    esac
  done
  [ "$imports_ok" = 1 ] && ok "[$a delphi] neither .exe imports oauthmail.dll (the unit loads it on first use; imports: $imports)"
  built+=("$a")
  echo "# delphi $a: compiled in $(($(date +%s) - t0)) s"
done

# --- the host side: programs the Windows side starts, the sandbox's helper scripts ---------------
python3 tests/windows/unixcmd.py "$d/spool" "$d/unixcmd.log" node="$node" python3="$python" &
unixcmd_pid=$!
trap 'kill "$unixcmd_pid" 2>/dev/null; wait "$unixcmd_pid" 2>/dev/null' EXIT
: >"$d/unixcmd.log"
# node stats.mjs GRANT: the OAuth2 server's count of token requests of a grant (run_test.sh's)
cp tests/sandbox/token-stats.mjs "$d/stats.mjs"
# node graph.mjs METHOD PATH [JSON-BODY]: the Graph emulator's /_test/ endpoints (run_test.sh's)
cp tests/sandbox/graph-test.mjs "$d/graph.mjs"

# --- run ---------------------------------------------------------------------------------------------
sa_seeded=2 sa_seed=21 browse_seeded=3 graph_seeded=3
# prefix ARCH: the program's ok/not ok lines, labelled; its summary line left out
relabel() { tr -d '\r' | grep -vE '^[0-9]+ passed, [0-9]+ failed$' | sed "s/^\(not ok\|ok\) - /\1 - [$1 delphi] /"; }
# fold LOG ARCH WHAT RC: the program's summary into the counts (a missing one is a failure)
fold() {
  local summary p f
  summary=$(tr -d '\r' <"$1" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
  if [ -z "$summary" ]; then
    not_ok "[$2 delphi] $3 ran to the end (exit $4; stderr: $(head -c 600 "${1%.*}.err" | tr '\n' ' '))"; return
  fi
  p=${summary%% passed*} f=${summary#*passed, } f=${f%% failed*}
  passed=$((passed + p)) failed=$((failed + f))
  [ "$4" = 0 ] || [ "$f" != 0 ] || not_ok "[$2 delphi] $3 exit status $4 with no failed check"
}
sink_files() { find "$OMW_SINK_DIR" -name '*.json' -printf '%f\n' 2>/dev/null | sort; }

for a in "${built[@]}"; do
  b=$d/$a wine=${WINE[$a]} s=${SHORT[$a]}
  if [ "$a" = i686 ] && [ -n "${OMW_WHY32:-}" ]; then
    not_ok "[i686 delphi] demo_test.exe and objfpc_test.exe under 32-bit Wine: $OMW_WHY32"; continue
  fi
  run() { # run NAME EXE [ARGS...]: in the program's directory, with env.txt; output in NAME.{log,err}
    # (WINEPATH: the host-program stand-ins, or $run_path)
    local name=$1; shift
    (cd "$(dirname "$1")" && WINEPREFIX=${PREFIX[$a]} WINEPATH=${run_path:-$(winpath "$b/unixbin")} \
      OMW_UNIXCMD_SPOOL=$(winpath "$d/spool") timeout 600 "$wine" "$b/envrun.exe" "$(winpath "$b/env.txt")" \
      "$(winpath "$1")" "${@:2}" >"$b/$name.log" 2>"$b/$name.err" </dev/null)
  }
  t0=$(date +%s)
  echo "== Delphi binding, $a (${TGT[$a]}) under Wine"
  : >"$b/env.txt"
  layout=$(cd "$b" && WINEPREFIX=${PREFIX[$a]} timeout 120 "$wine" "$b/layout.exe" 2>"$b/layout.err" </dev/null | tr -d '\r')
  [[ $layout =~ ^[0-9]+(,[0-9]+){9}$ ]] ||
    { not_ok "[$a delphi] layout.exe (mingw) prints om_message's layout ('$layout'; $(head -c 300 "$b/layout.err"))"; continue; }
  echo "# om_message layout according to $a-w64-mingw32-gcc: $layout"

  # objfpc_test: alone (no DLL next to it, none in the system's search), then beside the DLL
  run objfpc-missing "$b/nodll/objfpc_test.exe" missing
  rc=$?
  relabel "$a" <"$b/objfpc-missing.log"
  fold "$b/objfpc-missing.log" "$a" "objfpc_test.exe missing" "$rc"
  run objfpc "$b/objfpc_test.exe"
  rc=$?
  relabel "$a" <"$b/objfpc.log"
  fold "$b/objfpc.log" "$a" "objfpc_test.exe" "$rc"

  # the unit's loader in the situations of a deployment (tests/windows/delphi_loader.dpr); an
  # empty env.txt: these need no settings
  L=$b/loader other=x86_64
  [ "$a" = x86_64 ] && other=i686
  nonascii="$L/Société ü 日本"
  mkdir -p "$L/other" "$L/noimport" "$L/explicit/lib" "$nonascii" "$L/path/exe" "$L/path/lib"
  for dir in other noimport explicit path/exe; do cp "$b/delphi_loader.exe" "$L/$dir/"; done
  cp "$b/delphi_loader.exe" "$b/oauthmail.dll" "$b/bcryptprimitives.dll" "$nonascii/"
  cp "$OMW_WORK/$other/oauthmail.dll" "$L/other/"
  cp "$b/oauthmail.dll" "$L/noimport/"  # without bcryptprimitives.dll (Wine 8 lacks it)
  cp "$b/oauthmail.dll" "$b/bcryptprimitives.dll" "$L/explicit/lib/"
  cp "$b/oauthmail.dll" "$b/bcryptprimitives.dll" "$L/path/lib/"
  loader() { # loader NAME EXE ARGS...
    local name=$1 rc
    run "$@"
    rc=$?
    relabel "$a" <"$b/$name.log"
    fold "$b/$name.log" "$a" "delphi_loader.exe ${3:-}" "$rc"
  }
  loader loader-other "$L/other/delphi_loader.exe" other-bitness
  loader loader-noimport "$L/noimport/delphi_loader.exe" missing-import
  loader loader-explicit-slash "$L/explicit/delphi_loader.exe" explicit "$(winpath "$L/explicit/lib/oauthmail.dll" | tr '\\' /)" \
    "$(winpath "$L/explicit/lib/oauthmail.dll")"
  loader loader-explicit-relative "$L/explicit/delphi_loader.exe" explicit 'lib/oauthmail.dll' "$(winpath "$L/explicit/lib/oauthmail.dll")"
  loader loader-kernel32 "$b/delphi_loader.exe" kernel32
  loader loader-nonascii "$nonascii/delphi_loader.exe" beside
  run_path="$(winpath "$b/unixbin");$(winpath "$L/path/lib")" loader loader-path "$L/path/exe/delphi_loader.exe" path \
    "$(winpath "$L/path/lib/oauthmail.dll")"

  # demo_test's mailboxes (run_test.sh's seeding, users of this architecture)
  sa_user=delphi-sa-$s@example.test browse_user=delphi-browse-$s@example.test graph_user=delphi-graph-$s@example.test
  sed "s/@BROWSE_USER@/$browse_user/" tests/sandbox/mail/facture.eml.in >"$b/facture.eml"
  python3 tests/sandbox/mail/seed.py "$OMW_MAILDIR_ROOT" "$sa_user" $sa_seeded --seed $sa_seed --subject-prefix "Relance" >/dev/null &&
  python3 tests/sandbox/mail/seed.py "$OMW_MAILDIR_ROOT" "$browse_user" $browse_seeded --seed 31 --subject-prefix "Liste" \
    --eml "$b/facture.eml" >/dev/null &&
  node "$d/graph.mjs" POST /_test/seed "$(node -e '
const [user, n] = process.argv.slice(1);
const messages = [];
for (let i = 1; i <= Number(n); i++)
  messages.push({ mime: `From: Sender <sender@example.test>\r\nTo: ${user}\r\nSubject: Commande ${i}\r\n` +
    `Message-ID: <delphi-graph-${i}@example.test>\r\nDate: Tue, 01 Dec 2026 10:0${i}:00 +0000\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCommande ${i}.\r\n` });
console.log(JSON.stringify({ mailbox: user, folder: "inbox", messages }));' "$graph_user" "$graph_seeded")" >/dev/null ||
    { not_ok "[$a delphi] seeding the mailboxes of $sa_user, $browse_user, $graph_user"; continue; }

  # run_test.sh's environment, with Windows paths (the host programs get them back as Unix paths)
  cat >"$b/env.txt" <<EOF
SANDBOX_AUTHORIZE_URL=$SANDBOX_AUTHORIZE_URL
SANDBOX_TOKEN_URL=$SANDBOX_TOKEN_URL
SANDBOX_REVOCATION_URL=$SANDBOX_REVOCATION_URL
SANDBOX_CA_FILE=$(winpath "$SANDBOX_CA_FILE")
SANDBOX_SA_KEY_FILE=$(winpath "$SANDBOX_SA_KEY_FILE")
OM_IMAPS_PORT=$OMW_IMAPS_PORT
OM_SUBMISSION_PORT=$OMW_SUBMISSION_PORT
OM_SEEDED=$OMW_SEEDED
OM_WORKDIR=$(winpath "$b/wd")
OM_C_LAYOUT=$layout
OM_BROWSER_SCRIPT=$(winpath "$repo/tests/sandbox/browser.mjs")
OM_STATS_SCRIPT=$(winpath "$d/stats.mjs")
OM_GRAPH_URL=$GRAPH_URL
OM_GRAPH_USER=$graph_user
OM_GRAPH_SEEDED=$graph_seeded
OM_SA_USER=$sa_user
OM_SA_SEEDED=$sa_seeded
OM_SA_SEED=$sa_seed
OM_BROWSE_USER=$browse_user
OM_BROWSE_SEEDED=$browse_seeded
OM_MAILDIR_ROOT=$(winpath "$OMW_MAILDIR_ROOT")
OM_SEED_SCRIPT=$(winpath "$repo/tests/sandbox/mail/seed.py")
EOF
  before=$(sink_files)
  t1=$(date +%s)
  run demo_test "$b/demo_test.exe"
  rc=$?
  relabel "$a" <"$b/demo_test.log"
  fold "$b/demo_test.log" "$a" "demo_test.exe" "$rc"
  echo "# delphi $a: demo_test.exe ran in $(($(date +%s) - t1)) s"

  # what the sink received from this run: Send + SendRaw + SendBatch (1 of 2) + the service account's
  new=$(comm -13 <(printf '%s\n' "$before") <(sink_files) | sed '/^$/d')
  n=$(sed '/^$/d' <<<"$new" | wc -l)
  [ "$n" = 4 ] && ok "[$a delphi] the SMTP sink received 4 messages from demo_test.exe" ||
    not_ok "[$a delphi] the SMTP sink received $n messages from demo_test.exe, expected 4"
  sent=$(python3 - "$OMW_SINK_DIR" "$sa_user" $new <<'PY'
import email, email.policy, json, os, sys
sink, sa_user, files = sys.argv[1], sys.argv[2], sys.argv[3:]
for f in files:
    meta = json.load(open(os.path.join(sink, f)))
    m = email.message_from_bytes(open(os.path.join(sink, f[:-5] + ".eml"), "rb").read(), policy=email.policy.default)
    if meta.get("mail_from") == sa_user:
        print("sa\t%s | %s | %s" % (m["From"], m["To"], m["Subject"]))
    elif "client@example.test" in str(m["To"]):
        print("client\t%s" % m["Subject"])
PY
)
  subject=$(awk -F'\t' '$1 == "client" { print $2 }' <<<"$sent")
  [ "$subject" = "Devis n°42 – société Élan" ] &&
    ok "[$a delphi] the sink's message decodes to the subject '$subject'" ||
    not_ok "[$a delphi] the sink's message to client@example.test has the subject '$subject'"
  sa_sent=$(awk -F'\t' '$1 == "sa" { print $2 }' <<<"$sent")
  [ "$sa_sent" = "$sa_user | Achats <achats@example.test> | Devis n°42 – société Élan (service account)" ] &&
    ok "[$a delphi] the service account's message reached the sink from $sa_user: '$sa_sent'" ||
    not_ok "[$a delphi] the sink's messages from $sa_user: '$sa_sent'"
  if node "$d/graph.mjs" GET "/_test/mailbox?mailbox=$graph_user&folder=sentitems" >"$b/graph-sentitems.json"; then
    graph_subjects=$(node -e 'for (const m of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) console.log(m.subject)' \
      "$b/graph-sentitems.json")
  else
    graph_subjects="(the emulator did not answer)"
  fi
  [ "$graph_subjects" = "Devis n°42 – société Élan (Graph)" ] &&
    ok "[$a delphi] the message sent through Graph is in $graph_user's sentitems: '$graph_subjects'" ||
    not_ok "[$a delphi] $graph_user's sentitems in the Graph emulator: '$graph_subjects'"
  echo "# delphi $a: $(($(date +%s) - t0)) s under Wine (outputs: $b)"
done
[ -s "$d/unixcmd.log" ] && echo "# host programs started from Wine: $(wc -l <"$d/unixcmd.log") (log: $d/unixcmd.log)"
# the private i386 root's own prefix: its wineserver (test-windows.sh stops the shared one)
[ -z "${OMW_WINE32_PREFIX:-}" ] || WINEPREFIX=$OMW_WINE32_PREFIX "$(dirname "$WINE32")/wineserver" -k >/dev/null 2>&1 || true
finish
