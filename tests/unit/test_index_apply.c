/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_index_apply.c — lib/index_apply.c on real temp trees and a real
 * SQLite store. Records are built by hand, with the FIDs of the real
 * objects, the way Lustre (and loafred's emulated MDT) writes them for the
 * operation just made.
 *
 *   - a table of cases, one per record type and situation: each prepares a
 *     tree, scans it, makes operations and their records, applies them,
 *     checks what the case is about, and finally checks that the store
 *     equals a fresh scan of the tree (every entry, link and rollup);
 *   - a property test: random operations on a real tree, their records
 *     applied in random batches (sometimes twice), the store compared with
 *     a fresh scan at checkpoints and at the end;
 *   - the no-fetch mode (attributes from the records or a synth function).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "index_apply.h"
#include "index_fetch.h"
#include "index_scan.h"
#include "index_store.h"
#include "localfs_internal.h"

#define MDT "t-MDT0000"
#define MAXREC 4096

struct ctx {
	char base[64];     /* temp dir */
	char tree[128];    /* the filesystem */
	char db[128];      /* the store under test */
	char db2[128];     /* fresh scans to compare with */
	int rootfd;        /* the tree */
	struct loafre__idx *x;
	struct loafre__fetch *f;
	struct loafre__apply *a;
	uint64_t index;    /* last record index made */
	/* records not yet applied, with their names */
	struct loafre_rec r[MAXREC];
	char names[MAXREC][2][LOAFRE_NAME_MAX + 1];
	size_t n;
	unsigned seed;
	bool split_moves;  /* do_rename records a move as remove + create (below) */
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* ---- tree helpers ------------------------------------------------------------ */

static void P(const struct ctx *c, char *buf, const char *rel)
{
	assert_true(strlen(rel) < 3900);
	snprintf(buf, PATH_MAX, "%s%s%.3900s", c->tree, rel[0] ? "/" : "", rel);
}

static void fid_abs(const char *path, struct loafre_fid *ret)
{
	union {
		struct file_handle fh;
		char b[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	int mnt;

	u.fh.handle_bytes = MAX_HANDLE_SZ;
	assert_int_equal(name_to_handle_at(AT_FDCWD, path, &u.fh, &mnt, 0), 0);
	assert_int_equal(loafre__lfs_fid_from_handle(u.fh.handle_type, u.fh.f_handle,
						     u.fh.handle_bytes, ret), 0);
}

/* FID of a path relative to the tree ("" = the root). */
static struct loafre_fid F(const struct ctx *c, const char *rel)
{
	union {
		struct file_handle fh;
		char b[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	struct loafre_fid fid;
	int mnt;

	u.fh.handle_bytes = MAX_HANDLE_SZ;
	assert_int_equal(name_to_handle_at(c->rootfd, rel, &u.fh, &mnt, rel[0] ? 0 : AT_EMPTY_PATH), 0);
	assert_int_equal(loafre__lfs_fid_from_handle(u.fh.handle_type, u.fh.f_handle,
						     u.fh.handle_bytes, &fid), 0);
	return fid;
}

/* Parent FID and base name of rel. */
static struct loafre_fid parent_of(const struct ctx *c, const char *rel, const char **base)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(rel, '/');

	if (!slash) {
		*base = rel;
		return F(c, "");
	}
	memcpy(dir, rel, (size_t)(slash - rel));
	dir[slash - rel] = '\0';
	*base = slash + 1;
	return F(c, dir);
}

static void write_file(const struct ctx *c, const char *rel, size_t size)
{
	char p[PATH_MAX], buf[512];
	int fd;

	P(c, p, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	memset(buf, 'z', sizeof(buf));
	while (size) {
		size_t k = size < sizeof(buf) ? size : sizeof(buf);
		assert_int_equal(write(fd, buf, k), (ssize_t)k);
		size -= k;
	}
	close(fd);
}

static void mkdir_rel(const struct ctx *c, const char *rel)
{
	char p[PATH_MAX];

	P(c, p, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

/* ---- records ------------------------------------------------------------------- */

static struct loafre_rec *rec(struct ctx *c, uint32_t type, uint16_t flags,
			      const struct loafre_fid *tfid, const struct loafre_fid *pfid,
			      const char *name)
{
	struct loafre_rec *r;

	assert_true(c->n < MAXREC);
	r = &c->r[c->n];
	memset(r, 0, sizeof(*r));
	r->index = ++c->index;
	r->type = type;
	r->flags = flags;
	r->time = loafre_cl_time(1700000000u + (uint64_t)c->index, 0);
	if (tfid)
		r->tfid = *tfid;
	if (pfid)
		r->pfid = *pfid;
	if (name) {
		snprintf(c->names[c->n][0], sizeof(c->names[0][0]), "%s", name);
		r->name = c->names[c->n][0];
		r->namelen = (uint16_t)strlen(name);
	}
	c->n++;
	return r;
}

/* A record for the object now at rel, created (CREAT/MKDIR/...) there. */
static void rec_made(struct ctx *c, uint32_t type, const char *rel)
{
	const char *base;
	struct loafre_fid p = parent_of(c, rel, &base), t = F(c, rel);

	rec(c, type, 0, &t, &p, base);
}

/* A record about the object at rel (CLOSE, SATTR, ...). */
static void rec_obj(struct ctx *c, uint32_t type, const char *rel)
{
	struct loafre_fid t = F(c, rel);

	rec(c, type, 0, &t, NULL, NULL);
}

/* Unlinks rel (file or empty dir) and records it. */
static void do_remove(struct ctx *c, const char *rel)
{
	char p[PATH_MAX];
	const char *base;
	struct loafre_fid pf = parent_of(c, rel, &base), t = F(c, rel);
	struct stat st;

	P(c, p, rel);
	assert_int_equal(lstat(p, &st), 0);
	if (S_ISDIR(st.st_mode)) {
		assert_int_equal(rmdir(p), 0);
		rec(c, LOAFRE_CL_RMDIR, LOAFRE_CLF_UNLINK_LAST, &t, &pf, base);
	} else {
		assert_int_equal(unlink(p), 0);
		rec(c, LOAFRE_CL_UNLINK, st.st_nlink == 1 ? LOAFRE_CLF_UNLINK_LAST : 0, &t, &pf, base);
	}
}

/* Records of a subtree's removal (post-order; files: UNLNK, last link),
 * or (create) of its creation (pre-order), the way a source that sees a
 * move only as a name gone and a name appearing records it. -1: a file
 * with several links inside (not done that way). */
static int subtree_recs(struct ctx *c, const char *rel, bool create)
{
	char p[PATH_MAX], sub[PATH_MAX];
	const char *base;
	struct stat st;
	struct loafre_fid t, pf;
	DIR *d;
	struct dirent *de;
	int r = 0;

	P(c, p, rel);
	assert_int_equal(lstat(p, &st), 0);
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
		return -1;
	t = F(c, rel);
	pf = parent_of(c, rel, &base);
	if (!S_ISDIR(st.st_mode)) {
		if (create)
			rec(c, S_ISLNK(st.st_mode) ? LOAFRE_CL_SOFTLINK :
			    S_ISREG(st.st_mode) ? LOAFRE_CL_CREATE : LOAFRE_CL_MKNOD, 0, &t, &pf, base);
		else
			rec(c, LOAFRE_CL_UNLINK, LOAFRE_CLF_UNLINK_LAST, &t, &pf, base);
		return 0;
	}
	if (create)
		rec(c, LOAFRE_CL_MKDIR, 0, &t, &pf, base);
	d = opendir(p);
	assert_non_null(d);
	while (r == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
		r = subtree_recs(c, sub, create);
	}
	closedir(d);
	if (!create)
		rec(c, LOAFRE_CL_RMDIR, LOAFRE_CLF_UNLINK_LAST, &t, &pf, base);
	return r;
}

/* Renames from → to (to may exist) and records it as Lustre does (with
 * c->split_moves, a move to a new name as remove + create). */
static void do_rename(struct ctx *c, const char *from, const char *to)
{
	char p[PATH_MAX], q[PATH_MAX];
	const char *sbase, *tbase;
	struct loafre_fid spf = parent_of(c, from, &sbase), s = F(c, from), tpf, t = { 0, 0, 0 };
	struct loafre_rec *r;
	struct stat st;
	bool last = false;

	P(c, p, from);
	P(c, q, to);
	if (c->split_moves && lstat(q, &st) < 0) {
		size_t n0 = c->n;

		if (subtree_recs(c, from, false) == 0) {
			assert_int_equal(rename(p, q), 0);
			assert_int_equal(subtree_recs(c, to, true), 0);
			return;
		}
		c->n = n0;
	}
	if (lstat(q, &st) == 0) {
		t = F(c, to);
		last = S_ISDIR(st.st_mode) || st.st_nlink == 1;
	}
	assert_int_equal(rename(p, q), 0);
	tpf = parent_of(c, to, &tbase);
	r = rec(c, LOAFRE_CL_RENAME, LOAFRE_CLF_RENAME | (last ? LOAFRE_CLF_RENAME_LAST : 0), &t,
		&tpf, tbase);
	r->sfid = s;
	r->spfid = spf;
	snprintf(c->names[c->n - 1][1], sizeof(c->names[0][1]), "%s", sbase);
	r->sname = c->names[c->n - 1][1];
	r->snamelen = (uint16_t)strlen(sbase);
}

static void apply_pending(struct ctx *c)
{
	uint64_t pos;

	assert_int_equal(loafre__apply_batch(c->a, c->r, c->n, &pos), 0);
	if (c->n)
		assert_int_equal(pos, c->r[c->n - 1].index);
	c->n = 0;
}

/* ---- comparing the store with a fresh scan ----------------------------------------- */

struct kid {
	char name[LOAFRE_NAME_MAX + 1];
	struct loafre__idx_entry e;
	char link[PATH_MAX];
};

struct kids {
	struct kid *v;
	size_t n, cap;
};

static int kids_cb(void *ctx, const char *name, const struct loafre__idx_entry *e)
{
	struct kids *k = ctx;

	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 16;
		k->v = realloc(k->v, k->cap * sizeof(*k->v));
		assert_non_null(k->v);
	}
	snprintf(k->v[k->n].name, sizeof(k->v[0].name), "%s", name);
	k->v[k->n].e = *e;
	k->v[k->n].e.jobid = NULL;
	k->v[k->n].link[0] = '\0';
	if (e->a.symlink)
		snprintf(k->v[k->n].link, sizeof(k->v[0].link), "%s", e->a.symlink);
	k->v[k->n].e.a.symlink = NULL;
	k->n++;
	return 0;
}

static void same_attr(const char *what, const struct loafre__idx_attr *a,
		      const struct loafre__idx_attr *b)
{
	if (a->mode != b->mode || a->uid != b->uid || a->gid != b->gid || a->size != b->size ||
	    a->blocks != b->blocks || a->nlink != b->nlink || a->ino != b->ino ||
	    a->mtime_ns != b->mtime_ns || a->ctime_ns != b->ctime_ns)
		fail_msg("'%s': attributes differ (mode %o/%o size %ju/%ju nlink %ju/%ju "
			 "mtime %jd/%jd ctime %jd/%jd uid %u/%u)",
			 what, a->mode, b->mode, (uintmax_t)a->size, (uintmax_t)b->size,
			 (uintmax_t)a->nlink, (uintmax_t)b->nlink, (intmax_t)a->mtime_ns,
			 (intmax_t)b->mtime_ns, (intmax_t)a->ctime_ns, (intmax_t)b->ctime_ns, a->uid,
			 b->uid);
}

/* Every entry and link; rollups only at the root: a directory's rollup
 * counts an inode at its primary link (the oldest link the store knows),
 * which for a hard-linked file depends on history, not on the tree — the
 * stores' own consistency is loafre__idx_check's business. */
static size_t compare_dir(struct loafre__idx *a, struct loafre__idx *b,
			  const struct loafre_fid *dir, const char *path)
{
	struct kids ka = { 0 }, kb = { 0 };
	size_t count = 0;

	assert_int_equal(loafre__idx_children(a, dir, kids_cb, &ka), 0);
	assert_int_equal(loafre__idx_children(b, dir, kids_cb, &kb), 0);
	if (ka.n != kb.n) {
		for (size_t i = 0; i < ka.n; i++)
			fprintf(stderr, "  store: %s/%s\n", path, ka.v[i].name);
		for (size_t i = 0; i < kb.n; i++)
			fprintf(stderr, "  scan:  %s/%s\n", path, kb.v[i].name);
		fail_msg("'%s': %zu children in the store, %zu in a scan", path, ka.n, kb.n);
	}
	for (size_t i = 0; i < ka.n; i++) {
		char sub[PATH_MAX];

		snprintf(sub, sizeof(sub), "%s/%s", path, ka.v[i].name);
		if (strcmp(ka.v[i].name, kb.v[i].name) != 0)
			fail_msg("'%s': child '%s' vs '%s'", path, ka.v[i].name, kb.v[i].name);
		if (!loafre_fid_equal(&ka.v[i].e.fid, &kb.v[i].e.fid))
			fail_msg("'%s': FIDs differ", sub);
		same_attr(sub, &ka.v[i].e.a, &kb.v[i].e.a);
		assert_string_equal(ka.v[i].link, kb.v[i].link);
		count++;
		if (S_ISDIR(ka.v[i].e.a.mode))
			count += compare_dir(a, b, &ka.v[i].e.fid, sub);
	}
	free(ka.v);
	free(kb.v);
	return count;
}

/* The store equals a fresh scan of the tree. Returns the entries compared. */
static size_t compare_with_scan(struct ctx *c)
{
	struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = 2 };
	struct loafre__idx *y;
	struct loafre__idx_entry ea, eb;
	struct loafre_fid ra, rb;
	char err[256];
	size_t n;

	unlink(c->db2);
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_SQLITE, c->db2, "t", LOAFRE__IDX_CREATE, &y,
					  err, sizeof(err)), 0);
	assert_int_equal(loafre__scan(y, c->tree, &o, NULL), 0);
	assert_int_equal(loafre__idx_get_root(c->x, &ra), 0);
	assert_int_equal(loafre__idx_get_root(y, &rb), 0);
	assert_true(loafre_fid_equal(&ra, &rb));
	assert_int_equal(loafre__idx_lookup(c->x, &ra, &ea), 0);
	assert_int_equal(loafre__idx_lookup(y, &rb, &eb), 0);
	same_attr("(root)", &ea.a, &eb.a);
	n = compare_dir(c->x, y, &ra, "");
	{
		struct loafre__idx_sum sa, sb;
		assert_int_equal(loafre__idx_dirsum(c->x, &ra, &sa), 0);
		assert_int_equal(loafre__idx_dirsum(y, &rb, &sb), 0);
		if (sa.blocks != sb.blocks || sa.bytes != sb.bytes || sa.inodes != sb.inodes)
			fail_msg("root rollups differ: %ju/%ju/%ju vs %ju/%ju/%ju",
				 (uintmax_t)sa.blocks, (uintmax_t)sa.bytes, (uintmax_t)sa.inodes,
				 (uintmax_t)sb.blocks, (uintmax_t)sb.bytes, (uintmax_t)sb.inodes);
	}
	if (loafre__idx_check(c->x, err, sizeof(err)) != 0)
		fail_msg("store under test: %s", err);
	if (loafre__idx_check(y, err, sizeof(err)) != 0)
		fail_msg("scanned store: %s", err);
	{
		struct loafre__idx_owner_sum ta, tb;
		assert_int_equal(loafre__idx_totals(c->x, &ta), 0);
		assert_int_equal(loafre__idx_totals(y, &tb), 0);
		assert_int_equal(ta.inodes, tb.inodes);
		assert_int_equal(ta.bytes, tb.bytes);
	}
	loafre__idx_close(y);
	return n;
}

/* ---- fixture ------------------------------------------------------------------------ */

static int open_ctx(struct ctx *c, int fetch_flags, unsigned threads)
{
	char err[256];
	struct loafre__apply_opts ao = { .mdt = MDT, .mdt_index = 0 };

	if (loafre__idx_open(LOAFRE__IDX_SQLITE, c->db, "t", LOAFRE__IDX_CREATE, &c->x, err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "store: %s\n", err);
		return -1;
	}
	if (loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, threads, fetch_flags, &c->f) < 0)
		return -1;
	ao.fetch = c->f;
	return loafre__apply_open(c->x, &ao, &c->a);
}

static struct ctx *new_ctx(int fetch_flags, unsigned threads)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	strcpy(c->base, "/tmp/loafre-apply-XXXXXX");
	assert_non_null(mkdtemp(c->base));
	snprintf(c->tree, sizeof(c->tree), "%s/tree", c->base);
	snprintf(c->db, sizeof(c->db), "%s/index.db", c->base);
	snprintf(c->db2, sizeof(c->db2), "%s/scan.db", c->base);
	assert_int_equal(mkdir(c->tree, 0755), 0);
	c->rootfd = open(c->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(c->rootfd >= 0);
	assert_int_equal(open_ctx(c, fetch_flags, threads), 0);
	c->seed = 1;
	return c;
}

static void free_ctx(struct ctx *c)
{
	loafre__apply_close(c->a);
	loafre__fetch_close(c->f);
	loafre__idx_close(c->x);
	close(c->rootfd);
	nftw(c->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
}

/* Scans the tree into the store with the current index as position. */
static void scan(struct ctx *c)
{
	const char *mdts[] = { MDT };
	uint64_t pos[] = { c->index };
	struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = 2, .position_mdts = mdts,
				       .positions = pos, .n_positions = 1 };

	assert_int_equal(loafre__scan(c->x, c->tree, &o, NULL), 0);
}

static void expect_at(struct ctx *c, const char *rel, const struct loafre_fid *fid)
{
	struct loafre_fid got;

	if (loafre__idx_resolve(c->x, rel, &got) != 0)
		fail_msg("'%s' is not in the store", rel);
	assert_true(loafre_fid_equal(&got, fid));
}

static void expect_absent(struct ctx *c, const char *rel)
{
	struct loafre_fid got;

	assert_int_equal(loafre__idx_resolve(c->x, rel, &got), -ENOENT);
}

static void expect_no_entry(struct ctx *c, const struct loafre_fid *fid)
{
	struct loafre__idx_entry e;

	assert_int_equal(loafre__idx_lookup(c->x, fid, &e), -ENOENT);
}

static int count_cb(void *ctx, const struct loafre_fid *parent, const char *name)
{
	(void)parent;
	(void)name;
	(*(int *)ctx)++;
	return 0;
}

static int nlinks(struct ctx *c, const struct loafre_fid *fid)
{
	int n = 0;

	assert_int_equal(loafre__idx_links(c->x, fid, count_cb, &n), 0);
	return n;
}

/* ---- the table ------------------------------------------------------------------------- */

struct saved {
	struct loafre_fid f1, f2; /* FIDs a case keeps between act and check */
};

static void act_creat(struct ctx *c, struct saved *s)
{
	write_file(c, "f", 100);
	rec_made(c, LOAFRE_CL_CREATE, "f");
	rec_obj(c, LOAFRE_CL_CLOSE, "f");
	s->f1 = F(c, "f");
}
static void check_creat(struct ctx *c, struct saved *s)
{
	struct loafre__idx_entry e;

	expect_at(c, "f", &s->f1);
	assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
	assert_int_equal(e.a.size, 100);
	assert_true(S_ISREG(e.a.mode));
}

static void act_mkdir_then_inside(struct ctx *c, struct saved *s)
{
	mkdir_rel(c, "d");
	rec_made(c, LOAFRE_CL_MKDIR, "d");
	mkdir_rel(c, "d/e");
	rec_made(c, LOAFRE_CL_MKDIR, "d/e");
	write_file(c, "d/e/g", 3);
	rec_made(c, LOAFRE_CL_CREATE, "d/e/g");
	s->f1 = F(c, "d/e/g");
}
static void check_mkdir_then_inside(struct ctx *c, struct saved *s)
{
	struct loafre__idx_sum sum;

	expect_at(c, "d/e/g", &s->f1);
	assert_int_equal(loafre__idx_dirsum(c->x, loafre__fetch_root_fid(c->f), &sum), 0);
	assert_int_equal(sum.inodes, 4);
}

static void act_slink(struct ctx *c, struct saved *s)
{
	char p[PATH_MAX];

	P(c, p, "s");
	assert_int_equal(symlink("some/where", p), 0);
	rec_made(c, LOAFRE_CL_SOFTLINK, "s");
	s->f1 = F(c, "s");
}
static void check_slink(struct ctx *c, struct saved *s)
{
	struct loafre__idx_entry e;

	assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
	assert_true(S_ISLNK(e.a.mode));
	assert_string_equal(e.a.symlink, "some/where");
}

static void act_mknod(struct ctx *c, struct saved *s)
{
	char p[PATH_MAX];

	P(c, p, "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	rec_made(c, LOAFRE_CL_MKNOD, "fifo");
	s->f1 = F(c, "fifo");
}
static void check_mknod(struct ctx *c, struct saved *s)
{
	struct loafre__idx_entry e;

	assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
	assert_true(S_ISFIFO(e.a.mode));
}

static void prep_file_a(struct ctx *c)
{
	write_file(c, "a", 1000);
}
static void prep_a_and_dir(struct ctx *c)
{
	write_file(c, "a", 1000);
	mkdir_rel(c, "d");
}
static void prep_a_and_hardlink(struct ctx *c)
{
	char p[PATH_MAX], q[PATH_MAX];

	write_file(c, "a", 1000);
	mkdir_rel(c, "d");
	P(c, p, "a");
	P(c, q, "d/h");
	assert_int_equal(link(p, q), 0);
}

static void act_hlink(struct ctx *c, struct saved *s)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct loafre_fid t = F(c, "a"), d = F(c, "d");

	P(c, p, "a");
	P(c, q, "d/h");
	assert_int_equal(link(p, q), 0);
	rec(c, LOAFRE_CL_HARDLINK, 0, &t, &d, "h");
	s->f1 = t;
}
static void check_hlink(struct ctx *c, struct saved *s)
{
	struct loafre__idx_entry e;

	expect_at(c, "a", &s->f1);
	expect_at(c, "d/h", &s->f1);
	assert_int_equal(nlinks(c, &s->f1), 2);
	assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
	assert_int_equal(e.a.nlink, 2);
}

static void act_unlink_not_last(struct ctx *c, struct saved *s)
{
	s->f1 = F(c, "a");
	do_remove(c, "d/h");
	assert_int_equal(c->r[c->n - 1].flags & LOAFRE_CLF_UNLINK_LAST, 0);
}
static void check_unlink_not_last(struct ctx *c, struct saved *s)
{
	struct loafre__idx_entry e;

	expect_absent(c, "d/h");
	expect_at(c, "a", &s->f1);
	assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
	assert_int_equal(e.a.nlink, 1);
}

static void act_unlink_last(struct ctx *c, struct saved *s)
{
	s->f1 = F(c, "a");
	do_remove(c, "a");
}
static void check_unlink_last(struct ctx *c, struct saved *s)
{
	expect_absent(c, "a");
	expect_no_entry(c, &s->f1);
}

static void act_rmdir(struct ctx *c, struct saved *s)
{
	s->f1 = F(c, "d");
	do_remove(c, "d");
}
static void check_rmdir(struct ctx *c, struct saved *s)
{
	expect_no_entry(c, &s->f1);
}

static void act_rename_file(struct ctx *c, struct saved *s)
{
	s->f1 = F(c, "a");
	do_rename(c, "a", "d/b");
}
static void check_rename_file(struct ctx *c, struct saved *s)
{
	expect_absent(c, "a");
	expect_at(c, "d/b", &s->f1);
	assert_int_equal(nlinks(c, &s->f1), 1);
}

static void act_rename_over_last(struct ctx *c, struct saved *s)
{
	write_file(c, "c", 7);
	rec_made(c, LOAFRE_CL_CREATE, "c");
	s->f1 = F(c, "a");
	s->f2 = F(c, "c");
	do_rename(c, "c", "a");
	assert_true(c->r[c->n - 1].flags & LOAFRE_CLF_RENAME_LAST);
}
static void check_rename_over_last(struct ctx *c, struct saved *s)
{
	expect_no_entry(c, &s->f1);
	expect_at(c, "a", &s->f2);
	expect_absent(c, "c");
}

static void act_rename_over_not_last(struct ctx *c, struct saved *s)
{
	write_file(c, "c", 7);
	rec_made(c, LOAFRE_CL_CREATE, "c");
	s->f1 = F(c, "a");
	s->f2 = F(c, "c");
	do_rename(c, "c", "a");
	assert_false(c->r[c->n - 1].flags & LOAFRE_CLF_RENAME_LAST);
}
static void check_rename_over_not_last(struct ctx *c, struct saved *s)
{
	struct loafre__idx_entry e;

	expect_at(c, "a", &s->f2);
	expect_at(c, "d/h", &s->f1);
	assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
	assert_int_equal(e.a.nlink, 1);
}

static void prep_deep(struct ctx *c)
{
	mkdir_rel(c, "d");
	mkdir_rel(c, "d/e");
	mkdir_rel(c, "d/e/f");
	write_file(c, "d/e/f/g", 4096);
	mkdir_rel(c, "o");
}

static void act_rename_dir(struct ctx *c, struct saved *s)
{
	s->f1 = F(c, "d/e/f/g");
	do_rename(c, "d", "o/x");
}
static void check_rename_dir(struct ctx *c, struct saved *s)
{
	struct loafre__idx_sum sum;

	expect_at(c, "o/x/e/f/g", &s->f1);
	expect_absent(c, "d");
	assert_int_equal(loafre__idx_dirsum(c->x, loafre__fetch_root_fid(c->f), &sum), 0);
	assert_int_equal(sum.inodes, 6);
}

static void act_attrs(struct ctx *c, struct saved *s)
{
	char p[PATH_MAX];
	struct timeval tv[2] = { { 1000000000, 0 }, { 1234567890, 0 } };

	P(c, p, "a");
	assert_int_equal(chmod(p, 0600), 0);
	rec_obj(c, LOAFRE_CL_SETATTR, "a");
	assert_int_equal(chown(p, 4321, 99), 0);
	rec_obj(c, LOAFRE_CL_SETATTR, "a");
	assert_int_equal(truncate(p, 5000), 0);
	rec_obj(c, LOAFRE_CL_TRUNC, "a");
	assert_int_equal(utimes(p, tv), 0);
	rec_obj(c, LOAFRE_CL_MTIME, "a");
	s->f1 = F(c, "a");
}
static void check_attrs(struct ctx *c, struct saved *s)
{
	struct loafre__idx_entry e;

	assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
	assert_int_equal(e.a.mode, S_IFREG | 0600);
	assert_int_equal(e.a.uid, 4321);
	assert_int_equal(e.a.gid, 99);
	assert_int_equal(e.a.size, 5000);
	assert_int_equal(e.a.mtime_ns, 1234567890ll * 1000000000);
}

static void act_jobid(struct ctx *c, struct saved *s)
{
	struct loafre_rec *r;

	write_file(c, "f", 1);
	rec_made(c, LOAFRE_CL_CREATE, "f");
	r = &c->r[c->n - 1];
	r->flags |= LOAFRE_CLF_JOBID;
	strcpy(r->jobid, "dd.1234");
	rec_obj(c, LOAFRE_CL_CLOSE, "f");
	r = &c->r[c->n - 1];
	r->flags |= LOAFRE_CLF_JOBID;
	strcpy(r->jobid, "cp.7");
	s->f1 = F(c, "f");
}
static void check_jobid(struct ctx *c, struct saved *s)
{
	struct loafre__idx_entry e;

	assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
	assert_non_null(e.jobid);
	assert_string_equal(e.jobid, "cp.7");
}

/* Created and removed before the batch is applied: nothing stays. */
static void act_gone(struct ctx *c, struct saved *s)
{
	write_file(c, "f", 1);
	rec_made(c, LOAFRE_CL_CREATE, "f");
	s->f1 = F(c, "f");
	mkdir_rel(c, "t");
	rec_made(c, LOAFRE_CL_MKDIR, "t");
	s->f2 = F(c, "t");
	/* the CREAT alone first: its object is gone already */
	{
		char p[PATH_MAX];
		P(c, p, "f");
		assert_int_equal(unlink(p), 0);
		P(c, p, "t");
		assert_int_equal(rmdir(p), 0);
	}
	apply_pending(c);
	{
		struct loafre__apply_stats st;
		loafre__apply_get_stats(c->a, &st);
		assert_true(st.gone >= 2);
	}
	expect_no_entry(c, &s->f1);
	expect_no_entry(c, &s->f2);
	/* then its UNLNK / RMDIR */
	{
		struct loafre_fid root = F(c, "");
		rec(c, LOAFRE_CL_UNLINK, LOAFRE_CLF_UNLINK_LAST, &s->f1, &root, "f");
		rec(c, LOAFRE_CL_RMDIR, LOAFRE_CLF_UNLINK_LAST, &s->f2, &root, "t");
	}
}
static void check_gone(struct ctx *c, struct saved *s)
{
	expect_absent(c, "f");
	expect_no_entry(c, &s->f1);
	expect_absent(c, "t");
}

/* A directory made while nothing recorded it (before the scan's position,
 * missed): the first record below it brings the chain in. */
static void act_unknown_parent(struct ctx *c, struct saved *s)
{
	mkdir_rel(c, "u");
	mkdir_rel(c, "u/v");
	mkdir_rel(c, "u/v/w");
	write_file(c, "u/v/w/f", 12);
	rec_made(c, LOAFRE_CL_CREATE, "u/v/w/f");
	s->f1 = F(c, "u/v/w/f");
}
static void check_unknown_parent(struct ctx *c, struct saved *s)
{
	struct loafre__apply_stats st;

	expect_at(c, "u/v/w/f", &s->f1);
	loafre__apply_get_stats(c->a, &st);
	assert_int_equal(st.resolved, 3);
	assert_int_equal(st.orphaned, 0);
}

/* A parent outside the tree: the link is skipped and counted. */
static void act_outside_parent(struct ctx *c, struct saved *s)
{
	char p[PATH_MAX];
	struct loafre_fid pf, t;

	snprintf(p, sizeof(p), "%s/outside", c->base);
	assert_int_equal(mkdir(p, 0755), 0);
	fid_abs(p, &pf);
	snprintf(p, sizeof(p), "%s/outside/f", c->base);
	assert_int_equal(close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
	fid_abs(p, &t);
	rec(c, LOAFRE_CL_CREATE, 0, &t, &pf, "f");
	s->f1 = t;
}
static void check_outside_parent(struct ctx *c, struct saved *s)
{
	struct loafre__apply_stats st;

	expect_no_entry(c, &s->f1);
	loafre__apply_get_stats(c->a, &st);
	assert_int_equal(st.orphaned, 1);
}

/* MARK advances the position; a batch delivered again changes nothing. */
static void act_mark_and_duplicates(struct ctx *c, struct saved *s)
{
	uint64_t pos;

	write_file(c, "f", 5);
	rec_made(c, LOAFRE_CL_CREATE, "f");
	rec(c, LOAFRE_CL_MARK, 0, NULL, NULL, "mdd_obj");
	s->f1 = F(c, "f");
	assert_int_equal(loafre__apply_batch(c->a, c->r, c->n, &pos), 0);
	assert_int_equal(pos, c->index);
	/* the same records again, and an older one */
	write_file(c, "f", 50);
	assert_int_equal(loafre__apply_batch(c->a, c->r, c->n, &pos), 0);
	assert_int_equal(pos, c->index);
	{
		struct loafre__apply_stats st;
		struct loafre__idx_entry e;
		loafre__apply_get_stats(c->a, &st);
		assert_int_equal(st.skipped, 2);
		assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
		assert_int_equal(e.a.size, 5); /* not re-applied */
	}
	c->n = 0;
	rec_obj(c, LOAFRE_CL_CLOSE, "f");
}
static void check_mark_and_duplicates(struct ctx *c, struct saved *s)
{
	struct loafre__idx_entry e;
	uint64_t pos;

	assert_int_equal(loafre__idx_get_position(c->x, MDT, &pos), 0);
	assert_int_equal(pos, c->index);
	assert_int_equal(loafre__idx_lookup(c->x, &s->f1, &e), 0);
	assert_int_equal(e.a.size, 50);
}

/* Lustre writes a CLOSE after the UNLNK of a file that was still open. */
static void act_close_after_unlink(struct ctx *c, struct saved *s)
{
	char p[PATH_MAX];
	int fd;

	P(c, p, "a");
	fd = open(p, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	s->f1 = F(c, "a");
	do_remove(c, "a");
	assert_int_equal(write(fd, "more", 4), 4);
	rec(c, LOAFRE_CL_CLOSE, 0, &s->f1, NULL, NULL);
	apply_pending(c);
	close(fd);
}
static void check_close_after_unlink(struct ctx *c, struct saved *s)
{
	expect_no_entry(c, &s->f1);
}

/* A record replayed over a scan that already shows later changes. */
static void act_replay_over_scan(struct ctx *c, struct saved *s)
{
	/* done after the position, before the scan: */
	mkdir_rel(c, "d");
	rec_made(c, LOAFRE_CL_MKDIR, "d");
	write_file(c, "d/f", 9);
	rec_made(c, LOAFRE_CL_CREATE, "d/f");
	s->f1 = F(c, "d/f");
	do_rename(c, "d/f", "g");
	do_rename(c, "d", "e");
	write_file(c, "d", 1); /* the name reused by another object */
	rec_made(c, LOAFRE_CL_CREATE, "d");
	s->f2 = F(c, "d");
	/* the scan sees the final tree; its position is the one before */
	{
		const char *mdts[] = { MDT };
		uint64_t pos[] = { c->r[0].index - 1 };
		struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = 2,
					       .position_mdts = mdts, .positions = pos,
					       .n_positions = 1 };
		assert_int_equal(loafre__scan(c->x, c->tree, &o, NULL), 0);
	}
}
static void check_replay_over_scan(struct ctx *c, struct saved *s)
{
	expect_at(c, "g", &s->f1);
	expect_at(c, "d", &s->f2);
}

/* A replayed UNLNK whose name now belongs to another object leaves it. */
static void act_replay_unlink_reused_name(struct ctx *c, struct saved *s)
{
	uint64_t pos;

	write_file(c, "f", 3);
	rec_made(c, LOAFRE_CL_CREATE, "f");
	do_remove(c, "f");
	write_file(c, "f", 4);
	rec_made(c, LOAFRE_CL_CREATE, "f");
	s->f2 = F(c, "f");
	{
		const char *mdts[] = { MDT };
		uint64_t p0[] = { c->r[0].index - 1 };
		struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = 2,
					       .position_mdts = mdts, .positions = p0,
					       .n_positions = 1 };
		assert_int_equal(loafre__scan(c->x, c->tree, &o, NULL), 0);
	}
	/* the first CREAT and its UNLNK, alone */
	assert_int_equal(loafre__apply_batch(c->a, c->r, 2, &pos), 0);
	expect_at(c, "f", &s->f2);
	memmove(c->r, c->r + 2, sizeof(c->r[0]));
	memcpy(c->names[0], c->names[2], sizeof(c->names[0]));
	c->r[0].name = c->names[0][0];
	c->n = 1;
}
static void check_replay_unlink_reused_name(struct ctx *c, struct saved *s)
{
	expect_at(c, "f", &s->f2);
}

/* A file renamed over one of two links, then removed, in one batch: the
 * moved file is gone when the batch is applied, yet the target lost that
 * link. */
static void act_rename_over_then_gone(struct ctx *c, struct saved *s)
{
	write_file(c, "c", 7);
	rec_made(c, LOAFRE_CL_CREATE, "c");
	s->f1 = F(c, "a");
	s->f2 = F(c, "c");
	do_rename(c, "c", "a");
	assert_false(c->r[c->n - 1].flags & LOAFRE_CLF_RENAME_LAST);
	do_remove(c, "a");
}
static void check_rename_over_then_gone(struct ctx *c, struct saved *s)
{
	expect_absent(c, "a");
	expect_at(c, "d/h", &s->f1);
	expect_no_entry(c, &s->f2);
	assert_int_equal(nlinks(c, &s->f1), 1);
}

static void prep_recreate(struct ctx *c)
{
	write_file(c, "a", 1000);
	mkdir_rel(c, "d");
	write_file(c, "d/g", 5000);
}

/* An object deleted and linked again by FID within one batch (a local
 * source that saw moves only as remove + create, at a restart: the same
 * inode, so the same FID, under a new name): it stays, at the new place,
 * with what the records put under it. */
static void act_recreated_in_batch(struct ctx *c, struct saved *s)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct loafre_fid root = F(c, ""), a = F(c, "a"), d = F(c, "d"), g = F(c, "d/g"), e;

	P(c, p, "a");
	P(c, q, "b");
	assert_int_equal(rename(p, q), 0);
	P(c, p, "d");
	P(c, q, "e");
	assert_int_equal(rename(p, q), 0);
	rec(c, LOAFRE_CL_UNLINK, LOAFRE_CLF_UNLINK_LAST, &a, &root, "a");
	rec(c, LOAFRE_CL_CREATE, 0, &a, &root, "b");
	rec(c, LOAFRE_CL_UNLINK, LOAFRE_CLF_UNLINK_LAST, &g, &d, "g");
	rec(c, LOAFRE_CL_RMDIR, LOAFRE_CLF_UNLINK_LAST, &d, &root, "d");
	e = F(c, "e");
	assert_true(loafre_fid_equal(&e, &d));
	rec(c, LOAFRE_CL_MKDIR, 0, &d, &root, "e");
	rec(c, LOAFRE_CL_CREATE, 0, &g, &d, "g");
	rec_obj(c, LOAFRE_CL_CLOSE, "e/g");
	s->f1 = a;
	s->f2 = g;
}
static void check_recreated_in_batch(struct ctx *c, struct saved *s)
{
	struct loafre__idx_sum sum;
	struct loafre_fid e = F(c, "e");

	expect_at(c, "b", &s->f1);
	expect_at(c, "e/g", &s->f2);
	expect_absent(c, "a");
	expect_absent(c, "d");
	assert_int_equal(nlinks(c, &s->f1), 1);
	assert_int_equal(loafre__idx_dirsum(c->x, &e, &sum), 0);
	assert_int_equal(sum.inodes, 2);
	assert_int_equal(loafre__idx_dirsum(c->x, loafre__fetch_root_fid(c->f), &sum), 0);
	assert_int_equal(sum.inodes, 4);
}

struct apply_case {
	const char *name;
	void (*prepare)(struct ctx *c);            /* tree before the scan, or NULL */
	void (*act)(struct ctx *c, struct saved *s); /* operations and their records */
	void (*check)(struct ctx *c, struct saved *s);
};

static const struct apply_case cases[] = {
	{ "CREAT + CLOSE", NULL, act_creat, check_creat },
	{ "MKDIR, then entries inside, one batch", NULL, act_mkdir_then_inside, check_mkdir_then_inside },
	{ "SLINK", NULL, act_slink, check_slink },
	{ "MKNOD", NULL, act_mknod, check_mknod },
	{ "HLINK", prep_a_and_dir, act_hlink, check_hlink },
	{ "UNLNK of one of two links", prep_a_and_hardlink, act_unlink_not_last, check_unlink_not_last },
	{ "UNLNK of the last link", prep_file_a, act_unlink_last, check_unlink_last },
	{ "RMDIR", prep_a_and_dir, act_rmdir, check_rmdir },
	{ "RENME of a file", prep_a_and_dir, act_rename_file, check_rename_file },
	{ "RENME over a last link", prep_file_a, act_rename_over_last, check_rename_over_last },
	{ "RENME over one of two links", prep_a_and_hardlink, act_rename_over_not_last,
	  check_rename_over_not_last },
	{ "RENME of a directory moves its subtree", prep_deep, act_rename_dir, check_rename_dir },
	{ "SATTR TRUNC MTIME", prep_file_a, act_attrs, check_attrs },
	{ "jobid", NULL, act_jobid, check_jobid },
	{ "object gone before apply", NULL, act_gone, check_gone },
	{ "unknown parent resolved", NULL, act_unknown_parent, check_unknown_parent },
	{ "parent outside the tree", NULL, act_outside_parent, check_outside_parent },
	{ "MARK and duplicates", NULL, act_mark_and_duplicates, check_mark_and_duplicates },
	{ "CLOSE after the last UNLNK", prep_file_a, act_close_after_unlink, check_close_after_unlink },
	{ "replay over a newer scan", NULL, act_replay_over_scan, check_replay_over_scan },
	{ "replayed UNLNK of a reused name", NULL, act_replay_unlink_reused_name,
	  check_replay_unlink_reused_name },
	{ "deleted and re-created by FID in one batch", prep_recreate, act_recreated_in_batch,
	  check_recreated_in_batch },
	{ "RENME over one of two links, the moved file gone", prep_a_and_hardlink,
	  act_rename_over_then_gone, check_rename_over_then_gone },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctx *c = new_ctx(0, 2);
		struct saved s;

		memset(&s, 0, sizeof(s));
		print_message("case: %s\n", cases[i].name);
		if (cases[i].prepare)
			cases[i].prepare(c);
		c->index = 100;
		scan(c);
		cases[i].act(c, &s);
		apply_pending(c);
		cases[i].check(c, &s);
		compare_with_scan(c);
		free_ctx(c);
	}
}

/* ---- property test ---------------------------------------------------------------------- */

#define MAXPATHS 600

struct model {
	char *paths[MAXPATHS]; /* relative paths of every entry (not the root) */
	size_t n;
};

static void model_add(struct model *m, const char *rel)
{
	assert_true(m->n < MAXPATHS);
	m->paths[m->n++] = strdup(rel);
}

static void model_del(struct model *m, size_t i)
{
	free(m->paths[i]);
	m->paths[i] = m->paths[--m->n];
}

static long model_find(const struct model *m, const char *rel)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->paths[i], rel) == 0)
			return (long)i;
	return -1;
}

/* After rename(from, to): every path at or below `from` moves. */
static void model_move(struct model *m, const char *from, const char *to)
{
	size_t fl = strlen(from);
	long t = model_find(m, to);

	if (t >= 0)
		model_del(m, (size_t)t);
	for (size_t i = 0; i < m->n; i++) {
		char *p = m->paths[i];
		if (strncmp(p, from, fl) == 0 && (p[fl] == '\0' || p[fl] == '/')) {
			char buf[PATH_MAX];
			snprintf(buf, sizeof(buf), "%s%s", to, p + fl);
			free(p);
			m->paths[i] = strdup(buf);
		}
	}
}

static bool is_dir(struct ctx *c, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	P(c, p, rel);
	return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool dir_empty(struct ctx *c, const struct model *m, const char *rel)
{
	size_t l = strlen(rel);

	for (size_t i = 0; i < m->n; i++)
		if (strncmp(m->paths[i], rel, l) == 0 && m->paths[i][l] == '/')
			return false;
	return true;
}

/* A random directory ("" = the root). */
static const char *rand_dir(struct ctx *c, const struct model *m)
{
	for (int tries = 0; tries < 8 && m->n; tries++) {
		const char *p = m->paths[rand_r(&c->seed) % m->n];
		if (is_dir(c, p) && strlen(p) < 150)
			return p;
	}
	return "";
}

static void join(char *buf, const char *dir, const char *name)
{
	snprintf(buf, PATH_MAX, "%s%s%s", dir, dir[0] ? "/" : "", name);
}

static void random_op(struct ctx *c, struct model *m, unsigned *uniq)
{
	char rel[PATH_MAX], name[32], p[PATH_MAX], q[PATH_MAX];
	int op = rand_r(&c->seed) % 100;
	const char *dir = rand_dir(c, m);

	snprintf(name, sizeof(name), "n%u", (*uniq)++);
	join(rel, dir, name);
	if (m->n >= MAXPATHS - 4 && op < 45)
		op = 60; /* full: remove instead */
	if (op < 25) {
		write_file(c, rel, (size_t)(rand_r(&c->seed) % 20000));
		rec_made(c, LOAFRE_CL_CREATE, rel);
		rec_obj(c, LOAFRE_CL_CLOSE, rel);
		model_add(m, rel);
	} else if (op < 35) {
		mkdir_rel(c, rel);
		rec_made(c, LOAFRE_CL_MKDIR, rel);
		model_add(m, rel);
	} else if (op < 40) {
		P(c, p, rel);
		assert_int_equal(symlink(name, p), 0);
		rec_made(c, LOAFRE_CL_SOFTLINK, rel);
		model_add(m, rel);
	} else if (op < 45) {
		/* hard link to a random regular file */
		if (!m->n)
			return;
		const char *src = m->paths[rand_r(&c->seed) % m->n];
		struct stat st;
		P(c, p, src);
		if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
			return;
		P(c, q, rel);
		assert_int_equal(link(p, q), 0);
		{
			const char *base;
			struct loafre_fid t = F(c, src), pf = parent_of(c, rel, &base);
			rec(c, LOAFRE_CL_HARDLINK, 0, &t, &pf, base);
		}
		model_add(m, rel);
	} else if (op < 60) {
		/* modify a file: write, truncate, chmod, chown */
		if (!m->n)
			return;
		const char *t = m->paths[rand_r(&c->seed) % m->n];
		struct stat st;
		P(c, p, t);
		if (lstat(p, &st) < 0)
			return;
		if (S_ISREG(st.st_mode) && op < 50) {
			int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, "abcdef", 6), 6);
			close(fd);
			rec_obj(c, LOAFRE_CL_CLOSE, t);
		} else if (S_ISREG(st.st_mode) && op < 54) {
			assert_int_equal(truncate(p, rand_r(&c->seed) % 9000), 0);
			rec_obj(c, LOAFRE_CL_TRUNC, t);
		} else if (!S_ISLNK(st.st_mode)) {
			assert_int_equal(chmod(p, 0700 | (unsigned)(rand_r(&c->seed) % 0100)), 0);
			assert_int_equal(lchown(p, (uid_t)(rand_r(&c->seed) % 5), 0), 0);
			rec_obj(c, LOAFRE_CL_SETATTR, t);
		}
	} else if (op < 75) {
		/* remove a file, a symlink or an empty directory */
		if (!m->n)
			return;
		size_t i = (size_t)rand_r(&c->seed) % m->n;
		if (is_dir(c, m->paths[i]) && !dir_empty(c, m, m->paths[i]))
			return;
		do_remove(c, m->paths[i]);
		model_del(m, i);
	} else {
		/* rename something somewhere (maybe over an existing name) */
		if (!m->n)
			return;
		char from[PATH_MAX];
		snprintf(from, sizeof(from), "%s", m->paths[rand_r(&c->seed) % m->n]);
		bool fdir = is_dir(c, from);
		if (rand_r(&c->seed) % 3 == 0 && m->n > 1) {
			/* over an existing entry of a compatible kind */
			const char *to = m->paths[rand_r(&c->seed) % m->n];
			snprintf(rel, sizeof(rel), "%s", to);
			if (strcmp(rel, from) == 0)
				return;
			if (fdir != is_dir(c, rel) || (fdir && !dir_empty(c, m, rel)))
				return;
			{
				/* two links of one file: rename(2) does nothing */
				struct stat s1, s2;
				P(c, p, from);
				P(c, q, rel);
				if (lstat(p, &s1) == 0 && lstat(q, &s2) == 0 && s1.st_ino == s2.st_ino)
					return;
			}
		}
		size_t fl = strlen(from);
		if (fdir && strncmp(rel, from, fl) == 0 && (rel[fl] == '/' || rel[fl] == '\0'))
			return; /* into itself */
		/* a target whose path runs through `from` */
		{
			size_t rl = strlen(rel);
			if (strncmp(from, rel, rl) == 0 && from[rl] == '/')
				return;
		}
		do_rename(c, from, rel);
		model_move(m, from, rel);
	}
}

static void property_run(unsigned seed, int fetch_flags, unsigned threads, int ops)
{
	struct ctx *c = new_ctx(fetch_flags, threads);
	struct model m = { .n = 0 };
	unsigned uniq = 0;
	int since_apply = 0, batch = 1;
	size_t prev_start = 0, prev_n = 0;
	struct loafre_rec *prev = calloc(MAXREC, sizeof(*prev));
	char (*prevnames)[2][LOAFRE_NAME_MAX + 1] = calloc(MAXREC, sizeof(*prevnames));

	assert_non_null(prev);
	assert_non_null(prevnames);
	c->seed = seed;
	/* an initial tree, scanned */
	for (int i = 0; i < 60; i++)
		random_op(c, &m, &uniq);
	c->n = 0;
	scan(c);
	(void)prev_start;
	for (int i = 0; i < ops; i++) {
		random_op(c, &m, &uniq);
		if (++since_apply >= batch) {
			/* keep a copy to deliver twice, sometimes */
			memcpy(prev, c->r, c->n * sizeof(*prev));
			memcpy(prevnames, c->names, c->n * sizeof(*prevnames));
			for (size_t k = 0; k < c->n; k++) {
				if (prev[k].name)
					prev[k].name = prevnames[k][0];
				if (prev[k].sname)
					prev[k].sname = prevnames[k][1];
			}
			prev_n = c->n;
			apply_pending(c);
			if (rand_r(&c->seed) % 4 == 0) {
				uint64_t pos;
				assert_int_equal(loafre__apply_batch(c->a, prev, prev_n, &pos), 0);
			}
			since_apply = 0;
			batch = 1 + rand_r(&c->seed) % 40;
		}
		if (i % 400 == 399) {
			apply_pending(c);
			compare_with_scan(c);
		}
	}
	apply_pending(c);
	size_t n = compare_with_scan(c);
	assert_int_equal(n, m.n);
	{
		struct loafre__apply_stats st;
		loafre__apply_get_stats(c->a, &st);
		assert_int_equal(st.orphaned, 0);
		assert_int_equal(st.errors, 0);
		print_message("seed %u: %ju records, %ju batches, %ju fetches, %ju gone, %ju skipped, "
			      "%ju conflicts, %zu entries\n",
			      seed, (uintmax_t)st.applied, (uintmax_t)st.batches, (uintmax_t)st.fetches,
			      (uintmax_t)st.gone, (uintmax_t)st.skipped, (uintmax_t)st.conflicts, n);
	}
	while (m.n)
		model_del(&m, 0);
	free(prev);
	free(prevnames);
	free_ctx(c);
}

static void test_property(void **state)
{
	(void)state;
	property_run(1, 0, 4, 1200);
	property_run(2, 0, 1, 1200);
	property_run(3, 0, 8, 1200);
}

/* The same through path hints (the fallback of FIDs without handles). */
static void test_property_paths(void **state)
{
	(void)state;
	property_run(4, LOAFRE__FETCH_PREFER_PATHS, 4, 800);
}

/* Restarts and rescans (issue 5, the oracle's checkpoints): random
 * operations; now and then the handles are closed and opened again (a
 * loafred restart), and the tree is scanned over the older store with the
 * position of the first record not applied yet, those records then
 * applied over the newer scan in random batches (sometimes twice), by the
 * scanning handle or by a fresh one. After each round the store must equal
 * a fresh scan, its every rollup checked (loafre__idx_check). */
static void reopen(struct ctx *c)
{
	loafre__apply_close(c->a);
	loafre__fetch_close(c->f);
	loafre__idx_close(c->x);
	assert_int_equal(open_ctx(c, 0, 2), 0);
}

static void apply_split(struct ctx *c)
{
	size_t done = 0;

	while (done < c->n) {
		size_t k = 1 + (size_t)rand_r(&c->seed) % 30;
		uint64_t pos;

		if (k > c->n - done)
			k = c->n - done;
		assert_int_equal(loafre__apply_batch(c->a, c->r + done, k, &pos), 0);
		assert_int_equal(pos, c->r[done + k - 1].index);
		if (rand_r(&c->seed) % 4 == 0) /* delivered again */
			assert_int_equal(loafre__apply_batch(c->a, c->r + done, k, &pos), 0);
		done += k;
	}
	c->n = 0;
}

static void test_rescan_replay(void **state)
{
	(void)state;
	/* 126: a rename over one of two links, the file removed after */
	static const unsigned seeds[] = { 11, 12, 13, 126 };

	for (size_t si = 0; si < sizeof(seeds) / sizeof(seeds[0]); si++) {
		unsigned seed = seeds[si];
		struct ctx *c = new_ctx(0, 2);
		struct model m = { .n = 0 };
		unsigned uniq = 0;

		c->seed = seed;
		for (int i = 0; i < 80; i++)
			random_op(c, &m, &uniq);
		c->n = 0;
		scan(c);
		for (int round = 0; round < 6; round++) {
			/* live changes, applied as they come */
			for (int i = 0; i < 100; i++) {
				random_op(c, &m, &uniq);
				if (rand_r(&c->seed) % 10 == 0)
					apply_split(c);
			}
			apply_split(c);
			if (round % 2 == 0) {
				/* a restart over changes made while stopped: the
				 * source's rescan records, moves as remove +
				 * create, in one batch */
				reopen(c);
				c->split_moves = true;
				for (int i = 0; i < 100; i++) {
					random_op(c, &m, &uniq);
					if (c->n > MAXREC / 2)
						apply_pending(c);
				}
				c->split_moves = false;
				apply_pending(c);
				assert_int_equal(compare_with_scan(c), m.n);
			}
			/* changes not applied yet, then a scan of the newer tree
			 * at the position before them, then their records */
			for (int i = 0; i < 100; i++)
				random_op(c, &m, &uniq);
			{
				const char *mdts[] = { MDT };
				uint64_t pos[] = { c->n ? c->r[0].index - 1 : c->index };
				struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = 2,
							       .position_mdts = mdts,
							       .positions = pos, .n_positions = 1 };
				assert_int_equal(loafre__scan(c->x, c->tree, &o, NULL), 0);
			}
			if (round % 3 == 1)
				reopen(c);
			apply_split(c);
			assert_int_equal(compare_with_scan(c), m.n);
		}
		while (m.n)
			model_del(&m, 0);
		free_ctx(c);
	}
}

/* An empty store (never scanned): the root comes from the filesystem and
 * the records build the rest. */
static void test_without_scan(void **state)
{
	struct ctx *c = new_ctx(0, 2);
	struct loafre_fid root;

	(void)state;
	mkdir_rel(c, "a");
	rec_made(c, LOAFRE_CL_MKDIR, "a");
	mkdir_rel(c, "a/b");
	rec_made(c, LOAFRE_CL_MKDIR, "a/b");
	write_file(c, "a/b/f", 10);
	rec_made(c, LOAFRE_CL_CREATE, "a/b/f");
	assert_int_equal(loafre__idx_get_root(c->x, &root), -ENOENT);
	apply_pending(c);
	assert_int_equal(loafre__idx_get_root(c->x, &root), 0);
	{
		struct loafre_fid want = F(c, "");
		assert_true(loafre_fid_equal(&root, &want));
	}
	{
		struct loafre_fid want = F(c, "a/b/f");
		expect_at(c, "a/b/f", &want);
	}
	compare_with_scan(c);
	free_ctx(c);
}

/* ---- without a fetcher ------------------------------------------------------------------- */

static int synth_cb(void *ctx, const struct loafre_fid *fid, struct loafre__idx_attr *ret)
{
	unsigned *calls = ctx;

	(*calls)++;
	memset(ret, 0, sizeof(*ret));
	ret->mode = (fid->f_oid % 2) ? (S_IFREG | 0644) : (S_IFDIR | 0755);
	ret->size = fid->f_oid * 10u;
	ret->nlink = 1;
	return fid->f_oid == 99 ? -ENOENT : 0;
}

static void test_no_fetch(void **state)
{
	struct ctx *c = new_ctx(0, 1);
	struct loafre__apply_opts ao = { .mdt = MDT };
	struct loafre__apply *a;
	struct loafre_fid root = F(c, ""), d = { 0x200000400ull, 2, 0 }, f = { 0x200000400ull, 3, 0 },
			  g = { 0x200000400ull, 99, 0 };
	struct loafre__idx_entry e;
	struct loafre_rec *r;
	unsigned calls = 0;

	(void)state;
	scan(c);
	/* attributes implied by the records */
	assert_int_equal(loafre__apply_open(c->x, &ao, &a), 0);
	rec(c, LOAFRE_CL_MKDIR, 0, &d, &root, "d");
	r = rec(c, LOAFRE_CL_CREATE, LOAFRE_CLF_EXTRA_FLAGS, &f, &d, "f");
	r->extra_flags = LOAFRE_CLFE_UIDGID;
	r->uid = 77;
	r->gid = 78;
	rec(c, LOAFRE_CL_CLOSE, 0, &f, NULL, NULL);
	assert_int_equal(loafre__apply_batch(a, c->r, c->n, NULL), 0);
	c->n = 0;
	assert_int_equal(loafre__idx_lookup(c->x, &f, &e), 0);
	assert_int_equal(e.a.mode, S_IFREG | 0644);
	assert_int_equal(e.a.uid, 77);
	assert_int_equal(e.a.gid, 78);
	assert_int_equal(e.a.mtime_ns, (int64_t)(1700000000u + c->index - 1) * 1000000000);
	expect_at(c, "d/f", &f);
	loafre__apply_close(a);

	/* attributes from a synth function */
	ao.synth = synth_cb;
	ao.synth_ctx = &calls;
	assert_int_equal(loafre__apply_open(c->x, &ao, &a), 0);
	rec(c, LOAFRE_CL_CLOSE, 0, &f, NULL, NULL);
	rec(c, LOAFRE_CL_CREATE, 0, &g, &d, "g"); /* synth says gone */
	assert_int_equal(loafre__apply_batch(a, c->r, c->n, NULL), 0);
	c->n = 0;
	assert_int_equal(calls, 3); /* f, d (refreshed parent), g */
	assert_int_equal(loafre__idx_lookup(c->x, &f, &e), 0);
	assert_int_equal(e.a.size, 30);
	expect_no_entry(c, &g);
	loafre__apply_close(a);

	/* bad arguments */
	ao.mdt = NULL;
	assert_int_equal(loafre__apply_open(c->x, &ao, &a), -EINVAL);
	assert_int_equal(loafre__apply_batch(c->a, NULL, 3, NULL), -EINVAL);
	free_ctx(c);
}

static void sql_on(const char *db, const char *text)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* A batch whose database writes fail (a trigger on the entry table that
 * cannot run, here: the store's inserts of new entries, many per
 * statement) is not applied: loafre__apply_batch fails, the position stays
 * (its records are not acked), nothing of it is stored; the same batch
 * delivered again once the writes work is applied whole. */
static void test_failed_write_retried(void **state)
{
	struct ctx *c = new_ctx(0, 1);
	struct loafre__apply_opts ao = { .mdt = MDT };
	struct loafre__apply *a;
	struct loafre_fid root = F(c, ""), d = { 0x200000400ull, 2, 0 }, f[60];
	uint64_t pos0 = 0, pos = 0, got = 0;
	char name[16];

	(void)state;
	scan(c);
	assert_int_equal(loafre__idx_get_position(c->x, MDT, &pos0), 0);
	assert_int_equal(loafre__apply_open(c->x, &ao, &a), 0);
	rec(c, LOAFRE_CL_MKDIR, 0, &d, &root, "d");
	for (uint32_t i = 0; i < 60; i++) { /* over one INSERT's rows */
		f[i] = (struct loafre_fid){ 0x200000400ull, 10 + i, 0 };
		snprintf(name, sizeof(name), "f%u", i);
		rec(c, LOAFRE_CL_CREATE, 0, &f[i], &d, name);
	}
	sql_on(c->db, "CREATE TRIGGER boom AFTER INSERT ON entry BEGIN INSERT INTO nosuch VALUES(1); END");
	assert_true(loafre__apply_batch(a, c->r, c->n, &got) < 0);
	assert_int_equal(loafre__idx_get_position(c->x, MDT, &pos), 0);
	assert_int_equal(pos, pos0);
	expect_no_entry(c, &d);
	expect_no_entry(c, &f[0]);
	sql_on(c->db, "DROP TRIGGER boom");
	assert_int_equal(loafre__apply_batch(a, c->r, c->n, &got), 0);
	assert_int_equal(got, c->index);
	assert_int_equal(loafre__idx_get_position(c->x, MDT, &pos), 0);
	assert_int_equal(pos, c->index);
	expect_at(c, "d/f0", &f[0]);
	expect_at(c, "d/f59", &f[59]);
	c->n = 0;
	loafre__apply_close(a);
	free_ctx(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_property),
		cmocka_unit_test(test_property_paths),
		cmocka_unit_test(test_rescan_replay),
		cmocka_unit_test(test_without_scan),
		cmocka_unit_test(test_no_fetch),
		cmocka_unit_test(test_failed_write_retried),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
