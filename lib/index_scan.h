/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_scan.h — initial population of the metadata index: `loafre scan FS`
 * (internal; issue 5, docs/index.md "Scan and hand-over").
 *
 * A parallel walk of the tree (N threads listing directories with
 * getdents64 and statx-ing every entry relative to its directory, FIDs
 * from file handles exactly as loafred's emulated MDT computes them)
 * feeding ONE writer — the calling thread, the only user of the store —
 * in large transactions. It never leaves the filesystem of the root
 * (mount points are neither stored nor entered) and takes entries that
 * vanish during the walk in its stride.
 *
 * Hand-over to the changelog, without a gap:
 *   1. position: note each MDT's changelog position P BEFORE the walk
 *      (register the index consumer's reader / group first, so records
 *      after P are retained; P = the last index it has seen, e.g. the
 *      journal's last index or the group's cleared index);
 *   2. scan: loafre__scan(..., positions = P) — the store is cleared, the
 *      tree loaded, and P written as the store's position in the last
 *      transaction (a store without positions is an interrupted scan:
 *      scan again);
 *   3. apply: feed records from P + 1 on (lib/index_apply.h skips those at
 *      or below the stored position).
 * Every change made during the walk has a record after P. The walk may
 * already show its effect: applying such a record again is harmless,
 * because apply is idempotent — it re-reads the object's current state
 * instead of trusting the record's — and the records that follow bring
 * the store to the tree's state.
 *
 * Ownership: the scanner borrows the store for the duration of the call;
 * strings handed to the progress callback are not retained.
 */
#ifndef LOAFRE_INDEX_SCAN_H
#define LOAFRE_INDEX_SCAN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index_store.h"
#include "loafre/config.h"

#define LOAFRE__SCAN_MAX_THREADS 256u
#define LOAFRE__SCAN_DEFAULT_BATCH 50000u
#define LOAFRE__SCAN_MAX_BATCH 10000000u

/* What the progress callback sees (also the final statistics). */
struct loafre__scan_progress {
	uint64_t entries;    /* entries written to the store (root included) */
	uint64_t dirs;       /* directories listed */
	uint64_t bytes;      /* Σ st_size of the entries written */
	uint64_t vanished;   /* entries or directories gone before they were read */
	uint64_t mounts;     /* mount points skipped (another filesystem) */
	uint64_t errors;     /* directories or entries not readable (skipped) */
	uint64_t commits;    /* transactions committed */
	double elapsed;      /* seconds since the start */
	double rate;         /* entries per second since the start */
	bool done;           /* last call: the walk is complete and committed */
};

typedef void (*loafre__scan_progress_fn)(void *ctx, const struct loafre__scan_progress *p);

struct loafre__scan_opts {
	enum loafre_fs_type type;  /* local (emulated MDT FIDs) or Lustre (its FIDs) */
	unsigned threads;          /* walkers; 0: number of online CPUs (max 256) */
	size_t batch;              /* entries per transaction; 0: 50000 */
	uint32_t mdt;              /* MDT index stored with each entry */
	/* positions written in the final transaction (hand-over, step 2) */
	const char *const *position_mdts; /* MDT names ("fs-MDT0000") */
	const uint64_t *positions;        /* their changelog indices */
	size_t n_positions;               /* entries of both arrays */
	loafre__scan_progress_fn progress; /* called from the calling thread, or NULL */
	void *progress_ctx;        /* its argument */
	unsigned progress_ms;      /* interval between calls; 0: 200 */
	volatile sig_atomic_t *interrupted; /* non-zero: stop (-EINTR), or NULL */
};

/* Clears the store, then loads every entry below `root` (a directory: the
 * tree of a local filesystem or a Lustre client mount) with its links, the
 * root set with loafre__idx_set_root, and finally the positions. The store
 * must not be in a transaction. Returns 0, -EINTR when interrupted (what
 * was committed stays, without positions), or -errno (the open
 * transaction rolled back). *ret (may be NULL) gets the final figures on
 * every return. */
int loafre__scan(struct loafre__idx *x, const char *root, const struct loafre__scan_opts *o,
		 struct loafre__scan_progress *ret);

#endif
