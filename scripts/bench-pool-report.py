#!/usr/bin/env python3
"""The tables of `scripts/bench pool` from the guests' JSON lines: scripts/vm/jobs/bench-pool.sh
(fio IOPS by copies and transport; read latency healthy, degraded, rebuilding; the rebuild) and
scripts/vm/jobs/bench-hints.sh run with one and with two copies (kvstore's bytes on the wire,
hinted and stock).

Bytes on the wire count every copy: a swap-out with two copies moves its bytes twice. The
swap-outs themselves are the PUT pages divided by the copies."""
import json
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]

kv = defaultdict(lambda: defaultdict(float))
for r in rows:
    if r.get("program") == "kvstore":
        s = kv[(r["replicas"], r["alloc"])]
        for f in ("put_pages", "put_bytes", "get_pages", "get_bytes"):
            s[f] += r[f]
if kv:
    base = kv.get((1, "stock"))
    base_out = base["put_bytes"] / (base["put_pages"] or 1) if base else 0
    print("| copies | allocator | swap-outs | bytes on the wire per swap-out | vs stock, 1 copy | "
          "swap-ins | bytes per swap-in |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for (rep, alloc), s in sorted(kv.items()):
        outs = s["put_pages"] / rep
        per_out = s["put_bytes"] / outs if outs else 0
        ratio = f"{per_out / base_out:.3f}x" if base_out else "-"
        per_in = s["get_bytes"] / s["get_pages"] if s["get_pages"] else 0
        print(f"| {rep} | {alloc} | {outs:.0f} | {per_out:.0f} | {ratio} | "
              f"{s['get_pages']:.0f} | {per_in:.0f} |")
    print()
    # All bytes on the wire, both ways: as moved, and at stock-one-copy's swap counts (runs
    # this small swap up to 40 % more or fewer pages from one to the next).
    if base:
        base_bytes = base["put_bytes"] + base["get_bytes"]
        print("| copies | allocator | MB on the wire (out + in) | vs stock, 1 copy | "
              "at stock 1 copy's swap counts |")
        print("|---:|---|---:|---:|---:|")
        for (rep, alloc), s in sorted(kv.items()):
            moved = s["put_bytes"] + s["get_bytes"]
            outs = s["put_pages"] / rep
            norm = (s["put_bytes"] / outs * base["put_pages"] +
                    s["get_bytes"] / s["get_pages"] * base["get_pages"])
            print(f"| {rep} | {alloc} | {moved / 1e6:.0f} | {moved / base_bytes:.3f}x | "
                  f"{norm / base_bytes:.3f}x |")
        print()

# (transport, copies, rw) -> IOPS of each round, and errors over all rounds
runs = defaultdict(list)
errors = defaultdict(int)
for r in rows:
    if r.get("part") == "iops":
        runs[(r["transport"], r["replicas"], r["rw"])].append(r["iops"])
        errors[(r["transport"], r["replicas"])] += r["errors"]
if runs:
    # Under TCG a round is sometimes several times slower than the next, for every
    # configuration alike (a stall of the emulator, not of the device): the best round is the
    # device's figure, and the ratios are of best rounds; every round is shown.
    best = {k: max(v) for k, v in runs.items()}
    print("| transport | copies | randread IOPS, best (rounds) | vs 1 copy | "
          "randwrite IOPS, best (rounds) | vs 1 copy | errors |")
    print("|---|---:|---|---:|---|---:|---:|")
    for t in ("tcp", "rdma"):
        for rep in (1, 2, 3):
            rd, wr = (t, rep, "randread"), (t, rep, "randwrite")
            if rd not in best or wr not in best:
                continue
            rd1, wr1 = best[(t, 1, "randread")], best[(t, 1, "randwrite")]
            print(f"| {t} | {rep} | {best[rd]} ({', '.join(map(str, runs[rd]))}) | "
                  f"{best[rd] / rd1:.2f}x | {best[wr]} ({', '.join(map(str, runs[wr]))}) | "
                  f"{best[wr] / wr1:.2f}x | {errors[(t, rep)]} |")
    print()

lat = [r for r in rows if r.get("part") == "latency"]
if lat:
    print("| two copies over RDMA | 4 KiB read p50 (us) | p99 (us) | IOPS at depth 1 | errors |")
    print("|---|---:|---:|---:|---:|")
    for r in lat:
        print(f"| {r['state']} | {r['p50_us']} | {r['p99_us']} | {r['iops']} | {r['errors']} |")
    print()

for r in rows:
    if r.get("part") == "rebuild":
        print(f"Rebuild after a node's death ({r['device_mib']} MiB device, two copies, RDMA): "
              f"{r['copies']} copies of slabs refilled, {r['copied_mb']} MB copied in "
              f"{r['seconds']} s from the node's restart to full redundancy: "
              f"{r['mb_per_s']} MB/s.")
