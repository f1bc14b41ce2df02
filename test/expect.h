/* expect.h - typed expectations for the hakmem tests.
 *
 * Each expect_TYPE_OP(a, b [, fmt, args...]) compares two values of TYPE,
 * and on failure prints
 *
 *     test/test_api.c:123: test_realloc: expect_zu_eq(usable, size) failed: 24 == 32: i=5
 *
 * to stderr and counts the failure; the test goes on (a test that must not go
 * on after a failure tests the return value: every expect_ is an expression
 * that yields true when it held). The first EXPECT_MAX_REPORTS failures are
 * printed, the rest only counted. Failures are counted atomically, so threads
 * may use the macros.
 *
 * A test program is a list of test functions run by test_run(); it ends with
 * `return test_summary();`, which prints one line and returns the automake
 * exit status: 0 when every test passed, 1 on any failure, 77 when every test
 * skipped (test_skip()).
 */
#ifndef HAKMEM_TEST_EXPECT_H
#define HAKMEM_TEST_EXPECT_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT_MAX_REPORTS 40

/* The optional message of the macros may be left out, which passes "". */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

#define TEST_UNUSED __attribute__((unused))

static unsigned long expect_nfail_;     /* failures, all tests [atomic] */
static unsigned long expect_nreported_; /* failures printed [atomic] */
static const char *test_name_ = "main"; /* the running test [main thread] */
static int test_npass_, test_nfail_, test_nskip_;

/* Prints one failure (if still within the report budget) and counts it. */
static TEST_UNUSED __attribute__((format(printf, 4, 5))) void
expect_report_(const char *file, int line, const char *what, const char *fmt, ...)
{
	__atomic_fetch_add(&expect_nfail_, 1, __ATOMIC_RELAXED);
	if (__atomic_fetch_add(&expect_nreported_, 1, __ATOMIC_RELAXED) >= EXPECT_MAX_REPORTS) {
		if (expect_nreported_ == EXPECT_MAX_REPORTS + 1)
			fprintf(stderr, "(further failures are counted, not printed)\n");
		return;
	}
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s:%d: %s: %s%s%s\n", file, line, test_name_, what,
	        msg[0] ? ": " : "", msg);
	fflush(stderr);
}

/* The optional trailing (fmt, args...) of every macro is pasted after "",
 * so that it may be left out. */
#define expect_cmp_(T, pri, a, b, op, name, ...)                                          \
	__extension__({                                                                    \
		__typeof__(T) a_ = (a), b_ = (b);                                                        \
		bool ok_ = a_ op b_;                                                           \
		if (!ok_) {                                                                    \
			char what_[384];                                                           \
			snprintf(what_, sizeof what_,                                              \
			         name "(" #a ", " #b ") failed: %" pri " " #op " %" pri, a_, b_);  \
			expect_report_(__FILE__, __LINE__, what_, "" __VA_ARGS__);                 \
		}                                                                              \
		ok_;                                                                           \
	})

#define expect_zu_eq(a, b, ...) expect_cmp_(size_t, "zu", a, b, ==, "expect_zu_eq", __VA_ARGS__)
#define expect_zu_ne(a, b, ...) expect_cmp_(size_t, "zu", a, b, !=, "expect_zu_ne", __VA_ARGS__)
#define expect_zu_lt(a, b, ...) expect_cmp_(size_t, "zu", a, b, <, "expect_zu_lt", __VA_ARGS__)
#define expect_zu_le(a, b, ...) expect_cmp_(size_t, "zu", a, b, <=, "expect_zu_le", __VA_ARGS__)
#define expect_zu_gt(a, b, ...) expect_cmp_(size_t, "zu", a, b, >, "expect_zu_gt", __VA_ARGS__)
#define expect_zu_ge(a, b, ...) expect_cmp_(size_t, "zu", a, b, >=, "expect_zu_ge", __VA_ARGS__)

#define expect_u64_eq(a, b, ...) expect_cmp_(uint64_t, PRIu64, a, b, ==, "expect_u64_eq", __VA_ARGS__)
#define expect_u64_ne(a, b, ...) expect_cmp_(uint64_t, PRIu64, a, b, !=, "expect_u64_ne", __VA_ARGS__)
#define expect_u64_lt(a, b, ...) expect_cmp_(uint64_t, PRIu64, a, b, <, "expect_u64_lt", __VA_ARGS__)
#define expect_u64_le(a, b, ...) expect_cmp_(uint64_t, PRIu64, a, b, <=, "expect_u64_le", __VA_ARGS__)
#define expect_u64_gt(a, b, ...) expect_cmp_(uint64_t, PRIu64, a, b, >, "expect_u64_gt", __VA_ARGS__)
#define expect_u64_ge(a, b, ...) expect_cmp_(uint64_t, PRIu64, a, b, >=, "expect_u64_ge", __VA_ARGS__)

#define expect_u_eq(a, b, ...) expect_cmp_(unsigned, "u", a, b, ==, "expect_u_eq", __VA_ARGS__)
#define expect_u_ne(a, b, ...) expect_cmp_(unsigned, "u", a, b, !=, "expect_u_ne", __VA_ARGS__)
#define expect_u_lt(a, b, ...) expect_cmp_(unsigned, "u", a, b, <, "expect_u_lt", __VA_ARGS__)
#define expect_u_le(a, b, ...) expect_cmp_(unsigned, "u", a, b, <=, "expect_u_le", __VA_ARGS__)
#define expect_u_gt(a, b, ...) expect_cmp_(unsigned, "u", a, b, >, "expect_u_gt", __VA_ARGS__)
#define expect_u_ge(a, b, ...) expect_cmp_(unsigned, "u", a, b, >=, "expect_u_ge", __VA_ARGS__)

#define expect_int_eq(a, b, ...) expect_cmp_(int, "d", a, b, ==, "expect_int_eq", __VA_ARGS__)
#define expect_int_ne(a, b, ...) expect_cmp_(int, "d", a, b, !=, "expect_int_ne", __VA_ARGS__)
#define expect_int_lt(a, b, ...) expect_cmp_(int, "d", a, b, <, "expect_int_lt", __VA_ARGS__)
#define expect_int_le(a, b, ...) expect_cmp_(int, "d", a, b, <=, "expect_int_le", __VA_ARGS__)
#define expect_int_gt(a, b, ...) expect_cmp_(int, "d", a, b, >, "expect_int_gt", __VA_ARGS__)
#define expect_int_ge(a, b, ...) expect_cmp_(int, "d", a, b, >=, "expect_int_ge", __VA_ARGS__)

#define expect_ptr_eq(a, b, ...) expect_cmp_(const void *, "p", a, b, ==, "expect_ptr_eq", __VA_ARGS__)
#define expect_ptr_ne(a, b, ...) expect_cmp_(const void *, "p", a, b, !=, "expect_ptr_ne", __VA_ARGS__)

/* One-operand expectations: print the value only. */
#define expect_one_(T, pri, a, cond, name, ...)                                          \
	__extension__({                                                                    \
		__typeof__(T) a_ = (a);                                                        \
		bool ok_ = (cond);                                                             \
		if (!ok_) {                                                                    \
			char what_[384];                                                           \
			snprintf(what_, sizeof what_, name "(" #a ") failed: %" pri, a_);          \
			expect_report_(__FILE__, __LINE__, what_, "" __VA_ARGS__);                 \
		}                                                                              \
		ok_;                                                                           \
	})

#define expect_ptr_null(a, ...) expect_one_(const void *, "p", a, a_ == NULL, "expect_ptr_null", __VA_ARGS__)
#define expect_ptr_not_null(a, ...) expect_one_(const void *, "p", a, a_ != NULL, "expect_ptr_not_null", __VA_ARGS__)
#define expect_true(a, ...) expect_one_(bool, "d", a, a_, "expect_true", __VA_ARGS__)
#define expect_false(a, ...) expect_one_(bool, "d", a, !a_, "expect_false", __VA_ARGS__)

#define expect_str_eq(a, b, ...)                                                          \
	__extension__({                                                                    \
		const char *a_ = (a), *b_ = (b);                                               \
		bool ok_ = a_ && b_ && strcmp(a_, b_) == 0;                                    \
		if (!ok_) {                                                                    \
			char what_[384];                                                           \
			snprintf(what_, sizeof what_, "expect_str_eq(" #a ", " #b                  \
			         ") failed: \"%.120s\" == \"%.120s\"", a_ ? a_ : "(null)",          \
			         b_ ? b_ : "(null)");                                              \
			expect_report_(__FILE__, __LINE__, what_, "" __VA_ARGS__);                 \
		}                                                                              \
		ok_;                                                                           \
	})

/* p is aligned to `align` (a power of two). */
#define expect_aligned(p, align, ...)                                                     \
	__extension__({                                                                    \
		const void *p_ = (p);                                                          \
		size_t al_ = (align);                                                          \
		bool ok_ = ((uintptr_t)p_ & (al_ - 1)) == 0;                                   \
		if (!ok_) {                                                                    \
			char what_[384];                                                           \
			snprintf(what_, sizeof what_,                                              \
			         "expect_aligned(" #p ", " #align ") failed: %p %% %zu == %zu", p_,   \
			         al_, (size_t)((uintptr_t)p_ & (al_ - 1)));                         \
			expect_report_(__FILE__, __LINE__, what_, "" __VA_ARGS__);                 \
		}                                                                              \
		ok_;                                                                           \
	})

/* An unconditional failure. */
#define test_fail(...) expect_report_(__FILE__, __LINE__, "failed", "" __VA_ARGS__)

/* Skips the running test (call it and return). */
static TEST_UNUSED int test_skip_flag_;
#define test_skip(...)                                                                    \
	do {                                                                               \
		test_skip_flag_ = 1;                                                           \
		fprintf(stderr, "%s: skipped: ", test_name_);                                  \
		fprintf(stderr, "" __VA_ARGS__);                                               \
		fputc('\n', stderr);                                                           \
	} while (0)

static TEST_UNUSED unsigned long test_failures(void)
{
	return __atomic_load_n(&expect_nfail_, __ATOMIC_RELAXED);
}

/* Runs one test function and prints its verdict. */
static TEST_UNUSED void test_run_(void (*fn)(void), const char *name)
{
	unsigned long before = test_failures();
	test_name_ = name;
	test_skip_flag_ = 0;
	fn();
	unsigned long nf = test_failures() - before;
	if (nf) {
		test_nfail_++;
		fprintf(stderr, "FAIL: %s (%lu failed expectations)\n", name, nf);
	} else if (test_skip_flag_) {
		test_nskip_++;
		fprintf(stderr, "SKIP: %s\n", name);
	} else {
		test_npass_++;
		fprintf(stderr, "pass: %s\n", name);
	}
	fflush(stderr);
	test_name_ = "main";
}
#define test_run(fn) test_run_(fn, #fn)

/* 0 all passed (or some skipped), 1 any failed, 77 all skipped. */
static TEST_UNUSED int test_summary(void)
{
	fprintf(stderr, "%d passed, %d failed, %d skipped; %lu failed expectations\n",
	        test_npass_, test_nfail_, test_nskip_, test_failures());
	if (test_nfail_ || test_failures())
		return 1;
	if (test_npass_ == 0 && test_nskip_ > 0)
		return 77;
	return 0;
}

/* The header serves C++ tests too (test_cxx.cc). */
#ifdef __cplusplus
#define EXPECT_AUTO_ auto
#else
#define EXPECT_AUTO_ __auto_type
#endif

/* Hides a value from the optimiser (so that malloc(SIZE_MAX) or a
 * malloc/free pair is not folded away). */
#define opaque(x)                                                                         \
	__extension__({                                                                    \
		EXPECT_AUTO_ o_ = (x);                                                         \
		__asm__ volatile("" : "+r"(o_));                                               \
		o_;                                                                            \
	})

/* A small, fast, seedable PRNG (splitmix64). */
static TEST_UNUSED inline uint64_t test_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Offset of the first nonzero byte of the n at p, or SIZE_MAX. */
static TEST_UNUSED size_t test_first_nonzero(const void *p, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		if (w)
			break;
	}
	for (; i < n; i++)
		if (b[i])
			return i;
	return SIZE_MAX;
}

/* Fills n bytes at p with a pattern of byte offset and seed: byte i is byte
 * i % 8 of the word seed + (i / 8) * K, so a block copied to another place
 * keeps checking out against its seed, and one moved by some bytes does not. */
static TEST_UNUSED inline uint64_t test_word_(uint64_t seed, size_t k)
{
	return (seed + (uint64_t)k * 0x9e3779b97f4a7c15ull) ^ 0x5bd1e9955bd1e995ull;
}

static TEST_UNUSED void test_fill(void *p, size_t n, uint64_t seed)
{
	unsigned char *b = (unsigned char *)p;
	size_t nw = n / 8;
	for (size_t k = 0; k < nw; k++) {
		uint64_t w = test_word_(seed, k);
		memcpy(b + 8 * k, &w, 8);
	}
	uint64_t w = test_word_(seed, nw);
	for (size_t i = 8 * nw; i < n; i++)
		b[i] = (unsigned char)(w >> (8 * (i % 8)));
}

/* Offset of the first byte at p that is not test_fill's, or SIZE_MAX. */
static TEST_UNUSED size_t test_check(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = (const unsigned char *)p;
	size_t nw = n / 8;
	for (size_t k = 0; k < nw; k++) {
		uint64_t w;
		memcpy(&w, b + 8 * k, 8);
		if (w != test_word_(seed, k)) {
			uint64_t want = test_word_(seed, k);
			for (size_t i = 0; i < 8; i++)
				if ((unsigned char)(w >> (8 * i)) != (unsigned char)(want >> (8 * i)))
					return 8 * k + i;
		}
	}
	uint64_t w = test_word_(seed, nw);
	for (size_t i = 8 * nw; i < n; i++)
		if (b[i] != (unsigned char)(w >> (8 * (i % 8))))
			return i;
	return SIZE_MAX;
}

#endif
