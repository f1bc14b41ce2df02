/* thread.c - thread states, the registry of thread caches, start, exit and
 * the reaping of threads that died without their key destructor. See
 * thread.h. */
#include "thread.h"
#include "arena.h"
#include "atomic.h"
#include "background.h"
#include "init.h"
#include "lock.h"
#include "os.h"

#include <errno.h>
#include <string.h>

/* The arena of the sentinels: an address no slab has as owner (slabs have a
 * real arena, or NULL while free and in large blocks). */
static const char g_no_arena_tag;
#define NO_ARENA ((struct arena *)(uintptr_t)&g_no_arena_tag)

tcache_t g_tcache_uninit = { .arena = NO_ARENA, .state = THREAD_UNINIT };
tcache_t g_tcache_nocache = { .arena = NO_ARENA, .state = THREAD_NOCACHE };

__thread tcache_t *tcache_cur __attribute__((tls_model("initial-exec"))) = &g_tcache_uninit;

static lock_t g_registry_lock = LOCK_INITIALIZER;
static tcache_t *g_threads;        /* registered caches [registry lock] */
static tcache_t *g_cache_free;     /* recycled caches [registry lock] */
static uint64_t g_cache_metadata;  /* bytes mapped for caches [registry lock] */

uint64_t thread_metadata_bytes(void)
{
	return atomic_load_relaxed(&g_cache_metadata);
}

/* Registry lock held. */
static tcache_t *cache_alloc_locked(void)
{
	/* Recycled caches first, then carved one at a time from 64 KiB mappings
	 * (carving lazily keeps untouched ones out of memory). */
	static char *carve, *carve_end; /* [registry lock] */
	tcache_t *tc = g_cache_free;
	if (tc != NULL) {
		g_cache_free = tc->next;
	} else {
		size_t step = ALIGN_UP(sizeof(tcache_t), CACHELINE);
		if (carve == NULL || carve + step > carve_end) {
			void *p;
			if (os_map(64 * KiB, &p) != 0)
				return NULL;
			g_cache_metadata += 64 * KiB;
			carve = p;
			carve_end = carve + 64 * KiB;
		}
		tc = (tcache_t *)carve;
		carve += step;
	}
	memset(tc, 0, sizeof *tc);
	return tc;
}

static void registry_link_locked(tcache_t *tc)
{
	tc->prev = NULL;
	tc->next = g_threads;
	if (g_threads)
		g_threads->prev = tc;
	g_threads = tc;
}

/* Unlinks tc and puts it on the free list. */
static void registry_release_locked(tcache_t *tc)
{
	tcache_bind(tc, NULL);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		g_threads = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	tc->state = THREAD_NOCACHE;
	tc->next = g_cache_free;
	tc->prev = NULL;
	g_cache_free = tc;
}

/* The robust mutex the kernel marks when the owner dies (its robust list is
 * walked at thread exit, before the thread's memory can be reused). Where
 * robust mutexes are not supported the cache is simply never reaped. */
static void cache_hold(tcache_t *tc)
{
	pthread_mutexattr_t attr;
	tc->reapable = 0;
	if (pthread_mutexattr_init(&attr) != 0)
		return;
	if (pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0 &&
	    pthread_mutex_init(&tc->alive, &attr) == 0) {
		if (pthread_mutex_lock(&tc->alive) == 0)
			tc->reapable = 1;
		else
			pthread_mutex_destroy(&tc->alive);
	}
	pthread_mutexattr_destroy(&attr);
}

/* By the owner, at exit; registry lock held, so that no reader's trylock
 * sees the mutex between its unlock and its destruction. */
static void cache_unhold_locked(tcache_t *tc)
{
	if (tc->reapable) {
		pthread_mutex_unlock(&tc->alive);
		pthread_mutex_destroy(&tc->alive);
		tc->reapable = 0;
	}
}

static tcache_t *thread_start(void)
{
	if (hakmem_init() != 0)
		return NULL; /* inside initialisation on this thread: stay UNINIT */
	int saved = errno;
	lock_acquire(&g_registry_lock);
	tcache_t *tc = cache_alloc_locked();
	lock_release(&g_registry_lock);
	if (tc == NULL) {
		errno = saved;
		return NULL; /* no memory for a cache: try again at the next call */
	}
	tcache_init(tc, arena_choose());
	cache_hold(tc);
	lock_acquire(&g_registry_lock);
	registry_link_locked(tc);
	lock_release(&g_registry_lock);
	tcache_cur = tc;
	/* Last: may allocate (keys past the first 32), which now finds the
	 * cache ready. If it fails, no destructor would ever flush the cache:
	 * give it up and serve this thread without one. */
	if (pthread_setspecific(g_thread_key, tc) != 0) {
		tcache_cur = &g_tcache_nocache;
		tcache_drain_all(tc);
		lock_acquire(&g_registry_lock);
		cache_unhold_locked(tc);
		registry_release_locked(tc);
		lock_release(&g_registry_lock);
		errno = saved;
		return NULL;
	}
	errno = saved;
	return tc;
}

/* thread_cache() for a thread whose cache is not active. */
tcache_t *thread_cache_other(void)
{
	tcache_t *tc = tcache_cur;
	if (tc->state == THREAD_NOCACHE)
		return NULL;
	return thread_start();
}

void thread_exit(void *arg)
{
	tcache_t *tc = arg;
	if (tc == NULL || tc != tcache_cur)
		return;
	/* First: whatever later destructors allocate or free goes straight to
	 * the arenas, in any number of rounds. */
	tcache_cur = &g_tcache_nocache;
	tcache_drain_all(tc);
	lock_acquire(&g_registry_lock);
	cache_unhold_locked(tc);
	registry_release_locked(tc);
	lock_release(&g_registry_lock);
	/* What it gave back decays, whether or not the others run. */
	background_poke();
}

/* Registry lock held. */
static void reap_locked(void)
{
	tcache_t *tc = g_threads;
	while (tc != NULL) {
		tcache_t *next = tc->next;
		/* A registered cache's mutex is held by its thread, until the
		 * thread unholds it under this lock: the trylock fails with
		 * EBUSY, or takes it with EOWNERDEAD once the kernel found the
		 * thread dead. */
		if (tc->reapable && pthread_mutex_trylock(&tc->alive) == EOWNERDEAD) {
			/* Its owner is gone: nobody else touches the cache. */
			pthread_mutex_consistent(&tc->alive);
			pthread_mutex_unlock(&tc->alive);
			pthread_mutex_destroy(&tc->alive);
			tc->reapable = 0;
			tcache_drain_all(tc);
			registry_release_locked(tc);
		}
		tc = next;
	}
}

void thread_reap(void)
{
	lock_acquire(&g_registry_lock);
	reap_locked();
	lock_release(&g_registry_lock);
}

void thread_foreach(void (*fn)(void *ctx, tcache_t *tc), void *ctx)
{
	lock_acquire(&g_registry_lock);
	for (tcache_t *tc = g_threads; tc != NULL; tc = tc->next)
		fn(ctx, tc);
	lock_release(&g_registry_lock);
}

void thread_prefork(void)
{
	lock_acquire(&g_registry_lock);
}

void thread_postfork_parent(void)
{
	lock_release(&g_registry_lock);
}

void thread_postfork_child(void)
{
	lock_reinit(&g_registry_lock);
	/* Only the forking thread survives. The other caches may have been in
	 * the middle of a fast path: forget them (their blocks stay allocated,
	 * as with every allocator) and recycle the structures. */
	tcache_t *self = tcache_cur;
	tcache_t *tc = g_threads;
	while (tc != NULL) {
		tcache_t *next = tc->next;
		if (tc != self) {
			tc->reapable = 0;
			registry_release_locked(tc);
		}
		tc = next;
	}
	/* The surviving mutex names the parent's thread id, and the child's
	 * robust list is empty: take it again as this thread. */
	if (self->state == THREAD_ACTIVE && self->reapable)
		cache_hold(self);
}
