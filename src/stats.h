/* stats.h - statistics snapshots (refreshed by writing "epoch") and the
 * printer, which is a client of hakmem_ctl. */
#ifndef HAKMEM_STATS_H
#define HAKMEM_STATS_H

#include "internal.h"
#include "sizeclass.h"
#include "topology.h"

typedef struct bin_stats {
	uint64_t nmalloc;   /* blocks handed to the program */
	uint64_t nfree;     /* blocks the program freed */
	uint64_t nrefills;  /* thread-cache refills from this bin */
	uint64_t nflushes;  /* batches given back to this bin */
	uint64_t curslabs;  /* active slabs */
	uint64_t curregs;   /* blocks outside slabs (held, or cached in threads) */
	uint64_t remote_frees; /* blocks freed by threads of other arenas */
	uint64_t ncached;   /* blocks sitting in live threads' caches (bound to this arena) */
} bin_stats_t;

typedef struct arena_stats {
	bin_stats_t bins[NCLASSES];
	uint64_t large_nmalloc, large_nfree;
	uint64_t large_allocated;  /* usable bytes of live large blocks */
	uint64_t large_active;     /* mapped bytes of live large blocks */
	uint64_t large_cached;     /* mapped bytes of cached large mappings */
	uint64_t nsuperslabs;
	uint64_t mapped, retained, resident;
	uint64_t remote_frees;     /* all classes */
	uint64_t ss_mapped;        /* bytes of SuperSlabs mapped */
	uint64_t ss_free_units;    /* free 64 KiB units in them */
	uint64_t ss_dirty_free;    /* bytes of free units whose pages are still resident */
	uint64_t large_nlive;      /* live large blocks */
	uint64_t empty_bytes;      /* bytes of the empty slabs the bins keep for reuse */
	uint64_t dirty;            /* free and still resident, waiting for decay: free units'
	                              pages, kept empty slabs, cached large mappings */
	uint64_t purged;           /* bytes given back to the OS so far (arena_t.purged) */
} arena_stats_t;

typedef struct snapshot {
	uint64_t epoch;
	uint64_t allocated, active, resident, mapped, retained, metadata;
	uint64_t dirty, purged;        /* sums of the arenas' */
	uint64_t nmalloc, nfree;       /* all sizes, process totals */
	uint64_t large_nmalloc, large_nfree;
	uint64_t bind_failures;        /* NUMA placements the kernel refused */
	uint64_t node_resident[TOPO_MAX_NODES]; /* resident bytes per node (move_pages) */
	arena_stats_t *arenas;         /* g_narenas entries */
	struct stats_range *ranges;    /* scratch: mappings whose pages the kernel is asked
	                                  about, copied under the arena locks */
	size_t ranges_cap;             /* entries mapped at `ranges` */
	bool kernel_done;              /* resident figures asked of the kernel since the
	                                  counters were read */
} snapshot_t;

/* Recomputes *s from the arenas and the live threads; `kernel`: also asks
 * the kernel which pages are resident, and on which node (mincore,
 * move_pages). Caller serialises. */
int stats_refresh(snapshot_t *s, bool kernel);
/* Asks the kernel for the resident figures of *s (mincore, and move_pages
 * with more than one node), no allocator lock held while it answers. */
void stats_refresh_kernel(snapshot_t *s);

/* glibc's reports, from a snapshot of their own (no kernel query). */
struct mallinfo2;
int stats_mallinfo(struct mallinfo2 *mi);
void stats_malloc_stats(void);
int stats_malloc_info(int options, void *fp);

/* Writes the statistics where opt.stats_print / opt.stats_file say. */
void stats_print_at_exit(void);

#endif
