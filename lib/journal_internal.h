/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * journal_internal.h — what lib/journal.c (segments, commit, readers,
 * recovery) and lib/journal_users.c (readers' registry, clear, purge, GC)
 * share. Not installed. The on-disk format is specified at the head of
 * lib/journal.c.
 */
#ifndef LOAFRE_JOURNAL_INTERNAL_H
#define LOAFRE_JOURNAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/journal.h"

#define LOAFRE__JSTATE_SIZE 64      /* bytes of the `state` file */
#define LOAFRE__JSEG_HDR_SIZE 32    /* bytes of a segment header */
#define LOAFRE__JFRAME_HDR_SIZE 8   /* u32 len + u32 checksum before each record */
#define LOAFRE__JUSER_NAME_MAX 15   /* Lustre's CHANGELOG_USER_NAMELEN - 1 */
#define LOAFRE__JMDT_MAX 128        /* longest MDT name accepted */

/* The decoded `state` file (see journal.c for the byte layout). */
struct loafre__jstate {
	uint64_t generation;       /* bumped by every change; readers compare it */
	uint64_t last_index;       /* newest committed index (current_index) */
	uint64_t purged_index;     /* records <= this are purged (invisible) */
	uint64_t active_first;     /* first index of the active segment; 0: none yet */
	uint64_t valid_length;     /* committed bytes of the active segment */
	uint32_t flags;            /* reserved, 0 */
	uint32_t users_generation; /* bumped whenever the users file changes */
};

/* One registered reader as held in memory (a Lustre changelog user). */
struct loafre__juser {
	uint32_t num;                                /* N of "clN" */
	char name[LOAFRE__JUSER_NAME_MAX + 1];       /* "" when registered without a name */
	uint64_t cleared;                            /* highest index cleared */
	uint64_t last_time;                          /* unix time of registration or last clear */
	bool has_mask;                               /* registered with a mask */
	uint32_t mask;                               /* its mask when has_mask */
};

/* The decoded `users` file. */
struct loafre__jusers {
	uint32_t next_num;           /* number the next registration gets (never reused) */
	uint64_t purged;             /* durable copy of the purge horizon */
	struct loafre__juser *v;     /* readers in registration order (malloc'ed) */
	size_t n;                    /* entries in v */
	size_t cap;                  /* allocated entries in v */
};

struct loafre_journal {
	char *dir;                            /* journal directory path (malloc'ed) */
	char mdt[LOAFRE__JMDT_MAX];           /* MDT name from `meta` */
	int flags;                            /* LOAFRE_JOURNAL_* open flags */
	struct loafre_journal_options opts;   /* options with defaults applied */
	int dirfd;                            /* O_DIRECTORY fd of dir, for *at() calls */
	int lockfd;                           /* `lock`, flock target; -1 if unavailable */
	int statefd;                          /* `state`, O_RDWR when possible; -1 if missing */
	bool locked;                          /* this handle holds the flock now */

	/* Writer side. */
	int segfd;                            /* the active segment, O_RDWR; -1 if not open */
	uint64_t seg_first;                   /* first index of the segment segfd refers to */
	uint32_t seg_salt;                    /* its salt */
	bool need_recovery;                   /* run full recovery at the next commit */
	uint64_t known_gen;                   /* state generation this handle last wrote/checked */

	/* Queue of encoded frames awaiting commit (see journal.c "Frames"). */
	uint8_t *batch;                       /* frames, back to back */
	size_t batch_len;                     /* bytes used in batch */
	size_t batch_cap;                     /* bytes allocated */
	uint8_t *qauto;                       /* per queued record: 1 if index assigned at commit */
	size_t nq;                            /* records queued */
	size_t qauto_cap;                     /* entries allocated in qauto */

	/* Cached readers' registry and the effective mask derived from it. */
	struct loafre__jusers users;          /* last loaded users file */
	uint32_t users_gen;                   /* state.users_generation when loaded */
	uint32_t eff_mask;                    /* opts.mask | every reader's mask */
};

/* ---- journal.c ---------------------------------------------------------- */

/* Takes / releases the journal flock (blocking, EINTR-safe). */
int loafre__journal_lock(struct loafre_journal *j);
void loafre__journal_unlock(struct loafre_journal *j);

/* Reads the state without the lock, retrying torn reads. An empty or
 * missing state file reads as all zeros (fresh journal). -EBADMSG if it
 * stays invalid (a writer died mid-write: recovery will rebuild it). */
int loafre__journal_state_read(struct loafre_journal *j, struct loafre__jstate *ret_st);
/* Writes the state (under the lock). */
int loafre__journal_state_write(struct loafre_journal *j, const struct loafre__jstate *st);

/* Under the lock: reads the state and makes it trustworthy, running crash
 * recovery when it is invalid, disagrees with the segments, or `full` is
 * set (then also scanning past valid_length and newer segment files). */
int loafre__journal_recover_locked(struct loafre_journal *j, bool full,
				   struct loafre__jstate *ret_st);

/* Under the lock: deletes whole segments all of whose records are
 * <= st->purged_index, never the active one. */
int loafre__journal_purge_segments_locked(struct loafre_journal *j,
					  const struct loafre__jstate *st);

/* ---- journal_users.c ---------------------------------------------------- */

/* Loads the users file into *ret (an absent file is an empty registry). */
int loafre__jusers_load(struct loafre_journal *j, struct loafre__jusers *ret);
void loafre__jusers_free(struct loafre__jusers *u);
/* Reloads j->users and j->eff_mask (users_gen records which generation). */
int loafre__journal_users_refresh(struct loafre_journal *j, uint32_t users_gen);
/* The effective record mask for these options and readers. */
uint32_t loafre__journal_mask(const struct loafre_journal_options *opts,
			      const struct loafre__jusers *u);

#endif
