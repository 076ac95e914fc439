/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_repl_verify.c — the tree comparison behind `loafre verify`
 * (lib/repl_verify.c) on real temp trees: a tree and its replica made by
 * the initial sync (lib/repl_sync.c) compare equal; then each mutation of
 * the replica (one per kind of difference) is reported exactly: the
 * expected kind on the expected path, and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "repl_dest.h"

#define MAX_DIFFS 64

struct diff {
	enum loafre__vdiff kind;  /* what */
	char path[256];           /* where */
	char path2[256];          /* LINKS: the other name */
	char detail[64];          /* detail */
};

struct ctx {
	char base[64];                 /* temp dir */
	char src[128], dst[128];       /* the trees */
	struct diff diffs[MAX_DIFFS];  /* reported */
	int n;                         /* how many */
	struct loafre__verify_result res;
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static char pb[8][512];
static int pi;

static const char *S(struct ctx *c, const char *rel)
{
	char *b = pb[pi++ % 8];

	snprintf(b, 512, "%s/%s", c->src, rel);
	return b;
}

static const char *D(struct ctx *c, const char *rel)
{
	char *b = pb[pi++ % 8];

	snprintf(b, 512, "%s/%s", c->dst, rel);
	return b;
}

static void wfile(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	assert_int_equal(fclose(f), 0);
}

static void collect(void *arg, const struct loafre__vdiff_rec *r)
{
	struct ctx *c = arg;
	struct diff *d;

	assert_true(c->n < MAX_DIFFS);
	d = &c->diffs[c->n++];
	d->kind = r->kind;
	snprintf(d->path, sizeof(d->path), "%s", r->path);
	snprintf(d->path2, sizeof(d->path2), "%s", r->path2 ? r->path2 : "");
	snprintf(d->detail, sizeof(d->detail), "%s", r->detail ? r->detail : "");
}

static void run(struct ctx *c, const struct loafre__verify_opts *o)
{
	c->n = 0;
	assert_int_equal(loafre__verify_trees(c->src, c->dst, o, collect, c, &c->res), 0);
	assert_int_equal(c->res.diffs + c->res.errors, (uint64_t)c->n);
}

static void dump(struct ctx *c)
{
	for (int i = 0; i < c->n; i++)
		print_message("  diff %s: %s %s %s\n", loafre__vdiff_name(c->diffs[i].kind),
			      c->diffs[i].path, c->diffs[i].path2, c->diffs[i].detail);
}

/* Exactly one difference, of kind k on path. */
static void expect_one(struct ctx *c, const struct loafre__verify_opts *o, enum loafre__vdiff k,
		       const char *path)
{
	run(c, o);
	if (c->n != 1 || c->diffs[0].kind != k || strcmp(c->diffs[0].path, path) != 0) {
		dump(c);
		fail_msg("expected exactly '%s: %s', got %d differences", loafre__vdiff_name(k), path,
			 c->n);
	}
}

static struct timespec saved[2];

/* Remembers a destination directory's times (entries are about to change). */
static void save_times(const char *dir)
{
	struct stat st;

	assert_int_equal(lstat(dir, &st), 0);
	saved[0] = st.st_atim;
	saved[1] = st.st_mtim;
}

static void restore_times(const char *path)
{
	assert_int_equal(utimensat(AT_FDCWD, path, saved, AT_SYMLINK_NOFOLLOW), 0);
}

static void build_source(struct ctx *c)
{
	struct timespec ts[2] = { { 1000, 1 }, { 1700000000, 123456789 } };
	char big[100000];

	assert_int_equal(mkdir(S(c, "a"), 0755), 0);
	assert_int_equal(mkdir(S(c, "b"), 0700), 0);
	wfile(S(c, "a/f"), "hello");
	assert_int_equal(setxattr(S(c, "a/f"), "user.x", "1", 1, 0), 0);
	assert_int_equal(setxattr(S(c, "a"), "user.d", "dir", 3, 0), 0);
	assert_int_equal(symlink("f", S(c, "a/l")), 0);
	assert_int_equal(mkfifo(S(c, "a/p"), 0644), 0);
	assert_int_equal(mknod(S(c, "a/c"), S_IFCHR | 0600, makedev(1, 3)), 0);
	wfile(S(c, "h1"), "linked");
	assert_int_equal(link(S(c, "h1"), S(c, "b/h2")), 0);
	wfile(S(c, "a/s1"), "same");
	wfile(S(c, "a/s2"), "same");
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = (char)('a' + (i * 7919) % 26);
	big[sizeof(big) - 1] = '\0';
	wfile(S(c, "b/big"), big);
	assert_int_equal(chown(S(c, "b/big"), 1234, 5678), 0);
	/* s1 and s2: same attributes, so joining them at the destination
	 * differs only in link structure */
	assert_int_equal(utimensat(AT_FDCWD, S(c, "a/s1"), ts, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, S(c, "a/s2"), ts, 0), 0);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct loafre__dest *d = NULL;
	struct loafre__sync_progress p;
	int sroot;

	assert_non_null(c);
	snprintf(c->base, sizeof(c->base), "/tmp/loafre-verify.XXXXXX");
	assert_non_null(mkdtemp(c->base));
	snprintf(c->src, sizeof(c->src), "%s/src", c->base);
	snprintf(c->dst, sizeof(c->dst), "%s/dst", c->base);
	assert_int_equal(mkdir(c->src, 0755), 0);
	assert_int_equal(mkdir(c->dst, 0755), 0);
	build_source(c);
	/* the replica: the initial sync */
	sroot = open(c->src, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(sroot >= 0);
	assert_int_equal(loafre__dest_open_local(c->dst, NULL, &d), 0);
	assert_int_equal(loafre__dest_sync_tree(d, sroot, "", NULL, &p), 0);
	assert_int_equal(p.errors, 0);
	loafre__dest_close(d);
	close(sroot);
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

static const struct loafre__verify_opts sum = { .checksum = true };

static void test_identical(void **state)
{
	struct ctx *c = *state;

	run(c, &sum);
	if (c->n)
		dump(c);
	assert_int_equal(c->n, 0);
	assert_int_equal(c->res.entries, 11);
	assert_true(c->res.checked_bytes >= 2 * 100000);
	run(c, NULL);
	assert_int_equal(c->n, 0);
}

static void test_missing_extra(void **state)
{
	struct ctx *c = *state;

	save_times(D(c, "a"));
	assert_int_equal(unlink(D(c, "a/f")), 0);
	restore_times(D(c, "a"));
	expect_one(c, &sum, LOAFRE__VD_MISSING, "a/f");
	wfile(S(c, "a/f2"), "x"); /* (source) missing too */
	save_times(D(c, "b"));
	wfile(D(c, "b/new"), "x");
	restore_times(D(c, "b"));
	run(c, &sum);
	assert_int_equal(c->n, 4); /* a/f, a/f2 missing; a mtime (source changed); b/new */
	assert_int_equal(c->diffs[0].kind, LOAFRE__VD_MTIME);
	assert_string_equal(c->diffs[0].path, "a");
	assert_int_equal(c->diffs[1].kind, LOAFRE__VD_MISSING);
	assert_int_equal(c->diffs[2].kind, LOAFRE__VD_MISSING);
	assert_string_equal(c->diffs[2].path, "a/f2");
	assert_int_equal(c->diffs[3].kind, LOAFRE__VD_EXTRA);
	assert_string_equal(c->diffs[3].path, "b/new");
}

static void test_missing_dir_not_descended(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rename(D(c, "b"), D(c, "b.moved")), 0);
	{ /* the root's times back to the source's */
		struct stat st;

		assert_int_equal(lstat(c->src, &st), 0);
		saved[0] = st.st_atim;
		saved[1] = st.st_mtim;
		restore_times(c->dst);
	}
	run(c, &sum);
	if (c->n != 2)
		dump(c);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->diffs[0].kind, LOAFRE__VD_MISSING);
	assert_string_equal(c->diffs[0].path, "b");
	assert_int_equal(c->diffs[1].kind, LOAFRE__VD_EXTRA);
	assert_string_equal(c->diffs[1].path, "b.moved");
	/* h1 and b/h2: one file at the source, b/h2 not compared: no link diff */
}

static void test_type(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	assert_int_equal(lstat(D(c, "a/p"), &st), 0);
	save_times(D(c, "a"));
	assert_int_equal(unlink(D(c, "a/p")), 0);
	assert_int_equal(mkdir(D(c, "a/p"), 0644), 0);
	restore_times(D(c, "a"));
	expect_one(c, &sum, LOAFRE__VD_TYPE, "a/p");
}

static void test_size_mode_owner_mtime(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	struct timespec ts[2];
	FILE *f;

	assert_int_equal(lstat(D(c, "a/f"), &st), 0);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	f = fopen(D(c, "a/f"), "a");
	assert_non_null(f);
	fputs("!", f);
	fclose(f);
	assert_int_equal(utimensat(AT_FDCWD, D(c, "a/f"), ts, 0), 0);
	expect_one(c, &sum, LOAFRE__VD_SIZE, "a/f");
	assert_int_equal(truncate(D(c, "a/f"), 5), 0);
	assert_int_equal(utimensat(AT_FDCWD, D(c, "a/f"), ts, 0), 0);
	assert_int_equal(chmod(D(c, "a/f"), 0600), 0);
	expect_one(c, &sum, LOAFRE__VD_MODE, "a/f");
	assert_int_equal(chmod(D(c, "a/f"), st.st_mode & 07777), 0);
	assert_int_equal(chown(D(c, "b/big"), 1234, 5679), 0);
	expect_one(c, &sum, LOAFRE__VD_OWNER, "b/big");
	assert_int_equal(chown(D(c, "b/big"), 1234, 5678), 0);
	ts[1].tv_nsec++;
	assert_int_equal(utimensat(AT_FDCWD, D(c, "a/f"), ts, 0), 0);
	expect_one(c, &sum, LOAFRE__VD_MTIME, "a/f");
	/* a symlink's own mtime */
	ts[1].tv_nsec--;
	assert_int_equal(utimensat(AT_FDCWD, D(c, "a/f"), ts, 0), 0);
	ts[1].tv_sec = 5;
	assert_int_equal(utimensat(AT_FDCWD, D(c, "a/l"), ts, AT_SYMLINK_NOFOLLOW), 0);
	expect_one(c, &sum, LOAFRE__VD_MTIME, "a/l");
	/* ignored on request */
	run(c, &(struct loafre__verify_opts){ .no_times = true });
	assert_int_equal(c->n, 0);
}

static void test_owner_map(void **state)
{
	struct ctx *c = *state;
	struct loafre_idmap_pair up = { 1234, 42 };
	struct loafre_idmap um = { .pairs = &up, .n_pairs = 1 };
	struct loafre_idmap gm = { .has_default = true, .default_to = 7 };
	struct loafre__verify_opts o = { .uid_map = &um };

	assert_int_equal(chown(D(c, "b/big"), 42, 5678), 0);
	run(c, &o);
	assert_int_equal(c->n, 0);
	run(c, NULL);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->diffs[0].kind, LOAFRE__VD_OWNER);
	o.gid_map = &gm; /* every gid -> 7: every entry differs but b/big */
	assert_int_equal(chown(D(c, "b/big"), 42, 7), 0);
	run(c, &o);
	assert_int_equal(c->n, 11); /* the root + 11 entries, but b/big */
}

static void test_symlink_rdev(void **state)
{
	struct ctx *c = *state;

	save_times(D(c, "a"));
	assert_int_equal(unlink(D(c, "a/l")), 0);
	assert_int_equal(symlink("g", D(c, "a/l")), 0);
	{
		struct stat st;
		struct timespec ts[2];

		assert_int_equal(lstat(S(c, "a/l"), &st), 0);
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		assert_int_equal(utimensat(AT_FDCWD, D(c, "a/l"), ts, AT_SYMLINK_NOFOLLOW), 0);
		assert_int_equal(lchown(D(c, "a/l"), st.st_uid, st.st_gid), 0);
	}
	restore_times(D(c, "a"));
	expect_one(c, &sum, LOAFRE__VD_SYMLINK, "a/l");
}

static void test_rdev(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	struct timespec ts[2];

	assert_int_equal(lstat(D(c, "a/c"), &st), 0);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	save_times(D(c, "a"));
	assert_int_equal(unlink(D(c, "a/c")), 0);
	assert_int_equal(mknod(D(c, "a/c"), S_IFCHR | 0600, makedev(1, 5)), 0);
	assert_int_equal(utimensat(AT_FDCWD, D(c, "a/c"), ts, AT_SYMLINK_NOFOLLOW), 0);
	restore_times(D(c, "a"));
	expect_one(c, &sum, LOAFRE__VD_RDEV, "a/c");
}

static void test_xattrs(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(setxattr(D(c, "a/f"), "user.x", "2", 1, 0), 0);
	expect_one(c, &sum, LOAFRE__VD_XATTR, "a/f");
	assert_string_equal(c->diffs[0].detail, "user.x");
	assert_int_equal(removexattr(D(c, "a/f"), "user.x"), 0);
	expect_one(c, &sum, LOAFRE__VD_XATTR, "a/f");
	assert_int_equal(setxattr(D(c, "a/f"), "user.x", "1", 1, 0), 0);
	assert_int_equal(setxattr(D(c, "a"), "trusted.extra", "e", 1, 0), 0);
	expect_one(c, &sum, LOAFRE__VD_XATTR, "a");
	run(c, &(struct loafre__verify_opts){ .no_xattrs = true });
	assert_int_equal(c->n, 0);
}

static void test_content(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	struct timespec ts[2];
	int fd;

	assert_int_equal(lstat(D(c, "b/big"), &st), 0);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	fd = open(D(c, "b/big"), O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "Z", 1, 77777), 1);
	close(fd);
	assert_int_equal(utimensat(AT_FDCWD, D(c, "b/big"), ts, 0), 0);
	expect_one(c, &sum, LOAFRE__VD_CONTENT, "b/big");
	run(c, NULL); /* without --checksum: not seen (size and mtime equal) */
	assert_int_equal(c->n, 0);
}

static void test_links_split_and_joined(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	struct timespec ts[2];

	/* split: b/h2 becomes its own copy */
	assert_int_equal(lstat(D(c, "b/h2"), &st), 0);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	save_times(D(c, "b"));
	assert_int_equal(unlink(D(c, "b/h2")), 0);
	wfile(D(c, "b/h2"), "linked");
	assert_int_equal(utimensat(AT_FDCWD, D(c, "b/h2"), ts, 0), 0);
	assert_int_equal(chmod(D(c, "b/h2"), st.st_mode & 07777), 0);
	restore_times(D(c, "b"));
	expect_one(c, &sum, LOAFRE__VD_LINKS, "b/h2");
	assert_string_equal(c->diffs[0].path2, "h1");
	assert_string_equal(c->diffs[0].detail, "split");
	/* joined: a/s2 becomes a link of a/s1 */
	assert_int_equal(unlink(D(c, "b/h2")), 0);
	assert_int_equal(link(D(c, "h1"), D(c, "b/h2")), 0);
	restore_times(D(c, "b"));
	save_times(D(c, "a"));
	assert_int_equal(unlink(D(c, "a/s2")), 0);
	assert_int_equal(link(D(c, "a/s1"), D(c, "a/s2")), 0);
	restore_times(D(c, "a"));
	expect_one(c, &sum, LOAFRE__VD_LINKS, "a/s1");
	assert_string_equal(c->diffs[0].path2, "a/s2");
	assert_string_equal(c->diffs[0].detail, "joined");
}

static bool no_b(void *arg, const char *rel, bool is_dir)
{
	(void)arg;
	(void)is_dir;
	return strcmp(rel, "b") != 0 && strcmp(rel, "junk") != 0;
}

static void test_filter_and_errors(void **state)
{
	struct ctx *c = *state;
	struct loafre__verify_opts o = { .checksum = true, .filter = no_b };

	assert_int_equal(chmod(D(c, "b/big"), 0), 0);
	{
		struct stat st;

		assert_int_equal(lstat(c->dst, &st), 0);
		saved[0] = st.st_atim;
		saved[1] = st.st_mtim;
		wfile(D(c, "junk"), "j");
		restore_times(c->dst);
	}
	run(c, &o);
	assert_int_equal(c->n, 0);
	assert_int_equal(c->res.entries, 8); /* b and its tree not compared */
	o.filter = NULL;
	run(c, &o);
	assert_int_equal(c->n, 2);
	assert_int_equal(loafre__verify_trees(c->src, "/nonexistent/dir", &o, collect, c, NULL),
			 -ENOENT);
}

/* The rule's exclude: any name "cache" (what deletions keep). */
static bool no_cache(void *arg, const char *rel, bool is_dir)
{
	const char *last = strrchr(rel, '/');

	(void)arg;
	(void)is_dir;
	return strcmp(last ? last + 1 : rel, "cache") != 0;
}

/* A directory gone at the source kept at the destination only for the
 * filtered (protected) entries it holds is not extra; what else it holds
 * is. Without the filter, it is extra. */
static void test_filter_kept_holder(void **state)
{
	struct ctx *c = *state;
	struct loafre__verify_opts o = { .filter = no_cache };
	struct stat st;

	assert_int_equal(lstat(c->dst, &st), 0);
	saved[0] = st.st_atim;
	saved[1] = st.st_mtim;
	assert_int_equal(mkdir(D(c, "gone"), 0755), 0);
	assert_int_equal(mkdir(D(c, "gone/cache"), 0755), 0);
	wfile(D(c, "gone/cache/dc"), "protected");
	assert_int_equal(mkdir(D(c, "gone/deep"), 0755), 0);
	assert_int_equal(mkdir(D(c, "gone/deep/cache"), 0755), 0);
	restore_times(c->dst);
	run(c, &o);
	if (c->n)
		dump(c);
	assert_int_equal(c->n, 0);
	/* an unprotected entry left in a holder: that one is extra */
	wfile(D(c, "gone/deep/left"), "x");
	expect_one(c, &o, LOAFRE__VD_EXTRA, "gone/deep/left");
	/* a destination-only directory without filtered entries: extra itself */
	assert_int_equal(mkdir(D(c, "other"), 0755), 0);
	wfile(D(c, "other/f"), "x");
	restore_times(c->dst);
	run(c, &o);
	assert_int_equal(c->n, 2);
	assert_string_equal(c->diffs[0].path, "gone/deep/left");
	assert_int_equal(c->diffs[1].kind, LOAFRE__VD_EXTRA);
	assert_string_equal(c->diffs[1].path, "other");
	/* without the filter: gone is extra (not descended) */
	run(c, NULL);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->diffs[0].kind, LOAFRE__VD_EXTRA);
	assert_string_equal(c->diffs[0].path, "gone");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_extra, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir_not_descended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_mode_owner_mtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_rdev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_split_and_joined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_kept_holder, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("skipped: needs root (chown, mknod, trusted.* xattrs)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
