/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_path.c — relative paths of replication (lib/repl_dest.h, "Paths"):
 * the lexical check and the resolution beneath a root that never leaves it
 * and never follows a symlink. No format of its own; the rules:
 *   lexical   no leading '/', no empty or "." component (-EINVAL), no ".."
 *             component at all (-EXDEV), less than PATH_MAX bytes, each
 *             component at most NAME_MAX bytes;
 *   resolve   openat2(root, dir, O_PATH|O_DIRECTORY, RESOLVE_BENEATH |
 *             RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS), retried on
 *             EAGAIN; on kernels without openat2 (ENOSYS, remembered) or
 *             when loafre__repl_no_openat2 is set: a walk from the root, one
 *             component at a time, openat(O_PATH|O_DIRECTORY|O_NOFOLLOW),
 *             ".." refused (-EXDEV), a symlink component -ELOOP.
 * Its own file (no dependencies) so the fuzzer (tests/fuzz/fuzz_repl_path.c)
 * can check it alone.
 */
#include "repl_dest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int loafre__rel_check(const char *rel)
{
	size_t len;
	int r = 0;

	if (!rel)
		return -EINVAL;
	len = strlen(rel);
	if (len == 0 || len >= PATH_MAX || rel[0] == '/')
		return -EINVAL;
	for (const char *p = rel; *p;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EXDEV; /* never ".." (lexically), wherever it would lead */
		if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.'))
			r = -EINVAL;
		p += n;
		if (*p == '/') {
			p++;
			if (!*p)
				r = -EINVAL; /* trailing '/' */
		}
	}
	return r;
}

/* ---- path resolution ----------------------------------------------------------- */

bool loafre__repl_no_openat2;
static atomic_bool no_openat2_kernel; /* openat2 answered ENOSYS once */

/* The fallback: one component at a time, O_NOFOLLOW, ".." refused. */
static int walk_dir(int root, const char *p)
{
	int fd = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		char comp[NAME_MAX + 1];
		int nfd;

		if (n > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n + (slash ? 1 : 0);
		if (n == 0 || strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			close(fd);
			return -EXDEV;
		}
		nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			int e = errno;
			struct stat st;

			if ((e == ENOTDIR || e == ELOOP) &&
			    fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				e = ELOOP;
			close(fd);
			return -e;
		}
		close(fd);
		fd = nfd;
	}
	return fd;
}

int loafre__repl_open_dir(int root, const char *rel, size_t len)
{
	char buf[PATH_MAX];
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
	};

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	if (len == 0) {
		buf[0] = '.';
		buf[1] = '\0';
	} else {
		memcpy(buf, rel, len);
		buf[len] = '\0';
	}
	if (!loafre__repl_no_openat2 && !atomic_load(&no_openat2_kernel)) {
		for (int tries = 0; tries < 16; tries++) {
			long fd = syscall(SYS_openat2, root, buf, &how, sizeof(how));

			if (fd >= 0)
				return (int)fd;
			if (errno == EAGAIN || errno == EINTR)
				continue; /* a concurrent rename: RESOLVE_BENEATH retries */
			if (errno != ENOSYS)
				return -errno;
			atomic_store(&no_openat2_kernel, true);
			break;
		}
		if (!atomic_load(&no_openat2_kernel))
			return -EAGAIN;
	}
	return walk_dir(root, buf);
}

int loafre__repl_open_parent(int root, const char *rel, const char **ret_name)
{
	const char *slash = strrchr(rel, '/');

	*ret_name = slash ? slash + 1 : rel;
	return loafre__repl_open_dir(root, rel, slash ? (size_t)(slash - rel) : 0);
}
