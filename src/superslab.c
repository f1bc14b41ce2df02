/* superslab.c - creating SuperSlabs and (re)initialising their slabs. The
 * arena decides which units to use; this file only lays them out. */
#include "superslab.h"
#include "os.h"

#include <string.h>

uint64_t g_tcache_tpoff;

void *superslab_map(void)
{
	void *p;
	return os_map_aligned(SS_SIZE, SS_SIZE, &p) == 0 ? p : NULL;
}

superslab_t *superslab_init(void *p, struct arena *arena)
{
	superslab_t *ss = p;
	ss->hdr.magic = CHUNK_MAGIC;
	ss->hdr.kind = CHUNK_SUPERSLAB;
	ss->hdr.arena = arena;
	ss->hdr.ss.free_units = 0xffffffffu;
	ss->hdr.ss.dirty_units = 0;
	for (unsigned i = 0; i < SLABS_PER_SS; i++)
		ss->slabs[i].index = (uint8_t)i;
	return ss;
}

void superslab_destroy(superslab_t *ss)
{
	ss->hdr.magic = 0;
	os_unmap(ss, SS_SIZE);
}

void superslab_slab_init(superslab_t *ss, unsigned idx, unsigned cls, struct arena *arena)
{
	slab_t *s = &ss->slabs[idx];
	size_t start = superslab_unit_start(idx);
	s->cls = (uint8_t)cls;
	s->state = SLAB_ACTIVE;
	s->in_partial = 0;
	s->block_size = class_size[cls];
	s->cap = (uint16_t)((SLAB_SIZE - (start - (size_t)idx * SLAB_SIZE)) / s->block_size);
	s->used = 0;
	s->ncarved = 0;
	s->nfree = 0;
	s->bin_tpoff = g_tcache_tpoff + (uint64_t)cls * 32;
	s->recip = (uint32_t)((((uint64_t)1 << 32) + s->block_size - 1) / s->block_size);
	s->free = NULL;
	s->next = NULL;
	s->prev = NULL;
	memset(ss->bitmap[idx], 0, (s->cap + 63) / 64 * sizeof(uint64_t));
	/* Publish the owner last: free() reads it without a lock. */
	__atomic_store_n(&s->arena, arena, __ATOMIC_RELEASE);
}

void superslab_slab_fini(superslab_t *ss, unsigned idx)
{
	slab_t *s = &ss->slabs[idx];
	__atomic_store_n(&s->arena, NULL, __ATOMIC_RELEASE);
	s->state = SLAB_FREE;
	s->cap = 0;
	s->free = NULL;
}
