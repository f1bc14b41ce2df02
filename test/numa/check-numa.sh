#!/usr/bin/env bash
# test/numa/check-numa.sh: `make check-numa` - hakmem's NUMA placement on a
# real two-node machine (the qemu VM of vm-run.sh: node 0 = CPUs 0-1,
# node 1 = CPUs 2-3).
#
#   check-numa.sh [--builddir DIR] [--timeout S] [-v]
#
# DIR is a configured and built hakmem tree with test/numa/numa_placement and
# test/test_topology built ($abs_top_builddir when set, else the current
# directory; `make check-numa` builds them). One boot runs
# check-numa-guest.sh, which runs numa_placement under each arena mode and
# numactl policy and test_topology (see those files for the checks).
#
# Prints every check as "PASS: ...", "FAIL: ..." or "SKIP: ..." and ends
# with one line:
#   check-numa: PASS (N passed, 0 failed, N skipped)
#   check-numa: FAIL (N passed, N failed, N skipped)
#   check-numa: SKIP (why)
# Exit status 0 passed, 1 failed, 77 skipped (qemu or the guest kernel cannot
# be had: see vm-setup.sh).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
builddir=${abs_top_builddir:-$PWD}
timeout=${HAKMEM_VM_TIMEOUT:-400}
verbose=()
while [ $# -gt 0 ]; do
    case $1 in
        --builddir) builddir=${2:?--builddir needs a directory}; shift 2 ;;
        --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
        -v) verbose=(-v); shift ;;
        -h|--help) sed -n '/^# test\/numa/,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "check-numa: unknown argument: $1" >&2; exit 2 ;;
    esac
done
abs=$(cd "$builddir" 2>/dev/null && pwd) || {
    echo "check-numa: FAIL (no build directory $builddir)"
    exit 1
}
builddir=$abs

skip() { echo "check-numa: SKIP ($*)"; exit 77; }
die() { echo "check-numa: FAIL ($*)"; exit 1; }

# ------------------------------------------------------------ the build
lib=$builddir/.libs/libhakmem.so
topo_mod=$builddir/.libs/hakmem-topo.so
# libtool: test/numa/numa_placement is a wrapper script around
# test/numa/.libs/numa_placement when libhakmem is shared.
placement=$builddir/test/numa/.libs/numa_placement
[ -x "$placement" ] || placement=$builddir/test/numa/numa_placement
topology=$builddir/test/test_topology
[ -x "$builddir/test/.libs/test_topology" ] && topology=$builddir/test/.libs/test_topology
for f in "$lib" "$topo_mod" "$placement" "$topology"; do
    [ -e "$f" ] || die "$f is missing: run 'make check-numa' in the build tree"
done
head -c 4 "$placement" | grep -q ELF || die "$placement is not an ELF program"

# ------------------------------------------------------------ the VM
"$here/vm-setup.sh" --quiet
rc=$?
if [ "$rc" = 77 ]; then
    skip "vm-setup.sh cannot get qemu or the guest kernel"
elif [ "$rc" != 0 ]; then
    die "vm-setup.sh exited $rc"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-check-numa.XXXXXX") || die "mktemp"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

files=(--file "$builddir/.libs" --file "$(dirname "$placement")" --file "$topology"
       --file "$here/check-numa-guest.sh")
echo "== check-numa: booting the two-node VM (build tree $builddir)"
t0=$(date +%s)
# LD_LIBRARY_PATH: for ldd on the host (vm-run.sh copies what it lists) and
# for the program in the guest, as libtool's wrapper would set it.
LD_LIBRARY_PATH="$builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$here/vm-run.sh" "${verbose[@]}" --timeout "$timeout" "${files[@]}" \
    --env "LD_LIBRARY_PATH=$builddir/.libs" --cwd /tmp \
    -- sh "$here/check-numa-guest.sh" "$placement" "$topology" 2>&1 | tee "$tmp/out.txt"
vrc=${PIPESTATUS[0]}
t1=$(date +%s)

case $vrc in
    77) skip "vm-run.sh: prerequisites unavailable" ;;
    124) echo "FAIL: vm: the guest timed out or died after $((t1 - t0)) s (see above)" \
             >>"$tmp/out.txt" ;;
    125) die "vm-run.sh could not start the guest" ;;
esac
grep -q '^DONE$' "$tmp/out.txt" || echo "FAIL: vm: the guest script did not finish" >>"$tmp/out.txt"
[ "$vrc" = 0 ] || [ "$vrc" = 1 ] || [ "$vrc" = 124 ] ||
    echo "FAIL: vm: vm-run.sh exited $vrc" >>"$tmp/out.txt"

npass=$(grep -c '^PASS: ' "$tmp/out.txt")
nfail=$(grep -c '^FAIL: ' "$tmp/out.txt")
nskip=$(grep -c '^SKIP: ' "$tmp/out.txt")
[ "$vrc" = 1 ] && [ "$nfail" = 0 ] && nfail=1 # a failed run that said nothing
echo
if [ "$nfail" -gt 0 ]; then
    echo "failed checks:"
    grep '^FAIL: ' "$tmp/out.txt" | sed 's/^/  /'
fi
summary="$npass passed, $nfail failed, $nskip skipped; VM run $((t1 - t0)) s"
if [ "$nfail" -gt 0 ]; then
    echo "check-numa: FAIL ($summary)"
    exit 1
elif [ "$npass" = 0 ]; then
    echo "check-numa: SKIP (no check ran; $summary)"
    exit 77
fi
echo "check-numa: PASS ($summary)"
exit 0
