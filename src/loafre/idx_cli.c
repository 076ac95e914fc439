/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* idx_cli.c — what the index query commands share (see idx_cli.h). */
#include "json.h"
#include "idx_cli.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <unistd.h>

/* Prints a message on stderr unless quiet. */
__attribute__((format(printf, 2, 3))) static void say(bool quiet, const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* ---- the directory path cache ------------------------------------------------------- */

struct cache_slot {
	struct loafre_fid fid; /* key */
	char *path;            /* relative path (owned); NULL: empty slot */
};

struct idx_cache {
	struct cache_slot *v;  /* open addressing, linear probing */
	size_t cap;            /* power of two */
	size_t n;              /* used slots */
	size_t misses;         /* idx_db_dirpath calls the cache could not answer */
	bool bulk_done;        /* every directory's path was loaded (or could not be) */
};

static size_t fid_hash(const struct loafre_fid *f)
{
	uint64_t h = f->f_seq * 0x9e3779b97f4a7c15ull ^ ((uint64_t)f->f_oid << 17) ^ f->f_ver;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (size_t)h;
}

static bool fid_eq(const struct loafre_fid *a, const struct loafre_fid *b)
{
	return a->f_seq == b->f_seq && a->f_oid == b->f_oid && a->f_ver == b->f_ver;
}

static void cache_clear(struct idx_cache *c)
{
	for (size_t i = 0; i < c->cap; i++) {
		free(c->v[i].path);
		c->v[i].path = NULL;
	}
	c->n = 0;
}

static void cache_free(struct idx_cache *c)
{
	if (!c)
		return;
	cache_clear(c);
	free(c->v);
	free(c);
}

static const char *cache_get(const struct idx_cache *c, const struct loafre_fid *fid)
{
	if (!c->cap)
		return NULL;
	for (size_t i = fid_hash(fid) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		if (!c->v[i].path)
			return NULL;
		if (fid_eq(&c->v[i].fid, fid))
			return c->v[i].path;
	}
}

/* Grows the table to ncap slots (a power of two above c->n); 0 or -ENOMEM. */
static int cache_grow(struct idx_cache *c, size_t ncap)
{
	struct cache_slot *nv = calloc(ncap, sizeof(*nv));
	size_t i;

	if (!nv)
		return -ENOMEM;
	for (size_t k = 0; k < c->cap; k++) {
		if (!c->v[k].path)
			continue;
		for (i = fid_hash(&c->v[k].fid) & (ncap - 1); nv[i].path; i = (i + 1) & (ncap - 1))
			;
		nv[i] = c->v[k];
	}
	free(c->v);
	c->v = nv;
	c->cap = ncap;
	return 0;
}

/* Makes room for n more paths without a clear or a regrowth (one
 * allocation instead of doubling): 1, 0 when they would not fit the
 * limit (nothing done), or -ENOMEM. */
static int cache_reserve(struct idx_cache *c, size_t n)
{
	size_t ncap = c->cap ? c->cap : 1024;

	if (c->n + n >= (size_t)IDX_CACHE_MAX)
		return 0;
	while (c->n + n + 1 > ncap / 2)
		ncap *= 2;
	if (ncap != c->cap && cache_grow(c, ncap) < 0)
		return -ENOMEM;
	return 1;
}

/* Takes ownership of path (freed on failure). The returned pointer is the
 * cached copy. */
static const char *cache_put(struct idx_cache *c, const struct loafre_fid *fid, char *path)
{
	size_t i;

	if (c->n + 1 > c->cap / 2) {
		if (c->cap >= 2 * (size_t)IDX_CACHE_MAX) {
			cache_clear(c); /* full: start again (paths are cheap to look up) */
		} else if (cache_grow(c, c->cap ? c->cap * 2 : 1024) < 0) {
			free(path);
			return NULL;
		}
	}
	for (i = fid_hash(fid) & (c->cap - 1); c->v[i].path; i = (i + 1) & (c->cap - 1))
		;
	c->v[i].fid = *fid;
	c->v[i].path = path;
	c->n++;
	return path;
}

/* Directory paths are built from the parent's path: a miss looks up the
 * primary links (parent, name) upwards until a cached directory, and
 * caches every directory on the way (one link lookup per new directory).
 * After DIRS_AFTER misses (a query whose results lie in many directories)
 * the paths of every directory are loaded in one pass of the store
 * (loafre__idx_dirs) when the store can and they fit the cache. */
#define DIRS_AFTER 128
#define IDX_DEPTH_MAX 4096 /* directory levels before -ELOOP (the store's limit) */

struct link1 {
	struct loafre_fid parent; /* the first link's parent */
	char *name;               /* its name (owned), NULL: no link */
};

static int first_link(void *ctx, const struct loafre_fid *parent, const char *name)
{
	struct link1 *l = ctx;

	l->parent = *parent;
	l->name = strdup(name);
	return l->name ? 1 : -ENOMEM;
}

/* One directory of the bulk load. */
struct bdir {
	int64_t id, parent;       /* the store's ids */
	struct loafre_fid fid;
	size_t name;              /* offset of its name in the arena */
	char *path;               /* built (owned until cached), NULL */
	bool cached;              /* path is owned by the cache now */
	int state;                /* 0 unknown, 1 built, -1 no path */
};

struct bulk {
	struct bdir *v;
	size_t n, cap;
	char *names;              /* NUL-terminated names */
	size_t nlen, ncap;
	size_t limit;             /* directories at most */
	int err;                  /* -ENOMEM */
};

static int bulk_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 1024;
	void *np;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	np = realloc(*p, c * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = c;
	return 0;
}

static int bulk_add(void *ctx, int64_t id, int64_t parent, const struct loafre_fid *fid,
		    const char *name)
{
	struct bulk *b = ctx;
	size_t nl = strlen(name) + 1;

	if (b->n >= b->limit)
		return 1; /* too many: not loaded */
	if (bulk_grow((void **)&b->v, &b->cap, b->n + 1, sizeof(*b->v)) < 0 ||
	    bulk_grow((void **)&b->names, &b->ncap, b->nlen + nl, 1) < 0) {
		b->err = -ENOMEM;
		return 1;
	}
	b->v[b->n] = (struct bdir){.id = id, .parent = parent, .fid = *fid, .name = b->nlen};
	memcpy(b->names + b->nlen, name, nl);
	b->nlen += nl;
	b->n++;
	return 0;
}

static int bdir_cmp(const void *a, const void *b)
{
	const struct bdir *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static struct bdir *bulk_find(struct bulk *b, int64_t id)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < b->n && b->v[lo].id == id ? &b->v[lo] : NULL;
}

/* Builds d's path (and its ancestors'); 0 or -ENOMEM. */
static int bulk_path(struct idx_db *db, struct bulk *b, struct bdir *d)
{
	struct bdir *chain[IDX_DEPTH_MAX + 1];
	size_t n = 0;
	int state = -1;

	/* up to a built (or the root, or a dead end) */
	while (d && d->state == 0 && n <= IDX_DEPTH_MAX) {
		if (fid_eq(&d->fid, &db->root_fid)) {
			d->path = strdup("");
			if (!d->path)
				return -ENOMEM;
			d->state = 1;
			break;
		}
		d->state = -1; /* a cycle stops here */
		chain[n++] = d;
		d = d->parent ? bulk_find(b, d->parent) : NULL;
	}
	if (d && d->state == 1)
		state = 1;
	while (n-- > 0) {
		struct bdir *c = chain[n];
		const char *pp = d ? d->path : NULL, *name = b->names + c->name;

		if (state == 1) {
			size_t pl = strlen(pp), nl = strlen(name), o = pl;

			c->path = malloc(pl + nl + 2);
			if (!c->path)
				return -ENOMEM;
			memcpy(c->path, pp, pl);
			if (pl)
				c->path[o++] = '/';
			memcpy(c->path + o, name, nl + 1);
			c->state = 1;
		}
		d = c;
	}
	return 0;
}

/* Loads every directory's path into the cache (nothing when the store
 * cannot or they do not fit); 0 or -ENOMEM. */
static int bulk_load(struct idx_db *db)
{
	struct bulk b = {.limit = IDX_CACHE_MAX / 2};
	bool give = false;
	int r;

	db->cache->bulk_done = true;
	r = loafre__idx_dirs(db->x, bulk_add, &b);
	if (b.err)
		r = b.err;
	else if (r != 0 || b.n >= b.limit)
		r = 0, b.n = 0; /* not supported, or too many: per-directory lookups */
	for (size_t i = 1; i < b.n; i++) {
		if (b.v[i - 1].id > b.v[i].id) { /* the store's order is usually id order */
			qsort(b.v, b.n, sizeof(*b.v), bdir_cmp);
			break;
		}
	}
	if (r == 0 && b.n) {
		r = cache_reserve(db->cache, b.n);
		give = r == 1;
		r = r < 0 ? r : 0;
	}
	for (size_t i = 0; r == 0 && i < b.n; i++) {
		struct bdir *d = &b.v[i];

		if (d->state == 0)
			r = bulk_path(db, &b, d);
		if (r == 0 && d->state == 1 && !fid_eq(&d->fid, &db->root_fid) &&
		    !cache_get(db->cache, &d->fid)) {
			/* the children's paths are built from d->path: the cache
			 * takes it when reserved (then never cleared meanwhile),
			 * else a copy */
			char *p = give ? d->path : strdup(d->path);

			if (p && cache_put(db->cache, &d->fid, p)) {
				d->cached = give;
			} else {
				if (give)
					d->path = NULL; /* freed by cache_put */
				r = -ENOMEM;
			}
		}
	}
	for (size_t i = 0; i < b.n; i++)
		if (!b.v[i].cached)
			free(b.v[i].path);
	free(b.v);
	free(b.names);
	return r;
}

int idx_db_dirpath(struct idx_db *db, const struct loafre_fid *dir, const char **ret)
{
	struct chain_item {
		struct loafre_fid fid;  /* a directory without a cached path */
		char *name;             /* its name (owned) */
	} *chain = NULL;
	size_t n = 0, cap = 0;
	struct loafre_fid cur = *dir;
	const char *base = NULL;
	int r = 0;

	if (fid_eq(dir, &db->root_fid)) {
		*ret = "";
		return 0;
	}
	base = cache_get(db->cache, dir);
	if (base) {
		*ret = base;
		return 0;
	}
	if (!db->cache->bulk_done && ++db->cache->misses >= DIRS_AFTER) {
		r = bulk_load(db);
		if (r < 0)
			return r;
		base = cache_get(db->cache, dir);
		if (base) {
			*ret = base;
			return 0;
		}
	}
	/* up to a cached directory or the root */
	for (;;) {
		struct link1 l = {0};

		base = fid_eq(&cur, &db->root_fid) ? "" : cache_get(db->cache, &cur);
		if (base)
			break;
		if (n >= IDX_DEPTH_MAX) {
			r = -ELOOP;
			goto out;
		}
		r = loafre__idx_links(db->x, &cur, first_link, &l);
		if (r < 0) {
			free(l.name);
			goto out;
		}
		if (!l.name) {
			r = -ENOENT; /* an orphan, or below one */
			goto out;
		}
		if (bulk_grow((void **)&chain, &cap, n + 1, sizeof(*chain)) < 0) {
			free(l.name);
			r = -ENOMEM;
			goto out;
		}
		chain[n].fid = cur;
		chain[n++].name = l.name;
		cur = l.parent;
	}
	/* down again, caching every directory */
	while (n > 0) {
		size_t bl = strlen(base), nl = strlen(chain[n - 1].name);
		char *path;

		if (bl + nl + 2 > (1u << 20)) {
			r = -ENAMETOOLONG;
			goto out;
		}
		path = malloc(bl + nl + 2);
		if (!path) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(path, base, bl);
		if (bl)
			path[bl++] = '/';
		memcpy(path + bl, chain[n - 1].name, nl + 1);
		base = cache_put(db->cache, &chain[n - 1].fid, path);
		if (!base) {
			r = -ENOMEM;
			goto out;
		}
		n--;
		free(chain[n].name);
	}
	*ret = base;
	r = 0;
out:
	while (n > 0)
		free(chain[--n].name);
	free(chain);
	return r;
}

bool idx_rel_under(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 0)
		return true;
	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* ---- contexts and stores -------------------------------------------------------------- */

void idx_cli_init(struct idx_cli *ic, struct cli *c, const char *prog, bool writable)
{
	ic->c = c;
	ic->prog = prog;
	ic->writable = writable;
	ic->dbs = NULL;
}

void idx_cli_done(struct idx_cli *ic)
{
	struct idx_db *db = ic->dbs, *next;

	for (; db; db = next) {
		next = db->next;
		loafre__idx_close(db->x);
		cache_free(db->cache);
		free(db->root);
		free(db);
	}
	ic->dbs = NULL;
}

/* How messages name an index's database: a conninfo may hold a password. */
static const char *db_label(const struct loafre_index_config *x)
{
	return x->backend == LOAFRE_INDEX_POSTGRESQL ? "(PostgreSQL, [index] database)"
						     : x->database;
}

void idx_cli_store_error(const struct idx_cli *ic, const struct idx_db *db, int r)
{
	const char *where = db_label(db->ic);

	if (r == -EBUSY)
		fprintf(stderr,
			"%s: index '%s' is locked by another process (waited 5 s); try again\n",
			ic->prog, where);
	else if (r == -EIO)
		fprintf(stderr, "%s: index '%s': %s\n", ic->prog, where,
			loafre__idx_errmsg(db->x)[0] ? loafre__idx_errmsg(db->x) : strerror(EIO));
	else if (r == -ELOOP)
		fprintf(stderr, "%s: index '%s' is corrupt (a cycle in its tree)\n", ic->prog, where);
	else
		fprintf(stderr, "%s: index '%s': %s\n", ic->prog, where, strerror(-r));
}

bool idx_cli_fs_has_index(const struct idx_cli *ic, const struct loafre_fs_config *fs)
{
	const struct loafre_index_config *x = loafre_config_find_index(ic->c->config, fs->name);
	struct stat st;

	if (!x)
		return false;
	if (x->backend != LOAFRE_INDEX_SQLITE)
		return true;
	return stat(x->database, &st) == 0;
}

/* Whether the store has been loaded: 0, or CLI_FAIL after printing why. */
static int check_loaded(struct idx_cli *ic, struct idx_db *db, bool quiet)
{
	char v[128];
	long pid;
	int r;

	r = loafre__idx_get_root(db->x, &db->root_fid);
	if (r == -ENOENT) {
		say(quiet,
			"%s: index '%s' has not been loaded yet: start loafred or run 'loafre scan "
			"%s'\n",
			ic->prog, db_label(db->ic), db->ic->name);
		return CLI_FAIL;
	}
	if (r < 0) {
		if (!quiet)
			idx_cli_store_error(ic, db, r);
		return CLI_FAIL;
	}
	r = loafre__idx_get_meta(db->x, "scan", v, sizeof(v));
	if (r == -ENOENT)
		return CLI_OK; /* loaded by other means than a scan */
	if (r < 0) {
		if (!quiet)
			idx_cli_store_error(ic, db, r);
		return CLI_FAIL;
	}
	if (strncmp(v, "running", 7) != 0)
		return CLI_OK;
	if (sscanf(v, "running %ld", &pid) == 1 && pid > 0 &&
	    (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
		say(quiet,
			"%s: index '%s' is being loaded by a scan (pid %ld); try again when it "
			"has finished\n",
			ic->prog, db_label(db->ic), pid);
		return CLI_FAIL;
	}
	say(quiet,
		"%s: index '%s' has not been loaded yet (its scan was interrupted): start "
		"loafred or run 'loafre scan %s'\n",
		ic->prog, db_label(db->ic), db->ic->name);
	return CLI_FAIL;
}

static int open_fs(struct idx_cli *ic, const struct loafre_fs_config *fs, struct idx_db **ret,
		   bool quiet)
{
	const struct loafre_index_config *xc;
	struct idx_db *db;
	struct stat st;
	char err[512];
	int r;

	for (db = ic->dbs; db; db = db->next)
		if (db->fs == fs) {
			*ret = db;
			return CLI_OK;
		}
	xc = loafre_config_find_index(ic->c->config, fs->name);
	if (!xc) {
		say(quiet, "%s: filesystem '%s' has no [index] section in %s\n", ic->prog,
			fs->name, ic->c->config->path);
		return CLI_FAIL;
	}
	if (xc->backend == LOAFRE_INDEX_SQLITE && stat(xc->database, &st) < 0 &&
	    errno == ENOENT) {
		say(quiet,
			"%s: index '%s' does not exist yet: start loafred or run 'loafre scan %s'\n",
			ic->prog, xc->database, xc->name);
		return CLI_FAIL;
	}
	db = calloc(1, sizeof(*db));
	if (!db || !(db->cache = calloc(1, sizeof(*db->cache)))) {
		free(db);
		say(quiet, "%s: out of memory\n", ic->prog);
		return CLI_FAIL;
	}
	db->fs = fs;
	db->ic = xc;
	db->root = realpath(fs->path, NULL);
	if (!db->root)
		db->root = strdup(fs->path);
	if (!db->root) {
		say(quiet, "%s: out of memory\n", ic->prog);
		goto fail;
	}
	r = loafre__idx_open(xc->backend == LOAFRE_INDEX_POSTGRESQL ? LOAFRE__IDX_POSTGRESQL
								    : LOAFRE__IDX_SQLITE,
			     xc->database, fs->name, ic->writable ? 0 : LOAFRE__IDX_READONLY, &db->x,
			     err, sizeof(err));
	if (r < 0) {
		if (r == -EBUSY)
			say(quiet,
				"%s: index '%s' is locked by another process (waited 5 s); try "
				"again\n",
				ic->prog, db_label(xc));
		else if (err[0])
			say(quiet, "%s: %s\n", ic->prog, err);
		else
			say(quiet, "%s: cannot open index '%s': %s\n", ic->prog, db_label(xc),
			    strerror(-r));
		goto fail;
	}
	if (check_loaded(ic, db, quiet) != CLI_OK)
		goto fail;
	db->next = ic->dbs;
	ic->dbs = db;
	*ret = db;
	return CLI_OK;
fail:
	loafre__idx_close(db->x);
	cache_free(db->cache);
	free(db->root);
	free(db);
	return CLI_FAIL;
}

int idx_cli_open_fs(struct idx_cli *ic, const struct loafre_fs_config *fs, struct idx_db **ret)
{
	return open_fs(ic, fs, ret, false);
}

/* ---- paths ----------------------------------------------------------------------------- */

/* The lexically normalized absolute form of p ("." and ".." and repeated
 * slashes removed; relative to the working directory). malloc'ed or NULL. */
static char *lexical(const char *p)
{
	char *cwd = NULL, *buf = NULL, *out;
	size_t n, o = 0;
	const char *s;

	if (p[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			return NULL;
	}
	if (asprintf(&buf, "%s/%s", cwd ? cwd : "", p) < 0) {
		free(cwd);
		return NULL;
	}
	free(cwd);
	n = strlen(buf);
	out = malloc(n + 2);
	if (!out) {
		free(buf);
		return NULL;
	}
	for (s = buf; *s;) {
		const char *e;
		size_t l;

		while (*s == '/')
			s++;
		if (!*s)
			break;
		e = strchr(s, '/');
		l = e ? (size_t)(e - s) : strlen(s);
		if (l == 1 && s[0] == '.') {
			/* nothing */
		} else if (l == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, s, l);
			o += l;
		}
		s += l;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(buf);
	return out;
}

/* The absolute form of path without following its last component; the
 * directories above it resolved (realpath) when they exist. */
static char *absolute(const char *path)
{
	char *copy = strdup(path), *slash, *dir = NULL, *res = NULL;
	const char *base;
	size_t n;

	if (!copy)
		return NULL;
	n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	slash = strrchr(copy, '/');
	base = slash ? slash + 1 : copy;
	if (strcmp(copy, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		res = realpath(copy, NULL);
		goto out;
	}
	if (!slash)
		dir = realpath(".", NULL);
	else if (slash == copy)
		dir = strdup("/");
	else {
		*slash = '\0';
		dir = realpath(copy, NULL);
		*slash = '/';
	}
	if (dir && asprintf(&res, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base) < 0)
		res = NULL;
out:
	if (!res)
		res = lexical(path);
	free(dir);
	free(copy);
	return res;
}

/* The deepest configured filesystem containing abs; *ret_len: the length
 * of the root prefix matched. */
static const struct loafre_fs_config *fs_of(const struct loafre_config *cfg, const char *abs,
					    size_t *ret_len)
{
	const struct loafre_fs_config *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < cfg->n_fs; i++) {
		const struct loafre_fs_config *fs = &cfg->fs[i];
		char *real = realpath(fs->path, NULL);
		const char *roots[2] = {fs->path, real};

		for (int k = 0; k < 2; k++) {
			const char *root = roots[k];
			size_t n;

			if (!root)
				continue;
			n = strlen(root);
			while (n > 1 && root[n - 1] == '/')
				n--;
			if (n == 1 && root[0] == '/')
				n = 0; /* "/" contains everything */
			if (strncmp(abs, root, n) == 0 && (abs[n] == '/' || abs[n] == '\0') &&
			    (!best || n > best_len)) {
				best = fs;
				best_len = n;
			}
		}
		free(real);
	}
	*ret_len = best_len;
	return best;
}

void idx_path_free(struct idx_path *p)
{
	if (!p)
		return;
	free(p->abs);
	free(p->rel);
	free(p->symlink);
	memset(p, 0, sizeof(*p));
}

static int resolve(struct idx_cli *ic, const char *path, struct idx_path *ret, bool quiet)
{
	struct idx_path p = {0};
	const struct loafre_fs_config *fs;
	struct loafre__idx_entry e;
	size_t rootlen;
	const char *rel;
	int r;

	if (!*path)
		return IDX_CLI_MISSING; /* GNU: "'': No such file or directory" */
	p.abs = absolute(path);
	if (!p.abs) {
		say(quiet, "%s: '%s': %s\n", ic->prog, path, strerror(errno));
		return CLI_FAIL;
	}
	fs = fs_of(ic->c->config, p.abs, &rootlen);
	if (!fs) {
		say(quiet, "%s: '%s' is not under any filesystem of %s\n", ic->prog, path,
			ic->c->config->path);
		goto fail;
	}
	if (open_fs(ic, fs, &p.db, quiet) != CLI_OK)
		goto fail;
	rel = p.abs + rootlen;
	while (*rel == '/')
		rel++;
	p.rel = strdup(rel);
	if (!p.rel) {
		say(quiet, "%s: out of memory\n", ic->prog);
		goto fail;
	}
	r = loafre__idx_resolve(p.db->x, p.rel, &p.fid);
	if (r == 0)
		r = loafre__idx_lookup(p.db->x, &p.fid, &e);
	if (r == -ENOENT || r == -ENOTDIR) {
		idx_path_free(&p);
		return IDX_CLI_MISSING;
	}
	if (r < 0) {
		if (!quiet)
			idx_cli_store_error(ic, p.db, r);
		goto fail;
	}
	p.e = e;
	p.e.jobid = NULL;
	p.e.a.symlink = NULL;
	if (e.a.symlink) {
		p.symlink = strdup(e.a.symlink);
		if (!p.symlink) {
			say(quiet, "%s: out of memory\n", ic->prog);
			goto fail;
		}
		p.e.a.symlink = p.symlink;
	}
	*ret = p;
	return CLI_OK;
fail:
	idx_path_free(&p);
	return CLI_FAIL;
}

int idx_cli_resolve(struct idx_cli *ic, const char *path, struct idx_path *ret)
{
	return resolve(ic, path, ret, false);
}

int idx_cli_resolve_quiet(struct idx_cli *ic, const char *path, struct idx_path *ret)
{
	int r = resolve(ic, path, ret, true);

	return r == CLI_OK ? 0 : r == IDX_CLI_MISSING ? -ENOENT : -EIO;
}

/* ---- output helpers ------------------------------------------------------------------ */

uint64_t idx_ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

void idx_human(uint64_t v, char *buf, size_t cap)
{
	static const char units[] = "KMGTPE";
	const unsigned base = 1024;
	uint64_t amt = v;
	unsigned tenths = 0, rounding = 0;
	int exp = 0;

	/* GNU human_readable() with human_ceiling | human_autoscale |
	 * human_base_1024: divide while >= 1024, keeping one decimal digit and
	 * whether anything was dropped; round up. */
	if (amt >= base) {
		do {
			unsigned r10 = (unsigned)(amt % base) * 10 + tenths;
			unsigned r2 = (r10 % base) * 2 + (rounding >> 1);

			amt /= base;
			tenths = r10 / base;
			rounding = r2 < base ? (r2 != 0) + (rounding != 0)
					     : 2 + (base < r2 + (rounding != 0));
			exp++;
		} while (amt >= base && exp < (int)sizeof(units) - 1);
		if (amt < 10) {
			if (rounding) {
				tenths++;
				rounding = 0;
				if (tenths == 10) {
					amt++;
					tenths = 0;
				}
			}
			if (amt < 10) {
				snprintf(buf, cap, "%u.%u%c", (unsigned)amt, tenths, units[exp - 1]);
				return;
			}
		}
	}
	if (tenths + rounding > 0) {
		amt++;
		if (exp && amt == base && exp < (int)sizeof(units) - 1) {
			snprintf(buf, cap, "1.0%c", units[exp]);
			return;
		}
	}
	if (exp)
		snprintf(buf, cap, "%" PRIu64 "%c", amt, units[exp - 1]);
	else
		snprintf(buf, cap, "%" PRIu64, amt);
}

int idx_parse_size(const char *s, uint64_t *ret)
{
	static const char suffixes[] = "KMGTPE";
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p) {
		const char *u = strchr(suffixes, *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		if (!u)
			return -EINVAL;
		for (long k = 0; k <= u - suffixes; k++)
			mul *= 1024;
		p++;
		if (strcmp(p, "iB") == 0 || strcmp(p, "B") == 0)
			p += strlen(p);
		if (*p)
			return -EINVAL;
		if (v && mul > UINT64_MAX / v)
			return -EINVAL;
	}
	*ret = v * mul;
	return 0;
}

int idx_parse_count(const char *s, size_t *ret)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > (SIZE_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*ret = (size_t)v;
	return 0;
}

void idx_json_str(FILE *f, const char *s)
{
	(void)loafre__json_fquote(f, s); /* a write error shows at fclose/fflush */
}

void idx_json_time(FILE *f, int64_t ns)
{
	int64_t s = ns / 1000000000, frac = ns % 1000000000;

	if (frac < 0) {
		frac += 1000000000;
		s--;
	}
	if (s < 0 && frac) /* -1.5 s is s = -2, frac = .5: print -(1.5) */
		fprintf(f, "-%" PRId64 ".%09" PRId64, -(s + 1), 1000000000 - frac);
	else
		fprintf(f, "%" PRId64 ".%09" PRId64, s, frac);
}

const char *idx_user_name(uint32_t uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];

	if (getpwuid_r((uid_t)uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, cap, "%s", res->pw_name);
	else
		snprintf(buf, cap, "%" PRIu32, uid);
	return buf;
}

const char *idx_group_name(uint32_t gid, char *buf, size_t cap)
{
	struct group gr, *res = NULL;
	char tmp[8192];

	if (getgrgid_r((gid_t)gid, &gr, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, cap, "%s", res->gr_name);
	else
		snprintf(buf, cap, "%" PRIu32, gid);
	return buf;
}

int idx_parse_user(const char *s, uint32_t *ret)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];
	uint64_t v = 0;
	const char *p;

	if (getpwnam_r(s, &pw, tmp, sizeof(tmp), &res) == 0 && res) {
		*ret = (uint32_t)res->pw_uid;
		return 0;
	}
	if (!*s)
		return -ENOENT;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > UINT32_MAX / 10)
			return -ENOENT;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > UINT32_MAX)
		return -ENOENT;
	*ret = (uint32_t)v;
	return 0;
}

char idx_type_char(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return 'f';
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFBLK: return 'b';
	case S_IFCHR: return 'c';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	default: return '?';
	}
}
