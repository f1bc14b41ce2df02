/* background.h - the background thread: decay and remote frees while the
 * program is idle.
 *
 * Decay passes otherwise run in allocation slow paths (any thread's drain
 * ticks its own arena and one other), so memory a program frees and then
 * stops touching would stay until its next burst. One thread, started by the
 * allocator, wakes every clamp(decay_ms / 8, 10 ms, 250 ms) while any arena
 * holds memory waiting to decay or remote frees its owner has not taken
 * back (arena.h: arena_free_remote), and sleeps without a timeout (a 60 s backstop) otherwise;
 * the events that create such work wake it (background_note).
 *
 * When it runs (ctl key `background_thread`, default true): once the process
 * has a second thread. A single-threaded process gets none unless it writes
 * the key at run time, or starts with opt.live_thread=true (then at its first
 * thread-cache refill or flush, for the live view, live.h): a thread of ours
 * would make it multi-threaded (__libc_single_threaded, unshare(2), the cost
 * of stdio locking and of our fork handlers). Writing false stops it; writing
 * true starts it now.
 *
 * It is started only where no hakmem lock is held (a thread-cache drain,
 * a ctl write), with every signal blocked, and never inside initialisation.
 * After fork the child has none; it starts again by the same rule.
 */
#ifndef HAKMEM_BACKGROUND_H
#define HAKMEM_BACKGROUND_H

#include "internal.h"

/* background_thread as the conf string left it (opt.background_thread). */
extern bool g_opt_background_thread;

/* Whether a background thread exists [atomic, a hint]. */
extern uint32_t g_bg_state;

/* Starts the background thread if the rule above says so. No hakmem lock
 * held. Cheap when it runs already or may not. */
void background_poke(void);

/* Something may now need the background thread (an arena holds memory to
 * decay, a slab has remote frees to take): wakes it if it sleeps without a timeout.
 * Any lock may be held; async-signal-safe (a fence and sem_post). */
static inline void background_note(void)
{
	extern void background_wake_slow(void);
	if (__atomic_load_n(&g_bg_state, __ATOMIC_ACQUIRE) != 0)
		background_wake_slow();
}

/* ctl: `background_thread` written (true: start now; false: stop and wait
 * for the thread to end). 0, or EAGAIN when no thread could be started. */
int background_set(bool on);
/* stats.background_thread.*: threads running (0 or 1), runs so far. */
unsigned background_nthreads(void);
uint64_t background_nruns(void);

/* In the fork child: no background thread; its locks are fresh. */
void background_postfork_child(void);

#endif
