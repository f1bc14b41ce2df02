/* conf.c - tunable defaults and the start-up conf string. The keys, their
 * parsing and validation live in ctl.c's table: the conf string is a list of
 * ctl writes. This is the only file that reads the environment. */
#include "conf.h"
#include "background.h"
#include "ctl.h"
#include "log.h"

#include <stdlib.h>

conf_t g_conf = {
	.tiny_fast_cap = 1024,
	.cache_bytes = 32 * 1024,
	.tiny_refill = 32,
	.tiny_drain_interval = 1024,
	.decay_ms = 1000,
	.background_thread = true,
	.large_cache_max = 64 * MiB,
	.large_threshold = CLASS_MAX_SIZE,
	.narenas = 0,
	.bind = BIND_CPU,
	.stats_print = STATS_PRINT_NONE,
	.live_signal = 64, /* SIGRTMAX */
};

uint32_t g_conf_gen = 1;

/* A program may define `const char *hakmem_conf = "...";`. */
extern const char *hakmem_conf __attribute__((weak));

void conf_init(void)
{
	if (&hakmem_conf != NULL && hakmem_conf != NULL)
		ctl_conf_apply(hakmem_conf, "hakmem_conf");
	const char *env = secure_getenv("HAKMEM_CONF");
	if (env != NULL)
		ctl_conf_apply(env, "HAKMEM_CONF");
	g_opt_background_thread = g_conf.background_thread;
}

unsigned conf_class_cap(unsigned c)
{
	uint32_t o = g_conf.class_fast_cap[c];
	if (o != 0)
		return o == CLASS_CAP_ZERO ? 0 : o;
	/* tiny.cache_bytes of blocks of a tiny class, at least 16; four times as
	 * many bytes of a larger class (they are fewer), at least 4 up to 32 KiB
	 * and one above (the block a thread just freed, reused in place: its
	 * pages fault no more); at most tiny.fast_cap. Drains give back the
	 * blocks of classes a thread stopped using. */
	bool tiny = c < TINY_NCLASSES;
	unsigned cap = (unsigned)((tiny ? g_conf.cache_bytes : 4ull * g_conf.cache_bytes) /
	                          class_size[c]);
	unsigned floor = tiny ? 16 : class_size[c] <= SMALL_MAX_SIZE ? 4 : 1;
	if (cap < floor)
		cap = floor;
	if (cap > g_conf.tiny_fast_cap)
		cap = g_conf.tiny_fast_cap;
	return cap;
}

unsigned conf_class_refill(unsigned c)
{
	unsigned cap = conf_class_cap(c);
	unsigned r = g_conf.tiny_refill;
	if (c >= TINY_NCLASSES && r > cap / 2)
		r = cap / 2;
	if (r > cap)
		r = cap;
	return r ? r : 1;
}
