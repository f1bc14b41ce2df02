#!/usr/bin/env bash
# test/glibc/check-glibc.sh: `make check-glibc` - glibc's own malloc test
# suite (malloc/tst-*.c of the glibc source tarball) run under hakmem.
#
#   check-glibc.sh [--builddir DIR] [--tarball FILE] [--jobs N] [-v]
#                  [TEST...]
#
# DIR is a configured and built hakmem tree ($abs_top_builddir when set,
# else the current directory); its .libs/libhakmem.so is the library under
# test. FILE is the glibc source tarball (default: $GLIBC_TARBALL, else the
# newest /usr/src/glibc/glibc-*.tar.xz, which Debian's package glibc-source
# installs). N parallel runs (default: nproc). TEST... runs only those tests.
# -v prints the output of every failing run.
#
# The tarball is unpacked (malloc/, support/, include/ and two headers of
# sysdeps/generic/) into DIR/test/glibc/src once; glibc's support/ library
# and the test programs are built there by test/glibc/build.mk against the
# INSTALLED glibc (system headers and libc.so, plus a small include
# directory DIR/test/glibc/include this script writes: a config.h shim and
# links to a few self-contained headers of the tarball). Nothing is built
# again on a second run. glibc itself is never built.
#
# Every test program runs twice, in parallel with the others: plainly (glibc's
# own malloc: the reference) and with LD_PRELOAD=DIR/.libs/libhakmem.so.
# Each run has the test driver's own time-out (support/test-driver.c, 20 s
# unless the test defines TIMEOUT) and an outer `timeout` of 60 s (or the
# test's TIMEOUT + 30 s if longer). Output is in DIR/test/glibc/out.
# Before the tests, one program (tst-calloc --direct) runs under the preload
# with HAKMEM_CONF=opt.stats_print=json: hakmem's statistics must show it
# served the allocations, or the check fails (the preload did not work).
#
# One line per test, then the summary:
#   PASS name                    passes under glibc and under hakmem
#   FAIL name (reason: ...)      passes under glibc, not under hakmem (exit
#                                status, signal, time-out), or not built
#   XFAIL name (fails under glibc too: ...)   not required
#   SKIP name (excluded: ...)    tests glibc's allocator internals (EXCLUDE)
#   SKIP name (not buildable outside glibc: ...)   see OUTSIDE
#   SKIP name (unsupported: ...) the test exits 77 under glibc
#   check-glibc: PASS (N passed, N failed, N skipped)
#   check-glibc: FAIL (N passed, N failed, N skipped)
#   check-glibc: SKIP (why)
# XFAIL tests count as skipped. Exit status 0 passed, 1 failed, 77 skipped
# (no tarball). test/README lists the exclusions and their reasons.
set -uo pipefail

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
here=$(dirname "$self")

# ------------------------------------------------------------ the lists
# Tests of glibc's allocator internals: neither built nor run (SKIP). Keep
# test/README's list in step.
declare -A EXCLUDE=(
	[tst-malloc-check]="MALLOC_CHECK_=3 checks of glibc's libc_malloc_debug.so"
	[tst-malloc-usable]="MALLOC_CHECK_=3 via libc_malloc_debug.so: expects malloc_usable_size (malloc (7)) == 7"
	[tst-malloc-usable-tunables]="as tst-malloc-usable, with GLIBC_TUNABLES=glibc.malloc.check=3"
	[tst-mxfast]="glibc.malloc.mxfast tunable: no blocks in glibc's fastbins (mallinfo smblks)"
	[tst-mallopt]="mallopt knobs of glibc's allocator (M_CHECK_ACTION, M_MXFAST, M_PERTURB, M_TOP_PAD...) must return 1"
	[tst-malloc-backtrace]="overwrites the chunk header of a freed block, expects glibc's abort"
	[tst-tcfree2]="a double free with 19 other frees between (glibc's full tcache bin check): hakmem catches it when the block leaves the thread cache, not at the second free (doc/design.md)"
	[tst-dynarray-fail]="assumes glibc's single heap: after malloc(8) fails, a malloc of another size must fail too, where a size-class allocator still has free blocks of that class (its int half passes; jemalloc, tcmalloc and mimalloc fail earlier)"
	[tst-safe-linking]="glibc's safe-linking: corrupts tcache/fastbin links, expects glibc's abort"
	[tst-mtrace]="mtrace: glibc's allocation tracing (libc_malloc_debug.so, glibc's mtrace script)"
)
# Tests that cannot be built or run outside glibc's own tree (SKIP).
declare -A OUTSIDE=(
	[tst-compathooks-off]="needs glibc's shlib-compat.h to link the removed __malloc_hook/__free_hook compat symbols"
	[tst-compathooks-on]="as tst-compathooks-off, run under libc_malloc_debug.so (the hooks exist only there)"
	[tst-mallocstate]="needs libc-symbols.h/shlib-compat.h to link malloc_get_state/malloc_set_state (compat symbols, removed in 2.25)"
	[tst-interpose-static-nothread]="static program (tests-static): LD_PRELOAD cannot reach a static executable"
	[tst-interpose-static-thread]="static program (tests-static): LD_PRELOAD cannot reach a static executable"
)
# malloc/tst-*.c files that are not tests.
HELPERS=" tst-interpose-aux tst-interpose-aux-nothread tst-interpose-aux-thread tst-interpose-skeleton "
# glibc builds these as tests-internal: without -DTEST_NO_MALLOPT.
INTERNAL="tst-scratch_buffer tst-dynarray tst-dynarray-fail tst-dynarray-at-fail"
# The preload probe: many calloc/free pairs, in one process with --direct.
PROBE=tst-calloc

# ------------------------------------------------------------ one run
# check-glibc.sh --run-one NAME MODE (MODE glibc or hakmem): runs one test
# program once; writes OUT/NAME.MODE.out (its output) and OUT/NAME.MODE.res
# ("STATUS seconds reason", STATUS PASS FAIL TIMEOUT UNSUPPORTED). Uses the
# exported CG_* variables.
run_one() {
	local name=$1 mode=$2
	local bin=$CG_O/bin/$name out=$CG_O/out/$name.$mode.out res=$CG_O/out/$name.$mode.res
	local tmo factor=${TIMEOUTFACTOR:-1} outer
	tmo=$(sed -n 's/^#[[:space:]]*define[[:space:]]\{1,\}TIMEOUT[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' \
		"$CG_G/malloc/$name.c" | head -n 1)
	case $factor in '' | *[!0-9]*) factor=1 ;; esac
	[ "$factor" -ge 1 ] || factor=1
	tmo=$(( ${tmo:-20} * factor ))
	outer=$(( tmo + 30 > 60 ? tmo + 30 : 60 ))
	local pre=()
	[ "$mode" = hakmem ] && pre=("LD_PRELOAD=$CG_LIB")
	local t0 t1 rc
	# In OUT, in case a test writes files where it runs.
	cd "$CG_O/out" || return 1
	t0=$(date +%s%N)
	# The environment is the same in both runs but for LD_PRELOAD: no
	# inherited preload, hakmem configuration or glibc malloc settings.
	# timeout runs outside the preload and kills the test's process group.
	timeout -k 10 "$outer" env -u LD_PRELOAD -u HAKMEM_CONF -u GLIBC_TUNABLES \
		-u MALLOC_CHECK_ -u MALLOC_PERTURB_ -u MALLOC_TRACE -u MALLOC_ARENA_MAX \
		"${pre[@]}" "$bin" </dev/null >"$out" 2>&1
	rc=$?
	t1=$(date +%s%N)
	local secs=$(( (t1 - t0) / 1000000000 ))
	local status reason
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		status=TIMEOUT reason="timeout: killed by timeout(1) after ${outer} s"
	elif grep -q '^Timed out: ' "$out"; then
		status=TIMEOUT reason="timeout: the test driver killed it after ${tmo} s"
	elif [ "$rc" -eq 0 ]; then
		status=PASS reason=
	elif [ "$rc" -eq 77 ]; then
		status=UNSUPPORTED reason="exit status 77 (unsupported)"
	elif [ "$rc" -gt 128 ]; then
		status=FAIL reason="signal $(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
	else
		status=FAIL reason="exit status $rc"
	fi
	if [ "$mode" = hakmem ] && grep -q 'cannot be preloaded' "$out"; then
		status=FAIL reason="LD_PRELOAD did not take effect"
	fi
	# The first line that says what went wrong, else the last line.
	if [ "$status" != PASS ]; then
		local why
		why=$(grep -m 1 -E "error|FAIL|Didn't expect|Expected signal|Assertion|Timed out|cannot be preloaded" "$out")
		[ -n "$why" ] || why=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1)
		why=${why//$CG_G\//}
		[ -n "$why" ] && reason="$reason: ${why:0:160}"
	fi
	echo "$status $secs $reason" >"$res"
}

if [ "${1:-}" = --run-one ]; then
	run_one "$2" "$3"
	exit 0
fi

# ------------------------------------------------------------ arguments
builddir=${abs_top_builddir:-$PWD}
tarball=${GLIBC_TARBALL:-}
jobs=$(nproc 2>/dev/null || echo 2)
verbose=0
only=()
while [ $# -gt 0 ]; do
	case $1 in
	--builddir) builddir=${2:?--builddir needs a directory}; shift 2 ;;
	--tarball) tarball=${2:?--tarball needs a file}; shift 2 ;;
	--jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
	-v) verbose=1; shift ;;
	-h | --help) sed -n '/^# test\/glibc/,/^set -/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "check-glibc: unknown argument: $1" >&2; exit 2 ;;
	*) only+=("$1"); shift ;;
	esac
done
case $jobs in '' | *[!0-9]* | 0) jobs=2 ;; esac

skip() { echo "check-glibc: SKIP ($*)"; exit 77; }
die() { echo "check-glibc: FAIL ($*)"; exit 1; }

builddir=$(cd "$builddir" 2>/dev/null && pwd) || die "no build directory"
lib=$builddir/.libs/libhakmem.so
[ -f "$lib" ] || die "$lib is missing: build hakmem first (scripts/build.sh)"

if [ -z "$tarball" ]; then
	tarball=$(ls -1 /usr/src/glibc/glibc-*.tar.xz 2>/dev/null | sort -V | tail -n 1)
	[ -n "$tarball" ] || skip "no glibc source tarball in /usr/src/glibc: install Debian's package glibc-source"
fi
[ -f "$tarball" ] || skip "no glibc source tarball $tarball"
top=$(basename "$tarball")
top=${top%.tar.*}
case $top in glibc-[0-9]*) ;; *) die "cannot tell the glibc version from $tarball" ;; esac

O=$builddir/test/glibc
G=$O/src/$top
mkdir -p "$O" || die "mkdir $O"

# ------------------------------------------------------------ unpack (once)
stamp="$tarball $(stat -c '%s %Y' "$tarball")"
if [ ! -f "$O/src/.stamp" ] || [ "$(cat "$O/src/.stamp")" != "$stamp" ]; then
	echo "== check-glibc: unpacking $tarball"
	rm -rf "${O:?}/src" "${O:?}/obj" "${O:?}/lib" "${O:?}/bin" "${O:?}/log" "${O:?}/src.tmp"
	mkdir -p "$O/src.tmp" || die "mkdir $O/src.tmp"
	tar -xJf "$tarball" -C "$O/src.tmp" \
		"$top/malloc" "$top/support" "$top/include" "$top/test-skeleton.c" \
		"$top/sysdeps/generic/malloc-size.h" "$top/sysdeps/generic/malloc-alignment.h" ||
		die "cannot unpack $tarball"
	mv "$O/src.tmp" "$O/src" && echo "$stamp" >"$O/src/.stamp" || die "cannot unpack into $O/src"
fi
[ -d "$G/malloc" ] && [ -f "$G/support/Makefile" ] || die "$G is incomplete: remove $O/src"

# ------------------------------------------------------------ the shim
# $O/include: what the sources expect from glibc's build tree that the
# installed headers lack. Files are rewritten only when their contents
# change, so that nothing is rebuilt needlessly.
I=$O/include
mkdir -p "$I"
put() { # put FILE: stdin to FILE if different
	local tmp="$1.tmp"
	cat >"$tmp"
	if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}
put "$I/config.h" <<'EOF'
/* config.h for building glibc's malloc tests and support/ library against
   the installed glibc; written by hakmem's test/glibc/check-glibc.sh. It
   stands in for glibc's generated config.h and include/libc-symbols.h,
   which every glibc source is compiled with.  */
#ifndef _GNU_SOURCE
# define _GNU_SOURCE 1
#endif
/* Internal headers include <limits.h> for some sources.  */
#include <limits.h>
/* The default time-out multiplier of support/support_test_main.c.  */
#define TIMEOUTFACTOR 1
/* Symbol-visibility markers for code inside libc: nothing here.  */
#define libc_hidden_proto(...)
#define libc_hidden_def(...)
#define attribute_hidden
EOF
put "$I/stackinfo.h" <<'EOF'
/* x86-64: the stack grows down and is executable by default (glibc's
   sysdeps stackinfo.h); written by hakmem's test/glibc/check-glibc.sh.  */
#include <elf.h>
#define _STACK_GROWS_DOWN 1
#define DEFAULT_STACK_PERMS (PF_R | PF_W | PF_X)
EOF
# Self-contained headers of the tarball (no glibc-internal dependencies),
# and the support/ and malloc/ directories for <support/...> and
# <malloc/...>. The tarball's top directory is NOT on the include path: its
# bits/ and include/ would shadow the installed headers.
for h in libc-diag.h array_length.h intprops.h libc-pointer-arith.h \
	scratch_buffer.h alloc_buffer.h; do
	ln -sfn "$G/include/$h" "$I/$h"
done
ln -sfn "$G/sysdeps/generic/malloc-size.h" "$I/malloc-size.h"
ln -sfn "$G/sysdeps/generic/malloc-alignment.h" "$I/malloc-alignment.h"
ln -sfn "$G/support" "$I/support"
ln -sfn "$G/malloc" "$I/malloc"

# ------------------------------------------------------------ which tests
all=()
for f in "$G"/malloc/tst-*.c; do
	n=$(basename "$f" .c)
	case $HELPERS in *" $n "*) continue ;; esac
	all+=("$n")
done
if [ ${#only[@]} -gt 0 ]; then
	for n in "${only[@]}"; do
		[ -f "$G/malloc/$n.c" ] || die "no test $n in $G/malloc"
	done
	all=("${only[@]}")
fi
run=()
for n in "${all[@]}"; do
	[ -n "${OUTSIDE[$n]:-}" ] || [ -n "${EXCLUDE[$n]:-}" ] || run+=("$n")
done

# ------------------------------------------------------------ build
# support/Makefile: libsupport-routines, and the sources built with 64-bit
# off_t and time_t. Two need sysdeps headers we do not provide; build.mk
# turns any other that fails into an empty object (log/support-failed.txt).
routines=$(sed -n '/^libsupport-routines[[:space:]]*=/,/^[[:space:]]*$/p' "$G/support/Makefile" |
	sed '1s/^[^=]*=//; s/\\//g' | tr -s ' \t\n' '\n' | grep -v '^$' |
	grep -v -x -e support_path_support_time64 -e support_socket_so_timestamp_time64)
[ -n "$routines" ] || die "cannot read libsupport-routines from $G/support/Makefile"
lfs64=$(sed -n 's/^CFLAGS-\([A-Za-z0-9_-]*\)\.c[[:space:]]*+=.*-D_FILE_OFFSET_BITS=64.*/\1/p' "$G/support/Makefile")
build=("${run[@]}")
case " ${build[*]} " in *" $PROBE "*) ;; *) [ -f "$G/malloc/$PROBE.c" ] && build+=("$PROBE") ;; esac
echo "== check-glibc: building ${#build[@]} test programs of $top against the installed glibc ($(getconf GNU_LIBC_VERSION 2>/dev/null || echo '?')) in $O"
case "$(getconf GNU_LIBC_VERSION 2>/dev/null)" in
"glibc ${top#glibc-}") ;;
*) echo "note: the tarball is $top but the installed glibc is $(getconf GNU_LIBC_VERSION 2>/dev/null || echo unknown)" ;;
esac
t0=$(date +%s)
make -k -s -j"$jobs" -f "$here/build.mk" CC="${CC:-cc}" G="$G" O="$O" \
	ROUTINES="$(echo $routines)" LFS64="$(echo $lfs64)" INTERNAL="$INTERNAL" \
	TESTS="${build[*]}" all >"$O/build.log" 2>&1
brc=$?
[ -f "$O/lib/libsupport.a" ] || { tail -n 20 "$O/build.log"; die "glibc's support library did not build (see $O/build.log)"; }
if [ -s "$O/log/support-failed.txt" ]; then
	echo "note: support/ sources that do not build here (empty objects): $(sort -u "$O/log/support-failed.txt" | tr '\n' ' ')"
fi
echo "== check-glibc: build done in $(( $(date +%s) - t0 )) s (make status $brc)"

# ------------------------------------------------------------ run
export CG_O="$O" CG_G="$G" CG_LIB="$lib"
mkdir -p "$O/out"
npass=0 nfail=0 nskip=0

# Proof that the preload works: hakmem's statistics of one test program.
probe_json=$O/out/preload-probe.json
rm -f "$probe_json"
if [ -x "$O/bin/$PROBE" ]; then
	timeout 120 env -u GLIBC_TUNABLES -u MALLOC_CHECK_ -u MALLOC_PERTURB_ LD_PRELOAD="$lib" \
		HAKMEM_CONF="opt.stats_print=json,opt.stats_file=$probe_json" \
		"$O/bin/$PROBE" --direct >"$O/out/preload-probe.out" 2>&1
	prc=$?
	# The first "stats" object of hakmem's JSON: stats.nmalloc, stats.nfree.
	json=
	[ -s "$probe_json" ] && json=$(tr -d '\n' <"$probe_json")
	stats=$(printf '%s' "$json" | grep -o '"stats":{[^}]*' | head -n 1)
	nm=$(printf '%s' "$stats" | sed -n 's/.*"nmalloc":\([0-9]*\).*/\1/p')
	nf=$(printf '%s' "$stats" | sed -n 's/.*"nfree":\([0-9]*\).*/\1/p')
	ver=$(printf '%s' "$json" | sed -n 's/^{"version":"\([^"]*\)".*/\1/p')
	if [ "$prc" -eq 0 ] && [ -n "$nm" ] && [ "$nm" -ge 1000 ] && [ -n "$nf" ] && [ "$nf" -gt 0 ]; then
		echo "PASS hakmem-preload ($PROBE --direct under LD_PRELOAD: hakmem ${ver:-?} served nmalloc=$nm nfree=$nf)"
		npass=$((npass + 1))
	else
		echo "FAIL hakmem-preload (reason: $PROBE --direct exited $prc; hakmem statistics ${stats:-absent} in $probe_json: the preload did not take effect)"
		nfail=$((nfail + 1))
	fi
else
	echo "FAIL hakmem-preload (reason: $PROBE did not build, see $O/log/build-$PROBE.log)"
	nfail=$((nfail + 1))
fi

# Longest runs first (the last run's time, else the test's time-out).
jobsfile=$O/out/jobs.txt
: >"$jobsfile"
nrun=0
for n in "${run[@]}"; do
	[ -x "$O/bin/$n" ] || continue
	for m in glibc hakmem; do
		rm -f "$O/out/$n.$m.res.new"
		[ -f "$O/out/$n.$m.res" ] && mv "$O/out/$n.$m.res" "$O/out/$n.$m.res.last"
		w=$(awk '{print $2}' "$O/out/$n.$m.res.last" 2>/dev/null)
		[ -n "$w" ] || w=$(sed -n 's/^#[[:space:]]*define[[:space:]]\{1,\}TIMEOUT[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' "$G/malloc/$n.c" | head -n 1)
		echo "${w:-1} $n $m" >>"$jobsfile"
	done
	nrun=$((nrun + 1))
done
echo "== check-glibc: running $nrun tests under glibc and under hakmem ($lib), $jobs at a time"
t0=$(date +%s)
sort -k1,1nr "$jobsfile" | awk '{print $2, $3}' |
	xargs -P "$jobs" -L 1 bash "$self" --run-one
echo "== check-glibc: runs done in $(( $(date +%s) - t0 )) s; output in $O/out"

res() { # res NAME MODE: the result line, or "FAIL 0 no result"
	if [ -s "$O/out/$1.$2.res" ]; then cat "$O/out/$1.$2.res"; else echo "FAIL 0 no result"; fi
}
for n in $(printf '%s\n' "${all[@]}" | sort); do
	if [ -n "${OUTSIDE[$n]:-}" ]; then
		echo "SKIP $n (not buildable outside glibc: ${OUTSIDE[$n]})"
		nskip=$((nskip + 1)); continue
	fi
	if [ -n "${EXCLUDE[$n]:-}" ]; then
		echo "SKIP $n (excluded: ${EXCLUDE[$n]})"
		nskip=$((nskip + 1)); continue
	fi
	if [ ! -x "$O/bin/$n" ]; then
		echo "FAIL $n (reason: does not build; see $O/log/build-$n.log)"
		[ "$verbose" = 1 ] && sed 's/^/    /' "$O/log/build-$n.log" 2>/dev/null | head -n 20
		nfail=$((nfail + 1)); continue
	fi
	read -r gs _ gr < <(res "$n" glibc)
	read -r hs _ hr < <(res "$n" hakmem)
	if [ "$gs" = UNSUPPORTED ]; then
		echo "SKIP $n (unsupported: $gr under glibc)"
		nskip=$((nskip + 1))
	elif [ "$gs" != PASS ]; then
		echo "XFAIL $n (fails under glibc too: $gr; under hakmem: ${hr:-PASS})"
		nskip=$((nskip + 1))
	elif [ "$hs" = PASS ]; then
		echo "PASS $n"
		npass=$((npass + 1))
	else
		echo "FAIL $n (reason: $hr)"
		if [ "$verbose" = 1 ]; then
			sed 's/^/    /' "$O/out/$n.hakmem.out" | tail -n 30
		fi
		nfail=$((nfail + 1))
	fi
done

if [ "$nfail" -eq 0 ]; then
	echo "check-glibc: PASS ($npass passed, $nfail failed, $nskip skipped)"
	exit 0
fi
echo "check-glibc: FAIL ($npass passed, $nfail failed, $nskip skipped)"
exit 1
