#!/usr/bin/env bash
# Runs every benchmark scenario and baseline on this machine, then writes bench/results.md.
# Installs what is missing (Debian packages), starts PostgreSQL (the server's embedded one),
# the server and nginx+nchan on loopback, and stops them all at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/results.md
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
PORT=18080
NCHAN_PORT=18081
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
nginx_started=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$nginx_started" ] && nginx -c "$WORK/nginx.conf" -p "$WORK" -s stop 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export ORDER_TRACKER__DATABASE__DATA_DIR=$WORK/data/postgres
export ORDER_TRACKER__RATE_LIMIT__ENABLED=false
export ORDER_TRACKER__LOG__LEVEL=warn
export ORDER_TRACKER__WS__MESSAGES_PER_MINUTE=100000
export PORT
unset DATABASE_URL
(cd "$WORK" && "$SERVER" user create --email "$ADMIN" --password "$ADMIN_PASSWORD" --role admin --name "Load Admin")
(cd "$WORK" && exec "$SERVER") &
server_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.3; done

lg() { "$LOADGEN" --url "http://127.0.0.1:$PORT" --admin "$ADMIN" --password "$ADMIN_PASSWORD" --server-pid "$server_pid" "$@"; }

{
  echo "# order-tracker benchmark results"
  echo
  echo "Produced by \`bench/run.sh\` on $(date -u +%Y-%m-%d) on $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB,"
  echo "generator, server, PostgreSQL and nginx on one machine."
} > "$OUT"

echo "== idle sockets"
for n in 1000 10000 18000; do lg idle --sockets "$n" | tee -a "$OUT"; done

echo "== fanout, order-tracker"
lg fanout --subscribers 10000 --streams 100 --rate 100 --seconds "$SECONDS_PER_RUN" | tee -a "$OUT"

echo "== fanout, nchan"
sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$NCHAN_PORT#g" bench/nginx.conf.template > "$WORK/nginx.conf"
mkdir -p "$WORK/nginx-body"
nginx -c "$WORK/nginx.conf" -p "$WORK" && nginx_started=1
sleep 1
"$LOADGEN" fanout --nchan "http://127.0.0.1:$NCHAN_PORT" --subscribers 10000 --streams 100 --rate 100 \
  --seconds "$SECONDS_PER_RUN" --server-pid "$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)" | tee -a "$OUT"

echo "== status updates, order-tracker"
lg status --clients 16 --seconds "$SECONDS_PER_RUN" | tee -a "$OUT"

echo "== status updates, pgbench (same SQL, same concurrency)"
orders=$(psql -h "$WORK/data/postgres" -U postgres -d order_tracker -Atc "SELECT max(id) FROM orders")
{
  echo
  echo "### status (pgbench, same transaction, 16 clients)"
  echo
  echo '```'
  "$PGBENCH" -h "$WORK/data/postgres" -U postgres -d order_tracker -n -f bench/status_update.sql \
    -D orders="$orders" -c 16 -j 2 -T "$SECONDS_PER_RUN" 2>&1 | grep -E "tps|latency average|number of transactions actually"
  echo '```'
} | tee -a "$OUT"

echo "== checkout (cargo bench)"
{
  echo
  echo "### checkout (cargo bench --bench checkout)"
  cargo bench --bench checkout 2>/dev/null | sed -n '/^| path/,$p'
} | tee -a "$OUT"

echo "results written to $OUT"
