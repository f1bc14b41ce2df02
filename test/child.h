/* child.h - what the lifecycle and limit tests share: ctl shorthands, time,
 * and cases run in child processes (a watchdog, captured stderr, a verdict
 * that names how a child ended).
 *
 * A child reports with say() (one write(2) per line: no stdio, so it works
 * under an address-space limit, in a process that forks, and in signal
 * handlers), counts failures with child_fail() and ends with child_status().
 * expect.h comes first. */
#ifndef HAKMEM_TEST_CHILD_H
#define HAKMEM_TEST_CHILD_H

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hakmem.h"
#include "expect.h"

/* ---- messages from children ---------------------------------------------- */

/* Children report through stderr (captured by run_child) with one write per
 * line: no stdio, so no allocation under an address-space limit, no lock in
 * a process that forks, and usable from signal handlers and from a thread
 * whose TCB a test overwrote (once it was put back). */
TEST_UNUSED static __attribute__((format(printf, 1, 2))) void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	ssize_t w = write(2, buf, (size_t)n);
	(void)w;
}

/* ---- ctl shorthands -------------------------------------------------------- */

TEST_UNUSED static int ctl_epoch_rc(void)
{
	uint64_t e = 1;
	return hakmem_ctl("epoch", NULL, NULL, &e, sizeof e);
}

TEST_UNUSED static int ctl_get_zu(const char *name, size_t *v)
{
	size_t sz = sizeof *v;
	return hakmem_ctl(name, v, &sz, NULL, 0);
}

TEST_UNUSED static int ctl_get_u(const char *name, unsigned *v)
{
	size_t sz = sizeof *v;
	return hakmem_ctl(name, v, &sz, NULL, 0);
}

TEST_UNUSED static int ctl_set_u(const char *name, unsigned v)
{
	return hakmem_ctl(name, NULL, NULL, &v, sizeof v);
}

/* ---- time --------------------------------------------------------------- */

TEST_UNUSED static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

TEST_UNUSED static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The smallest slab class holding `size` (arenas.class.#.size), or -1. */
TEST_UNUSED static int class_of(size_t size)
{
	unsigned n = 0;
	if (ctl_get_u("arenas.nclasses", &n) != 0)
		return -1;
	for (unsigned c = 0; c < n; c++) {
		char key[64];
		size_t cs = 0;
		snprintf(key, sizeof key, "arenas.class.%u.size", c);
		if (ctl_get_zu(key, &cs) == 0 && cs >= size)
			return (int)c;
	}
	return -1;
}

/* ---- failures of a child ------------------------------------------------- */

TEST_UNUSED static unsigned g_child_nfail; /* failures a child saw [atomic] */

/* Counts a failure of the child and prints the first 20 (the exit status
 * says whether there were any). */
#define child_fail(...)                                                                    \
	do {                                                                                   \
		if (__atomic_fetch_add(&g_child_nfail, 1, __ATOMIC_RELAXED) < 20)                  \
			say("CHILD-FAIL: " __VA_ARGS__);                                               \
	} while (0)

TEST_UNUSED static int child_status(void)
{
	unsigned n = __atomic_load_n(&g_child_nfail, __ATOMIC_RELAXED);
	if (n > 20)
		say("CHILD-FAIL: ... %u failures in all", n);
	return n ? 3 : 0;
}

/* ---- child processes ------------------------------------------------------ */

/* thread.arena = i for the calling thread, or the child ends. */
TEST_UNUSED static void bind_arena(unsigned i)
{
	int e = ctl_set_u("thread.arena", i);
	if (e != 0) {
		child_fail("thread.arena = %u: %d", i, e);
		_exit(4);
	}
}

typedef int (*child_fn)(void *arg);

typedef struct {
	int status;       /* from waitpid */
	bool hung;        /* the parent killed it at the deadline */
	unsigned timeout; /* seconds */
	char err[16384];  /* its stderr */
} child_t;

/* Runs fn(arg) in a child process (its own process group, no core dump,
 * alarm(timeout)) with stderr captured; its exit status is fn's result. The
 * parent waits at most timeout + 5 seconds, then kills the group. Any process
 * the child left behind is killed too. */
TEST_UNUSED static void run_child(child_t *r, unsigned timeout, child_fn fn, void *arg)
{
	memset(r, 0, sizeof *r);
	r->timeout = timeout;
	r->status = -1;
	FILE *fe = tmpfile();
	if (fe == NULL) {
		test_fail("tmpfile: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		test_fail("fork: %s", strerror(errno));
		fclose(fe);
		return;
	}
	if (pid == 0) {
		setpgid(0, 0);
		struct rlimit nocore = { 0, 0 };
		setrlimit(RLIMIT_CORE, &nocore);
		dup2(fileno(fe), 2);
		alarm(timeout);
		int rc = fn(arg);
		_exit(rc);
	}
	setpgid(pid, pid);
	uint64_t deadline = now_ns() + (uint64_t)(timeout + 5) * 1000000000u;
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			test_fail("waitpid: %s", strerror(errno));
			break;
		}
		if (now_ns() > deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			r->hung = true;
			break;
		}
		sleep_ms(5);
	}
	r->status = st;
	kill(-pid, SIGKILL); /* strays: grandchildren stuck in a deadlock */
	fflush(fe);
	rewind(fe);
	size_t n = fread(r->err, 1, sizeof r->err - 1, fe);
	r->err[n] = '\0';
	fclose(fe);
}

TEST_UNUSED static const char *child_describe(const child_t *r, char *buf, size_t n)
{
	if (r->hung)
		snprintf(buf, n, "hung: still running after %u s, killed", r->timeout + 5);
	else if (WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGALRM)
		snprintf(buf, n, "hung: the %u s watchdog (SIGALRM) killed it", r->timeout);
	else if (WIFSIGNALED(r->status))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(r->status),
		         strsignal(WTERMSIG(r->status)));
	else if (WIFEXITED(r->status))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(r->status));
	else
		snprintf(buf, n, "status %#x", (unsigned)r->status);
	return buf;
}

/* Prints the child's stderr (for a failed expectation, whose own message is
 * short), indented. */
TEST_UNUSED static void child_dump(const char *what, const child_t *r)
{
	if (r->err[0] == '\0')
		return;
	fprintf(stderr, "  --- %s: the child's stderr ---\n", what);
	size_t len = strlen(r->err);
	const char *s = r->err;
	if (len > 3000) {
		fprintf(stderr, "  [... %zu bytes ...]\n", len - 3000);
		s += len - 3000;
	}
	for (const char *p = s; *p;) {
		const char *e = strchr(p, '\n');
		int l = e ? (int)(e - p) : (int)strlen(p);
		fprintf(stderr, "  | %.*s\n", l, p);
		p += l + (e ? 1 : 0);
	}
}

/* The child exited with status 0 (else its stderr and how it ended). */
#define expect_child_ok(what, r)                                                           \
	__extension__({                                                                    \
		char d_[160];                                                                  \
		bool ok_ = !(r)->hung && WIFEXITED((r)->status) && WEXITSTATUS((r)->status) == 0; \
		if (!ok_) {                                                                    \
			child_dump(what, r);                                                       \
			expect_report_(__FILE__, __LINE__, "the child failed", "%s: %s", what,     \
			               child_describe(r, d_, sizeof d_));                           \
		}                                                                              \
		ok_;                                                                           \
	})

TEST_UNUSED static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int e = pthread_create(&t, NULL, fn, arg);
	if (e != 0) {
		child_fail("pthread_create: %s", strerror(e));
		_exit(4);
	}
	return t;
}

TEST_UNUSED static void *join(pthread_t t)
{
	void *ret = NULL;
	pthread_join(t, &ret);
	return ret;
}

/* The child printed "PTR=%p\n" and then died of SIGABRT after one more line
 * of stderr, hakmem's diagnostic: "hakmem: ..." containing needle (or
 * needle2, if not NULL) and the pointer. */
TEST_UNUSED static bool expect_child_abort(const char *what, const child_t *r, const char *needle,
                               const char *needle2)
{
	char d[160];
	bool aborted = !r->hung && WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGABRT;
	if (!aborted) {
		child_dump(what, r);
		expect_report_(__FILE__, __LINE__, "the child did not stop with SIGABRT", "%s: %s", what,
		               child_describe(r, d, sizeof d));
		return false;
	}
	const char *mark = strstr(r->err, "PTR=");
	if (mark == NULL) {
		child_dump(what, r);
		test_fail("%s: no PTR line", what);
		return false;
	}
	const char *nl = strchr(mark, '\n');
	char ptr[64] = "";
	size_t n = nl ? (size_t)(nl - mark - 4) : 0;
	if (n > 0 && n < sizeof ptr) {
		memcpy(ptr, mark + 4, n);
		ptr[n] = '\0';
	}
	const char *after = nl ? nl + 1 : "";
	/* The child's own findings (the TCB written before the abort). */
	bool ok = true;
	for (const char *f = strstr(after, "CHILD-FAIL: "); f; f = strstr(f + 1, "CHILD-FAIL: ")) {
		const char *fe = strchr(f, '\n');
		test_fail("%s: %.*s", what, fe ? (int)(fe - f) : (int)strlen(f), f);
		ok = false;
	}
	char msg[1024];
	size_t ml = 0;
	for (const char *l = after; *l && ml + 1 < sizeof msg;) {
		const char *le = strchr(l, '\n');
		size_t len = le ? (size_t)(le - l + 1) : strlen(l);
		if (strncmp(l, "CHILD-FAIL: ", 12) != 0) {
			if (len > sizeof msg - 1 - ml)
				len = sizeof msg - 1 - ml;
			memcpy(msg + ml, l, len);
			ml += len;
		}
		l += le ? (size_t)(le - l + 1) : strlen(l);
	}
	msg[ml] = '\0';
	bool ended = ml > 0 && msg[ml - 1] == '\n';
	while (ml > 0 && msg[ml - 1] == '\n')
		msg[--ml] = '\0';
	ok &= expect_true(strncmp(msg, "hakmem: ", 8) == 0, "%s: the diagnostic is not hakmem's: %.300s",
	                  what, msg);
	ok &= expect_true(strstr(msg, needle) != NULL || (needle2 && strstr(msg, needle2) != NULL),
	                  "%s: message lacks \"%s\"%s%s%s: %.300s", what, needle,
	                  needle2 ? " (or \"" : "", needle2 ? needle2 : "", needle2 ? "\")" : "", msg);
	ok &= expect_true(ptr[0] && strstr(msg, ptr) != NULL, "%s: message lacks the pointer %s: %.300s",
	                  what, ptr, msg);
	ok &= expect_true(ended && strchr(msg, '\n') == NULL, "%s: message is not one line: %.300s",
	                  what, msg);
	return ok;
}

#endif
