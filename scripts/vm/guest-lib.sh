# scripts/vm/guest-lib.sh — helpers for scripts that run inside the test VM (source it).
#
#   vm_load MODULE...          modprobe each module, failing with a clear message
#   vm_rxe_veth                veth0/veth1 with rxe0 on veth0 (10.77.1.1); prints the address
#   vm_eth0                    eth0 up with $LINESWAP_SELF_ADDR (a peer, or the compute guest
#                              of a run with one peer)
#   vm_rxe_eth0                the same, and rxe0 on eth0
#   vm_links_up                the compute guest of a run with peers: eth<k> with the k-th of
#                              $LINESWAP_SELF_ADDRS, rxe<k> on it, each peer answering pings
#                              (again: only what is missing)
#   vm_power_off ROLE          the compute guest asks the host to cut peer ROLE's power (its
#                              QEMU killed at once); fails unless done within 30 s
#   vm_memcg NAME LIMIT [high] a memory cgroup with memory.max (or .high) = LIMIT; its folder
#   vm_in_cgroup DIR CMD...    run CMD inside cgroup DIR
#   vm_vmstat NAME             a counter from /proc/vmstat
#   vm_moved CTL ID            device ID's pages and bytes moved (PUT, GET) by ublk-ctl CTL
#   vm_hinted CTL ID           device ID's pages moved by hints (PUT, GET)
#   vm_swap_check DEV LIMIT MIB PASSES MIN-OUT MIN-IN
#                              swap on DEV; memhog (MIB MiB, PASSES verified passes) in a
#                              memory cgroup of LIMIT; no OOM kill, at least MIN-OUT pages
#                              swapped out and MIN-IN in; swapoff
#   vm_behaviours FUNCTION...  run each behaviour (a function, named by it) that
#                              LINESWAP_VM_ONLY picks, as vm_test; print "skipped (filter)"
#                              for the others (scripts/lib/behaviours.sh has the rules)
#   vm_test NAME FUNCTION      run FUNCTION as one test (errexit on), print PASS/FAIL and time
#   vm_summary                 print "N passed, N failed"; return non-zero if any failed, or
#                              if nothing ran (a filter that picked nothing fails loudly)
#   vm_fail MESSAGE            fail the current test with MESSAGE
#   vm_wait_for SECONDS CMD... retry CMD every 0.2 s until it succeeds or SECONDS pass

vm_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$vm_lib/../lib/behaviours.sh"

vm_fail() {
	echo "FAILED: $*" >&2
	return 1
}

vm_load() {
	local m
	for m in "$@"; do
		modprobe "$m" || vm_fail "modprobe $m failed" || return 1
	done
}

vm_wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 5; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.2
	done
	"$@"
}

# rdma_rxe pulls in ib_uverbs up to 6.12 but not on the newer line (udev loads it on a normal
# system, and this guest has no udev): load the user-space verbs and rdma_cm modules too.
vm_rxe_veth() {
	vm_load veth rdma_rxe ib_uverbs rdma_ucm || return 1
	ip link add veth0 type veth peer name veth1 || return 1
	ip addr add 10.77.1.1/24 dev veth0 || return 1
	ip link set veth0 up && ip link set veth1 up || return 1
	rdma link add rxe0 type rxe netdev veth0 || vm_fail "rdma link add rxe0 on veth0 failed" || return 1
	vm_wait_for 10 test -e /dev/infiniband/uverbs0 || vm_fail "no /dev/infiniband/uverbs0" || return 1
	echo 10.77.1.1
}

vm_eth0() {
	[ -n "${LINESWAP_SELF_ADDR:-}" ] || vm_fail "vm_eth0 needs a two-guest run (--peer)" || return 1
	vm_load virtio_net || return 1
	vm_wait_for 10 ip link show eth0 >/dev/null || vm_fail "no eth0" || return 1
	ip addr add "$LINESWAP_SELF_ADDR/24" dev eth0 || return 1
	ip link set eth0 up
}

vm_rxe_eth0() {
	vm_eth0 || return 1
	vm_load rdma_rxe ib_uverbs rdma_ucm || return 1
	rdma link add rxe0 type rxe netdev eth0 || vm_fail "rdma link add rxe0 on eth0 failed" || return 1
	vm_wait_for 10 test -e /dev/infiniband/uverbs0 || vm_fail "no /dev/infiniband/uverbs0" || return 1
}

vm_links_up() {
	local selves nodes k mac n
	read -ra selves <<<"${LINESWAP_SELF_ADDRS:-}"
	read -ra nodes <<<"${LINESWAP_NODE_ADDRS:-}"
	n=${#selves[@]}
	[ "$n" -gt 0 ] && [ "$n" = "${#nodes[@]}" ] ||
		vm_fail "vm_links_up needs the compute guest of a run with --peer" || return 1
	vm_load virtio_net rdma_rxe ib_uverbs rdma_ucm || return 1
	for ((k = 0; k < n; k++)); do
		vm_wait_for 10 ip link show "eth$k" >/dev/null || vm_fail "no eth$k" || return 1
		# The NICs' order is the links' (scripts/vm/run): a MAC out of place says otherwise.
		mac=$(printf '52:54:00:77:%02x:02' "$k")
		[ "$(cat "/sys/class/net/eth$k/address")" = "$mac" ] ||
			vm_fail "eth$k has MAC $(cat "/sys/class/net/eth$k/address"), not link $k's $mac" || return 1
		if ! ip -4 addr show dev "eth$k" | grep -q "inet ${selves[k]}/"; then
			ip addr add "${selves[k]}/24" dev "eth$k" || return 1
		fi
		ip link set "eth$k" up || return 1
		if ! [ -e "/sys/class/infiniband/rxe$k" ]; then
			rdma link add "rxe$k" type rxe netdev "eth$k" ||
				vm_fail "rdma link add rxe$k on eth$k failed" || return 1
		fi
	done
	vm_wait_for 10 test -e "/dev/infiniband/uverbs$((n - 1))" ||
		vm_fail "no /dev/infiniband/uverbs$((n - 1))" || return 1
	for ((k = 0; k < n; k++)); do
		vm_wait_for 30 ping -c 1 -W 1 "${nodes[k]}" >/dev/null ||
			vm_fail "peer ${nodes[k]} unreachable over eth$k" || return 1
	done
}

vm_power_off() {
	local role=$1 req="$LINESWAP_SHARE/poweroff-$1" i
	[ "${LINESWAP_ROLE:-}" = compute ] && [ -n "${LINESWAP_NODE_ADDRS:-}" ] ||
		vm_fail "vm_power_off: only the compute guest of a run with --peer asks" || return 1
	rm -f "$req.done" "$req.error"
	: >"$req"
	# The host looks every 0.2 s while this guest runs.
	for ((i = 0; i < 150; i++)); do
		[ -e "$req.done" ] && return 0
		[ -e "$req.error" ] && { vm_fail "power-off of $role refused: $(cat "$req.error")"; return 1; }
		sleep 0.2
	done
	vm_fail "no answer to the power-off request for $role within 30 s"
}

vm_memcg() { # NAME LIMIT [max|high]: memory.max (the default) or memory.high set to LIMIT
	local name=$1 limit=$2 knob=memory.${3:-max} dir=/sys/fs/cgroup/$1
	grep -qw memory /sys/fs/cgroup/cgroup.subtree_control ||
		echo +memory >/sys/fs/cgroup/cgroup.subtree_control || return 1
	mkdir -p "$dir" || return 1
	echo "$limit" >"$dir/$knob" || vm_fail "cannot set $knob=$limit on $dir" || return 1
	echo "$dir"
}

vm_in_cgroup() {
	local dir=$1
	shift
	(echo "$BASHPID" >"$dir/cgroup.procs" && exec "$@")
}

vm_vmstat() {
	awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat
}

# vm_hinted CTL ID: device ID's pages moved by hints (with less than every line), "PUT GET"
vm_hinted() {
	"$1" stats -n "$2" --json | python3 "$vm_lib/json-values.py" \
		moved.put.hinted_pages moved.get.hinted_pages
}

# vm_moved CTL ID: device ID's moved counters, "PUT_PAGES PUT_BYTES GET_PAGES GET_BYTES"
vm_moved() {
	"$1" stats -n "$2" --json | python3 "$vm_lib/json-values.py" \
		moved.put.pages moved.put.bytes moved.get.pages moved.get.bytes
}

vm_swap_check() {
	local dev=$1 limit=$2 mib=$3 passes=$4 min_out=$5 min_in=$6 cg out0 in0 out in oom rc=0
	mkswap "$dev" >/dev/null && swapon --discard "$dev" || vm_fail "cannot swap on $dev" || return 1
	cg=$(vm_memcg "swapcheck$BASHPID" "$limit") || return 1
	out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin)
	vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/memhog" --mib "$mib" --passes "$passes" || rc=$?
	out=$(($(vm_vmstat pswpout) - out0)) in=$(($(vm_vmstat pswpin) - in0))
	oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")
	echo "swap on $dev: pswpout +$out, pswpin +$in, oom_kill $oom"
	swapoff "$dev"
	rmdir "$cg"
	[ "$rc" = 0 ] || vm_fail "memhog failed (status $rc)" || return 1
	[ "$oom" = 0 ] || vm_fail "OOM kill" || return 1
	((out >= min_out)) || vm_fail "too little swap-out: $out pages" || return 1
	((in >= min_in)) || vm_fail "too little swap-in: $in pages" || return 1
}

vm_passed=0
vm_failed=0
vm_skipped=0
vm_names=()
vm_test() {
	local name=$1 fn=$2 start rc=0
	start=$(date +%s.%N)
	echo "== behaviour $name"
	# In the background so errexit holds inside (bash ignores set -e in a subshell that is
	# itself the left side of || or &&).
	(set -eo pipefail && "$fn") &
	wait $! || rc=$?
	local t
	t=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	if [ "$rc" = 0 ]; then
		vm_passed=$((vm_passed + 1))
		echo "PASS $name (${t}s)"
	else
		vm_failed=$((vm_failed + 1))
		echo "FAIL $name (${t}s, status $rc)"
	fi
}

vm_behaviours() {
	local fn
	for fn in "$@"; do
		vm_names+=("$fn")
		if ! declare -F "$fn" >/dev/null; then
			echo "== behaviour $fn"
			vm_failed=$((vm_failed + 1))
			echo "FAIL $fn (no such function)"
		elif vm_only_match "$fn"; then
			vm_test "$fn" "$fn"
		else
			echo "== behaviour $fn"
			echo "skipped (filter)"
			vm_skipped=$((vm_skipped + 1))
		fi
	done
}

vm_summary() {
	local skipped=""
	[ "$vm_skipped" = 0 ] || skipped=", $vm_skipped skipped (filter)"
	echo "vm: $vm_passed passed, $vm_failed failed$skipped"
	if [ $((vm_passed + vm_failed)) = 0 ] && [ "$vm_skipped" -gt 0 ]; then
		echo "FAILED: LINESWAP_VM_ONLY='${LINESWAP_VM_ONLY:-}' picks none of this script's" \
			"behaviours: ${vm_names[*]}"
	fi
	[ "$vm_failed" = 0 ] && [ "$vm_passed" -gt 0 ]
}
