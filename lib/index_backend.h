/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_backend.h — what a metadata-index backend implements (internal,
 * private to lib/index_store.c and the backends: lib/index_sqlite.c, later
 * lib/index_pg.c).
 *
 * Split of the work.
 *   lib/index_store.c (above this vtable) owns every rule of the model in
 *   lib/index_store.h, so that all backends give identical answers:
 *   argument checks, the primary-link rule, hard links, directory moves and
 *   the cycle check, subtree deletion, the rollup arithmetic (pending
 *   deltas propagated at commit), transaction state (a failed mutation
 *   poisons the transaction), read-only refusal, the path/resolve/links/
 *   multilinks queries and the consistency checker (loafre__idx_check).
 *   A backend is storage: rows addressed by ids it assigns, a few indexed
 *   lookups, and the fast queries (select, names, reports) that need its
 *   own indexes.
 *
 * Storage model a backend keeps (its file's head comment gives the layout):
 *   entry   id (> 0, assigned by the backend, stable for the entry's life;
 *           an id may be reused after the entry is deleted) → FID (unique),
 *           attributes, mdt, jobid, and its PRIMARY link (parent id, name),
 *           or none (parent 0: an orphan, or the root), and nxlinks, the
 *           number of its other links (maintained by xlink_insert/_delete
 *           and entry_delete).
 *   xlink   xid (> 0) → (parent id, name, child id): a link that is not its
 *           child's primary one. xids grow: among the xlinks of one child,
 *           a smaller xid is an older link (the store relies on it for the
 *           primary-link rule: xlinks() lists them oldest first).
 *           (parent, name) is unique over primary links and xlinks taken
 *           together (index_store.c checks before it inserts).
 *   dirsum  id of a directory → stored rollup (blocks, bytes, inodes);
 *           a missing row reads as zeros. Only index_store.c writes them
 *           (dirsum_add, dirsum_delete) — and entry_delete drops the
 *           entry's.
 *   quota   FID of a directory → limits, `over`; dropped by entry_delete,
 *           kept by clear (a rescan finds the directories again).
 *   root FID, changelog positions per MDT name, and the caller's meta
 *           values (key → text; kept by clear).
 *
 * The primary-link rule, as index_store.c applies it (a backend that
 * answers queries by itself must follow it): an entry's primary link is the
 * oldest link the store knows for it. A link added to an entry with no link
 * becomes its primary link; a link added to an entry that has one becomes
 * an xlink. When the primary link is removed, the oldest xlink (smallest
 * xid) is deleted and its (parent, name) becomes the primary link.
 * A directory never has an xlink.
 *
 * Rollup invariant (what dirsum holds once index_store.c has flushed, i.e.
 * at every commit): for each directory D,
 *   dirsum(D) = Σ over every entry X such that D is X itself (X a directory)
 *               or an ancestor of X's primary link, following primary links
 *               upwards from X's primary parent (directories have one link),
 *               of (X.blocks, X.size, 1).
 * Every inode is counted once, at its primary link; orphans (no link) and
 * entries below an orphan directory count in that directory's rollup only.
 * "Linked entries" for the reports (owners, totals, size_profile, oldest)
 * are the entries with a primary link, plus the root entry.
 *
 * Conventions for every op: 0 (or a documented positive value) or a
 * negative errno as in index_store.h (-ENOENT for a missing row, -EIO for a
 * backend failure with errmsg() set, -EBUSY for a lock held beyond the busy
 * timeout, -ENOMEM). Ops that take a callback return the first non-zero
 * value a callback returns, stopping there. Callbacks may call QUERY ops of
 * the same backend handle (they nest: a backend must not reuse a statement
 * or cursor that is still being iterated), never mutating ops.
 * Strings handed out are borrowed: valid during the callback, or (row
 * fetches with `strings`) until the next op on the handle.
 * index_store.c calls mutating ops only between begin and commit/rollback;
 * query ops may run inside a write transaction (they must see its changes)
 * or inside read_begin/read_end (one consistent snapshot), never bare.
 */
#ifndef LOAFRE_INDEX_BACKEND_H
#define LOAFRE_INDEX_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index_store.h"

#define LOAFRE__IDX_NAME_MAX 255      /* bytes of a link name (NAME_MAX) */
#define LOAFRE__IDX_JOBID_MAX 255     /* bytes of a jobid */
#define LOAFRE__IDX_SYMLINK_MAX 4095  /* bytes of a symlink target */
#define LOAFRE__IDX_MDTNAME_MAX 127   /* bytes of an MDT name in positions */
#define LOAFRE__IDX_DEPTH_MAX 4096    /* directory levels walked before -ELOOP */
#define LOAFRE__IDX_KEY_MAX 64        /* bytes of a meta key */
#define LOAFRE__IDX_VALUE_MAX 4096    /* bytes of a meta value */

/* An entry row as the store's logic needs it. */
struct loafre__idx_row {
	int64_t id;                 /* the backend's id of the entry (> 0) */
	struct loafre__idx_entry e; /* FID, attributes, mdt; e.jobid and e.a.symlink
	                             * are NULL unless the fetch asked for strings
	                             * (then borrowed: valid until the next op) */
	int64_t parent;             /* directory id of the primary link; 0: no link */
	uint32_t nxlinks;           /* number of links besides the primary one */
	uint16_t namelen;           /* bytes of name */
	char name[LOAFRE__IDX_NAME_MAX + 1]; /* the primary link's name, NUL-terminated;
	                                      * "" when parent is 0 */
};

/* A link that is not its child's primary one. */
struct loafre__idx_xlink {
	int64_t xid;                /* its id: smaller is older among one child's */
	int64_t parent;             /* directory id */
	int64_t child;              /* entry id */
	const char *name;           /* borrowed (during the callback) */
};

/* A rollup change for one directory (signed). */
struct loafre__idx_delta {
	int64_t id;                 /* directory id */
	int64_t blocks, bytes, inodes; /* added to its dirsum row (created if missing) */
	struct loafre_fid fid;      /* the directory's FID when the store knows it (a
				     * backend may then create the row without reading
				     * the entry), else all zero */
};

/* A new entry of entry_insert_many (every pointer borrowed for the call). */
#define LOAFRE__IDX_INSERT_MANY_MAX 32
struct loafre__idx_newrow {
	int64_t id;                 /* its id, chosen by the store */
	const struct loafre_fid *fid; /* its FID (absent from the store) */
	const struct loafre__idx_attr *a; /* its attributes (a->symlink stored) */
	uint32_t mdt;               /* its MDT index */
	int64_t parent;             /* primary link: directory id, or 0 for none */
	const char *name;           /* ... and name (NULL when parent is 0) */
	const char *jobid;          /* its jobid, or NULL */
};

typedef int (*loafre__idx_row_fn)(void *ctx, const struct loafre__idx_row *row);
typedef int (*loafre__idx_xlink_fn)(void *ctx, const struct loafre__idx_xlink *l);
/* A child link of a directory: the child's row (strings as asked) and the
 * link's xid (0: it is the child's primary link). */
typedef int (*loafre__idx_childrow_fn)(void *ctx, const char *name, const struct loafre__idx_row *row,
				       int64_t xid);

struct loafre__idx_ops {
	const char *name;           /* "sqlite", "postgresql" */

	/* ---- handle and transactions ---- */
	/* flags: LOAFRE__IDX_READONLY / _CREATE. A store of another format is
	 * -EPROTO (untouched); a missing one without _CREATE -ENOENT. err gets
	 * a one-line reason on failure. */
	int (*open)(const char *where, const char *fsname, int flags, void **ret_be, char *err,
		    size_t errlen);
	void (*close)(void *be);                         /* NULL ok */
	const char *(*errmsg)(void *be);                 /* "" if none */
	void (*set_busy_timeout)(void *be, unsigned ms); /* lock waits, then -EBUSY */
	int (*begin)(void *be);     /* write transaction; takes the write lock now */
	int (*commit)(void *be);    /* on failure the transaction is rolled back */
	int (*rollback)(void *be);
	int (*read_begin)(void *be); /* one snapshot for the queries until read_end */
	void (*read_end)(void *be);

	/* ---- meta ---- */
	int (*root_get)(void *be, struct loafre_fid *ret);        /* -ENOENT if unset */
	int (*root_set)(void *be, const struct loafre_fid *root);
	int (*position_get)(void *be, const char *mdt, uint64_t *ret); /* -ENOENT if unset */
	int (*position_set)(void *be, const char *mdt, uint64_t index);
	/* Entries, links, rollups, root and positions go; meta values and
	 * quotas stay. */
	int (*clear)(void *be);
	int (*meta_get)(void *be, const char *key, char *buf, size_t cap); /* -ENOENT, -ENAMETOOLONG */
	int (*meta_set)(void *be, const char *key, const char *value);     /* NULL: remove */

	/* ---- entries ---- */
	int (*entry_by_fid)(void *be, const struct loafre_fid *fid, bool strings,
			    struct loafre__idx_row *ret);
	int (*entry_by_id)(void *be, int64_t id, bool strings, struct loafre__idx_row *ret);
	/* New entry (the FID must be absent: -EEXIST otherwise, nothing
	 * written), its primary link (parent, name) or none (parent 0, name
	 * NULL), its jobid or NULL, nxlinks 0. a->symlink is stored. */
	int (*entry_insert)(void *be, const struct loafre_fid *fid, const struct loafre__idx_attr *a,
			    uint32_t mdt, int64_t parent, const char *name, const char *jobid,
			    int64_t *ret_id);
	int (*entry_update)(void *be, int64_t id, const struct loafre_fid *fid,
			    const struct loafre__idx_attr *a, uint32_t mdt); /* fid: the entry's */
	int (*entry_set_jobid)(void *be, int64_t id, const char *jobid); /* NULL: none */
	/* Sets (parent, name) or clears (0, NULL) the primary link. */
	int (*entry_set_link)(void *be, int64_t id, int64_t parent, const char *name);
	/* Deletes the entry, all its xlinks, its dirsum and quota rows. Links
	 * FROM it (its children, if a directory) are the caller's business. */
	int (*entry_delete)(void *be, int64_t id);

	/* ---- links ---- */
	/* (parent, name) → child id and xid (0: the child's primary link). */
	int (*link_get)(void *be, int64_t parent, const char *name, int64_t *ret_child,
			int64_t *ret_xid);
	/* Optional (NULL: false). true: until the transaction ends or this
	 * handle writes an xlink, entry_insert with a link, and
	 * entry_set_link, whose (parent, name) some other link already has
	 * fail with -EEXIST, having written nothing and leaving the
	 * transaction usable, so the store need not look a new entry's name
	 * (or a renamed file's new name) up first (SQLite: a UNIQUE
	 * entry_link and no xlink rows). */
	bool (*insert_checks_link)(void *be);
	int (*xlinks)(void *be, int64_t child, loafre__idx_xlink_fn cb, void *ctx); /* oldest first */
	int (*xlink_insert)(void *be, int64_t parent, const char *name, int64_t child); /* nxlinks++ */
	int (*xlink_delete)(void *be, int64_t xid);                                  /* nxlinks-- */
	/* Every link in directory `dir`, in bytewise name order (primary links
	 * and xlinks merged). */
	int (*children)(void *be, int64_t dir, bool strings, loafre__idx_childrow_fn cb, void *ctx);

	/* ---- rollups ---- */
	int (*dirsum_get)(void *be, int64_t dir, struct loafre__idx_sum *ret); /* zeros if no row */
	int (*dirsum_add)(void *be, const struct loafre__idx_delta *d, size_t n);
	int (*dirsum_delete)(void *be, int64_t dir);            /* no row: 0 */

	/* ---- full scans (the checker) ---- */
	int (*scan_entries)(void *be, loafre__idx_row_fn cb, void *ctx);     /* no strings, any order */
	int (*scan_xlinks)(void *be, loafre__idx_xlink_fn cb, void *ctx);    /* by child, then xid */
	int (*scan_dirsums)(void *be, int (*cb)(void *ctx, int64_t id, const struct loafre__idx_sum *s),
			    void *ctx);
	/* Backend-private structures (SQLite: the name chunks) against the
	 * tables, and what the backend's indexes alone can tell (no two
	 * entries with one FID, no two links with one (parent, name)); 0, or
	 * -EBADMSG with a one-line reason in err. */
	int (*check)(void *be, char *err, size_t errlen);

	/* ---- queries (public semantics: index_store.h) ---- */
	int (*select)(void *be, const struct loafre__idx_filter *f, loafre__idx_link_fn cb, void *ctx);
	int (*names)(void *be, const char *needle, bool icase, loafre__idx_link_fn cb, void *ctx);
	int (*dirs)(void *be, loafre__idx_dir_fn cb, void *ctx); /* NULL: -EOPNOTSUPP */
	int (*owners)(void *be, char by, size_t limit,
		      int (*cb)(void *ctx, const struct loafre__idx_owner_sum *s), void *ctx);
	int (*top_dirs)(void *be, size_t limit,
			int (*cb)(void *ctx, const struct loafre_fid *dir, const struct loafre__idx_sum *s),
			void *ctx);
	int (*size_profile)(void *be, uint32_t uid, uint64_t counts[64], uint64_t bytes[64]);
	int (*oldest)(void *be, char field, uint32_t uid, size_t limit,
		      int (*cb)(void *ctx, const struct loafre__idx_entry *e), void *ctx);
	int (*totals)(void *be, struct loafre__idx_owner_sum *ret);
	int (*size)(void *be, uint64_t *ret_bytes, uint64_t *ret_entries);

	/* ---- quotas, by directory FID ---- */
	int (*quota_set)(void *be, const struct loafre__idx_quota *q);
	int (*quota_remove)(void *be, const struct loafre_fid *dir);       /* -ENOENT if none */
	int (*quota_list)(void *be, int (*cb)(void *ctx, const struct loafre__idx_quota *q), void *ctx);
	int (*quota_mark)(void *be, const struct loafre_fid *dir, bool over); /* -ENOENT if none */

	/* ---- optional (NULL: not provided; index_store.c then does without) ---- */
	/* Called right after begin: *ret = false only when no other handle
	 * committed a change to the store since this handle's previous
	 * changed() call (the first call: true). index_store.c keeps entry
	 * rows in memory across transactions while this says false; NULL
	 * (or true) drops them at every begin. SQLite: PRAGMA data_version. */
	int (*changed)(void *be, bool *ret);
	/* As entry_update, given `old`: the attributes and mdt the entry has
	 * now, exactly as stored (index_store.c knows them from its reads and
	 * writes; old->symlink is not given: NULL). A backend may leave alone
	 * what did not change (SQLite: the entry_us index when uid and size
	 * are the same). */
	int (*entry_update_from)(void *be, int64_t id, const struct loafre_fid *fid,
				 const struct loafre__idx_attr *a, uint32_t mdt,
				 const struct loafre__idx_attr *old, uint32_t old_mdt);
	/* A bulk load starts / ends (loafre__idx_bulk_*; inside a write
	 * transaction): a backend may stop maintaining an index that no op of
	 * the store's logic reads (SQLite: entry_us) and build it at
	 * bulk_end. A load may be abandoned (rollback, clear, a crash):
	 * clear, and open for writing, must then bring the index back. */
	int (*bulk_begin)(void *be);
	int (*bulk_end)(void *be);
	/* The largest f_oid among the entries whose FID has f_seq = seq
	 * (-ENOENT: none). index_store.c then takes a FID above it for new
	 * without entry_by_fid. */
	int (*seq_max)(void *be, uint64_t seq, uint32_t *ret_oid);
	/* As entry_delete, given what the entry is now, exactly as stored
	 * (index_store.c knows it from its row cache): its FID, mode and
	 * nxlinks. A backend need not read the row first (SQLite: one
	 * statement less per deletion). No such entry: nothing, 0. */
	int (*entry_delete_known)(void *be, int64_t id, const struct loafre_fid *fid,
				  uint32_t mode, uint32_t nxlinks);
	/* New entries whose ids the store chose (above entry_max_id, read in
	 * the same transaction), in order, as entry_insert each. *ret_done:
	 * the rows inserted (the first ones). -EEXIST: row *ret_done was
	 * refused, its id or (parent, name) taken (insert_checks_link), and
	 * neither it nor a later row is written (the transaction stays
	 * usable). 1 <= n <= LOAFRE__IDX_INSERT_MANY_MAX. Both NULL:
	 * entry_insert only (index_store.c then inserts one entry at a time). */
	int (*entry_insert_many)(void *be, const struct loafre__idx_newrow *rows, size_t n,
				 size_t *ret_done);
	int (*entry_max_id)(void *be, int64_t *ret); /* 0: no entries */
	/* The name search's base (SQLite: lib/index_sqlite.c, NAME BASE),
	 * inside a write transaction: rebuilt when missing or when at least
	 * dirty_pct % of it is stale (0: always); 1 if rebuilt, 0 if not.
	 * NULL: the backend searches names without one. */
	int (*names_base)(void *be, unsigned dirty_pct);
};

extern const struct loafre__idx_ops loafre__idx_sqlite_ops;

/* Helpers shared by the backends (index_store.c). */

/* The inode number a FID suggests: f_oid for loafre's local FIDs of the
 * first form (f_seq >= 2^41, f_ver 0; lib/localfs_fid.c), else Lustre's
 * fid_flatten() (IGIF: f_seq; normal: seq << 24 + (seq >> 24 &
 * 0xffffff0000) + oid, or oid when that is 0). Backends may store st_ino as
 * the difference to it (0 for nearly every entry). */
uint64_t loafre__idx_fid_ino(const struct loafre_fid *fid);

/* Bit of a mode in a type mask: 1u << ((mode & S_IFMT) >> 12). */
static inline uint32_t loafre__idx_type_bit(uint32_t mode)
{
	return 1u << ((mode & 0170000u) >> 12);
}

/* The literal a name must contain for an fnmatch(3) glob (flags 0) to
 * match it, for a search in NUL-separated names: `buf` receives the bytes
 * to look for, with a NUL in front when the literal starts the name and a
 * NUL after it when it ends the name (a glob without wildcards: both).
 * Returns its length, or 0 when the glob has no usable literal (then every
 * name is a candidate). Every candidate must still pass fnmatch. */
size_t loafre__idx_glob_literal(const char *glob, char *buf, size_t cap);

#endif
