/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_broker_paths.c — the broker's paths groups (lib/broker_paths.h):
 * the walk that loads a map from a real temp tree (directories only, FIDs
 * from file handles as loafred's local MDT makes them, positions P, a
 * symlink to a directory not followed, a root that cannot be opened
 * leaving the map as it was), the same walk in its thread, and the
 * annotation a slot keeps (paths, errors, the DIR / VICTIM_DIR / BARRIER
 * flags of decision 2).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker_paths.h"
#include "localfs_internal.h"
#include "loafre/consumer.h"
#include "repl_paths.h"

static char tmpdir[64], tree[128], dbpath[128];

static void mk(const char *rel, bool dir)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	if (dir) {
		assert_int_equal(mkdir(p, 0755), 0);
	} else {
		int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
}

/* The FID loafred's local MDT gives tree/rel. */
static struct loafre_fid fid_of(const char *rel)
{
	struct loafre_fid f;
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	assert_int_equal(loafre__lfs_lookup(AT_FDCWD, p, &f, NULL), 0);
	return f;
}

static int setup(void **state)
{
	char p[256];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/loafre-bpaths-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(tree, sizeof(tree), "%s/tree", tmpdir);
	snprintf(dbpath, sizeof(dbpath), "%s/g.paths", tmpdir);
	assert_int_equal(mkdir(tree, 0755), 0);
	mk("a", true);
	mk("a/b", true);
	mk("a/b/c", true);
	mk("d", true);
	mk("f", false);
	mk("a/g", false);
	mk("a/b/h", false);
	snprintf(p, sizeof(p), "%s/l", tree);
	assert_int_equal(symlink("a", p), 0); /* a symlink to a directory: not one */
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct loafre_rec rec(enum loafre_cl_type t, uint64_t index)
{
	struct loafre_rec r;

	memset(&r, 0, sizeof(r));
	r.type = t;
	r.index = index;
	return r;
}

/* The RENME (index index) of src, named sname in sparent, to name in
 * parent (paths relative to the tree; parent NULL: the caller sets pfid). */
static struct loafre_rec rename_rec(uint64_t index, const char *src, const char *sparent,
				    const char *sname, const char *parent, const char *name)
{
	struct loafre_rec r = rec(LOAFRE_CL_RENAME, index);

	r.flags = LOAFRE_CLF_RENAME;
	r.sfid = fid_of(src);
	r.spfid = fid_of(sparent);
	r.sname = sname;
	r.snamelen = (uint16_t)strlen(sname);
	if (parent)
		r.pfid = fid_of(parent);
	r.name = name;
	r.namelen = (uint16_t)strlen(name);
	return r;
}

/* The annotation a broker makes of r, the next record of MDT t-MDT0000 in
 * map p; *ret_rc: what loafre__paths_next returned. Freed by the caller. */
static struct loafre__bpann *next_ann(struct loafre__paths *p, const struct loafre_rec *r,
				      int *ret_rc)
{
	struct loafre__paths_ann a;
	struct loafre__bpann *o;
	int rc = loafre__paths_next(p, "t-MDT0000", r, &a);

	o = loafre__bpann_make(r, rc, &a);
	assert_non_null(o);
	*ret_rc = rc;
	return o;
}

static void check_map(struct loafre__paths *p)
{
	struct loafre__paths_ann a;
	struct loafre_rec r = rec(LOAFRE_CL_CREATE, 8);
	struct loafre_fid root;
	uint64_t n = 0, pos = 0;

	assert_int_equal(loafre__paths_count(p, &n), 0);
	assert_int_equal(n, 4); /* a, a/b, a/b/c, d */
	assert_int_equal(loafre__paths_get_root(p, &root), 0);
	{
		struct loafre_fid want = fid_of(".");
		assert_true(loafre_fid_equal(&root, &want));
	}
	assert_int_equal(loafre__paths_get_position(p, "t-MDT0000", &pos), 0);
	assert_int_equal(pos, 7);
	assert_int_equal(loafre__paths_get_position(p, "t-MDT0001", &pos), 0);
	assert_int_equal(pos, 9);
	/* a file created in a/b/c: its path through the walked FIDs */
	r.pfid = fid_of("a/b/c");
	r.tfid.f_seq = 0x7777;
	r.tfid.f_oid = 1;
	r.name = "x";
	r.namelen = 1;
	assert_int_equal(loafre__paths_annotate(p, &r, &a), 0);
	assert_string_equal(a.path, "/a/b/c/x");
	/* the symlink is not a directory of the map */
	r.pfid = fid_of("l");
	assert_int_equal(loafre__paths_annotate(p, &r, &a), -ENOENT);
}

static void test_walk(void **state)
{
	const char *mdts[2] = {"t-MDT0000", "t-MDT0001"};
	uint64_t pos[2] = {7, 9};
	struct loafre__pwalk_stats st;
	struct loafre__paths *p = NULL;
	char bad[160];

	assert_int_equal(loafre__paths_open(dbpath, LOAFRE__PATHS_CREATE, &p), 0);
	assert_int_equal(loafre__paths_walk(p, tree, LOAFRE_FS_LOCAL, mdts, pos, 2, &st), 0);
	assert_int_equal(st.dirs, 4);
	assert_int_equal(st.skipped, 0);
	assert_true(st.entries >= 8); /* every entry read, files and the link too */
	check_map(p);
	/* a root that cannot be opened: an error, the map as it was */
	snprintf(bad, sizeof(bad), "%s/nosuch", tmpdir);
	assert_int_equal(loafre__paths_walk(p, bad, LOAFRE_FS_LOCAL, mdts, pos, 2, &st), -ENOENT);
	check_map(p);
	assert_int_equal(loafre__paths_walk(p, tree, LOAFRE_FS_LOCAL, mdts, pos, 0, &st), -EINVAL);
	loafre__paths_close(p);
	/* persisted: opened again without CREATE */
	assert_int_equal(loafre__paths_open(dbpath, 0, &p), 0);
	check_map(p);
	loafre__paths_close(p);
}

static void test_build_thread(void **state)
{
	const char *mdts[2] = {"t-MDT0000", "t-MDT0001"};
	uint64_t pos[2] = {7, 9};
	struct loafre__pwalk_stats st;
	struct loafre__pbuild *b = NULL;
	struct loafre__paths *p = NULL;
	char path2[160];

	snprintf(path2, sizeof(path2), "%s/t.paths", tmpdir);
	assert_int_equal(loafre__paths_open(path2, LOAFRE__PATHS_CREATE, &p), 0);
	assert_int_equal(loafre__pbuild_start(p, tree, LOAFRE_FS_LOCAL, mdts, pos, 2, &b), 0);
	while (!loafre__pbuild_done(b))
		usleep(1000);
	assert_int_equal(loafre__pbuild_finish(b, &st), 0);
	assert_int_equal(st.dirs, 4);
	check_map(p);
	assert_int_equal(loafre__pbuild_finish(NULL, NULL), 0);
	loafre__paths_close(p);
}

static void test_annotations(void **state)
{
	const char *mdts[1] = {"t-MDT0000"};
	uint64_t pos[1] = {0};
	struct loafre__paths *p = NULL;
	struct loafre__bpann *o;
	struct loafre_rec r;
	char path3[160];
	int rc;

	snprintf(path3, sizeof(path3), "%s/n.paths", tmpdir);
	assert_int_equal(loafre__paths_open(path3, LOAFRE__PATHS_CREATE, &p), 0);
	assert_int_equal(loafre__paths_walk(p, tree, LOAFRE_FS_LOCAL, mdts, pos, 1, NULL), 0);

	/* a file's CLOSE: no name, no path: -ENODATA, no flag */
	r = rec(LOAFRE_CL_CLOSE, 1);
	r.tfid = fid_of("f");
	o = next_ann(p, &r, &rc);
	assert_int_equal(o->flags, 0);
	assert_int_equal(o->path_err, -ENODATA);
	assert_int_equal(o->spath_err, 0);
	assert_int_equal(o->path_len, 0);
	free(o);

	/* a file renamed from a/g to d/g2: paths, not a barrier */
	r = rename_rec(2, "a/g", "a", "g", "d", "g2");
	o = next_ann(p, &r, &rc);
	assert_int_equal(o->flags, 0);
	assert_int_equal(o->path_err, 0);
	assert_int_equal(o->path_len, 5);
	assert_memory_equal(o->s, "/d/g2", 5);
	assert_int_equal(o->spath_len, 4);
	assert_memory_equal(o->s + o->path_len, "/a/g", 4);
	free(o);

	/* directory a renamed to d/a2: DIR | BARRIER, and the map follows */
	r = rename_rec(3, "a", ".", "a", "d", "a2");
	o = next_ann(p, &r, &rc);
	assert_int_equal(o->flags, LOAFRE_RP_DIR | LOAFRE_RP_BARRIER);
	assert_int_equal(o->path_len, 5);
	assert_memory_equal(o->s, "/d/a2", 5);
	assert_memory_equal(o->s + o->path_len, "/a", 2);
	free(o);

	/* a file created in a/b afterwards: the new name */
	r = rec(LOAFRE_CL_CREATE, 4);
	r.pfid = fid_of("a/b");
	r.tfid.f_seq = 0x9999;
	r.tfid.f_oid = 1;
	r.name = "n";
	r.namelen = 1;
	o = next_ann(p, &r, &rc);
	assert_int_equal(o->flags, 0);
	assert_int_equal(o->path_len, 9);
	assert_memory_equal(o->s, "/d/a2/b/n", 9);
	free(o);

	/* a file renamed over directory c (a victim that is a directory) */
	r = rename_rec(5, "f", ".", "f", "a/b", "c");
	r.tfid = fid_of("a/b/c");
	o = next_ann(p, &r, &rc);
	assert_int_equal(o->flags, LOAFRE_RP_VICTIM_DIR | LOAFRE_RP_BARRIER);
	free(o);

	/* a parent the map does not know: -ENOENT for that path only */
	r = rename_rec(6, "a/b/h", "a/b", "h", NULL, "h");
	r.pfid.f_seq = 0x5555;
	r.pfid.f_oid = 5;
	o = next_ann(p, &r, &rc);
	assert_int_equal(rc, -ENOENT);
	assert_int_equal(o->path_err, -ENOENT);
	assert_int_equal(o->path_len, 0);
	assert_int_equal(o->spath_err, 0);
	assert_int_equal(o->spath_len, 9);
	assert_memory_equal(o->s, "/d/a2/b/h", 9);
	free(o);

	/* RMDIR: a barrier */
	r = rec(LOAFRE_CL_RMDIR, 7);
	r.tfid = fid_of("d");
	r.pfid = fid_of(".");
	r.name = "d";
	r.namelen = 1;
	o = next_ann(p, &r, &rc);
	assert_int_equal(o->flags, LOAFRE_RP_DIR | LOAFRE_RP_BARRIER);
	assert_memory_equal(o->s, "/d", 2);
	free(o);

	/* no annotation at all (pruned): both errors, a RENME's spath too */
	r = rec(LOAFRE_CL_RENAME, 8);
	r.flags = LOAFRE_CLF_RENAME;
	r.sfid = fid_of("a/b/h");
	o = loafre__bpann_make(&r, -ENODATA, NULL);
	assert_non_null(o);
	assert_int_equal(o->path_err, -ENODATA);
	assert_int_equal(o->spath_err, -ENODATA);
	assert_int_equal(o->flags, 0);
	free(o);
	r = rec(LOAFRE_CL_RMDIR, 9);
	o = loafre__bpann_make(&r, -ENODATA, NULL);
	assert_non_null(o);
	assert_int_equal(o->flags, LOAFRE_RP_BARRIER); /* RMDIR is one whatever the map knows */
	free(o);

	o = loafre__bpann_error(-EXDEV);
	assert_non_null(o);
	assert_int_equal(o->path_err, -EXDEV);
	assert_int_equal(o->flags, 0);
	assert_int_equal(o->path_len + o->spath_len, 0);
	free(o);
	loafre__paths_rollback(p);
	loafre__paths_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_build_thread),
		cmocka_unit_test(test_annotations),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
