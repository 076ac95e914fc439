/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * localfs.c — the emulated MDT of a local filesystem: reconciliation of
 * notes against the live tree and the recorded state, emitting Lustre
 * records.
 *
 * ==========================================================================
 * WHY RECONCILIATION
 * ==========================================================================
 * fanotify merges events for the same (directory, name) and loses their
 * order; queues overflow; loafred may be down while the tree changes. So
 * events are only treated as *notes* — "look here" — and every record is
 * derived from comparing what the state recorded with what the tree holds
 * now. The records therefore describe a sequence of operations that leads
 * from the recorded tree to the current one, which is the contract Lustre
 * consumers already live by (the changelog says what changed; content and
 * attributes are read from the current file).
 *
 * ==========================================================================
 * RECORDS
 * ==========================================================================
 * Every record carries CLF_EXTRA_FLAGS with CLFE_UIDGID (the object's
 * owner: fanotify does not tell the caller's credentials reliably) and the
 * time of the flush that saw the change (cr_time).
 *   new entry, unknown object     CREAT / MKDIR / SLINK / MKNOD (by type),
 *                                 t = object, p = directory, name; a
 *                                 regular file that already has data is
 *                                 followed by CLOSE
 *   new entry, known object whose
 *     other link vanished         RENME: t = overwritten object or zero,
 *                                 p/name = new entry, s = object,
 *                                 sp/sname = old entry; flag
 *                                 CLF_RENAME_LAST when the overwritten
 *                                 object lost its last link
 *     other links still there     HLINK (names only: a change of the
 *                                 object seen in the same flush keeps its
 *                                 own record, below)
 *   entry vanished                UNLNK / RMDIR (children first), flag
 *                                 CLF_UNLINK_LAST when the object has no
 *                                 link left (it is gone, or it left the
 *                                 tree); a removed directory's entries
 *                                 whose objects live on elsewhere in the
 *                                 tree are renamed there first (RENME)
 *   object attributes (t only):   SATTR (mode, owner changed), TRUNC (size
 *                                 shrank; or grew by zeros with no close:
 *                                 truncate(2); or modified, no close noted
 *                                 by the flush after the one that found
 *                                 nobody holding it open for writing:
 *                                 truncate(2) keeping the size, as of an
 *                                 empty file to 0), CLOSE (closed after a
 *                                 write that changed data), MTIME (mtime changed
 *                                 with no write: utimes; a directory's mtime
 *                                 moved with no record of the same flush
 *                                 naming it as parent), XATTR (x = name,
 *                                 per changed extended attribute)
 * A file still open for writing produces its CLOSE when it is closed (as
 * with Lustre), or at the next rescan. "Open for writing" is asked of the
 * kernel (a read lease is refused while anybody has a descriptor open for
 * writing); the kernel queues a close's event before it drops the count of
 * writers, so once nobody writes, a close still to be noted is queued and
 * the next flush has it.
 *
 * ==========================================================================
 * FLUSH ALGORITHM
 * ==========================================================================
 *  1. Directory notes become entry notes for every live name and every
 *     recorded child.
 *  2. Each entry note whose directory is in the tree is looked up live
 *     (FID + stat); a map FID -> note tells where an object is now.
 *  3. Entry notes are processed in order; notes whose directory is not in
 *     the tree yet wait for a later round of the same flush (a directory
 *     created in this flush brings its children in), and are dropped when
 *     no round makes progress (they are outside the tree: cheap). When a
 *     round makes no progress, the next one forces the first wait it meets
 *     (an object that must leave an entry but lives where nothing can be
 *     recorded yet is parked under a temporary name in the root, and
 *     renamed from there when its entry is processed; a temporary name
 *     still recorded when the flush ends is noted again by every later
 *     flush until its object is placed or gone: no event ever names it),
 *     then rounds go on normally.
 *     Processing entry E (recorded object Y, live object X):
 *       - Y must leave E first: if Y is live at another noted entry, that
 *         entry is processed now (recursively; a cycle — a swap — is
 *         broken by parking one object under a temporary name); a
 *         directory that moved elsewhere in the tree is found through its
 *         path; otherwise Y is overwritten (if X arrives by rename), or
 *         unlinked — a directory after each of its entries was processed
 *         the same way (evacuate: what moved out is renamed, not removed).
 *       - X arrives: known with a vacated link -> RENME; known and still
 *         linked -> HLINK; unknown -> creation (a new directory's contents
 *         are noted too).
 *  4. Object notes: attributes compared -> SATTR/TRUNC/CLOSE/MTIME/XATTR.
 *     The objects the previous flush left to compare again (modified, no
 *     close yet, nobody writing: lfs_obj.unclosed) are noted at its start.
 *     Every directory whose entries were noted, or that a record named as
 *     parent, is compared too (directory mtimes: process_object).
 * Each emitted record is appended to the journal and applied to the state
 * by the same function that replays journal records at open, so the state
 * is always "the journal so far".
 */
#include "localfs_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "util.h"

#define HINT_RESCAN 0x100 /* internal: full comparison (restart catch-up) */
#define HINT_RECHECK 0x200 /* internal: compared again (lfs_obj.unclosed) */

/* ---- small helpers ---------------------------------------------------------- */

/* An array that grows by doubling, with room for one more element: the
 * array (moved or not; `first` elements at first), or NULL (out of memory:
 * v and *cap unchanged). */
static void *room_for_one(void *v, size_t n, size_t *cap, size_t first, size_t size)
{
	size_t c;
	void *p;

	if (n < *cap)
		return v;
	c = *cap ? *cap * 2 : first;
	p = realloc(v, c * size);
	if (p)
		*cap = c;
	return p;
}

int loafre__lfs_root_fd(const struct loafre__lfs *l)
{
	return l->root_fd;
}

const struct loafre_fid *loafre__lfs_root_fid(const struct loafre__lfs *l)
{
	return &l->rootobj->fid;
}

bool loafre__lfs_knows_dir(const struct loafre__lfs *l, const struct loafre_fid *dir)
{
	const struct lfs_obj *o = loafre__lfs_obj_get(l, dir);
	return o && lfs_is_dir(o) && (o == l->rootobj || o->links);
}

void loafre__lfs_set_dir_cb(struct loafre__lfs *l, loafre__lfs_dir_cb cb, void *ctx)
{
	l->dir_cb = cb;
	l->dir_cb_ctx = ctx;
}

void loafre__lfs_get_stats(const struct loafre__lfs *l, struct loafre__lfs_stats *ret)
{
	*ret = l->stats;
	ret->objects = l->nobjs;
	ret->dirs = l->ndirs;
}

int loafre__lfs_handle_fid(struct loafre__lfs *l, const struct file_handle *fh,
			   struct loafre_fid *ret_fid)
{
	(void)l;
	return loafre__lfs_fid_from_handle(fh->handle_type, fh->f_handle, fh->handle_bytes, ret_fid);
}

static void dirfd_cache_clear(struct loafre__lfs *l)
{
	for (unsigned i = 0; i < l->ndirfds; i++)
		close(l->dirfds[i].fd);
	l->ndirfds = 0;
	l->dirfd_next = 0;
}

static void dirfd_cache_drop(struct loafre__lfs *l, const struct loafre_fid *fid)
{
	for (unsigned i = 0; i < l->ndirfds; i++)
		if (loafre_fid_equal(&l->dirfds[i].fid, fid)) {
			close(l->dirfds[i].fd);
			l->dirfds[i] = l->dirfds[--l->ndirfds];
			l->dirfd_next = 0;
			return;
		}
}

/* A directory descriptor for lookups, cached for the flush. */
static int dirfd_get(struct loafre__lfs *l, const struct loafre_fid *fid)
{
	unsigned slot;
	int fd;

	for (unsigned i = 0; i < l->ndirfds; i++)
		if (loafre_fid_equal(&l->dirfds[i].fid, fid))
			return l->dirfds[i].fd;
	fd = loafre__lfs_open_fid(l, fid, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	if (l->ndirfds < LOAFRE__ARRAY_SIZE(l->dirfds)) {
		slot = l->ndirfds++;
	} else {
		slot = l->dirfd_next++ % LOAFRE__ARRAY_SIZE(l->dirfds);
		close(l->dirfds[slot].fd);
	}
	l->dirfds[slot].fid = *fid;
	l->dirfds[slot].fd = fd;
	return fd;
}

/* ---- applying records to the state ----------------------------------------- */

static void forget_obj(struct loafre__lfs *l, struct lfs_obj *o)
{
	if (o->links || o->children || o == l->rootobj)
		return;
	if (lfs_is_dir(o)) {
		dirfd_cache_drop(l, &o->fid);
		if (l->dir_cb)
			l->dir_cb(l->dir_cb_ctx, &o->fid, -1, false);
	}
	loafre__lfs_obj_del(l, o);
}

static void unlink_entry(struct loafre__lfs *l, const struct loafre_fid *dir, const char *name,
			 size_t len)
{
	struct lfs_link *k = loafre__lfs_link_get(l, dir, name, len);
	struct lfs_obj *o;

	if (!k)
		return;
	o = k->child;
	loafre__lfs_link_del(l, k);
	loafre__lfs_obj_touch(l, o);
	forget_obj(l, o);
}

/* Is `anc` the directory `d` itself or one of its recorded ancestors? */
static bool obj_is_ancestor(const struct loafre__lfs *l, const struct lfs_obj *anc,
			    const struct lfs_obj *d)
{
	for (unsigned depth = 0; d && depth < 4096; depth++) {
		if (d == anc)
			return true;
		if (d == l->rootobj || !d->links)
			return false;
		d = d->links->parent;
	}
	return true; /* deeper than any real tree: refuse, as a loop would be */
}

/* Stat of an object by FID, for records replayed without one. */
static int stat_fid(struct loafre__lfs *l, const struct loafre_fid *fid, struct stat *st)
{
	int fd = loafre__lfs_open_fid(l, fid, O_PATH), r = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0)
		r = -errno;
	close(fd);
	return r;
}

static uint32_t type_mode(uint32_t type)
{
	switch (type) {
	case LOAFRE_CL_MKDIR:
		return S_IFDIR | 0755;
	case LOAFRE_CL_SOFTLINK:
		return S_IFLNK | 0777;
	case LOAFRE_CL_MKNOD:
		return S_IFIFO | 0644;
	default:
		return S_IFREG | 0644;
	}
}

/* A record names directory `fid` as the parent of a change: the directory's
 * mtime moved with it, and the record accounts for that (a consumer re-reads
 * the parent of a namespace record). Its attributes are compared at the end
 * of the flush (see process_object, "directory mtimes"). */
static void dir_changed(struct loafre__lfs *l, const struct loafre_fid *fid)
{
	struct lfs_obj *d = loafre__lfs_obj_get(l, fid);

	if (!d || !lfs_is_dir(d))
		return;
	d->ns_touched = true;
	if (loafre__lfs_note_object(l, fid, 0) < 0 && !l->failed)
		l->failed = -ENOMEM;
}

/* Applies one record's namespace effect (and, when st is given, the
 * object's attributes) to the state. Used for every emitted record and to
 * replay journal records the database lacks. */
static void apply(struct loafre__lfs *l, const struct loafre_rec *r, const struct stat *st)
{
	struct lfs_obj *o, *dir;
	struct stat tmp;

	switch (r->type) {
	case LOAFRE_CL_CREATE:
	case LOAFRE_CL_MKDIR:
	case LOAFRE_CL_SOFTLINK:
	case LOAFRE_CL_MKNOD:
	case LOAFRE_CL_HARDLINK:
		dir = loafre__lfs_obj_get(l, &r->pfid);
		if (!dir || loafre__lfs_link_get(l, &r->pfid, r->name, r->namelen))
			break;
		o = loafre__lfs_obj_get(l, &r->tfid);
		if (!o) {
			if (!st && stat_fid(l, &r->tfid, &tmp) == 0)
				st = &tmp;
			o = loafre__lfs_obj_add(l, &r->tfid, st);
			if (!o)
				break;
			if (!st)
				o->mode = type_mode(r->type);
			if (lfs_is_dir(o) && !st)
				l->ndirs++;
		} else if (st) {
			loafre__lfs_obj_set_stat(l, o, st);
		}
		loafre__lfs_link_add(l, dir, o, r->name, r->namelen);
		dir_changed(l, &r->pfid);
		break;
	case LOAFRE_CL_UNLINK:
	case LOAFRE_CL_RMDIR:
		unlink_entry(l, &r->pfid, r->name, r->namelen);
		dir_changed(l, &r->pfid);
		break;
	case LOAFRE_CL_RENAME: {
		struct lfs_link *k;

		if (!(r->flags & LOAFRE_CLF_RENAME) || !r->sname)
			break;
		dir = loafre__lfs_obj_get(l, &r->pfid);
		k = loafre__lfs_link_get(l, &r->spfid, r->sname, r->snamelen);
		if (!dir || !k || k == loafre__lfs_link_get(l, &r->pfid, r->name, r->namelen))
			break;
		o = k->child;
		/* Never record a directory under itself (a record describing
		 * that cannot be replayed; the next rescan repairs the state). */
		if (lfs_is_dir(o) && obj_is_ancestor(l, o, dir))
			break;
		if (loafre__lfs_link_get(l, &r->pfid, r->name, r->namelen))
			unlink_entry(l, &r->pfid, r->name, r->namelen);
		loafre__lfs_link_del(l, k);
		loafre__lfs_link_add(l, dir, o, r->name, r->namelen);
		loafre__lfs_obj_touch(l, o);
		dir_changed(l, &r->pfid);
		dir_changed(l, &r->spfid);
		break;
	}
	default:
		o = loafre__lfs_obj_get(l, &r->tfid);
		if (!o)
			break;
		if (!st && stat_fid(l, &r->tfid, &tmp) == 0)
			st = &tmp;
		if (st)
			loafre__lfs_obj_set_stat(l, o, st);
		break;
	}
}

/* ---- emitting --------------------------------------------------------------- */

static void rec_init(struct loafre__lfs *l, struct loafre_rec *r, uint32_t type,
		     const struct lfs_obj *o)
{
	memset(r, 0, offsetof(struct loafre_rec, name));
	r->name = NULL;
	r->namelen = 0;
	r->sname = NULL;
	r->snamelen = 0;
	r->type = type;
	r->time = l->now;
	r->flags = LOAFRE_CLF_VERSION | LOAFRE_CLF_EXTRA_FLAGS;
	r->extra_flags = LOAFRE_CLFE_UIDGID;
	if (o) {
		r->tfid = o->fid;
		r->uid = o->uid;
		r->gid = o->gid;
	}
}

/* Appends and applies. In snapshot mode only applies. */
static int emit(struct loafre__lfs *l, const struct loafre_rec *r, const struct stat *st)
{
	int ret;

	if (!l->snapshot) {
		ret = loafre_journal_append(l->journal, r);
		if (ret < 0)
			return ret;
		l->stats.records++;
	}
	apply(l, r, st);
	return 0;
}

static uint32_t create_type(mode_t m)
{
	if (S_ISDIR(m))
		return LOAFRE_CL_MKDIR;
	if (S_ISLNK(m))
		return LOAFRE_CL_SOFTLINK;
	if (S_ISREG(m))
		return LOAFRE_CL_CREATE;
	return LOAFRE_CL_MKNOD;
}

/* ---- notes ------------------------------------------------------------------- */

static void note_revive(struct lfs_note_entry *n);

/* The pending note for (dir, name), or NULL. */
static struct lfs_note_entry *note_find(const struct loafre__lfs *l, const struct loafre_fid *dir,
					const char *name, size_t len)
{
	if (!l->note_entries_h)
		return NULL;
	for (struct lfs_note_entry *n =
		     l->note_entries_h[loafre__lfs_entry_hash(dir, name, len) & l->note_entries_mask];
	     n; n = n->hnext)
		if (n->namelen == len && memcmp(n->name, name, len) == 0 &&
		    loafre_fid_equal(&n->dir, dir))
			return n;
	return NULL;
}

static int rehash_entries(struct loafre__lfs *l)
{
	size_t nb = (l->note_entries_mask + 1) * 4;
	struct lfs_note_entry **h = calloc(nb, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (struct lfs_note_entry *n = l->note_entries; n; n = n->next) {
		size_t b = loafre__lfs_entry_hash(&n->dir, n->name, n->namelen) & (nb - 1);
		n->hnext = h[b];
		h[b] = n;
	}
	free(l->note_entries_h);
	l->note_entries_h = h;
	l->note_entries_mask = nb - 1;
	return 0;
}

static int rehash_objs(struct loafre__lfs *l)
{
	size_t nb = (l->note_objs_mask + 1) * 4;
	struct lfs_note_obj **h = calloc(nb, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (struct lfs_note_obj *n = l->note_objs; n; n = n->next) {
		size_t b = loafre__lfs_fid_hash(&n->fid) & (nb - 1);
		n->hnext = h[b];
		h[b] = n;
	}
	free(l->note_objs_h);
	l->note_objs_h = h;
	l->note_objs_mask = nb - 1;
	return 0;
}

int loafre__lfs_note_child(struct loafre__lfs *l, const struct loafre_fid *dir, const char *name,
			   size_t namelen, unsigned hints)
{
	struct lfs_note_entry *n;
	size_t b;

	if (namelen == 0 || namelen > LOAFRE_NAME_MAX || memchr(name, '/', namelen) ||
	    (namelen == 1 && name[0] == '.') || (namelen == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	l->stats.notes++;
	if (!l->note_entries_h) {
		l->note_entries_mask = 4095;
		l->note_entries_h = calloc(l->note_entries_mask + 1, sizeof(*l->note_entries_h));
		if (!l->note_entries_h)
			return -ENOMEM;
	}
	n = note_find(l, dir, name, namelen);
	if (n) {
		n->hints |= hints;
		note_revive(n);
		return 0;
	}
	b = loafre__lfs_entry_hash(dir, name, namelen) & l->note_entries_mask;
	n = calloc(1, sizeof(*n) + namelen + 1);
	if (!n)
		return -ENOMEM;
	n->dir = *dir;
	n->hints = hints;
	n->namelen = (uint16_t)namelen;
	memcpy(n->name, name, namelen);
	n->hnext = l->note_entries_h[b];
	l->note_entries_h[b] = n;
	if (!l->note_entries_tail)
		l->note_entries_tail = &l->note_entries;
	*l->note_entries_tail = n;
	l->note_entries_tail = &n->next;
	if (++l->nnote_entries > l->note_entries_mask + 1)
		return rehash_entries(l);
	return 0;
}

int loafre__lfs_note_entry(struct loafre__lfs *l, const struct loafre_fid *dir, const char *name,
			   size_t namelen)
{
	return loafre__lfs_note_child(l, dir, name, namelen, 0);
}

int loafre__lfs_note_object(struct loafre__lfs *l, const struct loafre_fid *fid, unsigned hints)
{
	struct lfs_note_obj *n;
	size_t b;

	l->stats.notes++;
	if (!l->note_objs_h) {
		l->note_objs_mask = 4095;
		l->note_objs_h = calloc(l->note_objs_mask + 1, sizeof(*l->note_objs_h));
		if (!l->note_objs_h)
			return -ENOMEM;
	}
	b = loafre__lfs_fid_hash(fid) & l->note_objs_mask;
	for (n = l->note_objs_h[b]; n; n = n->hnext)
		if (loafre_fid_equal(&n->fid, fid)) {
			n->hints |= hints;
			return 0;
		}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->fid = *fid;
	n->hints = hints;
	n->hnext = l->note_objs_h[b];
	l->note_objs_h[b] = n;
	if (!l->note_objs_tail)
		l->note_objs_tail = &l->note_objs;
	*l->note_objs_tail = n;
	l->note_objs_tail = &n->next;
	if (++l->nnote_objs > l->note_objs_mask + 1)
		return rehash_objs(l);
	return 0;
}

int loafre__lfs_note_dir(struct loafre__lfs *l, const struct loafre_fid *dir)
{
	void *p = room_for_one(l->note_dirs, l->nnote_dirs, &l->note_dirs_cap, 64,
			       sizeof(*l->note_dirs));

	if (!p)
		return -ENOMEM;
	l->note_dirs = p;
	l->note_dirs[l->nnote_dirs++] = *dir;
	l->stats.notes++;
	return 0;
}

static void notes_free(struct loafre__lfs *l)
{
	for (struct lfs_note_entry *n = l->note_entries, *nx; n; n = nx) {
		nx = n->next;
		free(n);
	}
	for (struct lfs_note_obj *n = l->note_objs, *nx; n; n = nx) {
		nx = n->next;
		free(n);
	}
	l->note_entries = NULL;
	l->note_entries_tail = NULL;
	l->nnote_entries = 0;
	l->note_objs = NULL;
	l->note_objs_tail = NULL;
	l->nnote_objs = 0;
	if (l->note_entries_h)
		memset(l->note_entries_h, 0, (l->note_entries_mask + 1) * sizeof(*l->note_entries_h));
	if (l->note_objs_h)
		memset(l->note_objs_h, 0, (l->note_objs_mask + 1) * sizeof(*l->note_objs_h));
	l->nnote_dirs = 0;
}

/* ---- the flush ---------------------------------------------------------------- */

/* Per-flush view of an entry note: its live lookup. */
struct live {
	struct lfs_note_entry *n; /* the note */
	size_t idx;               /* position in flush.v */
	struct loafre_fid fid;    /* live object (valid when exists) */
	struct stat st;           /* its stat */
	bool looked;              /* lookup done */
	bool exists;              /* an object is there now */
	bool visiting;            /* being processed (cycle detection) */
	bool done;                /* processed */
};

struct flush {
	struct loafre__lfs *l;
	struct live **v;          /* one per note, in note order (stable addresses:
				   * recursion holds pointers while notes are added) */
	size_t nv, capv;
	size_t *map;              /* open addressing: FID -> index in v + 1 */
	size_t map_mask;
	size_t map_used;          /* occupied slots of map */
	unsigned swaps;           /* temporary names used to break cycles */
	bool final;               /* forcing: the next wait is decided instead (one
				   * forced decision, then normal rounds again) */
	unsigned round;           /* current round (from 256 on, final stays) */
	unsigned depth;           /* process_entry recursion depth */
};

/* A note seen again during a flush after it was processed (the state moved
 * under it: a directory re-created, an object moved back) is processed
 * again, against a fresh lookup. */
static void note_revive(struct lfs_note_entry *n)
{
	struct live *v = n->live;

	if (v && v->done && !v->visiting) {
		v->done = false;
		v->looked = false;
	}
}

/* A forced decision was taken (something that waited is removed instead):
 * what it unblocks proceeds normally, in this round and the next ones. Only
 * the first wait of a round without progress is forced, so that a decision
 * another note of the same round makes unnecessary is never taken. */
static void forced(struct flush *F)
{
	if (F->round < 256)
		F->final = false;
}

static void map_put(struct flush *F, size_t idx)
{
	size_t b = loafre__lfs_fid_hash(&F->v[idx]->fid) & F->map_mask;

	while (F->map[b])
		b = (b + 1) & F->map_mask;
	F->map[b] = idx + 1;
	F->map_used++;
}

static int map_grow(struct flush *F)
{
	size_t nb = F->map ? (F->map_mask + 1) * 2 : 1024;
	size_t *m;

	/* Entries, not notes, decide: a revived note is put again (its stale
	 * slot stays, harmless: lookups compare FIDs), so the table can hold
	 * more entries than there are notes. Keep it at most half full. */
	if (F->map && (F->map_used + 1) * 2 < F->map_mask + 1)
		return 0;
	while (nb < F->nv * 2 + 2)
		nb *= 2;
	m = calloc(nb, sizeof(*m));
	if (!m)
		return -ENOMEM;
	free(F->map);
	F->map = m;
	F->map_mask = nb - 1;
	F->map_used = 0;
	for (size_t i = 0; i < F->nv; i++)
		if (F->v[i]->looked && F->v[i]->exists)
			map_put(F, i);
	return 0;
}

/* Where is `fid` live among the looked-up notes (other than `except`)? */
static struct live *map_find(struct flush *F, const struct loafre_fid *fid, const struct live *except)
{
	if (!F->map)
		return NULL;
	for (size_t b = loafre__lfs_fid_hash(fid) & F->map_mask; F->map[b]; b = (b + 1) & F->map_mask) {
		struct live *v = F->v[F->map[b] - 1];
		if (v != except && v->exists && loafre_fid_equal(&v->fid, fid) && !v->done)
			return v;
	}
	return NULL;
}

static int lookup_live(struct flush *F, struct live *v)
{
	struct loafre__lfs *l = F->l;
	int fd, r;

	if (v->looked)
		return 0;
	v->looked = true;
	fd = dirfd_get(l, &v->n->dir);
	if (fd < 0) {
		v->exists = false; /* the directory itself is gone */
		return 0;
	}
	r = loafre__lfs_lookup(fd, v->n->name, &v->fid, &v->st);
	if (r == -ENOENT || r == -ENOTDIR || r == -ESTALE) {
		v->exists = false;
		return 0;
	}
	if (r < 0)
		return r;
	v->exists = true;
	if (map_grow(F) < 0)
		return -ENOMEM;
	map_put(F, v->idx);
	return 0;
}

/* Refreshes the lookups of notes whose directory joined the tree. */
static int lookup_pending(struct flush *F)
{
	for (size_t i = 0; i < F->nv; i++) {
		struct live *v = F->v[i];
		if (!v->looked && !v->done && loafre__lfs_knows_dir(F->l, &v->n->dir)) {
			int r = lookup_live(F, v);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static struct live *add_live(struct flush *F, struct lfs_note_entry *n)
{
	struct live *v;
	void *p;

	if (n->live)
		return n->live;
	p = room_for_one(F->v, F->nv, &F->capv, 256, sizeof(*F->v));
	if (!p)
		return NULL;
	F->v = p;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->n = n;
	v->idx = F->nv;
	n->live = v;
	F->v[F->nv++] = v;
	return v;
}

/* Gives every note without a view one (notes added while processing). */
static int join_notes(struct flush *F, bool *progress)
{
	for (struct lfs_note_entry *n = F->l->note_entries; n; n = n->next)
		if (!n->live) {
			if (!add_live(F, n))
				return -ENOMEM;
			*progress = true;
		}
	return 0;
}

/* Notes every live name and every recorded child of a directory. */
static int expand_dir(struct loafre__lfs *l, struct lfs_obj *d)
{
	struct dirent *de;
	DIR *dh;
	int fd, r = 0;

	for (struct lfs_link *k = d->children; k; k = k->lnext_dir) {
		r = loafre__lfs_note_entry(l, &d->fid, k->name, k->namelen);
		if (r < 0)
			return r;
	}
	fd = loafre__lfs_open_fid(l, &d->fid, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return 0; /* gone: its parent's note removes it */
	dh = fdopendir(fd);
	if (!dh) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		r = loafre__lfs_note_entry(l, &d->fid, de->d_name, len);
		if (r < 0)
			break;
	}
	closedir(dh);
	return r;
}

/* A recorded link of `o` whose entry no longer holds it (other than k). */
static struct lfs_link *vacated_link(struct flush *F, const struct lfs_obj *o,
				     const struct lfs_link *k)
{
	for (struct lfs_link *x = o->links; x; x = x->lnext_obj) {
		struct loafre_fid f;
		int fd;

		if (x == k)
			continue;
		fd = dirfd_get(F->l, &x->parent->fid);
		if (fd < 0 || loafre__lfs_lookup(fd, x->name, &f, NULL) < 0 ||
		    !loafre_fid_equal(&f, &o->fid))
			return x;
	}
	return NULL;
}

static int process_entry(struct flush *F, struct live *v);
static struct live *live_for(struct flush *F, const struct loafre_fid *dir, const char *name);
static int remove_entry(struct flush *F, struct lfs_link *k);

/* Empties the recorded directory d before its removal. Each entry is
 * reconciled as a note of its own: an object that lives on elsewhere in the
 * tree (moved out before d was removed, or while loafred was down) is
 * renamed there — one RENME, a directory with its whole subtree — and only
 * what is really gone is removed (children first). Never a removal and a
 * creation of an object that still exists: its FID, the file handle, is
 * the same, and Lustre records a move as RENME. Returns 0, 1 when an entry
 * must wait for a later round of the flush (its new directory is not
 * recorded yet; never in the final round), or -errno. */
static int evacuate(struct flush *F, struct lfs_obj *d)
{
	struct loafre__lfs *l = F->l;
	bool was_removing = d->removing;
	size_t tries = 0, max_tries = (size_t)d->nchildren * 2 + 16;
	int ret = 0;

	d->removing = true;
	while (d->children) {
		struct lfs_link *c = d->children;
		char name[LOAFRE_NAME_MAX + 1];
		size_t len = c->namelen;
		struct live *w;

		/* Bounded: past it (or too deep), plain removals. */
		if (++tries > max_tries || F->depth >= 256) {
			ret = remove_entry(F, c);
			if (ret != 0)
				break;
			continue;
		}
		memcpy(name, c->name, len);
		name[len] = '\0';
		w = live_for(F, &d->fid, name);
		if (!w) {
			ret = -ENOMEM;
			break;
		}
		if (!w->visiting) {
			F->depth++;
			ret = process_entry(F, w);
			F->depth--;
			if (ret < 0)
				break;
		}
		c = loafre__lfs_link_get(l, &d->fid, name, len);
		if (!c)
			continue; /* moved away, or removed */
		if (!w->done && !F->final) {
			ret = 1; /* waits for its new directory */
			break;
		}
		if (!w->done)
			forced(F);
		ret = remove_entry(F, c);
		if (ret != 0)
			break;
	}
	d->removing = was_removing;
	return ret;
}

/* Emits the removal of the entry k (and, for a directory, of everything
 * below it first: see evacuate). 0, 1 (wait; see evacuate) or -errno. */
static int remove_entry(struct flush *F, struct lfs_link *k)
{
	struct loafre__lfs *l = F->l;
	struct lfs_obj *o = k->child;
	struct loafre_rec r;
	bool last;
	int ret;

	if (lfs_is_dir(o) && o->children) {
		struct lfs_obj *parent = k->parent;
		char name[LOAFRE_NAME_MAX + 1];
		size_t len = k->namelen;

		memcpy(name, k->name, len);
		ret = evacuate(F, o);
		if (ret != 0)
			return ret;
		/* k may have changed meanwhile */
		k = loafre__lfs_link_get(l, &parent->fid, name, len);
		if (!k || k->child != o)
			return 0;
	}
	/* Last recorded link: the object is gone, or it left the tree (if it
	 * is alive in the tree under a name no note has shown yet, the next
	 * notes record it again). */
	last = o->links == k && !k->lnext_obj;
	rec_init(l, &r, lfs_is_dir(o) ? LOAFRE_CL_RMDIR : LOAFRE_CL_UNLINK, o);
	r.pfid = k->parent->fid;
	r.name = k->name;
	r.namelen = k->namelen;
	if (last && !lfs_is_dir(o))
		r.flags |= LOAFRE_CLF_UNLINK_LAST;
	return emit(l, &r, NULL);
}

/* Emits a rename of X from link src to (dir, name), overwriting y (NULL:
 * nothing there). */
static int rename_into(struct flush *F, struct lfs_obj *x, struct lfs_link *src, struct lfs_obj *dir,
		       const char *name, size_t len, struct lfs_obj *y, const struct stat *st)
{
	struct loafre__lfs *l = F->l;
	char sname[LOAFRE_NAME_MAX + 1];
	struct loafre_rec r;
	int ret;

	memcpy(sname, src->name, src->namelen);
	rec_init(l, &r, LOAFRE_CL_RENAME, y);
	r.uid = x->uid;
	r.gid = x->gid;
	r.flags |= LOAFRE_CLF_RENAME;
	r.pfid = dir->fid;
	r.name = name;
	r.namelen = (uint16_t)len;
	r.sfid = x->fid;
	r.spfid = src->parent->fid;
	r.sname = sname;
	r.snamelen = src->namelen;
	if (y) {
		struct lfs_link *yk = loafre__lfs_link_get(l, &dir->fid, name, len);
		/* Its last recorded link: gone, or out of the tree for us. */
		bool ylast = yk && y->links == yk && !yk->lnext_obj;
		if (ylast)
			r.flags |= LOAFRE_CLF_RENAME_LAST;
	}
	ret = emit(l, &r, NULL);
	if (ret < 0)
		return ret;
	if (st)
		loafre__lfs_obj_touch(l, x);
	return 0;
}

static int create_entry(struct flush *F, struct lfs_obj *dir, struct live *v)
{
	struct loafre__lfs *l = F->l;
	struct loafre_rec r;
	struct lfs_obj tmp = {0};
	struct lfs_obj *o;
	int ret;

	tmp.fid = v->fid;
	tmp.uid = v->st.st_uid;
	tmp.gid = v->st.st_gid;
	rec_init(l, &r, create_type(v->st.st_mode), &tmp);
	r.pfid = dir->fid;
	r.name = v->n->name;
	r.namelen = v->n->namelen;
	ret = emit(l, &r, &v->st);
	if (ret < 0)
		return ret;
	o = loafre__lfs_obj_get(l, &v->fid);
	if (!o)
		return -ENOMEM;
	if (S_ISREG(v->st.st_mode) && v->st.st_size > 0) {
		rec_init(l, &r, LOAFRE_CL_CLOSE, o);
		ret = emit(l, &r, &v->st);
		if (ret < 0)
			return ret;
	}
	if (S_ISDIR(v->st.st_mode)) {
		if (l->dir_cb) {
			int fd = dirfd_get(l, &o->fid);
			l->dir_cb(l->dir_cb_ctx, &o->fid, fd, true);
		}
		ret = expand_dir(l, o);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Where is y live now? Fills the directory FID and entry name of one of its
 * links, read back from the kernel (the path of a descriptor opened by
 * handle) and verified by a lookup. 1 if found inside the tree, 0 if not
 * (gone, outside, or no reliable path). */
static int live_location(struct loafre__lfs *l, const struct lfs_obj *y, struct loafre_fid *ret_dir,
			 char *ret_name)
{
	char proc[64], p[PATH_MAX];
	size_t rl = strlen(l->root);
	struct loafre_fid got;
	struct stat st;
	ssize_t n;
	char *slash;
	int fd, pfd, mnt, found = 0;
	union {
		struct file_handle fh;
		char b[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;

	fd = loafre__lfs_open_fid(l, &y->fid, O_PATH);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || st.st_nlink == 0) {
		close(fd);
		return 0;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, p, sizeof(p) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	p[n] = '\0';
	if ((size_t)n <= rl + 1 || strncmp(p, l->root, rl) != 0 || p[rl] != '/')
		return 0;
	slash = strrchr(p, '/');
	*slash = '\0';
	if (strlen(slash + 1) > LOAFRE_NAME_MAX)
		return 0;
	pfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return 0;
	u.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(pfd, "", &u.fh, &mnt, AT_EMPTY_PATH) == 0 &&
	    loafre__lfs_handle_fid(l, &u.fh, ret_dir) == 0 &&
	    loafre__lfs_lookup(pfd, slash + 1, &got, NULL) == 0 && loafre_fid_equal(&got, &y->fid)) {
		strcpy(ret_name, slash + 1);
		found = 1;
	}
	close(pfd);
	return found;
}

/* The live view of note (dir, name), adding the note if needed. */
static struct live *live_for(struct flush *F, const struct loafre_fid *dir, const char *name)
{
	struct loafre__lfs *l = F->l;
	size_t len = strlen(name);
	struct lfs_note_entry *n;

	if (loafre__lfs_note_entry(l, dir, name, len) < 0)
		return NULL;
	n = note_find(l, dir, name, len);
	return n ? add_live(F, n) : NULL;
}

/* Is k a temporary name an object was parked under? */
static bool is_parked(const struct loafre__lfs *l, const struct lfs_link *k)
{
	for (size_t i = 0; i < l->nparked; i++) {
		const struct lfs_parked *p = &l->parked[i];
		if (p->namelen == k->namelen && memcmp(p->name, k->name, k->namelen) == 0 &&
		    loafre_fid_equal(&p->dir, &k->parent->fid))
			return true;
	}
	return false;
}

/* Parks y (recorded at k, live elsewhere in the tree) under a temporary
 * name in directory `in` (RENME): the entry where y lives renames it from
 * there when it is processed (its link is vacated). Some cycles of moves
 * have no order of renames without a name in between. The name is kept in
 * l->parked: when y's place is not recorded by the end of the flush (its
 * directory's event comes in a later batch, or never: the directory went
 * before anything saw it), the next flushes note the temporary name again —
 * nothing else would, as it never exists on disk — and it is renamed to
 * y's place, or removed once y is gone. */
static int park(struct flush *F, struct lfs_obj *y, struct lfs_link *k, struct lfs_obj *in)
{
	struct loafre__lfs *l = F->l;
	struct lfs_parked *p;
	char tmpname[sizeof(p->name)];
	int n, ret;

	p = room_for_one(l->parked, l->nparked, &l->parked_cap, 8, sizeof(*l->parked));
	if (!p)
		return -ENOMEM;
	l->parked = p;
	/* A name no recorded entry of `in` has (parked names outlive the
	 * flush that made them, and the count restarts with the process). */
	do
		n = snprintf(tmpname, sizeof(tmpname), ".loafre-swap-%x-%u", y->fid.f_oid, ++F->swaps);
	while (loafre__lfs_link_get(l, &in->fid, tmpname, (size_t)n));
	ret = rename_into(F, y, k, in, tmpname, (size_t)n, NULL, NULL);
	if (ret < 0)
		return ret;
	p = &l->parked[l->nparked++];
	p->dir = in->fid;
	p->namelen = (uint16_t)n;
	memcpy(p->name, tmpname, (size_t)n + 1);
	return 0;
}

/* Flush start: every temporary name still recorded is looked at again. */
static int parked_note(struct loafre__lfs *l)
{
	for (size_t i = 0; i < l->nparked; i++) {
		const struct lfs_parked *p = &l->parked[i];
		int r;

		if (!loafre__lfs_link_get(l, &p->dir, p->name, p->namelen))
			continue;
		r = loafre__lfs_note_entry(l, &p->dir, p->name, p->namelen);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Flush end: forget the temporary names no longer recorded. */
static void parked_prune(struct loafre__lfs *l)
{
	size_t n = 0;

	for (size_t i = 0; i < l->nparked; i++) {
		const struct lfs_parked *p = &l->parked[i];
		if (loafre__lfs_link_get(l, &p->dir, p->name, p->namelen))
			l->parked[n++] = *p;
	}
	l->nparked = n;
}

/* Makes the recorded object y leave entry v (it is no longer there).
 * Returns 0 when done (y moved, or removed; or *ret_overwrite set: y is the
 * target the arriving object overwrites, its link still recorded), 1 when
 * the note must wait for a later round (y lives under a directory this
 * flush has not recorded yet), or -errno. */
static int make_leave(struct flush *F, struct live *v, struct lfs_link *k, bool arriving_rename,
		      bool *ret_overwrite)
{
	struct loafre__lfs *l = F->l;
	struct lfs_obj *y = k->child;
	struct loafre_fid pf;
	char name[LOAFRE_NAME_MAX + 1];
	struct live *w;
	int ret;

	*ret_overwrite = false;
	w = map_find(F, &y->fid, v);
	if (!w && lookup_pending(F) == 0)
		w = map_find(F, &y->fid, v);
	if (!w && live_location(l, y, &pf, name) == 1 &&
	    !(loafre_fid_equal(&pf, &v->n->dir) && strcmp(name, v->n->name) == 0)) {
		/* y lives elsewhere in the tree under a name no note showed
		 * (split or lost events; a directory moved with its parent) */
		if (!loafre__lfs_knows_dir(l, &pf)) {
			/* Already parked: it stays parked until its place is
			 * recorded (no new temporary name per flush). */
			if (!F->final || is_parked(l, k))
				return 1;
			forced(F);
			return park(F, y, k, l->rootobj);
		}
		w = live_for(F, &pf, name);
		if (!w)
			return -ENOMEM;
		ret = lookup_live(F, w);
		if (ret < 0)
			return ret;
	}
	if (w) {
		if (w->visiting) {
			/* A cycle (objects swapped names): park y under a
			 * temporary name in its directory — in the root when
			 * that directory is being emptied for its removal (y
			 * now holds the entry that held the directory: mv
			 * d/y t; rmdir d; mv t d). The entry being processed
			 * renames y from there. */
			return park(F, y, k, k->parent->removing ? l->rootobj : k->parent);
		}
		/* Long chains (a rotation of many names in one flush) wait for
		 * the next round instead of recursing without bound. */
		if (F->depth >= 128 && !F->final)
			return 1;
		F->depth++;
		ret = process_entry(F, w);
		F->depth--;
		if (ret < 0)
			return ret;
		if (!w->done && (!F->final || is_parked(l, k)))
			return 1; /* w waits for a later round: so does v */
		if (!w->done) {
			/* Forced: y lives at w, which waits too (y, a
			 * directory, moved under an object still recorded
			 * below it, which takes y's entry: mv d/e/f t; mv d
			 * t/d; mv t d). Park y; w's entry renames it. */
			forced(F);
			return park(F, y, k, l->rootobj);
		}
		k = loafre__lfs_link_get(l, &v->n->dir, v->n->name, v->n->namelen);
		if (!k || k->child != y)
			return 0; /* y moved away */
	}
	/* Gone, or left the tree, or losing one of several links. */
	if (arriving_rename && !(lfs_is_dir(y) && y->children)) {
		*ret_overwrite = true;
		return 0;
	}
	return remove_entry(F, k);
}

static int process_entry(struct flush *F, struct live *v)
{
	struct loafre__lfs *l = F->l;
	struct lfs_obj *dir, *x, *y;
	struct lfs_link *k;
	bool overwrite = false;
	int ret;

	if (v->done)
		return 0;
	dir = loafre__lfs_obj_get(l, &v->n->dir);
	if (!dir || !loafre__lfs_knows_dir(l, &v->n->dir))
		return 0;
	/* The entry may have come and gone between two looks, leaving only
	 * the directory's mtime moved: compare the directory too. */
	ret = loafre__lfs_note_object(l, &dir->fid, 0);
	if (ret < 0)
		return ret;
	ret = lookup_live(F, v);
	if (ret < 0)
		return ret;
	v->visiting = true;
	k = loafre__lfs_link_get(l, &v->n->dir, v->n->name, v->n->namelen);
	y = k ? k->child : NULL;
	if (v->exists && y && loafre_fid_equal(&y->fid, &v->fid)) {
		/* Same object: its metadata may have changed (and, from the
		 * inotify watcher, its content: the note carries the hints). */
		ret = loafre__lfs_note_object(l, &y->fid, v->n->hints);
		goto done;
	}
	x = v->exists ? loafre__lfs_obj_get(l, &v->fid) : NULL;
	if (x == l->rootobj)
		goto done;
	if (x && lfs_is_dir(x) && obj_is_ancestor(l, x, dir)) {
		/* x would land under itself in the recorded tree: a
		 * descendant that moved out of x is still recorded inside it.
		 * That move comes first (a later round; in the final rounds
		 * too: it may come later in the same round, and a round with
		 * progress is followed by another); recording this one now
		 * would make a loop in the recorded tree. */
		v->visiting = false;
		return 0;
	}
	if (y) {
		bool arriving_rename = false;

		if (x && x != y && vacated_link(F, x, NULL))
			arriving_rename = true;
		ret = make_leave(F, v, k, arriving_rename, &overwrite);
		if (ret < 0)
			goto out;
		if (ret == 1) {
			/* Waits for a later round of this flush. */
			v->visiting = false;
			return 0;
		}
		if (!overwrite) {
			k = loafre__lfs_link_get(l, &v->n->dir, v->n->name, v->n->namelen);
			y = k ? k->child : NULL;
			if (y && v->exists && loafre_fid_equal(&y->fid, &v->fid))
				goto done;
			if (y) {
				ret = remove_entry(F, k);
				if (ret < 0)
					goto out;
				if (ret == 1) {
					/* Waits for a later round. */
					v->visiting = false;
					return 0;
				}
				y = NULL;
			}
		}
	}
	if (!v->exists)
		goto done;
	x = loafre__lfs_obj_get(l, &v->fid);
	if (x) {
		struct lfs_link *src = vacated_link(F, x, NULL);

		if (src) {
			ret = rename_into(F, x, src, dir, v->n->name, v->n->namelen,
					  overwrite ? y : NULL, &v->st);
		} else {
			struct loafre_rec r;

			if (overwrite && y) {
				k = loafre__lfs_link_get(l, &v->n->dir, v->n->name, v->n->namelen);
				if (k) {
					ret = remove_entry(F, k);
					if (ret < 0)
						goto out;
				}
			}
			rec_init(l, &r, LOAFRE_CL_HARDLINK, x);
			r.pfid = dir->fid;
			r.name = v->n->name;
			r.namelen = v->n->namelen;
			/* Names only: the object's attributes stay as recorded,
			 * so a change seen in the same look (chmod, a write
			 * closed) keeps its own record, from the comparison. */
			ret = emit(l, &r, NULL);
			if (ret >= 0)
				ret = loafre__lfs_note_object(l, &x->fid, v->n->hints);
		}
	} else {
		if (overwrite && y) {
			k = loafre__lfs_link_get(l, &v->n->dir, v->n->name, v->n->namelen);
			if (k) {
				ret = remove_entry(F, k);
				if (ret < 0)
					goto out;
			}
		}
		ret = create_entry(F, dir, v);
	}
	goto out;
done:
	ret = ret < 0 ? ret : 0;
out:
	v->visiting = false;
	v->done = true;
	return ret;
}

/* ---- attributes --------------------------------------------------------------- */

/* Reads the xattrs of the object behind fd (O_PATH) into the state's
 * encoding (sorted "name\0" + 8-byte XXH3 of the value). */
static int read_xattrs(int fd, char **ret, uint32_t *ret_len)
{
	char proc[64], names[65536], *out = NULL, *sorted[512];
	ssize_t nl;
	size_t n = 0, len = 0;
	char val[65536];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	nl = listxattr(proc, names, sizeof(names));
	if (nl < 0)
		return errno == ENOTSUP || errno == ENODATA ? 0 : -errno;
	for (char *p = names; p < names + nl && n < LOAFRE__ARRAY_SIZE(sorted); p += strlen(p) + 1)
		sorted[n++] = p;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
			char *t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	if (n == 0) {
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	out = malloc((size_t)nl + n * 8);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ssize_t vl = getxattr(proc, sorted[i], val, sizeof(val));
		uint64_t h = vl >= 0 ? XXH3_64bits(val, (size_t)vl) : 0;
		size_t sl = strlen(sorted[i]) + 1;

		memcpy(out + len, sorted[i], sl);
		len += sl;
		loafre__put64(out + len, h);
		len += 8;
	}
	*ret = out;
	*ret_len = (uint32_t)len;
	return 0;
}

/* Looks a name up in an encoded xattr list: its hash, or false. */
static bool xattr_find(const char *list, uint32_t len, const char *name, uint64_t *h)
{
	for (const char *p = list; p && p < list + len;) {
		size_t sl = strlen(p) + 1;
		if (strcmp(p, name) == 0) {
			*h = loafre__le64(p + sl);
			return true;
		}
		p += sl + 8;
	}
	return false;
}

static int emit_attr(struct loafre__lfs *l, const struct loafre_rec *r);

static int emit_xattr(struct loafre__lfs *l, struct lfs_obj *o, const char *name)
{
	struct loafre_rec r;

	rec_init(l, &r, LOAFRE_CL_SETXATTR, o);
	r.extra_flags |= LOAFRE_CLFE_XATTR;
	snprintf(r.xattr, sizeof(r.xattr), "%s", name);
	return emit_attr(l, &r);
}

static int compare_xattrs(struct loafre__lfs *l, struct lfs_obj *o, int fd)
{
	char *nl = NULL;
	uint32_t nlen = 0;
	uint64_t h, h2;
	int r;

	r = read_xattrs(fd, &nl, &nlen);
	if (r < 0)
		return 0; /* unreadable: nothing to say */
	for (const char *p = nl; p && p < nl + nlen;) {
		size_t sl = strlen(p) + 1;
		h = loafre__le64(p + sl);
		if (!xattr_find(o->xattrs, o->xattrs_len, p, &h2) || h2 != h) {
			r = emit_xattr(l, o, p);
			if (r < 0)
				goto out;
		}
		p += sl + 8;
	}
	for (const char *p = o->xattrs; p && p < o->xattrs + o->xattrs_len;) {
		size_t sl = strlen(p) + 1;
		if (!xattr_find(nl, nlen, p, &h2)) {
			r = emit_xattr(l, o, p);
			if (r < 0)
				goto out;
		}
		p += sl + 8;
	}
	free(o->xattrs);
	o->xattrs = nl;
	o->xattrs_len = nlen;
	nl = NULL;
	loafre__lfs_obj_touch(l, o);
	r = 0;
out:
	free(nl);
	return r;
}

/* Records o's current xattrs in the state without any record (first run).
 * An object that cannot be opened or read keeps none: nothing to say. */
static void xattr_baseline(struct loafre__lfs *l, struct lfs_obj *o)
{
	char *nl = NULL;
	uint32_t nlen = 0;
	int fd = loafre__lfs_open_fid(l, &o->fid, O_PATH);

	if (fd < 0)
		return;
	if (read_xattrs(fd, &nl, &nlen) == 0 && nl) {
		o->xattrs = nl;
		o->xattrs_len = nlen;
		loafre__lfs_obj_touch(l, o);
	} else {
		free(nl);
	}
	close(fd);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Appends an attribute record without re-reading the object into the state
 * (the caller updates exactly the fields the record accounts for, so a
 * change it does not report — data still being written — stays visible). */
static int emit_attr(struct loafre__lfs *l, const struct loafre_rec *r)
{
	int ret;

	if (l->snapshot)
		return 0;
	ret = loafre_journal_append(l->journal, r);
	if (ret < 0)
		return ret;
	l->stats.records++;
	return 0;
}

/* Did the file grow from `from` to `to` bytes with nothing but zeros (a
 * hole, or zero bytes) — as truncate(2) / ftruncate(2) grow a file — rather
 * than by a write? fd: O_PATH. Reads at most 1 MiB of the grown range (data
 * regions only, found with SEEK_DATA); false when in doubt. */
static bool grown_by_zeros(int fd, uint64_t from, uint64_t to)
{
	char proc[64], buf[16384];
	uint64_t budget = 1u << 20;
	bool zeros = true;
	int rfd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rfd = open(proc, O_RDONLY | O_NOATIME | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0 && errno == EPERM)
		rfd = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0)
		return false;
	for (uint64_t off = from; off < to && zeros;) {
		off_t d = lseek(rfd, (off_t)off, SEEK_DATA);
		ssize_t n;

		if (d < 0) {
			zeros = errno == ENXIO; /* only a hole up to the end */
			break;
		}
		if ((uint64_t)d >= to)
			break;
		n = pread(rfd, buf, to - (uint64_t)d < sizeof(buf) ? (size_t)(to - (uint64_t)d) : sizeof(buf),
			  d);
		if (n <= 0 || (uint64_t)n > budget) {
			zeros = false;
			break;
		}
		budget -= (uint64_t)n;
		for (ssize_t i = 0; i < n && zeros; i++)
			zeros = buf[i] == 0;
		off = (uint64_t)d + (uint64_t)n;
	}
	close(rfd);
	return zeros;
}

/* Does anybody hold the regular file open for writing (a write whose close
 * is still to come)? fd: O_PATH. The kernel refuses a read lease (EAGAIN)
 * while any descriptor, or shared writable mapping, of the file is open for
 * writing: one is taken on a read-only descriptor and dropped at once
 * (neither that open nor its close is an event the watcher asks for). A
 * writer opening the file meanwhile breaks the lease: the break's signal is
 * SIGURG (ignored unless handled) instead of SIGIO (which ends a process
 * that does not handle it), and nobody owns it once the lease is taken.
 * 1: open for writing; 0: not; a negative errno: cannot tell (no lease on
 * this filesystem, not permitted: loafred runs as root, which may). */
static int open_for_writing(int fd)
{
	char proc[64];
	int rfd, r;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rfd = open(proc, O_RDONLY | O_NOATIME | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0 && errno == EPERM)
		rfd = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	if (fcntl(rfd, F_SETSIG, SIGURG) < 0) {
		r = -errno;
		goto out;
	}
	if (fcntl(rfd, F_SETLEASE, F_RDLCK) < 0) {
		r = errno == EAGAIN ? 1 : -errno;
		goto out;
	}
	(void)fcntl(rfd, F_SETOWN, 0);
	(void)fcntl(rfd, F_SETLEASE, F_UNLCK);
	r = 0;
out:
	close(rfd); /* drops the lease too */
	return r;
}

/* Nobody holds the file open for writing: so the kernel says; or it cannot
 * tell, and the size did not move (a write going on mostly grows a file:
 * that one keeps waiting for its close). */
static bool nobody_writes(int fd, const struct stat *st, const struct lfs_obj *o)
{
	int w = open_for_writing(fd);

	return w == 0 || (w < 0 && (uint64_t)st->st_size == o->size);
}

/* Queues an object for comparison at the next flush (HINT_RECHECK). */
static int recheck_add(struct loafre__lfs *l, const struct loafre_fid *fid)
{
	void *p = room_for_one(l->recheck, l->nrecheck, &l->recheck_cap, 16, sizeof(*l->recheck));

	if (!p)
		return -ENOMEM;
	l->recheck = p;
	l->recheck[l->nrecheck++] = *fid;
	return 0;
}

static int process_object(struct loafre__lfs *l, struct lfs_obj *o, unsigned hints)
{
	struct loafre_rec r;
	struct stat st;
	int fd, ret = 0;
	bool meta, shrank, grew, content, mtime_moved, reg, wrote, dir_touched, inflight, unclosed;

	/* Directory mtimes: a directory's mtime moves with its entries. When a
	 * record of this flush names it as a parent (dir_changed), that
	 * record accounts for the move: a consumer re-reads the parent of a
	 * namespace record, after this flush. Otherwise a moved mtime is told
	 * by an MTIME: a utime of the directory (as Lustre), or entries that
	 * came and went between two looks (whose records cannot be written:
	 * the objects are gone, their FIDs unknown). */
	dir_touched = o->ns_touched;
	o->ns_touched = false;
	fd = loafre__lfs_open_fid(l, &o->fid, O_PATH);
	if (fd < 0)
		return 0; /* gone: its entry note removes it */
	if (fstat(fd, &st) < 0 || st.st_nlink == 0 || (st.st_mode & S_IFMT) != (o->mode & S_IFMT))
		goto out;
	reg = S_ISREG(st.st_mode);
	meta = (st.st_mode & 07777) != (o->mode & 07777) || st.st_uid != o->uid ||
	       st.st_gid != o->gid;
	mtime_moved = ts_ns(&st.st_mtim) != o->mtime_ns;
	shrank = reg && (uint64_t)st.st_size < o->size;
	grew = reg && (uint64_t)st.st_size > o->size;
	content = reg && ((uint64_t)st.st_size != o->size || mtime_moved);
	/* The kernel reports a utimes that sets only the mtime as FAN_MODIFY,
	 * like a write. A write sets mtime and ctime to the same instant; an
	 * mtime set explicitly differs from the ctime: then it is a MTIME. */
	if ((hints & LOAFRE__LFS_MODIFY) &&
	    !(reg && (uint64_t)st.st_size == o->size && !meta &&
	      ts_ns(&st.st_mtim) != ts_ns(&st.st_ctim)))
		o->written = true;
	/* A close after open-for-write that wrote nothing (touch) is not a
	 * CLOSE: Lustre logs CLOSE only for modified files. */
	wrote = o->written || (uint64_t)st.st_size != o->size;
	/* A file shrunk with no modification reported: a truncate still
	 * running, seen half-way through a note of something else (setattr
	 * sets the new size, frees the blocks, then sets the times: a stat
	 * now pairs the new size with the old times). Every truncate is
	 * reported (FAN_MODIFY) when it is done: the file is compared then,
	 * with the times it leaves. */
	inflight = shrank && !(hints & (LOAFRE__LFS_MODIFY | HINT_RESCAN));
	/* Modified, and no close noted (yet). */
	unclosed = content && o->written && !(hints & LOAFRE__LFS_CLOSE_WRITE);
	if (meta) {
		rec_init(l, &r, LOAFRE_CL_SETATTR, o);
		r.uid = st.st_uid;
		r.gid = st.st_gid;
		ret = emit_attr(l, &r);
		if (ret < 0)
			goto out;
		o->mode = st.st_mode;
		o->uid = st.st_uid;
		o->gid = st.st_gid;
	}
	if (inflight)
		goto xattrs; /* the recorded size and times stay */
	if (shrank) {
		rec_init(l, &r, LOAFRE_CL_TRUNC, o);
		ret = emit_attr(l, &r);
	} else if (content && ((wrote && (hints & LOAFRE__LFS_CLOSE_WRITE)) || (hints & HINT_RESCAN))) {
		rec_init(l, &r, LOAFRE_CL_CLOSE, o);
		ret = emit_attr(l, &r);
	} else if (grew && (hints & LOAFRE__LFS_MODIFY) &&
		   grown_by_zeros(fd, o->size, (uint64_t)st.st_size)) {
		/* truncate(2) growing the file: no close follows (the kernel
		 * reports it as a modification). Lustre writes TRUNC for a
		 * truncate whichever way the size goes. A write of zeros not
		 * closed yet looks the same: TRUNC too (re-read either way). */
		rec_init(l, &r, LOAFRE_CL_TRUNC, o);
		ret = emit_attr(l, &r);
	} else if (content && !wrote &&
		   (hints & (LOAFRE__LFS_ATTRIB | LOAFRE__LFS_CLOSE_WRITE | LOAFRE__LFS_MODIFY))) {
		/* touch -d, touch -m: the mtime moved with no write. With a
		 * modification reported and the size kept, an mtime that is
		 * not the ctime was set explicitly — or the ctime moved since
		 * (a rename of a file truncated to its own size): no close
		 * will come either way. */
		rec_init(l, &r, LOAFRE_CL_MTIME, o);
		ret = emit_attr(l, &r);
	} else if (!reg && mtime_moved && (hints & LOAFRE__LFS_ATTRIB) && !S_ISDIR(st.st_mode)) {
		rec_init(l, &r, LOAFRE_CL_MTIME, o);
		ret = emit_attr(l, &r);
	} else if (S_ISDIR(st.st_mode) && mtime_moved && !meta &&
		   (!dir_touched || ((hints & LOAFRE__LFS_ATTRIB) &&
				     ts_ns(&st.st_mtim) != ts_ns(&st.st_ctim)))) {
		/* Not accounted for by a record naming it as parent; or, with
		 * one, set explicitly afterwards (utime: mtime != ctime). */
		rec_init(l, &r, LOAFRE_CL_MTIME, o);
		ret = emit_attr(l, &r);
	} else if (unclosed && o->unclosed && nobody_writes(fd, &st, o)) {
		/* Modified, no close came in two looks, and nobody holds it
		 * open for writing: truncate(2) (FAN_MODIFY, no open, no
		 * close) — one that kept the size (an empty file truncated to
		 * 0) or grew it with data written since. Lustre writes TRUNC
		 * for every setattr of the size, whichever way it goes. */
		rec_init(l, &r, LOAFRE_CL_TRUNC, o);
		ret = emit_attr(l, &r);
	} else if (content) {
		/* Written, not closed yet: the CLOSE comes when it is. Keep
		 * the recorded size/mtime so the change stays visible. When
		 * nobody holds it open for writing any more, its close (if
		 * it was a write) is already queued: the next flush has its
		 * note; if none comes, that flush writes TRUNC (above). */
		if (unclosed && nobody_writes(fd, &st, o)) {
			ret = recheck_add(l, &o->fid);
			if (ret < 0)
				goto out;
			o->unclosed = true;
		} else {
			o->unclosed = false;
		}
		o->ctime_ns = ts_ns(&st.st_ctim);
		loafre__lfs_obj_touch(l, o);
		goto xattrs;
	}
	if (ret < 0)
		goto out;
	/* Every change is accounted for now (a directory's moved mtime: by
	 * the records naming it as parent, or the MTIME above). */
	{
		uint32_t mode = o->mode, uid = o->uid, gid = o->gid;
		loafre__lfs_obj_set_stat(l, o, &st);
		o->written = false;
		o->unclosed = false;
		if (!meta) {
			/* meta fields only change with a SATTR */
			o->mode = (o->mode & S_IFMT) | (mode & 07777);
			o->uid = uid;
			o->gid = gid;
		}
	}
xattrs:
	if (!S_ISLNK(st.st_mode) &&
	    ((hints & LOAFRE__LFS_ATTRIB) || ((hints & HINT_RESCAN) && ts_ns(&st.st_ctim) != o->ctime_ns)))
		ret = compare_xattrs(l, o, fd);
out:
	close(fd);
	return ret;
}

/* ---- flush -------------------------------------------------------------------- */

int loafre__lfs_flush(struct loafre__lfs *l)
{
	struct flush F = {.l = l};
	uint64_t before = l->stats.records;
	struct timespec now;
	size_t i;
	int r = 0;
	bool progress;

	if (l->flags & LOAFRE__LFS_READONLY)
		return -EROFS;
	clock_gettime(CLOCK_REALTIME, &now);
	l->now = loafre_cl_time((uint64_t)now.tv_sec, (uint32_t)now.tv_nsec);

	r = parked_note(l);
	if (r < 0)
		goto out;
	/* Objects the last flush left to compare again (lfs_obj.unclosed). */
	for (i = 0; i < l->nrecheck; i++) {
		r = loafre__lfs_note_object(l, &l->recheck[i], HINT_RECHECK);
		if (r < 0)
			goto out;
	}
	l->nrecheck = 0;

	for (i = 0; i < l->nnote_dirs; i++) {
		struct lfs_obj *d = loafre__lfs_obj_get(l, &l->note_dirs[i]);
		if (d && lfs_is_dir(d) && loafre__lfs_knows_dir(l, &d->fid)) {
			r = expand_dir(l, d);
			if (r < 0)
				goto out;
		}
	}
	l->nnote_dirs = 0;

	/* Live lookups of every note in the tree, then process in rounds:
	 * notes under directories this flush records join the next round;
	 * a last round lets nothing wait any more. */
	{
		bool dummy = false;
		r = join_notes(&F, &dummy);
		if (r < 0)
			goto out;
	}
	r = lookup_pending(&F);
	if (r < 0)
		goto out;
	for (unsigned round = 0;; round++) {
		progress = false;
		F.round = round;
		/* A bound on rounds, whatever the tree does meanwhile: the
		 * last ones let nothing wait. */
		if (round >= 256)
			F.final = true;
		for (i = 0; i < F.nv; i++) {
			struct live *v = F.v[i];
			if (v->done || !loafre__lfs_knows_dir(l, &v->n->dir))
				continue;
			r = process_entry(&F, v);
			if (r < 0)
				goto out;
			if (v->done)
				progress = true;
		}
		r = join_notes(&F, &progress);
		if (r < 0)
			goto out;
		if (progress && round < 512) {
			r = lookup_pending(&F);
			if (r < 0)
				goto out;
			continue;
		}
		/* No progress: force the next wait (a round in which nothing
		 * was forced either ends the flush). */
		if (F.final || round >= 512)
			break;
		F.final = true;
	}
	for (i = 0; i < F.nv; i++)
		if (!F.v[i]->done)
			l->stats.ignored++;

	for (struct lfs_note_obj *n = l->note_objs; n; n = n->next) {
		struct lfs_obj *o = loafre__lfs_obj_get(l, &n->fid);
		if (!o)
			continue;
		r = process_object(l, o, n->hints);
		if (r < 0)
			goto out;
	}
	r = l->failed ? l->failed : (int)(l->stats.records - before);
out:
	parked_prune(l);
	notes_free(l);
	dirfd_cache_clear(l);
	for (i = 0; i < F.nv; i++)
		free(F.v[i]);
	free(F.v);
	free(F.map);
	return r;
}

int loafre__lfs_rescan(struct loafre__lfs *l)
{
	size_t i;
	int r;

	if (l->flags & LOAFRE__LFS_READONLY)
		return -EROFS;
	l->stats.rescans++;
	/* Every recorded directory is listed (root first), every recorded
	 * object compared. */
	r = loafre__lfs_note_dir(l, &l->rootobj->fid);
	for (i = 0; r >= 0 && i <= l->objs_mask; i++)
		for (struct lfs_obj *o = l->objs[i]; o && r >= 0; o = o->hnext) {
			if (lfs_is_dir(o) && o != l->rootobj)
				r = loafre__lfs_note_dir(l, &o->fid);
			if (r >= 0 && !l->snapshot)
				r = loafre__lfs_note_object(l, &o->fid, HINT_RESCAN);
		}
	if (r < 0)
		return r;
	r = loafre__lfs_flush(l);
	/* First run: the objects were learnt silently, without their xattrs
	 * (process_object compares them only after an attribute change). Read
	 * them now, so removing an xattr the tree had before loafred's first
	 * start is a change like any other (an XATTR record). */
	for (i = 0; r >= 0 && l->snapshot && i <= l->objs_mask; i++)
		for (struct lfs_obj *o = l->objs[i]; o; o = o->hnext)
			if (!S_ISLNK(o->mode) && !o->xattrs)
				xattr_baseline(l, o);
	l->snapshot = false;
	return r;
}

/* ---- open / sync / close ----------------------------------------------------- */

static int replay(struct loafre__lfs *l)
{
	struct loafre_journal_reader *rd = NULL;
	struct loafre_rec rec;
	int r;

	r = loafre_journal_reader_open(l->journal, l->journal_index + 1, &rd);
	if (r < 0)
		return r;
	while ((r = loafre_journal_reader_next(rd, &rec, NULL, NULL)) == 0) {
		if (rec.index <= l->journal_index)
			continue;
		apply(l, &rec, NULL);
		l->journal_index = rec.index;
	}
	loafre_journal_reader_close(rd);
	return r == -EAGAIN ? 0 : r;
}

int loafre__lfs_open(const char *root, const char *state_path, struct loafre_journal *j, int flags,
		     struct loafre__lfs **ret_lfs)
{
	union {
		struct file_handle fh;
		char b[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	struct loafre__lfs *l;
	struct loafre_fid rf;
	struct stat st;
	int r, mnt;

	if (!(flags & LOAFRE__LFS_READONLY) && !j)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->root_fd = -1;
	l->flags = flags;
	l->journal = j;
	l->root = realpath(root, NULL);
	if (!l->root) {
		r = -errno;
		goto fail;
	}
	l->root_fd = open(l->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->root_fd < 0) {
		r = -errno;
		goto fail;
	}
	u.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(l->root_fd, "", &u.fh, &mnt, AT_EMPTY_PATH) < 0 ||
	    fstat(l->root_fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	r = loafre__lfs_fid_from_handle(u.fh.handle_type, u.fh.f_handle, u.fh.handle_bytes, &rf);
	if (r < 0)
		goto fail;
	r = loafre__lfs_state_init(l);
	if (r < 0)
		goto fail;
	l->rootobj = loafre__lfs_obj_add(l, &rf, &st);
	if (!l->rootobj) {
		r = -ENOMEM;
		goto fail;
	}
	r = loafre__lfs_db_open(l, state_path, flags & LOAFRE__LFS_READONLY);
	if (r < 0)
		goto fail;
	if (flags & LOAFRE__LFS_READONLY) {
		/* fid2path goes to the database; nothing is loaded. */
		loafre__lfs_obj_del(l, l->rootobj);
		l->rootobj = NULL;
		*ret_lfs = l;
		return 0;
	}
	r = loafre__lfs_db_load(l);
	if (r < 0)
		goto fail;
	if (r == 0) {
		/* First run over this tree: the next rescan records it silently. */
		struct loafre_journal_info info;
		l->snapshot = true;
		if (loafre_journal_info(j, &info) == 0)
			l->journal_index = info.last_index;
	} else {
		r = replay(l);
		if (r < 0)
			goto fail;
	}
	*ret_lfs = l;
	return 0;
fail:
	loafre__lfs_close(l);
	return r;
}

int loafre__lfs_sync(struct loafre__lfs *l)
{
	struct loafre_journal_info info;
	int r;

	if (l->flags & LOAFRE__LFS_READONLY)
		return -EROFS;
	r = loafre_journal_info(l->journal, &info);
	if (r < 0)
		return r;
	if (info.last_index > l->journal_index)
		l->journal_index = info.last_index;
	if (l->failed)
		return l->failed;
	if (!l->ndirty_objs && !l->nlink_changes)
		return 0;
	return loafre__lfs_db_sync(l);
}

void loafre__lfs_close(struct loafre__lfs *l)
{
	if (!l)
		return;
	notes_free(l);
	dirfd_cache_clear(l);
	free(l->note_entries_h);
	free(l->note_objs_h);
	free(l->note_dirs);
	free(l->recheck);
	free(l->parked);
	loafre__lfs_state_free(l);
	if (l->db)
		sqlite3_close(l->db);
	if (l->root_fd >= 0)
		close(l->root_fd);
	free(l->root);
	free(l);
}

int loafre__lfs_fid2path(struct loafre__lfs *l, const struct loafre_fid *fid, char *buf, size_t cap)
{
	char rel[PATH_MAX];
	int r, fd;

	if (l->rootobj) {
		struct lfs_obj *o = loafre__lfs_obj_get(l, fid);
		r = o ? loafre__lfs_obj_relpath(l, o, rel, sizeof(rel)) : -ENOENT;
	} else {
		r = loafre__lfs_db_relpath(l, fid, rel, sizeof(rel));
	}
	if (r < 0)
		return r;
	/* Verify against the live tree. */
	fd = openat(l->root_fd, rel[0] ? rel : ".", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	{
		union {
			struct file_handle fh;
			char b[sizeof(struct file_handle) + MAX_HANDLE_SZ];
		} u;
		struct loafre_fid got;
		int mnt;

		u.fh.handle_bytes = MAX_HANDLE_SZ;
		r = name_to_handle_at(fd, "", &u.fh, &mnt, AT_EMPTY_PATH) < 0 ? -errno : 0;
		close(fd);
		if (r < 0)
			return r;
		if (loafre__lfs_fid_from_handle(u.fh.handle_type, u.fh.f_handle, u.fh.handle_bytes,
						&got) < 0 ||
		    !loafre_fid_equal(&got, fid))
			return -ENOENT;
	}
	if ((size_t)snprintf(buf, cap, "%s%s%s", l->root, rel[0] ? "/" : "", rel) >= cap)
		return -ENAMETOOLONG;
	return 0;
}

int loafre__lfs_path2fid(struct loafre__lfs *l, const char *path, struct loafre_fid *ret_fid)
{
	union {
		struct file_handle fh;
		char b[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	char dir[PATH_MAX], *real = NULL, *slash;
	const char *base;
	size_t rl = strlen(l->root);
	int mnt, r;

	/* Like lfs path2fid, a final symlink is itself (never followed):
	 * resolve the directory part only. */
	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
		dir[strlen(dir) - 1] = '\0';
	slash = strrchr(dir, '/');
	if (slash) {
		base = slash + 1;
		*slash = '\0';
		real = realpath(dir[0] ? dir : "/", NULL);
	} else {
		base = dir;
		real = realpath(".", NULL);
	}
	if (!real)
		return -errno;
	if (strncmp(real, l->root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
		/* the root itself, named by its own path */
		bool is_root = false;
		char *full = realpath(path, NULL);
		if (full) {
			is_root = strcmp(full, l->root) == 0;
			free(full);
		}
		if (!is_root) {
			free(real);
			return -EXDEV;
		}
	}
	u.fh.handle_bytes = MAX_HANDLE_SZ;
	{
		int dfd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			r = -errno;
			free(real);
			return r;
		}
		r = name_to_handle_at(dfd, (base[0] && strcmp(base, ".") != 0) ? base : ".", &u.fh,
				      &mnt, 0) < 0 ? -errno : 0;
		close(dfd);
	}
	free(real);
	if (r < 0)
		return r;
	return loafre__lfs_fid_from_handle(u.fh.handle_type, u.fh.f_handle, u.fh.handle_bytes, ret_fid);
}
