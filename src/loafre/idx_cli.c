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

/* Takes ownership of path (freed on failure). The returned pointer is the
 * cached copy. */
static const char *cache_put(struct idx_cache *c, const struct loafre_fid *fid, char *path)
{
	size_t i;

	if (c->n + 1 > c->cap / 2) {
		if (c->cap >= 2 * (size_t)IDX_CACHE_MAX) {
			cache_clear(c); /* full: start again (paths are cheap to look up) */
		} else {
			size_t ncap = c->cap ? c->cap * 2 : 1024;
			struct cache_slot *nv = calloc(ncap, sizeof(*nv));
			if (!nv) {
				free(path);
				return NULL;
			}
			for (size_t k = 0; k < c->cap; k++) {
				if (!c->v[k].path)
					continue;
				for (i = fid_hash(&c->v[k].fid) & (ncap - 1); nv[i].path;
				     i = (i + 1) & (ncap - 1))
					;
				nv[i] = c->v[k];
			}
			free(c->v);
			c->v = nv;
			c->cap = ncap;
		}
	}
	for (i = fid_hash(fid) & (c->cap - 1); c->v[i].path; i = (i + 1) & (c->cap - 1))
		;
	c->v[i].fid = *fid;
	c->v[i].path = path;
	c->n++;
	return path;
}

int idx_db_dirpath(struct idx_db *db, const struct loafre_fid *dir, const char **ret)
{
	const char *p;
	size_t cap = 4096;
	char *buf = NULL;
	int r;

	if (fid_eq(dir, &db->root_fid)) {
		*ret = "";
		return 0;
	}
	p = cache_get(db->cache, dir);
	if (p) {
		*ret = p;
		return 0;
	}
	for (;;) {
		char *nb = realloc(buf, cap);
		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		r = loafre__idx_path(db->x, dir, buf, cap);
		if (r != -ENAMETOOLONG || cap >= (1u << 20))
			break;
		cap *= 4;
	}
	if (r < 0) {
		free(buf);
		return r;
	}
	p = cache_put(db->cache, dir, buf);
	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
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
