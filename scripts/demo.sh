#!/usr/bin/env bash
# The demo: assess the real Météo-France RSMC La Réunion forecast for cyclone Freddy
# (issued 2023-03-10) on the Mozambique layers, print the duty officer's table and write
# the GeoJSON alert; then replay Freddy's whole best track (IBTrACS) as 6-hourly
# issuances and summarise how early each district was warned. Outputs go to out/.
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
./target/release/aviso replay \
  --track "$AVISO_DATA_DIR/tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv" \
  --storm FREDDY --season 2023 --layers layers --out out/replay-freddy
echo
echo "demo: alert out/freddy_2023-03-10T04Z.geojson (open it in QGIS), replay summary out/replay-freddy/summary.csv"
