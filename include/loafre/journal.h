/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * loafre/journal.h — an emulated MDT's durable changelog.
 *
 * A journal is a directory holding one MDT's changelog as append-only
 * segments of Lustre-format records (layout, checksums and the recovery
 * algorithm are specified at the head of lib/journal.c). It has Lustre's
 * reader semantics: readers register (cl1, cl2, ... or clN-NAME), clear up to
 * an index, and records are purged only once every registered reader has
 * cleared them.
 *
 * Concurrency: any number of processes may open the same journal. Commits,
 * registrations, clears and purges are serialized by an flock on the
 * directory's lock file, so `loafre changelog_clear` may run while loafred
 * appends. Readers take no lock; they never see a record before it is
 * durable (committed under the journal's fsync policy).
 *
 * Ownership: a struct loafre_journal is owned by its opener and freed by
 * loafre_journal_close(). Readers borrow their journal: close them first.
 * A record returned by a reader borrows from the reader until its next call.
 * Handles are not thread-safe; use one per thread.
 */
#ifndef LOAFRE_JOURNAL_H
#define LOAFRE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "loafre/common.h"
#include "loafre/record.h"

#ifdef __cplusplus
extern "C" {
#endif

struct loafre_journal;
struct loafre_journal_reader;

enum loafre_fsync_policy {
	LOAFRE_FSYNC_COMMIT = 0, /* fsync at every commit: a committed record survives power loss */
	LOAFRE_FSYNC_NONE = 1,   /* leave flushing to the kernel: survives process crashes only */
};

struct loafre_journal_options {
	uint64_t segment_bytes;         /* start a new segment past this size; 0: 64 MiB */
	enum loafre_fsync_policy fsync; /* default LOAFRE_FSYNC_COMMIT */
	uint32_t mask;                  /* changelog_mask: types recorded; 0: Lustre's default */
	uint64_t gc_max_idle_time;      /* deregister readers idle longer (s); 0: off */
	uint64_t gc_max_idle_indexes;   /* deregister readers lagging more (records); 0: off */
};

/* Open flags. */
#define LOAFRE_JOURNAL_CREATE 0x1 /* create the directory and its files if missing */
#define LOAFRE_JOURNAL_WRITE 0x2  /* this handle will append */

/* Opens the journal in `dir` for the MDT `mdt` ("demo-MDT0000"; recorded on
 * creation and checked afterwards: -EXDEV if the directory belongs to
 * another MDT). opts may be NULL for defaults. With LOAFRE_JOURNAL_WRITE the
 * first commit runs crash recovery (see lib/journal.c). Returns 0, -ENOENT
 * (no journal and no CREATE), -EBADMSG (not a journal / corrupt metadata),
 * or another negative errno. */
LOAFRE_API int loafre_journal_open(const char *dir, const char *mdt, int flags,
				   const struct loafre_journal_options *opts,
				   struct loafre_journal **ret_journal);
LOAFRE_API void loafre_journal_close(struct loafre_journal *j);

/* The MDT name this journal belongs to. Borrowed from j. */
LOAFRE_API const char *loafre_journal_mdt(const struct loafre_journal *j);

/* ---- writing ------------------------------------------------------------ */

/* Queues a record for the next commit. rec->index 0 means "assign the next
 * index at commit"; a non-zero index is kept and must exceed every index
 * already in the journal (checked at commit: -ERANGE). Records whose type is
 * outside the effective mask (changelog_mask widened by readers' masks)
 * are dropped: returns 0 for queued, 1 for masked out, or -EINVAL for an
 * unencodable record, -ENOMEM. */
LOAFRE_API int loafre_journal_append(struct loafre_journal *j, const struct loafre_rec *rec);

/* Number of records queued and not yet committed. */
LOAFRE_API size_t loafre_journal_pending(const struct loafre_journal *j);

/* Group commit: takes the journal lock, assigns indices, writes every queued
 * record, fsyncs per policy, publishes them to readers, releases the lock.
 * When it returns >= 0 (the number committed), every queued record is
 * durable and *ret_last (if non-NULL) is the journal's last index. On error
 * nothing queued is published; the queue is kept so the caller may retry. */
LOAFRE_API int loafre_journal_commit(struct loafre_journal *j, uint64_t *ret_last);

/* ---- reading ------------------------------------------------------------ */

/* Opens a reader positioned at the first record with index >= start
 * (0 or 1: the oldest retained record). */
LOAFRE_API int loafre_journal_reader_open(struct loafre_journal *j, uint64_t start,
					  struct loafre_journal_reader **ret_reader);
LOAFRE_API void loafre_journal_reader_close(struct loafre_journal_reader *r);

/* Next committed record. Returns 0 and fills *ret_rec (and, if non-NULL,
 * *ret_raw / *ret_len with the record's Lustre binary bytes), both borrowed
 * until the next call; -EAGAIN when there is no further committed record
 * yet; -EIO on a corrupt committed record; other negative errno. If records
 * at the reader's position were purged meanwhile, it continues at the oldest
 * retained one. */
LOAFRE_API int loafre_journal_reader_next(struct loafre_journal_reader *r,
					  struct loafre_rec *ret_rec, const void **ret_raw,
					  size_t *ret_len);

/* A file descriptor that polls readable when new records may have been
 * committed (an inotify descriptor owned by the reader; after it fires call
 * reader_next until -EAGAIN, then loafre_journal_reader_rearm). */
LOAFRE_API int loafre_journal_reader_fd(struct loafre_journal_reader *r);
LOAFRE_API int loafre_journal_reader_rearm(struct loafre_journal_reader *r);

/* Blocks until new records may be available or timeout_ms passes
 * (-1: forever). Returns 1 (maybe new records), 0 (timeout), or -errno
 * (-EINTR if a signal arrived). */
LOAFRE_API int loafre_journal_reader_wait(struct loafre_journal_reader *r, int timeout_ms);

/* ---- state -------------------------------------------------------------- */

struct loafre_journal_info {
	uint64_t first_index; /* oldest retained record, 0 when empty */
	uint64_t last_index;  /* current_index: last record ever committed, 0 if none */
	uint64_t segments;    /* segment files on disk */
	uint64_t bytes;       /* bytes of segment files on disk */
	uint32_t mask;        /* changelog_mask in force */
};
LOAFRE_API int loafre_journal_info(struct loafre_journal *j, struct loafre_journal_info *ret_info);

/* ---- readers (Lustre changelog users) ------------------------------------ */

#define LOAFRE_CL_USER_ID_MAX 64 /* "cl" + number + "-" + name, NUL included */

struct loafre_cl_user {
	char id[LOAFRE_CL_USER_ID_MAX]; /* "cl3" or "cl3-name" */
	uint32_t num;                   /* 3 */
	uint64_t cleared;               /* highest index cleared (its "index") */
	uint64_t last_time;             /* unix time of registration or last clear */
	bool has_mask;                  /* registered with -m */
	uint32_t mask;                  /* its record-type mask when has_mask */
};

/* Registers a reader (Lustre's changelog_register). name (NULL for none)
 * gives the id "clN-name"; as in Lustre it starts with a letter, continues
 * with letters, digits, '_' or '-' (-EINVAL otherwise), is at most 15 bytes
 * (-ENAMETOOLONG) and unique (-EEXIST). mask NULL for none; a reader's mask
 * widens the journal's effective mask. The new reader's cleared index is the
 * current index: it holds back no record already written. Writes the id into
 * ret_id (cap >= LOAFRE_CL_USER_ID_MAX). */
LOAFRE_API int loafre_journal_register(struct loafre_journal *j, const char *name,
				       const uint32_t *mask, char *ret_id, size_t cap);

/* As loafre_journal_register, but the new reader starts with `cleared` as
 * its cleared index, so it holds back every record after it (a consumer
 * group that starts at the oldest record, or at an index). 0 means the
 * oldest retained record (values at or below the purge point are raised to
 * it), LOAFRE_JOURNAL_FROM_CURRENT the current index; beyond the current
 * index is -EINVAL. Decided under the journal lock, so no purge can slip
 * in between. */
#define LOAFRE_JOURNAL_FROM_CURRENT UINT64_MAX
LOAFRE_API int loafre_journal_register_from(struct loafre_journal *j, const char *name,
					    const uint32_t *mask, uint64_t cleared, char *ret_id,
					    size_t cap);

/* Deregisters by id ("cl3", "cl3-name": the number counts) or, when
 * id_or_name does not start with "cl<digit>", by exact name. -ENOENT if
 * none. Then purges what no remaining reader needs; when the last reader
 * goes, every record is purged, as in Lustre. (While no reader was ever
 * registered, an emulated MDT keeps every record, where Lustre would record
 * nothing, so a reader registering later finds the history.) */
LOAFRE_API int loafre_journal_deregister(struct loafre_journal *j, const char *id_or_name);

/* Lustre's changelog_clear (mdd_changelog_clear): endrec beyond the current
 * index is -EINVAL (checked first); endrec 0 means the current index; an
 * unknown reader is -ENOENT; endrec below the reader's cleared index is
 * -EINVAL (equal is fine). `id` is "clN" or "clN-name" (only the number
 * counts, as in Lustre). Then purges whole segments no reader needs. */
LOAFRE_API int loafre_journal_clear(struct loafre_journal *j, const char *id, uint64_t endrec);

/* Snapshot of the registered readers, in registration order. *ret_users is
 * malloc'ed (free() it); may be NULL when *ret_n is 0. */
LOAFRE_API int loafre_journal_users(struct loafre_journal *j, struct loafre_cl_user **ret_users,
				    size_t *ret_n);

/* Writes the users table exactly as Lustre's mdd.*.changelog_users prints
 * it (see docs/lustre-facts.md), idle times computed against `now`. */
LOAFRE_API int loafre_journal_users_print(struct loafre_journal *j, FILE *out, time_t now);

/* Idle-reader garbage collection per the options (off when both are 0):
 * deregisters readers idle longer than gc_max_idle_time or lagging more than
 * gc_max_idle_indexes records behind the current index. Returns the number
 * deregistered. */
LOAFRE_API int loafre_journal_gc(struct loafre_journal *j, time_t now);

#ifdef __cplusplus
}
#endif

#endif
