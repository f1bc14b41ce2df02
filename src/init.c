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
#include "background.h"
#include "conf.h"
#include "ctl.h"
#include "init.h"
#include "live.h"
#include "log.h"
#include "os.h"
#include "stats.h"
#include "superslab.h"
#include "topology.h"
#include "registry.h"
#include "thread.h"
#include "tcache.h"

#include <errno.h>
#include <sched.h>
#include <sys/single_threaded.h>

enum { INIT_NONE = 0, INIT_RUNNING = 1, INIT_READY = 2 };

static int g_init_state;          /* [atomic] */
static pthread_t g_init_thread;   /* valid while INIT_RUNNING */
pthread_key_t g_thread_key;

bool hakmem_ready(void)
{
	return atomic_load_acquire(&g_init_state) == INIT_READY;
}

/* glibc's stdio list lock (exported, recursive). */
extern void _IO_list_lock(void);
extern void _IO_list_unlock(void);
extern void _IO_list_resetlock(void);

/* Fork. In a single-threaded process nothing is locked: no other thread can
 * hold a lock, fork may be called from a signal handler that interrupted
 * malloc (POSIX lists fork as async-signal-safe), and the child finishes the
 * interrupted call itself; glibc skips its own malloc locks for the same
 * reason. Otherwise every lock is taken, in the lock order of doc/design.md,
 * after glibc's stdio list lock: glibc takes that lock after the prepare
 * handlers and then its own malloc locks, and a thread inside getline()
 * holds a FILE lock while it reallocs. Taking the list lock first makes our
 * order the same as glibc's (list, FILE, allocator), so a fork cannot
 * deadlock with fflush(NULL) and getline() in other threads. The lock is
 * recursive: glibc's own acquisition inside fork nests in ours. */
static bool g_fork_locked; /* prepare took the locks [the forking thread] */

static void prefork(void)
{
	g_fork_locked = !__libc_single_threaded;
	if (!g_fork_locked)
		return;
	_IO_list_lock();
	ctl_prefork();
	topology_prefork();
	thread_prefork();
	arenas_lock_all();
	superslab_prefork();
}

static void postfork_parent(void)
{
	if (!g_fork_locked)
		return;
	superslab_postfork_parent();
	arenas_unlock_all();
	thread_postfork_parent();
	topology_postfork_parent();
	ctl_postfork_parent();
	_IO_list_unlock();
}

static void postfork_child(void)
{
	if (!g_fork_locked)
		return;
	arenas_reinit_locks();
	arenas_postfork_child();
	background_postfork_child();
	live_postfork_child();
	superslab_postfork_child();
	thread_postfork_child();
	topology_postfork_child();
	ctl_postfork_child();
	/* glibc has reset the list lock in a multi-threaded child already;
	 * resetting it again releases our hold on it. */
	_IO_list_resetlock();
}

static void init_run(void)
{
	conf_init();
	topology_init(&g_topo);
	if (g_conf.narenas != 0) {
		g_topo.count = g_conf.narenas;
		g_arena_mode = ARENA_MODE_COUNT;
	} else {
		g_arena_mode = topology_choose_mode(&g_topo, (enum arena_mode)g_conf.arena_mode);
	}
	unsigned n = topology_narenas(&g_topo, g_arena_mode);
	if (n > ARENAS_MAX)
		n = ARENAS_MAX;
	if (registry_init() != 0 || arenas_init(n) != 0)
		hm_fatal("cannot map the arenas at start-up");
	if (pthread_key_create(&g_thread_key, thread_exit) != 0)
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
