/* live_target.c - a program for test_live.sh to look into from outside with
 * hakmem-ctl (stats/get/set/top PID). It runs under LD_PRELOAD=libhakmem.so
 * and takes commands on stdin, one a line, answering "ok" on stdout:
 *
 *   alloc N SIZE     allocates N blocks of SIZE bytes (written), kept
 *   free             frees every kept block
 *   report FILE      writes its own hakmem_ctl reads of the keys the test
 *                    compares (KEY=VALUE lines), without an epoch write
 *   statsjson FILE   hakmem_stats_print("J") to FILE (the epoch it takes)
 *   busy MS          malloc/free for MS milliseconds (slow paths included)
 *   exit
 *
 * argv[1] "threaded": a second thread sleeps, so that the background thread
 * runs (hakmem starts one once a process has two threads); "single": none.
 * hakmem_ctl is looked up with dlsym, so that the program links no hakmem.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int ctl_fn(const char *, void *, size_t *, const void *, size_t);
typedef void print_fn(void (*)(void *, const char *), void *, const char *);

static ctl_fn *ctl;
static print_fn *stats_print;
static void **blocks;
static size_t nblocks, capblocks;

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* write(2), not stdio: a FILE would be an allocation between the tool's
 * epoch and this one. */
static void to_fd(void *opaque, const char *text)
{
	size_t n = strlen(text);
	if (write((int)(intptr_t)opaque, text, n) != (ssize_t)n)
		exit(1);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void report(const char *path)
{
	static const char *const u64[] = { "stats.allocated", "stats.active", "stats.nmalloc",
	                                   "stats.nfree", "stats.mapped", "epoch" };
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	for (size_t i = 0; i < sizeof u64 / sizeof u64[0]; i++) {
		uint64_t v = 0;
		size_t sz = sizeof v;
		int err = ctl(u64[i], &v, &sz, NULL, 0);
		fprintf(f, "%s=%llu%s\n", u64[i], (unsigned long long)v, err ? " (error)" : "");
	}
	unsigned cap = 0;
	size_t sz = sizeof cap;
	ctl("tiny.fast_cap", &cap, &sz, NULL, 0);
	fprintf(f, "tiny.fast_cap=%u\n", cap);
	ssize_t decay = 0;
	sz = sizeof decay;
	ctl("decay_ms", &decay, &sz, NULL, 0);
	fprintf(f, "decay_ms=%lld\n", (long long)decay);
	fclose(f);
}

int main(int argc, char **argv)
{
	ctl = (ctl_fn *)dlsym(RTLD_DEFAULT, "hakmem_ctl");
	stats_print = (print_fn *)dlsym(RTLD_DEFAULT, "hakmem_stats_print");
	if (ctl == NULL || stats_print == NULL) {
		fprintf(stderr, "live_target: not running under hakmem\n");
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "threaded") == 0) {
		pthread_t t;
		pthread_create(&t, NULL, sleeper, NULL);
		/* The background thread starts at a slow path of a process with
		 * two threads: allocate until it runs. */
		size_t n = 0, sz = sizeof n;
		static void *batch[4096];
		for (int r = 0; r < 1000 && n == 0; r++) {
			for (int i = 0; i < 4096; i++)
				batch[i] = malloc(64);
			for (int i = 0; i < 4096; i++)
				free(batch[i]);
			ctl("stats.background_thread.num_threads", &n, &sz, NULL, 0);
		}
		if (n == 0) {
			fprintf(stderr, "live_target: no background thread\n");
			return 1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	char line[4096];
	while (fgets(line, sizeof line, stdin) != NULL) {
		char arg[1024] = "";
		unsigned long n = 0, size = 0;
		if (sscanf(line, "alloc %lu %lu", &n, &size) == 2) {
			if (nblocks + n > capblocks) {
				capblocks = (nblocks + n) * 2;
				blocks = realloc(blocks, capblocks * sizeof *blocks);
			}
			for (unsigned long i = 0; i < n; i++) {
				char *p = malloc(size);
				memset(p, (int)(i & 0xff), size);
				blocks[nblocks++] = p;
			}
		} else if (strncmp(line, "free", 4) == 0) {
			for (size_t i = 0; i < nblocks; i++)
				free(blocks[i]);
			nblocks = 0;
		} else if (sscanf(line, "report %1023s", arg) == 1) {
			report(arg);
		} else if (sscanf(line, "statsjson %1023s", arg) == 1) {
			int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0) {
				perror(arg);
				return 1;
			}
			stats_print(to_fd, (void *)(intptr_t)fd, "J");
			close(fd);
		} else if (sscanf(line, "busy %lu", &n) == 1) {
			double end = now_ms() + (double)n;
			/* Bursts of more blocks than the thread cache holds:
			 * refills, flushes, and every tiny.drain_interval of them
			 * a drain. */
			static void *keep[8192];
			for (unsigned r = 0; now_ms() < end; r++) {
				size_t size = 16 + (r * 7919) % 2000;
				for (unsigned k = 0; k < 8192; k++)
					keep[k] = malloc(size);
				for (unsigned k = 0; k < 8192; k++)
					free(keep[k]);
			}
		} else if (strncmp(line, "exit", 4) == 0) {
			printf("ok\n");
			return 0;
		} else {
			printf("bad command\n");
			continue;
		}
		printf("ok\n");
	}
	return 0;
}
