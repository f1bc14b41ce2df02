/* tool.h - what the parts of hakmem-ctl share: messages, the JSON reader,
 * the readable statistics view (hakmem-ctl.c), and the live view (live.c). */
#ifndef HAKMEM_CTL_TOOL_H
#define HAKMEM_CTL_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

extern const char *g_prog;

/* "hakmem-ctl: MESSAGE" on stderr; die() then exits with status 2. */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xmalloc(size_t n);

enum json_type { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct json {
	enum json_type type;
	char *key;              /* member name, in an object */
	char *str;              /* J_STR */
	bool b;                 /* J_BOOL */
	double num;             /* J_NUM */
	bool is_uint;           /* J_NUM: a non-negative integer, in u */
	unsigned long long u;
	struct json *kids;      /* J_ARR, J_OBJ: first member */
	struct json *next;      /* next member of the parent */
} json_t;

/* Parses a whole document; NULL with *err and *offset on an error. */
json_t *json_parse(const char *text, size_t len, const char **err, size_t *offset);
void j_free(json_t *v);
json_t *json_get(const json_t *o, const char *key);
json_t *json_path(const json_t *o, const char *path);   /* dotted member names */
unsigned long long json_u64(const json_t *v);
unsigned long long path_u64(const json_t *o, const char *path);

/* "12.3 MiB"; bytes below 10 KiB as they are. */
const char *human(char *buf, size_t n, unsigned long long v);
unsigned long long sub0(unsigned long long a, unsigned long long b);

/* Renders (or, with json, copies) a statistics document (hakmem_stats_print
 * "J") to out; what names the input in messages. 0 or -1. */
int emit_stats(FILE *out, const char *text, size_t len, const char *what, bool json,
               bool per_arena);

/* The live view (live.c): commands on a running process. Each returns the
 * tool's exit status. */
int cmd_live_stats(const char *pidarg, bool json, bool per_arena, double timeout);
int cmd_live_get(char **argv, int argc);
int cmd_live_set(char **argv, int argc);
int cmd_live_top(char **argv, int argc);
int cmd_live_ps(char **argv, int argc);
int cmd_live_request(char **argv, int argc);

#endif
