# Swap under whole-machine memory pressure: no memory cgroup, the guest simply runs out of
# memory, and reclaim must write to a remote device whose daemon needs memory to serve it. The
# memory node runs in the same guest with its memory locked (memnode --lock; over RDMA its
# regions are pinned anyway), so only the compute side can swap; a writer-verifier of 1.3x
# the memory left over must finish both passes with every page intact, over TCP and over RDMA.
# Each run has a hard limit: finishing, not only not crashing, is the test.
# Run by: scripts/vm/run --mem 1024 tests/vm/pressure.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
export LINESWAP_SECRET=vm-pressure-secret
vm_load ublk_drv || exit 1
addr=$(vm_rxe_veth) || exit 1
LIMIT=${LINESWAP_PRESSURE_LIMIT:-420} # seconds a run may take
# Reclaim settings to try (sysctl NAME=VALUE ...), e.g. a larger reserve for the network stack.
for setting in ${LINESWAP_PRESSURE_SYSCTL:-}; do
	sysctl -q -w "$setting" || exit 1
done
echo "vm.min_free_kbytes=$(cat /proc/sys/vm/min_free_kbytes)" \
	"vm.watermark_scale_factor=$(cat /proc/sys/vm/watermark_scale_factor)"

node_up() {
	[ -s /tmp/node.pid ] && kill -0 "$(cat /tmp/node.pid)" 2>/dev/null && return
	: >/tmp/node.log
	$LINESWAP_PRESSURE_PREFIX "$memnode" --size 384M --listen "tcp://$addr:7370" --rdma --lock >>/tmp/node.log 2>&1 &
	echo $! >/tmp/node.pid
	vm_wait_for 30 grep -q serving /tmp/node.log && return
	cat /tmp/node.log
	vm_fail "memnode did not start"
}

# whole_machine URL: a remote device on URL as the only swap; memhog of 1.3x the available
# memory, two passes, within LIMIT seconds.
whole_machine() {
	local url=$1 avail mib out0 in0 rc=0 start
	node_up
	$LINESWAP_PRESSURE_PREFIX "$ctl" add -t remote --node "$url" --size 384M --queues 1 -n 0 >/dev/null
	mkswap /dev/ublkb0 >/dev/null && swapon /dev/ublkb0
	avail=$(awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo)
	mib=$((avail * 13 / 10))
	echo "available ${avail} MiB: memhog of ${mib} MiB, two passes, at most ${LIMIT} s"
	out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin)
	start=$(date +%s)
	# Halfway through the limit, what every thread is doing (it exits with the job otherwise).
	"$LINESWAP_BUILD/tests/hangdump" --after $((LIMIT / 2)) --watch ublk- --watch memnode \
		--watch memhog >/tmp/halfway.dump &
	dump=$!
	timeout -s KILL "$LIMIT" "$LINESWAP_BUILD/tests/memhog" --mib "$mib" --passes 2 || rc=$?
	if ! kill "$dump" 2>/dev/null; then
		echo "--- the state halfway through the limit:"
		cat /tmp/halfway.dump
	fi
	echo "memhog status $rc after $(($(date +%s) - start)) s: pswpout +$(($(vm_vmstat pswpout) - out0)), pswpin +$(($(vm_vmstat pswpin) - in0)), oom_kill $(vm_vmstat oom_kill)"
	"$ctl" stats -n 0 | head -4
	[ "$rc" = 0 ] || vm_fail "memhog did not finish with every page verified (status $rc)"
	swapoff /dev/ublkb0
	"$ctl" del -n 0
}

whole_machine_tcp() { whole_machine "tcp://$addr:7370"; }
whole_machine_rdma() { whole_machine "rdma://$addr:7370"; }

vm_behaviours whole_machine_tcp whole_machine_rdma
[ -s /tmp/node.pid ] && kill "$(cat /tmp/node.pid)" 2>/dev/null
vm_summary
