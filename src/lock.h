/* lock.h - the arena locks. A mutex per bin and per arena resource; never a
 * global lock on the malloc/free paths. Critical sections move a batch of
 * blocks and are short, so the mutexes spin briefly before sleeping (glibc's
 * adaptive mutex): a thread that finds a bin busy for a few hundred
 * nanoseconds does not pay a futex round trip. Thin wrappers so the lock type
 * can change in one place. */
#ifndef HAKMEM_LOCK_H
#define HAKMEM_LOCK_H

#include <pthread.h>

typedef struct { pthread_mutex_t m; } lock_t;

#define LOCK_INITIALIZER { PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP }

static inline void lock_init(lock_t *l)
{
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&l->m, &attr);
	pthread_mutexattr_destroy(&attr);
}

static inline void lock_acquire(lock_t *l) { pthread_mutex_lock(&l->m); }
static inline void lock_release(lock_t *l) { pthread_mutex_unlock(&l->m); }
/* After fork, in the child: the lock was held by the parent's prepare handler. */
static inline void lock_reinit(lock_t *l)  { lock_init(l); }

#endif
