/* topo_hwloc.c - the hwloc module (hakmem-topo.so): reads the machine's (or a
 * synthetic) topology with hwloc into hakmem's table. libhakmem.so loads it
 * with dlopen the first time the full topology matters, so a program that
 * never asks never links hwloc. It runs with no allocator lock held. */
#include "topology.h"

#include <hwloc.h>
#include <string.h>

__attribute__((visibility("default"))) int hakmem_topo_read(topology_t *t, const char *synthetic);

int hakmem_topo_read(topology_t *t, const char *synthetic)
{
	hwloc_topology_t topo;
	if (hwloc_topology_init(&topo) != 0)
		return -1;
	/* Offline and cpuset-restricted CPUs keep their ids in the table. */
	hwloc_topology_set_flags(topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
	/* hwloc's x86 backend binds the calling thread to every CPU in turn to run
	 * cpuid there, which would move an application thread off the CPUs it was
	 * confined to (numactl --cpunodebind) and make it follow to other arenas.
	 * Linux's sysfs says all hakmem needs. */
	hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "x86");
	if (synthetic != NULL && hwloc_topology_set_synthetic(topo, synthetic) != 0) {
		hwloc_topology_destroy(topo);
		return -1;
	}
	if (hwloc_topology_load(topo) != 0) {
		hwloc_topology_destroy(topo);
		return -1;
	}
	for (unsigned i = 0; i < TOPO_MAX_CPUS; i++) {
		t->cpu_node[i] = -1;
		t->cpu_core[i] = -1;
	}
	t->ncpu_ids = t->ncpus = t->nnode_ids = t->nnodes = 0;
	t->node_allowed = 0;
	int nnodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	for (int n = 0; n < nnodes; n++) {
		hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)n);
		unsigned id = node->os_index;
		if (id >= TOPO_MAX_NODES)
			continue;
		t->nnodes++;
		if (id + 1 > t->nnode_ids)
			t->nnode_ids = id + 1;
		if (id < 64)
			t->node_allowed |= (uint64_t)1 << id;
	}
	int npus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
	for (int i = 0; i < npus; i++) {
		hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, (unsigned)i);
		unsigned cpu = pu->os_index;
		if (cpu >= TOPO_MAX_CPUS)
			continue;
		t->ncpus++;
		if (cpu + 1 > t->ncpu_ids)
			t->ncpu_ids = cpu + 1;
		hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
		/* The core's logical index: OS core ids repeat across packages. */
		t->cpu_core[cpu] = core ? (int32_t)core->logical_index : (int32_t)cpu;
		for (int n = 0; n < nnodes; n++) {
			hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)n);
			if (node->cpuset && hwloc_bitmap_isset(node->cpuset, cpu)) {
				t->cpu_node[cpu] = (int16_t)node->os_index;
				break;
			}
		}
	}
	if (t->nnodes == 0) {
		t->nnodes = t->nnode_ids = 1;
		t->node_allowed = 1;
	}
	t->hwloc_loaded = true;
	hwloc_topology_destroy(topo);
	return 0;
}
