/* test_superslab.c - unit test of pointer -> SuperSlab / slab lookup
 * (src/superslab.h) on blocks that malloc returns.
 *
 * For blocks of every class up to CLASS_MAX_SIZE: ptr_superslab() is the
 * pointer masked down to SS_SIZE, ptr_slab() names the slab_t of the 64 KiB
 * unit holding the block, which answers the fast path as the slab's first
 * unit does, and ptr_slab_head() the slab, which serves exactly the class
 * size_to_class(size) (cls, block_size, cap, units agree) and holds the whole
 * block. And a slab's free bitmap, its only record of its free blocks,
 * against the blocks the test holds and has freed. Linked with
 * libhakmem_core.la, whose malloc is hakmem's.
 */
#include <stdlib.h>

#include <hakmem.h>

#include "sizeclass.h"
#include "superslab.h"
#include "expect.h"

/* The checks for one block of `size` bytes; returns its slab. */
static slab_t *check_block(void *p, size_t size)
{
	if (!expect_ptr_not_null(p, "malloc(%zu)", size))
		return NULL;
	uintptr_t a = (uintptr_t)p;
	superslab_t *ss = ptr_superslab(p);
	expect_ptr_eq(ss, (void *)(a & ~(uintptr_t)(SS_SIZE - 1)), "ptr_superslab(%p)", p);

	slab_t *u = ptr_slab(p), *s = ptr_slab_head(p);
	/* The slab's metadata lives in the SuperSlab header. */
	expect_true((uintptr_t)u >= (uintptr_t)ss && (uintptr_t)u < (uintptr_t)ss + SLAB_SIZE,
	            "ptr_slab(%p) = %p outside the header of SuperSlab %p", p, (void *)u, (void *)ss);
	/* Masking and shifting agree: every address of p's 64 KiB unit has
	 * p's unit slab_t, the next unit another one. */
	uintptr_t unit = a & ~(uintptr_t)(SLAB_SIZE - 1);
	expect_ptr_eq(ptr_slab((void *)unit), u, "unit start of %p", p);
	expect_ptr_eq(ptr_slab((void *)(unit + SLAB_SIZE - 1)), u, "unit end of %p", p);
	if (unit + SLAB_SIZE < (uintptr_t)ss + SS_SIZE)
		expect_ptr_ne(ptr_slab((void *)(unit + SLAB_SIZE)), u, "next unit of %p", p);
	if (unit > (uintptr_t)ss)
		expect_ptr_ne(ptr_slab((void *)(unit - 1)), u, "previous unit of %p", p);
	/* What free()'s fast path reads is the slab's. */
	expect_ptr_eq(u->arena, s->arena, "arena of %p's unit", p);
	expect_u_eq(u->bin_off, s->bin_off, "bin_off of %p's unit", p);
	expect_true(u == s ? s->state == SLAB_ACTIVE : u->state == SLAB_INTERIOR,
	            "states of %p's unit and slab", p);

	unsigned want = size_to_class(size);
	expect_u_eq((unsigned)s->cls, want, "slab class for malloc(%zu)", size);
	if (s->cls >= NCLASSES)
		return s;
	expect_zu_eq((size_t)s->block_size, (size_t)class_size[s->cls],
	             "block_size of the slab of %p (class %u)", p, (unsigned)s->cls);
	expect_u_eq((unsigned)s->nunits, class_units[s->cls], "units of the slab of %p", p);
	expect_zu_ge((size_t)s->block_size, size, "block_size of the slab of %p", p);
	expect_u_gt((unsigned)s->cap, 0, "cap of the slab of %p", p);
	size_t span = (size_t)s->nunits * SLAB_SIZE - (s->index == 0 ? SLAB0_START : 0);
	expect_zu_le((size_t)s->cap * s->block_size, span, "cap * block_size of the slab of %p", p);
	expect_zu_gt((size_t)(s->cap + 1) * s->block_size, span, "the slab of %p holds more", p);
	/* The block lies within its slab. */
	uintptr_t base = (uintptr_t)ss + superslab_unit_start(s->index);
	expect_true(a >= base && a + s->block_size <= (uintptr_t)ss + (size_t)(s->index + s->nunits) * SLAB_SIZE,
	            "block %p of %u B outside its slab", p, (unsigned)s->block_size);
	return s;
}

/* Every size up to 32 KiB, then a spread of sizes up to the largest class,
 * one block at a time. */
static void test_every_size(void)
{
	for (size_t size = 1; size <= CLASS_MAX_SIZE; size += size < 32768 ? 1 : 4093) {
		void *p = malloc(opaque(size));
		check_block(p, size);
		free(p);
		if (test_failures() > 20)
			return;
	}
}

/* Many live blocks of each class, at the smallest and the largest size of
 * the class: blocks of one slab are whole blocks apart. */
static void test_many_per_class(void)
{
	enum { N = 200 };
	static void *p[N];
	static slab_t *s[N];
	for (unsigned c = 0; c < NCLASSES; c++) {
		size_t lo = c ? class_size[c - 1] + 1 : 1, hi = class_size[c];
		for (int i = 0; i < N; i++) {
			size_t size = i % 2 ? hi : lo;
			p[i] = malloc(opaque(size));
			s[i] = check_block(p[i], size);
			if (!s[i])
				return;
			expect_u_eq((unsigned)s[i]->cls, c, "class of malloc(%zu)", size);
		}
		for (int i = 1; i < N; i++)
			for (int j = 0; j < i; j++) {
				if (s[i] != s[j])
					continue;
				uintptr_t d = (uintptr_t)p[i] > (uintptr_t)p[j]
				                  ? (uintptr_t)p[i] - (uintptr_t)p[j]
				                  : (uintptr_t)p[j] - (uintptr_t)p[i];
				size_t rem = d % class_size[c];
				if (!expect_zu_eq(rem, 0, "blocks %p and %p of one slab (class %u)", p[i], p[j],
				                  c) ||
				    !expect_zu_ne(d, 0, "block %p given out twice", p[i]))
					break;
			}
		for (int i = 0; i < N; i++)
			free(p[i]);
		if (test_failures() > 20)
			return;
	}
}

/* Bit of block p in its slab's free bitmap. */
static bool free_bit(slab_t *s, const void *p)
{
	long i = slab_block_index(s, p);
	return i >= 0 && (*slab_bitmap_word(s, (size_t)i / 64) >> (i % 64) & 1);
}

/* A slab's free bitmap agrees with its counts: the set bits, all below
 * ncarved and none in the words below scan, number ncarved - used. */
static void check_slab_bits(slab_t *s)
{
	unsigned set = 0;
	for (size_t w = 0; w < ((size_t)s->cap + 63) / 64; w++) {
		uint64_t v = *slab_bitmap_word(s, w);
		if (w < s->scan)
			expect_u_eq((unsigned)(v != 0), 0, "slab %p: word %zu below scan %u has bits",
			            (void *)s, w, (unsigned)s->scan);
		for (uint64_t m = v; m != 0; m &= m - 1) {
			size_t i = w * 64 + (unsigned)__builtin_ctzll(m);
			expect_zu_lt(i, (size_t)s->ncarved, "slab %p: free bit %zu past the carved %u",
			             (void *)s, i, (unsigned)s->ncarved);
			set++;
		}
	}
	expect_u_eq(set, (unsigned)s->ncarved - s->used, "slab %p: free bits (carved %u, used %u)",
	            (void *)s, (unsigned)s->ncarved, (unsigned)s->used);
}

static void flush_cache(void)
{
	expect_int_eq(hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	              "thread.tcache.flush");
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* Blocks of one size over several slabs: a pseudo-random half freed and the
 * cache flushed, every freed block's bit is set and every held one's clear;
 * a refill takes a slab's lowest free blocks first; allocated again, no
 * block is one the test holds; and every slab's bits agree with its counts
 * after each flush. */
static void test_free_bitmap(void)
{
	static const size_t sizes[] = {16, 48, 64, 100, 1000, 4096, 20000, 32768};
	enum { NMAX = 3000 };
	static void *p[NMAX], *q[NMAX];
	static bool freed[NMAX];
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t size = sizes[k];
		size_t n = 3 * SLAB_SIZE / size;
		if (n > NMAX)
			n = NMAX;
		flush_cache();
		for (size_t i = 0; i < n; i++)
			p[i] = malloc(opaque(size));
		uint32_t x = 12345u + (uint32_t)k;
		size_t nfreed = 0;
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			freed[i] = (x >> 16) & 1;
			if (freed[i]) {
				free(p[i]);
				nfreed++;
			}
		}
		flush_cache();
		for (size_t i = 0; i < n; i++) {
			slab_t *s = ptr_slab_head(p[i]);
			expect_u_eq((unsigned)free_bit(s, p[i]), (unsigned)freed[i],
			            "%zu B: bit of %s block %p", size, freed[i] ? "a freed" : "a held", p[i]);
			check_slab_bits(s);
		}
		/* The first block after the flush: its slab's free blocks below it
		 * went to the cache with it. */
		q[0] = malloc(opaque(size));
		slab_t *s0 = ptr_slab_head(q[0]);
		for (size_t i = 0; i < n; i++)
			if (freed[i] && ptr_slab_head(p[i]) == s0 && (uintptr_t)p[i] < (uintptr_t)q[0])
				expect_false(free_bit(s0, p[i]), "%zu B: free block %p below the first "
				             "one handed out, %p, left in its slab", size, p[i], q[0]);
		for (size_t j = 1; j < nfreed; j++)
			q[j] = malloc(opaque(size));
		/* Held: the kept half and the new ones, none twice. */
		static uintptr_t all[2 * NMAX];
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (!freed[i])
				all[m++] = (uintptr_t)p[i];
		for (size_t j = 0; j < nfreed; j++)
			all[m++] = (uintptr_t)q[j];
		qsort(all, m, sizeof all[0], cmp_ptr);
		for (size_t i = 1; i < m; i++)
			if (!expect_true(all[i] != all[i - 1], "%zu B: block %p handed out twice", size,
			                 (void *)all[i]))
				break;
		for (size_t i = 0; i < m; i++)
			expect_false(free_bit(ptr_slab_head((void *)all[i]), (void *)all[i]),
			             "%zu B: held block %p is free in its slab", size, (void *)all[i]);
		flush_cache();
		for (size_t i = 0; i < m; i++)
			check_slab_bits(ptr_slab_head((void *)all[i]));
		for (size_t i = 0; i < n; i++)
			if (!freed[i])
				free(p[i]);
		for (size_t j = 0; j < nfreed; j++)
			free(q[j]);
		if (test_failures() > 20)
			return;
	}
	flush_cache();
}

int main(void)
{
	test_run(test_every_size);
	test_run(test_many_per_class);
	test_run(test_free_bitmap);
	return test_summary();
}
