/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * daemon.c — loafred's state and event loop (see daemon.h).
 *
 * Each local filesystem of the configuration gets its journal opened for
 * writing (created if missing) and recovered by an empty commit. Today no
 * live source appends yet (the emulated MDT's fanotify source comes next);
 * the timer already group-commits whatever a source queued, so a source only
 * has to call loafre_journal_append from the loop.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "loafre/loafre.h"
#include "util.h"

#define GC_INTERVAL_NS (60ull * 1000000000ull)
#define PID_FILE_NAME "loafred.pid"

struct fs_state {
	char *name;
	char *path;
	char *journal_dir;
	char *mdt;
	struct loafre_journal_options opts;
	struct loafre_journal *j;
	bool commit_failing; /* log a failing commit once, not every tick */
};

struct daemon {
	const struct daemon_options *o;
	const char *config_path;
	struct loafre_config *cfg;
	struct fs_state *fs;
	size_t n_fs;
	int log_target;
	int log_level;
	int sfd, tfd;
	char *pid_file;
	uint64_t next_gc_ns;
};

static struct daemon *the_daemon; /* for dlog only */

static void dlog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dlog(int prio, const char *fmt, ...)
{
	const struct daemon *d = the_daemon;
	va_list ap;

	if (d && prio > d->log_level)
		return;
	va_start(ap, fmt);
	if (d && d->log_target == LOAFRE_LOG_SYSLOG) {
		vsyslog(prio, fmt, ap);
	} else {
		const char *level = prio <= LOG_ERR ? "error: " : prio == LOG_WARNING ? "warning: "
							   : prio == LOG_DEBUG	 ? "debug: "
										 : "";
		char msg[1024];
		vsnprintf(msg, sizeof(msg), fmt, ap);
		fprintf(stderr, "loafred: %s%s\n", level, msg);
	}
	va_end(ap);
}

static void apply_logging(struct daemon *d)
{
	int target = d->o->log_target >= 0 ? d->o->log_target : (int)d->cfg->log;

	if (target == LOAFRE_LOG_SYSLOG && d->log_target != LOAFRE_LOG_SYSLOG)
		openlog("loafred", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (target != LOAFRE_LOG_SYSLOG && d->log_target == LOAFRE_LOG_SYSLOG)
		closelog();
	d->log_target = target;
	d->log_level = d->o->verbose ? LOG_DEBUG : d->cfg->log_level;
}

/* ---- filesystems --------------------------------------------------------- */

static void fs_close(struct fs_state *f)
{
	if (f->j && loafre_journal_pending(f->j) > 0) {
		int r = loafre_journal_commit(f->j, NULL);
		if (r < 0)
			dlog(LOG_ERR, "filesystem %s: cannot commit to journal '%s': %s", f->name,
			     f->journal_dir, strerror(-r));
	}
	loafre_journal_close(f->j);
	free(f->name);
	free(f->path);
	free(f->journal_dir);
	free(f->mdt);
	memset(f, 0, sizeof(*f));
}

static bool fs_matches(const struct fs_state *f, const struct loafre_fs_config *fc)
{
	return fc->type == LOAFRE_FS_LOCAL && strcmp(f->name, fc->name) == 0 &&
	       strcmp(f->path, fc->path) == 0 && strcmp(f->journal_dir, fc->journal) == 0 &&
	       memcmp(&f->opts, &fc->journal_opts, sizeof(f->opts)) == 0;
}

/* Opens a local filesystem's journal. Logs and returns <0 on failure. */
static int fs_open(const struct loafre_fs_config *fc, struct fs_state *f)
{
	uint64_t last = 0;
	int r;

	memset(f, 0, sizeof(*f));
	f->name = strdup(fc->name);
	f->path = strdup(fc->path);
	f->journal_dir = strdup(fc->journal);
	f->mdt = strdup(fc->mdts[0]);
	f->opts = fc->journal_opts;
	if (!f->name || !f->path || !f->journal_dir || !f->mdt) {
		r = -ENOMEM;
		dlog(LOG_ERR, "filesystem %s: out of memory; skipped", fc->name);
		goto fail;
	}
	r = loafre__mkdir_p(f->path, 0755);
	if (r < 0) {
		dlog(LOG_ERR, "filesystem %s: cannot create directory '%s': %s; skipped", f->name,
		     f->path, strerror(-r));
		goto fail;
	}
	r = loafre__mkdir_p(f->journal_dir, 0755);
	if (r < 0) {
		dlog(LOG_ERR, "filesystem %s: cannot create journal directory '%s': %s; skipped",
		     f->name, f->journal_dir, strerror(-r));
		goto fail;
	}
	r = loafre_journal_open(f->journal_dir, f->mdt,
				LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &f->opts, &f->j);
	if (r < 0) {
		dlog(LOG_ERR, "filesystem %s: cannot open journal '%s': %s; skipped", f->name,
		     f->journal_dir,
		     r == -EBADMSG ? "not a loafre journal, or corrupt metadata"
		     : r == -EXDEV ? "it belongs to another MDT"
				   : strerror(-r));
		goto fail;
	}
	/* An empty commit runs crash recovery. */
	r = loafre_journal_commit(f->j, &last);
	if (r < 0) {
		dlog(LOG_ERR, "filesystem %s: cannot recover journal '%s': %s; skipped", f->name,
		     f->journal_dir, strerror(-r));
		goto fail;
	}
	dlog(LOG_INFO, "filesystem %s: journal '%s' open for %s, current index %llu", f->name,
	     f->journal_dir, f->mdt, (unsigned long long)last);
	return 0;
fail:
	fs_close(f);
	return r;
}

/* Brings the open filesystems in line with d->cfg: closes those gone or
 * changed, opens new ones. */
static void sync_filesystems(struct daemon *d)
{
	const struct loafre_config *c = d->cfg;
	struct fs_state *nfs = calloc(c->n_fs ? c->n_fs : 1, sizeof(*nfs));
	size_t n = 0;

	if (!nfs) {
		dlog(LOG_ERR, "out of memory; filesystems unchanged");
		return;
	}
	/* Keep or close the open ones. */
	for (size_t i = 0; i < d->n_fs; i++) {
		bool keep = false;
		for (size_t k = 0; k < c->n_fs && !keep; k++)
			keep = fs_matches(&d->fs[i], &c->fs[k]);
		if (keep) {
			nfs[n++] = d->fs[i];
		} else {
			dlog(LOG_INFO, "filesystem %s: closed", d->fs[i].name);
			fs_close(&d->fs[i]);
		}
	}
	/* Open the new ones. */
	for (size_t k = 0; k < c->n_fs; k++) {
		const struct loafre_fs_config *fc = &c->fs[k];
		bool open = false;

		for (size_t i = 0; i < n && !open; i++)
			open = strcmp(nfs[i].name, fc->name) == 0;
		if (open)
			continue;
		if (fc->type == LOAFRE_FS_LUSTRE) {
			dlog(LOG_WARNING,
			     "filesystem %s: type lustre: the Lustre source is not built into this loafred; skipped",
			     fc->name);
			continue;
		}
		if (fs_open(fc, &nfs[n]) == 0)
			n++;
	}
	free(d->fs);
	d->fs = nfs;
	d->n_fs = n;
}

static void fs_list(const struct daemon *d, char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < d->n_fs && o < cap; i++) {
		int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", d->fs[i].name);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

/* ---- timers, pid file, config ------------------------------------------- */

static int arm_timer(struct daemon *d)
{
	unsigned ms = d->cfg->commit_interval_ms;
	struct itimerspec its = {
		.it_interval = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 },
	};

	its.it_value = its.it_interval;
	if (timerfd_settime(d->tfd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

static int load_config(struct daemon *d, struct loafre_config **ret)
{
	char err[512];
	int r = loafre_config_load(d->config_path, ret, err, sizeof(err));

	if (r < 0)
		dlog(LOG_ERR, "%s", err[0] ? err : strerror(-r));
	return r;
}

static int write_pid_file(struct daemon *d)
{
	char buf[32], *old = NULL;
	size_t len;
	int r, fd;

	r = loafre__mkdir_p(d->cfg->run_dir, 0755);
	if (r < 0) {
		dlog(LOG_ERR, "cannot create run directory '%s': %s", d->cfg->run_dir, strerror(-r));
		return r;
	}
	if (asprintf(&d->pid_file, "%s/%s", d->cfg->run_dir, PID_FILE_NAME) < 0) {
		d->pid_file = NULL;
		return -ENOMEM;
	}
	if (loafre__read_file(d->pid_file, 64, &old, &len) == 0) {
		long pid = strtol(old, NULL, 10);
		free(old);
		if (pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
			dlog(LOG_ERR, "already running as pid %ld (pid file '%s')", pid, d->pid_file);
			free(d->pid_file);
			d->pid_file = NULL;
			return -EBUSY;
		}
	}
	fd = open(d->pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	len = (size_t)snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	r = loafre__write_all(fd, buf, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0)
		return 0;
	unlink(d->pid_file);
fail:
	dlog(LOG_ERR, "cannot write pid file '%s': %s", d->pid_file, strerror(-r));
	free(d->pid_file);
	d->pid_file = NULL;
	return r;
}

static void reload(struct daemon *d)
{
	struct loafre_config *nc = NULL;
	char list[512];

	dlog(LOG_INFO, "SIGHUP: reloading configuration '%s'", d->config_path);
	if (load_config(d, &nc) < 0) {
		dlog(LOG_ERR, "configuration not reloaded; keeping the previous one");
		return;
	}
	if (strcmp(nc->run_dir, d->cfg->run_dir) != 0)
		dlog(LOG_WARNING, "run_dir changes take effect at the next start");
	loafre_config_free(d->cfg);
	d->cfg = nc;
	apply_logging(d);
	sync_filesystems(d);
	if (arm_timer(d) < 0)
		dlog(LOG_ERR, "cannot set the commit timer: %s", strerror(errno));
	fs_list(d, list, sizeof(list));
	dlog(LOG_INFO, "configuration reloaded: %zu filesystem%s (%s)", d->n_fs,
	     d->n_fs == 1 ? "" : "s", list);
}

/* ---- the loop -------------------------------------------------------------- */

static void on_tick(struct daemon *d)
{
	uint64_t expirations, now = loafre__mono_ns();
	bool gc = now >= d->next_gc_ns;

	if (read(d->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		dlog(LOG_ERR, "cannot read the commit timer: %s", strerror(errno));
	for (size_t i = 0; i < d->n_fs; i++) {
		struct fs_state *f = &d->fs[i];
		if (loafre_journal_pending(f->j) > 0) {
			uint64_t last;
			int r = loafre_journal_commit(f->j, &last);
			if (r < 0 && !f->commit_failing) {
				dlog(LOG_ERR, "filesystem %s: cannot commit to journal '%s': %s (will retry)",
				     f->name, f->journal_dir, strerror(-r));
				f->commit_failing = true;
			} else if (r >= 0) {
				if (f->commit_failing)
					dlog(LOG_INFO, "filesystem %s: commits work again", f->name);
				f->commit_failing = false;
				dlog(LOG_DEBUG, "filesystem %s: committed %d records, current index %llu",
				     f->name, r, (unsigned long long)last);
			}
		}
		if (gc) {
			int r = loafre_journal_gc(f->j, time(NULL));
			if (r > 0)
				dlog(LOG_INFO, "filesystem %s: deregistered %d idle changelog reader%s",
				     f->name, r, r == 1 ? "" : "s");
			else if (r < 0)
				dlog(LOG_ERR, "filesystem %s: reader garbage collection failed: %s",
				     f->name, strerror(-r));
		}
	}
	if (gc)
		d->next_gc_ns = now + GC_INTERVAL_NS;
}

/* Returns true when the daemon should stop. */
static bool on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	ssize_t n = read(d->sfd, &si, sizeof(si));

	if (n != (ssize_t)sizeof(si))
		return false;
	switch (si.ssi_signo) {
	case SIGHUP:
		reload(d);
		return false;
	case SIGTERM:
	case SIGINT:
		dlog(LOG_INFO, "%s: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		return true;
	}
	return false;
}

int loafred_run(const struct daemon_options *o)
{
	struct daemon d = {
		.o = o, .sfd = -1, .tfd = -1, .log_target = LOAFRE_LOG_STDERR, .log_level = LOG_INFO,
	};
	sigset_t mask;
	char list[512];
	int ret = 1;

	the_daemon = &d;
	if (o->log_target == LOAFRE_LOG_SYSLOG) {
		openlog("loafred", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		d.log_target = LOAFRE_LOG_SYSLOG;
	}
	d.config_path = loafre_config_path(o->config_path);
	if (load_config(&d, &d.cfg) < 0)
		goto out;
	apply_logging(&d);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (d.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		dlog(LOG_ERR, "cannot set up signal handling: %s", strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	d.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d.tfd < 0 || arm_timer(&d) < 0) {
		dlog(LOG_ERR, "cannot create the commit timer: %s", strerror(errno));
		goto out;
	}
	if (write_pid_file(&d) < 0)
		goto out;

	sync_filesystems(&d);
	fs_list(&d, list, sizeof(list));
	dlog(LOG_INFO, "loafred %s started: %zu filesystem%s (%s)", loafre_version(), d.n_fs,
	     d.n_fs == 1 ? "" : "s", list);
	d.next_gc_ns = loafre__mono_ns() + GC_INTERVAL_NS;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = d.sfd, .events = POLLIN },
			{ .fd = d.tfd, .events = POLLIN },
		};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			dlog(LOG_ERR, "poll: %s", strerror(errno));
			goto out;
		}
		if ((p[0].revents & POLLIN) && on_signal(&d))
			break;
		if (p[1].revents & POLLIN)
			on_tick(&d);
	}
	ret = 0;
out:
	for (size_t i = 0; i < d.n_fs; i++)
		fs_close(&d.fs[i]);
	free(d.fs);
	if (d.pid_file) {
		unlink(d.pid_file);
		free(d.pid_file);
	}
	if (d.tfd >= 0)
		close(d.tfd);
	if (d.sfd >= 0)
		close(d.sfd);
	if (ret == 0)
		dlog(LOG_INFO, "stopped");
	loafre_config_free(d.cfg);
	if (d.log_target == LOAFRE_LOG_SYSLOG)
		closelog();
	the_daemon = NULL;
	return ret;
}
