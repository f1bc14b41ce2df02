/* atomic.h - the only atomics hakmem uses, each naming its memory order. */
#ifndef HAKMEM_ATOMIC_H
#define HAKMEM_ATOMIC_H

#include <stdint.h>
#include <stdbool.h>

#define atomic_load_relaxed(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_load_acquire(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_relaxed(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define atomic_store_release(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_add_relaxed(p, v)    __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define atomic_sub_relaxed(p, v)    __atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)
#define atomic_fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define atomic_cas_acq_rel(p, expp, v) \
	__atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define atomic_exchange_acq_rel(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)

#endif
