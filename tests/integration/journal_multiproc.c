/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * journal_multiproc.c — one writer process appends while (a) a follower
 * process reads with reader_wait, checking every index arrives in order,
 * with its content, never before it is committed, and clears as it goes;
 * and (b) a churn process registers, reads, clears and deregisters readers
 * concurrently, checking that purge never drops a record a registered
 * reader still needs (it can read from its cleared index + 1). Exit 1 on
 * any violation.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loafre/journal.h"

#define MDT "mp-MDT0000"
#define TOTAL 30000u

static char dir[256];

static void make_rec(struct loafre_rec *r, uint64_t i, char *nb, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->type = LOAFRE_CL_CREATE;
	r->flags = LOAFRE_CLF_VERSION;
	r->tfid = (struct loafre_fid){0x200000401ull, (uint32_t)i, 0};
	snprintf(nb, cap, "f%" PRIu64, i);
	r->name = nb;
	r->namelen = (uint16_t)strlen(nb);
}

static bool rec_ok(const struct loafre_rec *r, uint64_t i)
{
	char nb[32];

	snprintf(nb, sizeof(nb), "f%" PRIu64, i);
	return r->index == i && r->tfid.f_oid == (uint32_t)i && r->namelen == strlen(nb) &&
	       memcmp(r->name, nb, r->namelen) == 0;
}

static int writer(void)
{
	struct loafre_journal_options o = {.segment_bytes = 16384};
	struct loafre_journal *j;
	struct loafre_rec r;
	uint64_t next = 1, last;
	char nb[32];

	if (loafre_journal_open(dir, MDT, LOAFRE_JOURNAL_WRITE, &o, &j) < 0)
		return 1;
	srand(1);
	while (next <= TOTAL) {
		int n = 1 + rand() % 200;

		for (int k = 0; k < n && next <= TOTAL; k++, next++) {
			make_rec(&r, next, nb, sizeof(nb));
			if (loafre_journal_append(j, &r) != 0)
				return 1;
		}
		if (loafre_journal_commit(j, &last) < 0 || last != next - 1) {
			fprintf(stderr, "writer: commit failed\n");
			return 1;
		}
		usleep((unsigned)(rand() % 2000));
	}
	loafre_journal_close(j);
	return 0;
}

/* Follows cl1 from its cleared index + 1 to TOTAL, clearing as it goes. */
static int follower(void)
{
	struct loafre_journal *j;
	struct loafre_journal_reader *rd;
	struct loafre_journal_info info;
	struct loafre_rec r;
	uint64_t expect = 1;
	int ret, waits = 0;

	if (loafre_journal_open(dir, MDT, 0, NULL, &j) < 0 ||
	    loafre_journal_reader_open(j, 1, &rd) < 0)
		return 1;
	while (expect <= TOTAL) {
		ret = loafre_journal_reader_next(rd, &r, NULL, NULL);
		if (ret == -EAGAIN) {
			if (loafre_journal_reader_wait(rd, 5000) == 0) {
				fprintf(stderr, "follower: no wake-up in 5 s at %" PRIu64 "\n", expect);
				return 1;
			}
			waits++;
			continue;
		}
		if (ret < 0) {
			fprintf(stderr, "follower: error %d at %" PRIu64 "\n", ret, expect);
			return 1;
		}
		if (!rec_ok(&r, expect)) {
			fprintf(stderr, "follower: expected %" PRIu64 ", got %" PRIu64 "\n", expect,
				r.index);
			return 1;
		}
		if (expect % 97 == 0) {
			/* Never visible before its commit published it. */
			if (loafre_journal_info(j, &info) < 0 || info.last_index < r.index) {
				fprintf(stderr, "follower: saw %" PRIu64 " before commit\n", r.index);
				return 1;
			}
		}
		if (expect % 1000 == 0 && loafre_journal_clear(j, "cl1", expect) < 0) {
			fprintf(stderr, "follower: clear failed\n");
			return 1;
		}
		expect++;
	}
	loafre_journal_reader_close(rd);
	loafre_journal_close(j);
	printf("follower: %u records in order, %d waits\n", TOTAL, waits);
	return 0;
}

/* Registers short-lived readers; each must find cleared+1 readable. */
static int churn(void)
{
	struct loafre_journal *j;
	unsigned rounds = 0;
	char id[LOAFRE_CL_USER_ID_MAX];

	if (loafre_journal_open(dir, MDT, 0, NULL, &j) < 0)
		return 1;
	for (;;) {
		struct loafre_cl_user *u;
		struct loafre_journal_reader *rd;
		struct loafre_rec r;
		uint64_t c = UINT64_MAX;
		size_t n;
		int ret;

		if (loafre_journal_register(j, "churn", NULL, id, sizeof(id)) < 0 ||
		    loafre_journal_users(j, &u, &n) < 0) {
			fprintf(stderr, "churn: register failed\n");
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(u[i].id, id) == 0)
				c = u[i].cleared;
		free(u);
		usleep(2000); /* let the writer and the follower move on */
		if (loafre_journal_reader_open(j, c + 1, &rd) < 0)
			return 1;
		ret = loafre_journal_reader_next(rd, &r, NULL, NULL);
		if (ret == 0 && !rec_ok(&r, c + 1)) {
			fprintf(stderr, "churn: %s cleared %" PRIu64 " but first readable is %" PRIu64 "\n",
				id, c, r.index);
			return 1;
		}
		if (ret < 0 && ret != -EAGAIN) {
			fprintf(stderr, "churn: read error %d\n", ret);
			return 1;
		}
		loafre_journal_reader_close(rd);
		if (ret == 0 && loafre_journal_clear(j, id, r.index) < 0)
			return 1;
		if (loafre_journal_deregister(j, rounds % 2 ? "churn" : id) < 0) {
			fprintf(stderr, "churn: deregister failed\n");
			return 1;
		}
		rounds++;
		if (c >= TOTAL)
			break;
	}
	loafre_journal_close(j);
	printf("churn: %u register/read/clear/deregister rounds\n", rounds);
	return 0;
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
	struct loafre_journal *j;
	struct loafre_journal_info info;
	int (*roles[])(void) = {writer, follower, churn};
	const char *names[] = {"writer", "follower", "churn"};
	pid_t pids[3];
	char id[LOAFRE_CL_USER_ID_MAX];
	int fails = 0;

	snprintf(dir, sizeof(dir), "/tmp/loafre-mp-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	strcat(dir, "/j");
	if (loafre_journal_open(dir, MDT, LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, NULL, &j) < 0 ||
	    loafre_journal_register(j, "follow", NULL, id, sizeof(id)) < 0 ||
	    strcmp(id, "cl1-follow") != 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			int rc = roles[i]();

			fflush(stdout);
			_exit(rc);
		}
	}
	for (int i = 0; i < 3; i++) {
		int status;

		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "%s failed\n", names[i]);
			fails++;
		}
	}
	/* Purge happened (the follower cleared), but nothing it needed went. */
	if (loafre_journal_info(j, &info) < 0 || info.last_index != TOTAL) {
		fprintf(stderr, "final: last index wrong\n");
		fails++;
	}
	printf("journal_multiproc: first retained %" PRIu64 ", last %" PRIu64 ", %" PRIu64
	       " segments: %s\n",
	       info.first_index, info.last_index, info.segments, fails ? "FAILED" : "ok");
	loafre_journal_close(j);
	if (!fails) {
		dir[strlen(dir) - 2] = '\0';
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
	return fails ? 1 : 0;
}
