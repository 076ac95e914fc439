/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * localfs_state.c — the recorded tree of an emulated MDT, in memory and in
 * SQLite.
 *
 * Database (one file per filesystem, JOURNAL/localfs.db, WAL mode):
 *   meta(key TEXT PRIMARY KEY, value)
 *       'version' = 1
 *       'root'    = root directory FID (16-byte blob, as below)
 *       'journal_index' = last journal index whose effects the tables hold
 *   obj(fid BLOB PRIMARY KEY, mode, uid, gid, nlink, size, mtime, ctime,
 *       xattrs BLOB)            one row per object (mtime/ctime in ns)
 *   link(parent BLOB, name BLOB, child BLOB, PRIMARY KEY(parent, name))
 *       one row per directory entry; index link_child(child)
 * A FID blob is 16 bytes: f_seq, f_oid, f_ver little-endian.
 * xattrs: for each extended attribute, its name, a NUL, and the 8-byte
 * little-endian XXH3 of its value; names sorted; NULL when none.
 *
 * Write protocol: changes accumulate in memory (dirty objects, an ordered
 * log of link inserts/deletes) and loafre__lfs_db_sync writes them in one
 * transaction together with 'journal_index'. It runs after the journal
 * commit that holds the records describing those changes, so the database
 * is never ahead of the journal; when it is behind (a crash in between),
 * lfs_open replays the newer journal records (localfs.c).
 * synchronous=NORMAL: a power loss may lose the last transactions, which
 * the same replay restores.
 */
#include "localfs_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "sqlite_init.h"
#include "util.h"

size_t loafre__lfs_fid_hash(const struct loafre_fid *f)
{
	uint64_t h = f->f_seq * 0x9E3779B97F4A7C15ull ^ ((uint64_t)f->f_oid << 1) ^
		     ((uint64_t)f->f_ver << 33);
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	return (size_t)h;
}

size_t loafre__lfs_entry_hash(const struct loafre_fid *dir, const char *name, size_t len)
{
	return (size_t)XXH3_64bits_withSeed(name, len, loafre__lfs_fid_hash(dir));
}

static int grow(void ***tab, size_t *mask, size_t n, size_t (*h)(const void *),
		void *(*next)(void *), void (*set_next)(void *, void *))
{
	size_t nb = (*mask + 1) * 2, i;
	void **nt;

	if (n <= *mask + 1)
		return 0;
	nt = calloc(nb, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (i = 0; i <= *mask; i++) {
		void *e = (*tab)[i];
		while (e) {
			void *nx = next(e);
			size_t b = h(e) & (nb - 1);
			set_next(e, nt[b]);
			nt[b] = e;
			e = nx;
		}
	}
	free(*tab);
	*tab = nt;
	*mask = nb - 1;
	return 0;
}

static size_t obj_h(const void *e) { return loafre__lfs_fid_hash(&((const struct lfs_obj *)e)->fid); }
static void *obj_next(void *e) { return ((struct lfs_obj *)e)->hnext; }
static void obj_set_next(void *e, void *n) { ((struct lfs_obj *)e)->hnext = n; }
static size_t link_h(const void *e)
{
	const struct lfs_link *k = e;
	return loafre__lfs_entry_hash(&k->parent->fid, k->name, k->namelen);
}
static void *link_next(void *e) { return ((struct lfs_link *)e)->hnext; }
static void link_set_next(void *e, void *n) { ((struct lfs_link *)e)->hnext = n; }

/* Forgets the logged link changes (persisted, or just loaded). */
static void link_changes_drop(struct loafre__lfs *l)
{
	for (size_t i = 0; i < l->nlink_changes; i++)
		free(l->link_changes[i]);
	l->nlink_changes = 0;
}

int loafre__lfs_state_init(struct loafre__lfs *l)
{
	l->objs_mask = 1023;
	l->links_mask = 1023;
	l->objs = calloc(l->objs_mask + 1, sizeof(*l->objs));
	l->links = calloc(l->links_mask + 1, sizeof(*l->links));
	if (!l->objs || !l->links)
		return -ENOMEM;
	return 0;
}

void loafre__lfs_state_free(struct loafre__lfs *l)
{
	size_t i;

	if (l->links)
		for (i = 0; i <= l->links_mask; i++)
			for (struct lfs_link *k = l->links[i], *n; k; k = n) {
				n = k->hnext;
				free(k);
			}
	/* Deleted objects are only on the dirty list (no longer hashed):
	 * free them before the hashed ones, whose memory the list also
	 * points to. */
	for (i = 0; i < l->ndirty_objs; i++)
		if (l->dirty_objs[i]->deleted) {
			free(l->dirty_objs[i]->xattrs);
			free(l->dirty_objs[i]);
		}
	if (l->objs)
		for (i = 0; i <= l->objs_mask; i++)
			for (struct lfs_obj *o = l->objs[i], *n; o; o = n) {
				n = o->hnext;
				free(o->xattrs);
				free(o);
			}
	link_changes_drop(l);
	free(l->links);
	free(l->objs);
	free(l->dirty_objs);
	free(l->link_changes);
	l->links = NULL;
	l->objs = NULL;
}

struct lfs_obj *loafre__lfs_obj_get(const struct loafre__lfs *l, const struct loafre_fid *fid)
{
	for (struct lfs_obj *o = l->objs[loafre__lfs_fid_hash(fid) & l->objs_mask]; o; o = o->hnext)
		if (loafre_fid_equal(&o->fid, fid))
			return o;
	return NULL;
}

void loafre__lfs_obj_touch(struct loafre__lfs *l, struct lfs_obj *o)
{
	o->dirty = true;
	if (o->on_dirty_list)
		return;
	if (l->ndirty_objs == l->dirty_objs_cap) {
		size_t cap = l->dirty_objs_cap ? l->dirty_objs_cap * 2 : 1024;
		void *p = realloc(l->dirty_objs, cap * sizeof(*l->dirty_objs));
		if (!p) {
			l->failed = -ENOMEM; /* reported by the next flush/sync */
			return;
		}
		l->dirty_objs = p;
		l->dirty_objs_cap = cap;
	}
	l->dirty_objs[l->ndirty_objs++] = o;
	o->on_dirty_list = true;
}

void loafre__lfs_obj_set_stat(struct loafre__lfs *l, struct lfs_obj *o, const struct stat *st)
{
	o->mode = st->st_mode;
	o->uid = st->st_uid;
	o->gid = st->st_gid;
	o->nlink = (uint32_t)st->st_nlink;
	o->size = (uint64_t)st->st_size;
	o->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	o->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	loafre__lfs_obj_touch(l, o);
}

struct lfs_obj *loafre__lfs_obj_add(struct loafre__lfs *l, const struct loafre_fid *fid,
				    const struct stat *st)
{
	struct lfs_obj *o = calloc(1, sizeof(*o));
	size_t b;

	if (!o)
		return NULL;
	o->fid = *fid;
	if (st)
		loafre__lfs_obj_set_stat(l, o, st);
	else
		loafre__lfs_obj_touch(l, o);
	b = loafre__lfs_fid_hash(fid) & l->objs_mask;
	o->hnext = l->objs[b];
	l->objs[b] = o;
	l->nobjs++;
	if (lfs_is_dir(o))
		l->ndirs++;
	if (grow((void ***)&l->objs, &l->objs_mask, l->nobjs, obj_h, obj_next, obj_set_next) < 0)
		return o; /* still correct, only slower */
	return o;
}

void loafre__lfs_obj_del(struct loafre__lfs *l, struct lfs_obj *o)
{
	struct lfs_obj **pp = &l->objs[loafre__lfs_fid_hash(&o->fid) & l->objs_mask];

	while (*pp && *pp != o)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = o->hnext;
	l->nobjs--;
	if (lfs_is_dir(o))
		l->ndirs--;
	o->deleted = true;
	/* Freed at the next sync, after its row is deleted. */
	loafre__lfs_obj_touch(l, o);
}

static int log_link_change(struct loafre__lfs *l, const struct lfs_link *k, bool insert)
{
	struct lfs_link_change *c = malloc(sizeof(*c) + k->namelen + 1);

	if (!c)
		return -ENOMEM;
	c->parent = k->parent->fid;
	c->child = k->child->fid;
	c->insert = insert;
	c->namelen = k->namelen;
	memcpy(c->name, k->name, k->namelen + 1);
	if (l->nlink_changes == l->link_changes_cap) {
		size_t cap = l->link_changes_cap ? l->link_changes_cap * 2 : 1024;
		void *p = realloc(l->link_changes, cap * sizeof(*l->link_changes));
		if (!p) {
			free(c);
			return -ENOMEM;
		}
		l->link_changes = p;
		l->link_changes_cap = cap;
	}
	l->link_changes[l->nlink_changes++] = c;
	return 0;
}

struct lfs_link *loafre__lfs_link_get(const struct loafre__lfs *l, const struct loafre_fid *dir,
				      const char *name, size_t namelen)
{
	for (struct lfs_link *k = l->links[loafre__lfs_entry_hash(dir, name, namelen) & l->links_mask]; k;
	     k = k->hnext)
		if (k->namelen == namelen && memcmp(k->name, name, namelen) == 0 &&
		    loafre_fid_equal(&k->parent->fid, dir))
			return k;
	return NULL;
}

struct lfs_link *loafre__lfs_link_add(struct loafre__lfs *l, struct lfs_obj *dir,
				      struct lfs_obj *child, const char *name, size_t namelen)
{
	struct lfs_link *k = malloc(sizeof(*k) + namelen + 1);
	size_t b;

	if (!k)
		return NULL;
	k->parent = dir;
	k->child = child;
	k->namelen = (uint16_t)namelen;
	memcpy(k->name, name, namelen);
	k->name[namelen] = '\0';
	b = loafre__lfs_entry_hash(&dir->fid, name, namelen) & l->links_mask;
	k->hnext = l->links[b];
	l->links[b] = k;
	k->lprev_obj = NULL;
	k->lnext_obj = child->links;
	if (child->links)
		child->links->lprev_obj = k;
	child->links = k;
	k->lprev_dir = NULL;
	k->lnext_dir = dir->children;
	if (dir->children)
		dir->children->lprev_dir = k;
	dir->children = k;
	dir->nchildren++;
	l->nlinks++;
	if (log_link_change(l, k, true) < 0)
		l->failed = -ENOMEM;
	grow((void ***)&l->links, &l->links_mask, l->nlinks, link_h, link_next, link_set_next);
	return k;
}

void loafre__lfs_link_del(struct loafre__lfs *l, struct lfs_link *k)
{
	struct lfs_link **pp = &l->links[loafre__lfs_entry_hash(&k->parent->fid, k->name, k->namelen) & l->links_mask];

	while (*pp && *pp != k)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = k->hnext;
	if (k->lprev_obj)
		k->lprev_obj->lnext_obj = k->lnext_obj;
	else
		k->child->links = k->lnext_obj;
	if (k->lnext_obj)
		k->lnext_obj->lprev_obj = k->lprev_obj;
	if (k->lprev_dir)
		k->lprev_dir->lnext_dir = k->lnext_dir;
	else
		k->parent->children = k->lnext_dir;
	if (k->lnext_dir)
		k->lnext_dir->lprev_dir = k->lprev_dir;
	k->parent->nchildren--;
	l->nlinks--;
	if (log_link_change(l, k, false) < 0)
		l->failed = -ENOMEM;
	free(k);
}

int loafre__lfs_obj_relpath(const struct loafre__lfs *l, const struct lfs_obj *o, char *buf,
			    size_t cap)
{
	size_t pos = cap;
	unsigned depth = 0;

	if (cap == 0)
		return -ENOBUFS;
	buf[--pos] = '\0';
	while (o != l->rootobj) {
		const struct lfs_link *k = o->links;

		if (!k || ++depth > 4096)
			return -ENOENT;
		if (pos < (size_t)k->namelen + 1)
			return -ENAMETOOLONG;
		pos -= k->namelen;
		memcpy(buf + pos, k->name, k->namelen);
		if (k->parent != l->rootobj)
			buf[--pos] = '/';
		o = k->parent;
	}
	memmove(buf, buf + pos, cap - pos);
	return 0;
}

/* ---- SQLite ---------------------------------------------------------------- */

static void fid_blob(const struct loafre_fid *f, unsigned char b[16])
{
	loafre__put64(b, f->f_seq);
	loafre__put32(b + 8, f->f_oid);
	loafre__put32(b + 12, f->f_ver);
}

static int blob_fid(const void *p, int n, struct loafre_fid *f)
{
	const unsigned char *b = p;

	if (!b || n != 16)
		return -EBADMSG;
	f->f_seq = loafre__le64(b);
	f->f_oid = loafre__le32(b + 8);
	f->f_ver = loafre__le32(b + 12);
	return 0;
}

static int sql_err(sqlite3 *db)
{
	switch (sqlite3_errcode(db)) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	default:
		return -EIO;
	}
}

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);"
	"CREATE TABLE IF NOT EXISTS obj(fid BLOB PRIMARY KEY, mode INTEGER, uid INTEGER,"
	" gid INTEGER, nlink INTEGER, size INTEGER, mtime INTEGER, ctime INTEGER,"
	" xattrs BLOB) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS link(parent BLOB, name BLOB, child BLOB,"
	" PRIMARY KEY(parent, name)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS link_child ON link(child);"
	"INSERT OR IGNORE INTO meta VALUES('version', 1);";

int loafre__lfs_db_open(struct loafre__lfs *l, const char *path, bool readonly)
{
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int r;

	loafre__sqlite_init();
	if (sqlite3_open_v2(path, &l->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		r = l->db ? sql_err(l->db) : -ENOMEM;
		sqlite3_close(l->db);
		l->db = NULL;
		return r;
	}
	sqlite3_busy_timeout(l->db, 5000);
	if (readonly)
		return 0;
	if (sqlite3_exec(l->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			 "PRAGMA cache_size=-65536;",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(l->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		return sql_err(l->db);
	return 0;
}

static int meta_get_blob(sqlite3 *db, const char *key, struct loafre_fid *ret, uint64_t *ret_int)
{
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
		return sql_err(db);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (ret)
			r = blob_fid(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), ret);
		else {
			*ret_int = (uint64_t)sqlite3_column_int64(st, 0);
			r = 0;
		}
	}
	sqlite3_finalize(st);
	return r;
}

/* Loads the whole state into memory. Returns 1 when the database holds a
 * tree for this root, 0 when it is empty or belonged to another root (then
 * it is emptied: the next scan is a first scan). */
int loafre__lfs_db_load(struct loafre__lfs *l)
{
	sqlite3_stmt *st = NULL;
	struct loafre_fid root;
	int r;

	r = meta_get_blob(l->db, "root", &root, NULL);
	if (r == -ENOENT || (r == 0 && !loafre_fid_equal(&root, &l->rootobj->fid))) {
		unsigned char b[16];

		if (sqlite3_exec(l->db, "BEGIN; DELETE FROM obj; DELETE FROM link;"
				 "DELETE FROM meta WHERE key = 'journal_index';", NULL, NULL, NULL) != SQLITE_OK)
			goto sqlfail;
		fid_blob(&l->rootobj->fid, b);
		if (sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO meta VALUES('root', ?)", -1, &st,
				       NULL) != SQLITE_OK)
			goto sqlfail;
		sqlite3_bind_blob(st, 1, b, 16, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto sqlfail;
		sqlite3_finalize(st);
		st = NULL;
		if (sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			goto sqlfail;
		return 0;
	}
	if (r < 0)
		return r;
	if (meta_get_blob(l->db, "journal_index", NULL, &l->journal_index) < 0)
		l->journal_index = 0;

	if (sqlite3_prepare_v2(l->db,
			       "SELECT fid, mode, uid, gid, nlink, size, mtime, ctime, xattrs FROM obj",
			       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct loafre_fid f;
		struct lfs_obj *o;
		int xl;

		if (blob_fid(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), &f) < 0)
			continue;
		o = loafre__lfs_obj_get(l, &f);
		if (!o) {
			o = loafre__lfs_obj_add(l, &f, NULL);
			if (!o) {
				r = -ENOMEM;
				goto out;
			}
		}
		if (lfs_is_dir(o))
			l->ndirs--;
		o->mode = (uint32_t)sqlite3_column_int64(st, 1);
		if (lfs_is_dir(o))
			l->ndirs++;
		o->uid = (uint32_t)sqlite3_column_int64(st, 2);
		o->gid = (uint32_t)sqlite3_column_int64(st, 3);
		o->nlink = (uint32_t)sqlite3_column_int64(st, 4);
		o->size = (uint64_t)sqlite3_column_int64(st, 5);
		o->mtime_ns = sqlite3_column_int64(st, 6);
		o->ctime_ns = sqlite3_column_int64(st, 7);
		xl = sqlite3_column_bytes(st, 8);
		if (xl > 0) {
			o->xattrs = malloc((size_t)xl);
			if (!o->xattrs) {
				r = -ENOMEM;
				goto out;
			}
			memcpy(o->xattrs, sqlite3_column_blob(st, 8), (size_t)xl);
			o->xattrs_len = (uint32_t)xl;
		}
	}
	if (r != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_prepare_v2(l->db, "SELECT parent, name, child FROM link", -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct loafre_fid pf, cf;
		struct lfs_obj *p, *c;

		if (blob_fid(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), &pf) < 0 ||
		    blob_fid(sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2), &cf) < 0)
			continue;
		p = loafre__lfs_obj_get(l, &pf);
		c = loafre__lfs_obj_get(l, &cf);
		if (!p || !c)
			continue;
		if (!loafre__lfs_link_add(l, p, c, sqlite3_column_blob(st, 1),
					  (size_t)sqlite3_column_bytes(st, 1))) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (r != SQLITE_DONE)
		goto sqlfail;
	/* What was just loaded is not dirty. */
	for (size_t i = 0; i < l->ndirty_objs; i++)
		l->dirty_objs[i]->dirty = l->dirty_objs[i]->on_dirty_list = false;
	l->ndirty_objs = 0;
	link_changes_drop(l);
	r = 1;
	goto out;
sqlfail:
	r = sql_err(l->db);
	sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(st);
	return r;
}

int loafre__lfs_db_sync(struct loafre__lfs *l)
{
	sqlite3_stmt *ins = NULL, *del = NULL, *lins = NULL, *ldel = NULL, *meta = NULL;
	unsigned char b[16], c[16];
	size_t i;
	int r;

	if (sqlite3_exec(l->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return sql_err(l->db);
	if (sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO obj VALUES(?,?,?,?,?,?,?,?,?)", -1,
			       &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(l->db, "DELETE FROM obj WHERE fid = ?", -1, &del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO link VALUES(?,?,?)", -1, &lins, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(l->db, "DELETE FROM link WHERE parent = ? AND name = ?", -1, &ldel,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO meta VALUES('journal_index', ?)", -1,
			       &meta, NULL) != SQLITE_OK)
		goto sqlfail;
	for (i = 0; i < l->ndirty_objs; i++) {
		struct lfs_obj *o = l->dirty_objs[i];

		fid_blob(&o->fid, b);
		if (o->deleted) {
			sqlite3_bind_blob(del, 1, b, 16, SQLITE_STATIC);
			if (sqlite3_step(del) != SQLITE_DONE)
				goto sqlfail;
			sqlite3_reset(del);
			continue;
		}
		sqlite3_bind_blob(ins, 1, b, 16, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, o->mode);
		sqlite3_bind_int64(ins, 3, o->uid);
		sqlite3_bind_int64(ins, 4, o->gid);
		sqlite3_bind_int64(ins, 5, o->nlink);
		sqlite3_bind_int64(ins, 6, (sqlite3_int64)o->size);
		sqlite3_bind_int64(ins, 7, o->mtime_ns);
		sqlite3_bind_int64(ins, 8, o->ctime_ns);
		if (o->xattrs_len)
			sqlite3_bind_blob(ins, 9, o->xattrs, (int)o->xattrs_len, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 9);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto sqlfail;
		sqlite3_reset(ins);
	}
	for (i = 0; i < l->nlink_changes; i++) {
		struct lfs_link_change *k = l->link_changes[i];
		sqlite3_stmt *s = k->insert ? lins : ldel;

		fid_blob(&k->parent, b);
		sqlite3_bind_blob(s, 1, b, 16, SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, k->name, k->namelen, SQLITE_STATIC);
		if (k->insert) {
			fid_blob(&k->child, c);
			sqlite3_bind_blob(s, 3, c, 16, SQLITE_STATIC);
		}
		if (sqlite3_step(s) != SQLITE_DONE)
			goto sqlfail;
		sqlite3_reset(s);
	}
	sqlite3_bind_int64(meta, 1, (sqlite3_int64)l->journal_index);
	if (sqlite3_step(meta) != SQLITE_DONE)
		goto sqlfail;
	if (sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto sqlfail;
	for (i = 0; i < l->ndirty_objs; i++) {
		struct lfs_obj *o = l->dirty_objs[i];

		if (o->deleted) {
			free(o->xattrs);
			free(o);
			continue;
		}
		o->dirty = o->on_dirty_list = false;
	}
	l->ndirty_objs = 0;
	link_changes_drop(l);
	r = 0;
	goto out;
sqlfail:
	r = sql_err(l->db);
	sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(del);
	sqlite3_finalize(lins);
	sqlite3_finalize(ldel);
	sqlite3_finalize(meta);
	return r;
}

int loafre__lfs_db_relpath(struct loafre__lfs *l, const struct loafre_fid *fid, char *buf,
			   size_t cap)
{
	sqlite3_stmt *st = NULL;
	struct loafre_fid cur = *fid, root;
	size_t pos = cap;
	unsigned depth = 0;
	int r;

	r = meta_get_blob(l->db, "root", &root, NULL);
	if (r < 0)
		return r;
	if (sqlite3_prepare_v2(l->db, "SELECT parent, name FROM link WHERE child = ? LIMIT 1", -1,
			       &st, NULL) != SQLITE_OK)
		return sql_err(l->db);
	buf[--pos] = '\0';
	while (!loafre_fid_equal(&cur, &root)) {
		unsigned char b[16];
		int n;

		if (++depth > 4096) {
			r = -ELOOP;
			goto out;
		}
		fid_blob(&cur, b);
		sqlite3_bind_blob(st, 1, b, 16, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW) {
			r = -ENOENT;
			goto out;
		}
		n = sqlite3_column_bytes(st, 1);
		if (pos < (size_t)n + 2) {
			r = -ENAMETOOLONG;
			goto out;
		}
		pos -= (size_t)n;
		memcpy(buf + pos, sqlite3_column_blob(st, 1), (size_t)n);
		if (blob_fid(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), &cur) < 0) {
			r = -EBADMSG;
			goto out;
		}
		if (!loafre_fid_equal(&cur, &root))
			buf[--pos] = '/';
		sqlite3_reset(st);
	}
	memmove(buf, buf + pos, cap - pos);
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}
