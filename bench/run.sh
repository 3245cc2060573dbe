#!/usr/bin/env bash
# Runs every benchmark scenario and baseline on this machine, then writes bench/results.md.
# Installs what is missing (Debian packages), starts PostgreSQL (the server's embedded one),
# the server and nginx+nchan on loopback, and stops them all at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench/results.md}
# Which sections to run (default: all): any of idle share locations board fanout status across
# checkout, e.g. ONLY="fanout status" OUT=/tmp/part.md bench/run.sh
ONLY=${ONLY:-}
wants() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
# Publish rates (status updates per second; each reaches 100 subscribers) tried on both targets.
FANOUT_RATES=${FANOUT_RATES:-"100 200 300 400 500 600 700 800 900 1000"}
# The latency bound under which deliveries per second are compared.
P99_LIMIT_MS=50
# Status updates: concurrent staff clients, and how many alternating rounds with pgbench.
STATUS_CLIENTS=16
STATUS_ROUNDS=${STATUS_ROUNDS:-3}
PORT=18080
NCHAN_PORT=18090
PROCESSES=6
SOCKETS_ACROSS=${SOCKETS_ACROSS:-100000}
# Dispatch (issue 21): drivers sending positions, and the staff board's sockets. Positions'
# latency depends on how long deliveries go on, so these runs are longer than the others.
LOCATION_DRIVERS=${LOCATION_DRIVERS:-1000}
DISPATCH_SECONDS=${DISPATCH_SECONDS:-60}
WORK=$(mktemp -d /tmp/order-tracker-bench.XXXXXX)
chmod 755 "$WORK"
LOADGEN=$ROOT/target/release/loadgen
SERVER=$ROOT/target/release/order-tracker
ADMIN=bench-admin@example.com
ADMIN_PASSWORD=bench-admin-password

need_apt=()
command -v nginx >/dev/null || need_apt+=(nginx-light)
ls /usr/lib/nginx/modules/ngx_nchan_module.so >/dev/null 2>&1 || need_apt+=(libnginx-mod-nchan)
ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -1)

cargo build --release --bin order-tracker --bin loadgen

server_pid=""
extra_pids=()
nginx_started=""
cleanup() {
  for pid in "${extra_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$nginx_started" ] && nginx -c "$WORK/nginx.conf" -p "$WORK" -s stop 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export ORDER_TRACKER__DATABASE__DATA_DIR=$WORK/data/postgres
export ORDER_TRACKER__RATE_LIMIT__ENABLED=false
export ORDER_TRACKER__LOG__LEVEL=warn
export ORDER_TRACKER__WS__MESSAGES_PER_MINUTE=100000
# The generator holds thousands of sockets per user; the per-user cap would refuse them.
export ORDER_TRACKER__WS__MAX_SOCKETS_PER_USER=1000000
# ... and as many viewers of one share link.
export ORDER_TRACKER__SHARE__MAX_VIEWERS_PER_LINK=1000000
export ORDER_TRACKER__SHARE__MAX_VIEWERS_PER_ADDRESS=1000000
# Accounts cost a bcrypt hash to register and one to sign in, and only the scenarios' setup
# makes them (the locations scenario 2,200): the lowest cost the server accepts makes that
# minutes shorter and changes nothing measured.
export ORDER_TRACKER__AUTH__BCRYPT_COST=10
export PORT
unset DATABASE_URL
(cd "$WORK" && "$SERVER" user create --email "$ADMIN" --password "$ADMIN_PASSWORD" --role admin --name "Load Admin")
(cd "$WORK" && exec "$SERVER") &
server_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.3; done

db_pid=$(head -1 "$WORK/data/postgres/postmaster.pid")
lg() { "$LOADGEN" --url "http://127.0.0.1:$PORT" --admin "$ADMIN" --password "$ADMIN_PASSWORD" --server-pid "$server_pid" --db-pid "$db_pid" "$@"; }

{
  echo "# order-tracker benchmark results"
  echo
  echo "Produced by \`bench/run.sh\` on $(date -u +%Y-%m-%d) on $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB,"
  echo "generator, server, PostgreSQL and nginx on one machine."
} > "$OUT"

if wants idle; then
echo "== idle sockets"
for n in 1000 10000 18000; do lg idle --sockets "$n" | tee -a "$OUT"; done
fi

if wants share; then
echo "== one share link watched by many (issue 20's goal: p99 <= 50 ms at 10 changes/s)"
lg share --viewers "${SHARE_VIEWERS:-10000}" --owners 100 --rate 10 --seconds "$SECONDS_PER_RUN" | tee -a "$OUT"
fi

if wants locations; then
echo "== dispatch: drivers' positions, 3 subscribers an order (issue 21's goal: p99 <= 50 ms)"
lg locations --drivers "$LOCATION_DRIVERS" --seconds "$DISPATCH_SECONDS" \
  --database-url "host=$WORK/data/postgres user=postgres dbname=order_tracker" | tee -a "$OUT"
fi

if wants board; then
echo "== dispatch: 200 staff sockets on the board, 200 order changes/s (goal: p99 <= 50 ms)"
lg board --sockets 200 --orders 200 --rate 200 --seconds "$DISPATCH_SECONDS" | tee -a "$OUT"
fi

if wants fanout; then
echo "== fanout, order-tracker and nchan side by side at rising rates"
sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$NCHAN_PORT#g" bench/nginx.conf.template > "$WORK/nginx.conf"
mkdir -p "$WORK/nginx-body"
nginx -c "$WORK/nginx.conf" -p "$WORK" && nginx_started=1
sleep 1
nchan_pid=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
# Each rate runs on both targets back to back, so both see the machine in the same state.
for rate in $FANOUT_RATES; do
  lg --json "$WORK/fanout-order-tracker-$rate.json" fanout --subscribers 10000 --streams 100 \
    --rate "$rate" --seconds "$SECONDS_PER_RUN" >> "$WORK/fanout-details.md" || true
  "$LOADGEN" --json "$WORK/fanout-nchan-$rate.json" fanout --nchan "http://127.0.0.1:$NCHAN_PORT" \
    --subscribers 10000 --streams 100 --rate "$rate" --seconds "$SECONDS_PER_RUN" \
    --server-pid "$nchan_pid" >> "$WORK/fanout-details.md" || true
done
nginx -c "$WORK/nginx.conf" -p "$WORK" -s stop && nginx_started=""
python3 bench/fanout_summary.py "$WORK" "$P99_LIMIT_MS" $FANOUT_RATES | tee -a "$OUT"
{
  echo
  echo "<details><summary>every fanout run</summary>"
  cat "$WORK/fanout-details.md"
  echo
  echo "</details>"
} >> "$OUT"
fi

if wants status; then
echo "== status updates: order-tracker, then pgbench on the same orders, alternating"
# pgbench runs the server's own statement (the generator prints it from the server's library),
# prepared as the server runs it: pgbench's default protocol would plan it on every run, half
# its cost, and flatter the server.
"$LOADGEN" pgbench-script > "$WORK/status.sql"
psql_value() { psql -h "$WORK/data/postgres" -U postgres -d order_tracker -Atc "$1"; }
admin_id=$(psql_value "SELECT id FROM users WHERE email = '$ADMIN'")
for round in $(seq 1 "$STATUS_ROUNDS"); do
  lg --json "$WORK/status-order-tracker-$round.json" status --clients "$STATUS_CLIENTS" \
    --seconds "$SECONDS_PER_RUN" >> "$WORK/status-details.md" || true
  # Each pgbench client takes one of the orders that run just updated, as its client did: the
  # scenario made them one after another, each for an owner of its own. Orders sharing an owner
  # would queue on the owner's row at commit and lower the baseline.
  IFS='|' read -r first span owners <<< "$(psql_value "SELECT min(id), max(id) - min(id) + 1,
    count(DISTINCT user_id) FROM (SELECT id, user_id FROM orders ORDER BY id DESC LIMIT $STATUS_CLIENTS) s")"
  if [ "$span" != "$STATUS_CLIENTS" ] || [ "$owners" != "$STATUS_CLIENTS" ]; then
    echo "the status scenario's orders are not $STATUS_CLIENTS in a row with distinct owners" >&2
    exit 1
  fi
  "$PGBENCH" -h "$WORK/data/postgres" -U postgres -d order_tracker -n -M prepared -f "$WORK/status.sql" \
    -D first="$first" -D admin="$admin_id" -c "$STATUS_CLIENTS" -j 2 -T "$SECONDS_PER_RUN" \
    > "$WORK/status-pgbench-$round.txt" 2>&1 || true
done
python3 bench/status_summary.py "$WORK" "$STATUS_CLIENTS" "$STATUS_ROUNDS" | tee -a "$OUT"
{
  echo
  echo "<details><summary>every order-tracker status run</summary>"
  cat "$WORK/status-details.md"
  echo
  echo "</details>"
} >> "$OUT"
fi

if wants across; then
echo "== $SOCKETS_ACROSS idle sockets across $PROCESSES server processes on one database"
# The other processes find the private PostgreSQL running and share it.
pids=("$server_pid")
for i in $(seq 1 $((PROCESSES - 1))); do
  (cd "$WORK" && PORT=$((PORT + i)) exec "$SERVER") &
  extra_pids+=($!)
  pids+=($!)
done
for i in $(seq 1 $((PROCESSES - 1))); do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT + i))/readyz" >/dev/null && break; sleep 0.3; done
done
per=$(((SOCKETS_ACROSS + PROCESSES - 1) / PROCESSES))
gens=()
for i in $(seq 0 $((PROCESSES - 1))); do
  # Each generator's closing status change goes through the next process, so every process's
  # subscribers hear a change made on another one.
  "$LOADGEN" --url "http://127.0.0.1:$((PORT + i))" --admin "$ADMIN" --password "$ADMIN_PASSWORD" \
    --server-pid "${pids[$i]}" idle --sockets "$per" --settle-seconds 30 \
    --via "http://127.0.0.1:$((PORT + (i + 1) % PROCESSES))" > "$WORK/across-$i.md" 2> "$WORK/across-$i.log" &
  gens+=($!)
done
failed=0
for g in "${gens[@]}"; do wait "$g" || failed=1; done
{
  echo
  echo "### $SOCKETS_ACROSS idle sockets across $PROCESSES processes"
  echo
  echo "| process | sockets | RSS after MiB | RSS per socket KiB | change (made on the next process) reached all |"
  echo "|---:|---:|---:|---:|---|"
  for i in $(seq 0 $((PROCESSES - 1))); do
    f="$WORK/across-$i.md"
    value() { grep "| $1 |" "$f" | awk -F'|' '{gsub(/ /,"",$3); print $3}'; }
    echo "| $i | $(value sockets) | $(value 'server RSS after MiB') | $(value 'RSS per socket KiB') | $(value 'change reached all') |"
  done
  [ "$failed" = 0 ] || echo "(a generator failed: see its log)"
} | tee -a "$OUT"
for pid in "${extra_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
extra_pids=()
fi

if wants checkout; then
echo "== checkout (cargo bench)"
{
  echo
  echo "### checkout (cargo bench --bench checkout)"
  cargo bench --bench checkout 2>/dev/null | sed -n '/^| path/,$p'
} | tee -a "$OUT"
fi

# The tables of scripts that start their own clusters (issue 23: NOTIFY's lock, the brokers side
# by side, the generator's own cost), as they last measured, so every table is in one file.
if [ -z "$ONLY" ]; then
  for part in notify_lock brokers loadgen; do
    if [ -f "bench/$part.md" ]; then
      { echo; sed 's/^# /## /' "bench/$part.md"; } >> "$OUT"
    fi
  done
fi

echo "results written to $OUT"
