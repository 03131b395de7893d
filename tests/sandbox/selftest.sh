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
CERT="$work/certs/client-cert.pem"; CKEY="$work/certs/client-key.pem"
OCERT="$work/certs/other-client-cert.pem"; OKEY="$work/certs/other-client-key.pem"
check "client cert: self-signed RSA 2048, CN=oauthmail cert-app, clientAuth" bash -c "t=\$(openssl x509 -in '$CERT' -noout -text); grep -q 'Public-Key: (2048 bit)' <<<\"\$t\" && grep -q 'Subject: CN = oauthmail cert-app' <<<\"\$t\" && grep -q 'TLS Web Client Authentication' <<<\"\$t\" && openssl verify -CAfile '$CERT' '$CERT' >/dev/null"
check "client-key.pem is PKCS#8 and matches client-cert.pem" bash -c "grep -q 'BEGIN PRIVATE KEY' '$CKEY' && [ \"\$(openssl rsa -noout -modulus -in '$CKEY')\" = \"\$(openssl x509 -noout -modulus -in '$CERT')\" ]"
check "client-key-rsa.pem is PKCS#1, the same key" bash -c "grep -q 'BEGIN RSA PRIVATE KEY' '$work/certs/client-key-rsa.pem' && [ \"\$(openssl rsa -noout -modulus -in '$work/certs/client-key-rsa.pem')\" = \"\$(openssl rsa -noout -modulus -in '$CKEY')\" ]"
check "client.pfx (password pfx-password): AES-256-CBC/PBKDF2, key + cert" bash -c "t=\$(openssl pkcs12 -info -noout -passin pass:pfx-password -in '$work/certs/client.pfx' 2>&1) && grep -q 'PBES2, PBKDF2, AES-256-CBC' <<<\"\$t\" && [ \"\$(openssl pkcs12 -in '$work/certs/client.pfx' -passin pass:pfx-password -nokeys -clcerts 2>/dev/null | openssl x509 -noout -fingerprint -sha256)\" = \"\$(openssl x509 -in '$CERT' -noout -fingerprint -sha256)\" ]"
check "client-legacy.pfx: 3DES key bag, RC2 (or 3DES) cert bag" bash -c "t=\$(openssl pkcs12 -info -noout -legacy -passin pass:pfx-password -in '$work/certs/client-legacy.pfx' 2>&1 || openssl pkcs12 -info -noout -passin pass:pfx-password -in '$work/certs/client-legacy.pfx' 2>&1) && grep -q 'pbeWithSHA1And3-KeyTripleDES-CBC' <<<\"\$t\" && ! grep -q 'AES' <<<\"\$t\""
check "other-client key/cert: a different key" bash -c "[ \"\$(openssl x509 -noout -modulus -in '$OCERT')\" = \"\$(openssl rsa -noout -modulus -in '$OKEY')\" ] && [ \"\$(openssl x509 -noout -modulus -in '$OCERT')\" != \"\$(openssl x509 -noout -modulus -in '$CERT')\" ]"
# a PKI directory made before the client files existed gets them, and keeps its server PKI
mkdir -p "$work/oldpki"
cp "$work/certs/"{ca.pem,ca.key,other-ca.pem,other-ca.key,server.pem,server.key,server-chain.pem} "$work/oldpki/"
bash "$here/make-certs.sh" "$work/oldpki"
check "make-certs adds the client files to an older PKI dir, server.pem unchanged" bash -c "for f in client-cert.pem client-key.pem client-key-rsa.pem client.pfx client-legacy.pfx other-client-cert.pem other-client-key.pem; do [ -s '$work/oldpki/'\$f ] || exit 1; done; cmp -s '$work/oldpki/server.pem' '$work/certs/server.pem'"
rm -f "$work/oldpki/client.pfx"
before=$(md5sum <"$work/oldpki/client-cert.pem")
bash "$here/make-certs.sh" "$work/oldpki"
check "make-certs remakes the client set when one file is missing" bash -c "[ -s '$work/oldpki/client.pfx' ] && [ '$before' != \"\$(md5sum <'$work/oldpki/client-cert.pem')\" ]"
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

# ---------------------------------------------------------------- Google service account (JWT-bearer grant)
JWTB=urn:ietf:params:oauth:grant-type:jwt-bearer
SA_EMAIL=mail-robot@sandbox-project.iam.gserviceaccount.test
GM=https://www.googleapis.com/auth/gmail
SA_KEY=$(jget "$state" j.service_account_key_file)
SA_WRONG=$(jget "$state" j.service_account_wrong_key_file)
"${CURL[@]}" -X POST "$ISS/_test/reset" >/dev/null
# claims JSON: defaults merged with $2 (a null value drops the claim)
claims_json() { node -e 'const [d, o] = process.argv.slice(1).map((x) => JSON.parse(x || "{}")); process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries({ ...d, ...o }).filter(([, v]) => v !== null))))' "$1" "${2:-}"; }
# sa_assert KEYFILE [OVERRIDES] -> a signed JWT-bearer assertion
sa_assert() { node "$here/sign-jwt.mjs" --key "$1" --claims "$(claims_json "{\"iss\":\"$SA_EMAIL\",\"sub\":\"alice@example.test\",\"scope\":\"mail\",\"aud\":\"$TOKEN\",\"iat\":\"now\",\"exp\":\"now+3600\"}" "${2:-}")"; }
# sa_req ASSERTION -> prints the HTTP status; body in $work/sa.body
sa_req() { "${CURL[@]}" -o "$work/sa.body" -w '%{http_code}' "$TOKEN" -d "grant_type=$JWTB" --data-urlencode "assertion=$1"; }
sa_err() { printf '%s %s' "$1" "$(jget "$(cat "$work/sa.body")" '`${j.error} ${j.error_description}`')"; }
saf=$(cat "$SA_KEY")
check "key file: Google format, token_uri = token endpoint, PKCS#8 key" [ "$(jget "$saf" '`${j.type} ${j.project_id} ${j.client_email} ${/^[0-9a-f]{40}$/.test(j.private_key_id)} ${/^[0-9]{21}$/.test(j.client_id)} ${j.private_key.startsWith("-----BEGIN PRIVATE KEY-----\n")} ${j.auth_uri === j.token_uri.replace("/token", "/auth")}`')" = "service_account sandbox-project $SA_EMAIL true true true true" -a "$(jget "$saf" j.token_uri)" = "$TOKEN" ]
check "wrong-key file: same client_email, another key" [ "$(jget "$(cat "$SA_WRONG")" j.client_email)" = "$SA_EMAIL" -a "$(jget "$(cat "$SA_WRONG")" j.private_key)" != "$(jget "$saf" j.private_key)" ]
jwks_sa=$("${CURL[@]}" "$(jget "$saf" j.client_x509_cert_url)")
check "client_x509_cert_url serves the public key (JWK, kid = private_key_id)" [ "$(jget "$jwks_sa" 'j.keys[0].kid')" = "$(jget "$saf" j.private_key_id)" ]

code=$(sa_req "$(sa_assert "$SA_KEY")"); sat=$(cat "$work/sa.body")
echo "# jwt-bearer: $sat"
check "jwt-bearer sub=alice scope=mail: 200 Bearer, expires_in 3600, no refresh/id token" [ "$code $(jget "$sat" '`${j.token_type} ${j.expires_in} ${j.scope} ${j.refresh_token} ${j.id_token} ${!!j.access_token}`')" = "200 Bearer 3600 mail undefined undefined true" ]
si=$(introspect "$(jget "$sat" j.access_token)")
echo "# introspection: $si"
check "service-account token introspects: active, email/sub alice, scope mail, client_id = SA email" [ "$(jget "$si" '`${j.active} ${j.email} ${j.sub} ${j.scope} ${j.client_id}`')" = "true alice@example.test alice@example.test mail $SA_EMAIL" ]
code=$(sa_req "$(sa_assert "$SA_KEY" "{\"sub\":\"bob@example.test\",\"scope\":\"$GM.modify $GM.send\"}")")
check "gmail.modify + gmail.send (delegated) for bob" [ "$code $(sorted_scope "$(introspect "$(jget "$(cat "$work/sa.body")" j.access_token)")") $(jget "$(introspect "$(jget "$(cat "$work/sa.body")" j.access_token)")" j.email)" = "200 $GM.modify $GM.send bob@example.test" ]
code=$(sa_req "$(sa_assert "$SA_KEY" '{"sub":null}')")
check "no sub: a token for the service account itself (sub = email = SA)" [ "$code $(jget "$(introspect "$(jget "$(cat "$work/sa.body")" j.access_token)")" '`${j.sub} ${j.email}`')" = "200 $SA_EMAIL $SA_EMAIL" ]
code=$(sa_req "$(sa_assert "$SA_WRONG")")
check "wrong key -> 400 invalid_grant Invalid JWT Signature." [ "$(sa_err "$code")" = "400 invalid_grant Invalid JWT Signature." ]
TIME_ERR="400 invalid_grant Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
code=$(sa_req "$(sa_assert "$SA_KEY" '{"iat":"now-4000","exp":"now-400"}')")
check "expired assertion -> short-lived token error" [ "$(sa_err "$code")" = "$TIME_ERR" ]
code=$(sa_req "$(sa_assert "$SA_KEY" '{"exp":"now+3601"}')")
check "exp - iat > 3600 -> short-lived token error" [ "$(sa_err "$code")" = "$TIME_ERR" ]
code=$(sa_req "$(sa_assert "$SA_KEY" '{"iat":"now+400","exp":"now+1000"}')")
check "iat 400 s in the future -> short-lived token error" [ "$(sa_err "$code")" = "$TIME_ERR" ]
code=$(sa_req "$(sa_assert "$SA_KEY" '{"iat":"now+200","exp":"now+1000"}')")
check "iat 200 s in the future (within 5 min skew) -> 200" [ "$code" = 200 ]
code=$(sa_req "$(sa_assert "$SA_KEY" '{"sub":"nobody@elsewhere.test"}')")
check "sub outside example.test -> invalid_grant Invalid email or User ID" [ "$(sa_err "$code")" = "400 invalid_grant Invalid email or User ID" ]
UNAUTH="401 unauthorized_client Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
code=$(sa_req "$(sa_assert "$SA_KEY" "{\"scope\":\"mail $GM.readonly\"}")")
check "a scope not delegated (gmail.readonly) -> 401 unauthorized_client" [ "$(sa_err "$code")" = "$UNAUTH" ]
code=$(sa_req "$(sa_assert "$SA_KEY" '{"iss":"someone-else@sandbox-project.iam.gserviceaccount.test"}')")
check "unknown iss -> invalid_grant Invalid grant: account not found" [ "$(sa_err "$code")" = "400 invalid_grant Invalid grant: account not found" ]
code=$(sa_req "$(sa_assert "$SA_KEY" '{"aud":"https://oauth2.googleapis.com/token"}')")
check "aud other than the token endpoint -> invalid_grant Failed audience check" [ "$(sa_err "$code")" = "400 invalid_grant Invalid JWT: Failed audience check. The right audience is $TOKEN" ]
code=$(sa_req "$(sa_assert "$SA_KEY" '{"scope":null}')")
check "no scope -> invalid_scope" [ "$(sa_err "$code")" = "400 invalid_scope Empty or missing scope not allowed." ]
code=$(sa_req "$(sa_assert "$SA_KEY" '{"scope":"mail https://www.googleapis.com/auth/drive"}')")
check "unknown scope -> invalid_scope" [ "$(sa_err "$code")" = "400 invalid_scope Invalid OAuth scope or ID token audience provided." ]
code=$(sa_req "not-a-jwt")
check "malformed assertion -> 400 invalid_grant" [ "$(sa_err "$code")" = "400 invalid_grant Bad Request" ]
dl=$("${CURL[@]}" -X POST "$ISS/_test/delegation?scopes=$(urlenc "$GM.readonly,$GM.send")")
check "POST /_test/delegation replaces the delegated scopes" [ "$(jget "$dl" 'j.scopes.join(" ")')" = "$GM.readonly $GM.send" -a "$(jget "$dl" j.client_id)" = "$(jget "$saf" j.client_id)" ]
c1=$(sa_req "$(sa_assert "$SA_KEY" "{\"scope\":\"$GM.readonly\"}")")
c2=$(sa_req "$(sa_assert "$SA_KEY")"); e2=$(sa_err "$c2")
check "after it: gmail.readonly works, mail is unauthorized_client" [ "$c1" = 200 -a "$e2" = "$UNAUTH" ]
"${CURL[@]}" -X POST "$ISS/_test/delegation?scopes=" >/dev/null
c3=$(sa_req "$(sa_assert "$SA_KEY" "{\"scope\":\"$GM.readonly\"}")")
c4=$(sa_req "$(sa_assert "$SA_KEY" '{"sub":null}')")
check "delegation emptied: any sub is unauthorized_client; without sub still 200" [ "$c3 $c4" = "401 200" ]
sa_before_reset=$("${CURL[@]}" "$ISS/_test/stats")
"${CURL[@]}" -X POST "$ISS/_test/reset" >/dev/null
c5=$(sa_req "$(sa_assert "$SA_KEY")")
c6=$(sa_req "$(sa_assert "$SA_KEY" "{\"scope\":\"$GM.readonly\"}")")
check "/_test/reset restores the default delegation (mail yes, gmail.readonly no)" [ "$c5 $c6" = "200 401" ]
check "stats: token_requests.jwt_bearer, grant_errors by error, by_client[SA email]" [ "$(jget "$sa_before_reset" "\`\${j.token_requests.jwt_bearer} \${j.grant_success.jwt_bearer} \${j.grant_errors.invalid_grant} \${j.grant_errors.unauthorized_client} \${j.grant_errors.invalid_scope} \${j.by_client['$SA_EMAIL'].token_requests.jwt_bearer} \${j.by_client['$SA_EMAIL'].grant_errors.unauthorized_client} \${j.by_client['someone-else@sandbox-project.iam.gserviceaccount.test'].grant_errors.invalid_grant}\`")" = "19 6 8 3 2 17 3 1" ]
"${CURL[@]}" -X POST "$ISS/_test/sa-ttl?secs=2" >/dev/null
code=$(sa_req "$(sa_assert "$SA_KEY")"); short_sa=$(cat "$work/sa.body")
check "POST /_test/sa-ttl?secs=2: expires_in 2, token active" [ "$code $(jget "$short_sa" j.expires_in) $(jget "$(introspect "$(jget "$short_sa" j.access_token)")" j.active)" = "200 2 true" ]
sleep 3
check "... and inactive 3 s later" [ "$(jget "$(introspect "$(jget "$short_sa" j.access_token)")" j.active)" = false ]
"${CURL[@]}" -X POST "$ISS/_test/reset" >/dev/null
code=$(sa_req "$(sa_assert "$SA_KEY")")
check "reset restores expires_in 3600" [ "$code $(jget "$(cat "$work/sa.body")" j.expires_in)" = "200 3600" ]

# ---------------------------------------------------------------- certificate credential (cert-app, private_key_jwt)
AT_TYPE=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
# ms_assert KEY OVERRIDES [sign-jwt options...] -> a client assertion for cert-app
ms_assert() { local key=$1 over=$2; shift 2; node "$here/sign-jwt.mjs" --key "$key" "$@" --claims "$(claims_json "{\"iss\":\"cert-app\",\"sub\":\"cert-app\",\"aud\":\"$TOKEN\",\"jti\":\"uuid\",\"nbf\":\"now\",\"iat\":\"now\",\"exp\":\"now+600\"}" "$over")"; }
# ms_cc ASSERTION [curl args...] -> client_credentials with it; status printed, body in $work/ms.body
ms_cc() { local a=$1; shift; "${CURL[@]}" -o "$work/ms.body" -w '%{http_code}' "$TOKEN" -d grant_type=client_credentials -d "client_assertion_type=$AT_TYPE" --data-urlencode "client_assertion=$a" -d scope=mail "$@"; }
ms_err() { printf '%s %s %s' "$1" "$(jget "$(cat "$work/ms.body")" '`${j.error} ${j.error_codes}`')" "$(jget "$(cat "$work/ms.body")" '`${j.error_description.split(". ")[0]}.`')"; }
"${CURL[@]}" -X POST "$ISS/_test/reset" >/dev/null
code=$(ms_cc "$(ms_assert "$CKEY" '{}' --x5t-s256 "$CERT")" -d client_id=cert-app); msb=$(cat "$work/ms.body")
echo "# cert-app client_credentials: $msb"
check "cert-app: RS256 assertion with x5t#S256 -> token" [ "$code $(jget "$msb" j.scope)" = "200 mail" ]
check "its token introspects with client_id cert-app" [ "$(jget "$(introspect "$(jget "$msb" j.access_token)")" '`${j.active} ${j.client_id}`')" = "true cert-app" ]
code=$(ms_cc "$(ms_assert "$CKEY" '{}' --x5t "$CERT")")
check "x5t (SHA-1) only, no client_id parameter -> token" [ "$code" = 200 ]
code=$(ms_cc "$(ms_assert "$CKEY" '{}' --alg PS256 --x5t-s256 "$CERT" --x5t "$CERT")" -d client_id=cert-app)
check "PS256 with x5t#S256 and x5t -> token" [ "$code" = 200 ]
kid_hex=$(openssl x509 -in "$CERT" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
code=$(ms_cc "$(ms_assert "$CKEY" '{}' --x5t "$CERT" --header "{\"kid\":\"$kid_hex\"}")" -d client_id=cert-app)
check "kid = hex SHA-1 thumbprint -> token" [ "$code" = 200 ]
code=$(ms_cc "$(ms_assert "$CKEY" '{}')" -d client_id=cert-app)
NOTREG="401 invalid_client 700027 AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application."
check "no x5t#S256/x5t -> 401 AADSTS700027 not registered" [ "$(ms_err "$code")" = "$NOTREG" ]
code=$(ms_cc "$(ms_assert "$OKEY" '{}' --x5t-s256 "$OCERT")" -d client_id=cert-app)
check "unregistered certificate -> 401 AADSTS700027 not registered" [ "$(ms_err "$code")" = "$NOTREG" ]
code=$(ms_cc "$(ms_assert "$OKEY" '{}' --x5t-s256 "$CERT")" -d client_id=cert-app)
check "registered thumbprint, other key -> 401 AADSTS700027 invalid signature" [ "$(ms_err "$code")" = "401 invalid_client 700027 AADSTS700027: Client assertion contains an invalid signature." ]
code=$(ms_cc "$(ms_assert "$CKEY" '{"nbf":"now-900","iat":"now-900","exp":"now-300"}' --x5t-s256 "$CERT")" -d client_id=cert-app)
check "expired assertion -> 401 AADSTS700024" [ "$(ms_err "$code")" = "401 invalid_client 700024 AADSTS700024: Client assertion is not within its valid time range." ]
code=$(ms_cc "$(ms_assert "$CKEY" "{\"aud\":\"$ISS\"}" --x5t-s256 "$CERT")" -d client_id=cert-app)
check "aud = issuer at the token endpoint -> 401 AADSTS700023" [ "$(ms_err "$code")" = "401 invalid_client 700023 AADSTS700023: Client assertion audience claim does not match Realm issuer." ]
code=$(ms_cc "$(ms_assert "$CKEY" '{"iss":"someone"}' --x5t-s256 "$CERT")" -d client_id=cert-app)
check "iss != client_id -> 401 AADSTS700021" [ "$(ms_err "$code")" = "401 invalid_client 700021 AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter." ]
once=$(ms_assert "$CKEY" '{}' --x5t-s256 "$CERT")
c1=$(ms_cc "$once" -d client_id=cert-app); c2=$(ms_cc "$once" -d client_id=cert-app); e2=$(jget "$(cat "$work/ms.body")" j.error)
check "an assertion (jti) is accepted once (oidc-provider)" [ "$c1 $c2 $e2" = "200 401 invalid_client" ]
code=$(ms_cc "$(ms_assert "$CKEY" '{"jti":null}' --x5t-s256 "$CERT")" -d client_id=cert-app)
check "no jti -> 401 invalid_client (oidc-provider)" [ "$code $(jget "$(cat "$work/ms.body")" j.error)" = "401 invalid_client" ]
sec=$(token -o /dev/null -w '%{http_code}' -d grant_type=client_credentials -d client_id=cert-app -d client_secret=x)
non=$(token -o /dev/null -w '%{http_code}' -d grant_type=client_credentials -d client_id=cert-app)
check "cert-app with a client_secret or no authentication -> 401 (strict mode)" [ "$sec $non" = "401 401" ]
st=$("${CURL[@]}" "$ISS/_test/stats")
check "stats: client_assertion_rejections=6, by_client[cert-app].grant_errors.invalid_client=8" [ "$(jget "$st" '`${j.client_assertion_rejections} ${j.by_client["cert-app"].grant_errors.invalid_client} ${j.last_token_request.auth}`')" = "6 8 none" ]
# authorization code + refresh, revocation, introspection, device authorization with assertions
authorize cert-app "openid offline_access email mail"
ct=$(token -d grant_type=authorization_code -d "code=$CODE" -d "redirect_uri=$REDIRECT_URI" -d "code_verifier=$VERIFIER" -d client_id=cert-app -d "client_assertion_type=$AT_TYPE" --data-urlencode "client_assertion=$(ms_assert "$CKEY" '{}' --x5t-s256 "$CERT")")
check "cert-app code exchange with an assertion: access + refresh token" [ -n "$(jget "$ct" j.access_token)" -a -n "$(jget "$ct" j.refresh_token)" ]
cr=$(token -d grant_type=refresh_token -d "refresh_token=$(jget "$ct" j.refresh_token)" -d "client_assertion_type=$AT_TYPE" --data-urlencode "client_assertion=$(ms_assert "$CKEY" '{}' --x5t-s256 "$CERT")")
check "cert-app refresh with an assertion" [ -n "$(jget "$cr" j.access_token)" -a -n "$(jget "$cr" j.refresh_token)" ]
ci=$("${CURL[@]}" "$INTRO" -d "token=$(jget "$cr" j.access_token)" -d "client_assertion_type=$AT_TYPE" --data-urlencode "client_assertion=$(ms_assert "$CKEY" "{\"aud\":\"$INTRO\"}" --x5t-s256 "$CERT")")
check "introspection authenticated by an assertion (aud = introspection endpoint)" [ "$(jget "$ci" '`${j.active} ${j.email}`')" = "true alice@example.test" ]
rv=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$REVOKE" -d "token=$(jget "$cr" j.access_token)" -d client_id=cert-app -d "client_assertion_type=$AT_TYPE" --data-urlencode "client_assertion=$(ms_assert "$CKEY" '{}' --x5t-s256 "$CERT")")
check "revocation authenticated by an assertion (aud = token endpoint) -> token inactive" [ "$rv $(jget "$(introspect "$(jget "$cr" j.access_token)")" j.active)" = "200 false" ]
rb=$("${CURL[@]}" -o "$work/ms.body" -w '%{http_code}' "$REVOKE" -d "token=$(jget "$cr" j.refresh_token)" -d "client_assertion_type=$AT_TYPE" --data-urlencode "client_assertion=$(ms_assert "$OKEY" '{}' --x5t-s256 "$OCERT")")
check "revocation with an unregistered certificate -> 401 AADSTS700027" [ "$(ms_err "$rb")" = "$NOTREG" ]
cda=$("${CURL[@]}" "$DEVAUTH" -d client_id=cert-app -d "scope=openid offline_access mail" -d "client_assertion_type=$AT_TYPE" --data-urlencode "client_assertion=$(ms_assert "$CKEY" '{}' --x5t "$CERT")")
check "device authorization authenticated by an assertion" [ -n "$(jget "$cda" j.device_code)" ]

# ---------------------------------------------------------------- process lifecycle
kill -TERM "$server_pid"
for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
check "SIGTERM stops the server" bash -c "! kill -0 $server_pid 2>/dev/null"
check "the service account key files are removed when the server exits" [ ! -e "$SA_KEY" -a ! -e "$SA_WRONG" ]
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
