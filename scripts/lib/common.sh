# scripts/lib/common.sh — shared settings and messages for lineswap's shell entry points.
# Sourced, never run.

: "${LINESWAP_CACHE:=/var/cache/lineswap}"
: "${LINESWAP_KERNEL:=6.12.95+deb12-amd64}"
export LINESWAP_CACHE LINESWAP_KERNEL

# mimalloc's Debian source package (bookworm) and the sha256 of its upstream tarball.
MIMALLOC_VERSION=2.0.9+ds-2
MIMALLOC_ORIG_SHA256=cbc9d207ff105ad1f0cb739c378076143a6452b8d0624309cea0abfb040e972b

LINESWAP_KERNEL_DIR="$LINESWAP_CACHE/kernel/$LINESWAP_KERNEL"
LINESWAP_VMLINUZ="$LINESWAP_KERNEL_DIR/boot/vmlinuz-$LINESWAP_KERNEL"
LINESWAP_MODULES="$LINESWAP_KERNEL_DIR/modules/$LINESWAP_KERNEL"

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
