/* glibc.c - glibc's malloc extras, answered for hakmem's heap: mallinfo,
 * mallinfo2, malloc_stats, malloc_info, malloc_trim and mallopt. Without
 * them a program would get glibc's figures for glibc's empty arena. The
 * figures come from stats.c; what they mean here is in hakmem(3). */
#include "internal.h"
#include "arena.h"
#include "atomic.h"
#include "conf.h"
#include "stats.h"
#include "tcache.h"
#include "thread.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi;
	int saved = errno;
	stats_mallinfo(&mi);
	errno = saved;
	return mi;
}

static int clamp_int(size_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 m = mallinfo2();
	struct mallinfo mi = {
		.arena = clamp_int(m.arena), .ordblks = clamp_int(m.ordblks),
		.smblks = clamp_int(m.smblks), .hblks = clamp_int(m.hblks),
		.hblkhd = clamp_int(m.hblkhd), .usmblks = clamp_int(m.usmblks),
		.fsmblks = clamp_int(m.fsmblks), .uordblks = clamp_int(m.uordblks),
		.fordblks = clamp_int(m.fordblks), .keepcost = clamp_int(m.keepcost),
	};
	return mi;
}

EXPORT void malloc_stats(void)
{
	int saved = errno;
	stats_malloc_stats();
	errno = saved;
}

EXPORT int malloc_info(int options, FILE *fp)
{
	return stats_malloc_info(options, fp);
}

/* Every arena's free memory goes back to the OS now, whatever decay_ms says
 * (the calling thread's cache first, and the caches of threads that died
 * without their destructor). `pad` has no meaning: hakmem has no heap top.
 * 1 when memory was released, as glibc. */
EXPORT int malloc_trim(size_t pad)
{
	(void)pad;
	return tcache_trim() != 0;
}

/* What maps onto a ctl key is honoured; the rest tunes glibc's own
 * allocator and returns 0 (failure), as glibc does for a parameter it does
 * not know. */
EXPORT int mallopt(int param, int value)
{
	switch (param) {
	case M_ARENA_MAX: /* arenas.limit */
		if (value < 0)
			return 0;
		atomic_store_relaxed(&g_conf.arenas_limit, (uint32_t)value);
		return 1;
	default:
		return 0;
	}
}
