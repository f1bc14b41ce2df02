/* stats.c - statistics snapshots and the printer. The printer reads every
 * figure through hakmem_ctl, like any other client. */
#include "stats.h"
#include "arena.h"
#include "atomic.h"
#include "conf.h"
#include "ctl.h"
#include "large.h"
#include "log.h"
#include "os.h"
#include "superslab.h"
#include "tcache.h"
#include "thread.h"

#include <hakmem.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* Adds the resident pages of [p, p+size) to their nodes' counts. */
static void count_node_pages(snapshot_t *s, void *p, size_t size)
{
	void *pages[256];
	int status[256];
	char *c = p;
	size_t npages = size / PAGE_SIZE;
	while (npages > 0) {
		unsigned long n = npages < 256 ? npages : 256;
		for (unsigned long i = 0; i < n; i++)
			pages[i] = c + i * PAGE_SIZE;
		if (os_page_nodes(pages, status, n) != 0)
			return;
		for (unsigned long i = 0; i < n; i++)
			if (status[i] >= 0 && status[i] < TOPO_MAX_NODES)
				s->node_resident[status[i]] += PAGE_SIZE;
		c += n * PAGE_SIZE;
		npages -= n;
	}
}

/* A live thread's unmerged counts go to the arena it is bound to: per class
 * what it handed out, took back and caches; its large slot is a block the
 * program freed (not live, but still mapped), and its slot hits are calls. */
static void live_bin(void *ctx, struct arena *a, unsigned cls, uint64_t nmalloc, uint64_t nfree,
                     uint64_t ncached)
{
	snapshot_t *s = ctx;
	bin_stats_t *b = &s->arenas[a->index].bins[cls];
	b->nmalloc += nmalloc;
	b->nfree += nfree;
	b->ncached += ncached;
}

static uint64_t sub_floor(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static void live_slot(void *ctx, struct arena *ta, struct arena *sa, uint64_t usable,
                      uint64_t mapped, uint64_t nmalloc, uint64_t nfree)
{
	snapshot_t *s = ctx;
	arena_stats_t *as = &s->arenas[ta->index];
	as->large_nmalloc += nmalloc;
	as->large_nfree += nfree;
	as = &s->arenas[sa->index];
	if (usable != 0) {
		as->large_allocated = sub_floor(as->large_allocated, usable);
		as->large_active = sub_floor(as->large_active, mapped);
		as->large_nlive = sub_floor(as->large_nlive, 1);
	}
}

/* A mapping whose resident pages a refresh counts. */
typedef struct stats_range {
	void *p;
	size_t size;
} stats_range_t;

/* Grows the scratch to at least n ranges. Whether it holds them. */
static bool ranges_reserve(snapshot_t *s, size_t n)
{
	if (n <= s->ranges_cap)
		return true;
	size_t cap = s->ranges_cap ? s->ranges_cap : PAGE_SIZE / sizeof(stats_range_t);
	while (cap < n)
		cap *= 2;
	void *p;
	if (os_map(cap * sizeof(stats_range_t), &p) != 0)
		return false;
	if (s->ranges != NULL)
		os_unmap(s->ranges, s->ranges_cap * sizeof(stats_range_t));
	s->ranges = p;
	s->ranges_cap = cap;
	return true;
}

/* Appends [p, p+size) at *n if there is room; counts it either way. */
static void range_add(snapshot_t *s, size_t *n, void *p, size_t size)
{
	if (*n < s->ranges_cap)
		s->ranges[*n] = (stats_range_t){ p, size };
	(*n)++;
}

/* The mappings of arena a (its SuperSlabs' mapped runs of units, live and
 * cached large mappings), copied under its locks into the scratch: the
 * kernel is asked about them after the locks are released (mincore and
 * move_pages take ~130 ms per GiB; slab acquire and release must not wait
 * for them). A mapping given back meanwhile answers fewer pages (a
 * placeholder has none resident). The number of ranges, 0 when the scratch
 * cannot be grown. */
static size_t arena_ranges(snapshot_t *s, arena_t *a)
{
	size_t want = (size_t)(atomic_load_relaxed(&a->nss) * 2 +
	                       atomic_load_relaxed(&a->large_nlive)) + LARGE_CACHE_SLOTS + 16;
	for (;;) {
		if (!ranges_reserve(s, want))
			return 0;
		size_t n = 0;
		lock_acquire(&a->ss_lock);
		for (chunk_t *c = a->ss_all; c; c = c->ss.all_next) {
			uint32_t m = c->ss.mapped_units;
			for (unsigned i = 0, run; i < SLABS_PER_SS; i += run ? run : 1) {
				run = ss_run_at(m, i);
				if (run != 0)
					range_add(s, &n, (char *)c + (size_t)i * SLAB_SIZE,
					          (size_t)run * SLAB_SIZE);
			}
		}
		lock_release(&a->ss_lock);
		lock_acquire(&a->large_lock);
		for (chunk_t *c = a->large_live; c; c = c->large.next)
			range_add(s, &n, c->large.map_base, c->large.map_size);
		for (int k = 0; k < LARGE_CACHE_SLOTS; k++) {
			chunk_t *c = a->large_cache[k].chunk;
			if (c != NULL)
				range_add(s, &n, c->large.map_base, c->large.map_size);
		}
		lock_release(&a->large_lock);
		if (n <= s->ranges_cap)
			return n;
		want = n * 2; /* it grew meanwhile: again, with room */
	}
}

/* Resident bytes of arena a, from the kernel, and per node: move_pages only
 * with more than one node (on one, every page is on the arena's node). */
static uint64_t arena_resident(snapshot_t *s, arena_t *a)
{
	size_t n = arena_ranges(s, a);
	uint64_t resident = 0;
	bool numa = g_topo.nnode_ids > 1;
	for (size_t i = 0; i < n; i++) {
		stats_range_t *r = &s->ranges[i];
		resident += os_resident_bytes(r->p, r->size);
		if (numa)
			count_node_pages(s, r->p, r->size);
	}
	if (!numa)
		s->node_resident[a->node >= 0 && a->node < TOPO_MAX_NODES ? a->node : 0] += resident;
	return resident;
}

void stats_refresh_kernel(snapshot_t *s)
{
	memset(s->node_resident, 0, sizeof s->node_resident);
	s->resident = 0;
	for (unsigned i = 0; i < g_narenas; i++) {
		arena_t *a = &g_arenas[i];
		s->arenas[i].resident = arena_ready(a) ? arena_resident(s, a) : 0;
		s->resident += s->arenas[i].resident;
	}
	s->kernel_done = true;
}

int stats_refresh(snapshot_t *s, bool kernel)
{
	if (g_arenas == NULL)
		return EFAULT;
	if (s->arenas == NULL) {
		void *p;
		if (os_map(ALIGN_UP(sizeof(arena_stats_t) * g_narenas, PAGE_SIZE), &p) != 0)
			return EFAULT;
		s->arenas = p;
	}
	tcache_merge_self();
	thread_reap(); /* first: a dead thread's cache goes back before the bins are read */
	arenas_collect(); /* a block freed by another arena's thread counts as free at once */
	s->bind_failures = __atomic_load_n(&g_bind_failures, __ATOMIC_RELAXED);
	uint64_t nss = 0, mapped = 0, retained = 0, active = 0, dirty = 0, purged = 0;
	uint64_t large_alloc = 0, large_nmalloc = 0, large_nfree = 0;
	for (unsigned i = 0; i < g_narenas; i++) {
		arena_t *a = &g_arenas[i];
		arena_stats_t *as = &s->arenas[i];
		memset(as, 0, sizeof *as);
		if (!arena_ready(a))
			continue;
		for (unsigned c = 0; c < NCLASSES; c++) {
			bin_t *b = &a->bins[c];
			lock_acquire(&b->lock);
			as->bins[c] = (bin_stats_t){ b->nmalloc, b->nfree, b->nrefills, b->nflushes,
			                             b->curslabs, b->curregs, b->remote_frees, 0 };
			as->remote_frees += b->remote_frees;
			as->empty_bytes += b->empty != NULL ? (uint64_t)class_units[c] * SLAB_SIZE : 0;
			lock_release(&b->lock);
		}
		lock_acquire(&a->ss_lock);
		as->nsuperslabs = a->nss;
		as->retained = a->retained;
		for (chunk_t *c = a->ss_all; c; c = c->ss.all_next) {
			as->ss_mapped += ss_mapped_bytes(c);
			as->ss_free_units += (unsigned)__builtin_popcount(c->ss.free_units);
			as->ss_dirty_free += (uint64_t)__builtin_popcount(c->ss.free_units &
			                                                  c->ss.dirty_units) * SLAB_SIZE;
		}
		lock_release(&a->ss_lock);
		lock_acquire(&a->large_lock);
		as->large_nmalloc = a->large_nmalloc;
		as->large_nfree = a->large_nfree;
		as->large_allocated = a->large_allocated;
		as->large_active = a->large_live_bytes;
		as->large_cached = a->large_cached_bytes;
		as->large_nlive = a->large_nlive;
		lock_release(&a->large_lock);
		as->mapped = as->ss_mapped + as->large_active + as->large_cached;
		as->dirty = as->ss_dirty_free + as->empty_bytes + as->large_cached;
		as->purged = atomic_load_relaxed(&a->purged);
	}
	tcache_stats_live(live_bin, live_slot, s);
	s->kernel_done = false;
	for (unsigned i = 0; i < g_narenas; i++) {
		const arena_stats_t *as = &s->arenas[i];
		for (unsigned c = 0; c < NCLASSES; c++)
			active += as->bins[c].curslabs * class_units[c] * SLAB_SIZE;
		nss += as->nsuperslabs;
		mapped += as->mapped;
		retained += as->retained;
		dirty += as->dirty;
		purged += as->purged;
		active += as->large_active;
		large_alloc += as->large_allocated;
		large_nmalloc += as->large_nmalloc;
		large_nfree += as->large_nfree;
	}
	uint64_t allocated = large_alloc, nmalloc = large_nmalloc, nfree = large_nfree;
	for (unsigned c = 0; c < NCLASSES; c++) {
		uint64_t m = 0, f = 0;
		for (unsigned i = 0; i < g_narenas; i++) {
			m += s->arenas[i].bins[c].nmalloc;
			f += s->arenas[i].bins[c].nfree;
		}
		nmalloc += m;
		nfree += f;
		if (m > f)
			allocated += (m - f) * class_size[c];
	}
	s->allocated = allocated;
	s->active = active > allocated ? active : allocated;
	s->mapped = mapped;
	s->dirty = dirty;
	s->purged = purged;
	s->retained = retained + superslab_retained_vm(); /* and the placeholders of destroyed SuperSlabs */
	s->resident = 0;
	if (kernel)
		stats_refresh_kernel(s);
	s->metadata = ALIGN_UP(sizeof(arena_t) * g_narenas, PAGE_SIZE) + thread_metadata_bytes() +
	              nss * SS_HEADER_SIZE + ALIGN_UP(sizeof(arena_stats_t) * g_narenas, PAGE_SIZE);
	s->nmalloc = nmalloc;
	s->nfree = nfree;
	s->large_nmalloc = large_nmalloc;
	s->large_nfree = large_nfree;
	return 0;
}

/* ---- printing ---- */

typedef struct printer {
	void (*cb)(void *, const char *);
	void *opaque;
	bool json;
	char buf[1024];
	size_t len;
} printer_t;

static void pr_flush(printer_t *p)
{
	if (p->len) {
		p->buf[p->len] = '\0';
		p->cb(p->opaque, p->buf);
		p->len = 0;
	}
}

__attribute__((format(printf, 2, 3))) static void pr(printer_t *p, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	size_t n = hm_vformat(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n >= sizeof tmp)
		n = sizeof tmp - 1;
	if (p->len + n >= sizeof p->buf - 1)
		pr_flush(p);
	memcpy(p->buf + p->len, tmp, n);
	p->len += n;
}

static uint64_t ctl_u64(const char *name)
{
	uint64_t v = 0;
	size_t sz = sizeof v;
	hakmem_ctl(name, &v, &sz, NULL, 0);
	return v;
}

static uint64_t ctl_u32(const char *name)
{
	unsigned v = 0;
	size_t sz = sizeof v;
	hakmem_ctl(name, &v, &sz, NULL, 0);
	return v;
}

/* stats.arenas.<a>.<field> */
static uint64_t arena_u64(unsigned a, const char *field)
{
	char name[128];
	hm_format(name, sizeof name, "stats.arenas.%u.%s", a, field);
	return ctl_u64(name);
}

static const char *const g_totals[] = { "allocated", "active", "resident", "mapped", "retained",
                                        "metadata", "dirty", "purged" };
static const char *const g_counts[] = { "nmalloc", "nfree" };
static const char *const g_bin_fields[] = { "nmalloc", "nfree", "nrefills", "nflushes",
                                            "curslabs", "curregs", "ncached", "remote_frees" };

static void print_json(printer_t *p)
{
	char name[128];
	const char *version = "";
	size_t sz = sizeof version;
	hakmem_ctl("version", &version, &sz, NULL, 0);
	pr(p, "{\"version\":\"%s\",\"epoch\":%llu,\n", version,
	   (unsigned long long)ctl_u64("epoch"));
	pr(p, "\"tiny\":{\"fast_cap\":%llu,\"refill\":%llu,\"drain_interval\":%llu},\n",
	   (unsigned long long)ctl_u32("tiny.fast_cap"), (unsigned long long)ctl_u32("tiny.refill"),
	   (unsigned long long)ctl_u32("tiny.drain_interval"));
	ssize_t decay = 0;
	sz = sizeof decay;
	hakmem_ctl("decay_ms", &decay, &sz, NULL, 0);
	pr(p, "\"decay_ms\":%lld,\n", (long long)decay);
	unsigned narenas = (unsigned)ctl_u32("arenas.narenas");
	pr(p, "\"arenas\":{\"narenas\":%u},\n\"stats\":{", narenas);
	for (size_t i = 0; i < ARRAY_LEN(g_totals); i++) {
		hm_format(name, sizeof name, "stats.%s", g_totals[i]);
		pr(p, "\"%s\":%llu,", g_totals[i], (unsigned long long)ctl_u64(name));
	}
	for (size_t i = 0; i < ARRAY_LEN(g_counts); i++) {
		hm_format(name, sizeof name, "stats.%s", g_counts[i]);
		pr(p, "\"%s\":%llu,", g_counts[i], (unsigned long long)ctl_u64(name));
	}
	unsigned nnodes = (unsigned)ctl_u32("topology.nodes");
	pr(p, "\n\"numa\":{\"bind_failures\":%llu},\"nodes\":{",
	   (unsigned long long)ctl_u64("stats.numa.bind_failures"));
	for (unsigned n = 0; n < nnodes; n++) {
		hm_format(name, sizeof name, "stats.nodes.%u.resident", n);
		pr(p, "%s\"%u\":{\"resident\":%llu}", n ? "," : "", n,
		   (unsigned long long)ctl_u64(name));
	}
	pr(p, "},");
	pr(p, "\n\"arenas\":{");
	for (unsigned a = 0; a < narenas; a++) {
		uint64_t lm = arena_u64(a, "large.nmalloc");
		uint64_t lf = arena_u64(a, "large.nfree");
		uint64_t rf = arena_u64(a, "remote_frees");
		pr(p, "%s\n\"%u\":{\"remote_frees\":%llu,\"large\":{\"nmalloc\":%llu,\"nfree\":%llu},\"classes\":{",
		   a ? "," : "", a, (unsigned long long)rf, (unsigned long long)lm,
		   (unsigned long long)lf);
		bool first = true;
		for (unsigned c = 0; c < NCLASSES; c++) {
			uint64_t any = 0;
			for (size_t f = 0; f < ARRAY_LEN(g_bin_fields); f++) {
				hm_format(name, sizeof name, "stats.arenas.%u.class.%u.%s", a, c,
				          g_bin_fields[f]);
				any |= ctl_u64(name);
			}
			if (any == 0)
				continue;
			pr(p, "%s\"%u\":{\"size\":%u", first ? "" : ",", c, class_size[c]);
			first = false;
			for (size_t f = 0; f < ARRAY_LEN(g_bin_fields); f++) {
				hm_format(name, sizeof name, "stats.arenas.%u.class.%u.%s", a, c,
				          g_bin_fields[f]);
				pr(p, ",\"%s\":%llu", g_bin_fields[f], (unsigned long long)ctl_u64(name));
			}
			pr(p, "}");
		}
		pr(p, "}}");
	}
	pr(p, "}}}\n");
}

static void print_text(printer_t *p)
{
	char name[128];
	const char *version = "";
	size_t sz = sizeof version;
	hakmem_ctl("version", &version, &sz, NULL, 0);
	unsigned narenas = (unsigned)ctl_u32("arenas.narenas");
	pr(p, "___ hakmem %s statistics ___\n", version);
	pr(p, "arenas: %u   tiny.fast_cap: %u   tiny.refill: %u\n", narenas,
	   (unsigned)ctl_u32("tiny.fast_cap"), (unsigned)ctl_u32("tiny.refill"));
	for (size_t i = 0; i < ARRAY_LEN(g_totals); i++) {
		hm_format(name, sizeof name, "stats.%s", g_totals[i]);
		pr(p, "%-10s %14llu bytes\n", g_totals[i], (unsigned long long)ctl_u64(name));
	}
	pr(p, "%-10s %14llu\n%-10s %14llu\n", "nmalloc", (unsigned long long)ctl_u64("stats.nmalloc"),
	   "nfree", (unsigned long long)ctl_u64("stats.nfree"));
	unsigned nnodes = (unsigned)ctl_u32("topology.nodes");
	for (unsigned n = 0; n < nnodes; n++) {
		hm_format(name, sizeof name, "stats.nodes.%u.resident", n);
		pr(p, "node %-5u %14llu bytes resident\n", n, (unsigned long long)ctl_u64(name));
	}
	pr(p, "%-10s %14llu\n", "numa bind failures",
	   (unsigned long long)ctl_u64("stats.numa.bind_failures"));
	for (unsigned a = 0; a < narenas; a++) {
		bool header = false;
		for (unsigned c = 0; c < NCLASSES; c++) {
			uint64_t v[ARRAY_LEN(g_bin_fields)];
			for (size_t f = 0; f < ARRAY_LEN(g_bin_fields); f++) {
				hm_format(name, sizeof name, "stats.arenas.%u.class.%u.%s", a, c,
				          g_bin_fields[f]);
				v[f] = ctl_u64(name);
			}
			if (v[0] == 0 && v[4] == 0)
				continue;
			if (!header) {
				pr(p, "arena %u:\n  %5s %8s %12s %12s %10s %10s %8s %10s %8s\n", a, "class",
				   "size", "nmalloc", "nfree", "refills", "flushes", "slabs", "regs",
				   "cached");
				header = true;
			}
			pr(p, "  %5u %8u %12llu %12llu %10llu %10llu %8llu %10llu %8llu\n", c,
			   class_size[c], (unsigned long long)v[0], (unsigned long long)v[1],
			   (unsigned long long)v[2], (unsigned long long)v[3], (unsigned long long)v[4],
			   (unsigned long long)v[5], (unsigned long long)v[6]);
		}
		uint64_t lm = arena_u64(a, "large.nmalloc");
		uint64_t lf = arena_u64(a, "large.nfree");
		uint64_t rf = arena_u64(a, "remote_frees");
		if (lm || rf)
			pr(p, "arena %u: large nmalloc %llu nfree %llu; remote frees %llu\n", a,
			   (unsigned long long)lm, (unsigned long long)lf, (unsigned long long)rf);
	}
}

static void write_stderr(void *opaque, const char *text)
{
	(void)opaque;
	os_write_all(2, text, strlen(text));
}

EXPORT void hakmem_stats_print(void (*write_cb)(void *, const char *), void *opaque,
                               const char *opts)
{
	printer_t p = { write_cb ? write_cb : write_stderr, write_cb ? opaque : NULL, false, "", 0 };
	uint64_t e = 1;
	size_t sz = sizeof e;
	hakmem_ctl("epoch", &e, &sz, &e, sz);
	if (opts != NULL && strchr(opts, 'J') != NULL)
		print_json(&p);
	else
		print_text(&p);
	pr_flush(&p);
}

static void write_fd(void *opaque, const char *text)
{
	os_write_all((int)(intptr_t)opaque, text, strlen(text));
}

/* opt.stats_file with every "%p" replaced by the process id, so that the
 * children of a program (which inherit its conf) do not overwrite its file. */
static void stats_file_path(char *buf, size_t size)
{
	size_t o = 0;
	for (const char *s = g_conf.stats_file; *s != '\0' && o + 1 < size; s++) {
		if (s[0] == '%' && s[1] == 'p') {
			o += hm_format(buf + o, size - o, "%d", os_getpid());
			s++;
		} else {
			buf[o++] = *s;
		}
	}
	buf[o < size ? o : size - 1] = '\0';
}

void stats_print_at_exit(void)
{
	int fd = 2;
	if (g_conf.stats_file[0] != '\0') {
		char path[sizeof g_conf.stats_file + 16];
		stats_file_path(path, sizeof path);
		fd = os_open_write(path);
		if (fd < 0) {
			hm_log("opt.stats_file: cannot open %s", path);
			fd = 2;
		}
	}
	hakmem_stats_print(write_fd, (void *)(intptr_t)fd,
	                   g_conf.stats_print == STATS_PRINT_JSON ? "J" : "");
	if (fd != 2)
		os_close(fd);
}

/* ---- glibc's reports (mallinfo2, malloc_stats, malloc_info) ---- */

static snapshot_t g_glibc_snap; /* [ctl lock] */

/* Bytes of small blocks the program holds by the count of threads bound to
 * arena i, which goes below zero where they freed blocks that threads of
 * other arenas allocated (the sum over arenas cannot), and the blocks and
 * bytes cached in those threads. */
static int64_t arena_small(const arena_stats_t *as, uint64_t *cached, uint64_t *ncached)
{
	int64_t in = 0;
	uint64_t cb = 0, cn = 0;
	for (unsigned c = 0; c < NCLASSES; c++) {
		const bin_stats_t *b = &as->bins[c];
		in += ((int64_t)b->nmalloc - (int64_t)b->nfree) * (int64_t)class_size[c];
		cb += b->ncached * class_size[c];
		cn += b->ncached;
	}
	*cached = cb;
	*ncached = cn;
	return in;
}

static uint64_t clamp0(int64_t v)
{
	return v > 0 ? (uint64_t)v : 0;
}

/* glibc's definitions, in hakmem's terms: the "arena" is SuperSlab memory,
 * "mmapped regions" are large blocks, free "fastbin" blocks are the blocks
 * in thread caches, "free chunks" the free 64 KiB units, and keepcost what
 * malloc_trim would give back now (resident free units, cached large
 * mappings). */
int stats_mallinfo(struct mallinfo2 *mi)
{
	memset(mi, 0, sizeof *mi);
	ctl_lock();
	int err = stats_refresh(&g_glibc_snap, false);
	if (err == 0) {
		int64_t inuse = 0;
		for (unsigned i = 0; i < g_narenas; i++) {
			const arena_stats_t *as = &g_glibc_snap.arenas[i];
			uint64_t cached, ncached;
			inuse += arena_small(as, &cached, &ncached);
			mi->arena += as->ss_mapped;
			mi->ordblks += as->ss_free_units;
			mi->smblks += ncached;
			mi->fsmblks += cached;
			mi->hblks += as->large_nlive;
			mi->hblkhd += as->large_active;
			mi->keepcost += as->ss_dirty_free + as->large_cached + as->empty_bytes;
		}
		mi->uordblks = clamp0(inuse);
		mi->fordblks = mi->arena > mi->uordblks ? mi->arena - mi->uordblks : 0;
	}
	ctl_unlock();
	return err;
}

static void put_line(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void put_line(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = hm_vformat(buf, size, fmt, ap);
	va_end(ap);
	os_write_all(2, buf, n < size ? n : size - 1);
}

/* glibc's layout, on standard error, written without stdio (and so without
 * allocating). Its callers may have cancellation pending: write(2) is a
 * cancellation point, so cancellation is off while it prints, as glibc's. */
void stats_malloc_stats(void)
{
	int oldstate;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
	char line[128];
	ctl_lock();
	if (stats_refresh(&g_glibc_snap, false) == 0) {
		uint64_t sys = 0;
		int64_t inuse = 0;
		for (unsigned i = 0; i < g_narenas; i++) {
			if (!arena_ready(&g_arenas[i]))
				continue;
			const arena_stats_t *as = &g_glibc_snap.arenas[i];
			uint64_t cached, ncached;
			int64_t in = arena_small(as, &cached, &ncached);
			put_line(line, sizeof line, "Arena %u:\n", i);
			put_line(line, sizeof line, "system bytes     = %10llu\n",
			         (unsigned long long)as->ss_mapped);
			put_line(line, sizeof line, "in use bytes     = %10llu\n",
			         (unsigned long long)clamp0(in));
			sys += as->ss_mapped + as->large_active + as->large_cached;
			inuse += in + (int64_t)as->large_allocated;
		}
		put_line(line, sizeof line, "Total (incl. mmap):\n");
		put_line(line, sizeof line, "system bytes     = %10llu\n", (unsigned long long)sys);
		put_line(line, sizeof line, "in use bytes     = %10llu\n",
		         (unsigned long long)clamp0(inuse));
		put_line(line, sizeof line, "max mmap regions = %10llu\n",
		         (unsigned long long)atomic_load_relaxed(&g_large_peak_n));
		put_line(line, sizeof line, "max mmap bytes   = %10llu\n",
		         (unsigned long long)atomic_load_relaxed(&g_large_peak_bytes));
	}
	ctl_unlock();
	pthread_setcancelstate(oldstate, NULL);
}

static void xml(FILE *fp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xml(FILE *fp, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	hm_vformat(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fputs(buf, fp);
}

/* glibc's XML shape: a <heap> per arena with the free blocks by size (here:
 * the blocks cached in threads, per class), then the totals. Written under
 * the statistics lock, as glibc writes under its arena locks: the lock
 * guards no allocation path, so fputs may allocate. */
int stats_malloc_info(int options, void *out)
{
	FILE *fp = out;
	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	ctl_lock();
	if (stats_refresh(&g_glibc_snap, false) != 0) {
		ctl_unlock();
		errno = ENOMEM;
		return -1;
	}
	uint64_t fast_n = 0, fast_b = 0, rest_n = 0, rest_b = 0, sys = 0, mmap_n = 0, mmap_b = 0;
	xml(fp, "<malloc version=\"1\">\n");
	for (unsigned i = 0; i < g_narenas; i++) {
		if (!arena_ready(&g_arenas[i]))
			continue;
		const arena_stats_t *as = &g_glibc_snap.arenas[i];
		uint64_t cached, ncached;
		arena_small(as, &cached, &ncached);
		xml(fp, "<heap nr=\"%u\">\n<sizes>\n", i);
		for (unsigned c = 0; c < NCLASSES; c++)
			if (as->bins[c].ncached)
				xml(fp, "  <size from=\"%u\" to=\"%u\" total=\"%llu\" count=\"%llu\"/>\n",
				    c ? class_size[c - 1] + 1 : 1, class_size[c],
				    (unsigned long long)(as->bins[c].ncached * class_size[c]),
				    (unsigned long long)as->bins[c].ncached);
		xml(fp, "</sizes>\n");
		uint64_t units_b = as->ss_free_units * SLAB_SIZE;
		xml(fp, "<total type=\"fast\" count=\"%llu\" size=\"%llu\"/>\n",
		    (unsigned long long)ncached, (unsigned long long)cached);
		xml(fp, "<total type=\"rest\" count=\"%llu\" size=\"%llu\"/>\n",
		    (unsigned long long)as->ss_free_units, (unsigned long long)units_b);
		xml(fp, "<system type=\"current\" size=\"%llu\"/>\n", (unsigned long long)as->ss_mapped);
		xml(fp, "<system type=\"max\" size=\"%llu\"/>\n", (unsigned long long)as->ss_mapped);
		xml(fp, "<aspace type=\"total\" size=\"%llu\"/>\n", (unsigned long long)as->ss_mapped);
		xml(fp, "<aspace type=\"mprotect\" size=\"%llu\"/>\n", (unsigned long long)as->ss_mapped);
		xml(fp, "</heap>\n");
		fast_n += ncached;
		fast_b += cached;
		rest_n += as->ss_free_units;
		rest_b += units_b;
		sys += as->ss_mapped;
		mmap_n += as->large_nlive;
		mmap_b += as->large_active;
	}
	xml(fp, "<total type=\"fast\" count=\"%llu\" size=\"%llu\"/>\n", (unsigned long long)fast_n,
	    (unsigned long long)fast_b);
	xml(fp, "<total type=\"rest\" count=\"%llu\" size=\"%llu\"/>\n", (unsigned long long)rest_n,
	    (unsigned long long)rest_b);
	xml(fp, "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>\n", (unsigned long long)mmap_n,
	    (unsigned long long)mmap_b);
	xml(fp, "<system type=\"current\" size=\"%llu\"/>\n", (unsigned long long)sys);
	xml(fp, "<system type=\"max\" size=\"%llu\"/>\n", (unsigned long long)sys);
	xml(fp, "<aspace type=\"total\" size=\"%llu\"/>\n", (unsigned long long)sys);
	xml(fp, "<aspace type=\"mprotect\" size=\"%llu\"/>\n", (unsigned long long)sys);
	xml(fp, "</malloc>\n");
	ctl_unlock();
	return 0;
}
