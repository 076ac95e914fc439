/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_du.c — `loafre du`: GNU du's numbers and output from a metadata
 * index (lib/index_store.h).
 *
 * GNU du counts every inode once per invocation: a hard-linked file at the
 * first link its traversal meets, and, with several PATHs, nothing that an
 * earlier PATH already counted (a PATH inside an earlier one prints
 * nothing). The index keeps, per directory, the rollup of its subtree with
 * each inode counted at its primary link (its oldest link), so:
 *
 *   total(PATH) = rollup(PATH) + adjustments
 *
 * where the adjustments, computed from the few inodes with several links
 * (loafre__idx_multilinks) and from the earlier PATHs, move an inode from
 * its primary link to the link GNU's rule gives it (its primary link when
 * that lies in PATH, else its first link in traversal order), remove the
 * inodes earlier PATHs counted (rollups of earlier PATHs nested in this
 * one), and remove inodes counted by no link of PATH. `du -s DIR` is thus
 * one rollup read plus a pass over the multi-linked inodes, whatever the
 * size of DIR; of the filesystem's root (the first PATH of its
 * filesystem, without -a) the rollup alone: every link is inside it.
 * The per-directory lines of a listing are the rollup of each
 * directory plus the adjustments located below it. The one difference
 * from GNU du: GNU counts a hard-linked inode in the directory its readdir
 * order meets first; this counts it at its primary link when that is in
 * PATH — per-directory lines can differ for inodes with links in two
 * different subdirectories of PATH, the PATH totals never do. With -a,
 * of several links in that one directory, the line names the first the
 * live directory's readdir gives (GNU's choice; the store's choice when the
 * directory cannot be read here).
 *
 * --by-user / --by-group walk PATH's subtree in the index (GNU's rule
 * exactly: a seen set of multi-linked inodes, and of directories when
 * there are several PATHs).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "idx_cli.h"

#define PROG "loafre du"

/* Sums are the store's rollup type, struct loafre__idx_sum (blocks in
 * 512-byte units, bytes, inodes); adjustments are added modulo 2^64 (they
 * may be negative). */

static void sums_add(struct loafre__idx_sum *a, const struct loafre__idx_sum *b, int sign)
{
	a->blocks += sign > 0 ? b->blocks : -b->blocks;
	a->bytes += sign > 0 ? b->bytes : -b->bytes;
	a->inodes += sign > 0 ? b->inodes : -b->inodes;
}

/* ---- a string → sums map ------------------------------------------------------------ */

struct smap_slot {
	char *key;         /* owned; NULL: empty */
	struct loafre__idx_sum v;
};

struct smap {
	struct smap_slot *v;
	size_t cap, n;     /* cap: power of two */
};

static size_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)(h ^ (h >> 31));
}

static void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->v[i].key);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static struct loafre__idx_sum *smap_get(const struct smap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = str_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->v[i].key)
			return NULL;
		if (strcmp(m->v[i].key, key) == 0)
			return &m->v[i].v;
	}
}

/* The entry of key, created (zero) if absent; NULL on ENOMEM. */
static struct loafre__idx_sum *smap_at(struct smap *m, const char *key, size_t keylen)
{
	size_t i;

	if (m->n + 1 > m->cap / 2) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		struct smap_slot *nv = calloc(ncap, sizeof(*nv));
		if (!nv)
			return NULL;
		for (size_t k = 0; k < m->cap; k++) {
			if (!m->v[k].key)
				continue;
			for (i = str_hash(m->v[k].key) & (ncap - 1); nv[i].key; i = (i + 1) & (ncap - 1))
				;
			nv[i] = m->v[k];
		}
		free(m->v);
		m->v = nv;
		m->cap = ncap;
	}
	{
		char *k = strndup(key, keylen);
		if (!k)
			return NULL;
		for (i = str_hash(k) & (m->cap - 1); m->v[i].key; i = (i + 1) & (m->cap - 1))
			if (strcmp(m->v[i].key, k) == 0) {
				free(k);
				return &m->v[i].v;
			}
		m->v[i].key = k;
		m->n++;
		return &m->v[i].v;
	}
}

/* ---- multi-linked inodes ------------------------------------------------------------ */

struct ml_link {
	char *rel;          /* the link's path relative to the root (owned) */
	bool primary;
};

struct ml_inode {
	struct loafre_fid fid;
	struct loafre__idx_sum own;      /* its blocks, bytes, 1 */
	struct ml_link *links;
	size_t n;             /* links */
	size_t primary;       /* index of the primary link */
	long assigned;        /* current PATH: the link that counts it, or -1 */
};

struct ml_set {
	struct idx_db *db;       /* whose inodes */
	struct ml_inode *v;      /* sorted by FID */
	size_t n;
	struct ml_set *next;
};

/* A link as loafre__idx_multilinks() gives it, before grouping. */
struct ml_raw {
	struct loafre_fid fid, parent;
	struct loafre__idx_sum own;
	char *name;
	bool primary;
	size_t seq;              /* arrival order (primary first per inode) */
};

struct ml_collect {
	struct ml_raw *v;
	size_t n, cap;
};

static int ml_cb(void *ctx, const struct loafre__idx_entry *e, const struct loafre_fid *parent,
		 const char *name, bool primary)
{
	struct ml_collect *c = ctx;
	struct ml_raw *r;

	if (S_ISDIR(e->a.mode))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct ml_raw *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	r = &c->v[c->n];
	r->fid = e->fid;
	r->parent = *parent;
	r->own = (struct loafre__idx_sum){e->a.blocks, e->a.size, 1};
	r->primary = primary;
	r->seq = c->n;
	r->name = strdup(name);
	if (!r->name)
		return -ENOMEM;
	c->n++;
	return 0;
}

static int fid_cmp(const struct loafre_fid *a, const struct loafre_fid *b)
{
	if (a->f_seq != b->f_seq)
		return a->f_seq < b->f_seq ? -1 : 1;
	if (a->f_oid != b->f_oid)
		return a->f_oid < b->f_oid ? -1 : 1;
	if (a->f_ver != b->f_ver)
		return a->f_ver < b->f_ver ? -1 : 1;
	return 0;
}

static int raw_cmp(const void *a, const void *b)
{
	const struct ml_raw *x = a, *y = b;
	int c = fid_cmp(&x->fid, &y->fid);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void ml_set_free(struct ml_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; k < s->v[i].n; k++)
			free(s->v[i].links[k].rel);
		free(s->v[i].links);
	}
	free(s->v);
	free(s);
}

/* Loads db's multi-linked inodes with their links' paths. */
static int ml_load(struct idx_cli *ic, struct idx_db *db, struct ml_set **ret)
{
	struct ml_collect c = {0};
	struct ml_set *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->db = db;
	r = loafre__idx_multilinks(db->x, ml_cb, &c);
	if (r < 0)
		goto out;
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), raw_cmp);
	s->v = calloc(c.n ? c.n : 1, sizeof(*s->v));
	if (!s->v) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < c.n;) {
		size_t j = i;
		struct ml_inode *in = &s->v[s->n];

		while (j < c.n && fid_cmp(&c.v[j].fid, &c.v[i].fid) == 0)
			j++;
		in->fid = c.v[i].fid;
		in->own = c.v[i].own;
		in->assigned = -1;
		in->links = calloc(j - i, sizeof(*in->links));
		if (!in->links) {
			r = -ENOMEM;
			goto out;
		}
		s->n++;
		for (size_t k = i; k < j; k++) {
			const char *dir;
			struct ml_link *l = &in->links[in->n];
			r = idx_db_dirpath(db, &c.v[k].parent, &dir);
			if (r == -ENOENT)
				continue;
			if (r < 0)
				goto out;
			if (asprintf(&l->rel, "%s%s%s", dir, *dir ? "/" : "", c.v[k].name) < 0) {
				l->rel = NULL;
				r = -ENOMEM;
				goto out;
			}
			l->primary = c.v[k].primary;
			if (l->primary)
				in->primary = in->n;
			in->n++;
		}
		i = j;
	}
	r = 0;
out:
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].name);
	free(c.v);
	if (r < 0) {
		if (r == -ENOMEM)
			fprintf(stderr, PROG ": out of memory\n");
		else
			idx_cli_store_error(ic, db, r);
		ml_set_free(s);
		return CLI_FAIL;
	}
	*ret = s;
	return CLI_OK;
}

static struct ml_inode *ml_find(const struct ml_set *s, const struct loafre_fid *fid)
{
	size_t lo = 0, hi = s ? s->n : 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = fid_cmp(&s->v[mid].fid, fid);
		if (c == 0)
			return &s->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Traversal order of two relative paths (a name-ordered depth-first walk:
 * '/' sorts before every other byte). */
static int trav_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = *a == '/' ? 1 : *a ? (unsigned char)*a + 2 : 0;
		int y = *b == '/' ? 1 : *b ? (unsigned char)*b + 2 : 0;
		if (x != y)
			return x - y;
		if (!x)
			return 0;
	}
}

/* ---- the command --------------------------------------------------------------------- */

struct darg {
	const char *typed;       /* as given */
	char *shown;             /* as printed: trailing slashes trimmed to one (GNU fts) */
	struct idx_path p;       /* resolved when ok */
	bool ok;                 /* resolved */
	bool dir;                /* a directory */
	struct loafre__idx_sum value;       /* what it printed (for -c) */
	bool printed;
};

struct du {
	struct idx_cli ic;
	bool summarize, all, human, total, apparent, inodes, json;
	char by;                 /* 'u', 'g' or 0 */
	unsigned max_depth;      /* UINT32_MAX: none */
	uint64_t bsize;          /* output block size */
	char bsuffix;            /* unit letter printed after sizes (-BM) or 0 */
	struct darg *args;
	int n_args;
	struct ml_set *ml;       /* per db, loaded on demand */
	int ret;
	/* the current PATH (listing) */
	struct darg *cur;
	struct smap adj;         /* location → adjustments below it */
	char **prune;            /* earlier PATHs nested in it (relative paths) */
	size_t n_prune;
	char **nofile;           /* earlier single-link file PATHs in it */
	size_t n_nofile;
	struct ml_set *cur_ml;
	char *line;              /* path buffer */
	size_t line_cap;
};

static uint64_t pick(const struct du *d, const struct loafre__idx_sum *s)
{
	return d->inodes ? s->inodes : d->apparent ? s->bytes : s->blocks * 512;
}

static void print_size(const struct du *d, uint64_t v)
{
	char b[64];

	if (d->human)
		idx_human(v, b, sizeof(b));
	else if (d->inodes)
		snprintf(b, sizeof(b), "%" PRIu64, v);
	else if (d->bsuffix)
		snprintf(b, sizeof(b), "%" PRIu64 "%c", idx_ceil_div(v, d->bsize), d->bsuffix);
	else
		snprintf(b, sizeof(b), "%" PRIu64, idx_ceil_div(v, d->bsize));
	fputs(b, stdout);
}

static void print_line(const struct du *d, const struct loafre__idx_sum *s, const char *path,
		       const char *owner, uint32_t owner_id)
{
	if (d->json) {
		fputs("{\"path\":", stdout);
		idx_json_str(stdout, path);
		if (owner) {
			printf(",\"%s\":", d->by == 'u' ? "user" : "group");
			idx_json_str(stdout, owner);
			printf(",\"%s\":%" PRIu32, d->by == 'u' ? "uid" : "gid", owner_id);
		}
		printf(",\"disk_bytes\":%" PRIu64 ",\"apparent_bytes\":%" PRIu64
		       ",\"inodes\":%" PRIu64 "}\n",
		       s->blocks * 512, s->bytes, s->inodes);
		return;
	}
	print_size(d, pick(d, s));
	if (owner)
		printf("\t%s", owner);
	printf("\t%s\n", path);
}

/* The printed path of relative path rel inside the current PATH. */
static const char *shown_path(struct du *d, const char *rel)
{
	const char *base = d->cur->shown;
	size_t sl = strlen(d->cur->p.rel);
	const char *tail = rel + sl + (sl ? 1 : 0);
	size_t need;

	if (strlen(rel) == sl)
		return base;
	need = strlen(base) + strlen(tail) + 2;
	if (need > d->line_cap) {
		char *n = realloc(d->line, need);
		if (!n)
			return NULL;
		d->line = n;
		d->line_cap = need;
	}
	snprintf(d->line, d->line_cap, "%s%s%s", base,
		 base[0] && base[strlen(base) - 1] == '/' ? "" : "/", tail);
	return d->line;
}

static bool in_scope(const struct darg *a, const char *rel)
{
	return a->dir ? idx_rel_under(rel, a->p.rel) : strcmp(rel, a->p.rel) == 0;
}

/* Adds delta at location loc (a directory's relative path) and at every
 * ancestor up to the current PATH, for the listing. */
static int adj_add(struct du *d, const char *loc, const struct loafre__idx_sum *delta, int sign)
{
	size_t stop = strlen(d->cur->p.rel), len = strlen(loc);

	for (;;) {
		struct loafre__idx_sum *s = smap_at(&d->adj, loc, len);
		if (!s)
			return -ENOMEM;
		sums_add(s, delta, sign);
		if (len <= stop)
			return 0;
		while (len > 0 && loc[len - 1] != '/')
			len--;
		if (len > 0)
			len--; /* the '/' */
	}
}

/* The directory part of a link's relative path, as a length. */
static size_t dir_len(const char *rel)
{
	const char *s = strrchr(rel, '/');

	return s ? (size_t)(s - rel) : 0;
}

static int adj_at_parent(struct du *d, const char *linkrel, const struct loafre__idx_sum *own, int sign,
			 struct loafre__idx_sum *total)
{
	char *loc = strndup(linkrel, dir_len(linkrel));
	int r;

	if (!loc)
		return -ENOMEM;
	sums_add(total, own, sign);
	r = d->summarize || !d->cur->dir ? 0 : adj_add(d, loc, own, sign);
	free(loc);
	return r;
}

static int get_ml(struct du *d, struct idx_db *db, struct ml_set **ret)
{
	struct ml_set *s;

	for (s = d->ml; s; s = s->next)
		if (s->db == db) {
			*ret = s;
			return CLI_OK;
		}
	if (ml_load(&d->ic, db, &s) != CLI_OK)
		return CLI_FAIL;
	s->next = d->ml;
	d->ml = s;
	*ret = s;
	return CLI_OK;
}

static void clear_current(struct du *d)
{
	smap_free(&d->adj);
	for (size_t i = 0; i < d->n_prune; i++)
		free(d->prune[i]);
	free(d->prune);
	d->prune = NULL;
	d->n_prune = 0;
	for (size_t i = 0; i < d->n_nofile; i++)
		free(d->nofile[i]);
	free(d->nofile);
	d->nofile = NULL;
	d->n_nofile = 0;
}

static int push_str(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* Computes PATH k's adjustments (and its total); false in *counted when an
 * earlier PATH already counted it (it prints nothing). */
/* -a: of the inode's links in the directory of the link that counts it,
 * the one GNU du prints, the first its readdir meets there: read from the
 * live directory when it can be opened (one readdir, only for a directory
 * holding two links of one inode), else the choice stays. Same directory:
 * no sum changes. */
static void same_dir_first(const struct idx_db *db, struct ml_inode *in)
{
	const char *arel = in->links[in->assigned].rel;
	size_t dl = dir_len(arel), skip = dl ? dl + 1 : 0;
	bool others = false;
	struct dirent *de;
	char *path;
	DIR *dir;

	for (size_t l = 0; l < in->n && !others; l++)
		others = (long)l != in->assigned && dir_len(in->links[l].rel) == dl &&
			 strncmp(in->links[l].rel, arel, dl) == 0;
	if (!others || !db->root || asprintf(&path, "%s/%.*s", db->root, (int)dl, arel) < 0)
		return;
	dir = opendir(path);
	free(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		for (size_t l = 0; l < in->n; l++) {
			const char *rel = in->links[l].rel;

			if (dir_len(rel) == dl && strncmp(rel, arel, dl) == 0 &&
			    strcmp(rel + skip, de->d_name) == 0) {
				in->assigned = (long)l;
				closedir(dir);
				return;
			}
		}
	}
	closedir(dir);
}

static int prepare(struct du *d, int k, struct loafre__idx_sum *total, bool *counted)
{
	struct darg *a = &d->args[k];
	struct idx_db *db = a->p.db;
	struct ml_set *ml = NULL;
	struct loafre__idx_sum base;
	int r;

	*counted = true;
	d->cur = a;
	clear_current(d);
	/* an earlier PATH containing this one */
	for (int j = 0; j < k; j++) {
		const struct darg *b = &d->args[j];
		if (!b->ok || b->p.db != db)
			continue;
		if ((b->dir && idx_rel_under(a->p.rel, b->p.rel)) ||
		    (!b->dir && !a->dir && strcmp(a->p.rel, b->p.rel) == 0)) {
			*counted = false;
			return 0;
		}
	}
	if (a->dir && !a->p.rel[0] && !d->all) {
		/* the filesystem's root, the first PATH of its filesystem: every
		 * link of every inode lies in it and no earlier PATH counted
		 * anything, so no adjustment applies: its rollup is the answer
		 * (and a listing's lines are the rollups), without the pass over
		 * the multi-linked inodes (-a needs it: which link shows a file) */
		bool first = true;
		for (int j = 0; j < k && first; j++)
			first = !(d->args[j].ok && d->args[j].p.db == db);
		if (first) {
			d->cur_ml = NULL;
			r = loafre__idx_dirsum(db->x, &a->p.fid, &base);
			if (r < 0) {
				idx_cli_store_error(&d->ic, db, r);
				return -EIO;
			}
			*total = base;
			return 0;
		}
	}
	if (get_ml(d, db, &ml) != CLI_OK)
		return -EIO;
	d->cur_ml = ml;
	r = loafre__idx_dirsum(db->x, &a->p.fid, &base);
	if (r < 0) {
		idx_cli_store_error(&d->ic, db, r);
		return -EIO;
	}
	*total = base;
	if (!a->dir) {
		struct ml_inode *in = ml_find(ml, &a->p.fid);
		if (in) {
			/* counted here unless an earlier PATH holds one of its links */
			for (int j = 0; j < k; j++) {
				const struct darg *b = &d->args[j];
				if (!b->ok || b->p.db != db)
					continue;
				for (size_t l = 0; l < in->n; l++)
					if (in_scope(b, in->links[l].rel)) {
						*counted = false;
						return 0;
					}
			}
		}
		return 0;
	}
	/* earlier PATHs nested in this one: not counted again, not listed */
	for (int j = 0; j < k; j++) {
		const struct darg *b = &d->args[j];
		bool maximal = true;
		if (!b->ok || b->p.db != db || !idx_rel_under(b->p.rel, a->p.rel) ||
		    strcmp(b->p.rel, a->p.rel) == 0)
			continue;
		for (int i = 0; i < k && maximal; i++) {
			const struct darg *o = &d->args[i];
			if (i != j && o->ok && o->p.db == db && o->dir &&
			    idx_rel_under(b->p.rel, o->p.rel) && strcmp(b->p.rel, o->p.rel) != 0)
				maximal = false; /* inside another earlier one */
			if (i < j && o->ok && o->p.db == db && o->dir &&
			    strcmp(b->p.rel, o->p.rel) == 0)
				maximal = false; /* a repeat */
			if (i < j && o->ok && o->p.db == db && !o->dir && !b->dir &&
			    strcmp(b->p.rel, o->p.rel) == 0)
				maximal = false;
		}
		if (!maximal)
			continue;
		if (b->dir) {
			struct loafre__idx_sum s;
			r = loafre__idx_dirsum(db->x, &b->p.fid, &s);
			if (r < 0) {
				idx_cli_store_error(&d->ic, db, r);
				return -EIO;
			}
			sums_add(total, &s, -1);
			if (!d->summarize && (adj_add(d, b->p.rel, &s, -1) < 0 ||
					      push_str(&d->prune, &d->n_prune, b->p.rel) < 0))
				return -ENOMEM;
		} else if (!ml_find(ml, &b->p.fid)) {
			struct loafre__idx_sum own = {b->p.e.a.blocks, b->p.e.a.size, 1};
			if (adj_at_parent(d, b->p.rel, &own, -1, total) < 0 ||
			    push_str(&d->nofile, &d->n_nofile, b->p.rel) < 0)
				return -ENOMEM;
		}
	}
	/* multi-linked inodes: from the primary link to the link that counts */
	for (size_t i = 0; i < ml->n; i++) {
		struct ml_inode *in = &ml->v[i];
		const char *prim = in->n ? in->links[in->primary].rel : NULL;
		bool pc = false, mine = true, any = false;
		long best = -1;

		in->assigned = -1;
		if (!in->n)
			continue;
		if (in_scope(a, prim)) {
			pc = true;
			for (int j = 0; j < k && pc; j++) {
				const struct darg *b = &d->args[j];
				if (b->ok && b->p.db == db && b->dir && idx_rel_under(prim, b->p.rel))
					pc = false;
			}
		}
		for (size_t l = 0; l < in->n && mine; l++) {
			for (int j = 0; j < k && mine; j++) {
				const struct darg *b = &d->args[j];
				if (b->ok && b->p.db == db && in_scope(b, in->links[l].rel))
					mine = false;
			}
			if (in_scope(a, in->links[l].rel)) {
				any = true;
				if (best < 0 || trav_cmp(in->links[l].rel, in->links[best].rel) < 0)
					best = (long)l;
			}
		}
		mine = mine && any;
		if (mine)
			in->assigned = in_scope(a, prim) ? (long)in->primary : best;
		if (pc && !(mine && in->assigned == (long)in->primary) &&
		    adj_at_parent(d, prim, &in->own, -1, total) < 0)
			return -ENOMEM;
		if (mine && !(pc && in->assigned == (long)in->primary) &&
		    adj_at_parent(d, in->links[in->assigned].rel, &in->own, +1, total) < 0)
			return -ENOMEM;
		if (mine && d->all)
			same_dir_first(db, in);
	}
	return 0;
}

/* ---- listing ------------------------------------------------------------------------- */

struct kid {
	char *name;
	struct loafre_fid fid;
	uint32_t mode, uid, gid;
	struct loafre__idx_sum own;
	uint64_t nlink;
};

struct kids {
	struct kid *v;
	size_t n, cap;
};

static void kids_free(struct kids *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i].name);
	free(k->v);
}

static int kids_add(void *ctx, const char *name, const struct loafre__idx_entry *e)
{
	struct kids *k = ctx;

	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		struct kid *v = realloc(k->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		k->v = v;
		k->cap = cap;
	}
	k->v[k->n] = (struct kid){NULL, e->fid, e->a.mode, e->a.uid, e->a.gid,
				  {e->a.blocks, e->a.size, 1}, e->a.nlink};
	k->v[k->n].name = strdup(name);
	if (!k->v[k->n].name)
		return -ENOMEM;
	k->n++;
	return 0;
}

static int children(struct du *d, const struct loafre_fid *dir, struct kids *k)
{
	int r = loafre__idx_children(d->cur->p.db->x, dir, kids_add, k);

	if (r == -ENOMEM)
		fprintf(stderr, PROG ": out of memory\n");
	else if (r < 0)
		idx_cli_store_error(&d->ic, d->cur->p.db, r);
	return r;
}

static bool str_in(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Post-order listing of directory `rel` (depth below PATH). */
static int list_dir(struct du *d, const struct loafre_fid *fid, char *rel, unsigned depth)
{
	struct kids k = {0};
	struct loafre__idx_sum s;
	const struct loafre__idx_sum *adj;
	const char *shown;
	int r = 0;

	if (depth < d->max_depth) {
		if ((r = children(d, fid, &k)) < 0)
			goto out;
	}
	for (size_t i = 0; i < k.n; i++) {
		struct kid *c = &k.v[i];
		char *crel = NULL;
		if (asprintf(&crel, "%s%s%s", rel, *rel ? "/" : "", c->name) < 0) {
			fprintf(stderr, PROG ": out of memory\n");
			r = -ENOMEM;
			goto out;
		}
		if (S_ISDIR(c->mode)) {
			if (depth < d->max_depth && !str_in(d->prune, d->n_prune, crel))
				r = list_dir(d, &c->fid, crel, depth + 1);
		} else if (d->all && depth + 1 <= d->max_depth) {
			struct ml_inode *in = ml_find(d->cur_ml, &c->fid);
			bool show = in ? in->assigned >= 0 && strcmp(in->links[in->assigned].rel,
								     crel) == 0
				       : !str_in(d->nofile, d->n_nofile, crel);
			if (show) {
				shown = shown_path(d, crel);
				if (!shown) {
					fprintf(stderr, PROG ": out of memory\n");
					r = -ENOMEM;
				} else {
					print_line(d, &c->own, shown, NULL, 0);
				}
			}
		}
		free(crel);
		if (r < 0)
			goto out;
	}
	r = loafre__idx_dirsum(d->cur->p.db->x, fid, &s);
	if (r < 0) {
		idx_cli_store_error(&d->ic, d->cur->p.db, r);
		goto out;
	}
	adj = smap_get(&d->adj, rel);
	if (adj)
		sums_add(&s, adj, +1);
	shown = shown_path(d, rel);
	if (!shown) {
		fprintf(stderr, PROG ": out of memory\n");
		r = -ENOMEM;
		goto out;
	}
	print_line(d, &s, shown, NULL, 0);
out:
	kids_free(&k);
	return r;
}

/* ---- by owner -------------------------------------------------------------------------- */

struct owner {
	uint32_t id;
	struct loafre__idx_sum s;
};

struct owners {
	struct owner *v;
	size_t n, cap;
};

static int owner_add(struct owners *o, uint32_t id, const struct loafre__idx_sum *s)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].id == id) {
			sums_add(&o->v[i].s, s, +1);
			return 0;
		}
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct owner *v = realloc(o->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = (struct owner){id, *s};
	return 0;
}

/* A set of FIDs (GNU du's hash of seen inodes). */
struct fidset {
	struct loafre_fid *v;
	bool *used;
	size_t cap, n;
};

static size_t fidset_hash(const struct loafre_fid *f)
{
	uint64_t h = (f->f_seq * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)f->f_oid * 0xbf58476d1ce4e5b9ull) ^
		     f->f_ver;
	return (size_t)(h ^ (h >> 29));
}

/* Inserts fid: 1 if it was new, 0 if present, -ENOMEM. */
static int fidset_add(struct fidset *s, const struct loafre_fid *fid)
{
	size_t i;

	if (s->n + 1 > s->cap / 2) {
		size_t ncap = s->cap ? s->cap * 2 : 1024;
		struct loafre_fid *nv = calloc(ncap, sizeof(*nv));
		bool *nu = calloc(ncap, sizeof(*nu));
		if (!nv || !nu) {
			free(nv);
			free(nu);
			return -ENOMEM;
		}
		for (size_t k = 0; k < s->cap; k++) {
			if (!s->used[k])
				continue;
			for (i = fidset_hash(&s->v[k]) & (ncap - 1); nu[i]; i = (i + 1) & (ncap - 1))
				;
			nv[i] = s->v[k];
			nu[i] = true;
		}
		free(s->v);
		free(s->used);
		s->v = nv;
		s->used = nu;
		s->cap = ncap;
	}
	for (i = fidset_hash(fid) & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
		if (fid_cmp(&s->v[i], fid) == 0)
			return 0;
	s->v[i] = *fid;
	s->used[i] = true;
	s->n++;
	return 1;
}

static void fidset_free(struct fidset *s)
{
	free(s->v);
	free(s->used);
}

struct owalk {
	struct du *d;
	struct idx_db *db;
	struct fidset seen;     /* over the whole invocation */
	struct owners *o;       /* of the current PATH */
	bool hash_all;          /* several PATHs: directories too */
};

/* Counts entry e (and its subtree) unless seen. */
static int owalk_entry(struct owalk *w, const struct loafre_fid *fid, uint32_t mode,
		       uint32_t uid, uint32_t gid, const struct loafre__idx_sum *own, uint64_t nlink)
{
	struct kids k = {0};
	int r;

	if (w->hash_all || (!S_ISDIR(mode) && nlink > 1)) {
		r = fidset_add(&w->seen, fid);
		if (r <= 0)
			return r;
	}
	r = owner_add(w->o, w->d->by == 'u' ? uid : gid, own);
	if (r < 0 || !S_ISDIR(mode))
		return r;
	r = loafre__idx_children(w->db->x, fid, kids_add, &k);
	for (size_t i = 0; r == 0 && i < k.n; i++)
		r = owalk_entry(w, &k.v[i].fid, k.v[i].mode, k.v[i].uid, k.v[i].gid, &k.v[i].own,
				k.v[i].nlink);
	kids_free(&k);
	return r;
}

static int owner_cmp(const void *a, const void *b)
{
	const struct owner *x = a, *y = b;
	uint64_t u = x->s.blocks, v = y->s.blocks;

	if (u != v)
		return u > v ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void print_owners(struct du *d, struct owners *o, const char *path)
{
	char name[256];

	if (o->n)
		qsort(o->v, o->n, sizeof(*o->v), owner_cmp);
	for (size_t i = 0; i < o->n; i++) {
		const char *nm = d->by == 'u' ? idx_user_name(o->v[i].id, name, sizeof(name))
					      : idx_group_name(o->v[i].id, name, sizeof(name));
		print_line(d, &o->v[i].s, path, nm, o->v[i].id);
	}
}

static int du_by_owner(struct du *d)
{
	struct owners tot = {0};
	struct owalk w = {.d = d, .hash_all = d->n_args > 1};
	int ret = CLI_OK;

	for (int k = 0; k < d->n_args; k++) {
		struct darg *a = &d->args[k];
		struct owners o = {0};
		int r;

		if (!a->ok)
			continue;
		w.db = a->p.db;
		w.o = &o;
		r = owalk_entry(&w, &a->p.fid, a->p.e.a.mode, a->p.e.a.uid, a->p.e.a.gid,
				&(struct loafre__idx_sum){a->p.e.a.blocks, a->p.e.a.size, 1}, a->p.e.a.nlink);
		if (r < 0) {
			if (r == -ENOMEM)
				fprintf(stderr, PROG ": out of memory\n");
			else
				idx_cli_store_error(&d->ic, a->p.db, r);
			free(o.v);
			ret = CLI_FAIL;
			break;
		}
		print_owners(d, &o, a->shown);
		for (size_t i = 0; i < o.n; i++)
			if (owner_add(&tot, o.v[i].id, &o.v[i].s) < 0)
				ret = CLI_FAIL;
		free(o.v);
	}
	if (d->total && ret == CLI_OK)
		print_owners(d, &tot, "total");
	free(tot.v);
	fidset_free(&w.seen);
	return ret;
}

/* ---- options ---------------------------------------------------------------------------- */

static int parse_block_size(struct du *d, const char *s)
{
	static const char units[] = "KMGTPE";
	const char *u;

	if (s[0] && !s[1] && (u = strchr(units, s[0] >= 'a' ? s[0] - 32 : s[0]))) {
		d->bsize = 1;
		for (long i = 0; i <= u - units; i++)
			d->bsize *= 1024;
		d->bsuffix = *u;
		return 0;
	}
	if (idx_parse_size(s, &d->bsize) < 0 || d->bsize == 0)
		return -EINVAL;
	d->bsuffix = 0;
	return 0;
}

/* GNU fts trims two or more trailing slashes to one. */
static char *shown_of(const char *typed)
{
	size_t len = strlen(typed);

	if (len > 2 && typed[len - 1] == '/')
		while (len > 1 && typed[len - 2] == '/')
			len--;
	return strndup(typed, len);
}

int cmd_du(struct cli *c)
{
	struct du d = {.max_depth = UINT32_MAX, .bsize = 1024};
	struct loafre__idx_sum grand = {0};
	bool depth_set = false;
	char *const dot[] = {(char *)".", NULL};
	char **paths = c->args;
	int ret = CLI_OK;

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		size_t v;
		switch (c->opts[i].opt) {
		case 's': d.summarize = true; break;
		case 'a': d.all = true; break;
		case 'h': d.human = true; break;
		case 'c': d.total = true; break;
		case 'A': d.apparent = true; break;
		case 'b': d.apparent = true; d.bsize = 1; d.bsuffix = 0; break;
		case 'k': d.bsize = 1024; d.bsuffix = 0; break;
		case 'm': d.bsize = 1024 * 1024; d.bsuffix = 0; break;
		case 'I': d.inodes = true; break;
		case 'U': d.by = 'u'; break;
		case 'G': d.by = 'g'; break;
		case 'J': d.json = true; break;
		case 'B':
			if (parse_block_size(&d, a) < 0) {
				fprintf(stderr, PROG ": invalid block size '%s'\n", a);
				return CLI_USAGE;
			}
			break;
		case 'd':
			if (idx_parse_count(a, &v) < 0 || v > UINT32_MAX - 1) {
				fprintf(stderr, PROG ": invalid maximum depth '%s'\n", a);
				return CLI_USAGE;
			}
			d.max_depth = (unsigned)v;
			depth_set = true;
			break;
		}
	}
	if (d.summarize && d.all) {
		fprintf(stderr, PROG ": cannot both summarize and show all entries\n");
		return CLI_USAGE;
	}
	if (d.summarize && depth_set && d.max_depth != 0) {
		fprintf(stderr, PROG ": summarizing conflicts with --max-depth=%u\n", d.max_depth);
		return CLI_USAGE;
	}
	if (d.inodes && d.apparent)
		fprintf(stderr, PROG ": warning: options --apparent-size and -b are ineffective "
				"with --inodes\n");
	if (d.summarize)
		d.max_depth = 0;
	else if (d.max_depth == 0)
		d.summarize = true;
	d.n_args = c->n_args;
	if (d.n_args == 0) {
		paths = (char **)dot;
		d.n_args = 1;
	}
	d.args = calloc((size_t)d.n_args, sizeof(*d.args));
	if (!d.args) {
		fprintf(stderr, PROG ": out of memory\n");
		return CLI_FAIL;
	}
	idx_cli_init(&d.ic, c, PROG, false);
	for (int k = 0; k < d.n_args; k++) {
		struct darg *a = &d.args[k];
		int r;
		a->typed = paths[k];
		a->shown = shown_of(paths[k]);
		if (!a->shown) {
			fprintf(stderr, PROG ": out of memory\n");
			ret = CLI_FAIL;
			goto out;
		}
		r = idx_cli_resolve(&d.ic, a->typed, &a->p);
		if (r == IDX_CLI_MISSING)
			fprintf(stderr, PROG ": cannot access '%s': No such file or directory\n",
				a->typed);
		if (r != CLI_OK) {
			ret = CLI_FAIL;
			continue;
		}
		a->ok = true;
		a->dir = S_ISDIR(a->p.e.a.mode);
	}
	if (d.by) {
		if (du_by_owner(&d) != CLI_OK)
			ret = CLI_FAIL;
		goto out;
	}
	for (int k = 0; k < d.n_args; k++) {
		struct darg *a = &d.args[k];
		struct loafre__idx_sum total;
		bool counted;
		int r;

		if (!a->ok)
			continue;
		r = prepare(&d, k, &total, &counted);
		if (r < 0) {
			if (r == -ENOMEM)
				fprintf(stderr, PROG ": out of memory\n");
			ret = CLI_FAIL;
			continue;
		}
		if (!counted)
			continue;
		if (a->dir && !d.summarize) {
			char *rel = strdup(a->p.rel);
			if (!rel) {
				fprintf(stderr, PROG ": out of memory\n");
				ret = CLI_FAIL;
				continue;
			}
			r = list_dir(&d, &a->p.fid, rel, 0);
			free(rel);
			if (r < 0) {
				ret = CLI_FAIL;
				continue;
			}
		} else {
			print_line(&d, &total, a->shown, NULL, 0);
		}
		sums_add(&grand, &total, +1);
	}
	if (d.total)
		print_line(&d, &grand, "total", NULL, 0);
out:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": write error\n");
		ret = CLI_FAIL;
	}
	clear_current(&d);
	while (d.ml) {
		struct ml_set *n = d.ml->next;
		ml_set_free(d.ml);
		d.ml = n;
	}
	for (int k = 0; k < d.n_args; k++) {
		free(d.args[k].shown);
		idx_path_free(&d.args[k].p);
	}
	free(d.args);
	free(d.line);
	idx_cli_done(&d.ic);
	return ret;
}
