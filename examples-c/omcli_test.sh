#!/usr/bin/env bash
# examples-c/omcli_test.sh — tests omcli against the real local sandbox: the OAuth2 server
# (oidc-provider) and the Microsoft Graph emulator (both started by scripts/sandbox-env.sh), the
# private Dovecot with its SMTP sink (tests/sandbox/mail) and the scripted browser
# (tests/sandbox/browser.mjs).
#
#   bash examples-c/omcli_test.sh          (or: make -C examples-c test)
#
# Prints "ok - ..." / "not ok - ..." lines and one final "N passed, M failed" line; exits 1 when
# a check failed, 3 when the environment is missing something. Needs root (Dovecot), node,
# python3, gcc, valgrind, cargo. KEEP_WORK=1 leaves target/omcli-test in place.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
started=$(date +%s)

for tool in cargo gcc make node python3 valgrind dovecot; do
  command -v "$tool" >/dev/null 2>&1 || { echo "omcli_test.sh: $tool is required" >&2; exit 3; }
done
[ -d tests/sandbox/node_modules/oidc-provider ] ||
  { echo "omcli_test.sh: run 'npm ci --prefix tests/sandbox' first" >&2; exit 3; }

work=$repo/target/omcli-test
if [ -s "$work/mail/mail.json" ]; then bash tests/sandbox/mail/stop.sh "$work/mail" >/dev/null 2>&1 || true; fi
rm -rf "$work"
mkdir -p "$work/out"

echo "== cargo build"
cargo build --quiet || { echo "omcli_test.sh: cargo build failed" >&2; exit 3; }
echo "== make -C examples-c"
make -s -C examples-c LIBDIR="$repo/target/debug" || { echo "omcli_test.sh: make failed" >&2; exit 3; }
omcli=$repo/examples-c/omcli

echo "== sandbox: OAuth2 server, Microsoft Graph emulator"
source scripts/sandbox-env.sh "$work"
cleanup() {
  bash tests/sandbox/mail/stop.sh "$work/mail" >/dev/null 2>&1 || true
  sandbox_stop  # the OAuth2 server and the Graph emulator
  [ -n "${bg_pid:-}" ] && kill "$bg_pid" 2>/dev/null
  [ -n "${holder_pid:-}" ] && kill "$holder_pid" 2>/dev/null
  [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$work/eml" "$work/mail/mail"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "== sandbox: Dovecot + SMTP sink"
bash tests/sandbox/mail/start.sh "$work/mail" "$work/oauth.json" "$work/pki" >"$work/mail.json" ||
  { echo "omcli_test.sh: the mail sandbox did not start" >&2; exit 3; }
mj() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/mail.json" "$1"; }
imaps_port=$(mj imaps_port)
submission_port=$(mj submission_port)
sink_dir=$(mj sink_dir)
maildir_root=$(mj maildir_root)

# The account, as an admin would type it (JSON strings escaped by python).
write_account() { # write_account FILE CLIENT_SECRET [EXTRA_JSON_MEMBERS]
  python3 - "$1" "$2" "${3:-}" <<PY
import json, sys
path, secret, extra = sys.argv[1], sys.argv[2], sys.argv[3]
acc = {
  "provider": "custom",
  "client_id": "confidential-app",
  "client_secret": secret,
  "client_auth": "request_body",
  "authorize_url": "$SANDBOX_AUTHORIZE_URL",
  "token_url": "$SANDBOX_TOKEN_URL",
  "device_authorization_url": "$SANDBOX_DEVICE_URL",
  "revocation_url": "$SANDBOX_REVOCATION_URL",
  "scopes": "openid offline_access email mail",
  "redirect_uri": "http://127.0.0.1/",
  "email": "alice@example.test",
  "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": $imaps_port, "security": "tls"},
  "outgoing": {"host": "127.0.0.1", "port": $submission_port, "security": "starttls"},
  "ca_certs_file": "$SANDBOX_CA_FILE",
  "browser_command": ["node", "$repo/tests/sandbox/browser.mjs", "--ca", "$SANDBOX_CA_FILE"],
  "language": "en",
}
if extra:
  acc.update(json.loads(extra))
json.dump(acc, open(path, "w"), indent=2)
PY
}
account=$work/account.json
tokens=$work/account.tokens.json
state=$work/account.state.json
write_account "$account" confidential-secret

passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {
  echo "not ok - $1"
  failed=$((failed + 1))
  [ -n "${2:-}" ] && [ -f "$2.out" ] && sed 's/^/#   out: /' "$2.out" | tail -25
  [ -n "${2:-}" ] && [ -f "$2.err" ] && sed 's/^/#   err: /' "$2.err" | tail -25
  return 0
}
# run NAME CMD... : runs omcli-ish command, output in $work/out/NAME.{out,err}, status in $rc
rc=0
run() {
  local name=$1; shift
  "$@" >"$work/out/$name.out" 2>"$work/out/$name.err" </dev/null
  rc=$?
}
o() { echo "$work/out/$1"; }
# expect NAME DESCRIPTION RC [GREP-PATTERN-IN-OUT+ERR]...
expect() {
  local name=$1 desc=$2 want=$3; shift 3
  if [ "$rc" != "$want" ]; then not_ok "$desc (exit $rc, expected $want)" "$(o "$name")"; return; fi
  local pat
  for pat in "$@"; do
    # (grep reads the files itself: `cat … | grep -q` under pipefail fails at random when grep
    # exits at the first match and cat dies of SIGPIPE)
    if ! grep -qE -- "$pat" "$(o "$name").out" "$(o "$name").err"; then
      not_ok "$desc (no /$pat/ in the output)" "$(o "$name")"; return
    fi
  done
  ok "$desc"
}
sink_count() { find "$sink_dir" -name '*.json' 2>/dev/null | wc -l; }
tok() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or '')" "$tokens" "$1"; }

echo "== tests"
# ---------------------------------------------------------------- usage errors: exit 2
run usage_none "$omcli";                               expect usage_none "no arguments: usage, exit 2" 2 "usage: omcli"
run usage_cmd "$omcli" frobnicate "$account";          expect usage_cmd "unknown command: exit 2" 2 "unknown command 'frobnicate'"
run usage_cfg "$omcli" fetch;                          expect usage_cfg "missing CONFIG.json: exit 2" 2 "needs a CONFIG.json"
run usage_opt "$omcli" fetch "$account" --colour;      expect usage_opt "unknown option: exit 2" 2 "unknown option --colour"
run usage_max "$omcli" fetch "$account" --max lots;    expect usage_max "--max not a number: exit 2" 2 "positive number"
run usage_send "$omcli" send "$account" --subject x;   expect usage_send "send without --to: exit 2" 2 "--to"
run usage_val "$omcli" send "$account" --to;           expect usage_val "option without its value: exit 2" 2 "--to needs a value"
run usage_misplaced "$omcli" token "$account" --dir /tmp; expect usage_misplaced "option of another command: exit 2" 2 "belong to 'fetch'"
run help "$omcli" --help;                              expect help "--help: exit 0" 0 "authorize CONFIG.json"

# ---------------------------------------------------------------- configuration errors: exit 1
write_account "$work/badkey.json" confidential-secret '{"colour": "blue"}'
run badkey "$omcli" check "$work/badkey.json"
expect badkey "bad config key: exit 1, names the key" 1 "^error: .*colour" "OM_STATUS_INVALID_CONFIG"
run nofile "$omcli" token "$work/missing.json";        expect nofile "unreadable config: exit 1" 1 "cannot read .*missing.json"
printf '{"provider": "custom",' >"$work/truncated.json"
run truncated "$omcli" token "$work/truncated.json";   expect truncated "malformed JSON config: exit 1" 1 "^error: " "INVALID_CONFIG"

# ---------------------------------------------------------------- before authorization
run token_noauth "$omcli" token "$account"
expect token_noauth "token before authorize: exit 1, error + hint" 1 "OM_STATUS_AUTHORIZATION_REQUIRED" "^hint: .*authorize"
run check_noauth "$omcli" check "$account"
expect check_noauth "check before authorize: exit 1, says authorization is required" 1 "FAILED" "hint: .*authorize" "check FAILED"

# ---------------------------------------------------------------- authorize (scripted browser)
run authorize "$omcli" authorize "$account"
expect authorize "authorize through the scripted browser: exit 0" 0 "^Authorization URL:" "https://127\.0\.0\.1:[0-9]+/auth\?" "Authorized"
if [ -s "$tokens" ] && [ "$(stat -c %a "$tokens")" = 600 ] && [ -n "$(tok refresh_token)" ]; then
  ok "tokens kept in CONFIG.tokens.json (mode 0600, with a refresh token)"
else
  not_ok "tokens kept in CONFIG.tokens.json (mode 0600, with a refresh token)"
fi

# ---------------------------------------------------------------- token: prefix only
run token "$omcli" token "$account"
access=$(tok access_token)
refresh=$(tok refresh_token)
expect token "token: exit 0, prefix, length and expiry" 0 "^access token: ${access:0:8}" "^length: ${#access}$" "^expires: 20[0-9]{2}-"
if [ -n "$access" ] && ! grep -qF -- "$access" "$(o token).out" "$(o token).err"; then
  ok "token: the full token is not printed"
else
  not_ok "token: the full token is not printed" "$(o token)"
fi
run token_show "$omcli" token "$account" --show
expect token_show "token --show prints the whole token" 0 "^access token: $access$"
run token_verbose "$omcli" --verbose token "$account"
expect token_verbose "--verbose: the library's log on stderr" 0 "^\[(info|debug)\] "

# ---------------------------------------------------------------- check
run check "$omcli" check "$account"
expect check "check: exit 0, both servers authenticated" 0 "incoming imap 127\.0\.0\.1:$imaps_port .*OK" \
  "outgoing smtp 127\.0\.0\.1:$submission_port .*OK" "mechanisms: .*XOAUTH2" "greeting: .*Dovecot" "^check passed$"

# wrong client secret: the admin's new secret was mistyped, the access token has expired
write_account "$work/wrongsecret.json" not-the-secret
python3 - "$tokens" "$work/wrongsecret.tokens.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])); t["expires_at"] = 1; t["version"] += 1
json.dump(t, open(sys.argv[2], "w"))
PY
run check_secret "$omcli" check "$work/wrongsecret.json"
expect check_secret "check with a wrong client secret: exit 1, problem and hint" 1 "FAILED" \
  "problem: .*invalid_client" "hint: .*client_secret" "^check FAILED$"
run token_secret "$omcli" token "$work/wrongsecret.json"
expect token_secret "token with a wrong client secret: error, status name and hint" 1 \
  "^error: .*invalid_client.*\[OM_STATUS_PROVIDER_ERROR\]" "^hint: .*client_secret"

# ---------------------------------------------------------------- folders
run folders "$omcli" folders "$account"
expect folders "folders lists INBOX, Sent, Drafts" 0 "^INBOX( |$)" "^Sent( |$)" "^Drafts( |$)"

# ---------------------------------------------------------------- fetch
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 3 --seed 1 --subject-prefix Devis >/dev/null
run fetch1 "$omcli" fetch "$account"
expect fetch1 "fetch shows the 3 seeded messages" 0 "uid 1 .*— Devis 1$" "uid 2 .*— Devis 2$" "uid 3 .*— Devis 3$" "^INBOX: 3 new message"
if [ -s "$state" ] && grep -q '"last_uid":3' "$state"; then ok "fetch state kept in CONFIG.state.json"
else not_ok "fetch state kept in CONFIG.state.json"; fi
run fetch2 "$omcli" fetch "$account"
expect fetch2 "second fetch: nothing new" 0 "^INBOX: 0 new message" "^nothing new$"
if grep -q "Devis" "$(o fetch2).out"; then not_ok "second fetch delivers no old message" "$(o fetch2)"; else ok "second fetch delivers no old message"; fi

python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 250 --seed 2 --subject-prefix Bulk >/dev/null
run fetch_max "$omcli" fetch "$account" --max 20
expect fetch_max "fetch --max 20: 20 delivered, the rest remaining" 0 "^INBOX: 20 new message.*230 remaining"
run fetch_bulk "$omcli" fetch "$account"
expect fetch_bulk "fetch of 230 messages: a progress line every 100, final summary" 0 \
  "^\.\.\. 100 messages" "^\.\.\. 200 messages" "^INBOX: 230 new message.*0 remaining"
run fetch_quiet "$omcli" --quiet fetch "$account"
expect fetch_quiet "fetch --quiet: only the summary" 0 "^INBOX: 0 new message"

mkdir -p "$work/eml"
run fetch_dir "$omcli" fetch "$account" --all --dir "$work/eml"
n_eml=$(find "$work/eml" -name '*.eml' | wc -l)
expect fetch_dir "fetch --all --dir writes .eml files" 0 "^wrote INBOX_[0-9]+_[0-9]+\.eml" "^INBOX: 253 new message"
if [ "$n_eml" = 253 ] && grep -l "Subject: Devis 1" "$work/eml"/*.eml >/dev/null 2>&1; then ok "the directory holds the 253 messages ($n_eml .eml files)"
else not_ok "the directory holds the 253 messages ($n_eml .eml files)"; fi
run fetch_baddir "$omcli" fetch "$account" --dir "$work/no-such-dir"
expect fetch_baddir "fetch --dir into a missing directory: exit 1, names the directory" 1 "^error: .*no-such-dir.*OM_STATUS_IO_ERROR"
run fetch_badfolder "$omcli" fetch "$account" --folder "No such folder"
expect fetch_badfolder "fetch of an unknown folder: exit 1, names the folder" 1 "^error: fetch: .*No such folder.*OM_STATUS_INVALID_ARGUMENT"

# ---------------------------------------------------------------- parse (no account, no network)
# A small message: a sender name and a subject in RFC 2047, an attachment named in RFC 2231
# (facture-été.pdf) and one with a hostile name (../../x.exe), which must stay in the directory.
python3 - "$work/piece.eml" "$work/piece.pdf" <<'PY'
import base64, sys
pdf = b"%PDF-1.4\n% facture ete\n"
open(sys.argv[2], "wb").write(pdf)
eml = (
    "From: =?UTF-8?Q?Fran=C3=A7ois_M=C3=BCller?= <francois@example.test>\r\n"
    "To: Alice <alice@example.test>\r\n"
    "Subject: =?UTF-8?Q?Facture_=C3=A9t=C3=A9?=\r\n"
    "Date: Mon, 01 Jun 2026 09:30:00 +0200\r\n"
    "Message-ID: <omcli-parse-1@example.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Bonjour,\r\n\r\nvoici la facture de l'\u00e9t\u00e9.\r\n"
    "--b1\r\n"
    "Content-Type: application/pdf; name*=UTF-8''facture-%C3%A9t%C3%A9.pdf\r\n"
    "Content-Disposition: attachment; filename*=UTF-8''facture-%C3%A9t%C3%A9.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n" + base64.b64encode(pdf).decode() + "\r\n"
    "--b1\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename=\"../../x.exe\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n" + base64.b64encode(b"MZ\x90\x00").decode() + "\r\n"
    "--b1--\r\n")
open(sys.argv[1], "wb").write(eml.encode("utf-8"))
PY
run parse "$omcli" parse "$work/piece.eml"
expect parse "parse FILE.eml: the decoded sender, subject, date, text and attachments" 0 \
  "^From: +François Müller <francois@example.test>$" "^To: +Alice <alice@example.test>$" \
  "^Subject: +Facture été$" "^Date: +2026-06-01 07:30 UTC" "^Text: +Bonjour, voici la facture de l'été\.$" \
  "^Attachments: 2$" "^  \[0\] facture-été\.pdf  \(application/pdf, 23 B\)$" "^  \[1\] \.\./\.\./x\.exe  \("
if grep -q '^saved' "$(o parse).out"; then not_ok "parse without --save-attachments writes nothing" "$(o parse)"
else ok "parse without --save-attachments writes nothing"; fi
mkdir -p "$work/att/in/here"
run parse_save "$omcli" parse "$work/piece.eml" --save-attachments "$work/att/in/here"
expect parse_save "parse --save-attachments: both saved, under safe names" 0 \
  "^saved \[0\] .*/att/in/here/facture-été\.pdf$" "^saved \[1\] .*/att/in/here/_\.\._x\.exe$" "^2 attachment\(s\) saved into "
n_att=$(find "$work/att" -type f | wc -l)
if [ "$n_att" = 2 ] && cmp -s "$work/piece.pdf" "$work/att/in/here/facture-été.pdf" &&
   [ -f "$work/att/in/here/_.._x.exe" ] && [ ! -e "$work/att/x.exe" ] && [ ! -e "$work/x.exe" ]; then
  ok "the attachments are in DIR only (the PDF byte for byte; nothing at DIR/../../x.exe)"
else
  not_ok "the attachments are in DIR only ($n_att files under att/: $(find "$work/att" -type f | tr '\n' ' '))" "$(o parse_save)"
fi
run parse_again "$omcli" parse "$work/piece.eml" --save-attachments "$work/att/in/here"
expect parse_again "parse --save-attachments again: existing files kept, new names" 0 \
  "^saved \[0\] .*/facture-été \(2\)\.pdf$" "^saved \[1\] .*/_\.\._x \(2\)\.exe$"
if [ "$(find "$work/att" -type f | wc -l)" = 4 ] && cmp -s "$work/piece.pdf" "$work/att/in/here/facture-été.pdf"; then
  ok "a second save replaces nothing (4 files)"
else
  not_ok "a second save replaces nothing: $(find "$work/att" -type f | tr '\n' ' ')"
fi
run parse_nodir "$omcli" parse "$work/piece.eml" --save-attachments "$work/att/missing"
expect parse_nodir "parse --save-attachments into a missing directory: exit 1" 1 "^error: save attachments: .*OM_STATUS_IO_ERROR"
run parse_nofile "$omcli" parse "$work/no-such.eml"
expect parse_nofile "parse of a missing file: exit 1" 1 "^error: cannot read .*no-such\.eml"
run parse_usage "$omcli" parse
expect parse_usage "parse without FILE.eml: exit 2" 2 "parse needs a FILE\.eml"
run parse_usage2 "$omcli" parse "$work/piece.eml" --folder INBOX
expect parse_usage2 "parse --folder: exit 2" 2 "--folder belongs to 'fetch', 'list' and 'wait'"
run parse_usage3 "$omcli" list "$account" --save-attachments "$work/att"
expect parse_usage3 "list --save-attachments: exit 2" 2 "--save-attachments belongs to 'parse'"

# ---------------------------------------------------------------- list (read-only paging)
# The folder "Liste": Offre 1-3 unread, Offre 4-5 read (\Seen), then the message above (its
# attachment: the paperclip).
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 3 --folder Liste --seed 3 --subject-prefix Offre >/dev/null
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 2 --folder Liste --seed 3 --subject-prefix Offre --seen >/dev/null
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 0 --folder Liste --eml "$work/piece.eml" >/dev/null
clip=$'\xf0\x9f\x93\x8e'
run list "$omcli" list "$account" --folder Liste
expect list "list: every message, its sender, subject, date, size, flags, the paperclip" 0 \
  "^uid [0-9]+  2024-01-01 00:00 +[0-9.]+ (B|KiB)    Sender 0 <sender0@example.test> — Offre 1$" \
  "^uid [0-9]+  .* Sender 1 <sender1@example.test> — Offre 2$" "^uid [0-9]+  .* Sender 2 <sender2@example.test> — Offre 3$" \
  "^uid [0-9]+  .* Sender 3 <sender3@example.test> — Offre 4  \[\\\\Seen\]$" "^uid [0-9]+  .* — Offre 5  \[\\\\Seen\]$" \
  "^uid [0-9]+  2026-06-01 07:30 .* $clip François Müller <francois@example.test> — Facture été$" \
  "^Liste: 6 message\(s\) on this page" "^last page$"
if [ "$(grep -c '^uid ' "$(o list).out")" = 6 ] && [ "$(grep -c "$clip" "$(o list).out")" = 1 ]; then
  ok "list: 6 lines, the paperclip on the one with attachments only"
else not_ok "list: 6 lines, the paperclip on the one with attachments only" "$(o list)"; fi
# paging: 2 per page, following "next cursor:" to the end
cursor=""; pages=0; : >"$work/out/list_pages.all"
while [ "$pages" -lt 10 ]; do
  pages=$((pages + 1))
  run "list_page$pages" "$omcli" list "$account" --folder Liste --max 2 ${cursor:+--cursor "$cursor"}
  [ "$rc" = 0 ] || break
  grep '^uid ' "$(o "list_page$pages").out" >>"$work/out/list_pages.all"
  cursor=$(sed -n 's/^next cursor: //p' "$(o "list_page$pages").out")
  [ -n "$cursor" ] || break
done
expect list_page1 "list --max 2: a page of 2 and the next cursor" 0 "^Liste: 2 message\(s\) on this page" "^next cursor: .+"
n_paged=$(wc -l <"$work/out/list_pages.all")
n_uids=$(awk '{print $2}' "$work/out/list_pages.all" | sort -u | wc -l)
if [ "$pages" = 3 ] && [ "$n_paged" = 6 ] && [ "$n_uids" = 6 ] && [ "$rc" = 0 ] &&
   grep -q "^last page$" "$(o list_page3).out" && grep -q "— Offre 1$" "$work/out/list_pages.all" &&
   grep -q "— Facture été$" "$work/out/list_pages.all"; then
  ok "list --cursor: 3 pages of 2, each message once, the last page says so"
else
  not_ok "list --cursor: 3 pages of 2 ($pages pages, $n_paged lines, $n_uids distinct, rc $rc)" "$(o "list_page$pages")"
fi
run list_search "$omcli" list "$account" --folder Liste --search '{"subject": "Offre 3"}'
expect list_search "list --search subject: only that message" 0 "^uid [0-9]+ .* — Offre 3$" "^Liste: 1 message\(s\) on this page"
if [ "$(grep -c '^uid ' "$(o list_search).out")" = 1 ]; then ok "list --search subject: one line"
else not_ok "list --search subject: one line" "$(o list_search)"; fi
run list_unseen "$omcli" list "$account" --folder Liste --search '{"unseen": true, "from": "sender"}'
expect list_unseen "list --search unseen + from: the 3 unread Offre" 0 "— Offre 1$" "— Offre 2$" "— Offre 3$" "^Liste: 3 message\(s\)"
if grep -qE "Offre [45]|Facture" "$(o list_unseen).out"; then not_ok "list --search unseen leaves out the read ones" "$(o list_unseen)"
else ok "list --search unseen leaves out the read ones and the other sender"; fi
run list_badkey "$omcli" list "$account" --folder Liste --search '{"colour": "blue"}'
expect list_badkey "list --search with an unknown key: exit 1, names it" 1 "^error: list: .*colour" "OM_STATUS_INVALID_CONFIG"
run list_badfolder "$omcli" list "$account" --folder "No such folder"
expect list_badfolder "list of an unknown folder: exit 1" 1 "^error: list: .*No such folder" "OM_STATUS_INVALID_ARGUMENT"
run list_usage1 "$omcli" list "$account" --search 'subject=Devis'
expect list_usage1 "list --search not JSON: exit 2" 2 "--search needs a JSON object"
run list_usage2 "$omcli" list "$account" --max 5000
expect list_usage2 "list --max above a page: exit 2" 2 "at most 1000"
run list_usage3 "$omcli" list "$account" --cursor
expect list_usage3 "list --cursor without its value: exit 2" 2 "--cursor needs a value"
run list_usage4 "$omcli" fetch "$account" --cursor abc
expect list_usage4 "fetch --cursor: exit 2" 2 "--search and --cursor belong to 'list'"
run list_usage5 "$omcli" list "$account" --timeout 3
expect list_usage5 "list --timeout: exit 2" 2 "--timeout belongs to 'wait'"

# ---------------------------------------------------------------- wait (IMAP IDLE)
python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 1 --folder Attente --seed 4 --subject-prefix Ancien >/dev/null
t0=$(date +%s)
run wait_none "$omcli" wait "$account" --folder Attente --timeout 2
t1=$(date +%s)
expect wait_none "wait --timeout 2 with no new mail: exit 0, says so" 0 "^no new mail in Attente \(waited [0-9]+ s, idle\)$"
if [ $((t1 - t0)) -ge 2 ] && [ $((t1 - t0)) -lt 30 ]; then ok "wait --timeout 2 took about 2 s ($((t1 - t0)) s)"
else not_ok "wait --timeout 2 took about 2 s ($((t1 - t0)) s)"; fi
(sleep 2; python3 tests/sandbox/mail/seed.py "$maildir_root" alice@example.test 1 --folder Attente --seed 4 --subject-prefix Réveil --new >/dev/null) &
bg_pid=$!
t0=$(date +%s)
run wait_new "$omcli" wait "$account" --folder Attente --timeout 60
t1=$(date +%s)
wait "$bg_pid"; bg_pid=
expect wait_new "wait woken by a message arriving meanwhile: exit 0, new mail" 0 "^new mail in Attente \(after [0-9]+ s, idle\)$"
if [ $((t1 - t0)) -ge 1 ] && [ $((t1 - t0)) -lt 30 ]; then ok "the wait ended when the message came ($((t1 - t0)) s, not the 60 s timeout)"
else not_ok "the wait ended when the message came ($((t1 - t0)) s)"; fi
run wait_badfolder "$omcli" wait "$account" --folder "No such folder" --timeout 2
expect wait_badfolder "wait on an unknown folder: exit 1" 1 "^error: wait: .*No such folder"
run wait_usage1 "$omcli" wait "$account" --timeout 0
expect wait_usage1 "wait --timeout 0: exit 2" 2 "--timeout needs a number of seconds"
run wait_usage2 "$omcli" wait "$account" --max 3
expect wait_usage2 "wait --max: exit 2" 2 "--max belongs to 'fetch' and 'list'"
run wait_usage3 "$omcli" wait "$account" --search '{}'
expect wait_usage3 "wait --search: exit 2" 2 "belong to 'list'"

# ---------------------------------------------------------------- send
printf '%%PDF-1.4\n%% devis 42\n' >"$work/devis.pdf"
before=$(sink_count)
run send "$omcli" send "$account" --to 'Client "Dupont" <client@example.test>' --subject 'Devis "n°42" \ test' \
  --text $'Bonjour,\nci-joint le devis.\n' --attach "$work/devis.pdf"
expect send "send with an attachment: exit 0" 0 "^sent <" "250"
after=$(sink_count)
last_eml=$(ls -t "$sink_dir"/*.eml 2>/dev/null | sed -n 1p)
if [ "$after" = $((before + 1)) ] && grep -q 'filename="devis.pdf"' "$last_eml" && grep -q '^To: .*client@example.test' "$last_eml"; then
  ok "the message reached the SMTP sink, with its attachment"
else
  not_ok "the message reached the SMTP sink, with its attachment ($before -> $after)"
fi
printf 'From: alice@example.test\nTo: bob@example.test\nSubject: raw test\n\nhello\n' >"$work/raw.eml"
run send_raw "$omcli" send "$account" --raw "$work/raw.eml"
expect send_raw "send --raw: exit 0" 0 "^sent" "to: +bob@example.test"
run send_raw_to "$omcli" send "$account" --raw "$work/raw.eml" --to carol@example.test
expect send_raw_to "send --raw --to: envelope recipient from the option" 0 "to: +carol@example.test"
last_json=$(ls -t "$sink_dir"/*.json | sed -n 1p)
if [ "$(sink_count)" = $((before + 3)) ] && grep -q '"mail_from": "alice@example.test", "rcpt_to": \["carol@example.test"\]' "$last_json"; then
  ok "raw messages reached the sink (envelope alice -> carol)"
else
  not_ok "raw messages reached the sink (envelope alice -> carol): $(cat "$last_json")"
fi
run send_reject "$omcli" send "$account" --to reject@example.test --subject refused
expect send_reject "send to a refused recipient: exit 1, server reply shown" 1 "^error: send: .*550" "OM_STATUS_PROTOCOL_ERROR"
run send_noattach "$omcli" send "$account" --to client@example.test --subject x --attach "$work/none.pdf"
expect send_noattach "send with a missing attachment: exit 1, readable" 1 "^error: send: .*" "OM_STATUS_INVALID_ARGUMENT"

# ---------------------------------------------------------------- Microsoft Graph (the emulator)
# The same commands on an account that reads and sends through Microsoft Graph: "incoming" and
# "outgoing" {"protocol": "graph"}, graph_url = the emulator started by sandbox-env.sh (it checks
# the tokens at the sandbox OAuth2 server), the Graph scopes; the scripted browser signs in as
# graph-cli@example.test. Mail is seeded and read back through the emulator's /_test/ endpoints.
graph_user=graph-cli@example.test
gaccount=$work/graph.json
gtokens=$work/graph.tokens.json
graph_test() { # graph_test METHOD PATH [JSON-BODY]: the emulator's test endpoints, answer on stdout
  python3 -c '
import ssl, sys, urllib.request
root, ca, method, path = sys.argv[1:5]
body = sys.argv[5].encode() if len(sys.argv) > 5 else None
req = urllib.request.Request(root + path, data=body, method=method,
                             headers={"Content-Type": "application/json"} if body else {})
with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca), timeout=60) as r:
    sys.stdout.write(r.read().decode())' "$GRAPH_ROOT" "$SANDBOX_CA_FILE" "$@"
}
gextra=$(python3 -c '
import json, sys
user, url, browser, ca = sys.argv[1:5]
print(json.dumps({
  "email": user, "graph_url": url,
  "scopes": "openid offline_access email https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send",
  "incoming": {"protocol": "graph"}, "outgoing": {"protocol": "graph"},
  "browser_command": ["node", browser, "--ca", ca, "--login", user]}))' \
  "$graph_user" "$GRAPH_URL" "$repo/tests/sandbox/browser.mjs" "$SANDBOX_CA_FILE")
write_account "$gaccount" confidential-secret "$gextra"
gseed=$(python3 -c '
import json, sys
user = sys.argv[1]
msgs = [{"mime": f"From: Sender <sender@example.test>\r\nTo: {user}\r\nSubject: Offre {i}\r\n"
                 f"Message-ID: <omcli-graph-{i}@example.test>\r\nDate: Tue, 01 Dec 2026 10:0{i}:00 +0000\r\n"
                 f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOffre {i}.\r\n"}
        for i in (1, 2, 3)]
print(json.dumps({"mailbox": user, "folder": "inbox", "messages": msgs}))' "$graph_user")
if graph_test POST /_test/seed "$gseed" >"$work/out/graph_seed.out" 2>&1; then ok "Graph: 3 messages seeded in the emulator"
else not_ok "Graph: 3 messages seeded in the emulator" "$(o graph_seed)"; fi

run graph_authorize "$omcli" authorize "$gaccount"
expect graph_authorize "Graph: authorize the Graph scopes through the scripted browser" 0 "Authorized"
run graph_check "$omcli" check "$gaccount"
expect graph_check "Graph: check logs in to Graph both ways" 0 "incoming graph 127\.0\.0\.1:[0-9]+ .*OK" \
  "outgoing graph 127\.0\.0\.1:[0-9]+ .*OK" "^check passed$"
run graph_folders "$omcli" folders "$gaccount"
expect graph_folders "Graph: folders lists Inbox and Sent Items" 0 "^Inbox( |$)" "^Sent Items( |$)"
run graph_fetch1 "$omcli" fetch "$gaccount"
expect graph_fetch1 "Graph: fetch shows the 3 seeded messages with their Graph id" 0 \
  "^INBOX id [A-Za-z0-9_=-]+.* — Offre 1$" "^INBOX id .* — Offre 2$" "^INBOX id .* — Offre 3$" "^INBOX: 3 new message"
if grep -q '"graph"' "$work/graph.state.json" 2>/dev/null; then ok "Graph: the fetch state (delta link) kept in CONFIG.state.json"
else not_ok "Graph: the fetch state (delta link) kept in CONFIG.state.json"; fi
run graph_fetch2 "$omcli" fetch "$gaccount"
expect graph_fetch2 "Graph: second fetch, nothing new" 0 "^INBOX: 0 new message" "^nothing new$"
run graph_list "$omcli" list "$gaccount"
expect graph_list "Graph: list shows the 3 messages by their Graph id" 0 \
  "^id [A-Za-z0-9_=-]+  2026-12-01 10:01 .*Sender <sender@example.test> — Offre 1( |$)" "^id [A-Za-z0-9_=-]+ .* — Offre 2( |$)" \
  "^id [A-Za-z0-9_=-]+ .* — Offre 3( |$)" ": 3 message\(s\) on this page"
run graph_wait "$omcli" wait "$gaccount" --timeout 2
expect graph_wait "Graph: wait --timeout 2 polls, no new mail" 0 "^no new mail in .*poll\)$"
mkdir -p "$work/graph-eml"
run graph_fetch_dir "$omcli" fetch "$gaccount" --all --dir "$work/graph-eml"
expect graph_fetch_dir "Graph: fetch --all --dir writes the messages as .eml files" 0 "^wrote INBOX_.*\.eml$" "^INBOX: 3 new message"
n_geml=$(find "$work/graph-eml" -name '*.eml' | wc -l)
if [ "$n_geml" = 3 ]; then ok "Graph: the directory holds 3 .eml files (named by Graph id)"
else not_ok "Graph: the directory holds 3 .eml files (named by Graph id), not $n_geml" "$(o graph_fetch_dir)"; fi

before=$(sink_count)
run graph_send "$omcli" send "$gaccount" --to "Client <client@example.test>" --subject "Offre via Graph" \
  --text $'Bonjour,\nvoici notre offre.\n'
expect graph_send "Graph: send through Graph (202, the copy in sentitems)" 0 "^sent <" "202" "saved to: sentitems"
printf 'From: %s\nTo: bob@example.test\nSubject: raw via Graph\nMessage-ID: <omcli-graph-raw@example.test>\n\nhello\n' \
  "$graph_user" >"$work/graph-raw.eml"
run graph_send_raw "$omcli" send "$gaccount" --raw "$work/graph-raw.eml"
expect graph_send_raw "Graph: send --raw through Graph" 0 "^sent <omcli-graph-raw@example.test>" "to: +bob@example.test"
graph_test GET "/_test/mailbox?mailbox=$graph_user&folder=sentitems" >"$work/out/graph_sent.out" 2>&1
if grep -qF '"subject":"Offre via Graph"' "$work/out/graph_sent.out" &&
   grep -qF '"internetMessageId":"<omcli-graph-raw@example.test>"' "$work/out/graph_sent.out"; then
  ok "Graph: both messages are in the emulator's sentitems"
else
  not_ok "Graph: both messages are in the emulator's sentitems" "$(o graph_sent)"
fi
if [ "$(sink_count)" = "$before" ]; then ok "Graph: nothing went through the SMTP server"
else not_ok "Graph: nothing went through the SMTP server ($before -> $(sink_count) in the sink)"; fi

# ---------------------------------------------------------------- Google service account
# An account with "flow": "service_account": the sandbox's key file (SANDBOX_SA_KEY_FILE, from
# sandbox-env.sh), acting for a user of the mail sandbox ("subject"), scope "mail"; no client_id,
# no client_secret, no authorization: every token comes from a signed JWT assertion
# (urn:ietf:params:oauth:grant-type:jwt-bearer) at the sandbox's token endpoint, and Dovecot
# accepts it for IMAP and SMTP like any other.
sa_user=sa-cli@example.test
saccount=$work/service-account.json
stokens=$work/service-account.tokens.json
python3 - "$saccount" "$SANDBOX_SA_KEY_FILE" "$sa_user" <<PY
import json, sys
path, key, user = sys.argv[1:4]
json.dump({
  "provider": "custom",
  "flow": "service_account",
  "service_account_key_file": key,
  "subject": user,
  "email": user,
  "scopes": "mail",
  "token_url": "$SANDBOX_TOKEN_URL",
  "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": $imaps_port, "security": "tls"},
  "outgoing": {"host": "127.0.0.1", "port": $submission_port, "security": "starttls"},
  "ca_certs_file": "$SANDBOX_CA_FILE",
  "language": "en",
}, open(path, "w"), indent=2)
PY
sandbox_stat() { # sandbox_stat GRANT: token requests of that grant type at the OAuth2 server (GET /_test/stats)
  python3 - "$SANDBOX_ISSUER" "$SANDBOX_CA_FILE" "$1" <<'PY'
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(sys.argv[1] + "/_test/stats", context=ctx, timeout=10) as r:
    print(json.load(r)["token_requests"].get(sys.argv[3], 0))
PY
}
python3 tests/sandbox/mail/seed.py "$maildir_root" "$sa_user" 3 --seed 11 --subject-prefix Relance >/dev/null
jwt_before=$(sandbox_stat jwt_bearer)

run sa_authorize "$omcli" authorize "$saccount"
expect sa_authorize "service account: authorize refused (exit 1, WRONG_STATE, a readable message and the library's hint)" 1 \
  "^error: authorization: A service account needs no authorization.*\[OM_STATUS_WRONG_STATE\]" "^hint: Nothing to do for the user"
run sa_device "$omcli" authorize "$saccount" --device
expect sa_device "service account: authorize --device refused the same way" 1 "OM_STATUS_WRONG_STATE" "^hint: Nothing to do for the user"
if [ ! -e "$stokens" ]; then ok "service account: no tokens after the refused authorizations"
else not_ok "service account: no tokens after the refused authorizations"; fi

run sa_check "$omcli" --verbose check "$saccount" # the first token: an assertion signed, --verbose
expect sa_check "service account: check with no authorization, both servers authenticated" 0 \
  "info +\[google_admin\] Service account mail-robot@.*domain-wide delegation.*$sa_user.*\(service_account_delegation\)" \
  "incoming imap 127\.0\.0\.1:$imaps_port .*OK" "outgoing smtp 127\.0\.0\.1:$submission_port .*OK" "^check passed$"
stok() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or '')" "$stokens" "$1" 2>/dev/null; }
if [ -s "$stokens" ] && [ "$(stat -c %a "$stokens")" = 600 ] && [ -n "$(stok access_token)" ] && [ -z "$(stok refresh_token)" ]; then
  ok "service account: its token kept in CONFIG.tokens.json (mode 0600), no refresh token"
else
  not_ok "service account: its token kept in CONFIG.tokens.json (mode 0600), no refresh token"
fi
jwt_after=$(sandbox_stat jwt_bearer)
if [ "$jwt_after" -gt "$jwt_before" ]; then ok "service account: the token came from a JWT assertion ($((jwt_after - jwt_before)) jwt-bearer request(s))"
else not_ok "service account: the token came from a JWT assertion (jwt-bearer requests $jwt_before -> $jwt_after)"; fi

run sa_fetch1 "$omcli" fetch "$saccount"
expect sa_fetch1 "service account: fetch shows $sa_user's 3 seeded messages" 0 \
  "uid 1 .*— Relance 1$" "uid 2 .*— Relance 2$" "uid 3 .*— Relance 3$" "^INBOX: 3 new message"
run sa_fetch2 "$omcli" fetch "$saccount"
expect sa_fetch2 "service account: second fetch, nothing new" 0 "^INBOX: 0 new message" "^nothing new$"

before=$(sink_count)
run sa_send "$omcli" send "$saccount" --to "Client <client@example.test>" --subject "Relance via un compte de service" \
  --text $'Bonjour,\nnotre relance.\n'
expect sa_send "service account: send (exit 0, from the delegated user)" 0 "^sent <" "from: +$sa_user" "250"
last_json=$(ls -t "$sink_dir"/*.json 2>/dev/null | sed -n 1p)
last_eml=${last_json%.json}.eml
if [ "$(sink_count)" = $((before + 1)) ] && grep -qF "\"mail_from\": \"$sa_user\"" "$last_json" &&
   grep -q '^Subject: Relance via un compte de service' "$last_eml"; then
  ok "service account: the message reached the SMTP sink (envelope from $sa_user)"
else
  not_ok "service account: the message reached the SMTP sink ($before -> $(sink_count)): $(cat "$last_json" 2>/dev/null)"
fi

sa_access=$(stok access_token)
run sa_token "$omcli" token "$saccount"
expect sa_token "service account: token gives the one kept (a prefix only)" 0 "^access token: ${sa_access:0:8}" "^expires: 20[0-9]{2}-"
# the key never leaves its file: no output holds the private key or a signed assertion
key_body=$(python3 -c 'import json,sys; k=json.load(open(sys.argv[1]))["private_key"]; print(k.splitlines()[1][:40])' "$SANDBOX_SA_KEY_FILE")
leaks=0
for f in "$work"/out/sa_*.out "$work"/out/sa_*.err; do
  if grep -qF -e "$key_body" -e "PRIVATE KEY" "$f"; then leaks=$((leaks + 1)); echo "# key material in $f"; fi
  # a signed assertion: a compact JWS (base64url header starting '{"', payload, signature)
  if grep -qE 'eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.' "$f"; then leaks=$((leaks + 1)); echo "# a JWT in $f"; fi
done
if [ "$leaks" = 0 ]; then ok "service account: no output (not even --verbose) shows the private key or a signed assertion"
else not_ok "service account: no output shows the private key or a signed assertion ($leaks found)"; fi

# a key file that is not the service account's: refused at the token endpoint, said readably
wrong_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["service_account_wrong_key_file"])' "$work/oauth.json")
python3 - "$saccount" "$work/sa-wrong-key.json" "$wrong_key" <<'PY'
import json, sys
acc = json.load(open(sys.argv[1])); acc["service_account_key_file"] = sys.argv[3]
json.dump(acc, open(sys.argv[2], "w"), indent=2)
PY
run sa_wrongkey "$omcli" token "$work/sa-wrong-key.json"
expect sa_wrongkey "service account with a key the provider does not know: exit 1, the provider's words and a hint" 1 \
  "^error: .*Invalid JWT Signature" "^hint: "

# ---------------------------------------------------------------- other authorizations
# --device: the scripted browser enters the user code
rm -f "$work/device.out"
"$omcli" authorize "$account" --device >"$work/out/device.out" 2>"$work/out/device.err" </dev/null &
bg_pid=$!
code=""
for _ in $(seq 1 100); do
  code=$(sed -n 's/^and enter the code: //p' "$work/out/device.out" 2>/dev/null) # (not created yet: try again)
  [ -n "$code" ] && break
  sleep 0.1
done
uri=$(sed -n 's/^On any device, open //p' "$work/out/device.out")
if [ -n "$code" ]; then
  node tests/sandbox/browser.mjs --device "$code" --ca "$SANDBOX_CA_FILE" "$uri" >"$work/out/device-browser.out" 2>&1
fi
wait "$bg_pid"; rc=$?; bg_pid=
expect device "authorize --device: user code shown, authorized" 0 "^and enter the code: [A-Z]{4}-[A-Z]{4}$" "Authorized"

# --paste --no-browser: the user copies the final URL from the address bar
rm -f "$work/paste.fifo"; mkfifo "$work/paste.fifo"
"$omcli" authorize "$account" --paste --no-browser <"$work/paste.fifo" >"$work/out/paste.out" 2>"$work/out/paste.err" &
bg_pid=$!
exec 7>"$work/paste.fifo"
url=""
for _ in $(seq 1 100); do
  url=$(grep -m1 -E '^  https://' "$work/out/paste.out" | sed 's/^  //')
  [ -n "$url" ] && break
  sleep 0.1
done
redirect=$(node tests/sandbox/browser.mjs --stop-at-redirect --ca "$SANDBOX_CA_FILE" "$url" 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["redirect_url"])' 2>/dev/null)
echo "$redirect" >&7
exec 7>&-
wait "$bg_pid"; rc=$?; bg_pid=
expect paste "authorize --paste --no-browser: URL shown, pasted redirect completes" 0 "Open this URL" "Paste the URL" "Authorized"

# Ctrl-C while waiting for the browser: cancelled through om_authorize_cancel
"$omcli" authorize "$account" --no-browser >"$work/out/sigint.out" 2>"$work/out/sigint.err" </dev/null &
bg_pid=$!
for _ in $(seq 1 100); do grep -q "Waiting for the redirect" "$work/out/sigint.out" && break; sleep 0.1; done
sleep 0.3
kill -INT "$bg_pid"
wait "$bg_pid"; rc=$?; bg_pid=
expect sigint "Ctrl-C during authorize: cancelled, exit 1" 1 "interrupted" "OM_STATUS_CANCELLED"

# after all the authorizations, the token still works and was never printed whole
run token_after "$omcli" token "$account"
expect token_after "token after re-authorization: exit 0" 0 "^access token: "
leaks=0
gtok() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or '')" "$gtokens" "$1" 2>/dev/null; }
for t in "$access" "$refresh" "$(tok access_token)" "$(tok refresh_token)" "$(gtok access_token)" "$(gtok refresh_token)" "$(stok access_token)"; do
  [ -n "$t" ] || continue
  for f in "$work"/out/*.out "$work"/out/*.err; do
    case $f in */token_show.out) continue ;; esac
    if grep -qF -- "$t" "$f"; then leaks=$((leaks + 1)); echo "# token found in $f"; fi
  done
done
if [ "$leaks" = 0 ]; then ok "no output (not even --verbose) contains a whole access or refresh token"
else not_ok "no output contains a whole access or refresh token ($leaks found)"; fi

# ---------------------------------------------------------------- valgrind
vg() { # vg NAME OMCLI-ARGS...
  local name=$1; shift
  valgrind --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --track-origins=yes --num-callers=40 --suppressions="$repo/tests/c/valgrind.supp" \
    --log-file="$work/out/$name.valgrind" "$omcli" "$@" >"$work/out/$name.out" 2>"$work/out/$name.err" </dev/null
  rc=$?
}
vg vg_token token "$account"
if [ "$rc" = 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$work/out/vg_token.valgrind"; then
  ok "valgrind: omcli token is clean (no errors, no definite/indirect leaks)"
else
  not_ok "valgrind: omcli token is clean (exit $rc)"; grep -E "ERROR SUMMARY|lost" "$work/out/vg_token.valgrind" | sed 's/^/#   /'
fi
vg vg_folders folders "$account"
if [ "$rc" = 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$work/out/vg_folders.valgrind"; then
  ok "valgrind: omcli folders (TLS + IMAP + JSON parsing) is clean"
else
  not_ok "valgrind: omcli folders is clean (exit $rc)"; grep -E "ERROR SUMMARY|lost" "$work/out/vg_folders.valgrind" | sed 's/^/#   /'
fi
vg vg_list list "$account" --folder Liste --max 4
if [ "$rc" = 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$work/out/vg_list.valgrind" && grep -q "^next cursor: " "$work/out/vg_list.out"; then
  ok "valgrind: omcli list (listing JSON, addresses, paging) is clean"
else
  not_ok "valgrind: omcli list is clean (exit $rc)"; grep -E "ERROR SUMMARY|lost" "$work/out/vg_list.valgrind" | sed 's/^/#   /'
fi
mkdir -p "$work/att/vg"
vg vg_parse parse "$work/piece.eml" --save-attachments "$work/att/vg"
if [ "$rc" = 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$work/out/vg_parse.valgrind" && grep -q "^2 attachment(s) saved" "$work/out/vg_parse.out"; then
  ok "valgrind: omcli parse --save-attachments is clean"
else
  not_ok "valgrind: omcli parse --save-attachments is clean (exit $rc)"; grep -E "ERROR SUMMARY|lost" "$work/out/vg_parse.valgrind" | sed 's/^/#   /'
fi

rm -f "$stokens" # a new token: the assertion signed under valgrind
vg vg_sa_token token "$saccount"
if [ "$rc" = 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$work/out/vg_sa_token.valgrind"; then
  ok "valgrind: omcli token of a service account (key file, signed assertion) is clean"
else
  not_ok "valgrind: omcli token of a service account is clean (exit $rc)"; grep -E "ERROR SUMMARY|lost" "$work/out/vg_sa_token.valgrind" | sed 's/^/#   /'
fi

# ---------------------------------------------------------------- shared_tokens: the host's token store
# A JSON file as the host's "database" and a flock()ed lock file as its row lock
# (om_account_set_token_store). Its own grant (authorized by shared_tokens itself), so that its
# refreshes rotate none of the refresh tokens used above.
st=$repo/examples-c/shared_tokens
db=$work/crm-db.tokens.json
db_get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or '')" "$db" "$1" 2>/dev/null; }
refreshes() { # refresh_token requests received by the sandbox's OAuth2 server (GET /_test/stats)
  python3 - "$SANDBOX_ISSUER" "$SANDBOX_CA_FILE" <<'PY'
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(sys.argv[1] + "/_test/stats", context=ctx, timeout=10) as r:
    print(json.load(r)["token_requests"]["refresh_token"])
PY
}
expire_db() { # what tests/common/capi.rs expire_access_token does, to the stored set
  python3 - "$db" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])); t["expires_at"] = 1; t["version"] += 1
json.dump(t, open(sys.argv[1], "w"))
PY
}
rm -f "$db" "$db.lock"
run st_auth "$st" "$account" "$db"
expect st_auth "shared_tokens with an empty database: authorizes, the store saves the tokens" 0 \
  "^authorized; the tokens are saved" "^access token: " "^stored version: [0-9]+$"
if [ -n "$(db_get refresh_token)" ] && [ -n "$(db_get access_token)" ]; then ok "the database file holds the new token set"
else not_ok "the database file holds the new token set" "$(o st_auth)"; fi

expire_db
v_before=$(db_get version)
r_before=$(refreshes)
run st_refresh "$st" "$account" "$db"
v_after=$(db_get version)
r_after=$(refreshes)
expect st_refresh "shared_tokens with an expired access token: exit 0, refreshed under the lock" 0 \
  "^store: 1 lock\(s\), 1 save\(s\): new tokens saved" "^stored version: $v_after$"
if [ -n "$v_after" ] && [ "$v_after" -gt "$v_before" ] && [ "$(db_get expires_at)" -gt "$(date +%s)" ]; then
  ok "the database holds a newer version after the forced refresh ($v_before -> $v_after)"
else
  not_ok "the database holds a newer version after the forced refresh ($v_before -> $v_after)" "$(o st_refresh)"
fi
if [ "$r_after" = $((r_before + 1)) ]; then ok "one refresh at the OAuth2 server"
else not_ok "one refresh at the OAuth2 server ($r_before -> $r_after)"; fi

run st_fresh "$st" "$account" "$db"
expect st_fresh "another process: the stored token is fresh, no refresh" 0 \
  "^store: 1 lock\(s\), 0 save\(s\): no refresh needed" "^stored version: $v_after$"
if [ "$(refreshes)" = "$r_after" ] && [ "$(db_get version)" = "$v_after" ]; then ok "no further refresh request, the database unchanged"
else not_ok "no further refresh request, the database unchanged"; fi

# another process holds the row lock longer than the account waits (3/4 of timeout_secs = 1.5 s)
write_account "$work/short.json" confidential-secret '{"timeout_secs": 2}'
expire_db
rm -f "$work/out/holder.out"
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX); print("locked", flush=True); time.sleep(30)' \
  "$db.lock" >"$work/out/holder.out" 2>&1 &
holder_pid=$!
for _ in $(seq 1 100); do grep -q locked "$work/out/holder.out" && break; sleep 0.1; done
run st_busy "$st" "$work/short.json" "$db"
kill "$holder_pid" 2>/dev/null; wait "$holder_pid" 2>/dev/null; holder_pid=
expect st_busy "the lock held by another process: exit 1, OM_STATUS_TOKENS_LOCKED" 1 "OM_STATUS_TOKENS_LOCKED"
run st_unlocked "$st" "$work/short.json" "$db"
expect st_unlocked "once the lock is free: refreshed" 0 "^store: 1 lock\(s\), 1 save\(s\)"

leaks=0
for t in "$(db_get access_token)" "$(db_get refresh_token)"; do
  [ -n "$t" ] || continue
  for f in "$work"/out/st_*.out "$work"/out/st_*.err; do
    if grep -qF -- "$t" "$f"; then leaks=$((leaks + 1)); echo "# token found in $f"; fi
  done
done
if [ "$leaks" = 0 ]; then ok "shared_tokens prints no whole token"; else not_ok "shared_tokens prints no whole token ($leaks found)"; fi

valgrind --error-exitcode=99 --leak-check=full \
  --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
  --track-origins=yes --num-callers=40 --suppressions="$repo/tests/c/valgrind.supp" \
  --log-file="$work/out/vg_st.valgrind" "$st" "$account" "$db" >"$work/out/vg_st.out" 2>"$work/out/vg_st.err" </dev/null
rc=$?
if [ "$rc" = 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$work/out/vg_st.valgrind"; then
  ok "valgrind: shared_tokens (lock, read, unlock callbacks) is clean"
else
  not_ok "valgrind: shared_tokens is clean (exit $rc)"; grep -E "ERROR SUMMARY|lost" "$work/out/vg_st.valgrind" | sed 's/^/#   /'
fi

echo "# $(($(date +%s) - started)) s; outputs in $work/out"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
