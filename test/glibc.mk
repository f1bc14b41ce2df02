## test/glibc.mk - glibc's own malloc test suite under hakmem. Included by
## test/local.mk.
##
##   make check-glibc      builds glibc's malloc/tst-*.c programs and its
##                         support/ library from the glibc source tarball of
##                         Debian's package glibc-source
##                         (/usr/src/glibc/glibc-*.tar.xz) against the
##                         installed glibc, in test/glibc of the build tree
##                         (unpacked and built once), and runs each program
##                         plainly (glibc's malloc, the reference) and with
##                         .libs/libhakmem.so in LD_PRELOAD; prints PASS,
##                         FAIL, XFAIL or SKIP per test and a summary; exit
##                         77 (skip) without the tarball. See
##                         test/glibc/check-glibc.sh and test/README.

EXTRA_DIST += test/glibc/check-glibc.sh test/glibc/build.mk test/README

# The last line of the output is "check-glibc: PASS|FAIL|SKIP (...)". A skip
# (no tarball: the script's exit status 77) makes `make check-glibc`
# succeed, as a skipped test does in `make check`; CI reads the last line, or
# runs the script itself to get the 77. GLIBC_TARBALL and TIMEOUTFACTOR pass
# through the environment; CHECK_GLIBC_ARGS (-v, --jobs N, test names) too.
.PHONY: check-glibc
check-glibc: all
	@abs_top_builddir='$(abs_top_builddir)' abs_top_srcdir='$(abs_top_srcdir)' \
	CC='$(CC)' bash $(abs_top_srcdir)/test/glibc/check-glibc.sh $(CHECK_GLIBC_ARGS); \
	rc=$$?; test $$rc = 77 && rc=0; exit $$rc
