# Sourced by scripts: starts the local sandbox -- the test OAuth2 server and the Microsoft Graph
# emulator (tests/sandbox/graph), both on 127.0.0.1 -- and exports their endpoints.
# Usage: source scripts/sandbox-env.sh WORKDIR        (from the repository's root)
# Sets SANDBOX_ISSUER, SANDBOX_AUTHORIZE_URL, SANDBOX_TOKEN_URL, SANDBOX_DEVICE_URL,
# SANDBOX_REVOCATION_URL, SANDBOX_CA_FILE, SANDBOX_SA_KEY_FILE (the key file of the sandbox's
# Google-style service account, written by the server at start, for an account's
# "service_account_key_file": it may act for any user@example.test, scope "mail"), SANDBOX_PID;
# GRAPH_URL (the emulator's service root, for an account's "graph_url"), GRAPH_ROOT
# (https://127.0.0.1:PORT, for its /_test/ endpoints), GRAPH_PID. Logs: WORKDIR/oauth.log,
# WORKDIR/graph.log.
# Defines sandbox_stop, which stops both servers; an EXIT trap calls it. A script that installs
# its own EXIT trap afterwards must call sandbox_stop from it.
# On failure it exits with $SANDBOX_ENV_FAIL_STATUS (default 1).
sandbox_dir=$1
mkdir -p "$sandbox_dir"
bash tests/sandbox/make-certs.sh "$sandbox_dir/pki" >/dev/null
SANDBOX_PID=
GRAPH_PID=
sandbox_stop() {
  local _sb_pid
  for _sb_pid in ${GRAPH_PID:-} ${SANDBOX_PID:-}; do
    kill "$_sb_pid" 2>/dev/null || true
    wait "$_sb_pid" 2>/dev/null || true
  done
  return 0
}
trap sandbox_stop EXIT
_sb_fail=${SANDBOX_ENV_FAIL_STATUS:-1}

# _sb_start NAME STATE_FILE LOG_FILE COMMAND... : starts COMMAND (a server that writes its JSON
# line to STATE_FILE when it listens) in the background and waits for it; its pid in _sb_pid.
# A start that hangs (seen once on a loaded machine) is killed and tried again: 3 tries of 120 s.
_sb_start() {
  local name=$1 state=$2 log=$3 try
  shift 3
  _sb_pid=
  for try in 1 2 3; do
    rm -f "$state"
    "$@" 2>"$log" >/dev/null </dev/null &
    _sb_pid=$!
    for _ in $(seq 1 1200); do
      [ -s "$state" ] && return 0
      kill -0 "$_sb_pid" 2>/dev/null || { cat "$log" >&2; echo "the $name did not start" >&2; exit "$_sb_fail"; }
      sleep 0.1
    done
    echo "the $name did not start in 120 s (try $try of 3)" >&2
    kill "$_sb_pid" 2>/dev/null || true
    wait "$_sb_pid" 2>/dev/null || true
  done
  echo "the $name did not start (3 tries)" >&2
  exit "$_sb_fail"
}
# _sb_get FILE KEY : a value of a server's JSON line
_sb_get() { node -p "JSON.parse(require('fs').readFileSync(process.argv[1],'utf8'))[process.argv[2]]" "$1" "$2"; }

_sb_start "sandbox OAuth2 server" "$sandbox_dir/oauth.json" "$sandbox_dir/oauth.log" \
  node tests/sandbox/oauth-server.mjs --port 0 --certs "$sandbox_dir/pki" \
  --state-file "$sandbox_dir/oauth.json" --no-stdin-watch
SANDBOX_PID=$_sb_pid
SANDBOX_ISSUER=$(_sb_get "$sandbox_dir/oauth.json" issuer)
SANDBOX_AUTHORIZE_URL=$(_sb_get "$sandbox_dir/oauth.json" authorization_endpoint)
SANDBOX_TOKEN_URL=$(_sb_get "$sandbox_dir/oauth.json" token_endpoint)
SANDBOX_DEVICE_URL=$(_sb_get "$sandbox_dir/oauth.json" device_authorization_endpoint)
SANDBOX_REVOCATION_URL=$(_sb_get "$sandbox_dir/oauth.json" revocation_endpoint)
SANDBOX_CA_FILE=$sandbox_dir/pki/ca.pem
SANDBOX_SA_KEY_FILE=$(_sb_get "$sandbox_dir/oauth.json" service_account_key_file)
[ -s "$SANDBOX_SA_KEY_FILE" ] ||
  { echo "the sandbox OAuth2 server wrote no service account key file ($SANDBOX_SA_KEY_FILE)" >&2; exit "$_sb_fail"; }
export SANDBOX_ISSUER SANDBOX_AUTHORIZE_URL SANDBOX_TOKEN_URL SANDBOX_DEVICE_URL SANDBOX_REVOCATION_URL SANDBOX_CA_FILE SANDBOX_SA_KEY_FILE SANDBOX_PID

# The Graph emulator checks every access token at the OAuth2 server above. No SMTP sink: what is
# sent through it is kept in the sender's "sentitems" (GET $GRAPH_ROOT/_test/mailbox?...).
_sb_start "Microsoft Graph emulator" "$sandbox_dir/graph.json" "$sandbox_dir/graph.log" \
  node tests/sandbox/graph/graph-emulator.mjs --port 0 --certs "$sandbox_dir/pki" \
  --issuer "$SANDBOX_ISSUER" --state-file "$sandbox_dir/graph.json" --no-stdin-watch
GRAPH_PID=$_sb_pid
GRAPH_URL=$(_sb_get "$sandbox_dir/graph.json" base_url)
GRAPH_ROOT=https://127.0.0.1:$(_sb_get "$sandbox_dir/graph.json" port)
export GRAPH_URL GRAPH_ROOT GRAPH_PID
