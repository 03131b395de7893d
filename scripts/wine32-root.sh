#!/usr/bin/env bash
# scripts/wine32-root.sh -- a private i386 root that runs 32-bit Wine without `wine32:i386`.
#
# Why: `apt-get install wine32:i386` fails on some mirrors (an i386 index downloads with the
# wrong size, the i386 Multi-Arch libraries then lag behind the installed amd64 ones and apt
# refuses; forcing it would downgrade system libraries). scripts/test-windows.sh tries apt first
# and falls back to this root, so the 32-bit harness always runs (issue #13). The recipe is the
# verified one of ../shared/windows-build.md ("32-bit Wine without wine32:i386").
#
# What it does (idempotent; root; everything under target/wine32-root/, apt's cache aside; the
# dpkg database is not touched):
#   - `apt-get download` wine32:i386 and libwine:i386 (the version of the installed wine64 when
#     there is one) with libc6:i386 libgcc-s1:i386 dash:i386 libz-mingw-w64, and libgnutls30:i386
#     with its libraries (Wine's bcrypt needs it to verify certificate signatures: without it
#     every TLS connection fails), into debs/, and `dpkg -x` them into root/ (after `dpkg --add-architecture i386` + `apt-get update` when the
#     i386 indexes are missing; errors of one index are tolerated, as in scripts/apt.sh);
#   - zlib1.dll made a Wine builtin by hand (what libwine's postinst does), /bin/sh -> dash,
#     minimal etc/passwd, etc/group, a copy of /etc/hosts, the C.UTF-8 locale (without it Wine's
#     Unix side uses ASCII file names and non-ASCII paths fail with "Path not found");
#   - checks that the loader, wineserver and the core Unix libraries find their shared libraries
#     in the root, and runs `wine --version` in it;
#   - writes the wrapper target/wine32-root/wine32 (and target/wine32-root/wineserver, a link).
# A stamp (wine version + this script's hash) makes a second run a no-op (no apt, no network).
#
# The wrapper has the command-line contract of /usr/lib/wine/wine:
#     target/wine32-root/wine32 program.exe args...   |  ... cmd /c ...  |  ... wineboot -i
#     target/wine32-root/wine32 reg add ...           |  target/wine32-root/wineserver -k
# It runs the program in a private mount namespace (`unshare -m`, propagation private): /proc,
# /dev, /sys (read-only: Wine reads the CPU topology there), /tmp, the repository, $PWD,
# $WINEPREFIX (created when missing), the program's directory and the directories of
# OMW_WINE32_BIND (colon-separated) are bind-mounted into the root at the same paths, then `chroot` runs /usr/lib/wine/wine (cwd kept). The mounts exist only in that
# namespace: nothing to unmount, nothing visible in the host's `findmnt`, whatever way the
# program ends (failure, timeout, kill). The namespace disappears with its last process (the
# prefix's wineserver, which Debian runs with -p0: it exits with its last client).
# Environment inside: PATH=/usr/lib/wine:/usr/bin:/bin, HOME=/root, USER=root, LANG=C.UTF-8 (the
# only locale in the root), plus every WINE* variable (except WINESERVER, WINELOADER,
# WINEDLLPATH: host paths), every OMW_* variable and TZ. A 32-bit root needs a 32-bit prefix
# (WINEARCH=win32): a 64-bit (WoW64) prefix would need the host's 64-bit wineserver.
#
# Host programs: the root has no Python, Node or coreutils, so a Unix program that the Windows
# side starts (browser_command, or winebrowser for ShellExecuteW) cannot run in it when it needs
# the host's tools -- tests/windows/wine-browser.sh runs node. Each path listed in
# OMW_WINE32_HOST_PROGRAMS (colon-separated; default: tests/windows/wine-browser.sh; empty: none)
# is covered, in the namespace only, by a bind-mounted dash forwarder that appends the call
# (program + arguments, 0x1f-separated, one line; arguments must not contain newlines) to a
# spool file; the wrapper's watcher, on the host, runs the real program with those arguments
# and the wrapper's environment. The Windows program sees the same path and the same behaviour
# (a process that starts and exits 0; the real program's output goes to the wrapper's stderr).
#
# Usage: bash scripts/wine32-root.sh [--force]   (--force: rebuild even when the stamp matches)
# Env: OMW_WINE32_ROOT_DIR (default target/wine32-root). Exit 0 with the wrapper's path as the
# last line of stdout; 1 when the root cannot be built (the reason on stderr).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${OMW_WINE32_ROOT_DIR:-$repo/target/wine32-root}
root=$base/root
force=0
[ "${1:-}" = --force ] && force=1
die() { echo "wine32-root: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (apt-get, unshare -m, chroot)"
for t in apt-get apt-cache dpkg dpkg-deb unshare chroot mount flock readelf; do
  command -v "$t" >/dev/null || die "$t is missing (readelf: apt-get install binutils)"
done
mkdir -p "$base"
exec 9>"$base/.lock"
flock 9

# --- the Wine version: the installed wine64's, else apt's candidate for wine32:i386 -------------
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root)
i386_index_ok() { apt-cache show "wine32:i386${1:+=$1}" >/dev/null 2>&1; }
wine_v=$(dpkg-query -W -f='${Version}' wine64 2>/dev/null || true)
script_sum=$(sha256sum "${BASH_SOURCE[0]}")
stamp="omw-wine32-root 1 wine=${wine_v:-candidate} script=${script_sum%% *}"

write_wrapper() {
  local tmp=$base/.wine32.tmp
  {
    echo '#!/usr/bin/env bash'
    echo '# written by scripts/wine32-root.sh (see its header); do not edit.'
    printf 'base=%q\nrepo=%q\n' "$base" "$repo"
    sed -n '/^# --- wrapper begin/,/^# --- wrapper end/p' "${BASH_SOURCE[0]}" | sed '1d;$d'
  } >"$tmp"
  chmod 755 "$tmp"
  mv -f "$tmp" "$base/wine32"
  ln -sfn wine32 "$base/wineserver"
}

if [ "$force" = 0 ] && [ -x "$root/usr/lib/wine/wine" ] && [ "$(cat "$root/.omw-stamp" 2>/dev/null)" = "$stamp" ]; then
  write_wrapper
  echo "wine32-root: up to date ($root, wine ${wine_v:-candidate})"
  echo "$base/wine32"
  exit 0
fi

t0=$(date +%s)
if ! grep -qx i386 <<<"$(dpkg --print-foreign-architectures)"; then
  echo "wine32-root: dpkg --add-architecture i386"
  dpkg --add-architecture i386
fi
if ! i386_index_ok "$wine_v"; then
  echo "wine32-root: apt-get update (errors of one index are expected on some mirrors)"
  "${apt[@]}" update -qq || echo "wine32-root: apt-get update reported errors (continuing with the indexes it got)" >&2
fi
if [ -n "$wine_v" ] && ! i386_index_ok "$wine_v"; then
  die "no wine32:i386 $wine_v (the installed wine64's version) in the package indexes"
fi
[ -n "$wine_v" ] || {
  i386_index_ok || die "no wine32:i386 in the package indexes (apt-get update failed for the i386 index?)"
  wine_v=$(apt-cache policy wine32:i386 | awk '/Candidate:/ { print $2 }')
}
pkgs=("wine32:i386=$wine_v" "libwine:i386=$wine_v" libc6:i386 libgcc-s1:i386 dash:i386 libz-mingw-w64
      # GnuTLS, which Wine's bcrypt dlopens for RSA/ECDSA: without it crypt32 cannot verify a
      # certificate's signature (TRUST_E_CERT_SIGNATURE, 0x80096004) and every TLS connection
      # of the DLL fails; with its dependencies
      libgnutls30:i386 libgmp10:i386 libhogweed6:i386 libnettle8:i386 libidn2-0:i386
      libp11-kit0:i386 libffi8:i386 libtasn1-6:i386 libunistring2:i386)
# not FreeType: with it, explorer.exe /desktop (no display driver in the root) restarts in a loop,
# hundreds of processes; without it each Wine process prints a 4-line "Wine cannot find the
# FreeType font library" to stderr, which is only noise

# --- download (debs/ is kept: apt skips a file that is already there with the right hash) --------
mkdir -p "$base/debs"
echo "wine32-root: apt-get download ${pkgs[*]}"
(cd "$base/debs" && "${apt[@]}" download -q "${pkgs[@]}") >"$base/download.log" 2>&1 ||
  { cat "$base/download.log" >&2; die "apt-get download failed (${pkgs[*]})"; }
debs=()
for p in "${pkgs[@]}"; do
  name=${p%%=*} arch=all
  case $name in *:*) arch=${name#*:} name=${name%%:*} ;; esac
  v=${p#*=}
  [ "$v" != "$p" ] || v=$(apt-cache policy "$name:$arch" | awk '/Candidate:/ { print $2 }')
  f=""
  for d in "$base/debs/${name}"_*_"$arch".deb; do
    if [ -e "$d" ] && [ "$(dpkg-deb -f "$d" Version)" = "$v" ]; then f=$d; break; fi
  done
  [ -n "$f" ] || die "no $name $v ($arch) in $base/debs after apt-get download"
  debs+=("$f")
done
# older versions left by a previous build
for d in "$base"/debs/*.deb; do
  keep=0
  for k in "${debs[@]}"; do [ "$d" = "$k" ] && keep=1; done
  [ "$keep" = 1 ] || rm -f "$d"
done

# --- extract into a fresh root, then swap ------------------------------------------------------
# never delete a root with something mounted in it (a bind mount of the repository in it would
# make rm -rf walk into the repository): mounts live in private namespaces, so this is a guard
mounted_under() { findmnt -rn -o TARGET | awk -v p="$1/" 'index($0 "/", p) == 1'; }
for d in "$root" "$base/root.new" "$base/root.old"; do
  m=$(mounted_under "$d")
  [ -z "$m" ] || die "mounts under $d (unmount them first): $m"
done
rm -rf "$base/root.new" "$base/root.old"
new=$base/root.new
mkdir -p "$new"
for d in "${debs[@]}"; do dpkg -x "$d" "$new"; done

# zlib1.dll as a Wine builtin: what libwine's postinst does (bytes 64..95 = "Wine builtin DLL")
zsrc=$new/usr/i686-w64-mingw32/lib/zlib1.dll zdst=$new/usr/lib/i386-linux-gnu/wine/i386-windows/zlib1.dll
[ -f "$zsrc" ] && [ -d "$(dirname "$zdst")" ] || die "zlib1.dll or Wine's i386-windows directory missing in the root"
{ head -c 64 "$zsrc"; printf 'Wine builtin DLL'; head -c 16 /dev/zero; tail -c +97 "$zsrc"; } >"$zdst"
# /bin/sh, users, hosts, the C.UTF-8 locale, mount points
[ -x "$new/bin/dash" ] || die "dash missing in the root"
ln -sfn dash "$new/bin/sh"
mkdir -p "$new/etc" "$new/proc" "$new/dev" "$new/sys" "$new/tmp" "$new/root" "$new/usr/lib/locale"
chmod 1777 "$new/tmp"
chmod 700 "$new/root"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$new/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$new/etc/group"
cp /etc/hosts "$new/etc/hosts"
[ -d /usr/lib/locale/C.utf8 ] || die "/usr/lib/locale/C.utf8 missing on the host (package libc-bin)"
cp -a /usr/lib/locale/C.utf8 "$new/usr/lib/locale/"

# the loader, wineserver, the core Unix libraries and GnuTLS must find their libraries in the
# root (followed recursively)
libdirs=("$new/lib/i386-linux-gnu" "$new/usr/lib/i386-linux-gnu" "$new/lib" "$new/usr/lib"
         "$new/usr/lib/i386-linux-gnu/wine/i386-unix")
missing=""
queue=("$new/usr/lib/wine/wine" "$new/usr/lib/wine/wineserver32"
       "$new"/usr/lib/i386-linux-gnu/wine/i386-unix/{ntdll,win32u,ws2_32,crypt32,bcrypt,secur32,nsiproxy,mountmgr}.so
       "$new/usr/lib/i386-linux-gnu/libgnutls.so.30")
declare -A seen=()
while [ ${#queue[@]} -gt 0 ]; do
  elf=${queue[0]} queue=("${queue[@]:1}")
  [ -z "${seen[$elf]:-}" ] || continue
  seen[$elf]=1
  [ -e "$elf" ] || { missing+=" ${elf#"$new"}"; continue; }
  while read -r lib; do
    found=""
    for ld in "${libdirs[@]}"; do [ -e "$ld/$lib" ] && { found=$ld/$lib; break; }; done
    if [ -n "$found" ]; then queue+=("$found"); else missing+=" $lib (for ${elf#"$new"})"; fi
  done < <(readelf -d "$elf" | awk '/NEEDED/ { gsub(/[][]/, "", $5); print $5 }')
done
[ -z "$missing" ] || die "missing in the root:$missing"

echo "$stamp" >"$new/.omw-stamp"
if [ -e "$root" ]; then mv "$root" "$base/root.old"; fi
mv "$new" "$root"
rm -rf "$base/root.old"
write_wrapper
# smoke test: the 32-bit loader starts in the root
v=$("$base/wine32" --version 2>&1 9>&-) || die "the wrapper cannot start the 32-bit loader: $v"
echo "wine32-root: packages: ${pkgs[*]}"
echo "wine32-root: built $root ($v) in $(($(date +%s) - t0)) s"
echo "$base/wine32"
exit 0

# --- wrapper begin (copied into target/wine32-root/wine32 by write_wrapper) ----------------------
# wine32 PROGRAM ARGS...   like /usr/lib/wine/wine, in the private i386 root
# wineserver ARGS...       (the link of the same name) like /usr/lib/wine/wineserver
set -uo pipefail
root=$base/root
case ${0##*/} in wineserver*) inner=/usr/lib/wine/wineserver ;; *) inner=/usr/lib/wine/wine ;; esac
w32() { echo "wine32 (i386 root): $*" >&2; }

if [ "${1:-}" = --inside ]; then
  # in the private mount namespace: bind mounts, then chroot (nothing to undo: the namespace
  # disappears with its processes)
  run=$2
  shift 2
  mapfile -t -d '' binds <"$run/binds"
  mapfile -t -d '' fwds <"$run/fwds"
  mapfile -t -d '' envs <"$run/env"
  mount --make-rprivate / || { w32 "mount --make-rprivate / failed"; exit 125; }
  for d in "${binds[@]}"; do
    mount --rbind "$d" "$root$d" || { w32 "mount --rbind $d failed"; exit 125; }
  done
  mount --bind /proc "$root/proc" && mount --rbind /dev "$root/dev" && mount --bind -o ro /sys "$root/sys" ||
    { w32 "mounting /proc, /dev or /sys failed"; exit 125; }
  for ((i = 0; i + 1 < ${#fwds[@]}; i += 2)); do
    mount --bind "${fwds[i]}" "$root${fwds[i + 1]}" || { w32 "mount --bind over ${fwds[i + 1]} failed"; exit 125; }
  done
  chroot=$(command -v chroot) || { w32 "chroot not found"; exit 125; }
  # shellcheck disable=SC2016
  exec env -i "${envs[@]}" "$chroot" "$root" /bin/sh -c 'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' \
    sh "$PWD" "$inner" "$@"
fi

[ "$(id -u)" = 0 ] || { w32 "needs root (unshare -m, chroot)"; exit 126; }
[ -x "$root$inner" ] || { w32 "the root is not built: bash $repo/scripts/wine32-root.sh"; exit 126; }
case ${WINEPREFIX:-} in
  "") ;;
  *) if grep -qs '^#arch=win64' "$WINEPREFIX/system.reg"; then
       w32 "$WINEPREFIX is a 64-bit prefix: use a 32-bit one (WINEARCH=win32 and a new WINEPREFIX)"; exit 126
     fi
     mkdir -p "$WINEPREFIX" ;;
esac

mkdir -p "$base/run"
run=$(mktemp -d "$base/run/XXXXXX")
spool=$run/spool
: >"$spool"
child= watcher=
finish() {
  [ -z "$child" ] || kill -TERM "$child" 2>/dev/null
  [ -z "$watcher" ] || kill -TERM "$watcher" 2>/dev/null
  rm -rf "$run"
}
trap finish EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# the environment inside
envs=(PATH=/usr/lib/wine:/usr/bin:/bin HOME=/root USER=root LOGNAME=root LANG=C.UTF-8)
while IFS= read -r -d '' kv; do
  case $kv in
    WINESERVER=* | WINELOADER=* | WINEDLLPATH=*) ;;
    WINE*=* | OMW_*=* | TZ=*) envs+=("$kv") ;;
  esac
done < <(env -0)
printf '%s\0' "${envs[@]}" >"$run/env"

# the directories bound at the same paths: parents first, nested ones dropped (rbind brings them)
cands=(/tmp "$repo" "$PWD" "$run")
[ -z "${WINEPREFIX:-}" ] || cands+=("$WINEPREFIX")
case ${1:-} in */*) [ -e "$1" ] && cands+=("$(dirname -- "$1")") ;; esac
IFS=: read -r -a extra <<<"${OMW_WINE32_BIND:-}"
cands+=("${extra[@]}")
resolved=()
for d in "${cands[@]}"; do
  [ -n "$d" ] || continue
  d=$(realpath -e -- "$d" 2>/dev/null) || { w32 "warning: $d does not exist, not bound"; continue; }
  [ -d "$d" ] || d=$(dirname -- "$d")
  case $d in / | /proc | /proc/* | /dev | /dev/* | "$root" | "$root"/*) continue ;; esac
  resolved+=("$d")
done
binds=()
while IFS= read -r -d '' d; do
  covered=0
  for b in "${binds[@]}"; do case $d/ in "$b"/*) covered=1 ;; esac; done
  [ "$covered" = 1 ] && continue
  binds+=("$d")
  mkdir -p "$root$d"
done < <([ ${#resolved[@]} -eq 0 ] || printf '%s\0' "${resolved[@]}" | sort -zu)
printf '%s\0' "${binds[@]}" >"$run/binds"

# host programs: a forwarder over each one (in the namespace), a watcher here
IFS=: read -r -a hostprogs <<<"${OMW_WINE32_HOST_PROGRAMS-$repo/tests/windows/wine-browser.sh}"
fwds=() allowed=()
for p in "${hostprogs[@]}"; do
  [ -n "$p" ] || continue
  case $p in /*) ;; *) w32 "OMW_WINE32_HOST_PROGRAMS: $p is not an absolute path"; exit 126 ;; esac
  [ -f "$p" ] || { w32 "warning: host program $p does not exist, not forwarded"; continue; }
  covered=0
  for b in "${binds[@]}"; do case $p in "$b"/*) covered=1 ;; esac; done
  # outside the bound directories: a file of the root itself is the mount point
  [ "$covered" = 1 ] || { mkdir -p "$root$(dirname -- "$p")"; [ -e "$root$p" ] || : >"$root$p"; }
  f=$run/fwd-${#allowed[@]}
  q=${p//\'/\'\\\'\'} qs=${spool//\'/\'\\\'\'}
  cat >"$f" <<EOF
#!/bin/sh
# forwarder written by target/wine32-root/wine32: the real program runs on the host
r=\$(printf '%s\037' '$q' "\$@")
printf '%s\n' "\$r" >>'$qs'
EOF
  chmod 755 "$f"
  fwds+=("$f" "$p") allowed+=("$p")
done
[ ${#fwds[@]} -eq 0 ] && : >"$run/fwds" || printf '%s\0' "${fwds[@]}" >"$run/fwds"

watch_spool() { # runs the forwarded calls on the host until $run/stop exists and the spool is read
  local buf="" line parts p ok
  exec 3<"$spool"
  while :; do
    if IFS= read -r line <&3; then
      line=$buf$line buf=""
      IFS=$'\037' read -r -a parts <<<"$line"
      ok=0
      for p in "${allowed[@]}"; do [ "${parts[0]:-}" = "$p" ] && ok=1; done
      if [ "$ok" = 1 ]; then
        "${parts[@]}" </dev/null >&2 &
      else
        w32 "ignored a forwarded call of ${parts[0]:-?}"
      fi
    else
      buf+=$line
      [ -e "$run/stop" ] && [ -z "$buf" ] && return 0
      sleep 0.1
    fi
  done
}
if [ ${#allowed[@]} -gt 0 ]; then
  watch_spool &
  watcher=$!
fi

exec {stdin}<&0 2>/dev/null || exec {stdin}</dev/null
unshare -m --propagation private -- "$BASH" "$0" --inside "$run" "$@" <&"$stdin" &
child=$!
wait "$child"
rc=$?
child=
if [ -n "$watcher" ]; then
  : >"$run/stop"
  wait "$watcher"
  watcher=
fi
exit "$rc"
# --- wrapper end
