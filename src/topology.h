/* topology.h - CPUs, cores and NUMA nodes, and how arenas map onto them.
 *
 * Two sources fill one table. At start-up, without allocating and without
 * loading any library, topology_init() reads sysfs: the possible CPU and node
 * ids and each node's CPU list; that is all that binding and placement need.
 * The full topology (cores, and any synthetic or XML topology given to hwloc)
 * is read by the hwloc module (hakmem-topo.so, linked with libhwloc), which
 * topology_load() loads with dlopen the first time a topology ctl key is
 * read: a one-node program that never asks never pays for hwloc.
 *
 * Ids are the operating system's: sparse, offline and cpuset-restricted ids
 * all index the tables directly.
 */
#ifndef HAKMEM_TOPOLOGY_H
#define HAKMEM_TOPOLOGY_H

#include "internal.h"

#define TOPO_MAX_CPUS  4096
#define TOPO_MAX_NODES 256

enum arena_mode {
	ARENA_MODE_AUTO = 0,   /* chosen from the topology at start */
	ARENA_MODE_PERCPU = 1, /* an arena per CPU, tied to its CPU's node */
	ARENA_MODE_PERNODE = 2, /* an arena per node */
	ARENA_MODE_COUNT = 3    /* opt.narenas arenas (topology_t.count), spread over
	                           the allowed nodes; a CPU's arena is one of its node's */
};

typedef struct topology {
	unsigned ncpu_ids;              /* highest possible CPU id + 1 */
	unsigned nnode_ids;             /* highest possible node id + 1 (1 without NUMA) */
	unsigned ncpus;                 /* CPUs present */
	unsigned nnodes;                /* nodes present (with CPUs or memory) */
	int16_t cpu_node[TOPO_MAX_CPUS]; /* node of each CPU id, -1 absent */
	int32_t cpu_core[TOPO_MAX_CPUS]; /* core (OS index of the PU's core), -1 unknown */
	uint64_t node_allowed;          /* nodes this process may place memory on (first 64) */
	bool policy_set;                /* the operator set a memory policy (numactl): keep it */
	bool policy_interleave;         /* ... and it interleaves: arenas have no node */
	bool hwloc_loaded;              /* cores known: the hwloc module ran */
	unsigned count;                 /* arenas of ARENA_MODE_COUNT */
} topology_t;

extern topology_t g_topo; /* [written at init and by topology_load under its lock] */

/* Reads sysfs and the process's memory policy. No allocation. */
void topology_init(topology_t *t);

/* Loads the hwloc module once and fills in what sysfs did not say. Must not be
 * called with any allocator lock held (hwloc allocates). Returns 0 or errno. */
int topology_load(void);

/* fork handlers for the load lock */
void topology_prefork(void);
void topology_postfork_parent(void);
void topology_postfork_child(void);

/* Mapping (pure functions of the table, unit-tested on synthetic topologies):
 * the one binding rule, for every mode. */
enum arena_mode topology_choose_mode(const topology_t *t, enum arena_mode asked);
unsigned topology_narenas(const topology_t *t, enum arena_mode m);
/* The arena for a thread running on cpu/node. */
unsigned topology_arena_of(const topology_t *t, enum arena_mode m, unsigned cpu, unsigned node);
/* The node arena i's memory goes to, -1 for none. */
int topology_arena_node(const topology_t *t, enum arena_mode m, unsigned arena);
/* Writes the CPU list of arena i ("0-3,8") into buf. */
void topology_arena_cpus(const topology_t *t, enum arena_mode m, unsigned arena, char *buf,
                         size_t size);
/* Parses a Linux list ("0-3,8,10-11") into a callback per id. */
int topology_parse_list(const char *s, void (*cb)(void *ctx, unsigned id), void *ctx);

/* What the hwloc module fills: the signature of hakmem_topo_read in
 * hakmem-topo.so. `synthetic` (may be NULL) is an hwloc synthetic
 * description used instead of the machine. */
typedef int (*topo_read_fn)(topology_t *t, const char *synthetic);

#endif
