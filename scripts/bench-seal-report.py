#!/usr/bin/env python3
"""The table of `scripts/bench seal` from the guest's JSON lines
(scripts/vm/jobs/bench-hints.sh with LINESWAP_BENCH_SEAL=1 and 0): per kvstore phase, summed
over repetitions, seconds and bytes per swap-out (PUT) and swap-in (GET), sealed and in clear,
and the ratios sealed to clear. A sealed page carries a 16-byte tag; the rest of the cost is
the CPU of AES-256-GCM."""
import json
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
rows = [r for r in rows if "program" in r]  # not the ublk-ctl hints snapshots
sums = defaultdict(lambda: defaultdict(float))
for r in rows:
    for phase in (r["phase"], "all"):
        s = sums[(phase, r["sealed"])]
        for f in ("put_pages", "put_bytes", "get_pages", "get_bytes", "seconds"):
            s[f] += r[f]


def per(b, p):
    return b / p if p else 0.0


def ratio(a, b):
    return f"{a / b:.3f}x" if b else "-"


print("| phase | pages | seconds | swap-outs | bytes per swap-out | swap-ins | "
      "bytes per swap-in |")
print("|---|---|---:|---:|---:|---:|---:|")
for phase in ("fill", "delete", "read", "all"):
    for sealed in (False, True):
        s = sums.get((phase, sealed))
        if not s:
            continue
        print(f"| {phase} | {'sealed' if sealed else 'clear'} | {s['seconds']:.1f} | "
              f"{s['put_pages']:.0f} | {per(s['put_bytes'], s['put_pages']):.0f} | "
              f"{s['get_pages']:.0f} | {per(s['get_bytes'], s['get_pages']):.0f} |")
print()
print("| phase | seconds, sealed / clear | bytes per swap-out | bytes per swap-in |")
print("|---|---:|---:|---:|")
for phase in ("fill", "delete", "read", "all"):
    c, s = sums.get((phase, False)), sums.get((phase, True))
    if not c or not s:
        continue
    print(f"| {phase} | {ratio(s['seconds'], c['seconds'])} | "
          f"{ratio(per(s['put_bytes'], s['put_pages']), per(c['put_bytes'], c['put_pages']))} | "
          f"{ratio(per(s['get_bytes'], s['get_pages']), per(c['get_bytes'], c['get_pages']))} |")
