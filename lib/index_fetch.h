/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_fetch.h — current attributes of objects named by FID (internal;
 * issue 5, docs/index.md "Fetching attributes").
 *
 * The index consumer (lib/index_apply.h) learns from a changelog record
 * WHICH object changed, not its new attributes: a fetcher asks the
 * filesystem for them, by FID, many at once, with a small pool of worker
 * threads (the latency of one stat, especially on Lustre, is what limits
 * the rate; several in flight hide it).
 *
 *   local filesystem  FID → file handle (lib/localfs_fid.c, the same
 *                     encoding loafred's emulated MDT uses) →
 *                     open_by_handle_at(tree root, O_PATH|O_NOFOLLOW) →
 *                     statx(fd, "", AT_EMPTY_PATH) (+ readlinkat for a
 *                     symlink). Needs CAP_DAC_READ_SEARCH (root).
 *   Lustre            statx(MOUNT/.lustre/fid/[FID]) (+ readlinkat).
 *
 * An object that no longer exists (ENOENT, ESTALE, or a link count of 0: an
 * unlinked file still held open) is "gone": status -ENOENT.
 *
 * Ownership: a fetcher is owned by its opener (loafre__fetch_close; NULL
 * ok). Results own their symlink buffer (loafre__fetch_results_free). One
 * thread at a time may call a fetcher's functions (its workers are
 * internal).
 */
#ifndef LOAFRE_INDEX_FETCH_H
#define LOAFRE_INDEX_FETCH_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "index_store.h"
#include "loafre/config.h"
#include "loafre/record.h"

struct loafre__fetch;
struct file_handle;

#define LOAFRE__FETCH_DEFAULT_THREADS 4u
#define LOAFRE__FETCH_MAX_THREADS 256u
/* Symlink targets longer than this are an error (-ENAMETOOLONG). */
#define LOAFRE__FETCH_SYMLINK_MAX 65536u

/* The root directory of every Lustre filesystem: [0x200000007:0x1:0x0]. */
#define LOAFRE__FETCH_LUSTRE_ROOT ((struct loafre_fid){ 0x200000007ull, 0x1, 0x0 })

/* Open flags. */
/* Resolve every FID that has a path hint through that path (verified)
 * rather than through its handle: only for tests of the path fallback. */
#define LOAFRE__FETCH_PREFER_PATHS 0x1

/* One fetched object. */
struct loafre__fetch_result {
	int status;                   /* 0; -ENOENT: gone; another -errno: not fetched */
	struct loafre__idx_attr attr; /* valid when status == 0; attr.symlink points
				       * into `link` (or is NULL) */
	char *link;                   /* owned: the symlink target, NUL-terminated;
				       * NULL unless a symlink */
};

/* Opens a fetcher for the filesystem of type `type` whose tree (local) or
 * client mount (Lustre) is `path`, with `threads` workers (0: the default,
 * at most LOAFRE__FETCH_MAX_THREADS). Lustre needs PATH/.lustre/fid.
 * Returns 0 or -errno (-EPERM: a local fetcher needs CAP_DAC_READ_SEARCH
 * for open_by_handle_at; the root's handle is tried at open). */
int loafre__fetch_open(enum loafre_fs_type type, const char *path, unsigned threads, int flags,
		       struct loafre__fetch **ret);
void loafre__fetch_close(struct loafre__fetch *f);

/* The tree's root: its FID, and its path (realpath; borrowed). */
const struct loafre_fid *loafre__fetch_root_fid(const struct loafre__fetch *f);
const char *loafre__fetch_root(const struct loafre__fetch *f);
enum loafre_fs_type loafre__fetch_type(const struct loafre__fetch *f);
/* True when opened with LOAFRE__FETCH_PREFER_PATHS. */
bool loafre__fetch_prefers_paths(const struct loafre__fetch *f);

/* Fetches fids[0..n) into res[0..n) (every res[i] written; free them with
 * loafre__fetch_results_free). The per-object outcome is res[i].status;
 * the call itself returns 0, or -errno when it could not run at all.
 * FIDs may repeat (each is fetched). */
int loafre__fetch_many(struct loafre__fetch *f, const struct loafre_fid *fids, size_t n,
		       struct loafre__fetch_result *res);
/* Same, with a path hint per FID (hints may be NULL, and hints[i] NULL):
 * hints[i] is the object's path relative to the root as the caller
 * believes it to be. It is used for FIDs that do not map back to a handle
 * (hashed local FIDs, e.g. btrfs; see lib/localfs_fid.c) — or for every
 * hinted FID with LOAFRE__FETCH_PREFER_PATHS — and verified: the object
 * found there must have that FID, else the result is -ENOENT (gone, or
 * moved since: a later record names it again). Without a hint such a FID
 * is -EOPNOTSUPP. */
int loafre__fetch_many_hinted(struct loafre__fetch *f, const struct loafre_fid *fids,
			      const char *const *hints, size_t n, struct loafre__fetch_result *res);
/* One FID, in the calling thread. Returns res->status. */
int loafre__fetch_one(struct loafre__fetch *f, const struct loafre_fid *fid, const char *hint,
		      struct loafre__fetch_result *res);
/* Frees the symlink buffers of res[0..n) (the array itself is the caller's). */
void loafre__fetch_results_free(struct loafre__fetch_result *res, size_t n);

/* The object at `relpath` (relative to the root, "" for the root; a final
 * symlink is not followed): its FID and attributes (res as above). Returns
 * res->status (-ENOENT if there is no such entry), or -errno when the
 * object has no FID (another filesystem mounted there: -EXDEV). */
int loafre__fetch_path(struct loafre__fetch *f, const char *relpath, struct loafre_fid *ret_fid,
		       struct loafre__fetch_result *res);

/* The FID of a path (absolute, or relative to the working directory; a
 * final symlink is itself). Local: name_to_handle_at and the encoding of
 * lib/localfs_fid.c (the FID `loafre path2fid` prints). Lustre: the FID
 * Lustre puts in its file handles (FILEID_LUSTRE). 0 or -errno. */
int loafre__fetch_path2fid(struct loafre__fetch *f, const char *path, struct loafre_fid *ret_fid);

/* The current path of fid relative to the root ("" for the root), through
 * its handle and the kernel's name of the descriptor, checked to lead to
 * the object, asked again (a few times) while renames race the check and
 * the object lives (local); or llapi_fid2path (Lustre). -ENOENT: gone or
 * not resolvable (hashed FID; a rename racing every try);
 * -EXDEV: it lives outside the tree; -ENAMETOOLONG: cap too small. */
int loafre__fetch_relpath(struct loafre__fetch *f, const struct loafre_fid *fid, char *buf,
			  size_t cap);

/* Whether fid's object is gone: 1 (deleted: no handle opens it, or it has
 * no name left; Lustre: fid2path knows no such FID), 0 (it lives), or
 * -errno when that is not knowable (-EOPNOTSUPP: a hashed local FID, which
 * only the recorded tree resolves). Unlike loafre__fetch_relpath's
 * -ENOENT, 1 is never "not resolvable now". */
int loafre__fetch_gone(struct loafre__fetch *f, const struct loafre_fid *fid);

/* Helpers shared with the scanner (lib/index_scan.c). */
/* FID of a file handle on a filesystem of this type (local: localfs_fid.c;
 * Lustre: the child FID of a FILEID_LUSTRE handle). 0 or -EINVAL. */
int loafre__fetch_handle_fid(enum loafre_fs_type type, const struct file_handle *fh,
			     struct loafre_fid *ret_fid);
/* FID of dirfd/name (name_to_handle_at with flags: AT_SYMLINK_FOLLOW,
 * AT_EMPTY_PATH) on a filesystem of this type, and its mount id into
 * *ret_mnt (may be NULL). 0, -errno of name_to_handle_at, or -EXDEV (a
 * handle of another filesystem type). */
int loafre__fetch_fid_at(enum loafre_fs_type type, int dirfd, const char *name, int flags,
			 struct loafre_fid *ret_fid, int *ret_mnt);
/* Attributes of a statx result (symlink left NULL). */
void loafre__fetch_attr_of_statx(const struct statx *stx, struct loafre__idx_attr *ret);
/* The target of the symlink dirfd/name (name "" with an O_PATH descriptor
 * of the link itself) in a malloc'ed buffer, size hint `size` (st_size).
 * 0 or -errno. */
int loafre__fetch_readlink(int dirfd, const char *name, uint64_t size, char **ret);

#endif
