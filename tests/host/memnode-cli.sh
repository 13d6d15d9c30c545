#!/usr/bin/env bash
# Host test: memnode's command-line contract — help, bad arguments (exit 2), no secret, a
# listen address it cannot use, a clean shutdown on SIGTERM (exit 0), and --lock's memory
# locked from the start.
set -uo pipefail
node=$1
. "$(dirname "$0")/lib.sh"

expect help 0 "^Usage: memnode --size" "$node" --help
expect no_size 2 "no --size given" env LINESWAP_SECRET=x "$node"
expect bad_size 2 "bad --size '12x'" env LINESWAP_SECRET=x "$node" --size 12x
expect unaligned_size 2 "bad --size '4097'" env LINESWAP_SECRET=x "$node" --size 4097
expect no_secret 2 "no secret" env -u LINESWAP_SECRET "$node" --size 1M
expect long_secret 2 "1-64 bytes" env LINESWAP_SECRET="$(printf 'x%.0s' {1..65})" "$node" --size 1M
expect bad_listen 2 "cannot listen on 'udp://x:1'" env LINESWAP_SECRET=x "$node" --size 1M --listen udp://x:1
expect bad_clients 2 "bad --max-clients '0'" env LINESWAP_SECRET=x "$node" --size 1M --max-clients 0
expect extra 2 "unexpected argument 'x'" env LINESWAP_SECRET=x "$node" --size 1M x

# Starts, reports where it listens as JSON, and exits 0 on SIGTERM.
out=$(mktemp)
LINESWAP_SECRET=x "$node" --size 1M --listen tcp://127.0.0.1:0 --json >"$out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ "$rc" = 0 ] && grep -q '"listening": "tcp://127.0.0.1:[1-9]' "$out"; then
	passed=$((passed + 1))
	echo "PASS sigterm_clean"
else
	failed=$((failed + 1))
	echo "FAIL sigterm_clean: status $rc, output: $(cat "$out")"
fi

# --lock: all of --size is resident and locked from the start (VmLck covers it), not only what
# clients have written.
LINESWAP_SECRET=x "$node" --size 8M --lock --listen tcp://127.0.0.1:0 --json >"$out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
locked=$(awk '$1 == "VmLck:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ "$rc" = 0 ] && [ "${locked:-0}" -ge 8192 ]; then
	passed=$((passed + 1))
	echo "PASS lock_all_memory ($locked kB locked)"
else
	failed=$((failed + 1))
	echo "FAIL lock_all_memory: status $rc, VmLck ${locked:-none} kB (want >= 8192), output: $(cat "$out")"
fi
rm -f "$out"

summary "memnode cli"
