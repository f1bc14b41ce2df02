#!/bin/sh
# smoke.sh WORKLOAD - runs one bench workload once, tiny, under hakmem.
#
# Part of `make check` (through bench/smoke-WORKLOAD.sh). Runs in the top
# build directory ($abs_top_builddir when set, else the current directory),
# preloading .libs/libhakmem.so there (HAKMEM_LIB overrides it).
# Fails when the workload exits non-zero, when its RESULT line is missing or
# does not parse, when the malloc it called was not hakmem's, or when hakmem's
# stats.nmalloc is missing or below the allocations the workload made.
# Never looks at a timing.
set -u
workload=${1:?usage: smoke.sh WORKLOAD}
top=${abs_top_builddir:-$(pwd)}
lib=${HAKMEM_LIB:-$top/.libs/libhakmem.so}
prog=$top/bench/$workload

if [ ! -f "$lib" ]; then
    echo "smoke: $lib not found (build the library first)" >&2
    exit 1
fi
if [ ! -x "$prog" ]; then
    echo "smoke: $prog not found (run make first)" >&2
    exit 1
fi

case $workload in
    random_mixed) set -- 20000 256 42 ;;
    larson)       set -- 2 8 1000 200 5 42 2 ;;
    mid_large_mt) set -- 2 2000 128 42 ;;
    scenario)     set -- vm 20 2 ;;
    sequential)   set -- random 500 4 42 ;;
    xthread)      set -- 2 20000 64 42 ;;
    prodcons)     set -- 3 2 6000 64 42 ;;
    fastpath)     set -- 64 20000 ;;
    startup)      set -- 3 ;;
    malloc_large) set -- 30 4 42 1048576 4194304 ;;
    live_growth)  set -- 2000 ;;
    churn_mixed)  set -- 2 5000 256 42 ;;
    realloc_growth) set -- 2 65536 4194304 ;;
    cxx_churn)    set -- 2 5000 500 42 ;;
    rss_timeline) set -- 50 50 42 4 4 4 10 ;;
    *) echo "smoke: unknown workload '$workload'" >&2; exit 99 ;;
esac

out=$(LD_PRELOAD="$lib" "$prog" "$@")
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
    echo "smoke: $workload exited with status $rc" >&2
    exit 1
fi
line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
if [ -z "$line" ]; then
    echo "smoke: $workload printed no RESULT line" >&2
    exit 1
fi

# value KEY: the value of KEY=... in the result line ('' when absent)
value() {
    printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}
for key in bench ops secs ops_per_s ns_per_op allocs maxrss_kb minflt hakmem_nmalloc allocator_lib; do
    if [ -z "$(value $key)" ]; then
        echo "smoke: the result line has no $key: $line" >&2
        exit 1
    fi
done
for key in ops allocs maxrss_kb minflt; do
    case $(value $key) in
        *[!0-9]*) echo "smoke: $key is not a number: $line" >&2; exit 1 ;;
    esac
done
if [ "$(value bench)" != "$workload" ]; then
    echo "smoke: expected bench=$workload: $line" >&2
    exit 1
fi
libname=$(basename "$lib")
case $(value allocator_lib) in
    "${libname%%.so*}".so*) ;;
    *) echo "smoke: malloc came from $(value allocator_lib), not $libname" >&2; exit 1 ;;
esac
nmalloc=$(value hakmem_nmalloc)
case $nmalloc in
    ''|*[!0-9]*)
        echo "smoke: hakmem_nmalloc=$nmalloc: hakmem_ctl missing or failing" >&2
        exit 1 ;;
esac
allocs=$(value allocs)
if [ "$nmalloc" -lt "$allocs" ]; then
    echo "smoke: hakmem served $nmalloc allocations, fewer than the $allocs made" >&2
    exit 1
fi
exit 0
