#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (make check). The last
# line is "N passed, N failed"; the exit status is non-zero if any test failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" || exit 1
"$top/scripts/build.sh" || { echo "0 passed, 1 failed"; exit 1; }
pass=0; fail=0; skip=0
# Counts the automake results (*.trs) below the current directory, each name
# prefixed with $1.
count_trs() {
	while IFS= read -r trs; do
		name=${trs#./}
		name=${name%.trs}
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
		case "$res" in
		PASS | XFAIL) pass=$((pass + 1)); echo "PASS  $1$name" ;;
		SKIP) skip=$((skip + 1)); echo "SKIP  $1$name" ;;
		*) fail=$((fail + 1)); echo "FAIL  $1$name ($res)" ;;
		esac
	done < <(find . -name '*.trs' | sort)
}
cd "$top/build"
make -j"$(nproc)" check >/dev/null 2>&1
rc=$?
count_trs ""
# The same suite with the library built with -fsanitize=undefined (every
# report fatal): ASan cannot instrument an allocator from outside, UBSan can.
mkdir -p "$top/build-ubsan"
cd "$top/build-ubsan"
if { [ -f Makefile ] || ../configure --enable-ubsan --prefix="$top/build-ubsan/_inst" >configure.log 2>&1; } &&
	make -j"$(nproc)" >make.log 2>&1; then
	UBSAN_OPTIONS=print_stacktrace=1 make -j"$(nproc)" check >/dev/null 2>&1
	urc=$?
	count_trs "ubsan/"
	if [ "$urc" -ne 0 ]; then
		[ -f test-suite.log ] && sed -n '1,120p' test-suite.log
		grep -l "runtime error" $(find . -name '*.log') 2>/dev/null | head -n 5
	fi
else
	fail=$((fail + 1)); echo "FAIL  ubsan build"; tail -n 20 make.log configure.log 2>/dev/null
fi
cd "$top/build" || exit 1
# The two-node placement checks, in a QEMU virtual machine (test/numa).
make check-numa >check-numa.log 2>&1
case $(tail -n 1 check-numa.log) in
"check-numa: PASS"*) pass=$((pass + 1)); echo "PASS  check-numa" ;;
"check-numa: SKIP"*) skip=$((skip + 1)); echo "SKIP  check-numa"; tail -n 3 check-numa.log ;;
*) fail=$((fail + 1)); echo "FAIL  check-numa"; grep -E '^(FAIL|check-numa:)' check-numa.log | head -n 40 ;;
esac
# glibc's own malloc tests (malloc/tst-*.c of glibc-source) under hakmem.
make check-glibc >check-glibc.log 2>&1
case $(tail -n 1 check-glibc.log) in
"check-glibc: PASS"*) pass=$((pass + 1)); echo "PASS  check-glibc" ;;
"check-glibc: SKIP"*) skip=$((skip + 1)); echo "SKIP  check-glibc"; tail -n 3 check-glibc.log ;;
*) fail=$((fail + 1)); echo "FAIL  check-glibc"; grep -E '^(FAIL|check-glibc:)' check-glibc.log | head -n 40 ;;
esac
if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ]; then
	[ -f test-suite.log ] && sed -n '1,200p' test-suite.log
	[ "$fail" -eq 0 ] && fail=1
fi
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
