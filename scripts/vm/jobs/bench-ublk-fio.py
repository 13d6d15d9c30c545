#!/usr/bin/env python3
"""One line of `scripts/bench ublk`'s results.json from a fio JSON report (run in the guest by
bench-ublk.sh): device, workload, queue depth, IOPS and p99 completion latency.

Usage: bench-ublk-fio.py DEVICE-NAME randread|randwrite IODEPTH FIO.json"""
import json, sys
name, rw, qd, path = sys.argv[1:]
job = json.load(open(path))["jobs"][0]
side = job["read" if rw == "randread" else "write"]
p99 = side["clat_ns"]["percentile"]["99.000000"]
print(json.dumps({"device": name, "rw": rw, "iodepth": int(qd),
                  "iops": round(side["iops"]), "p99_us": round(p99 / 1000, 1)}))
