#!/usr/bin/env python3
"""The table of `scripts/bench rdma` from the guest's JSON lines (scripts/vm/jobs/bench-rdma.sh):
lineswap's page store, whole pages and half-live masks, in clear and sealed (AES-256-GCM, the
default for devices), against perftest at 4 KiB.

Usage: bench-rdma-report.py RESULTS.json"""
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
perf = {r["tool"]: r["pages_per_s"] for r in rows if "tool" in r}
print("| operation | pages | lineswap whole pages/s | vs perftest | lineswap half-live pages/s | vs perftest | perftest pages/s |")
print("|---|---|---:|---:|---:|---:|---:|")
ls = {(r["mask"], r.get("sealed", False)): r for r in rows if "mask" in r}
for op, tool, key in (("PUT (RDMA WRITE)", "ib_write_bw", "put_pages_per_s"),
                      ("GET (RDMA READ)", "ib_read_bw", "get_pages_per_s")):
    for sealed in (False, True):
        w, h, p = ls[("whole", sealed)][key], ls[("half", sealed)][key], perf[tool]
        print(f"| {op} | {'sealed' if sealed else 'clear'} | {w} | {w / p:.2f}x | {h} | "
              f"{h / p:.2f}x | {p} ({tool}) |")
clear, sealed = ls[("whole", False)], ls[("whole", True)]
for key, op in (("put_pages_per_s", "PUT"), ("get_pages_per_s", "GET")):
    print(f"\nsealing costs {1 - sealed[key] / clear[key]:.1%} of whole-page {op} throughput"
          " at depth 32")
