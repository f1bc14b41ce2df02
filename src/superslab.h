/* superslab.h - SuperSlabs, slabs and the chunk header of every 2 MiB-aligned
 * hakmem mapping.
 *
 * A SuperSlab (2 MiB, aligned to 2 MiB) starts with its header:
 *
 *   offset 0      chunk_t   (64 B)  kind, owner arena, unit bitmaps, list links
 *   offset 64     slab_t[32] (64 B each) metadata of slab i (the 64 KiB unit i)
 *   offset 2112   free bitmaps, 512 B per unit (1 bit per block: free in slab),
 *                 interleaved by word. The bitmap is the slab's only record of
 *                 its free blocks: no free block is written or read while it
 *                 sits in its slab
 *   offset 18496  slab_remote_t[32] (64 B each): blocks of slab i freed by
 *                 threads of other arenas (written by those threads only,
 *                 never on a line the owner's fast path reads)
 *   offset 32 KiB first block of slab 0; slab i > 0 starts at i * 64 KiB
 *
 * so free() finds a block's slab with two instructions: mask the pointer down
 * to the chunk, shift its offset down to the slab index. Slabs of different
 * classes share a SuperSlab. A large block's mapping starts with the same
 * chunk_t. No per-block header exists anywhere.
 *
 * SuperSlabs live in one address window (os.h: 16-32 TiB). free()'s fast path
 * reads a slab_t only for a pointer inside it, which one compare tells: any
 * other pointer (NULL, the stack, another allocator's heap, a large block,
 * whose mappings live elsewhere) goes to the slow path, which asks the
 * registry before it reads anything. A SuperSlab that is given back leaves a
 * read-only placeholder (os_map_placeholder) that the next SuperSlab reuses,
 * so the window holds no hole a stale pointer could fault on: its header
 * reads as zeros, which no thread's arena matches.
 */
#ifndef HAKMEM_SUPERSLAB_H
#define HAKMEM_SUPERSLAB_H

#include "internal.h"
#include "os.h"
#include "sizeclass.h"

struct arena;

#define CHUNK_MAGIC 0x4d4b4148u /* "HAKM" */

enum chunk_kind {
	CHUNK_SUPERSLAB = 1,
	CHUNK_LARGE = 2,
};

enum slab_state {
	SLAB_FREE = 0,     /* unit not in use (its slab_t is zero but for index
	                      and head) */
	SLAB_ACTIVE = 1,   /* the first unit of a slab serving a class */
	SLAB_INTERIOR = 2, /* a further unit of a slab that spans several: its
	                      arena, cls and bin_off repeat the first unit's, for
	                      free()'s fast path; head names the first */
};

/* Metadata of one 64 KiB unit, and of the slab that starts there. A slab is
 * a span of class_units[cls] units; every field but the first five below
 * lives in its first unit's slab_t only. Lives in the SuperSlab header. */
typedef struct slab {
	struct arena *arena;  /* owner; NULL while free. Read by free()'s fast path
	                         without a lock: written only while no block of
	                         the slab is outside it [arena->ss_lock] */
	uint8_t cls;          /* size class [immutable while active] */
	uint8_t state;        /* enum slab_state [bin lock] */
	uint8_t index;        /* unit index in the SuperSlab [immutable] */
	uint8_t head;         /* index of the slab's first unit (index itself for
	                         a first or free unit) [immutable while active] */
	uint8_t in_partial;   /* on the bin's partial list [bin lock] */
	uint8_t nunits;       /* units the slab spans [immutable while active] */
	uint16_t scan;        /* the first word of the free bitmap that may have a
	                         bit set: the words before it have none [bin lock] */
	uint16_t cap;         /* blocks the slab holds [immutable while active] */
	uint16_t used;        /* blocks outside the slab: in tcaches, held, or on its
	                         remote list [bin lock] */
	uint16_t ncarved;     /* blocks carved so far; carving is lazy. The free
	                         bitmap's bits, all below it, number ncarved - used:
	                         the slab's free blocks [bin lock] */
	uint16_t dirty;       /* a block came home since the slab's last page purge
	                         (classes of a page or more, arena.c) [bin lock] */
	uint32_t block_size;  /* class_size[cls] [immutable while active] */
	uint32_t recip;       /* ceil(2^32 / block_size): offset -> index [immutable] */
	uint32_t bin_off;     /* byte offset of this class's bin in a thread cache
	                         (cls * 32): free()'s fast path needs no index
	                         arithmetic [immutable while active] */
	uint32_t base_off;    /* superslab_unit_start(index): where the unit's (and
	                         a slab starting there, its first block's) bytes
	                         start in the SuperSlab [immutable] */
	uint64_t reserved;    /* unused: keeps the line's layout */
	struct slab *next;    /* bin's partial list [bin lock] */
	union {
		struct slab *prev;    /* while active: bin's partial list [bin lock] */
		uint64_t free_since;  /* while free: when it became free, ns [ss_lock] */
	};
} slab_t;

/* The first 64 bytes of every 2 MiB-aligned mapping. */
typedef struct chunk {
	uint32_t magic;       /* CHUNK_MAGIC */
	uint8_t kind;         /* enum chunk_kind */
	uint8_t on_avail;     /* in the arena's bucket on_avail - 1 of SuperSlabs with
	                         free units, 0 for none [ss_lock] */
	uint16_t huge_align;  /* large: header sits below a 2 MiB-aligned block */
	struct arena *arena;  /* owner [immutable] */
	union {
		struct {              /* CHUNK_SUPERSLAB [arena->ss_lock] */
			uint32_t free_units;  /* bit i: slab i is free */
			uint32_t dirty_units; /* bit i: free slab i still has resident pages */
			struct chunk *next;   /* arena's bucket of SuperSlabs with free units */
			struct chunk *prev;
			struct chunk *all_next; /* every SuperSlab of the arena */
			uint64_t empty_since; /* all units free since, ns */
			uint32_t mapped_units; /* bit i: unit i is mapped. All of them,
			                          except under an address-space limit: then
			                          units are mapped one at a time as they are
			                          needed, and free ones unmapped when memory
			                          runs out (unit 0, with the header, always
			                          stays); free_units is a subset */
		} ss;
		struct {              /* CHUNK_LARGE [owner only, or the cache lock] */
			void *map_base;       /* start of the mapping */
			size_t map_size;      /* bytes mapped */
			size_t usable;        /* bytes the program may use */
			void *user;           /* the pointer malloc returned; NULL once freed */
			struct chunk *next;   /* arena's live large blocks [large_lock] */
			struct chunk *prev;
		} large;
	};
} chunk_t;

/* The remote frees of one slab (its first unit's entry), the cross-thread
 * path (arena.h: arena_free_remote): a thread of another arena pushes the
 * block on `xfree` with one compare-and-swap; the push that finds `xfree`
 * empty also puts the slab on its bin's `xslabs` list. The owner's bin takes
 * both lists whole (an exchange each) under its lock and gives the blocks
 * back to the slab (arena.c: bin_collect). A block on `xfree` still counts
 * as used: the slab cannot go away under a pusher. */
typedef struct slab_remote {
	void *xfree;          /* blocks, linked through their first word [atomic] */
	struct slab *xnext;   /* next slab on the bin's xslabs: written by the push
	                         that made xfree non-empty, read by the bin before it
	                         takes xfree */
	char pad[48];
} slab_remote_t;

_Static_assert(sizeof(slab_t) == 64, "slab_t is one cache line");
_Static_assert(sizeof(slab_remote_t) == 64, "slab_remote_t is one cache line");
_Static_assert(sizeof(chunk_t) == 64, "chunk_t is one cache line");

#define SS_BITMAP_WORDS  (SLAB_SIZE / 16 / 64)  /* 64 words: one bit per 16 B */

typedef struct superslab {
	chunk_t hdr;
	slab_t slabs[SLABS_PER_SS];
	/* Word w of unit i's free bitmap is bitmap[w][i]: the first words of
	 * every unit share the header's first page, so a SuperSlab of large
	 * classes (a few blocks a slab, one word) touches one header page. */
	uint64_t bitmap[SS_BITMAP_WORDS][SLABS_PER_SS];
	slab_remote_t remote[SLABS_PER_SS];
} superslab_t;

#define SS_HEADER_SIZE   sizeof(superslab_t)
#define SLAB0_START      ((size_t)32 * KiB)  /* keeps blocks of 2^k <= 32 KiB aligned */
_Static_assert(SS_HEADER_SIZE <= SLAB0_START, "SuperSlab header fits below slab 0");

/* Whether p lies in the SuperSlab window: the only pointers whose slab_t
 * free()'s fast path reads. */
FAST_PATH bool ss_window_contains(const void *p)
{
	return ((uintptr_t)p >> OS_WINDOW_SHIFT) == OS_WINDOW_SUPERSLAB + 1;
}

FAST_PATH chunk_t *ptr_chunk(const void *p)
{
	return (chunk_t *)((uintptr_t)p & ~(uintptr_t)SS_MASK);
}

FAST_PATH superslab_t *ptr_superslab(const void *p)
{
	return (superslab_t *)ptr_chunk(p);
}

/* The slab_t of the 64 KiB unit holding p (or, for a large chunk, the zeroed
 * slab_t that routes free() to the slow path). */
FAST_PATH slab_t *ptr_slab(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	return (slab_t *)((a & ~(uintptr_t)SS_MASK) + sizeof(chunk_t) +
	                  ((a >> (SLAB_SHIFT - 6)) & ((SLABS_PER_SS - 1) << 6)));
}

FAST_PATH size_t superslab_unit_start(unsigned idx);

/* The slab (its first unit's slab_t) that unit slab_t s belongs to. */
FAST_PATH slab_t *slab_head(slab_t *s)
{
	return s - (s->index - s->head);
}

/* The slab holding p: slow paths, which need the slab's own fields. */
FAST_PATH slab_t *ptr_slab_head(const void *p)
{
	return slab_head(ptr_slab(p));
}

FAST_PATH char *slab_base(slab_t *s)
{
	return (char *)ptr_chunk(s) + s->base_off;
}

/* Index of block p in its slab, or -1 if p is not the start of a block. */
FAST_PATH long slab_block_index(slab_t *s, const void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)slab_base(s);
	if (off >= (uintptr_t)s->cap * s->block_size)
		return -1;
	uint32_t idx = (uint32_t)(((uint64_t)off * s->recip) >> 32);
	if ((uintptr_t)idx * s->block_size != off)
		return -1;
	return (long)idx;
}

/* The slab of p, a pointer of the SuperSlab window, if p starts a block of
 * an active slab (a unit with an owner belongs to one; a free unit, and the
 * placeholder of a SuperSlab given back, read as owned by none); NULL
 * otherwise, and the slow paths' registry lookup names what p is. */
FAST_PATH slab_t *window_block_slab(const void *p)
{
	slab_t *u = ptr_slab(p);
	if (u->arena == NULL)
		return NULL;
	slab_t *s = slab_head(u);
	return slab_block_index(s, p) >= 0 ? s : NULL;
}

/* The remote-free lists of slab s (a first unit's slab_t). */
FAST_PATH slab_remote_t *slab_remote(slab_t *s)
{
	return &((superslab_t *)ptr_chunk(s))->remote[s->index];
}

/* Word w of slab s's free bitmap (bit i: block i is free in the slab). */
FAST_PATH uint64_t *slab_bitmap_word(slab_t *s, size_t w)
{
	return &((superslab_t *)ptr_chunk(s))->bitmap[w][s->index];
}

/* Clears the words of slab s's bitmap that cover its first nbits blocks. */
FAST_PATH void slab_bitmap_clear(slab_t *s, size_t nbits)
{
	for (size_t w = 0; w < (nbits + 63) / 64; w++)
		*slab_bitmap_word(s, w) = 0;
}

#define SS_ALL_UNITS 0xffffffffu
_Static_assert(SLABS_PER_SS == 32, "a unit mask is 32 bits");

/* Maps the memory of a new SuperSlab, untouched: a placeholder a destroyed
 * one left, or a new address of the window; *units says which of its units
 * are mapped (all, or under an address-space limit only unit 0). NULL on
 * ENOMEM. */
void *superslab_map(uint32_t *units);
/* Maps one more unit of a SuperSlab that lacks some: its index, -ENOMEM
 * when the kernel refuses for want of memory, -EEXIST when the places of its
 * missing units are taken. ss's arena's ss_lock held. */
int superslab_grow(superslab_t *ss);
/* Unmaps free unit i (not 0) of a SuperSlab: memory ran out. ss_lock held. */
void superslab_shrink(superslab_t *ss, unsigned i);
/* Lays out a SuperSlab for `arena` in memory from superslab_map (after its
 * NUMA placement): its mapped units free. */
superslab_t *superslab_init(void *mem, struct arena *arena, uint32_t units);

/* The length of the run of set bits of m that starts at bit i (0 if bit i
 * is clear): a run of mapped units. */
FAST_PATH unsigned ss_run_at(uint32_t m, unsigned i)
{
	uint32_t rest = ~(m >> i);
	return rest == 0 ? SLABS_PER_SS - i : (unsigned)__builtin_ctz(rest);
}

/* Bytes of c mapped. */
FAST_PATH size_t ss_mapped_bytes(const chunk_t *c)
{
	return (size_t)__builtin_popcount(c->ss.mapped_units) * SLAB_SIZE;
}

/* Gives the memory back, keeping its address range as a placeholder when it
 * was whole. */
void superslab_destroy(superslab_t *ss);

/* Address space held by placeholders, bytes. */
uint64_t superslab_retained_vm(void);
/* Unmaps every placeholder (under an address-space limit, before a mapping
 * is refused). Returns the bytes released. */
uint64_t superslab_release_vm(void);

void superslab_prefork(void);
void superslab_postfork_parent(void);
void superslab_postfork_child(void);

/* Prepares the free units idx .. idx + class_units[cls] - 1 of ss to serve
 * class `cls` for `arena`, as one slab. */
void superslab_slab_init(superslab_t *ss, unsigned idx, unsigned cls, struct arena *arena);

/* The slab at idx, one block filling its units, becomes one of class cls
 * (also one block filling its units): the units past the new end are given
 * up (free state), those gained become its further units. The caller has
 * taken the gained units from the SuperSlab, or gives back the lost ones. */
void superslab_slab_resize(superslab_t *ss, unsigned idx, unsigned cls);

/* Resets the units of the slab at idx to the free state. */
void superslab_slab_fini(superslab_t *ss, unsigned idx);

/* First and last byte offsets of unit idx that blocks may use. */
FAST_PATH size_t superslab_unit_start(unsigned idx)
{
	return idx == 0 ? SLAB0_START : (size_t)idx * SLAB_SIZE;
}

#endif
