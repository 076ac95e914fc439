/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_fid.h — FIDs to paths for the broker's `subtree` module (internal).
 *
 * A resolver answers, for the objects of one filesystem, where they are
 * now: a local filesystem through file handles (the FID maps back to the
 * handle, lib/localfs_fid.c; open_by_handle_at on the tree's root, then
 * the kernel's path of the descriptor), a Lustre filesystem through
 * llapi_fid2path. Hashed local FIDs (filesystems whose handles are longer
 * than 12 bytes) cannot be resolved: -ENOENT, like a removed object.
 *
 * Ownership: a resolver is owned by its opener (loafre__fidres_close; NULL
 * ok); it copies what it needs from the config. Not thread-safe.
 */
#ifndef LOAFRE_BROKER_FID_H
#define LOAFRE_BROKER_FID_H

#include <stddef.h>

#include "loafre/config.h"
#include "loafre/record.h"

struct loafre__fidres;

int loafre__fidres_open(const struct loafre_fs_config *fs, struct loafre__fidres **ret);
void loafre__fidres_close(struct loafre__fidres *r);

/* Writes the current path of fid ("/abs/path" for a local tree, the path
 * relative to the mount for Lustre: compare only paths of one resolver).
 * Returns 0, -ENOENT (unknown, removed, not resolvable), -ENAMETOOLONG or
 * another -errno. */
int loafre__fidres_path(struct loafre__fidres *r, const struct loafre_fid *fid, char *buf,
			size_t cap);

/* The FID of an absolute path inside fs (local filesystems only; Lustre:
 * -EOPNOTSUPP, give the FID in the configuration). */
int loafre__fidres_path2fid(const struct loafre_fs_config *fs, const char *path,
			    struct loafre_fid *ret_fid);

#endif
