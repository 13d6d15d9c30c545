#!/usr/bin/env python3
"""scripts/test's closing lines: for every failed test what shows why (for a VM suite, the
lines before each failed behaviour's FAIL; otherwise the end of what it printed), so that the
end of a long log says it; then passed, failed (and skipped) tests over the meson JSON logs of
every run it made (meson-logs/NAME.json, one JSON object a test).

Usage: test-summary.py LOG.json..."""
import json, re, sys

BEFORE = 25  # lines shown before a failed behaviour's FAIL line
TAIL = 30  # lines shown of another failed test


def excerpt(r):
    lines = (r.get("stdout") or "").splitlines() + (r.get("stderr") or "").splitlines()
    # a two-guest run prefixes each guest's lines with its role: "[compute] FAIL ..."
    fails = [i for i, l in enumerate(lines) if re.match(r"(\[[\w-]+\] )?FAIL ", l)]
    if not fails:
        return lines[-TAIL:]
    shown, last = [], -1
    for i in fails:
        start = max(i - BEFORE, last + 1)
        if start > last + 1 and shown:
            shown.append("[...]")
        shown += lines[start:i + 1]
        last = i
    return shown


passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["result"] in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r["result"] == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"--- {r['name']}: {r['result']}")
                for l in excerpt(r):
                    print(f"    {l}")
print(f"lineswap: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
