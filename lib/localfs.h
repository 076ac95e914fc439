/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * localfs.h — the emulated MDT of a local filesystem (internal).
 *
 * A struct loafre__lfs keeps the state of one watched tree (every object's
 * FID, links and attributes, as of the journal's last record) and turns
 * "something happened here" notes into Lustre records appended to the
 * MDT's journal. It does not read kernel events itself: the watcher
 * (lib/watch_*.c) translates fanotify/inotify events into notes.
 *
 * Flow, per group-commit tick (loafred):
 *     watcher ─ note_entry / note_object / note_dir ─▶ lfs
 *     lfs_flush():  reconcile every note against the live tree and the
 *                   recorded state → records appended to the journal (and
 *                   applied to the in-memory state)
 *     loafre_journal_commit()
 *     lfs_sync():   persist the state with the journal's last index
 * Why this order: the state may never be ahead of the journal. If loafred
 * dies between commit and sync, the next open replays the journal records
 * the state lacks (lfs_open), so no record is emitted twice.
 *
 * FIDs: see lib/localfs_fid.c (derived from file handles, stable for the
 * object's life and across restarts).
 *
 * Ownership: lfs borrows the journal (which must outlive it and be open
 * with LOAFRE_JOURNAL_WRITE for a writer). Not thread-safe.
 */
#ifndef LOAFRE_LOCALFS_H
#define LOAFRE_LOCALFS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/journal.h"
#include "loafre/record.h"

struct loafre__lfs;
struct file_handle;

/* Open flags. */
#define LOAFRE__LFS_READONLY 0x1 /* fid2path/path2fid only: no journal, no writes */

struct loafre__lfs_stats {
	uint64_t notes;     /* notes received */
	uint64_t ignored;   /* notes about directories outside the tree */
	uint64_t records;   /* records appended */
	uint64_t rescans;   /* full reconciliations (start, overflow) */
	uint64_t objects;   /* objects in the state */
	uint64_t dirs;      /* directories in the state */
};

/* Opens the source of the tree at `root` (an existing directory), its state
 * kept in `state_path` (SQLite; created if missing). j may be NULL with
 * LOAFRE__LFS_READONLY. When the state lags the journal (a crash between
 * commit and sync), replays the journal's newer records into it. Does not
 * scan the tree: call loafre__lfs_rescan. */
int loafre__lfs_open(const char *root, const char *state_path, struct loafre_journal *j,
		     int flags, struct loafre__lfs **ret_lfs);
void loafre__lfs_close(struct loafre__lfs *l);

/* The tree's root directory: an O_PATH descriptor owned by lfs (also the
 * mount descriptor for open_by_handle_at), and its FID. */
int loafre__lfs_root_fd(const struct loafre__lfs *l);
const struct loafre_fid *loafre__lfs_root_fid(const struct loafre__lfs *l);

/* FID of a file handle from name_to_handle_at / fanotify. 0 or -errno. */
int loafre__lfs_handle_fid(struct loafre__lfs *l, const struct file_handle *fh,
			   struct loafre_fid *ret_fid);
/* Absolute path of the object with this FID (its first link, as the state
 * knows it; verified against the live tree). -ENOENT if unknown/gone. */
int loafre__lfs_fid2path(struct loafre__lfs *l, const struct loafre_fid *fid, char *buf,
			 size_t cap);
/* FID of a path inside the tree. -EXDEV if outside. */
int loafre__lfs_path2fid(struct loafre__lfs *l, const char *path, struct loafre_fid *ret_fid);

/* True if `dir` is a directory of the tree (cheap: a hash lookup). */
bool loafre__lfs_knows_dir(const struct loafre__lfs *l, const struct loafre_fid *dir);

/* Hints for note_object. */
#define LOAFRE__LFS_MODIFY 0x1      /* content written (FAN_MODIFY) */
#define LOAFRE__LFS_CLOSE_WRITE 0x2 /* closed after open for writing */
#define LOAFRE__LFS_ATTRIB 0x4      /* metadata changed (FAN_ATTRIB) */

/* Notes; all are reconciled at the next flush. An entry note says the
 * directory entry (dir, name) may have appeared, vanished or changed
 * object; an object note that the object's content or attributes may have
 * changed; a dir note that any entry of the directory may have changed
 * (inotify fallback, lost events). Notes about directories outside the tree
 * are dropped at flush, cheaply. uid/gid (or -1) are the credentials of the
 * process that caused the event, when the watcher knows them. */
int loafre__lfs_note_entry(struct loafre__lfs *l, const struct loafre_fid *dir, const char *name,
			   size_t namelen);
int loafre__lfs_note_object(struct loafre__lfs *l, const struct loafre_fid *fid, unsigned hints);
/* An event about the object at (dir, name) when its FID is not known
 * (inotify): the entry is reconciled and, if the same object is still
 * there, it is compared as note_object(hints) would. */
int loafre__lfs_note_child(struct loafre__lfs *l, const struct loafre_fid *dir, const char *name,
			   size_t namelen, unsigned hints);
int loafre__lfs_note_dir(struct loafre__lfs *l, const struct loafre_fid *dir);

/* Callback invoked at flush for every directory that enters the tree (so an
 * inode-mark or inotify watcher can watch it) or leaves it. */
typedef void (*loafre__lfs_dir_cb)(void *ctx, const struct loafre_fid *dir, int dirfd,
				   bool added);
void loafre__lfs_set_dir_cb(struct loafre__lfs *l, loafre__lfs_dir_cb cb, void *ctx);

/* Reconciles every pending note; appends records (not committed). Returns
 * the number of records appended or -errno. */
int loafre__lfs_flush(struct loafre__lfs *l);

/* Full reconciliation: walks the tree, compares it with the state and
 * appends records for every difference, in an order that replays to the
 * current tree (creations parent-first, removals child-first, renames of
 * known objects as RENME). On the very first run (empty state) it records
 * the tree silently: a snapshot, no records. Returns records appended. */
int loafre__lfs_rescan(struct loafre__lfs *l);

/* After the caller committed the journal: persists the state up to the
 * journal's last index. */
int loafre__lfs_sync(struct loafre__lfs *l);

void loafre__lfs_get_stats(const struct loafre__lfs *l, struct loafre__lfs_stats *ret);

#endif
