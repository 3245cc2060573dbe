#!/usr/bin/env bash
# Compares builds of the load generator against one server, side by side in one run: each rate
# runs with every generator back to back (the order rotating), so all see the machine in the
# same state. What it measures is the generator's own cost, and whether it kept its schedule.
#
# usage: bench/compare_loadgen.sh SERVER_DIR LOADGEN_DIR...
#   SERVER_DIR holds an `order-tracker` binary, each LOADGEN_DIR a `loadgen` (named by its folder).
# Prints, per run, CPU per update and per delivery of the generator and of the server, p99,
# lost/duplicated/out-of-order deliveries, and publishes offered / sent / answered OK; then each
# generator's medians. A rate may be repeated (FANOUT_RATES="300 300 300") for a median of
# several runs. Settings: FANOUT_RATES, SECONDS_PER_RUN, SUBSCRIBERS, STREAMS.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,12p "$0"; exit 2; }
SERVER=$(cd "$1" && pwd)/order-tracker
shift
GENS=()
for dir in "$@"; do GENS+=("$(cd "$dir" && pwd)"); done
FANOUT_RATES=${FANOUT_RATES:-"100 300 500"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
SUBSCRIBERS=${SUBSCRIBERS:-10000}
STREAMS=${STREAMS:-100}
PORT=18083
ADMIN=bench-admin@example.com
ADMIN_PASSWORD=bench-admin-password
WORK=$(mktemp -d /tmp/order-tracker-loadgens.XXXXXX)
chmod 755 "$WORK"

server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export ORDER_TRACKER__RATE_LIMIT__ENABLED=false
export ORDER_TRACKER__LOG__LEVEL=warn
export ORDER_TRACKER__WS__MESSAGES_PER_MINUTE=100000
# The generator holds thousands of sockets per user; the per-user cap would refuse them.
export ORDER_TRACKER__WS__MAX_SOCKETS_PER_USER=1000000
# Each run signs up its streams' owners; the cheapest hash the server accepts shortens that.
export ORDER_TRACKER__AUTH__BCRYPT_COST=10
export ORDER_TRACKER__DATABASE__DATA_DIR=$WORK/postgres PORT
unset DATABASE_URL
(cd "$WORK" && "$SERVER" user create --email "$ADMIN" --password "$ADMIN_PASSWORD" \
  --role admin --name "Load Admin" >/dev/null)
(cd "$WORK" && exec "$SERVER") &
server_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.3; done
db_pid=$(head -1 "$WORK/postgres/postmaster.pid")

turn=0
for rate in $FANOUT_RATES; do
  n=${#GENS[@]}
  for i in $(seq 0 $((n - 1))); do
    gen=${GENS[$(((i + turn) % n))]}
    name=$(basename "$gen")
    echo "== $name at $rate updates/s" >&2
    "$gen/loadgen" --url "http://127.0.0.1:$PORT" --admin "$ADMIN" --password "$ADMIN_PASSWORD" \
      --server-pid "$server_pid" --db-pid "$db_pid" --json "$WORK/$name-$turn.json" \
      fanout --subscribers "$SUBSCRIBERS" --streams "$STREAMS" --rate "$rate" \
      --seconds "$SECONDS_PER_RUN" >/dev/null 2>"$WORK/$name-$turn.log" || true
  done
  turn=$((turn + 1))
done

names=()
for gen in "${GENS[@]}"; do names+=("$(basename "$gen")"); done
python3 - "$WORK" "$SECONDS_PER_RUN" "${names[*]}" $FANOUT_RATES <<'EOF'
import json, statistics, sys
work, seconds, names, rates = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
def load(name, turn):
    try:
        with open(f"{work}/{name}-{turn}.json") as f:
            return dict(json.load(f)["rows"])
    except (OSError, ValueError, KeyError):
        return None
print("| updates/s | generator | offered | sent | answered OK | behind schedule | lag p99 ms "
      "| p99 ms | lost/dup/ooo | generator CPU ms/update | µs/delivery | server CPU ms/update "
      "| µs/delivery |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
costs = {n: {} for n in names}
for turn, rate in enumerate(rates):
    for n in names:
        r = load(n, turn)
        if r is None:
            print(f"| {rate} | {n} | failed |||||||||||")
            continue
        # An older generator reports only the publishes it sent, as events published.
        offered = int(r.get("publishes offered", int(rate) * seconds))
        sent = int(r.get("publishes sent", r["events published"]))
        ok = int(r["events published"]) - (0 if "publishes sent" in r else int(r["publish failures"]))
        behind = r.get("publishes behind schedule", "not told")
        lag = r.get("publish lag p99 ms", "not told")
        deliveries = max(int(r["deliveries"]), 1)
        gen, server = float(r["generator CPU s"]), float(r["server CPU s"])
        row = {"gen/update": 1000 * gen / max(ok, 1), "gen/delivery": 1e6 * gen / deliveries,
               "server/update": 1000 * server / max(ok, 1), "server/delivery": 1e6 * server / deliveries,
               "sent/offered": sent / offered}
        for k, v in row.items():
            costs[n].setdefault(k, []).append(v)
        print(f"| {rate} | {n} | {offered} | {sent} | {ok} | {behind} | {lag} | {r['publish-to-receipt p99 ms']} "
              f"| {r['lost']}/{r['duplicated']}/{r['out of order']}"
              f"| {row['gen/update']:.2f} | {row['gen/delivery']:.2f} "
              f"| {row['server/update']:.2f} | {row['server/delivery']:.2f} |")
print()
for n in names:
    c = costs[n]
    if not c:
        continue
    m = {k: statistics.median(v) for k, v in c.items()}
    print(f"- {n}, medians over {len(c['gen/update'])} runs: generator {m['gen/update']:.2f} ms/update, "
          f"{m['gen/delivery']:.2f} µs/delivery; server {m['server/update']:.2f} ms/update, "
          f"{m['server/delivery']:.2f} µs/delivery; sent/offered {m['sent/offered']:.3f}")
EOF
