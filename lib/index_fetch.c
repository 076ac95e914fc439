/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_fetch.c — FID → current attributes (see index_fetch.h).
 *
 * No format of its own: local FIDs follow lib/localfs_fid.c; a Lustre FID
 * names MOUNT/.lustre/fid/[0xSEQ:0xOID:0xVER] (Lustre's DFID spelling,
 * loafre_fid_format) and a Lustre file handle (FILEID_LUSTRE, type 0x97)
 * holds the object's lu_fid (16 bytes, host order) followed by its parent's.
 *
 * Semantics of one fetch:
 *   local, FID maps back to a handle
 *       open_by_handle_at(root, handle, O_PATH|O_NOFOLLOW) → statx(fd, "",
 *       AT_EMPTY_PATH|AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS) → readlinkat
 *   local, hashed FID (or PREFER_PATHS) with a path hint
 *       openat(root, hint, O_PATH|O_NOFOLLOW) → name_to_handle_at must give
 *       the same FID (else gone) → statx, readlinkat
 *   Lustre
 *       statx(MOUNT/.lustre/fid, "[FID]", AT_SYMLINK_NOFOLLOW) → readlinkat
 *   ENOENT / ESTALE / ENOTDIR / ELOOP on the way, or stx_nlink == 0  → gone
 *
 * Worker pool: `threads` threads wait on a condition variable; a batch is
 * published (arrays, count, generation++) and every worker, and the
 * calling thread, takes chunks of FIDS_PER_GRAB indices from a shared
 * atomic counter until none is left; the caller waits until each worker
 * has left the batch. Workers block every signal (the process' signal
 * handling stays with its main thread).
 */
#include "util.h"
#include "index_fetch.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "localfs_internal.h"
#include "lustre_source.h"

#define HANDLE_MAX 128
#define FIDS_PER_GRAB 8
#define FILEID_LUSTRE_TYPE 0x97
/* Below this many FIDs a batch is fetched by the caller alone. */
#define INLINE_MAX 4

struct loafre__fetch {
	enum loafre_fs_type type;       /* local or Lustre */
	int flags;                      /* LOAFRE__FETCH_* */
	char *root;                     /* realpath of the tree / mount */
	size_t rootlen;                 /* strlen(root) */
	int root_fd;                    /* O_RDONLY|O_DIRECTORY: mount fd for handles */
	int root_mnt;                   /* mount id of the root */
	int fid_dir_fd;                 /* Lustre: MOUNT/.lustre/fid (O_PATH); else -1 */
	struct loafre_fid root_fid;     /* FID of the root */

	pthread_t *threads;             /* workers */
	unsigned nthreads;              /* started workers */
	pthread_mutex_t mu;             /* protects the fields below */
	pthread_cond_t work_cv;         /* a batch was published, or stop */
	pthread_cond_t done_cv;         /* a worker left the batch */
	uint64_t gen;                   /* batch generation */
	unsigned busy;                  /* workers not yet done with the batch */
	bool stop;                      /* workers must exit */
	/* the published batch (read by workers after they saw `gen`) */
	const struct loafre_fid *fids;  /* FIDs to fetch */
	const char *const *hints;       /* their path hints, or NULL */
	struct loafre__fetch_result *res; /* results */
	size_t n;                       /* number of FIDs */
	atomic_size_t next;             /* next index to take */
};

/* ---- helpers shared with the scanner ----------------------------------------- */

int loafre__fetch_handle_fid(enum loafre_fs_type type, const struct file_handle *fh,
			     struct loafre_fid *ret_fid)
{
	if (type == LOAFRE_FS_LUSTRE) {
		struct loafre_fid f;

		if (fh->handle_type != FILEID_LUSTRE_TYPE || fh->handle_bytes < LOAFRE_FID_SIZE)
			return -EINVAL;
		memcpy(&f.f_seq, fh->f_handle, 8);
		memcpy(&f.f_oid, fh->f_handle + 8, 4);
		memcpy(&f.f_ver, fh->f_handle + 12, 4);
		*ret_fid = f;
		return 0;
	}
	return loafre__lfs_fid_from_handle(fh->handle_type, fh->f_handle, fh->handle_bytes, ret_fid);
}

int loafre__fetch_fid_at(enum loafre_fs_type type, int dirfd, const char *name, int flags,
			 struct loafre_fid *ret_fid, int *ret_mnt)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	int mnt;

	h.fh.handle_bytes = HANDLE_MAX;
	if (name_to_handle_at(dirfd, name, &h.fh, &mnt, flags) < 0)
		return -errno;
	if (loafre__fetch_handle_fid(type, &h.fh, ret_fid) < 0)
		return -EXDEV;
	if (ret_mnt)
		*ret_mnt = mnt;
	return 0;
}

void loafre__fetch_attr_of_statx(const struct statx *stx, struct loafre__idx_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->mode = stx->stx_mode;
	a->uid = stx->stx_uid;
	a->gid = stx->stx_gid;
	a->size = stx->stx_size;
	a->blocks = stx->stx_blocks;
	a->nlink = stx->stx_nlink;
	a->ino = stx->stx_ino;
	a->dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
	a->atime_ns = (int64_t)stx->stx_atime.tv_sec * 1000000000 + stx->stx_atime.tv_nsec;
	a->mtime_ns = (int64_t)stx->stx_mtime.tv_sec * 1000000000 + stx->stx_mtime.tv_nsec;
	a->ctime_ns = (int64_t)stx->stx_ctime.tv_sec * 1000000000 + stx->stx_ctime.tv_nsec;
}

int loafre__fetch_readlink(int dirfd, const char *name, uint64_t size, char **ret)
{
	size_t cap = size < 64 ? 64 : (size_t)size + 1;
	char *buf = NULL;
	int err;

	for (;;) {
		ssize_t n;
		char *p;

		if (cap > LOAFRE__FETCH_SYMLINK_MAX + 1) {
			err = -ENAMETOOLONG;
			goto fail;
		}
		p = realloc(buf, cap);
		if (!p) {
			err = -ENOMEM;
			goto fail;
		}
		buf = p;
		n = readlinkat(dirfd, name, buf, cap);
		if (n < 0) {
			err = -errno;
			goto fail;
		}
		if ((size_t)n < cap) {
			buf[n] = '\0';
			*ret = buf;
			return 0;
		}
		cap *= 2;
	}
fail:
	free(buf);
	return err;
}

static bool is_gone_errno(int e)
{
	return e == ENOENT || e == ESTALE || e == ENOTDIR || e == ELOOP;
}

/* ---- one fetch ---------------------------------------------------------------- */

/* statx of dirfd/name (name "" = dirfd itself) into res, symlink included. */
static int fill(int dirfd, const char *name, struct loafre__fetch_result *res)
{
	struct statx stx;
	int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] ? 0 : AT_EMPTY_PATH);
	int r;

	if (statx(dirfd, name, flags, STATX_BASIC_STATS, &stx) < 0)
		return is_gone_errno(errno) ? -ENOENT : -errno;
	if (stx.stx_nlink == 0)
		return -ENOENT; /* unlinked, still open somewhere */
	loafre__fetch_attr_of_statx(&stx, &res->attr);
	if (S_ISLNK(stx.stx_mode)) {
		r = loafre__fetch_readlink(dirfd, name, stx.stx_size, &res->link);
		if (r < 0)
			return is_gone_errno(-r) ? -ENOENT : r;
		res->attr.symlink = res->link;
	}
	return 0;
}

static int fid_of_fd(const struct loafre__fetch *f, int fd, const char *name, int flags,
		     struct loafre_fid *ret, int *ret_mnt)
{
	int r = loafre__fetch_fid_at(f->type, fd, name, flags, ret, ret_mnt);

	if (r == -EXDEV)
		return -EINVAL; /* not a handle of this filesystem type */
	return r < 0 && is_gone_errno(-r) ? -ENOENT : r;
}

static int fetch_by_path(struct loafre__fetch *f, const struct loafre_fid *fid, const char *hint,
			 struct loafre__fetch_result *res)
{
	struct loafre_fid got;
	int fd, r;

	fd = openat(f->root_fd, hint[0] ? hint : ".", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return is_gone_errno(errno) ? -ENOENT : -errno;
	r = fid_of_fd(f, fd, "", AT_EMPTY_PATH, &got, NULL);
	if (r == 0 && !loafre_fid_equal(&got, fid))
		r = -ENOENT; /* another object lives there now */
	if (r == 0)
		r = fill(fd, "", res);
	close(fd);
	return r;
}

static int fetch_local(struct loafre__fetch *f, const struct loafre_fid *fid, const char *hint,
		       struct loafre__fetch_result *res)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	int fd, r;

	if (hint && (f->flags & LOAFRE__FETCH_PREFER_PATHS))
		return fetch_by_path(f, fid, hint, res);
	if (loafre__lfs_handle_from_fid(fid, &h.fh, HANDLE_MAX) < 0)
		return hint ? fetch_by_path(f, fid, hint, res) : -EOPNOTSUPP;
	fd = loafre__open_by_handle(f->root_fd, &h.fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return is_gone_errno(errno) ? -ENOENT : -errno;
	r = fill(fd, "", res);
	close(fd);
	return r;
}

static int fetch_lustre(struct loafre__fetch *f, const struct loafre_fid *fid,
			struct loafre__fetch_result *res)
{
	char name[LOAFRE_FID_STRLEN];

	loafre_fid_format(fid, name);
	return fill(f->fid_dir_fd, name, res);
}

static int fetch_internal(struct loafre__fetch *f, const struct loafre_fid *fid, const char *hint,
			  struct loafre__fetch_result *res)
{
	int r;

	memset(res, 0, sizeof(*res));
	if (loafre_fid_is_zero(fid))
		r = -EINVAL;
	else if (f->type == LOAFRE_FS_LUSTRE)
		r = fetch_lustre(f, fid, res);
	else
		r = fetch_local(f, fid, hint, res);
	if (r < 0) {
		free(res->link);
		memset(res, 0, sizeof(*res));
	}
	res->status = r;
	return r;
}

/* ---- the pool ------------------------------------------------------------------ */

static void run_batch(struct loafre__fetch *f)
{
	for (;;) {
		size_t i = atomic_fetch_add(&f->next, FIDS_PER_GRAB);
		size_t end;

		if (i >= f->n)
			return;
		end = i + FIDS_PER_GRAB < f->n ? i + FIDS_PER_GRAB : f->n;
		for (; i < end; i++)
			fetch_internal(f, &f->fids[i], f->hints ? f->hints[i] : NULL, &f->res[i]);
	}
}

static void *worker(void *arg)
{
	struct loafre__fetch *f = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->stop && f->gen == seen)
			pthread_cond_wait(&f->work_cv, &f->mu);
		if (f->stop)
			break;
		seen = f->gen;
		pthread_mutex_unlock(&f->mu);
		run_batch(f);
		pthread_mutex_lock(&f->mu);
		if (--f->busy == 0)
			pthread_cond_signal(&f->done_cv);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int loafre__fetch_many_hinted(struct loafre__fetch *f, const struct loafre_fid *fids,
			      const char *const *hints, size_t n, struct loafre__fetch_result *res)
{
	if (n == 0)
		return 0;
	if (!fids || !res)
		return -EINVAL;
	if (n <= INLINE_MAX || f->nthreads == 0) {
		for (size_t i = 0; i < n; i++)
			fetch_internal(f, &fids[i], hints ? hints[i] : NULL, &res[i]);
		return 0;
	}
	pthread_mutex_lock(&f->mu);
	f->fids = fids;
	f->hints = hints;
	f->res = res;
	f->n = n;
	atomic_store(&f->next, 0);
	f->busy = f->nthreads;
	f->gen++;
	pthread_cond_broadcast(&f->work_cv);
	pthread_mutex_unlock(&f->mu);

	run_batch(f);

	pthread_mutex_lock(&f->mu);
	while (f->busy > 0)
		pthread_cond_wait(&f->done_cv, &f->mu);
	f->fids = NULL;
	f->hints = NULL;
	f->res = NULL;
	f->n = 0;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

int loafre__fetch_many(struct loafre__fetch *f, const struct loafre_fid *fids, size_t n,
		       struct loafre__fetch_result *res)
{
	return loafre__fetch_many_hinted(f, fids, NULL, n, res);
}

int loafre__fetch_one(struct loafre__fetch *f, const struct loafre_fid *fid, const char *hint,
		      struct loafre__fetch_result *res)
{
	return fetch_internal(f, fid, hint, res);
}

void loafre__fetch_results_free(struct loafre__fetch_result *res, size_t n)
{
	if (!res)
		return;
	for (size_t i = 0; i < n; i++) {
		free(res[i].link);
		res[i].link = NULL;
		res[i].attr.symlink = NULL;
	}
}

/* ---- open / close ---------------------------------------------------------------- */

int loafre__fetch_open(enum loafre_fs_type type, const char *path, unsigned threads, int flags,
		       struct loafre__fetch **ret)
{
	struct loafre__fetch *f;
	sigset_t all, old;
	int r;

	if (!path || (type != LOAFRE_FS_LOCAL && type != LOAFRE_FS_LUSTRE))
		return -EINVAL;
	if (threads == 0)
		threads = LOAFRE__FETCH_DEFAULT_THREADS;
	if (threads > LOAFRE__FETCH_MAX_THREADS)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->type = type;
	f->flags = flags;
	f->root_fd = -1;
	f->fid_dir_fd = -1;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->work_cv, NULL);
	pthread_cond_init(&f->done_cv, NULL);
	atomic_init(&f->next, 0);
	f->root = realpath(path, NULL);
	if (!f->root) {
		r = -errno;
		goto fail;
	}
	f->rootlen = strlen(f->root);
	f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->root_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (type == LOAFRE_FS_LUSTRE) {
		/* Lustre's root is always FID_SEQ_ROOT:FID_OID_ROOT */
		union {
			struct file_handle fh;
			unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
		} h;

		h.fh.handle_bytes = HANDLE_MAX;
		if (name_to_handle_at(f->root_fd, "", &h.fh, &f->root_mnt, AT_EMPTY_PATH) < 0) {
			r = -errno;
			goto fail;
		}
		f->root_fid = LOAFRE__FETCH_LUSTRE_ROOT;
	} else {
		union {
			struct file_handle fh;
			unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
		} h;
		int fd;

		r = fid_of_fd(f, f->root_fd, "", AT_EMPTY_PATH, &f->root_fid, &f->root_mnt);
		if (r < 0)
			goto fail;
		/* open_by_handle_at needs CAP_DAC_READ_SEARCH: find out now rather
		 * than take every object for gone */
		if (loafre__lfs_handle_from_fid(&f->root_fid, &h.fh, HANDLE_MAX) == 0) {
			fd = loafre__open_by_handle(f->root_fd, &h.fh, O_PATH | O_CLOEXEC);
			if (fd < 0) {
				r = -errno;
				goto fail;
			}
			close(fd);
		}
	}
	if (type == LOAFRE_FS_LUSTRE) {
		f->fid_dir_fd = openat(f->root_fd, ".lustre/fid", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (f->fid_dir_fd < 0) {
			r = -errno;
			goto fail;
		}
	}
	f->threads = calloc(threads, sizeof(*f->threads));
	if (!f->threads) {
		r = -ENOMEM;
		goto fail;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&f->threads[i], NULL, worker, f) != 0)
			break; /* fewer workers: the caller fetches too */
		f->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	*ret = f;
	return 0;
fail:
	loafre__fetch_close(f);
	return r;
}

void loafre__fetch_close(struct loafre__fetch *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_cond_broadcast(&f->work_cv);
	pthread_mutex_unlock(&f->mu);
	for (unsigned i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	free(f->threads);
	pthread_cond_destroy(&f->work_cv);
	pthread_cond_destroy(&f->done_cv);
	pthread_mutex_destroy(&f->mu);
	if (f->fid_dir_fd >= 0)
		close(f->fid_dir_fd);
	if (f->root_fd >= 0)
		close(f->root_fd);
	free(f->root);
	free(f);
}

const struct loafre_fid *loafre__fetch_root_fid(const struct loafre__fetch *f)
{
	return &f->root_fid;
}

const char *loafre__fetch_root(const struct loafre__fetch *f)
{
	return f->root;
}

enum loafre_fs_type loafre__fetch_type(const struct loafre__fetch *f)
{
	return f->type;
}

bool loafre__fetch_prefers_paths(const struct loafre__fetch *f)
{
	return (f->flags & LOAFRE__FETCH_PREFER_PATHS) != 0;
}

/* ---- paths ----------------------------------------------------------------------- */

int loafre__fetch_path(struct loafre__fetch *f, const char *relpath, struct loafre_fid *ret_fid,
		       struct loafre__fetch_result *res)
{
	const char *name = relpath && relpath[0] && strcmp(relpath, ".") != 0 ? relpath : "";
	struct loafre_fid fid;
	int r, mnt;

	memset(res, 0, sizeof(*res));
	if (name[0] == '/') {
		r = -EINVAL;
		goto out;
	}
	r = fid_of_fd(f, f->root_fd, name, name[0] ? 0 : AT_EMPTY_PATH, &fid, &mnt);
	if (r == 0 && mnt != f->root_mnt)
		r = -EXDEV;
	if (r == -EINVAL)
		r = -EXDEV; /* a handle this filesystem type does not make */
	if (r == 0)
		r = fill(f->root_fd, name, res);
	if (r == 0)
		*ret_fid = fid;
out:
	if (r < 0) {
		free(res->link);
		memset(res, 0, sizeof(*res));
	}
	res->status = r;
	return r;
}

int loafre__fetch_path2fid(struct loafre__fetch *f, const char *path, struct loafre_fid *ret_fid)
{
	if (!path || !path[0])
		return -EINVAL;
	return fid_of_fd(f, AT_FDCWD, path, 0, ret_fid, NULL);
}

#define RELPATH_TRIES 32 /* kernel names of a descriptor tried (renames racing) */

static int local_relpath_once(struct loafre__fetch *f, const struct loafre_fid *fid, char *buf,
			      size_t cap)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	char proc[64], p[PATH_MAX];
	struct loafre_fid got;
	const char *rel;
	ssize_t n;
	int fd, r;

	if (loafre__lfs_handle_from_fid(fid, &h.fh, HANDLE_MAX) < 0)
		return -ENOENT;
	fd = loafre__open_by_handle(f->root_fd, &h.fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return is_gone_errno(errno) ? -ENOENT : -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, p, sizeof(p) - 1);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (n < 0)
		return r;
	p[n] = '\0';
	if (p[0] != '/' || (n > 10 && strcmp(p + n - 10, " (deleted)") == 0))
		return -ENOENT;
	if (f->rootlen == 1)
		rel = p + 1;
	else if (strncmp(p, f->root, f->rootlen) == 0 && p[f->rootlen] == '\0')
		rel = "";
	else if (strncmp(p, f->root, f->rootlen) == 0 && p[f->rootlen] == '/')
		rel = p + f->rootlen + 1;
	else
		return -EXDEV;
	/* The kernel's name of a descriptor is a hint (a disconnected dentry,
	 * a rename racing): check that the path leads to the object. */
	r = fid_of_fd(f, f->root_fd, rel, rel[0] ? 0 : AT_EMPTY_PATH, &got, NULL);
	if (r < 0)
		return r == -EINVAL ? -ENOENT : r;
	if (!loafre_fid_equal(&got, fid))
		return -ENOENT;
	if (strlen(rel) >= cap)
		return -ENAMETOOLONG;
	strcpy(buf, rel);
	return 0;
}

/* local_relpath_once, again while its -ENOENT may be a rename racing the
 * check of the kernel's name (the object lives: its handle opens, it has a
 * name left). */
static int local_relpath(struct loafre__fetch *f, const struct loafre_fid *fid, char *buf,
			 size_t cap)
{
	int r = -ENOENT;

	for (int i = 0; i < RELPATH_TRIES; i++) {
		r = local_relpath_once(f, fid, buf, cap);
		if (r != -ENOENT || loafre__fetch_gone(f, fid) != 0)
			break;
		sched_yield();
	}
	return r;
}

int loafre__fetch_relpath(struct loafre__fetch *f, const struct loafre_fid *fid, char *buf,
			  size_t cap)
{
	if (cap == 0)
		return -ENAMETOOLONG;
	if (loafre_fid_equal(fid, &f->root_fid)) {
		buf[0] = '\0';
		return 0;
	}
	if (f->type == LOAFRE_FS_LOCAL)
		return local_relpath(f, fid, buf, cap);
	{
		char p[PATH_MAX];
		const char *rel = p;
		int r = loafre__lustre_fid2path(f->root, fid, p, sizeof(p));

		if (r < 0)
			return r;
		while (*rel == '/')
			rel++;
		if (strlen(rel) >= cap)
			return -ENAMETOOLONG;
		strcpy(buf, rel);
		return 0;
	}
}

int loafre__fetch_gone(struct loafre__fetch *f, const struct loafre_fid *fid)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	struct stat st;
	char p[PATH_MAX];
	int fd, r;

	if (loafre_fid_equal(fid, &f->root_fid))
		return 0;
	if (f->type != LOAFRE_FS_LOCAL) {
		r = loafre__lustre_fid2path(f->root, fid, p, sizeof(p));
		return r == 0 ? 0 : r == -ENOENT ? 1 : r;
	}
	if (loafre__lfs_handle_from_fid(fid, &h.fh, HANDLE_MAX) < 0)
		return -EOPNOTSUPP; /* a hashed FID */
	fd = loafre__open_by_handle(f->root_fd, &h.fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ESTALE || errno == ENOENT ? 1 : -errno;
	r = fstat(fd, &st) < 0 ? -errno : st.st_nlink == 0 ? 1 : 0;
	close(fd);
	return r;
}
