/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_localfs.c — the local-filesystem engine on a real temp tree, driven
 * without a watcher: operations are made with system calls, the engine is
 * told where to look (notes) or asked to reconcile everything (rescan), and
 * the records it journals are checked one by one.
 */
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
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "localfs.h"
#include "loafre/journal.h"
#include "loafre/text.h"

struct ctx {
	char base[64];        /* temp dir */
	char tree[128];       /* the watched tree */
	char jdir[128];       /* journal */
	char db[128];         /* engine state */
	struct loafre_journal *j;
	struct loafre__lfs *l;
	uint64_t seen;        /* last index returned by next_records */
};

/* Records since the last call, as copies. */
struct recs {
	struct loafre_rec r[512];
	char names[512][2][256];
	size_t n;
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void path(struct ctx *c, char *buf, const char *rel)
{
	assert_true(strlen(c->tree) + strlen(rel) + 2 < PATH_MAX);
	strcpy(buf, c->tree);
	strcat(buf, "/");
	strcat(buf, rel);
}

static void cycle(struct ctx *c)
{
	assert_true(loafre__lfs_flush(c->l) >= 0);
	assert_true(loafre_journal_commit(c->j, NULL) >= 0);
	assert_int_equal(loafre__lfs_sync(c->l), 0);
}

static void rescan(struct ctx *c)
{
	assert_true(loafre__lfs_rescan(c->l) >= 0);
	assert_true(loafre_journal_commit(c->j, NULL) >= 0);
	assert_int_equal(loafre__lfs_sync(c->l), 0);
}

static void next_records(struct ctx *c, struct recs *out)
{
	struct loafre_journal_reader *rd;
	struct loafre_rec r;

	out->n = 0;
	assert_int_equal(loafre_journal_reader_open(c->j, c->seen + 1, &rd), 0);
	while (loafre_journal_reader_next(rd, &r, NULL, NULL) == 0) {
		assert_true(out->n < 512);
		out->r[out->n] = r;
		memcpy(out->names[out->n][0], r.name ? r.name : "", r.namelen);
		out->names[out->n][0][r.namelen] = '\0';
		out->r[out->n].name = out->names[out->n][0];
		if (r.sname) {
			memcpy(out->names[out->n][1], r.sname, r.snamelen);
			out->names[out->n][1][r.snamelen] = '\0';
			out->r[out->n].sname = out->names[out->n][1];
		}
		c->seen = r.index;
		out->n++;
	}
	loafre_journal_reader_close(rd);
}

static void dump(const struct recs *rs)
{
	char line[LOAFRE_TEXT_LINE_MAX];

	for (size_t i = 0; i < rs->n; i++)
		if (loafre_text_format(&rs->r[i], line, sizeof(line)) > 0)
			fprintf(stderr, "  %s", line);
}

/* Asserts the types of the records, in order ("CREAT CLOSE"). */
static void expect_types(const struct recs *rs, const char *types)
{
	char buf[512] = "";

	for (size_t i = 0; i < rs->n; i++) {
		if (i)
			strcat(buf, " ");
		strcat(buf, loafre_cl_type_name(rs->r[i].type));
	}
	if (strcmp(buf, types) != 0) {
		fprintf(stderr, "expected [%s], got [%s]:\n", types, buf);
		dump(rs);
	}
	assert_string_equal(buf, types);
}

static void fid_of(struct ctx *c, const char *rel, struct loafre_fid *f)
{
	char p[PATH_MAX];

	path(c, p, rel);
	assert_int_equal(loafre__lfs_path2fid(c->l, p, f), 0);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct loafre_journal_options o = {.fsync = LOAFRE_FSYNC_NONE};

	snprintf(c->base, sizeof(c->base), "/tmp/loafre-lfs-XXXXXX");
	assert_non_null(mkdtemp(c->base));
	snprintf(c->tree, sizeof(c->tree), "%s/tree", c->base);
	snprintf(c->jdir, sizeof(c->jdir), "%s/journal", c->base);
	snprintf(c->db, sizeof(c->db), "%s/journal/localfs.db", c->base);
	assert_int_equal(mkdir(c->tree, 0755), 0);
	assert_int_equal(mkdir(c->tree, 0755) == 0 || errno == EEXIST, 1);
	o.mask = LOAFRE_CL_MASK_ALL;
	assert_int_equal(loafre_journal_open(c->jdir, "t-MDT0000",
					     LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &o, &c->j),
			 0);
	assert_int_equal(loafre__lfs_open(c->tree, c->db, c->j, 0, &c->l), 0);
	rescan(c); /* first run: snapshot, no records */
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	loafre__lfs_close(c->l);
	loafre_journal_close(c->j);
	nftw(c->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

static void write_file(struct ctx *c, const char *rel, const char *data, int flags)
{
	char p[PATH_MAX];
	int fd;

	path(c, p, rel);
	fd = open(p, O_WRONLY | O_CREAT | flags, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void test_first_scan_is_silent(void **state)
{
	struct ctx *c = *state;
	struct recs rs;

	next_records(c, &rs);
	assert_int_equal(rs.n, 0);
}

/* An xattr the tree had before the first start: removing it (or changing
 * it) is recorded, as for any xattr loafre saw being set. */
static void test_xattr_before_first_start(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid f;
	struct recs rs;
	char p[PATH_MAX];

	loafre__lfs_close(c->l);
	c->l = NULL;
	assert_int_equal(unlink(c->db), 0); /* no state: a first run again */
	write_file(c, "old", "data\n", 0);
	path(c, p, "old");
	assert_int_equal(setxattr(p, "user.a", "1", 1, 0), 0);
	assert_int_equal(setxattr(p, "user.b", "2", 1, 0), 0);
	assert_int_equal(loafre__lfs_open(c->tree, c->db, c->j, 0, &c->l), 0);
	rescan(c); /* snapshot: silent */
	next_records(c, &rs);
	assert_int_equal(rs.n, 0);
	fid_of(c, "old", &f);

	assert_int_equal(removexattr(p, "user.a"), 0);
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "XATTR");
	assert_string_equal(rs.r[0].xattr, "user.a");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &f));

	/* user.b unchanged: a note alone says nothing */
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	assert_int_equal(rs.n, 0);
}

static void test_create_write_chmod_trunc_unlink(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid f, root = *loafre__lfs_root_fid(c->l);
	struct recs rs;
	char p[PATH_MAX];

	write_file(c, "f", "hello\n", 0);
	rescan(c);
	next_records(c, &rs);
	expect_types(&rs, "CREAT CLOSE");
	fid_of(c, "f", &f);
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &f));
	assert_true(loafre_fid_equal(&rs.r[0].pfid, &root));
	assert_string_equal(rs.r[0].name, "f");
	assert_true(rs.r[0].extra_flags & LOAFRE_CLFE_UIDGID);
	assert_int_equal(rs.r[0].uid, getuid());

	path(c, p, "f");
	assert_int_equal(chmod(p, 0600), 0);
	rescan(c);
	next_records(c, &rs);
	expect_types(&rs, "SATTR");

	write_file(c, "f", "more\n", O_APPEND);
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_MODIFY | LOAFRE__LFS_CLOSE_WRITE);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "CLOSE");

	assert_int_equal(truncate(p, 1), 0);
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_MODIFY | LOAFRE__LFS_CLOSE_WRITE);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "TRUNC");

	{
		struct timespec ts[2] = {{978307200, 0}, {978307200, 0}};
		assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "MTIME");

	assert_int_equal(setxattr(p, "user.k", "v", 1, 0), 0);
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "XATTR");
	assert_string_equal(rs.r[0].xattr, "user.k");

	assert_int_equal(unlink(p), 0);
	loafre__lfs_note_entry(c->l, &root, "f", 1);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "UNLNK");
	assert_true(rs.r[0].flags & LOAFRE_CLF_UNLINK_LAST);
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &f));
}

static void test_links_and_renames(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid f, g, d, root = *loafre__lfs_root_fid(c->l);
	struct recs rs;
	char a[PATH_MAX], b[PATH_MAX];

	write_file(c, "f", "x", 0);
	write_file(c, "g", "y", 0);
	path(c, a, "d");
	assert_int_equal(mkdir(a, 0755), 0);
	rescan(c);
	next_records(c, &rs);
	assert_int_equal(rs.n, 5); /* CREAT CLOSE x2, MKDIR (in some order) */
	fid_of(c, "f", &f);
	fid_of(c, "g", &g);
	fid_of(c, "d", &d);

	/* hard link */
	path(c, a, "f");
	path(c, b, "d/f2");
	assert_int_equal(link(a, b), 0);
	loafre__lfs_note_entry(c->l, &d, "f2", 2);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "HLINK");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &f));
	assert_true(loafre_fid_equal(&rs.r[0].pfid, &d));

	/* rm one of two links: not the last */
	assert_int_equal(unlink(a), 0);
	loafre__lfs_note_entry(c->l, &root, "f", 1);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "UNLNK");
	assert_false(rs.r[0].flags & LOAFRE_CLF_UNLINK_LAST);

	/* mv over an existing file: one RENME, t = overwritten, LAST */
	path(c, a, "g");
	assert_int_equal(rename(b, a), 0);
	loafre__lfs_note_entry(c->l, &d, "f2", 2);
	loafre__lfs_note_entry(c->l, &root, "g", 1);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "RENME");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &g));
	assert_true(loafre_fid_equal(&rs.r[0].sfid, &f));
	assert_true(loafre_fid_equal(&rs.r[0].spfid, &d));
	assert_true(loafre_fid_equal(&rs.r[0].pfid, &root));
	assert_string_equal(rs.r[0].name, "g");
	assert_string_equal(rs.r[0].sname, "f2");
	assert_true(rs.r[0].flags & LOAFRE_CLF_RENAME_LAST);

	/* plain rename into a directory, found by a full rescan */
	path(c, b, "d/moved");
	assert_int_equal(rename(a, b), 0);
	rescan(c);
	next_records(c, &rs);
	expect_types(&rs, "RENME");
	assert_true(loafre_fid_is_zero(&rs.r[0].tfid));
	assert_string_equal(rs.r[0].name, "moved");
	assert_string_equal(rs.r[0].sname, "g");
}

static void test_dirs_tree_ops(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid d1, d2;
	struct recs rs;
	char a[PATH_MAX], b[PATH_MAX];

	path(c, a, "d1");
	assert_int_equal(mkdir(a, 0755), 0);
	path(c, a, "d1/sub");
	assert_int_equal(mkdir(a, 0755), 0);
	write_file(c, "d1/sub/x", "1", 0);
	path(c, a, "d2");
	assert_int_equal(mkdir(a, 0755), 0);
	rescan(c);
	next_records(c, &rs);
	/* parents before children */
	assert_int_equal(rs.n, 5);
	fid_of(c, "d1", &d1);
	fid_of(c, "d2", &d2);

	/* mv a directory across directories: one RENME */
	path(c, a, "d1/sub");
	path(c, b, "d2/sub");
	assert_int_equal(rename(a, b), 0);
	loafre__lfs_note_entry(c->l, &d1, "sub", 3);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "RENME");
	assert_true(loafre_fid_equal(&rs.r[0].spfid, &d1));
	assert_true(loafre_fid_equal(&rs.r[0].pfid, &d2));

	/* rm -rf d2: children first */
	assert_int_equal(nftw(b, rm_cb, 8, FTW_DEPTH | FTW_PHYS), 0);
	path(c, a, "d2");
	assert_int_equal(rmdir(a), 0);
	rescan(c);
	next_records(c, &rs);
	expect_types(&rs, "UNLNK RMDIR RMDIR");
	assert_string_equal(rs.r[0].name, "x");
	assert_string_equal(rs.r[1].name, "sub");
	assert_string_equal(rs.r[2].name, "d2");
}

static void test_swap_and_rotation(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid a, b, root = *loafre__lfs_root_fid(c->l);
	struct recs rs;
	char pa[PATH_MAX], pb[PATH_MAX], pt[PATH_MAX];

	write_file(c, "a", "A", 0);
	write_file(c, "b", "B", 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "a", &a);
	fid_of(c, "b", &b);
	path(c, pa, "a");
	path(c, pb, "b");
	path(c, pt, "t");
	assert_int_equal(rename(pa, pt), 0);
	assert_int_equal(rename(pb, pa), 0);
	assert_int_equal(rename(pt, pb), 0);
	loafre__lfs_note_entry(c->l, &root, "a", 1);
	loafre__lfs_note_entry(c->l, &root, "b", 1);
	loafre__lfs_note_entry(c->l, &root, "t", 1);
	cycle(c);
	next_records(c, &rs);
	/* A swap has no single Lustre record: it is replayed through a
	 * temporary name, and only renames are emitted. */
	expect_types(&rs, "RENME RENME RENME");
	for (size_t i = 0; i < rs.n; i++)
		assert_true(loafre_fid_is_zero(&rs.r[i].tfid));
	/* Replaying them leads to the swapped tree: what the engine now
	 * believes must match the disk. */
	{
		struct loafre_fid x;
		char out[PATH_MAX];
		fid_of(c, "a", &x);
		assert_true(loafre_fid_equal(&x, &b));
		assert_int_equal(loafre__lfs_fid2path(c->l, &a, out, sizeof(out)), 0);
		assert_string_equal(out, pb);
	}
}

/* A rotation of many names in one flush (f1 -> f0, f2 -> f1, ...):
 * renames only, and the recorded tree ends equal to the disk. */
static void test_long_rename_chain(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid root = *loafre__lfs_root_fid(c->l), fids[400];
	struct recs rs;
	char a[PATH_MAX], b[PATH_MAX], name[32];
	const int n = 400;

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		write_file(c, name, "x", 0);
	}
	rescan(c);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		fid_of(c, name, &fids[i]);
	}
	c->seen = 0;
	{
		struct loafre_journal_info info;
		assert_int_equal(loafre_journal_info(c->j, &info), 0);
		c->seen = info.last_index;
	}
	/* f0 goes away, then every fI takes the name f(I-1) */
	path(c, a, "f0");
	assert_int_equal(unlink(a), 0);
	for (int i = 1; i < n; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		path(c, a, name);
		snprintf(name, sizeof(name), "f%d", i - 1);
		path(c, b, name);
		assert_int_equal(rename(a, b), 0);
	}
	/* notes in the least convenient order: the chain's head last */
	for (int i = n - 1; i >= 0; i--) {
		int len = snprintf(name, sizeof(name), "f%d", i);
		loafre__lfs_note_entry(c->l, &root, name, (size_t)len);
	}
	cycle(c);
	next_records(c, &rs);
	/* n-1 renames, nothing created; f0's object leaves once: by an UNLNK,
	 * or (merged in one flush, indistinguishable from mv f1 f0) as the
	 * target a RENME overwrote with CLF_RENAME_LAST. */
	{
		size_t unl = 0, ren = 0, over = 0;
		for (size_t i = 0; i < rs.n; i++) {
			if (rs.r[i].type == LOAFRE_CL_UNLINK) {
				assert_true(loafre_fid_equal(&rs.r[i].tfid, &fids[0]));
				unl++;
			} else if (rs.r[i].type == LOAFRE_CL_RENAME) {
				ren++;
				if (!loafre_fid_is_zero(&rs.r[i].tfid)) {
					assert_true(loafre_fid_equal(&rs.r[i].tfid, &fids[0]));
					assert_true(rs.r[i].flags & LOAFRE_CLF_RENAME_LAST);
					over++;
				}
			} else {
				fail_msg("unexpected record type %u", rs.r[i].type);
			}
		}
		assert_int_equal(unl + over, 1);
		assert_int_equal(ren, (size_t)n - 1);
	}
	for (int i = 1; i < n; i++) {
		char out[PATH_MAX];
		snprintf(name, sizeof(name), "f%d", i - 1);
		path(c, b, name);
		assert_int_equal(loafre__lfs_fid2path(c->l, &fids[i], out, sizeof(out)), 0);
		assert_string_equal(out, b);
	}
}

/* mv a/b c; mv a c/a — in one flush, a's note first: a must not be
 * recorded under b while b is still recorded inside a (a loop). */
static void test_dir_moved_under_its_former_child(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid a, b, root = *loafre__lfs_root_fid(c->l);
	struct recs rs;
	char p1[PATH_MAX], p2[PATH_MAX], out[PATH_MAX];

	path(c, p1, "a");
	assert_int_equal(mkdir(p1, 0755), 0);
	path(c, p1, "a/b");
	assert_int_equal(mkdir(p1, 0755), 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "a", &a);
	fid_of(c, "a/b", &b);
	path(c, p1, "a/b");
	path(c, p2, "c");
	assert_int_equal(rename(p1, p2), 0);
	path(c, p1, "a");
	path(c, p2, "c/a");
	assert_int_equal(rename(p1, p2), 0);
	loafre__lfs_note_entry(c->l, &root, "a", 1);
	loafre__lfs_note_entry(c->l, &b, "a", 1);
	loafre__lfs_note_entry(c->l, &root, "c", 1);
	loafre__lfs_note_entry(c->l, &a, "b", 1);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "RENME RENME");
	assert_true(loafre_fid_equal(&rs.r[0].sfid, &b)); /* b leaves a first */
	assert_true(loafre_fid_equal(&rs.r[1].sfid, &a));
	assert_int_equal(loafre__lfs_fid2path(c->l, &a, out, sizeof(out)), 0);
	assert_string_equal(out, p2);
	path(c, p1, "c");
	assert_int_equal(loafre__lfs_fid2path(c->l, &b, out, sizeof(out)), 0);
	assert_string_equal(out, p1);
}

static void test_restart_replays_and_catches_up(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid f, f2;
	struct recs rs;
	char a[PATH_MAX], b[PATH_MAX];

	write_file(c, "keep", "k", 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "keep", &f);

	/* A record journaled but not synced into the state (crash between
	 * commit and sync) must not be emitted again after the restart. */
	write_file(c, "late", "l", 0);
	assert_true(loafre__lfs_rescan(c->l) >= 0);
	assert_true(loafre_journal_commit(c->j, NULL) >= 0);
	loafre__lfs_close(c->l); /* no sync */
	c->l = NULL;

	/* changes while "down" */
	path(c, a, "keep");
	path(c, b, "renamed");
	assert_int_equal(rename(a, b), 0);
	write_file(c, "new", "n", 0);

	assert_int_equal(loafre__lfs_open(c->tree, c->db, c->j, 0, &c->l), 0);
	rescan(c);
	next_records(c, &rs);
	/* late: CREAT CLOSE (from before the crash), then the catch-up */
	assert_int_equal(rs.n, 2 + 3);
	expect_types(&rs, rs.r[2].type == LOAFRE_CL_RENAME ? "CREAT CLOSE RENME CREAT CLOSE"
							   : "CREAT CLOSE CREAT CLOSE RENME");
	fid_of(c, "renamed", &f2);
	assert_true(loafre_fid_equal(&f, &f2)); /* FIDs survive restarts */
}

/* Counts the records of one type. */
static size_t count_type(const struct recs *rs, uint32_t type)
{
	size_t n = 0;

	for (size_t i = 0; i < rs->n; i++)
		n += rs->r[i].type == type;
	return n;
}

/* Index of the RENME whose source is `fid`, or -1. */
static int find_rename(const struct recs *rs, const struct loafre_fid *fid)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].type == LOAFRE_CL_RENAME && loafre_fid_equal(&rs->r[i].sfid, fid))
			return (int)i;
	return -1;
}

/* Objects moved out of a directory that was then removed, while the engine
 * was down: one RENME each (a directory with its subtree, nothing for the
 * entries inside it), the RMDIR after them; never UNLNK/RMDIR + CREAT/MKDIR
 * of an object that still lives (its FID, the file handle, is the same). */
static void check_moves_out_of_removed_dir(struct ctx *c, bool restart)
{
	struct loafre_fid d, e, f, sub, x, n, root = *loafre__lfs_root_fid(c->l);
	struct recs rs;
	char a[PATH_MAX], b[PATH_MAX], out[PATH_MAX];
	int rf, rsub, rmd;

	path(c, a, "d");
	assert_int_equal(mkdir(a, 0755), 0);
	path(c, a, "d/sub");
	assert_int_equal(mkdir(a, 0755), 0);
	path(c, a, "e");
	assert_int_equal(mkdir(a, 0755), 0);
	write_file(c, "d/f", "f", 0);
	write_file(c, "d/sub/x", "x", 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "d", &d);
	fid_of(c, "e", &e);
	fid_of(c, "d/f", &f);
	fid_of(c, "d/sub", &sub);
	fid_of(c, "d/sub/x", &x);
	if (restart) {
		loafre__lfs_close(c->l);
		c->l = NULL;
	}
	/* mv d/f e/f; mkdir n; mv d/sub n/sub; rmdir d */
	path(c, a, "d/f");
	path(c, b, "e/f");
	assert_int_equal(rename(a, b), 0);
	path(c, a, "n");
	assert_int_equal(mkdir(a, 0755), 0);
	path(c, a, "d/sub");
	path(c, b, "n/sub");
	assert_int_equal(rename(a, b), 0);
	path(c, a, "d");
	assert_int_equal(rmdir(a), 0);
	if (restart) {
		assert_int_equal(loafre__lfs_open(c->tree, c->db, c->j, 0, &c->l), 0);
		rescan(c);
	} else {
		/* only the removal and the new directory were noted */
		loafre__lfs_note_entry(c->l, &root, "d", 1);
		loafre__lfs_note_entry(c->l, &root, "n", 1);
		cycle(c);
	}
	next_records(c, &rs);
	if (rs.n != 4 || count_type(&rs, LOAFRE_CL_RENAME) != 2 ||
	    count_type(&rs, LOAFRE_CL_MKDIR) != 1 || count_type(&rs, LOAFRE_CL_RMDIR) != 1) {
		fprintf(stderr, "expected MKDIR n, RENME f, RENME sub, RMDIR d; got:\n");
		dump(&rs);
		fail();
	}
	fid_of(c, "n", &n);
	rf = find_rename(&rs, &f);
	rsub = find_rename(&rs, &sub);
	rmd = (int)rs.n - 1;
	assert_true(rf >= 0 && rsub >= 0);
	assert_int_equal(rs.r[rmd].type, LOAFRE_CL_RMDIR);
	assert_true(loafre_fid_equal(&rs.r[rmd].tfid, &d));
	assert_true(loafre_fid_equal(&rs.r[rf].pfid, &e));
	assert_true(loafre_fid_equal(&rs.r[rf].spfid, &d));
	assert_string_equal(rs.r[rf].name, "f");
	assert_true(loafre_fid_is_zero(&rs.r[rf].tfid));
	assert_true(loafre_fid_equal(&rs.r[rsub].pfid, &n));
	assert_true(loafre_fid_equal(&rs.r[rsub].spfid, &d));
	for (size_t i = 0; i < rs.n; i++)
		if (rs.r[i].type == LOAFRE_CL_MKDIR) {
			assert_true(loafre_fid_equal(&rs.r[i].tfid, &n));
			assert_true((int)i < rsub); /* the target exists first */
		}
	/* the subtree moved along: x is known at its new path */
	path(c, b, "n/sub/x");
	assert_int_equal(loafre__lfs_fid2path(c->l, &x, out, sizeof(out)), 0);
	assert_string_equal(out, b);
}

static void test_restart_moves_out_of_removed_dir(void **state)
{
	check_moves_out_of_removed_dir(*state, true);
}

static void test_live_moves_out_of_removed_dir(void **state)
{
	check_moves_out_of_removed_dir(*state, false);
}

/* A directory moved under its former child, which then takes its name:
 * mv x/a t; mv x t/z; mv t x. Renames only (through a temporary name: no
 * order of the three renames exists against the recorded tree otherwise),
 * never RMDIR + MKDIR of either, and the recorded tree ends as the disk. */
static void check_dir_cycle(struct ctx *c, bool restart)
{
	struct loafre_fid z, a, root = *loafre__lfs_root_fid(c->l);
	struct recs rs;
	char p1[PATH_MAX], p2[PATH_MAX], out[PATH_MAX];

	path(c, p1, "x");
	assert_int_equal(mkdir(p1, 0755), 0);
	path(c, p1, "x/a");
	assert_int_equal(mkdir(p1, 0755), 0);
	write_file(c, "x/a/f", "f", 0);
	write_file(c, "x/g", "g", 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "x", &z);
	fid_of(c, "x/a", &a);
	if (restart) {
		loafre__lfs_close(c->l);
		c->l = NULL;
	}
	path(c, p1, "x/a");
	path(c, p2, "t");
	assert_int_equal(rename(p1, p2), 0);
	path(c, p1, "x");
	path(c, p2, "t/z");
	assert_int_equal(rename(p1, p2), 0);
	path(c, p1, "t");
	path(c, p2, "x");
	assert_int_equal(rename(p1, p2), 0);
	if (restart) {
		assert_int_equal(loafre__lfs_open(c->tree, c->db, c->j, 0, &c->l), 0);
		rescan(c);
	} else {
		loafre__lfs_note_entry(c->l, &z, "a", 1);
		loafre__lfs_note_entry(c->l, &root, "t", 1);
		loafre__lfs_note_entry(c->l, &root, "x", 1);
		loafre__lfs_note_entry(c->l, &a, "z", 1);
		cycle(c);
	}
	next_records(c, &rs);
	if (rs.n < 2 || count_type(&rs, LOAFRE_CL_RENAME) != rs.n) {
		fprintf(stderr, "expected renames only; got:\n");
		dump(&rs);
		fail();
	}
	path(c, p1, "x");
	assert_int_equal(loafre__lfs_fid2path(c->l, &a, out, sizeof(out)), 0);
	assert_string_equal(out, p1);
	path(c, p1, "x/z");
	assert_int_equal(loafre__lfs_fid2path(c->l, &z, out, sizeof(out)), 0);
	assert_string_equal(out, p1);
}

static void test_restart_dir_cycle(void **state)
{
	check_dir_cycle(*state, true);
}

static void test_live_dir_cycle(void **state)
{
	check_dir_cycle(*state, false);
}

/* truncate(2) growing a file: no close follows, Lustre writes TRUNC. A
 * write not closed yet still waits for its CLOSE. */
static void test_truncate_grow(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid f;
	struct recs rs;
	char p[PATH_MAX];
	int fd;

	write_file(c, "f", "hello\n", 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "f", &f);
	path(c, p, "f");

	assert_int_equal(truncate(p, 100000), 0); /* far, a hole */
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_MODIFY);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "TRUNC");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &f));

	assert_int_equal(truncate(p, 100010), 0); /* within the last block */
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_MODIFY);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "TRUNC");

	/* an append still open: no record until the close */
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_MODIFY);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "");
	close(fd);
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_CLOSE_WRITE);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "CLOSE");
}

/* A shrink seen with no modification reported (a note of something else
 * caught a truncate half-way: new size, old times) waits for the
 * truncate's own FAN_MODIFY, and is recorded then. */
static void test_truncate_seen_halfway(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid f;
	struct recs rs;
	char p[PATH_MAX];

	write_file(c, "f", "hello\n", 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "f", &f);
	path(c, p, "f");
	assert_int_equal(truncate(p, 1), 0);
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_CLOSE_WRITE);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "");
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_MODIFY);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "TRUNC");
}

/* Sets rel's times to 2001 and consumes the MTIME: any later change moves
 * its mtime, however coarse the clock. */
static void age(struct ctx *c, const char *rel, const struct loafre_fid *f)
{
	struct timespec ts[2] = {{978307200, 0}, {978307200, 0}};
	struct recs rs;
	char p[PATH_MAX];

	path(c, p, rel);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	loafre__lfs_note_object(c->l, f, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "MTIME");
}

/* truncate(2) to the size the file has (an empty file to 0): FAN_MODIFY
 * alone, the size unchanged, and no close will come. Nobody holds the file
 * open for writing, so a close, had it been a write, would already be
 * queued: the next flush writes TRUNC unless that close is noted by then.
 * A write whose close is noted one flush late stays a CLOSE; a writer
 * still open keeps the file waiting for its close. */
static void test_truncate_same_size(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid e, g;
	struct recs rs;
	char pe[PATH_MAX], pg[PATH_MAX];
	int fd;

	write_file(c, "e", "", 0);
	write_file(c, "g", "hello\n", 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "e", &e);
	fid_of(c, "g", &g);
	path(c, pe, "e");
	path(c, pg, "g");
	age(c, "e", &e);
	age(c, "g", &g);

	/* an empty file truncated to 0 */
	assert_int_equal(truncate(pe, 0), 0);
	loafre__lfs_note_object(c->l, &e, LOAFRE__LFS_MODIFY);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, ""); /* a write's close would be noted by the next flush */
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "TRUNC");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &e));
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "");

	/* a file truncated to its own size */
	assert_int_equal(truncate(pg, 6), 0);
	loafre__lfs_note_object(c->l, &g, LOAFRE__LFS_MODIFY);
	cycle(c);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "TRUNC");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &g));

	/* truncated to its size, then renamed (the rename moves the ctime
	 * past the mtime) */
	age(c, "e", &e);
	assert_int_equal(truncate(pe, 0), 0);
	usleep(20000); /* a later ctime, however coarse the clock */
	path(c, pe, "e2");
	{
		char old[PATH_MAX];
		path(c, old, "e");
		assert_int_equal(rename(old, pe), 0);
	}
	loafre__lfs_note_object(c->l, &e, LOAFRE__LFS_MODIFY);
	loafre__lfs_note_entry(c->l, loafre__lfs_root_fid(c->l), "e", 1);
	loafre__lfs_note_entry(c->l, loafre__lfs_root_fid(c->l), "e2", 2);
	cycle(c);
	cycle(c);
	next_records(c, &rs);
	assert_true(rs.n == 2);
	assert_int_equal(rs.r[0].type, LOAFRE_CL_RENAME);
	assert_true(rs.r[1].type == LOAFRE_CL_TRUNC || rs.r[1].type == LOAFRE_CL_MTIME);
	assert_true(loafre_fid_equal(&rs.r[1].tfid, &e));

	/* a write in place, closed; its close noted one flush late: CLOSE */
	age(c, "g", &g);
	fd = open(pg, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "HELLO\n", 6, 0), 6);
	close(fd);
	loafre__lfs_note_object(c->l, &g, LOAFRE__LFS_MODIFY);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "");
	loafre__lfs_note_object(c->l, &g, LOAFRE__LFS_CLOSE_WRITE);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "CLOSE");

	/* a writer still open, across flushes: nothing until its close */
	age(c, "g", &g);
	fd = open(pg, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "hello\n", 6, 0), 6);
	loafre__lfs_note_object(c->l, &g, LOAFRE__LFS_MODIFY);
	cycle(c);
	cycle(c);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "");
	close(fd);
	loafre__lfs_note_object(c->l, &g, LOAFRE__LFS_CLOSE_WRITE);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "CLOSE");
}

/* A new link to a file changed in the same look (chmod, chown, a write
 * closed): HLINK, then the record of the change. The link's record does
 * not stand for the object's other changes. */
static void test_link_after_change(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid f, root = *loafre__lfs_root_fid(c->l);
	struct recs rs;
	char p[PATH_MAX], q[PATH_MAX];

	write_file(c, "f", "hello\n", 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "f", &f);
	path(c, p, "f");
	age(c, "f", &f);

	/* chmod, then a link */
	assert_int_equal(chmod(p, 0600), 0);
	path(c, q, "g");
	assert_int_equal(link(p, q), 0);
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_ATTRIB);
	loafre__lfs_note_entry(c->l, &root, "g", 1);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "HLINK SATTR");
	assert_true(loafre_fid_equal(&rs.r[1].tfid, &f));

	/* a write closed, then a link */
	write_file(c, "f", "more\n", O_APPEND);
	path(c, q, "h");
	assert_int_equal(link(p, q), 0);
	loafre__lfs_note_object(c->l, &f, LOAFRE__LFS_MODIFY | LOAFRE__LFS_CLOSE_WRITE);
	loafre__lfs_note_entry(c->l, &root, "h", 1);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "HLINK CLOSE");
	assert_true(loafre_fid_equal(&rs.r[1].tfid, &f));

	/* the link seen alone (from the inotify watcher: no object note) */
	assert_int_equal(chmod(p, 0644), 0);
	path(c, q, "k");
	assert_int_equal(link(p, q), 0);
	loafre__lfs_note_child(c->l, &root, "k", 1, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "HLINK SATTR");
}

/* utime of a directory: MTIME (as for a file); its chmod: SATTR only. */
static void test_dir_utime(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid d;
	struct recs rs;
	char p[PATH_MAX];
	struct timespec ts[2] = {{978307200, 0}, {978307200, 0}};

	path(c, p, "d");
	assert_int_equal(mkdir(p, 0755), 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "d", &d);

	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	loafre__lfs_note_object(c->l, &d, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "MTIME");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &d));

	assert_int_equal(chmod(p, 0700), 0);
	loafre__lfs_note_object(c->l, &d, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "SATTR");

	/* while the engine was down: found by the rescan */
	ts[0].tv_sec = ts[1].tv_sec = 1009843200;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	rescan(c);
	next_records(c, &rs);
	expect_types(&rs, "MTIME");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &d));
}

/* An entry created and removed between two looks moved the directory's
 * mtime: the directory gets an MTIME; a create that is recorded accounts
 * for it (no MTIME besides the CREAT). */
static void test_dir_mtime_transient_entry(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid d;
	struct recs rs;
	char p[PATH_MAX], q[PATH_MAX];
	struct timespec ts[2] = {{978307200, 0}, {978307200, 0}};

	path(c, p, "d");
	assert_int_equal(mkdir(p, 0755), 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "d", &d);
	/* an old mtime first, so that the next change surely moves it */
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	loafre__lfs_note_object(c->l, &d, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "MTIME");

	write_file(c, "d/tmp", "t", 0);
	path(c, q, "d/tmp");
	assert_int_equal(unlink(q), 0);
	loafre__lfs_note_entry(c->l, &d, "tmp", 3);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "MTIME");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &d));

	/* a recorded create carries the directory's change */
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	write_file(c, "d/kept", "k", 0);
	loafre__lfs_note_object(c->l, &d, LOAFRE__LFS_ATTRIB);
	loafre__lfs_note_entry(c->l, &d, "kept", 4);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "CREAT CLOSE");

	/* and while the engine was down */
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	loafre__lfs_note_object(c->l, &d, LOAFRE__LFS_ATTRIB);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "MTIME");
	loafre__lfs_close(c->l);
	c->l = NULL;
	write_file(c, "d/tmp2", "t", 0);
	path(c, q, "d/tmp2");
	assert_int_equal(unlink(q), 0);
	assert_int_equal(loafre__lfs_open(c->tree, c->db, c->j, 0, &c->l), 0);
	rescan(c);
	next_records(c, &rs);
	expect_types(&rs, "MTIME");
	assert_true(loafre_fid_equal(&rs.r[0].tfid, &d));
}

/* An object that left its entry for a directory no flush has recorded yet
 * (the directory's own event comes in a later batch) is parked under a
 * temporary name in the root. The parked name is looked at again by the
 * next flushes, until the object's place is recorded or the object is gone:
 * no event ever names it (it never exists on disk). */
static void park_case(struct ctx *c, bool remove_dir)
{
	struct loafre_fid f, n, root = *loafre__lfs_root_fid(c->l);
	struct recs rs;
	char pf[PATH_MAX], pn[PATH_MAX], pnf[PATH_MAX], swap[256], out[PATH_MAX];

	write_file(c, "f", "F", 0);
	rescan(c);
	next_records(c, &rs);
	fid_of(c, "f", &f);
	path(c, pf, "f");
	path(c, pn, "n");
	path(c, pnf, "n/f");
	assert_int_equal(mkdir(pn, 0755), 0);
	assert_int_equal(rename(pf, pnf), 0);
	/* only the move's event: n's creation comes in the next batch */
	loafre__lfs_note_entry(c->l, &root, "f", 1);
	cycle(c);
	next_records(c, &rs);
	expect_types(&rs, "RENME");
	assert_true(loafre_fid_equal(&rs.r[0].sfid, &f));
	assert_true(loafre_fid_equal(&rs.r[0].pfid, &root));
	assert_true(strncmp(rs.r[0].name, ".loafre-swap-", 13) == 0);
	strcpy(swap, rs.r[0].name);

	if (remove_dir) {
		/* n and f go before n's creation is seen: the batch names
		 * (root, n) only; f's removal in n names a directory no flush
		 * knows */
		assert_int_equal(unlink(pnf), 0);
		assert_int_equal(rmdir(pn), 0);
		loafre__lfs_note_entry(c->l, &root, "n", 1);
		cycle(c);
		next_records(c, &rs);
		expect_types(&rs, "UNLNK");
		assert_string_equal(rs.r[0].name, swap);
		assert_true(rs.r[0].flags & LOAFRE_CLF_UNLINK_LAST);
		assert_int_equal(loafre__lfs_fid2path(c->l, &f, out, sizeof(out)), -ENOENT);
	} else {
		/* no event at all for a while: the parked name stays until n
		 * is seen (no churn of temporary names meanwhile) */
		cycle(c);
		next_records(c, &rs);
		expect_types(&rs, "");
		loafre__lfs_note_entry(c->l, &root, "n", 1);
		cycle(c);
		next_records(c, &rs);
		expect_types(&rs, "MKDIR RENME");
		fid_of(c, "n", &n);
		assert_true(loafre_fid_equal(&rs.r[1].sfid, &f));
		assert_true(loafre_fid_equal(&rs.r[1].pfid, &n));
		assert_string_equal(rs.r[1].sname, swap);
		assert_int_equal(loafre__lfs_fid2path(c->l, &f, out, sizeof(out)), 0);
		assert_string_equal(out, pnf);
	}
	/* nothing left to find: the recorded tree is the disk */
	rescan(c);
	next_records(c, &rs);
	expect_types(&rs, "");
}

static void test_parked_object_gone(void **state)
{
	park_case(*state, true);
}

static void test_parked_object_placed(void **state)
{
	park_case(*state, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_scan_is_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattr_before_first_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_write_chmod_trunc_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_and_renames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirs_tree_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_and_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_rename_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_moved_under_its_former_child, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_replays_and_catches_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_moves_out_of_removed_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_moves_out_of_removed_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_dir_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_dir_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_seen_halfway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_same_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_after_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_utime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_mtime_transient_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parked_object_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parked_object_placed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
