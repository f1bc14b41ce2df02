/* test_jemalloc - jemalloc's API answers with jemalloc's semantics for
 * hakmem's heap: mallctl and its MIBs (the mapped keys, jemalloc's error
 * codes, the old-then-new order, partial MIBs, arena.<i>.purge for one arena
 * and MALLCTL_ARENAS_ALL lowering VmRSS, thread.allocatedp), nallocx against
 * the usable size of real allocations over sizes and alignments, mallocx /
 * rallocx / xallocx / sallocx / dallocx / sdallocx with their flags,
 * malloc_stats_print (text, and JSON read by python3), malloc_good_size, and
 * glibc's __libc_ names. Linked with libhakmem. */
#include "expect.h"

#include <errno.h>
#include <hakmem.h>
#include <hakmem_jemalloc.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void *__libc_valloc(size_t);
void *__libc_pvalloc(size_t);
void __libc_free(void *);

static void *volatile sink;

static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %zu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

static size_t je_size(const char *name)
{
	size_t v = 0, sz = sizeof v;
	expect_int_eq(mallctl(name, &v, &sz, NULL, 0), 0, "%s", name);
	return v;
}

static size_t hk_size(const char *name)
{
	size_t v = 0, sz = sizeof v;
	expect_int_eq(hakmem_ctl(name, &v, &sz, NULL, 0), 0, "%s", name);
	return v;
}

static unsigned je_unsigned(const char *name)
{
	unsigned v = 0;
	size_t sz = sizeof v;
	expect_int_eq(mallctl(name, &v, &sz, NULL, 0), 0, "%s", name);
	return v;
}

static void epoch(void)
{
	uint64_t e = 1;
	size_t sz = sizeof e;
	expect_int_eq(mallctl("epoch", &e, &sz, &e, sz), 0);
}

/* ---- mallctl ---- */

static void test_version_epoch(void)
{
	const char *v = NULL;
	size_t sz = sizeof v;
	expect_int_eq(mallctl("version", &v, &sz, NULL, 0), 0);
	expect_str_eq(v, HAKMEM_VERSION);
	uint64_t e0 = 0, e1 = 0, e = 1;
	sz = sizeof e0;
	expect_int_eq(mallctl("epoch", &e0, &sz, NULL, 0), 0);
	/* jemalloc's epoch writes first, then reads: the new number. */
	expect_int_eq(mallctl("epoch", &e1, &sz, &e, sizeof e), 0);
	expect_u64_eq(e1, e0 + 1);
	e = 1;
	expect_int_eq(mallctl("epoch", &e, &sz, &e, sizeof e), 0, "the same buffer both ways");
	expect_u64_eq(e, e1 + 1);
	expect_int_eq(mallctl("epoch", NULL, NULL, &e, sizeof e), 0);
	expect_int_eq(mallctl("epoch", NULL, NULL, NULL, 0), 0, "neither: nothing to do");
}

static void test_stats(void)
{
	epoch();
	size_t a0 = je_size("stats.allocated");
	enum { N = 4000 };
	static void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = malloc(2500);
	epoch();
	size_t a1 = je_size("stats.allocated");
	expect_zu_ge(a1 - a0, (size_t)N * 2500, "stats.allocated follows the heap");
	expect_zu_eq(a1, hk_size("stats.allocated"), "the hakmem key's value");
	size_t active = je_size("stats.active"), resident = je_size("stats.resident");
	size_t mapped = je_size("stats.mapped");
	expect_zu_ge(active, a1);
	expect_zu_ge(mapped, active);
	expect_zu_gt(resident, 0);
	expect_zu_eq(je_size("stats.retained"), hk_size("stats.retained"));
	expect_zu_eq(je_size("stats.metadata"), hk_size("stats.metadata"));
	for (int i = 0; i < N; i++)
		free(p[i]);
	/* Snapshot values: unchanged until the next epoch. */
	expect_zu_eq(je_size("stats.allocated"), a1);
	epoch();
	expect_zu_lt(je_size("stats.allocated"), a1);
}

static void test_errors(void)
{
	size_t v = 0, sz = sizeof v;
	const char *unknown[] = { "", "stats", "stats.", "stats.allocated.x", "no.such.key",
	                          "arena", "arena.x.purge", "arena.0", "arenas.bin.66.size",
	                          "arena.99999999999999999999999.purge", "thread.tcache",
	                          "prof.active", "arenas.create" };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		expect_int_eq(mallctl(unknown[i], &v, &sz, NULL, 0), ENOENT, "'%s'", unknown[i]);
	expect_int_eq(mallctl(NULL, &v, &sz, NULL, 0), ENOENT);
	char name[64];
	unsigned na = je_unsigned("arenas.narenas");
	snprintf(name, sizeof name, "arena.%u.purge", na + 1 == MALLCTL_ARENAS_ALL ? na + 2 : na + 1);
	expect_int_eq(mallctl(name, NULL, NULL, NULL, 0), ENOENT, "%s", name);
	/* A wrong length: what fits is copied, *oldlenp says how much. */
	uint32_t small = 0xdeadbeef;
	sz = sizeof small;
	expect_int_eq(mallctl("stats.allocated", &small, &sz, NULL, 0), EINVAL);
	expect_zu_eq(sz, sizeof small);
	expect_true(small != 0xdeadbeef, "the first bytes were copied");
	uint64_t big[2] = { 0, 7 };
	sz = sizeof big;
	expect_int_eq(mallctl("arenas.narenas", big, &sz, NULL, 0), EINVAL);
	expect_zu_eq(sz, sizeof(unsigned));
	expect_u64_eq(big[0] & 0xffffffffu, na);
	/* Writes: read-only EPERM, wrong newlen EINVAL. */
	v = 1;
	expect_int_eq(mallctl("stats.allocated", NULL, NULL, &v, sizeof v), EPERM);
	expect_int_eq(mallctl("version", NULL, NULL, &v, sizeof v), EPERM);
	expect_int_eq(mallctl("arenas.narenas", NULL, NULL, &v, sizeof v), EPERM);
	expect_int_eq(mallctl("opt.narenas", NULL, NULL, &v, sizeof(unsigned)), EPERM);
	uint32_t e32 = 1;
	expect_int_eq(mallctl("epoch", NULL, NULL, &e32, sizeof e32), EINVAL);
	/* Actions take nothing. */
	sz = sizeof v;
	expect_int_eq(mallctl("arena.0.purge", &v, &sz, NULL, 0), EPERM);
	expect_int_eq(mallctl("thread.tcache.flush", NULL, NULL, &v, sizeof v), EPERM);
	expect_int_eq(mallctl("thread.tcache.flush", NULL, &sz, NULL, 0), EPERM);
	/* jemalloc: EFAULT for an arena that does not exist. */
	unsigned bad = 100000;
	expect_int_eq(mallctl("thread.arena", NULL, NULL, &bad, sizeof bad), EFAULT);
	size_t mib[4], miblen = 4;
	expect_int_eq(mallctlnametomib("no.such", mib, &miblen), ENOENT);
	expect_int_eq(mallctlnametomib("epoch", NULL, &miblen), EINVAL);
	expect_int_eq(mallctlbymib(NULL, 0, NULL, NULL, NULL, 0), ENOENT);
	mib[0] = 100000;
	expect_int_eq(mallctlbymib(mib, 1, NULL, NULL, NULL, 0), ENOENT);
}

static void test_keys(void)
{
	unsigned na = je_unsigned("arenas.narenas"), hna = 0;
	size_t sz = sizeof hna;
	hakmem_ctl("arenas.narenas", &hna, &sz, NULL, 0);
	expect_u_eq(na, hna);
	expect_u_eq(je_unsigned("opt.narenas"), na);
	expect_zu_eq(je_size("arenas.page"), 4096);
	expect_zu_eq(je_size("arenas.quantum"), 16);
	unsigned nbins = je_unsigned("arenas.nbins"), nclasses = 0;
	sz = sizeof nclasses;
	hakmem_ctl("arenas.nclasses", &nclasses, &sz, NULL, 0);
	expect_u_eq(nbins, nclasses);
	expect_u_eq(je_unsigned("arenas.nlextents"), 0);
	bool b = true;
	sz = sizeof b;
	expect_int_eq(mallctl("config.stats", &b, &sz, NULL, 0), 0);
	expect_true(b);
	expect_int_eq(mallctl("opt.tcache", &b, &sz, NULL, 0), 0);
	expect_true(b, "thread caches are on by default");
	expect_int_eq(mallctl("opt.stats_print", &b, &sz, NULL, 0), 0);
	expect_false(b);
	ssize_t d = 0, hd = 0;
	sz = sizeof d;
	expect_int_eq(mallctl("opt.dirty_decay_ms", &d, &sz, NULL, 0), 0);
	hakmem_ctl("decay_ms", &hd, &sz, NULL, 0);
	expect_int_eq((int)d, (int)hd);
	expect_int_eq(mallctl("opt.muzzy_decay_ms", &d, &sz, NULL, 0), 0);
	expect_int_eq((int)d, 0, "no muzzy pages");
	/* arenas.dirty_decay_ms and arena.<i>.dirty_decay_ms are decay_ms. */
	ssize_t old = 0, nv = 700;
	expect_int_eq(mallctl("arenas.dirty_decay_ms", &old, &sz, &nv, sizeof nv), 0);
	expect_int_eq((int)old, (int)hd, "the old value first");
	hakmem_ctl("decay_ms", &d, &sz, NULL, 0);
	expect_int_eq((int)d, 700);
	expect_int_eq(mallctl("arena.0.dirty_decay_ms", &d, &sz, NULL, 0), 0);
	expect_int_eq((int)d, 700);
	expect_int_eq(mallctl("arena.4096.dirty_decay_ms", NULL, NULL, &hd, sizeof hd), 0);
	hakmem_ctl("decay_ms", &d, &sz, NULL, 0);
	expect_int_eq((int)d, (int)hd, "restored");
	/* arenas.bin.<i>.size walks the classes through a MIB. */
	size_t mib[4], miblen = 4;
	expect_int_eq(mallctlnametomib("arenas.bin.0.size", mib, &miblen), 0);
	expect_zu_eq(miblen, 4);
	for (unsigned i = 0; i < nbins; i++) {
		size_t cs = 0, hcs = 0;
		char name[64];
		mib[2] = i;
		sz = sizeof cs;
		expect_int_eq(mallctlbymib(mib, miblen, &cs, &sz, NULL, 0), 0, "bin %u", i);
		snprintf(name, sizeof name, "arenas.class.%u.size", i);
		hakmem_ctl(name, &hcs, &sz, NULL, 0);
		expect_zu_eq(cs, hcs, "bin %u", i);
	}
	mib[2] = nbins;
	expect_int_eq(mallctlbymib(mib, miblen, &d, &sz, NULL, 0), ENOENT);
}

static void test_mib_purge(void)
{
	size_t mib[3], miblen = 3;
	expect_int_eq(mallctlnametomib("arena.0.purge", mib, &miblen), 0);
	expect_zu_eq(miblen, 3);
	expect_zu_eq(mib[1], 0, "the arena index where jemalloc puts it");
	unsigned na = je_unsigned("arenas.narenas");
	for (unsigned i = 0; i < na; i++) {
		mib[1] = i;
		expect_int_eq(mallctlbymib(mib, 3, NULL, NULL, NULL, 0), 0, "arena %u", i);
	}
	mib[1] = MALLCTL_ARENAS_ALL;
	expect_int_eq(mallctlbymib(mib, 3, NULL, NULL, NULL, 0), 0);
	mib[1] = na; /* jemalloc: narenas means every arena too */
	expect_int_eq(mallctlbymib(mib, 3, NULL, NULL, NULL, 0), 0);
	if (na + 1 != MALLCTL_ARENAS_ALL) {
		mib[1] = na + 1;
		expect_int_eq(mallctlbymib(mib, 3, NULL, NULL, NULL, 0), ENOENT);
	}
	expect_int_eq(mallctlbymib(mib, 2, NULL, NULL, NULL, 0), ENOENT, "too short");
	mib[1] = 0;
	mib[2] = mib[0] + 1;
	expect_int_eq(mallctlbymib(mib, 3, NULL, NULL, NULL, 0), ENOENT, "another key's row");
	/* A partial MIB: the first components. */
	size_t part[2], plen = 2;
	expect_int_eq(mallctlnametomib("arena.7.decay", part, &plen), na > 7 ? 0 : ENOENT);
	if (na > 7) {
		expect_zu_eq(plen, 2);
		expect_zu_eq(part[1], 7);
		expect_int_eq(mallctlbymib(part, plen, NULL, NULL, NULL, 0), ENOENT, "not a key");
	}
	expect_int_eq(mallctl("arena.0.decay", NULL, NULL, NULL, 0), 0);
	expect_int_eq(mallctl("arena.4096.decay", NULL, NULL, NULL, 0), 0);
}

/* arena.4096.purge gives freed memory back now (decay_ms would keep it
 * resident for a second). */
static void test_purge_rss(void)
{
	/* decay_ms=-1: nothing goes back on its own while the test reads. */
	ssize_t never = -1, decay = 0;
	size_t dsz = sizeof decay;
	hakmem_ctl("decay_ms", &decay, &dsz, &never, sizeof never);
	enum { N = 16384 };
	static void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(4000); /* 64 MB of small blocks */
		memset(p[i], 0x5a, 4000);
	}
	size_t full = rss_bytes();
	for (int i = 0; i < N; i++)
		free(p[i]);
	size_t freed = rss_bytes();
	expect_int_eq(mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0);
	size_t purged = rss_bytes();
	fprintf(stderr, "VmRSS: %zu MB with the blocks, %zu MB freed, %zu MB purged\n", full >> 20,
	        freed >> 20, purged >> 20);
	expect_zu_gt(freed, purged + (32 << 20), "purge returned the freed pages");
	/* And the same through "arena.<narenas>.purge", after a big free. */
	void *big = malloc(48 << 20);
	memset(big, 1, 48 << 20);
	free(big);
	size_t before = rss_bytes();
	char name[32];
	snprintf(name, sizeof name, "arena.%u.purge", je_unsigned("arenas.narenas"));
	expect_int_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
	expect_zu_gt(before, rss_bytes() + (32 << 20), "a freed large block is purged too");
	hakmem_ctl("decay_ms", NULL, NULL, &decay, sizeof decay);
}

struct thread_bytes {
	uint64_t *ap, *dp;
	uint64_t a0, a1, d0, d1;
};

static void *thread_bytes_worker(void *arg)
{
	struct thread_bytes *t = arg;
	size_t sz = sizeof t->ap;
	expect_int_eq(mallctl("thread.allocatedp", &t->ap, &sz, NULL, 0), 0);
	expect_int_eq(mallctl("thread.deallocatedp", &t->dp, &sz, NULL, 0), 0);
	t->a0 = *t->ap;
	t->d0 = *t->dp;
	void *p = malloc(1 << 20);
	sink = p;
	free(p);
	uint64_t a = 0;
	sz = sizeof a;
	expect_int_eq(mallctl("thread.allocated", &a, &sz, NULL, 0), 0);
	t->a1 = *t->ap;
	t->d1 = *t->dp;
	expect_u64_eq(a, t->a1, "the counter holds the value just read");
	return NULL;
}

static void test_thread_bytes(void)
{
	struct thread_bytes t1 = { 0 }, t2 = { 0 };
	pthread_t th;
	pthread_create(&th, NULL, thread_bytes_worker, &t1);
	pthread_join(th, NULL);
	expect_u64_ge(t1.a1 - t1.a0, 1 << 20, "thread.allocatedp after a 1 MiB malloc");
	expect_u64_ge(t1.d1 - t1.d0, 1 << 20, "thread.deallocatedp after its free");
	pthread_create(&th, NULL, thread_bytes_worker, &t2);
	thread_bytes_worker(&t1);
	pthread_join(th, NULL);
	expect_true(t1.ap != t2.ap, "one counter per thread");
	uint64_t *again = NULL;
	size_t sz = sizeof again;
	mallctl("thread.allocatedp", &again, &sz, NULL, 0);
	expect_ptr_eq(again, t1.ap, "the same counter for the thread's life");
	expect_int_eq(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
}

static void test_background_thread(void)
{
	bool b = false, t = true, f = false, opt = false;
	size_t sz = sizeof b, n = 9;
	uint64_t runs = 0;
	expect_int_eq(mallctl("opt.background_thread", &opt, &sz, NULL, 0), 0);
	expect_true(opt, "hakmem's default: a background thread");
	expect_int_eq(mallctl("background_thread", &b, &sz, NULL, 0), 0);
	expect_true(b);
	/* Written true, it runs, even in this single-threaded process. */
	expect_int_eq(mallctl("background_thread", &b, &sz, &t, sizeof t), 0);
	sz = sizeof n;
	expect_int_eq(mallctl("stats.background_thread.num_threads", &n, &sz, NULL, 0), 0);
	expect_zu_eq(n, 1);
	sz = sizeof runs;
	expect_int_eq(mallctl("stats.background_thread.num_runs", &runs, &sz, NULL, 0), 0);
	/* Written false, it stops before the write returns; the old value first. */
	b = false;
	sz = sizeof b;
	expect_int_eq(mallctl("background_thread", &b, &sz, &f, sizeof f), 0);
	expect_true(b, "the old value is read before the write");
	sz = sizeof n;
	expect_int_eq(mallctl("stats.background_thread.num_threads", &n, &sz, NULL, 0), 0);
	expect_zu_eq(n, 0);
	sz = sizeof b;
	expect_int_eq(mallctl("opt.background_thread", &b, &sz, NULL, 0), 0);
	expect_true(b == opt, "opt.background_thread is the start value");
	int wide = 1;
	expect_int_eq(mallctl("background_thread", NULL, NULL, &wide, sizeof wide), EINVAL);
}

/* ---- sizes ---- */

static void check_nallocx(size_t size, int flags, const char *what)
{
	size_t n = nallocx(size, flags);
	void *p = mallocx(size, flags);
	if (!expect_ptr_not_null(p, "%s %zu", what, size))
		return;
	expect_zu_eq(n, malloc_usable_size(p), "%s: size %zu flags %#x", what, size, flags);
	expect_zu_eq(sallocx(p, flags), malloc_usable_size(p));
	expect_zu_ge(n, size);
	dallocx(p, flags);
}

static void test_nallocx_classes(void)
{
	for (size_t s = 0; s <= 5000; s++)
		check_nallocx(s, 0, "malloc");
	for (size_t s = 5000; s <= 1835008; s += s / 7 + 1)
		check_nallocx(s, 0, "malloc");
	check_nallocx(1835008, 0, "largest class");
	for (int la = 0; la <= 15; la++)
		for (size_t s = 1; s <= 70000; s = s * 3 + (size_t)la)
			check_nallocx(s, MALLOCX_LG_ALIGN(la), "aligned");
	for (size_t a = 1; a <= 32768; a <<= 1)
		for (size_t s = a / 2; s < 3 * a + 100; s += a / 3 + 1)
			check_nallocx(s, MALLOCX_ALIGN(a), "MALLOCX_ALIGN");
	for (size_t s = 1; s < 3000; s += 17) {
		void *p = malloc(s);
		expect_zu_eq(malloc_good_size(s), malloc_usable_size(p), "malloc_good_size(%zu)", s);
		free(p);
	}
	expect_zu_eq(nallocx(SIZE_MAX, 0), 0, "too large: 0");
	expect_zu_eq(nallocx((size_t)PTRDIFF_MAX + 1, 0), 0);
	expect_zu_eq(nallocx(100, MALLOCX_LG_ALIGN(63)), 0, "an alignment no mapping can give");
	expect_ptr_null(mallocx(100, MALLOCX_LG_ALIGN(63)));
	expect_zu_eq(nallocx((size_t)1 << 48, 0), 0, "more than the address space");
}

/* Large blocks: exact for a fresh mapping (decay_ms=0: no freed mapping is
 * kept for reuse), at most a quarter more when a kept one is reused. In a
 * child, so the tunable stays the child's. */
static void test_nallocx_large(void)
{
	unsigned long before = test_failures();
	pid_t pid = fork();
	if (pid == 0) {
		ssize_t zero = 0;
		hakmem_ctl("decay_ms", NULL, NULL, &zero, sizeof zero);
		for (size_t s = 1835009; s < (64 << 20); s += s / 3 + 4097)
			check_nallocx(s, 0, "large");
		for (int la = 12; la <= 22; la++)
			check_nallocx((3 << 20) + 5, MALLOCX_LG_ALIGN(la), "large aligned");
		for (int la = 16; la <= 22; la++)
			check_nallocx(100, MALLOCX_LG_ALIGN(la), "small, aligned beyond a class");
		_exit(test_failures() != before ? 1 : 0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fresh large blocks: status %#x", st);
	for (size_t s = 2 << 20; s < (16 << 20); s += s / 5) {
		void *p = malloc(s + (1 << 20));
		free(p);
		p = mallocx(s, 0);
		size_t n = nallocx(s, 0), u = sallocx(p, 0);
		expect_zu_ge(u, n, "size %zu", s);
		expect_zu_le(u, n + n / 4 + 4096, "size %zu", s);
		dallocx(p, 0);
	}
}

/* ---- mallocx and friends ---- */

static void test_mallocx(void)
{
	for (int la = 0; la <= 22; la++) {
		void *p = mallocx(1000, MALLOCX_LG_ALIGN(la));
		expect_aligned(p, (size_t)1 << la, "la %d", la);
		dallocx(p, MALLOCX_LG_ALIGN(la));
	}
	/* MALLOCX_ZERO: every usable byte, after the block was dirty. */
	for (size_t s = 8; s < 300000; s = s * 2 + 3) {
		void *d = malloc(s);
		memset(d, 0xee, malloc_usable_size(d));
		free(d);
		void *p = mallocx(s, MALLOCX_ZERO);
		expect_zu_eq(test_first_nonzero(p, sallocx(p, 0)), SIZE_MAX, "size %zu", s);
		dallocx(p, 0);
		d = malloc(s);
		memset(d, 0xee, malloc_usable_size(d));
		free(d);
		p = mallocx(s, MALLOCX_ZERO | MALLOCX_ALIGN(64));
		expect_aligned(p, 64);
		expect_zu_eq(test_first_nonzero(p, sallocx(p, 0)), SIZE_MAX, "aligned, size %zu", s);
		dallocx(p, 0);
	}
	/* Thread caches and arenas are hakmem's: the flags are accepted. */
	void *p = mallocx(100, MALLOCX_TCACHE_NONE);
	expect_ptr_not_null(p);
	dallocx(p, MALLOCX_TCACHE_NONE);
	p = mallocx(100, MALLOCX_ARENA(0) | MALLOCX_TCACHE(3));
	expect_ptr_not_null(p);
	sdallocx(p, 100, MALLOCX_ARENA(0));
	/* Impossible requests: NULL. */
	expect_ptr_null(mallocx(opaque(SIZE_MAX), 0));
	expect_ptr_null(mallocx(100, MALLOCX_LG_ALIGN(62)));
	/* dallocx and sdallocx free. */
	uint64_t e = 1, f0 = 0, f1 = 0;
	size_t sz = sizeof f0;
	hakmem_ctl("epoch", NULL, NULL, &e, sizeof e);
	hakmem_ctl("stats.nfree", &f0, &sz, NULL, 0);
	for (int i = 0; i < 1000; i++) {
		dallocx(mallocx(64, 0), 0);
		sdallocx(mallocx(200, 0), 200, 0);
		sdallocx(mallocx(200, MALLOCX_ALIGN(128)), 200, MALLOCX_ALIGN(128));
	}
	hakmem_ctl("epoch", NULL, NULL, &e, sizeof e);
	hakmem_ctl("stats.nfree", &f1, &sz, NULL, 0);
	expect_u64_ge(f1 - f0, 3000, "dallocx and sdallocx freed");
}

static void test_rallocx(void)
{
	uint64_t seed = 1;
	size_t size = 10;
	void *p = mallocx(size, 0);
	test_fill(p, size, seed);
	while (size < (24 << 20)) {
		size_t ns = size * 3 / 2 + 7;
		void *q = rallocx(p, ns, 0);
		if (!expect_ptr_not_null(q, "%zu", ns))
			return;
		expect_zu_eq(test_check(q, size, seed), SIZE_MAX, "%zu -> %zu keeps contents", size, ns);
		expect_zu_ge(sallocx(q, 0), ns);
		p = q;
		size = ns;
		test_fill(p, size, ++seed);
	}
	while (size > 10) { /* and back down */
		size_t ns = size / 3;
		void *q = rallocx(p, ns, 0);
		expect_zu_eq(test_check(q, ns, seed), SIZE_MAX, "%zu -> %zu", size, ns);
		p = q;
		size = ns;
		test_fill(p, size, ++seed);
	}
	dallocx(p, 0);
	/* With an alignment: kept at every size. */
	p = mallocx(100, MALLOCX_ALIGN(4096));
	size = 100;
	test_fill(p, size, seed);
	for (size_t ns = 200; ns < (8 << 20); ns = ns * 2 + 1) {
		void *q = rallocx(p, ns, MALLOCX_ALIGN(4096));
		expect_aligned(q, 4096, "%zu", ns);
		expect_zu_eq(test_check(q, size, seed), SIZE_MAX, "aligned %zu", ns);
		p = q;
		size = ns;
		test_fill(p, size, ++seed);
	}
	dallocx(p, 0);
	/* MALLOCX_ZERO: what grows past the old usable size is zero. */
	for (size_t s = 16; s < (4 << 20); s = s * 3 + 1) {
		void *d = malloc(s * 4);
		memset(d, 0xcc, malloc_usable_size(d));
		free(d);
		p = mallocx(s, 0);
		memset(p, 0xab, sallocx(p, 0));
		size_t old = sallocx(p, 0);
		void *q = rallocx(p, s * 4, MALLOCX_ZERO);
		size_t nu = sallocx(q, 0);
		const unsigned char *b = q;
		expect_int_eq(b[old - 1], 0xab, "old bytes kept");
		expect_zu_eq(test_first_nonzero(b + old, nu - old), SIZE_MAX, "%zu -> %zu zeroed", s,
		             s * 4);
		dallocx(q, 0);
	}
	/* A failure keeps the block. */
	p = mallocx(100, 0);
	memset(p, 7, 100);
	expect_ptr_null(rallocx(p, opaque(SIZE_MAX / 2), 0));
	expect_int_eq(((unsigned char *)p)[99], 7);
	/* Size 0 is no free. */
	void *q = rallocx(p, 0, 0);
	expect_ptr_not_null(q);
	dallocx(q, 0);
}

static void test_xallocx(void)
{
	/* A small block: never moves, returns its real size. */
	void *p = mallocx(100, 0);
	size_t u = sallocx(p, 0);
	memset(p, 3, 100);
	expect_zu_eq(xallocx(p, 100, 0, 0), u);
	expect_zu_eq(xallocx(p, 5000, 0, 0), u, "cannot grow in place: the old size");
	expect_zu_eq(xallocx(p, u, 0, 0), u);
	expect_zu_eq(sallocx(p, 0), u);
	expect_int_eq(((unsigned char *)p)[99], 3);
	dallocx(p, 0);
	/* A block alone in its span grows into the free units after it. */
	int grown = 0;
	for (int i = 0; i < 8; i++) {
		p = mallocx(300 << 10, 0);
		test_fill(p, 300 << 10, 9);
		u = sallocx(p, 0);
		size_t r = xallocx(p, 400 << 10, 100 << 10, MALLOCX_ZERO);
		expect_zu_eq(r, sallocx(p, 0), "the real size");
		expect_zu_eq(test_check(p, 300 << 10, 9), SIZE_MAX, "contents kept in place");
		if (r >= (400 << 10)) {
			grown++;
			expect_zu_eq(test_first_nonzero((char *)p + u, r - u), SIZE_MAX, "growth zeroed");
		} else {
			expect_zu_eq(r, u);
		}
		/* and gives its tail back */
		size_t s = xallocx(p, 260 << 10, 0, 0);
		expect_zu_ge(s, 260 << 10);
		expect_zu_le(s, r);
		expect_zu_eq(test_check(p, 260 << 10, 9), SIZE_MAX);
		dallocx(p, 0);
	}
	/* Whether one grew depends on where best fit put it (units free
	 * after it or not): both outcomes are checked above. */
	(void)grown;
	/* A large block: shrinks in place, never grows here. */
	p = mallocx(8 << 20, 0);
	test_fill(p, 3 << 20, 4);
	u = sallocx(p, 0);
	expect_zu_eq(xallocx(p, 16 << 20, 0, 0), u);
	size_t s = xallocx(p, 3 << 20, 0, 0);
	expect_zu_ge(s, 3 << 20);
	expect_zu_lt(s, u, "the tail went back");
	expect_zu_eq(sallocx(p, 0), s);
	expect_zu_eq(test_check(p, 3 << 20, 4), SIZE_MAX);
	dallocx(p, 0);
	/* An alignment the block lacks: unchanged. */
	p = mallocx(100, 0);
	if (((uintptr_t)p & 4095) != 0)
		expect_zu_eq(xallocx(p, 100, 0, MALLOCX_ALIGN(4096)), sallocx(p, 0));
	dallocx(p, 0);
}

/* ---- malloc_stats_print ---- */

struct buf {
	char *s;
	size_t len, cap;
};

static void buf_cb(void *opaque, const char *text)
{
	struct buf *b = opaque;
	size_t n = strlen(text);
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, text, n + 1);
	b->len += n;
}

static void test_stats_print(void)
{
	struct buf t = { 0 }, j = { 0 };
	malloc_stats_print(buf_cb, &t, NULL);
	if (expect_ptr_not_null(t.s))
		expect_true(strstr(t.s, "hakmem") != NULL, "hakmem's text: %.60s", t.s);
	malloc_stats_print(buf_cb, &j, "J");
	if (!expect_ptr_not_null(j.s))
		return;
	expect_int_eq(j.s[0], '{', "JSON: %.60s", j.s);
	const char *py = getenv("PYTHON3");
	if (py == NULL || py[0] == '\0')
		py = "python3";
	char cmd[512];
	snprintf(cmd, sizeof cmd,
	         "%s -c 'import json,sys; d=json.load(sys.stdin); int(d[\"stats\"][\"allocated\"])'"
	         " 2>/dev/null",
	         py);
	FILE *f = popen(cmd, "w");
	if (f != NULL) {
		fwrite(j.s, 1, j.len, f);
		int st = pclose(f);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			fprintf(stderr, "no python3: the JSON is not parsed\n");
		else
			expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python3 parses it: %d", st);
	}
	free(t.s);
	free(j.s);
	/* opts letters that omit jemalloc's sections are accepted. */
	struct buf o = { 0 };
	malloc_stats_print(buf_cb, &o, "gmdablx");
	expect_ptr_not_null(o.s);
	free(o.s);
}

/* ---- glibc's __libc_ names ---- */

static void test_libc_names(void)
{
	void *p = __libc_malloc(100);
	expect_zu_eq(hakmem_usable_size(p), 112, "hakmem's block");
	free(p);
	p = malloc(100);
	__libc_free(p);
	p = __libc_calloc(10, 10);
	expect_zu_eq(test_first_nonzero(p, 100), SIZE_MAX);
	p = __libc_realloc(p, 5000);
	expect_zu_eq(test_first_nonzero(p, 100), SIZE_MAX);
	expect_zu_eq(hakmem_usable_size(p), 5120);
	free(p);
	p = __libc_memalign(4096, 100);
	expect_aligned(p, 4096);
	free(p);
	p = __libc_valloc(10);
	expect_aligned(p, 4096);
	free(p);
	p = __libc_pvalloc(1);
	expect_aligned(p, 4096);
	expect_zu_ge(hakmem_usable_size(p), 4096);
	__libc_free(p);
	free(__libc_malloc(100));
}

int main(void)
{
	test_run(test_version_epoch);
	test_run(test_stats);
	test_run(test_errors);
	test_run(test_keys);
	test_run(test_mib_purge);
	test_run(test_purge_rss);
	test_run(test_thread_bytes);
	test_run(test_background_thread);
	test_run(test_nallocx_classes);
	test_run(test_nallocx_large);
	test_run(test_mallocx);
	test_run(test_rallocx);
	test_run(test_xallocx);
	test_run(test_stats_print);
	test_run(test_libc_names);
	return test_summary();
}
