#!/usr/bin/env bash
# Install what the mail sandbox needs (Debian 12, run as root). Idempotent and fast
# when everything is already present. Never leaves a *system* Dovecot running.
#   bash tests/sandbox/mail/install.sh
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: must run as root" >&2
  exit 1
fi

pkgs=(dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond python3 openssl curl)
missing=()
for p in "${pkgs[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

stop_system_dovecot() {
  # systemd may or may not be PID 1 (containers); try every way, never fail.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    timeout 20 systemctl stop dovecot.socket dovecot.service >/dev/null 2>&1 || true
    timeout 20 systemctl disable dovecot.socket dovecot.service >/dev/null 2>&1 || true
  fi
  if [ -x /etc/init.d/dovecot ]; then
    timeout 20 /etc/init.d/dovecot stop >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1 && [ -e /etc/init.d/dovecot ]; then
    update-rc.d dovecot disable >/dev/null 2>&1 || true
  fi
  # Whatever is left: a master started with the system config (/etc/dovecot).
  local pidfile=/run/dovecot/master.pid
  if [ -s "$pidfile" ]; then
    local pid; pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
}

if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: installing ${missing[*]}" >&2
  # Keep postinst from starting the system service where invoke-rc.d honours it.
  created_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  apt_ok=0
  log=$(mktemp /tmp/oauthmail-mail-install.XXXXXX)
  for attempt in 1 2; do
    # DPkg::Lock::Timeout: wait for a concurrent apt/dpkg instead of failing.
    if apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then apt_ok=1; break; fi
    apt-get -o DPkg::Lock::Timeout=600 update -q >>"$log" 2>&1 || true
  done
  [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
  [ "$apt_ok" = 1 ] && rm -f "$log"
  if [ "$apt_ok" != 1 ]; then
    echo "install.sh: apt-get install ${missing[*]} failed:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
fi

stop_system_dovecot

if ! getent group omtestmail >/dev/null; then
  groupadd --system omtestmail
fi
if ! id omtestmail >/dev/null 2>&1; then
  useradd --system --gid omtestmail --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin omtestmail
fi

# Sanity: nothing of a system dovecot on the standard ports.
if command -v ss >/dev/null 2>&1; then
  if grep -Eq ':(143|993|110|995|587|465|4190) .*dovecot' <<<"$(ss -ltnpH 2>/dev/null || true)"; then
    echo "install.sh: warning: a dovecot is still listening on a standard mail port" >&2
  fi
fi
command -v dovecot >/dev/null && command -v doveadm >/dev/null
exit 0
