/* registry.c - the chunk registry. See registry.h. */
#include "registry.h"
#include "atomic.h"
#include "os.h"

#include <errno.h>

#define REGISTRY_BITS ((size_t)1 << (47 - SS_SHIFT))

static uint64_t *g_chunks; /* [atomic] bit i: a header at i * 2 MiB */
static uint64_t *g_huge;   /* [atomic] bit i: a huge-aligned block starts at i * 2 MiB */

int registry_init(void)
{
	void *p; /* both bitmaps in one mapping: one system call at start-up */
	if (os_map_sparse(2 * (REGISTRY_BITS / 8), &p) != 0)
		return ENOMEM;
	g_chunks = p;
	g_huge = (uint64_t *)((char *)p + REGISTRY_BITS / 8);
	return 0;
}

static void bit_set(uint64_t *map, const void *p)
{
	uintptr_t i = (uintptr_t)p >> SS_SHIFT;
	__atomic_fetch_or(&map[i / 64], (uint64_t)1 << (i % 64), __ATOMIC_RELEASE);
}

static void bit_clear(uint64_t *map, const void *p)
{
	uintptr_t i = (uintptr_t)p >> SS_SHIFT;
	__atomic_fetch_and(&map[i / 64], ~((uint64_t)1 << (i % 64)), __ATOMIC_RELEASE);
}

static bool bit_test(const uint64_t *map, const void *p)
{
	uintptr_t i = (uintptr_t)p >> SS_SHIFT;
	if (map == NULL || i >= REGISTRY_BITS)
		return false;
	return (atomic_load_acquire(&map[i / 64]) >> (i % 64)) & 1;
}

void registry_add(const void *chunk)         { bit_set(g_chunks, chunk); }
void registry_remove(const void *chunk)      { bit_clear(g_chunks, chunk); }
void registry_add_huge(const void *user)     { bit_set(g_huge, user); }
void registry_remove_huge(const void *user)  { bit_clear(g_huge, user); }

chunk_t *registry_lookup(const void *p)
{
	if (((uintptr_t)p & SS_MASK) == 0 && bit_test(g_huge, p)) {
		chunk_t *c = (chunk_t *)p - 1;
		if (c->magic == CHUNK_MAGIC && c->kind == CHUNK_LARGE && c->huge_align)
			return c;
		return NULL;
	}
	chunk_t *c = ptr_chunk(p);
	if (!bit_test(g_chunks, c) || c->magic != CHUNK_MAGIC)
		return NULL;
	return c;
}
