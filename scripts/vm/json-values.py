#!/usr/bin/env python3
"""Values of the JSON object on stdin (ublk-ctl's --json output) at dotted paths, printed on
one line, separated by spaces: `ublk-ctl stats -n 0 --json | json-values.py moved.put.pages`.

Usage: json-values.py PATH..."""
import json, sys
j = json.load(sys.stdin)
values = []
for path in sys.argv[1:]:
    v = j
    for key in path.split("."):
        v = v[key]
    values.append(v)
print(*values)
