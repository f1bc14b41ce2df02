/* ctl.h - the string-keyed control namespace (hakmem_ctl) and the conf string.
 * One table row per key (ctl.c) gives its name, type, mode, unit, meaning,
 * validation and handlers; the conf string, `hakmem-ctl keys`, the stats
 * printer and the man page all read that table. */
#ifndef HAKMEM_CTL_H
#define HAKMEM_CTL_H

#include "internal.h"

/* Applies "key=value,key=value" (writable keys and opt.* keys). Bad entries
 * are reported on stderr, one line each, naming `origin`; the rest applies. */
void ctl_conf_apply(const char *conf, const char *origin);

/* The lock every ctl call runs under (glibc's reports take it too). */
void ctl_lock(void);
void ctl_unlock(void);
/* Whether the calling thread holds the ctl lock. */
bool ctl_held_self(void);

/* A key's value as text (decimal, true/false, the string), and a write from
 * text in the conf string's syntax (value NULL: an action such as
 * arenas.purge). hakmem_ctl's checks and errno values; run-time writes only
 * (opt.* keys are EPERM). */
int ctl_get_text(const char *name, char *buf, size_t size);
int ctl_set_text(const char *name, const char *value);

void ctl_prefork(void);
void ctl_postfork_parent(void);
void ctl_postfork_child(void);

#endif
