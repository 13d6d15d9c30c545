# The smoke suite of the newer kernel line (scripts/vm/run --kernel newer; the whole VM suite
# runs on the 6.12 baseline): once each, what lineswap needs of a kernel. The ublk driver's
# features and the ones lineswap takes where offered (NO_AUTO_PART_SCAN, SAFE_STOP_DEV), a
# device's data across kill -9 of its daemon and user recovery, swap on a remote device over
# RDMA (rxe), and a hinted program swapping through it.
# Run by: scripts/vm/run --kernel newer tests/vm/smoke.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
export LINESWAP_SECRET=vm-test-secret
vm_load ublk_drv || exit 1
addr=$(vm_rxe_veth) || exit 1
rnode=rdma://$addr:7370
: >/tmp/node.log
"$memnode" --size 1G --listen tcp://$addr:7370 --rdma >>/tmp/node.log 2>&1 &
vm_wait_for 10 grep -q serving /tmp/node.log || { echo "memnode did not start"; exit 1; }

json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

newer_features() {
	echo "kernel $(uname -r)"
	[ "$(uname -r)" = "$LINESWAP_KERNEL" ] || vm_fail "booted $(uname -r), not $LINESWAP_KERNEL"
	out=$("$ctl" features --json)
	echo "$out"
	for f in CMD_IOCTL_ENCODE USER_COPY USER_RECOVERY USER_RECOVERY_REISSUE; do
		grep -q "\"$f\"" <<<"$out" || vm_fail "ublk lacks $f"
	done
	grep -q '"BIT[0-9]*"' <<<"$out" && vm_fail "features without a name: $out"
	# Where the driver can skip the partition scan, the device is made without one: nothing
	# is read between add and the first I/O of ours.
	"$ctl" add -t mem --size 64M -n 1 >/dev/null
	flags=$("$ctl" list -n 1 --json | json "j[0]['flags']")
	reads=$("$ctl" stats -n 1 --json | json "j['ops']['read']['count']")
	echo "device flags $("$ctl" list -n 1 --json | json "j[0]['flag_names']"), reads after add: $reads"
	if grep -q '"NO_AUTO_PART_SCAN"' <<<"$out"; then
		((flags & (1 << 18))) || vm_fail "NO_AUTO_PART_SCAN offered but not asked for"
		[ "$reads" = 0 ] || vm_fail "$reads reads at start without a partition scan"
	fi
	"$ctl" del -n 1
}

newer_device_recovery() {
	"$ctl" add -t mem --size 256M --queues 2 --depth 16 -n 2 >/dev/null
	old=$("$ctl" list -n 2 --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
	fio --name=crash --filename=/dev/ublkb2 --direct=1 --ioengine=io_uring --iodepth=16 \
		--rw=randwrite --bs=4k --size=64M --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--randrepeat=0 --output-format=terse >/tmp/fio-crash.out 2>&1 &
	fio=$!
	sleep 3
	kill -0 "$fio" || vm_fail "fio ended before the crash"
	kill -9 "$old"
	"$ctl" recover -n 2 || { dmesg | tail -20; vm_fail "recover failed"; }
	wait "$fio" || { cat /tmp/fio-crash.out; vm_fail "fio failed across the crash"; }
	"$ctl" list -n 2 | grep -q " live " || vm_fail "device not live after recovery"
	echo "kill -9 of daemon $old under fio: recovered, every block verified"
	"$ctl" del -n 2
}

newer_remote_swap_rdma() {
	"$ctl" add -t remote --node $rnode --size 512M --queues 2 -n 3 >/dev/null
	# 64 MiB written and read back once in a 16 MiB cgroup: most of it goes out and comes back
	vm_swap_check /dev/ublkb3 16M 64 1 10000 8000
	"$ctl" del -n 3
}

newer_hints() {
	local cg rc=0 stats
	"$ctl" add -t remote --node $rnode --size 512M --queues 2 -n 4 >/dev/null
	mkswap /dev/ublkb4 >/dev/null && swapon /dev/ublkb4
	cg=$(vm_memcg hints 20M)
	LD_PRELOAD="$LINESWAP_BUILD/allocator/libmimalloc-hint.so" LINESWAP_HINTS_DEVICE=4 \
		vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/churn" --mib 48 --threads 2 --seconds 20 \
		--dead 50 || rc=$?
	stats=$("$ctl" stats -n 4 --json)
	swapoff /dev/ublkb4
	rmdir "$cg"
	"$ctl" del -n 4
	[ "$rc" = 0 ] || vm_fail "churn found damage or failed (status $rc)"
	set -- $(json "j['hints']['registrations'], j['moved']['put']['pages'], j['moved']['put']['hinted_pages'], j['hints']['resolver']['walked']" <<<"$stats")
	echo "registrations $1, pages swapped out $2, of them by hints $3; PAGEMAP_SCAN walked $4 pages"
	(($1 >= 1 && $2 >= 2000 && $3 > 0)) || vm_fail "hints did not work on $(uname -r)"
	(($4 > 0)) || vm_fail "the resolver did not use PAGEMAP_SCAN on $(uname -r)"
}

# SAFE_STOP_DEV: del asks the driver to stop the device only if nothing holds it open (on 6.12
# it sees only swap): a mount and an open file descriptor are refused, the device keeps
# serving, and once they are gone del goes through.
newer_del_in_use() {
	"$ctl" features | grep -qw SAFE_STOP_DEV || vm_fail "$(uname -r) offers no SAFE_STOP_DEV"
	"$ctl" add -t mem --size 64M -n 5 >/dev/null
	mkfs.ext4 -q /dev/ublkb5 && mkdir -p /mnt/u5 && mount /dev/ublkb5 /mnt/u5
	echo kept >/mnt/u5/f && sync
	"$ctl" del -n 5 2>/tmp/del.err && vm_fail "del of a mounted device succeeded"
	cat /tmp/del.err
	grep -q "is in use" /tmp/del.err || vm_fail "unclear refusal: $(cat /tmp/del.err)"
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(cat /mnt/u5/f)" = kept ] || vm_fail "the mounted device stopped serving"
	umount /mnt/u5
	sleep 60 </dev/ublkb5 &
	holder=$!
	"$ctl" del -n 5 2>/tmp/del.err && vm_fail "del of an open device succeeded"
	grep -q "is in use" /tmp/del.err || vm_fail "unclear refusal: $(cat /tmp/del.err)"
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	"$ctl" del -n 5 || vm_fail "del failed once nothing held the device"
	[ "$("$ctl" list --json)" = "[]" ] || vm_fail "device left: $("$ctl" list)"
}

vm_behaviours newer_features newer_device_recovery newer_remote_swap_rdma newer_hints \
	newer_del_in_use
vm_summary
