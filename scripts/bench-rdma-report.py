#!/usr/bin/env python3
"""The table of `scripts/bench rdma` from the guest's JSON lines (scripts/vm/jobs/bench-rdma.sh):
lineswap's page store, whole pages and half-live masks, against perftest at 4 KiB.

Usage: bench-rdma-report.py RESULTS.json"""
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
perf = {r["tool"]: r["pages_per_s"] for r in rows if "tool" in r}
print("| operation | lineswap whole pages/s | vs perftest | lineswap half-live pages/s | vs perftest | perftest pages/s |")
print("|---|---:|---:|---:|---:|---:|")
ls = {r["mask"]: r for r in rows if "mask" in r}
for op, tool, key in (("PUT (RDMA WRITE)", "ib_write_bw", "put_pages_per_s"),
                      ("GET (RDMA READ)", "ib_read_bw", "get_pages_per_s")):
    w, h, p = ls["whole"][key], ls["half"][key], perf[tool]
    print(f"| {op} | {w} | {w / p:.2f}x | {h} | {h / p:.2f}x | {p} ({tool}) |")
