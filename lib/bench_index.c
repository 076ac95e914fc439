/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * bench_index.c — `loafre bench index`: builds a synthetic filesystem in a
 * metadata-index store (SQLite; or PostgreSQL: loafre__bench_index_store_pg)
 * and times the operations issue 5 sets targets for.
 *
 * The tree (deterministic, seeded): n entries, a tenth of them directories
 * in a tree of depth ~6 (directory i's parent is (i - 1) / b with b the
 * smallest branching that keeps 6 levels), the files spread at random over
 * all directories (~9 per directory); directory names like "run_042", file
 * names like "restart_004213.nc" / "slurm-18.out" / "mesh.7.h5" (12-20
 * bytes, extensions weighted: .nc, .dat, .h5, .png, .out, .log, ..., .c
 * 2 %); 8 users, skewed; sizes log-uniform up to 16 GiB (5 % empty);
 * mtimes over two years, ctime = mtime for 80 %, atime = mtime for 50 %;
 * FIDs from 64 clients' sequences; 70 % of the files carry a 7-digit job
 * id; 1 % of the files get a second (hard) link in another directory.
 *
 * Figures: insert rate (upsert + link [+ set_jobid] per entry, a commit
 * every 65536 entries, directories in breadth-first order as a scan would
 * give them), bytes per entry (file after close, the WAL checkpointed),
 * then on a fresh read-only handle (a new process would be in the same
 * state with the OS cache warm): du -s of the root, select by an exact
 * name, by '*.c', by uid + size > 1 MiB, names() substring search (and
 * case-insensitive), each the best of 5 runs with its result count; a
 * directory rename near the root (one transaction); the consistency
 * check's duration.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index_backend.h"
#include "index_store.h"
#include "util.h"

#define BATCH 65536
#define RUNS 5

struct rng {
	uint64_t s; /* xorshift64* state */
};

static uint64_t rnd(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

static double rndf(struct rng *r)
{
	return (double)(rnd(r) >> 11) / 9007199254740992.0;
}

static const char *const dir_stems[] = {"run", "case", "exp", "job", "sim", "out",
					"src", "lib", "data", "results", "tmp", "build"};
static const char *const file_stems[] = {
	"wrfout_d01", "slurm", "data", "output", "restart", "checkpoint", "main", "utils",
	"config", "mesh", "result", "log", "input", "particles", "fields", "snapshot",
	"analysis", "plot", "test", "module", "kernel", "solver", "grid", "stats", "trace"};
static const struct {
	const char *ext; /* with its dot, or "" */
	unsigned weight; /* out of 100 */
} exts[] = {{".nc", 15}, {".dat", 12}, {".h5", 10}, {".png", 6}, {".out", 8}, {".log", 8},
	    {".txt", 6}, {".csv", 5},  {".json", 4}, {".py", 4}, {".c", 2},    {".h", 2},
	    {".f90", 2}, {".o", 3},    {".sh", 2},  {".tar.gz", 2}, {"", 9}};

static const char *pick_ext(struct rng *r)
{
	unsigned x = (unsigned)(rnd(r) % 100);

	for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(exts); i++) {
		if (x < exts[i].weight)
			return exts[i].ext;
		x -= exts[i].weight;
	}
	return "";
}

static void file_name(struct rng *r, char *buf, size_t cap, uint64_t idx)
{
	const char *stem = file_stems[rnd(r) % LOAFRE__ARRAY_SIZE(file_stems)];
	const char *ext = pick_ext(r);
	unsigned form = (unsigned)(rnd(r) % 4);

	if (form < 2)
		snprintf(buf, cap, "%s_%06" PRIu64 "%s", stem, idx, ext);
	else if (form == 2)
		snprintf(buf, cap, "%s-%" PRIu64 "%s", stem, idx, ext);
	else
		snprintf(buf, cap, "%s.%" PRIu64 "%s", stem, idx, ext);
}

struct fidgen {
	uint64_t seq[64];  /* each client's current sequence */
	uint32_t oid[64];  /* its next object id */
	uint64_t next_seq; /* next sequence handed out */
};

static struct loafre_fid next_fid(struct fidgen *g, struct rng *r)
{
	unsigned c = (unsigned)(rnd(r) % 64);
	struct loafre_fid f;

	if (g->seq[c] == 0 || g->oid[c] > 0x20000) {
		g->seq[c] = g->next_seq++;
		g->oid[c] = 1;
	}
	f.f_seq = g->seq[c];
	f.f_oid = g->oid[c]++;
	f.f_ver = 0;
	return f;
}

static void make_attr(struct rng *r, bool dir, const struct loafre_fid *fid,
		      struct loafre__idx_attr *a)
{
	double u = rndf(r);
	int64_t mt = (1700000000ll - (int64_t)(rnd(r) % (2 * 365 * 86400ull))) * 1000000000ll +
		     (int64_t)(rnd(r) % 1000000000ull);

	memset(a, 0, sizeof(*a));
	a->uid = 1000 + (u < 0.4 ? 0 : u < 0.65 ? 1 : u < 0.8 ? 2 : u < 0.9 ? 3 : 4 + (unsigned)(rnd(r) % 4));
	a->gid = a->uid;
	if (dir) {
		a->mode = 040755;
		a->size = 4096;
		a->blocks = 8;
		a->nlink = 2;
	} else {
		a->mode = rnd(r) % 10 ? 0100644 : 0100755;
		a->size = rnd(r) % 20 ? (uint64_t)exp2(rndf(r) * 34.0) : 0;
		a->blocks = (a->size + 4095) / 4096 * 8;
		a->nlink = 1;
	}
	a->mtime_ns = mt;
	a->ctime_ns = rnd(r) % 5 ? mt : mt + (int64_t)(rnd(r) % 1000000) * 1000000000ll;
	a->atime_ns = rnd(r) % 2 ? mt : mt + (int64_t)(rnd(r) % (30 * 86400)) * 1000000000ll;
	a->ino = loafre__idx_fid_ino(fid);
	a->dev = 0x2c0b3f6a;
}

/* Times of the queries. */
struct count {
	uint64_t n; /* results */
};

static int count_link(void *ctx, const struct loafre_fid *parent, const char *name,
		      const struct loafre__idx_entry *e)
{
	(void)parent;
	(void)name;
	(void)e;
	((struct count *)ctx)->n++;
	return 0;
}

static double ms_since(uint64_t t0)
{
	return (double)(loafre__mono_ns() - t0) / 1e6;
}

/* CPU time of this thread (ns): on a shared machine, what the work cost. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Best of RUNS: wall and CPU milliseconds of the fastest run. */
struct best {
	double wall, cpu; /* ms */
};

static void best_add(struct best *b, uint64_t t0, uint64_t c0)
{
	double w = ms_since(t0), c = (double)(cpu_ns() - c0) / 1e6;

	if (b->wall == 0 || w < b->wall) {
		b->wall = w;
		b->cpu = c;
	}
}

static int time_select(struct loafre__idx *x, const struct loafre__idx_filter *f, const char *what,
		       FILE *out)
{
	struct best b = {0};
	struct count c = {0};

	for (int i = 0; i < RUNS; i++) {
		uint64_t t0 = loafre__mono_ns(), c0 = cpu_ns();
		int r;

		c.n = 0;
		r = loafre__idx_select(x, f, count_link, &c);
		if (r < 0)
			return r;
		best_add(&b, t0, c0);
	}
	fprintf(out, "select %s: %.2f ms (cpu %.2f ms; %" PRIu64 " results)\n", what, b.wall, b.cpu,
		c.n);
	return 0;
}

static int time_names(struct loafre__idx *x, const char *needle, bool icase, FILE *out)
{
	struct best b = {0};
	struct count c = {0};

	for (int i = 0; i < RUNS; i++) {
		uint64_t t0 = loafre__mono_ns(), c0 = cpu_ns();
		int r;

		c.n = 0;
		r = loafre__idx_names(x, needle, icase, count_link, &c);
		if (r < 0)
			return r;
		best_add(&b, t0, c0);
	}
	fprintf(out, "names '%s'%s: %.2f ms (cpu %.2f ms; %" PRIu64 " results)\n", needle,
		icase ? " (icase)" : "", b.wall, b.cpu, c.n);
	return 0;
}

/* A PostgreSQL store outlives the bench: its rows go (one transaction). */
static int empty_store(struct loafre__idx *x)
{
	int r = loafre__idx_begin(x);

	if (r == 0)
		r = loafre__idx_clear(x);
	if (r == 0)
		r = loafre__idx_commit(x);
	else
		loafre__idx_rollback(x);
	return r;
}

static void bench_cleanup(const char *tmp)
{
	char p[4200];
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};

	for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(sfx); i++) {
		snprintf(p, sizeof(p), "%s/index.db%s", tmp, sfx[i]);
		unlink(p);
	}
	rmdir(tmp);
}

/* The store bench on a backend: SQLite in a temporary directory under
 * `where`, or PostgreSQL at the conninfo `where` (the store of filesystem
 * "bench": emptied first, emptied again at the end). */
static int bench_store(enum loafre__idx_backend be, const char *where, uint64_t n_entries, FILE *out)
{
	struct loafre__idx *x = NULL;
	struct rng rg = {0x9E3779B97F4A7C15ull};
	struct fidgen fg = {.next_seq = 0x200000400ull};
	struct loafre_fid *dirs = NULL, root, exact_parent = {0};
	uint32_t *nfiles = NULL;
	char tmp[4000], path[4200], err[256], name[64], exact[64] = "", renamed[64];
	uint64_t ndirs, nfile, t0, c0, done = 0, b, levels, hard = 0, bytes, entries;
	struct loafre__idx_attr a;
	struct loafre__idx_sum sum;
	unsigned depth = 0;
	int r;

	err[0] = '\0';
	if (n_entries < 100 || n_entries > (1ull << 32))
		return -EINVAL;
	tmp[0] = '\0';
	if (be == LOAFRE__IDX_SQLITE) {
		snprintf(tmp, sizeof(tmp), "%s/loafre-bench-index-XXXXXX", where);
		if (!mkdtemp(tmp))
			return -errno;
		snprintf(path, sizeof(path), "%s/index.db", tmp);
	} else {
		snprintf(path, sizeof(path), "%s", where);
	}
	r = loafre__idx_open(be, path, "bench", LOAFRE__IDX_CREATE, &x, err, sizeof(err));
	if (r == 0 && be != LOAFRE__IDX_SQLITE) /* a store left by an earlier run */
		r = empty_store(x);
	if (r < 0)
		goto out;

	ndirs = n_entries / 10;
	nfile = n_entries - ndirs;
	/* the smallest branching b with 1 + b + ... + b^6 >= ndirs */
	for (b = 2;; b++) {
		uint64_t tot = 0, p = 1;

		for (levels = 0; levels <= 6; levels++, p *= b)
			tot += p;
		if (tot >= ndirs)
			break;
	}
	for (uint64_t i = ndirs - 1; i > 0; i = (i - 1) / b)
		depth++; /* levels below the root of the deepest directory */
	dirs = calloc(ndirs, sizeof(*dirs));
	nfiles = calloc(ndirs, sizeof(*nfiles));
	if (!dirs || !nfiles) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < nfile; i++)
		nfiles[rnd(&rg) % ndirs]++;

	t0 = loafre__mono_ns();
	c0 = cpu_ns();
	r = loafre__idx_begin(x);
	for (uint64_t d = 0; r == 0 && d < ndirs; d++) {
		dirs[d] = next_fid(&fg, &rg);
		make_attr(&rg, true, &dirs[d], &a);
		r = loafre__idx_upsert(x, &dirs[d], &a, 0);
		if (r == 0 && d == 0) {
			root = dirs[0];
			r = loafre__idx_set_root(x, &root);
		} else if (r == 0) {
			uint64_t parent = (d - 1) / b;

			snprintf(name, sizeof(name), "%s_%03" PRIu64,
				 dir_stems[rnd(&rg) % LOAFRE__ARRAY_SIZE(dir_stems)], (d - 1) % b);
			r = loafre__idx_link(x, &dirs[parent], name, &dirs[d]);
		}
		done++;
		for (uint32_t k = 0; r == 0 && k < nfiles[d]; k++) {
			struct loafre_fid f = next_fid(&fg, &rg);

			make_attr(&rg, false, &f, &a);
			file_name(&rg, name, sizeof(name), rnd(&rg) % 1000 * 1000 + k);
			r = loafre__idx_upsert(x, &f, &a, 0);
			if (r == 0)
				r = loafre__idx_link(x, &dirs[d], name, &f);
			if (r == 0 && rnd(&rg) % 10 < 7) {
				char job[16];

				snprintf(job, sizeof(job), "%07" PRIu64, 4000000 + rnd(&rg) % 20000);
				r = loafre__idx_set_jobid(x, &f, job);
			}
			if (r == 0 && !exact[0] && done >= n_entries / 2) {
				snprintf(exact, sizeof(exact), "%s", name);
				exact_parent = dirs[d];
			}
			/* 1 %: a hard link in another directory */
			if (r == 0 && rnd(&rg) % 100 == 0) {
				char hl[128];

				snprintf(hl, sizeof(hl), "link-%" PRIu64 "-%s", hard++, name);
				r = loafre__idx_link(x, &dirs[rnd(&rg) % (d + 1)], hl, &f);
			}
			done++;
			if (r == 0 && done % BATCH == 0) {
				r = loafre__idx_commit(x);
				if (r == 0)
					r = loafre__idx_begin(x);
			}
		}
	}
	if (r == 0)
		r = loafre__idx_commit(x);
	if (r < 0) {
		snprintf(err, sizeof(err), "insert: %s", loafre__idx_errmsg(x));
		goto out;
	}
	fprintf(out, "insert: %.0f entries/s (cpu: %.0f entries/s; %" PRIu64 " entries: %" PRIu64
		" directories, %" PRIu64 " files, %" PRIu64 " hard links, depth %u, %.1f s)\n",
		(double)done * 1e9 / (double)(loafre__mono_ns() - t0),
		(double)done * 1e9 / (double)(cpu_ns() - c0), done, ndirs, nfile, hard, depth,
		(double)(loafre__mono_ns() - t0) / 1e9);
	(void)exact_parent;
	loafre__idx_close(x); /* the last connection checkpoints the WAL */
	x = NULL;

	r = loafre__idx_open(be, path, "bench", LOAFRE__IDX_READONLY, &x, err, sizeof(err));
	if (r == 0)
		r = loafre__idx_size(x, &bytes, &entries);
	if (r < 0)
		goto out;
	fprintf(out, "size: %.1f bytes/entry (%" PRIu64 " bytes, %" PRIu64 " entries)\n",
		(double)bytes / (double)entries, bytes, entries);

	{
		struct best bs = {0};

		for (int i = 0; i < RUNS && r == 0; i++) {
			t0 = loafre__mono_ns();
			c0 = cpu_ns();
			r = loafre__idx_dirsum(x, &root, &sum);
			best_add(&bs, t0, c0);
		}
		if (r < 0)
			goto out;
		fprintf(out, "du -s root: %.3f ms (cpu %.3f ms; %" PRIu64 " inodes, %" PRIu64 " blocks)\n",
			bs.wall, bs.cpu, sum.inodes, sum.blocks);
	}
	{
		struct loafre__idx_filter f = {.name_glob = exact};

		r = time_select(x, &f, "-name <exact>", out);
		if (r == 0) {
			f.name_glob = "*.c";
			r = time_select(x, &f, "-name '*.c'", out);
		}
		if (r == 0) {
			f.name_glob = "restart_0042*";
			r = time_select(x, &f, "-name 'restart_0042*'", out);
		}
		if (r == 0) {
			memset(&f, 0, sizeof(f));
			f.has_uid = true;
			f.uid = 1001;
			f.size_min = (1u << 20) + 1;
			r = time_select(x, &f, "-user 1001 -size +1M", out);
		}
		if (r == 0) {
			memset(&f, 0, sizeof(f));
			f.has_uid = true;
			f.uid = 1004;
			f.size_min = (1u << 30) + 1;
			r = time_select(x, &f, "-user 1004 -size +1G", out);
		}
		if (r == 0) {
			memset(&f, 0, sizeof(f));
			f.size_min = 1ull << 33;
			r = time_select(x, &f, "-size +8G", out);
		}
		if (r == 0) {
			memset(&f, 0, sizeof(f));
			f.mtime_min = (1700000000ll - 86400) * 1000000000ll;
			r = time_select(x, &f, "-mtime -1 (scan)", out);
		}
	}
	if (r == 0)
		r = time_names(x, "mesh_0420", false, out);
	if (r == 0)
		r = time_names(x, "MESH_0420", true, out);
	if (r == 0)
		r = time_names(x, ".f90", false, out);
	if (r < 0)
		goto out;
	loafre__idx_close(x);
	x = NULL;

	/* a directory near the root moves under another one */
	r = loafre__idx_open(be, path, "bench", 0, &x, err, sizeof(err));
	if (r < 0)
		goto out;
	snprintf(renamed, sizeof(renamed), "moved_here");
	t0 = loafre__mono_ns();
	c0 = cpu_ns();
	r = loafre__idx_begin(x);
	if (r == 0)
		r = loafre__idx_link(x, &dirs[2], renamed, &dirs[1]);
	if (r == 0)
		r = loafre__idx_commit(x);
	if (r < 0)
		goto out;
	fprintf(out, "rename of a directory near the root: %.3f ms (cpu %.3f ms; commit included)\n",
		ms_since(t0), (double)(cpu_ns() - c0) / 1e6);
	t0 = loafre__mono_ns();
	r = loafre__idx_check(x, err, sizeof(err));
	if (r < 0)
		goto out;
	fprintf(out, "check: consistent (%.1f s)\n", (double)(loafre__mono_ns() - t0) / 1e9);
out:
	if (r < 0 && err[0])
		fprintf(out, "error: %s\n", err);
	if (x && be != LOAFRE__IDX_SQLITE)
		empty_store(x);
	loafre__idx_close(x);
	if (tmp[0])
		bench_cleanup(tmp);
	free(dirs);
	free(nfiles);
	return r;
}

int loafre__bench_index_store(const char *dir, uint64_t n_entries, FILE *out)
{
	return bench_store(LOAFRE__IDX_SQLITE, dir, n_entries, out);
}

int loafre__bench_index_store_pg(const char *conninfo, uint64_t n_entries, FILE *out)
{
	return bench_store(LOAFRE__IDX_POSTGRESQL, conninfo, n_entries, out);
}
