#!/usr/bin/env bash
# The two brokers side by side (issue 23): four server processes on one database, 10,000
# subscribers on 1,000 orders spread over the processes, publishes through all of them at rising
# rates; for each rate `postgres` and `nats` run one after the other (alternating which goes
# first), each on freshly started processes. Writes bench/brokers.md.
#
# Reported per run: deliveries/s, p99, lost/dup/out-of-order, publishes offered and sent, server
# CPU (the four processes), PostgreSQL CPU, nats-server CPU, each per update.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench/brokers.md}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
RATES=${RATES:-"100 200 400"}
SUBSCRIBERS=${SUBSCRIBERS:-10000}
STREAMS=${STREAMS:-1000}
PROCESSES=4
PORT=18180
NATS_PORT=18222
WORK=$(mktemp -d /tmp/order-tracker-brokers.XXXXXX)
chmod 755 "$WORK"
LOADGEN=$ROOT/target/release/loadgen
SERVER=$ROOT/target/release/order-tracker
ADMIN=bench-admin@example.com
ADMIN_PASSWORD=bench-admin-password

command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
}
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
cargo build --release --bin order-tracker --bin loadgen

pids=()
nats_pid=""
stop_servers() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_servers
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null || true
  # The embedded PostgreSQL outlives its first process; stop it with its own tool.
  [ -f "$WORK/data/postgres/postmaster.pid" ] && kill -TERM "$(head -1 "$WORK/data/postgres/postmaster.pid")" 2>/dev/null || true
  sleep 1
  rm -rf "$WORK"
}
trap cleanup EXIT

export ORDER_TRACKER__DATABASE__DATA_DIR=$WORK/data/postgres
export ORDER_TRACKER__RATE_LIMIT__ENABLED=false
export ORDER_TRACKER__LOG__LEVEL=warn
export ORDER_TRACKER__WS__MAX_SOCKETS_PER_USER=1000000
export ORDER_TRACKER__AUTH__BCRYPT_COST=10
export ORDER_TRACKER__WEBHOOKS__ENABLED=false
export ORDER_TRACKER__BROKER__NATS_URL=nats://127.0.0.1:$NATS_PORT
# Processes other than the first share the embedded cluster; they need the same secrets.
export JWT_SECRET=bench-secret-that-is-long-enough-for-hs256-0123456789
export ORDER_TRACKER__AUTH__TOTP_KEY=5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1
unset DATABASE_URL

"$NATS_SERVER" -a 127.0.0.1 -p "$NATS_PORT" > "$WORK/nats.log" 2>&1 &
nats_pid=$!
(cd "$WORK" && "$SERVER" user create --email "$ADMIN" --password "$ADMIN_PASSWORD" --role admin --name "Load Admin")

start_servers() { # kind
  for i in $(seq 0 $((PROCESSES - 1))); do
    (cd "$WORK" && ORDER_TRACKER__BROKER__KIND=$1 PORT=$((PORT + i)) exec "$SERVER") &
    pids+=($!)
    # The first one starts the embedded PostgreSQL; the others find it running.
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT + i))/readyz" >/dev/null && break; sleep 0.2; done
  done
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

{
  echo "# The brokers side by side"
  echo
  echo "Produced by \`bench/brokers.sh\` on $(date -u +%Y-%m-%d) on $(nproc) cores: $PROCESSES server"
  echo "processes, PostgreSQL, nats-server and the generator on one machine. $SUBSCRIBERS subscribers"
  echo "on $STREAMS orders, spread over the processes; publishes round-robin through them;"
  echo "$SECONDS_PER_RUN s per run. CPU is per published update (each reaches"
  echo "$((SUBSCRIBERS / STREAMS)) subscribers), in ms."
  echo
  echo "| updates/s offered | broker | answered OK of offered | deliveries/s | p99 ms | lost/dup/ooo | server CPU | PostgreSQL CPU | nats-server CPU |"
  echo "|---:|---|---:|---:|---:|---|---:|---:|---:|"
} > "$OUT"

round=0
for rate in $RATES; do
  if [ $((round % 2)) = 0 ]; then kinds="postgres nats"; else kinds="nats postgres"; fi
  round=$((round + 1))
  for kind in $kinds; do
    echo "== $kind at $rate updates/s"
    start_servers "$kind"
    db_pid=$(head -1 "$WORK/data/postgres/postmaster.pid")
    urls=(); pid_args=()
    for i in $(seq 0 $((PROCESSES - 1))); do urls+=(--url "http://127.0.0.1:$((PORT + i))"); pid_args+=(--server-pid "${pids[$i]}"); done
    nats_before=$(ticks "$nats_pid")
    "$LOADGEN" "${urls[@]}" --admin "$ADMIN" --password "$ADMIN_PASSWORD" "${pid_args[@]}" --db-pid "$db_pid" \
      --json "$WORK/$kind-$rate.json" fanout --subscribers "$SUBSCRIBERS" --streams "$STREAMS" \
      --rate "$rate" --seconds "$SECONDS_PER_RUN" >> "$WORK/details.md" 2> "$WORK/$kind-$rate.log" || true
    nats_ticks=$(( $(ticks "$nats_pid") - nats_before ))
    python3 - "$WORK/$kind-$rate.json" "$kind" "$rate" "$nats_ticks" "$(getconf CLK_TCK)" >> "$OUT" <<'PY'
import json, sys
path, kind, rate, nats_ticks, hz = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
try:
    r = dict(json.load(open(path))["rows"])
except (OSError, ValueError, KeyError):
    print(f"| {rate} | {kind} | (the run failed: see its log) | | | | | | |")
    sys.exit()
offered, ok = int(r["publishes offered"]), int(r["events published"])
per = lambda seconds: f"{1000 * float(seconds) / max(ok, 1):.2f}"
print(f"| {rate} | {kind} | {ok} of {offered} | {r['deliveries /s']} | "
      f"{float(r['publish-to-receipt p99 ms']):.1f} | {r['lost']}/{r['duplicated']}/{r['out of order']} | "
      f"{per(r['server CPU s'])} | {per(r['database CPU s'])} | {per(nats_ticks / hz)} |")
PY
    stop_servers
  done
done
{
  echo
  echo "<details><summary>every run</summary>"
  echo
  cat "$WORK/details.md"
  echo
  echo "</details>"
} >> "$OUT"
echo "written to $OUT"
