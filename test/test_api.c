/* test_api.c - edge cases of the public allocation API.
 *
 * Linked with libhakmem.la, so malloc & co. are hakmem's. Every test checks
 * that blocks are usable over their whole malloc_usable_size by filling them
 * with a seeded pattern (expect.h's test_fill) and reading it back after the
 * neighbouring blocks were written too.
 *
 *   test_api        (no arguments; exit 0 pass, 1 fail)
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"
#include "expect.h"

/* C23 names that glibc 2.36 does not declare yet. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define HUGE_SIZE ((size_t)1 << 46) /* 64 TiB: refused by the kernel */

/* ---- helpers ---------------------------------------------------------- */

static void ctl_epoch(void)
{
	uint64_t e = 1;
	size_t sz = sizeof e;
	expect_int_eq(hakmem_ctl("epoch", &e, &sz, &e, sz), 0, "ctl epoch");
}

static uint64_t ctl_u64(const char *name)
{
	uint64_t v = 0;
	size_t sz = sizeof v;
	expect_int_eq(hakmem_ctl(name, &v, &sz, NULL, 0), 0, "ctl %s", name);
	return v;
}

static size_t ctl_zu(const char *name)
{
	size_t v = 0;
	size_t sz = sizeof v;
	expect_int_eq(hakmem_ctl(name, &v, &sz, NULL, 0), 0, "ctl %s", name);
	return v;
}

/* Fills a block over its usable size, remembering the seed in the slot. */
typedef struct {
	void *p;
	size_t size;
	size_t usable;
	uint64_t seed;
} blk_t;

static void blk_fill(blk_t *b, uint64_t seed)
{
	b->usable = malloc_usable_size(b->p);
	b->seed = seed;
	expect_zu_ge(b->usable, b->size, "usable size of %p", b->p);
	test_fill(b->p, b->usable, seed);
}

static bool blk_check(const blk_t *b)
{
	size_t bad = test_check(b->p, b->usable, b->seed);
	return expect_zu_eq(bad, SIZE_MAX, "block %p of size %zu (usable %zu) corrupt at offset",
	                    b->p, b->size, b->usable);
}

/* ---- malloc ----------------------------------------------------------- */

static void test_malloc_zero(void)
{
	enum { N = 1000 };
	static void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(opaque((size_t)0));
		if (!expect_ptr_not_null(p[i], "malloc(0) #%d", i))
			return;
		/* The block is the program's: at least usable for 0 bytes, and the
		 * pointer differs from every other live one. */
		for (int j = 0; j < i; j += 1)
			if (p[j] == p[i]) {
				test_fail("malloc(0) returned %p twice (#%d, #%d)", p[i], j, i);
				break;
			}
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
	expect_zu_eq(malloc_usable_size(NULL), 0);
}

/* Every size 1..70000, in batches that are all live at once. */
static void test_all_sizes(void)
{
	enum { MAXSZ = 70000, BATCH = 700 };
	static blk_t b[BATCH];
	for (size_t base = 1; base <= MAXSZ; base += BATCH) {
		size_t n = 0;
		for (size_t s = base; s < base + BATCH && s <= MAXSZ; s++, n++) {
			b[n].size = s;
			b[n].p = malloc(opaque(s));
			if (!expect_ptr_not_null(b[n].p, "malloc(%zu)", s))
				return;
			expect_aligned(b[n].p, 8, "malloc(%zu)", s);
			if (s % 16 == 0)
				expect_aligned(b[n].p, 16, "malloc(%zu)", s);
			blk_fill(&b[n], s * 0x100000001b3ull);
		}
		for (size_t i = 0; i < n; i++) {
			blk_check(&b[i]);
			/* Free every other block first, then the rest backwards. */
			if (i % 2)
				free(b[i].p);
		}
		for (size_t i = n; i-- > 0;)
			if (i % 2 == 0)
				free(b[i].p);
		if (test_failures() > 100)
			return;
	}
}

/* Many blocks of one size stay distinct and intact (a slab's worth and
 * more, for each slab class and a few large sizes). */
static void test_many_same_size(void)
{
	static const size_t sizes[] = {8, 16, 24, 64, 100, 512, 1024, 1500, 4096, 20000, 32768, 70000};
	enum { N = 300 };
	static blk_t b[N];
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		for (int i = 0; i < N; i++) {
			b[i].size = sizes[k];
			b[i].p = malloc(opaque(sizes[k]));
			if (!expect_ptr_not_null(b[i].p, "malloc(%zu)", sizes[k]))
				return;
			blk_fill(&b[i], (uint64_t)i << 20 | k);
		}
		for (int i = 0; i < N; i++)
			blk_check(&b[i]);
		for (int i = 0; i < N; i++)
			free(b[i].p);
	}
}

/* ---- aligned allocation ----------------------------------------------- */

enum align_fn { AF_POSIX, AF_ALIGNED_ALLOC, AF_MEMALIGN, AF_HAKMEM_ALIGNED, AF_N };
static const char *const align_fn_name[] = {"posix_memalign", "aligned_alloc", "memalign",
                                            "hakmem_aligned_alloc"};

static void *align_call(enum align_fn f, size_t align, size_t size, int *err)
{
	void *p = NULL;
	errno = 0;
	switch (f) {
	case AF_POSIX:
		*err = posix_memalign(&p, opaque(align), opaque(size));
		return p;
	case AF_ALIGNED_ALLOC:
		p = aligned_alloc(opaque(align), opaque(size));
		break;
	case AF_MEMALIGN:
		p = memalign(opaque(align), opaque(size));
		break;
	default:
		p = hakmem_aligned_alloc(opaque(align), opaque(size));
		break;
	}
	*err = p ? 0 : errno;
	return p;
}

static void test_aligned(void)
{
	enum { NS = 6 };
	for (int f = 0; f < AF_N; f++) {
		for (size_t a = 8; a <= 4 * MiB; a *= 2) {
			size_t sizes[NS] = {1, a / 2, a, a + 1, 3 * a + 5, 40000};
			blk_t b[NS];
			int n = 0;
			for (int i = 0; i < NS; i++) {
				int err = -1;
				b[n].size = sizes[i];
				b[n].p = align_call(f, a, sizes[i], &err);
				if (!expect_ptr_not_null(b[n].p, "%s(%zu, %zu)", align_fn_name[f], a, sizes[i]) ||
				    !expect_int_eq(err, 0, "%s(%zu, %zu)", align_fn_name[f], a, sizes[i]))
					continue;
				expect_aligned(b[n].p, a, "%s(%zu, %zu)", align_fn_name[f], a, sizes[i]);
				blk_fill(&b[n], a * 131 + (uint64_t)i);
				n++;
			}
			for (int i = 0; i < n; i++) {
				blk_check(&b[i]);
				if (f == AF_ALIGNED_ALLOC && i % 2)
					free_aligned_sized(b[i].p, a, b[i].size);
				else
					free(b[i].p);
			}
		}
	}
}

/* Many live blocks of each alignment: a slab of aligned blocks is laid out
 * right. */
static void test_aligned_many(void)
{
	enum { N = 200 };
	static blk_t b[N];
	for (size_t a = 16; a <= 64 * KiB; a *= 2) {
		size_t size = a < 100 ? 24 : a - 8;
		for (int i = 0; i < N; i++) {
			b[i].size = size;
			b[i].p = aligned_alloc(opaque(a), size);
			if (!expect_ptr_not_null(b[i].p, "aligned_alloc(%zu, %zu)", a, size))
				return;
			expect_aligned(b[i].p, a);
			blk_fill(&b[i], (uint64_t)i * 7919 + a);
		}
		for (int i = 0; i < N; i++) {
			blk_check(&b[i]);
			free(b[i].p);
		}
	}
}

static void test_align_einval(void)
{
	static const size_t bad_posix[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, SIZE_MAX,
	                                   ((size_t)1 << 63) + 8};
	for (size_t i = 0; i < sizeof bad_posix / sizeof bad_posix[0]; i++) {
		void *sentinel = (void *)0x1234, *p = sentinel;
		int r = posix_memalign(&p, opaque(bad_posix[i]), 64);
		expect_int_eq(r, EINVAL, "posix_memalign(&p, %zu, 64)", bad_posix[i]);
		expect_ptr_eq(p, sentinel, "posix_memalign(%zu) must leave memptr alone on failure",
		              bad_posix[i]);
		if (r == 0 && p != sentinel)
			free(p);
		p = sentinel;
		r = hakmem_posix_memalign(&p, opaque(bad_posix[i]), 64);
		expect_int_eq(r, EINVAL, "hakmem_posix_memalign(&p, %zu, 64)", bad_posix[i]);
		if (r == 0 && p != sentinel)
			free(p);
	}
	static const size_t bad[] = {3, 12, 24, 48, 100, 4097, SIZE_MAX};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		for (int f = AF_ALIGNED_ALLOC; f < AF_N; f++) {
			int err = 0;
			if (f == AF_MEMALIGN && bad[i] != SIZE_MAX) {
				/* memalign follows glibc: an alignment that is not a power
				 * of two is rounded up to one. */
				size_t a = 1;
				while (a < bad[i])
					a <<= 1;
				void *p = align_call(f, bad[i], 64, &err);
				if (expect_ptr_not_null(p, "memalign(%zu, 64) (glibc rounds up)", bad[i])) {
					expect_aligned(p, a, "memalign(%zu, 64)", bad[i]);
					memset(p, 1, 64);
				}
				free(p);
				continue;
			}
			void *p = align_call(f, bad[i], 64, &err);
			expect_ptr_null(p, "%s(%zu, 64)", align_fn_name[f], bad[i]);
			expect_int_eq(err, EINVAL, "%s(%zu, 64): errno", align_fn_name[f], bad[i]);
			free(p);
		}
	}
}

static void test_valloc_pvalloc(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t sizes[] = {1, 100, page - 1, page, page + 1, 5 * page + 3, 40000, 100000, 3 * MiB + 1};
	enum { NS = sizeof sizes / sizeof sizes[0] };
	blk_t b[2 * NS];
	int n = 0;
	for (size_t i = 0; i < NS; i++) {
		b[n].size = sizes[i];
		b[n].p = valloc(opaque(sizes[i]));
		if (expect_ptr_not_null(b[n].p, "valloc(%zu)", sizes[i])) {
			expect_aligned(b[n].p, page, "valloc(%zu)", sizes[i]);
			blk_fill(&b[n], 1000 + i);
			n++;
		}
		/* pvalloc rounds the size up to whole pages. */
		b[n].size = (sizes[i] + page - 1) / page * page;
		b[n].p = pvalloc(opaque(sizes[i]));
		if (expect_ptr_not_null(b[n].p, "pvalloc(%zu)", sizes[i])) {
			expect_aligned(b[n].p, page, "pvalloc(%zu)", sizes[i]);
			blk_fill(&b[n], 2000 + i);
			n++;
		}
	}
	for (int i = 0; i < n; i++) {
		blk_check(&b[i]);
		free(b[i].p);
	}
	void *p = pvalloc(opaque((size_t)0));
	if (expect_ptr_not_null(p, "pvalloc(0)"))
		expect_aligned(p, page, "pvalloc(0)");
	free(p);
	p = valloc(opaque((size_t)0));
	if (expect_ptr_not_null(p, "valloc(0)"))
		expect_aligned(p, page, "valloc(0)");
	free(p);
}

/* ---- realloc ---------------------------------------------------------- */

static const size_t tier_sizes[] = {
	1, 7, 16, 24, 100, 1000, 1024,                    /* tiny */
	1025, 2000, 4096, 10000, 32767, 32768,            /* small */
	32769, 40000, 100000, 500000,                     /* large */
	2 * MiB - 1, 2 * MiB, 2 * MiB + 1, 5 * MiB + 3,   /* 2 MiB and up */
};
#define NTIER (sizeof tier_sizes / sizeof tier_sizes[0])

/* realloc from every tier to every tier: the first min(old, new) bytes
 * survive, the new block is usable over its whole size. */
static void test_realloc_tiers(void)
{
	for (size_t i = 0; i < NTIER; i++) {
		for (size_t j = 0; j < NTIER; j++) {
			size_t a = tier_sizes[i], b = tier_sizes[j];
			uint64_t seed = i * 1000 + j;
			char *p = malloc(opaque(a));
			if (!expect_ptr_not_null(p, "malloc(%zu)", a))
				return;
			test_fill(p, a, seed);
			char *q = realloc(p, opaque(b));
			if (!expect_ptr_not_null(q, "realloc(%zu -> %zu)", a, b)) {
				free(p);
				continue;
			}
			size_t keep = a < b ? a : b;
			expect_zu_eq(test_check(q, keep, seed), SIZE_MAX,
			             "realloc(%zu -> %zu) lost the content at offset", a, b);
			expect_aligned(q, 8);
			if (b % 16 == 0)
				expect_aligned(q, 16, "realloc to %zu", b);
			size_t us = malloc_usable_size(q);
			expect_zu_ge(us, b, "realloc(%zu -> %zu)", a, b);
			test_fill(q, us, seed + 1);
			expect_zu_eq(test_check(q, us, seed + 1), SIZE_MAX);
			free(q);
		}
	}
}

/* A shrink to half a block or more stays in place (mimalloc's rule), a
 * smaller one moves to the smaller class; a shrink to a size whose blocks
 * are 16-aligned stays only on a 16-aligned block; usable sizes and contents
 * follow. */
static void test_realloc_shrink_in_place(void)
{
	static const struct {
		size_t from, to;
		bool stays;
	} c[] = {
		{ 1000, 600, true },   /* 1024 B block, 600 >= 512 */
		{ 1000, 512, true },
		{ 1000, 400, false },  /* below half: the 448 B class */
		{ 100, 60, true },     /* 112 B block */
		{ 100, 40, false },
		{ 3000, 1600, true },  /* 3072 B block */
		{ 3000, 1000, false },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char *p = malloc(opaque(c[i].from));
		if (!expect_ptr_not_null(p, "malloc(%zu)", c[i].from))
			return;
		size_t us = malloc_usable_size(p);
		test_fill(p, c[i].from, i);
		char *q = realloc(p, opaque(c[i].to));
		if (!expect_ptr_not_null(q, "realloc(%zu -> %zu)", c[i].from, c[i].to))
			continue;
		expect_zu_eq(test_check(q, c[i].to, i), SIZE_MAX, "realloc(%zu -> %zu) content",
		             c[i].from, c[i].to);
		if (c[i].stays) {
			expect_ptr_eq(q, p, "realloc(%zu -> %zu) moved", c[i].from, c[i].to);
			expect_zu_eq(malloc_usable_size(q), us, "usable size after an in-place shrink");
		} else {
			expect_zu_lt(malloc_usable_size(q), us, "realloc(%zu -> %zu) kept its block",
			             c[i].from, c[i].to);
		}
		free(q);
	}
	/* 24 B blocks are 8-aligned; 16 B ones 16-aligned: a 24 B block at an
	 * odd 8 B boundary moves. */
	for (int i = 0; i < 64; i++) {
		char *p = malloc(opaque(24));
		char *q = realloc(p, opaque(16));
		expect_aligned(q, 16, "realloc(24 -> 16)");
		free(q);
	}
}

/* One block grown through every size step by step, then shrunk back. */
static void test_realloc_chain(void)
{
	char *p = NULL;
	size_t old = 0;
	uint64_t seed = 77;
	/* Bytewise through tiny and small sizes, then in growing steps. */
	for (size_t s = 1; s <= 12 * MiB; s += s < 3000 ? 1 : s < 100000 ? 997 : s / 5) {
		char *q = realloc(p, opaque(s));
		if (!expect_ptr_not_null(q, "realloc(%zu -> %zu)", old, s))
			break;
		if (old)
			expect_zu_eq(test_check(q, old, seed), SIZE_MAX, "grow %zu -> %zu", old, s);
		test_fill(q, s, seed);
		p = q;
		old = s;
	}
	size_t top = old;
	for (size_t s = top; s > 0; s = s > 100000 ? s / 2 : s > 3000 ? s - 1237 : s - 1) {
		char *q = realloc(p, opaque(s));
		if (!expect_ptr_not_null(q, "realloc(%zu -> %zu)", old, s))
			break;
		expect_zu_eq(test_check(q, s, seed), SIZE_MAX, "shrink %zu -> %zu", old, s);
		p = q;
		old = s;
	}
	free(p);
}

static void test_realloc_null_zero(void)
{
	/* realloc(NULL, n) is malloc(n). */
	char *p = realloc(NULL, opaque((size_t)100));
	if (expect_ptr_not_null(p, "realloc(NULL, 100)")) {
		expect_zu_ge(malloc_usable_size(p), 100);
		test_fill(p, 100, 5);
		expect_zu_eq(test_check(p, 100, 5), SIZE_MAX);
	}
	/* realloc(p, 0) frees p and returns NULL (glibc). */
	static const size_t sizes[] = {16, 1000, 20000, 100000, 3 * MiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char *q = malloc(opaque(sizes[i]));
		if (!expect_ptr_not_null(q))
			continue;
		memset(q, 1, sizes[i]);
		ctl_epoch();
		uint64_t nfree0 = ctl_u64("stats.nfree");
		size_t alloc0 = ctl_zu("stats.allocated");
		char *r = realloc(q, opaque((size_t)0));
		ctl_epoch();
		uint64_t nfree1 = ctl_u64("stats.nfree");
		size_t alloc1 = ctl_zu("stats.allocated");
		expect_ptr_null(r, "realloc(p of %zu, 0)", sizes[i]);
		free(r);
		expect_u64_gt(nfree1, nfree0, "realloc(p of %zu, 0) must free p (stats.nfree)",
		              sizes[i]);
		expect_zu_le(alloc1 + sizes[i], alloc0,
		             "realloc(p of %zu, 0) must free p (stats.allocated)", sizes[i]);
	}
	free(p);
}

/* A failed realloc returns NULL with ENOMEM and keeps the old block. */
static void test_realloc_fail_keeps(void)
{
	static const size_t sizes[] = {10, 1000, 30000, 100000, 3 * MiB};
	static const size_t bad[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1, HUGE_SIZE};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char *p = malloc(opaque(sizes[i]));
		if (!expect_ptr_not_null(p))
			continue;
		test_fill(p, sizes[i], i);
		for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
			errno = 0;
			char *q = realloc(opaque(p), opaque(bad[j]));
			expect_ptr_null(q, "realloc(p of %zu, %zu)", sizes[i], bad[j]);
			expect_int_eq(errno, ENOMEM, "realloc(p of %zu, %zu)", sizes[i], bad[j]);
			if (q) {
				p = q;
				continue;
			}
			expect_zu_eq(test_check(p, sizes[i], i), SIZE_MAX,
			             "failed realloc(%zu -> %zu) changed the old block", sizes[i], bad[j]);
			expect_zu_ge(malloc_usable_size(p), sizes[i]);
		}
		free(p);
	}
	/* reallocarray overflow keeps the block, too. */
	char *p = malloc(64);
	if (expect_ptr_not_null(p)) {
		test_fill(p, 64, 9);
		errno = 0;
		char *q = reallocarray(opaque(p), opaque(SIZE_MAX / 2 + 1), 2);
		expect_ptr_null(q, "reallocarray(p, SIZE_MAX/2+1, 2)");
		expect_int_eq(errno, ENOMEM, "reallocarray(p, SIZE_MAX/2+1, 2)");
		errno = 0;
		q = reallocarray(opaque(p), opaque((size_t)1 << 33), (size_t)1 << 33);
		expect_ptr_null(q, "reallocarray(p, 2^33, 2^33)");
		expect_int_eq(errno, ENOMEM, "reallocarray(p, 2^33, 2^33)");
		expect_zu_eq(test_check(p, 64, 9), SIZE_MAX, "failed reallocarray changed the block");
		/* and a fitting one grows it. */
		q = reallocarray(p, opaque((size_t)1000), 100);
		if (expect_ptr_not_null(q, "reallocarray(p, 1000, 100)")) {
			expect_zu_eq(test_check(q, 64, 9), SIZE_MAX, "reallocarray lost the content");
			expect_zu_ge(malloc_usable_size(q), 100000);
			memset(q, 3, 100000);
			p = q;
		}
		free(p);
	}
	errno = 0;
	p = reallocarray(NULL, opaque(SIZE_MAX / 3), 4);
	expect_ptr_null(p, "reallocarray(NULL, SIZE_MAX/3, 4)");
	expect_int_eq(errno, ENOMEM);
}

/* ---- calloc ----------------------------------------------------------- */

/* Blocks dirtied with 0xAA, freed, and allocated again with calloc are zero
 * (the freed blocks are the likeliest ones to come back). */
static void test_calloc_zeroing(void)
{
	static const size_t sizes[] = {1, 8, 16, 48, 100, 512, 1000, 1024, 2000, 4096, 8000,
	                               32768, 40000, 100000, 1 * MiB, 3 * MiB};
	enum { K = 64, ROUNDS = 6 };
	static void *p[K];
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t size = sizes[k];
		int n = size >= MiB ? 4 : K;
		for (int round = 0; round < ROUNDS; round++) {
			for (int i = 0; i < n; i++) {
				p[i] = malloc(opaque(size));
				if (!expect_ptr_not_null(p[i]))
					return;
				memset(p[i], 0xAA, malloc_usable_size(p[i]));
			}
			for (int i = n; i-- > 0;)
				free(p[i]);
			for (int i = 0; i < n; i++) {
				/* Split the size differently each time. */
				size_t nmemb = 1, each = size;
				if (size % 2 == 0 && i % 3 == 1)
					nmemb = 2, each = size / 2;
				else if (size % 8 == 0 && i % 3 == 2)
					nmemb = size / 8, each = 8;
				p[i] = calloc(opaque(nmemb), opaque(each));
				if (!expect_ptr_not_null(p[i], "calloc(%zu, %zu)", nmemb, each))
					return;
				expect_zu_eq(test_first_nonzero(p[i], size), SIZE_MAX,
				             "calloc(%zu, %zu) round %d #%d: nonzero byte at offset",
				             nmemb, each, round, i);
				expect_zu_ge(malloc_usable_size(p[i]), size);
			}
			for (int i = 0; i < n; i++) {
				memset(p[i], 0x55, size);
				free(p[i]);
			}
		}
	}
	/* hakmem_calloc, likewise. */
	void *q = malloc(300);
	memset(q, 0xAA, 300);
	free(q);
	q = hakmem_calloc(opaque((size_t)3), 100);
	if (expect_ptr_not_null(q))
		expect_zu_eq(test_first_nonzero(q, 300), SIZE_MAX, "hakmem_calloc");
	free(q);
}

static void test_calloc_overflow(void)
{
	static const size_t pairs[][2] = {
		{SIZE_MAX / 2 + 2, 2}, {2, SIZE_MAX / 2 + 2}, {(size_t)1 << 33, (size_t)1 << 33},
		{SIZE_MAX, SIZE_MAX}, {65537, (SIZE_MAX / 65537) + 1}, {SIZE_MAX, 1}, {1, SIZE_MAX},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		errno = 0;
		void *p = calloc(opaque(pairs[i][0]), opaque(pairs[i][1]));
		expect_ptr_null(p, "calloc(%zu, %zu)", pairs[i][0], pairs[i][1]);
		expect_int_eq(errno, ENOMEM, "calloc(%zu, %zu)", pairs[i][0], pairs[i][1]);
		free(p);
		errno = 0;
		p = hakmem_calloc(opaque(pairs[i][0]), opaque(pairs[i][1]));
		expect_ptr_null(p, "hakmem_calloc(%zu, %zu)", pairs[i][0], pairs[i][1]);
		expect_int_eq(errno, ENOMEM, "hakmem_calloc(%zu, %zu)", pairs[i][0], pairs[i][1]);
	}
	/* Zero elements: a unique freeable pointer, like malloc(0). */
	void *a = calloc(opaque((size_t)0), 10), *b = calloc(10, opaque((size_t)0));
	void *c = calloc(opaque((size_t)0), 0);
	expect_ptr_not_null(a, "calloc(0, 10)");
	expect_ptr_not_null(b, "calloc(10, 0)");
	expect_ptr_not_null(c, "calloc(0, 0)");
	expect_true(a != b && b != c && a != c, "calloc(0, ...) pointers are distinct");
	free(a);
	free(b);
	free(c);
}

/* ---- errors ------------------------------------------------------------ */

static void test_enomem(void)
{
	static const size_t bad[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4096, SIZE_MAX - 2 * MiB,
	                             (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, HUGE_SIZE,
	                             HUGE_SIZE + 1};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t s = bad[i];
		void *p;
		int r;
#define CHECK_NULL_ENOMEM(call)                                                    \
		do {                                                                   \
			errno = 0;                                                         \
			p = (call);                                                        \
			expect_ptr_null(p, #call " with size %zu", s);                     \
			expect_int_eq(errno, ENOMEM, #call " with size %zu", s);           \
			free(p);                                                           \
		} while (0)
		CHECK_NULL_ENOMEM(malloc(opaque(s)));
		CHECK_NULL_ENOMEM(calloc(1, opaque(s)));
		CHECK_NULL_ENOMEM(realloc(NULL, opaque(s)));
		CHECK_NULL_ENOMEM(aligned_alloc(64, opaque(s)));
		CHECK_NULL_ENOMEM(aligned_alloc(4 * MiB, opaque(s)));
		CHECK_NULL_ENOMEM(memalign(4096, opaque(s)));
		CHECK_NULL_ENOMEM(valloc(opaque(s)));
		CHECK_NULL_ENOMEM(pvalloc(opaque(s)));
		CHECK_NULL_ENOMEM(hakmem_malloc(opaque(s)));
		CHECK_NULL_ENOMEM(hakmem_aligned_alloc(256, opaque(s)));
#undef CHECK_NULL_ENOMEM
		void *sentinel = (void *)0x5678;
		p = sentinel;
		r = posix_memalign(&p, 64, opaque(s));
		expect_int_eq(r, ENOMEM, "posix_memalign(&p, 64, %zu)", s);
		expect_ptr_eq(p, sentinel, "posix_memalign(&p, 64, %zu) changed memptr", s);
		p = sentinel;
		r = posix_memalign(&p, 2 * MiB, opaque(s));
		expect_int_eq(r, ENOMEM, "posix_memalign(&p, 2 MiB, %zu)", s);
		expect_ptr_eq(p, sentinel);
		p = sentinel;
		r = hakmem_posix_memalign(&p, 64, opaque(s));
		expect_int_eq(r, ENOMEM, "hakmem_posix_memalign(&p, 64, %zu)", s);
	}
	/* Still working afterwards. */
	void *p = malloc(100);
	expect_ptr_not_null(p);
	free(p);
}

static void test_free_null(void)
{
	uint64_t n0, n1;
	ctl_epoch();
	n0 = ctl_u64("stats.nfree");
	for (int i = 0; i < 100; i++) {
		free(opaque((void *)NULL));
		hakmem_free(opaque((void *)NULL));
		free_sized(opaque((void *)NULL), 0);
		free_sized(opaque((void *)NULL), 100);
		free_aligned_sized(opaque((void *)NULL), 64, 0);
		hakmem_free_sized(opaque((void *)NULL), 0);
	}
	ctl_epoch();
	n1 = ctl_u64("stats.nfree");
	/* free(NULL) is no free: at most a few stats from the ctl calls. */
	expect_u64_lt(n1 - n0, 100, "free(NULL) counted as frees");
}

/* free_sized / free_aligned_sized really free (stats.nfree and
 * stats.allocated follow), for every tier. */
static void test_free_sized(void)
{
	enum { N = 64 };
	static void *p[N];
	for (size_t k = 0; k < NTIER; k++) {
		size_t size = tier_sizes[k];
		int n = size >= MiB ? 4 : N;
		for (int i = 0; i < n; i++) {
			p[i] = malloc(opaque(size));
			if (!expect_ptr_not_null(p[i]))
				return;
			memset(p[i], i, size);
		}
		ctl_epoch();
		uint64_t nf0 = ctl_u64("stats.nfree");
		size_t al0 = ctl_zu("stats.allocated");
		for (int i = 0; i < n; i++) {
			if (i % 2)
				free_sized(p[i], size);
			else
				hakmem_free_sized(p[i], size);
		}
		ctl_epoch();
		uint64_t nf1 = ctl_u64("stats.nfree");
		size_t al1 = ctl_zu("stats.allocated");
		expect_u64_ge(nf1 - nf0, (uint64_t)n, "free_sized of %d blocks of %zu", n, size);
		expect_zu_ge(al0, al1 + (size_t)n * size, "free_sized of %d blocks of %zu", n, size);
	}
	for (size_t a = 16; a <= 4 * MiB; a *= 4) {
		for (int i = 0; i < 16; i++) {
			size_t size = a * (size_t)(i % 3 + 1);
			void *q = aligned_alloc(a, size);
			if (!expect_ptr_not_null(q, "aligned_alloc(%zu, %zu)", a, size))
				return;
			expect_aligned(q, a);
			memset(q, 7, size);
			free_aligned_sized(q, a, size);
		}
	}
}

/* ---- the hakmem_ names and the ctl interface ---------------------------- */

static void test_hakmem_names(void)
{
	/* Both name sets share one heap: free either way. */
	for (size_t k = 0; k < NTIER; k++) {
		size_t size = tier_sizes[k];
		char *p = hakmem_malloc(opaque(size));
		if (!expect_ptr_not_null(p, "hakmem_malloc(%zu)", size))
			continue;
		expect_zu_eq(hakmem_usable_size(p), malloc_usable_size(p));
		expect_zu_ge(hakmem_usable_size(p), size);
		test_fill(p, size, k);
		char *q = hakmem_realloc(p, opaque(size * 2 + 1));
		if (!expect_ptr_not_null(q, "hakmem_realloc(%zu)", size * 2 + 1)) {
			free(p);
			continue;
		}
		expect_zu_eq(test_check(q, size, k), SIZE_MAX, "hakmem_realloc lost content");
		free(q);
		q = malloc(opaque(size));
		memset(q, 1, size);
		hakmem_free(q);
		void *r = NULL;
		expect_int_eq(hakmem_posix_memalign(&r, 4096, size), 0);
		expect_aligned(r, 4096);
		if (r)
			memset(r, 2, size);
		hakmem_free_sized(r, size);
	}
	expect_zu_eq(hakmem_usable_size(NULL), 0);
}

/* malloc is hakmem's: its statistics count the program's calls. */
static void test_stats(void)
{
	enum { N = 1000, SZ = 1000 };
	static void *p[N];
	ctl_epoch();
	uint64_t nm0 = ctl_u64("stats.nmalloc"), nf0 = ctl_u64("stats.nfree");
	size_t al0 = ctl_zu("stats.allocated");
	for (int i = 0; i < N; i++) {
		p[i] = malloc(opaque((size_t)SZ));
		if (!expect_ptr_not_null(p[i]))
			return;
	}
	ctl_epoch();
	uint64_t nm1 = ctl_u64("stats.nmalloc");
	size_t al1 = ctl_zu("stats.allocated");
	expect_u64_ge(nm1 - nm0, N, "stats.nmalloc after %d mallocs", N);
	expect_u64_lt(nm1 - nm0, 2 * N + 100, "stats.nmalloc after %d mallocs", N);
	expect_zu_ge(al1, al0 + (size_t)N * SZ, "stats.allocated after %d mallocs of %d (before: %zu)",
	             N, SZ, al0);
	expect_zu_le(al1, al0 + (size_t)2 * N * SZ + 64 * KiB,
	             "stats.allocated after %d mallocs of %d (before: %zu)", N, SZ, al0);
	for (int i = 0; i < N; i++)
		free(p[i]);
	ctl_epoch();
	uint64_t nf2 = ctl_u64("stats.nfree");
	size_t al2 = ctl_zu("stats.allocated");
	expect_u64_ge(nf2 - nf0, N, "stats.nfree after %d frees", N);
	expect_zu_le(al2, al0 + 64 * KiB, "stats.allocated after freeing everything (before: %zu)",
	             al0);

	/* A large block counts in full. */
	void *big = malloc(opaque(10 * MiB));
	ctl_epoch();
	size_t al3 = ctl_zu("stats.allocated");
	expect_zu_ge(al3, al2 + 10 * MiB, "stats.allocated after malloc(10 MiB) (before: %zu)", al2);
	free(big);
	ctl_epoch();
	size_t al4 = ctl_zu("stats.allocated");
	expect_zu_le(al4, al2 + 64 * KiB, "stats.allocated after free(10 MiB)");
}

struct strbuf {
	char buf[1 << 16];
	size_t len;
};

static void strbuf_cb(void *opaque_, const char *text)
{
	struct strbuf *sb = opaque_;
	size_t n = strlen(text);
	if (n > sizeof sb->buf - 1 - sb->len)
		n = sizeof sb->buf - 1 - sb->len;
	memcpy(sb->buf + sb->len, text, n);
	sb->len += n;
	sb->buf[sb->len] = 0;
}

/* Each malloc and each free is counted once, whatever path served it (slab
 * cache, large cache, the thread's large slot, fresh mappings). */
static void test_stats_counts_once(void)
{
	static const size_t sizes[] = {24, 3000, 40000, 64 * KiB, 300000, 2 * MiB, 5 * MiB};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		ctl_epoch();
		uint64_t m0 = ctl_u64("stats.nmalloc"), f0 = ctl_u64("stats.nfree");
		for (int i = 0; i < 200; i++) {
			char *p = malloc(opaque(sizes[k]));
			expect_ptr_not_null(p);
			p[0] = 1;
			free(p);
		}
		ctl_epoch();
		uint64_t dm = ctl_u64("stats.nmalloc") - m0, df = ctl_u64("stats.nfree") - f0;
		expect_u64_eq(dm, 200, "nmalloc counts %zu B mallocs once", sizes[k]);
		expect_u64_eq(df, 200, "nfree counts %zu B frees once", sizes[k]);
	}
}

static void test_ctl(void)
{
	const char *v = NULL;
	size_t sz = sizeof v;
	expect_int_eq(hakmem_ctl("version", &v, &sz, NULL, 0), 0);
	expect_str_eq(v, HAKMEM_VERSION);

	uint64_t u = 0;
	sz = sizeof u;
	expect_int_eq(hakmem_ctl("no.such.key", &u, &sz, NULL, 0), ENOENT);
	expect_int_eq(hakmem_ctl("stats", &u, &sz, NULL, 0) != 0, 1, "reading an inner node");
	uint32_t small = 0;
	sz = sizeof small;
	expect_int_eq(hakmem_ctl("stats.nmalloc", &small, &sz, NULL, 0), EINVAL, "short oldlen");
	u = 5;
	expect_int_eq(hakmem_ctl("stats.nmalloc", NULL, NULL, &u, sizeof u), EPERM,
	              "writing a read-only stat");

	/* name -> MIB -> the same value. */
	size_t mib[8], miblen = 8;
	if (expect_int_eq(hakmem_ctl_nametomib("stats.nmalloc", mib, &miblen), 0)) {
		expect_zu_gt(miblen, 0);
		expect_zu_le(miblen, 8);
		ctl_epoch();
		uint64_t a = ctl_u64("stats.nmalloc"), b = 0;
		sz = sizeof b;
		expect_int_eq(hakmem_ctl_bymib(mib, miblen, &b, &sz, NULL, 0), 0);
		expect_u64_eq(a, b, "stats.nmalloc by name and by MIB");
	}
	miblen = 8;
	expect_int_eq(hakmem_ctl_nametomib("no.such.key", mib, &miblen), ENOENT);

	/* The JSON printer names the same statistics. */
	static struct strbuf sb;
	sb.len = 0;
	hakmem_stats_print(strbuf_cb, &sb, "J");
	const char *s = sb.buf;
	while (*s == ' ' || *s == '\n')
		s++;
	expect_int_eq(*s, '{', "JSON stats start with '{': %.60s", sb.buf);
	expect_ptr_not_null(strstr(sb.buf, "\"nmalloc\""), "JSON stats lack nmalloc");
	expect_ptr_not_null(strstr(sb.buf, "\"nfree\""), "JSON stats lack nfree");
	expect_ptr_not_null(strstr(sb.buf, HAKMEM_VERSION), "JSON stats lack the version");
	sb.len = 0;
	sb.buf[0] = 0;
	hakmem_stats_print(strbuf_cb, &sb, "");
	expect_zu_gt(sb.len, 20, "text stats");
}

/* ---- fatal errors ------------------------------------------------------ */

typedef void (*misuse_fn)(size_t size);

/* Runs fn in a child whose stderr is piped here; expects SIGABRT and a
 * message that contains `needle` (if not NULL) and the pointer fn reported,
 * printed as %p. */
static void expect_abort(const char *what, misuse_fn fn, size_t size, const char *needle)
{
	int fd[2];
	if (pipe(fd) != 0) {
		test_fail("pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		test_fail("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		struct rlimit nocore = {0, 0};
		setrlimit(RLIMIT_CORE, &nocore);
		alarm(20);
		close(fd[0]);
		dup2(fd[1], 2);
		/* fn prints "PTR=%p\n" (the pointer the message must name) and
		 * then does the bad free, which must not return. */
		fn(size);
		_exit(99);
	}
	close(fd[1]);
	char out[8192];
	size_t len = 0;
	ssize_t r;
	while ((r = read(fd[0], out + len, sizeof out - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = 0;
	close(fd[0]);
	bool one_line = len > 0 && out[len - 1] == '\n';
	while (len > 0 && out[len - 1] == '\n')
		out[--len] = 0;
	int st = 0;
	waitpid(pid, &st, 0);
	/* The child printed "PTR=<p>\n" before the bad free. */
	const char *mark = strstr(out, "PTR=");
	char ptrtxt[64] = "";
	const char *after = out;
	if (mark) {
		const char *nl = strchr(mark, '\n');
		size_t n = nl ? (size_t)(nl - mark - 4) : 0;
		if (n < sizeof ptrtxt) {
			memcpy(ptrtxt, mark + 4, n);
			ptrtxt[n] = 0;
		}
		after = nl ? nl + 1 : mark;
	}
	bool sig = WIFSIGNALED(st);
	bool aborted = sig && WTERMSIG(st) == SIGABRT;
	if (!expect_true(aborted, "%s: child did not abort (exit status %d, signal %d); stderr: %.300s",
	                 what, WIFEXITED(st) ? WEXITSTATUS(st) : -1, sig ? WTERMSIG(st) : 0, out))
		return;
	if (!expect_true(ptrtxt[0] != 0, "%s: no PTR line in: %.300s", what, out))
		return;
	if (needle)
		expect_ptr_not_null(strstr(after, needle), "%s: message lacks \"%s\": %.300s", what,
		                    needle, after);
	expect_ptr_not_null(strstr(after, ptrtxt), "%s: message lacks the pointer %s: %.300s",
	                    what, ptrtxt, after);
	/* One line, ended by a newline. */
	expect_true(one_line && strchr(after, '\n') == NULL,
	            "%s: message is not one line: %.300s", what, after);
}

/* Detection points (doc/design.md, "Errors and detection"): by default a bad
 * free of a slab block is caught at the latest when the thread cache holding
 * it is flushed; with every cache capacity 0 (tiny.fast_cap=0) every free takes
 * the checked path and is caught at once. The children test both. */
static int g_misuse_checked; /* 1: tiny.fast_cap=0 before the misuse */

static void misuse_begin(void)
{
	if (g_misuse_checked) {
		unsigned zero = 0;
		if (hakmem_ctl("tiny.fast_cap", NULL, NULL, &zero, sizeof zero) != 0)
			_exit(98);
	}
}

/* After the bad free: the flush is the latest point of detection. */
static void misuse_end(void)
{
	if (!g_misuse_checked)
		hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
}

static void misuse_double_free(size_t size)
{
	misuse_begin();
	char *p = malloc(opaque(size));
	memset(p, 1, size);
	fprintf(stderr, "PTR=%p\n", (void *)p);
	free(p);
	free(opaque(p));
	misuse_end();
}

/* Double free after other blocks of the size came and went. */
static void misuse_double_free_later(size_t size)
{
	misuse_begin();
	void *q[10];
	char *p = malloc(opaque(size));
	fprintf(stderr, "PTR=%p\n", (void *)p);
	free(p);
	for (int i = 0; i < 10; i++)
		q[i] = malloc(opaque(size + 1000000 * (i % 2)));
	/* p may have come back as some q[i]: after these frees it is free
	 * again either way. */
	for (int i = 0; i < 10; i++)
		free(q[i]);
	free(opaque(p));
	misuse_end();
}

/* p freed, then 200 blocks allocated together with it (the flush gathers
 * bits a bitmap word at a time: p's word is written before its second free
 * comes up), then p again. */
static void misuse_double_free_spread(size_t size)
{
	misuse_begin();
	enum { SPREAD = 200 };
	static void *a[SPREAD];
	for (int i = 0; i < SPREAD; i++)
		a[i] = malloc(opaque(size));
	fprintf(stderr, "PTR=%p\n", a[0]);
	for (int i = 0; i < SPREAD; i++)
		free(a[i]);
	free(opaque(a[0]));
	misuse_end();
}

static void misuse_interior(size_t size)
{
	misuse_begin();
	char *p = malloc(opaque(size));
	char *bad = p + (size >= 8192 ? 4096 : 16);
	fprintf(stderr, "PTR=%p\n", (void *)bad);
	free(opaque(bad));
	misuse_end();
}

static void misuse_stack(size_t size)
{
	misuse_begin();
	char local[64];
	memset(local, 0, sizeof local);
	fprintf(stderr, "PTR=%p\n", (void *)local);
	free(opaque((void *)local));
	misuse_end();
}

static void test_double_free(void)
{
	static const size_t sizes[] = {16, 64, 1000, 4096, 32768, 100000, 4 * MiB};
	static const char *const mode[] = {"", " (checked)"};
	char what[80];
	for (g_misuse_checked = 0; g_misuse_checked < 2; g_misuse_checked++) {
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			snprintf(what, sizeof what, "double free of %zu B%s", sizes[i], mode[g_misuse_checked]);
			expect_abort(what, misuse_double_free, sizes[i], "double free");
			snprintf(what, sizeof what, "late double free of %zu B%s", sizes[i],
			         mode[g_misuse_checked]);
			expect_abort(what, misuse_double_free_later, sizes[i], "double free");
			if (sizes[i] > 100000)
				continue; /* a large block's mapping may be gone: "invalid free" */
			snprintf(what, sizeof what, "double free of %zu B across 200 frees%s", sizes[i],
			         mode[g_misuse_checked]);
			expect_abort(what, misuse_double_free_spread, sizes[i], "double free");
		}
	}
	g_misuse_checked = 0;
}

/* malloc_usable_size and realloc of an interior pointer: the SuperSlab
 * window's path checks as the registry's does. */
static void misuse_usable_interior(size_t size)
{
	char *p = malloc(opaque(size));
	char *bad = p + (size >= 8192 ? 4096 : 16);
	fprintf(stderr, "PTR=%p\n", (void *)bad);
	fprintf(stderr, "%zu\n", malloc_usable_size(opaque(bad)));
}

static void misuse_realloc_interior(size_t size)
{
	char *p = malloc(opaque(size));
	char *bad = p + (size >= 8192 ? 4096 : 16);
	fprintf(stderr, "PTR=%p\n", (void *)bad);
	fprintf(stderr, "%p\n", realloc(opaque(bad), size / 2 + 1));
}

static void test_invalid_usable(void)
{
	static const size_t sizes[] = {64, 1000, 32768, 100000};
	char what[80];
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		snprintf(what, sizeof what, "malloc_usable_size of an interior pointer of %zu B", sizes[i]);
		expect_abort(what, misuse_usable_interior, sizes[i], "invalid malloc_usable_size");
		snprintf(what, sizeof what, "realloc of an interior pointer of %zu B", sizes[i]);
		expect_abort(what, misuse_realloc_interior, sizes[i], "invalid realloc");
	}
}

static void test_invalid_free(void)
{
	static const size_t sizes[] = {64, 1000, 32768, 100000, 4 * MiB};
	static const char *const mode[] = {"", " (checked)"};
	char what[80];
	for (g_misuse_checked = 0; g_misuse_checked < 2; g_misuse_checked++) {
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			snprintf(what, sizeof what, "free of an interior pointer of %zu B%s", sizes[i],
			         mode[g_misuse_checked]);
			expect_abort(what, misuse_interior, sizes[i], "invalid free");
		}
		expect_abort("free of a stack address", misuse_stack, 0, "invalid free");
	}
	g_misuse_checked = 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_run(test_malloc_zero);
	test_run(test_invalid_usable);
	test_run(test_all_sizes);
	test_run(test_many_same_size);
	test_run(test_aligned);
	test_run(test_aligned_many);
	test_run(test_align_einval);
	test_run(test_valloc_pvalloc);
	test_run(test_realloc_tiers);
	test_run(test_realloc_chain);
	test_run(test_realloc_shrink_in_place);
	test_run(test_realloc_null_zero);
	test_run(test_realloc_fail_keeps);
	test_run(test_calloc_zeroing);
	test_run(test_calloc_overflow);
	test_run(test_enomem);
	test_run(test_free_null);
	test_run(test_free_sized);
	test_run(test_hakmem_names);
	test_run(test_stats);
	test_run(test_stats_counts_once);
	test_run(test_ctl);
	test_run(test_double_free);
	test_run(test_invalid_free);
	return test_summary();
}
