/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * watch_fanotify.c — the fanotify backend of the watcher (see watch.h).
 *
 * The group reports FIDs (FAN_REPORT_DFID_NAME_TARGET, else
 * FAN_REPORT_DFID_NAME | FAN_REPORT_FID): no file descriptor is opened per
 * event. Every event carries the directory's file handle and the entry's
 * name (DFID_NAME), for directory-entry events also the entry's own handle
 * (FID, with TARGET_FID), and FAN_RENAME carries both sides
 * (OLD_DFID_NAME, NEW_DFID_NAME). Handles are turned into FIDs by the
 * engine (loafre__lfs_handle_fid).
 */
#include "watch_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

#ifndef FAN_REPORT_TARGET_FID
#define FAN_REPORT_TARGET_FID 0x00001000
#endif
#ifndef FAN_REPORT_DFID_NAME_TARGET
#define FAN_REPORT_DFID_NAME_TARGET (FAN_REPORT_DFID_NAME | FAN_REPORT_FID | FAN_REPORT_TARGET_FID)
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif

/* Directory-entry events and content/metadata events. */
#define ENTRY_EVENTS (FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_RENAME)
#define OBJECT_EVENTS (FAN_MODIFY | FAN_ATTRIB | FAN_CLOSE_WRITE)
#define BASE_MASK (FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ONDIR)

static int mark(struct loafre__watch *w, unsigned flags, int dirfd)
{
	if (fanotify_mark(w->fd, FAN_MARK_ADD | flags, w->fan_mask, dirfd, NULL) < 0)
		return -errno;
	return 0;
}

int watch_fan_init(struct loafre__watch *w, int rootfd, bool fs_mark)
{
	unsigned flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK;
	unsigned mark_flags = fs_mark ? FAN_MARK_FILESYSTEM : 0;
	int r;

	/* An unlimited queue: at tens of thousands of operations a second
	 * the default 16384 events fill while a group commit runs; a queue
	 * that cannot overflow never needs a rescan. Root only: EPERM
	 * falls back to the system limit. */
	if (w->flags & LOAFRE__WATCH_UNLIMITED_QUEUE) {
		w->fd = fanotify_init(flags | FAN_UNLIMITED_QUEUE | FAN_REPORT_DFID_NAME_TARGET,
				      O_RDONLY | O_LARGEFILE | O_CLOEXEC);
		if (w->fd >= 0)
			goto marked_init;
	}
	w->fd = fanotify_init(flags | FAN_REPORT_DFID_NAME_TARGET, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (w->fd < 0 && errno == EINVAL)
		w->fd = fanotify_init(flags | FAN_REPORT_DFID_NAME | FAN_REPORT_FID,
				      O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (w->fd < 0)
		return -errno;
marked_init:
	/* FAN_RENAME (5.17) reports both sides of a rename in one event. */
	w->fan_mask = BASE_MASK | FAN_RENAME;
	if (!fs_mark)
		w->fan_mask |= FAN_EVENT_ON_CHILD;
	r = mark(w, mark_flags, rootfd);
	if (r == -EINVAL) {
		w->fan_mask = (w->fan_mask & ~(uint32_t)FAN_RENAME) | FAN_MOVED_FROM | FAN_MOVED_TO;
		r = mark(w, mark_flags, rootfd);
	}
	if (r < 0)
		return r;
	/* Inode marks: the caller walks the tree, root included (marking it
	 * again is harmless). */
	return 0;
}

int watch_fan_add_dir(struct loafre__watch *w, int dirfd)
{
	return mark(w, FAN_MARK_ONLYDIR, dirfd);
}

/* The handle and name of a FID info record. */
static const struct file_handle *info_handle(const struct fanotify_event_info_fid *info)
{
	return (const struct file_handle *)(const void *)info->handle;
}

/* m is an aligned copy of the event's metadata; raw points at the event in
 * the read buffer (events are only 4-byte aligned there: the kernel pads
 * info records to 4 bytes, and the metadata holds a u64). */
static int handle_event(struct loafre__watch *w, const struct fanotify_event_metadata *m,
			const char *raw)
{
	const char *p = raw + m->metadata_len, *end = raw + m->event_len;
	const uint64_t mask = m->mask;
	unsigned hints = 0;
	struct loafre_fid child;
	bool have_child = false;
	int r;

	if (mask & FAN_MODIFY)
		hints |= LOAFRE__LFS_MODIFY;
	if (mask & FAN_CLOSE_WRITE)
		hints |= LOAFRE__LFS_CLOSE_WRITE;
	if (mask & FAN_ATTRIB)
		hints |= LOAFRE__LFS_ATTRIB;

	/* First pass: the child FID, if reported. */
	for (const char *q = p; q + sizeof(struct fanotify_event_info_header) <= end;) {
		const struct fanotify_event_info_header *h = (const void *)q;
		if (h->len < sizeof(*h) || q + h->len > end)
			break;
		if (h->info_type == FAN_EVENT_INFO_TYPE_FID &&
		    h->len >= sizeof(struct fanotify_event_info_fid) + sizeof(struct file_handle)) {
			const struct fanotify_event_info_fid *fi = (const void *)q;
			if (watch_handle_fid(w, info_handle(fi), &child) == 0)
				have_child = true;
			/* The cache holds directories; the child may evict it: fine. */
		}
		q += h->len;
	}
	if (have_child && hints) {
		r = watch_note_object(w, &child, hints);
		if (r < 0)
			return r;
	}
	/* Second pass: directory records. */
	while (p + sizeof(struct fanotify_event_info_header) <= end) {
		const struct fanotify_event_info_header *h = (const void *)p;
		const struct fanotify_event_info_fid *fi = (const void *)p;
		const struct file_handle *fh;
		struct loafre_fid dir;
		const char *name;
		size_t hlen, max;

		if (h->len < sizeof(*h) || p + h->len > end)
			break;
		p += h->len;
		if (h->info_type != FAN_EVENT_INFO_TYPE_DFID_NAME &&
		    h->info_type != FAN_EVENT_INFO_TYPE_DFID &&
		    h->info_type != FAN_EVENT_INFO_TYPE_OLD_DFID_NAME &&
		    h->info_type != FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)
			continue;
		if (h->len < sizeof(*fi) + sizeof(*fh))
			continue;
		fh = info_handle(fi);
		hlen = sizeof(*fh) + fh->handle_bytes;
		if (sizeof(*fi) + hlen > h->len)
			continue;
		if (watch_handle_fid(w, fh, &dir) < 0)
			continue; /* not decodable: not ours */
		if (h->info_type == FAN_EVENT_INFO_TYPE_DFID) {
			name = ".";
			max = 1;
		} else {
			name = (const char *)fh + hlen;
			max = h->len - sizeof(*fi) - hlen;
		}
		size_t nlen = strnlen(name, max);
		if (nlen == 0 || (nlen == 1 && name[0] == '.')) {
			/* An event on the directory itself. */
			if (hints) {
				r = watch_note_object(w, &dir, hints);
				if (r < 0)
					return r;
			}
			continue;
		}
		/* Entry events; content/metadata events on a child whose FID
		 * was not reported are noted as the entry too. */
		if (mask & ENTRY_EVENTS) {
			r = watch_note_entry(w, &dir, name, nlen);
			if (r < 0)
				return r;
		}
		if (hints && !have_child) {
			w->st.notes++;
			r = loafre__lfs_note_child(w->l, &dir, name, nlen, hints);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int watch_fan_read(struct loafre__watch *w)
{
	int events = 0;

	for (int i = 0; i < WATCH_MAX_READS; i++) {
		ssize_t n = watch_read_chunk(w);

		if (n <= 0) {
			if (n < 0)
				return (int)n;
			break;
		}
		for (size_t off = 0; off + FAN_EVENT_METADATA_LEN <= (size_t)n;) {
			struct fanotify_event_metadata md;
			const char *raw = (const char *)w->buf + off;
			int r;

			memcpy(&md, raw, sizeof(md));
			if (md.event_len < FAN_EVENT_METADATA_LEN || md.event_len > (size_t)n - off)
				break;
			off += md.event_len;
			if (md.vers != FANOTIFY_METADATA_VERSION)
				return -EPROTO;
			events++;
			w->st.events++;
			if (md.fd >= 0)
				close(md.fd); /* not with FID reporting; defensive */
			if (md.mask & FAN_Q_OVERFLOW) {
				w->overflow = true;
				w->st.overflows++;
				continue;
			}
			r = handle_event(w, &md, raw);
			if (r < 0)
				return r;
		}
		if ((size_t)n < WATCH_BUF_SIZE / 2)
			break; /* the queue is drained (a short read) */
	}
	return events;
}
