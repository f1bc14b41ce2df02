/* conf.h - the tunables. One struct, written by hakmem_ctl and by the start-up
 * conf string (both through ctl.c's key table), read by slow paths. */
#ifndef HAKMEM_CONF_H
#define HAKMEM_CONF_H

#include "internal.h"
#include "sizeclass.h"

enum bind_mode {
	BIND_CPU = 0,       /* arena of the CPU the thread starts on */
	BIND_ROUNDROBIN = 1 /* arenas handed out in turn */
};

enum stats_print_mode {
	STATS_PRINT_NONE = 0,
	STATS_PRINT_TEXT = 1,
	STATS_PRINT_JSON = 2
};

typedef struct conf {
	uint32_t tiny_fast_cap;       /* most blocks of any class in a thread cache */
	uint32_t cache_bytes;         /* bytes of each class a thread cache holds at most */
	uint32_t tiny_refill;         /* blocks moved per refill */
	uint32_t tiny_drain_interval; /* thread-cache slow-path events between drains; 0 never */
	uint32_t class_fast_cap[NCLASSES]; /* per-class override; 0: derived,
	                                      CLASS_CAP_ZERO: no caching */
	int64_t decay_ms;             /* delay before free memory returns to the OS; -1 never */
	uint64_t large_cache_max;     /* bytes of freed large mappings an arena keeps */
	uint64_t large_threshold;     /* requests above this get a mapping of their own */
	uint32_t arenas_limit;        /* threads bind to arenas below this; 0: all [atomic] */
	bool background_thread;       /* a background thread decays (background.h) [atomic] */
	/* start-only (opt.*) */
	uint32_t narenas;             /* 0: from opt.arenas and the topology */
	uint32_t arena_mode;          /* enum arena_mode (topology.h) */
	uint32_t numa_strict;         /* numa.policy: 0 preferred, 1 bind */
	uint32_t bind;                /* enum bind_mode */
	uint32_t stats_print;         /* enum stats_print_mode, at exit */
	uint32_t live_signal;         /* the background thread's wake-up signal (live.h); 0 none */
	bool live_thread;             /* a single-threaded process starts the background thread too */
	char stats_file[256];         /* "" for stderr */
} conf_t;

#define CLASS_CAP_ZERO 0xffffffffu
#define FAST_CAP_MAX 4096

extern conf_t g_conf;
/* Bumped by every write of a tunable; threads compare it in their slow path
 * and re-read the tunables [atomic, relaxed]. */
extern uint32_t g_conf_gen;

/* Applies the start-up conf string(s): the hakmem_conf symbol, then the
 * HAKMEM_CONF environment variable. Bad entries are reported on stderr, one
 * line each, and skipped. Runs once, inside initialisation; allocates nothing. */
void conf_init(void);

/* Capacity of class c in a thread cache, from the tunables. */
unsigned conf_class_cap(unsigned c);
/* Blocks moved per refill of class c. */
unsigned conf_class_refill(unsigned c);

#endif
