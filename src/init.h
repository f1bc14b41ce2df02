/* init.h - process start-up, bootstrap, fork and exit. */
#ifndef HAKMEM_INIT_H
#define HAKMEM_INIT_H

#include <pthread.h>

/* Initialises the allocator once. Returns 0 when ready; EAGAIN when called
 * recursively from inside initialisation on the initialising thread. */
int hakmem_init(void);

/* The key whose destructor flushes a thread's cache at thread exit. */
extern pthread_key_t g_tcache_key;

/* Called by the thread-exit destructor (tcache.c). */
void tcache_thread_exit(void *cold);

#endif
