#!/usr/bin/env bash
# Cross-builds oauthmail.dll (release) for 64-bit and 32-bit Windows on Debian, following
# shared/windows-build.md: Debian's rustc-web (1.96, with its library sources) builds the
# Windows std from source (-Zbuild-std), the mingw-w64 gcc links.
#
# - Installs the Debian packages it needs when missing (root; idempotent, quick when present).
# - Calls Debian's rustc and cargo by full path: the rustup toolchain on PATH stays the default.
# - Linkers and C compilers come from environment variables, not a committed .cargo/config.toml,
#   so native builds are not affected. Artifacts go to target/windows only (never mixed with
#   target/debug or target/release, which are built by another rustc).
# - Checks every om_* function declared in include/oauthmail.h, and every oms_* (stdcall) twin of
#   include/oauthmail_stdcall.h, is exported by each DLL, undecorated (no _oms_x@N names on
#   i686: build.rs links it with --kill-at), and prints the exports and imported DLLs.
#
# Usage: scripts/build-windows.sh [x86_64|i686]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_RUSTC=/usr/bin/rustc
DEB_CARGO=/usr/bin/cargo   # from cargo-web; rustup's shim is /root/.cargo/bin/cargo
TARGET_DIR=target/windows
declare -A TRIPLE=([x86_64]=x86_64-pc-windows-gnu [i686]=i686-pc-windows-gnu)
declare -A MINGW=([x86_64]=x86_64-w64-mingw32 [i686]=i686-w64-mingw32)
declare -A APT_GCC=([x86_64]=gcc-mingw-w64-x86-64 [i686]=gcc-mingw-w64-i686)

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x86_64 i686)
for a in "${arches[@]}"; do
  [ -n "${TRIPLE[$a]:-}" ] || { echo "build-windows: unknown arch '$a' (x86_64 or i686)" >&2; exit 2; }
done

# --- Debian packages ---------------------------------------------------------------------------
source scripts/apt.sh
need=(rustc-web rust-web-src cargo-web)
for a in "${arches[@]}"; do need+=("${APT_GCC[$a]}"); done
apt_install build-windows "${need[@]}"

# --- toolchain sanity ----------------------------------------------------------------------------
[ "$(dpkg-query -S "$DEB_CARGO" 2>/dev/null | cut -d: -f1)" = cargo-web ] ||
  { echo "build-windows: $DEB_CARGO is not Debian's cargo-web binary" >&2; exit 1; }
sysroot=$("$DEB_RUSTC" --print sysroot)
[ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ] ||
  { echo "build-windows: no std sources under $sysroot/lib/rustlib/src (rust-web-src)" >&2; exit 1; }
echo "build-windows: $("$DEB_RUSTC" --version) / $("$DEB_CARGO" --version)"

# Header functions: every om_* identifier followed by '(' outside comments, and the oms_*
# stdcall twins of include/oauthmail_stdcall.h.
mapfile -t header_fns < <(perl -0777 -pe 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g' include/oauthmail.h include/oauthmail_stdcall.h |
  grep -oE '\boms?_[A-Za-z0-9_]+[[:space:]]*\(' | grep -oE 'oms?_[A-Za-z0-9_]+' | sort -u)
[ ${#header_fns[@]} -gt 0 ] || { echo "build-windows: no om_* functions found in include/oauthmail.h" >&2; exit 1; }

# --- build ---------------------------------------------------------------------------------------
unset OM_UPDATE_HEADER          # build.rs must not rewrite include/oauthmail.h
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET RUSTUP_TOOLCHAIN
export RUSTC="$DEB_RUSTC" RUSTC_BOOTSTRAP=1
# The DLL alone is built (`cargo rustc --crate-type cdylib`, not `cargo build`, which makes the
# rlib of Cargo.toml's crate-type in the same rustc run): with an rlib beside it, every public
# Rust function of every crate stays in the one LTO module, and dead code with it (8.1 MB for
# i686 then, 4.7 MB without the dead code). Fat LTO, one codegen unit, opt-level s (x86_64:
# 5.6 MB; opt-level 3, as the Linux builds and the benchmarks, gave 7.5 MB, near the 8 MB budget
# of issue #13, for work that waits on the network); std without its backtrace symbolizer
# (nothing prints backtraces in a host process). Unwinding stays (panic = "unwind",
# -Zbuild-std=...,panic_unwind): a panic is caught at the C boundary (the panic probe below).
export CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
STD_FEATURES=panic-unwind
for a in "${arches[@]}"; do
  t=${TRIPLE[$a]} m=${MINGW[$a]} T=$(echo "${TRIPLE[$a]}" | tr 'a-z-' 'A-Z_') t_=${TRIPLE[$a]//-/_}
  export "CARGO_TARGET_${T}_LINKER=$m-gcc"
  export "CC_${t_}=$m-gcc" "AR_${t_}=$m-ar"
done

# i686 only: rustc links the "runtime startup objects" rsbegin.o/rsend.o (DWARF unwind-table
# registration) into every i686-pc-windows-gnu image. A rustup toolchain ships them with the
# target's std; -Zbuild-std does not build them, so build them from the std sources here (as
# Rust's bootstrap does) and let rustc find them on a native search path.
for a in "${arches[@]}"; do
  [ "$a" = i686 ] || continue
  t=${TRIPLE[$a]} T=$(echo "${TRIPLE[$a]}" | tr 'a-z-' 'A-Z_')
  rt_dir=$PWD/$TARGET_DIR/rtstartup/$t
  mkdir -p "$rt_dir"
  for obj in rsbegin rsend; do
    src=$sysroot/lib/rustlib/src/rust/library/rtstartup/$obj.rs
    if [ ! -s "$rt_dir/$obj.o" ] || [ "$src" -nt "$rt_dir/$obj.o" ] || [ "$DEB_RUSTC" -nt "$rt_dir/$obj.o" ]; then
      "$DEB_RUSTC" --target "$t" --emit=obj -o "$rt_dir/$obj.o" "$src"
    fi
  done
  export "CARGO_TARGET_${T}_RUSTFLAGS=-L native=$rt_dir"
done

status=0
declare -A secs
for a in "${arches[@]}"; do
  t=${TRIPLE[$a]}
  echo
  echo "=== build $t (release, the DLL only, -Zbuild-std=std,panic_unwind -Zbuild-std-features=$STD_FEATURES)"
  start=$(date +%s)
  "$DEB_CARGO" rustc --release --locked --lib --crate-type cdylib \
    -Zbuild-std=std,panic_unwind "-Zbuild-std-features=$STD_FEATURES" --target "$t" --target-dir "$TARGET_DIR"
  secs[$a]=$(( $(date +%s) - start ))
  echo "build-windows: $t built in ${secs[$a]}s"
  # the panic probe (tests/windows/panic-probe): same toolchain, std, flags and target directory,
  # so std is reused; scripts/test-windows.sh proves with it that a panic is caught in such a DLL
  "$DEB_CARGO" rustc --release --locked --lib --crate-type cdylib \
    --manifest-path tests/windows/panic-probe/Cargo.toml \
    -Zbuild-std=std,panic_unwind "-Zbuild-std-features=$STD_FEATURES" --target "$t" --target-dir "$TARGET_DIR" ||
    { echo "build-windows: the panic probe did not build for $t" >&2; status=1; }
done

# --- report and export check ---------------------------------------------------------------------
echo
for a in "${arches[@]}"; do
  t=${TRIPLE[$a]} m=${MINGW[$a]}
  dll=$TARGET_DIR/$t/release/oauthmail.dll
  echo "=== $t"
  if [ ! -f "$dll" ]; then echo "MISSING: $dll"; status=1; continue; fi
  size=$(stat -c %s "$dll")
  echo "dll:     $(realpath "$dll")"
  echo "size:    $size bytes ($(numfmt --to=iec-i --suffix=B "$size"))"
  echo "built:   ${secs[$a]}s"
  dump=$("$m-objdump" -p "$dll")
  # Lines of the export name table look like "\t[  12] om_init" (the section ends at a blank line).
  mapfile -t exports < <(printf '%s\n' "$dump" |
    awk '/^\[Ordinal\/Name Pointer\] Table/{on=1; next} on && /^[[:space:]]*$/{on=0} on' |
    sed -E 's/^[[:space:]]*\[[[:space:]]*[0-9]+\][[:space:]]+//' | sort)
  echo "exports (${#exports[@]}):"
  printf '  %s\n' "${exports[@]}"
  missing=() decorated=()
  for f in "${header_fns[@]}"; do
    grep -qxF "$f" <<<"$(printf '%s\n' "${exports[@]}")" || missing+=("$f")
  done
  for e in "${exports[@]}"; do
    [[ $e =~ ^_oms?_ || $e =~ ^_?oms?_.*@[0-9]+$ ]] && decorated+=("$e")
  done
  if [ ${#missing[@]} -eq 0 ] && [ ${#decorated[@]} -eq 0 ]; then
    echo "export check: OK (all ${#header_fns[@]} om_* and oms_* functions of include/oauthmail.h and oauthmail_stdcall.h, undecorated)"
  else
    status=1
    [ ${#missing[@]} -eq 0 ] || echo "export check: FAILED: not exported: ${missing[*]}"
    [ ${#decorated[@]} -eq 0 ] || echo "export check: FAILED: decorated names: ${decorated[*]}"
  fi
  extra=$(printf '%s\n' "${exports[@]}" | grep -vxF -f <(printf '%s\n' "${header_fns[@]}") || true)
  [ -z "$extra" ] || echo "note: exported but not in the header: $(echo $extra)"
  echo "imports: $(printf '%s\n' "$dump" | sed -nE 's/^[[:space:]]*DLL Name: //p' | sort -u | tr '\n' ' ')"
  echo
done
exit $status
