# scripts/lib/behaviours.sh — the VM suites' behaviours: their names and the filter that picks
# some of them. Sourced, never run: on the host by scripts/test, scripts/vm/run and
# tests/vm/harness.sh, in the guest by scripts/vm/guest-lib.sh.
#
# A VM test script defines one function per behaviour and runs them with one line,
#   vm_behaviours NAME...
# (guest-lib.sh's runner; the line may continue with a backslash). The host reads the names
# from that line, so it can list them and check a filter without booting a guest.
#
# LINESWAP_VM_ONLY picks behaviours by name: a list of shell globs separated by commas (or
# spaces), e.g. 'swap_memcg,*recover*'. Empty or unset picks every behaviour.

# vm_only_match NAME: whether LINESWAP_VM_ONLY picks behaviour NAME.
vm_only_match() {
	local glob globs
	[ -n "${LINESWAP_VM_ONLY:-}" ] || return 0
	IFS=', ' read -ra globs <<<"$LINESWAP_VM_ONLY"
	for glob in "${globs[@]}"; do
		# shellcheck disable=SC2053 # the right side is a glob
		[[ "$1" == $glob ]] && return 0
	done
	return 1
}

# vm_behaviour_names SCRIPT: the behaviours SCRIPT declares on its vm_behaviours line(s), one a
# line, in order; nothing of SCRIPT runs. Here-documents are skipped (a test may write guest
# scripts of its own, with their own vm_behaviours lines).
vm_behaviour_names() {
	awk '
		tag != "" {
			t = $0
			if (strip)
				sub(/^\t+/, "", t)
			if (t == tag)
				tag = ""
			next
		}
		{ line = cont $0; cont = "" }
		/\\$/ { sub(/\\$/, "", line); cont = line " "; next }
		match(line, /(^|[^<])<<-?[ \t]*["\047]?[A-Za-z_][A-Za-z_0-9]*/) {
			h = substr(line, RSTART, RLENGTH)
			sub(/^[^<]?<</, "", h)
			strip = h ~ /^-/
			gsub(/[-"\047 \t]/, "", h)
			tag = h
		}
		{
			n = split(line, w, /[ \t]+/)
			i = w[1] == "" ? 2 : 1
			if (w[i] != "vm_behaviours")
				next
			for (i++; i <= n && w[i] !~ /^#/; i++)
				if (w[i] != "")
					print w[i]
		}
	' "$1"
}

# vm_only_check SCRIPT: 0 if LINESWAP_VM_ONLY is empty or picks a behaviour of SCRIPT. Else it
# says so on stderr, naming SCRIPT's behaviours, and returns 77 (none picked: meson's "skipped")
# or 2 (SCRIPT declares no behaviours, so a filter cannot apply to it).
vm_only_check() {
	local names name
	[ -n "${LINESWAP_VM_ONLY:-}" ] || return 0
	names=$(vm_behaviour_names "$1")
	if [ -z "$names" ]; then
		echo "$1 declares no behaviours (no vm_behaviours line):" \
			"LINESWAP_VM_ONLY='$LINESWAP_VM_ONLY' cannot apply to it" >&2
		return 2
	fi
	for name in $names; do
		vm_only_match "$name" && return 0
	done
	echo "skipped: LINESWAP_VM_ONLY='$LINESWAP_VM_ONLY' picks none of $1's behaviours:" $names >&2
	return 77
}
