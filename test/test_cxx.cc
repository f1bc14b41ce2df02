/* test_cxx - C++'s operators new and delete are hakmem's, however the program
 * gets hakmem. One source, four programs (test/dropin.mk):
 *
 *   test_cxx_shared    linked with libhakmem.la (the shared library)
 *   test_cxx_static    linked with libhakmem.a (libtool -static): the
 *                      archive member with the operators is pulled by the
 *                      program's references to them
 *   test_cxx_asneeded  -Wl,--as-needed, and no hakmem_ or C allocation name
 *                      in the program (CXX_NEW_ONLY): only the operators keep
 *                      libhakmem.so NEEDED
 *   test_cxx_plain     no hakmem at all: test/test_cxx.sh runs it with
 *                      libhakmem.so in LD_PRELOAD
 *
 * Each checks that every operator the process resolves (dlsym of the mangled
 * names: what libstdc++'s own calls reach too) is in the object that holds
 * hakmem_ctl, and that hakmem's per-class counters (stats.arenas.<i>.class.
 * <c>.nmalloc) grew by at least the number of news of a distinctive size; then
 * containers, strings and threads, aligned new (alignas 64, 4096, 65536),
 * new[]/delete[] with cookies and sized delete, nothrow new of an impossible
 * size (NULL), throwing new (std::bad_alloc through hakmem's C frames), the
 * new-handler loop (called, uninstalled, throwing, and one that frees a
 * reserve under an address-space limit so that the retry succeeds), and
 * free() of new's blocks. */
#include "expect.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <list>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#ifdef HAKMEM_LINKED
#include <hakmem.h>
#endif

typedef int (*ctl_fn)(const char *, void *, size_t *, const void *, size_t);
static ctl_fn ctl;          /* hakmem_ctl */
static const char *ctl_obj; /* the object that defines it, */
static void *ctl_base;      /* and where it is loaded */

/* hakmem_ctl: linked, or found in the process (preloaded, or kept NEEDED
 * by --as-needed). */
static bool find_hakmem(void)
{
#ifdef HAKMEM_LINKED
	ctl = hakmem_ctl;
#else
	ctl = (ctl_fn)dlsym(RTLD_DEFAULT, "hakmem_ctl");
#endif
	Dl_info di;
	if (ctl == NULL || dladdr((void *)ctl, &di) == 0)
		return false;
	ctl_obj = di.dli_fname;
	ctl_base = di.dli_fbase;
	return true;
}

static void refresh(void)
{
	uint64_t e = 1;
	ctl("epoch", NULL, NULL, &e, sizeof e);
}

static unsigned ctl_unsigned(const char *name)
{
	unsigned v = 0;
	size_t sz = sizeof v;
	expect_int_eq(ctl(name, &v, &sz, NULL, 0), 0, "%s", name);
	return v;
}

/* The class that serves `size` bytes aligned to `align`. */
static unsigned class_of(size_t size, size_t align)
{
	unsigned n = ctl_unsigned("arenas.nclasses");
	for (unsigned c = 0; c < n; c++) {
		char name[64];
		size_t cs, sz = sizeof cs;
		snprintf(name, sizeof name, "arenas.class.%u.size", c);
		if (ctl(name, &cs, &sz, NULL, 0) == 0 && cs >= size && cs % align == 0)
			return c;
	}
	return n;
}

/* Blocks of class c handed out, all arenas (refreshes the snapshot). */
static uint64_t class_nmalloc(unsigned c)
{
	refresh();
	unsigned na = ctl_unsigned("arenas.narenas");
	uint64_t total = 0;
	for (unsigned a = 0; a < na; a++) {
		char name[96];
		uint64_t v = 0;
		size_t sz = sizeof v;
		snprintf(name, sizeof name, "stats.arenas.%u.class.%u.nmalloc", a, c);
		if (ctl(name, &v, &sz, NULL, 0) == 0)
			total += v;
	}
	return total;
}

static uint64_t stat_u64(const char *name)
{
	refresh();
	uint64_t v = 0;
	size_t sz = sizeof v;
	expect_int_eq(ctl(name, &v, &sz, NULL, 0), 0, "%s", name);
	return v;
}

static const size_t huge_size = (size_t)PTRDIFF_MAX;

/* ---- whose operators ---- */

static const char *const g_operators[] = {
	"_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
	"_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
	"_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
	"_ZdlPv", "_ZdaPv", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
	"_ZdlPvm", "_ZdaPvm", "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",
	"_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
	"_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
};

static void test_operators_are_hakmems(void)
{
	for (const char *name : g_operators) {
		void *f = dlsym(RTLD_DEFAULT, name);
		Dl_info di;
		if (!expect_ptr_not_null(f, "%s is not in the process's scope", name))
			continue;
		if (!expect_int_ne(dladdr(f, &di), 0, "%s", name))
			continue;
		expect_ptr_eq(di.dli_fbase, ctl_base, "%s resolves to %s, not to hakmem's %s", name,
		              di.dli_fname, ctl_obj);
	}
	/* What the program's own calls reach. */
	void *(*pnew)(size_t) = ::operator new;
	void (*pdel)(void *) noexcept = ::operator delete;
	expect_ptr_eq((void *)pnew, dlsym(RTLD_DEFAULT, "_Znwm"));
	expect_ptr_eq((void *)pdel, dlsym(RTLD_DEFAULT, "_ZdlPv"));
}

/* ---- hakmem served every new ---- */

struct Odd5000 {
	char bytes[5000];
};

static void test_counts(void)
{
	enum { N = 2000 };
	unsigned c3072 = class_of(3000, 1), c5120 = class_of(sizeof(Odd5000), 1);
	uint64_t total0 = stat_u64("stats.nmalloc");
	uint64_t a0 = class_nmalloc(c3072), b0 = class_nmalloc(c5120);
	static char *arr[N];
	static Odd5000 *obj[N];
	for (int i = 0; i < N; i++) {
		arr[i] = new char[3000];
		obj[i] = new Odd5000;
		arr[i][0] = (char)i;
		obj[i]->bytes[4999] = (char)i;
	}
	uint64_t a1 = class_nmalloc(c3072), b1 = class_nmalloc(c5120);
	uint64_t total1 = stat_u64("stats.nmalloc");
	for (int i = 0; i < N; i++) {
		expect_int_eq(arr[i][0], (char)i);
		expect_int_eq(obj[i]->bytes[4999], (char)i);
		delete[] arr[i];
		delete obj[i];
	}
	expect_u64_ge(a1 - a0, N, "new char[3000]: class %u", c3072);
	expect_u64_ge(b1 - b0, N, "new Odd5000: class %u", c5120);
	expect_u64_ge(total1 - total0, 2 * N, "stats.nmalloc");
	uint64_t freed0 = stat_u64("stats.nfree");
	for (int i = 0; i < N; i++)
		delete opaque(new Odd5000); /* opaque: GCC removes a plain new/delete pair */
	expect_u64_ge(stat_u64("stats.nfree") - freed0, N, "delete went to hakmem");
}

/* ---- containers, strings, threads ---- */

static uint64_t work(unsigned seed, int n)
{
	std::vector<std::string> v;
	std::map<int, std::string> m;
	std::unordered_map<std::string, std::vector<int>> u;
	std::list<int> l;
	uint64_t sum = 0;
	for (int i = 0; i < n; i++) {
		std::string s(std::to_string(i * 2654435761u ^ seed));
		s.append((size_t)(i % 97), (char)('a' + i % 26));
		v.push_back(s);
		m[i] = s + s;
		u[s].push_back(i);
		l.push_back(i);
		if (i % 3 == 0 && !l.empty())
			l.pop_front();
	}
	for (const auto &s : v)
		sum += s.size();
	for (const auto &kv : m)
		sum += kv.second.size() + (uint64_t)kv.first;
	for (const auto &kv : u)
		sum += kv.second.size();
	sum += l.size();
	v.shrink_to_fit();
	return sum;
}

static void test_containers(void)
{
	uint64_t a = work(1, 20000), b = work(1, 20000);
	expect_u64_eq(a, b, "the same work, the same sums");
	expect_u64_gt(a, 20000);
	std::string big;
	for (int i = 0; i < 100000; i++)
		big += (char)('A' + i % 26);
	const char last = 'A' + 99999 % 26;
	expect_zu_eq(big.size(), 100000);
	expect_int_eq(big[99999], last);
}

static void test_threads(void)
{
	enum { T = 8, PER = 5000 };
	std::vector<std::thread> th;
	std::atomic<int> bad{0};
	uint64_t want = work(7, 3000);
	for (int t = 0; t < T; t++)
		th.emplace_back([&] {
			if (work(7, 3000) != want)
				bad++;
		});
	for (auto &t : th)
		t.join();
	expect_int_eq(bad.load(), 0);
	/* Blocks newed by one thread, deleted by another. */
	std::vector<std::string *> made[T];
	th.clear();
	for (int t = 0; t < T; t++)
		th.emplace_back([&made, t] {
			for (int i = 0; i < PER; i++)
				made[t].push_back(new std::string(std::to_string(i) + std::string(40, 'x')));
		});
	for (auto &t : th)
		t.join();
	th.clear();
	for (int t = 0; t < T; t++)
		th.emplace_back([&made, &bad, t] {
			for (std::string *s : made[(t + 1) % T]) {
				if (s->size() < 41)
					bad++;
				delete s;
			}
		});
	for (auto &t : th)
		t.join();
	expect_int_eq(bad.load(), 0);
}

/* ---- aligned new ---- */

struct alignas(64) A64 {
	char c[192];
};
struct alignas(4096) A4k {
	char c[100];
};
struct alignas(65536) A64k {
	char c[10];
};

static void test_aligned(void)
{
	unsigned c4k = class_of(4096, 4096);
	uint64_t n0 = class_nmalloc(c4k), large0 = stat_u64("stats.large.nmalloc");
	enum { N = 50 };
	A64 *a[N];
	A4k *b[N];
	for (int i = 0; i < N; i++) {
		a[i] = new A64;
		b[i] = new A4k;
		expect_aligned(a[i], 64);
		expect_aligned(b[i], 4096);
		memset(b[i], i, sizeof *b[i]);
	}
	A64 *aa = new A64[7];
	A4k *ba = new A4k[3];
	A64k *h = new A64k;
	A64k *ha = new A64k[2];
	expect_aligned(aa, 64);
	expect_aligned(ba, 4096);
	expect_aligned(h, 65536);
	expect_aligned(ha, 65536);
	A4k *nt = new (std::nothrow) A4k;
	expect_aligned(nt, 4096);
	uint64_t n1 = class_nmalloc(c4k), large1 = stat_u64("stats.large.nmalloc");
	expect_u64_ge(n1 - n0, N + 1, "alignas(4096) blocks from class %u", c4k);
	expect_u64_ge(large1 - large0, 2, "alignas(65536): large blocks");
	for (int i = 0; i < N; i++) {
		delete a[i];
		delete b[i];
	}
	delete[] aa;
	delete[] ba;
	delete h;
	delete[] ha;
	delete nt;
	/* Every aligned delete form, called as the compiler would. */
	void *p = ::operator new(300, std::align_val_t(256));
	expect_aligned(p, 256);
	::operator delete(p, std::align_val_t(256));
	p = ::operator new[](300, std::align_val_t(512));
	expect_aligned(p, 512);
	::operator delete[](p, std::align_val_t(512));
	p = ::operator new(300, std::align_val_t(128));
	::operator delete(p, 300, std::align_val_t(128));
	p = ::operator new[](300, std::align_val_t(128));
	::operator delete[](p, 300, std::align_val_t(128));
	p = ::operator new(64, std::align_val_t(64), std::nothrow);
	expect_aligned(p, 64);
	::operator delete(p, std::align_val_t(64), std::nothrow);
	p = ::operator new[](64, std::align_val_t(64), std::nothrow);
	::operator delete[](p, std::align_val_t(64), std::nothrow);
}

/* ---- arrays and sized delete ---- */

static int g_dtors;

struct WithDtor {
	int x[5];
	~WithDtor() { g_dtors++; }
};

static void test_arrays_sized(void)
{
	g_dtors = 0;
	int want = 0;
	for (int n = 1; n <= 100; n++) {
		WithDtor *w = new WithDtor[n]; /* a cookie, and a sized delete[] */
		w[n - 1].x[4] = n;
		expect_int_eq(w[n - 1].x[4], n);
		delete[] w;
		want += n;
	}
	expect_int_eq(g_dtors, want);
	for (size_t n = 1; n < 70000; n = n * 3 + 1) {
		void *p = ::operator new(n);
		memset(p, 1, n);
		::operator delete(p, n);
		p = ::operator new[](n);
		::operator delete[](p, n);
		p = ::operator new(n, std::nothrow);
		::operator delete(p, std::nothrow);
		p = ::operator new[](n, std::nothrow);
		::operator delete[](p, std::nothrow);
	}
	::operator delete(nullptr);
	::operator delete[](nullptr);
	::operator delete(nullptr, 8);
	char *z = new char[0];
	expect_ptr_not_null(z, "new char[0] is a unique block");
	char *z2 = new char[0];
	expect_ptr_ne(z, z2);
	delete[] z;
	delete[] z2;
}

/* ---- failure: nothrow, bad_alloc, the new-handler ---- */

static void test_nothrow_null(void)
{
	expect_ptr_null(::operator new(opaque(huge_size), std::nothrow));
	expect_ptr_null(::operator new[](opaque(huge_size), std::nothrow));
	expect_ptr_null(::operator new(opaque(huge_size), std::align_val_t(64), std::nothrow));
	expect_ptr_null(::operator new[](opaque(huge_size), std::align_val_t(4096), std::nothrow));
	char *p = new (std::nothrow) char[opaque(huge_size)];
	expect_ptr_null(p);
}

/* 1 when f(n) throws std::bad_alloc, 2 for another exception, 0 for none
 * (f frees what it got). */
static int throws_bad_alloc(void (*f)(size_t), size_t n)
{
	try {
		f(n);
		return 0;
	} catch (const std::bad_alloc &) {
		return 1;
	} catch (...) {
		return 2;
	}
}

static void new_plain(size_t n) { ::operator delete(opaque(::operator new(n))); }
static void new_array(size_t n) { ::operator delete[](opaque(::operator new[](n))); }
static void new_aligned(size_t n)
{
	::operator delete(opaque(::operator new(n, std::align_val_t(64))), std::align_val_t(64));
}
static void new_array_aligned(size_t n)
{
	::operator delete[](opaque(::operator new[](n, std::align_val_t(8192))),
	                    std::align_val_t(8192));
}
static void new_expr(size_t n) { delete[] opaque(new char[n]); }

static void test_bad_alloc(void)
{
	expect_int_eq(throws_bad_alloc(new_plain, opaque(huge_size)), 1);
	expect_int_eq(throws_bad_alloc(new_array, opaque(huge_size)), 1);
	expect_int_eq(throws_bad_alloc(new_aligned, opaque(huge_size)), 1);
	expect_int_eq(throws_bad_alloc(new_array_aligned, opaque(huge_size)), 1);
	expect_int_eq(throws_bad_alloc(new_expr, opaque(huge_size)), 1);
	expect_int_eq(throws_bad_alloc(new_plain, 100), 0, "a possible size does not throw");
}

static int g_calls, g_uninstall_at;

static void counting_handler()
{
	if (++g_calls >= g_uninstall_at)
		std::set_new_handler(nullptr);
}

static void throwing_handler()
{
	g_calls++;
	throw std::bad_alloc();
}

static void test_new_handler(void)
{
	/* Called until it uninstalls itself, then std::bad_alloc. */
	g_calls = 0;
	g_uninstall_at = 3;
	std::set_new_handler(counting_handler);
	expect_int_eq(throws_bad_alloc(new_plain, opaque(huge_size)), 1);
	expect_int_eq(g_calls, 3, "the handler is called in a loop");
	expect_true(std::get_new_handler() == nullptr);
	g_calls = 0;
	std::set_new_handler(counting_handler);
	expect_int_eq(throws_bad_alloc(new_aligned, opaque(huge_size)), 1);
	expect_int_eq(g_calls, 3, "aligned new calls it too");
	/* nothrow: the same loop, NULL at the end. */
	g_calls = 0;
	g_uninstall_at = 2;
	std::set_new_handler(counting_handler);
	expect_ptr_null(::operator new(opaque(huge_size), std::nothrow));
	expect_int_eq(g_calls, 2, "nothrow new calls the handler");
	/* A handler that throws: out of the throwing new, not out of nothrow. */
	g_calls = 0;
	std::set_new_handler(throwing_handler);
	expect_int_eq(throws_bad_alloc(new_plain, opaque(huge_size)), 1);
	expect_int_eq(g_calls, 1);
	expect_ptr_null(::operator new(opaque(huge_size), std::nothrow));
	expect_ptr_null(::operator new(opaque(huge_size), std::align_val_t(64), std::nothrow));
	expect_int_eq(g_calls, 3, "nothrow new called the throwing handler and caught it");
	std::set_new_handler(nullptr);
	void *p = ::operator new(100);
	::operator delete(p);
}

/* The handler frees a reserve, and the retried allocation succeeds: in a
 * child under an address-space limit. */
static char *g_reserve;

static void reserve_handler()
{
	g_calls++;
	delete[] g_reserve;
	g_reserve = nullptr;
	std::set_new_handler(nullptr);
}

static size_t vm_size(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

static void test_new_handler_reserve(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		alarm(60);
		const size_t MB = (size_t)1 << 20;
		g_reserve = new char[48 * MB];
		memset(g_reserve, 1, 48 * MB);
		/* Under a limit a failure makes hakmem give back what it keeps
		 * (placeholders of SuperSlabs too), which may make room: the
		 * limit is set anew from what is left until two allocations in
		 * a row fail, so that only the reserve can make room. */
		struct rlimit rl;
		for (int i = 0, fails = 0; fails < 2; i++) {
			if (i == 8)
				_exit(12);
			ctl("arenas.purge", NULL, NULL, NULL, 0);
			rl.rlim_cur = rl.rlim_max = vm_size() + 16 * MB;
			if (setrlimit(RLIMIT_AS, &rl) != 0)
				_exit(3);
			char *q = opaque(new (std::nothrow) char[40 * MB]);
			fails = q == nullptr ? fails + 1 : 0;
			delete[] q;
		}
		g_calls = 0;
		std::set_new_handler(reserve_handler);
		char *p;
		try {
			p = new char[40 * MB];
		} catch (const std::bad_alloc &) {
			_exit(10);
		}
		if (g_calls != 1)
			_exit(11);
		memset(p, 2, 40 * MB);
		/* No reserve and no handler left: std::bad_alloc. */
		try {
			delete[] opaque(new char[40 * MB]);
			_exit(13);
		} catch (const std::bad_alloc &) {
		}
		delete[] p;
		_exit(0);
	}
	int st = 0;
	expect_int_eq(waitpid(pid, &st, 0), pid);
	expect_true(WIFEXITED(st), "the child died: status %#x", st);
	expect_int_eq(WEXITSTATUS(st), 0,
	              "3: setrlimit, 10: the retry failed, 11: handler calls, 12: no limit, "
	              "13: no bad_alloc after");
}

/* ---- mixing with C ---- */

static void test_mixing(void)
{
#ifndef CXX_NEW_ONLY
	free(new char[100]);
	free(new std::string("not destroyed, just freed"));
	::operator delete(malloc(64));
	delete[] static_cast<char *>(calloc(10, 10));
	void *p = aligned_alloc(4096, 8192);
	::operator delete(p, std::align_val_t(4096));
	char *s = new char[200];
	s = static_cast<char *>(realloc(s, 100000));
	expect_ptr_not_null(s);
	delete[] s;
#else
	test_skip("built without the C allocation names (--as-needed)");
#endif
}

int main(void)
{
	if (!find_hakmem()) {
		fprintf(stderr, "FAIL: hakmem_ctl is not in the process: hakmem is not loaded\n");
		return 1;
	}
	fprintf(stderr, "hakmem is %s\n", ctl_obj);
	test_run(test_operators_are_hakmems);
	test_run(test_counts);
	test_run(test_containers);
	test_run(test_threads);
	test_run(test_aligned);
	test_run(test_arrays_sized);
	test_run(test_nothrow_null);
	test_run(test_bad_alloc);
	test_run(test_new_handler);
	test_run(test_new_handler_reserve);
	test_run(test_mixing);
	return test_summary();
}
