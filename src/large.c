/* large.c - large blocks: aligned mappings, a per-arena cache, decay. */
#include "large.h"
#include "arena.h"
#include "atomic.h"
#include "background.h"
#include "conf.h"
#include "log.h"
#include "os.h"
#include "registry.h"

#include <errno.h>
#include <string.h>

/* Bytes to map for a block of `size` at offset `off`; 0 on overflow. */
static size_t large_map_size(size_t off, size_t size)
{
	if (size > ((size_t)1 << 62))
		return 0;
	return ALIGN_UP(off + size, PAGE_SIZE);
}

static void large_write_header(chunk_t *c, arena_t *a, void *base, size_t map_size, void *user,
                               size_t usable, bool huge)
{
	c->magic = CHUNK_MAGIC;
	c->kind = CHUNK_LARGE;
	c->huge_align = huge;
	c->arena = a;
	c->large.map_base = base;
	c->large.map_size = map_size;
	c->large.user = user;
	c->large.usable = usable;
}

uint64_t g_large_nlive, g_large_live_bytes;   /* process-wide [atomic] */
uint64_t g_large_peak_n, g_large_peak_bytes;  /* their highest values [atomic] */

static void peak_raise(uint64_t *peak, uint64_t v)
{
	uint64_t old = atomic_load_relaxed(peak);
	while (v > old && !__atomic_compare_exchange_n(peak, &old, v, true, __ATOMIC_RELAXED,
	                                               __ATOMIC_RELAXED))
		;
}

/* c becomes live with `bytes` mapped; large_lock held. */
static void live_push(arena_t *a, chunk_t *c, size_t bytes)
{
	c->large.prev = NULL;
	c->large.next = a->large_live;
	if (a->large_live)
		a->large_live->large.prev = c;
	a->large_live = c;
	a->large_live_bytes += bytes;
	a->large_nlive++;
	peak_raise(&g_large_peak_n, atomic_add_relaxed(&g_large_nlive, 1));
	peak_raise(&g_large_peak_bytes, atomic_add_relaxed(&g_large_live_bytes, bytes));
}

/* A live block's mapping went from `old` to `size` bytes; large_lock held. */
static void live_resize(arena_t *a, size_t old, size_t size)
{
	a->large_live_bytes += size - old;
	if (size > old)
		peak_raise(&g_large_peak_bytes, atomic_add_relaxed(&g_large_live_bytes, size - old));
	else
		atomic_sub_relaxed(&g_large_live_bytes, old - size);
}

static void live_remove(arena_t *a, chunk_t *c, size_t bytes)
{
	if (c->large.prev)
		c->large.prev->large.next = c->large.next;
	else
		a->large_live = c->large.next;
	if (c->large.next)
		c->large.next->large.prev = c->large.prev;
	c->large.next = c->large.prev = NULL;
	a->large_live_bytes -= bytes;
	a->large_nlive--;
	atomic_sub_relaxed(&g_large_nlive, 1);
	atomic_sub_relaxed(&g_large_live_bytes, bytes);
}

/* A mapping for a large block; under a memory or address-space limit, what
 * every arena keeps free is given back first. */
static int large_map(size_t size, size_t align, void **out)
{
	if (os_map_aligned(size, align, OS_WINDOW_LARGE, out) == 0)
		return 0;
	arenas_reclaim();
	return os_map_aligned(size, align, OS_WINDOW_LARGE, out);
}

static void *large_alloc_huge(arena_t *a, size_t size, size_t align, bool *zeroed)
{
	size_t body = ALIGN_UP(size, PAGE_SIZE);
	if (size > ((size_t)1 << 62) || body + align < body) {
		errno = ENOMEM;
		return NULL;
	}
	void *base;
	if (large_map(body + align, align, &base) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	arena_place(a, base, body + align);
	char *user = (char *)base + align;
	chunk_t *c = (chunk_t *)(user - sizeof(chunk_t));
	large_write_header(c, a, base, body + align, user, body, true);
	registry_add_huge(user);
	lock_acquire(&a->large_lock);
	live_push(a, c, body + align);
	a->large_allocated += body;
	a->large_nmalloc++;
	a->large_nmaps++;
	lock_release(&a->large_lock);
	*zeroed = true;
	return user;
}

static void *large_alloc_fresh(arena_t *a, size_t need, size_t off, bool *zeroed);
static chunk_t *large_remap(chunk_t *c, size_t need);

void *large_alloc(arena_t *a, size_t size, size_t align, bool *zeroed)
{
	if (align >= SS_SIZE)
		return large_alloc_huge(a, size, align, zeroed);
	size_t off = align > LARGE_HDR ? align : LARGE_HDR;
	size_t need = large_map_size(off, size);
	if (need == 0) {
		errno = ENOMEM;
		return NULL;
	}
	chunk_t *c = NULL;
	size_t have = 0, trim = 0;
	lock_acquire(&a->large_lock);
	/* Best fit among cached mappings up to twice the size: the excess beyond a
	 * quarter is unmapped (one munmap, and the reused pages do not fault). */
	int best = -1;
	for (int i = 0; i < LARGE_CACHE_SLOTS; i++) {
		chunk_t *e = a->large_cache[i].chunk;
		if (e && e->large.map_size >= need && e->large.map_size - need <= need &&
		    (best < 0 || e->large.map_size < a->large_cache[best].chunk->large.map_size))
			best = i;
	}
	/* None that large: the largest smaller one grows (mremap): its
	 * resident pages need no fault again. */
	bool grow = false;
	if (best < 0)
		for (int i = 0; i < LARGE_CACHE_SLOTS; i++) {
			chunk_t *e = a->large_cache[i].chunk;
			if (e && e->large.map_size >= need / 4 &&
			    (best < 0 || e->large.map_size > a->large_cache[best].chunk->large.map_size))
				best = i, grow = true;
		}
	if (best >= 0) {
		c = a->large_cache[best].chunk;
		a->large_cache[best].chunk = NULL;
		have = c->large.map_size;
		a->large_cached_bytes -= have;
		if (!grow && have - need > need / 4) {
			trim = have - need;
			have = need;
		}
		c->large.map_size = have;
		live_push(a, c, have);
		a->large_allocated += have - off;
		a->large_nmalloc++;
	}
	lock_release(&a->large_lock);
	if (c != NULL) {
		if (trim)
			os_unmap((char *)c + have, trim);
		char *user = (char *)c + off;
		large_write_header(c, a, c, have, user, have - off, false);
		*zeroed = false;
		if (grow) {
			chunk_t *nc = large_remap(c, need);
			if (nc == NULL) { /* keep what it has: too small, give it back */
				large_release(c, false);
				lock_acquire(&a->large_lock);
				a->large_nmalloc--;
				lock_release(&a->large_lock);
				return large_alloc_fresh(a, need, off, zeroed);
			}
			return (char *)nc + off;
		}
		return user;
	}
	return large_alloc_fresh(a, need, off, zeroed);
}

/* A new mapping of `need` bytes for a block at offset off. */
static void *large_alloc_fresh(arena_t *a, size_t need, size_t off, bool *zeroed)
{
	void *base;
	if (large_map(need, SS_SIZE, &base) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	arena_place(a, base, need);
	chunk_t *c = base;
	char *user = (char *)base + off;
	large_write_header(c, a, base, need, user, need - off, false);
	registry_add(c);
	lock_acquire(&a->large_lock);
	live_push(a, c, need);
	a->large_allocated += need - off;
	a->large_nmalloc++;
	a->large_nmaps++;
	lock_release(&a->large_lock);
	*zeroed = true;
	return user;
}

static void large_unmap(chunk_t *c)
{
	void *base = c->large.map_base;
	size_t size = c->large.map_size;
	c->magic = 0;
	if (c->huge_align)
		registry_remove_huge(c + 1); /* the block starts right above its header */
	else
		registry_remove(c);
	os_unmap(base, size);
}

void large_free(void *p, chunk_t *c)
{
	if (c->large.user != p) {
		if (c->large.user == NULL)
			hm_fatal("double free of %p (large block is already free)", p);
		hm_fatal("invalid free of %p: not the start of a large block", p);
	}
	c->large.user = NULL;
	large_release(c, true);
}

void large_stash(chunk_t *c)
{
	c->large.user = NULL;
}

void *large_reuse(chunk_t *c, size_t size)
{
	size_t need = large_map_size(LARGE_HDR, size);
	size_t have = c->large.map_size;
	if (need == 0 || c->huge_align || have < need || have - need > need / 4)
		return NULL;
	char *user = (char *)c + LARGE_HDR;
	size_t old_usable = c->large.usable;
	c->large.user = user;
	c->large.usable = have - LARGE_HDR;
	if (old_usable != c->large.usable) {
		arena_t *a = c->arena;
		lock_acquire(&a->large_lock);
		a->large_allocated += c->large.usable - old_usable;
		lock_release(&a->large_lock);
	}
	return user;
}

void large_count(arena_t *a, uint64_t nmalloc, uint64_t nfree)
{
	if (nmalloc == 0 && nfree == 0)
		return;
	lock_acquire(&a->large_lock);
	a->large_nmalloc += nmalloc;
	a->large_nfree += nfree;
	lock_release(&a->large_lock);
}

void large_release(chunk_t *c, bool count_free)
{
	arena_t *a = c->arena;
	size_t map_size = c->large.map_size;
	size_t usable = c->large.usable;
	chunk_t *evict = NULL;
	uint64_t now = os_now_ns();
	lock_acquire(&a->large_lock);
	live_remove(a, c, map_size);
	a->large_allocated -= usable;
	a->large_nfree += count_free;
	bool cache = !c->huge_align && g_conf.decay_ms != 0 && map_size <= g_conf.large_cache_max;
	if (cache) {
		int slot = -1;
		uint64_t oldest = UINT64_MAX;
		for (int i = 0; i < LARGE_CACHE_SLOTS; i++) {
			if (a->large_cache[i].chunk == NULL) {
				slot = i;
				break;
			}
			if (a->large_cache[i].freed_at < oldest) {
				oldest = a->large_cache[i].freed_at;
				slot = i;
			}
		}
		if (a->large_cache[slot].chunk) {
			evict = a->large_cache[slot].chunk;
			a->large_cached_bytes -= evict->large.map_size;
		}
		a->large_cache[slot].chunk = c;
		a->large_cache[slot].freed_at = now;
		a->large_cached_bytes += map_size;
		/* Keep the cache within its byte budget. */
		while (a->large_cached_bytes > g_conf.large_cache_max) {
			int victim = -1;
			for (int i = 0; i < LARGE_CACHE_SLOTS; i++)
				if (a->large_cache[i].chunk && a->large_cache[i].chunk != c &&
				    (victim < 0 ||
				     a->large_cache[i].freed_at < a->large_cache[victim].freed_at))
					victim = i;
			if (victim < 0)
				break;
			chunk_t *v = a->large_cache[victim].chunk;
			a->large_cache[victim].chunk = NULL;
			a->large_cached_bytes -= v->large.map_size;
			lock_release(&a->large_lock);
			large_unmap(v);
			lock_acquire(&a->large_lock);
		}
	}
	lock_release(&a->large_lock);
	if (evict)
		large_unmap(evict);
	if (!cache)
		large_unmap(c);
	else if (g_conf.decay_ms >= 0 && now >= a->large_next_purge)
		large_cache_purge(a, now, false);
	if (cache)
		background_note(); /* a cached mapping to decay */
}

uint64_t large_cache_purge(arena_t *a, uint64_t now, bool force)
{
	int64_t decay = g_conf.decay_ms;
	if (decay < 0 && !force)
		return 0;
	uint64_t delay = force || decay < 0 ? 0 : (uint64_t)decay * 1000000u;
	/* The next pass is due when the oldest entry left expires; at most one
	 * pass per 1/8 of the delay. */
	atomic_store_relaxed(&a->large_next_purge, now + decay_gap(delay));
	uint64_t released = 0;
	for (;;) {
		chunk_t *victim = NULL;
		lock_acquire(&a->large_lock);
		for (int i = 0; i < LARGE_CACHE_SLOTS; i++) {
			large_entry_t *e = &a->large_cache[i];
			if (e->chunk && now - e->freed_at >= delay && now >= e->freed_at) {
				victim = e->chunk;
				e->chunk = NULL;
				a->large_cached_bytes -= victim->large.map_size;
				break;
			}
		}
		lock_release(&a->large_lock);
		if (victim == NULL) {
			atomic_add_relaxed(&a->purged, released);
			return released;
		}
		released += victim->large.map_size;
		large_unmap(victim);
	}
}

/* Grows or shrinks the mapping of live block c (not huge-aligned) to `need`
 * bytes: the tail is given back, or the mapping grows in place, or its pages
 * move to a new address of the window with mremap (no copy). The block's new
 * header, or NULL when the kernel refuses (c is unchanged). */
static chunk_t *large_remap(chunk_t *c, size_t need)
{
	arena_t *a = c->arena;
	size_t have = c->large.map_size, off = (size_t)((char *)c->large.user - (char *)c);
	if (need <= have) {
		if (os_unmap((char *)c + need, have - need) != 0)
			return NULL;
	} else if (os_remap(c, have, need, NULL) == 0) {
		arena_place(a, (char *)c + have, need - have);
	} else {
		void *dst;
		if (os_map_aligned(need, SS_SIZE, OS_WINDOW_LARGE, &dst) != 0)
			return NULL;
		/* Out of the live list while its header moves. */
		lock_acquire(&a->large_lock);
		live_remove(a, c, have);
		lock_release(&a->large_lock);
		registry_remove(c);
		if (os_remap(c, have, need, dst) != 0) {
			os_unmap(dst, need);
			registry_add(c);
			lock_acquire(&a->large_lock);
			live_push(a, c, have);
			lock_release(&a->large_lock);
			return NULL;
		}
		chunk_t *nc = dst;
		arena_place(a, (char *)nc + have, need - have);
		large_write_header(nc, a, nc, need, (char *)nc + off, need - off, false);
		registry_add(nc);
		lock_acquire(&a->large_lock);
		live_push(a, nc, need);
		a->large_allocated += need - have;
		lock_release(&a->large_lock);
		return nc;
	}
	c->large.map_size = need;
	c->large.usable = need - off;
	lock_acquire(&a->large_lock);
	live_resize(a, have, need);
	a->large_allocated += need - have; /* wraps back for a shrink */
	lock_release(&a->large_lock);
	return c;
}

void *large_resize(void *p, size_t size)
{
	chunk_t *c = registry_lookup(p);
	if (c == NULL || c->kind != CHUNK_LARGE || c->huge_align || c->large.user != p)
		return NULL;
	size_t off = (size_t)((char *)p - (char *)c);
	size_t need = large_map_size(off, size), have = c->large.map_size;
	if (need == 0)
		return NULL;
	/* Shrinking by a quarter or less keeps the mapping as it is. */
	if (need <= have && have - need <= need / 4)
		return p;
	chunk_t *nc = large_remap(c, need);
	return nc != NULL ? (char *)nc + off : NULL;
}
