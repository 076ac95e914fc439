/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_store.c — the metadata index's model, above the backends
 * (lib/index_store.h says what, lib/index_backend.h how the work is split).
 *
 * Everything here is backend-neutral, so SQLite and PostgreSQL give the
 * same answers:
 *
 * Primary links. An entry's first link is stored as its primary link; a
 * later link of the same entry is an xlink. Removing the primary link
 * promotes the oldest xlink (index_backend.h).
 *
 * Rollups: pending deltas. A mutation never walks up the tree; it adds a
 * signed delta to ONE directory in an in-memory map, `pending`:
 *   - the contribution node of an entry X is X itself when X is a
 *     directory (its rollup includes itself), else X's primary parent;
 *   - attribute change of X: pending[node(X)] += new - old;
 *   - a new directory D: pending[D] += own(D) (its dirsum row is created
 *     by the flush);
 *   - adding/removing the primary link (P, name) of a file F:
 *     pending[P] ± own(F);
 *   - ... of a directory D (moves: remove then add):
 *     pending[P] ± stored(D), the dirsum row of D as the database has it.
 * Invariant: for every directory Y, the true rollup of Y equals
 *   stored(Y) + Σ pending[Z] over Z in Y's subtree (current structure).
 * A move of D from A to B keeps it: D's pending deltas move with the
 * structure, and the stored part moves through pending[A] -= stored(D),
 * pending[B] += stored(D). flush() (before commit and before any query that
 * reads rollups) adds each pending delta to its directory and every
 * ancestor, merged per directory, in one dirsum_add batch: a directory
 * rename is O(depth), and a batch of N creations in the same few
 * directories costs O(N + directories × depth). A bulk load
 * (loafre__idx_bulk_begin .. bulk_end) keeps its pending deltas across its
 * commits (which write no rollup) and flushes them once, at bulk_end (the
 * invariant holds throughout: the stored part does not change meanwhile).
 *
 * Transactions: a mutation validates before it writes; a validation error
 * (-ENOENT, -EEXIST, -EINVAL, -ENOTDIR, -ENOTEMPTY) leaves the transaction
 * usable. An error after the first write (-EIO, -ENOMEM, -EBUSY, -ELOOP on
 * a corrupt tree) poisons it: later mutations return that error and commit
 * rolls back and returns it.
 *
 * Write-behind of one new entry: upsert of a FID the store does not have
 * keeps the entry in memory; its first link and a jobid given before any
 * other operation join it, and one INSERT writes it all (a file creation
 * is then one row insert instead of an insert and two updates). Any other
 * operation, query or commit writes it first.
 *
 * Batches of new entries (a backend with entry_insert_many: SQLite): the
 * write-behind entry, once complete, is sealed instead of inserted: it gets
 * its id from the store (the backend's largest id, read once per
 * transaction, then counted up), is cached, counted in the rollups and
 * joins a batch of up to MB_MAX, which one statement inserts when full or
 * before anything it could change: a read of the tables other than a row
 * the batch does not have (row_by_fid / row_by_id / seq_max of another
 * entry), a change of a batch entry, a link change whose old or new
 * (parent, name) a batch entry takes, the deletion or change of a stored
 * entry holding such a name (mb_holder: the batch entry's insert is then
 * refused and takes the name from it, as if inserted at once), a
 * directory's deletion, the general way of a link, queries, commit. So the
 * tables see the inserts in the records' order relative to every write
 * they could interact with. A refused insert (a name taken) goes on as
 * wb_insert's does (the entry unlinked, then linked the general way), the
 * rest of the batch after it. The pending link change (below) never
 * conflicts with a batch entry (set_link writes the batch first when it
 * would), so it may be written before or after the batch.
 *
 * Row cache: the mutations read entry rows (id, FID, attributes, primary
 * parent, xlink count, and the primary link's name when it is at most
 * RC_NAME_MAX bytes; no other strings) through an in-memory cache indexed
 * by FID and by id, so that parent lookups, ancestor walks (flush, the
 * cycle check), refreshes and unlinks of recently used entries cost no
 * query (unlink_if of a cached entry: its primary link is (parent, name)
 * or, without xlinks, no link of (parent, name) leads to it). It
 * is exact: every write of this handle updates or drops the rows it
 * changes; a rollback (or a failed commit) and clear drop it whole; and it
 * survives a commit only while the backend's changed() says that no other
 * handle wrote in between (SQLite: PRAGMA data_version; a backend without
 * it drops the cache at every begin). Only write transactions use it (the
 * writer holds the lock, so only this handle changes the tables). At most
 * RC_MAX rows: when full, a clock sweep drops rows not used since its last
 * pass, files before directories. An upsert whose attributes equal the
 * cached ones writes nothing.
 *
 * New FIDs without a lookup: for up to 1024 f_seq values the store knows
 * the largest f_oid of its entries (backend seq_max, then
 * every insert); a FID above it is new, so creating it costs no query
 * (Lustre allocates f_oid upwards within a sequence), nor a probe of the
 * row cache when its sequence is known already. Kept and dropped with the
 * row cache.
 *
 * Deletions and rollups with what the cache knows: a cached entry is
 * deleted without the backend reading its row first (entry_delete_known),
 * and the rollup deltas of a commit carry their directories' FIDs (the
 * flush walks their rows), so that a backend can write them without
 * reading the entries (SQLite: upserts, many rows per statement).
 *
 * New names without a lookup: when the backend's insert refuses a taken
 * (parent, name) itself (insert_checks_link: SQLite's UNIQUE entry_link,
 * no xlinks), a new entry's first link is not looked up; the write-behind
 * insert writes the pending link change first, and when the name is taken
 * it inserts the entry unlinked and links it the general way (replacing
 * the other link, as when link_get finds it). Commit therefore flushes the
 * write-behind entry before the pending link change. Likewise the new link
 * of an unlinked file (a rename's second half) is written at once, merged
 * with its pending removal, without a lookup: the backend's entry_set_link
 * then refuses a taken name (-EEXIST, nothing written), and the link is
 * made the general way.
 *
 * A bulk load's new FIDs and names without a lookup: from bulk_begin
 * (which reads the FIDs and links the store has) to bulk_end, Bloom
 * filters hold every FID and every link (parent, name) added; one they
 * have not seen is new (no query), one they may have seen is looked up
 * (about 1 % of new ones per filter layer). 10 bits per FID and per link,
 * up to twice that as the layers double. Dropped with the load, and when
 * another handle wrote in between (begin: changed()).
 *
 * Write-behind of one primary-link change: removing an entry's primary
 * link (unlink, rename's first half) is kept in memory; a further change
 * of the same entry's link (rename's second half) or its deletion (UNLNK
 * of the last link) merges with it, so a rename is one UPDATE and an
 * unlink-then-delete none. link_get answers as if it were written; any
 * other read of the tables (a row not in the cache, children, queries,
 * commit) writes it first.
 */
#include "index_store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "index_backend.h"
#include "index_pg.h"

#define RC_MIN 4096u          /* rows of the row cache allocated first */
#define RC_MAX (1u << 18)     /* rows kept at most (about 50 MB) */
#define RC_NAME_MAX 31u       /* longest primary-link name a cached row keeps */
#define SM_SLOTS 1024u        /* f_seq slots of the new-FID test (a power of two) */
#define SM_PROBES 8u          /* slots probed for one f_seq */

/* Open-addressing map int64 id (> 0) → delta, for pending rollups and the
 * flush's per-directory sums. */
struct dmap_slot {
	int64_t id;                  /* 0: empty */
	int64_t blocks, bytes, inodes; /* the delta */
	int64_t aux;                 /* flush: parent id cache (-1 unknown) */
};
struct dmap {
	struct dmap_slot *s;         /* 2^k slots */
	size_t mask;                 /* slots - 1 (0 when s is NULL) */
	size_t n;                    /* used slots */
};

/* A primary-link change not written yet (see the head comment). */
struct plink {
	bool active;                 /* one waits */
	int64_t id;                  /* the entry */
	int64_t parent;              /* its new primary link's directory, 0: none */
	char name[LOAFRE__IDX_NAME_MAX + 1]; /* ... and name */
};

/* Largest f_oid per f_seq among the entries (see the head comment). */
struct seqmax {
	uint64_t seq;                /* key; valid when `used` */
	uint32_t oid;                /* the largest f_oid stored (when has) */
	bool used;                   /* slot taken */
	bool has;                    /* some entry has this seq */
};

/* The FIDs of a bulk load (see the head comment): layers of Bloom filters,
 * each twice the previous one (the first: 2^BLOOM_BITS0 bits), 10 bits and
 * 7 probes per FID (under 1 % false positives per layer). */
#define BLOOM_LAYERS 24
#define BLOOM_BITS0 20
struct bloom {
	uint64_t *bits[BLOOM_LAYERS]; /* layer i: 2^(BLOOM_BITS0 + i) bits */
	unsigned nlayers;            /* layers allocated */
	size_t n;                    /* FIDs in the last layer */
};

/* A cached entry row (see the head comment). */
struct crow {
	struct loafre_fid fid;       /* the entry's FID */
	int64_t id;                  /* its id; 0: a free row */
	int64_t parent;              /* directory id of its primary link; 0: none */
	struct loafre__idx_attr a;   /* its attributes (a.symlink NULL: see `symlink`) */
	uint32_t mdt;                /* its MDT index */
	uint32_t nxlinks;            /* its links besides the primary one */
	bool symlink;                /* it may have a symlink target (not kept here) */
	bool ref;                    /* used since the clock hand last passed it */
	bool name_ok;                /* name is the primary link's (parent != 0 and
				      * the name at most RC_NAME_MAX bytes) */
	char name[RC_NAME_MAX + 1];  /* the primary link's name when name_ok */
};

/* A slot of the row cache's hash tables. */
struct rslot {
	uint32_t row;                /* row index + 1; 0: empty */
	uint32_t tag;                /* high half of the key's hash (a mismatch
				      * costs no visit to the row) */
};

struct rcache {
	struct crow *rows;           /* `cap` rows; [0, used) ever handed out */
	struct rslot *by_fid, *by_id; /* open addressing, mask + 1 slots each */
	uint32_t *freel;             /* indices of freed rows (a stack) */
	size_t cap, used, nfree;     /* rows allocated, handed out, freed */
	size_t mask;                 /* table slots - 1 (2 × cap slots) */
	size_t n;                    /* live rows */
	size_t hand;                 /* eviction clock hand (a row index) */
	size_t last;                 /* row index + 1 of row_by_fid's last hit, 0: none
				      * (the same FID is often asked again at once) */
};

/* The write-behind entry (see the head comment). */
struct wbuf {
	bool active;                 /* an entry waits to be inserted */
	bool linked;                 /* with its first link (parent, name) */
	bool unchecked;              /* ... whose name was not looked up: the backend's
				      * insert refuses it if taken (insert_checks_link) */
	bool has_jobid;              /* with jobid */
	struct loafre_fid fid;       /* its FID */
	struct loafre__idx_attr a;   /* its attributes (a.symlink: symlink below) */
	uint32_t mdt;                /* its MDT index */
	int64_t parent;              /* link: directory id */
	char name[LOAFRE__IDX_NAME_MAX + 1];   /* link: name */
	char jobid[LOAFRE__IDX_JOBID_MAX + 1]; /* jobid */
	char *symlink;               /* malloc'ed copy of a.symlink, or NULL */
};

/* New entries sealed but not inserted yet (see the head comment). */
#define MB_MAX LOAFRE__IDX_INSERT_MANY_MAX
struct mbatch {
	struct wbuf w[MB_MAX];       /* the entries, in order (w[i].active unused) */
	int64_t id[MB_MAX];          /* their ids (increasing) */
	size_t n;                    /* entries waiting */
	int64_t next_id;             /* the id of the next new entry; 0: not read yet
				      * in this transaction (backend entry_max_id) */
};

struct loafre__idx {
	const struct loafre__idx_ops *ops; /* the backend */
	void *be;                    /* its handle */
	int flags;                   /* LOAFRE__IDX_* given at open */
	bool in_txn;                 /* between begin and commit/rollback */
	bool bulk;                   /* a bulk load is open (bulk_begin .. bulk_end) */
	int failed;                  /* error that poisoned the transaction, or 0 */
	unsigned qdepth;             /* queries running (callbacks nest) */
	bool read_open;              /* a read snapshot is open (outermost query) */
	struct dmap pending;         /* pending rollup deltas (see the head comment) */
	struct rcache rc;            /* row cache (see the head comment) */
	struct wbuf wb;              /* write-behind entry (txn only) */
	struct plink pl;             /* write-behind link change (txn only) */
	struct mbatch mb;            /* new entries waiting for one INSERT (txn only) */
	struct seqmax *sm;           /* f_seq → largest f_oid, SM_SLOTS slots, or NULL */
	struct bloom bf;             /* bulk: the FIDs that may be in the store */
	struct bloom lbf;            /* bulk: the links (parent, name) that may be */
	bool bf_on;                  /* bulk: bf and lbf hold every FID and link */
	uint64_t sm_queries;         /* seq_max calls made */
	uint64_t sm_saved;           /* lookups they saved */
};

/* ---- helpers ------------------------------------------------------------- */

static size_t hash_id(int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
	return (size_t)(h ^ (h >> 29));
}

static size_t hash_fid(const struct loafre_fid *f)
{
	uint64_t h = f->f_seq * 0x9E3779B97F4A7C15ull ^ ((uint64_t)f->f_oid * 0xBF58476D1CE4E5B9ull) ^
		     f->f_ver;
	h ^= h >> 31;
	return (size_t)h;
}

static void dmap_free(struct dmap *m)
{
	free(m->s);
	m->s = NULL;
	m->mask = 0;
	m->n = 0;
}

static void dmap_reset(struct dmap *m)
{
	if (m->n)
		memset(m->s, 0, (m->mask + 1) * sizeof(*m->s));
	m->n = 0;
}

static struct dmap_slot *dmap_find(const struct dmap *m, int64_t id)
{
	if (!m->s)
		return NULL;
	for (size_t i = hash_id(id) & m->mask;; i = (i + 1) & m->mask) {
		if (m->s[i].id == id)
			return &m->s[i];
		if (m->s[i].id == 0)
			return NULL;
	}
}

/* The slot of id, inserted (zero delta, aux -1) if missing; NULL: ENOMEM. */
static struct dmap_slot *dmap_get(struct dmap *m, int64_t id)
{
	size_t i;

	if (!m->s || (m->n + 1) * 4 > (m->mask + 1) * 3) {
		size_t cap = m->s ? (m->mask + 1) * 2 : 1024;
		struct dmap_slot *ns = calloc(cap, sizeof(*ns));

		if (!ns)
			return NULL;
		for (size_t k = 0; m->s && k <= m->mask; k++) {
			if (!m->s[k].id)
				continue;
			for (i = hash_id(m->s[k].id) & (cap - 1); ns[i].id; i = (i + 1) & (cap - 1))
				;
			ns[i] = m->s[k];
		}
		free(m->s);
		m->s = ns;
		m->mask = cap - 1;
	}
	for (i = hash_id(id) & m->mask; m->s[i].id; i = (i + 1) & m->mask)
		if (m->s[i].id == id)
			return &m->s[i];
	/* a fresh slot: nothing of a deleted entry's delta may survive in it */
	m->s[i] = (struct dmap_slot){.id = id, .aux = -1};
	m->n++;
	return &m->s[i];
}

/* Removes id (backward-shift deletion). */
static void dmap_del(struct dmap *m, int64_t id)
{
	struct dmap_slot *s = dmap_find(m, id);
	size_t i, j;

	if (!s)
		return;
	i = (size_t)(s - m->s);
	m->s[i].id = 0;
	m->n--;
	for (j = (i + 1) & m->mask; m->s[j].id; j = (j + 1) & m->mask) {
		size_t home = hash_id(m->s[j].id) & m->mask;

		/* j may move to i when home is not in (i, j] cyclically */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->s[i] = m->s[j];
			m->s[j].id = 0;
			i = j;
		}
	}
}

static bool is_dir(uint32_t mode)
{
	return (mode & S_IFMT) == S_IFDIR;
}

static int check_name(const char *name)
{
	size_t n;

	if (!name)
		return -EINVAL;
	n = strlen(name);
	if (n == 0 || n > LOAFRE__IDX_NAME_MAX || memchr(name, '/', n) || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -EINVAL;
	return 0;
}

uint64_t loafre__idx_fid_ino(const struct loafre_fid *fid)
{
	uint64_t seq = fid->f_seq, ino;

	if (seq >= (1ull << 41) && fid->f_ver == 0)
		return fid->f_oid; /* lib/localfs_fid.c, first form: oid is the inode */
	if (seq >= 12 && seq <= 0xffffffffull)
		return seq; /* IGIF */
	ino = (seq << 24) + ((seq >> 24) & 0xffffff0000ull) + fid->f_oid;
	return ino ? ino : fid->f_oid;
}

/* ---- row cache ------------------------------------------------------------- */

static size_t rc_hash_fid(const struct rcache *c, uint32_t v)
{
	return hash_fid(&c->rows[v - 1].fid);
}

static size_t rc_hash_id(const struct rcache *c, uint32_t v)
{
	return hash_id(c->rows[v - 1].id);
}

static uint32_t tag_of(size_t h)
{
	return (uint32_t)((uint64_t)h >> 32);
}

static void rc_free(struct rcache *c)
{
	free(c->rows);
	free(c->by_fid);
	free(c->by_id);
	free(c->freel);
	memset(c, 0, sizeof(*c));
}

static void rc_clear(struct rcache *c)
{
	if (!c->rows || (c->used == 0 && c->n == 0))
		return;
	memset(c->by_fid, 0, (c->mask + 1) * sizeof(*c->by_fid));
	memset(c->by_id, 0, (c->mask + 1) * sizeof(*c->by_id));
	c->used = c->nfree = c->n = c->hand = c->last = 0;
}

/* Index of the row of fid / id, or -1. */
static ptrdiff_t rc_find_fid(const struct rcache *c, const struct loafre_fid *fid)
{
	size_t h = hash_fid(fid);
	uint32_t tag = tag_of(h);

	if (!c->n)
		return -1;
	for (size_t i = h & c->mask;; i = (i + 1) & c->mask) {
		const struct rslot *sl = &c->by_fid[i];

		if (!sl->row)
			return -1;
		if (sl->tag == tag && loafre_fid_equal(&c->rows[sl->row - 1].fid, fid))
			return (ptrdiff_t)sl->row - 1;
	}
}

static ptrdiff_t rc_find_id(const struct rcache *c, int64_t id)
{
	size_t h = hash_id(id);
	uint32_t tag = tag_of(h);

	if (!c->n)
		return -1;
	for (size_t i = h & c->mask;; i = (i + 1) & c->mask) {
		const struct rslot *sl = &c->by_id[i];

		if (!sl->row)
			return -1;
		if (sl->tag == tag && c->rows[sl->row - 1].id == id)
			return (ptrdiff_t)sl->row - 1;
	}
}

static void tab_add(const struct rcache *c, struct rslot *tab, size_t h, uint32_t v)
{
	size_t i;

	for (i = h & c->mask; tab[i].row; i = (i + 1) & c->mask)
		;
	tab[i] = (struct rslot){v, tag_of(h)};
}

/* Removes value v from tab (backward-shift deletion). */
static void tab_del(const struct rcache *c, struct rslot *tab, size_t h,
		    size_t (*hash_of)(const struct rcache *c, uint32_t v), uint32_t v)
{
	size_t i, j;

	for (i = h & c->mask; tab[i].row != v; i = (i + 1) & c->mask)
		if (!tab[i].row)
			return;
	tab[i].row = 0;
	for (j = (i + 1) & c->mask; tab[j].row; j = (j + 1) & c->mask) {
		size_t home = hash_of(c, tab[j].row) & c->mask;

		/* j may move to i when home is not in (i, j] cyclically */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			tab[i] = tab[j];
			tab[j].row = 0;
			i = j;
		}
	}
}

static void rc_del_at(struct rcache *c, size_t i)
{
	uint32_t v = (uint32_t)i + 1;

	tab_del(c, c->by_fid, hash_fid(&c->rows[i].fid), rc_hash_fid, v);
	tab_del(c, c->by_id, hash_id(c->rows[i].id), rc_hash_id, v);
	c->rows[i].id = 0;
	c->freel[c->nfree++] = (uint32_t)i;
	c->n--;
}

static void rc_del_id(struct rcache *c, int64_t id)
{
	ptrdiff_t i = rc_find_id(c, id);

	if (i >= 0)
		rc_del_at(c, (size_t)i);
}

/* Room for one more row: grows up to RC_MAX rows, then evicts an eighth
 * (clock: rows unused since the hand's last pass; files first, then
 * directories on the second turn). false: no memory (nothing cached). */
static bool rc_room(struct rcache *c)
{
	if (c->n < c->cap)
		return true;
	if (c->cap < RC_MAX) {
		size_t cap = c->cap ? c->cap * 2 : RC_MIN, mask = 2 * cap - 1;
		struct crow *rows = realloc(c->rows, cap * sizeof(*rows));
		uint32_t *fl;
		struct rslot *bf, *bi;

		if (!rows)
			return false;
		c->rows = rows;
		fl = realloc(c->freel, cap * sizeof(*fl));
		if (!fl)
			return false;
		c->freel = fl;
		bf = calloc(mask + 1, sizeof(*bf));
		bi = calloc(mask + 1, sizeof(*bi));
		if (!bf || !bi) {
			free(bf);
			free(bi);
			return false;
		}
		free(c->by_fid);
		free(c->by_id);
		c->by_fid = bf;
		c->by_id = bi;
		c->mask = mask;
		c->cap = cap;
		for (size_t i = 0; i < c->used; i++)
			if (c->rows[i].id) {
				tab_add(c, c->by_fid, hash_fid(&c->rows[i].fid), (uint32_t)i + 1);
				tab_add(c, c->by_id, hash_id(c->rows[i].id), (uint32_t)i + 1);
			}
		return true;
	}
	for (size_t step = 0, freed = 0; freed < c->cap / 8 && step < 3 * c->cap; step++) {
		struct crow *r = &c->rows[c->hand];

		if (r->id && !r->ref && (!S_ISDIR(r->a.mode) || step >= c->cap)) {
			rc_del_at(c, c->hand);
			freed++;
		} else {
			r->ref = false;
		}
		c->hand = (c->hand + 1) % c->cap;
	}
	return c->n < c->cap;
}

/* Caches v, a row just inserted: neither its id nor its FID can be cached
 * (the FID was not in the store; a deleted row leaves the cache). */
static void rc_put_new(struct rcache *c, const struct crow *v)
{
	size_t k;

	if (!rc_room(c))
		return;
	k = c->nfree ? c->freel[--c->nfree] : c->used++;
	c->rows[k] = *v;
	c->rows[k].ref = true;
	c->rows[k].a.symlink = NULL;
	tab_add(c, c->by_fid, hash_fid(&v->fid), (uint32_t)k + 1);
	tab_add(c, c->by_id, hash_id(v->id), (uint32_t)k + 1);
	c->n++;
}

/* Caches v (replacing what the cache has for its id or FID). */
static void rc_put(struct rcache *c, const struct crow *v)
{
	ptrdiff_t i = rc_find_id(c, v->id);

	if (i >= 0 && loafre_fid_equal(&c->rows[i].fid, &v->fid)) {
		c->rows[i] = *v;
		c->rows[i].ref = true;
		return;
	}
	if (i >= 0)
		rc_del_at(c, (size_t)i);
	i = rc_find_fid(c, &v->fid);
	if (i >= 0)
		rc_del_at(c, (size_t)i);
	rc_put_new(c, v);
}

/* ---- Bloom filter of a bulk load's FIDs -------------------------------------- */

static void bloom_free(struct bloom *b)
{
	for (unsigned i = 0; i < b->nlayers; i++)
		free(b->bits[i]);
	memset(b, 0, sizeof(*b));
}

/* The two hashes of the probes (h1 + k h2) from one 64-bit mix. */
static void bloom_split(uint64_t h, uint64_t *h1, uint64_t *h2)
{
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	*h1 = h;
	*h2 = (h >> 32 | h << 32) * 0x94D049BB133111EBull | 1; /* from the high half: the
							     * probes use low bits */
}

static void fid_hashes(const struct loafre_fid *fid, uint64_t *h1, uint64_t *h2)
{
	bloom_split(fid->f_seq * 0x9E3779B97F4A7C15ull ^ ((uint64_t)fid->f_oid << 32 | fid->f_ver), h1,
		    h2);
}

/* (parent, name) of a link: FNV-1a over the name, mixed with the parent. */
static void link_hashes(int64_t parent, const char *name, uint64_t *h1, uint64_t *h2)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	bloom_split(h ^ (uint64_t)parent * 0x9E3779B97F4A7C15ull, h1, h2);
}

/* false: not enough memory (the filter is then unusable). */
static bool bloom_add(struct bloom *b, uint64_t h1, uint64_t h2)
{
	uint64_t nbits;
	unsigned l;

	if (!b->nlayers || b->n >= ((size_t)1 << (BLOOM_BITS0 + b->nlayers - 1)) / 10) {
		if (b->nlayers == BLOOM_LAYERS)
			return false;
		b->bits[b->nlayers] = calloc((size_t)1 << (BLOOM_BITS0 + b->nlayers - 6),
					     sizeof(uint64_t));
		if (!b->bits[b->nlayers])
			return false;
		b->nlayers++;
		b->n = 0;
	}
	l = b->nlayers - 1;
	nbits = (uint64_t)1 << (BLOOM_BITS0 + l);
	for (int k = 0; k < 7; k++, h1 += h2)
		b->bits[l][(h1 & (nbits - 1)) >> 6] |= 1ull << (h1 & 63);
	b->n++;
	return true;
}

static bool bloom_maybe(const struct bloom *b, uint64_t h1, uint64_t h2)
{
	for (unsigned l = 0; l < b->nlayers; l++) {
		uint64_t nbits = (uint64_t)1 << (BLOOM_BITS0 + l), h = h1;
		int k;

		for (k = 0; k < 7; k++, h += h2)
			if (!(b->bits[l][(h & (nbits - 1)) >> 6] & (1ull << (h & 63))))
				break;
		if (k == 7)
			return true;
	}
	return false;
}

static void bf_drop(struct loafre__idx *x)
{
	x->bf_on = false;
	bloom_free(&x->bf);
	bloom_free(&x->lbf);
}

/* A FID / a link joins the store (no memory: the filters go). */
static void bf_fid(struct loafre__idx *x, const struct loafre_fid *fid)
{
	uint64_t h1, h2;

	fid_hashes(fid, &h1, &h2);
	if (x->bf_on && !bloom_add(&x->bf, h1, h2))
		bf_drop(x);
}

static void bf_link(struct loafre__idx *x, int64_t parent, const char *name)
{
	uint64_t h1, h2;

	link_hashes(parent, name, &h1, &h2);
	if (x->bf_on && !bloom_add(&x->lbf, h1, h2))
		bf_drop(x);
}

/* Certainly not in the store. */
static bool bf_no_fid(const struct loafre__idx *x, const struct loafre_fid *fid)
{
	uint64_t h1, h2;

	if (!x->bf_on)
		return false;
	fid_hashes(fid, &h1, &h2);
	return !bloom_maybe(&x->bf, h1, h2);
}

static bool bf_no_link(const struct loafre__idx *x, int64_t parent, const char *name)
{
	uint64_t h1, h2;

	if (!x->bf_on)
		return false;
	link_hashes(parent, name, &h1, &h2);
	return !bloom_maybe(&x->lbf, h1, h2);
}

/* The primary link of a cached row is (parent, name). */
static void crow_set_link(struct crow *c, int64_t parent, const char *name)
{
	size_t len = parent && name ? strlen(name) : RC_NAME_MAX + 1;

	c->parent = parent;
	c->name_ok = len <= RC_NAME_MAX;
	if (c->name_ok)
		memcpy(c->name, name, len + 1);
	else
		c->name[0] = '\0';
}

static void crow_of_row(struct crow *c, const struct loafre__idx_row *row)
{
	crow_set_link(c, row->parent, row->name);
	c->fid = row->e.fid;
	c->id = row->id;
	c->a = row->e.a;
	c->a.symlink = NULL;
	c->mdt = row->e.mdt;
	c->nxlinks = row->nxlinks;
	c->symlink = S_ISLNK(row->e.a.mode);
	c->ref = true;
}

/* ---- open, close, transactions -------------------------------------------- */

int loafre__idx_open(enum loafre__idx_backend backend, const char *where, const char *fsname,
		     int flags, struct loafre__idx **ret, char *err, size_t errlen)
{
	const struct loafre__idx_ops *ops;
	struct loafre__idx *x;
	int r;

	if (errlen)
		err[0] = '\0';
	if (!where || !ret || (flags & ~(LOAFRE__IDX_READONLY | LOAFRE__IDX_CREATE)) ||
	    ((flags & LOAFRE__IDX_READONLY) && (flags & LOAFRE__IDX_CREATE))) {
		snprintf(err, errlen, "bad arguments");
		return -EINVAL;
	}
	switch (backend) {
	case LOAFRE__IDX_SQLITE:
		ops = &loafre__idx_sqlite_ops;
		break;
	case LOAFRE__IDX_POSTGRESQL:
		r = loafre__idx_pg_ops(&ops, err, errlen); /* lib/index_pg.c or index_pg_none.c */
		if (r < 0)
			return r;
		break;
	default:
		snprintf(err, errlen, "unknown index backend %d", (int)backend);
		return -EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x->ops = ops;
	x->flags = flags;
	r = ops->open(where, fsname, flags, &x->be, err, errlen);
	if (r < 0) {
		free(x);
		return r;
	}
	*ret = x;
	return 0;
}

void loafre__idx_close(struct loafre__idx *x)
{
	if (!x)
		return;
	if (x->in_txn)
		x->ops->rollback(x->be);
	x->ops->close(x->be);
	dmap_free(&x->pending);
	rc_free(&x->rc);
	bf_drop(x);
	free(x->sm);
	free(x->wb.symlink);
	for (size_t i = 0; i < x->mb.n; i++)
		free(x->mb.w[i].symlink);
	free(x);
}

const char *loafre__idx_errmsg(const struct loafre__idx *x)
{
	return x ? x->ops->errmsg(x->be) : "";
}

void loafre__idx_set_busy_timeout(struct loafre__idx *x, unsigned ms)
{
	x->ops->set_busy_timeout(x->be, ms);
}

static void wb_discard(struct loafre__idx *x)
{
	free(x->wb.symlink);
	memset(&x->wb, 0, sizeof(x->wb));
}

/* Drops the first n entries of the batch (their symlink copies). */
static void mb_drop(struct loafre__idx *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(x->mb.w[i].symlink);
		x->mb.w[i].symlink = NULL;
	}
	x->mb.n = 0;
}

/* End of a transaction. `keep`: it committed (the row cache stays valid
 * for this handle); else it rolled back: the cache and a bulk load go. */
static int pl_flush(struct loafre__idx *x);
static bool sm_new(struct loafre__idx *x, const struct loafre_fid *fid);
static bool sm_new_known(struct loafre__idx *x, const struct loafre_fid *fid);
static void sm_clear(struct loafre__idx *x);

static void txn_reset(struct loafre__idx *x, bool keep)
{
	wb_discard(x);
	mb_drop(x, x->mb.n);
	x->mb.next_id = 0;
	x->pl.active = false;
	x->in_txn = false;
	x->failed = 0;
	if (!keep || !x->bulk)
		dmap_reset(&x->pending); /* a bulk load keeps its deltas to its end */
	if (!keep) {
		rc_clear(&x->rc);
		sm_clear(x);
		x->bulk = false;
		bf_drop(x);
	}
}

int loafre__idx_begin(struct loafre__idx *x)
{
	bool changed = true;
	int r;

	if (x->flags & LOAFRE__IDX_READONLY)
		return -EROFS;
	if (x->qdepth)
		return -EDEADLK;
	if (x->in_txn)
		return -EINVAL;
	r = x->ops->begin(x->be);
	if (r < 0)
		return r;
	if (x->ops->changed) {
		r = x->ops->changed(x->be, &changed);
		if (r < 0) {
			x->ops->rollback(x->be);
			return r;
		}
	}
	if (changed) {
		rc_clear(&x->rc);
		sm_clear(x);
		bf_drop(x); /* another writer's FIDs and links are not in them */
	}
	txn_reset(x, true);
	x->in_txn = true;
	return 0;
}

static int flush(struct loafre__idx *x);
static int wb_flush(struct loafre__idx *x);

int loafre__idx_commit(struct loafre__idx *x)
{
	int r;

	if (!x->in_txn)
		return -EINVAL;
	if (x->qdepth)
		return -EDEADLK;
	r = x->failed;
	if (r == 0)
		r = wb_flush(x); /* first: its insert may end in a link change (relink) */
	if (r == 0)
		r = pl_flush(x);
	if (r == 0 && !x->bulk)
		r = flush(x);
	if (r < 0) {
		x->ops->rollback(x->be);
		txn_reset(x, false);
		return r;
	}
	r = x->ops->commit(x->be);
	txn_reset(x, r == 0);
	return r;
}

int loafre__idx_rollback(struct loafre__idx *x)
{
	int r;

	if (!x->in_txn)
		return 0;
	if (x->qdepth)
		return -EDEADLK;
	r = x->ops->rollback(x->be);
	txn_reset(x, false);
	return r;
}

/* Guard of every mutation. */
static int mut_enter(struct loafre__idx *x)
{
	if (x->flags & LOAFRE__IDX_READONLY)
		return -EROFS;
	if (x->qdepth)
		return -EDEADLK;
	if (!x->in_txn)
		return -EINVAL;
	return x->failed;
}

/* An error after a mutation started writing poisons the transaction. */
static int poison(struct loafre__idx *x, int r)
{
	if (r < 0 && !x->failed)
		x->failed = r;
	return r;
}

/* Queries: inside a write transaction they see it (rollups flushed first
 * when `sums`); otherwise the outermost one opens a read snapshot. */
static int q_enter(struct loafre__idx *x, bool sums)
{
	int r;

	if (x->in_txn) {
		if (x->failed)
			return x->failed;
		r = x->qdepth ? 0 : wb_flush(x);
		if (r == 0 && !x->qdepth)
			r = pl_flush(x);
		if (r < 0)
			return poison(x, r);
		if (sums && x->pending.n && x->qdepth == 0) {
			r = flush(x);
			if (r < 0)
				return poison(x, r);
		}
	} else if (x->qdepth == 0) {
		r = x->ops->read_begin(x->be);
		if (r < 0)
			return r;
		x->read_open = true;
	}
	x->qdepth++;
	return 0;
}

static void q_leave(struct loafre__idx *x)
{
	if (--x->qdepth == 0 && x->read_open) {
		x->ops->read_end(x->be);
		x->read_open = false;
	}
}

/* ---- rows used by the mutations (through the row cache) ---------------------- */

static int mb_write(struct loafre__idx *x);
static int pl_write(struct loafre__idx *x);

/* Is entry id / fid in the batch (see mb_write)? Its ids are the newest. */
static bool mb_has_id(const struct loafre__idx *x, int64_t id)
{
	return x->mb.n && id >= x->mb.id[0];
}

static bool mb_has_fid(const struct loafre__idx *x, const struct loafre_fid *fid)
{
	for (size_t i = 0; i < x->mb.n; i++)
		if (loafre_fid_equal(&x->mb.w[i].fid, fid))
			return true;
	return false;
}

/* The row of fid (cached inside a write transaction). */
static int row_by_fid(struct loafre__idx *x, const struct loafre_fid *fid, struct crow *ret)
{
	struct loafre__idx_row row;
	ptrdiff_t i;
	int r;

	/* a FID above its known sequence's largest: new, and so not cached
	 * either (no probe of the cache's table, a cache miss per creation) */
	if (x->in_txn && x->rc.last) {
		struct crow *c = &x->rc.rows[x->rc.last - 1];

		if (c->id && loafre_fid_equal(&c->fid, fid)) { /* a live row, that FID */
			c->ref = true;
			*ret = *c;
			return 0;
		}
	}
	if (x->in_txn && sm_new_known(x, fid))
		return -ENOENT;
	i = x->in_txn ? rc_find_fid(&x->rc, fid) : -1;
	if (i >= 0) {
		x->rc.rows[i].ref = true;
		x->rc.last = (size_t)i + 1;
		*ret = x->rc.rows[i];
		return 0;
	}
	if (x->in_txn && (bf_no_fid(x, fid) || sm_new(x, fid)))
		return -ENOENT;
	/* the batch only when it has fid (its other entries change no other
	 * row but the holders of their names: see mb_holder) */
	r = mb_has_fid(x, fid) ? mb_write(x) : 0;
	if (r == 0)
		r = pl_write(x);
	if (r == 0)
		r = x->ops->entry_by_fid(x->be, fid, false, &row);
	if (r < 0)
		return r;
	crow_of_row(ret, &row);
	if (x->in_txn)
		rc_put(&x->rc, ret);
	return 0;
}

/* The row of entry id (cached inside a write transaction). */
static int row_by_id(struct loafre__idx *x, int64_t id, struct crow *ret)
{
	struct loafre__idx_row row;
	ptrdiff_t i = x->in_txn ? rc_find_id(&x->rc, id) : -1;
	int r;

	if (i >= 0) {
		x->rc.rows[i].ref = true;
		*ret = x->rc.rows[i];
		return 0;
	}
	r = mb_has_id(x, id) ? mb_write(x) : 0; /* as row_by_fid */
	if (r == 0)
		r = pl_write(x);
	if (r == 0)
		r = x->ops->entry_by_id(x->be, id, false, &row);
	if (r < 0)
		return r;
	crow_of_row(ret, &row);
	if (x->in_txn)
		rc_put(&x->rc, ret);
	return 0;
}

/* The cached row of id, or NULL (for the cache's updates after writes). */
static struct crow *rc_row(struct loafre__idx *x, int64_t id)
{
	ptrdiff_t i = rc_find_id(&x->rc, id);

	return i >= 0 ? &x->rc.rows[i] : NULL;
}

/* After entry_set_link / xlink_insert / xlink_delete. */
static void rc_set_link(struct loafre__idx *x, int64_t id, int64_t parent, const char *name)
{
	struct crow *c = rc_row(x, id);

	if (c)
		crow_set_link(c, parent, name);
}

static void rc_add_xlinks(struct loafre__idx *x, int64_t id, int d)
{
	struct crow *c = rc_row(x, id);

	if (c)
		c->nxlinks = (uint32_t)((int64_t)c->nxlinks + d);
}

/* Writes the pending link change (alone: it conflicts with no entry of
 * the batch, see set_link). */
static int pl_write(struct loafre__idx *x)
{
	struct plink *p = &x->pl;

	if (!p->active)
		return 0;
	p->active = false;
	return x->ops->entry_set_link(x->be, p->id, p->parent, p->parent ? p->name : NULL);
}

/* Writes what waits (the batch of new entries, then the pending link
 * change) before the backend is read or written otherwise. */
static int pl_flush(struct loafre__idx *x)
{
	int r = mb_write(x);

	return r < 0 ? r : pl_write(x);
}

/* Does an entry of the batch have the link (parent, name)? name NULL:
 * any link in parent. */
static bool mb_has_link(const struct loafre__idx *x, int64_t parent, const char *name)
{
	for (size_t i = 0; i < x->mb.n; i++) {
		const struct wbuf *w = &x->mb.w[i];

		if (w->linked && w->parent == parent && (!name || strcmp(w->name, name) == 0))
			return true;
	}
	return false;
}

/* Is row (cached or just read) the holder of a link that an entry of the
 * batch takes (whose insert will be refused and which then takes the name
 * from it)? Then a mutation of row writes the batch first, and reads row
 * again: the batch's order is the records' order. */
static bool mb_holder(const struct loafre__idx *x, const struct crow *row)
{
	return x->mb.n && row->parent &&
	       mb_has_link(x, row->parent, row->name_ok ? row->name : NULL);
}

/* Would writing a change of entry id (its row, its link, its deletion;
 * new link (parent, name) or parent 0) before the batch's inserts change
 * what they do? Then the batch is written first. Its present link comes
 * from the row cache (not cached: assume so). */
static int mb_before(struct loafre__idx *x, int64_t id, int64_t parent, const char *name)
{
	ptrdiff_t i;
	const struct crow *c;

	if (!x->mb.n)
		return 0;
	if (mb_has_id(x, id) || (parent && mb_has_link(x, parent, name)))
		return mb_write(x);
	i = rc_find_id(&x->rc, id);
	c = i >= 0 ? &x->rc.rows[i] : NULL;
	if (!c || (c->parent && mb_has_link(x, c->parent, c->name_ok ? c->name : NULL)))
		return mb_write(x);
	return 0;
}

/* entry_set_link, written behind (merged with a pending change of id). */
static int set_link(struct loafre__idx *x, int64_t id, int64_t parent, const char *name)
{
	struct plink *p = &x->pl;
	int r = mb_before(x, id, parent, name);

	if (r == 0 && p->active && p->id != id)
		r = pl_write(x);
	if (r < 0)
		return r;
	if (parent)
		bf_link(x, parent, name);
	p->active = true;
	p->id = id;
	p->parent = parent;
	snprintf(p->name, sizeof(p->name), "%s", parent ? name : "");
	rc_set_link(x, id, parent, name);
	return 0;
}

/* link_get as if the pending link change were written. */
static int link_get(struct loafre__idx *x, int64_t parent, const char *name, int64_t *ret_child,
		    int64_t *ret_xid)
{
	const struct plink *p = &x->pl;
	int64_t child, xid;
	int r;

	if (p->active && p->parent == parent && strcmp(p->name, name) == 0) {
		*ret_child = p->id;
		*ret_xid = 0;
		return 0;
	}
	if (bf_no_link(x, parent, name))
		return -ENOENT;
	r = mb_write(x);
	if (r < 0)
		return r;
	r = x->ops->link_get(x->be, parent, name, &child, &xid);
	if (r == 0 && p->active && child == p->id && xid == 0) {
		/* that primary link is going; an xlink may have the name
		 * already: ask again, the change written */
		r = pl_flush(x);
		if (r == 0)
			r = x->ops->link_get(x->be, parent, name, &child, &xid);
	}
	if (r < 0)
		return r;
	*ret_child = child;
	*ret_xid = xid;
	return 0;
}

static void sm_clear(struct loafre__idx *x)
{
	if (x->sm)
		memset(x->sm, 0, SM_SLOTS * sizeof(*x->sm));
}

/* The slot of seq: its own, else a free one, else (all SM_PROBES taken)
 * the first, replaced. NULL: no memory. */
static struct seqmax *sm_slot(struct loafre__idx *x, uint64_t seq)
{
	size_t h = hash_id((int64_t)seq);
	struct seqmax *free_slot = NULL;

	if (!x->sm && !(x->sm = calloc(SM_SLOTS, sizeof(*x->sm))))
		return NULL;
	for (unsigned i = 0; i < SM_PROBES; i++) {
		struct seqmax *m = &x->sm[(h + i) & (SM_SLOTS - 1)];

		if (m->used && m->seq == seq)
			return m;
		if (!m->used && !free_slot)
			free_slot = m;
	}
	return free_slot ? free_slot : &x->sm[h & (SM_SLOTS - 1)];
}

/* Is fid certainly absent from the store (f_oid above its sequence's
 * largest)? Learns the sequence's largest f_oid on first use. */
static bool sm_new(struct loafre__idx *x, const struct loafre_fid *fid)
{
	struct seqmax *m;
	uint32_t oid;
	int r;

	if (!x->ops->seq_max || !x->in_txn ||
	    (x->sm_queries >= 64 && x->sm_saved < 4 * x->sm_queries))
		return false; /* FIDs of few entries per sequence (loafre's local
			       * FIDs: the inode's generation): no use */
	m = sm_slot(x, fid->f_seq);
	if (!m)
		return false;
	if (!m->used || m->seq != fid->f_seq) {
		x->sm_queries++;
		r = mb_write(x); /* its FIDs count */
		if (r == 0)
			r = x->ops->seq_max(x->be, fid->f_seq, &oid);
		if (r < 0 && r != -ENOENT)
			return false;
		*m = (struct seqmax){fid->f_seq, r == 0 ? oid : 0, true, r == 0};
	}
	if (m->has && fid->f_oid <= m->oid)
		return false;
	x->sm_saved++;
	return true;
}

/* sm_new when fid's sequence is known already (no query); false otherwise. */
static bool sm_new_known(struct loafre__idx *x, const struct loafre_fid *fid)
{
	const struct seqmax *m;

	if (!x->sm || !x->ops->seq_max || !x->in_txn ||
	    (x->sm_queries >= 64 && x->sm_saved < 4 * x->sm_queries))
		return false;
	m = sm_slot(x, fid->f_seq);
	if (!m || !m->used || m->seq != fid->f_seq || (m->has && fid->f_oid <= m->oid))
		return false;
	x->sm_saved++;
	return true;
}

/* An entry was inserted: its sequence's largest f_oid may grow. */
static void sm_note(struct loafre__idx *x, const struct loafre_fid *fid)
{
	struct seqmax *m = x->sm ? sm_slot(x, fid->f_seq) : NULL;

	if (m && m->used && m->seq == fid->f_seq && (!m->has || fid->f_oid > m->oid)) {
		m->has = true;
		m->oid = fid->f_oid;
	}
}

static int pend(struct loafre__idx *x, int64_t dir, int64_t blocks, int64_t bytes, int64_t inodes)
{
	struct dmap_slot *s;

	if (dir <= 0 || (blocks == 0 && bytes == 0 && inodes == 0))
		return 0;
	s = dmap_get(&x->pending, dir);
	if (!s)
		return -ENOMEM;
	s->blocks += blocks;
	s->bytes += bytes;
	s->inodes += inodes;
	return 0;
}

/* What the primary link of row adds to its parent's rollup: own attributes
 * (a non-directory) or the stored rollup (a directory; its pending deltas
 * move with the structure). */
static int contribution(struct loafre__idx *x, const struct crow *row, struct loafre__idx_sum *ret)
{
	if (is_dir(row->a.mode))
		return x->ops->dirsum_get(x->be, row->id, ret);
	ret->blocks = row->a.blocks;
	ret->bytes = row->a.size;
	ret->inodes = 1;
	return 0;
}

static int pend_sum(struct loafre__idx *x, int64_t dir, const struct loafre__idx_sum *s, int sign)
{
	return pend(x, dir, sign * (int64_t)s->blocks, sign * (int64_t)s->bytes,
		    sign * (int64_t)s->inodes);
}

static int do_link(struct loafre__idx *x, const struct loafre_fid *parent, const char *name,
		   const struct loafre_fid *child);

/* A new entry w got id (inserted, or waiting in the batch): the row cache,
 * the FID and link filters, the sequence map and the rollups know it. */
static int entry_made(struct loafre__idx *x, const struct wbuf *w, int64_t id)
{
	struct crow c = {.fid = w->fid, .id = id, .parent = w->linked ? w->parent : 0,
			 .a = w->a, .mdt = w->mdt, .symlink = S_ISLNK(w->a.mode)};

	crow_set_link(&c, c.parent, w->name);
	if (!x->bulk || is_dir(w->a.mode)) /* a load's files are not met again */
		rc_put_new(&x->rc, &c);
	bf_fid(x, &w->fid);
	if (w->linked)
		bf_link(x, w->parent, w->name);
	sm_note(x, &w->fid);
	if (is_dir(w->a.mode))
		return pend(x, id, (int64_t)w->a.blocks, (int64_t)w->a.size, 1);
	if (w->linked)
		return pend(x, w->parent, (int64_t)w->a.blocks, (int64_t)w->a.size, 1);
	return 0;
}

/* Inserts the write-behind entry now (a backend without
 * entry_insert_many). */
static int wb_insert(struct loafre__idx *x)
{
	struct wbuf *w = &x->wb;
	struct loafre_fid fid = w->fid, pfid;
	char name[LOAFRE__IDX_NAME_MAX + 1];
	bool relink = false;
	int64_t id;
	int r = 0;

	if (!w->active)
		return 0;
	w->active = false;
	if (w->linked && w->unchecked)
		r = pl_flush(x); /* the insert checks the name against the table */
	if (r == 0)
		r = x->ops->entry_insert(x->be, &w->fid, &w->a, w->mdt, w->linked ? w->parent : 0,
					 w->linked ? w->name : NULL, w->has_jobid ? w->jobid : NULL,
					 &id);
	if (r == -EEXIST && w->linked && w->unchecked) {
		/* the name is taken: the entry goes in unlinked, then its link
		 * replaces the other one the general way (as when link_get
		 * finds it) */
		struct crow prow;

		r = row_by_id(x, w->parent, &prow);
		if (r == 0) {
			relink = true;
			pfid = prow.fid;
			snprintf(name, sizeof(name), "%s", w->name);
			w->linked = false;
			r = x->ops->entry_insert(x->be, &w->fid, &w->a, w->mdt, 0, NULL,
						 w->has_jobid ? w->jobid : NULL, &id);
		}
	}
	if (r == 0)
		r = entry_made(x, w, id);
	wb_discard(x);
	if (r == 0 && relink)
		r = do_link(x, &pfid, name, &fid);
	return r;
}

static int remove_link(struct loafre__idx *x, int64_t child, int64_t xid, bool pend_old);

/* The batch entry w (row: its insert) was refused: its name is taken. As
 * wb_insert: it goes in unlinked, then takes its name the general way
 * (do_link's for an unlinked new entry: the other link goes). */
static int mb_relink(struct loafre__idx *x, const struct wbuf *w,
		     const struct loafre__idx_newrow *row)
{
	struct loafre__idx_newrow un = *row;
	struct loafre__idx_sum sum;
	struct crow *c, tmp;
	int64_t old_child = 0, old_xid = 0;
	size_t done;
	int r = 0;

	un.parent = 0;
	un.name = NULL;
	/* what wb_seal counted for the link goes with it */
	if (!is_dir(w->a.mode))
		r = pend(x, w->parent, -(int64_t)w->a.blocks, -(int64_t)w->a.size, -1);
	c = rc_row(x, row->id);
	if (c)
		crow_set_link(c, 0, NULL);
	if (r == 0)
		r = x->ops->entry_insert_many(x->be, &un, 1, &done);
	if (r == -EEXIST)
		return -EIO; /* its id is taken: the store's ids are wrong */
	if (r == 0)
		r = link_get(x, w->parent, w->name, &old_child, &old_xid);
	if (r == 0 && old_child != row->id)
		r = remove_link(x, old_child, old_xid, true);
	else if (r == -ENOENT)
		r = 0;
	if (r == 0)
		r = set_link(x, row->id, w->parent, w->name);
	tmp = (struct crow){.id = row->id, .a = w->a};
	if (r == 0)
		r = contribution(x, &tmp, &sum);
	if (r == 0)
		r = pend_sum(x, w->parent, &sum, +1);
	return r;
}

/* Inserts the batch: one statement, in the order the entries came; an
 * entry refused (its name taken, by a stored link or by an earlier entry
 * of the batch) takes its name as wb_insert's would, then the rest
 * follows. Errors poison. */
static int mb_write(struct loafre__idx *x)
{
	struct mbatch *m = &x->mb;
	struct loafre__idx_newrow rows[MB_MAX];
	size_t n = m->n, i = 0, done;
	int r = 0;

	if (n == 0)
		return 0;
	for (size_t k = 0; k < n; k++) {
		const struct wbuf *w = &m->w[k];

		rows[k] = (struct loafre__idx_newrow){
			.id = m->id[k], .fid = &w->fid, .a = &w->a, .mdt = w->mdt,
			.parent = w->linked ? w->parent : 0, .name = w->linked ? w->name : NULL,
			.jobid = w->has_jobid ? w->jobid : NULL};
	}
	m->n = 0; /* what a relink reads or writes finds none waiting */
	while (r == 0 && i < n) {
		/* after a relink: its link change goes first (as wb_insert's
		 * pl_flush before an unchecked insert) */
		r = i ? pl_write(x) : 0;
		if (r == 0)
			r = x->ops->entry_insert_many(x->be, rows + i, n - i, &done);
		i += done;
		if (r == -EEXIST && i < n && rows[i].parent && m->w[i].unchecked) {
			r = mb_relink(x, &m->w[i], &rows[i]);
			i++;
		} else if (r == -EEXIST) {
			r = -EIO; /* an id taken: cannot be */
		}
	}
	mb_drop(x, n);
	return poison(x, r);
}

/* Ends the write-behind entry: with entry_insert_many it joins the batch
 * (its id chosen here; cached, counted in the rollups as if inserted),
 * which is written when full or before anything it could change; else it
 * is inserted now. */
static int wb_seal(struct loafre__idx *x)
{
	struct wbuf *w = &x->wb;
	struct mbatch *m = &x->mb;
	int64_t id = 0;
	int r = 0;

	if (!w->active)
		return 0;
	if (!x->ops->entry_insert_many)
		return wb_insert(x);
	if (w->linked && w->unchecked)
		r = pl_write(x); /* the insert checks the name against the table */
	if (r == 0 && m->next_id == 0) {
		r = mb_write(x);
		if (r == 0)
			r = x->ops->entry_max_id(x->be, &id);
		if (r == 0)
			m->next_id = id + 1;
	}
	if (r < 0) {
		wb_discard(x);
		return r;
	}
	id = m->next_id++;
	m->w[m->n] = *w;
	m->id[m->n] = id;
	m->n++;
	w->symlink = NULL; /* the batch's now */
	r = entry_made(x, w, id);
	wb_discard(x);
	if (r == 0 && m->n == MB_MAX)
		r = mb_write(x);
	return r;
}

/* Everything of the write-behind entry and the batch inserted. */
static int wb_flush(struct loafre__idx *x)
{
	int r = wb_seal(x);

	return r < 0 ? r : mb_write(x);
}

/* Keeps a new entry in the write-behind buffer. */
static int wb_start(struct loafre__idx *x, const struct loafre_fid *fid,
		    const struct loafre__idx_attr *a, uint32_t mdt)
{
	struct wbuf *w = &x->wb;
	char *sl = NULL;

	if (a->symlink) {
		sl = strdup(a->symlink);
		if (!sl)
			return -ENOMEM;
	}
	if (w->active && loafre_fid_equal(&w->fid, fid)) {
		free(w->symlink);
	} else {
		wb_discard(x);
		w->fid = *fid;
		w->active = true;
	}
	w->a = *a;
	w->a.symlink = w->symlink = sl;
	w->mdt = mdt;
	return 0;
}

static bool wb_is(const struct loafre__idx *x, const struct loafre_fid *fid)
{
	return x->wb.active && loafre_fid_equal(&x->wb.fid, fid);
}

static int cmp_delta(const void *a, const void *b)
{
	const struct loafre__idx_delta *p = a, *q = b;

	return (p->id > q->id) - (p->id < q->id);
}

/* Adds every pending delta to its directory and the directory's ancestors
 * (merged), in one dirsum_add batch. */
static int flush(struct loafre__idx *x)
{
	struct dmap acc = {0};
	struct loafre__idx_delta *batch = NULL;
	size_t nb = 0;
	int r = 0;

	if (x->pending.n == 0)
		return 0;
	/* sized for the pending directories and as many ancestors (no
	 * regrowth in the walk, usually) */
	for (acc.mask = 2047; acc.mask + 1 < 4 * x->pending.n; acc.mask = 2 * acc.mask + 1)
		;
	acc.s = calloc(acc.mask + 1, sizeof(*acc.s));
	if (!acc.s) {
		acc.mask = 0;
		return -ENOMEM;
	}
	for (size_t i = 0; i <= x->pending.mask; i++) {
		const struct dmap_slot *p = &x->pending.s[i];
		int64_t y = p->id;
		unsigned depth = 0;

		if (!y || (!p->blocks && !p->bytes && !p->inodes))
			continue;
		while (y > 0) {
			struct dmap_slot *a = dmap_get(&acc, y);

			if (!a) {
				r = -ENOMEM;
				goto out;
			}
			a->blocks += p->blocks;
			a->bytes += p->bytes;
			a->inodes += p->inodes;
			if (a->aux < 0) {
				struct crow row;

				r = row_by_id(x, y, &row);
				if (r < 0)
					goto out;
				a->aux = row.parent;
			}
			y = a->aux;
			if (++depth > LOAFRE__IDX_DEPTH_MAX) {
				r = -ELOOP;
				goto out;
			}
		}
	}
	batch = malloc((acc.n ? acc.n : 1) * sizeof(*batch));
	if (!batch) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; acc.s && i <= acc.mask; i++) {
		const struct dmap_slot *a = &acc.s[i];

		if (a->id && (a->blocks || a->bytes || a->inodes)) {
			const struct crow *c = rc_row(x, a->id); /* cached by the walk, usually */

			batch[nb++] = (struct loafre__idx_delta){a->id, a->blocks, a->bytes, a->inodes,
								 c ? c->fid : (struct loafre_fid){0, 0, 0}};
		}
	}
	qsort(batch, nb, sizeof(*batch), cmp_delta); /* rows in key order */
	r = x->ops->dirsum_add(x->be, batch, nb);
	if (r == 0)
		dmap_reset(&x->pending);
out:
	free(batch);
	dmap_free(&acc);
	return r;
}

/* ---- mutations ---------------------------------------------------------------- */

int loafre__idx_set_root(struct loafre__idx *x, const struct loafre_fid *root)
{
	struct loafre_fid cur;
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (!root || loafre_fid_is_zero(root))
		return -EINVAL;
	r = x->ops->root_get(x->be, &cur);
	if (r == 0)
		return loafre_fid_equal(&cur, root) ? 0 : -EEXIST;
	if (r != -ENOENT)
		return poison(x, r);
	return poison(x, x->ops->root_set(x->be, root));
}

int loafre__idx_get_root(struct loafre__idx *x, struct loafre_fid *ret)
{
	int r = q_enter(x, false);

	if (r < 0)
		return r;
	r = x->ops->root_get(x->be, ret);
	q_leave(x);
	return r;
}

static int stop_cb(void *ctx, const char *name, const struct loafre__idx_row *row, int64_t xid)
{
	(void)ctx;
	(void)name;
	(void)row;
	(void)xid;
	return 1;
}

/* Does writing a over the cached row change nothing? (A symlink's target
 * is not cached: a symlink is always written. Only a symlink has a target:
 * do_upsert drops one given with another type.) */
static bool same_attrs(const struct crow *c, const struct loafre__idx_attr *a, uint32_t mdt)
{
	const struct loafre__idx_attr *o = &c->a;

	return !c->symlink && !a->symlink && c->mdt == mdt && o->mode == a->mode &&
	       o->uid == a->uid && o->gid == a->gid && o->size == a->size &&
	       o->blocks == a->blocks && o->nlink == a->nlink && o->ino == a->ino &&
	       o->dev == a->dev && o->atime_ns == a->atime_ns && o->mtime_ns == a->mtime_ns &&
	       o->ctime_ns == a->ctime_ns;
}

/* Writes a over the existing entry `row` (no type change); the cache
 * follows. */
static int write_attrs(struct loafre__idx *x, const struct crow *row,
		       const struct loafre__idx_attr *a, uint32_t mdt)
{
	struct crow *c;
	int r;

	if (x->ops->entry_update_from && !S_ISLNK(row->a.mode))
		r = x->ops->entry_update_from(x->be, row->id, &row->fid, a, mdt, &row->a, row->mdt);
	else
		r = x->ops->entry_update(x->be, row->id, &row->fid, a, mdt);
	if (r < 0)
		return r;
	c = rc_row(x, row->id);
	if (c) {
		c->a = *a;
		c->a.symlink = NULL;
		c->mdt = mdt;
		c->symlink = S_ISLNK(a->mode);
	}
	return 0;
}

/* upsert (create) or update (!create: -ENOENT for an unknown FID). */
static int do_upsert(struct loafre__idx *x, const struct loafre_fid *fid,
		     const struct loafre__idx_attr *a_in, uint32_t mdt, bool create)
{
	struct loafre__idx_attr na;
	const struct loafre__idx_attr *a = a_in;
	struct crow row;
	int64_t db, dB;
	int r;

	if (!fid || !a || loafre_fid_is_zero(fid) ||
	    (a->symlink && strlen(a->symlink) > LOAFRE__IDX_SYMLINK_MAX))
		return -EINVAL;
	if (a->symlink && !S_ISLNK(a->mode)) { /* a target only for a symlink */
		na = *a;
		na.symlink = NULL;
		a = &na;
	}
	if (wb_is(x, fid))
		return wb_start(x, fid, a, mdt);
	r = wb_seal(x);
	if (r < 0)
		return poison(x, r);
again:
	r = row_by_fid(x, fid, &row);
	if (r == -ENOENT)
		return create ? wb_start(x, fid, a, mdt) : r;
	if (r < 0)
		return poison(x, r);
	if (x->mb.n && (mb_has_id(x, row.id) || mb_holder(x, &row) ||
			is_dir(row.a.mode) != is_dir(a->mode))) {
		r = mb_write(x); /* the batch first, then its row again */
		if (r < 0)
			return poison(x, r);
		goto again;
	}

	if (is_dir(row.a.mode) != is_dir(a->mode)) {
		struct loafre__idx_sum s;

		if (is_dir(row.a.mode)) {
			/* a childless directory becomes a file: its rollup is
			 * its own attributes; the parent trades stored(D)
			 * for own_new (index_store.c head comment) */
			r = pl_flush(x);
			if (r == 0)
				r = x->ops->children(x->be, row.id, false, stop_cb, NULL);
			if (r != 0)
				return r < 0 ? poison(x, r) : -ENOTEMPTY;
			r = x->ops->dirsum_get(x->be, row.id, &s);
			if (r < 0)
				return poison(x, r);
			r = x->ops->entry_update(x->be, row.id, &row.fid, a, mdt);
			if (r == 0 && row.parent)
				r = pend(x, row.parent, (int64_t)(a->blocks - s.blocks),
					 (int64_t)(a->size - s.bytes), 1 - (int64_t)s.inodes);
			if (r == 0) {
				dmap_del(&x->pending, row.id);
				r = x->ops->dirsum_delete(x->be, row.id);
			}
		} else {
			/* a file becomes a directory: one link at most */
			if (row.nxlinks)
				return -EINVAL;
			r = x->ops->entry_update(x->be, row.id, &row.fid, a, mdt);
			if (r == 0 && row.parent)
				r = pend(x, row.parent, -(int64_t)row.a.blocks, -(int64_t)row.a.size,
					 -1);
			if (r == 0)
				r = pend(x, row.id, (int64_t)a->blocks, (int64_t)a->size, 1);
		}
		rc_del_id(&x->rc, row.id);
		return poison(x, r);
	}
	if (same_attrs(&row, a, mdt))
		return 0;
	r = write_attrs(x, &row, a, mdt);
	if (r < 0)
		return poison(x, r);
	db = (int64_t)(a->blocks - row.a.blocks);
	dB = (int64_t)(a->size - row.a.size);
	if (is_dir(a->mode))
		r = pend(x, row.id, db, dB, 0);
	else
		r = pend(x, row.parent, db, dB, 0);
	return poison(x, r);
}

int loafre__idx_upsert(struct loafre__idx *x, const struct loafre_fid *fid,
		       const struct loafre__idx_attr *a, uint32_t mdt)
{
	int r = mut_enter(x);

	return r < 0 ? r : do_upsert(x, fid, a, mdt, true);
}

int loafre__idx_update(struct loafre__idx *x, const struct loafre_fid *fid,
		       const struct loafre__idx_attr *a, uint32_t mdt)
{
	int r = mut_enter(x);

	return r < 0 ? r : do_upsert(x, fid, a, mdt, false);
}

int loafre__idx_set_jobid(struct loafre__idx *x, const struct loafre_fid *fid, const char *jobid)
{
	struct crow row;
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (!fid || (jobid && strlen(jobid) > LOAFRE__IDX_JOBID_MAX))
		return -EINVAL;
	if (wb_is(x, fid)) {
		x->wb.has_jobid = jobid != NULL;
		snprintf(x->wb.jobid, sizeof(x->wb.jobid), "%s", jobid ? jobid : "");
		return 0;
	}
	r = wb_seal(x);
	if (r < 0)
		return poison(x, r);
	r = row_by_fid(x, fid, &row);
	if (r < 0)
		return r == -ENOENT ? r : poison(x, r);
	r = mb_has_id(x, row.id) ? mb_write(x) : 0;
	if (r < 0)
		return poison(x, r);
	return poison(x, x->ops->entry_set_jobid(x->be, row.id, jobid));
}

struct first_xlink {
	bool found;                          /* one was seen */
	int64_t xid, parent;                 /* the oldest */
	char name[LOAFRE__IDX_NAME_MAX + 1]; /* its name */
};

static int first_xlink_cb(void *ctx, const struct loafre__idx_xlink *l)
{
	struct first_xlink *f = ctx;

	f->found = true;
	f->xid = l->xid;
	f->parent = l->parent;
	snprintf(f->name, sizeof(f->name), "%s", l->name);
	return 1; /* the oldest is enough */
}

/* Removes a link of child: the xlink xid, or (xid 0) its primary link,
 * then the oldest xlink is promoted. `pend_old`: adjust the rollup of the
 * old parent (not when it is being deleted anyway). */
static int remove_link(struct loafre__idx *x, int64_t child, int64_t xid, bool pend_old)
{
	struct crow row;
	struct loafre__idx_sum c;
	struct first_xlink fx = {0};
	int r = mb_before(x, child, 0, NULL);

	if (r < 0)
		return r;
	if (xid) {
		r = x->ops->xlink_delete(x->be, xid);
		if (r == 0)
			rc_add_xlinks(x, child, -1);
		return r;
	}
	r = row_by_id(x, child, &row);
	if (r < 0)
		return r == -ENOENT ? -EIO : r;
	r = contribution(x, &row, &c);
	if (r < 0)
		return r;
	if (pend_old) {
		r = pend_sum(x, row.parent, &c, -1);
		if (r < 0)
			return r;
	}
	if (row.nxlinks) {
		r = x->ops->xlinks(x->be, child, first_xlink_cb, &fx);
		if (r < 0)
			return r;
	}
	if (!fx.found)
		return set_link(x, child, 0, NULL);
	r = x->ops->xlink_delete(x->be, fx.xid);
	if (r == 0) {
		rc_add_xlinks(x, child, -1);
		r = set_link(x, child, fx.parent, fx.name);
	}
	if (r == 0)
		r = pend_sum(x, fx.parent, &c, +1);
	return r;
}

/* Is `dir` (an id) `top` or below it, following primary links up? */
static int is_below(struct loafre__idx *x, int64_t dir, int64_t top)
{
	unsigned depth = 0;

	while (dir > 0) {
		struct crow row;
		int r;

		if (dir == top)
			return 1;
		r = row_by_id(x, dir, &row);
		if (r < 0)
			return r == -ENOENT ? -EIO : r;
		dir = row.parent;
		if (++depth > LOAFRE__IDX_DEPTH_MAX)
			return -ELOOP;
	}
	return 0;
}

static int do_link(struct loafre__idx *x, const struct loafre_fid *parent, const char *name,
		   const struct loafre_fid *child)
{
	struct crow prow, crow;
	struct loafre__idx_sum c;
	int64_t old_child = 0, old_xid = 0;
	bool unchecked;
	int r;

	if (!parent || !child || check_name(name) < 0)
		return -EINVAL;
	if (wb_is(x, child) && !x->wb.linked && !wb_is(x, parent)) {
		/* the first link of a new entry joins its insertion */
		r = row_by_fid(x, parent, &prow);
		if (r < 0)
			return r == -ENOENT ? r : poison(x, r);
		if (!is_dir(prow.a.mode))
			return -ENOTDIR;
		/* no lookup when the insert checks the name itself (not the
		 * name of the pending link change: link_get knows it) */
		unchecked = x->ops->insert_checks_link &&
			    !(x->pl.active && x->pl.parent == prow.id && strcmp(x->pl.name, name) == 0) &&
			    x->ops->insert_checks_link(x->be);
		r = unchecked ? -ENOENT : link_get(x, prow.id, name, &old_child, &old_xid);
		if (r == -ENOENT) {
			x->wb.linked = true;
			x->wb.unchecked = unchecked;
			x->wb.parent = prow.id;
			snprintf(x->wb.name, sizeof(x->wb.name), "%s", name);
			return 0;
		}
		if (r < 0)
			return poison(x, r);
		old_child = old_xid = 0; /* a link to replace: the general way */
	}
	r = wb_seal(x);
	if (r < 0)
		return poison(x, r);
again:
	r = row_by_fid(x, parent, &prow);
	if (r < 0)
		return r == -ENOENT ? r : poison(x, r);
	if (!is_dir(prow.a.mode))
		return -ENOTDIR;
	r = row_by_fid(x, child, &crow);
	if (r < 0)
		return r == -ENOENT ? r : poison(x, r);
	unchecked = !is_dir(crow.a.mode) && !crow.parent && x->ops->insert_checks_link &&
		    !(x->pl.active && x->pl.parent == prow.id && strcmp(x->pl.name, name) == 0) &&
		    x->ops->insert_checks_link(x->be);
	/* the general way, or a row or name the batch changes: the batch
	 * first, then the rows again */
	if (x->mb.n && (!unchecked || mb_has_id(x, crow.id) || mb_holder(x, &prow) ||
			mb_has_link(x, prow.id, name))) {
		r = mb_write(x);
		if (r < 0)
			return poison(x, r);
		goto again;
	}
	if (unchecked) {
		/* an unlinked file (the second half of a rename) takes a name:
		 * the link is written now, without a lookup first, when the
		 * backend refuses a taken name itself (as a new entry's insert;
		 * -EEXIST, nothing written: the general way below) */
		r = x->pl.active && x->pl.id != crow.id ? pl_write(x) : 0;
		if (r == 0)
			r = x->ops->entry_set_link(x->be, crow.id, prow.id, name);
		if (r == 0) {
			if (x->pl.active && x->pl.id == crow.id)
				x->pl.active = false; /* its change is written whole */
			bf_link(x, prow.id, name);
			rc_set_link(x, crow.id, prow.id, name);
			r = contribution(x, &crow, &c);
			if (r == 0)
				r = pend_sum(x, prow.id, &c, +1);
			return poison(x, r);
		}
		if (r != -EEXIST)
			return poison(x, r);
	}
	if (x->mb.n) { /* the general way: the batch first */
		r = mb_write(x);
		if (r < 0)
			return poison(x, r);
		goto again;
	}
	r = link_get(x, prow.id, name, &old_child, &old_xid);
	if (r < 0 && r != -ENOENT)
		return poison(x, r);
	if (r == 0 && old_child == crow.id)
		return 0; /* that very link */
	if (is_dir(crow.a.mode)) {
		struct loafre_fid root;

		/* the root is linked nowhere: is_below cannot see it when the
		 * parent lies in a detached subtree (its chain never meets the
		 * root) */
		r = x->ops->root_get(x->be, &root);
		if (r < 0 && r != -ENOENT)
			return poison(x, r);
		if (r == 0 && loafre_fid_equal(&root, child))
			return -EINVAL;
		r = is_below(x, prow.id, crow.id);
		if (r < 0)
			return poison(x, r);
		if (r)
			return -EINVAL; /* under itself */
	}

	/* writes from here on */
	if (old_child) {
		r = remove_link(x, old_child, old_xid, true);
		if (r < 0)
			return poison(x, r);
	}
	if (is_dir(crow.a.mode) && crow.parent) {
		r = remove_link(x, crow.id, 0, true);
		if (r < 0)
			return poison(x, r);
		crow.parent = 0;
	}
	if (crow.parent) { /* a further link of a non-directory */
		r = x->ops->xlink_insert(x->be, prow.id, name, crow.id);
		if (r == 0) {
			rc_add_xlinks(x, crow.id, +1);
			bf_link(x, prow.id, name);
		}
		return poison(x, r);
	}
	r = set_link(x, crow.id, prow.id, name);
	if (r == 0)
		r = contribution(x, &crow, &c);
	if (r == 0)
		r = pend_sum(x, prow.id, &c, +1);
	return poison(x, r);
}

int loafre__idx_link(struct loafre__idx *x, const struct loafre_fid *parent, const char *name,
		     const struct loafre_fid *child)
{
	int r = mut_enter(x);

	return r < 0 ? r : do_link(x, parent, name, child);
}

/* unlink; `expect` non-NULL: only if the link leads to it. */
static int do_unlink(struct loafre__idx *x, const struct loafre_fid *parent, const char *name,
		     const struct loafre_fid *expect)
{
	struct crow prow;
	int64_t child, xid;
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (!parent || check_name(name) < 0)
		return -EINVAL;
	r = wb_seal(x);
	if (r < 0)
		return poison(x, r);
again:
	r = row_by_fid(x, parent, &prow);
	if (r < 0)
		return r == -ENOENT ? r : poison(x, r);
	if (expect) {
		/* from expect's row (cached, usually), without a link lookup:
		 * its primary link is (parent, name), or (no xlinks) no link of
		 * (parent, name) leads to it */
		struct crow erow;

		r = row_by_fid(x, expect, &erow);
		if (r < 0)
			return r == -ENOENT ? r : poison(x, r);
		if (mb_has_id(x, erow.id) || mb_holder(x, &erow)) {
			r = mb_write(x); /* the batch changes it: first */
			if (r < 0)
				return poison(x, r);
			goto again;
		}
		if (erow.parent == prow.id && erow.name_ok && strcmp(erow.name, name) == 0)
			return poison(x, remove_link(x, erow.id, 0, true));
		if (erow.nxlinks == 0 && (erow.parent != prow.id || erow.name_ok))
			return -ENOENT;
	}
	r = link_get(x, prow.id, name, &child, &xid);
	if (r < 0)
		return r == -ENOENT ? r : poison(x, r);
	if (expect) {
		struct crow crow;

		r = row_by_id(x, child, &crow);
		if (r < 0)
			return poison(x, r == -ENOENT ? -EIO : r);
		if (!loafre_fid_equal(&crow.fid, expect))
			return -ENOENT;
	}
	return poison(x, remove_link(x, child, xid, true));
}

int loafre__idx_unlink(struct loafre__idx *x, const struct loafre_fid *parent, const char *name)
{
	return do_unlink(x, parent, name, NULL);
}

int loafre__idx_unlink_if(struct loafre__idx *x, const struct loafre_fid *parent, const char *name,
			  const struct loafre_fid *child)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	return child ? do_unlink(x, parent, name, child) : -EINVAL;
}

/* Subtree deletion: the directories still to empty, and the multi-link
 * files already handled. */
struct del_state {
	struct loafre__idx *x;       /* the store */
	int64_t top;                 /* the deleted directory */
	int64_t *stack;              /* directories to process */
	size_t nstack, capstack;     /* used, allocated */
	struct del_link {
		int64_t child, xid;  /* the link (xid 0: primary) */
		uint32_t mode;       /* child's type */
		uint32_t nxlinks;    /* child's other links */
	} *links;                    /* one directory's links */
	size_t nlinks, caplinks;     /* used, allocated */
};

static int del_collect(void *ctx, const char *name, const struct loafre__idx_row *row, int64_t xid)
{
	struct del_state *d = ctx;

	(void)name;
	if (d->nlinks == d->caplinks) {
		size_t cap = d->caplinks ? d->caplinks * 2 : 64;
		void *p = realloc(d->links, cap * sizeof(*d->links));

		if (!p)
			return -ENOMEM;
		d->links = p;
		d->caplinks = cap;
	}
	d->links[d->nlinks++] = (struct del_link){row->id, xid, row->e.a.mode, row->nxlinks};
	return 0;
}

static int push_dir(struct del_state *d, int64_t id)
{
	if (d->nstack == d->capstack) {
		size_t cap = d->capstack ? d->capstack * 2 : 64;
		void *p = realloc(d->stack, cap * sizeof(*d->stack));

		if (!p)
			return -ENOMEM;
		d->stack = p;
		d->capstack = cap;
	}
	d->stack[d->nstack++] = id;
	return 0;
}

struct xl_list {
	struct loafre__idx_xlink *v; /* names not kept */
	size_t n, cap;               /* used, allocated */
};

static int xl_collect(void *ctx, const struct loafre__idx_xlink *l)
{
	struct xl_list *xl = ctx;

	if (xl->n == xl->cap) {
		size_t cap = xl->cap ? xl->cap * 2 : 8;
		void *p = realloc(xl->v, cap * sizeof(*xl->v));

		if (!p)
			return -ENOMEM;
		xl->v = p;
		xl->cap = cap;
	}
	xl->v[xl->n] = *l;
	xl->v[xl->n++].name = NULL;
	return 0;
}

/* Deletes entry id (backend and cache). */
static int entry_gone(struct loafre__idx *x, int64_t id)
{
	const struct crow *c;
	int r = mb_before(x, id, 0, NULL);

	if (r < 0)
		return r;
	c = x->ops->entry_delete_known ? rc_row(x, id) : NULL;
	if (x->pl.active && x->pl.id == id)
		x->pl.active = false; /* the row goes: its link with it */
	/* a cached row is exact: the backend need not read it */
	r = c ? x->ops->entry_delete_known(x->be, id, &c->fid, c->a.mode, c->nxlinks)
	      : x->ops->entry_delete(x->be, id);
	if (r == 0)
		rc_del_id(&x->rc, id);
	return r;
}

/* A file with several links met inside the deleted tree: deleted when
 * every link lies inside, else only its inside links go (the oldest
 * outside one becomes primary and takes it into its directory's rollup). */
static int del_multilink(struct del_state *d, int64_t child)
{
	struct loafre__idx *x = d->x;
	struct crow row;
	struct xl_list xl = {0};
	bool primary_inside, any_outside = false;
	int r;

	r = row_by_id(x, child, &row);
	if (r < 0)
		return r == -ENOENT ? 0 : r; /* already gone */
	r = x->ops->xlinks(x->be, child, xl_collect, &xl);
	if (r < 0)
		goto out;
	r = row.parent ? is_below(x, row.parent, d->top) : 0;
	if (r < 0)
		goto out;
	primary_inside = r;
	any_outside = row.parent && !primary_inside;
	for (size_t i = 0; i < xl.n; i++) {
		r = is_below(x, xl.v[i].parent, d->top);
		if (r < 0)
			goto out;
		xl.v[i].child = r; /* reused: 1 = inside */
		if (!r)
			any_outside = true;
	}
	if (!any_outside) {
		r = entry_gone(x, child);
		goto out;
	}
	for (size_t i = 0; i < xl.n; i++)
		if (xl.v[i].child) {
			r = x->ops->xlink_delete(x->be, xl.v[i].xid);
			if (r < 0)
				goto out;
			rc_add_xlinks(x, child, -1);
		}
	r = primary_inside ? remove_link(x, child, 0, false) : 0;
out:
	free(xl.v);
	return r;
}

/* Deletes directory `top` (already detached) and everything below it.
 * Directories are deleted last, so that is_below() can walk up from any
 * link inside while the files are handled. */
static int delete_tree(struct loafre__idx *x, int64_t top)
{
	struct del_state d = {.x = x, .top = top};
	int64_t *dirs = NULL;
	size_t ndirs = 0, capdirs = 0;
	int r = push_dir(&d, top);

	while (r == 0 && d.nstack) {
		int64_t dir = d.stack[--d.nstack];

		if (ndirs == capdirs) {
			size_t cap = capdirs ? capdirs * 2 : 64;
			void *p = realloc(dirs, cap * sizeof(*dirs));

			if (!p) {
				r = -ENOMEM;
				break;
			}
			dirs = p;
			capdirs = cap;
		}
		dirs[ndirs++] = dir;
		d.nlinks = 0;
		r = pl_flush(x);
		if (r == 0)
			r = x->ops->children(x->be, dir, false, del_collect, &d);
		for (size_t i = 0; r == 0 && i < d.nlinks; i++) {
			const struct del_link *l = &d.links[i];

			if (is_dir(l->mode))
				r = push_dir(&d, l->child);
			else if (l->xid == 0 && l->nxlinks == 0)
				r = entry_gone(x, l->child);
			else
				r = del_multilink(&d, l->child);
		}
	}
	for (size_t i = 0; r == 0 && i < ndirs; i++) {
		dmap_del(&x->pending, dirs[i]);
		r = entry_gone(x, dirs[i]);
	}
	free(dirs);
	free(d.stack);
	free(d.links);
	return r;
}

int loafre__idx_delete(struct loafre__idx *x, const struct loafre_fid *fid)
{
	struct crow row;
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (!fid)
		return -EINVAL;
	r = wb_seal(x);
	if (r < 0)
		return poison(x, r);
again:
	r = row_by_fid(x, fid, &row);
	if (r < 0)
		return r == -ENOENT ? r : poison(x, r);
	if (x->mb.n && (is_dir(row.a.mode) || mb_has_id(x, row.id) || mb_holder(x, &row))) {
		r = mb_write(x); /* the batch first (a subtree is read) */
		if (r < 0)
			return poison(x, r);
		goto again;
	}
	if (is_dir(row.a.mode)) {
		/* detach (the ancestors lose the subtree), then the tree */
		r = row.parent ? remove_link(x, row.id, 0, true) : 0;
		if (r == 0)
			r = delete_tree(x, row.id);
		return poison(x, r);
	}
	/* a file: its primary directory loses it; its xlinks go with it */
	r = pend(x, row.parent, -(int64_t)row.a.blocks, -(int64_t)row.a.size, -1);
	if (r == 0)
		r = entry_gone(x, row.id);
	return poison(x, r);
}

static int check_mdt(const char *mdt)
{
	return mdt && mdt[0] && strlen(mdt) <= LOAFRE__IDX_MDTNAME_MAX ? 0 : -EINVAL;
}

int loafre__idx_set_position(struct loafre__idx *x, const char *mdt, uint64_t index)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (check_mdt(mdt) < 0 || index > INT64_MAX)
		return -EINVAL;
	return poison(x, x->ops->position_set(x->be, mdt, index));
}

int loafre__idx_get_position(struct loafre__idx *x, const char *mdt, uint64_t *ret)
{
	int r;

	if (check_mdt(mdt) < 0)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->position_get(x->be, mdt, ret);
	if (r == -ENOENT) {
		*ret = 0;
		r = 0;
	}
	q_leave(x);
	return r;
}

int loafre__idx_clear(struct loafre__idx *x)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	wb_discard(x);
	mb_drop(x, x->mb.n);
	x->mb.next_id = 0;
	x->pl.active = false;
	rc_clear(&x->rc);
	sm_clear(x);
	x->bulk = false;
	bf_drop(x);
	r = x->ops->clear(x->be);
	if (r < 0)
		return poison(x, r);
	dmap_reset(&x->pending);
	return 0;
}

int loafre__idx_exists(struct loafre__idx *x, const struct loafre_fid *fid, uint32_t *ret_mode)
{
	struct loafre__idx_row row;
	struct crow c;
	int r;

	if (!fid)
		return -EINVAL;
	if (x->in_txn) {
		if (x->failed)
			return x->failed;
		if (wb_is(x, fid)) {
			c.a.mode = x->wb.a.mode;
			r = 0;
		} else {
			r = row_by_fid(x, fid, &c);
			if (r < 0 && r != -ENOENT)
				return poison(x, r);
		}
		if (r == 0 && ret_mode)
			*ret_mode = c.a.mode;
		return r;
	}
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->entry_by_fid(x->be, fid, false, &row);
	if (r == 0 && ret_mode)
		*ret_mode = row.e.a.mode;
	q_leave(x);
	return r;
}

/* ---- bulk load ------------------------------------------------------------------ */

/* bulk_begin: the FIDs and links the store has. */
static int bloom_row_cb(void *ctx, const struct loafre__idx_row *row)
{
	struct loafre__idx *x = ctx;

	bf_fid(x, &row->e.fid);
	if (row->parent)
		bf_link(x, row->parent, row->name);
	return x->bf_on ? 0 : -ENOMEM;
}

static int bloom_xlink_cb(void *ctx, const struct loafre__idx_xlink *l)
{
	struct loafre__idx *x = ctx;

	bf_link(x, l->parent, l->name);
	return x->bf_on ? 0 : -ENOMEM;
}

int loafre__idx_bulk_begin(struct loafre__idx *x)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (x->bulk)
		return -EINVAL;
	r = wb_flush(x);
	if (r == 0)
		r = pl_flush(x);
	if (r == 0 && x->ops->bulk_begin)
		r = x->ops->bulk_begin(x->be);
	if (r < 0)
		return poison(x, r);
	x->bulk = true;
	/* the FIDs the store has (after a clear: the root's, at most) */
	bf_drop(x);
	x->bf_on = true;
	r = x->ops->scan_entries(x->be, bloom_row_cb, x);
	if (r == 0)
		r = x->ops->scan_xlinks(x->be, bloom_xlink_cb, x);
	if (r < 0 || !x->bf_on)
		bf_drop(x);
	return r == -ENOMEM ? 0 : poison(x, r);
}

int loafre__idx_bulk_add(struct loafre__idx *x, const struct loafre_fid *parent, const char *name,
			 const struct loafre_fid *fid, const struct loafre__idx_attr *a, uint32_t mdt)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	r = do_upsert(x, fid, a, mdt, true);
	return r < 0 ? r : do_link(x, parent, name, fid);
}

int loafre__idx_bulk_end(struct loafre__idx *x)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (!x->bulk)
		return -EINVAL;
	r = wb_flush(x);
	if (r == 0)
		r = pl_flush(x);
	if (r == 0)
		r = flush(x); /* every rollup change of the load, merged */
	if (r == 0 && x->ops->bulk_end)
		r = x->ops->bulk_end(x->be);
	if (r < 0)
		return poison(x, r);
	x->bulk = false;
	bf_drop(x);
	return 0;
}


/* ---- queries ------------------------------------------------------------------ */

int loafre__idx_lookup(struct loafre__idx *x, const struct loafre_fid *fid,
		       struct loafre__idx_entry *ret)
{
	struct loafre__idx_row row;
	int r;

	if (!fid || !ret)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->entry_by_fid(x->be, fid, true, &row);
	if (r == 0)
		*ret = row.e;
	q_leave(x);
	return r;
}

/* The FID of entry id. */
static int fid_of(struct loafre__idx *x, int64_t id, struct loafre_fid *ret)
{
	struct loafre__idx_row row;
	int r = x->ops->entry_by_id(x->be, id, false, &row);

	if (r == 0)
		*ret = row.e.fid;
	return r;
}

int loafre__idx_lookup_name(struct loafre__idx *x, const struct loafre_fid *parent,
			    const char *name, struct loafre_fid *ret)
{
	struct loafre__idx_row prow;
	int64_t child, xid;
	int r;

	if (!parent || !ret || check_name(name) < 0)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->entry_by_fid(x->be, parent, false, &prow);
	if (r == 0 && !is_dir(prow.e.a.mode))
		r = -ENOTDIR;
	if (r == 0)
		r = x->ops->link_get(x->be, prow.id, name, &child, &xid);
	if (r == 0)
		r = fid_of(x, child, ret);
	q_leave(x);
	return r;
}

int loafre__idx_resolve(struct loafre__idx *x, const char *relpath, struct loafre_fid *ret)
{
	struct loafre__idx_row row;
	struct loafre_fid root;
	const char *p = relpath;
	int r;

	if (!relpath || !ret)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->root_get(x->be, &root);
	if (r == 0)
		r = x->ops->entry_by_fid(x->be, &root, false, &row);
	while (r == 0 && *p) {
		char comp[LOAFRE__IDX_NAME_MAX + 1];
		size_t n = strcspn(p, "/");
		int64_t child, xid;

		if (n > LOAFRE__IDX_NAME_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		while (*p == '/')
			p++;
		if (n == 0 || strcmp(comp, ".") == 0)
			continue;
		if (!is_dir(row.e.a.mode)) {
			r = -ENOTDIR;
			break;
		}
		if (strcmp(comp, "..") == 0) {
			if (row.parent)
				r = x->ops->entry_by_id(x->be, row.parent, false, &row);
			continue; /* the root's parent is the root */
		}
		r = x->ops->link_get(x->be, row.id, comp, &child, &xid);
		if (r == 0)
			r = x->ops->entry_by_id(x->be, child, false, &row);
	}
	if (r == 0)
		*ret = row.e.fid;
	q_leave(x);
	return r;
}

int loafre__idx_path(struct loafre__idx *x, const struct loafre_fid *fid, char *buf, size_t cap)
{
	struct loafre__idx_row row;
	struct loafre_fid root;
	size_t pos = cap;
	unsigned depth = 0;
	int r;

	if (!fid || !buf || cap == 0)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->root_get(x->be, &root);
	if (r == 0)
		r = x->ops->entry_by_fid(x->be, fid, false, &row);
	if (r < 0)
		goto out;
	buf[--pos] = '\0';
	while (!loafre_fid_equal(&row.e.fid, &root)) {
		bool top;

		if (!row.parent) {
			r = -ENOENT; /* an orphan, or below one */
			goto out;
		}
		if (++depth > LOAFRE__IDX_DEPTH_MAX) {
			r = -ELOOP;
			goto out;
		}
		if (pos < (size_t)row.namelen + 1) {
			r = -ENAMETOOLONG;
			goto out;
		}
		pos -= row.namelen;
		memcpy(buf + pos, row.name, row.namelen);
		r = x->ops->entry_by_id(x->be, row.parent, false, &row);
		if (r < 0) {
			r = r == -ENOENT ? -EIO : r;
			goto out;
		}
		top = loafre_fid_equal(&row.e.fid, &root);
		if (!top)
			buf[--pos] = '/';
	}
	memmove(buf, buf + pos, cap - pos);
out:
	q_leave(x);
	return r;
}

/* An entry's links: parent id and a copied name each. */
struct link_list {
	struct ll_item {
		int64_t parent;      /* directory id, then */
		struct loafre_fid pfid; /* its FID */
		char *name;          /* malloc'ed */
	} *v;                        /* primary first, then oldest first */
	size_t n, cap;               /* used, allocated */
};

static int ll_add(struct link_list *l, int64_t parent, const char *name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		void *p = realloc(l->v, cap * sizeof(*l->v));

		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n].parent = parent;
	l->v[l->n].name = strdup(name);
	if (!l->v[l->n].name)
		return -ENOMEM;
	l->n++;
	return 0;
}

static int ll_xcb(void *ctx, const struct loafre__idx_xlink *l)
{
	return ll_add(ctx, l->parent, l->name);
}

static void ll_free(struct link_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

/* Every link of row (primary first), parents' FIDs resolved. */
static int ll_fill(struct loafre__idx *x, const struct loafre__idx_row *row, struct link_list *l)
{
	int r = 0;

	if (row->parent)
		r = ll_add(l, row->parent, row->name);
	if (r == 0 && row->nxlinks)
		r = x->ops->xlinks(x->be, row->id, ll_xcb, l);
	for (size_t i = 0; r == 0 && i < l->n; i++)
		r = fid_of(x, l->v[i].parent, &l->v[i].pfid);
	return r;
}

int loafre__idx_links(struct loafre__idx *x, const struct loafre_fid *fid,
		      int (*cb)(void *ctx, const struct loafre_fid *parent, const char *name),
		      void *ctx)
{
	struct loafre__idx_row row;
	struct link_list l = {0};
	int r;

	if (!fid || !cb)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->entry_by_fid(x->be, fid, false, &row);
	if (r == 0)
		r = ll_fill(x, &row, &l);
	for (size_t i = 0; r == 0 && i < l.n; i++)
		r = cb(ctx, &l.v[i].pfid, l.v[i].name);
	ll_free(&l);
	q_leave(x);
	return r;
}

struct child_adapter {
	loafre__idx_child_fn cb; /* the caller's */
	void *ctx;               /* its context */
};

static int child_adapt(void *ctx, const char *name, const struct loafre__idx_row *row, int64_t xid)
{
	struct child_adapter *a = ctx;

	(void)xid;
	return a->cb(a->ctx, name, &row->e);
}

int loafre__idx_children(struct loafre__idx *x, const struct loafre_fid *dir,
			 loafre__idx_child_fn cb, void *ctx)
{
	struct child_adapter a = {cb, ctx};
	struct loafre__idx_row row;
	int r;

	if (!dir || !cb)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->entry_by_fid(x->be, dir, false, &row);
	if (r == 0 && !is_dir(row.e.a.mode))
		r = -ENOTDIR;
	if (r == 0)
		r = x->ops->children(x->be, row.id, true, child_adapt, &a);
	q_leave(x);
	return r;
}

int loafre__idx_dirsum(struct loafre__idx *x, const struct loafre_fid *dir,
		       struct loafre__idx_sum *ret)
{
	struct loafre__idx_row row;
	int r;

	if (!dir || !ret)
		return -EINVAL;
	r = q_enter(x, true);
	if (r < 0)
		return r;
	r = x->ops->entry_by_fid(x->be, dir, false, &row);
	if (r == 0) {
		if (is_dir(row.e.a.mode)) {
			r = x->ops->dirsum_get(x->be, row.id, ret);
		} else {
			ret->blocks = row.e.a.blocks;
			ret->bytes = row.e.a.size;
			ret->inodes = 1;
		}
	}
	q_leave(x);
	return r;
}

struct ml_state {
	int64_t *ids;             /* children with xlinks, distinct */
	size_t n, cap;            /* used, allocated */
};

static int ml_collect(void *ctx, const struct loafre__idx_xlink *l)
{
	struct ml_state *m = ctx;

	if (m->n && m->ids[m->n - 1] == l->child)
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		void *p = realloc(m->ids, cap * sizeof(*m->ids));

		if (!p)
			return -ENOMEM;
		m->ids = p;
		m->cap = cap;
	}
	m->ids[m->n++] = l->child;
	return 0;
}

int loafre__idx_multilinks(struct loafre__idx *x,
			   int (*cb)(void *ctx, const struct loafre__idx_entry *e,
				     const struct loafre_fid *parent, const char *name,
				     bool primary),
			   void *ctx)
{
	struct ml_state m = {0};
	int r;

	if (!cb)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->scan_xlinks(x->be, ml_collect, &m);
	for (size_t i = 0; r == 0 && i < m.n; i++) {
		struct loafre__idx_row row;
		struct link_list l = {0};

		r = x->ops->entry_by_id(x->be, m.ids[i], false, &row);
		if (r == 0)
			r = ll_fill(x, &row, &l);
		if (r == 0) /* strings last: borrowed until the next op */
			r = x->ops->entry_by_id(x->be, m.ids[i], true, &row);
		for (size_t k = 0; r == 0 && k < l.n; k++)
			r = cb(ctx, &row.e, &l.v[k].pfid, l.v[k].name, k == 0);
		ll_free(&l);
	}
	free(m.ids);
	q_leave(x);
	return r;
}

int loafre__idx_names(struct loafre__idx *x, const char *needle, bool icase,
		      loafre__idx_link_fn cb, void *ctx)
{
	int r;

	if (!needle || !cb)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->names(x->be, needle, icase, cb, ctx);
	q_leave(x);
	return r;
}

int loafre__idx_names_base(struct loafre__idx *x, unsigned dirty_pct)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (!x->ops->names_base)
		return 0;
	r = wb_flush(x);
	if (r == 0)
		r = pl_flush(x);
	if (r == 0)
		r = x->ops->names_base(x->be, dirty_pct);
	return r < 0 ? poison(x, r) : r;
}

int loafre__idx_dirs(struct loafre__idx *x, loafre__idx_dir_fn cb, void *ctx)
{
	int r;

	if (!cb)
		return -EINVAL;
	if (!x->ops->dirs)
		return -EOPNOTSUPP;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->dirs(x->be, cb, ctx);
	q_leave(x);
	return r;
}

int loafre__idx_select(struct loafre__idx *x, const struct loafre__idx_filter *f,
		       loafre__idx_link_fn cb, void *ctx)
{
	int r;

	if (!f || !cb)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->select(x->be, f, cb, ctx);
	q_leave(x);
	return r;
}

int loafre__idx_owners(struct loafre__idx *x, char by, size_t limit,
		       int (*cb)(void *ctx, const struct loafre__idx_owner_sum *s), void *ctx)
{
	int r;

	if ((by != 'u' && by != 'g') || !cb)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->owners(x->be, by, limit, cb, ctx);
	q_leave(x);
	return r;
}

int loafre__idx_top_dirs(struct loafre__idx *x, size_t limit,
			 int (*cb)(void *ctx, const struct loafre_fid *dir,
				   const struct loafre__idx_sum *s),
			 void *ctx)
{
	int r;

	if (!cb)
		return -EINVAL;
	r = q_enter(x, true);
	if (r < 0)
		return r;
	r = x->ops->top_dirs(x->be, limit, cb, ctx);
	q_leave(x);
	return r;
}

int loafre__idx_size_profile(struct loafre__idx *x, uint32_t uid, uint64_t ret_counts[64],
			     uint64_t ret_bytes[64])
{
	int r = q_enter(x, false);

	if (r < 0)
		return r;
	memset(ret_counts, 0, 64 * sizeof(*ret_counts));
	memset(ret_bytes, 0, 64 * sizeof(*ret_bytes));
	r = x->ops->size_profile(x->be, uid, ret_counts, ret_bytes);
	q_leave(x);
	return r;
}

int loafre__idx_oldest(struct loafre__idx *x, char field, uint32_t uid, size_t limit,
		       int (*cb)(void *ctx, const struct loafre__idx_entry *e), void *ctx)
{
	int r;

	if ((field != 'a' && field != 'm' && field != 'c') || !cb)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->oldest(x->be, field, uid, limit, cb, ctx);
	q_leave(x);
	return r;
}

int loafre__idx_totals(struct loafre__idx *x, struct loafre__idx_owner_sum *ret)
{
	int r = q_enter(x, false);

	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	r = x->ops->totals(x->be, ret);
	q_leave(x);
	return r;
}

int loafre__idx_size(struct loafre__idx *x, uint64_t *ret_bytes, uint64_t *ret_entries)
{
	int r = q_enter(x, false);

	if (r < 0)
		return r;
	r = x->ops->size(x->be, ret_bytes, ret_entries);
	q_leave(x);
	return r;
}

/* ---- meta values ------------------------------------------------------------------- */

static int check_key(const char *key)
{
	return key && key[0] && strlen(key) <= LOAFRE__IDX_KEY_MAX ? 0 : -EINVAL;
}

int loafre__idx_set_meta(struct loafre__idx *x, const char *key, const char *value)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (check_key(key) < 0 || (value && strlen(value) > LOAFRE__IDX_VALUE_MAX))
		return -EINVAL;
	return poison(x, x->ops->meta_set(x->be, key, value));
}

int loafre__idx_get_meta(struct loafre__idx *x, const char *key, char *buf, size_t cap)
{
	int r;

	if (check_key(key) < 0 || !buf || cap == 0)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->meta_get(x->be, key, buf, cap);
	q_leave(x);
	return r;
}

/* ---- quotas ---------------------------------------------------------------------- */

int loafre__idx_quota_set(struct loafre__idx *x, const struct loafre__idx_quota *q)
{
	struct crow row;
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (!q)
		return -EINVAL;
	r = wb_flush(x);
	if (r == 0)
		r = row_by_fid(x, &q->dir, &row);
	if (r < 0)
		return r == -ENOENT ? r : poison(x, r);
	if (!is_dir(row.a.mode))
		return -ENOTDIR;
	return poison(x, x->ops->quota_set(x->be, q));
}

int loafre__idx_quota_remove(struct loafre__idx *x, const struct loafre_fid *dir)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (!dir)
		return -EINVAL;
	r = x->ops->quota_remove(x->be, dir);
	return r == -ENOENT ? r : poison(x, r);
}

int loafre__idx_quota_list(struct loafre__idx *x,
			   int (*cb)(void *ctx, const struct loafre__idx_quota *q), void *ctx)
{
	int r;

	if (!cb)
		return -EINVAL;
	r = q_enter(x, false);
	if (r < 0)
		return r;
	r = x->ops->quota_list(x->be, cb, ctx);
	q_leave(x);
	return r;
}

int loafre__idx_quota_mark(struct loafre__idx *x, const struct loafre_fid *dir, bool over)
{
	int r = mut_enter(x);

	if (r < 0)
		return r;
	if (!dir)
		return -EINVAL;
	r = x->ops->quota_mark(x->be, dir, over);
	return r == -ENOENT ? r : poison(x, r);
}

/* ---- consistency check ------------------------------------------------------------ */

/* The checker keeps the directories in memory (a tenth of the entries, on
 * a typical tree) and the xlink counts; entries stream past twice. */
struct ck_dir {
	int64_t id;                     /* 0: empty slot */
	int64_t parent;                 /* its link's directory, 0: none */
	struct loafre__idx_sum own;     /* itself plus the files whose primary link is here */
	struct loafre__idx_sum calc;    /* recomputed rollup */
	struct loafre__idx_sum stored;  /* dirsum row */
};

struct ck_xl {
	int64_t child;                  /* 0: empty slot */
	uint32_t count;                 /* xlinks seen for it */
	bool seen;                      /* the entry exists (not a directory) */
};

struct ck_state {
	struct loafre__idx *x;          /* the store */
	struct ck_dir *d;               /* directories, open addressing by id */
	size_t dmask, nd;               /* slots - 1, used */
	struct ck_xl *xl;               /* children of xlinks, open addressing */
	size_t xmask, nx;               /* slots - 1, used */
	char *err;                      /* first problem */
	size_t errlen;                  /* its capacity */
	int bad;                        /* -EBADMSG once a problem is found */
};

static int ck_fail(struct ck_state *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ck_fail(struct ck_state *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->bad && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	c->bad = -EBADMSG;
	return 0;
}

/* Slot of key in an open-addressing table of elem-byte items whose first
 * field is the int64 key; grows at half load; NULL: ENOMEM. */
static void *ck_slot(void **tab, size_t *mask, size_t *n, size_t elem, int64_t key, bool add)
{
	char *t = *tab;
	size_t i;

	if (add && (!t || (*n + 1) * 2 > *mask + 1)) {
		size_t cap = t ? (*mask + 1) * 2 : 1024;
		char *nt = calloc(cap, elem);

		if (!nt)
			return NULL;
		for (size_t k = 0; t && k <= *mask; k++) {
			int64_t kk;

			memcpy(&kk, t + k * elem, sizeof(kk));
			if (!kk)
				continue;
			for (i = hash_id(kk) & (cap - 1);; i = (i + 1) & (cap - 1)) {
				int64_t v;

				memcpy(&v, nt + i * elem, sizeof(v));
				if (!v)
					break;
			}
			memcpy(nt + i * elem, t + k * elem, elem);
		}
		free(t);
		*tab = t = nt;
		*mask = cap - 1;
	}
	if (!t)
		return NULL;
	for (i = hash_id(key) & *mask;; i = (i + 1) & *mask) {
		int64_t v;

		memcpy(&v, t + i * elem, sizeof(v));
		if (v == key)
			return t + i * elem;
		if (!v) {
			if (!add)
				return NULL;
			memcpy(t + i * elem, &key, sizeof(key));
			(*n)++;
			return t + i * elem;
		}
	}
}

static struct ck_dir *ck_dir(struct ck_state *c, int64_t id, bool add)
{
	return ck_slot((void **)&c->d, &c->dmask, &c->nd, sizeof(*c->d), id, add);
}

static struct ck_xl *ck_xl(struct ck_state *c, int64_t child, bool add)
{
	return ck_slot((void **)&c->xl, &c->xmask, &c->nx, sizeof(*c->xl), child, add);
}

static void sum_add(struct loafre__idx_sum *s, uint64_t blocks, uint64_t bytes, uint64_t inodes)
{
	s->blocks += blocks;
	s->bytes += bytes;
	s->inodes += inodes;
}

/* Pass 1: the directories. */
static int ck_dirs_cb(void *ctx, const struct loafre__idx_row *row)
{
	struct ck_state *c = ctx;
	struct ck_dir *d;

	if (!is_dir(row->e.a.mode))
		return 0;
	d = ck_dir(c, row->id, true);
	if (!d)
		return -ENOMEM;
	d->parent = row->parent;
	sum_add(&d->own, row->e.a.blocks, row->e.a.size, 1);
	if (row->nxlinks)
		ck_fail(c, "directory %lld has %u xlinks", (long long)row->id, row->nxlinks);
	return 0;
}

static int ck_xlink_cb(void *ctx, const struct loafre__idx_xlink *l)
{
	struct ck_state *c = ctx;
	struct ck_xl *e = ck_xl(c, l->child, true);
	int64_t child, xid;
	int r;

	if (!e)
		return -ENOMEM;
	e->count++;
	if (!ck_dir(c, l->parent, false))
		return ck_fail(c, "xlink %lld: parent %lld missing or not a directory",
			       (long long)l->xid, (long long)l->parent);
	r = c->x->ops->link_get(c->x->be, l->parent, l->name, &child, &xid);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r < 0 || child != l->child || xid != l->xid)
		return ck_fail(c, "xlink %lld ('%s'): its name leads elsewhere", (long long)l->xid,
			       l->name);
	return 0;
}

/* Pass 2: every entry against the directories and the xlink counts. */
static int ck_entries_cb(void *ctx, const struct loafre__idx_row *row)
{
	struct ck_state *c = ctx;
	struct ck_xl *e = ck_xl(c, row->id, false);
	uint32_t have = e ? e->count : 0;

	if (e) {
		e->seen = true;
		if (is_dir(row->e.a.mode))
			ck_fail(c, "xlink to directory %lld", (long long)row->id);
	}
	if (have != row->nxlinks)
		ck_fail(c, "entry %lld: %u xlinks recorded, %u found", (long long)row->id, row->nxlinks,
			have);
	if (have && !row->parent)
		ck_fail(c, "entry %lld: xlinks without a primary link", (long long)row->id);
	if (row->parent) {
		struct ck_dir *p = ck_dir(c, row->parent, false);

		if (!p)
			return ck_fail(c, "entry %lld: parent %lld missing or not a directory",
				       (long long)row->id, (long long)row->parent);
		if (!is_dir(row->e.a.mode))
			sum_add(&p->own, row->e.a.blocks, row->e.a.size, 1);
	}
	return 0;
}

static int ck_sum_cb(void *ctx, int64_t id, const struct loafre__idx_sum *s)
{
	struct ck_state *c = ctx;
	struct ck_dir *d = ck_dir(c, id, false);

	if (!d)
		return ck_fail(c, "rollup row for %lld, not a directory", (long long)id);
	d->stored = *s;
	return 0;
}

int loafre__idx_check(struct loafre__idx *x, char *err, size_t errlen)
{
	struct ck_state c = {.x = x, .err = err, .errlen = errlen};
	struct loafre_fid root;
	struct loafre__idx_row rootrow;
	char berr[256];
	int r;

	if (errlen)
		err[0] = '\0';
	r = q_enter(x, true);
	if (r < 0)
		return r;
	r = x->ops->root_get(x->be, &root);
	if (r == 0) {
		r = x->ops->entry_by_fid(x->be, &root, false, &rootrow);
		if (r == 0 && rootrow.parent)
			ck_fail(&c, "the root has a link");
	}
	if (r == -ENOENT)
		r = 0;
	if (r == 0)
		r = x->ops->scan_entries(x->be, ck_dirs_cb, &c);
	if (r == 0)
		r = x->ops->scan_xlinks(x->be, ck_xlink_cb, &c);
	if (r == 0)
		r = x->ops->scan_entries(x->be, ck_entries_cb, &c);
	if (r == 0)
		r = x->ops->scan_dirsums(x->be, ck_sum_cb, &c);
	if (r < 0)
		goto out;
	for (size_t i = 0; c.xl && i <= c.xmask; i++)
		if (c.xl[i].child && !c.xl[i].seen)
			ck_fail(&c, "xlink to missing entry %lld", (long long)c.xl[i].child);
	/* each directory's own part goes to it and every ancestor */
	for (size_t i = 0; c.d && i <= c.dmask; i++) {
		const struct ck_dir *d = &c.d[i];
		int64_t y = d->id;
		unsigned depth = 0;

		if (!d->id)
			continue;
		if (d->parent && !ck_dir(&c, d->parent, false)) {
			ck_fail(&c, "directory %lld: parent %lld missing or not a directory",
				(long long)d->id, (long long)d->parent);
			continue;
		}
		while (y) {
			struct ck_dir *a = ck_dir(&c, y, false);

			if (!a)
				break;
			sum_add(&a->calc, d->own.blocks, d->own.bytes, d->own.inodes);
			y = a->parent;
			if (++depth > LOAFRE__IDX_DEPTH_MAX) {
				ck_fail(&c, "cycle above directory %lld", (long long)d->id);
				break;
			}
		}
	}
	for (size_t i = 0; c.d && i <= c.dmask; i++) {
		const struct ck_dir *d = &c.d[i];

		if (d->id && memcmp(&d->calc, &d->stored, sizeof(d->calc)) != 0)
			ck_fail(&c,
				"rollup of directory %lld: stored %llu blocks %llu bytes %llu inodes, "
				"computed %llu %llu %llu",
				(long long)d->id, (unsigned long long)d->stored.blocks,
				(unsigned long long)d->stored.bytes, (unsigned long long)d->stored.inodes,
				(unsigned long long)d->calc.blocks, (unsigned long long)d->calc.bytes,
				(unsigned long long)d->calc.inodes);
	}
	if (!c.bad) {
		r = x->ops->check(x->be, berr, sizeof(berr));
		if (r == -EBADMSG) {
			ck_fail(&c, "%s", berr);
			r = 0;
		}
	}
	if (r == 0)
		r = c.bad;
out:
	free(c.d);
	free(c.xl);
	q_leave(x);
	return r;
}

