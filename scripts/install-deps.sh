#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine (run as root):
# Debian packages (apt) and the test OAuth2 server's npm packages. Idempotent and quick when
# everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have gcc      || need_apt+=(gcc libc6-dev)
have g++      || need_apt+=(g++)   # libFuzzer (scripts/fuzz.sh) is C++
have make     || need_apt+=(make)
have valgrind || need_apt+=(valgrind)
have openssl  || need_apt+=(openssl)
have curl     || need_apt+=(curl)
# real proxies for tests/proxies.rs: tinyproxy (HTTP CONNECT) and Dante (SOCKS5)
[ -x /usr/bin/tinyproxy ] || need_apt+=(tinyproxy)
[ -x /usr/sbin/danted ]   || need_apt+=(dante-server)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)
if ! have node || ! have npm; then
  need_apt+=(nodejs npm)
fi

source scripts/apt.sh
apt_install install-deps "${need_apt[@]}"

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: Node.js $node_major found; the test OAuth2 server (oidc-provider 9) needs Node.js 20 or newer" >&2
  exit 1
fi

if ! have cargo; then
  echo "install-deps: cargo not found: install the Rust toolchain (rustup)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-fuzz --locked (the fuzz targets' runner)"
  cargo install cargo-fuzz --locked
fi

# the mail sandbox: a private Dovecot (IMAP, POP3, submission) and its system user
bash tests/sandbox/mail/install.sh

if [ ! -d tests/sandbox/node_modules/oidc-provider ]; then
  echo "install-deps: npm ci --prefix tests/sandbox"
  npm ci --prefix tests/sandbox --no-audit --no-fund --loglevel=error
fi
