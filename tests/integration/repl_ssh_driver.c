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
	OP(0, loafre__dest_copy(d, s, "h1", why));
	OP(0, loafre__dest_link(d, s, "h1", "h2", why));
	OP(0, loafre__dest_link(d, s, "h1", "h2", why)); /* already: nothing */
	OP(0, loafre__dest_mknod(d, s, "fifo", why));
	OP(0, loafre__dest_mkdir(d, s, "rmme", why));
	OP(0, loafre__dest_copy(d, s, "rmme/a", why));
	OP(0, loafre__dest_copy(d, s, "rmme/b/c", why));
	OP(0, loafre__dest_copy(d, s, "gone", why));
	OP(0, loafre__dest_copy(d, s, "own", why));
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
		fprintf(stderr, "usage: %s ops|escape|unreach SRC SPEC CTLDIR PORT IDENTITY "
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
