#!/usr/bin/env bash
# scripts/fpc-windows.sh -- Free Pascal for Windows on Debian: the Win64 and Win32 RTL (and the
# few packages the Delphi binding's test programs use), built from the `fpc-source` package into
# target/fpc-win, so that bindings/delphi/*.dpr can be cross-compiled to .exe files and run under
# Wine (tests/windows/delphi.sh). Debian's fpc ships Linux units only.
#
# Result (everything under the repository's target/, nothing installed elsewhere):
#   target/fpc-win/bin/fpc-win64 ARGS...   ppcx64 -n -Twin64 -Fu<units/x86_64-win64> ARGS...
#   target/fpc-win/bin/fpc-win32 ARGS...   ppcross386 -n -Twin32 -Fu<units/i386-win32> ARGS...
#   target/fpc-win/bin/ppcross386          the i386 compiler, built from the package's compiler
#                                          sources by the installed ppcx64
#   target/fpc-win/units/{x86_64-win64,i386-win32}/   system, objpas, uuchar, the RTL of
#       rtl/win{64,32}/buildrtl.pp (SysUtils, Classes, Windows, DynLibs, Math, ...), and from
#       packages/: DateUtils (rtl-objpas), SyncObjs (fcl-base), Process + Pipes (fcl-process)
# Both targets use FPC's internal assembler and linker: no binutils for Windows are needed.
#
# Win32 compiler: built from /usr/share/fpcsrc/<v>/compiler (msgtxt.inc generated from the
# installed compiler's errore.msg with the package's msg2inc.pp) -- about 10 s on 2 cores. The
# alternative, Debian's fp-compiler-<v>:i386 unpacked with apt-get download + dpkg -x, needs the
# i386 package index, which fails to download on some mirrors (tests/windows/NOTES.md), and a
# download at every clean run; the sources are already needed for the RTL.
#
# -O1, the two targets in parallel (the Win32 one after its compiler). Idempotent: target/fpc-win
# is reused when its stamp matches (package versions, this script) and is newer than every input
# (this script, the compiler, errore.msg, the source directories used); otherwise it is rebuilt in
# a temporary directory and swapped in whole, under a lock (two runs at once are safe).
# Prints its timing. Root is needed only to install missing packages (fpc, fpc-source).
#
# Usage: bash scripts/fpc-windows.sh [--force]    Env: OMW_FPC_WIN_DIR (default target/fpc-win)
# Exit 0 with the directory as the last line of stdout; 1 with the reason on stderr.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OMW_FPC_WIN_DIR:-$repo/target/fpc-win}
force=0
[ "${1:-}" = --force ] && force=1
die() { echo "fpc-windows: $*" >&2; exit 1; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
elapsed() { local d=$(($(now_ms) - $1)); printf '%d.%d s' $((d / 1000)) $((d % 1000 / 100)); }
t0=$(now_ms)

# --- the host compiler and the sources (Debian packages; installed when missing) -----------------
if ! command -v fpc >/dev/null 2>&1 || [ -z "$(ls -d /usr/share/fpcsrc/*/rtl 2>/dev/null || true)" ]; then
  source "$repo/scripts/apt.sh"
  apt_install fpc-windows fpc fpc-source ||
    die "Free Pascal and its sources are needed: apt-get install fpc fpc-source (as root)"
fi
ppcx64=$(readlink -f "$(fpc -PB 2>/dev/null)" 2>/dev/null) || true
[ -x "$ppcx64" ] || die "fpc -PB names no x86_64 compiler (package fp-compiler-*): apt-get install fpc"
v=$("$ppcx64" -iV)
src=/usr/share/fpcsrc/$v
if [ ! -d "$src/rtl" ] || [ ! -d "$src/compiler" ]; then
  source "$repo/scripts/apt.sh"
  apt_install fpc-windows "fpc-source-$v" ||
    die "the Free Pascal $v sources are needed: apt-get install fpc-source-$v (as root)"
fi
[ -d "$src/rtl/win64" ] && [ -d "$src/compiler" ] && [ -d "$src/packages/fcl-process" ] ||
  die "$src is incomplete (package fpc-source-$v): reinstall it"
msgfile=$(dirname "$ppcx64")/msg/errore.msg
[ -f "$msgfile" ] || die "$msgfile missing (package fp-compiler-$v)"
hostrtl=$(dirname "$ppcx64")/units/x86_64-linux/rtl
[ -f "$hostrtl/system.ppu" ] || die "$hostrtl/system.ppu missing (package fp-units-rtl-$v)"

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
script_sum=$(sha256sum "${BASH_SOURCE[0]}")
stamp_text="omw-fpc-win 1 fpc=$v compiler=$(pkgver "fp-compiler-$v") rtl=$(pkgver "fp-units-rtl-$v") source=$(pkgver "fpc-source-$v") script=${script_sum%% *}"
inputs=("${BASH_SOURCE[0]}" "$ppcx64" "$msgfile" "$hostrtl" "$src/compiler" "$src/rtl/inc" "$src/rtl/objpas"
        "$src/rtl/win" "$src/rtl/win32" "$src/rtl/win64" "$src/rtl/i386" "$src/rtl/x86_64"
        "$src/packages/rtl-objpas/src" "$src/packages/fcl-base/src" "$src/packages/fcl-process/src")

up_to_date() {
  local newer
  [ "$force" = 0 ] && [ -x "$out/bin/fpc-win64" ] && [ -x "$out/bin/fpc-win32" ] || return 1
  [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp_text" ] || return 1
  newer=$(find -L "${inputs[@]}" -newer "$out/.stamp" -print -quit 2>/dev/null || echo "?")
  [ -z "$newer" ]
}

mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
if up_to_date; then
  echo "fpc-windows: up to date ($out, Free Pascal $v; checked in $(elapsed "$t0"))"
  echo "$out"
  exit 0
fi

echo "fpc-windows: building the Win64 and Win32 RTL of Free Pascal $v from $src (-O1)"
new=$out.new.$$
rm -rf "$new"
mkdir -p "$new/bin" "$new/units/x86_64-win64" "$new/units/i386-win32" "$new/build/compiler" "$new/log"
trap 'rm -rf "$new"' EXIT

# build_rtl COMPILER TARGET CPU UNITDIR LOG: system, objpas, uuchar, buildrtl (the RTL's own
# recipe in rtl/win*/Makefile.fpc), then the packages' units (their sources compiled directly)
build_rtl() {
  local pc=$1 target=$2 cpu=$3 u=$4 log=$5 rtl=$src/rtl pk=$src/packages
  local c=("$pc" -n "-T$target" -O1 -vw -FE"$u" -FU"$u" -Fu"$u"
           -Fi"$rtl/inc" -Fi"$rtl/$cpu" -Fi"$rtl/win" -Fu"$rtl/inc" -Fu"$rtl/$cpu" -Fu"$rtl/win")
  (
    set -e
    cd "$rtl/$target"
    "${c[@]}" -Us -Sg system.pp
    "${c[@]}" -Fi"$rtl/objpas" "$rtl/objpas/objpas.pp"
    "${c[@]}" "$rtl/inc/uuchar.pp"
    "${c[@]}" -Fi"$rtl/objpas/sysutils" -Fi"$rtl/objpas/classes" -Fi"$rtl/objpas" -Fi"$rtl/win/wininc" \
      -Fu"$rtl/win/wininc" -Fu"$rtl/objpas" buildrtl.pp
    "${c[@]}" -Fi"$pk/rtl-objpas/src/inc" "$pk/rtl-objpas/src/inc/dateutils.pp"
    "${c[@]}" "$pk/fcl-base/src/syncobjs.pp"
    "${c[@]}" -Fu"$pk/fcl-process/src" -Fi"$pk/fcl-process/src" -Fi"$pk/fcl-process/src/win" \
      "$pk/fcl-process/src/process.pp"
  ) >"$log" 2>&1
}

# Win64: the installed ppcx64 targets it as it is
t64=$(now_ms)
( build_rtl "$ppcx64" win64 x86_64 "$new/units/x86_64-win64" "$new/log/rtl-win64.log" &&
  echo "fpc-windows: Win64 RTL built in $(elapsed "$t64")" ) &
pid64=$!

# Win32: ppcross386 from the compiler sources (msgtxt.inc first), then its RTL
t32=$(now_ms)
(
  set -e
  b=$new/build/compiler
  host=("$ppcx64" -n -O1 -Fu"$hostrtl")  # Linux programs: the installed Linux RTL
  "${host[@]}" -FU"$b" -o"$b/msg2inc" "$src/compiler/utils/msg2inc.pp" >"$new/log/msg2inc.log" 2>&1
  (cd "$b" && ./msg2inc "$msgfile" msg msg) >>"$new/log/msg2inc.log" 2>&1
  # the compiler's own recipe (compiler/Makefile.fpc, PPC_TARGET=i386), -O1
  (cd "$src/compiler" && "${host[@]}" -di386 -dGDB -dBROWSERLOG -Fux86 -Fui386 -Fusystems \
    -Fii386 -Fix86 -Fi"$b" -FU"$b" -o"$new/bin/ppcross386" pp.pas) \
    >"$new/log/ppcross386.log" 2>&1
  echo "fpc-windows: ppcross386 built in $(elapsed "$t32")"
  t=$(now_ms)
  build_rtl "$new/bin/ppcross386" win32 i386 "$new/units/i386-win32" "$new/log/rtl-win32.log"
  echo "fpc-windows: Win32 RTL built in $(elapsed "$t")"
) &
pid32=$!

rc64=0 rc32=0
wait "$pid64" || rc64=$?
wait "$pid32" || rc32=$?
for l in rtl-win64 msg2inc ppcross386 rtl-win32; do
  f=$new/log/$l.log
  if { [ "$l" = rtl-win64 ] && [ "$rc64" != 0 ]; } || { [ "$l" != rtl-win64 ] && [ "$rc32" != 0 ]; }; then
    if [ -s "$f" ]; then echo "--- $l.log (last lines)" >&2; tail -15 "$f" >&2; fi
  fi
done
[ "$rc64" = 0 ] || die "the Win64 RTL did not build (log above)"
[ "$rc32" = 0 ] || die "the i386 compiler or the Win32 RTL did not build (log above)"

# the drivers: absolute paths to this directory's final place
for t in win64:x86_64-win64:"$ppcx64" win32:i386-win32:"$out/bin/ppcross386"; do
  name=${t%%:*} rest=${t#*:}
  udir=${rest%%:*} pc=${rest#*:}
  {
    echo '#!/bin/sh'
    echo "# written by scripts/fpc-windows.sh: Free Pascal $v for $udir with the RTL built from $src"
    printf 'exec %q -n -T%s -Fu%q "$@"\n' "$pc" "$name" "$out/units/$udir"
  } >"$new/bin/fpc-$name"
  chmod 755 "$new/bin/fpc-$name"
done
rm -rf "$new/build"
for u in system objpas uuchar sysutils classes windows dynlibs syncobjs dateutils process; do
  for d in x86_64-win64 i386-win32; do
    [ -f "$new/units/$d/$u.ppu" ] || die "$u.ppu missing for $d after the build"
  done
done
echo "$stamp_text" >"$new/.stamp"
rm -rf "$out.old"
if [ -e "$out" ]; then mv "$out" "$out.old"; fi
mv "$new" "$out"
rm -rf "$out.old"
trap - EXIT
echo "fpc-windows: built $out in $(elapsed "$t0") (Free Pascal $v: Win64 with ppcx64, Win32 with ppcross386)"
echo "$out"
