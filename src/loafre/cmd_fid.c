/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_fid.c — fid2path and path2fid (as lfs prints them) and stats.
 *
 * A filesystem with an [index] whose database exists is answered from the
 * index (src/loafre/idx_cli.h; --index forces it, --live never uses it).
 * Otherwise local filesystems are resolved through their emulated MDT's
 * state, opened read-only (LOAFRE__LFS_READONLY: no journal, no writes;
 * safe while loafred runs); Lustre filesystems through liblustreapi
 * (llapi_fid2path).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "idx_cli.h"
#include "localfs.h"
#include "lustre_source.h"
#include "util.h"

/* Opens a local filesystem's engine read-only. Reports errors. */
static int open_lfs(struct cli *c, const struct loafre_fs_config *fs, struct loafre__lfs **ret)
{
	char *state = NULL;
	int r;

	if (asprintf(&state, "%s/localfs.db", fs->mdt_journals[0]) < 0) {
		fprintf(stderr, "loafre: out of memory\n");
		return CLI_FAIL;
	}
	r = loafre__lfs_open(fs->path, state, NULL, LOAFRE__LFS_READONLY, ret);
	if (r < 0) {
		if (r == -ENOENT)
			fprintf(stderr,
				"loafre: no state for %s at '%s' (has loafred watched it yet? start it with -c %s)\n",
				fs->name, state, c->config->path);
		else
			fprintf(stderr, "loafre: cannot open the state of %s ('%s'): %s\n", fs->name,
				state, strerror(-r));
		free(state);
		return CLI_FAIL;
	}
	free(state);
	return CLI_OK;
}

/* --index / --live: 1 index, -1 live, 0 default; CLI_USAGE on both. */
static int index_choice(struct cli *c, const char *prog, int *ret)
{
	*ret = 0;
	for (size_t i = 0; i < c->n_opts; i++) {
		int v = c->opts[i].opt == 'X' ? 1 : c->opts[i].opt == 'L' ? -1 : 0;
		if (v && *ret && *ret != v) {
			fprintf(stderr, "%s: --index and --live exclude each other\n", prog);
			return CLI_USAGE;
		}
		if (v)
			*ret = v;
	}
	return CLI_OK;
}

/* fid2path from the filesystem's index: CLI_OK with path, or CLI_FAIL
 * (printed). */
static int index_fid2path(struct cli *c, const struct loafre_fs_config *fs,
			  const struct loafre_fid *fid, const char *fidstr, char *path, size_t cap)
{
	struct idx_cli ic;
	struct idx_db *db;
	char rel[PATH_MAX];
	int r, ret = CLI_FAIL;

	idx_cli_init(&ic, c, "loafre fid2path", false);
	if (idx_cli_open_fs(&ic, fs, &db) != CLI_OK)
		goto out;
	r = loafre__idx_path(db->x, fid, rel, sizeof(rel));
	if (r == 0 && snprintf(path, cap, "%s%s%s", fs->path,
			       rel[0] && strcmp(fs->path, "/") ? "/" : "", rel) >= (int)cap)
		r = -ENAMETOOLONG;
	if (r == -ENOENT || r == -ENAMETOOLONG)
		fprintf(stderr, "loafre: cannot resolve FID %s on %s: %s\n", fidstr, fs->name,
			strerror(-r));
	else if (r < 0)
		idx_cli_store_error(&ic, db, r);
	else
		ret = CLI_OK;
out:
	idx_cli_done(&ic);
	return ret;
}

int cmd_fid2path(struct cli *c)
{
	const char *target = c->args[0], *fidarg = c->args[1];
	const struct loafre_fs_config *fs;
	struct loafre_fid fid;
	char fidstr[LOAFRE_FID_STRLEN], path[PATH_MAX];
	int r, mode;

	r = index_choice(c, "loafre fid2path", &mode);
	if (r != CLI_OK)
		return r;

	fs = strstr(target, "-MDT") ? loafre_config_find_mdt(c->config, target, NULL)
				    : loafre_config_find_fs(c->config, target);
	if (!fs) {
		fprintf(stderr, "loafre fid2path: unknown filesystem or MDT '%s' (not in %s)\n",
			target, c->config->path);
		return CLI_FAIL;
	}
	if (loafre_fid_parse(fidarg, strlen(fidarg), &fid) < 0) {
		fprintf(stderr, "loafre fid2path: invalid FID '%s'\n", fidarg);
		return CLI_USAGE;
	}
	loafre_fid_format(&fid, fidstr);
	if (mode > 0 || (mode == 0 && loafre_config_find_index(c->config, fs->name))) {
		struct idx_cli ic;
		bool has;
		idx_cli_init(&ic, c, "loafre fid2path", false);
		has = mode > 0 || idx_cli_fs_has_index(&ic, fs);
		idx_cli_done(&ic);
		if (has) {
			if (index_fid2path(c, fs, &fid, fidstr, path, sizeof(path)) != CLI_OK)
				return CLI_FAIL;
			printf("%s\n", path);
			return CLI_OK;
		}
	}
	if (fs->type == LOAFRE_FS_LUSTRE) {
		char rel[PATH_MAX];
		r = loafre__lustre_fid2path(fs->path, &fid, rel, sizeof(rel));
		if (r == 0 && snprintf(path, sizeof(path), "%s%s%s", fs->path,
				       rel[0] == '/' || !rel[0] ? "" : "/", rel) >= (int)sizeof(path))
			r = -ENAMETOOLONG;
	} else {
		struct loafre__lfs *l = NULL;
		if (open_lfs(c, fs, &l) != CLI_OK)
			return CLI_FAIL;
		r = loafre__lfs_fid2path(l, &fid, path, sizeof(path));
		loafre__lfs_close(l);
	}
	if (r < 0) {
		fprintf(stderr, "loafre: cannot resolve FID %s on %s: %s\n", fidstr, fs->name,
			r == -EOPNOTSUPP ? "built without liblustreapi" : strerror(-r));
		return CLI_FAIL;
	}
	printf("%s\n", path);
	return CLI_OK;
}

/* The absolute form of `path` without following its last component (so a
 * symlink is itself, as lfs path2fid does). malloc'ed, or NULL + errno. */
static char *absolute(const char *path)
{
	char *copy = strdup(path), *slash, *dir, *res = NULL;
	const char *base;

	if (!copy)
		return NULL;
	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	slash = strrchr(copy, '/');
	if (!slash) {
		dir = realpath(".", NULL);
		base = copy;
	} else if (slash == copy) {
		dir = strdup("/");
		base = copy[1] ? copy + 1 : ".";
	} else {
		*slash = '\0';
		dir = realpath(copy, NULL);
		base = slash + 1;
	}
	if (dir) {
		if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
			char *t = NULL;
			if (asprintf(&t, "%s/%s", dir, base) >= 0) {
				res = realpath(t, NULL);
				free(t);
			}
		} else if (asprintf(&res, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base) < 0) {
			res = NULL;
		}
	}
	free(dir);
	free(copy);
	return res;
}

/* The local filesystem whose (resolved) path contains abs: the longest. */
static const struct loafre_fs_config *fs_of_path(const struct loafre_config *cfg, const char *abs)
{
	const struct loafre_fs_config *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < cfg->n_fs; i++) {
		const struct loafre_fs_config *fs = &cfg->fs[i];
		char *root;
		size_t n;

		if (fs->type != LOAFRE_FS_LOCAL)
			continue;
		root = realpath(fs->path, NULL);
		if (!root)
			continue;
		n = strlen(root);
		if (strncmp(abs, root, n) == 0 && (abs[n] == '/' || abs[n] == '\0' || n == 1) &&
		    n >= best_len) {
			best = fs;
			best_len = n;
		}
		free(root);
	}
	return best;
}

int cmd_path2fid(struct cli *c)
{
	struct idx_cli ic;
	int ret, mode;

	ret = index_choice(c, "loafre path2fid", &mode);
	if (ret != CLI_OK)
		return ret;
	idx_cli_init(&ic, c, "loafre path2fid", false);
	for (int i = 0; i < c->n_args; i++) {
		const char *arg = c->args[i];
		char *abs;
		const struct loafre_fs_config *fs;
		struct loafre__lfs *l = NULL;
		struct loafre_fid fid;
		char fidstr[LOAFRE_FID_STRLEN];
		int r;

		if (mode >= 0) {
			/* from the index: its answer when the path's filesystem has
			 * one (--index: or an error); otherwise the state below */
			struct idx_path p;
			r = mode > 0 ? idx_cli_resolve(&ic, arg, &p)
				     : idx_cli_resolve_quiet(&ic, arg, &p);
			if (r == CLI_OK) {
				loafre_fid_format(&p.fid, fidstr);
				idx_path_free(&p);
				if (c->n_args > 1)
					printf("%s: %s\n", arg, fidstr);
				else
					printf("%s\n", fidstr);
				continue;
			}
			if (r == IDX_CLI_MISSING || r == -ENOENT) {
				fprintf(stderr, "loafre path2fid: cannot get FID of '%s': %s\n", arg,
					strerror(ENOENT));
				ret = CLI_FAIL;
				continue;
			}
			if (mode > 0) {
				ret = CLI_FAIL;
				continue;
			}
		}
		abs = absolute(arg);
		if (!abs) {
			fprintf(stderr, "loafre path2fid: cannot get FID of '%s': %s\n", arg,
				strerror(errno));
			ret = CLI_FAIL;
			continue;
		}
		fs = fs_of_path(c->config, abs);
		if (!fs) {
			fprintf(stderr,
				"loafre path2fid: '%s' is not in a local filesystem of %s\n", arg,
				c->config->path);
			free(abs);
			ret = CLI_FAIL;
			continue;
		}
		if (open_lfs(c, fs, &l) != CLI_OK) {
			free(abs);
			ret = CLI_FAIL;
			continue;
		}
		r = loafre__lfs_path2fid(l, abs, &fid);
		loafre__lfs_close(l);
		free(abs);
		if (r < 0) {
			fprintf(stderr, "loafre path2fid: cannot get FID of '%s': %s\n", arg,
				strerror(-r));
			ret = CLI_FAIL;
			continue;
		}
		loafre_fid_format(&fid, fidstr);
		if (c->n_args > 1)
			printf("%s: %s\n", arg, fidstr);
		else
			printf("%s\n", fidstr);
	}
	idx_cli_done(&ic);
	return ret;
}

int cmd_stats(struct cli *c)
{
	char *path = NULL, *buf = NULL;
	size_t len = 0;
	int r;

	if (asprintf(&path, "%s/stats", c->config->run_dir) < 0) {
		fprintf(stderr, "loafre: out of memory\n");
		return CLI_FAIL;
	}
	r = loafre__read_file(path, 1u << 24, &buf, &len);
	if (r < 0) {
		if (r == -ENOENT)
			fprintf(stderr, "loafre: no statistics at '%s' (is loafred running?)\n", path);
		else
			fprintf(stderr, "loafre: cannot read '%s': %s\n", path, strerror(-r));
		free(path);
		return CLI_FAIL;
	}
	fwrite(buf, 1, len, stdout);
	free(buf);
	free(path);
	return CLI_OK;
}
