#!/usr/bin/env bash
# Host test: ublk-ctl's command-line contract — help exits 0, bad arguments exit 2 with a
# one-line error, and a missing ublk driver is explained (exit 1), on this host without ublk.
set -uo pipefail
ctl=$1
. "$(dirname "$0")/lib.sh"

expect help 0 "^Usage: ublk-ctl COMMAND" "$ctl" --help
expect features_help 0 "GET_FEATURES" "$ctl" features --help
expect no_command 2 "^ublk-ctl: no command given" "$ctl"
expect unknown_command 2 "^ublk-ctl: unknown command 'frobnicate'" "$ctl" frobnicate
expect unknown_option 2 "unknown option '--bogus'" "$ctl" features --bogus
expect extra_argument 2 "unexpected argument 'x'" "$ctl" features x
for cmd in add list del recover stats hints nodes node run up down name; do
	expect "${cmd}_help" 0 "^Usage: ublk-ctl $cmd" "$ctl" "$cmd" --help
done
expect add_no_target 2 "add: no target given" "$ctl" add --size 1G
expect add_no_size 2 "add: no size given" "$ctl" add -t mem
expect add_bad_target 2 "add: unknown target 'disk' \(targets: mem, remote, fault\)" "$ctl" add -t disk --size 1G
# add --help lists every target of the table, with each one's own options.
for target in mem remote fault; do
	expect "add_help_lists_$target" 0 "^  $target  " "$ctl" add --help
done
expect add_help_remote_options 0 "^Options of the remote target:" "$ctl" add --help
expect add_help_fault_options 0 "--fail-queue Q" "$ctl" add --help
expect add_bad_size 2 "add: bad --size '1.5G'" "$ctl" add -t mem --size 1.5G
expect add_unaligned_size 2 "add: bad --size '4097'" "$ctl" add -t mem --size 4097
expect add_zero_size 2 "add: bad --size '0'" "$ctl" add -t mem --size 0
expect add_bad_queues 2 "add: bad --queues '0'" "$ctl" add -t mem --size 1G --queues 0
expect add_bad_depth 2 "add: bad --depth '5000'" "$ctl" add -t mem --size 1G --depth 5000
expect add_bad_id 2 "add: bad device id 'x'" "$ctl" add -t mem --size 1G -n x
expect add_bad_max_io 2 "add: bad --max-io '3000'" "$ctl" add -t mem --size 1G --max-io 3000
expect add_bad_dirty_limit 2 "add: bad --dirty-limit '100'" "$ctl" add -t mem --size 1G --dirty-limit 100
expect add_bad_dirty_limit_word 2 "add: bad --dirty-limit 'lots'" "$ctl" add -t mem --size 1G --dirty-limit lots
expect add_missing_value 2 "incomplete option '--size'" "$ctl" add -t mem --size
expect remote_no_node 2 "remote target needs --node" "$ctl" add -t remote --size 1G
expect remote_bad_node 2 "bad --node 'rdma:x'" "$ctl" add -t remote --size 1G --node rdma:x
expect remote_node_twice 2 "--node tcp://h:1 is given twice" "$ctl" add -t remote --size 1G --node tcp://h:1 --node tcp://h:1
expect remote_replicas_over_nodes 2 "--replicas 3 needs at least 3 nodes \(2 given\)" "$ctl" add -t remote --size 1G --node tcp://h:1 --node tcp://h:2 --replicas 3
expect remote_bad_replicas 2 "bad --replicas '4' \(1-3\)" "$ctl" add -t remote --size 1G --node tcp://h:1 --replicas 4
expect remote_bad_slab 2 "bad --slab-size '1000K' \(1M-64G, a multiple of 1M\)" "$ctl" add -t remote --size 1G --node tcp://h:1 --slab-size 1000K
expect remote_too_many_nodes 2 "too many --node \(at most 16\)" "$ctl" add -t remote --size 1G $(for i in $(seq 1 17); do printf -- '--node tcp://h:%d ' "$i"; done)
expect remote_bad_grace 2 "bad --grace '1d' \(0-86400 seconds\)" "$ctl" add -t remote --size 1G --node tcp://h:1 --grace 1d
expect remote_bad_timeout 2 "bad --io-timeout '0'" "$ctl" add -t remote --size 1G --node tcp://h:1 --io-timeout 0
expect remote_no_secret 2 "add: no secret: give --secret-file" env -u LINESWAP_SECRET "$ctl" add -t remote --size 1G --node tcp://h:1
expect remote_missing_secret_file 1 "cannot read --secret-file /nonexistent" "$ctl" add -t remote --size 1G --node tcp://h:1 --secret-file /nonexistent
expect mem_with_node 2 "add: --node is not an option of the mem target \(it is of: remote\)" "$ctl" add -t mem --size 1G --node tcp://h:1
expect mem_with_hints 2 "add: --hint-uid is not an option of the mem target \(it is of: remote\)" "$ctl" add -t mem --size 1G --hint-uid any
expect mem_no_encrypt 2 "add: --no-encrypt is not an option of the mem target \(it is of: remote\)" "$ctl" add -t mem --size 1G --no-encrypt
expect node_before_target 2 "remote target needs --node" "$ctl" add --io-timeout 5 -t remote --size 1G
expect remote_with_fault_option 2 "add: --fail-open is not an option of the remote target \(it is of: fault\)" "$ctl" add --fail-open -t remote --size 1G --node tcp://h:1
expect fault_bad_queue 2 "bad --fail-queue 'x'" "$ctl" add -t fault --size 1G --fail-queue x
expect remote_bad_hint_uid 2 "bad --hint-uid 'bob'" "$ctl" add -t remote --size 1G --node tcp://h:1 --hint-uid bob
expect remote_bad_hint_hold 2 "bad --hint-hold '0'" "$ctl" add -t remote --size 1G --node tcp://h:1 --hint-hold 0
expect add_bad_name 2 "add: bad --name '0swap' \(1-31 of A-Z a-z 0-9 . _ -, starting with a letter\)" "$ctl" add -t mem --size 1G --name 0swap
expect add_long_name 2 "add: bad --name 'a{32}'" "$ctl" add -t mem --size 1G --name "$(printf 'a%.0s' $(seq 32))"
expect add_name_slash 2 "add: bad --name 'a/b'" "$ctl" add -t mem --size 1G --name a/b
expect stats_unknown_name 1 "stats: no device is named 'swap0' \(see ublk-ctl list\)" "$ctl" stats -n swap0
expect del_bad_device 2 "del: bad device '-x'" "$ctl" del -n -x
expect del_nothing 2 "del: give exactly one of -n ID and --all" "$ctl" del
expect del_both 2 "del: give exactly one of -n ID and --all" "$ctl" del -n 1 --all
expect recover_no_id 2 "recover: which device" "$ctl" recover
expect stats_no_id 2 "stats: which device" "$ctl" stats
expect stats_missing 1 "stats: no statistics for device 999" env LINESWAP_RUN_DIR=/nonexistent "$ctl" stats -n 999
expect hints_no_id 2 "hints: which device" "$ctl" hints
expect hints_missing 1 "hints: no statistics for device 999" env LINESWAP_RUN_DIR=/nonexistent "$ctl" hints -n 999
expect list_extra 2 "list: unexpected argument 'x'" "$ctl" list x
expect node_help 0 "^Usage: ublk-ctl node add -n ID URL" "$ctl" node --help
expect node_remove_help 0 "^remove: drains URL" "$ctl" node remove --help
expect node_no_action 2 "node: add or remove\?" "$ctl" node
expect node_bad_action 2 "node: unknown action 'drain' \(add or remove\)" "$ctl" node drain -n 1 tcp://h:1
expect node_no_id 2 "node: which device\? \(-n ID\)" "$ctl" node add tcp://h:1
expect node_no_url 2 "node: one URL, please" "$ctl" node add -n 1
expect node_two_urls 2 "node: one URL, please" "$ctl" node remove -n 1 tcp://h:1 tcp://h:2
expect node_bad_url 2 "bad --node 'h:1'" "$ctl" node add -n 1 h:1
expect node_bad_option 2 "unknown or incomplete option '--force'" "$ctl" node remove -n 1 --force tcp://h:1
expect node_no_record 1 "node: no record of device 999" env LINESWAP_RUN_DIR=/nonexistent "$ctl" node add -n 999 tcp://h:1
# run: a device's hint socket (a stand-in bound in a run folder of our own) and a library
# (libc, already loaded, so harmless to preload) are checked, then PROGRAM gets the environment
# (ASan, in the sanitizer build, would refuse a preload ahead of it in ublk-ctl itself).
expect run_no_program 2 "run: no program given" "$ctl" run -n 1
expect run_bad_id 2 "run: bad device '9x' \(an id, or a name given to add --name\)" "$ctl" run -n 9x -- true
expect run_unknown_name 1 "run: no device is named 'swap0'" "$ctl" run -n swap0 -- true
expect run_bad_arena 2 "run: --arena wants a size \(for example 1G\), not '1.5G'" "$ctl" run --arena 1.5G -- true
expect run_missing_value 2 "run: option '--arena' needs a value" "$ctl" run --arena
expect run_no_socket 1 "run: device 999 has no hint socket" env LINESWAP_RUN_DIR=/nonexistent "$ctl" run -n 999 -- true
rundir=$(mktemp -d)
trap 'rm -rf "$rundir"' EXIT
python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$rundir/ublk7.hints"
libc=$(ldd /bin/true | awk '$1 ~ /^libc\.so/ { print $3 }')
expect run_missing_library 1 "run: the hint library /nonexistent.so: No such file" env LINESWAP_RUN_DIR="$rundir" "$ctl" run -n 7 --library /nonexistent.so -- true
expect run_no_such_program 127 "run: cannot run no-such-program" env LINESWAP_RUN_DIR="$rundir" "$ctl" run -n 7 --library "$libc" -- no-such-program
expect run_device 0 "^LINESWAP_HINTS_DEVICE=7$" env LINESWAP_RUN_DIR="$rundir" LINESWAP_HINTS_SOCKET=/elsewhere "$ctl" run -n 7 --library "$libc" -- env
expect run_preload_first 0 "^LD_PRELOAD=$(realpath "$libc"):$libc$" env LINESWAP_RUN_DIR="$rundir" ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD="$libc" "$ctl" run -n 7 --library "$libc" -- env
expect run_arena 0 "^LINESWAP_ARENA=1073741824$" env LINESWAP_RUN_DIR="$rundir" "$ctl" run -n 7 --library "$libc" --arena 1G --log -- env
expect run_socket_unset 0 "^socket=unset$" env LINESWAP_RUN_DIR="$rundir" LINESWAP_HINTS_SOCKET=/elsewhere "$ctl" run -n 7 --library "$libc" -- sh -c 'echo "socket=${LINESWAP_HINTS_SOCKET-unset}"'
expect run_exit_status 3 "^$" env LINESWAP_RUN_DIR="$rundir" "$ctl" run -n 7 --library "$libc" -- sh -c 'exit 3'

# up, down and name: devices.conf is checked whole before anything is done (exit 2, with the
# line), names are looked up in the devices' records.
conf=$rundir/devices.conf
example=$(dirname "$0")/../../systemd/devices.conf
expect up_nothing 2 "up: give device names or --all" "$ctl" up
expect up_names_and_all 2 "up: give device names or --all" "$ctl" up --all swap0
expect up_bad_name_arg 2 "up: bad device name '0x'" "$ctl" up 0x
expect up_missing_config 1 "cannot read /nonexistent.conf: No such file" "$ctl" up -c /nonexistent.conf swap0
printf '# devices\n\nswap0 -t mem --size 64M  # a comment\n0swap -t mem --size 64M\n' >"$conf"
expect up_bad_line 2 "devices.conf:4: bad device name '0swap'" "$ctl" up -c "$conf" swap0
printf 'swap0 -t mem --size 64M\nswap1\tlineswap --size 1G\nswap0 -t mem --size 1G\n' >"$conf"
expect up_twice 2 "devices.conf:3: device 'swap0' again \(first on line 1\)" "$ctl" up -c "$conf" --all
printf 'swap0 -t mem --size 64M --he\n' >"$conf"
expect up_help_option 2 "devices.conf:1: --he is not for a devices file" "$ctl" up -c "$conf" swap0
printf 'swap0 -t mem --size 64M --json\n' >"$conf"
expect up_json_option 2 "devices.conf:1: --json is not for a devices file" "$ctl" up -c "$conf" swap0
printf 'swap0\n' >"$conf"
expect up_no_options 2 "devices.conf:1: no options for device 'swap0'" "$ctl" up -c "$conf" swap0
printf 'swap0 -t mem --size 64M\n' >"$conf"
expect up_not_in_file 2 "up: no device 'swap9' in .*devices.conf" "$ctl" up -c "$conf" swap9
expect up_long_line 2 "devices.conf:1: line longer than 4096 bytes" sh -c 'printf "swap0 %05000d\n" 0 >"$1"; "$2" up -c "$1" swap0' sh "$conf" "$ctl"
expect up_example_empty 0 "^$" "$ctl" up -c "$example" --all
sed 's/^# swap0 /swap0 /' "$example" >"$conf"
expect up_example_parses 2 "up: no device 'swap9'" "$ctl" up -c "$conf" swap9
expect down_nothing 2 "down: give device names or --all" "$ctl" down
expect down_absent 0 "^swap0: down already$" "$ctl" down swap0
expect name_nothing 2 "name: give one DEVICE" "$ctl" name
expect name_bad 2 "name: bad device 'sda'" "$ctl" name sda
expect name_no_record 1 "name: no record of device 3" env LINESWAP_RUN_DIR="$rundir" "$ctl" name ublkb3
record='dev_id=3\ntarget=mem\nsize=1048576\nqueues=1\ndepth=64\nmax_io=131072\nuser_copy=1\nstore=/dev/shm/x\n'
printf "$record" >"$rundir/ublk3.conf"
expect name_unnamed 1 "name: device 3 has no name" env LINESWAP_RUN_DIR="$rundir" "$ctl" name /dev/ublkb3
printf "${record}name=swap0\n" >"$rundir/ublk3.conf"
expect name_named 0 "^swap0$" env LINESWAP_RUN_DIR="$rundir" "$ctl" name ublkb3
printf "${record}name=0swap\n" >"$rundir/ublk3.conf"
expect name_malformed_record 1 "name: no record of device 3: Invalid argument" env LINESWAP_RUN_DIR="$rundir" "$ctl" name 3

if [ -e /dev/ublk-control ]; then
	echo "SKIP no_driver: this host has /dev/ublk-control (the VM suite covers it)"
else
	expect no_driver 1 "modprobe ublk_drv" "$ctl" features
	expect add_no_driver 1 "modprobe ublk_drv" "$ctl" add -t mem --size 1G
fi

summary "ublk-ctl cli"
