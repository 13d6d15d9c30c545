#!/usr/bin/env bash
# Host test: real programs run under LD_PRELOAD=libmimalloc-hint.so and give exactly the output
# they give with glibc's malloc: Python (with PYTHONMALLOC=malloc, so every object goes through
# the allocator), sort on a large file, gcc compiling and the compiled program running, and a
# two-thread xz round trip (cross-thread frees).
# Usage: preload.sh LIBMIMALLOC-HINT.SO
set -uo pipefail
lib=$(realpath "$1")
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# same NAME CMD...: CMD's stdout and status under the preload equal those without it.
same() {
	local name=$1 want got
	shift
	want=$("$@" 2>"$work/err.plain" | sha256sum)
	got=$(LD_PRELOAD=$lib "$@" 2>"$work/err.hint" | sha256sum)
	if [ "$want" = "$got" ] && [ ! -s "$work/err.hint" ]; then
		passed=$((passed + 1))
		echo "PASS $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name: output ${got%% *} under the preload, ${want%% *} without;" \
			"stderr: $(head -c 400 "$work/err.hint")"
	fi
}

expect "the preload is the hint allocator" 0 "option 'bitmap_max_size': 131072" \
	env LD_PRELOAD="$lib" MIMALLOC_VERBOSE=1 true

cat >"$work/churn.py" <<'PY'
import hashlib, json, random
random.seed(7)
live = {}
for i in range(300000):
    k = random.randrange(50000)
    if random.random() < 0.3:
        live.pop(k, None)
    else:
        live[k] = ("v%d" % i) * random.randrange(1, 40), [i] * random.randrange(0, 8)
print(len(live), hashlib.sha256(json.dumps(sorted(live.items())).encode()).hexdigest())
PY
same "python (every object through malloc)" env PYTHONMALLOC=malloc python3 "$work/churn.py"
same "python (pymalloc arenas)" python3 "$work/churn.py"

awk 'BEGIN { srand(11); for (i = 0; i < 400000; i++) printf "%08x %d %s\n", int(rand() * 2^31), i, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26) }' >"$work/lines"
same "sort on a 400k-line file" env LC_ALL=C sort -k1,1 -k2n "$work/lines"

cat >"$work/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *next; char name[40]; };
int main(void)
{
	struct node *head = NULL;
	unsigned long sum = 0;
	for (int i = 0; i < 100000; i++) {
		struct node *n = malloc(sizeof(*n));
		snprintf(n->name, sizeof(n->name), "node-%d", i);
		n->next = head;
		head = n;
	}
	while (head) {
		struct node *n = head;
		sum = sum * 31 + strlen(n->name);
		head = n->next;
		free(n);
	}
	printf("%lu\n", sum);
	return 0;
}
C
compile() { gcc -O2 -o "$work/prog.$1" "$work/prog.c" && sha256sum <"$work/prog.$1" | cut -c1-16; }
expect "gcc compiles the same binary under the preload" 0 "^$(compile plain)\$" \
	env LD_PRELOAD="$lib" bash -c "$(declare -f compile); work=$work; compile hint"
same "the program gcc built runs the same under the preload" "$work/prog.hint"

head -c 30000000 "$work/lines" >"$work/big"
same "xz -T2 round trip" sh -c "xz -T2 -6 -c '$work/big' | xz -d -T2 -c"

summary preload
