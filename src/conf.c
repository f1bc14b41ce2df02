/* conf.c - tunable defaults and the start-up conf string. The keys, their
 * parsing and validation live in ctl.c's table: the conf string is a list of
 * ctl writes. This is the only file that reads the environment. */
#include "conf.h"
#include "ctl.h"
#include "log.h"

#include <stdlib.h>

conf_t g_conf = {
	.tiny_fast_cap = 128,
	.tiny_refill = 32,
	.tiny_drain_interval = 1024,
	.decay_ms = 1000,
	.large_cache_max = 64 * MiB,
	.narenas = 0,
	.bind = BIND_CPU,
	.stats_print = STATS_PRINT_NONE,
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
}

unsigned conf_class_cap(unsigned c)
{
	uint32_t o = g_conf.class_fast_cap[c];
	if (o != 0)
		return o == CLASS_CAP_ZERO ? 0 : o;
	if (c < TINY_NCLASSES)
		return g_conf.tiny_fast_cap;
	/* Above the tiny tier: about 128 KiB of blocks, at least 4, at most
	 * tiny.fast_cap. */
	unsigned cap = (unsigned)((128 * KiB) / class_size[c]);
	if (cap < 4)
		cap = 4;
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
