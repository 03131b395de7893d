#!/bin/sh
# tests/windows/wine-browser.sh URL -- the "browser" of the Windows programs under Wine.
# A Linux script started by Wine in two ways, both exercised by scripts/test-windows.sh:
#  - ShellExecuteW(url) in oauthmail.dll -> Wine's winebrowser -> the program named in
#    HKCU\Software\Wine\WineBrowser\Browsers (set to this script by test-windows.sh);
#  - browser_command ["Z:\\...\\wine-browser.sh"] -> CreateProcessW, which Wine runs as a Unix
#    program.
# It hands the URL to the sandbox's scripted browser (node tests/sandbox/browser.mjs). Its
# settings come from target/windows/test/browser.env (written by test-windows.sh): Wine does not
# pass the Linux PATH through unchanged.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../target/windows/test/browser.env"
echo "$(date +%T) wine-browser: $1" >>"$OMW_BROWSER_LOG"
exec "$OMW_NODE" "$here/../sandbox/browser.mjs" --ca "$OMW_CA_UNIX" "$1" >>"$OMW_BROWSER_LOG" 2>&1 </dev/null
