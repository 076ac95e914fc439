/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_sync.c — the initial sync of a subtree to a destination
 * (loafre__dest_sync_tree in lib/repl_dest.h). No format of its own.
 *
 * Threads: `threads` walkers share a stack of directories (relative paths)
 * to process; the walk ends when the stack is empty and no walker is busy.
 * Processing a directory:
 *   1. with opts.delete: every destination name the source directory lacks
 *      (and the filter keeps: excluded entries are never deleted) is
 *      removed (unlink, or rmdir with its tree);
 *   2. every source entry the filter keeps: a directory is made (or its
 *      mode/owner/xattrs set) and pushed on the stack; a regular file with
 *      several links is put aside; anything else is (re)made through
 *      loafre__dest_sync_entry unless identical at the destination: same
 *      type, size (regular files), mtime (ns), mode, owner (after the
 *      maps), symlink target length.
 * The operations of the sync do not reset their parent directories' times
 * (loafre__repl_tl_sync): every directory gets them once, at the end.
 * After the walk, by the caller's thread: the files put aside, grouped by
 * source (dev, inode) in name order: the first is copied (unless
 * identical), the others linked to it (loafre__dest_link: nothing if they
 * already are one file); then every directory's times are set from the
 * source (children first made them change), the subtree's root last.
 * Source entries that vanish during the walk are skipped (the changelog
 * replayed after the sync covers them).
 *
 * Round trips (what makes a remote destination fast): each directory's
 * destination entries come with their lstat in one listing
 * (loafre__dest_list_stat), so neither the deletion pass nor the
 * comparison asks per entry; each walker copies in a batch
 * (loafre__dest_batch_begin: a remote type queues the files and transfers
 * them a few thousand at a time, with one rsync each) and flushes it
 * before it ends, copies that fail in a flush being reported through
 * opts.error like the others. A local destination ignores batches.
 */
#include "repl_dest.h"
#include "rule.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define THREADS_MAX 64
#define PROGRESS_EVERY 4096

/* A regular file with several links, handled after the walk. */
struct hl {
	dev_t dev;    /* source device */
	ino_t ino;    /* source inode */
	char *rel;    /* its name (owned) */
};

struct sync {
	struct loafre__dest *d;               /* the destination */
	int src_root;                         /* the caller's */
	const struct loafre__sync_opts *o;    /* options */
	pthread_mutex_t mu;                   /* protects everything below but counters */
	pthread_cond_t cv;                    /* work pushed, or done */
	char **stack;                         /* directories to process */
	size_t nstack, capstack;              /* used, room */
	unsigned busy;                        /* walkers processing a directory */
	bool done;                            /* walk over (or aborted) */
	int fatal;                            /* -ENOMEM: abort */
	struct hl *hls;                       /* multi-link files */
	size_t nhl, caphl;                    /* used, room */
	char **dirs;                          /* every directory synced (times last) */
	size_t ndirs, capdirs;                /* used, room */
	pthread_mutex_t report_mu;            /* serialises progress and error calls */
	_Atomic uint64_t entries, copied, bytes, deleted, errors; /* progress */
	_Atomic uint64_t next_report;         /* entries at the next progress call */
};

static int push_ptr(void ***arr, size_t *n, size_t *cap, size_t elem, const void *item)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		void *p = realloc(*arr, nc * elem);

		if (!p)
			return -ENOMEM;
		*arr = p;
		*cap = nc;
	}
	memcpy((char *)*arr + *n * elem, item, elem);
	(*n)++;
	return 0;
}

static void snapshot(struct sync *s, struct loafre__sync_progress *p)
{
	p->entries = atomic_load(&s->entries);
	p->copied = atomic_load(&s->copied);
	p->bytes = atomic_load(&s->bytes);
	p->deleted = atomic_load(&s->deleted);
	p->errors = atomic_load(&s->errors);
}

static void maybe_progress(struct sync *s)
{
	uint64_t e = atomic_load(&s->entries), next = atomic_load(&s->next_report);
	struct loafre__sync_progress p;

	if (!s->o->progress || e < next)
		return;
	if (!atomic_compare_exchange_strong(&s->next_report, &next, e + PROGRESS_EVERY))
		return;
	pthread_mutex_lock(&s->report_mu);
	snapshot(s, &p);
	s->o->progress(s->o->progress_arg, &p);
	pthread_mutex_unlock(&s->report_mu);
}

static void entry_failed(struct sync *s, const char *rel, int err, const char *why)
{
	atomic_fetch_add(&s->errors, 1);
	if (!s->o->error)
		return;
	pthread_mutex_lock(&s->report_mu);
	s->o->error(s->o->error_arg, rel, err, why[0] ? why : strerror(-err));
	pthread_mutex_unlock(&s->report_mu);
}

static void set_fatal(struct sync *s, int r)
{
	pthread_mutex_lock(&s->mu);
	if (!s->fatal)
		s->fatal = r;
	s->done = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static bool keep(struct sync *s, const char *rel, bool is_dir)
{
	return !s->o->filter || s->o->filter(s->o->filter_arg, rel, is_dir);
}

/* Is the destination entry (already statted) like the source's? */
static bool identical(struct loafre__dest *d, const struct stat *a, const struct stat *b)
{
	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT))
		return false;
	if ((S_ISREG(a->st_mode) || S_ISLNK(a->st_mode)) && a->st_size != b->st_size)
		return false;
	if (!S_ISLNK(a->st_mode) && (a->st_mode & 07777) != (b->st_mode & 07777))
		return false;
	if (loafre__idmap_map(d->o.uid_map, a->st_uid) != b->st_uid ||
	    loafre__idmap_map(d->o.gid_map, a->st_gid) != b->st_gid)
		return false;
	if ((S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode)) && a->st_rdev != b->st_rdev)
		return false;
	if (S_ISDIR(a->st_mode))
		return true; /* times are set at the end */
	return a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static char *join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", dir, dir[0] ? "/" : "", name) < 0)
		return NULL;
	return p;
}

/* A destination directory's entries with their lstat (list_stat). */
struct dlist {
	struct dent {
		char *name;       /* the name (owned) */
		struct stat st;   /* its lstat */
	} *v;                     /* sorted by name after dlist_load */
	size_t n, cap;            /* used, room */
	bool valid;               /* loaded (else: ask per entry) */
};

static int dl_add(void *arg, const char *name, const struct stat *st)
{
	struct dlist *l = arg;
	struct dent e = { strdup(name), *st };

	if (!e.name || push_ptr((void ***)&l->v, &l->n, &l->cap, sizeof(e), &e) < 0) {
		free(e.name);
		return -ENOMEM;
	}
	return 0;
}

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static void dlist_free(struct dlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	*l = (struct dlist){ 0 };
}

/* Loads destination directory rel: 0 (valid, maybe empty: rel missing), or
 * -ENOMEM; other errors leave it invalid (then per-entry lstat). */
static int dlist_load(struct loafre__dest *d, const char *rel, struct dlist *l)
{
	int r = loafre__dest_list_stat(d, rel, dl_add, l);

	if (r == -ENOMEM) {
		dlist_free(l);
		return r;
	}
	if (r < 0 && r != -ENOENT) {
		dlist_free(l);
		return 0;
	}
	if (r == -ENOENT)
		dlist_free(l);
	l->valid = true;
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), dent_cmp);
	return 0;
}

/* name's entry in l, or NULL. */
static const struct stat *dlist_find(const struct dlist *l, const char *name)
{
	struct dent key = { (char *)name, { 0 } };
	const struct dent *e = l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), dent_cmp) : NULL;

	return e ? &e->st : NULL;
}

/* Destination lstat of crel (whose name in its directory is name) through
 * the listing l when valid: 0 or -ENOENT/-errno. */
static int dest_stat(struct sync *s, const struct dlist *l, const char *crel, const char *name,
		     struct stat *ret)
{
	const struct stat *st;

	if (!l || !l->valid)
		return loafre__dest_lstat(s->d, crel, ret);
	st = dlist_find(l, name);
	if (!st)
		return -ENOENT;
	*ret = *st;
	return 0;
}

/* Deletion pass: collects destination names of dir `rel`. */
struct names {
	char **v;      /* names (owned) */
	size_t n, cap; /* used, room */
};

static int collect(void *arg, const char *name)
{
	struct names *ns = arg;
	char *c = strdup(name);

	if (!c || push_ptr((void ***)&ns->v, &ns->n, &ns->cap, sizeof(char *), &c) < 0) {
		free(c);
		return -ENOMEM;
	}
	return 0;
}

static int delete_absent(struct sync *s, int sfd, const char *rel, const struct dlist *l)
{
	struct names ns = { 0 };
	char why[LOAFRE__DEST_WHY_MAX];
	int r = 0;

	if (l->valid) {
		for (size_t i = 0; i < l->n && r == 0; i++)
			r = collect(&ns, l->v[i].name);
	} else {
		r = loafre__dest_list(s->d, rel, collect, &ns);
	}
	if (r < 0)
		goto out;
	for (size_t i = 0; i < ns.n; i++) {
		struct stat st, dst;
		char *crel;

		if (fstatat(sfd, ns.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			continue;
		crel = join(rel, ns.v[i]);
		if (!crel) {
			r = -ENOMEM;
			goto out;
		}
		if (dest_stat(s, l, crel, ns.v[i], &dst) == 0 &&
		    keep(s, crel, S_ISDIR(dst.st_mode))) {
			why[0] = '\0';
			r = S_ISDIR(dst.st_mode) ? loafre__dest_rmdir(s->d, s->src_root, crel, why)
						 : loafre__dest_unlink(s->d, s->src_root, crel, why);
			if (r < 0)
				entry_failed(s, crel, r, why);
			else
				atomic_fetch_add(&s->deleted, 1);
		}
		free(crel);
	}
	r = 0;
out:
	for (size_t i = 0; i < ns.n; i++)
		free(ns.v[i]);
	free(ns.v);
	return r;
}

/* A copy of the walker's batch failed in a flush (opts.error). */
static void batch_failed(void *arg, const char *rel, int err, const char *why)
{
	struct sync *s = arg;

	atomic_fetch_sub(&s->copied, 1);
	entry_failed(s, rel, err, why ? why : "");
}

static void sync_one(struct sync *s, const struct dlist *l, const char *crel, const char *name,
		     const struct stat *st)
{
	char why[LOAFRE__DEST_WHY_MAX] = "";
	struct stat dst;
	int r;

	if (dest_stat(s, l, crel, name, &dst) == 0 && identical(s->d, st, &dst))
		return;
	r = loafre__dest_sync_entry(s->d, s->src_root, crel, why);
	if (r == -ENOENT && !why[0])
		return;
	if (r == -ENOENT && fstatat(s->src_root, crel, &dst, AT_SYMLINK_NOFOLLOW) < 0)
		return; /* vanished at the source */
	if (r < 0) {
		entry_failed(s, crel, r, why);
		return;
	}
	atomic_fetch_add(&s->copied, 1);
	if (S_ISREG(st->st_mode))
		atomic_fetch_add(&s->bytes, (uint64_t)st->st_size);
}

/* Processes directory rel (see the head comment). */
static int process_dir(struct sync *s, const char *rel)
{
	int p = loafre__repl_open_dir(s->src_root, rel, strlen(rel)), fd;
	struct dlist l = { 0 };
	DIR *dir;
	struct dirent *de;
	int r = 0;

	if (p < 0)
		return p == -ENOENT ? 0 : (entry_failed(s, rel[0] ? rel : ".", p, ""), 0);
	fd = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		entry_failed(s, rel[0] ? rel : ".", -errno, "");
		close(p);
		return 0;
	}
	r = dlist_load(s->d, rel, &l);
	if (r < 0)
		goto out_fd;
	if (s->o->delete) {
		r = delete_absent(s, p, rel, &l);
		if (r == -ENOMEM)
			goto out_fd;
		if (r < 0)
			entry_failed(s, rel[0] ? rel : ".", r, "");
		r = 0;
	}
	dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		goto out_fd;
	}
	fd = -1;
	while ((de = readdir(dir))) {
		struct stat st;
		char *crel;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(p, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished */
		crel = join(rel, de->d_name);
		if (!crel) {
			r = -ENOMEM;
			break;
		}
		atomic_fetch_add(&s->entries, 1);
		if (!keep(s, crel, S_ISDIR(st.st_mode))) {
			free(crel);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			sync_one(s, &l, crel, de->d_name, &st);
			pthread_mutex_lock(&s->mu);
			r = push_ptr((void ***)&s->stack, &s->nstack, &s->capstack, sizeof(char *),
				     &crel);
			if (r == 0) {
				char *dup = strdup(crel);

				if (!dup || push_ptr((void ***)&s->dirs, &s->ndirs, &s->capdirs,
						     sizeof(char *), &dup) < 0) {
					free(dup);
					r = -ENOMEM;
				}
				pthread_cond_signal(&s->cv);
			}
			pthread_mutex_unlock(&s->mu);
			if (r < 0)
				break;
			crel = NULL; /* owned by the stack */
		} else if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
			struct hl h = { st.st_dev, st.st_ino, crel };

			pthread_mutex_lock(&s->mu);
			r = push_ptr((void ***)&s->hls, &s->nhl, &s->caphl, sizeof(h), &h);
			pthread_mutex_unlock(&s->mu);
			if (r < 0)
				break;
			crel = NULL;
		} else {
			sync_one(s, &l, crel, de->d_name, &st);
		}
		free(crel);
		maybe_progress(s);
	}
	closedir(dir);
out_fd:
	if (fd >= 0)
		close(fd);
	close(p);
	dlist_free(&l);
	return r;
}

static void *walker(void *arg)
{
	struct sync *s = arg;
	char why[LOAFRE__DEST_WHY_MAX];
	bool batch = loafre__dest_batch_begin(s->d, batch_failed, s) == 0;

	loafre__repl_tl_sync = true;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		char *rel;
		int r;

		while (s->nstack == 0 && !s->done) {
			if (s->busy == 0) {
				s->done = true;
				pthread_cond_broadcast(&s->cv);
				break;
			}
			pthread_cond_wait(&s->cv, &s->mu);
		}
		if (s->done)
			break;
		rel = s->stack[--s->nstack];
		s->busy++;
		pthread_mutex_unlock(&s->mu);
		r = process_dir(s, rel);
		free(rel);
		if (r < 0)
			set_fatal(s, r);
		pthread_mutex_lock(&s->mu);
		if (batch && s->nstack == 0) {
			/* nothing to take now: what is queued goes (failures
			 * through batch_failed) before this walker may wait */
			pthread_mutex_unlock(&s->mu);
			loafre__dest_flush(s->d, why);
			pthread_mutex_lock(&s->mu);
		}
		s->busy--;
		if (s->busy == 0 && s->nstack == 0) {
			s->done = true;
			pthread_cond_broadcast(&s->cv);
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (batch)
		loafre__dest_batch_end(s->d, why); /* failures: batch_failed */
	loafre__repl_tl_sync = false;
	return NULL;
}

static int cmp_hl(const void *a, const void *b)
{
	const struct hl *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

static void do_links(struct sync *s)
{
	size_t i, j;

	if (s->nhl)
		qsort(s->hls, s->nhl, sizeof(*s->hls), cmp_hl);
	for (i = 0; i < s->nhl; i = j) {
		struct stat st;
		const char *first = s->hls[i].rel;

		if (fstatat(s->src_root, first, &st, AT_SYMLINK_NOFOLLOW) == 0)
			sync_one(s, NULL, first, NULL, &st);
		for (j = i + 1; j < s->nhl && s->hls[j].dev == s->hls[i].dev &&
				s->hls[j].ino == s->hls[i].ino;
		     j++) {
			char why[LOAFRE__DEST_WHY_MAX] = "";
			struct stat a, b;
			int r;

			if (loafre__dest_lstat(s->d, first, &a) == 0 &&
			    loafre__dest_lstat(s->d, s->hls[j].rel, &b) == 0 && a.st_ino == b.st_ino &&
			    a.st_dev == b.st_dev)
				continue;
			r = loafre__dest_link(s->d, s->src_root, first, s->hls[j].rel, why);
			if (r == -ENOENT) {
				if (fstatat(s->src_root, s->hls[j].rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
					sync_one(s, NULL, s->hls[j].rel, NULL, &st);
				continue;
			}
			if (r < 0)
				entry_failed(s, s->hls[j].rel, r, why);
			else
				atomic_fetch_add(&s->copied, 1);
		}
	}
}

int loafre__dest_sync_tree(struct loafre__dest *d, int src_root, const char *rel,
			   const struct loafre__sync_opts *opts,
			   struct loafre__sync_progress *ret)
{
	static const struct loafre__sync_opts defaults;
	struct sync s = { .d = d, .src_root = src_root, .o = opts ? opts : &defaults };
	pthread_t th[THREADS_MAX];
	unsigned n = s.o->threads ? s.o->threads : 4, started = 0;
	char why[LOAFRE__DEST_WHY_MAX] = "";
	char *top = NULL;
	int r = 0;

	if (n > THREADS_MAX)
		n = THREADS_MAX;
	if (rel[0]) {
		r = loafre__rel_check(rel);
		if (r < 0)
			return r;
		r = loafre__dest_mkdir(d, src_root, rel, why);
		if (r < 0)
			return r;
	}
	atomic_init(&s.next_report, PROGRESS_EVERY);
	pthread_mutex_init(&s.mu, NULL);
	pthread_mutex_init(&s.report_mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	top = strdup(rel);
	if (!top || push_ptr((void ***)&s.stack, &s.nstack, &s.capstack, sizeof(char *), &top) < 0) {
		free(top);
		r = -ENOMEM;
		goto out;
	}
	for (; started < n; started++)
		if (pthread_create(&th[started], NULL, walker, &s) != 0)
			break;
	if (started == 0) {
		r = -EAGAIN;
		goto out;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	r = s.fatal;
	if (r < 0)
		goto out;
	loafre__repl_tl_sync = true;
	do_links(&s);
	loafre__repl_tl_sync = false;
	for (size_t i = s.ndirs; i-- > 0;) {
		why[0] = '\0';
		r = loafre__dest_setattr(d, src_root, s.dirs[i], LOAFRE__ATTR_TIMES, why);
		if (r < 0 && r != -ENOENT)
			entry_failed(&s, s.dirs[i], r, why);
	}
	why[0] = '\0';
	r = loafre__dest_setattr(d, src_root, rel, LOAFRE__ATTR_ALL, why);
	if (r < 0 && r != -ENOENT)
		entry_failed(&s, rel[0] ? rel : ".", r, why);
	r = atomic_load(&s.errors) ? -EIO : 0;
	if (s.o->progress) {
		struct loafre__sync_progress p;

		snapshot(&s, &p);
		s.o->progress(s.o->progress_arg, &p);
	}
out:
	if (ret)
		snapshot(&s, ret);
	for (size_t i = 0; i < s.nstack; i++)
		free(s.stack[i]);
	free(s.stack);
	for (size_t i = 0; i < s.nhl; i++)
		free(s.hls[i].rel);
	free(s.hls);
	for (size_t i = 0; i < s.ndirs; i++)
		free(s.dirs[i]);
	free(s.dirs);
	pthread_mutex_destroy(&s.mu);
	pthread_mutex_destroy(&s.report_mu);
	pthread_cond_destroy(&s.cv);
	return r;
}
