/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * watch_inotify.c — the inotify backend of the watcher (see watch.h).
 *
 * One watch per directory of the tree; a wd → FID table says which
 * directory an event is about. Every event naming a child becomes an entry
 * note (the engine stats the entry and decides what changed); an event on
 * a watched directory itself becomes an object note. IN_IGNORED (the
 * directory is gone) drops the wd. Watches of directories moved out of the
 * tree stay: their events name directories the engine no longer knows,
 * which it drops.
 */
#include "watch_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* No IN_DONT_FOLLOW: the path is /proc/self/fd/N, a magic link to the
 * directory itself. */
#define INO_MASK                                                                            \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_MODIFY |      \
	 IN_CLOSE_WRITE | IN_ONLYDIR | IN_EXCL_UNLINK)

int watch_ino_init(struct loafre__watch *w)
{
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return w->fd < 0 ? -errno : 0;
}

int watch_ino_add_dir(struct loafre__watch *w, int dirfd, const struct loafre_fid *fid)
{
	char path[64];
	int wd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
	wd = inotify_add_watch(w->fd, path, INO_MASK);
	if (wd < 0)
		return -errno;
	return watch_wd_put(w, wd, fid);
}

static int handle_event(struct loafre__watch *w, const struct inotify_event *ev)
{
	const struct loafre_fid *dir;
	unsigned hints = 0;
	size_t nlen;

	if (ev->mask & IN_Q_OVERFLOW) {
		w->overflow = true;
		w->st.overflows++;
		return 0;
	}
	if (ev->mask & IN_IGNORED) {
		watch_wd_del(w, ev->wd);
		return 0;
	}
	dir = watch_wd_get(w, ev->wd);
	if (!dir)
		return 0;
	if (ev->mask & IN_MODIFY)
		hints |= LOAFRE__LFS_MODIFY;
	if (ev->mask & IN_CLOSE_WRITE)
		hints |= LOAFRE__LFS_CLOSE_WRITE;
	if (ev->mask & IN_ATTRIB)
		hints |= LOAFRE__LFS_ATTRIB;
	nlen = ev->len ? strnlen(ev->name, ev->len) : 0;
	if (nlen > 0) {
		w->st.notes++;
		/* A content/metadata event on a child: no FID in inotify. */
		if (hints)
			return loafre__lfs_note_child(w->l, dir, ev->name, nlen, hints);
		return watch_note_entry(w, dir, ev->name, nlen);
	}
	return hints ? watch_note_object(w, dir, hints) : 0;
}

int watch_ino_read(struct loafre__watch *w)
{
	int events = 0;

	for (int i = 0; i < WATCH_MAX_READS; i++) {
		ssize_t n = watch_read_chunk(w);

		if (n <= 0) {
			if (n < 0)
				return (int)n;
			break;
		}
		for (ssize_t o = 0; o + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *ev = (const void *)(w->buf + o);
			int r;

			if (o + (ssize_t)sizeof(*ev) + (ssize_t)ev->len > n)
				break;
			o += (ssize_t)sizeof(*ev) + ev->len;
			events++;
			w->st.events++;
			r = handle_event(w, ev);
			if (r < 0)
				return r;
		}
		if ((size_t)n < WATCH_BUF_SIZE / 2)
			break;
	}
	return events;
}
