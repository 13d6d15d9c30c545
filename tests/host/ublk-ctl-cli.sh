#!/usr/bin/env bash
# Host test: ublk-ctl's command-line contract — help exits 0, bad arguments exit 2 with a
# one-line error, and a missing ublk driver is explained (exit 1), on this host without ublk.
set -uo pipefail
ctl=$1
passed=0 failed=0

expect() { # NAME WANT-STATUS WANT-PATTERN CMD...
	local name=$1 want=$2 pattern=$3 out rc
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && grep -qE -- "$pattern" <<<"$out"; then
		passed=$((passed + 1))
		echo "PASS $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name: status $rc (want $want), output: $out"
	fi
}

expect help 0 "^Usage: ublk-ctl COMMAND" "$ctl" --help
expect features_help 0 "GET_FEATURES" "$ctl" features --help
expect no_command 2 "^ublk-ctl: no command given" "$ctl"
expect unknown_command 2 "^ublk-ctl: unknown command 'frobnicate'" "$ctl" frobnicate
expect unknown_option 2 "unknown option '--bogus'" "$ctl" features --bogus
expect extra_argument 2 "unexpected argument 'x'" "$ctl" features x
if [ -e /dev/ublk-control ]; then
	echo "SKIP no_driver: this host has /dev/ublk-control (the VM suite covers it)"
else
	expect no_driver 1 "modprobe ublk_drv" "$ctl" features
fi

echo "ublk-ctl cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
