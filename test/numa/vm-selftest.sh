#!/usr/bin/env bash
# checks are written `cond && pass ... || fail ...`; pass never fails:
# shellcheck disable=SC2015
# test/numa/vm-selftest.sh: prove that vm-run.sh gives a real two-node NUMA
# machine.
#
#   vm-selftest.sh [--quick] [--keep]
#
# Builds numa-selftest.c (libnuma) and preload-probe.c (an LD_PRELOAD
# malloc shim) with gcc, then boots the VM once and runs there
#   numactl --hardware
#   numa-selftest               (CPU->node via sched_getcpu/getcpu/libnuma,
#                                node sizes, numa_alloc_onnode(...,1) page on
#                                node 1 by move_pages and get_mempolicy,
#                                mbind, migration, first-touch placement)
#   LD_PRELOAD=preload-probe.so numa-selftest --quick
# and checks the output: 2 nodes of ~512 MiB, CPUs 0-1 on node 0 and 2-3 on
# node 1, the page on node 1, the preload library loaded.  Without --quick
# two more boots check that vm-run.sh passes the command's exit status
# through and that --timeout kills the guest (exit 124, no qemu left).
#
# Exit status: 0 all passed; 77 skipped (qemu, the kernel, gcc or libnuma-dev
# cannot be installed/fetched); 1 a check failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vm-common.sh
. "$here/vm-common.sh"

quick=0
keep=0
for a in "$@"; do
    case $a in
        --quick) quick=1 ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '/^# test\/numa/,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) vm_err "unknown argument: $a"; exit 1 ;;
    esac
done

skip() { echo "SKIP: $*"; exit 77; }

# ------------------------------------------------------------ prerequisites
"$here/vm-setup.sh"
rc=$?
if [ "$rc" = 77 ]; then
    skip "vm-setup.sh could not get qemu or the kernel"
elif [ "$rc" != 0 ]; then
    echo "FAIL: vm-setup.sh exited $rc"
    exit 1
fi
dev=()
command -v gcc >/dev/null 2>&1 || dev+=(gcc libc6-dev)
[ -e /usr/include/numa.h ] || dev+=(libnuma-dev)
if [ "${#dev[@]}" -gt 0 ]; then
    vm_apt_install "${dev[@]}" || skip "cannot install ${dev[*]}"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-vm-selftest.XXXXXX") || exit 1
tmp=$(realpath -- "$tmp")
cleanup() {
    if [ "$keep" = 1 ]; then
        echo "kept: $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/bin" "$tmp/vmtmp"
if ! gcc -O2 -Wall -o "$tmp/bin/numa-selftest" "$here/numa-selftest.c" -lnuma ||
    ! gcc -O2 -Wall -shared -fPIC -o "$tmp/bin/preload-probe.so" "$here/preload-probe.c"; then
    echo "FAIL: cannot compile the test programs"
    exit 1
fi

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# vm-run.sh's own temp files go under $tmp/vmtmp, so the qemu processes it
# starts carry that path on their command line and can be looked for.
vmrun() { TMPDIR="$tmp/vmtmp" "$here/vm-run.sh" "$@"; }

# ------------------------------------------------------------- main boot
bin=$tmp/bin
guest_script="echo numa_balancing=\$(cat /proc/sys/kernel/numa_balancing);
numactl --hardware; echo \"numactl-rc=\$?\";
$bin/numa-selftest; echo \"selftest-rc=\$?\";
LD_PRELOAD=$bin/preload-probe.so $bin/numa-selftest --quick >/dev/null; echo \"preload-rc=\$?\""

echo "== booting the VM: numactl --hardware, numa-selftest, LD_PRELOAD run"
t0=$(date +%s.%N)
vmrun --timeout 180 --file "$bin" -- sh -c "$guest_script" 2>&1 | tee "$tmp/out.txt"
vrc=${PIPESTATUS[0]}
t1=$(date +%s.%N)
boot_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
echo "== vm-run.sh exited $vrc after $boot_s s"
out=$(cat "$tmp/out.txt")

[ "$vrc" = 0 ] && pass "vm-run.sh exit status 0" || fail "vm-run.sh exit status $vrc"
grep -q '^numactl-rc=0$' <<<"$out" && pass "numactl --hardware runs in the guest" ||
    fail "numactl --hardware failed in the guest"
grep -q '^numa_balancing=0$' <<<"$out" && pass "automatic NUMA balancing is off" ||
    fail "numa_balancing is not 0 in the guest"
grep -q '^available: 2 nodes (0-1)' <<<"$out" && pass "numactl: 2 nodes" ||
    fail "numactl does not report 'available: 2 nodes (0-1)'"
grep -qE '^node 0 cpus: 0 1 *$' <<<"$out" && grep -qE '^node 1 cpus: 2 3 *$' <<<"$out" &&
    pass "numactl: CPUs 0-1 on node 0, 2-3 on node 1" ||
    fail "numactl: wrong CPU lists"
for n in 0 1; do
    size=$(sed -n "s/^node $n size: \([0-9]*\) MB.*/\1/p" <<<"$out")
    if [ -n "$size" ] && [ "$size" -ge 384 ] && [ "$size" -le 512 ]; then
        pass "numactl: node $n has $size MB (~512)"
    else
        fail "numactl: node $n size '${size:-?}' MB is not ~512"
    fi
done
grep -q '^selftest-rc=0$' <<<"$out" && pass "numa-selftest: all checks ok" ||
    fail "numa-selftest reported failures"
grep -qE '^ok: numa_alloc_onnode\(16 pages, node 1\).*move_pages says node 1 .*get_mempolicy says node 1$' <<<"$out" &&
    pass "numa_alloc_onnode(...,1): page on node 1" ||
    fail "numa_alloc_onnode(...,1): page not shown on node 1"
for cpu in 0 1 2 3; do
    want=$((cpu / 2))
    grep -qE "^ok: cpu $cpu: sched_getcpu=$cpu getcpu=\(cpu $cpu, node $want\)" <<<"$out" &&
        pass "getcpu: cpu $cpu on node $want" || fail "getcpu: cpu $cpu not on node $want"
done
grep -q '^preload-rc=0$' <<<"$out" && grep -qE '^preload-probe: loaded, [1-9][0-9]* malloc calls' <<<"$out" &&
    pass "LD_PRELOAD library loaded and interposed malloc" ||
    fail "LD_PRELOAD run failed"

# ------------------------------------------------- exit status and timeout
if [ "$quick" = 0 ]; then
    echo "== booting the VM: exit status pass-through"
    vmrun --timeout 120 -- sh -c 'echo to-stdout; echo to-stderr >&2; exit 42' >"$tmp/rc.txt" 2>&1
    vrc=$?
    cat "$tmp/rc.txt"
    [ "$vrc" = 42 ] && grep -q '^to-stdout$' "$tmp/rc.txt" && grep -q '^to-stderr$' "$tmp/rc.txt" &&
        pass "exit status 42 and output passed through" ||
        fail "exit status pass-through: got $vrc"

    echo "== booting the VM: --timeout 5 -- sleep 600"
    t0=$(date +%s)
    vmrun --timeout 5 -- sleep 600 >"$tmp/to.txt" 2>&1
    vrc=$?
    t1=$(date +%s)
    sed -n 1p "$tmp/to.txt"
    [ "$vrc" = 124 ] && [ $((t1 - t0)) -lt 30 ] &&
        pass "timeout: exit 124 after $((t1 - t0)) s" ||
        fail "timeout: exit $vrc after $((t1 - t0)) s (want 124 within 30 s)"
    if pgrep -f -- "$tmp/vmtmp" >/dev/null 2>&1; then
        fail "processes left behind: $(pgrep -af -- "$tmp/vmtmp" | cut -c1-120)"
    else
        pass "no qemu or helper process left behind"
    fi
    left=$(find "$tmp/vmtmp" -mindepth 1 -maxdepth 1 | wc -l)
    [ "$left" = 0 ] && pass "vm-run.sh temp directories removed" ||
        fail "$left vm-run.sh temp directories left"
fi

echo "main boot (boot + tests + poweroff, wall clock): $boot_s s"
echo "vm-selftest: $passed passed, $failed failed"
[ "$failed" = 0 ]
