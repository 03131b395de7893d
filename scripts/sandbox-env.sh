# Sourced by scripts: starts the local sandbox (the test OAuth2 server on 127.0.0.1) and
# exports its endpoints. Usage: source scripts/sandbox-env.sh WORKDIR
# Sets SANDBOX_ISSUER, SANDBOX_AUTHORIZE_URL, SANDBOX_TOKEN_URL, SANDBOX_DEVICE_URL,
# SANDBOX_REVOCATION_URL, SANDBOX_CA_FILE, SANDBOX_PID; stops the server on exit.
sandbox_dir=$1
mkdir -p "$sandbox_dir"
bash tests/sandbox/make-certs.sh "$sandbox_dir/pki" >/dev/null
SANDBOX_PID=
trap 'kill $SANDBOX_PID 2>/dev/null || true' EXIT
# a start that hangs (seen once on a loaded machine) is killed and tried again: 3 tries of 120 s
for _sb_try in 1 2 3; do
  rm -f "$sandbox_dir/oauth.json"
  node tests/sandbox/oauth-server.mjs --port 0 --certs "$sandbox_dir/pki" \
    --state-file "$sandbox_dir/oauth.json" --no-stdin-watch 2>"$sandbox_dir/oauth.log" >/dev/null &
  SANDBOX_PID=$!
  for _ in $(seq 1 1200); do
    [ -s "$sandbox_dir/oauth.json" ] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$sandbox_dir/oauth.log" >&2; echo "the sandbox OAuth2 server did not start" >&2; exit 1; }
    sleep 0.1
  done
  [ -s "$sandbox_dir/oauth.json" ] && break
  echo "the sandbox OAuth2 server did not start in 120 s (try $_sb_try of 3)" >&2
  kill "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
done
[ -s "$sandbox_dir/oauth.json" ] || { echo "the sandbox OAuth2 server did not start (3 tries)" >&2; exit 1; }
_sb() { node -p "JSON.parse(require('fs').readFileSync('$sandbox_dir/oauth.json','utf8'))['$1']"; }
SANDBOX_ISSUER=$(_sb issuer)
SANDBOX_AUTHORIZE_URL=$(_sb authorization_endpoint)
SANDBOX_TOKEN_URL=$(_sb token_endpoint)
SANDBOX_DEVICE_URL=$(_sb device_authorization_endpoint)
SANDBOX_REVOCATION_URL=$(_sb revocation_endpoint)
SANDBOX_CA_FILE=$sandbox_dir/pki/ca.pem
export SANDBOX_ISSUER SANDBOX_AUTHORIZE_URL SANDBOX_TOKEN_URL SANDBOX_DEVICE_URL SANDBOX_REVOCATION_URL SANDBOX_CA_FILE SANDBOX_PID
