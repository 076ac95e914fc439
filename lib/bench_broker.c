/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * bench_broker.c — `loafre bench broker`: the consumer broker end to end.
 *
 * Layout of the temporary directory (removed at the end, on every path):
 *
 *   BASE/broker.conf   the configuration the broker process loads:
 *                      [loafred] run_dir = BASE; [filesystem bench] type
 *                      local, path = BASE/tree (empty), journal = the
 *                      preloaded journal, fsync none; [broker] endpoint =
 *                      ipc://BASE/broker.sock, max_credit
 *   BASE/tree          empty (no loafred runs: nothing watches it)
 *   BASE/journal1      phase 1: N preloaded records (+ the live records of
 *                      the ephemeral and latency scenarios); a reader
 *                      "benchhold" registered at the oldest record keeps
 *                      every record for the groups of later scenarios
 *   BASE/journal2      phase 2 (rss): R preloaded records, no hold reader
 *                      (the group's clears purge as in production)
 *
 * Every scenario starts a fresh broker in its own process, so its RSS
 * (VmHWM, VmRSS of /proc/PID/status) is the broker's alone: first of all,
 * while this process is still small, a spawner process is forked; per
 * scenario it forks a broker process that loads BASE/broker.conf, calls
 * loafre__broker_start, reports "OK" or its error on a pipe, waits for
 * SIGTERM/SIGINT, stops the broker and _exits (the pipe protocol is at
 * spawner_main). A broker forked from the bench process itself would
 * share, and count in its RSS, the bench's heap (the preload's commit
 * buffer, the consumers' arenas: 10-20 MiB). The spawner dies with the
 * bench process and a broker with the spawner (PR_SET_PDEATHSIG); a
 * broker that ignores SIGTERM for BB_STOP_TIMEOUT_MS is killed.
 *
 * The consumers are threads of the bench process, each with its own
 * loafre_consumer, acking every batch with loafre_consumer_ack_upto. Each group has a bitmap of the
 * indices it must get: a scenario ends when every group saw every index
 * and every ephemeral reader got (or was told it lost) every live record;
 * it fails when nothing progresses for BB_STALL_S seconds.
 *
 * Scenarios (bits of loafre__bench_broker_opts.scenarios):
 *   members    1 group x 1, 2 and 4 members (or --members M), start oldest:
 *              records/s from the first record received to the last ack
 *   groups     G groups x 1 member at once: records/s per group
 *   ephemeral  1 group x 1 member (from the oldest record) and E ephemeral
 *              readers while the parent appends N/2 more records as fast as
 *              it can (group commit every commit_ms)
 *   latency    1 group x 1 member (start newest) and E ephemeral readers
 *              while the parent appends `rate` records/s for `duration` s,
 *              cr_time = the append time; receive time - cr_time: p50/p99/max
 *   rss        R records preloaded (scaled down to the free disk space);
 *              1 member joins at the oldest and holds its credit unacked for
 *              1 s (broker RSS with R pending), then consumes them all
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "broker_proto.h"
#include "loafre/config.h"
#include "loafre/consumer.h"
#include "loafre/journal.h"
#include "loafre/record.h"
#include "util.h"

#define BB_FSNAME "bench"
#define BB_MDT "bench-MDT0000"
#define BB_HOLD_READER "benchhold"
#define BB_READY_TIMEOUT_MS 60000 /* a broker's start (opens a 10 M journal) */
#define BB_STOP_TIMEOUT_MS 10000  /* SIGTERM -> exit, then SIGKILL */
#define BB_STALL_S 30             /* no record anywhere for this long: failed */
#define BB_RECV_TIMEOUT_MS 100
#define BB_RSS_HOLD_MS 1000       /* rss: the member holds its credit this long */
#define BB_PRELOAD_COMMIT 65536   /* preload: records per commit */
#define BB_RECENT 4096            /* generator: recent files records refer to */
#define BB_DISK_SLACK (512ull << 20) /* keep this much disk free */

/* ---- small helpers --------------------------------------------------------- */

static uint64_t realtime_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&t, NULL);
}

static int pathf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

#define BB_WHY_MAX 512

/* Records the first reason a run failed (later ones are consequences). */
static void set_why(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(char *why, const char *fmt, ...)
{
	va_list ap;

	if (why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(why, BB_WHY_MAX, fmt, ap);
	va_end(ap);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static int rm_tree(const char *dir)
{
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* VmHWM / VmRSS ... of a process in KiB, -1 if unreadable. */
static long proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
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

/* utime + stime of a process in seconds, -1 if unreadable. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, stt = 0;
	size_t n;
	char *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			 &stt) != 2)
		return -1;
	return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds (user + system) of this process, every thread. */
static double self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double mib(long kb)
{
	return kb < 0 ? 0.0 : (double)kb / 1024.0;
}

/* "1.31 M" or "352 k" records/s. */
static const char *rate_str(double r, char *buf, size_t cap)
{
	if (r >= 1e6)
		snprintf(buf, cap, "%.2f M", r / 1e6);
	else if (r >= 1e3)
		snprintf(buf, cap, "%.0f k", r / 1e3);
	else
		snprintf(buf, cap, "%.0f", r);
	return buf;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- synthetic records -------------------------------------------------------- */

/* A workload-like stream: creates of new files, then closes, time and
 * attribute changes, renames, unlinks, links of recent ones (BB_RECENT of
 * them), every record with jobid, uid/gid and nid as Lustre 2.12+ writes. */
struct bb_gen {
	uint64_t rng;                 /* xorshift64 state */
	uint64_t n;                   /* records generated */
	uint32_t next_obj;            /* next object number for a create */
	uint32_t recent[BB_RECENT];   /* object numbers of recent files */
	char name[LOAFRE_NAME_MAX + 1];  /* name of the current record */
	char sname[LOAFRE_NAME_MAX + 1]; /* old name of a rename */
};

static uint64_t gen_rand(struct bb_gen *g)
{
	uint64_t x = g->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return g->rng = x;
}

/* Object number -> FID (Lustre's 128 Ki objects per sequence). */
static struct loafre_fid gen_fid(uint32_t obj)
{
	return (struct loafre_fid){0x200000401ull + obj / 0x20000u, obj % 0x20000u + 1, 0};
}

static uint16_t gen_name(char *buf, uint32_t obj, uint32_t variant)
{
	const size_t cap = LOAFRE_NAME_MAX + 1;
	int n;

	switch (variant % 8) {
	case 0: n = snprintf(buf, cap, "data_%07u.h5", obj); break;
	case 1: n = snprintf(buf, cap, "out.%u.log", obj); break;
	case 2: n = snprintf(buf, cap, "checkpoint-%u.tmp", obj); break;
	case 3: n = snprintf(buf, cap, "img%08u.tif", obj); break;
	case 4: n = snprintf(buf, cap, "a%u", obj); break;
	case 5: n = snprintf(buf, cap, "results_run%u_final.csv", obj); break;
	case 6: n = snprintf(buf, cap, "part-%05u.parquet", obj); break;
	default: n = snprintf(buf, cap, "core.%u", obj); break;
	}
	return (uint16_t)(n > 0 ? n : 0);
}

static void gen_init(struct bb_gen *g)
{
	memset(g, 0, sizeof(*g));
	g->rng = 0x9e3779b97f4a7c15ull;
	for (uint32_t i = 0; i < BB_RECENT; i++)
		g->recent[i] = g->next_obj++;
}

/* Fills *rec (borrowing g's name buffers) with the next record; time is
 * cr_time. */
static void gen_next(struct bb_gen *g, struct loafre_rec *rec, uint64_t time)
{
	static const char *const prog[] = {"ior", "mpirun", "python3", "rsync", "cp", "tar"};
	uint64_t x = gen_rand(g);
	uint32_t pick = (uint32_t)(x % 100), slot = (uint32_t)((x >> 8) % BB_RECENT);
	uint32_t obj = g->recent[slot], var = (uint32_t)(x >> 24);
	uint32_t dir = (uint32_t)((x >> 40) % 1000);

	memset(rec, 0, sizeof(*rec));
	rec->time = time;
	rec->flags = LOAFRE_CLF_VERSION | LOAFRE_CLF_JOBID | LOAFRE_CLF_EXTRA_FLAGS;
	rec->extra_flags = LOAFRE_CLFE_UIDGID | LOAFRE_CLFE_NID;
	rec->uid = rec->gid = 1000 + var % 50;
	rec->nid = 0x20000c0a80000ull + var % 256; /* 192.168.0.x@tcp */
	snprintf(rec->jobid, sizeof(rec->jobid), "%s.%u", prog[var % 6], (unsigned)rec->uid);
	rec->pfid = (struct loafre_fid){0x200000400ull, dir + 1, 0};
	rec->tfid = gen_fid(obj);
	if (pick < 24) { /* a new file */
		obj = g->next_obj++;
		g->recent[slot] = obj;
		rec->type = LOAFRE_CL_CREATE;
		rec->tfid = gen_fid(obj);
		rec->namelen = gen_name(g->name, obj, var);
		rec->name = g->name;
	} else if (pick < 46) {
		rec->type = LOAFRE_CL_CLOSE;
		rec->extra_flags |= LOAFRE_CLFE_OPEN;
		rec->openflags = 01; /* O_WRONLY */
	} else if (pick < 56) {
		rec->type = LOAFRE_CL_MTIME;
	} else if (pick < 64) {
		rec->type = LOAFRE_CL_SETATTR;
	} else if (pick < 67) {
		rec->type = LOAFRE_CL_TRUNC;
	} else if (pick < 74) { /* rename to a new name in another directory */
		rec->type = LOAFRE_CL_RENAME;
		rec->flags |= LOAFRE_CLF_RENAME;
		rec->sfid = gen_fid(obj);
		rec->spfid = (struct loafre_fid){0x200000400ull, (dir + 7) % 1000 + 1, 0};
		rec->tfid = (struct loafre_fid){0, 0, 0};
		rec->namelen = gen_name(g->name, obj, var + 1);
		rec->snamelen = gen_name(g->sname, obj, var);
		rec->name = g->name;
		rec->sname = g->sname;
	} else if (pick < 86) { /* the last link goes; a new file takes the slot */
		rec->type = LOAFRE_CL_UNLINK;
		rec->flags |= LOAFRE_CLF_UNLINK_LAST;
		rec->namelen = gen_name(g->name, obj, var);
		rec->name = g->name;
		g->recent[slot] = g->next_obj++;
	} else if (pick < 90) {
		obj = g->next_obj++;
		rec->type = LOAFRE_CL_MKDIR;
		rec->tfid = gen_fid(obj);
		rec->namelen = (uint16_t)snprintf(g->name, sizeof(g->name), "dir_%u", obj);
		rec->name = g->name;
	} else if (pick < 92) {
		rec->type = LOAFRE_CL_RMDIR;
		rec->tfid = gen_fid(g->next_obj++);
		rec->namelen = (uint16_t)snprintf(g->name, sizeof(g->name), "tmpdir.%u", var);
		rec->name = g->name;
	} else if (pick < 95) {
		rec->type = LOAFRE_CL_HARDLINK;
		rec->namelen = (uint16_t)snprintf(g->name, sizeof(g->name), "link_%u", obj);
		rec->name = g->name;
	} else if (pick < 97) {
		obj = g->next_obj++;
		rec->type = LOAFRE_CL_SOFTLINK;
		rec->tfid = gen_fid(obj);
		rec->namelen = (uint16_t)snprintf(g->name, sizeof(g->name), "latest");
		rec->name = g->name;
	} else {
		rec->type = LOAFRE_CL_LAYOUT;
	}
	g->n++;
}

/* Bytes a record takes in a journal segment (8-byte frame header, padded). */
static uint64_t frame_bytes(const struct loafre_rec *rec)
{
	return (8 + loafre_rec_size(rec) + 7) & ~(uint64_t)7;
}

/* Average journal bytes per generated record, from a sample. */
static uint64_t frame_bytes_avg(void)
{
	struct bb_gen probe;
	struct loafre_rec rec;
	uint64_t sum = 0;

	gen_init(&probe);
	for (int i = 0; i < 10000; i++) {
		gen_next(&probe, &rec, 0);
		sum += frame_bytes(&rec);
	}
	return sum / 10000 + 1;
}

/* Bytes free for an unprivileged user where `dir` is; 0 if unknown. */
static uint64_t disk_avail(const char *dir)
{
	struct statvfs vfs;

	if (statvfs(dir, &vfs) < 0)
		return 0;
	return (uint64_t)vfs.f_bavail * vfs.f_frsize;
}

/* Appends n generated records to j (a commit every BB_PRELOAD_COMMIT). */
static int preload(struct loafre_journal *j, struct bb_gen *g, uint64_t n, uint64_t *ret_bytes)
{
	uint64_t base = realtime_ns() - n * 1000u, bytes = 0;
	struct loafre_rec rec;
	int r = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t t = base + i * 1000u;

		gen_next(g, &rec, loafre_cl_time(t / 1000000000u, (uint32_t)(t % 1000000000u)));
		r = loafre_journal_append(j, &rec);
		if (r != 0)
			return r < 0 ? r : -EPROTO; /* 1: masked out, the counts would be off */
		bytes += frame_bytes(&rec);
		if ((i + 1) % BB_PRELOAD_COMMIT == 0 && (r = loafre_journal_commit(j, NULL)) < 0)
			return r;
	}
	r = loafre_journal_commit(j, NULL);
	if (r < 0)
		return r;
	*ret_bytes = bytes;
	return 0;
}

/* ---- the broker processes -------------------------------------------------------- */

/* Protocol between the bench process (P), the spawner (Z) and a broker
 * (B), one line per write(2) (atomic: each is shorter than PIPE_BUF):
 *   P -> Z  (cmd pipe)  "CONF_PATH\n"         start a broker on CONF_PATH
 *   Z -> P  (rep pipe)  "PID n\n"             it is process n
 *   B -> P  (rep pipe)  "OK\n" | "ERR text\n" it started, or why not
 *   Z -> P  (rep pipe)  "EXIT n status\n"     process n ended (waitpid status)
 * P closing the cmd pipe ends Z. Z dies with P and B with Z
 * (PR_SET_PDEATHSIG); B stops its broker on SIGTERM or SIGINT. */

static FILE *bb_child_log; /* B's stream for the broker's warnings */

static void child_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void child_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > LOG_WARNING || !bb_child_log)
		return;
	va_start(ap, fmt);
	fprintf(bb_child_log, "loafre bench broker: ");
	vfprintf(bb_child_log, fmt, ap);
	fprintf(bb_child_log, "\n");
	fflush(bb_child_log);
	va_end(ap);
}

/* Writes one protocol line (a single write: atomic on a pipe). */
static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0) {
		/* the reader is gone: nobody to tell */
	}
}

/* B: runs a broker on conf until SIGTERM or SIGINT; never returns. */
static void __attribute__((noreturn)) broker_main(const char *conf, int rep_fd, pid_t parent)
{
	struct loafre_config *cfg = NULL;
	struct loafre__broker *b = NULL;
	char err[400] = "";
	sigset_t set;
	int sig = 0, r;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the broker thread inherits it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	r = loafre_config_load(conf, &cfg, err, sizeof(err));
	if (r == 0)
		r = loafre__broker_start(cfg, child_log, &b, err, sizeof(err));
	if (r == 0)
		say(rep_fd, "OK");
	else
		say(rep_fd, "ERR %s", err[0] ? err : strerror(-r));
	close(rep_fd);
	if (r == 0)
		while (sigwait(&set, &sig) != 0)
			;
	loafre__broker_stop(b);
	loafre_config_free(cfg);
	_exit(r == 0 ? 0 : 1);
}

/* Z: forks a broker per request; never returns. */
static void __attribute__((noreturn)) spawner_main(int cmd_fd, int rep_fd, pid_t parent, FILE *log)
{
	char req[PATH_MAX + 2];
	size_t got = 0;
	pid_t self = getpid();

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	signal(SIGINT, SIG_IGN); /* ^C: the brokers stop, the bench process ends us */
	signal(SIGTERM, SIG_IGN);
	bb_child_log = log;
	for (;;) {
		struct pollfd p = {.fd = cmd_fd, .events = POLLIN};
		int st;
		pid_t dead;
		char *nl;
		ssize_t n;

		while ((dead = waitpid(-1, &st, WNOHANG)) > 0)
			say(rep_fd, "EXIT %d %d", (int)dead, st);
		if (poll(&p, 1, 20) <= 0)
			continue;
		n = read(cmd_fd, req + got, sizeof(req) - 1 - got);
		if (n == 0)
			break; /* the bench process is done */
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		got += (size_t)n;
		req[got] = '\0';
		while ((nl = strchr(req, '\n'))) {
			pid_t b;

			*nl = '\0';
			b = fork();
			if (b == 0) {
				close(cmd_fd);
				broker_main(req, rep_fd, self);
			}
			if (b < 0)
				say(rep_fd, "ERR cannot fork: %s", strerror(errno));
			else
				say(rep_fd, "PID %d", (int)b);
			got -= (size_t)(nl + 1 - req);
			memmove(req, nl + 1, got + 1);
		}
		if (got == sizeof(req) - 1)
			got = 0; /* no newline in a path-sized request: drop it */
	}
	/* Brokers still running die with us (PR_SET_PDEATHSIG). */
	_exit(0);
}

/* The bench process's end of the spawner. */
struct bb_spawner {
	pid_t pid;          /* Z, 0 when none */
	int cmd_fd;         /* write end of the cmd pipe, -1 when none */
	int rep_fd;         /* read end of the rep pipe, -1 when none */
	char buf[1024];     /* rep bytes not yet parsed */
	size_t len;         /* bytes in buf */
	pid_t last_pid;     /* the latest "PID n" */
	int ready;          /* 0 waiting, 1 "OK", -1 "ERR" (text in why) */
	char why[512];      /* the ERR text */
	pid_t exited;       /* the latest "EXIT n", 0 if none since the last start */
	int exit_status;    /* its waitpid status */
};

/* Starts Z. Called first of all, while the bench process is small: a
 * broker forked from Z shares (and counts in its RSS) only what Z has. */
static int spawner_start(struct bb_spawner *z, FILE *log)
{
	int cmd[2], rep[2];
	pid_t parent = getpid();

	*z = (struct bb_spawner){.cmd_fd = -1, .rep_fd = -1};
	if (pipe2(cmd, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(rep, O_CLOEXEC) < 0) {
		int e = -errno;
		close(cmd[0]);
		close(cmd[1]);
		return e;
	}
	fflush(NULL);
	z->pid = fork();
	if (z->pid == 0) {
		close(cmd[1]);
		close(rep[0]);
		/* Only cmd[0] and rep[1], as 3 and 4: nothing else of ours. */
		if ((cmd[0] != 3 && dup2(cmd[0], 3) < 0) || dup2(rep[1], 4) < 0)
			_exit(1);
		close_range(5, ~0u, 0);
		spawner_main(3, 4, parent, log);
	}
	close(cmd[0]);
	close(rep[1]);
	if (z->pid < 0) {
		int e = -errno;
		close(cmd[1]);
		close(rep[0]);
		z->pid = 0;
		return e;
	}
	z->cmd_fd = cmd[1];
	z->rep_fd = rep[0];
	return 0;
}

/* Reads what Z and B said within timeout_ms (0: only what is there).
 * Returns 0, or -EPIPE when Z is gone. */
static int spawner_poll(struct bb_spawner *z, int timeout_ms)
{
	struct pollfd p = {.fd = z->rep_fd, .events = POLLIN};
	char *nl;
	ssize_t n;

	if (z->rep_fd < 0)
		return -EPIPE;
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	n = read(z->rep_fd, z->buf + z->len, sizeof(z->buf) - 1 - z->len);
	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	z->len += (size_t)n;
	z->buf[z->len] = '\0';
	while ((nl = strchr(z->buf, '\n'))) {
		int pid, st;

		*nl = '\0';
		if (sscanf(z->buf, "PID %d", &pid) == 1) {
			z->last_pid = pid;
		} else if (strcmp(z->buf, "OK") == 0) {
			z->ready = 1;
		} else if (strncmp(z->buf, "ERR ", 4) == 0) {
			z->ready = -1;
			snprintf(z->why, sizeof(z->why), "%s", z->buf + 4);
		} else if (sscanf(z->buf, "EXIT %d %d", &pid, &st) == 2) {
			z->exited = pid;
			z->exit_status = st;
		}
		z->len -= (size_t)(nl + 1 - z->buf);
		memmove(z->buf, nl + 1, z->len + 1);
	}
	if (z->len == sizeof(z->buf) - 1)
		z->len = 0; /* a line longer than any the protocol has */
	return 0;
}

/* Ends Z (brokers still running die with it). */
static void spawner_stop(struct bb_spawner *z)
{
	int st;

	if (z->cmd_fd >= 0)
		close(z->cmd_fd);
	z->cmd_fd = -1;
	if (z->pid > 0) {
		for (int i = 0; i < 500; i++) { /* 5 s */
			if (waitpid(z->pid, &st, WNOHANG) == z->pid) {
				z->pid = 0;
				break;
			}
			sleep_ms(10);
		}
		if (z->pid > 0) {
			kill(z->pid, SIGKILL);
			waitpid(z->pid, &st, 0);
		}
	}
	z->pid = 0;
	if (z->rep_fd >= 0)
		close(z->rep_fd);
	z->rep_fd = -1;
}

struct bb_broker {
	struct bb_spawner *z; /* its spawner */
	pid_t pid;        /* B, 0 when none */
	long start_kb;    /* VmRSS once it started */
	long hwm_kb;      /* VmHWM read just before stopping it */
	double cpu_s;     /* its user + system CPU seconds then */
};

static bool broker_alive(struct bb_broker *bk)
{
	spawner_poll(bk->z, 0);
	return bk->pid > 0 && bk->z->exited != bk->pid;
}

/* Stops B: SIGTERM, BB_STOP_TIMEOUT_MS, then SIGKILL. Reads its VmHWM
 * first. Returns 0, or -ECHILD if it had died or had to be killed. */
static int broker_stop(struct bb_broker *bk, char *why)
{
	struct bb_spawner *z = bk->z;
	uint64_t t0;
	int r = 0, st;

	if (bk->pid <= 0)
		return 0;
	bk->hwm_kb = proc_status_kb(bk->pid, "VmHWM");
	bk->cpu_s = proc_cpu_s(bk->pid);
	if (broker_alive(bk))
		kill(bk->pid, SIGTERM);
	t0 = loafre__mono_ns();
	while (z->exited != bk->pid) {
		if (spawner_poll(z, 50) < 0)
			break; /* Z is gone: B died with it */
		if (z->exited != bk->pid &&
		    loafre__mono_ns() - t0 > (uint64_t)BB_STOP_TIMEOUT_MS * 1000000u) {
			set_why(why, "the broker (pid %d) did not stop within %d s: killed",
				(int)bk->pid, BB_STOP_TIMEOUT_MS / 1000);
			kill(bk->pid, SIGKILL);
			t0 = loafre__mono_ns();
			r = -ECHILD;
		}
	}
	st = z->exit_status;
	if (r == 0 && (z->exited != bk->pid || !(WIFEXITED(st) && WEXITSTATUS(st) == 0))) {
		set_why(why, "the broker (pid %d) exited abnormally (%s %d)", (int)bk->pid,
			WIFSIGNALED(st) ? "signal" : "status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		r = -ECHILD;
	}
	bk->pid = 0;
	return r;
}

/* Has Z fork a broker on conf and waits for its "OK". */
static int broker_start(struct bb_broker *bk, struct bb_spawner *z, const char *conf,
			char *why)
{
	uint64_t t0 = loafre__mono_ns();
	int r = 0;

	*bk = (struct bb_broker){.z = z, .start_kb = -1, .hwm_kb = -1, .cpu_s = -1};
	z->last_pid = 0;
	z->ready = 0;
	z->exited = 0;
	if (z->cmd_fd < 0)
		return -EPIPE;
	{
		char req[PATH_MAX + 2];
		int n = snprintf(req, sizeof(req), "%s\n", conf);

		if (n < 0 || (size_t)n >= sizeof(req))
			return -ENAMETOOLONG;
		if (write(z->cmd_fd, req, (size_t)n) != n)
			return -errno ? -errno : -EPIPE;
	}
	while (z->ready == 0 && (!z->last_pid || z->exited != z->last_pid)) {
		if ((r = spawner_poll(z, 50)) < 0)
			break;
		if (loafre__mono_ns() - t0 > (uint64_t)BB_READY_TIMEOUT_MS * 1000000u) {
			set_why(why, "the broker did not start within %d s",
				BB_READY_TIMEOUT_MS / 1000);
			r = -ETIMEDOUT;
			break;
		}
	}
	/* Z's "PID n" and B's "OK" may come in either order. */
	while (r == 0 && !z->last_pid && loafre__mono_ns() - t0 < 5000000000ull)
		if ((r = spawner_poll(z, 50)) < 0)
			break;
	bk->pid = z->last_pid;
	if (r == 0 && z->ready != 1) {
		set_why(why, "cannot start the broker: %s",
			z->ready < 0 ? z->why : "it exited at start");
		r = -ECHILD;
	}
	if (r == 0 && !bk->pid)
		r = -EPROTO;
	if (r == 0)
		bk->start_kb = proc_status_kb(bk->pid, "VmRSS");
	if (r < 0 && bk->pid > 0) { /* quietly: the reason is printed */
		kill(bk->pid, SIGKILL);
		for (int i = 0; i < 100 && z->exited != bk->pid; i++)
			if (spawner_poll(z, 50) < 0)
				break;
		bk->pid = 0;
	}
	return r;
}

/* ---- consumers -------------------------------------------------------------- */

/* One persistent group of a scenario: which indices it must get. */
struct bb_group {
	char name[LOAFRE__BP_GROUP_MAX + 1]; /* group name */
	uint64_t first, last;                /* it must get every index first..last */
	uint64_t *bits;                      /* delivered indices (bit i - first) */
	_Atomic uint64_t distinct;           /* distinct indices delivered */
	_Atomic uint64_t dups;               /* deliveries of an index already seen */
	_Atomic uint64_t stray;              /* indices outside first..last */
	uint64_t t_first, t_last;            /* first record in, last ack sent (mono ns) */
};

struct bb_run;

/* One consumer thread. */
struct bb_cons {
	struct bb_run *run;        /* its scenario */
	struct bb_group *g;        /* NULL: an ephemeral reader */
	enum loafre_consumer_start start; /* group start */
	pthread_t th;              /* the thread */
	bool started;              /* th is joinable */
	int err;                   /* first error, negative errno */
	char errtext[300];         /* its text */
	_Atomic uint64_t received; /* records received */
	uint64_t lost;             /* ephemeral: records announced lost (GAP) */
	uint64_t t_first, t_last;  /* first record in; last ack sent (group) or last
				    * record in (ephemeral), mono ns */
	uint64_t *lat;             /* latency samples (ns), or NULL */
	size_t n_lat, cap_lat;     /* samples taken, room */
};

/* One scenario run. */
struct bb_run {
	const char *endpoint;       /* the broker's */
	uint32_t credit;            /* per consumer */
	volatile sig_atomic_t *interrupted; /* set by the caller's signal handler */
	atomic_uint joined;         /* consumer threads past their open */
	atomic_bool stop;           /* abort: every consumer leaves */
	atomic_bool go;             /* false: members hold what they get unacked */
	uint64_t go_ns;             /* when go became true (mono ns) */
	uint64_t live;              /* ephemeral readers must get (or lose) this many */
	atomic_uint finished;       /* consumer threads done */
};

static bool run_stopped(struct bb_run *run)
{
	return atomic_load(&run->stop) || (run->interrupted && *run->interrupted);
}

static void cons_fail(struct bb_cons *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cons_fail(struct bb_cons *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (c->err)
		return;
	c->err = err;
	va_start(ap, fmt);
	vsnprintf(c->errtext, sizeof(c->errtext), fmt, ap);
	va_end(ap);
}

static bool cons_done(struct bb_cons *c)
{
	if (c->g)
		return atomic_load(&c->g->distinct) >= c->g->last - c->g->first + 1;
	return atomic_load(&c->received) + c->lost >= c->run->live;
}

static void mark(struct bb_group *g, uint64_t index)
{
	uint64_t bit, old;

	if (index < g->first || index > g->last) {
		atomic_fetch_add(&g->stray, 1);
		return;
	}
	bit = index - g->first;
	old = __atomic_fetch_or(&g->bits[bit / 64], 1ull << (bit % 64), __ATOMIC_RELAXED);
	if (old & (1ull << (bit % 64)))
		atomic_fetch_add(&g->dups, 1);
	else
		atomic_fetch_add(&g->distinct, 1);
}

/* Handles one record batch: marks, samples latency, acks (unless holding). */
static int cons_batch(struct bb_cons *c, struct loafre_consumer *lc, struct loafre_batch *b,
		      uint64_t t_in)
{
	size_t n = loafre_batch_count(b);
	uint64_t rt = c->lat ? realtime_ns() : 0, last = 0;
	struct loafre_rec rec;
	int r;

	for (size_t i = 0; i < n; i++) {
		r = loafre_batch_rec(b, i, &rec, NULL, NULL);
		if (r < 0) {
			cons_fail(c, r, "record %zu of a batch: %s", i, strerror(-r));
			return r;
		}
		last = rec.index;
		if (c->g)
			mark(c->g, rec.index);
		if (c->lat && c->n_lat < c->cap_lat) {
			uint64_t t = loafre_cl_time_sec(rec.time) * 1000000000u +
				     loafre_cl_time_nsec(rec.time);
			c->lat[c->n_lat++] = rt > t ? rt - t : 0;
		}
	}
	if (n && !c->t_first)
		c->t_first = t_in;
	atomic_fetch_add(&c->received, n);
	if (!c->g) {
		c->t_last = t_in;
		return 0;
	}
	if (!atomic_load(&c->run->go))
		return 0;
	r = loafre_consumer_ack_upto(lc, loafre_batch_mdt(b), last);
	if (r < 0) {
		cons_fail(c, r, "ack up to %" PRIu64 ": %s (%s)", last, strerror(-r),
			  loafre_consumer_error(lc));
		return r;
	}
	c->t_last = loafre__mono_ns();
	return 0;
}

static void *cons_thread(void *arg)
{
	struct bb_cons *c = arg;
	struct bb_run *run = c->run;
	struct loafre_consumer *lc = NULL;
	char err[300] = "";
	struct loafre_consumer_options o = {
		.group = c->g ? c->g->name : NULL,
		.start = c->g ? c->start : LOAFRE_CONSUMER_START_DEFAULT,
		.credit = run->credit,
		.err = err,
		.errlen = sizeof(err),
	};
	bool held = false;
	int r;

	r = loafre_consumer_open(run->endpoint, &o, &lc);
	if (r < 0)
		cons_fail(c, r, "cannot join: %s", err[0] ? err : strerror(-r));
	atomic_fetch_add(&run->joined, 1);
	while (!c->err && !run_stopped(run) && !cons_done(c)) {
		struct loafre_batch *b = NULL;
		uint64_t t_in;

		if (c->g && !atomic_load(&run->go)) {
			held = true;
		} else if (held) { /* rss: ack what was held */
			r = loafre_consumer_ack_upto(lc, BB_MDT, UINT64_MAX);
			if (r < 0) {
				cons_fail(c, r, "ack: %s (%s)", strerror(-r), loafre_consumer_error(lc));
				break;
			}
			held = false;
		}
		r = loafre_consumer_recv(lc, BB_RECV_TIMEOUT_MS, &b);
		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r < 0) {
			cons_fail(c, r, "receive: %s (%s)", strerror(-r), loafre_consumer_error(lc));
			break;
		}
		t_in = loafre__mono_ns();
		if (loafre_batch_kind(b) == LOAFRE_BATCH_GAP)
			c->lost += loafre_batch_lost(b);
		else
			cons_batch(c, lc, b, t_in);
		loafre_batch_free(b);
	}
	loafre_consumer_close(lc);
	atomic_fetch_add(&run->finished, 1);
	return NULL;
}

/* ---- scenarios ----------------------------------------------------------------- */

struct bb_ctx {
	const struct loafre__bench_broker_opts *o; /* options */
	FILE *out;               /* figures */
	struct bb_spawner z;     /* forks the brokers */
	char why[BB_WHY_MAX];    /* the first reason of a failure */
	char base[PATH_MAX];     /* the temporary directory */
	char conf[PATH_MAX];     /* BASE/broker.conf */
	char endpoint[PATH_MAX]; /* ipc://BASE/broker.sock */
	struct loafre_journal *j; /* the current journal, for live appends */
	struct bb_gen gen;       /* the record stream */
	unsigned seq;            /* group names: bench<seq>g<k> */
	bool failed;             /* a record was not delivered */
	/* figures for the summary (< 0: not measured) */
	double best_one_group;   /* records/s, members scenario */
	unsigned best_members;   /* ... with this many members */
	double min_of_groups;    /* slowest group, groups scenario */
	double rss_pending_mib;  /* VmHWM, rss scenario */
	uint64_t rss_pending;    /* records pending in it */
};

/* What one scenario runs. */
struct bb_spec {
	const char *title;       /* "1 group x 2 members" */
	unsigned groups;         /* persistent groups */
	unsigned members;        /* members per group */
	unsigned ephemeral;      /* ephemeral readers */
	enum loafre_consumer_start start; /* of the groups */
	uint64_t live;           /* records the parent appends once all joined */
	uint64_t rate;           /* ... at this rate (0: as fast as possible) */
	bool latency;            /* consumers sample receive time - cr_time */
	bool hold;               /* rss: members hold their credit BB_RSS_HOLD_MS first */
};

/* What one scenario measured. */
struct bb_result {
	double group_rate[64];   /* records/s per group */
	double min_rate;         /* slowest group */
	long start_kb;           /* broker VmRSS once started */
	long hwm_kb;             /* broker VmHWM */
	double cpu_s;            /* broker CPU seconds (user + system) */
	double self_cpu_s;       /* this process's (consumers, appender) meanwhile */
	double secs;             /* broker start to stop */
	long rss_held_kb;        /* rss: VmRSS while holding */
	long rss_end_kb;         /* VmRSS once everything was acked */
};

static int write_conf(struct bb_ctx *x, const char *journal)
{
	const struct loafre__bench_broker_opts *o = x->o;
	unsigned maxc = o->credit > LOAFRE_BROKER_DEFAULT_MAX_CREDIT
				? o->credit
				: LOAFRE_BROKER_DEFAULT_MAX_CREDIT;
	FILE *f = fopen(x->conf, "we");
	int r = 0;

	if (!f)
		return -errno;
	fprintf(f,
		"[loafred]\nrun_dir = %s\nlog = stderr\n\n"
		"[filesystem " BB_FSNAME "]\ntype = local\npath = %s/tree\njournal = %s\n"
		"fsync = none\n\n"
		"[broker]\nendpoint = %s\nmax_credit = %u\n",
		x->base, x->base, journal, x->endpoint, maxc);
	if (ferror(f))
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

/* Appends `n` records to the current journal, at `rate` records/s (0: as fast
 * as possible), cr_time = now, a group commit every commit_ms. */
static int append_live(struct bb_ctx *x, struct bb_run *run, struct bb_broker *bk, uint64_t n,
		       uint64_t rate, double *ret_secs)
{
	uint64_t period = (uint64_t)x->o->commit_ms * 1000000u;
	uint64_t t0 = loafre__mono_ns(), last_commit = t0, last_check = t0, done = 0;
	struct loafre_rec rec;
	int r = 0;

	while (done < n) {
		uint64_t now = loafre__mono_ns(), due = n;

		if (rate) {
			due = (uint64_t)((double)(now - t0) * (double)rate / 1e9);
			if (due > n)
				due = n;
		}
		for (unsigned k = 0; done < due && k < 256; k++, done++) {
			uint64_t t = realtime_ns();
			gen_next(&x->gen, &rec,
				 loafre_cl_time(t / 1000000000u, (uint32_t)(t % 1000000000u)));
			r = loafre_journal_append(x->j, &rec);
			if (r != 0) {
				r = r < 0 ? r : -EPROTO;
				goto out;
			}
		}
		now = loafre__mono_ns();
		if (now - last_commit >= period || done == n) {
			r = loafre_journal_commit(x->j, NULL);
			if (r < 0)
				goto out;
			last_commit = now;
		}
		if (now - last_check >= 100000000u) {
			last_check = now;
			if (run_stopped(run)) {
				r = -EINTR;
				goto out;
			}
			if (!broker_alive(bk)) {
				set_why(x->why, "the broker died");
				r = -ECHILD;
				goto out;
			}
		}
		if (rate && done == due)
			sleep_ms(1);
	}
	r = 0;
out:
	*ret_secs = (double)(loafre__mono_ns() - t0) / 1e9;
	return r;
}

static void print_latency(struct bb_ctx *x, const char *who, uint64_t *v, size_t n)
{
	if (!n) {
		fprintf(x->out, "broker latency, %s: no records\n", who);
		return;
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	fprintf(x->out, "broker latency, %s: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%zu records)\n",
		who, (double)v[n / 2] / 1e6, (double)v[n * 99 / 100] / 1e6, (double)v[n - 1] / 1e6,
		n);
}

/* Runs one scenario on a fresh broker over the current journal. */
static int run_scenario(struct bb_ctx *x, const struct bb_spec *sp, struct bb_result *res)
{
	const struct loafre__bench_broker_opts *o = x->o;
	struct loafre_journal_info info;
	struct bb_broker bk = {0};
	struct bb_run run = {
		.endpoint = x->endpoint,
		.credit = o->credit,
		.interrupted = o->interrupted,
		.live = sp->live,
	};
	struct bb_group *groups = NULL;
	struct bb_cons *cons = NULL;
	size_t n_cons = (size_t)sp->groups * sp->members + sp->ephemeral, n_started = 0;
	double live_secs = 0;
	uint64_t progress = 0, t_progress, t_start = 0, seq = ++x->seq;
	char rb[32];
	int r;

	*res = (struct bb_result){.hwm_kb = -1, .rss_held_kb = -1, .rss_end_kb = -1};
	fflush(x->out); /* what was printed is seen while this runs */
	atomic_init(&run.stop, false);
	atomic_init(&run.go, !sp->hold);
	atomic_init(&run.finished, 0);
	atomic_init(&run.joined, 0);
	r = loafre_journal_info(x->j, &info);
	if (r < 0)
		return r;
	groups = calloc(sp->groups ? sp->groups : 1, sizeof(*groups));
	cons = calloc(n_cons ? n_cons : 1, sizeof(*cons));
	if (!groups || !cons) {
		r = -ENOMEM;
		goto out;
	}
	for (unsigned gi = 0; gi < sp->groups; gi++) {
		struct bb_group *g = &groups[gi];

		snprintf(g->name, sizeof(g->name), "bench%02ug%02u", (unsigned)(seq % 100),
			 (gi + 1) % 100);
		g->first = sp->start == LOAFRE_CONSUMER_START_NEWEST ? info.last_index + 1
								     : info.first_index;
		if (!g->first)
			g->first = 1;
		g->last = info.last_index + sp->live;
		g->bits = calloc((g->last - g->first + 1) / 64 + 1, sizeof(uint64_t));
		if (!g->bits) {
			r = -ENOMEM;
			goto out;
		}
		atomic_init(&g->distinct, 0);
		atomic_init(&g->dups, 0);
		atomic_init(&g->stray, 0);
	}
	for (size_t i = 0; i < n_cons; i++) {
		struct bb_cons *c = &cons[i];

		c->run = &run;
		c->g = i < (size_t)sp->groups * sp->members ? &groups[i / sp->members] : NULL;
		c->start = sp->start;
		atomic_init(&c->received, 0);
		if (sp->latency) {
			c->cap_lat = sp->live;
			c->lat = malloc((c->cap_lat ? c->cap_lat : 1) * sizeof(*c->lat));
			if (!c->lat) {
				r = -ENOMEM;
				goto out;
			}
		}
	}
	t_start = loafre__mono_ns();
	res->self_cpu_s = -self_cpu_s();
	r = broker_start(&bk, &x->z, x->conf, x->why);
	if (r < 0)
		goto out;
	for (; n_started < n_cons; n_started++) {
		r = -pthread_create(&cons[n_started].th, NULL, cons_thread, &cons[n_started]);
		if (r < 0)
			break;
		cons[n_started].started = true;
	}
	if (r < 0) {
		atomic_store(&run.stop, true);
		set_why(x->why, "cannot start a consumer thread: %s", strerror(-r));
		goto out;
	}
	/* Every consumer joined (or failed to: open times out by itself). */
	while (atomic_load(&run.joined) < n_cons) {
		if (o->interrupted && *o->interrupted) {
			r = -EINTR;
			atomic_store(&run.stop, true);
			goto out;
		}
		sleep_ms(2);
	}
	for (size_t i = 0; i < n_cons; i++)
		if (cons[i].err) {
			set_why(x->why, "%s: consumer %zu: %s", sp->title, i + 1, cons[i].errtext);
			r = cons[i].err;
			atomic_store(&run.stop, true);
			goto out;
		}
	if (sp->hold) {
		sleep_ms(BB_RSS_HOLD_MS);
		res->rss_held_kb = proc_status_kb(bk.pid, "VmRSS");
		run.go_ns = loafre__mono_ns();
		atomic_store(&run.go, true);
	}
	if (sp->live) {
		r = append_live(x, &run, &bk, sp->live, sp->rate, &live_secs);
		if (r < 0) {
			atomic_store(&run.stop, true);
			set_why(x->why, "cannot append to the journal: %s", strerror(-r));
			goto out;
		}
	}
	t_progress = loafre__mono_ns();
	while (atomic_load(&run.finished) < n_cons) {
		uint64_t now, got = 0;

		sleep_ms(20);
		now = loafre__mono_ns();
		for (size_t i = 0; i < n_cons; i++)
			got += atomic_load(&cons[i].received);
		if (got != progress) {
			progress = got;
			t_progress = now;
		}
		if (o->interrupted && *o->interrupted) {
			r = -EINTR;
			break;
		}
		if (!broker_alive(&bk)) {
			set_why(x->why, "%s: the broker died", sp->title);
			r = -ECHILD;
			break;
		}
		if (now - t_progress > (uint64_t)BB_STALL_S * 1000000000u) {
			set_why(x->why, "%s: no record delivered for %d s", sp->title, BB_STALL_S);
			r = -ETIMEDOUT;
			break;
		}
	}
	if (r < 0) {
		atomic_store(&run.stop, true);
		goto out;
	}
	sleep_ms(200); /* the broker handles the last acks and clears */
	res->rss_end_kb = proc_status_kb(bk.pid, "VmRSS");
out:
	for (size_t i = 0; i < n_started; i++)
		if (cons[i].started)
			pthread_join(cons[i].th, NULL);
	if (broker_stop(&bk, x->why) < 0 && r == 0)
		r = -ECHILD;
	res->hwm_kb = bk.hwm_kb;
	res->start_kb = bk.start_kb;
	res->cpu_s = bk.cpu_s;
	res->self_cpu_s += self_cpu_s();
	res->secs = (double)(loafre__mono_ns() - t_start) / 1e9;
	if (r < 0)
		goto free;
	/* Figures. */
	res->min_rate = -1;
	for (size_t i = 0; i < n_cons; i++)
		if (cons[i].err) {
			set_why(x->why, "%s: consumer %zu: %s", sp->title, i + 1, cons[i].errtext);
			r = cons[i].err;
		}
	for (unsigned gi = 0; gi < sp->groups; gi++) {
		struct bb_group *g = &groups[gi];
		uint64_t want = g->last - g->first + 1, got = atomic_load(&g->distinct);
		uint64_t dups = atomic_load(&g->dups), stray = atomic_load(&g->stray);
		double secs, rate;
		char who[64] = "";

		g->t_first = UINT64_MAX;
		g->t_last = 0;
		for (size_t i = 0; i < n_cons; i++) {
			if (cons[i].g != g)
				continue;
			if (cons[i].t_first && cons[i].t_first < g->t_first)
				g->t_first = cons[i].t_first;
			if (cons[i].t_last > g->t_last)
				g->t_last = cons[i].t_last;
		}
		if (sp->hold && run.go_ns > g->t_first)
			g->t_first = run.go_ns;
		secs = g->t_last > g->t_first ? (double)(g->t_last - g->t_first) / 1e9 : 0;
		rate = secs > 0 ? (double)got / secs : 0;
		res->group_rate[gi] = rate;
		if (res->min_rate < 0 || rate < res->min_rate)
			res->min_rate = rate;
		if (sp->groups > 1)
			snprintf(who, sizeof(who), " group %s:", g->name);
		fprintf(x->out,
			"broker %s:%s %" PRIu64 " of %" PRIu64
			" records delivered and acked in %.2f s = %s records/s",
			sp->title, who, got, want, secs, rate_str(rate, rb, sizeof(rb)));
		if (dups)
			fprintf(x->out, " (%" PRIu64 " delivered twice)", dups);
		if (stray)
			fprintf(x->out, " (%" PRIu64 " outside the expected range)", stray);
		fprintf(x->out, "\n");
		if (got != want) {
			set_why(x->why, "%s: group %s got %" PRIu64 " of %" PRIu64 " records",
				sp->title, g->name, got, want);
			x->failed = true;
		}
	}
	if (sp->groups > 1) {
		uint64_t total = 0, t0 = UINT64_MAX, t1 = 0;
		for (unsigned gi = 0; gi < sp->groups; gi++) {
			total += atomic_load(&groups[gi].distinct);
			t0 = groups[gi].t_first < t0 ? groups[gi].t_first : t0;
			t1 = groups[gi].t_last > t1 ? groups[gi].t_last : t1;
		}
		double secs = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
		char rb2[32];
		fprintf(x->out,
			"broker %s: all groups %" PRIu64 " records in %.2f s = %s records/s, "
			"slowest group %s records/s\n",
			sp->title, total, secs,
			rate_str(secs > 0 ? (double)total / secs : 0, rb, sizeof(rb)),
			rate_str(res->min_rate, rb2, sizeof(rb2)));
	}
	for (size_t i = (size_t)sp->groups * sp->members, e = 1; i < n_cons; i++, e++) {
		struct bb_cons *c = &cons[i];
		uint64_t got = atomic_load(&c->received);
		double secs = c->t_last > c->t_first ? (double)(c->t_last - c->t_first) / 1e9 : 0;

		fprintf(x->out,
			"broker %s: ephemeral reader %zu: %" PRIu64 " of %" PRIu64
			" live records received, %" PRIu64 " lost (gap), %s records/s\n",
			sp->title, e, got, sp->live, c->lost,
			rate_str(secs > 0 ? (double)got / secs : 0, rb, sizeof(rb)));
		if (got + c->lost != sp->live) {
			set_why(x->why, "%s: ephemeral reader %zu got %" PRIu64 " + lost %" PRIu64
				" of %" PRIu64 " records",
				sp->title, e, got, c->lost, sp->live);
			x->failed = true;
		}
	}
	if (sp->live)
		fprintf(x->out, "broker %s: appended %" PRIu64 " live records in %.2f s (%s records/s%s)\n",
			sp->title, sp->live, live_secs,
			rate_str(live_secs > 0 ? (double)sp->live / live_secs : 0, rb, sizeof(rb)),
			sp->rate ? ", paced" : ", as fast as possible");
	if (sp->latency) {
		size_t total = 0;
		uint64_t *all;

		for (size_t i = 0; i < n_cons; i++)
			if (!cons[i].g)
				total += cons[i].n_lat;
		for (size_t i = 0; i < n_cons; i++)
			if (cons[i].g)
				print_latency(x, "group member", cons[i].lat, cons[i].n_lat);
		all = malloc((total ? total : 1) * sizeof(*all));
		if (all && sp->ephemeral) {
			size_t k = 0;
			for (size_t i = 0; i < n_cons; i++)
				if (!cons[i].g) {
					memcpy(all + k, cons[i].lat, cons[i].n_lat * sizeof(*all));
					k += cons[i].n_lat;
				}
			print_latency(x, "ephemeral readers", all, k);
		}
		free(all);
	}
	fprintf(x->out,
		"broker %s: broker RSS peak (VmHWM) %.1f MiB, at start %.1f MiB, at the end %.1f "
		"MiB; broker CPU %.2f s, consumers%s CPU %.2f s, in %.2f s\n",
		sp->title, mib(res->hwm_kb), mib(res->start_kb), mib(res->rss_end_kb), res->cpu_s,
		sp->live ? " and appender" : "", res->self_cpu_s, res->secs);
	fflush(x->out);
free:
	for (size_t i = 0; cons && i < n_cons; i++)
		free(cons[i].lat);
	for (unsigned gi = 0; groups && gi < sp->groups; gi++)
		free(groups[gi].bits);
	free(cons);
	free(groups);
	return r;
}

/* Phase 1: the throughput and latency scenarios on N preloaded records. */
static int phase_main(struct bb_ctx *x)
{
	const struct loafre__bench_broker_opts *o = x->o;
	struct loafre_journal_options jo = {.fsync = LOAFRE_FSYNC_NONE};
	struct bb_result res;
	char jdir[PATH_MAX], title[128], id[LOAFRE_CL_USER_ID_MAX], rb[32];
	uint64_t t0, bytes = 0, per = frame_bytes_avg(), avail = disk_avail(x->base);
	uint64_t need = o->n + o->n / 2 + (uint64_t)((double)o->rate * o->duration);
	double secs;
	int r;

	if (avail < BB_DISK_SLACK || (avail - BB_DISK_SLACK) / per < need) {
		set_why(x->why,
			"%.1f GiB free in %s; %" PRIu64
			" records need %.1f GiB (use a smaller -n or another --dir)",
			(double)avail / (1u << 30), x->base, need,
			(double)(need * per + BB_DISK_SLACK) / (1u << 30));
		return -ENOSPC;
	}
	if ((r = pathf(jdir, sizeof(jdir), "%s/journal1", x->base)) < 0)
		return r;
	r = loafre_journal_open(jdir, BB_MDT, LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &jo,
				&x->j);
	if (r < 0) {
		set_why(x->why, "cannot create the journal '%s': %s", jdir, strerror(-r));
		return r;
	}
	t0 = loafre__mono_ns();
	r = preload(x->j, &x->gen, o->n, &bytes);
	if (r < 0) {
		set_why(x->why, "cannot preload the journal '%s': %s", jdir, strerror(-r));
		goto out;
	}
	secs = (double)(loafre__mono_ns() - t0) / 1e9;
	fprintf(x->out, "broker bench: preloaded %" PRIu64 " records (%.1f MB) in %.2f s (%s records/s)\n",
		o->n, (double)bytes / 1e6, secs, rate_str(secs > 0 ? (double)o->n / secs : 0, rb, 32));
	/* Keeps every record for the groups of the later scenarios. */
	r = loafre_journal_register_from(x->j, BB_HOLD_READER, NULL, 0, id, sizeof(id));
	if (r < 0)
		goto out;
	if ((r = write_conf(x, jdir)) < 0)
		goto out;
	if (o->scenarios & LOAFRE__BB_MEMBERS) {
		static const unsigned def[] = {1, 2, 4};
		unsigned list[3], n = 0;

		if (o->members)
			list[n++] = o->members;
		else
			for (; n < 3; n++)
				list[n] = def[n];
		for (unsigned i = 0; i < n; i++) {
			struct bb_spec sp = {.title = title, .groups = 1, .members = list[i],
					     .start = LOAFRE_CONSUMER_START_OLDEST};
			snprintf(title, sizeof(title), "1 group x %u member%s", list[i],
				 list[i] == 1 ? "" : "s");
			if ((r = run_scenario(x, &sp, &res)) < 0)
				goto out;
			if (res.min_rate > x->best_one_group) {
				x->best_one_group = res.min_rate;
				x->best_members = list[i];
			}
		}
	}
	if (o->scenarios & LOAFRE__BB_GROUPS) {
		struct bb_spec sp = {.title = title, .groups = o->groups, .members = 1,
				     .start = LOAFRE_CONSUMER_START_OLDEST};
		snprintf(title, sizeof(title), "%u group%s x 1 member", o->groups,
			 o->groups == 1 ? "" : "s");
		if ((r = run_scenario(x, &sp, &res)) < 0)
			goto out;
		x->min_of_groups = res.min_rate;
	}
	if (o->scenarios & LOAFRE__BB_EPHEMERAL) {
		struct bb_spec sp = {.title = title, .groups = 1, .members = 1,
				     .ephemeral = o->ephemeral,
				     .start = LOAFRE_CONSUMER_START_OLDEST,
				     .live = o->n / 2 ? o->n / 2 : 1};
		snprintf(title, sizeof(title), "1 group x 1 member + %u ephemeral", o->ephemeral);
		if ((r = run_scenario(x, &sp, &res)) < 0)
			goto out;
	}
	if (o->scenarios & LOAFRE__BB_LATENCY) {
		uint64_t live = (uint64_t)((double)o->rate * o->duration);
		struct bb_spec sp = {.title = title, .groups = 1, .members = 1,
				     .ephemeral = o->ephemeral,
				     .start = LOAFRE_CONSUMER_START_NEWEST,
				     .live = live ? live : 1, .rate = o->rate, .latency = true};
		snprintf(title, sizeof(title), "latency at %" PRIu64 " records/s", o->rate);
		fprintf(x->out, "broker %s: 1 member (start newest) + %u ephemeral, %.1f s, a "
				"commit every %u ms; latency = receive time - cr_time (append time)\n",
			title, o->ephemeral, o->duration, o->commit_ms);
		if ((r = run_scenario(x, &sp, &res)) < 0)
			goto out;
	}
	r = 0;
out:
	if (r < 0 && r != -EINTR)
		set_why(x->why, "journal '%s': %s", jdir, strerror(-r));
	loafre_journal_close(x->j);
	x->j = NULL;
	if (rm_tree(jdir) < 0)
		fprintf(x->o->err, "loafre bench broker: cannot remove '%s': %s\n", jdir,
			strerror(errno));
	return r;
}

/* Phase 2: the broker's memory with R records pending. */
static int phase_rss(struct bb_ctx *x)
{
	const struct loafre__bench_broker_opts *o = x->o;
	struct loafre_journal_options jo = {.fsync = LOAFRE_FSYNC_NONE};
	struct bb_result res;
	char jdir[PATH_MAX], title[64], rb[32];
	uint64_t n = o->rss_records, per = frame_bytes_avg(), bytes = 0, t0;
	uint64_t avail = disk_avail(x->base);
	double secs;
	int r;

	if (avail < BB_DISK_SLACK || (avail - BB_DISK_SLACK) / per < n) {
		uint64_t fit = avail > BB_DISK_SLACK ? (avail - BB_DISK_SLACK) / per : 0;
		fprintf(x->out,
			"broker rss: note: %.1f GiB free in %s, %" PRIu64 " records need %.1f GiB: "
			"scaled down to %" PRIu64 " records\n",
			(double)avail / (1u << 30), x->base, n, (double)(n * per) / (1u << 30), fit);
		n = fit;
	}
	if (n == 0) {
		fprintf(x->out, "broker rss: skipped (no disk space)\n");
		return 0;
	}
	if ((r = pathf(jdir, sizeof(jdir), "%s/journal2", x->base)) < 0)
		return r;
	r = loafre_journal_open(jdir, BB_MDT, LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &jo,
				&x->j);
	if (r < 0) {
		set_why(x->why, "cannot create the journal '%s': %s", jdir, strerror(-r));
		return r;
	}
	t0 = loafre__mono_ns();
	r = preload(x->j, &x->gen, n, &bytes);
	if (r < 0) {
		set_why(x->why, "cannot preload the journal '%s': %s", jdir, strerror(-r));
		goto out;
	}
	secs = (double)(loafre__mono_ns() - t0) / 1e9;
	fprintf(x->out, "broker rss: preloaded %" PRIu64 " records (%.1f MB) in %.2f s (%s records/s)\n",
		n, (double)bytes / 1e6, secs, rate_str(secs > 0 ? (double)n / secs : 0, rb, 32));
	if ((r = write_conf(x, jdir)) < 0)
		goto out;
	{
		struct bb_spec sp = {.title = title, .groups = 1, .members = 1,
				     .start = LOAFRE_CONSUMER_START_OLDEST, .hold = true};
		snprintf(title, sizeof(title), "rss, 1 group x 1 member");
		if ((r = run_scenario(x, &sp, &res)) < 0)
			goto out;
	}
	fprintf(x->out,
		"broker rss: %" PRIu64 " records pending (member holding its %u credit unacked): "
		"broker RSS %.1f MiB; peak over the run (VmHWM) %.1f MiB; after consuming them "
		"%.1f MiB\n",
		n, o->credit, mib(res.rss_held_kb), mib(res.hwm_kb), mib(res.rss_end_kb));
	x->rss_pending_mib = mib(res.hwm_kb);
	x->rss_pending = n;
	r = 0;
out:
	if (r < 0 && r != -EINTR)
		set_why(x->why, "journal '%s': %s", jdir, strerror(-r));
	loafre_journal_close(x->j);
	x->j = NULL;
	if (rm_tree(jdir) < 0)
		fprintf(x->o->err, "loafre bench broker: cannot remove '%s': %s\n", jdir,
			strerror(errno));
	return r;
}

static void summary(struct bb_ctx *x)
{
	const struct loafre__bench_broker_opts *o = x->o;
	char rb[32];

	fprintf(x->out, "summary (targets of the broker issue, measured on %ld CPUs):\n",
		sysconf(_SC_NPROCESSORS_ONLN));
	if (x->best_one_group >= 0)
		fprintf(x->out, "  one group with acks >= 1 M records/s: %s records/s (%u member%s): %s\n",
			rate_str(x->best_one_group, rb, sizeof(rb)), x->best_members,
			x->best_members == 1 ? "" : "s", x->best_one_group >= 1e6 ? "yes" : "no");
	else
		fprintf(x->out, "  one group with acks >= 1 M records/s: not measured\n");
	if (x->min_of_groups >= 0)
		fprintf(x->out, "  each of %u groups >= 300 k records/s: slowest %s records/s: %s\n",
			o->groups, rate_str(x->min_of_groups, rb, sizeof(rb)),
			x->min_of_groups >= 3e5 ? "yes" : "no");
	else
		fprintf(x->out, "  each of 4 groups >= 300 k records/s: not measured\n");
	if (x->rss_pending)
		fprintf(x->out, "  broker RSS <= 200 MiB with 10 M records pending: %.1f MiB with %" PRIu64
				" pending%s: %s\n",
			x->rss_pending_mib, x->rss_pending,
			x->rss_pending < 10000000u ? " (fewer than 10 M)" : "",
			x->rss_pending_mib <= 200.0 ? "yes" : "no");
	else
		fprintf(x->out, "  broker RSS <= 200 MiB with 10 M records pending: not measured\n");
	fprintf(x->out, "  every record delivered: %s\n", x->failed ? "NO" : "yes");
}

int loafre__bench_broker(const struct loafre__bench_broker_opts *o, FILE *out, char *err,
			 size_t errlen)
{
	struct bb_ctx *x = calloc(1, sizeof(*x));
	const char *dir = o->dir;
	int r = 0;

	if (!x) {
		if (err && errlen)
			snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	x->o = o;
	x->out = out;
	x->best_one_group = -1;
	x->min_of_groups = -1;
	gen_init(&x->gen);
	/* First, while this process is small (see spawner_start). */
	if ((r = spawner_start(&x->z, o->err)) < 0) {
		set_why(x->why, "cannot start a process: %s", strerror(-r));
		goto spawner;
	}
	if ((r = pathf(x->base, sizeof(x->base), "%s/loafre-bench-broker.XXXXXX", dir)) < 0) {
		set_why(x->why, "directory name too long: '%s'", dir);
		goto spawner;
	}
	if (!mkdtemp(x->base)) {
		r = -errno;
		set_why(x->why, "cannot create a directory in '%s': %s", dir, strerror(-r));
		goto spawner;
	}
	if ((r = pathf(x->conf, sizeof(x->conf), "%s/broker.conf", x->base)) < 0 ||
	    (r = pathf(x->endpoint, sizeof(x->endpoint), "ipc://%s/broker.sock", x->base)) < 0)
		goto out;
	{
		char tree[PATH_MAX];
		if ((r = pathf(tree, sizeof(tree), "%s/tree", x->base)) < 0)
			goto out;
		if (mkdir(tree, 0700) < 0) {
			r = -errno;
			goto out;
		}
	}
	fprintf(out, "broker bench: credit %u per consumer, in %s\n", o->credit, x->base);
	if (o->scenarios & (LOAFRE__BB_MEMBERS | LOAFRE__BB_GROUPS | LOAFRE__BB_EPHEMERAL |
			    LOAFRE__BB_LATENCY))
		r = phase_main(x);
	if (r == 0 && (o->scenarios & LOAFRE__BB_RSS))
		r = phase_rss(x);
	if (r == 0) {
		summary(x);
		if (x->failed)
			r = -EIO;
	}
	if (r == -EINTR || (o->interrupted && *o->interrupted)) {
		r = -EINTR;
		snprintf(x->why, sizeof(x->why), "interrupted");
	}
out:
	if (rm_tree(x->base) < 0)
		fprintf(o->err, "loafre bench broker: cannot remove '%s': %s\n", x->base,
			strerror(errno));
spawner:
	spawner_stop(&x->z);
	if (r < 0 && err && errlen)
		snprintf(err, errlen, "%s", x->why[0] ? x->why : strerror(-r));
	free(x);
	return r;
}
