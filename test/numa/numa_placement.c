/* numa_placement.c - where hakmem puts memory on a real multi-node machine.
 *
 * Run inside the two-node VM (test/numa/check-numa.sh; node 0 = CPUs 0-1,
 * node 1 = CPUs 2-3), linked with libhakmem.la, once per SCENARIO:
 *
 *   numa_placement percpu          (default conf: opt.arenas=auto)
 *   numa_placement pernode         (HAKMEM_CONF=opt.arenas=pernode)
 *   numa_placement count           (HAKMEM_CONF=opt.narenas=6)
 *   numa_placement strict          (HAKMEM_CONF=numa.policy=bind)
 *   numa_placement membind1        (under numactl --membind=1)
 *   numa_placement preferred1      (under numactl --preferred=1)
 *   numa_placement interleave      (under numactl --interleave=all)
 *   numa_placement cpunodebind1    (under numactl --cpunodebind=1)
 *
 * A worker thread pinned to each CPU the process may use allocates small
 * blocks of several classes and two large blocks, writes every byte, and asks
 * the kernel where each page is (move_pages(2) in query mode). The node a
 * thread runs on comes from getcpu(2), not from hakmem. Checked:
 *
 *   - the arena table: arenas.narenas, arenas.mode, arena.<i>.node,
 *     arena.<i>.cpus, topology.*;
 *   - each thread's arena (thread.arena) serves its node, and >= 99 % of its
 *     pages are on that node (percpu, pernode, count, strict, cpunodebind1),
 *     on node 1 (membind1, preferred1), or spread over both nodes
 *     (interleave: each node 35-65 %);
 *   - placement before first touch (percpu, pernode, count, strict): blocks
 *     a node-0 thread allocated and a node-1 thread wrote first are on node
 *     0 (the kernel's first-touch rule alone would put them on node 1);
 *   - stats.nodes.<n>.resident agrees with the pages the threads touched;
 *   - stats.numa.bind_failures stays 0;
 *   - cross-node frees (percpu, pernode): blocks a node-0 thread allocated
 *     and a node-1 thread freed are counted in the owner arena's
 *     remote_frees, never come back to the node-1 thread, and are handed out
 *     again to the next node-0 thread (one block in KEEP stays allocated so
 *     that their slabs stay in use);
 *   - migration (percpu, pernode, count): a thread moved from CPU 0 to CPU 3
 *     binds to a node-1 arena at its next refill and its new blocks are on
 *     node 1.
 *
 * Prints "PASS: SCENARIO: check (details)" or "FAIL: ..." per check, and
 * "SKIP: ..." where the machine cannot run a check (fewer than two nodes).
 * Exit status 0 when nothing failed, 1 otherwise, 77 when all was skipped.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hakmem.h"

#define PAGE 4096u
#define MAX_CPUS 64
#define MAX_NODES 8
#define LOCAL_MIN 99.0 /* percent */

static const char *g_scenario;
static int g_npass, g_nfail;

static void report(const char *verdict, const char *check, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	printf("%s: %s: %s (%s)\n", verdict, g_scenario, check, msg);
	fflush(stdout);
}

/* One verdict per check. */
static bool check(bool ok, const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	report(ok ? "PASS" : "FAIL", name, "%s", msg);
	if (ok)
		g_npass++;
	else
		g_nfail++;
	return ok;
}

/* ---- hakmem_ctl, the kernel ----------------------------------------------- */

static int ctl_int(const char *fmt, ...)
{
	char name[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	int v = -999;
	size_t sz = sizeof v;
	int err = hakmem_ctl(name, &v, &sz, NULL, 0);
	if (err != 0) {
		printf("note: hakmem_ctl(%s): %s\n", name, strerror(err));
		return -999;
	}
	return v;
}

static unsigned ctl_unsigned(const char *name)
{
	return (unsigned)ctl_int("%s", name);
}

static uint64_t ctl_u64(const char *fmt, ...)
{
	char name[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	uint64_t epoch = 1, v = 0;
	size_t sz = sizeof v;
	hakmem_ctl("epoch", NULL, NULL, &epoch, sizeof epoch);
	int err = hakmem_ctl(name, &v, &sz, NULL, 0);
	if (err != 0)
		printf("note: hakmem_ctl(%s): %s\n", name, strerror(err));
	return v;
}

static const char *ctl_str(const char *fmt, ...)
{
	char name[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	const char *s = NULL;
	size_t sz = sizeof s;
	int err = hakmem_ctl(name, &s, &sz, NULL, 0);
	return err == 0 && s != NULL ? s : "(error)";
}

static bool ctl_bool(const char *name)
{
	bool b = false;
	size_t sz = sizeof b;
	return hakmem_ctl(name, &b, &sz, NULL, 0) == 0 && b;
}

/* The sum of arena a's remote_frees over both class tiers. */
static uint64_t arena_remote_frees(unsigned a)
{
	return ctl_u64("stats.arenas.%u.remote_frees", a);
}

static void where(unsigned *cpu, unsigned *node)
{
	if (syscall(SYS_getcpu, cpu, node, NULL) != 0)
		*cpu = *node = 0;
}

/* The node of CPU c, from sysfs (the kernel's view, not hakmem's). */
static int sys_node_of_cpu(unsigned c)
{
	for (int n = 0; n < MAX_NODES; n++) {
		char path[96];
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%u/node%d", c, n);
		if (access(path, F_OK) == 0)
			return n;
	}
	return -1;
}

static unsigned sys_nnodes(void)
{
	unsigned n = 0;
	for (int i = 0; i < MAX_NODES; i++) {
		char path[64];
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d", i);
		n += access(path, F_OK) == 0;
	}
	return n;
}

typedef struct {
	uint64_t on[MAX_NODES]; /* pages per node */
	uint64_t total;         /* pages asked about */
	uint64_t absent;        /* pages not present (or errors) */
} census_t;

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* Counts where the pages of n blocks are: every page each block touches,
 * once. */
static void census(void *const *blocks, const size_t *sizes, size_t n, census_t *c)
{
	memset(c, 0, sizeof *c);
	size_t npages = 0, cap = 0;
	uintptr_t *pages = NULL;
	for (size_t i = 0; i < n; i++) {
		uintptr_t lo = (uintptr_t)blocks[i] & ~(uintptr_t)(PAGE - 1);
		uintptr_t hi = (uintptr_t)blocks[i] + sizes[i];
		for (uintptr_t p = lo; p < hi; p += PAGE) {
			if (npages == cap) {
				cap = cap ? cap * 2 : 4096;
				pages = realloc(pages, cap * sizeof *pages);
				if (pages == NULL) {
					fprintf(stderr, "numa_placement: out of memory\n");
					exit(1);
				}
			}
			pages[npages++] = p;
		}
	}
	qsort(pages, npages, sizeof *pages, cmp_ptr);
	size_t u = 0;
	for (size_t i = 0; i < npages; i++)
		if (u == 0 || pages[u - 1] != pages[i])
			pages[u++] = pages[i];
	int *status = malloc(u * sizeof *status + 1);
	if (status == NULL) {
		fprintf(stderr, "numa_placement: out of memory\n");
		exit(1);
	}
	for (size_t done = 0; done < u;) {
		size_t k = u - done < 1024 ? u - done : 1024;
		if (syscall(SYS_move_pages, 0, (unsigned long)k, (void **)(pages + done), NULL,
		            status + done, 0) != 0)
			for (size_t i = 0; i < k; i++)
				status[done + i] = -errno;
		done += k;
	}
	c->total = u;
	for (size_t i = 0; i < u; i++) {
		if (status[i] >= 0 && status[i] < MAX_NODES)
			c->on[status[i]]++;
		else
			c->absent++;
	}
	free(status);
	free(pages);
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- the worker threads ----------------------------------------------------- */

#define NSMALL_SIZES 7
static const size_t g_small_sizes[NSMALL_SIZES] = { 24, 100, 256, 1000, 3000, 8000, 30000 };
#define SMALL_BYTES ((size_t)3 << 20) /* per thread */
#define NLARGE 2
static const size_t g_large_sizes[NLARGE] = { (size_t)1 << 20, (size_t)5 << 20 };
#define MAX_BLOCKS 2048

typedef struct {
	int pin;                 /* CPU to run on, -1: not pinned */
	/* results */
	unsigned cpu, node;      /* getcpu after the allocations */
	int arena;               /* thread.arena */
	int arena_node;          /* arena.<thread.arena>.node */
	census_t pages;
	bool alloc_failed;
	/* the blocks, kept until the main thread says free */
	void *blocks[MAX_BLOCKS];
	size_t sizes[MAX_BLOCKS];
	size_t nblocks;
} worker_t;

static pthread_barrier_t g_measured;  /* every worker has counted its pages */
static pthread_barrier_t g_free;      /* main thread read the resident stats */

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	size_t bytes = 0;
	w->nblocks = 0;
	for (size_t i = 0; bytes < SMALL_BYTES && w->nblocks < MAX_BLOCKS - NLARGE; i++) {
		size_t sz = g_small_sizes[i % NSMALL_SIZES];
		void *p = malloc(sz);
		if (p == NULL) {
			w->alloc_failed = true;
			break;
		}
		memset(p, 0xa5, sz);
		w->blocks[w->nblocks] = p;
		w->sizes[w->nblocks++] = sz;
		bytes += sz;
	}
	for (size_t i = 0; i < NLARGE; i++) {
		void *p = malloc(g_large_sizes[i]);
		if (p == NULL) {
			w->alloc_failed = true;
			break;
		}
		memset(p, 0x5a, g_large_sizes[i]);
		w->blocks[w->nblocks] = p;
		w->sizes[w->nblocks++] = g_large_sizes[i];
	}
	where(&w->cpu, &w->node);
	w->arena = ctl_int("thread.arena");
	w->arena_node = ctl_int("arena.%d.node", w->arena);
	census(w->blocks, w->sizes, w->nblocks, &w->pages);
	pthread_barrier_wait(&g_measured);
	pthread_barrier_wait(&g_free);
	for (size_t i = 0; i < w->nblocks; i++)
		free(w->blocks[i]);
	return NULL;
}

static int start_thread(pthread_t *th, int cpu, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((unsigned)cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof set, &set);
	}
	int err = pthread_create(th, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return err;
}

/* ---- the checks --------------------------------------------------------- */

enum expect_where { AT_OWN_NODE, AT_NODE1, SPREAD };

static unsigned g_cpus[MAX_CPUS], g_ncpus; /* CPUs this process may use */
static int g_cpu_node[MAX_CPUS];           /* sysfs: node of each CPU id */

static void check_tables(bool interleave, bool membind1)
{
	unsigned nnodes = ctl_unsigned("topology.nodes");
	check(nnodes == 2, "topology.nodes", "%u", nnodes);
	unsigned ncpus = ctl_unsigned("topology.cpus");
	check(ncpus == 4, "topology.cpus", "%u", ncpus);
	bool ok = true;
	char got[64] = "", *g = got;
	for (unsigned c = 0; c < 4 && c < MAX_CPUS; c++) {
		int n = ctl_int("topology.cpu.%u.node", c);
		ok = ok && n == g_cpu_node[c];
		g += sprintf(g, "%s%d", c ? "," : "", n);
	}
	check(ok, "topology.cpu.<i>.node", "%s", got);
	ok = true;
	g = got;
	for (unsigned c = 0; c < 4; c++) {
		int core = ctl_int("topology.cpu.%u.core", c);
		ok = ok && core >= 0;
		g += sprintf(g, "%s%d", c ? "," : "", core);
	}
	check(ok && ctl_bool("topology.hwloc"), "topology.hwloc and cores", "cores %s", got);

	const char *mode = ctl_str("arenas.mode");
	unsigned narenas = ctl_unsigned("arenas.narenas");
	if (strcmp(g_scenario, "pernode") == 0)
		check(strcmp(mode, "pernode") == 0 && narenas == 2, "arenas.mode/narenas", "%s, %u",
		      mode, narenas);
	else if (strcmp(g_scenario, "count") == 0)
		check(strcmp(mode, "count") == 0 && narenas == 6, "arenas.mode/narenas", "%s, %u",
		      mode, narenas);
	else
		check(strcmp(mode, "percpu") == 0 && narenas == 4, "arenas.mode/narenas", "%s, %u",
		      mode, narenas);

	/* The node of each arena: its CPUs' node; under --membind=1 node 1;
	 * under --interleave none; with a count, spread 0,1,0,1,... */
	ok = true;
	g = got;
	for (unsigned a = 0; a < narenas && a < 16; a++) {
		int n = ctl_int("arena.%u.node", a);
		int want;
		if (interleave)
			want = -1;
		else if (membind1)
			want = 1;
		else if (strcmp(g_scenario, "pernode") == 0)
			want = (int)a;
		else if (strcmp(g_scenario, "count") == 0)
			want = (int)(a % 2);
		else
			want = g_cpu_node[a];
		ok = ok && n == want;
		g += sprintf(g, "%s%d", a ? "," : "", n);
	}
	check(ok, "arena.<i>.node", "%s", got);

	if (strcmp(g_scenario, "pernode") == 0) {
		const char *c0 = ctl_str("arena.0.cpus"), *c1 = ctl_str("arena.1.cpus");
		check(strcmp(c0, "0-1") == 0 && strcmp(c1, "2-3") == 0, "arena.<i>.cpus",
		      "\"%s\", \"%s\"", c0, c1);
	} else if (strcmp(g_scenario, "count") != 0) {
		const char *c2 = ctl_str("arena.2.cpus");
		check(strcmp(c2, "2") == 0, "arena.<i>.cpus", "arena.2.cpus \"%s\"", c2);
	}
}

static void check_workers(enum expect_where at, bool check_resident)
{
	worker_t *w = calloc(g_ncpus, sizeof *w);
	pthread_t *th = calloc(g_ncpus, sizeof *th);
	if (w == NULL || th == NULL) {
		fprintf(stderr, "numa_placement: out of memory\n");
		exit(1);
	}
	pthread_barrier_init(&g_measured, NULL, g_ncpus + 1);
	pthread_barrier_init(&g_free, NULL, g_ncpus + 1);
	uint64_t res0[MAX_NODES];
	for (unsigned n = 0; n < 2; n++)
		res0[n] = ctl_u64("stats.nodes.%u.resident", n);
	for (unsigned i = 0; i < g_ncpus; i++) {
		w[i].pin = (int)g_cpus[i];
		if (start_thread(&th[i], w[i].pin, worker_main, &w[i]) != 0) {
			fprintf(stderr, "numa_placement: pthread_create failed\n");
			exit(1);
		}
	}
	pthread_barrier_wait(&g_measured);
	uint64_t touched[MAX_NODES] = { 0 };
	census_t all = { 0 };
	uint64_t all_expected = 0;
	for (unsigned i = 0; i < g_ncpus; i++) {
		worker_t *x = &w[i];
		int want = at == AT_NODE1 ? 1 : (int)x->node;
		uint64_t present = x->pages.total - x->pages.absent;
		if (want >= 0 && want < MAX_NODES)
			all_expected += x->pages.on[want];
		for (unsigned n = 0; n < MAX_NODES; n++) {
			all.on[n] += x->pages.on[n];
			touched[n] += x->pages.on[n];
		}
		all.total += x->pages.total;
		all.absent += x->pages.absent;
		char name[64];
		snprintf(name, sizeof name, "cpu %u", g_cpus[i]);
		bool ran_there = x->cpu == g_cpus[i] && (int)x->node == g_cpu_node[g_cpus[i]];
		if (at == SPREAD) {
			check(!x->alloc_failed && ran_there && x->arena_node == -1 && x->pages.absent == 0,
			      name, "node %u, arena %d (node %d), pages node0 %" PRIu64 " node1 %" PRIu64,
			      x->node, x->arena, x->arena_node, x->pages.on[0], x->pages.on[1]);
			continue;
		}
		double local = pct(x->pages.on[want], x->pages.total);
		bool arena_ok = at == AT_NODE1 || x->arena_node == (int)x->node;
		check(!x->alloc_failed && ran_there && arena_ok && x->pages.absent == 0 &&
		              local >= LOCAL_MIN,
		      name,
		      "runs on node %u, arena %d on node %d, %.2f %% of %" PRIu64
		      " pages on node %d, %" PRIu64 " absent",
		      x->node, x->arena, x->arena_node, local, present, want, x->pages.absent);
	}
	if (at == SPREAD) {
		double p0 = pct(all.on[0], all.total), p1 = pct(all.on[1], all.total);
		check(p0 >= 35 && p0 <= 65 && p1 >= 35 && p1 <= 65, "interleaved pages",
		      "node 0 %.1f %%, node 1 %.1f %% of %" PRIu64, p0, p1, all.total);
	}
	if (at != SPREAD)
		printf("note: %s: all threads: %.2f %% of %" PRIu64 " pages on the expected node\n",
		       g_scenario, pct(all_expected, all.total), all.total);
	if (check_resident) {
		/* hakmem's own per-node count (move_pages over its mappings)
		 * covers at least the pages the threads touched there, and grew
		 * by no more than those plus metadata. */
		bool ok = true;
		char msg[256], *m = msg;
		for (unsigned n = 0; n < 2; n++) {
			uint64_t r = ctl_u64("stats.nodes.%u.resident", n);
			uint64_t grew = r > res0[n] ? r - res0[n] : 0;
			ok = ok && r >= touched[n] * PAGE && grew <= touched[n] * PAGE + (16u << 20);
			m += sprintf(m, "%snode %u: %" PRIu64 " KiB resident (+%" PRIu64 "), %" PRIu64
			             " KiB touched", n ? "; " : "", n, r >> 10, grew >> 10,
			             touched[n] * PAGE >> 10);
		}
		check(ok, "stats.nodes.<n>.resident", "%s", msg);
	}
	pthread_barrier_wait(&g_free);
	for (unsigned i = 0; i < g_ncpus; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&g_measured);
	pthread_barrier_destroy(&g_free);
	free(w);
	free(th);
}

/* ---- cross-node frees ----------------------------------------------------- */

#define XN 3000
#define XSIZE 256

typedef struct {
	void **blocks;        /* XN blocks */
	int arena;            /* thread.arena of the thread */
	census_t pages;       /* of the blocks the thread allocated */
	size_t reused;        /* of its new blocks, how many were the producer's */
} xfer_t;

static void *g_produced[XN];
static void *g_home[XN], *g_away[XN];

static bool among(void *p, void *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == p)
			return true;
	return false;
}

static void *producer_main(void *arg)
{
	xfer_t *x = arg;
	for (size_t i = 0; i < XN; i++) {
		g_produced[i] = malloc(XSIZE);
		if (g_produced[i] != NULL)
			memset(g_produced[i], 1, XSIZE);
	}
	x->arena = ctl_int("thread.arena");
	return NULL;
}

/* Every KEEP-th block stays allocated, so that the producer's slabs stay in
 * use and the freed blocks are handed out again from them. */
#define KEEP 8
#define XFREED (XN - XN / KEEP)

/* On node 1: frees the producer's blocks, then allocates as many of its own. */
static void *consumer_main(void *arg)
{
	xfer_t *x = arg;
	x->arena = ctl_int("thread.arena"); /* binds before the frees */
	for (size_t i = 0; i < XN; i++)
		if (i % KEEP != KEEP - 1)
			free(g_produced[i]);
	size_t sizes[XN];
	for (size_t i = 0; i < XN; i++) {
		g_away[i] = malloc(XSIZE);
		if (g_away[i] != NULL)
			memset(g_away[i], 2, XSIZE);
		sizes[i] = XSIZE;
	}
	census(g_away, sizes, XN, &x->pages);
	x->reused = 0;
	for (size_t i = 0; i < XN; i++)
		x->reused += among(g_away[i], g_produced, XN);
	for (size_t i = 0; i < XN; i++)
		free(g_away[i]);
	return NULL;
}

/* Back on node 0: allocates blocks of the same class. */
static void *home_main(void *arg)
{
	xfer_t *x = arg;
	size_t sizes[XN];
	for (size_t i = 0; i < XN; i++) {
		g_home[i] = malloc(XSIZE);
		sizes[i] = XSIZE;
		if (g_home[i] != NULL)
			memset(g_home[i], 3, XSIZE);
	}
	x->arena = ctl_int("thread.arena");
	census(g_home, sizes, XN, &x->pages);
	x->reused = 0;
	for (size_t i = 0; i < XN; i++)
		x->reused += among(g_home[i], g_produced, XN);
	for (size_t i = 0; i < XN; i++)
		free(g_home[i]);
	return NULL;
}

static void run_pinned(int cpu, void *(*fn)(void *), void *arg)
{
	pthread_t th;
	if (start_thread(&th, cpu, fn, arg) != 0) {
		fprintf(stderr, "numa_placement: pthread_create failed\n");
		exit(1);
	}
	pthread_join(th, NULL);
}

static void check_cross_node_frees(void)
{
	xfer_t prod = { 0 }, cons = { 0 }, home = { 0 };
	run_pinned(0, producer_main, &prod);
	uint64_t before = arena_remote_frees((unsigned)prod.arena);
	run_pinned(3, consumer_main, &cons);
	uint64_t after = arena_remote_frees((unsigned)prod.arena);
	check(after - before == XFREED, "cross-node frees counted",
	      "stats.arenas.%d.remote_frees +%" PRIu64 " after %d frees from arena %d", prod.arena,
	      after - before, XFREED, cons.arena);
	double away_local = pct(cons.pages.on[1], cons.pages.total);
	check(cons.reused == 0 && away_local >= LOCAL_MIN, "freed blocks went home",
	      "the node-1 thread got %zu of the node-0 blocks back; its new blocks %.2f %% on node 1",
	      cons.reused, away_local);
	run_pinned(0, home_main, &home);
	double home_local = pct(home.pages.on[0], home.pages.total);
	check(home.reused > 0 && home_local >= LOCAL_MIN, "reused at home",
	      "a new node-0 thread (arena %d) got %zu of them back; its blocks %.2f %% on node 0",
	      home.arena, home.reused, home_local);
	for (size_t i = KEEP - 1; i < XN; i += KEEP)
		free(g_produced[i]);
}

/* ---- placement before first touch ----------------------------------------- */

/* A thread on node 0 allocates, a thread on node 1 writes first: the pages
 * must still be on node 0, which only a placement (mbind) made before the
 * first touch gives; the kernel's first-touch rule would put them on node 1. */
#define FT_SMALL 200
#define FT_SMALL_SIZE 30000
#define FT_LARGE ((size_t)8 << 20)

static void *g_ft[FT_SMALL + 1];
static size_t g_ft_sizes[FT_SMALL + 1];
static int g_ft_arena;

static void *ft_alloc_main(void *arg)
{
	for (size_t i = 0; i < FT_SMALL; i++) {
		g_ft[i] = malloc(FT_SMALL_SIZE);
		g_ft_sizes[i] = FT_SMALL_SIZE;
	}
	g_ft[FT_SMALL] = malloc(FT_LARGE);
	g_ft_sizes[FT_SMALL] = FT_LARGE;
	g_ft_arena = ctl_int("thread.arena");
	return NULL;
}

static void *ft_touch_main(void *arg)
{
	census_t *c = arg;
	for (size_t i = 0; i <= FT_SMALL; i++)
		if (g_ft[i] != NULL)
			memset(g_ft[i], 7, g_ft_sizes[i]);
	census(g_ft, g_ft_sizes, FT_SMALL, &c[0]);
	census(g_ft + FT_SMALL, g_ft_sizes + FT_SMALL, 1, &c[1]);
	return NULL;
}

static void check_first_touch(void)
{
	census_t c[2];
	run_pinned(0, ft_alloc_main, NULL);
	run_pinned(3, ft_touch_main, c);
	double small = pct(c[0].on[0], c[0].total), large = pct(c[1].on[0], c[1].total);
	check(small >= LOCAL_MIN && large >= LOCAL_MIN, "placed before first touch",
	      "allocated on cpu 0 (arena %d), written first on cpu 3: %.2f %% of %" PRIu64
	      " small-block pages, %.2f %% of %" PRIu64 " large-block pages on node 0",
	      g_ft_arena, small, c[0].total, large, c[1].total);
	for (size_t i = 0; i <= FT_SMALL; i++)
		free(g_ft[i]);
}

/* ---- migration -------------------------------------------------------------- */

#define MN 6000
#define MSIZE 512

typedef struct {
	int arena_before, arena_after, node_after_arena;
	unsigned cpu_after, node_after;
	census_t late;        /* the last half of the blocks after the move */
} migrate_t;

static void *g_mig[MN];

static void *migrate_main(void *arg)
{
	migrate_t *m = arg;
	for (size_t i = 0; i < MN / 4; i++)
		g_mig[i] = malloc(MSIZE);
	m->arena_before = ctl_int("thread.arena");
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(3, &set);
	sched_setaffinity(0, sizeof set, &set);
	sched_yield();
	where(&m->cpu_after, &m->node_after);
	for (size_t i = MN / 4; i < MN; i++) {
		g_mig[i] = malloc(MSIZE);
		if (g_mig[i] != NULL)
			memset(g_mig[i], 4, MSIZE);
	}
	m->arena_after = ctl_int("thread.arena");
	m->node_after_arena = ctl_int("arena.%d.node", m->arena_after);
	size_t sizes[MN];
	for (size_t i = 0; i < MN; i++)
		sizes[i] = MSIZE;
	census(g_mig + MN / 2, sizes, MN / 2, &m->late);
	for (size_t i = 0; i < MN; i++)
		free(g_mig[i]);
	return NULL;
}

static void check_migration(void)
{
	migrate_t m = { 0 };
	run_pinned(0, migrate_main, &m);
	double local = pct(m.late.on[1], m.late.total);
	check(m.cpu_after == 3 && m.node_after == 1 && m.node_after_arena == 1 && local >= LOCAL_MIN,
	      "migration followed",
	      "arena %d -> %d (node %d) after moving to cpu %u; new blocks %.2f %% on node 1",
	      m.arena_before, m.arena_after, m.node_after_arena, m.cpu_after, local);
}

/* ---- main ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: numa_placement SCENARIO\n");
		return 2;
	}
	g_scenario = argv[1];
	static const char *const known[] = { "percpu", "pernode", "count", "strict", "membind1",
		                             "preferred1", "interleave", "cpunodebind1" };
	bool found = false;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		found = found || strcmp(g_scenario, known[i]) == 0;
	if (!found) {
		fprintf(stderr, "numa_placement: unknown scenario '%s'\n", g_scenario);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sys_nnodes() < 2 || sys_node_of_cpu(3) != 1) {
		report("SKIP", "all", "needs the two-node VM of test/numa (node 1 = CPUs 2-3)");
		return 77;
	}
	for (unsigned c = 0; c < MAX_CPUS; c++)
		g_cpu_node[c] = sys_node_of_cpu(c);
	cpu_set_t set;
	sched_getaffinity(0, sizeof set, &set);
	for (unsigned c = 0; c < MAX_CPUS; c++)
		if (CPU_ISSET(c, &set))
			g_cpus[g_ncpus++] = c;

	const char *s = g_scenario;
	bool interleave = strcmp(s, "interleave") == 0;
	bool membind1 = strcmp(s, "membind1") == 0;
	bool preferred1 = strcmp(s, "preferred1") == 0;
	bool cpunodebind1 = strcmp(s, "cpunodebind1") == 0;
	uint64_t fail0 = ctl_u64("stats.numa.bind_failures");

	if (cpunodebind1) {
		char list[64] = "", *l = list;
		bool ok = true;
		for (unsigned i = 0; i < g_ncpus; i++) {
			ok = ok && g_cpu_node[g_cpus[i]] == 1;
			l += sprintf(l, "%s%u", i ? "," : "", g_cpus[i]);
		}
		check(ok && g_ncpus == 2, "cpus allowed", "%s", list);
	}
	check_tables(interleave, membind1);
	if (strcmp(s, "strict") == 0) {
		const char *p = ctl_str("numa.policy");
		check(strcmp(p, "bind") == 0, "numa.policy", "%s", p);
	}
	enum expect_where at = interleave ? SPREAD : membind1 || preferred1 ? AT_NODE1 : AT_OWN_NODE;
	check_workers(at, !interleave);
	if (!interleave && !membind1 && !preferred1 && !cpunodebind1) {
		check_first_touch();
		check_migration();
	}
	if (strcmp(s, "percpu") == 0 || strcmp(s, "pernode") == 0)
		check_cross_node_frees();
	if (cpunodebind1) {
		/* The process never ran on node 0 and set no memory policy:
		 * none of hakmem's memory may be there. (Loading the hwloc
		 * module for the topology keys above must not move the thread
		 * to node 0: hwloc's x86 backend binds the caller to every CPU
		 * in turn, whatever its affinity.) */
		uint64_t r0 = ctl_u64("stats.nodes.0.resident");
		check(r0 == 0, "nothing on node 0",
		      "stats.nodes.0.resident %" PRIu64 " KiB; arena.0 superslabs %" PRIu64, r0 >> 10,
		      ctl_u64("stats.arenas.0.superslabs"));
	}
	uint64_t fails = ctl_u64("stats.numa.bind_failures") - fail0;
	check(fails == 0, "stats.numa.bind_failures", "%" PRIu64, fails);

	printf("numa_placement %s: %d passed, %d failed\n", s, g_npass, g_nfail);
	return g_nfail ? 1 : g_npass ? 0 : 77;
}
