#!/usr/bin/env bash
# Installs the system packages aviso needs on Debian/Ubuntu (only those missing), and
# checks for Rust. Idempotent: a no-op when everything is there. Uses sudo when not root.
#   scripts/setup.sh          build needs (GDAL, pkg-config)
#   scripts/setup.sh test     plus what the tests use (gdal-bin's ogrinfo)
set -euo pipefail
want=(pkg-config libgdal-dev build-essential ca-certificates)
for g in "$@"; do case $g in
  build) ;;
  test)  want+=(gdal-bin) ;;
  *) echo "setup.sh: unknown group '$g' (expected: build, test)" >&2; exit 2 ;;
esac; done
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "setup.sh: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup.sh: Rust is missing: install it with rustup (https://rustup.rs) first" >&2; exit 1; }
