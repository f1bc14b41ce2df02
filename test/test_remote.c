/* test_remote - the cross-thread path: blocks freed by threads of another
 * arena go on their slab's remote list (arena.h: arena_free_remote) and come
 * home when the owning bin takes the list.
 *
 *   double_free_at_once   a thread of arena 1 frees a block of arena 0 twice
 *                         in a row: stopped at the second free, the pointer
 *                         named (64 B, 4 KiB, 100 KB)
 *   double_free_later     free(p), free(q), free(p) by a thread of arena 1:
 *                         stopped when the bin takes the list (an epoch),
 *                         p named, and no hang on the cycle the list became
 *   double_free_refill    the same, stopped when the owner's refill takes the
 *                         list
 *   slab_then_remote      the owner frees p and flushes it to its slab, a
 *                         thread of arena 1 frees p: stopped at the refill
 *   interior_free         a thread of arena 1 frees p + 16: stopped at once
 *   refill_room           arena 0's 3 x 5,000 blocks (64, 1000, 3000 B) freed
 *                         by arena 1, allocated again: refills take the lists
 *                         beyond a bin's room; no block handed out twice,
 *                         every stamp intact, all home, each remote free
 *                         counted once
 *   stress                2 producers of arena 0 hand stamped blocks to 2
 *                         consumers of arena 1 through rings while they keep
 *                         allocating, and a third thread calls malloc_trim:
 *                         no block is handed out twice (every stamp intact
 *                         when its consumer frees it), all come home
 *   fork_mid_push         fork in a loop while a consumer frees arena 0's
 *                         blocks: each child finds every block freed before
 *                         the fork home, frees the rest itself, and exits
 *   thread_states         arena 0's blocks freed as a fresh thread's first
 *                         call, in a key destructor after hakmem's own thread
 *                         teardown, and in a signal handler that interrupts
 *                         the thread's own remote frees: every block home
 *   realloc_states        malloc_usable_size, an in-place shrink and a
 *                         moving growth of arena 0's blocks 1100-4000 B as a
 *                         fresh thread's first calls, in a key destructor
 *                         after teardown, in a signal handler interrupting
 *                         the thread's own reallocs, and in a fork child:
 *                         contents kept, the shrink in place, every block
 *                         home
 *
 * Every case runs in a child process under a watchdog (child.h).
 */
#include "expect.h"
#include "child.h"

#include <hakmem.h>

#include <malloc.h>
#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

/* Two arenas whatever the machine: the cases bind threads to each. */
const char *hakmem_conf = "opt.narenas=2";


/* Blocks of classes [lo, hi] out of arena 0's slabs: the calling thread's
 * cache flushed (cached blocks count as out), then an epoch (it takes the
 * remote lists). */
static size_t arena0_regs(int lo, int hi)
{
	size_t regs = 0;
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	ctl_epoch_rc();
	for (int c = lo; c <= hi; c++) {
		char key[96];
		size_t v = 0;
		snprintf(key, sizeof key, "stats.arenas.0.class.%d.curregs", c);
		if (ctl_get_zu(key, &v) != 0)
			child_fail("read %s", key);
		regs += v;
	}
	return regs;
}

/* ---- misuse ---- */

enum { DF_AT_ONCE, DF_LATER, DF_REFILL, DF_SLAB_REMOTE, INTERIOR };

struct misuse {
	int kind;
	size_t size;
	void *p, *q;
};

static void *t_misuse(void *arg)
{
	struct misuse *m = arg;
	bind_arena(1);
	switch (m->kind) {
	case DF_AT_ONCE:
		free(m->p);
		free(m->p);
		break;
	case DF_LATER:
	case DF_REFILL:
		free(m->p);
		free(m->q);
		free(m->p);
		break;
	case DF_SLAB_REMOTE:
		free(m->p); /* its owner freed it already */
		break;
	case INTERIOR:
		free((char *)m->p + 16);
		break;
	}
	return NULL;
}

static int c_misuse(void *arg)
{
	static struct misuse m;
	m = *(struct misuse *)arg;
	bool bg = false;
	/* Nobody but the epoch below takes the lists. */
	hakmem_ctl("background_thread", NULL, NULL, &bg, sizeof bg);
	bind_arena(0);
	m.p = malloc(m.size);
	m.q = malloc(m.size);
	if (m.p == NULL || m.q == NULL)
		return 5;
	memset(m.p, 1, m.size);
	memset(m.q, 2, m.size);
	fprintf(stderr, "PTR=%p\n", m.kind == INTERIOR ? (void *)((char *)m.p + 16) : m.p);
	if (m.kind == DF_SLAB_REMOTE) {
		free(m.p);
		hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0); /* p is free in its slab */
	}
	join(spawn(t_misuse, &m));
	if (m.kind == DF_LATER)
		ctl_epoch_rc(); /* arena 0's bin takes the list: p twice */
	if (m.kind == DF_REFILL || m.kind == DF_SLAB_REMOTE)
		for (unsigned i = 0; i < 100000; i++) /* a refill takes the list */
			if (malloc(m.size) == NULL)
				break;
	say("the misuse by a thread of arena 1 was not stopped");
	return 99;
}

/* Each size in a child: the misuse `kind` must stop it with `needle`. */
static void run_misuse(int kind, const char *what, const char *needle)
{
	static const size_t sizes[] = { 64, 4096, 100000 };
	for (unsigned i = 0; i < 3; i++) {
		struct misuse m = { kind, sizes[i], NULL, NULL };
		char label[96];
		snprintf(label, sizeof label, "%s of %zu B", what, sizes[i]);
		child_t r;
		run_child(&r, 10, c_misuse, &m);
		expect_child_abort(label, &r, needle, NULL);
	}
}

static void test_double_free_at_once(void)
{
	run_misuse(DF_AT_ONCE, "remote free(p); free(p)", "double free");
}

static void test_double_free_later(void)
{
	run_misuse(DF_LATER, "remote free(p); free(q); free(p)", "double free");
}

static void test_double_free_refill(void)
{
	run_misuse(DF_REFILL, "remote free(p); free(q); free(p), then the owner's refills",
	           "double free");
}

static void test_slab_then_remote(void)
{
	run_misuse(DF_SLAB_REMOTE, "free(p) and flush by its owner, remote free(p), refills",
	           "double free");
}

static void test_interior_free(void)
{
	struct misuse m = { INTERIOR, 256, NULL, NULL };
	child_t r;
	run_child(&r, 10, c_misuse, &m);
	expect_child_abort("remote free(p + 16) of a 256 B block", &r, "invalid free", NULL);
}

/* ---- stress ---- */

#define ST_ITEMS  200000u  /* blocks per producer */
#define ST_RING   1024u

struct ring {
	_Alignas(64) uint64_t head; /* written by the producer [atomic] */
	_Alignas(64) uint64_t tail; /* written by the consumer [atomic] */
	_Alignas(64) void *slot[ST_RING];
};

static struct ring g_rings[2];
static int g_st_stop;
static int g_go; /* every thread started and bound, the base read: run [atomic] */

/* Binds the calling thread to arena i and waits for the start. */
static void start(unsigned i)
{
	bind_arena(i);
	while (!__atomic_load_n(&g_go, __ATOMIC_ACQUIRE))
		sleep_ms(1);
}

static uint64_t stamp_of(const void *p, uint64_t i)
{
	return ((uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15u) ^ i;
}

/* A block of n bytes: the stamp in its first and last words, its index and
 * size in the second. */
static void st_write(uint64_t *p, size_t n, uint64_t i)
{
	size_t w = n / 8;
	p[0] = stamp_of(p, i);
	p[1] = i << 16 | n;
	if (w > 2)
		p[w - 1] = stamp_of(p, i);
}

static bool st_check(const uint64_t *p, size_t *n)
{
	*n = (size_t)(p[1] & 0xffff);
	uint64_t i = p[1] >> 16;
	if (*n < 16 || *n > 4096 || p[0] != stamp_of(p, i))
		return false;
	size_t w = *n / 8;
	return w <= 2 || p[w - 1] == stamp_of(p, i);
}

static void *t_producer(void *arg)
{
	struct ring *r = arg;
	start(0);
	uint64_t x = (uint64_t)(uintptr_t)arg | 1;
	void *keep[64] = { 0 };
	for (uint64_t i = 0; i < ST_ITEMS;) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t n = 16 + (x % 4081) / 8 * 8;
		/* Blocks of its own too, freed locally: the owner reuses what
		 * came home while the consumers push. */
		unsigned k = (unsigned)(x >> 40) % 64;
		free(keep[k]);
		keep[k] = malloc(n);
		if (keep[k] != NULL)
			memset(keep[k], 0x5a, n < 64 ? n : 64);
		uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
		if (head - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) == ST_RING) {
			sched_yield();
			continue;
		}
		uint64_t *p = malloc(n);
		if (p == NULL) {
			child_fail("malloc(%zu) returned NULL", n);
			break;
		}
		st_write(p, n, i);
		r->slot[head % ST_RING] = p;
		__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
		i++;
	}
	for (unsigned k = 0; k < 64; k++)
		free(keep[k]);
	return NULL;
}

static void *t_consumer(void *arg)
{
	struct ring *r = arg;
	start(1);
	for (uint64_t got = 0; got < ST_ITEMS;) {
		uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
		if (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == tail) {
			sched_yield();
			continue;
		}
		uint64_t *p = r->slot[tail % ST_RING];
		size_t n;
		if (!st_check(p, &n)) {
			child_fail("block %p: its stamp changed between malloc and free (handed out twice?)",
			           (void *)p);
			_exit(3);
		}
		memset(p, 0xee, n); /* what a second owner would see */
		free(p);
		__atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
		got++;
	}
	return NULL;
}

static void *t_trimmer(void *arg)
{
	start(1);
	while (!__atomic_load_n(&g_st_stop, __ATOMIC_ACQUIRE)) {
		malloc_trim(0);
		sleep_ms(1);
	}
	return NULL;
}

/* The background thread runs from the start: its own first blocks are out
 * before any base is read, and it takes lists during the cases. */
static void background_on(void)
{
	bool on = true;
	if (hakmem_ctl("background_thread", NULL, NULL, &on, sizeof on) != 0)
		child_fail("background_thread=true");
	sleep_ms(20);
}

static int c_stress(void *arg)
{
	background_on();
	bind_arena(0);
	/* The count is exact above 1 KiB: the threads' own start-up blocks
	 * (freed at their exit) are smaller. The stamps cover every size. */
	int lo = class_of(1025), hi = class_of(4096);
	/* Every thread first (pthread_create and a thread's start allocate),
	 * waiting for the base. */
	pthread_t trim = spawn(t_trimmer, NULL);
	pthread_t p0 = spawn(t_producer, &g_rings[0]), p1 = spawn(t_producer, &g_rings[1]);
	pthread_t c0 = spawn(t_consumer, &g_rings[0]), c1 = spawn(t_consumer, &g_rings[1]);
	sleep_ms(50);
	size_t base = arena0_regs(lo, hi);
	__atomic_store_n(&g_go, 1, __ATOMIC_RELEASE);
	join(p0);
	join(p1);
	join(c0);
	join(c1);
	__atomic_store_n(&g_st_stop, 1, __ATOMIC_RELEASE);
	join(trim);
	size_t regs = arena0_regs(lo, hi);
	if (regs != base)
		child_fail("%zd blocks of arena 0 not home after 2 x %u remote frees", (ssize_t)(regs - base),
		           ST_ITEMS);
	size_t rf = 0;
	ctl_get_zu("stats.arenas.0.remote_frees", &rf);
	if (rf < 2 * ST_ITEMS)
		child_fail("stats.arenas.0.remote_frees %zu < %u: the blocks did not take the remote path",
		           rf, 2 * ST_ITEMS);
	else
		say("2 x %u blocks freed by arena 1's consumers, %zu remote frees counted, every block "
		    "home", ST_ITEMS, rf);
	return child_status();
}

static void test_stress(void)
{
	child_t r;
	run_child(&r, 60, c_stress, NULL);
	expect_child_ok("producers of arena 0, consumers of arena 1, malloc_trim", &r);
}

/* ---- refill_room ---- */

#define RR_N 5000u /* several slabs of each class, many times a bin's capacity */

static void *rr_blocks[RR_N];

static void *t_free_all(void *arg)
{
	size_t n = *(size_t *)arg;
	bind_arena(1);
	for (unsigned i = 0; i < RR_N; i++) {
		uint64_t *p = rr_blocks[i];
		if (p[0] != stamp_of(p, i) || p[n / 8 - 1] != stamp_of(p, i)) {
			child_fail("block %u (%p) changed before its remote free", i, (void *)p);
			_exit(3);
		}
		free(p);
	}
	return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
	return x < y ? -1 : x > y;
}

/* Arena 0 allocates RR_N blocks, a thread of arena 1 frees them all, arena
 * 0 allocates RR_N again: its refills take the remote lists straight into
 * the cache, far more than a bin holds, the rest put back for the next
 * refill. No block is handed out twice, every stamp survives, all come
 * home. */
static int c_refill_room(void *arg)
{
	(void)arg;
	bool bg = false;
	hakmem_ctl("background_thread", NULL, NULL, &bg, sizeof bg); /* only refills take lists */
	bind_arena(0);
	static const size_t sizes[] = { 64, 1000, 3000 };
	for (unsigned z = 0; z < 3; z++) {
		size_t n = sizes[z];
		int c = class_of(n);
		size_t base = arena0_regs(c, c), rf0 = 0, rf = 0;
		char key[96];
		snprintf(key, sizeof key, "stats.arenas.0.class.%d.remote_frees", c);
		ctl_get_zu(key, &rf0);
		for (unsigned round = 0; round < 3; round++) {
			for (unsigned i = 0; i < RR_N; i++) {
				uint64_t *p = malloc(n);
				if (p == NULL) {
					child_fail("malloc(%zu) returned NULL", n);
					return 3;
				}
				p[0] = p[n / 8 - 1] = stamp_of(p, i);
				rr_blocks[i] = p;
			}
			void *sorted[RR_N];
			memcpy(sorted, rr_blocks, sizeof sorted);
			qsort(sorted, RR_N, sizeof sorted[0], cmp_ptr);
			for (unsigned i = 1; i < RR_N; i++)
				if (sorted[i] == sorted[i - 1]) {
					child_fail("%p handed out twice (%zu B, round %u)", sorted[i], n, round);
					return 3;
				}
			join(spawn(t_free_all, &n));
		}
		size_t regs = arena0_regs(c, c); /* an epoch: the counts below are current */
		ctl_get_zu(key, &rf);
		if (regs != base)
			child_fail("%zu B: %zd blocks of arena 0 not home after 3 x %u remote frees", n,
			           (ssize_t)(regs - base), RR_N);
		if (rf - rf0 != 3 * RR_N)
			child_fail("%zu B: %zu remote frees counted, %u made", n, rf - rf0, 3 * RR_N);
		else
			say("%zu B: 3 x %u blocks freed by arena 1, taken back by refills, all home", n, RR_N);
	}
	return child_status();
}

static void test_refill_room(void)
{
	child_t r;
	run_child(&r, 60, c_refill_room, NULL);
	expect_child_ok("refills take remote lists beyond a bin's room", &r);
}

/* ---- fork_mid_push ---- */

#define FK_N 4000u

static void *g_fk_blocks[FK_N];
static uint64_t g_fk_started; /* index the consumer is freeing [atomic] */
static uint64_t g_fk_done;    /* frees it finished [atomic] */
static int g_fk_lo, g_fk_hi;
static size_t g_fk_base;      /* arena 0's blocks before the FK_N */
static unsigned g_fk_forks, g_fk_bad;

static void *t_fk_consumer(void *arg)
{
	start(1);
	for (uint64_t i = 0; i < FK_N; i++) {
		__atomic_store_n(&g_fk_started, i, __ATOMIC_SEQ_CST);
		free(g_fk_blocks[i]);
		__atomic_store_n(&g_fk_done, i + 1, __ATOMIC_SEQ_CST);
		/* Slow enough for a few hundred forks to land among the frees. */
		for (volatile unsigned k = 0; k < 100000; k++)
			;
	}
	return NULL;
}

/* In a child: frees what the consumer had not reached, counts the rest. */
static int fk_child(void)
{
	uint64_t started = __atomic_load_n(&g_fk_started, __ATOMIC_SEQ_CST);
	uint64_t done = __atomic_load_n(&g_fk_done, __ATOMIC_SEQ_CST);
	bind_arena(1);
	/* Block `started` is freed or not, as the fork cut the free: left. */
	for (uint64_t i = done > started ? done : started + 1; i < FK_N; i++)
		free(g_fk_blocks[i]);
	size_t regs = arena0_regs(g_fk_lo, g_fk_hi);
	if (regs > g_fk_base + 1 || regs < g_fk_base) {
		say("CHILD-FAIL: fork at free #%llu: %zd blocks of arena 0 out after the child freed the "
		    "rest (0 or 1 expected)", (unsigned long long)started, (ssize_t)(regs - g_fk_base));
		return 3;
	}
	void *v[256];
	for (unsigned i = 0; i < 256; i++)
		v[i] = malloc(16 + i * 8);
	for (unsigned i = 0; i < 256; i++)
		free(v[i]);
	return 0;
}

static void *t_fk_forker(void *arg)
{
	start(1);
	while (__atomic_load_n(&g_fk_done, __ATOMIC_ACQUIRE) < FK_N) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(fk_child());
		if (pid < 0) {
			child_fail("fork: %s", strerror(errno));
			break;
		}
		int st = 0;
		waitpid(pid, &st, 0);
		g_fk_forks++;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			g_fk_bad++;
	}
	return NULL;
}

static int c_fork(void *arg)
{
	background_on();
	bind_arena(0);
	g_fk_lo = class_of(1025); /* above the threads' own start-up blocks */
	g_fk_hi = class_of(4096);
	for (unsigned i = 0; i < FK_N; i++) {
		g_fk_blocks[i] = malloc(1025 + (i * 2654435761u) % 3072);
		if (g_fk_blocks[i] == NULL)
			return 5;
	}
	pthread_t f = spawn(t_fk_forker, NULL);
	pthread_t c = spawn(t_fk_consumer, NULL);
	/* pthread_create's own blocks are out now; this thread's cache goes
	 * home (a child would reap it). */
	sleep_ms(50);
	g_fk_base = arena0_regs(g_fk_lo, g_fk_hi) - FK_N;
	__atomic_store_n(&g_go, 1, __ATOMIC_RELEASE);
	join(c);
	join(f);
	say("%u forks during %u remote frees, %u children saw blocks lost", g_fk_forks, FK_N, g_fk_bad);
	if (g_fk_bad != 0)
		child_fail("%u of %u fork children found blocks of arena 0 that never came home", g_fk_bad,
		           g_fk_forks);
	if (g_fk_forks == 0)
		child_fail("no fork happened during the frees: the case tests nothing");
	size_t regs = arena0_regs(g_fk_lo, g_fk_hi);
	if (regs != g_fk_base)
		child_fail("%zd blocks of arena 0 out after the consumer freed all", (ssize_t)(regs - g_fk_base));
	return child_status();
}

static void test_fork_mid_push(void)
{
	child_t r;
	run_child(&r, 60, c_fork, NULL);
	expect_child_ok("fork in a loop during remote frees", &r);
}

/* ---- thread_states ---- */

#define TS_N 2000u  /* blocks per case, 16 B-4 KiB (even) */

static void *g_ts[3][TS_N];
static pthread_key_t g_ts_key;
static volatile sig_atomic_t g_ts_sig_next; /* next block the handler frees */

static void ts_fill(void **v)
{
	for (unsigned i = 0; i < TS_N; i++) {
		v[i] = malloc(16 + (i * 2654435761u) % 4081);
		if (v[i] == NULL) {
			child_fail("malloc returned NULL");
			_exit(5);
		}
		memset(v[i], 0x33, 16);
	}
}

/* Its first allocator call is free() of a block of arena 0's. */
static void *t_first_call_free(void *arg)
{
	void **v = arg;
	for (unsigned i = 0; i < TS_N / 2; i++)
		free(v[i]);
	return NULL;
}

/* Two fresh threads, each freeing half of v as its first calls, started on
 * CPU 0 and CPU 1 (where there are two): the arena a thread starts with is
 * its CPU's, so one of them frees into another arena than the blocks'. */
static void ts_first_calls(void **v)
{
	for (unsigned k = 0; k < 2; k++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(k, &set);
		if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
			pthread_attr_setaffinity_np(&attr, sizeof set, &set);
		pthread_t t;
		int e = pthread_create(&t, &attr, t_first_call_free, v + k * (TS_N / 2));
		pthread_attr_destroy(&attr);
		if (e != 0) {
			child_fail("pthread_create: %s", strerror(e));
			_exit(4);
		}
		join(t);
	}
}

static void ts_destructor(void *arg)
{
	void **v = arg;
	for (unsigned i = 0; i < TS_N; i++)
		free(v[i]);
}

/* Frees in a key destructor that runs after hakmem's own (a key created
 * after initialisation runs later in each round). */
static void *t_free_in_destructor(void *arg)
{
	bind_arena(1);
	pthread_setspecific(g_ts_key, arg);
	return NULL;
}

static void ts_handler(int sig)
{
	int saved = errno;
	unsigned i = (unsigned)g_ts_sig_next;
	if (i < TS_N) {
		free(g_ts[2][i]); /* this thread's next remote free, from inside another */
		g_ts_sig_next = (sig_atomic_t)(i + 1);
	}
	errno = saved;
}

/* Bound to arena 1, runs op(arg, i) for i < n with `handler` installed for
 * sig and the signal sent before every other step (so the handler runs
 * inside the loop's own calls), then sends it until the handler has done
 * its n steps (*done counts them). */
static void loop_under_signal(int sig, void (*handler)(int), volatile sig_atomic_t *done,
                              unsigned n, void (*op)(void **, unsigned), void **arg)
{
	bind_arena(1);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigaction(sig, &sa, NULL);
	pthread_t self = pthread_self();
	for (unsigned i = 0; i < n; i++) {
		if (i % 2 == 0)
			pthread_kill(self, sig);
		op(arg, i);
	}
	while (*done < (sig_atomic_t)n)
		pthread_kill(self, sig);
}

static void free_one(void **v, unsigned i)
{
	free(v[i]);
}

/* Remote frees in a loop while a signal handler makes more of them. */
static void *t_free_in_handler(void *arg)
{
	/* arg's blocks are freed by the loop; the handler frees g_ts[2] */
	loop_under_signal(SIGUSR1, ts_handler, &g_ts_sig_next, TS_N, free_one, arg);
	return NULL;
}

static int c_thread_states(void *arg)
{
	background_on();
	bind_arena(0);
	int lo = class_of(1025), hi = class_of(4096);
	int e = pthread_key_create(&g_ts_key, ts_destructor);
	if (e != 0) {
		child_fail("pthread_key_create: %s", strerror(e));
		return child_status();
	}
	/* The threads' own start-up blocks first (base above 1 KiB is exact). */
	size_t base = arena0_regs(lo, hi);
	for (unsigned k = 0; k < 3; k++)
		ts_fill(g_ts[k]);
	size_t out = arena0_regs(lo, hi);
	ts_first_calls(g_ts[0]);
	size_t after_first = arena0_regs(lo, hi);
	join(spawn(t_free_in_destructor, g_ts[1]));
	size_t after_destr = arena0_regs(lo, hi);
	/* The signal case: the thread frees `loop` while its handler frees the
	 * third set. */
	static void *loop[TS_N];
	ts_fill(loop);
	size_t before_sig = arena0_regs(lo, hi);
	join(spawn(t_free_in_handler, loop));
	size_t after_sig = arena0_regs(lo, hi);
	say("blocks of arena 0 above 1 KiB out: base %zu, allocated %zu, after the first-call "
	    "frees %zu, after the destructor's %zu, before the handler case %zu, after it %zu",
	    base, out, after_first, after_destr, before_sig, after_sig);
	if (out == base)
		child_fail("the blocks were not counted out: the case tests nothing");
	size_t third = (out - base) / 3;
	if (out - after_first != third)
		child_fail("a fresh thread's first-call frees: %zd of %zu blocks came home",
		           (ssize_t)(out - after_first), third);
	if (after_first - after_destr != third)
		child_fail("frees in a key destructor after teardown: %zd of %zu blocks came home",
		           (ssize_t)(after_first - after_destr), third);
	if (after_sig != base)
		child_fail("remote frees in and around a signal handler: %zd blocks not home",
		           (ssize_t)(after_sig - base));
	return child_status();
}

/* ---- realloc_states ---- */

#define RS_N 500u  /* blocks per case, 1100-4000 B: classes above 1 KiB count exactly */

static void *g_rs[5][RS_N];
static pthread_key_t g_rs_key;
static volatile sig_atomic_t g_rs_sig_next;

static size_t rs_size(unsigned i)
{
	return 1100 + (i * 2654435761u) % 2901;
}

static void rs_fill(void **v)
{
	for (unsigned i = 0; i < RS_N; i++) {
		v[i] = malloc(rs_size(i));
		if (v[i] == NULL) {
			child_fail("malloc returned NULL");
			_exit(5);
		}
		memset(v[i], (int)(i & 0xff), rs_size(i));
	}
}

/* Block i of v through malloc_usable_size, an in-place shrink to half its
 * block or more (the same pointer back), a growth that moves it (the old
 * block freed into its arena, 0, from this thread's), its content checked
 * at each step, then freed. */
static void rs_one(void **v, unsigned i)
{
	size_t n = rs_size(i), us = malloc_usable_size(v[i]);
	unsigned char *p = v[i];
	if (us < n) {
		child_fail("malloc_usable_size(%p) = %zu < %zu", (void *)p, us, n);
		_exit(6);
	}
	unsigned char *q = realloc(p, us / 2 + 1);
	if (q != p)
		child_fail("realloc(%p, %zu) of a %zu B block moved it to %p", (void *)p, us / 2 + 1, us,
		           (void *)q);
	unsigned char *r = realloc(q, us + 5000);
	if (r == NULL) {
		child_fail("realloc to %zu returned NULL", us + 5000);
		_exit(6);
	}
	for (size_t k = 0; k < us / 2 + 1; k++)
		if (r[k] != (unsigned char)(i & 0xff)) {
			child_fail("block %u lost its content at %zu through realloc", i, k);
			_exit(6);
		}
	free(r);
}

static void *t_rs_first_call(void *arg)
{
	for (unsigned i = 0; i < RS_N; i++)
		rs_one(arg, i); /* its first call: malloc_usable_size */
	return NULL;
}

static void rs_destructor(void *arg)
{
	for (unsigned i = 0; i < RS_N; i++)
		rs_one(arg, i);
}

static void *t_rs_in_destructor(void *arg)
{
	bind_arena(1);
	pthread_setspecific(g_rs_key, arg);
	return NULL;
}

static void rs_handler(int sig)
{
	(void)sig;
	int saved = errno;
	unsigned i = (unsigned)g_rs_sig_next;
	if (i < RS_N) {
		rs_one(g_rs[3], i); /* inside this thread's own reallocs */
		g_rs_sig_next = (sig_atomic_t)(i + 1);
	}
	errno = saved;
}

static void *t_rs_in_handler(void *arg)
{
	loop_under_signal(SIGUSR2, rs_handler, &g_rs_sig_next, RS_N, rs_one, arg);
	return NULL;
}

static int c_realloc_states(void *arg)
{
	(void)arg;
	bind_arena(0);
	int lo = class_of(1025), hi = class_of(1835008);
	if (pthread_key_create(&g_rs_key, rs_destructor) != 0) {
		child_fail("pthread_key_create");
		return child_status();
	}
	/* The threads' own start-up blocks are smaller than 1 KiB. */
	size_t base = arena0_regs(lo, hi);
	for (unsigned k = 0; k < 5; k++)
		rs_fill(g_rs[k]);
	if (arena0_regs(lo, hi) < base + 5 * RS_N)
		child_fail("the blocks were not counted out: the case tests nothing");
	join(spawn(t_rs_first_call, g_rs[0]));
	join(spawn(t_rs_in_destructor, g_rs[1]));
	join(spawn(t_rs_in_handler, g_rs[2]));
	pid_t pid = fork();
	if (pid == 0) {
		/* The child's only thread, on the blocks of the parent's. */
		for (unsigned i = 0; i < RS_N; i++)
			rs_one(g_rs[4], i);
		_exit(child_status());
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		child_fail("the fork child's reallocs failed (status %#x)", st);
	for (unsigned i = 0; i < RS_N; i++)
		free(g_rs[4][i]); /* the parent's own copies */
	size_t after = arena0_regs(lo, hi);
	if (after != base)
		child_fail("realloc and malloc_usable_size as a first call, after teardown, in a "
		           "signal handler: %zd blocks of arena 0 not home", (ssize_t)(after - base));
	return child_status();
}

static void test_realloc_states(void)
{
	child_t r;
	run_child(&r, 60, c_realloc_states, NULL);
	expect_child_ok("realloc and malloc_usable_size in every thread state", &r);
}

static void test_thread_states(void)
{
	child_t r;
	run_child(&r, 60, c_thread_states, NULL);
	expect_child_ok("remote frees as a first call, after teardown, in a signal handler", &r);
}

int main(void)
{
	test_run(test_double_free_at_once);
	test_run(test_double_free_later);
	test_run(test_double_free_refill);
	test_run(test_slab_then_remote);
	test_run(test_interior_free);
	test_run(test_refill_room);
	test_run(test_stress);
	test_run(test_fork_mid_push);
	test_run(test_thread_states);
	test_run(test_realloc_states);
	return test_summary();
}
