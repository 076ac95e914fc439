/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_ssh_driver.c — drives an ssh destination (lib/repl_ssh.c) for
 * tests/integration/ssh_dest.py against a real sshd on localhost.
 *
 *   repl_ssh_driver ops SRC SPEC CTLDIR PORT IDENTITY KNOWN_HOSTS
 *       SRC holds the tree ssh_dest.py made (see there); performs every
 *       operation, mutating SRC as a worker would see it, with uid and gid
 *       map 1234:4321; the caller then compares SRC with the destination.
 *   repl_ssh_driver escape SRC SPEC CTLDIR PORT IDENTITY KNOWN_HOSTS
 *       the destination holds a symlink "evil" to a directory outside;
 *       SRC has a directory "evil" with a file "f": copy/mkdir/rename/
 *       unlink through it must fail with -ELOOP, and "../x" with -EXDEV;
 *       then rmdir of "prot" keeps its entries named *.keep (opts.protect).
 *   repl_ssh_driver unreach SRC SPEC CTLDIR PORT IDENTITY KNOWN_HOSTS
 *       the port is closed: open must fail with -EHOSTUNREACH and one line.
 *   repl_ssh_driver batch SRC SPEC CTLDIR PORT IDENTITY KNOWN_HOSTS
 *       batched copies (loafre__dest_batch_begin): SRC holds b/1..b/6, c/x
 *       and bad/f, the destination a symlink "bad" to a directory outside.
 *       Renames, an rmdir and an lstat of queued paths see the copies made
 *       (flushed first: order kept); a source file removed before the
 *       flush is not an error; a copy through "bad" fails in the flush
 *       with -ELOOP (flush's result and the failed callback); the caller
 *       then compares SRC (without bad) with the destination.
 *   repl_ssh_driver sync SRC SPEC CTLDIR PORT IDENTITY KNOWN_HOSTS
 *       initial sync with delete of SRC onto a destination holding other
 *       entries (loafre__dest_sync_tree: listings with stat, batched
 *       copies); the caller compares the trees.
 *   repl_ssh_driver restart SRC SPEC CTLDIR PORT IDENTITY KNOWN_HOSTS
 *       one operation, then prints "ready" and waits for a line on stdin
 *       (the caller kills the remote shell of the channel meanwhile); the
 *       operations after must succeed on a new channel.
 * Prints "ok" and exits 0, or prints what failed and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "repl_dest.h"
#include "rule.h"

static int failures;

#define CHECK(cond, ...)                                               \
	do {                                                           \
		if (!(cond)) {                                         \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                  \
			fputc('\n', stderr);                           \
			failures++;                                    \
		}                                                      \
	} while (0)

static char why[LOAFRE__DEST_WHY_MAX];

#define OP(expect, call)                                                              \
	do {                                                                          \
		int r_ = (call);                                                      \
		CHECK(r_ == (expect), "%s = %d (%s), expected %d; why: %s", #call, r_, \
		      strerror(-r_), (expect), why);                                  \
		why[0] = '\0';                                                        \
	} while (0)

static int sys(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "FAIL: %s: %s\n", what, strerror(errno));
		failures++;
	}
	return r;
}

static int do_ops(struct loafre__dest *d, int s, const char *src)
{
	struct stat st;

	(void)src;
	/* initial entries, parents first and then implied */
	OP(0, loafre__dest_mkdir(d, s, "d", why));
	OP(0, loafre__dest_mkdir(d, s, "d/sub", why));
	OP(0, loafre__dest_copy(d, s, "d/f", why));
	OP(0, loafre__dest_copy(d, s, "d/sub/g", why));
	OP(0, loafre__dest_copy(d, s, "deep/er/file", why)); /* parents implied */
	OP(0, loafre__dest_copy(d, s, "sparse", why));
	OP(0, loafre__dest_copy(d, s, "x", why));
	OP(0, loafre__dest_copy(d, s, "quote's file", why));
	OP(0, loafre__dest_symlink(d, s, "ln", why));
	/* a symlink with two names: linked, and linked again (nothing to do;
	 * not "are the same file") */
	sys(linkat(s, "ln", s, "ln2", 0), "link ln ln2");
	OP(0, loafre__dest_link(d, s, "ln", "ln2", why));
	OP(0, loafre__dest_link(d, s, "ln", "ln2", why));
	sys(unlinkat(s, "ln2", 0), "unlink ln2"); /* (verify --ssh: no linked symlinks) */
	OP(0, loafre__dest_unlink(d, s, "ln2", why));
	OP(0, loafre__dest_copy(d, s, "h1", why));
	OP(0, loafre__dest_link(d, s, "h1", "h2", why));
	OP(0, loafre__dest_link(d, s, "h1", "h2", why)); /* already: nothing */
	{
		/* a file with several names written: rewritten in place (rsync
		 * --inplace), h2 follows and stays a link of h1 */
		struct stat a, b;
		int fd = openat(s, "h1", O_WRONLY | O_TRUNC | O_CLOEXEC);

		if (sys(fd, "open h1") >= 0) {
			sys(write(fd, "linked, rewritten\n", 18) == 18 ? 0 : -1, "write h1");
			close(fd);
		}
		sys(fchmodat(s, "h1", 0640, 0), "chmod h1");
		OP(0, loafre__dest_update(d, s, "h1", why));
		OP(0, loafre__dest_lstat(d, "h1", &a));
		OP(0, loafre__dest_lstat(d, "h2", &b));
		CHECK(a.st_ino == b.st_ino && b.st_nlink == 2 && b.st_size == 18 &&
			      (b.st_mode & 07777) == 0640,
		      "h1/h2 after a copy of h1: ino %llu/%llu nlink %u size %lld mode %o",
		      (unsigned long long)a.st_ino, (unsigned long long)b.st_ino,
		      (unsigned)b.st_nlink, (long long)b.st_size, (unsigned)b.st_mode & 07777);
		/* a rename onto another name of the same inode: the old name goes */
		OP(0, loafre__dest_link(d, s, "h1", "h3", why));
		OP(0, loafre__dest_rename(d, s, "h3", "h2", why));
		OP(-ENOENT, loafre__dest_lstat(d, "h3", &b));
		/* the same in a subdirectory: the old name's directory gets the
		 * source's times again after the old name goes */
		struct timespec old_times[2] = { { 1500000000, 1 }, { 1500000000, 2 } };

		sys(linkat(s, "d/f", s, "d/lk", 0), "link d/f d/lk");
		OP(0, loafre__dest_link(d, s, "d/f", "d/lk", why));
		sys(renameat(s, "d/lk", s, "lk2"), "rename d/lk lk2");
		sys(utimensat(s, "d", old_times, 0), "utimes d");
		OP(0, loafre__dest_link(d, s, "d/f", "lk2", why));
		OP(0, loafre__dest_rename(d, s, "d/lk", "lk2", why));
		OP(-ENOENT, loafre__dest_lstat(d, "d/lk", &b));
		OP(0, loafre__dest_lstat(d, "d", &b));
		CHECK(b.st_mtim.tv_sec == 1500000000 && b.st_mtim.tv_nsec == 2,
		      "d after its name d/lk of a file went by a rename: mtime %lld.%09ld",
		      (long long)b.st_mtim.tv_sec, b.st_mtim.tv_nsec);
		/* a directory's mtime that differs within the same second (its
		 * xattrs make the attributes go by rsync) is set too */
		old_times[1].tv_nsec = 777;
		sys(utimensat(s, "d", old_times, 0), "utimes d");
		OP(0, loafre__dest_setattr(d, s, "d", LOAFRE__ATTR_ALL, why));
		OP(0, loafre__dest_lstat(d, "d", &b));
		CHECK(b.st_mtim.tv_sec == 1500000000 && b.st_mtim.tv_nsec == 777,
		      "d after a setattr: mtime %lld.%09ld (source 1500000000.000000777)",
		      (long long)b.st_mtim.tv_sec, b.st_mtim.tv_nsec);
	}
	OP(0, loafre__dest_mknod(d, s, "fifo", why));
	OP(0, loafre__dest_mkdir(d, s, "rmme", why));
	OP(0, loafre__dest_copy(d, s, "rmme/a", why));
	OP(0, loafre__dest_copy(d, s, "rmme/b/c", why));
	OP(0, loafre__dest_copy(d, s, "gone", why));
	OP(0, loafre__dest_copy(d, s, "own", why));
	{
		/* a file replaced by a directory at the source, a file created
		 * in it copied before the destination heard of the replacement:
		 * the destination's file is replaced by the directory (not
		 * ENOTDIR) */
		int fd = openat(s, "was-file", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (sys(fd, "create was-file") >= 0)
			close(fd);
		OP(0, loafre__dest_copy(d, s, "was-file", why));
		sys(unlinkat(s, "was-file", 0), "unlink was-file");
		sys(mkdirat(s, "was-file", 0750), "mkdir was-file");
		fd = openat(s, "was-file/x", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (sys(fd, "create was-file/x") >= 0) {
			sys(write(fd, "inside\n", 7) == 7 ? 0 : -1, "write was-file/x");
			close(fd);
		}
		OP(0, loafre__dest_copy(d, s, "was-file/x", why));
		OP(0, loafre__dest_lstat(d, "was-file", &st));
		CHECK(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750,
		      "was-file after a copy of was-file/x: mode %o", (unsigned)st.st_mode);
	}
	OP(-EINVAL, loafre__dest_copy(d, s, "d", why)); /* not a regular file */
	OP(-ENOENT, loafre__dest_copy(d, s, "nosuch", why));
	OP(0, loafre__dest_lstat(d, "sparse", &st));
	CHECK(S_ISREG(st.st_mode) && st.st_size == 8 << 20, "lstat sparse: mode %o size %lld",
	      (unsigned)st.st_mode, (long long)st.st_size);
	OP(-ENOENT, loafre__dest_lstat(d, "nosuch", &st));

	/* a directory renamed with its contents */
	sys(renameat(s, "d", s, "e"), "rename d e");
	OP(0, loafre__dest_rename(d, s, "d", "e", why));
	OP(-ENOENT, loafre__dest_rename(d, s, "d", "e2", why));
	/* a file renamed onto another */
	sys(renameat(s, "x", s, "e/x2"), "rename x e/x2");
	OP(0, loafre__dest_rename(d, s, "x", "e/x2", why));
	/* renamed into parents missing at the destination */
	sys(mkdirat(s, "new", 0751), "mkdir new");
	sys(mkdirat(s, "new/deeper", 0705), "mkdir new/deeper");
	sys(renameat(s, "deep/er/file", s, "new/deeper/file2"), "rename deep/er/file");
	OP(0, loafre__dest_rename(d, s, "deep/er/file", "new/deeper/file2", why));
	/* unlink */
	sys(unlinkat(s, "gone", 0), "unlink gone");
	OP(0, loafre__dest_unlink(d, s, "gone", why));
	OP(0, loafre__dest_unlink(d, s, "gone", why)); /* already missing */
	/* rmdir of a directory still full at the destination */
	sys(unlinkat(s, "rmme/a", 0), "unlink rmme/a");
	sys(unlinkat(s, "rmme/b/c", 0), "unlink rmme/b/c");
	sys(unlinkat(s, "rmme/b", AT_REMOVEDIR), "rmdir rmme/b");
	sys(unlinkat(s, "rmme", AT_REMOVEDIR), "rmdir rmme");
	OP(0, loafre__dest_rmdir(d, s, "rmme", why));
	/* setattr with the uid/gid map */
	sys(fchownat(s, "own", 1234, 1234, 0), "chown own");
	sys(fchmodat(s, "own", 0640, 0), "chmod own");
	OP(0, loafre__dest_setattr(d, s, "own", LOAFRE__ATTR_OWNER | LOAFRE__ATTR_MODE |
						       LOAFRE__ATTR_TIMES, why));
	OP(0, loafre__dest_lstat(d, "own", &st));
	CHECK(st.st_uid == 4321 && st.st_gid == 4321 && (st.st_mode & 07777) == 0640,
	      "own: %u:%u %o", (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)st.st_mode);
	/* xattrs changed at the source */
	sys(fchownat(s, "e/x2", 1234, 0, 0), "chown e/x2");
	{
		int fd = openat(s, "e/x2", O_RDONLY | O_CLOEXEC);

		if (sys(fd, "open e/x2") >= 0) {
			sys(fsetxattr(fd, "user.color", "blue", 4, 0), "setxattr");
			close(fd);
		}
	}
	OP(0, loafre__dest_sync_attrs(d, s, "e/x2", why));
	OP(-ENOENT, loafre__dest_setattr(d, s, "nosuch", LOAFRE__ATTR_ALL, why));
	/* setattr_from: a directory the source has moved on (mv_a -> mv_b)
	 * gets, at its old path, the attributes it has at the new one; the
	 * rename then brings it to its place (the caller compares) */
	sys(mkdirat(s, "mv_a", 0755), "mkdir mv_a");
	sys(mkdirat(s, "mv_a/x", 0755), "mkdir mv_a/x");
	OP(0, loafre__dest_mkdir(d, s, "mv_a", why));
	OP(0, loafre__dest_mkdir(d, s, "mv_a/x", why));
	sys(renameat(s, "mv_a", s, "mv_b"), "rename mv_a");
	sys(fchmodat(s, "mv_b/x", 0710, 0), "chmod mv_b/x");
	{
		int fd = openat(s, "mv_b/x", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct timespec ts[2] = { { 1400000000, 5 }, { 1400000000, 777 } };

		if (sys(fd, "open mv_b/x") >= 0) {
			sys(fsetxattr(fd, "user.moved", "on", 2, 0), "setxattr mv_b/x");
			sys(futimens(fd, ts), "utimens mv_b/x");
			close(fd);
		}
	}
	OP(0, loafre__dest_setattr_from(d, s, "mv_b/x", "mv_a/x", LOAFRE__ATTR_ALL, why));
	OP(0, loafre__dest_lstat(d, "mv_a/x", &st));
	CHECK((st.st_mode & 07777) == 0710 && st.st_mtim.tv_sec == 1400000000 &&
		      st.st_mtim.tv_nsec == 777,
	      "mv_a/x after setattr_from: %o %lld.%09ld", (unsigned)st.st_mode,
	      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	OP(-EOPNOTSUPP, loafre__dest_setattr_from(d, s, "mv_b/x", "mv_a", LOAFRE__ATTR_XATTR, why));
	OP(-ESTALE, loafre__dest_setattr_from(d, s, "own", "mv_a/x", LOAFRE__ATTR_MODE, why));
	OP(-ENOENT, loafre__dest_setattr_from(d, s, "nosuch", "mv_a/x", LOAFRE__ATTR_ALL, why));
	/* its parent's times were changed by the rename above, the caller's
	 * compare sees them as the source has them */
	OP(0, loafre__dest_rename(d, s, "mv_a", "mv_b", why));
	OP(0, loafre__dest_setattr(d, s, "mv_b", LOAFRE__ATTR_ALL, why));
	/* the roots' own attributes */
	OP(0, loafre__dest_sync_attrs(d, s, "", why));
	return 0;
}

/* opts.protect: names ending in ".keep" */
static bool protect_keep(void *arg, const char *rel, bool is_dir)
{
	size_t n = strlen(rel);

	(void)arg;
	(void)is_dir;
	return n >= 5 && strcmp(rel + n - 5, ".keep") == 0;
}

static int count_name(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

static int n_failed, failed_err;

static void on_failed(void *arg, const char *rel, int err, const char *w)
{
	(void)arg;
	n_failed++;
	failed_err = err;
	printf("failed in flush: %s: %d: %s\n", rel, err, w);
}

static int do_batch(struct loafre__dest *d, int s)
{
	struct stat st;

	OP(0, loafre__dest_batch_begin(d, on_failed, NULL));
	OP(-EBUSY, loafre__dest_batch_begin(d, on_failed, NULL));
	OP(0, loafre__dest_copy(d, s, "b/1", why));
	OP(0, loafre__dest_copy(d, s, "b/2", why));
	OP(0, loafre__dest_copy(d, s, "b/2", why)); /* queued twice: once */
	OP(-EINVAL, loafre__dest_copy(d, s, "b", why)); /* still checked at once */
	/* a rename of a queued path: the copy is made first (the source is
	 * renamed after, else the copy would find it gone: see b/3) */
	OP(0, loafre__dest_rename(d, s, "b/1", "b/1r", why));
	sys(renameat(s, "b/1", s, "b/1r"), "rename b/1");
	/* a queued file renamed at the source before the flush: vanished,
	 * then the rename finds nothing and the caller copies the new name */
	OP(0, loafre__dest_copy(d, s, "b/3", why));
	sys(renameat(s, "b/3", s, "b/3r"), "rename b/3");
	OP(-ENOENT, loafre__dest_rename(d, s, "b/3", "b/3r", why));
	OP(0, loafre__dest_copy(d, s, "b/3r", why));
	/* lstat of a queued path sees the copy */
	OP(0, loafre__dest_copy(d, s, "b/4", why));
	OP(0, loafre__dest_lstat(d, "b/4", &st));
	/* rmdir of a directory holding a queued copy: the copy first, then
	 * the directory goes (the record order) */
	OP(0, loafre__dest_copy(d, s, "c/x", why));
	OP(0, loafre__dest_rmdir(d, s, "c", why));
	OP(-ENOENT, loafre__dest_lstat(d, "c", &st));
	sys(unlinkat(s, "c/x", 0), "unlink c/x");
	sys(unlinkat(s, "c", AT_REMOVEDIR), "rmdir c");
	/* vanished before the flush: not an error */
	OP(0, loafre__dest_copy(d, s, "b/5", why));
	OP(0, loafre__dest_copy(d, s, "b/6", why));
	sys(unlinkat(s, "b/5", 0), "unlink b/5");
	OP(0, loafre__dest_flush(d, why));
	OP(-ENOENT, loafre__dest_lstat(d, "b/5", &st));
	OP(0, loafre__dest_lstat(d, "b/6", &st));
	CHECK(n_failed == 0, "%d copies failed in the flushes", n_failed);
	{
		/* a file replaced by a directory at the source, a file in it
		 * queued before the destination heard of it: the flush replaces
		 * the destination's file by the directory (no ENOTDIR) */
		int fd = openat(s, "wf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (sys(fd, "create wf") >= 0)
			close(fd);
		OP(0, loafre__dest_copy(d, s, "wf", why));
		OP(0, loafre__dest_flush(d, why));
		sys(unlinkat(s, "wf", 0), "unlink wf");
		sys(mkdirat(s, "wf", 0750), "mkdir wf");
		fd = openat(s, "wf/y", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (sys(fd, "create wf/y") >= 0)
			close(fd);
		OP(0, loafre__dest_copy(d, s, "wf/y", why));
		OP(0, loafre__dest_flush(d, why));
		OP(0, loafre__dest_lstat(d, "wf", &st));
		CHECK(S_ISDIR(st.st_mode) && n_failed == 0,
		      "wf after a queued copy of wf/y: mode %o, %d failed", (unsigned)st.st_mode,
		      n_failed);
	}
	/* a copy through a destination symlink fails in the flush */
	OP(0, loafre__dest_copy(d, s, "bad/f", why));
	OP(0, loafre__dest_copy(d, s, "b/2", why));
	OP(-ELOOP, loafre__dest_batch_end(d, why));
	CHECK(n_failed == 1 && failed_err == -ELOOP, "failed callback: %d calls, err %d", n_failed,
	      failed_err);
	OP(0, loafre__dest_flush(d, why)); /* reported once */
	/* after the batch: synchronous again */
	OP(-ELOOP, loafre__dest_copy(d, s, "bad/f", why));
	return 0;
}

static void sync_error(void *arg, const char *rel, int err, const char *w)
{
	(void)arg;
	fprintf(stderr, "FAIL: sync: %s: %s (%s)\n", rel, strerror(-err), w);
	failures++;
}

static int do_sync(struct loafre__dest *d, int s)
{
	struct loafre__sync_opts so = { .threads = 3, .delete = true, .error = sync_error };
	struct loafre__sync_progress p;

	OP(0, loafre__dest_sync_tree(d, s, "", &so, &p));
	CHECK(p.deleted >= 2 && p.copied >= 5, "sync: %llu deleted, %llu copied",
	      (unsigned long long)p.deleted, (unsigned long long)p.copied);
	/* again: nothing to do */
	OP(0, loafre__dest_sync_tree(d, s, "", &so, &p));
	CHECK(p.copied == 0 && p.deleted == 0, "second sync: %llu copied, %llu deleted",
	      (unsigned long long)p.copied, (unsigned long long)p.deleted);
	return 0;
}

static int do_restart(struct loafre__dest *d, int s)
{
	char line[64];
	struct stat st;

	OP(0, loafre__dest_mkdir(d, s, "r1", why));
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return -1;
	OP(0, loafre__dest_mkdir(d, s, "r2", why));
	sys(renameat(s, "r1", s, "r1n"), "rename r1");
	OP(0, loafre__dest_rename(d, s, "r1", "r1n", why));
	OP(0, loafre__dest_lstat(d, "r2", &st));
	OP(0, loafre__dest_copy(d, s, "rf", why));
	return 0;
}

static int do_escape(struct loafre__dest *d, int s)
{
	int n = 0;

	OP(-ELOOP, loafre__dest_copy(d, s, "evil/f", why));
	CHECK(strchr(why, '\n') == NULL, "why has a newline");
	OP(-ELOOP, loafre__dest_mkdir(d, s, "evil/sub", why));
	OP(-ELOOP, loafre__dest_unlink(d, s, "evil/f", why));
	OP(-ELOOP, loafre__dest_rmdir(d, s, "evil/sub", why));
	OP(-ELOOP, loafre__dest_rename(d, s, "evil/f", "g", why));
	OP(-ELOOP, loafre__dest_rename(d, s, "g0", "evil/g", why));
	OP(-ELOOP, loafre__dest_link(d, s, "g0", "evil/g", why));
	OP(-ELOOP, loafre__dest_setattr(d, s, "evil/f", LOAFRE__ATTR_ALL, why));
	OP(-ELOOP, loafre__dest_list(d, "evil", count_name, &n));
	OP(-EXDEV, loafre__dest_copy(d, s, "../x", why));
	OP(-EXDEV, loafre__dest_unlink(d, s, "a/../../x", why));
	OP(-EINVAL, loafre__dest_unlink(d, s, "/etc/passwd", why));
	OP(0, loafre__dest_list(d, "", count_name, &n));
	CHECK(n == 2, "root lists %d names, expected 2 (evil, prot)", n);
	/* rmdir keeps protected entries (and what holds them) */
	{
		struct stat st;

		OP(-ENOTEMPTY, loafre__dest_rmdir(d, s, "prot", why));
		OP(0, loafre__dest_lstat(d, "prot/x.keep", &st));
		OP(0, loafre__dest_lstat(d, "prot/sub/b.keep", &st));
		OP(0, loafre__dest_lstat(d, "prot/kept.keep/inside", &st));
		OP(-ENOENT, loafre__dest_lstat(d, "prot/a", &st));
		OP(-ENOENT, loafre__dest_lstat(d, "prot/sub/c", &st));
		OP(-ENOENT, loafre__dest_lstat(d, "prot/gone", &st));
		n = 0;
		OP(0, loafre__dest_list(d, "prot", count_name, &n));
		CHECK(n == 3, "prot lists %d names, expected 3", n);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct loafre_idmap um = { 0 }, gm = { 0 };
	struct loafre__ssh_opts so = { 0 };
	struct loafre__dest_opts o = { 0 };
	struct loafre__dest *d = NULL;
	char lwhy[256];
	int s, r;

	if (argc != 8) {
		fprintf(stderr, "usage: %s ops|escape|unreach|batch|restart SRC SPEC CTLDIR PORT IDENTITY "
				"KNOWN_HOSTS\n", argv[0]);
		return 2;
	}
	so.control_dir = argv[4];
	so.port = (unsigned)atoi(argv[5]);
	so.identity_file = argv[6];
	so.known_hosts = argv[7];
	so.timeout_ms = 60000;
	if (loafre__idmap_parse("1234:4321", false, &um, lwhy, sizeof(lwhy)) < 0 ||
	    loafre__idmap_parse("1234:4321", true, &gm, lwhy, sizeof(lwhy)) < 0) {
		fprintf(stderr, "idmap: %s\n", lwhy);
		return 1;
	}
	o.uid_map = &um;
	o.gid_map = &gm;
	o.protect = protect_keep;
	s = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s < 0) {
		perror(argv[2]);
		return 1;
	}
	r = loafre__dest_open_ssh(argv[3], &so, &o, &d, why);
	if (strcmp(argv[1], "unreach") == 0) {
		CHECK(r == -EHOSTUNREACH, "open: %d (%s), expected -EHOSTUNREACH", r, strerror(-r));
		CHECK(why[0] && !strchr(why, '\n'), "reason not one line: '%s'", why);
		printf("reason: %s\n", why);
	} else if (r < 0) {
		fprintf(stderr, "FAIL: open %s: %s (%s)\n", argv[3], strerror(-r), why);
		failures++;
	} else if (strcmp(argv[1], "ops") == 0) {
		do_ops(d, s, argv[2]);
	} else if (strcmp(argv[1], "batch") == 0) {
		do_batch(d, s);
	} else if (strcmp(argv[1], "sync") == 0) {
		o.protect = NULL;
		do_sync(d, s);
	} else if (strcmp(argv[1], "restart") == 0) {
		if (do_restart(d, s) < 0)
			failures++;
	} else {
		do_escape(d, s);
	}
	{
		int bad = loafre__dest_open_ssh("-oProxyCommand=x:/tmp", &so, &o, &d, why);

		CHECK(bad == -EINVAL, "option-like host: %d", bad);
	}
	loafre__dest_close(r == 0 ? d : NULL);
	loafre__idmap_clear(&um);
	loafre__idmap_clear(&gm);
	close(s);
	if (failures)
		return 1;
	printf("ok\n");
	return 0;
}
