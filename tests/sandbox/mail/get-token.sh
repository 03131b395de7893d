#!/usr/bin/env bash
# Print a real access token from the sandbox OAuth server (authorization code + PKCE
# through the scripted browser), for the mail sandbox self-test and manual poking.
#   bash tests/sandbox/mail/get-token.sh OAUTH_STATE [LOGIN]      (LOGIN default alice@example.test)
# With GET_TOKEN_JSON=1 the whole token response JSON is printed instead.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sandbox=$(cd "$here/.." && pwd)
st=$1; login=${2:-alice@example.test}
if [ "${st:0:1}" != "{" ]; then st=$(cat "$st"); fi
jget() { node -e 'const j = JSON.parse(process.argv[1]); const v = (0, eval)("(j) => " + process.argv[2])(j); process.stdout.write(typeof v === "string" ? v : JSON.stringify(v) ?? "")' "$1" "$2"; }
CA=$(jget "$st" j.ca_file); AUTHZ=$(jget "$st" j.authorization_endpoint); TOKEN=$(jget "$st" j.token_endpoint)
verifier=$(openssl rand -hex 32)
challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
# --stop-at-redirect: no listener needed; the redirect URI (any loopback port) is only parsed.
redirect="http://127.0.0.1:9/"
url="$AUTHZ?response_type=code&client_id=confidential-app&redirect_uri=$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$redirect")&scope=openid%20offline_access%20email%20mail&state=s1&code_challenge=$challenge&code_challenge_method=S256"
out=$(node "$sandbox/browser.mjs" --ca "$CA" --login "$login" --stop-at-redirect "$url")
code=$(node -e 'process.stdout.write(new URL(JSON.parse(process.argv[1]).redirect_url).searchParams.get("code") ?? "")' "$out")
[ -n "$code" ] || { echo "get-token: no code: $out" >&2; exit 1; }
tok=$(curl -sS --max-time 20 --cacert "$CA" "$TOKEN" -d grant_type=authorization_code -d "code=$code" \
  --data-urlencode "redirect_uri=$redirect" -d client_id=confidential-app -d client_secret=confidential-secret -d "code_verifier=$verifier")
if [ "${GET_TOKEN_JSON:-0}" = 1 ]; then echo "$tok"; exit 0; fi
at=$(jget "$tok" 'j.access_token ?? ""')
[ -n "$at" ] || { echo "get-token: no access token: $tok" >&2; exit 1; }
echo "$at"
