/* superslab.c - the address space of SuperSlabs, creating them and
 * (re)initialising their slabs. The arena decides which units to use; this
 * file lays them out and owns the placeholders of destroyed ones. */
#include "superslab.h"
#include "atomic.h"
#include "lock.h"
#include "os.h"

#include <errno.h>
#include <string.h>

/* Placeholders: the 2 MiB ranges of the window whose whole SuperSlab was
 * destroyed. A placeholder is read-only, so the stack of them lives in
 * metadata of its own, grown by doubling. */
static lock_t g_vm_lock = LOCK_INITIALIZER;
static void **g_vm_free;     /* placeholder addresses [g_vm_lock] */
static size_t g_vm_nfree;    /* entries in g_vm_free [g_vm_lock] */
static size_t g_vm_cap;      /* capacity of g_vm_free [g_vm_lock] */
static uint64_t g_vm_bytes;  /* placeholder bytes [atomic; written under g_vm_lock] */

void superslab_prefork(void)         { lock_acquire(&g_vm_lock); }
void superslab_postfork_parent(void) { lock_release(&g_vm_lock); }
void superslab_postfork_child(void)  { lock_reinit(&g_vm_lock); }

uint64_t superslab_retained_vm(void)
{
	return atomic_load_relaxed(&g_vm_bytes);
}

/* g_vm_lock held. */
static bool vm_push_locked(void *p)
{
	if (g_vm_nfree == g_vm_cap) {
		size_t cap = g_vm_cap ? g_vm_cap * 2 : PAGE_SIZE / sizeof(void *);
		void *q;
		if (os_map(cap * sizeof(void *), &q) != 0)
			return false;
		if (g_vm_free != NULL) {
			memcpy(q, g_vm_free, g_vm_nfree * sizeof(void *));
			os_unmap(g_vm_free, g_vm_cap * sizeof(void *));
		}
		g_vm_free = q;
		g_vm_cap = cap;
	}
	g_vm_free[g_vm_nfree++] = p;
	atomic_store_relaxed(&g_vm_bytes, g_vm_bytes + SS_SIZE);
	return true;
}

void *superslab_map(uint32_t *units)
{
	lock_acquire(&g_vm_lock);
	if (g_vm_nfree > 0) {
		void *p = g_vm_free[--g_vm_nfree];
		atomic_store_relaxed(&g_vm_bytes, g_vm_bytes - SS_SIZE);
		lock_release(&g_vm_lock);
		if (os_map_at(p, SS_SIZE) == 0) {
			*units = SS_ALL_UNITS;
			return p;
		}
		/* No memory for it now: the kernel may have unmapped the
		 * placeholder before it refused; keep one there for later. */
		if (os_map_placeholder(p, SS_SIZE) != 0)
			return NULL;
		lock_acquire(&g_vm_lock);
		if (!vm_push_locked(p)) {
			lock_release(&g_vm_lock);
			os_unmap(p, SS_SIZE);
			return NULL;
		}
	}
	lock_release(&g_vm_lock);
	void *p;
	/* Under an address-space limit (ulimit -v), 2 MiB at once could take
	 * the whole margin a program has: a 2 MiB slot of the window with only
	 * its first unit (the header and slab 0) mapped, the others as needed. */
	if (!os_as_limited() && os_map_aligned(SS_SIZE, SS_SIZE, OS_WINDOW_SUPERSLAB, &p) == 0) {
		*units = SS_ALL_UNITS;
		return p;
	}
	if (os_map_aligned(SLAB_SIZE, SS_SIZE, OS_WINDOW_SUPERSLAB, &p) == 0) {
		*units = 1;
		return p;
	}
	return NULL;
}

int superslab_grow(superslab_t *ss)
{
	uint32_t missing = ~ss->hdr.ss.mapped_units;
	while (missing) {
		unsigned i = (unsigned)__builtin_ctz(missing);
		missing &= missing - 1;
		int err = os_map_noreplace((char *)ss + (size_t)i * SLAB_SIZE, SLAB_SIZE);
		if (err == ENOMEM)
			return -ENOMEM;
		if (err == 0) {
			ss->hdr.ss.mapped_units |= 1u << i;
			return (int)i;
		}
		/* EEXIST: another mapping took that unit's place; try the next */
	}
	return -EEXIST;
}

void superslab_shrink(superslab_t *ss, unsigned i)
{
	os_unmap((char *)ss + (size_t)i * SLAB_SIZE, SLAB_SIZE);
	ss->hdr.ss.mapped_units &= ~(1u << i);
}

/* Unmaps the mapped runs of units of a SuperSlab with holes. */
static void ss_unmap_units(superslab_t *ss)
{
	uint32_t m = ss->hdr.ss.mapped_units;
	for (unsigned i = 0, n; i < SLABS_PER_SS; i += n ? n : 1) {
		n = ss_run_at(m, i);
		if (n != 0)
			os_unmap((char *)ss + (size_t)i * SLAB_SIZE, (size_t)n * SLAB_SIZE);
	}
}

void superslab_destroy(superslab_t *ss)
{
	bool whole = ss->hdr.ss.mapped_units == SS_ALL_UNITS;
	ss->hdr.magic = 0;
	if (!whole) {
		/* Mapped under an address-space limit: give the address space
		 * back too. */
		ss_unmap_units(ss);
		return;
	}
	/* Outside the window (the window was full) nothing reads the header
	 * of a stale pointer without asking the registry: unmap it. */
	if (!ss_window_contains(ss) || os_map_placeholder(ss, SS_SIZE) != 0) {
		os_unmap(ss, SS_SIZE);
		return;
	}
	lock_acquire(&g_vm_lock);
	bool kept = vm_push_locked(ss);
	lock_release(&g_vm_lock);
	if (!kept)
		os_unmap(ss, SS_SIZE);
}

uint64_t superslab_release_vm(void)
{
	uint64_t bytes = 0;
	lock_acquire(&g_vm_lock);
	while (g_vm_nfree > 0) {
		os_unmap(g_vm_free[--g_vm_nfree], SS_SIZE);
		bytes += SS_SIZE;
	}
	atomic_store_relaxed(&g_vm_bytes, 0);
	lock_release(&g_vm_lock);
	return bytes;
}

superslab_t *superslab_init(void *p, struct arena *arena, uint32_t units)
{
	superslab_t *ss = p;
	ss->hdr.magic = CHUNK_MAGIC;
	ss->hdr.kind = CHUNK_SUPERSLAB;
	ss->hdr.arena = arena;
	ss->hdr.ss.mapped_units = units;
	ss->hdr.ss.free_units = units;
	ss->hdr.ss.dirty_units = 0;
	for (unsigned i = 0; i < SLABS_PER_SS; i++) {
		ss->slabs[i].index = (uint8_t)i;
		ss->slabs[i].head = (uint8_t)i;
		ss->slabs[i].base_off = (uint32_t)superslab_unit_start(i);
	}
	return ss;
}

void superslab_slab_init(superslab_t *ss, unsigned idx, unsigned cls, struct arena *arena)
{
	slab_t *s = &ss->slabs[idx];
	unsigned n = class_units[cls];
	size_t start = superslab_unit_start(idx);
	s->cls = (uint8_t)cls;
	s->state = SLAB_ACTIVE;
	s->in_partial = 0;
	s->nunits = (uint8_t)n;
	s->block_size = class_size[cls];
	s->cap = (uint16_t)(((size_t)(idx + n) * SLAB_SIZE - start) / s->block_size);
	s->used = 0;
	s->ncarved = 0;
	s->scan = 0;
	s->dirty = 0;
	s->bin_off = cls * 32;
	s->recip = (uint32_t)((((uint64_t)1 << 32) + s->block_size - 1) / s->block_size);
	s->next = NULL;
	s->prev = NULL;
	slab_bitmap_clear(s, s->cap);
	/* The further units answer free()'s fast path as the first does. */
	for (unsigned i = idx + 1; i < idx + n; i++) {
		slab_t *t = &ss->slabs[i];
		t->cls = (uint8_t)cls;
		t->state = SLAB_INTERIOR;
		t->head = (uint8_t)idx;
		t->bin_off = s->bin_off;
		__atomic_store_n(&t->arena, arena, __ATOMIC_RELEASE);
	}
	/* Publish the owner last: free() reads it without a lock. */
	__atomic_store_n(&s->arena, arena, __ATOMIC_RELEASE);
}

void superslab_slab_fini(superslab_t *ss, unsigned idx)
{
	slab_t *s = &ss->slabs[idx];
	unsigned n = s->nunits;
	for (unsigned i = idx; i < idx + n; i++) {
		slab_t *t = &ss->slabs[i];
		__atomic_store_n(&t->arena, NULL, __ATOMIC_RELEASE);
		t->state = SLAB_FREE;
		t->head = (uint8_t)i;
	}
	s->cap = 0;
}

void superslab_slab_resize(superslab_t *ss, unsigned idx, unsigned cls)
{
	slab_t *s = &ss->slabs[idx];
	unsigned n = s->nunits, n2 = class_units[cls];
	for (unsigned i = idx + n2; i < idx + n; i++) { /* given up */
		slab_t *t = &ss->slabs[i];
		__atomic_store_n(&t->arena, NULL, __ATOMIC_RELEASE);
		t->state = SLAB_FREE;
		t->head = (uint8_t)i;
	}
	s->cls = (uint8_t)cls;
	s->nunits = (uint8_t)n2;
	s->block_size = class_size[cls];
	s->recip = (uint32_t)((((uint64_t)1 << 32) + s->block_size - 1) / s->block_size);
	s->bin_off = cls * 32;
	for (unsigned i = idx + 1; i < idx + n2; i++) {
		slab_t *t = &ss->slabs[i];
		t->cls = (uint8_t)cls;
		t->state = SLAB_INTERIOR;
		t->head = (uint8_t)idx;
		t->bin_off = s->bin_off;
		__atomic_store_n(&t->arena, s->arena, __ATOMIC_RELEASE);
	}
}
