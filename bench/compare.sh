#!/usr/bin/env bash
# Compares two builds of the server in the fanout scenario, side by side in one run: each rate
# runs on both, back to back (the order alternating), so both see the machine in the same state.
#
# usage: bench/compare.sh BEFORE_DIR AFTER_DIR
#   each DIR holds an `order-tracker` binary; the load generator is AFTER_DIR's `loadgen`.
# Prints, per rate, deliveries/s, p99 and server CPU per published update for both, then the
# highest deliveries/s each kept under p99 <= 50 ms, and the median ratio of CPU per update.
# A rate may be repeated (FANOUT_RATES="100 100 100") to take a median of several runs. Settings: FANOUT_RATES, SECONDS_PER_RUN,
# SUBSCRIBERS, STREAMS.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n 2,9p "$0"; exit 2; }
BEFORE=$(cd "$1" && pwd)
AFTER=$(cd "$2" && pwd)
FANOUT_RATES=${FANOUT_RATES:-"200 400 600 800"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
SUBSCRIBERS=${SUBSCRIBERS:-10000}
STREAMS=${STREAMS:-100}
P99_LIMIT_MS=50
ADMIN=bench-admin@example.com
ADMIN_PASSWORD=bench-admin-password
WORK=$(mktemp -d /tmp/order-tracker-compare.XXXXXX)
chmod 755 "$WORK"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

export ORDER_TRACKER__RATE_LIMIT__ENABLED=false
export ORDER_TRACKER__LOG__LEVEL=warn
export ORDER_TRACKER__WS__MESSAGES_PER_MINUTE=100000
# The generator holds thousands of sockets per user; the per-user cap would refuse them.
export ORDER_TRACKER__WS__MAX_SOCKETS_PER_USER=1000000
unset DATABASE_URL

# start NAME PORT: the build NAME's server on PORT, with an embedded database of its own.
declare -A server_pid db_pid port
start() {
  local name=$1 dir=$2
  mkdir -p "$WORK/$name"
  export ORDER_TRACKER__DATABASE__DATA_DIR=$WORK/$name/postgres PORT=$3
  (cd "$WORK/$name" && "$dir/order-tracker" user create --email "$ADMIN" \
    --password "$ADMIN_PASSWORD" --role admin --name "Load Admin" >/dev/null)
  (cd "$WORK/$name" && exec "$dir/order-tracker") &
  server_pid[$name]=$!
  pids+=("$!")
  port[$name]=$3
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$3/readyz" >/dev/null && break; sleep 0.3; done
  db_pid[$name]=$(head -1 "$WORK/$name/postgres/postmaster.pid")
}
start before "$BEFORE" 18081
start after "$AFTER" 18082

turn=0
for rate in $FANOUT_RATES; do
  order="before after"
  [ $((turn % 2)) -eq 1 ] && order="after before"
  for name in $order; do
    echo "== $name at $rate updates/s" >&2
    "$AFTER/loadgen" --url "http://127.0.0.1:${port[$name]}" --admin "$ADMIN" \
      --password "$ADMIN_PASSWORD" --server-pid "${server_pid[$name]}" --db-pid "${db_pid[$name]}" \
      --json "$WORK/$name-$turn.json" fanout --subscribers "$SUBSCRIBERS" --streams "$STREAMS" \
      --rate "$rate" --seconds "$SECONDS_PER_RUN" >/dev/null || true
  done
  turn=$((turn + 1))
done

python3 - "$WORK" "$P99_LIMIT_MS" $FANOUT_RATES <<'EOF'
import json, sys
work, limit, rates = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
names = ["before", "after"]
def load(name, turn):
    try:
        with open(f"{work}/{name}-{turn}.json") as f:
            return dict(json.load(f)["rows"])
    except (OSError, ValueError, KeyError):
        return None
print("| updates/s | before deliveries/s | p99 ms | server CPU ms/update "
      "| after deliveries/s | p99 ms | server CPU ms/update |")
print("|---:|---:|---:|---:|---:|---:|---:|")
best = {n: None for n in names}
cpu_ratios = []
for turn, rate in enumerate(rates):
    cells = [rate]
    cpus = {}
    for n in names:
        r = load(n, turn)
        if r is None:
            cells += ["failed", "", ""]
            continue
        p99, done = float(r["publish-to-receipt p99 ms"]), float(r["deliveries /s"])
        cpu = float(r.get("server CPU s", "nan")) * 1000 / max(int(r["events published"]), 1)
        faults = int(r["lost"]) + int(r["duplicated"]) + int(r["out of order"])
        note = f" ({faults} lost/dup/ooo)" if faults else ""
        cells += [f"{done:.0f}{note}", f"{p99:.1f}", f"{cpu:.2f}"]
        cpus[n] = cpu
        if p99 <= limit and (best[n] is None or done > best[n]):
            best[n] = done
    print("| " + " | ".join(cells) + " |")
    if len(cpus) == 2:
        cpu_ratios.append(cpus["after"] / cpus["before"])
print()
if cpu_ratios:
    cpu_ratios.sort()
    median = cpu_ratios[len(cpu_ratios) // 2] if len(cpu_ratios) % 2 else \
        (cpu_ratios[len(cpu_ratios) // 2 - 1] + cpu_ratios[len(cpu_ratios) // 2]) / 2
    print(f"- server CPU per update, after / before: median {median:.3f} over {len(cpu_ratios)} rates")
for n in names:
    figure = f"{best[n]:.0f}" if best[n] else "none"
    print(f"- {n}: highest deliveries/s at p99 <= {limit:g} ms: {figure}")
EOF
