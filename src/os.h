/* os.h - the operating-system layer: the only code that makes system calls.
 *
 * Every function returns 0 or an errno value unless it says otherwise, and
 * never allocates with malloc. Mappings hakmem makes are named in
 * /proc/PID/maps ("[anon:hakmem]") where the kernel supports it.
 */
#ifndef HAKMEM_OS_H
#define HAKMEM_OS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Address windows of 2^OS_WINDOW_SHIFT bytes: window w starts at
 * (w + 1) << OS_WINDOW_SHIFT (16 TiB: SuperSlabs at 16-32 TiB, large
 * mappings at 32-48 TiB), see os.c. */
#define OS_WINDOW_SHIFT 44
enum os_window { OS_WINDOW_SUPERSLAB = 0, OS_WINDOW_LARGE = 1, OS_NWINDOWS = 2 };

/* Maps `size` bytes (a multiple of the page size) of zeroed, read-write memory
 * aligned to `align` (a power of two >= page size), inside window w when it
 * has room, elsewhere otherwise. Application memory is not mapped with
 * MAP_NORESERVE, so the kernel's overcommit policy refuses sizes it cannot
 * back, as with glibc. Post: *out is aligned; on failure *out is NULL and
 * ENOMEM is returned. */
int os_map_aligned(size_t size, size_t align, enum os_window w, void **out);

/* Maps `size` bytes of zeroed read-write memory at exactly p, where nothing
 * is mapped; ENOMEM (or EEXIST) otherwise. */
int os_map_noreplace(void *p, size_t size);

/* Maps `size` bytes of zeroed read-write memory at exactly p, replacing the
 * placeholder hakmem keeps there (atomically: no other mapping can slip in). */
int os_map_at(void *p, size_t size);

/* Resizes the mapping [p, p+old) to `size` bytes: in place when dst is NULL
 * (it grows only if the addresses after it are free), else moved to dst,
 * replacing what is mapped there (a fresh mapping of the caller's): its pages
 * move, not their contents. 0 or ENOMEM. */
int os_remap(void *p, size_t old, size_t size, void *dst);

/* Replaces [p, p+size) with a placeholder: read-only zero pages that hold the
 * address range but no memory and no commit charge, left out of core dumps.
 * Reads through a stale pointer find zeros instead of a fault. */
int os_map_placeholder(void *p, size_t size);

/* Whether the process has an address-space limit (RLIMIT_AS, ulimit -v). */
bool os_as_limited(void);

/* Maps sparse metadata (MAP_NORESERVE): only the pages touched cost memory
 * (and appear in a core dump). */
int os_map_sparse(size_t size, void **out);

/* Maps metadata memory (zeroed, page aligned, no alignment beyond a page). */
int os_map(size_t size, void **out);

/* Unmaps [p, p+size). Pre: both page-aligned. */
int os_unmap(void *p, size_t size);

/* Tells the kernel the pages of [p, p+size) may be dropped; they read back as
 * zero. Pre: page-aligned. */
int os_purge(void *p, size_t size);

/* Monotonic time in nanoseconds, at the kernel tick's resolution (a few ms;
 * vDSO: no system call). */
uint64_t os_now_ns(void);

/* Number of CPUs this process may run on (at least 1). */
unsigned os_ncpus_allowed(void);

/* The CPU and NUMA node the calling thread runs on (getcpu: vDSO). */
void os_getcpu(unsigned *cpu, unsigned *node);

/* Reads a small text file (sysfs) into buf, NUL-terminated, without
 * allocating. Returns the length, or -errno. */
long os_read_file(const char *path, char *buf, size_t size);

/* Binds [p, p+size) to `node` before first touch: MPOL_PREFERRED, or
 * MPOL_BIND when strict. */
int os_bind_node(void *p, size_t size, int node, bool strict);

/* The calling thread's NUMA policy (MPOL_*) and its node mask (first 64 nodes).
 * Returns 0 or errno (ENOSYS without NUMA support). */
int os_get_mempolicy(int *mode, uint64_t *nodemask);

/* NUMA node of each page at pages[0..n) (move_pages query); status[i] is the
 * node or a negative errno. */
int os_page_nodes(void **pages, int *status, unsigned long n);

/* Writes the whole buffer to a file descriptor, retrying short writes. */
void os_write_all(int fd, const char *buf, size_t len);

/* Opens a file for writing (created, truncated): the descriptor or -errno. */
int os_open_write(const char *path);
void os_close(int fd);
/* The calling process's id; the calling thread's. */
int os_getpid(void);
int os_gettid(void);

/* Queues signal sig to thread tid of this process, with si_code SI_QUEUE
 * and `value` (rt_tgsigqueueinfo). 0 or errno. */
int os_signal_thread(int tid, int sig, int value);
/* Waits up to ns nanoseconds for signal sig, which the calling thread
 * blocks (rt_sigtimedwait; *info: a siginfo_t). sig when one came, 0 on
 * the time-out or an interruption. */
int os_wait_signal(int sig, uint64_t ns, void *info);
/* Queues the signal described by *info to this process again
 * (rt_sigqueueinfo). 0 or errno. */
int os_requeue_signal(int sig, void *info);

/* Stops the process with SIGABRT. */
void os_abort(void) __attribute__((noreturn));

/* Bytes of [p, p+size) resident in memory (mincore). */
size_t os_resident_bytes(void *p, size_t size);

#endif
