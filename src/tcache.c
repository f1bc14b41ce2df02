/* tcache.c - thread-cache slow paths: initialisation, refill, flush, remote
 * frees, drain, thread exit. See tcache.h for the call tree. */
#include "tcache.h"
#include "arena.h"
#include "atomic.h"
#include "conf.h"
#include "init.h"
#include "large.h"
#include "lock.h"
#include "log.h"
#include "os.h"
#include "topology.h"

#include <errno.h>
#include <string.h>

#define REMOTE_MAX  64   /* most foreign blocks of a class buffered before a batch
                            return (fewer for large classes: 64 KiB of them) */
#define FLUSH_BATCH 64   /* blocks handed to arena_dalloc at once */

__thread tcache_t tcache_tls __attribute__((tls_model("initial-exec")));

/* Slow-path state of a thread cache. Written by its owner thread; read racily
 * by statistics readers under the registry lock. */
typedef struct tcache_cold {
	tcache_t *hot;                     /* the owner's TLS part */
	uint32_t cap[NCLASSES];            /* capacity; avail = cap - cached */
	uint32_t refill[NCLASSES];         /* blocks per refill */
	uint64_t nfill[NCLASSES];          /* blocks received from arenas */
	uint64_t nflush[NCLASSES];         /* blocks given back from the bin */
	uint64_t nremote_free[NCLASSES];   /* program frees of foreign blocks */
	uint64_t merged_nmalloc[NCLASSES]; /* already added to arena stats */
	uint64_t merged_nfree[NCLASSES];
	uint8_t busy[NCLASSES];            /* refilled or flushed since the last drain */
	uint64_t large_nmalloc, large_nfree;
	uint64_t large_alloc_bytes, large_free_bytes;
	chunk_t *large_slot;               /* one freed large block kept for this thread
	                                      (still counted live by its arena) */
	uint64_t slot_bytes;               /* its usable bytes, 0 if none */
	uint64_t slot_nmalloc, slot_nfree; /* slot hits not yet added to the arena */
	void *remote[NCLASSES];            /* per class, foreign blocks waiting to go home,
	                                      linked through their first word */
	uint16_t nremote[NCLASSES];        /* blocks on remote[c] */
	uint16_t remote_batch[NCLASSES];   /* flush remote[c] at this many */
	unsigned nremote_total;            /* blocks on all remote lists */
	uint32_t conf_gen;                 /* g_conf_gen the caps were computed from */
	uint32_t events;                   /* slow-path events since the last drain */
	struct tcache_cold *next;          /* registry or free list [registry lock] */
	struct tcache_cold *prev;
} tcache_cold_t;

/* Marks a thread whose cache was torn down at exit: it allocates and frees
 * straight from the arenas. */
static tcache_cold_t g_exited_cold;
#define TCACHE_EXITED (&g_exited_cold)

static lock_t g_registry_lock = LOCK_INITIALIZER;
static tcache_cold_t *g_threads;     /* live thread caches [registry lock] */
static tcache_cold_t *g_cold_free;   /* recycled cold structs [registry lock] */
static uint64_t g_cold_metadata;     /* bytes mapped for cold structs [registry lock] */

uint64_t g_bypass_nmalloc, g_bypass_nfree;

void tcache_registry_lock(void)   { lock_acquire(&g_registry_lock); }
void tcache_registry_unlock(void) { lock_release(&g_registry_lock); }

uint64_t tcache_metadata_bytes(void) { return g_cold_metadata; }

static tcache_cold_t *cold_alloc(void)
{
	lock_acquire(&g_registry_lock);
	/* Recycled structs first, then carved one at a time from 64 KiB
	 * mappings (carving lazily keeps untouched ones out of memory). */
	static char *carve, *carve_end; /* [registry lock] */
	tcache_cold_t *c = g_cold_free;
	if (c != NULL) {
		g_cold_free = c->next;
	} else {
		if (carve == NULL || carve + sizeof(tcache_cold_t) > carve_end) {
			size_t chunk = 64 * KiB;
			void *p;
			if (os_map(chunk, &p) != 0) {
				lock_release(&g_registry_lock);
				return NULL;
			}
			g_cold_metadata += chunk;
			carve = p;
			carve_end = carve + chunk;
		}
		c = (tcache_cold_t *)carve;
		carve += ALIGN_UP(sizeof(tcache_cold_t), CACHELINE);
	}
	memset(c, 0, sizeof *c);
	c->next = g_threads;
	if (g_threads)
		g_threads->prev = c;
	g_threads = c;
	lock_release(&g_registry_lock);
	return c;
}

/* Registry lock held. */
static void cold_release_locked(tcache_cold_t *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		g_threads = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = g_cold_free;
	c->prev = NULL;
	g_cold_free = c;
}

/* ---- tunables ---- */

static void tcache_bin_flush(tcache_t *tc, tcache_cold_t *cold, unsigned c, unsigned keep);
static void tcache_slot_release(tcache_t *tc, tcache_cold_t *cold);
static void tcache_remote_flush(tcache_cold_t *cold);

static void tcache_apply_conf(tcache_t *tc, tcache_cold_t *cold)
{
	cold->conf_gen = atomic_load_relaxed(&g_conf_gen);
	for (unsigned c = 0; c < NCLASSES; c++) {
		tcache_bin_t *b = &tc->bins[c];
		int64_t cached = (int64_t)cold->cap[c] - b->avail;
		uint32_t cap = conf_class_cap(c);
		cold->cap[c] = cap;
		cold->refill[c] = conf_class_refill(c);
		unsigned rb = (unsigned)((64 * KiB) / class_size[c]);
		cold->remote_batch[c] = (uint16_t)(rb < 4 ? 4 : rb > REMOTE_MAX ? REMOTE_MAX : rb);
		b->avail = (int32_t)((int64_t)cap - cached);
		if (b->avail < 0)
			tcache_bin_flush(tc, cold, c, cap);
	}
}

/* ---- statistics ---- */

static uint64_t bin_cached(const tcache_t *tc, const tcache_cold_t *cold, unsigned c)
{
	int64_t n = (int64_t)atomic_load_relaxed(&cold->cap[c]) -
	            atomic_load_relaxed(&tc->bins[c].avail);
	return n > 0 ? (uint64_t)n : 0;
}

/* Blocks handed to the program: received + freed into the bin - given back - cached. */
static uint64_t bin_nmalloc(const tcache_t *tc, const tcache_cold_t *cold, unsigned c)
{
	return atomic_load_relaxed(&cold->nfill[c]) + atomic_load_relaxed(&tc->bins[c].nfree) -
	       atomic_load_relaxed(&cold->nflush[c]) - bin_cached(tc, cold, c);
}

static uint64_t bin_nfree(const tcache_t *tc, const tcache_cold_t *cold, unsigned c)
{
	return atomic_load_relaxed(&tc->bins[c].nfree) + atomic_load_relaxed(&cold->nremote_free[c]);
}

static void tcache_merge_class(tcache_t *tc, tcache_cold_t *cold, unsigned c)
{
	uint64_t m = bin_nmalloc(tc, cold, c), f = bin_nfree(tc, cold, c);
	uint64_t dm = m - cold->merged_nmalloc[c], df = f - cold->merged_nfree[c];
	if (dm == 0 && df == 0)
		return;
	arena_merge_stats(tc->arena, c, dm, df);
	cold->merged_nmalloc[c] = m;
	cold->merged_nfree[c] = f;
}

static void tcache_merge_all(tcache_t *tc, tcache_cold_t *cold)
{
	for (unsigned c = 0; c < NCLASSES; c++)
		tcache_merge_class(tc, cold, c);
}

void tcache_stats_sum_live(tcache_live_cb cb, void *ctx)
{
	lock_acquire(&g_registry_lock);
	for (tcache_cold_t *cold = g_threads; cold; cold = cold->next) {
		tcache_t *tc = cold->hot;
		if (tc == NULL || tc->arena == NULL)
			continue;
		for (unsigned c = 0; c < NCLASSES; c++) {
			uint64_t dm = bin_nmalloc(tc, cold, c) - atomic_load_relaxed(&cold->merged_nmalloc[c]);
			uint64_t df = bin_nfree(tc, cold, c) - atomic_load_relaxed(&cold->merged_nfree[c]);
			cb(ctx, tc->arena, c, dm, df, bin_cached(tc, cold, c));
		}
	}
	lock_release(&g_registry_lock);
}

void tcache_large_slots(tcache_slot_cb cb, void *ctx)
{
	lock_acquire(&g_registry_lock);
	for (tcache_cold_t *cold = g_threads; cold; cold = cold->next) {
		tcache_t *tc = cold->hot;
		if (tc == NULL || tc->arena == NULL)
			continue;
		cb(ctx, tc->arena, atomic_load_relaxed(&cold->slot_bytes),
		   atomic_load_relaxed(&cold->slot_nmalloc), atomic_load_relaxed(&cold->slot_nfree));
	}
	lock_release(&g_registry_lock);
}

void tcache_stats_self(tcache_stats_t *st)
{
	tcache_t *tc = &tcache_tls;
	tcache_cold_t *cold = tc->cold;
	memset(st, 0, sizeof *st);
	if (cold == NULL || cold == TCACHE_EXITED)
		return;
	for (unsigned c = 0; c < NCLASSES; c++) {
		st->nmalloc[c] = bin_nmalloc(tc, cold, c);
		st->nfree[c] = bin_nfree(tc, cold, c);
		st->ncached[c] = bin_cached(tc, cold, c);
	}
	st->large_nmalloc = cold->large_nmalloc;
	st->large_nfree = cold->large_nfree;
	st->large_allocated_bytes = cold->large_alloc_bytes;
	st->large_freed_bytes = cold->large_free_bytes;
}

/* ---- thread start and exit ---- */

static tcache_cold_t *tcache_thread_init(tcache_t *tc)
{
	if (hakmem_init() != 0)
		return NULL;
	tcache_cold_t *cold = cold_alloc();
	if (cold == NULL)
		return NULL;
	cold->hot = tc;
	tc->arena = arena_choose();
	for (unsigned c = 0; c < NCLASSES; c++)
		tc->bins[c].avail = 0;
	tcache_apply_conf(tc, cold);
	tc->cold = cold;
	/* Last: may allocate (keys past the first 32), which now finds an
	 * initialised cache. */
	pthread_setspecific(g_tcache_key, cold);
	return cold;
}

void tcache_thread_exit(void *arg)
{
	tcache_t *tc = &tcache_tls;
	tcache_cold_t *cold = arg;
	if (cold == NULL || tc->cold != cold)
		return;
	for (unsigned c = 0; c < NCLASSES; c++)
		tcache_bin_flush(tc, cold, c, 0);
	tcache_remote_flush(cold);
	tcache_slot_release(tc, cold);
	tcache_merge_all(tc, cold);
	for (unsigned c = 0; c < NCLASSES; c++)
		tc->bins[c].avail = 0;
	tc->arena = NULL;
	tc->cold = TCACHE_EXITED;
	lock_acquire(&g_registry_lock);
	cold->hot = NULL;
	cold_release_locked(cold);
	lock_release(&g_registry_lock);
}

/* ---- flush, remote, drain ---- */

/* Sends class c's foreign blocks home: one arena_dalloc batch (normally one
 * lock: a class's remote blocks mostly share an owner). */
static void tcache_remote_flush_class(tcache_cold_t *cold, unsigned c)
{
	void *buf[FLUSH_BATCH];
	void *p = cold->remote[c];
	unsigned left = cold->nremote[c];
	cold->nremote_total -= left;
	cold->remote[c] = NULL;
	cold->nremote[c] = 0;
	while (left > 0 && p != NULL) {
		unsigned n = 0;
		while (n < FLUSH_BATCH && left > 0 && p != NULL) {
			buf[n++] = p;
			p = *(void **)p;
			left--;
		}
		arena_dalloc(buf, n, true);
	}
}

static void tcache_remote_flush(tcache_cold_t *cold)
{
	if (cold->nremote_total == 0)
		return;
	for (unsigned c = 0; c < NCLASSES; c++)
		if (cold->nremote[c])
			tcache_remote_flush_class(cold, c);
}

/* Gives back all but `keep` cached blocks of class c: the most recently freed
 * stay (they are the warmest). */
static void tcache_bin_flush(tcache_t *tc, tcache_cold_t *cold, unsigned c, unsigned keep)
{
	tcache_bin_t *b = &tc->bins[c];
	int64_t cached = (int64_t)cold->cap[c] - b->avail;
	if (cached <= (int64_t)keep)
		return;
	void **link = &b->head;
	for (unsigned i = 0; i < keep; i++)
		link = (void **)*link;
	void *rest = *link;
	*link = NULL;
	void *buf[FLUSH_BATCH];
	unsigned n = 0;
	uint64_t flushed = 0;
	/* Bounded by the count, not by NULL: a double free makes a cycle, which
	 * arena_dalloc then reports. */
	for (int64_t left = cached - keep; left > 0 && rest != NULL; left--) {
		buf[n++] = rest;
		rest = *(void **)rest;
		if (n == FLUSH_BATCH) {
			arena_dalloc(buf, n, false);
			flushed += n;
			n = 0;
		}
	}
	if (n) {
		arena_dalloc(buf, n, false);
		flushed += n;
	}
	cold->nflush[c] += flushed;
	b->avail += (int32_t)flushed;
	cold->busy[c] = 1;
	tcache_merge_class(tc, cold, c);
}

/* Every tiny.drain_interval slow-path events: bins that neither refilled nor
 * overflowed since the last drain give back half their blocks. */
static void tcache_drain(tcache_t *tc, tcache_cold_t *cold)
{
	cold->events = 0;
	for (unsigned c = 0; c < NCLASSES; c++) {
		if (!cold->busy[c]) {
			int64_t cached = (int64_t)cold->cap[c] - tc->bins[c].avail;
			if (cached > 0)
				tcache_bin_flush(tc, cold, c, (unsigned)(cached / 2));
		}
		cold->busy[c] = 0;
	}
	tcache_remote_flush(cold);
	tcache_slot_release(tc, cold);
	tcache_merge_all(tc, cold);
	arena_decay_tick(tc->arena);
}

static inline void tcache_event(tcache_t *tc, tcache_cold_t *cold)
{
	uint32_t interval = g_conf.tiny_drain_interval;
	if (interval != 0 && ++cold->events >= interval)
		tcache_drain(tc, cold);
}

void tcache_flush_all(void)
{
	tcache_t *tc = &tcache_tls;
	tcache_cold_t *cold = tc->cold;
	if (cold == NULL || cold == TCACHE_EXITED)
		return;
	for (unsigned c = 0; c < NCLASSES; c++)
		tcache_bin_flush(tc, cold, c, 0);
	tcache_remote_flush(cold);
	tcache_slot_release(tc, cold);
	tcache_merge_all(tc, cold);
}

void tcache_reload_self(void)
{
	tcache_t *tc = &tcache_tls;
	tcache_cold_t *cold = tc->cold;
	if (cold != NULL && cold != TCACHE_EXITED)
		tcache_apply_conf(tc, cold);
}

void tcache_merge_self(void)
{
	tcache_t *tc = &tcache_tls;
	tcache_cold_t *cold = tc->cold;
	if (cold == NULL || cold == TCACHE_EXITED)
		return;
	tcache_merge_all(tc, cold);
}

int tcache_set_arena(unsigned i)
{
	if (i >= g_narenas)
		return ENOENT;
	tcache_t *tc = &tcache_tls;
	tcache_cold_t *cold = tc->cold;
	if (cold == NULL) {
		cold = tcache_thread_init(tc);
		if (cold == NULL)
			return EFAULT;
	}
	if (cold == TCACHE_EXITED)
		return EFAULT;
	tcache_flush_all();
	tc->arena = arena_get(i);
	return 0;
}

/* ---- allocation slow paths ---- */

/* No thread cache (thread exiting, or called inside initialisation). */
static void *bypass_malloc(size_t size, size_t align, bool *zeroed)
{
	if (g_arenas == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	arena_t *a = arena_choose();
	unsigned c = align <= 16 && size <= SLAB_MAX_SIZE ? size_to_class(size)
	                                                   : size_to_class_aligned(size, align);
	if (c < NCLASSES) {
		void *p;
		if (arena_fill(a, c, 1, 1, &p) == 0) {
			errno = ENOMEM;
			return NULL;
		}
		arena_merge_stats(a, c, 1, 0);
		atomic_add_relaxed(&g_bypass_nmalloc, 1);
		*zeroed = false;
		return p;
	}
	return large_alloc(a, size, align, zeroed);
}

/* Checked at every refill. A thread that moved to another node follows: its
 * cache goes back to the old arena and it binds to one of the new node's. In
 * the per-CPU layout a thread that moved to another CPU of the same node
 * takes that CPU's arena without flushing (its cached blocks are on the right
 * node; they go home as remote frees when freed): threads start on their
 * creator's CPU, and two threads sharing an arena contend for its locks. */
static void tcache_follow(tcache_t *tc)
{
	if (g_conf.bind == BIND_ROUNDROBIN)
		return;
	arena_t *a = arena_choose();
	if (a == tc->arena)
		return;
	if (a->node == tc->arena->node) {
		if (g_conf.narenas != 0) /* a given arena count: CPUs share arenas */
			return;
		tcache_merge_all(tc, tc->cold); /* counts go to the arena they happened in */
		tc->arena = a;
	} else if (!g_topo.policy_set) {
		tcache_flush_all();
		tc->arena = a;
	}
}

static void *tcache_refill(tcache_t *tc, tcache_cold_t *cold, unsigned c)
{
	void *head;
	tcache_follow(tc);
	tcache_merge_class(tc, cold, c);
	unsigned got = arena_fill(tc->arena, c, cold->refill[c], cold->cap[c] ? cold->cap[c] : 1,
	                          &head);
	if (UNLIKELY(got == 0)) {
		errno = ENOMEM;
		return NULL;
	}
	tcache_bin_t *b = &tc->bins[c];
	b->head = *(void **)head;
	b->avail -= (int32_t)(got - 1);
	cold->nfill[c] += got;
	cold->busy[c] = 1;
	tcache_event(tc, cold);
	return head;
}

static inline tcache_cold_t *tcache_get_cold(tcache_t *tc)
{
	tcache_cold_t *cold = tc->cold;
	if (UNLIKELY(cold == NULL)) {
		cold = tcache_thread_init(tc);
		if (cold == NULL)
			return NULL;
	}
	if (cold != TCACHE_EXITED &&
	    UNLIKELY(cold->conf_gen != atomic_load_relaxed(&g_conf_gen)))
		tcache_apply_conf(tc, cold);
	return cold;
}

/* The thread's large slot: a malloc/free loop of one large size takes no lock. */
#define LARGE_SLOT_MAX (4 * MiB)

static void tcache_slot_release(tcache_t *tc, tcache_cold_t *cold)
{
	chunk_t *c = cold->large_slot;
	cold->large_slot = NULL;
	cold->slot_bytes = 0;
	large_count(tc->arena ? tc->arena : c->arena, cold->slot_nmalloc, cold->slot_nfree);
	cold->slot_nmalloc = cold->slot_nfree = 0;
	if (c != NULL)
		large_release(c, false);
}

static void *tcache_alloc_large(tcache_t *tc, tcache_cold_t *cold, size_t size, size_t align,
                                bool *zeroed)
{
	if (UNLIKELY(size > (size_t)PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	chunk_t *slot = cold->large_slot;
	if (slot != NULL && align <= LARGE_HDR) {
		void *p = large_reuse(slot, size);
		if (p != NULL) {
			cold->large_slot = NULL;
			cold->slot_bytes = 0;
			cold->slot_nmalloc++;
			cold->large_nmalloc++;
			cold->large_alloc_bytes += slot->large.usable;
			*zeroed = false;
			return p;
		}
	}
	void *p = large_alloc(tc->arena, size, align, zeroed);
	if (p != NULL) {
		cold->large_nmalloc++;
		cold->large_alloc_bytes += large_header(p)->large.usable;
	}
	return p;
}

static void *tcache_alloc(size_t size, size_t align, bool *zeroed)
{
	tcache_t *tc = &tcache_tls;
	tcache_cold_t *cold = tcache_get_cold(tc);
	if (UNLIKELY(cold == NULL || cold == TCACHE_EXITED))
		return bypass_malloc(size, align, zeroed);
	*zeroed = false;
	unsigned c;
	if (LIKELY(align <= 8 && size <= SLAB_MAX_SIZE))
		c = size_to_class(size);
	else if (align <= SLAB_MAX_SIZE && size <= SLAB_MAX_SIZE)
		c = size_to_class_aligned(size, align);
	else
		c = NCLASSES;
	if (c < NCLASSES) {
		tcache_bin_t *b = &tc->bins[c];
		void *p = b->head;
		if (p != NULL) {
			b->head = *(void **)p;
			b->avail++;
			return p;
		}
		return tcache_refill(tc, cold, c);
	}
	return tcache_alloc_large(tc, cold, size, align, zeroed);
}

void *tcache_malloc_slow(size_t size)
{
	bool zeroed;
	return tcache_alloc(size, 8, &zeroed);
}

void *tcache_calloc_slow(size_t size)
{
	bool zeroed;
	void *p = tcache_alloc(size, 8, &zeroed);
	if (p != NULL && !zeroed)
		memset(p, 0, size);
	return p;
}

void *tcache_malloc_aligned(size_t size, size_t align)
{
	bool zeroed;
	return tcache_alloc(size, align, &zeroed);
}

/* ---- free slow path ---- */

static void free_large(void *p)
{
	tcache_t *tc = &tcache_tls;
	tcache_cold_t *cold = tc->cold;
	chunk_t *c = large_chunk_of(p);
	if (cold != NULL && cold != TCACHE_EXITED && c != NULL && c->large.user == p) {
		cold->large_nfree++;
		cold->large_free_bytes += c->large.usable;
		if (!c->huge_align && c->arena == tc->arena && c->large.map_size <= LARGE_SLOT_MAX &&
		    g_conf.decay_ms != 0) {
			chunk_t *old = cold->large_slot;
			large_stash(c);
			cold->large_slot = c;
			cold->slot_bytes = c->large.usable;
			cold->slot_nfree++;
			if (old != NULL)
				large_release(old, false);
			return;
		}
	}
	large_free(p, c);
}

void tcache_free_slow(void *p, bool undo)
{
	if (undo) {
		/* Bin full: the fast path decremented avail below zero. */
		tcache_t *tc = &tcache_tls;
		tc->bins[ptr_slab(p)->cls].avail++;
	}
	if (p == NULL)
		return;
	if (((uintptr_t)p & SS_MASK) == 0) {
		free_large(p); /* validates: fatal unless a 2 MiB-aligned large block */
		return;
	}
	chunk_t *ch = ptr_chunk(p);
	if (UNLIKELY(!chunk_is_ours(ch) || ch->magic != CHUNK_MAGIC))
		hm_fatal("invalid free of %p: not a block allocated by hakmem", p);
	if (ch->kind == CHUNK_LARGE) {
		free_large(p);
		return;
	}
	slab_t *s = arena_validate_block(p);
	tcache_t *tc = &tcache_tls;
	tcache_cold_t *cold = tcache_get_cold(tc);
	if (UNLIKELY(cold == NULL || cold == TCACHE_EXITED)) {
		arena_t *a = s->arena;
		unsigned c = s->cls;
		arena_dalloc(&p, 1, false);
		arena_merge_stats(a, c, 0, 1);
		atomic_add_relaxed(&g_bypass_nfree, 1);
		return;
	}
	unsigned c = s->cls;
	if (s->arena == tc->arena) {
		tcache_bin_t *b = &tc->bins[c];
		if (b->avail <= 0) {
			tcache_bin_flush(tc, cold, c, cold->cap[c] / 2);
			tcache_event(tc, cold);
		}
		if (b->avail <= 0) { /* capacity 0: straight back to the arena */
			arena_dalloc(&p, 1, false);
			cold->nremote_free[c]++;
			return;
		}
		*(void **)p = b->head;
		b->head = p;
		b->avail--;
		b->nfree++;
		return;
	}
	cold->nremote_free[c]++;
	*(void **)p = cold->remote[c];
	cold->remote[c] = p;
	cold->nremote_total++;
	if (++cold->nremote[c] >= cold->remote_batch[c]) {
		tcache_remote_flush_class(cold, c);
		tcache_event(tc, cold);
	}
}

/* ---- fork ---- */

void tcache_prefork(void)
{
	lock_acquire(&g_registry_lock);
}

void tcache_postfork_parent(void)
{
	lock_release(&g_registry_lock);
}

void tcache_postfork_child(void)
{
	lock_reinit(&g_registry_lock);
	/* Only the forking thread survives: forget the other caches (their
	 * blocks stay allocated, as with every allocator). */
	tcache_cold_t *self = tcache_tls.cold;
	tcache_cold_t *c = g_threads;
	while (c) {
		tcache_cold_t *next = c->next;
		if (c != self) {
			c->hot = NULL;
			cold_release_locked(c);
		}
		c = next;
	}
}
