/* test_ctl_edges.c - corner cases of hakmem_ctl and of the start-up conf
 * string that test_ctl does not reach.
 *
 * Linked with libhakmem.la. The conf cases run this program again with
 * HAKMEM_CONF set (`--child`: print some keys), capturing its stdout and
 * stderr, as test_ctl does.
 *
 *   test_ctl_edges [TEST...]
 *   test_ctl_edges --child         (internal: print keys for the conf tests)
 *   test_ctl_edges --child-errno   (internal: the errno test in a fresh process)
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"
#include "expect.h"

static const char *g_argv0 = "test_ctl_edges";

/* ---- the child: prints keys ------------------------------------------------ */

static int child_main(void)
{
	bool hw = false;
	size_t sz = sizeof hw;
	int e = hakmem_ctl("topology.hwloc", &hw, &sz, NULL, 0);
	printf("topology.hwloc=%s (%d)\n", hw ? "true" : "false", e);
	int core = -2;
	sz = sizeof core;
	e = hakmem_ctl("topology.cpu.0.core", &core, &sz, NULL, 0);
	printf("topology.cpu.0.core=%d (%d)\n", core, e);
	int node = -2;
	sz = sizeof node;
	e = hakmem_ctl("topology.cpu.0.node", &node, &sz, NULL, 0);
	printf("topology.cpu.0.node=%d (%d)\n", node, e);
	static const char *const ukeys[] = { "tiny.fast_cap", "tiny.refill", "tiny.drain_interval" };
	for (size_t i = 0; i < sizeof ukeys / sizeof ukeys[0]; i++) {
		unsigned u = 0;
		sz = sizeof u;
		e = hakmem_ctl(ukeys[i], &u, &sz, NULL, 0);
		printf("%s=%u (%d)\n", ukeys[i], u, e);
	}
	ssize_t d = 0;
	sz = sizeof d;
	e = hakmem_ctl("decay_ms", &d, &sz, NULL, 0);
	printf("decay_ms=%zd (%d)\n", d, e);
	const char *s = NULL;
	sz = sizeof s;
	e = hakmem_ctl("opt.stats_file", &s, &sz, NULL, 0);
	printf("opt.stats_file=%s (%d)\n", s ? s : "(null)", e);
	void *p = malloc(100);
	free(p);
	printf("alive\n");
	return 0;
}

/* hakmem_ctl keeps errno, whatever the key does (dlopen of the hwloc
 * module, sysfs and /proc reads, mincore, move_pages) and whatever it
 * returns. In a fresh process: the first topology.hwloc read loads hwloc. */
static int child_errno(void)
{
	static const char *const keys[] = {
		"topology.hwloc", "topology.hwloc", "version", "topology.cpu.0.core",
		"topology.nodes", "topology.ncpus_present", "arena.0.cpus", "arena.0.node",
		"thread.arena", "thread.cpu", "thread.node", "stats.resident", "stats.nodes.0.resident",
		"stats.allocated", "no.such.key", "topology.cpu.999999.core", "stats",
	};
	int bad = 0;
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			int want = round == 0 ? 12345 : 0;
			union { bool b; int i; unsigned u; size_t z; uint64_t u64; const char *s; } v;
			/* The right size for each type: 8 bytes fits none of the
			 * bool/int keys, which then return EINVAL; errno must not
			 * change either way. */
			size_t sizes[] = { sizeof(bool), sizeof(int), sizeof(uint64_t) };
			for (size_t k = 0; k < 3; k++) {
				size_t sz = sizes[k];
				errno = want;
				int rc = hakmem_ctl(keys[i], &v, &sz, NULL, 0);
				int got = errno;
				if (got != want) {
					printf("ERRNO: hakmem_ctl(\"%s\", read %zu bytes) = %d changed errno %d -> %d "
					       "(%s)\n",
					       keys[i], sizes[k], rc, want, got, strerror(got));
					bad++;
				}
			}
		}
		/* Writes: epoch, a tunable, a flush, a bad value, a read-only key. */
		uint64_t e = 1;
		unsigned u = 1024, huge = 1u << 30;
		struct { const char *key; const void *val; size_t len; } w[] = {
			{ "epoch", &e, sizeof e }, { "tiny.fast_cap", &u, sizeof u },
			{ "thread.tcache.flush", NULL, 0 }, { "arenas.purge", NULL, 0 },
			{ "tiny.fast_cap", &huge, sizeof huge }, { "stats.nmalloc", &e, sizeof e },
			{ "thread.arena", &huge, sizeof huge },
		};
		for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
			int want = round == 0 ? 12345 : 0;
			errno = want;
			int rc = hakmem_ctl(w[i].key, NULL, NULL, w[i].val, w[i].len);
			int got = errno;
			if (got != want) {
				printf("ERRNO: hakmem_ctl(\"%s\", write) = %d changed errno %d -> %d (%s)\n",
				       w[i].key, rc, want, got, strerror(got));
				bad++;
			}
		}
		size_t mib[4], miblen = 4;
		errno = 777;
		hakmem_ctl_nametomib("no.such.key", mib, &miblen);
		if (errno != 777) {
			printf("ERRNO: hakmem_ctl_nametomib(\"no.such.key\") changed errno\n");
			bad++;
		}
	}
	printf("alive\n");
	return bad ? 3 : 0;
}

/* ---- running the child -------------------------------------------------------- */

/* Runs this program with `mode` and HAKMEM_CONF=conf (unset if NULL);
 * captures stdout and stderr. Returns the exit status, or -1. */
static int run_child(const char *mode, const char *conf, char *out, size_t outsz, char *err,
                     size_t errsz)
{
	FILE *fo = tmpfile(), *fe = tmpfile();
	if (fo == NULL || fe == NULL)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fileno(fo), 1);
		dup2(fileno(fe), 2);
		alarm(20);
		if (conf)
			setenv("HAKMEM_CONF", conf, 1);
		else
			unsetenv("HAKMEM_CONF");
		execl("/proc/self/exe", g_argv0, mode, (char *)NULL);
		_exit(126);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	rewind(fo);
	rewind(fe);
	size_t n = fread(out, 1, outsz - 1, fo);
	out[n] = '\0';
	n = fread(err, 1, errsz - 1, fe);
	err[n] = '\0';
	fclose(fo);
	fclose(fe);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool has_line(const char *out, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = out; (p = strstr(p, line)) != NULL; p++)
		if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* out has the line; ctx says which run (printed on failure). */
#define expect_line_ctx(out, line, ctx) \
	expect_true(has_line(out, line), "no line '%s' (%s) in:\n%s", line, ctx, out)
#define expect_line(out, line) expect_line_ctx(out, line, "")

/* Lines of s that contain needle (all lines if NULL); lines that start with
 * `prefix` if prefix is given instead. */
static int count_lines(const char *s, const char *needle, const char *prefix)
{
	int n = 0;
	for (const char *p = s; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char line[2048];
		snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
		if (prefix ? strncmp(line, prefix, strlen(prefix)) == 0
		           : needle == NULL || strstr(line, needle) != NULL)
			n++;
		p += len + (e ? 1 : 0);
	}
	return n;
}

/* The rest of the line of out that starts with `prefix`, in buf ("" if
 * none). */
static const char *line_value(const char *out, const char *prefix, char *buf, size_t n)
{
	size_t pl = strlen(prefix);
	buf[0] = '\0';
	for (const char *p = out; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len >= pl && strncmp(p, prefix, pl) == 0) {
			snprintf(buf, n, "%.*s", (int)(len - pl), p + pl);
			return buf;
		}
		p += len + (e ? 1 : 0);
	}
	return buf;
}

/* stderr with its newlines shown as '|', for one-line failure messages. */
static const char *flat(const char *s, char *buf, size_t n)
{
	size_t i = 0;
	for (; *s && i + 1 < n; s++)
		buf[i++] = *s == '\n' ? '|' : (unsigned char)*s < 0x20 ? '?' : *s;
	buf[i] = '\0';
	return buf;
}

/* ---- 8a: a topology-indexed key in the conf string ----------------------------- */

static bool hwloc_module_present(char *path, size_t n)
{
	Dl_info info;
	if (dladdr((void *)hakmem_ctl, &info) == 0 || info.dli_fname == NULL)
		return false;
	const char *slash = strrchr(info.dli_fname, '/');
	snprintf(path, n, "%.*s/hakmem-topo.so", slash ? (int)(slash - info.dli_fname) : 1,
	         slash ? info.dli_fname : ".");
	struct stat st;
	return stat(path, &st) == 0;
}

static void test_conf_topology_key(void)
{
	char path[4096];
	if (!hwloc_module_present(path, sizeof path)) {
		test_skip("no hwloc module at %s", path);
		return;
	}
	char out[4096], err[4096], v1[64], v2[64], fl[600];
	/* Without the entry: the module loads here (else skip: hwloc does not
	 * work on this machine). */
	int rc = run_child("--child", NULL, out, sizeof out, err, sizeof err);
	if (!expect_int_eq(rc, 0, "child without conf: %s", err))
		return;
	if (!has_line(out, "topology.hwloc=true (0)")) {
		test_skip("topology.hwloc is false even without a conf string:\n%s%s", out, err);
		return;
	}
	/* hwloc names CPU 0's core here (else only topology.hwloc is checked). */
	bool have_core = atoi(line_value(out, "topology.cpu.0.core=", v2, sizeof v2)) >= 0;
	/* Each entry is refused (read-only, or out of range), with one line; the
	 * topology is whole afterwards. */
	static const char *const confs[] = {
		"topology.cpu.0.node=1", "topology.cpu.0.core=0", "topology.cpu.99999.node=1",
		"stats.nodes.0.resident=1",
	};
	for (size_t i = 0; i < sizeof confs / sizeof confs[0]; i++) {
		rc = run_child("--child", confs[i], out, sizeof out, err, sizeof err);
		if (!expect_int_eq(rc, 0, "HAKMEM_CONF=%s: the child failed: %s", confs[i], err) ||
		    !expect_line(out, "alive"))
			continue;
		line_value(out, "topology.hwloc=", v1, sizeof v1);
		line_value(out, "topology.cpu.0.core=", v2, sizeof v2);
		bool whole = strcmp(v1, "true (0)") == 0 && (!have_core || atoi(v2) >= 0);
		expect_true(whole,
		            "after HAKMEM_CONF=%s: topology.hwloc=%s, topology.cpu.0.core=%s (want true "
		            "and >= 0)", confs[i], v1, v2);
		expect_int_eq(count_lines(err, NULL, NULL), 1, "HAKMEM_CONF=%s: one diagnostic: %s",
		              confs[i], flat(err, fl, sizeof fl));
	}
}

/* ---- 8b: errno ------------------------------------------------------------------- */

static void test_ctl_keeps_errno(void)
{
	char out[8192], err[4096];
	int rc = run_child("--child-errno", NULL, out, sizeof out, err, sizeof err);
	expect_int_eq(rc, 0, "hakmem_ctl changed errno:\n%s%s", out, err);
	/* And here, in a process whose topology may be loaded already. */
	bool hw;
	size_t sz = sizeof hw;
	errno = 12345;
	hakmem_ctl("topology.hwloc", &hw, &sz, NULL, 0);
	expect_int_eq(errno, 12345, "topology.hwloc read");
	errno = 0;
	uint64_t v;
	sz = sizeof v;
	expect_int_eq(hakmem_ctl("no.such.key", &v, &sz, NULL, 0), ENOENT);
	expect_int_eq(errno, 0, "unknown key");
}

/* ---- 8c: a number suffix without digits ---------------------------------------- */

/* HAKMEM_CONF=conf is refused with one diagnostic naming the key; the key's
 * line in the child's output is `keep`. */
static void expect_conf_refused(const char *conf, const char *key, const char *keep)
{
	char out[4096], err[4096], val[64], fl[600], prefix[96], quoted[96];
	int rc = run_child("--child", conf, out, sizeof out, err, sizeof err);
	if (!expect_int_eq(rc, 0, "HAKMEM_CONF='%s': %s", conf, err))
		return;
	snprintf(prefix, sizeof prefix, "%s=", key);
	snprintf(quoted, sizeof quoted, "'%s'", key);
	line_value(out, prefix, val, sizeof val);
	bool refused = strcmp(val, keep) == 0 && count_lines(err, NULL, NULL) == 1 &&
	               count_lines(err, quoted, NULL) == 1;
	expect_true(refused,
	            "HAKMEM_CONF='%s' must be refused with one diagnostic naming %s and leave %s "
	            "(got %s=%s; stderr: %s)",
	            conf, quoted, keep, key, val, flat(err, fl, sizeof fl));
}

static void test_conf_suffix_without_digits(void)
{
	static const char *const vals[] = { "k", "m", "g", "K", "M", "G", "-", "", "-k", "-m" };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		char conf[64];
		snprintf(conf, sizeof conf, "tiny.fast_cap=%s", vals[i]);
		expect_conf_refused(conf, "tiny.fast_cap", "1024 (0)");
	}
	/* The same for a size key and a signed one. */
	expect_conf_refused("decay_ms=-k", "decay_ms", "1000 (0)");
	expect_conf_refused("decay_ms=m", "decay_ms", "1000 (0)");
	expect_conf_refused("tiny.refill=k", "tiny.refill", "32 (0)");
}

/* ---- 8d: diagnostics cannot forge lines ------------------------------------------ */

/* No byte of s is a control character but '\n'. */
static bool no_controls(const char *s, size_t *at)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f) {
			*at = (size_t)(p - (const unsigned char *)s);
			return false;
		}
	}
	return true;
}

static void test_conf_diagnostic_escapes(void)
{
	static const struct {
		const char *conf, *what;
	} cases[] = {
		{ "tiny.fast_cap=1\nhakmem: forged line", "a value" },
		{ "tiny.fast\nhakmem: forged line=1", "an unknown key" },
		{ "junk\nhakmem: forged line", "an entry without '='" },
		{ "opt.bind=x\nhakmem: forged line", "a string value" },
		{ "tiny.fast_cap=1\rhakmem: forged line\x1b[2K", "a carriage return and an escape" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[4096], err[4096], fl[600];
		int rc = run_child("--child", cases[i].conf, out, sizeof out, err, sizeof err);
		if (!expect_int_eq(rc, 0, "%s: %s", cases[i].what, err))
			continue;
		size_t at = 0;
		/* One line: the real diagnostic, with the text in it, escaped. */
		bool one_line = count_lines(err, NULL, NULL) == 1 && count_lines(err, NULL, "hakmem:") == 1 &&
		                count_lines(err, NULL, "hakmem: forged") == 0 &&
		                count_lines(err, "forged line", NULL) == 1 && no_controls(err, &at);
		expect_true(one_line,
		            "%s with a newline or control character: stderr must be one 'hakmem:' line "
		            "with the text escaped in it, no raw control characters: %s",
		            cases[i].what, flat(err, fl, sizeof fl));
		expect_line(out, "tiny.fast_cap=1024 (0)");
	}
}

static void test_conf_long_entry_named(void)
{
	char conf[2048], out[4096], err[8192], fl[600];
	/* A long value and a long key name, each its own diagnostic. */
	int n = snprintf(conf, sizeof conf, "tiny.refill=");
	for (int i = 0; i < 300; i++)
		conf[n++] = '7';
	n += snprintf(conf + n, sizeof conf - (size_t)n, ",decay_ms_");
	for (int i = 0; i < 150; i++)
		conf[n++] = 'x';
	snprintf(conf + n, sizeof conf - (size_t)n, "=1,tiny.fast_cap=77");
	int rc = run_child("--child", conf, out, sizeof out, err, sizeof err);
	if (!expect_int_eq(rc, 0, "%s", err))
		return;
	expect_line(out, "tiny.fast_cap=77 (0)");
	expect_line(out, "tiny.refill=32 (0)");
	expect_int_eq(count_lines(err, NULL, NULL), 2, "two bad entries, two lines: %s",
	              flat(err, fl, sizeof fl));
	/* Named by at least their first 8 characters. */
	expect_int_eq(count_lines(err, "tiny.ref", NULL), 1,
	              "the diagnostic of the over-long value names its entry: %s", flat(err, fl, sizeof fl));
	expect_int_eq(count_lines(err, "decay_ms", NULL), 1,
	              "the diagnostic of the over-long key names its entry: %s", flat(err, fl, sizeof fl));
	for (const char *p = err; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		expect_zu_le(len, 512, "a diagnostic line of %zu bytes", len);
		p += len + (e ? 1 : 0);
	}
}

/* ---- 8e: epoch and thread.arena range ---------------------------------------- */

static void test_ctl_ranges(void)
{
	uint64_t e = UINT64_MAX;
	expect_int_eq(hakmem_ctl("epoch", NULL, NULL, &e, sizeof e), 0, "epoch = UINT64_MAX");
	e = (uint64_t)INT64_MAX + 1;
	expect_int_eq(hakmem_ctl("epoch", NULL, NULL, &e, sizeof e), 0, "epoch = 2^63");
	e = 0;
	expect_int_eq(hakmem_ctl("epoch", NULL, NULL, &e, sizeof e), 0, "epoch = 0");

	unsigned cur = 0, after = 0;
	size_t sz = sizeof cur;
	expect_int_eq(hakmem_ctl("thread.arena", &cur, &sz, NULL, 0), 0);
	unsigned n = 0;
	sz = sizeof n;
	expect_int_eq(hakmem_ctl("arenas.narenas", &n, &sz, NULL, 0), 0);
	const unsigned bad[] = { n, n + 1, 1u << 31, UINT32_MAX, (1u << 31) - 1 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (bad[i] < n)
			continue;
		expect_int_eq(hakmem_ctl("thread.arena", NULL, NULL, &bad[i], sizeof bad[i]), ENOENT,
		              "thread.arena = %u (arenas.narenas %u): the arena does not exist", bad[i], n);
	}
	sz = sizeof after;
	expect_int_eq(hakmem_ctl("thread.arena", &after, &sz, NULL, 0), 0);
	expect_u_eq(after, cur, "thread.arena after the refused writes");
	void *p = malloc(100);
	expect_ptr_not_null(p);
	free(p);
}

/* ---- printing the statistics loads nothing ---------------------------------------- */

static void discard(void *opaque, const char *s)
{
	(void)opaque;
	(void)s;
}

/* In a fresh process: both printers, then whether hwloc (or hakmem's
 * module for it) is mapped. */
static int child_print(void)
{
	free(malloc(100));
	hakmem_stats_print(discard, NULL, "J");
	hakmem_stats_print(discard, NULL, "");
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return 3;
	char line[512];
	bool hw = false;
	while (fgets(line, sizeof line, f) != NULL)
		hw |= strstr(line, "libhwloc") != NULL || strstr(line, "hakmem-topo") != NULL;
	fclose(f);
	printf("hwloc mapped=%d\n", hw);
	return 0;
}

/* The statistics printer (and opt.stats_print at exit) must not load the
 * hwloc module: it mapped 1.3 MiB into a small process's peak RSS when
 * topology.nodes loaded it. */
static void test_print_loads_no_hwloc(void)
{
	char out[4096], err[4096];
	int rc = run_child("--child-print", NULL, out, sizeof out, err, sizeof err);
	if (expect_int_eq(rc, 0, "%s", err))
		expect_true(has_line(out, "hwloc mapped=0"), "printing the statistics loaded hwloc: %s",
		            out);
}

/* ---- background_thread from the conf string ---------------------------------------- */

static void *churn_thread(void *arg)
{
	for (int r = 0; r < 50; r++) {
		void *p[2000];
		for (int i = 0; i < 2000; i++)
			p[i] = malloc(16 + (size_t)(i % 900));
		for (int i = 0; i < 2000; i++)
			free(p[i]);
	}
	return NULL;
}

/* Two threads that churn (enough drains to start the background thread),
 * then what the keys say. */
static int child_bg(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, churn_thread, NULL) != 0)
		return 3;
	churn_thread(NULL);
	pthread_join(t, NULL);
	free(malloc(8u << 20)); /* a large free pokes it too */
	bool opt = false, on = false;
	size_t n = 9, sz = sizeof opt;
	hakmem_ctl("opt.background_thread", &opt, &sz, NULL, 0);
	hakmem_ctl("background_thread", &on, &sz, NULL, 0);
	sz = sizeof n;
	hakmem_ctl("stats.background_thread.num_threads", &n, &sz, NULL, 0);
	printf("opt=%d on=%d threads=%zu\n", opt, on, n);
	return 0;
}

/* background_thread=false in the conf string: no thread however many the
 * program starts; by default one runs once there are two. */
static void test_conf_background_thread(void)
{
	char out[4096], err[4096];
	int rc = run_child("--child-bg", "background_thread=false", out, sizeof out, err, sizeof err);
	if (expect_int_eq(rc, 0, "%s", err))
		expect_true(has_line(out, "opt=0 on=0 threads=0"),
		            "HAKMEM_CONF=background_thread=false: %s", out);
	rc = run_child("--child-bg", NULL, out, sizeof out, err, sizeof err);
	if (expect_int_eq(rc, 0, "%s", err))
		expect_true(has_line(out, "opt=1 on=1 threads=1"), "by default: %s", out);
}

/* ---- main ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	void (*fn)(void);
} g_tests[] = {
#define T(f) { #f, f }
	T(test_conf_topology_key),
	T(test_ctl_keeps_errno),
	T(test_conf_suffix_without_digits),
	T(test_conf_diagnostic_escapes),
	T(test_conf_long_entry_named),
	T(test_ctl_ranges),
	T(test_print_loads_no_hwloc),
	T(test_conf_background_thread),
#undef T
};

int main(int argc, char **argv)
{
	g_argv0 = argv[0];
	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main();
	if (argc > 1 && strcmp(argv[1], "--child-errno") == 0)
		return child_errno();
	if (argc > 1 && strcmp(argv[1], "--child-print") == 0)
		return child_print();
	if (argc > 1 && strcmp(argv[1], "--child-bg") == 0)
		return child_bg();
	unsetenv("HAKMEM_CONF"); /* the children's conf is the test's */
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
