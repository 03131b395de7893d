#!/usr/bin/env bash
# scripts/package.sh — builds what a vendor ships, from a checkout and the two Windows DLLs
# (issue #13), into target/dist/:
#
#   oauthmail-VERSION.zip      the release: x86/ and x64/oauthmail.dll, include/oauthmail.h,
#                              the bindings (Delphi unit, .NET source, their READMEs), README.md,
#                              LICENSE*, CHANGELOG.md, delphi/ (the unit, Win32/ and Win64/ DLLs,
#                              a VCL demo's sources, README.txt), nuget/OAuthMail.VERSION.nupkg,
#                              and SHA256SUMS of every other file in it (sha256sum -c format)
#   OAuthMail.VERSION.nupkg    the NuGet package: lib/net45 and lib/netstandard2.0/OAuthMail.dll
#                              (+ .xml docs), runtimes/win-x86|win-x64/native/oauthmail.dll,
#                              runtimes/linux-x64/native/liboauthmail.so, build/ and
#                              buildTransitive/net45/OAuthMail.targets, README.md
#   SHA256SUMS                 of the two files above
#   oauthmail-VERSION/         the zip's tree (kept for a look)
#
# VERSION is Cargo.toml's [package] version; the DLLs' VERSIONINFO, the header and both
# bindings must say the same, and each DLL must be of its bitness, or nothing is written.
#
# Usage: bash scripts/package.sh [--windows-dir DIR] [--linux-so FILE] [--out DIR]
#   --windows-dir DIR  where the Windows DLLs are: DIR/x86_64-pc-windows-gnu/release/oauthmail.dll
#                      and DIR/i686-pc-windows-gnu/release/oauthmail.dll (what
#                      scripts/build-windows.sh makes; default target/windows), or
#                      DIR/x64/oauthmail.dll and DIR/x86/oauthmail.dll (e.g. signed copies).
#                      Env: OM_PACKAGE_WINDOWS_DIR. Never built here: scripts/build-windows.sh.
#   --linux-so FILE    the liboauthmail.so for the NuGet package's linux-x64 runtime (Mono, .NET
#                      on Linux). Env: OM_PACKAGE_LINUX_SO. Default: the newer of
#                      target/release and target/debug liboauthmail.so; when neither exists,
#                      `cargo build --release --lib` makes it. Shipped stripped of debug info.
#   --out DIR          instead of target/dist.
# Root on Debian 12: installs Mono's compiler and reference assemblies (mono-devel) when
# missing. The .NET assemblies are compiled with mcs: net45 against the 4.5 reference
# assemblies, netstandard2.0 against the 4.6.1 ones and then pointed at netstandard 2.0.0.0
# (packaging/nuget/Retarget.cs, with Mono.Cecil).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

die() { echo "package: $*" >&2; exit 1; }

windows_dir=${OM_PACKAGE_WINDOWS_DIR:-target/windows}
linux_so=${OM_PACKAGE_LINUX_SO:-}
out=target/dist
while [ $# -gt 0 ]; do
  case $1 in
    --windows-dir) [ $# -ge 2 ] || die "--windows-dir needs a directory"; windows_dir=$2; shift 2 ;;
    --linux-so) [ $# -ge 2 ] || die "--linux-so needs a file"; linux_so=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

# --- tools ----------------------------------------------------------------------------------
# mono-devel: mcs, the 4.5 / 4.6.1 reference assemblies and the netstandard facades, Mono.Cecil
# (libmono-cecil-private-cil); binutils: strip; python3: the zip writers.
source scripts/apt.sh
apt_install package mono-devel binutils python3 || die "cannot install Mono's development tools (mono-devel)"
for t in mcs mono strip python3 sha256sum; do
  command -v "$t" >/dev/null || die "$t not found"
done
refs45=/usr/lib/mono/4.5-api
refs461=/usr/lib/mono/4.6.1-api
ns_facade=/usr/lib/mono/4.7.1-api/Facades/netstandard.dll
cecil=$(ls -d /usr/lib/mono/gac/Mono.Cecil/0.1[1-9]*/Mono.Cecil.dll 2>/dev/null | sort -V | tail -n 1 || true)
for f in "$refs45/mscorlib.dll" "$refs461/mscorlib.dll" "$ns_facade" "$cecil"; do
  [ -n "$f" ] && [ -f "$f" ] || die "missing Mono file ${f:-Mono.Cecil.dll 0.11+} (Debian package mono-devel)"
done

# --- version: Cargo.toml, and everything that must agree with it ---------------------------------
version=$(python3 - <<'PY'
import re
text = open("Cargo.toml", encoding="utf-8").read()
m = re.search(r'^\[package\]\s*$(.*?)(?=^\[)', text, re.S | re.M)
v = m and re.search(r'^version\s*=\s*"([^"]+)"', m.group(1), re.M)
print(v.group(1) if v else "")
PY
)
[[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || die "Cargo.toml's [package] version '$version' is not MAJOR.MINOR.PATCH"
number=$(( BASH_REMATCH[1] * 10000 + BASH_REMATCH[2] * 100 + BASH_REMATCH[3] ))
description=$(sed -n '/^\[package\]/,/^\[/s/^description *= *"\(.*\)"$/\1/p' Cargo.toml)
[ -n "$description" ] || die "Cargo.toml has no [package] description"
grep -qx "#define OM_VERSION_STRING \"$version\"" include/oauthmail.h ||
  die "include/oauthmail.h's OM_VERSION_STRING is not \"$version\" (OM_UPDATE_HEADER=1 cargo build)"
grep -qE "public const uint HeaderVersionNumber = $number;" bindings/dotnet/OAuthMail.cs ||
  die "bindings/dotnet/OAuthMail.cs: HeaderVersionNumber is not $number (version $version)"
grep -qE "OM_HEADER_VERSION_STRING = '$version';" bindings/delphi/OAuthMail.pas ||
  die "bindings/delphi/OAuthMail.pas: OM_HEADER_VERSION_STRING is not '$version'"
echo "package: oauthmail $version"

# --- inputs: the Windows DLLs ----------------------------------------------------------------------
if [ -f "$windows_dir/x86_64-pc-windows-gnu/release/oauthmail.dll" ] || [ -f "$windows_dir/i686-pc-windows-gnu/release/oauthmail.dll" ]; then
  dll64=$windows_dir/x86_64-pc-windows-gnu/release/oauthmail.dll
  dll32=$windows_dir/i686-pc-windows-gnu/release/oauthmail.dll
else
  dll64=$windows_dir/x64/oauthmail.dll
  dll32=$windows_dir/x86/oauthmail.dll
fi
for f in "$dll64" "$dll32"; do
  [ -f "$f" ] || die "missing $f: build the Windows DLLs first (bash scripts/build-windows.sh) or give --windows-dir"
done
check_dll() { # FILE MACHINE
  local line
  line=$(python3 packaging/tools/pe_info.py "$1") || die "$1 is not a Windows DLL"
  [[ $line == *" machine=$2 "* ]] || die "$1 is not an $2 DLL ($line)"
  [[ $line == *" dll=yes "* ]] || die "$1 is not a DLL ($line)"
  [[ $line == *" version=$version.0" ]] || die "$1 is not version $version ($line): rebuild it (bash scripts/build-windows.sh)"
  echo "package: $line"
}
check_dll "$dll64" x64
check_dll "$dll32" x86

# --- inputs: the Linux library ----------------------------------------------------------------------
if [ -z "$linux_so" ]; then
  for f in target/release/liboauthmail.so target/debug/liboauthmail.so; do
    [ -f "$f" ] || continue
    if [ -z "$linux_so" ] || [ "$f" -nt "$linux_so" ]; then linux_so=$f; fi
  done
  if [ -z "$linux_so" ]; then
    echo "package: no liboauthmail.so built yet: cargo build --release --lib"
    nice -n 10 cargo build --release --lib --locked
    linux_so=target/release/liboauthmail.so
  fi
fi
[ -f "$linux_so" ] || die "missing $linux_so"
[ "$(od -An -tx1 -N4 "$linux_so" | tr -d ' \n')" = 7f454c46 ] || die "$linux_so is not an ELF file"
[ "$(od -An -tu2 -j18 -N2 "$linux_so" | tr -d ' \n')" = 62 ] || die "$linux_so is not an x86-64 library"
case $linux_so in
  *target/debug/*) echo "package: note: liboauthmail.so from a debug build ($linux_so); --linux-so target/release/liboauthmail.so for a release" ;;
  *) echo "package: liboauthmail.so from $linux_so" ;;
esac

# --- work area ---------------------------------------------------------------------------------
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/.work
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
# one timestamp for every file of the zips: the last commit's, else now (reproducible builds)
mtime=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# --- the .NET assemblies ------------------------------------------------------------------------
assembly_info() { # TFM DISPLAY OUT
  sed -e "s/@VERSION@/$version/g" -e "s/@ASSEMBLY_VERSION@/$version.0/g" \
      -e "s/@TFM@/$1/g" -e "s/@TFM_DISPLAY@/$2/g" packaging/nuget/AssemblyInfo.cs.in > "$3"
}
mcs_lib() { # REFERENCE_DIR OUT_DIR INFO.cs
  mkdir -p "$2"
  mcs -target:library -langversion:5 -nostdlib -noconfig -warnaserror+ -nowarn:1591 -optimize+ \
      -r:"$1/mscorlib.dll" -r:"$1/System.dll" -r:"$1/System.Core.dll" \
      -doc:"$2/OAuthMail.xml" -out:"$2/OAuthMail.dll" bindings/dotnet/OAuthMail.cs "$3" >"$work/mcs.log" 2>&1 ||
    { cat "$work/mcs.log" >&2; die "mcs failed for $2"; }
}
echo "package: compiling bindings/dotnet/OAuthMail.cs for net45 and netstandard2.0"
assembly_info ".NETFramework,Version=v4.5" ".NET Framework 4.5" "$work/info45.cs"
mcs_lib "$refs45" "$work/lib/net45" "$work/info45.cs"
assembly_info ".NETStandard,Version=v2.0" "" "$work/info-ns.cs"
mcs_lib "$refs461" "$work/ns-pre" "$work/info-ns.cs"
mkdir -p "$work/retarget" "$work/lib/netstandard2.0"
mcs -target:exe -noconfig -warnaserror+ -r:System.dll -r:System.Core.dll -r:"$cecil" \
    -out:"$work/retarget/Retarget.exe" packaging/nuget/Retarget.cs >"$work/mcs.log" 2>&1 ||
  { cat "$work/mcs.log" >&2; die "mcs failed for packaging/nuget/Retarget.cs"; }
cp "$cecil" "$work/retarget/"
mono "$work/retarget/Retarget.exe" "$work/ns-pre/OAuthMail.dll" "$ns_facade" "$work/lib/netstandard2.0/OAuthMail.dll" |
  sed 's/^/package: /'
cp "$work/ns-pre/OAuthMail.xml" "$work/lib/netstandard2.0/OAuthMail.xml"

# --- the native libraries as shipped ------------------------------------------------------------------
install -D -m 644 "$dll32" "$work/native/x86/oauthmail.dll"
install -D -m 644 "$dll64" "$work/native/x64/oauthmail.dll"
mkdir -p "$work/native/linux-x64"
strip --strip-unneeded -o "$work/native/linux-x64/liboauthmail.so" "$linux_so"
chmod 755 "$work/native/linux-x64/liboauthmail.so"

# --- the NuGet package --------------------------------------------------------------------------
nupkg_name=OAuthMail.$version.nupkg
python3 packaging/nuget/pack_nupkg.py --nuspec packaging/nuget/OAuthMail.nuspec.in \
  --out "$work/$nupkg_name" --mtime "$mtime" --var VERSION="$version" --var DESCRIPTION="$description" \
  --file "$work/lib/net45/OAuthMail.dll=lib/net45/OAuthMail.dll" \
  --file "$work/lib/net45/OAuthMail.xml=lib/net45/OAuthMail.xml" \
  --file "$work/lib/netstandard2.0/OAuthMail.dll=lib/netstandard2.0/OAuthMail.dll" \
  --file "$work/lib/netstandard2.0/OAuthMail.xml=lib/netstandard2.0/OAuthMail.xml" \
  --file "$work/native/x86/oauthmail.dll=runtimes/win-x86/native/oauthmail.dll" \
  --file "$work/native/x64/oauthmail.dll=runtimes/win-x64/native/oauthmail.dll" \
  --file "$work/native/linux-x64/liboauthmail.so=runtimes/linux-x64/native/liboauthmail.so" \
  --file "packaging/nuget/OAuthMail.targets=build/net45/OAuthMail.targets" \
  --file "packaging/nuget/OAuthMail.targets=buildTransitive/net45/OAuthMail.targets" \
  --file "packaging/nuget/README.md=README.md" | sed 's/^pack_nupkg/package/'

# --- the release tree ---------------------------------------------------------------------------
name=oauthmail-$version
tree=$work/$name
crlf() { sed 's/\r$//; s/$/\r/' "$1" > "$2"; } # Windows line ends for what the Delphi IDE opens
mkdir -p "$tree"
install -m 644 README.md CHANGELOG.md LICENSE LICENSE-MIT LICENSE-APACHE "$tree/"
install -D -m 644 include/oauthmail.h "$tree/include/oauthmail.h"
install -D -m 644 "$work/native/x86/oauthmail.dll" "$tree/x86/oauthmail.dll"
install -D -m 644 "$work/native/x64/oauthmail.dll" "$tree/x64/oauthmail.dll"
for f in bindings/delphi/OAuthMail.pas bindings/delphi/README.md bindings/dotnet/OAuthMail.cs bindings/dotnet/README.md; do
  install -D -m 644 "$f" "$tree/$f"
done
mkdir -p "$tree/delphi/Win32" "$tree/delphi/Win64" "$tree/delphi/demo"
install -m 644 "$work/native/x86/oauthmail.dll" "$tree/delphi/Win32/oauthmail.dll"
install -m 644 "$work/native/x64/oauthmail.dll" "$tree/delphi/Win64/oauthmail.dll"
crlf bindings/delphi/OAuthMail.pas "$tree/delphi/OAuthMail.pas"
crlf packaging/delphi/README.txt "$tree/delphi/README.txt"
for f in OAuthMailDemo.dpr DemoMain.pas DemoMain.dfm settings.example.json; do
  crlf "packaging/delphi/demo/$f" "$tree/delphi/demo/$f"
done
install -D -m 644 "$work/$nupkg_name" "$tree/nuget/$nupkg_name"
(cd "$tree" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum > SHA256SUMS)
python3 packaging/tools/zipdir.py "$tree" "$work/$name.zip" "$name" "$mtime" | sed 's/^zipdir/package/'

# --- results: replace the previous ones only now that everything was made ----------------------------
rm -rf "${out:?}/$name" "$out/$name.zip" "$out/$nupkg_name" "$out/SHA256SUMS"
mv "$tree" "$out/$name"
mv "$work/$name.zip" "$work/$nupkg_name" "$out/"
(cd "$out" && sha256sum "$name.zip" "$nupkg_name" > SHA256SUMS)
echo "package: wrote $out/$name.zip ($(du -h "$out/$name.zip" | cut -f1)), $out/$nupkg_name ($(du -h "$out/$nupkg_name" | cut -f1)), $out/SHA256SUMS"
