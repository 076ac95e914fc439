/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * watch_internal.h — what lib/watch.c shares with its two backends
 * (watch_fanotify.c, watch_inotify.c). See watch.h for the design.
 */
#ifndef LOAFRE_WATCH_INTERNAL_H
#define LOAFRE_WATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/record.h"
#include "localfs.h"
#include "watch.h"

#define WATCH_BUF_SIZE (256u * 1024u) /* one read(2) */
#define WATCH_MAX_READS 64            /* reads per loafre__watch_read, then yield */
#define WATCH_HANDLE_MAX 128          /* bytes of the cached struct file_handle */

/* inotify: one slot of the wd → directory FID table (open addressing). */
struct watch_wd {
	int wd;                /* 0: empty, -1: deleted, else the watch descriptor */
	struct loafre_fid fid; /* the watched directory */
};

struct loafre__watch {
	struct loafre__lfs *l;          /* the engine notes go to (borrowed) */
	enum loafre__watch_mode mode;   /* the mode in use (never AUTO) */
	int fd;                         /* fanotify or inotify descriptor */
	uint64_t root_dev;              /* st_dev of the root */
	uint32_t fan_mask;              /* fanotify event mask of every mark */
	bool overflow;                  /* an overflow was read and not yet taken */
	unsigned flags;                 /* LOAFRE__WATCH_* from open */
	char *buf;                      /* read buffer, WATCH_BUF_SIZE bytes */
	/* Last directory handle → FID (consecutive events share a directory). */
	unsigned char last_handle[WATCH_HANDLE_MAX]; /* struct file_handle bytes */
	size_t last_handle_len;         /* 0: cache empty */
	struct loafre_fid last_fid;     /* FID of last_handle */
	/* inotify: wd → FID. */
	struct watch_wd *wds;           /* table, wd_cap slots */
	size_t wd_cap;                  /* power of two, 0 before the first insert */
	size_t wd_used;                 /* slots not empty (live and deleted) */
	struct loafre__watch_stats st;  /* counters */
};

/* watch.c */
int watch_handle_fid(struct loafre__watch *w, const void *fh, struct loafre_fid *ret);
int watch_note_entry(struct loafre__watch *w, const struct loafre_fid *dir, const char *name,
		     size_t len);
int watch_note_object(struct loafre__watch *w, const struct loafre_fid *fid, unsigned hints);
/* Marks/watches every directory of the tree under dirfd (a walk staying on
 * the root's device). Failures are counted in st.mark_errors; only -ENOMEM
 * and the root's own failure are returned. */
int watch_walk(struct loafre__watch *w, int rootfd);
/* The FID of an open directory (name_to_handle_at). */
int watch_fd_fid(struct loafre__watch *w, int dirfd, struct loafre_fid *ret);
int watch_wd_put(struct loafre__watch *w, int wd, const struct loafre_fid *fid);
const struct loafre_fid *watch_wd_get(const struct loafre__watch *w, int wd);
void watch_wd_del(struct loafre__watch *w, int wd);

/* Backends. init opens the descriptor and, for the filesystem mark, marks
 * the root; add_dir marks/watches one directory (modes 2 and 3). */
int watch_fan_init(struct loafre__watch *w, int rootfd, bool fs_mark);
int watch_fan_add_dir(struct loafre__watch *w, int dirfd);
/* Reads the next chunk of queued events into w->buf (EINTR retried):
 * bytes read, 0 when the queue is empty, or -errno. */
ssize_t watch_read_chunk(struct loafre__watch *w);
int watch_fan_read(struct loafre__watch *w);
int watch_ino_init(struct loafre__watch *w);
int watch_ino_add_dir(struct loafre__watch *w, int dirfd, const struct loafre_fid *fid);
int watch_ino_read(struct loafre__watch *w);

#endif
