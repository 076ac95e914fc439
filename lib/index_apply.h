/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_apply.h — applying changelog records to the metadata index
 * (internal; issue 5, docs/index.md "Applying records"). The semantics of
 * each record type are the table at the head of lib/index_apply.c.
 *
 * An applier turns a batch of records of ONE MDT (in index order, as the
 * broker or a journal reader delivers them) into one store transaction:
 * records at or below the store's position for that MDT are skipped (at
 * least once delivery), the attributes of every object the batch touches
 * are fetched at once (lib/index_fetch.h, one loafre__fetch_many per
 * batch, each FID once), the changes applied, and the new position written
 * in the same transaction. Ack the records only after apply returned 0.
 *
 * Idempotent: the applier trusts a record for the namespace (which name
 * in which directory names which object) and the filesystem for
 * attributes (their current values, whatever record is applied), so a
 * record applied over a state that already shows its effect (after a
 * scan, lib/index_scan.h) changes nothing lasting.
 *
 * Ownership: the applier borrows the store and the fetcher (both must
 * outlive it); records are read during the call only. Not thread-safe.
 */
#ifndef LOAFRE_INDEX_APPLY_H
#define LOAFRE_INDEX_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index_fetch.h"
#include "index_store.h"
#include "loafre/record.h"

struct loafre__apply;

/* Largest batch accepted by loafre__apply_batch. */
#define LOAFRE__APPLY_MAX_BATCH 1000000u
/* Records loafred's indexer applies in one transaction, at most (it merges
 * queued batches of one MDT up to this many; lib/indexer.c); the ingest
 * bench (lib/bench_index_apply.c) applies batches of this size, so that it
 * measures what the indexer does when it lags. */
#define LOAFRE__APPLY_MERGE_MAX 50000u

/* Attributes of a FID when there is no fetcher: 0 (ret written), -ENOENT
 * (gone) or another -errno (treated as "unknown"). */
typedef int (*loafre__apply_synth_fn)(void *ctx, const struct loafre_fid *fid,
				      struct loafre__idx_attr *ret);

struct loafre__apply_opts {
	const char *mdt;              /* "fs-MDT0000": the position's key (copied) */
	uint32_t mdt_index;           /* stored with the entries written */
	struct loafre__fetch *fetch;  /* the filesystem's fetcher (borrowed), or
				       * NULL: no fetch (benchmarks, tests) */
	/* Without a fetcher: attributes come from synth when non-NULL; else a
	 * created object gets what its record implies (type from the record
	 * type, uid/gid from CLFE_UIDGID, times from cr_time) and nothing is
	 * refreshed. */
	loafre__apply_synth_fn synth; /* or NULL */
	void *synth_ctx;              /* synth's argument */
};

/* Counters over the committed batches. */
struct loafre__apply_stats {
	uint64_t applied;     /* records applied (the position went past them) */
	uint64_t skipped;     /* duplicates: at or below the position, or out of order */
	uint64_t fetches;     /* FIDs fetched (each once per batch) */
	uint64_t gone;        /* of those, found gone */
	uint64_t errors;      /* of those, not fetchable for another reason (as gone) */
	uint64_t orphaned;    /* links skipped: the parent is neither in the store nor
			       * resolvable to a path inside the tree */
	uint64_t resolved;    /* directories added while resolving an unknown parent */
	uint64_t conflicts;   /* changes the store refused as contradicting a newer
			       * state (a replay over a scan); the records after
			       * them converge */
	uint64_t batches;     /* transactions committed */
};

int loafre__apply_open(struct loafre__idx *x, const struct loafre__apply_opts *o,
		       struct loafre__apply **ret);
void loafre__apply_close(struct loafre__apply *a);

/* Applies recs[0..n) (n <= LOAFRE__APPLY_MAX_BATCH) in one transaction
 * (the store must not be in one). Returns 0 — also when every record was a
 * duplicate (then nothing is written) — or -errno with nothing applied
 * (the transaction rolled back: retry the same records later; a failure
 * to fetch that may pass, -ENOMEM, -EMFILE, -EIO, ..., is such an error).
 * *ret_position (may be NULL) gets the store's position afterwards. */
int loafre__apply_batch(struct loafre__apply *a, const struct loafre_rec *recs, size_t n,
			uint64_t *ret_position);

void loafre__apply_get_stats(const struct loafre__apply *a, struct loafre__apply_stats *ret);

#endif
