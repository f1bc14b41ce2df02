## test/dropin.mk - hakmem in place of other allocators, for their users:
## C++'s operators new and delete, jemalloc's API, glibc's __libc_ names, and
## a jemalloc program (redis-server) under LD_PRELOAD. Included by
## test/local.mk (after its TEST_CFLAGS).
##
##   test/test_cxx_shared, test_cxx_static, test_cxx_asneeded
##                      test/test_cxx.cc linked with libhakmem.so, with
##                      libhakmem.a, and with -Wl,--as-needed (then the
##                      program names nothing of hakmem's but the operators):
##                      every operator is hakmem's and hakmem served every new
##   test/test_cxx.sh   the same program built without hakmem, under
##                      LD_PRELOAD (and failing without it); no libstdc++ in
##                      libhakmem.so or in a C program linked with it; the
##                      operators in libhakmem.a; the static program holds
##                      them, the --as-needed one keeps libhakmem.so NEEDED
##   test/test_cxx_plugin  a C++ module opened with RTLD_LOCAL by a C program
##   test/test_jemalloc jemalloc's API and the __libc_ names (below)
##   test/test_redis.sh redis-server on hakmem through jemalloc's API (below)

TEST_CXXFLAGS = -std=gnu++17 -Wall -Wextra -Wno-unused-parameter -fno-builtin -pthread \
	$(UBSAN_CFLAGS)

check_PROGRAMS += test/test_cxx_shared test/test_cxx_static test/test_cxx_asneeded \
	test/test_cxx_plain

test_test_cxx_shared_SOURCES = test/test_cxx.cc test/expect.h
test_test_cxx_shared_CPPFLAGS = $(AM_CPPFLAGS) -DHAKMEM_LINKED
test_test_cxx_shared_CXXFLAGS = $(TEST_CXXFLAGS)
test_test_cxx_shared_LDADD = libhakmem.la -ldl

# libtool's -static: uninstalled libtool libraries are linked from their
# archive (.libs/libhakmem.a), system libraries stay shared.
test_test_cxx_static_SOURCES = test/test_cxx.cc test/expect.h
test_test_cxx_static_CPPFLAGS = $(AM_CPPFLAGS) -DHAKMEM_LINKED
test_test_cxx_static_CXXFLAGS = $(TEST_CXXFLAGS)
test_test_cxx_static_LDFLAGS = -static
test_test_cxx_static_LDADD = libhakmem.la -ldl

test_test_cxx_asneeded_SOURCES = test/test_cxx.cc test/expect.h
test_test_cxx_asneeded_CPPFLAGS = $(AM_CPPFLAGS) -DCXX_NEW_ONLY
test_test_cxx_asneeded_CXXFLAGS = $(TEST_CXXFLAGS)
test_test_cxx_asneeded_LDFLAGS = -Wl,--as-needed
test_test_cxx_asneeded_LDADD = libhakmem.la -ldl

test_test_cxx_plain_SOURCES = test/test_cxx.cc test/expect.h
test_test_cxx_plain_CXXFLAGS = $(TEST_CXXFLAGS)
test_test_cxx_plain_LDADD = -ldl

# test/test_cxx_plugin: a C program linked with hakmem opens a C++ module
# with RTLD_LOCAL (its libstdc++ outside the global scope): the module's new
# is hakmem's, with std::bad_alloc and its new-handler.
check_LTLIBRARIES = test/cxx_plugin.la
test_cxx_plugin_la_SOURCES = test/cxx_plugin.cc
test_cxx_plugin_la_CXXFLAGS = $(TEST_CXXFLAGS)
test_cxx_plugin_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere

check_PROGRAMS += test/test_cxx_plugin
test_test_cxx_plugin_SOURCES = test/test_cxx_plugin.c test/expect.h
test_test_cxx_plugin_CFLAGS = $(TEST_CFLAGS)
test_test_cxx_plugin_LDADD = libhakmem.la -ldl
EXTRA_test_test_cxx_plugin_DEPENDENCIES = test/cxx_plugin.la

TESTS += test/test_cxx_shared test/test_cxx_static test/test_cxx_asneeded test/test_cxx.sh \
	test/test_cxx_plugin
EXTRA_DIST += test/test_cxx.sh

# test/test_jemalloc: jemalloc's API (mallctl and its MIBs and error codes,
# nallocx against real allocations, mallocx/rallocx/xallocx/sallocx/dallocx/
# sdallocx and their flags, arena.4096.purge and VmRSS, malloc_stats_print
# text and JSON) and glibc's __libc_ names.
check_PROGRAMS += test/test_jemalloc
test_test_jemalloc_SOURCES = test/test_jemalloc.c test/expect.h
test_test_jemalloc_CFLAGS = $(TEST_CFLAGS)
test_test_jemalloc_LDADD = libhakmem.la -lpthread
TESTS += test/test_jemalloc

# test/test_redis.sh: Debian's redis-server (which links libjemalloc and calls
# mallctl, nallocx and malloc_stats_print) under LD_PRELOAD: INFO memory's
# allocator_* figures are hakmem's, MEMORY DOCTOR is content, DEBUG DIGEST
# survives DEBUG RELOAD and equals redis-on-jemalloc's, MEMORY PURGE gives a
# flushed data set back. Skipped without redis-server.
TESTS += test/test_redis.sh
EXTRA_DIST += test/test_redis.sh
