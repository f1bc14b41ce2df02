/* os.c - system calls: mmap, munmap, madvise, clock, cpu, write. See os.h. */
#include "internal.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static void os_name_mapping(void *p, size_t size)
{
	/* Best effort: kernels without CONFIG_ANON_VMA_NAME return EINVAL. */
	static int supported = 1;
	if (supported && prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, size,
	                       (unsigned long)"hakmem") != 0)
		supported = 0;
}

int os_map(size_t size, void **out)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		*out = NULL;
		return ENOMEM;
	}
	os_name_mapping(p, size);
	*out = p;
	return 0;
}

/* Aligned mappings in one system call, inside an address window: ask for the
 * next address of the window (MAP_FIXED_NOREPLACE fails rather than replace
 * anything), aligned by construction. Each window is 16 TiB; its first
 * mapping starts at a random 64 MiB-aligned offset within its first 4 TiB
 * (the seed moves with the address of this library, which ASLR moves), so
 * hakmem does not put every process's heap at one address. The kernel places
 * its own mappings top-down from just below the stack (127 TiB), and PIE
 * programs and their brk heap near 85 TiB: the windows at 16-48 TiB are left
 * to us. When an address is taken, the next ones are tried; past that, an
 * over-mapping outside the window, trimmed (OS_WINDOW_ANY). */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define WINDOW_SIZE ((uintptr_t)1 << OS_WINDOW_SHIFT)
static uintptr_t g_hint[OS_NWINDOWS]; /* [atomic] next address of each window, 0 until first use */

static uintptr_t window_base(enum os_window w)
{
	return ((uintptr_t)w + 1) << OS_WINDOW_SHIFT;
}

/* NULL with *oom set when the kernel refused for want of memory (an
 * over-mapping elsewhere would be refused too). */
static void *os_map_window(size_t size, size_t align, enum os_window w, bool *oom)
{
	*oom = false;
	if (align > 64 * MiB || w >= OS_NWINDOWS)
		return NULL;
	uintptr_t base = window_base(w);
	uintptr_t h = __atomic_load_n(&g_hint[w], __ATOMIC_RELAXED);
	if (h == 0) {
		uintptr_t seed = ((uintptr_t)&g_hint >> 12) * 0x9e3779b97f4a7c15u;
		uintptr_t start = base + ALIGN_DOWN((seed >> 20) % (WINDOW_SIZE / 4), 64 * MiB);
		__atomic_compare_exchange_n(&g_hint[w], &h, start, false, __ATOMIC_RELAXED,
		                            __ATOMIC_RELAXED);
	}
	/* Large mappings leave as many addresses free after them as they
	 * take: realloc can grow them in place (mremap). */
	size_t step = ALIGN_UP(size, align) * (w == OS_WINDOW_LARGE ? 2 : 1);
	for (int tries = 0; tries < 16; tries++) {
		uintptr_t a = ALIGN_UP(__atomic_fetch_add(&g_hint[w], step, __ATOMIC_RELAXED), align);
		if (a + size > base + WINDOW_SIZE || a + size < a)
			return NULL;
		void *p = mmap((void *)a, size, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == (void *)a)
			return p;
		if (p != MAP_FAILED) { /* kernels before 4.17 treat the flag as a hint */
			munmap(p, size);
			return NULL;
		}
		if (errno != EEXIST) {
			*oom = true;
			return NULL;
		}
	}
	return NULL;
}

int os_map_aligned(size_t size, size_t align, enum os_window w, void **out)
{
	*out = NULL;
	if (size == 0 || size + align < size)
		return ENOMEM;
	int saved = errno; /* a refused or taken address is no error of the caller's */
	bool oom;
	void *p = os_map_window(size, align, w, &oom);
	if (p == NULL && oom) {
		errno = saved;
		return ENOMEM;
	}
	if (p == NULL) {
		/* Over-map by the alignment and trim both ends. */
		size_t over = size + align - PAGE_SIZE;
		if (over < size)
			return ENOMEM;
		char *q = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (q == MAP_FAILED) {
			errno = saved;
			return ENOMEM;
		}
		char *a = (char *)ALIGN_UP((uintptr_t)q, align);
		size_t head = (size_t)(a - q);
		size_t tail = over - head - size;
		if (head)
			munmap(q, head);
		if (tail)
			munmap(a + size, tail);
		p = a;
	}
	os_name_mapping(p, size);
	errno = saved;
	*out = p;
	return 0;
}

int os_map_noreplace(void *p, size_t size)
{
	int saved = errno;
	void *q = mmap(p, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (q == MAP_FAILED) {
		int err = errno == EEXIST ? EEXIST : ENOMEM;
		errno = saved;
		return err;
	}
	if (q != p) {
		munmap(q, size);
		return EEXIST;
	}
	os_name_mapping(q, size);
	return 0;
}

int os_map_at(void *p, size_t size)
{
	int saved = errno;
	void *q = mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
	               0);
	if (q == MAP_FAILED) {
		errno = saved;
		return ENOMEM;
	}
	os_name_mapping(q, size);
	return 0;
}

int os_remap(void *p, size_t old, size_t size, void *dst)
{
	int saved = errno;
	void *q = dst == NULL ? mremap(p, old, size, 0)
	                      : mremap(p, old, size, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	errno = saved;
	if (q == MAP_FAILED || (dst != NULL && q != dst) || (dst == NULL && q != p))
		return ENOMEM;
	return 0;
}

int os_map_placeholder(void *p, size_t size)
{
	int saved = errno;
	void *q = mmap(p, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
	               -1, 0);
	if (q == MAP_FAILED) {
		int err = errno;
		errno = saved;
		return err;
	}
	madvise(q, size, MADV_DONTDUMP);
	errno = saved;
	return 0;
}

bool os_as_limited(void)
{
	struct rlimit r;
	return getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY;
}

int os_map_sparse(size_t size, void **out)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		*out = NULL;
		return ENOMEM;
	}
	*out = p;
	return 0;
}

int os_unmap(void *p, size_t size)
{
	return munmap(p, size) == 0 ? 0 : errno;
}

int os_purge(void *p, size_t size)
{
	return madvise(p, size, MADV_DONTNEED) == 0 ? 0 : errno;
}

uint64_t os_now_ns(void)
{
	struct timespec ts;
	/* The coarse clock is a vDSO read of the kernel's tick time: decay works in
	 * milliseconds and needs nothing finer, and the precise clock costs tens
	 * of nanoseconds on some virtual machines. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned os_ncpus_allowed(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 1;
	int n = CPU_COUNT(&set);
	return n > 0 ? (unsigned)n : 1;
}


void os_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

int os_open_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

void os_close(int fd)
{
	close(fd);
}

int os_getpid(void)
{
	return (int)getpid();
}

int os_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

int os_signal_thread(int tid, int sig, int value)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid(); /* si_uid stays 0: nobody reads it */
	si.si_value.sival_int = value;
	return syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig, &si) == 0 ? 0 : errno;
}

/* Raw system calls, not sigtimedwait(3) and sigaddset(3): every libc
 * function hakmem imports costs each process a symbol lookup at start-up. */
int os_wait_signal(int sig, uint64_t ns, void *info)
{
	uint64_t set = 1ull << (sig - 1); /* the kernel's sigset_t: one word */
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	long r = syscall(SYS_rt_sigtimedwait, &set, info, &ts, sizeof set);
	return r == sig ? sig : 0;
}

int os_requeue_signal(int sig, void *info)
{
	return syscall(SYS_rt_sigqueueinfo, getpid(), sig, info) == 0 ? 0 : errno;
}

void os_abort(void)
{
	abort();
}


size_t os_resident_bytes(void *p, size_t size)
{
	/* Eight pages a word: bit 0 of each byte says resident (statistics
	 * refreshes walk every mapping, redis's at 10 Hz). */
	uint64_t vec[512 / 8];
	size_t total = 0;
	char *c = p;
	size_t npages = size / PAGE_SIZE;
	while (npages > 0) {
		size_t n = npages < sizeof vec ? npages : sizeof vec;
		if (mincore(c, n * PAGE_SIZE, (unsigned char *)vec) != 0)
			return total;
		size_t pages = 0, w = 0;
		for (; w < n / 8; w++)
			pages += (size_t)(((vec[w] & 0x0101010101010101u) * 0x0101010101010101u) >> 56);
		for (size_t i = w * 8; i < n; i++)
			pages += ((unsigned char *)vec)[i] & 1;
		total += pages * PAGE_SIZE;
		c += n * PAGE_SIZE;
		npages -= n;
	}
	return total;
}

void os_getcpu(unsigned *cpu, unsigned *node)
{
	if (getcpu(cpu, node) != 0) {
		*cpu = 0;
		*node = 0;
	}
}

long os_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		/* sysfs answers a small file in one read, ending in a newline:
		 * spare the read that would return 0. */
		if (buf[len - 1] == '\n')
			break;
	}
	close(fd);
	buf[len] = '\0';
	return (long)len;
}

#define HM_MPOL_PREFERRED 1
#define HM_MPOL_BIND 2

int os_bind_node(void *p, size_t size, int node, bool strict)
{
	if (node < 0 || node >= 64 * 16)
		return EINVAL;
	unsigned long mask[16] = { 0 };
	mask[node / 64] = 1ul << (node % 64);
	long r = syscall(SYS_mbind, p, size, strict ? HM_MPOL_BIND : HM_MPOL_PREFERRED, mask,
	                 (unsigned long)(64 * 16), 0ul);
	return r == 0 ? 0 : errno;
}

int os_get_mempolicy(int *mode, uint64_t *nodemask)
{
	unsigned long mask[16] = { 0 };
	long r = syscall(SYS_get_mempolicy, mode, mask, (unsigned long)(64 * 16), NULL, 0ul);
	if (r != 0)
		return errno;
	*nodemask = mask[0];
	return 0;
}

int os_page_nodes(void **pages, int *status, unsigned long n)
{
	long r = syscall(SYS_move_pages, 0, n, pages, NULL, status, 0);
	return r == 0 ? 0 : errno;
}
