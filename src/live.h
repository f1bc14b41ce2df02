/* live.h - the live view: `hakmem-ctl stats|get|set|top PID` reach a running
 * process through a mailbox in its memory (doc/design.md, "The live view").
 *
 * The tool finds the mailbox in the library's data (a magic string and the
 * mailbox's own address), reads and writes it with process_vm_readv/writev
 * (the kernel's ptrace access check is the permission), writes a request and
 * then its sequence number, and wakes the background thread with a signal
 * aimed at that thread alone, which it blocks and waits for (no handler is
 * installed). The request is served by the background thread, or, where a
 * process has none, by the next thread-cache drain of any thread. A process
 * nobody asks pays nothing: no descriptor, no thread, no instruction on the
 * fast paths; its drains read two words.
 *
 * The layout below is the protocol: the tool (ctl/hakmem-ctl.c) has its own
 * copy, and both check LIVE_VERSION and the size.
 */
#ifndef HAKMEM_LIVE_H
#define HAKMEM_LIVE_H

#include "internal.h"

#define LIVE_MAGIC       "hakmem-live-mbx"  /* 15 characters and a NUL */
#define LIVE_VERSION     1
#define LIVE_REQ_MAX     4096               /* bytes of a request */
#define LIVE_REPLY_MAX   (64u << 20)        /* bytes of a reply, at most */
#define LIVE_WAKE_COOKIE 0x68616b6d         /* si_value of the tool's wake-up signal */

typedef struct live_mailbox {
	char magic[16];        /* LIVE_MAGIC */
	uint64_t self;         /* this mailbox's own address */
	uint32_t version;      /* LIVE_VERSION */
	uint32_t size;         /* sizeof (live_mailbox_t) */
	uint64_t req_addr;     /* where the request goes: LIVE_REQ_MAX bytes */
	uint32_t req_max;      /* LIVE_REQ_MAX */
	uint32_t enabled;      /* live.enabled: 0, requests are not served */
	int32_t wake_tid;      /* the thread to signal (the background thread), or 0 */
	int32_t wake_sig;      /* the signal, or 0 */
	char lib_version[16];  /* HAKMEM_VERSION */
	/* The tool writes req_len and the request, then req_seq. */
	uint32_t req_seq;
	uint32_t req_len;
	/* The process writes the reply, then ack_seq = the req_seq it served. */
	uint32_t ack_seq;
	int32_t status;        /* 0, or an errno value for the whole request */
	uint64_t reply_addr;   /* reply_len bytes of text */
	uint64_t reply_len;
	uint64_t nserved;      /* requests served */
} live_mailbox_t;

extern live_mailbox_t g_live;

/* A request is waiting. Two loads. */
static inline bool live_pending(void)
{
	return __atomic_load_n(&g_live.req_seq, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(&g_live.ack_seq, __ATOMIC_RELAXED);
}

/* Serves a waiting request, unless another thread does. No hakmem lock held;
 * not in a signal handler. */
void live_serve(void);

/* Serves one request text into a reply of `*len` bytes at `*reply` (mapped
 * by this file, kept for the next reply). The errno value for the whole
 * request, or 0. Exposed for the request fuzzer (test/fuzz_live.c). */
int live_handle(const char *req, size_t len, const char **reply, size_t *reply_len);

/* The background thread waits for the wake-up signal (`tid`: its thread id,
 * 0 when it stops waiting). */
void live_set_waker(int tid, int sig);

/* In the fork child: a request addressed to the parent is not served. */
void live_postfork_child(void);

#endif
