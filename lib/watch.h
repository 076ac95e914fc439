/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * watch.h — the kernel-event watcher of a local filesystem (internal).
 *
 * A struct loafre__watch reads fanotify or inotify events about a tree and
 * turns them into notes for the tree's emulated MDT (lib/localfs.h): it
 * never decides what happened, it only says where to look. The engine
 * reconciles the notes against the live tree at its next flush.
 *
 * Modes, tried in this order by loafre__watch_open(LOAFRE__WATCH_AUTO):
 *   1. "fanotify filesystem mark": fanotify_init(FAN_CLASS_NOTIF |
 *      FAN_REPORT_DFID_NAME_TARGET) (or FAN_REPORT_DFID_NAME | FAN_REPORT_FID
 *      on kernels without FAN_REPORT_TARGET_FID), one FAN_MARK_FILESYSTEM
 *      mark on the root. FAN_RENAME when the kernel has it (both sides of a
 *      rename in one event), else FAN_MOVED_FROM/TO.
 *   2. "fanotify inode marks": the filesystem mark was refused (EXDEV on a
 *      btrfs subvolume, EOPNOTSUPP on overlayfs, ENODEV, EINVAL, EPERM
 *      without CAP_SYS_ADMIN): one inode mark (FAN_EVENT_ON_CHILD |
 *      FAN_ONDIR) per directory of the tree, added at open by a walk and
 *      then through the engine's directory callback (loafre__lfs_set_dir_cb)
 *      as directories enter the tree.
 *   3. "inotify": fanotify_init itself failed (EPERM, ENOSYS, EINVAL): one
 *      inotify watch per directory, same bookkeeping, with a wd → directory
 *      FID table.
 *
 * Event → note:
 *   - directory-entry events (create, delete, moves, both sides of a
 *     rename): note_entry(dir, name);
 *   - content/metadata events (modify, close_write, attrib): note_object on
 *     the object's FID when the event carries it (FAN_REPORT_FID), else
 *     note_entry(dir, name) (the engine stats the entry and decides);
 *   - events on a directory itself (name "."): note_object(dir);
 *   - FAN_Q_OVERFLOW / IN_Q_OVERFLOW: the overflow flag is set; the caller
 *     must run loafre__lfs_rescan (events were lost).
 * Events about directories outside the tree are noted all the same: the
 * engine drops them cheaply at flush (with a filesystem mark the kernel
 * reports the whole filesystem).
 *
 * Reading: loafre__watch_read drains everything available (256 KiB reads)
 * so the kernel queue stays short; call it whenever loafre__watch_fd is
 * readable. Reading promptly matters: the kernel merges queued events of
 * the same object and a full queue overflows.
 *
 * The watcher installs itself as the engine's directory callback (inode
 * marks and inotify modes), so it must be closed before the engine.
 * Library code: never logs; functions return 0 or a negative errno.
 * Not thread-safe.
 */
#ifndef LOAFRE_WATCH_H
#define LOAFRE_WATCH_H

#include <stdbool.h>
#include <stdint.h>

struct loafre__lfs;
struct loafre__watch;

enum loafre__watch_mode {
	LOAFRE__WATCH_AUTO = 0,           /* try the modes in order */
	LOAFRE__WATCH_FANOTIFY_FS = 1,    /* fanotify, filesystem mark */
	LOAFRE__WATCH_FANOTIFY_INODE = 2, /* fanotify, one inode mark per directory */
	LOAFRE__WATCH_INOTIFY = 3,        /* inotify, one watch per directory */
};

struct loafre__watch_stats {
	uint64_t events;     /* kernel events read */
	uint64_t notes;      /* notes handed to the engine */
	uint64_t overflows;  /* queue overflows seen */
	uint64_t reads;      /* read(2) calls that returned events */
	uint64_t marks;      /* inode marks / inotify watches added (modes 2, 3) */
	uint64_t mark_errors; /* directories that could not be marked/watched */
	int last_mark_error; /* negative errno of the last mark failure, 0 if none */
};

/* Parses "fanotify-fs", "fanotify-inode", "inotify" or "auto" (the values
 * of loafred's LOAFRE_WATCH_MODE). -EINVAL for anything else. */
int loafre__watch_parse_mode(const char *s, enum loafre__watch_mode *ret);

/* Starts watching the tree of `l` (whose root is the directory `root`).
 * `mode` forces one mode (no fallback) or AUTO. On failure returns the
 * errno of the last mode tried (e.g. -EXDEV, -EPERM, -ENOSPC for exhausted
 * inotify watches). */
/* Flags. */
#define LOAFRE__WATCH_UNLIMITED_QUEUE 0x1 /* fanotify: FAN_UNLIMITED_QUEUE (needs
					   * CAP_SYS_ADMIN; without it the system
					   * limit applies) */
int loafre__watch_open(struct loafre__lfs *l, const char *root, enum loafre__watch_mode mode,
		       unsigned flags, struct loafre__watch **ret_w);
/* Stops watching and removes the directory callback from the engine. */
void loafre__watch_close(struct loafre__watch *w);

/* The descriptor to poll for POLLIN. */
int loafre__watch_fd(const struct loafre__watch *w);
enum loafre__watch_mode loafre__watch_mode(const struct loafre__watch *w);
/* "fanotify filesystem mark", "fanotify inode marks" or "inotify". */
const char *loafre__watch_mode_name(const struct loafre__watch *w);

/* Reads every available event and notes it. Returns the number of events
 * read (0 if none was pending) or -errno (a note failed: -ENOMEM). */
int loafre__watch_read(struct loafre__watch *w);

/* True once after an overflow (the flag is cleared): the caller must run a
 * full reconciliation. */
bool loafre__watch_take_overflow(struct loafre__watch *w);

void loafre__watch_get_stats(const struct loafre__watch *w, struct loafre__watch_stats *ret);

#endif
