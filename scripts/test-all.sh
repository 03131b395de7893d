#!/usr/bin/env bash
# Runs every test: formatting, lints, the Rust tests (unit, C ABI, flows against the real
# oidc-provider on loopback), the header check, and the C test program under valgrind.
# Installs what it needs first (scripts/install-deps.sh). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n=== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "dependencies"
bash scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (unit, C ABI from Rust, flows against oidc-provider, header freshness)"
cargo test --locked -- --test-threads=4

step "C test program under valgrind"
bash tests/c/run.sh

step "done"
echo "all tests passed in $(( $(date +%s) - start ))s"
