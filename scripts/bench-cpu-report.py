#!/usr/bin/env python3
"""The tables of `scripts/bench cpu` from the guest's JSON lines (scripts/vm/jobs/bench-scale.sh
run with LINESWAP_BENCH_MODES="scan whole" and LINESWAP_BENCH_PERF=1): the daemon's CPU time per
page moved (swap-outs and swap-ins), by thread, with hints (scan) and with the same allocator
not registered (whole: every page moves whole), in the storm and the steady phase; the
difference per page is what the hint path costs over the whole-page path. Then perf's
profile of the daemon in each mode."""
import json
import sys
from collections import defaultdict

rows = defaultdict(dict)
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        rows[(r["mode"], r["heap_mib"])][r["phase"]] = r

KINDS = ("ublk-queue", "ublk-hints", "ublk-pagemap", "ublk-keeper")


def cpu(p, kind):
    """us of KIND's threads (None: every thread; "other": the rest) per page moved."""
    pages = p["put_pages"] + p["get_pages"]
    if kind is None:
        ns = sum(p["cpu_ns"].values())
    elif kind == "other":
        ns = sum(v for k, v in p["cpu_ns"].items() if k not in KINDS)
    else:
        ns = p["cpu_ns"].get(kind, 0)
    return ns / pages / 1000 if pages else 0


for name in ("storm", "steady"):
    print(f"{name}:\n")
    print("| mode | heap MiB | s | pages out | of them by hints | pages in | bytes per page "
          "moved | queue threads | hint thread | page-map reader | keeper | other | "
          "daemon us per page | vs whole |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, mib in sorted(rows, key=lambda k: (k[1], k[0] != "whole", k[0])):
        p = rows[(mode, mib)].get(name)
        if not p or "cpu_ns" not in p:
            continue
        pages = p["put_pages"] + p["get_pages"]
        ref = rows.get(("whole", mib), {}).get(name)
        total, base = cpu(p, None), cpu(ref, None) if ref else 0
        print(f"| {mode} | {mib} | {p['seconds']:.0f} | {p['put_pages']} | "
              f"{p['hinted_put_pages']} | {p['get_pages']} | "
              f"{(p['put_bytes'] + p['get_bytes']) / pages if pages else 0:.0f} | " +
              " | ".join(f"{cpu(p, k):.1f}" for k in KINDS + ("other",)) +
              f" | {total:.1f} | {total / base if base else 0:.2f}x ({total - base:+.1f} us) |")
    print()

for (mode, mib), phases in sorted(rows.items()):
    prof = phases.get("profile")
    if not prof:
        continue
    print(f"perf, {mode}, {mib} MiB ({prof['samples']} samples of cpu-clock, storm and "
          "steady): the daemon's symbols with 0.5 % or more\n")
    print("| % | thread | binary | symbol |")
    print("|---:|---|---|---|")
    for pct, comm, dso, sym in prof["symbols"][:25]:
        print(f"| {pct:.2f} | {comm} | {dso} | `{sym}` |")
    print()

status = {key: rows[key].get("churn", {}) for key in rows}
bad = {key: c for key, c in status.items() if c.get("status") or c.get("damaged")}
print(f"churn: {'every run intact' if not bad else bad}")
sys.exit(1 if bad else 0)
