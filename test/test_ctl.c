/* test_ctl.c - the control interface: every key, every error, statistics
 * that follow allocations, and the start-up conf string.
 *
 * Linked with libhakmem.la. The key list comes from the library's own table
 * (hakmem_ctl_key_info), so a new key is tested the day it is added: read
 * (at the first and last index of each '#'), round-tripped if writable,
 * refused with the right error otherwise. The conf string is tested in
 * child processes (this program re-executed with HAKMEM_CONF set); the
 * program-defined `hakmem_conf` symbol is the one below.
 *
 *   test_ctl [-v]
 *   test_ctl --child    (internal: print some keys, for the conf tests)
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"
#include "expect.h"

/* Exported by libhakmem.so for hakmem-ctl; not (yet) in hakmem.h. */
int hakmem_ctl_key_info(size_t i, const char **name, const char **type, const char **mode,
                        const char **unit, const char **doc);

/* Read by the library at start-up, before HAKMEM_CONF (which may override). */
const char *hakmem_conf = "tiny.drain_interval=555";

static int g_verbose;

/* ---- the key table ------------------------------------------------------ */

typedef struct key {
	const char *name, *type, *mode, *unit, *doc;
	size_t size;            /* of the value; 0 for void */
	bool readable, writable, start_only;
} key_t_;

#define MAX_KEYS 512
static key_t_ g_keys[MAX_KEYS];
static size_t g_nkeys;

static size_t type_size(const char *type)
{
	static const struct { const char *name; size_t size; } types[] = {
		{ "void", 0 }, { "bool", sizeof(bool) }, { "unsigned", sizeof(unsigned) },
		{ "int", sizeof(int) }, { "uint64_t", sizeof(uint64_t) }, { "size_t", sizeof(size_t) },
		{ "ssize_t", sizeof(ssize_t) }, { "const char *", sizeof(const char *) },
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(type, types[i].name) == 0)
			return types[i].size;
	return SIZE_MAX;
}

static void load_keys(void)
{
	key_t_ *k;
	for (g_nkeys = 0; g_nkeys < MAX_KEYS; g_nkeys++) {
		k = &g_keys[g_nkeys];
		if (hakmem_ctl_key_info(g_nkeys, &k->name, &k->type, &k->mode, &k->unit, &k->doc) != 0)
			break;
		k->size = type_size(k->type);
		k->readable = k->mode[0] == 'r';
		k->writable = strchr(k->mode, 'w') != NULL;
		k->start_only = strstr(k->mode, "start") != NULL;
	}
}

static unsigned ctl_uint(const char *name)
{
	unsigned v = 0;
	size_t sz = sizeof v;
	expect_int_eq(hakmem_ctl(name, &v, &sz, NULL, 0), 0, "read %s", name);
	return v;
}

static uint64_t ctl_u64(const char *name)
{
	uint64_t v = 0;
	size_t sz = sizeof v;
	expect_int_eq(hakmem_ctl(name, &v, &sz, NULL, 0), 0, "read %s", name);
	return v;
}

static void ctl_epoch(void)
{
	uint64_t e = 1;
	size_t sz = sizeof e;
	expect_int_eq(hakmem_ctl("epoch", &e, &sz, &e, sz), 0, "write epoch");
}

/* The number of values the '#' at the end of prefix (the name up to it)
 * takes; 0 for an index kind this test does not know (a failure). */
static unsigned index_limit(const char *prefix, size_t len)
{
	char p[128];
	snprintf(p, sizeof p, "%.*s", (int)len, prefix);
	size_t n = strlen(p);
#define ENDS(s) (n >= strlen(s) && strcmp(p + n - strlen(s), s) == 0)
	if (ENDS("tiny.class.") || ENDS(".tiny."))
		return ctl_uint("tiny.nclasses");
	if (ENDS("class."))
		return ctl_uint("arenas.nclasses");
	if (ENDS("arena.") || ENDS("arenas."))
		return ctl_uint("arenas.narenas");
	if (ENDS("cpu.") || ENDS("cpus."))
		return ctl_uint("topology.cpus");
	if (ENDS("node.") || ENDS("nodes."))
		return ctl_uint("topology.nodes");
#undef ENDS
	return 0;
}

/* Writes k's name with its '#'s replaced by ix[] into buf. */
static void key_name(const key_t_ *k, const size_t *ix, char *buf, size_t size)
{
	size_t o = 0;
	int j = 0;
	for (const char *p = k->name; *p && o + 24 < size; p++) {
		if (*p == '#')
			o += (size_t)snprintf(buf + o, size - o, "%zu", ix[j++]);
		else
			buf[o++] = *p;
	}
	buf[o] = '\0';
}

/* Limits of k's indices; returns how many there are (-1: unknown kind). */
static int key_limits(const key_t_ *k, unsigned *lim)
{
	int n = 0;
	for (const char *p = k->name; *p; p++) {
		if (*p != '#')
			continue;
		if (n == 2)
			return -1;
		lim[n] = index_limit(k->name, (size_t)(p - k->name));
		if (lim[n] == 0)
			return -1;
		n++;
	}
	return n;
}

/* Calls fn for k at the first and the last value of each index. */
static void for_each_index(const key_t_ *k, void (*fn)(const key_t_ *, const char *))
{
	unsigned lim[2] = { 1, 1 };
	int n = key_limits(k, lim);
	if (!expect_int_ge(n, 0, "key %s: an index kind the test does not know", k->name))
		return;
	char name[160];
	size_t ix[2];
	unsigned a_vals[2] = { 0, lim[0] - 1 }, b_vals[2] = { 0, lim[1] - 1 };
	for (int a = 0; a < (n >= 1 ? 2 : 1); a++) {
		for (int b = 0; b < (n >= 2 ? 2 : 1); b++) {
			ix[0] = a_vals[a];
			ix[1] = b_vals[b];
			key_name(k, ix, name, sizeof name);
			fn(k, name);
		}
	}
}

/* ---- every key -------------------------------------------------------- */

static void test_key_table(void)
{
	expect_zu_ge(g_nkeys, 50, "hakmem_ctl_key_info lists too few keys");
	expect_zu_lt(g_nkeys, MAX_KEYS);
	const char *n, *t, *m, *u, *d;
	expect_int_eq(hakmem_ctl_key_info(g_nkeys, &n, &t, &m, &u, &d), ENOENT, "past the end");
	expect_int_eq(hakmem_ctl_key_info(SIZE_MAX, &n, &t, &m, &u, &d), ENOENT);
	for (size_t i = 0; i < g_nkeys; i++) {
		const key_t_ *k = &g_keys[i];
		expect_zu_ne(k->size, SIZE_MAX, "key %s: unknown type '%s'", k->name, k->type);
		expect_true(strcmp(k->mode, "r") == 0 || strcmp(k->mode, "rw") == 0 ||
		            strcmp(k->mode, "w") == 0 || strcmp(k->mode, "r (start)") == 0,
		            "key %s: mode '%s'", k->name, k->mode);
		expect_true(k->doc != NULL && strlen(k->doc) > 5, "key %s: no doc", k->name);
		expect_true(k->unit != NULL, "key %s: unit NULL", k->name);
		for (size_t j = 0; j < i; j++)
			expect_true(strcmp(k->name, g_keys[j].name) != 0, "key %s twice", k->name);
		if (strcmp(k->type, "void") == 0)
			expect_str_eq(k->mode, "w", "void key %s", k->name);
	}
}

static void read_one(const key_t_ *k, const char *name)
{
	union { uint64_t u64; const char *s; unsigned char b[16]; } v;
	memset(&v, 0xa5, sizeof v);
	size_t sz = k->size;
	if (k->readable) {
		if (!expect_int_eq(hakmem_ctl(name, &v, &sz, NULL, 0), 0, "read %s", name))
			return;
		expect_zu_eq(sz, k->size, "read %s: length", name);
		if (strcmp(k->type, "const char *") == 0)
			expect_ptr_not_null(v.s, "read %s", name);
		if (g_verbose && k->size == 8 && strcmp(k->type, "const char *") != 0)
			fprintf(stderr, "  %s = %" PRIu64 "\n", name, v.u64);
		/* The same through a MIB. */
		size_t mib[4], miblen = 4;
		if (expect_int_eq(hakmem_ctl_nametomib(name, mib, &miblen), 0, "mib %s", name))
			expect_int_eq(hakmem_ctl_bymib(mib, miblen, &v, &sz, NULL, 0), 0, "bymib %s", name);
	} else {
		if (sz == 0)
			sz = sizeof v.u64;
		expect_int_eq(hakmem_ctl(name, &v, &sz, NULL, 0), EPERM, "reading write-only %s", name);
	}
}

static void test_read_every_key(void)
{
	for (size_t i = 0; i < g_nkeys; i++)
		for_each_index(&g_keys[i], read_one);
}

/* An index one past the last is ENOENT, at every '#'. */
static void test_index_out_of_range(void)
{
	for (size_t i = 0; i < g_nkeys; i++) {
		const key_t_ *k = &g_keys[i];
		unsigned lim[2] = { 1, 1 };
		int n = key_limits(k, lim);
		for (int j = 0; j < n; j++) {
			size_t ix[2] = { 0, 0 };
			ix[j] = lim[j];
			char name[160];
			key_name(k, ix, name, sizeof name);
			uint64_t v;
			size_t sz = k->size ? k->size : sizeof v;
			int want = ENOENT;
			if (k->readable)
				expect_int_eq(hakmem_ctl(name, &v, &sz, NULL, 0), want, "read %s", name);
			else
				expect_int_eq(hakmem_ctl(name, NULL, NULL, NULL, 0), want, "write %s", name);
			size_t mib[4], miblen = 4;
			expect_int_eq(hakmem_ctl_nametomib(name, mib, &miblen), want, "mib %s", name);
			/* A MIB with the index past the end. */
			miblen = 4;
			ix[j] = 0;
			key_name(k, ix, name, sizeof name);
			if (expect_int_eq(hakmem_ctl_nametomib(name, mib, &miblen), 0, "mib %s", name)) {
				mib[1 + j] = lim[j];
				expect_int_eq(hakmem_ctl_bymib(mib, miblen, &v, &sz, NULL, 0), want,
				              "bymib %s with index %u", name, lim[j]);
			}
		}
	}
}

/* ---- writable keys ------------------------------------------------------ */

/* Integer values of the writable types, as int64_t. */
static int64_t get_int(const key_t_ *k, const char *name, int *err)
{
	union { unsigned u; int i; uint64_t u64; size_t sz; ssize_t ss; } v = { 0 };
	size_t sz = k->size;
	*err = hakmem_ctl(name, &v, &sz, NULL, 0);
	if (strcmp(k->type, "unsigned") == 0) return v.u;
	if (strcmp(k->type, "int") == 0) return v.i;
	if (strcmp(k->type, "ssize_t") == 0) return v.ss;
	return (int64_t)v.u64;
}

static int set_int(const key_t_ *k, const char *name, int64_t x, int64_t *old)
{
	union { unsigned u; int i; uint64_t u64; ssize_t ss; } v = { 0 }, o = { 0 };
	if (strcmp(k->type, "unsigned") == 0) v.u = (unsigned)x;
	else if (strcmp(k->type, "int") == 0) v.i = (int)x;
	else if (strcmp(k->type, "ssize_t") == 0) v.ss = x;
	else v.u64 = (uint64_t)x;
	size_t sz = k->size;
	int err = old ? hakmem_ctl(name, &o, &sz, &v, k->size) : hakmem_ctl(name, NULL, NULL, &v, k->size);
	if (old) {
		if (strcmp(k->type, "unsigned") == 0) *old = o.u;
		else if (strcmp(k->type, "int") == 0) *old = o.i;
		else if (strcmp(k->type, "ssize_t") == 0) *old = o.ss;
		else *old = (int64_t)o.u64;
	}
	return err;
}

static bool is_int_type(const char *t)
{
	return strcmp(t, "unsigned") == 0 || strcmp(t, "int") == 0 || strcmp(t, "uint64_t") == 0 ||
	       strcmp(t, "size_t") == 0 || strcmp(t, "ssize_t") == 0;
}

static void roundtrip_one(const key_t_ *k, const char *name)
{
	int err;
	int64_t old = get_int(k, name, &err);
	if (!expect_int_eq(err, 0, "read %s", name))
		return;
	if (strcmp(name, "epoch") == 0) {
		/* Any write refreshes; the number goes up by one. */
		expect_int_eq(set_int(k, name, 12345, NULL), 0, "write epoch");
		expect_u64_eq((uint64_t)get_int(k, name, &err), (uint64_t)old + 1, "epoch after a write");
		int64_t prev;
		expect_int_eq(set_int(k, name, 1, &prev), 0, "swap epoch");
		expect_u64_eq((uint64_t)prev, (uint64_t)old + 1, "epoch swapped out");
		return;
	}
	int64_t x = old > 1 ? old - 1 : old + 1;
	if (strcmp(name, "thread.arena") == 0)
		x = (old + 1) % ctl_uint("arenas.narenas");
	expect_int_eq(set_int(k, name, x, NULL), 0, "write %s = %lld", name, (long long)x);
	expect_u64_eq((uint64_t)get_int(k, name, &err), (uint64_t)x, "%s read back", name);
	/* A swap returns the value before it. */
	int64_t prev = -7;
	expect_int_eq(set_int(k, name, old, &prev), 0, "swap %s", name);
	expect_u64_eq((uint64_t)prev, (uint64_t)x, "%s swapped out", name);
	expect_u64_eq((uint64_t)get_int(k, name, &err), (uint64_t)old, "%s restored", name);
	/* The same through a MIB. */
	size_t mib[4], miblen = 4;
	if (expect_int_eq(hakmem_ctl_nametomib(name, mib, &miblen), 0, "mib %s", name)) {
		union { unsigned u; uint64_t u64; } nv = { 0 }, ov = { 0 };
		memcpy(&nv, &(int64_t){ x }, k->size); /* little-endian */
		size_t sz = k->size;
		expect_int_eq(hakmem_ctl_bymib(mib, miblen, &ov, &sz, &nv, k->size), 0, "bymib %s", name);
		expect_int_eq(hakmem_ctl_bymib(mib, miblen, &ov, &sz, NULL, 0), 0, "bymib %s", name);
		expect_int_eq(memcmp(&ov, &nv, k->size), 0, "bymib %s read back", name);
		expect_int_eq(set_int(k, name, old, NULL), 0, "restore %s", name);
	}
}

/* Two valid values of each writable string key, and one invalid one. */
static const struct { const char *name, *a, *b, *bad; } g_string_values[] = {
	{ "numa.policy", "preferred", "bind", "sideways" },
};

static void roundtrip_string(const key_t_ *k, const char *name)
{
	size_t i = 0;
	while (i < sizeof g_string_values / sizeof g_string_values[0] &&
	       strcmp(g_string_values[i].name, k->name) != 0)
		i++;
	if (!expect_true(i < sizeof g_string_values / sizeof g_string_values[0],
	                 "rw string key %s: add its values to g_string_values", k->name))
		return;
	const char *old = NULL, *back = NULL, *prev = NULL;
	size_t sz = sizeof old;
	if (!expect_int_eq(hakmem_ctl(name, &old, &sz, NULL, 0), 0, "read %s", name))
		return;
	const char *x = strcmp(old, g_string_values[i].a) == 0 ? g_string_values[i].b
	                                                        : g_string_values[i].a;
	expect_int_eq(hakmem_ctl(name, NULL, NULL, &x, sizeof x), 0, "write %s = %s", name, x);
	expect_int_eq(hakmem_ctl(name, &back, &sz, NULL, 0), 0);
	expect_str_eq(back, x, "%s read back", name);
	/* Refused: an unknown word, NULL; the value stays. */
	const char *bad = g_string_values[i].bad, *null = NULL;
	expect_int_eq(hakmem_ctl(name, NULL, NULL, &bad, sizeof bad), EINVAL, "%s = %s", name, bad);
	expect_int_eq(hakmem_ctl(name, NULL, NULL, &null, sizeof null), EINVAL, "%s = NULL", name);
	expect_int_eq(hakmem_ctl(name, NULL, NULL, &x, 1), EINVAL, "%s, newlen 1", name);
	expect_int_eq(hakmem_ctl(name, &back, &sz, NULL, 0), 0);
	expect_str_eq(back, x, "%s changed by a refused write", name);
	/* Swap back. */
	char oldcopy[64];
	snprintf(oldcopy, sizeof oldcopy, "%s", old);
	const char *restore = g_string_values[i].a;
	if (strcmp(oldcopy, g_string_values[i].b) == 0)
		restore = g_string_values[i].b;
	expect_int_eq(hakmem_ctl(name, &prev, &sz, &restore, sizeof restore), 0, "swap %s", name);
	expect_str_eq(prev, x, "%s swapped out", name);
	expect_int_eq(hakmem_ctl(name, &back, &sz, NULL, 0), 0);
	expect_str_eq(back, oldcopy, "%s restored", name);
}

/* A bool key: the other value, read back, a wrong size refused, restored. */
static void roundtrip_bool(const key_t_ *k, const char *name)
{
	bool old = false, back = false, x;
	size_t sz = sizeof old;
	if (!expect_int_eq(hakmem_ctl(name, &old, &sz, NULL, 0), 0, "read %s", name))
		return;
	x = !old;
	expect_int_eq(hakmem_ctl(name, NULL, NULL, &x, sizeof x), 0, "write %s = %d", name, x);
	expect_int_eq(hakmem_ctl(name, &back, &sz, NULL, 0), 0);
	expect_true(back == x, "%s read back", name);
	int wide = !x;
	expect_int_eq(hakmem_ctl(name, NULL, NULL, &wide, sizeof wide), EINVAL, "%s, newlen %zu", name,
	              sizeof wide);
	expect_int_eq(hakmem_ctl(name, &back, &sz, NULL, 0), 0);
	expect_true(back == x, "%s changed by a refused write", name);
	expect_int_eq(hakmem_ctl(name, &back, &sz, &old, sizeof old), 0, "swap %s", name);
	expect_true(back == x, "%s swapped out", name);
	expect_int_eq(hakmem_ctl(name, &back, &sz, NULL, 0), 0);
	expect_true(back == old, "%s restored", name);
}

static void test_roundtrip_writable(void)
{
	int n = 0;
	for (size_t i = 0; i < g_nkeys; i++) {
		const key_t_ *k = &g_keys[i];
		if (!(k->readable && k->writable))
			continue;
		if (strcmp(k->type, "const char *") == 0) {
			for_each_index(k, roundtrip_string);
			n++;
			continue;
		}
		if (strcmp(k->type, "bool") == 0) {
			for_each_index(k, roundtrip_bool);
			n++;
			continue;
		}
		if (!expect_true(is_int_type(k->type), "rw key %s of type %s: teach this test", k->name,
		                 k->type))
			continue;
		for_each_index(k, roundtrip_one);
		n++;
	}
	expect_int_ge(n, 8, "writable keys");
	/* 0 is a valid per-class capacity: no caching. */
	unsigned zero = 0, v = 99;
	size_t sz = sizeof v;
	expect_int_eq(hakmem_ctl("tiny.class.1.fast_cap", &v, &sz, &zero, sizeof zero), 0);
	unsigned back = 1;
	expect_int_eq(hakmem_ctl("tiny.class.1.fast_cap", &back, &sz, NULL, 0), 0);
	expect_u_eq(back, 0);
	expect_int_eq(hakmem_ctl("tiny.class.1.fast_cap", NULL, NULL, &v, sizeof v), 0);
}

/* The write-only (void) keys: act with newlen 0; any value is EINVAL. */
static void write_only_one(const key_t_ *k, const char *name)
{
	void *p = malloc(100);
	free(p);
	expect_int_eq(hakmem_ctl(name, NULL, NULL, NULL, 0), 0, "act %s", name);
	uint64_t v = 1;
	expect_int_eq(hakmem_ctl(name, NULL, NULL, &v, sizeof v), EINVAL, "%s with a value", name);
}

static void test_write_only(void)
{
	int n = 0;
	for (size_t i = 0; i < g_nkeys; i++) {
		if (strcmp(g_keys[i].mode, "w") != 0)
			continue;
		for_each_index(&g_keys[i], write_only_one);
		n++;
	}
	expect_int_ge(n, 1, "write-only keys");
}

/* ---- errors ------------------------------------------------------------- */

static void test_enoent(void)
{
	uint64_t v;
	size_t sz = sizeof v;
	const char *bad[] = { "no.such.key", "", "stats", "stats.", "tiny.class..size",
	                      "tiny.class.x.size", "epoch.", "Epoch", "tiny.class.99999999999999999999999.size",
	                      "arenas.class.#.size", "arenas.class.1a.size", "arenas.class.-1.size",
	                      "stats.arenas.0.class.0.0.nmalloc", ".epoch", "epoch..", "stats.arenas.#" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		expect_int_eq(hakmem_ctl(bad[i], &v, &sz, NULL, 0), ENOENT, "'%s'", bad[i]);
		size_t mib[4], miblen = 4;
		expect_int_eq(hakmem_ctl_nametomib(bad[i], mib, &miblen), ENOENT, "mib '%s'", bad[i]);
	}
	size_t mib[4] = { g_nkeys, 0, 0, 0 };
	expect_int_eq(hakmem_ctl_bymib(mib, 1, &v, &sz, NULL, 0), ENOENT, "mib past the table");
	mib[0] = SIZE_MAX;
	expect_int_eq(hakmem_ctl_bymib(mib, 1, &v, &sz, NULL, 0), ENOENT);
	/* A MIB of the wrong length. */
	size_t miblen = 4;
	expect_int_eq(hakmem_ctl_nametomib("stats.allocated", mib, &miblen), 0);
	expect_zu_eq(miblen, 1);
	expect_int_eq(hakmem_ctl_bymib(mib, 2, &v, &sz, NULL, 0), ENOENT, "miblen 2 for a plain key");
	/* thread.arena: an arena that does not exist. */
	unsigned a = ctl_uint("arenas.narenas"), before = ctl_uint("thread.arena");
	expect_int_eq(hakmem_ctl("thread.arena", NULL, NULL, &a, sizeof a), ENOENT, "arena %u", a);
	expect_u_eq(ctl_uint("thread.arena"), before);
}

/* Writes a value of the right size to every read-only key (and every
 * start-only opt.* key at run time): EPERM, value unchanged. */
static void eperm_one(const key_t_ *k, const char *name)
{
	unsigned char before[16] = { 0 }, after[16] = { 0 }, nv[16];
	memset(nv, 0x11, sizeof nv);
	const char *s = "roundrobin";
	const void *newp = strcmp(k->type, "const char *") == 0 ? (const void *)&s : nv;
	size_t sz = k->size;
	expect_int_eq(hakmem_ctl(name, before, &sz, NULL, 0), 0, "read %s", name);
	expect_int_eq(hakmem_ctl(name, NULL, NULL, newp, k->size), EPERM, "write read-only %s", name);
	/* and a swap */
	expect_int_eq(hakmem_ctl(name, after, &sz, newp, k->size), EPERM, "swap read-only %s", name);
	if (strncmp(name, "stats.", 6) != 0 && strncmp(name, "thread.", 7) != 0) {
		expect_int_eq(hakmem_ctl(name, after, &sz, NULL, 0), 0, "read %s", name);
		expect_int_eq(memcmp(before, after, k->size), 0, "%s changed", name);
	}
}

static void test_eperm(void)
{
	int n = 0;
	for (size_t i = 0; i < g_nkeys; i++) {
		const key_t_ *k = &g_keys[i];
		if (k->readable && !k->writable) {
			for_each_index(k, eperm_one);
			n++;
		}
	}
	expect_int_ge(n, 30, "read-only keys");
	/* Reading a write-only key: in test_read_every_key; once more here. */
	uint64_t v;
	size_t sz = sizeof v;
	expect_int_eq(hakmem_ctl("arenas.purge", &v, &sz, NULL, 0), EPERM);
	sz = 0;
	expect_int_eq(hakmem_ctl("thread.tcache.flush", &v, &sz, NULL, 0), EPERM);
}

/* Wrong sizes, and values out of range: EINVAL, value unchanged. */
static void einval_one(const key_t_ *k, const char *name)
{
	int err;
	int64_t before = get_int(k, name, &err);
	uint64_t big[2] = { 0, 0 };
	size_t sz;
	/* reads with a wrong length, or no buffer */
	size_t wrong[] = { 0, 1, k->size - 1, k->size + 1, 16 };
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		sz = wrong[i];
		expect_int_eq(hakmem_ctl(name, big, &sz, NULL, 0), EINVAL, "read %s, length %zu", name,
		              wrong[i]);
		expect_zu_eq(sz, wrong[i], "read %s: length changed", name);
	}
	sz = k->size;
	expect_int_eq(hakmem_ctl(name, NULL, &sz, NULL, 0), EINVAL, "read %s into NULL", name);
	expect_int_eq(hakmem_ctl(name, big, NULL, NULL, 0), EINVAL, "read %s, oldlenp NULL", name);
	/* writes with a wrong length */
	big[0] = big[1] = 1;
	for (size_t i = 1; i < sizeof wrong / sizeof wrong[0]; i++)
		expect_int_eq(hakmem_ctl(name, NULL, NULL, big, wrong[i]), EINVAL, "write %s, length %zu",
		              name, wrong[i]);
	expect_int_eq(hakmem_ctl(name, NULL, NULL, NULL, k->size), EINVAL, "write %s from NULL", name);
	/* values out of range: the type's maximum (above every key's limit),
	 * and -2 for the signed ones */
	int64_t huge = strcmp(k->type, "unsigned") == 0 ? (int64_t)UINT_MAX
	             : strcmp(k->type, "int") == 0 ? INT_MAX : -1 /* all ones */;
	/* Two keys document their own answer: epoch takes any value (and counts
	 * the write), thread.arena says ENOENT for an arena that does not exist. */
	if (strcmp(name, "epoch") == 0) {
		expect_int_eq(set_int(k, name, huge, NULL), 0, "write %s = max", name);
		return;
	}
	if (strcmp(name, "thread.arena") == 0) {
		expect_int_eq(set_int(k, name, huge, NULL), ENOENT, "write %s = max", name);
		expect_int_eq(set_int(k, name, (int64_t)1 << 31, NULL), ENOENT, "write %s = 2^31", name);
	} else if (strcmp(k->type, "ssize_t") != 0 && strcmp(k->type, "int") != 0)
		expect_int_eq(set_int(k, name, huge, NULL), EINVAL, "write %s = max", name);
	if (strcmp(k->type, "ssize_t") == 0 || strcmp(k->type, "int") == 0)
		expect_int_eq(set_int(k, name, -2, NULL), EINVAL, "write %s = -2", name);
	if (strcmp(k->type, "ssize_t") == 0)
		expect_int_eq(set_int(k, name, INT64_MAX, NULL), EINVAL, "write %s = max", name);
	int64_t after = get_int(k, name, &err);
	expect_u64_eq((uint64_t)after, (uint64_t)before, "%s changed by a refused write", name);
}

static void test_einval(void)
{
	for (size_t i = 0; i < g_nkeys; i++) {
		const key_t_ *k = &g_keys[i];
		if (k->readable && k->writable && is_int_type(k->type))
			for_each_index(k, einval_one);
	}
	/* Named limits of the tunables. */
	struct { const char *name; unsigned v; } bad[] = {
		{ "tiny.fast_cap", 4097 }, { "tiny.refill", 0 }, { "tiny.refill", 4097 },
		{ "tiny.class.0.fast_cap", 100000 }, { "arenas.class.0.fast_cap", 4097 },
		{ "tiny.drain_interval", (1u << 30) + 1 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		unsigned before = ctl_uint(bad[i].name);
		expect_int_eq(hakmem_ctl(bad[i].name, NULL, NULL, &bad[i].v, sizeof bad[i].v), EINVAL,
		              "%s = %u", bad[i].name, bad[i].v);
		expect_u_eq(ctl_uint(bad[i].name), before, "%s", bad[i].name);
	}
	size_t big = (size_t)1 << 45, before = 0, sz = sizeof before;
	hakmem_ctl("large.cache_max", &before, &sz, NULL, 0);
	expect_int_eq(hakmem_ctl("large.cache_max", NULL, NULL, &big, sizeof big), EINVAL);
	size_t after = 1;
	hakmem_ctl("large.cache_max", &after, &sz, NULL, 0);
	expect_zu_eq(after, before);
	/* A string key read with the wrong size. */
	const char *s[2];
	sz = sizeof s;
	expect_int_eq(hakmem_ctl("version", s, &sz, NULL, 0), EINVAL);
	/* NULL arguments to nametomib. */
	size_t mib[4], miblen = 4;
	expect_int_eq(hakmem_ctl_nametomib(NULL, mib, &miblen), EINVAL);
	expect_int_eq(hakmem_ctl_nametomib("epoch", NULL, &miblen), EINVAL);
	miblen = 1;
	expect_int_eq(hakmem_ctl_nametomib("stats.arenas.0.class.0.nmalloc", mib, &miblen), EINVAL,
	              "MIB buffer too short");
}

/* ---- statistics follow allocations -------------------------------------- */

#define N_BLOCKS 2000

static const size_t g_sizes[] = { 8, 48, 200, 1000, 4096, 20000, 100000, 2000000 };
#define NSIZES (sizeof g_sizes / sizeof g_sizes[0])

static void test_stats_one_thread(void)
{
	static void *p[N_BLOCKS];
	for (size_t s = 0; s < NSIZES; s++) {
		size_t size = g_sizes[s];
		size_t n = size > 32768 ? (size > 1835008 ? 20 : 100) : N_BLOCKS;
		ctl_epoch();
		uint64_t a0 = ctl_u64("stats.allocated"), m0 = ctl_u64("stats.nmalloc");
		uint64_t f0 = ctl_u64("stats.nfree");
		uint64_t t0 = ctl_u64("thread.allocated"), d0 = ctl_u64("thread.deallocated");
		for (size_t i = 0; i < n; i++) {
			p[i] = malloc(size);
			if (!expect_ptr_not_null(p[i]))
				return;
			memset(p[i], 1, size);
		}
		ctl_epoch();
		uint64_t a1 = ctl_u64("stats.allocated"), m1 = ctl_u64("stats.nmalloc");
		uint64_t t1 = ctl_u64("thread.allocated");
		expect_u64_ge(a1, a0 + n * size, "stats.allocated after %zu x %zu bytes", n, size);
		expect_u64_ge(m1, m0 + n, "stats.nmalloc, %zu bytes", size);
		expect_u64_ge(t1, t0 + n * size, "thread.allocated, %zu bytes", size);
		for (size_t i = 0; i < n; i++)
			free(p[i]);
		ctl_epoch();
		uint64_t a2 = ctl_u64("stats.allocated"), f2 = ctl_u64("stats.nfree");
		uint64_t d2 = ctl_u64("thread.deallocated");
		expect_u64_le(a2 + n * size, a1, "stats.allocated after the frees, %zu bytes", size);
		expect_u64_ge(f2, f0 + n, "stats.nfree, %zu bytes", size);
		expect_u64_ge(d2, d0 + n * size, "thread.deallocated, %zu bytes", size);
		if (size > 1835008) { /* above the largest class: large */
			expect_u64_ge(ctl_u64("stats.large.nmalloc"), n);
			expect_u64_ge(ctl_u64("stats.large.nfree"), n);
		}
		if (g_verbose)
			fprintf(stderr, "  %zu x %zu: allocated %" PRIu64 " -> %" PRIu64 " -> %" PRIu64 "\n",
			        n, size, a0, a1, a2);
	}
	/* Without a new epoch the snapshot stays as it was. */
	ctl_epoch();
	uint64_t a = ctl_u64("stats.allocated");
	void *q = malloc(1 << 20);
	expect_u64_eq(ctl_u64("stats.allocated"), a, "the snapshot moved without an epoch");
	ctl_epoch();
	expect_u64_ge(ctl_u64("stats.allocated"), a + (1 << 20));
	free(q);
}

#define NTHREADS 4
#define MT_BLOCKS 1500
#define MT_SIZE 256

typedef struct {
	pthread_barrier_t *bar;
	void **blocks;
	bool free_own; /* free in the thread; else leave to main after exit */
} mt_arg_t;

static void *mt_worker(void *arg)
{
	mt_arg_t *a = arg;
	uint64_t t0 = ctl_u64("thread.allocated"), d0 = ctl_u64("thread.deallocated");
	for (int i = 0; i < MT_BLOCKS; i++) {
		a->blocks[i] = malloc(MT_SIZE);
		memset(a->blocks[i], 2, MT_SIZE);
	}
	expect_u64_ge(ctl_u64("thread.allocated"), t0 + MT_BLOCKS * MT_SIZE, "thread.allocated");
	pthread_barrier_wait(a->bar); /* main reads the totals */
	pthread_barrier_wait(a->bar);
	if (a->free_own) {
		for (int i = 0; i < MT_BLOCKS; i++)
			free(a->blocks[i]);
		expect_u64_ge(ctl_u64("thread.deallocated"), d0 + MT_BLOCKS * MT_SIZE,
		              "thread.deallocated");
		pthread_barrier_wait(a->bar); /* main reads again, the thread alive */
		pthread_barrier_wait(a->bar);
	}
	return NULL;
}

static void mt_round(bool free_own)
{
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, NTHREADS + 1);
	static void *blocks[NTHREADS][MT_BLOCKS];
	pthread_t th[NTHREADS];
	mt_arg_t args[NTHREADS];
	ctl_epoch();
	uint64_t a0 = ctl_u64("stats.allocated");
	for (int t = 0; t < NTHREADS; t++) {
		args[t] = (mt_arg_t){ &bar, blocks[t], free_own };
		expect_int_eq(pthread_create(&th[t], NULL, mt_worker, &args[t]), 0);
	}
	const uint64_t total = (uint64_t)NTHREADS * MT_BLOCKS * MT_SIZE;
	pthread_barrier_wait(&bar);
	/* All threads hold their blocks and are alive (their counts unmerged). */
	ctl_epoch();
	uint64_t a1 = ctl_u64("stats.allocated");
	expect_u64_ge(a1, a0 + total, "live threads' blocks, free_own=%d", free_own);
	pthread_barrier_wait(&bar);
	if (free_own) {
		pthread_barrier_wait(&bar);
		ctl_epoch();
		uint64_t a2 = ctl_u64("stats.allocated");
		expect_u64_le(a2 + total, a1, "after the threads freed theirs");
		pthread_barrier_wait(&bar);
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	if (!free_own) {
		/* The threads exited holding their blocks; main frees them. */
		ctl_epoch();
		uint64_t a2 = ctl_u64("stats.allocated");
		expect_u64_ge(a2, a0 + total, "blocks of exited threads");
		for (int t = 0; t < NTHREADS; t++)
			for (int i = 0; i < MT_BLOCKS; i++)
				free(blocks[t][i]);
		ctl_epoch();
		uint64_t a3 = ctl_u64("stats.allocated");
		expect_u64_le(a3 + total, a2, "after main freed the threads' blocks");
		if (g_verbose)
			fprintf(stderr, "  remote: %" PRIu64 " -> %" PRIu64 " -> %" PRIu64 "\n", a0, a2, a3);
	}
	pthread_barrier_destroy(&bar);
}

static void test_stats_threads(void)
{
	mt_round(true);
	mt_round(false);
}

/* The JSON printer's output is one document with the totals of the keys. */
static void json_cb(void *opaque, const char *text)
{
	char **buf = opaque;
	size_t n = strlen(*buf), m = strlen(text);
	char *nb = realloc(*buf, n + m + 1);
	if (nb == NULL)
		return;
	memcpy(nb + n, text, m + 1);
	*buf = nb;
}

static void test_stats_print(void)
{
	char *buf = calloc(1, 1);
	hakmem_stats_print(json_cb, &buf, "J");
	expect_true(buf[0] == '{', "JSON starts with {: %.40s", buf);
	expect_true(strstr(buf, "\"stats\":{\"allocated\":") != NULL, "%.200s", buf);
	expect_true(strstr(buf, "\"classes\":{") != NULL);
	size_t len = strlen(buf);
	expect_true(len > 2 && buf[len - 1] == '\n' && buf[len - 2] == '}');
	free(buf);
	buf = calloc(1, 1);
	hakmem_stats_print(json_cb, &buf, "");
	expect_true(strstr(buf, "allocated") != NULL && buf[0] != '{', "%.80s", buf);
	free(buf);
}

/* ---- the conf string ------------------------------------------------------ */

/* The child: prints the keys the conf tests set, then "alive". */
static int child_main(void)
{
	static const char *const keys[] = {
		"tiny.fast_cap", "tiny.refill", "tiny.drain_interval", "decay_ms", "large.cache_max",
		"opt.narenas", "arenas.narenas", "opt.bind", "tiny.class.2.fast_cap",
		"opt.stats_print",
	};
	void *p = malloc(100);
	free(p);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		union { unsigned u; size_t z; ssize_t s; const char *str; } v;
		memset(&v, 0, sizeof v);
		const char *k = keys[i];
		size_t sz = sizeof v.u;
		if (strcmp(k, "opt.bind") == 0 || strcmp(k, "opt.stats_print") == 0) {
			sz = sizeof v.str;
			hakmem_ctl(k, &v, &sz, NULL, 0);
			printf("%s=%s\n", k, v.str);
		} else if (strcmp(k, "decay_ms") == 0 || strcmp(k, "large.cache_max") == 0) {
			sz = sizeof v.z;
			hakmem_ctl(k, &v, &sz, NULL, 0);
			printf("%s=%zd\n", k, v.s);
		} else {
			hakmem_ctl(k, &v, &sz, NULL, 0);
			printf("%s=%u\n", k, v.u);
		}
	}
	printf("alive\n");
	return 0;
}

/* Runs this program with --child and HAKMEM_CONF=conf (unset if NULL);
 * captures stdout and stderr. Returns the exit status, or -1. */
static int run_child(const char *conf, char *out, size_t outsz, char *err, size_t errsz)
{
	FILE *fo = tmpfile(), *fe = tmpfile();
	if (fo == NULL || fe == NULL)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fileno(fo), 1);
		dup2(fileno(fe), 2);
		if (conf)
			setenv("HAKMEM_CONF", conf, 1);
		else
			unsetenv("HAKMEM_CONF");
		execl("/proc/self/exe", "test_ctl", "--child", (char *)NULL);
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
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* out holds "key=value" lines: is key's value want? */
static bool has_line(const char *out, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = out; (p = strstr(p, line)) != NULL; p++)
		if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

#define expect_line(out, line) expect_true(has_line(out, line), "no line '%s' in:\n%s", line, out)

static int count_lines(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char line[512];
		snprintf(line, sizeof line, "%.*s", (int)len, p);
		if (needle == NULL || strstr(line, needle) != NULL)
			n++;
		p += len + (e ? 1 : 0);
	}
	return n;
}

static void test_conf_env(void)
{
	char out[4096], err[4096];
	int rc = run_child("tiny.fast_cap=77,decay_ms=2500,large.cache_max=2m,opt.narenas=3,"
	                   "opt.bind=roundrobin, tiny.class.2.fast_cap=9,opt.stats_print=none",
	                   out, sizeof out, err, sizeof err);
	expect_int_eq(rc, 0, "child: %s", err);
	expect_line(out, "tiny.fast_cap=77");
	expect_line(out, "decay_ms=2500");
	expect_line(out, "large.cache_max=2097152");
	expect_line(out, "opt.narenas=3");
	expect_line(out, "arenas.narenas=3");
	expect_line(out, "opt.bind=roundrobin");
	expect_line(out, "tiny.class.2.fast_cap=9");
	expect_line(out, "tiny.drain_interval=555"); /* from hakmem_conf */
	expect_line(out, "alive");
	expect_int_eq(count_lines(err, NULL), 0, "stderr:\n%s", err);
}

static void test_conf_symbol(void)
{
	/* This process: the hakmem_conf above (unless the environment set
	 * the same key). */
	const char *env = getenv("HAKMEM_CONF");
	if (env == NULL || strstr(env, "tiny.drain_interval") == NULL)
		expect_u_eq(ctl_uint("tiny.drain_interval"), 555, "hakmem_conf symbol");
	char out[4096], err[4096];
	expect_int_eq(run_child(NULL, out, sizeof out, err, sizeof err), 0, "child: %s", err);
	expect_line(out, "tiny.drain_interval=555");
	expect_line(out, "tiny.fast_cap=1024");
	/* HAKMEM_CONF comes after the symbol: it wins. */
	expect_int_eq(run_child("tiny.drain_interval=777", out, sizeof out, err, sizeof err), 0);
	expect_line(out, "tiny.drain_interval=777");
}

static void test_conf_bad_entries(void)
{
	/* Each bad entry: one line on stderr naming it; the good ones apply and
	 * the program runs on. */
	static const struct { const char *entry, *name; } bad[] = {
		{ "no.such.key=1", "no.such.key" },
		{ "tiny.refill=0", "tiny.refill" },          /* out of range */
		{ "tiny.fast_cap=lots", "tiny.fast_cap" },   /* not a number */
		{ "stats.allocated=5", "stats.allocated" },  /* read-only */
		{ "epoch=1", "epoch" },                      /* run time only */
		{ "justaname", "justaname" },                /* no '=' */
		{ "tiny.class.999.fast_cap=3", "tiny.class.999.fast_cap" }, /* index */
		{ "opt.bind=sideways", "opt.bind" },
		{ "decay_ms=-5", "decay_ms" },
	};
	char conf[1024] = "tiny.fast_cap=77";
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		strcat(conf, ",");
		strcat(conf, bad[i].entry);
	}
	strcat(conf, ",decay_ms=2500,large.cache_max=1m");
	char out[4096], err[8192];
	int rc = run_child(conf, out, sizeof out, err, sizeof err);
	expect_int_eq(rc, 0, "the program stopped: %s", err);
	expect_line(out, "alive");
	expect_line(out, "tiny.fast_cap=77");
	expect_line(out, "tiny.refill=32");
	expect_line(out, "decay_ms=2500");
	expect_line(out, "large.cache_max=1048576");
	expect_line(out, "opt.bind=cpu");
	int nbad = (int)(sizeof bad / sizeof bad[0]);
	expect_int_eq(count_lines(err, NULL), nbad, "one line per bad entry:\n%s", err);
	for (int i = 0; i < nbad; i++) {
		char quoted[128];
		snprintf(quoted, sizeof quoted, "'%s'", bad[i].name);
		expect_int_eq(count_lines(err, quoted), 1, "a line naming %s in:\n%s", quoted, err);
	}
	expect_int_eq(count_lines(err, "HAKMEM_CONF"), nbad, "lines name HAKMEM_CONF:\n%s", err);
	expect_int_eq(count_lines(err, "'tiny.fast_cap=77'"), 0);
	expect_int_eq(count_lines(err, "large.cache_max"), 0);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main();
	g_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
	load_keys();
	test_run(test_key_table);
	test_run(test_read_every_key);
	test_run(test_index_out_of_range);
	test_run(test_roundtrip_writable);
	test_run(test_write_only);
	test_run(test_enoent);
	test_run(test_eperm);
	test_run(test_einval);
	test_run(test_stats_one_thread);
	test_run(test_stats_threads);
	test_run(test_stats_print);
	test_run(test_conf_env);
	test_run(test_conf_symbol);
	test_run(test_conf_bad_entries);
	return test_summary();
}
