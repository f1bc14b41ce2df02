## test/local.mk - the test suite (included by the top Makefile.am).
##
## Programs link libhakmem.la (so malloc & co. are hakmem's) or, for unit
## tests of internal modules, libhakmem_core.la. Shell tests (*.sh) run
## through SH_LOG_COMPILER with abs_top_builddir / abs_top_srcdir exported.
## Exit status 77 is automake's SKIP.

# The tests call malloc/free pairs whose results they do not use, and
# malloc(SIZE_MAX): keep GCC from folding them away.
TEST_CFLAGS = $(AM_CFLAGS) -fno-builtin -pthread

check_PROGRAMS += \
	test/test_api \
	test/test_stress \
	test/test_stress_plain \
	test/test_sizeclass \
	test/test_superslab

test_test_api_SOURCES = test/test_api.c test/expect.h
test_test_api_CFLAGS = $(TEST_CFLAGS)
test_test_api_LDADD = libhakmem.la

test_test_stress_SOURCES = test/test_stress.c test/expect.h
test_test_stress_CPPFLAGS = $(AM_CPPFLAGS) -DHAKMEM_LINKED
test_test_stress_CFLAGS = $(TEST_CFLAGS)
test_test_stress_LDADD = libhakmem.la -lpthread

# The same stress test without hakmem, for LD_PRELOAD (test/stress_preload.sh).
test_test_stress_plain_SOURCES = test/test_stress.c test/expect.h
test_test_stress_plain_CFLAGS = $(TEST_CFLAGS)
test_test_stress_plain_LDADD = -lpthread

test_test_sizeclass_SOURCES = test/test_sizeclass.c test/expect.h
test_test_sizeclass_CFLAGS = $(TEST_CFLAGS)
test_test_sizeclass_LDADD = libhakmem_core.la

test_test_superslab_SOURCES = test/test_superslab.c test/expect.h
test_test_superslab_CFLAGS = $(TEST_CFLAGS)
test_test_superslab_LDADD = libhakmem_core.la

HAKMEM_TEST_SH = \
	test/stress_preload.sh \
	test/test_programs.sh

TESTS += \
	test/test_sizeclass \
	test/test_superslab \
	test/test_api \
	test/test_stress \
	$(HAKMEM_TEST_SH)

EXTRA_DIST += $(HAKMEM_TEST_SH) test/preload_common.sh
include test/lifecycle.mk
include test/dropin.mk

TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	abs_top_builddir='$(abs_top_builddir)'; export abs_top_builddir; \
	abs_top_srcdir='$(abs_top_srcdir)'; export abs_top_srcdir; \
	PYTHON3='$(PYTHON3)'; export PYTHON3;
include test/ctl.mk
include test/numa.mk
include test/glibc.mk

# The live view's request decoder (src/live.c) under random requests, for a
# bounded time (test/fuzz_live [SECONDS [SEED]], 3 s by default).
check_PROGRAMS += test/fuzz_live
test_fuzz_live_SOURCES = test/fuzz_live.c test/expect.h
test_fuzz_live_CFLAGS = $(TEST_CFLAGS)
test_fuzz_live_LDADD = libhakmem_core.la
TESTS += test/fuzz_live
