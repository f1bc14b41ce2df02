/* lock.h - the arena locks. A mutex per bin and per arena resource; never a
 * global lock on the malloc/free paths. Thin wrappers so the lock type can
 * change in one place. */
#ifndef HAKMEM_LOCK_H
#define HAKMEM_LOCK_H

#include <pthread.h>

typedef struct { pthread_mutex_t m; } lock_t;

#define LOCK_INITIALIZER { PTHREAD_MUTEX_INITIALIZER }

static inline void lock_init(lock_t *l)    { pthread_mutex_init(&l->m, NULL); }
static inline void lock_acquire(lock_t *l) { pthread_mutex_lock(&l->m); }
static inline void lock_release(lock_t *l) { pthread_mutex_unlock(&l->m); }
/* After fork, in the child: the lock was held by the parent's prepare handler. */
static inline void lock_reinit(lock_t *l)  { pthread_mutex_init(&l->m, NULL); }

#endif
