/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_scan.c — the parallel walk behind `loafre scan` (see index_scan.h
 * for the hand-over protocol).
 *
 * No format of its own. What is stored, per entry below the root:
 *   FID      local: name_to_handle_at(dirfd, name, 0) → lib/localfs_fid.c
 *            (the root: name_to_handle_at(rootfd, "", AT_EMPTY_PATH)), the
 *            very calls loafred's emulated MDT makes, so the FIDs are the
 *            ones its records carry; Lustre: the FID in its handle
 *   attrs    statx(dirfd, name, AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT,
 *            STATX_BASIC_STATS), + readlinkat for a symlink
 *   link     (FID of the directory listed, name)
 * Skipped: "." and ".."; on Lustre, .lustre at the root; entries on another
 * device or at the root of a mount (STATX_ATTR_MOUNT_ROOT: bind mounts of
 * the same filesystem) — neither stored nor entered.
 *
 * Threads:
 *   walkers (N)  each keeps a private stack of directories to list (depth
 *                first: the frontier stays small) and hands the oldest
 *                half of it to a shared stack when another walker is idle.
 *                A directory is opened through its path from the root
 *                (openat(O_DIRECTORY|O_NOFOLLOW); by handle when the path
 *                exceeds PATH_MAX) and must still have the FID it was
 *                listed with (else it moved or was replaced: skipped, the
 *                changelog tells the rest). getdents64 lists it; every
 *                entry is statx-ed relative to the directory descriptor.
 *                Entries go into the walker's chunk (2048 entries + their
 *                names); full chunks join the writer's FIFO queue (at most
 *                64 chunks: walkers wait when the writer lags).
 *   writer (the caller)  pops chunks in FIFO order: one loafre__idx_bulk_add
 *                (upsert + link) per entry, commit every `batch` entries,
 *                inside one bulk load (lib/index_store.h: rollups computed
 *                once at the end, SQLite's entry_us index built then).
 * Ordering: a directory's entry must reach the store before its children's
 * links. A walker emits a directory's entry before listing it, in its own
 * chunk, so its own later entries follow it; before it shares directories
 * with other walkers it publishes its chunk, so the entries of the shared
 * directories are queued before anything another walker emits below them.
 */
#include "index_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "index_fetch.h"
#include "localfs_internal.h"
#include "util.h"

#define HANDLE_MAX 128
#define CHUNK_ENTS 2048
#define QUEUE_MAX 64
#define DENTS_BUF (64 * 1024)
#define NO_LINK UINT32_MAX

/* A directory waiting to be listed. */
struct dir_item {
	struct loafre_fid fid;  /* its FID, as seen when its parent was listed */
	uint32_t len;           /* strlen(path) */
	char path[];            /* relative to the root ("" = the root) */
};

/* An entry on its way to the store. */
struct ent {
	struct loafre_fid fid;      /* the object */
	struct loafre_fid parent;   /* the directory listed */
	struct loafre__idx_attr a;  /* attributes (a.symlink set by the writer) */
	uint32_t name_off;          /* name in the chunk's arena */
	uint32_t link_off;          /* symlink target in the arena, or NO_LINK */
};

struct chunk {
	struct chunk *next;   /* in the writer's queue */
	size_t n;             /* entries used */
	struct ent ents[CHUNK_ENTS]; /* the entries */
	char *arena;          /* names and symlink targets, NUL-terminated */
	size_t arena_len;     /* bytes used */
	size_t arena_cap;     /* bytes allocated */
};

struct scan {
	const struct loafre__scan_opts *o; /* the caller's options */
	enum loafre_fs_type type;   /* how FIDs are made */
	int root_fd;                /* O_RDONLY|O_DIRECTORY on the root */
	int fid_dir_fd;             /* Lustre: ROOT/.lustre/fid, else -1 */
	dev_t root_dev;             /* the filesystem scanned */
	struct loafre_fid root_fid; /* the root's FID */
	unsigned nworkers;          /* walkers started */

	pthread_mutex_t mu;         /* protects everything below */
	pthread_cond_t work_cv;     /* the shared stack got items, or done/abort */
	pthread_cond_t out_cv;      /* a chunk was queued, or a walker exited */
	pthread_cond_t space_cv;    /* the writer took a chunk, or abort */
	struct dir_item **shared;   /* shared stack of directories */
	size_t nshared, capshared;  /* items in it, room */
	unsigned idle;              /* walkers waiting for work */
	bool done;                  /* walk complete */
	bool abort;                 /* writer failed or interrupted */
	int fatal;                  /* first fatal walker error (-ENOMEM) */
	struct chunk *q_head, *q_tail; /* chunks for the writer (FIFO) */
	size_t nq;                  /* chunks queued */
	unsigned alive;             /* walkers not yet exited */

	atomic_uint hungry;         /* = idle, readable without the lock */
	atomic_uint_fast64_t dirs, vanished, mounts, errors; /* figures (scan_progress) */
};

struct walker {
	struct scan *s;             /* the walk */
	pthread_t th;               /* its thread */
	struct dir_item **stack;    /* private stack (top = end) */
	size_t n, cap;              /* items, room */
	struct chunk *c;            /* chunk being filled, or NULL */
	char *dents;                /* getdents64 buffer */
};

/* ---- chunks ------------------------------------------------------------------ */

static void chunk_free(struct chunk *c)
{
	if (!c)
		return;
	free(c->arena);
	free(c);
}

static int arena_put(struct chunk *c, const char *s, size_t len, uint32_t *ret_off)
{
	if (c->arena_len + len + 1 > c->arena_cap) {
		size_t cap = c->arena_cap ? c->arena_cap * 2 : 64 * 1024;
		char *p;

		while (cap < c->arena_len + len + 1)
			cap *= 2;
		p = realloc(c->arena, cap);
		if (!p)
			return -ENOMEM;
		c->arena = p;
		c->arena_cap = cap;
	}
	memcpy(c->arena + c->arena_len, s, len);
	c->arena[c->arena_len + len] = '\0';
	*ret_off = (uint32_t)c->arena_len;
	c->arena_len += len + 1;
	return 0;
}

/* Queues the walker's chunk for the writer (waits while the queue is full). */
static void publish(struct walker *w)
{
	struct scan *s = w->s;
	struct chunk *c = w->c;

	if (!c || c->n == 0)
		return;
	w->c = NULL;
	pthread_mutex_lock(&s->mu);
	while (s->nq >= QUEUE_MAX && !s->abort)
		pthread_cond_wait(&s->space_cv, &s->mu);
	if (s->abort) {
		pthread_mutex_unlock(&s->mu);
		chunk_free(c);
		return;
	}
	c->next = NULL;
	if (s->q_tail)
		s->q_tail->next = c;
	else
		s->q_head = c;
	s->q_tail = c;
	s->nq++;
	pthread_cond_signal(&s->out_cv);
	pthread_mutex_unlock(&s->mu);
}

static int emit(struct walker *w, const struct loafre_fid *fid, const struct loafre_fid *parent,
		const char *name, size_t namelen, const struct statx *stx, const char *link,
		size_t linklen)
{
	struct chunk *c = w->c;
	struct ent *e;
	int r;

	if (c && (c->n == CHUNK_ENTS)) {
		publish(w);
		c = NULL;
	}
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		w->c = c;
	}
	e = &c->ents[c->n];
	e->fid = *fid;
	e->parent = *parent;
	loafre__fetch_attr_of_statx(stx, &e->a);
	r = arena_put(c, name, namelen, &e->name_off);
	if (r < 0)
		return r;
	e->link_off = NO_LINK;
	if (link) {
		r = arena_put(c, link, linklen, &e->link_off);
		if (r < 0)
			return r;
	}
	c->n++;
	return 0;
}

/* ---- directory stacks ---------------------------------------------------------- */

static struct dir_item *item_new(const struct loafre_fid *fid, const char *base, size_t baselen,
				 const char *name, size_t namelen)
{
	size_t len = baselen ? baselen + 1 + namelen : namelen;
	struct dir_item *d = malloc(sizeof(*d) + len + 1);

	if (!d)
		return NULL;
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
	return d;
}

static int stack_push(struct dir_item ***stack, size_t *n, size_t *cap, struct dir_item *d)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		void *p = realloc(*stack, nc * sizeof(**stack));
		if (!p)
			return -ENOMEM;
		*stack = p;
		*cap = nc;
	}
	(*stack)[(*n)++] = d;
	return 0;
}

/* Hands the oldest half of the private stack to idle walkers. */
static int share(struct walker *w)
{
	struct scan *s = w->s;
	size_t k = w->n / 2;
	int r = 0;

	publish(w); /* the shared directories' entries go first */
	pthread_mutex_lock(&s->mu);
	if (s->nshared + k > s->capshared) {
		size_t nc = (s->nshared + k) * 2;
		void *p = realloc(s->shared, nc * sizeof(*s->shared));
		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		s->shared = p;
		s->capshared = nc;
	}
	memcpy(s->shared + s->nshared, w->stack, k * sizeof(*w->stack));
	s->nshared += k;
	memmove(w->stack, w->stack + k, (w->n - k) * sizeof(*w->stack));
	w->n -= k;
	pthread_cond_broadcast(&s->work_cv);
out:
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* Next directory: the private stack, else the shared one (waiting). NULL
 * when the walk is over. */
static struct dir_item *next_dir(struct walker *w)
{
	struct scan *s = w->s;
	struct dir_item *d = NULL;

	if (w->n)
		return w->stack[--w->n];
	publish(w);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (s->abort || s->done)
			break;
		if (s->nshared) {
			d = s->shared[--s->nshared];
			break;
		}
		s->idle++;
		atomic_store(&s->hungry, s->idle);
		if (s->idle == s->nworkers) {
			s->done = true;
			pthread_cond_broadcast(&s->work_cv);
		} else {
			pthread_cond_wait(&s->work_cv, &s->mu);
		}
		s->idle--;
		atomic_store(&s->hungry, s->idle);
	}
	pthread_mutex_unlock(&s->mu);
	return d;
}

/* ---- listing a directory -------------------------------------------------------- */

static bool gone_errno(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ELOOP || e == ESTALE;
}

static int handle_fid(struct scan *s, int dirfd, const char *name, int flags,
		      struct loafre_fid *ret)
{
	return loafre__fetch_fid_at(s->type, dirfd, name, flags, ret, NULL);
}

static int open_dir(struct scan *s, const struct dir_item *d)
{
	int fd;

	if (d->len == 0)
		return openat(s->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->len < PATH_MAX)
		return openat(s->root_fd, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* Too deep for a path: by FID. */
	if (s->type == LOAFRE_FS_LUSTRE) {
		char name[LOAFRE_FID_STRLEN];

		loafre_fid_format(&d->fid, name);
		return openat(s->fid_dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		union {
			struct file_handle fh;
			unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
		} h;

		if (loafre__lfs_handle_from_fid(&d->fid, &h.fh, HANDLE_MAX) < 0) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = loafre__open_by_handle(s->root_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return fd;
	}
}

static bool is_mount_root(const struct statx *stx)
{
#ifdef STATX_ATTR_MOUNT_ROOT
	return (stx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx->stx_attributes & STATX_ATTR_MOUNT_ROOT);
#else
	(void)stx;
	return false;
#endif
}

/* One entry of directory d (open as dfd). 0, or a fatal -errno. */
static int visit(struct walker *w, const struct dir_item *d, int dfd, const char *name)
{
	struct scan *s = w->s;
	size_t namelen = strlen(name);
	char linkbuf[PATH_MAX], *bigl = NULL;
	const char *link = NULL;
	size_t linklen = 0;
	struct loafre_fid fid;
	struct statx stx;
	int r;

	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &stx) < 0) {
		atomic_fetch_add(gone_errno(errno) ? &s->vanished : &s->errors, 1);
		return 0;
	}
	if (makedev(stx.stx_dev_major, stx.stx_dev_minor) != s->root_dev || is_mount_root(&stx)) {
		atomic_fetch_add(&s->mounts, 1);
		return 0;
	}
	r = handle_fid(s, dfd, name, 0, &fid);
	if (r < 0) {
		atomic_fetch_add(gone_errno(-r) ? &s->vanished : &s->errors, 1);
		return 0;
	}
	if (S_ISLNK(stx.stx_mode)) {
		ssize_t n = readlinkat(dfd, name, linkbuf, sizeof(linkbuf));

		if (n < 0) {
			atomic_fetch_add(gone_errno(errno) ? &s->vanished : &s->errors, 1);
			return 0;
		}
		if ((size_t)n == sizeof(linkbuf)) {
			r = loafre__fetch_readlink(dfd, name, (uint64_t)n * 2, &bigl);
			if (r < 0) {
				atomic_fetch_add(gone_errno(-r) ? &s->vanished : &s->errors, 1);
				return r == -ENOMEM ? r : 0;
			}
			link = bigl;
			linklen = strlen(bigl);
		} else {
			link = linkbuf;
			linklen = (size_t)n;
		}
	}
	r = emit(w, &fid, &d->fid, name, namelen, &stx, link, linklen);
	free(bigl);
	if (r < 0)
		return r;
	if (S_ISDIR(stx.stx_mode)) {
		struct dir_item *c = item_new(&fid, d->path, d->len, name, namelen);

		if (!c)
			return -ENOMEM;
		r = stack_push(&w->stack, &w->n, &w->cap, c);
		if (r < 0) {
			free(c);
			return r;
		}
	}
	return 0;
}

static int list_dir(struct walker *w, const struct dir_item *d)
{
	struct scan *s = w->s;
	bool at_root = d->len == 0;
	int dfd, r = 0;

	dfd = open_dir(s, d);
	if (dfd < 0) {
		atomic_fetch_add(gone_errno(errno) ? &s->vanished : &s->errors, 1);
		return 0;
	}
	if (!at_root) {
		struct loafre_fid now;

		r = handle_fid(s, dfd, "", AT_EMPTY_PATH, &now);
		if (r < 0 || !loafre_fid_equal(&now, &d->fid)) {
			/* moved or replaced since its parent was listed */
			atomic_fetch_add(&s->vanished, 1);
			close(dfd);
			return 0;
		}
	}
	atomic_fetch_add(&s->dirs, 1);
	for (;;) {
		ssize_t n = getdents64(dfd, w->dents, DENTS_BUF);

		if (n == 0)
			break;
		if (n < 0) {
			atomic_fetch_add(gone_errno(errno) ? &s->vanished : &s->errors, 1);
			break;
		}
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(void *)(w->dents + off);
			const char *name = de->d_name;

			off += de->d_reclen;
			if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
				continue;
			if (at_root && s->type == LOAFRE_FS_LUSTRE && strcmp(name, ".lustre") == 0)
				continue;
			r = visit(w, d, dfd, name);
			if (r < 0)
				goto out;
		}
	}
out:
	close(dfd);
	return r;
}

static void *walker_main(void *arg)
{
	struct walker *w = arg;
	struct scan *s = w->s;
	struct dir_item *d;
	int r = 0;

	while ((d = next_dir(w))) {
		r = list_dir(w, d);
		free(d);
		if (r == 0 && w->n >= 2 && atomic_load(&s->hungry) > 0)
			r = share(w);
		if (r < 0)
			break;
	}
	if (r == 0)
		publish(w);
	chunk_free(w->c);
	w->c = NULL;
	while (w->n)
		free(w->stack[--w->n]);
	free(w->stack);
	w->stack = NULL;
	w->cap = 0;
	pthread_mutex_lock(&s->mu);
	if (r < 0) {
		if (!s->fatal)
			s->fatal = r;
		s->abort = true;
		pthread_cond_broadcast(&s->work_cv);
		pthread_cond_broadcast(&s->space_cv);
	}
	s->alive--;
	pthread_cond_signal(&s->out_cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- the writer ------------------------------------------------------------------ */

static double since(uint64_t t0)
{
	return (double)(loafre__mono_ns() - t0) / 1e9;
}

static void fill_progress(struct scan *s, struct loafre__scan_progress *p, uint64_t t0)
{
	p->dirs = atomic_load(&s->dirs);
	p->vanished = atomic_load(&s->vanished);
	p->mounts = atomic_load(&s->mounts);
	p->errors = atomic_load(&s->errors);
	p->elapsed = since(t0);
	p->rate = p->elapsed > 0 ? (double)p->entries / p->elapsed : 0;
}

static int count_link(void *ctx, const struct loafre_fid *parent, const char *name)
{
	(void)parent;
	(void)name;
	(*(unsigned *)ctx)++;
	return 0;
}

static int write_chunk(struct loafre__idx *x, const struct loafre__scan_opts *o, struct chunk *c,
		       struct loafre__scan_progress *p, struct scan *s, size_t *pending)
{
	for (size_t i = 0; i < c->n; i++) {
		struct ent *e = &c->ents[i];
		int r;

		e->a.symlink = e->link_off == NO_LINK ? NULL : c->arena + e->link_off;
		r = loafre__idx_bulk_add(x, &e->parent, c->arena + e->name_off, &e->fid, &e->a,
					 o->mdt);
		if (r == -EINVAL || r == -ENOENT) {
			/* a directory moved during the walk (under a subdirectory
			 * listed later): the changelog records the move. An entry
			 * left with no link at all is dropped. */
			unsigned nl = 0;

			atomic_fetch_add(&s->vanished, 1);
			r = loafre__idx_links(x, &e->fid, count_link, &nl);
			if (r == 0 && nl == 0)
				r = loafre__idx_delete(x, &e->fid);
			if (r < 0 && r != -ENOENT)
				return r;
			continue;
		}
		if (r < 0)
			return r;
		p->entries++;
		p->bytes += e->a.size;
		if (++*pending >= (o->batch ? o->batch : LOAFRE__SCAN_DEFAULT_BATCH)) {
			r = loafre__idx_commit(x);
			if (r < 0)
				return r;
			p->commits++;
			*pending = 0;
			r = loafre__idx_begin(x);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int scan_root(struct scan *s, struct loafre__idx *x, const struct loafre__scan_opts *o,
		     struct loafre__scan_progress *p)
{
	struct loafre__idx_attr a;
	struct statx stx;
	char *link = NULL;
	int r;

	if (statx(s->root_fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return -errno;
	s->root_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	if (s->type == LOAFRE_FS_LUSTRE) {
		s->root_fid = LOAFRE__FETCH_LUSTRE_ROOT;
	} else {
		r = handle_fid(s, s->root_fd, "", AT_EMPTY_PATH, &s->root_fid);
		if (r < 0)
			return r;
	}
	loafre__fetch_attr_of_statx(&stx, &a);
	a.symlink = link;
	r = loafre__idx_clear(x);
	if (r < 0)
		return r;
	r = loafre__idx_upsert(x, &s->root_fid, &a, o->mdt);
	if (r < 0)
		return r;
	r = loafre__idx_set_root(x, &s->root_fid);
	if (r == 0)
		r = loafre__idx_bulk_begin(x); /* rollups once, at the end */
	if (r < 0)
		return r;
	p->entries = 1;
	p->bytes = a.size;
	return 0;
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > (long)LOAFRE__SCAN_MAX_THREADS ? LOAFRE__SCAN_MAX_THREADS : (unsigned)n;
}

int loafre__scan(struct loafre__idx *x, const char *root, const struct loafre__scan_opts *o,
		 struct loafre__scan_progress *ret)
{
	struct loafre__scan_progress p;
	struct scan s;
	struct walker *ws = NULL;
	pthread_condattr_t ca;
	uint64_t t0 = loafre__mono_ns(), next_progress;
	unsigned nthreads, interval;
	size_t pending = 0;
	bool in_tx = false, threads_started = false;
	int r;

	memset(&p, 0, sizeof(p));
	memset(&s, 0, sizeof(s));
	s.root_fd = -1;
	s.fid_dir_fd = -1;
	if (!x || !root || !o || o->threads > LOAFRE__SCAN_MAX_THREADS ||
	    o->batch > LOAFRE__SCAN_MAX_BATCH || (o->n_positions && (!o->position_mdts || !o->positions)) ||
	    (o->type != LOAFRE_FS_LOCAL && o->type != LOAFRE_FS_LUSTRE)) {
		r = -EINVAL;
		goto out_early;
	}
	s.o = o;
	s.type = o->type;
	nthreads = o->threads ? o->threads : default_threads();
	interval = o->progress_ms ? o->progress_ms : 200;
	pthread_mutex_init(&s.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s.out_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s.work_cv, NULL);
	pthread_cond_init(&s.space_cv, NULL);

	s.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.root_fd < 0) {
		r = -errno;
		goto out;
	}
	if (s.type == LOAFRE_FS_LUSTRE) {
		s.fid_dir_fd = openat(s.root_fd, ".lustre/fid", O_PATH | O_DIRECTORY | O_CLOEXEC);
		/* only needed for paths beyond PATH_MAX: its absence is no error */
	}
	r = loafre__idx_begin(x);
	if (r < 0)
		goto out;
	in_tx = true;
	r = scan_root(&s, x, o, &p);
	if (r < 0)
		goto out;

	/* the walkers */
	{
		struct dir_item *d = item_new(&s.root_fid, "", 0, "", 0);

		if (!d) {
			r = -ENOMEM;
			goto out;
		}
		r = stack_push(&s.shared, &s.nshared, &s.capshared, d);
		if (r < 0) {
			free(d);
			goto out;
		}
	}
	ws = calloc(nthreads, sizeof(*ws));
	if (!ws) {
		r = -ENOMEM;
		goto out;
	}
	{
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (unsigned i = 0; i < nthreads; i++) {
			ws[i].s = &s;
			ws[i].dents = malloc(DENTS_BUF);
			if (!ws[i].dents)
				break;
			pthread_mutex_lock(&s.mu);
			s.nworkers++;
			s.alive++;
			pthread_mutex_unlock(&s.mu);
			if (pthread_create(&ws[i].th, NULL, walker_main, &ws[i]) != 0) {
				free(ws[i].dents);
				ws[i].dents = NULL;
				pthread_mutex_lock(&s.mu);
				s.nworkers--;
				s.alive--;
				pthread_mutex_unlock(&s.mu);
				break;
			}
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	threads_started = true;
	if (s.nworkers == 0) {
		r = -EAGAIN;
		goto out;
	}

	/* the writer */
	next_progress = loafre__mono_ns() + (uint64_t)interval * 1000000;
	for (;;) {
		struct chunk *c = NULL;

		pthread_mutex_lock(&s.mu);
		while (!s.q_head && s.alive > 0 && loafre__mono_ns() < next_progress &&
		       !(o->interrupted && *o->interrupted)) {
			struct timespec ts = { (time_t)(next_progress / 1000000000),
					       (long)(next_progress % 1000000000) };
			pthread_cond_timedwait(&s.out_cv, &s.mu, &ts);
		}
		if (s.q_head) {
			c = s.q_head;
			s.q_head = c->next;
			if (!s.q_head)
				s.q_tail = NULL;
			s.nq--;
			pthread_cond_signal(&s.space_cv);
		}
		bool finished = !c && s.alive == 0;
		pthread_mutex_unlock(&s.mu);

		if (o->interrupted && *o->interrupted) {
			chunk_free(c);
			r = -EINTR;
			goto out;
		}
		if (c) {
			r = write_chunk(x, o, c, &p, &s, &pending);
			chunk_free(c);
			if (r < 0)
				goto out;
		}
		if (o->progress && loafre__mono_ns() >= next_progress) {
			fill_progress(&s, &p, t0);
			o->progress(o->progress_ctx, &p);
			next_progress = loafre__mono_ns() + (uint64_t)interval * 1000000;
		} else if (!o->progress && loafre__mono_ns() >= next_progress) {
			next_progress = loafre__mono_ns() + (uint64_t)interval * 1000000;
		}
		if (finished)
			break;
	}
	if (s.fatal) {
		r = s.fatal;
		goto out;
	}
	r = loafre__idx_bulk_end(x);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < o->n_positions; i++) {
		r = loafre__idx_set_position(x, o->position_mdts[i], o->positions[i]);
		if (r < 0)
			goto out;
	}
	r = loafre__idx_commit(x);
	in_tx = false;
	if (r < 0)
		goto out;
	p.commits++;
	r = 0;
out:
	if (threads_started) {
		pthread_mutex_lock(&s.mu);
		s.abort = s.abort || r < 0;
		pthread_cond_broadcast(&s.work_cv);
		pthread_cond_broadcast(&s.space_cv);
		pthread_mutex_unlock(&s.mu);
		for (unsigned i = 0; i < s.nworkers; i++)
			pthread_join(ws[i].th, NULL);
	}
	if (ws) {
		for (unsigned i = 0; i < nthreads; i++)
			free(ws[i].dents);
		free(ws);
	}
	while (s.q_head) {
		struct chunk *c = s.q_head;
		s.q_head = c->next;
		chunk_free(c);
	}
	while (s.nshared)
		free(s.shared[--s.nshared]);
	free(s.shared);
	if (in_tx)
		loafre__idx_rollback(x);
	if (s.fid_dir_fd >= 0)
		close(s.fid_dir_fd);
	if (s.root_fd >= 0)
		close(s.root_fd);
	pthread_cond_destroy(&s.out_cv);
	pthread_cond_destroy(&s.work_cv);
	pthread_cond_destroy(&s.space_cv);
	pthread_mutex_destroy(&s.mu);
	fill_progress(&s, &p, t0);
	p.done = r == 0;
	if (o && o->progress && r == 0)
		o->progress(o->progress_ctx, &p);
	if (ret)
		*ret = p;
	return r;
out_early:
	if (ret)
		*ret = p;
	return r;
}
