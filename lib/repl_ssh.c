/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_ssh.c — the remote destination type `[user@]host:/abs/path` over SSH
 * (lib/repl_dest.h; docs/replication-destinations.md, "Remote
 * destinations"). Same operations and return codes as the local type.
 *
 * Spec: `[user@]host:/abs/path`, parsed by loafre__ssh_spec_parse
 * (lib/repl_ssh_spec.c, which gives the grammar).
 *
 * Connection. Every program runs through one master connection per
 * destination: ssh -o ControlMaster=auto -o ControlPath=DIR/ssh-%C
 * -o ControlPersist=60 -o BatchMode=yes (DIR: the caller's private 0700
 * directory; when DIR/ssh-%C plus the 17 bytes ssh appends for its
 * temporary name would not fit a Unix socket's 107-byte path, a private
 * directory /tmp/loafre-ssh.PID.XXXXXX made for this destination, removed at
 * close), plus the port, identity file and known_hosts file of the
 * options. rsync gets the same command line as -e, so it shares the
 * master. close() ends the channels and stops the master (ssh -O exit).
 *
 * Channel protocol. Namespace operations and every remote script go
 * through a persistent command channel instead of one process per
 * operation: `ssh OPTS -- TARGET 'exec sh -s loafre-channel'` over the
 * master (one session of it), its stdin a socket of ours (written with
 * MSG_NOSIGNAL), stdout and stderr pipes. A destination has up to CHAN_MAX
 * (4) channels, started on demand (one when used by one thread), each
 * used by one thread at a time (a pool: mutex + condition variable); when
 * one cannot start while others run (e.g. sshd's MaxSessions), the
 * running ones are shared.
 *   Start: we send the prologue
 *     T=$(mktemp -d) || exit 1            (private directory for replies)
 *     trap 'rm -rf -- "$T"' EXIT
 *     printf '@ready\n'
 *   and wait for the line "@ready" (else: ssh's exit status 255 =
 *   -EHOSTUNREACH, another = -EIO, with ssh's first stderr line).
 *   Command N (N = 1, 2, ... per channel), SCRIPT the operation's script:
 *     (
 *     SCRIPT
 *     ) </dev/null >"$T/o" 2>"$T/e"; s=$?; set -- $(stat -c %s -- "$T/o" "$T/e");
 *     printf '@N %s %s %s\n' "$s" "$1" "$2"; cat -- "$T/o" "$T/e"
 *   The subshell keeps the script's `exit`, `set -u`, `exec` and reads of
 *   stdin away from the channel's shell. Reply: one status line
 *   "@N STATUS OLEN ELEN" (grammar: lib/repl_ssh_reply.c), then exactly
 *   OLEN bytes of the script's stdout and ELEN bytes of its stderr. The
 *   exit status maps to an errno as below, the first stderr line is the
 *   `why`. Any other byte, a wrong N or a line longer than 80 bytes is a
 *   protocol error: the channel is killed (-EIO).
 *   Liveness: between commands nothing may be readable on the channel's
 *   stdout, so before a command a readable stdout (EOF or stray bytes) or
 *   an exited ssh means the channel died: it is killed and started again.
 *   A channel that dies after the command was sent and before any byte of
 *   the reply (killed meanwhile) is started again and the command sent a
 *   second time (every script checks the state it changes first: a rename
 *   already made answers -ENOENT, which the callers treat as "copy the new
 *   name"); dying later: -EHOSTUNREACH with ssh's stderr line, and the next
 *   command starts a new channel.
 *   Timeouts: a command (and a start) has timeout_ms; then the ssh process
 *   group is killed (-ETIMEDOUT) and the next command starts a new channel
 *   (what ran remotely may go on until it notices the closed session).
 *   End: stdin closed (the remote shell exits, its trap removes $T), 2 s,
 *   then SIGKILL.
 *
 * Programs (rsync, ssh -O exit) are run with fork + execvp (no local shell)
 * in their own process group, stdin/stdout/stderr through pipes (stdout
 * kept up to a limit per call, stderr up to 4 KiB), a timeout per command
 * after which the process group is killed (-ETIMEDOUT); SIGPIPE is blocked
 * in the calling thread while it writes to a child and a pending one is
 * consumed.
 *
 * Data. copy (but a small one, below), mkdir/symlink of a source entry
 * with xattrs or ACLs, an existing directory's mkdir, mknod and setattr
 * with xattrs are
 *   rsync -a -H -A -X --sparse [--ignore-times] --numeric-ids --force
 *         [--usermap=M] [--groupmap=M] --files-from=- --from0 -e SSH
 *         SRCDIR/ [user@]host:ROOT/
 * with the relative paths on stdin: rsync writes a temporary name and
 * renames it into place (delta transfer against what is there; a copy's
 * files are transferred whatever their size and mtime, --ignore-times,
 * as rsync's quick check compares mtimes to the second only and the
 * caller copies because the file changed), creates
 * missing parents with their source attributes (implied directories) and
 * translates owners with the id maps (pairs in order, then `*:D`). A new
 * directory or a symlink without xattrs is made through the channel
 * (mkdir / ln -s to a ".NAME.loafre.PID" temporary renamed with mv -T,
 * then chown -h, chmod, touch -h), and so is a synchronous copy of a
 * regular file of at most 32 KiB without xattrs (chan_copy_small: its
 * data in base64 in the script, `base64 -d` into the temporary).
 * Hard links: an update (loafre__dest_update) of a source file with
 * several names (st_nlink > 1; outside the initial sync) is never queued
 * nor made by the channel: one rsync of its own with --inplace, which
 * rewrites the destination's file through its inode (every destination
 * name of it follows, links stay links; a reader may see it being
 * rewritten: lib/repl_dest.h, loafre__dest_update).
 *
 * Batches (loafre__dest_batch_begin, lib/repl_dest.h). A copy by a thread
 * with a batch is checked at the source and queued (the queue is the
 * destination's, each entry tagged with its thread). A flush takes the
 * whole queue (flush_mu: one transfer at a time; the entries stay visible
 * as "in flight" for conflict checks) and, per source root: one channel
 * command walking the distinct parents (`nl`, below), one rsync with
 * every path on stdin, one channel command setting the parents' times
 * (unless the entries were queued by the initial sync or no_parent_times).
 * rsync exit 0, 24 (vanished during the transfer) and 23 whose stderr
 * lines all say a source vanished (link_stat ... No such file or
 * directory, "file has vanished") are success; 255 (ssh) and a timeout
 * fail every entry; another status, or a parent walk that found a symlink
 * or a non-directory, makes each entry again alone (rsync per entry) to
 * know which failed. Failures go to the owner's callback and are returned
 * by its next flush. Every other operation on a path conflicting with a
 * queued or in-flight copy (same path, or one a directory prefix of the
 * other) flushes first. A thread's queue is flushed at 4096 files or
 * 256 MiB; close() flushes what is left (errors lost).
 *
 * Namespace operations (rename, unlink, rmdir, link; setattr without
 * xattrs; lstat; list; list_stat) are one channel command each, every path
 * single-quoted ('\'' for a quote) and written as "$R/REL" with R the root
 * (resolved with `pwd -P` once, at open, like the local type follows
 * symlinks in its root once).
 *
 * Symlinks in parents: paths are checked lexically first (lib/repl_path.c:
 * no "..", not absolute), then the script walks every parent component from
 * the root with `[ -L ]` (exit 40, -ELOOP) and `[ -d ]` (exit 20, -ENOTDIR)
 * before touching anything; the last component is only used by commands
 * that do not follow it (rm, mv -T, ln -P, chown -h, touch -h, chmod only
 * when not a symlink). The walk was chosen over `realpath -e
 * --relative-base` because it needs the parents to exist (our operations
 * create missing ones) and it names the offending component; both leave
 * the same race with a concurrent writer at the destination, which the
 * destination is assumed not to have (it is the replica). rsync runs after
 * the same walk of the parents.
 *
 * rmdir with opts.protect lists the tree (find -printf '%y %P\0'), and
 * removes the topmost unprotected entries with quoted `rm -rf` lines (64 KiB
 * of script per command), then -ENOTEMPTY.
 *
 * list_stat: find DIR/ -mindepth 1 -maxdepth 1 -printf
 * '%f\0%y %m %U %G %s %n %i %A@ %T@\0' (parsed by lib/repl_ssh_reply.c;
 * devices then get an lstat each for their numbers).
 *
 * Script exit statuses: 0 ok, 2 -ENOENT, 3 -EEXIST (mkdir: a directory is
 * there: rsync updates it), 20 -ENOTDIR, 39 -ENOTEMPTY, 40 -ELOOP,
 * anything else -EIO with the remote's first stderr line. rsync's 255:
 * -EHOSTUNREACH with its stderr line.
 *
 * Scripts: at most 96 KiB (-E2BIG). Missing parents of a rename/link target
 * are made with their source's attributes; directory times are set again
 * from the source after an operation changes a directory's entries (as the
 * local type does).
 *
 * Verify (loafre__verify_ssh): rsync -a -H -A -X -n --delete
 * --modify-window=-1 (mtimes to the nanosecond) --numeric-ids
 * [maps] [-c --checksum-choice=xxh128] --stats --out-format='%i\t%n\t%L'
 * (rsync escapes unprintable bytes as \#ooo, so TAB separates): lines
 * "*deleting" = extra, all '+' = missing (or a type change when the remote
 * has the name), "h... => OTHER" = a split hard link, other flags = the
 * entry is compared exactly (local lstat against remote stat -c, readlink,
 * getfattr -e hex). Reported depth first in byte order, like the local
 * verify, not descended below missing/extra/retyped directories.
 *
 * Remote requirements: POSIX sh, GNU coreutils (stat -c, touch -d @S.N,
 * mv -T, mktemp -d), findutils (find -printf), rsync; getfattr (attr) for
 * the xattrs in verify.
 */
#include "repl_dest.h"
#include "repl_type.h"
#include "repl_ssh_reply.h"
#include "rule.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define ERR_MAX 4096           /* stderr kept per command */
#define OUT_MAX (64u << 20)    /* stdout kept per command (list, lstat) */
#define SCRIPT_MAX (96u << 10) /* one script (before its quoting) */
#define ARGV_MAX 48
#define CHAN_MAX 4             /* channels per destination */
#define REPLY_LINE_MAX 80      /* a channel's status line */
#define BATCH_OWNERS 64        /* threads with a batch on one destination */
#define QUEUE_FILES 4096       /* a thread's queue: flushed at this many files */
#define QUEUE_BYTES (256ull << 20) /* ... or bytes */
#define RSYNC_ERR_MAX (256u << 10) /* stderr kept of a batch's rsync */
#define SMALL_COPY_MAX (32 << 10) /* a synchronous copy up to this size: through the channel */

/* One line into why (LOAFRE__DEST_WHY_MAX bytes; truncated). */
static void setwhy(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void setwhy(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, LOAFRE__DEST_WHY_MAX, fmt, ap);
	va_end(ap);
}

/* ---- growable buffers --------------------------------------------------------- */

struct sbuf {
	char *p;     /* data (NUL-terminated when len < cap) */
	size_t len;  /* bytes used */
	size_t cap;  /* bytes allocated */
	size_t max;  /* limit: further bytes are dropped (trunc set) */
	bool trunc;  /* something was dropped */
	bool nomem;  /* an allocation failed */
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n > b->max) {
		b->trunc = true;
		n = b->max > b->len ? b->max - b->len : 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 256;
		char *np;

		while (c < b->len + n + 1)
			c *= 2;
		np = realloc(b->p, c);
		if (!np) {
			b->nomem = true;
			return;
		}
		b->p = np;
		b->cap = c;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
	char t[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_add(b, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}

/* Appends s single-quoted for sh ('\'' for each quote). */
static void sb_q(struct sbuf *b, const char *s)
{
	sb_add(b, "'", 1);
	for (const char *q; (q = strchr(s, '\'')); s = q + 1) {
		sb_add(b, s, (size_t)(q - s));
		sb_add(b, "'\\''", 4);
	}
	sb_str(b, s);
	sb_add(b, "'", 1);
}

/* ---- running programs ----------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs argv with `in` on stdin; stdout into out (may be NULL: discarded),
 * stderr into err. *status: the exit code (128+N for signal N). 0, or
 * -ETIMEDOUT (process group killed), -ENOMEM, -errno of pipe/fork. */
static int run(char *const argv[], const char *in, size_t in_len, struct sbuf *out,
	       struct sbuf *err, unsigned timeout_ms, int *status)
{
	int ip[2] = { -1, -1 }, op[2] = { -1, -1 }, ep[2] = { -1, -1 };
	sigset_t pipeset, oldset;
	bool timed_out = false;
	size_t in_off = 0;
	int64_t deadline;
	pid_t pid = -1;
	int r = 0, ws;

	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	if (pipe2(ip, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		r = -errno;
		goto out_close;
	}
	pthread_sigmask(SIG_BLOCK, &pipeset, &oldset);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out_mask;
	}
	if (pid == 0) {
		sigset_t none;

		setpgid(0, 0);
		if (dup2(ip[0], 0) < 0 || dup2(op[1], 1) < 0 || dup2(ep[1], 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no race with the kill below */
	close(ip[0]);
	close(op[1]);
	close(ep[1]);
	ip[0] = op[1] = ep[1] = -1;
	fcntl(ip[1], F_SETFL, O_NONBLOCK);
	if (in_len == 0) {
		close(ip[1]);
		ip[1] = -1;
	}
	deadline = now_ms() + timeout_ms;
	while (op[0] >= 0 || ep[0] >= 0) {
		struct pollfd pf[3];
		int n = 0, left = (int)(deadline - now_ms());
		char buf[16384];

		if (left <= 0) {
			timed_out = true;
			break;
		}
		pf[n++] = (struct pollfd){ .fd = op[0], .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = ep[0], .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = ip[1], .events = POLLOUT };
		if (poll(pf, (nfds_t)n, left) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? &op[0] : &ep[0];
			struct sbuf *b = i == 0 ? out : err;
			ssize_t k;

			if (*fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = read(*fd, buf, sizeof(buf));
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (k <= 0) {
				close(*fd);
				*fd = -1;
			} else if (b) {
				sb_add(b, buf, (size_t)k);
			}
		}
		if (ip[1] >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t k = write(ip[1], in + in_off, in_len - in_off);

			if (k > 0)
				in_off += (size_t)k;
			if ((k < 0 && errno != EAGAIN && errno != EINTR) || in_off == in_len) {
				close(ip[1]);
				ip[1] = -1;
			}
		}
	}
	if (timed_out || r < 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && timed_out)
		r = -ETIMEDOUT;
	if (r == 0 && ((out && out->nomem) || err->nomem))
		r = -ENOMEM;
	if (r == 0)
		*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
out_mask: {
	sigset_t pend;
	struct timespec zero = { 0, 0 };

	sigpending(&pend);
	if (sigismember(&pend, SIGPIPE))
		sigtimedwait(&pipeset, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &oldset, NULL);
}
out_close:
	for (int i = 0; i < 2; i++) {
		if (ip[i] >= 0)
			close(ip[i]);
		if (op[i] >= 0)
			close(op[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	return r;
}

/* ---- the destination --------------------------------------------------------- */

/* One remote command channel (see "Channel protocol" at the head). */
struct chan {
	pid_t pid;          /* the ssh process (own process group); 0: not running */
	int in;             /* our end of its stdin (a socket: MSG_NOSIGNAL) */
	int out;            /* its stdout (pipe, O_NONBLOCK) */
	int err;            /* its stderr (pipe, O_NONBLOCK), drained while waiting */
	struct sbuf errs;   /* what it wrote on stderr (first ERR_MAX bytes) */
	uint64_t seq;       /* commands sent on it */
	bool busy;          /* taken by a thread (ssh_dest.pool_mu) */
};

/* A copy queued in a batch (see "Batches" at the head). */
struct qent {
	char *rel;          /* the path (owned) */
	int src_root;       /* the caller's source root */
	int owner;          /* index in ssh_dest.own */
	bool ptimes;        /* set the parent's times after the transfer */
	uint64_t size;      /* source size when queued (statistics) */
	int err;            /* the transfer's outcome */
	char *why;          /* its line when err < 0 (owned), else NULL */
};

/* A thread's batch. */
struct bowner {
	pthread_t tid;      /* the thread */
	bool active;        /* in a batch */
	void (*failed)(void *arg, const char *rel, int err, const char *why); /* or NULL */
	void *arg;          /* its argument */
	unsigned nq;        /* its entries queued */
	uint64_t qbytes;    /* their bytes */
	int err;            /* first error not yet returned by a flush of its own, or 0 */
	char why[LOAFRE__DEST_WHY_MAX]; /* its line */
};

struct ssh_dest {
	struct loafre__ssh_spec spec;  /* user, host, path as given */
	char root[PATH_MAX];           /* remote root, resolved at open */
	char target[PATH_MAX + 340];   /* "[user@]host" */
	char ctl[PATH_MAX + 32];       /* ControlPath=DIR/ssh-%C */
	char short_dir[32];            /* DIR made for a too long control_dir
					* (removed at close), or "" */
	char port[16];                 /* port as text, "" = default */
	char identity[PATH_MAX];       /* identity file, "" = default */
	char known[PATH_MAX + 24];     /* UserKnownHostsFile=F, "" = default */
	char conn_to[40];              /* ConnectTimeout=N */
	char *ssh_e;                   /* rsync -e: the ssh command line */
	char *usermap;                 /* --usermap=..., or NULL */
	char *groupmap;                /* --groupmap=..., or NULL */
	unsigned timeout_ms;           /* per command */
	pthread_mutex_t pool_mu;       /* protects ch[].busy, ch[].pid (start/stop) */
	pthread_cond_t pool_cv;        /* a channel was released */
	struct chan ch[CHAN_MAX];      /* the channels, started on demand */
	bool no_grow;                  /* a channel could not start: use the running ones */
	pthread_mutex_t batch_mu;      /* protects q, infl, own */
	pthread_mutex_t flush_mu;      /* serialises transfers of the queue */
	struct qent *q;                /* queued copies, in order */
	size_t nq, capq;               /* used, room */
	struct qent *infl;             /* the copies being transferred */
	size_t ninfl;                  /* their count */
	_Atomic size_t pending;        /* nq + ninfl (conflict checks skip the lock at 0) */
	struct bowner own[BATCH_OWNERS]; /* threads with a batch */
};

static struct ssh_dest *SD(struct loafre__dest *d)
{
	return d->priv;
}

/* ssh argv prefix (up to the options); returns the count. */
static int ssh_opts(const struct ssh_dest *s, const char **a)
{
	int n = 0;

	a[n++] = "ssh";
	a[n++] = "-o";
	a[n++] = "ControlMaster=auto";
	a[n++] = "-o";
	a[n++] = s->ctl;
	a[n++] = "-o";
	a[n++] = "ControlPersist=60";
	a[n++] = "-o";
	a[n++] = "BatchMode=yes";
	a[n++] = "-o";
	a[n++] = s->conn_to;
	a[n++] = "-o";
	a[n++] = "LogLevel=ERROR";
	a[n++] = "-T";
	a[n++] = "-x";
	if (s->port[0]) {
		a[n++] = "-p";
		a[n++] = s->port;
	}
	if (s->identity[0]) {
		a[n++] = "-i";
		a[n++] = s->identity;
		a[n++] = "-o";
		a[n++] = "IdentitiesOnly=yes";
	}
	if (s->known[0]) {
		a[n++] = "-o";
		a[n++] = s->known;
		a[n++] = "-o";
		a[n++] = "StrictHostKeyChecking=yes";
	}
	return n;
}

/* First line of err (or `dflt`) into line. */
static void first_line(const struct sbuf *err, const char *dflt, char *line, size_t size)
{
	const char *p = err->len ? err->p : dflt;
	size_t n = strcspn(p, "\n");

	if (n == 0) {
		p = dflt;
		n = strlen(p);
	}
	snprintf(line, size, "%.*s", (int)n, p);
}

static int status_errno(int st)
{
	switch (st) {
	case 2:
		return -ENOENT;
	case 3:
		return -EEXIST; /* only mkdir's script: an existing directory */
	case 20:
		return -ENOTDIR;
	case 39:
		return -ENOTEMPTY;
	case 40:
		return -ELOOP;
	default:
		return -EIO;
	}
}

/* Stops channel c at once: SIGKILL to its process group, fds closed,
 * reaped. The caller owns c (busy). */
static void chan_kill(struct chan *c)
{
	if (c->pid > 0) {
		kill(-c->pid, SIGKILL);
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	if (c->err >= 0)
		close(c->err);
	c->pid = 0;
	c->in = c->out = c->err = -1;
}

/* Reads what is there of c's stderr into c->errs (non-blocking). */
static void chan_drain_err(struct chan *c)
{
	char buf[4096];
	ssize_t k;

	while (c->err >= 0 && (k = read(c->err, buf, sizeof(buf))) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				close(c->err);
				c->err = -1;
			}
			return;
		}
		sb_add(&c->errs, buf, (size_t)k);
	}
	if (c->err >= 0) { /* EOF */
		close(c->err);
		c->err = -1;
	}
}

/* Sends n bytes of p on c->in before deadline: 0, -ETIMEDOUT, -EPIPE. */
static int chan_send(struct chan *c, const char *p, size_t n, int64_t deadline)
{
	while (n) {
		struct pollfd pf = { .fd = c->in, .events = POLLOUT };
		int left = (int)(deadline - now_ms());
		ssize_t k;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pf, 1, left) < 0 && errno != EINTR)
			return -errno;
		k = send(c->in, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -EPIPE;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads up to n bytes of c's stdout into buf before deadline (stderr
 * drained meanwhile): the count (> 0), -EPIPE (EOF: the channel died),
 * -ETIMEDOUT, -errno. */
static ssize_t chan_read(struct chan *c, char *buf, size_t n, int64_t deadline)
{
	for (;;) {
		struct pollfd pf[2] = { { .fd = c->out, .events = POLLIN },
					{ .fd = c->err, .events = POLLIN } };
		int left = (int)(deadline - now_ms());
		ssize_t k;

		k = read(c->out, buf, n);
		if (k > 0)
			return k;
		if (k == 0)
			return -EPIPE;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(pf, c->err >= 0 ? 2 : 1, left) < 0 && errno != EINTR)
			return -errno;
		if (c->err >= 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			chan_drain_err(c);
	}
}

/* The reason a channel failed to start or died, into why. */
static void chan_why(struct ssh_dest *s, struct chan *c, int r, int st, const char *what,
		     char *why)
{
	char line[LOAFRE__DEST_WHY_MAX];

	if (!why)
		return;
	chan_drain_err(c);
	first_line(&c->errs, r == -ETIMEDOUT ? "timed out" : "connection lost", line,
		   sizeof(line));
	if (st == 255)
		setwhy(why, "%s: cannot reach '%s': %s", what, s->target, line);
	else
		setwhy(why, "%s: remote shell: %s", what, line);
}

/* Starts channel c: the ssh process and the remote shell's prologue, then
 * waits for "@ready". 0, or -EHOSTUNREACH / -EIO / -ETIMEDOUT with why. */
static int chan_start(struct ssh_dest *s, struct chan *c, const char *what, char *why)
{
	static const char prologue[] =
		"T=$(mktemp -d) || exit 1\n"
		"trap 'rm -rf -- \"$T\"' EXIT\n"
		"printf '@ready\\n'\n";
	const char *a[ARGV_MAX];
	int sv[2] = { -1, -1 }, op[2] = { -1, -1 }, ep[2] = { -1, -1 };
	char line[REPLY_LINE_MAX];
	size_t got = 0;
	int64_t deadline = now_ms() + s->timeout_ms;
	int n, r = 0, ws, st = 0;

	free(c->errs.p);
	c->errs = (struct sbuf){ .max = ERR_MAX };
	c->seq = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail_fds;
	}
	n = ssh_opts(s, a);
	a[n++] = "--";
	a[n++] = s->target;
	a[n++] = "exec sh -s loafre-channel";
	a[n] = NULL;
	c->pid = fork();
	if (c->pid < 0) {
		r = -errno;
		c->pid = 0;
		goto fail_fds;
	}
	if (c->pid == 0) {
		sigset_t none;

		setpgid(0, 0);
		if (dup2(sv[1], 0) < 0 || dup2(op[1], 1) < 0 || dup2(ep[1], 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(a[0], (char *const *)a);
		_exit(127);
	}
	setpgid(c->pid, c->pid);
	close(sv[1]);
	close(op[1]);
	close(ep[1]);
	c->in = sv[0];
	c->out = op[0];
	c->err = ep[0];
	fcntl(c->out, F_SETFL, O_NONBLOCK);
	fcntl(c->err, F_SETFL, O_NONBLOCK);
	r = chan_send(c, prologue, sizeof(prologue) - 1, deadline);
	while (r == 0) {
		ssize_t k = chan_read(c, line + got, 1, deadline);

		if (k < 0) {
			r = (int)k;
			break;
		}
		got++;
		if (line[got - 1] == '\n')
			break;
		if (got == sizeof(line))
			r = -EIO;
	}
	if (r == 0 && (got != 7 || memcmp(line, "@ready\n", 7) != 0))
		r = -EIO;
	if (r == 0)
		return 0;
	/* why: ssh's status (255: unreachable) and first stderr line */
	if (r == -EPIPE) {
		int64_t until = now_ms() + 5000;
		pid_t w;

		while ((w = waitpid(c->pid, &ws, WNOHANG)) == 0 && now_ms() < until)
			poll(NULL, 0, 10);
		if (w == c->pid)
			st = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128;
		if (w != 0)
			c->pid = 0; /* reaped */
	}
	chan_why(s, c, r, st, what, why);
	chan_kill(c);
	return st == 255 ? -EHOSTUNREACH : r == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
fail_fds:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (op[i] >= 0)
			close(op[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	c->in = c->out = c->err = -1;
	if (why)
		setwhy(why, "%s: cannot start ssh: %s", what, strerror(-r));
	return r;
}

/* Is the idle channel c still usable? Nothing may be readable on its
 * stdout between commands: EOF or stray bytes mean it died. */
static bool chan_alive(struct chan *c)
{
	struct pollfd pf = { .fd = c->out, .events = POLLIN };

	if (c->pid <= 0)
		return false;
	if (poll(&pf, 1, 0) != 0)
		return false;
	if (waitpid(c->pid, NULL, WNOHANG) == 0)
		return true;
	c->pid = 0; /* reaped (or gone): chan_kill must not signal its id */
	return false;
}

/* Takes a channel (started, idle) for the calling thread. */
static int chan_get(struct ssh_dest *s, struct chan **ret, const char *what, char *why)
{
	int r;

	pthread_mutex_lock(&s->pool_mu);
	for (;;) {
		struct chan *idle = NULL, *free_slot = NULL;
		unsigned running = 0;

		for (unsigned i = 0; i < CHAN_MAX; i++) {
			struct chan *c = &s->ch[i];

			if (c->pid > 0)
				running++;
			if (c->busy)
				continue;
			if (c->pid > 0 && !idle)
				idle = c;
			else if (c->pid <= 0 && !free_slot)
				free_slot = c;
		}
		if (idle) {
			idle->busy = true;
			pthread_mutex_unlock(&s->pool_mu);
			if (!chan_alive(idle)) {
				chan_kill(idle);
				r = chan_start(s, idle, what, why);
				if (r < 0) {
					pthread_mutex_lock(&s->pool_mu);
					idle->busy = false;
					pthread_cond_broadcast(&s->pool_cv);
					pthread_mutex_unlock(&s->pool_mu);
					return r;
				}
			}
			*ret = idle;
			return 0;
		}
		if (free_slot && (running == 0 || !s->no_grow)) {
			free_slot->busy = true;
			pthread_mutex_unlock(&s->pool_mu);
			r = chan_start(s, free_slot, what, why);
			pthread_mutex_lock(&s->pool_mu);
			if (r == 0) {
				pthread_mutex_unlock(&s->pool_mu);
				*ret = free_slot;
				return 0;
			}
			free_slot->busy = false;
			pthread_cond_broadcast(&s->pool_cv);
			if (running == 0) {
				pthread_mutex_unlock(&s->pool_mu);
				return r;
			}
			s->no_grow = true; /* e.g. the server's MaxSessions: share */
			continue;
		}
		pthread_cond_wait(&s->pool_cv, &s->pool_mu);
	}
}

static void chan_put(struct ssh_dest *s, struct chan *c)
{
	pthread_mutex_lock(&s->pool_mu);
	c->busy = false;
	pthread_cond_signal(&s->pool_cv);
	pthread_mutex_unlock(&s->pool_mu);
}

/* One command on channel c: sends the framed script, reads the status line
 * and the two payloads. *got_reply: some of the reply arrived. 0 (then
 * *status), or -EPIPE (the channel died), -ETIMEDOUT, -EIO (protocol). */
static int chan_io(struct ssh_dest *s, struct chan *c, const struct sbuf *script,
		   struct sbuf *out, struct sbuf *err, int *status, bool *got_reply)
{
	struct sbuf cmd = { .max = SCRIPT_MAX + 512 };
	char line[REPLY_LINE_MAX], buf[16384];
	int64_t deadline = now_ms() + s->timeout_ms;
	uint64_t seq = ++c->seq;
	size_t got = 0, olen, elen;
	int r;

	*got_reply = false;
	sb_str(&cmd, "(\n");
	sb_add(&cmd, script->p ? script->p : "", script->len);
	sb_fmt(&cmd, "\n) </dev/null >\"$T/o\" 2>\"$T/e\"; s=$?; set -- $(stat -c %%s -- \"$T/o\" "
		     "\"$T/e\"); printf '@%" PRIu64 " %%s %%s %%s\\n' \"$s\" \"$1\" \"$2\"; "
		     "cat -- \"$T/o\" \"$T/e\"\n", seq);
	if (cmd.nomem || cmd.trunc) {
		free(cmd.p);
		return cmd.nomem ? -ENOMEM : -E2BIG;
	}
	r = chan_send(c, cmd.p, cmd.len, deadline);
	free(cmd.p);
	while (r == 0) {
		ssize_t k = chan_read(c, line + got, 1, deadline);

		if (k < 0) {
			r = (int)k;
			break;
		}
		*got_reply = true;
		if (line[got++] == '\n')
			break;
		if (got == sizeof(line))
			r = -EIO;
	}
	if (r < 0)
		return r;
	line[got - 1] = '\0';
	r = loafre__ssh_reply_parse(line, seq, status, &olen, &elen);
	for (size_t left = olen + elen; r == 0 && left;) {
		ssize_t k = chan_read(c, buf, left < sizeof(buf) ? left : sizeof(buf), deadline);
		size_t in_out;

		if (k < 0) {
			r = (int)k;
			break;
		}
		/* bytes [0, olen) of the payload are stdout, the rest stderr */
		in_out = left > elen ? left - elen : 0;
		if (in_out > (size_t)k)
			in_out = (size_t)k;
		if (in_out && out)
			sb_add(out, buf, in_out);
		if ((size_t)k > in_out)
			sb_add(err, buf + in_out, (size_t)k - in_out);
		left -= (size_t)k;
	}
	return r;
}

/* Runs script on the remote through a channel (see the head): stdout into
 * out (may be NULL). A channel that died before any of the reply came is
 * restarted and the command sent once more. */
static int run_script(struct ssh_dest *s, const struct sbuf *script, struct sbuf *out,
		      const char *what, char *why)
{
	struct sbuf err = { .max = ERR_MAX };
	char line[LOAFRE__DEST_WHY_MAX];
	struct chan *c = NULL;
	bool got_reply = false;
	int st = 0, r;

	if (script->nomem)
		return -ENOMEM;
	if (script->trunc) {
		if (why)
			setwhy(why, "%s: script too long", what);
		return -E2BIG;
	}
	r = chan_get(s, &c, what, why);
	if (r < 0)
		return r;
	for (int attempt = 0;; attempt++) {
		size_t out_len = out ? out->len : 0;

		err.len = 0;
		c->errs.len = 0; /* ssh's stderr: this command's only */
		c->errs.trunc = false;
		r = chan_io(s, c, script, out, &err, &st, &got_reply);
		if (r == 0 || r == -ENOMEM || r == -E2BIG)
			break;
		chan_drain_err(c);
		if (r != -EPIPE || got_reply || attempt > 0) {
			chan_why(s, c, r, 0, what, why);
			chan_kill(c);
			if (r == -EPIPE)
				r = -EHOSTUNREACH;
			why = NULL; /* set */
			break;
		}
		/* died before answering (e.g. killed while idle): once more */
		chan_kill(c);
		if (out)
			out->len = out_len;
		r = chan_start(s, c, what, why);
		if (r < 0) {
			why = NULL;
			break;
		}
	}
	chan_put(s, c);
	if (r == 0 && (err.nomem || (out && out->nomem)))
		r = -ENOMEM;
	if (r == 0 && st != 0) {
		r = status_errno(st);
		first_line(&err, "remote command failed", line, sizeof(line));
		if (why)
			setwhy(why, "%s: %s", what, line);
	} else if (r < 0 && why) {
		setwhy(why, "%s: %s", what, r == -ETIMEDOUT ? "timed out" : strerror(-r));
	}
	free(err.p);
	return r;
}

/* The script's preamble: R, die, nl (parents walk), sa (attributes). */
static void preamble(struct ssh_dest *s, struct sbuf *b)
{
	sb_str(b, "set -u\nR=");
	sb_q(b, s->root);
	sb_str(b,
	       "\ndie() { printf '%s\\n' \"$1\" >&2; exit \"$2\"; }\n"
	       "nl() { p=$R; r=$1\n"
	       " while [ -n \"$r\" ]; do c=${r%%/*}; if [ \"$c\" = \"$r\" ]; then r=; else r=${r#*/}; fi\n"
	       "  p=$p/$c\n"
	       "  [ -L \"$p\" ] && die \"'$1': '$c' is a symlink at the destination\" 40\n"
	       "  [ -e \"$p\" ] || return 0\n"
	       "  [ -d \"$p\" ] || die \"'$1': '$c' is not a directory\" 20\n"
	       " done; }\n"
	       "sa() { f=$R${1:+/$1}\n"
	       " if [ \"$2\" != - ]; then chown -h -- \"$2:$3\" \"$f\" || exit 1; fi\n"
	       " if [ \"$4\" != - ] && [ ! -L \"$f\" ]; then chmod -- \"$4\" \"$f\" || exit 1; fi\n"
	       " if [ \"$5\" != - ]; then touch -h -a -d \"@$5\" -- \"$f\" &&"
	       " touch -h -m -d \"@$6\" -- \"$f\" || exit 1; fi; }\n"
	       "ex() { [ -e \"$1\" ] || [ -L \"$1\" ]; }\n"
	       "isdir() { [ -d \"$1\" ] && [ ! -L \"$1\" ]; }\n");
}

/* dirname of rel into buf ("" for a top-level name). */
static void parent_of(const char *rel, char *buf)
{
	const char *sl = strrchr(rel, '/');
	size_t n = sl ? (size_t)(sl - rel) : 0;

	memcpy(buf, rel, n);
	buf[n] = '\0';
}

static void sb_nl(struct sbuf *b, const char *rel)
{
	char par[PATH_MAX];

	parent_of(rel, par);
	sb_str(b, "nl ");
	sb_q(b, par);
	sb_str(b, "\n");
}

/* Source stat of rel ("" = root). */
static int src_stat(int src_root, const char *rel, struct stat *st)
{
	const char *name;
	int p, r;

	if (!rel[0])
		return fstat(src_root, st) < 0 ? -errno : 0;
	p = loafre__repl_open_parent(src_root, rel, &name);
	if (p < 0)
		return p;
	r = fstatat(p, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	close(p);
	return r;
}

/* Appends `sa REL ...` for the attributes in mask from st. */
static void sb_sa(struct loafre__dest *d, struct sbuf *b, const char *rel, const struct stat *st,
		  unsigned mask)
{
	sb_str(b, "sa ");
	sb_q(b, rel);
	if (mask & LOAFRE__ATTR_OWNER)
		sb_fmt(b, " %" PRIu32 " %" PRIu32, loafre__idmap_map(&d->uid_map, st->st_uid),
		       loafre__idmap_map(&d->gid_map, st->st_gid));
	else
		sb_str(b, " - -");
	if (mask & LOAFRE__ATTR_MODE)
		sb_fmt(b, " 0%04o", (unsigned)(st->st_mode & 07777));
	else
		sb_str(b, " -");
	if (mask & LOAFRE__ATTR_TIMES)
		sb_fmt(b, " %lld.%09ld %lld.%09ld\n", (long long)st->st_atim.tv_sec,
		       st->st_atim.tv_nsec, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	else
		sb_str(b, " - -\n");
}

/* After changing the entries of rel's parent: its times from the source. */
static void sb_parent_times(struct loafre__dest *d, int src_root, struct sbuf *b, const char *rel)
{
	char par[PATH_MAX];
	struct stat st;

	if (d->o.no_parent_times || loafre__repl_tl_sync)
		return;
	parent_of(rel, par);
	if (src_stat(src_root, par, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	sb_sa(d, b, par, &st, LOAFRE__ATTR_TIMES);
}

static int script_op(struct loafre__dest *d, struct sbuf *b, const char *what, char *why)
{
	int r = run_script(SD(d), b, NULL, what, why);

	free(b->p);
	return r;
}

/* The rsync command line that sends the NUL-separated relative paths on
 * its stdin from srcpath (the source root, ending in '/') to dst
 * ("[user@]host:ROOT/") over the master: a[] gets at most 24 entries and a
 * NULL. data: transfer even when size and mtime agree (--ignore-times:
 * rsync's quick check sees mtimes to the second); inplace: rewrite the
 * destination's inode (a file with several names). */
static void rsync_argv(struct loafre__dest *d, const char **a, bool data, bool inplace,
		       const char *srcpath, const char *dst)
{
	struct ssh_dest *s = SD(d);
	size_t n = 0;

	a[n++] = "rsync";
	a[n++] = "-a";
	a[n++] = "-H";
	a[n++] = "-A";
	a[n++] = "-X";
	a[n++] = "--sparse";
	if (data)
		a[n++] = "--ignore-times";
	if (inplace)
		a[n++] = "--inplace";
	a[n++] = "--numeric-ids";
	/* times compared to the nanosecond (the default is whole seconds: a
	 * directory whose mtime differs within the second kept it) */
	a[n++] = "--modify-window=-1";
	a[n++] = "--force";
	if (d->o.fsync)
		a[n++] = "--fsync";
	if (s->usermap)
		a[n++] = s->usermap;
	if (s->groupmap)
		a[n++] = s->groupmap;
	a[n++] = "--files-from=-";
	a[n++] = "--from0";
	a[n++] = "-e";
	a[n++] = s->ssh_e;
	a[n++] = srcpath;
	a[n++] = dst;
	a[n] = NULL;
}

/* rsync of entry `name` of source directory src_dir to destination
 * directory dst_dir (both relative, "" the roots; rel = dst_dir/name, its
 * parents checked for symlinks first and created as at the source when
 * dst_dir is ""); data: a copy (transferred even when size and mtime agree:
 * --ignore-times). */
static int rsync_in(struct loafre__dest *d, int src_root, const char *src_dir, const char *dst_dir,
		    const char *name, const char *rel, bool data, bool inplace, const char *what,
		    char *why)
{
	struct ssh_dest *s = SD(d);
	struct sbuf b = { .max = SCRIPT_MAX }, err = { .max = ERR_MAX };
	char srcpath[2 * PATH_MAX + 4], dst[sizeof(s->target) + 2 * PATH_MAX + 4], proc[64];
	char line[LOAFRE__DEST_WHY_MAX];
	const char *a[ARGV_MAX];
	int st = 0, r;
	ssize_t k;

	/* parents: no symlink on the way */
	preamble(s, &b);
	sb_nl(&b, rel);
	r = script_op(d, &b, what, why);
	if (r < 0)
		return r;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", src_root);
	k = readlink(proc, srcpath, PATH_MAX);
	if (k < 0 || k >= PATH_MAX) {
		r = k < 0 ? -errno : -ENAMETOOLONG;
		if (why)
			setwhy(why, "%s: cannot find the source root: %s",
				 what, strerror(-r));
		return r;
	}
	srcpath[k] = '\0';
	if (k > 1)
		strcat(srcpath, "/");
	if (src_dir[0]) {
		strcat(srcpath, src_dir);
		strcat(srcpath, "/");
	}
	snprintf(dst, sizeof(dst), "%s:%s/%s%s", s->target, s->root, dst_dir, dst_dir[0] ? "/" : "");
	rsync_argv(d, a, data, inplace, srcpath, dst);
	r = run((char *const *)a, name, strlen(name) + 1, NULL, &err, s->timeout_ms, &st);
	if (r == 0 && st != 0) {
		char sp[2 * PATH_MAX + 2];
		struct stat sst;

		r = st == 255 ? -EHOSTUNREACH : -EIO;
		snprintf(sp, sizeof(sp), "%s%s%s", src_dir, src_dir[0] ? "/" : "", name);
		if (r == -EIO && src_stat(src_root, sp, &sst) == -ENOENT)
			r = -ENOENT; /* gone meanwhile */
		first_line(&err, "rsync failed", line, sizeof(line));
		if (why)
			setwhy(why, "%s: %s", what, line);
	} else if (r < 0 && why) {
		setwhy(why, "%s: %s", what,
			 r == -ETIMEDOUT ? "timed out" : strerror(-r));
	}
	free(err.p);
	return r;
}

/* rsync of one entry (its parents created as at the source); data: a copy
 * (transferred even when size and mtime agree: --ignore-times). */
static int rsync_entry(struct loafre__dest *d, int src_root, const char *rel, bool data,
		       bool inplace, const char *what, char *why)
{
	return rsync_in(d, src_root, "", "", rel, rel, data, inplace, what, why);
}

static int typed_rsync(struct loafre__dest *d, int src_root, const char *rel, const char *verb,
		       bool (*want)(mode_t), bool update, char *why);

static bool is_reg(mode_t m)
{
	return S_ISREG(m);
}

static bool is_dir(mode_t m)
{
	return S_ISDIR(m);
}

static bool is_lnk(mode_t m)
{
	return S_ISLNK(m);
}

static bool is_special(mode_t m)
{
	return S_ISCHR(m) || S_ISBLK(m) || S_ISFIFO(m) || S_ISSOCK(m);
}

static int ssh_copy(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return typed_rsync(d, src_root, rel, "copy", is_reg, false, why);
}

static int ssh_update(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return typed_rsync(d, src_root, rel, "copy", is_reg, true, why);
}

static int ssh_mkdir(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return typed_rsync(d, src_root, rel, "make directory", is_dir, false, why);
}

static int ssh_symlink(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return typed_rsync(d, src_root, rel, "make symlink", is_lnk, false, why);
}

static int ssh_mknod(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return typed_rsync(d, src_root, rel, "make special file", is_special, false, why);
}

/* Missing parents of rel: made with their source's attributes. */
static void sb_parents(struct loafre__dest *d, int src_root, struct sbuf *b, const char *rel)
{
	char par[PATH_MAX];
	struct stat st;

	parent_of(rel, par);
	for (char *p = par; *p; p++) {
		char *sl = strchr(p, '/');

		if (sl)
			*sl = '\0';
		if (src_stat(src_root, par, &st) == 0 && S_ISDIR(st.st_mode)) {
			sb_str(b, "f=\"$R\"/");
			sb_q(b, par);
			sb_str(b, "; if ! isdir \"$f\"; then rm -f -- \"$f\"; mkdir -- \"$f\" || exit 1; ");
			sb_sa(d, b, par, &st, LOAFRE__ATTR_ALL);
			sb_parent_times(d, src_root, b, par); /* its parent changed */
			sb_str(b, "fi\n");
		} else {
			sb_str(b, "mkdir -p -- \"$R\"/");
			sb_q(b, par);
			sb_str(b, " || exit 1\n");
		}
		if (!sl)
			break;
		*sl = '/';
		p = sl;
	}
}

/* The parents of rel made as the source has them: missing ones created, a
 * non-directory where the source has a directory replaced by it (-ENOTDIR
 * from an operation: a file replaced by a directory at the source, whose
 * records another worker thread has not applied yet). */
static int parents_as_source(struct loafre__dest *d, int src_root, const char *rel,
			     const char *what, char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };

	preamble(SD(d), &b);
	sb_parents(d, src_root, &b, rel);
	return script_op(d, &b, what, why);
}

/* The start of a script on two destination entries: $o, old_rel (it must
 * exist), and $n, new_rel (its parents created); it exits 0 when they are
 * already one file. */
/* The start of a link (rename false) or rename script on old_rel, new_rel:
 * $o, $n. Both names of one inode already (compared with stat, which does
 * not follow symlinks: a symlink can have several names too): a link has
 * nothing to do, a rename removes the old name (rename(2) would leave
 * both). */
static void sb_old_new(struct loafre__dest *d, int src_root, struct sbuf *b, const char *old_rel,
		       const char *new_rel, bool rename)
{
	preamble(SD(d), b);
	sb_nl(b, old_rel);
	sb_nl(b, new_rel);
	sb_str(b, "o=\"$R\"/");
	sb_q(b, old_rel);
	sb_str(b, "; n=\"$R\"/");
	sb_q(b, new_rel);
	sb_str(b, "\nex \"$o\" || die 'no such file at the destination' 2\n"
		   "if [ \"$(stat -c %d:%i -- \"$o\")\" = \"$(stat -c %d:%i -- \"$n\" 2>/dev/null)\" ]; then\n");
	if (rename && strcmp(old_rel, new_rel) != 0) {
		/* two names of one file: the old one goes, and its directory's
		 * times changed by that are the source's again */
		sb_str(b, "if ! isdir \"$o\"; then rm -f -- \"$o\" || exit 1; fi\n");
		sb_parent_times(d, src_root, b, old_rel);
	}
	sb_str(b, "exit 0; fi\n");
	sb_parents(d, src_root, b, new_rel);
}

/* Has the source entry rel any xattr (ACLs included)? (When unsure: yes.) */
static bool src_has_xattrs(int src_root, const char *rel)
{
	char proc[PATH_MAX + 64];
	const char *name;
	ssize_t n;
	int p = loafre__repl_open_parent(src_root, rel, &name);

	if (p < 0)
		return true;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", p, name);
	n = llistxattr(proc, NULL, 0);
	close(p);
	return n != 0;
}

/* A directory or symlink made through the channel, in one round trip: rel
 * replaced unless it is a directory already (then -EEXIST: rsync updates
 * it, xattrs included). Only for a source entry without xattrs. */
static int chan_make(struct loafre__dest *d, int src_root, const char *rel, const struct stat *st,
		     const char *what, char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };

	preamble(SD(d), &b);
	sb_nl(&b, rel);
	sb_parents(d, src_root, &b, rel);
	sb_str(&b, "f=\"$R\"/");
	sb_q(&b, rel);
	sb_str(&b, "\n");
	if (S_ISDIR(st->st_mode)) {
		sb_str(&b, "if isdir \"$f\"; then exit 3; fi\n"
			   "if ex \"$f\"; then rm -f -- \"$f\" || exit 1; fi\n"
			   "mkdir -- \"$f\" || exit 1\n");
		sb_sa(d, &b, rel, st, LOAFRE__ATTR_ALL);
	} else {
		char target[PATH_MAX + 1];
		const char *name;
		int p = loafre__repl_open_parent(src_root, rel, &name);
		ssize_t n = p < 0 ? -1 : readlinkat(p, name, target, PATH_MAX);

		if (p >= 0)
			close(p);
		if (n < 0) {
			free(b.p);
			if (why)
				setwhy(why, "%s: source: %s", what,
				       strerror(p < 0 ? -p : errno));
			return p < 0 ? p : -errno;
		}
		target[n] = '\0';
		sb_str(&b, "t=\"${f%/*}/.${f##*/}.loafre.$$\"; rm -f -- \"$t\"\nln -s -- ");
		sb_q(&b, target);
		sb_fmt(&b, " \"$t\" || exit 1\n"
			   "{ chown -h -- %" PRIu32 ":%" PRIu32 " \"$t\" && "
			   "touch -h -a -d @%lld.%09ld -- \"$t\" && "
			   "touch -h -m -d @%lld.%09ld -- \"$t\"; } || { rm -f -- \"$t\"; exit 1; }\n",
		       loafre__idmap_map(&d->uid_map, st->st_uid),
		       loafre__idmap_map(&d->gid_map, st->st_gid), (long long)st->st_atim.tv_sec,
		       st->st_atim.tv_nsec, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
		sb_str(&b, "if isdir \"$f\"; then rm -rf -- \"$f\"; fi\n"
			   "mv -fT -- \"$t\" \"$f\" || { rm -f -- \"$t\"; exit 1; }\n");
	}
	sb_parent_times(d, src_root, &b, rel);
	return script_op(d, &b, what, why);
}

/* Appends n bytes of p in base64 (RFC 4648, with padding). */
static void sb_b64(struct sbuf *b, const unsigned char *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		sb_add(b, q, 4);
	}
}

/* A small regular file (at most SMALL_COPY_MAX bytes, no xattrs) copied
 * through the channel in one round trip: the data read whole (fstat
 * before and after must agree, else 1: the caller uses rsync), sent in
 * base64 into a ".NAME.loafre.PID" temporary, owner, mode, times, then
 * mv -T into place. 0, 1 (use rsync), or -errno with why. */
static int chan_copy_small(struct loafre__dest *d, int src_root, const char *rel,
			   const struct stat *st0, const char *what, char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };
	unsigned char data[SMALL_COPY_MAX];
	struct stat a, z;
	const char *name;
	ssize_t n = 0, k;
	int p, fd;

	if (st0->st_size > SMALL_COPY_MAX || src_has_xattrs(src_root, rel))
		return 1;
	p = loafre__repl_open_parent(src_root, rel, &name);
	if (p < 0)
		return 1;
	fd = openat(p, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(p);
	if (fd < 0)
		return 1;
	if (fstat(fd, &a) < 0 || !S_ISREG(a.st_mode) || a.st_size > SMALL_COPY_MAX) {
		close(fd);
		return 1;
	}
	while ((size_t)n < sizeof(data) && (k = read(fd, data + n, sizeof(data) - (size_t)n)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return 1;
		}
		n += k;
	}
	if (fstat(fd, &z) < 0 || n != a.st_size || z.st_size != a.st_size ||
	    z.st_mtim.tv_sec != a.st_mtim.tv_sec || z.st_mtim.tv_nsec != a.st_mtim.tv_nsec ||
	    z.st_ctim.tv_sec != a.st_ctim.tv_sec || z.st_ctim.tv_nsec != a.st_ctim.tv_nsec) {
		close(fd);
		return 1; /* changing: rsync copies it as it reads it */
	}
	close(fd);
	preamble(SD(d), &b);
	sb_nl(&b, rel);
	sb_parents(d, src_root, &b, rel);
	sb_str(&b, "f=\"$R\"/");
	sb_q(&b, rel);
	sb_str(&b, "\nt=\"${f%/*}/.${f##*/}.loafre.$$\"; rm -f -- \"$t\"\nprintf '%s' '");
	sb_b64(&b, data, (size_t)n);
	sb_fmt(&b, "' | base64 -d >\"$t\" || { rm -f -- \"$t\"; exit 1; }\n"
		   "{ chown -h -- %" PRIu32 ":%" PRIu32 " \"$t\" && chmod -- 0%04o \"$t\" && "
		   "touch -h -a -d @%lld.%09ld -- \"$t\" && "
		   "touch -h -m -d @%lld.%09ld -- \"$t\"; } || { rm -f -- \"$t\"; exit 1; }\n",
	       loafre__idmap_map(&d->uid_map, a.st_uid), loafre__idmap_map(&d->gid_map, a.st_gid),
	       (unsigned)(a.st_mode & 07777), (long long)a.st_atim.tv_sec, a.st_atim.tv_nsec,
	       (long long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec);
	if (d->o.fsync)
		sb_str(&b, "sync -- \"$t\" || { rm -f -- \"$t\"; exit 1; }\n");
	sb_str(&b, "if isdir \"$f\"; then rm -rf -- \"$f\"; fi\n"
		   "mv -fT -- \"$t\" \"$f\" || { rm -f -- \"$t\"; exit 1; }\n");
	sb_parent_times(d, src_root, &b, rel);
	n = script_op(d, &b, what, why);
	if (n == 0)
		atomic_fetch_add(&d->bytes, (uint64_t)a.st_size);
	return (int)n;
}

/* ---- batches ---------------------------------------------------------------------- */

/* Do a and b conflict: the same path, or one a directory prefix of the
 * other ("" being the prefix of every path)? */
static bool conflicts(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la == lb)
		return memcmp(a, b, la) == 0;
	if (la > lb) {
		const char *t = a;

		a = b;
		b = t;
		la = lb;
	}
	return la == 0 || (memcmp(a, b, la) == 0 && b[la] == '/');
}

/* The calling thread's batch on s, or -1. Under batch_mu. */
static int my_owner(struct ssh_dest *s)
{
	pthread_t me = pthread_self();

	for (int i = 0; i < BATCH_OWNERS; i++)
		if (s->own[i].active && pthread_equal(s->own[i].tid, me))
			return i;
	return -1;
}

/* Does rel conflict with a queued copy (other than rel itself when
 * same_ok) or with one being transferred? Under batch_mu. */
static bool queued_conflict(struct ssh_dest *s, const char *rel, bool same_ok)
{
	for (size_t i = 0; i < s->nq; i++)
		if (conflicts(rel, s->q[i].rel) && !(same_ok && strcmp(rel, s->q[i].rel) == 0))
			return true;
	for (size_t i = 0; i < s->ninfl; i++)
		if (conflicts(rel, s->infl[i].rel))
			return true;
	return false;
}

/* rsync's stderr of a batch that exited 23: only sources that vanished
 * (link_stat ENOENT before the transfer, "file has vanished" during it)? */
static bool vanished_only(const struct sbuf *err)
{
	if (err->trunc || !err->p)
		return false;
	for (const char *l = err->p; *l;) {
		size_t n = strcspn(l, "\n");
		char line[1024];

		snprintf(line, sizeof(line), "%.*s", (int)(n < 1023 ? n : 1023), l);
		if (n && !strstr(line, "file has vanished: ") &&
		    !(strstr(line, "link_stat \"") &&
		      strstr(line, "failed: No such file or directory (2)")) &&
		    strncmp(line, "rsync error: some files/attrs were not transferred", 50) != 0 &&
		    strncmp(line, "rsync warning: some files vanished", 34) != 0)
			return false;
		l += n;
		if (*l == '\n')
			l++;
	}
	return true;
}

/* Sets entry e's outcome (err < 0: why copied). */
static void q_fail(struct qent *e, int err, const char *why)
{
	e->err = err;
	free(e->why);
	e->why = err < 0 ? strdup(why && why[0] ? why : strerror(-err)) : NULL;
}

/* The parents' times (from the source) of the entries of group root that
 * succeeded and asked for them; a failure fails those entries. */
static void q_parent_times(struct loafre__dest *d, struct qent *e, size_t n, int root)
{
	static const char what[] = "cannot set the times of the copies' directories";
	struct sbuf b = { .max = SCRIPT_MAX };
	char par[PATH_MAX], last[PATH_MAX] = "\001", why[LOAFRE__DEST_WHY_MAX] = "";
	bool any = false;
	int r = 0;

	preamble(SD(d), &b);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct stat st;

		if (e[i].src_root != root || e[i].err != 0 || !e[i].ptimes)
			continue;
		parent_of(e[i].rel, par);
		if (strcmp(par, last) == 0)
			continue;
		snprintf(last, sizeof(last), "%s", par);
		if (src_stat(root, par, &st) == 0 && S_ISDIR(st.st_mode)) {
			sb_sa(d, &b, par, &st, LOAFRE__ATTR_TIMES);
			any = true;
		}
		if (b.len >= (64u << 10)) { /* a round trip per 64 KiB */
			r = script_op(d, &b, what, why);
			b = (struct sbuf){ .max = SCRIPT_MAX };
			preamble(SD(d), &b);
			any = false;
		}
	}
	if (!any || r < 0)
		free(b.p);
	else
		r = script_op(d, &b, what, why);
	for (size_t i = 0; r < 0 && i < n; i++)
		if (e[i].src_root == root && e[i].err == 0 && e[i].ptimes)
			q_fail(&e[i], r, why);
}

/* Fallback: each entry of group root with its own rsync_entry (exact
 * errors per entry). */
static void q_each(struct loafre__dest *d, struct qent *e, size_t n, int root)
{
	for (size_t i = 0; i < n; i++) {
		char what[PATH_MAX + 32], why[LOAFRE__DEST_WHY_MAX] = "";
		struct stat st;
		int r;

		if (e[i].src_root != root || e[i].err != 1)
			continue;
		snprintf(what, sizeof(what), "cannot copy '%s'", e[i].rel);
		r = rsync_entry(d, root, e[i].rel, true, false, what, why);
		if (r == -ENOTDIR && parents_as_source(d, root, e[i].rel, what, why) == 0)
			r = rsync_entry(d, root, e[i].rel, true, false, what, why);
		if (r == -ENOENT && src_stat(root, e[i].rel, &st) == -ENOENT)
			r = 0; /* vanished at the source */
		q_fail(&e[i], r, why);
	}
}

/* Transfers the entries of e with source root `root` (err == 1: not yet). */
static void q_group(struct loafre__dest *d, struct qent *e, size_t n, int root)
{
	struct ssh_dest *s = SD(d);
	struct sbuf b = { .max = SCRIPT_MAX }, in = { .max = SIZE_MAX },
		    err = { .max = RSYNC_ERR_MAX };
	char srcpath[PATH_MAX + 2], dst[sizeof(s->target) + PATH_MAX + 4], proc[64];
	char par[PATH_MAX], last[PATH_MAX] = "\001", why[LOAFRE__DEST_WHY_MAX] = "";
	char line[LOAFRE__DEST_WHY_MAX];
	const char *a[ARGV_MAX];
	size_t count = 0;
	int st = 0, r;
	ssize_t len;

	/* 1. the parents: no symlink on the way (a round trip per 64 KiB of
	 * script; distinct parents only) */
	preamble(s, &b);
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (e[i].src_root != root || e[i].err != 1)
			continue;
		count++;
		sb_add(&in, e[i].rel, strlen(e[i].rel) + 1);
		parent_of(e[i].rel, par);
		if (strcmp(par, last) == 0)
			continue;
		snprintf(last, sizeof(last), "%s", par);
		sb_nl(&b, e[i].rel);
		if (b.len >= (64u << 10)) {
			r = run_script(s, &b, NULL, "cannot copy: parents", why);
			free(b.p);
			b = (struct sbuf){ .max = SCRIPT_MAX };
			preamble(s, &b);
		}
	}
	if (r == 0)
		r = run_script(s, &b, NULL, "cannot copy: parents", why);
	free(b.p);
	if (r == -ELOOP || r == -ENOTDIR || r == -E2BIG) {
		q_each(d, e, n, root); /* which entries: each alone */
		goto times;
	}
	if (r == 0 && in.nomem)
		r = -ENOMEM;
	if (r < 0)
		goto fail_all;
	/* 2. one rsync for all */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", root);
	len = readlink(proc, srcpath, sizeof(srcpath) - 2);
	if (len < 0 || (size_t)len >= sizeof(srcpath) - 2) {
		r = len < 0 ? -errno : -ENAMETOOLONG;
		setwhy(why, "cannot copy: cannot find the source root: %s", strerror(-r));
		goto fail_all;
	}
	srcpath[len] = '\0';
	if (len > 1)
		strcat(srcpath, "/");
	snprintf(dst, sizeof(dst), "%s:%s/", s->target, s->root);
	rsync_argv(d, a, true /* queued because it changed: transfer (delta) */, false, srcpath,
		   dst);
	r = run((char *const *)a, in.p, in.len, NULL, &err, s->timeout_ms, &st);
	if (r == 0 && (st == 0 || st == 24 || (st == 23 && vanished_only(&err)))) {
		for (size_t i = 0; i < n; i++)
			if (e[i].src_root == root && e[i].err == 1)
				q_fail(&e[i], 0, NULL);
		goto times;
	}
	if (r == 0 && st != 255) {
		q_each(d, e, n, root); /* some failed: which */
		goto times;
	}
	first_line(&err, r == -ETIMEDOUT ? "timed out" : "rsync failed", line, sizeof(line));
	if (r == 0)
		r = -EHOSTUNREACH;
	setwhy(why, "cannot copy %zu files: %s", count, line);
fail_all:
	for (size_t i = 0; i < n; i++)
		if (e[i].src_root == root && e[i].err == 1)
			q_fail(&e[i], r, why);
times:
	q_parent_times(d, e, n, root);
	free(in.p);
	free(err.p);
}

/* Transfers everything queued on d (any thread's), then reports each
 * failure to its owner. Serialised by flush_mu, so an operation that waits
 * here also waits for a transfer another thread has under way. */
static void do_flush(struct loafre__dest *d)
{
	struct ssh_dest *s = SD(d);
	struct qent *e;
	size_t n;

	pthread_mutex_lock(&s->flush_mu);
	pthread_mutex_lock(&s->batch_mu);
	s->infl = s->q;
	s->ninfl = s->nq;
	s->q = NULL;
	s->nq = s->capq = 0;
	for (int i = 0; i < BATCH_OWNERS; i++) {
		s->own[i].nq = 0;
		s->own[i].qbytes = 0;
	}
	e = s->infl;
	n = s->ninfl;
	pthread_mutex_unlock(&s->batch_mu);
	for (size_t i = 0; i < n; i++)
		e[i].err = 1;
	for (size_t i = 0; i < n; i++)
		if (e[i].err == 1)
			q_group(d, e, n, e[i].src_root);
	for (size_t i = 0; i < n; i++) {
		void (*cb)(void *arg, const char *rel, int err, const char *why) = NULL;
		void *arg = NULL;

		if (e[i].err == 0) {
			atomic_fetch_add(&d->bytes, e[i].size);
			continue;
		}
		atomic_fetch_sub(&d->done[LOAFRE__DOP_COPY], 1);
		atomic_fetch_add(&d->failed[LOAFRE__DOP_COPY], 1);
		pthread_mutex_lock(&s->batch_mu);
		{
			struct bowner *o = &s->own[e[i].owner];

			if (o->active) {
				cb = o->failed;
				arg = o->arg;
				if (!o->err) {
					o->err = e[i].err;
					snprintf(o->why, sizeof(o->why), "%s", e[i].why ? e[i].why : "");
				}
			}
		}
		pthread_mutex_unlock(&s->batch_mu);
		if (cb)
			cb(arg, e[i].rel, e[i].err, e[i].why ? e[i].why : strerror(-e[i].err));
	}
	pthread_mutex_lock(&s->batch_mu);
	for (size_t i = 0; i < n; i++) {
		free(e[i].rel);
		free(e[i].why);
	}
	free(e);
	s->infl = NULL;
	s->ninfl = 0;
	atomic_fetch_sub(&s->pending, n);
	pthread_mutex_unlock(&s->batch_mu);
	pthread_mutex_unlock(&s->flush_mu);
}

/* Before an operation on rel: flushes when it conflicts with a copy queued
 * or under way (order kept). */
static void pre_op(struct loafre__dest *d, const char *rel)
{
	struct ssh_dest *s = SD(d);
	bool c;

	if (atomic_load(&s->pending) == 0)
		return;
	pthread_mutex_lock(&s->batch_mu);
	c = queued_conflict(s, rel, false);
	pthread_mutex_unlock(&s->batch_mu);
	if (c)
		do_flush(d);
}

/* Queues a copy of rel for the calling thread's batch o. */
static int queue_copy(struct loafre__dest *d, int src_root, const char *rel,
		      const struct stat *st, int o)
{
	struct ssh_dest *s = SD(d);
	struct qent e = { .src_root = src_root, .owner = o, .size = (uint64_t)st->st_size,
			  .ptimes = !d->o.no_parent_times && !loafre__repl_tl_sync };
	bool full;

	for (;;) {
		bool c;

		pthread_mutex_lock(&s->batch_mu);
		for (size_t i = 0; i < s->nq; i++)
			if (strcmp(s->q[i].rel, rel) == 0) {
				s->q[i].ptimes |= e.ptimes;
				pthread_mutex_unlock(&s->batch_mu);
				return 0; /* queued already: rsync reads it as it is then */
			}
		c = queued_conflict(s, rel, true);
		if (!c)
			break;
		pthread_mutex_unlock(&s->batch_mu);
		do_flush(d);
	}
	if (s->nq == s->capq) {
		size_t nc = s->capq ? s->capq * 2 : 256;
		struct qent *nqv = realloc(s->q, nc * sizeof(*nqv));

		if (!nqv) {
			pthread_mutex_unlock(&s->batch_mu);
			return -ENOMEM;
		}
		s->q = nqv;
		s->capq = nc;
	}
	e.rel = strdup(rel);
	if (!e.rel) {
		pthread_mutex_unlock(&s->batch_mu);
		return -ENOMEM;
	}
	s->q[s->nq++] = e;
	atomic_fetch_add(&s->pending, 1);
	s->own[o].nq++;
	s->own[o].qbytes += e.size;
	full = s->own[o].nq >= QUEUE_FILES || s->own[o].qbytes >= QUEUE_BYTES;
	pthread_mutex_unlock(&s->batch_mu);
	if (full)
		do_flush(d);
	return 0;
}

static int ssh_batch_begin(struct loafre__dest *d,
			   void (*failed)(void *arg, const char *rel, int err, const char *why),
			   void *arg)
{
	struct ssh_dest *s = SD(d);
	int r = -ENOSPC;

	pthread_mutex_lock(&s->batch_mu);
	if (my_owner(s) >= 0) {
		r = -EBUSY;
	} else {
		for (int i = 0; i < BATCH_OWNERS; i++) {
			if (s->own[i].active)
				continue;
			s->own[i] = (struct bowner){ .tid = pthread_self(), .active = true,
						     .failed = failed, .arg = arg };
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&s->batch_mu);
	return r;
}

static int ssh_flush(struct loafre__dest *d, char *why)
{
	struct ssh_dest *s = SD(d);
	int o, r = 0;

	do_flush(d);
	pthread_mutex_lock(&s->batch_mu);
	o = my_owner(s);
	if (o >= 0 && s->own[o].err) {
		r = s->own[o].err;
		if (why)
			setwhy(why, "%s", s->own[o].why);
		s->own[o].err = 0;
	}
	pthread_mutex_unlock(&s->batch_mu);
	return r;
}

static int ssh_batch_end(struct loafre__dest *d, char *why)
{
	struct ssh_dest *s = SD(d);
	int r = ssh_flush(d, why), o;

	pthread_mutex_lock(&s->batch_mu);
	o = my_owner(s);
	if (o >= 0)
		s->own[o] = (struct bowner){ 0 };
	pthread_mutex_unlock(&s->batch_mu);
	return r;
}

/* The calling thread's batch, or -1 (no lock when nobody has one). */
static int batching(struct ssh_dest *s)
{
	int o;

	pthread_mutex_lock(&s->batch_mu);
	o = my_owner(s);
	pthread_mutex_unlock(&s->batch_mu);
	return o;
}

static int typed_rsync_once(struct loafre__dest *d, int src_root, const char *rel,
			    const char *verb, bool (*want)(mode_t), bool update, char *why);

/* typed_rsync_once; a non-directory in the way (-ENOTDIR: a file at the
 * destination where the source has a directory now, a file replaced by a
 * directory whose records another worker thread has not applied yet) is
 * replaced by the directory, as missing parents are made, and the entry
 * tried again (as the local type does). */
static int typed_rsync(struct loafre__dest *d, int src_root, const char *rel, const char *verb,
		       bool (*want)(mode_t), bool update, char *why)
{
	int r = typed_rsync_once(d, src_root, rel, verb, want, update, why);

	if (r == -ENOTDIR) {
		char what[PATH_MAX + 32];

		snprintf(what, sizeof(what), "cannot %s '%s'", verb, rel);
		r = parents_as_source(d, src_root, rel, what, why);
		if (r == 0)
			r = typed_rsync_once(d, src_root, rel, verb, want, update, why);
	}
	return r;
}

static int typed_rsync_once(struct loafre__dest *d, int src_root, const char *rel,
			    const char *verb, bool (*want)(mode_t), bool update, char *why)
{
	char what[PATH_MAX + 32];
	struct stat st;
	bool inplace;
	int r, o;

	snprintf(what, sizeof(what), "cannot %s '%s'", verb, rel);
	r = src_stat(src_root, rel, &st);
	if (r == 0 && !want(st.st_mode))
		r = -EINVAL;
	if (r < 0) {
		if (why)
			setwhy(why, "%s: source: %s", what,
				 r == -EINVAL ? "another file type" : strerror(-r));
		return r;
	}
	/* an update of a file with several names (not during the initial
	 * sync, which links the names itself): rsync --inplace, alone, so
	 * that the names the destination has of its inode follow */
	inplace = update && S_ISREG(st.st_mode) && st.st_nlink > 1 && !loafre__repl_tl_sync;
	if (S_ISREG(st.st_mode) && !inplace && (o = batching(SD(d))) >= 0)
		return queue_copy(d, src_root, rel, &st, o);
	pre_op(d, rel);
	if ((S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) && !src_has_xattrs(src_root, rel)) {
		r = chan_make(d, src_root, rel, &st, what, why);
		if (r != -EEXIST)
			return r;
	}
	if (S_ISREG(st.st_mode) && !inplace) {
		r = chan_copy_small(d, src_root, rel, &st, what, why);
		if (r <= 0)
			return r;
	}
	r = rsync_entry(d, src_root, rel, S_ISREG(st.st_mode), inplace, what, why);
	if (r == 0 && S_ISREG(st.st_mode))
		atomic_fetch_add(&d->bytes, (uint64_t)st.st_size);
	if (r == 0 && !d->o.no_parent_times && !loafre__repl_tl_sync) {
		/* rsync set the implied parents' times, not the root's */
		struct sbuf b = { .max = SCRIPT_MAX };

		preamble(SD(d), &b);
		sb_parent_times(d, src_root, &b, rel);
		r = script_op(d, &b, what, why);
	}
	return r;
}

static int ssh_link(struct loafre__dest *d, int src_root, const char *old_rel,
		    const char *new_rel, char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };
	char what[2 * PATH_MAX + 32];

	snprintf(what, sizeof(what), "cannot link '%s' to '%s'", new_rel, old_rel);
	pre_op(d, old_rel);
	pre_op(d, new_rel);
	sb_old_new(d, src_root, &b, old_rel, new_rel, false);
	sb_str(&b, "t=\"${n%/*}/.${n##*/}.loafre.$$\"\n"
		   "ln -P -- \"$o\" \"$t\" || exit 1\n"
		   "if isdir \"$n\"; then rm -rf -- \"$n\"; fi\n"
		   "mv -fT -- \"$t\" \"$n\" || { rm -f -- \"$t\"; exit 1; }\n");
	sb_parent_times(d, src_root, &b, new_rel);
	return script_op(d, &b, what, why);
}

static int ssh_rename(struct loafre__dest *d, int src_root, const char *old_rel,
		      const char *new_rel, char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };
	char what[2 * PATH_MAX + 32];

	snprintf(what, sizeof(what), "cannot rename '%s' to '%s'", old_rel, new_rel);
	pre_op(d, old_rel);
	pre_op(d, new_rel);
	sb_old_new(d, src_root, &b, old_rel, new_rel, true);
	sb_str(&b, "if ex \"$n\" && { isdir \"$n\" || isdir \"$o\"; }; then rm -rf -- \"$n\"; fi\n"
		   "mv -fT -- \"$o\" \"$n\" || exit 1\n");
	sb_parent_times(d, src_root, &b, old_rel);
	sb_parent_times(d, src_root, &b, new_rel);
	return script_op(d, &b, what, why);
}

/* The start of a script on one destination entry: $f, rel. */
static void sb_entry(struct loafre__dest *d, struct sbuf *b, const char *rel)
{
	preamble(SD(d), b);
	sb_nl(b, rel);
	sb_str(b, "f=\"$R\"/");
	sb_q(b, rel);
}

/* Removes rel (a tree too) if it exists; what names the operation. */
static int remove_op(struct loafre__dest *d, int src_root, const char *rel, const char *what,
		     char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };

	sb_entry(d, &b, rel);
	sb_str(&b, "\nex \"$f\" || exit 0\n"
		   "if isdir \"$f\"; then rm -rf -- \"$f\"; else rm -f -- \"$f\"; fi || exit 1\n");
	sb_parent_times(d, src_root, &b, rel);
	return script_op(d, &b, what, why);
}

static int ssh_unlink(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	char what[PATH_MAX + 32];

	snprintf(what, sizeof(what), "cannot remove '%s'", rel);
	pre_op(d, rel);
	return remove_op(d, src_root, rel, what, why);
}

/* Is `e` kept: protected itself, under a protected entry or holding one? */
static bool kept(const char *e, char *const *prot, size_t n_prot)
{
	size_t el = strlen(e);

	for (size_t i = 0; i < n_prot; i++) {
		size_t pl = strlen(prot[i]);

		if (strcmp(e, prot[i]) == 0 ||
		    (el > pl && strncmp(e, prot[i], pl) == 0 && e[pl] == '/') ||
		    (pl > el && strncmp(prot[i], e, el) == 0 && prot[i][el] == '/'))
			return true;
	}
	return false;
}

/* rmdir with opts.protect: lists the destination tree (find -printf
 * '%y %P\0'); when something is protected, removes (quoted `rm -rf` lines,
 * 64 KiB of script per round trip) the topmost entries that are neither protected, under a
 * protected one nor holding one, and returns -ENOTEMPTY; 1 when nothing is
 * protected (the caller removes the whole tree). */
static int rmdir_protected(struct loafre__dest *d, const char *rel, const char *what, char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX }, out = { .max = OUT_MAX }, rm = { .max = OUT_MAX };
	char **prot = NULL, path[2 * PATH_MAX];
	size_t n_prot = 0;
	int r;

	sb_entry(d, &b, rel);
	sb_str(&b, "\nisdir \"$f\" || exit 0\nexec find \"$f/\" -mindepth 1 -printf '%y %P\\0'\n");
	r = run_script(SD(d), &b, &out, what, why);
	free(b.p);
	b = (struct sbuf){ .max = SCRIPT_MAX };
	if (r == 0 && out.trunc)
		r = -E2BIG;
	/* pass 1: the protected entries */
	for (size_t i = 0; r == 0 && i < out.len;) {
		const char *e = out.p + i;
		size_t n = strnlen(e, out.len - i);

		if (n > 2 && i + n < out.len) {
			snprintf(path, sizeof(path), "%s/%s", rel, e + 2);
			if (d->o.protect(d->o.protect_arg, path, e[0] == 'd')) {
				char **np = realloc(prot, (n_prot + 1) * sizeof(*np));

				if (!np || !(np[n_prot] = strdup(path))) {
					if (np)
						prot = np;
					r = -ENOMEM;
					break;
				}
				prot = np;
				n_prot++;
			}
		}
		i += n + 1;
	}
	if (r == 0 && n_prot == 0)
		r = 1;
	/* pass 2: what goes (its parent is kept or is rel itself) */
	for (size_t i = 0; r == 0 && i < out.len;) {
		const char *e = out.p + i;
		size_t n = strnlen(e, out.len - i);

		if (n > 2 && i + n < out.len) {
			char *slash;

			snprintf(path, sizeof(path), "%s/%s", rel, e + 2);
			if (!kept(path, prot, n_prot)) {
				slash = strrchr(path, '/');
				*slash = '\0';
				if (strcmp(path, rel) == 0 || kept(path, prot, n_prot)) {
					*slash = '/';
					sb_add(&rm, path, strlen(path) + 1);
				}
			}
		}
		i += n + 1;
	}
	if (r == 0 && (rm.nomem || rm.trunc))
		r = -ENOMEM;
	/* the list as quoted `rm -rf` lines, in scripts of at most 64 KiB */
	for (size_t i = 0; r == 0 && i < rm.len;) {
		preamble(SD(d), &b);
		sb_str(&b, "cd -- \"$R\" || exit 1\n");
		while (i < rm.len && b.len < (64u << 10)) {
			sb_str(&b, "rm -rf -- ");
			sb_q(&b, rm.p + i);
			sb_str(&b, " || exit 1\n");
			i += strlen(rm.p + i) + 1;
		}
		r = run_script(SD(d), &b, NULL, what, why);
		free(b.p);
		b = (struct sbuf){ .max = SCRIPT_MAX };
	}
	if (r == 0) {
		r = -ENOTEMPTY;
		if (why)
			setwhy(why, "%.400s: protected entries kept", what);
	}
	for (size_t i = 0; i < n_prot; i++)
		free(prot[i]);
	free(prot);
	free(b.p);
	free(out.p);
	free(rm.p);
	return r;
}

static int ssh_rmdir(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	char what[PATH_MAX + 32];

	snprintf(what, sizeof(what), "cannot remove directory '%s'", rel);
	pre_op(d, rel);
	if (d->o.protect) {
		int r = rmdir_protected(d, rel, what, why);

		if (r != 1)
			return r;
	}
	return remove_op(d, src_root, rel, what, why);
}

/* Parses `stat -c '%f %h %u %g %s %X.%x %t %T %i'`-like output (see ssh_lstat). */
static int parse_stat(const char *p, struct stat *st)
{
	unsigned long mode, maj, min;
	unsigned long long nlink, uid, gid, size, ino, asec, msec, anse, mnse;
	struct stat t = { 0 };

	if (sscanf(p, "%lx %llu %llu %llu %llu %llu %llu %llu %llu %lx %lx %llu", &mode, &nlink,
		   &uid, &gid, &size, &asec, &anse, &msec, &mnse, &maj, &min, &ino) != 12)
		return -EIO;
	t.st_mode = (mode_t)mode;
	t.st_nlink = (nlink_t)nlink;
	t.st_uid = (uid_t)uid;
	t.st_gid = (gid_t)gid;
	t.st_size = (off_t)size;
	t.st_atim.tv_sec = (time_t)asec;
	t.st_atim.tv_nsec = (long)anse;
	t.st_mtim.tv_sec = (time_t)msec;
	t.st_mtim.tv_nsec = (long)mnse;
	t.st_rdev = makedev(maj, min);
	t.st_ino = (ino_t)ino;
	*st = t;
	return 0;
}

static int ssh_lstat(struct loafre__dest *d, const char *rel, struct stat *st)
{
	struct sbuf b = { .max = SCRIPT_MAX }, out = { .max = 4096 };
	int r;

	pre_op(d, rel);
	sb_entry(d, &b, rel);
	sb_str(&b, "\nex \"$f\" || exit 2\n"
		   "exec stat -c '%f %h %u %g %s %X %.9X %Y %.9Y %t %T %i' -- \"$f\"\n");
	r = run_script(SD(d), &b, &out, "stat", NULL);
	free(b.p);
	if (r == 0) {
		/* "%X %.9X" prints "S S.N": keep N from the second */
		char *p = out.p ? out.p : "";
		char buf[512];
		char *f[16];
		int n = 0;

		snprintf(buf, sizeof(buf), "%s", p);
		for (char *tok = strtok(buf, " \n"); tok && n < 16; tok = strtok(NULL, " \n"))
			f[n++] = tok;
		if (n != 12) {
			r = -EIO;
		} else {
			char line[512], *dot1 = strchr(f[6], '.'), *dot2 = strchr(f[8], '.');

			snprintf(line, sizeof(line), "%s %s %s %s %s %s %s %s %s %s %s %s", f[0],
				 f[1], f[2], f[3], f[4], f[5], dot1 ? dot1 + 1 : "0", f[7],
				 dot2 ? dot2 + 1 : "0", f[9], f[10], f[11]);
			r = parse_stat(line, st);
		}
	}
	free(out.p);
	return r;
}

/* The entries of destination directory rel (not through a symlink),
 * printed by find -printf FMT, into *out (the caller frees out->p). */
static int list_dir(struct loafre__dest *d, const char *rel, const char *fmt, struct sbuf *out)
{
	struct sbuf b = { .max = SCRIPT_MAX };
	int r;

	pre_op(d, rel);
	preamble(SD(d), &b);
	if (rel[0]) {
		sb_nl(&b, rel);
		sb_str(&b, "f=\"$R\"/");
		sb_q(&b, rel);
		sb_str(&b, "\n[ -L \"$f\" ] && die 'is a symlink' 40\n");
	} else {
		sb_str(&b, "f=$R\n");
	}
	sb_str(&b, "ex \"$f\" || exit 2\n[ -d \"$f\" ] || exit 20\n"
		   "exec find \"$f/\" -mindepth 1 -maxdepth 1 -printf ");
	sb_q(&b, fmt);
	sb_str(&b, "\n");
	r = run_script(SD(d), &b, out, "list", NULL);
	free(b.p);
	if (r == 0 && out->trunc)
		r = -E2BIG;
	return r;
}

static int ssh_list(struct loafre__dest *d, const char *rel,
		    int (*fn)(void *arg, const char *name), void *arg)
{
	struct sbuf out = { .max = OUT_MAX };
	int r = list_dir(d, rel, "%f\\0", &out);

	for (size_t i = 0; r == 0 && i < out.len;) {
		const char *name = out.p + i;
		size_t n = strnlen(name, out.len - i);

		if (i + n >= out.len)
			break; /* unterminated tail */
		r = fn(arg, name);
		i += n + 1;
	}
	free(out.p);
	return r;
}

/* list_stat: one round trip (find -printf, format in lib/repl_ssh_reply.c);
 * devices get their numbers from an lstat each (rare). */
struct ls_dev {
	struct loafre__dest *d; /* the destination */
	const char *rel;        /* the directory */
	int (*fn)(void *arg, const char *name, const struct stat *st); /* caller's */
	void *arg;              /* its argument */
};

static int ls_dev_one(void *arg, const char *name, const struct stat *st)
{
	struct ls_dev *c = arg;

	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		char path[PATH_MAX];
		struct stat full;
		int r;

		if (snprintf(path, sizeof(path), "%s%s%s", c->rel, c->rel[0] ? "/" : "", name) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
		r = ssh_lstat(c->d, path, &full);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		return c->fn(c->arg, name, &full);
	}
	return c->fn(c->arg, name, st);
}

static int ssh_list_stat(struct loafre__dest *d, const char *rel,
			 int (*fn)(void *arg, const char *name, const struct stat *st), void *arg)
{
	struct sbuf out = { .max = OUT_MAX };
	struct ls_dev c = { d, rel, fn, arg };
	int r = list_dir(d, rel, "%f\\0%y %m %U %G %s %n %i %A@ %T@\\0", &out);

	if (r == 0)
		r = loafre__ssh_list_stat_parse(out.p ? out.p : "", out.len, ls_dev_one, &c);
	free(out.p);
	return r;
}

static int ssh_setattr(struct loafre__dest *d, int src_root, const char *rel, unsigned mask,
		       char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };
	char what[PATH_MAX + 40];
	struct stat sst, dst;
	int r;

	snprintf(what, sizeof(what), "cannot set the attributes of '%s'", rel[0] ? rel : ".");
	pre_op(d, rel);
	r = src_stat(src_root, rel, &sst);
	if (r < 0) {
		if (why)
			setwhy(why, "%s: source: %s", what, strerror(-r));
		return r;
	}
	if (rel[0]) {
		r = ssh_lstat(d, rel, &dst);
		if (r < 0) {
			if (why)
				setwhy(why, "%s: %s", what,
					 r == -ENOENT ? "not at the destination" : strerror(-r));
			return r;
		}
		if ((dst.st_mode & S_IFMT) != (sst.st_mode & S_IFMT))
			return loafre__dest_sync_entry(d, src_root, rel, why);
		/* more names here than the source's file has: the inode may be
		 * another object's (lib/repl_dest.h); the caller decides */
		if (S_ISREG(sst.st_mode) && dst.st_nlink > sst.st_nlink) {
			if (why)
				setwhy(why, "%s: it has %lu names at the destination, %lu at the source",
				       what, (unsigned long)dst.st_nlink, (unsigned long)sst.st_nlink);
			return -EMLINK;
		}
		if ((mask & LOAFRE__ATTR_XATTR) && (S_ISREG(sst.st_mode) || S_ISDIR(sst.st_mode)))
			return rsync_entry(d, src_root, rel, false, false, what, why);
	}
	preamble(SD(d), &b);
	if (rel[0])
		sb_nl(&b, rel);
	sb_sa(d, &b, rel, &sst, mask);
	return script_op(d, &b, what, why);
}

/* ssh_setattr with the source's entry at another path (both not ""). */
static int ssh_setattr_from(struct loafre__dest *d, int src_root, const char *src_rel,
			    const char *rel, unsigned mask, char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };
	char what[PATH_MAX + 40], sdir[PATH_MAX], ddir[PATH_MAX];
	const char *sname = strrchr(src_rel, '/'), *dname = strrchr(rel, '/');
	struct stat sst, dst;
	int r;

	snprintf(what, sizeof(what), "cannot set the attributes of '%s'", rel);
	if (!src_rel[0] || !rel[0])
		return -EINVAL;
	pre_op(d, rel);
	r = src_stat(src_root, src_rel, &sst);
	if (r == 0)
		r = ssh_lstat(d, rel, &dst);
	if (r < 0) {
		if (why)
			setwhy(why, "%s: %s", what,
			       r == -ENOENT ? "not at the source or the destination" : strerror(-r));
		return r;
	}
	if ((dst.st_mode & S_IFMT) != (sst.st_mode & S_IFMT))
		return -ESTALE;
	if ((mask & LOAFRE__ATTR_XATTR) && (S_ISREG(sst.st_mode) || S_ISDIR(sst.st_mode))) {
		/* rsync keeps the last component */
		sname = sname ? sname + 1 : src_rel;
		dname = dname ? dname + 1 : rel;
		if (strcmp(sname, dname) != 0)
			return -EOPNOTSUPP;
		parent_of(src_rel, sdir);
		parent_of(rel, ddir);
		return rsync_in(d, src_root, sdir, ddir, sname, rel, false, false, what, why);
	}
	preamble(SD(d), &b);
	sb_nl(&b, rel);
	sb_sa(d, &b, rel, &sst, mask);
	return script_op(d, &b, what, why);
}

/* Stops the master connection (if any). */
static void stop_master(struct ssh_dest *s)
{
	struct sbuf err = { .max = ERR_MAX };
	const char *a[ARGV_MAX];
	int n, st;

	n = ssh_opts(s, a);
	a[n++] = "-O";
	a[n++] = "exit";
	a[n++] = "--";
	a[n++] = s->target;
	a[n] = NULL;
	run((char *const *)a, NULL, 0, NULL, &err, 10000, &st);
	free(err.p);
}

/* Ends every channel: stdin closed (the remote shell exits and removes its
 * directory), 2 s to go, then killed. */
static void chans_stop(struct ssh_dest *s)
{
	for (unsigned i = 0; i < CHAN_MAX; i++) {
		struct chan *c = &s->ch[i];

		if (c->pid > 0) {
			int64_t until = now_ms() + 2000;
			pid_t w;

			close(c->in);
			c->in = -1;
			while ((w = waitpid(c->pid, NULL, WNOHANG)) == 0 && now_ms() < until)
				poll(NULL, 0, 5);
			if (w != 0)
				c->pid = 0; /* reaped (or not ours any more) */
		}
		chan_kill(c);
		free(c->errs.p);
		c->errs = (struct sbuf){ 0 };
	}
}

/* Frees s (NULL: nothing): channels, master, state. */
static void ssh_free(struct ssh_dest *s)
{
	if (!s)
		return;
	chans_stop(s);
	if (s->ssh_e)
		stop_master(s);
	free(s->ssh_e);
	free(s->usermap);
	free(s->groupmap);
	/* empty once the master has exited: `ssh -O exit` returns before it
	 * removes its socket (up to 2 s) */
	for (int i = 0; s->short_dir[0] && i < 200 && rmdir(s->short_dir) < 0 && errno == ENOTEMPTY;
	     i++)
		usleep(10000);
	pthread_mutex_destroy(&s->pool_mu);
	pthread_cond_destroy(&s->pool_cv);
	pthread_mutex_destroy(&s->batch_mu);
	pthread_mutex_destroy(&s->flush_mu);
	free(s);
}

static void ssh_close(struct loafre__dest *d)
{
	struct ssh_dest *s = SD(d);

	if (!s)
		return;
	do_flush(d); /* what is still queued (errors lost: callers flush) */
	ssh_free(s);
}

static const struct loafre__dest_ops ssh_ops = {
	.type = "ssh",
	.copy = ssh_copy,
	.update = ssh_update,
	.mkdir = ssh_mkdir,
	.symlink = ssh_symlink,
	.mknod = ssh_mknod,
	.link = ssh_link,
	.rename = ssh_rename,
	.unlink = ssh_unlink,
	.rmdir = ssh_rmdir,
	.setattr = ssh_setattr,
	.setattr_from = ssh_setattr_from,
	.lstat = ssh_lstat,
	.list = ssh_list,
	.list_stat = ssh_list_stat,
	.batch_begin = ssh_batch_begin,
	.flush = ssh_flush,
	.batch_end = ssh_batch_end,
	.close = ssh_close,
};

/* "--usermap=F:T,...,*:D" from m (NULL when m is the identity). */
static int map_arg(const char *opt, const struct loafre_idmap *m, char **ret)
{
	struct sbuf b = { .max = 1u << 20 };

	*ret = NULL;
	if (!m || (!m->n_pairs && !m->has_default))
		return 0;
	sb_str(&b, opt);
	for (size_t i = 0; i < m->n_pairs; i++)
		sb_fmt(&b, "%s%" PRIu32 ":%" PRIu32, i ? "," : "", m->pairs[i].from,
		       m->pairs[i].to);
	if (m->has_default)
		sb_fmt(&b, "%s*:%" PRIu32, m->n_pairs ? "," : "", m->default_to);
	if (b.nomem || b.trunc) {
		free(b.p);
		return -ENOMEM;
	}
	*ret = b.p;
	return 0;
}

static bool word_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '\'' || *s == '"' || *s == '\\')
			return false;
	return true;
}

int loafre__dest_open_ssh(const char *spec, const struct loafre__ssh_opts *so,
			  const struct loafre__dest_opts *opts, struct loafre__dest **ret,
			  char *why)
{
	struct loafre__dest *d = NULL;
	struct ssh_dest *s;
	struct sbuf b = { .max = SCRIPT_MAX }, out = { .max = PATH_MAX + 2 }, e = { .max = 16384 };
	const char *a[ARGV_MAX];
	int r, n;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->pool_mu, NULL);
	pthread_cond_init(&s->pool_cv, NULL);
	pthread_mutex_init(&s->batch_mu, NULL);
	pthread_mutex_init(&s->flush_mu, NULL);
	for (unsigned i = 0; i < CHAN_MAX; i++)
		s->ch[i].in = s->ch[i].out = s->ch[i].err = -1;
	r = loafre__ssh_spec_parse(spec, &s->spec);
	if (r < 0) {
		if (why)
			snprintf(why, LOAFRE__DEST_WHY_MAX,
				 "invalid ssh destination '%s' (expected [user@]host:/path)",
				 spec ? spec : "");
		goto fail;
	}
	r = -EINVAL;
	if (!so || !so->control_dir || so->control_dir[0] != '/' || !word_ok(so->control_dir) ||
	    strlen(so->control_dir) > 1024 || (so->identity_file && !word_ok(so->identity_file)) ||
	    (so->known_hosts && !word_ok(so->known_hosts)) || so->port > 65535) {
		if (why)
			snprintf(why, LOAFRE__DEST_WHY_MAX,
				 "invalid ssh options for '%s' (control directory: absolute, at "
				 "most 1024 bytes; no spaces or quotes in file names)", spec);
		goto fail;
	}
	snprintf(s->target, sizeof(s->target), "%s%s%s", s->spec.user, s->spec.user[0] ? "@" : "",
		 s->spec.host);
	{
		/* sun_path holds 107 bytes: DIR + "/ssh-" + 40 (%C) + 17 (ssh's
		 * temporary suffix) must fit, or every connection fails later
		 * with "too long for Unix domain socket" */
		const char *dir = so->control_dir;

		if (strlen(dir) + 5 + 40 + 17 > 107) {
			snprintf(s->short_dir, sizeof(s->short_dir), "/tmp/loafre-ssh.%d.XXXXXX",
				 (int)getpid());
			if (!mkdtemp(s->short_dir)) {
				r = -errno;
				s->short_dir[0] = '\0';
				if (why)
					snprintf(why, LOAFRE__DEST_WHY_MAX,
						 "cannot make a control directory for '%s' in /tmp "
						 "(%s is too long for ssh's socket): %s",
						 spec, dir, strerror(-r));
				goto fail;
			}
			dir = s->short_dir;
		}
		snprintf(s->ctl, sizeof(s->ctl), "ControlPath=%s/ssh-%%C", dir);
	}
	if (so->port)
		snprintf(s->port, sizeof(s->port), "%u", so->port);
	if (so->identity_file)
		snprintf(s->identity, sizeof(s->identity), "%s", so->identity_file);
	if (so->known_hosts)
		snprintf(s->known, sizeof(s->known), "UserKnownHostsFile=%s", so->known_hosts);
	snprintf(s->conn_to, sizeof(s->conn_to), "ConnectTimeout=%u",
		 so->connect_timeout_s ? so->connect_timeout_s : 10);
	s->timeout_ms = so->timeout_ms ? so->timeout_ms : 600000;
	n = ssh_opts(s, a);
	for (int i = 0; i < n; i++) {
		sb_str(&e, i ? " " : "");
		sb_str(&e, a[i]);
	}
	if (e.nomem) {
		r = -ENOMEM;
		goto fail;
	}
	s->ssh_e = e.p;
	e.p = NULL;
	r = map_arg("--usermap=", opts ? opts->uid_map : NULL, &s->usermap);
	if (r == 0)
		r = map_arg("--groupmap=", opts ? opts->gid_map : NULL, &s->groupmap);
	if (r < 0)
		goto fail;
	/* resolve the root once (symlinks in the root itself followed here) */
	snprintf(s->root, sizeof(s->root), "/");
	sb_str(&b, "cd -P -- ");
	sb_q(&b, s->spec.path);
	sb_str(&b, " 2>/dev/null || die \"no such directory '$1'\" 2\n");
	{
		struct sbuf full = { .max = SCRIPT_MAX };

		preamble(s, &full);
		sb_str(&full, "set -- ");
		sb_q(&full, s->spec.path);
		sb_str(&full, "\n");
		sb_add(&full, b.p ? b.p : "", b.len);
		sb_str(&full, "pwd -P\n");
		char what[PATH_MAX + 400];

		snprintf(what, sizeof(what), "cannot open '%s'", spec);
		r = run_script(s, &full, &out, what, why);
		free(full.p);
	}
	if (r < 0)
		goto fail;
	if (!out.p || out.len < 2 || out.p[0] != '/' || out.p[out.len - 1] != '\n') {
		r = -EIO;
		if (why)
			setwhy(why, "cannot open '%s': no directory", spec);
		goto fail;
	}
	out.p[out.len - 1] = '\0';
	snprintf(s->root, sizeof(s->root), "%s", out.p);
	r = loafre__dest_new(&ssh_ops, s, opts, &d);
	if (r < 0)
		goto fail;
	free(b.p);
	free(out.p);
	*ret = d;
	return 0;
fail:
	free(b.p);
	free(out.p);
	free(e.p);
	ssh_free(s);
	return r;
}

/* ---- verify against an ssh destination ------------------------------------------ */

/* One entry rsync itemized. */
struct vitem {
	char *path;     /* relative, no trailing '/' */
	char *other;    /* hard link: the name it is linked to, else NULL */
	char item[12];  /* YXcstpoguax, or "*deleting  " */
	bool created;   /* would be created (all '+') */
	bool deleted;   /* would be deleted (extra) */
	bool is_dir;    /* a directory (trailing '/' or 'd') */
	bool skip;      /* under a missing/extra/type-changed directory */
	bool holder;    /* extra directory holding filtered (protected) entries:
			 * not extra itself, its other entries are */
};

/* Compares paths depth first in byte order ('/' before every byte). */
static int path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = *a == '/' ? 1 : (unsigned char)*a;
		unsigned char y = *b == '/' ? 1 : (unsigned char)*b;

		if (x != y || !x)
			return x - y;
	}
}

static int vitem_cmp(const void *a, const void *b)
{
	const struct vitem *x = a, *y = b;
	int c = path_cmp(x->path, y->path);

	return c ? c : (int)x->created - (int)y->created;
}

/* Decodes rsync's "\#ooo" escapes in place. */
static void unescape(char *s)
{
	char *w = s;

	for (char *p = s; *p;) {
		if (p[0] == '\\' && p[1] == '#' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
		    p[3] <= '7' && p[4] >= '0' && p[4] <= '7') {
			*w++ = (char)(((p[2] - '0') << 6) | ((p[3] - '0') << 3) | (p[4] - '0'));
			p += 5;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
}

struct vctx_ssh {
	struct loafre__dest *d;          /* the destination */
	int src;                         /* source root (O_PATH) */
	const struct loafre__verify_opts *o; /* options */
	void (*fn)(void *arg, const struct loafre__vdiff_rec *r); /* reporter */
	void *arg;                       /* its argument */
	struct loafre__verify_result *res; /* counters */
};

static void vreport(struct vctx_ssh *v, enum loafre__vdiff k, const char *path, const char *path2,
		    const char *src, const char *dst, const char *detail)
{
	struct loafre__vdiff_rec r = { k, path, path2, src, dst, detail };

	if (k == LOAFRE__VD_ERROR)
		v->res->errors++;
	else
		v->res->diffs++;
	v->fn(v->arg, &r);
}

/* Remote script output for `CMD -- "$R"/REL` (readlink, getfattr). */
static int remote_cmd(struct loafre__dest *d, const char *cmd, const char *rel, struct sbuf *out)
{
	struct sbuf b = { .max = SCRIPT_MAX };
	int r;

	preamble(SD(d), &b);
	sb_nl(&b, rel);
	sb_str(&b, cmd);
	sb_str(&b, " -- \"$R\"/");
	sb_q(&b, rel);
	sb_str(&b, "\n");
	r = run_script(SD(d), &b, out, "remote", NULL);
	free(b.p);
	return r;
}

/* user.* and trusted.* xattrs of the remote rel: "name=0xHEX" lines. */
static void v_xattrs(struct vctx_ssh *v, const char *rel, const char *shown)
{
	struct sbuf out = { .max = OUT_MAX };
	const char *name;
	char lst[65536], val[65536], line[LOAFRE__DEST_WHY_MAX];
	ssize_t n;
	int p, r;

	r = remote_cmd(v->d, "getfattr -h -d -m '^(user|trusted)\\.' -e hex", rel, &out);
	if (r < 0 || out.trunc) {
		vreport(v, LOAFRE__VD_ERROR, shown, NULL, NULL, NULL, "cannot read remote xattrs");
		goto out;
	}
	p = rel[0] ? loafre__repl_open_parent(v->src, rel, &name) : dup(v->src);
	if (!rel[0])
		name = ".";
	if (p < 0) {
		vreport(v, LOAFRE__VD_ERROR, shown, NULL, NULL, NULL, "cannot open source");
		goto out;
	}
	{
		char proc[PATH_MAX + 64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", p, name);
		n = llistxattr(proc, lst, sizeof(lst));
		/* source names: missing or differs */
		for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(lst + i) + 1) {
			const char *x = lst + i, *hit;
			char hex[2 * sizeof(val) + 4];
			ssize_t m;
			size_t k = 0;

			if (strncmp(x, "user.", 5) != 0 && strncmp(x, "trusted.", 8) != 0)
				continue;
			m = lgetxattr(proc, x, val, sizeof(val));
			if (m < 0)
				continue;
			k += (size_t)snprintf(hex, sizeof(hex), "%s=0x", x);
			for (ssize_t j = 0; j < m && k + 3 < sizeof(hex); j++)
				k += (size_t)snprintf(hex + k, sizeof(hex) - k, "%02x",
						      (unsigned char)val[j]);
			snprintf(line, sizeof(line), "\n%s=", x);
			hit = out.p ? strstr(out.p, line) : NULL;
			if (!hit) {
				vreport(v, LOAFRE__VD_XATTR, shown, NULL, NULL, "missing", x);
			} else {
				size_t hl = strcspn(hit + 1, "\n");

				if (hl != strlen(hex) || memcmp(hit + 1, hex, hl) != 0)
					vreport(v, LOAFRE__VD_XATTR, shown, NULL, NULL, "differs", x);
			}
		}
		/* remote names the source lacks: extra */
		for (char *l = out.p ? strtok(out.p, "\n") : NULL; l; l = strtok(NULL, "\n")) {
			char *eq = strchr(l, '=');

			if (l[0] == '#' || !eq)
				continue;
			*eq = '\0';
			if (lgetxattr(proc, l, NULL, 0) < 0)
				vreport(v, LOAFRE__VD_XATTR, shown, NULL, NULL, "extra", l);
		}
	}
	close(p);
out:
	free(out.p);
}

/* An entry rsync flagged as different: the exact differences. */
static void v_compare(struct vctx_ssh *v, const struct vitem *it)
{
	char a[PATH_MAX + 1], b[PATH_MAX + 1];
	struct stat s, d;
	const char *shown = it->path, *rel = strcmp(shown, ".") == 0 ? "" : shown;

	if (src_stat(v->src, rel, &s) < 0 || ssh_lstat(v->d, rel, &d) < 0) {
		vreport(v, LOAFRE__VD_ERROR, shown, NULL, NULL, NULL, "cannot stat");
		return;
	}
	if ((s.st_mode ^ d.st_mode) & S_IFMT) {
		vreport(v, LOAFRE__VD_TYPE, shown, NULL, loafre__repl_type_name(s.st_mode),
			loafre__repl_type_name(d.st_mode), NULL);
		return;
	}
	if (S_ISREG(s.st_mode) && s.st_size != d.st_size) {
		snprintf(a, sizeof(a), "%lld", (long long)s.st_size);
		snprintf(b, sizeof(b), "%lld", (long long)d.st_size);
		vreport(v, LOAFRE__VD_SIZE, shown, NULL, a, b, NULL);
	}
	if (!S_ISLNK(s.st_mode) && (s.st_mode & 07777) != (d.st_mode & 07777)) {
		snprintf(a, sizeof(a), "%04o", (unsigned)(s.st_mode & 07777));
		snprintf(b, sizeof(b), "%04o", (unsigned)(d.st_mode & 07777));
		vreport(v, LOAFRE__VD_MODE, shown, NULL, a, b, NULL);
	}
	{
		uint32_t u = loafre__idmap_map(v->o->uid_map, s.st_uid);
		uint32_t g = loafre__idmap_map(v->o->gid_map, s.st_gid);

		if (u != d.st_uid || g != d.st_gid) {
			snprintf(a, sizeof(a), "%" PRIu32 ":%" PRIu32, u, g);
			snprintf(b, sizeof(b), "%u:%u", (unsigned)d.st_uid, (unsigned)d.st_gid);
			vreport(v, LOAFRE__VD_OWNER, shown, NULL, a, b, NULL);
		}
	}
	if (!v->o->no_times && (s.st_mtim.tv_sec != d.st_mtim.tv_sec ||
				s.st_mtim.tv_nsec != d.st_mtim.tv_nsec)) {
		snprintf(a, sizeof(a), "%lld.%09ld", (long long)s.st_mtim.tv_sec, s.st_mtim.tv_nsec);
		snprintf(b, sizeof(b), "%lld.%09ld", (long long)d.st_mtim.tv_sec, d.st_mtim.tv_nsec);
		vreport(v, LOAFRE__VD_MTIME, shown, NULL, a, b, NULL);
	}
	if (S_ISLNK(s.st_mode)) {
		struct sbuf out = { .max = PATH_MAX + 2 };
		const char *name;
		int p = loafre__repl_open_parent(v->src, rel, &name);
		ssize_t n = p < 0 ? -1 : readlinkat(p, name, a, PATH_MAX);

		if (p >= 0)
			close(p);
		if (n < 0 || remote_cmd(v->d, "readlink", rel, &out) < 0 || !out.p) {
			vreport(v, LOAFRE__VD_ERROR, shown, NULL, NULL, NULL, "cannot read symlink");
		} else {
			a[n] = '\0';
			if (out.len && out.p[out.len - 1] == '\n')
				out.p[--out.len] = '\0';
			if (strcmp(a, out.p) != 0)
				vreport(v, LOAFRE__VD_SYMLINK, shown, NULL, a, out.p, NULL);
		}
		free(out.p);
		return;
	}
	if ((S_ISCHR(s.st_mode) || S_ISBLK(s.st_mode)) && s.st_rdev != d.st_rdev) {
		snprintf(a, sizeof(a), "%u,%u", major(s.st_rdev), minor(s.st_rdev));
		snprintf(b, sizeof(b), "%u,%u", major(d.st_rdev), minor(d.st_rdev));
		vreport(v, LOAFRE__VD_RDEV, shown, NULL, a, b, NULL);
	}
	if (!v->o->no_xattrs && it->item[10] == 'x' && (S_ISREG(s.st_mode) || S_ISDIR(s.st_mode)))
		v_xattrs(v, rel, shown);
	if (v->o->checksum && S_ISREG(s.st_mode) && s.st_size == d.st_size && it->item[2] == 'c')
		vreport(v, LOAFRE__VD_CONTENT, shown, NULL, NULL, NULL, NULL);
}

/* Keeps rel (the filter on it and each of its parents)? */
static bool v_keep(const struct loafre__verify_opts *o, const char *rel, bool is_dir)
{
	char buf[PATH_MAX];

	if (!o->filter)
		return true;
	snprintf(buf, sizeof(buf), "%s", rel);
	for (char *p = buf; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (!o->filter(o->filter_arg, buf, true))
			return false;
		*p = '/';
	}
	return o->filter(o->filter_arg, rel, is_dir);
}

int loafre__verify_ssh(const char *src, const char *spec, const struct loafre__ssh_opts *so,
		       const struct loafre__verify_opts *o,
		       void (*fn)(void *arg, const struct loafre__vdiff_rec *r), void *arg,
		       struct loafre__verify_result *ret, char *why)
{
	struct loafre__dest_opts dopts = { .uid_map = o->uid_map, .gid_map = o->gid_map };
	struct loafre__verify_result res = { 0 };
	struct sbuf out = { .max = OUT_MAX }, err = { .max = ERR_MAX };
	struct vctx_ssh v = { .o = o, .fn = fn, .arg = arg, .res = &res };
	struct vitem *items = NULL;
	char **prot = NULL;
	size_t n = 0, cap = 0, n_prot = 0;
	char srcpath[PATH_MAX + 2], dst[sizeof(((struct ssh_dest *)0)->target) + PATH_MAX + 4];
	const char *a[ARGV_MAX];
	struct ssh_dest *s;
	int r, st = 0, k = 0;

	v.src = open(src, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (v.src < 0) {
		r = -errno;
		setwhy(why, "cannot open '%.400s': %s", src, strerror(-r));
		return r;
	}
	r = loafre__dest_open_ssh(spec, so, &dopts, &v.d, why);
	if (r < 0)
		goto out;
	s = SD(v.d);
	snprintf(srcpath, sizeof(srcpath), "%s/", src);
	snprintf(dst, sizeof(dst), "%s:%s/", s->target, s->root);
	a[k++] = "rsync";
	a[k++] = "-a";
	a[k++] = "-H";
	a[k++] = o->no_xattrs ? "-A" : "-AX";
	a[k++] = "-n";
	a[k++] = "--delete";
	a[k++] = "--modify-window=-1"; /* mtimes compared to the nanosecond */
	a[k++] = "--numeric-ids";
	a[k++] = "--stats";
	a[k++] = "--out-format=%i\t%n\t%L";
	if (o->checksum) {
		a[k++] = "-c";
		a[k++] = "--checksum-choice=xxh128";
	}
	if (s->usermap)
		a[k++] = s->usermap;
	if (s->groupmap)
		a[k++] = s->groupmap;
	a[k++] = "-e";
	a[k++] = s->ssh_e;
	a[k++] = srcpath;
	a[k++] = dst;
	a[k] = NULL;
	r = run((char *const *)a, NULL, 0, &out, &err, s->timeout_ms, &st);
	if (r == 0 && st != 0) {
		char line[LOAFRE__DEST_WHY_MAX];

		r = st == 255 ? -EHOSTUNREACH : -EIO;
		first_line(&err, "rsync failed", line, sizeof(line));
		setwhy(why, "rsync: %s", line);
	} else if (r == 0 && out.trunc) {
		r = -E2BIG;
		setwhy(why, "rsync: too many differences");
	} else if (r < 0) {
		setwhy(why, "rsync: %s", r == -ETIMEDOUT ? "timed out" : strerror(-r));
	}
	if (r < 0)
		goto out;
	/* lines: ITEM \t NAME \t LINK ; then the statistics */
	for (char *l = out.p ? strtok(out.p, "\n") : NULL; l; l = strtok(NULL, "\n")) {
		char *t1 = strchr(l, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		struct vitem it = { 0 };
		size_t len;

		if (strncmp(l, "Number of files: ", 17) == 0) {
			uint64_t nf = 0;

			for (const char *p = l + 17; *p && *p != ' '; p++)
				if (*p >= '0' && *p <= '9')
					nf = nf * 10 + (uint64_t)(*p - '0');
			res.entries = nf;
			continue;
		}
		if (!t1 || !t2 || t1 - l != 11)
			continue;
		*t1 = *t2 = '\0';
		memcpy(it.item, l, 11);
		unescape(t1 + 1);
		len = strlen(t1 + 1);
		it.is_dir = it.item[1] == 'd';
		while (len > 0 && t1[len] == '/') {
			t1[len--] = '\0';
			it.is_dir = true;
		}
		if (len == 0 || strcmp(t1 + 1, ".") == 0)
			it.path = strdup(".");
		else
			it.path = strdup(t1 + 1);
		it.deleted = strncmp(it.item, "*deleting", 9) == 0;
		it.created = !it.deleted && strspn(it.item + 2, "+") == 9;
		if (it.item[0] == 'h' && strncmp(t2 + 1, " => ", 4) == 0) {
			unescape(t2 + 5);
			it.other = strdup(t2 + 5);
		}
		if (!it.path || (it.item[0] == 'h' && !it.other && strncmp(t2 + 1, " => ", 4) == 0)) {
			free(it.path);
			r = -ENOMEM;
			goto out;
		}
		if (!v_keep(o, it.path, it.is_dir)) {
			/* a protected extra entry: what holds it is kept, not extra */
			char **np = it.deleted ? realloc(prot, (n_prot + 1) * sizeof(*np)) : NULL;

			free(it.other);
			if (it.deleted && !np) {
				free(it.path);
				r = -ENOMEM;
				goto out;
			}
			if (it.deleted) {
				prot = np;
				prot[n_prot++] = it.path;
			} else {
				free(it.path);
			}
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct vitem *ni = realloc(items, nc * sizeof(*ni));

			if (!ni) {
				free(it.path);
				free(it.other);
				r = -ENOMEM;
				goto out;
			}
			items = ni;
			cap = nc;
		}
		items[n++] = it;
	}
	if (n)
		qsort(items, n, sizeof(*items), vitem_cmp);
	/* a path deleted and created: its type differs */
	for (size_t i = 0; i + 1 < n; i++)
		if (strcmp(items[i].path, items[i + 1].path) == 0 && items[i].deleted &&
		    items[i + 1].created) {
			items[i + 1].deleted = true; /* marks: type */
			items[i].skip = true;
		}
	/* extra directories holding protected entries */
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(items[i].path);

		if (!items[i].deleted || items[i].created || !items[i].is_dir)
			continue;
		for (size_t j = 0; j < n_prot && !items[i].holder; j++)
			items[i].holder = strncmp(prot[j], items[i].path, l) == 0 &&
					  prot[j][l] == '/';
	}
	/* not descended: entries under a missing, extra or retyped directory */
	for (size_t i = 0, top = SIZE_MAX; i < n; i++) {
		size_t tl = top == SIZE_MAX ? 0 : strlen(items[top].path);

		if (top != SIZE_MAX && strncmp(items[i].path, items[top].path, tl) == 0 &&
		    items[i].path[tl] == '/') {
			items[i].skip = true;
			continue;
		}
		top = SIZE_MAX;
		if (!items[i].skip && !items[i].holder && (items[i].created || items[i].deleted) &&
		    items[i].is_dir)
			top = i;
	}
	for (size_t i = 0; i < n; i++) {
		struct vitem *it = &items[i];

		if (it->skip || it->holder)
			continue;
		if (it->created && it->deleted) {
			struct stat ss, ds;

			if (src_stat(v.src, it->path, &ss) == 0 && ssh_lstat(v.d, it->path, &ds) == 0)
				vreport(&v, LOAFRE__VD_TYPE, it->path, NULL,
					loafre__repl_type_name(ss.st_mode),
					loafre__repl_type_name(ds.st_mode), NULL);
			else
				vreport(&v, LOAFRE__VD_ERROR, it->path, NULL, NULL, NULL,
					"cannot stat");
		} else if (it->created) {
			/* rsync replaces another type without a "deleting" line */
			struct stat ss, ds;
			int e = ssh_lstat(v.d, it->path, &ds);

			if (e == -ENOENT)
				vreport(&v, LOAFRE__VD_MISSING, it->path, NULL, NULL, NULL, NULL);
			else if (e == 0 && src_stat(v.src, it->path, &ss) == 0)
				vreport(&v, LOAFRE__VD_TYPE, it->path, NULL,
					loafre__repl_type_name(ss.st_mode),
					loafre__repl_type_name(ds.st_mode), NULL);
			else
				vreport(&v, LOAFRE__VD_ERROR, it->path, NULL, NULL, NULL,
					"cannot stat");
		} else if (it->deleted) {
			vreport(&v, LOAFRE__VD_EXTRA, it->path, NULL, NULL, NULL, NULL);
		} else {
			v_compare(&v, it);
		}
	}
	/* hard links rsync would make: split at the destination */
	for (size_t i = 0; i < n; i++) {
		struct vitem *it = &items[i];

		if (it->skip || it->created || it->deleted || !it->other)
			continue;
		if (path_cmp(it->other, it->path) < 0)
			vreport(&v, LOAFRE__VD_LINKS, it->other, it->path, NULL, NULL, "split");
		else
			vreport(&v, LOAFRE__VD_LINKS, it->path, it->other, NULL, NULL, "split");
	}
	r = 0;
out:
	for (size_t i = 0; i < n; i++) {
		free(items[i].path);
		free(items[i].other);
	}
	free(items);
	for (size_t i = 0; i < n_prot; i++)
		free(prot[i]);
	free(prot);
	free(out.p);
	free(err.p);
	loafre__dest_close(v.d);
	close(v.src);
	if (r == 0 && ret)
		*ret = res;
	return r;
}
