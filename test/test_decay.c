/* test_decay.c - memory comes back: decay with and without traffic, in every
 * arena, with the background thread, from remote buffers and idle thread
 * caches; decay_ms=0 and -1 honoured. RSS is read from /proc/self/status
 * (VmRSS), not from hakmem's counters alone.
 *
 * Every case runs in a child process (run_child: a fresh heap, a watchdog)
 * and sets decay_ms to DECAY_MS; "returned" means VmRSS fell back to within
 * SLACK_KB of what the child had before its burst, within decay_ms + 1.5 s
 * (the target is decay_ms + 1 s; the half second is for a loaded CI machine).
 * The time it took is printed with TEST_VERBOSE=1.
 *
 *   steady_traffic     256 MiB of 1000-byte blocks freed, then steady small
 *                      malloc/free traffic in the same (single) thread: no
 *                      background thread exists, the slow paths decay.
 *   idle_arena         a burst in arena 0 by a thread that then blocks, work
 *                      in arena 1 only, background thread off: arena 1's
 *                      drains tick arena 0.
 *   idle_process       two threads, small, span and large blocks freed, then
 *                      no allocator call at all: the background thread.
 *   partial_pages      7 of every 8 blocks of 4 and 16 KiB freed (every slab
 *                      keeps live blocks), then idle: the free pages inside
 *                      the slabs go back; the purged blocks serve again.
 *   remote_idle        a consumer frees the last live block of many slabs of
 *                      another arena and blocks, the owner idles: the
 *                      background thread takes the remote frees and the slabs
 *                      go back (VmRSS, curregs, curslabs); without the thread
 *                      nothing moves until arenas.purge from another thread.
 *   steal_stress       consumers free another arena's blocks while a thread
 *                      calls malloc_trim in a loop (it takes the slabs' remote
 *                      lists mid-push): every block comes home once, none is
 *                      lost.
 *   idle_cache         a thread fills its cache, idles decay_ms, then makes
 *                      one slow-path call: it gives the blocks back.
 *   decay_zero         decay_ms=0: freed memory is gone as free() returns.
 *   decay_never        decay_ms=-1: nothing returns by itself, even with the
 *                      background thread; arenas.purge from another thread
 *                      returns it.
 *   signal_wake        the background thread asleep, a free() in a signal
 *                      handler caches 32 MiB: it wakes and returns it.
 *   background_ctl     background_thread: none in a single-threaded process,
 *                      true starts it, false stops it (the task list of
 *                      /proc agrees), opt.background_thread, a fork child
 *                      has none and can start its own.
 */
#include "expect.h"
#include "child.h"

#include <dirent.h>
#include <malloc.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/types.h>

/* Two arenas whatever the machine: the idle-arena and remote cases bind
 * threads to each. */
const char *hakmem_conf = "opt.narenas=2";

#define DECAY_MS   300
#define SLACK_KB   (16 * 1024)
#define DEADLINE_MS (DECAY_MS + 1500)

/* The verdict on a case; its measurements with TEST_VERBOSE=1. */
static void check(const char *what, const child_t *r)
{
	const char *v = getenv("TEST_VERBOSE");
	if (expect_child_ok(what, r) && v != NULL && *v != '\0' && strcmp(v, "0") != 0)
		child_dump(what, r);
}

/* Runs fn(arg) in a child under a watchdog of `timeout` seconds. */
static void run_case(const char *what, child_fn fn, void *arg, unsigned timeout)
{
	child_t r;
	run_child(&r, timeout, fn, arg);
	check(what, &r);
}

static long rss_kb(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strstr(buf, "VmRSS:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

static int set_decay(ssize_t ms)
{
	return hakmem_ctl("decay_ms", NULL, NULL, &ms, sizeof ms);
}

static int set_bool(const char *name, bool v)
{
	return hakmem_ctl(name, NULL, NULL, &v, sizeof v);
}

static bool get_bool(const char *name)
{
	bool v = false;
	size_t sz = sizeof v;
	if (hakmem_ctl(name, &v, &sz, NULL, 0) != 0)
		child_fail("read %s", name);
	return v;
}

static size_t bg_threads(void)
{
	size_t n = 99;
	if (ctl_get_zu("stats.background_thread.num_threads", &n) != 0)
		child_fail("read stats.background_thread.num_threads");
	return n;
}


/* Allocates `total` bytes in blocks of `size` (each written through), into
 * *out (an array it allocates); the block count. */
static size_t burst(size_t size, size_t total, void ***out)
{
	size_t n = total / size;
	void **v = malloc(n * sizeof *v);
	if (v == NULL) {
		child_fail("malloc of the pointer array");
		_exit(4);
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = malloc(size);
		if (v[i] == NULL) {
			child_fail("malloc(%zu) #%zu", size, i);
			_exit(4);
		}
		memset(v[i], (int)i, size);
	}
	*out = v;
	return n;
}

static void free_all(void **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Steady small traffic: enough slow-path events to drain. */
static void traffic(void)
{
	void *p[600];
	for (unsigned i = 0; i < 600; i++)
		p[i] = malloc(16 + (i * 37) % 1000);
	for (unsigned i = 0; i < 600; i++)
		free(p[i]);
}

/* Waits until VmRSS <= limit, calling step() between reads (NULL: none);
 * the milliseconds it took, or -1 past the deadline. */
static long wait_rss(long limit, void (*step)(void), long *last)
{
	uint64_t t0 = now_ns();
	for (;;) {
		if (step != NULL)
			step();
		long r = rss_kb();
		*last = r;
		uint64_t ms = (now_ns() - t0) / 1000000u;
		if (r >= 0 && r <= limit)
			return (long)ms;
		if (ms > DEADLINE_MS)
			return -1;
		sleep_ms(step != NULL ? 2 : 20);
	}
}

/* The burst made RSS grow by at least `grew` KiB (the test measures
 * something), then RSS returned to base + SLACK_KB. */
static void expect_returned(const char *what, long base, long peak, long grew, void (*step)(void))
{
	if (peak - base < grew)
		child_fail("%s: the burst grew RSS by %ld KiB only (from %ld)", what, peak - base, base);
	long last = 0;
	long ms = wait_rss(base + SLACK_KB, step, &last);
	if (ms < 0)
		child_fail("%s: VmRSS still %ld KiB after %d ms (before the burst %ld, peak %ld)", what,
		           last, DEADLINE_MS, base, peak);
	else
		say("%s: VmRSS %ld -> %ld KiB in %ld ms (base %ld KiB)", what, peak, last, ms, base);
}

/* ---- steady_traffic ---- */

static int c_steady(void *arg)
{
	set_decay(DECAY_MS);
	traffic();
	long base = rss_kb();
	void **v;
	size_t n = burst(1000, 256u << 20, &v);
	long peak = rss_kb();
	free_all(v, n);
	expect_returned("256 MiB of 1000 B freed, steady traffic", base, peak, 200 * 1024, traffic);
	if (bg_threads() != 0)
		child_fail("a single-threaded process got a background thread");
	return child_status();
}

static void test_steady_traffic(void)
{
	run_case("256 MiB freed, then steady traffic", c_steady, NULL, 30);
}

/* ---- idle_arena ---- */

static int g_pipe[2];

static void block_on_pipe(void)
{
	char c;
	while (read(g_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
}

/* Lets the thread that blocks on the pipe go, and joins it. */
static void unblock(pthread_t t)
{
	ssize_t w = write(g_pipe[1], "x", 1);
	(void)w;
	join(t);
}

static void *t_burst_then_block(void *arg)
{
	bind_arena(0);
	void **v;
	size_t n = burst(2000, 100u << 20, &v);
	*(long *)arg = rss_kb();
	free_all(v, n);
	__atomic_store_n((long *)arg + 1, 1, __ATOMIC_RELEASE);
	block_on_pipe();
	return NULL;
}

static void arena1_traffic(void)
{
	traffic();
}

static int c_idle_arena(void *arg)
{
	if (pipe(g_pipe) != 0)
		return 4;
	set_bool("background_thread", false);
	set_decay(DECAY_MS);
	bind_arena(1);
	traffic();
	long base = rss_kb();
	long shared[2] = { 0, 0 };
	pthread_t t = spawn(t_burst_then_block, shared);
	while (!__atomic_load_n(&shared[1], __ATOMIC_ACQUIRE))
		sleep_ms(1);
	expect_returned("arena 0's burst freed, work in arena 1 only", base, shared[0], 80 * 1024,
	                arena1_traffic);
	if (bg_threads() != 0)
		child_fail("background_thread=false, yet a background thread runs");
	unblock(t);
	return child_status();
}

static void test_idle_arena(void)
{
	run_case("burst in arena 0, work in arena 1", c_idle_arena, NULL, 30);
}

/* ---- idle_process ---- */

static void *t_block(void *arg)
{
	block_on_pipe();
	return NULL;
}

static int c_idle_process(void *arg)
{
	if (pipe(g_pipe) != 0)
		return 4;
	set_decay(DECAY_MS);
	pthread_t t = spawn(t_block, NULL);
	traffic();
	long base = rss_kb();
	void **small, **span, **large;
	size_t ns = burst(1000, 100u << 20, &small);
	size_t nm = burst(20000, 40u << 20, &span);
	size_t nl = burst(3u << 20, 60u << 20, &large);
	long peak = rss_kb();
	free_all(small, ns);
	free_all(span, nm);
	free_all(large, nl);
	/* No allocator call from here on: only the background thread works. */
	expect_returned("200 MiB freed, then idle", base, peak, 180 * 1024, NULL);
	size_t runs = 0;
	if (bg_threads() != 1)
		child_fail("no background thread in a two-thread process");
	if (ctl_get_zu("stats.background_thread.num_runs", &runs) != 0 || runs == 0)
		child_fail("stats.background_thread.num_runs: %zu", runs);
	unblock(t);
	return child_status();
}

static void test_idle_process(void)
{
	run_case("an idle two-thread process after a 200 MiB burst", c_idle_process, NULL, 30);
}

/* ---- partial_pages ---- */

static int c_partial_pages(void *arg)
{
	if (pipe(g_pipe) != 0)
		return 4;
	set_decay(DECAY_MS);
	pthread_t t = spawn(t_block, NULL);
	traffic();
	long base = rss_kb();
	/* Every slab keeps live blocks: only its free pages can go back. */
	void **v4, **v16;
	size_t n4 = burst(4096, 64u << 20, &v4);
	size_t n16 = burst(16384, 64u << 20, &v16);
	long peak = rss_kb();
	for (size_t i = 0; i < n4; i++)
		if (i % 8 != 0)
			free(v4[i]), v4[i] = NULL;
	for (size_t i = 0; i < n16; i++)
		if (i % 8 != 0)
			free(v16[i]), v16[i] = NULL;
	/* 16 MiB live: returned means within SLACK_KB of base + 16 MiB. */
	expect_returned("7 of 8 blocks of 4 and 16 KiB freed, then idle", base + 16 * 1024, peak,
	                100 * 1024, NULL);
	/* The purged blocks serve again, and read as what is written. */
	for (size_t i = 0; i < n4; i++)
		if (v4[i] == NULL && (v4[i] = malloc(4096)) != NULL)
			memset(v4[i], 0x5a, 4096);
	for (size_t i = 0; i < n4; i++) {
		unsigned char *b = v4[i];
		if (b == NULL || (i % 8 != 0 && (b[0] != 0x5a || b[4095] != 0x5a))) {
			child_fail("block %zu after the page purge: %p", i, (void *)b);
			break;
		}
	}
	free_all(v4, n4);
	for (size_t i = 0; i < n16; i++)
		free(v16[i]);
	free(v16);
	unblock(t);
	return child_status();
}

static void test_partial_pages(void)
{
	run_case("free pages inside partly used slabs", c_partial_pages, NULL, 30);
}

/* ---- remote_idle ---- */

/* The classes from 256 B to 32 KiB; for each, one live block per 64 KiB
 * unit of its slabs (the rest freed by their own thread), handed to a
 * consumer of the other arena. */
#define RC_FIRST 256
#define RC_LAST  32768
#define RC_UNITS 24  /* units per class */

struct remote_case {
	void *kept[64 * RC_UNITS];
	unsigned nkept;
	int cls[64];
	unsigned ncls;
	int ready;       /* producer done [atomic] */
	int freed;       /* consumer done [atomic] */
};

static void *t_producer(void *arg)
{
	struct remote_case *rc = arg;
	bind_arena(0);
	for (unsigned k = 0; k < rc->ncls; k++) {
		char key[64];
		size_t size = 0, slab = 0;
		snprintf(key, sizeof key, "arenas.class.%d.size", rc->cls[k]);
		ctl_get_zu(key, &size);
		snprintf(key, sizeof key, "arenas.class.%d.slab_size", rc->cls[k]);
		ctl_get_zu(key, &slab);
		size_t n = slab / size * (RC_UNITS * 65536 / slab + 1);
		void **v = malloc(n * sizeof *v);
		for (size_t i = 0; i < n; i++) {
			v[i] = malloc(size);
			memset(v[i], 1, size);
		}
		/* Keep the first block that starts in each 64 KiB unit. */
		uintptr_t units[4096];
		unsigned nu = 0;
		for (size_t i = 0; i < n; i++) {
			uintptr_t u = (uintptr_t)v[i] >> 16;
			bool seen = false;
			for (unsigned j = 0; j < nu && !seen; j++)
				seen = units[j] == u;
			if (!seen && nu < 4096 && rc->nkept < 64 * RC_UNITS) {
				units[nu++] = u;
				rc->kept[rc->nkept++] = v[i];
			} else {
				free(v[i]);
			}
		}
		free(v);
	}
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	__atomic_store_n(&rc->ready, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *t_consumer(void *arg)
{
	struct remote_case *rc = arg;
	bind_arena(1);
	for (unsigned i = 0; i < rc->nkept; i++)
		free(rc->kept[i]);
	__atomic_store_n(&rc->freed, 1, __ATOMIC_RELEASE);
	block_on_pipe(); /* idle: nothing but the background thread moves */
	return NULL;
}

/* Blocks of the remote case's classes out of arena 0's slabs, and its slabs. */
static void arena0_usage(const struct remote_case *rc, size_t *regs, size_t *slabs)
{
	*regs = *slabs = 0;
	ctl_epoch_rc();
	for (unsigned k = 0; k < rc->ncls; k++) {
		char key[96];
		size_t v = 0;
		snprintf(key, sizeof key, "stats.arenas.0.class.%d.curregs", rc->cls[k]);
		ctl_get_zu(key, &v);
		*regs += v;
		snprintf(key, sizeof key, "stats.arenas.0.class.%d.curslabs", rc->cls[k]);
		ctl_get_zu(key, &v);
		*slabs += v;
	}
}

/* arg NULL: the background thread takes the remote frees; non-NULL: no
 * background thread, arenas.purge from another thread does. */
static int c_remote_idle(void *arg)
{
	static struct remote_case rc;
	if (pipe(g_pipe) != 0)
		return 4;
	set_decay(DECAY_MS);
	if (arg != NULL)
		set_bool("background_thread", false);
	bind_arena(1); /* this thread's blocks (pthread_create's) stay out of arena 0 */
	for (int c = class_of(RC_FIRST); c >= 0 && rc.ncls < 64; c++) {
		char key[64];
		size_t size = 0;
		snprintf(key, sizeof key, "arenas.class.%d.size", c);
		if (ctl_get_zu(key, &size) != 0 || size > RC_LAST)
			break;
		rc.cls[rc.ncls++] = c;
	}
	/* Blocks the process held before (the parent's stdio, inherited): the
	 * count must come back to these. */
	size_t base, base_slabs, regs, slabs;
	arena0_usage(&rc, &base, &base_slabs);
	long rss_base = rss_kb();
	join(spawn(t_producer, &rc));
	arena0_usage(&rc, &regs, &slabs);
	if (regs != base + rc.nkept)
		child_fail("before the consumer: %zu blocks out of arena 0's slabs, %zu + %u kept", regs,
		           base, rc.nkept);
	pthread_t t = spawn(t_consumer, &rc);
	while (!__atomic_load_n(&rc.freed, __ATOMIC_ACQUIRE))
		sleep_ms(1);
	/* No statistics read from here on until the verdict: an epoch takes
	 * the remote frees itself. The memory is the measure. */
	long rss_held = rss_kb(), grew = rss_held - rss_base;
	long limit = rss_base + (grew / 4 > SLACK_KB ? grew / 4 : SLACK_KB);
	say("right after the consumer's frees: VmRSS %ld KiB (%ld before the producer), %zu slabs "
	    "of %u classes", rss_held, rss_base, slabs - base_slabs, rc.ncls);
	if (grew < 8 * 1024)
		child_fail("the kept slabs hold %ld KiB only: the case tests nothing", grew);
	if (arg != NULL) {
		sleep_ms(DECAY_MS + 200);
		long r = rss_kb();
		if (r < rss_held - grew / 2)
			child_fail("without a background thread the slabs went back by themselves "
			           "(VmRSS %ld -> %ld KiB)", rss_held, r);
		hakmem_ctl("arenas.purge", NULL, NULL, NULL, 0);
		r = rss_kb();
		arena0_usage(&rc, &regs, &slabs);
		if (r > limit || regs != base || slabs > base_slabs)
			child_fail("arenas.purge left VmRSS %ld KiB (limit %ld), %zu blocks and %zu slabs "
			           "of the idle owner's", r, limit, regs - base, slabs - base_slabs);
		else
			say("arenas.purge took the remote frees: VmRSS %ld -> %ld KiB, every slab back",
			    rss_held, r);
		unblock(t);
		return child_status();
	}
	long last = 0, ms = wait_rss(limit, NULL, &last);
	arena0_usage(&rc, &regs, &slabs);
	if (ms < 0 || regs != base || slabs > base_slabs)
		child_fail("the idle owner's slabs: VmRSS %ld KiB after %d ms (limit %ld), %zu blocks "
		           "out, %zu slabs left", last, DEADLINE_MS, limit, regs - base,
		           slabs - base_slabs);
	else
		say("the background thread took the remote frees: VmRSS %ld -> %ld KiB in %ld ms, "
		    "every slab back", rss_held, last, ms);
	unblock(t);
	return child_status();
}

static void test_remote_idle(void)
{
	run_case("remote frees of an idle consumer", c_remote_idle, NULL, 30);
	run_case("remote frees of an idle consumer, arenas.purge without the background thread",
	         c_remote_idle, (void *)1, 30);
}

/* ---- steal_stress ---- */

/* Consumers free blocks of another arena (pushes on the slabs' remote lists,
 * each first push putting its slab on the bin's list) while a third thread
 * calls malloc_trim without pause, which takes every list it finds, in the
 * middle of the pushes, and the background thread runs every 10 ms. Nothing
 * may be lost or freed twice: at the end every block is home. */
#define SS_BLOCKS 20000
#define SS_ROUNDS 40

static void *g_ss_blocks[2][SS_BLOCKS];
static int g_ss_stop;

static void *t_ss_consumer(void *arg)
{
	void **v = arg;
	bind_arena(1);
	for (unsigned i = 0; i < SS_BLOCKS; i++) {
		free(v[i]);
		if (i % 64 == 0)
			sched_yield(); /* let the trimmer in between pushes */
	}
	return NULL;
}

static void *t_ss_trim(void *arg)
{
	while (!__atomic_load_n(&g_ss_stop, __ATOMIC_ACQUIRE))
		malloc_trim(0);
	return NULL;
}

static void *t_block_none(void *arg)
{
	bind_arena(1);
	sleep_ms(20);
	return NULL;
}

static int c_steal_stress(void *arg)
{
	set_decay(10);
	bind_arena(0);
	size_t base, regs, slabs;
	struct remote_case all = { .ncls = 0 };
	for (int c = class_of(16); c >= 0 && all.ncls < 40; c++) {
		char key[64];
		size_t size = 0;
		snprintf(key, sizeof key, "arenas.class.%d.size", c);
		if (ctl_get_zu(key, &size) != 0 || size > 4096)
			break;
		all.cls[all.ncls++] = c;
	}
	/* glibc keeps what it allocates for a thread (its TLS vector) with the
	 * stacks it caches: warm that cache with as many threads first. */
	static void *none[1];
	pthread_t w[3] = { spawn(t_block_none, none), spawn(t_block_none, none),
	                   spawn(t_block_none, none) };
	for (unsigned i = 0; i < 3; i++)
		join(w[i]);
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0); /* as at the end */
	arena0_usage(&all, &base, &slabs);
	pthread_t trim = spawn(t_ss_trim, NULL);
	for (unsigned r = 0; r < SS_ROUNDS; r++) {
		for (unsigned k = 0; k < 2; k++)
			for (unsigned i = 0; i < SS_BLOCKS; i++) {
				size_t size = 16 + (i * 2654435761u) % 4000;
				g_ss_blocks[k][i] = malloc(size);
				if (g_ss_blocks[k][i] == NULL)
					return 4;
				*(volatile char *)g_ss_blocks[k][i] = 1;
			}
		pthread_t a = spawn(t_ss_consumer, g_ss_blocks[0]);
		pthread_t b = spawn(t_ss_consumer, g_ss_blocks[1]);
		join(a);
		join(b);
	}
	__atomic_store_n(&g_ss_stop, 1, __ATOMIC_RELEASE);
	join(trim);
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	arena0_usage(&all, &regs, &slabs);
	if (regs != base)
		child_fail("%zd blocks of arena 0 not home after %u rounds of remote frees under "
		           "malloc_trim", (ssize_t)(regs - base), SS_ROUNDS);
	else
		say("%u x 2 x %u remote frees under a malloc_trim loop: every block home",
		    SS_ROUNDS, SS_BLOCKS);
	return child_status();
}

static void test_steal_stress(void)
{
	run_case("remote lists taken by malloc_trim during the pushes", c_steal_stress, NULL, 60);
}

/* ---- idle_cache ---- */

static size_t cached_blocks(int cls)
{
	size_t total = 0;
	ctl_epoch_rc();
	for (unsigned a = 0; a < 2; a++) {
		char key[96];
		size_t v = 0;
		snprintf(key, sizeof key, "stats.arenas.%u.class.%d.ncached", a, cls);
		ctl_get_zu(key, &v);
		total += v;
	}
	return total;
}

static void *t_idle_cache(void *arg)
{
	int cls = class_of(64);
	void *p[400];
	for (unsigned i = 0; i < 400; i++)
		p[i] = malloc(64);
	for (unsigned i = 0; i < 400; i++)
		free(p[i]);
	size_t before = cached_blocks(cls);
	sleep_ms(DECAY_MS + 100);
	free(malloc(3000)); /* one slow-path event (an empty bin) */
	size_t after = cached_blocks(cls);
	if (before < 300)
		child_fail("only %zu 64-byte blocks were cached: the case tests nothing", before);
	if (after > before / 2)
		child_fail("an idle thread's cache kept %zu of %zu blocks after its next event", after,
		           before);
	else
		say("idle cache: %zu -> %zu blocks", before, after);
	return NULL;
}

static int c_idle_cache(void *arg)
{
	set_decay(DECAY_MS);
	join(spawn(t_idle_cache, NULL));
	return child_status();
}

static void test_idle_cache(void)
{
	run_case("an idle thread's cache", c_idle_cache, NULL, 30);
}

/* ---- decay_zero ---- */

static int c_decay_zero(void *arg)
{
	set_decay(0);
	traffic();
	long base = rss_kb();
	void **v, **l;
	size_t n = burst(1000, 100u << 20, &v);
	size_t nl = burst(3u << 20, 30u << 20, &l);
	long peak = rss_kb();
	free_all(v, n);
	free_all(l, nl);
	long after = rss_kb();
	if (peak - base < 100 * 1024)
		child_fail("the burst grew RSS by %ld KiB only", peak - base);
	if (after > base + SLACK_KB)
		child_fail("decay_ms=0: VmRSS %ld KiB as free() returned (base %ld, peak %ld)", after,
		           base, peak);
	else
		say("decay_ms=0: VmRSS %ld -> %ld KiB at once (base %ld)", peak, after, base);
	return child_status();
}

static void test_decay_zero(void)
{
	run_case("decay_ms=0", c_decay_zero, NULL, 30);
}

/* ---- decay_never ---- */

static void *t_purge(void *arg)
{
	hakmem_ctl("arenas.purge", NULL, NULL, NULL, 0);
	return NULL;
}

static int c_decay_never(void *arg)
{
	if (pipe(g_pipe) != 0)
		return 4;
	set_decay(-1);
	pthread_t t = spawn(t_block, NULL);
	traffic();
	long base = rss_kb();
	void **v;
	size_t n = burst(1000, 100u << 20, &v);
	long peak = rss_kb();
	free_all(v, n);
	for (unsigned i = 0; i < 100; i++) {
		traffic();
		sleep_ms(10);
	}
	long kept = rss_kb();
	if (kept < peak - 16 * 1024)
		child_fail("decay_ms=-1: VmRSS fell from %ld to %ld KiB by itself", peak, kept);
	if (bg_threads() != 1)
		child_fail("no background thread in a two-thread process");
	size_t dirty = 0, purged0 = 0, purged1 = 0;
	ctl_epoch_rc();
	ctl_get_zu("stats.dirty", &dirty);
	ctl_get_zu("stats.purged", &purged0);
	if (dirty < 80u << 20)
		child_fail("decay_ms=-1: stats.dirty %zu with 100 MiB freed and kept", dirty);
	join(spawn(t_purge, NULL)); /* another thread, another arena's cache */
	ctl_epoch_rc();
	ctl_get_zu("stats.dirty", &dirty);
	ctl_get_zu("stats.purged", &purged1);
	if (dirty > (size_t)SLACK_KB << 10 || purged1 - purged0 < 80u << 20)
		child_fail("after arenas.purge: stats.dirty %zu, stats.purged grew by %zu", dirty,
		           purged1 - purged0);
	long after = rss_kb();
	if (after > base + SLACK_KB)
		child_fail("arenas.purge from another thread: VmRSS %ld KiB (base %ld, peak %ld)", after,
		           base, peak);
	else
		say("decay_ms=-1: %ld KiB kept for 1 s; arenas.purge -> %ld KiB", kept, after);
	unblock(t);
	return child_status();
}

static void test_decay_never(void)
{
	run_case("decay_ms=-1", c_decay_never, NULL, 30);
}

/* ---- signal_wake ---- */

static void *g_sig_block;

static void free_in_handler(int sig)
{
	free(g_sig_block); /* a cached large mapping: wakes the sleeping thread */
	g_sig_block = NULL;
}

/* The background thread sleeps without a timeout (nothing to do); a free()
 * in a signal handler gives it work: the wake-up (a semaphore post) works
 * from there, and the memory returns while the program calls nothing. */
static int c_signal_wake(void *arg)
{
	if (pipe(g_pipe) != 0)
		return 4;
	set_decay(DECAY_MS);
	pthread_t t = spawn(t_block, NULL);
	free(malloc(8u << 20)); /* starts the thread */
	size_t r0 = 0, r1 = 0;
	for (unsigned i = 0; i < 50; i++) { /* until it sleeps for good */
		ctl_get_zu("stats.background_thread.num_runs", &r0);
		sleep_ms(300);
		ctl_get_zu("stats.background_thread.num_runs", &r1);
		if (r1 == r0)
			break;
	}
	if (r1 != r0 || bg_threads() != 1)
		child_fail("the background thread never went to sleep (%zu -> %zu runs)", r0, r1);
	long base = rss_kb();
	g_sig_block = malloc(32u << 20);
	memset(g_sig_block, 1, 32u << 20);
	long peak = rss_kb();
	signal(SIGUSR1, free_in_handler);
	raise(SIGUSR1);
	expect_returned("32 MiB freed in a signal handler, then idle", base, peak, 30 * 1024, NULL);
	unblock(t);
	return child_status();
}

static void test_signal_wake(void)
{
	run_case("a free() in a signal handler wakes the background thread", c_signal_wake, NULL,
	         30);
}

/* ---- background_ctl ---- */

static unsigned ntasks(void)
{
	DIR *d = opendir("/proc/self/task");
	unsigned n = 0;
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Waits for the task count to become n; whether it did. */
static bool wait_tasks(unsigned n)
{
	for (unsigned i = 0; i < 500; i++) {
		if (ntasks() == n)
			return true;
		sleep_ms(2);
	}
	return false;
}

static int c_bg_fork_child(void)
{
	if (bg_threads() != 0)
		say("CHILD-FAIL: a fork child inherited a background thread");
	free(malloc(100));
	if (set_bool("background_thread", true) != 0 || bg_threads() != 1 || !wait_tasks(2))
		return 5;
	if (set_bool("background_thread", false) != 0 || bg_threads() != 0 || !wait_tasks(1))
		return 6;
	return 0;
}

static int c_background_ctl(void *arg)
{
	free(malloc(100));
	if (!get_bool("opt.background_thread") || !get_bool("background_thread"))
		child_fail("background_thread is not true by default");
	sleep_ms(50);
	if (bg_threads() != 0 || ntasks() != 1)
		child_fail("a single-threaded process has %zu background threads, %u tasks",
		           bg_threads(), ntasks());
	if (set_bool("background_thread", true) != 0)
		child_fail("writing background_thread=true");
	if (bg_threads() != 1 || !wait_tasks(2))
		child_fail("background_thread=true: %zu threads, %u tasks", bg_threads(), ntasks());
	if (set_bool("background_thread", false) != 0)
		child_fail("writing background_thread=false");
	if (bg_threads() != 0 || !wait_tasks(1))
		child_fail("background_thread=false: %zu threads, %u tasks", bg_threads(), ntasks());
	if (!get_bool("opt.background_thread"))
		child_fail("opt.background_thread changed with the run-time key");
	set_bool("background_thread", true);
	/* fork with the thread running: the child has none, and starts its own. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(c_bg_fork_child());
	int st = 0;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		child_fail("the fork child of a process with a background thread: status %#x", st);
	if (bg_threads() != 1)
		child_fail("the parent lost its background thread at fork");
	return child_status();
}

static void test_background_ctl(void)
{
	run_case("background_thread on and off, fork", c_background_ctl, NULL, 20);
}

int main(void)
{
	test_run(test_steady_traffic);
	test_run(test_idle_arena);
	test_run(test_idle_process);
	test_run(test_partial_pages);
	test_run(test_remote_idle);
	test_run(test_steal_stress);
	test_run(test_idle_cache);
	test_run(test_decay_zero);
	test_run(test_decay_never);
	test_run(test_signal_wake);
	test_run(test_background_ctl);
	return test_summary();
}
