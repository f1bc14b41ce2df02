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
 * g_bg_mu only serialises starting and stopping.
 *
 * The wake-up itself is a signal, opt.live_signal (SIGRTMAX), sent to this
 * thread alone (rt_tgsigqueueinfo), which blocks it and sleeps in sigtimedwait: no
 * handler is installed and the program's threads never see it. That lets
 * `hakmem-ctl` wake the thread from outside the process (src/live.h). A
 * sender counts itself in g_bg_wakers while it holds the thread id, and the
 * thread waits for the count to fall to zero before it ends, so a signal
 * never reaches a thread that took over its id. An instance of the signal
 * that neither we nor the tool sent (the program's own, process-directed)
 * is queued to the process again, and the thread falls back to the
 * semaphore. With opt.live_signal=0 it uses the semaphore from the start. */
#include "background.h"
#include "arena.h"
#include "atomic.h"
#include "conf.h"
#include "init.h"
#include "live.h"
#include "os.h"
#include "tcache.h"
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
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
static int g_bg_tid;                  /* the thread's id while it runs [atomic, seq_cst] */
static int g_bg_sig;                  /* its wake-up signal; 0: the semaphore [atomic] */
static uint32_t g_bg_wakers;          /* senders holding g_bg_tid [atomic, seq_cst] */
static __thread bool t_bg_self;       /* the calling thread is the background thread */

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

/* Wakes the thread: the signal, or the semaphore. Async-signal-safe;
 * errno kept (free() calls this). */
static void bg_kick(void)
{
	int saved = errno;
	__atomic_add_fetch(&g_bg_wakers, 1, __ATOMIC_SEQ_CST);
	int tid = __atomic_load_n(&g_bg_tid, __ATOMIC_SEQ_CST);
	int sig = atomic_load_relaxed(&g_bg_sig);
	if (tid != 0 && sig != 0)
		os_signal_thread(tid, sig, LIVE_WAKE_COOKIE);
	else
		sem_post(&g_bg_sem);
	__atomic_sub_fetch(&g_bg_wakers, 1, __ATOMIC_SEQ_CST);
	errno = saved;
}

/* Whether a wake-up signal came from us or the tool: SI_QUEUE with the
 * cookie (a tgkill's si_code differs between kernels). Another is the
 * program's: queued to the process again, and the thread stops waiting for
 * that signal. */
static bool bg_signal_ours(int sig, siginfo_t *si)
{
	if (si->si_code == SI_QUEUE && si->si_value.sival_int == LIVE_WAKE_COOKIE)
		return true;
	atomic_store_relaxed(&g_bg_sig, 0);
	live_set_waker(0, 0);
	os_requeue_signal(sig, si);
	return false;
}

/* Sleeps ns, or until a wake-up; then takes the wake-ups that piled up. */
static void bg_wait(uint64_t ns)
{
	int sig = atomic_load_relaxed(&g_bg_sig);
	if (sig != 0) {
		siginfo_t si;
		int r = os_wait_signal(sig, ns, &si);
		while (r == sig && bg_signal_ours(sig, &si))
			r = os_wait_signal(sig, 0, &si);
		return;
	}
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
	t_bg_self = true;
	int sig = (int)g_conf.live_signal;
	atomic_store_relaxed(&g_bg_sig, sig);
	__atomic_store_n(&g_bg_tid, os_gettid(), __ATOMIC_SEQ_CST);
	if (sig != 0)
		live_set_waker(os_gettid(), sig);
	for (;;) {
		while (atomic_load_relaxed(&g_conf.background_thread)) {
			live_serve();
			if (!atomic_load_relaxed(&g_conf.background_thread))
				continue; /* a request it served stopped it */
			uint64_t gen = __atomic_load_n(&g_bg_work_gen, __ATOMIC_SEQ_CST);
			if (bg_run()) {
				bg_wait(bg_period());
				continue;
			}
			__atomic_store_n(&g_bg_idle, 1, __ATOMIC_SEQ_CST);
			bool work = __atomic_load_n(&g_bg_work_gen, __ATOMIC_SEQ_CST) != gen ||
			            arenas_pending() || live_pending();
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
	/* No sender may hold our id once another thread can take it. */
	live_set_waker(0, 0);
	__atomic_store_n(&g_bg_tid, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&g_bg_wakers, __ATOMIC_SEQ_CST) != 0)
		sched_yield();
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
	    !atomic_load_relaxed(&g_conf.background_thread) ||
	    (__libc_single_threaded && !g_conf.live_thread) ||
	    atomic_load_relaxed(&g_bg_failed) || !hakmem_ready())
		return;
	bg_start();
}

void background_wake_slow(void)
{
	__atomic_add_fetch(&g_bg_work_gen, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&g_bg_idle, __ATOMIC_SEQ_CST) != 0)
		bg_kick();
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
	if (t_bg_self)
		return 0; /* a live-view request it serves: it ends after this pass */
	pthread_mutex_lock(&g_bg_mu);
	if (g_bg_sync_ready)
		bg_kick();
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
	atomic_store_relaxed(&g_bg_tid, 0);
	atomic_store_relaxed(&g_bg_wakers, 0);
	atomic_store_relaxed(&g_bg_failed, 0);
}
