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
 * directory), plus the port, identity file and known_hosts file of the
 * options. rsync gets the same command line as -e, so it shares the
 * master. close() stops the master (ssh -O exit).
 *
 * Programs are run with fork + execvp (no local shell) in their own process
 * group, stdin/stdout/stderr through pipes (stdout kept up to a limit per
 * call, stderr up to 4 KiB), a timeout per command after which the process
 * group is killed (-ETIMEDOUT); SIGPIPE is blocked in the calling thread
 * while it writes to a child and a pending one is consumed.
 *
 * Data. copy, mkdir, symlink, mknod (and setattr with xattrs) are
 *   rsync -a -H -A -X --sparse --numeric-ids --force [--usermap=M]
 *         [--groupmap=M] --files-from=- --from0 -e SSH SRCDIR/ [user@]host:ROOT/
 * with the relative path on stdin: rsync writes a temporary name and renames
 * it into place, creates missing parents with their source attributes
 * (implied directories) and translates owners with the id maps (pairs in
 * order, then `*:D`).
 *
 * Namespace operations (rename, unlink, rmdir, link; setattr without xattrs;
 * lstat; list) are one `sh -c SCRIPT` per operation over the master, every
 * path single-quoted ('\'' for a quote) and written as "$R/REL" with R the
 * root (resolved with `pwd -P` once, at open, like the local type follows
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
 * removes the topmost unprotected entries with `xargs -0 rm -rf` (the list
 * on stdin), then -ENOTEMPTY.
 *
 * Script exit statuses: 0 ok, 2 -ENOENT, 20 -ENOTDIR, 39 -ENOTEMPTY, 40
 * -ELOOP, anything else -EIO with the remote's first stderr line. ssh's
 * own 255 (and rsync's 255): -EHOSTUNREACH with ssh's stderr line.
 *
 * Scripts: at most 96 KiB, and the quoted remote command at most 128 KiB
 * (one argument of the remote shell: the kernel's MAX_ARG_STRLEN); else
 * -E2BIG. Missing parents of a rename/link target are made with their
 * source's attributes; directory times are set again from the source after
 * an operation changes a directory's entries (as the local type does).
 *
 * Verify (loafre__verify_ssh): rsync -a -H -A -X -n --delete --numeric-ids
 * [maps] [-c --checksum-choice=xxh128] --stats --out-format='%i\t%n\t%L'
 * (rsync escapes unprintable bytes as \#ooo, so TAB separates): lines
 * "*deleting" = extra, all '+' = missing (or a type change when the remote
 * has the name), "h... => OTHER" = a split hard link, other flags = the
 * entry is compared exactly (local lstat against remote stat -c, readlink,
 * getfattr -e hex). Reported depth first in byte order, like the local
 * verify, not descended below missing/extra/retyped directories.
 *
 * Remote requirements: POSIX sh, GNU coreutils (stat -c, touch -d @S.N,
 * mv -T), findutils (find -printf, xargs -0), rsync; getfattr (attr) for
 * the xattrs in verify.
 */
#include "repl_dest.h"
#include "repl_type.h"
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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define ERR_MAX 4096           /* stderr kept per command */
#define OUT_MAX (64u << 20)    /* stdout kept per command (list, lstat) */
#define SCRIPT_MAX (96u << 10) /* one script (before its quoting) */
#define CMD_MAX ((128u << 10) - 1) /* the remote command: one argument (MAX_ARG_STRLEN) */
#define ARGV_MAX 48

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

struct ssh_dest {
	struct loafre__ssh_spec spec;  /* user, host, path as given */
	char root[PATH_MAX];           /* remote root, resolved at open */
	char target[PATH_MAX + 340];   /* "[user@]host" */
	char ctl[PATH_MAX + 32];       /* ControlPath=DIR/ssh-%C */
	char port[16];                 /* port as text, "" = default */
	char identity[PATH_MAX];       /* identity file, "" = default */
	char known[PATH_MAX + 24];     /* UserKnownHostsFile=F, "" = default */
	char conn_to[40];              /* ConnectTimeout=N */
	char *ssh_e;                   /* rsync -e: the ssh command line */
	char *usermap;                 /* --usermap=..., or NULL */
	char *groupmap;                /* --groupmap=..., or NULL */
	unsigned timeout_ms;           /* per command */
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
	case 20:
		return -ENOTDIR;
	case 39:
		return -ENOTEMPTY;
	case 40:
		return -ELOOP;
	case 255:
		return -EHOSTUNREACH;
	default:
		return -EIO;
	}
}

/* Runs script on the remote (sh -c). stdout into out (may be NULL). */
static int run_script_in(struct ssh_dest *s, const struct sbuf *script, const char *in,
			 size_t in_len, struct sbuf *out, const char *what, char *why)
{
	struct sbuf cmd = { .max = CMD_MAX }, err = { .max = ERR_MAX };
	const char *a[ARGV_MAX];
	char line[LOAFRE__DEST_WHY_MAX];
	int n, st = 0, r;

	if (script->nomem)
		return -ENOMEM;
	if (script->trunc) {
		if (why)
			setwhy(why, "%s: script too long", what);
		return -E2BIG;
	}
	sb_str(&cmd, "sh -c ");
	sb_q(&cmd, script->p);
	if (cmd.trunc) {
		free(cmd.p);
		if (why)
			setwhy(why, "%s: command too long", what);
		return -E2BIG;
	}
	n = ssh_opts(s, a);
	a[n++] = "--";
	a[n++] = s->target;
	a[n++] = cmd.p;
	a[n] = NULL;
	r = cmd.nomem ? -ENOMEM : run((char *const *)a, in, in_len, out, &err, s->timeout_ms, &st);
	if (r == 0 && st != 0) {
		r = status_errno(st);
		first_line(&err, "remote command failed", line, sizeof(line));
		if (why && r == -EHOSTUNREACH)
			setwhy(why, "%s: cannot reach '%s': %s", what,
				 s->target, line);
		else if (why)
			setwhy(why, "%s: %s", what, line);
	} else if (r < 0 && why) {
		setwhy(why, "%s: %s", what,
			 r == -ETIMEDOUT ? "timed out" : strerror(-r));
	}
	free(cmd.p);
	free(err.p);
	return r;
}

static int run_script(struct ssh_dest *s, const struct sbuf *script, struct sbuf *out,
		      const char *what, char *why)
{
	return run_script_in(s, script, NULL, 0, out, what, why);
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

/* rsync of one entry (its parents created as at the source). */
static int rsync_entry(struct loafre__dest *d, int src_root, const char *rel, const char *what,
		       char *why)
{
	struct ssh_dest *s = SD(d);
	struct sbuf b = { .max = SCRIPT_MAX }, err = { .max = ERR_MAX };
	char srcpath[PATH_MAX + 2], dst[sizeof(s->target) + PATH_MAX + 4], proc[64];
	char line[LOAFRE__DEST_WHY_MAX];
	const char *a[ARGV_MAX];
	int n = 0, st = 0, r;
	ssize_t k;

	/* parents: no symlink on the way */
	preamble(s, &b);
	sb_nl(&b, rel);
	r = script_op(d, &b, what, why);
	if (r < 0)
		return r;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", src_root);
	k = readlink(proc, srcpath, sizeof(srcpath) - 2);
	if (k < 0 || (size_t)k >= sizeof(srcpath) - 2) {
		r = k < 0 ? -errno : -ENAMETOOLONG;
		if (why)
			setwhy(why, "%s: cannot find the source root: %s",
				 what, strerror(-r));
		return r;
	}
	srcpath[k] = '\0';
	if (k > 1)
		strcat(srcpath, "/");
	snprintf(dst, sizeof(dst), "%s:%s/", s->target, s->root);
	a[n++] = "rsync";
	a[n++] = "-a";
	a[n++] = "-H";
	a[n++] = "-A";
	a[n++] = "-X";
	a[n++] = "--sparse";
	a[n++] = "--numeric-ids";
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
	r = run((char *const *)a, rel, strlen(rel) + 1, NULL, &err, s->timeout_ms, &st);
	if (r == 0 && st != 0) {
		struct stat sst;

		r = st == 255 ? -EHOSTUNREACH : -EIO;
		if (r == -EIO && src_stat(src_root, rel, &sst) == -ENOENT)
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

static int typed_rsync(struct loafre__dest *d, int src_root, const char *rel, const char *verb,
		       bool (*want)(mode_t), char *why)
{
	char what[PATH_MAX + 32];
	struct stat st;
	int r;

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
	r = rsync_entry(d, src_root, rel, what, why);
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
	return typed_rsync(d, src_root, rel, "copy", is_reg, why);
}

static int ssh_mkdir(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return typed_rsync(d, src_root, rel, "make directory", is_dir, why);
}

static int ssh_symlink(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return typed_rsync(d, src_root, rel, "make symlink", is_lnk, why);
}

static int ssh_mknod(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return typed_rsync(d, src_root, rel, "make special file", is_special, why);
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

/* The start of a script on two destination entries: $o, old_rel (it must
 * exist), and $n, new_rel (its parents created); it exits 0 when they are
 * already one file. */
static void sb_old_new(struct loafre__dest *d, int src_root, struct sbuf *b, const char *old_rel,
		       const char *new_rel)
{
	preamble(SD(d), b);
	sb_nl(b, old_rel);
	sb_nl(b, new_rel);
	sb_str(b, "o=\"$R\"/");
	sb_q(b, old_rel);
	sb_str(b, "; n=\"$R\"/");
	sb_q(b, new_rel);
	sb_str(b, "\nex \"$o\" || die 'no such file at the destination' 2\n"
		   "if [ ! -L \"$o\" ] && [ ! -L \"$n\" ] && [ \"$o\" -ef \"$n\" ]; then exit 0; fi\n");
	sb_parents(d, src_root, b, new_rel);
}

static int ssh_link(struct loafre__dest *d, int src_root, const char *old_rel,
		    const char *new_rel, char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };
	char what[2 * PATH_MAX + 32];

	snprintf(what, sizeof(what), "cannot link '%s' to '%s'", new_rel, old_rel);
	sb_old_new(d, src_root, &b, old_rel, new_rel);
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
	sb_old_new(d, src_root, &b, old_rel, new_rel);
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
 * '%y %P\0'); when something is protected, removes (xargs -0 rm -rf, the
 * list on stdin) the topmost entries that are neither protected, under a
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
	if (r == 0 && rm.len) {
		preamble(SD(d), &b);
		sb_str(&b, "cd -- \"$R\" || exit 1\nexec xargs -0r rm -rf --\n");
		r = run_script_in(SD(d), &b, rm.p, rm.len, NULL, what, why);
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

static int ssh_list(struct loafre__dest *d, const char *rel,
		    int (*fn)(void *arg, const char *name), void *arg)
{
	struct sbuf b = { .max = SCRIPT_MAX }, out = { .max = OUT_MAX };
	int r;

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
		   "exec find \"$f/\" -mindepth 1 -maxdepth 1 -printf '%f\\0'\n");
	r = run_script(SD(d), &b, &out, "list", NULL);
	free(b.p);
	if (r == 0 && out.trunc)
		r = -E2BIG;
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

static int ssh_setattr(struct loafre__dest *d, int src_root, const char *rel, unsigned mask,
		       char *why)
{
	struct sbuf b = { .max = SCRIPT_MAX };
	char what[PATH_MAX + 40];
	struct stat sst, dst;
	int r;

	snprintf(what, sizeof(what), "cannot set the attributes of '%s'", rel[0] ? rel : ".");
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
		if ((mask & LOAFRE__ATTR_XATTR) && (S_ISREG(sst.st_mode) || S_ISDIR(sst.st_mode)))
			return rsync_entry(d, src_root, rel, what, why);
	}
	preamble(SD(d), &b);
	if (rel[0])
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

static void ssh_close(struct loafre__dest *d)
{
	struct ssh_dest *s = SD(d);

	if (!s)
		return;
	stop_master(s);
	free(s->ssh_e);
	free(s->usermap);
	free(s->groupmap);
	free(s);
}

static const struct loafre__dest_ops ssh_ops = {
	.type = "ssh",
	.copy = ssh_copy,
	.mkdir = ssh_mkdir,
	.symlink = ssh_symlink,
	.mknod = ssh_mknod,
	.link = ssh_link,
	.rename = ssh_rename,
	.unlink = ssh_unlink,
	.rmdir = ssh_rmdir,
	.setattr = ssh_setattr,
	.lstat = ssh_lstat,
	.list = ssh_list,
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
	    strlen(so->control_dir) > 80 || (so->identity_file && !word_ok(so->identity_file)) ||
	    (so->known_hosts && !word_ok(so->known_hosts)) || so->port > 65535) {
		if (why)
			snprintf(why, LOAFRE__DEST_WHY_MAX,
				 "invalid ssh options for '%s' (control directory: absolute, at "
				 "most 80 bytes; no spaces or quotes in file names)", spec);
		goto fail;
	}
	snprintf(s->target, sizeof(s->target), "%s%s%s", s->spec.user, s->spec.user[0] ? "@" : "",
		 s->spec.host);
	snprintf(s->ctl, sizeof(s->ctl), "ControlPath=%s/ssh-%%C", so->control_dir);
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
	if (s) {
		if (s->ssh_e)
			stop_master(s);
		free(s->ssh_e);
		free(s->usermap);
		free(s->groupmap);
		free(s);
	}
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
	size_t n = 0, cap = 0;
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
			free(it.path);
			free(it.other);
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
	/* not descended: entries under a missing, extra or retyped directory */
	for (size_t i = 0, top = SIZE_MAX; i < n; i++) {
		size_t tl = top == SIZE_MAX ? 0 : strlen(items[top].path);

		if (top != SIZE_MAX && strncmp(items[i].path, items[top].path, tl) == 0 &&
		    items[i].path[tl] == '/') {
			items[i].skip = true;
			continue;
		}
		top = SIZE_MAX;
		if (!items[i].skip && (items[i].created || items[i].deleted) && items[i].is_dir)
			top = i;
	}
	for (size_t i = 0; i < n; i++) {
		struct vitem *it = &items[i];

		if (it->skip)
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
	free(out.p);
	free(err.p);
	loafre__dest_close(v.d);
	close(v.src);
	if (r == 0 && ret)
		*ret = res;
	return r;
}
