/* tcache.c - thread-cache slow paths: refill, flush, remote frees, drain,
 * the large slot, and allocation without a cache. See tcache.h for the call
 * tree and thread.c for the states a thread goes through. */
#include "tcache.h"
#include "live.h"
#include "arena.h"
#include "atomic.h"
#include "background.h"
#include "conf.h"
#include "large.h"
#include "log.h"
#include "os.h"
#include "registry.h"
#include "thread.h"
#include "topology.h"

#include <errno.h>
#include <unistd.h>
#include <string.h>


uint64_t g_bypass_nmalloc, g_bypass_nfree;

static void tcache_bin_flush(tcache_t *tc, unsigned c, unsigned keep);
static void tcache_slot_release(tcache_t *tc);

/* ---- tunables and capacities ---- */

/* The capacity of a bin of a class above 1 KiB follows what the thread does
 * with the class (there a bin at its tunables' capacity holds 128 KiB). It
 * starts at 8 KiB of blocks; it doubles, up to the tunables' capacity, when
 * two refills or overflows come within two capacities' worth of frees (a
 * sweep: free a thousand blocks, allocate them again; or a thread that only
 * allocates); a drain that finds it idle halves it. A class whose count only
 * wanders (random sizes, a working set that turns over) keeps a small bin,
 * and so do rare classes. Tiny classes keep their tunables' capacity (their
 * bins are small, their churn is the fast path's). A capacity the program
 * wrote for a class (arenas.class.#.fast_cap) is fixed. */
static bool cap_adapts(unsigned c)
{
	return c >= TINY_NCLASSES && g_conf.class_fast_cap[c] == 0;
}

/* Where a bin starts and shrinks back to: two refills, and no more than
 * 8 KiB of blocks (at least 2), within the class's capacity. */
static uint32_t cap_floor(const tcache_t *tc, unsigned c)
{
	uint32_t f = 2 * tc->refill[c], kb8 = (uint32_t)(8 * KiB / class_size[c]);
	if (f > kb8)
		f = kb8;
	if (f < 2)
		f = 2;
	return f < tc->cap_max[c] ? f : tc->cap_max[c];
}

/* Sets bin c's capacity, giving back what no longer fits. */
static void tcache_set_cap(tcache_t *tc, unsigned c, uint32_t cap)
{
	tcache_bin_t *b = &tc->bins[c];
	int64_t cached = (int64_t)tc->cap[c] - b->avail;
	if (cached > (int64_t)cap) {
		tcache_bin_flush(tc, c, cap);
		cached = (int64_t)tc->cap[c] - b->avail;
	}
	tc->cap[c] = cap;
	b->avail = (int32_t)((int64_t)cap - cached);
}

/* Bin c refilled or overflowed: if the previous such event was fewer than
 * two capacities' worth of frees ago (a sweep, or a thread that only
 * allocates the class), the bin doubles. */
static void tcache_bin_event(tcache_t *tc, unsigned c)
{
	if (!cap_adapts(c))
		return; /* nfree_at_event serves only this */
	uint64_t nfree = tc->bins[c].nfree;
	if (tc->cap[c] < tc->cap_max[c] && nfree - tc->nfree_at_event[c] < 2 * (uint64_t)tc->cap[c]) {
		uint32_t cap = 2 * tc->cap[c];
		tcache_set_cap(tc, c, cap < tc->cap_max[c] ? cap : tc->cap_max[c]);
	}
	tc->nfree_at_event[c] = nfree;
}

static void tcache_apply_conf(tcache_t *tc)
{
	tc->conf_gen = atomic_load_relaxed(&g_conf_gen);
	int64_t d = g_conf.decay_ms;
	tc->idle_ns = d < 0 ? UINT64_MAX : d < 100 ? 100000000u : (uint64_t)d * 1000000u;
	for (unsigned c = 0; c < NCLASSES; c++) {
		uint32_t max = conf_class_cap(c);
		tc->cap_max[c] = max;
		tc->refill[c] = conf_class_refill(c);
		uint32_t cap = tc->cap[c];
		if (!cap_adapts(c) || cap > max)
			cap = max;
		else if (cap < cap_floor(tc, c))
			cap = cap_floor(tc, c);
		tcache_set_cap(tc, c, cap);
	}
}

void tcache_bind(tcache_t *tc, struct arena *a)
{
	if (tc->arena == a)
		return;
	if (tc->arena != NULL)
		atomic_fetch_add_relaxed(&tc->arena->nthreads, (uint32_t)-1);
	if (a != NULL)
		atomic_fetch_add_relaxed(&a->nthreads, 1u);
	tc->arena = a;
}

void tcache_init(tcache_t *tc, struct arena *a)
{
	tc->arena = NULL;
	tcache_bind(tc, a);
	tc->state = THREAD_ACTIVE;
	tc->follow_cpu = UINT32_MAX;
	tc->drain_ns = os_now_ns();
	for (unsigned c = 0; c < NCLASSES; c++)
		tc->bins[c].avail = 0;
	tcache_apply_conf(tc);
}

/* ---- statistics ---- */

static uint64_t bin_cached(const tcache_t *tc, unsigned c)
{
	int64_t n = (int64_t)atomic_load_relaxed(&tc->cap[c]) - atomic_load_relaxed(&tc->bins[c].avail);
	return n > 0 ? (uint64_t)n : 0;
}

/* Blocks handed to the program: received + freed into the bin - given back - cached. */
static uint64_t bin_nmalloc(const tcache_t *tc, unsigned c)
{
	return atomic_load_relaxed(&tc->nfill[c]) + atomic_load_relaxed(&tc->bins[c].nfree) -
	       atomic_load_relaxed(&tc->nflush[c]) - bin_cached(tc, c);
}

static uint64_t bin_nfree(const tcache_t *tc, unsigned c)
{
	return atomic_load_relaxed(&tc->bins[c].nfree) + atomic_load_relaxed(&tc->nremote_free[c]);
}

static void tcache_merge_class(tcache_t *tc, unsigned c)
{
	uint64_t m = bin_nmalloc(tc, c), f = bin_nfree(tc, c);
	uint64_t dm = m - tc->merged_nmalloc[c], df = f - tc->merged_nfree[c];
	if (dm == 0 && df == 0)
		return;
	arena_merge_stats(tc->arena, c, dm, df);
	tc->merged_nmalloc[c] = m;
	tc->merged_nfree[c] = f;
}

static void tcache_merge_all(tcache_t *tc)
{
	for (unsigned c = 0; c < NCLASSES; c++)
		tcache_merge_class(tc, c);
}

typedef struct {
	tcache_live_cb bin;
	tcache_slot_cb slot;
	void *ctx;
} live_ctx_t;

static void live_each(void *ctx, tcache_t *tc)
{
	live_ctx_t *l = ctx;
	for (unsigned c = 0; c < NCLASSES; c++) {
		uint64_t dm = bin_nmalloc(tc, c) - atomic_load_relaxed(&tc->merged_nmalloc[c]);
		uint64_t df = bin_nfree(tc, c) - atomic_load_relaxed(&tc->merged_nfree[c]);
		l->bin(l->ctx, tc->arena, c, dm, df, bin_cached(tc, c));
	}
	/* The slot's block counts in its own arena, which the thread may have
	 * left since (tcache_follow); its hits go to the thread's arena. */
	struct arena *sa = atomic_load_relaxed(&tc->slot_arena);
	l->slot(l->ctx, tc->arena, sa ? sa : tc->arena, atomic_load_relaxed(&tc->slot_bytes),
	        atomic_load_relaxed(&tc->slot_mapped), atomic_load_relaxed(&tc->slot_nmalloc),
	        atomic_load_relaxed(&tc->slot_nfree));
}

void tcache_stats_live(tcache_live_cb bin, tcache_slot_cb slot, void *ctx)
{
	live_ctx_t l = { bin, slot, ctx };
	thread_foreach(live_each, &l);
}

void tcache_stats_self(tcache_stats_t *st)
{
	tcache_t *tc = tcache_cur;
	memset(st, 0, sizeof *st);
	if (tc->state != THREAD_ACTIVE)
		return;
	for (unsigned c = 0; c < NCLASSES; c++) {
		st->nmalloc[c] = bin_nmalloc(tc, c);
		st->nfree[c] = bin_nfree(tc, c);
		st->ncached[c] = bin_cached(tc, c);
	}
	st->large_nmalloc = tc->large_nmalloc;
	st->large_nfree = tc->large_nfree;
	st->large_allocated_bytes = tc->large_alloc_bytes;
	st->large_freed_bytes = tc->large_free_bytes;
}

/* ---- flush, remote, drain ---- */

/* Gives back all but `keep` cached blocks of class c: the most recently freed
 * stay (they are the warmest), and a block freed long ago leaves the cache
 * soon, so that a second free of it finds it in its slab (test_api's double
 * free across 200 frees). Flushing the newest instead, from the head, would
 * spare the walk over the kept ones (cachegrind: 7 % fewer L1 data misses in
 * python3's churn, 3 % in perl's) but leave old blocks cached for good: a
 * second free of one links the list into a cycle that malloc hands out
 * twice before any flush sees it. */
static void tcache_bin_flush(tcache_t *tc, unsigned c, unsigned keep)
{
	tcache_bin_t *b = &tc->bins[c];
	int64_t cached = (int64_t)tc->cap[c] - b->avail;
	if (cached <= (int64_t)keep)
		return;
	void **link = &b->head;
	for (unsigned i = 0; i < keep; i++)
		link = (void **)*link;
	void *rest = *link;
	*link = NULL;
	/* Bounded by the count, not by NULL: a double free makes a cycle, which
	 * arena_dalloc then reports. */
	uint64_t flushed = arena_dalloc(rest, (unsigned)(cached - keep), false);
	tc->nflush[c] += flushed;
	b->avail += (int32_t)flushed;
	tc->busy[c] = 1;
}

void tcache_drain_all(tcache_t *tc)
{
	for (unsigned c = 0; c < NCLASSES; c++)
		tcache_bin_flush(tc, c, 0);
	tcache_slot_release(tc);
	tcache_merge_all(tc);
}

/* Every tiny.drain_interval slow-path events: bins that neither refilled nor
 * overflowed since the last drain give back half their blocks. After an
 * idle spell (`idle`: no drain for decay_ms) every bin does: what the thread
 * used before it went quiet is memory nobody uses. */
static void tcache_drain(tcache_t *tc, bool idle, uint64_t now)
{
	tc->events = 0;
	for (unsigned c = 0; c < NCLASSES; c++) {
		if (!tc->busy[c] || idle) {
			int64_t cached = (int64_t)tc->cap[c] - tc->bins[c].avail;
			if (cached > 0)
				tcache_bin_flush(tc, c, (unsigned)(cached / 2));
			if (cap_adapts(c) && tc->cap[c] / 2 >= cap_floor(tc, c))
				tcache_set_cap(tc, c, tc->cap[c] / 2);
		}
		tc->busy[c] = 0;
	}
	tcache_slot_release(tc);
	tcache_merge_all(tc);
	tc->drain_ns = now;
	tc->follow_cpu = UINT32_MAX; /* thread counts change: weigh again */
	arena_decay_tick(tc->arena);
	arenas_decay_tick_other();
	background_poke();
	if (UNLIKELY(live_pending()))
		live_serve(); /* a process without a background thread answers here */
}

static inline void tcache_event(tcache_t *tc)
{
	uint32_t interval = g_conf.tiny_drain_interval;
	if (UNLIKELY(g_conf.live_thread) && atomic_load_relaxed(&g_bg_state) == 0)
		background_poke(); /* opt.live_thread: at the first slow path */
	if (interval == 0)
		return;
	uint64_t now = os_now_ns();
	bool idle = now - tc->drain_ns >= tc->idle_ns;
	if (++tc->events >= interval || UNLIKELY(idle))
		tcache_drain(tc, idle, now);
}

/* The calling thread's active cache, tunables up to date; NULL without one. */
static tcache_t *tcache_self(void)
{
	tcache_t *tc = thread_cache();
	if (tc != NULL && UNLIKELY(tc->conf_gen != atomic_load_relaxed(&g_conf_gen)))
		tcache_apply_conf(tc);
	return tc;
}

uint64_t tcache_trim(void)
{
	tcache_flush_all();
	thread_reap();
	return arenas_purge(); /* remote frees first (arena_purge) */
}

void tcache_flush_all(void)
{
	tcache_t *tc = tcache_cur;
	if (tc->state == THREAD_ACTIVE)
		tcache_drain_all(tc);
}

void tcache_reload_self(void)
{
	tcache_t *tc = tcache_cur;
	if (tc->state == THREAD_ACTIVE)
		tcache_apply_conf(tc);
}

void tcache_merge_self(void)
{
	tcache_t *tc = tcache_cur;
	if (tc->state == THREAD_ACTIVE)
		tcache_merge_all(tc);
}

int tcache_set_arena(unsigned i)
{
	if (i >= g_narenas)
		return ENOENT;
	tcache_t *tc = tcache_self();
	if (tc == NULL)
		return EFAULT;
	tcache_drain_all(tc);
	tcache_bind(tc, arena_get(i));
	tc->bound = 1;
	return 0;
}

int tcache_get_arena(unsigned *i)
{
	tcache_t *tc = tcache_self();
	if (tc == NULL)
		return EFAULT;
	*i = tc->arena->index;
	return 0;
}

/* The class of a request, or NCLASSES for a large block: above the largest
 * class or large.threshold, or aligned beyond what a class gives. */
static unsigned alloc_class(size_t size, size_t align)
{
	if (UNLIKELY(size > g_conf.large_threshold))
		return NCLASSES;
	return size_to_class_aligned(size, align);
}

/* ---- without a cache (thread exit, no memory for a cache, initialisation) ---- */

static void *direct_malloc(size_t size, size_t align, bool *zeroed)
{
	if (g_arenas == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	arena_t *a = arena_choose();
	unsigned c = alloc_class(size, align);
	if (c < NCLASSES) {
		void *p;
		if (arena_fill(a, c, 1, 1, &p) == 0) {
			arenas_reclaim();
			if (arena_fill(a, c, 1, 1, &p) == 0) {
				errno = ENOMEM;
				return NULL;
			}
		}
		arena_merge_stats(a, c, 1, 0);
		atomic_add_relaxed(&g_bypass_nmalloc, 1);
		*zeroed = false;
		return p;
	}
	return large_alloc(a, size, align, zeroed);
}

/* ---- allocation slow paths ---- */

/* Checked at every refill, unless the thread was bound with thread.arena:
 * the binding is arena_choose()'s, and a thread follows it. A thread that
 * moved to another node flushes its cache back to the old arena first. In
 * the per-CPU layout a thread that moved to another CPU of the same node
 * takes that CPU's arena only when that spreads threads out: when the arena
 * it leaves has at least two more threads than the one it joins. A thread
 * alone in its arena stays (a move within a node costs no memory: its
 * partly used slabs keep serving it, its frees stay local), and threads that
 * all started on one CPU spread over the CPUs they are moved to. The switch
 * does not flush: cached blocks are on the right node, and go home as remote
 * frees when freed. With a given arena count or round-robin binding a
 * thread stays where it is, unless its arena is at or above arenas.limit.
 * A thread still on the CPU it was last weighed on stays without weighing
 * again until its next drain (the thread counts may have changed by then):
 * most refills cost a getcpu and a compare. */
static void tcache_follow(tcache_t *tc)
{
	if (tc->bound)
		return;
	unsigned lim = atomic_load_relaxed(&g_conf.arenas_limit);
	bool over = lim != 0 && tc->arena->index >= lim;
	arena_t *a;
	if (!over) {
		if (g_conf.bind == BIND_ROUNDROBIN)
			return;
		unsigned cpu, node;
		os_getcpu(&cpu, &node);
		if (cpu == tc->follow_cpu)
			return;
		tc->follow_cpu = cpu;
		a = arena_of_cpu(cpu, node);
	} else {
		a = arena_choose();
	}
	if (a == tc->arena)
		return;
	if (a->node == tc->arena->node) {
		if (!over && g_arena_mode == ARENA_MODE_COUNT) /* CPUs share arenas: stay */
			return;
		if (!over && atomic_load_relaxed(&a->nthreads) + 2 > atomic_load_relaxed(&tc->arena->nthreads))
			return; /* no less sharing there */
		tcache_merge_all(tc); /* counts go to the arena they happened in */
		tcache_bind(tc, a);
	} else if (!g_topo.policy_set || over) {
		tcache_drain_all(tc);
		tcache_bind(tc, a);
	}
}

static void *tcache_refill(tcache_t *tc, unsigned c)
{
	void *head;
	tcache_follow(tc);
	unsigned max = tc->cap[c] ? tc->cap[c] : 1;
	unsigned want = tc->refill[c];
	/* A bin that follows use may be smaller than its refill: half of it. */
	if (cap_adapts(c) && want > max / 2)
		want = max / 2 ? max / 2 : 1;
	unsigned got = arena_fill(tc->arena, c, want, max, &head);
	if (UNLIKELY(got == 0)) {
		/* Out of memory or address space: what this thread and every
		 * arena keep free may make room. */
		tcache_drain_all(tc);
		arenas_reclaim();
		got = arena_fill(tc->arena, c, 1, 1, &head);
		if (got == 0) {
			errno = ENOMEM;
			return NULL;
		}
	}
	tcache_bin_t *b = &tc->bins[c];
	b->head = *(void **)head;
	b->avail -= (int32_t)(got - 1);
	tc->nfill[c] += got;
	tc->busy[c] = 1;
	tcache_bin_event(tc, c);
	tcache_event(tc);
	return head;
}

/* The thread's large slot: a malloc/free loop of one large size takes no lock. */
#define LARGE_SLOT_MAX (4 * MiB)

static void tcache_slot_release(tcache_t *tc)
{
	chunk_t *c = tc->large_slot;
	tc->large_slot = NULL;
	tc->slot_bytes = tc->slot_mapped = 0;
	tc->slot_arena = NULL;
	if (tc->slot_nmalloc || tc->slot_nfree)
		large_count(tc->arena, tc->slot_nmalloc, tc->slot_nfree);
	tc->slot_nmalloc = tc->slot_nfree = 0;
	if (c != NULL)
		large_release(c, false);
}

static void *tcache_alloc_large(tcache_t *tc, size_t size, size_t align, bool *zeroed)
{
	if (UNLIKELY(size > (size_t)PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	chunk_t *slot = tc->large_slot;
	if (slot != NULL && align <= LARGE_HDR) {
		void *p = large_reuse(slot, size);
		if (p != NULL) {
			tc->large_slot = NULL;
			tc->slot_bytes = tc->slot_mapped = 0;
			tc->slot_arena = NULL;
			tc->slot_nmalloc++;
			tc->large_nmalloc++;
			tc->large_alloc_bytes += slot->large.usable;
			*zeroed = false;
			return p;
		}
	}
	void *p = large_alloc(tc->arena, size, align, zeroed);
	if (p != NULL) {
		tc->large_nmalloc++;
		tc->large_alloc_bytes += large_header(p)->large.usable;
	}
	return p;
}

static void *tcache_alloc(size_t size, size_t align, bool *zeroed)
{
	tcache_t *tc = tcache_self();
	if (UNLIKELY(tc == NULL))
		return direct_malloc(size, align, zeroed);
	*zeroed = false;
	unsigned c = alloc_class(size, align);
	if (c < NCLASSES) {
		tcache_bin_t *b = &tc->bins[c];
		void *p = b->head;
		if (p != NULL) {
			b->head = *(void **)p;
			b->avail++;
			return p;
		}
		return tcache_refill(tc, c);
	}
	return tcache_alloc_large(tc, size, align, zeroed);
}

/* The slow paths' allocation: errno is the caller's unless it fails (a
 * refused mapping on the way to success, or a recovery, leaves none). */
static void *tcache_alloc_keep_errno(size_t size, size_t align, bool *zeroed)
{
	int saved = errno;
	void *p = tcache_alloc(size, align, zeroed);
	if (p != NULL)
		errno = saved;
	return p;
}

void *tcache_malloc_slow(size_t size)
{
	bool zeroed;
	return tcache_alloc_keep_errno(size, 8, &zeroed);
}

void *tcache_calloc_slow(size_t size)
{
	bool zeroed;
	void *p = tcache_alloc_keep_errno(size, 8, &zeroed);
	if (p != NULL && !zeroed)
		memset(p, 0, size);
	return p;
}

void *tcache_malloc_aligned(size_t size, size_t align)
{
	bool zeroed;
	return tcache_alloc_keep_errno(size, align, &zeroed);
}

/* ---- free slow path ---- */

static void free_large(tcache_t *tc, void *p, chunk_t *c)
{
	if (tc != NULL && c->large.user == p) {
		tc->large_nfree++;
		tc->large_free_bytes += c->large.usable;
		if (!c->huge_align && c->arena == tc->arena && c->large.map_size <= LARGE_SLOT_MAX &&
		    g_conf.decay_ms != 0) {
			chunk_t *old = tc->large_slot;
			large_stash(c);
			tc->large_slot = c;
			tc->slot_bytes = c->large.usable;
			tc->slot_mapped = c->large.map_size;
			tc->slot_arena = c->arena;
			tc->slot_nfree++;
			if (old != NULL)
				large_release(old, false);
			return;
		}
	}
	large_free(p, c);
	background_poke(); /* its mapping may be cached: decay must reach it */
}

static void double_free(void *p)
{
	hm_fatal("double free of %p (block is already free)", p);
}

static void tcache_free_slow_body(void *p, bool undo);

/* free never changes errno (munmap or madvise on the way may fail). */
void tcache_free_slow(void *p, bool undo)
{
	int saved = errno;
	tcache_free_slow_body(p, undo);
	errno = saved;
}

static void tcache_free_slow_body(void *p, bool undo)
{
	if (undo) {
		/* Bin full: the fast path decremented avail below zero. */
		tcache_cur->bins[ptr_slab(p)->cls].avail++;
	}
	if (p == NULL)
		return;
	/* What the pointer is, before anything reads memory through it. */
	chunk_t *ch = registry_lookup(p);
	if (UNLIKELY(ch == NULL))
		hm_fatal("invalid free of %p: not a block allocated by hakmem", p);
	tcache_t *tc = tcache_self();
	if (ch->kind == CHUNK_LARGE) {
		free_large(tc, p, ch);
		return;
	}
	slab_t *s = arena_validate_block(p);
	unsigned c = s->cls;
	if (UNLIKELY(tc == NULL)) {
		arena_t *a = s->arena;
		*(void **)p = NULL;
		arena_dalloc(p, 1, false);
		arena_merge_stats(a, c, 0, 1);
		atomic_add_relaxed(&g_bypass_nfree, 1);
		return;
	}
	if (s->arena == tc->arena) {
		tcache_bin_t *b = &tc->bins[c];
		if (UNLIKELY(b->head == p))
			double_free(p);
		if (b->avail <= 0) {
			tcache_bin_flush(tc, c, tc->cap[c] / 2);
			tcache_bin_event(tc, c);
			tcache_event(tc);
		}
		if (b->avail <= 0) { /* capacity 0: straight back to the arena */
			*(void **)p = NULL;
			arena_dalloc(p, 1, false);
			tc->nremote_free[c]++;
			return;
		}
		*(void **)p = b->head;
		b->head = p;
		b->avail--;
		b->nfree++;
		return;
	}
	tc->nremote_free[c]++;
	if (tc->cap_max[c] == 0) { /* capacity 0: every free checked at once */
		*(void **)p = NULL;
		arena_dalloc(p, 1, true);
	} else {
		arena_free_remote(s, p);
	}
}

void tcache_free_foreign(void *p)
{
	/* free()'s fast path found p's unit owned by another arena. Anything
	 * unusual takes the slow path, which names it. */
	slab_t *s = window_block_slab(p);
	tcache_t *tc = tcache_cur;
	if (UNLIKELY(s == NULL || tc->state != THREAD_ACTIVE ||
	             tc->conf_gen != atomic_load_relaxed(&g_conf_gen) || tc->cap_max[s->cls] == 0))
		return tcache_free_slow(p, false);
	tc->nremote_free[s->cls]++;
	arena_free_remote(s, p);
}
