#!/usr/bin/env bash
# tests/c/run.sh -- builds liboauthmail (debug), starts the sandbox OAuth2 server and the
# Microsoft Graph emulator (scripts/sandbox-env.sh), seeds the Graph scenario's mailbox, compiles
# tests/c/test_capi.c against include/oauthmail.h only, runs it under valgrind, then checks what
# it sent through Graph in the emulator.
#
# Exit status: the test program's (0 ok, 1 failed checks, 2 bad environment; 1 also when the
# message sent through Graph is not in the emulator), 99 when valgrind found errors or
# definite/indirect leaks, other non-zero for setup failures.
# Env: VALGRIND=0 runs the program without valgrind (quick local iteration only).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

need() { # need PROGRAM DEBIAN-PACKAGE
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "run.sh: '$1' is required but not installed: apt-get install $2" >&2
    exit 3
  fi
}
need gcc gcc
need valgrind valgrind
need node nodejs
need openssl openssl
need cargo cargo
need curl curl
if [ ! -d tests/sandbox/node_modules/oidc-provider ]; then
  echo "run.sh: the sandbox server is not installed: npm ci --prefix tests/sandbox" >&2
  exit 3
fi

start=$(date +%s)
echo "== cargo build"
cargo build --quiet

out=target/c-test
mkdir -p "$out"
echo "== sandbox: OAuth2 server and Microsoft Graph emulator (certificates in $out/pki)"
# scripts/sandbox-env.sh makes the PKI, starts both servers (3 tries each), exports their
# endpoints and stops both on exit (sandbox_stop, from the EXIT trap below too)
SANDBOX_ENV_FAIL_STATUS=4
source scripts/sandbox-env.sh "$out"
state=$out/oauth.json
trap sandbox_stop EXIT
trap 'exit 130' INT TERM

# The endpoints, as shell assignments (values are shell-quoted by node).
eval "$(node -e '
  const fs = require("fs");
  const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const q = (v) => "'"'"'" + String(v).replace(/'"'"'/g, "'"'"'\\'"'"''"'"'") + "'"'"'";
  const browser = ["node", process.argv[2], "--ca", s.ca_file];
  const vars = {
    OM_TEST_ISSUER: s.issuer,
    OM_TEST_AUTHORIZE_URL: s.authorization_endpoint,
    OM_TEST_TOKEN_URL: s.token_endpoint,
    OM_TEST_DEVICE_URL: s.device_authorization_endpoint,
    OM_TEST_REVOCATION_URL: s.revocation_endpoint,
    OM_TEST_CA_FILE: s.ca_file,
    OM_TEST_BROWSER: JSON.stringify(browser),
  };
  for (const [k, v] of Object.entries(vars)) console.log(`export ${k}=${q(v)}`);
' "$state" "$repo/tests/sandbox/browser.mjs")"
echo "   issuer $OM_TEST_ISSUER, Graph emulator $GRAPH_URL"

# The Graph scenario's mailbox: 3 messages seeded in its Inbox through the emulator's test
# endpoint; the program fetches them through Graph and sends one (checked in sentitems below).
graph_user=graph-c@example.test
graph() { # graph METHOD PATH [BODY-FILE]: the emulator's /_test/ endpoints, answer on stdout
  curl -sS --fail-with-body --max-time 60 --cacert "$SANDBOX_CA_FILE" -X "$1" \
    ${3:+-H 'Content-Type: application/json' --data-binary "@$3"} "$GRAPH_ROOT$2"
}
{
  printf '{"mailbox": "%s", "folder": "inbox", "messages": [' "$graph_user"
  for i in 1 2 3; do
    [ "$i" = 1 ] || printf ', '
    printf '{"mime": "From: Sender <sender@example.test>\\r\\nTo: %s\\r\\nSubject: Graph C %s\\r\\nMessage-ID: <graph-c-%s@example.test>\\r\\nDate: Tue, 01 Dec 2026 10:0%s:00 +0000\\r\\nMIME-Version: 1.0\\r\\nContent-Type: text/plain; charset=utf-8\\r\\n\\r\\nMessage %s, seeded for the C test.\\r\\n"}' \
      "$graph_user" "$i" "$i" "$i" "$i"
  done
  printf ']}\n'
} >"$out/graph-seed.json"
if ! graph POST /_test/seed "$out/graph-seed.json" >"$out/graph-seed.out"; then
  echo "run.sh: seeding the Graph emulator failed:" >&2
  cat "$out/graph-seed.out" "$out/graph.log" >&2
  exit 4
fi
export OM_TEST_GRAPH_URL=$GRAPH_URL OM_TEST_GRAPH_USER=$graph_user

echo "== compile tests/c/test_capi.c"
gcc -std=c11 -Wall -Wextra -Werror -pedantic -g -I include tests/c/test_capi.c \
  -L target/debug -loauthmail -lpthread -o "$out/test_capi"

export LD_LIBRARY_PATH="$repo/target/debug${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
status=0
if [ "${VALGRIND:-1}" = 0 ]; then
  echo "== run (without valgrind)"
  "$out/test_capi" || status=$?
else
  echo "== run under valgrind (log: $out/valgrind.log)"
  valgrind --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --track-origins=yes --num-callers=40 --suppressions="$here/valgrind.supp" \
    --log-file="$out/valgrind.log" "$out/test_capi" || status=$?
  # the summary, and every reported error, on the console too
  sed -n '/ERROR SUMMARY\|definitely lost\|indirectly lost\|possibly lost\|still reachable/p' \
    "$out/valgrind.log" | sed 's/^==[0-9]*== /valgrind: /'
  if [ "$status" = 99 ]; then
    echo "run.sh: valgrind reported errors or leaks (exit 99):" >&2
    cat "$out/valgrind.log" >&2
  fi
fi
# what the program sent through Graph is in the mailbox's Sent Items (the emulator keeps it)
if graph GET "/_test/mailbox?mailbox=$graph_user&folder=sentitems" >"$out/graph-sentitems.json" &&
  grep -qF '"internetMessageId":"<graph-c-sent@example.test>"' "$out/graph-sentitems.json"; then
  echo "ok - (run.sh) the message sent through Graph is in the emulator's sentitems of $graph_user"
else
  echo "not ok - (run.sh) the message sent through Graph is not in the emulator's sentitems of $graph_user:"
  sed 's/^/#   /' "$out/graph-sentitems.json"
  [ "$status" != 0 ] || status=1
fi
echo "== exit status $status, $(($(date +%s) - start)) s"
exit "$status"
