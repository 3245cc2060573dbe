"""Side-by-side status-update table: order-tracker's `status` scenario and pgbench running the
server's statement on the same orders, in alternating rounds (bench/run.sh).

usage: status_summary.py WORK_DIR CLIENTS ROUNDS
Reads WORK_DIR/status-order-tracker-N.json (the load generator's report) and
WORK_DIR/status-pgbench-N.txt (pgbench's output) for N = 1..ROUNDS, prints one row per round,
the medians and the ratio of the medians.
"""
import json
import re
import statistics
import sys

work, clients, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])


def server(n):
    try:
        with open(f"{work}/status-order-tracker-{n}.json") as f:
            rows = dict(json.load(f)["rows"])
        return float(rows["updates /s"]), float(rows["update p99 ms"]), int(rows["failed"])
    except (OSError, ValueError, KeyError):
        return None


def pgbench(n):
    try:
        with open(f"{work}/status-pgbench-{n}.txt") as f:
            text = f.read()
        tps = float(re.search(r"^tps = ([0-9.]+)", text, re.M).group(1))
        latency = float(re.search(r"^latency average = ([0-9.]+) ms", text, re.M).group(1))
        failed = re.search(r"^number of failed transactions: (\d+)", text, re.M)
        return tps, latency, int(failed.group(1)) if failed else 0
    except (OSError, AttributeError):
        return None


print()
print(f"### status updates, {clients} clients: order-tracker and pgbench (the server's statement, "
      "prepared, on the same orders), alternating rounds")
print()
print("| round | order-tracker updates/s | p99 ms | failed | pgbench tps | latency avg ms | failed |")
print("|---:|---:|---:|---:|---:|---:|---:|")
ours, theirs = [], []
for n in range(1, rounds + 1):
    s, p = server(n), pgbench(n)
    cells = [str(n)]
    cells += [f"{s[0]:.0f}", f"{s[1]:.1f}", str(s[2])] if s else ["failed", "", ""]
    cells += [f"{p[0]:.0f}", f"{p[1]:.1f}", str(p[2])] if p else ["failed", "", ""]
    print("| " + " | ".join(cells) + " |")
    if s and p:
        ours.append(s[0])
        theirs.append(p[0])
print()
if ours:
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"- medians: order-tracker {a:.0f} updates/s, pgbench {b:.0f} tps; "
          f"ratio {a / b:.2f}x")
else:
    print("- no round completed on both")
