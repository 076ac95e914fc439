/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_repl_paths.c — lib/repl_paths.c: the directory map of a replication
 * group (paths as of each record), on real temporary SQLite files: every
 * record kind, directory renames with deep subtrees, rename over an empty
 * directory, RMDIR, unknown parents, replay over a newer walk, persistence,
 * cache eviction, limits, and a property test against an in-memory model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "repl_paths.h"

#define SEQ 0x200000401ull

static char tmpdir[64];
static char dbpath[128];

static struct loafre_fid F(uint32_t n)
{
	struct loafre_fid f = {SEQ, n, 0};

	return f;
}

static const struct loafre_fid ROOT = {SEQ, 1, 0};

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/loafre-paths-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(dbpath, sizeof(dbpath), "%s/rep.paths", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	unlink(dbpath);
	rmdir(tmpdir);
	return 0;
}

static struct loafre__paths *open_new(void)
{
	struct loafre__paths *p = NULL;

	assert_int_equal(loafre__paths_open(dbpath, LOAFRE__PATHS_CREATE, &p), 0);
	assert_int_equal(loafre__paths_set_root(p, &ROOT), 0);
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	return p;
}

static struct loafre_rec R(uint64_t idx, uint32_t type, struct loafre_fid t, struct loafre_fid par,
			   const char *name)
{
	struct loafre_rec r;

	memset(&r, 0, sizeof(r));
	r.index = idx;
	r.type = type;
	r.flags = LOAFRE_CLF_VERSION;
	r.tfid = t;
	r.pfid = par;
	r.name = name;
	r.namelen = name ? (uint16_t)strlen(name) : 0;
	return r;
}

static struct loafre_rec RN(uint64_t idx, struct loafre_fid s, struct loafre_fid sp,
			    const char *sname, struct loafre_fid t, struct loafre_fid par,
			    const char *tname)
{
	struct loafre_rec r = R(idx, LOAFRE_CL_RENAME, t, par, tname);

	r.flags |= LOAFRE_CLF_RENAME;
	r.sfid = s;
	r.spfid = sp;
	r.sname = sname;
	r.snamelen = (uint16_t)strlen(sname);
	return r;
}

/* Annotates then applies; checks the paths (NULL: expected none). */
static void step(struct loafre__paths *p, const struct loafre_rec *r, int want_rc,
		 const char *want_path, const char *want_spath, bool want_dir)
{
	struct loafre__paths_ann a;
	int rc = loafre__paths_annotate(p, r, &a);

	if (rc != want_rc || (want_path == NULL) != (a.path == NULL) ||
	    (want_path && strcmp(want_path, a.path) != 0) ||
	    (want_spath == NULL) != (a.spath == NULL) ||
	    (want_spath && strcmp(want_spath, a.spath) != 0))
		print_error("record %llu type %u: rc %d path %s spath %s; want %d %s %s\n",
			    (unsigned long long)r->index, r->type, rc, a.path ? a.path : "(null)",
			    a.spath ? a.spath : "(null)", want_rc, want_path ? want_path : "(null)",
			    want_spath ? want_spath : "(null)");
	assert_int_equal(rc, want_rc);
	if (want_path) {
		assert_non_null(a.path);
		assert_string_equal(a.path, want_path);
		assert_int_equal(a.pathlen, strlen(want_path));
	} else {
		assert_null(a.path);
	}
	if (want_spath) {
		assert_non_null(a.spath);
		assert_string_equal(a.spath, want_spath);
	} else {
		assert_null(a.spath);
	}
	assert_int_equal(a.is_dir, want_dir);
	assert_int_equal(loafre__paths_apply(p, "fs-MDT0000", r), 0);
}

/* The path of directory fid (a SATTR on it), or NULL and the error. */
static const char *dirpath(struct loafre__paths *p, struct loafre_fid d, int *rc)
{
	struct loafre_rec r = R(0, LOAFRE_CL_SETATTR, d, (struct loafre_fid){0, 0, 0}, NULL);
	struct loafre__paths_ann a;

	*rc = loafre__paths_annotate(p, &r, &a);
	return a.path;
}

static void assert_dir(struct loafre__paths *p, struct loafre_fid d, const char *want)
{
	int rc;
	const char *got = dirpath(p, d, &rc);

	if (!want) {
		assert_int_equal(rc, 0);
		assert_null(got);
		return;
	}
	if (rc != 0 || !got || strcmp(got, want) != 0)
		print_error("dir %u: rc %d path %s, want %s\n", d.f_oid, rc, got ? got : "(null)",
			    want);
	assert_int_equal(rc, 0);
	assert_non_null(got);
	assert_string_equal(got, want);
}

/* ---- every record kind ------------------------------------------------------ */

static void test_kinds(void **state)
{
	struct loafre__paths *p = open_new();
	struct loafre_rec r;
	struct loafre__paths_ann a;
	const struct loafre_fid Z = {0, 0, 0};
	uint64_t pos;

	(void)state;
	r = R(1, LOAFRE_CL_MKDIR, F(2), ROOT, "a");
	step(p, &r, 0, "/a", NULL, true);
	r = R(2, LOAFRE_CL_MKDIR, F(3), F(2), "b");
	step(p, &r, 0, "/a/b", NULL, true);
	r = R(3, LOAFRE_CL_CREATE, F(100), F(3), "f");
	step(p, &r, 0, "/a/b/f", NULL, false);
	r = R(4, LOAFRE_CL_MKNOD, F(101), F(3), "n");
	step(p, &r, 0, "/a/b/n", NULL, false);
	r = R(5, LOAFRE_CL_SOFTLINK, F(102), F(2), "s");
	step(p, &r, 0, "/a/s", NULL, false);
	r = R(6, LOAFRE_CL_HARDLINK, F(100), ROOT, "h");
	step(p, &r, 0, "/h", NULL, false);
	/* nameless records: a directory's path, nothing for a file */
	r = R(7, LOAFRE_CL_SETATTR, F(3), Z, NULL);
	step(p, &r, 0, "/a/b", NULL, true);
	r = R(8, LOAFRE_CL_CTIME, F(2), Z, NULL);
	step(p, &r, 0, "/a", NULL, true);
	r = R(9, LOAFRE_CL_SETXATTR, ROOT, Z, NULL);
	step(p, &r, 0, "/", NULL, true);
	r = R(10, LOAFRE_CL_CLOSE, F(100), Z, NULL);
	step(p, &r, 0, NULL, NULL, false);
	r = R(11, LOAFRE_CL_SETATTR, F(100), Z, NULL);
	step(p, &r, 0, NULL, NULL, false);
	r = R(12, LOAFRE_CL_MARK, F(0), Z, NULL);
	step(p, &r, 0, NULL, NULL, false);
	/* a file rename: both paths, the map unchanged */
	r = RN(13, F(100), F(3), "f", Z, F(2), "g");
	step(p, &r, 0, "/a/g", "/a/b/f", false);
	assert_dir(p, F(3), "/a/b");
	r = R(14, LOAFRE_CL_UNLINK, F(100), F(2), "g");
	r.flags |= LOAFRE_CLF_UNLINK_LAST;
	step(p, &r, 0, "/a/g", NULL, false);
	/* a directory rename: b moves to the root as c */
	r = RN(15, F(3), F(2), "b", Z, ROOT, "c");
	step(p, &r, 0, "/c", "/a/b", true);
	assert_dir(p, F(3), "/c");
	r = R(16, LOAFRE_CL_CREATE, F(103), F(3), "x");
	step(p, &r, 0, "/c/x", NULL, false);
	/* RMDIR: the path of the link removed, then gone */
	r = R(17, LOAFRE_CL_RMDIR, F(3), ROOT, "c");
	step(p, &r, 0, "/c", NULL, true);
	r = R(18, LOAFRE_CL_CREATE, F(104), F(3), "late");
	step(p, &r, -ENOENT, NULL, NULL, false);
	assert_dir(p, F(3), NULL);
	/* an old-style rename (no CLF_RENAME): the target name only */
	r = R(19, LOAFRE_CL_RENAME, Z, F(2), "old");
	step(p, &r, 0, "/a/old", NULL, false);
	/* an impossible name: -EINVAL, the map untouched */
	r = R(20, LOAFRE_CL_MKDIR, F(5), F(2), "x/y");
	assert_int_equal(loafre__paths_annotate(p, &r, &a), -EINVAL);
	assert_null(a.path);
	assert_int_equal(loafre__paths_apply(p, "fs-MDT0000", &r), -EINVAL);
	r = R(20, LOAFRE_CL_MKDIR, F(5), F(2), "..");
	assert_int_equal(loafre__paths_apply(p, "fs-MDT0000", &r), -EINVAL);
	assert_dir(p, F(5), NULL);
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	assert_int_equal(loafre__paths_get_position(p, "fs-MDT0000", &pos), 0);
	assert_int_equal(pos, 19);
	/* skipped: at or below the position */
	r = R(19, LOAFRE_CL_MKDIR, F(6), ROOT, "z");
	assert_int_equal(loafre__paths_apply(p, "fs-MDT0000", &r), 1);
	assert_dir(p, F(6), NULL);
	/* another MDT has its own position */
	r = R(3, LOAFRE_CL_MKDIR, F(6), ROOT, "z");
	assert_int_equal(loafre__paths_apply(p, "fs-MDT0001", &r), 0);
	assert_int_equal(loafre__paths_apply(p, "fs-MDT0001", &r), 1);
	assert_dir(p, F(6), "/z");
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	assert_int_equal(loafre__paths_get_position(p, "fs-MDT0001", &pos), 0);
	assert_int_equal(pos, 3);
	loafre__paths_close(p);
}

/* ---- directory renames with deep subtrees ------------------------------------- */

static void test_deep_rename(void **state)
{
	struct loafre__paths *p = open_new();
	struct loafre_rec r;
	const struct loafre_fid Z = {0, 0, 0};
	char want[8192], name[16];
	uint32_t i;
	uint64_t idx = 1;

	(void)state;
	/* /d0/d1/.../d99, and a sibling x under each */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "d%u", i);
		r = R(idx++, LOAFRE_CL_MKDIR, F(10 + i), i ? F(10 + i - 1) : ROOT, name);
		assert_int_equal(loafre__paths_apply(p, "m", &r), 0);
		r = R(idx++, LOAFRE_CL_MKDIR, F(1000 + i), F(10 + i), "x");
		assert_int_equal(loafre__paths_apply(p, "m", &r), 0);
	}
	assert_int_equal(loafre__paths_commit(p, "m", idx - 1), 0);
	want[0] = '\0';
	for (i = 0; i < 100; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "/d%u", i);
	strcat(want, "/x");
	assert_dir(p, F(1099), want);
	/* rename the top: every path below changes, no entry below touched */
	r = RN(idx++, F(10), ROOT, "d0", Z, ROOT, "top");
	step(p, &r, 0, "/top", "/d0", true);
	{
		char w2[8192];

		strcpy(w2, "/top");
		strcat(w2, want + 3);
		assert_dir(p, F(1099), w2);
		assert_dir(p, F(1000), "/top/x");
	}
	/* move d50 (and its subtree) under /top/d1/x */
	r = RN(idx++, F(60), F(59), "d50", Z, F(1001), "m");
	{
		char sp[8192], w3[8192];

		snprintf(sp, sizeof(sp), "/top");
		for (i = 1; i <= 50; i++)
			snprintf(sp + strlen(sp), sizeof(sp) - strlen(sp), "/d%u", i);
		step(p, &r, 0, "/top/d1/x/m", sp, true);
		snprintf(w3, sizeof(w3), "/top/d1/x/m");
		for (i = 51; i < 100; i++)
			snprintf(w3 + strlen(w3), sizeof(w3) - strlen(w3), "/d%u", i);
		strcat(w3, "/x");
		assert_dir(p, F(1099), w3);
	}
	assert_dir(p, F(1049), "/top/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/"
			       "d15/d16/d17/d18/d19/d20/d21/d22/d23/d24/d25/d26/"
			       "d27/d28/d29/d30/d31/d32/d33/d34/d35/d36/d37/d38/"
			       "d39/d40/d41/d42/d43/d44/d45/d46/d47/d48/d49/x");
	assert_int_equal(loafre__paths_commit(p, "m", idx - 1), 0);
	loafre__paths_close(p);
}

/* ---- rename over an empty directory; moves out of the tree ------------------------ */

static void test_rename_over_and_out(void **state)
{
	struct loafre__paths *p = open_new();
	struct loafre_rec r;
	struct loafre__paths_ann a;
	const struct loafre_fid Z = {0, 0, 0};
	uint64_t n;

	(void)state;
	r = R(1, LOAFRE_CL_MKDIR, F(2), ROOT, "a");
	step(p, &r, 0, "/a", NULL, true);
	r = R(2, LOAFRE_CL_MKDIR, F(3), ROOT, "b");
	step(p, &r, 0, "/b", NULL, true);
	r = R(3, LOAFRE_CL_MKDIR, F(4), F(2), "in");
	step(p, &r, 0, "/a/in", NULL, true);
	/* mv a b: b (empty) is replaced */
	r = RN(4, F(2), ROOT, "a", F(3), ROOT, "b");
	assert_int_equal(loafre__paths_annotate(p, &r, &a), 0);
	assert_true(a.victim_dir);
	step(p, &r, 0, "/b", "/a", true);
	assert_dir(p, F(2), "/b");
	assert_dir(p, F(4), "/b/in");
	assert_dir(p, F(3), NULL);
	assert_int_equal(loafre__paths_count(p, &n), 0);
	assert_int_equal(n, 2);
	/* a file renamed over a file: not a victim directory */
	r = RN(5, F(200), F(2), "f", F(201), F(2), "g");
	assert_int_equal(loafre__paths_annotate(p, &r, &a), 0);
	assert_false(a.victim_dir);
	assert_false(a.is_dir);
	/* b moved to a parent the map does not know (out of the tree): gone,
	 * its subtree resolves as -ENOENT, gc removes it */
	r = R(6, LOAFRE_CL_MKDIR, F(5), F(4), "deeper");
	step(p, &r, 0, "/b/in/deeper", NULL, true);
	r = RN(7, F(2), ROOT, "b", Z, F(999), "elsewhere");
	step(p, &r, -ENOENT, NULL, "/b", true);
	assert_dir(p, F(2), NULL);
	{
		int rc;

		assert_null(dirpath(p, F(4), &rc));
		assert_int_equal(rc, -ENOENT);
		assert_null(dirpath(p, F(5), &rc));
		assert_int_equal(rc, -ENOENT);
	}
	r = R(8, LOAFRE_CL_CREATE, F(300), F(5), "f");
	step(p, &r, -ENOENT, NULL, NULL, false);
	assert_int_equal(loafre__paths_count(p, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(loafre__paths_gc(p, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(loafre__paths_count(p, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	loafre__paths_close(p);
}

/* ---- unknown parents ------------------------------------------------------------ */

static void test_unknown_parents(void **state)
{
	struct loafre__paths *p = open_new();
	struct loafre_rec r;
	struct loafre__paths_ann a;
	const struct loafre_fid Z = {0, 0, 0};

	(void)state;
	r = R(1, LOAFRE_CL_MKDIR, F(2), ROOT, "a");
	step(p, &r, 0, "/a", NULL, true);
	r = R(2, LOAFRE_CL_CREATE, F(100), F(77), "f");
	step(p, &r, -ENOENT, NULL, NULL, false);
	/* rename from a known into an unknown parent: spath still given */
	r = RN(3, F(100), F(2), "f", Z, F(77), "g");
	step(p, &r, -ENOENT, NULL, "/a/f", false);
	/* ... and from an unknown into a known one */
	r = RN(4, F(100), F(77), "g", Z, F(2), "h");
	step(p, &r, -ENOENT, "/a/h", NULL, false);
	/* a MKDIR under an unknown parent is kept: a later bulk_add of the
	 * parent connects it */
	r = R(5, LOAFRE_CL_MKDIR, F(3), F(77), "child");
	step(p, &r, -ENOENT, NULL, NULL, true);
	assert_int_equal(loafre__paths_bulk_add(p, &(struct loafre_fid){SEQ, 77, 0},
						&(struct loafre_fid){SEQ, 2, 0}, "late", 4),
			 0);
	assert_dir(p, F(3), "/a/late/child");
	/* no root set: nothing resolves */
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	loafre__paths_close(p);
	teardown(NULL);
	setup(NULL);
	assert_int_equal(loafre__paths_open(dbpath, LOAFRE__PATHS_CREATE, &p), 0);
	r = R(1, LOAFRE_CL_MKDIR, F(2), ROOT, "a");
	assert_int_equal(loafre__paths_annotate(p, &r, &a), -ENOENT);
	loafre__paths_close(p);
}

/* ---- replay of records older than a walk ------------------------------------------- */

static void test_replay_over_walk(void **state)
{
	struct loafre__paths *p = open_new();
	struct loafre_rec recs[8];
	struct loafre__paths_ann a;
	const struct loafre_fid Z = {0, 0, 0};
	uint64_t pos;
	size_t i;
	int rc;

	(void)state;
	/* Before position 10: /a (A=2), /b (B=3). The changelog after 10:
	 *   11 mv /a /b/a      12 mv /b/a /a      13 mv /b /a/b
	 *   14 mkdir /a/b/n    15 mv /a/b/n /m    16 mkdir /t  17 rmdir /t
	 * The walk ran after all of them: /a, /a/b, /m. */
	recs[0] = RN(11, F(2), ROOT, "a", Z, F(3), "a");
	recs[1] = RN(12, F(2), F(3), "a", Z, ROOT, "a");
	recs[2] = RN(13, F(3), ROOT, "b", Z, F(2), "b");
	recs[3] = R(14, LOAFRE_CL_MKDIR, F(4), F(3), "n");
	recs[4] = RN(15, F(4), F(3), "n", Z, ROOT, "m");
	recs[5] = R(16, LOAFRE_CL_MKDIR, F(5), ROOT, "t");
	recs[6] = R(17, LOAFRE_CL_RMDIR, F(5), ROOT, "t");
	assert_int_equal(loafre__paths_bulk_begin(p), 0);
	assert_int_equal(loafre__paths_bulk_add(p, &(struct loafre_fid){SEQ, 3, 0},
						&(struct loafre_fid){SEQ, 2, 0}, "b", 1),
			 0);
	assert_int_equal(loafre__paths_bulk_add(p, &(struct loafre_fid){SEQ, 2, 0}, &ROOT, "a", 1),
			 0);
	assert_int_equal(loafre__paths_bulk_add(p, &(struct loafre_fid){SEQ, 4, 0}, &ROOT, "m", 1),
			 0);
	assert_int_equal(loafre__paths_bulk_end(p, "fs-MDT0000", 10), 0);
	assert_int_equal(loafre__paths_get_position(p, "fs-MDT0000", &pos), 0);
	assert_int_equal(pos, 10);
	/* records at or below the walk's position are skipped */
	{
		struct loafre_rec old = R(9, LOAFRE_CL_RMDIR, F(2), ROOT, "a");

		assert_int_equal(loafre__paths_apply(p, "fs-MDT0000", &old), 1);
		assert_dir(p, F(2), "/a");
	}
	/* replay: 11 makes a cycle (the walk has B under A; 11 puts A under B):
	 * annotating 12 gives -ELOOP for its spath, never a hang */
	assert_int_equal(loafre__paths_apply(p, "fs-MDT0000", &recs[0]), 0);
	rc = loafre__paths_annotate(p, &recs[1], &a);
	assert_int_equal(rc, -ELOOP);
	assert_null(a.spath);
	assert_non_null(a.path);
	assert_string_equal(a.path, "/a");
	for (i = 1; i < 7; i++) {
		(void)loafre__paths_annotate(p, &recs[i], &a);
		assert_int_equal(loafre__paths_apply(p, "fs-MDT0000", &recs[i]), 0);
	}
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	/* converged to the walk's state */
	assert_dir(p, F(2), "/a");
	assert_dir(p, F(3), "/a/b");
	assert_dir(p, F(4), "/m");
	assert_dir(p, F(5), NULL);
	assert_int_equal(loafre__paths_get_position(p, "fs-MDT0000", &pos), 0);
	assert_int_equal(pos, 17);
	/* delivered again (at least once): all skipped, nothing changes */
	for (i = 0; i < 7; i++)
		assert_int_equal(loafre__paths_apply(p, "fs-MDT0000", &recs[i]), 1);
	assert_dir(p, F(3), "/a/b");
	/* applying the same records again without the position check (a second
	 * replay) converges to the same state too */
	for (i = 0; i < 7; i++)
		assert_int_equal(loafre__paths_apply(p, NULL, &recs[i]), 0);
	assert_dir(p, F(2), "/a");
	assert_dir(p, F(3), "/a/b");
	assert_dir(p, F(4), "/m");
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	loafre__paths_close(p);
}

/* ---- persistence, rollback --------------------------------------------------------- */

static void test_persistence(void **state)
{
	struct loafre__paths *p = open_new();
	struct loafre_rec r;
	struct loafre_fid root;
	uint64_t pos;
	int rc;

	(void)state;
	r = R(5, LOAFRE_CL_MKDIR, F(2), ROOT, "kept");
	assert_int_equal(loafre__paths_apply(p, "m0", &r), 0);
	r = R(6, LOAFRE_CL_MKDIR, F(3), F(2), "sub");
	assert_int_equal(loafre__paths_apply(p, "m0", &r), 0);
	assert_int_equal(loafre__paths_commit(p, "m1", 44), 0);
	/* not committed: lost at close */
	r = R(7, LOAFRE_CL_MKDIR, F(4), ROOT, "lost");
	assert_int_equal(loafre__paths_apply(p, "m0", &r), 0);
	assert_dir(p, F(4), "/lost");
	loafre__paths_close(p);

	assert_int_equal(loafre__paths_open(dbpath, 0, &p), 0);
	assert_int_equal(loafre__paths_get_root(p, &root), 0);
	assert_true(loafre_fid_equal(&root, &ROOT));
	assert_int_equal(loafre__paths_set_root(p, &ROOT), 0);
	assert_int_equal(loafre__paths_set_root(p, &(struct loafre_fid){SEQ, 9, 0}), -EEXIST);
	assert_dir(p, F(3), "/kept/sub");
	assert_null(dirpath(p, F(4), &rc));
	assert_int_equal(loafre__paths_get_position(p, "m0", &pos), 0);
	assert_int_equal(pos, 6);
	assert_int_equal(loafre__paths_get_position(p, "m1", &pos), 0);
	assert_int_equal(pos, 44);
	assert_int_equal(loafre__paths_get_position(p, "m2", &pos), 0);
	assert_int_equal(pos, 0);
	/* rollback: the map and the positions as committed */
	r = R(7, LOAFRE_CL_RMDIR, F(2), ROOT, "kept");
	assert_int_equal(loafre__paths_apply(p, "m0", &r), 0);
	assert_int_equal(loafre__paths_get_position(p, "m0", &pos), 0);
	assert_int_equal(pos, 7);
	assert_int_equal(loafre__paths_rollback(p), 0);
	assert_dir(p, F(3), "/kept/sub");
	assert_int_equal(loafre__paths_get_position(p, "m0", &pos), 0);
	assert_int_equal(pos, 6);
	loafre__paths_close(p);

	/* another SQLite file: refused, untouched */
	{
		sqlite3 *db;
		char other[160];

		snprintf(other, sizeof(other), "%s/other.db", tmpdir);
		assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		assert_int_equal(loafre__paths_open(other, LOAFRE__PATHS_CREATE, &p), -EPROTO);
		unlink(other);
		snprintf(other, sizeof(other), "%s/none.db", tmpdir);
		assert_int_equal(loafre__paths_open(other, 0, &p), -ENOENT);
	}
	loafre__paths_close(NULL);
}

/* ---- limits ------------------------------------------------------------------------ */

static void test_limits(void **state)
{
	struct loafre__paths *p = open_new();
	struct loafre_rec r;
	char name[256];
	uint32_t i;
	uint64_t n;
	int rc;

	(void)state;
	/* 255-byte names: the 16th level is longer than PATH_MAX */
	memset(name, 'n', 255);
	name[255] = '\0';
	for (i = 0; i < 17; i++) {
		r = R(i + 1, LOAFRE_CL_MKDIR, F(10 + i), i ? F(10 + i - 1) : ROOT, name);
		assert_int_equal(loafre__paths_apply(p, NULL, &r), 0);
	}
	assert_non_null(dirpath(p, F(24), &rc)); /* 15 × 256 = 3840 */
	assert_int_equal(rc, 0);
	assert_null(dirpath(p, F(26), &rc));
	assert_int_equal(rc, -ENAMETOOLONG);
	r = R(100, LOAFRE_CL_CREATE, F(500), F(24), name); /* 4096 with the name */
	{
		struct loafre__paths_ann a;

		assert_int_equal(loafre__paths_annotate(p, &r, &a), -ENAMETOOLONG);
		assert_null(a.path);
		r.name = "short";
		r.namelen = 5;
		assert_int_equal(loafre__paths_annotate(p, &r, &a), 0);
		assert_int_equal(a.pathlen, 15 * 256 + 6);
	}
	/* a cycle from corrupt data: -ELOOP, never a hang; gc removes it */
	assert_int_equal(loafre__paths_bulk_add(p, &(struct loafre_fid){SEQ, 40, 0},
						&(struct loafre_fid){SEQ, 41, 0}, "x", 1),
			 0);
	assert_int_equal(loafre__paths_bulk_add(p, &(struct loafre_fid){SEQ, 41, 0},
						&(struct loafre_fid){SEQ, 40, 0}, "y", 1),
			 0);
	assert_null(dirpath(p, F(40), &rc));
	assert_int_equal(rc, -ELOOP);
	/* a chain deeper than 4096 is -ELOOP too */
	for (i = 0; i < 4100; i++) {
		r = R(200 + i, LOAFRE_CL_MKDIR, F(10000 + i), i ? F(10000 + i - 1) : ROOT, "d");
		assert_int_equal(loafre__paths_apply(p, NULL, &r), 0);
	}
	assert_null(dirpath(p, F(10000 + 2100), &rc));
	assert_int_equal(rc, -ENAMETOOLONG);
	assert_null(dirpath(p, F(10000 + 4099), &rc));
	assert_int_equal(rc, -ELOOP);
	assert_int_equal(loafre__paths_gc(p, &n), 0);
	assert_int_equal(n, 2 + 4); /* the cycle; levels 4096..4099 */
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	/* MDT names */
	assert_int_equal(loafre__paths_get_position(p, "", &n), -EINVAL);
	memset(name, 'm', 128);
	name[128] = '\0';
	assert_int_equal(loafre__paths_set_position(p, name, 1), -EINVAL);
	assert_int_equal(loafre__paths_set_cache_max(p, 0), -EINVAL);
	loafre__paths_close(p);
}

/* ---- the broker's call: next (annotate + apply + store), restart, prune ---------------- */

static void check_ann(const struct loafre__paths_ann *a, const char *path, const char *spath,
		      bool is_dir)
{
	if (path) {
		assert_non_null(a->path);
		assert_string_equal(a->path, path);
		assert_int_equal(a->pathlen, strlen(path));
	} else {
		assert_null(a->path);
	}
	if (spath) {
		assert_non_null(a->spath);
		assert_string_equal(a->spath, spath);
	} else {
		assert_null(a->spath);
	}
	assert_int_equal(a->is_dir, is_dir);
}

static void test_next_restart(void **state)
{
	struct loafre__paths *p = open_new();
	struct loafre_rec recs[6];
	struct loafre__paths_ann a;
	const struct loafre_fid Z = {0, 0, 0};
	uint64_t pos;

	(void)state;
	recs[0] = R(1, LOAFRE_CL_MKDIR, F(2), ROOT, "a");
	recs[1] = R(2, LOAFRE_CL_CREATE, F(100), F(2), "f");
	recs[2] = RN(3, F(2), ROOT, "a", Z, ROOT, "b");
	recs[3] = R(4, LOAFRE_CL_CREATE, F(101), F(2), "g");
	recs[4] = R(5, LOAFRE_CL_CREATE, F(102), F(55), "lost");
	recs[5] = R(6, LOAFRE_CL_RMDIR, F(2), ROOT, "b");
	assert_int_equal(loafre__paths_next(p, "m", &recs[0], &a), 0);
	check_ann(&a, "/a", NULL, true);
	assert_int_equal(loafre__paths_next(p, "m", &recs[1], &a), 0);
	check_ann(&a, "/a/f", NULL, false);
	assert_int_equal(loafre__paths_next(p, "m", &recs[2], &a), 0);
	check_ann(&a, "/b", "/a", true);
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	assert_int_equal(loafre__paths_next(p, "m", &recs[3], &a), 0);
	check_ann(&a, "/b/g", NULL, false);
	assert_int_equal(loafre__paths_next(p, "m", &recs[4], &a), -ENOENT);
	check_ann(&a, NULL, NULL, false);
	assert_int_equal(loafre__paths_next(p, "m", &recs[5], &a), 0);
	check_ann(&a, "/b", NULL, true);
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	assert_int_equal(loafre__paths_get_position(p, "m", &pos), 0);
	assert_int_equal(pos, 6);
	loafre__paths_close(p);

	/* restart: the group acked up to 1; records 2.. are read again and get
	 * the annotations as of them, although the map is at 6 (a is gone) */
	assert_int_equal(loafre__paths_open(dbpath, 0, &p), 0);
	assert_int_equal(loafre__paths_prune(p, "m", 1), 0);
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	assert_int_equal(loafre__paths_next(p, "m", &recs[0], &a), -ENODATA);
	assert_int_equal(loafre__paths_next(p, "m", &recs[1], &a), 0);
	check_ann(&a, "/a/f", NULL, false);
	assert_int_equal(loafre__paths_next(p, "m", &recs[2], &a), 0);
	check_ann(&a, "/b", "/a", true);
	assert_int_equal(loafre__paths_next(p, "m", &recs[3], &a), 0);
	check_ann(&a, "/b/g", NULL, false);
	assert_int_equal(loafre__paths_next(p, "m", &recs[4], &a), -ENOENT);
	check_ann(&a, NULL, NULL, false);
	assert_int_equal(loafre__paths_next(p, "m", &recs[5], &a), 0);
	check_ann(&a, "/b", NULL, true);
	/* the map itself is at 6 */
	assert_dir(p, F(2), NULL);
	/* an old record never stored (below a walk): -ENODATA */
	assert_int_equal(loafre__paths_prune(p, "m", 6), 0);
	assert_int_equal(loafre__paths_next(p, "m", &recs[5], &a), -ENODATA);
	assert_null(a.path);
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	/* a walk forgets the stored annotations */
	assert_int_equal(loafre__paths_next(p, "m", &(struct loafre_rec){.index = 7,
									 .type = LOAFRE_CL_MARK},
					    &a),
			 0);
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	assert_int_equal(loafre__paths_bulk_begin(p), 0);
	assert_int_equal(loafre__paths_bulk_end(p, "m", 7), 0);
	assert_int_equal(loafre__paths_next(p, "m", &(struct loafre_rec){.index = 7,
									 .type = LOAFRE_CL_MARK},
					    &a),
			 -ENODATA);
	loafre__paths_close(p);
}

/* ---- property test: a random model of directory operations ---------------------------- */

#define MAXD 8192

struct model {
	int parent[MAXD];   /* -1: the root; -2: none */
	char name[MAXD][8]; /* its name */
	bool alive[MAXD];   /* in the tree */
	int n;              /* directories allocated (0 is the root) */
	uint64_t stale;     /* entries under directories moved out */
	/* what the run exercised (each must happen: the test checks it) */
	unsigned nmkdir, nrename, nover, nrmdir, nout, nfile, nattr;
	unsigned maxdepth;  /* deepest directory renamed with its subtree */
};

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static struct loafre_fid MF(int i)
{
	return i == 0 ? ROOT : F((uint32_t)i + 1);
}

static void mpath(const struct model *m, int d, char *out)
{
	int chain[MAXD], n = 0;

	out[0] = '\0';
	for (; d != 0; d = m->parent[d])
		chain[n++] = d;
	if (n == 0) {
		strcpy(out, "/");
		return;
	}
	while (n-- > 0) {
		strcat(out, "/");
		strcat(out, m->name[chain[n]]);
	}
}

static int child_named(const struct model *m, int par, const char *name)
{
	int i;

	for (i = 1; i < m->n; i++)
		if (m->alive[i] && m->parent[i] == par && strcmp(m->name[i], name) == 0)
			return i;
	return -1;
}

static bool has_children(const struct model *m, int d)
{
	int i;

	for (i = 1; i < m->n; i++)
		if (m->alive[i] && m->parent[i] == d)
			return true;
	return false;
}

static bool is_under(const struct model *m, int d, int anc)
{
	for (; d != 0; d = m->parent[d])
		if (d == anc)
			return true;
	return anc == 0;
}

/* A random live directory (not the root unless root_ok), or -1. */
static int pick_alive(const struct model *m, bool root_ok)
{
	int t, i;

	for (t = 0; t < 64; t++) {
		i = (int)rnd((uint32_t)m->n);
		if (m->alive[i] && (root_ok || i != 0))
			return i;
	}
	for (i = root_ok ? 0 : 1; i < m->n; i++)
		if (m->alive[i])
			return i;
	return -1;
}

static void kill_subtree(struct model *m, int d)
{
	int i;

	m->alive[d] = false;
	for (i = 1; i < m->n; i++)
		if (m->alive[i] && m->parent[i] == d) {
			m->stale++;
			kill_subtree(m, i);
		}
}

static void property(uint64_t seed, int nops, size_t cache_max)
{
	static struct model m;
	static char want[PATH_MAX], wants[PATH_MAX];
	struct loafre__paths *p = open_new();
	const struct loafre_fid Z = {0, 0, 0};
	uint64_t idx = 0, cnt, removed;
	uint32_t file = 100000;
	int op, i, alive_dirs = 0;

	if (cache_max)
		assert_int_equal(loafre__paths_set_cache_max(p, cache_max), 0);
	memset(&m, 0, sizeof(m));
	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	m.n = 1;
	m.alive[0] = true;
	m.parent[0] = -1;
	for (op = 0; op < nops; op++) {
		struct loafre_rec r;
		char nm[8], sname[8];
		int k = (int)rnd(100), d, par, victim;
		bool want_dir = true;
		const char *ws = NULL;

		snprintf(nm, sizeof(nm), "d%u", rnd(6));
		memset(&r, 0, sizeof(r));
		if (k < 35 && m.n < MAXD) { /* mkdir */
			par = pick_alive(&m, true);
			if (child_named(&m, par, nm) >= 0)
				continue;
			d = m.n++;
			r = R(++idx, LOAFRE_CL_MKDIR, MF(d), MF(par), nm);
			mpath(&m, par, want);
			strcat(want, want[1] ? "/" : "");
			strcat(want, nm);
			step(p, &r, 0, want, NULL, true);
			m.parent[d] = par;
			strcpy(m.name[d], nm);
			m.alive[d] = true;
			m.nmkdir++;
		} else if (k < 60) { /* rename a directory */
			if (m.n < 2)
				continue;
			d = pick_alive(&m, false);
			par = pick_alive(&m, true);
			if (d < 0 || is_under(&m, par, d)) /* into itself or below */
				continue;
			victim = child_named(&m, par, nm);
			if (victim == d)
				continue;
			if (victim >= 0 && has_children(&m, victim))
				continue;
			strcpy(sname, m.name[d]);
			r = RN(++idx, MF(d), MF(m.parent[d]), sname, victim >= 0 ? MF(victim) : Z,
			       MF(par), nm);
			mpath(&m, d, wants);
			mpath(&m, par, want);
			strcat(want, want[1] ? "/" : "");
			strcat(want, nm);
			ws = wants;
			step(p, &r, 0, want, ws, true);
			if (victim >= 0) {
				m.alive[victim] = false;
				m.nover++;
			}
			m.nrename++;
			{
				unsigned dep = 0;
				int j;

				for (j = 1; j < m.n; j++)
					if (m.alive[j] && j != d && is_under(&m, j, d)) {
						unsigned dd = 0;
						int q;

						for (q = j; q != d; q = m.parent[q])
							dd++;
						if (dd > dep)
							dep = dd;
					}
				if (dep > m.maxdepth)
					m.maxdepth = dep;
			}
			m.parent[d] = par;
			strcpy(m.name[d], nm);
		} else if (k < 72) { /* rmdir an empty directory */
			d = pick_alive(&m, false);
			if (d < 0 || has_children(&m, d))
				continue;
			r = R(++idx, LOAFRE_CL_RMDIR, MF(d), MF(m.parent[d]), m.name[d]);
			mpath(&m, d, want);
			step(p, &r, 0, want, NULL, true);
			m.alive[d] = false;
			m.nrmdir++;
		} else if (k < 74) { /* move a directory out of the tree */
			d = pick_alive(&m, false);
			if (d < 0)
				continue;
			r = RN(++idx, MF(d), MF(m.parent[d]), m.name[d], Z, F(7777777), "away");
			mpath(&m, d, wants);
			step(p, &r, -ENOENT, NULL, wants, true);
			kill_subtree(&m, d);
			m.nout++;
		} else if (k < 88) { /* a file created in a directory */
			par = pick_alive(&m, true);
			snprintf(nm, sizeof(nm), "f%u", rnd(1000));
			r = R(++idx, LOAFRE_CL_CREATE, F(++file), MF(par), nm);
			mpath(&m, par, want);
			strcat(want, want[1] ? "/" : "");
			strcat(want, nm);
			step(p, &r, 0, want, NULL, false);
			m.nfile++;
		} else { /* attributes of a directory */
			d = pick_alive(&m, true);
			r = R(++idx, LOAFRE_CL_SETATTR, MF(d), Z, NULL);
			mpath(&m, d, want);
			step(p, &r, 0, want, NULL, true);
			m.nattr++;
		}
		(void)want_dir;
		if (rnd(50) == 0)
			assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
		if (rnd(400) == 0) { /* persistence in the middle */
			assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
			loafre__paths_close(p);
			assert_int_equal(loafre__paths_open(dbpath, 0, &p), 0);
			if (cache_max)
				assert_int_equal(loafre__paths_set_cache_max(p, cache_max), 0);
		}
	}
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	if (getenv("LOAFRE_TEST_VERBOSE"))
		print_message("seed %llu: %u mkdir, %u rename (%u over a directory, subtree depth "
			      "up to %u), %u rmdir, %u out (%llu stale), %u files, %u attrs, %llu "
			      "records\n",
			      (unsigned long long)seed, m.nmkdir, m.nrename, m.nover, m.maxdepth,
			      m.nrmdir, m.nout, (unsigned long long)m.stale, m.nfile, m.nattr,
			      (unsigned long long)idx);
	assert_true(m.nmkdir > 100 && m.nrename > 100 && m.nover > 0 && m.nrmdir > 10);
	assert_true(m.nout > 0 && m.nfile > 100 && m.nattr > 100 && m.maxdepth >= 3);
	/* every live directory's path, then gc removes exactly the stale ones */
	for (i = 1; i < m.n; i++) {
		if (!m.alive[i])
			continue;
		alive_dirs++;
		mpath(&m, i, want);
		assert_dir(p, MF(i), want);
	}
	assert_int_equal(loafre__paths_count(p, &cnt), 0);
	assert_int_equal(cnt, (uint64_t)alive_dirs + m.stale);
	assert_int_equal(loafre__paths_gc(p, &removed), 0);
	assert_int_equal(removed, m.stale);
	assert_int_equal(loafre__paths_commit(p, NULL, 0), 0);
	assert_int_equal(loafre__paths_count(p, &cnt), 0);
	assert_int_equal(cnt, (uint64_t)alive_dirs);
	loafre__paths_close(p);
	teardown(NULL);
	assert_int_equal(setup(NULL), 0);
}

static void test_property(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 4; seed++)
		property(seed, 5000, 0);
}

/* the same with a cache of 3 entries: every resolution evicts */
static void test_property_small_cache(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 11; seed <= 13; seed++)
		property(seed, 2000, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_over_and_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_over_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_property, setup, teardown),
		cmocka_unit_test_setup_teardown(test_property_small_cache, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
