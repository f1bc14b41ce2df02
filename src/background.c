/* background.c - the background thread. See background.h.
 *
 * The sleep protocol: before it sleeps without a timeout the thread stores
 * g_bg_idle = 1 (sequentially consistent), then looks once more for work
 * (racy reads of the arenas, and g_bg_work_gen, which every waker bumps).
 * Whoever creates work stores it, bumps the generation, fences and reads
 * g_bg_idle: either the thread sees the work, or the waker sees the flag and
 * posts the semaphore the thread sleeps on. Remote frees are work too: the
 * push that puts a slab on its bin's list (arena_remote_announce) wakes the
 * thread the same way, and its last look reads every bin's list. A post before the wait is not lost (a semaphore counts), and sem_post is
 * async-signal-safe: a free() in a signal handler may wake the thread.
 * g_bg_mu only serialises starting and stopping. */
#include "background.h"
#include "arena.h"
#include "atomic.h"
#include "conf.h"
#include "init.h"
#include "os.h"
#include "tcache.h"
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/single_threaded.h>
#include <time.h>

enum { BG_OFF = 0, BG_RUNNING = 1 };

bool g_opt_background_thread = true;
uint32_t g_bg_state;                  /* BG_*: written under g_bg_mu [atomic] */
uint32_t g_bg_idle;                   /* sleeping without a timeout [atomic, seq_cst] */
static uint32_t g_bg_failed;          /* pthread_create failed: only a ctl write retries [atomic] */
static uint64_t g_bg_work_gen;        /* bumped by every waker [atomic, seq_cst] */
static uint64_t g_bg_nruns;           /* [atomic] */
static pthread_mutex_t g_bg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_bg_cv;        /* state changes (a stop waits for it) [g_bg_mu] */
static sem_t g_bg_sem;                /* the thread sleeps on it */
static bool g_bg_sync_ready;          /* g_bg_cv and g_bg_sem initialised [g_bg_mu] */

#define BG_STACK      (256 * KiB)
#define BG_IDLE_NS    (60ull * 1000000000u) /* backstop: a lost wake-up costs at most this */
#define BG_MIN_NS     (10ull * 1000000u)
#define BG_MAX_NS     (250ull * 1000000u)

/* g_bg_mu held. */
static void sync_ensure(void)
{
	if (g_bg_sync_ready)
		return;
	pthread_cond_init(&g_bg_cv, NULL);
	sem_init(&g_bg_sem, 0, 0);
	g_bg_sync_ready = true;
}

/* The period while there is work: an eighth of the decay delay, within
 * 10-250 ms, so memory returns within decay_ms + 250 ms. */
static uint64_t bg_period(void)
{
	int64_t d = g_conf.decay_ms;
	uint64_t ns = d <= 0 ? BG_MIN_NS : (uint64_t)d * 1000000u / 8;
	return ns < BG_MIN_NS ? BG_MIN_NS : ns > BG_MAX_NS ? BG_MAX_NS : ns;
}

static bool arenas_pending(void)
{
	for (unsigned i = 0; i < g_narenas; i++)
		if (arena_ready(&g_arenas[i]) &&
		    (arena_decay_pending(&g_arenas[i]) || arena_remote_pending(&g_arenas[i])))
			return true;
	return false;
}

/* One run: every arena's remote frees and due decay passes, the caches of
 * dead threads. Whether work is left. */
static bool bg_run(void)
{
	uint64_t now = os_now_ns();
	bool pending = false;
	for (unsigned i = 0; i < g_narenas; i++) {
		arena_t *a = &g_arenas[i];
		if (!arena_ready(a))
			continue;
		arena_decay_run(a, now); /* remote frees first */
		pending |= arena_decay_pending(a);
	}
	thread_reap();
	atomic_add_relaxed(&g_bg_nruns, 1);
	return pending;
}

/* Sleeps ns, or until a post; then takes the posts that piled up. */
static void bg_wait(uint64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t t = (uint64_t)ts.tv_nsec + ns;
	ts.tv_sec += (time_t)(t / 1000000000u);
	ts.tv_nsec = (long)(t % 1000000000u);
	while (sem_clockwait(&g_bg_sem, CLOCK_MONOTONIC, &ts) != 0 && errno == EINTR)
		;
	while (sem_trywait(&g_bg_sem) == 0)
		;
}

static void *bg_main(void *arg)
{
	prctl(PR_SET_NAME, "hakmem-bg", 0, 0, 0);
	for (;;) {
		while (atomic_load_relaxed(&g_conf.background_thread)) {
			uint64_t gen = __atomic_load_n(&g_bg_work_gen, __ATOMIC_SEQ_CST);
			if (bg_run()) {
				bg_wait(bg_period());
				continue;
			}
			__atomic_store_n(&g_bg_idle, 1, __ATOMIC_SEQ_CST);
			bool work = __atomic_load_n(&g_bg_work_gen, __ATOMIC_SEQ_CST) != gen ||
			            arenas_pending();
			bg_wait(work ? bg_period() : BG_IDLE_NS);
			__atomic_store_n(&g_bg_idle, 0, __ATOMIC_RELAXED);
		}
		pthread_mutex_lock(&g_bg_mu);
		/* A true written since the loop saw false keeps it running: the
		 * writer found it running and started none. */
		if (!atomic_load_relaxed(&g_conf.background_thread))
			break;
		pthread_mutex_unlock(&g_bg_mu);
	}
	atomic_store_relaxed(&g_bg_state, BG_OFF);
	pthread_cond_broadcast(&g_bg_cv); /* background_set(false) waits for this */
	pthread_mutex_unlock(&g_bg_mu);
	return NULL;
}

/* Starts the thread unless it runs. 0 or the pthread_create error. */
static int bg_start(void)
{
	pthread_mutex_lock(&g_bg_mu);
	if (atomic_load_relaxed(&g_bg_state) != BG_OFF) {
		pthread_mutex_unlock(&g_bg_mu);
		return 0;
	}
	sync_ensure();
	atomic_store_release(&g_bg_state, BG_RUNNING); /* after sync_ensure: wakers post */
	/* The thread inherits our mask: none of the program's signals may be
	 * delivered to it. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	int err = pthread_attr_init(&attr);
	if (err == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, BG_STACK);
		pthread_t t;
		/* pthread_create allocates (the new thread's TLS vector): it
		 * finds this thread's cache consistent, and g_bg_mu is not an
		 * allocator lock. */
		err = pthread_create(&t, &attr, bg_main, NULL);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		atomic_store_relaxed(&g_bg_state, BG_OFF);
		atomic_store_relaxed(&g_bg_failed, 1);
	}
	pthread_mutex_unlock(&g_bg_mu);
	return err;
}

void background_poke(void)
{
	if (LIKELY(atomic_load_relaxed(&g_bg_state) != BG_OFF) ||
	    !atomic_load_relaxed(&g_conf.background_thread) || __libc_single_threaded ||
	    atomic_load_relaxed(&g_bg_failed) || !hakmem_ready())
		return;
	bg_start();
}

void background_post(void)
{
	sem_post(&g_bg_sem);
}

void background_wake_slow(void)
{
	__atomic_add_fetch(&g_bg_work_gen, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&g_bg_idle, __ATOMIC_SEQ_CST) != 0)
		sem_post(&g_bg_sem);
}

int background_set(bool on)
{
	atomic_store_relaxed(&g_conf.background_thread, on);
	if (!hakmem_ready())
		return 0; /* the conf string: the start rule applies later */
	if (on) {
		atomic_store_relaxed(&g_bg_failed, 0);
		return bg_start() == 0 ? 0 : EAGAIN;
	}
	pthread_mutex_lock(&g_bg_mu);
	if (g_bg_sync_ready)
		sem_post(&g_bg_sem);
	/* Until it has ended; a true written meanwhile keeps it running. */
	while (atomic_load_relaxed(&g_bg_state) != BG_OFF &&
	       !atomic_load_relaxed(&g_conf.background_thread))
		pthread_cond_wait(&g_bg_cv, &g_bg_mu);
	pthread_mutex_unlock(&g_bg_mu);
	return 0;
}

unsigned background_nthreads(void)
{
	return atomic_load_relaxed(&g_bg_state) != BG_OFF;
}

uint64_t background_nruns(void)
{
	return atomic_load_relaxed(&g_bg_nruns);
}

void background_postfork_child(void)
{
	pthread_mutex_init(&g_bg_mu, NULL);
	if (g_bg_sync_ready)
		sem_init(&g_bg_sem, 0, 0); /* the parent's thread waited on it */
	g_bg_sync_ready = false;
	atomic_store_relaxed(&g_bg_state, BG_OFF);
	atomic_store_relaxed(&g_bg_idle, 0);
	atomic_store_relaxed(&g_bg_failed, 0);
}
