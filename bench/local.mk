## bench/local.mk: the benchmark workloads, their smoke tests, and the
## `make bench` / `make bench-quick` runner. See bench/README.md.
##
## The workloads are NOT linked with hakmem: each runs under every allocator
## through LD_PRELOAD (glibc: nothing preloaded) and proves at the end, through
## dlsym("hakmem_ctl") and dladdr(malloc), which allocator served it.

BENCH_WORKLOADS = random_mixed larson mid_large_mt scenario sequential xthread prodcons fastpath \
	startup malloc_large live_growth churn_mixed realloc_growth cxx_churn

# -fno-builtin-*: GCC must not fold or remove a malloc/free pair; the
# workloads also pass every pointer through an empty asm so none escapes it.
BENCH_CFLAGS = $(AM_CFLAGS) -O2 -pthread -fno-builtin-malloc -fno-builtin-calloc \
	-fno-builtin-realloc -fno-builtin-free
BENCH_LIBS = -ldl -lpthread

noinst_PROGRAMS += bench/random_mixed bench/larson bench/mid_large_mt bench/scenario \
	bench/sequential bench/xthread bench/prodcons bench/fastpath bench/startup \
	bench/malloc_large bench/live_growth bench/churn_mixed bench/realloc_growth \
	bench/cxx_churn

# A C++ workload (operator new/delete through the allocator under test); like
# the others linked with nothing of hakmem's.
bench_cxx_churn_SOURCES = bench/cxx_churn.cc bench/bench.h
bench_cxx_churn_CXXFLAGS = -std=gnu++17 -O2 -pthread -Wall -Wextra -Wno-unused-parameter
bench_cxx_churn_LDADD = $(BENCH_LIBS)

bench_random_mixed_SOURCES = bench/random_mixed.c bench/bench.h
bench_random_mixed_CFLAGS = $(BENCH_CFLAGS)
bench_random_mixed_LDADD = $(BENCH_LIBS)
bench_prodcons_SOURCES = bench/prodcons.c bench/bench.h
bench_prodcons_CFLAGS = $(BENCH_CFLAGS)
bench_prodcons_LDADD = $(BENCH_LIBS)
bench_larson_SOURCES = bench/larson.c bench/bench.h
bench_larson_CFLAGS = $(BENCH_CFLAGS)
bench_larson_LDADD = $(BENCH_LIBS)
bench_mid_large_mt_SOURCES = bench/mid_large_mt.c bench/bench.h
bench_mid_large_mt_CFLAGS = $(BENCH_CFLAGS)
bench_mid_large_mt_LDADD = $(BENCH_LIBS)
bench_scenario_SOURCES = bench/scenario.c bench/bench.h
bench_scenario_CFLAGS = $(BENCH_CFLAGS)
bench_scenario_LDADD = $(BENCH_LIBS)
bench_sequential_SOURCES = bench/sequential.c bench/bench.h
bench_sequential_CFLAGS = $(BENCH_CFLAGS)
bench_sequential_LDADD = $(BENCH_LIBS)
bench_xthread_SOURCES = bench/xthread.c bench/bench.h
bench_xthread_CFLAGS = $(BENCH_CFLAGS)
bench_xthread_LDADD = $(BENCH_LIBS)
bench_fastpath_SOURCES = bench/fastpath.c bench/bench.h
bench_fastpath_CFLAGS = $(BENCH_CFLAGS)
bench_fastpath_LDADD = $(BENCH_LIBS)
bench_startup_SOURCES = bench/startup.c bench/bench.h
bench_startup_CFLAGS = $(BENCH_CFLAGS)
bench_startup_LDADD = $(BENCH_LIBS)
# the page layer (32 KiB to tens of MiB): see bench/README.md
bench_malloc_large_SOURCES = bench/malloc_large.c bench/bench.h
bench_malloc_large_CFLAGS = $(BENCH_CFLAGS)
bench_malloc_large_LDADD = $(BENCH_LIBS)
bench_live_growth_SOURCES = bench/live_growth.c bench/bench.h
bench_live_growth_CFLAGS = $(BENCH_CFLAGS)
bench_live_growth_LDADD = $(BENCH_LIBS)
bench_churn_mixed_SOURCES = bench/churn_mixed.c bench/bench.h
bench_churn_mixed_CFLAGS = $(BENCH_CFLAGS)
bench_churn_mixed_LDADD = $(BENCH_LIBS)
bench_realloc_growth_SOURCES = bench/realloc_growth.c bench/bench.h
bench_realloc_growth_CFLAGS = $(BENCH_CFLAGS)
bench_realloc_growth_LDADD = $(BENCH_LIBS)
# RSS over time through allocation phases and idle periods; not one of
# BENCH_WORKLOADS (run.py does not run it): `make bench-rss` runs it under
# every allocator through bench/rss_timeline.py. See bench/README.md.
noinst_PROGRAMS += bench/rss_timeline
bench_rss_timeline_SOURCES = bench/rss_timeline.c bench/bench.h
bench_rss_timeline_CFLAGS = $(BENCH_CFLAGS)
bench_rss_timeline_LDADD = $(BENCH_LIBS)

# make check: each workload once, tiny, under hakmem (LD_PRELOAD of
# .libs/libhakmem.so). bench/smoke.sh checks the exit status, that the result
# line parses, and that hakmem served at least the allocations the workload
# made. Timings are never asserted. bench/selftest-run.sh and
# bench/selftest-rss_timeline.sh check the runners' parsing, refusal rules and
# report writers on made-up runs.
BENCH_SMOKE_TESTS = bench/smoke-random_mixed.sh bench/smoke-larson.sh \
	bench/smoke-mid_large_mt.sh bench/smoke-scenario.sh bench/smoke-sequential.sh \
	bench/smoke-xthread.sh bench/smoke-prodcons.sh bench/smoke-fastpath.sh bench/smoke-startup.sh \
	bench/smoke-malloc_large.sh bench/smoke-live_growth.sh bench/smoke-churn_mixed.sh \
	bench/smoke-realloc_growth.sh bench/smoke-cxx_churn.sh bench/smoke-rss_timeline.sh \
	bench/selftest-run.sh bench/selftest-rss_timeline.sh bench/selftest-programs.sh \
	bench/selftest-glibc_thread.sh
TESTS += $(BENCH_SMOKE_TESTS)
EXTRA_DIST += bench/README.md bench/run.py bench/rss_timeline.py bench/programs.py \
	bench/glibc_thread.py \
	bench/smoke.sh $(BENCH_SMOKE_TESTS)

# make bench: every workload under hakmem, glibc, jemalloc, mimalloc and
# tcmalloc, interleaved, BENCH_ROUNDS rounds (default 5), plus
# callgrind instruction counts; results go to bench/results/ in the source
# tree (JSON, markdown, SVG). BENCH_ARGS passes more options to bench/run.py
# (see `bench/run.py --help`), e.g. make bench BENCH_ARGS='--only larson'.
# BENCH_OUT=DIR writes the results elsewhere.
BENCH_OUT = $(abs_top_srcdir)/bench/results
BENCH_RUN = py='$(PYTHON3)'; test -n "$$py" || py=python3; \
	"$$py" $(abs_top_srcdir)/bench/run.py --builddir '$(abs_top_builddir)' \
	--out '$(BENCH_OUT)' $(if $(BENCH_ROUNDS),--rounds $(BENCH_ROUNDS))

.PHONY: bench bench-quick bench-rss
bench: all
	@$(BENCH_RUN) --mode full $(BENCH_ARGS)
bench-quick: all
	@$(BENCH_RUN) --mode quick $(BENCH_ARGS)
# make bench-rss: bench/rss_timeline once under each allocator (about 10 s
# each); BENCH_OUT/rss_timeline.{json,md,svg}. BENCH_RSS_ARGS passes more
# options to bench/rss_timeline.py, e.g. BENCH_RSS_ARGS='--conf decay_ms=0'.
bench-rss: all
	@py='$(PYTHON3)'; test -n "$$py" || py=python3; \
	"$$py" $(abs_top_srcdir)/bench/rss_timeline.py --builddir '$(abs_top_builddir)' \
	--out '$(BENCH_OUT)' $(BENCH_RSS_ARGS)
# make bench-programs: real programs (python3 twice, perl, sqlite3, gcc,
# redis-server, ld.lld and git pack-objects with two threads each, when
# installed) under each allocator, interleaved, 3 rounds (about 8 minutes;
# BENCH_ROUNDS=N); BENCH_OUT/programs.{json,md,svg}.
# BENCH_PROGRAMS_ARGS passes more options to bench/programs.py, e.g.
# BENCH_PROGRAMS_ARGS='--quick' or '--only redis'.
.PHONY: bench-programs
bench-programs: all
	@py='$(PYTHON3)'; test -n "$$py" || py=python3; \
	"$$py" $(abs_top_srcdir)/bench/programs.py --builddir '$(abs_top_builddir)' \
	--out '$(BENCH_OUT)' $(if $(BENCH_ROUNDS),--rounds $(BENCH_ROUNDS)) $(BENCH_PROGRAMS_ARGS)
# make bench-real: bench-programs plus instruction counts: --callgrind runs
# each workload but redis once per allocator at its quick size under
# valgrind --tool=callgrind --trace-children=yes (about 20 minutes more here).
.PHONY: bench-real
bench-real: all
	@py='$(PYTHON3)'; test -n "$$py" || py=python3; \
	"$$py" $(abs_top_srcdir)/bench/programs.py --builddir '$(abs_top_builddir)' \
	--out '$(BENCH_OUT)' $(if $(BENCH_ROUNDS),--rounds $(BENCH_ROUNDS)) --callgrind \
	$(BENCH_PROGRAMS_ARGS)
# make bench-glibc-thread: glibc's own benchtests/bench-malloc-thread.c (from
# Debian's glibc-source, extracted and built at run time in a temporary
# directory) under each allocator and hakmem[tiny.cache_bytes=8192/16384],
# threads 1,2,4, 5 rounds of 2 s (about 4 minutes);
# BENCH_OUT/glibc_thread.{json,md}. BENCH_GLIBC_THREAD_ARGS passes more
# options to bench/glibc_thread.py, e.g. BENCH_GLIBC_THREAD_ARGS='--threads 1,8 --seconds 5'.
.PHONY: bench-glibc-thread
bench-glibc-thread: all
	@py='$(PYTHON3)'; test -n "$$py" || py=python3; \
	"$$py" $(abs_top_srcdir)/bench/glibc_thread.py --builddir '$(abs_top_builddir)' \
	--out '$(BENCH_OUT)' $(BENCH_GLIBC_THREAD_ARGS)
include bench/numa.mk
