/* test_lifecycle.c - thread start and exit, key destructors that run after
 * hakmem's own thread teardown, fork, and pointers hakmem did not allocate.
 *
 * Linked with libhakmem.la, so malloc & co. are hakmem's. Every case that may
 * crash, hang or abort runs in a child process (run_child) under a watchdog:
 * alarm() in the child, and a deadline in the parent that kills the child's
 * whole process group. One defect is one failed expectation; the other cases
 * still run. Nothing here asserts on time: deadlines only bound the work.
 *
 * free() of a block whose slab_t says "no arena" (a large block, or memory
 * that is not hakmem's) by a thread whose cache has no arena (it has not
 * allocated yet, or its cache was torn down at exit) must not take the fast
 * path: the cache's bin would be found at %fs:0, the thread's TCB. The cases
 * that exercise it compare the first three words of the TCB (%fs:0 the
 * thread pointer, %fs:8 the DTV, %fs:16 the thread descriptor) before and
 * after the free, and report (and put back) what changed.
 *
 * A free that aborts is watched too: a SIGABRT handler compares the TCB of
 * the aborting thread, so "detected, but after writing into the TCB" fails.
 *
 * The tests (the name without "test_" selects one):
 *   first_free_large_in_thread    free(64 KiB block) as a thread's first call
 *   destructor_free_after_teardown  free(200 KB) in a late key's destructor
 *   first_free_stack_in_thread    free(stack address) as a thread's first call
 *   alloc_after_teardown          aligned/plain allocation in a late destructor
 *   first_alloc_in_last_round     first allocation in the last destructor
 *                                 round, then epoch and the stats
 *   fork_deadlock                 tst-malloc-fork-deadlock's scenario
 *   fork_in_signal_handler        tst-mallocfork2's scenario (fresh process)
 *   fork_storm                    fork from a process whose threads allocate
 *   foreign_pointers              free of glibc, .bss, literal, (void *)1, mmap
 *                                 pointers; double free of 2 MiB-aligned and
 *                                 large blocks; fresh thread and main thread
 *   immediate_double_free         free(p); free(p) of small blocks, default
 *                                 configuration and slow paths
 *   interior_free_thread_exit     free(p + 16), then the thread exits
 *   thread_arena_sticks           thread.arena = k survives many refills
 *   cpu_move_in_node              a thread moved to another CPU of its node
 *                                 keeps its arena and its peak RSS; threads
 *                                 that started on one CPU spread when moved
 *   cpu_reweigh                   a thread that stayed in a crowded arena on
 *                                 a CPU change moves, on the same CPU, once
 *                                 that CPU's arena empties (after a drain)
 *
 *   test_lifecycle [TEST...]      (no arguments: every test; exit 0/1/77)
 *   test_lifecycle --child NAME   (internal: the cases that need a fresh
 *                                  process, re-executed from run_child)
 *   TEST_VERBOSE=1                also print the children's stderr of the
 *                                 foreign-pointer and stack cases that passed
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hakmem.h"
#include "expect.h"
#include "child.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

static const char *g_argv0 = "test_lifecycle";

/* ---- ctl helpers --------------------------------------------------------- */

static int ctl_get_u64(const char *name, uint64_t *v)
{
	size_t sz = sizeof *v;
	return hakmem_ctl(name, v, &sz, NULL, 0);
}

/* ---- the TCB guard -------------------------------------------------------- */

typedef struct {
	uintptr_t w[3]; /* %fs:0, %fs:8, %fs:16 */
} tcb_t;

static inline __attribute__((always_inline)) void tcb_read(tcb_t *t)
{
	__asm__ volatile("movq %%fs:0, %0" : "=r"(t->w[0]) : : "memory");
	__asm__ volatile("movq %%fs:8, %0" : "=r"(t->w[1]) : : "memory");
	__asm__ volatile("movq %%fs:16, %0" : "=r"(t->w[2]) : : "memory");
}

/* The TCB is as `before` (read just before the allocator call `what`);
 * otherwise puts it back and reports. The thread pointer (%fs:0) and the
 * descriptor pointer (%fs:16) never change; the DTV pointer (%fs:8) may be
 * replaced by the dynamic linker (a TLS access after a dlopen), so only a
 * counter-like change of it (by less than 4096) counts. */
static bool tcb_intact(const tcb_t *before, const char *what)
{
	tcb_t now;
	tcb_read(&now);
	uintptr_t w0 = before->w[0], w1 = before->w[1], w2 = before->w[2];
	uintptr_t d1 = now.w[1] - w1;
	bool dtv_bumped = now.w[1] != w1 && (d1 < 4096 || -d1 < 4096);
	if (now.w[0] == w0 && !dtv_bumped && now.w[2] == w2)
		return true;
	__asm__ volatile("movq %0, %%fs:0" : : "r"(w0) : "memory");
	if (dtv_bumped)
		__asm__ volatile("movq %0, %%fs:8" : : "r"(w1) : "memory");
	__asm__ volatile("movq %0, %%fs:16" : : "r"(w2) : "memory");
	child_fail("%s wrote into the thread's TCB: %%fs:0 %#lx -> %#lx, %%fs:8 %#lx -> %#lx, "
	           "%%fs:16 %#lx -> %#lx (put back)",
	           what, (unsigned long)w0, (unsigned long)now.w[0], (unsigned long)w1,
	           (unsigned long)now.w[1], (unsigned long)w2, (unsigned long)now.w[2]);
	return false;
}

/* A free that stops the process (the diagnostic and abort()) must not have
 * written into the TCB first either: while a guarded free runs, a SIGABRT
 * handler compares the aborting thread's TCB with the one read before the
 * free. The snapshots live in a global table found by thread id (a TLS
 * variable's address is computed from %fs:0, which may be the damage). */
#define WATCH_SLOTS 64
static struct {
	pid_t tid; /* 0: free slot [atomic] */
	tcb_t tcb;
	const char *what;
} g_watch[WATCH_SLOTS];

static void watch_abort_handler(int sig)
{
	pid_t me = gettid();
	for (int i = 0; i < WATCH_SLOTS; i++)
		if (__atomic_load_n(&g_watch[i].tid, __ATOMIC_ACQUIRE) == me)
			tcb_intact(&g_watch[i].tcb, g_watch[i].what);
	signal(SIGABRT, SIG_DFL); /* abort() raises it again */
}

static int watch_begin(const char *what)
{
	static int installed; /* [atomic] */
	if (!__atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL)) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = watch_abort_handler;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGABRT, &sa, NULL);
	}
	pid_t me = gettid();
	for (int i = 0; i < WATCH_SLOTS; i++) {
		pid_t zero = 0;
		if (__atomic_compare_exchange_n(&g_watch[i].tid, &zero, -1, false, __ATOMIC_ACQ_REL,
		                                __ATOMIC_RELAXED)) {
			tcb_read(&g_watch[i].tcb);
			g_watch[i].what = what;
			__atomic_store_n(&g_watch[i].tid, me, __ATOMIC_RELEASE);
			return i;
		}
	}
	return -1;
}

/* free(p), checking the TCB around it (and, should it abort, in the
 * SIGABRT handler). */
static bool guarded_free(void *p, const char *what)
{
	int slot = watch_begin(what);
	tcb_t t;
	tcb_read(&t);
	free(opaque(p));
	bool ok = tcb_intact(&t, what);
	if (slot >= 0)
		__atomic_store_n(&g_watch[slot].tid, 0, __ATOMIC_RELEASE);
	return ok;
}

/* ---- child processes ------------------------------------------------------ */

/* Runs this program again as `--child name` (for cases that need a fresh,
 * single-threaded process, or a start-up conf string). */
static int reexec_child(const char *name, const char *conf)
{
	if (conf)
		setenv("HAKMEM_CONF", conf, 1);
	execl("/proc/self/exe", g_argv0, "--child", name, (char *)NULL);
	say("execl /proc/self/exe: %s", strerror(errno));
	return 126;
}

/* ---- threads -------------------------------------------------------------- */

/* Keeps the calling thread on the CPU it runs on (best effort). */
static void pin_to_current_cpu(void)
{
	int cpu = sched_getcpu();
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

/* A key created now (after hakmem initialised: every test process has
 * malloc'ed by then), so its destructor runs after hakmem's own in each
 * round of thread exit. */
static pthread_key_t late_key(void (*destr)(void *))
{
	free(opaque(malloc(16)));
	pthread_key_t k;
	int e = pthread_key_create(&k, destr);
	if (e != 0) {
		child_fail("pthread_key_create: %s", strerror(e));
		_exit(4);
	}
	return k;
}

/* Normal allocator use of a thread: small, medium and large blocks. */
static void churn_a_little(unsigned seed)
{
	void *p[32];
	for (int r = 0; r < 4; r++) {
		for (int i = 0; i < 32; i++) {
			size_t sz = (size_t)((seed + (unsigned)i * 37u) % 3000u) + 1;
			if (i % 8 == 7)
				sz = 40000 + (size_t)i * 1000;
			p[i] = malloc(sz);
			if (p[i])
				memset(p[i], i, sz);
		}
		for (int i = 0; i < 32; i++)
			free(p[i]);
	}
}

/* ==== 1. free() as a thread's first call, and after its teardown ============ */

static void *t_first_free(void *arg)
{
	if (!guarded_free(arg, "free(a 64 KiB block of the main thread) as the thread's first "
	                       "allocator call"))
		return (void *)1;
	return NULL;
}

static int c_first_free_large(void *arg)
{
	enum { N = 8 };
	void *buf[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		buf[i] = malloc(64 * KiB);
		if (buf[i] == NULL)
			return 5;
		memset(buf[i], i, 64 * KiB);
	}
	for (int i = 0; i < N; i++)
		t[i] = spawn(t_first_free, buf[i]);
	for (int i = 0; i < N; i++)
		join(t[i]);
	/* The allocator still works afterwards. */
	churn_a_little(1);
	return child_status();
}

/* 1a: eight threads each free() a 64 KiB block of the main thread as their
 * first allocator call. */
static void test_first_free_large_in_thread(void)
{
	child_t r;
	run_child(&r, 10, c_first_free_large, NULL);
	expect_child_ok("8 threads free() a 64 KiB block as their first call", &r);
}

static pthread_key_t g_key;

static void destr_free_guarded(void *p)
{
	guarded_free(p, "free(a 200 KB block) in a key destructor run after hakmem's teardown");
}

static void *t_alloc_then_keyfree(void *arg)
{
	churn_a_little(7);
	void *buf = malloc(200000);
	if (buf == NULL)
		return (void *)1;
	memset(buf, 1, 200000);
	pthread_setspecific(g_key, buf);
	churn_a_little(8);
	return NULL;
}

static void *t_keyfree_only(void *arg)
{
	pthread_setspecific(g_key, arg); /* key < 32: no allocation */
	return NULL;
}

/* arg: 0 the thread allocated normally; 1 it never allocated. */
static int c_destructor_free(void *arg)
{
	bool never = arg != NULL;
	g_key = late_key(destr_free_guarded);
	for (int i = 0; i < 4; i++) {
		void *buf = NULL;
		if (never) {
			buf = malloc(200000);
			if (buf == NULL)
				return 5;
			memset(buf, 2, 200000);
		}
		join(spawn(never ? t_keyfree_only : t_alloc_then_keyfree, buf));
	}
	churn_a_little(2);
	return child_status();
}

/* 1b: a destructor of a key created after hakmem initialised frees a 200 KB
 * block after hakmem's own teardown of the thread; and in a thread that
 * never allocated. */
static void test_destructor_free_after_teardown(void)
{
	child_t r;
	run_child(&r, 10, c_destructor_free, (void *)0);
	expect_child_ok("key destructor frees 200 KB after hakmem's thread teardown", &r);
	run_child(&r, 10, c_destructor_free, (void *)1);
	expect_child_ok("key destructor frees 200 KB in a thread that never allocated", &r);
}

static void *t_free_stack(void *arg)
{
	char local[64];
	memset(local, 0, sizeof local);
	say("PTR=%p", (void *)local);
	guarded_free(local, "free(a stack address) as the thread's first allocator call");
	say("free(stack address %p) returned", (void *)local);
	return NULL;
}

/* arg 0: a default thread stack; 1: a stack of ours, which fills a 2 MiB-
 * aligned window (where the thread's stack address is, the page at the
 * window's start is zero: read as a slab header, it names no arena). */
static int c_first_free_stack(void *arg)
{
	if (arg == NULL) {
		join(spawn(t_free_stack, NULL));
		return 99;
	}
	char *m = mmap(NULL, 6 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 5;
	char *w = (char *)(((uintptr_t)m + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstack(&at, w, 2 * MiB);
	pthread_t t;
	if (pthread_create(&t, &at, t_free_stack, NULL) != 0)
		return 5;
	join(t);
	return 99;
}

/* 1c: free(stack address) as the first call of a fresh thread stops the
 * process with the diagnostic. */
static void test_first_free_stack_in_thread(void)
{
	child_t r;
	run_child(&r, 10, c_first_free_stack, (void *)0);
	expect_child_abort("free(stack address) as a thread's first call", &r, "invalid free", NULL);
	if (getenv("TEST_VERBOSE"))
		child_dump("free(stack address) as a thread's first call", &r);
	run_child(&r, 10, c_first_free_stack, (void *)1);
	expect_child_abort("free(stack address) as a thread's first call (a 2 MiB stack of ours)", &r,
	                   "invalid free", NULL);
	if (getenv("TEST_VERBOSE"))
		child_dump("free(stack address) as a thread's first call (a 2 MiB stack of ours)", &r);
}

/* ==== 2. allocation after teardown ========================================= */

/* Runs fn in a destructor of a late key of a thread that allocated normally
 * (so hakmem's teardown of the thread ran first). */
static void (*g_teardown_fn)(void);
static int g_teardown_ran;

static void destr_run_fn(void *v)
{
	g_teardown_ran = 1;
	g_teardown_fn();
}

static void *t_teardown(void *arg)
{
	churn_a_little(3);
	pthread_setspecific(g_key, (void *)1);
	return NULL;
}

static int in_teardown(void (*fn)(void))
{
	g_teardown_fn = fn;
	g_key = late_key(destr_run_fn);
	join(spawn(t_teardown, NULL));
	if (!g_teardown_ran)
		child_fail("the key destructor did not run");
	churn_a_little(4);
	return child_status();
}

/* Block p of `size` (asked with alignment `align`, 0 if none) is usable. */
static void check_block(const char *what, void *p, size_t align, size_t size, uint64_t seed)
{
	if (p == NULL) {
		child_fail("%s(align %zu, size %zu) returned NULL", what, align, size);
		return;
	}
	if (align && ((uintptr_t)p & (align - 1)) != 0)
		child_fail("%s(align %zu, size %zu) = %p: not %zu-aligned (offset %zu)", what, align,
		           size, p, align, (size_t)((uintptr_t)p & (align - 1)));
	size_t us = malloc_usable_size(p);
	if (us < size)
		child_fail("%s(align %zu, size %zu) = %p: usable size %zu", what, align, size, p, us);
	else {
		test_fill(p, us, seed);
		size_t bad = test_check(p, us, seed);
		if (bad != SIZE_MAX)
			child_fail("%s(align %zu, size %zu) = %p: corrupt at %zu", what, align, size, p, bad);
	}
}

static void td_aligned_small(void)
{
	/* The reported cases first: 8-aligned today. */
	void *p[8];
	for (int i = 0; i < 8; i++) {
		p[i] = aligned_alloc(16, 24);
		check_block("aligned_alloc", p[i], 16, 24, (uint64_t)i);
	}
	for (int i = 0; i < 8; i++)
		guarded_free(p[i], "free(aligned_alloc(16, 24)) after teardown");
	for (int i = 0; i < 8; i++) {
		p[i] = NULL;
		int e = posix_memalign(&p[i], 16, 40);
		if (e != 0)
			child_fail("posix_memalign(&p, 16, 40) = %d", e);
		check_block("posix_memalign", p[i], 16, 40, (uint64_t)i + 100);
	}
	for (int i = 0; i < 8; i++)
		guarded_free(p[i], "free(posix_memalign(16, 40)) after teardown");
	/* Every alignment 16 .. 4096 with sizes below and above it. */
	for (size_t a = 16; a <= 4096; a *= 2) {
		size_t sizes[] = { 1, 8, 24, 40, a / 2 + 8, a - 8, a, a + 8, 3 * a + 5 };
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			for (int i = 0; i < 3; i++) {
				void *q = aligned_alloc(a, sizes[k]);
				check_block("aligned_alloc", q, a, sizes[k], a + k + (uint64_t)i);
				void *r = NULL;
				int e = posix_memalign(&r, a, sizes[k]);
				if (e != 0)
					child_fail("posix_memalign(&p, %zu, %zu) = %d", a, sizes[k], e);
				check_block("posix_memalign", r, a, sizes[k], 7 * a + k);
				void *m = memalign(a, sizes[k]);
				check_block("memalign", m, a, sizes[k], 11 * a + k);
				guarded_free(q, "free(aligned block) after teardown");
				guarded_free(r, "free(aligned block) after teardown");
				guarded_free(m, "free(aligned block) after teardown");
			}
		}
	}
}

static void td_aligned_large(void)
{
	static const size_t aligns[] = { 64 * KiB, 2 * MiB };
	static const size_t sizes[] = { 1, 100, 64 * KiB, 100 * KiB, 3 * MiB };
	for (size_t i = 0; i < 2; i++) {
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			void *q = aligned_alloc(aligns[i], sizes[k]);
			check_block("aligned_alloc", q, aligns[i], sizes[k], i * 10 + k);
			void *r = NULL;
			int e = posix_memalign(&r, aligns[i], sizes[k]);
			if (e != 0)
				child_fail("posix_memalign(&p, %zu, %zu) = %d", aligns[i], sizes[k], e);
			check_block("posix_memalign", r, aligns[i], sizes[k], i * 10 + k + 5);
			guarded_free(q, "free(aligned large block) after teardown");
			guarded_free(r, "free(aligned large block) after teardown");
		}
	}
}

static void td_malloc_calloc_realloc(void)
{
	static const size_t sizes[] = { 1, 16, 24, 100, 1000, 5000, 32768, 40000, 200000, 3 * MiB };
	enum { NS = sizeof sizes / sizeof sizes[0] };
	void *p[NS];
	/* malloc, and dirty memory for calloc to be given back. */
	for (size_t k = 0; k < NS; k++) {
		p[k] = malloc(sizes[k]);
		check_block("malloc", p[k], 0, sizes[k], k);
	}
	for (size_t k = 0; k < NS; k++)
		guarded_free(p[k], "free(malloc'ed block) after teardown");
	for (size_t k = 0; k < NS; k++) {
		p[k] = calloc(1, sizes[k]);
		if (p[k] == NULL) {
			child_fail("calloc(1, %zu) returned NULL", sizes[k]);
			continue;
		}
		size_t nz = test_first_nonzero(p[k], sizes[k]);
		if (nz != SIZE_MAX)
			child_fail("calloc(1, %zu) = %p: byte %zu is not zero", sizes[k], p[k], nz);
	}
	for (size_t k = 0; k < NS; k++)
		guarded_free(p[k], "free(calloc'ed block) after teardown");
	/* realloc up through every tier and back down. */
	size_t old = 10;
	char *q = malloc(old);
	if (q == NULL) {
		child_fail("malloc(10) returned NULL");
		return;
	}
	test_fill(q, old, 42);
	static const size_t steps[] = { 100, 5000, 40000, 300000, 3 * MiB, 200000, 3000, 50 };
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		size_t s = steps[i];
		tcb_t t;
		tcb_read(&t);
		char *n = realloc(q, s);
		tcb_intact(&t, "realloc after teardown");
		if (n == NULL) {
			child_fail("realloc(%zu -> %zu) returned NULL", old, s);
			break;
		}
		size_t keep = old < s ? old : s;
		size_t bad = test_check(n, keep, 42);
		if (bad != SIZE_MAX)
			child_fail("realloc(%zu -> %zu) lost the content at offset %zu", old, s, bad);
		test_fill(n, s, 42);
		q = n;
		old = s;
	}
	guarded_free(q, "free(realloc'ed block) after teardown");
}

static int c_td_aligned_small(void *arg) { return in_teardown(td_aligned_small); }
static int c_td_aligned_large(void *arg) { return in_teardown(td_aligned_large); }
static int c_td_malloc(void *arg) { return in_teardown(td_malloc_calloc_realloc); }

/* 2: allocation in a key destructor that runs after hakmem's teardown of the
 * thread: aligned blocks are aligned, malloc/calloc/realloc/free work. */
static void test_alloc_after_teardown(void)
{
	child_t r;
	run_child(&r, 10, c_td_aligned_small, NULL);
	expect_child_ok("aligned allocation (16 .. 4096) after teardown", &r);
	run_child(&r, 10, c_td_aligned_large, NULL);
	expect_child_ok("aligned allocation (64 KiB, 2 MiB) after teardown", &r);
	run_child(&r, 10, c_td_malloc, NULL);
	expect_child_ok("malloc, calloc, realloc and free after teardown", &r);
}

/* A thread whose first allocation is in the last round of destructors: hakmem
 * sets up its cache and key then, and no round follows to tear it down. */
static int g_last_round_ran;

static void destr_last_round(void *v)
{
	uintptr_t round = (uintptr_t)v;
	if (round < PTHREAD_DESTRUCTOR_ITERATIONS) {
		pthread_setspecific(g_key, (void *)(round + 1)); /* re-arm: one more round */
		return;
	}
	g_last_round_ran = 1;
	char *keep = malloc(100);
	if (keep)
		memset(keep, 1, 100); /* kept: a leak of the thread */
	char *keep2 = malloc(3000);
	if (keep2)
		memset(keep2, 2, 3000);
	for (int i = 0; i < 50; i++) {
		char *a = malloc(64), *b = malloc(5000), *c = malloc(200000);
		if (a)
			a[0] = 1;
		if (b)
			b[0] = 1;
		if (c)
			c[0] = 1;
		free(a);
		free(b);
		free(c);
	}
}

static void *t_last_round(void *arg)
{
	pthread_setspecific(g_key, (void *)1); /* the thread allocates nothing else */
	return NULL;
}

static void *t_some_work(void *arg)
{
	churn_a_little((unsigned)(uintptr_t)arg);
	return NULL;
}

/* Blocks of the 64-byte class out of their slabs, all arenas (after an
 * epoch): the dead thread's cached ones count until its cache is reaped. */
static size_t curregs_64(void)
{
	unsigned n = 0, c = 0;
	size_t sz = sizeof n, total = 0, size = 0;
	ctl_epoch_rc();
	hakmem_ctl("arenas.narenas", &n, &sz, NULL, 0);
	for (c = 0; c < 43; c++) {
		char name[64];
		snprintf(name, sizeof name, "arenas.class.%u.size", c);
		sz = sizeof size;
		if (hakmem_ctl(name, &size, &sz, NULL, 0) == 0 && size == 64)
			break;
	}
	for (unsigned a = 0; a < n; a++) {
		char name[96];
		size_t v = 0;
		snprintf(name, sizeof name, "stats.arenas.%u.class.%u.curregs", a, c);
		sz = sizeof v;
		hakmem_ctl(name, &v, &sz, NULL, 0);
		total += v;
	}
	return total;
}

/* arg 0: the thread runs on a stack of ours, unmapped after the join;
 * 1: a default stack, then more threads reuse the dead thread's stack. */
static int c_last_round(void *arg)
{
	bool reuse = arg != NULL;
	g_key = late_key(destr_last_round);
	churn_a_little(5);
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	uint64_t nm0 = 0, nf0 = 0;
	size_t al0 = 0, regs0 = curregs_64();
	if (ctl_epoch_rc() != 0 || ctl_get_u64("stats.nmalloc", &nm0) != 0 ||
	    ctl_get_u64("stats.nfree", &nf0) != 0 || ctl_get_zu("stats.allocated", &al0) != 0) {
		child_fail("the stats before the test");
		return 3;
	}
	if (!reuse) {
		size_t ssz = 256 * KiB;
		void *stack = mmap(NULL, ssz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (stack == MAP_FAILED)
			return 5;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstack(&at, stack, ssz);
		pthread_t t;
		if (pthread_create(&t, &at, t_last_round, NULL) != 0)
			return 5;
		join(t);
		pthread_attr_destroy(&at);
		munmap(stack, ssz); /* the thread is gone: its stack (and TLS) is ours */
	} else {
		join(spawn(t_last_round, NULL));
		for (int round = 0; round < 4; round++) {
			pthread_t t[12];
			for (int i = 0; i < 12; i++)
				t[i] = spawn(t_some_work, (void *)(uintptr_t)(round * 12 + i));
			for (int i = 0; i < 12; i++)
				join(t[i]);
		}
	}
	if (!g_last_round_ran)
		child_fail("the last-round destructor did not run");
	/* The dead thread's cache is reaped (its robust mutex says it died) at
	 * the first epoch: the 64-byte blocks it cached are back in slabs. */
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	size_t regs = curregs_64();
	if (!reuse && regs > regs0 + 2)
		child_fail("the dead thread's cached blocks were not given back: 64 B curregs %zu -> %zu",
		           regs0, regs);
	say("epoch after the thread (reuse=%d)", (int)reuse);
	for (int i = 0; i < 3; i++) {
		int e = ctl_epoch_rc();
		if (e != 0)
			child_fail("epoch write #%d: %d", i, e);
		uint64_t nm = 0, nf = 0;
		size_t al = 0;
		if (ctl_get_u64("stats.nmalloc", &nm) != 0 || ctl_get_u64("stats.nfree", &nf) != 0 ||
		    ctl_get_zu("stats.allocated", &al) != 0) {
			child_fail("reading stats.nmalloc/nfree/allocated");
			break;
		}
		say("stats: nmalloc %llu (was %llu) nfree %llu (was %llu) allocated %zu (was %zu)",
		    (unsigned long long)nm, (unsigned long long)nm0, (unsigned long long)nf,
		    (unsigned long long)nf0, al, al0);
		if (nm < nf)
			child_fail("stats.nmalloc %llu < stats.nfree %llu", (unsigned long long)nm,
			           (unsigned long long)nf);
		if (nm < nm0 || nf < nf0)
			child_fail("the counters went back: nmalloc %llu -> %llu, nfree %llu -> %llu",
			           (unsigned long long)nm0, (unsigned long long)nm,
			           (unsigned long long)nf0, (unsigned long long)nf);
		/* The test made well under a million allocations and keeps
		 * about 3 KB. */
		if (nm - nm0 > 1000000 || nf - nf0 > 1000000)
			child_fail("the counters jumped: nmalloc +%llu, nfree +%llu",
			           (unsigned long long)(nm - nm0), (unsigned long long)(nf - nf0));
		if (al > al0 + 16 * MiB || al + 16 * MiB < al0)
			child_fail("stats.allocated jumped: %zu -> %zu", al0, al);
		churn_a_little(6 + (unsigned)i);
	}
	return child_status();
}

/* 2: first allocation in the last destructor round; afterwards the
 * statistics (epoch) must not read the dead thread's state. */
static void test_first_alloc_in_last_round(void)
{
	child_t r;
	run_child(&r, 10, c_last_round, (void *)0);
	expect_child_ok("first allocation in the last destructor round (stack unmapped after)", &r);
	run_child(&r, 10, c_last_round, (void *)1);
	expect_child_ok("first allocation in the last destructor round (stack reused after)", &r);
}

/* ==== 3. fork ================================================================ */

/* 3a. tst-malloc-fork-deadlock's scenario: A forks in a loop, B flushes every
 * stream (holding the stream-list lock while it takes each stream's lock), C
 * reads long lines with getline (allocating while it holds its stream's
 * lock), the others allocate. A's prepare handlers must not take allocator
 * locks that C may wait for while B waits for C. */
static int g_fd_stop; /* [atomic] */

static void *fd_forker(void *arg)
{
	unsigned *nforks = arg;
	uint64_t end = now_ns() + 2500000000u;
	while (*nforks < 3000 && now_ns() < end) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid < 0) {
			child_fail("fork: %s", strerror(errno));
			break;
		}
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			child_fail("a forked child ended with status %#x", (unsigned)st);
		if (++*nforks % 250 == 0)
			say("%u forks", *nforks);
	}
	__atomic_store_n(&g_fd_stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *fd_flusher(void *arg)
{
	while (!__atomic_load_n(&g_fd_stop, __ATOMIC_ACQUIRE))
		fflush(NULL);
	return NULL;
}

static void *fd_reader(void *arg)
{
	FILE *f = arg;
	unsigned long lines = 0;
	while (!__atomic_load_n(&g_fd_stop, __ATOMIC_ACQUIRE)) {
		char *line = NULL; /* a new buffer each time: getline mallocs and reallocs */
		size_t n = 0;
		ssize_t r = getline(&line, &n, f);
		free(line);
		if (r < 0) {
			clearerr(f);
			rewind(f);
		} else {
			lines++;
		}
	}
	return (void *)lines;
}

static void *fd_churn(void *arg)
{
	uint64_t rng = (uintptr_t)arg;
	void *slot[64] = { 0 };
	while (!__atomic_load_n(&g_fd_stop, __ATOMIC_ACQUIRE)) {
		unsigned i = (unsigned)(test_rand(&rng) % 64);
		free(slot[i]);
		uint64_t r = test_rand(&rng);
		size_t sz = r % 4 == 0 ? 32768 + (size_t)(r >> 8) % 300000 : 1 + (size_t)(r >> 8) % 4000;
		slot[i] = malloc(sz);
		if (slot[i])
			memset(slot[i], 1, sz < 64 ? sz : 64);
	}
	for (int i = 0; i < 64; i++)
		free(slot[i]);
	return NULL;
}

static int c_fork_deadlock(void *arg)
{
	/* Lines of 40 .. 200 KB: every getline grows its buffer through the
	 * large sizes. */
	enum { NLINES = 16 };
	size_t total = 0, len[NLINES];
	for (int i = 0; i < NLINES; i++)
		total += (len[i] = 40000 + (size_t)i * 10000) + 1;
	char *text = malloc(total);
	if (text == NULL)
		return 5;
	char *w = text;
	for (int i = 0; i < NLINES; i++) {
		memset(w, 'a' + i, len[i]);
		w += len[i];
		*w++ = '\n';
	}
	FILE *f = fmemopen(text, total, "r");
	if (f == NULL) {
		child_fail("fmemopen: %s", strerror(errno));
		return 3;
	}
	unsigned nforks = 0;
	pthread_t a = spawn(fd_forker, &nforks);
	pthread_t b = spawn(fd_flusher, NULL);
	pthread_t c = spawn(fd_reader, f);
	pthread_t d = spawn(fd_churn, (void *)1);
	pthread_t e = spawn(fd_churn, (void *)2);
	join(a);
	join(b);
	unsigned long lines = (unsigned long)(uintptr_t)join(c);
	join(d);
	join(e);
	say("%u forks, %lu lines read", nforks, lines);
	fclose(f);
	free(text);
	return child_status();
}

static void test_fork_deadlock(void)
{
	child_t r;
	run_child(&r, 10, c_fork_deadlock, NULL);
	expect_child_ok("fork while threads flush streams and getline (tst-malloc-fork-deadlock)", &r);
}

/* 3b. tst-mallocfork2's scenario: a single-threaded process allocates and
 * frees in a loop while another process sends it signals; the handler forks
 * (the child _exits at once) and waits for the child. Run in a fresh process
 * (--child sigfork): the test program must be single-threaded. */
static volatile sig_atomic_t g_sf_nforks, g_sf_err;

static void sf_handler(int sig)
{
	int saved = errno;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0) {
		g_sf_err = errno;
	} else {
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			g_sf_err = -1;
		g_sf_nforks++;
	}
	errno = saved;
}

static void sf_loop(uint64_t *rng, unsigned iters, unsigned target)
{
	void *slot[32] = { 0 };
	for (unsigned i = 0; i < iters && g_sf_nforks < (sig_atomic_t)target; i++) {
		unsigned k = (unsigned)(test_rand(rng) % 32);
		free(slot[k]);
		uint64_t r = test_rand(rng);
		size_t sz;
		switch (r % 8) {
		case 0: sz = 32769 + (size_t)(r >> 8) % 400000; break; /* large */
		case 1: sz = 1025 + (size_t)(r >> 8) % 31000; break;   /* small */
		default: sz = 1 + (size_t)(r >> 8) % 1024; break;      /* tiny */
		}
		slot[k] = malloc(sz);
		if (slot[k])
			memset(slot[k], 1, sz < 256 ? sz : 256);
	}
	for (int k = 0; k < 32; k++)
		free(slot[k]);
}

static int sigfork_main(void)
{
	/* The watchdog is run_child's alarm, kept across the exec. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = sf_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	pid_t me = getpid();
	pid_t sender = fork();
	if (sender < 0)
		return 5;
	if (sender == 0) {
		alarm(15);
		struct timespec ts = { 0, 20000 };
		for (unsigned i = 0; i < 200000 && getppid() == me; i++) {
			if (kill(me, SIGUSR1) != 0)
				break;
			nanosleep(&ts, NULL);
		}
		_exit(0);
	}
	uint64_t rng = 12345;
	uint64_t end = now_ns() + 3000000000u;
	/* The default configuration, then every free checked (each free takes
	 * a bin lock): the signal lands inside the allocator's critical
	 * sections often. */
	for (int phase = 0; phase < 2; phase++) {
		if (phase == 1 && ctl_set_u("tiny.fast_cap", 0) != 0)
			say("tiny.fast_cap=0 failed");
		unsigned target = (unsigned)g_sf_nforks + 400;
		while (g_sf_nforks < (sig_atomic_t)target && now_ns() < end)
			sf_loop(&rng, 20000, target);
		say("phase %d: %d forks from the signal handler", phase, (int)g_sf_nforks);
		end += 1500000000u;
	}
	kill(sender, SIGKILL);
	while (waitpid(sender, NULL, 0) < 0 && errno == EINTR)
		;
	say("%d forks from the signal handler", (int)g_sf_nforks);
	if (g_sf_err)
		child_fail("fork in the signal handler failed: %d", (int)g_sf_err);
	if (g_sf_nforks == 0)
		say("note: no signal arrived");
	return child_status();
}

static int c_sigfork(void *arg) { return reexec_child("sigfork", NULL); }

static void test_fork_in_signal_handler(void)
{
	child_t r;
	run_child(&r, 10, c_sigfork, NULL);
	expect_child_ok("fork in a signal handler interrupting malloc/free (tst-mallocfork2)", &r);
}

/* 3c. A fork storm: fork from a process whose other threads allocate; every
 * child allocates, frees (also blocks of the parent) and exits cleanly. */
static int g_fs_stop; /* [atomic] */

static void *fs_churn(void *arg)
{
	uint64_t rng = (uintptr_t)arg;
	void *slot[128] = { 0 };
	while (!__atomic_load_n(&g_fs_stop, __ATOMIC_ACQUIRE)) {
		unsigned i = (unsigned)(test_rand(&rng) % 128);
		free(slot[i]);
		uint64_t r = test_rand(&rng);
		size_t sz = r % 16 == 0 ? 40000 + (size_t)(r >> 8) % 500000 : 1 + (size_t)(r >> 8) % 2000;
		slot[i] = malloc(sz);
		if (slot[i])
			memset(slot[i], 3, sz < 128 ? sz : 128);
	}
	for (int i = 0; i < 128; i++)
		free(slot[i]);
	return NULL;
}

static int fs_child(char **mine, unsigned n)
{
	alarm(5);
	/* The parent's blocks (the forking thread's) are intact and can be
	 * freed here. */
	for (unsigned i = 0; i < n; i++) {
		size_t sz = 100 + (size_t)i * 997 % 70000;
		if (test_check(mine[i], sz, i) != SIZE_MAX)
			_exit(10);
		free(mine[i]);
	}
	uint64_t rng = (uint64_t)getpid();
	void *slot[64] = { 0 };
	for (int k = 0; k < 3000; k++) {
		unsigned i = (unsigned)(test_rand(&rng) % 64);
		free(slot[i]);
		uint64_t r = test_rand(&rng);
		size_t sz = r % 16 == 0 ? 40000 + (size_t)(r >> 8) % 300000 : 1 + (size_t)(r >> 8) % 3000;
		slot[i] = malloc(sz);
		if (slot[i] == NULL)
			_exit(11);
		memset(slot[i], 5, sz);
	}
	for (int i = 0; i < 64; i++)
		free(slot[i]);
	if (ctl_epoch_rc() != 0)
		_exit(12);
	_exit(0);
}

static int c_fork_storm(void *arg)
{
	enum { NT = 3, NF = 60, NMINE = 40 };
	pthread_t t[NT];
	for (int i = 0; i < NT; i++)
		t[i] = spawn(fs_churn, (void *)(uintptr_t)(i + 1));
	char *mine[NMINE];
	unsigned bad = 0;
	for (int f = 0; f < NF; f++) {
		for (unsigned i = 0; i < NMINE; i++) {
			size_t sz = 100 + (size_t)i * 997 % 70000;
			mine[i] = malloc(sz);
			if (mine[i] == NULL)
				return 5;
			test_fill(mine[i], sz, i);
		}
		pid_t pid = fork();
		if (pid == 0)
			fs_child(mine, NMINE);
		if (pid < 0) {
			child_fail("fork: %s", strerror(errno));
			break;
		}
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			if (bad++ < 5)
				child_fail("fork #%d: the child ended with %s %d", f,
				           WIFSIGNALED(st) ? "signal" : "exit status",
				           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		}
		for (unsigned i = 0; i < NMINE; i++)
			free(mine[i]);
	}
	__atomic_store_n(&g_fs_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < NT; i++)
		join(t[i]);
	if (bad)
		say("%u of %d children failed", bad, NF);
	return child_status();
}

static void test_fork_storm(void)
{
	child_t r;
	run_child(&r, 15, c_fork_storm, NULL);
	expect_child_ok("fork storm from a multi-threaded process", &r);
}

/* ==== 4. pointers hakmem did not allocate ==================================== */

static char g_bss_obj[4096];

enum bad_kind {
	BAD_GLIBC_SMALL,
	BAD_GLIBC_LARGE,
	BAD_BSS,
	BAD_LITERAL,
	BAD_ONE,
	BAD_MMAP,
	BAD_DF_ALIGNED_100K,
	BAD_DF_ALIGNED_3M,
	BAD_DF_LARGE_1M,
	NBAD
};

static const char *const bad_name[NBAD] = {
	"free of a glibc malloc(64) block",
	"free of a glibc malloc(300000) block",
	"free of a .bss object",
	"free of a string literal",
	"free((void *)1)",
	"free of a pointer into the program's own mmap",
	"double free of aligned_alloc(2 MiB, 100 KiB)",
	"double free of aligned_alloc(2 MiB, 3 MiB)",
	"double free of malloc(1 MiB)",
};

/* glibc's own malloc: the symbol of libc.so.6 (hakmem overrides `malloc`). */
static void *(*glibc_malloc(void))(size_t)
{
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *(*fn)(size_t) = h ? (void *(*)(size_t))dlsym(h, "malloc") : NULL;
	if (fn == (void *(*)(size_t))malloc || fn == (void *(*)(size_t))hakmem_malloc)
		return NULL;
	return fn;
}

/* The pointer of a case; *dbl: it is to be freed twice. */
static void *bad_pointer(enum bad_kind k, bool *dbl)
{
	*dbl = false;
	switch (k) {
	case BAD_GLIBC_SMALL:
	case BAD_GLIBC_LARGE: {
		void *(*gm)(size_t) = glibc_malloc();
		size_t sz = k == BAD_GLIBC_SMALL ? 64 : 300000;
		void *p = gm ? gm(sz) : NULL;
		if (p)
			memset(p, 0, sz);
		return p;
	}
	case BAD_BSS:
		return g_bss_obj + 64;
	case BAD_LITERAL:
		return (void *)opaque("a string literal");
	case BAD_ONE:
		return (void *)1;
	case BAD_MMAP: {
		/* 2 MiB-aligned memory of ours (zero, as untouched pages are):
		 * its "slab header" reads as no arena. */
		char *m = mmap(NULL, 6 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		char *a = (char *)(((uintptr_t)m + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
		return a + 4096 + 64;
	}
	case BAD_DF_ALIGNED_100K:
	case BAD_DF_ALIGNED_3M: {
		*dbl = true;
		size_t sz = k == BAD_DF_ALIGNED_100K ? 100 * KiB : 3 * MiB;
		void *p = aligned_alloc(2 * MiB, sz);
		if (p)
			memset(p, 1, sz);
		return p;
	}
	case BAD_DF_LARGE_1M: {
		*dbl = true;
		void *p = malloc(MiB);
		if (p)
			memset(p, 1, MiB);
		return p;
	}
	default:
		return NULL;
	}
}

typedef struct {
	enum bad_kind kind;
	bool in_thread; /* as the first call of a fresh thread */
	void *p;
	bool dbl;
} bad_case_t;

static void bad_free(bad_case_t *c)
{
	say("PTR=%p", c->p);
	if (c->dbl) {
		guarded_free(c->p, "the first (legitimate) free");
		guarded_free(c->p, "the second free");
	} else {
		guarded_free(c->p, bad_name[c->kind]);
	}
	say("%s: free(%p) returned", bad_name[c->kind], c->p);
}

static void *t_bad_free(void *arg)
{
	bad_free(arg);
	return NULL;
}

static int c_bad_free(void *arg)
{
	bad_case_t *c = arg;
	if (!c->in_thread) {
		/* Normal use first, some of it left live. */
		churn_a_little(9);
		void *live[8];
		for (int i = 0; i < 8; i++)
			live[i] = malloc((size_t)(i + 1) * 3000);
		(void)live;
	}
	c->p = bad_pointer(c->kind, &c->dbl);
	if (c->p == NULL) {
		say("no pointer for %s", bad_name[c->kind]);
		return 5;
	}
	if (c->in_thread)
		join(spawn(t_bad_free, c));
	else
		bad_free(c);
	return 99;
}

static void test_foreign_pointers(void)
{
	bool have_glibc = glibc_malloc() != NULL;
	if (!have_glibc)
		fprintf(stderr, "note: glibc's malloc not found with dlsym: its cases are left out\n");
	for (int t = 1; t >= 0; t--) {
		for (int k = 0; k < NBAD; k++) {
			if (!have_glibc && (k == BAD_GLIBC_SMALL || k == BAD_GLIBC_LARGE))
				continue;
			bad_case_t c = { (enum bad_kind)k, t != 0, NULL, false };
			char what[160];
			snprintf(what, sizeof what, "%s, %s", bad_name[k],
			         t ? "first call of a fresh thread" : "main thread after normal use");
			child_t r;
			run_child(&r, 10, c_bad_free, &c);
			expect_child_abort(what, &r, "invalid free", "double free");
			if (getenv("TEST_VERBOSE"))
				child_dump(what, &r);
		}
	}
}

/* ==== 5. the immediate double free of a small block ========================== */

typedef struct {
	size_t size;
	int mode; /* 0 default; 1 class capacity 0; 2 cache full at the 2nd free;
	             3 cache full at the 1st free */
} df_case_t;

static int c_double_free(void *arg)
{
	df_case_t *c = arg;
	size_t size = c->size;
	/* p must come from this thread's arena (so that its free goes to the
	 * thread's bin, not to the remote buffer): stay on one CPU (an arena
	 * per CPU follows the thread at refills) and empty the cache, so the
	 * blocks below come from the arena the thread is bound to now. */
	pin_to_current_cpu();
	churn_a_little(10);
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	void *q[16];
	int nq = 0;
	if (c->mode != 0) {
		int cls = class_of(size);
		if (cls < 0) {
			say("no class for %zu", size);
			return 5;
		}
		char key[64];
		snprintf(key, sizeof key, "arenas.class.%d.fast_cap", cls);
		unsigned cap = c->mode == 1 ? 0 : 8;
		if (ctl_set_u(key, cap) != 0) {
			say("%s=%u failed", key, cap);
			return 5;
		}
		if (c->mode >= 2) {
			/* Cache empty, then 7 (mode 2) or 8 (mode 3) blocks in it. */
			for (int i = 0; i < 9; i++)
				q[nq++] = malloc(size);
			hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
		}
	}
	char *p = malloc(size);
	if (p == NULL)
		return 5;
	memset(p, 1, size);
	if (c->mode == 2)
		for (int i = 0; i < 7; i++)
			free(q[--nq]);
	if (c->mode == 3)
		for (int i = 0; i < 8; i++)
			free(q[--nq]);
	fprintf(stderr, "PTR=%p\n", (void *)p);
	free(p);
	free(opaque(p));
	/* Not stopped: every later malloc of the class may return p. */
	void *m[4];
	for (int i = 0; i < 4; i++) {
		m[i] = malloc(size);
		for (int j = 0; j < i; j++)
			if (m[j] == m[i])
				say("REPEAT: after free(p); free(p) malloc(%zu) returned %p twice (#%d, #%d)",
				    size, m[i], j, i);
	}
	say("free(p); free(p) of %zu B returned", size);
	return 99;
}

static void test_immediate_double_free(void)
{
	static const size_t sizes[] = { 16, 24, 48, 64, 128, 256, 1000, 4096, 8192, 32768, 100000 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		df_case_t c = { sizes[i], 0 };
		char what[128];
		snprintf(what, sizeof what, "free(p); free(p) of %zu B (default configuration)", sizes[i]);
		child_t r;
		run_child(&r, 10, c_double_free, &c);
		expect_child_abort(what, &r, "double free", NULL);
	}
	static const char *const mode_name[] = { "", "class capacity 0", "cache full at the second free",
	                                         "cache full at the first free" };
	static const size_t slow_sizes[] = { 64, 4096 };
	for (int mode = 1; mode <= 3; mode++) {
		for (size_t i = 0; i < 2; i++) {
			df_case_t c = { slow_sizes[i], mode };
			char what[128];
			snprintf(what, sizeof what, "free(p); free(p) of %zu B (%s)", slow_sizes[i],
			         mode_name[mode]);
			child_t r;
			run_child(&r, 10, c_double_free, &c);
			expect_child_abort(what, &r, "double free", NULL);
		}
	}
}

/* ==== 6. an interior pointer freed by a thread that then exits =============== */

static void *t_interior(void *arg)
{
	char *p = arg ? arg : malloc(64);
	if (p == NULL)
		return NULL;
	say("PTR=%p", (void *)(p + 16));
	free(opaque(p + 16));
	return NULL; /* the thread exits: its cache is flushed */
}

/* arg: 0 the thread's own block; 1 a block of the main thread. */
static int c_interior_exit(void *arg)
{
	char *p = NULL;
	if (arg) {
		p = malloc(64);
		if (p == NULL)
			return 5;
	} else {
		churn_a_little(11);
	}
	join(spawn(t_interior, p));
	say("the thread exited; the process goes on");
	churn_a_little(12);
	return 99;
}

static void test_interior_free_thread_exit(void)
{
	child_t r;
	run_child(&r, 10, c_interior_exit, (void *)0);
	expect_child_abort("free(p + 16) of a 64 B block, then thread exit", &r, "invalid free", NULL);
	run_child(&r, 10, c_interior_exit, (void *)1);
	expect_child_abort("free(p + 16) of the main thread's 64 B block, then thread exit", &r,
	                   "invalid free", NULL);
}

/* ==== 7. thread.arena sticks ================================================= */

static void *t_arena(void *arg)
{
	/* On one CPU, so that "the CPU's arena" is one arena, not k. */
	pin_to_current_cpu();
	free(malloc(1));
	unsigned n = 0, cur = 0, k;
	if (ctl_get_u("arenas.narenas", &n) != 0 || ctl_get_u("thread.arena", &cur) != 0) {
		child_fail("reading arenas.narenas / thread.arena");
		return NULL;
	}
	k = (cur + 1) % n;
	int e = ctl_set_u("thread.arena", k);
	if (e != 0) {
		child_fail("thread.arena = %u (of %u): %d", k, n, e);
		return NULL;
	}
	static const size_t sizes[] = { 16, 64, 256, 1000, 4096 };
	enum { NS = 5, NB = 500, ROUNDS = 20 };
	int cls[NS];
	uint64_t before[NS];
	char key[96];
	ctl_epoch_rc();
	for (int s = 0; s < NS; s++) {
		cls[s] = class_of(sizes[s]);
		snprintf(key, sizeof key, "stats.arenas.%u.class.%d.nmalloc", k, cls[s]);
		before[s] = 0;
		if (cls[s] < 0 || ctl_get_u64(key, &before[s]) != 0)
			child_fail("reading %s", key);
	}
	static void *blk[NB];
	for (int round = 0; round < ROUNDS; round++) {
		for (int s = 0; s < NS; s++) {
			for (int i = 0; i < NB; i++) {
				blk[i] = malloc(sizes[s]);
				if (blk[i])
					*(char *)blk[i] = 1;
			}
			for (int i = 0; i < NB; i++)
				free(blk[i]);
		}
		sched_yield();
		if (round % 5 == 4)
			sleep_ms(2);
	}
	unsigned now = 0;
	if (ctl_get_u("thread.arena", &now) != 0)
		child_fail("reading thread.arena");
	else if (now != k)
		child_fail("thread.arena reads %u after the refills; it was set to %u (was %u, of %u)",
		           now, k, cur, n);
	ctl_epoch_rc();
	for (int s = 0; s < NS; s++) {
		uint64_t after = 0;
		snprintf(key, sizeof key, "stats.arenas.%u.class.%d.nmalloc", k, cls[s]);
		if (ctl_get_u64(key, &after) != 0) {
			child_fail("reading %s", key);
			continue;
		}
		if (after - before[s] < (uint64_t)NB * ROUNDS)
			child_fail("%s grew by %llu; the thread made %d allocations of %zu B in arena %u",
			           key, (unsigned long long)(after - before[s]), NB * ROUNDS, sizes[s], k);
	}
	return NULL;
}

static int thread_arena_main(void)
{
	unsigned n = 0;
	if (ctl_get_u("arenas.narenas", &n) != 0 || n < 2) {
		say("arenas.narenas is %u even with opt.narenas=4", n);
		return 77;
	}
	join(spawn(t_arena, NULL));
	return child_status();
}

static int c_thread_arena(void *arg)
{
	unsigned n = 0;
	if (ctl_get_u("arenas.narenas", &n) == 0 && n >= 2)
		return thread_arena_main();
	/* One arena on this machine: more, from the conf string. */
	return reexec_child("thread_arena", "opt.narenas=4");
}

/* Runs fn in a child: a pass, a failure, or (exit 77) a skip with its reason. */
static void run_child_or_skip(unsigned timeout, child_fn fn, const char *what)
{
	child_t r;
	run_child(&r, timeout, fn, NULL);
	if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 77) {
		test_skip("%s", r.err);
		return;
	}
	expect_child_ok(what, &r);
}

static void test_thread_arena_sticks(void)
{
	run_child_or_skip(10, c_thread_arena, "thread.arena = k survives many refills");
}

/* ---- a move to another CPU of the node ------------------------------------- */

static bool pin_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set) == 0;
}

static unsigned my_arena(void)
{
	unsigned v = UINT_MAX;
	ctl_get_u("thread.arena", &v);
	return v;
}

static size_t vm_hwm(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = (size_t)strtoull(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb * KiB;
}

/* Refills on the current CPU: blocks of sizes the thread has not cached. */
static void churn(void **p, unsigned n, unsigned round)
{
	for (unsigned i = round % 4; i < n; i += 4)
		free(p[i]);
	for (unsigned i = round % 4; i < n; i += 4)
		p[i] = malloc(16 + (i * 7 + round * 13) % 500);
}

static int g_move_cpu[2];
static unsigned g_move_arena[2];
static pthread_barrier_t g_move_barrier;

static void *t_probe_arena(void *arg)
{
	(void)arg;
	free(malloc(32));
	return (void *)(uintptr_t)my_arena();
}

/* Three threads that started on CPU 0; the last is moved to CPU 1. */
static void *t_spread(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	enum { N = 20000 };
	void **p = calloc(N, sizeof *p);
	for (unsigned i = 0; i < N; i++)
		p[i] = malloc(16 + i % 500);
	if (my_arena() != g_move_arena[0])
		child_fail("thread %u started on CPU %d in arena %u, not %u", k, g_move_cpu[0],
		           my_arena(), g_move_arena[0]);
	pthread_barrier_wait(&g_move_barrier);
	if (k == 2 && !pin_cpu(g_move_cpu[1]))
		child_fail("sched_setaffinity: %s", strerror(errno));
	for (unsigned r = 0; r < 8; r++)
		churn(p, N, r);
	unsigned want = g_move_arena[k == 2];
	if (my_arena() != want)
		child_fail("thread %u on CPU %d is in arena %u, not %u", k, g_move_cpu[k == 2],
		           my_arena(), want);
	pthread_barrier_wait(&g_move_barrier); /* both still bound while the other checks */
	for (unsigned i = 0; i < N; i++)
		free(p[i]);
	free(p);
	return NULL;
}

/* The first two CPUs this process may run on, and their arenas (a thread
 * that starts on each); 77 (skip) without two, or when they share one. */
static int move_setup(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) {
		say("fewer than two CPUs to run on");
		return 77;
	}
	for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &set))
			g_move_cpu[k++] = c;
	for (int k = 0; k < 2; k++) {
		pin_cpu(g_move_cpu[k]);
		g_move_arena[k] = (unsigned)(uintptr_t)join(spawn(t_probe_arena, NULL));
	}
	if (g_move_arena[0] == g_move_arena[1]) {
		say("CPUs %d and %d share arena %u (not the per-CPU layout)", g_move_cpu[0],
		    g_move_cpu[1], g_move_arena[0]);
		return 77;
	}
	return 0;
}

static int c_cpu_move(void *arg)
{
	(void)arg;
	int st = move_setup();
	if (st != 0)
		return st;
	/* One thread, moved back and forth: it keeps its arena, and its live
	 * set its memory (a switch would leave the old arena's slabs partly
	 * used and take new ones: 1.5x the peak). */
	pin_cpu(g_move_cpu[0]);
	enum { N = 200000 };
	void **p = calloc(N, sizeof *p);
	for (unsigned i = 0; i < N; i++)
		p[i] = malloc(16 + i % 500);
	unsigned home = my_arena();
	size_t hwm0 = vm_hwm();
	for (unsigned r = 0; r < 6; r++) {
		pin_cpu(g_move_cpu[(r + 1) % 2]);
		churn(p, N, r);
		if (my_arena() != home)
			child_fail("round %u on CPU %d: the only thread left arena %u for %u", r,
			           g_move_cpu[(r + 1) % 2], home, my_arena());
	}
	size_t hwm = vm_hwm();
	if (hwm > hwm0 + hwm0 / 10)
		child_fail("VmHWM grew from %zu to %zu kB with a live set of the same size",
		           hwm0 / KiB, hwm / KiB);
	for (unsigned i = 0; i < N; i++)
		free(p[i]);
	free(p);
	/* Three threads bound on CPU 0 (this one stays in the arena of the
	 * CPU it started on, either of the two); the one moved to CPU 1 takes
	 * that CPU's arena, which holds at most this thread. */
	pin_cpu(g_move_cpu[0]);
	pthread_barrier_init(&g_move_barrier, NULL, 3);
	pthread_t t[3];
	for (unsigned k = 0; k < 3; k++)
		t[k] = spawn(t_spread, (void *)(uintptr_t)k);
	for (unsigned k = 0; k < 3; k++)
		join(t[k]);
	return child_status();
}

/* Weighed again after a drain: a thread that stayed in a crowded arena
 * because the one of its new CPU was as crowded moves once that one empties,
 * without changing CPU again. CPU 0's arena holds the mover and two `hold`
 * threads, CPU 1's three `busy` ones; the main thread may be in either, and
 * the rule (move when the arena left has at least two threads more) decides
 * the same either way: stay beside three, move once they are gone. */
static pthread_barrier_t g_rw_ready, g_rw_go, g_rw_end;

static void *t_rw_busy(void *arg)
{
	(void)arg;
	if (!pin_cpu(g_move_cpu[1]))
		child_fail("sched_setaffinity: %s", strerror(errno));
	free(malloc(32));
	if (my_arena() != g_move_arena[1])
		child_fail("a thread started on CPU %d is in arena %u, not %u", g_move_cpu[1],
		           my_arena(), g_move_arena[1]);
	pthread_barrier_wait(&g_rw_ready);
	pthread_barrier_wait(&g_rw_go);
	return NULL;
}

static void *t_rw_hold(void *arg)
{
	(void)arg;
	pin_cpu(g_move_cpu[0]);
	free(malloc(32));
	pthread_barrier_wait(&g_rw_ready);
	pthread_barrier_wait(&g_rw_end);
	return NULL;
}

/* A thread that started on CPU 0 (bound to its arena), moved to CPU 1. */
static void *t_rw_mover(void *arg)
{
	(void)arg;
	enum { N = 20000 };
	void **p = calloc(N, sizeof *p);
	for (unsigned i = 0; i < N; i++)
		p[i] = malloc(16 + i % 500);
	if (my_arena() != g_move_arena[0])
		child_fail("a thread started on CPU %d is in arena %u, not %u", g_move_cpu[0],
		           my_arena(), g_move_arena[0]);
	pthread_barrier_init(&g_rw_ready, NULL, 6);
	pthread_barrier_init(&g_rw_go, NULL, 4);
	pthread_barrier_init(&g_rw_end, NULL, 3);
	pthread_t busy[3], hold[2];
	for (int k = 0; k < 2; k++)
		hold[k] = spawn(t_rw_hold, NULL);
	for (int k = 0; k < 3; k++)
		busy[k] = spawn(t_rw_busy, NULL);
	pthread_barrier_wait(&g_rw_ready);
	if (!pin_cpu(g_move_cpu[1]))
		child_fail("sched_setaffinity: %s", strerror(errno));
	for (unsigned r = 0; r < 8; r++)
		churn(p, N, r);
	if (my_arena() != g_move_arena[0])
		child_fail("moved to CPU %d beside three threads, this thread left arena %u for %u",
		           g_move_cpu[1], g_move_arena[0], my_arena());
	pthread_barrier_wait(&g_rw_go);
	for (int k = 0; k < 3; k++)
		join(busy[k]);
	unsigned r = 8;
	while (my_arena() != g_move_arena[1] && r < 200)
		churn(p, N, r++);
	if (my_arena() != g_move_arena[1])
		child_fail("CPU %d's arena %u emptied, but after %u rounds of refills on it this "
		           "thread is still in arena %u",
		           g_move_cpu[1], g_move_arena[1], r - 8, my_arena());
	pthread_barrier_wait(&g_rw_end);
	for (int k = 0; k < 2; k++)
		join(hold[k]);
	for (unsigned i = 0; i < N; i++)
		free(p[i]);
	free(p);
	return NULL;
}

static int c_cpu_reweigh(void *arg)
{
	(void)arg;
	int st = move_setup();
	if (st != 0)
		return st;
	pin_cpu(g_move_cpu[0]); /* the mover starts there */
	join(spawn(t_rw_mover, NULL));
	return child_status();
}

static void test_cpu_reweigh(void)
{
	run_child_or_skip(60, c_cpu_reweigh, "a thread weighs its arena again after a drain");
}

static void test_cpu_move_in_node(void)
{
	run_child_or_skip(30, c_cpu_move, "a thread moved within its node keeps its memory");
}

/* ---- main ------------------------------------------------------------------ */

static const struct {
	const char *name;
	void (*fn)(void);
} g_tests[] = {
#define T(f) { #f, f }
	T(test_first_free_large_in_thread),
	T(test_destructor_free_after_teardown),
	T(test_first_free_stack_in_thread),
	T(test_alloc_after_teardown),
	T(test_first_alloc_in_last_round),
	T(test_fork_deadlock),
	T(test_fork_in_signal_handler),
	T(test_fork_storm),
	T(test_foreign_pointers),
	T(test_immediate_double_free),
	T(test_interior_free_thread_exit),
	T(test_thread_arena_sticks),
	T(test_cpu_move_in_node),
	T(test_cpu_reweigh),
#undef T
};

int main(int argc, char **argv)
{
	g_argv0 = argv[0];
	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		if (strcmp(argv[2], "sigfork") == 0)
			return sigfork_main();
		if (strcmp(argv[2], "thread_arena") == 0)
			return thread_arena_main();
		fprintf(stderr, "unknown child %s\n", argv[2]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	free(opaque(malloc(1))); /* hakmem is initialised before any test */
	for (size_t i = 0; i < sizeof g_tests / sizeof g_tests[0]; i++) {
		bool run = argc < 2;
		for (int a = 1; a < argc && !run; a++)
			run = strcmp(argv[a], g_tests[i].name) == 0 ||
			      strcmp(argv[a], g_tests[i].name + 5) == 0;
		if (run)
			test_run_(g_tests[i].fn, g_tests[i].name);
	}
	return test_summary();
}
