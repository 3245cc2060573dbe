"""Side-by-side fanout table from the load generator's JSON reports (bench/run.sh).

usage: fanout_summary.py WORK_DIR P99_LIMIT_MS RATE...
For each rate it reads WORK_DIR/fanout-{order-tracker,nchan}-RATE.json and prints one row per
rate, then each target's highest deliveries per second whose p99 stayed within the limit, then
the CPU each party used per published update (server, database, load generator), then what the
publisher sent against what the rate offered.
"""
import json
import sys

work, limit, rates = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
targets = ["order-tracker", "nchan"]


def load(target, rate):
    try:
        with open(f"{work}/fanout-{target}-{rate}.json") as f:
            return dict(json.load(f)["rows"])
    except (OSError, ValueError, KeyError):
        return None


best = {t: None for t in targets}
print()
print(f"### fanout: 10,000 subscribers on 100 streams, side by side (p99 limit {limit:g} ms)")
print()
print("| updates/s offered | order-tracker deliveries/s | p99 ms | lost/dup/ooo | CPU s "
      "| nchan deliveries/s | p99 ms | lost/dup/ooo | CPU s |")
print("|---:|---:|---:|---|---:|---:|---:|---|---:|")
for rate in rates:
    cells = [rate]
    for t in targets:
        r = load(t, rate)
        if r is None:
            cells += ["failed", "", "", ""]
            continue
        p99 = float(r["publish-to-receipt p99 ms"])
        rate_done = float(r["deliveries /s"])
        faults = f'{r["lost"]}/{r["duplicated"]}/{r["out of order"]}'
        cells += [f"{rate_done:.0f}", f"{p99:.1f}", faults, r.get("server CPU s", "")]
        if p99 <= limit and (best[t] is None or rate_done > best[t][0]):
            best[t] = (rate_done, rate)
    print("| " + " | ".join(cells) + " |")
print()
# A target still within the limit at the highest rate tried may manage more: its figure is a
# floor, and a ratio against it a ceiling.
unbounded = {t: best[t] is not None and best[t][1] == rates[-1] for t in targets}
for t in targets:
    if best[t]:
        more = ", the highest rate tried: it may manage more" if unbounded[t] else ""
        print(f"- {t}: {best[t][0]:.0f} deliveries/s at p99 <= {limit:g} ms "
              f"({best[t][1]} updates/s offered{more})")
    else:
        print(f"- {t}: no rate tried kept p99 <= {limit:g} ms")
if best["order-tracker"] and best["nchan"]:
    ratio = best["order-tracker"][0] / best["nchan"][0]
    if unbounded["nchan"] and unbounded["order-tracker"]:
        print(f"- ratio order-tracker / nchan: {ratio:.2f}x, neither at its ceiling (raise FANOUT_RATES)")
    elif unbounded["nchan"]:
        print(f"- ratio order-tracker / nchan: at most {ratio:.2f}x")
    else:
        print(f"- ratio order-tracker / nchan: {ratio:.2f}x")

print()
print("CPU per published update, ms (each reaches 100 subscribers; nchan has no database):")
print()
print("| updates/s offered | order-tracker server | database | generator | together "
      "| nchan server | generator | together |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")


def per_update(r, row):
    return 1000 * float(r.get(row) or 0) / max(int(r["events published"]), 1)


def per_delivery(r, row):
    return 1e6 * float(r.get(row) or 0) / max(int(r["deliveries"]), 1)


for rate in rates:
    cells = [rate]
    for t in targets:
        r = load(t, rate)
        parts = ["server CPU s", "database CPU s", "generator CPU s"]
        if t == "nchan":
            parts.remove("database CPU s")
        if r is None:
            cells += [""] * (len(parts) + 1)
            continue
        costs = [per_update(r, row) for row in parts]
        cells += [f"{c:.2f}" for c in costs] + [f"{sum(costs):.2f}"]
    print("| " + " | ".join(cells) + " |")

print()
print("CPU per delivered frame, µs (the generator should cost less than the server it measures):")
print()
print("| updates/s offered | order-tracker server | generator | nchan server | generator |")
print("|---:|---:|---:|---:|---:|")
for rate in rates:
    cells = [rate]
    for t in targets:
        r = load(t, rate)
        if r is None:
            cells += ["", ""]
            continue
        cells += [f"{per_delivery(r, row):.2f}" for row in ["server CPU s", "generator CPU s"]]
    print("| " + " | ".join(cells) + " |")

print()
print("Publishes: offered by the rate, sent, answered OK, sent more than one interval late, "
      "and the failures by kind:")
print()
print("| updates/s offered | target | offered | sent | answered OK | late | lag p99 ms | failures |")
print("|---:|---|---:|---:|---:|---:|---:|---|")
for rate in rates:
    for t in targets:
        r = load(t, rate)
        if r is None:
            print(f"| {rate} | {t} | failed | | | | | |")
            continue
        # A generator before the schedule was kept reported only what it sent, as events published.
        offered = r.get("publishes offered", "not told")
        sent = r.get("publishes sent", r["events published"])
        ok = int(r["events published"]) - (0 if "publishes sent" in r else int(r["publish failures"]))
        print(f"| {rate} | {t} | {offered} | {sent} | {ok} | {r.get('publishes behind schedule', '')} "
              f"| {r.get('publish lag p99 ms', '')} | {r.get('publish failures by kind', r['publish failures'])} |")
