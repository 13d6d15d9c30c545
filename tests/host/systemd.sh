#!/usr/bin/env bash
# Host test: the systemd units, generator and udev rule (systemd/*.in), with this build's
# ublk-ctl and memnode. systemd's own parser (systemd-analyze verify) must accept the units
# without a word (no unknown setting, no missing program, no ordering cycle: lineswap@ is
# after network-online.target, which here waits for a service with default dependencies, as
# NetworkManager's does, so ordering it before swap.target would loop through sysinit.target),
# and the generator must make multi-user.target want each device of devices.conf, ordered
# before the swap unit of /dev/lineswap/NAME and wanting it, and skip names ublk-ctl refuses.
set -uo pipefail
src=$1 ctl=$(realpath "$2") memnode=$(realpath "$3")
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/sbin" "$tmp/units" "$tmp/etc/lineswap" "$tmp/out"
ln -s "$ctl" "$tmp/sbin/ublk-ctl"
ln -s "$memnode" "$tmp/sbin/memnode"
for f in lineswap@.service memnode.service lineswap-generator 60-lineswap.rules; do
	sed -e "s|@SBINDIR@|$tmp/sbin|g; s|@SYSCONFDIR@|$tmp/etc|g; s|@UNITDIR@|$tmp/units|g" \
		"$src/systemd/$f.in" >"$tmp/units/$f"
done
ln -s lineswap@.service "$tmp/units/lineswap@swap0.service"
# a network manager as NetworkManager ships it: network-online.target waits for a service that
# itself comes after sysinit.target
printf '[Unit]\nDescription=net\n[Service]\nExecStart=/bin/true\n' >"$tmp/units/fakenet.service"
printf '[Unit]\nAfter=fakenet.service\nBefore=network-online.target\n[Service]\nType=oneshot\nExecStart=/bin/true\n' \
	>"$tmp/units/fakenet-wait-online.service"
mkdir -p "$tmp/units/network-online.target.wants"
ln -s ../fakenet-wait-online.service "$tmp/units/network-online.target.wants/"
export SYSTEMD_UNIT_PATH="$tmp/units:" # and then the system's own
# silent CMD...: CMD must succeed and print nothing (systemd-analyze reports a cycle with status 0)
silent() {
	local out
	out=$("$@" 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
}

expect verify_units 0 "" silent systemd-analyze verify --man=no "$tmp/units/memnode.service" \
	"$tmp/units/lineswap@swap0.service"
expect no_placeholder_left 1 "^$" grep -l "@[A-Z]*@" "$tmp"/units/*.service "$tmp/units/lineswap-generator" "$tmp/units/60-lineswap.rules"
expect udev_rule_names 0 "PROGRAM=\"$tmp/sbin/ublk-ctl name %k\", SYMLINK\+=\"lineswap/%c\"" \
	cat "$tmp/units/60-lineswap.rules"

gen() { sh "$tmp/units/lineswap-generator" "$tmp/out" "$tmp/out.early" "$tmp/out.late"; }
expect generator_no_conf 0 "^$" sh -c 'sh "$1" "$2" && [ -z "$(ls -A "$2")" ]' sh \
	"$tmp/units/lineswap-generator" "$tmp/out"
cp "$src/systemd/devices.conf" "$tmp/etc/lineswap/devices.conf"
expect generator_example_conf 0 "^$" sh -c 'sh "$1" "$2" && [ -z "$(ls -A "$2")" ]' sh \
	"$tmp/units/lineswap-generator" "$tmp/out"
printf '# two devices\nswap0 -t mem --size 64M\n  swap-a\t-t mem --size 1G # comment\n0bad -t mem\n' \
	>"$tmp/etc/lineswap/devices.conf"
gen
expect wants_swap0 0 "^$tmp/units/lineswap@.service$" readlink "$tmp/out/multi-user.target.wants/lineswap@swap0.service"
expect wants_swap_a 0 "^$tmp/units/lineswap@.service$" readlink "$tmp/out/multi-user.target.wants/lineswap@swap-a.service"
expect before_swap0 0 "^Before=dev-lineswap-swap0.swap$" cat "$tmp/out/lineswap@swap0.service.d/50-swap.conf"
expect wants_swap_unit 0 "^Wants=dev-lineswap-swap0.swap$" cat "$tmp/out/lineswap@swap0.service.d/50-swap.conf"
expect before_swap_a 0 '^Before=dev-lineswap-swap\\x2da.swap$' cat "$tmp/out/lineswap@swap-a.service.d/50-swap.conf"
expect skips_bad_line 0 "^2$" sh -c 'ls "$1/multi-user.target.wants" | wc -l' sh "$tmp/out"
# the generated drop-in is what systemd reads: the unit with it still verifies
cp -r "$tmp/out/lineswap@swap0.service.d" "$tmp/units/"
expect verify_with_dropin 0 "" silent systemd-analyze verify --man=no "$tmp/units/lineswap@swap0.service"

summary "systemd units"
