/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_verify.c — compares a source tree with its replica (lib/repl_dest.h,
 * `loafre verify`). No format of its own; what is compared, per name
 * present on either side (both sides listed, names merged in byte order,
 * depth first; the roots are compared as ".", then their trees):
 *   existence     MISSING (source only; its tree is not descended),
 *                 EXTRA (destination only)
 *   type          TYPE (then nothing else of that name, not descended)
 *   size          regular files
 *   mode          st_mode & 07777, not for symlinks
 *   owner         uid:gid, the source's through the maps
 *   mtime         nanoseconds, every type (symlinks and directories too)
 *   symlink       the targets
 *   rdev          character and block devices
 *   xattr         user.* and trusted.* of regular files and directories
 *                 (security.* and system.* are not replicated: not compared)
 *   content       with checksum, regular files of equal size: XXH3 128-bit
 *                 of the whole data, streamed 256 KiB at a time
 *   links         after the walk: regular files with several links on
 *                 either side, grouped by source inode and by destination
 *                 inode: names one file at the source but not at the
 *                 destination ("split"), and the reverse ("joined").
 * Entries the filter rejects are skipped on both sides (their trees too).
 * A directory at the destination only that holds such entries (somewhere
 * in its tree) is what deletions keep ("deletes honour excludes": the
 * directory stays for the protected entries), so it is not EXTRA itself:
 * its entries are, except the filtered ones and the directories holding
 * them again.
 * Nothing is followed: both sides are read with *at(..., NOFOLLOW) calls
 * relative to directory descriptors opened O_NOFOLLOW.
 */
#include "repl_dest.h"
#include "repl_type.h"
#include "rule.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#define HASH_BUF (256 * 1024)
#define XLIST_MAX (64 * 1024)
#define XVAL_MAX (64 * 1024)
#define DEPTH_MAX 4096

static const char *const vd_names[LOAFRE__VD_N] = {
	"missing", "extra", "type", "size", "mode", "owner", "mtime",
	"symlink", "rdev", "xattr", "content", "links", "error",
};

const char *loafre__vdiff_name(enum loafre__vdiff k)
{
	return (unsigned)k < LOAFRE__VD_N ? vd_names[k] : "?";
}

/* A regular file with several links on one side. */
struct lrec {
	dev_t sdev;    /* source device */
	ino_t sino;    /* source inode */
	ino_t dino;    /* destination inode */
	bool smulti;   /* st_nlink > 1 at the source */
	bool dmulti;   /* st_nlink > 1 at the destination */
	char *rel;     /* the name (owned) */
};

struct vctx {
	const struct loafre__verify_opts *o;   /* options */
	void (*fn)(void *, const struct loafre__vdiff_rec *); /* report */
	void *arg;                             /* fn's argument */
	struct loafre__verify_result res;      /* counts */
	struct lrec *links;                    /* multi-link files */
	size_t nlinks, caplinks;               /* used, room */
	char *buf;                             /* hash / xattr buffer */
	char *buf2;                            /* the other side's */
	int fatal;                             /* -ENOMEM */
};

static void report(struct vctx *v, enum loafre__vdiff k, const char *path, const char *path2,
		   const char *src, const char *dst, const char *detail)
{
	struct loafre__vdiff_rec r = { k, path, path2, src, dst, detail };

	if (k == LOAFRE__VD_ERROR)
		v->res.errors++;
	else
		v->res.diffs++;
	if (v->fn)
		v->fn(v->arg, &r);
}

static void report_err(struct vctx *v, const char *path, const char *what, int err)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
	report(v, LOAFRE__VD_ERROR, path, NULL, NULL, NULL, msg);
}

const char *loafre__repl_type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "character-device";
	case S_IFBLK: return "block-device";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of directory fd, sorted; *ret NULL-free array of n owned names. */
static int list_dir(int fd, char ***ret, size_t *ret_n)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (dfd < 0)
		return -errno;
	dir = fdopendir(dfd);
	if (!dir) {
		r = -errno;
		close(dfd);
		return r;
	}
	errno = 0;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **p = realloc(names, nc * sizeof(*p));

			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			names = p;
			cap = nc;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (errno)
		r = -errno;
out:
	closedir(dir);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	*ret = names;
	*ret_n = n;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* XXH3-128 of fd's data. */
static int hash_fd(struct vctx *v, int fd, XXH128_hash_t *ret)
{
	XXH3_state_t *st = XXH3_createState();
	off_t off = 0;
	int r = 0;

	if (!st)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	for (;;) {
		ssize_t n = pread(fd, v->buf, HASH_BUF, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		XXH3_128bits_update(st, v->buf, (size_t)n);
		off += n;
		v->res.checked_bytes += (uint64_t)n;
	}
	if (r == 0)
		*ret = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	return r;
}

static int open_data(int dirfd, const char *name, int flags)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOATIME | flags);

	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | flags);
	return fd < 0 ? -errno : fd;
}

static bool xattr_compared(const char *name)
{
	return strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0;
}

static int xlist(int fd, char *buf, ssize_t *ret)
{
	ssize_t n = flistxattr(fd, buf, XLIST_MAX);

	if (n < 0) {
		if (errno == ENOTSUP) {
			*ret = 0;
			return 0;
		}
		return -errno;
	}
	*ret = n;
	return 0;
}

static bool in_list(const char *list, ssize_t n, const char *name)
{
	for (const char *p = list; p < list + n; p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			return true;
	return false;
}

static void compare_xattrs(struct vctx *v, int sfd, int dfd, const char *rel)
{
	char *sl = malloc(XLIST_MAX), *dl = malloc(XLIST_MAX);
	ssize_t sn = 0, dn = 0;
	int r;

	if (!sl || !dl) {
		v->fatal = -ENOMEM;
		goto out;
	}
	r = xlist(sfd, sl, &sn);
	if (r == 0)
		r = xlist(dfd, dl, &dn);
	if (r < 0) {
		report_err(v, rel, "cannot list xattrs", -r);
		goto out;
	}
	for (const char *p = sl; p < sl + sn; p += strlen(p) + 1) {
		ssize_t a, b;

		if (!xattr_compared(p))
			continue;
		if (!in_list(dl, dn, p)) {
			report(v, LOAFRE__VD_XATTR, rel, NULL, NULL, "missing", p);
			continue;
		}
		a = fgetxattr(sfd, p, v->buf, XVAL_MAX);
		b = fgetxattr(dfd, p, v->buf2, XVAL_MAX);
		if (a < 0 || b < 0) {
			report_err(v, rel, "cannot read an xattr", errno);
			continue;
		}
		if (a != b || memcmp(v->buf, v->buf2, (size_t)a) != 0)
			report(v, LOAFRE__VD_XATTR, rel, NULL, NULL, "differs", p);
	}
	for (const char *p = dl; p < dl + dn; p += strlen(p) + 1)
		if (xattr_compared(p) && !in_list(sl, sn, p))
			report(v, LOAFRE__VD_XATTR, rel, NULL, NULL, "extra", p);
out:
	free(sl);
	free(dl);
}

static int add_link(struct vctx *v, const struct stat *s, const struct stat *d, const char *rel)
{
	struct lrec *l;

	if (v->nlinks == v->caplinks) {
		size_t nc = v->caplinks ? v->caplinks * 2 : 64;
		struct lrec *p = realloc(v->links, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		v->links = p;
		v->caplinks = nc;
	}
	l = &v->links[v->nlinks];
	l->rel = strdup(rel);
	if (!l->rel)
		return -ENOMEM;
	l->sdev = s->st_dev;
	l->sino = s->st_ino;
	l->dino = d->st_ino;
	l->smulti = s->st_nlink > 1;
	l->dmulti = d->st_nlink > 1;
	v->nlinks++;
	return 0;
}

static void fmt_time(char *b, size_t n, const struct timespec *t)
{
	snprintf(b, n, "%lld.%09ld", (long long)t->tv_sec, t->tv_nsec);
}

/* Compares the entry (sp, sd, name) present on both sides. */
static void compare_entry(struct vctx *v, int sp, int dp, const char *name, const char *rel,
			  const struct stat *s, const struct stat *d)
{
	char a[PATH_MAX + 1], b[PATH_MAX + 1];
	int sfd = -1, dfd = -1;

	if ((s->st_mode ^ d->st_mode) & S_IFMT) {
		report(v, LOAFRE__VD_TYPE, rel, NULL, loafre__repl_type_name(s->st_mode),
		       loafre__repl_type_name(d->st_mode), NULL);
		return;
	}
	if (S_ISREG(s->st_mode) && s->st_size != d->st_size) {
		snprintf(a, sizeof(a), "%lld", (long long)s->st_size);
		snprintf(b, sizeof(b), "%lld", (long long)d->st_size);
		report(v, LOAFRE__VD_SIZE, rel, NULL, a, b, NULL);
	}
	if (!S_ISLNK(s->st_mode) && (s->st_mode & 07777) != (d->st_mode & 07777)) {
		snprintf(a, sizeof(a), "%04o", (unsigned)(s->st_mode & 07777));
		snprintf(b, sizeof(b), "%04o", (unsigned)(d->st_mode & 07777));
		report(v, LOAFRE__VD_MODE, rel, NULL, a, b, NULL);
	}
	{
		uint32_t u = loafre__idmap_map(v->o->uid_map, s->st_uid);
		uint32_t g = loafre__idmap_map(v->o->gid_map, s->st_gid);

		if (u != d->st_uid || g != d->st_gid) {
			snprintf(a, sizeof(a), "%" PRIu32 ":%" PRIu32, u, g);
			snprintf(b, sizeof(b), "%u:%u", (unsigned)d->st_uid, (unsigned)d->st_gid);
			report(v, LOAFRE__VD_OWNER, rel, NULL, a, b, NULL);
		}
	}
	if (!v->o->no_times && (s->st_mtim.tv_sec != d->st_mtim.tv_sec ||
				s->st_mtim.tv_nsec != d->st_mtim.tv_nsec)) {
		fmt_time(a, sizeof(a), &s->st_mtim);
		fmt_time(b, sizeof(b), &d->st_mtim);
		report(v, LOAFRE__VD_MTIME, rel, NULL, a, b, NULL);
	}
	if (S_ISLNK(s->st_mode)) {
		ssize_t n = readlinkat(sp, name, a, PATH_MAX), m = readlinkat(dp, name, b, PATH_MAX);

		if (n < 0 || m < 0) {
			report_err(v, rel, "cannot read symlink", errno);
		} else {
			a[n] = b[m] = '\0';
			if (strcmp(a, b) != 0)
				report(v, LOAFRE__VD_SYMLINK, rel, NULL, a, b, NULL);
		}
		return;
	}
	if ((S_ISCHR(s->st_mode) || S_ISBLK(s->st_mode)) && s->st_rdev != d->st_rdev) {
		snprintf(a, sizeof(a), "%u,%u", major(s->st_rdev), minor(s->st_rdev));
		snprintf(b, sizeof(b), "%u,%u", major(d->st_rdev), minor(d->st_rdev));
		report(v, LOAFRE__VD_RDEV, rel, NULL, a, b, NULL);
	}
	if (!S_ISREG(s->st_mode) && !S_ISDIR(s->st_mode))
		return;
	if (v->o->no_xattrs && !(v->o->checksum && S_ISREG(s->st_mode)))
		goto links;
	sfd = open_data(sp, name, 0);
	dfd = open_data(dp, name, 0);
	if (sfd < 0 || dfd < 0) {
		report_err(v, rel, sfd < 0 ? "cannot open source" : "cannot open destination",
			   -(sfd < 0 ? sfd : dfd));
		goto links;
	}
	if (!v->o->no_xattrs)
		compare_xattrs(v, sfd, dfd, rel);
	if (v->o->checksum && S_ISREG(s->st_mode) && s->st_size == d->st_size) {
		XXH128_hash_t hs, hd;
		int r = hash_fd(v, sfd, &hs);

		if (r == 0)
			r = hash_fd(v, dfd, &hd);
		if (r < 0)
			report_err(v, rel, "cannot read", -r);
		else if (!XXH128_isEqual(hs, hd))
			report(v, LOAFRE__VD_CONTENT, rel, NULL, NULL, NULL, NULL);
	}
links:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	if (S_ISREG(s->st_mode) && (s->st_nlink > 1 || d->st_nlink > 1)) {
		int r = add_link(v, s, d, rel);

		if (r < 0)
			v->fatal = r;
	}
}

static bool filtered(struct vctx *v, const char *rel, bool is_dir)
{
	return v->o->filter && !v->o->filter(v->o->filter_arg, rel, is_dir);
}

/* Does destination directory `name` of dd (rel: its path) hold, somewhere
 * in its tree, an entry the filter rejects? Errors: no. */
static bool holds_filtered(struct vctx *v, int dd, const char *name, const char *rel,
			   unsigned depth)
{
	int fd = depth > DEPTH_MAX ? -1 :
		 openat(dd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char **dn = NULL;
	size_t nd = 0;
	bool found = false;

	if (fd < 0 || list_dir(fd, &dn, &nd) < 0)
		goto out;
	for (size_t j = 0; j < nd && !found; j++) {
		struct stat d;
		char *crel;

		if (fstatat(fd, dn[j], &d, AT_SYMLINK_NOFOLLOW) < 0 ||
		    asprintf(&crel, "%s/%s", rel, dn[j]) < 0)
			continue;
		found = filtered(v, crel, S_ISDIR(d.st_mode)) ||
			(S_ISDIR(d.st_mode) && holds_filtered(v, fd, dn[j], crel, depth + 1));
		free(crel);
	}
out:
	free_names(dn, nd);
	if (fd >= 0)
		close(fd);
	return found;
}

/* Destination directory `name` of dd is only at the destination and holds
 * filtered entries: its other entries are EXTRA (holders of filtered
 * entries descended into again, filtered ones skipped). */
static void extra_holder(struct vctx *v, int dd, const char *name, const char *rel,
			 unsigned depth)
{
	int fd = openat(dd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char **dn = NULL;
	size_t nd = 0;
	int r;

	if (fd < 0) {
		report_err(v, rel, "cannot open directory", errno);
		return;
	}
	r = list_dir(fd, &dn, &nd);
	if (r < 0)
		report_err(v, rel, "cannot list destination directory", -r);
	for (size_t j = 0; j < nd && !v->fatal; j++) {
		struct stat d;
		char *crel;

		if (asprintf(&crel, "%s/%s", rel, dn[j]) < 0) {
			v->fatal = -ENOMEM;
			break;
		}
		if (fstatat(fd, dn[j], &d, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				report_err(v, crel, "cannot stat destination", errno);
		} else if (filtered(v, crel, S_ISDIR(d.st_mode))) {
			/* protected: skipped */
		} else if (S_ISDIR(d.st_mode) && holds_filtered(v, fd, dn[j], crel, depth + 1)) {
			extra_holder(v, fd, dn[j], crel, depth + 1);
		} else {
			report(v, LOAFRE__VD_EXTRA, crel, NULL, NULL, NULL, NULL);
		}
		free(crel);
	}
	free_names(dn, nd);
	close(fd);
}

/* Compares directories sd and dd (O_PATH fds; rel "" = the roots). */
static void compare_dir(struct vctx *v, int sd, int dd, const char *rel, unsigned depth)
{
	char **sn = NULL, **dn = NULL;
	size_t ns = 0, nd = 0, i = 0, j = 0;
	int r;

	if (depth > DEPTH_MAX) {
		report_err(v, rel, "cannot descend", ELOOP);
		return;
	}
	r = list_dir(sd, &sn, &ns);
	if (r < 0) {
		report_err(v, rel[0] ? rel : ".", "cannot list source directory", -r);
		return;
	}
	r = list_dir(dd, &dn, &nd);
	if (r < 0) {
		report_err(v, rel[0] ? rel : ".", "cannot list destination directory", -r);
		free_names(sn, ns);
		return;
	}
	while ((i < ns || j < nd) && !v->fatal) {
		int c = i == ns ? 1 : j == nd ? -1 : strcmp(sn[i], dn[j]);
		const char *name = c <= 0 ? sn[i] : dn[j];
		char *crel;
		struct stat s, d;
		bool hs = c <= 0, hd = c >= 0;

		if (asprintf(&crel, "%s%s%s", rel, rel[0] ? "/" : "", name) < 0) {
			v->fatal = -ENOMEM;
			break;
		}
		if (hs && fstatat(sd, name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				report_err(v, crel, "cannot stat source", errno);
			hs = false;
		}
		if (hd && fstatat(dd, name, &d, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				report_err(v, crel, "cannot stat destination", errno);
			hd = false;
		}
		if (hs && filtered(v, crel, S_ISDIR(s.st_mode)))
			hs = hd = false;
		else if (!hs && hd && filtered(v, crel, S_ISDIR(d.st_mode)))
			hd = false;
		if (hs)
			v->res.entries++;
		if (hs && !hd) {
			report(v, LOAFRE__VD_MISSING, crel, NULL, NULL, NULL, NULL);
		} else if (hd && !hs) {
			if (v->o->filter && S_ISDIR(d.st_mode) &&
			    holds_filtered(v, dd, name, crel, depth + 1))
				extra_holder(v, dd, name, crel, depth + 1);
			else
				report(v, LOAFRE__VD_EXTRA, crel, NULL, NULL, NULL, NULL);
		} else if (hs && hd) {
			compare_entry(v, sd, dd, name, crel, &s, &d);
			if (S_ISDIR(s.st_mode) && S_ISDIR(d.st_mode)) {
				int s2 = openat(sd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				int d2 = openat(dd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

				if (s2 < 0 || d2 < 0)
					report_err(v, crel, "cannot open directory", errno);
				else
					compare_dir(v, s2, d2, crel, depth + 1);
				if (s2 >= 0)
					close(s2);
				if (d2 >= 0)
					close(d2);
			}
		}
		free(crel);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	free_names(sn, ns);
	free_names(dn, nd);
}

static int cmp_by_src(const void *a, const void *b)
{
	const struct lrec *x = a, *y = b;

	if (x->sdev != y->sdev)
		return x->sdev < y->sdev ? -1 : 1;
	if (x->sino != y->sino)
		return x->sino < y->sino ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

static int cmp_by_dst(const void *a, const void *b)
{
	const struct lrec *x = a, *y = b;

	if (x->dino != y->dino)
		return x->dino < y->dino ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

/* Hard-link structure: a group of names of one source inode must be one
 * destination inode, and the reverse. */
static void compare_links(struct vctx *v)
{
	size_t i, j;

	if (!v->nlinks)
		return;
	qsort(v->links, v->nlinks, sizeof(*v->links), cmp_by_src);
	for (i = 0; i < v->nlinks; i = j) {
		for (j = i + 1; j < v->nlinks && v->links[j].sdev == v->links[i].sdev &&
				v->links[j].sino == v->links[i].sino;
		     j++)
			if (v->links[j].dino != v->links[i].dino)
				report(v, LOAFRE__VD_LINKS, v->links[i].rel, v->links[j].rel, NULL,
				       NULL, "split");
	}
	qsort(v->links, v->nlinks, sizeof(*v->links), cmp_by_dst);
	for (i = 0; i < v->nlinks; i = j) {
		for (j = i + 1; j < v->nlinks && v->links[j].dino == v->links[i].dino; j++)
			if (v->links[j].sino != v->links[i].sino ||
			    v->links[j].sdev != v->links[i].sdev)
				report(v, LOAFRE__VD_LINKS, v->links[i].rel, v->links[j].rel, NULL,
				       NULL, "joined");
	}
}

int loafre__verify_trees(const char *src, const char *dest, const struct loafre__verify_opts *o,
			 void (*fn)(void *arg, const struct loafre__vdiff_rec *r), void *arg,
			 struct loafre__verify_result *ret)
{
	static const struct loafre__verify_opts defaults;
	struct vctx v = { .o = o ? o : &defaults, .fn = fn, .arg = arg };
	int sd = -1, dd = -1, r;
	struct stat s, d;

	v.buf = malloc(HASH_BUF);
	v.buf2 = malloc(XVAL_MAX);
	if (!v.buf || !v.buf2) {
		r = -ENOMEM;
		goto out;
	}
	sd = open(src, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sd < 0) {
		r = -errno;
		goto out;
	}
	dd = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(sd, &s) < 0 || fstat(dd, &d) < 0) {
		r = -errno;
		goto out;
	}
	{
		/* The roots: compared as "." through their parents' view. */
		int sp = openat(sd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		int dp = openat(dd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (sp >= 0 && dp >= 0)
			compare_entry(&v, sp, dp, ".", ".", &s, &d);
		if (sp >= 0)
			close(sp);
		if (dp >= 0)
			close(dp);
	}
	compare_dir(&v, sd, dd, "", 0);
	if (!v.fatal)
		compare_links(&v);
	r = v.fatal;
	if (r == 0 && ret)
		*ret = v.res;
out:
	for (size_t i = 0; i < v.nlinks; i++)
		free(v.links[i].rel);
	free(v.links);
	free(v.buf);
	free(v.buf2);
	if (sd >= 0)
		close(sd);
	if (dd >= 0)
		close(dd);
	return r;
}
