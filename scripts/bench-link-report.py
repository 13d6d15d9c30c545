#!/usr/bin/env python3
"""The tables of `scripts/bench link` from the compute guest's JSON lines
(scripts/vm/jobs/bench-link.sh): the key-value store swapping over TCP to a memory node in
another guest, under stock mimalloc (whole pages) and the hint allocator, with the link as it
is and limited by tc. Per run and phase: seconds, bytes moved per swap-in and swap-out, and how
busy the link was (the busier direction's bytes over the phase's time, against the rate); the
read phase's ratios hint to stock; swap-in latency over the run."""
import json
import re
import sys

runs, store = {}, {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        if r.get("program") == "store":
            store[(r["link"], r["mask"])] = r
        else:
            runs.setdefault((r["link"], r["alloc"]), {})[r["phase"]] = r


def rate_bytes(link):
    """Bytes a second of a tc rate ("8mbit"), None for "unlimited"."""
    m = re.fullmatch(r"([0-9.]+)([kmg]?)bit", link)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)] / 8


def busy(p, link):
    secs = p["seconds"]
    mbs = max(p["link_tx_bytes"], p["link_rx_bytes"]) / secs / 1e6 if secs else 0
    rate = rate_bytes(link)
    return f"{mbs:.2f}" + (f" ({100 * mbs * 1e6 / rate:.0f} %)" if rate else "")


links = sorted({k[0] for k in list(runs) + list(store)},
               key=lambda l: (rate_bytes(l) is not None, l))
if runs:
    print("| link | allocator | phase | s | pages out | bytes per page out | pages in | bytes per "
          "page in | link MB/s, busier way (of the rate) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for link in links:
        for alloc in ("stock", "hint"):
            for phase in ("fill", "delete", "read"):
                p = runs.get((link, alloc), {}).get(phase)
                if not p:
                    continue
                out, inn = p["put_pages"], p["get_pages"]
                print(f"| {link} | {alloc} | {phase} | {p['seconds']:.1f} | {out} | "
                      f"{p['put_bytes'] / out if out else 0:.0f} | {inn} | "
                      f"{p['get_bytes'] / inn if inn else 0:.0f} | {busy(p, link)} |")
    print()
    print("| link | read phase s, stock / hint | hint / stock | whole run s, stock / hint | "
          "hint / stock | swap-in p50 ms, stock / hint | swap-in p99 ms, stock / hint | "
          "limit: live fraction of a read's page (hint) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for link in links:
        s, h = runs.get((link, "stock"), {}), runs.get((link, "hint"), {})
        if "read" not in s or "read" not in h:
            continue
        total = [sum(x[p]["seconds"] for p in ("fill", "delete", "read")) for x in (s, h)]
        print(f"| {link} | {s['read']['seconds']:.1f} / {h['read']['seconds']:.1f} | "
              f"{h['read']['seconds'] / s['read']['seconds']:.2f}x | "
              f"{total[0]:.1f} / {total[1]:.1f} | {total[1] / total[0]:.2f}x | "
              f"{s['read']['swapin_p50_ns'] / 1e6:.2f} / {h['read']['swapin_p50_ns'] / 1e6:.2f} | "
              f"{s['read']['swapin_p99_ns'] / 1e6:.2f} / {h['read']['swapin_p99_ns'] / 1e6:.2f} | "
              f"{h['read'].get('read_live_fraction', 0):.3f} |")

if store:
    print()
    print("The page store alone (depth 32, sealed): pages a second, and half-live pages against "
          "whole ones:\n")
    print("| link | PUT whole | PUT half | half / whole | GET whole | GET half | half / whole |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for link in links:
        w, h = store.get((link, "whole")), store.get((link, "half"))
        if not w or not h:
            continue
        print(f"| {link} | {w['put_pages_per_s']} | {h['put_pages_per_s']} | "
              f"{h['put_pages_per_s'] / w['put_pages_per_s']:.2f}x | {w['get_pages_per_s']} | "
              f"{h['get_pages_per_s']} | {h['get_pages_per_s'] / w['get_pages_per_s']:.2f}x |")
