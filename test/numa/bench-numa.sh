#!/usr/bin/env bash
# test/numa/bench-numa.sh: `make bench-numa` - bench/numa_local in the
# two-node VM of vm-run.sh under hakmem, glibc, jemalloc and mimalloc.
#
#   bench-numa.sh [--builddir DIR] [--out FILE] [--rounds N]
#                 [--args "THREADS GENERATIONS WSET_KIB PASSES SEED"]
#                 [--timeout S] [-v]
#
# DIR: a built hakmem tree ($abs_top_builddir, else the current directory).
# One boot runs every allocator N times (default 5), interleaved (round 1:
# hakmem glibc jemalloc mimalloc, round 2: the same ...), each with the same
# arguments (default "0 8 4096 2 42": a thread per CPU, 8 rounds of threads,
# 4 MiB working set each, 2 passes). Allocators whose library is not
# installed on the host are left out (jemalloc: libjemalloc2, mimalloc:
# libmimalloc2.0). Prints a table of the median local-page share and time
# per allocator, and writes it with the raw RESULT lines to FILE (default:
# bench/results/numa.md in the source tree).
#
# The VM is emulated (TCG): remote memory costs no more than local memory
# there, so the time column shows allocator overhead under emulation, not
# the NUMA penalty; the local-page share is what the kernel really did.
#
# Exit status: 0 ok, 1 a run failed, 77 the VM cannot be had.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
builddir=${abs_top_builddir:-$PWD}
out=$srcdir/bench/results/numa.md
rounds=5
args="0 8 4096 2 42"
timeout=${HAKMEM_VM_TIMEOUT:-600}
verbose=()
while [ $# -gt 0 ]; do
    case $1 in
        --builddir) builddir=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --args) args=${2:?}; shift 2 ;;
        --timeout) timeout=${2:?}; shift 2 ;;
        -v) verbose=(-v); shift ;;
        -h|--help) sed -n '/^# test\/numa/,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-numa: unknown argument: $1" >&2; exit 2 ;;
    esac
done
builddir=$(cd "$builddir" && pwd) || exit 1
case $rounds in ''|*[!0-9]*|0) echo "bench-numa: --rounds wants a positive number" >&2; exit 2 ;; esac

prog=$builddir/bench/numa_local
hakmem=$builddir/.libs/libhakmem.so
libdir=/usr/lib/x86_64-linux-gnu
for f in "$prog" "$hakmem"; do
    [ -e "$f" ] || { echo "bench-numa: $f is missing (run make)" >&2; exit 1; }
done

# name=LD_PRELOAD value ('' for glibc)
allocs=("hakmem=$hakmem" "glibc=")
files=(--file "$builddir/.libs" --file "$prog")
for peer in jemalloc:libjemalloc.so.2 mimalloc:libmimalloc.so.2; do
    name=${peer%%:*}
    so=$libdir/${peer#*:}
    if [ -e "$so" ]; then
        allocs+=("$name=$so")
        files+=(--file "$so")
    else
        echo "bench-numa: $so not installed: $name left out" >&2
    fi
done

"$here/vm-setup.sh" --quiet
rc=$?
[ "$rc" = 77 ] && { echo "bench-numa: SKIP (vm-setup.sh cannot get qemu or the kernel)"; exit 77; }
[ "$rc" = 0 ] || { echo "bench-numa: vm-setup.sh exited $rc" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-bench-numa.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# The guest script: every round runs each allocator once.
{
    echo 'uname -r | sed "s/^/kernel: /"'
    echo 'numactl --hardware | sed -n "1,5p"'
    echo "r=1; while [ \$r -le $rounds ]; do"
    for a in "${allocs[@]}"; do
        name=${a%%=*}
        so=${a#*=}
        echo "  printf 'round=%s alloc=$name ' \$r"
        echo "  env ${so:+LD_PRELOAD=$so} $prog $args 2>&1 | grep -E '^RESULT|error' || echo 'RESULT-MISSING'"
    done
    # shellcheck disable=SC2016 # expanded in the guest
    echo '  r=$((r + 1))'
    echo 'done'
    echo 'echo DONE'
} >"$tmp/guest.sh"

echo "== bench-numa: $rounds round(s) of numa_local $args under ${allocs[*]%%=*}" >&2
t0=$(date +%s)
"$here/vm-run.sh" "${verbose[@]}" --timeout "$timeout" "${files[@]}" --file "$tmp/guest.sh" \
    -- sh "$tmp/guest.sh" | tee "$tmp/out.txt"
vrc=${PIPESTATUS[0]}
t1=$(date +%s)
[ "$vrc" = 77 ] && { echo "bench-numa: SKIP (vm-run.sh: prerequisites unavailable)"; exit 77; }
if [ "$vrc" != 0 ] || ! grep -q '^DONE$' "$tmp/out.txt"; then
    echo "bench-numa: the VM run failed (vm-run.sh exit $vrc)" >&2
    exit 1
fi
if grep -q 'RESULT-MISSING\|error' "$tmp/out.txt"; then
    echo "bench-numa: a run printed no RESULT line (see above)" >&2
    exit 1
fi

# The table: medians over the rounds.
table=$(awk -v order="$(printf '%s ' "${allocs[@]%%=*}")" '
    function val(k,   i, kv) {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] }
        return ""
    }
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function minmax(list,   n, a, i, lo, hi) {
        n = split(list, a, " "); lo = hi = a[1]
        for (i = 2; i <= n; i++) { if (a[i] + 0 < lo + 0) lo = a[i]; if (a[i] + 0 > hi + 0) hi = a[i] }
        return lo == hi ? lo : lo "-" hi
    }
    /^round=/ {
        a = val("alloc")
        pct[a] = pct[a] " " val("local_pct"); secs[a] = secs[a] " " val("secs")
        pages[a] = val("pages"); nodes[a] = val("nodes"); lib[a] = val("allocator_lib")
        n[a]++
    }
    END {
        print "| allocator | local pages (median) | range | pages | nodes | time, s (median) | runs | malloc from |"
        print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        k = split(order, names, " ")
        for (i = 1; i <= k; i++) {
            a = names[i]
            if (!(a in n)) continue
            printf "| %s | %.1f %% | %s | %s | %s | %.3f | %d | %s |\n", a, median(pct[a]),
                   minmax(pct[a]), pages[a], nodes[a], median(secs[a]), n[a], lib[a]
        }
    }' "$tmp/out.txt")

echo
echo "$table"

mkdir -p "$(dirname "$out")"
commit=$(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "# NUMA locality: bench/numa_local in the two-node VM"
    echo
    echo "Generated by \`make bench-numa\` (test/numa/bench-numa.sh) on $(date -u +%Y-%m-%d),"
    echo "hakmem $commit. VM: qemu TCG, 2 sockets x 2 cores, node 0 = CPUs 0-1,"
    echo "node 1 = CPUs 2-3, 512 MiB each (test/numa/README.md)."
    echo "Arguments: \`numa_local $args\` (THREADS GENERATIONS WSET_KIB PASSES SEED),"
    echo "$rounds round(s), allocators interleaved; VM run $((t1 - t0)) s."
    echo
    echo "$table"
    echo
    echo "*local pages*: share of the working-set pages on the node of the thread"
    echo "that allocated them (move_pages). *time*: the sum over the generations of"
    echo "the slowest thread's allocate + write + passes + free; under emulation"
    echo "remote memory is not slower, so it shows allocator overhead only."
    echo
    echo "Raw result lines:"
    echo
    echo '```'
    grep '^round=' "$tmp/out.txt"
    echo '```'
} >"$out"
echo
echo "bench-numa: wrote $out"
