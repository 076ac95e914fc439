/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_bench_watch.c — `loafre bench watch`: the local source end to end.
 *
 * Makes a temp tree, journal and configuration, starts a real loafred on
 * them, forks W worker processes that each run a storm of operations on
 * their own subtree for D seconds, and follows the journal meanwhile:
 *
 *   cycle k of worker i (files in wI/a, then wI/b):
 *     create+write  wI/a/cI_k          (open O_CREAT|O_EXCL, write 64 B, close)
 *     rename        wI/a/cI_{k-1000}  -> wI/b/rI_{k-1000}
 *     unlink        wI/b/rI_{k-2000}
 *     [--mkdir: every 16th cycle mkdir wI/a/mK, rmdir the one made 4 rounds ago]
 *
 * Each create's CLOCK_MONOTONIC time (right after open() returned) goes to a
 * shared mmap array indexed by (worker, k); the bench process stamps the
 * time it read the matching CREAT record (matched by name) from the journal
 * (a loafre_journal reader woken by its inotify descriptor). Latency = read
 * time - create time. --rate throttles the total issue rate (steady load);
 * --files pre-populates a large tree before loafred first starts (it
 * snapshots it). Figures are printed as measured; nothing is asserted.
 *
 * A create whose file is renamed or unlinked before loafred reconciles its
 * note may legitimately be journaled as a different sequence (or elided:
 * created and gone within one flush); those show as "creates without a
 * CREAT record", with the other record counts, not as errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "loafre/journal.h"
#include "loafre/record.h"

int cmd_bench_watch(struct cli *c);

#define BW_LAG_RENAME 1000 /* a file lives ~this many cycles: long enough to outlive a flush */
#define BW_LAG_UNLINK 2000
#define BW_FSNAME "bench"
#define BW_MDT "bench-MDT0000"

struct bw_worker {
	uint64_t creates, renames, unlinks, mkdirs, rmdirs, errors;
	int first_errno;
};

struct bw_shared {
	uint64_t start_ns; /* workers begin at this CLOCK_MONOTONIC time */
	uint64_t end_ns;
	struct bw_worker w[];
};

struct bw {
	unsigned workers;
	double duration;
	uint64_t rate; /* total ops/s, 0 = unthrottled */
	uint64_t files;
	bool mkdir;
	unsigned commit_ms;
	int fsync_policy;
	const char *loafred;
	const char *dir;
	char base[PATH_MAX];
	char tree[PATH_MAX];
	uint64_t cap; /* creates per worker the arrays hold */
	struct bw_shared *sh;
	size_t sh_size;
	uint64_t *ts;   /* [workers][cap] create time, shared */
	uint64_t *seen; /* [workers][cap] CREAT read time, bench process only */
	pid_t daemon;
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t ns)
{
	struct timespec t = { .tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
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

/* ---- finding and running loafred ---------------------------------------- */

static const char *find_loafred(const char *opt, char *buf, size_t cap)
{
	char self[PATH_MAX], dir[PATH_MAX];
	const char *env = getenv("LOAFRED");
	ssize_t n;
	static const char *const rel[] = { "../loafred/loafred", "loafred", "../sbin/loafred" };

	if (opt)
		return opt;
	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	snprintf(dir, sizeof(dir), "%s", dirname(self));
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if (pathf(buf, cap, "%s/%s", dir, rel[i]) == 0 && access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

static bool daemon_alive(struct bw *b, int *status)
{
	if (b->daemon <= 0)
		return false;
	pid_t p = waitpid(b->daemon, status, WNOHANG);
	if (p == b->daemon) {
		b->daemon = 0;
		return false;
	}
	return true;
}

static void stop_daemon(struct bw *b)
{
	int st;
	if (b->daemon <= 0)
		return;
	kill(b->daemon, SIGTERM);
	for (int i = 0; i < 300; i++) { /* 30 s */
		if (waitpid(b->daemon, &st, WNOHANG) == b->daemon) {
			b->daemon = 0;
			return;
		}
		usleep(100000);
	}
	fprintf(stderr, "loafre bench watch: loafred did not stop within 30 s; killing it\n");
	kill(b->daemon, SIGKILL);
	waitpid(b->daemon, &st, 0);
	b->daemon = 0;
}

/* utime+stime (seconds) and VmHWM/VmRSS (KiB) of a process. */
static double proc_cpu(pid_t pid)
{
	char path[64], buf[4096];
	unsigned long ut = 0, stt = 0;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			 &stt) != 2)
		return -1;
	return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	size_t kl = strlen(key);
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Overflows: RUN_DIR/stats (a line mentioning "overflow" ending in a
 * number) if loafred writes it, else lines of the daemon log that mention
 * an overflow. *ret_src says which. */
static long count_overflows(struct bw *b, const char **ret_src)
{
	char path[PATH_MAX], line[1024];
	long n = -1;
	FILE *f;
	if (pathf(path, sizeof(path), "%s/run/stats", b->base) == 0 && (f = fopen(path, "r"))) {
		while (fgets(line, sizeof(line), f)) {
			if (!strcasestr(line, "overflow"))
				continue;
			char *e = line + strlen(line);
			while (e > line && (e[-1] == '\n' || e[-1] == ' '))
				e--;
			char *s = e;
			while (s > line && s[-1] >= '0' && s[-1] <= '9')
				s--;
			if (s < e) {
				n = (n < 0 ? 0 : n) + strtol(s, NULL, 10);
			}
		}
		fclose(f);
		if (n >= 0) {
			*ret_src = "RUN_DIR/stats";
			return n;
		}
	}
	n = 0;
	if (pathf(path, sizeof(path), "%s/daemon.log", b->base) == 0 && (f = fopen(path, "r"))) {
		while (fgets(line, sizeof(line), f))
			if (strcasestr(line, "overflow"))
				n++;
		fclose(f);
	}
	*ret_src = "daemon log lines mentioning overflow";
	return n;
}

static int start_daemon(struct bw *b, const char *exe, const char *conf)
{
	char logp[PATH_MAX];
	if (pathf(logp, sizeof(logp), "%s/daemon.log", b->base) < 0)
		return -ENAMETOOLONG;
	pid_t p = fork();
	if (p < 0)
		return -errno;
	if (p == 0) {
		int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		execl(exe, exe, "-c", conf, (char *)NULL);
		fprintf(stderr, "loafre bench watch: cannot run '%s': %s\n", exe, strerror(errno));
		_exit(127);
	}
	b->daemon = p;
	return 0;
}

/* ---- the tree ------------------------------------------------------------- */

static int populate_slice(const char *tree, uint64_t files, uint64_t dirs, unsigned slice,
			  unsigned nslices)
{
	char p[PATH_MAX];
	for (uint64_t d = slice; d < dirs; d += nslices) {
		if (pathf(p, sizeof(p), "%s/pre/d%06llu", tree, (unsigned long long)d) < 0 ||
		    (mkdir(p, 0755) < 0 && errno != EEXIST))
			return -errno;
		uint64_t lo = files * d / dirs, hi = files * (d + 1) / dirs;
		for (uint64_t f = lo; f < hi; f++) {
			if (pathf(p, sizeof(p), "%s/pre/d%06llu/f%07llu", tree, (unsigned long long)d,
				  (unsigned long long)f) < 0)
				return -ENAMETOOLONG;
			int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			if (fd < 0)
				return -errno;
			close(fd);
		}
	}
	return 0;
}

static int populate(struct bw *b, FILE *out)
{
	char p[PATH_MAX];
	uint64_t dirs = b->files / 10 ? b->files / 10 : 1;
	uint64_t t0 = now_ns();
	unsigned n = b->workers ? b->workers : 1;
	pid_t pids[64];
	int rc = 0;

	if (n > 64)
		n = 64;
	if (pathf(p, sizeof(p), "%s/pre", b->tree) < 0 || mkdir(p, 0755) < 0)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(populate_slice(b->tree, b->files, dirs, i, n) < 0 ? 1 : 0);
	}
	for (unsigned i = 0; i < n; i++) {
		int st;
		if (pids[i] < 0 || waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			rc = -EIO;
	}
	fprintf(out, "prepopulated: %llu files in %llu directories\n",
		(unsigned long long)b->files, (unsigned long long)dirs);
	fprintf(out, "prepopulate time: %.2f s\n", (double)(now_ns() - t0) / 1e9);
	return rc;
}

/* ---- workers -------------------------------------------------------------- */

static void worker(struct bw *b, unsigned i)
{
	struct bw_worker *w = &b->sh->w[i];
	uint64_t *ts = b->ts + (uint64_t)i * b->cap;
	char pa[PATH_MAX], pb[PATH_MAX];
	char buf[64];
	uint64_t ops = 0;
	/* per-worker interval between ops, ns */
	uint64_t gap = b->rate ? (uint64_t)(1e9 * b->workers / (double)b->rate) : 0;

	memset(buf, 'x', sizeof(buf));
	sleep_until(b->sh->start_ns);
	uint64_t start = b->sh->start_ns, end = b->sh->end_ns;
#define ERR()                                   \
	do {                                    \
		if (!w->errors++)               \
			w->first_errno = errno; \
	} while (0)
#define PACE()                                                   \
	do {                                                     \
		ops++;                                           \
		if (gap)                                         \
			sleep_until(start + ops * gap);          \
	} while (0)
	for (uint64_t k = 0; k < b->cap; k++) {
		if (now_ns() >= end)
			break;
		pathf(pa, sizeof(pa), "%s/w%u/a/c%u_%llu", b->tree, i, i, (unsigned long long)k);
		int fd = open(pa, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			ERR();
		} else {
			__atomic_store_n(&ts[k], now_ns(), __ATOMIC_RELEASE);
			if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				ERR();
			close(fd);
			w->creates++;
		}
		PACE();
		if (k >= BW_LAG_RENAME) {
			uint64_t m = k - BW_LAG_RENAME;
			pathf(pa, sizeof(pa), "%s/w%u/a/c%u_%llu", b->tree, i, i,
				 (unsigned long long)m);
			pathf(pb, sizeof(pb), "%s/w%u/b/r%u_%llu", b->tree, i, i,
				 (unsigned long long)m);
			if (rename(pa, pb) < 0)
				ERR();
			else
				w->renames++;
			PACE();
		}
		if (k >= BW_LAG_UNLINK) {
			pathf(pb, sizeof(pb), "%s/w%u/b/r%u_%llu", b->tree, i, i,
				 (unsigned long long)(k - BW_LAG_UNLINK));
			if (unlink(pb) < 0)
				ERR();
			else
				w->unlinks++;
			PACE();
		}
		if (b->mkdir && k % 16 == 0) {
			pathf(pa, sizeof(pa), "%s/w%u/a/m%llu", b->tree, i, (unsigned long long)k);
			if (mkdir(pa, 0755) < 0)
				ERR();
			else
				w->mkdirs++;
			PACE();
			if (k >= 64) {
				pathf(pa, sizeof(pa), "%s/w%u/a/m%llu", b->tree, i,
					 (unsigned long long)(k - 64));
				if (rmdir(pa) < 0)
					ERR();
				else
					w->rmdirs++;
				PACE();
			}
		}
	}
#undef ERR
#undef PACE
}

/* ---- the follower ----------------------------------------------------------- */

struct follow {
	uint64_t records, by_type[LOAFRE_CL_LAST + 1], dup_creat, last_rec_ns, first_rec_ns;
};

/* Reads every record now readable; stamps matching CREATs. Returns 0 or
 * -errno. Sets *found_probe when the CREAT of "probe" was read. */
static int drain(struct bw *b, struct loafre_journal_reader *r, struct follow *fo,
		 bool *found_probe)
{
	struct loafre_rec rec;
	int rc;
	while ((rc = loafre_journal_reader_next(r, &rec, NULL, NULL)) == 0) {
		uint64_t t = now_ns();
		unsigned wi;
		unsigned long long k;
		char name[LOAFRE_NAME_MAX + 1];
		int consumed = 0;

		fo->records++;
		fo->by_type[rec.type < LOAFRE_CL_LAST ? rec.type : LOAFRE_CL_LAST]++;
		if (!fo->first_rec_ns)
			fo->first_rec_ns = t;
		fo->last_rec_ns = t;
		if (rec.type != LOAFRE_CL_CREATE || !rec.name)
			continue;
		memcpy(name, rec.name, rec.namelen);
		name[rec.namelen] = '\0';
		if (found_probe && strncmp(name, "probe", 5) == 0)
			*found_probe = true;
		/* created then renamed before loafred reconciled it: its CREAT
		 * carries the new name rI_K */
		if ((name[0] == 'c' || name[0] == 'r') &&
		    sscanf(name + 1, "%u_%llu%n", &wi, &k, &consumed) == 2 &&
		    (size_t)consumed + 1 == rec.namelen && wi < b->workers && k < b->cap) {
			uint64_t *s = &b->seen[(uint64_t)wi * b->cap + k];
			if (*s)
				fo->dup_creat++;
			else
				*s = t;
		}
	}
	if (rc == -EAGAIN) {
		loafre_journal_reader_rearm(r);
		return 0;
	}
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int run(struct bw *b, FILE *out)
{
	char conf[PATH_MAX], jdir[PATH_MAX], p[PATH_MAX], exebuf[PATH_MAX];
	const char *exe = find_loafred(b->loafred, exebuf, sizeof(exebuf));
	struct loafre_journal *j = NULL;
	struct loafre_journal_reader *r = NULL;
	struct follow fo = { 0 };
	int rc = 0, st;
	FILE *f;

	if (!exe) {
		fprintf(stderr, "loafre bench watch: cannot find loafred (use --loafred PATH or "
				"set LOAFRED)\n");
		return -ENOENT;
	}
	if (pathf(b->tree, sizeof(b->tree), "%s/tree", b->base) < 0 ||
	    pathf(conf, sizeof(conf), "%s/loafre.conf", b->base) < 0 ||
	    pathf(jdir, sizeof(jdir), "%s/journal", b->base) < 0)
		return -ENAMETOOLONG;
	if (mkdir(b->tree, 0755) < 0)
		return -errno;
	for (unsigned i = 0; i < b->workers; i++) {
		static const char *const sub[] = { "", "/a", "/b" };
		for (int s = 0; s < 3; s++)
			if (pathf(p, sizeof(p), "%s/w%u%s", b->tree, i, sub[s]) < 0 ||
			    mkdir(p, 0755) < 0)
				return -errno;
	}
	fprintf(out, "loafred: %s\n", exe);
	fprintf(out, "workers: %u\n", b->workers);
	fprintf(out, "duration: %.1f s\n", b->duration);
	if (b->rate)
		fprintf(out, "rate limit: %llu ops/s\n", (unsigned long long)b->rate);
	else
		fprintf(out, "rate limit: none\n");
	fprintf(out, "commit interval: %u ms, fsync %s\n", b->commit_ms,
		b->fsync_policy == LOAFRE_FSYNC_NONE ? "none" : "commit");
	if (b->files && (rc = populate(b, out)) < 0)
		return rc;

	f = fopen(conf, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"[loafred]\nrun_dir = run\nlog = stderr\ncommit_interval_ms = %u\n\n"
		"[filesystem " BW_FSNAME "]\ntype = local\npath = tree\njournal = journal\n"
		"fsync = %s\n",
		b->commit_ms, b->fsync_policy == LOAFRE_FSYNC_NONE ? "none" : "commit");
	if (fclose(f) != 0)
		return -EIO;

	uint64_t t_start = now_ns();
	if ((rc = start_daemon(b, exe, conf)) < 0)
		return rc;
	/* The journal appears once loafred opened it. */
	while ((rc = loafre_journal_open(jdir, BW_MDT, 0, NULL, &j)) < 0) {
		if (!daemon_alive(b, &st)) {
			fprintf(stderr, "loafre bench watch: loafred exited at start (see %s/daemon.log)\n",
				b->base);
			return -ECHILD;
		}
		if (now_ns() - t_start > 600ull * 1000000000u) {
			fprintf(stderr, "loafre bench watch: no journal after 600 s\n");
			return -ETIMEDOUT;
		}
		usleep(20000);
	}
	if ((rc = loafre_journal_reader_open(j, 0, &r)) < 0)
		goto out;
	/* Probe files: a CREAT proves the tree is watched. One made before the
	 * first start's snapshot is recorded silently, so make a new one every
	 * second until one is journaled. */
	{
		uint64_t t_probe = now_ns(), t_last = 0;
		unsigned nprobe = 0;
		bool found = false;
		while (!found) {
			if (now_ns() - t_last >= 1000000000u) {
				if (pathf(p, sizeof(p), "%s/probe%u", b->tree, nprobe++) < 0) {
					rc = -ENAMETOOLONG;
					goto out;
				}
				int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
				if (fd >= 0)
					close(fd);
				t_last = now_ns();
			}
			if ((rc = drain(b, r, &fo, &found)) < 0)
				goto out;
			if (found)
				break;
			if (!daemon_alive(b, &st)) {
				fprintf(stderr, "loafre bench watch: loafred exited (see %s/daemon.log)\n",
					b->base);
				rc = -ECHILD;
				goto out;
			}
			if (now_ns() - t_probe > 60ull * 1000000000u) {
				fprintf(stderr, "loafre bench watch: loafred journaled no CREAT for a "
						"probe file within 60 s (is the tree watched?)\n");
				rc = -ETIMEDOUT;
				goto out;
			}
			loafre_journal_reader_wait(r, 50);
		}
		fprintf(out, "startup to first record: %.3f s (%u probe file%s)\n",
			(double)(now_ns() - t_start) / 1e9, nprobe, nprobe == 1 ? "" : "s");
	}
	fo = (struct follow){ 0 };
	double cpu0 = proc_cpu(b->daemon);

	/* The storm. */
	b->sh->start_ns = now_ns() + 50000000u;
	b->sh->end_ns = b->sh->start_ns + (uint64_t)(b->duration * 1e9);
	pid_t pids[256];
	unsigned nw = 0;
	for (; nw < b->workers; nw++) {
		pids[nw] = fork();
		if (pids[nw] < 0) {
			rc = -errno;
			break;
		}
		if (pids[nw] == 0) {
			loafre_journal_reader_close(r);
			worker(b, nw);
			_exit(0);
		}
	}
	unsigned running = nw;
	while (running) {
		if ((rc = drain(b, r, &fo, NULL)) < 0)
			break;
		loafre_journal_reader_wait(r, 20);
		for (unsigned i = 0; i < nw; i++)
			if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				pids[i] = 0;
				running--;
			}
	}
	uint64_t t_end = now_ns();
	uint64_t creates = 0, renames = 0, unlinks = 0, mk = 0, rmd = 0, errs = 0;
	int first_errno = 0;
	for (unsigned i = 0; i < nw; i++) {
		struct bw_worker *w = &b->sh->w[i];
		creates += w->creates;
		renames += w->renames;
		unlinks += w->unlinks;
		mk += w->mkdirs;
		rmd += w->rmdirs;
		errs += w->errors;
		if (!first_errno)
			first_errno = w->first_errno;
	}
	/* Drain: until every create was seen or nothing new for 3 s (max 120 s). */
	uint64_t last_count = fo.records, quiet_since = now_ns();
	while (rc >= 0) {
		if ((rc = drain(b, r, &fo, NULL)) < 0)
			break;
		uint64_t seen = 0;
		for (unsigned i = 0; i < nw; i++)
			for (uint64_t k = 0; k < b->sh->w[i].creates && k < b->cap; k++)
				seen += b->seen[(uint64_t)i * b->cap + k] != 0;
		if (seen >= creates)
			break;
		if (fo.records != last_count) {
			last_count = fo.records;
			quiet_since = now_ns();
		}
		if (now_ns() - quiet_since > 3000000000ull || now_ns() - t_end > 120000000000ull)
			break;
		loafre_journal_reader_wait(r, 50);
	}
	double cpu1 = proc_cpu(b->daemon);
	long hwm = proc_status_kb(b->daemon, "VmHWM"), rss = proc_status_kb(b->daemon, "VmRSS");

	/* Latencies. */
	uint64_t nlat = 0, missing = 0;
	uint64_t *lat = malloc((creates ? creates : 1) * sizeof(*lat));
	if (!lat) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < nw; i++)
		for (uint64_t k = 0; k < b->cap; k++) {
			uint64_t t = b->ts[(uint64_t)i * b->cap + k];
			uint64_t s = b->seen[(uint64_t)i * b->cap + k];
			if (!t)
				continue;
			if (!s) {
				missing++;
				continue;
			}
			lat[nlat++] = s > t ? s - t : 0;
		}
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	double storm = (double)(t_end - b->sh->start_ns) / 1e9;
	uint64_t ops = creates + renames + unlinks + mk + rmd;
	fprintf(out, "ops issued: %llu (create+write %llu, rename %llu, unlink %llu",
		(unsigned long long)ops, (unsigned long long)creates, (unsigned long long)renames,
		(unsigned long long)unlinks);
	if (b->mkdir)
		fprintf(out, ", mkdir %llu, rmdir %llu", (unsigned long long)mk,
			(unsigned long long)rmd);
	fprintf(out, ")\n");
	if (errs)
		fprintf(out, "op errors: %llu (first: %s)\n", (unsigned long long)errs,
			strerror(first_errno));
	fprintf(out, "ops/s issued: %.0f\n", storm > 0 ? (double)ops / storm : 0);
	fprintf(out, "records journaled: %llu (", (unsigned long long)fo.records);
	bool sp = false;
	for (unsigned t = 0; t <= LOAFRE_CL_LAST; t++)
		if (fo.by_type[t]) {
			const char *nm = loafre_cl_type_name(t);
			fprintf(out, "%s%s %llu", sp ? ", " : "", nm ? nm : "other",
				(unsigned long long)fo.by_type[t]);
			sp = true;
		}
	fprintf(out, ")\n");
	double span = fo.last_rec_ns > b->sh->start_ns
			      ? (double)(fo.last_rec_ns - b->sh->start_ns) / 1e9
			      : 0;
	fprintf(out, "records/s journaled: %.0f (storm start to last record, %.2f s)\n",
		span > 0 ? (double)fo.records / span : 0, span);
	fprintf(out, "journal lag after the storm: %.3f s\n",
		fo.last_rec_ns > t_end ? (double)(fo.last_rec_ns - t_end) / 1e9 : 0.0);
	fprintf(out, "creates with their CREAT record: %llu of %llu\n", (unsigned long long)nlat,
		(unsigned long long)creates);
	fprintf(out, "records missing (creates without a CREAT: elided or lost): %llu\n",
		(unsigned long long)missing);
	if (fo.dup_creat)
		fprintf(out, "duplicate CREAT records: %llu\n", (unsigned long long)fo.dup_creat);
	if (nlat) {
		fprintf(out, "latency p50: %.3f ms\n", (double)lat[nlat / 2] / 1e6);
		fprintf(out, "latency p99: %.3f ms\n", (double)lat[nlat * 99 / 100] / 1e6);
		fprintf(out, "latency max: %.3f ms\n", (double)lat[nlat - 1] / 1e6);
	} else {
		fprintf(out, "latency: no CREAT record matched\n");
	}
	free(lat);
	const char *src = "";
	long ovf = count_overflows(b, &src);
	fprintf(out, "overflows: %ld (%s)\n", ovf, src);
	if (hwm >= 0)
		fprintf(out, "daemon RSS peak (VmHWM): %.1f MiB\n", (double)hwm / 1024);
	if (rss >= 0)
		fprintf(out, "daemon RSS now: %.1f MiB\n", (double)rss / 1024);
	if (cpu0 >= 0 && cpu1 >= 0) {
		double wall = (double)(now_ns() - b->sh->start_ns) / 1e9;
		fprintf(out, "daemon CPU: %.2f s user+sys during storm and drain (%.0f%% of a core)\n",
			cpu1 - cpu0, wall > 0 ? 100.0 * (cpu1 - cpu0) / wall : 0);
		fprintf(out, "daemon CPU total: %.2f s\n", cpu1);
	}
	if (!daemon_alive(b, &st))
		fprintf(out, "note: loafred exited during the run (see the log)\n");
out:
	if (r)
		loafre_journal_reader_close(r);
	if (j)
		loafre_journal_close(j);
	stop_daemon(b);
	return rc;
}

int cmd_bench_watch(struct cli *c)
{
	struct bw b = { .workers = 2, .duration = 10, .commit_ms = 10,
			.fsync_policy = LOAFRE_FSYNC_COMMIT };
	bool keep = false;
	int r;

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		char *e;
		errno = 0;
		switch (c->opts[i].opt) {
		case 'w': {
			unsigned long v = strtoul(a, &e, 10);
			if (errno || *e || !*a || v < 1 || v > 256) {
				fprintf(stderr, "loafre bench watch: bad -w '%s' (1 to 256)\n", a);
				return CLI_USAGE;
			}
			b.workers = (unsigned)v;
			break;
		}
		case 'd':
			b.duration = strtod(a, &e);
			if (errno || *e || !*a || !(b.duration > 0) || b.duration > 86400) {
				fprintf(stderr, "loafre bench watch: bad -d '%s' (seconds, > 0)\n", a);
				return CLI_USAGE;
			}
			break;
		case 'r':
			if (!cli_parse_recno(a, &b.rate)) {
				fprintf(stderr, "loafre bench watch: bad --rate '%s' (ops/s)\n", a);
				return CLI_USAGE;
			}
			break;
		case 'N':
			if (!cli_parse_recno(a, &b.files)) {
				fprintf(stderr, "loafre bench watch: bad --files '%s'\n", a);
				return CLI_USAGE;
			}
			break;
		case 'L':
			b.loafred = a;
			break;
		case 'M':
			b.mkdir = true;
			break;
		case 'K':
			keep = true;
			break;
		case 'D':
			b.dir = a;
			break;
		case 'C': {
			unsigned long v = strtoul(a, &e, 10);
			if (errno || *e || !*a || v < 1 || v > 60000) {
				fprintf(stderr, "loafre bench watch: bad --commit-ms '%s' (1 to 60000)\n",
					a);
				return CLI_USAGE;
			}
			b.commit_ms = (unsigned)v;
			break;
		}
		case 'F':
			if (strcmp(a, "commit") == 0)
				b.fsync_policy = LOAFRE_FSYNC_COMMIT;
			else if (strcmp(a, "none") == 0)
				b.fsync_policy = LOAFRE_FSYNC_NONE;
			else {
				fprintf(stderr, "loafre bench watch: bad --fsync '%s' (commit or none)\n",
					a);
				return CLI_USAGE;
			}
			break;
		case 'n':
			fprintf(stderr, "loafre bench watch: -n is for codec and journal (use -d)\n");
			return CLI_USAGE;
		}
	}
	if (!b.dir) {
		b.dir = getenv("TMPDIR");
		if (!b.dir || !*b.dir)
			b.dir = "/tmp";
	}
	if (pathf(b.base, sizeof(b.base), "%s/loafre-bench-watch.XXXXXX", b.dir) < 0) {
		fprintf(stderr, "loafre bench watch: directory name too long: '%s'\n", b.dir);
		return CLI_USAGE;
	}
	if (!mkdtemp(b.base)) {
		fprintf(stderr, "loafre bench watch: cannot create a directory in '%s': %s\n", b.dir,
			strerror(errno));
		return CLI_FAIL;
	}
	/* Room for creates: the rate allows, else ~100k creates/s/worker. */
	double per = b.rate ? (double)b.rate / b.workers / 2.0 : 100000.0;
	b.cap = (uint64_t)(per * b.duration * 1.5) + 1024;
	b.sh_size = sizeof(struct bw_shared) + b.workers * sizeof(struct bw_worker);
	size_t arr = (size_t)(b.workers * b.cap * sizeof(uint64_t));
	b.sh = mmap(NULL, b.sh_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	b.ts = mmap(NULL, arr, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	b.seen = mmap(NULL, arr, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b.sh == MAP_FAILED || b.ts == MAP_FAILED || b.seen == MAP_FAILED) {
		fprintf(stderr, "loafre bench watch: cannot map %zu bytes: %s\n", arr,
			strerror(errno));
		r = -ENOMEM;
	} else {
		fflush(stdout);
		r = run(&b, stdout);
		if (r < 0 && r != -ECHILD && r != -ETIMEDOUT && r != -ENOENT)
			fprintf(stderr, "loafre bench watch: %s\n", strerror(-r));
	}
	if (r < 0 || keep)
		fprintf(stderr, "loafre bench watch: kept '%s' (daemon.log there)\n", b.base);
	else if (nftw(b.base, rm_entry, 64, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "loafre bench watch: cannot remove '%s': %s\n", b.base,
			strerror(errno));
	if (b.sh != MAP_FAILED)
		munmap(b.sh, b.sh_size);
	if (b.ts != MAP_FAILED)
		munmap(b.ts, arr);
	if (b.seen != MAP_FAILED)
		munmap(b.seen, arr);
	return r < 0 ? CLI_FAIL : CLI_OK;
}
