#!/usr/bin/env python3
"""scripts/bench-alloc.py — the hint allocator against stock mimalloc and glibc malloc, on the
host: mimalloc's test-stress at several thread counts, a larson-like server workload, and
single-thread malloc/free loops of 8 B..32 KiB. Each workload runs under each allocator (chosen
with LD_PRELOAD), interleaved, --reps times; the table gives the best wall time (the least
disturbed run: this is a shared machine) and the median peak RSS, and their ratios to stock
mimalloc. Then the cost of mi_hint_page_mask per page.

Usage: bench-alloc.py BUILD-DIR [--reps N]"""
import os, statistics, subprocess, sys, time

def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    build, reps = args[0], 5
    if len(args) == 3 and args[1] == "--reps" and args[2].isdigit() and int(args[2]) > 0:
        reps = int(args[2])
    elif len(args) != 1:
        print("bench-alloc.py: bad arguments (see --help)", file=sys.stderr)
        return 2
    tests = os.path.join(build, "tests")
    alloc = os.path.join(build, "allocator")
    allocators = [("glibc", None), ("stock", os.path.join(alloc, "libmimalloc-stock.so")),
                  ("hint", os.path.join(alloc, "libmimalloc-hint.so"))]
    stress = {1: ["100", "50"], 2: ["100", "50"], 4: ["25", "10"], 8: ["25", "10"]}
    workloads = [(f"test-stress {t} threads", [os.path.join(tests, "bench_stress"), str(t)] + a)
                 for t, a in stress.items()]
    workloads.append(("larson 2 threads, 16..1024 B",
                      [os.path.join(tests, "bench_larson"), "2", "20", "1000000", "4000", "16", "1024"]))
    # every kind of bitmap page: in the page (8..24 B), in the header (32 B..8 KiB), medium
    workloads += [(f"loop {s} B", [os.path.join(tests, "bench_alloc_loop"), str(s),
                                   "100000000" if s <= 1024 else "2000000"])
                  for s in (8, 16, 24, 32, 64, 128, 256, 512, 1024, 4096, 32768)]

    def run(cmd, lib):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if lib:
            env["LD_PRELOAD"] = lib
        # GNU time reports the peak RSS of the program alone (a direct child of this script
        # would start from the interpreter's RSS).
        t0 = time.monotonic()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", "/dev/stderr"] + cmd, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.monotonic() - t0
        if r.returncode != 0:
            sys.exit(f"bench-alloc.py: {' '.join(cmd)} under {lib or 'glibc'} failed: {r.stderr}")
        return elapsed, int(r.stderr.strip().splitlines()[-1])

    print(f"| workload | glibc s | stock s | hint s | hint/stock time | glibc/stock time "
          f"| stock peak RSS MiB | hint/stock RSS | glibc/stock RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst_time = worst_rss = 0.0
    for name, cmd in workloads:
        times = {a: [] for a, _ in allocators}
        rss = {a: [] for a, _ in allocators}
        for _ in range(reps):
            for a, lib in allocators:
                t, r = run(cmd, lib)
                times[a].append(t)
                rss[a].append(r)
        t = {a: min(v) for a, v in times.items()}
        r = {a: statistics.median(v) for a, v in rss.items()}
        worst_time = max(worst_time, t["hint"] / t["stock"])
        worst_rss = max(worst_rss, r["hint"] / r["stock"])
        print(f"| {name} | {t['glibc']:.3f} | {t['stock']:.3f} | {t['hint']:.3f} "
              f"| {t['hint'] / t['stock']:.2f}x | {t['glibc'] / t['stock']:.2f}x "
              f"| {r['stock'] / 1024:.1f} | {r['hint'] / r['stock']:.3f}x "
              f"| {r['glibc'] / r['stock']:.3f}x |", flush=True)
    print(f"\nworst hint/stock: time {worst_time:.2f}x, peak RSS {worst_rss:.3f}x "
          f"(best time, median RSS of {reps} interleaved runs each)")
    out = subprocess.run([os.path.join(tests, "bench_line_mask")], check=True,
                         capture_output=True, text=True).stdout.strip()
    print(out)
    return 0

if __name__ == "__main__":
    sys.exit(main())
