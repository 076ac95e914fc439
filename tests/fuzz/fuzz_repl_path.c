/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_repl_path.c — libFuzzer target for the relative paths of
 * replication (lib/repl_path.c): the lexical check and the resolution
 * beneath a root.
 *
 * Input: a path (at most 4096 bytes; a NUL byte ends it). Checked:
 *   - a path loafre__rel_check accepts has no leading '/', no empty, "."
 *     or ".." component;
 *   - whatever the check says, loafre__repl_open_dir with openat2 and with
 *     the fallback walk, on a sandbox whose tree holds symlinks to "..",
 *     "/", "../.." and ".", either fails or gives a directory inside the
 *     sandbox (its /proc/self/fd path starts with the sandbox's); so does
 *     loafre__repl_open_parent.
 * The sandbox is made once in $TMPDIR (or /tmp), removed at exit.
 */
#include <assert.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repl_dest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int root = -1;
static char root_path[PATH_MAX];
static char base_path[PATH_MAX];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void remove_sandbox(void)
{
	nftw(base_path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_sandbox(void)
{
	char base[PATH_MAX];
	const char *tmp = getenv("TMPDIR");

	snprintf(base, sizeof(base), "%s/loafre-fuzz-path.XXXXXX", tmp ? tmp : "/tmp");
	assert(mkdtemp(base));
	snprintf(base_path, sizeof(base_path), "%s", base);
	atexit(remove_sandbox);
	snprintf(root_path, sizeof(root_path), "%s/root", base);
	assert(mkdir(root_path, 0755) == 0);
	root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert(root >= 0);
	assert(mkdirat(root, "a", 0755) == 0);
	assert(mkdirat(root, "a/b", 0755) == 0);
	assert(symlinkat("..", root, "up") == 0);
	assert(symlinkat("/", root, "abs") == 0);
	assert(symlinkat("../..", root, "a/back") == 0);
	assert(symlinkat(".", root, "self") == 0);
	assert(symlinkat("b", root, "a/bee") == 0);
	/* the real path, for the prefix check */
	assert(realpath(root_path, base));
	snprintf(root_path, sizeof(root_path), "%s", base);
}

static void check_inside(int fd)
{
	char p[64], where[PATH_MAX + 1];
	ssize_t n;
	size_t rl = strlen(root_path);

	if (fd < 0)
		return;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, where, PATH_MAX);
	assert(n > 0);
	where[n] = '\0';
	assert(strncmp(where, root_path, rl) == 0 && (where[rl] == '\0' || where[rl] == '/'));
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[4097];
	const char *name;
	size_t len;

	if (root < 0)
		make_sandbox();
	if (size > 4096)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	len = strlen(text);
	if (loafre__rel_check(text) == 0) {
		const char *p = text;

		assert(text[0] != '/' && len > 0);
		while (*p) {
			const char *slash = strchr(p, '/');
			size_t n = slash ? (size_t)(slash - p) : strlen(p);

			assert(n > 0);
			assert(!(n == 1 && p[0] == '.'));
			assert(!(n == 2 && p[0] == '.' && p[1] == '.'));
			p += n + (slash ? 1 : 0);
			assert(!(slash && !*p));
		}
	}
	for (int mode = 0; mode < 2; mode++) {
		loafre__repl_no_openat2 = mode == 1;
		check_inside(loafre__repl_open_dir(root, text, len));
		check_inside(loafre__repl_open_parent(root, text, &name));
	}
	return 0;
}
