/* sizeclass.h - the size classes of slab blocks.
 *
 * 16..64 B in steps of 8, then four classes per doubling up to
 * CLASS_MAX_SIZE (1.75 MiB): consecutive classes are at most 25 % apart from
 * 32 B up. Below that, 8 B is the step: every block stays 8-aligned
 * (16-aligned where its size is a multiple of 16), as with mimalloc; a
 * 4-aligned 20 B class would break programs that tag pointer bits. Sizes up
 * to TINY_MAX_SIZE are looked up in a table; the "tiny" tier is what the
 * tiny.* ctl keys address.
 *
 * A slab of class c is a span of class_units[c] contiguous 64 KiB units of a
 * SuperSlab: the fewest units that hold at least 8 blocks (up to 32 KiB) or
 * one block (above), wasting at most 1/16 of the span. Blocks above 256 KiB
 * are multiples of 64 KiB and get a span of their own, with no waste. The
 * largest class, 28 units, fits a SuperSlab beside its header; larger blocks
 * are direct mappings (large.h).
 */
#ifndef HAKMEM_SIZECLASS_H
#define HAKMEM_SIZECLASS_H

#include "internal.h"

#define NCLASSES        66
#define TINY_NCLASSES   23
#define TINY_MAX_SIZE   ((size_t)1024)
#define SMALL_MAX_SIZE  ((size_t)32768)       /* classes above hold few blocks */
#define CLASS_MAX_SIZE  ((size_t)1835008)     /* 1.75 MiB: the largest class */
#define CLASS_ALIGN_MAX ((size_t)32768)       /* alignments a class can give */

/* Block size of each class. */
extern const uint32_t class_size[NCLASSES];
/* 64 KiB units of a slab of each class. */
extern const uint8_t class_units[NCLASSES];
/* Class of a size <= TINY_MAX_SIZE, indexed by (size + 7) >> 3. */
extern const uint8_t class_small_index[TINY_MAX_SIZE / 8 + 1];

/* class_small_index[(size + 7) >> 3] * 32, indexed by size: malloc's fast path. */
extern const uint16_t tiny_bin_off[TINY_MAX_SIZE + 1];

/* Smallest class whose blocks hold `size` bytes. Pre: size <= CLASS_MAX_SIZE. */
FAST_PATH unsigned size_to_class(size_t size)
{
	if (LIKELY(size <= TINY_MAX_SIZE))
		return class_small_index[(size + 7) >> 3];
	/* 2^k < size <= 2^(k+1): four classes of step 2^(k-2) in that range. */
	unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
	size_t step = (size_t)1 << (k - 2);
	unsigned idx = (unsigned)((size - ((size_t)1 << k) + step - 1) >> (k - 2)) - 1u;
	return 7u + 4u * (k - 6u) + idx;
}

/* Smallest class whose blocks hold `size` bytes and are aligned to `align`
 * (a power of two), or NCLASSES if none: the block is a large one. Every
 * allocation path chooses its class here. */
FAST_PATH unsigned size_to_class_aligned(size_t size, size_t align)
{
	if (size > CLASS_MAX_SIZE || align > CLASS_ALIGN_MAX)
		return NCLASSES;
	unsigned c = size_to_class(size);
	if (LIKELY(align <= 8))
		return c; /* every class is 8-aligned */
	for (; c < NCLASSES; c++)
		if ((class_size[c] & (align - 1)) == 0)
			return c;
	return NCLASSES;
}

/* Whether a slab of class c holds one block (its units are the block):
 * realloc resizes such a slab by units. */
FAST_PATH bool class_is_solo(unsigned c)
{
	return (size_t)class_units[c] * SLAB_SIZE == class_size[c];
}

/* Whether block p of class c (not solo) holds `size` bytes (<= its size) in
 * place: the same class, or a shrink to half the block or more (mimalloc's
 * rule) when p is as aligned as the smaller class's blocks. A copy costs
 * more than the bytes it would give back, and a block shrunk once is often
 * grown again. */
FAST_PATH bool class_keeps(unsigned c, const void *p, size_t size)
{
	unsigned c2 = size_to_class(size);
	return c2 == c || (size >= class_size[c] / 2 && ((uintptr_t)p & 15 & (class_size[c2] - 1)) == 0);
}

#endif
