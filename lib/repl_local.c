/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_local.c — a local destination (a directory of this machine): the
 * operations of lib/repl_dest.h on real files. No format of its own.
 *
 * Names it creates, only for the time of one operation, in the directory of
 * the entry being written: ".NAME.loafre.XXXXXX" (NAME cut to fit NAME_MAX;
 * XXXXXX random letters/digits). A regular file is first an O_TMPFILE (no
 * name at all) where the filesystem supports it, linked at that temporary
 * name once complete; then renameat(2) puts it at NAME, atomically. A
 * reader at the destination sees the old entry or the new, complete one
 * (except for files with several names: "Hard links" below).
 * A crash may leave a temporary name behind (never NAME itself half-made);
 * the initial sync and verify report it as extra.
 *
 * Attributes, applied in this order: xattrs, owner, mode, times.
 *   xattrs  user.* always; trusted.* when running as root; security.* best
 *           effort (failures ignored, never removed); system.* never (ACLs
 *           are left to the mode); not on symlinks and special files. A
 *           setattr also removes the user.* and trusted.* xattrs the source lacks.
 *   owner   uid/gid through the destination's maps; EPERM when not root is
 *           ignored (the files keep the worker's ids).
 *   mode    st_mode & 07777 (after chown, which clears setuid bits); not on
 *           symlinks.
 *   times   atime and mtime, nanoseconds (utimensat; symlinks too).
 * After an operation changed a directory's entries, the directory's times
 * are set again from its source (unless no_parent_times): a directory's
 * mtime at the destination then equals the source's once the operations
 * inside it are done.
 *
 * Copy: the source file is opened O_RDONLY|O_NOATIME (the source is never
 * modified, not even its atime), statted before and after the data is
 * copied; data ranges are found with SEEK_DATA/SEEK_HOLE (holes are left
 * unwritten: sparse stays sparse) and copied with copy_file_range(2),
 * falling back to pread/pwrite; the size is set with ftruncate. A source
 * whose size, mtime or ctime moved during the copy is copied again (up to
 * copy_retries times, then -EAGAIN); one unlinked meanwhile (st_nlink 0)
 * gives -ENOENT and nothing is written.
 *
 * Hard links: an update (loafre__dest_update: a write to the file the
 * destination entry is known to be) whose source has several names
 * (st_nlink > 1) and whose destination entry is a regular file with
 * several names is made IN PLACE: the data goes to the temporary file
 * first (so the source is read completely and checked as above), then the
 * destination's inode is
 * truncated and rewritten from it (holes kept) and gets the attributes
 * (xattrs made equal, owner, mode, times). Every destination name of that
 * inode then has the new content and attributes, as at the source, and
 * links stay links. The deviation: a reader at the destination may see
 * such a file empty or partly rewritten (rsync --inplace does the same for
 * the same reason), and a crash may leave it half-rewritten (its size or
 * mtime then differ from the source's: the initial sync makes it again).
 * Single-name files (and a destination file that cannot be opened for
 * writing) keep temporary + rename.
 */
#include "repl_dest.h"
#include "rule.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define COPY_BUF (256 * 1024)
#define XATTR_LIST_MAX_ (64 * 1024)
#define XATTR_VAL_MAX (64 * 1024)
#define TREE_DEPTH_MAX 2048

struct local {
	int root;    /* O_PATH|O_DIRECTORY on the destination root */
};

static int root_of(struct loafre__dest *d)
{
	return ((struct local *)d->priv)->root;
}

static int failf(char *why, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes "WHAT: strerror" into why; returns r. */
static int failf(char *why, int r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!why)
		return r;
	va_start(ap, fmt);
	n = vsnprintf(why, LOAFRE__DEST_WHY_MAX, fmt, ap);
	va_end(ap);
	if (n >= 0 && n < LOAFRE__DEST_WHY_MAX)
		snprintf(why + n, (size_t)(LOAFRE__DEST_WHY_MAX - n), ": %s", strerror(-r));
	return r;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A temporary name for NAME in its directory. */
static void make_tmpname(const char *name, char out[NAME_MAX + 1])
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[6];
	char suf[7];
	int keep = NAME_MAX - (int)strlen("..loafre.XXXXXX");

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = (uint64_t)getpid() ^ (uint64_t)(uintptr_t)out ^ (uint64_t)rand();
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(t >> (8 * i));
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		suf[i] = al[rnd[i] % (sizeof(al) - 1)];
	suf[6] = '\0';
	snprintf(out, NAME_MAX + 1, ".%.*s.loafre.%s", keep, name, suf);
}

static bool same_type(mode_t a, mode_t b)
{
	return (a & S_IFMT) == (b & S_IFMT);
}

/* ---- xattrs -------------------------------------------------------------------- */

enum xns { XNS_NO, XNS_YES, XNS_BEST };

static enum xns xattr_ns(const char *name)
{
	if (strncmp(name, "user.", 5) == 0)
		return XNS_YES;
	if (strncmp(name, "trusted.", 8) == 0)
		return geteuid() == 0 ? XNS_YES : XNS_NO;
	if (strncmp(name, "security.", 9) == 0)
		return XNS_BEST;
	return XNS_NO;
}

/* The xattr names of fd (NUL-separated), malloc'ed; *ret_len bytes. */
static int xattr_list(int fd, char **ret, ssize_t *ret_len)
{
	char *buf = NULL;
	ssize_t n;

	for (int tries = 0; tries < 4; tries++) {
		n = flistxattr(fd, NULL, 0);
		if (n < 0)
			return errno == ENOTSUP ? (*ret = NULL, *ret_len = 0, 0) : -errno;
		if (n > XATTR_LIST_MAX_)
			return -E2BIG;
		free(buf);
		buf = malloc((size_t)n + 1);
		if (!buf)
			return -ENOMEM;
		n = flistxattr(fd, buf, (size_t)n);
		if (n >= 0) {
			*ret = buf;
			*ret_len = n;
			return 0;
		}
		if (errno != ERANGE)
			break;
	}
	free(buf);
	return -errno;
}

static ssize_t xattr_get(int fd, const char *name, char *val)
{
	ssize_t n = fgetxattr(fd, name, val, XATTR_VAL_MAX);

	return n < 0 ? -errno : n;
}

/* Makes dfd's xattrs (of the namespaces replicated) those of sfd; with
 * remove, also removes those sfd lacks. */
static int xattr_sync(int sfd, int dfd, bool remove, const char *rel, char *why)
{
	char *sl = NULL, *dl = NULL, *sv = NULL, *dv = NULL;
	ssize_t sn = 0, dn = 0;
	int r;

	sv = malloc(XATTR_VAL_MAX);
	dv = malloc(XATTR_VAL_MAX);
	if (!sv || !dv) {
		r = failf(why, -ENOMEM, "cannot copy xattrs of '%s'", rel);
		goto out;
	}
	r = xattr_list(sfd, &sl, &sn);
	if (r < 0) {
		failf(why, r, "cannot list xattrs of source '%s'", rel);
		goto out;
	}
	for (char *n = sl; n && n < sl + sn; n += strlen(n) + 1) {
		enum xns ns = xattr_ns(n);
		ssize_t vl, dl_;

		if (ns == XNS_NO)
			continue;
		vl = xattr_get(sfd, n, sv);
		if (vl == -ENODATA)
			continue;
		if (vl < 0) {
			if (ns == XNS_BEST)
				continue;
			r = failf(why, (int)vl, "cannot read xattr %s of source '%s'", n, rel);
			goto out;
		}
		dl_ = xattr_get(dfd, n, dv);
		if (dl_ == vl && memcmp(sv, dv, (size_t)vl) == 0)
			continue;
		if (fsetxattr(dfd, n, sv, (size_t)vl, 0) < 0 && ns != XNS_BEST) {
			r = failf(why, -errno, "cannot set xattr %s of '%s'", n, rel);
			goto out;
		}
	}
	if (remove) {
		r = xattr_list(dfd, &dl, &dn);
		if (r < 0) {
			failf(why, r, "cannot list xattrs of '%s'", rel);
			goto out;
		}
		for (char *n = dl; n && n < dl + dn; n += strlen(n) + 1) {
			if (xattr_ns(n) != XNS_YES)
				continue;
			if (fgetxattr(sfd, n, NULL, 0) >= 0 || errno != ENODATA)
				continue;
			if (fremovexattr(dfd, n) < 0 && errno != ENODATA) {
				r = failf(why, -errno, "cannot remove xattr %s of '%s'", n, rel);
				goto out;
			}
		}
	}
	r = 0;
out:
	free(sl);
	free(dl);
	free(sv);
	free(dv);
	return r;
}

/* ---- attributes ------------------------------------------------------------------ */

static int do_chown_fd(struct loafre__dest *d, int fd, const struct stat *s, const char *rel,
		       char *why)
{
	uid_t u = loafre__idmap_map(d->o.uid_map, s->st_uid);
	gid_t g = loafre__idmap_map(d->o.gid_map, s->st_gid);

	if (fchown(fd, u, g) < 0 && !(errno == EPERM && geteuid() != 0))
		return failf(why, -errno, "cannot chown '%s'", rel);
	return 0;
}

/* Attributes of a regular file or directory through an open (not O_PATH)
 * fd; sfd the source's (xattrs; -1: none copied). */
static int apply_fd(struct loafre__dest *d, int sfd, int dfd, const struct stat *s, unsigned mask,
		    bool remove_xattrs, const char *rel, char *why)
{
	int r;

	if ((mask & LOAFRE__ATTR_XATTR) && sfd >= 0) {
		r = xattr_sync(sfd, dfd, remove_xattrs, rel, why);
		if (r < 0)
			return r;
	}
	if (mask & LOAFRE__ATTR_OWNER) {
		r = do_chown_fd(d, dfd, s, rel, why);
		if (r < 0)
			return r;
	}
	if ((mask & (LOAFRE__ATTR_MODE | LOAFRE__ATTR_OWNER)) && fchmod(dfd, s->st_mode & 07777) < 0)
		return failf(why, -errno, "cannot chmod '%s'", rel);
	if (mask & LOAFRE__ATTR_TIMES) {
		struct timespec ts[2] = { s->st_atim, s->st_mtim };

		if (futimens(dfd, ts) < 0)
			return failf(why, -errno, "cannot set times of '%s'", rel);
	}
	return 0;
}

/* Attributes of a symlink or special file at (dp, name): nothing is opened
 * but an O_PATH descriptor; the last component is never followed. */
static int apply_path(struct loafre__dest *d, int dp, const char *name, const struct stat *s,
		      unsigned mask, const char *rel, char *why)
{
	int r = 0;

	if (mask & LOAFRE__ATTR_OWNER) {
		uid_t u = loafre__idmap_map(d->o.uid_map, s->st_uid);
		gid_t g = loafre__idmap_map(d->o.gid_map, s->st_gid);

		if (fchownat(dp, name, u, g, AT_SYMLINK_NOFOLLOW) < 0 &&
		    !(errno == EPERM && geteuid() != 0))
			return failf(why, -errno, "cannot chown '%s'", rel);
	}
	if ((mask & (LOAFRE__ATTR_MODE | LOAFRE__ATTR_OWNER)) && !S_ISLNK(s->st_mode)) {
		int fd = openat(dp, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		char p[64];
		struct stat st;

		if (fd < 0)
			return failf(why, -errno, "cannot open '%s'", rel);
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		if (fstat(fd, &st) < 0)
			r = -errno;
		else if (S_ISLNK(st.st_mode))
			r = 0; /* replaced by a symlink meanwhile: never chmod through it */
		else if (chmod(p, s->st_mode & 07777) < 0)
			r = -errno;
		close(fd);
		if (r < 0)
			return failf(why, r, "cannot chmod '%s'", rel);
	}
	if (mask & LOAFRE__ATTR_TIMES) {
		struct timespec ts[2] = { s->st_atim, s->st_mtim };

		if (utimensat(dp, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return failf(why, -errno, "cannot set times of '%s'", rel);
	}
	return 0;
}

static int open_src_data(int sp, const char *name, int extra)
{
	int fd = openat(sp, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOATIME | O_CLOEXEC | extra);

	if (fd < 0 && errno == EPERM)
		fd = openat(sp, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | extra);
	return fd < 0 ? -errno : fd;
}

/* Applies the source (sp, sname, s)'s attributes to (dp, dname). */
static int apply_at(struct loafre__dest *d, int sp, const char *sname, const struct stat *s,
		    int dp, const char *dname, unsigned mask, const char *rel, char *why)
{
	int sfd = -1, dfd = -1, r;

	if (!S_ISREG(s->st_mode) && !S_ISDIR(s->st_mode))
		return apply_path(d, dp, dname, s, mask, rel, why);
	if (mask & LOAFRE__ATTR_XATTR) {
		sfd = open_src_data(sp, sname, 0);
		if (sfd < 0) {
			r = failf(why, sfd, "cannot open source '%s'", rel);
			goto out;
		}
	}
	dfd = openat(dp, dname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (dfd < 0) {
		r = failf(why, -errno, "cannot open '%s'", rel);
		goto out;
	}
	r = apply_fd(d, sfd, dfd, s, mask, true, rel, why);
out:
	close_fd(&sfd);
	close_fd(&dfd);
	return r;
}

/* Sets the times of destination directory `dir` (len bytes of rel; "" the
 * root) from the source's. Best effort: the source may be gone. */
static void dir_times(struct loafre__dest *d, int src_root, const char *rel, size_t len)
{
	int s = loafre__repl_open_dir(src_root, rel, len), t = -1, f = -1;
	struct stat st;

	if (s < 0)
		return;
	t = loafre__repl_open_dir(root_of(d), rel, len);
	if (t < 0 || fstat(s, &st) < 0)
		goto out;
	f = openat(t, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f >= 0) {
		struct timespec ts[2] = { st.st_atim, st.st_mtim };

		(void)futimens(f, ts);
	}
out:
	close_fd(&s);
	close_fd(&t);
	close_fd(&f);
}

_Thread_local bool loafre__repl_tl_sync;

static void parent_times(struct loafre__dest *d, int src_root, const char *rel)
{
	const char *slash = strrchr(rel, '/');

	if (d->o.no_parent_times || loafre__repl_tl_sync)
		return;
	dir_times(d, src_root, rel, slash ? (size_t)(slash - rel) : 0);
}

/* ---- parents ---------------------------------------------------------------------- */

/* Creates the missing directories above rel, each with its source's
 * attributes; then sets the times of those created and of the one above. */
static int ensure_parents(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	const char *slash = strrchr(rel, '/');
	size_t plen = slash ? (size_t)(slash - rel) : 0, first = SIZE_MAX;
	int fd, r = 0;

	if (plen == 0)
		return 0;
	fd = loafre__repl_open_dir(root_of(d), rel, plen);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (fd != -ENOENT && fd != -ENOTDIR)
		return failf(why, fd, "cannot open the directory of '%s'", rel);
	/* Walk down from the top: create each missing component, and replace
	 * a non-directory where the source has a directory now (a file
	 * replaced by a directory whose records another worker thread has not
	 * applied yet: its old entry is stale; a pending rename of it finds
	 * its old name gone and copies from the source). */
	for (size_t i = 0; i <= plen; i++) {
		const char *name;
		int sp = -1, dp = -1, nfd;
		struct stat st;
		char comp[PATH_MAX];

		if (i < plen && rel[i] != '/')
			continue;
		memcpy(comp, rel, i);
		comp[i] = '\0';
		nfd = loafre__repl_open_dir(root_of(d), comp, i);
		if (nfd >= 0) {
			close(nfd);
			continue;
		}
		if (nfd != -ENOENT && nfd != -ENOTDIR)
			return failf(why, nfd, "cannot open destination directory '%s'", comp);
		sp = loafre__repl_open_parent(src_root, comp, &name);
		if (sp < 0)
			return failf(why, sp, "cannot open the source directory of '%s'", comp);
		if (fstatat(sp, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
			close(sp);
			return failf(why, -ENOENT, "source directory '%s' is gone", comp);
		}
		dp = loafre__repl_open_parent(root_of(d), comp, &name);
		if (dp < 0) {
			close(sp);
			return failf(why, dp, "cannot open the directory of '%s'", comp);
		}
		if (nfd == -ENOTDIR && unlinkat(dp, name, 0) < 0 && errno != ENOENT) {
			r = failf(why, -errno, "cannot replace '%s' by a directory", comp);
		} else if (mkdirat(dp, name, 0700) < 0 && errno != EEXIST) {
			r = failf(why, -errno, "cannot create directory '%s'", comp);
		} else {
			if (first == SIZE_MAX)
				first = i;
			r = apply_at(d, sp, name, &st, dp, name,
				     LOAFRE__ATTR_MODE | LOAFRE__ATTR_OWNER | LOAFRE__ATTR_XATTR,
				     comp, why);
		}
		close(sp);
		close(dp);
		if (r < 0)
			return r;
	}
	/* Times, deepest first, then the existing directory above the first. */
	for (size_t i = plen + 1; first != SIZE_MAX && i-- > 0;) {
		if (i != 0 && i < plen && rel[i] != '/')
			continue;
		if (i >= first) {
			dir_times(d, src_root, rel, i);
		} else {
			if (!d->o.no_parent_times)
				dir_times(d, src_root, rel, i);
			break;
		}
	}
	return 0;
}

/* ---- removal ----------------------------------------------------------------------- */

/* Removes (dirfd, name) and its tree; entries opts.protect keeps stay, and
 * then -ENOTEMPTY. rel names it for protect (NULL: protect not asked). */
static int remove_tree(struct loafre__dest *d, int dirfd, const char *name, const char *rel,
		       unsigned depth)
{
	bool kept = false;
	int r = 0;

	if (depth > TREE_DEPTH_MAX)
		return -ELOOP;
	for (int pass = 0; pass < 3; pass++) {
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *dir;
		struct dirent *de;

		if (fd < 0) {
			if (errno == ENOTDIR || errno == ELOOP)
				return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
			return errno == ENOENT ? 0 : -errno;
		}
		dir = fdopendir(fd);
		if (!dir) {
			r = -errno;
			close(fd);
			return r;
		}
		while ((de = readdir(dir))) {
			char *crel = NULL;
			bool isdir;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			isdir = de->d_type == DT_DIR;
			if (de->d_type == DT_UNKNOWN) {
				struct stat st;

				isdir = fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
					S_ISDIR(st.st_mode);
			}
			if (rel && d->o.protect) {
				if (asprintf(&crel, "%s/%s", rel, de->d_name) < 0) {
					r = -ENOMEM;
					break;
				}
				if (d->o.protect(d->o.protect_arg, crel, isdir)) {
					kept = true;
					free(crel);
					continue;
				}
			}
			if (isdir)
				r = remove_tree(d, fd, de->d_name, crel, depth + 1);
			else
				r = unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT ? -errno : 0;
			free(crel);
			if (r == -ENOTEMPTY) {
				kept = true;
				r = 0;
			}
			if (r < 0)
				break;
		}
		closedir(dir);
		if (r < 0)
			return r;
		if (kept)
			return -ENOTEMPTY;
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != ENOTEMPTY && errno != EEXIST)
			return -errno;
	}
	return -ENOTEMPTY;
}

/* rename(2) that replaces whatever is at (np, nname), directories too. */
static int rename_over(struct loafre__dest *d, int op, const char *oname, int np,
		       const char *nname)
{
	if (renameat(op, oname, np, nname) == 0)
		return 0;
	if (errno != EISDIR && errno != ENOTEMPTY && errno != ENOTDIR && errno != EEXIST)
		return -errno;
	{
		int r = remove_tree(d, np, nname, NULL, 0);

		if (r < 0)
			return r;
	}
	return renameat(op, oname, np, nname) < 0 ? -errno : 0;
}

/* ---- opening and naming ------------------------------------------------------------ */

/* Opens the source parent of rel and stats rel (not followed). */
static int src_stat(int src_root, const char *rel, int *ret_sp, const char **ret_name,
		    struct stat *st, char *why)
{
	int sp = loafre__repl_open_parent(src_root, rel, ret_name);

	if (sp < 0)
		return failf(why, sp, "cannot open the source directory of '%s'", rel);
	if (fstatat(sp, *ret_name, st, AT_SYMLINK_NOFOLLOW) < 0) {
		int r = -errno;

		close(sp);
		return failf(why, r, "cannot stat source '%s'", rel);
	}
	*ret_sp = sp;
	return 0;
}

/* Opens the destination directory of rel: the fd (*ret_name rel's last
 * component) or a negative errno with why written. */
static int dest_parent(struct loafre__dest *d, const char *rel, const char **ret_name, char *why)
{
	int dp = loafre__repl_open_parent(root_of(d), rel, ret_name);

	return dp < 0 ? failf(why, dp, "cannot open the directory of '%s'", rel) : dp;
}

/* dest_parent() once the missing directories above rel are created. */
static int ensure_dest_parent(struct loafre__dest *d, int src_root, const char *rel,
			      const char **ret_name, char *why)
{
	int r = ensure_parents(d, src_root, rel, why);

	return r < 0 ? r : dest_parent(d, rel, ret_name, why);
}

/* Makes an entry at a fresh temporary name for name in dp (tmpname; ""
 * on failure) with make(dp, tmpname, arg) (0, or -1 and errno); a name
 * taken meanwhile (EEXIST) is tried again, 101 names at most. Returns 0 or
 * a negative errno. */
static int make_at_tmpname(int dp, const char *name, char tmpname[NAME_MAX + 1],
			   int (*make)(int dp, const char *tmpname, void *arg), void *arg)
{
	for (int i = 0;; i++) {
		int r;

		make_tmpname(name, tmpname);
		if (make(dp, tmpname, arg) == 0)
			return 0;
		r = -errno;
		tmpname[0] = '\0';
		if (r != -EEXIST || i == 100)
			return r;
	}
}

/* ---- copy ---------------------------------------------------------------------------- */

static int copy_range(int sfd, int tfd, off_t off, off_t len, char **buf, bool *no_cfr,
		      uint64_t *bytes)
{
	off_t in = off, out = off, end = off + len;

	while (in < end) {
		if (!*no_cfr) {
			ssize_t n = copy_file_range(sfd, &in, tfd, &out, (size_t)(end - in), 0);

			if (n > 0) {
				*bytes += (uint64_t)n;
				continue;
			}
			if (n == 0)
				return 0; /* the source shrank: the post-check sees it */
			if (errno == EINTR)
				continue;
			if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
			    errno != EOPNOTSUPP && errno != EBADF && errno != ETXTBSY)
				return -errno;
			*no_cfr = true;
		}
		if (!*buf) {
			*buf = malloc(COPY_BUF);
			if (!*buf)
				return -ENOMEM;
		}
		{
			size_t want = (size_t)(end - in) < COPY_BUF ? (size_t)(end - in) : COPY_BUF;
			ssize_t n = pread(sfd, *buf, want, in);
			ssize_t w = 0;

			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (n == 0)
				return 0;
			while (w < n) {
				ssize_t k = pwrite(tfd, *buf + w, (size_t)(n - w), out + w);

				if (k < 0) {
					if (errno == EINTR)
						continue;
					return -errno;
				}
				w += k;
			}
			in += n;
			out += n;
			*bytes += (uint64_t)n;
		}
	}
	return 0;
}

/* Copies sfd's data ranges into tfd and sets its size. */
static int copy_data(int sfd, int tfd, uint64_t *bytes)
{
	char *buf = NULL;
	bool no_cfr = false;
	off_t off = 0;
	struct stat st;
	int r = 0;

	for (;;) {
		off_t data = lseek(sfd, off, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO)
				break;
			if (errno != EINVAL && errno != EOPNOTSUPP) {
				r = -errno;
				goto out;
			}
			data = off; /* no SEEK_DATA: everything is data */
			hole = fstat(sfd, &st) == 0 ? st.st_size : off;
		} else {
			hole = lseek(sfd, data, SEEK_HOLE);
			if (hole < 0) {
				r = -errno;
				goto out;
			}
		}
		if (hole <= data)
			break;
		r = copy_range(sfd, tfd, data, hole - data, &buf, &no_cfr, bytes);
		if (r < 0)
			goto out;
		off = hole;
	}
	if (fstat(sfd, &st) < 0 || ftruncate(tfd, st.st_size) < 0)
		r = -errno;
out:
	free(buf);
	return r;
}

static bool changed(const struct stat *a, const struct stat *b)
{
	return a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec || a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	       a->st_ctim.tv_nsec != b->st_ctim.tv_nsec || a->st_ino != b->st_ino;
}

/* A temporary file in dp: O_TMPFILE (tmpname "") or a named one. */
static int make_tmpfile(int dp, const char *name, char tmpname[NAME_MAX + 1])
{
	int fd = openat(dp, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	tmpname[0] = '\0';
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
		return -errno;
	for (int i = 0; i < 100; i++) {
		make_tmpname(name, tmpname);
		fd = openat(dp, tmpname, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			break;
	}
	tmpname[0] = '\0';
	return -errno;
}

static void drop_tmpfile(int dp, int *tfd, char tmpname[NAME_MAX + 1])
{
	close_fd(tfd);
	if (tmpname[0])
		unlinkat(dp, tmpname, 0);
	tmpname[0] = '\0';
}

/* Gives an O_TMPFILE a temporary name in dp. */
static int link_tmpfile(int tfd, int dp, const char *name, char tmpname[NAME_MAX + 1])
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", tfd);
	for (int i = 0; i < 100; i++) {
		make_tmpname(name, tmpname);
		if (linkat(tfd, "", dp, tmpname, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno == ENOENT || errno == EPERM) {
			if (linkat(AT_FDCWD, p, dp, tmpname, AT_SYMLINK_FOLLOW) == 0)
				return 0;
		}
		if (errno != EEXIST)
			break;
	}
	tmpname[0] = '\0';
	return -errno;
}

/* The destination file (dp, name) opened for writing when it is to be
 * rewritten in place: a regular file with several names (st_nlink > 1);
 * -1 otherwise (also when it cannot be opened for writing, e.g. mode 0444
 * without root, or an executable running: then it is replaced). */
static int open_inplace(int dp, const char *name)
{
	struct stat st;
	int fd;

	if (fstatat(dp, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_nlink < 2)
		return -1;
	fd = openat(dp, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink < 2) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Rewrites dfd (an existing destination file) with the data of the
 * complete temporary file tfd, then the source's attributes: every name of
 * dfd's inode sees them. */
static int rewrite_inplace(struct loafre__dest *d, int sfd, int tfd, int dfd,
			   const struct stat *s, const char *rel, char *why)
{
	uint64_t ignored = 0;
	int r;

	/* emptied first: the temporary's holes stay holes */
	if (ftruncate(dfd, 0) < 0)
		return failf(why, -errno, "cannot truncate '%s'", rel);
	r = copy_data(tfd, dfd, &ignored);
	if (r < 0)
		return failf(why, r, "cannot rewrite the data of '%s'", rel);
	r = apply_fd(d, sfd, dfd, s, LOAFRE__ATTR_ALL, true, rel, why);
	if (r < 0)
		return r;
	if (d->o.fsync && fsync(dfd) < 0)
		return failf(why, -errno, "cannot fsync '%s'", rel);
	return 0;
}

/* loafre__dest_copy (update false) and loafre__dest_update (true). */
static int copy_file(struct loafre__dest *d, int src_root, const char *rel, bool update,
		     char *why)
{
	const char *name;
	int sp = -1, sfd = -1, dp = -1, tfd = -1, dfd = -1, r;
	char tmpname[NAME_MAX + 1] = "";
	struct stat before, after;
	uint64_t bytes = 0;

	r = src_stat(src_root, rel, &sp, &name, &before, why);
	if (r < 0)
		goto out;
	if (!S_ISREG(before.st_mode)) {
		r = failf(why, -EINVAL, "source '%s' is not a regular file", rel);
		goto out;
	}
	sfd = open_src_data(sp, name, 0);
	if (sfd < 0) {
		r = failf(why, sfd == -ELOOP ? -EINVAL : sfd, "cannot open source '%s'", rel);
		goto out;
	}
	dp = ensure_dest_parent(d, src_root, rel, &name, why);
	if (dp < 0) {
		r = dp;
		goto out;
	}
	for (unsigned attempt = 0;; attempt++) {
		if (fstat(sfd, &before) < 0 || !S_ISREG(before.st_mode)) {
			r = failf(why, -EINVAL, "cannot stat source '%s'", rel);
			goto out;
		}
		tfd = make_tmpfile(dp, name, tmpname);
		if (tfd < 0) {
			r = failf(why, tfd, "cannot create a temporary file for '%s'", rel);
			goto out;
		}
		bytes = 0;
		r = copy_data(sfd, tfd, &bytes);
		if (r < 0) {
			failf(why, r, "cannot copy the data of '%s'", rel);
			goto out;
		}
		if (d->o.after_data)
			d->o.after_data(d->o.after_data_arg, rel);
		if (fstat(sfd, &after) < 0) {
			r = failf(why, -errno, "cannot stat source '%s'", rel);
			goto out;
		}
		if (after.st_nlink == 0) {
			r = failf(why, -ENOENT, "source '%s' was removed during the copy", rel);
			goto out;
		}
		if (!changed(&before, &after))
			break;
		drop_tmpfile(dp, &tfd, tmpname);
		atomic_fetch_add(&d->retries, 1);
		if (attempt >= d->o.copy_retries) {
			r = failf(why, -EAGAIN, "source '%s' kept changing during the copy", rel);
			goto out;
		}
	}
	/* a file with several names at the source and at the destination: the
	 * destination's inode rewritten, so that all its names follow */
	if (update && before.st_nlink > 1 && (dfd = open_inplace(dp, name)) >= 0) {
		r = rewrite_inplace(d, sfd, tfd, dfd, &before, rel, why);
		if (r < 0)
			goto out;
		atomic_fetch_add(&d->bytes, bytes);
		parent_times(d, src_root, rel); /* a named temporary came and went */
		goto out;
	}
	r = apply_fd(d, sfd, tfd, &before, LOAFRE__ATTR_ALL, false, rel, why);
	if (r < 0)
		goto out;
	if (d->o.fsync && fsync(tfd) < 0) {
		r = failf(why, -errno, "cannot fsync '%s'", rel);
		goto out;
	}
	if (!tmpname[0]) {
		r = link_tmpfile(tfd, dp, name, tmpname);
		if (r < 0) {
			failf(why, r, "cannot link the temporary file of '%s'", rel);
			goto out;
		}
	}
	r = rename_over(d, dp, tmpname, dp, name);
	if (r < 0) {
		failf(why, r, "cannot rename the temporary file into '%s'", rel);
		goto out;
	}
	tmpname[0] = '\0';
	atomic_fetch_add(&d->bytes, bytes);
	parent_times(d, src_root, rel);
out:
	if (dp >= 0)
		drop_tmpfile(dp, &tfd, tmpname);
	close_fd(&tfd);
	close_fd(&dfd);
	close_fd(&sfd);
	close_fd(&sp);
	close_fd(&dp);
	return r;
}

static int local_copy(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return copy_file(d, src_root, rel, false, why);
}

static int local_update(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return copy_file(d, src_root, rel, true, why);
}

/* ---- the other operations ----------------------------------------------------------- */

static int local_mkdir(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	const char *sname, *name;
	int sp = -1, dp = -1, r;
	struct stat st, dst;

	r = src_stat(src_root, rel, &sp, &sname, &st, why);
	if (r < 0)
		goto out;
	if (!S_ISDIR(st.st_mode)) {
		r = failf(why, -ENOTDIR, "source '%s' is not a directory", rel);
		goto out;
	}
	dp = ensure_dest_parent(d, src_root, rel, &name, why);
	if (dp < 0) {
		r = dp;
		goto out;
	}
	if (mkdirat(dp, name, 0700) < 0) {
		r = -errno;
		if (r == -EEXIST && fstatat(dp, name, &dst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(dst.st_mode)) {
			if (unlinkat(dp, name, 0) < 0 || mkdirat(dp, name, 0700) < 0)
				r = -errno;
			else
				r = 0;
		} else if (r == -EEXIST) {
			r = 0;
		}
		if (r < 0) {
			failf(why, r, "cannot create directory '%s'", rel);
			goto out;
		}
	}
	r = apply_at(d, sp, sname, &st, dp, name, LOAFRE__ATTR_ALL, rel, why);
	if (r < 0)
		goto out;
	parent_times(d, src_root, rel);
out:
	close_fd(&sp);
	close_fd(&dp);
	return r;
}

/* What make_special_at() creates: a symlink to target, or (target NULL) a
 * special file of st's type and device. */
struct special {
	const char *target;    /* the symlink's target; NULL: a special file */
	const struct stat *st; /* the source's stat (type, st_rdev) */
};

static int make_special_at(int dp, const char *tmpname, void *arg)
{
	const struct special *s = arg;

	if (s->target)
		return symlinkat(s->target, dp, tmpname);
	return mknodat(dp, tmpname, (s->st->st_mode & S_IFMT) | 0600, s->st->st_rdev);
}

/* Creates a symlink or special file like the source's under a temporary
 * name, applies its attributes, renames it into place. */
static int make_special(struct loafre__dest *d, int src_root, const char *rel, bool symlink,
			char *why)
{
	const char *sname, *name;
	int sp = -1, dp = -1, r;
	struct stat st;
	char tmpname[NAME_MAX + 1] = "", *target = NULL;
	struct special sp_make;

	r = src_stat(src_root, rel, &sp, &sname, &st, why);
	if (r < 0)
		goto out;
	if (symlink != !!S_ISLNK(st.st_mode) || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		r = failf(why, -EINVAL, "source '%s' is not a %s", rel,
			  symlink ? "symlink" : "special file");
		goto out;
	}
	if (symlink) {
		ssize_t n;

		target = malloc(PATH_MAX + 1);
		if (!target) {
			r = failf(why, -ENOMEM, "cannot read symlink '%s'", rel);
			goto out;
		}
		n = readlinkat(sp, sname, target, PATH_MAX + 1);
		if (n < 0 || n > PATH_MAX) {
			r = failf(why, n < 0 ? -errno : -ENAMETOOLONG, "cannot read symlink '%s'", rel);
			goto out;
		}
		target[n] = '\0';
	}
	dp = ensure_dest_parent(d, src_root, rel, &name, why);
	if (dp < 0) {
		r = dp;
		goto out;
	}
	sp_make.target = target;
	sp_make.st = &st;
	r = make_at_tmpname(dp, name, tmpname, make_special_at, &sp_make);
	if (r < 0) {
		failf(why, r, "cannot create '%s'", rel);
		goto out;
	}
	r = apply_path(d, dp, tmpname, &st, LOAFRE__ATTR_ALL, rel, why);
	if (r < 0)
		goto out;
	r = rename_over(d, dp, tmpname, dp, name);
	if (r < 0) {
		failf(why, r, "cannot rename into '%s'", rel);
		goto out;
	}
	tmpname[0] = '\0';
	parent_times(d, src_root, rel);
out:
	if (tmpname[0])
		unlinkat(dp, tmpname, 0);
	free(target);
	close_fd(&sp);
	close_fd(&dp);
	return r;
}

static int local_symlink(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return make_special(d, src_root, rel, true, why);
}

static int local_mknod(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return make_special(d, src_root, rel, false, why);
}

/* What link_at() links: (dirfd, name), a destination entry. */
struct link_src {
	int dirfd;        /* its directory */
	const char *name; /* its name there */
};

static int link_at(int dp, const char *tmpname, void *arg)
{
	const struct link_src *l = arg;

	return linkat(l->dirfd, l->name, dp, tmpname, 0);
}

static int local_link(struct loafre__dest *d, int src_root, const char *old_rel,
		      const char *new_rel, char *why)
{
	const char *oname, *nname;
	int op = -1, np = -1, r;
	struct stat ost, nst;
	char tmpname[NAME_MAX + 1] = "";

	op = dest_parent(d, old_rel, &oname, why);
	if (op < 0) {
		r = op;
		goto out;
	}
	if (fstatat(op, oname, &ost, AT_SYMLINK_NOFOLLOW) < 0) {
		r = failf(why, -errno, "cannot link '%s' (to '%s')", old_rel, new_rel);
		goto out;
	}
	if (S_ISDIR(ost.st_mode)) {
		r = failf(why, -EPERM, "cannot link directory '%s'", old_rel);
		goto out;
	}
	np = ensure_dest_parent(d, src_root, new_rel, &nname, why);
	if (np < 0) {
		r = np;
		goto out;
	}
	if (fstatat(np, nname, &nst, AT_SYMLINK_NOFOLLOW) == 0 && nst.st_dev == ost.st_dev &&
	    nst.st_ino == ost.st_ino) {
		r = 0; /* already one file */
		goto out;
	}
	r = make_at_tmpname(np, nname, tmpname, link_at, &(struct link_src){ op, oname });
	if (r < 0) {
		failf(why, r, "cannot link '%s' to '%s'", old_rel, new_rel);
		goto out;
	}
	r = rename_over(d, np, tmpname, np, nname);
	if (r < 0) {
		failf(why, r, "cannot rename a link into '%s'", new_rel);
		goto out;
	}
	tmpname[0] = '\0';
	parent_times(d, src_root, new_rel);
out:
	if (tmpname[0])
		unlinkat(np, tmpname, 0);
	close_fd(&op);
	close_fd(&np);
	return r;
}

static int local_rename(struct loafre__dest *d, int src_root, const char *old_rel,
			const char *new_rel, char *why)
{
	const char *oname, *nname;
	int op = -1, np = -1, r;
	struct stat ost;

	op = dest_parent(d, old_rel, &oname, why);
	if (op < 0) {
		r = op;
		goto out;
	}
	if (fstatat(op, oname, &ost, AT_SYMLINK_NOFOLLOW) < 0) {
		r = failf(why, -errno, "cannot rename '%s' to '%s'", old_rel, new_rel);
		goto out;
	}
	np = ensure_dest_parent(d, src_root, new_rel, &nname, why);
	if (np < 0) {
		r = np;
		goto out;
	}
	r = rename_over(d, op, oname, np, nname);
	if (r < 0) {
		failf(why, r, "cannot rename '%s' to '%s'", old_rel, new_rel);
		goto out;
	}
	if (!S_ISDIR(ost.st_mode) && ost.st_nlink > 1 && strcmp(old_rel, new_rel) != 0) {
		/* two names of one inode: rename(2) did nothing and left both */
		struct stat now;

		if (fstatat(op, oname, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == ost.st_ino &&
		    now.st_dev == ost.st_dev && unlinkat(op, oname, 0) < 0 && errno != ENOENT) {
			r = failf(why, -errno, "cannot remove '%s' (renamed onto '%s')", old_rel,
				  new_rel);
			goto out;
		}
	}
	parent_times(d, src_root, old_rel);
	parent_times(d, src_root, new_rel);
out:
	close_fd(&op);
	close_fd(&np);
	return r;
}

static int local_remove(struct loafre__dest *d, int src_root, const char *rel, bool dir,
			char *why)
{
	const char *name;
	int dp, r;
	struct stat st;

	dp = loafre__repl_open_parent(root_of(d), rel, &name);
	if (dp < 0) {
		if (dp == -ENOENT)
			return 0;
		return failf(why, dp, "cannot open the directory of '%s'", rel);
	}
	if (fstatat(dp, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno == ENOENT ? 0 : failf(why, -errno, "cannot stat '%s'", rel);
		goto out;
	}
	if (!S_ISDIR(st.st_mode))
		r = unlinkat(dp, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	else if (unlinkat(dp, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		r = 0;
	else if (errno == ENOTEMPTY || errno == EEXIST)
		r = remove_tree(d, dp, name, rel, 0);
	else
		r = -errno;
	if (r < 0) {
		failf(why, r, r == -ENOTEMPTY ? "cannot remove '%s' (protected entries stay)"
					       : "cannot remove '%s'", rel);
		goto out;
	}
	(void)dir;
	parent_times(d, src_root, rel);
out:
	close(dp);
	return r;
}

static int local_unlink(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return local_remove(d, src_root, rel, false, why);
}

static int local_rmdir(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return local_remove(d, src_root, rel, true, why);
}

/* The attributes in mask of source entry src_rel ("" the root) applied to
 * destination rel (the same path, or where the destination still has the
 * object the source has moved on). Types that differ: the entry is made
 * anew at the same path, -ESTALE at another. */
static int setattr_at(struct loafre__dest *d, int src_root, const char *src_rel, const char *rel,
		      unsigned mask, char *why)
{
	bool same_path = strcmp(src_rel, rel) == 0;
	const char *sname, *name;
	int sp = -1, dp = -1, r;
	struct stat st, dst;

	if (!rel[0] || !src_rel[0]) {
		if (!same_path)
			return failf(why, -EINVAL, "cannot set the attributes of the root from elsewhere");
		/* The root itself. */
		sname = name = ".";
		sp = loafre__repl_open_dir(src_root, "", 0);
		dp = loafre__repl_open_dir(root_of(d), "", 0);
		if (sp < 0 || dp < 0 || fstat(sp, &st) < 0) {
			r = failf(why, sp < 0 ? sp : dp < 0 ? dp : -errno, "cannot open the roots");
			goto out;
		}
	} else {
		r = src_stat(src_root, src_rel, &sp, &sname, &st, why);
		if (r < 0)
			goto out;
		dp = dest_parent(d, rel, &name, why);
		if (dp < 0) {
			r = dp;
			goto out;
		}
	}
	if (fstatat(dp, name, &dst, AT_SYMLINK_NOFOLLOW) < 0) {
		r = failf(why, -errno, "cannot stat '%s'", rel);
		goto out;
	}
	if (!same_type(st.st_mode, dst.st_mode)) {
		if (!same_path) {
			r = failf(why, -ESTALE, "'%s' is not what the source has at '%s'", rel,
				  src_rel);
			goto out;
		}
		close_fd(&sp);
		close_fd(&dp);
		return loafre__dest_sync_entry(d, src_root, rel, why);
	}
	r = apply_at(d, sp, sname, &st, dp, name, mask, rel, why);
out:
	close_fd(&sp);
	close_fd(&dp);
	return r;
}

static int local_setattr(struct loafre__dest *d, int src_root, const char *rel, unsigned mask,
			 char *why)
{
	return setattr_at(d, src_root, rel, rel, mask, why);
}

static int local_setattr_from(struct loafre__dest *d, int src_root, const char *src_rel,
			      const char *rel, unsigned mask, char *why)
{
	return setattr_at(d, src_root, src_rel, rel, mask, why);
}

static int local_lstat(struct loafre__dest *d, const char *rel, struct stat *st)
{
	const char *name;
	int dp = loafre__repl_open_parent(root_of(d), rel, &name), r;

	if (dp < 0)
		return dp;
	r = fstatat(dp, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	close(dp);
	return r;
}

static int local_list(struct loafre__dest *d, const char *rel,
		      int (*fn)(void *arg, const char *name), void *arg)
{
	int p = loafre__repl_open_dir(root_of(d), rel, strlen(rel)), fd, r = 0;
	DIR *dir;
	struct dirent *de;

	if (p < 0)
		return p;
	fd = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(p);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = fn(arg, de->d_name);
		if (r)
			break;
	}
	closedir(dir);
	return r;
}

static void local_close(struct loafre__dest *d)
{
	struct local *l = d->priv;

	if (!l)
		return;
	close_fd(&l->root);
	free(l);
}

static const struct loafre__dest_ops local_ops = {
	.type = "local",
	.copy = local_copy,
	.update = local_update,
	.mkdir = local_mkdir,
	.symlink = local_symlink,
	.mknod = local_mknod,
	.link = local_link,
	.rename = local_rename,
	.unlink = local_unlink,
	.rmdir = local_rmdir,
	.setattr = local_setattr,
	.setattr_from = local_setattr_from,
	.lstat = local_lstat,
	.list = local_list,
	.close = local_close,
};

int loafre__dest_open_local(const char *root, const struct loafre__dest_opts *opts,
			    struct loafre__dest **ret)
{
	struct local *l;
	int r;

	if (!root || root[0] != '/')
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->root = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (l->root < 0) {
		r = -errno;
		free(l);
		return r;
	}
	r = loafre__dest_new(&local_ops, l, opts, ret);
	if (r < 0) {
		close(l->root);
		free(l);
	}
	return r;
}
