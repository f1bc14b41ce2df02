## test/numa.mk - topology and NUMA placement tests. Included by
## test/local.mk (after its TEST_CFLAGS, TESTS and SH_LOG_COMPILER).
##
##   test/test_topology    (make check) the topology table and arena mapping
##                         on hwloc synthetic and XML machines (1, 2, 4 nodes,
##                         sparse node and CPU ids, numactl-like masks), and
##                         placement on a node the host lacks degrading
##                         cleanly. Links the hwloc module's reader
##                         (src/topo_hwloc.c) and libhakmem_core.la.
##   test/numa/smoke-numa_local.sh  (make check) bench/numa_local, tiny.
##   make check-numa       boots the two-node VM of test/numa (qemu, TCG) and
##                         runs test/numa/numa_placement in it under the arena
##                         modes and numactl policies, and test_topology
##                         there; prints PASS/FAIL/SKIP per check and a
##                         summary; exit 77 (skip) without qemu or a kernel.
##                         See test/numa/README.md and doc/topology.md.

check_PROGRAMS += test/test_topology test/numa/numa_placement

test_test_topology_SOURCES = test/test_topology.c test/expect.h src/topo_hwloc.c
test_test_topology_CFLAGS = $(TEST_CFLAGS) $(HWLOC_CFLAGS)
test_test_topology_LDADD = libhakmem_core.la $(HWLOC_LIBS) -lpthread

# Built by `make check` so that it keeps compiling; run only in the VM.
test_numa_numa_placement_SOURCES = test/numa/numa_placement.c
test_numa_numa_placement_CFLAGS = $(TEST_CFLAGS)
test_numa_numa_placement_LDADD = libhakmem.la -lpthread

# smoke-numa_local.sh: bench/numa_local (bench/numa.mk) once, tiny, under
# hakmem on this machine; the VM comparison is `make bench-numa`.
TESTS += test/test_topology test/numa/smoke-numa_local.sh

NUMA_SH_FILES = \
	test/numa/vm-common.sh \
	test/numa/vm-setup.sh \
	test/numa/vm-run.sh \
	test/numa/vm-selftest.sh \
	test/numa/check-numa.sh \
	test/numa/check-numa-guest.sh \
	test/numa/bench-numa.sh \
	test/numa/smoke-numa_local.sh
EXTRA_DIST += $(NUMA_SH_FILES) test/numa/README.md test/numa/numa-selftest.c \
	test/numa/preload-probe.c

# The last line of the output is "check-numa: PASS|FAIL|SKIP (...)". A skip
# (no qemu or kernel: the script's exit status 77) makes `make check-numa`
# succeed, as a skipped test does in `make check`; CI reads the last line, or
# runs the script itself to get the 77. HAKMEM_VM_TIMEOUT and the other
# test/numa knobs pass through the environment; CHECK_NUMA_ARGS (-v) too.
.PHONY: check-numa
check-numa: all test/test_topology test/numa/numa_placement
	@abs_top_builddir='$(abs_top_builddir)' abs_top_srcdir='$(abs_top_srcdir)' \
	$(SHELL) $(abs_top_srcdir)/test/numa/check-numa.sh $(CHECK_NUMA_ARGS); \
	rc=$$?; test $$rc = 77 && rc=0; exit $$rc
