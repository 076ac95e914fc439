/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * indexer.c — keeping a metadata index current from the broker (see
 * indexer.h, docs/index.md "The indexer").
 *
 * Order of work, and why:
 *   1. open the store, then join the broker group: the group (created at
 *      the newest record the first time) retains every record from the
 *      moment it exists;
 *   2. only then, if the store was never loaded, scan: every change made
 *      after step 1 has a record the group will deliver, and applying a
 *      record the scan already reflects is harmless (apply re-reads the
 *      object), so nothing falls between the scan and the changelog. The
 *      positions written by the scan are each MDT journal's last index as
 *      read after step 1 (records at or below them happened before the
 *      walk began) — or nothing when the journal is not readable here
 *      (another node): then every delivered record is applied;
 *   3. apply batch → commit → ack: an ack never precedes the commit, so a
 *      crash loses nothing (the broker redelivers; apply skips what the
 *      stored position says is done).
 *
 * Events file RUN_DIR/events: one JSON object per line, appended with
 * O_APPEND (a line is one write):
 *   {"time":"2026-11-22T01:02:03Z","type":"quota","index":"demo",
 *    "dir":"/srv/demo/projects","state":"over"|"under",
 *    "bytes":N,"bytes_limit":N,"inodes":N,"inodes_limit":N}
 */
#include "json.h"
#include "indexer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "index_apply.h"
#include "index_fetch.h"
#include "index_scan.h"
#include "index_store.h"
#include "loafre/consumer.h"
#include "loafre/journal.h"
#include "util.h"

#define CREDIT 8192u
#define MERGE_MAX LOAFRE__APPLY_MERGE_MAX /* records applied in one transaction, at most */
#define RETRY_FIRST_MS 1000u
#define RETRY_MAX_MS 30000u
#define QUOTA_INTERVAL_MS 1000u
#define CONNECT_RETRY_MS 2000u
/* the name search's base (docs/index.md "locate"): looked at when idle, at
 * most this often, and rebuilt once this share of it is stale */
#define NAMES_BASE_INTERVAL_MS 10000u
#define NAMES_BASE_DIRTY_PCT 10u

struct ix_mdt {
	char *name;                  /* "demo-MDT0000" */
	char *journal;               /* its journal directory (for the scan's positions) */
	struct loafre__apply *ap;    /* its applier, once the store is open */
};

struct loafre__indexer {
	char *name;                  /* [index NAME] */
	char *fsname;
	enum loafre_fs_type type;
	char *path;                  /* the tree / client mount */
	enum loafre_index_backend backend;
	char *database;              /* path or conninfo (may hold a password: never logged) */
	char *db_label;              /* how messages name it: the path, or "its PostgreSQL database" */
	char *group;                 /* "idx-NAME" */
	unsigned fetch_threads, scan_threads;
	char *quota_hook;            /* or NULL */
	char *events;                /* RUN_DIR/events */
	char *endpoint;
	char *ckeys[3];              /* server, public, secret (or NULL) */
	loafre__indexer_log_fn log;
	struct ix_mdt *mdts;
	size_t n_mdts;

	/* run state (the running thread only) */
	struct loafre__idx *x;
	struct loafre__fetch *fetch;
	struct loafre_consumer *cons;
	struct loafre_batch **queue; /* received, not yet applied (bounded by the credit) */
	size_t nq, qcap;
	uint64_t retry_at_ms, retry_ms;
	int last_error;
	uint64_t next_quota_ms;
	uint64_t scan_log_ms;        /* last scan progress line logged */
	struct loafre_rec *recs;     /* scratch for merged batches */
	size_t recs_cap;

	/* thread */
	pthread_t thread;
	bool started;
	volatile sig_atomic_t stop;

	/* stats, under lock */
	pthread_mutex_t lock;
	const char *state;           /* "connecting", "scanning", "running", "waiting", "failed" */
	uint64_t retries, quota_alerts, scanned, acked_foreign;
	struct loafre__apply_stats ast; /* summed over MDTs */
	uint64_t *positions;         /* per MDT */
};

static uint64_t mono_ms(void)
{
	return loafre__mono_ns() / 1000000u;
}

static void set_state(struct loafre__indexer *ix, const char *state)
{
	pthread_mutex_lock(&ix->lock);
	ix->state = state;
	pthread_mutex_unlock(&ix->lock);
}

static void ix_free(struct loafre__indexer *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n_mdts; i++) {
		free(ix->mdts[i].name);
		free(ix->mdts[i].journal);
	}
	free(ix->mdts);
	free(ix->name);
	free(ix->fsname);
	free(ix->path);
	free(ix->database);
	free(ix->db_label);
	free(ix->group);
	free(ix->quota_hook);
	free(ix->events);
	free(ix->endpoint);
	for (int k = 0; k < 3; k++)
		free(ix->ckeys[k]);
	free(ix->positions);
	free(ix->recs);
	free(ix->queue);
	pthread_mutex_destroy(&ix->lock);
	free(ix);
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static const char *default_endpoint(const struct loafre_config *c)
{
	const struct loafre_broker_config *b = &c->broker;

	for (size_t i = 0; i < b->n_endpoints; i++)
		if (strncmp(b->endpoints[i], "ipc://", 6) == 0)
			return b->endpoints[i];
	if (c->client.broker)
		return c->client.broker;
	return b->n_endpoints ? b->endpoints[0] : NULL;
}

int loafre__indexer_open(const struct loafre__indexer_opts *o, struct loafre__indexer **ret,
			 char *err, size_t errlen)
{
	const struct loafre_fs_config *fs;
	struct loafre__indexer *ix;
	bool oom = false;

	if (!o || !o->cfg || !o->ic || !o->log) {
		snprintf(err, errlen, "indexer: missing options");
		return -EINVAL;
	}
	fs = loafre_config_find_fs(o->cfg, o->ic->fs);
	if (!fs) {
		snprintf(err, errlen, "index %s: unknown filesystem '%s'", o->ic->name, o->ic->fs);
		return -EINVAL;
	}
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		goto nomem;
	pthread_mutex_init(&ix->lock, NULL);
	ix->state = "starting";
	ix->log = o->log;
	ix->type = fs->type;
	ix->backend = o->ic->backend;
	ix->fetch_threads = o->ic->fetch_threads;
	ix->scan_threads = o->scan_threads;
	ix->name = dup_or_null(o->ic->name, &oom);
	ix->fsname = dup_or_null(fs->name, &oom);
	ix->path = dup_or_null(fs->path, &oom);
	ix->database = dup_or_null(o->ic->database, &oom);
	ix->db_label = dup_or_null(o->ic->backend == LOAFRE_INDEX_POSTGRESQL
					   ? "its PostgreSQL database ([index] database)"
					   : o->ic->database,
				   &oom);
	ix->group = dup_or_null(o->ic->group, &oom);
	ix->quota_hook = dup_or_null(o->ic->quota_hook, &oom);
	ix->endpoint = dup_or_null(o->endpoint ? o->endpoint : default_endpoint(o->cfg), &oom);
	ix->ckeys[0] = dup_or_null(o->curve_server_key, &oom);
	ix->ckeys[1] = dup_or_null(o->curve_public_key, &oom);
	ix->ckeys[2] = dup_or_null(o->curve_secret_key, &oom);
	if (asprintf(&ix->events, "%s/events", o->cfg->run_dir) < 0) {
		ix->events = NULL;
		oom = true;
	}
	ix->mdts = calloc(fs->n_mdts ? fs->n_mdts : 1, sizeof(*ix->mdts));
	ix->positions = calloc(fs->n_mdts ? fs->n_mdts : 1, sizeof(*ix->positions));
	if (oom || !ix->mdts || !ix->positions)
		goto nomem;
	for (size_t i = 0; i < fs->n_mdts; i++) {
		ix->mdts[i].name = dup_or_null(fs->mdts[i], &oom);
		ix->mdts[i].journal = dup_or_null(fs->mdt_journals[i], &oom);
		ix->n_mdts++;
	}
	if (oom)
		goto nomem;
	if (!ix->endpoint) {
		snprintf(err, errlen, "index %s: no broker endpoint", o->ic->name);
		ix_free(ix);
		return -EINVAL;
	}
	*ret = ix;
	return 0;
nomem:
	ix_free(ix);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* ---- scan -------------------------------------------------------------------- */

static void scan_progress(void *ctx, const struct loafre__scan_progress *p)
{
	struct loafre__indexer *ix = ctx;
	uint64_t now = mono_ms();

	pthread_mutex_lock(&ix->lock);
	ix->scanned = p->entries;
	pthread_mutex_unlock(&ix->lock);
	if (p->done || now - ix->scan_log_ms >= 5000) {
		ix->scan_log_ms = now;
		ix->log(LOG_INFO, "index %s: scan of %s: %llu entries, %llu directories (%.0f/s)%s",
			ix->name, ix->path, (unsigned long long)p->entries,
			(unsigned long long)p->dirs, p->rate, p->done ? ", done" : "");
	}
}

/* The store's scan state: 1 loaded ("done ..."), 0 never loaded (or an
 * interrupted scan), 2 another process is scanning it right now. */
static int scan_state(struct loafre__indexer *ix)
{
	char v[128];
	long pid;

	if (loafre__idx_get_meta(ix->x, "scan", v, sizeof(v)) < 0)
		return 0;
	if (strncmp(v, "done", 4) == 0)
		return 1;
	if (sscanf(v, "running %ld", &pid) == 1 && pid > 0 && pid != (long)getpid() &&
	    (kill((pid_t)pid, 0) == 0 || errno == EPERM))
		return 2;
	return 0;
}

static int set_scan_meta(struct loafre__idx *x, const char *value)
{
	int r = loafre__idx_begin(x);

	if (r < 0)
		return r;
	r = loafre__idx_set_meta(x, "scan", value);
	if (r < 0) {
		loafre__idx_rollback(x);
		return r;
	}
	return loafre__idx_commit(x);
}

/* Scans the tree into the store (step 2 of the order at the head). */
static int do_scan(struct loafre__indexer *ix, volatile sig_atomic_t *stop)
{
	const char **names = calloc(ix->n_mdts ? ix->n_mdts : 1, sizeof(*names));
	uint64_t *pos = calloc(ix->n_mdts ? ix->n_mdts : 1, sizeof(*pos));
	struct loafre__scan_opts so = {0};
	struct loafre__scan_progress p;
	size_t n = 0;
	char running[64], done[64];
	int r;

	if (!names || !pos) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ix->n_mdts; i++) {
		struct loafre_journal *j = NULL;
		struct loafre_journal_info info;
		if (loafre_journal_open(ix->mdts[i].journal, ix->mdts[i].name, 0, NULL, &j) == 0 &&
		    loafre_journal_info(j, &info) == 0) {
			names[n] = ix->mdts[i].name;
			pos[n++] = info.last_index;
		}
		loafre_journal_close(j);
	}
	snprintf(running, sizeof(running), "running %ld", (long)getpid());
	r = set_scan_meta(ix->x, running);
	if (r < 0)
		goto out;
	set_state(ix, "scanning");
	so.type = ix->type;
	so.threads = ix->scan_threads;
	so.position_mdts = names;
	so.positions = pos;
	so.n_positions = n;
	so.progress = scan_progress;
	so.progress_ctx = ix;
	so.progress_ms = 1000;
	so.interrupted = stop;
	r = loafre__scan(ix->x, ix->path, &so, &p);
	if (r < 0)
		goto out;
	snprintf(done, sizeof(done), "done %lld", (long long)time(NULL));
	r = set_scan_meta(ix->x, done);
out:
	free(names);
	free(pos);
	return r;
}

/* ---- quotas and events ---------------------------------------------------------- */

static void event_append(struct loafre__indexer *ix, const char *json)
{
	int fd = open(ix->events, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	size_t len = strlen(json);

	if (fd < 0)
		return;
	if (write(fd, json, len) != (ssize_t)len) {
		/* best effort: the log line says it too */
	}
	close(fd);
}

/* Runs the hook without waiting: a grandchild, so no zombie is left. */
static void run_hook(struct loafre__indexer *ix, const char *dir, const char *state,
		     const struct loafre__idx_sum *s, const struct loafre__idx_quota *q)
{
	pid_t pid;

	if (!ix->quota_hook)
		return;
	pid = fork();
	if (pid < 0) {
		ix->log(LOG_WARNING, "index %s: cannot run quota_hook: %s", ix->name, strerror(errno));
		return;
	}
	if (pid == 0) {
		char b[32];
		if (fork() != 0)
			_exit(0);
		setenv("LOAFRE_INDEX", ix->name, 1);
		setenv("LOAFRE_QUOTA_DIR", dir, 1);
		setenv("LOAFRE_QUOTA_STATE", state, 1);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)(s->blocks * 512));
		setenv("LOAFRE_QUOTA_BYTES", b, 1);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)q->bytes_limit);
		setenv("LOAFRE_QUOTA_BYTES_LIMIT", b, 1);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)s->inodes);
		setenv("LOAFRE_QUOTA_INODES", b, 1);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)q->inodes_limit);
		setenv("LOAFRE_QUOTA_INODES_LIMIT", b, 1);
		execl("/bin/sh", "sh", "-c", ix->quota_hook, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

struct quota_ctx {
	struct loafre__indexer *ix;
	struct loafre__idx_quota *q; /* collected, checked after the listing */
	size_t n, cap;
};

static int quota_collect(void *ctx, const struct loafre__idx_quota *q)
{
	struct quota_ctx *qc = ctx;

	if (qc->n == qc->cap) {
		size_t nc = qc->cap ? qc->cap * 2 : 16;
		struct loafre__idx_quota *nq = realloc(qc->q, nc * sizeof(*nq));
		if (!nq)
			return -ENOMEM;
		qc->q = nq;
		qc->cap = nc;
	}
	qc->q[qc->n++] = *q;
	return 0;
}

static void quota_check(struct loafre__indexer *ix)
{
	struct quota_ctx qc = {.ix = ix};

	if (loafre__idx_quota_list(ix->x, quota_collect, &qc) < 0)
		goto out;
	for (size_t i = 0; i < qc.n; i++) {
		const struct loafre__idx_quota *q = &qc.q[i];
		struct loafre__idx_sum s;
		char rel[4096], dir[8192], json[9000], ts[32];
		bool over;
		time_t now = time(NULL);
		struct tm tm;

		if (loafre__idx_dirsum(ix->x, &q->dir, &s) < 0)
			continue;
		over = (q->bytes_limit && s.blocks * 512 > q->bytes_limit) ||
		       (q->inodes_limit && s.inodes > q->inodes_limit);
		if (over == q->over)
			continue;
		if (loafre__idx_begin(ix->x) < 0)
			continue;
		if (loafre__idx_quota_mark(ix->x, &q->dir, over) < 0 ||
		    loafre__idx_commit(ix->x) < 0) {
			loafre__idx_rollback(ix->x);
			continue;
		}
		if (loafre__idx_path(ix->x, &q->dir, rel, sizeof(rel)) < 0)
			loafre_fid_format(&q->dir, rel);
		snprintf(dir, sizeof(dir), "%s%s%s", ix->path, rel[0] ? "/" : "", rel);
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		ix->log(over ? LOG_WARNING : LOG_NOTICE,
			"index %s: quota of %s %s: %llu bytes (limit %llu), %llu inodes (limit %llu)",
			ix->name, dir, over ? "exceeded" : "back under its limits",
			(unsigned long long)(s.blocks * 512), (unsigned long long)q->bytes_limit,
			(unsigned long long)s.inodes, (unsigned long long)q->inodes_limit);
		{
			char esc[8192];

			if (loafre__json_quote(dir, strlen(dir), esc, sizeof(esc), NULL) < 0)
				snprintf(esc, sizeof(esc), "null");
			snprintf(json, sizeof(json),
				 "{\"time\":\"%s\",\"type\":\"quota\",\"index\":\"%s\",\"dir\":%s,"
				 "\"state\":\"%s\",\"bytes\":%llu,\"bytes_limit\":%llu,"
				 "\"inodes\":%llu,\"inodes_limit\":%llu}\n",
				 ts, ix->name, esc, over ? "over" : "under",
				 (unsigned long long)(s.blocks * 512),
				 (unsigned long long)q->bytes_limit, (unsigned long long)s.inodes,
				 (unsigned long long)q->inodes_limit);
		}
		event_append(ix, json);
		run_hook(ix, dir, over ? "over" : "under", &s, q);
		pthread_mutex_lock(&ix->lock);
		ix->quota_alerts++;
		pthread_mutex_unlock(&ix->lock);
	}
out:
	free(qc.q);
}

/* At idle: the name search's base rebuilt when NAMES_BASE_DIRTY_PCT % of
 * it is stale (answers are exact either way; a stale share is scanned). */
static void names_base_check(struct loafre__indexer *ix)
{
	int r = loafre__idx_begin(ix->x);

	if (r < 0)
		return;
	r = loafre__idx_names_base(ix->x, NAMES_BASE_DIRTY_PCT);
	if (r >= 0)
		r = loafre__idx_commit(ix->x);
	else
		loafre__idx_rollback(ix->x);
	if (r < 0)
		ix->log(LOG_WARNING, "index %s: cannot rebuild the name search's base: %s", ix->name,
			r == -EIO ? loafre__idx_errmsg(ix->x) : strerror(-r));
}

/* ---- applying ------------------------------------------------------------------ */

static struct ix_mdt *mdt_of(struct loafre__indexer *ix, const char *name, size_t *ret_k)
{
	for (size_t k = 0; k < ix->n_mdts; k++)
		if (strcmp(ix->mdts[k].name, name) == 0) {
			*ret_k = k;
			return &ix->mdts[k];
		}
	return NULL;
}

static void sum_stats(struct loafre__indexer *ix)
{
	struct loafre__apply_stats t = {0};

	for (size_t k = 0; k < ix->n_mdts; k++) {
		struct loafre__apply_stats s;
		if (!ix->mdts[k].ap)
			continue;
		loafre__apply_get_stats(ix->mdts[k].ap, &s);
		t.applied += s.applied;
		t.skipped += s.skipped;
		t.fetches += s.fetches;
		t.gone += s.gone;
		t.errors += s.errors;
		t.orphaned += s.orphaned;
		t.resolved += s.resolved;
		t.conflicts += s.conflicts;
		t.batches += s.batches;
	}
	pthread_mutex_lock(&ix->lock);
	ix->ast = t;
	pthread_mutex_unlock(&ix->lock);
}

/* Applies the queue's head run (batches of one MDT, up to MERGE_MAX
 * records) and acks it. Returns 0 (applied or nothing to do), or -errno
 * (kept for a retry). */
static int apply_head(struct loafre__indexer *ix)
{
	const char *mdt;
	struct ix_mdt *m;
	size_t k, take = 0, n = 0;
	uint64_t last = 0, pos = 0;
	int r;

	if (ix->nq == 0)
		return 0;
	mdt = loafre_batch_mdt(ix->queue[0]);
	m = mdt_of(ix, mdt, &k);
	/* the run of batches of this MDT at the head */
	for (take = 0; take < ix->nq; take++) {
		struct loafre_batch *b = ix->queue[take];
		if (strcmp(loafre_batch_mdt(b), mdt) != 0 ||
		    (take > 0 && n + loafre_batch_count(b) > MERGE_MAX))
			break;
		n += loafre_batch_count(b);
	}
	if (n > ix->recs_cap) {
		struct loafre_rec *nr = realloc(ix->recs, n * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		ix->recs = nr;
		ix->recs_cap = n;
	}
	n = 0;
	for (size_t i = 0; i < take; i++) {
		struct loafre_batch *b = ix->queue[i];
		for (size_t j = 0; j < loafre_batch_count(b); j++) {
			if (loafre_batch_rec(b, j, &ix->recs[n], NULL, NULL) == 0) {
				if (ix->recs[n].index > last)
					last = ix->recs[n].index;
				n++;
			}
		}
	}
	if (m) {
		r = loafre__apply_batch(m->ap, ix->recs, n, &pos);
		if (r < 0)
			return r;
		pthread_mutex_lock(&ix->lock);
		ix->positions[k] = pos;
		pthread_mutex_unlock(&ix->lock);
	} else {
		pthread_mutex_lock(&ix->lock);
		ix->acked_foreign += n;
		pthread_mutex_unlock(&ix->lock);
	}
	/* committed (or not ours): now, and only now, ack */
	if (n) {
		r = loafre_consumer_ack_upto(ix->cons, mdt, last);
		if (r < 0)
			ix->log(LOG_WARNING, "index %s: cannot ack %s up to %llu: %s (redelivered later)",
				ix->name, mdt, (unsigned long long)last, strerror(-r));
	}
	for (size_t i = 0; i < take; i++)
		loafre_batch_free(ix->queue[i]);
	memmove(ix->queue, ix->queue + take, (ix->nq - take) * sizeof(ix->queue[0]));
	ix->nq -= take;
	return 0;
}

static void close_run(struct loafre__indexer *ix)
{
	for (size_t i = 0; i < ix->nq; i++)
		loafre_batch_free(ix->queue[i]);
	ix->nq = 0;
	loafre_consumer_close(ix->cons);
	ix->cons = NULL;
	for (size_t k = 0; k < ix->n_mdts; k++) {
		loafre__apply_close(ix->mdts[k].ap);
		ix->mdts[k].ap = NULL;
	}
	loafre__fetch_close(ix->fetch);
	ix->fetch = NULL;
	loafre__idx_close(ix->x);
	ix->x = NULL;
}

static bool stopping(struct loafre__indexer *ix, volatile sig_atomic_t *stop)
{
	return ix->stop || (stop && *stop);
}

static void nap(struct loafre__indexer *ix, volatile sig_atomic_t *stop, unsigned ms)
{
	for (unsigned t = 0; t < ms && !stopping(ix, stop); t += 50)
		usleep(50000);
}

/* Joins the group; retries until it works or a stop. */
static int connect_broker(struct loafre__indexer *ix, volatile sig_atomic_t *stop)
{
	struct loafre_consumer_options o = {0};
	char err[512];
	int r, logged = 0;

	o.group = ix->group;
	o.start = LOAFRE_CONSUMER_START_NEWEST; /* first time only: see the head */
	o.credit = CREDIT;
	o.curve_server_key = ix->ckeys[0];
	o.curve_public_key = ix->ckeys[1];
	o.curve_secret_key = ix->ckeys[2];
	o.err = err;
	o.errlen = sizeof(err);
	set_state(ix, "connecting");
	while (!stopping(ix, stop)) {
		err[0] = '\0';
		r = loafre_consumer_open(ix->endpoint, &o, &ix->cons);
		if (r == 0) {
			if (logged)
				ix->log(LOG_INFO, "index %s: joined group %s at %s", ix->name,
					ix->group, ix->endpoint);
			return 0;
		}
		if (r != logged)
			ix->log(LOG_WARNING, "index %s: cannot join group %s at %s: %s; retrying",
				ix->name, ix->group, ix->endpoint, err[0] ? err : strerror(-r));
		logged = r;
		nap(ix, stop, CONNECT_RETRY_MS);
	}
	return -EINTR;
}

static int queue_push(struct loafre__indexer *ix, struct loafre_batch *b)
{
	if (ix->nq == ix->qcap) {
		size_t nc = ix->qcap ? ix->qcap * 2 : 64;
		struct loafre_batch **nqv = realloc(ix->queue, nc * sizeof(*nqv));
		if (!nqv)
			return -ENOMEM;
		ix->queue = nqv;
		ix->qcap = nc;
	}
	ix->queue[ix->nq++] = b;
	return 0;
}

/* Loads the store if it never was (step 2). The broker membership is left
 * while scanning (a scan outlives heartbeats); the group, a registered
 * reader of every journal, keeps the records meanwhile. */
static int ensure_scanned(struct loafre__indexer *ix, volatile sig_atomic_t *stop)
{
	int r;

	while (!stopping(ix, stop)) {
		int st = scan_state(ix);
		if (st == 1)
			return 0;
		if (st == 2) {
			set_state(ix, "waiting");
			nap(ix, stop, 1000);
			continue;
		}
		loafre_consumer_close(ix->cons);
		ix->cons = NULL;
		ix->log(LOG_INFO, "index %s: loading the index of %s with a scan", ix->name,
			ix->path);
		r = do_scan(ix, stop);
		if (r == 0)
			return connect_broker(ix, stop);
		if (r == -EINTR)
			return r;
		ix->log(LOG_ERR, "index %s: scan of %s failed: %s; retrying in 30 s", ix->name,
			ix->path, r == -EIO ? loafre__idx_errmsg(ix->x) : strerror(-r));
		nap(ix, stop, 30000);
		r = connect_broker(ix, stop);
		if (r < 0)
			return r;
	}
	return -EINTR;
}

int loafre__indexer_run(struct loafre__indexer *ix, volatile sig_atomic_t *stop)
{
	char err[512];
	uint64_t next_scan_check = 0, next_names_ms = 0;
	bool dirty = false, names_dirty = true;
	int r;

	r = loafre__idx_open(ix->backend == LOAFRE_INDEX_POSTGRESQL ? LOAFRE__IDX_POSTGRESQL
								     : LOAFRE__IDX_SQLITE,
			     ix->database, ix->fsname, LOAFRE__IDX_CREATE, &ix->x, err, sizeof(err));
	if (r < 0) {
		ix->log(LOG_ERR, "index %s: cannot open %s: %s", ix->name, ix->db_label,
			err);
		set_state(ix, "failed");
		return r;
	}
	for (int logged = 0; !stopping(ix, stop);) {
		r = loafre__fetch_open(ix->type, ix->path, ix->fetch_threads, 0, &ix->fetch);
		if (r == 0)
			break;
		if (r != logged)
			ix->log(LOG_WARNING, "index %s: cannot open %s: %s; retrying", ix->name,
				ix->path, strerror(-r));
		logged = r;
		nap(ix, stop, CONNECT_RETRY_MS);
	}
	if (!ix->fetch)
		goto out;
	r = connect_broker(ix, stop);
	if (r == 0)
		r = ensure_scanned(ix, stop);
	if (r < 0)
		goto out;
	for (size_t k = 0; k < ix->n_mdts; k++) {
		struct loafre__apply_opts ao = {.mdt = ix->mdts[k].name,
						.mdt_index = (uint32_t)k,
						.fetch = ix->fetch};
		uint64_t pos = 0;
		r = loafre__apply_open(ix->x, &ao, &ix->mdts[k].ap);
		if (r < 0) {
			ix->log(LOG_ERR, "index %s: cannot start applying %s: %s", ix->name,
				ix->mdts[k].name, strerror(-r));
			goto out;
		}
		if (loafre__idx_get_position(ix->x, ix->mdts[k].name, &pos) == 0)
			ix->positions[k] = pos;
	}
	set_state(ix, "running");
	ix->log(LOG_INFO, "index %s: keeping %s current in %s", ix->name, ix->path, ix->db_label);
	while (!stopping(ix, stop)) {
		struct loafre_batch *b = NULL;
		uint64_t now;

		r = loafre_consumer_recv(ix->cons, ix->nq ? 0 : 200, &b);
		if (r == 0) {
			if (loafre_batch_kind(b) != LOAFRE_BATCH_RECORDS || queue_push(ix, b) < 0)
				loafre_batch_free(b);
			continue; /* drain what arrived before applying */
		}
		if (r != -EAGAIN && r != -EINTR) {
			const char *m = loafre_consumer_error(ix->cons);
			ix->log(LOG_WARNING, "index %s: broker: %s; reconnecting", ix->name,
				m && m[0] ? m : strerror(-r));
			/* what we hold unacked is redelivered to the new member */
			for (size_t i = 0; i < ix->nq; i++)
				loafre_batch_free(ix->queue[i]);
			ix->nq = 0;
			loafre_consumer_close(ix->cons);
			ix->cons = NULL;
			nap(ix, stop, 500);
			if (connect_broker(ix, stop) < 0)
				break;
			continue;
		}
		now = mono_ms();
		if (now >= next_scan_check) {
			next_scan_check = now + 1000;
			if (scan_state(ix) == 2) {
				set_state(ix, "waiting");
				continue;
			}
		}
		if (ix->nq && now >= ix->retry_at_ms) {
			r = apply_head(ix);
			if (r < 0) {
				if (r != ix->last_error)
					ix->log(LOG_ERR, "index %s: cannot apply records: %s; retrying",
						ix->name,
						r == -EIO ? loafre__idx_errmsg(ix->x) : strerror(-r));
				ix->last_error = r;
				ix->retry_ms = ix->retry_ms ? ix->retry_ms * 2 : RETRY_FIRST_MS;
				if (ix->retry_ms > RETRY_MAX_MS)
					ix->retry_ms = RETRY_MAX_MS;
				ix->retry_at_ms = now + ix->retry_ms;
				pthread_mutex_lock(&ix->lock);
				ix->retries++;
				ix->state = "retrying";
				pthread_mutex_unlock(&ix->lock);
			} else {
				if (ix->last_error)
					ix->log(LOG_INFO, "index %s: applying again", ix->name);
				ix->last_error = 0;
				ix->retry_ms = 0;
				dirty = true;
				names_dirty = true;
				set_state(ix, "running");
			}
			sum_stats(ix);
		}
		if (dirty && now >= ix->next_quota_ms) {
			ix->next_quota_ms = now + QUOTA_INTERVAL_MS;
			dirty = false;
			quota_check(ix);
		}
		if (names_dirty && !ix->nq && now >= next_names_ms) {
			uint64_t took;

			names_dirty = false;
			names_base_check(ix);
			took = mono_ms() - now; /* a rebuild: at most 1/20 of the time */
			next_names_ms = now + (took * 20 > NAMES_BASE_INTERVAL_MS ? took * 20
										   : NAMES_BASE_INTERVAL_MS);
		}
	}
	r = 0;
out:
	sum_stats(ix);
	close_run(ix);
	set_state(ix, "stopped");
	return r;
}

static void *indexer_thread(void *arg)
{
	struct loafre__indexer *ix = arg;

	loafre__indexer_run(ix, NULL);
	return NULL;
}

int loafre__indexer_start(struct loafre__indexer *ix)
{
	int r = -pthread_create(&ix->thread, NULL, indexer_thread, ix);

	if (r == 0)
		ix->started = true;
	return r;
}

void loafre__indexer_close(struct loafre__indexer *ix)
{
	if (!ix)
		return;
	if (ix->started) {
		ix->stop = 1;
		pthread_join(ix->thread, NULL);
	}
	ix_free(ix);
}

int loafre__indexer_stats(struct loafre__indexer *ix, char *buf, size_t cap, size_t *len)
{
	int r = 0;

#define OUT(...)                                                                     \
	do {                                                                         \
		int n_ = *len < cap ? snprintf(buf + *len, cap - *len, __VA_ARGS__) : -1; \
		if (n_ < 0 || (size_t)n_ >= cap - *len) {                            \
			r = -ENOBUFS;                                                \
			goto out;                                                    \
		}                                                                    \
		*len += (size_t)n_;                                                  \
	} while (0)
	pthread_mutex_lock(&ix->lock);
	OUT("index.%s.state %s\n", ix->name, ix->state);
	OUT("index.%s.applied %llu\n", ix->name, (unsigned long long)ix->ast.applied);
	OUT("index.%s.skipped %llu\n", ix->name, (unsigned long long)ix->ast.skipped);
	OUT("index.%s.fetches %llu\n", ix->name, (unsigned long long)ix->ast.fetches);
	OUT("index.%s.gone %llu\n", ix->name, (unsigned long long)ix->ast.gone);
	OUT("index.%s.orphaned %llu\n", ix->name, (unsigned long long)ix->ast.orphaned);
	OUT("index.%s.batches %llu\n", ix->name, (unsigned long long)ix->ast.batches);
	OUT("index.%s.retries %llu\n", ix->name, (unsigned long long)ix->retries);
	OUT("index.%s.quota_alerts %llu\n", ix->name, (unsigned long long)ix->quota_alerts);
	OUT("index.%s.scanned %llu\n", ix->name, (unsigned long long)ix->scanned);
	for (size_t k = 0; k < ix->n_mdts; k++)
		OUT("index.%s.position.%s %llu\n", ix->name, ix->mdts[k].name,
		    (unsigned long long)ix->positions[k]);
out:
	pthread_mutex_unlock(&ix->lock);
#undef OUT
	return r;
}
