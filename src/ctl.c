/* ctl.c - hakmem_ctl: one table row per key.
 *
 * A name is dotted; '#' in a row's name stands for a decimal index, checked
 * against the row's limit. A MIB is the row number followed by the indices, so
 * repeated calls skip the string matching. Reads copy the old value out,
 * writes validate and apply, a swap does both. The same rows parse the
 * start-up conf string (writable keys, and the start-only opt.* keys).
 */
#include "ctl.h"
#include "arena.h"
#include "atomic.h"
#include "background.h"
#include "conf.h"
#include "init.h"
#include "live.h"
#include "lock.h"
#include "log.h"
#include "stats.h"
#include "superslab.h"
#include "tcache.h"
#include "thread.h"
#include "topology.h"
#include "os.h"

#include <hakmem.h>
#include <errno.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>

enum ctl_type { T_VOID, T_BOOL, T_UNSIGNED, T_INT, T_U64, T_SIZE, T_SSIZE, T_STRING };

static const size_t g_type_size[] = {
	[T_VOID] = 0, [T_BOOL] = sizeof(bool), [T_UNSIGNED] = sizeof(unsigned),
	[T_INT] = sizeof(int), [T_U64] = sizeof(uint64_t), [T_SIZE] = sizeof(size_t),
	[T_SSIZE] = sizeof(ssize_t), [T_STRING] = sizeof(const char *),
};

static const char *const g_type_name[] = {
	[T_VOID] = "void", [T_BOOL] = "bool", [T_UNSIGNED] = "unsigned", [T_INT] = "int",
	[T_U64] = "uint64_t", [T_SIZE] = "size_t", [T_SSIZE] = "ssize_t",
	[T_STRING] = "const char *",
};

enum {
	M_R = 1,       /* readable */
	M_W = 2,       /* writable at run time (and in the conf string) */
	M_RW = 3,
	M_START = 4,   /* opt.*: set only by the conf string, read-only after */
	M_NOCONF = 8,  /* writable at run time, not in the conf string */
};

typedef union ctl_val {
	bool b;
	unsigned u;
	int i;
	uint64_t u64;
	size_t sz;
	ssize_t ss;
	const char *s;
} ctl_val_t;

#define MIB_MAX 3
#define U64_ANY INT64_MAX

typedef struct ctl_key {
	const char *name;   /* dotted; '#' is an index */
	uint8_t type;       /* enum ctl_type */
	uint8_t mode;       /* M_* */
	const char *unit;
	const char *doc;
	int (*get)(const struct ctl_key *k, const size_t *ix, ctl_val_t *v);
	int (*set)(const struct ctl_key *k, const size_t *ix, const ctl_val_t *v);
	size_t arg;         /* handler argument: an offset, a field number */
	int64_t min, max;   /* accepted range of integer writes (U64_ANY: every uint64_t) */
	unsigned (*limit[2])(void); /* bound of each index */
} ctl_key_t;

#define SNAP_OFF(f)  offsetof(snapshot_t, f)
#define ASTAT_OFF(f) offsetof(arena_stats_t, f)

/* ---- state ---- */

static lock_t g_ctl_lock = LOCK_INITIALIZER; /* the snapshot and tunable writes */
static snapshot_t g_snap;                     /* [g_ctl_lock] */

/* Whether the calling thread holds g_ctl_lock: a request of the live view
 * is not served beneath it (a ctl write may allocate: pthread_create). */
static __thread bool t_ctl_held;

void ctl_lock(void)             { lock_acquire(&g_ctl_lock); t_ctl_held = true; }
void ctl_unlock(void)           { t_ctl_held = false; lock_release(&g_ctl_lock); }
bool ctl_held_self(void)        { return t_ctl_held; }
void ctl_prefork(void)          { lock_acquire(&g_ctl_lock); }
void ctl_postfork_parent(void)  { lock_release(&g_ctl_lock); }
void ctl_postfork_child(void)   { lock_reinit(&g_ctl_lock); }

/* The snapshot's counters: read at the first statistics read, then at each
 * epoch write. No system call. */
static int snap_ensure(void)
{
	if (g_snap.epoch == 0) {
		int err = stats_refresh(&g_snap, false);
		if (err)
			return err;
		g_snap.epoch = 1;
	}
	return 0;
}

/* The resident figures, asked of the kernel at their first read after the
 * counters were (only these keys make system calls). */
static int snap_kernel_ensure(void)
{
	int err = snap_ensure();
	if (err == 0 && !g_snap.kernel_done)
		stats_refresh_kernel(&g_snap);
	return err;
}

/* A tunable changed: every thread re-reads it in its next slow path, the
 * calling thread at once. */
static void conf_bump(void)
{
	__atomic_add_fetch(&g_conf_gen, 1, __ATOMIC_RELAXED);
	if (g_arenas != NULL)
		tcache_reload_self();
}

/* ---- limits ---- */

static unsigned lim_narenas(void)  { return g_narenas; }
static unsigned lim_tiny(void)     { return TINY_NCLASSES; }
static unsigned lim_classes(void)  { return NCLASSES; }
/* The id ranges come from sysfs at start-up: checking an index loads nothing
 * (the conf string is applied inside initialisation, where hwloc cannot). */
static unsigned lim_nodes(void)    { return g_topo.nnode_ids; }
static unsigned lim_cpus(void)     { return g_topo.ncpu_ids; }

/* ---- handlers ---- */

static int get_version(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->s = HAKMEM_VERSION;
	return 0;
}

static int get_epoch(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	int err = snap_ensure();
	v->u64 = g_snap.epoch;
	return err;
}

static int set_epoch(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	uint64_t e = g_snap.epoch;
	if (stats_refresh(&g_snap, false) != 0)
		return EFAULT;
	g_snap.epoch = e + 1;
	return 0;
}

/* Tunables: arg is the offset of a uint32_t in g_conf. */
static int get_conf_u32(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	memcpy(&v->u, (char *)&g_conf + k->arg, sizeof(uint32_t));
	return 0;
}

static int set_conf_u32(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	uint32_t u = v->u;
	memcpy((char *)&g_conf + k->arg, &u, sizeof u);
	conf_bump();
	return 0;
}

static int get_decay(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->ss = (ssize_t)g_conf.decay_ms;
	return 0;
}

static int set_decay(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	g_conf.decay_ms = v->ss;
	for (unsigned i = 0; i < g_narenas; i++)
		g_arenas[i].next_purge = 0, g_arenas[i].next_tick = 0; /* re-plan with the new delay */
	conf_bump();
	background_note();
	return 0;
}

static int get_background(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->b = k->arg ? g_opt_background_thread : atomic_load_relaxed(&g_conf.background_thread);
	return 0;
}

static int set_background(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	return background_set(v->b);
}

static int get_background_stat(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	if (k->arg == 0)
		v->sz = background_nthreads();
	else
		v->u64 = background_nruns();
	return 0;
}

static int get_cache_bytes(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->sz = g_conf.cache_bytes;
	return 0;
}

static int set_cache_bytes(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	g_conf.cache_bytes = (uint32_t)v->sz;
	conf_bump();
	return 0;
}

/* size_t tunables: arg is the offset of a uint64_t in g_conf. */
static int get_conf_size(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	uint64_t u;
	memcpy(&u, (char *)&g_conf + k->arg, sizeof u);
	v->sz = (size_t)u;
	return 0;
}

static int set_conf_size(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	uint64_t u = v->sz;
	memcpy((char *)&g_conf + k->arg, &u, sizeof u);
	return 0;
}

static int get_large_cache_max(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->sz = g_conf.large_cache_max;
	return 0;
}

static int set_large_cache_max(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	g_conf.large_cache_max = v->sz;
	return 0;
}

/* arg: the first class the index counts from (0 for tiny and all classes). */
static int get_class_size(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->sz = class_size[ix[0]];
	return 0;
}

static int get_class_slab_size(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->sz = (size_t)class_units[ix[0]] * SLAB_SIZE;
	return 0;
}

static int get_class_cap(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->u = conf_class_cap((unsigned)ix[0]);
	return 0;
}

static int set_class_cap(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	g_conf.class_fast_cap[ix[0]] = v->u == 0 ? CLASS_CAP_ZERO : v->u;
	conf_bump();
	return 0;
}

static int get_const_u(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->u = (unsigned)k->arg;
	return 0;
}

static int get_narenas(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->u = g_narenas;
	return 0;
}

static int get_arena_node(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->i = arena_node_of((unsigned)ix[0]);
	return 0;
}

static int set_arena_purge(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	if (arena_ready(&g_arenas[ix[0]]))
		arena_purge(&g_arenas[ix[0]], true);
	return 0;
}

static int set_arenas_purge(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	tcache_trim();
	return 0;
}

static int get_thread_arena(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	return tcache_get_arena(&v->u);
}

static int set_thread_arena(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	return tcache_set_arena(v->u);
}

static int set_thread_flush(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	tcache_flush_all();
	return 0;
}

/* arg 0: allocated, 1: deallocated */
static int get_thread_bytes(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	tcache_stats_t st;
	tcache_stats_self(&st);
	uint64_t total = k->arg == 0 ? st.large_allocated_bytes : st.large_freed_bytes;
	for (unsigned c = 0; c < NCLASSES; c++)
		total += (k->arg == 0 ? st.nmalloc[c] : st.nfree[c]) * class_size[c];
	v->u64 = total;
	return 0;
}

/* Snapshot totals: arg is an offset in snapshot_t. */
static int get_snap_u64(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	int err = k->arg == SNAP_OFF(resident) ? snap_kernel_ensure() : snap_ensure();
	if (err)
		return err;
	memcpy(&v->u64, (char *)&g_snap + k->arg, sizeof(uint64_t));
	return 0;
}

/* Per-arena: arg is an offset in arena_stats_t. */
static int get_arena_u64(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	int err = k->arg == ASTAT_OFF(resident) ? snap_kernel_ensure() : snap_ensure();
	if (err)
		return err;
	memcpy(&v->u64, (char *)&g_snap.arenas[ix[0]] + k->arg, sizeof(uint64_t));
	return 0;
}

/* Per-arena, per-class: arg is an offset in bin_stats_t. */
static int get_bin_u64(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	int err = snap_ensure();
	if (err)
		return err;
	memcpy(&v->u64, (char *)&g_snap.arenas[ix[0]].bins[ix[1]] + k->arg, sizeof(uint64_t));
	return 0;
}

static int get_opt_bind(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->s = g_conf.bind == BIND_ROUNDROBIN ? "roundrobin" : "cpu";
	return 0;
}

static int set_opt_bind(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	if (strcmp(v->s, "cpu") == 0)
		g_conf.bind = BIND_CPU;
	else if (strcmp(v->s, "roundrobin") == 0)
		g_conf.bind = BIND_ROUNDROBIN;
	else
		return EINVAL;
	return 0;
}

static const char *const g_print_modes[] = { "none", "text", "json" };

static int get_opt_stats_print(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->s = g_print_modes[g_conf.stats_print];
	return 0;
}

static int set_opt_stats_print(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	for (unsigned i = 0; i < ARRAY_LEN(g_print_modes); i++) {
		if (strcmp(v->s, g_print_modes[i]) == 0) {
			g_conf.stats_print = i;
			return 0;
		}
	}
	if (strcmp(v->s, "true") == 0 || strcmp(v->s, "1") == 0) {
		g_conf.stats_print = STATS_PRINT_TEXT;
		return 0;
	}
	return EINVAL;
}

static int get_opt_stats_file(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->s = g_conf.stats_file;
	return 0;
}

static int set_opt_stats_file(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	size_t n = strlen(v->s);
	if (n >= sizeof g_conf.stats_file)
		return EINVAL;
	memcpy(g_conf.stats_file, v->s, n + 1);
	return 0;
}

static int get_live_enabled(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->b = atomic_load_relaxed(&g_live.enabled) != 0;
	return 0;
}

static int set_live_enabled(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	atomic_store_relaxed(&g_live.enabled, v->b ? 1u : 0u);
	return 0;
}

static int get_live_requests(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->u64 = atomic_load_relaxed(&g_live.nserved);
	return 0;
}

static int get_opt_live_thread(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->b = g_conf.live_thread;
	return 0;
}

static int set_opt_live_thread(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	g_conf.live_thread = v->b;
	return 0;
}

static int set_opt_live_signal(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	/* glibc keeps the first two real-time signals (__SIGRTMIN, 32 and 33);
	 * constants, not SIGRTMIN, which is a call into libc. */
	if (v->u != 0 && (v->u < __SIGRTMIN + 2 || v->u > __SIGRTMAX))
		return EINVAL;
	g_conf.live_signal = v->u;
	return 0;
}

static int get_opt_narenas(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->u = g_conf.narenas;
	return 0;
}

static int set_opt_narenas(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	g_conf.narenas = v->u;
	return 0;
}

static const char *const g_mode_names[] = { "auto", "percpu", "pernode" };

static int get_opt_arenas(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->s = g_mode_names[g_conf.arena_mode];
	return 0;
}

static int set_opt_arenas(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	for (unsigned i = 0; i < ARRAY_LEN(g_mode_names); i++) {
		if (strcmp(v->s, g_mode_names[i]) == 0) {
			g_conf.arena_mode = i;
			return 0;
		}
	}
	return EINVAL;
}

static int get_arenas_mode(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->s = g_conf.narenas ? "count" : g_mode_names[g_arena_mode];
	return 0;
}

static int get_numa_policy(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->s = g_conf.numa_strict ? "bind" : "preferred";
	return 0;
}

static int set_numa_policy(const ctl_key_t *k, const size_t *ix, const ctl_val_t *v)
{
	if (strcmp(v->s, "preferred") == 0)
		g_conf.numa_strict = 0;
	else if (strcmp(v->s, "bind") == 0)
		g_conf.numa_strict = 1;
	else
		return EINVAL;
	return 0;
}

/* arena.<i>.cpus: the strings live in metadata pages made on first read. */
static char *g_arena_cpus[ARENAS_MAX]; /* [g_ctl_lock] */

static int get_arena_cpus(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	topology_load();
	char **slot = &g_arena_cpus[ix[0]];
	if (*slot == NULL) {
		void *p;
		if (os_map(PAGE_SIZE, &p) != 0)
			return EFAULT;
		*slot = p;
	}
	if (g_conf.narenas == 0) {
		topology_arena_cpus(&g_topo, (enum arena_mode)g_arena_mode, (unsigned)ix[0], *slot,
		                    PAGE_SIZE);
	} else {
		/* A given arena count: CPU c uses arena c % n (within its node). */
		size_t len = 0;
		(*slot)[0] = '\0';
		for (unsigned c = (unsigned)ix[0]; c < g_topo.ncpu_ids; c += g_narenas)
			if (g_topo.cpu_node[c] >= 0)
				len += hm_format(*slot + len, len < PAGE_SIZE ? PAGE_SIZE - len : 0, "%s%u",
				                 len ? "," : "", c);
	}
	v->s = *slot;
	return 0;
}

static int get_thread_node(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	unsigned cpu, node;
	os_getcpu(&cpu, &node);
	v->i = (int)node;
	return 0;
}

static int get_thread_cpu(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	unsigned cpu, node;
	os_getcpu(&cpu, &node);
	v->u = cpu;
	return 0;
}

/* arg 0: node ids, 1: CPU ids, 2: nodes present, 3: CPUs present. Only the
 * last needs the hwloc module; the others come from sysfs at start-up (the
 * statistics printer reads topology.nodes: printing must not load hwloc,
 * about 1.3 MiB of a small process's peak RSS). */
static int get_topo_count(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	if (k->arg == 3)
		topology_load();
	const unsigned vals[] = { g_topo.nnode_ids, g_topo.ncpu_ids, g_topo.nnodes, g_topo.ncpus };
	v->u = vals[k->arg];
	return 0;
}

static int get_topo_cpu_node(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->i = g_topo.cpu_node[ix[0]];
	return 0;
}

static int get_topo_cpu_core(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	topology_load(); /* cores are hwloc's: sysfs does not number them across packages */
	v->i = g_topo.cpu_core[ix[0]];
	return 0;
}

static int get_topo_hwloc(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	v->b = topology_load() == 0;
	return 0;
}

static int get_node_resident(const ctl_key_t *k, const size_t *ix, ctl_val_t *v)
{
	int err = snap_kernel_ensure();
	if (err)
		return err;
	v->u64 = ix[0] < TOPO_MAX_NODES ? g_snap.node_resident[ix[0]] : 0;
	return 0;
}

/* ---- the table ---- */

#define CONF_OFF(f)  offsetof(conf_t, f)
#define BIN_OFF(f)   offsetof(bin_stats_t, f)
#define NOLIM        { NULL, NULL }
#define LIM1(f)      { f, NULL }
#define LIM2(f, g)   { f, g }

#define BIN_ROWS(prefix, lim, tier)                                                              \
	{ prefix ".nmalloc", T_U64, M_R, "blocks", "blocks of this " tier " class handed to the program by threads bound to this arena", get_bin_u64, NULL, BIN_OFF(nmalloc), 0, 0, LIM2(lim_narenas, lim) }, \
	{ prefix ".nfree", T_U64, M_R, "blocks", "blocks of this " tier " class freed by threads bound to this arena (curregs counts blocks out of its slabs: they agree summed over arenas)", get_bin_u64, NULL, BIN_OFF(nfree), 0, 0, LIM2(lim_narenas, lim) }, \
	{ prefix ".nrefills", T_U64, M_R, "events", "thread-cache refills from this bin", get_bin_u64, NULL, BIN_OFF(nrefills), 0, 0, LIM2(lim_narenas, lim) }, \
	{ prefix ".nflushes", T_U64, M_R, "events", "batches thread caches gave back to this bin", get_bin_u64, NULL, BIN_OFF(nflushes), 0, 0, LIM2(lim_narenas, lim) }, \
	{ prefix ".curslabs", T_SIZE, M_R, "slabs", "slabs now serving this class", get_bin_u64, NULL, BIN_OFF(curslabs), 0, 0, LIM2(lim_narenas, lim) }, \
	{ prefix ".curregs", T_SIZE, M_R, "blocks", "blocks out of slabs: held by the program or cached in threads", get_bin_u64, NULL, BIN_OFF(curregs), 0, 0, LIM2(lim_narenas, lim) }, \
	{ prefix ".ncached", T_SIZE, M_R, "blocks", "blocks of this class cached in live threads bound to this arena", get_bin_u64, NULL, BIN_OFF(ncached), 0, 0, LIM2(lim_narenas, lim) }, \
	{ prefix ".remote_frees", T_U64, M_R, "blocks", "blocks of this class freed by threads of other arenas", get_bin_u64, NULL, BIN_OFF(remote_frees), 0, 0, LIM2(lim_narenas, lim) }

static const ctl_key_t g_keys[] = {
	{ "version", T_STRING, M_R, "", "library version", get_version, NULL, 0, 0, 0, NOLIM },
	{ "epoch", T_U64, M_RW | M_NOCONF, "", "writing any value refreshes the statistics snapshot; reading gives its number", get_epoch, set_epoch, 0, 0, U64_ANY, NOLIM },

	{ "tiny.fast_cap", T_UNSIGNED, M_RW, "blocks", "thread-cache capacity limit of every class; 0 turns caching off (every free checked)", get_conf_u32, set_conf_u32, CONF_OFF(tiny_fast_cap), 0, FAST_CAP_MAX, NOLIM },
	{ "tiny.cache_bytes", T_SIZE, M_RW, "bytes", "a thread cache holds about this many bytes of each class (at least 16 blocks of a tiny class, at most tiny.fast_cap)", get_cache_bytes, set_cache_bytes, 0, 0, 64 << 20, NOLIM },
	{ "tiny.refill", T_UNSIGNED, M_RW, "blocks", "blocks moved from an arena per thread-cache refill", get_conf_u32, set_conf_u32, CONF_OFF(tiny_refill), 1, FAST_CAP_MAX, NOLIM },
	{ "tiny.drain_interval", T_UNSIGNED, M_RW, "slow-path events", "a thread cache gives back half the blocks of its idle classes every this many refills/flushes (0: never)", get_conf_u32, set_conf_u32, CONF_OFF(tiny_drain_interval), 0, 1 << 30, NOLIM },
	{ "tiny.nclasses", T_UNSIGNED, M_R, "classes", "number of tiny classes", get_const_u, NULL, TINY_NCLASSES, 0, 0, NOLIM },
	{ "tiny.class.#.size", T_SIZE, M_R, "bytes", "block size of tiny class i", get_class_size, NULL, 0, 0, 0, LIM1(lim_tiny) },
	{ "tiny.class.#.fast_cap", T_UNSIGNED, M_RW, "blocks", "thread-cache capacity of tiny class i (overrides tiny.fast_cap; 0: no caching)", get_class_cap, set_class_cap, 0, 0, FAST_CAP_MAX, LIM1(lim_tiny) },
	{ "arenas.nclasses", T_UNSIGNED, M_R, "classes", "number of size classes (16 B .. 1.75 MiB), served from slabs of SuperSlabs", get_const_u, NULL, NCLASSES, 0, 0, NOLIM },
	{ "arenas.class.#.size", T_SIZE, M_R, "bytes", "block size of class i", get_class_size, NULL, 0, 0, 0, LIM1(lim_classes) },
	{ "arenas.class.#.slab_size", T_SIZE, M_R, "bytes", "bytes of a slab of class i: a span of 64 KiB units of a SuperSlab", get_class_slab_size, NULL, 0, 0, 0, LIM1(lim_classes) },
	{ "arenas.class.#.fast_cap", T_UNSIGNED, M_RW, "blocks", "thread-cache capacity of class i (0: no caching)", get_class_cap, set_class_cap, 0, 0, FAST_CAP_MAX, LIM1(lim_classes) },
	{ "decay_ms", T_SSIZE, M_RW, "ms", "delay before free memory returns to the OS (-1: never, 0: at once)", get_decay, set_decay, 0, -1, (int64_t)1 << 40, NOLIM },
	{ "background_thread", T_BOOL, M_RW, "", "a background thread returns decayed memory and sends remote frees home while the program idles; true: it runs once the process has a second thread (writing true at run time starts it now), false: stops it", get_background, set_background, 0, 0, 0, NOLIM },
	{ "large.threshold", T_SIZE, M_RW, "bytes", "requests above this size get a mapping of their own (the largest class, 1.75 MiB, is the most; below it blocks come from slabs of SuperSlabs)", get_conf_size, set_conf_size, CONF_OFF(large_threshold), 32768, 1835008, NOLIM },
	{ "large.cache_max", T_SIZE, M_RW, "bytes", "freed large mappings an arena keeps for reuse", get_large_cache_max, set_large_cache_max, 0, 0, (int64_t)1 << 44, NOLIM },

	{ "arenas.narenas", T_UNSIGNED, M_R, "arenas", "number of arenas", get_narenas, NULL, 0, 0, 0, NOLIM },
	{ "arenas.limit", T_UNSIGNED, M_RW, "arenas", "threads bind only to arenas below this index (the others fold onto them at the thread's next refill); 0: every arena. mallopt(M_ARENA_MAX) writes it", get_conf_u32, set_conf_u32, CONF_OFF(arenas_limit), 0, ARENAS_MAX, NOLIM },
	{ "arenas.purge", T_VOID, M_W | M_NOCONF, "", "flush the calling thread's cache, take every slab's remote frees and return every arena's free memory now", NULL, set_arenas_purge, 0, 0, 0, NOLIM },
	{ "arena.#.node", T_INT, M_R, "node", "NUMA node of arena i (-1: none)", get_arena_node, NULL, 0, 0, 0, LIM1(lim_narenas) },
	{ "arena.#.purge", T_VOID, M_W | M_NOCONF, "", "return arena i's free memory to the OS now", NULL, set_arena_purge, 0, 0, 0, LIM1(lim_narenas) },

	{ "arenas.mode", T_STRING, M_R, "", "arena layout in force: percpu, pernode, or count (opt.narenas given)", get_arenas_mode, NULL, 0, 0, 0, NOLIM },
	{ "arena.#.cpus", T_STRING, M_R, "", "CPUs whose threads arena i serves (Linux list syntax)", get_arena_cpus, NULL, 0, 0, 0, LIM1(lim_narenas) },
	{ "numa.policy", T_STRING, M_RW, "", "placement of arena memory on its node: preferred (falls back when the node is full) or bind (strict)", get_numa_policy, set_numa_policy, 0, 0, 0, NOLIM },
	{ "topology.nodes", T_UNSIGNED, M_R, "nodes", "NUMA node ids (highest possible id + 1)", get_topo_count, NULL, 0, 0, 0, NOLIM },
	{ "topology.cpus", T_UNSIGNED, M_R, "cpus", "CPU ids (highest possible id + 1)", get_topo_count, NULL, 1, 0, 0, NOLIM },
	{ "topology.nnodes_present", T_UNSIGNED, M_R, "nodes", "NUMA nodes present", get_topo_count, NULL, 2, 0, 0, NOLIM },
	{ "topology.ncpus_present", T_UNSIGNED, M_R, "cpus", "CPUs present", get_topo_count, NULL, 3, 0, 0, NOLIM },
	{ "topology.cpu.#.node", T_INT, M_R, "node", "NUMA node of CPU i (-1: absent)", get_topo_cpu_node, NULL, 0, 0, 0, LIM1(lim_cpus) },
	{ "topology.cpu.#.core", T_INT, M_R, "core", "core of CPU i: hwloc's logical core index, unique across packages (-1: unknown; reading it loads the hwloc module)", get_topo_cpu_core, NULL, 0, 0, 0, LIM1(lim_cpus) },
	{ "topology.hwloc", T_BOOL, M_R, "", "whether the hwloc module is loaded (reading this loads it)", get_topo_hwloc, NULL, 0, 0, 0, NOLIM },
	{ "thread.node", T_INT, M_R, "node", "NUMA node the calling thread runs on", get_thread_node, NULL, 0, 0, 0, NOLIM },
	{ "thread.cpu", T_UNSIGNED, M_R, "cpu", "CPU the calling thread runs on", get_thread_cpu, NULL, 0, 0, 0, NOLIM },
	{ "thread.arena", T_UNSIGNED, M_RW | M_NOCONF, "arena", "the calling thread's arena; writing binds the thread to an arena until it writes another", get_thread_arena, set_thread_arena, 0, 0, UINT32_MAX, NOLIM },
	{ "thread.tcache.flush", T_VOID, M_W | M_NOCONF, "", "empty the calling thread's cache", NULL, set_thread_flush, 0, 0, 0, NOLIM },
	{ "thread.allocated", T_U64, M_R, "bytes", "bytes allocated by the calling thread (block sizes)", get_thread_bytes, NULL, 0, 0, 0, NOLIM },
	{ "thread.deallocated", T_U64, M_R, "bytes", "bytes freed by the calling thread (block sizes)", get_thread_bytes, NULL, 1, 0, 0, NOLIM },

	{ "stats.allocated", T_SIZE, M_R, "bytes", "bytes in blocks the program holds (block sizes)", get_snap_u64, NULL, SNAP_OFF(allocated), 0, 0, NOLIM },
	{ "stats.active", T_SIZE, M_R, "bytes", "bytes of slabs and large mappings holding a live block", get_snap_u64, NULL, SNAP_OFF(active), 0, 0, NOLIM },
	{ "stats.resident", T_SIZE, M_R, "bytes", "bytes of hakmem's mappings in memory (mincore, asked at the first read after an epoch)", get_snap_u64, NULL, SNAP_OFF(resident), 0, 0, NOLIM },
	{ "stats.mapped", T_SIZE, M_R, "bytes", "bytes mapped for blocks", get_snap_u64, NULL, SNAP_OFF(mapped), 0, 0, NOLIM },
	{ "stats.retained", T_SIZE, M_R, "bytes", "address space hakmem keeps without memory: purged pages of its mappings, and the placeholders of given-back SuperSlabs", get_snap_u64, NULL, SNAP_OFF(retained), 0, 0, NOLIM },
	{ "stats.dirty", T_SIZE, M_R, "bytes", "free memory still resident that decay will return: free units' pages, kept empty slabs, cached large mappings (free pages inside partly used slabs not counted)", get_snap_u64, NULL, SNAP_OFF(dirty), 0, 0, NOLIM },
	{ "stats.purged", T_U64, M_R, "bytes", "bytes decay passes and purges have given back to the OS since start (MADV_DONTNEED or munmap)", get_snap_u64, NULL, SNAP_OFF(purged), 0, 0, NOLIM },
	{ "stats.metadata", T_SIZE, M_R, "bytes", "bytes of hakmem's own structures", get_snap_u64, NULL, SNAP_OFF(metadata), 0, 0, NOLIM },
	{ "stats.nmalloc", T_U64, M_R, "allocations", "allocations hakmem served, all sizes", get_snap_u64, NULL, SNAP_OFF(nmalloc), 0, 0, NOLIM },
	{ "stats.nfree", T_U64, M_R, "frees", "frees hakmem served, all sizes", get_snap_u64, NULL, SNAP_OFF(nfree), 0, 0, NOLIM },
	{ "stats.large.nmalloc", T_U64, M_R, "allocations", "large allocations: above the largest class (1.75 MiB) or aligned to more than 32 KiB, each its own mapping", get_snap_u64, NULL, SNAP_OFF(large_nmalloc), 0, 0, NOLIM },
	{ "stats.large.nfree", T_U64, M_R, "frees", "large frees", get_snap_u64, NULL, SNAP_OFF(large_nfree), 0, 0, NOLIM },

	{ "stats.background_thread.num_threads", T_SIZE, M_R, "threads", "background threads running now (0 or 1; read live, not from the epoch snapshot)", get_background_stat, NULL, 0, 0, 0, NOLIM },
	{ "stats.background_thread.num_runs", T_U64, M_R, "runs", "passes the background thread has made (read live)", get_background_stat, NULL, 1, 0, 0, NOLIM },
	{ "stats.numa.bind_failures", T_U64, M_R, "calls", "NUMA placements (mbind) the kernel refused; the memory was used anyway", get_snap_u64, NULL, SNAP_OFF(bind_failures), 0, 0, NOLIM },
	{ "stats.nodes.#.resident", T_SIZE, M_R, "bytes", "bytes of hakmem's mappings resident on node i (move_pages; on a single node, stats.resident)", get_node_resident, NULL, 0, 0, 0, LIM1(lim_nodes) },
	{ "stats.arenas.#.remote_frees", T_U64, M_R, "blocks", "blocks of arena i freed by threads of other arenas (returned home in batches)", get_arena_u64, NULL, ASTAT_OFF(remote_frees), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.superslabs", T_U64, M_R, "superslabs", "SuperSlabs arena i has mapped", get_arena_u64, NULL, ASTAT_OFF(nsuperslabs), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.mapped", T_SIZE, M_R, "bytes", "bytes arena i has mapped", get_arena_u64, NULL, ASTAT_OFF(mapped), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.resident", T_SIZE, M_R, "bytes", "bytes of arena i in memory", get_arena_u64, NULL, ASTAT_OFF(resident), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.retained", T_SIZE, M_R, "bytes", "bytes of arena i returned to the OS", get_arena_u64, NULL, ASTAT_OFF(retained), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.dirty", T_SIZE, M_R, "bytes", "free memory of arena i still resident that decay will return", get_arena_u64, NULL, ASTAT_OFF(dirty), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.purged", T_U64, M_R, "bytes", "bytes arena i's decay passes and purges have given back to the OS", get_arena_u64, NULL, ASTAT_OFF(purged), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.large.nmalloc", T_U64, M_R, "allocations", "large allocations by arena i", get_arena_u64, NULL, ASTAT_OFF(large_nmalloc), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.large.nfree", T_U64, M_R, "frees", "large frees of arena i's blocks", get_arena_u64, NULL, ASTAT_OFF(large_nfree), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.large.allocated", T_SIZE, M_R, "bytes", "usable bytes of arena i's live large blocks", get_arena_u64, NULL, ASTAT_OFF(large_allocated), 0, 0, LIM1(lim_narenas) },
	{ "stats.arenas.#.large.cached", T_SIZE, M_R, "bytes", "bytes of freed large mappings arena i keeps", get_arena_u64, NULL, ASTAT_OFF(large_cached), 0, 0, LIM1(lim_narenas) },
	BIN_ROWS("stats.arenas.#.tiny.#", lim_tiny, "tiny"),
	BIN_ROWS("stats.arenas.#.class.#", lim_classes, "size"),

	{ "opt.narenas", T_UNSIGNED, M_R | M_START, "arenas", "number of arenas (0: one per CPU)", get_opt_narenas, set_opt_narenas, 0, 0, ARENAS_MAX, NOLIM },
	{ "opt.arenas", T_STRING, M_R | M_START, "", "arena layout: auto (from the topology), percpu or pernode", get_opt_arenas, set_opt_arenas, 0, 0, 0, NOLIM },
	{ "opt.bind", T_STRING, M_R | M_START, "", "thread binding: cpu (arena of the CPU a thread starts on) or roundrobin", get_opt_bind, set_opt_bind, 0, 0, 0, NOLIM },
	{ "opt.background_thread", T_BOOL, M_R, "", "background_thread as the start-up configuration left it", get_background, NULL, 1, 0, 0, NOLIM },
	{ "opt.stats_print", T_STRING, M_R | M_START, "", "print statistics at exit: none, text or json", get_opt_stats_print, set_opt_stats_print, 0, 0, 0, NOLIM },
	{ "live.enabled", T_BOOL, M_RW, "", "hakmem-ctl may read and write this process from outside (stats, get, set, top PID); false: its requests go unanswered", get_live_enabled, set_live_enabled, 0, 0, 0, NOLIM },
	{ "stats.live.requests", T_U64, M_R, "requests", "requests from hakmem-ctl (stats, get, set, top PID) this process has served (read live)", get_live_requests, NULL, 0, 0, 0, NOLIM },
	{ "opt.live_thread", T_BOOL, M_R | M_START, "", "a single-threaded process starts the background thread too (at its first thread-cache refill or flush), so that hakmem-ctl gets answers while it idles; false: such a process answers only at its thread-cache drains", get_opt_live_thread, set_opt_live_thread, 0, 0, 0, NOLIM },
	{ "opt.live_signal", T_UNSIGNED, M_R | M_START, "signal", "real-time signal hakmem-ctl wakes the background thread with (sent to that thread alone, which blocks it; no handler); 0: none, requests wait for the next background pass or thread-cache drain", get_conf_u32, set_opt_live_signal, CONF_OFF(live_signal), 0, 64, NOLIM },
	{ "opt.stats_file", T_STRING, M_R | M_START, "", "where opt.stats_print writes (empty: stderr; %p: the process id)", get_opt_stats_file, set_opt_stats_file, 0, 0, 0, NOLIM },
};

#define NKEYS ARRAY_LEN(g_keys)

/* ---- names and MIBs ---- */

static int key_nindex(const ctl_key_t *k)
{
	int n = 0;
	for (const char *p = k->name; *p; p++)
		n += *p == '#';
	return n;
}

/* Name lookup: a name's all-digit components are its indices; with each
 * replaced by '#' it is its key's pattern, found in a hash table of the
 * patterns (open addressing) built at the first lookup. A statistics print
 * looks up a thousand names: a scan of the table matching each pattern cost
 * ten thousand instructions a name. */
#define KEY_HASH_SLOTS 256
_Static_assert(KEY_HASH_SLOTS >= 2 * NKEYS, "the key hash is at most half full");

static uint16_t g_key_hash[KEY_HASH_SLOTS]; /* key index + 1; 0: empty */
static uint32_t g_key_hash_state; /* 0: not built, 1: being published, 2: ready [atomic] */

static uint32_t key_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static void key_hash_fill(uint16_t *t)
{
	memset(t, 0, KEY_HASH_SLOTS * sizeof *t);
	for (size_t i = 0; i < NKEYS; i++) {
		uint32_t h = key_hash(g_keys[i].name) % KEY_HASH_SLOTS;
		while (t[h] != 0)
			h = (h + 1) % KEY_HASH_SLOTS;
		t[h] = (uint16_t)(i + 1);
	}
}

/* The key `name` names, its indices in ix (at most two); NULL if none. */
static const ctl_key_t *key_find(const char *name, size_t ix[2])
{
	char pat[128];
	size_t n = 0, len = 0;
	const char *c = name;
	for (;;) {
		/* One component: all digits (an index), or copied. */
		const char *e = c;
		bool digits = *e >= '0' && *e <= '9';
		for (; *e != '\0' && *e != '.'; e++) {
			if (*e == '#')
				return NULL; /* a pattern is not a name */
			digits = digits && *e >= '0' && *e <= '9';
		}
		if (digits) {
			size_t v = 0;
			for (; c < e; c++) {
				if (v > (SIZE_MAX - 9) / 10)
					return NULL;
				v = v * 10 + (size_t)(*c - '0');
			}
			if (n == 2 || len + 1 >= sizeof pat)
				return NULL;
			ix[n++] = v;
			pat[len++] = '#';
		} else {
			if (len + (size_t)(e - c) >= sizeof pat)
				return NULL;
			memcpy(pat + len, c, (size_t)(e - c));
			len += (size_t)(e - c);
			c = e;
		}
		if (*c == '\0')
			break;
		if (len + 1 >= sizeof pat)
			return NULL;
		pat[len++] = *c++; /* the dot */
	}
	pat[len] = '\0';
	/* No lock (a fork could cut it): until one caller has published the
	 * table, each builds its own on its stack. */
	const uint16_t *t = g_key_hash;
	uint16_t local[KEY_HASH_SLOTS];
	if (UNLIKELY(__atomic_load_n(&g_key_hash_state, __ATOMIC_ACQUIRE) != 2)) {
		key_hash_fill(local);
		t = local;
		uint32_t none = 0;
		if (__atomic_compare_exchange_n(&g_key_hash_state, &none, 1u, false, __ATOMIC_RELAXED,
		                                __ATOMIC_RELAXED)) {
			for (size_t i = 0; i < KEY_HASH_SLOTS; i++)
				atomic_store_relaxed(&g_key_hash[i], local[i]);
			__atomic_store_n(&g_key_hash_state, 2u, __ATOMIC_RELEASE);
		}
	}
	for (uint32_t h = key_hash(pat) % KEY_HASH_SLOTS; t[h] != 0; h = (h + 1) % KEY_HASH_SLOTS) {
		const ctl_key_t *k = &g_keys[t[h] - 1];
		if (strcmp(k->name, pat) == 0)
			return k;
	}
	return NULL;
}

EXPORT int hakmem_ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp)
{
	if (name == NULL || mibp == NULL || miblenp == NULL)
		return EINVAL;
	int saved = errno;
	hakmem_init();
	errno = saved;
	size_t ix[2] = { 0, 0 };
	const ctl_key_t *k = key_find(name, ix);
	if (k == NULL)
		return ENOENT;
	int n = key_nindex(k);
	if (*miblenp < (size_t)(1 + n))
		return EINVAL;
	for (int j = 0; j < n; j++)
		if (ix[j] >= k->limit[j]())
			return ENOENT;
	mibp[0] = (size_t)(k - g_keys);
	for (int j = 0; j < n; j++)
		mibp[1 + j] = ix[j];
	*miblenp = (size_t)(1 + n);
	return 0;
}

static int ctl_call(const ctl_key_t *k, const size_t *ix, void *oldp, size_t *oldlenp,
                    const void *newp, size_t newlen, bool from_conf)
{
	size_t tsize = g_type_size[k->type];
	bool reading = oldp != NULL || oldlenp != NULL;
	bool writing = newp != NULL || newlen != 0;
	if (reading) {
		if (!(k->mode & M_R))
			return EPERM;
		if (oldp == NULL || oldlenp == NULL || *oldlenp != tsize)
			return EINVAL;
	}
	bool may_write = (k->mode & M_W) || (from_conf && (k->mode & M_START));
	if (writing || k->type == T_VOID) {
		if (!may_write)
			return EPERM;
		if (from_conf && (k->mode & M_NOCONF))
			return EPERM;
		if (k->type == T_VOID ? newlen != 0 : (newp == NULL || newlen != tsize))
			return EINVAL;
	}
	ctl_val_t old = { 0 }, nv = { 0 };
	if (writing && k->type != T_VOID) {
		memcpy(&nv, newp, tsize);
		int64_t v;
		switch (k->type) {
		case T_UNSIGNED: v = nv.u; break;
		case T_INT:      v = nv.i; break;
		case T_U64:      v = nv.u64 > INT64_MAX ? INT64_MAX : (int64_t)nv.u64; break;
		case T_SIZE:     v = nv.sz > INT64_MAX ? INT64_MAX : (int64_t)nv.sz; break;
		case T_SSIZE:    v = nv.ss; break;
		default:         v = 0; break;
		}
		if (k->type != T_BOOL && k->type != T_STRING && (v < k->min || v > k->max))
			return EINVAL;
		if (k->type == T_STRING && nv.s == NULL)
			return EINVAL;
		if (k->type == T_U64 && k->max != U64_ANY && nv.u64 > (uint64_t)k->max)
			return EINVAL;
	}
	int saved = errno; /* hakmem_ctl reports through its result, never errno */
	ctl_lock();
	int err = 0;
	if (reading)
		err = k->get(k, ix, &old);
	if (err == 0 && (writing || k->type == T_VOID))
		err = k->set(k, ix, &nv);
	ctl_unlock();
	errno = saved;
	if (err)
		return err;
	if (reading)
		memcpy(oldp, &old, tsize);
	return 0;
}

EXPORT int hakmem_ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                            const void *newp, size_t newlen)
{
	if (mib == NULL || miblen == 0 || mib[0] >= NKEYS)
		return ENOENT;
	int saved = errno;
	hakmem_init();
	errno = saved;
	const ctl_key_t *k = &g_keys[mib[0]];
	int n = key_nindex(k);
	if (miblen != (size_t)(1 + n))
		return ENOENT;
	for (int j = 0; j < n; j++)
		if (mib[1 + j] >= k->limit[j]())
			return ENOENT;
	return ctl_call(k, mib + 1, oldp, oldlenp, newp, newlen, false);
}

EXPORT int hakmem_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp,
                      size_t newlen)
{
	size_t mib[MIB_MAX], miblen = MIB_MAX;
	int err = hakmem_ctl_nametomib(name, mib, &miblen);
	if (err)
		return err;
	return hakmem_ctl_bymib(mib, miblen, oldp, oldlenp, newp, newlen);
}

/* ---- key listing (hakmem-ctl keys) ---- */

EXPORT int hakmem_ctl_key_info(size_t i, const char **name, const char **type, const char **mode,
                               const char **unit, const char **doc)
{
	if (i >= NKEYS)
		return ENOENT;
	const ctl_key_t *k = &g_keys[i];
	*name = k->name;
	*type = g_type_name[k->type];
	*mode = (k->mode & M_START) ? "r (start)" : (k->mode & M_RW) == M_RW ? "rw"
	      : (k->mode & M_W) ? "w" : "r";
	*unit = k->unit;
	*doc = k->doc;
	return 0;
}

/* ---- the conf string ---- */

static int parse_int(const char *s, size_t n, int64_t *out)
{
	bool neg = false;
	size_t i = 0;
	if (n > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n || s[i] < '0' || s[i] > '9') /* "k" alone is no number */
		return EINVAL;
	uint64_t v = 0;
	for (; i < n; i++) {
		char c = s[i];
		uint64_t mul = 0;
		if (c >= '0' && c <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				return EINVAL;
			v = v * 10 + (uint64_t)(c - '0');
			continue;
		}
		if (i != n - 1)
			return EINVAL;
		switch (c) {
		case 'k': case 'K': mul = KiB; break;
		case 'm': case 'M': mul = MiB; break;
		case 'g': case 'G': mul = GiB; break;
		default: return EINVAL;
		}
		if (v > INT64_MAX / mul)
			return EINVAL;
		v *= mul;
	}
	if (v > (uint64_t)INT64_MAX)
		return EINVAL;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* A value in the conf string's syntax for key k: true/false (or 1/0), a
 * decimal integer with an optional k/m/g suffix, a string. */
static int parse_value(const ctl_key_t *k, const char *value, size_t vlen, ctl_val_t *out)
{
	ctl_val_t v = { 0 };
	int64_t iv = 0;
	int err = 0;
	switch (k->type) {
	case T_STRING:
		v.s = value;
		break;
	case T_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
			v.b = true;
		else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
			v.b = false;
		else
			err = EINVAL;
		break;
	case T_VOID:
		err = EPERM;
		break;
	default:
		err = parse_int(value, vlen, &iv);
		if (err == 0 && iv < 0 && k->type != T_SSIZE && k->type != T_INT)
			err = EINVAL;
		if (k->type == T_UNSIGNED)
			v.u = iv > UINT32_MAX ? UINT32_MAX : (unsigned)iv;
		else if (k->type == T_INT)
			v.i = iv > INT32_MAX ? INT32_MAX : iv < INT32_MIN ? INT32_MIN : (int)iv;
		else
			v.u64 = (uint64_t)iv;
		break;
	}
	*out = v;
	return err;
}

/* The first characters of a conf entry, for a diagnostic (hm_log escapes
 * control characters, so the text cannot forge a line of its own). */
static const char *conf_excerpt(char *buf, size_t size, const char *e, size_t len)
{
	if (len < size) {
		memcpy(buf, e, len);
		buf[len] = '\0';
	} else {
		memcpy(buf, e, size - 4);
		memcpy(buf + size - 4, "...", 4);
	}
	return buf;
}

static void conf_entry(const char *e, size_t len, const char *origin)
{
	char name[96], value[256], ent[64];
	const char *eq = memchr(e, '=', len);
	if (eq == NULL) {
		hm_log("%s: entry '%s' has no '=': skipped", origin, conf_excerpt(ent, sizeof ent, e, len));
		return;
	}
	size_t nlen = (size_t)(eq - e), vlen = len - nlen - 1;
	if (nlen >= sizeof name || vlen >= sizeof value) {
		hm_log("%s: entry '%s' too long: skipped", origin, conf_excerpt(ent, sizeof ent, e, len));
		return;
	}
	memcpy(name, e, nlen);
	name[nlen] = '\0';
	memcpy(value, eq + 1, vlen);
	value[vlen] = '\0';
	size_t ix[2] = { 0, 0 };
	const ctl_key_t *k = key_find(name, ix);
	if (k == NULL) {
		hm_log("%s: unknown key '%s': skipped", origin, name);
		return;
	}
	int n = key_nindex(k);
	for (int j = 0; j < n; j++) {
		/* Arenas do not exist yet: arena-indexed keys are run-time only. */
		if (k->limit[j] == lim_narenas || ix[j] >= k->limit[j]()) {
			hm_log("%s: key '%s': index out of range: skipped", origin, name);
			return;
		}
	}
	ctl_val_t v = { 0 };
	int err = parse_value(k, value, vlen, &v);
	if (err == 0)
		err = ctl_call(k, ix, NULL, NULL, &v, g_type_size[k->type], true);
	if (err == EPERM)
		hm_log("%s: key '%s' cannot be set at start: skipped", origin, name);
	else if (err)
		hm_log("%s: bad value '%s' for key '%s' (%s): skipped", origin, value, name,
		       g_type_name[k->type]);
}

void ctl_conf_apply(const char *conf, const char *origin)
{
	const char *p = conf;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		if (len > 0)
			conf_entry(p, len, origin);
		if (end == NULL)
			break;
		p = end + 1;
	}
}

/* ---- values as text (the live view, src/live.c) ---- */

int ctl_get_text(const char *name, char *buf, size_t size)
{
	size_t mib[MIB_MAX], miblen = MIB_MAX;
	int err = hakmem_ctl_nametomib(name, mib, &miblen);
	if (err)
		return err;
	const ctl_key_t *k = &g_keys[mib[0]];
	if (k->type == T_VOID)
		return EPERM;
	ctl_val_t v = { 0 };
	size_t sz = g_type_size[k->type];
	err = ctl_call(k, mib + 1, &v, &sz, NULL, 0, false);
	if (err)
		return err;
	switch (k->type) {
	case T_BOOL:     hm_format(buf, size, "%s", v.b ? "true" : "false"); break;
	case T_UNSIGNED: hm_format(buf, size, "%u", v.u); break;
	case T_INT:      hm_format(buf, size, "%d", v.i); break;
	case T_U64:      hm_format(buf, size, "%llu", (unsigned long long)v.u64); break;
	case T_SIZE:     hm_format(buf, size, "%zu", v.sz); break;
	case T_SSIZE:    hm_format(buf, size, "%lld", (long long)v.ss); break;
	default:         hm_format(buf, size, "%s", v.s != NULL ? v.s : ""); break;
	}
	return 0;
}

int ctl_set_text(const char *name, const char *value)
{
	size_t mib[MIB_MAX], miblen = MIB_MAX;
	int err = hakmem_ctl_nametomib(name, mib, &miblen);
	if (err)
		return err;
	const ctl_key_t *k = &g_keys[mib[0]];
	if (k->type == T_VOID) {
		if (value != NULL)
			return EINVAL; /* an action takes no value */
		return ctl_call(k, mib + 1, NULL, NULL, NULL, 0, false);
	}
	if (value == NULL)
		return EINVAL;
	ctl_val_t v = { 0 };
	err = parse_value(k, value, strlen(value), &v);
	if (err)
		return err == EPERM ? EINVAL : err;
	return ctl_call(k, mib + 1, NULL, NULL, &v, g_type_size[k->type], false);
}
