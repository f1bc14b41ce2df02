/* hakmem-ctl.c - the operator's tool for hakmem.
 *
 *   hakmem-ctl [--lib PATH] keys [--tsv]
 *   hakmem-ctl [--lib PATH] run [--conf STR] [--stats[=text|json|arenas|none]]
 *                               [--stats-file FILE] -- CMD ARGS...
 *   hakmem-ctl stats [--json] [--arenas] [FILE]
 *   hakmem-ctl stats PID | get PID KEY... | set PID KEY=VALUE... | top PID | ps
 *
 * The tool does not link libhakmem: it runs with the C library's malloc, and a
 * HAKMEM_CONF in its own environment does not act on it.
 *
 * keys   lists every ctl key (name, type, mode, unit, meaning) from the
 *        library's own table, hakmem_ctl_key_info(). The tool re-executes
 *        itself with the library in LD_PRELOAD to reach that function (a
 *        dlopen() could fail on the library's initial-exec TLS).
 * run    runs CMD with libhakmem.so in LD_PRELOAD and HAKMEM_CONF set to the
 *        environment's conf, then --conf, then
 *        "opt.stats_print=json,opt.stats_file=TMPDIR/stats.%p.json"; when CMD
 *        exits, reads that JSON and writes the readable view (or the JSON)
 *        to stderr or --stats-file; exits with CMD's status (128+N when a
 *        signal N killed it; 127/126 when it could not be executed).
 * stats  renders a JSON statistics file (opt.stats_print=json) readably.
 * stats PID, get, set, top, ps: the live view of a running process
 *        (remote.c).
 *
 * The library: --lib PATH; else, from the tool's own path D (/proc/self/exe),
 * D/../lib/libhakmem.so (installed), the configured $(libdir), and the build
 * tree's D/../.libs/libhakmem.so (uninstalled).
 *
 * The JSON reader is a small, general recursive-descent parser into a tree;
 * the renderer knows the layout hakmem_stats_print("J") writes.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"

#ifndef HAKMEM_LIBDIR
#define HAKMEM_LIBDIR "/usr/local/lib"
#endif
#ifndef HAKMEM_CTL_VERSION
#define HAKMEM_CTL_VERSION "0.1.0"
#endif

#define LIBNAME "libhakmem.so"
/* Set in the environment of the tool's re-execution for `keys`. */
#define ENV_REEXEC "HAKMEM_CTL_REEXEC"

/* Exported by libhakmem.so (src/ctl.c); not in hakmem.h. Describes row i of
 * the key table; ENOENT past the last row. */
typedef int key_info_fn(size_t i, const char **name, const char **type, const char **mode,
                        const char **unit, const char **doc);

const char *g_prog = "hakmem-ctl";

__attribute__((format(printf, 1, 2))) void warnx_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", g_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", g_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: hakmem-ctl [--lib PATH] keys [--tsv]\n"
	        "       hakmem-ctl [--lib PATH] run [--conf STR] [--stats[=text|json|arenas|none]]\n"
	        "                                   [--stats-file FILE] -- CMD [ARGS...]\n"
	        "       hakmem-ctl stats [--json] [--arenas] [FILE]\n"
	        "       hakmem-ctl stats PID [--json] [--arenas] [--timeout S]\n"
	        "       hakmem-ctl get PID KEY... [--timeout S]\n"
	        "       hakmem-ctl set PID KEY=VALUE|ACTION... [--timeout S]\n"
	        "       hakmem-ctl top PID [--interval S] [--iterations N]\n"
	        "       hakmem-ctl ps\n"
	        "       hakmem-ctl request PID [--timeout S] < REQUEST\n"
	        "       hakmem-ctl --help | --version\n"
	        "See hakmem-ctl(1) and hakmem(3).\n");
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		die("out of memory");
	return p;
}

/* ---- the library ------------------------------------------------------ */

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The absolute path of libhakmem.so (malloc'd), or exits. */
static char *find_lib(const char *given)
{
	char *res;
	if (given != NULL) {
		if (!is_file(given))
			die("--lib %s: no such file", given);
		res = realpath(given, NULL);
		if (res == NULL)
			die("--lib %s: %s", given, strerror(errno));
		return res;
	}
	enum { NCAND = 4, CAND_LEN = PATH_MAX + 64 };
	char exe[PATH_MAX], cand[NCAND][CAND_LEN];
	int ncand = 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = n > 0 ? memrchr(exe, '/', (size_t)n) : NULL;
	if (slash != NULL) {
		*slash = '\0';
		snprintf(cand[ncand++], CAND_LEN, "%s/../lib/%s", exe, LIBNAME);  /* installed */
		snprintf(cand[ncand++], CAND_LEN, "%s/%s", HAKMEM_LIBDIR, LIBNAME);
		snprintf(cand[ncand++], CAND_LEN, "%s/../.libs/%s", exe, LIBNAME); /* build tree */
		snprintf(cand[ncand++], CAND_LEN, "%s/.libs/%s", exe, LIBNAME);
	} else {
		snprintf(cand[ncand++], CAND_LEN, "%s/%s", HAKMEM_LIBDIR, LIBNAME);
	}
	for (int i = 0; i < ncand; i++)
		if (is_file(cand[i]) && (res = realpath(cand[i], NULL)) != NULL)
			return res;
	fprintf(stderr, "%s: cannot find %s (tried", g_prog, LIBNAME);
	for (int i = 0; i < ncand; i++)
		fprintf(stderr, " %s", cand[i]);
	fprintf(stderr, "); give it with --lib PATH\n");
	exit(2);
}

/* LD_PRELOAD splits on spaces and colons. */
static void check_preloadable(const char *lib)
{
	if (strpbrk(lib, " :\t\n") != NULL)
		die("%s: LD_PRELOAD cannot hold a path with spaces or colons", lib);
}

/* ---- keys ------------------------------------------------------------- */

static int cmd_keys(char **argv, int argc, const char *libopt, char **orig_argv)
{
	bool tsv = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--tsv") == 0)
			tsv = true;
		else if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc)
			libopt = argv[++i];
		else if (strncmp(argv[i], "--lib=", 6) == 0)
			libopt = argv[i] + 6;
		else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else
			die("keys: unknown option %s", argv[i]);
	}
	key_info_fn *info = (key_info_fn *)dlsym(RTLD_DEFAULT, "hakmem_ctl_key_info");
	if (info == NULL) {
		char *lib = find_lib(libopt);
		if (getenv(ENV_REEXEC) != NULL)
			die("%s does not export hakmem_ctl_key_info", lib);
		check_preloadable(lib);
		/* Load the library at start-up, as `run` does, with no conf. */
		unsetenv("HAKMEM_CONF");
		setenv("LD_PRELOAD", lib, 1);
		setenv(ENV_REEXEC, "1", 1);
		execv("/proc/self/exe", orig_argv);
		die("cannot re-execute /proc/self/exe: %s", strerror(errno));
	}
	const char *name, *type, *mode, *unit, *doc;
	int wname = 3, wtype = 4, wmode = 4, wunit = 4;
	size_t n = 0;
	for (; info(n, &name, &type, &mode, &unit, &doc) == 0; n++) {
		wname = (int)strlen(name) > wname ? (int)strlen(name) : wname;
		wtype = (int)strlen(type) > wtype ? (int)strlen(type) : wtype;
		wmode = (int)strlen(mode) > wmode ? (int)strlen(mode) : wmode;
		wunit = (int)strlen(unit) > wunit ? (int)strlen(unit) : wunit;
	}
	if (!tsv)
		printf("%-*s  %-*s  %-*s  %-*s  %s\n", wname, "KEY", wtype, "TYPE", wmode, "MODE", wunit,
		       "UNIT", "MEANING ('#' in a key is a decimal index)");
	for (size_t i = 0; i < n; i++) {
		info(i, &name, &type, &mode, &unit, &doc);
		if (tsv)
			printf("%s\t%s\t%s\t%s\t%s\n", name, type, mode, unit, doc);
		else
			printf("%-*s  %-*s  %-*s  %-*s  %s\n", wname, name, wtype, type, wmode, mode,
			       wunit, unit[0] ? unit : "-", doc);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		die("keys: write error: %s", strerror(errno));
	return 0;
}

/* ---- JSON ------------------------------------------------------------- */

typedef struct {
	const char *p, *end;
	const char *err;        /* first error, or NULL */
	int depth;
} jparser_t;

static void j_ws(jparser_t *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static json_t *j_new(enum json_type t)
{
	json_t *v = xmalloc(sizeof *v);
	memset(v, 0, sizeof *v);
	v->type = t;
	return v;
}

static json_t *j_fail(jparser_t *j, const char *what)
{
	if (j->err == NULL)
		j->err = what;
	return NULL;
}

void j_free(json_t *v)
{
	while (v != NULL) {
		json_t *next = v->next;
		j_free(v->kids);
		free(v->key);
		free(v->str);
		free(v);
		v = next;
	}
}

static void utf8_put(char **o, unsigned cp)
{
	char *s = *o;
	if (cp < 0x80) {
		*s++ = (char)cp;
	} else if (cp < 0x800) {
		*s++ = (char)(0xc0 | cp >> 6);
		*s++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*s++ = (char)(0xe0 | cp >> 12);
		*s++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*s++ = (char)(0x80 | (cp & 0x3f));
	}
	*o = s;
}

/* A string at j->p (on the opening quote); malloc'd. */
static char *j_string(jparser_t *j)
{
	if (j->p >= j->end || *j->p != '"')
		return (char *)j_fail(j, "expected a string");
	j->p++;
	char *out = xmalloc((size_t)(j->end - j->p) + 1), *o = out;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;
		if (c < 0x20) {
			free(out);
			return (char *)j_fail(j, "control character in a string");
		}
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		if (j->p >= j->end)
			break;
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"': case '\\': case '/': *o++ = (char)c; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned cp = 0;
			for (int k = 0; k < 4; k++) {
				char h = j->p < j->end ? *j->p++ : 'x';
				cp <<= 4;
				if (h >= '0' && h <= '9') cp |= (unsigned)(h - '0');
				else if (h >= 'a' && h <= 'f') cp |= (unsigned)(h - 'a' + 10);
				else if (h >= 'A' && h <= 'F') cp |= (unsigned)(h - 'A' + 10);
				else {
					free(out);
					return (char *)j_fail(j, "bad \\u escape");
				}
			}
			utf8_put(&o, cp); /* surrogates are kept as they are */
			break;
		}
		default:
			free(out);
			return (char *)j_fail(j, "bad escape in a string");
		}
	}
	if (j->p >= j->end) {
		free(out);
		return (char *)j_fail(j, "unterminated string");
	}
	j->p++;
	*o = '\0';
	return out;
}

static json_t *j_value(jparser_t *j);

static json_t *j_members(jparser_t *j, json_t *v, char close, bool named)
{
	json_t **tail = &v->kids;
	j->p++;
	j_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		j_ws(j);
		if (named) {
			key = j_string(j);
			if (key == NULL)
				break;
			j_ws(j);
			if (j->p >= j->end || *j->p != ':') {
				free(key);
				j_fail(j, "expected ':'");
				break;
			}
			j->p++;
		}
		json_t *kid = j_value(j);
		if (kid == NULL) {
			free(key);
			break;
		}
		kid->key = key;
		*tail = kid;
		tail = &kid->next;
		j_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return v;
		}
		j_fail(j, named ? "expected ',' or '}'" : "expected ',' or ']'");
		break;
	}
	j_free(v);
	return NULL;
}

static json_t *j_number(jparser_t *j)
{
	const char *s = j->p;
	bool integer = true;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	while (j->p < j->end && strchr("0123456789.eE+-", *j->p) != NULL) {
		if (*j->p == '.' || *j->p == 'e' || *j->p == 'E')
			integer = false;
		j->p++;
	}
	char buf[64];
	size_t n = (size_t)(j->p - s);
	if (n == 0 || n >= sizeof buf)
		return j_fail(j, "bad number");
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *e;
	json_t *v = j_new(J_NUM);
	v->num = strtod(buf, &e);
	if (*e != '\0') {
		free(v);
		return j_fail(j, "bad number");
	}
	if (integer && buf[0] != '-') {
		errno = 0;
		v->u = strtoull(buf, &e, 10);
		v->is_uint = errno == 0 && *e == '\0';
	}
	return v;
}

static json_t *j_value(jparser_t *j)
{
	j_ws(j);
	if (j->p >= j->end)
		return j_fail(j, "unexpected end of input");
	if (++j->depth > 64)
		return j_fail(j, "nested too deeply");
	json_t *v = NULL;
	char c = *j->p;
	if (c == '{') {
		v = j_members(j, j_new(J_OBJ), '}', true);
	} else if (c == '[') {
		v = j_members(j, j_new(J_ARR), ']', false);
	} else if (c == '"') {
		char *s = j_string(j);
		if (s != NULL) {
			v = j_new(J_STR);
			v->str = s;
		}
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		v = j_number(j);
	} else {
		static const struct { const char *w; enum json_type t; bool b; } lit[] = {
			{ "true", J_BOOL, true }, { "false", J_BOOL, false }, { "null", J_NULL, false },
		};
		for (size_t i = 0; i < sizeof lit / sizeof lit[0]; i++) {
			size_t n = strlen(lit[i].w);
			if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lit[i].w, n) == 0) {
				j->p += n;
				v = j_new(lit[i].t);
				v->b = lit[i].b;
				break;
			}
		}
		if (v == NULL)
			j_fail(j, "unexpected character");
	}
	j->depth--;
	return v;
}

/* Parses a whole document; on error returns NULL and sets *err and *offset. */
json_t *json_parse(const char *text, size_t len, const char **err, size_t *offset)
{
	jparser_t j = { text, text + len, NULL, 0 };
	json_t *v = j_value(&j);
	if (v != NULL) {
		j_ws(&j);
		if (j.p != j.end) {
			j_free(v);
			v = NULL;
			j_fail(&j, "trailing characters");
		}
	}
	*err = j.err;
	*offset = (size_t)(j.p - text);
	return v;
}

json_t *json_get(const json_t *o, const char *key)
{
	if (o == NULL || o->type != J_OBJ)
		return NULL;
	for (json_t *k = o->kids; k; k = k->next)
		if (strcmp(k->key, key) == 0)
			return k;
	return NULL;
}

/* A dotted path of member names. */
json_t *json_path(const json_t *o, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	json_t *v = (json_t *)o;
	for (char *save, *t = strtok_r(buf, ".", &save); t && v; t = strtok_r(NULL, ".", &save))
		v = json_get(v, t);
	return v;
}

unsigned long long json_u64(const json_t *v)
{
	if (v == NULL || v->type != J_NUM)
		return 0;
	if (v->is_uint)
		return v->u;
	return v->num > 0 ? (unsigned long long)v->num : 0;
}

unsigned long long path_u64(const json_t *o, const char *path)
{
	return json_u64(json_path(o, path));
}

/* ---- the readable view ------------------------------------------------ */

#define MAX_CLASSES 1024

typedef struct class_row {
	bool seen;
	unsigned long long size, nmalloc, nfree, nrefills, nflushes, curslabs, curregs;
} class_row_t;

/* "12.3 MiB"; bytes below 10 KiB as they are. */
const char *human(char *buf, size_t n, unsigned long long v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (v < 10240) {
		snprintf(buf, n, "%llu B", v);
		return buf;
	}
	double d = (double)v;
	int u = 0;
	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	snprintf(buf, n, d < 100 ? "%.1f %s" : "%.0f %s", d, unit[u]);
	return buf;
}

unsigned long long sub0(unsigned long long a, unsigned long long b)
{
	return a > b ? a - b : 0;
}

static void class_table(FILE *out, const class_row_t *rows, size_t nrows, unsigned long long lm,
                        unsigned long long lf)
{
	char hb[32];
	fprintf(out, "  %5s %8s %10s %10s %9s %12s %12s %9s %9s %6s\n", "class", "size", "in use",
	        "in use B", "cached", "nmalloc", "nfree", "refills", "flushes", "slabs");
	class_row_t tot = { 0 };
	unsigned long long tot_bytes = 0, tot_cached = 0, tot_inuse = 0;
	for (size_t c = 0; c < nrows; c++) {
		const class_row_t *r = &rows[c];
		if (!r->seen)
			continue;
		unsigned long long inuse = sub0(r->nmalloc, r->nfree);
		unsigned long long cached = sub0(r->curregs, inuse);
		fprintf(out, "  %5zu %8llu %10llu %10s %9llu %12llu %12llu %9llu %9llu %6llu\n", c,
		        r->size, inuse, human(hb, sizeof hb, inuse * r->size), cached, r->nmalloc,
		        r->nfree, r->nrefills, r->nflushes, r->curslabs);
		tot.nmalloc += r->nmalloc;
		tot.nfree += r->nfree;
		tot.nrefills += r->nrefills;
		tot.nflushes += r->nflushes;
		tot.curslabs += r->curslabs;
		tot_inuse += inuse;
		tot_cached += cached;
		tot_bytes += inuse * r->size;
	}
	fprintf(out, "  %5s %8s %10llu %10s %9llu %12llu %12llu %9llu %9llu %6llu\n", "slabs", "",
	        tot_inuse, human(hb, sizeof hb, tot_bytes), tot_cached, tot.nmalloc, tot.nfree,
	        tot.nrefills, tot.nflushes, tot.curslabs);
	fprintf(out, "  %5s %8s %10llu %10s %9s %12llu %12llu\n", "large", "> 32K", sub0(lm, lf), "",
	        "", lm, lf);
}

/* Adds an arena's "classes" object into rows; returns false on a class
 * number the table cannot hold. */
static bool add_classes(class_row_t *rows, size_t *nrows, const json_t *classes)
{
	if (classes == NULL || classes->type != J_OBJ)
		return true;
	for (const json_t *c = classes->kids; c; c = c->next) {
		char *e;
		unsigned long idx = strtoul(c->key, &e, 10);
		if (*e != '\0' || idx >= MAX_CLASSES)
			return false;
		class_row_t *r = &rows[idx];
		r->seen = true;
		r->size = path_u64(c, "size");
		r->nmalloc += path_u64(c, "nmalloc");
		r->nfree += path_u64(c, "nfree");
		r->nrefills += path_u64(c, "nrefills");
		r->nflushes += path_u64(c, "nflushes");
		r->curslabs += path_u64(c, "curslabs");
		r->curregs += path_u64(c, "curregs");
		if (idx + 1 > *nrows)
			*nrows = idx + 1;
	}
	return true;
}

/* Writes the readable view of a hakmem JSON statistics document; returns 0,
 * or -1 (after a message) when it is not one. */
static int render_stats(FILE *out, const json_t *root, bool per_arena)
{
	const json_t *st = json_get(root, "stats");
	if (st == NULL || st->type != J_OBJ || json_get(st, "allocated") == NULL) {
		warnx_("not hakmem statistics (no \"stats\" object with \"allocated\")");
		return -1;
	}
	char b[6][32];
	const json_t *ver = json_get(root, "version");
	const json_t *decay = json_get(root, "decay_ms");
	fprintf(out, "hakmem %s statistics: %llu arenas, tiny.fast_cap %llu, tiny.refill %llu, "
	        "decay_ms %.0f\n",
	        ver && ver->type == J_STR ? ver->str : "?", path_u64(root, "arenas.narenas"),
	        path_u64(root, "tiny.fast_cap"), path_u64(root, "tiny.refill"),
	        decay && decay->type == J_NUM ? decay->num : 0.0);
	fprintf(out, "  %-10s %10s %10s %10s %10s %10s %10s\n", "memory", "allocated", "active",
	        "resident", "mapped", "retained", "metadata");
	fprintf(out, "  %-10s %10s %10s %10s %10s %10s %10s\n", "",
	        human(b[0], 32, path_u64(st, "allocated")), human(b[1], 32, path_u64(st, "active")),
	        human(b[2], 32, path_u64(st, "resident")), human(b[3], 32, path_u64(st, "mapped")),
	        human(b[4], 32, path_u64(st, "retained")), human(b[5], 32, path_u64(st, "metadata")));
	unsigned long long nm = path_u64(st, "nmalloc"), nf = path_u64(st, "nfree");
	fprintf(out, "  %-10s nmalloc %llu, nfree %llu, live %llu\n", "calls", nm, nf, sub0(nm, nf));

	class_row_t *rows = calloc(MAX_CLASSES, sizeof *rows);
	if (rows == NULL)
		die("out of memory");
	size_t nrows = 0;
	unsigned long long lm = 0, lf = 0;
	const json_t *arenas = json_get(st, "arenas");
	int rc = 0;
	for (const json_t *a = arenas && arenas->type == J_OBJ ? arenas->kids : NULL; a;
	     a = a->next) {
		if (per_arena) {
			memset(rows, 0, MAX_CLASSES * sizeof *rows);
			nrows = 0;
			lm = lf = 0;
		}
		lm += path_u64(a, "large.nmalloc");
		lf += path_u64(a, "large.nfree");
		if (!add_classes(rows, &nrows, json_get(a, "classes"))) {
			warnx_("arena %s: a class number out of range", a->key);
			rc = -1;
			break;
		}
		if (per_arena) {
			fprintf(out, "arena %s:\n", a->key);
			class_table(out, rows, nrows, lm, lf);
		}
	}
	if (!per_arena && rc == 0) {
		fprintf(out, "size classes, all arenas (in use = nmalloc - nfree; cached = blocks out "
		             "of slabs the program does not hold):\n");
		class_table(out, rows, nrows, lm, lf);
	}
	free(rows);
	return rc;
}

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = xmalloc(cap);
	size_t got;
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die("out of memory");
		}
	}
	*len = n;
	return buf;
}

/* Renders (or, with json, copies) the statistics text to out. what names
 * the input in messages. Returns 0 or -1. */
int emit_stats(FILE *out, const char *text, size_t len, const char *what, bool json,
                      bool per_arena)
{
	if (json) {
		fwrite(text, 1, len, out);
		return 0;
	}
	const char *err;
	size_t off;
	json_t *root = json_parse(text, len, &err, &off);
	if (root == NULL) {
		warnx_("%s: not valid JSON: %s at byte %zu", what, err ? err : "?", off);
		return -1;
	}
	int rc = render_stats(out, root, per_arena);
	j_free(root);
	return rc;
}

static int cmd_stats(char **argv, int argc)
{
	bool json = false, per_arena = false;
	const char *path = NULL;
	double timeout = 5.0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *e;
			timeout = strtod(argv[++i], &e);
			if (*e != '\0' || !(timeout > 0))
				die("stats: --timeout %s: seconds, above 0", argv[i]);
		}
		else if (strcmp(argv[i], "--arenas") == 0)
			per_arena = true;
		else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			die("stats: unknown option %s", argv[i]);
		else if (path == NULL)
			path = argv[i];
		else
			die("stats: one file at most");
	}
	/* All digits: a process id (a file of that name is ./1234). */
	if (path != NULL && path[strspn(path, "0123456789")] == '\0')
		return cmd_live_stats(path, json, per_arena, timeout);
	FILE *f = stdin;
	if (path != NULL && strcmp(path, "-") != 0 && (f = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	size_t len;
	char *text = read_all(f, &len);
	if (f != stdin)
		fclose(f);
	int rc = emit_stats(stdout, text, len, path ? path : "stdin", json, per_arena);
	free(text);
	if (fflush(stdout) != 0)
		die("write error: %s", strerror(errno));
	return rc == 0 ? 0 : 1;
}

/* ---- run -------------------------------------------------------------- */

static volatile sig_atomic_t g_child;

static void forward_signal(int sig)
{
	if (g_child > 0)
		kill((pid_t)g_child, sig);
}

enum stats_mode { ST_TEXT, ST_JSON, ST_ARENAS, ST_NONE };

static int cmd_run(char **argv, int argc, const char *libopt)
{
	const char *conf = NULL, *stats_file = NULL;
	enum stats_mode mode = ST_TEXT;
	int i = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--conf") == 0 && i + 1 < argc) {
			conf = argv[++i];
		} else if (strncmp(a, "--conf=", 7) == 0) {
			conf = a + 7;
		} else if (strcmp(a, "--lib") == 0 && i + 1 < argc) {
			libopt = argv[++i];
		} else if (strncmp(a, "--lib=", 6) == 0) {
			libopt = a + 6;
		} else if (strcmp(a, "--stats") == 0 || strcmp(a, "--stats=text") == 0) {
			mode = ST_TEXT;
		} else if (strcmp(a, "--stats=json") == 0) {
			mode = ST_JSON;
		} else if (strcmp(a, "--stats=arenas") == 0) {
			mode = ST_ARENAS;
		} else if (strcmp(a, "--stats=none") == 0 || strcmp(a, "--no-stats") == 0) {
			mode = ST_NONE;
		} else if (strcmp(a, "--stats-file") == 0 && i + 1 < argc) {
			stats_file = argv[++i];
		} else if (strncmp(a, "--stats-file=", 13) == 0) {
			stats_file = a + 13;
		} else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-') {
			die("run: unknown option %s (or a missing argument)", a);
		} else {
			break; /* CMD without "--" */
		}
	}
	if (i >= argc)
		die("run: no command given (hakmem-ctl run [OPTIONS] -- CMD [ARGS...])");
	char **cmd = argv + i;
	char *lib = find_lib(libopt);
	check_preloadable(lib);
	if (conf != NULL && strchr(conf, '\n') != NULL)
		die("run: --conf: a newline in the conf string");

	/* The statistics file, in a private directory. */
	char dir[PATH_MAX] = "", statpath[PATH_MAX] = "";
	if (mode != ST_NONE) {
		const char *tmp = getenv("TMPDIR");
		if (tmp == NULL || tmp[0] != '/' || strchr(tmp, ',') != NULL || strlen(tmp) > 180)
			tmp = "/tmp";
		snprintf(dir, sizeof dir, "%s/hakmem-ctl.XXXXXX", tmp);
		if (mkdtemp(dir) == NULL)
			die("mkdtemp %s: %s", dir, strerror(errno));
		/* A library that expands %p in opt.stats_file gives every process
		 * its own file; one that does not writes this name, last exit
		 * wins. */
		snprintf(statpath, sizeof statpath, "%s/stats.%%p.json", dir);
	}

	/* HAKMEM_CONF: the environment's, --conf, then ours (last wins). */
	const char *envconf = getenv("HAKMEM_CONF");
	size_t clen = (envconf ? strlen(envconf) : 0) + (conf ? strlen(conf) : 0) +
	              strlen(statpath) + 64;
	char *full = xmalloc(clen);
	full[0] = '\0';
	if (envconf != NULL && envconf[0] != '\0')
		strcat(full, envconf);
	if (conf != NULL && conf[0] != '\0') {
		if (full[0])
			strcat(full, ",");
		strcat(full, conf);
	}
	if (mode != ST_NONE) {
		if (full[0])
			strcat(full, ",");
		strcat(full, "opt.stats_print=json,opt.stats_file=");
		strcat(full, statpath);
	}
	const char *oldpre = getenv("LD_PRELOAD");
	char *pre = xmalloc(strlen(lib) + (oldpre ? strlen(oldpre) : 0) + 2);
	strcpy(pre, lib);
	if (oldpre != NULL && oldpre[0] != '\0') {
		strcat(pre, ":");
		strcat(pre, oldpre);
	}
	if (full[0])
		setenv("HAKMEM_CONF", full, 1);
	else
		unsetenv("HAKMEM_CONF");
	setenv("LD_PRELOAD", pre, 1);
	unsetenv(ENV_REEXEC);

	/* The child reports a failed exec through a close-on-exec pipe. */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0)
		die("pipe: %s", strerror(errno));
	struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = { .sa_handler = forward_signal };
	struct sigaction old_int, old_quit;
	sigemptyset(&ign.sa_mask);
	sigemptyset(&fwd.sa_mask);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[0]);
		execvp(cmd[0], cmd);
		int e = errno;
		if (write(pfd[1], &e, sizeof e) < 0)
			_exit(127);
		_exit(127);
	}
	g_child = pid;
	close(pfd[1]);
	/* Ctrl-C reaches CMD (same process group); we wait for it. TERM and
	 * HUP sent to the tool are passed on. */
	sigaction(SIGPIPE, &ign, NULL); /* a closed stderr must not stop the clean-up */
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	sigaction(SIGTERM, &fwd, NULL);
	sigaction(SIGHUP, &fwd, NULL);
	int exec_err = 0;
	ssize_t got;
	do
		got = read(pfd[0], &exec_err, sizeof exec_err);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)sizeof exec_err)
		exec_err = 0;
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	int rc;
	if (exec_err != 0) {
		warnx_("%s: %s", cmd[0], strerror(exec_err));
		rc = exec_err == ENOENT ? 127 : 126;
	} else if (WIFEXITED(status)) {
		rc = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		rc = 128 + WTERMSIG(status);
	} else {
		rc = 1;
	}

	if (mode != ST_NONE) {
		/* CMD's own file (its pid: it exec'd in place), else the shared one. */
		char own[PATH_MAX + 32];
		snprintf(own, sizeof own, "%s/stats.%ld.json", dir, (long)pid);
		const char *path = is_file(own) ? own : statpath;
		int others = 0;
		FILE *in = fopen(path, "r");
		size_t len = 0;
		char *text = NULL;
		if (in != NULL) {
			text = read_all(in, &len);
			fclose(in);
		}
		/* Empty the directory; count the other processes' files. */
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d != NULL && (e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char p[PATH_MAX + 300];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			if (strcmp(p, path) != 0 && strncmp(e->d_name, "stats.", 6) == 0)
				others++;
			unlink(p);
		}
		if (d != NULL)
			closedir(d);
		if (others > 0 && exec_err == 0)
			warnx_("%d other process%s that %s started wrote statistics too (not shown)",
			       others, others == 1 ? "" : "es", cmd[0]);
		if (rmdir(dir) != 0)
			warnx_("cannot remove %s: %s", dir, strerror(errno));
		if (exec_err != 0) {
			/* nothing ran */
		} else if (len == 0) {
			warnx_("%s wrote no statistics: %s", cmd[0],
			       WIFSIGNALED(status) ? "a signal killed it before its exit handlers ran"
			                           : "it ended with _exit() (dash does), which skips "
			                             "hakmem's exit handler, or it did not load hakmem (a "
			                             "set-user-ID or statically linked program ignores "
			                             "LD_PRELOAD)");
		} else {
			FILE *out = stderr;
			if (stats_file != NULL && (out = fopen(stats_file, "w")) == NULL) {
				warnx_("--stats-file %s: %s; writing to stderr", stats_file, strerror(errno));
				out = stderr;
			}
			emit_stats(out, text, len, "the statistics", mode == ST_JSON, mode == ST_ARENAS);
			if (out != stderr && fclose(out) != 0)
				warnx_("--stats-file %s: %s", stats_file, strerror(errno));
			fflush(stderr);
		}
		free(text);
	}
	free(full);
	free(pre);
	free(lib);
	return rc;
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *libopt = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc) {
			libopt = argv[++i];
		} else if (strncmp(argv[i], "--lib=", 6) == 0) {
			libopt = argv[i] + 6;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("hakmem-ctl %s\n", HAKMEM_CTL_VERSION);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i];
	if (strcmp(cmd, "keys") == 0)
		return cmd_keys(argv + i + 1, argc - i - 1, libopt, argv);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argv + i + 1, argc - i - 1, libopt);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(argv + i + 1, argc - i - 1);
	if (strcmp(cmd, "get") == 0)
		return cmd_live_get(argv + i + 1, argc - i - 1);
	if (strcmp(cmd, "set") == 0)
		return cmd_live_set(argv + i + 1, argc - i - 1);
	if (strcmp(cmd, "top") == 0)
		return cmd_live_top(argv + i + 1, argc - i - 1);
	if (strcmp(cmd, "ps") == 0)
		return cmd_live_ps(argv + i + 1, argc - i - 1);
	if (strcmp(cmd, "request") == 0)
		return cmd_live_request(argv + i + 1, argc - i - 1);
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	warnx_("unknown command '%s'", cmd);
	usage(stderr);
	return 2;
}
