/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_dest.h — replication destinations (issue 6): the operations a
 * replication worker performs on one destination, the initial sync of a
 * subtree and the tree comparison behind `loafre verify`. Internal (not
 * installed).
 *
 * Paths. Every `rel` argument is a path relative to the destination's root
 * (and, for what is read from the source, to the source root `src_root`, an
 * O_PATH or O_RDONLY directory descriptor of the caller's): no leading '/'
 * (-EINVAL), components separated by single '/', none empty or "."
 * (-EINVAL), none ".." (-EXDEV, whatever it would lead to), less than
 * PATH_MAX bytes. Directories are resolved with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)
 * (fallback on kernels without openat2: a component-by-component walk with
 * O_NOFOLLOW that refuses ".." and symlinks), and the last component is only
 * used with *at() calls that do not follow it. So a path leaving the root
 * ("../x", "a/../../x") fails with -EXDEV and a path through a symlink
 * (also one inside the destination) with -ELOOP: nothing outside the root
 * is ever touched, and symlinks at the destination are never followed.
 *
 * Operations return 0 or a negative errno. `why` (may be NULL) is a buffer
 * of LOAFRE__DEST_WHY_MAX bytes that receives, on failure, one line naming
 * the step and the path ("cannot rename 'a' to 'b': ..."), for `rule
 * status` and logs; it is left untouched on success. Operations on one
 * destination may run concurrently from several threads (different
 * paths); the statistics are atomic.
 *
 * Ownership: loafre__dest_open_local() returns a destination the caller
 * frees with loafre__dest_close(); the id maps in the options are copied
 * (their pairs; not their text).
 * A remote destination type implements struct loafre__dest_ops and
 * creates its destination with loafre__dest_new().
 */
#ifndef LOAFRE_REPL_DEST_H
#define LOAFRE_REPL_DEST_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loafre/config.h"

struct stat;

#define LOAFRE__DEST_WHY_MAX 512
/* Id maps: struct loafre_idmap (include/loafre/config.h), parsed with
 * loafre__idmap_parse and applied with loafre__idmap_map (lib/rule.h). */

/* ---- destinations ----------------------------------------------------------- */

enum loafre__dest_op {
	LOAFRE__DOP_COPY,     /* regular file data + attributes */
	LOAFRE__DOP_MKDIR,    /* directory (and missing parents) */
	LOAFRE__DOP_SYMLINK,  /* symbolic link */
	LOAFRE__DOP_MKNOD,    /* device, fifo, socket */
	LOAFRE__DOP_LINK,     /* hard link */
	LOAFRE__DOP_RENAME,   /* rename */
	LOAFRE__DOP_UNLINK,   /* non-directory removed */
	LOAFRE__DOP_RMDIR,    /* directory removed (with its remaining tree) */
	LOAFRE__DOP_SETATTR,  /* mode, owner, times, xattrs */
	LOAFRE__DOP_N
};

/* Name of an operation kind ("copy", "mkdir", ...). */
const char *loafre__dest_op_name(enum loafre__dest_op op);

/* A snapshot of a destination's counters. */
struct loafre__dest_stats {
	uint64_t done[LOAFRE__DOP_N];   /* operations that returned 0 */
	uint64_t failed[LOAFRE__DOP_N]; /* operations that returned an error */
	uint64_t bytes;                 /* file data bytes written */
	uint64_t retries;               /* copies restarted: the source changed */
};

/* Setattr mask. */
#define LOAFRE__ATTR_MODE 0x1   /* permission bits (and setuid/gid/sticky) */
#define LOAFRE__ATTR_OWNER 0x2  /* uid, gid (through the maps) */
#define LOAFRE__ATTR_TIMES 0x4  /* atime, mtime (ns) */
#define LOAFRE__ATTR_XATTR 0x8  /* xattrs: set what differs, remove what is absent */
#define LOAFRE__ATTR_ALL 0xf

struct loafre__dest_opts {
	const struct loafre_idmap *uid_map; /* NULL: identity; copied at open */
	const struct loafre_idmap *gid_map; /* NULL: identity; copied at open */
	unsigned copy_retries;  /* copies restarted when the source changes during
				 * one, before -EAGAIN (0: default 3) */
	bool fsync;             /* fsync a copied file before renaming it into place */
	bool no_parent_times;   /* do not reset a directory's times from the source
				 * after changing its entries (default: reset) */
	/* Deletions keep the destination entries this returns true for (the
	 * rule's excludes: "deletes honour excludes"); NULL: none kept. */
	bool (*protect)(void *arg, const char *rel, bool is_dir);
	void *protect_arg;      /* its argument */
	/* Tests only: called in copies once the data is in the temporary file,
	 * before the source is checked again and the file renamed into place. */
	void (*after_data)(void *arg, const char *rel);
	void *after_data_arg;   /* its argument */
};

struct loafre__dest;

/* What a destination type implements. Every function has the semantics of
 * the loafre__dest_* wrapper of the same name below (which counts it). */
struct loafre__dest_ops {
	const char *type;  /* "local", ... */
	int (*copy)(struct loafre__dest *d, int src_root, const char *rel, char *why);
	/* Optional (NULL: copy): see loafre__dest_update. */
	int (*update)(struct loafre__dest *d, int src_root, const char *rel, char *why);
	int (*mkdir)(struct loafre__dest *d, int src_root, const char *rel, char *why);
	int (*symlink)(struct loafre__dest *d, int src_root, const char *rel, char *why);
	int (*mknod)(struct loafre__dest *d, int src_root, const char *rel, char *why);
	int (*link)(struct loafre__dest *d, int src_root, const char *old_rel,
		    const char *new_rel, char *why);
	int (*rename)(struct loafre__dest *d, int src_root, const char *old_rel,
		      const char *new_rel, char *why);
	int (*unlink)(struct loafre__dest *d, int src_root, const char *rel, char *why);
	int (*rmdir)(struct loafre__dest *d, int src_root, const char *rel, char *why);
	int (*setattr)(struct loafre__dest *d, int src_root, const char *rel, unsigned mask,
		       char *why);
	/* Optional (NULL: -EOPNOTSUPP): see loafre__dest_setattr_from. */
	int (*setattr_from)(struct loafre__dest *d, int src_root, const char *src_rel,
			    const char *rel, unsigned mask, char *why);
	/* stat of the destination entry (not followed): 0, -ENOENT, ... */
	int (*lstat)(struct loafre__dest *d, const char *rel, struct stat *st);
	/* Calls fn for each name in destination directory rel ("" = the root),
	 * "." and ".." excluded; stops at fn's first non-zero return (returned). */
	int (*list)(struct loafre__dest *d, const char *rel,
		    int (*fn)(void *arg, const char *name), void *arg);
	/* Optional (NULL: list + lstat): the names with their lstat, in one
	 * listing; see loafre__dest_list_stat. */
	int (*list_stat)(struct loafre__dest *d, const char *rel,
			 int (*fn)(void *arg, const char *name, const struct stat *st),
			 void *arg);
	/* Optional (NULL: copies are never queued): see loafre__dest_batch_begin,
	 * loafre__dest_flush, loafre__dest_batch_end. */
	int (*batch_begin)(struct loafre__dest *d,
			   void (*failed)(void *arg, const char *rel, int err, const char *why),
			   void *arg);
	int (*flush)(struct loafre__dest *d, char *why);
	int (*batch_end)(struct loafre__dest *d, char *why);
	void (*close)(struct loafre__dest *d); /* frees priv */
};

struct loafre__dest {
	const struct loafre__dest_ops *ops; /* its type */
	void *priv;                         /* the type's state (ops->close frees it) */
	struct loafre__dest_opts o;         /* options (maps point into the two below) */
	struct loafre_idmap uid_map;       /* owned copy */
	struct loafre_idmap gid_map;       /* owned copy */
	_Atomic uint64_t done[LOAFRE__DOP_N];   /* operations that returned 0, per kind */
	_Atomic uint64_t failed[LOAFRE__DOP_N]; /* operations that failed, per kind */
	_Atomic uint64_t bytes;                 /* file data bytes written */
	_Atomic uint64_t retries;               /* copies restarted (source changed) */
};

/* Allocates a destination of type ops with opts (NULL: defaults). */
int loafre__dest_new(const struct loafre__dest_ops *ops, void *priv,
		     const struct loafre__dest_opts *opts, struct loafre__dest **ret);

/* A local destination: `root` an absolute path to an existing directory
 * (opened O_PATH|O_DIRECTORY; symlinks in `root` itself are followed, once,
 * at open). -EINVAL for a relative path, -ENOTDIR, -ENOENT... */
int loafre__dest_open_local(const char *root, const struct loafre__dest_opts *opts,
			    struct loafre__dest **ret);
/* A remote destination over SSH (lib/repl_ssh.c; docs/replication-destinations.md,
 * "Remote destinations"). */
struct loafre__ssh_spec {
	char user[65];       /* USER of USER@HOST, "" = ssh's default */
	char host[256];      /* HOST */
	char path[PATH_MAX]; /* absolute remote root, no trailing '/' */
};
/* Parses `[user@]host:/abs/path` (format in lib/repl_ssh.c): 0 or -EINVAL. */
int loafre__ssh_spec_parse(const char *spec, struct loafre__ssh_spec *ret);
struct loafre__ssh_opts {
	const char *control_dir;   /* private 0700 directory for the master's socket
				    * (absolute, at most 1024 bytes; when too long
				    * for ssh's socket path a short private one in
				    * /tmp is used); required */
	unsigned port;             /* ssh port, 0: ssh's default */
	const char *identity_file; /* ssh -i FILE, NULL: ssh's default */
	const char *known_hosts;   /* UserKnownHostsFile (then strict), NULL: default */
	unsigned connect_timeout_s; /* ConnectTimeout (0: 10) */
	unsigned timeout_ms;       /* per command, then its process group is killed
				    * (0: 600000) */
};
/* Opens `[user@]host:/path` (connects, starts the master, resolves the root
 * once): -EINVAL (bad spec or options), -EHOSTUNREACH (ssh failed; why gets
 * ssh's line), -ENOENT (no such directory), -ETIMEDOUT. why (may be NULL):
 * LOAFRE__DEST_WHY_MAX bytes. The strings of so are copied. */
int loafre__dest_open_ssh(const char *spec, const struct loafre__ssh_opts *so,
			  const struct loafre__dest_opts *opts, struct loafre__dest **ret,
			  char *why);
void loafre__dest_close(struct loafre__dest *d);
void loafre__dest_get_stats(struct loafre__dest *d, struct loafre__dest_stats *ret);

/* Copies the regular file `rel` of the source, as it is now, to `rel` at the
 * destination: temporary file (O_TMPFILE, else ".NAME.loafre.XXXXXX" in the
 * same directory), holes kept (SEEK_DATA/SEEK_HOLE), data with
 * copy_file_range where it works, then xattrs, owner, mode, times (ns), and
 * rename into place; missing parents are created (ensure_parents). The
 * entry at `rel` is replaced, whatever its type. -ENOENT: the source is
 * gone (nothing to copy); -EINVAL: it is not a regular file; -EAGAIN: it
 * kept changing during copy_retries+1 copies. The new file is a new inode
 * at `rel` only (whatever was there, another file's link included, is
 * replaced): when the source has other names (st_nlink > 1), the caller
 * links them to `rel` again (loafre__dest_link), as the initial sync does. */
int loafre__dest_copy(struct loafre__dest *d, int src_root, const char *rel, char *why);
/* The same as loafre__dest_copy, for a write to a file whose destination
 * entry at `rel` the caller knows to be that file's (a content change
 * applied to one of its names): when the source has several names
 * (st_nlink > 1) and the destination entry is a regular file with several
 * names, the file is updated IN PLACE: the data still goes to a temporary
 * first (the source read completely and consistently), then the
 * destination's inode is truncated and rewritten from it (holes kept) and
 * gets the attributes (xattrs made equal, owner, mode, times), so every
 * destination name of that inode follows and links stay links. Deviation
 * from temp + rename: a reader at the destination may see such a file
 * being rewritten (empty or partly written), as with rsync --inplace,
 * which the ssh type uses for it. Otherwise (one name on either side, or
 * the destination file cannot be opened for writing) as
 * loafre__dest_copy. Counted as a copy. */
int loafre__dest_update(struct loafre__dest *d, int src_root, const char *rel, char *why);
/* Creates directory `rel` (and missing parents) with the source's
 * attributes; an existing directory only gets them; another type there is
 * replaced. */
int loafre__dest_mkdir(struct loafre__dest *d, int src_root, const char *rel, char *why);
/* Symlink `rel` with the source's target, owner and times (temp + rename). */
int loafre__dest_symlink(struct loafre__dest *d, int src_root, const char *rel, char *why);
/* Device/fifo/socket `rel` as at the source (temp + rename). */
int loafre__dest_mknod(struct loafre__dest *d, int src_root, const char *rel, char *why);
/* Makes destination `new_rel` a hard link of destination `old_rel`: nothing
 * if it already is; an entry of another inode there is replaced (temp link
 * + rename). -ENOENT when old_rel is missing (the caller copies instead). */
int loafre__dest_link(struct loafre__dest *d, int src_root, const char *old_rel,
		      const char *new_rel, char *why);
/* Renames old_rel to new_rel (directories included); an entry at new_rel is
 * replaced, as rename(2) at the source did (a directory there of another
 * type or non-empty is removed first). -ENOENT when old_rel is missing (the
 * caller copies new_rel instead). */
int loafre__dest_rename(struct loafre__dest *d, int src_root, const char *old_rel,
			const char *new_rel, char *why);
/* Removes non-directory `rel` (a directory there is removed with its tree).
 * Already missing: 0. */
int loafre__dest_unlink(struct loafre__dest *d, int src_root, const char *rel, char *why);
/* Removes directory `rel` and whatever it still holds at the destination,
 * except protected entries (opts.protect; then -ENOTEMPTY). Missing: 0. */
int loafre__dest_rmdir(struct loafre__dest *d, int src_root, const char *rel, char *why);
/* Applies the source's current attributes selected by mask
 * (LOAFRE__ATTR_*) to `rel` ("" here: the root itself), in place (every
 * destination name of its inode sees them). -ENOENT if either side is missing. A type
 * that differs: the entry is made anew (loafre__dest_sync_entry). -EMLINK
 * (the ssh type, a regular file: it looks at the destination's entry
 * anyway): the destination's inode at rel has more names than the source's
 * file, so it may be another object's; nothing done. */
int loafre__dest_setattr(struct loafre__dest *d, int src_root, const char *rel, unsigned mask,
			 char *why);
/* loafre__dest_setattr of destination `rel` from the source's entry at
 * another path, src_rel: the same object, which the source has moved on
 * since (a directory above renamed, its rename still to come at the
 * destination). Neither may be "" (the root). -ENOENT if either side is
 * missing; -ESTALE if their types differ (nothing done); -EOPNOTSUPP: the
 * type cannot (an ssh destination, for xattrs, when the last components
 * differ). Counted as a SETATTR. */
int loafre__dest_setattr_from(struct loafre__dest *d, int src_root, const char *src_rel,
			      const char *rel, unsigned mask, char *why);
/* = loafre__dest_setattr(d, src_root, rel, LOAFRE__ATTR_ALL, why). */
int loafre__dest_sync_attrs(struct loafre__dest *d, int src_root, const char *rel, char *why);
/* Makes `rel` at the destination what it is at the source, by the source's
 * type: copy, mkdir, symlink or mknod. -ENOENT: gone at the source. */
int loafre__dest_sync_entry(struct loafre__dest *d, int src_root, const char *rel, char *why);
/* lstat of destination `rel` (beneath the root). */
int loafre__dest_lstat(struct loafre__dest *d, const char *rel, struct stat *st);
/* The names in destination directory `rel` ("" = the root): see ops->list. */
int loafre__dest_list(struct loafre__dest *d, const char *rel,
		      int (*fn)(void *arg, const char *name), void *arg);

/* Like loafre__dest_list, with each entry's lstat (st_dev is 0; a remote
 * type may leave st_rdev 0 except for devices and st_atim at 0). One
 * round trip for a remote type. */
int loafre__dest_list_stat(struct loafre__dest *d, const char *rel,
			   int (*fn)(void *arg, const char *name, const struct stat *st),
			   void *arg);

/* ---- batched copies ------------------------------------------------------------ */
/*
 * A destination that supports it (ssh) queues the copies of a thread in a
 * batch instead of making them at once, and transfers the queue with one
 * transfer (one rsync run: delta transfer, temporary names renamed into
 * place). A local destination ignores batches: begin, flush and end return
 * 0 and copies stay synchronous.
 *
 * loafre__dest_batch_begin(d, failed, arg): from now on, loafre__dest_copy
 * called by THIS thread on d (also through loafre__dest_sync_entry) checks
 * the source (-ENOENT, -EINVAL as usual), queues rel and returns 0; copies
 * by other threads are not affected. failed (may be NULL) is called for
 * each queued copy that the flush could not make (from the thread that
 * flushes, possibly another: it must be thread-safe and must not call
 * into d). src_root must stay open until the flush. -EBUSY when the
 * thread already has a batch on d, -ENOSPC when 64 threads have one.
 *
 * The CALLER must call loafre__dest_flush (or _batch_end) before it treats
 * its queued copies as done (before acknowledging the records behind them,
 * before comparing the trees): until then a queued copy may not have
 * happened. The destination flushes by itself: when a thread's queue holds
 * 4096 files or 256 MiB, and before any other operation on d (from any
 * thread) whose path conflicts with a queued copy (the same path, or one
 * a directory prefix of the other; lstat and list included), so operations
 * keep their order.
 *
 * loafre__dest_flush(d, why): transfers everything queued on d (every
 * thread's) and returns 0 when each of the calling thread's queued copies
 * was made (also those an earlier automatic or other thread's flush
 * transferred), else the first error with its line in why (the others
 * through `failed`). A source file that vanished before the transfer is
 * not an error (the record that removed it follows).
 * loafre__dest_batch_end(d, why): flush, then the thread's copies are
 * synchronous again; always ends the batch.
 */
int loafre__dest_batch_begin(struct loafre__dest *d,
			     void (*failed)(void *arg, const char *rel, int err, const char *why),
			     void *arg);
int loafre__dest_flush(struct loafre__dest *d, char *why);
int loafre__dest_batch_end(struct loafre__dest *d, char *why);

/* Checks a relative path (the rules in the head comment): 0 or -EINVAL. */
int loafre__rel_check(const char *rel);

/* Opens directory `rel` beneath `root` ("" = root itself) O_PATH|O_DIRECTORY
 * with the rules in the head comment: the fd, or -EXDEV (escapes), -ELOOP
 * (through a symlink), -ENOENT, -ENOTDIR... */
int loafre__repl_open_dir(int root, const char *rel, size_t len);
/* Opens the directory holding `rel` (O_PATH) and points *ret_name at rel's
 * last component: the fd or -errno. */
int loafre__repl_open_parent(int root, const char *rel, const char **ret_name);
/* Set by the threads of loafre__dest_sync_tree while they run: their
 * operations leave the parent directories' times alone (the sync sets every
 * directory's times at its end). */
extern _Thread_local bool loafre__repl_tl_sync;
/* Tests only: resolve without openat2 (the fallback walk). */
extern bool loafre__repl_no_openat2;

/* ---- initial sync ----------------------------------------------------------- */

struct loafre__sync_progress {
	uint64_t entries;  /* source entries looked at */
	uint64_t copied;   /* entries created or updated at the destination */
	uint64_t bytes;    /* data bytes copied */
	uint64_t deleted;  /* destination entries deleted */
	uint64_t errors;   /* entries that failed */
};

struct loafre__sync_opts {
	unsigned threads;  /* walkers (0: 4; at most 64) */
	bool delete;       /* delete destination entries absent from the source */
	/* Include this source entry (and, for a directory, its tree)? NULL: all.
	 * Called from the walkers concurrently. Excluded destination entries are
	 * never deleted. */
	bool (*filter)(void *arg, const char *rel, bool is_dir);
	void *filter_arg;  /* its argument */
	/* Called from one walker at a time, at most every 4096 entries, and once
	 * at the end. */
	void (*progress)(void *arg, const struct loafre__sync_progress *p);
	void *progress_arg; /* its argument */
	/* On a failed entry: called (serialised) with the reason; NULL: none. */
	void (*error)(void *arg, const char *rel, int err, const char *why);
	void *error_arg;    /* its argument */
};

/* Makes destination subtree `rel` ("" = the whole root) like the source's:
 * entries not identical (type, size, mtime, mode, owner after the maps,
 * symlink target) are (re)made, hard links (same source inode) become hard
 * links, directories get their times last. 0 when every entry synced;
 * -EIO when some failed (counted in ret, reported through opts.error);
 * other errors abort. ret may be NULL. */
int loafre__dest_sync_tree(struct loafre__dest *d, int src_root, const char *rel,
			   const struct loafre__sync_opts *opts,
			   struct loafre__sync_progress *ret);

/* ---- verify ----------------------------------------------------------------- */

enum loafre__vdiff {
	LOAFRE__VD_MISSING,   /* at the source only */
	LOAFRE__VD_EXTRA,     /* at the destination only */
	LOAFRE__VD_TYPE,      /* file types differ (not descended) */
	LOAFRE__VD_SIZE,      /* regular file sizes */
	LOAFRE__VD_MODE,      /* permission bits */
	LOAFRE__VD_OWNER,     /* uid:gid (source mapped) */
	LOAFRE__VD_MTIME,     /* modification time, ns */
	LOAFRE__VD_SYMLINK,   /* symlink targets */
	LOAFRE__VD_RDEV,      /* device numbers */
	LOAFRE__VD_XATTR,     /* one xattr missing, extra or different */
	LOAFRE__VD_CONTENT,   /* data (with checksum) */
	LOAFRE__VD_LINKS,     /* hard-link structure */
	LOAFRE__VD_ERROR,     /* could not be read (not a difference: an error) */
	LOAFRE__VD_N
};

/* Name of a difference kind: "missing", "extra", "type", ... */
const char *loafre__vdiff_name(enum loafre__vdiff k);

/* One difference. The strings are valid during the callback only. */
struct loafre__vdiff_rec {
	enum loafre__vdiff kind;  /* what */
	const char *path;         /* rel path ("." = the root) */
	const char *path2;        /* LINKS: the other name; else NULL */
	const char *src;          /* the source's value as text, or NULL */
	const char *dst;          /* the destination's value as text, or NULL */
	const char *detail;       /* XATTR: the xattr's name; LINKS: "split" (one
				   * file at the source, not at the destination)
				   * or "joined" (the reverse); ERROR: the reason */
};

struct loafre__verify_opts {
	const struct loafre_idmap *uid_map; /* NULL: identity */
	const struct loafre_idmap *gid_map; /* NULL: identity */
	bool checksum;       /* compare the content of regular files (xxh128) */
	bool no_times;       /* do not compare mtimes */
	bool no_xattrs;      /* do not compare xattrs */
	/* Compare this entry (and its tree)? Applied to both sides. NULL: all. */
	bool (*filter)(void *arg, const char *rel, bool is_dir);
	void *filter_arg;    /* its argument */
};

struct loafre__verify_result {
	uint64_t entries;        /* names compared (source side) */
	uint64_t diffs;          /* differences reported */
	uint64_t errors;         /* entries that could not be read */
	uint64_t checked_bytes;  /* bytes hashed, per side */
};

/* Compares the trees under the directories `src` and `dest` (paths; dest's
 * own symlinks are not followed below the root). Reports each difference
 * to fn, depth first in byte order of names, then hard-link differences.
 * 0 (differences are not errors: see ret->diffs), or -errno when a root
 * cannot be opened or memory runs out. */
int loafre__verify_trees(const char *src, const char *dest, const struct loafre__verify_opts *o,
			 void (*fn)(void *arg, const struct loafre__vdiff_rec *r), void *arg,
			 struct loafre__verify_result *ret);

/* The same comparison with an ssh destination `[user@]host:/path`, through
 * `rsync -n -i --delete` (what it flags is then compared exactly, so the
 * differences are reported as by loafre__verify_trees, except: hard links
 * only "split", content only with checksum and only where rsync's xxh128
 * differs). -EHOSTUNREACH, -EIO (rsync failed), ... with a line in why. */
int loafre__verify_ssh(const char *src, const char *spec, const struct loafre__ssh_opts *so,
		       const struct loafre__verify_opts *o,
		       void (*fn)(void *arg, const struct loafre__vdiff_rec *r), void *arg,
		       struct loafre__verify_result *ret, char *why);

#endif
