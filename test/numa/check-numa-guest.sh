#!/bin/sh
# test/numa/check-numa-guest.sh: the part of `make check-numa` that runs
# inside the two-node VM (busybox sh). Called by check-numa.sh as
#
#   check-numa-guest.sh PLACEMENT TOPOLOGY
#
# PLACEMENT: the numa_placement binary (linked with libhakmem.so, found
# through LD_LIBRARY_PATH); TOPOLOGY: the test_topology binary.
# Runs numa_placement once per scenario (arena modes, numa.policy, numactl
# policies) and test_topology, passes their PASS/FAIL/SKIP lines through,
# and adds a FAIL line for a run that exits abnormally (a crash, a hang
# killed by the host's timeout shows as no "DONE" line). Exit 0 when every
# run exited 0 (or 77), 1 otherwise.
set -u
placement=${1:?usage: check-numa-guest.sh PLACEMENT TOPOLOGY}
topology=${2:?usage: check-numa-guest.sh PLACEMENT TOPOLOGY}
bad=0

# run NAME COMMAND...: one run, its verdict lines through, its exit status
# checked.
run() {
    name=$1
    shift
    echo "== $name: $*"
    "$@"
    rc=$?
    case $rc in
        0) ;;
        77) echo "SKIP: $name: skipped itself" ;;
        1) bad=1 ;; # its own FAIL lines say why
        *) echo "FAIL: $name: exited with status $rc (signal $((rc > 128 ? rc - 128 : 0)))"
           bad=1 ;;
    esac
}

echo "guest: $(uname -r), numa_balancing=$(cat /proc/sys/kernel/numa_balancing 2>/dev/null)"
numactl --hardware | sed -n '1,3p'

run percpu       "$placement" percpu
run pernode      env HAKMEM_CONF=opt.arenas=pernode "$placement" pernode
run count        env HAKMEM_CONF=opt.narenas=6 "$placement" count
run strict       env HAKMEM_CONF=numa.policy=bind "$placement" strict
run membind1     numactl --membind=1 "$placement" membind1
run preferred1   numactl --preferred=1 "$placement" preferred1
run interleave   numactl --interleave=all "$placement" interleave
run cpunodebind1 numactl --cpunodebind=1 "$placement" cpunodebind1

# The unit test on a real two-node machine: tables, and placements on the
# missing node 3 refused and counted while node 0 and 1 bind.
echo "== topology: $topology"
"$topology" >/tmp/topology.out 2>&1
rc=$?
sed 's/^/  /' /tmp/topology.out
if [ "$rc" = 0 ]; then
    echo "PASS: topology: test_topology on two nodes ($(tail -n 1 /tmp/topology.out))"
else
    echo "FAIL: topology: test_topology exited $rc ($(tail -n 1 /tmp/topology.out))"
    bad=1
fi
echo "DONE"
exit "$bad"
