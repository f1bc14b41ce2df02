#!/bin/sh
# stress_preload.sh - test_stress_plain (test_stress.c built without hakmem)
# run with libhakmem.so in LD_PRELOAD: every test must pass, and hakmem's
# JSON statistics must show it served more allocations than the test made.
#
#   stress_preload.sh [test_stress options and tests]
# Without arguments: all tests, at a smaller scale than test_stress's own run.
. "${abs_top_srcdir:-$(cd "${srcdir:-.}" && pwd)}/test/preload_common.sh"

bin=$abs_top_builddir/test/test_stress_plain
[ -x "$bin" ] || fail "$bin not built (make check builds it)"
# The plain variant must not link hakmem, or the test proves nothing.
if command -v ldd >/dev/null 2>&1 && ldd "$bin" | grep -q libhakmem; then
	fail "$bin is linked with libhakmem"
fi

[ $# -gt 0 ] || set -- -n 40000 -c 2000 -f 25
json=$TMPD/stress.json
run_preloaded "$json" "$bin" "$@" >"$TMPD/out" 2>"$TMPD/err"
rc=$?
cat "$TMPD/err" >&2
cat "$TMPD/out"
[ $rc -eq 0 ] || fail "test_stress_plain $* under LD_PRELOAD exited with status $rc"

allocs=$(sed -n 's/^allocations: \([0-9][0-9]*\) frees: \([0-9][0-9]*\).*/\1/p' "$TMPD/out")
frees=$(sed -n 's/^allocations: \([0-9][0-9]*\) frees: \([0-9][0-9]*\).*/\2/p' "$TMPD/out")
[ -n "$allocs" ] && [ -n "$frees" ] || fail "no 'allocations: N frees: M' line in the output"
[ "$allocs" -gt 1000 ] || fail "the test made only $allocs allocations"

# Served more than the test's own calls (stdio and threads allocate too).
check_stats "$json" "test_stress_plain" "$allocs" || exit 1
nf=$(json_get "$json" stats.nfree)
[ "$nf" -ge "$frees" ] || fail "stats.nfree=$nf below the test's $frees frees"
exit 0
