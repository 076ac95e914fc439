/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * bench_index_apply.c — throughput of the metadata index's record applier
 * (lib/index_apply.h) and of `loafre scan` (lib/index_scan.h), into SQLite.
 *
 * apply, without fetch: a synthetic stream of `n` records of one MDT —
 *   MKDIR 6 %, CREAT 34 %, CLOSE 30 %, RENME (a file to another directory,
 *   new name) 10 %, UNLNK (last link) 10 %, SATTR 10 % — over a tree that
 *   grows from 64 top directories (directories go under random existing
 *   ones, files into random directories), applied in batches of
 *   LOAFRE__APPLY_MERGE_MAX (50 000: what loafred's indexer merges into one
 *   transaction when it lags, lib/indexer.c).
 *   Attributes come from a synth function (type, a size derived from the
 *   FID), so every batch also refreshes the objects it touches: the figure
 *   is the store's ingest rate, no filesystem involved.
 * apply, with fetch: a real tree under `dir` (min(n / 2, 100000) files,
 *   100 per directory) is made first (not timed); then its MKDIR, CREAT and
 *   CLOSE records are applied in batches of LOAFRE__APPLY_MERGE_MAX with a
 *   fetcher of 4 threads (open_by_handle_at + statx per distinct FID and
 *   batch).
 * scan: a tree of `n` files (100 per directory, directories 30 per parent)
 *   made under `dir` (not timed, and synced so that its write-back does not
 *   compete), then scanned into a fresh store.
 * Everything is made in a temporary directory under `dir`, removed at the
 * end.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index_apply.h"
#include "index_fetch.h"
#include "index_scan.h"
#include "index_store.h"
#include "localfs_internal.h"
#include "util.h"

#define BATCH LOAFRE__APPLY_MERGE_MAX /* what loafred's indexer applies per transaction */
#define MDT_NAME "bench-MDT0000"
#define SEQ 0x200000400ull

/* CPU time of the process (user + system), seconds: the figures of a busy
 * machine read better against it. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

#define BENCH_TMP_MAX (PATH_MAX - 64)

static int make_tmp(const char *dir, char *buf, size_t cap)
{
	if ((size_t)snprintf(buf, cap, "%s/loafre-bench-index.XXXXXX", dir) >= cap)
		return -ENAMETOOLONG;
	return mkdtemp(buf) ? 0 : -errno;
}

static uint64_t xs(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int open_store(const char *tmp, const char *name, struct loafre__idx **ret)
{
	char path[PATH_MAX], err[256];

	snprintf(path, sizeof(path), "%s/%.64s", tmp, name);
	return loafre__idx_open(LOAFRE__IDX_SQLITE, path, "bench", LOAFRE__IDX_CREATE, ret, err,
				sizeof(err));
}

/* ---- synthetic stream ----------------------------------------------------------- */

enum { K_NONE = 0, K_DIR = 1, K_FILE = 2 };

struct sobj {
	uint32_t parent;   /* oid of the parent directory (0: the root) */
	uint32_t pos;      /* index in dirs[] or files[] */
	uint64_t name;     /* the name is "%c%" PRIu64 of (kind letter, name) */
	uint8_t kind;      /* K_* */
};

struct synth {
	struct sobj *o;    /* by oid */
	uint32_t noids;    /* next oid */
	uint32_t *dirs, ndirs;     /* live directories (oids), count */
	uint32_t *files, nfiles;   /* live files (oids), count */
};

static struct loafre_fid sfid(uint32_t oid)
{
	return oid ? (struct loafre_fid){ SEQ, oid, 0 } : LOAFRE__FETCH_LUSTRE_ROOT;
}

static int synth_attr(void *ctx, const struct loafre_fid *fid, struct loafre__idx_attr *ret)
{
	struct synth *s = ctx;
	uint32_t oid = fid->f_seq == SEQ ? fid->f_oid : 0;
	uint8_t kind = oid ? (oid < s->noids ? s->o[oid].kind : K_NONE) : K_DIR;

	if (kind == K_NONE)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	ret->mode = kind == K_DIR ? (S_IFDIR | 0755) : (S_IFREG | 0644);
	ret->nlink = kind == K_DIR ? 2 : 1;
	ret->size = kind == K_DIR ? 4096 : (uint64_t)(oid * 2654435761u) % 1000000;
	ret->blocks = (ret->size + 511) / 512;
	ret->uid = 1000 + oid % 7;
	ret->gid = 100;
	ret->ino = oid;
	ret->mtime_ns = ret->ctime_ns = ret->atime_ns = 1700000000ll * 1000000000;
	return 0;
}

static void list_del(uint32_t *v, uint32_t *n, struct sobj *o, uint32_t pos)
{
	uint32_t last = v[--*n];

	v[pos] = last;
	o[last].pos = pos;
}

/* buf (24 bytes) = c followed by v in decimal; returns its length. (The
 * generator stands for a journal reader handing records over: snprintf
 * here cost a twentieth of the timed loop.) */
static uint16_t fmt_name(char *buf, char c, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf[0] = c;
	for (size_t i = 0; i < n; i++)
		buf[1 + i] = tmp[n - 1 - i];
	buf[n + 1] = '\0';
	return (uint16_t)(n + 1);
}

/* Fills recs[0..n) (names in names[i]) with the next records. */
static void synth_batch(struct synth *s, uint64_t *rng, uint64_t *index, struct loafre_rec *recs,
			char (*names)[2][24], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct loafre_rec *r = &recs[i];
		uint32_t k = (uint32_t)(xs(rng) % 100);

		memset(r, 0, sizeof(*r));
		names[i][0][0] = '\0';
		r->index = ++*index;
		r->time = loafre_cl_time(1700000000u + *index / 100000, 0);
		if (s->ndirs < 64 || (k < 6) || (s->nfiles < 16 && k >= 40)) {
			/* MKDIR */
			uint32_t oid = s->noids++;
			uint32_t parent = s->ndirs < 64 ? 0 : s->dirs[xs(rng) % s->ndirs];
			s->o[oid] = (struct sobj){ parent, s->ndirs, *index, K_DIR };
			s->dirs[s->ndirs++] = oid;
			r->type = LOAFRE_CL_MKDIR;
			r->tfid = sfid(oid);
			r->pfid = sfid(parent);
			fmt_name(names[i][0], 'd', *index);
		} else if (k < 40) {
			uint32_t oid = s->noids++;
			uint32_t parent = s->dirs[xs(rng) % s->ndirs];
			s->o[oid] = (struct sobj){ parent, s->nfiles, *index, K_FILE };
			s->files[s->nfiles++] = oid;
			r->type = LOAFRE_CL_CREATE;
			r->tfid = sfid(oid);
			r->pfid = sfid(parent);
			fmt_name(names[i][0], 'f', *index);
		} else {
			uint32_t oid = s->files[xs(rng) % s->nfiles];
			struct sobj *o = &s->o[oid];

			r->tfid = sfid(oid);
			if (k < 70) {
				r->type = LOAFRE_CL_CLOSE;
			} else if (k < 80) {
				uint32_t to = s->dirs[xs(rng) % s->ndirs];
				r->type = LOAFRE_CL_RENAME;
				r->flags = LOAFRE_CLF_RENAME;
				r->tfid = (struct loafre_fid){ 0, 0, 0 };
				r->sfid = sfid(oid);
				r->spfid = sfid(o->parent);
				r->pfid = sfid(to);
				r->snamelen = fmt_name(names[i][1], 'f', o->name);
				r->sname = names[i][1];
				fmt_name(names[i][0], 'f', *index);
				o->parent = to;
				o->name = *index;
			} else if (k < 90) {
				r->type = LOAFRE_CL_UNLINK;
				r->flags = LOAFRE_CLF_UNLINK_LAST;
				r->pfid = sfid(o->parent);
				fmt_name(names[i][0], 'f', o->name);
				list_del(s->files, &s->nfiles, s->o, o->pos);
				o->kind = K_NONE;
			} else {
				r->type = LOAFRE_CL_SETATTR;
			}
		}
		if (names[i][0][0] && (r->type != LOAFRE_CL_CLOSE && r->type != LOAFRE_CL_SETATTR)) {
			r->name = names[i][0];
			r->namelen = (uint16_t)strlen(names[i][0]);
		}
	}
}

static int bench_nofetch(const char *tmp, uint64_t n, bool with_synth, FILE *out)
{
	struct synth s = { 0 };
	struct loafre__idx *x = NULL;
	struct loafre__apply *a = NULL;
	struct loafre__apply_opts ao = { .mdt = MDT_NAME, .synth = with_synth ? synth_attr : NULL,
					 .synth_ctx = &s };
	struct loafre__apply_stats st;
	struct loafre_rec *recs = NULL;
	char (*names)[2][24] = NULL;
	uint64_t rng = 0x9e3779b97f4a7c15ull, index = 0, done = 0, t0, t1, bytes = 0, entries = 0;
	double c0, c1;
	struct loafre__idx_attr ra;
	struct loafre_fid root = LOAFRE__FETCH_LUSTRE_ROOT;
	int r;

	if (n > UINT32_MAX - 2)
		return -EINVAL;
	s.o = calloc(n + 2, sizeof(*s.o));
	s.dirs = calloc(n + 1, sizeof(*s.dirs));
	s.files = calloc(n + 1, sizeof(*s.files));
	recs = calloc(BATCH, sizeof(*recs));
	names = calloc(BATCH, sizeof(*names));
	if (!s.o || !s.dirs || !s.files || !recs || !names) {
		r = -ENOMEM;
		goto out;
	}
	s.noids = 1;
	r = open_store(tmp, with_synth ? "synth.db" : "records.db", &x);
	if (r < 0)
		goto out;
	synth_attr(&s, &root, &ra);
	r = loafre__idx_begin(x);
	if (r == 0)
		r = loafre__idx_upsert(x, &root, &ra, 0);
	if (r == 0)
		r = loafre__idx_set_root(x, &root);
	if (r == 0)
		r = loafre__idx_commit(x);
	if (r < 0)
		goto out;
	r = loafre__apply_open(x, &ao, &a);
	if (r < 0)
		goto out;
	c0 = cpu_s();
	t0 = loafre__mono_ns();
	while (done < n) {
		size_t k = n - done < BATCH ? (size_t)(n - done) : BATCH;

		synth_batch(&s, &rng, &index, recs, names, k);
		r = loafre__apply_batch(a, recs, k, NULL);
		if (r < 0)
			goto out;
		done += k;
	}
	t1 = loafre__mono_ns();
	c1 = cpu_s();
	loafre__apply_get_stats(a, &st);
	loafre__idx_size(x, &bytes, &entries);
	fprintf(out,
		"apply (no fetch, %s): %.0f records/s (%" PRIu64 " records in %.2f s, %.2f s of "
		"CPU; batches of %u, %" PRIu64 " entries, store %.1f MB)\n",
		with_synth ? "synthetic attributes, refreshed" : "attributes from the records",
		(double)n * 1e9 / (double)(t1 - t0 ? t1 - t0 : 1), n, (double)(t1 - t0) / 1e9,
		c1 - c0, BATCH, entries, (double)bytes / 1e6);
	if (st.applied != n || st.orphaned || st.conflicts)
		fprintf(out, "apply (no fetch): %" PRIu64 " applied, %" PRIu64 " orphaned, %" PRIu64
			     " conflicts (expected none)\n", st.applied, st.orphaned, st.conflicts);
	r = 0;
out:
	loafre__apply_close(a);
	loafre__idx_close(x);
	free(s.o);
	free(s.dirs);
	free(s.files);
	free(recs);
	free(names);
	return r;
}

/* ---- with fetch, on a real tree ----------------------------------------------------- */

static int fid_at(int dirfd, const char *name, struct loafre_fid *ret)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + 128];
	} h;
	int mnt;

	h.fh.handle_bytes = 128;
	if (name_to_handle_at(dirfd, name, &h.fh, &mnt, name[0] ? 0 : AT_EMPTY_PATH) < 0)
		return -errno;
	return loafre__lfs_fid_from_handle(h.fh.handle_type, h.fh.f_handle, h.fh.handle_bytes, ret);
}

struct made {
	struct loafre_fid fid;    /* the object */
	struct loafre_fid parent; /* its directory */
	uint32_t dir;             /* directory number, or UINT32_MAX for a directory */
	uint32_t num;             /* its number in the name */
};

/* Path of directory d (1-based; 0 is the root, "") relative to the root:
 * directory d lives in directory (d - 1) / fan. Returns its length. */
static size_t dir_path(uint64_t d, unsigned fan, char *buf, size_t cap)
{
	size_t len;
	int n;

	if (d == 0) {
		buf[0] = '\0';
		return 0;
	}
	len = dir_path((d - 1) / fan, fan, buf, cap);
	n = snprintf(buf + len, cap - len, "%s%c%" PRIu64, len ? "/" : "", 'd', d);
	if (n < 0 || (size_t)n >= cap - len)
		return len; /* cannot happen below PATH_MAX at these depths */
	return len + (size_t)n;
}

/* Makes `nfiles` files, `per` per directory, directories `fan` per parent,
 * under root (an open directory). If list is non-NULL, records every
 * object made (directories first, in creation order). */
static int make_tree(int rootfd, uint64_t nfiles, unsigned per, unsigned fan, struct made *list,
		     size_t *ret_n)
{
	uint64_t ndirs = (nfiles + per - 1) / per;
	struct loafre_fid dfid = { 0, 0, 0 };
	char path[PATH_MAX], ppath[PATH_MAX];
	size_t n = 0;
	int dfd = -1, r = 0;

	for (uint64_t d = 1; d <= ndirs; d++) {
		dir_path(d, fan, path, sizeof(path));
		if (mkdirat(rootfd, path, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (list) {
			dir_path((d - 1) / fan, fan, ppath, sizeof(ppath));
			list[n].dir = UINT32_MAX;
			list[n].num = (uint32_t)d;
			r = fid_at(rootfd, path, &list[n].fid);
			if (r == 0)
				r = fid_at(rootfd, ppath, &list[n].parent);
			if (r < 0)
				return r;
			n++;
		}
	}
	for (uint64_t i = 0; i < nfiles; i++) {
		uint64_t d = 1 + i / per;
		char name[32];
		int fd;

		if (i % per == 0) {
			if (dfd >= 0)
				close(dfd);
			dir_path(d, fan, path, sizeof(path));
			dfd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0)
				return -errno;
			r = fid_at(dfd, "", &dfid);
			if (r < 0)
				goto out;
		}
		snprintf(name, sizeof(name), "f%" PRIu64, i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = -errno;
			goto out;
		}
		if (i % 3 == 0 && write(fd, name, strlen(name)) < 0) {
			r = -errno;
			close(fd);
			goto out;
		}
		close(fd);
		if (list) {
			list[n].dir = (uint32_t)d;
			list[n].num = (uint32_t)i;
			list[n].parent = dfid;
			r = fid_at(dfd, name, &list[n].fid);
			if (r < 0)
				goto out;
			n++;
		}
	}
	if (ret_n)
		*ret_n = n;
	r = 0;
out:
	if (dfd >= 0)
		close(dfd);
	return r;
}

static int bench_fetch(const char *tmp, uint64_t n, FILE *out)
{
	uint64_t nfiles = n / 2 < 100000 ? n / 2 : 100000;
	char tree[PATH_MAX];
	struct made *list = NULL;
	struct loafre_rec *recs = NULL;
	char (*names)[24] = NULL;
	struct loafre__idx *x = NULL;
	struct loafre__fetch *f = NULL;
	struct loafre__apply *a = NULL;
	struct loafre__apply_stats st;
	struct loafre__fetch_result res;
	struct loafre_fid rootfid;
	size_t nmade = 0, nrecs, k = 0;
	uint64_t index = 0, t0, t1;
	double c0, c1;
	int rootfd = -1, r;

	if (nfiles == 0)
		nfiles = 1;
	snprintf(tree, sizeof(tree), "%s/tree", tmp);
	if (mkdir(tree, 0755) < 0)
		return -errno;
	rootfd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	list = calloc(nfiles + nfiles / 100 + 2, sizeof(*list));
	if (!list) {
		r = -ENOMEM;
		goto out;
	}
	r = make_tree(rootfd, nfiles, 100, 30, list, &nmade);
	if (r < 0)
		goto out;
	syncfs(rootfd);
	nrecs = nmade + nfiles; /* MKDIR per directory, CREAT + CLOSE per file */
	recs = calloc(nrecs, sizeof(*recs));
	names = calloc(nrecs, sizeof(*names));
	if (!recs || !names) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nmade; i++) {
		struct loafre_rec *rc = &recs[k];

		rc->index = ++index;
		rc->tfid = list[i].fid;
		rc->pfid = list[i].parent;
		rc->time = loafre_cl_time(1700000000u, 0);
		if (list[i].dir == UINT32_MAX) {
			rc->type = LOAFRE_CL_MKDIR;
			snprintf(names[k], 24, "d%u", list[i].num);
		} else {
			rc->type = LOAFRE_CL_CREATE;
			snprintf(names[k], 24, "f%u", list[i].num);
		}
		rc->name = names[k];
		rc->namelen = (uint16_t)strlen(names[k]);
		k++;
		if (list[i].dir != UINT32_MAX) {
			recs[k] = (struct loafre_rec){ .index = ++index, .type = LOAFRE_CL_CLOSE,
						       .tfid = list[i].fid, .time = rc->time };
			k++;
		}
	}
	r = open_store(tmp, "index.db", &x);
	if (r < 0)
		goto out;
	r = loafre__fetch_open(LOAFRE_FS_LOCAL, tree, 4, 0, &f);
	if (r < 0)
		goto out;
	r = loafre__fetch_path(f, "", &rootfid, &res);
	if (r < 0)
		goto out;
	r = loafre__idx_begin(x);
	if (r == 0)
		r = loafre__idx_upsert(x, &rootfid, &res.attr, 0);
	if (r == 0)
		r = loafre__idx_set_root(x, &rootfid);
	if (r == 0)
		r = loafre__idx_commit(x);
	loafre__fetch_results_free(&res, 1);
	if (r < 0)
		goto out;
	{
		struct loafre__apply_opts ao = { .mdt = MDT_NAME, .fetch = f };
		r = loafre__apply_open(x, &ao, &a);
		if (r < 0)
			goto out;
	}
	c0 = cpu_s();
	t0 = loafre__mono_ns();
	for (size_t i = 0; i < k; i += BATCH) {
		size_t m = k - i < BATCH ? k - i : BATCH;
		r = loafre__apply_batch(a, recs + i, m, NULL);
		if (r < 0)
			goto out;
	}
	t1 = loafre__mono_ns();
	c1 = cpu_s();
	loafre__apply_get_stats(a, &st);
	fprintf(out,
		"apply (fetch, 4 threads): %.0f records/s, %.0f fetches/s (%zu records over %zu "
		"objects in %.2f s, %.2f s of CPU; batches of %u)\n",
		(double)k * 1e9 / (double)(t1 - t0 ? t1 - t0 : 1),
		(double)st.fetches * 1e9 / (double)(t1 - t0 ? t1 - t0 : 1), k, nmade,
		(double)(t1 - t0) / 1e9, c1 - c0, BATCH);
	if (st.gone || st.errors || st.orphaned)
		fprintf(out, "apply (fetch): %" PRIu64 " gone, %" PRIu64 " errors, %" PRIu64
			     " orphaned (expected none)\n", st.gone, st.errors, st.orphaned);
	r = 0;
out:
	loafre__apply_close(a);
	loafre__fetch_close(f);
	loafre__idx_close(x);
	if (rootfd >= 0)
		close(rootfd);
	free(list);
	free(recs);
	free(names);
	return r;
}

int loafre__bench_index_apply(const char *dir, uint64_t n_records, bool fetch, FILE *out)
{
	char tmp[BENCH_TMP_MAX];
	int r;

	if (n_records == 0)
		return -EINVAL;
	r = make_tmp(dir, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	if (fetch) {
		r = bench_fetch(tmp, n_records, out);
	} else {
		r = bench_nofetch(tmp, n_records, false, out);
		if (r == 0)
			r = bench_nofetch(tmp, n_records, true, out);
	}
	nftw(tmp, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
	return r;
}

int loafre__bench_index_scan(const char *dir, uint64_t n_files, unsigned threads, FILE *out)
{
	struct loafre__scan_opts o = { .type = LOAFRE_FS_LOCAL, .threads = threads };
	struct loafre__scan_progress p;
	struct loafre__idx *x = NULL;
	char tmp[BENCH_TMP_MAX], tree[PATH_MAX];
	uint64_t t0, t1;
	double c0;
	int rootfd = -1, r;

	if (n_files == 0)
		return -EINVAL;
	r = make_tmp(dir, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	snprintf(tree, sizeof(tree), "%s/tree", tmp);
	if (mkdir(tree, 0755) < 0) {
		r = -errno;
		goto out;
	}
	rootfd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = -errno;
		goto out;
	}
	t0 = loafre__mono_ns();
	r = make_tree(rootfd, n_files, 100, 30, NULL, NULL);
	if (r < 0)
		goto out;
	syncfs(rootfd); /* its write-back is not the scan's */
	t1 = loafre__mono_ns();
	fprintf(out, "scan: tree of %" PRIu64 " files made in %.1f s\n", n_files,
		(double)(t1 - t0) / 1e9);
	r = open_store(tmp, "index.db", &x);
	if (r < 0)
		goto out;
	c0 = cpu_s();
	r = loafre__scan(x, tree, &o, &p);
	if (r < 0)
		goto out;
	fprintf(out,
		"scan: %.0f entries/s (%" PRIu64 " entries, %" PRIu64 " directories in %.2f s, "
		"%.2f s of CPU; %u threads (0: one per CPU), %" PRIu64 " commits)\n",
		p.rate, p.entries, p.dirs, p.elapsed, cpu_s() - c0, threads, p.commits);
out:
	loafre__idx_close(x);
	if (rootfd >= 0)
		close(rootfd);
	nftw(tmp, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
	return r;
}
