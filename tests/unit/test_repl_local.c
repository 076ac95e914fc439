/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_repl_local.c — a local replication destination (lib/repl_local.c)
 * on real temp trees: every operation, sparse files (st_blocks and hole
 * positions), xattrs, owners through maps (runs as root), times in ns,
 * renames of directories with contents, links replacing entries, paths
 * escaping through ".." or a destination symlink refused with nothing
 * outside touched (openat2 and the fallback walk), a source deleted or
 * changed during a copy, no partial file ever at the final name, files
 * with several names rewritten in place, and the initial sync (hard links,
 * deletes, filter).
 */
#include <dirent.h>
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

struct ctx {
	char base[64];              /* temp dir */
	char src[128], dst[128], out[128]; /* source, destination, outside */
	int sroot;                  /* O_PATH on src */
	struct loafre__dest *d;     /* on dst */
	struct loafre_idmap_pair up[1], gp[1];
	struct loafre_idmap um, gm; /* 1234 -> 4321; gids: 5678 -> 8765, * -> 99 */
	int hook_calls;             /* after_data calls */
	int hook_mode;              /* what the hook does */
	char hook_seen[64];         /* what the hook read at the final name */
	int hook_names;             /* names in the directory during the hook */
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static const char *P(struct ctx *c, const char *root, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static char pbuf[4][512];
static int pidx;

/* root/fmt, in one of 4 rotating buffers. */
static const char *P(struct ctx *c, const char *root, const char *fmt, ...)
{
	char rel[256];
	va_list ap;
	char *b = pbuf[pidx++ % 4];

	(void)c;
	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(b, 512, "%s/%s", root, rel);
	return b;
}

static void wfile(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	assert_int_equal(fclose(f), 0);
}

static char *rfile(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void set_times(const char *path, long sec, long nsec)
{
	struct timespec ts[2] = { { sec - 100, nsec + 1 }, { sec, nsec } };

	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static int count_names(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void hook(void *arg, const char *rel)
{
	struct ctx *c = arg;
	char *s;

	c->hook_calls++;
	s = rfile(P(c, c->dst, "%s", rel));
	snprintf(c->hook_seen, sizeof(c->hook_seen), "%.63s", s ? s : "(none)");
	c->hook_names = count_names(c->dst);
	if (c->hook_mode == 1) /* delete the source */
		assert_int_equal(unlink(P(c, c->src, "%s", rel)), 0);
	if (c->hook_mode == 2 || (c->hook_mode == 3 && c->hook_calls == 1)) {
		/* change it (2: always, 3: once) */
		FILE *f = fopen(P(c, c->src, "%s", rel), "a");

		assert_non_null(f);
		fputs("more", f);
		fclose(f);
	}
}

static int open_dest(struct ctx *c, bool (*protect)(void *, const char *, bool))
{
	struct loafre__dest_opts o = {
		.uid_map = &c->um,
		.gid_map = &c->gm,
		.after_data = hook,
		.after_data_arg = c,
		.protect = protect,
		.protect_arg = c,
	};

	loafre__dest_close(c->d);
	c->d = NULL;
	return loafre__dest_open_local(c->dst, &o, &c->d);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	snprintf(c->base, sizeof(c->base), "/tmp/loafre-repl.XXXXXX");
	assert_non_null(mkdtemp(c->base));
	snprintf(c->src, sizeof(c->src), "%s/src", c->base);
	snprintf(c->dst, sizeof(c->dst), "%s/dst", c->base);
	snprintf(c->out, sizeof(c->out), "%s/outside", c->base);
	assert_int_equal(mkdir(c->src, 0755), 0);
	assert_int_equal(mkdir(c->dst, 0755), 0);
	assert_int_equal(mkdir(c->out, 0755), 0);
	c->sroot = open(c->src, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(c->sroot >= 0);
	c->up[0] = (struct loafre_idmap_pair){ 1234, 4321 };
	c->gp[0] = (struct loafre_idmap_pair){ 5678, 8765 };
	c->um = (struct loafre_idmap){ .pairs = c->up, .n_pairs = 1 };
	c->gm = (struct loafre_idmap){ .pairs = c->gp, .n_pairs = 1, .has_default = true,
				       .default_to = 99 };
	assert_int_equal(open_dest(c, NULL), 0);
	loafre__repl_no_openat2 = false;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	loafre__dest_close(c->d);
	close(c->sroot);
	nftw(c->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	loafre__repl_no_openat2 = false;
	return 0;
}

static void lst(const char *p, struct stat *st)
{
	assert_int_equal(lstat(p, st), 0);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_copy_attrs_owner_xattr_times(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct loafre__dest_stats ds;
	struct stat s, d;
	char v[16];

	assert_int_equal(mkdir(P(c, c->src, "a"), 0750), 0);
	assert_int_equal(mkdir(P(c, c->src, "a/b"), 0711), 0);
	wfile(P(c, c->src, "a/b/f"), "hello world");
	assert_int_equal(chmod(P(c, c->src, "a/b/f"), 04640), 0);
	assert_int_equal(chown(P(c, c->src, "a/b/f"), 1234, 5678), 0);
	assert_int_equal(chmod(P(c, c->src, "a/b/f"), 04640), 0); /* chown cleared setuid */
	assert_int_equal(chown(P(c, c->src, "a"), 1234, 1), 0);
	assert_int_equal(setxattr(P(c, c->src, "a/b/f"), "user.k", "val", 3, 0), 0);
	assert_int_equal(setxattr(P(c, c->src, "a/b/f"), "trusted.t", "tt", 2, 0), 0);
	set_times(P(c, c->src, "a/b/f"), 1500000000, 123456789);
	set_times(P(c, c->src, "a/b"), 1400000000, 5);
	set_times(P(c, c->src, "a"), 1300000000, 7);

	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "a/b/f", why), 0);
	lst(P(c, c->src, "a/b/f"), &s);
	lst(P(c, c->dst, "a/b/f"), &d);
	assert_int_equal(d.st_mode, s.st_mode);
	assert_int_equal(d.st_mode & 07777, 04640);
	assert_int_equal(d.st_uid, 4321);
	assert_int_equal(d.st_gid, 8765);
	assert_int_equal(d.st_mtim.tv_sec, 1500000000);
	assert_int_equal(d.st_mtim.tv_nsec, 123456789);
	assert_int_equal(d.st_atim.tv_sec, s.st_atim.tv_sec);
	assert_int_equal(d.st_atim.tv_nsec, s.st_atim.tv_nsec);
	assert_string_equal(rfile(P(c, c->dst, "a/b/f")), "hello world");
	assert_int_equal(getxattr(P(c, c->dst, "a/b/f"), "user.k", v, sizeof(v)), 3);
	assert_memory_equal(v, "val", 3);
	assert_int_equal(getxattr(P(c, c->dst, "a/b/f"), "trusted.t", v, sizeof(v)), 2);
	/* parents made with their source attributes (gid 1 -> default 99) */
	lst(P(c, c->dst, "a"), &d);
	assert_int_equal(d.st_mode & 07777, 0750);
	assert_int_equal(d.st_uid, 4321);
	assert_int_equal(d.st_gid, 99);
	assert_int_equal(d.st_mtim.tv_sec, 1300000000);
	assert_int_equal(d.st_mtim.tv_nsec, 7);
	lst(P(c, c->dst, "a/b"), &d);
	assert_int_equal(d.st_mode & 07777, 0711);
	assert_int_equal(d.st_mtim.tv_sec, 1400000000);
	assert_int_equal(d.st_mtim.tv_nsec, 5);
	/* no temporary name left; the source untouched (atime too) */
	assert_int_equal(count_names(P(c, c->dst, "a/b")), 1);
	lst(P(c, c->src, "a/b/f"), &d);
	assert_int_equal(d.st_atim.tv_nsec, s.st_atim.tv_nsec);
	loafre__dest_get_stats(c->d, &ds);
	assert_int_equal(ds.done[LOAFRE__DOP_COPY], 1);
	assert_int_equal(ds.failed[LOAFRE__DOP_COPY], 0);
	assert_int_equal(ds.bytes, 11);
	/* a copy replaces a directory in the way */
	assert_int_equal(mkdir(P(c, c->dst, "g"), 0755), 0);
	wfile(P(c, c->dst, "g/inside"), "x");
	wfile(P(c, c->src, "g"), "file now");
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "g", why), 0);
	assert_string_equal(rfile(P(c, c->dst, "g")), "file now");
	/* not a regular file */
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "a", why), -EINVAL);
	assert_non_null(strstr(why, "'a'"));
}

static void test_sparse(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	const char *sp = P(c, c->src, "sparse"), *dp;
	char buf[4096];
	int fd;
	struct stat s, d;

	fd = open(sp, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	memset(buf, 'A', sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), 4096);
	memset(buf, 'B', sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 4 << 20), 4096);
	assert_int_equal(ftruncate(fd, 16 << 20), 0); /* trailing hole */
	close(fd);
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "sparse", why), 0);
	dp = P(c, c->dst, "sparse");
	lst(sp, &s);
	lst(dp, &d);
	assert_int_equal(d.st_size, 16 << 20);
	assert_int_equal(d.st_blocks, s.st_blocks);
	assert_true(d.st_blocks < 64); /* 8 KiB of data, not 16 MiB */
	{
		int a = open(sp, O_RDONLY | O_CLOEXEC), b = open(dp, O_RDONLY | O_CLOEXEC);
		char x[4096], y[4096];

		assert_true(a >= 0 && b >= 0);
		assert_int_equal(lseek(a, 0, SEEK_HOLE), lseek(b, 0, SEEK_HOLE));
		assert_int_equal(lseek(a, 8192, SEEK_DATA), lseek(b, 8192, SEEK_DATA));
		assert_int_equal(lseek(b, 8192, SEEK_DATA), 4 << 20);
		assert_int_equal(lseek(a, (4 << 20) + 1, SEEK_HOLE), lseek(b, (4 << 20) + 1, SEEK_HOLE));
		for (off_t off = 0; off < (16 << 20); off += 1 << 20) {
			assert_int_equal(pread(a, x, sizeof(x), off), pread(b, y, sizeof(y), off));
			assert_memory_equal(x, y, sizeof(x));
		}
		assert_int_equal(pread(b, y, 1, 4 << 20), 1);
		assert_int_equal(y[0], 'B');
		close(a);
		close(b);
	}
}

static void test_symlink_special(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	char t[64];
	struct stat d;
	ssize_t n;

	assert_int_equal(symlink("target/x", P(c, c->src, "l")), 0);
	assert_int_equal(lchown(P(c, c->src, "l"), 1234, 5678), 0);
	set_times(P(c, c->src, "l"), 1600000000, 999);
	assert_int_equal(loafre__dest_symlink(c->d, c->sroot, "l", why), 0);
	n = readlink(P(c, c->dst, "l"), t, sizeof(t));
	assert_int_equal(n, 8);
	assert_memory_equal(t, "target/x", 8);
	lst(P(c, c->dst, "l"), &d);
	assert_int_equal(d.st_uid, 4321);
	assert_int_equal(d.st_gid, 8765);
	assert_int_equal(d.st_mtim.tv_sec, 1600000000);
	assert_int_equal(d.st_mtim.tv_nsec, 999);
	/* replacing a file */
	unlink(P(c, c->src, "l"));
	assert_int_equal(symlink("other", P(c, c->src, "l")), 0);
	assert_int_equal(loafre__dest_sync_entry(c->d, c->sroot, "l", why), 0);
	n = readlink(P(c, c->dst, "l"), t, sizeof(t));
	assert_int_equal(n, 5);

	assert_int_equal(mkfifo(P(c, c->src, "p"), 0620), 0);
	assert_int_equal(chmod(P(c, c->src, "p"), 0620), 0);
	assert_int_equal(mknod(P(c, c->src, "nul"), S_IFCHR | 0640, makedev(1, 3)), 0);
	assert_int_equal(loafre__dest_mknod(c->d, c->sroot, "p", why), 0);
	assert_int_equal(loafre__dest_sync_entry(c->d, c->sroot, "nul", why), 0);
	lst(P(c, c->dst, "p"), &d);
	assert_true(S_ISFIFO(d.st_mode));
	assert_int_equal(d.st_mode & 07777, 0620);
	lst(P(c, c->dst, "nul"), &d);
	assert_true(S_ISCHR(d.st_mode));
	assert_int_equal(d.st_rdev, makedev(1, 3));
	assert_int_equal(d.st_mode & 07777, 0640);
	assert_int_equal(loafre__dest_symlink(c->d, c->sroot, "p", why), -EINVAL);
	assert_int_equal(count_names(c->dst), 3);
}

static void test_mkdir_setattr(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct stat d;
	char v[16];

	assert_int_equal(mkdir(P(c, c->src, "d1"), 0755), 0);
	assert_int_equal(mkdir(P(c, c->src, "d1/d2"), 0700), 0);
	assert_int_equal(setxattr(P(c, c->src, "d1/d2"), "user.k", "1", 1, 0), 0);
	assert_int_equal(loafre__dest_mkdir(c->d, c->sroot, "d1/d2", why), 0);
	lst(P(c, c->dst, "d1/d2"), &d);
	assert_true(S_ISDIR(d.st_mode));
	assert_int_equal(d.st_mode & 07777, 0700);
	assert_int_equal(getxattr(P(c, c->dst, "d1/d2"), "user.k", v, sizeof(v)), 1);
	/* existing: only attributes */
	assert_int_equal(loafre__dest_mkdir(c->d, c->sroot, "d1/d2", why), 0);

	/* setattr: mode, owner, times, xattrs set and removed */
	wfile(P(c, c->src, "d1/f"), "x");
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "d1/f", why), 0);
	assert_int_equal(chown(P(c, c->src, "d1/f"), 1234, 5678), 0);
	assert_int_equal(chmod(P(c, c->src, "d1/f"), 0604), 0);
	assert_int_equal(setxattr(P(c, c->src, "d1/f"), "user.new", "n", 1, 0), 0);
	assert_int_equal(setxattr(P(c, c->dst, "d1/f"), "user.stale", "s", 1, 0), 0);
	set_times(P(c, c->src, "d1/f"), 1200000000, 42);
	assert_int_equal(loafre__dest_setattr(c->d, c->sroot, "d1/f", LOAFRE__ATTR_MODE, why), 0);
	lst(P(c, c->dst, "d1/f"), &d);
	assert_int_equal(d.st_mode & 07777, 0604);
	assert_int_equal(d.st_uid, 0); /* only the mode was asked */
	assert_int_equal(loafre__dest_sync_attrs(c->d, c->sroot, "d1/f", why), 0);
	lst(P(c, c->dst, "d1/f"), &d);
	assert_int_equal(d.st_uid, 4321);
	assert_int_equal(d.st_gid, 8765);
	assert_int_equal(d.st_mtim.tv_sec, 1200000000);
	assert_int_equal(d.st_mtim.tv_nsec, 42);
	assert_int_equal(getxattr(P(c, c->dst, "d1/f"), "user.new", v, sizeof(v)), 1);
	assert_int_equal(getxattr(P(c, c->dst, "d1/f"), "user.stale", v, sizeof(v)), -1);
	assert_int_equal(errno, ENODATA);
	/* missing on either side */
	assert_int_equal(loafre__dest_setattr(c->d, c->sroot, "nope", LOAFRE__ATTR_ALL, why),
			 -ENOENT);
	wfile(P(c, c->src, "d1/g"), "g");
	assert_int_equal(loafre__dest_setattr(c->d, c->sroot, "d1/g", LOAFRE__ATTR_ALL, why),
			 -ENOENT);
	/* a parent's times follow its source after an entry was made in it */
	set_times(P(c, c->src, "d1"), 1100000000, 11);
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "d1/g", why), 0);
	lst(P(c, c->dst, "d1"), &d);
	assert_int_equal(d.st_mtim.tv_sec, 1100000000);
	assert_int_equal(d.st_mtim.tv_nsec, 11);
}

static void test_link(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct stat a, b;

	wfile(P(c, c->src, "f"), "data");
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), 0);
	assert_int_equal(loafre__dest_link(c->d, c->sroot, "f", "g", why), 0);
	lst(P(c, c->dst, "f"), &a);
	lst(P(c, c->dst, "g"), &b);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(b.st_nlink, 2);
	/* again: nothing to do */
	assert_int_equal(loafre__dest_link(c->d, c->sroot, "f", "g", why), 0);
	/* replaces another file */
	wfile(P(c, c->dst, "h"), "other");
	assert_int_equal(loafre__dest_link(c->d, c->sroot, "f", "h", why), 0);
	lst(P(c, c->dst, "h"), &b);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_string_equal(rfile(P(c, c->dst, "h")), "data");
	/* into a new directory (made from the source's) */
	assert_int_equal(mkdir(P(c, c->src, "sub"), 0701), 0);
	assert_int_equal(loafre__dest_link(c->d, c->sroot, "f", "sub/i", why), 0);
	lst(P(c, c->dst, "sub"), &b);
	assert_int_equal(b.st_mode & 07777, 0701);
	/* missing old name: the caller copies */
	assert_int_equal(loafre__dest_link(c->d, c->sroot, "none", "j", why), -ENOENT);
	assert_int_equal(access(P(c, c->dst, "j"), F_OK), -1);
	assert_int_equal(count_names(c->dst), 4);
}

/* A destination file with several names, updated by a copy of a source file
 * with several names: rewritten in place (its inode kept), so every name
 * sees the new data, mode and xattrs; holes stay holes. */
static void test_copy_inplace_links(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	char val[16];
	struct stat a0, a, b, s;
	int fd;

	wfile(P(c, c->src, "f"), "old data, longer than the new one");
	assert_int_equal(link(P(c, c->src, "f"), P(c, c->src, "g")), 0);
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), 0);
	assert_int_equal(loafre__dest_link(c->d, c->sroot, "f", "g", why), 0);
	lst(P(c, c->dst, "f"), &a0);
	assert_int_equal(a0.st_nlink, 2);
	/* the source changes: data (shorter, with a hole), mode, an xattr */
	fd = open(P(c, c->src, "f"), O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "new", 3, 0), 3);
	assert_int_equal(pwrite(fd, "tail", 4, 1 << 20), 4);
	close(fd);
	assert_int_equal(chmod(P(c, c->src, "f"), 04751), 0);
	assert_int_equal(setxattr(P(c, c->src, "f"), "user.k0", "v0", 2, 0), 0);
	set_times(P(c, c->src, "f"), 1600000000, 123456789);
	c->hook_calls = 0;
	assert_int_equal(loafre__dest_update(c->d, c->sroot, "f", why), 0);
	assert_int_equal(c->hook_calls, 1);
	lst(P(c, c->src, "f"), &s);
	lst(P(c, c->dst, "f"), &a);
	lst(P(c, c->dst, "g"), &b);
	assert_int_equal(a.st_ino, a0.st_ino); /* the same inode */
	assert_int_equal(b.st_ino, a0.st_ino);
	assert_int_equal(a.st_nlink, 2);
	assert_int_equal(b.st_size, (1 << 20) + 4);
	assert_int_equal(b.st_mode & 07777, 04751);
	assert_int_equal(b.st_mtim.tv_sec, s.st_mtim.tv_sec);
	assert_int_equal(b.st_mtim.tv_nsec, s.st_mtim.tv_nsec);
	assert_true(b.st_blocks < 64); /* the hole kept */
	assert_int_equal(getxattr(P(c, c->dst, "g"), "user.k0", val, sizeof(val)), 2);
	assert_memory_equal(val, "v0", 2);
	{
		char buf[8] = "";
		int g = open(P(c, c->dst, "g"), O_RDONLY | O_CLOEXEC);

		assert_true(g >= 0);
		assert_int_equal(pread(g, buf, 3, 0), 3);
		assert_memory_equal(buf, "new", 3);
		assert_int_equal(pread(g, buf, 4, 1 << 20), 4);
		assert_memory_equal(buf, "tail", 4);
		assert_int_equal(lseek(g, 0, SEEK_HOLE) < (1 << 20), 1);
		close(g);
	}
	/* an xattr removed at the source: removed from the inode too */
	assert_int_equal(removexattr(P(c, c->src, "f"), "user.k0"), 0);
	assert_int_equal(loafre__dest_update(c->d, c->sroot, "f", why), 0);
	assert_int_equal(getxattr(P(c, c->dst, "g"), "user.k0", val, sizeof(val)), -1);
	assert_int_equal(errno, ENODATA);
	/* no temporary left */
	assert_int_equal(count_names(c->dst), 2);
	/* a plain copy (the entry may be another object's link) replaces:
	 * a new inode at f, g keeps the old one */
	wfile(P(c, c->src, "f"), "replaced");
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), 0);
	lst(P(c, c->dst, "f"), &a);
	lst(P(c, c->dst, "g"), &b);
	assert_true(a.st_ino != a0.st_ino);
	assert_int_equal(b.st_ino, a0.st_ino);
	assert_int_equal(b.st_nlink, 1);
	assert_string_equal(rfile(P(c, c->dst, "f")), "replaced");
}

/* An update of a single-name destination file replaces it (temporary +
 * rename: a new inode, never the old one rewritten), also when the source
 * has several names; and a destination file with several names whose
 * source has one name (another object took the name) is replaced, not
 * rewritten. */
static void test_copy_single_link_renamed(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct stat a0, a, b;

	wfile(P(c, c->src, "f"), "one");
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), 0);
	lst(P(c, c->dst, "f"), &a0);
	wfile(P(c, c->src, "f"), "two");
	assert_int_equal(link(P(c, c->src, "f"), P(c, c->src, "g")), 0);
	c->hook_calls = 0;
	c->hook_mode = 0;
	assert_int_equal(loafre__dest_update(c->d, c->sroot, "f", why), 0);
	/* during the copy the final name still had the old, complete file */
	assert_string_equal(c->hook_seen, "one");
	lst(P(c, c->dst, "f"), &a);
	assert_true(a.st_ino != a0.st_ino);
	assert_int_equal(a.st_nlink, 1);
	assert_string_equal(rfile(P(c, c->dst, "f")), "two");
	/* destination f, h one file; the source's f a new single-name file */
	assert_int_equal(loafre__dest_link(c->d, c->sroot, "f", "h", why), 0);
	assert_int_equal(unlink(P(c, c->src, "g")), 0);
	wfile(P(c, c->src, "f"), "three");
	lst(P(c, c->dst, "f"), &a0);
	assert_int_equal(loafre__dest_update(c->d, c->sroot, "f", why), 0);
	lst(P(c, c->dst, "f"), &a);
	lst(P(c, c->dst, "h"), &b);
	assert_true(a.st_ino != a0.st_ino);
	assert_int_equal(b.st_ino, a0.st_ino);
	assert_string_equal(rfile(P(c, c->dst, "h")), "two");
	assert_string_equal(rfile(P(c, c->dst, "f")), "three");
}

/* A rename onto another name of the same inode removes the old name (as
 * the source did), where rename(2) alone would leave both. */
static void test_rename_same_inode(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct stat a, b;

	wfile(P(c, c->src, "f"), "data");
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), 0);
	assert_int_equal(loafre__dest_link(c->d, c->sroot, "f", "g", why), 0);
	lst(P(c, c->dst, "f"), &a);
	assert_int_equal(loafre__dest_rename(c->d, c->sroot, "f", "g", why), 0);
	assert_int_equal(access(P(c, c->dst, "f"), F_OK), -1);
	lst(P(c, c->dst, "g"), &b);
	assert_int_equal(b.st_ino, a.st_ino);
	assert_int_equal(b.st_nlink, 1);
	assert_int_equal(count_names(c->dst), 1);
}

static void test_rename(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct stat a, b;

	assert_int_equal(mkdir(P(c, c->src, "d"), 0755), 0);
	assert_int_equal(mkdir(P(c, c->src, "d/x"), 0755), 0);
	wfile(P(c, c->src, "d/x/f1"), "one");
	wfile(P(c, c->src, "d/y"), "why");
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "d/x/f1", why), 0);
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "d/y", why), 0);
	lst(P(c, c->dst, "d/x/f1"), &a);
	/* the source renames d to e/d2 (e new) */
	assert_int_equal(mkdir(P(c, c->src, "e"), 0750), 0);
	assert_int_equal(rename(P(c, c->src, "d"), P(c, c->src, "e/d2")), 0);
	assert_int_equal(loafre__dest_rename(c->d, c->sroot, "d", "e/d2", why), 0);
	lst(P(c, c->dst, "e/d2/x/f1"), &b);
	assert_int_equal(a.st_ino, b.st_ino); /* moved, not copied */
	assert_string_equal(rfile(P(c, c->dst, "e/d2/y")), "why");
	assert_int_equal(access(P(c, c->dst, "d"), F_OK), -1);
	lst(P(c, c->dst, "e"), &b);
	assert_int_equal(b.st_mode & 07777, 0750);
	/* over an existing file */
	wfile(P(c, c->dst, "z"), "old z");
	assert_int_equal(loafre__dest_rename(c->d, c->sroot, "e/d2/y", "z", why), 0);
	assert_string_equal(rfile(P(c, c->dst, "z")), "why");
	/* a directory over a non-empty directory */
	assert_int_equal(mkdir(P(c, c->dst, "full"), 0755), 0);
	wfile(P(c, c->dst, "full/junk"), "j");
	assert_int_equal(loafre__dest_rename(c->d, c->sroot, "e/d2", "full", why), 0);
	assert_string_equal(rfile(P(c, c->dst, "full/x/f1")), "one");
	assert_int_equal(access(P(c, c->dst, "full/junk"), F_OK), -1);
	/* missing old */
	why[0] = '\0';
	assert_int_equal(loafre__dest_rename(c->d, c->sroot, "gone", "new", why), -ENOENT);
	assert_non_null(strstr(why, "gone"));
}

static bool protect_keep(void *arg, const char *rel, bool is_dir)
{
	(void)arg;
	(void)is_dir;
	return strcmp(rel, "r/keep") == 0;
}

static void test_unlink_rmdir(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";

	wfile(P(c, c->dst, "f"), "f");
	assert_int_equal(loafre__dest_unlink(c->d, c->sroot, "f", why), 0);
	assert_int_equal(access(P(c, c->dst, "f"), F_OK), -1);
	assert_int_equal(loafre__dest_unlink(c->d, c->sroot, "f", why), 0); /* again */
	assert_int_equal(loafre__dest_unlink(c->d, c->sroot, "no/such/dir/f", why), 0);
	/* rmdir of a tree */
	assert_int_equal(mkdir(P(c, c->dst, "t"), 0755), 0);
	assert_int_equal(mkdir(P(c, c->dst, "t/u"), 0755), 0);
	wfile(P(c, c->dst, "t/u/f"), "f");
	assert_int_equal(symlink("/", P(c, c->dst, "t/u/root")), 0);
	assert_int_equal(loafre__dest_rmdir(c->d, c->sroot, "t", why), 0);
	assert_int_equal(access(P(c, c->dst, "t"), F_OK), -1);
	/* protected entries stay */
	assert_int_equal(open_dest(c, protect_keep), 0);
	assert_int_equal(mkdir(P(c, c->dst, "r"), 0755), 0);
	wfile(P(c, c->dst, "r/keep"), "k");
	wfile(P(c, c->dst, "r/drop"), "d");
	assert_int_equal(loafre__dest_rmdir(c->d, c->sroot, "r", why), -ENOTEMPTY);
	assert_int_equal(access(P(c, c->dst, "r/keep"), F_OK), 0);
	assert_int_equal(access(P(c, c->dst, "r/drop"), F_OK), -1);
}

static void check_escapes(struct ctx *c)
{
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct stat st;

	/* dst/evil -> outside (a symlink inside the destination) */
	assert_int_equal(mkdir(P(c, c->src, "evil"), 0755), 0);
	wfile(P(c, c->src, "evil/f"), "src");
	assert_int_equal(mkdir(P(c, c->src, "evil/sub"), 0755), 0);
	wfile(P(c, c->src, "x"), "x");
	if (loafre__dest_copy(c->d, c->sroot, "evil/f", why) != -ELOOP)
		fail_msg("copy through evil: %s", why);
	assert_int_equal(loafre__dest_mkdir(c->d, c->sroot, "evil/sub", why), -ELOOP);
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "x", why), 0);
	assert_int_equal(loafre__dest_rename(c->d, c->sroot, "x", "evil/x", why), -ELOOP);
	assert_int_equal(loafre__dest_link(c->d, c->sroot, "x", "evil/x", why), -ELOOP);
	assert_int_equal(loafre__dest_unlink(c->d, c->sroot, "evil/victim", why), -ELOOP);
	assert_int_equal(loafre__dest_rmdir(c->d, c->sroot, "evil/victim", why), -ELOOP);
	/* ".." */
	assert_int_equal(loafre__dest_unlink(c->d, c->sroot, "../outside/victim", why), -EXDEV);
	assert_int_equal(loafre__dest_unlink(c->d, c->sroot, "a/../../outside/victim", why),
			 -EXDEV);
	assert_int_equal(loafre__dest_rmdir(c->d, c->sroot, "..", why), -EXDEV);
	assert_int_equal(loafre__dest_unlink(c->d, c->sroot, "/etc/passwd", why), -EINVAL);
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "", why), -EINVAL);
	/* a symlink as the last component is replaced, never followed */
	wfile(P(c, c->src, "lnk"), "regular at the source");
	assert_int_equal(loafre__dest_setattr(c->d, c->sroot, "lnk", LOAFRE__ATTR_ALL, why), 0);
	assert_string_equal(rfile(P(c, c->dst, "lnk")), "regular at the source");
	/* nothing outside touched */
	assert_string_equal(rfile(P(c, c->out, "victim")), "victim");
	lst(P(c, c->out, "victim"), &st);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_names(c->out), 1);
	lst(P(c, c->dst, "evil"), &st);
	assert_true(S_ISLNK(st.st_mode));
}

static void setup_escape(struct ctx *c)
{
	wfile(P(c, c->out, "victim"), "victim");
	assert_int_equal(chmod(P(c, c->out, "victim"), 0600), 0);
	assert_int_equal(symlink(c->out, P(c, c->dst, "evil")), 0);
	assert_int_equal(symlink(P(c, c->out, "victim"), P(c, c->dst, "lnk")), 0);
}

static void test_escape_refused(void **state)
{
	struct ctx *c = *state;

	setup_escape(c);
	check_escapes(c);
}

static void test_escape_refused_walk(void **state)
{
	struct ctx *c = *state;

	loafre__repl_no_openat2 = true;
	setup_escape(c);
	check_escapes(c);
}

static void test_source_gone(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct loafre__dest_stats ds;

	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "never", why), -ENOENT);
	wfile(P(c, c->src, "f"), "short-lived");
	c->hook_mode = 1;
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), -ENOENT);
	assert_int_equal(c->hook_calls, 1);
	assert_int_equal(count_names(c->dst), 0); /* no file, no temporary */
	loafre__dest_get_stats(c->d, &ds);
	assert_int_equal(ds.failed[LOAFRE__DOP_COPY], 2);
	assert_int_equal(ds.done[LOAFRE__DOP_COPY], 0);
	assert_int_equal(ds.bytes, 0);
}

/* A file at the destination where the source has a directory now (a file
 * replaced by a directory, the records of which another worker thread has
 * not applied yet): a copy into the directory replaces the file by the
 * directory, as a missing parent is made, instead of failing (ENOTDIR). */
static void test_copy_parent_was_file(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct stat st;

	wfile(P(c, c->dst, "was-file"), "old file");
	wfile(P(c, c->dst, "keep"), "kept");
	assert_int_equal(mkdir(P(c, c->src, "was-file"), 0750), 0);
	assert_int_equal(mkdir(P(c, c->src, "was-file/sub"), 0700), 0);
	wfile(P(c, c->src, "was-file/sub/x"), "inside");
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "was-file/sub/x", why), 0);
	assert_int_equal(lstat(P(c, c->dst, "was-file"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(lstat(P(c, c->dst, "was-file/sub"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_string_equal(rfile(P(c, c->dst, "was-file/sub/x")), "inside");
	assert_string_equal(rfile(P(c, c->dst, "keep")), "kept");
}

static void test_source_changing(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct loafre__dest_stats ds;

	wfile(P(c, c->src, "f"), "v1");
	c->hook_mode = 3; /* changes once: copied again */
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), 0);
	assert_int_equal(c->hook_calls, 2);
	assert_string_equal(rfile(P(c, c->dst, "f")), "v1more");
	loafre__dest_get_stats(c->d, &ds);
	assert_int_equal(ds.retries, 1);
	c->hook_mode = 2; /* keeps changing: gives up */
	c->hook_calls = 0;
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), -EAGAIN);
	assert_int_equal(c->hook_calls, 4); /* 1 + copy_retries (3) */
	assert_string_equal(rfile(P(c, c->dst, "f")), "v1more"); /* old one kept */
	assert_int_equal(count_names(c->dst), 1);
}

static void test_no_partial_file(void **state)
{
	struct ctx *c = *state;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	char *big = malloc(3 << 20);

	assert_non_null(big);
	memset(big, 'n', 3 << 20);
	big[(3 << 20) - 1] = '\0';
	/* new file: nothing at the final name until complete */
	wfile(P(c, c->src, "f"), big);
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), 0);
	assert_string_equal(c->hook_seen, "(none)");
	assert_int_equal(c->hook_names, 0);
	/* replaced file: the old content until complete */
	wfile(P(c, c->dst, "f"), "old");
	assert_int_equal(loafre__dest_copy(c->d, c->sroot, "f", why), 0);
	assert_string_equal(c->hook_seen, "old");
	assert_int_equal(c->hook_names, 1);
	{
		struct stat st;

		lst(P(c, c->dst, "f"), &st);
		assert_int_equal(st.st_size, (3 << 20) - 1);
	}
	free(big);
}

static bool filter_no_skip(void *arg, const char *rel, bool is_dir)
{
	(void)arg;
	(void)is_dir;
	return strstr(rel, "skip") == NULL;
}

static void on_progress(void *arg, const struct loafre__sync_progress *p)
{
	struct loafre__sync_progress *last = arg;

	assert_true(p->entries >= last->entries); /* never goes back */
	*last = *p;
}

static void test_sync_tree(void **state)
{
	struct ctx *c = *state;
	struct loafre__sync_progress p, last = { 0 };
	struct loafre__sync_opts so = { .threads = 3, .delete = true, .filter = filter_no_skip,
					.progress = on_progress, .progress_arg = &last };
	struct stat a, b;
	char why[LOAFRE__DEST_WHY_MAX] = "";

	for (int i = 0; i < 20; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "d%d", i % 5);
		mkdir(P(c, c->src, "%s", rel), 0755);
		snprintf(rel, sizeof(rel), "d%d/sub%d", i % 5, i % 3);
		mkdir(P(c, c->src, "%s", rel), 0750);
		wfile(P(c, c->src, "d%d/sub%d/f%d", i % 5, i % 3, i), "content");
	}
	assert_int_equal(link(P(c, c->src, "d0/sub0/f0"), P(c, c->src, "d1/hl")), 0);
	assert_int_equal(link(P(c, c->src, "d0/sub0/f0"), P(c, c->src, "hl2")), 0);
	assert_int_equal(symlink("d0", P(c, c->src, "ln")), 0);
	wfile(P(c, c->src, "skipme"), "no");
	/* destination leftovers: deleted, except excluded ones */
	assert_int_equal(mkdir(P(c, c->dst, "stale"), 0755), 0);
	wfile(P(c, c->dst, "stale/f"), "x");
	wfile(P(c, c->dst, "skip-kept"), "x");
	assert_int_equal(loafre__dest_sync_tree(c->d, c->sroot, "", &so, &p), 0);
	assert_int_equal(p.errors, 0);
	assert_int_equal(p.deleted, 1);
	/* 5 dirs, 15 subdirs, 20 files, 2 links, a symlink, skipme */
	assert_int_equal(p.entries, 5 + 15 + 20 + 2 + 1 + 1);
	assert_memory_equal(&last, &p, sizeof(p)); /* the final call */
	assert_int_equal(p.bytes, 19 * 7 + 7);
	assert_string_equal(rfile(P(c, c->dst, "d4/sub1/f19")), "content");
	assert_int_equal(access(P(c, c->dst, "stale"), F_OK), -1);
	assert_int_equal(access(P(c, c->dst, "skipme"), F_OK), -1);
	assert_int_equal(access(P(c, c->dst, "skip-kept"), F_OK), 0);
	lst(P(c, c->dst, "d0/sub0/f0"), &a);
	lst(P(c, c->dst, "d1/hl"), &b);
	assert_int_equal(a.st_ino, b.st_ino);
	lst(P(c, c->dst, "hl2"), &b);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_uid, 0);
	/* directory times equal the source's */
	lst(P(c, c->src, "d2"), &a);
	lst(P(c, c->dst, "d2"), &b);
	assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
	assert_int_equal(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
	/* a second sync copies nothing */
	memset(&last, 0, sizeof(last));
	assert_int_equal(loafre__dest_sync_tree(c->d, c->sroot, "", &so, &p), 0);
	assert_int_equal(p.copied, 0);
	assert_int_equal(p.deleted, 0);
	/* a subtree */
	wfile(P(c, c->src, "d3/new"), "n");
	memset(&last, 0, sizeof(last));
	assert_int_equal(loafre__dest_sync_tree(c->d, c->sroot, "d3", &so, &p), 0);
	assert_int_equal(p.copied, 1);
	assert_string_equal(rfile(P(c, c->dst, "d3/new")), "n");
	(void)why;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_attrs_owner_xattr_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_special, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_setattr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_inplace_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_single_link_renamed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_same_inode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_rmdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escape_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escape_refused_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_parent_was_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_changing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_partial_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_tree, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("skipped: needs root (chown, mknod, trusted.* xattrs)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
