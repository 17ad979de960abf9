#!/usr/bin/env bash
# The demo: set-up, a release build, then
#  1. the real Météo-France RSMC La Réunion forecast for cyclone Freddy (issued 2023-03-10)
#     assessed on the Mozambique layers: the duty officer's table, and the GeoJSON alert in
#     out/freddy_2023-03-10T04Z.geojson;
#  2. the service (`aviso serve --demo`): Freddy's best track replayed as if live through a
#     local feed, one 6-hourly issuance every 2 s, so the Alert, its Updates and the Cancel
#     appear within a minute; beside it a second local feed replays the real river-station
#     flood forecast issued 2025-09-25 (a flood Alert for the lower Limpopo, Gaza). Both are
#     CAP status Exercise. Open http://127.0.0.1:8080/ (map),
#     /api/alerts?include_tests=true, /readyz, /metrics. Ctrl-C stops it.
# AVISO_DEMO_PORT changes the port; AVISO_DEMO_SECONDS stops the service after that long.
# Data: ../shared/data beside this repository, or AVISO_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
export PATH="$HOME/.cargo/bin:$PATH"
DATA=${AVISO_DATA_DIR:-../shared/data}
[ -d "$DATA" ] || { echo "demo: no data folder at $DATA (set AVISO_DATA_DIR)" >&2; exit 1; }
export AVISO_DATA_DIR=$(cd "$DATA" && pwd)
cargo build --release --quiet
mkdir -p out
./target/release/aviso assess \
  --forecast "$AVISO_DATA_DIR/forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json" \
  --layers layers --format table --out out/freddy_2023-03-10T04Z.geojson
echo
PORT=${AVISO_DEMO_PORT:-8080}
# The duty officer's token for this run (issue 13): random, in the environment only.
AVISO_DEMO_TOKEN=${AVISO_DEMO_TOKEN:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export AVISO_DEMO_TOKEN
echo "demo: the service on http://127.0.0.1:$PORT/ replays Freddy and the 2025-09-25 flood forecast (Ctrl-C to stop)"
echo "demo: the operations page is http://127.0.0.1:$PORT/ops — sign in with the token $AVISO_DEMO_TOKEN"
echo "demo: (the demo's alerts are Exercises, which publish by rule: the page shows each auto-publication in its audit trail;"
echo "demo:  a real Actual forecast would wait there for your approval)"
if [ -n "${AVISO_DEMO_SECONDS:-}" ]; then
  timeout --signal=TERM "$AVISO_DEMO_SECONDS" \
    ./target/release/aviso serve --demo --listen "127.0.0.1:$PORT" || [ $? -eq 124 ]
else
  exec ./target/release/aviso serve --demo --listen "127.0.0.1:$PORT"
fi
