/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_find.c — `loafre find [--json] [PATH...] [EXPRESSION]`: GNU find's
 * expressions (lib/findexpr.h) answered from a metadata index
 * (lib/index_store.h) instead of a walk of the tree.
 *
 * For each start PATH (resolved in the index of the filesystem holding
 * it), the start entry is evaluated at depth 0, then its descendants:
 *   - SELECT: when the expression's hints (loafre__find_hints) constrain
 *     the name (-name's glob, or a literal part), the uid/gid, the size, a
 *     time or the type,
 *     and the expression has no -prune and no -quit (which need the tree
 *     order), the store's loafre__idx_select() returns the candidate links
 *     of the whole filesystem; those below PATH are evaluated (their path
 *     from the parent directory's cached path);
 *   - WALK: otherwise a pre-order walk (post-order with -depth) of PATH's
 *     subtree with loafre__idx_children(), in name order, honouring
 *     -prune, -quit, -maxdepth and -xdev as GNU find does.
 * loafre__find_eval() decides every entry: the hints only skip entries on
 * which the expression can have no effect. Paths are printed as GNU find
 * prints them: the start path as typed, then "/" (unless it ends with one)
 * and the path below it.
 *
 * What the index does not hold is read from the live tree when the
 * expression needs it: the type of a symlink's target (-xtype, %Y: stat),
 * the device numbers of device files (-ls: lstat). -newer and -samefile
 * references come from the index when they are in it, else from lstat.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cli.h"
#include "findexpr.h"
#include "idx_cli.h"

#define PROG "loafre find"
#define SMALL_SUBTREE 2000 /* inodes: below this, a walk beats a select */

/* A growing string. */
struct buf {
	char *s;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s)
		return -ENOMEM;
	b->s = s;
	b->cap = cap;
	return 0;
}

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -ENOMEM;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

static void buf_cut(struct buf *b, size_t len)
{
	b->len = len;
	if (b->s)
		b->s[len] = '\0';
}

struct fx {
	struct idx_cli ic;
	struct loafre__find *f;
	struct loafre__find_hints h;
	bool json;              /* --json: objects instead of the actions' output */
	bool need_empty;        /* -empty in the expression: count children */
	bool need_target;       /* -xtype or %Y: stat() symlinks */
	bool need_rdev;         /* -ls: device numbers of device files */
	bool has_prune;         /* -prune or -quit: tree order needed */
	bool xdev;              /* -xdev / -mount */
	bool quit;              /* -quit was evaluated */
	int err;                /* first fatal error (CLI_FAIL printed) */
	/* the current start path */
	struct idx_db *db;
	const char *start;      /* as typed */
	size_t start_len;       /* its bytes */
	const char *sep;        /* "/" or "" when start ends with '/' */
	char *start_rel;        /* its path relative to the root (owned) */
	size_t start_rel_len;   /* bytes of start_rel */
	uint64_t start_dev;
	char *fstype;           /* of the current filesystem (lazy), or NULL */
	bool fstype_done;
	struct buf rel;         /* current entry's path relative to the root */
	struct buf out;         /* current entry's printed path */
	struct buf live;        /* current entry's absolute path in the live tree */
};

/* ---- entries ------------------------------------------------------------------------ */

/* The type of filesystem mounted at the deepest mount point above path
 * (/proc/self/mounts), or NULL. */
static char *fstype_of(const char *path)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char *line = NULL, *best = NULL;
	size_t cap = 0, best_len = 0;

	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char dev[512], mnt[4096], type[256], un[4096];
		size_t n = 0;

		if (sscanf(line, "%511s %4095s %255s", dev, mnt, type) != 3)
			continue;
		for (const char *p = mnt; *p && n + 1 < sizeof(un); p++) { /* \040 escapes */
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
			    p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
				un[n++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				un[n++] = *p;
			}
		}
		un[n] = '\0';
		if (strcmp(un, "/") == 0)
			n = 0;
		if (strncmp(path, un, n) == 0 && (path[n] == '/' || path[n] == '\0') &&
		    (!best || n >= best_len)) {
			char *t = strdup(type);
			if (t) {
				free(best);
				best = t;
				best_len = n;
			}
		}
	}
	free(line);
	fclose(f);
	return best;
}

static void fid_id(const struct loafre_fid *fid, uint8_t id[16])
{
	memcpy(id, &fid->f_seq, 8);
	memcpy(id + 8, &fid->f_oid, 4);
	memcpy(id + 12, &fid->f_ver, 4);
}

static void entry_from_idx(struct loafre__find_entry *fe, const struct loafre__idx_entry *e)
{
	fe->mode = e->a.mode;
	fe->uid = e->a.uid;
	fe->gid = e->a.gid;
	fe->size = e->a.size;
	fe->blocks = e->a.blocks;
	fe->nlink = e->a.nlink;
	fe->atime_ns = e->a.atime_ns;
	fe->mtime_ns = e->a.mtime_ns;
	fe->ctime_ns = e->a.ctime_ns;
	fe->ino = e->a.ino;
	fe->dev = e->a.dev;
	fe->symlink = e->a.symlink;
	fid_id(&e->fid, fe->id);
}

/* The absolute live path of the current entry (x->rel). */
static const char *live_path(struct fx *x)
{
	buf_cut(&x->live, 0);
	if (buf_add(&x->live, x->db->root, strlen(x->db->root)) < 0 ||
	    (x->rel.len && (buf_add(&x->live, "/", strcmp(x->db->root, "/") ? 1 : 0) < 0 ||
			    buf_add(&x->live, x->rel.s, x->rel.len) < 0)))
		return NULL;
	return x->live.s;
}

static int first_child(void *ctx, const char *name, const struct loafre__idx_entry *e)
{
	(void)ctx;
	(void)name;
	(void)e;
	return 1;
}

/* Whether directory fid has no entry: 1, 0, or a negative errno. */
static int dir_empty(struct fx *x, const struct loafre_fid *fid)
{
	int r = loafre__idx_children(x->db->x, fid, first_child, NULL);

	return r == 1 ? 0 : r == 0 ? 1 : r;
}

static void print_json(struct fx *x, const char *path, const struct loafre__idx_entry *e)
{
	char fid[LOAFRE_FID_STRLEN];

	loafre_fid_format(&e->fid, fid);
	fputs("{\"path\":", stdout);
	idx_json_str(stdout, path);
	printf(",\"fid\":\"%s\",\"type\":\"%c\",\"mode\":\"%04o\",\"uid\":%" PRIu32
	       ",\"gid\":%" PRIu32 ",\"size\":%" PRIu64 ",\"blocks\":%" PRIu64
	       ",\"nlink\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"atime\":",
	       fid, idx_type_char(e->a.mode), (unsigned)(e->a.mode & 07777), e->a.uid, e->a.gid,
	       e->a.size, e->a.blocks, e->a.nlink, e->a.ino);
	idx_json_time(stdout, e->a.atime_ns);
	fputs(",\"mtime\":", stdout);
	idx_json_time(stdout, e->a.mtime_ns);
	fputs(",\"ctime\":", stdout);
	idx_json_time(stdout, e->a.ctime_ns);
	if (e->a.symlink) {
		fputs(",\"symlink\":", stdout);
		idx_json_str(stdout, e->a.symlink);
	}
	fputs("}\n", stdout);
}

/* Evaluates the current entry (x->rel; depth 0: the start path). empty:
 * for a directory, 1/0 if known, -1 to find out when needed. */
static int evaluate(struct fx *x, const struct loafre__idx_entry *e, const char *name,
		    unsigned depth, int empty, struct loafre__find_result *res)
{
	struct loafre__find_entry fe = {0};
	const char *tail;
	int r;

	buf_cut(&x->out, 0);
	if (buf_add(&x->out, x->start, x->start_len) < 0)
		goto oom;
	if (depth > 0) {
		size_t off = x->start_rel_len + (x->start_rel_len ? 1 : 0);
		tail = x->rel.s + off;
		if (buf_add(&x->out, x->sep, x->sep[0] ? 1 : 0) < 0 ||
		    buf_add(&x->out, tail, x->rel.len - off) < 0)
			goto oom;
	}
	entry_from_idx(&fe, e);
	fe.path = x->out.s;
	fe.start_len = x->start_len;
	fe.name = name;
	fe.depth = depth;
	if (S_ISDIR(e->a.mode)) {
		if (empty < 0 && x->need_empty) {
			empty = dir_empty(x, &e->fid);
			if (empty < 0) {
				idx_cli_store_error(&x->ic, x->db, empty);
				x->err = CLI_FAIL;
				return empty;
			}
		}
		fe.empty = empty > 0;
	}
	if (S_ISLNK(e->a.mode) && x->need_target) {
		const char *lp = live_path(x);
		struct stat st;
		if (!lp)
			goto oom;
		if (stat(lp, &st) == 0)
			fe.target_mode = (uint32_t)st.st_mode;
		else
			fe.target_mode = errno == ELOOP ? S_IFLNK : 0;
	}
	if ((S_ISCHR(e->a.mode) || S_ISBLK(e->a.mode)) && x->need_rdev) {
		const char *lp = live_path(x);
		struct stat st;
		if (!lp)
			goto oom;
		if (lstat(lp, &st) == 0)
			fe.rdev = st.st_rdev;
	}
	if (!x->fstype_done) {
		x->fstype = fstype_of(x->db->root);
		x->fstype_done = true;
	}
	fe.fstype = x->fstype;
	r = loafre__find_eval(x->f, &fe, res);
	if (r < 0) {
		fprintf(stderr, PROG ": write error: %s\n", strerror(-r));
		x->err = CLI_FAIL;
		return r;
	}
	if (x->json && res->matched)
		print_json(x, x->out.s, e);
	if (res->quit)
		x->quit = true;
	return 0;
oom:
	fprintf(stderr, PROG ": out of memory\n");
	x->err = CLI_FAIL;
	return -ENOMEM;
}

/* ---- walk -------------------------------------------------------------------------- */

struct child {
	char *name;                   /* owned */
	struct loafre__idx_entry e;   /* e.a.symlink owned, e.jobid NULL */
};

struct kids {
	struct child *v;
	size_t n, cap;
};

static void kids_free(struct kids *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->v[i].name);
		free((char *)k->v[i].e.a.symlink);
	}
	free(k->v);
	memset(k, 0, sizeof(*k));
}

static int kids_add(void *ctx, const char *name, const struct loafre__idx_entry *e)
{
	struct kids *k = ctx;
	struct child *c;

	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		struct child *v = realloc(k->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		k->v = v;
		k->cap = cap;
	}
	c = &k->v[k->n];
	c->e = *e;
	c->e.jobid = NULL;
	c->e.a.symlink = NULL;
	c->name = strdup(name);
	if (!c->name)
		return -ENOMEM;
	if (e->a.symlink && !(c->e.a.symlink = strdup(e->a.symlink))) {
		free(c->name);
		return -ENOMEM;
	}
	k->n++;
	return 0;
}

static int list(struct fx *x, const struct loafre_fid *dir, struct kids *k)
{
	int r = loafre__idx_children(x->db->x, dir, kids_add, k);

	if (r < 0) {
		if (r == -ENOMEM)
			fprintf(stderr, PROG ": out of memory\n");
		else
			idx_cli_store_error(&x->ic, x->db, r);
		x->err = CLI_FAIL;
	}
	return r;
}

/* Visits the current entry x->rel (depth, name) and, for a directory, its
 * subtree. */
static int walk(struct fx *x, const struct loafre__idx_entry *e, const char *name, unsigned depth)
{
	struct loafre__find_result res;
	struct kids k = {0};
	bool dir = S_ISDIR(e->a.mode), listed = false, descend;
	size_t len = x->rel.len;
	int empty = -1, r = 0;

	if (!x->h.post_order) {
		if (dir && x->need_empty) {
			if ((r = list(x, &e->fid, &k)) < 0)
				goto out;
			listed = true;
			empty = k.n == 0;
		}
		if ((r = evaluate(x, e, name, depth, empty, &res)) < 0 || x->quit)
			goto out;
		descend = dir && !res.prune;
	} else {
		descend = dir && depth < x->h.maxdepth &&
			  !(x->xdev && depth > 0 && e->a.dev != x->start_dev);
		if (dir && (descend || x->need_empty)) {
			if ((r = list(x, &e->fid, &k)) < 0)
				goto out;
			listed = true;
			empty = k.n == 0;
		}
	}
	if (descend && !listed && (r = list(x, &e->fid, &k)) < 0)
		goto out;
	for (size_t i = 0; descend && i < k.n && !x->quit; i++) {
		if ((len && buf_add(&x->rel, "/", 1) < 0) ||
		    buf_add(&x->rel, k.v[i].name, strlen(k.v[i].name)) < 0) {
			fprintf(stderr, PROG ": out of memory\n");
			x->err = CLI_FAIL;
			r = -ENOMEM;
			goto out;
		}
		r = walk(x, &k.v[i].e, k.v[i].name, depth + 1);
		buf_cut(&x->rel, len);
		if (r < 0)
			goto out;
	}
	if (x->h.post_order && !x->quit)
		r = evaluate(x, e, name, depth, empty, &res);
out:
	buf_cut(&x->rel, len);
	kids_free(&k);
	return r;
}

/* ---- select -------------------------------------------------------------------------- */

/* Appends s with the glob characters escaped. */
static int glob_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (strchr("*?[]\\", *s) && buf_add(b, "\\", 1) < 0)
			return -ENOMEM;
		if (buf_add(b, s, 1) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The store filter of the hints; false if it constrains nothing. */
static bool make_filter(const struct loafre__find_hints *h, struct loafre__idx_filter *f,
			struct buf *glob)
{
	bool any = false;

	memset(f, 0, sizeof(*f));
	if (h->types != LOAFRE__FIND_TYPES_ALL) {
		f->type_mask = h->types;
		any = true;
	}
	if (h->uid_min == h->uid_max || h->n_uids == 1) {
		f->has_uid = true;
		f->uid = h->n_uids == 1 ? h->uids[0] : h->uid_min;
		any = true;
	}
	if (h->gid_min == h->gid_max) {
		f->has_gid = true;
		f->gid = h->gid_min;
		any = true;
	}
	if (h->size_min > 0) {
		f->size_min = h->size_min;
		any = true;
	}
	if (h->size_max != UINT64_MAX && h->size_max > 0) {
		f->size_max = h->size_max;
		any = true;
	}
#define TIME_RANGE(lo, hi, fmin, fmax)                \
	do {                                          \
		if ((lo) != INT64_MIN && (lo) != 0) { \
			(fmin) = (lo);                \
			any = true;                   \
		}                                     \
		if ((hi) != INT64_MAX && (hi) != 0) { \
			(fmax) = (hi);                \
			any = true;                   \
		}                                     \
	} while (0)
	TIME_RANGE(h->mtime_min_ns, h->mtime_max_ns, f->mtime_min, f->mtime_max);
	TIME_RANGE(h->atime_min_ns, h->atime_max_ns, f->atime_min, f->atime_max);
	TIME_RANGE(h->ctime_min_ns, h->ctime_max_ns, f->ctime_min, f->ctime_max);
#undef TIME_RANGE
	buf_cut(glob, 0);
	if (h->name && *h->name) {
		if (glob_escape(glob, h->name) == 0)
			f->name_glob = glob->s;
	} else if (h->name_glob && *h->name_glob) {
		/* -name's own glob: the store matches it as find does (fnmatch,
		 * flags 0), so only the matching names become candidates */
		if (buf_add(glob, h->name_glob, strlen(h->name_glob)) == 0)
			f->name_glob = glob->s;
	} else {
		size_t pl = h->name_prefix ? strlen(h->name_prefix) : 0;
		size_t sl = h->name_suffix ? strlen(h->name_suffix) : 0;
		if (pl && pl >= sl) {
			if (glob_escape(glob, h->name_prefix) == 0 && buf_add(glob, "*", 1) == 0)
				f->name_glob = glob->s;
		} else if (sl) {
			if (buf_add(glob, "*", 1) == 0 && glob_escape(glob, h->name_suffix) == 0)
				f->name_glob = glob->s;
		} else if (h->name_iglob && *h->name_iglob) {
			/* -iname: the store matches the glob with FNM_CASEFOLD
			 * (its literal, ASCII-folded, picks the candidates) */
			if (buf_add(glob, h->name_iglob, strlen(h->name_iglob)) == 0) {
				f->name_glob = glob->s;
				f->name_icase = true;
			}
		}
	}
	if (f->name_glob)
		any = true;
	return any;
}

/* Whether the hints say no entry can have an effect. */
static bool hints_empty(const struct loafre__find_hints *h)
{
	return h->types == 0 || h->size_min > h->size_max || h->uid_min > h->uid_max ||
	       h->gid_min > h->gid_max || h->mtime_min_ns > h->mtime_max_ns ||
	       h->atime_min_ns > h->atime_max_ns || h->ctime_min_ns > h->ctime_max_ns;
}

static int select_hit(void *ctx, const struct loafre_fid *parent, const char *name,
		      const struct loafre__idx_entry *e)
{
	struct fx *x = ctx;
	struct loafre__find_result res;
	const char *dir, *tail;
	unsigned depth = 1;
	int r;

	r = idx_db_dirpath(x->db, parent, &dir);
	if (r == -ENOENT)
		return 0; /* a directory removed meanwhile */
	if (r < 0) {
		idx_cli_store_error(&x->ic, x->db, r);
		x->err = CLI_FAIL;
		return r;
	}
	buf_cut(&x->rel, 0);
	if (buf_add(&x->rel, dir, strlen(dir)) < 0 || (*dir && buf_add(&x->rel, "/", 1) < 0) ||
	    buf_add(&x->rel, name, strlen(name)) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		x->err = CLI_FAIL;
		return -ENOMEM;
	}
	if (x->start_rel_len) {
		if (x->rel.len <= x->start_rel_len + 1 || x->rel.s[x->start_rel_len] != '/' ||
		    memcmp(x->rel.s, x->start_rel, x->start_rel_len) != 0)
			return 0;
	}
	tail = x->rel.s + x->start_rel_len + (x->start_rel_len ? 1 : 0);
	for (const char *p = tail; *p; p++)
		depth += *p == '/';
	if (depth > x->h.maxdepth || depth < x->h.mindepth)
		return 0;
	r = evaluate(x, e, name, depth, -1, &res);
	if (r < 0)
		return r;
	return x->quit ? 1 : 0;
}

/* ---- start paths --------------------------------------------------------------------- */

/* -newer, -samefile ... references: from the index when it has them, else
 * lstat(). */
static int lookup_ref(void *ctx, const char *path, struct loafre__find_entry *ret)
{
	struct fx *x = ctx;
	struct idx_path p;
	struct stat st;

	if (idx_cli_resolve_quiet(&x->ic, path, &p) == 0) {
		entry_from_idx(ret, &p.e);
		fid_id(&p.fid, ret->id);
		ret->symlink = NULL;
		idx_path_free(&p);
		return 0;
	}
	if (lstat(path, &st) < 0)
		return -errno;
	ret->mode = (uint32_t)st.st_mode;
	ret->uid = st.st_uid;
	ret->gid = st.st_gid;
	ret->size = (uint64_t)st.st_size;
	ret->blocks = (uint64_t)st.st_blocks;
	ret->nlink = st.st_nlink;
	ret->atime_ns = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
	ret->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	ret->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	ret->ino = st.st_ino;
	ret->dev = st.st_dev;
	memset(ret->id, 0xff, sizeof(ret->id)); /* never a FID of the index */
	memcpy(ret->id, &st.st_dev, sizeof(st.st_dev) < 8 ? sizeof(st.st_dev) : 8);
	memcpy(ret->id + 8, &st.st_ino, sizeof(st.st_ino) < 8 ? sizeof(st.st_ino) : 8);
	return 0;
}

static int find_start(struct fx *x, const char *start)
{
	struct loafre__find_result res;
	struct loafre__idx_filter filt;
	struct buf glob = {0};
	struct idx_path p;
	int r = CLI_OK;

	r = idx_cli_resolve(&x->ic, start, &p);
	if (r == IDX_CLI_MISSING) {
		fprintf(stderr, PROG ": '%s': No such file or directory\n", start);
		return CLI_FAIL;
	}
	if (r != CLI_OK)
		return CLI_FAIL;
	if (x->db != p.db) {
		free(x->fstype);
		x->fstype = NULL;
		x->fstype_done = false;
	}
	x->db = p.db;
	x->start = start;
	x->start_len = strlen(start);
	x->sep = start[0] && start[strlen(start) - 1] == '/' ? "" : "/";
	x->start_rel_len = strlen(p.rel);
	x->start_dev = p.e.a.dev;
	free(x->start_rel);
	x->start_rel = strdup(p.rel);
	buf_cut(&x->rel, 0);
	if (!x->start_rel || buf_add(&x->rel, p.rel, strlen(p.rel)) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		r = CLI_FAIL;
		goto out;
	}
	p.e.fid = p.fid;
	if (S_ISDIR(p.e.a.mode) && hints_empty(&x->h)) {
		/* nothing below can have an effect: the start path alone */
		if (evaluate(x, &p.e, NULL, 0, -1, &res) < 0)
			r = CLI_FAIL;
		goto out;
	}
	if (!S_ISDIR(p.e.a.mode) || x->has_prune || !make_filter(&x->h, &filt, &glob)) {
		if (walk(x, &p.e, NULL, 0) < 0)
			r = CLI_FAIL;
		goto out;
	}
	if (x->start_rel_len) {
		struct loafre__idx_sum s;
		int q = loafre__idx_dirsum(x->db->x, &p.fid, &s);
		if (q < 0) {
			idx_cli_store_error(&x->ic, x->db, q);
			r = CLI_FAIL;
			goto out;
		}
		if (s.inodes < SMALL_SUBTREE) {
			if (walk(x, &p.e, NULL, 0) < 0)
				r = CLI_FAIL;
			goto out;
		}
	}
	if (evaluate(x, &p.e, NULL, 0, -1, &res) < 0) {
		r = CLI_FAIL;
		goto out;
	}
	if (res.prune || x->quit)
		goto out;
	{
		unsigned n = x->h.n_uids > 1 ? x->h.n_uids : 1;
		for (unsigned i = 0; i < n && !x->quit; i++) {
			int q;
			if (x->h.n_uids > 1) {
				filt.has_uid = true;
				filt.uid = x->h.uids[i];
			}
			q = loafre__idx_select(x->db->x, &filt, select_hit, x);
			if (q < 0) {
				if (!x->err)
					idx_cli_store_error(&x->ic, x->db, q);
				r = CLI_FAIL;
				goto out;
			}
		}
	}
out:
	if (x->err)
		r = CLI_FAIL;
	free(glob.s);
	idx_path_free(&p);
	return r;
}

int cmd_find(struct cli *c)
{
	struct fx x = {0};
	struct loafre__find_opts o = {0};
	FILE *devnull = NULL;
	char err[4096];
	int argc = c->n_args, first, r, ret = CLI_OK;
	char **argv = c->args;
	char *const dot[] = {(char *)".", NULL};
	static char outbuf[1 << 16];

	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf)); /* before any output */
	idx_cli_init(&x.ic, c, PROG, false);
	while (argc > 0 && strcmp(argv[0], "--json") == 0) {
		x.json = true;
		argv++;
		argc--;
	}
	first = loafre__find_split(argc, argv);
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-empty"))
			x.need_empty = true;
		else if (!strcmp(a, "-xtype") || (strchr(a, '%') && strchr(a, 'Y')))
			x.need_target = true;
		else if (!strcmp(a, "-ls"))
			x.need_rdev = true;
		else if (!strcmp(a, "-prune") || !strcmp(a, "-quit"))
			x.has_prune = true;
		else if (!strcmp(a, "-xdev") || !strcmp(a, "-mount"))
			x.xdev = true;
	}
	if (x.json) {
		devnull = fopen("/dev/null", "we");
		if (!devnull) {
			fprintf(stderr, PROG ": cannot open /dev/null: %s\n", strerror(errno));
			return CLI_FAIL;
		}
	}
	o.progname = PROG;
	o.out = devnull ? devnull : stdout;
	o.warn = stderr;
	o.lookup = lookup_ref;
	o.lookup_ctx = &x;
	r = loafre__find_parse(argc - first, argv + first, &o, &x.f, err, sizeof(err));
	if (r < 0) {
		if (r == -ENOMEM)
			fprintf(stderr, PROG ": out of memory\n");
		else if (r == -E2BIG)
			fprintf(stderr, PROG ": %s\n", err[0] ? err : "expression too large");
		else
			fprintf(stderr, "%s\n", err);
		ret = CLI_FAIL;
		goto out;
	}
	loafre__find_hints(x.f, &x.h);
	if (first == 0) {
		argv = (char **)dot;
		first = 1;
	}
	for (int i = 0; i < first && !x.quit; i++) {
		x.err = 0;
		if (find_start(&x, argv[i]) != CLI_OK)
			ret = CLI_FAIL;
	}
	r = loafre__find_finish(x.f);
	if (r < 0 || fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": write error\n");
		ret = CLI_FAIL;
	}
out:
	loafre__find_free(x.f);
	idx_cli_done(&x.ic);
	free(x.fstype);
	free(x.start_rel);
	free(x.rel.s);
	free(x.out.s);
	free(x.live.s);
	if (devnull)
		fclose(devnull);
	return ret;
}
