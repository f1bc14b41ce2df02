/* jemalloc.c - jemalloc's non-standard API with jemalloc's names and
 * semantics, for programs written for jemalloc (redis, ...) that link or
 * preload hakmem: mallocx and friends with the MALLOCX_* flags, nallocx and
 * sallocx answering hakmem's real sizes, mallctl as a mapping layer onto
 * hakmem_ctl, and malloc_stats_print onto hakmem_stats_print. Also
 * malloc_good_size. hakmem(3) says what each name means here, and which
 * jemalloc names have no meaning in hakmem.
 *
 * mallctl keeps jemalloc's conventions, which differ from hakmem_ctl's: a
 * read happens only when both oldp and oldlenp are given, a wrong *oldlenp
 * copies what fits and gives EINVAL, a read-write key reads the old value
 * before it writes (epoch writes first), and a MIB has one number per dotted
 * component with an index where jemalloc puts it (so programs that change
 * mib[1] of "arena.0.purge" to walk arenas work).
 */
#include "internal.h"
#include "arena.h"
#include "conf.h"
#include "entry.h"
#include "init.h"
#include "large.h"
#include "log.h"
#include "registry.h"
#include "sizeclass.h"
#include "superslab.h"

#include <hakmem.h>
#include <hakmem_jemalloc.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* ---- flags ---- */

#define FLAG_LG_ALIGN_MASK 0x3f

/* The alignment MALLOCX_LG_ALIGN asks for; 0 when none beyond malloc's
 * (every hakmem block is 8-aligned). MALLOCX_TCACHE* and MALLOCX_ARENA are
 * ignored (hakmem(3)). */
static size_t flags_align(int flags)
{
	unsigned la = (unsigned)flags & FLAG_LG_ALIGN_MASK;
	return la <= 3 ? 0 : (size_t)1 << la;
}

/* ---- sizes ---- */

static int init_or_eagain(void)
{
	int saved = errno;
	int err = hakmem_init();
	errno = saved;
	return err == 0 ? 0 : EAGAIN;
}

/* The usable size an allocation of `size` aligned to `align` (0: malloc's)
 * gets: the rules of malloc.c (aligned_impl), tcache.c (alloc_class) and
 * large.c (large_alloc) for a block served fresh. 0 when it cannot be
 * served. */
static size_t usable_for(size_t size, size_t align)
{
	if (align != 0 && align <= 16 && (size & 15) == 0)
		align = 0; /* aligned_impl: a plain malloc */
	size_t a = align < 8 ? 8 : align;
	if (size <= __atomic_load_n(&g_conf.large_threshold, __ATOMIC_RELAXED)) {
		unsigned c = size_to_class_aligned(size, a);
		if (c < NCLASSES)
			return class_size[c];
	}
	/* A mapping larger than the address space (47 bits) is never made. */
	const size_t vm_max = (size_t)1 << 47;
	if (size > vm_max || a > vm_max)
		return 0;
	if (a >= SS_SIZE) { /* large_alloc_huge */
		size_t body = ALIGN_UP(size, PAGE_SIZE);
		return body + a > vm_max ? 0 : body;
	}
	size_t off = a > LARGE_HDR ? a : LARGE_HDR;
	size_t map = ALIGN_UP(off + size, PAGE_SIZE);
	return map > vm_max ? 0 : map - off;
}

EXPORT size_t nallocx(size_t size, int flags)
{
	if (UNLIKELY(!hakmem_ready()))
		(void)init_or_eagain(); /* the conf string may set large.threshold */
	return usable_for(size, flags_align(flags));
}

EXPORT size_t malloc_good_size(size_t size)
{
	size_t n = nallocx(size, 0);
	return n != 0 ? n : size;
}

EXPORT size_t sallocx(const void *p, int flags)
{
	return entry_usable_size(p);
}

/* ---- allocation ---- */

/* Zeroes the usable bytes of p from `from` on. */
static void zero_tail(void *p, size_t from)
{
	size_t n = entry_usable_size(p);
	if (n > from)
		memset((char *)p + from, 0, n - from);
}

EXPORT void *mallocx(size_t size, int flags)
{
	size_t align = flags_align(flags);
	if (align == 0) {
		if (flags & MALLOCX_ZERO) {
			void *p = entry_calloc(1, size);
			if (p != NULL)
				zero_tail(p, size); /* MALLOCX_ZERO zeroes the usable size */
			return p;
		}
		return entry_malloc(size);
	}
	void *p = entry_aligned_alloc(align, size);
	if (p != NULL && (flags & MALLOCX_ZERO))
		zero_tail(p, 0);
	return p;
}

/* p's block (of `old` usable bytes) resized where it lies to hold `size`:
 * its usable size afterwards, below `size` when it could not grow. The
 * address stays, and so does its alignment. A block of a class changes
 * class in place where its slab allows (arena.c); a large block gives up its
 * tail, and never grows here (growth may move it: large.c). */
static size_t resize_in_place(void *p, size_t old, size_t size)
{
	chunk_t *c = registry_lookup(p);
	if (c == NULL)
		return old;
	if (c->kind == CHUNK_LARGE) {
		if (size >= old || size <= CLASS_MAX_SIZE)
			return old;
		void *q = large_resize(p, size); /* a shrink: in place */
		return q == p ? entry_usable_size(p) : old;
	}
	if (size > CLASS_MAX_SIZE ||
	    size > __atomic_load_n(&g_conf.large_threshold, __ATOMIC_RELAXED))
		return old;
	return arena_resize_in_place(p, size) ? entry_usable_size(p) : old;
}

EXPORT void *rallocx(void *p, size_t size, int flags)
{
	if (p == NULL)
		return mallocx(size, flags);
	if (size == 0)
		size = 1; /* never realloc's free-and-NULL: NULL means failure here */
	size_t align = flags_align(flags);
	size_t old = entry_usable_size(p);
	void *q;
	if (align == 0) {
		q = entry_realloc(p, size);
	} else if (((uintptr_t)p & (align - 1)) == 0 && resize_in_place(p, old, size) >= size) {
		q = p;
	} else {
		q = entry_aligned_alloc(align, size);
		if (q == NULL)
			return NULL; /* p is kept */
		memcpy(q, p, old < size ? old : size);
		entry_free(p);
	}
	if (q != NULL && (flags & MALLOCX_ZERO))
		zero_tail(q, old); /* the old usable size is the boundary */
	return q;
}

EXPORT size_t xallocx(void *p, size_t size, size_t extra, int flags)
{
	size_t old = entry_usable_size(p);
	size_t align = flags_align(flags);
	if (align != 0 && ((uintptr_t)p & (align - 1)) != 0)
		return old;
	size_t want = size + extra < size ? SIZE_MAX : size + extra;
	size_t got = old;
	if (want != old)
		got = resize_in_place(p, old, want);
	if (got < size && want != size)
		got = resize_in_place(p, got, size);
	if ((flags & MALLOCX_ZERO) && got > old)
		zero_tail(p, old);
	return got;
}

EXPORT void dallocx(void *p, int flags)
{
	entry_free(p);
}

EXPORT void sdallocx(void *p, size_t size, int flags)
{
	entry_free_sized(p, size);
}

/* ---- mallctl ---- */

enum je_type { J_VOID, J_BOOL, J_UNSIGNED, J_SIZE, J_SSIZE, J_U64, J_STRING, J_U64P };

static const size_t g_je_size[] = {
	[J_VOID] = 0, [J_BOOL] = sizeof(bool), [J_UNSIGNED] = sizeof(unsigned),
	[J_SIZE] = sizeof(size_t), [J_SSIZE] = sizeof(ssize_t), [J_U64] = sizeof(uint64_t),
	[J_STRING] = sizeof(const char *), [J_U64P] = sizeof(uint64_t *),
};

enum {
	JM_R,      /* read-only: a write is EPERM */
	JM_RW,     /* reads the old value, then writes */
	JM_WR,     /* writes, then reads (epoch) */
	JM_ACTION, /* neither read nor written: any oldp, oldlenp, newp or newlen is EPERM */
};

typedef union je_val {
	bool b;
	unsigned u;
	size_t sz;
	ssize_t ss;
	uint64_t u64;
	const char *s;
	uint64_t *u64p;
} je_val_t;

struct je_key;
typedef int (*je_get_fn)(const struct je_key *k, const size_t *ix, je_val_t *v);
typedef int (*je_set_fn)(const struct je_key *k, const size_t *ix, const je_val_t *v);

/* Index kinds: what a '#' component accepts. */
enum {
	IX_NONE,
	IX_ARENA_ALL, /* an arena, or all of them: MALLCTL_ARENAS_ALL or narenas */
	IX_CLASS,     /* a size class */
};

typedef struct je_key {
	const char *name;  /* jemalloc's, '#' a decimal index */
	uint8_t type;      /* enum je_type */
	uint8_t mode;      /* JM_* */
	uint8_t index;     /* IX_*: the index of a '#' (at most one) */
	const char *ctl;   /* the hakmem_ctl key of the same type it maps onto ('#' the
	                      same index), or NULL where the handlers answer */
	je_get_fn get;     /* NULL: read ctl */
	je_set_fn set;     /* NULL: write ctl */
	uint64_t arg;      /* a constant, for get_const */
} je_key_t;

#define JE_MIB_MAX 8

/* hakmem key `pat` with its '#' replaced by ix. */
static const char *ctl_name(char *buf, size_t size, const char *pat, const size_t *ix)
{
	const char *h = strchr(pat, '#');
	size_t n = h != NULL ? (size_t)(h - pat) : 0;
	if (h == NULL || n >= size)
		return pat;
	memcpy(buf, pat, n);
	hm_format(buf + n, size - n, "%zu%s", ix[0], h + 1);
	return buf;
}

static int ctl_get(const je_key_t *k, const size_t *ix, je_val_t *v)
{
	char buf[96];
	size_t sz = g_je_size[k->type];
	return hakmem_ctl(ctl_name(buf, sizeof buf, k->ctl, ix), v, &sz, NULL, 0);
}

static int ctl_set(const je_key_t *k, const size_t *ix, const je_val_t *v)
{
	char buf[96];
	return hakmem_ctl(ctl_name(buf, sizeof buf, k->ctl, ix), NULL, NULL,
	                  k->type == J_VOID ? NULL : v, g_je_size[k->type]);
}

static int get_const(const je_key_t *k, const size_t *ix, je_val_t *v)
{
	switch (k->type) {
	case J_BOOL:     v->b = k->arg != 0; break;
	case J_UNSIGNED: v->u = (unsigned)k->arg; break;
	case J_SSIZE:    v->ss = (ssize_t)k->arg; break;
	default:         v->sz = (size_t)k->arg; break;
	}
	return 0;
}

static int get_epoch(const je_key_t *k, const size_t *ix, je_val_t *v)
{
	size_t sz = sizeof v->u64;
	return hakmem_ctl("epoch", &v->u64, &sz, NULL, 0);
}

static int set_epoch(const je_key_t *k, const size_t *ix, const je_val_t *v)
{
	return hakmem_ctl("epoch", NULL, NULL, &v->u64, sizeof v->u64);
}

/* thread.allocatedp / thread.deallocatedp: counters in the thread's own
 * storage, valid for its life. hakmem's fast paths count no bytes (malloc
 * counts nothing, free one block), so the counters take the current values
 * at each mallctl read of these four keys, not live. */
static __thread uint64_t t_allocated, t_deallocated;

static int thread_bytes_refresh(void)
{
	uint64_t a, d;
	size_t sz = sizeof a;
	int err = hakmem_ctl("thread.allocated", &a, &sz, NULL, 0);
	if (err == 0)
		err = hakmem_ctl("thread.deallocated", &d, &sz, NULL, 0);
	if (err == 0) {
		t_allocated = a;
		t_deallocated = d;
	}
	return err;
}

/* arg 0: allocated, 1: deallocated */
static int get_thread_bytes(const je_key_t *k, const size_t *ix, je_val_t *v)
{
	int err = thread_bytes_refresh();
	v->u64 = k->arg == 0 ? t_allocated : t_deallocated;
	return err;
}

static int get_thread_bytesp(const je_key_t *k, const size_t *ix, je_val_t *v)
{
	int err = thread_bytes_refresh();
	v->u64p = k->arg == 0 ? &t_allocated : &t_deallocated;
	return err;
}

static int set_thread_arena(const je_key_t *k, const size_t *ix, const je_val_t *v)
{
	int err = hakmem_ctl("thread.arena", NULL, NULL, &v->u, sizeof v->u);
	return err == ENOENT ? EFAULT : err; /* jemalloc: EFAULT for no such arena */
}

static bool all_arenas(size_t i)
{
	return i == MALLCTL_ARENAS_ALL || i == g_narenas; /* jemalloc: narenas means all too */
}

static int set_arena_purge(const je_key_t *k, const size_t *ix, const je_val_t *v)
{
	if (all_arenas(ix[0])) /* the calling thread's cache too: more goes back */
		return hakmem_ctl("arenas.purge", NULL, NULL, NULL, 0);
	return ctl_set(k, ix, v);
}

/* Decay-driven purging: what has been free for decay_ms goes back now. */
static int set_arena_decay(const je_key_t *k, const size_t *ix, const je_val_t *v)
{
	for (unsigned i = 0; i < g_narenas; i++)
		if ((all_arenas(ix[0]) || i == ix[0]) && arena_ready(&g_arenas[i]))
			arena_purge(&g_arenas[i], false);
	return 0;
}

/* Process-wide in hakmem: every arena's delay is decay_ms. */
static int get_decay_ms(const je_key_t *k, const size_t *ix, je_val_t *v)
{
	size_t sz = sizeof v->ss;
	return hakmem_ctl("decay_ms", &v->ss, &sz, NULL, 0);
}

static int set_decay_ms(const je_key_t *k, const size_t *ix, const je_val_t *v)
{
	return hakmem_ctl("decay_ms", NULL, NULL, &v->ss, sizeof v->ss);
}

static int get_opt_tcache(const je_key_t *k, const size_t *ix, je_val_t *v)
{
	unsigned cap;
	size_t sz = sizeof cap;
	int err = hakmem_ctl("tiny.fast_cap", &cap, &sz, NULL, 0);
	v->b = cap != 0;
	return err;
}

/* arg 0: opt.stats_print (bool), 1: opt.stats_print_opts (string) */
static int get_opt_stats_print(const je_key_t *k, const size_t *ix, je_val_t *v)
{
	const char *mode = "none";
	size_t sz = sizeof mode;
	int err = hakmem_ctl("opt.stats_print", &mode, &sz, NULL, 0);
	if (k->arg == 0)
		v->b = strcmp(mode, "none") != 0;
	else
		v->s = strcmp(mode, "json") == 0 ? "J" : "";
	return err;
}

static const je_key_t g_je_keys[] = {
	{ "version", J_STRING, JM_R, IX_NONE, "version", NULL, NULL, 0 },
	{ "epoch", J_U64, JM_WR, IX_NONE, NULL, get_epoch, set_epoch, 0 },
	{ "background_thread", J_BOOL, JM_RW, IX_NONE, "background_thread", NULL, NULL, 0 },
	{ "config.debug", J_BOOL, JM_R, IX_NONE, NULL, get_const, NULL, HAKMEM_DEBUG },
	{ "config.stats", J_BOOL, JM_R, IX_NONE, NULL, get_const, NULL, 1 },
	{ "opt.narenas", J_UNSIGNED, JM_R, IX_NONE, "arenas.narenas", NULL, NULL, 0 },
	{ "opt.dirty_decay_ms", J_SSIZE, JM_R, IX_NONE, NULL, get_decay_ms, NULL, 0 },
	{ "opt.muzzy_decay_ms", J_SSIZE, JM_R, IX_NONE, NULL, get_const, NULL, 0 },
	{ "opt.background_thread", J_BOOL, JM_R, IX_NONE, "opt.background_thread", NULL, NULL, 0 },
	{ "opt.tcache", J_BOOL, JM_R, IX_NONE, NULL, get_opt_tcache, NULL, 0 },
	{ "opt.stats_print", J_BOOL, JM_R, IX_NONE, NULL, get_opt_stats_print, NULL, 0 },
	{ "opt.stats_print_opts", J_STRING, JM_R, IX_NONE, NULL, get_opt_stats_print, NULL, 1 },
	{ "thread.arena", J_UNSIGNED, JM_RW, IX_NONE, "thread.arena", NULL, set_thread_arena, 0 },
	{ "thread.allocated", J_U64, JM_R, IX_NONE, NULL, get_thread_bytes, NULL, 0 },
	{ "thread.allocatedp", J_U64P, JM_R, IX_NONE, NULL, get_thread_bytesp, NULL, 0 },
	{ "thread.deallocated", J_U64, JM_R, IX_NONE, NULL, get_thread_bytes, NULL, 1 },
	{ "thread.deallocatedp", J_U64P, JM_R, IX_NONE, NULL, get_thread_bytesp, NULL, 1 },
	{ "thread.tcache.flush", J_VOID, JM_ACTION, IX_NONE, "thread.tcache.flush", NULL, NULL, 0 },
	{ "arenas.narenas", J_UNSIGNED, JM_R, IX_NONE, "arenas.narenas", NULL, NULL, 0 },
	{ "arenas.page", J_SIZE, JM_R, IX_NONE, NULL, get_const, NULL, PAGE_SIZE },
	{ "arenas.quantum", J_SIZE, JM_R, IX_NONE, NULL, get_const, NULL, 16 },
	{ "arenas.nbins", J_UNSIGNED, JM_R, IX_NONE, "arenas.nclasses", NULL, NULL, 0 },
	{ "arenas.bin.#.size", J_SIZE, JM_R, IX_CLASS, "arenas.class.#.size", NULL, NULL, 0 },
	{ "arenas.nlextents", J_UNSIGNED, JM_R, IX_NONE, NULL, get_const, NULL, 0 },
	{ "arenas.dirty_decay_ms", J_SSIZE, JM_RW, IX_NONE, NULL, get_decay_ms, set_decay_ms, 0 },
	{ "arenas.muzzy_decay_ms", J_SSIZE, JM_R, IX_NONE, NULL, get_const, NULL, 0 },
	{ "arena.#.purge", J_VOID, JM_ACTION, IX_ARENA_ALL, "arena.#.purge", NULL, set_arena_purge, 0 },
	{ "arena.#.decay", J_VOID, JM_ACTION, IX_ARENA_ALL, NULL, NULL, set_arena_decay, 0 },
	{ "arena.#.dirty_decay_ms", J_SSIZE, JM_RW, IX_ARENA_ALL, NULL, get_decay_ms, set_decay_ms, 0 },
	{ "arena.#.muzzy_decay_ms", J_SSIZE, JM_R, IX_ARENA_ALL, NULL, get_const, NULL, 0 },
	{ "stats.allocated", J_SIZE, JM_R, IX_NONE, "stats.allocated", NULL, NULL, 0 },
	{ "stats.background_thread.num_threads", J_SIZE, JM_R, IX_NONE, "stats.background_thread.num_threads", NULL, NULL, 0 },
	{ "stats.background_thread.num_runs", J_U64, JM_R, IX_NONE, "stats.background_thread.num_runs", NULL, NULL, 0 },
	{ "stats.active", J_SIZE, JM_R, IX_NONE, "stats.active", NULL, NULL, 0 },
	{ "stats.resident", J_SIZE, JM_R, IX_NONE, "stats.resident", NULL, NULL, 0 },
	{ "stats.mapped", J_SIZE, JM_R, IX_NONE, "stats.mapped", NULL, NULL, 0 },
	{ "stats.retained", J_SIZE, JM_R, IX_NONE, "stats.retained", NULL, NULL, 0 },
	{ "stats.metadata", J_SIZE, JM_R, IX_NONE, "stats.metadata", NULL, NULL, 0 },
};

#define NJE_KEYS ARRAY_LEN(g_je_keys)

static bool index_ok(const je_key_t *k, size_t i)
{
	switch (k->index) {
	case IX_ARENA_ALL: return i < g_narenas || all_arenas(i);
	case IX_CLASS:     return i < NCLASSES;
	default:           return false;
	}
}

/* A decimal index of n characters at s. */
static bool parse_index(const char *s, size_t n, size_t *v)
{
	if (n == 0)
		return false;
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || *v > (SIZE_MAX - 9) / 10)
			return false;
		*v = *v * 10 + (size_t)(s[i] - '0');
	}
	return true;
}

/* The row whose pattern name's dotted components match, with the MIB: per
 * component the index for a '#', else the row number; *n components.
 * ENOENT if no row matches, or its index is out of range. */
static int je_lookup(const char *name, size_t *mib, size_t *n)
{
	if (name == NULL)
		return ENOENT;
	for (size_t r = 0; r < NJE_KEYS; r++) {
		const je_key_t *k = &g_je_keys[r];
		const char *p = k->name, *s = name;
		size_t nc = 0, ix = 0;
		bool indexed = false;
		while (nc < JE_MIB_MAX) {
			size_t pl = strcspn(p, "."), sl = strcspn(s, ".");
			if (pl == 1 && p[0] == '#') {
				if (!parse_index(s, sl, &ix))
					break;
				mib[nc++] = ix;
				indexed = true;
			} else if (pl == sl && memcmp(p, s, pl) == 0) {
				mib[nc++] = r;
			} else {
				break;
			}
			p += pl;
			s += sl;
			if (*p == '\0' && *s == '\0') {
				if (indexed && !index_ok(k, ix))
					return ENOENT;
				*n = nc;
				return 0;
			}
			if (*p == '\0' || *s == '\0')
				break;
			p++, s++; /* the dots */
		}
	}
	return ENOENT;
}

EXPORT int mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp)
{
	if (mibp == NULL || miblenp == NULL)
		return EINVAL;
	if (init_or_eagain() != 0)
		return EAGAIN;
	size_t mib[JE_MIB_MAX], n;
	int err = je_lookup(name, mib, &n);
	if (err)
		return err;
	/* A shorter buffer gets the first components (jemalloc's partial MIB). */
	if (*miblenp > n)
		*miblenp = n;
	memcpy(mibp, mib, *miblenp * sizeof *mibp);
	return 0;
}

/* The row of a complete MIB, its index in *ix; NULL if it names no key. */
static const je_key_t *je_by_mib(const size_t *mib, size_t miblen, size_t *ix)
{
	if (mib == NULL || miblen == 0 || mib[0] >= NJE_KEYS)
		return NULL;
	const je_key_t *k = &g_je_keys[mib[0]];
	size_t ncomp = 0;
	*ix = 0;
	for (const char *p = k->name; *p; p++) {
		if (p == k->name || p[-1] == '.') {
			if (ncomp >= miblen)
				return NULL;
			if (*p == '#') {
				if (!index_ok(k, mib[ncomp]))
					return NULL;
				*ix = mib[ncomp];
			} else if (mib[ncomp] != mib[0]) {
				return NULL;
			}
			ncomp++;
		}
	}
	return ncomp == miblen ? k : NULL;
}

/* jemalloc's READ: a wrong length copies what fits and is EINVAL. */
static int je_read(void *oldp, size_t *oldlenp, const je_val_t *v, size_t size)
{
	if (oldp == NULL || oldlenp == NULL)
		return 0;
	if (*oldlenp != size) {
		size_t n = *oldlenp < size ? *oldlenp : size;
		memcpy(oldp, v, n);
		*oldlenp = n;
		return EINVAL;
	}
	memcpy(oldp, v, size);
	return 0;
}

static int je_call(const je_key_t *k, const size_t *ix, void *oldp, size_t *oldlenp,
                   const void *newp, size_t newlen)
{
	size_t tsize = g_je_size[k->type];
	je_get_fn get = k->get ? k->get : ctl_get;
	je_set_fn set = k->set ? k->set : ctl_set;
	je_val_t old = { 0 }, nv = { 0 };
	if (k->mode == JM_ACTION) {
		if (oldp != NULL || oldlenp != NULL || newp != NULL || newlen != 0)
			return EPERM;
		return set(k, ix, NULL);
	}
	if (k->mode == JM_R && (newp != NULL || newlen != 0))
		return EPERM;
	if (newp != NULL) {
		if (newlen != tsize)
			return EINVAL;
		memcpy(&nv, newp, tsize); /* first: oldp may be the same buffer */
	}
	int err;
	if (k->mode == JM_WR) {
		if (newp != NULL && (err = set(k, ix, &nv)) != 0)
			return err;
		if ((err = get(k, ix, &old)) != 0)
			return err;
		return je_read(oldp, oldlenp, &old, tsize);
	}
	if (oldp != NULL && oldlenp != NULL) {
		if ((err = get(k, ix, &old)) != 0)
			return err;
		if ((err = je_read(oldp, oldlenp, &old, tsize)) != 0)
			return err;
	}
	if (newp != NULL)
		return set(k, ix, &nv);
	return 0;
}

EXPORT int mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                        void *newp, size_t newlen)
{
	if (init_or_eagain() != 0)
		return EAGAIN;
	size_t ix;
	const je_key_t *k = je_by_mib(mib, miblen, &ix);
	if (k == NULL)
		return ENOENT;
	int saved = errno;
	int err = je_call(k, &ix, oldp, oldlenp, newp, newlen);
	errno = saved;
	return err;
}

EXPORT int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
{
	size_t mib[JE_MIB_MAX], miblen = JE_MIB_MAX;
	int err = mallctlnametomib(name, mib, &miblen);
	if (err)
		return err;
	return mallctlbymib(mib, miblen, oldp, oldlenp, newp, newlen);
}

/* ---- statistics ---- */

/* jemalloc's option letters that omit sections mean nothing here: 'J' gives
 * hakmem's JSON, anything else its text. */
EXPORT void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                               const char *opts)
{
	hakmem_stats_print(write_cb, cbopaque, opts);
}
