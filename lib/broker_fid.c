/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_fid.c — FIDs to paths for the broker's subtree module (see
 * broker_fid.h). No format of its own: local FIDs follow lib/localfs_fid.c.
 */
#include "util.h"
#include "broker_fid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "localfs_internal.h"
#include "lustre_source.h"

#define HANDLE_MAX 128

struct loafre__fidres {
	enum loafre_fs_type type; /* local or lustre */
	int root_fd;              /* local: the tree, opened O_RDONLY (mount fd for handles) */
	char *path;               /* the tree (local) or the client mount (lustre) */
};

int loafre__fidres_open(const struct loafre_fs_config *fs, struct loafre__fidres **ret)
{
	struct loafre__fidres *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->root_fd = -1;
	r->type = fs->type;
	r->path = strdup(fs->path);
	if (!r->path) {
		err = -ENOMEM;
		goto fail;
	}
	if (fs->type == LOAFRE_FS_LOCAL) {
		r->root_fd = open(fs->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (r->root_fd < 0) {
			err = -errno;
			goto fail;
		}
	}
	*ret = r;
	return 0;
fail:
	loafre__fidres_close(r);
	return err;
}

void loafre__fidres_close(struct loafre__fidres *r)
{
	if (!r)
		return;
	if (r->root_fd >= 0)
		close(r->root_fd);
	free(r->path);
	free(r);
}

static int local_path(struct loafre__fidres *r, const struct loafre_fid *fid, char *buf,
		      size_t cap)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	char proc[64];
	ssize_t n;
	int fd, err;

	err = loafre__lfs_handle_from_fid(fid, &h.fh, HANDLE_MAX);
	if (err < 0)
		return -ENOENT;
	fd = loafre__open_by_handle(r->root_fd, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ESTALE ? -ENOENT : -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, cap);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err < 0)
		return err;
	if ((size_t)n >= cap)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	/* An unlinked object, or a dentry the kernel could not connect. */
	if (buf[0] != '/' || (n > 10 && strcmp(buf + n - 10, " (deleted)") == 0))
		return -ENOENT;
	return 0;
}

int loafre__fidres_path(struct loafre__fidres *r, const struct loafre_fid *fid, char *buf,
			size_t cap)
{
	if (r->type == LOAFRE_FS_LOCAL)
		return local_path(r, fid, buf, cap);
	return loafre__lustre_fid2path(r->path, fid, buf, cap);
}

int loafre__fidres_path2fid(const struct loafre_fs_config *fs, const char *path,
			    struct loafre_fid *ret_fid)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	int mount_id;

	if (fs->type != LOAFRE_FS_LOCAL)
		return -EOPNOTSUPP;
	h.fh.handle_bytes = HANDLE_MAX;
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
		return -errno;
	return loafre__lfs_fid_from_handle(h.fh.handle_type, h.fh.f_handle, h.fh.handle_bytes,
					   ret_fid);
}
