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
	uint64_t cleared;    /* highest index cleared upstream */
	uint64_t reopens;    /* llapi_changelog_start calls after the first */
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
 * Opens (or reopens, from the journal's last index + 1) the stream when
 * needed; at EOF or on an error it closes the stream so the next call
 * reopens. Returns the number queued, or -errno for an error the caller
 * should log (the source stays usable). */
int loafre__lustre_src_read(struct loafre__lustre_src *s, size_t max);

/* The caller committed the journal up to `last`: clear upstream, batched
 * (once LOAFRE__LUSTRE_CLEAR_BATCH records are clearable, or when `force`:
 * loafred forces once a second), never past `last`.
 * Returns 0 or -errno (kept for the next call). */
int loafre__lustre_src_committed(struct loafre__lustre_src *s, uint64_t last, bool force);

void loafre__lustre_src_get_stats(const struct loafre__lustre_src *s,
				  struct loafre__lustre_src_stats *ret);

#endif
