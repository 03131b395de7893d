# Sourced by the scripts that install Debian packages.
#
# apt_install WHO PACKAGE...: installs the packages that are missing (root only). A failed
# `apt-get update` of one index (seen here: the i386 index of bookworm-security with the wrong
# size during a mirror sync) does not stop the install: the other indexes still serve. Waits up
# to 10 minutes for another apt to release its lock. Fails with a message naming the packages.
apt_install() {
  local who=$1
  shift
  local missing=() p
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$who: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    return 1
  fi
  echo "$who: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -o DPkg::Lock::Timeout=600)
  # the package lists may be current already: try first, update only when that fails
  if "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    return 0
  fi
  "${apt[@]}" update -qq || echo "$who: apt-get update reported errors (continuing with the indexes it got)" >&2
  "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    echo "$who: apt-get install ${missing[*]} failed" >&2
    return 1
  }
}
