/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_index.c — `loafre index NAME` (an indexer in the foreground, for a
 * node other than loafred's: lib/indexer.h) and `loafre scan FS` (loads a
 * filesystem's index with a parallel walk: lib/index_scan.h), with the
 * hand-over to the changelog described in docs/index.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "index_scan.h"
#include "index_store.h"
#include "indexer.h"
#include "loafre/journal.h"

static volatile sig_atomic_t cmd_stop;

static void on_stop(int sig)
{
	cmd_stop = sig;
}

static void catch_stop(void)
{
	struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* The [index] named `arg`, else the index of the filesystem named `arg`. */
static const struct loafre_index_config *find_index(struct cli *c, const char *arg)
{
	for (size_t i = 0; i < c->config->n_indexes; i++)
		if (strcmp(c->config->indexes[i].name, arg) == 0)
			return &c->config->indexes[i];
	return loafre_config_find_index(c->config, arg);
}

static void index_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > LOG_INFO)
		return;
	fprintf(stderr, "loafre index: %s", prio <= LOG_ERR ? "error: " :
					    prio == LOG_WARNING ? "warning: " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cmd_index(struct cli *c)
{
	const struct loafre_index_config *ic = find_index(c, c->args[0]);
	const char *endpoint = NULL, *server_key = NULL, *key = NULL;
	struct loafre_consumer_options o = {0};
	struct loafre__indexer_opts io = {0};
	struct loafre__indexer *ix = NULL;
	struct cli_broker b;
	char err[512];
	int r;

	if (!ic) {
		fprintf(stderr, "loafre index: no [index] named '%s' and no index of a filesystem "
				"'%s' in %s\n", c->args[0], c->args[0], c->config->path);
		return CLI_FAIL;
	}
	for (size_t i = 0; i < c->n_opts; i++) {
		switch (c->opts[i].opt) {
		case 'B':
			endpoint = c->opts[i].arg;
			break;
		case 'S':
			server_key = c->opts[i].arg;
			break;
		case 'k':
			key = c->opts[i].arg;
			break;
		}
	}
	r = cli_broker_setup(c, endpoint, server_key, key, &b, &o);
	if (r != CLI_OK)
		return r;
	io.cfg = c->config;
	io.ic = ic;
	io.endpoint = b.endpoint;
	io.curve_server_key = o.curve_server_key;
	io.curve_public_key = o.curve_public_key;
	io.curve_secret_key = o.curve_secret_key;
	io.log = index_log;
	r = loafre__indexer_open(&io, &ix, err, sizeof(err));
	cli_broker_done(&b);
	if (r < 0) {
		fprintf(stderr, "loafre index: %s\n", err);
		return CLI_FAIL;
	}
	catch_stop();
	r = loafre__indexer_run(ix, &cmd_stop);
	loafre__indexer_close(ix);
	return r < 0 ? CLI_FAIL : CLI_OK;
}

/* ---- scan ------------------------------------------------------------------- */

struct scan_ui {
	bool tty;         /* stderr is a terminal: a progress line redrawn in place */
	bool quiet;
};

static void scan_progress(void *ctx, const struct loafre__scan_progress *p)
{
	struct scan_ui *ui = ctx;

	if (ui->quiet)
		return;
	if (ui->tty || p->done)
		fprintf(stderr, "%sscanned %llu entries in %llu directories, %.1f GiB, %.0f entries/s, "
				"%.1f s%s",
			ui->tty ? "\r\033[K" : "", (unsigned long long)p->entries,
			(unsigned long long)p->dirs, (double)p->bytes / (1024.0 * 1024 * 1024),
			p->rate, p->elapsed, p->done || !ui->tty ? "\n" : "");
}

/* Makes sure the index's group is a registered reader of every journal of
 * the filesystem (what the broker does on the group's first use), so the
 * records after the scan's positions are kept for it. Journals this node
 * cannot open are skipped: loafred's indexer registers the group there. */
static int ensure_group(const struct loafre_fs_config *fs, const char *group,
			const char **names, uint64_t *pos, size_t *n)
{
	*n = 0;
	for (size_t k = 0; k < fs->n_mdts; k++) {
		struct loafre_journal *j = NULL;
		struct loafre_journal_info info;
		struct loafre_cl_user *users = NULL;
		size_t nu = 0;
		bool found = false;
		char id[LOAFRE_CL_USER_ID_MAX];
		int r;

		if (loafre_journal_open(fs->mdt_journals[k], fs->mdts[k], 0, &fs->journal_opts, &j) <
		    0)
			continue;
		r = loafre_journal_users(j, &users, &nu);
		for (size_t u = 0; r == 0 && u < nu; u++) {
			const char *dash = strchr(users[u].id, '-');
			if (dash && strcmp(dash + 1, group) == 0)
				found = true;
		}
		free(users);
		if (r == 0 && !found)
			r = loafre_journal_register_from(j, group, NULL, LOAFRE_JOURNAL_FROM_CURRENT, id,
							 sizeof(id));
		if (r == 0)
			r = loafre_journal_info(j, &info);
		loafre_journal_close(j);
		if (r < 0) {
			fprintf(stderr, "loafre scan: cannot register group %s on %s: %s\n", group,
				fs->mdts[k], strerror(-r));
			return -1;
		}
		names[*n] = fs->mdts[k];
		pos[(*n)++] = info.last_index;
	}
	return 0;
}

/* How messages name an index's database: a conninfo may hold a password. */
static const char *db_label(const struct loafre_index_config *ic)
{
	return ic->backend == LOAFRE_INDEX_POSTGRESQL ? "(PostgreSQL, [index] database)"
						      : ic->database;
}

int cmd_scan(struct cli *c)
{
	const struct loafre_index_config *ic = find_index(c, c->args[0]);
	const struct loafre_fs_config *fs;
	struct loafre__scan_opts so = {0};
	struct loafre__scan_progress p;
	struct scan_ui ui = {.tty = isatty(2) == 1};
	struct loafre__idx *x = NULL;
	const char **names = NULL;
	uint64_t *pos = NULL;
	size_t n = 0;
	char err[512], meta[64];
	int r, ret = CLI_FAIL;

	if (!ic) {
		fprintf(stderr, "loafre scan: no [index] for '%s' in %s (add [index %s])\n",
			c->args[0], c->config->path, c->args[0]);
		return CLI_FAIL;
	}
	fs = loafre_config_find_fs(c->config, ic->fs);
	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		char *end;
		unsigned long v;
		switch (c->opts[i].opt) {
		case 't':
			errno = 0;
			v = strtoul(a, &end, 10);
			if (errno || *end || v < 1 || v > LOAFRE__SCAN_MAX_THREADS) {
				fprintf(stderr, "loafre scan: bad --threads '%s' (1 to %u)\n", a,
					LOAFRE__SCAN_MAX_THREADS);
				return CLI_USAGE;
			}
			so.threads = (unsigned)v;
			break;
		case 'q':
			ui.quiet = true;
			break;
		}
	}
	names = calloc(fs->n_mdts ? fs->n_mdts : 1, sizeof(*names));
	pos = calloc(fs->n_mdts ? fs->n_mdts : 1, sizeof(*pos));
	if (!names || !pos) {
		fprintf(stderr, "loafre scan: out of memory\n");
		goto out;
	}
	r = loafre__idx_open(ic->backend == LOAFRE_INDEX_POSTGRESQL ? LOAFRE__IDX_POSTGRESQL
								    : LOAFRE__IDX_SQLITE,
			     ic->database, fs->name, LOAFRE__IDX_CREATE, &x, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "loafre scan: cannot open index '%s': %s\n", db_label(ic), err);
		goto out;
	}
	/* Tell a running indexer to wait, then hand over (docs/index.md). */
	snprintf(meta, sizeof(meta), "running %ld", (long)getpid());
	if ((r = loafre__idx_begin(x)) < 0 || (r = loafre__idx_set_meta(x, "scan", meta)) < 0 ||
	    (r = loafre__idx_commit(x)) < 0) {
		loafre__idx_rollback(x);
		fprintf(stderr, "loafre scan: cannot write index '%s': %s\n", db_label(ic),
			r == -EIO ? loafre__idx_errmsg(x) : strerror(-r));
		goto out;
	}
	if (ensure_group(fs, ic->group, names, pos, &n) < 0)
		goto out;
	catch_stop();
	so.type = fs->type;
	so.position_mdts = names;
	so.positions = pos;
	so.n_positions = n;
	so.progress = scan_progress;
	so.progress_ctx = &ui;
	so.progress_ms = ui.tty ? 200 : 5000;
	so.interrupted = &cmd_stop;
	r = loafre__scan(x, fs->path, &so, &p);
	if (r < 0) {
		if (ui.tty && !ui.quiet)
			fputc('\n', stderr);
		fprintf(stderr, "loafre scan: %s: %s%s\n", fs->path,
			r == -EIO ? loafre__idx_errmsg(x) : strerror(-r),
			r == -EINTR ? " (the index stays incomplete: scan again)" : "");
		goto out;
	}
	snprintf(meta, sizeof(meta), "done %lld", (long long)time(NULL));
	if ((r = loafre__idx_begin(x)) < 0 || (r = loafre__idx_set_meta(x, "scan", meta)) < 0 ||
	    (r = loafre__idx_commit(x)) < 0) {
		loafre__idx_rollback(x);
		fprintf(stderr, "loafre scan: cannot write index '%s': %s\n", db_label(ic),
			r == -EIO ? loafre__idx_errmsg(x) : strerror(-r));
		goto out;
	}
	printf("%s: %llu entries in %llu directories indexed in %.2f s (%.0f entries/s); "
	       "%llu vanished, %llu unreadable, %llu mount points skipped\n",
	       fs->name, (unsigned long long)p.entries, (unsigned long long)p.dirs, p.elapsed,
	       p.rate, (unsigned long long)p.vanished, (unsigned long long)p.errors,
	       (unsigned long long)p.mounts);
	ret = CLI_OK;
out:
	loafre__idx_close(x);
	free(names);
	free(pos);
	return ret;
}
