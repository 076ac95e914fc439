/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_apply.c — changelog records → the metadata index (see
 * index_apply.h). No format of its own; the semantics:
 *
 *   record                     namespace change                          refreshed (fetch + upsert)
 *   -------------------------  ----------------------------------------  --------------------------
 *   CREAT MKDIR MKNOD SLINK    tfid gone: nothing; else upsert tfid,     pfid
 *   (tfid made as pfid/name)   link(pfid, name, tfid)
 *   HLINK                      as above (tfid's nlink changed)           pfid
 *   UNLNK                      unlink(pfid, name) if it names tfid;      pfid; tfid unless
 *                              CLF_UNLINK_LAST: delete tfid              UNLINK_LAST
 *   RMDIR                      delete tfid (and its links)               pfid
 *   RENME (CLF_RENAME: sfid    unlink(spfid, sname) if it names sfid;    sfid, spfid, pfid; tfid
 *   moved from spfid/sname to  tfid non-zero: CLF_RENAME_LAST or gone →  unless deleted
 *   pfid/name over tfid)       delete tfid, else unlink(pfid, name) if
 *                              it names tfid; link(pfid, name, sfid)
 *                              (sfid unknown to the store: upserted
 *                              first; replaces what pfid/name named)
 *   any other type with a      —                                         tfid (gone: left as is,
 *   tfid (CLOSE TRUNC SATTR                                              its UNLNK comes later)
 *   MTIME CTIME ATIME XATTR
 *   LAYOUT HSM OPEN MIGRT ...;
 *   RENME without CLF_RENAME)
 *   MARK, zero tfid            ignored (the position still advances)
 *   CLF_JOBID (non-empty)      set_jobid(sfid for RENME, else tfid) if the entry exists (last one wins)
 *
 * A link whose parent the store does not know (created before a scan and
 * missed by it, never scanned, or outside the tree): the parent's current
 * path is resolved (local: its handle and the kernel's name of the
 * descriptor; Lustre: llapi_fid2path) and the missing directories from the
 * root down are fetched, upserted and linked ("resolved"); when that fails
 * the link is skipped ("orphaned"). The store's root is set from the
 * filesystem when the store has none.
 *
 * One batch, one transaction:
 *   1. the store's position P for the MDT; records at or below P, or not
 *      above the previous record, are skipped;
 *   2. plan: every FID that needs attributes (created or refreshed), each
 *      once; loafre__fetch_many on all of them (path hints for FIDs that do
 *      not map back to handles: the last place the batch's records put the
 *      object, else its path in the store);
 *   3. the namespace changes, record by record, in order. An entry is
 *      upserted (once, with the fetched, current attributes) just before
 *      its first link; a link's parent must be in the store (or resolved)
 *      before the child is upserted;
 *   4. refresh: every other FID of the plan that is in the store, not
 *      deleted by the batch and not gone is upserted; then the jobids;
 *   5. position := the last record's index; commit.
 * Why attributes are applied once per batch: fetched attributes are the
 * object's state now, not at the record's time, so applying them at the
 * first or the last record of the batch gives the same result.
 *
 * Per-FID knowledge during a batch (present in the store / absent /
 * deleted / upserted) is cached; deleting a non-empty directory (which
 * deletes its subtree) invalidates the cache (an epoch counter). An object
 * deleted by the batch and linked again by a later record of it (the same
 * FID: a source that saw a move only as a name gone and a name appearing)
 * is created again, with its fetched attributes.
 *
 * Store calls per record (lib/index_store.h): a refresh is
 * loafre__idx_update (-ENOENT: not in the store, nothing written), "unlink
 * if it still names X" is loafre__idx_unlink_if, existence tests are
 * loafre__idx_exists (usually answered from the store's memory). A name
 * that cannot be a link name (empty, longer than NAME_MAX, with '/' or
 * NUL, "." or "..") makes a link a conflict and an unlink nothing.
 */
#include "index_apply.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "localfs_internal.h"

#define NO_RES UINT32_MAX
#define NO_SLOT UINT32_MAX
#define HINT_DEPTH_MAX 256

enum { ST_UNKNOWN = 0, ST_PRESENT, ST_ABSENT, ST_DELETED };

struct slot {
	struct loafre_fid fid;       /* the object */
	uint32_t res;                /* index in the batch's results, or NO_RES */
	uint32_t epoch;              /* cache epoch when state/upserted were learnt */
	uint8_t state;               /* ST_* (ST_DELETED survives epochs) */
	bool upserted;               /* attributes written in this batch */
	bool want;                   /* needs attributes (create or refresh) */
	bool hinting;                /* hint computation in progress (cycle guard) */
	bool late;                   /* fetched after the namespace changes, through
				      * its path (a FID without a handle) */
	bool late_done;              /* ... already fetched (during them) */
	bool placeholder;            /* upserted with the attributes its create
				      * record implies, until fetched */
	uint32_t loc_parent;         /* last place the batch put it: parent slot, or NO_SLOT */
	const char *loc_name;        /* ... and name (borrowed from a record) */
	uint16_t loc_namelen;        /* ... its length */
	const struct loafre_rec *create_rec; /* a record creating it (no-fetch attributes) */
	const char *jobid;           /* last jobid of a record about it, or NULL */
};

struct loafre__apply {
	struct loafre__idx *x;       /* borrowed */
	char *mdt;                   /* position key */
	uint32_t mdt_index;          /* stored with entries */
	struct loafre__fetch *fetch; /* borrowed, or NULL */
	loafre__apply_synth_fn synth; /* attributes without a fetcher, or NULL */
	void *synth_ctx;             /* its argument */
	struct loafre__apply_stats stats;  /* committed batches */
	struct loafre__apply_stats bs;     /* the batch in progress */

	/* per batch (reused) */
	struct slot *slots;          /* every FID the batch names */
	size_t nslots, capslots;     /* slots used, allocated */
	uint32_t (*rslots)[3];       /* per selected record: the slots of its tfid,
				      * pfid and (a rename) sfid, or NO_SLOT (plan
				      * finds them, apply_one uses them) */
	size_t caprslots;            /* records it has room for */
	uint32_t *table;             /* open addressing: slot index + 1, 0 = empty */
	size_t table_mask;           /* table size - 1 */
	uint32_t epoch;              /* cache epoch (see state_of) */
	struct loafre_fid *fids;     /* FIDs to fetch */
	char **hints;                /* their hints (owned), or NULL entries */
	struct loafre__fetch_result *res; /* results */
	uint32_t *res_slot;          /* slot of each result */
	size_t nres, capres;         /* results used, allocated */
	size_t nres1;                /* results [0, nres1) are fetched before the
				      * namespace changes, [nres1, nres) after */
	int have_root;               /* this batch: 0 not checked, 1 the store's root
				      * is the tree's, -1 it is another one */
};

/* ---- slots ------------------------------------------------------------------- */

static size_t fid_hash(const struct loafre_fid *f)
{
	uint64_t h = f->f_seq * 0x9e3779b97f4a7c15ull ^ ((uint64_t)f->f_oid << 32 | f->f_ver);
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (size_t)h;
}

static int slots_reset(struct loafre__apply *a, size_t max_slots, size_t max_recs)
{
	size_t tsize = 64;

	while (tsize < max_slots * 2)
		tsize *= 2;
	if (tsize - 1 > a->table_mask || !a->table) {
		uint32_t *t = malloc(tsize * sizeof(*t));
		if (!t)
			return -ENOMEM;
		free(a->table);
		a->table = t;
		a->table_mask = tsize - 1;
	}
	memset(a->table, 0, (a->table_mask + 1) * sizeof(*a->table));
	if (max_slots > a->capslots) {
		struct slot *s = realloc(a->slots, max_slots * sizeof(*s));
		if (!s)
			return -ENOMEM;
		a->slots = s;
		a->capslots = max_slots;
	}
	if (max_recs > a->caprslots) {
		uint32_t (*m)[3] = realloc(a->rslots, max_recs * sizeof(*m));
		if (!m)
			return -ENOMEM;
		a->rslots = m;
		a->caprslots = max_recs;
	}
	a->nslots = 0;
	a->epoch = 0;
	return 0;
}

/* The slot of fid (added if missing). Never fails: capacity is reserved. */
static uint32_t slot_of(struct loafre__apply *a, const struct loafre_fid *fid)
{
	size_t b = fid_hash(fid) & a->table_mask;

	for (; a->table[b]; b = (b + 1) & a->table_mask) {
		uint32_t i = a->table[b] - 1;
		if (loafre_fid_equal(&a->slots[i].fid, fid))
			return i;
	}
	struct slot *s = &a->slots[a->nslots];
	memset(s, 0, sizeof(*s));
	s->fid = *fid;
	s->res = NO_RES;
	s->loc_parent = NO_SLOT;
	a->table[b] = (uint32_t)(++a->nslots);
	return (uint32_t)(a->nslots - 1);
}

/* State with epoch invalidation applied. */
static uint8_t state_of(struct loafre__apply *a, struct slot *s)
{
	if (s->state != ST_DELETED && s->epoch != a->epoch) {
		s->state = ST_UNKNOWN;
		s->upserted = false;
		s->epoch = a->epoch;
	}
	return s->state;
}

static void set_state(struct loafre__apply *a, struct slot *s, uint8_t st)
{
	state_of(a, s);
	s->state = st;
}

static const struct loafre__idx_attr *attr_of(struct loafre__apply *a, const struct slot *s)
{
	if (s->res == NO_RES || a->res[s->res].status != 0)
		return NULL;
	return &a->res[s->res].attr;
}

/* ---- store helpers ------------------------------------------------------------ */

static bool transient(int e)
{
	switch (e) {
	case -ENOMEM: case -EMFILE: case -ENFILE: case -EINTR: case -EAGAIN: case -ENOBUFS:
	case -EIO: case -ETIMEDOUT: case -EBUSY:
		return true;
	default:
		return false;
	}
}

/* Is the entry in the store? 1 yes, 0 no, or -errno. */
static int present(struct loafre__apply *a, uint32_t si)
{
	struct slot *s = &a->slots[si];
	int r;

	switch (state_of(a, s)) {
	case ST_PRESENT:
		return 1;
	case ST_ABSENT:
	case ST_DELETED:
		return 0;
	default:
		break;
	}
	r = loafre__idx_exists(a->x, &s->fid, NULL);
	if (r < 0 && r != -ENOENT)
		return r;
	s->state = r == 0 ? ST_PRESENT : ST_ABSENT;
	return r == 0;
}

/* Writes the attributes of an entry the store may have (a refresh): 1
 * written, 0 not in the store, or -errno. */
static int refresh(struct loafre__apply *a, uint32_t si, const struct loafre__idx_attr *at)
{
	struct slot *s = &a->slots[si];
	int r;

	switch (state_of(a, s)) {
	case ST_ABSENT:
	case ST_DELETED:
		return 0;
	default:
		break;
	}
	r = loafre__idx_update(a->x, &s->fid, at, a->mdt_index);
	if (r == -ENOENT) {
		s->state = ST_ABSENT;
		return 0;
	}
	if (r < 0)
		return r;
	s->state = ST_PRESENT;
	s->upserted = true;
	return 1;
}

static int fetch_early(struct loafre__apply *a, uint32_t si);

/* Makes sure the entry is in the store, upserting its attributes once.
 * 1: it is; 0: it is not (gone, unknown); -errno. */
static int ensure_entry(struct loafre__apply *a, uint32_t si)
{
	struct slot *s = &a->slots[si];
	const struct loafre__idx_attr *at;
	int r;

	if (state_of(a, s) == ST_DELETED) {
		/* deleted earlier in the batch and linked again by a later
		 * record (a source that saw a move as remove + create): the
		 * object exists again, with its current attributes */
		s->state = ST_ABSENT;
		s->upserted = false;
	}
	if (s->upserted)
		return 1;
	at = attr_of(a, s);
	if (!at && s->late && !s->late_done) {
		r = present(a, si);
		if (r != 0)
			return r; /* its attributes come after the namespace changes */
		r = fetch_early(a, si);
		if (r < 0)
			return r;
		s = &a->slots[si];
		at = attr_of(a, s);
	}
	if (!at)
		return present(a, si);
	r = loafre__idx_upsert(a->x, &s->fid, at, a->mdt_index);
	if (r < 0)
		return r;
	s->upserted = true;
	s->state = ST_PRESENT;
	return 1;
}

static int ensure_root(struct loafre__apply *a)
{
	struct loafre_fid root, fid;
	struct loafre__fetch_result res;
	int r;

	if (a->have_root)
		return a->have_root > 0;
	r = loafre__idx_get_root(a->x, &root);
	if (r == 0) {
		/* a store of another tree: nothing can be placed in it */
		bool same = !a->fetch || loafre_fid_equal(&root, loafre__fetch_root_fid(a->fetch));
		a->have_root = same ? 1 : -1;
		return same;
	}
	if (r != -ENOENT)
		return r;
	if (!a->fetch)
		return 0;
	r = loafre__fetch_path(a->fetch, "", &fid, &res);
	if (r < 0)
		return transient(r) ? r : 0;
	r = loafre__idx_upsert(a->x, &fid, &res.attr, a->mdt_index);
	if (r == 0)
		r = loafre__idx_set_root(a->x, &fid);
	loafre__fetch_results_free(&res, 1);
	if (r < 0)
		return r;
	a->bs.resolved++;
	a->have_root = 1;
	return 1;
}

/* The parent si is missing from the store: adds the chain of directories
 * from the root to it. 1 done, 0 not resolvable, -errno. */
static int resolve_chain(struct loafre__apply *a, uint32_t si)
{
	struct loafre_fid target = a->slots[si].fid, cur, fid;
	char rel[PATH_MAX], name[LOAFRE_NAME_MAX + 1];
	size_t pos = 0;
	int r;

	if (!a->fetch)
		return 0;
	r = loafre__fetch_relpath(a->fetch, &target, rel, sizeof(rel));
	if (r < 0)
		return transient(r) ? r : 0;
	r = ensure_root(a);
	if (r <= 0)
		return r;
	r = loafre__idx_get_root(a->x, &cur);
	if (r < 0)
		return r;
	{
		/* the directories along the chain changed (entries appeared in
		 * them without records the store saw): refreshed too */
		struct loafre__fetch_result res;

		r = loafre__fetch_path(a->fetch, "", &fid, &res);
		if (r < 0)
			return transient(r) ? r : 0;
		if (loafre_fid_equal(&fid, &cur))
			r = loafre__idx_upsert(a->x, &fid, &res.attr, a->mdt_index);
		loafre__fetch_results_free(&res, 1);
		if (r < 0)
			return r;
	}
	while (rel[pos]) {
		struct loafre__fetch_result res;
		struct loafre_fid got;
		size_t end = pos;
		char save;

		while (rel[end] && rel[end] != '/')
			end++;
		if (end - pos > LOAFRE_NAME_MAX || end == pos)
			return 0;
		memcpy(name, rel + pos, end - pos);
		name[end - pos] = '\0';
		save = rel[end];
		rel[end] = '\0';
		r = loafre__fetch_path(a->fetch, rel, &fid, &res);
		rel[end] = save;
		if (r < 0)
			return transient(r) ? r : 0;
		if (!S_ISDIR(res.attr.mode)) {
			loafre__fetch_results_free(&res, 1);
			return 0;
		}
		r = loafre__idx_lookup_name(a->x, &cur, name, &got);
		if (r == 0 && loafre_fid_equal(&got, &fid)) {
			r = loafre__idx_upsert(a->x, &fid, &res.attr, a->mdt_index);
		} else if (r == 0 || r == -ENOENT) {
			r = loafre__idx_upsert(a->x, &fid, &res.attr, a->mdt_index);
			if (r == 0)
				r = loafre__idx_link(a->x, &cur, name, &fid);
			if (r == 0)
				a->bs.resolved++;
		}
		loafre__fetch_results_free(&res, 1);
		if (r == -EINVAL || r == -ENOTDIR) {
			a->bs.conflicts++;
			return 0;
		}
		if (r < 0)
			return r;
		cur = fid;
		pos = rel[end] ? end + 1 : end;
	}
	if (!loafre_fid_equal(&cur, &target))
		return 0;
	a->epoch++; /* directories of other slots may be among those added */
	/* its slot: in the store now (and its attributes just written) */
	set_state(a, &a->slots[si], ST_PRESENT);
	a->slots[si].upserted = true;
	return 1;
}

/* The parent of a link: 1 in the store, 0 not resolvable, -errno. */
static int ensure_parent(struct loafre__apply *a, uint32_t pi)
{
	int r = present(a, pi);

	if (r != 0)
		return r;
	if (a->slots[pi].state == ST_DELETED)
		return 0; /* deleted by the batch and not linked again since */
	return resolve_chain(a, pi);
}

static void copy_name(char *buf, const char *name, size_t len)
{
	memcpy(buf, name, len);
	buf[len] = '\0';
}

/* link(parent, name, child) with the rules of the table. 0 or -errno. */
static int do_link(struct loafre__apply *a, uint32_t pi, const char *name, size_t namelen,
		   uint32_t ci)
{
	char nm[LOAFRE_NAME_MAX + 1];
	int r;

	if (namelen == 0 || namelen > LOAFRE_NAME_MAX || memchr(name, '/', namelen) ||
	    memchr(name, '\0', namelen)) {
		a->bs.conflicts++;
		return 0;
	}
	r = ensure_parent(a, pi);
	if (r < 0)
		return r;
	if (r == 0) {
		a->bs.orphaned++;
		return 0;
	}
	r = ensure_entry(a, ci);
	if (r <= 0)
		return r; /* the child is gone and unknown: nothing to link */
	copy_name(nm, name, namelen);
	r = loafre__idx_link(a->x, &a->slots[pi].fid, nm, &a->slots[ci].fid);
	if (r == -EINVAL || r == -ENOTDIR || r == -ENOENT) {
		a->bs.conflicts++;
		return 0;
	}
	return r;
}

/* unlink(parent, name) if it still names `expect`. 0 or -errno. */
static int unlink_if(struct loafre__apply *a, const struct loafre_fid *parent, const char *name,
		     size_t namelen, const struct loafre_fid *expect)
{
	char nm[LOAFRE_NAME_MAX + 1];
	int r;

	if (namelen == 0 || namelen > LOAFRE_NAME_MAX || loafre_fid_is_zero(parent) ||
	    memchr(name, '/', namelen) || memchr(name, '\0', namelen))
		return 0;
	copy_name(nm, name, namelen);
	/* a name reused since (it leads elsewhere): the newer state stays */
	r = loafre__idx_unlink_if(a->x, parent, nm, expect);
	return r == -ENOENT || r == -EINVAL || r == -ENOTDIR ? 0 : r;
}

static int has_child_cb(void *ctx, const char *name, const struct loafre__idx_entry *e)
{
	(void)ctx;
	(void)name;
	(void)e;
	return 1;
}

/* Deletes the entry (and its subtree). 0 or -errno. */
static int delete_fid(struct loafre__apply *a, uint32_t si, bool maybe_dir)
{
	struct slot *s = &a->slots[si];
	bool subtree = false;
	uint32_t mode = 0;
	int r;

	if (state_of(a, s) == ST_DELETED || state_of(a, s) == ST_ABSENT)
		return 0;
	if (maybe_dir) {
		r = loafre__idx_exists(a->x, &s->fid, &mode);
		if (r < 0 && r != -ENOENT)
			return r;
		maybe_dir = r == 0 && S_ISDIR(mode);
	}
	if (maybe_dir) {
		r = loafre__idx_children(a->x, &s->fid, has_child_cb, NULL);
		if (r < 0 && r != -ENOENT && r != -ENOTDIR)
			return r;
		subtree = r == 1;
	}
	r = loafre__idx_delete(a->x, &s->fid);
	if (r < 0 && r != -ENOENT)
		return r;
	s->state = ST_DELETED;
	s->upserted = false;
	if (subtree)
		a->epoch++; /* entries below it went too */
	return 0;
}

/* ---- planning ------------------------------------------------------------------ */

/* Marks slot i (NO_SLOT: none) as needing attributes; returns i. */
static uint32_t want(struct loafre__apply *a, uint32_t i)
{
	if (i != NO_SLOT)
		a->slots[i].want = true;
	return i;
}

/* The slot of fid, or NO_SLOT for the zero FID. */
static uint32_t slot_nz(struct loafre__apply *a, const struct loafre_fid *fid)
{
	return loafre_fid_is_zero(fid) ? NO_SLOT : slot_of(a, fid);
}

static void locate(struct loafre__apply *a, uint32_t ci, const struct loafre_fid *parent,
		   const char *name, uint16_t namelen)
{
	if (ci == NO_SLOT || loafre_fid_is_zero(parent))
		return;
	uint32_t pi = slot_of(a, parent);
	a->slots[ci].loc_parent = pi;
	a->slots[ci].loc_name = name;
	a->slots[ci].loc_namelen = namelen;
}

static bool is_create(uint32_t type)
{
	return type == LOAFRE_CL_CREATE || type == LOAFRE_CL_MKDIR || type == LOAFRE_CL_MKNOD ||
	       type == LOAFRE_CL_SOFTLINK;
}

static void plan(struct loafre__apply *a, const struct loafre_rec *r, uint32_t m[3])
{
	uint32_t ti, T, P;

	m[0] = m[1] = m[2] = NO_SLOT;
	if (r->type == LOAFRE_CL_MARK)
		return;
	m[0] = T = slot_nz(a, &r->tfid);
	m[1] = P = slot_nz(a, &r->pfid);
	if (r->type == LOAFRE_CL_RENAME && (r->flags & LOAFRE_CLF_RENAME))
		m[2] = slot_nz(a, &r->sfid);
	switch (r->type) {
	case LOAFRE_CL_MARK:
		break;
	case LOAFRE_CL_CREATE:
	case LOAFRE_CL_MKDIR:
	case LOAFRE_CL_MKNOD:
	case LOAFRE_CL_SOFTLINK:
	case LOAFRE_CL_HARDLINK:
		ti = want(a, T);
		want(a, P);
		locate(a, ti, &r->pfid, r->name, r->namelen);
		if (ti != NO_SLOT && is_create(r->type) && !a->slots[ti].create_rec)
			a->slots[ti].create_rec = r;
		break;
	case LOAFRE_CL_UNLINK:
		if (!(r->flags & LOAFRE_CLF_UNLINK_LAST))
			want(a, T);
		want(a, P);
		break;
	case LOAFRE_CL_RMDIR:
		want(a, P);
		break;
	case LOAFRE_CL_RENAME:
		if (!(r->flags & LOAFRE_CLF_RENAME)) {
			want(a, T); /* an old-style rename: a change of tfid */
			break;
		}
		{
			uint32_t si = want(a, m[2]);
			want(a, slot_nz(a, &r->spfid));
			want(a, P);
			/* the overwritten target: fetched to learn whether it is gone */
			if (!(r->flags & LOAFRE_CLF_RENAME_LAST))
				want(a, T);
			locate(a, si, &r->pfid, r->name, r->namelen);
		}
		break;
	default:
		want(a, T);
		break;
	}
}

/* The path hint of slot si: where the batch last put it (below its
 * parent's hint), else its path in the store. Malloc'ed, or NULL. */
static char *hint_of(struct loafre__apply *a, uint32_t si, unsigned depth)
{
	struct slot *s = &a->slots[si];
	char buf[PATH_MAX];

	if (a->fetch && loafre_fid_equal(&s->fid, loafre__fetch_root_fid(a->fetch)))
		return strdup("");
	if (s->loc_parent != NO_SLOT && !s->hinting && depth < HINT_DEPTH_MAX) {
		char *ph, *h;
		size_t pl;

		s->hinting = true;
		ph = hint_of(a, s->loc_parent, depth + 1);
		a->slots[si].hinting = false;
		s = &a->slots[si];
		if (!ph)
			return NULL;
		pl = strlen(ph);
		h = malloc(pl + 1 + s->loc_namelen + 1);
		if (h) {
			if (pl)
				sprintf(h, "%s/%.*s", ph, (int)s->loc_namelen, s->loc_name);
			else
				sprintf(h, "%.*s", (int)s->loc_namelen, s->loc_name);
		}
		free(ph);
		return h;
	}
	if (loafre__idx_path(a->x, &s->fid, buf, sizeof(buf)) < 0)
		return NULL;
	return strdup(buf);
}

static bool wants_hint(struct loafre__apply *a, const struct loafre_fid *fid)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + 128];
	} h;

	if (!a->fetch || loafre__fetch_type(a->fetch) != LOAFRE_FS_LOCAL)
		return false;
	return loafre__fetch_prefers_paths(a->fetch) ||
	       loafre__lfs_handle_from_fid(fid, &h.fh, 128) < 0;
}

/* Attributes a create record implies (no fetcher, no synth). */
static void record_attr(const struct loafre_rec *r, struct loafre__idx_attr *at)
{
	int64_t t = (int64_t)loafre_cl_time_sec(r->time) * 1000000000 + loafre_cl_time_nsec(r->time);

	memset(at, 0, sizeof(*at));
	switch (r->type) {
	case LOAFRE_CL_MKDIR:
		at->mode = S_IFDIR | 0755;
		at->nlink = 2;
		break;
	case LOAFRE_CL_SOFTLINK:
		at->mode = S_IFLNK | 0777;
		at->nlink = 1;
		break;
	default: /* CREAT; MKNOD (its type is not in the record) */
		at->mode = S_IFREG | 0644;
		at->nlink = 1;
		break;
	}
	if ((r->flags & LOAFRE_CLF_EXTRA_FLAGS) && (r->extra_flags & LOAFRE_CLFE_UIDGID)) {
		at->uid = (uint32_t)r->uid;
		at->gid = (uint32_t)r->gid;
	}
	at->atime_ns = at->mtime_ns = at->ctime_ns = t;
}

/* Counts the outcome of results [from, to); -errno for a transient failure. */
static int account(struct loafre__apply *a, size_t from, size_t to)
{
	a->bs.fetches += to - from;
	for (size_t i = from; i < to; i++) {
		int st = a->res[i].status;

		if (st == -ENOENT)
			a->bs.gone++;
		else if (st < 0 && transient(st))
			return st;
		else if (st < 0)
			a->bs.errors++;
	}
	return 0;
}

/* Fetches every planned FID that maps back to a handle (all of them on
 * Lustre and on filesystems with 8- or 12-byte handles); the others (late)
 * wait for fetch_late. Without a fetcher: synth or the records. */
static int fetch_planned(struct loafre__apply *a)
{
	size_t n = 0;
	int r;

	for (size_t i = 0; i < a->nslots; i++)
		n += a->slots[i].want;
	if (n > a->capres) {
		void *p1 = realloc(a->fids, n * sizeof(*a->fids));
		if (p1)
			a->fids = p1;
		void *p2 = realloc(a->hints, n * sizeof(*a->hints));
		if (p2)
			a->hints = p2;
		void *p3 = realloc(a->res, n * sizeof(*a->res));
		if (p3)
			a->res = p3;
		void *p4 = realloc(a->res_slot, n * sizeof(*a->res_slot));
		if (p4)
			a->res_slot = p4;
		if (!p1 || !p2 || !p3 || !p4)
			return -ENOMEM;
		a->capres = n;
	}
	a->nres = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < a->nslots; i++) {
			struct slot *s = &a->slots[i];
			bool late;

			if (!s->want)
				continue;
			late = wants_hint(a, &s->fid);
			if (late != (pass == 1))
				continue;
			s->late = late;
			s->res = (uint32_t)a->nres;
			a->fids[a->nres] = s->fid;
			a->hints[a->nres] = NULL;
			memset(&a->res[a->nres], 0, sizeof(a->res[0]));
			a->res[a->nres].status = -EAGAIN; /* not fetched yet */
			a->res_slot[a->nres] = (uint32_t)i;
			a->nres++;
		}
		if (pass == 0)
			a->nres1 = a->nres;
	}
	if (a->fetch) {
		r = loafre__fetch_many(a->fetch, a->fids, a->nres1, a->res);
		if (r < 0) {
			for (size_t i = 0; i < a->nres1; i++)
				memset(&a->res[i], 0, sizeof(a->res[i]));
			return r;
		}
		return account(a, 0, a->nres1);
	}
	for (size_t i = 0; i < a->nres; i++) {
		const struct slot *s = &a->slots[a->res_slot[i]];
		struct loafre__fetch_result *res = &a->res[i];

		memset(res, 0, sizeof(*res));
		if (a->synth) {
			res->status = a->synth(a->synth_ctx, &s->fid, &res->attr);
			res->attr.symlink = NULL;
		} else if (s->create_rec) {
			record_attr(s->create_rec, &res->attr);
		} else {
			res->status = -ENODATA;
		}
	}
	return 0;
}

/* A late FID must be in the store now (a link to an object the store does
 * not know yet): fetched through where the batch put it. */
static int fetch_early(struct loafre__apply *a, uint32_t si)
{
	struct slot *s = &a->slots[si];
	struct loafre__fetch_result *res = &a->res[s->res];
	char *hint;

	if (s->create_rec) {
		/* a placeholder from the record; fetch_late brings the truth */
		memset(res, 0, sizeof(*res));
		record_attr(s->create_rec, &res->attr);
		s->placeholder = true;
		return 0;
	}
	hint = hint_of(a, si, 0);
	loafre__fetch_one(a->fetch, &a->slots[si].fid, hint, res);
	free(hint);
	s = &a->slots[si];
	s->late_done = true;
	return account(a, s->res, s->res + 1);
}

/* After the namespace changes: the late FIDs, through their paths in the
 * store (where the batch left them). */
static int fetch_late(struct loafre__apply *a)
{
	size_t n = a->nres - a->nres1, k = 0;
	struct loafre__fetch_result *tmp;
	uint32_t *which;
	int r = 0;

	if (!a->fetch || n == 0)
		return 0;
	tmp = calloc(n, sizeof(*tmp));
	which = calloc(n, sizeof(*which));
	if (!tmp || !which) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = a->nres1; i < a->nres; i++) {
		uint32_t si = a->res_slot[i];
		struct slot *s = &a->slots[si];
		char buf[PATH_MAX];

		if (s->late_done || state_of(a, s) == ST_DELETED)
			continue;
		if (loafre__idx_path(a->x, &s->fid, buf, sizeof(buf)) == 0)
			a->hints[k] = strdup(buf);
		else
			a->hints[k] = hint_of(a, si, 0);
		a->fids[k] = s->fid;
		which[k++] = (uint32_t)i;
	}
	r = loafre__fetch_many_hinted(a->fetch, a->fids, (const char *const *)a->hints, k, tmp);
	for (size_t j = 0; j < k; j++) {
		free(a->hints[j]);
		a->hints[j] = NULL;
	}
	if (r < 0)
		goto out;
	for (size_t j = 0; j < k; j++) {
		a->res[which[j]] = tmp[j];
		memset(&tmp[j], 0, sizeof(tmp[j]));
	}
	for (size_t j = 0; j < k && r == 0; j++) {
		uint32_t si = a->res_slot[which[j]];
		struct slot *s = &a->slots[si];
		const struct loafre__idx_attr *at;

		r = account(a, which[j], which[j] + 1);
		if (r < 0)
			break;
		at = attr_of(a, s);
		if (!at) {
			if (s->placeholder && a->res[which[j]].status == -ENOENT)
				r = delete_fid(a, si, true); /* gone: nothing stays */
			continue;
		}
		r = refresh(a, si, at);
		if (r > 0)
			r = 0;
	}
out:
	if (tmp)
		loafre__fetch_results_free(tmp, n);
	free(tmp);
	free(which);
	return r;
}

/* ---- applying ------------------------------------------------------------------- */

static void note_jobid(struct loafre__apply *a, const struct loafre_rec *r, const uint32_t m[3])
{
	uint32_t i;

	if (!(r->flags & LOAFRE_CLF_JOBID) || !r->jobid[0] || memchr(r->jobid, '\0', sizeof(r->jobid)) == NULL)
		return;
	i = (r->type == LOAFRE_CL_RENAME && (r->flags & LOAFRE_CLF_RENAME)) ? m[2] : m[0];
	if (r->type == LOAFRE_CL_MARK || i == NO_SLOT)
		return;
	a->slots[i].jobid = r->jobid;
}

/* m: the record's slots (plan). */
static int apply_one(struct loafre__apply *a, const struct loafre_rec *r, const uint32_t m[3])
{
	int ret = 0;

	switch (r->type) {
	case LOAFRE_CL_MARK:
		return 0;
	case LOAFRE_CL_CREATE:
	case LOAFRE_CL_MKDIR:
	case LOAFRE_CL_MKNOD:
	case LOAFRE_CL_SOFTLINK:
	case LOAFRE_CL_HARDLINK:
		if (loafre_fid_is_zero(&r->tfid) || loafre_fid_is_zero(&r->pfid))
			break;
		{
			struct slot *t = &a->slots[m[0]];
			if (a->fetch && !t->late && !attr_of(a, t))
				break; /* gone (or not fetchable): nothing to link */
		}
		ret = do_link(a, m[1], r->name, r->namelen, m[0]);
		break;
	case LOAFRE_CL_UNLINK:
		if (loafre_fid_is_zero(&r->tfid))
			break;
		ret = unlink_if(a, &r->pfid, r->name, r->namelen, &r->tfid);
		if (ret == 0 && (r->flags & LOAFRE_CLF_UNLINK_LAST))
			ret = delete_fid(a, m[0], false);
		break;
	case LOAFRE_CL_RMDIR:
		if (loafre_fid_is_zero(&r->tfid))
			break;
		ret = delete_fid(a, m[0], true);
		break;
	case LOAFRE_CL_RENAME:
		if (!(r->flags & LOAFRE_CLF_RENAME) || loafre_fid_is_zero(&r->sfid))
			break;
		if (r->sname)
			ret = unlink_if(a, &r->spfid, r->sname, r->snamelen, &r->sfid);
		if (ret == 0 && !loafre_fid_is_zero(&r->tfid) &&
		    !loafre_fid_equal(&r->tfid, &r->sfid)) {
			uint32_t ti = m[0];
			const struct loafre__fetch_result *tr =
				a->slots[ti].res == NO_RES ? NULL : &a->res[a->slots[ti].res];
			bool gone = a->fetch && tr && tr->status == -ENOENT;

			if ((r->flags & LOAFRE_CLF_RENAME_LAST) || gone)
				ret = delete_fid(a, ti, true);
			else if (!loafre_fid_is_zero(&r->pfid))
				/* the target loses that link even when no link
				 * replaces it (sfid gone by now: its UNLNK
				 * follows, naming sfid) */
				ret = unlink_if(a, &r->pfid, r->name, r->namelen, &r->tfid);
		}
		if (ret == 0 && !loafre_fid_is_zero(&r->pfid))
			ret = do_link(a, m[1], r->name, r->namelen, m[2]);
		break;
	default:
		break;
	}
	return ret;
}

static int refresh_all(struct loafre__apply *a)
{
	int r;

	for (size_t i = 0; i < a->nslots; i++) {
		struct slot *s = &a->slots[i];
		const struct loafre__idx_attr *at;

		if (!s->want || s->late || state_of(a, s) == ST_DELETED || s->upserted)
			continue;
		at = attr_of(a, s);
		if (!at)
			continue;
		r = refresh(a, (uint32_t)i, at);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < a->nslots; i++) {
		struct slot *s = &a->slots[i];

		if (!s->jobid || state_of(a, s) == ST_DELETED)
			continue;
		r = loafre__idx_set_jobid(a->x, &s->fid, s->jobid);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return 0;
}

int loafre__apply_batch(struct loafre__apply *a, const struct loafre_rec *recs, size_t n,
			uint64_t *ret_position)
{
	uint64_t pos, last;
	size_t nsel = 0, k;
	bool in_tx = false;
	int r;

	if (!a || (n && !recs) || n > LOAFRE__APPLY_MAX_BATCH)
		return -EINVAL;
	memset(&a->bs, 0, sizeof(a->bs));
	a->have_root = 0;
	r = loafre__idx_begin(a->x);
	if (r < 0)
		return r;
	in_tx = true;
	r = loafre__idx_get_position(a->x, a->mdt, &pos);
	if (r < 0)
		goto fail;
	last = pos;
	/* selection: strictly increasing indices above the position */
	for (size_t i = 0; i < n; i++) {
		if (recs[i].index <= last) {
			a->bs.skipped++;
			continue;
		}
		last = recs[i].index;
		nsel++;
	}
	if (nsel == 0) {
		r = loafre__idx_rollback(a->x);
		in_tx = false;
		if (r < 0)
			goto fail;
		a->stats.skipped += a->bs.skipped;
		if (ret_position)
			*ret_position = pos;
		return 0;
	}
	r = slots_reset(a, 4 * nsel + 16, nsel);
	if (r < 0)
		goto fail;
	last = pos;
	k = 0;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].index <= last)
			continue;
		last = recs[i].index;
		plan(a, &recs[i], a->rslots[k++]);
	}
	r = fetch_planned(a);
	if (r < 0)
		goto fail;
	last = pos;
	k = 0;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].index <= last)
			continue;
		last = recs[i].index;
		r = apply_one(a, &recs[i], a->rslots[k]);
		if (r < 0)
			goto fail;
		note_jobid(a, &recs[i], a->rslots[k++]);
	}
	r = fetch_late(a);
	if (r < 0)
		goto fail;
	r = refresh_all(a);
	if (r < 0)
		goto fail;
	r = loafre__idx_set_position(a->x, a->mdt, last);
	if (r < 0)
		goto fail;
	r = loafre__idx_commit(a->x);
	in_tx = false;
	if (r < 0)
		goto fail;
	if (a->fetch)
		loafre__fetch_results_free(a->res, a->nres);
	a->nres = 0;
	a->bs.applied = nsel;
	a->bs.batches = 1;
	a->stats.applied += a->bs.applied;
	a->stats.skipped += a->bs.skipped;
	a->stats.fetches += a->bs.fetches;
	a->stats.gone += a->bs.gone;
	a->stats.errors += a->bs.errors;
	a->stats.orphaned += a->bs.orphaned;
	a->stats.resolved += a->bs.resolved;
	a->stats.conflicts += a->bs.conflicts;
	a->stats.batches += a->bs.batches;
	if (ret_position)
		*ret_position = last;
	return 0;
fail:
	if (in_tx)
		loafre__idx_rollback(a->x);
	if (a->fetch)
		loafre__fetch_results_free(a->res, a->nres);
	a->nres = 0;
	return r;
}

/* ---- open / close / stats ----------------------------------------------------------- */

int loafre__apply_open(struct loafre__idx *x, const struct loafre__apply_opts *o,
		       struct loafre__apply **ret)
{
	struct loafre__apply *a;

	if (!x || !o || !o->mdt || !o->mdt[0])
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->mdt = strdup(o->mdt);
	if (!a->mdt) {
		free(a);
		return -ENOMEM;
	}
	a->x = x;
	a->mdt_index = o->mdt_index;
	a->fetch = o->fetch;
	a->synth = o->synth;
	a->synth_ctx = o->synth_ctx;
	*ret = a;
	return 0;
}

void loafre__apply_close(struct loafre__apply *a)
{
	if (!a)
		return;
	free(a->slots);
	free(a->rslots);
	free(a->table);
	free(a->fids);
	free(a->hints);
	free(a->res);
	free(a->res_slot);
	free(a->mdt);
	free(a);
}

void loafre__apply_get_stats(const struct loafre__apply *a, struct loafre__apply_stats *ret)
{
	*ret = a->stats;
}
