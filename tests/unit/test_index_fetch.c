/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_index_fetch.c — lib/index_fetch.c on real temp trees: attributes by
 * FID compared with lstat, symlink targets, hard links, removed objects
 * (gone), many FIDs through the worker pool, paths ↔ FIDs, path hints, and
 * the Lustre flavour on a directory laid out like a client mount's
 * .lustre/fid.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "index_fetch.h"
#include "localfs_internal.h"

struct ctx {
	char base[64];   /* temp dir */
	char tree[128];  /* the fetcher's root */
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void pathof(const struct ctx *c, char *buf, const char *rel)
{
	snprintf(buf, PATH_MAX, "%s/%s", c->tree, rel);
}

/* The FID `loafre path2fid` gives: name_to_handle_at + localfs_fid.c. */
static void fid_of(const char *path, struct loafre_fid *ret)
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

static void write_file(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	char buf[4096];

	assert_true(fd >= 0);
	memset(buf, 'x', sizeof(buf));
	while (size) {
		size_t n = size < sizeof(buf) ? size : sizeof(buf);
		assert_int_equal(write(fd, buf, n), (ssize_t)n);
		size -= n;
	}
	close(fd);
}

static void expect_attr(const struct loafre__idx_attr *a, const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(a->mode, st.st_mode);
	assert_int_equal(a->uid, st.st_uid);
	assert_int_equal(a->gid, st.st_gid);
	assert_int_equal(a->size, (uint64_t)st.st_size);
	assert_int_equal(a->blocks, (uint64_t)st.st_blocks);
	assert_int_equal(a->nlink, (uint64_t)st.st_nlink);
	assert_int_equal(a->ino, (uint64_t)st.st_ino);
	assert_int_equal(a->dev, (uint64_t)st.st_dev);
	assert_int_equal(a->mtime_ns, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	assert_int_equal(a->ctime_ns, (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	strcpy(c->base, "/tmp/loafre-fetch-XXXXXX");
	if (!mkdtemp(c->base))
		return -1;
	snprintf(c->tree, sizeof(c->tree), "%s/tree", c->base);
	if (mkdir(c->tree, 0755) < 0)
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	nftw(c->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

static void test_local_objects(void **state)
{
	struct ctx *c = *state;
	char p[PATH_MAX], q[PATH_MAX];
	struct loafre_fid fids[6];
	struct loafre__fetch_result res[6];
	struct loafre__fetch *f;

	pathof(c, p, "dir");
	assert_int_equal(mkdir(p, 0750), 0);
	pathof(c, p, "dir/file");
	write_file(p, 10000);
	pathof(c, q, "hard");
	assert_int_equal(link(p, q), 0);
	pathof(c, p, "sym");
	assert_int_equal(symlink("dir/file", p), 0);
	pathof(c, p, "removed");
	write_file(p, 1);

	pathof(c, p, "dir");
	fid_of(p, &fids[0]);
	pathof(c, p, "dir/file");
	fid_of(p, &fids[1]);
	pathof(c, p, "hard");
	fid_of(p, &fids[2]);
	pathof(c, p, "sym");
	fid_of(p, &fids[3]);
	pathof(c, p, "removed");
	fid_of(p, &fids[4]);
	assert_int_equal(unlink(p), 0);
	fid_of(c->tree, &fids[5]);
	assert_true(loafre_fid_equal(&fids[1], &fids[2])); /* one object, two links */

	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, 2, 0, &f), 0);
	assert_true(loafre_fid_equal(loafre__fetch_root_fid(f), &fids[5]));
	assert_int_equal(loafre__fetch_many(f, fids, 6, res), 0);

	pathof(c, p, "dir");
	assert_int_equal(res[0].status, 0);
	expect_attr(&res[0].attr, p);
	assert_true(S_ISDIR(res[0].attr.mode));
	assert_null(res[0].attr.symlink);
	pathof(c, p, "dir/file");
	assert_int_equal(res[1].status, 0);
	expect_attr(&res[1].attr, p);
	assert_int_equal(res[1].attr.size, 10000);
	assert_int_equal(res[1].attr.nlink, 2);
	assert_int_equal(res[2].status, 0);
	assert_int_equal(res[2].attr.ino, res[1].attr.ino);
	pathof(c, p, "sym");
	assert_int_equal(res[3].status, 0);
	expect_attr(&res[3].attr, p);
	assert_true(S_ISLNK(res[3].attr.mode));
	assert_non_null(res[3].attr.symlink);
	assert_string_equal(res[3].attr.symlink, "dir/file");
	assert_ptr_equal(res[3].attr.symlink, res[3].link);
	assert_int_equal(res[4].status, -ENOENT);
	assert_int_equal(res[5].status, 0);
	expect_attr(&res[5].attr, c->tree);
	loafre__fetch_results_free(res, 6);
	assert_null(res[3].link);

	/* one at a time, in the calling thread */
	assert_int_equal(loafre__fetch_one(f, &fids[3], NULL, &res[0]), 0);
	assert_string_equal(res[0].attr.symlink, "dir/file");
	loafre__fetch_results_free(res, 1);
	assert_int_equal(loafre__fetch_one(f, &fids[4], NULL, &res[0]), -ENOENT);
	/* the zero FID names nothing */
	memset(&fids[0], 0, sizeof(fids[0]));
	assert_int_equal(loafre__fetch_one(f, &fids[0], NULL, &res[0]), -EINVAL);
	loafre__fetch_close(f);
}

/* An unlinked file that is still open has a link count of 0: gone. */
static void test_open_unlinked_is_gone(void **state)
{
	struct ctx *c = *state;
	struct loafre__fetch_result res;
	struct loafre__fetch *f;
	struct loafre_fid fid;
	char p[PATH_MAX];
	int fd;

	pathof(c, p, "held");
	write_file(p, 100);
	fid_of(p, &fid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, 1, 0, &f), 0);
	assert_int_equal(loafre__fetch_one(f, &fid, NULL, &res), 0);
	loafre__fetch_results_free(&res, 1);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(loafre__fetch_one(f, &fid, NULL, &res), -ENOENT);
	close(fd);
	loafre__fetch_close(f);
}

/* Many FIDs through the pool: each result is its own object's. */
static void test_many_through_pool(void **state)
{
	struct ctx *c = *state;
	enum { N = 1500 };
	struct loafre_fid *fids = calloc(N, sizeof(*fids));
	struct loafre__fetch_result *res = calloc(N, sizeof(*res));
	struct loafre__fetch *f;
	char p[PATH_MAX];

	assert_non_null(fids);
	assert_non_null(res);
	for (int i = 0; i < N; i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "f%04d", i);
		pathof(c, p, rel);
		if (i % 7 == 3) {
			snprintf(rel, sizeof(rel), "target-%d", i);
			assert_int_equal(symlink(rel, p), 0);
		} else {
			write_file(p, (size_t)i);
		}
		fid_of(p, &fids[i]);
		if (i % 11 == 5)
			assert_int_equal(unlink(p), 0);
	}
	for (unsigned threads = 1; threads <= 8; threads *= 8) {
		assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, threads, 0, &f), 0);
		for (int round = 0; round < 3; round++) {
			assert_int_equal(loafre__fetch_many(f, fids, N, res), 0);
			for (int i = 0; i < N; i++) {
				if (i % 11 == 5) {
					assert_int_equal(res[i].status, -ENOENT);
					assert_null(res[i].link);
				} else if (i % 7 == 3) {
					char want[64];
					snprintf(want, sizeof(want), "target-%d", i);
					assert_int_equal(res[i].status, 0);
					assert_string_equal(res[i].attr.symlink, want);
				} else {
					assert_int_equal(res[i].status, 0);
					assert_int_equal(res[i].attr.size, (uint64_t)i);
					assert_true(S_ISREG(res[i].attr.mode));
				}
			}
			loafre__fetch_results_free(res, N);
		}
		loafre__fetch_close(f);
	}
	free(fids);
	free(res);
}

static void test_paths(void **state)
{
	struct ctx *c = *state;
	char p[PATH_MAX], out[PATH_MAX], outside[PATH_MAX];
	struct loafre_fid fid, want, got;
	struct loafre__fetch_result res;
	struct loafre__fetch *f;

	pathof(c, p, "a");
	assert_int_equal(mkdir(p, 0755), 0);
	pathof(c, p, "a/b");
	assert_int_equal(mkdir(p, 0755), 0);
	pathof(c, p, "a/b/leaf");
	write_file(p, 7);
	pathof(c, p, "a/link");
	assert_int_equal(symlink("b", p), 0);
	snprintf(outside, sizeof(outside), "%s/outside", c->base);
	write_file(outside, 3);

	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, 0, 0, &f), 0);
	/* path2fid: the FID of name_to_handle_at; a final symlink is itself */
	pathof(c, p, "a/b/leaf");
	fid_of(p, &want);
	assert_int_equal(loafre__fetch_path2fid(f, p, &fid), 0);
	assert_true(loafre_fid_equal(&fid, &want));
	pathof(c, p, "a/link");
	fid_of(p, &want);
	assert_int_equal(loafre__fetch_path2fid(f, p, &fid), 0);
	assert_true(loafre_fid_equal(&fid, &want));
	pathof(c, p, "nothing");
	assert_int_equal(loafre__fetch_path2fid(f, p, &fid), -ENOENT);

	/* relpath: FID → path relative to the root */
	pathof(c, p, "a/b");
	fid_of(p, &want);
	assert_int_equal(loafre__fetch_relpath(f, &want, out, sizeof(out)), 0);
	assert_string_equal(out, "a/b");
	assert_int_equal(loafre__fetch_relpath(f, &want, out, 3), -ENAMETOOLONG);
	pathof(c, p, "a/b/leaf");
	fid_of(p, &want);
	assert_int_equal(loafre__fetch_relpath(f, &want, out, sizeof(out)), 0);
	assert_string_equal(out, "a/b/leaf");
	assert_int_equal(loafre__fetch_relpath(f, loafre__fetch_root_fid(f), out, sizeof(out)), 0);
	assert_string_equal(out, "");
	fid_of(outside, &want);
	assert_int_equal(loafre__fetch_relpath(f, &want, out, sizeof(out)), -EXDEV);
	pathof(c, p, "a/b/leaf");
	fid_of(p, &want);
	assert_int_equal(loafre__fetch_gone(f, &want), 0);
	{
		/* deleted while open: no name left */
		int keep = open(p, O_RDONLY | O_CLOEXEC);

		assert_true(keep >= 0);
		assert_int_equal(unlink(p), 0);
		assert_int_equal(loafre__fetch_gone(f, &want), 1);
		close(keep);
	}
	assert_int_equal(loafre__fetch_relpath(f, &want, out, sizeof(out)), -ENOENT);
	assert_int_equal(loafre__fetch_gone(f, &want), 1);
	/* gone: not for the living, the root, objects outside the tree; not
	 * knowable for a hashed FID */
	assert_int_equal(loafre__fetch_gone(f, loafre__fetch_root_fid(f)), 0);
	fid_of(outside, &want);
	assert_int_equal(loafre__fetch_gone(f, &want), 0);
	want.f_ver = 0x02000000u;
	assert_int_equal(loafre__fetch_gone(f, &want), -EOPNOTSUPP);

	/* fetch_path: FID and attributes of a relative path */
	pathof(c, p, "a/b");
	fid_of(p, &want);
	assert_int_equal(loafre__fetch_path(f, "a/b", &got, &res), 0);
	assert_true(loafre_fid_equal(&got, &want));
	expect_attr(&res.attr, p);
	loafre__fetch_results_free(&res, 1);
	assert_int_equal(loafre__fetch_path(f, "a/link", &got, &res), 0);
	assert_string_equal(res.attr.symlink, "b");
	loafre__fetch_results_free(&res, 1);
	assert_int_equal(loafre__fetch_path(f, "", &got, &res), 0);
	assert_true(loafre_fid_equal(&got, loafre__fetch_root_fid(f)));
	loafre__fetch_results_free(&res, 1);
	assert_int_equal(loafre__fetch_path(f, "a/none", &got, &res), -ENOENT);
	assert_int_equal(res.status, -ENOENT);
	assert_int_equal(loafre__fetch_path(f, "/abs", &got, &res), -EINVAL);
	loafre__fetch_close(f);
}

/* Path hints: used (and verified) with PREFER_PATHS. */
/* relpath of a file that another thread renames between two directories
 * all the while: the kernel's name of the descriptor can be stale by the
 * time it is checked; that is no "gone" (the object lives). */
struct renamer {
	char a[PATH_MAX], b[PATH_MAX]; /* the file's two paths */
	volatile int stop;             /* set by the test */
};

static void *renamer_main(void *arg)
{
	struct renamer *rn = arg;

	/* a pause after each rename: a lookup asked again finds the name
	 * settled (a storm of renames never pausing could outlast any number
	 * of tries) */
	while (!rn->stop) {
		if (rename(rn->a, rn->b) < 0)
			break;
		usleep(20);
		if (rename(rn->b, rn->a) < 0)
			break;
		usleep(20);
	}
	return NULL;
}

static void test_relpath_renames_racing(void **state)
{
	struct ctx *c = *state;
	struct renamer rn = {0};
	char p[PATH_MAX], out[PATH_MAX];
	struct loafre_fid want;
	struct loafre__fetch *f;
	pthread_t t;
	unsigned failed = 0;

	pathof(c, p, "x");
	assert_int_equal(mkdir(p, 0755), 0);
	pathof(c, p, "y");
	assert_int_equal(mkdir(p, 0755), 0);
	pathof(c, rn.a, "x/f");
	pathof(c, rn.b, "y/f");
	write_file(rn.a, 5);
	fid_of(rn.a, &want);
	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, 0, 0, &f), 0);
	assert_int_equal(pthread_create(&t, NULL, renamer_main, &rn), 0);
	for (int i = 0; i < 20000; i++) {
		int r = loafre__fetch_relpath(f, &want, out, sizeof(out));

		if (r < 0)
			failed++;
		else
			assert_true(strcmp(out, "x/f") == 0 || strcmp(out, "y/f") == 0);
	}
	rn.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(failed, 0);
	loafre__fetch_close(f);
}

static void test_hints(void **state)
{
	struct ctx *c = *state;
	char p[PATH_MAX];
	struct loafre_fid fids[3];
	struct loafre__fetch_result res[3];
	struct loafre__fetch *f;
	const char *hints[3] = { "x", "y", "x" };

	pathof(c, p, "x");
	write_file(p, 11);
	fid_of(p, &fids[0]);
	pathof(c, p, "y");
	write_file(p, 22);
	fid_of(p, &fids[1]);
	fids[2] = fids[1]; /* hinted at x: another object lives there */

	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, 2, LOAFRE__FETCH_PREFER_PATHS, &f), 0);
	assert_true(loafre__fetch_prefers_paths(f));
	assert_int_equal(loafre__fetch_many_hinted(f, fids, hints, 3, res), 0);
	assert_int_equal(res[0].status, 0);
	assert_int_equal(res[0].attr.size, 11);
	assert_int_equal(res[1].status, 0);
	assert_int_equal(res[1].attr.size, 22);
	assert_int_equal(res[2].status, -ENOENT);
	loafre__fetch_results_free(res, 3);
	/* without a hint, the handle */
	assert_int_equal(loafre__fetch_one(f, &fids[1], NULL, &res[0]), 0);
	assert_int_equal(res[0].attr.size, 22);
	loafre__fetch_results_free(res, 1);
	loafre__fetch_close(f);

	/* without PREFER_PATHS a reversible FID ignores a wrong hint */
	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, 2, 0, &f), 0);
	assert_int_equal(loafre__fetch_many_hinted(f, fids, hints, 3, res), 0);
	assert_int_equal(res[2].status, 0);
	assert_int_equal(res[2].attr.size, 22);
	loafre__fetch_results_free(res, 3);
	loafre__fetch_close(f);
}

/* Lustre flavour: MOUNT/.lustre/fid/[FID] is what gets stat-ed. */
static void test_lustre_fid_dir(void **state)
{
	struct ctx *c = *state;
	char p[PATH_MAX];
	struct loafre_fid fids[3] = {
		{ 0x200000401ull, 0x1, 0 },
		{ 0x200000401ull, 0x2, 0 },
		{ 0x200000401ull, 0x3, 0 }, /* absent */
	};
	struct loafre__fetch_result res[3];
	struct loafre__fetch *f;

	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LUSTRE, c->tree, 1, 0, &f), -ENOENT);
	pathof(c, p, ".lustre");
	assert_int_equal(mkdir(p, 0755), 0);
	pathof(c, p, ".lustre/fid");
	assert_int_equal(mkdir(p, 0755), 0);
	pathof(c, p, ".lustre/fid/[0x200000401:0x1:0x0]");
	write_file(p, 4242);
	pathof(c, p, ".lustre/fid/[0x200000401:0x2:0x0]");
	assert_int_equal(symlink("../somewhere", p), 0);

	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LUSTRE, c->tree, 2, 0, &f), 0);
	assert_int_equal(loafre__fetch_type(f), LOAFRE_FS_LUSTRE);
	{
		struct loafre_fid root = LOAFRE__FETCH_LUSTRE_ROOT;
		assert_true(loafre_fid_equal(loafre__fetch_root_fid(f), &root));
	}
	assert_int_equal(loafre__fetch_many(f, fids, 3, res), 0);
	pathof(c, p, ".lustre/fid/[0x200000401:0x1:0x0]");
	assert_int_equal(res[0].status, 0);
	expect_attr(&res[0].attr, p);
	assert_int_equal(res[1].status, 0);
	assert_string_equal(res[1].attr.symlink, "../somewhere");
	assert_int_equal(res[2].status, -ENOENT);
	loafre__fetch_results_free(res, 3);
	/* a path on a filesystem that does not make Lustre handles */
	{
		struct loafre_fid got;
		assert_int_equal(loafre__fetch_path(f, ".lustre", &got, &res[0]), -EXDEV);
		assert_int_equal(loafre__fetch_path2fid(f, c->tree, &got), -EINVAL);
	}
	loafre__fetch_close(f);
}

static void test_bad_arguments(void **state)
{
	struct ctx *c = *state;
	struct loafre__fetch *f = NULL;
	char p[PATH_MAX];

	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, LOAFRE__FETCH_MAX_THREADS + 1, 0, &f), -EINVAL);
	assert_int_equal(loafre__fetch_open((enum loafre_fs_type)7, c->tree, 1, 0, &f), -EINVAL);
	pathof(c, p, "missing");
	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, p, 1, 0, &f), -ENOENT);
	pathof(c, p, "file");
	write_file(p, 1);
	assert_int_equal(loafre__fetch_open(LOAFRE_FS_LOCAL, p, 1, 0, &f), -ENOTDIR);
	assert_null(f);
	loafre__fetch_close(NULL);
	loafre__fetch_results_free(NULL, 3);
}

/* Without CAP_DAC_READ_SEARCH handles cannot be opened: the fetcher says
 * so at open instead of taking every object for gone. */
static void test_needs_capability(void **state)
{
	struct ctx *c = *state;
	pid_t pid;
	int status;

	assert_int_equal(chmod(c->base, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct loafre__fetch *f = NULL;
		int r;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		r = loafre__fetch_open(LOAFRE_FS_LOCAL, c->tree, 1, 0, &f);
		_exit(r == -EPERM && !f ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2)
		skip(); /* not root: nothing to drop */
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_local_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_unlinked_is_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_through_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relpath_renames_racing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lustre_fid_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_needs_capability, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
