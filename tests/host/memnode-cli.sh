#!/usr/bin/env bash
# Host test: memnode's command-line contract — help, bad arguments (exit 2), no secret, a
# listen address it cannot use, a clean shutdown on SIGTERM (exit 0), --lock's memory locked
# from the start, and the control commands (regions, free-region) against a running node.
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
expect bad_pending 2 "bad --max-pending '0'" env LINESWAP_SECRET=x "$node" --size 1M --max-pending 0
expect bad_per_addr 2 "bad --max-pending-per-addr '2000'" env LINESWAP_SECRET=x "$node" --size 1M --max-pending-per-addr 2000
expect bad_handshake 2 "bad --handshake-timeout '5'" env LINESWAP_SECRET=x "$node" --size 1M --handshake-timeout 5
expect bad_lease 2 "bad --lease 'soon'" env LINESWAP_SECRET=x "$node" --size 1M --lease soon
expect bad_quota 2 "bad --tenant-quota '0'" env LINESWAP_SECRET=x "$node" --size 1M --tenant-quota 0
expect bad_tenant_regions 2 "bad --tenant-regions '0'" env LINESWAP_SECRET=x "$node" --size 1M --tenant-regions 0
expect bad_tenant_clients 2 "bad --tenant-clients '0'" env LINESWAP_SECRET=x "$node" --size 1M --tenant-clients 0
secrets=$(mktemp)
printf 'one\ntwo\none\n' >"$secrets"
expect same_secret_twice 2 "lines 1 and 3 hold the same secret" "$node" --size 1M --secret-file "$secrets"
: >"$secrets"
expect empty_secret_file 2 "holds no secret" "$node" --size 1M --secret-file "$secrets"
rm -f "$secrets"
expect regions_no_control 2 "no --control PATH" "$node" regions
expect regions_unreachable 1 "cannot reach the node's control socket" "$node" regions --control /nonexistent/sock
expect free_no_serial 2 "give one region SERIAL" "$node" free-region --control /tmp/x
expect free_bad_serial 2 "give one region SERIAL" "$node" free-region --control /tmp/x 0

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

# --lock: all of --size is resident and locked from the start, not only what clients have
# written. VmLck counts locked mappings whether faulted in or not, so VmRSS must cover it too.
# And the OOM killer never picks the node: oom_score_adj -1000, or, without CAP_SYS_RESOURCE
# (a host without it; the VM's pressure test asserts -1000), the refusal said.
: >"$out" # emptied first: the node's own redirection may come after the loop's first look
LINESWAP_SECRET=x "$node" --size 64M --lock --listen tcp://127.0.0.1:0 --json >"$out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
locked=$(awk '$1 == "VmLck:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
resident=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
oom=$(cat "/proc/$pid/oom_score_adj" 2>/dev/null)
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ "$rc" = 0 ] && [ "${locked:-0}" -ge 65536 ] && [ "${resident:-0}" -ge 65536 ] &&
	{ [ "$oom" = -1000 ] || grep -q "memnode: cannot set oom_score_adj" "$out"; }; then
	passed=$((passed + 1))
	echo "PASS lock_all_memory ($locked kB locked, $resident kB resident, oom_score_adj $oom)"
else
	failed=$((failed + 1))
	echo "FAIL lock_all_memory: status $rc, VmLck ${locked:-none} kB, VmRSS ${resident:-none} kB (want both >= 65536), oom_score_adj ${oom:-none} (want -1000 or the refusal said), output: $(cat "$out")"
fi

# The control socket: mode 0600; no regions yet; freeing one that does not exist is an error.
sock=$(mktemp -u /tmp/memnode-cli.XXXXXX.sock)
: >"$out" # emptied first: the node's own redirection may come after the loop's first look
LINESWAP_SECRET=x "$node" --size 1M --listen tcp://127.0.0.1:0 --control "$sock" --json >"$out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
expect control_mode 0 "^600$" stat -c %a "$sock"
expect regions_none 0 "^no regions$" "$node" regions --control "$sock"
expect regions_json_none 0 "^$" "$node" regions --control "$sock" --json
expect free_missing 1 "no region 7" "$node" free-region --control "$sock" 7
expect control_taken 1 "another memnode answers there" env LINESWAP_SECRET=x "$node" --size 1M --listen tcp://127.0.0.1:0 --control "$sock"
kill -TERM "$pid"
wait "$pid"
expect control_removed 1 "" test -e "$sock"
rm -f "$out"

summary "memnode cli"
