/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * watch.c — the watcher's dispatcher and shared parts (see watch.h): mode
 * selection and fallback, the directory callback, the tree walk that marks
 * every directory (inode-mark and inotify modes), the wd → FID table and
 * the directory-handle cache.
 */
#include "watch_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_MAX_DEPTH 1024 /* deeper directories are counted as mark errors */

static const char *const mode_names[] = {
	[LOAFRE__WATCH_AUTO] = "auto",
	[LOAFRE__WATCH_FANOTIFY_FS] = "fanotify filesystem mark",
	[LOAFRE__WATCH_FANOTIFY_INODE] = "fanotify inode marks",
	[LOAFRE__WATCH_INOTIFY] = "inotify",
};

int loafre__watch_parse_mode(const char *s, enum loafre__watch_mode *ret)
{
	if (!s || !ret)
		return -EINVAL;
	if (strcmp(s, "auto") == 0 || !*s)
		*ret = LOAFRE__WATCH_AUTO;
	else if (strcmp(s, "fanotify-fs") == 0)
		*ret = LOAFRE__WATCH_FANOTIFY_FS;
	else if (strcmp(s, "fanotify-inode") == 0)
		*ret = LOAFRE__WATCH_FANOTIFY_INODE;
	else if (strcmp(s, "inotify") == 0)
		*ret = LOAFRE__WATCH_INOTIFY;
	else
		return -EINVAL;
	return 0;
}

/* ---- notes and FIDs ------------------------------------------------------ */

int watch_handle_fid(struct loafre__watch *w, const void *fh, struct loafre_fid *ret)
{
	const struct file_handle *h = fh;
	size_t len = sizeof(*h) + h->handle_bytes;
	int r;

	if (len <= sizeof(w->last_handle) && len == w->last_handle_len &&
	    memcmp(w->last_handle, fh, len) == 0) {
		*ret = w->last_fid;
		return 0;
	}
	r = loafre__lfs_handle_fid(w->l, h, ret);
	if (r < 0)
		return r;
	if (len <= sizeof(w->last_handle)) {
		memcpy(w->last_handle, fh, len);
		w->last_handle_len = len;
		w->last_fid = *ret;
	}
	return 0;
}

int watch_note_entry(struct loafre__watch *w, const struct loafre_fid *dir, const char *name,
		     size_t len)
{
	w->st.notes++;
	return loafre__lfs_note_entry(w->l, dir, name, len);
}

int watch_note_object(struct loafre__watch *w, const struct loafre_fid *fid, unsigned hints)
{
	w->st.notes++;
	return loafre__lfs_note_object(w->l, fid, hints);
}

int watch_fd_fid(struct loafre__watch *w, int dirfd, struct loafre_fid *ret)
{
	union {
		struct file_handle fh;
		unsigned char bytes[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	int mount_id;

	u.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(dirfd, "", &u.fh, &mount_id, AT_EMPTY_PATH) < 0)
		return -errno;
	return loafre__lfs_handle_fid(w->l, &u.fh, ret);
}

/* ---- wd → FID ------------------------------------------------------------ */

static size_t wd_slot(size_t cap, int wd)
{
	return ((size_t)(unsigned)wd * 2654435761u) & (cap - 1);
}

static int wd_grow(struct loafre__watch *w)
{
	size_t ncap = w->wd_cap ? w->wd_cap * 2 : 1024;
	struct watch_wd *n = calloc(ncap, sizeof(*n)), *old = w->wds;
	size_t ocap = w->wd_cap;

	if (!n)
		return -ENOMEM;
	w->wds = n;
	w->wd_cap = ncap;
	w->wd_used = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].wd > 0)
			watch_wd_put(w, old[i].wd, &old[i].fid);
	free(old);
	return 0;
}

int watch_wd_put(struct loafre__watch *w, int wd, const struct loafre_fid *fid)
{
	size_t i, tomb = SIZE_MAX;

	if ((w->wd_used + 1) * 2 > w->wd_cap) {
		int r = wd_grow(w);
		if (r < 0)
			return r;
	}
	for (i = wd_slot(w->wd_cap, wd);; i = (i + 1) & (w->wd_cap - 1)) {
		if (w->wds[i].wd == wd) {
			w->wds[i].fid = *fid;
			return 0;
		}
		if (w->wds[i].wd == -1 && tomb == SIZE_MAX)
			tomb = i;
		if (w->wds[i].wd == 0)
			break;
	}
	if (tomb != SIZE_MAX)
		i = tomb;
	else
		w->wd_used++;
	w->wds[i].wd = wd;
	w->wds[i].fid = *fid;
	return 0;
}

const struct loafre_fid *watch_wd_get(const struct loafre__watch *w, int wd)
{
	if (!w->wd_cap || wd <= 0)
		return NULL;
	for (size_t i = wd_slot(w->wd_cap, wd);; i = (i + 1) & (w->wd_cap - 1)) {
		if (w->wds[i].wd == wd)
			return &w->wds[i].fid;
		if (w->wds[i].wd == 0)
			return NULL;
	}
}

void watch_wd_del(struct loafre__watch *w, int wd)
{
	if (!w->wd_cap || wd <= 0)
		return;
	for (size_t i = wd_slot(w->wd_cap, wd);; i = (i + 1) & (w->wd_cap - 1)) {
		if (w->wds[i].wd == wd) {
			w->wds[i].wd = -1;
			return;
		}
		if (w->wds[i].wd == 0)
			return;
	}
}

/* ---- marking directories ----------------------------------------------- */

static int add_dir(struct loafre__watch *w, int dirfd, const struct loafre_fid *fid)
{
	int r;

	if (w->mode == LOAFRE__WATCH_FANOTIFY_INODE) {
		r = watch_fan_add_dir(w, dirfd);
	} else {
		struct loafre_fid f;
		if (!fid) {
			r = watch_fd_fid(w, dirfd, &f);
			if (r < 0)
				goto out;
			fid = &f;
		}
		r = watch_ino_add_dir(w, dirfd, fid);
	}
out:
	if (r < 0) {
		w->st.mark_errors++;
		w->st.last_mark_error = r;
	} else {
		w->st.marks++;
	}
	return r;
}

/* The engine's directory callback: a directory entered or left the tree.
 * Leaving needs nothing: a deleted directory's mark/watch goes with its
 * inode, and events of a directory moved out are dropped by the engine. */
static void dir_cb(void *ctx, const struct loafre_fid *dir, int dirfd, bool added)
{
	struct loafre__watch *w = ctx;

	if (added && dirfd >= 0)
		add_dir(w, dirfd, dir);
}

static int walk(struct loafre__watch *w, int dirfd, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int dfd, r;

	if (depth > WALK_MAX_DEPTH) {
		w->st.mark_errors++;
		w->st.last_mark_error = -ELOOP;
		return 0;
	}
	r = add_dir(w, dirfd, NULL);
	if (r < 0)
		return depth == 0 || r == -ENOMEM ? r : 0;
	dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		r = -errno;
		if (dfd >= 0)
			close(dfd);
		return depth == 0 ? r : 0;
	}
	r = 0;
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		int cfd;

		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		cfd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			continue; /* not a directory, or gone: the engine's walk decides */
		if (fstat(cfd, &sb) == 0 && (uint64_t)sb.st_dev == w->root_dev)
			r = walk(w, cfd, depth + 1);
		close(cfd);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

int watch_walk(struct loafre__watch *w, int rootfd)
{
	return walk(w, rootfd, 0);
}

/* ---- open / close -------------------------------------------------------- */

static void reset(struct loafre__watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->wds);
	w->wds = NULL;
	w->wd_cap = w->wd_used = 0;
	w->last_handle_len = 0;
	memset(&w->st, 0, sizeof(w->st));
}

/* Opens one mode. */
static int try_mode(struct loafre__watch *w, int rootfd, enum loafre__watch_mode mode)
{
	int r;

	w->mode = mode;
	switch (mode) {
	case LOAFRE__WATCH_FANOTIFY_FS:
		return watch_fan_init(w, rootfd, true);
	case LOAFRE__WATCH_FANOTIFY_INODE:
		r = watch_fan_init(w, rootfd, false);
		break;
	case LOAFRE__WATCH_INOTIFY:
		r = watch_ino_init(w);
		break;
	default:
		return -EINVAL;
	}
	if (r < 0)
		return r;
	/* Directory callback first: a directory made during the walk is then
	 * reported by the engine's next flush. */
	loafre__lfs_set_dir_cb(w->l, dir_cb, w);
	r = watch_walk(w, rootfd);
	if (r < 0)
		loafre__lfs_set_dir_cb(w->l, NULL, NULL);
	return r;
}

ssize_t watch_read_chunk(struct loafre__watch *w)
{
	for (;;) {
		ssize_t n = read(w->fd, w->buf, WATCH_BUF_SIZE);

		if (n >= 0) {
			if (n > 0)
				w->st.reads++;
			return n;
		}
		if (errno != EINTR)
			return errno == EAGAIN ? 0 : -errno;
	}
}

int loafre__watch_open(struct loafre__lfs *l, const char *root, enum loafre__watch_mode mode,
		       unsigned flags, struct loafre__watch **ret_w)
{
	struct loafre__watch *w;
	struct stat sb;
	int rootfd = -1, r;

	if (!l || !root || !ret_w)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->l = l;
	w->fd = -1;
	w->flags = flags;
	w->buf = malloc(WATCH_BUF_SIZE);
	if (!w->buf) {
		r = -ENOMEM;
		goto fail;
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || fstat(rootfd, &sb) < 0) {
		r = -errno;
		goto fail;
	}
	w->root_dev = (uint64_t)sb.st_dev;
	if (mode != LOAFRE__WATCH_AUTO) {
		r = try_mode(w, rootfd, mode);
		if (r < 0)
			goto fail;
	} else {
		r = try_mode(w, rootfd, LOAFRE__WATCH_FANOTIFY_FS);
		/* fanotify works but refuses a filesystem mark here. */
		if (r == -EXDEV || r == -EOPNOTSUPP || r == -ENODEV || r == -EINVAL || r == -EPERM) {
			bool init_failed = w->fd < 0;
			reset(w);
			if (!init_failed)
				r = try_mode(w, rootfd, LOAFRE__WATCH_FANOTIFY_INODE);
		}
		/* fanotify unavailable (init failed, or unusable inode marks). */
		if (r == -EPERM || r == -ENOSYS || r == -EINVAL || r == -EOPNOTSUPP ||
		    r == -EXDEV || r == -ENODEV) {
			reset(w);
			r = try_mode(w, rootfd, LOAFRE__WATCH_INOTIFY);
		}
		if (r < 0)
			goto fail;
	}
	close(rootfd);
	*ret_w = w;
	return 0;
fail:
	if (rootfd >= 0)
		close(rootfd);
	loafre__watch_close(w);
	return r;
}

void loafre__watch_close(struct loafre__watch *w)
{
	if (!w)
		return;
	if (w->mode == LOAFRE__WATCH_FANOTIFY_INODE || w->mode == LOAFRE__WATCH_INOTIFY)
		loafre__lfs_set_dir_cb(w->l, NULL, NULL);
	if (w->fd >= 0)
		close(w->fd);
	free(w->wds);
	free(w->buf);
	free(w);
}

int loafre__watch_fd(const struct loafre__watch *w)
{
	return w->fd;
}

enum loafre__watch_mode loafre__watch_mode(const struct loafre__watch *w)
{
	return w->mode;
}

const char *loafre__watch_mode_name(const struct loafre__watch *w)
{
	return mode_names[w->mode];
}

int loafre__watch_read(struct loafre__watch *w)
{
	return w->mode == LOAFRE__WATCH_INOTIFY ? watch_ino_read(w) : watch_fan_read(w);
}

bool loafre__watch_take_overflow(struct loafre__watch *w)
{
	bool o = w->overflow;

	w->overflow = false;
	return o;
}

void loafre__watch_get_stats(const struct loafre__watch *w, struct loafre__watch_stats *ret)
{
	*ret = w->st;
}
