/* test_live_signal.c - the background thread's wake-up signal (opt.live_signal,
 * SIGRTMAX) stays invisible to a program that uses the same signal itself.
 *
 * The background thread blocks the signal and sleeps in sigtimedwait, so a
 * process-directed instance (the program's own kill/sigqueue) may be picked
 * by it when every other thread blocks the signal. It must put each one back
 * and stop waiting for that signal; the program receives every instance it
 * sent, with its value, and memory still comes back (the thread now sleeps
 * on its semaphore).
 *
 *   stolen_back    the main thread blocks SIGRTMAX, queues five values while
 *                  only the background thread waits for the signal, then
 *                  starts a sigwaitinfo thread: it gets all five, each once
 *                  (the one the background thread picked comes last)
 *   still_wakes    afterwards 32 MiB freed with decay_ms=200 leave VmRSS
 *                  (the background thread was woken without the signal)
 */
#include "expect.h"

#include <hakmem.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define NSIG_SENT 5

static int g_got[NSIG_SENT];
static int g_ngot;

static void *waiter(void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMAX);
	struct timespec ts = { 5, 0 };
	while (g_ngot < NSIG_SENT) {
		siginfo_t si;
		if (sigtimedwait(&set, &si, &ts) != SIGRTMAX)
			break;
		g_got[g_ngot++] = si.si_value.sival_int;
	}
	return arg;
}

static void *sleeper(void *arg)
{
	for (;;)
		pause();
	return arg;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

static size_t bg_threads(void)
{
	size_t n = 0, sz = sizeof n;
	hakmem_ctl("stats.background_thread.num_threads", &n, &sz, NULL, 0);
	return n;
}

static void test_stolen_back(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMAX);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_t t;
	pthread_create(&t, NULL, sleeper, NULL); /* inherits the mask */
	static void *batch[4096];
	for (int r = 0; r < 2000 && bg_threads() == 0; r++) {
		for (int i = 0; i < 4096; i++)
			batch[i] = malloc(64);
		for (int i = 0; i < 4096; i++)
			free(batch[i]);
	}
	if (!expect_u64_eq(bg_threads(), 1, "no background thread"))
		return;
	usleep(100 * 1000); /* asleep in sigtimedwait */
	for (int i = 0; i < NSIG_SENT; i++) {
		union sigval v = { .sival_int = 1000 + i };
		expect_int_eq(sigqueue(getpid(), SIGRTMAX, v), 0);
	}
	usleep(200 * 1000);
	pthread_t w;
	pthread_create(&w, NULL, waiter, NULL);
	pthread_join(w, NULL);
	expect_int_eq(g_ngot, NSIG_SENT, "the program's own SIGRTMAX instances");
	/* Each once; the instance the background thread picked is queued
	 * again behind the others. */
	int seen = 0;
	for (int i = 0; i < g_ngot; i++) {
		expect_true(g_got[i] >= 1000 && g_got[i] < 1000 + NSIG_SENT, "value %d", g_got[i]);
		if (g_got[i] >= 1000 && g_got[i] < 1000 + NSIG_SENT) {
			expect_true(!(seen & (1 << (g_got[i] - 1000))), "value %d twice", g_got[i]);
			seen |= 1 << (g_got[i] - 1000);
		}
	}
	if (g_ngot == NSIG_SENT && g_got[NSIG_SENT - 1] == 1000)
		fprintf(stderr, "note: the background thread picked the first instance and put it back\n");
}

static void test_still_wakes(void)
{
	ssize_t d = 200;
	expect_int_eq(hakmem_ctl("decay_ms", NULL, NULL, &d, sizeof d), 0);
	long before = rss_kb();
	enum { N = 512 };
	static char *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(64 * 1024);
		memset(p[i], 1, 64 * 1024);
	}
	long full = rss_kb();
	for (int i = 0; i < N; i++)
		free(p[i]);
	long now = full;
	for (int i = 0; i < 40 && now > before + 8 * 1024; i++) {
		usleep(100 * 1000);
		now = rss_kb();
	}
	expect_true(full > before + 24 * 1024, "VmRSS %ld -> %ld kB for 32 MiB", before, full);
	expect_true(now <= before + 8 * 1024, "VmRSS before %ld, full %ld, 4 s after free %ld kB",
	            before, full, now);
}

int main(void)
{
	test_run(test_stolen_back);
	test_run(test_still_wakes);
	return test_summary();
}
