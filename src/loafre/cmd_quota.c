/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_quota.c — `loafre quota set|rm|list|check`: directory soft quotas
 * kept with a metadata index (loafre__idx_quota_*).
 *
 * A quota names a directory by FID and limits the disk usage (st_blocks x
 * 512, as du counts) and/or the inodes of its subtree, read from the
 * directory's rollup. The indexer (lib/indexer.c) checks quotas as it
 * applies changes, marks each one over/under in the store and raises or
 * clears the alert (log, RUN_DIR/events, quota_hook); these commands only
 * set, remove and read them. `check` reports the current state from the
 * rollups (exit status 1 if a directory is over a limit) and changes
 * nothing. `set` keeps the stored over/under mark, so the indexer still
 * sees (and reports) the next crossing.
 *
 * Writes take the store's write lock (waiting up to its busy timeout while
 * loafred's indexer commits); -EBUSY is reported as such.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "idx_cli.h"

#define PROG "loafre quota"

struct qrow {
	struct loafre__idx_quota q;
	struct idx_db *db;
};

struct qlist {
	struct qrow *v;
	size_t n, cap;
	struct idx_db *db;     /* being listed */
};

static int collect(void *ctx, const struct loafre__idx_quota *q)
{
	struct qlist *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct qrow *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct qrow){*q, l->db};
	return 0;
}

/* Reports a failed write (r < 0) to db. */
static int write_error(struct idx_cli *ic, struct idx_db *db, int r, const char *dir)
{
	if (r == -ENOTDIR)
		fprintf(stderr, PROG ": '%s' is not a directory\n", dir);
	else if (r == -ENOENT)
		fprintf(stderr, PROG ": '%s' is not in the index (anymore)\n", dir);
	else if (r == -EROFS || r == -EACCES || r == -EPERM)
		fprintf(stderr, PROG ": cannot write index '%s': %s\n", db->ic->database,
			strerror(-r));
	else
		idx_cli_store_error(ic, db, r);
	return CLI_FAIL;
}

static int quota_set(struct cli *c, const char *dir, bool remove, bool has_bytes, uint64_t bytes,
		     bool has_inodes, uint64_t inodes)
{
	struct idx_cli ic;
	struct idx_path p = {0};
	struct qlist l = {0};
	struct loafre__idx_quota q = {0};
	bool exists = false;
	int r, ret = CLI_FAIL;

	idx_cli_init(&ic, c, PROG, true);
	r = idx_cli_resolve(&ic, dir, &p);
	if (r == IDX_CLI_MISSING) {
		fprintf(stderr, PROG ": '%s' is not in the index\n", dir);
		goto out;
	}
	if (r != CLI_OK)
		goto out;
	if (!S_ISDIR(p.e.a.mode)) {
		fprintf(stderr, PROG ": '%s' is not a directory\n", dir);
		goto out;
	}
	l.db = p.db;
	r = loafre__idx_quota_list(p.db->x, collect, &l);
	if (r < 0) {
		idx_cli_store_error(&ic, p.db, r);
		goto out;
	}
	for (size_t i = 0; i < l.n; i++)
		if (memcmp(&l.v[i].q.dir, &p.fid, sizeof(p.fid)) == 0) {
			q = l.v[i].q;
			exists = true;
		}
	if (remove && !exists) {
		fprintf(stderr, PROG ": '%s' has no quota\n", dir);
		goto out;
	}
	q.dir = p.fid;
	if (has_bytes)
		q.bytes_limit = bytes;
	if (has_inodes)
		q.inodes_limit = inodes;
	if (!remove && !q.bytes_limit && !q.inodes_limit) {
		fprintf(stderr, PROG ": no limit left for '%s' (use 'loafre quota rm')\n", dir);
		goto out;
	}
	r = loafre__idx_begin(p.db->x);
	if (r == 0)
		r = remove ? loafre__idx_quota_remove(p.db->x, &p.fid)
			   : loafre__idx_quota_set(p.db->x, &q);
	if (r == 0)
		r = loafre__idx_commit(p.db->x);
	if (r < 0) {
		loafre__idx_rollback(p.db->x);
		write_error(&ic, p.db, r, dir);
		goto out;
	}
	ret = CLI_OK;
out:
	free(l.v);
	idx_path_free(&p);
	idx_cli_done(&ic);
	return ret;
}

static void limit_text(uint64_t v, bool bytes, char *b, size_t cap)
{
	if (!v)
		snprintf(b, cap, "-");
	else if (bytes)
		idx_human(v, b, cap);
	else
		snprintf(b, cap, "%" PRIu64, v);
}

/* list and check: every quota of the indexes (or of filesystem `only`). */
static int quota_show(struct cli *c, const char *only, bool json, bool check)
{
	struct idx_cli ic;
	struct qlist l = {0};
	bool any_over = false, any_index = false;
	int ret = CLI_OK;

	idx_cli_init(&ic, c, PROG, false);
	for (size_t i = 0; i < c->config->n_fs; i++) {
		const struct loafre_fs_config *fs = &c->config->fs[i];
		struct idx_db *db;
		int r;

		if (only ? strcmp(fs->name, only) != 0
			 : !loafre_config_find_index(c->config, fs->name))
			continue;
		any_index = true;
		if (idx_cli_open_fs(&ic, fs, &db) != CLI_OK) {
			ret = CLI_FAIL;
			continue;
		}
		l.db = db;
		r = loafre__idx_quota_list(db->x, collect, &l);
		if (r < 0) {
			if (r == -ENOMEM)
				fprintf(stderr, PROG ": out of memory\n");
			else
				idx_cli_store_error(&ic, db, r);
			ret = CLI_FAIL;
		}
	}
	if (only && !any_index) {
		fprintf(stderr, PROG ": unknown filesystem '%s' (not in %s)\n", only,
			c->config->path);
		ret = CLI_FAIL;
		goto out;
	}
	if (!only && !any_index) {
		fprintf(stderr, PROG ": no filesystem of %s has an [index] section\n",
			c->config->path);
		ret = CLI_FAIL;
		goto out;
	}
	if (!json && l.n)
		printf("%-9s %-11s %10s %12s  %-5s %-6s %s\n", "used", "bytes_limit", "inodes",
		       "inodes_limit", "state", "alert", "directory");
	for (size_t i = 0; i < l.n; i++) {
		const struct qrow *row = &l.v[i];
		struct loafre__idx_sum s;
		char rel[8192], *path = NULL, u[32], lb[32], li[32];
		const char *root = row->db->fs->path;
		bool over;
		int r = loafre__idx_dirsum(row->db->x, &row->q.dir, &s);

		if (r == 0)
			r = loafre__idx_path(row->db->x, &row->q.dir, rel, sizeof(rel));
		if (r == -ENOENT || r == -ENAMETOOLONG) {
			loafre_fid_format(&row->q.dir, rel);
			path = strdup(rel);
			memset(&s, 0, sizeof(s));
		} else if (r < 0) {
			idx_cli_store_error(&ic, row->db, r);
			ret = CLI_FAIL;
			continue;
		} else if (asprintf(&path, "%s%s%s", root, rel[0] && strcmp(root, "/") ? "/" : "",
				    rel) < 0) {
			path = NULL;
		}
		if (!path) {
			fprintf(stderr, PROG ": out of memory\n");
			ret = CLI_FAIL;
			break;
		}
		over = (row->q.bytes_limit && s.blocks * 512 > row->q.bytes_limit) ||
		       (row->q.inodes_limit && s.inodes > row->q.inodes_limit);
		any_over |= over;
		if (json) {
			char fid[LOAFRE_FID_STRLEN];
			loafre_fid_format(&row->q.dir, fid);
			fputs("{\"dir\":", stdout);
			idx_json_str(stdout, path);
			printf(",\"filesystem\":");
			idx_json_str(stdout, row->db->fs->name);
			printf(",\"fid\":\"%s\",\"bytes\":%" PRIu64 ",\"bytes_limit\":%" PRIu64
			       ",\"inodes\":%" PRIu64 ",\"inodes_limit\":%" PRIu64
			       ",\"state\":\"%s\",\"alert\":%s}\n",
			       fid, s.blocks * 512, row->q.bytes_limit, s.inodes, row->q.inodes_limit,
			       over ? "over" : "ok", row->q.over ? "true" : "false");
		} else {
			idx_human(s.blocks * 512, u, sizeof(u));
			limit_text(row->q.bytes_limit, true, lb, sizeof(lb));
			limit_text(row->q.inodes_limit, false, li, sizeof(li));
			printf("%-9s %-11s %10" PRIu64 " %12s  %-5s %-6s %s\n", u, lb, s.inodes, li,
			       over ? "over" : "ok", row->q.over ? "raised" : "-", path);
		}
		free(path);
	}
	if (check && any_over && ret == CLI_OK)
		ret = CLI_FAIL;
out:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": write error\n");
		ret = CLI_FAIL;
	}
	free(l.v);
	idx_cli_done(&ic);
	return ret;
}

int cmd_quota(struct cli *c)
{
	const char *sub = c->args[0], *only = NULL;
	bool json = false, has_bytes = false, has_inodes = false;
	uint64_t bytes = 0, inodes = 0;

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		switch (c->opts[i].opt) {
		case 'b':
			if (idx_parse_size(a, &bytes) < 0) {
				fprintf(stderr, PROG ": invalid size '%s' (N, or N with K, M, G, T)\n",
					a);
				return CLI_USAGE;
			}
			has_bytes = true;
			break;
		case 'i':
			if (idx_parse_size(a, &inodes) < 0) {
				fprintf(stderr, PROG ": invalid number of inodes '%s'\n", a);
				return CLI_USAGE;
			}
			has_inodes = true;
			break;
		case 'F': only = a; break;
		case 'J': json = true; break;
		}
	}
	if (strcmp(sub, "set") == 0 || strcmp(sub, "rm") == 0) {
		bool rm = sub[0] == 'r';
		if (c->n_args != 2) {
			fprintf(stderr, PROG ": usage: loafre quota %s DIR%s\n", sub,
				rm ? "" : " [--bytes N] [--inodes N]");
			return CLI_USAGE;
		}
		if (!rm && !has_bytes && !has_inodes) {
			fprintf(stderr, PROG ": set: give --bytes N and/or --inodes N\n");
			return CLI_USAGE;
		}
		if (rm && (has_bytes || has_inodes)) {
			fprintf(stderr, PROG ": rm takes no limits\n");
			return CLI_USAGE;
		}
		return quota_set(c, c->args[1], rm, has_bytes, bytes, has_inodes, inodes);
	}
	if (strcmp(sub, "list") == 0 || strcmp(sub, "check") == 0) {
		if (c->n_args != 1 || has_bytes || has_inodes) {
			fprintf(stderr, PROG ": usage: loafre quota %s [--fs FS] [--json]\n", sub);
			return CLI_USAGE;
		}
		return quota_show(c, only, json, sub[0] == 'c');
	}
	fprintf(stderr, PROG ": unknown subcommand '%s' (set, rm, list or check)\n", sub);
	return CLI_USAGE;
}
