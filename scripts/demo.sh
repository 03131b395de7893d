#!/usr/bin/env bash
# The demo: on a local sandbox (a real OAuth2 server, oidc-provider, on 127.0.0.1), build the
# library and the C quickstart, then run what a host does: registration check, browser
# authorization (a scripted browser plays the user), access token, tokens kept between runs,
# refresh, revocation. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo "== building the library"
cargo build --quiet
work=target/demo
rm -rf "$work" && mkdir -p "$work"
source scripts/sandbox-env.sh "$work"
echo "== sandbox OAuth2 server at $SANDBOX_ISSUER"
gcc -std=c11 -Wall -Wextra -I include examples-c/quickstart.c -L target/debug -loauthmail -o "$work/quickstart"
gcc -std=c11 -Wall -Wextra -I include examples-c/fetch_inbox.c -L target/debug -loauthmail -o "$work/fetch_inbox"
gcc -std=c11 -Wall -Wextra -I include examples-c/send_mail.c -L target/debug -loauthmail -o "$work/send_mail"
gcc -std=c11 -Wall -Wextra -I include examples-c/omcli.c -L target/debug -loauthmail -o "$work/omcli"
echo "== mail sandbox: a private Dovecot that checks every token with the OAuth2 server"
bash tests/sandbox/mail/start.sh "$work/mail" "$work/oauth.json" "$work/pki" > "$work/mail.json"
trap 'bash tests/sandbox/mail/stop.sh "$work/mail" >/dev/null 2>&1 || true; sandbox_stop' EXIT
imaps_port=$(node -p "require('./$work/mail.json').imaps_port")
submission_port=$(node -p "require('./$work/mail.json').submission_port")
sink_dir=$(node -p "require('./$work/mail.json').sink_dir")
maildir_root=$(node -p "require('./$work/mail.json').maildir_root")
cat > "$work/account.json" <<JSON
{
  "provider": "custom",
  "client_id": "confidential-app",
  "client_secret": "confidential-secret",
  "client_auth": "request_body",
  "authorize_url": "$SANDBOX_AUTHORIZE_URL",
  "token_url": "$SANDBOX_TOKEN_URL",
  "revocation_url": "$SANDBOX_REVOCATION_URL",
  "scopes": "openid offline_access email mail",
  "redirect_uri": "http://127.0.0.1/",
  "email": "alice@example.test",
  "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": $imaps_port, "security": "tls"},
  "outgoing": {"host": "127.0.0.1", "port": $submission_port, "security": "starttls"},
  "ca_certs_file": "$SANDBOX_CA_FILE",
  "browser_command": ["node", "$PWD/tests/sandbox/browser.mjs", "--ca", "$SANDBOX_CA_FILE"],
  "language": "en"
}
JSON
export LD_LIBRARY_PATH=$PWD/target/debug
echo
echo "== first run: no tokens yet, the user authorizes in the (scripted) browser"
"$work/quickstart" "$work/account.json" "$work/tokens.json"
echo
echo "== second run: the saved tokens are used, no authorization"
"$work/quickstart" "$work/account.json" "$work/tokens.json"
echo
echo "== the access token expires: the next run refreshes it (the refresh token rotates)"
node -e "const f='$work/tokens.json';const t=JSON.parse(require('fs').readFileSync(f));t.expires_at=1;t.version++;require('fs').writeFileSync(f,JSON.stringify(t))"
"$work/quickstart" "$work/account.json" "$work/tokens.json"
echo
echo "== three messages arrive; fetch the new mail (IMAPS, SASL XOAUTH2 with the token)"
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 3 --seed 1 --subject-prefix "Devis" >/dev/null
"$work/fetch_inbox" "$work/account.json" "$work/tokens.json" "$work/state.json"
echo
echo "== two more arrive: only those are fetched"
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 2 --seed 1 --subject-prefix "Facture" >/dev/null
"$work/fetch_inbox" "$work/account.json" "$work/tokens.json" "$work/state.json"
echo
echo "== nothing new"
"$work/fetch_inbox" "$work/account.json" "$work/tokens.json" "$work/state.json"
echo
echo "== send a quote with a PDF (SMTP submission, STARTTLS, XOAUTH2), copy to self, saved to Sent"
printf '%%PDF-1.4\n%% devis 42\n' > "$work/devis.pdf"
"$work/send_mail" "$work/account.json" "$work/tokens.json" "Client <client@example.test>" "Devis n°42" "$work/devis.pdf"
n=$(ls "$sink_dir"/*.json | wc -l)
echo "the relay received $n message(s); envelope: $(cat $(ls "$sink_dir"/*.json | tail -1))"
echo
echo "== browse the inbox without downloading it (omcli list: envelopes, flags, attachments), page by page"
cp "$work/tokens.json" "$work/account.tokens.json"
cat > "$work/offre.eml" <<'EML'
From: =?UTF-8?Q?Fran=C3=A7ois_M=C3=BCller?= <francois@client.example>
To: alice@example.test
Subject: =?UTF-8?Q?Offre_=C3=A9t=C3=A9_2027?=
Date: Tue, 01 Dec 2026 09:30:00 +0100
Message-ID: <offre-2027@client.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

Bonjour, voici notre offre.
--b
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''offre%20%C3%A9t%C3%A9.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQKJSBvZmZyZQo=
--b--
EML
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 0 --eml "$work/offre.eml" >/dev/null
"$work/omcli" list "$work/account.json" --max 4
echo "-- only unread mail from the client"
"$work/omcli" list "$work/account.json" --search '{"unseen": true, "from": "client.example"}'
echo "-- the message parsed (names and subject decoded), its attachment saved under a safe name"
mkdir -p "$work/attachments"
"$work/omcli" parse "$work/offre.eml" --save-attachments "$work/attachments"
echo "-- wait for new mail (IMAP IDLE): one arrives 2 s later"
(sleep 2; python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 1 --new --subject-prefix "Relance" >/dev/null) &
seeder=$!
"$work/omcli" wait "$work/account.json" --timeout 60
wait "$seeder"
cp "$work/account.tokens.json" "$work/tokens.json"
echo
echo "== Microsoft Graph (for tenants that turned IMAP, POP or SMTP AUTH off): the same programs,"
echo "   the account set to \"protocol\": \"graph\"; Graph is played by an emulator at $GRAPH_URL"
node -e "
const a = JSON.parse(require('fs').readFileSync('$work/account.json'));
a.email = 'graph-demo@example.test';
a.graph_url = process.env.GRAPH_URL;
a.scopes = 'openid offline_access email https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send';
a.incoming = {protocol: 'graph'};
a.outgoing = {protocol: 'graph'};
a.browser_command.push('--login', 'graph-demo@example.test');
require('fs').writeFileSync('$work/graph-account.json', JSON.stringify(a, null, 2));"
"$work/quickstart" "$work/graph-account.json" "$work/graph-tokens.json"
seed_graph() { # subject...
  node -e "
const msgs = process.argv.slice(1).map((s, i) => ({mime_base64: Buffer.from(
  'From: Client <client@example.test>\r\nTo: graph-demo@example.test\r\nSubject: ' + s +
  '\r\nMessage-ID: <demo-' + Date.now() + '-' + i + '@example.test>\r\n\r\nBonjour.\r\n').toString('base64')}));
process.stdout.write(JSON.stringify({mailbox: 'graph-demo@example.test', folder: 'inbox', messages: msgs}));" "$@" |
    curl -sS --fail --cacert "$SANDBOX_CA_FILE" -H 'content-type: application/json' --data-binary @- "$GRAPH_ROOT/_test/seed" >/dev/null
}
echo "-- two messages arrive; fetch the new mail (delta query, each message's MIME)"
seed_graph "Commande 7" "Commande 8"
"$work/fetch_inbox" "$work/graph-account.json" "$work/graph-tokens.json" "$work/graph-state.json"
echo "-- nothing new (the delta link is kept in the fetch state)"
"$work/fetch_inbox" "$work/graph-account.json" "$work/graph-tokens.json" "$work/graph-state.json"
echo "-- send the quote through Graph (sendMail with the MIME; Exchange keeps it in Sent Items)"
"$work/send_mail" "$work/graph-account.json" "$work/graph-tokens.json" "Client <client@example.test>" "Devis n°43" "$work/devis.pdf"
sent=$(curl -sS --fail --cacert "$SANDBOX_CA_FILE" "$GRAPH_ROOT/_test/mailbox?mailbox=graph-demo@example.test&folder=sentitems" | node -p "JSON.parse(require('fs').readFileSync(0)).length")
echo "Sent Items of graph-demo@example.test now holds $sent message(s)"
echo
echo "== demo done: tokens kept in $work/tokens.json (version $(node -p "require('./$work/tokens.json').version")), fetch state in $work/state.json"
