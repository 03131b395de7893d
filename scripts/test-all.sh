#!/usr/bin/env bash
# Runs every test: formatting, lints, the Rust tests (unit, C ABI, flows against the real
# oidc-provider on loopback, fetching and sending against a private Dovecot), the header check,
# the C test program under valgrind, omcli, the Delphi and .NET bindings, and the Windows DLLs
# under Wine.
# Installs what it needs first (scripts/install-deps.sh). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n=== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "dependencies"
bash scripts/install-deps.sh

step "shell scripts: no early-exit reader in a pipeline under pipefail"
bash scripts/check-scripts.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (unit, C ABI from Rust, flows against oidc-provider, header freshness)"
cargo test --locked -- --test-threads=4

step "fuzzing: every parser of outside bytes, 17 s per target (scripts/fuzz.sh)"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
bash scripts/fuzz.sh

step "C test program under valgrind"
bash tests/c/run.sh

step "omcli, the admin's command-line tool (examples-c)"
bash examples-c/omcli_test.sh

step "Delphi binding (Free Pascal, Delphi mode)"
bash bindings/delphi/run_test.sh

step ".NET binding (Mono)"
bash bindings/dotnet/run_test.sh

step "Windows DLLs (x86_64 and i686, cross-built); under Wine, 64- and 32-bit: the harness, the stdcall set, the Delphi binding, omcli; the VB6 module; the packages"
bash scripts/test-windows.sh

step "done"
echo "all tests passed in $(( $(date +%s) - start ))s"
