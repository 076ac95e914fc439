/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * journal_crash.c — SIGKILL a committing writer over and over (sometimes
 * also tearing the active segment's uncommitted tail) and check that every
 * index the writer reported as committed is there exactly once, in order,
 * with its content. Exit 1 on any violation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loafre/journal.h"

#define MDT "crash-MDT0000"
#define ROUNDS 40

static char dir[256];

static void make_rec(struct loafre_rec *r, uint64_t i, char *nbuf, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->type = (uint32_t)(i % 3 == 0 ? LOAFRE_CL_UNLINK : LOAFRE_CL_CREATE);
	r->flags = LOAFRE_CLF_VERSION | LOAFRE_CLF_EXTRA_FLAGS;
	r->extra_flags = LOAFRE_CLFE_UIDGID;
	r->uid = i * 3;
	r->gid = i % 1000;
	r->time = loafre_cl_time(1700000000 + i, (uint32_t)(i % 1000000));
	r->tfid = (struct loafre_fid){0x200000401ull, (uint32_t)i, 0};
	r->pfid = (struct loafre_fid){0x200000007ull, 1, 0};
	snprintf(nbuf, cap, "f%" PRIu64, i);
	r->name = nbuf;
	r->namelen = (uint16_t)strlen(nbuf);
}

static bool rec_ok(const struct loafre_rec *r, uint64_t i)
{
	char nb[32];
	struct loafre_rec e;

	make_rec(&e, i, nb, sizeof(nb));
	return r->index == i && r->type == e.type && r->uid == e.uid && r->gid == e.gid &&
	       r->time == e.time && loafre_fid_equal(&r->tfid, &e.tfid) &&
	       r->namelen == e.namelen && memcmp(r->name, nb, e.namelen) == 0;
}

/* The child: recover, then append and commit in small batches forever,
 * reporting each committed last index on fd. */
static void writer(int fd, unsigned seed)
{
	struct loafre_journal_options o = {.segment_bytes = 8192, .fsync = LOAFRE_FSYNC_COMMIT};
	struct loafre_journal *j;
	uint64_t last;
	char nb[32];

	srand(seed);
	if (loafre_journal_open(dir, MDT, LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &o, &j) < 0)
		_exit(2);
	if (loafre_journal_commit(j, &last) < 0)
		_exit(3);
	for (;;) {
		int n = 1 + rand() % 40;
		struct loafre_rec r;

		for (int k = 1; k <= n; k++) {
			make_rec(&r, last + (uint64_t)k, nb, sizeof(nb));
			if (loafre_journal_append(j, &r) != 0)
				_exit(4);
		}
		if (loafre_journal_commit(j, &last) != n)
			_exit(5);
		if (write(fd, &last, sizeof(last)) != (ssize_t)sizeof(last))
			_exit(6);
		usleep(1000 + (unsigned)(rand() % 4000));
	}
}

/* Reads the whole journal: indices must be 1, 2, ... with their content,
 * and reach at least `min_last`. Returns the last index or 0 on error. */
static uint64_t verify(uint64_t min_last, const char *when)
{
	struct loafre_journal *j;
	struct loafre_journal_reader *rd;
	struct loafre_rec r;
	uint64_t expect = 1;
	int ret;

	if (loafre_journal_open(dir, MDT, 0, NULL, &j) < 0 ||
	    loafre_journal_reader_open(j, 0, &rd) < 0) {
		fprintf(stderr, "%s: cannot open journal\n", when);
		return 0;
	}
	while ((ret = loafre_journal_reader_next(rd, &r, NULL, NULL)) == 0) {
		if (!rec_ok(&r, expect)) {
			fprintf(stderr, "%s: expected index %" PRIu64 " got %" PRIu64 " (or bad content)\n",
				when, expect, r.index);
			ret = -1;
			break;
		}
		expect++;
	}
	loafre_journal_reader_close(rd);
	loafre_journal_close(j);
	if (ret != -EAGAIN) {
		fprintf(stderr, "%s: reader stopped with %d at %" PRIu64 "\n", when, ret, expect);
		return 0;
	}
	if (expect - 1 < min_last) {
		fprintf(stderr, "%s: lost records: have up to %" PRIu64 ", %" PRIu64 " were reported\n",
			when, expect - 1, min_last);
		return 0;
	}
	return expect - 1 ? expect - 1 : 1;
}

/* Tears the uncommitted tail of the active segment: appends random bytes
 * or cuts bytes beyond the state's valid_length. Returns 1 if it did. */
static int damage(int how)
{
	unsigned char st[64], junk[256];
	char p[512];
	uint64_t active, vlen;
	struct stat sb;
	int fd, done = 0;

	snprintf(p, sizeof(p), "%s/state", dir);
	fd = open(p, O_RDONLY);
	if (fd < 0 || pread(fd, st, 64, 0) != 64) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	close(fd);
	memcpy(&active, st + 32, 8); /* little-endian host */
	memcpy(&vlen, st + 40, 8);
	snprintf(p, sizeof(p), "%s/%020" PRIu64 ".seg", dir, active);
	fd = open(p, O_RDWR);
	if (fd < 0 || fstat(fd, &sb) < 0)
		return 0;
	if (how == 0) {
		size_t n = 1 + (size_t)(rand() % (int)sizeof(junk));

		for (size_t i = 0; i < n; i++)
			junk[i] = (unsigned char)rand();
		done = pwrite(fd, junk, n, sb.st_size) == (ssize_t)n;
	} else if ((uint64_t)sb.st_size > vlen) {
		off_t cut = 1 + rand() % 60;
		off_t to = sb.st_size - cut < (off_t)vlen ? (off_t)vlen : sb.st_size - cut;

		done = ftruncate(fd, to) == 0;
	}
	close(fd);
	return done;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int main(void)
{
	unsigned seed = (unsigned)time(NULL);
	uint64_t max_reported = 0, last = 0;
	int damaged = 0, fails = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(dir, sizeof(dir), "/tmp/loafre-crash-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	strcat(dir, "/j");
	srand(seed);
	printf("journal_crash: seed %u, dir %s\n", seed, dir);
	for (int round = 0; round < ROUNDS && !fails; round++) {
		int pfd[2], status;
		pid_t pid;
		uint64_t v;
		char when[64];

		if (pipe(pfd) < 0)
			return 1;
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(pfd[0]);
			writer(pfd[1], seed + (unsigned)round);
		}
		close(pfd[1]);
		usleep(5000 + (unsigned)(rand() % 60000));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status)) {
			fprintf(stderr, "round %d: writer exited with %d\n", round,
				WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			fails++;
		}
		while (read(pfd[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
			if (v > max_reported)
				max_reported = v;
		close(pfd[0]);
		snprintf(when, sizeof(when), "round %d after kill", round);
		last = verify(max_reported, when);
		if (!last)
			fails++;
		if (round % 3 != 0)
			damaged += damage(round % 3 == 1 ? 0 : 1);
	}
	/* A last writer recovers; everything reported is still there. */
	if (!fails) {
		struct loafre_journal *j;
		uint64_t l;

		if (loafre_journal_open(dir, MDT, LOAFRE_JOURNAL_WRITE, NULL, &j) < 0 ||
		    loafre_journal_commit(j, &l) < 0) {
			fprintf(stderr, "final recovery failed\n");
			fails++;
		} else {
			loafre_journal_close(j);
			last = verify(max_reported, "final");
			if (!last)
				fails++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("journal_crash: %d rounds, %" PRIu64 " records reported committed, %" PRIu64
	       " present, %d tails damaged, %.1f s: %s\n",
	       ROUNDS, max_reported, last, damaged,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       fails ? "FAILED" : "ok");
	if (!fails) {
		dir[strlen(dir) - 2] = '\0';
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
	return fails ? 1 : 0;
}
