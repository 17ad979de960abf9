#!/usr/bin/env bash
# Load on the service API (issue 3): requests per second and latency percentiles for one
# alert document (/api/alerts/{id}), its CAP, the alert list, and OGC API items, measured
# with wrk (Debian package `wrk`) against a release `aviso serve --demo` on this machine.
#
#   benches/load.sh [DURATION_S] [CONNECTIONS]      (defaults 10 s, 16 connections)
#
# Client and server share the machine's cores: the figures are a floor for a dedicated
# server. Data: ../shared/data beside the repository, or AVISO_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-16}
command -v wrk >/dev/null || { echo "load: needs wrk (apt-get install -y wrk)" >&2; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
PORT=${AVISO_LOAD_PORT:-18080}
BASE="http://127.0.0.1:$PORT"
LOG=$(mktemp)
./target/release/aviso serve --demo --demo-step 1 --listen "127.0.0.1:$PORT" 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
# Wait for the replay to publish a few versions.
for _ in $(seq 1 120); do
  n=$(curl -fs "$BASE/api/alerts?include_tests=true&status=all" 2>/dev/null \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])' 2>/dev/null || echo 0)
  [ "$n" -ge 5 ] && break
  sleep 1
done
ID=$(curl -fs "$BASE/api/alerts?include_tests=true&status=all&limit=1000" | python3 -c '
import json, sys
a = json.load(sys.stdin)["alerts"]
# The version with the most districts: the heaviest document.
print(max(a, key=lambda x: len(x["districts"]))["id"])')
SIZE=$(curl -fs "$BASE/api/alerts/$ID" | wc -c)
echo "load: alert $ID ($SIZE bytes), $CONNS connections, ${DURATION} s per endpoint, 2 wrk threads"
for path in "/api/alerts/$ID" "/api/alerts/$ID/cap" "/api/alerts?include_tests=true" \
            "/collections/districts/items?limit=100" "/collections/settlements/items?limit=1000&bbox=36,-19,38,-17"; do
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$BASE$path")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  printf '%-70s %10s req/s  p50 %8s  p99 %8s %s\n' "$path" "$rps" "$p50" "$p99" "$errs"
done
