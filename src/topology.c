/* topology.c - the topology table from sysfs, the lazy hwloc load, and the
 * arena mapping. See topology.h. */
#include "topology.h"
#include "lock.h"
#include "log.h"
#include "os.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

topology_t g_topo;

int topology_parse_list(const char *s, void (*cb)(void *ctx, unsigned id), void *ctx)
{
	while (*s && *s != '\n') {
		if (*s < '0' || *s > '9')
			return EINVAL;
		unsigned a = 0, b;
		while (*s >= '0' && *s <= '9')
			a = a * 10 + (unsigned)(*s++ - '0');
		b = a;
		if (*s == '-') {
			s++;
			if (*s < '0' || *s > '9')
				return EINVAL;
			b = 0;
			while (*s >= '0' && *s <= '9')
				b = b * 10 + (unsigned)(*s++ - '0');
		}
		for (unsigned i = a; i <= b && i < 1u << 20; i++)
			cb(ctx, i);
		if (*s == ',')
			s++;
	}
	return 0;
}

static void cb_max(void *ctx, unsigned id)
{
	unsigned *m = ctx;
	if (id + 1 > *m)
		*m = id + 1;
}

typedef struct {
	topology_t *t;
	int node;
} node_ctx_t;

static void cb_node_cpu(void *ctx, unsigned cpu)
{
	node_ctx_t *c = ctx;
	if (cpu < TOPO_MAX_CPUS)
		c->t->cpu_node[cpu] = (int16_t)c->node;
}

#define HM_MPOL_DEFAULT 0
#define HM_MPOL_BIND 2
#define HM_MPOL_INTERLEAVE 3

void topology_init(topology_t *t)
{
	char buf[4096], path[96];
	t->ncpu_ids = 0;
	if (os_read_file("/sys/devices/system/cpu/possible", buf, sizeof buf) > 0)
		topology_parse_list(buf, cb_max, &t->ncpu_ids);
	if (t->ncpu_ids == 0)
		t->ncpu_ids = os_ncpus_allowed();
	if (t->ncpu_ids > TOPO_MAX_CPUS)
		t->ncpu_ids = TOPO_MAX_CPUS;
	/* Entries past ncpu_ids are never read: leaving them untouched keeps
	 * the table's pages out of memory on small machines. */
	for (unsigned i = 0; i < t->ncpu_ids; i++) {
		t->cpu_node[i] = -1;
		t->cpu_core[i] = -1;
	}
	/* CPUs present: counted by the hwloc load (topology.ncpus_present). */
	t->ncpus = t->ncpu_ids;

	t->nnode_ids = 0;
	if (os_read_file("/sys/devices/system/node/possible", buf, sizeof buf) > 0)
		topology_parse_list(buf, cb_max, &t->nnode_ids);
	if (t->nnode_ids > TOPO_MAX_NODES)
		t->nnode_ids = TOPO_MAX_NODES;
	t->nnodes = 0;
	uint64_t present = 0;
	/* One node (the common case, and every process start pays for this):
	 * no per-node file and no policy query. */
	for (unsigned n = 0; n < t->nnode_ids && t->nnode_ids > 1; n++) {
		hm_format(path, sizeof path, "/sys/devices/system/node/node%u/cpulist", n);
		if (os_read_file(path, buf, sizeof buf) < 0)
			continue;
		node_ctx_t c = { t, (int)n };
		topology_parse_list(buf, cb_node_cpu, &c);
		t->nnodes++;
		if (n < 64)
			present |= (uint64_t)1 << n;
	}
	if (t->nnodes == 0) {
		/* No NUMA support in the kernel: one node with every CPU. */
		t->nnode_ids = 1;
		t->nnodes = 1;
		present = 1;
		for (unsigned i = 0; i < t->ncpu_ids; i++)
			t->cpu_node[i] = 0;
	}
	int mode = HM_MPOL_DEFAULT;
	uint64_t mask = 0;
	t->policy_set = false;
	t->node_allowed = present;
	if (t->nnodes > 1 && os_get_mempolicy(&mode, &mask) == 0 && mode != HM_MPOL_DEFAULT) {
		t->policy_set = true;
		if ((mode == HM_MPOL_BIND || mode == HM_MPOL_INTERLEAVE) && (mask & present) != 0)
			t->node_allowed = mask & present;
		t->policy_interleave = mode == HM_MPOL_INTERLEAVE;
	}
	t->hwloc_loaded = false;
}

/* ---- the hwloc module ---- */

static lock_t g_topo_lock = LOCK_INITIALIZER;

void topology_prefork(void)         { lock_acquire(&g_topo_lock); }
void topology_postfork_parent(void) { lock_release(&g_topo_lock); }
void topology_postfork_child(void)  { lock_reinit(&g_topo_lock); }

/* Where hakmem-topo.so lives: beside libhakmem.so (build tree), or in
 * hakmem/ beside it (installed, $libdir/hakmem). */
static void *topology_open_module(void)
{
	Dl_info info;
	if (dladdr((void *)topology_open_module, &info) == 0 || info.dli_fname == NULL)
		return NULL;
	char path[4096];
	const char *slash = strrchr(info.dli_fname, '/');
	size_t dir = slash ? (size_t)(slash - info.dli_fname) : 0;
	if (dir + 32 > sizeof path)
		return NULL;
	static const char *const names[] = { "/hakmem-topo.so", "/hakmem/hakmem-topo.so" };
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		memcpy(path, info.dli_fname, dir);
		if (dir == 0)
			path[dir++] = '.';
		strcpy(path + dir, names[i]);
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (h != NULL)
			return h;
		if (path[0] == '.' && dir == 1)
			dir = 0;
	}
	return NULL;
}

int topology_load(void)
{
	lock_acquire(&g_topo_lock);
	static int result = -1;
	if (result >= 0) {
		lock_release(&g_topo_lock);
		return result;
	}
	result = ENOENT;
	void *h = topology_open_module();
	topo_read_fn read = h ? (topo_read_fn)dlsym(h, "hakmem_topo_read") : NULL;
	if (read != NULL) {
		static topology_t tmp; /* [g_topo_lock] */
		memset(&tmp, 0, sizeof tmp);
		if (read(&tmp, NULL) == 0) {
			/* sysfs stays authoritative for nodes (binding uses the
			 * kernel's getcpu); hwloc adds cores and fills gaps. */
			for (unsigned i = 0; i < g_topo.ncpu_ids; i++) {
				g_topo.cpu_core[i] = tmp.cpu_core[i];
				if (g_topo.cpu_node[i] < 0 && tmp.cpu_node[i] >= 0 &&
				    (unsigned)tmp.cpu_node[i] < g_topo.nnode_ids)
					g_topo.cpu_node[i] = tmp.cpu_node[i];
			}
			g_topo.ncpus = tmp.ncpus;
			g_topo.hwloc_loaded = true;
			result = 0;
		} else {
			result = EFAULT;
		}
	}
	lock_release(&g_topo_lock);
	return result;
}

/* ---- mapping ---- */

static bool node_allowed(const topology_t *t, unsigned node)
{
	return node < 64 ? (t->node_allowed >> node) & 1 : true;
}

static unsigned first_allowed_node(const topology_t *t)
{
	return t->node_allowed ? (unsigned)__builtin_ctzll(t->node_allowed) : 0;
}

enum arena_mode topology_choose_mode(const topology_t *t, enum arena_mode asked)
{
	if (asked != ARENA_MODE_AUTO)
		return asked;
	/* An arena per CPU keeps bin locks uncontended; past 256 CPUs the
	 * per-arena partial slabs cost more memory than the locks cost time. */
	return t->ncpu_ids <= 256 ? ARENA_MODE_PERCPU : ARENA_MODE_PERNODE;
}

unsigned topology_narenas(const topology_t *t, enum arena_mode m)
{
	if (m == ARENA_MODE_COUNT)
		return t->count ? t->count : 1;
	return m == ARENA_MODE_PERNODE ? t->nnode_ids : t->ncpu_ids;
}

/* ARENA_MODE_COUNT: arena i serves the (i mod k)-th of the k allowed nodes. */
static int count_arena_node(const topology_t *t, unsigned arena)
{
	if (t->nnodes <= 1)
		return t->nnodes == 1 ? 0 : -1;
	uint64_t m = t->node_allowed ? t->node_allowed : 1;
	unsigned k = arena % (unsigned)__builtin_popcountll(m);
	while (k--)
		m &= m - 1;
	return __builtin_ctzll(m);
}

/* ARENA_MODE_COUNT: CPU c uses arena c mod n, or the next one that serves its
 * node. */
static unsigned count_arena_of(const topology_t *t, unsigned cpu, unsigned node)
{
	unsigned n = topology_narenas(t, ARENA_MODE_COUNT);
	if (t->nnodes > 1 && !t->policy_interleave)
		for (unsigned k = 0; k < n; k++)
			if (count_arena_node(t, (cpu + k) % n) == (int)node)
				return (cpu + k) % n;
	return cpu % n;
}

unsigned topology_arena_of(const topology_t *t, enum arena_mode m, unsigned cpu, unsigned node)
{
	if (m == ARENA_MODE_COUNT)
		return count_arena_of(t, cpu, node);
	if (m == ARENA_MODE_PERNODE) {
		if (node < t->nnode_ids && node_allowed(t, node))
			return node;
		return first_allowed_node(t);
	}
	return cpu < t->ncpu_ids ? cpu : cpu % t->ncpu_ids;
}

int topology_arena_node(const topology_t *t, enum arena_mode m, unsigned arena)
{
	if (t->policy_interleave)
		return -1;
	if (m == ARENA_MODE_COUNT)
		return count_arena_node(t, arena);
	int node;
	if (m == ARENA_MODE_PERNODE)
		node = (int)arena;
	else
		node = arena < t->ncpu_ids ? t->cpu_node[arena] : -1;
	if (node < 0)
		return t->nnodes > 1 ? (int)first_allowed_node(t) : (t->nnodes == 1 ? 0 : -1);
	if (!node_allowed(t, (unsigned)node))
		return (int)first_allowed_node(t);
	return node;
}

void topology_arena_cpus(const topology_t *t, enum arena_mode m, unsigned arena, char *buf,
                         size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	if (m == ARENA_MODE_COUNT) {
		for (unsigned c = 0; c < t->ncpu_ids; c++)
			if (t->cpu_node[c] >= 0 &&
			    count_arena_of(t, c, (unsigned)t->cpu_node[c]) == arena)
				len += hm_format(buf + len, len < size ? size - len : 0, "%s%u",
				                 len ? "," : "", c);
		return;
	}
	unsigned i = 0;
	while (i < t->ncpu_ids) {
		bool in = m == ARENA_MODE_PERNODE ? t->cpu_node[i] == (int)arena : i == arena;
		if (!in || t->cpu_node[i] < 0) {
			i++;
			continue;
		}
		unsigned j = i;
		while (j + 1 < t->ncpu_ids && m == ARENA_MODE_PERNODE && t->cpu_node[j + 1] == (int)arena)
			j++;
		if (j == i)
			len += hm_format(buf + len, len < size ? size - len : 0, "%s%u", len ? "," : "", i);
		else
			len += hm_format(buf + len, len < size ? size - len : 0, "%s%u-%u", len ? "," : "", i, j);
		i = j + 1;
	}
}
