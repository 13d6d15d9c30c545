# The Debian packages as an operator uses them: installed with dpkg -i, a memory node and a
# device of /etc/lineswap/devices.conf started by their systemd units, udev's /dev/lineswap/NAME,
# swap from an /etc/fstab line, the units stopped (swapoff before delete, and a refusal when
# swapoff cannot bring the pages back) and started again.
#
# The guest does not boot systemd (its init runs this script): the units' commands are run
# exactly as the installed unit files write them (ExecStartPre/ExecStart/ExecStop with %i,
# EnvironmentFile, LoadCredential's $CREDENTIALS_DIRECTORY, RuntimeDirectory), the generator
# is run as systemd runs it, udev is the real systemd-udevd with the installed rule, and swap
# comes from /etc/fstab through swapon, as systemd's swap unit calls it.
# Needs the .debs of scripts/package in $LINESWAP_DEBS (default $LINESWAP_BUILD/deb).
# Run by: scripts/vm/run tests/vm/package.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
debs=${LINESWAP_DEBS:-$LINESWAP_BUILD/deb}
units=/lib/systemd/system
addr=$(vm_rxe_veth) || exit 1

# unit_run UNIT KEY [INSTANCE]: runs every KEY= line of the installed UNIT (a template's with
# %i = INSTANCE) in order, as systemd does: a leading '-' ignores failure, and variables expand
# into words (the lines use $VAR where systemd splits and ${VAR} for a path without blanks, so
# the shell's splitting gives the same words). Returns the status of the first command that
# fails.
unit_run() {
	local unit=$1 file=$units/$1 key=$2 inst=${3:-} line ignore rc
	[ -f "$file" ] || vm_fail "no unit $file" || return 1
	while IFS= read -r line; do
		line=${line//%i/$inst}
		ignore=0
		[ "${line:0:1}" = - ] && ignore=1 line=${line:1}
		echo "$unit $key: $line"
		eval "set -- $line"
		rc=0
		"$@" </dev/null || rc=$?
		[ "$rc" = 0 ] || [ "$ignore" = 1 ] || { echo "$unit $key: exit status $rc"; return "$rc"; }
	done < <(sed -n "s/^$key=//p" "$file")
}

# The parts of memnode.service's [Service] section the script stands in for: its environment
# file, its credential, its runtime folder and its OOMScoreAdjust (values read from the unit,
# not assumed).
memnode_start() {
	local file=$units/memnode.service cred envfile oom
	envfile=$(sed -n 's/^EnvironmentFile=//p' "$file")
	oom=$(sed -n 's/^OOMScoreAdjust=//p' "$file")
	cred=$(sed -n 's/^LoadCredential=secret://p' "$file")
	mkdir -p -m 0700 "/run/$(sed -n 's/^RuntimeDirectory=//p' "$file")" /run/credentials/memnode.service
	install -m 0400 "$cred" /run/credentials/memnode.service/secret
	(
		set -a
		. "$envfile"
		set +a
		export CREDENTIALS_DIRECTORY=/run/credentials/memnode.service
		echo "$oom" >/proc/self/oom_score_adj
		unit_run memnode.service ExecStart
	) >/tmp/memnode.log 2>&1 &
	vm_wait_for 20 grep -q serving /tmp/memnode.log || { cat /tmp/memnode.log; vm_fail "memnode.service did not start"; }
	# The unit must keep the node from the OOM killer: the value itself is asserted.
	[ "$oom" = -1000 ] && [ "$(cat /proc/"$(pgrep -xo memnode)"/oom_score_adj)" = "$oom" ] ||
		vm_fail "memnode.service leaves the node to the OOM killer (OOMScoreAdjust '$oom')"
}
memnode_stop() { # KillSignal=SIGTERM, the default
	pkill -TERM -x memnode
	vm_wait_for 10 sh -c '! pgrep -x memnode' || vm_fail "memnode did not stop"
}

# What boot does, in its order: generator, memnode, the devices multi-user.target wants (each
# wanting its swap unit), swap.
boot() {
	rm -rf /run/systemd/generator && mkdir -p /run/systemd/generator
	/lib/systemd/system-generators/lineswap-generator /run/systemd/generator \
		/run/systemd/generator.early /run/systemd/generator.late
	memnode_start
	local w
	for w in /run/systemd/generator/multi-user.target.wants/lineswap@*.service; do
		w=${w##*/lineswap@}
		unit_run lineswap@.service ExecStartPre "${w%.service}" || vm_fail "ExecStartPre failed" || return 1
		unit_run lineswap@.service ExecStart "${w%.service}" || vm_fail "ExecStart failed" || return 1
	done
	# (udevadm settle does nothing in the guest's chroot: wait for the links themselves)
	for w in /run/systemd/generator/multi-user.target.wants/lineswap@*.service; do
		w=${w##*/lineswap@}
		vm_wait_for 30 test -e "/dev/lineswap/${w%.service}" || vm_fail "udev made no /dev/lineswap/${w%.service}" || return 1
	done
	swapon -a
}

package_install() {
	ls "$debs"/*.deb >/dev/null || vm_fail "no packages in $debs (scripts/package --out $debs)"
	dpkg -i "$debs"/*.deb
	for f in /usr/sbin/ublk-ctl /usr/sbin/memnode $units/memnode.service \
		$units/lineswap@.service /lib/udev/rules.d/60-lineswap.rules \
		/lib/systemd/system-generators/lineswap-generator /etc/lineswap/devices.conf \
		/etc/lineswap/memnode.conf /usr/share/man/man8/ublk-ctl.8.gz \
		/usr/share/man/man8/memnode.8.gz /usr/share/man/man7/lineswap-hint.7.gz; do
		[ -e "$f" ] || vm_fail "the packages did not install $f"
	done
	lib=$(pkg-config --variable=preload lineswap-hint 2>/dev/null || true)
	[ -n "$lib" ] && [ -f "$lib" ] || vm_fail "pkg-config names no installed hint library ($lib)"
	grep -qaF "$lib" /usr/sbin/ublk-ctl ||
		vm_fail "ublk-ctl run would not find $lib"
	dpkg -s lineswap | grep -q "^Status: install ok installed" || vm_fail "lineswap not installed"
	/lib/systemd/systemd-udevd --daemon
}

package_boot_swap() {
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >/etc/lineswap/memnode.secret
	chmod 0600 /etc/lineswap/memnode.secret
	cp /etc/lineswap/memnode.secret /etc/lineswap/secret
	echo "MEMNODE_OPTIONS=\"--size 384M --listen tcp://$addr:7370 --rdma\"" >/etc/lineswap/memnode.conf
	cat >>/etc/lineswap/devices.conf <<-EOF
		swap0  -t remote --size 256M --node rdma://$addr:7370 --secret-file /etc/lineswap/secret --mkswap
	EOF
	echo "/dev/lineswap/swap0 none swap sw,nofail 0 0" >/etc/fstab
	boot
	dev=$(readlink -f /dev/lineswap/swap0)
	[ -b "$dev" ] || vm_fail "udev made no /dev/lineswap/swap0"
	swapon --show=NAME --noheadings | grep -qx "$dev" || vm_fail "fstab's swap is not on $dev"
	[ "$(ublk-ctl list --json | grep -c '"name": "swap0"')" = 1 ] || vm_fail "no device named swap0"
	echo "boot: /dev/lineswap/swap0 -> $dev, swap on"
}

# pages_out MIB LIMIT: a memhog that wrote MIB MiB in a cgroup of LIMIT and stopped (its pid
# in /tmp/hog.pid, its cgroup in /tmp/hog.cg); fails unless some went to swap.
pages_out() {
	local cg out0
	cg=$(vm_memcg hog "$2")
	echo "$cg" >/tmp/hog.cg
	out0=$(vm_vmstat pswpout)
	vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/memhog" --mib "$1" --passes 1 --stop >/tmp/hog.log 2>&1 &
	vm_wait_for 120 grep -q stopping /tmp/hog.log || vm_fail "memhog did not write" || return 1
	cat "$cg/cgroup.procs" >/tmp/hog.pid # memhog itself, the one process in its cgroup
	echo "swapped out: $(($(vm_vmstat pswpout) - out0)) pages"
	(($(vm_vmstat pswpout) - out0 > 4096)) || vm_fail "too little went to swap"
}
hog_verify() {
	local pid
	pid=$(cat /tmp/hog.pid)
	kill -CONT "$pid"
	vm_wait_for 120 sh -c '! kill -0 "$1"' sh "$pid" || vm_fail "memhog did not finish" || return 1
	grep -q "memhog: OK" /tmp/hog.log || { cat /tmp/hog.log; vm_fail "memhog's pages did not survive"; }
	rmdir "$(cat /tmp/hog.cg)"
}

# Stopping lineswap@swap0 while its device is swap: swapoff first, every page back, then del.
# Where the pages cannot come back (their cgroup may not grow, and the owner is not killable),
# the stop is refused and the device stays swap; once the cgroup may grow, it succeeds.
package_stop_refuses_then_swaps_off() {
	pages_out 96 32M
	echo -1000 >"/proc/$(cat /tmp/hog.pid)/oom_score_adj"
	if unit_run lineswap@.service ExecStop swap0 2>/tmp/stop.err; then
		vm_fail "stop succeeded with 64 MiB that had no room to come back"
	fi
	cat /tmp/stop.err
	grep -q "not enough memory" /tmp/stop.err || vm_fail "the refusal does not say why"
	[ -b /dev/lineswap/swap0 ] || vm_fail "the refused stop removed the device"
	swapon --show=NAME --noheadings | grep -qx "$(readlink -f /dev/lineswap/swap0)" ||
		vm_fail "the refused stop left swap off"
	echo max >"$(cat /tmp/hog.cg)/memory.max"
	unit_run lineswap@.service ExecStop swap0 || vm_fail "stop failed with room for the pages"
	[ -z "$(swapon --show --noheadings)" ] || vm_fail "swap still on: $(swapon --show)"
	vm_wait_for 30 test ! -e /dev/lineswap/swap0 || vm_fail "/dev/lineswap/swap0 outlived its device"
	[ "$(ublk-ctl list --json)" = "[]" ] || vm_fail "device left: $(ublk-ctl list)"
	hog_verify
	memnode_stop
}

# "Reboot": everything stopped, then started again the way boot does: the device and its swap
# come back under the same name, and carry swap again.
package_restart() {
	boot
	dev=$(readlink -f /dev/lineswap/swap0)
	swapon --show=NAME --noheadings | grep -qx "$dev" || vm_fail "swap did not come back on $dev"
	# up is idempotent: a second start leaves the live device alone
	unit_run lineswap@.service ExecStart swap0 | tee /tmp/up.out
	grep -q "up already" /tmp/up.out || vm_fail "a second start did not see the device up"
	pages_out 64 24M
	hog_verify
	swapoff -a # what systemd's swap unit does first at shutdown (the generator's ordering)
	unit_run lineswap@.service ExecStop swap0 || vm_fail "stop failed"
	memnode_stop
	[ "$(ublk-ctl list --json)" = "[]" ] || vm_fail "device left: $(ublk-ctl list)"
}

vm_behaviours package_install package_boot_swap package_stop_refuses_then_swaps_off \
	package_restart
vm_summary
