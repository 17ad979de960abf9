#!/usr/bin/env bash
# Installs what aviso needs on Debian/Ubuntu (only what is missing; a no-op when all is
# there). Uses sudo when not root.
#   scripts/setup.sh           build needs: C toolchain, pkg-config, GDAL headers, ecCodes
#                              (libeccodes-dev: ECMWF BUFR track decoding, linked as -leccodes)
#   scripts/setup.sh test      plus gdal-bin (ogrinfo), libxml2-utils (xmllint), python3-aiosmtpd
#                              (a real SMTP server), libeccodes-tools (bufr_dump/bufr_set:
#                              tests/it/ecmwf_bufr.rs decodes independently and makes foreign
#                              BUFR with them), python3-pip (for the validator below),
#                              openssl (its test certificates) and sqlite3 (the documented
#                              backup command), used by the tests,
#                              chromium and poppler-utils (the contingency sheet's PDF is
#                              printed by chromium; tests/it/plan.rs reads it with pdftotext
#                              and pdftoppm), and for the web map's browser test node/npm and
#                              tests/web's npm packages (playwright-core, pinned in its lock file);
#                              PyPI's openapi-spec-validator for the python3 on PATH (tests/it/ogc.rs
#                              validates GET /api with it; Debian does not package it),
#                              postgresql and postgresql-postgis (tests/it/common/pg.rs starts a
#                              throwaway PostgreSQL cluster for the PostgreSQL store's tests),
#                              postgresql-client (pg_dump/pg_restore: `aviso store backup|restore`
#                              on PostgreSQL, tests/it/store_ops.rs; postgresql brings it too),
#                              caddy and curl (tests/it/deploy_caddy.rs runs deploy/Caddyfile's
#                              proxy in front of two replicas, curl checking its TLS)
set -euo pipefail
want=(build-essential pkg-config libgdal-dev libsqlite3-dev libeccodes-dev ca-certificates curl)
web=
for g in "$@"; do case $g in
  build) ;;
  test)  want+=(gdal-bin libxml2-utils python3-aiosmtpd python3-pip openssl sqlite3 chromium poppler-utils libeccodes-tools postgresql postgresql-postgis postgresql-client caddy curl); web=1
         # Debian's nodejs + npm only when no node is installed: a NodeSource nodejs
         # already bundles npm and conflicts with Debian's npm package.
         command -v node >/dev/null || want+=(nodejs npm) ;;
  *) echo "setup.sh: unknown group '$g' (expected: build, test)" >&2; exit 2 ;;
esac; done
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The OpenAPI validator of tests/it/ogc.rs, when the python3 on PATH lacks it.
if [ -n "$web" ] && ! python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  echo "setup.sh: pip install openapi-spec-validator (validates GET /api in tests/it/ogc.rs)" >&2
  python3 -m pip install --quiet openapi-spec-validator ||
    python3 -m pip install --quiet --break-system-packages openapi-spec-validator
fi
# The browser test's npm packages (tests/web/package-lock.json), when not installed yet.
web_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/web"
if [ -n "$web" ] && [ ! -d "$web_dir/node_modules/playwright-core" ]; then
  echo "setup.sh: npm ci in tests/web (playwright-core for the web map test)" >&2
  (cd "$web_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || {
    echo "setup.sh: installing Rust with rustup (stable, minimal profile)" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
  }
  echo "setup.sh: Rust is in ~/.cargo/bin; the scripts add it to PATH themselves" >&2
fi
