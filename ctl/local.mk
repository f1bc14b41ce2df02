## ctl/local.mk - the hakmem-ctl tool and the man pages (included by the top
## Makefile.am).
##
## hakmem-ctl does not link libhakmem: it finds libhakmem.so at run time (its
## --lib option; ../lib beside its own path once installed; the configured
## $(libdir); ../.libs in the build tree) and loads it with LD_PRELOAD.

bin_PROGRAMS += ctl/hakmem-ctl
ctl_hakmem_ctl_SOURCES = ctl/hakmem-ctl.c ctl/remote.c ctl/tool.h
ctl_hakmem_ctl_CPPFLAGS = $(AM_CPPFLAGS) -DHAKMEM_LIBDIR='"$(libdir)"' \
	-DHAKMEM_CTL_VERSION='"$(PACKAGE_VERSION)"'
ctl_hakmem_ctl_LDADD = -ldl

dist_man_MANS += doc/hakmem.3 doc/hakmem-ctl.1
EXTRA_DIST += ctl/gen-man-keys.sh

# The KEYS section of doc/hakmem.3 is generated from `hakmem-ctl keys --tsv`
# by ctl/gen-man-keys.sh, between two marker comments. test/test_ctl_tool.sh
# fails (make check) when the page and the key table differ; then run
#     make update-man-keys
# and commit doc/hakmem.3.
update-man-keys: ctl/hakmem-ctl$(EXEEXT) libhakmem.la
	$(SHELL) $(srcdir)/ctl/gen-man-keys.sh --update ctl/hakmem-ctl$(EXEEXT) \
		$(abs_top_builddir)/.libs/libhakmem.so $(srcdir)/doc/hakmem.3

check-man-keys: ctl/hakmem-ctl$(EXEEXT) libhakmem.la
	$(SHELL) $(srcdir)/ctl/gen-man-keys.sh --check ctl/hakmem-ctl$(EXEEXT) \
		$(abs_top_builddir)/.libs/libhakmem.so $(srcdir)/doc/hakmem.3

.PHONY: update-man-keys check-man-keys
