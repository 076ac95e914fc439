/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * localfs_internal.h — what localfs.c (reconciliation), localfs_fid.c
 * (handles and FIDs) and localfs_state.c (the recorded tree and its SQLite
 * persistence) share. Not installed.
 *
 * The recorded tree ("state") is an in-memory graph:
 *   objects  FID -> struct lfs_obj (type and attributes as last recorded)
 *   links    (parent FID, name) -> struct lfs_link -> child object
 * Every object keeps the list of its links (hard links), every directory
 * the list of its children. The state is exactly what a consumer replaying
 * the journal up to `journal_index` knows (plus attributes).
 */
#ifndef LOAFRE_LOCALFS_INTERNAL_H
#define LOAFRE_LOCALFS_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "localfs.h"

struct lfs_link;

struct lfs_obj {
	struct loafre_fid fid;    /* identity (derived from the file handle) */
	struct lfs_obj *hnext;    /* chain in the object hash */
	uint32_t mode;            /* st_mode: type and permission bits */
	uint32_t uid, gid;        /* owner */
	uint32_t nlink;           /* link count when last seen */
	uint64_t size;            /* bytes */
	int64_t mtime_ns;         /* content modification time */
	int64_t ctime_ns;         /* inode change time */
	uint64_t xattr_digest;    /* XXH3 of the sorted (name, value) pairs; 0: none */
	char *xattrs;             /* "name\0hash16\0..." per xattr, NULL if none */
	uint32_t xattrs_len;      /* bytes of xattrs */
	struct lfs_link *links;   /* this object's links (hard links), via lnext_obj */
	struct lfs_link *children; /* directories: entries, via lnext_dir */
	uint32_t nchildren;       /* directories: number of children */
	bool dirty;               /* changed since the last sync */
	bool on_dirty_list;       /* queued in lfs->dirty_objs */
	bool deleted;             /* gone: to be deleted from the database */
	bool written;             /* a write was seen and not yet closed (memory only) */
	bool unclosed;            /* written, yet nobody held it open for writing at
				   * the last flush: the CLOSE note, if any, is due
				   * by the next one; none: it was a truncate(2)
				   * (memory only; localfs.c, process_object) */
	bool ns_touched;          /* directories: a record naming it as parent was
				   * applied since its attributes were last compared
				   * (memory only; localfs.c, "directory mtimes") */
	bool removing;            /* directories: its entries are being moved out or
				   * removed (remove_entry; memory only) */
};

struct lfs_link {
	struct lfs_obj *parent;   /* directory holding the entry */
	struct lfs_obj *child;    /* object it names */
	struct lfs_link *hnext;   /* chain in the link hash */
	struct lfs_link *lnext_obj, *lprev_obj; /* in child->links */
	struct lfs_link *lnext_dir, *lprev_dir; /* in parent->children */
	uint16_t namelen;         /* bytes of name */
	char name[];              /* not NUL-terminated in spirit, but a NUL follows */
};

/* A temporary name in the recorded tree (a parked object, localfs.c). */
struct lfs_parked {
	struct loafre_fid dir;    /* directory holding the temporary name */
	uint16_t namelen;         /* bytes of name */
	char name[48];            /* ".loafre-swap-<oid hex>-<n>", NUL-terminated */
};

/* A pending change of a link row for the next sync. */
struct lfs_link_change {
	struct loafre_fid parent; /* entry's directory */
	struct loafre_fid child;  /* object (for inserts) */
	bool insert;              /* true: insert/replace; false: delete */
	uint16_t namelen;         /* bytes of name */
	char name[];              /* the entry name */
};

struct lfs_note_entry {
	struct loafre_fid dir;    /* directory of the entry */
	struct lfs_note_entry *hnext; /* chain in the note hash (dedup) */
	struct lfs_note_entry *next;  /* in the pending list */
	bool done;                /* reconciled in this flush */
	unsigned hints;           /* LOAFRE__LFS_* for the object at the entry */
	void *live;               /* its per-flush view (localfs.c), NULL before */
	uint16_t namelen;         /* bytes of name */
	char name[];              /* entry name, NUL-terminated */
};

struct lfs_note_obj {
	struct loafre_fid fid;    /* object */
	struct lfs_note_obj *hnext; /* chain (dedup) */
	struct lfs_note_obj *next;  /* in the pending list */
	unsigned hints;           /* LOAFRE__LFS_* OR'ed */
};

struct loafre__lfs {
	char *root;               /* absolute path of the tree */
	int root_fd;              /* O_PATH|O_DIRECTORY on root; mount fd for handles */
	int flags;                /* LOAFRE__LFS_READONLY ... */
	struct loafre_journal *journal; /* borrowed; NULL when read-only */
	sqlite3 *db;              /* persistent state */
	struct lfs_obj *rootobj;  /* the tree's root directory */

	/* the recorded tree */
	struct lfs_obj **objs;    /* hash buckets */
	size_t objs_mask;         /* buckets - 1 (power of two) */
	size_t nobjs;             /* objects */
	size_t ndirs;             /* directories among them */
	struct lfs_link **links;  /* hash buckets of (parent, name) */
	size_t links_mask;        /* buckets - 1 */
	size_t nlinks;            /* links */

	/* changes not yet persisted */
	struct lfs_obj **dirty_objs; /* objects to write or delete */
	size_t ndirty_objs, dirty_objs_cap;
	struct lfs_link_change **link_changes; /* link rows to write or delete */
	size_t nlink_changes, link_changes_cap;
	uint64_t journal_index;   /* the journal index the state reflects */

	/* pending notes */
	struct lfs_note_entry **note_entries_h; /* dedup hash */
	size_t note_entries_mask;
	struct lfs_note_entry *note_entries;    /* pending list head */
	struct lfs_note_entry **note_entries_tail;
	size_t nnote_entries;
	struct lfs_note_obj **note_objs_h;
	size_t note_objs_mask;
	struct lfs_note_obj *note_objs;
	struct lfs_note_obj **note_objs_tail;
	size_t nnote_objs;
	struct loafre_fid *note_dirs; /* directories to list */
	size_t nnote_dirs, note_dirs_cap;
	struct loafre_fid *recheck; /* objects to compare again at the next flush
				     * (lfs_obj.unclosed); emptied as each flush
				     * starts, at most one entry per object (an
				     * object is compared once a flush): bounded
				     * by the tree */
	size_t nrecheck, recheck_cap;
	struct lfs_parked *parked; /* temporary names objects were parked under
				    * (localfs.c: park): noted again by every
				    * flush until the object is placed or gone
				    * (no event names them: they never exist on
				    * disk); at most one per recorded link */
	size_t nparked, parked_cap;

	/* small cache of open directory descriptors, valid during a flush */
	struct { struct loafre_fid fid; int fd; } dirfds[32];
	unsigned ndirfds, dirfd_next;

	loafre__lfs_dir_cb dir_cb; /* directory entered/left the tree */
	void *dir_cb_ctx;
	uint64_t now;              /* cr_time for records of this flush */
	bool snapshot;             /* first scan: record the tree silently */
	int failed;                /* sticky -ENOMEM from bookkeeping; 0 if none */
	struct loafre__lfs_stats stats;
};

/* ---- localfs_fid.c ------------------------------------------------------ */
/* FID of a raw handle. */
int loafre__lfs_fid_from_handle(int type, const unsigned char *bytes, unsigned len,
				struct loafre_fid *ret_fid);
/* Rebuilds the handle of a FID made by the deterministic encodings;
 * -ENOENT for hashed FIDs (the caller falls back to the recorded path). */
int loafre__lfs_handle_from_fid(const struct loafre_fid *fid, struct file_handle *fh,
				unsigned cap);
/* FID (and optionally the stat) of dirfd/name without following a final
 * symlink; -ENOENT when there is no such entry. */
int loafre__lfs_lookup(int dirfd, const char *name, struct loafre_fid *ret_fid,
		       struct stat *ret_st);
/* Opens the object with O_PATH (or `oflags`); via its handle when the FID is
 * deterministic, else through its recorded path. -ESTALE / -ENOENT if gone. */
int loafre__lfs_open_fid(struct loafre__lfs *l, const struct loafre_fid *fid, int oflags);

/* ---- localfs_state.c ---------------------------------------------------- */
int loafre__lfs_state_init(struct loafre__lfs *l);
void loafre__lfs_state_free(struct loafre__lfs *l);
struct lfs_obj *loafre__lfs_obj_get(const struct loafre__lfs *l, const struct loafre_fid *fid);
struct lfs_obj *loafre__lfs_obj_add(struct loafre__lfs *l, const struct loafre_fid *fid,
				    const struct stat *st);
void loafre__lfs_obj_set_stat(struct loafre__lfs *l, struct lfs_obj *o, const struct stat *st);
/* Removes an object that has no links and no children. */
void loafre__lfs_obj_del(struct loafre__lfs *l, struct lfs_obj *o);
void loafre__lfs_obj_touch(struct loafre__lfs *l, struct lfs_obj *o);
struct lfs_link *loafre__lfs_link_get(const struct loafre__lfs *l, const struct loafre_fid *dir,
				      const char *name, size_t namelen);
struct lfs_link *loafre__lfs_link_add(struct loafre__lfs *l, struct lfs_obj *dir,
				      struct lfs_obj *child, const char *name, size_t namelen);
void loafre__lfs_link_del(struct loafre__lfs *l, struct lfs_link *k);
/* Path of an object relative to the root ("" for the root), via its first
 * link; -ENOENT if it is not connected to the root. */
int loafre__lfs_obj_relpath(const struct loafre__lfs *l, const struct lfs_obj *o, char *buf,
			    size_t cap);
/* Database: open/create, load everything, write the dirty set. */
int loafre__lfs_db_open(struct loafre__lfs *l, const char *path, bool readonly);
int loafre__lfs_db_load(struct loafre__lfs *l);
int loafre__lfs_db_sync(struct loafre__lfs *l);
int loafre__lfs_db_relpath(struct loafre__lfs *l, const struct loafre_fid *fid, char *buf,
			   size_t cap);

/* Hash of a FID, and of a directory entry (directory FID, name): the one
 * pair of hash functions every table of the engine uses. */
size_t loafre__lfs_fid_hash(const struct loafre_fid *f);
size_t loafre__lfs_entry_hash(const struct loafre_fid *dir, const char *name, size_t len);

static inline bool lfs_is_dir(const struct lfs_obj *o)
{
	return S_ISDIR(o->mode);
}

#endif
