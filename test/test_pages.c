/* test_pages - the page layer: blocks from 32 KiB up to 1.75 MiB live in
 * slabs of several 64 KiB units inside SuperSlabs (no mapping, no VMA and no
 * page-table page a block), realloc grows and shrinks in place where it can,
 * direct mappings above 1.75 MiB move by mremap, and memory stays usable
 * under an address-space limit.
 *
 * Every case runs in a child (fork) under alarm(): a crash, hang or wrong
 * result is one failed expectation. Linked with libhakmem.
 */
#include "expect.h"

#include <hakmem.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1 << 20)

/* A child's failures go to stderr and make it exit 1. */
static int g_child_fail;
#define CHILD_CHECK(cond, ...)                                                     \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                 \
			fprintf(stderr, __VA_ARGS__);                                   \
			fputc('\n', stderr);                                            \
			g_child_fail = 1;                                               \
		}                                                                  \
	} while (0)

typedef int (*child_fn)(void *);

static void run_child(const char *what, unsigned timeout, child_fn fn, void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		test_fail("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		alarm(timeout);
		g_child_fail = 0;
		int rc = fn(arg);
		fflush(NULL);
		_exit(rc ? rc : g_child_fail);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s %d", what,
	            WIFSIGNALED(st) ? "killed by signal" : "exit status",
	            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static int maps_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n++;
	if (f)
		fclose(f);
	return n;
}

static size_t status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kb = 0, len = strlen(field);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, field, len) == 0 && line[len] == ':')
			kb = strtoull(line + len + 1, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static uint64_t ctl_u64(const char *name)
{
	uint64_t e = 1, v = 0;
	size_t sz = sizeof v;
	hakmem_ctl("epoch", NULL, NULL, &e, sizeof e);
	hakmem_ctl(name, &v, &sz, NULL, 0);
	return v;
}

/* A cookie in the first and last word of a block. */
static void cookie_put(void *p, size_t size, uint64_t seed)
{
	uint64_t v = seed * 0x9e3779b97f4a7c15u + size;
	memcpy(p, &v, sizeof v);
	memcpy((char *)p + size - sizeof v, &v, sizeof v);
}

static bool cookie_ok(const void *p, size_t size, uint64_t seed)
{
	uint64_t v = seed * 0x9e3779b97f4a7c15u + size, a, b;
	memcpy(&a, p, sizeof a);
	memcpy(&b, (const char *)p + size - sizeof b, sizeof b);
	return a == v && b == v;
}

/* ---- many live blocks, few mappings ---- */

static int c_live_40k(void *arg)
{
	enum { N = 80000 };
	size_t size = 40000;
	int before = maps_lines();
	size_t pte0 = status_kb("VmPTE");
	void **p = malloc(N * sizeof *p);
	for (int i = 0; i < N; i++) {
		p[i] = malloc(size);
		if (p[i] == NULL) {
			CHILD_CHECK(0, "malloc(40000) #%d: NULL (%s)", i, strerror(errno));
			return 1;
		}
		cookie_put(p[i], size, (uint64_t)i);
	}
	int lines = maps_lines();
	size_t pte = status_kb("VmPTE");
	CHILD_CHECK(lines < before + 200, "/proc/self/maps: %d lines with %d live 40 KB blocks (%d before)",
	            lines, N, before);
	/* 3.2 GB of blocks: a page-table page per 2 MiB, not one per block. */
	CHILD_CHECK(pte < pte0 + 32 * 1024, "VmPTE %zu kB (was %zu kB)", pte, pte0);
	CHILD_CHECK(ctl_u64("stats.large.nmalloc") == 0, "40 KB blocks counted as large");
	for (int i = 0; i < N; i++) {
		CHILD_CHECK(cookie_ok(p[i], size, (uint64_t)i), "block %d lost its cookie", i);
		free(p[i]);
		if (g_child_fail)
			break;
	}
	free(p);
	return 0;
}

static void test_live_40k(void)
{
	run_child("80,000 live 40 KB blocks", 60, c_live_40k, NULL);
}

/* Up to a million live blocks of 16 B .. 100 KB, as many as memory allows
 * (each touches its first and last word). */
static int c_live_mixed(void *arg)
{
	size_t avail = 0;
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %zu kB", &avail) == 1)
			break;
	if (f)
		fclose(f);
	/* About 2 pages a block at the largest sizes, far less on average. */
	size_t n = avail * KiB / (3 * 4096);
	if (n > 1000000)
		n = 1000000;
	if (n < 1000)
		return 0;
	void **p = malloc(n * sizeof *p);
	size_t *sz = malloc(n * sizeof *sz);
	unsigned seed = 12345;
	int before = maps_lines();
	for (size_t i = 0; i < n; i++) {
		unsigned r = (unsigned)rand_r(&seed);
		size_t s = (r % 8 == 0) ? 32 * KiB + r % (68 * KiB) : 16 + (r >> 4) % 4000;
		p[i] = malloc(s);
		if (p[i] == NULL) {
			CHILD_CHECK(0, "malloc(%zu) #%zu of %zu: NULL", s, i, n);
			return 1;
		}
		sz[i] = s;
		cookie_put(p[i], s, i);
	}
	int lines = maps_lines();
	CHILD_CHECK(lines < before + 300, "/proc/self/maps: %d lines with %zu live blocks", lines, n);
	for (size_t i = 0; i < n; i++) {
		if (!cookie_ok(p[i], sz[i], i)) {
			CHILD_CHECK(0, "block %zu (%zu B) lost its cookie", i, sz[i]);
			break;
		}
		free(p[i]);
	}
	free(p);
	free(sz);
	return 0;
}

static void test_live_mixed(void)
{
	run_child("a million live mixed blocks", 120, c_live_mixed, NULL);
}

/* ---- realloc across every tier ---- */

static void fill(char *p, size_t from, size_t to, unsigned seed)
{
	for (size_t i = from; i < to; i++)
		p[i] = (char)(seed + i * 7 + (i >> 12));
}

static bool filled(const char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (char)(seed + i * 7 + (i >> 12)))
			return false;
	return true;
}

static int c_realloc_tiers(void *arg)
{
	/* Growing by many steps, through tiny, small, span, one-block-span
	 * and direct sizes, then shrinking back: the contents stay. */
	static const size_t steps[] = { 1, 7, 100, 3000, 30000, 70000, 250000 };
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		char *p = NULL;
		size_t n = 0;
		for (size_t s = steps[k]; s <= 8 * MiB; s += steps[k] + s / 3) {
			char *q = realloc(p, s);
			if (q == NULL) {
				CHILD_CHECK(0, "realloc(%zu) NULL", s);
				return 1;
			}
			if (!filled(q, n, (unsigned)k)) {
				CHILD_CHECK(0, "step %zu: realloc(%zu) lost the contents", steps[k], s);
				return 1;
			}
			p = q;
			fill(p, n, s, (unsigned)k);
			n = s;
		}
		for (size_t s = n; s > 1; s = s / 2 + s / 7) {
			char *q = realloc(p, s);
			if (q == NULL || !filled(q, s, (unsigned)k)) {
				CHILD_CHECK(0, "shrinking to %zu: %s", s, q ? "contents lost" : "NULL");
				return 1;
			}
			p = q;
		}
		free(p);
	}
	/* A block alone in its slab grows into the free units after it: a
	 * 256 KiB block followed by free units becomes 320 KiB in place; one
	 * of 320 KiB gives its tail back at 256 KiB. (The units after the first
	 * block of a fresh SuperSlab are free.) */
	char *a = malloc(256 * KiB);
	fill(a, 0, 256 * KiB, 9);
	char *b = realloc(a, 300 * KiB);
	CHILD_CHECK(b != NULL && filled(b, 256 * KiB, 9), "256 KiB -> 300 KiB lost the contents");
	char *c = realloc(b, 250 * KiB);
	CHILD_CHECK(c != NULL && filled(c, 250 * KiB, 9), "300 KiB -> 250 KiB lost the contents");
	CHILD_CHECK(c == b, "a block alone in its slab shrinks in place (%p -> %p)", (void *)b,
	            (void *)c);
	free(c);
	/* Direct mappings grow and shrink by their mapping: mremap, no copy. */
	char *d = malloc(3 * MiB);
	fill(d, 0, 3 * MiB, 3);
	for (size_t s = 4 * MiB; s <= 64 * MiB; s += 5 * MiB) {
		char *e = realloc(d, s);
		if (e == NULL || !filled(e, 3 * MiB, 3)) {
			CHILD_CHECK(0, "direct %zu: %s", s, e ? "contents lost" : "NULL");
			return 1;
		}
		d = e;
	}
	char *e = realloc(d, 2 * MiB);
	CHILD_CHECK(e == d && filled(e, 2 * MiB, 3), "a direct mapping shrinks in place");
	free(e);
	return 0;
}

static void test_realloc_tiers(void)
{
	run_child("realloc across every tier", 60, c_realloc_tiers, NULL);
}

/* ---- address-space limit: what was freed is usable again ---- */

static void move_cpu(void)
{
	cpu_set_t cur, set;
	if (sched_getaffinity(0, sizeof cur, &cur) != 0 || CPU_COUNT(&cur) < 2)
		return;
	int now = sched_getcpu();
	CPU_ZERO(&set);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &cur) && c != now) {
			CPU_SET(c, &set);
			break;
		}
	sched_setaffinity(0, sizeof set, &set);
	sched_yield();
}

static size_t fill_until_null(void ***out, size_t max, size_t size)
{
	void **p = *out;
	size_t n = 0;
	while (n < max && (p[n] = malloc(size)) != NULL)
		n++;
	return n;
}

static int c_aslimit_reuse(void *arg)
{
	size_t vm = status_kb("VmSize") * KiB;
	enum { MAX = 8 << 20 };
	void **p = malloc(MAX * sizeof *p);
	struct rlimit rl = { vm + 192 * MiB, RLIM_INFINITY };
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return 0;
	size_t n1 = fill_until_null(&p, MAX, 16);
	CHILD_CHECK(n1 > 1000000, "only %zu blocks of 16 B under a 192 MiB margin", n1);
	for (size_t i = 0; i < n1; i++)
		free(p[i]);
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	/* The thread now runs on another CPU (another arena by default). */
	move_cpu();
	size_t n2 = fill_until_null(&p, MAX, 16);
	CHILD_CHECK(n2 * 10 >= n1 * 9, "after freeing everything: %zu blocks again, %zu before", n2,
	            n1);
	for (size_t i = 0; i < n2; i++)
		free(p[i]);
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	void *big = malloc(16 * MiB);
	CHILD_CHECK(big != NULL, "malloc(16 MiB) after everything was freed: NULL");
	free(big);
	void *mid = malloc(1 * MiB);
	CHILD_CHECK(mid != NULL, "malloc(1 MiB) after everything was freed: NULL");
	free(mid);
	return 0;
}

static void test_aslimit_reuse(void)
{
	run_child("freed memory usable again under an address-space limit", 60, c_aslimit_reuse, NULL);
}

/* ---- cross-thread frees of span blocks ---- */

enum { XN = 6000 };
static void *g_x[XN];
static size_t g_xs[XN];

static void *x_free(void *arg)
{
	for (int i = 0; i < XN; i++) {
		if (!cookie_ok(g_x[i], g_xs[i], (uint64_t)i))
			return (void *)1;
		free(g_x[i]);
	}
	return NULL;
}

/* Blocks of class c out of their slabs, all arenas (after an epoch write). */
static size_t class_out(unsigned c, unsigned narenas)
{
	size_t total = 0;
	for (unsigned a = 0; a < narenas; a++) {
		char name[96];
		size_t regs = 0, sz = sizeof regs;
		snprintf(name, sizeof name, "stats.arenas.%u.class.%u.curregs", a, c);
		hakmem_ctl(name, &regs, &sz, NULL, 0);
		total += regs;
	}
	return total;
}

static int c_cross_thread(void *arg)
{
	unsigned narenas = 0, nclasses = 0;
	size_t sz = sizeof narenas;
	hakmem_ctl("arenas.narenas", &narenas, &sz, NULL, 0);
	sz = sizeof nclasses;
	hakmem_ctl("arenas.nclasses", &nclasses, &sz, NULL, 0);
	static size_t before[128];
	uint64_t e = 1;
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	hakmem_ctl("epoch", NULL, NULL, &e, sizeof e);
	for (unsigned c = 0; c < nclasses && c < 128; c++)
		before[c] = class_out(c, narenas);
	unsigned seed = 7;
	for (int i = 0; i < XN; i++) {
		size_t s = 33 * KiB + (size_t)rand_r(&seed) % (1700 * KiB);
		g_x[i] = malloc(s);
		g_xs[i] = s;
		if (g_x[i] == NULL) {
			CHILD_CHECK(0, "malloc(%zu): NULL", s);
			return 1;
		}
		cookie_put(g_x[i], s, (uint64_t)i);
		if (i % 3 == 0) { /* some go at once, the rest from another thread */
			free(g_x[i]);
			g_x[i] = malloc(s);
			cookie_put(g_x[i], s, (uint64_t)i);
		}
	}
	pthread_t t;
	void *r;
	pthread_create(&t, NULL, x_free, NULL);
	pthread_join(t, &r);
	CHILD_CHECK(r == NULL, "a block lost its cookie before the other thread freed it");
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	/* Every block came home: the span classes hold no more blocks out than
	 * before (whatever else in the process holds some). */
	hakmem_ctl("epoch", NULL, NULL, &e, sizeof e);
	for (unsigned c = 0; c < nclasses && c < 128; c++) {
		char name[96];
		size_t csize = 0;
		snprintf(name, sizeof name, "arenas.class.%u.size", c);
		sz = sizeof csize;
		hakmem_ctl(name, &csize, &sz, NULL, 0);
		if (csize <= 32 * KiB)
			continue;
		size_t out = class_out(c, narenas);
		CHILD_CHECK(out <= before[c], "class %u (%zu B): %zu blocks out, %zu before", c, csize,
		            out, before[c]);
	}
	return 0;
}

static void test_cross_thread(void)
{
	run_child("span blocks freed by another thread", 60, c_cross_thread, NULL);
}

/* ---- fork with span blocks live ---- */

static int c_fork_spans(void *arg)
{
	enum { N = 300 };
	static void *p[N];
	for (int i = 0; i < N; i++) {
		size_t s = 40 * KiB + (size_t)i * 5 * KiB;
		p[i] = malloc(s);
		cookie_put(p[i], s, (uint64_t)i);
	}
	for (int round = 0; round < 3; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			int bad = 0;
			for (int i = 0; i < N; i++) {
				size_t s = 40 * KiB + (size_t)i * 5 * KiB;
				bad |= !cookie_ok(p[i], s, (uint64_t)i);
				free(p[i]);
			}
			for (int i = 0; i < N; i++) {
				void *q = malloc(60 * KiB + (size_t)i * 3 * KiB);
				bad |= q == NULL;
				p[i] = q;
			}
			for (int i = 0; i < N; i++)
				free(p[i]);
			_exit(bad);
		}
		int st;
		waitpid(pid, &st, 0);
		CHILD_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child of fork %d failed", round);
	}
	for (int i = 0; i < N; i++) {
		size_t s = 40 * KiB + (size_t)i * 5 * KiB;
		CHILD_CHECK(cookie_ok(p[i], s, (uint64_t)i), "parent's block %d after fork", i);
		free(p[i]);
	}
	return 0;
}

static void test_fork_spans(void)
{
	run_child("fork with span blocks live", 60, c_fork_spans, NULL);
}

/* ---- alignment up to 1 GiB ---- */

static int c_align(void *arg)
{
	static const size_t sizes[] = { 1, 100, 5000, 40000, 300000, 3 * MiB };
	for (unsigned k = 3; k <= 30; k++) {
		size_t align = (size_t)1 << k;
		for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
			if (k >= 28 && sizes[j] > 100000)
				continue; /* 1 GiB alignment of big blocks: address space only */
			void *p = NULL;
			int r = posix_memalign(&p, align, sizes[j]);
			if (r != 0) {
				CHILD_CHECK(0, "posix_memalign(%zu, %zu): %d", align, sizes[j], r);
				continue;
			}
			CHILD_CHECK(((uintptr_t)p & (align - 1)) == 0, "%p not aligned to %zu", p, align);
			CHILD_CHECK(malloc_usable_size(p) >= sizes[j], "usable size of %zu-aligned %zu",
			            align, sizes[j]);
			((char *)p)[0] = 1;
			((char *)p)[sizes[j] - 1] = 2;
			void *q = aligned_alloc(align, sizes[j] * 2);
			CHILD_CHECK(q != NULL && ((uintptr_t)q & (align - 1)) == 0, "aligned_alloc(%zu)",
			            align);
			free(q);
			free(p);
		}
	}
	return 0;
}

static void test_align(void)
{
	run_child("alignment up to 1 GiB", 60, c_align, NULL);
}

/* ---- large.threshold ---- */

static int c_threshold(void *arg)
{
	size_t t = 0, sz = sizeof t, want = 64 * KiB;
	CHILD_CHECK(hakmem_ctl("large.threshold", &t, &sz, NULL, 0) == 0 && t == 1792 * KiB,
	            "large.threshold defaults to the largest class (%zu)", t);
	uint64_t l0 = ctl_u64("stats.large.nmalloc");
	void *p = malloc(100 * KiB);
	free(p);
	CHILD_CHECK(ctl_u64("stats.large.nmalloc") == l0, "100 KiB is a class by default");
	CHILD_CHECK(hakmem_ctl("large.threshold", NULL, NULL, &want, sizeof want) == 0, "write");
	p = malloc(100 * KiB);
	CHILD_CHECK(ctl_u64("stats.large.nmalloc") == l0 + 1, "100 KiB above large.threshold=64K is large");
	void *q = malloc(60 * KiB);
	CHILD_CHECK(ctl_u64("stats.large.nmalloc") == l0 + 1, "60 KiB stays a class");
	free(p);
	free(q);
	size_t bad = 4 * MiB;
	CHILD_CHECK(hakmem_ctl("large.threshold", NULL, NULL, &bad, sizeof bad) == EINVAL,
	            "above the largest class: EINVAL");
	size_t slab = 0;
	sz = sizeof slab;
	CHILD_CHECK(hakmem_ctl("arenas.class.65.slab_size", &slab, &sz, NULL, 0) == 0 &&
	            slab == 28 * 64 * KiB, "the largest class's slab: 28 units (%zu)", slab);
	return 0;
}

static void test_threshold(void)
{
	run_child("large.threshold and slab sizes", 30, c_threshold, NULL);
}

/* ---- a thread's large slot after the thread changes arena ---- */

static void *slot_thread(void *arg)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		return (void *)2;
	sched_yield();
	uint64_t e = 1;
	size_t sz = sizeof(size_t), al0 = 0, al1 = 0;
	void *warm = malloc(64);
	free(warm);
	free(malloc(3 * MiB)); /* stays in this thread's large slot, in arena 1 */
	hakmem_ctl("epoch", NULL, NULL, &e, sizeof e);
	hakmem_ctl("stats.allocated", &al0, &sz, NULL, 0);
	/* Fold onto arena 0: the thread follows at its next refill (of a class
	 * it has not used yet), its slot (still arena 1's) kept, as no drain
	 * comes so soon. */
	mallopt(M_ARENA_MAX, 1);
	free(malloc(3000));
	unsigned arena = 9;
	sz = sizeof arena;
	hakmem_ctl("thread.arena", &arena, &sz, NULL, 0);
	hakmem_ctl("epoch", NULL, NULL, &e, sizeof e);
	sz = sizeof(size_t);
	hakmem_ctl("stats.allocated", &al1, &sz, NULL, 0);
	mallopt(M_ARENA_MAX, 0);
	if (arena != 0)
		return (void *)3;
	/* The freed 3 MiB block counts as allocated in no arena. */
	return al1 < al0 + 1 * MiB ? NULL : (void *)1;
}

static int c_slot_moved(void *arg)
{
	cpu_set_t cur;
	unsigned narenas = 0;
	size_t sz = sizeof narenas;
	hakmem_ctl("arenas.narenas", &narenas, &sz, NULL, 0);
	if (sched_getaffinity(0, sizeof cur, &cur) != 0 || !CPU_ISSET(1, &cur) || narenas < 2)
		return 0; /* needs CPU 1 and its own arena */
	pthread_t t;
	void *r;
	pthread_create(&t, NULL, slot_thread, NULL);
	pthread_join(t, &r);
	CHILD_CHECK(r == NULL || r == (void *)2, "a freed 3 MiB block in the thread's large slot "
	            "counted as allocated after the thread changed arena (%d)", (int)(uintptr_t)r);
	return 0;
}

static void test_slot_moved(void)
{
	run_child("the large slot after a change of arena", 30, c_slot_moved, NULL);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_run(test_live_40k);
	test_run(test_live_mixed);
	test_run(test_realloc_tiers);
	test_run(test_aslimit_reuse);
	test_run(test_cross_thread);
	test_run(test_fork_spans);
	test_run(test_align);
	test_run(test_slot_moved);
	test_run(test_threshold);
	return test_summary();
}
