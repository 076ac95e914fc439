/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_paths.c — the walk that builds a paths group's map, and the
 * annotation a broker slot keeps (see broker_paths.h). No format of its
 * own: the map's is at the head of lib/repl_paths.c, the wire entry's at
 * the head of lib/broker_proto.c.
 *
 * The walk is one thread, depth first, with a stack of (FID, path
 * relative to the root). A directory is opened through its path
 * (openat(root, path, O_DIRECTORY|O_NOFOLLOW)) and must still have the FID
 * it was listed with, else it moved or was replaced since (skipped: the
 * records after P bring it). getdents64 lists it; only entries whose d_type
 * is DT_DIR (or DT_UNKNOWN, then statx) are looked at further: statx for
 * the device and the mount root, name_to_handle_at for the FID. A tree of
 * 1 M files in 20 k directories therefore costs 20 k opens, about 1 M
 * dirents read and 20 k handle lookups (figures in
 * docs/design/replication.md).
 */
#include "broker_paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "broker_proto.h"
#include "index_fetch.h"
#include "loafre/consumer.h"
#include "localfs_internal.h"
#include "util.h"

#define DENTS_BUF (64 * 1024)

/* A directory waiting to be listed. */
struct pdir {
	struct loafre_fid fid; /* as seen when its parent was listed */
	uint32_t len;          /* strlen(path) */
	char path[];           /* relative to the root ("" = the root) */
};

/* The walk's state. */
struct pwalk {
	struct loafre__paths *p;    /* the map being loaded */
	enum loafre_fs_type type;   /* how FIDs are made */
	int root_fd;                /* the root, O_RDONLY|O_DIRECTORY */
	dev_t dev;                  /* the root's device */
	struct pdir **stack;        /* directories to list (top = end) */
	size_t n, cap;              /* used, allocated */
	char *dents;                /* getdents64 buffer */
	atomic_bool *cancel;        /* set: stop (-ECANCELED), or NULL */
	struct loafre__pwalk_stats st; /* figures */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int fid_at(const struct pwalk *w, int dirfd, const char *name, int flags,
		  struct loafre_fid *ret)
{
	return loafre__fetch_fid_at(w->type, dirfd, name, flags, ret, NULL);
}

static int push(struct pwalk *w, const struct loafre_fid *fid, const char *base, size_t baselen,
		const char *name, size_t namelen)
{
	size_t len = baselen ? baselen + 1 + namelen : namelen;
	struct pdir *d;

	if (len >= PATH_MAX) {
		w->st.skipped++; /* its children stay unknown: -ENOENT for them */
		return 0;
	}
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 256;
		struct pdir **ns = realloc(w->stack, nc * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		w->stack = ns;
		w->cap = nc;
	}
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return -ENOMEM;
	d->fid = *fid;
	d->len = (uint32_t)len;
	if (baselen) {
		memcpy(d->path, base, baselen);
		d->path[baselen] = '/';
		memcpy(d->path + baselen + 1, name, namelen);
	} else {
		memcpy(d->path, name, namelen);
	}
	d->path[len] = '\0';
	w->stack[w->n++] = d;
	return 0;
}

static bool gone(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ELOOP || e == ESTALE;
}

/* One entry of d (open as dfd) that may be a directory. 0 or a fatal -errno. */
static int visit(struct pwalk *w, const struct pdir *d, int dfd, const char *name,
		 unsigned char type)
{
	struct loafre_fid fid;
	struct statx stx;
	size_t namelen = strlen(name);
	int r;

	if (type != DT_DIR && type != DT_UNKNOWN)
		return 0;
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) < 0) {
		w->st.skipped += !gone(errno);
		return 0;
	}
	if (!S_ISDIR(stx.stx_mode))
		return 0;
	if (makedev(stx.stx_dev_major, stx.stx_dev_minor) != w->dev
#ifdef STATX_ATTR_MOUNT_ROOT
	    || ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
		(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
#endif
	) {
		w->st.skipped++;
		return 0;
	}
	r = fid_at(w, dfd, name, 0, &fid);
	if (r < 0) {
		w->st.skipped++;
		return 0;
	}
	r = loafre__paths_bulk_add(w->p, &fid, &d->fid, name, namelen);
	if (r == -EINVAL) {
		w->st.skipped++; /* a name the map refuses */
		return 0;
	}
	if (r < 0)
		return r;
	w->st.dirs++;
	return push(w, &fid, d->path, d->len, name, namelen);
}

static int list(struct pwalk *w, const struct pdir *d)
{
	bool at_root = d->len == 0;
	int dfd, r = 0;

	dfd = at_root ? openat(w->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		      : openat(w->root_fd, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		w->st.skipped++;
		return 0;
	}
	if (!at_root) {
		struct loafre_fid now;

		if (fid_at(w, dfd, "", AT_EMPTY_PATH, &now) < 0 || !loafre_fid_equal(&now, &d->fid)) {
			w->st.skipped++; /* moved or replaced since it was listed */
			goto out;
		}
	}
	for (;;) {
		ssize_t n = getdents64(dfd, w->dents, DENTS_BUF);

		if (n == 0)
			break;
		if (n < 0) {
			w->st.skipped++;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(void *)(w->dents + off);
			const char *name = de->d_name;

			off += de->d_reclen;
			w->st.entries++;
			if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
				continue;
			if (at_root && w->type == LOAFRE_FS_LUSTRE && strcmp(name, ".lustre") == 0)
				continue;
			r = visit(w, d, dfd, name, de->d_type);
			if (r < 0)
				goto out;
		}
	}
out:
	close(dfd);
	return r;
}

static int walk(struct loafre__paths *p, const char *root, enum loafre_fs_type type,
		const char *const *mdts, const uint64_t *positions, size_t n, atomic_bool *cancel,
		struct loafre__pwalk_stats *ret_stats)
{
	struct pwalk w;
	struct loafre_fid root_fid;
	struct stat st;
	uint64_t t0 = mono_ns();
	bool in_bulk = false;
	int r;

	memset(&w, 0, sizeof(w));
	w.p = p;
	w.type = type;
	w.root_fd = -1;
	w.cancel = cancel;
	if (!p || !root || !mdts || !positions || n == 0) {
		r = -EINVAL;
		goto out;
	}
	w.dents = malloc(DENTS_BUF);
	if (!w.dents) {
		r = -ENOMEM;
		goto out;
	}
	w.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.root_fd < 0 || fstat(w.root_fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	w.dev = st.st_dev;
	if (type == LOAFRE_FS_LUSTRE) {
		root_fid = LOAFRE__FETCH_LUSTRE_ROOT;
	} else {
		r = fid_at(&w, w.root_fd, "", AT_EMPTY_PATH, &root_fid);
		if (r < 0)
			goto out;
	}
	r = loafre__paths_bulk_begin(p);
	if (r < 0)
		goto out;
	in_bulk = true;
	r = loafre__paths_set_root(p, &root_fid);
	if (r < 0)
		goto out;
	r = push(&w, &root_fid, "", 0, "", 0);
	while (r == 0 && w.n > 0) {
		struct pdir *d = w.stack[--w.n];

		r = list(&w, d);
		free(d);
		if (r == 0 && w.cancel && atomic_load(w.cancel))
			r = -ECANCELED;
	}
	if (r < 0)
		goto out;
	for (size_t i = 1; i < n; i++) {
		r = loafre__paths_set_position(p, mdts[i], positions[i]);
		if (r < 0)
			goto out;
	}
	r = loafre__paths_bulk_end(p, mdts[0], positions[0]);
	in_bulk = false;
out:
	if (in_bulk)
		loafre__paths_rollback(p);
	while (w.n > 0)
		free(w.stack[--w.n]);
	free(w.stack);
	free(w.dents);
	if (w.root_fd >= 0)
		close(w.root_fd);
	w.st.seconds = (double)(mono_ns() - t0) / 1e9;
	if (ret_stats)
		*ret_stats = w.st;
	return r;
}

int loafre__paths_walk(struct loafre__paths *p, const char *root, enum loafre_fs_type type,
		       const char *const *mdts, const uint64_t *positions, size_t n,
		       struct loafre__pwalk_stats *ret_stats)
{
	return walk(p, root, type, mdts, positions, n, NULL, ret_stats);
}

/* ---- the build thread --------------------------------------------------------- */

struct loafre__pbuild {
	struct loafre__paths *p;       /* borrowed until finish */
	char *root;                    /* the tree */
	enum loafre_fs_type type;      /* local or lustre */
	char **mdts;                   /* copies */
	uint64_t *positions;           /* copies */
	size_t n;                      /* entries of mdts and positions */
	pthread_t th;                  /* the walk */
	atomic_bool done;              /* the walk returned */
	atomic_bool cancel;            /* the walk must stop */
	int result;                    /* its value (read after done) */
	struct loafre__pwalk_stats st; /* its figures (read after done) */
};

static void pbuild_free(struct loafre__pbuild *b)
{
	if (!b)
		return;
	for (size_t i = 0; b->mdts && i < b->n; i++)
		free(b->mdts[i]);
	free(b->mdts);
	free(b->positions);
	free(b->root);
	free(b);
}

static void *pbuild_main(void *arg)
{
	struct loafre__pbuild *b = arg;

	b->result = walk(b->p, b->root, b->type, (const char *const *)b->mdts, b->positions, b->n,
			 &b->cancel, &b->st);
	atomic_store(&b->done, true);
	return NULL;
}

int loafre__pbuild_start(struct loafre__paths *p, const char *root, enum loafre_fs_type type,
			 const char *const *mdts, const uint64_t *positions, size_t n,
			 struct loafre__pbuild **ret)
{
	struct loafre__pbuild *b;
	sigset_t all, old;
	int r;

	if (!p || !root || !mdts || !positions || n == 0)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->p = p;
	b->type = type;
	b->n = n;
	b->root = strdup(root);
	b->mdts = calloc(n, sizeof(*b->mdts));
	b->positions = calloc(n, sizeof(*b->positions));
	if (!b->root || !b->mdts || !b->positions) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		b->mdts[i] = strdup(mdts[i]);
		if (!b->mdts[i]) {
			r = -ENOMEM;
			goto fail;
		}
		b->positions[i] = positions[i];
	}
	atomic_init(&b->done, false);
	atomic_init(&b->cancel, false);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&b->th, NULL, pbuild_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	*ret = b;
	return 0;
fail:
	pbuild_free(b);
	return r;
}

void loafre__pbuild_cancel(struct loafre__pbuild *b)
{
	if (b)
		atomic_store(&b->cancel, true);
}

bool loafre__pbuild_done(struct loafre__pbuild *b)
{
	return atomic_load(&b->done);
}

int loafre__pbuild_finish(struct loafre__pbuild *b, struct loafre__pwalk_stats *stats)
{
	int r;

	if (!b)
		return 0;
	pthread_join(b->th, NULL);
	r = b->result;
	if (stats)
		*stats = b->st;
	pbuild_free(b);
	return r;
}

/* ---- annotations -------------------------------------------------------------- */

static struct loafre__bpann *ann_new(size_t plen, size_t splen)
{
	struct loafre__bpann *a = malloc(sizeof(*a) + plen + splen);

	if (a) {
		memset(a, 0, sizeof(*a));
		a->path_len = (uint16_t)plen;
		a->spath_len = (uint16_t)splen;
	}
	return a;
}

struct loafre__bpann *loafre__bpann_error(int err)
{
	struct loafre__bpann *a = ann_new(0, 0);

	if (a)
		a->path_err = err;
	return a;
}

struct loafre__bpann *loafre__bpann_make(const struct loafre_rec *r, int rc,
					 const struct loafre__paths_ann *a)
{
	bool rename = r->type == LOAFRE_CL_RENAME && (r->flags & LOAFRE_CLF_RENAME);
	size_t plen = a && a->path && a->pathlen <= LOAFRE__BP_PATH_MAX ? a->pathlen : 0;
	size_t splen = a && a->spath && a->spathlen <= LOAFRE__BP_PATH_MAX ? a->spathlen : 0;
	struct loafre__bpann *o = ann_new(plen, splen);
	int err = rc < 0 ? rc : -ENODATA;

	if (!o)
		return NULL;
	if (plen)
		memcpy(o->s, a->path, plen);
	else
		o->path_err = err;
	if (splen)
		memcpy(o->s + plen, a->spath, splen);
	else if (rename)
		o->spath_err = err;
	if (a && a->is_dir)
		o->flags |= LOAFRE_RP_DIR;
	if (a && a->victim_dir)
		o->flags |= LOAFRE_RP_VICTIM_DIR;
	if (r->type == LOAFRE_CL_RMDIR ||
	    (rename && (o->flags & (LOAFRE_RP_DIR | LOAFRE_RP_VICTIM_DIR))))
		o->flags |= LOAFRE_RP_BARRIER;
	return o;
}
