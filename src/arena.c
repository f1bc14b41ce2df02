/* arena.c - bins, slab acquisition and release, decay. See arena.h. */
#include "arena.h"
#include "atomic.h"
#include "background.h"
#include "conf.h"
#include "log.h"
#include "os.h"
#include "large.h"
#include "registry.h"
#include "topology.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

arena_t *g_arenas;
unsigned g_narenas;
unsigned g_arena_mode;
uint64_t g_bind_failures;

/* ---- arenas ---- */

static lock_t g_arenas_init_lock = LOCK_INITIALIZER; /* arena initialisation */

int arenas_init(unsigned n)
{
	void *p;
	size_t size = ALIGN_UP(sizeof(arena_t) * n, PAGE_SIZE);
	if (os_map(size, &p) != 0)
		return ENOMEM;
	g_arenas = p;
	g_narenas = n;
	return 0;
}

int arena_node_of(unsigned i)
{
	return topology_arena_node(&g_topo, g_arena_mode, i);
}

arena_t *arena_get(unsigned i)
{
	arena_t *a = &g_arenas[i];
	if (LIKELY(arena_ready(a)))
		return a;
	lock_acquire(&g_arenas_init_lock);
	if (!arena_ready(a)) {
		a->index = i;
		a->node = arena_node_of(i);
		for (unsigned c = 0; c < NCLASSES; c++)
			lock_init(&a->bins[c].lock);
		lock_init(&a->ss_lock);
		lock_init(&a->large_lock);
		__atomic_store_n(&a->ready, 1, __ATOMIC_RELEASE);
	}
	lock_release(&g_arenas_init_lock);
	return a;
}

/* The arenas threads bind to: arenas.limit (mallopt's M_ARENA_MAX) folds
 * the arenas above it onto those below. */
static unsigned arenas_usable(void)
{
	unsigned n = g_narenas, lim = atomic_load_relaxed(&g_conf.arenas_limit);
	return lim != 0 && lim < n ? lim : n;
}

arena_t *arena_choose(void)
{
	static unsigned next; /* [atomic] round-robin cursor */
	if (g_conf.bind == BIND_ROUNDROBIN)
		return arena_get(atomic_fetch_add_relaxed(&next, 1u) % arenas_usable());
	unsigned cpu, node;
	os_getcpu(&cpu, &node);
	return arena_of_cpu(cpu, node);
}

arena_t *arena_of_cpu(unsigned cpu, unsigned node)
{
	return arena_get(topology_arena_of(&g_topo, g_arena_mode, cpu, node) % g_narenas %
	                 arenas_usable());
}

void arena_place(arena_t *a, void *p, size_t size)
{
	if (g_topo.nnodes <= 1 || g_topo.policy_set || a->node < 0)
		return;
	if (os_bind_node(p, size, a->node, g_conf.numa_strict) != 0)
		atomic_add_relaxed(&g_bind_failures, 1);
}

/* ---- slabs ---- */

/* SuperSlabs with free units are filed in buckets by their longest run of
 * free units among units 1..31 (bucket 0: only unit 0 is free), so that a
 * slab of n units is taken from the fullest SuperSlab that has a run of n
 * (best fit by run length): free space is not scattered over SuperSlabs that
 * a bounded scan would never reach. Wholly free SuperSlabs go to the back of
 * theirs, used last, so they can decay. c->on_avail is its bucket + 1, 0 for
 * none. ss_lock held. */
static unsigned longest_run(uint32_t m)
{
	unsigned n = 0;
	while (m) {
		m &= m >> 1;
		n++;
	}
	return n;
}

static void ss_unfile(arena_t *a, chunk_t *c)
{
	if (!c->on_avail)
		return;
	unsigned b = c->on_avail - 1u;
	if (c->ss.prev)
		c->ss.prev->ss.next = c->ss.next;
	else
		a->ss_bucket[b] = c->ss.next;
	if (c->ss.next)
		c->ss.next->ss.prev = c->ss.prev;
	else
		a->ss_bucket_tail[b] = c->ss.prev;
	if (a->ss_bucket[b] == NULL)
		a->ss_bucket_mask &= ~(1u << b);
	c->ss.next = c->ss.prev = NULL;
	c->on_avail = 0;
	a->ss_nfiled--;
}

/* Files c by its free units now (none: not filed). */
static void ss_file(arena_t *a, chunk_t *c)
{
	ss_unfile(a, c);
	if (c->ss.free_units == 0)
		return;
	unsigned b = longest_run(c->ss.free_units & ~1u);
	if (c->ss.free_units == c->ss.mapped_units) { /* wholly free: last */
		c->ss.next = NULL;
		c->ss.prev = a->ss_bucket_tail[b];
		if (c->ss.prev)
			c->ss.prev->ss.next = c;
		else
			a->ss_bucket[b] = c;
		a->ss_bucket_tail[b] = c;
	} else {
		c->ss.prev = NULL;
		c->ss.next = a->ss_bucket[b];
		if (c->ss.next)
			c->ss.next->ss.prev = c;
		else
			a->ss_bucket_tail[b] = c;
		a->ss_bucket[b] = c;
	}
	a->ss_bucket_mask |= 1u << b;
	c->on_avail = (uint8_t)(b + 1);
	a->ss_nfiled++;
}

static size_t unit_purge_bytes(unsigned idx)
{
	return SLAB_SIZE - (superslab_unit_start(idx) - (size_t)idx * SLAB_SIZE);
}

/* Free unit i of c leaves the free state (taken, unmapped, or its SuperSlab
 * destroyed): if its pages were purged, they no longer count as retained.
 * c's arena's ss_lock held. */
static void unit_unretain(arena_t *a, chunk_t *c, unsigned i)
{
	superslab_t *ss = (superslab_t *)c;
	if (!(c->ss.dirty_units & (1u << i)) && ss->slabs[i].free_since != 0)
		a->retained -= unit_purge_bytes(i);
}

/* Bit i of the result: units i .. i + n - 1 are all set in m (a run of n
 * starts at i). */
static uint32_t runs_of(uint32_t m, unsigned n)
{
	uint32_t r = m;
	for (unsigned k = 1; k < n && r; k++)
		r &= m >> k;
	return r;
}

/* The units where a slab of class cls may start: unit 0, whose first 32 KiB
 * is the header, only for a slab of one unit whose blocks fit the rest. */
static uint32_t slab_starts(uint32_t free_units, unsigned cls)
{
	uint32_t r = runs_of(free_units, class_units[cls]);
	if (class_units[cls] > 1 || class_size[cls] > SLAB_SIZE - SLAB0_START)
		r &= ~1u;
	return r;
}

/* Takes a run of n free units of one of x's SuperSlabs for class cls: from
 * the smallest bucket that holds such a run, preferring among its first
 * SuperSlabs a run that last served this class with its pages still resident
 * (the same layout touches no new pages: units reused by another class get
 * their blocks' first and last pages touched at new offsets), then any
 * resident run, then any run. NULL when none has a run of n. x->ss_lock
 * held. */
static superslab_t *ss_take_units_locked(arena_t *x, unsigned cls, unsigned n, unsigned *out)
{
	bool unit0 = slab_starts(1u, cls) != 0; /* a slab that may use unit 0 */
	uint32_t buckets = x->ss_bucket_mask & (unit0 ? ~0u : ~((1u << n) - 1));
	chunk_t *pick = NULL;
	unsigned idx = 0;
	int best = -1; /* 2: same class, resident; 1: resident; 0: any */
	for (; buckets && pick == NULL; buckets &= buckets - 1) {
		int scanned = 0;
		for (chunk_t *t = x->ss_bucket[__builtin_ctz(buckets)]; t != NULL && scanned < 4 && best < 2;
		     t = t->ss.next, scanned++) {
			uint32_t any = slab_starts(t->ss.free_units, cls);
			if (any == 0)
				continue;
			uint32_t warm = slab_starts(t->ss.free_units & t->ss.dirty_units, cls);
			for (uint32_t m = warm; m; m &= m - 1) {
				unsigned i = (unsigned)__builtin_ctz(m);
				if (((superslab_t *)t)->slabs[i].cls == cls) {
					pick = t, idx = i, best = 2;
					break;
				}
			}
			if (best < 1 && warm)
				pick = t, idx = (unsigned)__builtin_ctz(warm), best = 1;
			if (best < 0)
				pick = t, idx = (unsigned)__builtin_ctz(any), best = 0;
		}
	}
	if (pick == NULL)
		return NULL;
	uint32_t bits = (n >= 32 ? SS_ALL_UNITS : (1u << n) - 1) << idx;
	for (unsigned i = idx; i < idx + n; i++)
		unit_unretain(x, pick, i);
	pick->ss.free_units &= ~bits;
	pick->ss.dirty_units &= ~bits;
	ss_file(x, pick);
	*out = idx;
	return (superslab_t *)pick;
}

/* Under a memory or address-space limit no SuperSlab can be mapped: free
 * units of another arena's SuperSlab serve, its node's first. The units stay
 * their SuperSlab's (arena_slab_release gives them back there); the slab is
 * a's. */
static slab_t *arena_slab_steal(arena_t *a, unsigned cls)
{
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < g_narenas; i++) {
			arena_t *x = &g_arenas[i];
			if (x == a || !arena_ready(x) || (pass == 0) != (x->node == a->node))
				continue;
			if (atomic_load_relaxed(&x->ss_nfiled) == 0) /* racy peek */
				continue;
			lock_acquire(&x->ss_lock);
			unsigned idx;
			superslab_t *ss = ss_take_units_locked(x, cls, class_units[cls], &idx);
			lock_release(&x->ss_lock);
			if (ss != NULL) {
				superslab_slab_init(ss, idx, cls, a);
				return &ss->slabs[idx];
			}
		}
	}
	return NULL;
}

/* Under an address-space limit SuperSlabs are mapped a unit at a time: maps
 * one more unit of one that lacks some (64 KiB where a new SuperSlab would
 * take 2 MiB). Whether one grew. a->ss_lock held. */
static bool arena_grow_partial(arena_t *a)
{
	if (!a->ss_partial)
		return false;
	a->ss_partial = 0;
	for (chunk_t *c = a->ss_all; c != NULL; c = c->ss.all_next) {
		if (c->ss.mapped_units == SS_ALL_UNITS)
			continue;
		a->ss_partial = 1;
		int i = superslab_grow((superslab_t *)c);
		if (i == -ENOMEM)
			return false; /* the limit: so would any other */
		if (i < 0)
			continue; /* its missing units are taken by other mappings */
		arena_place(a, (char *)c + (size_t)i * SLAB_SIZE, SLAB_SIZE);
		c->ss.free_units |= 1u << i;
		ss_file(a, c);
		return true;
	}
	return false;
}

static arena_t *arena_slab_release(slab_t *s, uint64_t since);
static uint64_t arena_purge_locked(arena_t *a, uint64_t now, bool force);

/* Before arena a maps a new SuperSlab: the free memory it holds resident
 * for reuse goes back first, so that the heap never grows beside it (the
 * peak RSS a program sees is its live memory, not that plus what it freed a
 * moment ago). The kept empty slabs of the other bins return their units
 * to their SuperSlabs, where a slab of any class may take them; cached large
 * mappings, which no slab can use, are unmapped; and if no unit came free,
 * the dirty free units (too short a run for this slab) go back to the OS.
 * Nothing goes back under decay_ms=-1. Whether any unit came free. No lock
 * held. */
static bool arena_yield_free(arena_t *a, unsigned cls)
{
	bool freed = false;
	for (unsigned c = 0; c < NCLASSES; c++) {
		bin_t *b = &a->bins[c];
		if (c == cls || atomic_load_relaxed(&b->empty) == NULL) /* racy peek */
			continue;
		lock_acquire(&b->lock);
		slab_t *s = b->empty;
		if (s != NULL) {
			b->empty = NULL;
			b->curslabs--;
			arena_slab_release(s, b->empty_since); /* its decay pass runs later */
			freed = true;
		}
		lock_release(&b->lock);
	}
	if (g_conf.decay_ms < 0)
		return freed; /* never: the program said so */
	uint64_t now = os_now_ns();
	if (atomic_load_relaxed(&a->large_cached_bytes) != 0)
		large_cache_purge(a, now, true);
	if (!freed) {
		/* No free run fits: the free units left are holes too short for
		 * this slab, resident for nothing while the heap grows. */
		lock_acquire(&a->ss_lock);
		arena_purge_locked(a, now, true);
		lock_release(&a->ss_lock);
	}
	return freed;
}

/* A slab for class cls (its units free, initialised). No bin lock held. */
static slab_t *arena_slab_alloc(arena_t *a, unsigned cls)
{
	unsigned n = class_units[cls], idx;
	bool mapped = false, yielded = false;
	lock_acquire(&a->ss_lock);
	for (unsigned tries = 0; tries < 2 * SLABS_PER_SS; tries++) {
		superslab_t *ss = ss_take_units_locked(a, cls, n, &idx);
		if (ss != NULL) {
			lock_release(&a->ss_lock);
			superslab_slab_init(ss, idx, cls, a);
			return &ss->slabs[idx];
		}
		if (arena_grow_partial(a))
			continue;
		if (mapped)
			break; /* a fresh one could not hold the run: the limit */
		lock_release(&a->ss_lock);
		if (!yielded) {
			yielded = true;
			bool freed = arena_yield_free(a, cls);
			lock_acquire(&a->ss_lock);
			if (freed)
				continue;
			lock_release(&a->ss_lock);
		}
		uint32_t units;
		void *mem = superslab_map(&units);
		if (mem == NULL)
			return arena_slab_steal(a, cls);
		arena_place(a, mem, (size_t)__builtin_popcount(units) * SLAB_SIZE); /* before the first touch */
		superslab_t *fresh = superslab_init(mem, a, units);
		registry_add(fresh);
		lock_acquire(&a->ss_lock);
		fresh->hdr.ss.all_next = a->ss_all;
		a->ss_all = &fresh->hdr;
		a->nss++;
		a->ss_partial |= units != SS_ALL_UNITS;
		ss_file(a, &fresh->hdr);
		mapped = true;
	}
	lock_release(&a->ss_lock);
	return arena_slab_steal(a, cls);
}

static uint64_t arena_purge_locked(arena_t *a, uint64_t now, bool force);
static uint64_t bin_purge_pages(bin_t *b, uint64_t now, uint64_t delay, bool force);

/* Slab s is empty: give its units back to its SuperSlab, under the lock of
 * the SuperSlab's arena (units may serve another arena: arena_slab_release).
 * Their decay counts from `since` (when the slab became empty). Bin lock
 * held. Returns that arena when its decay pass is due, to be run once the bin
 * lock is released (arena_decay_due): no munmap under a bin lock. */
static arena_t *arena_slab_release(slab_t *s, uint64_t since)
{
	superslab_t *ss = (superslab_t *)ptr_chunk(s);
	arena_t *a = ss->hdr.arena;
	unsigned idx = s->index, n = s->nunits;
	uint32_t bits = (n >= 32 ? SS_ALL_UNITS : (1u << n) - 1) << idx;
	uint64_t now = os_now_ns();
	if (since > now)
		since = now;
	lock_acquire(&a->ss_lock);
	superslab_slab_fini(ss, idx);
	for (unsigned i = idx; i < idx + n; i++)
		ss->slabs[i].free_since = since;
	chunk_t *c = &ss->hdr;
	c->ss.free_units |= bits;
	c->ss.dirty_units |= bits;
	if (c->ss.free_units == c->ss.mapped_units)
		c->ss.empty_since = now;
	/* These units decay decay_ms from `since`: the arena's next pass is due
	 * then at the latest (a pass that found nothing left it at never). */
	if (g_conf.decay_ms >= 0) {
		uint64_t due = since + (uint64_t)g_conf.decay_ms * 1000000u;
		if (due < a->next_purge)
			atomic_store_relaxed(&a->next_purge, due);
	}
	ss_file(a, c);
	bool due = now >= a->next_purge;
	lock_release(&a->ss_lock);
	return due ? a : NULL;
}

/* Runs arena a's decay pass if it is due (after arena_slab_release said so). */
static void arena_decay_due(arena_t *a)
{
	if (a == NULL)
		return;
	uint64_t now = os_now_ns();
	lock_acquire(&a->ss_lock);
	if (now >= a->next_purge)
		arena_purge_locked(a, now, false);
	lock_release(&a->ss_lock);
}

/* ss_lock held. */
/* Returns the bytes given back to the OS. */
static uint64_t arena_purge_locked(arena_t *a, uint64_t now, bool force)
{
	int64_t decay = g_conf.decay_ms;
	if (decay < 0 && !force) {
		atomic_store_relaxed(&a->next_purge, UINT64_MAX);
		return 0;
	}
	uint64_t delay = force || decay < 0 ? 0 : (uint64_t)decay * 1000000u;
	uint64_t next = UINT64_MAX, released = 0;
	chunk_t **link = &a->ss_all;
	while (*link) {
		chunk_t *c = *link;
		superslab_t *ss = (superslab_t *)c;
		if (c->ss.free_units == c->ss.mapped_units && now - c->ss.empty_since >= delay) {
			/* Whole SuperSlab free past the delay: unmap it. */
			*link = c->ss.all_next;
			ss_unfile(a, c);
			for (unsigned i = 0; i < SLABS_PER_SS; i++)
				unit_unretain(a, c, i);
			a->nss--;
			registry_remove(c);
			released += ss_mapped_bytes(c);
			superslab_destroy(ss);
			continue;
		}
		uint32_t dirty = c->ss.dirty_units;
		while (dirty) {
			unsigned i = (unsigned)__builtin_ctz(dirty);
			dirty &= dirty - 1;
			uint64_t since = ss->slabs[i].free_since;
			if (now - since >= delay) {
				size_t start = superslab_unit_start(i);
				os_purge((char *)ss + start, unit_purge_bytes(i));
				c->ss.dirty_units &= ~(1u << i);
				a->retained += unit_purge_bytes(i);
				released += unit_purge_bytes(i);
			} else if (since + delay < next) {
				next = since + delay;
			}
		}
		if (c->ss.free_units == c->ss.mapped_units && c->ss.empty_since + delay < next)
			next = c->ss.empty_since + delay;
		link = &c->ss.all_next;
	}
	/* Batch the passes: at most one per decay_gap. */
	if (next != UINT64_MAX && next < now + decay_gap(delay))
		next = now + decay_gap(delay);
	atomic_store_relaxed(&a->next_purge, next);
	atomic_add_relaxed(&a->purged, released);
	return released;
}

/* Gives back bins' kept empty slabs older than the decay delay (all if force). */
static void arena_release_empties(arena_t *a, uint64_t now, bool force)
{
	int64_t decay = g_conf.decay_ms;
	if (decay < 0 && !force)
		return;
	uint64_t delay = force || decay < 0 ? 0 : (uint64_t)decay * 1000000u;
	for (unsigned c = 0; c < NCLASSES; c++) {
		bin_t *b = &a->bins[c];
		if (atomic_load_relaxed(&b->empty) == NULL) /* racy peek; checked again under the lock */
			continue;
		lock_acquire(&b->lock);
		slab_t *s = b->empty;
		if (s != NULL && now - b->empty_since >= delay && now >= b->empty_since) {
			b->empty = NULL;
			b->curslabs--;
			/* Its units are as old as its emptiness: they go back to the
			 * OS in the same pass, not decay_ms later. */
			arena_slab_release(s, force ? now : b->empty_since);
		}
		lock_release(&b->lock);
	}
}

/* Page purges of a's bins of classes of a page or more (arena_release_empties'
 * rule for the delay); the bytes given back. */
static uint64_t arena_purge_bin_pages(arena_t *a, uint64_t now, bool force)
{
	int64_t decay = g_conf.decay_ms;
	if (decay < 0 && !force)
		return 0;
	uint64_t delay = force || decay < 0 ? 0 : (uint64_t)decay * 1000000u;
	uint64_t released = 0;
	for (unsigned c = 0; c < NCLASSES; c++)
		if (class_size[c] >= PAGE_SIZE)
			released += bin_purge_pages(&a->bins[c], now, delay, force);
	atomic_add_relaxed(&a->purged, released);
	return released;
}

/* The due passes of arena a at time now. */
void arena_decay_run(arena_t *a, uint64_t now)
{
	arena_collect(a); /* first: what it gives back may decay now */
	if (g_conf.decay_ms < 0)
		return;
	arena_release_empties(a, now, false);
	arena_purge_bin_pages(a, now, false);
	if (now >= atomic_load_relaxed(&a->next_purge)) {
		lock_acquire(&a->ss_lock);
		if (now >= a->next_purge)
			arena_purge_locked(a, now, false);
		lock_release(&a->ss_lock);
	}
	if (now >= atomic_load_relaxed(&a->large_next_purge))
		large_cache_purge(a, now, false);
}

bool arena_decay_pending(const arena_t *a)
{
	if (g_conf.decay_ms < 0)
		return false;
	if (atomic_load_relaxed(&a->next_purge) != UINT64_MAX ||
	    atomic_load_relaxed(&a->large_cached_bytes) != 0)
		return true;
	for (unsigned c = 0; c < NCLASSES; c++)
		if (atomic_load_relaxed(&a->bins[c].empty) != NULL ||
		    atomic_load_relaxed(&a->bins[c].dirty_since) != 0)
			return true;
	return false;
}

void arena_decay_tick(arena_t *a)
{
	uint64_t now = os_now_ns();
	if (g_conf.decay_ms < 0 || now < atomic_load_relaxed(&a->next_tick))
		return;
	uint64_t delay = (uint64_t)g_conf.decay_ms * 1000000u;
	atomic_store_relaxed(&a->next_tick, now + decay_gap(delay));
	arena_decay_run(a, now);
}

void arenas_decay_tick_other(void)
{
	/* A round-robin cursor shared by all threads: an arena whose own
	 * threads went idle is ticked by the others' drains. */
	static unsigned cursor; /* [atomic] */
	for (unsigned tries = 0; tries < 8; tries++) {
		unsigned i = atomic_fetch_add_relaxed(&cursor, 1) % g_narenas;
		if (arena_ready(&g_arenas[i])) {
			arena_decay_tick(&g_arenas[i]);
			return;
		}
	}
}

uint64_t arena_purge(arena_t *a, bool force)
{
	arena_collect(a);
	uint64_t now = os_now_ns();
	arena_release_empties(a, now, force);
	uint64_t released = arena_purge_bin_pages(a, now, force);
	lock_acquire(&a->ss_lock);
	released += arena_purge_locked(a, now, force);
	lock_release(&a->ss_lock);
	return released + large_cache_purge(a, now, force);
}

/* Unmaps the free units (but unit 0, with the header) of a's SuperSlabs that
 * still have blocks: under an address-space limit purged pages still count. */
static void arena_shrink(arena_t *a)
{
	lock_acquire(&a->ss_lock);
	for (chunk_t *c = a->ss_all; c != NULL; c = c->ss.all_next) {
		uint32_t m = c->ss.free_units & ~1u;
		if (m == 0)
			continue;
		superslab_t *ss = (superslab_t *)c;
		while (m) {
			unsigned i = (unsigned)__builtin_ctz(m);
			m &= m - 1;
			unit_unretain(a, c, i);
			ss->slabs[i].free_since = 0;
			superslab_shrink(ss, i);
		}
		c->ss.free_units &= c->ss.mapped_units;
		c->ss.dirty_units &= c->ss.mapped_units;
		a->ss_partial = 1;
		ss_file(a, c);
	}
	lock_release(&a->ss_lock);
}

uint64_t arenas_purge(void)
{
	uint64_t released = 0;
	for (unsigned i = 0; i < g_narenas; i++)
		if (arena_ready(&g_arenas[i]))
			released += arena_purge(&g_arenas[i], true);
	return released;
}

void arenas_reclaim(void)
{
	arenas_purge();
	/* Address space matters only under a limit; without one the window
	 * keeps its placeholders (no hole for a stale pointer to fault on). */
	if (!os_as_limited())
		return;
	superslab_release_vm();
	for (unsigned i = 0; i < g_narenas; i++)
		if (arena_ready(&g_arenas[i]))
			arena_shrink(&g_arenas[i]);
}

static void bin_partial_push(bin_t *b, slab_t *s)
{
	s->prev = NULL;
	s->next = b->partial;
	if (b->partial)
		b->partial->prev = s;
	b->partial = s;
	s->in_partial = 1;
}

static void bin_partial_remove(bin_t *b, slab_t *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		b->partial = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->in_partial = 0;
}

/* Takes `want` of slab s's free blocks (want <= ncarved - used: that many
 * bits are set), the lowest first, appending them at **tail linked through
 * their first words: the bitmap says where they are, so no free block is
 * read (jemalloc's slab bitmap; a free list through the blocks would be
 * walked by loads of memory the program may not have touched for long, one
 * cache miss after another). Their words are written now, as the thread
 * cache needs them, and the program writes the blocks next. Bin lock held. */
static void slab_take_free(slab_t *s, unsigned want, void ***tail)
{
	uintptr_t base = (uintptr_t)slab_base(s), bs = s->block_size;
	uint64_t *col = slab_bitmap_word(s, 0);
	void **t = *tail;
	unsigned w = s->scan, nw = ((unsigned)s->ncarved + 63) / 64;
	for (;; w++) {
		if (UNLIKELY(w >= nw)) /* fewer bits than ncarved - used */
			hm_fatal("heap corruption: the free bitmap of slab %p lost blocks", (void *)s);
		uint64_t *wp = col + (size_t)w * SLABS_PER_SS, v = *wp;
		if (v == 0)
			continue;
		uintptr_t wbase = base + (uintptr_t)w * 64 * bs;
		do {
			void *blk = (void *)(wbase + (unsigned)__builtin_ctzll(v) * bs);
			v &= v - 1;
			*t = blk;
			t = (void **)blk;
		} while (--want != 0 && v != 0);
		*wp = v;
		if (want == 0)
			break;
	}
	s->scan = (uint16_t)w;
	*tail = t;
}

/* Page purge of slab s (a class of a page or more, on its bin's partial
 * list): every page that only free blocks cover goes back to the OS. Bin
 * lock held: the blocks cannot be handed out meanwhile, and a free block
 * holds nothing (the bitmap records it), so its pages may go. They fault in
 * again when the block is handed out and written. The bytes given back. */
static uint64_t slab_purge_pages(slab_t *s)
{
	s->dirty = 0;
	char *base = slab_base(s);
	size_t bs = s->block_size;
	uint64_t released = 0;
	size_t run = SIZE_MAX; /* first block of the current run of free blocks */
	for (size_t i = 0; i <= s->ncarved; i++) {
		bool isfree = i < s->ncarved && (*slab_bitmap_word(s, i / 64) >> (i % 64) & 1);
		if (isfree && run == SIZE_MAX)
			run = i;
		if (isfree || run == SIZE_MAX)
			continue;
		uintptr_t lo = ALIGN_UP((uintptr_t)(base + run * bs), PAGE_SIZE);
		uintptr_t hi = ALIGN_DOWN((uintptr_t)(base + i * bs), PAGE_SIZE);
		if (hi > lo && os_purge((void *)lo, hi - lo) == 0)
			released += hi - lo;
		run = SIZE_MAX;
	}
	return released;
}

/* Slabs whose pages are purged per hold of the bin lock (each a few madvise
 * calls): threads that need the bin wait for at most this many. */
#define PAGE_PURGE_SLABS 16

/* The page purge of bin b if its free blocks have waited the delay: the
 * bytes given back. */
static uint64_t bin_purge_pages(bin_t *b, uint64_t now, uint64_t delay, bool force)
{
	uint64_t since = atomic_load_relaxed(&b->dirty_since);
	if (since == 0 || (!force && (now < since || now - since < delay)))
		return 0;
	uint64_t released = 0;
	bool left = true;
	/* Bounded: frees that keep coming could dirty purged slabs again
	 * forever. What is left waits for the next pass (dirty_since stays). */
	for (unsigned round = 0; left && round < (force ? 4096u : 64u); round++) {
		unsigned done = 0;
		left = false;
		lock_acquire(&b->lock);
		/* From the head each time: the list may change between holds;
		 * slabs purged since their last free are skipped. */
		for (slab_t *s = b->partial; s != NULL; s = s->next) {
			if (!s->dirty)
				continue;
			if (done == PAGE_PURGE_SLABS) {
				left = true;
				break;
			}
			released += slab_purge_pages(s);
			done++;
		}
		if (!left)
			atomic_store_relaxed(&b->dirty_since, 0);
		lock_release(&b->lock);
	}
	return released;
}

/* ---- remote frees (arena.h: arena_free_remote) ---- */

void arena_remote_announce(slab_t *s)
{
	bin_t *b = &s->arena->bins[s->cls];
	slab_remote_t *r = slab_remote(s);
	slab_t *top = __atomic_load_n(&b->xslabs, __ATOMIC_RELAXED);
	do
		r->xnext = top;
	while (!__atomic_compare_exchange_n(&b->xslabs, &top, s, true, __ATOMIC_RELEASE,
	                                    __ATOMIC_RELAXED));
	if (top == NULL)
		background_note(); /* an idle owner: the background thread takes them */
}

static inline unsigned slab_take_back(slab_t *s, void **pp, unsigned room);
static inline arena_t *slab_settle(bin_t *b, slab_t *s, bool *emptied);

/* Bin lock held: gives every remote free of b's slabs back to its slab. The
 * arena whose decay pass is due (a slab went back to its SuperSlab), or
 * NULL; *emptied: a slab became empty. */
static arena_t *bin_collect_locked(bin_t *b, unsigned cls, bool *emptied)
{
	arena_t *due = NULL;
	uint64_t n = 0;
	slab_t *s = __atomic_exchange_n(&b->xslabs, NULL, __ATOMIC_ACQUIRE);
	while (s != NULL) {
		slab_remote_t *r = slab_remote(s);
		/* xnext first: once xfree is empty, the next push may put the slab
		 * on the list again (the exchange's release keeps the load before). */
		slab_t *next = r->xnext;
		void *p = __atomic_exchange_n(&r->xfree, NULL, __ATOMIC_ACQ_REL);
		if (p != NULL) {
			/* Every block of the list counts as used: a list longer
			 * than that is a cycle, a block pushed twice. */
			n += slab_take_back(s, &p, s->used);
			if (UNLIKELY(p != NULL))
				hm_fatal(s->used == 0 ? "double free of %p (block is already free)"
				                      : "invalid free of %p: not a block of its slab", p);
			arena_t *d = slab_settle(b, s, emptied);
			if (UNLIKELY(d != NULL))
				due = d;
		}
		s = next;
	}
	b->curregs -= n;
	b->remote_frees += n;
	if (n != 0 && class_size[cls] >= PAGE_SIZE && b->dirty_since == 0)
		atomic_store_relaxed(&b->dirty_since, os_now_ns() | 1);
	return due;
}

/* Takes bin (a, cls)'s remote frees, if any, under its lock. */
static void bin_collect(arena_t *a, unsigned cls)
{
	bin_t *b = &a->bins[cls];
	if (atomic_load_relaxed(&b->xslabs) == NULL)
		return;
	bool emptied = false;
	lock_acquire(&b->lock);
	arena_t *due = bin_collect_locked(b, cls, &emptied);
	lock_release(&b->lock);
	arena_decay_due(due);
	if (emptied)
		background_note();
}

void arena_collect(arena_t *a)
{
	for (unsigned c = 0; c < NCLASSES; c++)
		bin_collect(a, c);
}

void arenas_collect(void)
{
	for (unsigned i = 0; i < g_narenas; i++)
		if (arena_ready(&g_arenas[i]))
			arena_collect(&g_arenas[i]);
}

bool arena_remote_pending(const arena_t *a)
{
	for (unsigned c = 0; c < NCLASSES; c++)
		if (atomic_load_relaxed(&a->bins[c].xslabs) != NULL)
			return true;
	return false;
}

/* Puts the chain head..last of slab s's remote frees back on its list (a
 * refill took more than it had room for); the push that finds the list
 * empty lists the slab, as a remote free's does. Bin lock held. */
static void remote_putback(slab_t *s, void *head, void *last)
{
	slab_remote_t *r = slab_remote(s);
	void *old = __atomic_load_n(&r->xfree, __ATOMIC_RELAXED);
	do
		*(void **)last = old;
	while (!__atomic_compare_exchange_n(&r->xfree, &old, head, true, __ATOMIC_RELEASE,
	                                    __ATOMIC_RELAXED));
	if (old == NULL)
		arena_remote_announce(s);
}

/* Puts the slabs from `first` on (linked through xnext, a list taken from
 * bin b's xslabs; their remote lists untouched) back on b's xslabs. Bin
 * lock held. */
static void remote_requeue(bin_t *b, slab_t *first)
{
	slab_t *last = first;
	while (slab_remote(last)->xnext != NULL)
		last = slab_remote(last)->xnext;
	slab_t *top = __atomic_load_n(&b->xslabs, __ATOMIC_RELAXED);
	do
		slab_remote(last)->xnext = top;
	while (!__atomic_compare_exchange_n(&b->xslabs, &top, first, true, __ATOMIC_RELEASE,
	                                    __ATOMIC_RELAXED));
	if (top == NULL)
		background_note();
}

/* Bin lock held: arena_fill's collection of b's remote frees. Up to `room`
 * of them go straight to the refill, appended at **tailp: they were out of
 * their slabs and stay out (in the thread cache now), so no slab changes and
 * no block is written but for the last link. A slab's list is walked whole
 * first: each block is checked against the slab's free bitmap (a block
 * freed there and again by another thread is a double free), and a list
 * longer than the slab's blocks out is a cycle, a block pushed twice (the
 * push checked that each starts a block). What does not fit goes back on
 * its list, and slabs not reached back on xslabs, for the next refill or
 * the background thread's collection. Returns how many were handed over. */
static unsigned bin_collect_fill(bin_t *b, unsigned room, void ***tailp)
{
	void **tail = *tailp;
	unsigned got = 0;
	slab_t *s = __atomic_exchange_n(&b->xslabs, NULL, __ATOMIC_ACQUIRE);
	while (s != NULL) {
		slab_remote_t *r = slab_remote(s);
		slab_t *next = r->xnext; /* before xfree empties: bin_collect_locked */
		void *p = __atomic_exchange_n(&r->xfree, NULL, __ATOMIC_ACQ_REL);
		if (p != NULL) {
			uintptr_t base = (uintptr_t)slab_base(s);
			const uint64_t *col = slab_bitmap_word(s, 0);
			uint32_t recip = s->recip, out = s->used, take = room - got, k = 0;
			void *q = p, *split = p, *last;
			do {
				uint32_t i = (uint32_t)(((uint64_t)((uintptr_t)q - base) * recip) >> 32);
				if (UNLIKELY((col[(size_t)(i / 64) * SLABS_PER_SS] >> (i % 64) & 1) ||
				             ++k > out))
					hm_fatal("double free of %p (block is already free)", q);
				if (k == take)
					split = q;
				last = q;
				q = *(void **)q;
			} while (q != NULL);
			*tail = p;
			if (k <= take) {
				tail = (void **)last;
				got += k;
			} else {
				tail = (void **)split;
				got = room;
				remote_putback(s, *(void **)split, last);
			}
		}
		s = next;
		if (got == room && s != NULL) {
			remote_requeue(b, s);
			break;
		}
	}
	*tailp = tail;
	b->remote_frees += got;
	return got;
}

unsigned arena_fill(arena_t *a, unsigned cls, unsigned want, unsigned max, void **head)
{
	bin_t *b = &a->bins[cls];
	void *first = NULL, **tail = &first;
	unsigned got = 0, handed = 0;
	lock_acquire(&b->lock);
	/* Remote frees first: they cost least to hand out. */
	if (atomic_load_relaxed(&b->xslabs) != NULL)
		got = handed = bin_collect_fill(b, max, &tail);
	while (got < want) {
		slab_t *s = b->partial;
		if (s == NULL && b->empty != NULL) {
			s = b->empty;
			b->empty = NULL;
			bin_partial_push(b, s);
		}
		if (s == NULL) {
			/* A new slab: a SuperSlab's mapping, NUMA placement and the
			 * first touch of its header happen without the bin lock. */
			lock_release(&b->lock);
			s = arena_slab_alloc(a, cls);
			lock_acquire(&b->lock);
			if (s == NULL)
				break;
			b->curslabs++;
			bin_partial_push(b, s);
		}
		unsigned n = want - got, nfree = (unsigned)s->ncarved - s->used;
		if (nfree != 0) {
			if (n > nfree)
				n = nfree;
			slab_take_free(s, n, &tail);
		} else {
			/* Carving: one store a block, the link the thread cache
			 * needs. */
			if (n > (unsigned)(s->cap - s->ncarved))
				n = s->cap - s->ncarved;
			size_t bs = s->block_size;
			char *blk = slab_base(s) + (size_t)s->ncarved * bs;
			*tail = blk;
			unsigned k = n - 1;
			for (; k >= 4; k -= 4) { /* four links a round: a quarter of the compares */
				char *b1 = blk + bs, *b2 = b1 + bs, *b3 = b2 + bs;
				*(void **)blk = b1;
				*(void **)b1 = b2;
				*(void **)b2 = b3;
				blk = b3 + bs;
				*(void **)b3 = blk;
			}
			for (; k > 0; k--, blk += bs)
				*(void **)blk = blk + bs;
			tail = (void **)blk;
			s->ncarved += (uint16_t)n;
		}
		s->used += (uint16_t)n;
		got += n;
		if (s->used == s->cap)
			bin_partial_remove(b, s);
	}
	*tail = NULL;
	b->curregs += got - handed;
	b->nrefills++;
	lock_release(&b->lock);
	*head = first;
	return got;
}

slab_t *arena_validate_block(const void *p)
{
	slab_t *s = ptr_slab_head(p);
	if (s->state != SLAB_ACTIVE)
		hm_fatal("double free (or invalid free) of %p: its slab holds no allocated block", p);
	if (slab_block_index(s, p) < 0)
		hm_fatal("invalid free of %p: not the start of an allocated block", p);
	return s;
}

/* Slab s's `used` just fell (bin lock held): a slab with blocks out goes on
 * the partial list if it is not there; an empty one becomes the bin's kept
 * empty slab. *emptied: it did. The arena whose decay pass is due, if the
 * slab it replaces went back to its SuperSlab (arena_slab_release). */
static inline arena_t *slab_settle(bin_t *b, slab_t *s, bool *emptied)
{
	if (LIKELY(s->used != 0)) {
		if (UNLIKELY(!s->in_partial))
			bin_partial_push(b, s);
		return NULL;
	}
	if (s->in_partial)
		bin_partial_remove(b, s);
	/* Keep the newest empty slab in the bin: reusing it with the same
	 * layout touches no new pages. The one it replaces goes back to its
	 * SuperSlab. */
	slab_t *old = b->empty;
	uint64_t old_since = b->empty_since;
	b->empty = s;
	b->empty_since = os_now_ns();
	*emptied = true;
	if (old == NULL)
		return NULL;
	b->curslabs--;
	return arena_slab_release(old, old_since);
}

/* The bytes of slab s's blocks carved so far: a block coming home starts
 * below them (the blocks after were never handed out). */
static inline uintptr_t slab_carved_bytes(const slab_t *s)
{
	return (uintptr_t)s->ncarved * s->block_size;
}

/* The index of the block at offset off of a slab of bs-byte blocks (recip:
 * slab_t.recip): fatal if p, at that offset, does not start a block. */
static inline uint32_t block_index_checked(uintptr_t off, uint32_t recip, uintptr_t bs,
                                           const void *p)
{
	uint32_t i = (uint32_t)(((uint64_t)off * recip) >> 32);
	if (UNLIKELY((uintptr_t)i * bs != off))
		hm_fatal("invalid free of %p: not the start of a block", p);
	return i;
}

/* Sets the bits acc of bitmap word *w (word wi of a slab at base with
 * blocks of bs bytes): a bit set already is a block freed twice. */
static inline void bitmap_gather(uint64_t *w, uint64_t acc, uintptr_t base, uintptr_t bs,
                                 uint32_t wi)
{
	if (acc == 0)
		return;
	uint64_t v = *w;
	if (UNLIKELY(v & acc)) {
		size_t i = (size_t)wi * 64 + (unsigned)__builtin_ctzll(v & acc);
		hm_fatal("double free of %p (block is already free)", (void *)(base + i * bs));
	}
	*w = v | acc;
}

/* Gives back to slab s (bin lock held) the run of blocks that starts at *pp
 * (which must be one of s's carved blocks: fatal otherwise): it ends at
 * `room` blocks or at the first link outside s's carved blocks (NULL is
 * below them), which is left in *pp. The run's bits gather in one word of
 * the bitmap at a time (blocks freed together mostly sit together): a bit
 * already gathered, or set in the bitmap, is a double free. No block is
 * written. Returns the run's length (>= 1); the caller counts the blocks out
 * of b->curregs and settles the slab. */
static inline unsigned slab_take_back(slab_t *s, void **pp, unsigned room)
{
	void *p = *pp;
	uintptr_t base = (uintptr_t)slab_base(s);
	uintptr_t limit = slab_carved_bytes(s);
	uintptr_t off = (uintptr_t)p - base;
	if (UNLIKELY(off >= limit))
		hm_fatal("invalid free of %p: not the start of a block", p);
	uint64_t *col = slab_bitmap_word(s, 0);
	const uint32_t recip = s->recip;
	const uintptr_t bs = s->block_size;
	unsigned k = 0;
	uint64_t acc = 0, *w = col;
	uint32_t wi = UINT32_MAX, wmin = s->scan;
	for (;;) {
		uint32_t i = block_index_checked(off, recip, bs, p);
		uint64_t bit = (uint64_t)1 << (i % 64);
		if (i / 64 != wi) {
			bitmap_gather(w, acc, base, bs, wi);
			wi = i / 64;
			w = col + (size_t)wi * SLABS_PER_SS;
			acc = 0;
			if (wi < wmin)
				wmin = wi;
		}
		if (UNLIKELY(acc & bit))
			hm_fatal("double free of %p (block is already free)", p);
		acc |= bit;
		p = *(void **)p;
		if (++k == room)
			break;
		off = (uintptr_t)p - base;
		if (off >= limit)
			break; /* NULL (below base), another slab's, or not a block
			          (checked there) */
	}
	bitmap_gather(w, acc, base, bs, wi);
	s->scan = (uint16_t)wmin;
	s->dirty = 1;
	s->used -= (uint16_t)k;
	*pp = p;
	return k;
}

/* One bin lock per (arena, class) among the blocks: the blocks of the first
 * block's bin go home in one pass, the others are linked into a list for the
 * next pass (normally there is none: a flush holds one class, mostly of one
 * arena). Within a pass, consecutive blocks of one slab (blocks freed
 * together mostly came from one) go home as a run (slab_take_back). */
unsigned arena_dalloc(void *head, unsigned n, bool remote)
{
	unsigned total = 0;
	while (n > 0 && head != NULL) {
		slab_t *s0 = ptr_slab_head(head);
		arena_t *a = s0->arena;
		if (UNLIKELY(a == NULL || s0->state != SLAB_ACTIVE))
			hm_fatal("double free of %p (its slab is free)", head);
		unsigned cls = s0->cls, nleft = 0, done = 0;
		void *left = NULL, **ltail = &left;
		bin_t *b = &a->bins[cls];
		arena_t *due = NULL;
		bool emptied = false;
		void *p = head;
		lock_acquire(&b->lock);
		while (done + nleft < n && p != NULL) {
			slab_t *s = ptr_slab_head(p);
			if (UNLIKELY(s->arena != a || s->cls != cls)) {
				void *next = *(void **)p;
				*ltail = p;
				ltail = (void **)p;
				nleft++;
				p = next;
				continue;
			}
			if (UNLIKELY(s->state != SLAB_ACTIVE))
				hm_fatal("double free of %p (its slab is free)", p);
			unsigned k = slab_take_back(s, &p, n - done - nleft);
			done += k;
			arena_t *d = slab_settle(b, s, &emptied);
			if (UNLIKELY(d != NULL))
				due = d;
		}
		b->curregs -= done;
		if (remote)
			b->remote_frees += done;
		if (class_size[cls] >= PAGE_SIZE && b->dirty_since == 0)
			atomic_store_relaxed(&b->dirty_since, os_now_ns() | 1);
		b->nflushes++;
		lock_release(&b->lock);
		arena_decay_due(due);
		if (emptied)
			background_note(); /* memory to decay: the idle thread wakes */
		total += done;
		*ltail = NULL;
		head = left;
		n = nleft;
	}
	return total;
}

void arena_merge_stats(arena_t *a, unsigned cls, uint64_t nmalloc, uint64_t nfree)
{
	if (nmalloc == 0 && nfree == 0)
		return;
	bin_t *b = &a->bins[cls];
	lock_acquire(&b->lock);
	b->nmalloc += nmalloc;
	b->nfree += nfree;
	lock_release(&b->lock);
}

/* Fork: no arena becomes ready while the locks are held, and every ready
 * arena's locks are taken by kind, every arena's bins first, then every
 * ss_lock, then every large_lock: a bin lock of one arena is held while
 * another arena's ss_lock is taken (arena_slab_steal, and giving a stolen
 * unit back), never the reverse. */
#define FOR_READY(a) \
	for (arena_t *a = g_arenas; a < g_arenas + g_narenas; a++) \
		if (arena_ready(a))

void arenas_lock_all(void)
{
	lock_acquire(&g_arenas_init_lock);
	FOR_READY(a)
		for (unsigned c = 0; c < NCLASSES; c++)
			lock_acquire(&a->bins[c].lock);
	FOR_READY(a)
		lock_acquire(&a->ss_lock);
	FOR_READY(a)
		lock_acquire(&a->large_lock);
}

void arenas_unlock_all(void)
{
	FOR_READY(a)
		lock_release(&a->large_lock);
	FOR_READY(a)
		lock_release(&a->ss_lock);
	FOR_READY(a)
		for (unsigned c = 0; c < NCLASSES; c++)
			lock_release(&a->bins[c].lock);
	lock_release(&g_arenas_init_lock);
}

void arenas_postfork_child(void)
{
	/* All first: a slab's bin may be another arena's than its SuperSlab's
	 * (arena_slab_steal). */
	FOR_READY(a)
		for (unsigned c = 0; c < NCLASSES; c++)
			a->bins[c].xslabs = NULL;
	FOR_READY(a) {
		for (chunk_t *ch = a->ss_all; ch != NULL; ch = ch->ss.all_next) {
			superslab_t *ss = (superslab_t *)ch;
			for (unsigned i = 0; i < SLABS_PER_SS; i++) {
				slab_t *s = &ss->slabs[i];
				if (s->state != SLAB_ACTIVE || ss->remote[i].xfree == NULL)
					continue;
				bin_t *b = &s->arena->bins[s->cls];
				ss->remote[i].xnext = b->xslabs;
				b->xslabs = s;
			}
		}
	}
}

void arenas_reinit_locks(void)
{
	lock_reinit(&g_arenas_init_lock);
	FOR_READY(a) {
		for (unsigned c = 0; c < NCLASSES; c++)
			lock_reinit(&a->bins[c].lock);
		lock_reinit(&a->ss_lock);
		lock_reinit(&a->large_lock);
	}
}

/* ---- realloc in place ---- */

/* Whether class c's slab holds exactly one block that fills its units (the
 * classes of 64 KiB, 128 KiB, 192 KiB and from 256 KiB up): such a slab can
 * grow into free units after it, or give up its tail, by changing class. */
bool arena_resize_in_place(void *p, size_t size)
{
	slab_t *s = ptr_slab_head(p);
	unsigned c = s->cls, c2 = size_to_class(size);
	if (c2 == c)
		return true;
	if (!class_is_solo(c) && size <= class_size[c] && class_keeps(c, p, size))
		return true; /* slabs of one block give units back instead */
	if (s->index == 0 || !class_is_solo(c) || !class_is_solo(c2))
		return false;
	superslab_t *ss = (superslab_t *)ptr_chunk(s);
	arena_t *a = s->arena, *x = ss->hdr.arena;
	unsigned idx = s->index, n = class_units[c], n2 = class_units[c2];
	if (idx + n2 > SLABS_PER_SS)
		return false;
	bin_t *b = &a->bins[c], *b2 = &a->bins[c2];
	/* Both bins, the lower class first, then the SuperSlab's ss_lock. */
	lock_acquire(&(c < c2 ? b : b2)->lock);
	lock_acquire(&(c < c2 ? b2 : b)->lock);
	lock_acquire(&x->ss_lock);
	chunk_t *ch = &ss->hdr;
	uint64_t now = os_now_ns();
	bool ok = true;
	if (n2 > n) {
		uint32_t want = ((1u << (n2 - n)) - 1) << (idx + n);
		if ((ch->ss.free_units & want) != want) {
			ok = false;
		} else {
			for (unsigned i = idx + n; i < idx + n2; i++)
				unit_unretain(x, ch, i);
			ch->ss.free_units &= ~want;
			ch->ss.dirty_units &= ~want;
			ss_file(x, ch);
		}
	} else {
		uint32_t give = ((1u << (n - n2)) - 1) << (idx + n2);
		for (unsigned i = idx + n2; i < idx + n; i++)
			ss->slabs[i].free_since = now;
		ch->ss.free_units |= give;
		ch->ss.dirty_units |= give;
		ss_file(x, ch);
	}
	if (ok)
		superslab_slab_resize(ss, idx, c2);
	lock_release(&x->ss_lock);
	if (ok) {
		/* The block moves from class c to class c2: counted as a free of
		 * one and an allocation of the other. */
		b->curslabs--;
		b->curregs--;
		b->nfree++;
		b2->curslabs++;
		b2->curregs++;
		b2->nmalloc++;
	}
	lock_release(&b->lock);
	lock_release(&b2->lock);
	return ok;
}
