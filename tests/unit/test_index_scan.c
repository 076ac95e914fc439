/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_index_scan.c — `loafre scan` (lib/index_scan.c) into a real SQLite
 * store, on real temp trees of a few thousand entries, compared with a
 * brute-force walk: every path resolves in the store to the FID
 * name_to_handle_at gives (the FID `loafre path2fid` prints), with the
 * lstat attributes and symlink target; every directory lists exactly the
 * names readdir gives; the root and the hand-over position are set.
 * Also: rescans after changes, a tree mutated during the walk, a mount
 * point inside the tree, interruption.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "index_scan.h"
#include "index_store.h"
#include "localfs.h"
#include "localfs_internal.h"
#include "loafre/journal.h"

struct ctx {
	char base[64];   /* temp dir */
	char tree[128];  /* scanned tree */
	char db[128];    /* the store */
	struct loafre__idx *x;
	unsigned seed;   /* rand_r state */
	bool mounted;    /* a tmpfs is mounted at tree/mnt */
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void fid_at(int dirfd, const char *name, int flags, struct loafre_fid *ret)
{
	union {
		struct file_handle fh;
		char b[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	int mnt;

	u.fh.handle_bytes = MAX_HANDLE_SZ;
	assert_int_equal(name_to_handle_at(dirfd, name, &u.fh, &mnt, flags), 0);
	assert_int_equal(loafre__lfs_fid_from_handle(u.fh.handle_type, u.fh.f_handle,
						     u.fh.handle_bytes, ret), 0);
}

static void write_file(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char buf[1024];

	assert_true(fd >= 0);
	memset(buf, 'y', sizeof(buf));
	while (size) {
		size_t n = size < sizeof(buf) ? size : sizeof(buf);
		assert_int_equal(write(fd, buf, n), (ssize_t)n);
		size -= n;
	}
	close(fd);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[256];

	if (!c)
		return -1;
	strcpy(c->base, "/tmp/loafre-scan-XXXXXX");
	if (!mkdtemp(c->base))
		return -1;
	snprintf(c->tree, sizeof(c->tree), "%s/tree", c->base);
	snprintf(c->db, sizeof(c->db), "%s/index.db", c->base);
	if (mkdir(c->tree, 0755) < 0)
		return -1;
	if (loafre__idx_open(LOAFRE__IDX_SQLITE, c->db, "t", LOAFRE__IDX_CREATE, &c->x, err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "store: %s\n", err);
		return -1;
	}
	c->seed = 12345;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char p[256];

	loafre__idx_close(c->x);
	if (c->mounted) {
		snprintf(p, sizeof(p), "%s/mnt", c->tree);
		umount2(p, MNT_DETACH);
	}
	nftw(c->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

/* A random tree of about `n` entries: directories up to 6 deep, files of
 * varied sizes and owners, symlinks, hard links, empty directories. */
static void make_tree(struct ctx *c, const char *top, int n, const char *prefix)
{
	char (*dirs)[256] = malloc(512 * sizeof(*dirs));
	int ndirs = 1, made = 0;
	char p[512];

	assert_non_null(dirs);
	assert_true(strlen(top) < 200);
	memcpy(dirs[0], top, strlen(top) + 1);
	while (made < n) {
		int d = rand_r(&c->seed) % ndirs;
		int kind = rand_r(&c->seed) % 20;

		snprintf(p, sizeof(p), "%s/%s%d", dirs[d], prefix, made);
		if (kind < 3 && ndirs < 512 && strlen(p) < 200) {
			assert_int_equal(mkdir(p, 0700 + (kind << 3)), 0);
			memcpy(dirs[ndirs++], p, strlen(p) + 1);
		} else if (kind < 5) {
			char t[32];
			snprintf(t, sizeof(t), "target/%d", made);
			assert_int_equal(symlink(t, p), 0);
		} else if (kind < 6 && made > 10) {
			/* a hard link to an earlier regular file of the same dir, if any */
			char q[512];
			struct stat st;
			int k = rand_r(&c->seed) % made;
			snprintf(q, sizeof(q), "%s/%s%d", dirs[d], prefix, k);
			if (lstat(q, &st) == 0 && S_ISREG(st.st_mode))
				assert_int_equal(link(q, p), 0);
			else
				write_file(p, 0);
		} else {
			write_file(p, (size_t)(rand_r(&c->seed) % 5000));
			if (kind == 19)
				assert_int_equal(chown(p, 1000 + (unsigned)made % 3, 100), 0);
		}
		made++;
	}
	free(dirs);
}

struct cmp {
	struct ctx *c;
	int rootfd;
	size_t paths;
};

static struct cmp *g_cmp;

static int names_cb(void *ctx, const char *name, const struct loafre__idx_entry *e)
{
	char ***v = ctx;
	size_t n = 0;

	(void)e;
	while ((*v)[n])
		n++;
	*v = realloc(*v, (n + 2) * sizeof(char *));
	assert_non_null(*v);
	(*v)[n] = strdup(name);
	(*v)[n + 1] = NULL;
	return 0;
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The store's children of dir == readdir's names (mount points excluded). */
static void compare_dir(struct ctx *c, const char *path, const struct loafre_fid *fid)
{
	char **store = calloc(1, sizeof(char *)), **fs = calloc(1, sizeof(char *));
	size_t ns = 0, nf = 0;
	struct dirent *de;
	DIR *d = opendir(path);

	assert_non_null(d);
	assert_int_equal(loafre__idx_children(c->x, fid, names_cb, &store), 0);
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		struct stat st, pst;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		assert_int_equal(lstat(p, &st), 0);
		assert_int_equal(lstat(path, &pst), 0);
		if (st.st_dev != pst.st_dev)
			continue; /* a mount point */
		fs = realloc(fs, (nf + 2) * sizeof(char *));
		fs[nf++] = strdup(de->d_name);
		fs[nf] = NULL;
	}
	closedir(d);
	while (store[ns])
		ns++;
	qsort(store, ns, sizeof(char *), strp_cmp);
	qsort(fs, nf, sizeof(char *), strp_cmp);
	assert_int_equal(ns, nf);
	for (size_t i = 0; i < ns; i++) {
		assert_string_equal(store[i], fs[i]);
		free(store[i]);
		free(fs[i]);
	}
	free(store);
	free(fs);
}

static int walk_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	struct cmp *k = g_cmp;
	struct ctx *c = k->c;
	const char *rel = p + strlen(c->tree);
	struct loafre_fid fid, got;
	struct loafre__idx_entry e;

	(void)flag;
	(void)ftw;
	if (*rel == '/')
		rel++;
	if (rel[0])
		fid_at(AT_FDCWD, p, 0, &fid);
	else
		fid_at(k->rootfd, "", AT_EMPTY_PATH, &fid);
	assert_int_equal(loafre__idx_resolve(c->x, rel, &got), 0);
	if (!loafre_fid_equal(&got, &fid))
		fail_msg("'%s': FID differs", rel);
	assert_int_equal(loafre__idx_lookup(c->x, &fid, &e), 0);
	assert_int_equal(e.a.mode, st->st_mode);
	assert_int_equal(e.a.size, (uint64_t)st->st_size);
	assert_int_equal(e.a.uid, st->st_uid);
	assert_int_equal(e.a.gid, st->st_gid);
	assert_int_equal(e.a.nlink, (uint64_t)st->st_nlink);
	assert_int_equal(e.a.ino, (uint64_t)st->st_ino);
	assert_int_equal(e.a.blocks, (uint64_t)st->st_blocks);
	assert_int_equal(e.a.mtime_ns, (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
	if (S_ISLNK(st->st_mode)) {
		char t[PATH_MAX];
		ssize_t n = readlink(p, t, sizeof(t) - 1);
		assert_true(n >= 0);
		t[n] = '\0';
		assert_non_null(e.a.symlink);
		assert_string_equal(e.a.symlink, t);
	} else {
		assert_null(e.a.symlink);
	}
	if (S_ISDIR(st->st_mode))
		compare_dir(c, p, &fid);
	k->paths++;
	return 0;
}

/* Brute force: every path of the tree against the store. Returns paths. */
static size_t compare_tree(struct ctx *c)
{
	struct cmp k = { .c = c };
	struct loafre_fid root, want;

	k.rootfd = open(c->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(k.rootfd >= 0);
	fid_at(k.rootfd, "", AT_EMPTY_PATH, &want);
	assert_int_equal(loafre__idx_get_root(c->x, &root), 0);
	assert_true(loafre_fid_equal(&root, &want));
	g_cmp = &k;
	assert_int_equal(nftw(c->tree, walk_cb, 32, FTW_PHYS | FTW_MOUNT), 0);
	close(k.rootfd);
	{
		char err[256];
		if (loafre__idx_check(c->x, err, sizeof(err)) != 0)
			fail_msg("store: %s", err);
	}
	return k.paths;
}

struct progress_log {
	unsigned calls;
	bool saw_done;
	uint64_t last_entries;
	bool monotonic;
};

static void progress_cb(void *ctx, const struct loafre__scan_progress *p)
{
	struct progress_log *l = ctx;

	l->calls++;
	if (p->entries < l->last_entries)
		l->monotonic = false;
	l->last_entries = p->entries;
	if (p->done)
		l->saw_done = true;
}

static struct loafre__lfs *g_lfs;
static struct ctx *g_ctx;

static int engine_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *rel = p + strlen(g_ctx->tree);
	struct loafre_fid engine, store;

	(void)st;
	(void)flag;
	(void)ftw;
	if (*rel == '/')
		rel++;
	assert_int_equal(loafre__lfs_path2fid(g_lfs, p, &engine), 0);
	assert_int_equal(loafre__idx_resolve(g_ctx->x, rel, &store), 0);
	if (!loafre_fid_equal(&engine, &store))
		fail_msg("'%s': the scan's FID is not the emulated MDT's", rel);
	return 0;
}

/* The FIDs are those of loafred's emulated MDT (loafre path2fid). */
static void compare_with_engine(struct ctx *c)
{
	struct loafre_journal_options jo = { .mask = LOAFRE_CL_MASK_ALL };
	struct loafre_journal *j;
	char jdir[256], db[300];
	struct loafre_fid root;

	snprintf(jdir, sizeof(jdir), "%s/journal", c->base);
	snprintf(db, sizeof(db), "%s/localfs.db", jdir);
	assert_int_equal(loafre_journal_open(jdir, "t-MDT0000",
					     LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &jo, &j),
			 0);
	assert_int_equal(loafre__lfs_open(c->tree, db, j, 0, &g_lfs), 0);
	assert_int_equal(loafre__idx_get_root(c->x, &root), 0);
	assert_true(loafre_fid_equal(&root, loafre__lfs_root_fid(g_lfs)));
	g_ctx = c;
	assert_int_equal(nftw(c->tree, engine_cb, 32, FTW_PHYS | FTW_MOUNT), 0);
	loafre__lfs_close(g_lfs);
	loafre_journal_close(j);
}

static void test_scan_matches_brute_force(void **state)
{
	struct ctx *c = *state;
	const char *mdts[] = { "t-MDT0000" };
	uint64_t pos[] = { 42 };
	struct progress_log log = { .monotonic = true };
	struct loafre__scan_opts o = {
		.type = LOAFRE_FS_LOCAL,
		.threads = 4,
		.batch = 700,
		.position_mdts = mdts,
		.positions = pos,
		.n_positions = 1,
		.progress = progress_cb,
		.progress_ctx = &log,
		.progress_ms = 1,
	};
	struct loafre__scan_progress p;
	uint64_t got;
	size_t paths;

	make_tree(c, c->tree, 4000, "e");
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), 0);
	paths = compare_tree(c);
	compare_with_engine(c);
	assert_true(p.done);
	/* hard links are one entry each time they are met: entries = paths */
	assert_int_equal(p.entries, paths);
	assert_true(p.dirs > 10);
	assert_true(p.commits >= paths / 700);
	assert_int_equal(p.vanished, 0);
	assert_int_equal(p.errors, 0);
	assert_true(log.saw_done);
	assert_true(log.monotonic);
	assert_int_equal(log.last_entries, paths);
	assert_int_equal(loafre__idx_get_position(c->x, "t-MDT0000", &got), 0);
	assert_int_equal(got, 42);
}

/* Scanning again after changes replaces the store's content. */
static void test_rescan_after_changes(void **state)
{
	struct ctx *c = *state;
	struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = 3 };
	struct loafre__scan_progress p;
	char a[PATH_MAX], b[PATH_MAX];
	struct loafre_fid old;

	make_tree(c, c->tree, 1500, "e");
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), 0);
	compare_tree(c);
	/* remove a subtree, move another, add files */
	snprintf(a, sizeof(a), "%s/gone", c->tree);
	assert_int_equal(mkdir(a, 0755), 0);
	snprintf(b, sizeof(b), "%s/gone/x", c->tree);
	write_file(b, 5);
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), 0);
	compare_tree(c);
	fid_at(AT_FDCWD, b, 0, &old);
	nftw(a, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	make_tree(c, c->tree, 300, "n");
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), 0);
	compare_tree(c);
	{
		struct loafre__idx_entry e;
		assert_int_equal(loafre__idx_lookup(c->x, &old, &e), -ENOENT);
	}
	/* one thread, commit after every entry */
	o.threads = 1;
	o.batch = 1;
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), 0);
	assert_int_equal(p.commits, p.entries); /* the root's transaction included */
	compare_tree(c);
}

struct mutator {
	char dir[PATH_MAX];
	atomic_bool stop;
	unsigned ops;
};

static void *mutate(void *arg)
{
	struct mutator *m = arg;
	unsigned seed = 7;
	char p[PATH_MAX + 64], q[PATH_MAX + 64];

	while (!atomic_load(&m->stop)) {
		int k = rand_r(&seed) % 64;
		snprintf(p, sizeof(p), "%s/d%d", m->dir, k);
		snprintf(q, sizeof(q), "%s/d%d/f", m->dir, k);
		switch (rand_r(&seed) % 4) {
		case 0:
			if (mkdir(p, 0755) == 0)
				for (int i = 0; i < 20; i++) {
					char f[PATH_MAX + 80];
					snprintf(f, sizeof(f), "%s/f%d", p, i);
					close(open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
				}
			break;
		case 1:
			nftw(p, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
			break;
		case 2: {
			char r[PATH_MAX + 64];
			snprintf(r, sizeof(r), "%s/d%d", m->dir, rand_r(&seed) % 64);
			rename(p, r);
			break;
		}
		default:
			close(open(q, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
			unlink(q);
			break;
		}
		m->ops++;
	}
	return NULL;
}

/* Entries vanish, appear and move during the walk: the scan completes and
 * the part of the tree nobody touched is complete and exact. */
static void test_tree_changing_during_scan(void **state)
{
	struct ctx *c = *state;
	struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = 4, .batch = 1000 };
	struct loafre__scan_progress p;
	struct mutator m;
	char stable[PATH_MAX];
	pthread_t th;
	int rounds = 0;

	snprintf(stable, sizeof(stable), "%s/stable", c->tree);
	assert_int_equal(mkdir(stable, 0755), 0);
	make_tree(c, stable, 3000, "e");
	snprintf(m.dir, sizeof(m.dir), "%s/busy", c->tree);
	assert_int_equal(mkdir(m.dir, 0755), 0);
	atomic_init(&m.stop, false);
	m.ops = 0;
	assert_int_equal(pthread_create(&th, NULL, mutate, &m), 0);
	do {
		assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), 0);
		rounds++;
	} while (rounds < 5);
	atomic_store(&m.stop, true);
	pthread_join(th, NULL);
	assert_true(m.ops > 0);
	/* everything under stable/ is exact */
	{
		struct cmp k = { .c = c };
		k.rootfd = open(c->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		g_cmp = &k;
		assert_int_equal(nftw(stable, walk_cb, 32, FTW_PHYS), 0);
		close(k.rootfd);
		assert_true(k.paths > 3000);
	}
	/* quiet now: a scan is exact everywhere */
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), 0);
	compare_tree(c);
}

/* Another filesystem mounted inside the tree is neither stored nor entered. */
static void test_mount_point_not_crossed(void **state)
{
	struct ctx *c = *state;
	struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = 2 };
	struct loafre__scan_progress p;
	struct loafre_fid fid;
	char m[PATH_MAX - 64], f[PATH_MAX];

	make_tree(c, c->tree, 200, "e");
	snprintf(m, sizeof(m), "%s/mnt", c->tree);
	assert_int_equal(mkdir(m, 0755), 0);
	if (mount("loafre-test", m, "tmpfs", 0, "size=1m") < 0) {
		fprintf(stderr, "cannot mount a tmpfs (%s): skipped\n", strerror(errno));
		skip();
	}
	c->mounted = true;
	snprintf(f, sizeof(f), "%s/inside", m);
	write_file(f, 10);
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), 0);
	assert_int_equal(p.mounts, 1);
	assert_int_equal(loafre__idx_resolve(c->x, "mnt", &fid), -ENOENT);
	assert_int_equal(loafre__idx_resolve(c->x, "mnt/inside", &fid), -ENOENT);
	compare_tree(c); /* nftw with FTW_MOUNT stays out too */
}

static void test_interrupted_and_bad_args(void **state)
{
	struct ctx *c = *state;
	volatile sig_atomic_t stop = 1;
	struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = 2, .interrupted = &stop };
	struct loafre__scan_progress p;
	const char *mdts[] = { "t-MDT0000" };
	uint64_t pos[] = { 9 }, got;
	char f[PATH_MAX];

	make_tree(c, c->tree, 500, "e");
	o.position_mdts = mdts;
	o.positions = pos;
	o.n_positions = 1;
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), -EINTR);
	assert_false(p.done);
	/* no position: the store says the scan is incomplete */
	assert_int_equal(loafre__idx_get_position(c->x, "t-MDT0000", &got), 0);
	assert_int_equal(got, 0);
	stop = 0;
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), 0);
	assert_int_equal(loafre__idx_get_position(c->x, "t-MDT0000", &got), 0);
	assert_int_equal(got, 9);

	o.threads = LOAFRE__SCAN_MAX_THREADS + 1;
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), -EINVAL);
	o.threads = 1;
	o.n_positions = 1;
	o.positions = NULL;
	assert_int_equal(loafre__scan(c->x, c->tree, &o, &p), -EINVAL);
	o.n_positions = 0;
	snprintf(f, sizeof(f), "%s/none", c->tree);
	assert_int_equal(loafre__scan(c->x, f, &o, &p), -ENOENT);
	/* the store still holds the last complete scan */
	compare_tree(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scan_matches_brute_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rescan_after_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_changing_during_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mount_point_not_crossed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_and_bad_args, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
