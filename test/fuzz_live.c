/* fuzz_live.c - a bounded-time fuzzer of the live view's request decoder,
 * live_handle() (src/live.c), linked with libhakmem_core.la.
 *
 *     test/fuzz_live [SECONDS [SEED]]     (default 3 s, a seed from the clock)
 *
 * Inputs are a seed corpus of requests (get/set/stats lines, multi-line
 * requests, good and bad keys, values and indices, names and values at and
 * past their limits, NUL, control and high bytes, lines of spaces, CRLF,
 * requests of 4096 and 4097 bytes) and its mutations: bit flips, byte sets,
 * inserts of bytes and tokens, deletes, splices of two entries, duplicated
 * lines, truncation, padding to the size limit. Checked on every input:
 *
 *   - live_handle returns 0 or E2BIG, E2BIG exactly when the request has
 *     more than LIVE_REQ_MAX bytes, and then a reply of 0 bytes;
 *   - the reply has no byte below 0x20 but '\n';
 *   - where no request line starts with "stats": the reply is whole lines,
 *     one per non-empty request line, each "ok NAME[ VALUE]" (a value for
 *     get, none for set) or "err WORD ERRNO" with ERRNO a positive errno
 *     value in decimal, NAME/WORD "-" or text of its own request line.
 *
 * A handful of requests with known answers are checked first. The run keeps
 * blocks of various sizes allocated while it fuzzes and checks their
 * contents every so often (the allocator works while its tunables are
 * written at random), puts the tunables back to their start-up values every
 * 1000 inputs, and ends by checking `get version`. A failure prints one line
 * (iteration, seed, what failed, the first 64 bytes of the input in hex) and
 * exits 1; the summary line goes to stdout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <hakmem.h>
#include "live.h"
#include "expect.h"

#define BUF_MAX     (2 * LIVE_REQ_MAX + 64) /* the largest input tried */
#define CORPUS_MAX  1024
#define LINES_MAX   (LIVE_REQ_MAX + 2)
#define STATS_MAX   8      /* stats lines in one input, at most (else skipped) */
#define RESET_EVERY 1000   /* inputs between resets of the tunables */
#define ALLOC_EVERY 128    /* inputs between checks of the held blocks */
#define NSLOTS      24

/* ---- failure ---- */

static uint64_t g_seed;
static uint64_t g_iter;                 /* the input being checked (0: the fixed checks) */
static const unsigned char *g_in;       /* the input being checked */
static size_t g_inlen;

static __attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	char msg[512], hex[2 * 64 + 1];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = g_inlen < 64 ? g_inlen : 64;
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", g_in[i]);
	hex[2 * n] = '\0';
	fprintf(stderr, "fuzz_live: FAIL iteration %llu (seed %llu): %s; input %zu bytes: %s%s\n",
	        (unsigned long long)g_iter, (unsigned long long)g_seed, msg, g_inlen, hex,
	        g_inlen > 64 ? "..." : "");
	fflush(stderr);
	exit(1);
}

/* ---- the corpus ---- */

typedef struct {
	unsigned char *p;
	size_t n;
} entry_t;

static entry_t g_corpus[CORPUS_MAX];
static size_t g_ncorpus;

static void add(const void *p, size_t n)
{
	if (g_ncorpus == CORPUS_MAX || n > BUF_MAX) {
		fprintf(stderr, "fuzz_live: corpus entry %zu (%zu bytes) does not fit\n", g_ncorpus, n);
		exit(99);
	}
	unsigned char *c = malloc(n ? n : 1);
	if (c == NULL) {
		fprintf(stderr, "fuzz_live: out of memory\n");
		exit(99);
	}
	memcpy(c, p, n);
	g_corpus[g_ncorpus++] = (entry_t){ c, n };
}

static void adds(const char *s)
{
	add(s, strlen(s));
}

/* `n` bytes: `unit` repeated, cut at n. */
static void add_repeat(const char *unit, size_t n)
{
	static unsigned char b[BUF_MAX];
	size_t u = strlen(unit);
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)unit[i % u];
	add(b, n);
}

/* "PREFIX" + n copies of c + "SUFFIX" */
static void add_long(const char *prefix, char c, size_t n, const char *suffix)
{
	static unsigned char b[BUF_MAX];
	size_t pl = strlen(prefix), sl = strlen(suffix);
	memcpy(b, prefix, pl);
	memset(b + pl, c, n);
	memcpy(b + pl + n, suffix, sl);
	add(b, pl + n + sl);
}

/* Keys of the ctl table (src/ctl.c), some with indices in and out of range. */
static const char *const g_keys[] = {
	"version", "epoch", "tiny.fast_cap", "tiny.cache_bytes", "tiny.refill",
	"tiny.drain_interval", "tiny.nclasses", "tiny.class.0.size", "tiny.class.3.fast_cap",
	"arenas.nclasses", "arenas.class.3.size", "arenas.class.3.slab_size",
	"arenas.class.3.fast_cap", "decay_ms", "background_thread", "large.threshold",
	"large.cache_max", "arenas.narenas", "arenas.limit", "arenas.purge", "arena.0.node",
	"arena.0.purge", "arenas.mode", "arena.0.cpus", "numa.policy", "topology.nodes",
	"topology.cpus", "topology.nnodes_present", "topology.ncpus_present",
	"topology.cpu.0.node", "topology.cpu.0.core", "topology.hwloc", "thread.node",
	"thread.cpu", "thread.arena", "thread.tcache.flush", "thread.allocated",
	"thread.deallocated", "stats.allocated", "stats.active", "stats.resident",
	"stats.mapped", "stats.retained", "stats.dirty", "stats.purged", "stats.metadata",
	"stats.nmalloc", "stats.nfree", "stats.large.nmalloc", "stats.large.nfree",
	"stats.background_thread.num_threads", "stats.background_thread.num_runs",
	"stats.numa.bind_failures", "stats.nodes.0.resident", "stats.arenas.0.remote_frees",
	"stats.arenas.0.superslabs", "stats.arenas.0.mapped", "stats.arenas.0.resident",
	"stats.arenas.0.dirty", "stats.arenas.0.large.cached", "stats.arenas.0.class.2.nmalloc",
	"stats.arenas.0.class.2.curregs", "stats.arenas.0.tiny.1.ncached", "opt.narenas",
	"opt.arenas", "opt.bind", "opt.background_thread", "opt.stats_print", "live.enabled",
	"opt.live_signal", "opt.stats_file",
	/* out of range, malformed */
	"arenas.class.99999.size", "arenas.class.18446744073709551615.size",
	"arenas.class.99999999999999999999999.size", "stats.arenas.4096.class.2.nmalloc",
	"stats.arenas.0.class.9999.nmalloc", "arena.1024.purge", "arena..purge", "arena.-1.node",
	"tiny.class.x.size", "nosuchkey", "stats", "thread", "opt.", ".",
};

/* Values: good, bad, at and past the limits. */
static const char *const g_values[] = {
	"0", "1", "16", "64", "4096", "4097", "-1", "-2", "1k", "1K", "64m", "1g", "k", "-",
	"true", "false", "TRUE", "2", "", "cpu", "bind", "preferred", "json",
	"4294967295", "4294967296", "9223372036854775807", "9223372036854775808",
	"18446744073709551615", "18446744073709551616", "99999999999999999999999999",
	"-9223372036854775808", "1099511627776", "1099511627777", "32768", "1835008",
	"1 2", "=", "==", "0x10", "+1", " 1", "1 ",
};

static const char *const g_tokens[] = {
	"get ", "set ", "stats ", "stats json", "stats text", "stats json\n", "\n", "\r\n",
	"\n\n", " ", "  ", "=", ".", "..", "#", "-", "_", "\t", "\r", "\x01", "\x7f", "\xff",
	"\xc3\xa9", "thread.", "opt.", "stats.", "arenas.", "arena.", "class.", "tiny.", ".0",
	".99999", "get version\n", "set arenas.purge\n",
};

static void build_corpus(void)
{
	char b[512];
	for (size_t i = 0; i < ARRAY_LEN(g_keys); i++) {
		snprintf(b, sizeof b, "get %s", g_keys[i]);
		adds(b);
	}
	/* Writes, mostly of the writable keys; values from g_values. */
	static const char *const wkeys[] = {
		"tiny.fast_cap", "tiny.cache_bytes", "tiny.refill", "tiny.drain_interval",
		"tiny.class.3.fast_cap", "arenas.class.3.fast_cap", "decay_ms", "background_thread",
		"large.threshold", "large.cache_max", "arenas.limit", "numa.policy", "live.enabled",
		"epoch", "thread.arena", "opt.narenas", "opt.stats_file", "version", "nosuchkey",
	};
	for (size_t i = 0; i < ARRAY_LEN(wkeys); i++) {
		for (size_t j = 0; j < ARRAY_LEN(g_values); j += 1 + i % 3) {
			snprintf(b, sizeof b, "set %s=%s", wkeys[i], g_values[j]);
			adds(b);
		}
	}
	static const char *const fixed[] = {
		"set arenas.purge", "set arenas.purge=1", "set arena.0.purge", "set arena.9999.purge",
		"set thread.tcache.flush", "set tiny.fast_cap", "set epoch", "get arenas.purge",
		"get arenas.purge=1", "get version\n", "get version\nget epoch\nset epoch=1\n",
		"stats json", "stats text", "stats json\n", "stats", "stats ", "stats xml",
		"stats json text", "stats  json", "stats\tjson", "stats JSON", "statsjson",
		"get stats.allocated\nstats json\nget stats.allocated\n",
		"get", "set", "get ", "set ", "get  version", " get version", "get version ",
		"set =5", "set =", "set ==", "set a==b", "set a=b=c", "=", "==", "= 1", "set tiny.fast_cap =1",
		"frob x", "GET version", "Get version", "getversion", "get\tversion", "-", "- -",
		"get -", "get _", "get .", "\n", "\n\n\n", " ", "   ", "   \n   \n", "\n \n\n",
		"get version\r\n", "get version\r\nget epoch\r\n", "\r", "\r\n", "get version\r",
		"\x01", "\x1f", "\x7f", "\x80", "\xff", "get v\xc3\xa9rsion", "set numa.policy=\xff\xfe",
		"set numa.policy=bi\x7fnd", "set numa.policy=\x01", "get \x01version",
		"set tiny.fast_cap=6\x1b[4",
		"abcdefghijklmno x", "abcdefghijklmnop x", "get version\n\n\nget epoch",
		"set tiny.fast_cap=64\nget tiny.fast_cap\nset tiny.fast_cap=-1\nget tiny.fast_cap\n",
		"set decay_ms=-1\nget decay_ms\nset decay_ms=0\nset arenas.purge\n",
		"set background_thread=true\nget stats.background_thread.num_threads\n"
		"set background_thread=false\n",
		"set live.enabled=false\nget live.enabled\nset live.enabled=true\n",
		"get thread.arena\nset thread.arena=0\nget thread.cpu\nset thread.tcache.flush\n",
	};
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		adds(fixed[i]);
	/* NUL bytes */
	add("get ver\0sion", 12);
	add("\0", 1);
	add("\0\0\0\n\0", 5);
	add("get version\0\nget epoch", 22);
	add("set tiny.fast_cap=1\0000", 21);
	add("stats json\0", 11);
	/* names and values at and past their limits (95 and 255 bytes) */
	add_long("get ", 'a', 95, "");
	add_long("get ", 'a', 96, "");
	add_long("get ", 'a', 300, "");
	add_long("set ", 'x', 95, "=1");
	add_long("set ", 'x', 96, "=1");
	add_long("set tiny.fast_cap=", '1', 255, "");
	add_long("set tiny.fast_cap=", '1', 256, "");
	add_long("set numa.policy=", 'b', 255, "");
	add_long("set numa.policy=", 'b', 256, "");
	add_long("set tiny.fast_cap=", '0', 254, "1");
	add_long("get stats.arenas.", '0', 80, ".class.2.nmalloc");
	add_long("", 'g', 15, " x");
	add_long("", 'g', 16, " x");
	add_long("", 'g', 4000, "");
	add_long("", ' ', 4096, "");
	add_long("", '\n', 4096, "");
	add_long("", '\n', 4097, "");
	add_long("", '=', 300, "");
	/* 4096 and 4097 bytes */
	add_repeat("get version\n", LIVE_REQ_MAX);
	add_repeat("get version\n", LIVE_REQ_MAX + 1);
	add_repeat("get version\n", LIVE_REQ_MAX - 1);
	add_repeat("x\n", LIVE_REQ_MAX);
	add_repeat("x\n", LIVE_REQ_MAX + 1);
	add_repeat("set arenas.purge=\n", LIVE_REQ_MAX);
	add_repeat("get stats.arenas.0.class.2.nmalloc\n", LIVE_REQ_MAX);
	add_repeat("get arenas.class.3.size\nfrob\n\n", LIVE_REQ_MAX + 7);
	add_repeat("a", LIVE_REQ_MAX);
	add_repeat("a", LIVE_REQ_MAX + 1);
	add_repeat("\xff", LIVE_REQ_MAX);
	add_long("get version\n", 'x', LIVE_REQ_MAX - 12, "");
	add_long("stats json\n", 'x', LIVE_REQ_MAX - 11, "");
	add("", 0);
}

/* ---- mutations ---- */

static uint64_t g_rng;

static uint64_t rnd(void)
{
	return test_rand(&g_rng);
}

static size_t below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static unsigned char g_buf[BUF_MAX];
static size_t g_len;

static void insert(size_t at, const void *p, size_t n)
{
	if (g_len + n > BUF_MAX)
		n = BUF_MAX - g_len;
	memmove(g_buf + at + n, g_buf + at, g_len - at);
	memcpy(g_buf + at, p, n);
	g_len += n;
}

static void erase(size_t at, size_t n)
{
	if (at + n > g_len)
		n = g_len - at;
	memmove(g_buf + at, g_buf + at + n, g_len - at - n);
	g_len -= n;
}

static const char *pick_str(const char *const *a, size_t n)
{
	return a[below(n)];
}

static unsigned char interesting_byte(void)
{
	static const unsigned char b[] = { '\n', '\0', ' ', '=', '.', '#', '\r', '\t', 0x7f, 0x80,
	                                   0xff, 0x01, 0x1f, '0', '9', '-', '_', 'a', 'z', 'A' };
	return b[below(sizeof b)];
}

/* The line around offset `at`: [*s, *e), *e at its '\n' or the end. */
static void line_at(size_t at, size_t *s, size_t *e)
{
	size_t a = at, z = at;
	while (a > 0 && g_buf[a - 1] != '\n')
		a--;
	while (z < g_len && g_buf[z] != '\n')
		z++;
	*s = a;
	*e = z;
}

static void mutate_once(void)
{
	switch (below(14)) {
	case 0: /* flip a bit */
		if (g_len)
			g_buf[below(g_len)] ^= (unsigned char)(1u << below(8));
		break;
	case 1: /* set a byte */
		if (g_len)
			g_buf[below(g_len)] = below(2) ? interesting_byte() : (unsigned char)rnd();
		break;
	case 2: { /* insert random bytes */
		unsigned char b[8];
		size_t n = 1 + below(sizeof b);
		for (size_t i = 0; i < n; i++)
			b[i] = below(4) ? (unsigned char)(0x20 + below(0x5f)) : (unsigned char)rnd();
		insert(below(g_len + 1), b, n);
		break;
	}
	case 3: { /* insert a token, a key or a value */
		const char *t = below(3) == 0   ? pick_str(g_tokens, ARRAY_LEN(g_tokens))
		                : below(2) == 0 ? pick_str(g_keys, ARRAY_LEN(g_keys))
		                                : pick_str(g_values, ARRAY_LEN(g_values));
		insert(below(g_len + 1), t, strlen(t));
		break;
	}
	case 4: /* delete a range */
		if (g_len) {
			size_t at = below(g_len);
			erase(at, 1 + below(below(4) ? 8 : 256));
		}
		break;
	case 5: { /* splice: our head, another entry's tail */
		const entry_t *o = &g_corpus[below(g_ncorpus)];
		size_t cut = below(g_len + 1), from = below(o->n + 1);
		g_len = cut;
		insert(g_len, o->p + from, o->n - from);
		break;
	}
	case 6: { /* append another entry, after a newline or not */
		const entry_t *o = &g_corpus[below(g_ncorpus)];
		if (below(4) && g_len)
			insert(g_len, "\n", 1);
		insert(g_len, o->p, o->n);
		break;
	}
	case 7: { /* duplicate a line, once or many times */
		if (g_len == 0)
			break;
		size_t s, e;
		line_at(below(g_len), &s, &e);
		unsigned char line[LIVE_REQ_MAX + 1];
		size_t n = e - s;
		if (n > LIVE_REQ_MAX)
			n = LIVE_REQ_MAX;
		memcpy(line, g_buf + s, n);
		line[n++] = '\n';
		size_t at = e < g_len ? e + 1 : g_len;
		if (at == g_len && (g_len == 0 || g_buf[g_len - 1] != '\n'))
			insert(at++, "\n", 1);
		size_t times = below(8) ? 1 + below(3) : 1 + below(LIVE_REQ_MAX / n + 2);
		for (size_t i = 0; i < times && g_len + n <= BUF_MAX; i++, at += n)
			insert(at, line, n);
		break;
	}
	case 8: /* truncate */
		g_len = below(g_len + 1);
		break;
	case 9: { /* pad or cut to the size limit, or just past it */
		static const size_t sizes[] = { LIVE_REQ_MAX - 1, LIVE_REQ_MAX, LIVE_REQ_MAX,
		                                LIVE_REQ_MAX + 1, LIVE_REQ_MAX + 1 };
		size_t t = below(4) ? sizes[below(ARRAY_LEN(sizes))]
		                    : LIVE_REQ_MAX - 16 + below(33);
		if (g_len >= t) {
			g_len = t;
			break;
		}
		size_t n0 = g_len;
		unsigned char fill = "\n a\0"[below(4)];
		while (g_len < t)
			g_buf[g_len] = n0 && below(2) ? g_buf[g_len % n0] : fill, g_len++;
		break;
	}
	case 10: { /* replace a run of digits with a value */
		size_t i = g_len ? below(g_len) : 0, a, z;
		while (i < g_len && !(g_buf[i] >= '0' && g_buf[i] <= '9'))
			i++;
		if (i >= g_len)
			break;
		for (a = i; a > 0 && g_buf[a - 1] >= '0' && g_buf[a - 1] <= '9'; a--)
			;
		for (z = i; z < g_len && g_buf[z] >= '0' && g_buf[z] <= '9'; z++)
			;
		erase(a, z - a);
		const char *v = pick_str(g_values, ARRAY_LEN(g_values));
		insert(a, v, strlen(v));
		break;
	}
	case 11: /* change the case of a letter */
		if (g_len) {
			size_t i = below(g_len);
			if ((g_buf[i] | 0x20) >= 'a' && (g_buf[i] | 0x20) <= 'z')
				g_buf[i] ^= 0x20;
		}
		break;
	case 12: { /* replace the text after '=' or the last space with a value */
		size_t i = g_len;
		while (i > 0 && g_buf[i - 1] != '=' && g_buf[i - 1] != ' ')
			i--;
		size_t s, e;
		line_at(i, &s, &e);
		erase(i, e - i);
		const char *v = pick_str(g_values, ARRAY_LEN(g_values));
		insert(i, v, strlen(v));
		break;
	}
	default: { /* swap two lines' order: cut a line and put it at the front */
		if (g_len == 0)
			break;
		size_t s, e;
		line_at(below(g_len), &s, &e);
		unsigned char line[BUF_MAX];
		size_t n = e - s;
		memcpy(line, g_buf + s, n);
		erase(s, n + (e < g_len));
		insert(0, "\n", 1);
		insert(0, line, n);
		break;
	}
	}
}

static void next_input(void)
{
	if (g_len == 0 || below(4) != 0) {
		const entry_t *e = &g_corpus[below(g_ncorpus)];
		memcpy(g_buf, e->p, e->n);
		g_len = e->n;
	}
	size_t n = below(8) ? 1 + below(4) : 1 + below(16);
	for (size_t i = 0; i < n; i++)
		mutate_once();
}

/* ---- the checks ---- */

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Every byte of the `what` (name or word) of reply line k + 1 (r, n bytes)
 * is a name character. */
static void check_chars(size_t k, const char *r, size_t n, const char *what, const char *s,
                        size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)s[i]))
			fail("reply line %zu \"%.*s\": %s byte 0x%02x", k + 1, (int)n, r, what,
			     (unsigned char)s[i]);
}

static bool errno_ok(long e)
{
	return e > 0 && e < 4096 && strncmp(strerror((int)e), "Unknown error", 13) != 0;
}

typedef struct {
	const unsigned char *p;
	size_t n;
} span_t;

static span_t g_lines[LINES_MAX]; /* non-empty request lines */

/* Does [p, p+n) occur in the span? */
static bool in_span(span_t s, const char *p, size_t n)
{
	if (n > s.n)
		return false;
	for (size_t i = 0; i + n <= s.n; i++)
		if (memcmp(s.p + i, p, n) == 0)
			return true;
	return false;
}

static bool starts(span_t s, const char *prefix)
{
	size_t n = strlen(prefix);
	return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

/* One reply line (no newline) against its request line. */
static void check_line(size_t k, const char *r, size_t n, span_t req)
{
	if (n >= 3 && memcmp(r, "ok ", 3) == 0) {
		const char *name = r + 3, *sp = memchr(name, ' ', n - 3);
		size_t nl = sp ? (size_t)(sp - name) : n - 3;
		if (nl == 0)
			fail("reply line %zu \"%.*s\" has no name", k + 1, (int)n, r);
		check_chars(k, r, n, "name", name, nl);
		if (!in_span(req, name, nl))
			fail("reply line %zu \"%.*s\" names what request line %zu does not", k + 1,
			     (int)n, r, k + 1);
		if (starts(req, "get ") && sp == NULL)
			fail("reply line %zu \"%.*s\" to a get has no value", k + 1, (int)n, r);
		if (starts(req, "set ") && sp != NULL)
			fail("reply line %zu \"%.*s\" to a set has a value", k + 1, (int)n, r);
		if (!starts(req, "get ") && !starts(req, "set "))
			fail("reply line %zu \"%.*s\" is ok to a line neither get nor set", k + 1,
			     (int)n, r);
		return;
	}
	if (n >= 4 && memcmp(r, "err ", 4) == 0) {
		const char *w = r + 4, *sp = memchr(w, ' ', n - 4);
		if (sp == NULL)
			fail("reply line %zu \"%.*s\" has no errno", k + 1, (int)n, r);
		size_t wl = (size_t)(sp - w), dl = n - 4 - wl - 1;
		if (wl == 0)
			fail("reply line %zu \"%.*s\" has no word", k + 1, (int)n, r);
		check_chars(k, r, n, "word", w, wl);
		if (!(wl == 1 && w[0] == '-') && !in_span(req, w, wl))
			fail("reply line %zu \"%.*s\" echoes what request line %zu does not hold",
			     k + 1, (int)n, r, k + 1);
		long e = 0;
		if (dl == 0 || dl > 4 || sp[1] == '0')
			fail("reply line %zu \"%.*s\": ERRNO is not a positive decimal", k + 1, (int)n, r);
		for (size_t i = 0; i < dl; i++) {
			char c = sp[1 + i];
			if (c < '0' || c > '9')
				fail("reply line %zu \"%.*s\": ERRNO is not a decimal", k + 1, (int)n, r);
			e = e * 10 + (c - '0');
		}
		if (!errno_ok(e))
			fail("reply line %zu \"%.*s\": %ld is no errno value", k + 1, (int)n, r, e);
		return;
	}
	fail("reply line %zu \"%.*s\" starts with neither \"ok \" nor \"err \"", k + 1,
	     (int)(n > 80 ? 80 : n), r);
}

static uint64_t g_nstats_inputs, g_ne2big;

/* Checks one input; returns the reply (valid until the next call). */
static const char *check_input(const unsigned char *in, size_t len, size_t *rlen_out)
{
	g_in = in;
	g_inlen = len;
	const char *reply = (const char *)(uintptr_t)1;
	size_t rlen = (size_t)-1;
	int r = live_handle((const char *)in, len, &reply, &rlen);
	*rlen_out = 0;
	if (r != 0 && r != E2BIG)
		fail("live_handle returned %d, neither 0 nor E2BIG", r);
	if ((r == E2BIG) != (len > LIVE_REQ_MAX))
		fail("live_handle returned %d for a request of %zu bytes", r, len);
	if (r == E2BIG) {
		g_ne2big++;
		if (rlen != 0)
			fail("E2BIG with a reply of %zu bytes", rlen);
		return NULL;
	}
	if (rlen == (size_t)-1)
		fail("reply_len not written");
	if (rlen > 0 && (reply == NULL || reply == (const char *)(uintptr_t)1))
		fail("a reply of %zu bytes at %p", rlen, (const void *)reply);
	*rlen_out = rlen;
	for (size_t i = 0; i < rlen; i++) {
		unsigned char c = (unsigned char)reply[i];
		if (c < 0x20 && c != '\n')
			fail("reply byte %zu (of %zu) is 0x%02x", i, rlen, c);
	}

	/* The request's lines. */
	size_t nreq = 0;
	bool stats = false;
	for (size_t p = 0; p < len;) {
		const unsigned char *nl = memchr(in + p, '\n', len - p);
		size_t n = nl ? (size_t)(nl - (in + p)) : len - p;
		if (n >= 5 && memcmp(in + p, "stats", 5) == 0)
			stats = true;
		if (n > 0)
			g_lines[nreq++] = (span_t){ in + p, n };
		p += n + 1;
	}
	if (stats) {
		g_nstats_inputs++;
		return reply;
	}
	if (rlen > 0 && reply[rlen - 1] != '\n')
		fail("the reply's last line (of %zu bytes) has no newline", rlen);
	size_t k = 0;
	for (size_t p = 0; p < rlen; k++) {
		const char *nl = memchr(reply + p, '\n', rlen - p);
		size_t n = (size_t)(nl - (reply + p));
		if (k >= nreq)
			fail("more reply lines than the %zu non-empty request lines: \"%.*s\"", nreq,
			     (int)(n > 80 ? 80 : n), reply + p);
		check_line(k, reply + p, n, g_lines[k]);
		p += n + 1;
	}
	if (k != nreq)
		fail("%zu reply lines to %zu non-empty request lines", k, nreq);
	return reply;
}

/* A request with a known reply. */
static void expect_reply(const char *req, size_t len, const char *want)
{
	size_t rlen;
	const char *r = check_input((const unsigned char *)req, len, &rlen);
	if (rlen != strlen(want) || memcmp(r, want, rlen) != 0)
		fail("reply \"%.*s\", expected \"%s\"", (int)(rlen > 200 ? 200 : rlen), r ? r : "",
		     want);
}

static void expect_replys(const char *req, const char *want)
{
	expect_reply(req, strlen(req), want);
}

static void known_answers(void)
{
	char w[256];
	expect_replys("get version", "ok version " HAKMEM_VERSION "\n");
	expect_replys("get version\n\n\nget version\n",
	              "ok version " HAKMEM_VERSION "\nok version " HAKMEM_VERSION "\n");
	expect_replys("", "");
	expect_replys("\n\n\n", "");
	snprintf(w, sizeof w, "err thread.arena %d\n", EPERM);
	expect_replys("get thread.arena", w);
	expect_replys("set thread.arena=0", w);
	snprintf(w, sizeof w, "err opt.narenas %d\n", EPERM);
	expect_replys("set opt.narenas=2", w);
	snprintf(w, sizeof w, "err nosuchkey %d\n", ENOENT);
	expect_replys("get nosuchkey", w);
	snprintf(w, sizeof w, "err arenas.class.99999.size %d\n", ENOENT);
	expect_replys("get arenas.class.99999.size", w);
	snprintf(w, sizeof w, "err frob %d\n", ENOSYS);
	expect_replys("frob x", w);
	snprintf(w, sizeof w, "err - %d\n", EINVAL);
	expect_replys("set =5", w);
	expect_replys("get version\r", w);
	expect_replys("   ", w);
	expect_reply("get ver\0sion", 12, w);
	snprintf(w, sizeof w, "err stats %d\n", EINVAL);
	expect_replys("stats xml", w);
	snprintf(w, sizeof w, "err arenas.purge %d\n", EINVAL);
	expect_replys("set arenas.purge=1", w);
	snprintf(w, sizeof w, "err arenas.purge %d\n", EPERM);
	expect_replys("get arenas.purge", w);
	expect_replys("set arenas.purge", "ok arenas.purge\n");
	snprintf(w, sizeof w, "err tiny.fast_cap %d\n", EINVAL);
	expect_replys("set tiny.fast_cap=-1", w);
	expect_replys("set tiny.fast_cap=4097", w);
	static char big[LIVE_REQ_MAX + 1];
	memset(big, '\n', sizeof big);
	expect_reply(big, LIVE_REQ_MAX, "");
	size_t rlen;
	check_input((const unsigned char *)big, LIVE_REQ_MAX + 1, &rlen); /* E2BIG */
	g_ne2big = 0;
}

/* ---- the tunables, put back every RESET_EVERY inputs ---- */

typedef union {
	unsigned u;
	ssize_t ss;
	size_t sz;
	bool b;
	const char *s;
} val_t;

static struct tunable {
	const char *name;
	size_t size;
	val_t orig;
} g_tunables[] = {
	{ "tiny.fast_cap", sizeof(unsigned), { 0 } },
	{ "decay_ms", sizeof(ssize_t), { 0 } },
	{ "tiny.refill", sizeof(unsigned), { 0 } },
	{ "tiny.drain_interval", sizeof(unsigned), { 0 } },
	{ "tiny.cache_bytes", sizeof(size_t), { 0 } },
	{ "large.threshold", sizeof(size_t), { 0 } },
	{ "large.cache_max", sizeof(size_t), { 0 } },
	{ "arenas.limit", sizeof(unsigned), { 0 } },
	{ "live.enabled", sizeof(bool), { 0 } },
	{ "background_thread", sizeof(bool), { 0 } },
	{ "numa.policy", sizeof(const char *), { 0 } },
};

static void tunables_save(void)
{
	for (size_t i = 0; i < ARRAY_LEN(g_tunables); i++) {
		struct tunable *t = &g_tunables[i];
		size_t sz = t->size;
		int err = hakmem_ctl(t->name, &t->orig, &sz, NULL, 0);
		if (err) {
			fprintf(stderr, "fuzz_live: hakmem_ctl(\"%s\") read: %s\n", t->name, strerror(err));
			exit(99);
		}
	}
}

static void tunables_reset(void)
{
	for (size_t i = 0; i < ARRAY_LEN(g_tunables); i++) {
		struct tunable *t = &g_tunables[i];
		val_t now = { 0 };
		size_t sz = t->size;
		int err = hakmem_ctl(t->name, &now, &sz, NULL, 0);
		if (err)
			fail("hakmem_ctl(\"%s\") read: %s", t->name, strerror(err));
		bool same = strcmp(t->name, "numa.policy") == 0 ? strcmp(now.s, t->orig.s) == 0
		                                                : memcmp(&now, &t->orig, t->size) == 0;
		if (same)
			continue;
		err = hakmem_ctl(t->name, NULL, NULL, &t->orig, t->size);
		if (err)
			fail("hakmem_ctl(\"%s\") write back: %s", t->name, strerror(err));
	}
}

/* ---- blocks held while fuzzing ---- */

static struct slot {
	unsigned char *p;
	size_t size;
	uint64_t seed;
} g_slots[NSLOTS];
static uint64_t g_arng; /* the allocations' own generator (inputs do not depend on it) */

static size_t block_size(void)
{
	static const size_t sizes[] = { 1, 8, 16, 24, 48, 100, 256, 1000, 1024, 1025, 4096,
	                                8000, 33000, 65536, 300000, 1 << 20, (7 << 18),
	                                (7 << 18) + 1, 3 << 20 };
	size_t s = sizes[test_rand(&g_arng) % ARRAY_LEN(sizes)];
	return s > 8 ? s - test_rand(&g_arng) % 8 : s;
}

static void blocks_check(bool all_free)
{
	for (size_t i = 0; i < NSLOTS; i++) {
		struct slot *s = &g_slots[i];
		if (s->p != NULL) {
			size_t bad = test_check(s->p, s->size, s->seed);
			if (bad != SIZE_MAX)
				fail("block %p of %zu bytes changed at offset %zu while fuzzing",
				     (void *)s->p, s->size, bad);
		}
		uint64_t r = test_rand(&g_arng);
		if (all_free || r % 4 == 0) {
			free(s->p);
			s->p = NULL;
		} else if (r % 4 == 1 && s->p != NULL) { /* grow or shrink, keep the head */
			size_t n = block_size();
			unsigned char *q = realloc(s->p, n);
			if (q == NULL)
				fail("realloc(%p, %zu) failed", (void *)s->p, n);
			size_t keep = n < s->size ? n : s->size;
			size_t bad = test_check(q, keep, s->seed);
			if (bad != SIZE_MAX)
				fail("realloc to %zu bytes lost byte %zu of %zu", n, bad, s->size);
			s->p = q;
			s->size = n;
			test_fill(q, n, s->seed);
		}
		if (!all_free && s->p == NULL && r % 8 < 6) {
			s->size = block_size();
			s->seed = test_rand(&g_arng);
			s->p = malloc(s->size);
			if (s->p == NULL)
				fail("malloc(%zu) failed", s->size);
			test_fill(s->p, s->size, s->seed);
		}
	}
}

/* ---- main ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	double seconds = 3;
	if (argc > 3 || (argc > 1 && (seconds = strtod(argv[1], NULL)) <= 0) || seconds > 86400) {
		fprintf(stderr, "usage: %s [SECONDS [SEED]]  (SECONDS > 0, default 3)\n", argv[0]);
		return 2;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	g_seed = argc > 2 ? strtoull(argv[2], NULL, 0)
	                  : ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
	g_rng = g_seed;
	g_arng = g_seed ^ 0x5bd1e9955bd1e995ull;
	printf("fuzz_live: seed %llu, %.1f s\n", (unsigned long long)g_seed, seconds);
	fflush(stdout);

	double t0 = now_s(), deadline = t0 + seconds;
	tunables_save();
	build_corpus();
	known_answers();

	/* So many stats lines in one input that the reply (at most LIVE_REPLY_MAX)
	 * might overflow, or the run overstay its time: such inputs are skipped. */
	size_t rlen;
	check_input((const unsigned char *)"stats json", 10, &rlen);
	size_t json = rlen;
	check_input((const unsigned char *)"stats text", 10, &rlen);
	if (rlen > json)
		json = rlen;
	size_t stats_max = json ? (LIVE_REPLY_MAX / 4) / json : STATS_MAX;
	if (stats_max > STATS_MAX)
		stats_max = STATS_MAX;
	g_nstats_inputs = 0;

	uint64_t nskipped = 0, slow_iter = 0;
	double t, slowest = 0;
	g_len = 0;
	for (g_iter = 1; (t = now_s()) < deadline;) {
		next_input();
		size_t nstats = 0;
		for (size_t p = 0; p < g_len;) {
			const unsigned char *nl = memchr(g_buf + p, '\n', g_len - p);
			size_t n = nl ? (size_t)(nl - (g_buf + p)) : g_len - p;
			nstats += n >= 5 && memcmp(g_buf + p, "stats", 5) == 0;
			p += n + 1;
		}
		if (nstats > stats_max) {
			nskipped++;
			g_len = 0;
			continue;
		}
		check_input(g_buf, g_len, &rlen);
		double dt = now_s() - t;
		if (dt > slowest)
			slowest = dt, slow_iter = g_iter;
		if (g_iter % ALLOC_EVERY == 0)
			blocks_check(false);
		if (g_iter % RESET_EVERY == 0)
			tunables_reset();
		g_iter++;
	}
	uint64_t niter = g_iter - 1;

	g_in = NULL;
	g_inlen = 0;
	blocks_check(true);
	tunables_reset();
	const char *v = "get version";
	const char *r = check_input((const unsigned char *)v, strlen(v), &rlen);
	const char *want = "ok version " HAKMEM_VERSION "\n";
	if (rlen != strlen(want) || memcmp(r, want, rlen) != 0)
		fail("at the end, get version answers \"%.*s\"", (int)(rlen > 100 ? 100 : rlen),
		     r ? r : "");
	double el = t - t0;
	printf("fuzz_live: %llu iterations (%.0f/s), %llu with stats lines, %llu E2BIG, "
	       "%llu skipped, %.2f s (slowest input %.1f ms, iteration %llu)\n",
	       (unsigned long long)niter, el > 0 ? (double)niter / el : 0.0,
	       (unsigned long long)g_nstats_inputs, (unsigned long long)g_ne2big,
	       (unsigned long long)nskipped, el, slowest * 1e3, (unsigned long long)slow_iter);
	for (size_t i = 0; i < g_ncorpus; i++)
		free(g_corpus[i].p);
	return 0;
}
