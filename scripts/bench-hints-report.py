#!/usr/bin/env python3
"""The tables of `scripts/bench hints` from the guest's JSON lines
(scripts/vm/jobs/bench-hints.sh).

Per program and allocator, summed over repetitions: pages and bytes moved to the node (PUT,
swap-out) and from it (GET, swap-in), bytes per page, the ratio to whole pages, and the hint
allocator's ratios to stock mimalloc (bytes, run time) and to the physical limit: the live
lines (+128 B) of the pages holding the data, as the program measured them after its reads, over
those pages and (for the reads' swap-ins) weighted by how often reads touch each page, or by the
swap-ins some reads caused (kvstore's probes: the pages they found not resident, its whole-page
arrays included)."""
import json
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
rows = [r for r in rows if "program" in r]  # not the ublk-ctl hints snapshots
sums = defaultdict(lambda: defaultdict(float))
limit, read_limit, heap_limit, miss_limit, outside = {}, {}, {}, {}, {}
# (program, repetition) -> allocator -> bytes, allocators in the order they ran
per_rep = defaultdict(dict)
rep_read = defaultdict(dict)  # (program, repetition) -> allocator -> the read phase's row
for r in rows:
    if r["phase"] == "read":
        rep_read[(r["program"], r.get("rep", 1))][r["alloc"]] = r
    by_alloc = per_rep[(r["program"], r.get("rep", 1))]
    by_alloc[r["alloc"]] = by_alloc.get(r["alloc"], 0) + r["put_bytes"] + r["get_bytes"]
    keys = {(r["program"], r["alloc"], r["phase"]), (r["program"], r["alloc"], "all")}
    for key in keys:
        s = sums[key]
        for f in ("put_pages", "put_bytes", "get_pages", "get_bytes", "seconds"):
            s[f] += r[f]
        if "get_hinted" in r:  # not in lines from before it was recorded
            s["get_hinted"] += r["get_hinted"]
            s["hinted_runs"] += 1
    if r.get("live_fraction", -1) > 0:
        limit[(r["program"], r["alloc"])] = r["live_fraction"]
    if r.get("read_live_fraction", -1) > 0:
        read_limit[(r["program"], r["alloc"])] = r["read_live_fraction"]
    if r.get("miss_live_fraction", -1) > 0 and r.get("misses"):
        miss_limit[(r["program"], r["alloc"])] = r
    if "limit" in r and r["limit"]["reduced_pages"]:
        # a program's own limit, from outside (ublk-ctl hints after its reads): the live
        # lines (+128 B) of the pages it reduced; and over its whole heap, where pages without
        # a free bitmap and heap pages with no mask move whole
        c = r["limit"]
        reduced = c["reduced_pages"]
        live = c["live_lines"] / (reduced * 64)
        heap_pages = max(c["heap_bytes"] // 4096, reduced)
        outside[(r["program"], r["alloc"])] = live + 128 / 4096
        heap_limit[(r["program"], r["alloc"])] = (
            (reduced * (live * 4096 + 128) + (heap_pages - reduced) * 4096) / (heap_pages * 4096),
            c["whole_bytes"] / (heap_pages * 4096))

# a program that measures its own limit (kvstore) is compared with that; the one from outside,
# over the same pages and more (all its reduced pages), is shown next to it
for key, lim in outside.items():
    limit.setdefault(key, lim)

def per_page(b, p):
    return b / p if p else 0.0

def vs(b, fraction):
    """Bytes per page b against a limit given as a fraction of a page."""
    return f"{b / (fraction * 4096):.2f}x" if fraction and b else "-"

print("| program | phase | allocator | swap-outs | bytes per swap-out | swap-ins | "
      "of which by a mask | bytes per swap-in | bytes vs whole pages | seconds |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for (prog, alloc, phase), s in sorted(sums.items()):
    pages = s["put_pages"] + s["get_pages"]
    moved = s["put_bytes"] + s["get_bytes"]
    hinted = f"{s['get_hinted']:.0f}" if s["hinted_runs"] else "-"
    print(f"| {prog} | {phase} | {alloc} | {s['put_pages']:.0f} | "
          f"{per_page(s['put_bytes'], s['put_pages']):.0f} | {s['get_pages']:.0f} | "
          f"{hinted} | {per_page(s['get_bytes'], s['get_pages']):.0f} | "
          f"{per_page(moved, pages * 4096):.3f}x | {s['seconds']:.1f} |")

def compare(alloc, base):
    """alloc's bytes and time against base's (per program and phase), and alloc's bytes per
    page against the physical limits."""
    print()
    print(f"| program | phase | {alloc} bytes / {base} bytes | {alloc} bytes per page / limit | "
          f"{alloc} bytes per swap-in / limit | "
          f"{alloc} bytes per swap-in / read-weighted limit | {alloc} bytes per swap-in / "
          f"limit of the pages swapped in | {alloc} swap-ins / {base} swap-ins | "
          f"{alloc} time / {base} time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (prog, a, phase), h in sorted(sums.items()):
        if a != alloc or (prog, base, phase) not in sums:
            continue
        st = sums[(prog, base, phase)]
        hb, sb = h["put_bytes"] + h["get_bytes"], st["put_bytes"] + st["get_bytes"]
        hp = h["put_pages"] + h["get_pages"]
        lim = limit.get((prog, alloc))
        vs_limit = vs(per_page(hb, hp), lim)
        # the reads' swap-ins against the limits: the program's, read-weighted, swapped-in
        in_bytes = per_page(h["get_bytes"], h["get_pages"]) if phase == "read" else 0
        vs_in = vs(in_bytes, lim)
        vs_read = vs(in_bytes, read_limit.get((prog, alloc)))
        vs_miss = vs(in_bytes, miss_limit.get((prog, alloc), {}).get("miss_live_fraction"))
        vs_base = f"{hb / sb:.3f}x" if sb else "-"
        ins = f"{h['get_pages'] / st['get_pages']:.2f}x" if st["get_pages"] else "-"
        print(f"| {prog} | {phase} | {vs_base} | {vs_limit} | {vs_in} | {vs_read} | {vs_miss} | "
              f"{ins} | "
              f"{per_page(h['seconds'], st['seconds']):.2f}x |")

# what reclaim saw in the program's cgroup (bench-hints.sh, cg_json), summed over repetitions
seen = defaultdict(lambda: defaultdict(int))
for r in rows:
    if "refault_anon" in r:
        for f in ("refault_anon", "major_faults", "reclaimed", "cg_anon", "cg_file"):
            seen[(r["program"], r["phase"], r["alloc"])][f] += r[f]
        seen[(r["program"], r["phase"], r["alloc"])]["runs"] += 1
if seen:
    print()
    print("| program | phase | allocator | anonymous refaults | major faults | pages reclaimed | "
          "anonymous MiB at the end | file MiB at the end |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for (prog, phase, alloc), v in sorted(seen.items()):
        n = v["runs"]
        print(f"| {prog} | {phase} | {alloc} | {v['refault_anon']} | {v['major_faults']} | "
              f"{v['reclaimed']} | {v['cg_anon'] / n / 2**20:.1f} | {v['cg_file'] / n / 2**20:.1f} |")

# "hint" is swap mode under the hint allocator, "arena" its mmap mode (LINESWAP_ARENA),
# "hint-off" the hint allocator never registering (every page whole)
for alloc, base in (("hint", "stock"), ("arena", "stock"), ("arena", "hint"),
                    ("hint-off", "stock"), ("hint", "hint-off")):
    if any(a == alloc for _, a, _ in sums) and any(a == base for _, a, _ in sums):
        compare(alloc, base)
reps = [(key, b) for key, b in sorted(per_rep.items()) if b.get("stock") and "hint" in b]
if reps:
    print()
    for (prog, rep), b in reps:
        print(f"{prog}, repetition {rep} (in this order: {', '.join(b)}): hint bytes / stock "
              f"bytes {b['hint'] / b['stock']:.3f}x ({b['hint'] / 1e6:.0f} MB vs "
              f"{b['stock'] / 1e6:.0f} MB)", end="")
        rd = rep_read.get((prog, rep), {})
        if "hint" in rd and "stock" in rd and rd["stock"]["get_pages"] and rd["stock"]["seconds"]:
            h, st = rd["hint"], rd["stock"]
            print(f"; reads: swap-ins {h['get_pages'] / st['get_pages']:.2f}x ({h['get_pages']} "
                  f"vs {st['get_pages']}), time {h['seconds'] / st['seconds']:.2f}x "
                  f"({h['seconds']:.1f} s vs {st['seconds']:.1f} s)", end="")
        print()
if limit:
    print()
    for (prog, alloc), lim in sorted(limit.items()):
        print(f"Physical limit for {prog} under {alloc}: the live lines (+128 B) of the pages "
              f"holding its data after the deletes are {lim:.3f} of those pages", end="")
        if (prog, alloc) in heap_limit:
            h, nb = heap_limit[(prog, alloc)]
            if outside[(prog, alloc)] != lim:
                print(f"; as ublk-ctl hints reports it after the reads (all the pages it "
                      f"reduced), {outside[(prog, alloc)]:.3f}", end="")
            else:
                print(" (as ublk-ctl hints reports it after the reads: the pages it reduced)",
                      end="")
            print(f"; over "
                  f"its whole heap, where {nb:.3f} of it is in pages without a free bitmap and "
                  f"other pages without a mask move whole too, {h:.3f}", end="")
        if (prog, alloc) in read_limit:
            print(f"; weighted by how often random reads touch each page, "
                  f"{read_limit[(prog, alloc)]:.3f}", end="")
        if (prog, alloc) in miss_limit:
            m = miss_limit[(prog, alloc)]
            print(f"; over the pages {m['probed_reads']} probed reads of {m['reads']} swapped "
                  f"in ({m['misses']}, {m['miss_array_share']:.1%} of them in its whole-page "
                  f"arrays; about {m['misses'] * m['reads'] / m['probed_reads']:.0f} for all "
                  f"reads), {m['miss_live_fraction']:.3f}", end="")
            if m.get("capped"):
                print(" (the record filled before the reads ended: the probed reads are the "
                      "first ones, not a sample of all)", end="")
        rd = sums.get((prog, alloc, "read"))
        if rd and rd["get_pages"]:
            b = rd["get_bytes"] / rd["get_pages"]
            limits = ((lim, "over its data's pages"),
                      (read_limit.get((prog, alloc)), "read-weighted"),
                      (miss_limit.get((prog, alloc), {}).get("miss_live_fraction"),
                       "over the pages swapped in"))
            ratios = [f"{vs(b, f)} {name}" for f, name in limits if f]
            print(f". Its reads moved {b:.0f} B a swap-in: {', '.join(ratios)}", end="")
        print(".")
