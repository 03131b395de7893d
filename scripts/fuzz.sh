#!/usr/bin/env bash
# Fuzzes every parser that reads bytes from outside (fuzz/README.md) for a bounded time:
# installs cargo-fuzz if missing, builds the targets once (libFuzzer, on the stable toolchain
# with RUSTC_BOOTSTRAP=1), then runs each target from its committed seed corpus, a copy of
# it: the runs never grow fuzz/corpus/. Fails (exit 1) naming the target and the input when a
# target panics, runs out of memory (-rss_limit_mb) or takes too long on one input
# (-timeout); the input is kept under fuzz/artifacts/<target>/.
#
#   bash scripts/fuzz.sh                  every target, OM_FUZZ_SECONDS each (default 17: 13 targets,
#                                         2 at a time, in the 2 min that 12 targets × 20 s took)
#   bash scripts/fuzz.sh pop3_wire        one target (or several)
#   OM_FUZZ_SECONDS=600 bash scripts/fuzz.sh compose_message    a longer run
#
# OM_FUZZ_JOBS: targets run at once (default: 2, at most the number of CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { printf 'fuzz: %s\n' "$*"; }
die() { printf 'fuzz: %s\n' "$*" >&2; exit 1; }

seconds=${OM_FUZZ_SECONDS:-17}
jobs_max=${OM_FUZZ_JOBS:-2}
cpus=$(nproc 2>/dev/null || echo 1)
[ "$jobs_max" -gt "$cpus" ] && jobs_max=$cpus
[ "$jobs_max" -ge 1 ] || jobs_max=1

# --- tools -------------------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (rustup)"
# libFuzzer itself is C++, compiled by the libfuzzer-sys crate
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1 \
  || die "no C++ compiler (libFuzzer is C++): apt-get install g++"
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "cargo-fuzz not found: cargo install cargo-fuzz --locked"
  cargo install cargo-fuzz --locked \
    || die "could not install cargo-fuzz: run 'cargo install cargo-fuzz --locked' (needs crates.io) and try again"
fi
say "$(cargo fuzz --version)"

# --- targets -----------------------------------------------------------------------------
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
  done
fi
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || die "no target $t (fuzz/fuzz_targets/$t.rs)"
  [ -n "$(ls -A "fuzz/corpus/$t" 2>/dev/null)" ] || die "$t has no seed corpus (fuzz/corpus/$t/)"
done

# --- build ---------------------------------------------------------------------------------
# No sanitizer: the fuzzed code is safe Rust (no `unsafe`), where AddressSanitizer finds nothing
# more while it slows the build (~1.5x) and the runs (~2x). Release with debug assertions and
# overflow checks (cargo-fuzz's default), coverage-guided by libFuzzer.
build=(cargo fuzz build --sanitizer none)
say "RUSTC_BOOTSTRAP=1 ${build[*]}"
b0=$(date +%s)
RUSTC_BOOTSTRAP=1 "${build[@]}" || die "the fuzz targets do not build (see above)"
say "built in $(( $(date +%s) - b0 ))s"
host=$(rustc -vV | sed -n 's/^host: //p')
bin=fuzz/target/$host/release

# --- runs ----------------------------------------------------------------------------------
# the runs' corpus copies and temporary files: in memory when there is a tmpfs
work=$(mktemp -d -p /dev/shm oauthmail-fuzz.XXXXXX 2>/dev/null || mktemp -d -t oauthmail-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

run_one() {
  local t=$1 d=$work/$1 rc=0
  mkdir -p "$d/corpus" "$d/artifacts" "$d/tmp"
  cp -R "fuzz/corpus/$t/." "$d/corpus/"
  local args=(-max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10
              -artifact_prefix="$d/artifacts/" -print_final_stats=1)
  [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
  # libFuzzer stops itself after max_total_time; the outer bound catches a run that does not
  TMPDIR=$d/tmp timeout -k 10 $(( seconds + 120 )) "$bin/$t" "${args[@]}" "$d/corpus" >"$d/log" 2>&1 || rc=$?
  echo "$rc" >"$d/rc"
}

say "running ${#targets[@]} targets, ${seconds}s each, $jobs_max at a time"
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
    wait -n || true
  done
  run_one "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
  d=$work/$t
  rc=$(cat "$d/rc" 2>/dev/null || echo "?")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$d/log" | tail -1 || true)
  if [ "$rc" = 0 ]; then
    say "$t: ok (${execs:-?} inputs, ${cov:-cov: ?})"
    continue
  fi
  failed+=("$t")
  mkdir -p "fuzz/artifacts/$t"
  kept=()
  for a in "$d"/artifacts/*; do
    [ -e "$a" ] || continue
    cp "$a" "fuzz/artifacts/$t/"
    kept+=("fuzz/artifacts/$t/$(basename "$a")")
  done
  what="exit $rc"
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && what="did not stop within $(( seconds + 120 ))s"
  printf '\nfuzz: %s: FAILED (%s)\n' "$t" "$what" >&2
  # the panic or libFuzzer's report, without the long stack
  grep -E -m 12 -A 3 "panicked at|ERROR: libFuzzer|SUMMARY|out-of-memory|timeout after" "$d/log" >&2 || tail -n 30 "$d/log" >&2
  for a in "${kept[@]}"; do
    printf 'fuzz: %s: input %s (%s bytes)\n' "$t" "$a" "$(wc -c <"$a")" >&2
    if [ "$(wc -c <"$a")" -le 2048 ]; then
      printf 'fuzz: %s: input (base64): %s\n' "$t" "$(base64 -w0 "$a")" >&2
    fi
    printf 'fuzz: %s: reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none %s %s\n' "$t" "$t" "$a" >&2
  done
done

elapsed=$(( $(date +%s) - start ))
if [ ${#failed[@]} -gt 0 ]; then
  die "${#failed[@]} target(s) failed: ${failed[*]} (${elapsed}s); add each input to tests/fuzz_regressions.rs (fuzz/README.md)"
fi
say "all ${#targets[@]} targets ok in ${elapsed}s"
