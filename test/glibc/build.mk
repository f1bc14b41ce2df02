# test/glibc/build.mk - builds glibc's malloc/tst-*.c test programs and the
# support/ library they use, from an unpacked glibc source tarball, against
# the installed (system) glibc. Run by check-glibc.sh, never by automake:
#
#   make -f build.mk G=SRC O=OUT ROUTINES='...' TESTS='...' INTERNAL='...' \
#        LFS64='...' all
#
#   G         the unpacked glibc source tree (glibc-X.Y/)
#   O         the output directory: O/include is the shim include directory
#             check-glibc.sh wrote (config.h, stackinfo.h, links to the few
#             self-contained internal headers of G/include), objects go to
#             O/obj, the programs to O/bin, compiler output to O/log
#   ROUTINES  the support/ sources (libsupport-routines of G/support/Makefile)
#   TESTS     the malloc/tst-* programs to build
#   INTERNAL  those of TESTS that glibc builds as tests-internal (no
#             -DTEST_NO_MALLOPT)
#   LFS64     the support/ sources glibc builds with 64-bit off_t and time_t
#
# A support/ source that does not compile here (it needs a glibc-internal
# header we do not provide) becomes an empty object and is listed in
# O/log/support-failed.txt: a test that needs it then fails to link, and
# check-glibc.sh reports that test as not built. The compiler's output for
# each file is in O/log.

CC ?= cc
GLIBC_CFLAGS = -std=gnu11 -fgnu89-inline -g -O2 -fmerge-all-constants \
	-frounding-math -pthread -D_GNU_SOURCE \
	-include $(O)/include/config.h -I$(O)/include
LIBS = -lpthread

SUPPORT_OBJS = $(ROUTINES:%=$(O)/obj/support/%.o)
LIBSUPPORT = $(O)/lib/libsupport.a
PROGRAMS = $(TESTS:%=$(O)/bin/%)

# What glibc's support/Makefile passes (CFLAGS-<file>.c).
LFS64_FLAGS = -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64
CFLAGS-timespec = -fexcess-precision=standard
CFLAGS-timespec-time64 = -fexcess-precision=standard
CFLAGS-support_paths = \
	-DSRCDIR_PATH='"$(G)"' \
	-DOBJDIR_PATH='"$(O)"' \
	-DOBJDIR_ELF_LDSO_PATH='"/lib64/ld-linux-x86-64.so.2"' \
	-DINSTDIR_PATH='"/usr"' \
	-DLIBDIR_PATH='"/usr/lib/x86_64-linux-gnu"' \
	-DBINDIR_PATH='"/usr/bin"' \
	-DSBINDIR_PATH='"/usr/sbin"' \
	-DSLIBDIR_PATH='"/lib/x86_64-linux-gnu"' \
	-DROOTSBINDIR_PATH='"/sbin"' \
	-DCOMPLOCALEDIR_PATH='"/usr/lib/locale"'

# The helper objects malloc/Makefile links into the interposition tests.
EXTRA-tst-interpose-nothread = $(O)/obj/tst-interpose-aux-nothread.o
EXTRA-tst-interpose-thread = $(O)/obj/tst-interpose-aux-thread.o

.PHONY: all
all: $(PROGRAMS)

$(O)/obj/support/%.o: $(G)/support/%.c $(O)/include/config.h
	@mkdir -p $(@D) $(O)/log
	@if $(CC) $(GLIBC_CFLAGS) -I$(G)/support \
		$(if $(filter $*,$(LFS64)),$(LFS64_FLAGS)) $(CFLAGS-$*) \
		-c $< -o $@ >$(O)/log/support-$*.log 2>&1; then :; else \
		echo "$*" >>$(O)/log/support-failed.txt; \
		$(CC) -c -x c /dev/null -o $@; \
	fi

$(LIBSUPPORT): $(SUPPORT_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	@ar rcs $@ $(SUPPORT_OBJS)

$(O)/obj/%.o: $(G)/malloc/%.c $(O)/include/config.h
	@mkdir -p $(@D) $(O)/log
	@$(CC) $(GLIBC_CFLAGS) -DTEST_NO_MALLOPT -c $< -o $@ \
		>$(O)/log/build-$*.log 2>&1 || { cat $(O)/log/build-$*.log; exit 1; }

$(O)/bin/tst-interpose-nothread: $(EXTRA-tst-interpose-nothread)
$(O)/bin/tst-interpose-thread: $(EXTRA-tst-interpose-thread)

# The compiler's output goes to O/log/build-<test>.log; on failure the rule
# fails (make -k goes on with the other tests).
$(O)/bin/%: $(G)/malloc/%.c $(LIBSUPPORT) $(O)/include/config.h
	@mkdir -p $(@D) $(O)/log
	@$(CC) $(GLIBC_CFLAGS) $(if $(filter $*,$(INTERNAL)),,-DTEST_NO_MALLOPT) \
		$< $(EXTRA-$*) -o $@ $(LIBSUPPORT) $(LIBS) \
		>$(O)/log/build-$*.log 2>&1 || { rm -f $@; exit 1; }
