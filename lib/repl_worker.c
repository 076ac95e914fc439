/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_worker.c — replication workers (lib/repl_worker.h; normative design
 * in docs/design/replication.md, decisions 3-7). Records → operations is
 * lib/repl_ops.c.
 *
 * State directory (loafre__worker_state_dir: FSJOURNAL/replication/NAME):
 *
 *   synced.N     destination N (0-based, in the rule's order) has had its
 *                initial sync: its spec as written, then "\n". Another
 *                content (the rule's destinations changed) = not synced.
 *   sync.lock    flock'ed by the process running an initial sync (one at a
 *                time, also across processes: loafred and `loafre worker`).
 *   failed       the failed list, appended (one write(2) per line, O_APPEND)
 *   retry        a retry request (`loafre rule retry` renames failed to
 *                it); a worker takes it by renaming it to retry.PID.TID,
 *                re-syncs every entry and removes it.
 *
 * Failed list: its format is at the head of lib/repl_failed.c.
 *
 * Threads: `threads` threads each hold one consumer of the group (see the
 * header). Initial sync: thread 0 joins first (creating the group at the
 * newest record: the hand-over), leaves the broker while syncing (the
 * group, a registered reader, keeps the records), then joins again; the
 * others join when it is done.
 */
#include "repl_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "index_fetch.h"
#include "loafre/consumer.h"
#include "repl_dest.h"
#include "repl_ops.h"
#include "rule.h"
#include "util.h"

#define CONNECT_RETRY_MS 2000u
#define DOWN_FIRST_MS 1000u       /* destination unreachable: first retry */
#define DOWN_MAX_MS 60000u        /* ... doubling up to */
#define OP_TRIES 6u               /* other errors: the first try and 5 retries */
#define OP_RETRY_FIRST_MS 100u    /* ... after 100 ms, doubling */
#define CREDIT 1024u              /* records held per member (delay 0) */
#define CREDIT_DELAY 4096u        /* ... with a delay (coalescing) */
#define COALESCE_LOOKAHEAD 512u   /* later records looked at for coalescing */
#define RETRY_CHECK_MS 1000u      /* how often the retry file is looked for */
#define IDLE_WORK_MS 1000u        /* how often an idle worker runs loafre__rop_idle */
#define FID_PATH_TRIES 5          /* fid_path: lookups of a living object that found no path */
#define FID_PATH_WAIT_US 2000     /* fid_path: the wait between them */
#define SYNC_THREADS 4u           /* initial sync walkers per source */
#define MAX_MDTS 4096u

/* ---- the worker ----------------------------------------------------------------- */

/* One destination of the rule. */
struct wdest {
	const struct loafre_rule_dest *cfg; /* the rule's destination (w->cfg owns it) */
	struct loafre__dest *d;        /* open, or NULL (not yet, or down) */
	const char *state;             /* ok | retrying | down | waiting */
	char error[LOAFRE__DEST_WHY_MAX]; /* last error, "" if none */
	uint64_t retry_at_ms;          /* down: next attempt */
	uint64_t backoff_ms;           /* down: the current backoff */
	uint64_t orphans;              /* names an idle check removed (loafre__rop_idle) */
};

/* Per MDT: what was acked (statistics). */
struct wmdt {
	char name[128];                /* MDT name */
	uint64_t last;                 /* highest index acked */
};

struct loafre__worker {
	struct loafre_config *cfg;     /* owned: the configuration as loaded at open */
	const struct loafre_rule_config *rc; /* the rule (in cfg) */
	const struct loafre_fs_config *fs;   /* its filesystem (in cfg) */
	struct loafre__rule *rule;     /* compiled */
	char *endpoint;                /* the broker */
	char *ckeys[3];                /* CURVE server, public, secret (or NULL) */
	char *state_dir;               /* STATE */
	char *control_dir;             /* ssh master sockets */
	unsigned threads;              /* broker members */
	bool no_sync;                  /* skip the initial sync */
	loafre__worker_log_fn log;     /* messages */

	/* prepared by run (under lock) */
	bool prepared;                 /* the fds below are open */
	int *src_roots;                /* per source: O_PATH directory, or -1 */
	struct loafre__fetch *fetch;   /* FID → current path (or NULL) */
	pthread_mutex_t fetch_lock;    /* serializes fetch */
	struct loafre__rop_ctx ctx;    /* what loafre__rop_apply needs */
	struct wdest *dests;           /* per destination */
	size_t n_dests;                /* = the rule's destinations */

	pthread_mutex_t lock;          /* everything below, dests' state */
	pthread_cond_t cv;             /* sync_done changed */
	int sync_done;                 /* 0 not yet, 1 done (or skipped) */
	bool warned_no_paths;          /* logged once: the broker sends no paths */
	const char *state;             /* syncing | running | waiting | retrying | stopped */
	struct loafre__sync_progress sync; /* initial sync progress (summed) */
	uint64_t records;              /* records received */
	uint64_t acked;                /* records acked */
	uint64_t failed;               /* entries written to the failed list */
	uint64_t last_time;            /* cr_time of the newest record acked */
	struct wmdt *mdts;             /* per MDT seen */
	size_t n_mdts;                 /* entries of mdts */
	uint64_t next_retry_check_ms;  /* retry file */
	uint64_t next_idle_ms;         /* idle work (loafre__rop_idle) */
	uint64_t last_apply_ms;        /* when a member last began applying a record */
	uint64_t held;                 /* records the members hold (queued, being applied) */

	pthread_mutex_t fail_lock;     /* appends to the failed list */

	/* start/close */
	pthread_t thread;              /* the thread of loafre__worker_start */
	bool started;                  /* it runs */
	volatile sig_atomic_t stop;    /* set by close */
};

static uint64_t mono_ms(void)
{
	return loafre__mono_ns() / 1000000u;
}

static void set_state(struct loafre__worker *w, const char *s)
{
	pthread_mutex_lock(&w->lock);
	w->state = s;
	pthread_mutex_unlock(&w->lock);
}

static bool stopping(struct loafre__worker *w, volatile sig_atomic_t *stop)
{
	return w->stop || (stop && *stop);
}

static void nap(struct loafre__worker *w, volatile sig_atomic_t *stop, uint64_t ms)
{
	for (uint64_t t = 0; t < ms && !stopping(w, stop); t += 50)
		usleep(50000);
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

int loafre__worker_state_dir(const struct loafre_config *cfg, const char *rule, char *buf,
			     size_t len)
{
	const struct loafre_rule_config *rc = loafre_config_find_rule(cfg, rule);
	const struct loafre_fs_config *fs;
	int n;

	if (!rc || !(fs = loafre_config_find_fs(cfg, rc->fs)))
		return -ENOENT;
	n = snprintf(buf, len, "%s/replication/%s", fs->journal, rc->name);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

static const char *default_endpoint(const struct loafre_config *c)
{
	const struct loafre_broker_config *b = &c->broker;

	if (c->client.broker)
		return c->client.broker;
	for (size_t i = 0; i < b->n_endpoints; i++)
		if (strncmp(b->endpoints[i], "ipc://", 6) == 0)
			return b->endpoints[i];
	return b->n_endpoints ? b->endpoints[0] : NULL;
}

static void worker_free(struct loafre__worker *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_dests; i++)
		loafre__dest_close(w->dests[i].d);
	free(w->dests);
	if (w->src_roots) {
		for (size_t i = 0; w->rc && i < w->rc->n_sources; i++)
			if (w->src_roots[i] >= 0)
				close(w->src_roots[i]);
		free(w->src_roots);
	}
	loafre__fetch_close(w->fetch);
	loafre__rop_moved_free(w->ctx.moved);
	loafre__rule_free(w->rule);
	loafre_config_free(w->cfg);
	free(w->endpoint);
	for (int k = 0; k < 3; k++)
		free(w->ckeys[k]);
	free(w->state_dir);
	free(w->control_dir);
	free(w->mdts);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->fetch_lock);
	pthread_mutex_destroy(&w->fail_lock);
	pthread_cond_destroy(&w->cv);
	free(w);
}

int loafre__worker_open(const struct loafre__worker_opts *o, struct loafre__worker **ret,
			char *err, size_t errlen)
{
	struct loafre__worker *w = NULL;
	char sd[PATH_MAX], why[512];
	bool oom = false, remote = false;
	int r;

	if (!o || !o->cfg || !o->rule || !o->log || !o->cfg->path) {
		snprintf(err, errlen, "worker: missing options");
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto nomem;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->fetch_lock, NULL);
	pthread_mutex_init(&w->fail_lock, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->state = "stopped";
	w->log = o->log;
	w->no_sync = o->no_initial_sync;
	/* The worker keeps a configuration of its own (the compiled rule
	 * borrows from it): the same file, loaded again. */
	r = loafre_config_load(o->cfg->path, &w->cfg, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "rule %s: cannot load the configuration again: %s", o->rule,
			 why);
		goto fail;
	}
	w->rc = loafre_config_find_rule(w->cfg, o->rule);
	if (!w->rc) {
		snprintf(err, errlen, "no rule '%s' in %s", o->rule, o->cfg->path);
		r = -EINVAL;
		goto fail;
	}
	if (!w->rc->enabled) {
		snprintf(err, errlen, "rule %s is disabled", o->rule);
		r = -EINVAL;
		goto fail;
	}
	w->fs = loafre_config_find_fs(w->cfg, w->rc->fs);
	if (!w->fs) {
		snprintf(err, errlen, "rule %s: unknown filesystem '%s'", o->rule, w->rc->fs);
		r = -EINVAL;
		goto fail;
	}
	r = loafre__rule_compile(w->cfg, w->rc, &w->rule, err, errlen);
	if (r < 0)
		goto fail;
	w->threads = o->threads ? o->threads : w->rc->workers;
	if (w->threads < 1)
		w->threads = 1;
	if (w->threads > LOAFRE_RULE_WORKERS_MAX)
		w->threads = LOAFRE_RULE_WORKERS_MAX;
	w->endpoint = dup_or_null(o->endpoint ? o->endpoint : default_endpoint(w->cfg), &oom);
	w->ckeys[0] = dup_or_null(o->curve_server_key, &oom);
	w->ckeys[1] = dup_or_null(o->curve_public_key, &oom);
	w->ckeys[2] = dup_or_null(o->curve_secret_key, &oom);
	if (o->state_dir) {
		w->state_dir = dup_or_null(o->state_dir, &oom);
	} else {
		r = loafre__worker_state_dir(w->cfg, o->rule, sd, sizeof(sd));
		if (r < 0) {
			snprintf(err, errlen, "rule %s: state directory: %s", o->rule, strerror(-r));
			goto fail;
		}
		w->state_dir = dup_or_null(sd, &oom);
	}
	if (o->control_dir) {
		w->control_dir = dup_or_null(o->control_dir, &oom);
	} else if (asprintf(&w->control_dir, "%s/ssh", w->cfg->run_dir) < 0) {
		w->control_dir = NULL;
		oom = true;
	}
	if (oom)
		goto nomem;
	if (!w->endpoint) {
		snprintf(err, errlen, "rule %s: no broker endpoint", o->rule);
		r = -EINVAL;
		goto fail;
	}
	for (size_t i = 0; i < w->rc->n_dests; i++)
		if (w->rc->dests[i].host)
			remote = true;
	if (remote && (strlen(w->control_dir) > 1024 || w->control_dir[0] != '/')) {
		snprintf(err, errlen, "rule %s: ssh control directory '%s' must be absolute, at most "
				      "1024 bytes", o->rule, w->control_dir);
		r = -EINVAL;
		goto fail;
	}
	w->n_dests = w->rc->n_dests;
	w->dests = calloc(w->n_dests ? w->n_dests : 1, sizeof(*w->dests));
	if (!w->dests)
		goto nomem;
	for (size_t i = 0; i < w->n_dests; i++) {
		struct loafre__ssh_spec spec;

		w->dests[i].cfg = &w->rc->dests[i];
		w->dests[i].state = "waiting";
		if (w->rc->dests[i].host &&
		    loafre__ssh_spec_parse(w->rc->dests[i].spec, &spec) < 0) {
			snprintf(err, errlen, "rule %s: bad destination '%s'", o->rule,
				 w->rc->dests[i].spec);
			r = -EINVAL;
			goto fail;
		}
	}
	*ret = w;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	r = -ENOMEM;
fail:
	worker_free(w);
	return r;
}

/* ---- destinations ---------------------------------------------------------------- */

/* Opens destination i if it is not (caller holds nothing). 0, or -errno
 * (down: retried later). */
static int dest_get(struct loafre__worker *w, size_t i, struct loafre__dest **ret)
{
	struct wdest *wd = &w->dests[i];
	const struct loafre_rule_dest *dc = wd->cfg;
	struct loafre__dest_opts opts = {
		.uid_map = &dc->uid_map,
		.gid_map = &dc->gid_map,
		.protect = loafre__rop_protect,
		.protect_arg = w->rule,
	};
	struct loafre__dest *d = NULL;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	uint64_t now = mono_ms();
	int r;

	pthread_mutex_lock(&w->lock);
	if (wd->d) {
		*ret = wd->d;
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	if (now < wd->retry_at_ms) {
		pthread_mutex_unlock(&w->lock);
		return -EHOSTUNREACH;
	}
	/* one opener at a time: the others see it down until then */
	wd->retry_at_ms = now + (wd->backoff_ms ? wd->backoff_ms : DOWN_FIRST_MS);
	pthread_mutex_unlock(&w->lock);
	if (dc->host) {
		struct loafre__ssh_opts so = {
			.control_dir = w->control_dir,
			.port = dc->port,
			.identity_file = dc->identity,
			.known_hosts = dc->known_hosts,
		};
		if (loafre__mkdir_p(w->control_dir, 0700) == 0)
			chmod(w->control_dir, 0700);
		r = loafre__dest_open_ssh(dc->spec, &so, &opts, &d, why);
	} else {
		r = loafre__dest_open_local(dc->path, &opts, &d);
		if (r < 0)
			snprintf(why, sizeof(why), "cannot open '%s': %s", dc->path, strerror(-r));
	}
	pthread_mutex_lock(&w->lock);
	if (r == 0) {
		wd->d = d;
		wd->state = "ok";
		wd->backoff_ms = 0;
		wd->retry_at_ms = 0;
		*ret = d;
	} else {
		if (strcmp(wd->error, why) != 0)
			w->log(LOG_WARNING, "rule %s: destination %s is unreachable: %s; retrying",
			       w->rc->name, dc->spec, why);
		snprintf(wd->error, sizeof(wd->error), "%s", why);
		wd->state = "down";
		wd->backoff_ms = wd->backoff_ms ? wd->backoff_ms * 2 : DOWN_FIRST_MS;
		if (wd->backoff_ms > DOWN_MAX_MS)
			wd->backoff_ms = DOWN_MAX_MS;
		wd->retry_at_ms = mono_ms() + wd->backoff_ms;
		r = loafre__rop_dest_down(r) ? r : -EHOSTUNREACH;
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

/* An operation on destination i failed as unreachable: back off (an ssh
 * destination makes a new master connection by itself when it is back). */
static void dest_down(struct loafre__worker *w, size_t i, const char *why)
{
	struct wdest *wd = &w->dests[i];
	uint64_t now = mono_ms();

	pthread_mutex_lock(&w->lock);
	if (strcmp(wd->error, why) != 0 || strcmp(wd->state, "down") != 0)
		w->log(LOG_WARNING, "rule %s: destination %s is unreachable: %s; retrying",
		       w->rc->name, wd->cfg->spec, why);
	snprintf(wd->error, sizeof(wd->error), "%s", why);
	wd->state = "down";
	if (now >= wd->retry_at_ms) { /* a retry failed (not another thread's op) */
		wd->backoff_ms = wd->backoff_ms ? wd->backoff_ms * 2 : DOWN_FIRST_MS;
		if (wd->backoff_ms > DOWN_MAX_MS)
			wd->backoff_ms = DOWN_MAX_MS;
		wd->retry_at_ms = now + wd->backoff_ms;
	}
	pthread_mutex_unlock(&w->lock);
}

/* Whether destination i is down and not to be tried before its backoff. */
static bool dest_resting(struct loafre__worker *w, size_t i)
{
	struct wdest *wd = &w->dests[i];
	bool r;

	pthread_mutex_lock(&w->lock);
	r = strcmp(wd->state, "down") == 0 && mono_ms() < wd->retry_at_ms;
	pthread_mutex_unlock(&w->lock);
	return r;
}

static void dest_ok(struct loafre__worker *w, size_t i)
{
	struct wdest *wd = &w->dests[i];

	pthread_mutex_lock(&w->lock);
	if (strcmp(wd->state, "ok") != 0) {
		if (strcmp(wd->state, "down") == 0)
			w->log(LOG_INFO, "rule %s: destination %s is back", w->rc->name,
			       wd->cfg->spec);
		wd->state = "ok";
	}
	wd->backoff_ms = 0;
	wd->retry_at_ms = 0;
	pthread_mutex_unlock(&w->lock);
}

/* ---- failed list ------------------------------------------------------------------ */

static void failed_append(struct loafre__worker *w, const char *mdt, uint64_t index,
			  enum loafre__dest_op kind, int err, size_t di, const char *path,
			  const char *path2, const char *message)
{
	struct loafre__failed_ent e = {
		.time = (uint64_t)time(NULL),
		.mdt = mdt,
		.index = mdt ? index : 0,
		.op = loafre__dest_op_name(kind),
		.path = path,
		.path2 = path2,
		.dest = w->dests[di].cfg->spec,
		.err = err,
		.message = message,
	};
	char *line = malloc(LOAFRE__FAILED_LINE_MAX + 1), p[PATH_MAX + 16];
	int n, fd = -1;

	if (!line)
		goto out;
	n = loafre__failed_format(&e, line, LOAFRE__FAILED_LINE_MAX + 1);
	if (n < 0)
		goto out;
	snprintf(p, sizeof(p), "%s/failed", w->state_dir);
	pthread_mutex_lock(&w->fail_lock);
	fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || loafre__write_all(fd, line, (size_t)n) < 0)
		w->log(LOG_ERR, "rule %s: cannot append to the failed list '%s': %s",
		       w->rc->name, p, strerror(errno));
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&w->fail_lock);
	pthread_mutex_lock(&w->lock);
	w->failed++;
	pthread_mutex_unlock(&w->lock);
	w->log(LOG_WARNING, "rule %s: %s %s at %s failed for good (failed list): %s",
	       w->rc->name, loafre__dest_op_name(kind), path, w->dests[di].cfg->spec, message);
out:
	free(line);
}

/* ---- applying one plan to every destination ---------------------------------------- */

/* Outcome of apply_all. */
#define APPLY_DONE 0   /* every destination has it (or the failed list) */
#define APPLY_DOWN 1   /* a destination is down: not acked, retry later */

struct job {
	uint64_t done_mask;  /* destinations that have it */
	unsigned tries;      /* failed tries (other errors), of the current destination */
	uint64_t retry_at;   /* next try (mono ms) */
};

/* Applies plans[0..n) to every destination not in j->done_mask. Returns
 * APPLY_DONE or APPLY_DOWN (j->retry_at set). */
static int apply_all(struct loafre__worker *w, const struct loafre__rop_plan *plans, size_t n,
		     const struct loafre_rec *rec, const char *mdt, struct job *j)
{
	char why[LOAFRE__DEST_WHY_MAX];
	bool down = false;

	for (size_t di = 0; di < w->n_dests; di++) {
		struct loafre__dest *d;
		enum loafre__dest_op kind = LOAFRE__DOP_COPY;
		int r = 0;

		if (j->done_mask & (1ull << di))
			continue;
		if (dest_resting(w, di)) {
			down = true;
			continue;
		}
		r = dest_get(w, di, &d);
		if (r < 0) {
			down = true;
			continue;
		}
		for (size_t k = 0; r == 0 && k < n; k++) {
			r = loafre__rop_apply(&w->ctx, d, w->dests[di].cfg, &plans[k], rec, why,
					      &kind);
			w->log(LOG_DEBUG, "rule %s: %s:%llu %s %s%s%s at %s: %s", w->rc->name,
			       mdt ? mdt : "-", (unsigned long long)(rec ? rec->index : 0),
			       loafre__rop_name(plans[k].op), plans[k].fspath2 ? plans[k].fspath2 : "",
			       plans[k].fspath2 ? " -> " : "", plans[k].fspath,
			       w->dests[di].cfg->spec, r < 0 ? why : "ok");
		}
		if (r == 0) {
			dest_ok(w, di);
			j->done_mask |= 1ull << di;
			j->tries = 0;
			continue;
		}
		if (loafre__rop_dest_down(r) || (r == -EIO && w->dests[di].cfg->host &&
						 strstr(why, "ssh") != NULL)) {
			dest_down(w, di, why);
			down = true;
			continue;
		}
		pthread_mutex_lock(&w->lock);
		snprintf(w->dests[di].error, sizeof(w->dests[di].error), "%s", why);
		w->dests[di].state = "retrying";
		pthread_mutex_unlock(&w->lock);
		if (++j->tries < OP_TRIES) {
			j->retry_at = mono_ms() + (OP_RETRY_FIRST_MS << (j->tries - 1));
			return APPLY_DOWN;
		}
		/* for good: the failed list, and on */
		for (size_t k = 0; k < n; k++)
			failed_append(w, mdt, rec ? rec->index : 0, kind, r, di, plans[k].fspath,
				      plans[k].fspath2, why);
		dest_ok(w, di);
		j->tries = 0;
		j->done_mask |= 1ull << di;
	}
	if (down) {
		uint64_t at = UINT64_MAX;
		pthread_mutex_lock(&w->lock);
		for (size_t di = 0; di < w->n_dests; di++)
			if (!(j->done_mask & (1ull << di)) && w->dests[di].retry_at_ms < at)
				at = w->dests[di].retry_at_ms;
		pthread_mutex_unlock(&w->lock);
		j->retry_at = at == UINT64_MAX ? mono_ms() + DOWN_FIRST_MS : at;
		return APPLY_DOWN;
	}
	return APPLY_DONE;
}

/* ---- initial sync ------------------------------------------------------------------ */

struct sync_cb {
	struct loafre__worker *w;         /* the worker */
	size_t di;                        /* destination */
	size_t src;                       /* source being synced */
	struct loafre__sync_progress base; /* progress before this source */
	bool down;                        /* an error said the destination is unreachable */
};

static void sync_progress(void *arg, const struct loafre__sync_progress *p)
{
	struct sync_cb *sc = arg;
	struct loafre__worker *w = sc->w;

	pthread_mutex_lock(&w->lock);
	w->sync.entries = sc->base.entries + p->entries;
	w->sync.copied = sc->base.copied + p->copied;
	w->sync.bytes = sc->base.bytes + p->bytes;
	w->sync.deleted = sc->base.deleted + p->deleted;
	w->sync.errors = sc->base.errors + p->errors;
	pthread_mutex_unlock(&w->lock);
}

static void sync_error(void *arg, const char *rel, int err, const char *why)
{
	struct sync_cb *sc = arg;
	struct loafre__worker *w = sc->w;
	const char *s = w->rc->sources[sc->src];
	char p[PATH_MAX];
	int n;

	if (loafre__rop_dest_down(-abs(err))) {
		sc->down = true;
		return; /* the whole sync is done again */
	}
	/* on the failed list (MDT "-"): `loafre rule retry` syncs it again */
	n = snprintf(p, sizeof(p), "%s%s%s", strcmp(s, "/") == 0 ? "" : s, rel[0] ? "/" : "", rel);
	if (n > 0 && (size_t)n < sizeof(p))
		failed_append(w, NULL, 0, LOAFRE__DOP_COPY, -abs(err), sc->di, p[0] ? p : "/", NULL,
			      why && why[0] ? why : "initial sync failed");
}

static bool dest_synced(struct loafre__worker *w, size_t i)
{
	char p[PATH_MAX], *buf = NULL;
	size_t len = 0;
	bool ok;

	snprintf(p, sizeof(p), "%s/synced.%zu", w->state_dir, i);
	if (loafre__read_file(p, 65536, &buf, &len) < 0)
		return false;
	ok = len == strlen(w->dests[i].cfg->spec) + 1 && buf[len - 1] == '\n' &&
	     memcmp(buf, w->dests[i].cfg->spec, len - 1) == 0;
	free(buf);
	return ok;
}

/* Syncs every destination not synced yet. 0, -EINTR (stopped), or -errno. */
static int initial_sync(struct loafre__worker *w, volatile sig_atomic_t *stop)
{
	char lockp[PATH_MAX];
	int lfd, r = 0;

	snprintf(lockp, sizeof(lockp), "%s/sync.lock", w->state_dir);
	lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lfd < 0)
		return -errno;
	while (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			r = -errno;
			goto out;
		}
		if (stopping(w, stop)) {
			r = -EINTR;
			goto out;
		}
		set_state(w, "syncing");
		nap(w, stop, 200); /* another process syncs: then we see synced.N */
	}
	for (size_t di = 0; di < w->n_dests && !stopping(w, stop); di++) {
		const struct loafre_rule_dest *dc = w->dests[di].cfg;
		struct sync_cb sc = {.w = w, .di = di};
		struct loafre__dest *d;
		bool failed = false;
		char name[64];

		if (dest_synced(w, di))
			continue;
		set_state(w, "syncing");
		w->log(LOG_INFO, "rule %s: initial sync of %s to %s", w->rc->name,
		       w->rc->n_sources == 1 ? w->rc->sources[0] : "its sources", dc->spec);
		while ((r = dest_get(w, di, &d)) < 0 && !stopping(w, stop))
			nap(w, stop, 200);
		if (r < 0) {
			r = -EINTR;
			goto out;
		}
		for (size_t s = 0; s < w->rc->n_sources; s++) {
			struct loafre__rop_filter_arg fa = {
				.rule = w->rule, .src = (unsigned)s, .src_root = w->src_roots[s]};
			struct loafre__sync_opts so = {
				.threads = SYNC_THREADS,
				/* several sources merge into the root: no deletion there */
				.delete = w->rc->n_sources == 1,
				.filter = loafre__rop_filter,
				.filter_arg = &fa,
				.progress = sync_progress,
				.progress_arg = &sc,
				.error = sync_error,
				.error_arg = &sc,
			};
			struct loafre__sync_progress p = {0};

			if (w->src_roots[s] < 0) {
				w->log(LOG_WARNING, "rule %s: source %s is missing: not synced",
				       w->rc->name, w->rc->sources[s]);
				continue;
			}
			pthread_mutex_lock(&w->lock);
			sc.base = w->sync;
			pthread_mutex_unlock(&w->lock);
			sc.src = s;
			r = loafre__dest_sync_tree(d, w->src_roots[s], "", &so, &p);
			sync_progress(&sc, &p);
			if (r == -EIO && !sc.down) {
				failed = true;
				r = 0;
			}
			if (r < 0 || sc.down)
				break;
		}
		if (r < 0 || sc.down) {
			char why[LOAFRE__DEST_WHY_MAX];
			snprintf(why, sizeof(why), "initial sync: %s", strerror(r < 0 ? -r : EHOSTUNREACH));
			dest_down(w, di, why);
			di--; /* again, after the backoff */
			nap(w, stop, DOWN_FIRST_MS);
			r = 0;
			continue;
		}
		snprintf(name, sizeof(name), "synced.%zu", di);
		{
			char *text = NULL;
			if (asprintf(&text, "%s\n", dc->spec) < 0) {
				r = -ENOMEM;
				goto out;
			}
			r = loafre__write_file_atomic(w->state_dir, name, text, strlen(text));
			free(text);
		}
		if (r < 0) {
			w->log(LOG_ERR, "rule %s: cannot write %s/%s: %s", w->rc->name, w->state_dir,
			       name, strerror(-r));
			goto out;
		}
		pthread_mutex_lock(&w->lock);
		w->log(LOG_INFO, "rule %s: initial sync to %s done: %llu entries, %llu copied, "
				 "%llu bytes%s",
		       w->rc->name, dc->spec, (unsigned long long)w->sync.entries,
		       (unsigned long long)w->sync.copied, (unsigned long long)w->sync.bytes,
		       failed ? " (some entries failed: see the failed list)" : "");
		pthread_mutex_unlock(&w->lock);
	}
	if (stopping(w, stop))
		r = -EINTR;
out:
	close(lfd); /* releases the lock */
	return r;
}

/* ---- retry requests --------------------------------------------------------------- */

struct retry_ctx {
	struct loafre__worker *w;      /* the worker */
	volatile sig_atomic_t *stop;   /* the caller's stop flag (or NULL) */
};

static int retry_one(void *arg, const struct loafre__failed_ent *e)
{
	struct retry_ctx *rc = arg;
	struct loafre__worker *w = rc->w;
	const char *paths[2] = {e->path, e->path2};
	size_t di;

	for (di = 0; di < w->n_dests; di++)
		if (strcmp(w->dests[di].cfg->spec, e->dest) == 0)
			break;
	if (di == w->n_dests)
		return 0; /* no longer a destination of the rule */
	for (int k = 0; k < 2; k++) {
		struct loafre__rop_plan pl = {.op = LOAFRE__ROP_SYNC};
		struct job j = {.done_mask = ~(1ull << di)};

		if (!paths[k] || loafre__rop_source_of(w->rule, paths[k], &pl.src, &pl.rel) < 0 ||
		    !pl.rel[0])
			continue;
		pl.fspath = paths[k];
		/* down: until it is back (or a stop: the entry goes back to the list) */
		while (apply_all(w, &pl, 1, NULL, NULL, &j) == APPLY_DOWN) {
			if (stopping(w, rc->stop)) {
				failed_append(w, NULL, 0, LOAFRE__DOP_COPY, -EINTR, di, paths[k],
					      NULL, "retry interrupted");
				break;
			}
			uint64_t now = mono_ms();
			nap(w, rc->stop, j.retry_at > now ? j.retry_at - now : 0);
		}
	}
	return 0;
}

/* Takes and runs a retry request, if there is one. */
static void check_retry(struct loafre__worker *w, volatile sig_atomic_t *stop)
{
	char from[PATH_MAX], to[PATH_MAX + 64];
	struct retry_ctx rc = {.w = w, .stop = stop};
	unsigned line = 0;
	uint64_t now = mono_ms();
	int r;

	pthread_mutex_lock(&w->lock);
	if (now < w->next_retry_check_ms) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	w->next_retry_check_ms = now + RETRY_CHECK_MS;
	pthread_mutex_unlock(&w->lock);
	snprintf(from, sizeof(from), "%s/retry", w->state_dir);
	snprintf(to, sizeof(to), "%s/retry.%ld.%ld", w->state_dir, (long)getpid(),
		 (long)syscall(SYS_gettid));
	if (rename(from, to) < 0)
		return; /* none (or another worker took it) */
	w->log(LOG_INFO, "rule %s: retrying the entries of the failed list", w->rc->name);
	r = loafre__failed_read(to, retry_one, &rc, &line);
	if (r == -EBADMSG)
		w->log(LOG_ERR, "rule %s: retry list '%s': line %u is malformed (left there)",
		       w->rc->name, to, line);
	else if (r < 0)
		w->log(LOG_ERR, "rule %s: cannot read the retry list '%s': %s", w->rc->name, to,
		       strerror(-r));
	else
		unlink(to);
}

/* An idle applier: the work loafre__rop_idle keeps for later, on every
 * open destination that is not down, at most once a second per worker. */
static void idle_work(struct loafre__worker *w)
{
	uint64_t now = mono_ms();
	bool quiet;
	size_t n;

	pthread_mutex_lock(&w->lock);
	if (!w->prepared || now < w->next_idle_ms) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	w->next_idle_ms = now + IDLE_WORK_MS;
	n = w->n_dests;
	/* no member of this worker holds a record, nor began one for a while:
	 * records of this rule are not on their way through it */
	quiet = w->held == 0 && now - w->last_apply_ms >= LOAFRE__ROP_ORPHAN_AGE_MS;
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < n; i++) {
		struct loafre__dest *d;

		/* open destinations stay open until the worker is freed */
		pthread_mutex_lock(&w->lock);
		d = w->dests[i].d && strcmp(w->dests[i].state, "down") != 0 ? w->dests[i].d : NULL;
		pthread_mutex_unlock(&w->lock);
		if (d) {
			unsigned k = loafre__rop_idle(&w->ctx, d, (unsigned)i, quiet);

			pthread_mutex_lock(&w->lock);
			w->dests[i].orphans += k;
			pthread_mutex_unlock(&w->lock);
		}
	}
}

/* ---- one broker member ------------------------------------------------------------- */

struct pend {
	struct loafre_batch *b;  /* its batch (freed with the last record) */
	size_t i;                /* record index in b */
	uint64_t due_ms;         /* when it may be applied (delay) */
	struct loafre_rec rec;   /* decoded */
	bool skip;               /* coalesced into a later record */
};

#define TASK_IDLE 0 /* the applier waits */
#define TASK_BUSY 1 /* it applies m->task */
#define TASK_DONE 2 /* it has: m->task_result */

/* One broker member: this thread receives (and so keeps the broker's
 * heartbeats, also while a long copy runs) and acks; its applier thread
 * applies the head record. */
struct member {
	struct loafre__worker *w;    /* the worker */
	unsigned idx;                /* thread number */
	volatile sig_atomic_t *stop; /* the caller's stop flag (or NULL) */
	struct loafre_consumer *cons; /* the broker member, or NULL (not joined) */
	struct pend *q;              /* received, not acked yet, in delivery order */
	size_t head, n, cap;         /* ring: q[head .. head+n) */
	struct job job;              /* the head record's progress (the applier's while busy) */
	bool have_job;               /* job belongs to the head */

	pthread_t applier;           /* the applier thread */
	bool applier_started;        /* it runs */
	pthread_mutex_t mu;          /* the task fields below */
	pthread_cond_t cv;           /* task_state changed, or quit */
	struct pend task;            /* the head record being applied (its batch stays queued) */
	int task_state;              /* TASK_* */
	int task_result;             /* 0: ack it; 1: not now (job.retry_at) */
	bool quit;                   /* the applier must exit */
};

static struct pend *q_at(struct member *m, size_t k)
{
	return &m->q[(m->head + k) % m->cap];
}

/* Frees batch b if no queued record still uses it. */
static void batch_release(struct member *m, struct loafre_batch *b)
{
	for (size_t k = 0; k < m->n; k++)
		if (q_at(m, k)->b == b)
			return;
	loafre_batch_free(b);
}

static void q_pop(struct member *m)
{
	struct loafre_batch *b = q_at(m, 0)->b;

	pthread_mutex_lock(&m->w->lock);
	m->w->held--;
	pthread_mutex_unlock(&m->w->lock);
	m->head = (m->head + 1) % m->cap;
	m->n--;
	m->have_job = false;
	batch_release(m, b);
}

static void q_clear(struct member *m)
{
	while (m->n)
		q_pop(m);
}

static int q_push_batch(struct member *m, struct loafre_batch *b)
{
	size_t cnt = loafre_batch_count(b);
	uint64_t due = mono_ms() + m->w->rc->delay * 1000u;

	if (cnt == 0) {
		loafre_batch_free(b);
		return 0;
	}
	if (m->n + cnt > m->cap) {
		size_t nc = m->cap ? m->cap : 256;
		struct pend *nq;

		while (nc < m->n + cnt)
			nc *= 2;
		nq = malloc(nc * sizeof(*nq));
		if (!nq) {
			loafre_batch_free(b); /* not acked: redelivered after a reconnect */
			return -ENOMEM;
		}
		for (size_t k = 0; k < m->n; k++)
			nq[k] = *q_at(m, k);
		free(m->q);
		m->q = nq;
		m->head = 0;
		m->cap = nc;
	}
	for (size_t i = 0; i < cnt; i++) {
		struct pend *p = &m->q[(m->head + m->n) % m->cap];

		memset(p, 0, sizeof(*p));
		p->b = b;
		p->i = i;
		p->due_ms = due;
		if (loafre_batch_rec(b, i, &p->rec, NULL, NULL) < 0)
			p->rec.type = LOAFRE_CL_MARK;
		m->n++;
	}
	pthread_mutex_lock(&m->w->lock);
	m->w->records += cnt;
	m->w->held += cnt;
	pthread_mutex_unlock(&m->w->lock);
	return 0;
}

static void m_close(struct member *m)
{
	q_clear(m);
	loafre_consumer_close(m->cons);
	m->cons = NULL;
}

static int m_connect(struct member *m)
{
	struct loafre__worker *w = m->w;
	struct loafre_consumer_options o = {0};
	char err[512];
	int r, logged = 0;

	o.group = w->rc->group;
	o.start = LOAFRE_CONSUMER_START_NEWEST; /* first time only: the hand-over */
	o.credit = w->rc->delay ? CREDIT_DELAY : CREDIT;
	o.curve_server_key = w->ckeys[0];
	o.curve_public_key = w->ckeys[1];
	o.curve_secret_key = w->ckeys[2];
	o.paths = w->fs->name;
	o.err = err;
	o.errlen = sizeof(err);
	while (!stopping(w, m->stop)) {
		err[0] = '\0';
		r = loafre_consumer_open(w->endpoint, &o, &m->cons);
		if (r == 0) {
			if (logged)
				w->log(LOG_INFO, "rule %s: joined group %s at %s", w->rc->name,
				       w->rc->group, w->endpoint);
			return 0;
		}
		if (r != logged && m->idx == 0)
			w->log(LOG_WARNING, "rule %s: cannot join group %s at %s: %s; retrying",
			       w->rc->name, w->rc->group, w->endpoint, err[0] ? err : strerror(-r));
		logged = r;
		nap(w, m->stop, CONNECT_RETRY_MS);
	}
	return -EINTR;
}

/* Whether the head record is superseded by a later one of the same object
 * already received (the later one reads the source as it is then). */
static bool superseded(struct member *m)
{
	const struct loafre_rec *h = &q_at(m, 0)->rec;

	if (loafre__rop_supersedes(h->type, h->type) < 0)
		return false;
	for (size_t k = 1; k < m->n && k < COALESCE_LOOKAHEAD; k++) {
		const struct loafre_rec *l = &q_at(m, k)->rec;
		int r;

		if (!loafre_fid_equal(&l->tfid, &h->tfid))
			continue;
		r = loafre__rop_supersedes(h->type, l->type);
		if (r < 0)
			return false; /* a rename, unlink, ... in between: keep the order */
		if (r > 0)
			return true;
	}
	return false;
}

/* Current path (leading '/') of a FID; 0, -ENOENT, ... */
static int fid_path(struct loafre__worker *w, const struct loafre_fid *fid, char *buf,
		    size_t cap)
{
	int r;

	if (!w->fetch || cap < 2)
		return -ENOENT;
	/* -ENOENT of an object that lives (its handle opens and it has a
	 * name): renames above it racing the lookup; asked again a few times,
	 * FID_PATH_WAIT_US apart, before its record is taken as "gone" */
	for (int i = 0;; i++) {
		pthread_mutex_lock(&w->fetch_lock);
		r = loafre__fetch_relpath(w->fetch, fid, buf + 1, cap - 1);
		if (r == -ENOENT && i < FID_PATH_TRIES && loafre__fetch_gone(w->fetch, fid) == 0) {
			pthread_mutex_unlock(&w->fetch_lock);
			usleep(FID_PATH_WAIT_US);
			continue;
		}
		pthread_mutex_unlock(&w->fetch_lock);
		break;
	}
	if (r == 0)
		buf[0] = '/';
	return r;
}

/* Paths of a record from the source's current state (a broker that sends
 * no annotations): right unless renamed since. */
static void current_paths(struct loafre__worker *w, const struct loafre_rec *rec,
			  struct loafre_rec_paths *p, char *pbuf, char *sbuf)
{
	memset(p, 0, sizeof(*p));
	p->path_err = -ENODATA;
	if (rec->type == LOAFRE_CL_MKDIR || rec->type == LOAFRE_CL_RMDIR)
		p->flags |= LOAFRE_RP_DIR;
	if (rec->namelen && fid_path(w, &rec->pfid, pbuf, PATH_MAX) == 0 &&
	    strlen(pbuf) + 1 + rec->namelen < PATH_MAX) {
		size_t l = strlen(pbuf);
		if (l == 1)
			l = 0;
		pbuf[l] = '/';
		memcpy(pbuf + l + 1, rec->name, rec->namelen);
		pbuf[l + 1 + rec->namelen] = '\0';
		p->path = pbuf;
		p->path_err = 0;
	} else if (rec->namelen) {
		p->path_err = -ENOENT;
	}
	if (rec->type == LOAFRE_CL_RENAME && rec->sname) {
		struct stat st;
		p->spath_err = -ENOENT;
		if (fid_path(w, &rec->spfid, sbuf, PATH_MAX) == 0 &&
		    strlen(sbuf) + 1 + rec->snamelen < PATH_MAX) {
			size_t l = strlen(sbuf);
			if (l == 1)
				l = 0;
			sbuf[l] = '/';
			memcpy(sbuf + l + 1, rec->sname, rec->snamelen);
			sbuf[l + 1 + rec->snamelen] = '\0';
			p->spath = sbuf;
			p->spath_err = 0;
		}
		if (p->path) {
			char full[PATH_MAX * 2];
			snprintf(full, sizeof(full), "%s%s",
				 strcmp(w->fs->path, "/") == 0 ? "" : w->fs->path, p->path);
			if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
				p->flags |= LOAFRE_RP_DIR;
		}
	}
}

/* The source object's attributes for the rule's conditions (NULL: gone). */
static struct loafre__rule_attr *src_attr(struct loafre__worker *w, const char *fspath,
					  struct loafre__rule_attr *a, bool *is_dir)
{
	char full[PATH_MAX * 2];
	struct stat st;

	if (!fspath)
		return NULL;
	snprintf(full, sizeof(full), "%s%s", strcmp(w->fs->path, "/") == 0 ? "" : w->fs->path,
		 fspath);
	if (lstat(full, &st) < 0)
		return NULL;
	a->size = (uint64_t)st.st_size;
	a->uid = st.st_uid;
	a->gid = st.st_gid;
	a->mtime = st.st_mtim.tv_sec;
	a->now = time(NULL);
	if (is_dir && S_ISDIR(st.st_mode))
		*is_dir = true;
	return a;
}

static void note_acked(struct loafre__worker *w, const char *mdt, const struct loafre_rec *rec)
{
	pthread_mutex_lock(&w->lock);
	w->acked++;
	if (rec->time > w->last_time)
		w->last_time = rec->time;
	for (size_t k = 0; k < w->n_mdts; k++)
		if (strcmp(w->mdts[k].name, mdt) == 0) {
			if (rec->index > w->mdts[k].last)
				w->mdts[k].last = rec->index;
			goto out;
		}
	if (w->n_mdts < MAX_MDTS && strlen(mdt) < sizeof(w->mdts[0].name)) {
		struct wmdt *nm = realloc(w->mdts, (w->n_mdts + 1) * sizeof(*nm));
		if (nm) {
			w->mdts = nm;
			snprintf(nm[w->n_mdts].name, sizeof(nm[0].name), "%s", mdt);
			nm[w->n_mdts++].last = rec->index;
		}
	}
out:
	pthread_mutex_unlock(&w->lock);
}

/* Applies record h (the applier thread). 0: done, ack it; 1: not now (a
 * destination is down, or a retry is due later: m->job.retry_at). */
static int apply_task(struct member *m, struct pend *h)
{
	struct loafre__worker *w = m->w;
	const char *mdt = loafre_batch_mdt(h->b);
	struct loafre__rop_plan plans[LOAFRE__ROP_MAX];
	struct loafre_rec_paths p;
	struct loafre__rule_attr a, *ap;
	char pbuf[PATH_MAX], sbuf[PATH_MAX], rbuf[LOAFRE__ROP_MAX][PATH_MAX];
	int n, r;

	pthread_mutex_lock(&w->lock);
	w->last_apply_ms = mono_ms();
	pthread_mutex_unlock(&w->lock);
	r = loafre_batch_paths(h->b, h->i, &p);
	if (r == -ENODATA) {
		pthread_mutex_lock(&w->lock);
		if (!w->warned_no_paths)
			w->log(LOG_WARNING, "rule %s: the broker sends no path annotations: "
					    "paths are resolved from the source's current state "
					    "(wrong after renames)", w->rc->name);
		w->warned_no_paths = true;
		pthread_mutex_unlock(&w->lock);
		current_paths(w, &h->rec, &p, pbuf, sbuf);
	} else if (r < 0) {
		return 0;
	}
	if ((p.path_err && p.path_err != -ENODATA && p.path_err != -EXDEV) || p.spath_err)
		w->log(LOG_DEBUG, "rule %s: %s:%llu type %u: path %s (%s), old path %s (%s)",
		       w->rc->name, mdt, (unsigned long long)h->rec.index, h->rec.type,
		       p.path ? p.path : "-", p.path_err ? strerror(-p.path_err) : "ok",
		       p.spath ? p.spath : "-", p.spath_err ? strerror(-p.spath_err) : "ok");
	{
		bool is_dir = p.flags & LOAFRE_RP_DIR;
		ap = src_attr(w, p.path, &a, &is_dir);
		n = loafre__rop_map(w->rule, &h->rec, &p, ap, plans);
	}
	if (n == -ENODATA) {
		/* a file's nameless record: its current path */
		bool is_dir = false;
		if (fid_path(w, &h->rec.tfid, pbuf, sizeof(pbuf)) < 0)
			return 0; /* gone (its UNLNK follows) or outside the tree */
		p.path = pbuf;
		p.path_err = 0;
		loafre__rop_moved_note(&w->ctx, &h->rec.tfid, pbuf);
		ap = src_attr(w, p.path, &a, &is_dir);
		if (is_dir)
			p.flags |= LOAFRE_RP_DIR;
		n = loafre__rop_map(w->rule, &h->rec, &p, ap, plans);
	}
	if (n > 0) {
		/* decision 4: an object renamed since is read (and written) where
		 * it is now */
		size_t k = 0;
		for (int i = 0; i < n; i++)
			if (loafre__rop_relocate(&w->ctx, &h->rec, &plans[i], rbuf[i], sizeof(rbuf[i])))
				plans[k++] = plans[i];
		n = (int)k;
	}
	if (n > 0 && apply_all(w, plans, (size_t)n, &h->rec, mdt, &m->job) == APPLY_DOWN) {
		set_state(w, "retrying");
		return 1;
	}
	return 0;
}

/* Acks the head record and drops it. 0 or -errno (the connection). */
static int ack_head(struct member *m)
{
	struct pend *h = q_at(m, 0);
	int r = loafre_consumer_ack(m->cons, h->b, h->rec.index);

	if (r < 0 && r != -ENOENT)
		return r;
	note_acked(m->w, loafre_batch_mdt(h->b), &h->rec);
	q_pop(m);
	return 0;
}

static void *applier_main(void *arg)
{
	struct member *m = arg;
	struct timespec ts;

	pthread_mutex_lock(&m->mu);
	while (!m->quit) {
		if (m->task_state != TASK_BUSY) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT &&
			    m->task_state == TASK_IDLE && !m->quit) {
				/* idle: a retry request, if any (may take long);
				 * work kept for later (loafre__rop_idle) */
				pthread_mutex_unlock(&m->mu);
				check_retry(m->w, m->stop);
				idle_work(m->w);
				pthread_mutex_lock(&m->mu);
			}
			continue;
		}
		pthread_mutex_unlock(&m->mu);
		{
			int res = apply_task(m, &m->task);
			pthread_mutex_lock(&m->mu);
			m->task_result = res;
		}
		m->task_state = TASK_DONE;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* Waits until the applier is not busy (before the queue is cleared). */
static void applier_wait(struct member *m)
{
	pthread_mutex_lock(&m->mu);
	while (m->task_state == TASK_BUSY)
		pthread_cond_wait(&m->cv, &m->mu);
	m->task_state = TASK_IDLE; /* a result for a dropped queue is void */
	pthread_mutex_unlock(&m->mu);
}

/* Collects the applier's result and hands it the next due record; acks
 * what is done. 0, or -errno from the broker connection. *busy: the
 * applier works. */
static int step(struct member *m, bool *busy)
{
	struct loafre__worker *w = m->w;
	int r;

	for (unsigned k = 0; k < 256 && !stopping(w, m->stop); k++) {
		struct pend *h;
		uint64_t now = mono_ms();

		pthread_mutex_lock(&m->mu);
		if (m->task_state == TASK_BUSY) {
			pthread_mutex_unlock(&m->mu);
			*busy = true;
			return 0;
		}
		if (m->task_state == TASK_DONE) {
			int res = m->task_result;

			m->task_state = TASK_IDLE;
			pthread_mutex_unlock(&m->mu);
			if (res == 0) {
				r = ack_head(m);
				if (r < 0)
					return r;
				set_state(w, "running");
			}
			continue;
		}
		pthread_mutex_unlock(&m->mu);
		if (!m->n)
			break;
		h = q_at(m, 0);
		if (h->due_ms > now)
			break;
		if (!m->have_job) {
			memset(&m->job, 0, sizeof(m->job));
			m->have_job = true;
		}
		if (m->job.retry_at && now < m->job.retry_at)
			break;
		if (h->skip || superseded(m)) {
			r = ack_head(m);
			if (r < 0)
				return r;
			continue;
		}
		pthread_mutex_lock(&m->mu);
		m->task = *h;
		m->task_state = TASK_BUSY;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
	}
	*busy = false;
	return 0;
}

static bool in_window(struct loafre__worker *w, time_t *ret_next)
{
	const struct loafre__cron *c = loafre__rule_schedule(w->rule);
	time_t now = time(NULL);

	if (!c || loafre__cron_matches(c, now))
		return true;
	if (loafre__cron_next_open(c, now, ret_next) < 0)
		*ret_next = now + 3600;
	return false;
}

static void wait_window(struct member *m)
{
	struct loafre__worker *w = m->w;
	time_t next;
	bool logged = false;

	while (!stopping(w, m->stop) && !in_window(w, &next)) {
		if (m->cons)
			m_close(m); /* the records wait in the broker */
		set_state(w, "waiting");
		pthread_mutex_lock(&w->lock);
		for (size_t i = 0; i < w->n_dests; i++)
			if (strcmp(w->dests[i].state, "down") != 0)
				w->dests[i].state = "waiting";
		pthread_mutex_unlock(&w->lock);
		if (!logged && m->idx == 0)
			w->log(LOG_INFO, "rule %s: outside its schedule until %lld", w->rc->name,
			       (long long)next);
		logged = true;
		nap(w, m->stop, 1000);
	}
}

static void member_run(struct member *m)
{
	struct loafre__worker *w = m->w;
	uint64_t next_window_check = 0;
	bool busy = false;
	int r = 0;

	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	{
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		r = -pthread_create(&m->applier, NULL, applier_main, m);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r < 0) {
			w->log(LOG_ERR, "rule %s: cannot start a thread: %s", w->rc->name,
			       strerror(-r));
			goto out;
		}
		m->applier_started = true;
	}
	while (!stopping(w, m->stop)) {
		struct loafre_batch *b = NULL;
		uint64_t now = mono_ms();
		int timeout = 200;

		if (now >= next_window_check) {
			time_t next;
			next_window_check = now + 1000;
			if (!in_window(w, &next)) {
				applier_wait(m);
				wait_window(m);
			}
			if (stopping(w, m->stop))
				break;
		}
		if (!m->cons) {
			if (m_connect(m) < 0)
				break;
			set_state(w, "running");
		}
		r = step(m, &busy);
		if (r < 0)
			goto reconnect;
		if (busy) {
			timeout = 0;
		} else if (m->n) {
			struct pend *h = q_at(m, 0);
			if (h->due_ms > now)
				timeout = (int)(h->due_ms - now < 200 ? h->due_ms - now : 200);
			else if (m->have_job && m->job.retry_at > now)
				timeout = (int)(m->job.retry_at - now < 200 ? m->job.retry_at - now
									   : 200);
		}
		r = loafre_consumer_recv(m->cons, timeout, &b);
		if (r == 0) {
			if (loafre_batch_kind(b) != LOAFRE_BATCH_RECORDS)
				loafre_batch_free(b);
			else
				q_push_batch(m, b);
			continue; /* drain what arrived */
		}
		if (r != -EAGAIN && r != -EINTR)
			goto reconnect;
		if (busy) {
			/* until the applier is done, at most 100 ms (heartbeats) */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_mutex_lock(&m->mu);
			if (m->task_state == TASK_BUSY)
				pthread_cond_timedwait(&m->cv, &m->mu, &ts);
			pthread_mutex_unlock(&m->mu);
		}
		continue;
reconnect: {
		const char *msg = loafre_consumer_error(m->cons);
		w->log(LOG_WARNING, "rule %s: broker: %s; reconnecting", w->rc->name,
		       msg && msg[0] ? msg : strerror(-r));
		applier_wait(m);
		m_close(m); /* what was not acked is redelivered */
		nap(w, m->stop, 500);
	}
	}
out:
	if (m->applier_started) {
		applier_wait(m);
		pthread_mutex_lock(&m->mu);
		m->quit = true;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->applier, NULL);
	}
	m_close(m);
	free(m->q);
	m->q = NULL;
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
}

struct thr {
	struct loafre__worker *w;      /* the worker */
	unsigned idx;                  /* thread number (0: the caller's, runs the sync) */
	volatile sig_atomic_t *stop;   /* the caller's stop flag (or NULL) */
	pthread_t t;                   /* the thread (idx > 0) */
};

/* Waits until thread 0 has done the initial sync (or a stop). */
static void wait_sync(struct loafre__worker *w, volatile sig_atomic_t *stop)
{
	pthread_mutex_lock(&w->lock);
	while (!w->sync_done && !stopping(w, stop)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->cv, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
}

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	struct loafre__worker *w = t->w;
	struct member m = {.w = w, .idx = t->idx, .stop = t->stop};

	if (t->idx == 0) {
		bool need = false;

		for (size_t i = 0; !w->no_sync && i < w->n_dests; i++)
			if (!dest_synced(w, i))
				need = true;
		if (need) {
			time_t next;
			/* join once: the group exists from here on (the hand-over) */
			while (!stopping(w, t->stop) && !in_window(w, &next))
				wait_window(&m);
			if (!stopping(w, t->stop) && m_connect(&m) == 0) {
				m_close(&m);
				initial_sync(w, t->stop);
			}
		}
		pthread_mutex_lock(&w->lock);
		w->sync_done = 1;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->lock);
	} else {
		wait_sync(w, t->stop);
	}
	member_run(&m);
	return NULL;
}

/* Opens the source side once. */
static int prepare(struct loafre__worker *w)
{
	int r;

	if (w->prepared)
		return 0;
	r = loafre__mkdir_p(w->state_dir, 0755);
	if (r < 0) {
		w->log(LOG_ERR, "rule %s: cannot make the state directory '%s': %s", w->rc->name,
		       w->state_dir, strerror(-r));
		return r;
	}
	w->src_roots = malloc(w->rc->n_sources * sizeof(int));
	if (!w->src_roots)
		return -ENOMEM;
	for (size_t i = 0; i < w->rc->n_sources; i++) {
		char p[PATH_MAX * 2];
		snprintf(p, sizeof(p), "%s%s", strcmp(w->fs->path, "/") == 0 ? "" : w->fs->path,
			 strcmp(w->rc->sources[i], "/") == 0 ? "" : w->rc->sources[i]);
		w->src_roots[i] = open(p[0] ? p : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (w->src_roots[i] < 0)
			w->log(LOG_WARNING, "rule %s: cannot open source '%s': %s", w->rc->name, p,
			       strerror(errno));
	}
	r = loafre__fetch_open(w->fs->type, w->fs->path, 1, 0, &w->fetch);
	if (r < 0) {
		w->fetch = NULL;
		w->log(LOG_WARNING, "rule %s: cannot resolve FIDs in %s: %s (files' CLOSE "
				    "records are not replicated)",
		       w->rc->name, w->fs->path, strerror(-r));
	}
	r = loafre__rop_moved_new(&w->ctx.moved);
	if (r < 0)
		return r;
	w->ctx.rule = w->rule;
	w->ctx.fs_path = w->fs->path;
	w->ctx.src_roots = w->src_roots;
	w->ctx.fetch = w->fetch;
	w->ctx.fetch_lock = &w->fetch_lock;
	w->prepared = true;
	return 0;
}

int loafre__worker_run(struct loafre__worker *w, volatile sig_atomic_t *stop)
{
	struct thr *t;
	unsigned started = 1;
	int r;

	r = prepare(w);
	if (r < 0)
		return r;
	t = calloc(w->threads, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (w->no_sync)
		w->sync_done = 1;
	set_state(w, "running");
	w->log(LOG_INFO, "rule %s: replicating %s:%s to %zu destination%s with %u thread%s",
	       w->rc->name, w->fs->name, w->rc->n_sources == 1 ? w->rc->sources[0] : "(sources)",
	       w->n_dests, w->n_dests == 1 ? "" : "s", w->threads, w->threads == 1 ? "" : "s");
	for (unsigned i = 0; i < w->threads; i++) {
		t[i].w = w;
		t[i].idx = i;
		t[i].stop = stop;
	}
	for (unsigned i = 1; i < w->threads; i++) {
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		r = -pthread_create(&t[i].t, NULL, thread_main, &t[i]);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r < 0) {
			w->log(LOG_ERR, "rule %s: cannot start a thread: %s", w->rc->name,
			       strerror(-r));
			break;
		}
		started++;
	}
	thread_main(&t[0]);
	if (started < w->threads)
		w->stop = 1;
	for (unsigned i = 1; i < started; i++)
		pthread_join(t[i].t, NULL);
	free(t);
	set_state(w, "stopped");
	return r < 0 ? r : 0;
}

static void *start_main(void *arg)
{
	struct loafre__worker *w = arg;

	loafre__worker_run(w, NULL);
	return NULL;
}

int loafre__worker_start(struct loafre__worker *w)
{
	int r = -pthread_create(&w->thread, NULL, start_main, w);

	if (r == 0)
		w->started = true;
	return r;
}

void loafre__worker_close(struct loafre__worker *w)
{
	if (!w)
		return;
	if (w->started) {
		w->stop = 1;
		pthread_join(w->thread, NULL);
	}
	worker_free(w);
}

/* ---- statistics ------------------------------------------------------------------ */

static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int loafre__worker_stats(struct loafre__worker *w, char *buf, size_t cap, size_t *len)
{
	const char *nm = w->rc->name;
	int r = 0;

#define OUT(...)                                                                          \
	do {                                                                              \
		int n_ = *len < cap ? snprintf(buf + *len, cap - *len, __VA_ARGS__) : -1; \
		if (n_ < 0 || (size_t)n_ >= cap - *len) {                                 \
			r = -ENOBUFS;                                                     \
			goto out;                                                         \
		}                                                                         \
		*len += (size_t)n_;                                                       \
	} while (0)
	pthread_mutex_lock(&w->lock);
	OUT("rule.%s.state %s\n", nm, w->state);
	OUT("rule.%s.sync.entries %llu\n", nm, (unsigned long long)w->sync.entries);
	OUT("rule.%s.sync.copied %llu\n", nm, (unsigned long long)w->sync.copied);
	OUT("rule.%s.sync.bytes %llu\n", nm, (unsigned long long)w->sync.bytes);
	OUT("rule.%s.sync.errors %llu\n", nm, (unsigned long long)w->sync.errors);
	OUT("rule.%s.records %llu\n", nm, (unsigned long long)w->records);
	OUT("rule.%s.acked %llu\n", nm, (unsigned long long)w->acked);
	for (size_t k = 0; k < w->n_mdts; k++)
		OUT("rule.%s.last_index.%s %llu\n", nm, w->mdts[k].name,
		    (unsigned long long)w->mdts[k].last);
	OUT("rule.%s.last_time %llu.%09u\n", nm,
	    (unsigned long long)loafre_cl_time_sec(w->last_time), loafre_cl_time_nsec(w->last_time));
	OUT("rule.%s.failed %llu\n", nm, (unsigned long long)w->failed);
	for (size_t i = 0; i < w->n_dests; i++) {
		struct wdest *wd = &w->dests[i];
		uint64_t done = 0, failed = 0, bytes = 0;
		char err[LOAFRE__DEST_WHY_MAX];

		if (wd->d) {
			struct loafre__dest_stats s;
			loafre__dest_get_stats(wd->d, &s);
			for (int k = 0; k < LOAFRE__DOP_N; k++) {
				done += s.done[k];
				failed += s.failed[k];
			}
			bytes += s.bytes;
		}
		snprintf(err, sizeof(err), "%s", wd->error[0] ? wd->error : "-");
		one_line(err);
		OUT("rule.%s.dest.%zu.spec %s\n", nm, i, wd->cfg->spec);
		OUT("rule.%s.dest.%zu.state %s\n", nm, i, wd->state);
		OUT("rule.%s.dest.%zu.done %llu\n", nm, i, (unsigned long long)done);
		OUT("rule.%s.dest.%zu.failed %llu\n", nm, i, (unsigned long long)failed);
		OUT("rule.%s.dest.%zu.bytes %llu\n", nm, i, (unsigned long long)bytes);
		OUT("rule.%s.dest.%zu.orphans %llu\n", nm, i, (unsigned long long)wd->orphans);
		OUT("rule.%s.dest.%zu.error %s\n", nm, i, err);
	}
out:
	pthread_mutex_unlock(&w->lock);
#undef OUT
	return r;
}
