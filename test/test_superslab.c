/* test_superslab.c - unit test of pointer -> SuperSlab / slab lookup
 * (src/superslab.h) on blocks that malloc returns.
 *
 * For blocks of every class up to CLASS_MAX_SIZE: ptr_superslab() is the
 * pointer masked down to SS_SIZE, ptr_slab() names the slab_t of the 64 KiB
 * unit holding the block, which answers the fast path as the slab's first
 * unit does, and ptr_slab_head() the slab, which serves exactly the class
 * size_to_class(size) (cls, block_size, cap, units agree) and holds the whole
 * block. Linked with libhakmem_core.la, whose malloc is hakmem's.
 */
#include <stdlib.h>

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
				if (!expect_zu_eq(d % class_size[c], 0,
				                  "blocks %p and %p of one slab (class %u)", p[i], p[j], c) ||
				    !expect_zu_ne(d, 0, "block %p given out twice", p[i]))
					break;
			}
		for (int i = 0; i < N; i++)
			free(p[i]);
		if (test_failures() > 20)
			return;
	}
}

int main(void)
{
	test_run(test_every_size);
	test_run(test_many_per_class);
	return test_summary();
}
