/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_findexpr.c — GNU find's expression language (lib/findexpr.h).
 *
 * - parse errors: a table of messages and exit statuses observed from GNU
 *   findutils 4.9.0 (Debian 12, C locale), checked against this module and,
 *   when GNU find 4.9 is installed, against a live `find` too;
 * - the oracle: a varied real tree (sizes, sparse, empty and full
 *   directories, symlinks (dangling, looping), hard links, fifo, socket,
 *   devices, setuid/setgid/sticky modes, other owners, old/new/future
 *   times, blanks, dots, uppercase, UTF-8, quotes in names) is walked with
 *   lstat() depth-first in pre-order and readdir() order (fts's), each
 *   entry fed to the evaluator, and the output compared with `find TREE
 *   EXPR` for ~190 expressions covering every predicate, operator, action
 *   and -printf directive (sets of lines; NUL-separated for -print0; the
 *   number of lines for -quit; -count against the number GNU prints);
 * - evaluation flags (depth rules, -prune, -quit, -xdev), hints, the
 *   lookup callback, output errors, limits.
 * Needs root for devices and other owners (skipped parts otherwise).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "findexpr.h"

static char g_root[64];  /* the temporary directory, our cwd */
static char g_tree[128]; /* g_root/t */
static bool g_gnu;       /* GNU find 4.9 is installed */
static bool g_root_user; /* devices and chown were possible */

/* ---- small helpers -------------------------------------------------------- */

struct buf {
	char *p;
	size_t len;
};

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

static void buf_add(struct buf *b, const void *d, size_t n)
{
	b->p = realloc(b->p, b->len + n + 1);
	assert_non_null(b->p);
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Runs argv (PATH search) in g_root; its stdout and stderr and exit status. */
static void run_cmd(char *const argv[], struct buf *out, struct buf *err, int *status)
{
	int po[2], pe[2], st;
	pid_t pid;

	assert_int_equal(pipe2(po, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (chdir(g_root) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	struct pollfd pf[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
	int open_fds = 2;
	while (open_fds) {
		char tmp[65536];
		assert_true(poll(pf, 2, -1) > 0);
		for (int k = 0; k < 2; k++) {
			if (pf[k].fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(pf[k].fd, tmp, sizeof(tmp));
			if (n > 0) {
				buf_add(k ? err : out, tmp, (size_t)n);
			} else {
				close(pf[k].fd);
				pf[k].fd = -1;
				open_fds--;
			}
		}
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* "@T" -> g_tree */
static char *subst(const char *s)
{
	struct buf b = {0};
	for (const char *p = s; *p;) {
		if (p[0] == '@' && p[1] == 'T') {
			buf_add(&b, g_tree, strlen(g_tree));
			p += 2;
		} else {
			buf_add(&b, p, 1);
			p++;
		}
	}
	if (!b.p)
		buf_add(&b, "", 0);
	return b.p;
}

/* Shell-like words: blanks separate, '...' quotes; "@T" is the tree. */
static int split_words(const char *s, char ***ret)
{
	char *t = subst(s), **v = NULL;
	int n = 0;
	struct buf w = {0};
	bool in_word = false;

	for (char *p = t;; p++) {
		if (*p == '\0' || *p == ' ') {
			if (in_word) {
				v = realloc(v, (size_t)(n + 2) * sizeof(*v));
				v[n++] = w.p ? w.p : strdup("");
				v[n] = NULL;
				w.p = NULL;
				w.len = 0;
				in_word = false;
			}
			if (*p == '\0')
				break;
			continue;
		}
		in_word = true;
		if (*p == '\'') {
			char *q = strchr(p + 1, '\'');
			assert_non_null(q);
			buf_add(&w, p + 1, (size_t)(q - p - 1));
			if (q == p + 1)
				buf_add(&w, "", 0);
			p = q;
		} else {
			buf_add(&w, p, 1);
		}
	}
	free(t);
	if (!v) {
		v = calloc(1, sizeof(*v));
		assert_non_null(v);
	}
	*ret = v;
	return n;
}

static void free_words(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- entries from a real tree ---------------------------------------------- */

struct tentry {
	struct loafre__find_entry e;
	char *path;
	char *link;
	size_t end; /* index just after this entry's subtree */
};

struct walk {
	struct tentry *v;
	size_t n, cap;
};

/* st_dev -> file system type, from /proc/self/mountinfo (as GNU's %F) */
static const char *fs_type(dev_t dev)
{
	static char types[8][64];
	static dev_t devs[8];
	static int n;
	char line[4096], *found = NULL;
	FILE *fp;

	for (int i = 0; i < n; i++)
		if (devs[i] == dev)
			return types[i];
	fp = fopen("/proc/self/mountinfo", "re");
	if (!fp)
		return "unknown";
	while (fgets(line, sizeof(line), fp)) {
		unsigned ma, mi;
		char *sep = strstr(line, " - ");
		if (sscanf(line, "%*u %*u %u:%u", &ma, &mi) != 2 || !sep)
			continue;
		if (makedev(ma, mi) != dev)
			continue;
		char *ty = sep + 3, *end = strchr(ty, ' ');
		if (end)
			*end = '\0';
		free(found);
		found = strdup(ty);
	}
	fclose(fp);
	if (!found || n == 8) {
		free(found);
		return "unknown";
	}
	snprintf(types[n], sizeof(types[n]), "%s", found);
	free(found);
	devs[n] = dev;
	return types[n++];
}

static int fill_entry(const char *path, struct loafre__find_entry *e, char **link)
{
	struct stat st, tst;

	memset(e, 0, sizeof(*e));
	*link = NULL;
	if (lstat(path, &st) < 0)
		return -errno;
	e->mode = st.st_mode;
	e->uid = st.st_uid;
	e->gid = st.st_gid;
	e->size = (uint64_t)st.st_size;
	e->blocks = (uint64_t)st.st_blocks;
	e->nlink = st.st_nlink;
	e->atime_ns = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
	e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	e->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	e->ino = st.st_ino;
	e->dev = st.st_dev;
	e->rdev = st.st_rdev;
	memcpy(e->id, &st.st_dev, 8);
	memcpy(e->id + 8, &st.st_ino, 8);
	e->fstype = fs_type(st.st_dev);
	if (S_ISLNK(st.st_mode)) {
		char t[4096];
		ssize_t n = readlink(path, t, sizeof(t) - 1);
		assert_true(n >= 0);
		t[n] = '\0';
		*link = strdup(t);
		e->symlink = *link;
		if (stat(path, &tst) == 0)
			e->target_mode = tst.st_mode;
		else
			e->target_mode = errno == ELOOP ? S_IFLNK : 0;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		assert_non_null(d);
		e->empty = 1;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				e->empty = 0;
		closedir(d);
	}
	return 0;
}

static int lookup_lstat(void *ctx, const char *path, struct loafre__find_entry *ret)
{
	char *link;
	int rc = fill_entry(path, ret, &link);
	(void)ctx;
	free(link);
	ret->symlink = NULL;
	return rc;
}

static void walk_add(struct walk *w, const char *path, size_t start_len, unsigned depth)
{
	struct tentry *t;
	size_t me;

	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->v = realloc(w->v, w->cap * sizeof(*w->v));
		assert_non_null(w->v);
	}
	me = w->n++;
	t = &w->v[me];
	t->path = strdup(path);
	assert_int_equal(fill_entry(path, &t->e, &t->link), 0);
	t->e.path = t->path;
	t->e.start_len = start_len;
	t->e.depth = depth;
	if (S_ISDIR(t->e.mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		char **names = NULL;
		size_t nn = 0;
		assert_non_null(d);
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			names = realloc(names, (nn + 1) * sizeof(*names));
			names[nn++] = strdup(de->d_name);
		}
		closedir(d);
		for (size_t i = 0; i < nn; i++) {
			size_t pl = strlen(path);
			char *child = malloc(pl + strlen(names[i]) + 2);
			sprintf(child, "%s%s%s", path, pl && path[pl - 1] == '/' ? "" : "/", names[i]);
			walk_add(w, child, start_len, depth + 1);
			free(child);
			free(names[i]);
		}
		free(names);
	}
	w->v[me].end = w->n; /* w->v may have moved */
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].path);
		free(w->v[i].link);
	}
	free(w->v);
	memset(w, 0, sizeof(*w));
}

/* Parses argv and runs it over each start path; *out gets what it wrote.
 * Returns the parse result. */
static int run_ours(char **paths, int np, char **argv, int argc, struct buf *out, char *err, size_t errlen)
{
	struct loafre__find *f = NULL;
	struct loafre__find_opts o = {0};
	char *mem = NULL;
	size_t memlen = 0;
	FILE *fp = open_memstream(&mem, &memlen);
	int rc;

	assert_non_null(fp);
	o.out = fp;
	o.lookup = lookup_lstat;
	rc = loafre__find_parse(argc, argv, &o, &f, err, errlen);
	if (rc == 0) {
		bool quit = false;
		for (int k = 0; k < np && !quit; k++) {
			struct walk w = {0};
			walk_add(&w, paths[k], strlen(paths[k]), 0);
			for (size_t i = 0; i < w.n;) {
				struct loafre__find_result r;
				assert_int_equal(loafre__find_eval(f, &w.v[i].e, &r), 0);
				if (r.quit) {
					quit = true;
					break;
				}
				i = r.prune ? w.v[i].end : i + 1;
			}
			walk_free(&w);
		}
		assert_int_equal(loafre__find_finish(f), 0);
		loafre__find_free(f);
	}
	fclose(fp);
	buf_add(out, mem, memlen);
	free(mem);
	return rc;
}

/* ---- the tree -------------------------------------------------------------- */

static void tpath(char *out, size_t cap, const char *rel)
{
	snprintf(out, cap, "%s/%s", g_tree, rel);
}

static void mk_dir(const char *rel)
{
	char p[512];
	tpath(p, sizeof(p), rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void mk_file(const char *rel, size_t size)
{
	char p[512], block[4096];
	int fd;
	tpath(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	memset(block, 'x', sizeof(block));
	while (size) {
		size_t k = size < sizeof(block) ? size : sizeof(block);
		assert_int_equal(write(fd, block, k), (ssize_t)k);
		size -= k;
	}
	close(fd);
}

static void mk_sparse(const char *rel, off_t size)
{
	char p[512];
	int fd;
	tpath(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void mk_symlink(const char *target, const char *rel)
{
	char p[512];
	tpath(p, sizeof(p), rel);
	assert_int_equal(symlink(target, p), 0);
}

static void do_chmod(const char *rel, mode_t m)
{
	char p[512];
	tpath(p, sizeof(p), rel);
	assert_int_equal(chmod(p, m), 0);
}

static void do_chown(const char *rel, uid_t u, gid_t g)
{
	char p[512];
	tpath(p, sizeof(p), rel);
	if (g_root_user)
		assert_int_equal(lchown(p, u, g), 0);
}

static void set_times(const char *rel, int64_t atime_s, long ans, int64_t mtime_s, long mns)
{
	char p[512];
	struct timespec ts[2] = {{(time_t)atime_s, ans}, {(time_t)mtime_s, mns}};
	tpath(p, sizeof(p), rel);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void build_tree(void)
{
	time_t now = time(NULL);
	char p[512], p2[512];

	assert_int_equal(mkdir(g_tree, 0755), 0);
	mk_dir("a");
	mk_dir("a/b");
	mk_dir("a/b/c");
	mk_file("a/b/c/w3000", 3000);
	mk_file("a/b/k1000", 1000);
	mk_file("a/f1.txt", 6);
	mk_dir("empty");
	mk_dir("sp ace");
	mk_file("sp ace/file with space", 10);
	mk_dir(".hidden");
	mk_file(".hidden/.dotfile", 2);
	mk_dir("UPPER");
	mk_file("UPPER/README.TXT", 2);
	mk_dir("dir.d");
	mk_dir("dir.d/x.y");
	mk_file("dir.d/x.y/z.c", 2);
	mk_file("dir.d/Z.C", 2);
	mk_dir("deep");
	mk_dir("deep/1");
	mk_dir("deep/1/2");
	mk_dir("deep/1/2/3");
	mk_dir("deep/1/2/3/4");
	mk_file("zero", 0);
	mk_file("s512", 512);
	mk_file("s513", 513);
	mk_sparse("sparse", 10 << 20);
	mk_file("big", 70000);
	mk_file("\xc3\xa9-unicode", 2);
	mk_file("quo'te", 2);
	mk_file("back\\slash", 2);
	mk_file("tab\tname", 2);
	mk_symlink("a/f1.txt", "lnk");
	mk_symlink("nowhere", "dangling");
	mk_symlink("selfloop", "selfloop");
	mk_symlink("a", "dirlink");
	tpath(p, sizeof(p), "a/f1.txt");
	tpath(p2, sizeof(p2), "hard1");
	assert_int_equal(link(p, p2), 0);
	tpath(p, sizeof(p), "fifo");
	assert_int_equal(mkfifo(p, 0644), 0);
	tpath(p, sizeof(p), "cdev");
	g_root_user = geteuid() == 0 && mknod(p, S_IFCHR | 0644, makedev(1, 3)) == 0;
	if (g_root_user) {
		tpath(p, sizeof(p), "bdev");
		assert_int_equal(mknod(p, S_IFBLK | 0640, makedev(7, 0)), 0);
		tpath(p, sizeof(p), "cbig");
		assert_int_equal(mknod(p, S_IFCHR | 0600, makedev(259, 12345)), 0);
	}
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(s >= 0);
		assert_true(strlen(g_tree) + 6 < sizeof(sa.sun_path));
		memcpy(sa.sun_path, g_tree, strlen(g_tree));
		memcpy(sa.sun_path + strlen(g_tree), "/sock", 6);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(s);
	}
	mk_file("suid", 2);
	do_chmod("suid", 04755);
	mk_file("sgid", 2);
	do_chmod("sgid", 02750);
	mk_dir("sticky");
	do_chmod("sticky", 01777);
	mk_file("p600", 2);
	do_chmod("p600", 0600);
	mk_file("p000", 2);
	do_chmod("p000", 0);
	mk_file("p7777", 2);
	do_chmod("p7777", 07777);
	mk_file("p222", 2);
	do_chmod("p222", 0222);
	mk_dir("pdir700");
	do_chmod("pdir700", 0700);
	mk_dir("pdir711");
	do_chmod("pdir711", 0711);
	mk_file("owned", 2);
	do_chown("owned", 1234, 5678);
	mk_file("owned2", 2);
	do_chown("owned2", 4242, 0);
	mk_file("ng", 2);
	do_chown("ng", 0, 5678);
	mk_file("old", 2);
	mk_file("days3", 2);
	mk_file("hours30", 2);
	mk_file("min90", 2);
	mk_file("min5", 2);
	mk_file("days100", 2);
	mk_file("days200", 2);
	mk_file("future", 2);
	mk_file("accessed", 2);
	/* times, away from every boundary the expressions test */
	set_times("old", 981173106, 789000000, 981173106, 789000000); /* 2001-02-03 04:05:06.789 */
	set_times("days3", now - 3 * 86400 - 3600, 0, now - 3 * 86400 - 3600, 0);
	set_times("hours30", now - 30 * 3600, 0, now - 30 * 3600, 0);
	set_times("min90", now - 90 * 60 - 30, 0, now - 90 * 60 - 30, 0);
	set_times("min5", now - 5 * 60 - 30, 123456789, now - 5 * 60 - 30, 987654321);
	set_times("days100", now - 100 * 86400, 0, now - 100 * 86400, 0);
	set_times("days200", now - 200 * 86400, 0, now - 200 * 86400, 0);
	set_times("future", now + 7200, 0, now + 7200, 0);
	set_times("accessed", now - 2 * 86400 - 600, 0, now - 10 * 86400 - 600, 0);
	set_times("lnk", 1273017600, 0, 1273017600, 0); /* 2010-05-05, the link itself */
	set_times("a/b/k1000", now - 400 * 86400, 0, now - 400 * 86400, 0);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct buf out = {0}, err = {0};
	char *argv[] = {"find", "--version", NULL};
	int status = -1;

	(void)state;
	setenv("LC_ALL", "C", 1);
	setenv("TZ", "UTC", 1);
	tzset();
	snprintf(g_root, sizeof(g_root), "/tmp/loafre-findexpr.XXXXXX");
	if (!mkdtemp(g_root))
		return -1;
	if (chdir(g_root) < 0)
		return -1;
	snprintf(g_tree, sizeof(g_tree), "%s/t", g_root);
	build_tree();
	run_cmd(argv, &out, &err, &status);
	g_gnu = status == 0 && out.p && strstr(out.p, "(GNU findutils) 4.9");
	if (!g_gnu)
		fprintf(stderr, "GNU find 4.9 not found: live comparisons skipped\n");
	buf_free(&out);
	buf_free(&err);
	/* settle the directories' access times (relatime) before comparing */
	if (g_gnu) {
		char *warm[] = {"find", g_tree, "-printf", "", NULL};
		run_cmd(warm, &out, &err, &status);
		buf_free(&out);
		buf_free(&err);
	}
	struct walk w = {0};
	walk_add(&w, g_tree, strlen(g_tree), 0);
	walk_free(&w);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (chdir("/") == 0 && g_root[0])
		nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- split and parse errors -------------------------------------------- */

static void test_split(void **state)
{
	char *a1[] = {".", "x", "-name", "y"};
	char *a2[] = {"(", "-name", "y", ")"};
	char *a3[] = {")", ",", "-print"};
	char *a4[] = {"-", "!x", "(x", "!", "-print"};
	char *a5[] = {"a", "b"};
	(void)state;
	assert_int_equal(loafre__find_split(4, a1), 2);
	assert_int_equal(loafre__find_split(4, a2), 0);
	assert_int_equal(loafre__find_split(3, a3), 2);
	assert_int_equal(loafre__find_split(5, a4), 3);
	assert_int_equal(loafre__find_split(2, a5), 2);
	assert_int_equal(loafre__find_split(0, a5), 0);
}

/* GNU findutils 4.9.0, Debian 12, LC_ALL=C, run in a directory where the
 * relative names used here do not exist; `find DIR ARGS` exits 1 and
 * prints this on stderr. "@T" is the test tree. */
static const struct {
	const char *args;
	const char *msg;
	int status;
} errors[] = {
	{"-foo", "find: unknown predicate `-foo'", 1},
	{"-name", "find: missing argument to `-name'", 1},
	{"-name a x", "find: paths must precede expression: `x'", 1},
	{"-name a a", "find: paths must precede expression: `a'", 1},
	{"-a", "find: invalid expression; you have used a binary operator '-a' with nothing before it.", 1},
	{"-o", "find: invalid expression; you have used a binary operator '-o' with nothing before it.", 1},
	{"-name a -o", "find: expected an expression after '-o'", 1},
	{"-name a -a", "find: expected an expression after '-a'", 1},
	{"(", "find: invalid expression; expected to find a ')' but didn't see one. Perhaps you need an extra predicate after '('", 1},
	{"( )", "find: invalid expression; empty parentheses are not allowed.", 1},
	{"!", "find: expected an expression after '!'", 1},
	{"-name a !", "find: expected an expression after '!'", 1},
	{"-name a ,", "find: expected an expression after ','", 1},
	{"-type q", "find: Unknown argument to -type: q", 1},
	{"-type", "find: missing argument to `-type'", 1},
	{"-type ff", "find: Must separate multiple arguments to -type using: ','", 1},
	{"-type f,", "find: Last file type in list argument to -type is missing, i.e., list is ending on: ','", 1},
	{"-type ,f", "find: Unknown argument to -type: ,", 1},
	{"-type fd", "find: Must separate multiple arguments to -type using: ','", 1},
	{"-type f,,", "find: Unknown argument to -type: ,", 1},
	{"-type ''", "find: Arguments to -type should contain at least one letter", 1},
	{"-type f,f", "find: Duplicate file type 'f' in the argument list to -type.", 1},
	{"-type D", "find: -type D is not supported because Solaris doors are not supported on the platform find was compiled on.", 1},
	{"-xtype q", "find: Unknown argument to -xtype: q", 1},
	{"-user nosuchuser", "find: 'nosuchuser' is not the name of a known user", 1},
	{"-group nosuchgroup", "find: 'nosuchgroup' is not the name of an existing group", 1},
	{"-user ''", "find: The argument to -user should not be empty", 1},
	{"-group ''", "find: argument to -group is empty, but should be a group name", 1},
	{"-group 12x", "find: '12x' is not the name of an existing group and it does not look like a numeric group ID because it has the unexpected suffix 'x'", 1},
	{"-user 123abc", "find: '123abc' is not the name of a known user", 1},
	{"-user 2147483648", "find: 2147483648: Numerical result out of range", 1},
	{"-group 99999999999", "find: 99999999999: Numerical result out of range", 1},
	{"-user +0", "find: '+0' is not the name of a known user", 1},
	{"-uid x", "find: invalid argument `x' to `-uid'", 1},
	{"-uid ''", "find: invalid argument `' to `-uid'", 1},
	{"-uid 99999999999999999999", "find: invalid argument `99999999999999999999' to `-uid'", 1},
	{"-uid +-5", "find: invalid argument `+-5' to `-uid'", 1},
	{"-uid '5 '", "find: invalid argument `5 ' to `-uid'", 1},
	{"-gid x", "find: invalid argument `x' to `-gid'", 1},
	{"-links 1.5", "find: invalid argument `1.5' to `-links'", 1},
	{"-inum x", "find: invalid argument `x' to `-inum'", 1},
	{"-size 1x", "find: invalid -size type `x'", 1},
	{"-size x", "find: invalid -size type `x'", 1},
	{"-size ''", "find: invalid null argument to -size", 1},
	{"-size +", "find: invalid -size type `+'", 1},
	{"-size -5k -size +-3", "find: Invalid argument `+-3' to -size", 1},
	{"-size 1kk", "find: Invalid argument `1kk' to -size", 1},
	{"-size 0x5", "find: Invalid argument `0x5' to -size", 1},
	{"-size '5 '", "find: invalid -size type ` '", 1},
	{"-size 1T", "find: invalid -size type `T'", 1},
	{"-size 99999999999999999999", "find: Invalid argument `99999999999999999999' to -size", 1},
	{"-maxdepth", "find: missing argument to `-maxdepth'", 1},
	{"-maxdepth x", "find: Expected a positive decimal integer argument to -maxdepth, but got 'x'", 1},
	{"-maxdepth -1", "find: Expected a positive decimal integer argument to -maxdepth, but got '-1'", 1},
	{"-maxdepth +1", "find: Expected a positive decimal integer argument to -maxdepth, but got '+1'", 1},
	{"-maxdepth ' 1'", "find: Expected a positive decimal integer argument to -maxdepth, but got ' 1'", 1},
	{"-maxdepth 2147483648", "find: 2147483648: Numerical result out of range", 1},
	{"-mindepth ''", "find: Expected a positive decimal integer argument to -mindepth, but got ''", 1},
	{"-mtime x", "find: invalid argument `x' to `-mtime'", 1},
	{"-mtime ''", "find: invalid argument `' to `-mtime'", 1},
	{"-mtime '1 '", "find: invalid argument `1 ' to `-mtime'", 1},
	{"-mmin x", "find: invalid argument `x' to `-mmin'", 1},
	{"-amin +", "find: invalid argument `+' to `-amin'", 1},
	{"-perm x", "find: invalid mode 'x'", 1},
	{"-perm 8", "find: invalid mode '8'", 1},
	{"-perm u+q", "find: invalid mode 'u+q'", 1},
	{"-perm ''", "find: invalid mode ''", 1},
	{"-perm -w", "find: invalid mode '-w'", 1},
	{"-perm /8", "find: invalid mode '/8'", 1},
	{"-perm +111", "find: invalid mode '+111'", 1},
	{"-perm 17777", "find: invalid mode '17777'", 1},
	{"-perm 0u+x", "find: invalid mode '0u+x'", 1},
	{"-perm u+x,", "find: invalid mode 'u+x,'", 1},
	{"-perm ,u+x", "find: invalid mode ',u+x'", 1},
	{"-perm ug", "find: invalid mode 'ug'", 1},
	{"-perm u+rg", "find: invalid mode 'u+rg'", 1},
	{"-perm u+gx", "find: invalid mode 'u+gx'", 1},
	{"-perm -", "find: invalid mode '-'", 1},
	{"-perm /", "find: invalid mode '/'", 1},
	{"-newer nonexist", "find: 'nonexist': No such file or directory", 1},
	{"-anewer nonexist", "find: 'nonexist': No such file or directory", 1},
	{"-cnewer nonexist", "find: 'nonexist': No such file or directory", 1},
	{"-samefile nonexist", "find: 'nonexist': No such file or directory", 1},
	{"-newer", "find: missing argument to `-newer'", 1},
	{"-samefile", "find: missing argument to `-samefile'", 1},
	{"-newermq .", "find: invalid predicate `-newermq'", 1},
	{"-newerma", "find: The '-newerma' test needs an argument", 1},
	{"-newermt 'garbage date'", "find: I cannot figure out how to interpret 'garbage date' as a date or time", 1},
	{"-newermB .", "find: This system does not provide a way to find the birth time of a file.\nfind: invalid predicate `-newermB'", 1},
	{"-newerBt 2020-01-01", "find: This system does not provide a way to find the birth time of a file.\nfind: invalid predicate `-newerBt'", 1},
	{"-newertm .", "find: invalid predicate `-newertm'", 1},
	{"-regex '\\('", "find: failed to compile regular expression '\\(': Unmatched ( or \\(", 1},
	{"-regex '[a'", "find: failed to compile regular expression '[a': Unmatched [, [^, [:, [., or [=", 1},
	{"-iregex '\\('", "find: failed to compile regular expression '\\(': Unmatched ( or \\(", 1},
	{"-regextype posix-extended -regex '(a'", "find: failed to compile regular expression '(a': Unmatched ( or \\(", 1},
	{"-regextype foo", "find: Unknown regular expression type 'foo'; valid types are 'findutils-default', 'ed', 'emacs', 'gnu-awk', 'grep', 'posix-awk', 'awk', 'posix-basic', 'posix-egrep', 'egrep', 'posix-extended', 'posix-minimal-basic', 'sed'.", 1},
	{"-regextype", "find: missing argument to `-regextype'", 1},
	{"-printf", "find: missing argument to `-printf'", 1},
	{"-printf %", "find: error: % at end of format string", 1},
	{"-printf 'x%'", "find: error: % at end of format string", 1},
	{"-printf '%{'", "find: error: the format directive `%{' is reserved for future use", 1},
	{"-printf '%5{'", "find: error: the format directive `%{' is reserved for future use", 1},
	{"-printf '%['", "find: error: the format directive `%[' is reserved for future use", 1},
	{"-printf '%('", "find: error: the format directive `%(' is reserved for future use", 1},
	{"-name a ( -o )", "find: invalid expression; you have used a binary operator '-o' with nothing before it.", 1},
	{"-name a -o -a -name b", "find: invalid expression; you have used a binary operator '-a' with nothing before it.", 1},
	{"! -o -name a", "find: invalid expression; you have used a binary operator '-o' with nothing before it.", 1},
	{"-name a )", "find: you have too many ')'", 1},
	{"( -name a", "find: invalid expression; I was expecting to find a ')' somewhere but did not see one.", 1},
	{"-name a ! ( )", "find: invalid expression; empty parentheses are not allowed.", 1},
	{"-name a -a -o", "find: invalid expression; you have used a binary operator '-o' with nothing before it.", 1},
	{"( -o )", "find: invalid expression; you have used a binary operator '-o' with nothing before it.", 1},
	{"( -name a ) )", "find: you have too many ')'", 1},
	{"-name a ) -print", "find: you have too many ')'", 1},
	{"( ( -name a )", "find: invalid expression; I was expecting to find a ')' somewhere but did not see one.", 1},
	{"! )", "find: expected an expression between '!' and ')'", 1},
	{"-name a -o )", "find: expected an expression between '-o' and ')'", 1},
	{"( ! )", "find: expected an expression between '!' and ')'", 1},
	{"-not", "find: expected an expression after '-not'", 1},
	{"-and", "find: invalid expression; you have used a binary operator '-and' with nothing before it.", 1},
	{"-or -name a", "find: invalid expression; you have used a binary operator '-or' with nothing before it.", 1},
	{"-name a -and", "find: expected an expression after '-and'", 1},
	{"-name a -or -print -or", "find: invalid expression", 1},
	{"-daystart )", "find: invalid expression: expected expression before closing parentheses ')'.", 1},
	{"-print -daystart )", "find: you have too many ')'", 1},
	{"-name a -print !", "find: invalid expression", 1},
	{"-print ( -name a", "find: invalid expression; I was expecting to find a ')' somewhere but did not see one.", 1},
	{"-print ( )", "find: invalid expression; empty parentheses are not allowed.", 1},
	{"-print -o", "find: invalid expression", 1},
	{"-print ,", "find: invalid expression", 1},
	{"! -print !", "find: invalid expression", 1},
	{"-print -a -o -print", "find: invalid expression; you have used a binary operator '-o' with nothing before it.", 1},
	{"-daystart ) -name a", "find: invalid expression: expected expression before closing parentheses ')'.", 1},
	{"-daystart ) -print", "find: invalid expression: expected expression before closing parentheses ')'.", 1},
	{"-daystart -o", "find: invalid expression; you have used a binary operator '-o' with nothing before it.", 1},
	{"-daystart !", "find: expected an expression after '!'", 1},
	{"-daystart (", "find: invalid expression; expected to find a ')' but didn't see one. Perhaps you need an extra predicate after '('", 1},
	{"-daystart ) (", "find: invalid expression: expected expression before closing parentheses ')'.", 1},
	{"-daystart , -print", "find: invalid expression; you have used a binary operator ',' with nothing before it.", 1},
	{"-maxdepth 0 )", "find: you have too many ')'", 1},
	{"-daystart ) -foo", "find: unknown predicate `-foo'", 1},
	{"-a -foo", "find: unknown predicate `-foo'", 1},
	{"-name a -o -foo", "find: unknown predicate `-foo'", 1},
	{"-a -type q", "find: Unknown argument to -type: q", 1},
	{"-type q -a", "find: Unknown argument to -type: q", 1},
	{"-foo -name", "find: unknown predicate `-foo'", 1},
	{"-print -maxdepth 0 -name", "find: missing argument to `-name'", 1},
	{"-name -newer nonexist", "find: paths must precede expression: `nonexist'", 1},
	{"-print a", "find: paths must precede expression: `a'", 1},
	{"-daystart a", "find: paths must precede expression: `a'", 1},
	{"( a", "find: paths must precede expression: `a'", 1},
	{"-true -o a", "find: paths must precede expression: `a'", 1},
	{"-maxdepth 1 a", "find: paths must precede expression: `a'", 1},
	{"! a", "find: paths must precede expression: `a'", 1},
	{"-name '*' a", "find: paths must precede expression: `a'", 1},
	{"-print -", "find: paths must precede expression: `-'", 1},
	{"-print (x", "find: paths must precede expression: `(x'", 1},
	{"-print !x", "find: paths must precede expression: `!x'", 1},
	{"-name x @T/a", "find: paths must precede expression: `@T/a'\nfind: possible unquoted pattern after predicate `-name'?", 1},
	{"-type f @T/a", "find: paths must precede expression: `@T/a'\nfind: possible unquoted pattern after predicate `-type'?", 1},
	{"-print @T/a", "find: paths must precede expression: `@T/a'\nfind: possible unquoted pattern after predicate `-print'?", 1},
	{"-daystart @T/a", "find: paths must precede expression: `@T/a'\nfind: possible unquoted pattern after predicate `-daystart'?", 1},
	{"( @T/a", "find: paths must precede expression: `@T/a'\nfind: possible unquoted pattern after predicate `('?", 1},
	{"! @T/a", "find: paths must precede expression: `@T/a'\nfind: possible unquoted pattern after predicate `!'?", 1},
	{"-newer @T/nonexist", "find: '@T/nonexist': No such file or directory", 1},
	{"-anewer @T/nonexist", "find: '@T/nonexist': No such file or directory", 1},
	{"-samefile @T/nonexist", "find: '@T/nonexist': No such file or directory", 1},
	{"-newerma @T/nonexist", "find: '@T/nonexist': No such file or directory", 1},
	{"-newer @T/nonexist -name", "find: '@T/nonexist': No such file or directory", 1},
	{"-name -newer @T/nonexist", "find: paths must precede expression: `@T/nonexist'", 1},
	{"-maxdepth 99999999999999999999", "find: 99999999999999999999: Numerical result out of range", 1},
	{"-links 18446744073709551616", "find: invalid argument `18446744073709551616' to `-links'", 1},
	{"-perm 0u+x", "find: invalid mode '0u+x'", 1},
	{"-group 4294967294", "find: 4294967294: Numerical result out of range", 1},
	{"-xtype D", "find: -xtype D is not supported because Solaris doors are not supported on the platform find was compiled on.", 1},
	{"-xtype f,f", "find: Duplicate file type 'f' in the argument list to -xtype.", 1},
	{"-newermt 2020-01-01 -newerXY .", "find: invalid predicate `-newerXY'", 1},
	{"-printf '%5T' -foo", "find: unknown predicate `-foo'", 1},
	{"-mmin 1 2", "find: paths must precede expression: `2'", 1},
	{"-regextype posix-basic -regex '\\(a'", "find: failed to compile regular expression '\\(a': Unmatched ( or \\(", 1},
	{"-regextype egrep -regex '(a'", "find: failed to compile regular expression '(a': Unmatched ( or \\(", 1},
};

/* GNU's stderr without its warning lines (they go to opts.warn here) */
static void drop_warnings(struct buf *b)
{
	size_t o = 0;
	for (size_t i = 0; i < b->len;) {
		char *e = memchr(b->p + i, '\n', b->len - i);
		size_t l = e ? (size_t)(e - (b->p + i)) + 1 : b->len - i;
		if (!(l >= 15 && !memcmp(b->p + i, "find: warning: ", 15))) {
			memmove(b->p + o, b->p + i, l);
			o += l;
		}
		i += l;
	}
	b->len = o;
	if (b->p)
		b->p[o] = '\0';
}

static void test_parse_errors(void **state)
{
	int bad = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		char **argv, err[2048], *want = subst(errors[i].msg);
		int argc = split_words(errors[i].args, &argv);
		struct loafre__find *f = NULL;
		struct loafre__find_opts o = {.lookup = lookup_lstat, .out = stdout};
		int np = loafre__find_split(argc, argv);

		assert_int_equal(np, 0);
		int rc = loafre__find_parse(argc, argv, &o, &f, err, sizeof(err));
		if (rc != -EINVAL || strcmp(err, want) != 0 || errors[i].status != 1) {
			print_error("[%s]: rc %d, got\n  %s\nwant\n  %s\n", errors[i].args, rc, err, want);
			bad++;
		}
		if (rc == 0)
			loafre__find_free(f);
		if (g_gnu) {
			/* and the find installed here agrees with the table */
			char **gv = calloc((size_t)argc + 3, sizeof(*gv));
			struct buf out = {0}, gerr = {0};
			int status;
			gv[0] = "find";
			gv[1] = g_tree;
			for (int k = 0; k < argc; k++)
				gv[2 + k] = argv[k];
			run_cmd(gv, &out, &gerr, &status);
			drop_warnings(&gerr);
			while (gerr.len && gerr.p[gerr.len - 1] == '\n')
				gerr.p[--gerr.len] = '\0';
			if (status != errors[i].status || !gerr.p || strcmp(gerr.p, want) != 0) {
				print_error("[%s]: GNU find says (%d)\n  %s\n", errors[i].args, status,
					    gerr.p ? gerr.p : "");
				bad++;
			}
			buf_free(&out);
			buf_free(&gerr);
			free(gv);
		}
		free_words(argv, argc);
		free(want);
	}
	assert_int_equal(bad, 0);
}

static void test_progname_and_limits(void **state)
{
	char err[512];
	struct loafre__find *f = NULL;
	struct loafre__find_opts o = {.progname = "loafre find"};
	char *a1[] = {"-foo"};
	char *a2[] = {"-name", "a", "x"};
	char *a3[] = {"-printf", "%5000p"};
	char *a4[] = {"-printf", "%.4097p"};
	char *a5[] = {"-exec", "ls", ";"};
	char *a6[] = {"-printf", "%Z"};
	(void)state;

	assert_int_equal(loafre__find_parse(1, a1, &o, &f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "loafre find: unknown predicate `-foo'");
	assert_int_equal(loafre__find_parse(3, a2, &o, &f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "loafre find: paths must precede expression: `x'");
	assert_int_equal(loafre__find_parse(2, a3, &o, &f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "loafre find: -printf: field width or precision larger than 4096");
	assert_int_equal(loafre__find_parse(2, a4, &o, &f, err, sizeof(err)), -EINVAL);
	assert_int_equal(loafre__find_parse(3, a5, &o, &f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "loafre find: the predicate `-exec' is not supported");
	assert_int_equal(loafre__find_parse(2, a6, &o, &f, err, sizeof(err)), -EINVAL);
	/* regular expressions glibc would compile into gigabytes */
	static const char *const too_big[] = {
	    "((a{255}){255}){255}", "(a?){8192}", "(a|){1000}", "(x|y|z|)*{1000}", ".*+++++++++++",
	    "a\\{300\\}\\{300\\}", "(.*){513}", "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((x",
	};
	static const char *const fine[] = {
	    "(a{255}){255}b{100}", "(a|b|c){1000}", ".*/[^/]*\\.txt", "(ab?){200}", ".*++++++++",
	    "(foo|bar|baz|qux)+/.*", "[0-9]{4}-[0-9]{2}-[0-9]{2}.*",
	};
	for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
		char *a8[] = {"-regextype", "posix-extended", "-regex", (char *)too_big[i]};
		char want[512];
		assert_int_equal(loafre__find_parse(4, a8, &o, &f, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want),
			 "loafre find: regular expression '%s' is too complex (more than 65536 atoms, or 512 that may match nothing, once repetitions are expanded)",
			 too_big[i]);
		assert_string_equal(err, want);
	}
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		char *a9[] = {"-regextype", "posix-extended", "-regex", (char *)fine[i]};
		if (loafre__find_parse(4, a9, &o, &f, err, sizeof(err)) != 0)
			fail_msg("%s: %s", fine[i], err);
		loafre__find_free(f);
	}

	/* emacs syntax (find's default): a leading '+' is a literal that each
	 * further '+' doubles (found by fuzz_findexpr: 2 GiB in regcomp) */
	{
		char *a10[] = {"-regextype", "emacs", "-regex", "+++++++++++++++++++++++++++++5n"};
		char *a11[] = {"-regextype", "emacs", "-regex", "+a+"};
		assert_int_equal(loafre__find_parse(4, a10, &o, &f, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "is too complex"));
		assert_int_equal(loafre__find_parse(4, a11, &o, &f, err, sizeof(err)), 0);
		loafre__find_free(f);
	}

	/* a tiny error buffer is truncated, never overrun */
	assert_int_equal(loafre__find_parse(1, a1, &o, &f, err, 5), -EINVAL);
	assert_string_equal(err, "loaf");

	/* too many arguments, too long an argument */
	int n = LOAFRE__FIND_ARGS_MAX + 1;
	char **many = calloc((size_t)n, sizeof(*many));
	for (int i = 0; i < n; i++)
		many[i] = "-true";
	assert_int_equal(loafre__find_parse(n, many, &o, &f, err, sizeof(err)), -E2BIG);
	free(many);
	char *longarg = malloc(LOAFRE__FIND_ARG_MAX + 2);
	memset(longarg, 'x', LOAFRE__FIND_ARG_MAX + 1);
	longarg[LOAFRE__FIND_ARG_MAX + 1] = '\0';
	char *a7[] = {"-name", longarg};
	assert_int_equal(loafre__find_parse(2, a7, &o, &f, err, sizeof(err)), -E2BIG);
	longarg[LOAFRE__FIND_ARG_MAX] = '\0';
	assert_int_equal(loafre__find_parse(2, a7, &o, &f, err, sizeof(err)), 0);
	loafre__find_free(f);
	free(longarg);

	/* the full limit of arguments is fine */
	n = LOAFRE__FIND_ARGS_MAX;
	many = calloc((size_t)n, sizeof(*many));
	for (int i = 0; i < n; i++)
		many[i] = i % 2 ? "-o" : "-false";
	many[n - 1] = "-true";
	assert_int_equal(loafre__find_parse(n, many, &o, &f, err, sizeof(err)), 0);
	loafre__find_free(f);
	free(many);
	loafre__find_free(NULL);
}

/* -printf and -perm warnings: like GNU's on stderr, parsing goes on. */
static void test_warnings(void **state)
{
	static const char *const cases[] = {
	    "-printf 'a\\qb\\n'", "-printf 'x\\'", "-printf '%Q|%5TQ|%-%|%5T'",
	    "-printf '%+]\\n'", "-perm /u+t", "-perm /0", "-printf '%1$s %*s'",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char **argv, err[512], *w = NULL;
		size_t wl = 0;
		int argc = split_words(cases[i], &argv);
		struct loafre__find *f = NULL;
		FILE *wf = open_memstream(&w, &wl);
		struct loafre__find_opts o = {.warn = wf};
		assert_int_equal(loafre__find_parse(argc, argv, &o, &f, err, sizeof(err)), 0);
		loafre__find_free(f);
		fclose(wf);
		assert_true(wl > 0);
		assert_memory_equal(w, "find: warning: ", 15);
		if (g_gnu) {
			char **gv = calloc((size_t)argc + 5, sizeof(*gv));
			struct buf out = {0}, gerr = {0};
			int status;
			gv[0] = "find";
			gv[1] = g_tree;
			gv[2] = "-maxdepth";
			gv[3] = "0";
			for (int k = 0; k < argc; k++)
				gv[4 + k] = argv[k];
			run_cmd(gv, &out, &gerr, &status);
			assert_int_equal(status, 0);
			assert_non_null(gerr.p);
			if (strcmp(gerr.p, w) != 0)
				fail_msg("[%s]: ours\n%s\nGNU\n%s", cases[i], w, gerr.p);
			buf_free(&out);
			buf_free(&gerr);
			free(gv);
		}
		free(w);
		free_words(argv, argc);
	}
}

/* ---- the oracle ---------------------------------------------------------- */

enum mode {
	M_SET,        /* same set of lines */
	M_NUL,        /* same set of NUL-terminated records */
	M_QUIT,       /* same number of lines */
	M_COUNT,      /* ours prints one number: GNU's line count for `gnu` */
	M_COUNT_TAIL, /* ours: GNU's lines for `gnu`, then their count */
};

static const struct {
	const char *expr; /* optional start paths, then the expression; @T: tree */
	enum mode mode;
	const char *gnu;  /* M_COUNT*: the expression GNU runs instead */
} exprs[] = {
	{"", M_SET, NULL},
	{"-print", M_SET, NULL},
	{"-name '*.txt'", M_SET, NULL},
	{"-iname '*.txt'", M_SET, NULL},
	{"-name '[a-f]*'", M_SET, NULL},
	{"-name '?'", M_SET, NULL},
	{"-name '.*'", M_SET, NULL},
	{"-name '\xc3\xa9*'", M_SET, NULL},
	{"-name '*\\*'", M_SET, NULL},
	{"-name '*\\\\*'", M_SET, NULL},
	{"-name t", M_SET, NULL},
	{"-path '*/b/*'", M_SET, NULL},
	{"-ipath '*/DIR.D/*'", M_SET, NULL},
	{"-wholename '@T/a*'", M_SET, NULL},
	{"-iwholename '*/upper/*'", M_SET, NULL},
	{"-regex '.*/[a-c]/.*'", M_SET, NULL},
	{"-iregex '.*readme.*'", M_SET, NULL},
	{"-regex '.*\\(txt\\|c\\)'", M_SET, NULL},
	{"-regex '.*/s5.*'", M_SET, NULL},
	{"-regextype posix-extended -regex '.*/(a|b)/.*'", M_SET, NULL},
	{"-regextype posix-basic -regex '.*/\\(a\\|b\\)$'", M_SET, NULL},
	{"-regextype posix-egrep -regex '.*[0-9]+'", M_SET, NULL},
	{"-regextype emacs -regex '.*[[:digit:]]'", M_SET, NULL},
	{"-regextype posix-extended -regex '.*[[:digit:]]+'", M_SET, NULL},
	{"-regextype sed -regex '.*/s5.*'", M_SET, NULL},
	{"-regextype awk -iregex '.*Z\\.C'", M_SET, NULL},
	{"-regextype findutils-default -regex '.*/d.*'", M_SET, NULL},
	{"-regextype grep -regex '.*/p[0-9]*'", M_SET, NULL},
	{"-regextype ed -regex '.*/p[0-9]\\{3\\}'", M_SET, NULL},
	{"-regextype gnu-awk -regex '.*/p[0-9]{3}'", M_SET, NULL},
	{"-regextype posix-awk -regex '.*/(old|future)'", M_SET, NULL},
	{"-regextype egrep -regex '.*/(old|future)'", M_SET, NULL},
	{"-regextype posix-minimal-basic -regex '.*/old'", M_SET, NULL},
	{"-type f", M_SET, NULL},
	{"-type d", M_SET, NULL},
	{"-type l", M_SET, NULL},
	{"-type p", M_SET, NULL},
	{"-type s", M_SET, NULL},
	{"-type c", M_SET, NULL},
	{"-type b", M_SET, NULL},
	{"-type f,d", M_SET, NULL},
	{"-type l,p,c,b,s", M_SET, NULL},
	{"-xtype f", M_SET, NULL},
	{"-xtype l", M_SET, NULL},
	{"-xtype d", M_SET, NULL},
	{"-size 0", M_SET, NULL},
	{"-size -1", M_SET, NULL},
	{"-size +1", M_SET, NULL},
	{"-size 1", M_SET, NULL},
	{"-size 2", M_SET, NULL},
	{"-size -1k", M_SET, NULL},
	{"-size +1k", M_SET, NULL},
	{"-size 1k", M_SET, NULL},
	{"-size +2M", M_SET, NULL},
	{"-size -10M", M_SET, NULL},
	{"-size 10M", M_SET, NULL},
	{"-size 513c", M_SET, NULL},
	{"-size +512c", M_SET, NULL},
	{"-size -513c", M_SET, NULL},
	{"-size 1500w", M_SET, NULL},
	{"-size +1G", M_SET, NULL},
	{"-size 0c", M_SET, NULL},
	{"-size 1G", M_SET, NULL},
	{"-empty", M_SET, NULL},
	{"-type d -empty", M_SET, NULL},
	{"-not -empty", M_SET, NULL},
	{"-links 2", M_SET, NULL},
	{"-links +1", M_SET, NULL},
	{"-links -2", M_SET, NULL},
	{"-uid 0", M_SET, NULL},
	{"-uid 1234", M_SET, NULL},
	{"-uid +1000", M_SET, NULL},
	{"-uid -1", M_SET, NULL},
	{"-gid 5678", M_SET, NULL},
	{"-gid +0", M_SET, NULL},
	{"-user root", M_SET, NULL},
	{"-user 1234", M_SET, NULL},
	{"-group root", M_SET, NULL},
	{"-group 5678", M_SET, NULL},
	{"-nouser", M_SET, NULL},
	{"-nogroup", M_SET, NULL},
	{"-nouser -o -nogroup", M_SET, NULL},
	{"-perm 644", M_SET, NULL},
	{"-perm -644", M_SET, NULL},
	{"-perm /111", M_SET, NULL},
	{"-perm -u+s", M_SET, NULL},
	{"-perm /u+s,g+s", M_SET, NULL},
	{"-perm -o+t", M_SET, NULL},
	{"-perm /o+w", M_SET, NULL},
	{"-perm -g=r", M_SET, NULL},
	{"-perm u=rw,go=r", M_SET, NULL},
	{"-perm -a+X", M_SET, NULL},
	{"-perm /a+X", M_SET, NULL},
	{"-perm u+X", M_SET, NULL},
	{"-perm -u=rwx,g=u", M_SET, NULL},
	{"-perm -u+x,a+X", M_SET, NULL},
	{"-perm -u+s,u=rwx", M_SET, NULL},
	{"-perm u+s,u=rwx", M_SET, NULL},
	{"-perm /g+s,a=", M_SET, NULL},
	{"-perm u+s,u-s", M_SET, NULL},
	{"-perm -o+t,o=rwx", M_SET, NULL},
	{"-perm a=rwx,o-w", M_SET, NULL},
	{"-perm 0", M_SET, NULL},
	{"-perm /000", M_SET, NULL},
	{"-perm -000", M_SET, NULL},
	{"-perm 4755", M_SET, NULL},
	{"-perm -2000", M_SET, NULL},
	{"-perm 07777", M_SET, NULL},
	{"-perm /+t", M_SET, NULL},
	{"-newer @T/old", M_SET, NULL},
	{"-newer @T/a/f1.txt", M_SET, NULL},
	{"-anewer @T/old", M_SET, NULL},
	{"-cnewer @T/old", M_SET, NULL},
	{"-newermm @T/days3", M_SET, NULL},
	{"-neweram @T/days3", M_SET, NULL},
	{"-newercm @T/old", M_SET, NULL},
	{"-newerma @T/accessed", M_SET, NULL},
	{"-newermt 2005-01-01", M_SET, NULL},
	{"-newermt '2005-01-01 10:00:00'", M_SET, NULL},
	{"-newermt @1000000000", M_SET, NULL},
	{"-not -newermt 2020-01-01T00:00:00Z", M_SET, NULL},
	{"-newerat '2001-02-03 04:05:06.5'", M_SET, NULL},
	{"-samefile @T/a/f1.txt", M_SET, NULL},
	{"-samefile @T/hard1", M_SET, NULL},
	{"-samefile @T/lnk", M_SET, NULL},
	{"-mtime 0", M_SET, NULL},
	{"-mtime 1", M_SET, NULL},
	{"-mtime +1", M_SET, NULL},
	{"-mtime -1", M_SET, NULL},
	{"-mtime +2", M_SET, NULL},
	{"-mtime -4", M_SET, NULL},
	{"-mtime 3", M_SET, NULL},
	{"-mtime +99", M_SET, NULL},
	{"-mtime +150", M_SET, NULL},
	{"-mtime -150", M_SET, NULL},
	{"-mtime 1.5", M_SET, NULL},
	{"-mtime +0.5", M_SET, NULL},
	{"-atime -1", M_SET, NULL},
	{"-atime +1", M_SET, NULL},
	{"-atime 2", M_SET, NULL},
	{"-ctime 0", M_SET, NULL},
	{"-ctime -1", M_SET, NULL},
	{"-mmin -120", M_SET, NULL},
	{"-mmin +60", M_SET, NULL},
	{"-mmin -60", M_SET, NULL},
	{"-mmin +100", M_SET, NULL},
	{"-mmin 6", M_SET, NULL},
	{"-mmin 91", M_SET, NULL},
	{"-amin -10", M_SET, NULL},
	{"-amin 6", M_SET, NULL},
	{"-cmin -10", M_SET, NULL},
	{"-cmin +10", M_SET, NULL},
	{"-daystart -mtime 0", M_SET, NULL},
	{"-daystart -mtime -2", M_SET, NULL},
	{"-daystart -mtime +1", M_SET, NULL},
	{"-daystart -mmin -2000", M_SET, NULL},
	{"-mtime 0 -daystart -mtime 0", M_SET, NULL},
	{"-maxdepth 0", M_SET, NULL},
	{"-maxdepth 1", M_SET, NULL},
	{"-maxdepth 2 -type d", M_SET, NULL},
	{"-mindepth 2", M_SET, NULL},
	{"-mindepth 1 -maxdepth 1", M_SET, NULL},
	{"-mindepth 3 -maxdepth 2", M_SET, NULL},
	{"-name a -maxdepth 1", M_SET, NULL},
	{"-depth -name a", M_SET, NULL},
	{"-d -type d", M_SET, NULL},
	{"-depth -name a -prune -o -print", M_SET, NULL},
	{"-xdev -type f", M_SET, NULL},
	{"-mount -name '*.c'", M_SET, NULL},
	{"-noleaf -warn -nowarn -ignore_readdir_race -noignore_readdir_race -name a", M_SET, NULL},
	{"-true", M_SET, NULL},
	{"-false", M_SET, NULL},
	{"-false -o -true", M_SET, NULL},
	{"! -type d", M_SET, NULL},
	{"-not -type f", M_SET, NULL},
	{"! ! -type l", M_SET, NULL},
	{"-type f -a -size +0", M_SET, NULL},
	{"-type f -and -name '*.c'", M_SET, NULL},
	{"-type d -o -name '*.txt'", M_SET, NULL},
	{"-type d -or -name '*.txt'", M_SET, NULL},
	{"-type d -print , -name '*.txt' -print", M_SET, NULL},
	{"-name a -prune -o -print", M_SET, NULL},
	{"-name a -prune -o -type f -print", M_SET, NULL},
	{"-type d -name b -prune -o -name '*' -print", M_SET, NULL},
	{"-path @T/dir.d -prune , -print", M_SET, NULL},
	{"-name deep -prune", M_SET, NULL},
	{"( -name a -o -name b ) -print", M_SET, NULL},
	{"( -type f ( -name '*.c' -o -name '*.C' ) ) -print", M_SET, NULL},
	{"! ( -type f -o -type d )", M_SET, NULL},
	{"-type f -name 'p*' -o -type d -name 'p*' -print", M_SET, NULL},
	{"-ls", M_SET, NULL},
	{"-type l -ls", M_SET, NULL},
	{"-type c -ls", M_SET, NULL},
	{"-name owned -ls", M_SET, NULL},
	{"-printf '%p %f %h %H %P\\n'", M_SET, NULL},
	{"-printf '[%s][%b][%k][%m][%M][%n]\\n'", M_SET, NULL},
	{"-printf '[%u][%g][%U][%G]\\n'", M_SET, NULL},
	{"-printf '[%y][%Y][%l][%i][%d][%D][%F]\\n'", M_SET, NULL},
	{"-printf '[%S][%.2S][%+S][%010.3S][%#S][%-9.1S]\\n'", M_SET, NULL},
	{"-printf '%t|%a|%c\\n'", M_SET, NULL},
	{"-printf '%T@|%A@|%C@\\n'", M_SET, NULL},
	{"-printf '%TY-%Tm-%Td %TH:%TM:%TS|%T+|%TT|%Tk|%Tp|%Tj|%TU|%TW|%Ta|%Tb|%TB|%TA|%Tc|%TD|%Te|%Tg|%TG|%Th|%TI|%Tl|%Tr|%TR|%Ts|%Tu|%TV|%Tw|%Tx|%TX|%Ty|%TC|%TF|%Tz|%TZ|%Tn|%Tt|%T%\\n'", M_SET, NULL},
	{"-printf '%A+ %C+ %AT %CS %AX %Cc %Aj\\n'", M_SET, NULL},
	{"-printf '%Tf|%TQ|%AE|%CO|%T1|%5TQ|%BY|%B@|%-5Bc|\\n'", M_SET, NULL},
	{"-printf '%-20p|%20p|%.3p|%-5.2f|%.0P|%10H|%-4y|%3Y\\n'", M_SET, NULL},
	{"-printf '%10s|%-10s|%010s|%+d|% d|%05d|%-5d|%.3d|%.0d|%#m|%05m|%-6m|%.5m|%#.0m|%+m\\n'", M_SET, NULL},
	{"-printf '%15i|%-8n|%.1U|%.1G|%5k|%-5b|%3D\\n'", M_SET, NULL},
	{"-printf 'a\\tb\\\\c\\101\\1\\18\\400\\777\\a\\b\\f\\r\\v|%p\\n'", M_SET, NULL},
	{"-printf '%p\\c%s\\n'", M_SET, NULL},
	{"-printf '%%|%5%|%-%|%Q|%e\\n'", M_SET, NULL},
	{"-type f -printf '%s\\n' , -type d -printf 'dir %p\\n'", M_SET, NULL},
	{"-name '*' -printf '%f\\n' -prune", M_SET, NULL},
	{"-ls , -printf '%p\\n'", M_SET, NULL},
	{"-print -ls -printf '%y\\n'", M_SET, NULL},
	{"-name f1.txt -printf '%p\\n' -o -print", M_SET, NULL},
	{"-maxdepth 1 -name '*a*' -printf '%P\\n'", M_SET, NULL},
	{"-lname 'a/*'", M_SET, NULL},
	{"-ilname 'A/*'", M_SET, NULL},
	{"-lname '*'", M_SET, NULL},
	{"-inum 1", M_SET, NULL},
	{"-inum +1", M_SET, NULL},
	{"-fstype nfs", M_SET, NULL},
	{"-type f -newer @T/days3 -size -2", M_SET, NULL},
	{"-user root -a -group root -a -perm -u+r -a -type f", M_SET, NULL},
	/* several start paths, trailing slashes */
	{"@T/a @T/dir.d/ @T/lnk @T/empty// -printf '%p|%f|%h|%H|%P|%d\\n'", M_SET, NULL},
	{"@T/a/ '@T/sp ace' -name '*a*'", M_SET, NULL},
	{"@T/a @T/a/b -maxdepth 1", M_SET, NULL},
	{"@T/ -maxdepth 1 -ls", M_SET, NULL},
	{"@T/a @T/dir.d -name x.y -prune -o -print", M_SET, NULL},
	{"@T/a/f1.txt @T/deep -name f1.txt", M_SET, NULL},
	/* -print0 */
	{"-print0", M_NUL, NULL},
	{"-type f -print0", M_NUL, NULL},
	{"-printf '%p\\0'", M_NUL, NULL},
	/* -quit */
	{"-name a -print -quit", M_QUIT, NULL},
	{"-type f -print -quit", M_QUIT, NULL},
	{"-quit", M_QUIT, NULL},
	{"-print -quit", M_QUIT, NULL},
	{"-name x.y -quit -o -print", M_QUIT, NULL},
	{"@T/a @T/dir.d -name c -quit -o -print", M_QUIT, NULL},
	/* -count */
	{"-count", M_COUNT, ""},
	{"-type f -count", M_COUNT, "-type f"},
	{"-name nothing -count", M_COUNT, "-name nothing"},
	{"-type f -count -name '*.c' -count", M_COUNT, "-type f"},
	{"-maxdepth 1 -count", M_COUNT, "-maxdepth 1"},
	{"-type f -print -count", M_COUNT_TAIL, "-type f -print"},
};

static size_t split_records(char *p, size_t len, char sep, char ***ret)
{
	size_t n = 0;
	char **v = NULL;
	for (size_t i = 0; i < len;) {
		char *e = memchr(p + i, sep, len - i);
		size_t l = e ? (size_t)(e - (p + i)) : len - i;
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n] = strndup(p + i, l);
		n++;
		i += l + 1;
	}
	*ret = v;
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_records(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* the same multiset of records; prints the differences */
static bool same_records(const char *label, struct buf *ours, struct buf *gnu, char sep)
{
	char **a, **b;
	size_t na = split_records(ours->p ? ours->p : "", ours->len, sep, &a);
	size_t nb = split_records(gnu->p ? gnu->p : "", gnu->len, sep, &b);
	size_t i = 0, j = 0;
	int shown = 0;
	bool same = true;

	if (na)
		qsort(a, na, sizeof(*a), cmp_str);
	if (nb)
		qsort(b, nb, sizeof(*b), cmp_str);
	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : strcmp(a[i], b[j]);
		if (c == 0) {
			i++;
			j++;
			continue;
		}
		if (same)
			print_error("[%s]: ours (<) and GNU find (>) differ:\n", label);
		same = false;
		if (shown++ < 12)
			print_error("  %c %s\n", c < 0 ? '<' : '>', c < 0 ? a[i] : b[j]);
		if (c < 0)
			i++;
		else
			j++;
	}
	free_records(a, na);
	free_records(b, nb);
	return same;
}

static size_t count_lines(const struct buf *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->len; i++)
		n += b->p[i] == '\n';
	return n;
}

static void test_oracle(void **state)
{
	int bad = 0, total = 0;
	(void)state;
	if (!g_gnu)
		skip();
	for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		char **w, **gw, err[1024];
		int nw = split_words(exprs[i].expr, &w);
		int np = loafre__find_split(nw, w);
		char *deflt[] = {g_tree};
		char **paths = np ? w : deflt;
		int npaths = np ? np : 1;
		int ngw = split_words(exprs[i].gnu ? exprs[i].gnu : exprs[i].expr, &gw);
		int gnp = exprs[i].gnu ? 0 : np;
		struct buf ours = {0}, gnu = {0}, gerr = {0};
		int status, rc;

		rc = run_ours(paths, npaths, w + np, nw - np, &ours, err, sizeof(err));
		if (rc != 0) {
			print_error("[%s]: parse failed: %s\n", exprs[i].expr, err);
			bad++;
			goto next;
		}
		char **gv = calloc((size_t)(npaths + ngw + 2), sizeof(*gv));
		gv[0] = "find";
		for (int k = 0; k < npaths; k++)
			gv[1 + k] = paths[k];
		for (int k = gnp; k < ngw; k++)
			gv[1 + npaths + k - gnp] = gw[k];
		run_cmd(gv, &gnu, &gerr, &status);
		free(gv);
		total++;
		switch (exprs[i].mode) {
		case M_SET:
			bad += !same_records(exprs[i].expr, &ours, &gnu, '\n');
			break;
		case M_NUL:
			bad += !same_records(exprs[i].expr, &ours, &gnu, '\0');
			break;
		case M_QUIT:
			if (count_lines(&ours) != count_lines(&gnu)) {
				print_error("[%s]: %zu lines, GNU find %zu\n", exprs[i].expr, count_lines(&ours),
					    count_lines(&gnu));
				bad++;
			}
			break;
		case M_COUNT:
		case M_COUNT_TAIL: {
			char want[32];
			snprintf(want, sizeof(want), "%zu\n", count_lines(&gnu));
			if (exprs[i].mode == M_COUNT_TAIL)
				buf_add(&gnu, want, strlen(want));
			if (exprs[i].mode == M_COUNT && (!ours.p || strcmp(ours.p, want) != 0)) {
				print_error("[%s]: printed '%s', GNU find printed %s", exprs[i].expr,
					    ours.p ? ours.p : "", want);
				bad++;
			} else if (exprs[i].mode == M_COUNT_TAIL) {
				/* the count is the last line */
				size_t l = ours.len;
				if (l < strlen(want) || strcmp(ours.p + l - strlen(want), want) != 0) {
					print_error("[%s]: does not end with %s", exprs[i].expr, want);
					bad++;
				}
				bad += !same_records(exprs[i].expr, &ours, &gnu, '\n');
			}
			break;
		}
		}
	next:
		buf_free(&ours);
		buf_free(&gnu);
		buf_free(&gerr);
		free_words(w, nw);
		free_words(gw, ngw);
	}
	print_message("%d expressions compared with GNU find, %d differ\n", total, bad);
	assert_true(total >= 60);
	assert_int_equal(bad, 0);
}

/* ---- evaluation flags, without a tree ------------------------------------ */

static struct loafre__find *parse_ok(const char *expr, FILE *out)
{
	char **argv, err[512];
	int argc = split_words(expr, &argv);
	struct loafre__find *f = NULL;
	struct loafre__find_opts o = {.out = out, .lookup = lookup_lstat};
	int rc = loafre__find_parse(argc, argv, &o, &f, err, sizeof(err));
	if (rc != 0)
		fail_msg("[%s]: %s", expr, err);
	free_words(argv, argc);
	return f;
}

static struct loafre__find_entry fake(const char *path, unsigned depth, uint32_t mode)
{
	struct loafre__find_entry e = {0};
	e.path = path;
	e.start_len = 1;
	e.depth = depth;
	e.mode = mode;
	e.nlink = 1;
	return e;
}

static void test_eval_flags(void **state)
{
	FILE *null = fopen("/dev/null", "we");
	struct loafre__find *f;
	struct loafre__find_result r;
	struct loafre__find_entry d0 = fake(".", 0, S_IFDIR | 0755), d1 = fake("./a", 1, S_IFDIR | 0755),
				  d2 = fake("./a/b", 2, S_IFDIR | 0755), f3 = fake("./a/b/c", 3, S_IFREG | 0644);
	(void)state;
	assert_non_null(null);

	/* maxdepth: not descended at the limit, not evaluated below it */
	f = parse_ok("-maxdepth 1 -mindepth 1", null);
	assert_int_equal(loafre__find_eval(f, &d0, &r), 0);
	assert_false(r.matched); /* above mindepth */
	assert_false(r.prune);
	assert_int_equal(loafre__find_eval(f, &d1, &r), 0);
	assert_true(r.matched);
	assert_true(r.prune);
	assert_int_equal(loafre__find_eval(f, &d2, &r), 0);
	assert_false(r.matched);
	assert_true(r.prune);
	loafre__find_free(f);

	/* -prune, and -depth disables it */
	f = parse_ok("-name a -prune", null);
	assert_int_equal(loafre__find_eval(f, &d1, &r), 0);
	assert_true(r.matched && r.prune && !r.quit);
	assert_int_equal(loafre__find_eval(f, &d2, &r), 0);
	assert_true(!r.matched && !r.prune);
	loafre__find_free(f);
	f = parse_ok("-depth -name a -prune", null);
	assert_int_equal(loafre__find_eval(f, &d1, &r), 0);
	assert_true(r.matched && !r.prune);
	loafre__find_free(f);

	/* -quit stops at once and for good */
	f = parse_ok("-name b -quit", null);
	assert_int_equal(loafre__find_eval(f, &d1, &r), 0);
	assert_false(r.quit);
	assert_int_equal(loafre__find_eval(f, &d2, &r), 0);
	assert_true(r.quit && !r.matched);
	assert_int_equal(loafre__find_eval(f, &f3, &r), 0);
	assert_true(r.quit && !r.matched);
	loafre__find_free(f);

	/* -xdev: no descent into another device */
	f = parse_ok("-xdev", null);
	d0.dev = 1;
	d1.dev = 1;
	d2.dev = 2;
	assert_int_equal(loafre__find_eval(f, &d0, &r), 0);
	assert_false(r.prune);
	assert_int_equal(loafre__find_eval(f, &d1, &r), 0);
	assert_false(r.prune);
	assert_int_equal(loafre__find_eval(f, &d2, &r), 0);
	assert_true(r.matched && r.prune);
	loafre__find_free(f);

	/* -count counts each entry once, prints at finish */
	char *mem = NULL;
	size_t ml = 0;
	FILE *m = open_memstream(&mem, &ml);
	f = parse_ok("-count -type d -count", m);
	assert_int_equal(loafre__find_eval(f, &d0, &r), 0);
	assert_int_equal(loafre__find_eval(f, &d1, &r), 0);
	assert_int_equal(loafre__find_eval(f, &f3, &r), 0);
	assert_int_equal(loafre__find_finish(f), 0);
	loafre__find_free(f);
	fclose(m);
	assert_string_equal(mem, "3\n");
	free(mem);

	/* -samefile and -newer through the lookup: name, depth-0 name rules */
	f = parse_ok("-name a", null);
	struct loafre__find_entry s = fake("x/a//", 0, S_IFDIR | 0755);
	assert_int_equal(loafre__find_eval(f, &s, &r), 0);
	assert_true(r.matched);
	s.name = "b"; /* the caller's name wins */
	assert_int_equal(loafre__find_eval(f, &s, &r), 0);
	assert_false(r.matched);
	loafre__find_free(f);
	fclose(null);
}

static int lookup_fake(void *ctx, const char *path, struct loafre__find_entry *ret)
{
	(void)ctx;
	memset(ret, 0, sizeof(*ret));
	if (strcmp(path, "REF"))
		return -EACCES;
	ret->mtime_ns = 1000;
	ret->atime_ns = 2000;
	memset(ret->id, 7, sizeof(ret->id));
	return 0;
}

static void test_lookup(void **state)
{
	struct loafre__find *f = NULL;
	struct loafre__find_result r;
	struct loafre__find_opts o = {.out = NULL, .lookup = lookup_fake};
	char err[256];
	char *a1[] = {"-samefile", "REF", "-newer", "REF", "-neweraa", "REF"};
	char *a2[] = {"-newer", "OTHER"};
	char *a3[] = {"-newer", "REF"};
	struct loafre__find_entry e = fake("./x", 1, S_IFREG | 0644);
	FILE *null = fopen("/dev/null", "we");
	(void)state;

	o.out = null;
	assert_int_equal(loafre__find_parse(6, a1, &o, &f, err, sizeof(err)), 0);
	memset(e.id, 7, sizeof(e.id));
	e.mtime_ns = 1001;
	e.atime_ns = 2001;
	assert_int_equal(loafre__find_eval(f, &e, &r), 0);
	assert_true(r.matched);
	e.atime_ns = 2000; /* not newer than the reference's atime */
	assert_int_equal(loafre__find_eval(f, &e, &r), 0);
	assert_false(r.matched);
	e.atime_ns = 2001;
	e.id[15] = 8;
	assert_int_equal(loafre__find_eval(f, &e, &r), 0);
	assert_false(r.matched);
	loafre__find_free(f);
	assert_int_equal(loafre__find_parse(2, a2, &o, &f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "find: 'OTHER': Permission denied");
	o.lookup = NULL;
	assert_int_equal(loafre__find_parse(2, a3, &o, &f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "find: 'REF': No such file or directory");
	fclose(null);
}

/* GNU's time arithmetic at the boundaries (checked against find 4.9 with
 * files 86399.5, 86400.5, 86401.5, 59.5 and 60.5 seconds old, and 5 and
 * 70 seconds in the future): -mtime -N has GNU's extra second, -mtime N
 * counts whole days, -mmin N means [N-1, N) minutes ago (so -mmin 0 is
 * the next minute). */
static void test_time_boundaries(void **state)
{
	static const struct {
		const char *expr;
		double age; /* seconds before now */
		bool match;
	} cases[] = {
	    {"-mtime -1", 86399.5, true},  {"-mtime -1", 86400.5, true},  {"-mtime -1", 86401.5, false},
	    {"-mtime 0", 86399.5, true},   {"-mtime 0", 86400.5, false},  {"-mtime 0", -1, false},
	    {"-mtime +0", 86400.5, true},  {"-mtime +0", 86399.5, false}, {"-mtime 1", 86400.5, true},
	    {"-mtime 1", 172799.5, true},  {"-mtime 1", 172800.5, false}, {"-mtime +1", 172800.5, true},
	    {"-mtime 1.5", 129600.5, true}, {"-mtime 1.5", 129599.5, false},
	    {"-mmin -1", 59.5, true},      {"-mmin -1", 60.5, false},     {"-mmin 1", 59.5, true},
	    {"-mmin 1", 0, true},          {"-mmin 1", 60.5, false},      {"-mmin 1", -1, false},
	    {"-mmin +1", 60.5, true},      {"-mmin +1", 59.5, false},     {"-mmin 0", -5, true}, {"-mmin 0", -70, false},
	    {"-mmin -0.5", 29.5, true},    {"-mmin -0.5", 30.5, false},   {"-amin -1", 59.5, true},
	    {"-cmin +1", 59.5, false},     {"-mtime +-1", 10, true},   {"-mtime +-1", -10, false},       {"-mtime -2", 172800.5, true},
	};
	FILE *null = fopen("/dev/null", "we");
	const int64_t now = 1700000000LL * 1000000000LL;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char **argv, err[256];
		int argc = split_words(cases[i].expr, &argv);
		struct loafre__find *f = NULL;
		struct loafre__find_opts o = {.out = null, .now = {1700000000, 0}};
		struct loafre__find_entry e = fake("./x", 1, S_IFREG | 0644);
		struct loafre__find_result r;
		int64_t t = now - (int64_t)(cases[i].age * 1e9);
		e.mtime_ns = e.atime_ns = e.ctime_ns = t;
		assert_int_equal(loafre__find_parse(argc, argv, &o, &f, err, sizeof(err)), 0);
		assert_int_equal(loafre__find_eval(f, &e, &r), 0);
		if (r.matched != cases[i].match)
			fail_msg("%s with age %.1f s: %d", cases[i].expr, cases[i].age, r.matched);
		loafre__find_free(f);
		free_words(argv, argc);
	}
	fclose(null);
}

static void test_output_error(void **state)
{
	FILE *full = fopen("/dev/full", "we");
	struct loafre__find *f;
	struct loafre__find_result r;
	struct loafre__find_entry e = fake("./x", 1, S_IFREG | 0644);
	(void)state;
	if (!full)
		skip();
	setvbuf(full, NULL, _IONBF, 0);
	f = parse_ok("-print", full);
	assert_int_equal(loafre__find_eval(f, &e, &r), -EIO);
	assert_int_equal(loafre__find_finish(f), -EIO);
	loafre__find_free(f);
	fclose(full);
}

/* ---- hints ---------------------------------------------------------------- */

static void test_hints(void **state)
{
	struct loafre__find *f;
	struct loafre__find_hints h;
	FILE *null = fopen("/dev/null", "we");
	(void)state;

	f = parse_ok("-name '*.c' -type f -size +1k -user root -mindepth 1 -maxdepth 3", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_null(h.name);
	assert_string_equal(h.name_prefix, "");
	assert_string_equal(h.name_suffix, ".c");
	assert_int_equal(h.types, LOAFRE__FIND_TYPE_BIT(S_IFREG));
	assert_true(h.size_min == 1025 && h.size_max == UINT64_MAX);
	assert_true(h.uid_min == 0 && h.uid_max == 0 && h.n_uids == 1 && h.uids[0] == 0);
	assert_true(h.mindepth == 1 && h.maxdepth == 3 && !h.post_order);
	loafre__find_free(f);

	f = parse_ok("-name 'ab\\*c'", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_string_equal(h.name, "ab*c");
	loafre__find_free(f);

	f = parse_ok("-name 'lib[0-9]*.so'", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_null(h.name);
	assert_string_equal(h.name_prefix, "lib");
	assert_string_equal(h.name_suffix, ".so");
	assert_string_equal(h.name_glob, "lib[0-9]*.so");
	loafre__find_free(f);

	/* the whole -name glob: both of an AND hold (the longer kept), an OR
	 * keeps it only when both sides have the same; -iname gives name_iglob */
	f = parse_ok("-name 'solver_1*.c' -size +1M", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_string_equal(h.name_glob, "solver_1*.c");
	assert_string_equal(h.name_prefix, "solver_1");
	loafre__find_free(f);
	f = parse_ok("-name '*.c' -name 'a*b*.c'", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_string_equal(h.name_glob, "a*b*.c");
	loafre__find_free(f);
	f = parse_ok("( -name '*.c' -o -name '*.h' ) -type f", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_null(h.name_glob);
	loafre__find_free(f);
	f = parse_ok("( -name '*.c' -o -name '*.c' -size +1 )", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_string_equal(h.name_glob, "*.c");
	loafre__find_free(f);
	f = parse_ok("-iname '*.C'", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_null(h.name_glob);
	assert_string_equal(h.name_iglob, "*.C");
	loafre__find_free(f);
	/* -iname: its own hint, kept by AND (the longer), OR only when equal */
	f = parse_ok("-iname 'Sol*' -iname 'SOLVER_1*.C'", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_string_equal(h.name_iglob, "SOLVER_1*.C");
	loafre__find_free(f);
	f = parse_ok("( -iname '*.c' -o -iname '*.h' )", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_null(h.name_iglob);
	loafre__find_free(f);
	f = parse_ok("! -iname '*.c'", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_null(h.name_iglob);
	loafre__find_free(f);
	f = parse_ok("! -name '*.c'", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_null(h.name_glob);
	loafre__find_free(f);

	/* an OR: union of types, set of uids; ! -type: the complement */
	f = parse_ok("( -uid 5 -o -user root ) ( -type f -o -type l ) ! -type l", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_int_equal(h.n_uids, 2);
	assert_true(h.uid_min == 0 && h.uid_max == 5);
	assert_int_equal(h.types, LOAFRE__FIND_TYPE_BIT(S_IFREG));
	loafre__find_free(f);

	/* only the tests before the first action or -prune count */
	f = parse_ok("-type d -prune -name x", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_int_equal(h.types, LOAFRE__FIND_TYPE_BIT(S_IFDIR));
	assert_null(h.name);
	assert_null(h.name_prefix);
	loafre__find_free(f);
	f = parse_ok("-name x -print -size +1M", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_string_equal(h.name, "x");
	assert_true(h.size_min == 0 && h.size_max == UINT64_MAX);
	loafre__find_free(f);
	f = parse_ok("-name a -prune -o -print", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_null(h.name_prefix);
	assert_int_equal(h.types, LOAFRE__FIND_TYPES_ALL);
	loafre__find_free(f);

	/* sizes rounded like -size; times from -newer/-mmin; impossible sets */
	f = parse_ok("-size 2k -size -3", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_true(h.size_min == 1025 && h.size_max == 1024);
	loafre__find_free(f);
	f = parse_ok("-size -1", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_true(h.size_min == 0 && h.size_max == 0);
	loafre__find_free(f);
	f = parse_ok("-false", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_int_equal(h.types, 0);
	loafre__find_free(f);
	f = parse_ok("-name a -name b", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_int_equal(h.types, 0);
	loafre__find_free(f);
	f = parse_ok("-newer @T/old -gid +10 -depth", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_true(h.mtime_min_ns == 981173106789000001LL && h.mtime_max_ns == INT64_MAX);
	assert_true(h.gid_min == 11 && h.gid_max == UINT32_MAX);
	assert_true(h.post_order);
	loafre__find_free(f);

	/* the hints never exclude an entry the expression prints */
	struct loafre__find_entry e = fake("./lib7.so", 1, S_IFREG | 0644);
	struct loafre__find_result r;
	e.size = 5000;
	f = parse_ok("-name 'lib[0-9]*.so' -size +4", null);
	assert_int_equal(loafre__find_hints(f, &h), 0);
	assert_int_equal(loafre__find_eval(f, &e, &r), 0);
	assert_true(r.matched);
	assert_true(e.size >= h.size_min && e.size <= h.size_max);
	loafre__find_free(f);
	fclose(null);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_progname_and_limits),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_oracle),
		cmocka_unit_test(test_eval_flags),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_time_boundaries),
		cmocka_unit_test(test_output_error),
		cmocka_unit_test(test_hints),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
