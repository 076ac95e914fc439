/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_ops.h — replication records turned into destination operations
 * (issue 6, part 3; the operation table of docs/design/replication.md,
 * decision 5). Internal, used by the worker (lib/repl_worker.c) and tested
 * alone (tests/unit/test_repl_worker.c).
 *
 * Two steps:
 *   loafre__rop_map    record + annotated paths (+ the source's current
 *                      attributes) → at most two planned operations, paths
 *                      relative to the rule's source (the rule's match and
 *                      excludes decide: a rename out of scope is an unlink,
 *                      into scope a sync). Pure: no I/O.
 *   loafre__rop_apply  one planned operation on one destination, with the
 *                      table's fallbacks (missing → copy, exists → attrs),
 *                      or the rule's command template for the action.
 *
 * Directories and the rule: a directory is in scope when it is under a
 * source, not excluded and its record type is selected (match_* patterns
 * and the size/owner/group/age conditions concern the objects in it:
 * directories are created as the parents of matching files anyway).
 *
 * Workers apply records of different objects concurrently (the broker
 * orders per object; directory renames and RMDIR are barriers), so apply
 * also copes with what others did first: an object renamed since its
 * record is made at its current place (loafre__rop_relocate) and a
 * directory rename then merges the destination's two directories; a file
 * rename whose old name the destination lacks makes the new name from the
 * source (at its current place when a directory above it was renamed
 * since); after a file rename the file is made as the source has it
 * (content by size and mtime, attributes); an unlink or rename of a name
 * the source has again in the same directory leaves that name to the new
 * object's records; an unlink sets the directory's times from the source.
 * loafre__rop_apply places an operation again for each destination (the
 * source may move on between two). A directory rename whose new name the
 * source no longer has moves the destination's directory to where the
 * source has it now (merged, never removed); an unlink or rename naming an
 * entry by its directory's earlier path finds it where that directory is
 * now (by the directory's FID); a parent that is a file at the destination
 * where the source has a directory is replaced; a write applied at a name
 * the destination still gives another file with several names makes a
 * copy rather than rewrite that file's inode; a name only a relocation
 * made (the object was there then, no record names it) goes when a later
 * record shows the object elsewhere.
 *
 * Ownership: plans borrow their strings from the paths given to map; the
 * context borrows everything it points to.
 */
#ifndef LOAFRE_REPL_OPS_H
#define LOAFRE_REPL_OPS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/consumer.h"
#include "loafre/record.h"
#include "repl_dest.h"
#include "rule.h"

struct loafre__fetch;
struct loafre__rop_ctx;
struct loafre__rop_moved;

/* Planned operation kinds (decision 5's table). */
enum loafre__rop {
	LOAFRE__ROP_NONE = 0,
	LOAFRE__ROP_MKDIR,     /* MKDIR: mkdir + attrs (exists: attrs) */
	LOAFRE__ROP_CREATE,    /* CREAT, MKNOD, SLINK: the entry as the source has it now */
	LOAFRE__ROP_CONTENT,   /* CLOSE, MTIME, TRUNC: copy if size/mtime differ (missing: copy) */
	LOAFRE__ROP_LINK,      /* HLINK: link from another current link (none there: copy) */
	LOAFRE__ROP_RENAME,    /* RENME in scope: rel2 → rel (rel2 missing: sync rel) */
	LOAFRE__ROP_UNLINK,    /* UNLNK, or a file renamed out of scope: unlink rel */
	LOAFRE__ROP_RMDIR,     /* RMDIR, or a directory renamed out of scope */
	LOAFRE__ROP_SETATTR,   /* SATTR, CTIME: mode, owner, times from the source */
	LOAFRE__ROP_XATTR,     /* XATTR: xattrs from the source */
	LOAFRE__ROP_SYNC,      /* renamed into scope, or a retry: sync_entry, a directory
				* with its subtree (sync_tree) */
	LOAFRE__ROP_N
};

/* Name of a planned kind ("mkdir", "create", ...). */
const char *loafre__rop_name(enum loafre__rop op);

/* One planned operation. */
struct loafre__rop_plan {
	enum loafre__rop op;  /* what */
	unsigned src;         /* index of the rule's source holding fspath */
	const char *fspath;   /* relative to the filesystem's root, leading '/' */
	const char *rel;      /* relative to the source (= to the destination root); "" the
			       * source itself */
	unsigned src2;        /* RENAME: the old path's source */
	const char *fspath2;  /* RENAME: the old path (else NULL) */
	const char *rel2;     /* RENAME: the old path relative to its source */
	bool is_dir;          /* the object is a directory */
};

#define LOAFRE__ROP_MAX 2 /* operations one record maps to, at most */

/* The source of the rule holding fspath ("/a/b"): its index, and the path
 * relative to it (borrowed from fspath). -ENOENT: under no source. */
int loafre__rop_source_of(const struct loafre__rule *r, const char *fspath, unsigned *ret_src,
			  const char **ret_rel);

/* Plans rec (annotated with p; for a nameless record the caller may put
 * the object's resolved current path in p->path) against rule r. attr: the
 * source object's current attributes, or NULL (unknown or gone: the
 * conditions are taken as met). Fills out[0..n) and returns n (0: nothing
 * to do at the destination), or:
 *   -EXDEV    a record of another filesystem (ack it untouched)
 *   -ENODATA  a nameless record about an object whose path the caller
 *             must resolve (CLOSE, MTIME, TRUNC, SATTR, CTIME, XATTR of a
 *             file): call again with p->path set, path_err 0
 * Records that name no object the rule replicates (MARK, OPEN, ...) give
 * 0, as do unresolvable paths (-ENOENT: outside the mapped tree). */
int loafre__rop_map(const struct loafre__rule *r, const struct loafre_rec *rec,
		    const struct loafre_rec_paths *p, const struct loafre__rule_attr *attr,
		    struct loafre__rop_plan out[LOAFRE__ROP_MAX]);

/* Decision 4 when the planned source path no longer holds the object
 * (renamed since, itself or an ancestor): MKDIR, CREATE, CONTENT, LINK,
 * SETATTR, XATTR and SYNC are moved to the object's current path (its FID,
 * rec's tfid, sfid for a RENME, through c->fetch; written to buf, cap
 * bytes, which op then borrows), so its content is not lost; a RENAME of
 * a directory at the destination later merges what was made there
 * (loafre__rop_apply). Returns 1 (keep op, maybe moved) or 0 (drop it: the
 * object is gone, or now out of the rule's scope; a later record of it
 * says so). Other kinds: 1, unchanged. */
int loafre__rop_relocate(const struct loafre__rop_ctx *c, const struct loafre_rec *rec,
			 struct loafre__rop_plan *op, char *buf, size_t cap);

/* Whether the rule's deletions must keep destination entry rel (excluded
 * under one of its sources): a struct loafre__dest_opts protect callback,
 * arg the struct loafre__rule. */
bool loafre__rop_protect(void *arg, const char *rel, bool is_dir);

/* A struct loafre__sync_opts filter for source `src` of rule r. */
struct loafre__rop_filter_arg {
	const struct loafre__rule *rule; /* the rule */
	unsigned src;                    /* its source */
	int src_root;                    /* the source's directory (for the conditions'
					  * attributes), or -1 */
};
bool loafre__rop_filter(void *arg, const char *rel, bool is_dir);

#define LOAFRE__ROP_CMD_TIMEOUT_MS 600000u /* a template command, then SIGKILL */

/* What loafre__rop_apply needs besides the destination. */
struct loafre__rop_ctx {
	const struct loafre__rule *rule;  /* the rule */
	const char *fs_path;              /* the filesystem's path (absolute) */
	const int *src_roots;             /* per source: its directory, O_PATH (or -1: missing) */
	struct loafre__fetch *fetch;      /* current paths of FIDs (other hard links), or NULL */
	pthread_mutex_t *fetch_lock;      /* serializes fetch (NULL: not shared) */
	unsigned cmd_timeout_ms;          /* template commands (0: LOAFRE__ROP_CMD_TIMEOUT_MS) */
	uint64_t sync_threads;            /* sync_tree walkers for SYNC of a directory (0: 2) */
	struct loafre__rop_moved *moved;  /* where relocated objects were made, or NULL */
	uint64_t orphan_age_ms;           /* a relocated name is checked by loafre__rop_idle
					   * once this old (0: LOAFRE__ROP_ORPHAN_AGE_MS) */
};

/* How old a name loafre__rop_relocate made is before an idle worker checks
 * whether it is an orphan (the records that may still name it have had
 * time to arrive). */
#define LOAFRE__ROP_ORPHAN_AGE_MS 2000u

/* Where loafre__rop_relocate made objects ((FID, path) pairs, with the
 * directory's FID), so that their later RENME/UNLNK/RMDIR/HLINK also find
 * them there when the source's records skip the name they were made under
 * (a source that merges renames: the local one). At most
 * LOAFRE__ROP_MOVED_MAX entries, oldest dropped. Thread-safe. */
#define LOAFRE__ROP_MOVED_MAX 4096u
struct loafre__rop_moved;
int loafre__rop_moved_new(struct loafre__rop_moved **ret);
void loafre__rop_moved_free(struct loafre__rop_moved *m);
/* Work kept for later that the destination may allow now: the names of
 * files with several names that were not at d yet (linked again), the
 * times of directories that could not be read from the source at their
 * destination path (set again). Both are otherwise retried after a
 * directory rename this process applies; another worker process of the
 * rule may have applied it instead. And, when quiet (the worker holds no
 * record and began none for LOAFRE__ROP_ORPHAN_AGE_MS: none of its records
 * is on its way), names this process made at an object's current path that
 * no record names and that the source no longer has (orphans: the
 * object's later records went to another worker process, or the local
 * source merged them away) are removed from d or moved to their place.
 * di is d's index in the rule (what is done is remembered per index).
 * Called by an idle worker (at most about once a second per destination).
 * Thread-safe, best effort. Returns how many names it removed or moved. */
unsigned loafre__rop_idle(const struct loafre__rop_ctx *c, struct loafre__dest *d, unsigned di,
			  bool quiet);
/* Notes that fid's records are applied at fspath (a nameless record
 * resolved through the FID: the object's current path). */
void loafre__rop_moved_note(const struct loafre__rop_ctx *c, const struct loafre_fid *fid,
			    const char *fspath);

/* Whether a later record of the same object, of type `later`, makes a
 * record of type `head` needless (the later one reads the source as it
 * is then): 1; 0: no, but records past it may (both are of the kinds
 * that coalesce); -1: no, and nothing past it may (head or later is not
 * such a kind: a rename, an unlink... keeps the order). Content records
 * (CLOSE, MTIME, TRUNC) supersede content records; attribute records
 * (SATTR, CTIME) attribute records only: a content record copies nothing
 * when the content is unchanged, which sets no attributes. */
int loafre__rop_supersedes(uint32_t head, uint32_t later);

/* Applies plan op (of record rec; NULL for a retry) to destination d,
 * configured as dc (spec, maps, host). Returns 0 (done, or nothing to do:
 * the source is gone), or -errno with a line in why (LOAFRE__DEST_WHY_MAX
 * bytes). *ret_kind (may be NULL) gets the destination operation kind that
 * ran last (for the failed list). */
int loafre__rop_apply(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		      const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
		      const struct loafre_rec *rec, char *why, enum loafre__dest_op *ret_kind);

/* Whether an error from a destination means it is unreachable (retry with
 * backoff, do not count the operation as failed). */
bool loafre__rop_dest_down(int err);

#endif
