#!/usr/bin/env python3
"""The python3 program of `scripts/bench hints` (run by bench-hints.sh under each allocator):
a dict of KEYS 128-byte values, 73 % of them deleted in random order, then READS random reads
of the rest, each checked.

Usage: bench-hints-dict.py KEYS READS"""
import random, sys
random.seed(1)
n = int(sys.argv[1])
d = {k: bytes([k % 251]) * 128 for k in range(n)}
keys = list(d)
random.shuffle(keys)
for k in keys[: n * 73 // 100]:
    del d[k]
left = keys[n * 73 // 100 :]
for i in range(int(sys.argv[2])):
    k = random.choice(left)
    assert d[k] == bytes([k % 251]) * 128
