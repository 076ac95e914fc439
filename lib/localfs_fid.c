/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * localfs_fid.c — Lustre FIDs for objects of a local filesystem.
 *
 * A FID is derived from the object's file handle (name_to_handle_at), which
 * the filesystem guarantees to identify one object for its whole life and
 * never to be reused while the object lives (handles embed a generation
 * number that changes when an inode number is recycled). The mapping is a
 * pure function of the handle, so FIDs survive daemon restarts with no
 * table, and most FIDs map back to their handle for open_by_handle_at.
 *
 *   handle of 8 bytes, words w0 w1 (ext4, xfs with 32-bit inodes, ...:
 *   FILEID_INO32_GEN = { inode, generation }):
 *       f_seq = (0x200 + type) << 32 | w1      f_oid = w0      f_ver = 0
 *       e.g. ext4 inode 12, generation 0x5c3d: [0x20100005c3d:0xc:0x0]
 *   handle of 12 bytes, words w0 w1 w2 (64-bit inode + generation):
 *       f_seq = w1 << 32 | w0   f_oid = w2   f_ver = 0x01000000 | type
 *   any other handle (btrfs 20+ bytes, ...):
 *       h = XXH3_128(type as u32 LE, handle bytes)
 *       f_seq = h.low64   f_oid = low 32 bits of h.high64
 *       f_ver = 0x02000000 | (type & 0xffffff)
 *       Not reversible: fid2path resolves these through the recorded tree.
 * (words are little-endian u32 of the handle bytes; `type` is the handle
 * type, which must be < 0x100 for the first form and < 0x1000000 for the
 * others — larger types use the hashed form.)
 * No encoding yields the zero FID (f_seq >= 0x200 << 32, or f_ver != 0),
 * and the three forms cannot collide (f_ver tells them apart; the first
 * form has f_ver 0). Sequences >= 0x200000000 fall in Lustre's "normal"
 * FID range, as real MDT FIDs do.
 */
#include "localfs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "util.h"

#define LFS_FORM_12 0x01000000u
#define LFS_FORM_HASH 0x02000000u

int loafre__lfs_fid_from_handle(int type, const unsigned char *b, unsigned len,
				struct loafre_fid *ret_fid)
{
	struct loafre_fid f;

	if (type < 0)
		return -EINVAL;
	if (len == 8 && type < 0x100) {
		f.f_seq = ((uint64_t)(0x200 + type) << 32) | loafre__le32(b + 4);
		f.f_oid = loafre__le32(b);
		f.f_ver = 0;
	} else if (len == 12 && type < 0x1000000) {
		f.f_seq = (uint64_t)loafre__le32(b + 4) << 32 | loafre__le32(b);
		f.f_oid = loafre__le32(b + 8);
		f.f_ver = LFS_FORM_12 | (uint32_t)type;
	} else {
		XXH3_state_t st;
		XXH128_hash_t h;
		unsigned char t[4];

		loafre__put32(t, (uint32_t)type);
		XXH3_128bits_reset(&st);
		XXH3_128bits_update(&st, t, sizeof(t));
		XXH3_128bits_update(&st, b, len);
		h = XXH3_128bits_digest(&st);
		f.f_seq = h.low64;
		f.f_oid = (uint32_t)h.high64;
		f.f_ver = LFS_FORM_HASH | ((uint32_t)type & 0xffffff);
	}
	*ret_fid = f;
	return 0;
}

int loafre__lfs_handle_from_fid(const struct loafre_fid *fid, struct file_handle *fh, unsigned cap)
{
	unsigned char *b = fh->f_handle;

	if (fid->f_ver == 0 && (fid->f_seq >> 32) >= 0x200 && (fid->f_seq >> 32) < 0x300) {
		if (cap < 8)
			return -ENOBUFS;
		fh->handle_type = (int)((fid->f_seq >> 32) - 0x200);
		fh->handle_bytes = 8;
		loafre__put32(b, fid->f_oid);
		loafre__put32(b + 4, (uint32_t)fid->f_seq);
		return 0;
	}
	if ((fid->f_ver & 0xff000000u) == LFS_FORM_12) {
		if (cap < 12)
			return -ENOBUFS;
		fh->handle_type = (int)(fid->f_ver & 0xffffff);
		fh->handle_bytes = 12;
		loafre__put32(b, (uint32_t)fid->f_seq);
		loafre__put32(b + 4, (uint32_t)(fid->f_seq >> 32));
		loafre__put32(b + 8, fid->f_oid);
		return 0;
	}
	return -ENOENT;
}

int loafre__lfs_lookup(int dirfd, const char *name, struct loafre_fid *ret_fid, struct stat *ret_st)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	struct stat st;
	int mnt;

	u.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(dirfd, name, &u.fh, &mnt, 0) < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (ret_st) {
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (loafre__lfs_fid_from_handle(u.fh.handle_type, u.fh.f_handle, u.fh.handle_bytes, ret_fid) < 0)
		return -EINVAL;
	if (ret_st)
		*ret_st = st;
	return 0;
}

int loafre__lfs_open_fid(struct loafre__lfs *l, const struct loafre_fid *fid, int oflags)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	char rel[4096];
	int fd, r;

	if (loafre_fid_equal(fid, loafre__lfs_root_fid(l))) {
		fd = openat(l->root_fd, ".", oflags | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	if (loafre__lfs_handle_from_fid(fid, &u.fh, MAX_HANDLE_SZ) == 0) {
		fd = loafre__open_by_handle(l->root_fd, &u.fh, oflags | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	/* Hashed FID: through the path the recorded tree gives, checked. */
	if (l->db && !l->rootobj)
		r = loafre__lfs_db_relpath(l, fid, rel, sizeof(rel));
	else {
		struct lfs_obj *o = loafre__lfs_obj_get(l, fid);
		r = o ? loafre__lfs_obj_relpath(l, o, rel, sizeof(rel)) : -ENOENT;
	}
	if (r < 0)
		return r;
	fd = openat(l->root_fd, rel[0] ? rel : ".", oflags | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		fd = openat(l->root_fd, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	{
		struct loafre_fid got;
		union {
			struct file_handle fh;
			char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
		} v;
		int mnt;

		v.fh.handle_bytes = MAX_HANDLE_SZ;
		if (name_to_handle_at(fd, "", &v.fh, &mnt, AT_EMPTY_PATH) < 0 ||
		    loafre__lfs_fid_from_handle(v.fh.handle_type, v.fh.f_handle, v.fh.handle_bytes,
						&got) < 0 ||
		    !loafre_fid_equal(&got, fid)) {
			close(fd);
			return -ESTALE;
		}
	}
	return fd;
}
