/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_paths.h — the broker's side of path annotations (internal;
 * docs/design/replication.md decisions 1 and 2, docs/design/broker.md
 * "Paths groups"): building a group's directory map (lib/repl_paths.h) by
 * walking the filesystem's root, in a thread of its own, and the
 * annotation a slot keeps for each record until it is sent.
 *
 * The walk records DIRECTORIES only, each with its FID as the records name
 * it: on a local filesystem the FID of its file handle
 * (name_to_handle_at, lib/localfs_fid.c: the calls loafred's emulated MDT
 * makes), on Lustre the FID in its handle (lib/index_fetch.h), the root
 * [0x200000007:0x1:0x0]. Skipped: entries on another device or at the
 * root of a mount, `.lustre` at a Lustre root, names the map refuses,
 * directories that moved or vanished while the walk ran (the changelog
 * after the position P, applied over the map, brings them), paths beyond
 * PATH_MAX. The map is loaded with loafre__paths_bulk_* and its positions
 * set to P (the group's read position per MDT, taken before the walk).
 *
 * Ownership: a build borrows the map until loafre__pbuild_finish (the
 * caller must not touch the map meanwhile); it copies everything else.
 * An annotation is one malloc'ed block (free()).
 */
#ifndef LOAFRE_BROKER_PATHS_H
#define LOAFRE_BROKER_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/config.h"
#include "loafre/record.h"
#include "repl_paths.h"

/* What a walk did. */
struct loafre__pwalk_stats {
	uint64_t dirs;     /* directories put in the map (the root not counted) */
	uint64_t skipped;  /* directories skipped (moved, vanished, other mounts, bad names) */
	uint64_t entries;  /* directory entries read */
	double seconds;    /* wall time of the walk and the load */
};

/* Walks `root` (type local or lustre) and loads p with its directories,
 * the positions of mdts[i] set to positions[i] (n >= 1). 0 or -errno (the
 * root cannot be opened, -ENOMEM, the map's errors: the map is then as
 * before, its transaction rolled back). */
int loafre__paths_walk(struct loafre__paths *p, const char *root, enum loafre_fs_type type,
		       const char *const *mdts, const uint64_t *positions, size_t n,
		       struct loafre__pwalk_stats *ret_stats);

struct loafre__pbuild;

/* Starts loafre__paths_walk in a new thread (signals blocked). 0 or -errno. */
int loafre__pbuild_start(struct loafre__paths *p, const char *root, enum loafre_fs_type type,
			 const char *const *mdts, const uint64_t *positions, size_t n,
			 struct loafre__pbuild **ret);
/* Asks the walk to stop soon (its result is then -ECANCELED, the map as
 * before). */
void loafre__pbuild_cancel(struct loafre__pbuild *b);
/* Whether the walk has finished (without waiting). */
bool loafre__pbuild_done(struct loafre__pbuild *b);
/* Waits for the walk, frees b, and returns its result and figures (stats
 * may be NULL). NULL b: 0. */
int loafre__pbuild_finish(struct loafre__pbuild *b, struct loafre__pwalk_stats *stats);

/* A record's annotation as a slot keeps it (the wire entry of the RECS
 * paths frame, lib/broker_proto.c): flags LOAFRE_RP_*, errors, the two
 * strings back to back in s (not NUL-terminated). */
struct loafre__bpann {
	uint32_t flags;     /* LOAFRE_RP_DIR, _VICTIM_DIR, _BARRIER */
	int32_t path_err;   /* 0 or -errno */
	int32_t spath_err;  /* 0 or -errno */
	uint16_t path_len;  /* bytes of the path at s */
	uint16_t spath_len; /* bytes of the spath at s + path_len */
	char s[];           /* path then spath */
};

/* The annotation of record r from loafre__paths_next's value rc and *a
 * (a NULL: rc applies to both paths). A RENME of a directory, a RENME over
 * a directory, and an RMDIR get LOAFRE_RP_BARRIER. NULL when out of
 * memory. */
struct loafre__bpann *loafre__bpann_make(const struct loafre_rec *r, int rc,
					 const struct loafre__paths_ann *a);
/* An annotation carrying only an error (-EXDEV: a record of another
 * filesystem's MDT; -ENODATA: read before the group asked for paths). */
struct loafre__bpann *loafre__bpann_error(int err);

#endif
