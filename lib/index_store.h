/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_store.h — the metadata index's database (internal; issue 5,
 * docs/index.md). One store holds one filesystem: every entry (object) by
 * FID, every link (parent FID, name) → child FID, and per directory the
 * rollup of its subtree (disk blocks, apparent bytes, inodes) kept
 * incrementally, so `du -s` of any directory is one row read.
 *
 * Backends: SQLite (embedded default: one file, WAL) and PostgreSQL (a
 * conninfo string). Same API, same answers; the schema and its byte layout
 * are specified at the head of each backend's file (lib/index_sqlite.c,
 * lib/index_pg.c).
 *
 * Model:
 *   - entry: FID → attributes (struct loafre__idx_attr), last jobid, MDT
 *     index. The root directory is an entry with no link; its FID is set
 *     once (loafre__idx_set_root).
 *   - link: (parent FID, name) → child FID. An entry may have several links
 *     (hard links); a directory has exactly one (except the root: none).
 *   - rollup of directory D: over every entry reachable from D through
 *     links (D included), each inode counted ONCE, at its primary link: the
 *     oldest link the store knows for it (the first one added; when it is
 *     removed, the next oldest). Sums: blocks (512-byte units, as st_blocks),
 *     bytes (st_size), inodes (count). Updated on every mutation along the
 *     chain of ancestors (O(depth)).
 *   - positions: per MDT, the last changelog index applied, written in the
 *     same transaction as the changes (an applier skips records at or
 *     below it: the broker delivers at least once).
 *
 * Mutations are grouped in transactions (begin … commit). A transaction
 * that fails is rolled back whole; nothing is half-applied. The caller acks
 * records only after commit returned 0.
 *
 * Errors: 0 or a negative errno: -ENOENT (no such entry/link), -EEXIST,
 * -ENOTDIR, -EINVAL (bad argument; also a mutation outside a transaction),
 * -EBUSY (database locked beyond the busy timeout), -EIO (backend failure:
 * loafre__idx_errmsg has the backend's text), -ENOMEM, -EROFS (a mutation
 * or begin on a LOAFRE__IDX_READONLY store), -EDEADLK (a mutation, begin,
 * commit or rollback from inside a query callback), -ENOTEMPTY (upsert
 * turning a directory with children into a non-directory), -ELOOP (a
 * corrupt tree: a cycle or more than 4096 levels). Constructors write *ret
 * only on success.
 *
 * A mutation checks its arguments and the tree before it writes: such an
 * error (-ENOENT, -EEXIST, -EINVAL, -ENOTDIR, -ENOTEMPTY) leaves the
 * transaction usable. An error after it started writing (-EIO, -ENOMEM,
 * -EBUSY, -ELOOP) poisons the transaction: every later mutation returns
 * that error and commit rolls back and returns it.
 *
 * Limits: names 1-255 bytes without '/' (not "." or ".."), jobid 255
 * bytes, symlink target 4095 bytes, MDT names 127 bytes (-EINVAL beyond).
 *
 * Memory: a handle that writes keeps up to 2^18 entry rows in memory (the
 * row cache of lib/index_store.c, about 44 MB when full) and, with SQLite,
 * up to 256 MiB of database pages (readers: 64 MiB).
 *
 * Ownership: a store is owned by its opener (loafre__idx_close; NULL ok).
 * Strings passed in are copied; strings handed to callbacks are valid only
 * during the callback; strings in a struct loafre__idx_entry returned by
 * loafre__idx_lookup are valid until the next call on the store. Not
 * thread-safe: one thread per store handle (open several handles for
 * concurrent readers; SQLite WAL and PostgreSQL allow readers during a
 * writer's transaction). A query callback may call queries on the same
 * handle (they nest: a recursive walk with loafre__idx_children works),
 * never mutations (-EDEADLK). Queries inside a write transaction see its
 * changes; outside, each query reads one consistent snapshot.
 */
#ifndef LOAFRE_INDEX_STORE_H
#define LOAFRE_INDEX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/record.h"

struct loafre__idx;

enum loafre__idx_backend {
	LOAFRE__IDX_SQLITE = 0,
	LOAFRE__IDX_POSTGRESQL = 1,
};

#define LOAFRE__IDX_READONLY 0x1 /* queries only; never creates the database */
#define LOAFRE__IDX_CREATE 0x2   /* create the database/schema if missing */

/* Attributes of an entry, as statx gives them. */
struct loafre__idx_attr {
	uint32_t mode;       /* st_mode, file type bits included */
	uint32_t uid, gid;
	uint64_t size;       /* st_size (apparent bytes) */
	uint64_t blocks;     /* st_blocks: 512-byte units */
	uint64_t nlink;
	uint64_t ino;        /* st_ino (printed by find -ls / %i) */
	uint64_t dev;        /* st_dev (find %D) */
	int64_t atime_ns, mtime_ns, ctime_ns; /* since the epoch, nanoseconds */
	const char *symlink; /* the target of a symlink (NUL-terminated), else NULL
			      * (ignored by upsert for another type) */
};

/* An entry as a query returns it. Strings borrowed (see ownership). */
struct loafre__idx_entry {
	struct loafre_fid fid;
	struct loafre__idx_attr a;
	const char *jobid;   /* last jobid seen in a record, or NULL */
	uint32_t mdt;        /* MDT index the entry lives on */
};

/* A directory's rollup. */
struct loafre__idx_sum {
	uint64_t blocks;     /* Σ st_blocks over the subtree (inode counted once) */
	uint64_t bytes;      /* Σ st_size */
	uint64_t inodes;     /* number of inodes */
};

/* A link and its entry, handed to query callbacks. */
typedef int (*loafre__idx_link_fn)(void *ctx, const struct loafre_fid *parent, const char *name,
				   const struct loafre__idx_entry *e);

/* ---- open, close, transactions -------------------------------------------- */

/* Opens (LOAFRE__IDX_CREATE: creates) the store at `where`: a file path
 * (SQLite) or a conninfo (PostgreSQL, e.g. "host=/run/postgresql
 * dbname=loafre"; one PostgreSQL database may hold several filesystems'
 * stores: `fsname` names the schema, "loafre_FSNAME"). On failure returns
 * -errno and writes a one-line reason in err. A store of another format
 * version is refused (-EPROTO) and never modified. */
int loafre__idx_open(enum loafre__idx_backend backend, const char *where, const char *fsname,
		     int flags, struct loafre__idx **ret, char *err, size_t errlen);
void loafre__idx_close(struct loafre__idx *x);

/* How long an operation waits for another handle's lock before -EBUSY
 * (default 5000 ms; begin takes the write lock). */
void loafre__idx_set_busy_timeout(struct loafre__idx *x, unsigned ms);

/* The backend's text for the last -EIO ("" if none). Borrowed. */
const char *loafre__idx_errmsg(const struct loafre__idx *x);

/* Opens a write transaction and takes the write lock (one writer at a
 * time; -EBUSY after the busy timeout). Not nested (-EINVAL). */
int loafre__idx_begin(struct loafre__idx *x);
/* Writes the pending rollups and commits; on failure everything since
 * begin is rolled back and the error returned. */
int loafre__idx_commit(struct loafre__idx *x);
int loafre__idx_rollback(struct loafre__idx *x); /* no-op outside a transaction */

/* ---- mutations (inside a transaction) --------------------------------------- */

/* The root directory of the filesystem (once; the same FID again is a
 * no-op, another FID -EEXIST). The root entry must be upserted too. */
int loafre__idx_set_root(struct loafre__idx *x, const struct loafre_fid *root);
int loafre__idx_get_root(struct loafre__idx *x, struct loafre_fid *ret);

/* Inserts or updates an entry's attributes (rollups of every directory
 * above each of its links adjusted by the differences). Attributes equal
 * to the stored ones write nothing. */
int loafre__idx_upsert(struct loafre__idx *x, const struct loafre_fid *fid,
		       const struct loafre__idx_attr *a, uint32_t mdt);
/* As upsert for an entry the store has; -ENOENT (nothing written, the
 * transaction usable) when it has not: a refresh without a lookup first. */
int loafre__idx_update(struct loafre__idx *x, const struct loafre_fid *fid,
		       const struct loafre__idx_attr *a, uint32_t mdt);
int loafre__idx_set_jobid(struct loafre__idx *x, const struct loafre_fid *fid, const char *jobid);

/* Adds the link (parent, name) → child; both entries must exist (-ENOENT)
 * and parent must be a directory (-ENOTDIR). An existing link of that
 * (parent, name) to another child is replaced (as rename(2) replaces its
 * target: the old child loses that link; it is NOT deleted even when that
 * was its last link — the caller decides). A directory child that already
 * has a link is moved (its old link removed): a directory has one link.
 * Moving a directory under itself is -EINVAL. Rollups move with it: a
 * directory rename costs O(depth), not O(subtree). */
int loafre__idx_link(struct loafre__idx *x, const struct loafre_fid *parent, const char *name,
		     const struct loafre_fid *child);
/* Removes the link (parent, name); -ENOENT if absent. The child entry stays
 * (an entry with no link is an orphan until deleted or linked again; it is
 * in no rollup and no query result). */
int loafre__idx_unlink(struct loafre__idx *x, const struct loafre_fid *parent, const char *name);
/* As unlink, only if the link (parent, name) leads to `child`: -ENOENT
 * (nothing changed) when there is no such link or it leads to another
 * entry (a name reused since: the newer state stays). */
int loafre__idx_unlink_if(struct loafre__idx *x, const struct loafre_fid *parent, const char *name,
			  const struct loafre_fid *child);
/* Deletes an entry, its links, and — for a directory — every entry below
 * it (an entry whose every link lies in the subtree), as a removed tree. */
int loafre__idx_delete(struct loafre__idx *x, const struct loafre_fid *fid);

/* Changelog position per MDT ("demo-MDT0000"), in the same transaction. */
int loafre__idx_set_position(struct loafre__idx *x, const char *mdt, uint64_t index);
/* 0 and *ret = 0 when never set. */
int loafre__idx_get_position(struct loafre__idx *x, const char *mdt, uint64_t *ret);

/* Empties the store (a rescan from scratch): entries, links, rollups and
 * positions. Keeps the schema, the meta values and the quotas (quotas name
 * directories by FID, which a rescan finds again). */
int loafre__idx_clear(struct loafre__idx *x);

/* ---- bulk load (loafre scan: a store emptied by loafre__idx_clear, then
 * every entry with its link) --------------------------------------------------
 *
 * bulk_begin (inside a transaction; -EINVAL when one is open already)
 * starts it; the load may span several transactions (commit and begin
 * again: it stays open). Until bulk_end, every mutation keeps its
 * semantics and errors, but the commits write no rollup: the changes are
 * kept in memory (one delta per directory touched) and written once by
 * bulk_end, merged. Meanwhile dirsum and top_dirs outside the load's
 * transaction answer stale sums and loafre__idx_check reports them (inside
 * it, a query reading rollups writes the pending ones first); the backend
 * may defer some of its indexes (SQLite: entry_us, built by bulk_end;
 * another handle's queries by owner and size fail meanwhile). New FIDs and
 * names cost no lookup during a load (Bloom filters of what the store
 * holds: 20 to 40 bits per entry). A rollback, a failed commit or clear
 * abandons the load: the store keeps what was committed, without those
 * rollups (an interrupted scan: clear and load again; opening the store
 * for writing builds a deferred index again). */
int loafre__idx_bulk_begin(struct loafre__idx *x);
/* upsert(fid, a, mdt), then link(parent, name, fid): the first error of
 * the two (the scan's step per entry; also outside a bulk load). */
int loafre__idx_bulk_add(struct loafre__idx *x, const struct loafre_fid *parent, const char *name,
			 const struct loafre_fid *fid, const struct loafre__idx_attr *a, uint32_t mdt);
int loafre__idx_bulk_end(struct loafre__idx *x);

/* Small named values kept with the store, e.g. "scan" = "done 1763771234"
 * (the indexer's record that the initial scan completed). Keys and values
 * are NUL-terminated text (key <= 64 bytes, value <= 4096). set: inside a
 * transaction; value NULL removes the key. get: -ENOENT if absent,
 * -ENAMETOOLONG if cap is too small. */
int loafre__idx_set_meta(struct loafre__idx *x, const char *key, const char *value);
int loafre__idx_get_meta(struct loafre__idx *x, const char *key, char *buf, size_t cap);

/* ---- queries ------------------------------------------------------------------ */

int loafre__idx_lookup(struct loafre__idx *x, const struct loafre_fid *fid,
		       struct loafre__idx_entry *ret);
/* 0 when the store has fid (*ret_mode, if not NULL: its st_mode), else
 * -ENOENT. Inside a write transaction usually answered from memory (the
 * row cache of lib/index_store.c), without the strings lookup copies. */
int loafre__idx_exists(struct loafre__idx *x, const struct loafre_fid *fid, uint32_t *ret_mode);
/* The child FID of (parent, name). */
int loafre__idx_lookup_name(struct loafre__idx *x, const struct loafre_fid *parent,
			    const char *name, struct loafre_fid *ret);
/* Resolves a path relative to the root ("" or "." is the root; "a/b/c"),
 * not following symlinks. */
int loafre__idx_resolve(struct loafre__idx *x, const char *relpath, struct loafre_fid *ret);
/* The path of fid relative to the root through its primary link ("" for
 * the root), NUL-terminated in buf. -ENOENT for an orphan or unknown FID,
 * -ENAMETOOLONG if cap is too small. */
int loafre__idx_path(struct loafre__idx *x, const struct loafre_fid *fid, char *buf, size_t cap);
/* Every link of fid: cb(ctx, parent, name) per link, primary first. */
int loafre__idx_links(struct loafre__idx *x, const struct loafre_fid *fid,
		      int (*cb)(void *ctx, const struct loafre_fid *parent, const char *name),
		      void *ctx);
/* Every directory with its primary link, in one pass (what paths of many
 * directories are built from): cb(ctx, id, parent, fid, name) per
 * directory, any order; id and parent are the backend's entry ids, valid
 * only to match directories to their parents within this call (parent 0:
 * no link, the root or an orphan). -EOPNOTSUPP when the backend cannot. */
typedef int (*loafre__idx_dir_fn)(void *ctx, int64_t id, int64_t parent,
				  const struct loafre_fid *fid, const char *name);
int loafre__idx_dirs(struct loafre__idx *x, loafre__idx_dir_fn cb, void *ctx);

/* Children of a directory, in name order (bytewise): cb(ctx, name, entry)
 * per link. A callback returning non-zero stops the listing and is
 * returned. */
typedef int (*loafre__idx_child_fn)(void *ctx, const char *name,
				    const struct loafre__idx_entry *e);
int loafre__idx_children(struct loafre__idx *x, const struct loafre_fid *dir,
			 loafre__idx_child_fn cb, void *ctx);

/* The rollup of a directory (one row). For a non-directory: its own
 * blocks/bytes/1. */
int loafre__idx_dirsum(struct loafre__idx *x, const struct loafre_fid *dir,
		       struct loafre__idx_sum *ret);

/* Inodes with more than one link, each with every link: the `du`
 * correction for an inode whose primary link lies outside the directory
 * asked about while another link lies inside. cb per (entry, parent,
 * name, primary?). */
int loafre__idx_multilinks(struct loafre__idx *x,
			   int (*cb)(void *ctx, const struct loafre__idx_entry *e,
				     const struct loafre_fid *parent, const char *name,
				     bool primary),
			   void *ctx);

/* Name search (locate): every link whose name contains `needle` (bytewise;
 * icase: ASCII case-insensitive), cb(ctx, parent, name, entry). Meant to be
 * fast on millions of names (docs/index.md says how). */
int loafre__idx_names(struct loafre__idx *x, const char *needle, bool icase,
		      loafre__idx_link_fn cb, void *ctx);

/* Inside a write transaction: brings the backend's name-search base up to
 * date (SQLite: trigram lists of the names, docs/index.md "locate") when
 * it is missing or at least dirty_pct % of it is stale (0: always).
 * Returns 1 if rebuilt, 0 if not needed (or the backend has none), or
 * -errno (the transaction is then poisoned). Answers are exact either
 * way; a fresh base only makes them faster. */
int loafre__idx_names_base(struct loafre__idx *x, unsigned dirty_pct);

/* Pre-filter for find: constraints every result must satisfy (a result
 * may still fail the full expression, which the caller evaluates). Zero
 * / NULL fields constrain nothing. */
struct loafre__idx_filter {
	uint32_t type_mask;      /* bit (1u << ((mode & S_IFMT) >> 12)) per allowed type; 0: any */
	bool has_uid;            /* uid must equal `uid` */
	uint32_t uid;
	bool has_gid;            /* gid must equal `gid` */
	uint32_t gid;
	uint64_t size_min;       /* size >= size_min */
	uint64_t size_max;       /* size <= size_max when non-zero */
	int64_t mtime_min, mtime_max; /* ns, inclusive, when non-zero */
	int64_t atime_min, atime_max;
	int64_t ctime_min, ctime_max;
	const char *name_glob;   /* the link name matches this fnmatch(3) pattern
				  * (flags 0; icase: FNM_CASEFOLD), NULL: any */
	bool name_icase;
};
/* Every link (parent, name → entry) whose name and entry pass the filter,
 * cb per link, in no particular order (the root, which has no link, is
 * never returned: the caller handles the start directory). The backend
 * uses its indexes: an exact name, a literal prefix or suffix of the
 * glob, uid/gid, size or time ranges (docs/index.md). A callback returning
 * non-zero stops the scan and is returned. */
int loafre__idx_select(struct loafre__idx *x, const struct loafre__idx_filter *f,
		       loafre__idx_link_fn cb, void *ctx);

/* Aggregates for reports, over every linked entry (inode counted once). */
struct loafre__idx_owner_sum {
	uint32_t id;         /* uid or gid */
	uint64_t blocks, bytes, inodes;
	uint64_t files, dirs, symlinks; /* inode counts per type (others in inodes) */
};
/* by = 'u' (uid) or 'g' (gid); the `limit` largest by blocks (0: all),
 * largest first. */
int loafre__idx_owners(struct loafre__idx *x, char by, size_t limit,
		       int (*cb)(void *ctx, const struct loafre__idx_owner_sum *s), void *ctx);
/* Directories by subtree blocks, largest first, `limit` of them. */
int loafre__idx_top_dirs(struct loafre__idx *x, size_t limit,
			 int (*cb)(void *ctx, const struct loafre_fid *dir,
				   const struct loafre__idx_sum *s),
			 void *ctx);
/* Regular files per size class: bucket k counts sizes in [2^(k-1), 2^k)
 * (bucket 0: empty files), k < 64. ret_counts[64], ret_bytes[64]. uid
 * filter: UINT32_MAX for everyone. */
int loafre__idx_size_profile(struct loafre__idx *x, uint32_t uid, uint64_t ret_counts[64],
			     uint64_t ret_bytes[64]);
/* Entries by a time field ('a', 'm' or 'c'), oldest first, `limit` of
 * them; uid filter as above. */
int loafre__idx_oldest(struct loafre__idx *x, char field, uint32_t uid, size_t limit,
		       int (*cb)(void *ctx, const struct loafre__idx_entry *e), void *ctx);
/* Totals of the whole filesystem (linked entries). */
int loafre__idx_totals(struct loafre__idx *x, struct loafre__idx_owner_sum *ret);

/* Consistency check (tests, `loafre index --check`): recomputes every
 * rollup from the entries and links and compares it with the stored one;
 * checks every link's ends, link counts, the absence of cycles, the root
 * having no link, and the backend's own structures (SQLite: the name
 * chunks). 0 when consistent; -EBADMSG with the first problem as one line
 * in err; another negative errno when it could not check. O(entries) time
 * and memory. */
int loafre__idx_check(struct loafre__idx *x, char *err, size_t errlen);

/* Bytes the store occupies (SQLite: file + WAL; PostgreSQL:
 * pg_total_relation_size of its tables) and the number of entries. */
int loafre__idx_size(struct loafre__idx *x, uint64_t *ret_bytes, uint64_t *ret_entries);

/* ---- directory quotas -------------------------------------------------------- */

struct loafre__idx_quota {
	struct loafre_fid dir;
	uint64_t bytes_limit;   /* 0: none (on st_blocks * 512, like du) */
	uint64_t inodes_limit;  /* 0: none */
	bool over;              /* last check found it over a limit */
};
int loafre__idx_quota_set(struct loafre__idx *x, const struct loafre__idx_quota *q);
int loafre__idx_quota_remove(struct loafre__idx *x, const struct loafre_fid *dir);
int loafre__idx_quota_list(struct loafre__idx *x,
			   int (*cb)(void *ctx, const struct loafre__idx_quota *q), void *ctx);
/* Records the result of a check (the `over` flag). */
int loafre__idx_quota_mark(struct loafre__idx *x, const struct loafre_fid *dir, bool over);

#endif
