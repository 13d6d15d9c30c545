# ublk server tests in one guest: data integrity under fio (both copy modes, several queue
# shapes), a filesystem across remount, swap under a memory cgroup, crash and recovery while
# I/O runs, and bad input that must fail cleanly. Run by: scripts/vm/run tests/vm/ublk.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
vm_load ublk_drv || exit 1

# daemon_pid ID: the pid of device ID's daemon.
daemon_pid() {
	"$ctl" list -n "$1" --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'
}

# fio_verify DEV QUEUE-DEPTH SIZE: random writes of mixed sizes, then verify every block.
fio_verify() {
	fio --name=verify --filename="$1" --direct=1 --ioengine=io_uring --iodepth="$2" \
		--rw=randwrite --bsrange=4k-64k --size="$3" --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --randrepeat=0 --output-format=terse --terse-version=3 >/tmp/fio.out ||
		{ cat /tmp/fio.out; vm_fail "fio verify on $1 failed"; }
}

fio_verify_shapes() {
	for shape in "1 1 user" "2 32 user" "2 16 buffer"; do
		set -- $shape
		opt=""
		[ "$3" = buffer ] && opt=--no-user-copy
		out=$("$ctl" add -t mem --size 256M --queues "$1" --depth "$2" $opt --json)
		id=$(sed -n 's/.*"id": \([0-9]*\).*/\1/p' <<<"$out")
		"$ctl" list -n "$id" --json | grep -q "\"user_copy\": $([ "$3" = user ] && echo true || echo false)" ||
			vm_fail "device $id: copy mode is not $3"
		fio_verify "/dev/ublkb$id" "$2" 96M
		"$ctl" stats -n "$id" --json >/tmp/stats.json
		grep -q '"write": {"count": [1-9]' /tmp/stats.json || vm_fail "no writes counted"
		grep -q '"errors": [1-9]' /tmp/stats.json && vm_fail "errors counted: $(cat /tmp/stats.json)"
		echo "queues $1, depth $2, $3 copy: fio verify clean"
		"$ctl" del -n "$id"
	done
}

ext4_remount() {
	"$ctl" add -t mem --size 256M -n 5 >/dev/null
	mkfs.ext4 -q -F /dev/ublkb5
	mkdir -p /mnt/t
	mount -o discard /dev/ublkb5 /mnt/t
	for i in 1 2 3 4 5 6 7 8; do
		head -c $((i * 3 * 1024 * 1024 + i * 4099)) /dev/urandom >/mnt/t/file$i
	done
	(cd /mnt/t && sha256sum file* >/tmp/sums)
	rm /mnt/t/file8 && fstrim /mnt/t # exercise discard under a filesystem
	umount /mnt/t
	echo 3 >/proc/sys/vm/drop_caches
	mount /dev/ublkb5 /mnt/t
	(cd /mnt/t && grep -v file8 /tmp/sums | sha256sum -c --quiet) || vm_fail "checksums differ after remount"
	umount /mnt/t
	"$ctl" stats -n 5 --json | grep -q '"discard": {"count": [1-9]' || vm_fail "no discard reached the server"
	"$ctl" del -n 5
}

swap_memcg() {
	"$ctl" add -t mem --size 512M --queues 2 -n 6 >/dev/null
	mkswap /dev/ublkb6 >/dev/null
	swapon --discard /dev/ublkb6
	cg=$(vm_memcg hog 64M)
	out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin)
	# 256 MiB working set, a quarter of it allowed in memory.
	vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/memhog" --mib 256 --passes 2
	out=$(($(vm_vmstat pswpout) - out0)) in=$(($(vm_vmstat pswpin) - in0))
	oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")
	echo "pswpout +$out, pswpin +$in, oom_kill $oom"
	"$ctl" stats -n 6
	[ "$oom" = 0 ] || vm_fail "OOM kill"
	((out > 40000)) || vm_fail "too little swap-out: $out pages"
	((in > 30000)) || vm_fail "too little swap-in: $in pages"
	# An active swap device is refused by del, and nothing is harmed by the attempt.
	"$ctl" del -n 6 2>/tmp/del.err && vm_fail "del of an active swap device succeeded"
	grep -q "active swap device" /tmp/del.err || vm_fail "unclear refusal: $(cat /tmp/del.err)"
	swapoff /dev/ublkb6
	"$ctl" del -n 6
	rmdir "$cg"
}

crash_recovery() {
	"$ctl" add -t mem --size 256M --queues 2 --depth 16 -n 7 >/dev/null
	old=$(daemon_pid 7)
	fio --name=crash --filename=/dev/ublkb7 --direct=1 --ioengine=io_uring --iodepth=16 \
		--rw=randwrite --bs=4k --size=128M --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--randrepeat=0 --output-format=terse --terse-version=3 >/tmp/fio-crash.out 2>&1 &
	fio=$!
	sleep 3
	kill -0 "$fio" || vm_fail "fio ended before the crash"
	kill -9 "$old"
	echo "killed daemon $old while fio ran"
	"$ctl" recover -n 7 || { "$ctl" list; dmesg | tail -20; vm_fail "recover failed"; }
	new=$(daemon_pid 7)
	[ "$new" != "$old" ] && kill -0 "$new" || vm_fail "no new daemon"
	wait "$fio" || { cat /tmp/fio-crash.out; vm_fail "fio failed across the crash"; }
	"$ctl" stats -n 7 --json | grep -q '"recoveries": 1' || vm_fail "recovery not counted"
	"$ctl" list -n 7 | grep -q " live " || vm_fail "device not live after recovery"
	# Recovering a device whose daemon is alive is refused.
	"$ctl" recover -n 7 2>/tmp/rec.err && vm_fail "recover of a live device succeeded"
	grep -q "is live" /tmp/rec.err || vm_fail "unclear refusal: $(cat /tmp/rec.err)"
	"$ctl" del -n 7
}

bad_input() {
	daemons() { pgrep -c -f "ublk-ctl add" || true; }
	"$ctl" add -t mem --size 64M -n 9 >/dev/null
	before=$(daemons) list_before=$("$ctl" list --json)
	"$ctl" add -t mem --size 64M -n 9 2>/tmp/err && vm_fail "double add succeeded"
	grep -q "device 9 already exists" /tmp/err || vm_fail "unclear: $(cat /tmp/err)"
	[ "$(daemons)" = "$before" ] || vm_fail "an orphan daemon was left"
	[ "$("$ctl" list --json)" = "$list_before" ] || vm_fail "a half-created device"
	rc=0; "$ctl" add -t nosuch --size 64M 2>/dev/null || rc=$?
	[ "$rc" = 2 ] || vm_fail "unknown target: exit $rc, want 2"
	rc=0; "$ctl" del -n 42 2>/tmp/err || rc=$?
	[ "$rc" = 1 ] && grep -q "no device 42" /tmp/err || vm_fail "del of a missing device: $rc $(cat /tmp/err)"
	rc=0; "$ctl" recover -n 42 2>/tmp/err || rc=$?
	[ "$rc" = 1 ] && grep -q "no device 42" /tmp/err || vm_fail "recover of a missing device: $rc"
	rc=0; "$ctl" stats -n 42 2>/dev/null || rc=$?
	[ "$rc" = 1 ] || vm_fail "stats of a missing device: exit $rc"
	# A device larger than /dev/shm could ever hold is refused, and nothing is left behind.
	rc=0; "$ctl" add -t mem --size 64T -n 11 2>/tmp/err || rc=$?
	[ "$rc" = 1 ] && grep -q "holds at most" /tmp/err || vm_fail "64T device: exit $rc: $(cat /tmp/err)"
	[ "$("$ctl" list --json)" = "$list_before" ] || vm_fail "the refused device was left"
	# More queues than CPUs: the driver caps them, and the device works.
	"$ctl" add -t mem --size 64M --queues 8 -n 10 >/dev/null
	"$ctl" list -n 10 | grep -q " $(nproc) x 64 " || vm_fail "queues not capped: $("$ctl" list -n 10)"
	dd if=/dev/zero of=/dev/ublkb10 bs=1M count=4 oflag=direct status=none
	"$ctl" del -n 10
	"$ctl" del -n 9
	[ "$("$ctl" list --json)" = "[]" ] || vm_fail "devices left: $("$ctl" list)"
	[ -z "$(ls /run/lineswap /dev/shm 2>/dev/null | grep -v '^/' | grep -v '^$')" ] ||
		vm_fail "files left: $(ls /run/lineswap /dev/shm)"
	[ "$(daemons)" = 0 ] || vm_fail "daemons left"
}

# A queue that cannot start makes add fail within seconds with that queue's own message, and
# leaves nothing behind (the daemon used to wait in START_DEV until add killed it at 60 s).
queue_start_failure() {
	local rc start took
	start=$(date +%s)
	rc=0; "$ctl" add -t fault --size 64M --queues 2 --fail-queue 1 -n 12 2>/tmp/err || rc=$?
	took=$(($(date +%s) - start))
	cat /tmp/err
	[ "$rc" = 1 ] || vm_fail "add with a queue that cannot start: exit $rc, want 1"
	grep -q "queue 1 did not start: fault: queue 1 fails as told" /tmp/err ||
		vm_fail "the error does not say which queue and why"
	((took <= 10)) || vm_fail "add took ${took} s to fail"
	[ "$("$ctl" list --json)" = "[]" ] || vm_fail "a device was left: $("$ctl" list)"
	[ ! -e /dev/ublkb12 ] && [ ! -e /run/lineswap/ublk12.conf ] || vm_fail "files were left"
	pgrep -f "fail-queue" && vm_fail "a daemon was left"
	# The target's open failing is reported the same way.
	rc=0; "$ctl" add -t fault --size 64M --fail-open -n 12 2>/tmp/err || rc=$?
	[ "$rc" = 1 ] && grep -q "fault: failing open as told" /tmp/err ||
		vm_fail "failing open: exit $rc: $(cat /tmp/err)"
	[ "$("$ctl" list --json)" = "[]" ] || vm_fail "a device was left: $("$ctl" list)"
	# Told nothing, the fault target is a device that reads zeros and drops writes.
	"$ctl" add -t fault --size 64M --queues 2 -n 12 >/dev/null
	dd if=/dev/urandom of=/dev/ublkb12 bs=1M count=2 oflag=direct status=none
	[ "$(dd if=/dev/ublkb12 bs=1M count=2 iflag=direct status=none | tr -d '\0' | wc -c)" = 0 ] ||
		vm_fail "the fault target returned data"
	"$ctl" del -n 12
}

# Recovery with a page store that is not the device's size (truncated, or another device's)
# is refused with a clear error and the device still waits for a recovery; put right, it
# recovers with its data.
recover_truncated_store() {
	local rc store=/dev/shm/lineswap-ublk13.pages
	"$ctl" add -t mem --size 64M -n 13 >/dev/null
	head -c 4M /dev/urandom >/tmp/data13
	dd if=/tmp/data13 of=/dev/ublkb13 bs=1M oflag=direct status=none
	kill -9 "$(daemon_pid 13)"
	truncate -s 32M "$store"
	rc=0; "$ctl" recover -n 13 2>/tmp/err || rc=$?
	cat /tmp/err
	[ "$rc" = 1 ] && grep -q "is 33554432 bytes, not the device's 67108864" /tmp/err ||
		vm_fail "recover with a truncated store: exit $rc"
	"$ctl" list -n 13 | grep -q " quiesced " || vm_fail "the device no longer waits: $("$ctl" list -n 13)"
	truncate -s 64M "$store"
	"$ctl" recover -n 13 >/dev/null || vm_fail "recover after the store was put right failed"
	cmp <(dd if=/dev/ublkb13 bs=1M count=4 iflag=direct status=none) /tmp/data13 ||
		vm_fail "data differs after recovery"
	"$ctl" del -n 13
}

# A write the target holds past the watchdog's 10 s: the daemon says so in the kernel log and
# ublk-ctl stats shows the queue STALLED; once the write finishes the stall ends, counted.
stall_reported() {
	local dd
	"$ctl" add -t fault --size 64M --queues 1 --hold-writes 14 -n 13 >/dev/null
	dd if=/dev/zero of=/dev/ublkb13 bs=4k count=1 oflag=direct status=none &
	dd=$!
	vm_wait_for 13 sh -c "'$ctl' stats -n 13 | grep -q '^STALLED: queue 0 '" ||
		vm_fail "no stall reported while a write was held for 14 s"
	"$ctl" stats -n 13 | grep STALLED
	dmesg | grep "lineswap: /dev/ublkb13: queue 0 has finished no request for 1[0-9] s with 1 in flight" ||
		vm_fail "the kernel log does not say which queue stalled: $(dmesg | tail -3)"
	wait "$dd" || vm_fail "the held write failed"
	vm_wait_for 2 sh -c "'$ctl' stats -n 13 | grep -q '^stalls: 1 so far, none now'" ||
		vm_fail "the stall did not end: $("$ctl" stats -n 13 | tail -2)"
	"$ctl" stats -n 13 --json | grep -q '"stalls": 1, "stalled": null' ||
		vm_fail "stats --json: $("$ctl" stats -n 13 --json)"
	dmesg | grep "lineswap: /dev/ublkb13: moving again after a stall of" ||
		vm_fail "the kernel log does not say the stall ended"
	"$ctl" del -n 13
}

vm_behaviours fio_verify_shapes ext4_remount swap_memcg crash_recovery bad_input \
	queue_start_failure recover_truncated_store stall_reported
vm_summary
