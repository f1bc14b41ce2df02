/* test_topology.c - the topology table and the arena mapping on synthetic
 * machines, and placement on nodes the host does not have.
 *
 * The tables come from the hwloc module's own reader (src/topo_hwloc.c,
 * compiled into this program) given hwloc synthetic descriptions, so the
 * machine running the test does not matter:
 *
 *   one node          core:4 pu:2
 *   the VM            pack:2 [numa] core:2 pu:1        (test/numa)
 *   four nodes        pack:4 [numa] core:2 pu:2
 *   sparse node ids   pack:2 [numa(indexes=1,3)] core:2 pu:1
 *   sparse CPU ids    pack:2 [numa] core:2 pu:1(indexes=0,2,5,7)
 *   Linux SMT order   pack:2 [numa] core:2 pu:2(indexes=0,4,1,5,2,6,3,7)
 *   past 256 CPUs     pack:2 [numa] core:160 pu:1
 *
 * plus HWLOC_SYNTHETIC and HWLOC_XMLFILE read from the environment. On each
 * the pure mapping functions of src/topology.h are checked in percpu and
 * pernode mode: arena counts, the arena of a thread on each CPU, each arena's
 * node and CPU list, with numactl-like node_allowed masks and interleaving.
 *
 * The last tests make the running allocator (libhakmem_core.la, whose malloc
 * is hakmem's) believe it runs on four nodes with every arena on node 3,
 * which no test machine has: mbind fails, allocations still succeed and
 * stats.numa.bind_failures counts the failures, with numa.policy preferred
 * and bind. They poke internal state (g_topo, the arenas' nodes) and restore
 * it afterwards.
 */
#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"
#include "arena.h"
#include "topology.h"
#include "expect.h"

/* The reader of hakmem-topo.so, linked in from src/topo_hwloc.c. */
int hakmem_topo_read(topology_t *t, const char *synthetic);

static topology_t g_t; /* the table under test (24 KiB: not on the stack) */

static bool load(const char *synthetic)
{
	memset(&g_t, 0x5a, sizeof g_t); /* the reader must set every field */
	g_t.policy_set = false;
	g_t.policy_interleave = false;
	int r = hakmem_topo_read(&g_t, synthetic);
	g_t.policy_set = false;
	g_t.policy_interleave = false;
	return expect_int_eq(r, 0, "hakmem_topo_read(\"%s\")", synthetic ? synthetic : "(machine)");
}

/* Expects the CPU list of arena i in mode m. */
#define expect_cpus(m, i, want)                                                           \
	do {                                                                               \
		char buf_[256];                                                                \
		topology_arena_cpus(&g_t, (m), (i), buf_, sizeof buf_);                        \
		expect_str_eq(buf_, (want), "arena_cpus(%s, %u)", mode_name(m), (unsigned)(i)); \
	} while (0)

static const char *mode_name(enum arena_mode m)
{
	return m == ARENA_MODE_PERCPU ? "percpu" : m == ARENA_MODE_PERNODE ? "pernode" : "auto";
}

/* Checks the table: ids, counts, the node of every CPU id (-1: absent) and the
 * core of every CPU id, against arrays of n entries. */
static void expect_table(unsigned ncpu_ids, unsigned ncpus, unsigned nnode_ids, unsigned nnodes,
                         uint64_t allowed, const int *node, const int *core)
{
	expect_u_eq(g_t.ncpu_ids, ncpu_ids);
	expect_u_eq(g_t.ncpus, ncpus);
	expect_u_eq(g_t.nnode_ids, nnode_ids);
	expect_u_eq(g_t.nnodes, nnodes);
	expect_u64_eq(g_t.node_allowed, allowed);
	expect_true(g_t.hwloc_loaded);
	for (unsigned c = 0; c < ncpu_ids; c++) {
		expect_int_eq(g_t.cpu_node[c], node[c], "cpu_node[%u]", c);
		if (core != NULL)
			expect_int_eq(g_t.cpu_core[c], core[c], "cpu_core[%u]", c);
	}
	for (unsigned c = ncpu_ids; c < TOPO_MAX_CPUS; c++)
		if (!expect_int_eq(g_t.cpu_node[c], -1, "cpu_node[%u] past the ids", c))
			break;
}

/* In percpu mode every CPU id has its own arena, on its CPU's node. */
static void expect_percpu_identity(void)
{
	enum arena_mode m = ARENA_MODE_PERCPU;
	expect_u_eq(topology_narenas(&g_t, m), g_t.ncpu_ids);
	for (unsigned c = 0; c < g_t.ncpu_ids; c++) {
		if (g_t.cpu_node[c] < 0)
			continue;
		expect_u_eq(topology_arena_of(&g_t, m, c, (unsigned)g_t.cpu_node[c]), c, "cpu %u", c);
		expect_int_eq(topology_arena_node(&g_t, m, c), g_t.cpu_node[c], "arena %u", c);
		char want[16];
		snprintf(want, sizeof want, "%u", c);
		expect_cpus(m, c, want);
	}
}

/* ---- tables ------------------------------------------------------------- */

static void test_one_node(void)
{
	if (!load("core:4 pu:2"))
		return;
	static const int node[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
	static const int core[8] = { 0, 0, 1, 1, 2, 2, 3, 3 };
	expect_table(8, 8, 1, 1, 0x1, node, core);
	expect_int_eq(topology_choose_mode(&g_t, ARENA_MODE_AUTO), ARENA_MODE_PERCPU);
	expect_percpu_identity();
	enum arena_mode m = ARENA_MODE_PERNODE;
	expect_u_eq(topology_narenas(&g_t, m), 1);
	for (unsigned c = 0; c < 8; c++)
		expect_u_eq(topology_arena_of(&g_t, m, c, 0), 0, "cpu %u", c);
	expect_int_eq(topology_arena_node(&g_t, m, 0), 0);
	expect_cpus(m, 0, "0-7");
}

/* The VM of test/numa: node 0 = CPUs 0-1, node 1 = CPUs 2-3. */
static void test_two_nodes(void)
{
	if (!load("pack:2 [numa] core:2 pu:1"))
		return;
	static const int node[4] = { 0, 0, 1, 1 };
	static const int core[4] = { 0, 1, 2, 3 };
	expect_table(4, 4, 2, 2, 0x3, node, core);
	expect_int_eq(topology_choose_mode(&g_t, ARENA_MODE_AUTO), ARENA_MODE_PERCPU);
	expect_int_eq(topology_choose_mode(&g_t, ARENA_MODE_PERNODE), ARENA_MODE_PERNODE);
	expect_percpu_identity();
	enum arena_mode m = ARENA_MODE_PERNODE;
	expect_u_eq(topology_narenas(&g_t, m), 2);
	for (unsigned c = 0; c < 4; c++)
		expect_u_eq(topology_arena_of(&g_t, m, c, (unsigned)node[c]), (unsigned)node[c], "cpu %u", c);
	expect_int_eq(topology_arena_node(&g_t, m, 0), 0);
	expect_int_eq(topology_arena_node(&g_t, m, 1), 1);
	expect_cpus(m, 0, "0-1");
	expect_cpus(m, 1, "2-3");
}

static void test_four_nodes(void)
{
	if (!load("pack:4 [numa] core:2 pu:2"))
		return;
	int node[16], core[16];
	for (int c = 0; c < 16; c++) {
		node[c] = c / 4;
		core[c] = c / 2;
	}
	expect_table(16, 16, 4, 4, 0xf, node, core);
	expect_percpu_identity();
	enum arena_mode m = ARENA_MODE_PERNODE;
	expect_u_eq(topology_narenas(&g_t, m), 4);
	for (unsigned c = 0; c < 16; c++)
		expect_u_eq(topology_arena_of(&g_t, m, c, c / 4), c / 4, "cpu %u", c);
	for (unsigned n = 0; n < 4; n++)
		expect_int_eq(topology_arena_node(&g_t, m, n), (int)n);
	expect_cpus(m, 0, "0-3");
	expect_cpus(m, 2, "8-11");
	expect_cpus(m, 3, "12-15");
}

/* Node ids 1 and 3 only: ids index the tables directly, so there are four
 * pernode arenas of which two have a node. */
static void test_sparse_nodes(void)
{
	if (!load("pack:2 [numa(indexes=1,3)] core:2 pu:1"))
		return;
	static const int node[4] = { 1, 1, 3, 3 };
	expect_table(4, 4, 4, 2, 0xa, node, NULL);
	expect_percpu_identity();
	enum arena_mode m = ARENA_MODE_PERNODE;
	expect_u_eq(topology_narenas(&g_t, m), 4);
	expect_u_eq(topology_arena_of(&g_t, m, 0, 1), 1);
	expect_u_eq(topology_arena_of(&g_t, m, 3, 3), 3);
	/* A node the table lacks (getcpu cannot say 0 here, but a kernel
	 * and hwloc may disagree): the first node that exists. */
	expect_u_eq(topology_arena_of(&g_t, m, 0, 0), 1);
	expect_u_eq(topology_arena_of(&g_t, m, 0, 2), 1);
	expect_u_eq(topology_arena_of(&g_t, m, 0, 200), 1);
	expect_int_eq(topology_arena_node(&g_t, m, 1), 1);
	expect_int_eq(topology_arena_node(&g_t, m, 3), 3);
	/* The arenas of the missing ids serve no CPU; their memory, if any,
	 * goes to a node that exists. */
	expect_int_eq(topology_arena_node(&g_t, m, 0), 1);
	expect_int_eq(topology_arena_node(&g_t, m, 2), 1);
	expect_cpus(m, 0, "");
	expect_cpus(m, 1, "0-1");
	expect_cpus(m, 2, "");
	expect_cpus(m, 3, "2-3");
}

/* CPU ids 0, 2, 5, 7 (offline or cpuset-restricted CPUs between them). */
static void test_sparse_cpus(void)
{
	if (!load("pack:2 [numa] core:2 pu:1(indexes=0,2,5,7)"))
		return;
	static const int node[8] = { 0, -1, 0, -1, -1, 1, -1, 1 };
	static const int core[8] = { 0, -1, 1, -1, -1, 2, -1, 3 };
	expect_table(8, 4, 2, 2, 0x3, node, core);
	expect_percpu_identity();
	enum arena_mode m = ARENA_MODE_PERCPU;
	expect_u_eq(topology_narenas(&g_t, m), 8);
	/* The arena of an absent CPU id serves nobody and has a valid node. */
	expect_int_eq(topology_arena_node(&g_t, m, 1), 0);
	expect_int_eq(topology_arena_node(&g_t, m, 6), 0);
	expect_cpus(m, 1, "");
	/* A CPU id past the table (hot-plugged later) wraps. */
	expect_u_eq(topology_arena_of(&g_t, m, 13, 1), 5);
	m = ARENA_MODE_PERNODE;
	expect_u_eq(topology_narenas(&g_t, m), 2);
	expect_u_eq(topology_arena_of(&g_t, m, 5, 1), 1);
	expect_cpus(m, 0, "0,2");
	expect_cpus(m, 1, "5,7");
}

/* Linux numbers hyperthread siblings after all the first threads: on two
 * sockets of two cores, node 0 has CPUs 0,1,4,5 and CPU 4 shares CPU 0's core. */
static void test_smt_order(void)
{
	if (!load("pack:2 [numa] core:2 pu:2(indexes=0,4,1,5,2,6,3,7)"))
		return;
	static const int node[8] = { 0, 0, 1, 1, 0, 0, 1, 1 };
	static const int core[8] = { 0, 1, 2, 3, 0, 1, 2, 3 };
	expect_table(8, 8, 2, 2, 0x3, node, core);
	expect_percpu_identity();
	enum arena_mode m = ARENA_MODE_PERNODE;
	expect_u_eq(topology_arena_of(&g_t, m, 4, 0), 0);
	expect_u_eq(topology_arena_of(&g_t, m, 6, 1), 1);
	expect_cpus(m, 0, "0-1,4-5");
	expect_cpus(m, 1, "2-3,6-7");
}

/* auto: an arena per CPU up to 256 CPU ids, then an arena per node. */
static void test_auto_mode(void)
{
	if (load("pack:2 [numa] core:128 pu:1")) {
		expect_u_eq(g_t.ncpu_ids, 256);
		expect_int_eq(topology_choose_mode(&g_t, ARENA_MODE_AUTO), ARENA_MODE_PERCPU);
	}
	if (load("pack:2 [numa] core:160 pu:1")) {
		expect_u_eq(g_t.ncpu_ids, 320);
		expect_int_eq(topology_choose_mode(&g_t, ARENA_MODE_AUTO), ARENA_MODE_PERNODE);
		expect_int_eq(topology_choose_mode(&g_t, ARENA_MODE_PERCPU), ARENA_MODE_PERCPU);
		expect_u_eq(topology_narenas(&g_t, ARENA_MODE_PERNODE), 2);
		expect_u_eq(topology_arena_of(&g_t, ARENA_MODE_PERNODE, 300, 1), 1);
		expect_cpus(ARENA_MODE_PERNODE, 1, "160-319");
	}
}

/* ---- numactl-like restrictions ------------------------------------------ */

/* numactl --membind=1 (or --preferred, a cpuset) on the VM's table. */
static void test_membind(void)
{
	if (!load("pack:2 [numa] core:2 pu:1"))
		return;
	g_t.node_allowed = 0x2;
	g_t.policy_set = true;
	enum arena_mode m = ARENA_MODE_PERNODE;
	for (unsigned c = 0; c < 4; c++)
		expect_u_eq(topology_arena_of(&g_t, m, c, c / 2), 1, "cpu %u", c);
	expect_int_eq(topology_arena_node(&g_t, m, 0), 1);
	expect_int_eq(topology_arena_node(&g_t, m, 1), 1);
	m = ARENA_MODE_PERCPU;
	for (unsigned c = 0; c < 4; c++) {
		expect_u_eq(topology_arena_of(&g_t, m, c, c / 2), c, "cpu %u", c);
		expect_int_eq(topology_arena_node(&g_t, m, c), 1, "arena %u", c);
	}

	/* Four nodes, --membind=1,3: the allowed nodes keep their arenas,
	 * the others go to the first allowed node. */
	if (!load("pack:4 [numa] core:2 pu:2"))
		return;
	g_t.node_allowed = 0xa;
	g_t.policy_set = true;
	m = ARENA_MODE_PERNODE;
	expect_u_eq(topology_arena_of(&g_t, m, 0, 0), 1);
	expect_u_eq(topology_arena_of(&g_t, m, 4, 1), 1);
	expect_u_eq(topology_arena_of(&g_t, m, 8, 2), 1);
	expect_u_eq(topology_arena_of(&g_t, m, 12, 3), 3);
	m = ARENA_MODE_PERCPU;
	static const int want[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3 };
	for (unsigned a = 0; a < 16; a++)
		expect_int_eq(topology_arena_node(&g_t, m, a), want[a], "arena %u", a);
}

/* numactl --interleave: arenas have no node (hakmem leaves placement alone). */
static void test_interleave(void)
{
	if (!load("pack:4 [numa] core:2 pu:2"))
		return;
	g_t.policy_set = true;
	g_t.policy_interleave = true;
	for (unsigned a = 0; a < 16; a++)
		expect_int_eq(topology_arena_node(&g_t, ARENA_MODE_PERCPU, a), -1, "arena %u", a);
	for (unsigned a = 0; a < 4; a++)
		expect_int_eq(topology_arena_node(&g_t, ARENA_MODE_PERNODE, a), -1, "arena %u", a);
	/* Binding threads to arenas is unchanged. */
	expect_u_eq(topology_arena_of(&g_t, ARENA_MODE_PERNODE, 9, 2), 2);
}

/* ---- sources: the environment, XML, bad input, the list parser ----------- */

static void test_env_synthetic(void)
{
	setenv("HWLOC_SYNTHETIC", "pack:2 [numa(indexes=2,5)] core:3 pu:1", 1);
	bool ok = load(NULL);
	unsetenv("HWLOC_SYNTHETIC");
	if (!ok)
		return;
	static const int node[6] = { 2, 2, 2, 5, 5, 5 };
	expect_table(6, 6, 6, 2, 0x24, node, NULL);
	expect_cpus(ARENA_MODE_PERNODE, 5, "3-5");
}

static void test_xml(void)
{
	/* Write a topology with hwloc itself, then read it back through
	 * HWLOC_XMLFILE (what an operator does with `lstopo machine.xml`). */
	char path[] = "/tmp/hakmem-topo-XXXXXX";
	int fd = mkstemp(path);
	if (!expect_int_ge(fd, 0, "mkstemp"))
		return;
	close(fd);
	hwloc_topology_t topo;
	bool made = hwloc_topology_init(&topo) == 0;
	made = made && hwloc_topology_set_synthetic(topo, "pack:2 [numa(indexes=0,7)] core:2 pu:2") == 0;
	made = made && hwloc_topology_load(topo) == 0;
	made = made && hwloc_topology_export_xml(topo, path, 0) == 0;
	hwloc_topology_destroy(topo);
	if (!expect_true(made, "exporting a synthetic topology to %s", path)) {
		unlink(path);
		return;
	}
	setenv("HWLOC_XMLFILE", path, 1);
	bool ok = load(NULL);
	unsetenv("HWLOC_XMLFILE");
	unlink(path);
	if (!ok)
		return;
	static const int node[8] = { 0, 0, 0, 0, 7, 7, 7, 7 };
	static const int core[8] = { 0, 0, 1, 1, 2, 2, 3, 3 };
	expect_table(8, 8, 8, 2, 0x81, node, core);
	expect_cpus(ARENA_MODE_PERNODE, 7, "4-7");
	expect_int_eq(topology_arena_node(&g_t, ARENA_MODE_PERNODE, 3), 0);
}

static void test_bad_input(void)
{
	topology_t *t = calloc(1, sizeof *t);
	if (!expect_ptr_not_null(t))
		return;
	expect_int_ne(hakmem_topo_read(t, "pack:2 [numa] nonsense:x"), 0);
	expect_int_ne(hakmem_topo_read(t, ""), 0);
	/* The machine itself always reads. */
	expect_int_eq(hakmem_topo_read(t, NULL), 0);
	expect_u_ge(t->nnodes, 1);
	expect_u_ge(t->ncpus, 1);
	free(t);
}

typedef struct {
	unsigned ids[32];
	unsigned n;
} idlist_t;

static void cb_collect(void *ctx, unsigned id)
{
	idlist_t *l = ctx;
	if (l->n < 32)
		l->ids[l->n] = id;
	l->n++;
}

static void expect_list(const char *s, int err, const char *want)
{
	idlist_t l = { .n = 0 };
	expect_int_eq(topology_parse_list(s, cb_collect, &l), err, "\"%s\"", s);
	if (err != 0)
		return;
	char got[256];
	size_t len = 0;
	got[0] = '\0';
	for (unsigned i = 0; i < l.n && i < 32; i++)
		len += (size_t)snprintf(got + len, sizeof got - len, "%s%u", i ? " " : "", l.ids[i]);
	expect_str_eq(got, want, "\"%s\"", s);
}

static void test_parse_list(void)
{
	expect_list("0-3,8,10-11\n", 0, "0 1 2 3 8 10 11");
	expect_list("5", 0, "5");
	expect_list("", 0, "");
	expect_list("\n", 0, "");
	expect_list("1023", 0, "1023");
	expect_list("x", EINVAL, NULL);
	expect_list("3-", EINVAL, NULL);
	expect_list("1,,2", EINVAL, NULL);
}

/* ---- placement on a node the host lacks --------------------------------- */

static uint64_t bind_failures(void)
{
	uint64_t epoch = 1, v = 0;
	size_t sz = sizeof v;
	hakmem_ctl("epoch", NULL, NULL, &epoch, sizeof epoch);
	expect_int_eq(hakmem_ctl("stats.numa.bind_failures", &v, &sz, NULL, 0), 0);
	return v;
}

/* Allocates small blocks across several fresh SuperSlabs and a few large
 * mappings, writes and checks them, frees them. In a thread of its own, so
 * the thread cache starts empty. */
static void *alloc_worker(void *arg)
{
	enum { NSMALL = 3000, NLARGE = 4 };
	static void *small[NSMALL], *large[NLARGE];
	bool *ok = arg;
	*ok = true;
	for (unsigned i = 0; i < NSMALL; i++) {
		small[i] = hakmem_malloc(2048);
		if (small[i] == NULL) {
			*ok = false;
			break;
		}
		memset(small[i], (int)(i & 0xff), 2048);
	}
	for (unsigned i = 0; i < NLARGE; i++) {
		large[i] = hakmem_malloc((size_t)(3 + i) << 20);
		if (large[i] == NULL) {
			*ok = false;
			break;
		}
		memset(large[i], 0x5a, (size_t)(3 + i) << 20);
	}
	for (unsigned i = 0; i < NSMALL && small[i] != NULL; i++)
		if (((unsigned char *)small[i])[2047] != (i & 0xff))
			*ok = false;
	for (unsigned i = 0; i < NSMALL; i++) {
		hakmem_free(small[i]);
		small[i] = NULL;
	}
	for (unsigned i = 0; i < NLARGE; i++) {
		hakmem_free(large[i]);
		large[i] = NULL;
	}
	return NULL;
}

static bool run_alloc_thread(void)
{
	pthread_t th;
	bool ok = false;
	if (!expect_int_eq(pthread_create(&th, NULL, alloc_worker, &ok), 0))
		return false;
	pthread_join(th, NULL);
	return ok;
}

static topology_t g_saved_topo;
static int g_saved_node[ARENAS_MAX];

/* The process's table claims four nodes; every arena's memory goes to node 3. */
static void pretend_node3(void)
{
	g_saved_topo = g_topo;
	for (unsigned i = 0; i < g_narenas; i++) {
		arena_get(i); /* arenas are initialised on first use: do it now */
		g_saved_node[i] = g_arenas[i].node;
		g_arenas[i].node = 3;
	}
	g_topo.nnodes = 4;
	g_topo.nnode_ids = 4;
	g_topo.node_allowed = 0xf;
	g_topo.policy_set = false;
	g_topo.policy_interleave = false;
}

static void restore_topology(void)
{
	for (unsigned i = 0; i < g_narenas; i++)
		g_arenas[i].node = g_saved_node[i];
	g_topo = g_saved_topo;
}

static bool host_has_node3(void)
{
	return access("/sys/devices/system/node/node3", F_OK) == 0;
}

static void check_degrade(const char *policy)
{
	const char *old;
	size_t sz = sizeof old;
	expect_int_eq(hakmem_ctl("numa.policy", &old, &sz, &policy, sizeof policy), 0);
	/* Purge first, so the worker maps fresh SuperSlabs and large blocks. */
	hakmem_ctl("arenas.purge", NULL, NULL, NULL, 0);
	uint64_t before = bind_failures();
	pretend_node3();
	bool ok = run_alloc_thread();
	hakmem_ctl("arenas.purge", NULL, NULL, NULL, 0);
	restore_topology();
	uint64_t after = bind_failures();
	fprintf(stderr, "  numa.policy=%s: %" PRIu64 " placements on node 3 refused\n", policy,
	        after - before);
	expect_true(ok, "allocations with a placement on missing node 3 (numa.policy=%s)", policy);
	/* At least one SuperSlab and the large blocks each failed to bind. */
	expect_u64_ge(after - before, 2, "bind failures counted (numa.policy=%s)", policy);
	hakmem_ctl("numa.policy", NULL, NULL, &old, sizeof old);
}

static void test_missing_node_preferred(void)
{
	if (host_has_node3()) {
		test_skip("this host has a node 3");
		return;
	}
	check_degrade("preferred");
}

static void test_missing_node_bind(void)
{
	if (host_has_node3()) {
		test_skip("this host has a node 3");
		return;
	}
	check_degrade("bind");
}

/* Reads the first line of `path` starting with `key` (after it) into buf. */
static bool read_field(const char *path, const char *key, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, strlen(key)) != 0)
			continue;
		const char *v = line + strlen(key);
		while (*v == ' ' || *v == '\t' || *v == ':')
			v++;
		snprintf(buf, size, "%s", v);
		buf[strcspn(buf, "\n")] = '\0';
		found = true;
	}
	fclose(f);
	return found;
}

/* Without the pretence, on this host: the same allocations bind (or, on one
 * node, do not try) without failing. */
static void test_real_nodes_no_failure(void)
{
	/* A cpuset that withholds nodes the kernel has (a container on a
	 * NUMA host) makes mbind to them fail: counted, not a test failure. */
	char allowed[256], memory[256];
	if (read_field("/proc/self/status", "Mems_allowed_list", allowed, sizeof allowed) &&
	    read_field("/sys/devices/system/node/has_memory", "", memory, sizeof memory) &&
	    strcmp(allowed, memory) != 0) {
		test_skip("the cpuset allows nodes %s of %s", allowed, memory);
		return;
	}
	hakmem_ctl("arenas.purge", NULL, NULL, NULL, 0);
	uint64_t before = bind_failures();
	expect_true(run_alloc_thread());
	expect_u64_eq(bind_failures(), before, "mbind to the host's own nodes failed");
}

int main(void)
{
	test_run(test_one_node);
	test_run(test_two_nodes);
	test_run(test_four_nodes);
	test_run(test_sparse_nodes);
	test_run(test_sparse_cpus);
	test_run(test_smt_order);
	test_run(test_auto_mode);
	test_run(test_membind);
	test_run(test_interleave);
	test_run(test_env_synthetic);
	test_run(test_xml);
	test_run(test_bad_input);
	test_run(test_parse_list);
	test_run(test_real_nodes_no_failure);
	test_run(test_missing_node_preferred);
	test_run(test_missing_node_bind);
	return test_summary();
}
