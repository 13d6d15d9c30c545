#!/usr/bin/env python3
"""scripts/test's closing line: passed, failed (and skipped) tests over the meson JSON logs of
every run it made (meson-logs/NAME.json, one JSON object a test).

Usage: test-summary.py LOG.json..."""
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            r = json.loads(line)["result"]
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"lineswap: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
