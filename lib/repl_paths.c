/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_paths.c — the directory map of a replication group (lib/
 * repl_paths.h: model, record meanings, replay rule, limits).
 *
 * FILE. One SQLite database per replication group
 * (JOURNAL/broker/rep-RULE.paths), WAL mode, synchronous=NORMAL: a commit
 * survives a crash of the process; an OS crash or a power loss may take
 * the last commits back, whole, positions with their changes (the map
 * stays consistent, at an older position, and the broker re-delivers the
 * records after it). A file lost or of another format is rebuilt by the
 * rule's initial sync (a walk). Nothing is written before the format check.
 *   PRAGMA application_id = 0x6c6f7061 ("lopa"): a loafre paths map.
 *   PRAGMA user_version   = 1: the format below; another value: -EPROTO.
 *
 * TABLES. A FID is a 16-byte BLOB: f_seq (8), f_oid (4), f_ver (4), each
 * little-endian.
 *   dir(fid BLOB PRIMARY KEY, parent BLOB NOT NULL, name BLOB NOT NULL)
 *       WITHOUT ROWID
 *       one row per directory but the root: its parent's FID and its name
 *       (1-255 bytes, no '/' or NUL, not "." or ".."). A row whose parent
 *       has no row and is not the root is stale (a deleted subtree's
 *       leftover; loafre__paths_gc removes it).
 *   meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID
 *       'root'  BLOB  the root directory's FID
 *   position(mdt TEXT PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID
 *       per MDT name, the last changelog index whose changes are in dir
 *       (written in the same transaction as them).
 *   ann(mdt TEXT NOT NULL, idx INTEGER NOT NULL, rc INTEGER NOT NULL,
 *       flags INTEGER NOT NULL, path BLOB, spath BLOB,
 *       PRIMARY KEY(mdt, idx)) WITHOUT ROWID
 *       the annotation loafre__paths_next gave record idx of mdt (rc: its
 *       return value, 0 or -errno; flags: 1 is_dir, 2 victim_dir; path,
 *       spath: NULL when none), kept until loafre__paths_prune: a record
 *       read again after a restart (delivered, not yet acked) gets the
 *       same annotation although the map is past it.
 * A row that does not decode (a FID not 16 bytes, a bad name) is -EIO.
 *
 * CACHE. FID → (present, parent, name) for the last `cache_max` FIDs
 * looked up or written, absent ones included (a file's FID asked about
 * costs one SQLite read, then none), evicted least recently used first
 * (approximately: a hit refreshes an entry once it has aged by a quarter
 * of the cache); written through by every change; emptied by a rollback.
 */
#include "repl_paths.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sqlite_init.h"
#include "util.h"

#define PATHS_APP_ID 0x6c6f7061
#define PATHS_VERSION 1
#define BUSY_MS 5000
#define GC_CHUNK 65536

enum {
	S_GET,
	S_PUT,
	S_DEL,
	S_POS_GET,
	S_POS_PUT,
	S_POS_DEL,
	S_ROOT_GET,
	S_ROOT_PUT,
	S_COUNT,
	S_ANN_PUT,
	S_ANN_GET,
	S_ANN_PRUNE,
	S_NSTMT
};

static const char *const stmt_sql[S_NSTMT] = {
	[S_GET] = "SELECT parent, name FROM dir WHERE fid = ?1",
	[S_PUT] = "INSERT OR REPLACE INTO dir(fid, parent, name) VALUES (?1, ?2, ?3)",
	[S_DEL] = "DELETE FROM dir WHERE fid = ?1",
	[S_POS_GET] = "SELECT idx FROM position WHERE mdt = ?1",
	[S_POS_PUT] = "INSERT OR REPLACE INTO position(mdt, idx) VALUES (?1, ?2)",
	[S_POS_DEL] = "DELETE FROM position WHERE mdt = ?1",
	[S_ROOT_GET] = "SELECT value FROM meta WHERE key = 'root'",
	[S_ROOT_PUT] = "INSERT OR REPLACE INTO meta(key, value) VALUES ('root', ?1)",
	[S_COUNT] = "SELECT count(*) FROM dir",
	[S_ANN_PUT] = "INSERT OR REPLACE INTO ann(mdt, idx, rc, flags, path, spath)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_ANN_GET] = "SELECT rc, flags, path, spath FROM ann WHERE mdt = ?1 AND idx = ?2",
	[S_ANN_PRUNE] = "DELETE FROM ann WHERE mdt = ?1 AND idx <= ?2",
};

/* One cached FID. */
struct cent {
	struct loafre_fid fid;    /* the key */
	struct loafre_fid parent; /* its parent (present only) */
	struct cent *hnext;       /* next in its hash bucket */
	struct cent *lprev;       /* LRU list: toward the most recent */
	struct cent *lnext;       /* ... toward the least recent */
	uint64_t tick;            /* the map's tick when last moved to the LRU head */
	uint16_t namelen;         /* name length (present only) */
	bool present;             /* a directory of the map; false: known absent */
	char name[];              /* namelen bytes, no NUL */
};

/* A position per MDT. */
struct pos {
	char mdt[LOAFRE__PATHS_MDT_NAME_MAX + 1]; /* the MDT's name */
	uint64_t committed;                       /* as stored */
	uint64_t pending;                         /* in the open transaction */
	bool dirty;                               /* pending to be written */
};

struct loafre__paths {
	sqlite3 *db;                  /* the file */
	sqlite3_stmt *st[S_NSTMT];    /* prepared statements */
	bool in_txn;                  /* a write transaction is open */
	bool has_root;                /* root is set (in the open transaction too) */
	struct loafre_fid root;       /* the root directory */
	/* cache */
	struct cent **buckets;        /* hash table */
	size_t nbuckets;              /* power of two */
	size_t ncache;                /* entries cached */
	size_t cache_max;             /* bound */
	struct cent *lru_head;        /* most recent */
	struct cent *lru_tail;        /* least recent: evicted first */
	uint64_t tick;                /* entries inserted so far (an entry's age) */
	/* positions */
	struct pos *pos;              /* known MDTs */
	size_t npos, cappos;          /* used, allocated */
	/* buffers for paths (PATH_MAX each) */
	char work[PATH_MAX];          /* a directory's path, built from the end */
	char out_path[PATH_MAX];      /* ann.path */
	char out_spath[PATH_MAX];     /* ann.spath */
};

/* ---- helpers --------------------------------------------------------------- */

static void fid_pack(const struct loafre_fid *f, uint8_t b[LOAFRE_FID_SIZE])
{
	loafre__put64(b, f->f_seq);
	loafre__put32(b + 8, f->f_oid);
	loafre__put32(b + 12, f->f_ver);
}

static int fid_unpack(const void *b, int len, struct loafre_fid *f)
{
	if (!b || len != LOAFRE_FID_SIZE)
		return -EIO;
	f->f_seq = loafre__le64(b);
	f->f_oid = loafre__le32((const uint8_t *)b + 8);
	f->f_ver = loafre__le32((const uint8_t *)b + 12);
	return 0;
}

static bool name_ok(const char *s, size_t len)
{
	if (!s || len == 0 || len > LOAFRE_NAME_MAX)
		return false;
	if (memchr(s, '/', len) || memchr(s, '\0', len))
		return false;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	return true;
}

static int sq_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static int bind_fid(sqlite3_stmt *st, int i, const struct loafre_fid *f)
{
	uint8_t b[LOAFRE_FID_SIZE];

	fid_pack(f, b);
	return sqlite3_bind_blob(st, i, b, sizeof(b), SQLITE_TRANSIENT);
}

/* Steps a statement that returns no row; resets it. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : sq_err(rc);
}

/* ---- cache ------------------------------------------------------------------ */

static size_t fid_hash(const struct loafre_fid *f)
{
	uint64_t h = f->f_seq * 0x9e3779b97f4a7c15ull ^ ((uint64_t)f->f_oid << 32 | f->f_ver);

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return (size_t)h;
}

static void lru_unlink(struct loafre__paths *p, struct cent *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		p->lru_head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		p->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_push(struct loafre__paths *p, struct cent *e)
{
	e->lprev = NULL;
	e->lnext = p->lru_head;
	if (p->lru_head)
		p->lru_head->lprev = e;
	p->lru_head = e;
	if (!p->lru_tail)
		p->lru_tail = e;
}

static struct cent **bucket_of(struct loafre__paths *p, const struct loafre_fid *f)
{
	return &p->buckets[fid_hash(f) & (p->nbuckets - 1)];
}

static void cache_remove(struct loafre__paths *p, struct cent *e)
{
	struct cent **pp = bucket_of(p, &e->fid);

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(p, e);
	p->ncache--;
	free(e);
}

static struct cent *cache_find(struct loafre__paths *p, const struct loafre_fid *f)
{
	struct cent *e;

	for (e = *bucket_of(p, f); e; e = e->hnext) {
		if (loafre_fid_equal(&e->fid, f)) {
			/* a hit moves the entry to the head only once it has
			 * aged by a quarter of the cache: hot entries (the
			 * top directories, on every path) do not touch their
			 * neighbours each time (approximate LRU) */
			if (p->tick - e->tick > p->cache_max / 4) {
				lru_unlink(p, e);
				lru_push(p, e);
				e->tick = p->tick;
			}
			return e;
		}
	}
	return NULL;
}

static void cache_clear(struct loafre__paths *p)
{
	struct cent *e = p->lru_head;

	while (e) {
		struct cent *n = e->lnext;

		free(e);
		e = n;
	}
	p->lru_head = p->lru_tail = NULL;
	if (p->buckets)
		memset(p->buckets, 0, p->nbuckets * sizeof(*p->buckets));
	p->ncache = 0;
}

/* Caches fid's state (replacing what was cached). NULL on -ENOMEM (then
 * fid is not cached at all: the cache never holds a stale answer). */
static struct cent *cache_put(struct loafre__paths *p, const struct loafre_fid *f, bool present,
			      const struct loafre_fid *parent, const char *name, size_t namelen)
{
	struct cent *e = cache_find(p, f);
	struct cent **b;

	if (e)
		cache_remove(p, e);
	e = malloc(sizeof(*e) + (present ? namelen : 0));
	if (!e)
		return NULL;
	e->fid = *f;
	e->tick = ++p->tick;
	e->present = present;
	if (present) {
		e->parent = *parent;
		e->namelen = (uint16_t)namelen;
		memcpy(e->name, name, namelen);
	} else {
		memset(&e->parent, 0, sizeof(e->parent));
		e->namelen = 0;
	}
	b = bucket_of(p, f);
	e->hnext = *b;
	*b = e;
	lru_push(p, e);
	p->ncache++;
	while (p->ncache > p->cache_max && p->lru_tail != e)
		cache_remove(p, p->lru_tail);
	return e;
}

static int cache_init(struct loafre__paths *p, size_t max)
{
	size_t nb = 16;

	while (nb < max && nb < ((size_t)1 << 30))
		nb <<= 1;
	cache_clear(p);
	free(p->buckets);
	p->buckets = calloc(nb, sizeof(*p->buckets));
	if (!p->buckets) {
		p->nbuckets = 0;
		return -ENOMEM;
	}
	p->nbuckets = nb;
	p->cache_max = max;
	return 0;
}

/* ---- transactions ------------------------------------------------------------ */

static int load_root(struct loafre__paths *p)
{
	sqlite3_stmt *st = p->st[S_ROOT_GET];
	int rc = sqlite3_step(st);
	int r = 0;

	p->has_root = false;
	if (rc == SQLITE_ROW) {
		r = fid_unpack(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), &p->root);
		p->has_root = r == 0;
	} else if (rc != SQLITE_DONE) {
		r = sq_err(rc);
	}
	sqlite3_reset(st);
	return r;
}

/* Forgets the open transaction's state (after ROLLBACK). */
static void txn_forget(struct loafre__paths *p)
{
	p->in_txn = false;
	cache_clear(p);
	p->npos = 0; /* re-read from the file when asked */
	(void)load_root(p);
}

/* An error inside the transaction: rolls it back whole; returns r. */
static int txn_fail(struct loafre__paths *p, int r)
{
	if (p->in_txn) {
		sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
		txn_forget(p);
	}
	return r;
}

static int txn_begin(struct loafre__paths *p)
{
	int rc;

	if (p->in_txn)
		return 0;
	rc = sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sq_err(rc);
	p->in_txn = true;
	return 0;
}

int loafre__paths_rollback(struct loafre__paths *p)
{
	if (!p->in_txn)
		return 0;
	sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
	txn_forget(p);
	return 0;
}

/* ---- positions ----------------------------------------------------------------- */

static int pos_find(struct loafre__paths *p, const char *mdt, struct pos **ret)
{
	size_t len, i;
	struct pos *q;
	sqlite3_stmt *st = p->st[S_POS_GET];
	int rc;
	uint64_t v = 0;

	if (!mdt)
		return -EINVAL;
	len = strlen(mdt);
	if (len == 0 || len > LOAFRE__PATHS_MDT_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < p->npos; i++) {
		if (strcmp(p->pos[i].mdt, mdt) == 0) {
			*ret = &p->pos[i];
			return 0;
		}
	}
	if (p->npos == LOAFRE__PATHS_MDT_MAX)
		return -ENOSPC;
	if (p->npos == p->cappos) {
		size_t n = p->cappos ? p->cappos * 2 : 4;
		struct pos *np = realloc(p->pos, n * sizeof(*np));

		if (!np)
			return -ENOMEM;
		p->pos = np;
		p->cappos = n;
	}
	sqlite3_bind_text(st, 1, mdt, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_err(rc);
	q = &p->pos[p->npos++];
	memcpy(q->mdt, mdt, len + 1);
	/* read inside a transaction: what it will commit; outside: stored */
	q->committed = q->pending = v;
	q->dirty = false;
	*ret = q;
	return 0;
}

int loafre__paths_get_position(struct loafre__paths *p, const char *mdt, uint64_t *ret)
{
	struct pos *q;
	int r = pos_find(p, mdt, &q);

	if (r < 0)
		return r;
	*ret = p->in_txn ? q->pending : q->committed;
	return 0;
}

int loafre__paths_set_position(struct loafre__paths *p, const char *mdt, uint64_t position)
{
	struct pos *q;
	int r = pos_find(p, mdt, &q);

	if (r < 0)
		return r;
	r = txn_begin(p);
	if (r < 0)
		return r;
	q->pending = position;
	q->dirty = true;
	return 0;
}

int loafre__paths_commit(struct loafre__paths *p, const char *mdt, uint64_t position)
{
	size_t i;
	int r, rc;

	if (mdt) {
		r = loafre__paths_set_position(p, mdt, position);
		if (r < 0)
			return r;
	}
	r = txn_begin(p);
	if (r < 0)
		return r;
	for (i = 0; i < p->npos; i++) {
		struct pos *q = &p->pos[i];
		sqlite3_stmt *st;

		if (!q->dirty)
			continue;
		st = p->st[q->pending ? S_POS_PUT : S_POS_DEL];
		sqlite3_bind_text(st, 1, q->mdt, -1, SQLITE_STATIC);
		if (q->pending)
			sqlite3_bind_int64(st, 2, (int64_t)q->pending);
		r = step_done(st);
		if (r < 0)
			return txn_fail(p, r);
	}
	rc = sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return txn_fail(p, sq_err(rc));
	p->in_txn = false;
	for (i = 0; i < p->npos; i++) {
		p->pos[i].committed = p->pos[i].pending;
		p->pos[i].dirty = false;
	}
	return 0;
}

/* ---- the map ----------------------------------------------------------------- */

/* fid's cache entry (looked up in SQLite on a miss): 0 and *ret (valid
 * until the next cache insertion), -ENOENT (not a directory of the map),
 * or an error. */
static int lookup(struct loafre__paths *p, const struct loafre_fid *f, const struct cent **ret)
{
	sqlite3_stmt *st = p->st[S_GET];
	struct cent *e = cache_find(p, f);
	struct loafre_fid parent;
	const void *name;
	int rc, r = 0, namelen;

	if (!e) {
		bind_fid(st, 1, f);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			r = fid_unpack(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0),
				       &parent);
			name = sqlite3_column_blob(st, 1);
			namelen = sqlite3_column_bytes(st, 1);
			if (r == 0 && !name_ok(name, (size_t)namelen))
				r = -EIO;
			if (r == 0) {
				e = cache_put(p, f, true, &parent, name, (size_t)namelen);
				if (!e)
					r = -ENOMEM;
			}
		} else if (rc == SQLITE_DONE) {
			e = cache_put(p, f, false, NULL, NULL, 0);
			if (!e)
				r = -ENOMEM;
		} else {
			r = sq_err(rc);
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (r < 0)
			return r;
	}
	if (!e->present)
		return -ENOENT;
	*ret = e;
	return 0;
}

static bool is_root(const struct loafre__paths *p, const struct loafre_fid *f);

/* Whether f is the root or a directory of the map. */
static int known(struct loafre__paths *p, const struct loafre_fid *f, bool *ret)
{
	const struct cent *e;
	int r;

	if (loafre_fid_is_zero(f)) {
		*ret = false;
		return 0;
	}
	if (p->has_root && loafre_fid_equal(&p->root, f)) {
		*ret = true;
		return 0;
	}
	r = lookup(p, f, &e);
	if (r < 0 && r != -ENOENT)
		return r;
	*ret = r == 0;
	return 0;
}

static bool is_root(const struct loafre__paths *p, const struct loafre_fid *f)
{
	return p->has_root && loafre_fid_equal(&p->root, f);
}

/* The path of directory f ("/" for the root) into out[PATH_MAX]; returns
 * its length or a negative errno. */
static int resolve(struct loafre__paths *p, const struct loafre_fid *f, char *out)
{
	struct loafre_fid cur = *f;
	size_t pos = PATH_MAX - 1; /* work[pos..] is the path built so far */
	size_t total = 0;          /* its length if it had fit */
	bool toolong = false;
	unsigned depth = 0;
	int r;

	p->work[pos] = '\0';
	while (!is_root(p, &cur)) {
		const struct cent *e;

		if (depth == LOAFRE__PATHS_DEPTH_MAX)
			return -ELOOP;
		r = lookup(p, &cur, &e);
		if (r < 0)
			return r;
		total += 1 + (size_t)e->namelen;
		if (!toolong && total <= PATH_MAX - 1) {
			pos -= e->namelen;
			memcpy(p->work + pos, e->name, e->namelen);
			p->work[--pos] = '/';
		} else {
			toolong = true;
		}
		cur = e->parent;
		depth++;
	}
	if (toolong)
		return -ENAMETOOLONG;
	if (total == 0) {
		out[0] = '/';
		out[1] = '\0';
		return 1;
	}
	memcpy(out, p->work + pos, total + 1);
	return (int)total;
}

/* parent's path + '/' + name into out[PATH_MAX]. */
static int join(struct loafre__paths *p, const struct loafre_fid *parent, const char *name,
		size_t namelen, char *out)
{
	int n;

	if (!name_ok(name, namelen))
		return -EINVAL;
	n = resolve(p, parent, out);
	if (n < 0)
		return n;
	if (n == 1)
		n = 0; /* the root: "/" + name */
	if ((size_t)n + 1 + namelen > PATH_MAX - 1)
		return -ENAMETOOLONG;
	out[n] = '/';
	memcpy(out + n + 1, name, namelen);
	out[n + 1 + namelen] = '\0';
	return n + 1 + (int)namelen;
}

int loafre__paths_annotate(struct loafre__paths *p, const struct loafre_rec *r,
			   struct loafre__paths_ann *out)
{
	bool rename = r->type == LOAFRE_CL_RENAME && !loafre_fid_is_zero(&r->sfid);
	bool k;
	int n, err = 0, e;

	memset(out, 0, sizeof(*out));
	if (r->type == LOAFRE_CL_MARK)
		return 0;
	if (r->type == LOAFRE_CL_MKDIR || r->type == LOAFRE_CL_RMDIR) {
		out->is_dir = true;
	} else {
		e = known(p, rename ? &r->sfid : &r->tfid, &k);
		if (e < 0)
			return e;
		out->is_dir = k;
	}
	if (rename && !loafre_fid_is_zero(&r->tfid) && !loafre_fid_equal(&r->tfid, &r->sfid)) {
		e = known(p, &r->tfid, &k);
		if (e < 0)
			return e;
		out->victim_dir = k;
	}
	if (r->namelen > 0 && !loafre_fid_is_zero(&r->pfid)) {
		n = join(p, &r->pfid, r->name, r->namelen, p->out_path);
		if (n >= 0) {
			out->path = p->out_path;
			out->pathlen = (size_t)n;
		} else {
			err = n;
		}
	} else if (!rename && out->is_dir && !loafre_fid_is_zero(&r->tfid)) {
		n = resolve(p, &r->tfid, p->out_path);
		if (n >= 0) {
			out->path = p->out_path;
			out->pathlen = (size_t)n;
		} else {
			err = n;
		}
	}
	if (r->type == LOAFRE_CL_RENAME && r->sname && !loafre_fid_is_zero(&r->spfid)) {
		n = join(p, &r->spfid, r->sname, r->snamelen, p->out_spath);
		if (n >= 0) {
			out->spath = p->out_spath;
			out->spathlen = (size_t)n;
		} else if (err == 0) {
			err = n;
		}
	}
	return err;
}

/* Sets fid → (parent, name) in the transaction and the cache. */
static int map_set(struct loafre__paths *p, const struct loafre_fid *f,
		   const struct loafre_fid *parent, const char *name, size_t namelen)
{
	sqlite3_stmt *st = p->st[S_PUT];
	int r;

	bind_fid(st, 1, f);
	bind_fid(st, 2, parent);
	sqlite3_bind_blob(st, 3, name, (int)namelen, SQLITE_STATIC);
	r = step_done(st);
	if (r < 0)
		return txn_fail(p, r);
	if (!cache_put(p, f, true, parent, name, namelen)) {
		struct cent *e = cache_find(p, f);

		if (e)
			cache_remove(p, e);
	}
	return 0;
}

static int map_del(struct loafre__paths *p, const struct loafre_fid *f)
{
	sqlite3_stmt *st = p->st[S_DEL];
	int r;

	bind_fid(st, 1, f);
	r = step_done(st);
	if (r < 0)
		return txn_fail(p, r);
	if (!cache_put(p, f, false, NULL, NULL, 0)) {
		struct cent *e = cache_find(p, f);

		if (e)
			cache_remove(p, e);
	}
	return 0;
}

static int apply_change(struct loafre__paths *p, const struct loafre_rec *r)
{
	bool k, kp;
	int e;

	switch (r->type) {
	case LOAFRE_CL_MKDIR:
		if (loafre_fid_is_zero(&r->tfid) || loafre_fid_is_zero(&r->pfid) ||
		    is_root(p, &r->tfid))
			return -EINVAL;
		if (!name_ok(r->name, r->namelen))
			return -EINVAL;
		return map_set(p, &r->tfid, &r->pfid, r->name, r->namelen);
	case LOAFRE_CL_RMDIR:
		if (loafre_fid_is_zero(&r->tfid) || is_root(p, &r->tfid))
			return 0;
		return map_del(p, &r->tfid);
	case LOAFRE_CL_RENAME:
		if (loafre_fid_is_zero(&r->sfid) || is_root(p, &r->sfid))
			return 0; /* an old-style rename: no FID of the object */
		e = known(p, &r->sfid, &k);
		if (e < 0)
			return txn_fail(p, e);
		if (k && (!name_ok(r->name, r->namelen) || loafre_fid_is_zero(&r->pfid)))
			return -EINVAL;
		if (!loafre_fid_is_zero(&r->tfid) && !loafre_fid_equal(&r->tfid, &r->sfid) &&
		    !is_root(p, &r->tfid)) {
			bool kt;

			e = known(p, &r->tfid, &kt);
			if (e < 0)
				return txn_fail(p, e);
			if (kt) {
				e = map_del(p, &r->tfid);
				if (e < 0)
					return e;
			}
		}
		if (!k)
			return 0;
		if (is_root(p, &r->pfid)) {
			kp = true;
		} else {
			e = known(p, &r->pfid, &kp);
			if (e < 0)
				return txn_fail(p, e);
		}
		if (kp)
			return map_set(p, &r->sfid, &r->pfid, r->name, r->namelen);
		return map_del(p, &r->sfid);
	default:
		return 0;
	}
}

int loafre__paths_apply(struct loafre__paths *p, const char *mdt, const struct loafre_rec *r)
{
	struct pos *q = NULL;
	int e;

	if (mdt) {
		e = pos_find(p, mdt, &q);
		if (e < 0)
			return e;
		if (r->index <= (p->in_txn ? q->pending : q->committed))
			return 1;
	}
	e = txn_begin(p);
	if (e < 0)
		return e;
	e = apply_change(p, r);
	if (e < 0)
		return e;
	if (q) {
		q->pending = r->index;
		q->dirty = true;
	}
	return 0;
}

/* Copies a stored path (a BLOB column) into buf[PATH_MAX]. */
static int col_path(sqlite3_stmt *st, int col, char *buf, const char **ret, size_t *retlen)
{
	const void *v = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);

	*ret = NULL;
	*retlen = 0;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	if (!v || n <= 0 || n > PATH_MAX - 1)
		return -EIO;
	memcpy(buf, v, (size_t)n);
	buf[n] = '\0';
	*ret = buf;
	*retlen = (size_t)n;
	return 0;
}

/* The annotation stored for (mdt, idx): its rc, or -ENODATA if none. */
static int ann_get(struct loafre__paths *p, const char *mdt, uint64_t idx,
		   struct loafre__paths_ann *out)
{
	sqlite3_stmt *st = p->st[S_ANN_GET];
	int rc, r, e, flags;

	sqlite3_bind_text(st, 1, mdt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)idx);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r = sqlite3_column_int(st, 0);
		flags = sqlite3_column_int(st, 1);
		out->is_dir = flags & 1;
		out->victim_dir = flags & 2;
		e = col_path(st, 2, p->out_path, &out->path, &out->pathlen);
		if (e == 0)
			e = col_path(st, 3, p->out_spath, &out->spath, &out->spathlen);
		if (e < 0 || r > 0 || r < -4095) {
			memset(out, 0, sizeof(*out));
			r = -EIO;
		}
	} else {
		r = rc == SQLITE_DONE ? -ENODATA : sq_err(rc);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int loafre__paths_next(struct loafre__paths *p, const char *mdt, const struct loafre_rec *r,
		       struct loafre__paths_ann *out)
{
	sqlite3_stmt *st = p->st[S_ANN_PUT];
	struct pos *q;
	int ra, e;

	memset(out, 0, sizeof(*out));
	e = pos_find(p, mdt, &q);
	if (e < 0)
		return e;
	if (r->index <= (p->in_txn ? q->pending : q->committed))
		return ann_get(p, mdt, r->index, out);
	ra = loafre__paths_annotate(p, r, out);
	if (ra < 0 && ra != -ENOENT && ra != -ENAMETOOLONG && ra != -ELOOP && ra != -EINVAL)
		return ra; /* -EIO, -ENOMEM: nothing stored, the record not applied */
	e = txn_begin(p);
	if (e < 0)
		return e;
	sqlite3_bind_text(st, 1, mdt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)r->index);
	sqlite3_bind_int(st, 3, ra);
	sqlite3_bind_int(st, 4, (out->is_dir ? 1 : 0) | (out->victim_dir ? 2 : 0));
	if (out->path)
		sqlite3_bind_blob(st, 5, out->path, (int)out->pathlen, SQLITE_STATIC);
	if (out->spath)
		sqlite3_bind_blob(st, 6, out->spath, (int)out->spathlen, SQLITE_STATIC);
	e = step_done(st);
	if (e < 0)
		return txn_fail(p, e);
	e = apply_change(p, r);
	if (e < 0 && e != -EINVAL)
		return e; /* the transaction was rolled back */
	/* an impossible name: annotated with its error, no change, passed */
	q->pending = r->index;
	q->dirty = true;
	return ra;
}

int loafre__paths_prune(struct loafre__paths *p, const char *mdt, uint64_t acked)
{
	sqlite3_stmt *st = p->st[S_ANN_PRUNE];
	struct pos *q;
	int e = pos_find(p, mdt, &q);

	if (e < 0)
		return e;
	e = txn_begin(p);
	if (e < 0)
		return e;
	sqlite3_bind_text(st, 1, mdt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)(acked > INT64_MAX ? INT64_MAX : acked));
	e = step_done(st);
	return e < 0 ? txn_fail(p, e) : 0;
}

int loafre__paths_set_root(struct loafre__paths *p, const struct loafre_fid *root)
{
	uint8_t b[LOAFRE_FID_SIZE];
	sqlite3_stmt *st = p->st[S_ROOT_PUT];
	int r;

	if (loafre_fid_is_zero(root))
		return -EINVAL;
	if (p->has_root)
		return loafre_fid_equal(&p->root, root) ? 0 : -EEXIST;
	r = txn_begin(p);
	if (r < 0)
		return r;
	fid_pack(root, b);
	sqlite3_bind_blob(st, 1, b, sizeof(b), SQLITE_TRANSIENT);
	r = step_done(st);
	if (r < 0)
		return txn_fail(p, r);
	p->root = *root;
	p->has_root = true;
	return 0;
}

int loafre__paths_get_root(struct loafre__paths *p, struct loafre_fid *ret)
{
	if (!p->has_root)
		return -ENOENT;
	*ret = p->root;
	return 0;
}

int loafre__paths_bulk_begin(struct loafre__paths *p)
{
	size_t i;
	int r = txn_begin(p);

	if (r < 0)
		return r;
	if (sqlite3_exec(p->db, "DELETE FROM dir; DELETE FROM position; DELETE FROM ann;", NULL,
			 NULL, NULL) !=
	    SQLITE_OK)
		return txn_fail(p, -EIO);
	cache_clear(p);
	for (i = 0; i < p->npos; i++) {
		p->pos[i].pending = 0;
		p->pos[i].dirty = false; /* the table is empty already */
	}
	return 0;
}

int loafre__paths_bulk_add(struct loafre__paths *p, const struct loafre_fid *fid,
			   const struct loafre_fid *parent, const char *name, size_t namelen)
{
	int r;

	if (loafre_fid_is_zero(fid) || loafre_fid_is_zero(parent) || is_root(p, fid) ||
	    !name_ok(name, namelen))
		return -EINVAL;
	r = txn_begin(p);
	if (r < 0)
		return r;
	return map_set(p, fid, parent, name, namelen);
}

int loafre__paths_bulk_end(struct loafre__paths *p, const char *mdt, uint64_t position)
{
	return loafre__paths_commit(p, mdt, position);
}

int loafre__paths_gc(struct loafre__paths *p, uint64_t *ret_removed)
{
	sqlite3_stmt *scan = NULL;
	struct loafre_fid *bad = NULL;
	uint64_t removed = 0;
	size_t nbad, i;
	int r, rc;

	r = txn_begin(p);
	if (r < 0)
		return r;
	bad = malloc(GC_CHUNK * sizeof(*bad));
	if (!bad) {
		r = -ENOMEM;
		goto out;
	}
	rc = sqlite3_prepare_v2(p->db, "SELECT fid FROM dir", -1, &scan, NULL);
	if (rc != SQLITE_OK) {
		r = txn_fail(p, sq_err(rc));
		goto out;
	}
	do {
		nbad = 0;
		while (nbad < GC_CHUNK && (rc = sqlite3_step(scan)) == SQLITE_ROW) {
			struct loafre_fid f;

			r = fid_unpack(sqlite3_column_blob(scan, 0), sqlite3_column_bytes(scan, 0),
				       &f);
			if (r < 0) {
				r = txn_fail(p, r);
				goto out;
			}
			r = resolve(p, &f, p->out_path);
			if (r == -ENOENT || r == -ELOOP)
				bad[nbad++] = f;
			else if (r < 0 && r != -ENAMETOOLONG) {
				r = txn_fail(p, r);
				goto out;
			}
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			r = txn_fail(p, sq_err(rc));
			goto out;
		}
		sqlite3_reset(scan);
		for (i = 0; i < nbad; i++) {
			r = map_del(p, &bad[i]);
			if (r < 0)
				goto out;
		}
		removed += nbad;
	} while (nbad == GC_CHUNK);
	r = 0;
	if (ret_removed)
		*ret_removed = removed;
out:
	sqlite3_finalize(scan);
	free(bad);
	return r;
}

int loafre__paths_count(struct loafre__paths *p, uint64_t *ret)
{
	sqlite3_stmt *st = p->st[S_COUNT];
	int rc = sqlite3_step(st);
	int r = 0;

	if (rc == SQLITE_ROW)
		*ret = (uint64_t)sqlite3_column_int64(st, 0);
	else
		r = sq_err(rc);
	sqlite3_reset(st);
	return r;
}

int loafre__paths_set_cache_max(struct loafre__paths *p, size_t n)
{
	if (n == 0 || n > ((size_t)1 << 30))
		return -EINVAL;
	return cache_init(p, n);
}

/* ---- open, close ----------------------------------------------------------------- */

static int pragma_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sq_err(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

static int schema(sqlite3 *db, bool create)
{
	int64_t app = 0, ver = 0, ntab = 0;
	int r;

	r = pragma_int(db, "PRAGMA application_id", &app);
	if (r == 0)
		r = pragma_int(db, "PRAGMA user_version", &ver);
	if (r == 0)
		r = pragma_int(db, "SELECT count(*) FROM sqlite_master", &ntab);
	if (r < 0)
		return r;
	if (app == PATHS_APP_ID && ver == PATHS_VERSION)
		return 0;
	if (app != 0 || ver != 0 || ntab != 0)
		return -EPROTO;
	if (!create)
		return -EPROTO;
	if (sqlite3_exec(db,
			 "BEGIN IMMEDIATE;"
			 "CREATE TABLE dir(fid BLOB PRIMARY KEY, parent BLOB NOT NULL,"
			 " name BLOB NOT NULL) WITHOUT ROWID;"
			 "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
			 "CREATE TABLE position(mdt TEXT PRIMARY KEY, idx INTEGER NOT NULL)"
			 " WITHOUT ROWID;"
			 "CREATE TABLE ann(mdt TEXT NOT NULL, idx INTEGER NOT NULL,"
			 " rc INTEGER NOT NULL, flags INTEGER NOT NULL, path BLOB, spath BLOB,"
			 " PRIMARY KEY(mdt, idx)) WITHOUT ROWID;"
			 "PRAGMA application_id=1819242593; PRAGMA user_version=1;"
			 "COMMIT;",
			 NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	return 0;
}

int loafre__paths_open(const char *path, int flags, struct loafre__paths **ret)
{
	struct loafre__paths *p;
	bool create = flags & LOAFRE__PATHS_CREATE;
	struct stat stt;
	int rc, r, k;

	if (!path || (flags & ~LOAFRE__PATHS_CREATE))
		return -EINVAL;
	if (!create && stat(path, &stt) < 0)
		return -errno;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	loafre__sqlite_init();
	rc = sqlite3_open_v2(path, &p->db,
			     SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		r = p->db ? sq_err(rc) : -ENOMEM;
		goto fail;
	}
	sqlite3_busy_timeout(p->db, BUSY_MS);
	sqlite3_extended_result_codes(p->db, 1);
	r = schema(p->db, create);
	if (r < 0)
		goto fail;
	if (sqlite3_exec(p->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			 " PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;",
			 NULL, NULL, NULL) != SQLITE_OK) {
		r = -EIO;
		goto fail;
	}
	for (k = 0; k < S_NSTMT; k++) {
		rc = sqlite3_prepare_v3(p->db, stmt_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &p->st[k],
					NULL);
		if (rc != SQLITE_OK) {
			r = sq_err(rc);
			goto fail;
		}
	}
	r = cache_init(p, LOAFRE__PATHS_CACHE_DEFAULT);
	if (r < 0)
		goto fail;
	r = load_root(p);
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	loafre__paths_close(p);
	return r;
}

void loafre__paths_close(struct loafre__paths *p)
{
	int k;

	if (!p)
		return;
	if (p->in_txn && p->db)
		sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
	for (k = 0; k < S_NSTMT; k++)
		sqlite3_finalize(p->st[k]);
	sqlite3_close(p->db);
	cache_clear(p);
	free(p->buckets);
	free(p->pos);
	free(p);
}
