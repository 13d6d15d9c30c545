#!/usr/bin/env python3
"""The tables of `scripts/bench scale` from the guest's JSON lines (scripts/vm/jobs/bench-scale.sh):
the swap-slot resolver's cost by hinted heap size, in the storm (the cgroup pushed down to a
quarter of the heap at once) and in the steady phase (one churn rate for every size), with
PAGEMAP_SCAN (scan) and reading every reduced page (read-all, the baseline); and the daemon's
memory. Time per written page is the resolver's time (slot_resolve) over the written pages it
was asked for; "vs first" divides it by the smallest heap's in the same mode, "vs read-all" by
read-all's at the same size. A hold miss is a page left whole because its round ran out of
time."""
import json
import sys
from collections import defaultdict

rows = defaultdict(dict)
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        rows[(r.get("mode", "scan"), r["heap_mib"])][r["phase"]] = r


def per_page(p):
    return p["resolve_ns"] / p["slots"] / 1000 if p and p["slots"] else 0


def pct(a, b):
    return f"{100 * a / b:.2f} %" if b else "-"


for name in ("storm", "steady"):
    print(f"{name}:\n")
    print("| resolver | heap MiB | s | steps/s | written pages | rounds/s | resolve us per "
          "written page | vs first | vs read-all | entries read per round | pages walked per "
          "round | hold misses | resolved |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = {}
    for mode, mib in sorted(rows):
        p = rows[(mode, mib)].get(name)
        if not p:
            continue
        secs, slots, rounds = p["seconds"], p["slots"], p["rounds"]
        us = per_page(p)
        base.setdefault(mode, us)
        ref = per_page(rows.get(("read-all", mib), {}).get(name))
        steps = rows[(mode, mib)].get("churn", {}).get("steps") if name == "steady" else None
        rate = f"{steps / secs:.0f}" if steps and secs else "-"
        print(f"| {mode} | {mib} | {secs:.0f} | {rate} | "
              f"{slots} | {rounds / secs if secs else 0:.1f} | {us:.1f} | "
              f"{us / base[mode] if base[mode] else 0:.2f}x | "
              f"{us / ref if ref else 0:.2f}x | "
              f"{p['scanned'] / rounds if rounds else 0:.0f} | "
              f"{p['walked'] / rounds if rounds else 0:.0f} | {pct(p['late'], slots)} | "
              f"{pct(p['resolved'], slots)} |")
    print()

print("memory (at the end of the storm):\n")
print("| resolver | heap MiB | reduced pages | hint rings and views KiB | per GiB of heap | resolver "
      "buffers KiB | entry file KiB | per GiB of device | daemon RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for mode, mib in sorted(rows):
    p = rows[(mode, mib)].get("storm")
    if not p:
        continue
    dev_gib = (mib * 15 / 16 + 64) / 1024
    print(f"| {mode} | {mib} | {p['reduced_pages']} | {p['hint_memory'] >> 10} | "
          f"{(p['hint_memory'] >> 10) * 1024 / mib:.0f} | {p['resolver_memory'] >> 10} | "
          f"{p['entry_file'] >> 10} | {(p['entry_file'] >> 10) / dev_gib:.0f} | "
          f"{p['daemon_rss_kib'] / 1024:.0f} |")
status = {key: rows[key].get("churn", {}) for key in rows}
bad = {key: c for key, c in status.items() if c.get("status") or c.get("damaged")}
print(f"\nchurn: {'every run intact' if not bad else bad}")
