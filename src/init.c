/* init.c - bootstrap, fork handlers, exit-time statistics.
 *
 * The first malloc may come from the dynamic loader, a constructor, or a
 * library that hakmem itself calls. Initialisation therefore allocates
 * nothing until the arenas exist, and registers handlers that may allocate
 * (pthread_atfork) only after it has marked itself ready.
 */
#include "internal.h"
#include "arena.h"
#include "atomic.h"
#include "conf.h"
#include "ctl.h"
#include "init.h"
#include "log.h"
#include "os.h"
#include "stats.h"
#include "superslab.h"
#include "topology.h"
#include "tcache.h"

#include <errno.h>
#include <sched.h>

enum { INIT_NONE = 0, INIT_RUNNING = 1, INIT_READY = 2 };

static int g_init_state;          /* [atomic] */
static pthread_t g_init_thread;   /* valid while INIT_RUNNING */
pthread_key_t g_tcache_key;

/* Lock order: ctl, topology load, thread registry, arenas (bins, ss, large). */
static void prefork(void)
{
	ctl_prefork();
	topology_prefork();
	tcache_prefork();
	arenas_lock_all();
}

static void postfork_parent(void)
{
	arenas_unlock_all();
	tcache_postfork_parent();
	topology_postfork_parent();
	ctl_postfork_parent();
}

static void postfork_child(void)
{
	arenas_reinit_locks();
	tcache_postfork_child();
	topology_postfork_child();
	ctl_postfork_child();
}

static void init_run(void)
{
	g_tcache_tpoff = (uint64_t)(uintptr_t)tcache_fs();
	conf_init();
	topology_init(&g_topo);
	g_arena_mode = topology_choose_mode(&g_topo, (enum arena_mode)g_conf.arena_mode);
	unsigned n = g_conf.narenas ? g_conf.narenas : topology_narenas(&g_topo, g_arena_mode);
	if (n > ARENAS_MAX)
		n = ARENAS_MAX;
	if (arenas_init(n) != 0)
		hm_fatal("cannot map the arenas at start-up");
	if (pthread_key_create(&g_tcache_key, tcache_thread_exit) != 0)
		hm_fatal("cannot create the thread-exit key");
}

int hakmem_init(void)
{
	int state = atomic_load_acquire(&g_init_state);
	if (LIKELY(state == INIT_READY))
		return 0;
	int expected = INIT_NONE;
	if (atomic_cas_acq_rel(&g_init_state, &expected, INIT_RUNNING)) {
		g_init_thread = pthread_self();
		init_run();
		atomic_store_release(&g_init_state, INIT_READY);
		/* May allocate: the allocator is ready now. */
		pthread_atfork(prefork, postfork_parent, postfork_child);
		return 0;
	}
	if (expected == INIT_RUNNING && pthread_equal(g_init_thread, pthread_self()))
		return EAGAIN;
	while (atomic_load_acquire(&g_init_state) != INIT_READY)
		sched_yield();
	return 0;
}

__attribute__((constructor)) static void hakmem_constructor(void)
{
	hakmem_init();
}

/* opt.stats_print: the statistics when the process exits. */
__attribute__((destructor)) static void hakmem_destructor(void)
{
	if (g_conf.stats_print != STATS_PRINT_NONE)
		stats_print_at_exit();
}
