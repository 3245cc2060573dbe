#!/usr/bin/env bash
# Measures what PostgreSQL's NOTIFY costs a committing transaction (issue 23, "Measure").
#
# Every transaction that ran NOTIFY takes one cluster-wide lock in PreCommit_Notify (async.c)
# and holds it until its commit is flushed, so notifying commits cannot share a WAL flush. The
# server's announcements all go through the SQL function announce() (sql/V11): with the session
# setting order_tracker.broker unset it NOTIFYs, with 'nats' it writes a broker_outbox row
# instead. So the same pgbench transaction runs "with NOTIFY" and "with an outbox row" just by
# PGOPTIONS, and the difference between them is the lock (plus NOTIFY's queue work, against an
# outbox row's insert and later delete).
#
# One run, on a PostgreSQL 15 cluster of its own (fsync on, the default, as the server's embedded
# one runs): migrations applied by the server binary, orders made by `loadgen status` through the
# server as bench/run.sh's status baseline makes them, then pgbench with the server's own
# status-change statement (`loadgen pgbench-script`) at each client count, the variants
# alternating which goes first. Writes its section of bench/notify_lock.md.
#
#   bench/notify_lock.sh                      # 3 rounds x 20 s, 16 and 64 clients
#   SECONDS_PER_RUN=5 ROUNDS=1 bench/notify_lock.sh   # a quick try
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench/notify_lock.md}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
ROUNDS=${ROUNDS:-3}
CLIENT_COUNTS=${CLIENT_COUNTS:-"16 64"}
# Also time one fdatasync of this disk (pg_test_fsync, ~16 s): serialized commits cannot go
# faster than one of those each.
FSYNC_TEST=${FSYNC_TEST:-1}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LOADGEN=$TARGET/release/loadgen
SERVER=$TARGET/release/order-tracker
PORT=${PORT:-18480}
ADMIN=bench-admin@example.com
ADMIN_PASSWORD=bench-admin-password
read -ra client_counts <<< "$CLIENT_COUNTS"
max_clients=$(printf '%s\n' "${client_counts[@]}" | sort -n | tail -1)

# Up to date, this is a few seconds; nice: the machine's other user compiles too.
nice -n 10 cargo build --release --bin order-tracker --bin loadgen

WORK=$(mktemp -d /tmp/notify-lock.XXXXXX)
# PostgreSQL refuses to run as root: as root, its commands run as the postgres user, which must
# be able to reach its folders (mktemp makes 700).
chmod 755 "$WORK"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  as_pg=(runuser -u postgres --)
  install -d -o postgres -m 700 "$WORK/pg"
  install -d -o postgres -m 755 "$WORK/sock"
else
  install -d -m 700 "$WORK/pg"
  install -d -m 755 "$WORK/sock"
fi
SOCK=$WORK/sock

server_pid=""
helper_pids=()
pg_started=""
cleanup() {
  for pid in "${helper_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; fi
  if [ -n "$pg_started" ]; then
    "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null || true
  fi
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "notify_lock.sh: failed at line $LINENO" >&2' ERR

echo "== cluster in $WORK (fsync on)"
# As the server's embedded cluster is made and started (src/db/embedded.rs), fsync stated
# explicitly: it is the default, and the lock only matters as long as each commit waits for
# its flush.
"${as_pg[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/server.log" -w \
  -o "-c listen_addresses='' -c unix_socket_directories='$SOCK' -c max_connections=300 -c fsync=on" \
  start >/dev/null
pg_started=1
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -U postgres -d order_tracker)
psql_do() { "${PSQL[@]}" "$@"; }
value() { psql_do -Atc "$1"; }
psql -X -q -h "$SOCK" -U postgres -d postgres -c "CREATE DATABASE order_tracker"
[ "$(value "SHOW fsync")" = on ] || { echo "fsync is not on" >&2; exit 1; }

echo "== migrations, admin, and $max_clients orders with owners of their own (loadgen status)"
# The server's settings for the set-up, as bench/run.sh gives them: no rate limit (it would
# refuse the registrations), the cheapest bcrypt the server accepts (set-up time only).
export DATABASE_URL="host=$SOCK user=postgres dbname=order_tracker"
export ORDER_TRACKER__RATE_LIMIT__ENABLED=false
export ORDER_TRACKER__LOG__LEVEL=warn
export ORDER_TRACKER__AUTH__BCRYPT_COST=10
export PORT
(cd "$WORK" && "$SERVER" migrate)
(cd "$WORK" && "$SERVER" user create --email "$ADMIN" --password "$ADMIN_PASSWORD" --role admin --name "Load Admin")
(cd "$WORK" && exec "$SERVER") &
server_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.3; done
# The status scenario makes its orders (each with an owner of its own, already preparing) and
# then updates them for a second: the set-up of bench/run.sh's pgbench baseline, reused.
"$LOADGEN" --url "http://127.0.0.1:$PORT" --admin "$ADMIN" --password "$ADMIN_PASSWORD" \
  status --clients "$max_clients" --seconds 1 > "$WORK/setup-status.md" 2> "$WORK/setup-status.log"
# The server goes: pgbench is the only client from here, and the server's own LISTEN would be a
# second listener.
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""

# As bench/run.sh checks: the orders are consecutive ids, each with an owner of its own, so
# pgbench client i takes order first + i and no two clients queue on an order or an owner row.
IFS='|' read -r first span owners <<< "$(value "SELECT min(id), max(id) - min(id) + 1,
  count(DISTINCT user_id) FROM (SELECT id, user_id FROM orders ORDER BY id DESC LIMIT $max_clients) s")"
if [ "$span" != "$max_clients" ] || [ "$owners" != "$max_clients" ]; then
  echo "the status scenario's orders are not $max_clients in a row with distinct owners" >&2
  exit 1
fi
admin_id=$(value "SELECT id FROM users WHERE email = '$ADMIN'")

# The transactions measured.
# status: the server's status-change statement, as bench/run.sh's baseline runs it. It announces
#   three times: the order's event (in the statement), and at commit the owner's notification
#   (publish_user_event) and the board's event (publish_board_event), both deferred triggers.
"$LOADGEN" pgbench-script > "$WORK/status.sql"
# own-row: a transaction that updates a row of its own (one per client, nothing shared) and
#   announces once (an order event's payload). Nothing else in it serializes commits, so whatever
#   does is NOTIFY's. It writes a row because a transaction that only NOTIFYs writes no WAL and
#   commits without waiting for a flush at all: the lock would be held for microseconds.
psql_do -c "CREATE TABLE notify_lock_rows (client INT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0)" \
  -c "INSERT INTO notify_lock_rows (client) SELECT generate_series(0, $max_clients - 1)"
cat > "$WORK/own-row.sql" <<'SQL'
WITH r AS (UPDATE notify_lock_rows SET n = n + 1 WHERE client = :client_id RETURNING n)
SELECT announce('order_tracker_events', '{"type":"order.status","topic":"order:0","seq":' || n || ',"order_id":0,"order_number":"ORD-20260101-0001","status":"preparing","notes":"pgbench","updated_by":"Load Admin"}') FROM r;
SQL

# The "none" variant makes announce() a no-op in this cluster for its runs and puts the
# migration's own definition back after each: all three of a status change's announcements go,
# everything else (the board counter's lock, the user and board event rows) stays.
value "SELECT pg_get_functiondef('announce(text,text)'::regprocedure)" > "$WORK/announce.sql"
echo ";" >> "$WORK/announce.sql"
announce_md5=$(value "SELECT md5(pg_get_functiondef('announce(text,text)'::regprocedure))")
announce_noop() {
  psql_do -c "CREATE OR REPLACE FUNCTION announce(channel TEXT, payload TEXT) RETURNS VOID
              LANGUAGE plpgsql AS \$\$ BEGIN NULL; END \$\$"
}
announce_restore() {
  psql_do -f "$WORK/announce.sql"
  [ "$(value "SELECT md5(pg_get_functiondef('announce(text,text)'::regprocedure))")" = "$announce_md5" ] \
    || { echo "announce() did not come back as the migration defines it" >&2; exit 1; }
}

# A listener, as a server is: without one, NOTIFY's commit signals nobody and the queue has no
# reader to keep up with it. psql reads what arrived (and prints it) only after a query, and
# \watch does not print notifications, so a loop feeds it `SELECT 1` every 10 ms; the count
# checks every NOTIFY arrived. The loop sleeps with `read -t` on a FIFO it holds open itself
# (no writer ever writes), which costs no fork per tick.
mkfifo "$WORK/listen.fifo" "$WORK/tick.fifo"
grep -c '^Asynchronous notification' < "$WORK/listen.fifo" > "$WORK/listen.count" &
helper_pids+=($!)
listen_loop() {
  local tick
  exec {tick}<>"$WORK/tick.fifo"
  echo 'LISTEN order_tracker_events; LISTEN order_tracker_revocations;'
  while :; do
    echo 'SELECT 1;'
    read -r -t 0.01 -u "$tick" _ || true
  done
}
# The loop ends with psql: its next write fails.
listen_loop | "${PSQL[@]}" -At > "$WORK/listen.fifo" &
listener_pid=$!
helper_pids+=("$listener_pid")
# A relay, as the NATS broker's is: it deletes what it published, oldest first, every few ms
# (publishing itself is not measured), without waiting for the disk as the relay does
# (synchronous_commit off: a lost delete only republishes). An outbox that only grew would
# flatter its inserts less than a drained one; a drained one costs the deletes' WAL and vacuum.
printf '%s\n' 'SET synchronous_commit = off;' 'DELETE FROM broker_outbox WHERE id IN
  (SELECT id FROM broker_outbox ORDER BY id LIMIT 1000) \watch 0.005' | "${PSQL[@]}" > /dev/null &
helper_pids+=($!)
# Both run through every variant, so each pays the same polling; neither has work but its own.
sleep 1
[ "$(value "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT 1%'
               OR query LIKE 'DELETE FROM broker_outbox%'")" = 2 ] \
  || { echo "the listener or the relay did not start" >&2; exit 1; }

fdatasync=""
if [ "$FSYNC_TEST" = 1 ]; then
  echo "== one fdatasync on this disk (pg_test_fsync)"
  "$PG_BIN/pg_test_fsync" -s 1 -f "$WORK/fsync.test" > "$WORK/fsync.txt"
  fdatasync=$(awk '/^Compare file sync methods using one/ {one = 1}
                   one && $1 == "fdatasync" {print $(NF - 1) " us"; exit}' "$WORK/fsync.txt")
fi

# Other work on the machine while a run went on: the 1-minute load average at its end and how
# many compiler processes were alive then (another developer shares the 2 cores).
others() { echo "$(cut -d' ' -f1 /proc/loadavg) $(pgrep -c -x 'rustc|cc|cc1|ld|cargo' || true)"; }

notified_tx=0
runs=$WORK/runs.tsv
# WAL flushes so far (all sessions): a run's count over its transactions says whether commits
# shared flushes (group commit, well under 1) or each waited for one of its own (about 1).
wal_syncs() { value "SELECT wal_sync FROM pg_stat_wal"; }
# One pgbench run: appends transaction, clients, variant, round, tps, latency, failed, WAL
# flushes per transaction, load, compilers to $runs.
run_one() {
  local tx=$1 clients=$2 variant=$3 round=$4 broker=postgres
  case $variant in
    outbox) broker=nats ;;
    none) announce_noop ;;
  esac
  # Each run starts right after a checkpoint, so none lands inside one (checkpoint_timeout is
  # 5 min) and each pays the same full-page writes.
  psql_do -c CHECKPOINT
  local syncs_before
  syncs_before=$(wal_syncs)
  local log=$WORK/$tx-$clients-$variant-$round.txt
  # -M prepared: the server prepares the statement too; -j 2: the machine's cores.
  PGOPTIONS="-c order_tracker.broker=$broker" "$PG_BIN/pgbench" -h "$SOCK" -U postgres \
    -d order_tracker -n -M prepared -f "$WORK/$tx.sql" -D first="$first" -D admin="$admin_id" \
    -c "$clients" -j 2 -T "$SECONDS_PER_RUN" > "$log" 2>&1 || true
  if [ "$variant" = none ]; then announce_restore; fi
  local tps lat processed failed flushes
  tps=$(awk '/^tps = .*without initial connection time/ {printf "%.0f", $3}' "$log")
  lat=$(awk '/^latency average = / {print $4}' "$log")
  processed=$(awk '/^number of transactions actually processed:/ {print $6}' "$log")
  failed=$(awk '/^number of failed transactions:/ {print $5}' "$log")
  if [ -z "$tps" ] || [ -z "$lat" ]; then
    echo "pgbench failed ($log):" >&2
    cat "$log" >&2
    exit 1
  fi
  flushes=$(awk -v a="$syncs_before" -v b="$(wal_syncs)" -v n="$processed" 'BEGIN {printf "%.2f", (b - a) / n}')
  if [ "$variant" = notify ]; then
    notified_tx=$((notified_tx + processed * $([ "$tx" = status ] && echo 3 || echo 1)))
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tx" "$clients" "$variant" "$round" "$tps" "$lat" \
    "${failed:-0}" "$flushes" "$(others | tr ' ' '\t')" >> "$runs"
  printf '  %-7s %3s clients %-6s round %s: %6s tps %8s ms %5s flushes/tx\n' "$tx" "$clients" "$variant" \
    "$round" "$tps" "$lat" "$flushes"
}

# rotate N WORDS...: the words, starting at the N-th (0-based, wrapping), so that over the
# rounds each variant goes first in turn and none always runs on a warmer or quieter machine.
rotate() {
  local n=$1; shift
  local words=("$@") i
  for ((i = 0; i < ${#words[@]}; i++)); do echo "${words[(i + n) % ${#words[@]}]}"; done
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)
echo "== $ROUNDS rounds x ${SECONDS_PER_RUN} s, clients $CLIENT_COUNTS"
for round in $(seq 1 "$ROUNDS"); do
  for clients in "${client_counts[@]}"; do
    for tx in status own-row; do
      for variant in $(rotate $((round - 1)) notify outbox none); do
        run_one "$tx" "$clients" "$variant" "$round"
      done
    done
  done
done
elapsed=$(($(date +%s) - started))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Everything the variants announced has arrived: the listener heard every NOTIFY (3 a status
# change, 1 an own-row one), and the relay left the outbox empty.
sleep 1
kill -TERM "$listener_pid"
wait "$listener_pid" 2>/dev/null || true
for _ in $(seq 1 50); do [ -s "$WORK/listen.count" ] && break; sleep 0.1; done
heard=$(cat "$WORK/listen.count")
outbox_left=$(value "SELECT count(*) FROM broker_outbox")
outbox_written=$(value "SELECT last_value FROM broker_outbox_id_seq")

# median TX CLIENTS VARIANT COLUMN: the median of that column (5: tps, 6: latency, 8: WAL
# flushes per transaction) over the rounds.
median() {
  awk -F'\t' -v t="$1" -v c="$2" -v v="$3" -v k="$4" '$1 == t && $2 == c && $3 == v {print $k}' "$runs" \
    | sort -g | awk '{x[NR] = $1} END {if (NR % 2) print x[(NR + 1) / 2]; else print (x[NR / 2] + x[NR / 2 + 1]) / 2}'
}
all_tps() {
  awk -F'\t' -v t="$1" -v c="$2" -v v="$3" '$1 == t && $2 == c && $3 == v {printf "%s%s", sep, $5; sep = ", "}' "$runs"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

declare -A status_ratio own_ratio
table=$WORK/table.md
{
  echo "| transaction | clients | variant | median tps | median latency ms | tps / NOTIFY's | WAL flushes / tx | each run's tps |"
  echo "|---|---:|---|---:|---:|---:|---:|---|"
  for tx in status own-row; do
    for clients in "${client_counts[@]}"; do
      notify_tps=$(median "$tx" "$clients" notify 5)
      for variant in notify outbox none; do
        tps=$(median "$tx" "$clients" "$variant" 5)
        r=$(ratio "$tps" "$notify_tps")
        [ "$variant" = outbox ] && [ "$tx" = status ] && status_ratio[$clients]=$r
        [ "$variant" = outbox ] && [ "$tx" = own-row ] && own_ratio[$clients]=$r
        echo "| $tx | $clients | $variant | $tps | $(median "$tx" "$clients" "$variant" 6) | $r |" \
          "$(median "$tx" "$clients" "$variant" 8) | $(all_tps "$tx" "$clients" "$variant") |"
      done
    done
  done
} > "$table"

# The answer, from the status change at the most clients: an outbox at least 10% faster means
# NOTIFY is what caps those commits.
top=$max_clients
verdict() {
  awk -v r="$1" 'BEGIN {if (r >= 1.10) print "yes"; else if (r <= 0.90) print "no, the outbox is slower"; else print "no"}'
}
section=$WORK/section.md
{
  echo "<!-- written by bench/notify_lock.sh: rerunning it replaces everything down to the end marker -->"
  echo "## Measured: $(date -u +%Y-%m-%d), ${ROUNDS} rounds x ${SECONDS_PER_RUN} s"
  echo
  echo "- Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); PostgreSQL $(value "SHOW server_version" | cut -d' ' -f1)"
  echo "  on $(df -T "$WORK" | awk 'NR == 2 {print $2}'), fsync on (the default), synchronous_commit $(value "SHOW synchronous_commit"),"
  echo "  otherwise default settings (max_connections 300), as the server's embedded cluster runs."
  [ -n "$fdatasync" ] && echo "- One 8 kB fdatasync on this disk (pg_test_fsync): $fdatasync."
  echo "- Load average (1, 5, 15 min) before: $load_before; after: $load_after. Another developer"
  echo "  compiled on the same cores during the runs (per-run load and compiler count below), so the"
  echo "  variants alternate which goes first in each round and the table gives medians."
  echo "- pgbench -M prepared -j 2, one order (and owner) per client; a psql LISTENing on both"
  echo "  channels and a relay loop deleting broker_outbox every 5 ms ran throughout every variant."
  echo "- Checks: the listener heard $heard notifications of $notified_tx the NOTIFY runs sent;"
  echo "  the outbox runs wrote $outbox_written rows and $outbox_left were left undrained at the end."
  echo "- Took ${elapsed} s of runs."
  echo
  echo "Variants: **notify**: announce() NOTIFYs (order_tracker.broker unset, as a postgres-broker"
  echo "server runs). **outbox**: PGOPTIONS='-c order_tracker.broker=nats', so announce() inserts a"
  echo "broker_outbox row instead. **none**: announce() replaced by a no-op for that run (the"
  echo "migration's definition put back after it), which removes every announcement and nothing else:"
  echo "for a status change all three (the order's event in the statement; the owner's notification"
  echo "and the board event, announced by deferred triggers at commit), while the board counter's"
  echo "lock and the user and board event rows stay."
  echo
  echo "Transactions: **status**: the server's status-change statement (\`loadgen pgbench-script\`),"
  echo "one order per client. Its commit-time triggers lock the one board_counter row until the"
  echo "commit ends, so its commits are serialized with or without NOTIFY. **own-row**: updates a"
  echo "row of its own and announces one order-event payload: nothing but NOTIFY serializes it. (A"
  echo "transaction that only NOTIFYs writes no WAL and commits without a flush, so it would not show"
  echo "the lock.)"
  echo
  echo "WAL flushes / tx: pg_stat_wal's wal_sync over the run's transactions (all sessions, the"
  echo "relay's deletes included): about 1 when every commit waits for a flush of its own, well under"
  echo "1 when commits share flushes."
  echo
  cat "$table"
  echo
  echo "**Does NOTIFY cap notifying commits here?** For the status change, $(verdict "${status_ratio[$top]}")"
  echo "(outbox/NOTIFY $(for c in "${client_counts[@]}"; do printf '%s at %s clients, ' "${status_ratio[$c]}" "$c"; done | sed 's/, $//'));"
  echo "for a transaction with nothing else serializing it (own-row), $(verdict "${own_ratio[$top]}")"
  echo "(outbox/NOTIFY $(for c in "${client_counts[@]}"; do printf '%s at %s clients, ' "${own_ratio[$c]}" "$c"; done | sed 's/, $//'))."
  echo
  echo "<details><summary>every run (1-min load average at its end, compiler processes alive then)</summary>"
  echo
  echo "| transaction | clients | variant | round | tps | latency ms | failed | WAL flushes / tx | load | compilers |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' -v OFS=' | ' '{$1 = $1; print "| " $0 " |"}' "$runs"
  echo
  echo "</details>"
  echo "<!-- end of bench/notify_lock.sh's section -->"
} > "$section"

# Replace the script's section in the file, keeping whatever was written around it.
if [ -f "$OUT" ] && grep -q '^<!-- written by bench/notify_lock.sh' "$OUT"; then
  awk -v section="$section" '
    /^<!-- written by bench\/notify_lock.sh/ {while ((getline line < section) > 0) print line; skip = 1; next}
    skip && /^<!-- end of bench\/notify_lock.sh/ {skip = 0; next}
    !skip {print}' "$OUT" > "$WORK/out.md"
  cp "$WORK/out.md" "$OUT"
else
  { echo "# NOTIFY's commit lock, measured (issue 23)"; echo; cat "$section"; } > "$OUT"
fi
cat "$section"
echo "written to $OUT"
