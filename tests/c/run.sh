#!/usr/bin/env bash
# tests/c/run.sh -- builds liboauthmail (debug), starts the sandbox OAuth2 server, compiles
# tests/c/test_capi.c against include/oauthmail.h only and runs it under valgrind.
#
# Exit status: the test program's (0 ok, 1 failed checks, 2 bad environment), 99 when valgrind
# found errors or definite/indirect leaks, other non-zero for setup failures.
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
if [ ! -d tests/sandbox/node_modules/oidc-provider ]; then
  echo "run.sh: the sandbox server is not installed: npm ci --prefix tests/sandbox" >&2
  exit 3
fi

start=$(date +%s)
echo "== cargo build"
cargo build --quiet

out=target/c-test
pki=$out/pki
mkdir -p "$out"
echo "== certificates in $pki"
bash tests/sandbox/make-certs.sh "$pki"

state=$out/sandbox-state.json
echo "== sandbox server"
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a start that hangs (seen on a loaded machine) is killed and tried again: 3 tries of 120 s
for attempt in 1 2 3; do
  rm -f "$state"
  node tests/sandbox/oauth-server.mjs --port 0 --certs "$pki" --state-file "$state" \
    --no-stdin-watch >"$out/sandbox.stdout" 2>"$out/sandbox.log" </dev/null &
  server_pid=$!
  for _ in $(seq 1 1200); do # at most 120 s
    [ -s "$state" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "run.sh: the sandbox server exited:" >&2
      cat "$out/sandbox.log" >&2
      exit 4
    fi
    sleep 0.1
  done
  [ -s "$state" ] && break
  echo "run.sh: the sandbox server did not write $state within 120 s (try $attempt of 3)" >&2
  cat "$out/sandbox.log" >&2
  cleanup
done
if [ ! -s "$state" ]; then
  echo "run.sh: the sandbox server did not start (3 tries)" >&2
  exit 4
fi

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
echo "   issuer $OM_TEST_ISSUER"

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
echo "== exit status $status, $(($(date +%s) - start)) s"
exit "$status"
