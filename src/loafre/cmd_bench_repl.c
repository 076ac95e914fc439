/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_bench_repl.c — `loafre bench replicate`: loafre's replication beside
 * lsyncd (Debian's, `default.rsync`, at `delay = 0` and at its default
 * `delay = 15`) and `rsync -a --delete` full passes (issue 6, section 6).
 *
 * Every replicator is a real process started by the bench (posix_spawn, in
 * a process group of its own): loafred with a configuration the bench
 * writes (one local filesystem = the source tree, an emulated MDT, one
 * [rule] to a local destination, delay 0), or lsyncd with a generated Lua
 * configuration (`settings { nodaemon = true }`, `sync { default.rsync,
 * source, target, delay }`). A replicator is ready when a probe file made
 * in the source after its start has reached its destination (a new probe
 * every second, up to every 10 s during a long initial sync) and the
 * destination equals the source: its initial sync is done and it follows
 * changes.
 *
 * (a) lag. Each replicator gets a fresh source tree with directories a/d00
 *   to a/d15 (and b/s00..s07 for the storm). One thread runs a fixed
 *   schedule of operations paced at --ops-rate (default 2000/s) for
 *   --duration seconds (default 10); cycle k:
 *     create  a/d(k%16)/fk                      (O_EXCL, 100 bytes, close)
 *     k%4=0:  append 50 bytes to f(k-500)       (a file never renamed)
 *     k%4=1:  rename f(k-1000) -> a/d((j+1)%16)/r(j), j = k-1000
 *     k%4=2:  unlink r(k-2001)                  (renamed 1001 cycles before)
 *   An operation's time is CLOCK_MONOTONIC just before its first syscall.
 *   Arrival at the destination is seen by inotify watches on the
 *   destination's directories (set before the workload; new directories
 *   are watched as they appear), stamped when the event is read:
 *     create: IN_MOVED_TO / IN_CLOSE_WRITE / IN_CREATE of fk, the file
 *             holding >= 100 bytes (a temporary name is not fk)
 *     append: the same with >= 150 bytes
 *     rename: rj appears (any of the three events)
 *     unlink: IN_DELETE / IN_MOVED_FROM of rj
 *   lag = arrival - operation time; p50/p99/max over the operations that
 *   arrived. An operation whose effect was superseded before it reached the
 *   destination (a file created and renamed within lsyncd's delay: rsync
 *   copies it under its new name only) has no arrival: it is counted as
 *   "superseded", not as a lag. The phase ends when every operation
 *   arrived, or when the destination equals the source after a quiet
 *   second; it fails if that has not happened --settle-timeout (default
 *   120) + delay seconds after the last operation.
 * (b) storm: --storm (default 2000) creates of 100-byte files in b/s00..07
 *   as fast as one thread makes them; figure: the last arrival minus the
 *   time the last create returned. rsync: one `rsync -a --delete` pass
 *   started when the storm ends (its wall time).
 * (c) converge: a tree of -n files (default 1 000 000; 100 per directory,
 *   100 directories per group, 1-256 bytes each) made once (kept with
 *   --keep-tree: DIR/loafre-bench-repl-tree-N and a marker file
 *   DIR/loafre-bench-repl-tree-N.done "loafre-bench-repl-tree 1 n=N ..."
 *   written when it is complete; a tree without its marker is made again).
 *   An rsync destination gets `rsync -a --delete` first (timed, reported
 *   as its initial sync). Then per replicator: start on the tree with an
 *   empty destination, ready (= its initial sync, timed and reported
 *   separately), 100 changes (40 creates, 20 appends, 20 renames, 20
 *   unlinks of random files), then the changed paths are polled at the
 *   destination every millisecond until all hold what the source holds:
 *   converge = that moment - the last change. Last, one timed `rsync -a
 *   --delete` pass onto the rsync destination (every change since its
 *   initial sync). Ratio = rsync pass / loafre's converge time. The
 *   destinations are removed with the temporary directory after the
 *   figures are printed (minutes at 1 M files).
 * (d) CPU: user+sys of the replicator's process tree (the process, its
 *   live descendants from /proc, and the children they reaped) during (a),
 *   per 10 000 operations; rsync's from wait4.
 *
 * Verification (part of the bench, never skipped): after every phase the
 * destination is compared with the source (names, types, sizes, symlink
 * targets, and file content where the mtimes differ, or always for the
 * small trees of (a) and (b)); a difference fails the replicator with its
 * first difference named. Exit status 0 only if every replicator that ran
 * ended equal. Targets are printed (yes/no), never enforced.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

int cmd_bench_repl(struct cli *c);

#define BR_ADIRS 16u           /* directories of the (a) workload */
#define BR_BDIRS 8u            /* directories of the storm */
#define BR_CREATE_BYTES 100u   /* a created file's size */
#define BR_APPEND_BYTES 50u    /* an append */
#define BR_LAG_APPEND 500u     /* cycles between a create and the append to it */
#define BR_LAG_RENAME 1000u    /* ... and its rename */
#define BR_LAG_UNLINK 2001u    /* ... and the unlink of the renamed file */
#define BR_CHANGES 100u        /* (c) changes */
#define BR_MAX_N 100000000ull  /* -n at most */
#define BR_MAX_OPS 100000000ull /* ops-rate x duration at most */
#define BR_MAX_STORM 10000000u
#define BR_MAX_WATCHES 4096u
#define BR_DIFF (2 * PATH_MAX + 512) /* a difference found by a compare */
#define BR_WHY (3 * PATH_MAX)        /* a failure's reason */

enum { OP_CREATE, OP_APPEND, OP_RENAME, OP_UNLINK, OP_KINDS };
enum br_tool { T_LOAFRE, T_LSYNCD0, T_LSYNCD15, T_NTOOLS };
static const char *const tool_name[T_NTOOLS] = { "loafre", "lsyncd(delay=0)",
						  "lsyncd(delay=15)" };

#define ONLY_A 1u
#define ONLY_B 2u
#define ONLY_C 4u
#define ONLY_D 8u

struct br_op {
	uint32_t file;  /* file number j (names fj / rj) */
	uint8_t kind;   /* OP_* */
	uint64_t t_op;  /* CLOCK_MONOTONIC ns before the op (workload thread; atomic) */
	uint64_t t_arr; /* arrival seen at the destination (main thread), 0: not yet */
};

struct br_res {
	bool ran;            /* a session of this tool ran (a/b/d) */
	bool failed;         /* it failed (why says how) */
	char why[BR_WHY];    /* first failure */
	uint64_t a_ops;      /* (a) operations made */
	uint64_t a_measured; /* ... of which arrived */
	uint64_t a_errors;   /* workload syscall failures */
	double a_rate;       /* achieved operations/s */
	double a_p50, a_p99, a_max; /* ms */
	double a_settle;     /* s from the last operation to destination == source */
	double a_cpu;        /* CPU s of the tool's process tree during (a) */
	bool b_ran;          /* (b) measured */
	double b_time;       /* s, last create -> last arrival */
	uint64_t b_arrived;  /* storm files seen arriving */
	bool c_ran;          /* (c) measured */
	double c_init;       /* s, start -> ready on the big tree */
	double c_time;       /* s, last change -> converged */
	double c_cpu;        /* CPU s during the converge */
	double ready;        /* s, start -> ready (small tree) */
	double total_cpu;    /* CPU s of the whole session (wait4 after stop) */
};

struct br {
	/* options */
	uint64_t n;            /* (c) tree size */
	uint64_t rate;         /* (a) operations/s */
	double duration;       /* (a) seconds */
	unsigned storm;        /* (b) creates */
	const char *dir;       /* where temporary directories and the tree go */
	bool keep_tree;        /* keep the (c) tree */
	unsigned only;         /* ONLY_* */
	bool no_lsyncd;        /* skip lsyncd */
	const char *loafred_opt; /* --loafred */
	double settle;         /* s a phase waits for destination == source */
	/* programs */
	char loafred[PATH_MAX];
	char lsyncd[PATH_MAX];
	char rsync[PATH_MAX];
	char lsyncd_version[64];
	char rsync_version[64];
	/* run */
	char tmp[PATH_MAX];    /* DIR/loafre-bench-repl.XXXXXX */
	uint64_t stamp;        /* run stamp, for names and the random picks */
	struct br_op *ops;     /* the (a) schedule */
	size_t n_ops;
	uint32_t n_files;      /* files of the (a) schedule */
	uint32_t *fidx;        /* [n_files][OP_KINDS]: op index + 1, 0 none */
	uint64_t *storm_t;     /* [storm] create times (atomic) */
	uint64_t *storm_arr;   /* [storm] arrivals */
	struct br_res res[T_NTOOLS];
	bool rsync_b_ran, rsync_c_ran;
	double rsync_b, rsync_b_cpu; /* (b) pass, s */
	double rsync_c_init, rsync_c, rsync_c_cpu; /* (c) initial and timed pass, s */
	bool rsync_failed;
	char rsync_why[BR_WHY];
	char tree[PATH_MAX];   /* (c) tree */
	bool tree_made;        /* made by this run (not reused) */
	double tree_secs;
	volatile sig_atomic_t *stop;
	FILE *out;
};

struct br_sess {
	enum br_tool tool;     /* which replicator */
	char base[PATH_MAX];   /* its private directory */
	char src[PATH_MAX];    /* source tree */
	char dst[PATH_MAX];    /* destination */
	char log[PATH_MAX];    /* its stdout+stderr */
	pid_t pid;             /* running, or 0 */
	unsigned probes;       /* probe files made */
	struct rusage ru;      /* after stop */
};

static volatile sig_atomic_t br_stop;

static void on_signal(int sig)
{
	br_stop = sig;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void sleep_until(uint64_t ns)
{
	struct timespec t = { .tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

static int pathf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

static void failf(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void failf(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	if (why[0])
		return; /* the first failure is the one reported */
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	return nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) != 0 ? -EIO : 0;
}

/* ---- programs ---------------------------------------------------------- */

static bool find_in_path(const char *name, char *buf, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[4096];
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	snprintf(dirs, sizeof(dirs), "%s", path);
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
		if (pathf(buf, cap, "%s/%s", d, name) == 0 && access(buf, X_OK) == 0)
			return true;
	return false;
}

static bool find_loafred(const char *opt, char *buf, size_t cap)
{
	char self[PATH_MAX], dir[PATH_MAX];
	const char *env = getenv("LOAFRED");
	ssize_t n;
	static const char *const rel[] = { "../loafred/loafred", "loafred", "../sbin/loafred" };

	if (opt || (env && *env))
		return pathf(buf, cap, "%s", opt ? opt : env) == 0;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = '\0';
	snprintf(dir, sizeof(dir), "%s", dirname(self));
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++)
		if (pathf(buf, cap, "%s/%s", dir, rel[i]) == 0 && access(buf, X_OK) == 0)
			return true;
	return find_in_path("loafred", buf, cap);
}

/* Starts argv with stdin /dev/null and stdout+stderr appended to `log` (or
 * /dev/null), in a process group of its own. */
static int spawn(char *const argv[], const char *log, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	pid_t pid;
	int r;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	if (posix_spawnattr_init(&at) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	{
		sigset_t none, def;
		sigemptyset(&none);
		sigemptyset(&def);
		sigaddset(&def, SIGINT);
		sigaddset(&def, SIGTERM);
		sigaddset(&def, SIGPIPE);
		posix_spawnattr_setsigmask(&at, &none);
		posix_spawnattr_setsigdefault(&at, &def);
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log ? log : "/dev/null",
					 O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	r = -posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r == 0)
		*ret_pid = pid;
	return r;
}

/* Runs argv to its end: wall seconds and CPU (user+sys, children included)
 * in *wall, *cpu; -ECHILD if it did not exit 0. */
static int run_wait(char *const argv[], const char *log, double *wall, double *cpu)
{
	struct rusage ru;
	pid_t pid;
	int st, r;
	uint64_t t0 = now_ns();

	if ((r = spawn(argv, log, &pid)) < 0)
		return r;
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR)
			return -errno;
		if (br_stop)
			kill(pid, SIGTERM);
	}
	*wall = secs(now_ns() - t0);
	*cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	if (br_stop)
		return -EINTR;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

/* First line of `prog --version`'s output, words 2-3 ("rsync  version
 * 3.2.7" -> "3.2.7"; "Version: 2.2.3" -> "2.2.3"). */
static void prog_version(const char *prog, char *buf, size_t cap)
{
	char cmd[PATH_MAX + 32], line[256];
	FILE *p;
	snprintf(buf, cap, "?");
	if (pathf(cmd, sizeof(cmd), "'%s' --version 2>&1", prog) < 0 || strchr(prog, '\''))
		return;
	p = popen(cmd, "re");
	if (!p)
		return;
	if (fgets(line, sizeof(line), p)) {
		char *v = strstr(line, "ersion");
		if (v) {
			v += 6;
			while (*v == ':' || *v == ' ')
				v++;
			size_t l = strcspn(v, " \n");
			snprintf(buf, cap, "%.*s", (int)(l < cap ? l : cap - 1), v);
		}
	}
	pclose(p);
}

/* ---- CPU of a process tree ------------------------------------------- */

/* utime+stime+cutime+cstime of one /proc/PID/stat, and its ppid. */
static bool proc_times(pid_t pid, pid_t *ppid, double *cpu)
{
	char path[64], buf[4096];
	unsigned long ut, stt;
	long cut, cst;
	int pp;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &pp,
			 &ut, &stt, &cut, &cst) != 5)
		return false;
	*ppid = pp;
	*cpu = (double)(ut + stt + (unsigned long)cut + (unsigned long)cst) /
	       (double)sysconf(_SC_CLK_TCK);
	return true;
}

/* CPU seconds of pid and all its live descendants (each with the children
 * it reaped). */
static double cpu_tree(pid_t root)
{
	enum { MAXP = 65536 };
	static pid_t pids[MAXP], ppids[MAXP];
	static double cpus[MAXP];
	size_t n = 0;
	double total = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < MAXP) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (*end || v <= 0)
			continue;
		if (proc_times((pid_t)v, &ppids[n], &cpus[n])) {
			pids[n] = (pid_t)v;
			n++;
		}
	}
	closedir(d);
	/* pid is in the tree if its parent chain meets root (depth <= 64) */
	for (size_t i = 0; i < n; i++) {
		pid_t p = pids[i];
		for (int depth = 0; depth < 64 && p > 1; depth++) {
			if (p == root) {
				total += cpus[i];
				break;
			}
			size_t k;
			for (k = 0; k < n && pids[k] != p; k++)
				;
			if (k == n)
				break;
			p = ppids[k];
		}
	}
	return total;
}

/* ---- comparing trees --------------------------------------------------- */

struct names {
	char **v;   /* sorted names */
	size_t n;   /* used */
	size_t cap; /* allocated */
};

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	ns->v = NULL;
	ns->n = ns->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(int dfd, struct names *ns)
{
	int fd = dup(dfd);
	DIR *d;
	struct dirent *e;
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (ns->n == ns->cap) {
			size_t nc = ns->cap ? ns->cap * 2 : 128;
			char **nv = realloc(ns->v, nc * sizeof(*nv));
			if (!nv) {
				closedir(d);
				return -ENOMEM;
			}
			ns->v = nv;
			ns->cap = nc;
		}
		if (!(ns->v[ns->n] = strdup(e->d_name))) {
			closedir(d);
			return -ENOMEM;
		}
		ns->n++;
	}
	closedir(d);
	if (ns->n)
		qsort(ns->v, ns->n, sizeof(*ns->v), cmp_str);
	return 0;
}

static int same_content(int sd, int dd, const char *name, bool *same)
{
	char a[65536], b[65536];
	int fa = openat(sd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int fb = openat(dd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int r = 0;
	*same = false;
	if (fa < 0 || fb < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		ssize_t na = read(fa, a, sizeof(a));
		if (na < 0) {
			r = -errno;
			goto out;
		}
		size_t got = 0;
		while (got < (size_t)na) {
			ssize_t nb = read(fb, b + got, (size_t)na - got);
			if (nb < 0) {
				r = -errno;
				goto out;
			}
			if (nb == 0)
				goto out; /* shorter */
			got += (size_t)nb;
		}
		if (memcmp(a, b, (size_t)na) != 0)
			goto out;
		if (na == 0) {
			*same = true;
			goto out;
		}
	}
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return r;
}

struct cmpctx {
	bool content;    /* compare every file's bytes (else where mtimes differ) */
	uint64_t entries; /* entries compared */
	char *why;       /* first difference */
	size_t whylen;
};

/* 0 equal, 1 differs (cx->why), -errno. */
static int cmp_dir(struct cmpctx *cx, int sd, int dd, const char *rel, unsigned depth)
{
	struct names a = { 0 }, b = { 0 };
	size_t i = 0, k = 0;
	int r;

	if (depth > 256) {
		snprintf(cx->why, cx->whylen, "'%s': too deep", rel);
		return 1;
	}
	if ((r = list_dir(sd, &a)) < 0 || (r = list_dir(dd, &b)) < 0)
		goto out;
	while (i < a.n || k < b.n) {
		int c = i == a.n ? 1 : k == b.n ? -1 : strcmp(a.v[i], b.v[k]);
		if (c < 0) {
			snprintf(cx->why, cx->whylen, "missing at the destination: %s/%s", rel, a.v[i]);
			r = 1;
			goto out;
		}
		if (c > 0) {
			snprintf(cx->why, cx->whylen, "extra at the destination: %s/%s", rel, b.v[k]);
			r = 1;
			goto out;
		}
		const char *nm = a.v[i];
		struct stat ss, ds;
		cx->entries++;
		if (fstatat(sd, nm, &ss, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fstatat(dd, nm, &ds, AT_SYMLINK_NOFOLLOW) < 0) {
			/* changed under us: a difference for this pass */
			snprintf(cx->why, cx->whylen, "%s/%s: %s", rel, nm, strerror(errno));
			r = 1;
			goto out;
		}
		if ((ss.st_mode & S_IFMT) != (ds.st_mode & S_IFMT)) {
			snprintf(cx->why, cx->whylen, "type differs: %s/%s", rel, nm);
			r = 1;
			goto out;
		}
		if (S_ISREG(ss.st_mode)) {
			bool same = true;
			if (ss.st_size != ds.st_size) {
				snprintf(cx->why, cx->whylen, "size differs: %s/%s (%lld, destination %lld)",
					 rel, nm, (long long)ss.st_size, (long long)ds.st_size);
				r = 1;
				goto out;
			}
			if ((cx->content || ss.st_mtim.tv_sec != ds.st_mtim.tv_sec ||
			     ss.st_mtim.tv_nsec != ds.st_mtim.tv_nsec) &&
			    (r = same_content(sd, dd, nm, &same)) < 0) {
				snprintf(cx->why, cx->whylen, "%s/%s: %s", rel, nm, strerror(-r));
				r = 1;
				goto out;
			}
			if (!same) {
				snprintf(cx->why, cx->whylen, "content differs: %s/%s", rel, nm);
				r = 1;
				goto out;
			}
		} else if (S_ISLNK(ss.st_mode)) {
			char ta[PATH_MAX], tb[PATH_MAX];
			ssize_t la = readlinkat(sd, nm, ta, sizeof(ta));
			ssize_t lb = readlinkat(dd, nm, tb, sizeof(tb));
			if (la < 0 || la != lb || memcmp(ta, tb, (size_t)la) != 0) {
				snprintf(cx->why, cx->whylen, "symlink differs: %s/%s", rel, nm);
				r = 1;
				goto out;
			}
		} else if (S_ISDIR(ss.st_mode)) {
			char sub[PATH_MAX];
			int s2 = openat(sd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int d2 = s2 < 0 ? -1 : openat(dd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 < 0 || d2 < 0) {
				snprintf(cx->why, cx->whylen, "%s/%s: %s", rel, nm, strerror(errno));
				if (s2 >= 0)
					close(s2);
				r = 1;
				goto out;
			}
			snprintf(sub, sizeof(sub), "%s/%s", rel, nm);
			r = cmp_dir(cx, s2, d2, sub, depth + 1);
			close(s2);
			close(d2);
			if (r != 0)
				goto out;
		}
		i++;
		k++;
	}
	r = 0;
out:
	names_free(&a);
	names_free(&b);
	return r;
}

/* 0: dst equals src; 1: differs (why); -errno. */
static int tree_compare(const char *src, const char *dst, bool content, uint64_t *entries,
			char *why, size_t whylen)
{
	struct cmpctx cx = { .content = content, .why = why, .whylen = whylen };
	int sd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;
	if (sd < 0 || dd < 0) {
		r = -errno;
		snprintf(why, whylen, "cannot open '%s': %s", sd < 0 ? src : dst, strerror(errno));
	} else {
		r = cmp_dir(&cx, sd, dd, ".", 0);
	}
	if (sd >= 0)
		close(sd);
	if (dd >= 0)
		close(dd);
	if (entries)
		*entries = cx.entries;
	return r;
}

/* ---- replicator sessions ----------------------------------------------- */

static bool sess_alive(struct br_sess *s)
{
	int st;
	if (s->pid <= 0)
		return false;
	if (wait4(s->pid, &st, WNOHANG, &s->ru) == s->pid) {
		s->pid = 0;
		return false;
	}
	return true;
}

/* SIGTERM, up to 30 s, then SIGKILL; what is left of its process group is
 * killed too (lsyncd's rsync children). */
static void sess_stop(struct br_sess *s)
{
	int st;
	pid_t pg = s->pid;
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 3000; i++) {
		if (wait4(s->pid, &st, WNOHANG, &s->ru) == s->pid) {
			s->pid = 0;
			break;
		}
		usleep(10000);
	}
	if (s->pid > 0) {
		fprintf(stderr, "loafre bench replicate: %s did not stop within 30 s; killing it\n",
			tool_name[s->tool]);
		kill(s->pid, SIGKILL);
		wait4(s->pid, &st, 0, &s->ru);
		s->pid = 0;
	}
	kill(-pg, SIGKILL); /* its group: children left behind, if any */
}

static double ru_cpu(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

/* Writes the tool's configuration in s->base and starts it. */
static int sess_start(struct br *b, struct br_sess *s, char *why, size_t whylen)
{
	char conf[PATH_MAX], text[4 * PATH_MAX + 1024];
	int r;

	if (pathf(s->log, sizeof(s->log), "%s/%s.log", s->base,
		  s->tool == T_LOAFRE ? "loafred" : "lsyncd") < 0)
		return -ENAMETOOLONG;
	if (s->tool == T_LOAFRE) {
		if (pathf(conf, sizeof(conf), "%s/loafre.conf", s->base) < 0 ||
		    pathf(text, sizeof(text),
			  "; written by loafre bench replicate\n"
			  "[loafred]\nrun_dir = run\nlog = stderr\n\n"
			  "[filesystem bench]\ntype = local\npath = %s\njournal = journal\n\n"
			  "[rule bench]\nfilesystem = bench\ndestination = %s\ndelay = 0\n",
			  s->src, s->dst) < 0)
			return -ENAMETOOLONG;
		if ((r = write_file(conf, text)) < 0) {
			snprintf(why, whylen, "cannot write '%s': %s", conf, strerror(-r));
			return r;
		}
		char *argv[] = { b->loafred, "-c", conf, NULL };
		r = spawn(argv, s->log, &s->pid);
		if (r < 0)
			snprintf(why, whylen, "cannot run '%s': %s", b->loafred, strerror(-r));
		return r;
	}
	if (strpbrk(s->src, "\"\\\n") || strpbrk(s->dst, "\"\\\n") || strpbrk(s->base, "\"\\\n")) {
		snprintf(why, whylen, "a path holds a quote or backslash: not written into lsyncd's "
				      "configuration");
		return -EINVAL;
	}
	if (pathf(conf, sizeof(conf), "%s/lsyncd.conf.lua", s->base) < 0 ||
	    pathf(text, sizeof(text),
		  "-- written by loafre bench replicate\n"
		  "settings {\n\tnodaemon = true,\n\tinsist = false,\n"
		  "\tstatusFile = \"%s/lsyncd.status\",\n}\n"
		  "sync {\n\tdefault.rsync,\n\tsource = \"%s\",\n\ttarget = \"%s\",\n"
		  "\tdelay = %u,\n}\n",
		  s->base, s->src, s->dst, s->tool == T_LSYNCD0 ? 0u : 15u) < 0)
		return -ENAMETOOLONG;
	if ((r = write_file(conf, text)) < 0) {
		snprintf(why, whylen, "cannot write '%s': %s", conf, strerror(-r));
		return r;
	}
	char *argv[] = { b->lsyncd, conf, NULL };
	r = spawn(argv, s->log, &s->pid);
	if (r < 0)
		snprintf(why, whylen, "cannot run '%s': %s", b->lsyncd, strerror(-r));
	return r;
}

/* Makes probe files in the source until one is at the destination, then
 * compares the trees until they are equal. */
static int sess_ready(struct br *b, struct br_sess *s, double timeout, char *why, size_t whylen)
{
	uint64_t t0 = now_ns(), t_last = 0;
	char p[PATH_MAX];
	struct stat st;

	for (;;) {
		if (br_stop)
			return -EINTR;
		if (!sess_alive(s)) {
			snprintf(why, whylen, "%s exited at start (see %s)", tool_name[s->tool], s->log);
			return -ECHILD;
		}
		if (s->probes && pathf(p, sizeof(p), "%s/loafre-bench-probe-%" PRIx64 "-%u", s->dst,
				       b->stamp, s->probes - 1) == 0 &&
		    lstat(p, &st) == 0) {
			/* The probe may overtake the rest of the initial sync
			 * (rsync sends a directory's files before its
			 * subdirectories' contents): the whole tree too. */
			char diff[BR_DIFF] = "";
			uint64_t tc = now_ns();
			if (tree_compare(s->src, s->dst, false, NULL, diff, sizeof(diff)) == 0)
				return 0;
			/* a compare of a big tree is long: at most a fifth of
			 * one CPU for it, the rest for the initial sync */
			tc = now_ns() - tc;
			if (tc > 12500000u)
				sleep_until(now_ns() + (tc * 4 < 10000000000u ? tc * 4 : 10000000000u));
			if (secs(now_ns() - t0) > timeout) {
				snprintf(why, whylen, "%s: the destination still differs from the source "
						      "%.0f s after the start: %s", tool_name[s->tool],
					 timeout, diff);
				return -ETIMEDOUT;
			}
			usleep(50000);
			continue;
		}
		/* a new probe every second, less often as a long initial
		 * sync goes on (at most every 10 s) */
		uint64_t every = 1000000000u + (now_ns() - t0) / 10;
		if (every > 10000000000u)
			every = 10000000000u;
		if (now_ns() - t_last >= every) {
			if (secs(now_ns() - t0) > timeout) {
				snprintf(why, whylen, "%s: no probe file reached the destination within "
						      "%.0f s (see %s)", tool_name[s->tool], timeout, s->log);
				return -ETIMEDOUT;
			}
			if (pathf(p, sizeof(p), "%s/loafre-bench-probe-%" PRIx64 "-%u", s->src, b->stamp,
				  s->probes) < 0)
				return -ENAMETOOLONG;
			int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			if (fd < 0) {
				snprintf(why, whylen, "cannot create '%s': %m", p);
				return -errno;
			}
			close(fd);
			s->probes++;
			t_last = now_ns();
		}
		usleep(5000);
	}
}

/* Removes the probe files from the source (a kept tree). */
static void sess_unprobe(struct br *b, struct br_sess *s)
{
	char p[PATH_MAX];
	for (unsigned i = 0; i < s->probes; i++)
		if (pathf(p, sizeof(p), "%s/loafre-bench-probe-%" PRIx64 "-%u", s->src, b->stamp, i) == 0)
			unlink(p);
}

/* ---- the (a) schedule and the workload thread -------------------------- */

static void push_op(struct br *b, uint32_t j, uint8_t kind)
{
	b->ops[b->n_ops] = (struct br_op){ .file = j, .kind = kind };
	b->fidx[(size_t)j * OP_KINDS + kind] = (uint32_t)b->n_ops + 1;
	b->n_ops++;
}

static int build_schedule(struct br *b)
{
	uint64_t total = (uint64_t)((double)b->rate * b->duration + 0.5);
	uint32_t k;
	if (total == 0)
		total = 1;
	b->ops = calloc(total, sizeof(*b->ops));
	b->fidx = calloc(total * OP_KINDS, sizeof(*b->fidx));
	if (!b->ops || !b->fidx)
		return -ENOMEM;
	for (k = 0; b->n_ops < total; k++) {
		push_op(b, k, OP_CREATE);
		if (b->n_ops < total && k % 4 == 0 && k >= BR_LAG_APPEND)
			push_op(b, k - BR_LAG_APPEND, OP_APPEND);
		if (b->n_ops < total && k % 4 == 1 && k >= BR_LAG_RENAME)
			push_op(b, k - BR_LAG_RENAME, OP_RENAME);
		if (b->n_ops < total && k % 4 == 2 && k >= BR_LAG_UNLINK)
			push_op(b, k - BR_LAG_UNLINK, OP_UNLINK);
	}
	b->n_files = k;
	return 0;
}

struct workload {
	struct br *b;          /* the bench */
	char phase;            /* 'a' (the schedule) or 'b' (the storm) */
	int dfd[BR_ADIRS];     /* source directories of the phase */
	uint64_t t0;           /* start (CLOCK_MONOTONIC ns) */
	uint64_t t_end;        /* after the last operation returned */
	uint64_t errors;       /* failed syscalls */
	int first_errno;       /* the first one's errno */
	int done;              /* set (atomic) when finished */
};

#define WL_ERR(w)                               \
	do {                                    \
		if (!(w)->errors++)             \
			(w)->first_errno = errno; \
	} while (0)

static void wl_create(struct workload *w, int dfd, const char *name, size_t bytes)
{
	static const char buf[BR_CREATE_BYTES] = { 'x' };
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		WL_ERR(w);
		return;
	}
	if (write(fd, buf, bytes) != (ssize_t)bytes)
		WL_ERR(w);
	close(fd);
}

static void *workload_main(void *arg)
{
	struct workload *w = arg;
	struct br *b = w->b;
	char n1[32], n2[32];

	sleep_until(w->t0);
	if (w->phase == 'b') {
		for (unsigned i = 0; i < b->storm && !br_stop; i++) {
			snprintf(n1, sizeof(n1), "s%u", i);
			__atomic_store_n(&b->storm_t[i], now_ns(), __ATOMIC_RELEASE);
			wl_create(w, w->dfd[i % BR_BDIRS], n1, BR_CREATE_BYTES);
		}
		w->t_end = now_ns();
		__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	double gap = 1e9 / (double)b->rate;
	for (size_t i = 0; i < b->n_ops && !br_stop; i++) {
		struct br_op *op = &b->ops[i];
		uint32_t j = op->file;
		int da = w->dfd[j % BR_ADIRS], db = w->dfd[(j + 1) % BR_ADIRS];
		sleep_until(w->t0 + (uint64_t)((double)i * gap));
		__atomic_store_n(&op->t_op, now_ns(), __ATOMIC_RELEASE);
		snprintf(n1, sizeof(n1), "f%u", j);
		snprintf(n2, sizeof(n2), "r%u", j);
		switch (op->kind) {
		case OP_CREATE:
			wl_create(w, da, n1, BR_CREATE_BYTES);
			break;
		case OP_APPEND: {
			static const char buf[BR_APPEND_BYTES] = { 'y' };
			int fd = openat(da, n1, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (fd < 0) {
				WL_ERR(w);
				break;
			}
			if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				WL_ERR(w);
			close(fd);
			break;
		}
		case OP_RENAME:
			if (renameat(da, n1, db, n2) < 0)
				WL_ERR(w);
			break;
		case OP_UNLINK:
			if (unlinkat(db, n2, 0) < 0)
				WL_ERR(w);
			break;
		}
	}
	w->t_end = now_ns();
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- the destination watcher ------------------------------------------- */

struct wdir {
	int wd;      /* inotify watch */
	int dfd;     /* the directory, for fstatat */
	char phase;  /* 'a', 'b', or 0 (a directory the workload does not use) */
	unsigned idx; /* its number in the phase */
};

struct watcher {
	int ifd;                          /* inotify descriptor */
	struct wdir w[BR_MAX_WATCHES];    /* watched directories */
	unsigned n;                       /* used */
	uint64_t overflows;               /* IN_Q_OVERFLOW seen */
	uint64_t last_event;              /* time of the last event read */
	uint64_t a_arrived;               /* (a) operations arrived */
	uint64_t b_arrived;               /* storm files arrived */
};

static int watch_add(struct watcher *wt, const char *path, char phase, unsigned idx)
{
	if (wt->n == BR_MAX_WATCHES)
		return -ENOSPC;
	int wd = inotify_add_watch(wt->ifd, path,
				   IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE |
					   IN_MOVED_FROM | IN_ONLYDIR);
	if (wd < 0)
		return -errno;
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	wt->w[wt->n++] = (struct wdir){ .wd = wd, .dfd = dfd, .phase = phase, .idx = idx };
	return 0;
}

static void watch_close(struct watcher *wt)
{
	for (unsigned i = 0; i < wt->n; i++)
		close(wt->w[i].dfd);
	if (wt->ifd >= 0)
		close(wt->ifd);
	wt->ifd = -1;
	wt->n = 0;
}

static void arrive(struct br *b, struct watcher *wt, uint32_t j, int kind, uint64_t t)
{
	uint32_t ix = b->fidx[(size_t)j * OP_KINDS + (size_t)kind];
	if (!ix)
		return;
	struct br_op *op = &b->ops[ix - 1];
	if (op->t_arr || !__atomic_load_n(&op->t_op, __ATOMIC_ACQUIRE))
		return;
	op->t_arr = t;
	wt->a_arrived++;
}

static void on_event(struct br *b, struct watcher *wt, struct wdir *d,
		     const struct inotify_event *ev, uint64_t t)
{
	const uint32_t put = IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE;
	const uint32_t gone = IN_DELETE | IN_MOVED_FROM;
	char *end;
	unsigned long j;
	struct stat st;
	bool have;

	if (!ev->len || (ev->mask & IN_ISDIR)) {
		if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && ev->len) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", d->dfd, ev->name);
			char real[PATH_MAX];
			if (realpath(p, real))
				watch_add(wt, real, 0, 0); /* a new directory: watched too */
		}
		return;
	}
	char c = ev->name[0];
	if ((c != 'f' && c != 'r' && c != 's') || ev->name[1] < '0' || ev->name[1] > '9')
		return;
	errno = 0;
	j = strtoul(ev->name + 1, &end, 10);
	if (*end || errno)
		return;
	have = (ev->mask & put) && fstatat(d->dfd, ev->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
	if (d->phase == 'b' && c == 's' && j < b->storm && j % BR_BDIRS == d->idx &&
	    (ev->mask & put)) {
		if (((have && st.st_size >= BR_CREATE_BYTES) ||
		     (!have && (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)))) &&
		    !b->storm_arr[j] && __atomic_load_n(&b->storm_t[j], __ATOMIC_ACQUIRE)) {
			b->storm_arr[j] = t;
			wt->b_arrived++;
		}
		return;
	}
	if (d->phase != 'a' || j >= b->n_files)
		return;
	if (c == 'f' && j % BR_ADIRS == d->idx && (ev->mask & put)) {
		if (have) {
			if (st.st_size >= BR_CREATE_BYTES)
				arrive(b, wt, (uint32_t)j, OP_CREATE, t);
			if (st.st_size >= BR_CREATE_BYTES + BR_APPEND_BYTES)
				arrive(b, wt, (uint32_t)j, OP_APPEND, t);
		} else if (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) {
			arrive(b, wt, (uint32_t)j, OP_CREATE, t);
		}
	} else if (c == 'r' && (j + 1) % BR_ADIRS == d->idx) {
		if ((ev->mask & put) && (have || (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE))))
			arrive(b, wt, (uint32_t)j, OP_RENAME, t);
		if (ev->mask & gone)
			arrive(b, wt, (uint32_t)j, OP_UNLINK, t);
	}
}

/* Reads the events that are there, waiting up to ms for the first. */
static int watch_drain(struct br *b, struct watcher *wt, int ms)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd pfd = { .fd = wt->ifd, .events = POLLIN };
	if (poll(&pfd, 1, ms) < 0)
		return errno == EINTR ? 0 : -errno;
	for (;;) {
		ssize_t n = read(wt->ifd, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		uint64_t t = now_ns();
		wt->last_event = t;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				wt->overflows++;
				continue;
			}
			for (unsigned i = 0; i < wt->n; i++)
				if (wt->w[i].wd == ev->wd) {
					on_event(b, wt, &wt->w[i], ev, t);
					break;
				}
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted v[0..n) */
static uint64_t pct(const uint64_t *v, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n + 0.999999);
	if (k == 0)
		k = 1;
	return v[k > n ? n - 1 : k - 1];
}

/* ---- (a) and (b) on one replicator ------------------------------------- */

static int small_tree(const char *root)
{
	char p[PATH_MAX];
	if (mkdir(root, 0755) < 0 || pathf(p, sizeof(p), "%s/a", root) < 0 || mkdir(p, 0755) < 0 ||
	    pathf(p, sizeof(p), "%s/b", root) < 0 || mkdir(p, 0755) < 0)
		return -errno;
	for (unsigned i = 0; i < BR_ADIRS; i++)
		if (pathf(p, sizeof(p), "%s/a/d%02u", root, i) < 0 || mkdir(p, 0755) < 0)
			return -errno;
	for (unsigned i = 0; i < BR_BDIRS; i++)
		if (pathf(p, sizeof(p), "%s/b/s%02u", root, i) < 0 || mkdir(p, 0755) < 0)
			return -errno;
	return 0;
}

static int open_dirs(const char *root, char phase, int *dfd)
{
	char p[PATH_MAX];
	unsigned n = phase == 'a' ? BR_ADIRS : BR_BDIRS;
	for (unsigned i = 0; i < BR_ADIRS; i++)
		dfd[i] = -1;
	for (unsigned i = 0; i < n; i++) {
		if (pathf(p, sizeof(p), phase == 'a' ? "%s/a/d%02u" : "%s/b/s%02u", root, i) < 0)
			return -ENAMETOOLONG;
		if ((dfd[i] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			return -errno;
	}
	return 0;
}

static void close_dirs(int *dfd)
{
	for (unsigned i = 0; i < BR_ADIRS; i++)
		if (dfd[i] >= 0)
			close(dfd[i]);
}

/* Waits until dst equals src (content compared), up to timeout s. */
static int wait_equal(struct br_sess *s, double timeout, char *why, size_t whylen)
{
	uint64_t t0 = now_ns();
	char diff[BR_DIFF];
	for (;;) {
		diff[0] = '\0';
		int r = tree_compare(s->src, s->dst, true, NULL, diff, sizeof(diff));
		if (r == 0)
			return 0;
		if (br_stop)
			return -EINTR;
		if (secs(now_ns() - t0) > timeout) {
			snprintf(why, whylen, "the destination differs from the source: %s", diff);
			return -EIO;
		}
		usleep(200000);
	}
}

/* Runs the workload thread of `phase` while reading destination events. */
static int run_workload(struct br *b, const char *src, struct br_sess *s, struct watcher *wt,
			struct workload *w, char *why, size_t whylen)
{
	pthread_t th;
	int r;
	if ((r = open_dirs(src, w->phase, w->dfd)) < 0) {
		snprintf(why, whylen, "cannot open the source's directories: %s", strerror(-r));
		close_dirs(w->dfd);
		return r;
	}
	w->t0 = now_ns() + 50000000u;
	if ((r = -pthread_create(&th, NULL, workload_main, w)) < 0) {
		snprintf(why, whylen, "cannot start the workload thread: %s", strerror(-r));
		close_dirs(w->dfd);
		return r;
	}
	while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE))
		if (wt)
			watch_drain(b, wt, 20);
		else
			usleep(20000);
	pthread_join(th, NULL);
	close_dirs(w->dfd);
	if (br_stop)
		return -EINTR;
	if (w->errors) {
		snprintf(why, whylen, "workload: %" PRIu64 " operations failed (first: %s)", w->errors,
			 strerror(w->first_errno));
		return -EIO;
	}
	if (s && !sess_alive(s)) {
		snprintf(why, whylen, "%s exited during the workload (see %s)", tool_name[s->tool],
			 s->log);
		return -ECHILD;
	}
	return 0;
}

static int phase_a(struct br *b, struct br_sess *s, struct watcher *wt, struct br_res *res,
		   double delay, char *why, size_t whylen)
{
	struct workload w = { .b = b, .phase = 'a' };
	uint64_t t_cmp = 0, t_equal = 0;
	uint64_t *lags = NULL;
	char diff[BR_DIFF] = "";
	double cpu0;
	int r;

	for (size_t i = 0; i < b->n_ops; i++)
		b->ops[i].t_op = b->ops[i].t_arr = 0;
	wt->a_arrived = 0;
	cpu0 = cpu_tree(s->pid);
	if ((r = run_workload(b, s->src, s, wt, &w, why, whylen)) < 0)
		return r;
	wt->last_event = w.t_end;
	for (;;) {
		watch_drain(b, wt, 20);
		uint64_t t = now_ns();
		bool all = wt->a_arrived == b->n_ops;
		if ((all && t - t_cmp >= 250000000u) ||
		    (t - wt->last_event >= 1000000000u && t - t_cmp >= 1000000000u)) {
			t_equal = now_ns();
			r = tree_compare(s->src, s->dst, false, NULL, diff, sizeof(diff));
			t_cmp = now_ns();
			if (r == 0)
				break;
		}
		if (br_stop)
			return -EINTR;
		if (!sess_alive(s)) {
			snprintf(why, whylen, "%s exited (see %s)", tool_name[s->tool], s->log);
			return -ECHILD;
		}
		if (secs(t - w.t_end) > delay + b->settle) {
			snprintf(why, whylen, "(a): the destination still differs from the source "
					      "%g s after the last operation: %s", delay + b->settle, diff);
			return -EIO;
		}
	}
	res->a_cpu = cpu_tree(s->pid) - cpu0;
	res->a_settle = t_equal > w.t_end ? secs(t_equal - w.t_end) : 0;
	if ((r = wait_equal(s, 0, why, whylen)) < 0)
		return r;
	lags = malloc(b->n_ops * sizeof(*lags));
	if (!lags)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < b->n_ops; i++)
		if (b->ops[i].t_arr)
			lags[n++] = b->ops[i].t_arr - b->ops[i].t_op;
	qsort(lags, n, sizeof(*lags), cmp_u64);
	res->a_ops = b->n_ops;
	res->a_measured = n;
	res->a_rate = (double)b->n_ops / secs(w.t_end - w.t0);
	if (n) {
		res->a_p50 = (double)pct(lags, n, 0.50) / 1e6;
		res->a_p99 = (double)pct(lags, n, 0.99) / 1e6;
		res->a_max = (double)lags[n - 1] / 1e6;
	}
	fprintf(b->out,
		"%s (a): %zu operations at %.0f/s, %" PRIu64 " arrived (%" PRIu64
		" superseded before they reached the destination), lag p50 %.1f ms, p99 %.1f ms, "
		"max %.1f ms; destination equal to the source %.2f s after the last operation; "
		"CPU %.2f s%s\n",
		tool_name[s->tool], b->n_ops, res->a_rate, res->a_measured,
		res->a_ops - res->a_measured, res->a_p50, res->a_p99, res->a_max, res->a_settle,
		res->a_cpu, wt->overflows ? " (inotify queue overflowed: some arrivals unseen)" : "");
	/* p99 of the operations made in each second of the workload: a lag
	 * that grows second by second is a replicator falling behind the rate,
	 * a lone high second a stall */
	fprintf(b->out, "%s (a): lag p99 by second of the workload (ms):", tool_name[s->tool]);
	for (uint64_t sec = 0;; sec++) {
		uint64_t lo = w.t0 + sec * 1000000000u, hi = lo + 1000000000u;
		size_t m = 0;
		if (lo >= w.t_end || sec >= 3600)
			break;
		for (size_t i = 0; i < b->n_ops; i++)
			if (b->ops[i].t_arr && b->ops[i].t_op >= lo && b->ops[i].t_op < hi)
				lags[m++] = b->ops[i].t_arr - b->ops[i].t_op;
		if (!m) {
			fprintf(b->out, " -");
			continue;
		}
		qsort(lags, m, sizeof(*lags), cmp_u64);
		fprintf(b->out, " %.0f", (double)pct(lags, m, 0.99) / 1e6);
	}
	fprintf(b->out, "\n");
	free(lags);
	fflush(b->out);
	if (!n) {
		snprintf(why, whylen, "(a): no operation was seen arriving at the destination");
		return -EIO;
	}
	return 0;
}

static int phase_b(struct br *b, struct br_sess *s, struct watcher *wt, struct br_res *res,
		   double delay, char *why, size_t whylen)
{
	struct workload w = { .b = b, .phase = 'b' };
	uint64_t unseen = 0, last = 0;
	int r;

	memset(b->storm_t, 0, b->storm * sizeof(*b->storm_t));
	memset(b->storm_arr, 0, b->storm * sizeof(*b->storm_arr));
	wt->b_arrived = 0;
	if ((r = run_workload(b, s->src, s, wt, &w, why, whylen)) < 0)
		return r;
	wt->last_event = w.t_end;
	while (wt->b_arrived < b->storm) {
		watch_drain(b, wt, 20);
		uint64_t t = now_ns();
		if (t - wt->last_event >= 1000000000u) {
			/* quiet: look for files whose events were lost */
			for (unsigned i = 0; i < wt->n; i++) {
				if (wt->w[i].phase != 'b')
					continue;
				for (unsigned j = wt->w[i].idx; j < b->storm; j += BR_BDIRS) {
					struct stat st;
					char nm[32];
					snprintf(nm, sizeof(nm), "s%u", j);
					if (!b->storm_arr[j] &&
					    fstatat(wt->w[i].dfd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
					    st.st_size >= BR_CREATE_BYTES) {
						b->storm_arr[j] = t;
						wt->b_arrived++;
						unseen++;
					}
				}
			}
			wt->last_event = t;
		}
		if (br_stop)
			return -EINTR;
		if (!sess_alive(s)) {
			snprintf(why, whylen, "%s exited (see %s)", tool_name[s->tool], s->log);
			return -ECHILD;
		}
		if (secs(t - w.t_end) > delay + b->settle) {
			snprintf(why, whylen, "(b): %" PRIu64 " of %u files at the destination %g s "
					      "after the storm", wt->b_arrived, b->storm, delay + b->settle);
			return -EIO;
		}
	}
	for (unsigned i = 0; i < b->storm; i++)
		if (b->storm_arr[i] > last)
			last = b->storm_arr[i];
	res->b_time = last > w.t_end ? secs(last - w.t_end) : 0;
	res->b_arrived = wt->b_arrived;
	res->b_ran = true;
	if ((r = wait_equal(s, b->settle, why, whylen)) < 0)
		return r;
	fprintf(b->out,
		"%s (b): %u creates in %.3f s, all at the destination %.3f s after the last one%s; "
		"destination equal to the source\n",
		tool_name[s->tool], b->storm, secs(w.t_end - w.t0), res->b_time,
		unseen ? " (some arrivals found by a scan after a quiet second: late by up to 1 s)"
		       : "");
	fflush(b->out);
	return 0;
}

/* Prints the last lines of a log to stderr (a failed replicator). */
static void log_tail(const char *log, const char *who)
{
	char lines[8][512];
	unsigned n = 0;
	FILE *f = fopen(log, "re");
	if (!f)
		return;
	while (fgets(lines[n % 8], sizeof(lines[0]), f))
		n++;
	fclose(f);
	if (!n)
		return;
	fprintf(stderr, "loafre bench replicate: last lines of %s's log:\n", who);
	for (unsigned i = n > 8 ? n - 8 : 0; i < n; i++)
		fprintf(stderr, "  %s%s", lines[i % 8], strchr(lines[i % 8], '\n') ? "" : "\n");
}

static const char *tool_dir(enum br_tool t)
{
	return t == T_LOAFRE ? "loafre" : t == T_LSYNCD0 ? "lsyncd0" : "lsyncd15";
}

/* (a) (with (d)) and (b) on one replicator, in a session of its own. */
static int run_tool_ab(struct br *b, enum br_tool tool)
{
	struct br_res *res = &b->res[tool];
	struct br_sess s = { .tool = tool };
	struct watcher wt = { .ifd = -1 };
	double delay = tool == T_LSYNCD15 ? 15 : 0;
	char p[PATH_MAX];
	int r;

	res->ran = true;
	if (pathf(s.base, sizeof(s.base), "%s/%s", b->tmp, tool_dir(tool)) < 0 ||
	    pathf(s.src, sizeof(s.src), "%s/src", s.base) < 0 ||
	    pathf(s.dst, sizeof(s.dst), "%s/dst", s.base) < 0) {
		r = -ENAMETOOLONG;
		failf(res->why, sizeof(res->why), "directory name too long");
		goto out;
	}
	if (mkdir(s.base, 0700) < 0 || small_tree(s.src) < 0 || mkdir(s.dst, 0755) < 0) {
		r = -errno;
		failf(res->why, sizeof(res->why), "cannot make the trees in '%s': %m", s.base);
		goto out;
	}
	uint64_t t0 = now_ns();
	if ((r = sess_start(b, &s, res->why, sizeof(res->why))) < 0 ||
	    (r = sess_ready(b, &s, b->settle, res->why, sizeof(res->why))) < 0)
		goto out;
	res->ready = secs(now_ns() - t0);
	wt.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (wt.ifd < 0) {
		r = -errno;
		failf(res->why, sizeof(res->why), "inotify_init1: %m");
		goto out;
	}
	for (unsigned i = 0; i < BR_ADIRS + BR_BDIRS + 2 && r >= 0; i++) {
		char phase = i < BR_ADIRS ? 'a' : i < BR_ADIRS + BR_BDIRS ? 'b' : 0;
		unsigned idx = i < BR_ADIRS ? i : i - BR_ADIRS;
		if (phase == 'a')
			r = pathf(p, sizeof(p), "%s/a/d%02u", s.dst, idx);
		else if (phase == 'b')
			r = pathf(p, sizeof(p), "%s/b/s%02u", s.dst, idx);
		else
			r = pathf(p, sizeof(p), "%s/%s", s.dst, i == BR_ADIRS + BR_BDIRS ? "a" : "b");
		if (r == 0 && (r = watch_add(&wt, p, phase, idx)) < 0)
			failf(res->why, sizeof(res->why),
			      "cannot watch '%s' (did the initial sync copy it?): %s", p, strerror(-r));
	}
	if (r < 0)
		goto out;
	fprintf(b->out, "%s: ready %.2f s after its start (a probe file reached the destination)\n",
		tool_name[tool], res->ready);
	if ((b->only & (ONLY_A | ONLY_D)) &&
	    (r = phase_a(b, &s, &wt, res, delay, res->why, sizeof(res->why))) < 0)
		goto out;
	if ((b->only & ONLY_B) &&
	    (r = phase_b(b, &s, &wt, res, delay, res->why, sizeof(res->why))) < 0)
		goto out;
	sess_stop(&s);
	res->total_cpu = ru_cpu(&s.ru);
	r = 0;
out:
	if (r < 0 && r != -EINTR) {
		res->failed = true;
		failf(res->why, sizeof(res->why), "%s", strerror(-r));
		fprintf(stderr, "loafre bench replicate: %s: %s\n", tool_name[tool], res->why);
		if (s.log[0])
			log_tail(s.log, tool_name[tool]);
	}
	sess_stop(&s);
	watch_close(&wt);
	if (s.base[0] && rm_tree(s.base) < 0)
		fprintf(stderr, "loafre bench replicate: cannot remove '%s': %m\n", s.base);
	return r == -EINTR ? r : 0;
}

/* (b) for rsync: an initial pass, the storm, then one timed pass. */
static int run_rsync_b(struct br *b)
{
	struct br_sess s = { .tool = T_NTOOLS };
	struct workload w = { .b = b, .phase = 'b' };
	double wall, cpu;
	int r;

	b->rsync_b_ran = true;
	if (pathf(s.base, sizeof(s.base), "%s/rsync-b", b->tmp) < 0 ||
	    pathf(s.src, sizeof(s.src), "%s/src/", s.base) < 0 ||
	    pathf(s.dst, sizeof(s.dst), "%s/dst/", s.base) < 0 ||
	    pathf(s.log, sizeof(s.log), "%s/rsync.log", s.base) < 0) {
		r = -ENAMETOOLONG;
		goto out;
	}
	if (mkdir(s.base, 0700) < 0 || small_tree(s.src) < 0) {
		r = -errno;
		goto out;
	}
	char *argv[] = { b->rsync, "-a", "--delete", s.src, s.dst, NULL };
	if ((r = run_wait(argv, s.log, &wall, &cpu)) < 0) {
		failf(b->rsync_why, sizeof(b->rsync_why), "rsync failed (see %s)", s.log);
		goto out;
	}
	memset(b->storm_t, 0, b->storm * sizeof(*b->storm_t));
	if ((r = run_workload(b, s.src, NULL, NULL, &w, b->rsync_why, sizeof(b->rsync_why))) < 0)
		goto out;
	if ((r = run_wait(argv, s.log, &b->rsync_b, &b->rsync_b_cpu)) < 0) {
		failf(b->rsync_why, sizeof(b->rsync_why), "rsync failed (see %s)", s.log);
		goto out;
	}
	if ((r = wait_equal(&s, 0, b->rsync_why, sizeof(b->rsync_why))) < 0)
		goto out;
	fprintf(b->out, "rsync (b): one rsync -a --delete pass after the storm: %.3f s (CPU %.2f s); "
			"destination equal to the source\n", b->rsync_b, b->rsync_b_cpu);
	fflush(b->out);
out:
	if (r < 0 && r != -EINTR) {
		b->rsync_failed = true;
		failf(b->rsync_why, sizeof(b->rsync_why), "%s", strerror(-r));
		fprintf(stderr, "loafre bench replicate: rsync: %s\n", b->rsync_why);
		if (s.log[0])
			log_tail(s.log, "rsync");
	}
	if (s.base[0] && rm_tree(s.base) < 0)
		fprintf(stderr, "loafre bench replicate: cannot remove '%s': %m\n", s.base);
	return r == -EINTR ? r : 0;
}

/* ---- (c): the big tree ---------------------------------------------------- */

#define BR_PER_DIR 100u   /* files per directory */
#define BR_PER_GROUP 100u /* directories per group */

static uint64_t tree_dirs(uint64_t n)
{
	return (n + BR_PER_DIR - 1) / BR_PER_DIR;
}

struct maker {
	const char *tree; /* the tree */
	uint64_t n;       /* files */
	unsigned slice;   /* this thread's */
	unsigned nslices; /* of */
	int err;          /* first error (negative errno) */
};

static void *maker_main(void *arg)
{
	struct maker *m = arg;
	char p[PATH_MAX], buf[256];
	uint64_t dirs = tree_dirs(m->n);
	for (uint64_t d = m->slice; d < dirs && !br_stop; d += m->nslices) {
		uint64_t g = d / BR_PER_GROUP;
		if (d % BR_PER_GROUP < m->nslices) { /* this thread's first in the group */
			pathf(p, sizeof(p), "%s/g%03" PRIu64, m->tree, g);
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				goto fail;
		}
		pathf(p, sizeof(p), "%s/g%03" PRIu64 "/d%05" PRIu64, m->tree, g, d);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			goto fail;
		int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			goto fail;
		for (uint64_t f = d * BR_PER_DIR; f < (d + 1) * BR_PER_DIR && f < m->n; f++) {
			char nm[32];
			size_t sz = 1 + (size_t)((f * 2654435761u) >> 8) % 256;
			memset(buf, 'a' + (int)(f % 26), sz);
			snprintf(nm, sizeof(nm), "f%07" PRIu64, f);
			int fd = openat(dfd, nm, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0 || write(fd, buf, sz) != (ssize_t)sz) {
				if (fd >= 0)
					close(fd);
				close(dfd);
				goto fail;
			}
			close(fd);
		}
		close(dfd);
	}
	return NULL;
fail:
	m->err = errno ? -errno : -EIO;
	return NULL;
}

/* The tree DIR/loafre-bench-repl-tree-N: reused when its marker says it is
 * complete, else made (again). */
static int make_tree(struct br *b, char *why, size_t whylen)
{
	char marker[PATH_MAX], line[256], want[128];
	struct maker m[2];
	pthread_t th[2];
	FILE *f;
	int r;

	if (pathf(b->tree, sizeof(b->tree), "%s/loafre-bench-repl-tree-%" PRIu64, b->dir, b->n) < 0 ||
	    pathf(marker, sizeof(marker), "%s.done", b->tree) < 0)
		return -ENAMETOOLONG;
	snprintf(want, sizeof(want), "loafre-bench-repl-tree 1 n=%" PRIu64 " ", b->n);
	if ((f = fopen(marker, "re"))) {
		bool ok = fgets(line, sizeof(line), f) && strncmp(line, want, strlen(want)) == 0;
		fclose(f);
		if (ok) {
			fprintf(b->out, "tree: %" PRIu64 " files in %" PRIu64
				" directories: reused %s (its marker says complete)\n",
				b->n, tree_dirs(b->n), b->tree);
			return 0;
		}
	}
	unlink(marker);
	if ((r = rm_tree(b->tree)) < 0 || mkdir(b->tree, 0755) < 0) {
		r = r < 0 ? r : -errno;
		snprintf(why, whylen, "cannot make '%s': %s", b->tree, strerror(-r));
		return r;
	}
	b->tree_made = true;
	fprintf(b->out, "tree: making %" PRIu64 " files in %" PRIu64 " directories under %s\n", b->n,
		tree_dirs(b->n), b->tree);
	fflush(b->out);
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < 2; i++) {
		m[i] = (struct maker){ .tree = b->tree, .n = b->n, .slice = i, .nslices = 2 };
		if ((r = -pthread_create(&th[i], NULL, maker_main, &m[i])) < 0) {
			for (unsigned k = 0; k < i; k++)
				pthread_join(th[k], NULL);
			snprintf(why, whylen, "cannot start a thread: %s", strerror(-r));
			return r;
		}
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	if (br_stop)
		return -EINTR;
	for (unsigned i = 0; i < 2; i++)
		if (m[i].err < 0) {
			snprintf(why, whylen, "cannot make the tree '%s': %s", b->tree,
				 strerror(-m[i].err));
			return m[i].err;
		}
	b->tree_secs = secs(now_ns() - t0);
	snprintf(line, sizeof(line), "%sdirs=%" PRIu64 "\n", want, tree_dirs(b->n));
	if ((r = write_file(marker, line)) < 0) {
		snprintf(why, whylen, "cannot write '%s': %s", marker, strerror(-r));
		return r;
	}
	fprintf(b->out, "tree: %" PRIu64 " files in %" PRIu64 " directories made in %.1f s\n", b->n,
		tree_dirs(b->n), b->tree_secs);
	fflush(b->out);
	return 0;
}

struct expect {
	char rel[96];   /* path relative to the tree */
	long long size; /* its size, -1: absent */
};

/* A random original file (fNNNNNNN) of the tree not in ex[0..n). */
static int pick_file(struct br *b, uint64_t *rng, const struct expect *ex, size_t n, char *rel,
		     size_t cap, long long *size)
{
	uint64_t dirs = tree_dirs(b->n);
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t d = rng_next(rng) % dirs;
		char dir[PATH_MAX];
		struct names ns = { 0 };
		int dfd;
		if (pathf(dir, sizeof(dir), "%s/g%03" PRIu64 "/d%05" PRIu64, b->tree,
			  d / BR_PER_GROUP, d) < 0)
			return -ENAMETOOLONG;
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			continue;
		if (list_dir(dfd, &ns) == 0 && ns.n) {
			size_t start = rng_next(rng) % ns.n;
			for (size_t i = 0; i < ns.n; i++) {
				const char *nm = ns.v[(start + i) % ns.n];
				struct stat st;
				bool used = false;
				if (nm[0] != 'f' ||
				    fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
					continue;
				snprintf(rel, cap, "g%03" PRIu64 "/d%05" PRIu64 "/%s", d / BR_PER_GROUP, d,
					 nm);
				for (size_t k = 0; k < n && !used; k++)
					used = strcmp(ex[k].rel, rel) == 0;
				if (used)
					continue;
				*size = (long long)st.st_size;
				names_free(&ns);
				close(dfd);
				return 0;
			}
		}
		names_free(&ns);
		close(dfd);
	}
	return -ENOENT;
}

/* BR_CHANGES changes to the tree: 40 creates, 20 appends, 20 renames, 20
 * unlinks; what the destination must then hold in ex. */
static int make_changes(struct br *b, unsigned tag, uint64_t *rng, struct expect *ex,
			size_t *n_ex, uint64_t *t_last, char *why, size_t whylen)
{
	static const char data[BR_CREATE_BYTES] = { 'z' };
	char p[PATH_MAX], q[PATH_MAX], rel[96];
	long long size;
	size_t n = 0;
	int r;

	for (unsigned i = 0; i < BR_CHANGES; i++) {
		unsigned kind = i % 5; /* 0, 1 create; 2 append; 3 rename; 4 unlink */
		if (kind == 0 || kind == 1) {
			uint64_t d = rng_next(rng) % tree_dirs(b->n);
			snprintf(ex[n].rel, sizeof(ex[n].rel),
				 "g%03" PRIu64 "/d%05" PRIu64 "/n%" PRIx64 "_%u_%u", d / BR_PER_GROUP, d,
				 b->stamp, tag, i);
			ex[n].size = BR_CREATE_BYTES;
			if (pathf(p, sizeof(p), "%s/%s", b->tree, ex[n].rel) < 0)
				return -ENAMETOOLONG;
			int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd < 0 || write(fd, data, sizeof(data)) != (ssize_t)sizeof(data)) {
				r = -errno;
				snprintf(why, whylen, "cannot create '%s': %m", p);
				if (fd >= 0)
					close(fd);
				return r;
			}
			close(fd);
			n++;
			continue;
		}
		if ((r = pick_file(b, rng, ex, n, rel, sizeof(rel), &size)) < 0) {
			snprintf(why, whylen, "no file left to change in '%s'", b->tree);
			return r;
		}
		if (pathf(p, sizeof(p), "%s/%s", b->tree, rel) < 0)
			return -ENAMETOOLONG;
		snprintf(ex[n].rel, sizeof(ex[n].rel), "%s", rel);
		if (kind == 2) {
			int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (fd < 0 || write(fd, data, BR_APPEND_BYTES) != BR_APPEND_BYTES) {
				r = -errno;
				snprintf(why, whylen, "cannot append to '%s': %m", p);
				if (fd >= 0)
					close(fd);
				return r;
			}
			close(fd);
			ex[n++].size = size + BR_APPEND_BYTES;
		} else if (kind == 3) {
			ex[n++].size = -1;
			snprintf(ex[n].rel, sizeof(ex[n].rel), "%.*s/m%" PRIx64 "_%u_%u",
				 (int)(strrchr(rel, '/') - rel), rel, b->stamp, tag, i);
			ex[n].size = size;
			if (pathf(q, sizeof(q), "%s/%s", b->tree, ex[n].rel) < 0)
				return -ENAMETOOLONG;
			if (rename(p, q) < 0) {
				r = -errno;
				snprintf(why, whylen, "cannot rename '%s': %m", p);
				return r;
			}
			n++;
		} else {
			if (unlink(p) < 0) {
				r = -errno;
				snprintf(why, whylen, "cannot unlink '%s': %m", p);
				return r;
			}
			ex[n++].size = -1;
		}
	}
	*t_last = now_ns();
	*n_ex = n;
	return 0;
}

static bool expect_met(int dfd, const struct expect *ex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		int r = fstatat(dfd, ex[i].rel, &st, AT_SYMLINK_NOFOLLOW);
		if (ex[i].size < 0 ? (r == 0 || errno != ENOENT)
				   : (r < 0 || !S_ISREG(st.st_mode) || st.st_size != ex[i].size))
			return false;
	}
	return true;
}

/* (c) for one replicator: started on the tree with an empty destination,
 * ready (its initial sync), the changes, converge. */
static int run_tool_c(struct br *b, enum br_tool tool, uint64_t *rng)
{
	struct br_res *res = &b->res[tool];
	struct br_sess s = { .tool = tool };
	struct expect ex[BR_CHANGES + BR_CHANGES / 5];
	double delay = tool == T_LSYNCD15 ? 15 : 0, cpu0;
	uint64_t t_last = 0, t_done = 0, entries = 0;
	size_t n_ex = 0;
	char why[BR_DIFF] = "";
	int dfd = -1, r;

	if (pathf(s.base, sizeof(s.base), "%s/c-%s", b->tmp, tool_dir(tool)) < 0 ||
	    pathf(s.dst, sizeof(s.dst), "%s/dst", s.base) < 0 ||
	    pathf(s.src, sizeof(s.src), "%s", b->tree) < 0) {
		r = -ENAMETOOLONG;
		goto out;
	}
	if (mkdir(s.base, 0700) < 0 || mkdir(s.dst, 0755) < 0) {
		r = -errno;
		failf(res->why, sizeof(res->why), "cannot make '%s': %m", s.dst);
		goto out;
	}
	uint64_t t0 = now_ns();
	if ((r = sess_start(b, &s, res->why, sizeof(res->why))) < 0 ||
	    (r = sess_ready(b, &s, 7200, res->why, sizeof(res->why))) < 0)
		goto out;
	res->c_init = secs(now_ns() - t0);
	fprintf(b->out, "%s (c): initial sync of the tree (start to a probe file's arrival) %.1f s\n",
		tool_name[tool], res->c_init);
	fflush(b->out);
	if ((dfd = open(s.dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = -errno;
		goto out;
	}
	cpu0 = cpu_tree(s.pid);
	if ((r = make_changes(b, (unsigned)tool, rng, ex, &n_ex, &t_last, res->why, sizeof(res->why))) < 0)
		goto out;
	for (;;) {
		if (expect_met(dfd, ex, n_ex)) {
			t_done = now_ns();
			break;
		}
		if (br_stop) {
			r = -EINTR;
			goto out;
		}
		if (!sess_alive(&s)) {
			r = -ECHILD;
			failf(res->why, sizeof(res->why), "%s exited (see %s)", tool_name[tool], s.log);
			goto out;
		}
		if (secs(now_ns() - t_last) > delay + 5 * b->settle) {
			r = -ETIMEDOUT;
			failf(res->why, sizeof(res->why),
			      "(c): the changes were not at the destination %g s after the last one",
			      delay + 5 * b->settle);
			goto out;
		}
		usleep(1000);
	}
	res->c_time = secs(t_done - t_last);
	res->c_cpu = cpu_tree(s.pid) - cpu0;
	/* everything, not only the changed paths */
	r = tree_compare(s.src, s.dst, false, &entries, why, sizeof(why));
	if (r != 0) {
		failf(res->why, sizeof(res->why), "(c): the destination differs from the source: %s",
		      why);
		r = r < 0 ? r : -EIO;
		goto out;
	}
	res->c_ran = true;
	fprintf(b->out,
		"%s (c): %u changes at the destination %.3f s after the last one (CPU %.2f s); "
		"destination equal to the source (%" PRIu64 " entries compared)\n",
		tool_name[tool], BR_CHANGES, res->c_time, res->c_cpu, entries);
	fflush(b->out);
	r = 0;
out:
	if (dfd >= 0)
		close(dfd);
	if (r < 0 && r != -EINTR) {
		res->failed = true;
		failf(res->why, sizeof(res->why), "%s", strerror(-r));
		fprintf(stderr, "loafre bench replicate: %s: %s\n", tool_name[tool], res->why);
		if (s.log[0])
			log_tail(s.log, tool_name[tool]);
	}
	sess_stop(&s);
	sess_unprobe(b, &s);
	/* the destination (N files) is removed with the temporary directory
	 * at the end, after the figures: minutes at 1 M files */
	return r == -EINTR ? r : 0;
}

static int run_c(struct br *b)
{
	char dst[PATH_MAX], src[PATH_MAX], log[PATH_MAX], why[BR_DIFF] = "";
	uint64_t rng = b->stamp | 1, entries = 0;
	double cpu;
	int r;

	if ((r = make_tree(b, b->rsync_why, sizeof(b->rsync_why))) < 0)
		return r;
	if (pathf(dst, sizeof(dst), "%s/c-rsync/", b->tmp) < 0 ||
	    pathf(src, sizeof(src), "%s/", b->tree) < 0 ||
	    pathf(log, sizeof(log), "%s/c-rsync.log", b->tmp) < 0)
		return -ENAMETOOLONG;
	char *argv[] = { b->rsync, "-a", "--delete", src, dst, NULL };
	b->rsync_c_ran = true;
	if ((r = run_wait(argv, log, &b->rsync_c_init, &cpu)) < 0) {
		if (r == -EINTR)
			return r;
		b->rsync_failed = true;
		failf(b->rsync_why, sizeof(b->rsync_why), "rsync failed: %s", strerror(-r));
		log_tail(log, "rsync");
	} else {
		fprintf(b->out, "rsync (c): initial rsync -a --delete of the tree %.1f s (CPU %.1f s)\n",
			b->rsync_c_init, cpu);
		fflush(b->out);
	}
	for (int t = T_LOAFRE; t <= T_LSYNCD0; t++) {
		if (t == T_LSYNCD0 && b->no_lsyncd)
			continue;
		if ((r = run_tool_c(b, (enum br_tool)t, &rng)) < 0)
			return r;
	}
	if (b->rsync_failed)
		return 0;
	if ((r = run_wait(argv, log, &b->rsync_c, &b->rsync_c_cpu)) < 0) {
		if (r == -EINTR)
			return r;
		b->rsync_failed = true;
		failf(b->rsync_why, sizeof(b->rsync_why), "rsync failed: %s", strerror(-r));
		log_tail(log, "rsync");
		return 0;
	}
	r = tree_compare(src, dst, false, &entries, why, sizeof(why));
	if (r != 0) {
		b->rsync_failed = true;
		failf(b->rsync_why, sizeof(b->rsync_why),
		      "(c): the destination differs from the source: %s", why);
		return 0;
	}
	fprintf(b->out,
		"rsync (c): one rsync -a --delete full pass %.3f s (CPU %.2f s); destination equal "
		"to the source (%" PRIu64 " entries compared)\n",
		b->rsync_c, b->rsync_c_cpu, entries);
	fflush(b->out);
	return 0;
}

/* ---- the summary --------------------------------------------------------- */

/* "loafre 12.3 ms" or "loafre failed" or "loafre -" into buf. */
static void fig(char *buf, size_t cap, const char *who, bool ok, bool failed, double v,
		int prec, const char *unit)
{
	char num[64];
	if (!ok) {
		snprintf(buf, cap, "%s %s", who, failed ? "failed" : "not run");
		return;
	}
	snprintf(num, sizeof(num), "%.*f", prec, v);
	snprintf(buf, cap, "%s %s %s", who, num, unit);
}

static void ratio(char *buf, size_t cap, bool ok, double num, double den)
{
	if (!ok || den <= 0)
		snprintf(buf, cap, "ratio -");
	else
		snprintf(buf, cap, "ratio %.1fx", num / den);
}

static void summary(struct br *b)
{
	const struct br_res *L = &b->res[T_LOAFRE], *Z = &b->res[T_LSYNCD0],
			    *F = &b->res[T_LSYNCD15];
	bool lok = L->ran && !L->failed && L->a_measured, zok = Z->ran && !Z->failed && Z->a_measured,
	     fok = F->ran && !F->failed && F->a_measured;
	char x[128], y[128], z[128], w[128], rr[64];
	double load[3] = { 0, 0, 0 };

	getloadavg(load, 3);
	fprintf(b->out, "summary (issue 6, section 6; %ld CPUs, load average %.2f %.2f %.2f; ratio = "
			"the other's figure / loafre's)\n",
		sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
	if (b->only & ONLY_A) {
		for (int k = 0; k < 2; k++) {
			double lv = k ? L->a_p99 : L->a_p50, zv = k ? Z->a_p99 : Z->a_p50,
			       fv = k ? F->a_p99 : F->a_p50;
			fig(x, sizeof(x), "loafre", lok, L->failed, lv, 1, "ms");
			fig(y, sizeof(y), "lsyncd(delay=0)", zok, Z->failed, zv, 1, "ms");
			fig(z, sizeof(z), "lsyncd(delay=15)", fok, F->failed, fv, 1, "ms");
			ratio(rr, sizeof(rr), lok && zok, zv, lv);
			fprintf(b->out, "(a) lag %s at %" PRIu64 " ops/s for %g s: %s, %s, %s; %s\n",
				k ? "p99" : "p50", b->rate, b->duration, x, b->no_lsyncd ? "lsyncd -" : y,
				rr, b->no_lsyncd ? "lsyncd(delay=15) -" : z);
		}
	}
	if (b->only & ONLY_B) {
		bool lb = L->b_ran && !L->failed, zb = Z->b_ran && !Z->failed, fb = F->b_ran && !F->failed,
		     rb = b->rsync_b_ran && !b->rsync_failed;
		fig(x, sizeof(x), "loafre", lb, L->failed, L->b_time, 3, "s");
		fig(y, sizeof(y), "lsyncd(delay=0)", zb, Z->failed, Z->b_time, 3, "s");
		fig(z, sizeof(z), "lsyncd(delay=15)", fb, F->failed, F->b_time, 3, "s");
		fig(w, sizeof(w), "rsync -a --delete pass", rb, b->rsync_failed, b->rsync_b, 3,
		    "s");
		ratio(rr, sizeof(rr), lb && zb, Z->b_time, L->b_time);
		fprintf(b->out, "(b) storm of %u creates, last create to all at the destination: %s, "
				"%s, %s; %s; %s\n",
			b->storm, x, b->no_lsyncd ? "lsyncd -" : y, rr,
			b->no_lsyncd ? "lsyncd(delay=15) -" : z, w);
	}
	if (b->only & ONLY_C) {
		bool lc = L->c_ran && !L->failed, zc = Z->c_ran && !Z->failed,
		     rc = b->rsync_c_ran && !b->rsync_failed && b->rsync_c > 0;
		fig(x, sizeof(x), "loafre", lc, L->failed, L->c_time, 3, "s");
		fig(y, sizeof(y), "rsync -a --delete full pass", rc, b->rsync_failed, b->rsync_c, 3,
		    "s");
		fig(z, sizeof(z), "lsyncd(delay=0)", zc, Z->failed, Z->c_time, 3, "s");
		ratio(rr, sizeof(rr), lc && rc, b->rsync_c, L->c_time);
		fprintf(b->out, "(c) converge after %u changes in %" PRIu64 " files: %s, %s, %s; %s\n",
			BR_CHANGES, b->n, x, y, rr, b->no_lsyncd ? "lsyncd -" : z);
	}
	if (b->only & ONLY_D) {
		double lv = L->a_ops ? L->a_cpu * 1e4 / (double)L->a_ops : 0,
		       zv = Z->a_ops ? Z->a_cpu * 1e4 / (double)Z->a_ops : 0,
		       fv = F->a_ops ? F->a_cpu * 1e4 / (double)F->a_ops : 0;
		fig(x, sizeof(x), "loafre", lok, L->failed, lv, 2, "s");
		fig(y, sizeof(y), "lsyncd(delay=0)", zok, Z->failed, zv, 2, "s");
		fig(z, sizeof(z), "lsyncd(delay=15)", fok, F->failed, fv, 2, "s");
		ratio(rr, sizeof(rr), lok && zok, zv, lv);
		fprintf(b->out, "(d) CPU seconds (user+sys, children included) per 10 k operations "
				"of (a): %s, %s, %s; %s\n",
			x, b->no_lsyncd ? "lsyncd -" : y, rr, b->no_lsyncd ? "lsyncd(delay=15) -" : z);
	}
	fprintf(b->out, "targets (issue 6):\n");
	if (b->only & ONLY_A) {
		if (lok)
			fprintf(b->out, "  lag p99 <= 250 ms: %.1f ms: %s\n", L->a_p99,
				L->a_p99 <= 250 ? "yes" : "no");
		else
			fprintf(b->out, "  lag p99 <= 250 ms: loafre %s: no\n",
				L->failed ? "failed" : "not run");
	}
	if (b->only & ONLY_B) {
		if (L->b_ran && !L->failed)
			fprintf(b->out, "  storm complete <= 0.5 s after the last create: %.3f s: %s\n",
				L->b_time, L->b_time <= 0.5 ? "yes" : "no");
		else
			fprintf(b->out, "  storm complete <= 0.5 s after the last create: loafre %s: no\n",
				L->failed ? "failed" : "not run");
	}
	if (b->only & ONLY_C) {
		if (L->c_ran && !L->failed && b->rsync_c > 0 && L->c_time > 0)
			fprintf(b->out, "  converge >= 100x faster than rsync's full pass: %.1fx: %s\n",
				b->rsync_c / L->c_time, b->rsync_c / L->c_time >= 100 ? "yes" : "no");
		else
			fprintf(b->out, "  converge >= 100x faster than rsync's full pass: %s: no\n",
				L->failed || !L->c_ran ? "loafre failed or not run" : "rsync failed");
	}
}

/* ---- the command ---------------------------------------------------------- */

static int parse_only(const char *a, unsigned *ret)
{
	unsigned m = 0;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", a);
	if (strlen(a) >= sizeof(buf))
		return -EINVAL;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strlen(t) != 1 || t[0] < 'a' || t[0] > 'd')
			return -EINVAL;
		m |= 1u << (t[0] - 'a');
	}
	if (!m)
		return -EINVAL;
	*ret = m;
	return 0;
}

static int run(struct br *b)
{
	char why[BR_DIFF] = "";
	int r = 0;

	if (b->only & (ONLY_A | ONLY_B | ONLY_D)) {
		if (b->only & (ONLY_A | ONLY_D)) {
			if ((r = build_schedule(b)) < 0)
				return r;
		}
		if (b->only & ONLY_B) {
			b->storm_t = calloc(b->storm, sizeof(*b->storm_t));
			b->storm_arr = calloc(b->storm, sizeof(*b->storm_arr));
			if (!b->storm_t || !b->storm_arr)
				return -ENOMEM;
		}
		for (int t = T_LOAFRE; t < T_NTOOLS; t++) {
			if (t != T_LOAFRE && b->no_lsyncd)
				continue;
			if ((r = run_tool_ab(b, (enum br_tool)t)) < 0)
				return r;
		}
		if ((b->only & ONLY_B) && (r = run_rsync_b(b)) < 0)
			return r;
	}
	if (b->only & ONLY_C) {
		r = run_c(b);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "loafre bench replicate: (c): %s\n",
				b->rsync_why[0] ? b->rsync_why : strerror(-r));
			b->rsync_failed = true;
			r = 0;
		}
	}
	(void)why;
	return r;
}

int cmd_bench_repl(struct cli *c)
{
	struct br b = { .n = 1000000, .rate = 2000, .duration = 10, .storm = 2000,
			.only = ONLY_A | ONLY_B | ONLY_C | ONLY_D, .settle = 120, .out = stdout,
			.stop = &br_stop };
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	char self[PATH_MAX] = "loafre";
	double load[3] = { 0, 0, 0 };
	bool failed = false;
	int r;

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		uint64_t v = 0;
		char *e;
		switch (c->opts[i].opt) {
		case 'n':
			if (!cli_parse_recno(a, &v) || v < BR_PER_DIR || v > BR_MAX_N) {
				fprintf(stderr, "loafre bench replicate: bad -n '%s' (%u to %llu)\n", a,
					BR_PER_DIR, BR_MAX_N);
				return CLI_USAGE;
			}
			b.n = v;
			break;
		case 'O':
		case 'r':
			if (!cli_parse_recno(a, &v) || v == 0 || v > 1000000) {
				fprintf(stderr, "loafre bench replicate: bad --ops-rate '%s' (1 to "
						"1000000)\n", a);
				return CLI_USAGE;
			}
			b.rate = v;
			break;
		case 'd':
			errno = 0;
			b.duration = strtod(a, &e);
			if (errno || *e || !*a || !(b.duration > 0) || b.duration > 3600) {
				fprintf(stderr, "loafre bench replicate: bad --duration '%s' (seconds, "
						"above 0, at most 3600)\n", a);
				return CLI_USAGE;
			}
			break;
		case 'Z':
			if (!cli_parse_recno(a, &v) || v == 0 || v > BR_MAX_STORM) {
				fprintf(stderr, "loafre bench replicate: bad --storm '%s' (1 to %u)\n", a,
					BR_MAX_STORM);
				return CLI_USAGE;
			}
			b.storm = (unsigned)v;
			break;
		case 'D':
			b.dir = a;
			break;
		case 'T':
			b.keep_tree = true;
			break;
		case 'Y':
			if (parse_only(a, &b.only) < 0) {
				fprintf(stderr, "loafre bench replicate: bad --only '%s' (letters a, b, c, "
						"d separated by commas)\n", a);
				return CLI_USAGE;
			}
			break;
		case 'W':
			b.no_lsyncd = true;
			break;
		case 'L':
			b.loafred_opt = a;
			break;
		case 'Q':
			errno = 0;
			b.settle = strtod(a, &e);
			if (errno || *e || !*a || !(b.settle >= 1) || b.settle > 86400) {
				fprintf(stderr, "loafre bench replicate: bad --settle-timeout '%s' "
						"(seconds, 1 to 86400)\n", a);
				return CLI_USAGE;
			}
			break;
		default: {
			const char *name = "?";
			for (const struct option *lo = c->cmd->longopts; lo->name; lo++)
				if (lo->val == c->opts[i].opt)
					name = lo->name;
			fprintf(stderr, "loafre bench replicate: option '--%s' is not for 'bench "
					"replicate'\n", name);
			return CLI_USAGE;
		}
		}
	}
	if ((double)b.rate * b.duration > (double)BR_MAX_OPS) {
		fprintf(stderr, "loafre bench replicate: --ops-rate x --duration is above %llu "
				"operations\n", BR_MAX_OPS);
		return CLI_USAGE;
	}
	if (b.only & ONLY_D)
		b.only |= ONLY_A; /* CPU is measured during (a) */
	if (!b.dir) {
		b.dir = getenv("TMPDIR");
		if (!b.dir || !*b.dir)
			b.dir = "/tmp";
	}
	if (!find_loafred(b.loafred_opt, b.loafred, sizeof(b.loafred))) {
		fprintf(stderr, "loafre bench replicate: cannot find loafred (use --loafred PATH or "
				"set LOAFRED)\n");
		return CLI_FAIL;
	}
	if (!find_in_path("rsync", b.rsync, sizeof(b.rsync))) {
		fprintf(stderr, "loafre bench replicate: cannot find rsync in PATH\n");
		return CLI_FAIL;
	}
	if (!b.no_lsyncd && (b.only & (ONLY_A | ONLY_B | ONLY_C)) &&
	    !find_in_path("lsyncd", b.lsyncd, sizeof(b.lsyncd))) {
		fprintf(stderr, "loafre bench replicate: cannot find lsyncd in PATH (install it, or "
				"use --no-lsyncd)\n");
		return CLI_FAIL;
	}
	if (pathf(b.tmp, sizeof(b.tmp), "%s/loafre-bench-repl.XXXXXX", b.dir) < 0) {
		fprintf(stderr, "loafre bench replicate: directory name too long: '%s'\n", b.dir);
		return CLI_USAGE;
	}
	if (!mkdtemp(b.tmp)) {
		fprintf(stderr, "loafre bench replicate: cannot create a directory in '%s': %s\n",
			b.dir, strerror(errno));
		return CLI_FAIL;
	}
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		b.stamp = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
	}
	{
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (len > 0)
			self[len] = '\0';
	}
	if (b.lsyncd[0])
		prog_version(b.lsyncd, b.lsyncd_version, sizeof(b.lsyncd_version));
	prog_version(b.rsync, b.rsync_version, sizeof(b.rsync_version));
	getloadavg(load, 3);
	fprintf(b.out,
		"replicate bench: loafred %s; %s%s%s; rsync %s; %ld CPUs, load average %.2f %.2f "
		"%.2f\n",
		b.loafred, b.no_lsyncd ? "lsyncd not run" : "lsyncd ",
		b.no_lsyncd ? "" : b.lsyncd_version, b.no_lsyncd ? "" : " (delay=0 and delay=15)",
		b.rsync_version, sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
	fprintf(b.out,
		"workload: (a) %" PRIu64 " ops/s for %g s, (b) %u creates, (c) %u changes in %" PRIu64
		" files; temporary directory %s\n",
		b.rate, b.duration, b.storm, BR_CHANGES, b.n, b.tmp);
	fflush(b.out);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	r = run(&b);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (r == 0) {
		summary(&b);
		{
			char only[16] = "";
			size_t k = 0;
			for (unsigned i = 0; i < 4; i++)
				if (b.only & (1u << i)) {
					if (k)
						only[k++] = ',';
					only[k++] = (char)('a' + i);
				}
			only[k] = '\0';
			fprintf(b.out,
				"reproduce: %s bench replicate -n %" PRIu64 " --ops-rate %" PRIu64
				" --duration %g --storm %u --only %s%s --dir %s%s\n",
				self, b.n, b.rate, b.duration, b.storm, only,
				b.no_lsyncd ? " --no-lsyncd" : "", b.dir, b.keep_tree ? " --keep-tree" : "");
		}
	}
	fflush(b.out);
	for (int t = 0; t < T_NTOOLS; t++)
		failed |= b.res[t].failed;
	failed |= b.rsync_failed;
	if (rm_tree(b.tmp) < 0)
		fprintf(stderr, "loafre bench replicate: cannot remove '%s': %s\n", b.tmp,
			strerror(errno));
	if (b.tree[0] && !b.keep_tree) {
		char marker[PATH_MAX];
		if (pathf(marker, sizeof(marker), "%s.done", b.tree) == 0)
			unlink(marker);
		if (rm_tree(b.tree) < 0)
			fprintf(stderr, "loafre bench replicate: cannot remove '%s': %s\n", b.tree,
				strerror(errno));
	}
	free(b.ops);
	free(b.fidx);
	free(b.storm_t);
	free(b.storm_arr);
	if (r == -EINTR || br_stop) {
		fprintf(stderr, "loafre bench replicate: interrupted\n");
		return CLI_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, "loafre bench replicate: %s\n", strerror(-r));
		return CLI_FAIL;
	}
	if (failed) {
		fprintf(stderr, "loafre bench replicate: failed (see above)\n");
		return CLI_FAIL;
	}
	return CLI_OK;
}
