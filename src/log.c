/* log.c - allocation-free formatting, and the one place hakmem prints. */
#include "internal.h"
#include "log.h"
#include "os.h"

#include <stdint.h>
#include <string.h>

typedef struct {
	char *buf;
	size_t size;
	size_t len; /* what the whole output would need */
} out_t;

static void out_char(out_t *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_pad(out_t *o, char c, int n)
{
	while (n-- > 0)
		out_char(o, c);
}

static void out_str(out_t *o, const char *s, size_t n, int width, bool left)
{
	if (!left && width > (int)n)
		out_pad(o, ' ', width - (int)n);
	for (size_t i = 0; i < n; i++)
		out_char(o, s[i]);
	if (left && width > (int)n)
		out_pad(o, ' ', width - (int)n);
}

static void out_num(out_t *o, uint64_t v, bool neg, unsigned base, int width, bool left,
                    bool zero, const char *prefix)
{
	char tmp[32];
	int n = 0;
	do {
		unsigned d = (unsigned)(v % base);
		tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v != 0);
	int plen = (int)strlen(prefix) + (neg ? 1 : 0);
	int total = n + plen;
	if (!left && !zero && width > total)
		out_pad(o, ' ', width - total);
	if (neg)
		out_char(o, '-');
	for (const char *p = prefix; *p; p++)
		out_char(o, *p);
	if (!left && zero && width > total)
		out_pad(o, '0', width - total);
	while (n > 0)
		out_char(o, tmp[--n]);
	if (left && width > total)
		out_pad(o, ' ', width - total);
}

size_t hm_vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	out_t o = { buf, size, 0 };
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			out_char(&o, *f);
			continue;
		}
		f++;
		bool left = false, zero = false;
		for (;; f++) {
			if (*f == '-')
				left = true;
			else if (*f == '0')
				zero = true;
			else
				break;
		}
		int width = 0;
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (*f++ - '0');
		int lmod = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
		if (*f == 'l') {
			lmod = 1;
			if (f[1] == 'l') {
				lmod = 2;
				f++;
			}
			f++;
		} else if (*f == 'z') {
			lmod = 3;
			f++;
		}
		switch (*f) {
		case 'd':
		case 'i': {
			int64_t v = lmod == 0 ? va_arg(ap, int)
			          : lmod == 1 ? va_arg(ap, long)
			          : lmod == 2 ? va_arg(ap, long long)
			                      : va_arg(ap, ptrdiff_t);
			bool neg = v < 0;
			out_num(&o, neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, neg, 10, width, left,
			        zero, "");
			break;
		}
		case 'u':
		case 'x': {
			uint64_t v = lmod == 0 ? va_arg(ap, unsigned)
			           : lmod == 1 ? va_arg(ap, unsigned long)
			           : lmod == 2 ? va_arg(ap, unsigned long long)
			                       : va_arg(ap, size_t);
			out_num(&o, v, false, *f == 'x' ? 16 : 10, width, left, zero, "");
			break;
		}
		case 'p':
			out_num(&o, (uintptr_t)va_arg(ap, void *), false, 16, width, left, false, "0x");
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			out_str(&o, s, strlen(s), width, left);
			break;
		}
		case 'c':
			out_char(&o, (char)va_arg(ap, int));
			break;
		case '%':
			out_char(&o, '%');
			break;
		case '\0':
			f--;
			break;
		default:
			out_char(&o, '%');
			out_char(&o, *f);
			break;
		}
	}
	if (size > 0)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len;
}

size_t hm_format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = hm_vformat(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* One line: control characters in the text (a conf string from the
 * environment, say) are written escaped, so no text can start a line of its
 * own. */
static void hm_vlog(const char *fmt, va_list ap)
{
	static const char hex[] = "0123456789abcdef";
	char text[512], line[1024];
	size_t n = hm_vformat(text, sizeof text, fmt, ap);
	if (n > sizeof text - 1)
		n = sizeof text - 1;
	size_t len = hm_format(line, sizeof line, "hakmem: ");
	for (size_t i = 0; i < n && len + 5 < sizeof line; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 0x20 && c != 0x7f && c != '\\') {
			line[len++] = (char)c;
		} else if (c == '\n' || c == '\t' || c == '\\') {
			line[len++] = '\\';
			line[len++] = c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
		} else {
			line[len++] = '\\';
			line[len++] = 'x';
			line[len++] = hex[c >> 4];
			line[len++] = hex[c & 15];
		}
	}
	line[len++] = '\n';
	os_write_all(2, line, len);
}

void hm_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hm_vlog(fmt, ap);
	va_end(ap);
}

void hm_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hm_vlog(fmt, ap);
	va_end(ap);
	os_abort();
}

void hakmem_assert_fail(const char *expr, const char *file, int line)
{
	hm_fatal("assertion failed: %s (%s:%d)", expr, file, line);
}
