#!/usr/bin/env bash
# Load on the service API (issues 3 and 15): requests per second and latency percentiles
# for one alert document (/api/alerts/{id}), its CAP, the alert list, and OGC API items,
# measured with wrk (Debian package `wrk`) against release `aviso serve --demo` replicas
# on this machine.
#
#   benches/load.sh [DURATION_S] [CONNECTIONS]      (defaults 10 s, 16 connections)
#   AVISO_LOAD_STORE=postgres AVISO_LOAD_REPLICAS=3 benches/load.sh
#
# AVISO_LOAD_STORE: sqlite (default: the embedded store, one replica) or postgres (a
# throwaway cluster of Debian's postgresql, started here as tests/it/common/pg.rs does, and
# AVISO_LOAD_REPLICAS replicas on one database, default 1). With several replicas the
# connections are shared among them, one wrk per replica at the same time: req/s is the
# sum, p50/p99 the worst replica's. Client and server share the machine's cores: the
# figures are a floor for a dedicated server. Data: ../shared/data beside the repository,
# or AVISO_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-16}
command -v wrk >/dev/null || { echo "load: needs wrk (apt-get install -y wrk)" >&2; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
STORE=${AVISO_LOAD_STORE:-sqlite}
REPLICAS=${AVISO_LOAD_REPLICAS:-1}
PORT=${AVISO_LOAD_PORT:-18080}
WORK=$(mktemp -d)
PIDS=()
PG_CTL=
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$PG_CTL" ]; then runuser -u postgres -- "$PG_CTL" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
CONFIG=()
case $STORE in
  sqlite)
    [ "$REPLICAS" = 1 ] || { echo "load: the SQLite store serves one replica" >&2; exit 2; } ;;
  postgres)
    BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [ -x "$BIN/initdb" ] || { echo "load: needs Debian's postgresql (scripts/setup.sh test)" >&2; exit 1; }
    PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    chown postgres "$WORK"
    runuser -u postgres -- "$BIN/initdb" -D "$WORK/pg" -A trust -U postgres >/dev/null
    PG_CTL="$BIN/pg_ctl"
    runuser -u postgres -- "$PG_CTL" -D "$WORK/pg" -l "$WORK/pg.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK -c max_connections=200" start >/dev/null
    runuser -u postgres -- "$BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" aviso_load
    printf '[store]\nurl = "postgres://postgres@127.0.0.1:%s/aviso_load"\n' "$PG_PORT" >"$WORK/aviso.toml"
    CONFIG=(--config "$WORK/aviso.toml") ;;
  *) echo "load: AVISO_LOAD_STORE=$STORE: expected sqlite or postgres" >&2; exit 2 ;;
esac
BASES=()
for r in $(seq 0 $((REPLICAS - 1))); do
  p=$((PORT + r))
  ./target/release/aviso serve "${CONFIG[@]}" --demo --demo-step 1 --listen "127.0.0.1:$p" \
    --data-dir "$WORK/replica-$r" 2>"$WORK/replica-$r.log" &
  PIDS+=($!)
  BASES+=("http://127.0.0.1:$p")
done
BASE=${BASES[0]}
# Wait for the replay to publish a few versions, and for every replica to serve them.
for b in "${BASES[@]}"; do
  for _ in $(seq 1 180); do
    n=$(curl -fs "$b/api/alerts?include_tests=true&status=all" 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])' 2>/dev/null || echo 0)
    [ "$n" -ge 5 ] && break
    sleep 1
  done
done
ID=$(curl -fs "$BASE/api/alerts?include_tests=true&status=all&limit=1000" | python3 -c '
import json, sys
a = json.load(sys.stdin)["alerts"]
# The version with the most districts: the heaviest document.
print(max(a, key=lambda x: len(x["districts"]))["id"])')
SIZE=$(curl -fs "$BASE/api/alerts/$ID" | wc -c)
PER=$(( (CONNS + REPLICAS - 1) / REPLICAS ))
echo "load: store $STORE, $REPLICAS replica(s), alert $ID ($SIZE bytes), $CONNS connections ($PER per replica), ${DURATION} s per endpoint"
for path in "/api/alerts/$ID" "/api/alerts/$ID/cap" "/api/alerts?include_tests=true" \
            "/collections/districts/items?limit=100" "/collections/settlements/items?limit=1000&bbox=36,-19,38,-17"; do
  i=0
  WRK=()
  for b in "${BASES[@]}"; do
    wrk -t"$(( REPLICAS == 1 ? 2 : 1 ))" -c"$PER" -d"${DURATION}s" --latency "$b$path" >"$WORK/wrk-$i.txt" &
    WRK+=($!)
    i=$((i + 1))
  done
  wait "${WRK[@]}"
  rps=$(cat "$WORK"/wrk-*.txt | awk '/Requests\/sec/ {s += $2} END {printf "%.0f", s}')
  # The worst replica's percentiles (wrk prints them with their unit: us, ms or s).
  worst() { cat "$WORK"/wrk-*.txt | awk -v q="$1" '$1==q {v=$2; u=v; gsub(/[0-9.]/,"",u); gsub(/[a-z]/,"",v);
      m = (u=="us") ? v/1000 : (u=="s") ? v*1000 : v; if (m > w) w = m} END {printf "%.2fms", w}'; }
  errs=$(cat "$WORK"/wrk-*.txt | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  printf '%-70s %10s req/s  p50 %9s  p99 %9s %s\n' "$path" "$rps" "$(worst 50%)" "$(worst 99%)" "$errs"
  rm -f "$WORK"/wrk-*.txt
done
