/* test_stress.c - multi-threaded malloc/free stress with cookie patterns.
 *
 * Every block is filled over its requested size with a pattern derived from
 * its address and size (its "cookie") and checked when it is freed, resized
 * or handed on, so a block given out twice, one that overlaps another, or a
 * free that damages a live block is caught where it happens. A share of the
 * blocks travels through a shared array of slots to other threads, which
 * free them (cross-thread frees).
 *
 * Tests (all of them, in this order, when none is named):
 *   threads  -t threads run a random mix of malloc, calloc, posix_memalign,
 *            realloc and free of sizes across every tier, -n operations
 *            each, trading blocks through the shared slots.
 *   churn    -c short-lived threads (at most -w at a time) allocate, free
 *            some of their blocks and leave the rest in the shared slots,
 *            where long-lived threads and later short-lived ones free them.
 *   fork     while -t threads run the mix, the main thread forks -f times;
 *            each child checks and frees inherited blocks (its own and the
 *            other threads'), allocates, starts a thread, uses stdio, and
 *            exits 0.
 *
 *   test_stress [-t threads] [-n ops] [-c churn_threads] [-w width]
 *               [-f forks] [-s seed] [-v] [threads|churn|fork ...]
 *
 * At the end it prints "allocations: N frees: M" (calls this program made)
 * on stdout. Built twice: test_stress links hakmem and also checks hakmem's
 * own statistics (HAKMEM_LINKED); test_stress_plain links nothing and runs
 * under LD_PRELOAD from test/stress_preload.sh.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAKMEM_LINKED
#include "hakmem.h"
#endif
#include "expect.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* ---- parameters ---------------------------------------------------------- */

static int opt_threads = 4;
static long opt_ops = 150000;
static int opt_churn = 3000;
static int opt_width = 8;
static int opt_forks = 30;
static uint64_t opt_seed = 42;
static int opt_verbose;

/* ---- blocks and cookies ------------------------------------------------- */

/* A block handle: the pointer in the low 48 bits, the size above it, or
 * SIZE_IN_BLOCK when the size does not fit (it is then the block's first
 * word, which a size >= SIZE_IN_BLOCK has room for). */
typedef uintptr_t handle_t;
#define SIZE_IN_BLOCK ((size_t)0xffff)
#define PTR_MASK (((uintptr_t)1 << 48) - 1)
#define MAX_BLOCK (8 * MiB)

static uint64_t cookie(const void *p, size_t size)
{
	uint64_t c = ((uintptr_t)p >> 3) * 0x9e3779b97f4a7c15ull ^ size * 0xc2b2ae3d27d4eb4full;
	return c ^ (c >> 29);
}

static void *h_ptr(handle_t h) { return (void *)(h & PTR_MASK); }

static size_t h_size(handle_t h)
{
	size_t s = h >> 48;
	if (s == SIZE_IN_BLOCK)
		memcpy(&s, h_ptr(h), sizeof s);
	return s;
}

/* Fills the block and returns its handle. */
static handle_t block_fill(void *p, size_t size)
{
	if (!expect_true(((uintptr_t)p & ~PTR_MASK) == 0, "pointer %p above 2^48", p))
		abort();
	uint64_t c = cookie(p, size);
	unsigned char *b = p;
	size_t nw = size / 8, k = 0;
	if (size >= SIZE_IN_BLOCK) {
		memcpy(b, &size, 8);
		k = 1;
	}
	for (; k < nw; k++) {
		uint64_t w = c ^ (k * 0xff51afd7ed558ccdull);
		memcpy(b + 8 * k, &w, 8);
	}
	for (size_t i = 8 * nw; i < size; i++)
		b[i] = (unsigned char)(c >> (8 * (i % 8))) ^ (unsigned char)i;
	return (uintptr_t)p | (uintptr_t)(size < SIZE_IN_BLOCK ? size : SIZE_IN_BLOCK) << 48;
}

/* Byte i of a block of `size` bytes with cookie c (the fill above). */
static unsigned char pattern_byte(uint64_t c, size_t size, size_t i)
{
	size_t k = i / 8;
	if (k < size / 8) {
		uint64_t w = k == 0 && size >= SIZE_IN_BLOCK ? size : c ^ (k * 0xff51afd7ed558ccdull);
		return (unsigned char)(w >> (8 * (i % 8)));
	}
	return (unsigned char)(c >> (8 * (i % 8))) ^ (unsigned char)i;
}

/* Checks the first `upto` bytes (all if upto >= size) of the block p of
 * `size` bytes, filled when it was at cookie_p (p itself, or the old
 * address of a realloc'd block). Returns true if intact. */
static bool block_check_at(const void *p, size_t size, const void *cookie_p, size_t upto,
                           const char *what)
{
	uint64_t c = cookie(cookie_p, size);
	const unsigned char *b = p;
	size_t n = upto < size ? upto : size;
	size_t nw = n / 8, k = 0;
	if (size >= SIZE_IN_BLOCK && n >= 8) {
		size_t s;
		memcpy(&s, b, 8);
		if (!expect_zu_eq(s, size, "%s %p: size word", what, p))
			return false;
		k = 1;
	}
	for (; k < nw; k++) {
		uint64_t w;
		memcpy(&w, b + 8 * k, 8);
		if (w != (c ^ (k * 0xff51afd7ed558ccdull))) {
			test_fail("%s %p of size %zu: corrupt word at offset %zu: %#" PRIx64
			          " (expected %#" PRIx64 ")", what, p, size, 8 * k, w,
			          (uint64_t)(c ^ (k * 0xff51afd7ed558ccdull)));
			return false;
		}
	}
	for (size_t i = 8 * nw; i < n; i++)
		if (b[i] != pattern_byte(c, size, i)) {
			test_fail("%s %p of size %zu: corrupt byte at offset %zu: %#x (expected %#x)", what,
			          p, size, i, b[i], pattern_byte(c, size, i));
			return false;
		}
	return true;
}

static bool block_check(handle_t h)
{
	void *p = h_ptr(h);
	size_t size = h_size(h);
	if (!expect_zu_le(size, MAX_BLOCK, "block %p: size word corrupt", p))
		return false;
	return block_check_at(p, size, p, SIZE_MAX, "block");
}

/* ---- the thread-local mix -------------------------------------------------- */

typedef struct {
	uint64_t rng;
	uint64_t nalloc; /* malloc, calloc, posix_memalign calls */
	uint64_t nfree;  /* free calls */
	uint64_t nrealloc;
} tstate_t;

static uint64_t total_alloc, total_free, total_realloc; /* [atomic] */

static void tstate_flush(tstate_t *t)
{
	__atomic_fetch_add(&total_alloc, t->nalloc, __ATOMIC_RELAXED);
	__atomic_fetch_add(&total_free, t->nfree, __ATOMIC_RELAXED);
	__atomic_fetch_add(&total_realloc, t->nrealloc, __ATOMIC_RELAXED);
	t->nalloc = t->nfree = t->nrealloc = 0;
}

/* A size from every tier: mostly tiny, some small, few large, rare huge. */
static size_t rand_size(tstate_t *t)
{
	uint64_t r = test_rand(&t->rng);
	unsigned pct = (unsigned)(r % 1000);
	r >>= 10;
	if (pct < 550)
		return 1 + r % 128;
	if (pct < 800)
		return 129 + r % (1024 - 128);
	if (pct < 950)
		return 1025 + r % (32 * KiB - 1024);
	if (pct < 997)
		return 32 * KiB + 1 + r % (256 * KiB);
	return 256 * KiB + r % (4 * MiB);
}

static handle_t do_alloc(tstate_t *t, size_t size)
{
	unsigned kind = (unsigned)(test_rand(&t->rng) % 16);
	void *p;
	if (kind < 12) {
		p = malloc(size);
	} else if (kind < 14) {
		p = calloc(1, size);
		if (p)
			expect_zu_eq(test_first_nonzero(p, size), SIZE_MAX, "calloc(1, %zu) = %p not zero at",
			             size, p);
	} else {
		size_t align = (size_t)16 << (test_rand(&t->rng) % 9); /* 16 .. 4096 */
		int r = posix_memalign(&p, align, size);
		if (!expect_int_eq(r, 0, "posix_memalign(%zu, %zu)", align, size))
			p = NULL;
		else
			expect_aligned(p, align, "posix_memalign(%zu, %zu)", align, size);
	}
	t->nalloc++;
	if (!expect_ptr_not_null(p, "allocating %zu bytes", size))
		return 0;
	expect_zu_ge(malloc_usable_size(p), size, "usable size of %p", p);
	return block_fill(p, size);
}

static void do_free(tstate_t *t, handle_t h)
{
	if (!h)
		return;
	if (block_check(h))
		free(h_ptr(h));
	t->nfree++;
}

/* realloc: the prefix survives; returns the new handle (the old one if the
 * realloc failed). */
static handle_t do_realloc(tstate_t *t, handle_t h)
{
	size_t size = rand_size(t);
	void *p = h_ptr(h);
	size_t old = h_size(h);
	if (!block_check(h))
		return h;
	void *q = realloc(p, size);
	t->nrealloc++;
	if (!expect_ptr_not_null(q, "realloc(%p, %zu -> %zu)", p, old, size))
		return h;
	/* The old content, still under the old cookie, up to min(old, size). */
	block_check_at(q, old, p, size, "realloc'd block");
	return block_fill(q, size);
}

/* Shared slots through which blocks change threads. */
#define NSLOTS 1024
static handle_t slots[NSLOTS]; /* [atomic] */

static handle_t slot_swap(unsigned i, handle_t h)
{
	return __atomic_exchange_n(&slots[i % NSLOTS], h, __ATOMIC_ACQ_REL);
}

static void slots_drain(tstate_t *t)
{
	for (unsigned i = 0; i < NSLOTS; i++)
		do_free(t, slot_swap(i, 0));
}

#define NLOCAL 512

static volatile int stop_flag; /* [atomic] the fork test's workers stop */

/* The random mix, `ops` operations (or until stop_flag when ops < 0). */
static void mix(tstate_t *t, long ops)
{
	handle_t local[NLOCAL] = {0};
	for (long i = 0; ops < 0 ? !__atomic_load_n(&stop_flag, __ATOMIC_RELAXED) : i < ops; i++) {
		uint64_t r = test_rand(&t->rng);
		unsigned op = (unsigned)(r % 100);
		unsigned j = (unsigned)(r >> 8) % NLOCAL;
		if (op < 45) {
			do_free(t, local[j]);
			local[j] = do_alloc(t, rand_size(t));
		} else if (op < 72) {
			do_free(t, local[j]);
			local[j] = 0;
		} else if (op < 80) {
			if (local[j])
				local[j] = do_realloc(t, local[j]);
		} else if (op < 99) {
			/* Trade: leave our block (maybe none) in a shared slot and
			 * take whatever another thread left there. */
			handle_t got = slot_swap((unsigned)(r >> 32), local[j]);
			if (got)
				block_check(got);
			local[j] = got;
		} else if ((r >> 40) % 64 == 0) {
			/* Now and then, free everything. */
			for (unsigned k = 0; k < NLOCAL; k++) {
				do_free(t, local[k]);
				local[k] = 0;
			}
		}
		if (test_failures() > 50)
			break;
	}
	for (unsigned k = 0; k < NLOCAL; k++)
		do_free(t, local[k]);
}

/* ---- statistics (when linked with hakmem) ------------------------------- */

typedef struct {
	uint64_t nmalloc, nfree;
	size_t allocated;
} hstats_t;

static hstats_t hstats(void)
{
	hstats_t s = {0, 0, 0};
#ifdef HAKMEM_LINKED
	uint64_t e = 1;
	size_t sz = sizeof e;
	expect_int_eq(hakmem_ctl("epoch", &e, &sz, &e, sz), 0);
	sz = sizeof s.nmalloc;
	expect_int_eq(hakmem_ctl("stats.nmalloc", &s.nmalloc, &sz, NULL, 0), 0);
	sz = sizeof s.nfree;
	expect_int_eq(hakmem_ctl("stats.nfree", &s.nfree, &sz, NULL, 0), 0);
	sz = sizeof s.allocated;
	expect_int_eq(hakmem_ctl("stats.allocated", &s.allocated, &sz, NULL, 0), 0);
#endif
	return s;
}

/* After a test that freed everything it allocated: hakmem counted at least
 * our calls, and holds (about) nothing more for the program than before. */
static void check_hstats(const hstats_t *before, uint64_t nalloc, uint64_t nfree)
{
#ifdef HAKMEM_LINKED
	hstats_t after = hstats();
	expect_u64_ge(after.nmalloc - before->nmalloc, nalloc, "stats.nmalloc delta");
	expect_u64_ge(after.nfree - before->nfree, nfree, "stats.nfree delta");
	expect_zu_le(after.allocated, before->allocated + 1 * MiB,
	             "stats.allocated after the test freed everything (before: %zu)",
	             before->allocated);
#endif
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- test: threads ----------------------------------------------------------- */

typedef struct {
	pthread_t tid;
	tstate_t st;
	long ops;
} worker_t;

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	mix(&w->st, w->ops);
	tstate_flush(&w->st);
	return NULL;
}

static void start_workers(worker_t *w, int n, long ops, uint64_t seed)
{
	for (int i = 0; i < n; i++) {
		w[i].st = (tstate_t){.rng = seed * 1000003 + (uint64_t)i};
		w[i].ops = ops;
		int r = pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
		if (!expect_int_eq(r, 0, "pthread_create"))
			exit(1);
	}
}

static void join_workers(worker_t *w, int n)
{
	for (int i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
}

static void test_threads(void)
{
	hstats_t before = hstats();
	uint64_t a0 = total_alloc, f0 = total_free;
	worker_t *w = calloc((size_t)opt_threads, sizeof *w);
	tstate_t main_st = {.rng = opt_seed};
	start_workers(w, opt_threads, opt_ops, opt_seed);
	join_workers(w, opt_threads);
	/* The blocks left in the slots: freed by the main thread. */
	slots_drain(&main_st);
	tstate_flush(&main_st);
	free(w);
	check_hstats(&before, total_alloc - a0, total_free - f0);
	if (opt_verbose)
		fprintf(stderr, "threads: %" PRIu64 " allocations\n", total_alloc - a0);
}

/* ---- test: churn of short-lived threads --------------------------------- */

static volatile int churn_done; /* [atomic] */

static void *short_lived_main(void *arg)
{
	tstate_t t = {.rng = (uint64_t)(uintptr_t)arg * 0x2545f4914f6cdd1dull};
	enum { K = 40 };
	handle_t mine[K];
	for (int i = 0; i < K; i++) {
		size_t size = rand_size(&t);
		if (size > 64 * KiB)
			size = 1 + size % 2000;
		mine[i] = do_alloc(&t, size);
	}
	for (int i = 0; i < K; i++) {
		uint64_t r = test_rand(&t.rng);
		if (r % 3 == 0) {
			do_free(&t, mine[i]);
		} else {
			/* Leave it for someone else; free what was there (a block of
			 * another thread, likely one that has exited). */
			do_free(&t, slot_swap((unsigned)(r >> 16), mine[i]));
		}
	}
	tstate_flush(&t);
	return NULL;
}

static void *long_lived_main(void *arg)
{
	tstate_t t = {.rng = (uint64_t)(uintptr_t)arg + 99};
	while (!__atomic_load_n(&churn_done, __ATOMIC_ACQUIRE)) {
		uint64_t r = test_rand(&t.rng);
		handle_t h = slot_swap((unsigned)(r >> 16), 0);
		do_free(&t, h);
		/* Some blocks of ours go the other way: short-lived threads free
		 * them. */
		if (r % 4 == 0)
			do_free(&t, slot_swap((unsigned)(r >> 32), do_alloc(&t, 1 + (r >> 40) % 3000)));
		if (!h)
			sched_yield();
		if (test_failures() > 50)
			break;
	}
	tstate_flush(&t);
	return NULL;
}

static void test_churn(void)
{
	hstats_t before = hstats();
	uint64_t a0 = total_alloc, f0 = total_free;
	enum { NLONG = 2 };
	pthread_t longs[NLONG];
	__atomic_store_n(&churn_done, 0, __ATOMIC_RELEASE);
	for (int i = 0; i < NLONG; i++)
		if (!expect_int_eq(pthread_create(&longs[i], NULL, long_lived_main, (void *)(uintptr_t)i), 0))
			return;
	int width = opt_width < 1 ? 1 : opt_width;
	pthread_t *wave = malloc(sizeof *wave * (size_t)width);
	int started = 0;
	while (started < opt_churn) {
		int n = 0;
		for (; n < width && started < opt_churn; n++, started++) {
			int r = pthread_create(&wave[n], NULL, short_lived_main,
			                       (void *)(uintptr_t)(opt_seed * 7919 + (uint64_t)started));
			if (!expect_int_eq(r, 0, "pthread_create #%d: %s", started, strerror(r)))
				break;
		}
		for (int i = 0; i < n; i++)
			pthread_join(wave[i], NULL);
		if (test_failures() > 50)
			break;
	}
	free(wave);
	__atomic_store_n(&churn_done, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < NLONG; i++)
		pthread_join(longs[i], NULL);
	tstate_t main_st = {.rng = 1};
	slots_drain(&main_st);
	tstate_flush(&main_st);
	check_hstats(&before, total_alloc - a0, total_free - f0);
	if (opt_verbose)
		fprintf(stderr, "churn: %d threads, %" PRIu64 " allocations\n", started, total_alloc - a0);
}

/* ---- test: fork while other threads allocate ------------------------------------ */

static void *child_thread_main(void *arg)
{
	tstate_t *t = arg;
	mix(t, 1000);
	return NULL;
}

/* The child: runs with whatever state the other threads left at fork. */
static void fork_child(handle_t *mine, int nmine)
{
	alarm(30); /* a deadlock shows as SIGALRM */
	tstate_t t = {.rng = (uint64_t)getpid()};
	/* Blocks of the forking thread, and blocks of the other threads left in
	 * the shared slots (their owners do not exist here). */
	for (int i = 0; i < nmine; i++)
		if (i % 2 == 0) {
			do_free(&t, mine[i]);
			mine[i] = 0;
		}
	slots_drain(&t);
	mix(&t, 1500);
	pthread_t th;
	tstate_t t2 = {.rng = t.rng + 1};
	if (expect_int_eq(pthread_create(&th, NULL, child_thread_main, &t2), 0))
		pthread_join(th, NULL);
	/* stdio allocates its buffers with malloc. */
	FILE *f = fopen("/dev/null", "w");
	if (expect_ptr_not_null(f, "fopen /dev/null")) {
		for (int i = 0; i < 100; i++)
			fprintf(f, "child %d line %d %s\n", (int)getpid(), i, "text");
		fclose(f);
	}
	char *s = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&s, &n);
	if (expect_ptr_not_null(m, "open_memstream")) {
		for (int i = 0; i < 1000; i++)
			fprintf(m, "%d,", i);
		fclose(m);
		expect_zu_gt(n, 3000);
		free(s);
	}
	for (int i = 0; i < nmine; i++)
		do_free(&t, mine[i]);
	exit(test_failures() ? 1 : 0);
}

static void test_fork(void)
{
	enum { NMINE = 64 };
	handle_t mine[NMINE];
	tstate_t t = {.rng = opt_seed + 5};
	__atomic_store_n(&stop_flag, 0, __ATOMIC_RELAXED);
	worker_t *w = calloc((size_t)opt_threads, sizeof *w);
	start_workers(w, opt_threads, -1, opt_seed + 17);
	int nok = 0;
	for (int i = 0; i < opt_forks; i++) {
		for (int k = 0; k < NMINE; k++)
			mine[k] = do_alloc(&t, rand_size(&t));
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		if (pid == 0)
			fork_child(mine, NMINE);
		if (!expect_int_ge(pid, 0, "fork: %s", strerror(errno)))
			break;
		int st = 0;
		pid_t r;
		while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
			;
		expect_int_eq(r, pid);
		if (expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		                "fork #%d: child %d %s %d", i, (int)pid,
		                WIFEXITED(st) ? "exited with" : "killed by signal",
		                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st)))
			nok++;
		/* The parent's copies are untouched by the child. */
		for (int k = 0; k < NMINE; k++)
			do_free(&t, mine[k]);
		if (test_failures() > 20)
			break;
		usleep(1000);
	}
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
	join_workers(w, opt_threads);
	free(w);
	slots_drain(&t);
	tstate_flush(&t);
	if (opt_verbose)
		fprintf(stderr, "fork: %d of %d children exited 0\n", nok, opt_forks);
}

/* ---- main --------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: test_stress [-t threads] [-n ops] [-c churn_threads] [-w width]\n"
	                "                   [-f forks] [-s seed] [-v] [threads|churn|fork ...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "t:n:c:w:f:s:vh")) != -1) {
		switch (c) {
		case 't': opt_threads = atoi(optarg); break;
		case 'n': opt_ops = atol(optarg); break;
		case 'c': opt_churn = atoi(optarg); break;
		case 'w': opt_width = atoi(optarg); break;
		case 'f': opt_forks = atoi(optarg); break;
		case 's': opt_seed = strtoull(optarg, NULL, 0); break;
		case 'v': opt_verbose = 1; break;
		default: usage();
		}
	}
	if (opt_threads < 1)
		opt_threads = 1;
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {{"threads", test_threads}, {"churn", test_churn}, {"fork", test_fork}};
	int ntests = (int)(sizeof tests / sizeof tests[0]);
	for (int k = 0; k < ntests; k++) {
		bool run = optind == argc;
		for (int i = optind; i < argc; i++)
			if (strcmp(argv[i], tests[k].name) == 0)
				run = true;
		if (!run)
			continue;
		double t0 = now();
		test_run_(tests[k].fn, tests[k].name);
		fprintf(stderr, "  (%s: %.2f s)\n", tests[k].name, now() - t0);
	}
	for (int i = optind; i < argc; i++) {
		bool known = false;
		for (int k = 0; k < ntests; k++)
			known |= strcmp(argv[i], tests[k].name) == 0;
		if (!known)
			usage();
	}
	printf("allocations: %" PRIu64 " frees: %" PRIu64 " reallocs: %" PRIu64 "\n", total_alloc,
	       total_free, total_realloc);
	return test_summary();
}
