/* log.h - allocation-free formatting and the only printing hakmem does.
 *
 * hm_format understands %s %c %d %i %u %x %p %% with the l, ll and z length
 * modifiers, the '-' and '0' flags and a width. It never allocates, so it is
 * safe inside malloc. */
#ifndef HAKMEM_LOG_H
#define HAKMEM_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into buf (always NUL-terminated when size > 0); returns the length
 * the whole output would have had. */
size_t hm_vformat(char *buf, size_t size, const char *fmt, va_list ap);
size_t hm_format(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One line on stderr, prefixed "hakmem: ". */
void hm_log(const char *fmt, ...) __attribute__((format(printf, 1, 2), cold));

/* One line on stderr naming the problem, then abort(): the path for detected
 * heap corruption (double free, invalid free). */
void hm_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn, cold));

#endif
