/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_paths.h — the map of a filesystem's DIRECTORIES as of a changelog
 * position (internal; docs/design/replication.md, decision 1). It annotates
 * each record with its paths as of that record (before the record is
 * applied), then applies the record to the map.
 *
 * Model: directory FID → (parent FID, name); the root FID (set once) has
 * no entry and the path "/". A directory's path is the names of its chain
 * of ancestors up to the root, each preceded by '/'. Files are not in the
 * map: a record names them by (parent, name).
 *
 * Record meanings (the same as lib/index_apply.c's table, restricted to
 * directories):
 *   MKDIR           set tfid → (pfid, name)
 *   RMDIR           delete tfid
 *   RENME           (CLF_RENAME) sfid a known directory: pfid known (the
 *                   root or in the map) → set sfid → (pfid, name), pfid
 *                   unknown (moved out of the mapped tree) → delete sfid.
 *                   tfid (the victim) a known directory: delete it (rename
 *                   over an empty directory)
 *   anything else   no change
 * A deleted directory's subtree is deleted lazily: entries whose chain of
 * ancestors is broken resolve as -ENOENT; loafre__paths_gc removes them.
 * Every change is a set or a delete by FID, so applying records in order
 * over a newer walk converges to the state after the last record.
 *
 * Replay rule: positions are stored per MDT in the same transaction as the
 * changes. loafre__paths_apply skips (returns 1) a record whose index is at
 * or below its MDT's position: the committed one, or the last record
 * applied in the open transaction. An initial sync takes the changelog
 * position P BEFORE walking, loads the walk (bulk_begin/bulk_add/bulk_end,
 * storing P), and the records after P are then applied over the walked
 * map: the walk is at least as new as P, and records between P and the
 * walk's time re-apply changes the walk already has (idempotent); in the
 * middle of such a replay the map may briefly hold a cycle (a move the
 * walk saw, replayed in an older order): resolving through it gives
 * -ELOOP, never a hang, and the following records undo it.
 *
 * Restart: the map runs ahead of the group's acked position (it is at
 * the read position), so after a restart records between the two are read
 * again while the map is past them; loafre__paths_next stores each
 * record's annotation with the map's changes and hands it back then, until
 * loafre__paths_prune (at the acked position) forgets it.
 *
 * Limits: a path (with its NUL) at most PATH_MAX bytes (-ENAMETOOLONG), a
 * chain of at most 4096 ancestors (-ELOOP: a cycle or corrupt data), names
 * 1-255 bytes without '/' or NUL, not "." or ".." (-EINVAL), MDT names
 * 1-127 bytes, at most 4096 MDTs per map. Memory: the cache holds at most
 * `cache_max` entries (default 65536, about 100 bytes plus the name each);
 * SQLite's page cache is 16 MiB.
 *
 * Transactions: every mutation opens a write transaction if none is open;
 * loafre__paths_commit ends it (with a position), loafre__paths_rollback
 * abandons it. An error from SQLite inside a transaction rolls it back
 * whole (the map is as of the last commit) and is returned. A mutation's
 * argument error (-EINVAL) leaves the transaction usable.
 *
 * Errors: 0 or a negative errno (-ENOMEM, -EINVAL, -EIO for SQLite
 * failures, -EBUSY when another handle holds the write lock beyond 5 s,
 * -EPROTO for a file of another format).
 *
 * Ownership: a map is owned by its opener (loafre__paths_close; NULL ok).
 * Records and FIDs passed in are copied. The strings of a struct
 * loafre__paths_ann are owned by the map and valid until the next call on
 * it. Not thread-safe: one thread per handle.
 */
#ifndef LOAFRE_REPL_PATHS_H
#define LOAFRE_REPL_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/record.h"

struct loafre__paths;

#define LOAFRE__PATHS_CREATE 0x1 /* create the file if missing */

#define LOAFRE__PATHS_DEPTH_MAX 4096   /* ancestors in a chain */
#define LOAFRE__PATHS_CACHE_DEFAULT 65536
#define LOAFRE__PATHS_MDT_MAX 4096     /* MDTs with a position */
#define LOAFRE__PATHS_MDT_NAME_MAX 127 /* bytes of an MDT name */

/* The paths of one record, as of that record. */
struct loafre__paths_ann {
	const char *path;  /* "/a/b": pfid's path + name; for a nameless record
			    * about a known directory (SATTR, CTIME, XATTR ...)
			    * tfid's path; NULL when none or not resolved */
	size_t pathlen;    /* strlen(path), 0 when NULL */
	const char *spath; /* RENME: spfid's path + sname (the name before);
			    * else NULL */
	size_t spathlen;   /* strlen(spath), 0 when NULL */
	bool is_dir;       /* the object (sfid for RENME, else tfid) is a
			    * directory: MKDIR, RMDIR, or known to the map */
	bool victim_dir;   /* RENME: tfid (the object renamed over) is a known
			    * directory */
};

/* Opens (LOAFRE__PATHS_CREATE: creates) the map in the SQLite file `path`.
 * -ENOENT without CREATE and no file; -EPROTO for another format (the file
 * is not modified). *ret written on success only. */
int loafre__paths_open(const char *path, int flags, struct loafre__paths **ret);
/* Closes; an open transaction is rolled back. NULL ok. */
void loafre__paths_close(struct loafre__paths *p);

/* Bounds the cache to `n` entries (>= 1; clears it). */
int loafre__paths_set_cache_max(struct loafre__paths *p, size_t n);

/* The root directory's FID: set once (the same again: no-op; another:
 * -EEXIST). Part of the open transaction. */
int loafre__paths_set_root(struct loafre__paths *p, const struct loafre_fid *root);
/* -ENOENT if none was set. */
int loafre__paths_get_root(struct loafre__paths *p, struct loafre_fid *ret);

/* Loading a walk: bulk_begin opens a transaction and empties the map (its
 * directories and every position; the root stays); bulk_add sets one
 * directory (any order: a child may come before its parent; also usable
 * outside a walk, to add a directory learnt otherwise); bulk_end commits
 * with the position P taken before the walk for `mdt` (NULL: none; others
 * with loafre__paths_set_position before). */
int loafre__paths_bulk_begin(struct loafre__paths *p);
int loafre__paths_bulk_add(struct loafre__paths *p, const struct loafre_fid *fid,
			   const struct loafre_fid *parent, const char *name, size_t namelen);
int loafre__paths_bulk_end(struct loafre__paths *p, const char *mdt, uint64_t position);

/* The paths of *r as of r, computed BEFORE it is applied. Returns 0 when
 * every path the record has was resolved (a record with none, e.g. MARK or
 * a file's CLOSE, gives 0 with NULL paths), else the first error, the
 * other path still filled: -ENOENT (a parent not in the map: outside the
 * mapped tree, not walked, or under a deleted directory), -ENAMETOOLONG,
 * -ELOOP, -EINVAL (an impossible name), -EIO. *out is written always. */
int loafre__paths_annotate(struct loafre__paths *p, const struct loafre_rec *r,
			   struct loafre__paths_ann *out);

/* Applies *r (see the head comment) in the open transaction (opened if
 * none). Returns 0 (applied, possibly no change), 1 (skipped: r->index at
 * or below mdt's position; mdt NULL: never skipped, no position advanced),
 * or a negative errno: -EINVAL for a change with
 * an impossible name (nothing changed, the transaction usable, the
 * position not advanced: the caller may skip the record), -EIO etc. No
 * cycle check: a replay over a newer walk may pass through one (above). */
int loafre__paths_apply(struct loafre__paths *p, const char *mdt, const struct loafre_rec *r);

/* What the broker calls for each record it reads (of MDT `mdt`, in index
 * order): above mdt's position, annotate + apply + store the annotation
 * (the ann table) in the open transaction (opened if none), returning
 * annotate's value (0, -ENOENT, -ENAMETOOLONG, -ELOOP, -EINVAL: the
 * record is passed either way; -EIO, -ENOMEM, -EBUSY: nothing done). At
 * or below the position (read again after a restart: the map is past it):
 * the stored annotation, the same as the first time, or -ENODATA when it
 * was pruned or the record is older than the walk. */
int loafre__paths_next(struct loafre__paths *p, const char *mdt, const struct loafre_rec *r,
		       struct loafre__paths_ann *out);
/* Forgets the stored annotations of mdt's records up to `acked` (the
 * group's acked position: they are never delivered again). In the open
 * transaction (opened if none). */
int loafre__paths_prune(struct loafre__paths *p, const char *mdt, uint64_t acked);

/* Sets mdt's position in the open transaction (opened if none). */
int loafre__paths_set_position(struct loafre__paths *p, const char *mdt, uint64_t position);
/* Commits the open transaction (opens one if none) with mdt's position
 * (mdt NULL: only the positions applied records advanced). */
int loafre__paths_commit(struct loafre__paths *p, const char *mdt, uint64_t position);
/* Abandons the open transaction (no-op without one). */
int loafre__paths_rollback(struct loafre__paths *p);
/* mdt's position: inside a transaction the one it will commit; 0 if none. */
int loafre__paths_get_position(struct loafre__paths *p, const char *mdt, uint64_t *ret);

/* Removes every entry whose chain of ancestors does not reach the root
 * (deleted subtrees, cycles); in the open transaction (opened if none).
 * *ret_removed (may be NULL) gets their number. */
int loafre__paths_gc(struct loafre__paths *p, uint64_t *ret_removed);

/* Number of directories in the map (root not counted), stale ones
 * included. */
int loafre__paths_count(struct loafre__paths *p, uint64_t *ret);

#endif
