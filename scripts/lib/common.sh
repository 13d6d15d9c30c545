# scripts/lib/common.sh — shared settings and messages for lineswap's shell entry points.
# Sourced, never run.

: "${LINESWAP_CACHE:=/var/cache/lineswap}"
: "${LINESWAP_KERNEL:=6.12.95+deb12-amd64}"
export LINESWAP_CACHE LINESWAP_KERNEL

# mimalloc's Debian source package (bookworm) and the sha256 of its upstream tarball.
MIMALLOC_VERSION=2.0.9+ds-2
MIMALLOC_ORIG_SHA256=cbc9d207ff105ad1f0cb739c378076143a6452b8d0624309cea0abfb040e972b

# The test VM's kernels: LINESWAP_KERNEL (bookworm-backports, the baseline every VM test runs
# on) and the newest line Debian packages, from LINESWAP_NEWER_SUITE, for a smoke suite; setup
# records the version it resolved there in $LINESWAP_CACHE/kernel/newer (LINESWAP_KERNEL_NEWER
# pins one instead).
: "${LINESWAP_NEWER_SUITE:=trixie-backports}"
export LINESWAP_NEWER_SUITE

# lineswap_use_kernel VERSION: point LINESWAP_KERNEL and the paths below at that kernel.
lineswap_use_kernel() {
	LINESWAP_KERNEL=$1
	LINESWAP_KERNEL_DIR="$LINESWAP_CACHE/kernel/$LINESWAP_KERNEL"
	LINESWAP_VMLINUZ="$LINESWAP_KERNEL_DIR/boot/vmlinuz-$LINESWAP_KERNEL"
	LINESWAP_MODULES="$LINESWAP_KERNEL_DIR/modules/$LINESWAP_KERNEL"
	export LINESWAP_KERNEL
}
lineswap_use_kernel "$LINESWAP_KERNEL"

# lineswap_newer_kernel: the newer line's version (LINESWAP_KERNEL_NEWER, else what setup
# recorded); fails if there is none yet.
lineswap_newer_kernel() {
	if [ -n "${LINESWAP_KERNEL_NEWER:-}" ]; then
		echo "$LINESWAP_KERNEL_NEWER"
	else
		cat "$LINESWAP_CACHE/kernel/newer" 2>/dev/null
	fi
}

step() { printf '==> %s\n' "$*" >&2; }
ok() { printf 'ok: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# lineswap_build DIR [MESON-OPTIONS...]: configure DIR under the source tree once (against the
# cache's mimalloc source) and compile it.
lineswap_build() {
	local dir=$1
	shift
	if [ ! -f "$LINESWAP_SRC/$dir/build.ninja" ]; then
		meson setup "$LINESWAP_SRC/$dir" "$LINESWAP_SRC" \
			-Dmimalloc_src="$LINESWAP_CACHE/mimalloc/src" "$@" >/dev/null ||
			die "meson setup $dir failed"
	fi
	step "building $dir"
	ninja -C "$LINESWAP_SRC/$dir" >/dev/null || {
		ninja -C "$LINESWAP_SRC/$dir"
		die "build of $dir failed"
	}
}

# lineswap_pid_names PID MARK: whether process PID is alive with MARK in its command line.
lineswap_pid_names() {
	tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# lineswap_guests DIR [MARK]: the guests that scripts/vm/run recorded under DIR (each run
# folder's ROLE.qemu.pid, written by QEMU, and ROLE.group.pid, the `timeout` that runs it and
# leads its process group) and that are still alive, one "KIND PID" line each (KIND qemu or
# group). A pid counts only while its command line names MARK (default DIR/), the folder the
# guest was started for: a pid since reused by another process is never listed.
lineswap_guests() {
	local dir=$1 mark=${2:-$1/} f pid kind
	[ -d "$dir" ] || return 0
	while IFS= read -r f; do
		pid=$(cat "$f" 2>/dev/null) || continue
		[[ "$pid" =~ ^[1-9][0-9]*$ ]] || continue
		lineswap_pid_names "$pid" "$mark" || continue
		kind=${f##*/}
		kind=${kind%.pid}
		echo "${kind##*.} $pid"
	done < <(find "$dir" -maxdepth 3 \( -name '*.qemu.pid' -o -name '*.group.pid' \) 2>/dev/null)
}

# lineswap_kill_guests DIR [MARK]: SIGKILL what lineswap_guests lists: each process group (the
# timeout and its QEMU), then any QEMU still alive. Nothing else on the machine is touched.
lineswap_kill_guests() {
	local kind pid
	while read -r kind pid; do
		if [ "$kind" = group ]; then
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
	done < <(lineswap_guests "$@")
	while read -r kind pid; do
		if [ "$kind" = qemu ]; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done < <(lineswap_guests "$@")
	return 0
}
