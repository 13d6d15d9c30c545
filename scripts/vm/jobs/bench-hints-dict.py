#!/usr/bin/env python3
"""The python3 program of `scripts/bench hints` (run by bench-hints.sh under each allocator):
a dict of KEYS 128-byte values, 73 % of them deleted in random order, then READS random reads
of the rest, each checked.

After each phase it prints one JSON line ({"phase", "seconds", ...}; the read phase also
"damaged": values that came back wrong) and waits for a line on stdin before the next, so that
the caller can measure each phase on its own, and read this process's hints while it lives.

Usage: bench-hints-dict.py KEYS READS"""
import json
import random
import sys
import time


def phase(name, t, **more):
    print(json.dumps({"phase": name, "seconds": round(time.monotonic() - t, 2), **more}),
          flush=True)
    if not sys.stdin.readline():
        sys.exit("bench-hints-dict: no go on stdin")


random.seed(1)
n, reads = int(sys.argv[1]), int(sys.argv[2])
t = time.monotonic()
d = {k: bytes([k % 251]) * 128 for k in range(n)}
phase("fill", t, keys=n)
t = time.monotonic()
keys = list(d)
random.shuffle(keys)
for k in keys[: n * 73 // 100]:
    del d[k]
left = keys[n * 73 // 100 :]
phase("delete", t, left=len(left))
t = time.monotonic()
damaged = 0
for i in range(reads):
    k = random.choice(left)
    damaged += d[k] != bytes([k % 251]) * 128
phase("read", t, reads=reads, damaged=damaged)
