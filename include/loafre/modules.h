/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * loafre/modules.h — the per-group processing pipeline of the broker: type,
 * FID and subtree filters, cancellation of compensating operations, collapse
 * of redundant records and the field mask, with the ack-coverage map that
 * lets a group's position advance over the records it never sees.
 *
 * Pure library code: no I/O, no ZeroMQ. The semantics are specified at the
 * head of lib/modules.c and in docs/modules.md.
 *
 * Configuration: an ordered list of module specs, each "NAME" or
 * "NAME = VALUE":
 *   types = MASK            keep records whose type is in the mask
 *                           (loafre_cl_mask_parse syntax, base = all)
 *   fid = FID [FID...]      keep records whose tfid, pfid, sfid or spfid is
 *                           one of these (at most LOAFRE_MOD_FIDS_MAX)
 *   subtree = FID           keep records about objects under that directory
 *                           (the `under` callback decides)
 *   cancel                  drop CREAT..UNLNK / MKDIR..RMDIR pairs
 *   collapse                drop redundant data/attribute records
 *   fields = F [F...]       F in jobid uidgid nid openmode xattr, or "none":
 *                           remap every record to exactly those extensions
 *
 * Batches: loafre_modules_process() takes the records of ONE MDT in index
 * order (a batch window) and returns which of them to deliver and, for each
 * dropped one, which delivered record covers its ack (or that it is acked
 * at once). Records are identified by their position in the input array.
 *
 * Ownership: the pipeline owns its configuration and its scratch memory.
 * The output of loafre_modules_process() points into the pipeline and into
 * the caller's input array: it is valid until the next call of
 * loafre_modules_process() or loafre_modules_free() on the same pipeline,
 * and while the input array (and the names it borrows) is. A pipeline is not
 * thread-safe; use one per thread (or lock).
 */
#ifndef LOAFRE_MODULES_H
#define LOAFRE_MODULES_H

#include <stddef.h>
#include <stdint.h>

#include "loafre/common.h"
#include "loafre/record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LOAFRE_MOD_MAX 16            /* modules per pipeline */
#define LOAFRE_MOD_FIDS_MAX 1024     /* FIDs in one `fid` module */
#define LOAFRE_MOD_BATCH_MAX 65536   /* records per loafre_modules_process() */
#define LOAFRE_MOD_SPEC_MAX 65536    /* bytes in one module spec */
/* Cover value of an input record that is acked as soon as the batch is
 * delivered (dropped by a filter or cancelled: nothing absorbs it). */
#define LOAFRE_MOD_ACK_NOW UINT32_MAX

/* Answers whether `obj` lies under the directory `dir` (at any depth):
 * 1 yes, 0 no, negative errno on failure (which fails the batch). */
typedef int (*loafre_modules_under_fn)(void *ctx, const struct loafre_fid *dir,
				       const struct loafre_fid *obj);

struct loafre_modules; /* opaque pipeline */

/* The result of one batch. Positions index the caller's input array. */
struct loafre_modules_out {
	size_t n;                /* records in the input batch */
	size_t ndeliver;         /* records to deliver */
	const uint32_t *deliver; /* [ndeliver] their input positions, ascending */
	/* [ndeliver] the records to deliver: &in[deliver[k]] itself, or a
	 * pipeline-owned remapped copy (fields module) whose name/sname still
	 * borrow from in[deliver[k]]. */
	const struct loafre_rec *const *rec;
	/* [n] per input position: the position itself if delivered,
	 * LOAFRE_MOD_ACK_NOW, or the position of the delivered record whose ack
	 * covers it. */
	const uint32_t *cover;
	size_t nacknow;          /* records acked at once */
	const uint32_t *acknow;  /* [nacknow] their positions, ascending */
	/* Acked-by lists, see loafre_modules_acked_by(): the positions acked by
	 * delivered record k are acked[acked_start[k] .. acked_start[k+1]). */
	const uint32_t *acked_start; /* [ndeliver + 1] */
	const uint32_t *acked;       /* [n - nacknow] */
};

/* Builds a pipeline from `nspecs` module specs (order matters). `under` and
 * `ctx` are used by a `subtree` module (required then, else may be NULL);
 * ctx is borrowed for the pipeline's lifetime. On a bad spec returns
 * -EINVAL (-E2BIG for a limit) and writes a message naming the module and
 * the bad value to err[0..errlen) (NUL-terminated, truncated; err may be
 * NULL when errlen is 0). Returns 0 and *ret_p (free with
 * loafre_modules_free) on success, or -ENOMEM. */
LOAFRE_API int loafre_modules_new(const char *const *specs, size_t nspecs,
				  loafre_modules_under_fn under, void *ctx, char *err,
				  size_t errlen, struct loafre_modules **ret_p);

/* Frees a pipeline (NULL accepted). Invalidates its last output. */
LOAFRE_API void loafre_modules_free(struct loafre_modules *p);

/* Runs the pipeline over in[0..n): the records of one MDT with strictly
 * increasing indices. Writes *ret_out on success. Returns 0, -E2BIG if
 * n > LOAFRE_MOD_BATCH_MAX, -EINVAL if the indices are not increasing,
 * -ENOMEM, or the negative errno of the `under` callback. Scratch memory
 * grows to the largest batch seen, never per record. */
LOAFRE_API int loafre_modules_process(struct loafre_modules *p, const struct loafre_rec *in,
				      size_t n, struct loafre_modules_out *ret_out);

/* The input positions that become acked when delivered record k
 * (0 <= k < out->ndeliver) is acked: its own position and every position
 * it covers, ascending. Returns 0 and writes *ret_pos / *ret_count, or
 * -EINVAL if k is out of range. */
LOAFRE_API int loafre_modules_acked_by(const struct loafre_modules_out *out, size_t k,
				       const uint32_t **ret_pos, size_t *ret_count);

#ifdef __cplusplus
}
#endif

#endif
