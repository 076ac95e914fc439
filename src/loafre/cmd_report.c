/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_report.c — `loafre report`: the questions rbh-report answers, from a
 * filesystem's metadata index (lib/index_store.h aggregates):
 *
 *   --fs-info         entries per type, space used, volume, index size
 *   --top-users[=N]   users by space used (loafre__idx_owners 'u')
 *   --top-groups[=N]  groups by space used
 *   --top-dirs[=N]    directories by subtree space (loafre__idx_top_dirs)
 *   --size-profile    regular files per size class, from the store's
 *                     power-of-two buckets: 0, [1, 32), [32, 1K), [1K, 32K),
 *                     [32K, 1M), [1M, 32M), [32M, 1G), [1G, 32G),
 *                     [32G, 1T), [1T, ...)
 *   --oldest[=N]      entries by mtime (--atime: atime), oldest first
 *   --user U          one user's totals and size profile
 *
 * "space used" is st_blocks x 512 (what du counts), "volume" st_size; an
 * inode is counted once. Text output is a table with a header line;
 * --json prints one JSON document.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "idx_cli.h"

#define PROG "loafre report"
#define DEFAULT_TOP 20
#define N_CLASSES 10

/* Size classes: [2^lo_exp, 2^hi_exp) in bytes; class 0 is the empty files. */
static const struct {
	const char *label;
	unsigned lo_bucket, hi_bucket; /* store buckets k in [lo, hi] */
} classes[N_CLASSES] = {
	{"0", 0, 0},          {"1-31", 1, 5},       {"32-1K", 6, 10},    {"1K-32K", 11, 15},
	{"32K-1M", 16, 20},   {"1M-32M", 21, 25},   {"32M-1G", 26, 30},  {"1G-32G", 31, 35},
	{"32G-1T", 36, 40},   {"+1T", 41, 63},
};

struct rx {
	struct idx_cli ic;
	struct idx_db *db;
	bool json;
	size_t rank;
	char by;
	bool first;            /* JSON: no comma before the next element */
};

static void hsize(uint64_t v, char *b, size_t cap)
{
	idx_human(v, b, cap);
}

/* ---- --fs-info ------------------------------------------------------------------------ */

static int fs_info(struct rx *x)
{
	struct loafre__idx_owner_sum t;
	uint64_t db_bytes = 0, entries = 0, other;
	char a[32], b[32], e[32];
	int r;

	if ((r = loafre__idx_totals(x->db->x, &t)) < 0 ||
	    (r = loafre__idx_size(x->db->x, &db_bytes, &entries)) < 0) {
		idx_cli_store_error(&x->ic, x->db, r);
		return CLI_FAIL;
	}
	other = t.inodes - t.files - t.dirs - t.symlinks;
	if (x->json) {
		printf("{\"filesystem\":");
		idx_json_str(stdout, x->db->fs->name);
		printf(",\"path\":");
		idx_json_str(stdout, x->db->fs->path);
		printf(",\"entries\":%" PRIu64 ",\"files\":%" PRIu64 ",\"dirs\":%" PRIu64
		       ",\"symlinks\":%" PRIu64 ",\"others\":%" PRIu64 ",\"spc_used\":%" PRIu64
		       ",\"volume\":%" PRIu64 ",\"index\":",
		       t.inodes, t.files, t.dirs, t.symlinks, other, t.blocks * 512, t.bytes);
		idx_json_str(stdout, x->db->ic->database);
		printf(",\"index_bytes\":%" PRIu64 ",\"index_entries\":%" PRIu64
		       ",\"index_bytes_per_entry\":%.1f}\n",
		       db_bytes, entries, entries ? (double)db_bytes / (double)entries : 0.0);
		return CLI_OK;
	}
	printf("filesystem %s (%s)\n\n", x->db->fs->name, x->db->fs->path);
	printf("%-9s %12s\n", "type", "count");
	printf("%-9s %12" PRIu64 "\n", "file", t.files);
	printf("%-9s %12" PRIu64 "\n", "dir", t.dirs);
	printf("%-9s %12" PRIu64 "\n", "symlink", t.symlinks);
	printf("%-9s %12" PRIu64 "\n", "other", other);
	hsize(t.blocks * 512, a, sizeof(a));
	hsize(t.bytes, b, sizeof(b));
	printf("\ntotal: %" PRIu64 " entries, space used %s (%" PRIu64 " bytes), volume %s (%" PRIu64
	       " bytes)\n",
	       t.inodes, a, t.blocks * 512, b, t.bytes);
	hsize(db_bytes, e, sizeof(e));
	printf("index: %s, %s (%" PRIu64 " bytes), %" PRIu64 " entries, %.1f bytes per entry\n",
	       x->db->ic->database, e, db_bytes, entries,
	       entries ? (double)db_bytes / (double)entries : 0.0);
	return CLI_OK;
}

/* ---- --top-users / --top-groups ----------------------------------------------------- */

static int owner_row(void *ctx, const struct loafre__idx_owner_sum *s)
{
	struct rx *x = ctx;
	char name[256], a[32], b[32], avg[32];
	const char *nm = x->by == 'u' ? idx_user_name(s->id, name, sizeof(name))
				      : idx_group_name(s->id, name, sizeof(name));

	x->rank++;
	if (x->json) {
		printf("%s{\"rank\":%zu,\"%s\":", x->first ? "" : ",", x->rank,
		       x->by == 'u' ? "user" : "group");
		idx_json_str(stdout, nm);
		printf(",\"%s\":%" PRIu32 ",\"spc_used\":%" PRIu64 ",\"volume\":%" PRIu64
		       ",\"count\":%" PRIu64 ",\"files\":%" PRIu64 ",\"dirs\":%" PRIu64
		       ",\"symlinks\":%" PRIu64 "}",
		       x->by == 'u' ? "uid" : "gid", s->id, s->blocks * 512, s->bytes, s->inodes,
		       s->files, s->dirs, s->symlinks);
		x->first = false;
		return 0;
	}
	hsize(s->blocks * 512, a, sizeof(a));
	hsize(s->bytes, b, sizeof(b));
	hsize(s->files ? s->bytes / s->files : 0, avg, sizeof(avg));
	printf("%5zu  %-16s %10s %10s %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10s\n", x->rank, nm,
	       a, b, s->inodes, s->files, s->dirs, avg);
	return 0;
}

static int top_owners(struct rx *x, char by, size_t n)
{
	int r;

	x->by = by;
	x->rank = 0;
	x->first = true;
	if (x->json)
		printf("{\"top_%s\":[", by == 'u' ? "users" : "groups");
	else
		printf("%5s  %-16s %10s %10s %12s %12s %10s %10s\n", "rank",
		       by == 'u' ? "user" : "group", "spc_used", "volume", "count", "files", "dirs",
		       "avg_size");
	r = loafre__idx_owners(x->db->x, by, n, owner_row, x);
	if (x->json)
		printf("]}\n");
	if (r < 0) {
		idx_cli_store_error(&x->ic, x->db, r);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ---- --top-dirs ------------------------------------------------------------------------ */

static int dir_row(void *ctx, const struct loafre_fid *dir, const struct loafre__idx_sum *s)
{
	struct rx *x = ctx;
	char rel[8192], a[32], b[32], *path = NULL;
	const char *root = x->db->fs->path;
	int r = loafre__idx_path(x->db->x, dir, rel, sizeof(rel));

	if (r == -ENOENT || r == -ENAMETOOLONG)
		loafre_fid_format(dir, rel);
	else if (r < 0)
		return r;
	if (r < 0)
		path = strdup(rel);
	else if (asprintf(&path, "%s%s%s", root, rel[0] && strcmp(root, "/") ? "/" : "", rel) < 0)
		path = NULL;
	if (!path)
		return -ENOMEM;
	x->rank++;
	if (x->json) {
		char fid[LOAFRE_FID_STRLEN];
		loafre_fid_format(dir, fid);
		printf("%s{\"rank\":%zu,\"path\":", x->first ? "" : ",", x->rank);
		idx_json_str(stdout, path);
		printf(",\"fid\":\"%s\",\"spc_used\":%" PRIu64 ",\"volume\":%" PRIu64
		       ",\"count\":%" PRIu64 "}",
		       fid, s->blocks * 512, s->bytes, s->inodes);
		x->first = false;
	} else {
		hsize(s->blocks * 512, a, sizeof(a));
		hsize(s->bytes, b, sizeof(b));
		printf("%5zu  %10s %10s %12" PRIu64 "  %s\n", x->rank, a, b, s->inodes, path);
	}
	free(path);
	return 0;
}

static int top_dirs(struct rx *x, size_t n)
{
	int r;

	x->rank = 0;
	x->first = true;
	if (x->json)
		printf("{\"top_dirs\":[");
	else
		printf("%5s  %10s %10s %12s  %s\n", "rank", "spc_used", "volume", "count", "path");
	r = loafre__idx_top_dirs(x->db->x, n, dir_row, x);
	if (x->json)
		printf("]}\n");
	if (r < 0) {
		if (r == -ENOMEM)
			fprintf(stderr, PROG ": out of memory\n");
		else
			idx_cli_store_error(&x->ic, x->db, r);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ---- --size-profile ---------------------------------------------------------------------- */

static void print_profile(struct rx *x, const uint64_t counts[64], const uint64_t bytes[64])
{
	uint64_t total = 0;

	for (int k = 0; k < 64; k++)
		total += counts[k];
	if (x->json) {
		printf("\"size_profile\":[");
		for (int c = 0; c < N_CLASSES; c++) {
			uint64_t n = 0, b = 0;
			for (unsigned k = classes[c].lo_bucket; k <= classes[c].hi_bucket; k++) {
				n += counts[k];
				b += bytes[k];
			}
			printf("%s{\"class\":\"%s\",\"count\":%" PRIu64 ",\"volume\":%" PRIu64 "}",
			       c ? "," : "", classes[c].label, n, b);
		}
		printf("]");
		return;
	}
	printf("%-8s %12s %7s %10s\n", "size", "files", "%", "volume");
	for (int c = 0; c < N_CLASSES; c++) {
		uint64_t n = 0, b = 0;
		char v[32];
		for (unsigned k = classes[c].lo_bucket; k <= classes[c].hi_bucket; k++) {
			n += counts[k];
			b += bytes[k];
		}
		hsize(b, v, sizeof(v));
		printf("%-8s %12" PRIu64 " %6.2f%% %10s\n", classes[c].label, n,
		       total ? 100.0 * (double)n / (double)total : 0.0, v);
	}
}

static int size_profile(struct rx *x, uint32_t uid)
{
	uint64_t counts[64], bytes[64];
	int r = loafre__idx_size_profile(x->db->x, uid, counts, bytes);

	if (r < 0) {
		idx_cli_store_error(&x->ic, x->db, r);
		return CLI_FAIL;
	}
	if (x->json)
		printf("{");
	print_profile(x, counts, bytes);
	if (x->json)
		printf("}\n");
	return CLI_OK;
}

/* ---- --oldest ------------------------------------------------------------------------------ */

struct oldest_ctx {
	struct rx *x;
	char field;
};

static int oldest_row(void *ctx, const struct loafre__idx_entry *e)
{
	struct oldest_ctx *o = ctx;
	struct rx *x = o->x;
	char rel[8192], when[64], user[256], sz[32], *path = NULL;
	const char *root = x->db->fs->path;
	int64_t ns = o->field == 'a' ? e->a.atime_ns : e->a.mtime_ns;
	time_t t = (time_t)(ns / 1000000000 - (ns % 1000000000 < 0));
	struct tm tm;
	int r = loafre__idx_path(x->db->x, &e->fid, rel, sizeof(rel));

	if (r == -ENOENT || r == -ENAMETOOLONG)
		return 0; /* an orphan, or unprintable */
	if (r < 0)
		return r;
	if (asprintf(&path, "%s%s%s", root, rel[0] && strcmp(root, "/") ? "/" : "", rel) < 0)
		return -ENOMEM;
	x->rank++;
	if (x->json) {
		char fid[LOAFRE_FID_STRLEN];
		loafre_fid_format(&e->fid, fid);
		printf("%s{\"rank\":%zu,\"path\":", x->first ? "" : ",", x->rank);
		idx_json_str(stdout, path);
		printf(",\"fid\":\"%s\",\"type\":\"%c\",\"uid\":%" PRIu32 ",\"size\":%" PRIu64
		       ",\"%s\":",
		       fid, idx_type_char(e->a.mode), e->a.uid, e->a.size,
		       o->field == 'a' ? "atime" : "mtime");
		idx_json_time(stdout, ns);
		printf("}");
		x->first = false;
	} else {
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		hsize(e->a.size, sz, sizeof(sz));
		printf("%5zu  %s  %-12s %8s  %s\n", x->rank, when,
		       idx_user_name(e->a.uid, user, sizeof(user)), sz, path);
	}
	free(path);
	return 0;
}

static int oldest(struct rx *x, size_t n, char field)
{
	struct oldest_ctx o = {x, field};
	int r;

	x->rank = 0;
	x->first = true;
	if (x->json)
		printf("{\"oldest\":[");
	else
		printf("%5s  %-19s  %-12s %8s  %s\n", "rank", field == 'a' ? "atime" : "mtime",
		       "user", "size", "path");
	r = loafre__idx_oldest(x->db->x, field, UINT32_MAX, n, oldest_row, &o);
	if (x->json)
		printf("]}\n");
	if (r < 0) {
		if (r == -ENOMEM)
			fprintf(stderr, PROG ": out of memory\n");
		else
			idx_cli_store_error(&x->ic, x->db, r);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ---- --user ---------------------------------------------------------------------------------- */

struct user_ctx {
	uint32_t uid;
	struct loafre__idx_owner_sum s;
	bool found;
};

static int user_pick(void *ctx, const struct loafre__idx_owner_sum *s)
{
	struct user_ctx *u = ctx;

	if (s->id == u->uid) {
		u->s = *s;
		u->found = true;
	}
	return 0;
}

static int user_report(struct rx *x, uint32_t uid)
{
	struct user_ctx u = {.uid = uid};
	uint64_t counts[64], bytes[64];
	char name[256], a[32], b[32];
	int r;

	if ((r = loafre__idx_owners(x->db->x, 'u', 0, user_pick, &u)) < 0 ||
	    (r = loafre__idx_size_profile(x->db->x, uid, counts, bytes)) < 0) {
		idx_cli_store_error(&x->ic, x->db, r);
		return CLI_FAIL;
	}
	idx_user_name(uid, name, sizeof(name));
	if (x->json) {
		printf("{\"user\":");
		idx_json_str(stdout, name);
		printf(",\"uid\":%" PRIu32 ",\"spc_used\":%" PRIu64 ",\"volume\":%" PRIu64
		       ",\"count\":%" PRIu64 ",\"files\":%" PRIu64 ",\"dirs\":%" PRIu64
		       ",\"symlinks\":%" PRIu64 ",",
		       uid, u.s.blocks * 512, u.s.bytes, u.s.inodes, u.s.files, u.s.dirs,
		       u.s.symlinks);
		print_profile(x, counts, bytes);
		printf("}\n");
		return CLI_OK;
	}
	hsize(u.s.blocks * 512, a, sizeof(a));
	hsize(u.s.bytes, b, sizeof(b));
	printf("user %s (uid %" PRIu32 "): %" PRIu64 " entries (%" PRIu64 " files, %" PRIu64
	       " dirs, %" PRIu64 " symlinks), space used %s (%" PRIu64 " bytes), volume %s (%" PRIu64
	       " bytes)\n\n",
	       name, uid, u.s.inodes, u.s.files, u.s.dirs, u.s.symlinks, a, u.s.blocks * 512, b,
	       u.s.bytes);
	print_profile(x, counts, bytes);
	return CLI_OK;
}

/* ---- the command ------------------------------------------------------------------------------ */

/* The filesystem to report on: --fs FS, else the one holding PATH (or the
 * argument names a filesystem), else the only indexed one. */
static int pick_fs(struct rx *x, struct cli *c, const char *fsname)
{
	const struct loafre_fs_config *fs = NULL;

	if (!fsname && c->n_args == 1) {
		if (loafre_config_find_fs(c->config, c->args[0]) && !strchr(c->args[0], '/'))
			fsname = c->args[0];
		else {
			struct idx_path p;
			int r = idx_cli_resolve(&x->ic, c->args[0], &p);
			if (r == IDX_CLI_MISSING)
				fprintf(stderr, PROG ": '%s': No such file or directory\n",
					c->args[0]);
			if (r != CLI_OK)
				return CLI_FAIL;
			x->db = p.db;
			idx_path_free(&p);
			return CLI_OK;
		}
	}
	if (fsname) {
		fs = loafre_config_find_fs(c->config, fsname);
		if (!fs) {
			fprintf(stderr, PROG ": unknown filesystem '%s' (not in %s)\n", fsname,
				c->config->path);
			return CLI_FAIL;
		}
	} else {
		for (size_t i = 0; i < c->config->n_fs; i++) {
			if (!loafre_config_find_index(c->config, c->config->fs[i].name))
				continue;
			if (fs) {
				fprintf(stderr,
					PROG ": several filesystems are indexed: name one with --fs "
					     "FS or a PATH\n");
				return CLI_FAIL;
			}
			fs = &c->config->fs[i];
		}
		if (!fs) {
			fprintf(stderr, PROG ": no filesystem of %s has an [index] section\n",
				c->config->path);
			return CLI_FAIL;
		}
	}
	return idx_cli_open_fs(&x->ic, fs, &x->db);
}

int cmd_report(struct cli *c)
{
	struct rx x = {0};
	const char *fsname = NULL, *user = NULL;
	char what = 0, field = 'm';
	size_t n = DEFAULT_TOP;
	uint32_t uid = 0;
	int ret;

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		switch (c->opts[i].opt) {
		case 'i': case 'u': case 'g': case 'd': case 'p': case 'o': case 'U':
			if (what && what != c->opts[i].opt) {
				fprintf(stderr, PROG ": one report at a time\n");
				return CLI_USAGE;
			}
			what = (char)c->opts[i].opt;
			if (what == 'U')
				user = a;
			else if (a && (idx_parse_count(a, &n) < 0 || n == 0)) {
				fprintf(stderr, PROG ": invalid count '%s'\n", a);
				return CLI_USAGE;
			}
			break;
		case 'a': field = 'a'; break;
		case 'F': fsname = a; break;
		case 'J': x.json = true; break;
		}
	}
	if (!what) {
		fprintf(stderr, PROG ": which report? --fs-info, --top-users, --top-groups, "
				"--top-dirs, --size-profile, --oldest or --user U\n");
		return CLI_USAGE;
	}
	if (user && idx_parse_user(user, &uid) < 0) {
		fprintf(stderr, PROG ": unknown user '%s'\n", user);
		return CLI_FAIL;
	}
	idx_cli_init(&x.ic, c, PROG, false);
	ret = pick_fs(&x, c, fsname);
	if (ret != CLI_OK)
		goto out;
	switch (what) {
	case 'i': ret = fs_info(&x); break;
	case 'u': ret = top_owners(&x, 'u', n); break;
	case 'g': ret = top_owners(&x, 'g', n); break;
	case 'd': ret = top_dirs(&x, n); break;
	case 'p': ret = size_profile(&x, UINT32_MAX); break;
	case 'o': ret = oldest(&x, n, field); break;
	case 'U': ret = user_report(&x, uid); break;
	}
out:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": write error\n");
		ret = CLI_FAIL;
	}
	idx_cli_done(&x.ic);
	return ret;
}
