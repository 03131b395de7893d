#!/usr/bin/env bash
# Self-test of the sandbox authorization server and scripted browser.
#   bash tests/sandbox/selftest.sh        (needs: node >= 20, npm ci done, openssl, curl)
# Development aid only; the real tests are in Rust.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -d "$here/node_modules/oidc-provider" ]; then
  echo "selftest: run 'npm ci --prefix tests/sandbox' first" >&2
  exit 2
fi

work=$(mktemp -d /tmp/oauthmail-sandbox-selftest.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
ok()   { passed=$((passed + 1)); echo "ok   - $*"; }
bad()  { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}

# jget JSON EXPR -- evaluate a JS expression on parsed JSON `j` and print it
jget() { node -e 'const j = JSON.parse(process.argv[1]); const v = (0, eval)("(j) => " + process.argv[2])(j); process.stdout.write(typeof v === "string" ? v : JSON.stringify(v) ?? "")' "$1" "$2"; }
qparam() { node -e 'process.stdout.write(new URL(process.argv[1]).searchParams.get(process.argv[2]) ?? "")' "$1" "$2"; }

# ---------------------------------------------------------------- certs
bash "$here/make-certs.sh" "$work/certs" || { echo "make-certs failed"; exit 1; }
check "make-certs is idempotent" bash -c "before=\$(md5sum '$work/certs/server.pem'); bash '$here/make-certs.sh' '$work/certs'; [ \"\$before\" = \"\$(md5sum '$work/certs/server.pem')\" ]"
check "leaf verifies against test CA" openssl verify -CAfile "$work/certs/ca.pem" "$work/certs/server.pem"
check "leaf does not verify against other CA" bash -c "! openssl verify -CAfile '$work/certs/other-ca.pem' '$work/certs/server.pem' >/dev/null 2>&1"
check "leaf has CA:FALSE, SANs, serverAuth" bash -c "t=\$(openssl x509 -in '$work/certs/server.pem' -noout -text); grep -q 'CA:FALSE' <<<\"\$t\" && grep -q 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1' <<<\"\$t\" && grep -q 'TLS Web Server Authentication' <<<\"\$t\" && grep -q 'Version: 3' <<<\"\$t\""
CA="$work/certs/ca.pem"
CURL=(curl -sS --max-time 20 --cacert "$CA")

# ---------------------------------------------------------------- server
node "$here/oauth-server.mjs" --port 0 --certs "$work/certs" --state-file "$work/state.json" --no-stdin-watch \
  >"$work/server.out" 2>"$work/server.err" </dev/null &
server_pid=$!
for _ in $(seq 1 100); do [ -s "$work/state.json" ] && break; sleep 0.1; done
if [ ! -s "$work/state.json" ]; then echo "server did not start:"; cat "$work/server.err"; exit 1; fi
state=$(cat "$work/state.json")
ISS=$(jget "$state" j.issuer)
TOKEN=$(jget "$state" j.token_endpoint)
INTRO=$(jget "$state" j.introspection_endpoint)
REVOKE=$(jget "$state" j.revocation_endpoint)
DEVAUTH=$(jget "$state" j.device_authorization_endpoint)
AUTHZ=$(jget "$state" j.authorization_endpoint)
echo "# server: $state"
check "stdout is exactly the one JSON line of the state file" bash -c "[ \"\$(cat '$work/server.out')\" = '$state' ]"
check "issuer is https://127.0.0.1:PORT" bash -c "[[ '$ISS' =~ ^https://127\.0\.0\.1:[0-9]+$ ]]"
check "not listening on other addresses" bash -c "! ss -ltnH 2>/dev/null | grep ':$(jget "$state" j.port) ' | grep -v '127.0.0.1:' | grep -q ."
check "server cert is rejected with other CA" bash -c "! curl -s --max-time 5 --cacert '$work/certs/other-ca.pem' '$ISS/_test/health' >/dev/null"

# ---------------------------------------------------------------- helpers
# start a one-shot loopback redirect catcher, sets CATCH_PORT and CATCH_FILE
start_catcher() {
  CATCH_FILE="$work/catch.$RANDOM"
  node -e '
    const http = require("node:http"); const fs = require("node:fs");
    const s = http.createServer((req, res) => {
      fs.writeFileSync(process.argv[1] + ".url", req.url);
      res.writeHead(200, {"content-type": "text/html", connection: "close"});
      res.end("<html><body>oauthmail test listener: got it</body></html>");
      s.close();
    });
    s.listen(0, "127.0.0.1", () => fs.writeFileSync(process.argv[1] + ".port", String(s.address().port)));
    setTimeout(() => process.exit(1), 30000).unref();
  ' "$CATCH_FILE" &
  CATCH_PID=$!
  for _ in $(seq 1 50); do [ -s "$CATCH_FILE.port" ] && break; sleep 0.1; done
  CATCH_PORT=$(cat "$CATCH_FILE.port")
}
b64url_sha256() { printf %s "$1" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '='; }
urlenc() { node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$1"; }

# authorize CLIENT SCOPE [browser options...] -> sets VERIFIER, REDIRECT_URI, BROWSER_OUT, CODE
authorize() {
  local client=$1 scope=$2; shift 2
  VERIFIER=$(openssl rand -hex 32)
  local challenge; challenge=$(b64url_sha256 "$VERIFIER")
  start_catcher
  REDIRECT_URI="http://127.0.0.1:$CATCH_PORT/"
  STATE=st$RANDOM
  local url="$AUTHZ?response_type=code&client_id=$client&redirect_uri=$(urlenc "$REDIRECT_URI")&scope=$(urlenc "$scope")&state=$STATE&code_challenge=$challenge&code_challenge_method=S256"
  BROWSER_OUT=$(node "$here/browser.mjs" --ca "$CA" "$@" "$url")
  BROWSER_RC=$?
  kill "$CATCH_PID" 2>/dev/null; wait "$CATCH_PID" 2>/dev/null
  CODE=$(qparam "$(jget "$BROWSER_OUT" j.redirect_url)" code)
}
token() { "${CURL[@]}" "$TOKEN" "$@"; }
introspect() { "${CURL[@]}" "$INTRO" -d client_id=mail-introspector -d client_secret=introspector-secret -d "token=$1"; }

# ---------------------------------------------------------------- authorization code + PKCE
"${CURL[@]}" -X POST "$ISS/_test/reset" >/dev/null
authorize confidential-app "openid offline_access email mail"
echo "# browser: $BROWSER_OUT"
check "browser exit 0" [ "$BROWSER_RC" = 0 ]
check "browser got listener status 200 and body" [ "$(jget "$BROWSER_OUT" '`${j.status} ${j.body}`')" = "200 <html><body>oauthmail test listener: got it</body></html>" ]
RURL=$(jget "$BROWSER_OUT" j.redirect_url)
check "redirect has code, state and iss" [ -n "$CODE" -a "$(qparam "$RURL" state)" = "$STATE" -a "$(qparam "$RURL" iss)" = "$ISS" ]
check "listener saw the same URL" [ "http://127.0.0.1:$CATCH_PORT$(cat "$CATCH_FILE.url")" = "$RURL" ]

bad_pkce=$(token -d grant_type=authorization_code -d "code=$CODE" -d "redirect_uri=$REDIRECT_URI" -d client_id=confidential-app -d client_secret=confidential-secret -d code_verifier=wrong-verifier-wrong-verifier-wrong-verifier-00)
check "wrong code_verifier -> invalid_grant" [ "$(jget "$bad_pkce" j.error)" = invalid_grant ]
# (a failed PKCE check consumes the code in oidc-provider; get a fresh one)
authorize confidential-app "openid offline_access email mail"
tok=$(token -d grant_type=authorization_code -d "code=$CODE" -d "redirect_uri=$REDIRECT_URI" -d client_id=confidential-app -d client_secret=confidential-secret -d "code_verifier=$VERIFIER")
echo "# token response: $tok"
AT=$(jget "$tok" j.access_token); RT0=$(jget "$tok" j.refresh_token)
check "access + refresh token issued" [ -n "$AT" -a -n "$RT0" ]
check "token scope = openid offline_access email mail" [ "$(jget "$tok" j.scope)" = "openid offline_access email mail" ]
check "expires_in 3600" [ "$(jget "$tok" j.expires_in)" = 3600 ]
check "id_token present" [ -n "$(jget "$tok" j.id_token)" ]

intro=$(introspect "$AT")
echo "# introspection: $intro"
check "introspection: active, email, client_id, scope has mail" [ "$(jget "$intro" '`${j.active} ${j.email} ${j.client_id} ${j.scope.split(" ").includes("mail")}`')" = "true alice@example.test confidential-app true" ]
ui=$("${CURL[@]}" -H "Authorization: Bearer $AT" "$(jget "$state" j.userinfo_endpoint)")
check "userinfo returns email" [ "$(jget "$ui" j.email)" = alice@example.test ]

# ---------------------------------------------------------------- refresh + rotation
r1=$(token -d grant_type=refresh_token -d "refresh_token=$RT0" -d client_id=confidential-app -d client_secret=confidential-secret)
RT1=$(jget "$r1" j.refresh_token); AT1=$(jget "$r1" j.access_token)
check "refresh works and rotates" [ -n "$AT1" -a -n "$RT1" -a "$RT1" != "$RT0" ]
check "refreshed scope keeps mail" [ "$(jget "$r1" j.scope)" = "openid offline_access email mail" ]
r2=$(token -d grant_type=refresh_token -d "refresh_token=$RT1" -d client_id=confidential-app -d client_secret=confidential-secret)
RT2=$(jget "$r2" j.refresh_token)
check "second refresh works" [ -n "$RT2" ]
reuse=$(token -d grant_type=refresh_token -d "refresh_token=$RT0" -d client_id=confidential-app -d client_secret=confidential-secret)
check "old refresh token -> invalid_grant" [ "$(jget "$reuse" j.error)" = invalid_grant ]
after=$(token -d grant_type=refresh_token -d "refresh_token=$RT2" -d client_id=confidential-app -d client_secret=confidential-secret)
check "reuse detection revoked the whole grant (newest RT now invalid_grant too)" [ "$(jget "$after" j.error)" = invalid_grant ]

# ---------------------------------------------------------------- other login names / clients
authorize basic-app "openid offline_access email mail" --login bob
b=$(token -u basic-app:basic-secret -d grant_type=authorization_code -d "code=$CODE" -d "redirect_uri=$REDIRECT_URI" -d "code_verifier=$VERIFIER")
check "basic-app (client_secret_basic) exchange" [ -n "$(jget "$b" j.refresh_token)" ]
check "login 'bob' -> email bob@example.test" [ "$(jget "$(introspect "$(jget "$b" j.access_token)")" j.email)" = bob@example.test ]
b2=$(token -d grant_type=authorization_code -d "code=x" -d "redirect_uri=$REDIRECT_URI" -d client_id=basic-app -d client_secret=basic-secret -d "code_verifier=$VERIFIER")
check "basic-app via client_secret_post -> invalid_client (sandbox strict mode)" [ "$(jget "$b2" j.error)" = invalid_client ]
b3=$(token -u confidential-app:confidential-secret -d grant_type=client_credentials)
check "confidential-app via client_secret_basic -> invalid_client (sandbox strict mode)" [ "$(jget "$b3" j.error)" = invalid_client ]

authorize public-app "openid offline_access email mail"
p=$(token -d grant_type=authorization_code -d "code=$CODE" -d "redirect_uri=$REDIRECT_URI" -d client_id=public-app -d "code_verifier=$VERIFIER")
check "public-app exchange without secret" [ -n "$(jget "$p" j.access_token)" -a -n "$(jget "$p" j.refresh_token)" ]

authorize confidential-app "openid email mail"
n=$(token -d grant_type=authorization_code -d "code=$CODE" -d "redirect_uri=$REDIRECT_URI" -d client_id=confidential-app -d client_secret=confidential-secret -d "code_verifier=$VERIFIER")
check "no offline_access -> no refresh token" [ -n "$(jget "$n" j.access_token)" -a -z "$(jget "$n" j.refresh_token)" ]
code_reuse=$(token -d grant_type=authorization_code -d "code=$CODE" -d "redirect_uri=$REDIRECT_URI" -d client_id=confidential-app -d client_secret=confidential-secret -d "code_verifier=$VERIFIER")
check "code reuse -> invalid_grant" [ "$(jget "$code_reuse" j.error)" = invalid_grant ]
check "code reuse revoked the access token issued for that code" [ "$(jget "$(introspect "$(jget "$n" j.access_token)")" j.active)" = false ]

# no PKCE -> error redirect
start_catcher
nopkce=$(node "$here/browser.mjs" --ca "$CA" --stop-at-redirect "$AUTHZ?response_type=code&client_id=confidential-app&redirect_uri=$(urlenc "http://127.0.0.1:$CATCH_PORT/")&scope=openid&state=s1")
kill "$CATCH_PID" 2>/dev/null; wait "$CATCH_PID" 2>/dev/null
check "missing PKCE -> error=invalid_request redirect" [ "$(qparam "$(jget "$nopkce" j.redirect_url)" error)" = invalid_request ]

# deny
authorize confidential-app "openid offline_access email mail" --deny
check "--deny -> error=access_denied at the listener" [ "$BROWSER_RC" = 0 -a "$(qparam "$(jget "$BROWSER_OUT" j.redirect_url)" error)" = access_denied -a "$(jget "$BROWSER_OUT" j.status)" = 200 ]

# ---------------------------------------------------------------- short-app
authorize short-app "openid offline_access email mail"
s=$(token -d grant_type=authorization_code -d "code=$CODE" -d "redirect_uri=$REDIRECT_URI" -d client_id=short-app -d client_secret=short-secret -d "code_verifier=$VERIFIER")
check "short-app expires_in = 5" [ "$(jget "$s" j.expires_in)" = 5 ]
SAT=$(jget "$s" j.access_token)
check "short-app token active at first" [ "$(jget "$(introspect "$SAT")" j.active)" = true ]
sr=$(token -d grant_type=refresh_token -d "refresh_token=$(jget "$s" j.refresh_token)" -d client_id=short-app -d client_secret=short-secret)
check "short-app refreshed token expires_in = 5" [ "$(jget "$sr" j.expires_in)" = 5 ]
sleep 6
check "short-app token inactive after 6 s" [ "$(jget "$(introspect "$SAT")" j.active)" = false ]

# ---------------------------------------------------------------- client credentials
cc=$(token -d grant_type=client_credentials -d client_id=cc-app -d client_secret=cc-secret -d scope=mail)
echo "# client_credentials: $cc"
check "cc-app client_credentials scope=mail" [ "$(jget "$cc" j.scope)" = mail -a -n "$(jget "$cc" j.access_token)" ]
ci=$(introspect "$(jget "$cc" j.access_token)")
check "cc token introspects active, client_id cc-app, no email" [ "$(jget "$ci" '`${j.active} ${j.client_id} ${j.email}`')" = "true cc-app undefined" ]
cc2=$(token -d grant_type=client_credentials -d client_id=cc-app -d client_secret=cc-secret -d scope=email)
check "cc-app scope=email -> invalid_scope" [ "$(jget "$cc2" j.error)" = invalid_scope ]
cc3=$(token -d grant_type=client_credentials -d client_id=cc-app -d client_secret=wrong)
check "wrong secret -> invalid_client" [ "$(jget "$cc3" j.error)" = invalid_client ]

# ---------------------------------------------------------------- device flow
da=$("${CURL[@]}" "$DEVAUTH" -d client_id=confidential-app -d client_secret=confidential-secret -d "scope=openid offline_access email mail")
echo "# device authorization: $da"
DC=$(jget "$da" j.device_code); UC=$(jget "$da" j.user_code); VU=$(jget "$da" j.verification_uri)
check "device authorization response" [ -n "$DC" -a -n "$UC" -a -n "$VU" -a "$(jget "$da" j.expires_in)" = 600 ]
pend=$(token -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d "device_code=$DC" -d client_id=confidential-app -d client_secret=confidential-secret)
check "poll before approval -> authorization_pending" [ "$(jget "$pend" j.error)" = authorization_pending ]
dev=$(node "$here/browser.mjs" --ca "$CA" --device "$UC" --login carol@mail.example "$VU")
check "browser --device -> done" [ "$(jget "$dev" j.done)" = true ]
dt=$(token -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d "device_code=$DC" -d client_id=confidential-app -d client_secret=confidential-secret)
check "device token with refresh token, scope has mail" [ -n "$(jget "$dt" j.refresh_token)" -a "$(jget "$dt" 'j.scope.split(" ").includes("mail")')" = true ]
check "device token email = carol@mail.example" [ "$(jget "$(introspect "$(jget "$dt" j.access_token)")" j.email)" = carol@mail.example ]

da2=$("${CURL[@]}" "$DEVAUTH" -d client_id=public-app -d "scope=openid offline_access email mail")
dev2=$(node "$here/browser.mjs" --ca "$CA" --device "$(jget "$da2" j.user_code)" --deny "$(jget "$da2" j.verification_uri_complete)")
check "browser --device --deny -> denied" [ "$(jget "$dev2" j.denied)" = true ]
dt2=$(token -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d "device_code=$(jget "$da2" j.device_code)" -d client_id=public-app)
check "denied device code -> access_denied" [ "$(jget "$dt2" j.error)" = access_denied ]
bogus=$(node "$here/browser.mjs" --ca "$CA" --device WXYZ-BCDF "$VU" 2>/dev/null); rc=$?
check "browser --device with a wrong code fails (rc!=0)" [ "$rc" != 0 ]

# ---------------------------------------------------------------- revocation
"${CURL[@]}" "$REVOKE" -d client_id=confidential-app -d client_secret=confidential-secret -d "token=$(jget "$dt" j.access_token)" -o /dev/null -w '%{http_code}' >"$work/rev.code"
check "revocation 200" [ "$(cat "$work/rev.code")" = 200 ]
check "revoked access token inactive" [ "$(jget "$(introspect "$(jget "$dt" j.access_token)")" j.active)" = false ]
"${CURL[@]}" "$REVOKE" -d client_id=confidential-app -d client_secret=confidential-secret -d "token=$(jget "$dt" j.refresh_token)" -d token_type_hint=refresh_token >/dev/null
dr=$(token -d grant_type=refresh_token -d "refresh_token=$(jget "$dt" j.refresh_token)" -d client_id=confidential-app -d client_secret=confidential-secret)
check "revoked refresh token -> invalid_grant" [ "$(jget "$dr" j.error)" = invalid_grant ]

# ---------------------------------------------------------------- stats + fault injection
st=$("${CURL[@]}" "$ISS/_test/stats")
echo "# stats: $st"
check "stats: device_polls=3, revocations=2" [ "$(jget "$st" '`${j.device_polls} ${j.revocations}`')" = "3 2" ]
check "stats: authorization_code count 8, refresh_token count 6" [ "$(jget "$st" '`${j.token_requests.authorization_code} ${j.token_requests.refresh_token}`')" = "8 6" ]
"${CURL[@]}" -X POST "$ISS/_test/reset" >/dev/null
check "reset zeroes stats" [ "$(jget "$("${CURL[@]}" "$ISS/_test/stats")" j.token_requests_total)" = 0 ]
"${CURL[@]}" -X POST "$ISS/_test/fail-token?count=2&status=503" >/dev/null
f1=$("${CURL[@]}" -o "$work/f1.body" -w '%{http_code} %{content_type}' "$TOKEN" -d grant_type=client_credentials -d client_id=cc-app -d client_secret=cc-secret -d scope=mail)
f2=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$TOKEN" -d grant_type=client_credentials -d client_id=cc-app -d client_secret=cc-secret -d scope=mail)
f3=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$TOKEN" -d grant_type=client_credentials -d client_id=cc-app -d client_secret=cc-secret -d scope=mail)
check "fail-token: 503 (html), 503, then 200" [ "$f1 $f2 $f3" = "503 text/html 503 200" ]
st=$("${CURL[@]}" "$ISS/_test/stats")
check "stats count injected failures too" [ "$(jget "$st" '`${j.token_requests.client_credentials} ${j.token_injected_failures} ${j.grant_success.client_credentials}`')" = "3 2 1" ]
"${CURL[@]}" -X POST "$ISS/_test/slow-token?ms=1500&count=1" >/dev/null
t0=$(date +%s%N)
token -d grant_type=client_credentials -d client_id=cc-app -d client_secret=cc-secret -d scope=mail -o /dev/null
t1=$(date +%s%N)
token -d grant_type=client_credentials -d client_id=cc-app -d client_secret=cc-secret -d scope=mail -o /dev/null
t2=$(date +%s%N)
check "slow-token delays once by >= 1.5 s" [ $(( (t1 - t0) / 1000000 )) -ge 1500 -a $(( (t2 - t1) / 1000000 )) -lt 1000 ]

# ---------------------------------------------------------------- Microsoft Graph scopes
# One consent may cover two resources ("mail" = Outlook, https://graph.microsoft.com/*); a
# token request may name only one (AADSTS28000); a refresh with a scope subset narrows the
# access token, and the rotated refresh token still serves the other resource.
G=https://graph.microsoft.com
sorted_scope() { jget "$1" "(j.scope || '').split(' ').filter(Boolean).sort().join(' ')"; }
CONF=(-d client_id=confidential-app -d client_secret=confidential-secret)
"${CURL[@]}" -X POST "$ISS/_test/reset" >/dev/null
authorize confidential-app "openid offline_access email mail $G/Mail.ReadWrite $G/Mail.Send"
gt=$(token -d grant_type=authorization_code -d "code=$CODE" -d "redirect_uri=$REDIRECT_URI" "${CONF[@]}" -d "code_verifier=$VERIFIER")
ALL="email $G/Mail.ReadWrite $G/Mail.Send mail offline_access openid"
check "graph+mail consent: code exchange token introspects with all six scopes" [ "$(sorted_scope "$(introspect "$(jget "$gt" j.access_token)")")" = "$ALL" ]
gr=$(token -d grant_type=refresh_token -d "refresh_token=$(jget "$gt" j.refresh_token)" "${CONF[@]}" --data-urlencode "scope=$G/Mail.ReadWrite $G/Mail.Send")
echo "# narrowed refresh: $gr"
check "refresh with scope=graph subset: response scope is that subset" [ "$(sorted_scope "$gr")" = "$G/Mail.ReadWrite $G/Mail.Send" ]
check "refresh with scope=graph subset: introspected scope is only the graph scopes" [ "$(sorted_scope "$(introspect "$(jget "$gr" j.access_token)")")" = "$G/Mail.ReadWrite $G/Mail.Send" ]
check "refresh with scope=graph subset: no id_token (openid not asked)" [ -z "$(jget "$gr" j.id_token)" -a -n "$(jget "$gr" j.refresh_token)" ]
mr=$(token -d grant_type=refresh_token -d "refresh_token=$(jget "$gr" j.refresh_token)" "${CONF[@]}" --data-urlencode "scope=mail openid offline_access email")
check "rotated refresh token, scope=mail openid offline_access email: token for the other resource" [ "$(sorted_scope "$(introspect "$(jget "$mr" j.access_token)")")" = "email mail offline_access openid" ]
gr2=$(token -d grant_type=refresh_token -d "refresh_token=$(jget "$mr" j.refresh_token)" "${CONF[@]}" --data-urlencode "scope=$G/Mail.ReadWrite")
check "and back to one graph scope" [ "$(sorted_scope "$(introspect "$(jget "$gr2" j.access_token)")")" = "$G/Mail.ReadWrite" ]
RT_G=$(jget "$gr2" j.refresh_token)
both=$(token -d grant_type=refresh_token -d "refresh_token=$RT_G" "${CONF[@]}" --data-urlencode "scope=mail $G/Mail.ReadWrite")
echo "# two resources: $both"
check "refresh naming mail + a graph scope -> invalid_scope AADSTS28000" [ "$(jget "$both" '`${j.error} ${j.error_description.startsWith("AADSTS28000:")}`')" = "invalid_scope true" ]
full=$(token -d grant_type=refresh_token -d "refresh_token=$RT_G" "${CONF[@]}")
check "the refused request did not consume the refresh token; no scope = the whole grant" [ "$(sorted_scope "$(introspect "$(jget "$full" j.access_token)")")" = "$ALL" ]
cg=$(token -d grant_type=client_credentials -d client_id=cc-graph-app -d client_secret=cc-graph-secret --data-urlencode "scope=$G/.default")
cgi=$(introspect "$(jget "$cg" j.access_token)")
check "cc-graph-app client_credentials scope=.default: active, no sub, no email" [ "$(jget "$cgi" '`${j.active} ${j.client_id} ${j.scope} ${j.sub} ${j.email}`')" = "true cc-graph-app $G/.default undefined undefined" ]
cg2=$(token -d grant_type=client_credentials -d client_id=cc-graph-app -d client_secret=cc-graph-secret -d scope=mail)
check "cc-graph-app scope=mail -> invalid_scope" [ "$(jget "$cg2" j.error)" = invalid_scope ]
cg3=$(token -d grant_type=client_credentials "${CONF[@]}" --data-urlencode "scope=mail $G/.default")
check "client_credentials naming two resources -> invalid_scope AADSTS28000" [ "$(jget "$cg3" 'j.error_description.slice(0, 12)')" = "AADSTS28000:" ]
gda=$("${CURL[@]}" "$DEVAUTH" "${CONF[@]}" --data-urlencode "scope=openid offline_access mail $G/Mail.ReadWrite")
check "device authorization (consent) may name both resources" [ -n "$(jget "$gda" j.device_code)" ]
st=$("${CURL[@]}" "$ISS/_test/stats")
check "stats: multi_resource_rejections=2, counted as invalid_scope" [ "$(jget "$st" '`${j.multi_resource_rejections} ${j.grant_errors.invalid_scope}`')" = "2 3" ]

# ---------------------------------------------------------------- process lifecycle
kill -TERM "$server_pid"
for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
check "SIGTERM stops the server" bash -c "! kill -0 $server_pid 2>/dev/null"
server_pid=
mkfifo "$work/fifo"
node "$here/oauth-server.mjs" --port 0 --certs "$work/certs" --state-file "$work/state2.json" <"$work/fifo" >/dev/null 2>&1 &
pid2=$!
exec 7>"$work/fifo"
for _ in $(seq 1 100); do [ -s "$work/state2.json" ] && break; sleep 0.1; done
check "second server started (stdin = pipe)" kill -0 "$pid2"
exec 7>&-
for _ in $(seq 1 100); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.1; done
check "server exits on stdin EOF" bash -c "! kill -0 $pid2 2>/dev/null"
kill "$pid2" 2>/dev/null

if grep -q 'server_error' "$work/server.err"; then bad "server logged server_error"; sed -n 1,40p "$work/server.err"; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
