# tests/host/lib.sh — helpers for the host's command-line tests (source it).
#   expect NAME WANT-STATUS WANT-PATTERN CMD...   run CMD, check its status and output
#   summary WHAT                                   print "WHAT: N passed, N failed"
passed=0 failed=0

expect() {
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

summary() {
	echo "$1: $passed passed, $failed failed"
	[ "$failed" = 0 ]
}
