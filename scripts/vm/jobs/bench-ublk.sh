# Guest side of `scripts/bench ublk`: fio 4 KiB random read and write, queue depth 1 and 32,
# on the mem target and on the kernel's loop device over a tmpfs file, in the same guest.
# Writes results.json (one object per run) into the share folder.
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
set -eo pipefail
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
runtime=${LINESWAP_BENCH_RUNTIME:-10}
vm_load ublk_drv loop

mkdir -p /mnt/tmpfs && mount -t tmpfs -o size=300M tmpfs /mnt/tmpfs
truncate -s 256M /mnt/tmpfs/loop.img
loopdev=$(losetup --find --show --direct-io=off /mnt/tmpfs/loop.img)
"$ctl" add -t mem --size 256M --queues 1 --depth 64 -n 0 >/dev/null
"$ctl" add -t mem --size 256M --queues 2 --depth 64 -n 1 >/dev/null

declare -A devices=([loop]=$loopdev [ublk-mem-q1]=/dev/ublkb0 [ublk-mem-q2]=/dev/ublkb1)
for name in loop ublk-mem-q1 ublk-mem-q2; do
	# Fill the device first, so reads find data (and the mem target's pages exist).
	dd if=/dev/zero of="${devices[$name]}" bs=1M count=256 oflag=direct status=none
done

: >"$LINESWAP_SHARE/results.json"
for rw in randread randwrite; do
	for qd in 1 32; do
		for name in loop ublk-mem-q1 ublk-mem-q2; do
			fio --name=b --filename="${devices[$name]}" --direct=1 --ioengine=io_uring \
				--rw=$rw --bs=4k --iodepth=$qd --time_based --runtime="$runtime" \
				--ramp_time=2 --norandommap --randrepeat=0 --output-format=json \
				>/tmp/fio.json
			python3 "$LINESWAP_SRC/scripts/vm/jobs/bench-ublk-fio.py" "$name" "$rw" "$qd" \
				/tmp/fio.json >>"$LINESWAP_SHARE/results.json"
			tail -n1 "$LINESWAP_SHARE/results.json"
		done
	done
done
"$ctl" del --all >/dev/null
losetup -d "$loopdev"
