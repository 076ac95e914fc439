/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * daemon.c — loafred's state and event loop (see daemon.h).
 *
 * Every filesystem of the configuration gets its journals opened for
 * writing (created if missing) and recovered by an empty commit, then its
 * source started:
 *   - local: the emulated MDT (lib/localfs.h) fed by a watcher
 *     (lib/watch.h). Start: engine, watcher (first, so that nothing between
 *     the scan and the live events is missed), catch-up rescan (what changed
 *     while loafred was down: appended before live records), commit, sync.
 *     Loop: watcher readable → events become notes; every
 *     commit_interval_ms: flush (notes → records) → commit → sync (the
 *     state is never ahead of the journal). An overflow is logged, counted
 *     and followed by a rescan. A source that cannot start (missing path, no
 *     permission, unwatchable filesystem) is logged once; its journal stays
 *     served and SIGHUP retries.
 *   - lustre: one mirror journal JOURNAL/<MDT> and one liblustreapi reader
 *     per MDT (lib/lustre_source.h): descriptor readable (or every second
 *     while none is open) → read; tick → commit → clear upstream up to the
 *     committed index (batched, forced once a second).
 * Once a second the counters are written to RUN_DIR/stats ("KEY VALUE"
 * lines; `loafre stats` prints them).
 *
 * The consumer broker (lib/broker.h) runs in its own thread, started once
 * the filesystems are open (it opens its own handles on their journals)
 * and stopped before they close. SIGHUP restarts it when the [broker]
 * section, its CurveZMQ key files, a [group] section or the set of
 * MDTs/journals changed, and keeps it otherwise
 * (members stay connected). A broker that cannot start is logged once;
 * loafred carries on without it (SIGHUP retries).
 *
 * Indexers ([index NAME] with in_daemon = yes, lib/indexer.h) run in
 * threads of their own, as broker clients over its ipc:// endpoint,
 * started after the broker and stopped before it; SIGHUP restarts them
 * when their sections, the filesystems or the broker changed.
 *
 * Replication rules ([rule NAME], enabled) each get a worker with the
 * rule's `workers` threads (rules.c, lib/repl_worker.h), also broker
 * clients, started after the indexers and stopped before them; SIGHUP
 * restarts only the rules whose configuration changed, stops those
 * disabled or removed, and retries those that failed to start. Their
 * counters go to the stats file ("rule.NAME.*").
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "broker.h"
#include "broker_auth.h"
#include "indexer.h"
#include "loafre/loafre.h"
#include "localfs.h"
#include "lustre_source.h"
#include "rules.h"
#include "util.h"
#include "watch.h"

#define GC_INTERVAL_NS (60ull * 1000000000ull)
#define PID_FILE_NAME "loafred.pid"
#define STATS_FILE_NAME "stats"

/* One MDT: its journal and, for Lustre, its changelog reader. */
struct mdt_state {
	char *mdt;                     /* "demo-MDT0000" */
	char *journal_dir;             /* its journal directory */
	struct loafre_journal *j;      /* open for writing */
	uint64_t last;                 /* last committed index */
	bool commit_failing;           /* log a failing commit once, not every tick */
	struct loafre__lustre_src *src; /* lustre: the reader, NULL if it failed to open */
	int read_error;                /* lustre: last read error logged (not repeated) */
	int clear_error;               /* lustre: last clear error logged */
	uint64_t retry_ns;             /* lustre: next read attempt while no stream is open */
	uint64_t rate_index;           /* `last` at the previous stats write */
	uint64_t rate_ns;              /* time of the previous stats write (0: none) */
	double read_rate;              /* records/s journaled between the last two writes */
};

struct fs_state {
	char *name;                    /* the fsname */
	enum loafre_fs_type type;      /* local or lustre */
	char *path;                    /* the tree (local) or client mount (lustre) */
	char *journal_base;            /* config `journal` */
	char *user;                    /* lustre: changelog_user */
	bool create_path;              /* local: create path if missing */
	bool cfg_event_queue_system;   /* local: keep the kernel's event-queue limit */
	struct loafre_journal_options opts; /* as configured (for fs_matches) */
	struct mdt_state *mdts;        /* local: one; lustre: one per MDT */
	size_t n_mdts;                 /* entries of mdts */
	struct loafre__lfs *lfs;       /* local: the engine, NULL while not watching */
	struct loafre__watch *w;       /* local: the watcher, NULL while not watching */
	uint64_t caught_up;            /* local: records of the start rescan */
	uint64_t overflows;            /* local: event-queue overflows handled */
	int read_error;                /* local: last watcher error logged */
	int flush_error;               /* local: last flush error logged */
	bool sync_pending;             /* local: the state lags the journal (sync failed) */
};

struct daemon {
	const struct daemon_options *o; /* command-line options */
	const char *config_path;       /* the configuration file */
	struct loafre_config *cfg;     /* the configuration in force */
	struct fs_state *fs;           /* the filesystems served */
	size_t n_fs;                   /* entries of fs */
	int log_target;                /* LOAFRE_LOG_STDERR or LOAFRE_LOG_SYSLOG */
	int log_level;                 /* syslog priority threshold */
	int sfd, tfd;                  /* signalfd, commit timerfd */
	char *pid_file;                /* RUN_DIR/loafred.pid, NULL until written */
	char *stats_file;              /* RUN_DIR/stats */
	bool stats_failing;            /* log a failing stats write once */
	enum loafre__watch_mode watch_mode; /* $LOAFRE_WATCH_MODE (tests), else auto */
	uint64_t next_gc_ns;
	uint64_t next_second_ns;       /* next once-a-second work (stats, clears) */
	struct loafre__broker *broker; /* NULL when not running */
	char *broker_sig;              /* what the running broker was started with */
	struct loafre__indexer **indexers; /* running [index] threads */
	size_t n_indexers;             /* entries of indexers */
	char *index_sig;               /* what they were started with */
	struct loafred_rules rules;    /* replication workers, one per enabled rule */
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

static void mdt_close(struct fs_state *f, struct mdt_state *m)
{
	loafre__lustre_src_close(m->src);
	m->src = NULL;
	if (m->j && loafre_journal_pending(m->j) > 0) {
		int r = loafre_journal_commit(m->j, NULL);
		if (r < 0)
			dlog(LOG_ERR, "%s: cannot commit to journal '%s': %s", f->name, m->journal_dir,
			     strerror(-r));
	}
	loafre_journal_close(m->j);
	free(m->mdt);
	free(m->journal_dir);
	memset(m, 0, sizeof(*m));
}

/* Stops the local source: last events, flush, commit, sync. */
static void local_stop(struct fs_state *f)
{
	struct mdt_state *m = &f->mdts[0];
	struct loafre__lfs_stats ls;
	int r;

	if (!f->lfs)
		return;
	if (f->w)
		loafre__watch_read(f->w);
	r = loafre__lfs_flush(f->lfs);
	if (r < 0)
		dlog(LOG_ERR, "%s: cannot record the last changes: %s", f->name, strerror(-r));
	r = loafre_journal_commit(m->j, NULL);
	if (r < 0)
		dlog(LOG_ERR, "%s: cannot commit to journal '%s': %s", f->name, m->journal_dir,
		     strerror(-r));
	else if ((r = loafre__lfs_sync(f->lfs)) < 0)
		dlog(LOG_ERR, "%s: cannot save the tree state: %s", f->name, strerror(-r));
	loafre__lfs_get_stats(f->lfs, &ls);
	dlog(LOG_INFO, "%s: stopped watching '%s': %llu records, %llu rescans, %llu overflows",
	     f->name, f->path, (unsigned long long)ls.records, (unsigned long long)ls.rescans,
	     (unsigned long long)f->overflows);
	loafre__watch_close(f->w);
	f->w = NULL;
	loafre__lfs_close(f->lfs);
	f->lfs = NULL;
}

static void fs_close(struct fs_state *f)
{
	local_stop(f);
	for (size_t i = 0; i < f->n_mdts; i++)
		mdt_close(f, &f->mdts[i]);
	free(f->mdts);
	free(f->name);
	free(f->path);
	free(f->journal_base);
	free(f->user);
	memset(f, 0, sizeof(*f));
}

static bool fs_matches(const struct fs_state *f, const struct loafre_fs_config *fc)
{
	if (f->type != fc->type || strcmp(f->name, fc->name) != 0 ||
	    strcmp(f->path, fc->path) != 0 || strcmp(f->journal_base, fc->journal) != 0 ||
	    f->create_path != fc->create_path || f->n_mdts != fc->n_mdts ||
	    f->cfg_event_queue_system != fc->event_queue_system ||
	    memcmp(&f->opts, &fc->journal_opts, sizeof(f->opts)) != 0)
		return false;
	if (f->type == LOAFRE_FS_LUSTRE && strcmp(f->user, fc->changelog_user) != 0)
		return false;
	for (size_t i = 0; i < f->n_mdts; i++)
		if (strcmp(f->mdts[i].mdt, fc->mdts[i]) != 0)
			return false;
	return true;
}

static const char *journal_strerror(int r)
{
	return r == -EBADMSG ? "not a loafre journal, or corrupt metadata"
	       : r == -EXDEV ? "it belongs to another MDT"
			     : strerror(-r);
}

/* Opens (creating it if needed) and recovers one MDT's journal. Logs. */
static int mdt_open(struct fs_state *f, struct mdt_state *m, const char *mdt, const char *dir,
		    const struct loafre_journal_options *opts)
{
	uint64_t last = 0;
	int r;

	m->mdt = strdup(mdt);
	m->journal_dir = strdup(dir);
	if (!m->mdt || !m->journal_dir) {
		dlog(LOG_ERR, "%s: out of memory; skipped", f->name);
		return -ENOMEM;
	}
	r = loafre__mkdir_p(m->journal_dir, 0755);
	if (r < 0) {
		dlog(LOG_ERR, "%s: cannot create journal directory '%s': %s; skipped", f->name,
		     m->journal_dir, strerror(-r));
		return r;
	}
	r = loafre_journal_open(m->journal_dir, m->mdt,
				LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, opts, &m->j);
	if (r < 0) {
		dlog(LOG_ERR, "%s: cannot open journal '%s': %s; skipped", f->name, m->journal_dir,
		     journal_strerror(r));
		return r;
	}
	/* An empty commit runs crash recovery. */
	r = loafre_journal_commit(m->j, &last);
	if (r < 0) {
		dlog(LOG_ERR, "%s: cannot recover journal '%s': %s; skipped", f->name,
		     m->journal_dir, strerror(-r));
		return r;
	}
	m->last = last;
	dlog(LOG_INFO, "%s: journal '%s' open for %s, current index %llu", f->name, m->journal_dir,
	     m->mdt, (unsigned long long)last);
	return 0;
}

/* Starts the local source: engine, watcher (first, so nothing is missed),
 * catch-up rescan, commit, sync. On failure logs one line and leaves the
 * filesystem without a source (its journal stays served); SIGHUP retries. */
static void local_start(struct daemon *d, struct fs_state *f)
{
	struct mdt_state *m = &f->mdts[0];
	char *state = NULL;
	const char *what = "cannot watch";
	struct stat sb;
	uint64_t last = 0;
	int r;

	if (f->create_path && (r = loafre__mkdir_p(f->path, 0755)) < 0) {
		what = "cannot create";
		goto fail;
	}
	if (stat(f->path, &sb) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISDIR(sb.st_mode)) {
		r = -ENOTDIR;
		goto fail;
	}
	if (asprintf(&state, "%s/localfs.db", m->journal_dir) < 0) {
		state = NULL;
		r = -ENOMEM;
		goto fail;
	}
	r = loafre__lfs_open(f->path, state, m->j, 0, &f->lfs);
	if (r < 0) {
		what = "cannot open the tree state of";
		goto fail;
	}
	r = loafre__watch_open(f->lfs, f->path, d->watch_mode,
			       f->cfg_event_queue_system ? 0 : LOAFRE__WATCH_UNLIMITED_QUEUE, &f->w);
	if (r < 0)
		goto fail;
	r = loafre__lfs_rescan(f->lfs);
	if (r < 0) {
		what = "cannot scan";
		goto fail;
	}
	f->caught_up = (uint64_t)r;
	r = loafre_journal_commit(m->j, &last);
	if (r < 0) {
		what = "cannot commit the catch-up of";
		goto fail;
	}
	m->last = last;
	r = loafre__lfs_sync(f->lfs);
	if (r < 0) {
		what = "cannot save the tree state of";
		goto fail;
	}
	free(state);
	dlog(LOG_INFO, "%s: watching '%s' (%s): %llu records caught up, current index %llu",
	     f->name, f->path, loafre__watch_mode_name(f->w), (unsigned long long)f->caught_up,
	     (unsigned long long)last);
	return;
fail:
	dlog(LOG_ERR, "%s: %s '%s': %s; not watched (retried on SIGHUP)", f->name, what, f->path,
	     r == -EPERM || r == -EACCES ? "permission denied"
	     : r == -ENOSPC && f->lfs && !f->w
		     ? "no inotify watches left (fs.inotify.max_user_watches)"
		     : strerror(-r));
	free(state);
	loafre__watch_close(f->w);
	f->w = NULL;
	loafre__lfs_close(f->lfs);
	f->lfs = NULL;
}

static void lustre_start(struct fs_state *f)
{
	for (size_t i = 0; i < f->n_mdts; i++) {
		struct mdt_state *m = &f->mdts[i];
		int r;

		if (!m->j || m->src)
			continue;
		r = loafre__lustre_src_open(m->mdt, f->user, m->j, &m->src);
		if (r < 0) {
			dlog(LOG_ERR, "%s: %s: cannot open the changelog source: %s", f->name, m->mdt,
			     strerror(-r));
			m->src = NULL;
		}
	}
}

/* Opens a filesystem's journals and starts its source. Logs and returns <0
 * when the filesystem cannot be served at all. */
static int fs_open(struct daemon *d, const struct loafre_fs_config *fc, struct fs_state *f)
{
	struct loafre_journal_options opts = fc->journal_opts;
	int r = -ENOMEM;

	memset(f, 0, sizeof(*f));
	f->type = fc->type;
	f->create_path = fc->create_path;
	f->cfg_event_queue_system = fc->event_queue_system;
	f->opts = fc->journal_opts;
	f->name = strdup(fc->name);
	f->path = strdup(fc->path);
	f->journal_base = strdup(fc->journal);
	f->user = fc->changelog_user ? strdup(fc->changelog_user) : NULL;
	f->mdts = calloc(fc->n_mdts, sizeof(*f->mdts));
	if (!f->name || !f->path || !f->journal_base || !f->mdts ||
	    (fc->changelog_user && !f->user)) {
		dlog(LOG_ERR, "%s: out of memory; skipped", fc->name);
		goto fail;
	}
	if (fc->type == LOAFRE_FS_LUSTRE) {
		if (!loafre__lustre_available()) {
			dlog(LOG_WARNING, "%s: built without liblustreapi, lustre source disabled",
			     fc->name);
			r = -EOPNOTSUPP;
			goto fail;
		}
		/* A mirror keeps every record the MDT gives (its own mask already
		 * applied upstream). */
		loafre_cl_mask_parse("ALL", 0, &opts.mask);
	}
	f->n_mdts = fc->n_mdts;
	for (size_t i = 0; i < fc->n_mdts; i++) {
		r = mdt_open(f, &f->mdts[i], fc->mdts[i], fc->mdt_journals[i], &opts);
		if (r < 0)
			goto fail;
	}
	if (f->type == LOAFRE_FS_LOCAL)
		local_start(d, f);
	else
		lustre_start(f);
	return 0;
fail:
	fs_close(f);
	return r;
}

/* Brings the open filesystems in line with d->cfg: closes those gone or
 * changed, opens new ones, retries the sources that failed. */
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
			nfs[n] = d->fs[i];
			if (nfs[n].type == LOAFRE_FS_LOCAL && !nfs[n].lfs)
				local_start(d, &nfs[n]);
			else if (nfs[n].type == LOAFRE_FS_LUSTRE)
				lustre_start(&nfs[n]);
			n++;
		} else {
			dlog(LOG_INFO, "%s: closed", d->fs[i].name);
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
		if (fs_open(d, fc, &nfs[n]) == 0)
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

/* ---- stats ------------------------------------------------------------------ */

static const char *mode_key(const struct loafre__watch *w)
{
	switch (loafre__watch_mode(w)) {
	case LOAFRE__WATCH_FANOTIFY_FS: return "fanotify-fs";
	case LOAFRE__WATCH_FANOTIFY_INODE: return "fanotify-inode";
	case LOAFRE__WATCH_INOTIFY: return "inotify";
	default: return "none";
	}
}

/* Replaces `path` with buf (temp file + rename; no fsync: the stats are
 * rewritten every second). */
static int write_small_file(const char *path, const char *buf, size_t len)
{
	char tmp[PATH_MAX];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = loafre__write_all(fd, buf, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Rewrites RUN_DIR/stats: "KEY VALUE" lines, KEY = FSNAME.counter for a
 * local filesystem, MDT.counter for a Lustre MDT. */
static void write_stats(struct daemon *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int r;

	if (!out)
		return;
	fprintf(out, "loafred.pid %ld\nloafred.filesystems %zu\n", (long)getpid(), d->n_fs);
	/* Per MDT, whatever its source: current index and read rate (records
	 * journaled per second since the previous write, about a second ago). */
	for (size_t i = 0; i < d->n_fs; i++) {
		for (size_t k = 0; k < d->fs[i].n_mdts; k++) {
			struct mdt_state *m = &d->fs[i].mdts[k];
			uint64_t now = loafre__mono_ns();
			if (m->rate_ns && now > m->rate_ns)
				m->read_rate = (double)(m->last >= m->rate_index
								? m->last - m->rate_index
								: 0) *
					       1e9 / (double)(now - m->rate_ns);
			m->rate_ns = now;
			m->rate_index = m->last;
			fprintf(out, "mdt.%s.index %llu\nmdt.%s.read_rate %.1f\n", m->mdt,
				(unsigned long long)m->last, m->mdt, m->read_rate);
		}
	}
	for (size_t i = 0; i < d->n_fs; i++) {
		const struct fs_state *f = &d->fs[i];
		if (f->type == LOAFRE_FS_LOCAL) {
			struct loafre__lfs_stats ls = { 0 };
			struct loafre__watch_stats ws = { 0 };
			if (f->lfs)
				loafre__lfs_get_stats(f->lfs, &ls);
			if (f->w)
				loafre__watch_get_stats(f->w, &ws);
			fprintf(out,
				"%s.watching %d\n%s.mode %s\n%s.last_index %llu\n%s.records %llu\n"
				"%s.caught_up %llu\n%s.rescans %llu\n%s.overflows %llu\n%s.events %llu\n"
				"%s.notes %llu\n%s.ignored %llu\n%s.objects %llu\n%s.dirs %llu\n"
				"%s.mark_errors %llu\n",
				f->name, f->w != NULL, f->name, f->w ? mode_key(f->w) : "none", f->name,
				(unsigned long long)f->mdts[0].last, f->name,
				(unsigned long long)ls.records, f->name, (unsigned long long)f->caught_up,
				f->name, (unsigned long long)ls.rescans, f->name,
				(unsigned long long)f->overflows, f->name, (unsigned long long)ws.events,
				f->name, (unsigned long long)ls.notes, f->name,
				(unsigned long long)ls.ignored, f->name, (unsigned long long)ls.objects,
				f->name, (unsigned long long)ls.dirs, f->name,
				(unsigned long long)ws.mark_errors);
			continue;
		}
		for (size_t k = 0; k < f->n_mdts; k++) {
			const struct mdt_state *m = &f->mdts[k];
			struct loafre__lustre_src_stats ss = { 0 };
			if (m->src)
				loafre__lustre_src_get_stats(m->src, &ss);
			fprintf(out,
				"%s.last_index %llu\n%s.received %llu\n%s.appended %llu\n"
				"%s.cleared %llu\n%s.reopens %llu\n%s.last_error %d\n",
				m->mdt, (unsigned long long)m->last, m->mdt,
				(unsigned long long)ss.received, m->mdt,
				(unsigned long long)ss.appended, m->mdt, (unsigned long long)ss.cleared,
				m->mdt, (unsigned long long)ss.reopens, m->mdt, -ss.last_error);
		}
	}
	if (d->broker) {
		static char bs[65536];
		size_t bl = 0;
		loafre__broker_stats(d->broker, bs, sizeof(bs), &bl);
		fwrite(bs, 1, bl, out);
	}
	for (size_t i = 0; i < d->n_indexers; i++) {
		static char is[8192];
		size_t il = 0;
		loafre__indexer_stats(d->indexers[i], is, sizeof(is), &il);
		fwrite(is, 1, il, out);
	}
	loafred_rules_stats(&d->rules, out);
	if (fclose(out) != 0) {
		free(buf);
		return;
	}
	r = write_small_file(d->stats_file, buf, len);
	if (r < 0 && !d->stats_failing)
		dlog(LOG_WARNING, "cannot write '%s': %s", d->stats_file, strerror(-r));
	d->stats_failing = r < 0;
	free(buf);
}

/* ---- broker ------------------------------------------------------------------ */

/* What the broker depends on: its section and every MDT's journal. */
static char *broker_signature(const struct loafre_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return NULL;
	fprintf(out, "%u %u %llu", c->broker.max_credit, c->broker.heartbeat_ms,
		(unsigned long long)c->broker.ephemeral_window);
	for (size_t i = 0; i < c->broker.n_endpoints; i++)
		fprintf(out, " e:%s", c->broker.endpoints[i]);
	{
		/* the curve setting and its key files (a changed allowed list
		 * is reloaded on SIGHUP) */
		char as[1024];
		if (loafre__broker_auth_signature(&c->broker, as, sizeof(as)) >= 0)
			fprintf(out, " a:%s", as);
	}
	for (size_t i = 0; i < c->n_groups; i++) {
		const struct loafre_group_config *g = &c->groups[i];
		fprintf(out, " g:%s:%s:%u", g->name, g->start ? g->start : "", g->batch_ms);
		for (size_t m = 0; m < g->n_modules; m++)
			fprintf(out, ":%s", g->modules[m]);
	}
	for (size_t i = 0; i < c->n_fs; i++)
		for (size_t k = 0; k < c->fs[i].n_mdts; k++)
			fprintf(out, " m:%s=%s", c->fs[i].mdts[k], c->fs[i].mdt_journals[k]);
	if (fclose(out) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- indexers ------------------------------------------------------------------ */

/* What the indexers depend on: every [index] section, the filesystems and
 * the broker endpoints. */
static char *index_signature(const struct loafre_config *c)
{
	char *buf = NULL, *b = broker_signature(c);
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out || !b) {
		if (out)
			fclose(out);
		free(buf);
		free(b);
		return NULL;
	}
	fputs(b, out);
	free(b);
	for (size_t i = 0; i < c->n_indexes; i++) {
		const struct loafre_index_config *x = &c->indexes[i];
		const struct loafre_fs_config *fs = loafre_config_find_fs(c, x->fs);
		fprintf(out, " i:%s:%s:%d:%s:%u:%d:%s:%s", x->name, x->fs, (int)x->backend,
			x->database, x->fetch_threads, x->in_daemon, x->quota_hook ? x->quota_hook : "",
			fs ? fs->path : "");
	}
	if (fclose(out) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void indexers_stop(struct daemon *d)
{
	for (size_t i = 0; i < d->n_indexers; i++)
		loafre__indexer_close(d->indexers[i]);
	free(d->indexers);
	d->indexers = NULL;
	d->n_indexers = 0;
	free(d->index_sig);
	d->index_sig = NULL;
}

/* Starts the [index] threads (in_daemon = yes), or restarts them if what
 * they depend on changed. */
static void indexers_sync(struct daemon *d)
{
	char *sig = index_signature(d->cfg);
	char err[512];

	if (sig && d->index_sig && strcmp(sig, d->index_sig) == 0) {
		free(sig);
		return;
	}
	indexers_stop(d);
	d->index_sig = sig;
	d->indexers = calloc(d->cfg->n_indexes ? d->cfg->n_indexes : 1, sizeof(*d->indexers));
	if (!d->indexers) {
		dlog(LOG_ERR, "out of memory");
		return;
	}
	for (size_t i = 0; i < d->cfg->n_indexes; i++) {
		const struct loafre_index_config *x = &d->cfg->indexes[i];
		struct loafre__indexer_opts o = {.cfg = d->cfg, .ic = x, .log = dlog};
		struct loafre__indexer *ix = NULL;
		int r;

		if (!x->in_daemon)
			continue;
		r = loafre__indexer_open(&o, &ix, err, sizeof(err));
		if (r == 0 && (r = loafre__indexer_start(ix)) < 0)
			snprintf(err, sizeof(err), "cannot start its thread: %s", strerror(-r));
		if (r < 0) {
			dlog(LOG_ERR, "index %s: not started: %s (retried on SIGHUP)", x->name, err);
			loafre__indexer_close(ix);
			continue;
		}
		d->indexers[d->n_indexers++] = ix;
	}
}

static void broker_stop(struct daemon *d)
{
	if (!d->broker)
		return;
	loafre__broker_stop(d->broker);
	d->broker = NULL;
	free(d->broker_sig);
	d->broker_sig = NULL;
	dlog(LOG_INFO, "broker: stopped");
}

/* Starts the broker, or restarts it if what it depends on changed. */
static void broker_sync(struct daemon *d)
{
	char *sig = broker_signature(d->cfg);
	char err[512] = "";
	char eps[1024];
	size_t len = 0;
	int r;

	if (d->broker && sig && d->broker_sig && strcmp(sig, d->broker_sig) == 0) {
		free(sig);
		return;
	}
	broker_stop(d);
	r = loafre__broker_start(d->cfg, dlog, &d->broker, err, sizeof(err));
	if (r < 0) {
		dlog(LOG_ERR, "broker: not started: %s (retried on SIGHUP)", err);
		d->broker = NULL;
		free(sig);
		return;
	}
	d->broker_sig = sig;
	eps[0] = '\0';
	for (size_t i = 0; i < d->cfg->broker.n_endpoints && len < sizeof(eps); i++) {
		int n = snprintf(eps + len, sizeof(eps) - len, "%s%s", i ? " " : "",
				 d->cfg->broker.endpoints[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	dlog(LOG_INFO, "broker: serving %s", eps);
}

/* ---- replication rules ------------------------------------------------------------ */

/* Starts, restarts or stops the rules' workers (rules.c). */
static void rules_sync(struct daemon *d)
{
	char *deps = broker_signature(d->cfg);

	if (!deps) {
		dlog(LOG_ERR, "out of memory; replication rules unchanged");
		return;
	}
	d->rules.log = dlog;
	loafred_rules_sync(&d->rules, d->cfg, deps);
	free(deps);
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
	broker_sync(d);
	indexers_sync(d);
	rules_sync(d);
	if (arm_timer(d) < 0)
		dlog(LOG_ERR, "cannot set the commit timer: %s", strerror(errno));
	fs_list(d, list, sizeof(list));
	dlog(LOG_INFO, "configuration reloaded: %zu filesystem%s (%s)", d->n_fs,
	     d->n_fs == 1 ? "" : "s", list);
}

/* ---- the loop -------------------------------------------------------------- */

/* Reads the watcher's events into notes; an overflow triggers a rescan. */
static void local_read(struct fs_state *f)
{
	int r;

	if (!f->w)
		return;
	r = loafre__watch_read(f->w);
	if (r < 0 && r != f->read_error)
		dlog(LOG_ERR, "%s: cannot read events: %s", f->name, strerror(-r));
	f->read_error = r < 0 ? r : 0;
	if (loafre__watch_take_overflow(f->w)) {
		f->overflows++;
		dlog(LOG_WARNING, "%s: event queue overflowed, reconciling", f->name);
		r = loafre__lfs_rescan(f->lfs);
		if (r < 0)
			dlog(LOG_ERR, "%s: cannot reconcile '%s': %s", f->name, f->path, strerror(-r));
		else
			dlog(LOG_INFO, "%s: reconciled: %d records", f->name, r);
	}
}

/* Commits an MDT's queued records. Returns true when its journal's last
 * committed index is m->last (possibly unchanged). */
static bool mdt_commit(struct fs_state *f, struct mdt_state *m)
{
	uint64_t last;
	int r;

	if (loafre_journal_pending(m->j) == 0)
		return !m->commit_failing;
	r = loafre_journal_commit(m->j, &last);
	if (r < 0) {
		if (!m->commit_failing)
			dlog(LOG_ERR, "%s: cannot commit to journal '%s': %s (will retry)", f->name,
			     m->journal_dir, strerror(-r));
		m->commit_failing = true;
		return false;
	}
	if (m->commit_failing)
		dlog(LOG_INFO, "%s: commits to '%s' work again", f->name, m->journal_dir);
	m->commit_failing = false;
	m->last = last;
	dlog(LOG_DEBUG, "%s: %s: committed %d records, current index %llu", f->name, m->mdt, r,
	     (unsigned long long)last);
	return true;
}

/* A local filesystem's group commit: flush → commit → sync (the state is
 * never ahead of the journal). */
static void local_tick(struct fs_state *f)
{
	int r;

	if (!f->lfs)
		return;
	local_read(f);
	r = loafre__lfs_flush(f->lfs);
	if (r < 0 && r != f->flush_error)
		dlog(LOG_ERR, "%s: cannot record changes: %s", f->name, strerror(-r));
	f->flush_error = r < 0 ? r : 0;
	if (mdt_commit(f, &f->mdts[0]) && (r > 0 || f->sync_pending)) {
		r = loafre__lfs_sync(f->lfs);
		if (r < 0 && !f->sync_pending)
			dlog(LOG_ERR, "%s: cannot save the tree state: %s (will retry)", f->name,
			     strerror(-r));
		f->sync_pending = r < 0;
	} else if (r > 0) {
		f->sync_pending = true;
	}
}

static void lustre_read(struct fs_state *f, struct mdt_state *m, uint64_t now)
{
	int r;

	if (!m->src)
		return;
	m->retry_ns = now + 1000000000ull;
	r = loafre__lustre_src_read(m->src, 4096);
	if (r < 0 && r != m->read_error)
		dlog(LOG_ERR, "%s: %s: cannot read the changelog: %s", f->name, m->mdt,
		     strerror(-r));
	m->read_error = r < 0 ? r : 0;
}

static void lustre_tick(struct fs_state *f, uint64_t now, bool second)
{
	for (size_t i = 0; i < f->n_mdts; i++) {
		struct mdt_state *m = &f->mdts[i];
		int r;

		if (m->src && loafre__lustre_src_fd(m->src) < 0 && now >= m->retry_ns)
			lustre_read(f, m, now);
		if (!mdt_commit(f, m) || !m->src)
			continue;
		r = loafre__lustre_src_committed(m->src, m->last, second);
		if (r < 0 && r != m->clear_error)
			dlog(LOG_ERR, "%s: %s: cannot clear the changelog for %s: %s", f->name,
			     m->mdt, f->user,
			     r == -ENOENT ? "no such changelog user" : strerror(-r));
		m->clear_error = r < 0 ? r : 0;
	}
}

static void on_tick(struct daemon *d)
{
	uint64_t expirations, now = loafre__mono_ns();
	bool gc = now >= d->next_gc_ns;
	bool second = now >= d->next_second_ns;

	if (read(d->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		dlog(LOG_ERR, "cannot read the commit timer: %s", strerror(errno));
	for (size_t i = 0; i < d->n_fs; i++) {
		struct fs_state *f = &d->fs[i];

		if (f->type == LOAFRE_FS_LOCAL)
			local_tick(f);
		else
			lustre_tick(f, now, second);
		for (size_t k = 0; gc && k < f->n_mdts; k++) {
			int r = loafre_journal_gc(f->mdts[k].j, time(NULL));
			if (r > 0)
				dlog(LOG_INFO, "%s: %s: deregistered %d idle changelog reader%s",
				     f->name, f->mdts[k].mdt, r, r == 1 ? "" : "s");
			else if (r < 0)
				dlog(LOG_ERR, "%s: %s: reader garbage collection failed: %s", f->name,
				     f->mdts[k].mdt, strerror(-r));
		}
	}
	if (gc)
		d->next_gc_ns = now + GC_INTERVAL_NS;
	if (second) {
		write_stats(d);
		d->next_second_ns = now + 1000000000ull;
	}
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

/* The poll set: signals, timer, then one descriptor per source. */
struct poll_src {
	struct fs_state *f;   /* the filesystem */
	struct mdt_state *m;  /* lustre: the MDT; NULL for a local watcher */
};

static int build_poll(struct daemon *d, struct pollfd **p, struct poll_src **ps, size_t *cap)
{
	size_t need = 2, n = 2;

	for (size_t i = 0; i < d->n_fs; i++)
		need += d->fs[i].type == LOAFRE_FS_LOCAL ? 0 : d->fs[i].n_mdts;
	if (need > *cap) {
		struct pollfd *np = realloc(*p, need * sizeof(**p));
		struct poll_src *nps;
		if (!np)
			return -ENOMEM;
		*p = np;
		nps = realloc(*ps, need * sizeof(**ps));
		if (!nps)
			return -ENOMEM;
		*ps = nps;
		*cap = need;
	}
	(*p)[0] = (struct pollfd){ .fd = d->sfd, .events = POLLIN };
	(*p)[1] = (struct pollfd){ .fd = d->tfd, .events = POLLIN };
	for (size_t i = 0; i < d->n_fs; i++) {
		struct fs_state *f = &d->fs[i];
		/* Local watchers are drained at every commit tick, not on
		 * POLLIN: waking for each event costs the writers a wakeup per
		 * operation (an inter-processor interrupt each, expensive in a
		 * VM) and slowed them several-fold; a tick every
		 * commit_interval_ms reads everything queued meanwhile. */
		if (f->type == LOAFRE_FS_LOCAL)
			continue;
		for (size_t k = 0; k < f->n_mdts; k++) {
			int fd = f->mdts[k].src ? loafre__lustre_src_fd(f->mdts[k].src) : -1;
			if (fd < 0)
				continue;
			(*p)[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
			(*ps)[n++] = (struct poll_src){ .f = f, .m = &f->mdts[k] };
		}
	}
	return (int)n;
}

int loafred_run(const struct daemon_options *o)
{
	struct daemon d = {
		.o = o, .sfd = -1, .tfd = -1, .log_target = LOAFRE_LOG_STDERR, .log_level = LOG_INFO,
	};
	struct pollfd *p = NULL;
	struct poll_src *ps = NULL;
	size_t pcap = 0;
	const char *env;
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
	/* Hidden, for tests: force one watcher mode. */
	env = getenv("LOAFRE_WATCH_MODE");
	if (env && loafre__watch_parse_mode(env, &d.watch_mode) < 0) {
		dlog(LOG_ERR,
		     "LOAFRE_WATCH_MODE must be auto, fanotify-fs, fanotify-inode or inotify, not '%s'",
		     env);
		goto out;
	}

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
	if (asprintf(&d.stats_file, "%s/%s", d.cfg->run_dir, STATS_FILE_NAME) < 0) {
		d.stats_file = NULL;
		dlog(LOG_ERR, "out of memory");
		goto out;
	}

	sync_filesystems(&d);
	fs_list(&d, list, sizeof(list));
	dlog(LOG_INFO, "loafred %s started: %zu filesystem%s (%s)", loafre_version(), d.n_fs,
	     d.n_fs == 1 ? "" : "s", list);
	broker_sync(&d);
	indexers_sync(&d);
	rules_sync(&d);
	d.next_gc_ns = loafre__mono_ns() + GC_INTERVAL_NS;
	write_stats(&d);
	d.next_second_ns = loafre__mono_ns() + 1000000000ull;

	for (;;) {
		int n = build_poll(&d, &p, &ps, &pcap);

		if (n < 0) {
			dlog(LOG_ERR, "out of memory");
			goto out;
		}
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			dlog(LOG_ERR, "poll: %s", strerror(errno));
			goto out;
		}
		/* Sources first: a tick then commits what they just read. */
		for (int i = 2; i < n; i++) {
			if (!(p[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (ps[i].m)
				lustre_read(ps[i].f, ps[i].m, loafre__mono_ns());
			else
				local_read(ps[i].f);
		}
		if (p[1].revents & POLLIN)
			on_tick(&d);
		/* Last: a reload may move the filesystems (and ps[] with them). */
		if ((p[0].revents & POLLIN) && on_signal(&d))
			break;
	}
	ret = 0;
out:
	loafred_rules_stop(&d.rules); /* before the broker: their last acks reach it */
	indexers_stop(&d); /* before the broker: their last acks reach it */
	broker_stop(&d); /* before the journals close: final clears */
	for (size_t i = 0; i < d.n_fs; i++)
		fs_close(&d.fs[i]);
	free(d.fs);
	free(p);
	free(ps);
	if (d.stats_file) {
		unlink(d.stats_file);
		free(d.stats_file);
	}
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
