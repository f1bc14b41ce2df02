/* test_sizeclass.c - unit test of the size class table (src/sizeclass.h).
 *
 * Checks the table against its rule (16..64 B in steps of 8, then four
 * classes per doubling up to CLASS_MAX_SIZE), the slab units of every class
 * against theirs, and size_to_class() against the table for every size up to
 * CLASS_MAX_SIZE: it gives the smallest class that holds the size. Linked
 * with libhakmem_core.la.
 */
#include "sizeclass.h"
#include "expect.h"

static void test_table_shape(void)
{
	expect_u_gt(NCLASSES, 0);
	expect_zu_eq(class_size[0], 16, "the smallest class");
	expect_zu_eq(class_size[NCLASSES - 1], CLASS_MAX_SIZE, "the largest class");
	expect_zu_eq(CLASS_MAX_SIZE, 1792 * 1024);
	expect_zu_eq(TINY_MAX_SIZE, 1024);
	bool tiny_is_class = false;
	for (unsigned c = 0; c < NCLASSES; c++) {
		expect_zu_eq(class_size[c] % 8, 0, "class %u (%zu B) is a multiple of 8", c,
		             (size_t)class_size[c]);
		if (class_size[c] == TINY_MAX_SIZE)
			tiny_is_class = true;
		if (c == 0)
			continue;
		expect_zu_gt(class_size[c], class_size[c - 1], "class %u not above class %u", c, c - 1);
		/* From 32 B up, consecutive classes are at most 25 % apart. */
		if (class_size[c - 1] >= 32)
			expect_zu_le((size_t)class_size[c] * 4, (size_t)class_size[c - 1] * 5,
			             "classes %u (%zu B) and %u (%zu B) more than 25%% apart", c - 1,
			             (size_t)class_size[c - 1], c, (size_t)class_size[c]);
		else
			expect_zu_le(class_size[c] - class_size[c - 1], 8, "step below 32 B");
	}
	expect_true(tiny_is_class, "TINY_MAX_SIZE (%zu) is a class size", TINY_MAX_SIZE);
}

/* The table follows its rule exactly. */
static void test_table_rule(void)
{
	size_t want[128];
	unsigned n = 0;
	for (size_t s = 16; s <= 64; s += 8)
		want[n++] = s;
	for (size_t d = 64; d + d / 4 <= CLASS_MAX_SIZE; d *= 2)
		for (size_t q = 1; q <= 4 && d + d / 4 * q <= CLASS_MAX_SIZE; q++)
			want[n++] = d + d / 4 * q;
	if (!expect_u_eq(NCLASSES, n, "number of classes"))
		n = n < NCLASSES ? n : NCLASSES;
	for (unsigned c = 0; c < n; c++)
		expect_zu_eq(class_size[c], want[c], "class %u", c);
}

/* Every size maps to the smallest class that holds it. */
static void test_size_to_class(void)
{
	expect_u_eq(size_to_class(0), 0, "size 0");
	for (size_t s = 0; s <= CLASS_MAX_SIZE; s += s < 65536 ? 1 : 61) {
		unsigned c = size_to_class(s);
		if (!expect_u_lt(c, NCLASSES, "size_to_class(%zu)", s))
			continue;
		expect_zu_ge(class_size[c], s, "size_to_class(%zu) = %u: too small", s, c);
		if (c > 0)
			expect_zu_lt(class_size[c - 1], s, "size_to_class(%zu) = %u: class %u fits too", s,
			             c, c - 1);
		if (test_failures() > 20)
			return;
	}
	/* Each class size maps to itself, one more byte to the next class. */
	for (unsigned c = 0; c < NCLASSES; c++) {
		expect_u_eq(size_to_class(class_size[c]), c, "class %u size %zu", c,
		            (size_t)class_size[c]);
		if (c + 1 < NCLASSES)
			expect_u_eq(size_to_class(class_size[c] + 1), c + 1, "class %u size %zu + 1", c,
			            (size_t)class_size[c]);
	}
}

/* The slab of class c: the fewest 64 KiB units that hold at least 8 blocks
 * (blocks up to 32 KiB) or one block (above), wasting at most 1/16 of the
 * span; never more than 28 units (a SuperSlab's 32 less the header's unit
 * and room). */
static void test_units_rule(void)
{
	for (unsigned c = 0; c < NCLASSES; c++) {
		size_t b = class_size[c], want = 0;
		for (size_t n = 1; n < 32 && !want; n++) {
			size_t blocks = n * 65536 / b, waste = n * 65536 - blocks * b;
			if (blocks >= (b <= 32768 ? 8 : 1) && waste * 16 <= n * 65536)
				want = n;
		}
		expect_zu_eq(class_units[c], want, "units of class %u (%zu B)", c, b);
		expect_zu_le(class_units[c], 28, "class %u", c);
		if (b > 256 * 1024)
			expect_zu_eq(class_units[c] * 65536, b, "class %u: one block, no waste", c);
	}
}

int main(void)
{
	test_run(test_units_rule);
	test_run(test_table_shape);
	test_run(test_table_rule);
	test_run(test_size_to_class);
	return test_summary();
}
