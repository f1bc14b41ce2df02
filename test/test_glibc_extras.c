/* test_glibc_extras - glibc's <malloc.h> extras answer for hakmem's heap:
 * mallinfo2/mallinfo follow the program's allocations, malloc_trim gives
 * freed memory back (RSS read from /proc/self/status), malloc_stats and
 * malloc_info print glibc's shapes, mallopt honours M_ARENA_MAX and refuses
 * glibc's own knobs. Linked with libhakmem (its symbols win over glibc's). */
#include "expect.h"

#include <errno.h>

#include <hakmem.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

/* VmRSS of this process, bytes. */
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

static void test_mallinfo_follows(void)
{
	struct mallinfo2 a = mallinfo2();
	enum { N = 1000 };
	static void *p[N];
	size_t total = 0;
	for (int i = 0; i < N; i++) {
		p[i] = malloc(100 + (size_t)i * 7);
		total += 100 + (size_t)i * 7;
	}
	void *big = malloc(5 << 20);
	struct mallinfo2 b = mallinfo2();
	expect_zu_ge(b.uordblks, a.uordblks + total, "uordblks counts the small blocks");
	expect_zu_ge(b.arena, b.uordblks, "arena holds what is in use");
	expect_zu_eq(b.fordblks, b.arena - b.uordblks);
	expect_zu_ge(b.hblks, a.hblks + 1, "a large block is an mmapped region");
	expect_zu_ge(b.hblkhd, a.hblkhd + (5 << 20), "hblkhd counts its bytes");
	expect_zu_eq(b.usmblks, 0);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
	expect_int_eq(old.uordblks, (int)(b.uordblks > 0x7fffffff ? 0x7fffffff : b.uordblks));
	for (int i = 0; i < N; i++)
		free(p[i]);
	free(big);
	struct mallinfo2 c = mallinfo2();
	expect_zu_le(c.uordblks, b.uordblks - total, "freed blocks are no longer in use");
	expect_zu_le(c.hblks, b.hblks - 1);
}

/* Blocks allocated by one thread and freed by another count once: in-use
 * bytes stay flat over many threads (glibc's tst-malloc-tcache-leak). */
static void *leak_worker(void *arg)
{
	void *p = malloc(32);
	sink = p;
	free(p);
	return malloc(32);
}

static void test_mallinfo_threads(void)
{
	void *keep = malloc(16);
	struct mallinfo2 a = mallinfo2();
	for (int i = 0; i < 2000; i++) {
		pthread_t t;
		void *r;
		if (pthread_create(&t, NULL, leak_worker, NULL) != 0) {
			test_fail("pthread_create");
			break;
		}
		pthread_join(t, &r);
		free(r);
	}
	struct mallinfo2 b = mallinfo2();
	expect_zu_le(b.uordblks, a.uordblks + 2000, "in use grew with threads: %zu -> %zu", a.uordblks,
	             b.uordblks);
	free(keep);
}

static void test_trim_returns_memory(void)
{
	size_t zero = 0;
	/* Keep freed memory: only malloc_trim gives it back. */
	ssize_t never = -1, old_decay;
	size_t sz = sizeof old_decay;
	expect_int_eq(hakmem_ctl("decay_ms", &old_decay, &sz, &never, sizeof never), 0);
	enum { N = 64 * 1024 };
	void **p = malloc(N * sizeof *p);
	for (int i = 0; i < N; i++) {
		p[i] = malloc(1000);
		memset(p[i], 1, 1000);
	}
	size_t full = rss_bytes();
	for (int i = 0; i < N; i++)
		free(p[i]);
	free(p);
	size_t before = rss_bytes();
	int r = malloc_trim(0);
	size_t after = rss_bytes();
	expect_int_eq(r, 1, "malloc_trim released memory");
	expect_zu_lt(after + 40 * 1024 * 1024, before,
	             "RSS after malloc_trim: %zu, before %zu (full %zu)", after, before, full);
	malloc_trim(0); /* what rss_bytes() itself freed */
	expect_int_eq(malloc_trim(0), 0, "nothing left to release");
	(void)zero;
	expect_int_eq(hakmem_ctl("decay_ms", NULL, NULL, &old_decay, sizeof old_decay), 0);
}

static void test_malloc_stats(void)
{
	int fd[2];
	if (pipe(fd) != 0) {
		test_fail("pipe");
		return;
	}
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		sink = malloc(3 << 20);
		malloc_stats();
		_exit(0);
	}
	close(fd[1]);
	char out[4096];
	size_t len = 0;
	ssize_t n;
	while ((n = read(fd[0], out + len, sizeof out - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = 0;
	close(fd[0]);
	int st;
	waitpid(pid, &st, 0);
	expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	expect_ptr_not_null(strstr(out, "Arena "), "%s", out);
	expect_ptr_not_null(strstr(out, "system bytes     = "), "%s", out);
	expect_ptr_not_null(strstr(out, "Total (incl. mmap):\n"), "%s", out);
	const char *m = strstr(out, "max mmap regions = ");
	expect_true(m && strtoul(m + 19, NULL, 10) >= 1, "a large block was live: %s", out);
	expect_ptr_not_null(strstr(out, "max mmap bytes   = "), "%s", out);
}

static void test_malloc_info(void)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	sink = malloc(100);
	expect_int_eq(malloc_info(0, f), 0);
	fclose(f);
	expect_true(buf && strncmp(buf, "<malloc version=\"1\">\n", 21) == 0, "%.80s", buf);
	expect_ptr_not_null(strstr(buf, "<heap nr=\""));
	expect_ptr_not_null(strstr(buf, "<total type=\"mmap\""));
	expect_true(size >= 10 && strcmp(buf + size - 10, "</malloc>\n") == 0, "%s", buf);
	free(buf);
	f = open_memstream(&buf, &size);
	errno = 0;
	expect_int_eq(malloc_info(1, f), -1);
	expect_int_eq(errno, EINVAL);
	fclose(f);
	free(buf);
	free((void *)sink);
}

static void *arena_of_thread(void *arg)
{
	unsigned a = 99;
	size_t sz = sizeof a;
	sink = malloc(64);
	hakmem_ctl("thread.arena", &a, &sz, NULL, 0);
	free((void *)sink);
	return (void *)(uintptr_t)a;
}

static void test_mallopt(void)
{
	expect_int_eq(mallopt(M_ARENA_MAX, 1), 1);
	unsigned lim = 0;
	size_t sz = sizeof lim;
	expect_int_eq(hakmem_ctl("arenas.limit", &lim, &sz, NULL, 0), 0);
	expect_u_eq(lim, 1);
	for (int i = 0; i < 8; i++) {
		pthread_t t;
		void *r;
		pthread_create(&t, NULL, arena_of_thread, NULL);
		pthread_join(t, &r);
		expect_u_eq((unsigned)(uintptr_t)r, 0, "a new thread binds below arenas.limit");
	}
	expect_int_eq(mallopt(M_ARENA_MAX, 0), 1);
	expect_int_eq(mallopt(M_ARENA_MAX, -1), 0);
	expect_int_eq(mallopt(M_MXFAST, 0), 0, "glibc's own knobs are refused");
	expect_int_eq(mallopt(M_PERTURB, 0x5a), 0);
	expect_int_eq(mallopt(12345, 1), 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_run(test_mallinfo_follows);
	test_run(test_mallinfo_threads);
	test_run(test_trim_returns_memory);
	test_run(test_malloc_stats);
	test_run(test_malloc_info);
	test_run(test_mallopt);
	return test_summary();
}
