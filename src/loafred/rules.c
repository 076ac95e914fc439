/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * rules.c — loafred's replication workers (see rules.h).
 *
 * A rule's signature is a text made of everything its worker copies from
 * the configuration at open: the rule's keys (resolved: id maps as pairs,
 * excludes with their contents), its filesystem (path, journal, MDTs), the
 * run directory, the [client] section and the `deps` text of the caller
 * (the broker's signature). Two equal signatures mean the running worker
 * would be opened exactly the same again, so it is kept. Strings are
 * written as LEN:TEXT, so no value can fake a separator.
 */
#include "rules.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "repl_worker.h"

#define STATS_BUF_MIN 16384
#define STATS_BUF_MAX (16u << 20)

/* A worker being stopped in a thread of its own: its threads finish their
 * current operation first (an initial sync's walk of a large tree, a long
 * transfer), which must not hold loafred's event loop. Another worker of
 * the same rule may start meanwhile (several workers per rule are allowed:
 * one broker group; the state directory's sync.lock serialises syncs). */
struct loafred_rule_stopping {
	struct loafred_rule_stopping *next; /* list of loafred_rules.stopping */
	pthread_t thread;                   /* runs loafre__worker_close */
	struct loafre__worker *w;           /* closed by the thread */
	char *name;                         /* the rule's name */
	const char *why;                    /* for the log: "disabled", ... (static) */
	atomic_bool done;                   /* the thread has closed it */
};

struct loafred_rule_run {
	char *name;               /* the rule's name */
	char *sig;                /* what its worker was opened with */
	struct loafre__worker *w; /* running worker, or NULL (not started) */
	char *error;              /* why it is not running (one line), or NULL */
};

static void sig_str(FILE *out, const char *tag, const char *s)
{
	fprintf(out, " %s=%zu:%s", tag, s ? strlen(s) : 0, s ? s : "");
}

static void sig_strv(FILE *out, const char *tag, char *const *v, size_t n)
{
	fprintf(out, " %s[%zu]", tag, n);
	for (size_t i = 0; i < n; i++)
		sig_str(out, "", v[i]);
}

static void sig_ids(FILE *out, const char *tag, const uint32_t *v, size_t n)
{
	fprintf(out, " %s[%zu]", tag, n);
	for (size_t i = 0; i < n; i++)
		fprintf(out, ",%u", v[i]);
}

static void sig_idmap(FILE *out, const char *tag, const struct loafre_idmap *m)
{
	fprintf(out, " %s[%zu]", tag, m->n_pairs);
	for (size_t i = 0; i < m->n_pairs; i++)
		fprintf(out, ",%u:%u", m->pairs[i].from, m->pairs[i].to);
	if (m->has_default)
		fprintf(out, ",*:%u", m->default_to);
}

/* The signature of rule rc of c, or NULL (out of memory). */
static char *rule_signature(const struct loafre_config *c, const struct loafre_rule_config *rc,
			    const char *deps)
{
	const struct loafre_fs_config *fs = loafre_config_find_fs(c, rc->fs);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return NULL;
	sig_str(out, "deps", deps);
	sig_str(out, "run", c->run_dir);
	sig_str(out, "cb", c->client.broker);
	sig_str(out, "ck", c->client.curve_server_key);
	sig_str(out, "cc", c->client.curve_key);
	sig_str(out, "name", rc->name);
	sig_str(out, "fs", rc->fs);
	if (fs) {
		fprintf(out, " t=%d", (int)fs->type);
		sig_str(out, "path", fs->path);
		sig_str(out, "journal", fs->journal);
		sig_strv(out, "mdts", fs->mdts, fs->n_mdts);
		sig_strv(out, "mj", fs->mdt_journals, fs->n_mdts);
	}
	sig_strv(out, "src", rc->sources, rc->n_sources);
	fprintf(out, " dests[%zu]", rc->n_dests);
	for (size_t i = 0; i < rc->n_dests; i++) {
		const struct loafre_rule_dest *d = &rc->dests[i];
		sig_str(out, "spec", d->spec);
		sig_str(out, "user", d->user);
		sig_str(out, "host", d->host);
		sig_str(out, "dpath", d->path);
		fprintf(out, " port=%u", d->port);
		sig_str(out, "ident", d->identity);
		sig_str(out, "kh", d->known_hosts);
		sig_idmap(out, "um", &d->uid_map);
		sig_idmap(out, "gm", &d->gid_map);
	}
	sig_strv(out, "mp", rc->match_prefixes, rc->n_match_prefixes);
	sig_strv(out, "mg", rc->match_globs, rc->n_match_globs);
	sig_strv(out, "mr", rc->match_regexes, rc->n_match_regexes);
	fprintf(out, " ev=%u size=%d:%llu,%d:%llu age=%d:%llu,%d:%llu delay=%llu workers=%u",
		rc->events, rc->has_min_size, (unsigned long long)rc->min_size, rc->has_max_size,
		(unsigned long long)rc->max_size, rc->has_min_age, (unsigned long long)rc->min_age,
		rc->has_max_age, (unsigned long long)rc->max_age, (unsigned long long)rc->delay,
		rc->workers);
	sig_ids(out, "own", rc->owners, rc->n_owners);
	sig_ids(out, "gid", rc->gids, rc->n_gids);
	for (size_t i = 0; i < rc->n_excludes; i++) {
		const struct loafre_exclude_config *x = loafre_config_find_exclude(c, rc->excludes[i]);
		sig_str(out, "x", rc->excludes[i]);
		if (x) {
			sig_strv(out, "xp", x->paths, x->n_paths);
			sig_strv(out, "xg", x->globs, x->n_globs);
			sig_strv(out, "xr", x->regexes, x->n_regexes);
		}
	}
	sig_str(out, "sched", rc->schedule);
	for (unsigned a = 0; a < LOAFRE_ACT_N; a++)
		sig_str(out, "act", rc->actions[a]);
	if (fclose(out) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void *stopping_main(void *arg)
{
	struct loafred_rule_stopping *st = arg;

	loafre__worker_close(st->w);
	st->w = NULL;
	atomic_store(&st->done, true);
	return NULL;
}

/* Stops worker w of rule name without waiting (in the caller's thread if no
 * thread can be made). */
static void stop_async(struct loafred_rules *rs, const char *name, struct loafre__worker *w,
		       const char *why)
{
	struct loafred_rule_stopping *st = calloc(1, sizeof(*st));

	if (!w) {
		free(st);
		return;
	}
	if (st && (st->name = strdup(name))) {
		st->w = w;
		st->why = why;
		atomic_init(&st->done, false);
		if (pthread_create(&st->thread, NULL, stopping_main, st) == 0) {
			st->next = rs->stopping;
			rs->stopping = st;
			return;
		}
		free(st->name);
	}
	free(st);
	loafre__worker_close(w);
	rs->log(LOG_INFO, "rule %s: stopped (%s)", name, why);
}

/* Joins the stopping threads that are done (all of them with wait). */
static void reap(struct loafred_rules *rs, bool wait)
{
	struct loafred_rule_stopping **pp = &rs->stopping;

	while (*pp) {
		struct loafred_rule_stopping *st = *pp;

		if (!wait && !atomic_load(&st->done)) {
			pp = &st->next;
			continue;
		}
		pthread_join(st->thread, NULL);
		rs->log(LOG_INFO, "rule %s: stopped (%s)", st->name, st->why);
		*pp = st->next;
		free(st->name);
		free(st);
	}
}

static void run_clear(struct loafred_rule_run *run)
{
	loafre__worker_close(run->w);
	free(run->name);
	free(run->sig);
	free(run->error);
	memset(run, 0, sizeof(*run));
}

/* Sets run->error to a one-line copy of err; returns whether it differs
 * from the error it had (so that a repeated failure is logged once). */
static bool run_set_error(struct loafred_rule_run *run, const char *err)
{
	bool changed = !run->error || strcmp(run->error, err) != 0;
	char *e = strdup(err);

	if (!e)
		return changed;
	for (char *p = e; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	free(run->error);
	run->error = e;
	return changed;
}

/* Opens and starts the worker of rule rc into run (name and sig set). */
static void run_start(struct loafred_rules *rs, const struct loafre_config *c,
		      const struct loafre_rule_config *rc, struct loafred_rule_run *run)
{
	struct loafre__worker_opts o = {
		.cfg = c,
		.rule = rc->name,
		.threads = rc->workers,
		.log = rs->log,
	};
	char err[512] = "";
	int r;

	r = loafre__worker_open(&o, &run->w, err, sizeof(err));
	if (r < 0) {
		run->w = NULL;
		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-r));
	} else if ((r = loafre__worker_start(run->w)) < 0) {
		snprintf(err, sizeof(err), "cannot start its threads: %s", strerror(-r));
		loafre__worker_close(run->w);
		run->w = NULL;
	}
	if (r < 0) {
		/* the library's reasons may start with "rule NAME: " already */
		size_t nl = strlen(rc->name);
		if (strncmp(err, "rule ", 5) == 0 && strncmp(err + 5, rc->name, nl) == 0 &&
		    strncmp(err + 5 + nl, ": ", 2) == 0)
			memmove(err, err + 7 + nl, strlen(err + 7 + nl) + 1);
		if (run_set_error(run, err))
			rs->log(LOG_ERR, "rule %s: not started: %s (retried on SIGHUP)", rc->name,
				run->error ? run->error : err);
		return;
	}
	free(run->error);
	run->error = NULL;
	rs->log(LOG_INFO, "rule %s: started: %u worker thread%s, %zu destination%s", rc->name,
		rc->workers, rc->workers == 1 ? "" : "s", rc->n_dests, rc->n_dests == 1 ? "" : "s");
}

void loafred_rules_sync(struct loafred_rules *rs, const struct loafre_config *c, const char *deps)
{
	struct loafred_rule_run *nruns = calloc(c->n_rules ? c->n_rules : 1, sizeof(*nruns));
	size_t n = 0;

	if (!nruns) {
		rs->log(LOG_ERR, "out of memory; replication rules unchanged");
		return;
	}
	reap(rs, false);
	/* Stop first what goes or changes (in the background: see
	 * struct loafred_rule_stopping). */
	for (size_t i = 0; i < rs->n_runs; i++) {
		struct loafred_rule_run *old = &rs->runs[i];
		const struct loafre_rule_config *rc = loafre_config_find_rule(c, old->name);
		char *sig;

		if (!rc || !rc->enabled) {
			const char *why = rc ? "disabled" : "removed from the configuration";

			if (old->w)
				rs->log(LOG_INFO, "rule %s: stopping (%s)", old->name, why);
			stop_async(rs, old->name, old->w, why);
			old->w = NULL;
			run_clear(old);
			continue;
		}
		sig = rule_signature(c, rc, deps);
		if (sig && strcmp(sig, old->sig) == 0) {
			free(sig);
			continue; /* kept (a failed one is retried below) */
		}
		free(sig);
		if (old->w)
			rs->log(LOG_INFO, "rule %s: restarting (its configuration changed)", old->name);
		stop_async(rs, old->name, old->w, "replaced by a new worker");
		old->w = NULL;
		free(old->sig);
		old->sig = NULL; /* changed: started anew below */
		free(old->error);
		old->error = NULL;
	}
	for (size_t k = 0; k < c->n_rules; k++) {
		const struct loafre_rule_config *rc = &c->rules[k];
		struct loafred_rule_run *run = &nruns[n];
		bool found = false;

		if (!rc->enabled)
			continue;
		for (size_t i = 0; i < rs->n_runs && !found; i++) {
			struct loafred_rule_run *old = &rs->runs[i];
			if (old->name && strcmp(old->name, rc->name) == 0) {
				*run = *old;
				memset(old, 0, sizeof(*old));
				found = true;
			}
		}
		if (!found && !(run->name = strdup(rc->name))) {
			rs->log(LOG_ERR, "rule %s: out of memory; not started", rc->name);
			continue;
		}
		if (!run->sig && !(run->sig = rule_signature(c, rc, deps))) {
			rs->log(LOG_ERR, "rule %s: out of memory; not started", rc->name);
			run_clear(run);
			continue;
		}
		if (!run->w)
			run_start(rs, c, rc, run);
		n++;
	}
	for (size_t i = 0; i < rs->n_runs; i++)
		run_clear(&rs->runs[i]);
	free(rs->runs);
	rs->runs = nruns;
	rs->n_runs = n;
}

void loafred_rules_stats(struct loafred_rules *rs, FILE *out)
{
	reap(rs, false); /* once a second: workers stopped meanwhile */
	for (size_t i = 0; i < rs->n_runs; i++) {
		struct loafred_rule_run *run = &rs->runs[i];
		size_t len = 0;
		int r = -ENOBUFS;

		if (!run->w) {
			fprintf(out, "rule.%s.state failed\nrule.%s.error %s\n", run->name, run->name,
				run->error ? run->error : "not started");
			continue;
		}
		if (rs->stats_buf)
			r = loafre__worker_stats(run->w, rs->stats_buf, rs->stats_cap, &len);
		while (r == -ENOBUFS) {
			size_t ncap = rs->stats_cap ? rs->stats_cap * 2 : STATS_BUF_MIN;
			char *nb = ncap <= STATS_BUF_MAX ? realloc(rs->stats_buf, ncap) : NULL;

			if (!nb)
				break;
			rs->stats_buf = nb;
			rs->stats_cap = ncap;
			len = 0;
			r = loafre__worker_stats(run->w, rs->stats_buf, rs->stats_cap, &len);
		}
		if (r == 0)
			fwrite(rs->stats_buf, 1, len, out);
	}
}

void loafred_rules_stop(struct loafred_rules *rs)
{
	/* all at once: each finishes its current operation */
	for (size_t i = 0; i < rs->n_runs; i++) {
		stop_async(rs, rs->runs[i].name, rs->runs[i].w, "loafred stops");
		rs->runs[i].w = NULL;
		run_clear(&rs->runs[i]);
	}
	reap(rs, true);
	free(rs->runs);
	rs->runs = NULL;
	rs->n_runs = 0;
	free(rs->stats_buf);
	rs->stats_buf = NULL;
	rs->stats_cap = 0;
}
