#!/usr/bin/env bash
# tests/package/run_test.sh — the release zip and the NuGet package as a vendor and a customer
# meet them (issue #13):
#
#   1. scripts/package.sh builds them (into target/dist) from this checkout, the Windows DLLs
#      already built (target/windows, or OM_PACKAGE_WINDOWS_DIR) and a liboauthmail.so;
#   2. the zip: unpacked, `sha256sum -c SHA256SUMS`, exactly the expected files
#      (check_release.py), each DLL's machine type by `objdump -f` (pei-i386 / pei-x86-64) and
#      every om_* function of include/oauthmail.h exported by both;
#   3. the .nupkg: its entries, manifest and OPC parts (check_nupkg.py); then Debian's NuGet
#      (2.8.7, reading packages with System.IO.Packaging: a strict OPC reader) installs it from
#      a local feed for a packages.config, Mono's xbuild builds a .NET
#      Framework 4.5 program against the installed lib/net45 (consumer/Consumer.csproj imports
#      the package's build/net45/OAuthMail.targets, which copies the native libraries), and the
#      program runs with mono (consumer/Program.cs: version, the library loaded from the
#      program's folder, the AnyCPU resolver's x86\ and x64\ DLLs in the output, a message
#      parsed, a bad configuration's status); the same program against lib/netstandard2.0 in a
#      .NET-style output (runtimes/ kept);
#   4. the Delphi folder: the demo form's .dfm, .pas and .dpr agree (check_delphi_demo.py);
#      Free Pascal compiles the demo against stand-in VCL units (vcl_stubs/) and runs its
#      handlers without a screen (delphi_driver.dpr).
#
# Prints "ok - ..." / "not ok - ..." lines and one final "N passed, M failed" line. Exit status
# 0 when nothing failed, 1 when a check failed, 3 when the environment is missing something.
# Root on Debian 12 (installs mono-devel, nuget, binutils, unzip, fpc when missing).
# Env: OM_PACKAGE_WINDOWS_DIR (default target/windows: x86_64- and i686-pc-windows-gnu/release),
#      OM_PACKAGE_LINUX_SO (default: the newer of target/release and target/debug
#      liboauthmail.so; when neither exists, `cargo build --lib` makes the debug one),
#      KEEP_WORK=1 keeps target/package-test.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
started=$(date +%s)
here=tests/package
work=$repo/target/package-test
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1${2:+ ($2)}"; }
check() { # WHAT COMMAND...: ok when the command succeeds (its output shown on failure)
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what" "exit $?"; printf '%s\n' "$out" | sed 's/^/    /'; fi
}
tally() { # WHAT COMMAND...: runs a checker printing ok/not ok lines, and counts them
  local what=$1 log=$work/tally.log rc n_ok n_bad
  shift
  "$@" >"$log" 2>&1
  rc=$?
  # its own closing "N passed, M failed" indented: only this script's last line is the total
  sed -E 's/^([0-9]+ passed, [0-9]+ failed)$/    (\1)/' "$log"
  n_ok=$(grep -c '^ok - ' "$log" || true)
  n_bad=$(grep -c '^not ok - ' "$log" || true)
  passed=$((passed + n_ok))
  failed=$((failed + n_bad))
  if [ "$rc" -ne 0 ] && [ "$n_bad" -eq 0 ]; then not_ok "$what" "exit $rc"; fi
  if [ "$rc" -eq 0 ] && [ "$n_ok" -eq 0 ]; then not_ok "$what" "ran no check"; fi
}
finish() {
  echo "package test: $(( $(date +%s) - started ))s"
  echo "$passed passed, $failed failed"
  [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$work"
  [ "$failed" -eq 0 ] || exit 1
  exit 0
}
env_missing() { echo "package test: $*" >&2; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$work"; echo "$passed passed, $((failed + 1)) failed"; exit 3; }

# --- tools: never skipped ------------------------------------------------------------------------
source scripts/apt.sh
pkgs=(mono-devel nuget binutils unzip python3)
command -v fpc >/dev/null 2>&1 || pkgs+=(fpc)
apt_install package-test "${pkgs[@]}" || env_missing "cannot install ${pkgs[*]}"
for t in mono mcs xbuild nuget objdump unzip sha256sum python3 fpc; do
  command -v "$t" >/dev/null 2>&1 || env_missing "$t not found after installing ${pkgs[*]}"
done
ns_facade=/usr/lib/mono/4.5/Facades/netstandard.dll
[ -f "$ns_facade" ] || env_missing "$ns_facade missing (mono-devel)"

rm -rf "$work" && mkdir -p "$work"

# --- 1. build the packages ------------------------------------------------------------------------
wd=${OM_PACKAGE_WINDOWS_DIR:-target/windows}
{ [ -f "$wd/x86_64-pc-windows-gnu/release/oauthmail.dll" ] && [ -f "$wd/i686-pc-windows-gnu/release/oauthmail.dll" ]; } ||
  { [ -f "$wd/x64/oauthmail.dll" ] && [ -f "$wd/x86/oauthmail.dll" ]; } ||
  env_missing "no Windows DLLs in $wd: build them first (bash scripts/build-windows.sh) or set OM_PACKAGE_WINDOWS_DIR"
if [ -z "${OM_PACKAGE_LINUX_SO:-}" ] && [ ! -f target/release/liboauthmail.so ] && [ ! -f target/debug/liboauthmail.so ]; then
  echo "package test: no liboauthmail.so yet: cargo build --lib"
  nice -n 10 cargo build --lib --locked --quiet || env_missing "cargo build --lib failed"
fi
echo "== scripts/package.sh"
t0=$(date +%s)
if nice -n 10 bash scripts/package.sh >"$work/package.log" 2>&1; then
  sed 's/^/    /' "$work/package.log"
  ok "scripts/package.sh built the zip and the .nupkg ($(( $(date +%s) - t0 ))s)"
else
  sed 's/^/    /' "$work/package.log"
  not_ok "scripts/package.sh" "see above"
  finish
fi
version=$(sed -n 's/^package: oauthmail \([0-9.]*\)$/\1/p' "$work/package.log")
[ -n "$version" ] || { not_ok "scripts/package.sh names the version"; finish; }
dist=$repo/target/dist
zip=$dist/oauthmail-$version.zip
nupkg=$dist/OAuthMail.$version.nupkg

# --- 2. the release zip ---------------------------------------------------------------------------
echo "== the release zip"
check "target/dist/SHA256SUMS verifies the zip and the .nupkg" bash -c "cd '$dist' && sha256sum -c --strict SHA256SUMS"
mkdir -p "$work/unpacked"
check "the zip unpacks (unzip -t, then unzip)" bash -c "unzip -tq '$zip' && unzip -q '$zip' -d '$work/unpacked'"
tops=$(ls -A "$work/unpacked")
[ "$tops" = "oauthmail-$version" ] && ok "the zip has one top folder, oauthmail-$version" || not_ok "one top folder oauthmail-$version" "$tops"
tree=$work/unpacked/oauthmail-$version
check "sha256sum -c SHA256SUMS inside the zip" bash -c "cd '$tree' && sha256sum -c --strict --quiet SHA256SUMS"
tally "check_release.py" python3 "$here/check_release.py" "$tree" "$version" "$repo" "$nupkg"

machine() { objdump -f "$1" 2>/dev/null | sed -n 's/.*file format \(.*\)$/\1/p'; }
for spec in x86/oauthmail.dll:pei-i386 delphi/Win32/oauthmail.dll:pei-i386 \
            x64/oauthmail.dll:pei-x86-64 delphi/Win64/oauthmail.dll:pei-x86-64; do
  f=${spec%%:*} want=${spec##*:}
  got=$(machine "$tree/$f")
  [ "$got" = "$want" ] && ok "objdump -f $f: $want" || not_ok "objdump -f $f: $want" "${got:-not a PE file}"
done
mapfile -t header_fns < <(grep -oE '\bom_[a-z0-9_]+\(' "$tree/include/oauthmail.h" | tr -d '(' | LC_ALL=C sort -u)
for f in x86/oauthmail.dll x64/oauthmail.dll; do
  exports=$(objdump -p "$tree/$f" | awk '/^\[Ordinal\/Name Pointer\] Table/{on=1; next} on && /^[[:space:]]*$/{on=0} on' |
            sed -E 's/^[[:space:]]*\[[[:space:]]*[0-9]+\][[:space:]]+//' | LC_ALL=C sort -u)
  missing=$(comm -23 <(printf '%s\n' "${header_fns[@]}") <(printf '%s\n' "$exports") | tr '\n' ' ')
  [ ${#header_fns[@]} -gt 40 ] && [ -z "$missing" ] &&
    ok "$f exports all ${#header_fns[@]} om_* functions of include/oauthmail.h" ||
    not_ok "$f exports the header's om_* functions" "missing: ${missing:-the header lists ${#header_fns[@]}}"
done

# --- 3. the NuGet package ---------------------------------------------------------------------------
echo "== the NuGet package"
tally "check_nupkg.py" python3 "$here/check_nupkg.py" "$tree/nuget/OAuthMail.$version.nupkg" "$version"

app=$work/app
mkdir -p "$work/feed" "$app" "$work/home"
cp "$tree/nuget/OAuthMail.$version.nupkg" "$work/feed/"
cat > "$app/packages.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<packages>
  <package id="OAuthMail" version="$version" targetFramework="net45" />
</packages>
XML
# HOME of its own: no user NuGet.Config, no machine-wide cache; the local feed only
# (never `nuget` or `nuget help` without a terminal: NuGet 2.8.7 then prints spaces forever)
if HOME=$work/home timeout 300 nuget install "$app/packages.config" -Source "$work/feed" -OutputDirectory "$work/packages" \
     -NonInteractive -NoCache </dev/null >"$work/nuget.log" 2>&1; then
  ok "nuget install (Debian nuget $(dpkg-query -W -f='${Version}' nuget)) from a local feed for packages.config"
else
  sed 's/^/    /' "$work/nuget.log"
  not_ok "nuget install from a local feed"
fi
pkgdir=$work/packages/OAuthMail.$version
want=$(unzip -Z1 "$work/feed/OAuthMail.$version.nupkg" | grep -vE '^(\[Content_Types\]\.xml|_rels/|package/|OAuthMail\.nuspec$)' | LC_ALL=C sort)
have=$( (cd "$pkgdir" 2>/dev/null && find . -type f ! -name '*.nupkg' -printf '%P\n') | LC_ALL=C sort)
[ -n "$want" ] && [ "$want" = "$have" ] && ok "installed as packages/OAuthMail.$version/ with the package's files" ||
  not_ok "installed files = the package's files" "$(diff <(echo "$want") <(echo "$have") | tr '\n' ' ')"

cp "$here/consumer/Consumer.csproj" "$here/consumer/Program.cs" "$app/"
if (cd "$app" && timeout 300 xbuild /nologo /verbosity:minimal /p:OAuthMailVersion="$version" /p:PackagesDir="$work/packages" \
      Consumer.csproj) >"$work/xbuild.log" 2>&1 && [ -f "$app/bin/Consumer.exe" ]; then
  ok "xbuild: a .NET Framework 4.5 program against lib/net45 and the package's OAuthMail.targets"
else
  sed 's/^/    /' "$work/xbuild.log"
  not_ok "xbuild Consumer.csproj"
fi
outputs=$( (cd "$app/bin" 2>/dev/null && find . -type f -printf '%P\n') | LC_ALL=C sort | tr '\n' ' ')
[ "$outputs" = "Consumer.exe OAuthMail.dll liboauthmail.so x64/oauthmail.dll x86/oauthmail.dll " ] &&
  ok "the build output: Consumer.exe, OAuthMail.dll, x86/ and x64/oauthmail.dll, liboauthmail.so" ||
  not_ok "the build output holds the program, the binding and the native libraries" "$outputs"
settings=$tree/delphi/demo/settings.example.json
echo "-- mono Consumer.exe (lib/net45)"
tally "Consumer.exe (net45)" timeout 120 env -u LD_LIBRARY_PATH -u MONO_PATH mono "$app/bin/Consumer.exe" \
  --version "$version" --tfm net45 --layout framework --settings "$settings"

# lib/netstandard2.0, in the output a RID-less .NET build makes (runtimes/ kept beside the
# program); Mono, which reads no .deps.json, gets liboauthmail.so next to it.
ns=$work/app-netstandard
mkdir -p "$ns"
cp "$pkgdir/lib/netstandard2.0/OAuthMail.dll" "$ns/"
cp -r "$pkgdir/runtimes" "$ns/"
cp "$pkgdir/runtimes/linux-x64/native/liboauthmail.so" "$ns/"
check "mcs: the same program against lib/netstandard2.0 (netstandard facade)" \
  mcs -target:exe -warnaserror+ -r:System.Core.dll -r:"$ns/OAuthMail.dll" -r:"$ns_facade" -out:"$ns/Consumer.exe" "$here/consumer/Program.cs"
echo "-- mono Consumer.exe (lib/netstandard2.0)"
tally "Consumer.exe (netstandard2.0)" timeout 120 env -u LD_LIBRARY_PATH -u MONO_PATH mono "$ns/Consumer.exe" \
  --version "$version" --tfm netstandard2.0 --layout netcore --settings "$settings"

# --- 4. the Delphi folder ------------------------------------------------------------------------
echo "== the Delphi folder"
tally "check_delphi_demo.py" python3 "$here/check_delphi_demo.py" "$tree/delphi"
# Free Pascal, Delphi mode with string = UnicodeString (as Delphi 2009+), against stand-in VCL
# units; the .dfm is not linked ({$R *.dfm} dropped from a copy: FPC has no .dfm resources).
dl=$work/delphi
mkdir -p "$dl/out" "$dl/run"
cp -r "$tree/delphi" "$dl/src"
sed -i '/^{\$R \*\.dfm}/d' "$dl/src/demo/DemoMain.pas"
fpc_demo() { (cd "$dl/src/demo" && fpc -Mdelphiunicode -vw -Fu"$repo/$here/vcl_stubs" -FU"$dl/out" -FE"$dl/out" "$@"); }
if fpc_demo OAuthMailDemo.dpr >"$dl/fpc.log" 2>&1; then
  ok "fpc compiles the demo (OAuthMailDemo.dpr, DemoMain.pas, OAuthMail.pas) against stand-in VCL units"
else
  sed 's/^/    /' "$dl/fpc.log"
  not_ok "fpc compiles the demo"
fi
# FPC 3.2's RTL is AnsiString-based (ParamStr, Exception.Message): its implicit string
# conversion warnings are not Delphi's; any other warning in the demo's own files counts.
warnings=$(grep -E '^(DemoMain\.pas|OAuthMailDemo\.dpr)\([0-9,]+\) (Warning|Error|Fatal)' "$dl/fpc.log" | grep -v 'Implicit string type conversion' || true)
[ -z "$warnings" ] && ok "no compiler warning in the demo's own code" || not_ok "no compiler warning in the demo's code" "$warnings"
if fpc_demo "$repo/$here/delphi_driver.dpr" >"$dl/driver.log" 2>&1 && [ -x "$dl/out/delphi_driver" ]; then
  cp "$pkgdir/runtimes/linux-x64/native/liboauthmail.so" "$dl/out/"
  echo "-- the demo form's handlers, without a screen (delphi_driver)"
  tally "delphi_driver" timeout 120 env -u LD_LIBRARY_PATH "$dl/out/delphi_driver" "$dl/run"
else
  sed 's/^/    /' "$dl/driver.log"
  not_ok "fpc compiles tests/package/delphi_driver.dpr"
fi

finish
