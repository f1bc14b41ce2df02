## bench/numa.mk - the NUMA locality benchmark. Included by bench/local.mk
## (after BENCH_CFLAGS, BENCH_LIBS and BENCH_OUT).
##
## bench/numa_local runs like the other workloads (LD_PRELOAD, one RESULT
## line; see its header) but only means something on a machine with two or
## more NUMA nodes, so it is not part of `make bench`: `make bench-numa` runs
## it in the two-node VM of test/numa under hakmem, glibc, jemalloc and
## mimalloc and writes bench/results/numa.md (BENCH_OUT=DIR elsewhere).
## NUMA_BENCH_ARGS passes options to test/numa/bench-numa.sh (--rounds N,
## --args "THREADS GENERATIONS WSET_KIB PASSES SEED").

noinst_PROGRAMS += bench/numa_local
bench_numa_local_SOURCES = bench/numa_local.c bench/bench.h
bench_numa_local_CFLAGS = $(BENCH_CFLAGS)
bench_numa_local_LDADD = $(BENCH_LIBS)

.PHONY: bench-numa
bench-numa: all
	@$(SHELL) $(abs_top_srcdir)/test/numa/bench-numa.sh --builddir '$(abs_top_builddir)' \
	--out '$(BENCH_OUT)/numa.md' $(NUMA_BENCH_ARGS)
