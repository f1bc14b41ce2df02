/* live.c - the live view's mailbox and request decoder. See live.h.
 *
 * A request is text, at most LIVE_REQ_MAX bytes, one command a line:
 *     get NAME             ->  "ok NAME VALUE" or "err NAME ERRNO"
 *     set NAME=VALUE       ->  "ok NAME" or "err NAME ERRNO"
 *     set NAME             ->  the same, for an action (arenas.purge)
 *     stats json|text      ->  what hakmem_stats_print writes
 * ERRNO is the decimal errno value hakmem_ctl returned. A line that is not
 * one of these (an unknown command, a name with other characters than
 * [A-Za-z0-9._-], control characters, too long) answers "err WORD ERRNO"
 * (EINVAL, or ENOSYS for an unknown command; WORD is "-" where it cannot be
 * echoed). thread.* keys are EPERM: from outside, "the calling thread" would
 * be whichever thread serves the request. Every value goes through the ctl
 * table's own checks (ctl_get_text, ctl_set_text).
 */
#include "live.h"
#include "atomic.h"
#include "ctl.h"
#include "log.h"
#include "os.h"

#include <hakmem.h>
#include <errno.h>
#include <string.h>

#define NAME_MAX_LEN  95
#define VALUE_MAX_LEN 255

static char g_live_req[LIVE_REQ_MAX];  /* the tool writes requests here */
static char g_live_copy[LIVE_REQ_MAX]; /* the request being served [g_live_busy] */
static uint32_t g_live_busy;           /* a thread serves a request [atomic] */

live_mailbox_t g_live __attribute__((used, aligned(64))) = {
	.magic = LIVE_MAGIC,
	.self = (uint64_t)(uintptr_t)&g_live,
	.version = LIVE_VERSION,
	.size = sizeof(live_mailbox_t),
	.req_addr = (uint64_t)(uintptr_t)g_live_req,
	.req_max = LIVE_REQ_MAX,
	.enabled = 1,
	.lib_version = HAKMEM_VERSION,
};

/* ---- the reply buffer: mapped on the first request, grown by doubling ---- */

static struct {
	char *p;
	size_t len, cap;
	bool overflow;
} g_out; /* [g_live_busy] */

static void out_put(const char *s, size_t n)
{
	if (g_out.overflow)
		return;
	if (g_out.len + n > g_out.cap) {
		size_t cap = g_out.cap ? g_out.cap : 64 * KiB;
		while (cap < g_out.len + n)
			cap *= 2;
		void *np;
		if (cap > LIVE_REPLY_MAX || os_map(cap, &np) != 0) {
			g_out.overflow = true;
			return;
		}
		if (g_out.p != NULL) {
			memcpy(np, g_out.p, g_out.len);
			os_unmap(g_out.p, g_out.cap);
		}
		g_out.p = np;
		g_out.cap = cap;
	}
	memcpy(g_out.p + g_out.len, s, n);
	g_out.len += n;
}

static void out_str(const char *s)
{
	out_put(s, strlen(s));
}

static void out_stats(void *opaque, const char *text)
{
	(void)opaque;
	out_str(text);
}

/* "err WORD ERRNO\n" */
static void out_err(const char *word, int err)
{
	char num[16];
	hm_format(num, sizeof num, " %d\n", err);
	out_str("err ");
	out_str(word);
	out_str(num);
}

/* ---- the decoder ---- */

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* thread.*: "the calling thread" means nothing from outside. */
static bool per_thread(const char *name)
{
	static const char prefix[] = "thread.";
	for (size_t i = 0; i < sizeof prefix - 1; i++)
		if (name[i] != prefix[i]) /* stops at the name's NUL */
			return false;
	return true;
}

static void cmd_get(const char *name)
{
	char val[VALUE_MAX_LEN + 1];
	int err = per_thread(name) ? EPERM : ctl_get_text(name, val, sizeof val);
	if (err) {
		out_err(name, err);
		return;
	}
	for (char *c = val; *c; c++) /* a string value stays on its line */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	out_str("ok ");
	out_str(name);
	out_str(" ");
	out_str(val);
	out_str("\n");
}

static void cmd_set(const char *name, const char *value)
{
	int err = per_thread(name) ? EPERM : ctl_set_text(name, value);
	if (err) {
		out_err(name, err);
		return;
	}
	out_str("ok ");
	out_str(name);
	out_str("\n");
}

/* One line (no newline), n bytes. */
static void live_line(const char *s, size_t n)
{
	char word[16], name[NAME_MAX_LEN + 1], value[VALUE_MAX_LEN + 1];
	if (!printable(s, n)) {
		out_err("-", EINVAL);
		return;
	}
	const char *sp = memchr(s, ' ', n);
	size_t wl = sp ? (size_t)(sp - s) : n;
	const char *arg = sp ? sp + 1 : s + n;
	size_t al = sp ? n - wl - 1 : 0;
	if (!name_ok(s, wl) || wl >= sizeof word) {
		out_err("-", EINVAL);
		return;
	}
	memcpy(word, s, wl);
	word[wl] = '\0';
	if (strcmp(word, "stats") == 0) {
		if (al == 4 && memcmp(arg, "json", 4) == 0)
			hakmem_stats_print(out_stats, NULL, "J");
		else if (al == 4 && memcmp(arg, "text", 4) == 0)
			hakmem_stats_print(out_stats, NULL, "");
		else
			out_err(word, EINVAL);
		return;
	}
	bool get = strcmp(word, "get") == 0, set = strcmp(word, "set") == 0;
	if (!get && !set) {
		out_err(word, ENOSYS);
		return;
	}
	const char *eq = set ? memchr(arg, '=', al) : NULL;
	size_t nl = eq ? (size_t)(eq - arg) : al;
	if (!name_ok(arg, nl)) {
		out_err("-", EINVAL);
		return;
	}
	memcpy(name, arg, nl);
	name[nl] = '\0';
	if (get) {
		cmd_get(name);
		return;
	}
	if (eq == NULL) {
		cmd_set(name, NULL);
		return;
	}
	size_t vl = al - nl - 1;
	if (vl > VALUE_MAX_LEN) {
		out_err(name, EINVAL);
		return;
	}
	memcpy(value, eq + 1, vl);
	value[vl] = '\0';
	cmd_set(name, value);
}

int live_handle(const char *req, size_t len, const char **reply, size_t *reply_len)
{
	g_out.len = 0;
	g_out.overflow = false;
	int err = 0;
	if (len > LIVE_REQ_MAX) {
		err = E2BIG;
	} else {
		const char *p = req, *end = req + len;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (n > 0)
				live_line(p, n);
			if (nl == NULL)
				break;
			p = nl + 1;
		}
		if (g_out.overflow)
			err = E2BIG;
	}
	*reply = g_out.p;
	*reply_len = err ? 0 : g_out.len;
	return err;
}

/* ---- serving ---- */

void live_serve(void)
{
	/* Beneath a ctl call of this thread (its lock is not recursive), a
	 * request waits for the next drain. */
	if (!live_pending() || !atomic_load_relaxed(&g_live.enabled) || ctl_held_self())
		return;
	uint32_t idle = 0;
	if (!__atomic_compare_exchange_n(&g_live_busy, &idle, 1, false, __ATOMIC_ACQUIRE,
	                                 __ATOMIC_RELAXED))
		return;
	/* The tool may rewrite the request while it is copied: a seqlock read. */
	for (int tries = 0; tries < 4; tries++) {
		uint32_t seq = __atomic_load_n(&g_live.req_seq, __ATOMIC_ACQUIRE);
		if (seq == atomic_load_relaxed(&g_live.ack_seq))
			break;
		uint32_t n = atomic_load_relaxed(&g_live.req_len);
		const char *reply = NULL;
		size_t rlen = 0;
		int err;
		if (n > LIVE_REQ_MAX) {
			err = E2BIG;
		} else {
			memcpy(g_live_copy, g_live_req, n);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&g_live.req_seq, __ATOMIC_RELAXED) != seq)
				continue;
			err = live_handle(g_live_copy, n, &reply, &rlen);
		}
		atomic_store_relaxed(&g_live.reply_addr, (uint64_t)(uintptr_t)reply);
		atomic_store_relaxed(&g_live.reply_len, (uint64_t)rlen);
		atomic_store_relaxed(&g_live.status, err);
		atomic_add_relaxed(&g_live.nserved, 1);
		__atomic_store_n(&g_live.ack_seq, seq, __ATOMIC_RELEASE);
		break;
	}
	__atomic_store_n(&g_live_busy, 0, __ATOMIC_RELEASE);
}

void live_set_waker(int tid, int sig)
{
	if (tid == 0) {
		atomic_store_relaxed(&g_live.wake_tid, 0);
		return;
	}
	atomic_store_relaxed(&g_live.wake_sig, sig);
	__atomic_store_n(&g_live.wake_tid, tid, __ATOMIC_RELEASE);
}

void live_postfork_child(void)
{
	g_live.wake_tid = 0;
	g_live.ack_seq = g_live.req_seq;
	g_live_busy = 0;
}
