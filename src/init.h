/* init.h - process start-up, bootstrap, fork and exit. */
#ifndef HAKMEM_INIT_H
#define HAKMEM_INIT_H

#include <pthread.h>
#include <stdbool.h>

/* Initialises the allocator once. Returns 0 when ready; EAGAIN when called
 * recursively from inside initialisation on the initialising thread. */
int hakmem_init(void);

/* Whether initialisation has completed. */
bool hakmem_ready(void);

/* The key whose destructor tears a thread's cache down (thread_exit). */
extern pthread_key_t g_thread_key;

#endif
