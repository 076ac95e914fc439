/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_locate.c — `loafre locate [-i] [-c] [-l N] [-0] [--fs FS] PATTERN...`:
 * names in the metadata indexes, in the spirit of `plocate -b`.
 *
 * A PATTERN without glob characters (* ? [) matches names containing it; a
 * PATTERN with them is an fnmatch(3) glob the whole name must match
 * (backslash escapes). Every PATTERN must match. The store is asked for
 * the names containing the longest literal part of any PATTERN
 * (loafre__idx_names: SQLite answers from its name base, trigram lists
 * of the names, plus a scan of the packed names changed since the base
 * was built — always the current names; docs/index.md "SQLite layout"),
 * then every candidate is checked against every PATTERN. Paths are printed in full: the
 * filesystem's configured path, then the link's path in the index.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "idx_cli.h"

#define PROG "loafre locate"

struct pat {
	const char *s;   /* as given */
	bool glob;       /* has * ? or [ */
	char *lit;       /* its longest literal part (owned) */
};

struct lx {
	struct idx_cli ic;
	struct pat *pats;
	int n_pats;
	bool icase, count_only, json;
	char term;             /* '\n' or '\0' */
	size_t limit;          /* 0: none */
	uint64_t found;
	struct idx_db *db;     /* being searched */
	int err;
};

/* The longest run of literal bytes of a glob (escapes removed). */
static char *longest_literal(const char *g)
{
	size_t n = strlen(g), best_off = 0, best_len = 0, cur_len = 0;
	char *lit = malloc(n + 1), *out;
	size_t L = 0;
	bool *brk = calloc(n + 1, sizeof(*brk));

	if (!lit || !brk) {
		free(lit);
		free(brk);
		return NULL;
	}
	/* lit: the literal bytes in order; brk[k]: a wildcard precedes lit[k] */
	for (size_t i = 0; i < n; i++) {
		if (g[i] == '\\' && i + 1 < n) {
			lit[L++] = g[++i];
		} else if (g[i] == '*' || g[i] == '?') {
			brk[L] = true;
		} else if (g[i] == '[') {
			size_t j = i + 1;
			if (j < n && (g[j] == '!' || g[j] == '^'))
				j++;
			if (j < n && g[j] == ']')
				j++;
			while (j < n && g[j] != ']')
				j++;
			if (j < n) {
				i = j;
				brk[L] = true;
			} else {
				lit[L++] = g[i]; /* an unclosed [ is literal */
			}
		} else {
			lit[L++] = g[i];
		}
	}
	for (size_t k = 0; k < L; k++) {
		if (brk[k])
			cur_len = 0;
		cur_len++;
		if (cur_len > best_len) {
			best_len = cur_len;
			best_off = k + 1 - cur_len;
		}
	}
	out = strndup(lit + best_off, best_len);
	free(lit);
	free(brk);
	return out;
}

static bool matches(const struct lx *x, const char *name)
{
	for (int i = 0; i < x->n_pats; i++) {
		const struct pat *p = &x->pats[i];
		if (p->glob) {
			if (fnmatch(p->s, name, x->icase ? FNM_CASEFOLD : 0) != 0)
				return false;
		} else if (!(x->icase ? strcasestr(name, p->s) : strstr(name, p->s))) {
			return false;
		}
	}
	return true;
}

static int hit(void *ctx, const struct loafre_fid *parent, const char *name,
	       const struct loafre__idx_entry *e)
{
	struct lx *x = ctx;
	const char *dir, *root = x->db->fs->path;
	int r;

	if (!matches(x, name))
		return 0;
	x->found++;
	if (!x->count_only) {
		r = idx_db_dirpath(x->db, parent, &dir);
		if (r == -ENOENT) {
			x->found--;
			return 0; /* removed meanwhile */
		}
		if (r < 0) {
			idx_cli_store_error(&x->ic, x->db, r);
			x->err = CLI_FAIL;
			return r;
		}
		if (x->json) {
			char fid[LOAFRE_FID_STRLEN], *path = NULL;
			if (asprintf(&path, "%s%s%s%s%s", root, strcmp(root, "/") ? "/" : "", dir,
				     *dir ? "/" : "", name) < 0) {
				fprintf(stderr, PROG ": out of memory\n");
				x->err = CLI_FAIL;
				return -ENOMEM;
			}
			loafre_fid_format(&e->fid, fid);
			fputs("{\"path\":", stdout);
			idx_json_str(stdout, path);
			printf(",\"fid\":\"%s\",\"type\":\"%c\",\"size\":%" PRIu64 ",\"uid\":%" PRIu32
			       ",\"mtime\":",
			       fid, idx_type_char(e->a.mode), e->a.size, e->a.uid);
			idx_json_time(stdout, e->a.mtime_ns);
			fputs("}\n", stdout);
			free(path);
		} else {
			fputs(root, stdout);
			if (strcmp(root, "/"))
				putchar('/');
			if (*dir) {
				fputs(dir, stdout);
				putchar('/');
			}
			fputs(name, stdout);
			putchar(x->term);
		}
	}
	return x->limit && x->found >= x->limit ? 1 : 0;
}

static int search(struct lx *x, const struct loafre_fs_config *fs, const char *needle)
{
	int r;

	if (idx_cli_open_fs(&x->ic, fs, &x->db) != CLI_OK)
		return CLI_FAIL;
	r = loafre__idx_names(x->db->x, needle, x->icase, hit, x);
	if (r < 0) {
		if (!x->err)
			idx_cli_store_error(&x->ic, x->db, r);
		return CLI_FAIL;
	}
	return x->err ? x->err : CLI_OK;
}

int cmd_locate(struct cli *c)
{
	struct lx x = {.term = '\n'};
	const char *only = NULL, *needle = "";
	int ret = CLI_OK;
	size_t best = 0;
	static char outbuf[1 << 16];

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		switch (c->opts[i].opt) {
		case 'i': x.icase = true; break;
		case 'c': x.count_only = true; break;
		case '0': x.term = '\0'; break;
		case 'b': break; /* always on */
		case 'F': only = a; break;
		case 'J': x.json = true; break;
		case 'l':
			if (idx_parse_count(a, &x.limit) < 0) {
				fprintf(stderr, PROG ": invalid limit '%s'\n", a);
				return CLI_USAGE;
			}
			break;
		}
	}
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	x.n_pats = c->n_args;
	x.pats = calloc((size_t)x.n_pats, sizeof(*x.pats));
	if (!x.pats) {
		fprintf(stderr, PROG ": out of memory\n");
		return CLI_FAIL;
	}
	idx_cli_init(&x.ic, c, PROG, false);
	for (int i = 0; i < x.n_pats; i++) {
		struct pat *p = &x.pats[i];
		p->s = c->args[i];
		p->glob = strpbrk(p->s, "*?[") != NULL;
		p->lit = p->glob ? longest_literal(p->s) : strdup(p->s);
		if (!p->lit) {
			fprintf(stderr, PROG ": out of memory\n");
			ret = CLI_FAIL;
			goto out;
		}
		if (strlen(p->lit) >= best) {
			best = strlen(p->lit);
			needle = p->lit;
		}
	}
	if (only) {
		const struct loafre_fs_config *fs = loafre_config_find_fs(c->config, only);
		if (!fs) {
			fprintf(stderr, PROG ": unknown filesystem '%s' (not in %s)\n", only,
				c->config->path);
			ret = CLI_FAIL;
			goto out;
		}
		ret = search(&x, fs, needle);
	} else {
		bool any = false;
		for (size_t i = 0; i < c->config->n_fs; i++) {
			const struct loafre_fs_config *fs = &c->config->fs[i];
			if (!loafre_config_find_index(c->config, fs->name))
				continue;
			any = true;
			if (search(&x, fs, needle) != CLI_OK)
				ret = CLI_FAIL;
			if (x.limit && x.found >= x.limit)
				break;
		}
		if (!any) {
			fprintf(stderr, PROG ": no filesystem of %s has an [index] section\n",
				c->config->path);
			ret = CLI_FAIL;
		}
	}
	if (x.count_only)
		printf("%" PRIu64 "\n", x.found);
	if (ret == CLI_OK && x.found == 0 && !x.count_only)
		ret = CLI_FAIL; /* like locate: nothing found */
out:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": write error\n");
		ret = CLI_FAIL;
	}
	for (int i = 0; i < x.n_pats; i++)
		free(x.pats[i].lit);
	free(x.pats);
	idx_cli_done(&x.ic);
	return ret;
}
