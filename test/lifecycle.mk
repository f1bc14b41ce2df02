## test/lifecycle.mk - tests of the allocator's lifecycle edges and of ctl and
## conf corner cases. Included by test/local.mk (after its TEST_CFLAGS).
##
##   test/test_lifecycle   thread start and exit: free() as a thread's first
##                         call, key destructors that run after hakmem's own
##                         thread teardown (free, aligned and plain allocation),
##                         a first allocation in the last destructor round;
##                         fork (tst-malloc-fork-deadlock's and tst-mallocfork2's
##                         scenarios, a fork storm); pointers hakmem did not
##                         allocate; immediate double frees; an interior pointer
##                         freed before thread exit; thread.arena writes that
##                         must stick. Every risky case runs in a child process
##                         under a watchdog: a crash or hang is one failure.
##   test/test_ctl_edges   conf entries with topology-indexed keys, errno kept
##                         by hakmem_ctl, number suffixes without digits, conf
##                         diagnostics that cannot forge lines and name long
##                         entries, epoch and thread.arena range errors,
##                         statistics printing that loads no hwloc,
##                         background_thread=false in the conf string.
##   test/man_render.sh    doc/hakmem.3 renders its words apart (groff; skipped
##                         without it).

check_PROGRAMS += test/test_lifecycle test/test_ctl_edges

test_test_lifecycle_SOURCES = test/test_lifecycle.c test/expect.h test/child.h
test_test_lifecycle_CFLAGS = $(TEST_CFLAGS)
test_test_lifecycle_LDADD = libhakmem.la -lpthread -ldl

test_test_ctl_edges_SOURCES = test/test_ctl_edges.c test/expect.h
test_test_ctl_edges_CFLAGS = $(TEST_CFLAGS)
test_test_ctl_edges_LDADD = libhakmem.la -lpthread -ldl

TESTS += test/test_lifecycle test/test_ctl_edges test/man_render.sh
EXTRA_DIST += test/man_render.sh

# test/test_glibc_extras: mallinfo2/mallinfo, malloc_trim (RSS from /proc),
# malloc_stats, malloc_info and mallopt answer for hakmem's heap.
check_PROGRAMS += test/test_glibc_extras
test_test_glibc_extras_SOURCES = test/test_glibc_extras.c test/expect.h
test_test_glibc_extras_CFLAGS = $(TEST_CFLAGS)
test_test_glibc_extras_LDADD = libhakmem.la -lpthread
TESTS += test/test_glibc_extras

# test/test_pages: the page layer (80,000 live 40 KB blocks and up to a
# million mixed ones with few mappings, realloc across every tier, freed
# memory usable again under an address-space limit, cross-thread frees and
# fork with span blocks live, alignment up to 1 GiB).
check_PROGRAMS += test/test_pages
test_test_pages_SOURCES = test/test_pages.c test/expect.h
test_test_pages_CFLAGS = $(TEST_CFLAGS)
test_test_pages_LDADD = libhakmem.la -lpthread
TESTS += test/test_pages
# test/test_limits: regression tests of review findings, most under an
# address-space limit (RLIMIT_AS): fork while an arena takes units of another
# arena's SuperSlab, errno after allocations that needed a reclaim or a stolen
# unit, stats.resident of SuperSlabs with holes, mallinfo2 and the large
# slot, mallopt(M_ARENA_MAX) moving threads, a stale pointer after a failed
# huge malloc, and the statistics reader against exiting threads' robust
# mutexes (pthread_mutex_* interposed by the program itself, so exported).
check_PROGRAMS += test/test_limits
test_test_limits_SOURCES = test/test_limits.c test/expect.h test/child.h
test_test_limits_CFLAGS = $(TEST_CFLAGS)
test_test_limits_LDFLAGS = -export-dynamic
test_test_limits_LDADD = libhakmem.la -lpthread -ldl
TESTS += test/test_limits

# test/test_decay: memory returns within decay_ms + slack (VmRSS from /proc):
# steady traffic after a 256 MiB free, an arena whose threads went idle, an
# idle process with the background thread, an idle consumer's remote buffer,
# an idle thread cache, decay_ms=0 and -1, background_thread on/off and fork.
check_PROGRAMS += test/test_decay
test_test_decay_SOURCES = test/test_decay.c test/expect.h test/child.h
test_test_decay_CFLAGS = $(TEST_CFLAGS)
test_test_decay_LDADD = libhakmem.la -lpthread
TESTS += test/test_decay

# test/test_remote: the cross-thread path (blocks freed by threads of another
# arena, on their slab's remote list): double and interior frees stopped with
# the pointer named, producers and consumers of two arenas with stamped blocks
# under a malloc_trim loop, fork in a loop during remote frees.
check_PROGRAMS += test/test_remote
test_test_remote_SOURCES = test/test_remote.c test/expect.h test/child.h
test_test_remote_CFLAGS = $(TEST_CFLAGS)
test_test_remote_LDADD = libhakmem.la -lpthread
TESTS += test/test_remote
