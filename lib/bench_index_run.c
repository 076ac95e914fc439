/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * bench_index_run.c — `loafre bench index` end to end (issue 5): ingest
 * rates, a generated tree of N files scanned into a store, then the same
 * questions asked of GNU find, GNU du, plocate and loafre on that tree.
 *
 * Steps (each prints its figures as "name: value unit" lines, then a
 * summary against the targets):
 *   1. ingest: loafre__bench_index_apply (lib/bench_index_apply.c) — a
 *      synthetic record stream applied to SQLite without attribute fetch
 *      (target >= 300 k records/s), then the records of a real tree
 *      applied with stat enrichment (fetch);
 *   2. tree: N regular files (the generator below), or the tree a previous
 *      run kept (its marker file says it is complete);
 *   3. scan: loafre__scan (what `loafre scan` runs) into a fresh store:
 *      entries/s; then the store's bytes per entry;
 *   4. queries, cache warm (each command run once untimed, then the best of
 *      3 runs): GNU find -name, GNU find -size +1M -user U, GNU du -s of the
 *      root, plocate (after `updatedb.plocate`, also timed) beside the
 *      loafre program's find, du and locate on a configuration that points
 *      at the store (process wall time, start-up included) and the store
 *      queries those commands run (in-process: loafre__idx_select,
 *      loafre__idx_dirsum + loafre__idx_multilinks, loafre__idx_names).
 *      The outputs of GNU's tools and of loafre's commands are compared
 *      (sorted lines; `answers equal`).
 *
 * The tree (deterministic: file j's attributes come from a hash of j):
 *   - directories: directory 0 is the root, directory d > 0 lives in
 *     directory (d - 1) / B, B the smallest branching that keeps the tree
 *     within 6 levels; named STEM_NNN (NNN: (d - 1) mod B); directory d
 *     holds 10 to 90 files (10 + hash(d) mod 81; the last one the rest),
 *     so 10 to ~100 entries with its subdirectories;
 *   - files "STEM_J.EXT": 25 stems (solver, mesh, restart, ...), weighted
 *     extensions (.nc 15 %, .dat 12 %, ..., .c 2 %, none 9 %); size 0 for
 *     5 %, else 2^(30 u) bytes, u uniform in [0, 1) (log-distributed up to
 *     1 GiB), made with ftruncate (sparse); 2 % also get one real 4 KiB
 *     block (pwrite at 0) so that du is not all zero; owner uid = gid
 *     1000 40 %, 1001 25 %, 1002 15 %, 1003 10 %, 1004 10 % (fchown; as
 *     root only); 0.5 % get a symlink "ln_J" -> "../STEM_J.EXT" and 0.5 %
 *     a hard link "hl_J" in the same directory;
 *   - made with openat/ftruncate/pwrite/fchown by `threads` threads, each
 *     taking whole directories (the directories are made first, in order).
 * Place: DIR/loafre-bench-index-tree-N. Marker, written once the tree is
 * complete, DIR/loafre-bench-index-tree-N.done, one text line:
 *   "loafre-bench-index-tree 1 n=N dirs=D symlinks=S hardlinks=H depth=L
 *    chown=0|1\n"
 * A tree whose marker is missing or different is removed and made again.
 * The tree is removed at the end unless keep_tree; the temporary directory
 * (store, configuration, plocate database) always is.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "index_scan.h"
#include "index_store.h"
#include "util.h"

#define MARKER_MAGIC "loafre-bench-index-tree 1"
#define MAX_LEVELS 6
#define RUNS 3
#define OUT_MAX (512u << 20) /* bytes of a command's output kept, at most */
#define FILE_SEED 0x6c6f616672650001ull

/* The questions (GNU and loafre get the same). */
#define Q_NAME "solver_1*.c"
#define Q_SIZE "+1M"
#define Q_USER 1003u
#define Q_LOCATE "solver_1234"

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

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static double ms_of(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static bool stop_now(const struct loafre__bench_index_opts *o)
{
	return o->interrupted && *o->interrupted;
}

/* The load averages (1, 5, 15 min) as /proc/loadavg gives them. */
static void loadavg(char *buf, size_t cap)
{
	FILE *f = fopen("/proc/loadavg", "re");
	char a[16], b[16], c[16];

	snprintf(buf, cap, "unknown");
	if (f && fscanf(f, "%15s %15s %15s", a, b, c) == 3)
		snprintf(buf, cap, "%s %s %s", a, b, c);
	if (f)
		fclose(f);
}

/* ---- removal -------------------------------------------------------------------- */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes path and everything below it; 0 or -errno (absent: 0). */
static int rm_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (nftw(path, rm_cb, 64, FTW_DEPTH | FTW_PHYS) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

/* ---- the tree ------------------------------------------------------------------- */

struct tree {
	char path[PATH_MAX - 64];   /* DIR/loafre-bench-index-tree-N */
	char marker[PATH_MAX];      /* its marker file */
	uint64_t n;                 /* regular files */
	uint64_t ndirs;             /* directories, the root included */
	unsigned branch;            /* subdirectories per directory */
	unsigned depth;             /* levels below the root */
	uint32_t *nfiles;           /* per directory (owned) */
	uint64_t *first;            /* first file number per directory (owned) */
	uint64_t symlinks, hardlinks; /* made */
	bool chown;                 /* owners set (root) */
	bool reused;                /* an earlier run's tree */
};

/* Directory d's path relative to the root; its length. */
static size_t dir_path(uint64_t d, unsigned branch, char *buf, size_t cap)
{
	size_t len;
	int n;

	if (d == 0) {
		buf[0] = '\0';
		return 0;
	}
	len = dir_path((d - 1) / branch, branch, buf, cap);
	n = snprintf(buf + len, cap - len, "%s%s_%03u", len ? "/" : "",
		     dir_stems[d % LOAFRE__ARRAY_SIZE(dir_stems)], (unsigned)((d - 1) % branch));
	if (n < 0 || (size_t)n >= cap - len)
		return len; /* cannot happen at these depths */
	return len + (size_t)n;
}

/* Plans the directories: counts and branching. */
static int tree_plan(struct tree *t)
{
	uint64_t sum = 0, cap = t->n / 10 + 2;

	t->nfiles = calloc(cap, sizeof(*t->nfiles));
	t->first = calloc(cap, sizeof(*t->first));
	if (!t->nfiles || !t->first)
		return -ENOMEM;
	t->ndirs = 0;
	while (sum < t->n) {
		uint64_t c = 10 + mix(t->ndirs ^ 0xd1d1d1d1ull) % 81;
		if (c > t->n - sum)
			c = t->n - sum;
		t->first[t->ndirs] = sum;
		t->nfiles[t->ndirs++] = (uint32_t)c;
		sum += c;
	}
	if (t->ndirs == 0)
		t->ndirs = 1;
	for (t->branch = 2;; t->branch++) {
		uint64_t tot = 0, p = 1;
		for (unsigned l = 0; l <= MAX_LEVELS; l++, p *= t->branch)
			tot += p;
		if (tot >= t->ndirs)
			break;
	}
	t->depth = 0;
	for (uint64_t i = t->ndirs - 1; i > 0; i = (i - 1) / t->branch)
		t->depth++;
	return 0;
}

static const char *pick_ext(uint64_t h)
{
	unsigned x = (unsigned)(h % 100);

	for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(exts); i++) {
		if (x < exts[i].weight)
			return exts[i].ext;
		x -= exts[i].weight;
	}
	return "";
}

/* File j: its name and attributes. */
struct fileplan {
	char name[64];     /* "STEM_J.EXT" */
	uint64_t size;     /* st_size (ftruncate) */
	uint32_t uid;      /* owner and group */
	bool block;        /* one real block written at offset 0 */
	bool symlink;      /* a symlink "ln_J" beside it */
	bool hardlink;     /* a hard link "hl_J" beside it */
};

static void file_plan(uint64_t j, struct fileplan *f)
{
	uint64_t h = mix(FILE_SEED ^ j), h2 = mix(h), u = h2 % 100;

	snprintf(f->name, sizeof(f->name), "%s_%" PRIu64 "%s",
		 file_stems[h % LOAFRE__ARRAY_SIZE(file_stems)], j, pick_ext(h >> 8));
	if ((h >> 20) % 100 < 5)
		f->size = 0;
	else
		f->size = (uint64_t)exp2((double)(h2 >> 11) / 9007199254740992.0 * 30.0);
	f->uid = u < 40 ? 1000 : u < 65 ? 1001 : u < 80 ? 1002 : u < 90 ? 1003 : 1004;
	f->block = f->size > 0 && (h2 >> 16) % 50 == 0;
	f->symlink = (h2 >> 24) % 200 == 0;
	f->hardlink = (h2 >> 32) % 200 == 1;
}

struct gen {
	struct tree *t;                      /* the plan (borrowed) */
	int rootfd;                          /* the tree's root */
	atomic_uint_fast64_t next;           /* next directory to fill */
	atomic_uint_fast64_t symlinks, hardlinks, done; /* made so far */
	atomic_int error;                    /* first -errno */
	atomic_bool no_chown;                /* fchown said EPERM: not root */
	const struct loafre__bench_index_opts *o; /* for `interrupted` */
};

static int fill_dir(struct gen *g, uint64_t d)
{
	struct tree *t = g->t;
	char path[PATH_MAX], block[4096];
	int dfd, r = 0;

	dir_path(d, t->branch, path, sizeof(path));
	dfd = d ? openat(g->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		: openat(g->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	memset(block, 'b', sizeof(block));
	for (uint32_t k = 0; k < t->nfiles[d] && r == 0; k++) {
		uint64_t j = t->first[d] + k;
		struct fileplan f;
		int fd;

		file_plan(j, &f);
		fd = openat(dfd, f.name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = -errno;
			break;
		}
		if (f.size && ftruncate(fd, (off_t)f.size) < 0)
			r = -errno;
		if (r == 0 && f.block &&
		    loafre__pwrite_all(fd, block, f.size < sizeof(block) ? (size_t)f.size : sizeof(block), 0) < 0)
			r = -errno;
		if (r == 0 && !atomic_load(&g->no_chown) && fchown(fd, f.uid, f.uid) < 0) {
			if (errno == EPERM)
				atomic_store(&g->no_chown, true);
			else
				r = -errno;
		}
		close(fd);
		if (r == 0 && f.symlink) {
			char ln[80], tgt[80];
			snprintf(ln, sizeof(ln), "ln_%" PRIu64, j);
			snprintf(tgt, sizeof(tgt), "../%s", f.name);
			if (symlinkat(tgt, dfd, ln) < 0)
				r = -errno;
			else
				atomic_fetch_add(&g->symlinks, 1);
		}
		if (r == 0 && f.hardlink) {
			char hl[80];
			snprintf(hl, sizeof(hl), "hl_%" PRIu64, j);
			if (linkat(dfd, f.name, dfd, hl, 0) < 0)
				r = -errno;
			else
				atomic_fetch_add(&g->hardlinks, 1);
		}
	}
	atomic_fetch_add(&g->done, t->nfiles[d]);
	close(dfd);
	return r;
}

static void *gen_thread(void *arg)
{
	struct gen *g = arg;

	for (;;) {
		uint64_t d = atomic_fetch_add(&g->next, 1);
		int r;

		if (d >= g->t->ndirs || atomic_load(&g->error) || stop_now(g->o))
			break;
		r = fill_dir(g, d);
		if (r < 0) {
			int zero = 0;
			atomic_compare_exchange_strong(&g->error, &zero, r);
			break;
		}
	}
	return NULL;
}

static bool marker_ok(const struct tree *t, char *line, size_t cap)
{
	char *s = NULL;
	size_t len = 0;
	unsigned long long n = 0, dirs = 0, sl = 0, hl = 0;
	unsigned depth = 0;
	int ch = 0;
	bool ok = false;

	if (loafre__read_file(t->marker, 512, &s, &len) < 0)
		return false;
	if (sscanf(s, MARKER_MAGIC " n=%llu dirs=%llu symlinks=%llu hardlinks=%llu depth=%u chown=%d",
		   &n, &dirs, &sl, &hl, &depth, &ch) == 6 &&
	    n == t->n && dirs == t->ndirs)
		ok = true;
	snprintf(line, cap, "%.*s", (int)(len && s[len - 1] == '\n' ? len - 1 : len), s);
	free(s);
	return ok;
}

/* Makes (or finds) the tree; prints its figures. */
static int tree_make(struct tree *t, const struct loafre__bench_index_opts *o, FILE *out, char *err,
		     size_t errlen)
{
	struct gen g = {.t = t, .rootfd = -1, .o = o};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned nth = o->threads ? o->threads : cpus > 0 && cpus < 256 ? (unsigned)cpus : 2;
	pthread_t *th = NULL;
	unsigned started = 0;
	char line[512], path[PATH_MAX];
	uint64_t t0;
	FILE *m;
	int r;

	if (marker_ok(t, line, sizeof(line))) {
		unsigned long long n, dirs, sl, hl;
		unsigned depth;
		int ch;
		sscanf(line, MARKER_MAGIC " n=%llu dirs=%llu symlinks=%llu hardlinks=%llu depth=%u chown=%d",
		       &n, &dirs, &sl, &hl, &depth, &ch);
		t->symlinks = sl;
		t->hardlinks = hl;
		t->chown = ch != 0;
		t->reused = true;
		fprintf(out, "tree: %" PRIu64 " files, %" PRIu64 " directories, %" PRIu64
			     " symlinks, %" PRIu64 " hard links, depth %u: reused %s (its marker "
			     "says complete)\n",
			t->n, t->ndirs, t->symlinks, t->hardlinks, t->depth, t->path);
		return 0;
	}
	unlink(t->marker);
	r = rm_tree(t->path);
	if (r < 0) {
		snprintf(err, errlen, "cannot remove the incomplete tree '%s': %s", t->path,
			 strerror(-r));
		return r;
	}
	fprintf(out, "tree: making %" PRIu64 " files in %" PRIu64 " directories under %s\n", t->n,
		t->ndirs, t->path);
	fflush(out);
	t0 = loafre__mono_ns();
	if (mkdir(t->path, 0755) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", t->path, strerror(-r));
		return r;
	}
	g.rootfd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g.rootfd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open '%s': %s", t->path, strerror(-r));
		return r;
	}
	for (uint64_t d = 1; d < t->ndirs; d++) {
		dir_path(d, t->branch, path, sizeof(path));
		if (mkdirat(g.rootfd, path, 0755) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot create '%s/%s': %s", t->path, path,
				 strerror(-r));
			goto out;
		}
		if (stop_now(o)) {
			r = -EINTR;
			goto out;
		}
	}
	th = calloc(nth, sizeof(*th));
	if (!th) {
		r = -ENOMEM;
		goto out;
	}
	for (; started < nth; started++) {
		r = -pthread_create(&th[started], NULL, gen_thread, &g);
		if (r < 0) {
			atomic_store(&g.error, r);
			break;
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	r = atomic_load(&g.error);
	if (r == 0 && stop_now(o))
		r = -EINTR;
	if (r < 0) {
		if (r != -EINTR)
			snprintf(err, errlen, "cannot make the tree in '%s': %s", t->path,
				 strerror(-r));
		goto out;
	}
	t->symlinks = atomic_load(&g.symlinks);
	t->hardlinks = atomic_load(&g.hardlinks);
	t->chown = !atomic_load(&g.no_chown);
	/* the marker: the tree is complete */
	m = fopen(t->marker, "we");
	if (!m) {
		r = -errno;
	} else {
		bool bad = fprintf(m, MARKER_MAGIC " n=%" PRIu64 " dirs=%" PRIu64 " symlinks=%" PRIu64
				      " hardlinks=%" PRIu64 " depth=%u chown=%d\n",
				   t->n, t->ndirs, t->symlinks, t->hardlinks, t->depth, t->chown) < 0;
		r = fclose(m) != 0 || bad ? -(errno ? errno : EIO) : 0;
	}
	if (r < 0) {
		unlink(t->marker);
		snprintf(err, errlen, "cannot write '%s': %s", t->marker, strerror(-r));
		goto out;
	}
	{
		double s = (double)(loafre__mono_ns() - t0) / 1e9;
		fprintf(out, "tree: %" PRIu64 " files, %" PRIu64 " directories, %" PRIu64
			     " symlinks, %" PRIu64 " hard links, depth %u, made in %.1f s (%.0f "
			     "files/s, %u threads)%s\n",
			t->n, t->ndirs, t->symlinks, t->hardlinks, t->depth, s,
			(double)t->n / (s > 0 ? s : 1e-9), started,
			t->chown ? "" : "; not root: every file is the caller's");
	}
	r = 0;
out:
	free(th);
	if (g.rootfd >= 0)
		close(g.rootfd);
	return r;
}

/* ---- child processes ------------------------------------------------------------ */

struct outbuf {
	char *s;       /* output (NUL-terminated; owned) */
	size_t len;    /* bytes in s */
	size_t cap;    /* bytes allocated */
};

/* Runs argv (PATH search) with LC_ALL=C, stdout captured into *ob (up to
 * OUT_MAX), stderr into the file errpath; *status is the wait status, *ns
 * the wall time from fork to exit. 0 or -errno. */
static int run_cmd(char *const argv[], const char *errpath, struct outbuf *ob, int *status,
		   uint64_t *ns)
{
	int p[2], efd, r = 0;
	uint64_t t0;
	pid_t pid;

	ob->len = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (efd < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	/* posix_spawn (a vfork in glibc), not fork: this process holds a
	 * large index in memory, and copying its page tables would be counted
	 * as the command's time (8-9 ms at 1 M entries) */
	{
		posix_spawn_file_actions_t fa;
		extern char **environ;
		size_t ne = 0;
		char **envp;

		while (environ[ne])
			ne++;
		envp = calloc(ne + 2, sizeof(*envp));
		if (!envp || posix_spawn_file_actions_init(&fa) != 0) {
			free(envp);
			close(p[0]);
			close(p[1]);
			close(efd);
			return -ENOMEM;
		}
		for (size_t i = 0, k = 0; i < ne; i++)
			if (strncmp(environ[i], "LC_ALL=", 7) != 0)
				envp[k++] = environ[i];
		for (size_t k = 0;; k++)
			if (!envp[k]) {
				envp[k] = (char *)"LC_ALL=C";
				break;
			}
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		posix_spawn_file_actions_adddup2(&fa, efd, 2);
		t0 = loafre__mono_ns();
		r = -posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
		posix_spawn_file_actions_destroy(&fa);
		free(envp);
		if (r < 0) {
			close(p[0]);
			close(p[1]);
			close(efd);
			return r;
		}
	}
	close(p[1]);
	close(efd);
	for (;;) {
		ssize_t n;
		if (ob->cap - ob->len < 65537) {
			size_t nc = ob->cap ? ob->cap * 2 : 1 << 20;
			char *s = nc <= OUT_MAX ? realloc(ob->s, nc) : NULL;
			if (!s) {
				r = nc <= OUT_MAX ? -ENOMEM : -E2BIG;
				break;
			}
			ob->s = s;
			ob->cap = nc;
		}
		n = read(p[0], ob->s + ob->len, ob->cap - ob->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		ob->len += (size_t)n;
	}
	close(p[0]);
	if (ob->s)
		ob->s[ob->len] = '\0';
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			r = r ? r : -errno;
			break;
		}
	}
	*ns = loafre__mono_ns() - t0;
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of ob (modified: newlines become NULs), sorted. */
static int lines_of(struct outbuf *ob, char ***ret, size_t *ret_n)
{
	size_t n = 0, k = 0;
	char **v;

	for (size_t i = 0; i < ob->len; i++)
		n += ob->s[i] == '\n';
	if (ob->len && ob->s[ob->len - 1] != '\n')
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < ob->len;) {
		char *nl = memchr(ob->s + i, '\n', ob->len - i);
		v[k++] = ob->s + i;
		if (!nl)
			break;
		*nl = '\0';
		i = (size_t)(nl - ob->s) + 1;
	}
	qsort(v, k, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = k;
	return 0;
}

/* ---- queries -------------------------------------------------------------------- */

/* One question asked of one command: warm-up, then the best of RUNS. */
struct timed {
	double best_ms;        /* < 0: not measured */
	int status;            /* wait status of the last run */
	struct outbuf out;     /* output of the last run */
	bool missing;          /* the program was not found (status 127) */
};

static int time_cmd(char *const argv[], const char *errpath, struct timed *tm,
		    const struct loafre__bench_index_opts *o)
{
	tm->best_ms = -1;
	for (int i = 0; i <= RUNS; i++) {
		uint64_t ns = 0;
		int r = run_cmd(argv, errpath, &tm->out, &tm->status, &ns);
		if (r < 0)
			return r;
		if (WIFEXITED(tm->status) && WEXITSTATUS(tm->status) == 127) {
			tm->missing = true;
			return 0;
		}
		if (i > 0 && (tm->best_ms < 0 || ms_of(ns) < tm->best_ms))
			tm->best_ms = ms_of(ns);
		if (stop_now(o))
			return -EINTR;
	}
	return 0;
}

/* Compares the sorted lines of two outputs; *na, *nb: line counts. */
static int same_output(struct timed *a, struct timed *b, size_t *na, size_t *nb, bool *same)
{
	char **va = NULL, **vb = NULL;
	int r;

	*same = false;
	r = lines_of(&a->out, &va, na);
	if (r == 0)
		r = lines_of(&b->out, &vb, nb);
	if (r == 0 && *na == *nb) {
		*same = true;
		for (size_t i = 0; i < *na && *same; i++)
			*same = strcmp(va[i], vb[i]) == 0;
	}
	free(va);
	free(vb);
	return r;
}

static const char *exit_str(const struct timed *t, char *buf, size_t cap)
{
	if (WIFEXITED(t->status))
		snprintf(buf, cap, "exit %d", WEXITSTATUS(t->status));
	else
		snprintf(buf, cap, "signal %d", WIFSIGNALED(t->status) ? WTERMSIG(t->status) : 0);
	return buf;
}

/* In-process store queries. */
struct counter {
	uint64_t n;        /* callbacks seen */
};

static int count_link(void *ctx, const struct loafre_fid *parent, const char *name,
		      const struct loafre__idx_entry *e)
{
	(void)parent;
	(void)name;
	(void)e;
	((struct counter *)ctx)->n++;
	return 0;
}

static int count_ml(void *ctx, const struct loafre__idx_entry *e, const struct loafre_fid *parent,
		    const char *name, bool primary)
{
	(void)e;
	(void)parent;
	(void)name;
	(void)primary;
	((struct counter *)ctx)->n++;
	return 0;
}

enum iq_kind { IQ_SELECT, IQ_DUS, IQ_DIRSUM, IQ_NAMES };

/* Warm-up and best of RUNS of one store query; *ms, *count. */
static int time_store(struct loafre__idx *x, enum iq_kind k, const struct loafre__idx_filter *f,
		      const struct loafre_fid *root, const char *needle, double *ms, uint64_t *count)
{
	*ms = -1;
	for (int i = 0; i <= RUNS; i++) {
		struct counter c = {0};
		struct loafre__idx_sum s;
		uint64_t t0 = loafre__mono_ns();
		int r;

		if (k == IQ_SELECT) {
			r = loafre__idx_select(x, f, count_link, &c);
		} else if (k == IQ_NAMES) {
			r = loafre__idx_names(x, needle, false, count_link, &c);
		} else {
			r = loafre__idx_dirsum(x, root, &s);
			if (r == 0 && k == IQ_DUS)
				r = loafre__idx_multilinks(x, count_ml, &c);
			c.n = r == 0 ? s.blocks : 0;
		}
		if (r < 0)
			return r;
		if (i > 0 && (*ms < 0 || ms_of(loafre__mono_ns() - t0) < *ms))
			*ms = ms_of(loafre__mono_ns() - t0);
		*count = c.n;
	}
	return 0;
}

/* Figures kept for the summary (< 0: not measured). */
struct figures {
	double ingest;                  /* records/s without fetch */
	double ingest_fetch;            /* records/s with fetch */
	double scan;                    /* entries/s */
	double bytes_per_entry;         /* the scanned store's */
	double ratio_name, ratio_size;  /* GNU find / loafre find */
	double du_ms;                   /* loafre du -s, process */
	double du_store_ms;             /* in-process, with the multi-link pass */
	double du_rollup_ms;            /* in-process, the rollup row (the root) */
	double locate_ms;               /* loafre locate, process */
	double plocate_ms;              /* plocate -d DB */
	double updatedb_ms;             /* updatedb.plocate of the tree */
	bool equal;                     /* every compared answer equal */
	bool compared;                  /* at least one comparison made */
};

/* One find question: GNU find vs loafre find (process) vs the store. */
static int q_find(const char *what, char *const gnu[], char *const mine[],
		  struct loafre__idx *x, const struct loafre__idx_filter *f, const char *errpath,
		  double *ratio, struct figures *fg, const struct loafre__bench_index_opts *o,
		  FILE *out)
{
	struct timed g = {0}, l = {0};
	double sms = -1;
	uint64_t scount = 0;
	size_t ng = 0, nl = 0;
	bool same = false;
	char e1[32], e2[32];
	int r;

	r = time_cmd(gnu, errpath, &g, o);
	if (r == 0)
		r = time_cmd(mine, errpath, &l, o);
	if (r == 0)
		r = time_store(x, IQ_SELECT, f, NULL, NULL, &sms, &scount);
	if (r == 0)
		r = same_output(&g, &l, &ng, &nl, &same);
	if (r < 0)
		goto out;
	if (g.missing || l.missing) {
		fprintf(out, "query %s: %s not found\n", what, g.missing ? gnu[0] : mine[0]);
		goto out;
	}
	same = same && g.status == 0 && l.status == 0;
	fg->compared = true;
	fg->equal = fg->equal && same;
	*ratio = l.best_ms > 0 ? g.best_ms / l.best_ms : -1;
	fprintf(out,
		"query %s: GNU find %.1f ms, loafre find %.1f ms (process wall time; the store's "
		"select %.2f ms in-process, %" PRIu64 " candidates): %.1fx; %zu results, GNU %zu: "
		"%s\n",
		what, g.best_ms, l.best_ms, sms, scount, *ratio, nl, ng,
		same ? "equal" : "DIFFERENT");
	if (!same && (g.status || l.status))
		fprintf(out, "query %s: GNU find %s, loafre find %s\n", what,
			exit_str(&g, e1, sizeof(e1)), exit_str(&l, e2, sizeof(e2)));
out:
	free(g.out.s);
	free(l.out.s);
	return r;
}

/* ---- the run -------------------------------------------------------------------- */

/* Runs `fn` with its output captured, echoes its lines prefixed, and
 * returns the first "N records/s" figure of the line containing `key`. */
static int ingest_step(const char *dir, uint64_t n, bool fetch, FILE *out, double *rate1,
		       double *rate2)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int r;

	if (!m)
		return -errno;
	r = loafre__bench_index_apply(dir, n, fetch, m);
	fclose(m);
	*rate1 = *rate2 = -1;
	for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		char *p = strstr(line, "): ");
		double v;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		fprintf(out, "ingest: %s\n", line);
		fflush(out);
		if (p && sscanf(p + 3, "%lf records/s", &v) == 1) {
			if (*rate1 < 0)
				*rate1 = v;
			else if (*rate2 < 0)
				*rate2 = v;
		}
	}
	free(buf);
	return r;
}

static void summary(const struct figures *fg, bool plocate, FILE *out)
{
	char la[64];

	loadavg(la, sizeof(la));
	fprintf(out, "summary (targets of issue 5, %ld CPUs, load average %s):\n",
		sysconf(_SC_NPROCESSORS_ONLN), la);
	if (fg->ingest >= 0)
		fprintf(out, "  ingest without attribute fetch >= 300 k records/s: %.0f records/s: %s\n",
			fg->ingest, fg->ingest >= 3e5 ? "yes" : "no");
	if (fg->ingest_fetch >= 0)
		fprintf(out, "  ingest with stat enrichment: %.0f records/s (no target)\n",
			fg->ingest_fetch);
	if (fg->scan >= 0)
		fprintf(out, "  scan: %.0f entries/s (no target)\n", fg->scan);
	if (fg->bytes_per_entry >= 0)
		fprintf(out, "  index size: %.0f bytes/entry (no target)\n", fg->bytes_per_entry);
	if (fg->ratio_name >= 0)
		fprintf(out, "  find by name >= 20x faster than GNU find: %.1fx: %s\n", fg->ratio_name,
			fg->ratio_name >= 20 ? "yes" : "no");
	if (fg->ratio_size >= 0)
		fprintf(out, "  find by size+user >= 20x faster than GNU find: %.1fx: %s\n",
			fg->ratio_size, fg->ratio_size >= 20 ? "yes" : "no");
	if (fg->du_ms >= 0)
		fprintf(out, "  du -s of the root <= 10 ms: %.1f ms (process; %.3f ms in-process): %s\n",
			fg->du_ms, fg->du_rollup_ms, fg->du_ms <= 10 ? "yes" : "no");
	if (plocate && fg->locate_ms >= 0 && fg->plocate_ms > 0)
		fprintf(out, "  locate within 2x of plocate: %.1f ms vs %.1f ms = %.1fx: %s (plocate "
			     "is as fresh as its last updatedb, %.0f ms here; loafre is current)\n",
			fg->locate_ms, fg->plocate_ms, fg->locate_ms / fg->plocate_ms,
			fg->locate_ms <= 2 * fg->plocate_ms ? "yes" : "no", fg->updatedb_ms);
	else
		fprintf(out, "  locate within 2x of plocate: not measured (plocate missing)\n");
	fprintf(out, "  answers equal to GNU find, GNU du and plocate: %s\n",
		!fg->compared ? "not compared" : fg->equal ? "yes" : "NO");
}

int loafre__bench_index_run(const struct loafre__bench_index_opts *o, FILE *out, char *err,
			    size_t errlen)
{
	struct tree t = {0};
	struct figures fg = {.ingest = -1, .ingest_fetch = -1, .scan = -1, .bytes_per_entry = -1,
			     .ratio_name = -1, .ratio_size = -1, .du_ms = -1, .du_store_ms = -1, .du_rollup_ms = -1,
			     .locate_ms = -1, .plocate_ms = -1, .updatedb_ms = -1, .equal = true};
	struct loafre__idx *x = NULL;
	struct loafre__scan_opts so = {.type = LOAFRE_FS_LOCAL};
	struct loafre__scan_progress p;
	struct loafre_fid root;
	char tmp[PATH_MAX - 128], db[PATH_MAX], conf[PATH_MAX], errpath[PATH_MAX], la[64];
	char pldb[PATH_MAX], abs[PATH_MAX];
	bool tmp_made = false, plocate = false;
	double c0;
	uint64_t bytes = 0, entries = 0;
	FILE *f;
	int r;

	err[0] = '\0';
	if (!o || !o->dir || !o->loafre || o->n_files < 1 || o->n_files > LOAFRE__BENCH_INDEX_MAX_FILES ||
	    o->ingest < 1 || o->ingest > LOAFRE__BENCH_INDEX_MAX_FILES) {
		snprintf(err, errlen, "bad options");
		return -EINVAL;
	}
	if (!realpath(o->dir, abs)) {
		r = -errno;
		snprintf(err, errlen, "'%s': %s", o->dir, strerror(-r));
		return r;
	}
	t.n = o->n_files;
	if ((size_t)snprintf(t.path, sizeof(t.path), "%s/loafre-bench-index-tree-%" PRIu64, abs,
			     t.n) >= sizeof(t.path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/loafre-bench-index-run.XXXXXX", abs) >=
		    sizeof(tmp)) {
		snprintf(err, errlen, "directory name too long: '%s'", abs);
		return -ENAMETOOLONG;
	}
	snprintf(t.marker, sizeof(t.marker), "%s.done", t.path);
	r = tree_plan(&t);
	if (r < 0)
		goto out;
	loadavg(la, sizeof(la));
	fprintf(out, "index bench: %" PRIu64 " files, ingest of %" PRIu64
		     " records, %ld CPUs, load average %s\n",
		t.n, o->ingest, sysconf(_SC_NPROCESSORS_ONLN), la);

	/* 1. ingest */
	{
		double dummy;
		r = ingest_step(abs, o->ingest, false, out, &fg.ingest, &dummy);
		if (r == 0 && !stop_now(o))
			r = ingest_step(abs, o->ingest, true, out, &fg.ingest_fetch, &dummy);
		if (r < 0) {
			snprintf(err, errlen, "ingest: %s", strerror(-r));
			goto out;
		}
	}
	if (stop_now(o)) {
		r = -EINTR;
		goto out;
	}

	/* 2. the tree */
	r = tree_make(&t, o, out, err, errlen);
	if (r < 0)
		goto out;

	/* 3. scan */
	if (!mkdtemp(tmp)) {
		r = -errno;
		snprintf(err, errlen, "cannot create a directory in '%s': %s", abs, strerror(-r));
		goto out;
	}
	tmp_made = true;
	snprintf(db, sizeof(db), "%s/index.db", tmp);
	snprintf(conf, sizeof(conf), "%s/loafre.conf", tmp);
	snprintf(errpath, sizeof(errpath), "%s/stderr", tmp);
	snprintf(pldb, sizeof(pldb), "%s/plocate.db", tmp);
	r = loafre__idx_open(LOAFRE__IDX_SQLITE, db, "bench", LOAFRE__IDX_CREATE, &x, err, errlen);
	if (r < 0)
		goto out;
	so.interrupted = o->interrupted;
	c0 = cpu_s();
	r = loafre__scan(x, t.path, &so, &p);
	if (r < 0) {
		if (r != -EINTR)
			snprintf(err, errlen, "scan of '%s': %s", t.path,
				 r == -EIO ? loafre__idx_errmsg(x) : strerror(-r));
		goto out;
	}
	fg.scan = p.rate;
	fprintf(out, "scan: %.0f entries/s (%" PRIu64 " entries, %" PRIu64
		     " directories in %.2f s, %.2f s of CPU; %ld walkers; %.1f GiB apparent)\n",
		p.rate, p.entries, p.dirs, p.elapsed, cpu_s() - c0, sysconf(_SC_NPROCESSORS_ONLN),
		(double)p.bytes / (1024.0 * 1024 * 1024));
	loafre__idx_close(x); /* the last connection checkpoints the WAL */
	x = NULL;
	r = loafre__idx_open(LOAFRE__IDX_SQLITE, db, NULL, LOAFRE__IDX_READONLY, &x, err, errlen);
	if (r == 0)
		r = loafre__idx_size(x, &bytes, &entries);
	if (r == 0)
		r = loafre__idx_get_root(x, &root);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "index '%s': %s", db, strerror(-r));
		goto out;
	}
	fg.bytes_per_entry = entries ? (double)bytes / (double)entries : 0;
	fprintf(out, "size: %.1f bytes/entry (%" PRIu64 " bytes, %" PRIu64 " entries)\n",
		fg.bytes_per_entry, bytes, entries);

	/* 4. queries */
	f = fopen(conf, "we");
	if (!f || fprintf(f, "[loafred]\nrun_dir = %s/run\n\n[filesystem bench]\ntype = local\n"
			     "path = %s\njournal = %s/journal\n\n[index bench]\ndatabase = %s\n",
			  tmp, t.path, tmp, db) < 0 ||
	    fclose(f) != 0) {
		r = -errno;
		snprintf(err, errlen, "cannot write '%s': %s", conf, strerror(-r));
		goto out;
	}
	{
		char user[16], label[64];
		uint32_t uid = t.chown ? Q_USER : (uint32_t)getuid();
		struct loafre__idx_filter fn = {.name_glob = Q_NAME};
		struct loafre__idx_filter fs = {.has_uid = true, .uid = uid,
						.size_min = (1u << 20) + 1};
		char *const gname[] = {"find", t.path, "-name", Q_NAME, NULL};
		char *const lname[] = {(char *)o->loafre, "-c", conf, "find", t.path, "-name",
				       Q_NAME, NULL};
		char *const gsize[] = {"find", t.path, "-size", Q_SIZE, "-user", user, NULL};
		char *const lsize[] = {(char *)o->loafre, "-c", conf, "find", t.path, "-size",
				       Q_SIZE, "-user", user, NULL};

		snprintf(user, sizeof(user), "%" PRIu32, uid);
		snprintf(label, sizeof(label), "find -size " Q_SIZE " -user %s", user);
		r = q_find("find -name '" Q_NAME "'", gname, lname, x, &fn, errpath, &fg.ratio_name,
			   &fg, o, out);
		if (r == 0)
			r = q_find(label, gsize, lsize, x, &fs, errpath, &fg.ratio_size, &fg, o, out);
		if (r < 0)
			goto query_fail;
	}
	{
		char *const gdu[] = {"du", "-s", t.path, NULL};
		char *const ldu[] = {(char *)o->loafre, "-c", conf, "du", "-s", t.path, NULL};
		char *const lver[] = {(char *)o->loafre, "--version", NULL};
		struct timed g = {0}, l = {0}, v = {0};
		uint64_t blocks = 0;
		double rollup_ms = -1;
		bool same;

		r = time_cmd(gdu, errpath, &g, o);
		if (r == 0)
			r = time_cmd(ldu, errpath, &l, o);
		if (r == 0)
			r = time_cmd(lver, errpath, &v, o);
		if (r == 0)
			r = time_store(x, IQ_DUS, NULL, &root, NULL, &fg.du_store_ms, &blocks);
		if (r == 0)
			r = time_store(x, IQ_DIRSUM, NULL, &root, NULL, &rollup_ms, &blocks);
		if (r == 0 && !g.missing && !l.missing) {
			same = g.status == 0 && l.status == 0 && g.out.s && l.out.s &&
			       strcmp(g.out.s, l.out.s) == 0;
			fg.compared = true;
			fg.equal = fg.equal && same;
			fg.du_ms = l.best_ms;
			fg.du_rollup_ms = rollup_ms;
			fprintf(out,
				"query du -s: GNU du %.1f ms, loafre du %.1f ms (process wall time; "
				"the root's rollup row %.3f ms in-process): %.0fx; %" PRIu64
				" KiB, %s\n",
				g.best_ms, l.best_ms, rollup_ms, l.best_ms > 0 ? g.best_ms / l.best_ms : 0,
				(blocks + 1) / 2, same ? "equal" : "DIFFERENT");
			fprintf(out,
				"query du -s: a subdirectory adds a pass over the multi-linked inodes "
				"(%.2f ms in-process here; the root needs none: every link is inside "
				"it); a loafre process that does nothing (--version) takes %.1f ms\n",
				fg.du_store_ms, v.best_ms);
			if (!same)
				fprintf(out, "query du -s: GNU: %s; loafre: %s\n",
					g.out.s ? strtok(g.out.s, "\n") : "",
					l.out.s ? strtok(l.out.s, "\n") : "");
		}
		free(g.out.s);
		free(l.out.s);
		free(v.out.s);
		if (r < 0)
			goto query_fail;
	}
	{
		char *const upd[] = {"updatedb.plocate", "--prunepaths", "", "--prunefs", "",
				     "--prunenames", "", "--prune-bind-mounts", "no", "-l", "no",
				     "-U", t.path, "-o", pldb, NULL};
		char *const ploc[] = {"plocate", "-d", pldb, Q_LOCATE, NULL};
		char *const lloc[] = {(char *)o->loafre, "-c", conf, "locate", Q_LOCATE, NULL};
		struct timed u = {0}, g = {0}, l = {0};
		uint64_t cand = 0;
		double sms = -1;
		size_t ng = 0, nl = 0;
		bool same = false;

		r = time_cmd(upd, errpath, &u, o);
		if (r == 0 && !u.missing && u.status == 0) {
			plocate = true;
			fg.updatedb_ms = u.best_ms;
			r = time_cmd(ploc, errpath, &g, o);
		}
		if (r == 0)
			r = time_cmd(lloc, errpath, &l, o);
		if (r == 0)
			r = time_store(x, IQ_NAMES, NULL, NULL, Q_LOCATE, &sms, &cand);
		if (r == 0 && !l.missing) {
			fg.locate_ms = l.best_ms;
			if (plocate && !g.missing) {
				fg.plocate_ms = g.best_ms;
				r = same_output(&g, &l, &ng, &nl, &same);
				fg.compared = true;
				fg.equal = fg.equal && same;
				fprintf(out,
					"query locate " Q_LOCATE ": plocate %.1f ms (its database by "
					"updatedb.plocate in %.0f ms), loafre locate %.1f ms (process wall "
					"time; the store's names() %.2f ms in-process): %.1fx plocate's "
					"time; %zu results, plocate %zu: %s\n",
					g.best_ms, u.best_ms, l.best_ms, sms,
					g.best_ms > 0 ? l.best_ms / g.best_ms : 0, nl, ng,
					same ? "equal" : "DIFFERENT");
			} else {
				fprintf(out,
					"query locate " Q_LOCATE ": loafre locate %.1f ms (process wall "
					"time; names() %.2f ms in-process); plocate not found (install "
					"plocate)\n",
					l.best_ms, sms);
			}
		}
		free(u.out.s);
		free(g.out.s);
		free(l.out.s);
		if (r < 0)
			goto query_fail;
	}
	summary(&fg, plocate, out);
	r = 0;
	goto out;
query_fail:
	if (r != -EINTR && !err[0])
		snprintf(err, errlen, "queries: %s", strerror(-r));
out:
	loafre__idx_close(x);
	if (tmp_made) {
		int q = rm_tree(tmp);
		if (q < 0 && o->err)
			fprintf(o->err, "loafre bench index: cannot remove '%s': %s\n", tmp,
				strerror(-q));
	}
	if (!o->keep_tree || r < 0) {
		/* an interrupted or failed run keeps a complete tree only if asked */
		bool complete = access(t.marker, F_OK) == 0;
		if (!o->keep_tree || !complete) {
			int q;
			unlink(t.marker);
			q = rm_tree(t.path);
			if (q < 0 && o->err)
				fprintf(o->err, "loafre bench index: cannot remove '%s': %s\n",
					t.path, strerror(-q));
		}
	}
	free(t.nfiles);
	free(t.first);
	return r;
}
