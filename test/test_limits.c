/* test_limits.c - regression tests of defects found in review, most of them
 * under an address-space limit (RLIMIT_AS, ulimit -v): fork against an
 * arena taking units of another arena's SuperSlab, errno after allocations
 * that needed a reclaim or a stolen unit, stats.resident of a SuperSlab with
 * holes, mallinfo2 and the thread's large slot, arenas.limit moving threads
 * in every mode, a stale pointer after a failed huge allocation, and the
 * statistics reader against an exiting thread's robust mutex.
 *
 * Linked with libhakmem.la, so malloc & co. are hakmem's. Every case runs in
 * a child process (run_child, copied from test_lifecycle.c) under a
 * watchdog: alarm() in the child, kept across an exec, and a deadline in the
 * parent that kills the child's process group. A hang, a crash or a failed
 * check is one failed expectation; the other cases still run. Most cases
 * need a fresh process (a start-up conf string for opt.* keys, a known heap
 * before the limit is set): the child re-executes this program as
 * `--child NAME` with HAKMEM_CONF set. Nothing asserts on time: clocks only
 * bound the work.
 *
 * The tests (the name without "test_" selects one):
 *   fork_steal            fork in a loop while a thread of arena 1 takes
 *                         4 KiB slabs from arena 0's SuperSlabs (no memory
 *                         can be mapped): no deadlock, the units were stolen
 *   errno_large_reclaim   malloc(20 MiB) that fits only once the large cache
 *                         is unmapped keeps errno (and so does its free)
 *   errno_stolen_unit     arena 1's first malloc(4096), served by a unit of
 *                         arena 0's SuperSlab, keeps errno
 *   errno_thread_first    the first malloc(32) of 40 threads when no cache
 *                         can be mapped keeps errno
 *   resident_holes        stats.resident of SuperSlabs whose free units were
 *                         unmapped is what mincore counts in their mappings
 *   mallinfo_large_slot   free(malloc(3 MiB)) (the block stays in the large
 *                         slot): mallinfo2's hblks/hblkhd back to before,
 *                         stats.large.nmalloc/nfree +1 each
 *   limit_fold            mallopt(M_ARENA_MAX, 1) moves a thread of arena 1
 *                         to arena 0 (opt.narenas=2 and the default layout)
 *   stale_hole            without a limit, a failed malloc(64 TiB) does not
 *                         turn a later double free of a block whose SuperSlab
 *                         was purged into a SIGSEGV: hakmem's diagnostic
 *   robust_race           a statistics reader (mallinfo2) against threads
 *                         that exit, the race widened by sleeps in the
 *                         pthread_mutex_* functions this program interposes:
 *                         no unlock of a cache's robust mutex fails
 *
 *   test_limits [TEST...]    (no arguments: every test; exit 0/1/77)
 *   test_limits --child NAME (internal: a case in a fresh process)
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hakmem.h"
#include "expect.h"
#include "child.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define TiB ((uintptr_t)1 << 40)

/* errno before the calls whose errno is checked: no code of anyone's. */
#define ERRNO_SENTINEL 12345

static const char *g_argv0 = "test_limits";

/* ---- ctl helpers --------------------------------------------------------- */

static uint64_t ctl_u64(const char *name)
{
	uint64_t v = 0;
	size_t sz = sizeof v;
	return hakmem_ctl(name, &v, &sz, NULL, 0) == 0 ? v : UINT64_MAX;
}

static unsigned narenas(void)
{
	unsigned n = 0;
	return ctl_get_u("arenas.narenas", &n) == 0 ? n : 0;
}

static unsigned cur_arena(void)
{
	unsigned v = UINT_MAX;
	ctl_get_u("thread.arena", &v);
	return v;
}

/* A child that cannot set its scene up (no second CPU, a hard limit in the
 * way) says why and exits with 77: the test skips. */
#define CHILD_SKIP 77

/* ---- address space -------------------------------------------------------- */

/* VmSize of this process in bytes, read without stdio (no allocation). */
static size_t vmsize(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t len = 0;
	ssize_t k;
	while (len < sizeof buf - 1 && (k = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)k;
	close(fd);
	buf[len] = '\0';
	const char *l = strstr(buf, "\nVmSize:");
	return l ? (size_t)strtoull(l + 8, NULL, 10) * KiB : 0;
}

/* Sets RLIMIT_AS's soft limit to `bytes` (RLIM_INFINITY: none); false when
 * the hard limit does not allow it. */
static bool set_as(rlim_t bytes)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_AS, &r) != 0)
		return false;
	if (r.rlim_max != RLIM_INFINITY && (bytes == RLIM_INFINITY || bytes > r.rlim_max))
		return false;
	r.rlim_cur = bytes;
	return setrlimit(RLIMIT_AS, &r) == 0;
}

/* The limit, with a skip when it cannot be set. */
#define set_as_or_skip(bytes)                                                              \
	do {                                                                                   \
		rlim_t b_ = (bytes);                                                               \
		if (!set_as(b_)) {                                                                 \
			say("cannot set RLIMIT_AS to %llu (the hard limit is lower)",                  \
			    (unsigned long long)b_);                                                   \
			return CHILD_SKIP;                                                             \
		}                                                                                  \
	} while (0)

/* ---- child processes ------------------------------------------------------ */

/* A case run as `--child name` in a fresh process, with HAKMEM_CONF = conf
 * (NULL: none, the defaults). */
typedef struct {
	const char *name;
	const char *conf;
} reexec_t;

static int reexec_child(void *arg)
{
	const reexec_t *x = arg;
	if (x->conf)
		setenv("HAKMEM_CONF", x->conf, 1);
	else
		unsetenv("HAKMEM_CONF");
	execl("/proc/self/exe", g_argv0, "--child", x->name, (char *)NULL);
	say("execl /proc/self/exe: %s", strerror(errno));
	return 126;
}

/* The length of the child's stderr without its last newlines, at most 300
 * (a skip's reason). */
static int reason_len(const child_t *r)
{
	size_t n = strlen(r->err);
	while (n > 0 && r->err[n - 1] == '\n')
		n--;
	return n > 300 ? 300 : (int)n;
}

static bool verbose(void)
{
	const char *v = getenv("TEST_VERBOSE");
	return v && *v && strcmp(v, "0") != 0;
}

/* The child exited with status 0 (or 77: the test skips, with the child's
 * reason). */
#define expect_child_pass(what, r)                                                           \
	__extension__({                                                                    \
		char d_[160];                                                                  \
		bool skip_ = !(r)->hung && WIFEXITED((r)->status) &&                           \
		             WEXITSTATUS((r)->status) == CHILD_SKIP;                           \
		bool ok_ = skip_ || (!(r)->hung && WIFEXITED((r)->status) &&                   \
		                     WEXITSTATUS((r)->status) == 0);                           \
		if (skip_) {                                                                   \
			test_skip("%s: %.*s", what, reason_len(r), (r)->err);                      \
		} else if (!ok_) {                                                             \
			child_dump(what, r);                                                       \
			expect_report_(__FILE__, __LINE__, "the child failed", "%s: %s", what,     \
			               child_describe(r, d_, sizeof d_));                           \
		} else if (verbose()) {                                                        \
			child_dump(what, r);                                                       \
		}                                                                              \
		ok_;                                                                           \
	})

/* child.h's expect_child_abort, for a child that may also skip (CHILD_SKIP:
 * the limit could not be set here). */
static bool expect_abort_or_skip(const char *what, const child_t *r, const char *needle,
                                 const char *needle2)
{
	if (!r->hung && WIFEXITED(r->status) && WEXITSTATUS(r->status) == CHILD_SKIP) {
		test_skip("%s: %.*s", what, reason_len(r), r->err);
		return true;
	}
	bool ok = expect_child_abort(what, r, needle, needle2);
	if (ok && verbose())
		child_dump(what, r);
	return ok;
}

/* Runs case `name` in a fresh process with HAKMEM_CONF = conf and expects
 * exit status 0. */
static void run_fresh(const char *what, const char *name, const char *conf, unsigned timeout)
{
	reexec_t x = { name, conf };
	child_t r;
	run_child(&r, timeout, reexec_child, &x);
	expect_child_pass(what, &r);
}

/* ---- threads -------------------------------------------------------------- */


/* Arena 0 with one SuperSlab whose 31 units past unit 0 held 4 KiB blocks
 * and are now free (mapped, a unit at a time: a limit of VmSize + 64 MiB is
 * set first), then a limit just below what the process uses: nothing more
 * can be mapped, and arena 1's 4 KiB slabs must come from arena 0's units.
 * The calling thread ends bound to arena 0; the statistics snapshot is
 * mapped before. Arena 1 must have no SuperSlab yet: the process binds its
 * main thread to arena 0 before its first allocation. */
static int fill_arena0_then_limit(void)
{
	bind_arena(0);
	if (ctl_epoch_rc() != 0) /* maps the statistics snapshot while it can */
		child_fail("epoch");
	uint64_t nss1 = ctl_u64("stats.arenas.1.superslabs");
	if (nss1 != 0) {
		/* Something allocated in arena 1 before main could bind (a
		 * sanitizer's runtime, say): the scene cannot be set. */
		say("arena 1 has %llu SuperSlab(s) of its own before the test",
		    (unsigned long long)nss1);
		return CHILD_SKIP;
	}
	set_as_or_skip(vmsize() + 64 * MiB);
	static void *q[31 * 16];
	for (int i = 0; i < 31 * 16; i++) {
		q[i] = malloc(4096);
		if (q[i] == NULL) {
			child_fail("malloc(4096) #%d with 64 MiB of address space to spare: NULL", i);
			return -1;
		}
	}
	for (int i = 0; i < 31 * 16; i++)
		free(q[i]);
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	set_as_or_skip(vmsize() - MiB);
	return 0;
}

/* After arena 1's thread holds 4 KiB blocks: they lie in units taken from
 * arena 0 (arena 1 has no SuperSlab of its own, yet slabs of the class). */
static void expect_stolen(int cls, const char *when)
{
	char key[96];
	int e = ctl_epoch_rc();
	if (e != 0) {
		child_fail("%s: epoch: %d (%s)", when, e, strerror(e));
		return;
	}
	uint64_t nss1 = ctl_u64("stats.arenas.1.superslabs");
	snprintf(key, sizeof key, "stats.arenas.1.class.%d.curslabs", cls);
	uint64_t cur1 = ctl_u64(key);
	if (nss1 != 0 || cur1 == 0 || cur1 == UINT64_MAX)
		child_fail("%s: arena 1 should have slabs of 4 KiB blocks in arena 0's SuperSlabs and "
		           "none of its own: stats.arenas.1.superslabs %llu, %s %llu",
		           when, (unsigned long long)nss1, key, (unsigned long long)cur1);
}

/* ==== 1. fork against a stolen unit ========================================= */

/* Arena 1's thread allocates and frees 4 KiB blocks (each refill takes a unit
 * of arena 0's SuperSlab under arena 1's bin lock, then arena 0's ss_lock)
 * while another thread forks: the fork handlers must take the locks in the
 * same order (every arena's bins, then the ss_locks). A deadlock stops both
 * threads; the watchdog ends the child. */
enum { FS_N = 64 };
static pthread_barrier_t g_fs_bar;
static unsigned long g_fs_forks, g_fs_rounds; /* [atomic] */
static int g_fs_stop, g_fs_stop_forks;        /* [atomic] */
static int g_fs_cls;
static bool g_fs_ok;

static void *fs_allocator(void *arg)
{
	(void)arg;
	bind_arena(1);
	pthread_barrier_wait(&g_fs_bar);
	pthread_barrier_wait(&g_fs_bar); /* the limit is set */
	void *p[FS_N];
	for (;;) {
		for (int i = 0; i < FS_N; i++) {
			p[i] = malloc(4096);
			if (p[i] == NULL) {
				child_fail("arena 1: malloc(4096) #%d failed in round %lu", i,
				           __atomic_load_n(&g_fs_rounds, __ATOMIC_RELAXED));
				for (int j = 0; j < i; j++)
					free(p[j]);
				return NULL;
			}
		}
		if (__atomic_load_n(&g_fs_stop, __ATOMIC_ACQUIRE))
			break;
		for (int i = 0; i < FS_N; i++)
			free(p[i]);
		__atomic_fetch_add(&g_fs_rounds, 1, __ATOMIC_RELAXED);
	}
	expect_stolen(g_fs_cls, "after the fork loop");
	for (int i = 0; i < FS_N; i++)
		free(p[i]);
	g_fs_ok = true;
	return NULL;
}

static void *fs_forker(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&g_fs_bar);
	pthread_barrier_wait(&g_fs_bar);
	while (!__atomic_load_n(&g_fs_stop_forks, __ATOMIC_ACQUIRE)) {
		pid_t c = fork();
		if (c == 0)
			_exit(0);
		if (c < 0) {
			child_fail("fork: %s", strerror(errno));
			break;
		}
		int st = 0;
		while (waitpid(c, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			child_fail("a forked child ended with status %#x", (unsigned)st);
			break;
		}
		__atomic_fetch_add(&g_fs_forks, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int fork_steal_main(void)
{
	if (narenas() < 2) {
		say("arenas.narenas is %u with opt.narenas=2", narenas());
		return CHILD_SKIP;
	}
	bind_arena(0); /* before pthread_create's allocations */
	g_fs_cls = class_of(4096);
	pthread_barrier_init(&g_fs_bar, NULL, 3);
	pthread_t a = spawn(fs_allocator, NULL);
	pthread_t f = spawn(fs_forker, NULL);
	pthread_barrier_wait(&g_fs_bar);
	int rc = fill_arena0_then_limit();
	if (rc != 0) {
		_exit(rc == CHILD_SKIP ? CHILD_SKIP : child_status());
	}
	pthread_barrier_wait(&g_fs_bar);
	/* About 2 s of forks and rounds (at least one of each). */
	uint64_t t0 = now_ns();
	while (now_ns() - t0 < 2000000000u || __atomic_load_n(&g_fs_forks, __ATOMIC_RELAXED) == 0 ||
	       __atomic_load_n(&g_fs_rounds, __ATOMIC_RELAXED) == 0) {
		if (__atomic_load_n(&g_child_nfail, __ATOMIC_RELAXED))
			break;
		sleep_ms(20);
	}
	/* The allocator first, its last check with the forker still running:
	 * a thread's exit unmaps its cache, and arena 1 could then map a
	 * SuperSlab of its own. */
	__atomic_store_n(&g_fs_stop, 1, __ATOMIC_RELEASE);
	join(a);
	__atomic_store_n(&g_fs_stop_forks, 1, __ATOMIC_RELEASE);
	join(f);
	set_as(RLIM_INFINITY);
	say("%lu forks, %lu rounds of %d malloc(4096) in arena 1", g_fs_forks, g_fs_rounds, FS_N);
	if (!g_fs_ok)
		child_fail("the allocating thread did not finish");
	return child_status();
}

static void test_fork_steal(void)
{
	run_fresh("fork while arena 1 takes units of arena 0's SuperSlab under RLIMIT_AS",
	          "fork_steal", "opt.narenas=2,tiny.fast_cap=0", 8);
}

/* ==== 2. errno after allocations that needed a recovery ===================== */

/* A large block freed into the arena's cache holds address space; under a
 * limit, a larger malloc fits only once the cache is unmapped. */
static int errno_large_main(void)
{
	unsigned na = narenas();
	ctl_epoch_rc();
	size_t limit = vmsize() + 24 * MiB;
	set_as_or_skip(limit);
	void *a = malloc(16 * MiB);
	if (a == NULL) {
		child_fail("malloc(16 MiB) under a limit of VmSize + 24 MiB: NULL");
		return child_status();
	}
	free(a); /* cached by the arena: still mapped */
	ctl_epoch_rc();
	uint64_t cached = 0;
	for (unsigned i = 0; i < na; i++) {
		char key[64];
		snprintf(key, sizeof key, "stats.arenas.%u.large.cached", i);
		cached += ctl_u64(key);
	}
	if (cached < 16 * MiB)
		child_fail("precondition: the freed 16 MiB block is not cached (large.cached %llu)",
		           (unsigned long long)cached);
	size_t vm = vmsize();
	if (vm + 20 * MiB <= limit)
		child_fail("precondition: 20 MiB fit beside the cache (VmSize %zu, limit %zu)", vm, limit);
	errno = ERRNO_SENTINEL;
	void *b = malloc(20 * MiB);
	int e = errno;
	if (b == NULL)
		child_fail("malloc(20 MiB) after the cache is reclaimed: NULL (errno %d)", e);
	else if (e != ERRNO_SENTINEL)
		child_fail("malloc(20 MiB), served after the large cache was unmapped: errno %d (%s), "
		           "not the %d it was", e, strerror(e), ERRNO_SENTINEL);
	errno = ERRNO_SENTINEL;
	free(b);
	e = errno;
	if (e != ERRNO_SENTINEL)
		child_fail("free(the 20 MiB block): errno %d (%s), not %d", e, strerror(e), ERRNO_SENTINEL);
	set_as(RLIM_INFINITY);
	return child_status();
}

static void test_errno_large_reclaim(void)
{
	run_fresh("errno after a large malloc served once the large cache was reclaimed",
	          "errno_large", NULL, 10);
}

/* Arena 1's first small malloc, when nothing can be mapped: a unit of arena
 * 0's SuperSlab serves it. */
static int errno_steal_main(void)
{
	if (narenas() < 2) {
		say("arenas.narenas is %u with opt.narenas=2", narenas());
		return CHILD_SKIP;
	}
	bind_arena(0);
	int cls = class_of(4096);
	int rc = fill_arena0_then_limit();
	if (rc != 0)
		return rc == CHILD_SKIP ? CHILD_SKIP : child_status();
	bind_arena(1);
	errno = ERRNO_SENTINEL;
	void *first = malloc(4096);
	int e = errno;
	if (first == NULL)
		child_fail("arena 1's first malloc(4096): NULL (errno %d)", e);
	else if (e != ERRNO_SENTINEL)
		child_fail("arena 1's first malloc(4096), served by a unit of arena 0's SuperSlab: "
		           "errno %d (%s), not the %d it was", e, strerror(e), ERRNO_SENTINEL);
	enum { N = 64 };
	void *p[N];
	int n = 0;
	for (; n < N; n++)
		if ((p[n] = malloc(4096)) == NULL)
			break;
	if (n < N)
		child_fail("arena 1: malloc(4096) #%d of %d failed", n + 1, N);
	expect_stolen(cls, "arena 1 holding 65 blocks of 4 KiB");
	for (int i = 0; i < n; i++)
		free(p[i]);
	errno = ERRNO_SENTINEL;
	free(first);
	if (errno != ERRNO_SENTINEL)
		child_fail("free(arena 1's first block): errno %d, not %d", errno, ERRNO_SENTINEL);
	set_as(RLIM_INFINITY);
	return child_status();
}

static void test_errno_stolen_unit(void)
{
	run_fresh("errno after arena 1's first malloc served by a unit of arena 0's SuperSlab",
	          "errno_steal", "opt.narenas=2", 10);
}

/* Threads whose first malloc comes when no thread cache can be mapped. */
enum { ET_N = 40 };
static pthread_barrier_t g_et_bar;
static int g_et_clean, g_et_dirty, g_et_null; /* [atomic] */
static int g_et_first_bad;                    /* [atomic] */

static void *et_thread(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&g_et_bar); /* the limit is set */
	errno = ERRNO_SENTINEL;
	void *volatile p = malloc(32);
	int e = errno;
	if (p == NULL) {
		__atomic_fetch_add(&g_et_null, 1, __ATOMIC_RELAXED);
		if (e != ENOMEM)
			child_fail("a thread's first malloc(32) failed with errno %d, not ENOMEM", e);
	} else if (e == ERRNO_SENTINEL) {
		__atomic_fetch_add(&g_et_clean, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_fetch_add(&g_et_dirty, 1, __ATOMIC_RELAXED);
		int zero = 0;
		__atomic_compare_exchange_n(&g_et_first_bad, &zero, e, false, __ATOMIC_RELAXED,
		                            __ATOMIC_RELAXED);
	}
	pthread_barrier_wait(&g_et_bar); /* every cache stays in use */
	free(p);
	return NULL;
}

static int errno_thread_main(void)
{
	pthread_barrier_init(&g_et_bar, NULL, ET_N + 1);
	pthread_t t[ET_N];
	for (int i = 0; i < ET_N; i++)
		t[i] = spawn(et_thread, NULL);
	static void *q[4096];
	for (int i = 0; i < 4096; i++)
		q[i] = malloc(32);
	for (int i = 0; i < 4096; i++)
		free(q[i]);
	hakmem_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	if (!set_as(vmsize() - MiB)) {
		say("cannot set RLIMIT_AS (the hard limit is lower)");
		_exit(CHILD_SKIP); /* the threads wait at the barrier */
	}
	pthread_barrier_wait(&g_et_bar);
	pthread_barrier_wait(&g_et_bar);
	for (int i = 0; i < ET_N; i++)
		join(t[i]);
	set_as(RLIM_INFINITY);
	say("first malloc(32) of %d threads: %d kept errno, %d changed it, %d failed", ET_N,
	    g_et_clean, g_et_dirty, g_et_null);
	if (g_et_dirty)
		child_fail("%d of %d threads' successful first malloc(32) changed errno (first: %d, %s)",
		           g_et_dirty, ET_N, g_et_first_bad, strerror(g_et_first_bad));
	if (g_et_clean + g_et_dirty == 0)
		child_fail("no thread's first malloc(32) succeeded");
	return child_status();
}

static void test_errno_thread_first(void)
{
	run_fresh("errno after the first malloc of 40 threads when no cache can be mapped",
	          "errno_thread", NULL, 10);
}

/* ==== 3. stats.resident of a SuperSlab with holes =========================== */

/* Bytes resident (mincore) in the writable mappings of the SuperSlab window,
 * [16 TiB, 32 TiB); *nmaps: how many there are. No allocation. */
static size_t resident_in_window(unsigned *nmaps, bool print)
{
	static char buf[1 << 20];
	*nmaps = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		child_fail("open /proc/self/maps: %s", strerror(errno));
		return 0;
	}
	size_t len = 0;
	ssize_t k;
	while (len < sizeof buf - 1 && (k = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)k;
	close(fd);
	buf[len] = '\0';
	size_t total = 0;
	static unsigned char vec[(2 * MiB) / 4096];
	for (char *l = buf, *e; *l; l = e + (*e != '\0')) {
		e = strchr(l, '\n');
		if (e == NULL)
			e = l + strlen(l);
		unsigned long a, b;
		char perm[8];
		if (sscanf(l, "%lx-%lx %7s", &a, &b, perm) != 3)
			continue;
		if (a < 16 * TiB || a >= 32 * TiB || perm[0] != 'r' || perm[1] != 'w')
			continue;
		size_t r = 0;
		for (unsigned long c = a; c < b; c += sizeof vec * 4096) {
			size_t n = (b - c) / 4096 < sizeof vec ? (b - c) / 4096 : sizeof vec;
			if (mincore((void *)c, n * 4096, vec) != 0) {
				child_fail("mincore(%#lx, %zu): %s", c, n * 4096, strerror(errno));
				break;
			}
			for (size_t i = 0; i < n; i++)
				r += (vec[i] & 1) * 4096;
		}
		if (print)
			say("  mapping %lx-%lx (%lu KiB): %zu KiB resident", a, b, (b - a) >> 10, r >> 10);
		total += r;
		(*nmaps)++;
	}
	return total;
}

static int resident_holes_main(void)
{
	/* The limit came with the exec (run_child's child set it, as ulimit -v
	 * would): every SuperSlab is mapped a unit at a time. Now VmSize of this
	 * process + 256 MiB, so that malloc(1 GiB) fails. */
	set_as_or_skip(vmsize() + 256 * MiB);
	bind_arena(0);
	ctl_epoch_rc();
	enum { N = 8 + 16 * 9 };
	static char *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(4096);
		if (p[i] == NULL) {
			child_fail("malloc(4096) #%d: NULL", i);
			return child_status();
		}
		memset(p[i], 1, 4096);
	}
	for (int i = 8; i < 8 + 16 * 8; i++)
		free(p[i]); /* the units of these blocks are empty */
	/* Fails: every arena is reclaimed, the free units are unmapped. */
	void *big = malloc(opaque((size_t)1 << 30));
	if (big != NULL) {
		say("malloc(1 GiB) succeeded under the limit: no reclaim to test");
		free(big);
		return CHILD_SKIP;
	}
	if (ctl_epoch_rc() != 0)
		child_fail("epoch");
	uint64_t res = ctl_u64("stats.resident");
	unsigned nmaps = 0;
	size_t truth = resident_in_window(&nmaps, true);
	say("stats.resident %llu KiB, mincore over the window's %u mappings %zu KiB",
	    (unsigned long long)(res >> 10), nmaps, truth >> 10);
	if (nmaps < 2) {
		say("the SuperSlab window has %u mapping(s): no hole to test", nmaps);
		return CHILD_SKIP;
	}
	uint64_t diff = res > truth ? res - truth : truth - res;
	if (diff > (uint64_t)nmaps * 4096)
		child_fail("stats.resident is %llu bytes, the SuperSlab window's %u mappings have %zu "
		           "resident (off by %llu, more than a page per mapping)",
		           (unsigned long long)res, nmaps, truth, (unsigned long long)diff);
	for (int i = 0; i < 8; i++)
		free(p[i]);
	for (int i = 8 + 16 * 8; i < N; i++)
		free(p[i]);
	set_as(RLIM_INFINITY);
	return child_status();
}

/* Sets the limit before the exec, so that it holds from the new process's
 * start (its first SuperSlab included). */
static int c_resident_holes(void *arg)
{
	if (!set_as(vmsize() + 256 * MiB)) {
		say("cannot set RLIMIT_AS (the hard limit is lower)");
		return CHILD_SKIP;
	}
	return reexec_child(arg);
}

static void test_resident_holes(void)
{
	reexec_t x = { "resident_holes", NULL };
	child_t r;
	run_child(&r, 10, c_resident_holes, &x);
	expect_child_pass("stats.resident of SuperSlabs with unmapped units under RLIMIT_AS", &r);
}

/* ==== 4. mallinfo2 and the thread's large slot ============================== */

static int c_mallinfo_slot(void *arg)
{
	(void)arg;
	if (ctl_epoch_rc() != 0)
		child_fail("epoch");
	uint64_t nm0 = ctl_u64("stats.large.nmalloc"), nf0 = ctl_u64("stats.large.nfree");
	struct mallinfo2 a = mallinfo2();
	void *volatile p = malloc(3 * MiB);
	struct mallinfo2 b = mallinfo2();
	if (p == NULL) {
		child_fail("malloc(3 MiB): NULL");
		return child_status();
	}
	if (b.hblks != a.hblks + 1 || b.hblkhd < a.hblkhd + 3 * MiB)
		child_fail("precondition: the live 3 MiB block: hblks %zu -> %zu, hblkhd %zu -> %zu",
		           a.hblks, b.hblks, a.hblkhd, b.hblkhd);
	free(p); /* kept in the thread's large slot */
	struct mallinfo2 c = mallinfo2();
	if (c.hblks != a.hblks || c.hblkhd != a.hblkhd)
		child_fail("after free(malloc(3 MiB)) (the block in the thread's large slot): hblks "
		           "%zu, hblkhd %zu; before the malloc %zu, %zu",
		           c.hblks, c.hblkhd, a.hblks, a.hblkhd);
	if (ctl_epoch_rc() != 0)
		child_fail("epoch");
	uint64_t nm1 = ctl_u64("stats.large.nmalloc"), nf1 = ctl_u64("stats.large.nfree");
	if (nm1 - nm0 != 1 || nf1 - nf0 != 1)
		child_fail("free(malloc(3 MiB)): stats.large.nmalloc %llu -> %llu, nfree %llu -> %llu "
		           "(one each expected)",
		           (unsigned long long)nm0, (unsigned long long)nm1, (unsigned long long)nf0,
		           (unsigned long long)nf1);
	return child_status();
}

static void test_mallinfo_large_slot(void)
{
	child_t r;
	run_child(&r, 10, c_mallinfo_slot, NULL);
	expect_child_pass("mallinfo2 and stats.large after free(malloc(3 MiB))", &r);
}

/* ==== 5. arenas.limit moves threads in every mode =========================== */

static int g_lf_rc;

static void *lf_thread(void *arg)
{
	(void)arg;
	cpu_set_t allowed;
	CPU_ZERO(&allowed);
	if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) {
		say("fewer than two CPUs to run on");
		g_lf_rc = CHILD_SKIP;
		return NULL;
	}
	/* A CPU whose arena is not 0: CPU 1 first, then the others. */
	int order[CPU_SETSIZE], n = 0;
	if (CPU_ISSET(1, &allowed))
		order[n++] = 1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (c != 1 && CPU_ISSET(c, &allowed))
			order[n++] = c;
	unsigned a0 = 0;
	int cpu = -1;
	for (int i = 0; i < n && a0 == 0; i++) {
		cpu_set_t s;
		CPU_ZERO(&s);
		CPU_SET(order[i], &s);
		if (sched_setaffinity(0, sizeof s, &s) != 0)
			continue;
		for (int k = 0; k < 200; k++)
			free(opaque(malloc(64 + (size_t)k * 16)));
		a0 = cur_arena();
		cpu = order[i];
	}
	if (a0 == 0 || a0 == UINT_MAX) {
		say("no CPU puts the thread on an arena other than 0 (%u arenas)", narenas());
		g_lf_rc = CHILD_SKIP;
		return NULL;
	}
	int m = mallopt(M_ARENA_MAX, 1);
	if (m != 1)
		child_fail("mallopt(M_ARENA_MAX, 1) = %d", m);
	for (int i = 0; i < 100000; i++)
		free(opaque(malloc(64 + (size_t)(i % 900))));
	enum { NR = 2000 };
	static void *q[NR];
	for (int i = 0; i < NR; i++)
		q[i] = malloc(4096); /* refills */
	unsigned a1 = cur_arena();
	for (int i = 0; i < NR; i++)
		free(q[i]);
	say("CPU %d: arena %u; after mallopt(M_ARENA_MAX, 1) and many refills: arena %u", cpu, a0, a1);
	if (a1 != 0)
		child_fail("a thread of arena %u (on CPU %d) is still on arena %u after "
		           "mallopt(M_ARENA_MAX, 1) and %d refills",
		           a0, cpu, a1, NR);
	g_lf_rc = child_status();
	return NULL;
}

static int limit_fold_main(void)
{
	join(spawn(lf_thread, NULL));
	return g_lf_rc;
}

static void test_limit_fold(void)
{
	run_fresh("mallopt(M_ARENA_MAX, 1) moves a thread to arena 0 (opt.narenas=2)", "limit_fold",
	          "opt.narenas=2", 10);
	int skipped = test_skip_flag_;
	test_skip_flag_ = 0;
	run_fresh("mallopt(M_ARENA_MAX, 1) moves a thread to arena 0 (the default layout)",
	          "limit_fold", NULL, 10);
	test_skip_flag_ &= skipped; /* the test skips when both cases skip */
}

/* ==== 6. a stale pointer after a failed huge allocation ===================== */

/* Incorrect program: a double free after the block's SuperSlab was given
 * back. Without an address-space limit the window has no hole (a destroyed
 * SuperSlab leaves a placeholder), and a failed huge malloc must not release
 * the placeholders: the free is reported, not a SIGSEGV. */
static int stale_hole_main(void)
{
	if (!set_as(RLIM_INFINITY)) {
		say("an address-space limit is in force (hard limit): the window may have holes");
		return CHILD_SKIP;
	}
	enum { N = 1200 };
	static void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = malloc(4096);
	for (int i = 0; i < N; i++)
		free(p[i]);
	hakmem_ctl("arenas.purge", NULL, NULL, NULL, 0); /* empty SuperSlabs destroyed */
	void *big = malloc(opaque((size_t)1 << 46)); /* refused by the kernel */
	if (big != NULL) {
		say("malloc(64 TiB) succeeded (overcommit): the failed-allocation path is not tested");
		free(big);
	}
	say("PTR=%p", p[N - 1]);
	free(opaque(p[N - 1])); /* the double free */
	say("the double free of %p returned", p[N - 1]);
	return 3;
}

static void test_stale_hole(void)
{
	reexec_t x = { "stale_hole", NULL };
	child_t r;
	run_child(&r, 10, reexec_child, &x);
	expect_abort_or_skip("double free into a purged SuperSlab after a failed malloc(64 TiB)", &r,
	                   "invalid free", "double free");
}

/* ==== 7. the statistics reader against exiting threads' robust mutexes ====== */

/* A thread's cache has a robust mutex, locked while the thread lives; a
 * statistics reader trylocks it to find caches of dead threads (EOWNERDEAD).
 * The exiting thread must not unlock and destroy it while a reader may hold
 * it: the reader's unlock would fail, and the mutex stay on its robust list.
 * This program defines pthread_mutex_trylock, _unlock and _destroy, which
 * libhakmem's calls reach (the executable comes first in the lookup scope,
 * and it exports them: -export-dynamic in test/lifecycle.mk); while
 * g_widen is set (only in the robust_race child) a successful trylock sleeps
 * 300 us before returning (a reader preempted between trylock and unlock)
 * and destroy sleeps 50 us first (the exiting thread preempted between
 * unlock and destroy), and failed unlocks are counted. */
static int g_widen;                               /* [atomic] */
static int g_nunlock_failed, g_unlock_err;        /* [atomic] */
static int g_ntrylock, g_ntrylock_ok, g_ndestroy; /* [atomic] */
static void *g_bad_mutex;
static int (*g_real_trylock)(pthread_mutex_t *);
static int (*g_real_unlock)(pthread_mutex_t *);
static int (*g_real_destroy)(pthread_mutex_t *);

static void *real_fn(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (f == NULL) {
		say("dlsym(RTLD_NEXT, %s): not found", name);
		abort();
	}
	return f;
}

__attribute__((constructor)) static void interpose_init(void)
{
	if (!g_real_trylock)
		g_real_trylock = (int (*)(pthread_mutex_t *))real_fn("pthread_mutex_trylock");
	if (!g_real_unlock)
		g_real_unlock = (int (*)(pthread_mutex_t *))real_fn("pthread_mutex_unlock");
	if (!g_real_destroy)
		g_real_destroy = (int (*)(pthread_mutex_t *))real_fn("pthread_mutex_destroy");
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
	if (!g_real_trylock)
		interpose_init();
	int r = g_real_trylock(m);
	if (__atomic_load_n(&g_widen, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&g_ntrylock, 1, __ATOMIC_RELAXED);
		if (r == 0) {
			__atomic_fetch_add(&g_ntrylock_ok, 1, __ATOMIC_RELAXED);
			usleep(300);
		}
	}
	return r;
}

int pthread_mutex_unlock(pthread_mutex_t *m)
{
	if (!g_real_unlock)
		interpose_init();
	int r = g_real_unlock(m);
	if (r != 0 && __atomic_load_n(&g_widen, __ATOMIC_RELAXED) &&
	    __atomic_fetch_add(&g_nunlock_failed, 1, __ATOMIC_RELAXED) == 0) {
		g_bad_mutex = m;
		__atomic_store_n(&g_unlock_err, r, __ATOMIC_RELAXED);
	}
	return r;
}

int pthread_mutex_destroy(pthread_mutex_t *m)
{
	if (!g_real_destroy)
		interpose_init();
	__atomic_fetch_add(&g_ndestroy, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&g_widen, __ATOMIC_RELAXED))
		usleep(50);
	return g_real_destroy(m);
}

static int g_rr_stop;     /* [atomic] */
static int g_rr_nthreads; /* [atomic] */

static void *rr_worker(void *arg)
{
	(void)arg;
	free(opaque(malloc(32)));
	return NULL;
}

static void *rr_spawner(void *arg)
{
	(void)arg;
	for (int round = 0; round < 3000; round++) {
		if (__atomic_load_n(&g_rr_stop, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&g_nunlock_failed, __ATOMIC_RELAXED))
			break;
		join(spawn(rr_worker, NULL));
		__atomic_fetch_add(&g_rr_nthreads, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&g_rr_stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int robust_race_main(void)
{
	/* Do hakmem's calls reach the interposed functions? A thread's exit
	 * destroys its cache's mutex. */
	int d0 = __atomic_load_n(&g_ndestroy, __ATOMIC_RELAXED);
	join(spawn(rr_worker, NULL));
	(void)mallinfo2();
	if (__atomic_load_n(&g_ndestroy, __ATOMIC_RELAXED) == d0) {
		say("libhakmem's pthread_mutex_destroy calls do not reach this program's: "
		    "nothing to widen");
		return CHILD_SKIP;
	}
	__atomic_store_n(&g_widen, 1, __ATOMIC_RELAXED);
	pthread_t s = spawn(rr_spawner, NULL);
	/* The reader (mallinfo2 reaps dead threads' caches): until the spawner
	 * is done, at most about 1.5 s. */
	uint64_t t0 = now_ns();
	unsigned long nreads = 0;
	while (!__atomic_load_n(&g_rr_stop, __ATOMIC_ACQUIRE)) {
		(void)mallinfo2();
		nreads++;
		if ((nreads & 63) == 0 && now_ns() - t0 > 1500000000u)
			__atomic_store_n(&g_rr_stop, 1, __ATOMIC_RELEASE);
	}
	join(s);
	__atomic_store_n(&g_widen, 0, __ATOMIC_RELAXED);
	say("%d threads started and exited; %lu mallinfo2 calls; the reader's trylocks %d, "
	    "successful %d", g_rr_nthreads, nreads, g_ntrylock, g_ntrylock_ok);
	if (g_nunlock_failed)
		child_fail("%d unlocks of a thread cache's robust mutex failed (first: mutex %p, error "
		           "%d, %s): the exiting thread destroyed it while a reader held it",
		           g_nunlock_failed, g_bad_mutex, g_unlock_err, strerror(g_unlock_err));
	return child_status();
}

static void test_robust_race(void)
{
	run_fresh("a statistics reader against exiting threads' robust mutexes (widened race)",
	          "robust_race", NULL, 10);
}

/* ---- main ------------------------------------------------------------------ */

static const struct {
	const char *name;
	void (*fn)(void);
} g_tests[] = {
#define T(f) { #f, f }
	T(test_fork_steal),
	T(test_errno_large_reclaim),
	T(test_errno_stolen_unit),
	T(test_errno_thread_first),
	T(test_resident_holes),
	T(test_mallinfo_large_slot),
	T(test_limit_fold),
	T(test_stale_hole),
	T(test_robust_race),
#undef T
};

static const struct {
	const char *name;
	int (*fn)(void);
} g_children[] = {
	{ "fork_steal", fork_steal_main },
	{ "errno_large", errno_large_main },
	{ "errno_steal", errno_steal_main },
	{ "errno_thread", errno_thread_main },
	{ "resident_holes", resident_holes_main },
	{ "limit_fold", limit_fold_main },
	{ "stale_hole", stale_hole_main },
	{ "robust_race", robust_race_main },
};

int main(int argc, char **argv)
{
	g_argv0 = argv[0];
	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		/* Nothing allocates before the case: its heap is the one it
		 * makes (under the limit it sets, or the one of the exec). */
		for (size_t i = 0; i < sizeof g_children / sizeof g_children[0]; i++)
			if (strcmp(argv[2], g_children[i].name) == 0)
				return g_children[i].fn();
		say("unknown child %s", argv[2]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	free(opaque(malloc(1))); /* hakmem is initialised before any test */
	for (size_t i = 0; i < sizeof g_tests / sizeof g_tests[0]; i++) {
		bool run = argc < 2;
		for (int a = 1; a < argc && !run; a++)
			run = strcmp(argv[a], g_tests[i].name) == 0 ||
			      strcmp(argv[a], g_tests[i].name + 5) == 0;
		if (run)
			test_run_(g_tests[i].fn, g_tests[i].name);
	}
	return test_summary();
}
