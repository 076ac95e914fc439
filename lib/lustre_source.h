/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * lustre_source.h — reading a real Lustre MDT's changelog (internal).
 *
 * One source per MDT. It reads records with liblustreapi
 * (llapi_changelog_start with FOLLOW|JOBID|EXTRA_FLAGS, extra flags
 * UIDGID|NID|OMODE|XATTR; recv/free; get_fd for poll; fini) and appends
 * them, with their Lustre indices, to the MDT's mirror journal in loafre.
 * After the caller has committed that journal, it clears the MDT upstream
 * with llapi_changelog_clear — batched, and never beyond the journal's last
 * committed index: a record leaves the MDT only once loafre holds it
 * durably. Its position is the mirror journal's last index, so a restart,
 * an EOF, an error or an MDT restart reopens at last + 1.
 *
 * Built with the real liblustreapi when meson finds it (feature `lustre`),
 * and in the tests against tests/fake_lustreapi (same signatures, records
 * served from a fixture). Without either, lib/lustre_source_none.c makes
 * every call -EOPNOTSUPP and loafre__lustre_available() false.
 *
 * Ownership: the source borrows the journal (opened LOAFRE_JOURNAL_WRITE),
 * which must outlive it. Not thread-safe.
 */
#ifndef LOAFRE_LUSTRE_SOURCE_H
#define LOAFRE_LUSTRE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/journal.h"

struct loafre__lustre_src;

#define LOAFRE__LUSTRE_CLEAR_BATCH 1024

struct loafre__lustre_src_stats {
	uint64_t received;   /* records received from the MDT */
	uint64_t appended;   /* queued into the mirror journal */
	uint64_t skipped;    /* duplicates (index <= position) not appended */
	uint64_t masked;     /* dropped by the journal's mask (open it with mask ALL) */
	uint64_t bad;        /* undecodable records (or index 0), skipped */
	uint64_t position;   /* highest index taken: reading resumes after it */
	uint64_t cleared;    /* highest index cleared upstream by this source */
	uint64_t clears;     /* successful llapi_changelog_clear calls */
	uint64_t reopens;    /* successful llapi_changelog_start calls after the first */
	int last_error;      /* last negative errno from liblustreapi, 0 if none */
};

bool loafre__lustre_available(void);

/* mdt: "fsname-MDT0000"; user: the registered reader ("cl1"). Does not
 * start reading yet (call read). */
int loafre__lustre_src_open(const char *mdt, const char *user, struct loafre_journal *j,
			    struct loafre__lustre_src **ret_src);
void loafre__lustre_src_close(struct loafre__lustre_src *s);

/* A descriptor to poll for readability, or -1 while no changelog stream is
 * open (then call read again after a short delay: it reopens). */
int loafre__lustre_src_fd(const struct loafre__lustre_src *s);

/* Receives up to `max` available records and queues them in the journal.
 * Never blocks: it stops when the descriptor is not readable and llapi's
 * buffer is empty (then poll loafre__lustre_src_fd). Opens (or reopens, from
 * the journal's last index + 1; 0, the oldest record, for an empty journal)
 * the stream when needed; at EOF or on an error it closes the stream so the
 * next call reopens. A record whose index is not above the position (a
 * duplicate after a reopen) is skipped. Returns the number queued, or -errno
 * for an error the caller should log (the source stays usable; records
 * queued before the error stay queued: commit them as usual). */
int loafre__lustre_src_read(struct loafre__lustre_src *s, size_t max);

/* The caller committed the journal up to `last` (loafre_journal_commit's
 * *ret_last): clear upstream, batched (once LOAFRE__LUSTRE_CLEAR_BATCH
 * records are clearable, or when `force`: loafred forces once a second),
 * never past `last` nor past the source's position, never below what it
 * cleared before. Returns 0 or -errno (-ENOENT: the changelog user is not
 * registered on the MDT; kept in last_error; reading is unaffected and the
 * next call retries). */
int loafre__lustre_src_committed(struct loafre__lustre_src *s, uint64_t last, bool force);

/* Resolves a FID to its path relative to the mount root with
 * llapi_fid2path (device: the fsname or the client mount point); the object
 * itself is also reachable as <mount>/.lustre/fid/[FID]. Writes the
 * NUL-terminated path into ret_path[0..cap). Returns 0, -ENOENT,
 * -ENAMETOOLONG (cap too small) or another -errno. */
int loafre__lustre_fid2path(const char *device, const struct loafre_fid *fid, char *ret_path,
			    size_t cap);

void loafre__lustre_src_get_stats(const struct loafre__lustre_src *s,
				  struct loafre__lustre_src_stats *ret);

#endif
