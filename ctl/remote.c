/* remote.c - hakmem-ctl's live view: stats, get, set and top on a running
 * process, and ps.
 *
 * The target's library keeps a mailbox in its data (src/live.h). The tool
 *   1. refuses a process of another user unless it runs as root, before it
 *      reads anything of it;
 *   2. finds the mailbox: in the writable file mappings of libhakmem (or of
 *      the executable, for a static link) listed in /proc/PID/maps, the
 *      magic string at an address the mailbox itself holds;
 *   3. writes the request text, its length, then a fresh sequence number
 *      (process_vm_writev: the kernel's ptrace access check decides);
 *   4. wakes the target's background thread with the signal it publishes,
 *      sent to that thread alone after checking the thread's name;
 *   5. polls the mailbox until it acknowledges the number, and reads the
 *      reply, checking afterwards that the acknowledgement still stands.
 * The target serves requests in its background thread, or in any thread's
 * next thread-cache drain when it has none (a single-threaded program).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "live.h"

#define DEFAULT_TIMEOUT 5.0

typedef struct target {
	pid_t pid;
	uint64_t addr;          /* the mailbox in the target */
	live_mailbox_t mb;      /* as last read */
	char comm[64];
} target_t;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

static bool alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* Reads n bytes at addr of the target; 0 or errno. */
static int peek(pid_t pid, uint64_t addr, void *buf, size_t n)
{
	struct iovec l = { buf, n }, r = { (void *)(uintptr_t)addr, n };
	ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (got < 0)
		return errno;
	return (size_t)got == n ? 0 : EFAULT;
}

static int poke(pid_t pid, uint64_t addr, const void *buf, size_t n)
{
	struct iovec l = { (void *)buf, n }, r = { (void *)(uintptr_t)addr, n };
	ssize_t got = process_vm_writev(pid, &l, 1, &r, 1, 0);
	if (got < 0)
		return errno;
	return (size_t)got == n ? 0 : EFAULT;
}

static const char *errno_name(int e)
{
	switch (e) {
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case EFAULT: return "EFAULT";
	case EAGAIN: return "EAGAIN";
	case ENOSYS: return "ENOSYS";
	case E2BIG: return "E2BIG";
	case ENOMEM: return "ENOMEM";
	case EEXIST: return "EEXIST";
	default: return "errno";
	}
}

/* What an errno value of a ctl call means to an operator. */
static const char *ctl_meaning(int e, bool set)
{
	switch (e) {
	case ENOENT: return "no such key in the process's library (or an index out of range)";
	case EPERM: return set ? "not writable at run time (start-only opt.* keys, read-only statistics, per-thread keys)"
	                       : "not readable from outside (an action, or a per-thread key)";
	case EINVAL: return set ? "bad value for this key" : "bad request";
	case ENOSYS: return "not understood by the process's library";
	case EAGAIN: return "the process could not do it now";
	default: return strerror(e);
	}
}

/* ---- finding the process and its mailbox ------------------------------ */

static pid_t parse_pid(const char *s)
{
	char *e;
	errno = 0;
	long v = strtol(s, &e, 10);
	if (s[0] == '\0' || *e != '\0' || errno != 0 || v <= 0 || v > INT_MAX)
		die("'%s' is not a process id", s);
	return (pid_t)v;
}

static void read_comm(pid_t pid, char *buf, size_t n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "r");
	buf[0] = '\0';
	if (f != NULL) {
		if (fgets(buf, (int)n, f) == NULL)
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
}

static const char *user_name(uid_t uid, char *buf, size_t n)
{
	struct passwd *pw = getpwuid(uid);
	if (pw != NULL)
		snprintf(buf, n, "%s", pw->pw_name);
	else
		snprintf(buf, n, "%u", (unsigned)uid);
	return buf;
}

/* Checks that pid exists and that we may ask it: the same user, or root.
 * Returns 0, or prints why not and returns -1. */
static int check_owner(pid_t pid, bool quiet)
{
	char path[64], ub[64];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	if (stat(path, &st) != 0) {
		if (!quiet)
			warnx_("no process %d", (int)pid);
		return -1;
	}
	uid_t me = geteuid();
	if (me != 0 && st.st_uid != me) {
		if (!quiet)
			warnx_("process %d belongs to user %s: hakmem-ctl reads and writes only "
			       "processes of its own user (or runs as root); refused, nothing read",
			       (int)pid, user_name(st.st_uid, ub, sizeof ub));
		return -1;
	}
	return 0;
}

typedef struct map_range {
	uint64_t start, end;
} map_range_t;

/* The writable file mappings that may hold a mailbox: libhakmem's, and the
 * executable's. Their count (at most max), or -errno. *uses: whether
 * libhakmem appears at all. */
static int candidate_maps(pid_t pid, map_range_t *out, int max, bool *uses)
{
	char path[64], exe[PATH_MAX] = "";
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	ssize_t el = readlink(path, exe, sizeof exe - 1);
	exe[el > 0 ? el : 0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	char line[PATH_MAX + 256];
	int n = 0;
	*uses = false;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long long s, e;
		char perms[8];
		int off = 0;
		if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %n", &s, &e, perms, &off) < 3 || off == 0)
			continue;
		char *file = line + off;
		file[strcspn(file, "\n")] = '\0';
		const char *base = strrchr(file, '/');
		base = base ? base + 1 : file;
		bool lib = strncmp(base, "libhakmem", 9) == 0;
		*uses |= lib;
		if (perms[0] != 'r' || perms[1] != 'w')
			continue;
		bool is_exe = exe[0] != '\0' && strncmp(file, exe, strlen(exe)) == 0;
		if ((lib || is_exe) && n < max) {
			out[n].start = s;
			out[n].end = e;
			n++;
		}
	}
	fclose(f);
	return n;
}

/* Finds the mailbox. 0, or prints why not and returns -1. */
static int target_open(pid_t pid, target_t *t, bool quiet)
{
	memset(t, 0, sizeof *t);
	t->pid = pid;
	if (check_owner(pid, quiet) != 0)
		return -1;
	read_comm(pid, t->comm, sizeof t->comm);
	map_range_t maps[16];
	bool uses;
	int n = candidate_maps(pid, maps, 16, &uses);
	if (n < 0) {
		if (!quiet)
			warnx_("process %d: cannot read its memory map: %s", (int)pid, strerror(-n));
		return -1;
	}
	if (!uses) {
		/* A static link shows no libhakmem: look in the executable. */
		bool found_exe = n > 0;
		if (!found_exe) {
			if (!quiet)
				warnx_("process %d (%s) does not use hakmem (no libhakmem in its maps)",
				       (int)pid, t->comm);
			return -1;
		}
	}
	for (int i = 0; i < n; i++) {
		size_t len = (size_t)(maps[i].end - maps[i].start);
		if (len > (64u << 20))
			continue;
		unsigned char *buf = xmalloc(len);
		int err = peek(pid, maps[i].start, buf, len);
		if (err == EPERM || err == EACCES) {
			free(buf);
			if (!quiet)
				warnx_("process %d: not permitted to read its memory (the kernel's ptrace "
				       "access check: same user and a dumpable process, or CAP_SYS_PTRACE)",
				       (int)pid);
			return -1;
		}
		if (err == ESRCH) {
			free(buf);
			if (!quiet)
				warnx_("no process %d", (int)pid);
			return -1;
		}
		for (size_t o = 0; err == 0 && o + sizeof(live_mailbox_t) <= len; o += 64) {
			live_mailbox_t *m = (live_mailbox_t *)(buf + o);
			if (memcmp(m->magic, LIVE_MAGIC, sizeof LIVE_MAGIC) != 0 ||
			    m->self != maps[i].start + o)
				continue;
			t->addr = m->self;
			t->mb = *m;
			free(buf);
			if (t->mb.version != LIVE_VERSION || t->mb.size != sizeof(live_mailbox_t)) {
				if (!quiet)
					warnx_("process %d: its hakmem speaks live-view protocol %u, this "
					       "tool %u: use the hakmem-ctl of its version (%.16s)",
					       (int)pid, t->mb.version, LIVE_VERSION, t->mb.lib_version);
				return -1;
			}
			return 0;
		}
		free(buf);
	}
	if (!quiet) {
		if (uses)
			warnx_("process %d (%s) uses a hakmem without the live view (no mailbox found)",
			       (int)pid, t->comm);
		else
			warnx_("process %d (%s) does not use hakmem (no libhakmem in its maps)",
			       (int)pid, t->comm);
	}
	return -1;
}

static int read_header(target_t *t)
{
	return peek(t->pid, t->addr, &t->mb, sizeof t->mb);
}

#define MB_OFF(f) (t->addr + offsetof(live_mailbox_t, f))

/* Wakes the background thread, when the target says it waits for a signal
 * and the thread of that id is still hakmem's. */
static void wake(target_t *t)
{
	int tid = t->mb.wake_tid, sig = t->mb.wake_sig;
	if (tid <= 0 || sig <= 0 || sig > 64)
		return;
	char path[96], name[64] = "";
	snprintf(path, sizeof path, "/proc/%d/task/%d/comm", (int)t->pid, tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fgets(name, sizeof name, f) == NULL)
		name[0] = '\0';
	fclose(f);
	if (strcmp(name, "hakmem-bg\n") != 0)
		return;
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = LIVE_WAKE_COOKIE;
	syscall(SYS_rt_tgsigqueueinfo, t->pid, tid, sig, &si);
}

/* Tools of one user take turns on a process: a write lock on byte PID of
 * TMPDIR/hakmem-ctl-UID.lock (a file of ours, not followed through a link),
 * waited for up to `timeout`. The descriptor, or -1 when there is no such
 * file to be had: then the sequence numbers alone sort tools out. */
static int lock_target(pid_t pid, double timeout)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/hakmem-ctl-%u.lock", dir && dir[0] ? dir : "/tmp",
	         (unsigned)geteuid());
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = pid, .l_len = 1 };
	double t0 = now_s();
	while (fcntl(fd, F_SETLK, &fl) != 0) {
		if ((errno != EACCES && errno != EAGAIN) || now_s() - t0 > timeout) {
			close(fd);
			return -1;
		}
		sleep_s(0.002);
	}
	return fd;
}

static int request_once(target_t *t, const char *req, size_t len, char **reply, size_t *rlen,
                        double timeout);

/* Sends a request and waits for its reply (malloc'd, NUL-terminated, in
 * *reply). 0, or prints why not and returns -1. */
static int target_request(target_t *t, const char *req, size_t len, char **reply, size_t *rlen,
                          double timeout)
{
	int fd = lock_target(t->pid, timeout);
	int rc = request_once(t, req, len, reply, rlen, timeout);
	if (fd >= 0)
		close(fd); /* and the lock with it */
	return rc;
}

static int request_once(target_t *t, const char *req, size_t len, char **reply, size_t *rlen,
                        double timeout)
{
	if (len > LIVE_REQ_MAX) {
		warnx_("request too long (%zu bytes; at most %d)", len, LIVE_REQ_MAX);
		return -1;
	}
	for (int attempt = 0; attempt < 8; attempt++) {
		int err = read_header(t);
		if (err != 0) {
			if (err == ESRCH)
				warnx_("process %d exited", (int)t->pid);
			else
				warnx_("process %d: cannot read its mailbox: %s", (int)t->pid, strerror(err));
			return -1;
		}
		if (!t->mb.enabled) {
			warnx_("process %d has the live view turned off (live.enabled=false)", (int)t->pid);
			return -1;
		}
		uint32_t seq = ((uint32_t)getpid() * 2654435761u) ^ (uint32_t)(now_s() * 1e6);
		if (seq == t->mb.ack_seq || seq == t->mb.req_seq)
			seq += 2;
		uint32_t len32 = (uint32_t)len;
		if ((err = poke(t->pid, t->mb.req_addr, req, len)) != 0 ||
		    (err = poke(t->pid, MB_OFF(req_len), &len32, sizeof len32)) != 0 ||
		    (err = poke(t->pid, MB_OFF(req_seq), &seq, sizeof seq)) != 0) {
			if (err == ESRCH)
				warnx_("process %d exited", (int)t->pid);
			else if (err == EPERM)
				warnx_("process %d: not permitted to write its memory (the kernel's ptrace "
				       "access check)", (int)t->pid);
			else
				warnx_("process %d: cannot write its mailbox: %s", (int)t->pid, strerror(err));
			return -1;
		}
		wake(t);
		double t0 = now_s(), nap = 0.0005;
		bool lost = false;
		for (;;) {
			err = read_header(t);
			if (err != 0 || !alive(t->pid)) {
				warnx_("process %d exited before it answered", (int)t->pid);
				return -1;
			}
			if (t->mb.ack_seq == seq)
				break;
			if (t->mb.req_seq != seq) { /* another tool wrote over ours */
				lost = true;
				break;
			}
			if (now_s() - t0 > timeout) {
				if (t->mb.wake_tid == 0)
					warnx_("process %d (%s) did not answer in %.1f s: it runs no background "
					       "thread (a single-threaded program, or background_thread=false), "
					       "and answers at its next thread-cache drain, which comes only "
					       "while it allocates (a program started with "
					       "HAKMEM_CONF=opt.live_thread=true answers while it idles)",
					       (int)t->pid, t->comm, timeout);
				else
					warnx_("process %d (%s) did not answer in %.1f s", (int)t->pid, t->comm,
					       timeout);
				/* Withdraw it, unless it was served meanwhile. */
				uint32_t ack = t->mb.ack_seq;
				if (read_header(t) == 0 && t->mb.req_seq == seq && t->mb.ack_seq != seq)
					poke(t->pid, MB_OFF(req_seq), &ack, sizeof ack);
				return -1;
			}
			sleep_s(nap);
			if (nap < 0.02)
				nap *= 2;
		}
		if (lost) {
			sleep_s(0.001 * (double)(rand() % 20 + 1) * (attempt + 1));
			continue;
		}
		if (t->mb.status != 0) {
			warnx_("process %d refused the request: %s", (int)t->pid,
			       t->mb.status == E2BIG ? "too long, or its reply would be" : strerror(t->mb.status));
			return -1;
		}
		size_t n = (size_t)t->mb.reply_len;
		uint64_t at = t->mb.reply_addr;
		if (n > LIVE_REPLY_MAX) {
			warnx_("process %d: reply of %zu bytes: not believed", (int)t->pid, n);
			return -1;
		}
		char *buf = xmalloc(n + 1);
		err = n ? peek(t->pid, at, buf, n) : 0;
		buf[n] = '\0';
		/* Still ours: nobody asked anything since. */
		if (err == 0 && read_header(t) == 0 && t->mb.ack_seq == seq && t->mb.reply_addr == at &&
		    t->mb.reply_len == n) {
			*reply = buf;
			*rlen = n;
			return 0;
		}
		free(buf);
		if (!alive(t->pid)) {
			warnx_("process %d exited before it answered", (int)t->pid);
			return -1;
		}
	}
	warnx_("process %d: another hakmem-ctl keeps taking its mailbox; try again", (int)t->pid);
	return -1;
}

/* ---- options shared by the commands ------------------------------------ */

static double parse_timeout(const char *s)
{
	char *e;
	double v = strtod(s, &e);
	if (*e != '\0' || !(v > 0) || v > 3600)
		die("--timeout %s: seconds, above 0", s);
	return v;
}

static bool key_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 95)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* "PID [--timeout S] [ITEM...]": the pid (NULL when missing), the
 * time-out, and the items in order (argv's own strings; *nitems of them;
 * with items NULL only counted). */
static const char *pid_args(char **argv, int argc, double *timeout, char **items, int *nitems)
{
	const char *pidarg = NULL;
	*timeout = DEFAULT_TIMEOUT;
	*nitems = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			*timeout = parse_timeout(argv[++i]);
		else if (pidarg == NULL)
			pidarg = argv[i];
		else if (items != NULL)
			items[(*nitems)++] = argv[i];
		else
			(*nitems)++;
	}
	return pidarg;
}

/* ---- stats ------------------------------------------------------------- */

static char *fetch_stats(target_t *t, size_t *len, double timeout)
{
	char *reply;
	if (target_request(t, "stats json\n", 11, &reply, len, timeout) != 0)
		return NULL;
	return reply;
}

int cmd_live_stats(const char *pidarg, bool json, bool per_arena, double timeout)
{
	target_t t;
	if (target_open(parse_pid(pidarg), &t, false) != 0)
		return 1;
	size_t len;
	char *text = fetch_stats(&t, &len, timeout);
	if (text == NULL)
		return 1;
	char what[64];
	snprintf(what, sizeof what, "process %s", pidarg);
	int rc = emit_stats(stdout, text, len, what, json, per_arena);
	free(text);
	if (fflush(stdout) != 0)
		die("write error: %s", strerror(errno));
	return rc == 0 ? 0 : 1;
}

/* ---- get and set ------------------------------------------------------- */

/* Sends "VERB ARG" lines for argv and prints the answers. */
static int get_or_set(char **argv, int argc, bool set)
{
	const char *verb = set ? "set" : "get";
	double timeout;
	char **items = xmalloc((size_t)(argc + 1) * sizeof *items);
	int nitems;
	const char *pidarg = pid_args(argv, argc, &timeout, items, &nitems);
	if (pidarg == NULL || nitems == 0)
		die("usage: hakmem-ctl %s PID %s...", verb, set ? "KEY=VALUE|ACTION" : "KEY");
	size_t cap = 64, len = 0;
	char *req = xmalloc(cap);
	for (int i = 0; i < nitems; i++) {
		const char *it = items[i];
		const char *eq = set ? strchr(it, '=') : NULL;
		size_t nl = eq ? (size_t)(eq - it) : strlen(it);
		if (!key_name_ok(it, nl))
			die("%s: '%.*s' is not a key name", verb, (int)nl, it);
		if (eq && strpbrk(eq + 1, "\n\r") != NULL)
			die("%s: the value of %.*s holds a line break", verb, (int)nl, it);
		size_t need = strlen(it) + 6;
		if (len + need >= cap) {
			while (len + need >= cap)
				cap *= 2;
			req = realloc(req, cap);
			if (req == NULL)
				die("out of memory");
		}
		len += (size_t)snprintf(req + len, cap - len, "%s %s\n", verb, it);
	}
	target_t t;
	if (target_open(parse_pid(pidarg), &t, false) != 0)
		return 1;
	char *reply;
	size_t rlen;
	if (target_request(&t, req, len, &reply, &rlen, timeout) != 0)
		return 1;
	free(req);
	int rc = 0, answered = 0;
	for (char *save, *line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		answered++;
		if (strncmp(line, "ok ", 3) == 0) {
			char *name = line + 3, *val = strchr(name, ' ');
			if (set)
				printf("%s: done\n", name);
			else if (val != NULL)
				printf("%.*s=%s\n", (int)(val - name), name, val + 1);
			else
				printf("%s=\n", name);
		} else if (strncmp(line, "err ", 4) == 0) {
			char *name = line + 4, *num = strrchr(name, ' ');
			int e = num ? atoi(num + 1) : EINVAL;
			warnx_("%s %.*s: %s (%s)", verb, num ? (int)(num - name) : (int)strlen(name), name,
			       ctl_meaning(e, set), errno_name(e));
			rc = 1;
		} else {
			warnx_("%s: unexpected answer from process %s: %.80s", verb, pidarg, line);
			rc = 1;
		}
	}
	if (answered != nitems) {
		warnx_("%s: %d answers to %d requests", verb, answered, nitems);
		rc = 1;
	}
	free(reply);
	free(items);
	fflush(stdout);
	return rc;
}

int cmd_live_get(char **argv, int argc)
{
	return get_or_set(argv, argc, false);
}

int cmd_live_set(char **argv, int argc)
{
	return get_or_set(argv, argc, true);
}

/* ---- request: the protocol itself, for scripts ------------------------- */

int cmd_live_request(char **argv, int argc)
{
	double timeout;
	int nitems;
	const char *pidarg = pid_args(argv, argc, &timeout, NULL, &nitems);
	if (pidarg == NULL || nitems != 0)
		die("usage: hakmem-ctl request PID [--timeout S] < REQUEST");
	char *req = xmalloc(LIVE_REQ_MAX + 1);
	size_t len = fread(req, 1, LIVE_REQ_MAX + 1, stdin);
	if (len > LIVE_REQ_MAX)
		die("request: more than %d bytes", LIVE_REQ_MAX);
	target_t t;
	if (target_open(parse_pid(pidarg), &t, false) != 0)
		return 1;
	char *reply;
	size_t rlen;
	int rc = target_request(&t, req, len, &reply, &rlen, timeout);
	free(req);
	if (rc != 0)
		return 1;
	fwrite(reply, 1, rlen, stdout);
	free(reply);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- top --------------------------------------------------------------- */

#define TOP_CLASSES 256

typedef struct top_class {
	unsigned long long size, nmalloc, nfree, curregs, ncached, nrefills, remote;
	bool seen;
} top_class_t;

typedef struct top_sample {
	double t;
	unsigned long long nmalloc, nfree, remote, refills, flushes;
	top_class_t cls[TOP_CLASSES];
} top_sample_t;

static void sample_classes(const json_t *root, top_sample_t *s)
{
	memset(s->cls, 0, sizeof s->cls);
	s->remote = s->refills = s->flushes = 0;
	const json_t *arenas = json_path(root, "stats.arenas");
	for (const json_t *a = arenas && arenas->type == J_OBJ ? arenas->kids : NULL; a; a = a->next) {
		s->remote += path_u64(a, "remote_frees");
		const json_t *cl = json_get(a, "classes");
		for (const json_t *c = cl && cl->type == J_OBJ ? cl->kids : NULL; c; c = c->next) {
			unsigned long i = strtoul(c->key, NULL, 10);
			if (i >= TOP_CLASSES)
				continue;
			top_class_t *r = &s->cls[i];
			r->seen = true;
			r->size = path_u64(c, "size");
			r->nmalloc += path_u64(c, "nmalloc");
			r->nfree += path_u64(c, "nfree");
			r->curregs += path_u64(c, "curregs");
			r->ncached += path_u64(c, "ncached");
			r->nrefills += path_u64(c, "nrefills");
			r->remote += path_u64(c, "remote_frees");
			s->refills += path_u64(c, "nrefills");
			s->flushes += path_u64(c, "nflushes");
		}
	}
}

static unsigned long long vm_rss(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	unsigned long long kb = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static const top_sample_t *g_sort_prev;
static const top_sample_t *g_sort_cur;

static int by_bytes(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	const top_class_t *cx = &g_sort_cur->cls[x], *cy = &g_sort_cur->cls[y];
	unsigned long long bx = cx->curregs * cx->size, by = cy->curregs * cy->size;
	return bx < by ? 1 : bx > by ? -1 : (x > y) - (x < y);
}

static double rate(unsigned long long now, unsigned long long before, double dt)
{
	return dt > 0 && now > before ? (double)(now - before) / dt : 0.0;
}

static void top_frame(FILE *out, const target_t *t, const json_t *root, const top_sample_t *cur,
                      const top_sample_t *prev, double interval, int rows, bool tty)
{
	char b[10][32];
	const json_t *st = json_get(root, "stats");
	unsigned long long allocated = path_u64(st, "allocated"), active = path_u64(st, "active");
	unsigned long long cached = 0;
	for (int i = 0; i < TOP_CLASSES; i++)
		cached += cur->cls[i].ncached * cur->cls[i].size;
	unsigned long long frag = sub0(sub0(active, allocated), cached);
	double dt = prev ? cur->t - prev->t : 0;
	if (tty)
		fputs("\033[H\033[2J", out);
	const json_t *ver = json_get(root, "version");
	fprintf(out, "hakmem-ctl top - process %d (%s), hakmem %s - every %.1f s - q quits\n",
	        (int)t->pid, t->comm, ver && ver->type == J_STR ? ver->str : "?", interval);
	fprintf(out, "memory   %-10s %-10s %-10s %-10s %-10s %-10s %-10s %-10s\n", "RSS", "resident",
	        "allocated", "tcaches", "frag", "dirty", "metadata", "retained");
	fprintf(out, "         %-10s %-10s %-10s %-10s %-10s %-10s %-10s %-10s\n",
	        human(b[0], 32, vm_rss(t->pid)), human(b[1], 32, path_u64(st, "resident")),
	        human(b[2], 32, allocated), human(b[3], 32, cached), human(b[4], 32, frag),
	        human(b[5], 32, path_u64(st, "dirty")), human(b[6], 32, path_u64(st, "metadata")),
	        human(b[7], 32, path_u64(st, "retained")));
	fprintf(out, "rates/s  malloc %.0f  free %.0f  remote frees %.0f  refills %.0f  flushes %.0f\n",
	        prev ? rate(cur->nmalloc, prev->nmalloc, dt) : 0.0,
	        prev ? rate(cur->nfree, prev->nfree, dt) : 0.0,
	        prev ? rate(cur->remote, prev->remote, dt) : 0.0,
	        prev ? rate(cur->refills, prev->refills, dt) : 0.0,
	        prev ? rate(cur->flushes, prev->flushes, dt) : 0.0);
	fprintf(out, "\n%5s %8s %10s %10s %9s %10s %10s %10s\n", "class", "size", "blocks",
	        "bytes", "cached", "malloc/s", "refill/s", "remote/s");
	unsigned idx[TOP_CLASSES];
	unsigned n = 0;
	for (unsigned i = 0; i < TOP_CLASSES; i++)
		if (cur->cls[i].seen && cur->cls[i].curregs > 0)
			idx[n++] = i;
	g_sort_cur = cur;
	g_sort_prev = prev;
	qsort(idx, n, sizeof idx[0], by_bytes);
	for (unsigned k = 0; k < n && (int)k < rows; k++) {
		const top_class_t *c = &cur->cls[idx[k]];
		const top_class_t *p = prev ? &prev->cls[idx[k]] : NULL;
		fprintf(out, "%5u %8llu %10llu %10s %9llu %10.0f %10.0f %10.0f\n", idx[k], c->size,
		        c->curregs, human(b[8], 32, c->curregs * c->size), c->ncached,
		        p ? rate(c->nmalloc, p->nmalloc, dt) : 0.0,
		        p ? rate(c->nrefills, p->nrefills, dt) : 0.0,
		        p ? rate(c->remote, p->remote, dt) : 0.0);
	}
	if (n > (unsigned)rows)
		fprintf(out, "(%u more classes)\n", n - (unsigned)rows);
	fflush(out);
}

static struct termios g_tio;
static bool g_tio_set;

static void tio_restore(void)
{
	if (g_tio_set) {
		tcsetattr(0, TCSANOW, &g_tio);
		g_tio_set = false;
	}
}

static void top_signal(int sig)
{
	tio_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

int cmd_live_top(char **argv, int argc)
{
	double interval = 1.0, timeout = DEFAULT_TIMEOUT;
	long iterations = -1;
	const char *pidarg = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc)
			interval = parse_timeout(argv[++i]);
		else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
			iterations = atol(argv[++i]);
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = parse_timeout(argv[++i]);
		else if (pidarg == NULL && argv[i][0] != '-')
			pidarg = argv[i];
		else
			die("usage: hakmem-ctl top PID [--interval S] [--iterations N]");
	}
	if (pidarg == NULL)
		die("usage: hakmem-ctl top PID [--interval S] [--iterations N]");
	target_t t;
	if (target_open(parse_pid(pidarg), &t, false) != 0)
		return 1;
	bool tty = isatty(1);
	bool keys = isatty(0);
	if (keys && tcgetattr(0, &g_tio) == 0) {
		struct termios raw = g_tio;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(0, TCSANOW, &raw) == 0) {
			g_tio_set = true;
			atexit(tio_restore);
			signal(SIGINT, top_signal);
			signal(SIGTERM, top_signal);
			signal(SIGHUP, top_signal);
		}
	}
	top_sample_t *cur = xmalloc(sizeof *cur), *prev = xmalloc(sizeof *prev);
	bool have_prev = false;
	int rc = 0;
	for (long it = 0; iterations < 0 || it < iterations; it++) {
		size_t len;
		char *text = fetch_stats(&t, &len, timeout);
		if (text == NULL) {
			rc = 1;
			break;
		}
		const char *err;
		size_t off;
		json_t *root = json_parse(text, len, &err, &off);
		free(text);
		if (root == NULL) {
			warnx_("process %d: statistics not valid JSON (%s)", (int)t.pid, err ? err : "?");
			rc = 1;
			break;
		}
		cur->t = now_s();
		cur->nmalloc = path_u64(root, "stats.nmalloc");
		cur->nfree = path_u64(root, "stats.nfree");
		sample_classes(root, cur);
		int rows = 20;
		struct winsize ws;
		if (tty && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 10)
			rows = ws.ws_row - 8;
		top_frame(stdout, &t, root, cur, have_prev ? prev : NULL, interval, rows, tty);
		j_free(root);
		top_sample_t *x = prev;
		prev = cur;
		cur = x;
		have_prev = true;
		if (iterations >= 0 && it + 1 >= iterations)
			break;
		/* Wait for the interval, or a key. */
		double until = now_s() + interval;
		bool quit = false;
		while (!quit) {
			double left = until - now_s();
			if (left <= 0)
				break;
			if (keys) {
				struct pollfd pfd = { 0, POLLIN, 0 };
				int r = poll(&pfd, 1, (int)(left * 1000) + 1);
				if (r > 0) {
					char c;
					ssize_t got = read(0, &c, 1);
					if (got == 1 && (c == 'q' || c == 'Q'))
						quit = true;
					else if (got == 0)
						keys = false; /* end of input: just wait */
				}
			} else {
				sleep_s(left);
			}
		}
		if (quit)
			break;
		if (!alive(t.pid)) {
			warnx_("process %d exited", (int)t.pid);
			rc = 1;
			break;
		}
	}
	tio_restore();
	free(cur);
	free(prev);
	return rc;
}

/* ---- ps ---------------------------------------------------------------- */

int cmd_live_ps(char **argv, int argc)
{
	if (argc > 0)
		die("usage: hakmem-ctl ps");
	DIR *d = opendir("/proc");
	if (d == NULL)
		die("/proc: %s", strerror(errno));
	printf("%8s %-10s %10s %-8s %s\n", "PID", "USER", "RSS", "LIVE", "COMMAND");
	struct dirent *e;
	int hidden = 0;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid == getpid())
			continue;
		char path[64], ub[64], hb[32];
		struct stat st;
		snprintf(path, sizeof path, "/proc/%d", (int)pid);
		if (stat(path, &st) != 0)
			continue;
		if (geteuid() != 0 && st.st_uid != geteuid()) {
			/* Not ours: its maps are not readable, and we do not try. */
			hidden++;
			continue;
		}
		map_range_t maps[16];
		bool uses = false;
		if (candidate_maps(pid, maps, 16, &uses) < 0 || !uses)
			continue;
		target_t t;
		bool live = target_open(pid, &t, true) == 0;
		char cmd[256] = "";
		snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			size_t n = fread(cmd, 1, sizeof cmd - 1, f);
			fclose(f);
			for (size_t i = 0; i + 1 < n; i++)
				if (cmd[i] == '\0')
					cmd[i] = ' ';
			cmd[n] = '\0';
		}
		if (cmd[0] == '\0')
			read_comm(pid, cmd, sizeof cmd);
		printf("%8d %-10s %10s %-8s %s\n", (int)pid, user_name(st.st_uid, ub, sizeof ub),
		       human(hb, sizeof hb, vm_rss(pid)),
		       live ? (t.mb.enabled ? "yes" : "off") : "no", cmd);
	}
	closedir(d);
	if (hidden > 0)
		printf("(%d processes of other users not examined)\n", hidden);
	fflush(stdout);
	return 0;
}
