#!/usr/bin/env python3
"""The table of `scripts/bench ublk` from the guest's results.json (scripts/vm/jobs/bench-ublk.sh):
each fio run's IOPS and p99 completion latency, and their ratios to the loop device's.

Usage: bench-ublk-report.py RESULTS.json"""
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = {(r["rw"], r["iodepth"]): r for r in rows if r["device"] == "loop"}
print("| workload | device | IOPS | p99 (us) | IOPS vs loop | p99 vs loop |")
print("|---|---|---:|---:|---:|---:|")
for r in rows:
    b = base[(r["rw"], r["iodepth"])]
    print(f'| {r["rw"]} qd{r["iodepth"]} | {r["device"]} | {r["iops"]} | {r["p99_us"]} | '
          f'{r["iops"] / b["iops"]:.2f}x | {r["p99_us"] / b["p99_us"]:.2f}x |')
