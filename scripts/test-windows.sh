#!/usr/bin/env bash
# scripts/test-windows.sh -- builds oauthmail.dll for 64-bit and 32-bit Windows
# (scripts/build-windows.sh) and runs Windows test programs against them under Wine, against the
# local sandbox (OAuth2 server, Dovecot + SMTP sink, scripted browser):
#
#   - tests/windows/harness.c, 64-bit and 32-bit (both required): ShellExecuteW
#     system browser, browser_command (CreateProcessW), loopback listener on 127.0.0.1 and ::1,
#     DPAPI token file at a non-ASCII path, access token, IMAPS fetch, send, bad input,
#     attachments with hostile names saved into a directory (tests/corpus/24-hostile-names.eml);
#   - examples-c/omcli.c built with mingw (64-bit): authorize, check, fetch --dir; check with
#     "proxy": "system" through Windows' Internet settings (a real tinyproxy) and its bypass list.
#
# Prints "ok - ..." / "not ok - ..." lines and one final "N passed, M failed" line. Exit status
# 0 when nothing failed, 1 when a check failed, 3 when the environment is missing something.
# Root (apt-get, Dovecot). Wine needs no display: ShellExecuteW goes to Wine's winebrowser,
# which starts the program named in the prefix's registry (tests/windows/wine-browser.sh).
#
# 32-bit Wine: `apt-get install wine32:i386` first. When apt cannot install it (seen: an i386
# index of the mirror with the wrong size), scripts/wine32-root.sh downloads the i386 packages
# into a private root under target/wine32-root and the 32-bit harness runs there (chroot in a
# private mount namespace, its own 32-bit prefix target/windows/wineprefix32; the browser script
# is forwarded to the host, see that script). The 32-bit harness is never skipped: when neither
# way gives a 32-bit Wine, that is a failing check naming what to install.
#
# Env: OMW_SKIP_BUILD=1 uses the DLLs already in target/windows (no cargo);
#      OMW_WINE32=chroot runs the 32-bit harness in the private i386 root even when wine32:i386
#      is installed (tests the fallback); OMW_WINE32=apt: wine32:i386 only, no fallback;
#      KEEP_WORK=1 keeps target/windows/test.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
started=$(date +%s)

# --- Debian packages (idempotent, non-interactive) -----------------------------------------------
export DEBIAN_FRONTEND=noninteractive
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
apt_updated=0
apt_update() { [ $apt_updated = 1 ] || { apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; }; }
for p in wine64 gcc-mingw-w64-x86-64 gcc-mingw-w64-i686; do
  installed "$p" && continue
  [ "$(id -u)" = 0 ] || { echo "test-windows: missing $p (run as root)" >&2; exit 3; }
  apt_update
  apt-get install -y -qq --no-install-recommends "$p" >/dev/null || { echo "test-windows: cannot install $p" >&2; exit 3; }
done
# 32-bit: Wine's 32-bit loader comes from wine32:i386 (Debian i386 multiarch), else from the
# private i386 root (below, once the other tools are checked)
why32=""
wine32_mode=${OMW_WINE32:-auto}
case $wine32_mode in
  auto | apt | chroot) ;;
  *) echo "test-windows: OMW_WINE32 must be auto, apt or chroot (not '$wine32_mode')" >&2; exit 3 ;;
esac
if [ "$wine32_mode" != chroot ] && ! installed wine32:i386; then
  if [ "$(id -u)" != 0 ]; then
    why32="wine32:i386 is not installed (needs root)"
  else
    grep -qx i386 <<<"$(dpkg --print-foreign-architectures)" || { dpkg --add-architecture i386; apt_updated=0; }
    apt_update
    if ! out=$(apt-get install -y -qq --no-install-recommends wine32:i386 2>&1); then
      why32="apt-get install wine32:i386 failed: $(awk '/^E:|Depends/ && n < 4 { print; n++ }' <<<"$out" | tr '\n' ' ')"
    fi
  fi
fi
for tool in node python3 openssl; do
  command -v "$tool" >/dev/null || { echo "test-windows: $tool is required" >&2; exit 3; }
done
[ -d tests/sandbox/node_modules/oidc-provider ] ||
  { echo "test-windows: run 'npm ci --prefix tests/sandbox' first" >&2; exit 3; }
bash tests/sandbox/mail/install.sh >/dev/null || { echo "test-windows: mail sandbox install failed" >&2; exit 3; }
WINE64=/usr/lib/wine/wine64
WINE32=/usr/lib/wine/wine
WINE32_PREFIX=""  # the private root's own 32-bit prefix (empty: the WoW64 prefix is shared)
[ "$wine32_mode" = chroot ] || [ -x "$WINE32" ] || why32=${why32:-"no 32-bit Wine loader at $WINE32"}
if [ "$wine32_mode" = chroot ] || { [ "$wine32_mode" = auto ] && [ -n "$why32" ]; }; then
  if [ "$wine32_mode" = chroot ]; then echo "== 32-bit Wine: the private i386 root (OMW_WINE32=chroot)"
  else echo "== 32-bit Wine: $why32 -> the private i386 root (scripts/wine32-root.sh)"; fi
  t32=$(date +%s)
  mkdir -p target/wine32-root
  if bash scripts/wine32-root.sh >target/wine32-root/build.log 2>&1; then
    # the wrapper: the last line of its output (target/wine32-root/wine32 unless OMW_WINE32_ROOT_DIR)
    WINE32=$(tail -1 target/wine32-root/build.log) WINE32_PREFIX=$repo/target/windows/wineprefix32 why32=""
    # the browser script needs node: run on the host when the Windows side starts it
    export OMW_WINE32_HOST_PROGRAMS=$repo/tests/windows/wine-browser.sh
    echo "# $(grep -E '^wine32-root: (built|up to date)' target/wine32-root/build.log | cut -c14- | tr '\n' ' ')[$(($(date +%s) - t32)) s]"
  else
    why32="${why32:+$why32; }scripts/wine32-root.sh failed: $(tail -2 target/wine32-root/build.log | tr '\n' ' ')(log: target/wine32-root/build.log)"
  fi
fi

# --- DLLs ----------------------------------------------------------------------------------------
if [ "${OMW_SKIP_BUILD:-0}" != 1 ]; then
  echo "== scripts/build-windows.sh (both DLLs)"
  bash scripts/build-windows.sh >target/windows-build.log 2>&1 ||
    { tail -40 target/windows-build.log; echo "test-windows: build-windows.sh failed (log: target/windows-build.log)" >&2; exit 3; }
  grep -E '^=== |^size:|^built:|^export check' target/windows-build.log
fi

# --- the VB6/VBA declaration module against the header, stdcall.rs and both DLLs' exports ---------
echo "== bindings/vb6/OAuthMail.bas (tests/vb6_module_check.py)"
vb6_out=$(OMW_REQUIRE_DLLS=1 python3 tests/vb6_module_check.py 2>&1)
vb6_rc=$?
printf '%s\n' "$vb6_out" | grep -E '^not ok|^# ' || true
vb6_failed=0
[ "$vb6_rc" = 0 ] || vb6_failed=1

# --- the packages a vendor ships: release zip, Delphi folder, NuGet package installed and run -----
echo "== packages (scripts/package.sh; tests/package/run_test.sh)"
pkg_out=$(bash tests/package/run_test.sh 2>&1 </dev/null)
pkg_rc=$?
printf '%s\n' "$pkg_out" | grep -E '^not ok|^[0-9]+ passed, [0-9]+ failed$' || true
pkg_summary=$(printf '%s\n' "$pkg_out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1 || true)

# --- test programs -------------------------------------------------------------------------------
work=$repo/target/windows/test
if [ -s "$work/mail/mail.json" ]; then bash tests/sandbox/mail/stop.sh "$work/mail" >/dev/null 2>&1 || true; fi
rm -rf "$work"
mkdir -p "$work/out"
declare -A TRIPLE=([x86_64]=x86_64-pc-windows-gnu [i686]=i686-pc-windows-gnu)
for a in x86_64 i686; do
  m=$a-w64-mingw32 bin=$work/$a dll=target/windows/${TRIPLE[$a]}/release/oauthmail.dll
  mkdir -p "$bin"
  [ -f "$dll" ] || { echo "test-windows: $dll missing" >&2; exit 3; }
  cp "$dll" "$bin/"
  # the ProcessPrng shim: Wine 8 has no bcryptprimitives.dll (tests only, never shipped)
  $m-gcc -O2 -shared -Wl,--enable-stdcall-fixup -o "$bin/bcryptprimitives.dll" \
    tests/windows/bcryptprimitives_shim.c tests/windows/bcryptprimitives_shim.def -lbcrypt ||
    { echo "test-windows: shim build failed ($a)" >&2; exit 3; }
  # crypt32 size fix for Wine 8, linked into every test program (tests/windows/wine_crypt32_fix.c)
  $m-gcc -O1 -Wall -Wextra -Werror -c tests/windows/wine_crypt32_fix.c -o "$bin/wine_crypt32_fix.o" ||
    { echo "test-windows: wine_crypt32_fix build failed ($a)" >&2; exit 3; }
  $m-gcc -std=c11 -Wall -Wextra -Werror -O1 -Iinclude tests/windows/harness.c "$bin/wine_crypt32_fix.o" -o "$bin/harness.exe" \
    -L"$bin" -l:oauthmail.dll -lws2_32 -lcrypt32 || { echo "test-windows: harness build failed ($a)" >&2; exit 3; }
  # the panic probe (tests/windows/panic-probe, built by scripts/build-windows.sh beside the DLL)
  probe=target/windows/${TRIPLE[$a]}/release/panic_probe.dll
  [ -f "$probe" ] || { echo "test-windows: $probe missing (scripts/build-windows.sh builds it)" >&2; exit 3; }
  cp "$probe" "$bin/"
  $m-gcc -std=c11 -Wall -Wextra -Werror -O1 tests/windows/panic-probe/probe.c -o "$bin/probe.exe" ||
    { echo "test-windows: probe.exe build failed ($a)" >&2; exit 3; }
  if [ "$a" = i686 ]; then  # finds the oms_ entries by name (linked for om_version only)
    $m-gcc -std=c11 -Wall -Wextra -Werror -O1 -Iinclude tests/windows/stdcall.c "$bin/wine_crypt32_fix.o" \
      -o "$bin/stdcall.exe" -L"$bin" -l:oauthmail.dll -lws2_32 -lcrypt32 ||
      { echo "test-windows: stdcall.exe build failed" >&2; exit 3; }
  fi
done
x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -O1 -Iinclude examples-c/omcli.c "$work/x86_64/wine_crypt32_fix.o" \
  -o "$work/x86_64/omcli.exe" -L"$work/x86_64" -l:oauthmail.dll -lws2_32 -lcrypt32 ||
  { echo "test-windows: omcli build failed" >&2; exit 3; }

# --- Wine prefix ---------------------------------------------------------------------------------
export WINEPREFIX=$repo/target/windows/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "== wineboot (new prefix $WINEPREFIX)"
  "$WINE64" wineboot -i >/dev/null 2>&1
fi
# the private i386 root: its own 32-bit prefix (a WoW64 prefix needs a 64-bit wineserver), made
# or rebuilt once like the shared one below, with the same browser setting
if [ -z "$why32" ] && [ -n "$WINE32_PREFIX" ]; then
  wine32p() { WINEPREFIX=$WINE32_PREFIX WINEARCH=win32 "$WINE32" "$@"; }
  if [ ! -f "$WINE32_PREFIX/system.reg" ]; then
    echo "== wineboot (new 32-bit prefix $WINE32_PREFIX, in the private i386 root)"
    wine32p wineboot -i >/dev/null 2>&1
  fi
  if ! wine32p cmd /c echo ok >/dev/null 2>&1; then
    echo "== the 32-bit prefix cannot run a program: rebuilding it"
    WINEPREFIX=$WINE32_PREFIX "$(dirname "$WINE32")/wineserver" -k >/dev/null 2>&1 || true
    rm -rf "$WINE32_PREFIX"
    wine32p wineboot -i >/dev/null 2>&1
    wine32p cmd /c echo ok >/dev/null 2>&1 ||
      why32="the 32-bit Wine of the private i386 root cannot start a program in a new prefix (WINEDEBUG=err+all shows why)"
  fi
  wine32p reg add 'HKCU\Software\Wine\WineBrowser' /v Browsers /t REG_SZ \
    /d "$repo/tests/windows/wine-browser.sh" /f >/dev/null 2>&1
# a prefix made before the 32-bit loader was installed cannot run 32-bit programs ("could not
# load kernel32.dll"): rebuilt once (it lives in target/, nothing in it is kept)
elif [ -z "$why32" ] && ! "$WINE32" cmd /c echo ok >/dev/null 2>&1; then
  echo "== the Wine prefix cannot run 32-bit programs (made before wine32 was installed?): rebuilding it"
  "$(dirname "$WINE64")/wineserver" -k >/dev/null 2>&1 || true
  rm -rf "$WINEPREFIX"
  "$WINE64" wineboot -i >/dev/null 2>&1
  "$WINE32" cmd /c echo ok >/dev/null 2>&1 || why32="the 32-bit Wine cannot start a program in a new prefix"
fi
winpath() { local p=${1//\//\\}; printf 'Z:%s' "$p"; }
# ShellExecuteW(https URL) -> winebrowser -> the first program of this list
"$WINE64" reg add 'HKCU\Software\Wine\WineBrowser' /v Browsers /t REG_SZ \
  /d "$repo/tests/windows/wine-browser.sh" /f >/dev/null 2>&1

# --- sandbox -------------------------------------------------------------------------------------
echo "== sandbox: OAuth2 server, Dovecot + SMTP sink"
source scripts/sandbox-env.sh "$work"
cleanup() {
  bash tests/sandbox/mail/stop.sh "$work/mail" >/dev/null 2>&1 || true
  sandbox_stop  # the OAuth2 server and the Graph emulator
  /usr/lib/wine/wineserver -k 2>/dev/null || true   # this prefix's wineserver only
  [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$work/mail/mail"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bash tests/sandbox/mail/start.sh "$work/mail" "$work/oauth.json" "$work/pki" >"$work/mail.json" ||
  { echo "test-windows: the mail sandbox did not start" >&2; exit 3; }
mj() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/mail.json" "$1"; }
imaps_port=$(mj imaps_port) submission_port=$(mj submission_port) sink_dir=$(mj sink_dir)
seeded=5
python3 tests/sandbox/mail/seed.py "$(mj maildir_root)" alice@example.test $seeded >/dev/null

cat >"$work/browser.env" <<EOF
OMW_NODE='$(command -v node)'
OMW_CA_UNIX='$SANDBOX_CA_FILE'
OMW_BROWSER_LOG='$work/browser.log'
EOF

passed=0 failed=0
[ "$vb6_failed" = 0 ] && passed=$((passed + 1)) && echo "ok - bindings/vb6/OAuthMail.bas matches the header, stdcall.rs and the DLLs' exports" ||
  { failed=$((failed + 1)); echo "not ok - bindings/vb6/OAuthMail.bas (tests/vb6_module_check.py)"; }
if [ -n "$pkg_summary" ] && [ "$pkg_rc" = 0 ]; then
  passed=$((passed + ${pkg_summary%% passed*}))
  echo "ok - packages: release zip, Delphi folder and NuGet package built, checked and run ($pkg_summary)"
else
  failed=$((failed + 1))
  echo "not ok - packages (tests/package/run_test.sh exit $pkg_rc: ${pkg_summary:-no summary}); its output:"
  printf '%s\n' "$pkg_out" | tail -30 | sed 's/^/#   /'
fi
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }

# --- the DLLs' size: the budget a vendor ships to every workstation (issue #13: under 8 MB,
# counted the strict way, 8,000,000 bytes) ------------------------------------------------------
for t in x86_64-pc-windows-gnu i686-pc-windows-gnu; do
  size=$(stat -c %s "target/windows/$t/release/oauthmail.dll" 2>/dev/null || echo 0)
  [ "$size" -gt 0 ] && [ "$size" -lt 8000000 ] &&
    ok "$t oauthmail.dll is under 8 MB ($size bytes)" ||
    not_ok "$t oauthmail.dll is $size bytes, over the 8 MB budget (scripts/build-windows.sh builds the DLL alone, with fat LTO)"
done
sink_count() { find "$sink_dir" -name '*.json' 2>/dev/null | wc -l; }

# --- the harness, 64-bit and 32-bit --------------------------------------------------------------
run_harness() { # run_harness ARCH WINE
  local a=$1 wine=$2 log=$work/out/harness-$a.log t0 rc
  mkdir -p "$work/w-$a"
  t0=$(date +%s)
  echo "== harness $a under Wine"
  OMW_AUTHORIZE_URL=$SANDBOX_AUTHORIZE_URL OMW_TOKEN_URL=$SANDBOX_TOKEN_URL \
  OMW_REVOCATION_URL=$SANDBOX_REVOCATION_URL OMW_CA_FILE=$(winpath "$SANDBOX_CA_FILE") \
  OMW_IMAPS_PORT=$imaps_port OMW_SUBMISSION_PORT=$submission_port \
  OMW_WORKDIR=$(winpath "$work/w-$a") OMW_SEEDED=$seeded \
  OMW_MESSAGE_FILE=$(winpath "$repo/tests/corpus/24-hostile-names.eml") \
  OMW_BROWSER_JSON="[\"$(winpath "$repo/tests/windows/wine-browser.sh" | sed 's/\\/\\\\/g')\"]" \
    timeout 300 "$wine" "$work/$a/harness.exe" >"$log" 2>"$work/out/harness-$a.err" </dev/null
  rc=$?
  tr -d '\r' <"$log" | grep -vE '^[0-9]+ passed, [0-9]+ failed$' | sed "s/^\(not ok\|ok\) - /\1 - [$a] /"
  local summary p f
  summary=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
  if [ -z "$summary" ]; then
    not_ok "[$a] harness ran to the end (exit $rc; stderr: $(head -c 400 "$work/out/harness-$a.err" | tr '\n' ' '))"
    return
  fi
  p=${summary%% passed*} f=${summary#*passed, } f=${f%% failed*}
  passed=$((passed + p)) failed=$((failed + f))
  [ "$rc" = 0 ] || [ "$f" != 0 ] || not_ok "[$a] harness exit status $rc"
  # the token file under the non-ASCII directory, seen from Linux: DPAPI magic, no JSON in clear
  local tf
  tf=$(find "$work/w-$a" -name 'jet*.json' -print -quit)
  if [ -n "$tf" ] && [ "$(head -c 8 "$tf")" = "OMDPAPI1" ] && ! grep -q 'refresh_token' "$tf"; then
    ok "[$a] token file at $(basename "$(dirname "$tf")")/$(basename "$tf"): DPAPI-sealed (seen from Linux)"
  else
    not_ok "[$a] token file with a non-ASCII name, DPAPI-sealed, seen from Linux (${tf:-not found})"
  fi
  echo "# harness $a: $(($(date +%s) - t0)) s"
}

# the stdcall entry set (oms_*) of the 32-bit DLL, found by name and called with a stack-balance
# check, stdcall callbacks through real calls; after the i686 harness, whose token file it reuses
run_stdcall() { # run_stdcall WINE
  local log=$work/out/stdcall-i686.log rc cfg summary p f
  echo "== stdcall.exe (i686) under Wine"
  cfg=$(python3 - "$work/w-i686" "$SANDBOX_CA_FILE" <<PY
import glob, json, sys
tf = glob.glob(sys.argv[1] + "/*/jet*.json")
win = lambda p: "Z:" + p.replace("/", "\\\\")
c = {"provider": "custom", "client_id": "confidential-app", "client_secret": "confidential-secret",
     "client_auth": "request_body", "authorize_url": "$SANDBOX_AUTHORIZE_URL",
     "token_url": "$SANDBOX_TOKEN_URL", "revocation_url": "$SANDBOX_REVOCATION_URL",
     "scopes": "openid offline_access email mail", "email": "alice@example.test",
     "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": $imaps_port, "security": "tls"},
     "outgoing": {"host": "127.0.0.1", "port": $submission_port, "security": "starttls"},
     "ca_certs_file": win(sys.argv[2]), "language": "en", "timeout_secs": 30,
     "token_file": win(tf[0]) if tf else "missing"}
print(json.dumps(c, separators=(",", ":"))[1:-1])
PY
)
  OMW_CONFIG_JSON=$cfg OMW_SEEDED=$seeded \
  OMW_OMS_COUNT=$(grep -c 'OMS_CALL oms_' include/oauthmail_stdcall.h) \
    timeout 300 "$1" "$work/i686/stdcall.exe" >"$log" 2>"$work/out/stdcall-i686.err" </dev/null
  rc=$?
  tr -d '\r' <"$log" | grep -vE '^[0-9]+ passed, [0-9]+ failed$' | sed "s/^\(not ok\|ok\) - /\1 - [i686 stdcall] /"
  summary=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
  if [ -z "$summary" ]; then
    not_ok "[i686] stdcall.exe ran to the end (exit $rc; stderr: $(head -c 400 "$work/out/stdcall-i686.err" | tr '\n' ' '))"
    return
  fi
  p=${summary%% passed*} f=${summary#*passed, } f=${f%% failed*}
  passed=$((passed + p)) failed=$((failed + f))
  [ "$rc" = 0 ] || [ "$f" != 0 ] || not_ok "[i686] stdcall.exe exit status $rc"
}

# a panic inside a DLL built this way unwinds and is caught (oauthmail.dll has no panic to call)
run_probe() { # run_probe ARCH WINE
  local out
  out=$(timeout 120 "$2" "$work/$1/probe.exe" 2>"$work/out/probe-$1.err" </dev/null | tr -d '\r')
  [ "$out" = $'probe_panic=6\nprobe_panic=6' ] &&
    ok "[$1] a panic five frames down in a DLL built as oauthmail.dll is caught, every frame dropped (twice)" ||
    not_ok "[$1] panic probe: expected probe_panic=6 twice, got '$(echo $out)' (stderr: $(head -c 300 "$work/out/probe-$1.err" | tr '\n' ' '))"
}

run_probe x86_64 "$WINE64"
sent_before=$(sink_count)
run_harness x86_64 "$WINE64"
[ "$(sink_count)" -gt "$sent_before" ] && ok "[x86_64] the sink received the message sent from Wine" ||
  not_ok "[x86_64] the sink received the message sent from Wine"
# 32-bit: required (issue #13); no 32-bit Wine is a failure
if [ -z "$why32" ]; then
  sent_before=$(sink_count)
  [ -z "$WINE32_PREFIX" ] || echo "# i686: in the private i386 root ($WINE32, prefix $WINE32_PREFIX)"
  WINEPREFIX=${WINE32_PREFIX:-$WINEPREFIX} run_probe i686 "$WINE32"
  WINEPREFIX=${WINE32_PREFIX:-$WINEPREFIX} run_harness i686 "$WINE32"
  [ "$(sink_count)" -gt "$sent_before" ] && ok "[i686] the sink received the message sent from Wine" ||
    not_ok "[i686] the sink received the message sent from Wine"
  WINEPREFIX=${WINE32_PREFIX:-$WINEPREFIX} run_stdcall "$WINE32"
  # the private root's wineserver (the shared prefix's is stopped by cleanup)
  [ -z "$WINE32_PREFIX" ] || WINEPREFIX=$WINE32_PREFIX "$(dirname "$WINE32")/wineserver" -k >/dev/null 2>&1 || true
else
  not_ok "[i686] harness under Wine: no 32-bit Wine: $why32. Install wine32:i386 (dpkg --add-architecture i386; apt-get update; apt-get install wine32:i386), or make scripts/wine32-root.sh work (root, unshare -m, chroot, and apt-get download of wine32:i386 libwine:i386 libgnutls30:i386 and the other i386 packages it lists)"
fi

# --- the Delphi binding, Win64 and Win32 (Free Pascal): scripts/fpc-windows.sh builds the Windows RTL
# into target/fpc-win, tests/windows/delphi.sh compiles bindings/delphi's programs and runs them ------
echo "== Delphi binding under Wine: Free Pascal's Windows RTL (scripts/fpc-windows.sh)"
if fpcw_out=$(bash scripts/fpc-windows.sh 2>&1); then
  grep '^fpc-windows: ' <<<"$fpcw_out"
  export -f winpath
  OMW_WORK=$work WINE64=$WINE64 WINE32=$WINE32 OMW_WINE32_PREFIX=$WINE32_PREFIX OMW_WHY32=$why32 \
  OMW_IMAPS_PORT=$imaps_port OMW_SUBMISSION_PORT=$submission_port OMW_SINK_DIR=$sink_dir \
  OMW_MAILDIR_ROOT=$(mj maildir_root) OMW_SEEDED=$seeded bash tests/windows/delphi.sh 2>&1 |
    tee "$work/out/delphi.txt" | grep -vE '^[0-9]+ passed, [0-9]+ failed$'
  dsum=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/out/delphi.txt" | tail -1)
  if [ -n "$dsum" ]; then
    dp=${dsum%% passed*} df=${dsum#*passed, } df=${df%% failed*}
    passed=$((passed + dp)) failed=$((failed + df))
  else
    not_ok "tests/windows/delphi.sh ran to the end (output: $work/out/delphi.txt)"
  fi
else
  printf '%s\n' "$fpcw_out" | tail -20 | sed 's/^/#   /'
  not_ok "Free Pascal's Windows RTL (scripts/fpc-windows.sh): $(tail -1 <<<"$fpcw_out")"
fi

# --- omcli (64-bit) ------------------------------------------------------------------------------
echo "== omcli.exe (x86_64) under Wine"
omcfg=$work/omcli/account.json
mkdir -p "$work/omcli/eml"
python3 - "$omcfg" <<PY
import json, sys
json.dump({
  "provider": "custom", "client_id": "confidential-app", "client_secret": "confidential-secret",
  "client_auth": "request_body",
  "authorize_url": "$SANDBOX_AUTHORIZE_URL", "token_url": "$SANDBOX_TOKEN_URL",
  "revocation_url": "$SANDBOX_REVOCATION_URL",
  "scopes": "openid offline_access email mail", "redirect_uri": "http://127.0.0.1/",
  "email": "alice@example.test",
  "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": $imaps_port, "security": "tls"},
  "outgoing": {"host": "127.0.0.1", "port": $submission_port, "security": "starttls"},
  "ca_certs_file": r"$(winpath "$SANDBOX_CA_FILE")",
  "browser_command": [r"$(winpath "$repo/tests/windows/wine-browser.sh")"],
  "language": "en",
}, open(sys.argv[1], "w"), indent=2)
PY
omcli() { # omcli NAME ARGS... ; output in $work/out/omcli-NAME.{out,err}, status in $rc
  local name=$1; shift
  timeout 180 "$WINE64" "$work/x86_64/omcli.exe" "$@" >"$work/out/omcli-$name.out" 2>"$work/out/omcli-$name.err" </dev/null
  rc=$?
  tr -d '\r' <"$work/out/omcli-$name.out" >"$work/out/omcli-$name.txt"
  tr -d '\r' <"$work/out/omcli-$name.err" >>"$work/out/omcli-$name.txt"
}
expect_omcli() { # expect_omcli NAME DESCRIPTION RC PATTERN...
  local name=$1 desc=$2 want=$3 pat; shift 3
  if [ "$rc" != "$want" ]; then
    not_ok "omcli $desc (exit $rc, expected $want)"; sed 's/^/#   /' "$work/out/omcli-$name.txt" | tail -15; return
  fi
  for pat in "$@"; do
    grep -qE -- "$pat" "$work/out/omcli-$name.txt" ||
      { not_ok "omcli $desc (no /$pat/)"; sed 's/^/#   /' "$work/out/omcli-$name.txt" | tail -15; return; }
  done
  ok "omcli $desc"
}
wcfg=$(winpath "$omcfg")
omcli authorize authorize "$wcfg"
expect_omcli authorize "authorize (browser_command -> scripted browser)" 0 "Authorized"
omcli check check "$wcfg"
expect_omcli check "check: both servers authenticated" 0 "incoming imap 127\.0\.0\.1:$imaps_port .*OK"
omcli fetch fetch "$wcfg" --all --dir "$(winpath "$work/omcli/eml")"
n_eml=$(find "$work/omcli/eml" -type f | wc -l)
expect_omcli fetch "fetch --all --dir: $seeded messages written" 0 "^INBOX: $seeded "
[ "$n_eml" = "$seeded" ] && ok "omcli fetch: $n_eml .eml files in the directory" ||
  not_ok "omcli fetch: $n_eml files in the directory, expected $seeded"

# --- "proxy": "system": the Internet settings of Windows (HKCU), through a real tinyproxy ---------
echo "== omcli.exe with \"proxy\": \"system\" (Windows' Internet settings -> tinyproxy)"
tp=$work/tinyproxy
rm -rf "$tp" && mkdir -p "$tp" && chmod 777 "$tp"
tp_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'User nobody\nGroup nogroup\nPort %s\nListen 127.0.0.1\nAllow 127.0.0.1\nLogLevel Connect\nLogFile "%s"\nPidFile "%s"\n' \
  "$tp_port" "$tp/tp.log" "$tp/tp.pid" >"$tp/tp.conf"
tinyproxy -d -c "$tp/tp.conf" >/dev/null 2>&1 &
tp_pid=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$tp_port) 2>/dev/null && break; sleep 0.1; done
isk='HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings'
wreg() { "$WINE64" reg "$@" >/dev/null 2>&1; }
wreg add "$isk" /v ProxyEnable /t REG_DWORD /d 1 /f
wreg add "$isk" /v ProxyServer /t REG_SZ /d "127.0.0.1:$tp_port" /f
wreg add "$isk" /v ProxyOverride /t REG_SZ /d "" /f
python3 - "$omcfg" "$work/omcli/system.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["proxy"] = "system"
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
cp "$work/omcli/account.tokens.json" "$work/omcli/system.tokens.json"
omcli sysproxy check "$(winpath "$work/omcli/system.json")"
expect_omcli sysproxy "check through the system proxy" 0 "incoming imap 127\.0\.0\.1:$imaps_port .*OK"
grep -q "CONNECT 127.0.0.1:$imaps_port " "$tp/tp.log" &&
  ok "the IMAPS connection went through the Internet settings' proxy (tinyproxy saw CONNECT 127.0.0.1:$imaps_port)" ||
  { not_ok "no CONNECT to the IMAPS port in tinyproxy's log"; sed 's/^/#   /' "$tp/tp.log" | tail -8; }
# the bypass list sends the server direct
: >"$tp/tp.log"
wreg add "$isk" /v ProxyOverride /t REG_SZ /d "<local>;127.0.0.*" /f
omcli sysbypass check "$(winpath "$work/omcli/system.json")"
expect_omcli sysbypass "check with the server in the bypass list" 0 "incoming imap 127\.0\.0\.1:$imaps_port .*OK"
grep -q "CONNECT 127.0.0.1:$imaps_port " "$tp/tp.log" &&
  not_ok "the bypass list was not honoured (CONNECT to the IMAPS port)" ||
  ok "a server in ProxyOverride is reached direct"
wreg add "$isk" /v ProxyEnable /t REG_DWORD /d 0 /f
# no per-user proxy: the machine's WinHTTP setting (what `netsh winhttp set proxy` writes; Wine
# reads the WinHttpSettings blob: magic 0x18, a counter, flags 3 = direct|named proxy, then the
# proxy and the bypass list, each a length and ASCII)
: >"$tp/tp.log"
cnk='HKLM\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections'
blob=$(python3 -c 'import struct,sys; p=sys.argv[1].encode(); print((struct.pack("<IIII",0x18,0,3,len(p))+p+struct.pack("<I",0)).hex())' "127.0.0.1:$tp_port")
wreg add "$cnk" /v WinHttpSettings /t REG_BINARY /d "$blob" /f
omcli winhttp check "$(winpath "$work/omcli/system.json")"
expect_omcli winhttp "check through the WinHTTP machine proxy" 0 "incoming imap 127\.0\.0\.1:$imaps_port .*OK"
grep -q "CONNECT 127.0.0.1:$imaps_port " "$tp/tp.log" &&
  ok "with no per-user proxy, the IMAPS connection went through the WinHTTP proxy (tinyproxy saw CONNECT)" ||
  { not_ok "no CONNECT through the WinHTTP machine proxy"; sed 's/^/#   /' "$tp/tp.log" | tail -8; }
wreg delete "$cnk" /v WinHttpSettings /f
kill "$tp_pid" 2>/dev/null; wait "$tp_pid" 2>/dev/null

echo "# browser log: $work/browser.log; outputs: $work/out"
echo "# total $(($(date +%s) - started)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
