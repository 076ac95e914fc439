/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* test_journal_users.c — readers: register, clear, deregister, purge, GC,
 * masks and the changelog_users table. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loafre/journal.h"

#define MDT "test-MDT0000"

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup_dir(void **state)
{
	char *d = strdup("/tmp/loafre-test-jusers-XXXXXX");

	if (!mkdtemp(d))
		return -1;
	*state = d;
	return 0;
}

static int teardown_dir(void **state)
{
	nftw(*state, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static struct loafre_journal *open_j(void **state, const struct loafre_journal_options *o)
{
	struct loafre_journal *j = NULL;

	assert_int_equal(loafre_journal_open((char *)*state, MDT,
					     LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, o, &j),
			 0);
	return j;
}

static void put(struct loafre_journal *j, int n, uint32_t type)
{
	struct loafre_rec r = {0};

	r.type = type;
	r.flags = LOAFRE_CLF_VERSION;
	r.name = "some-file-name";
	r.namelen = 14;
	for (int i = 0; i < n; i++) {
		r.tfid.f_oid = (uint32_t)i;
		assert_int_equal(loafre_journal_append(j, &r), 0);
	}
	assert_int_equal(loafre_journal_commit(j, NULL), n);
}

static uint64_t first_readable(struct loafre_journal *j, uint64_t start)
{
	struct loafre_journal_reader *rd;
	struct loafre_rec r;
	uint64_t first = 0;
	int ret;

	assert_int_equal(loafre_journal_reader_open(j, start, &rd), 0);
	ret = loafre_journal_reader_next(rd, &r, NULL, NULL);
	if (ret == 0)
		first = r.index;
	else
		assert_int_equal(ret, -EAGAIN);
	loafre_journal_reader_close(rd);
	return first;
}

static void test_register(void **state)
{
	struct loafre_journal *j = open_j(state, NULL);
	struct loafre_cl_user *u;
	char id[LOAFRE_CL_USER_ID_MAX], small[8];
	uint32_t m = 0x3;
	size_t n;

	assert_int_equal(loafre_journal_register(j, NULL, NULL, id, sizeof(id)), 0);
	assert_string_equal(id, "cl1");
	assert_int_equal(loafre_journal_register(j, "monitor", &m, id, sizeof(id)), 0);
	assert_string_equal(id, "cl2-monitor");
	assert_int_equal(loafre_journal_register(j, "monitor", NULL, id, sizeof(id)), -EEXIST);
	assert_int_equal(loafre_journal_register(j, "1abc", NULL, id, sizeof(id)), -EINVAL);
	assert_int_equal(loafre_journal_register(j, "_abc", NULL, id, sizeof(id)), -EINVAL);
	assert_int_equal(loafre_journal_register(j, "a b", NULL, id, sizeof(id)), -EINVAL);
	assert_int_equal(loafre_journal_register(j, "a.b", NULL, id, sizeof(id)), -EINVAL);
	assert_int_equal(loafre_journal_register(j, "", NULL, id, sizeof(id)), -EINVAL);
	assert_int_equal(loafre_journal_register(j, "abcdefghijklmnop", NULL, id, sizeof(id)),
			 -ENAMETOOLONG);
	assert_int_equal(loafre_journal_register(j, NULL, NULL, small, sizeof(small)), -EINVAL);
	assert_int_equal(loafre_journal_register(j, "abcdefghijklmno", NULL, id, sizeof(id)), 0);
	assert_string_equal(id, "cl3-abcdefghijklmno");
	assert_int_equal(loafre_journal_register(j, "A_b-9", NULL, id, sizeof(id)), 0);
	assert_string_equal(id, "cl4-A_b-9");

	/* Numbers are never reused. */
	assert_int_equal(loafre_journal_deregister(j, "cl4"), 0);
	assert_int_equal(loafre_journal_deregister(j, "cl4"), -ENOENT);
	assert_int_equal(loafre_journal_deregister(j, "monitor"), 0); /* by name */
	assert_int_equal(loafre_journal_deregister(j, "nosuch"), -ENOENT);
	assert_int_equal(loafre_journal_deregister(j, "cl3-whatever"), 0); /* number counts */
	assert_int_equal(loafre_journal_register(j, "monitor", NULL, id, sizeof(id)), 0);
	assert_string_equal(id, "cl5-monitor");

	assert_int_equal(loafre_journal_users(j, &u, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(u[0].id, "cl1");
	assert_int_equal(u[0].num, 1);
	assert_false(u[0].has_mask);
	assert_string_equal(u[1].id, "cl5-monitor");
	assert_int_equal(u[1].num, 5);
	free(u);
	loafre_journal_close(j);

	/* Persisted: another handle sees it. */
	j = open_j(state, NULL);
	assert_int_equal(loafre_journal_users(j, &u, &n), 0);
	assert_int_equal(n, 2);
	free(u);
	loafre_journal_close(j);
}

static uint64_t cleared_of(struct loafre_journal *j, uint32_t num)
{
	struct loafre_cl_user *u;
	uint64_t c = UINT64_MAX;
	size_t n;

	assert_int_equal(loafre_journal_users(j, &u, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (u[i].num == num)
			c = u[i].cleared;
	free(u);
	return c;
}

static void test_clear_semantics(void **state)
{
	struct loafre_journal *j = open_j(state, NULL);
	char id[LOAFRE_CL_USER_ID_MAX];

	put(j, 3, LOAFRE_CL_CREATE);
	assert_int_equal(loafre_journal_register(j, "foo", NULL, id, sizeof(id)), 0);
	assert_int_equal(cleared_of(j, 1), 3); /* new reader starts at the current index */
	assert_int_equal(loafre_journal_register(j, NULL, NULL, id, sizeof(id)), 0);
	put(j, 7, LOAFRE_CL_CREATE); /* last = 10 */

	/* endrec beyond the current index: -EINVAL, before the user lookup. */
	assert_int_equal(loafre_journal_clear(j, "cl1", 11), -EINVAL);
	assert_int_equal(loafre_journal_clear(j, "cl99", 11), -EINVAL);
	/* unknown reader */
	assert_int_equal(loafre_journal_clear(j, "cl99", 5), -ENOENT);
	assert_int_equal(loafre_journal_clear(j, "cl0", 5), -ENOENT);
	/* malformed ids */
	assert_int_equal(loafre_journal_clear(j, "foo", 5), -EINVAL);
	assert_int_equal(loafre_journal_clear(j, "cl", 5), -EINVAL);
	assert_int_equal(loafre_journal_clear(j, "cl1x", 5), -EINVAL);
	assert_int_equal(loafre_journal_clear(j, "1", 5), -EINVAL);
	/* below the reader's cleared index (3) */
	assert_int_equal(loafre_journal_clear(j, "cl1", 2), -EINVAL);
	assert_int_equal(cleared_of(j, 1), 3);
	/* equal is fine; the name part does not matter */
	assert_int_equal(loafre_journal_clear(j, "cl1", 3), 0);
	assert_int_equal(loafre_journal_clear(j, "cl1-anything", 5), 0);
	assert_int_equal(cleared_of(j, 1), 5);
	assert_int_equal(loafre_journal_clear(j, "cl1-foo", 4), -EINVAL);
	/* 0 means the current index */
	assert_int_equal(loafre_journal_clear(j, "cl1", 0), 0);
	assert_int_equal(cleared_of(j, 1), 10);
	assert_int_equal(loafre_journal_clear(j, "cl1", 10), 0);
	/* cl2 holds records back: nothing purged beyond its 3 */
	assert_int_equal(first_readable(j, 0), 4);
	assert_int_equal(loafre_journal_clear(j, "cl2", 8), 0);
	assert_int_equal(first_readable(j, 0), 9);
	loafre_journal_close(j);
}

/* A reader registered "from" an earlier point holds those records back. */
static void test_register_from(void **state)
{
	struct loafre_journal *j = open_j(state, NULL);
	char id[LOAFRE_CL_USER_ID_MAX];

	put(j, 10, LOAFRE_CL_CREATE);
	assert_int_equal(loafre_journal_register(j, "a", NULL, id, sizeof(id)), 0); /* cl1 at 10 */
	assert_int_equal(loafre_journal_register_from(j, "b", NULL, 0, id, sizeof(id)), 0);
	assert_string_equal(id, "cl2-b");
	assert_int_equal(cleared_of(j, 2), 0); /* oldest: nothing purged yet */
	assert_int_equal(loafre_journal_register_from(j, "c", NULL, 4, id, sizeof(id)), 0);
	assert_int_equal(cleared_of(j, 3), 4);
	assert_int_equal(loafre_journal_register_from(j, "d", NULL, LOAFRE_JOURNAL_FROM_CURRENT, id,
						     sizeof(id)),
			 0);
	assert_int_equal(cleared_of(j, 4), 10);
	assert_int_equal(loafre_journal_register_from(j, "e", NULL, 11, id, sizeof(id)), -EINVAL);
	/* cl1's clear to the end purges nothing b still needs */
	assert_int_equal(loafre_journal_clear(j, "cl1", 0), 0);
	assert_int_equal(first_readable(j, 0), 1);
	assert_int_equal(loafre_journal_deregister(j, "cl2"), 0);
	assert_int_equal(first_readable(j, 0), 5); /* c holds 5.. */
	/* "oldest" after a purge starts at the purge point */
	assert_int_equal(loafre_journal_register_from(j, "f", NULL, 0, id, sizeof(id)), 0);
	assert_int_equal(cleared_of(j, 5), 4);
	loafre_journal_close(j);
}

static int count_segments(struct loafre_journal *j)
{
	struct loafre_journal_info info;

	assert_int_equal(loafre_journal_info(j, &info), 0);
	return (int)info.segments;
}

static void test_purge(void **state)
{
	struct loafre_journal_options o = {.segment_bytes = 1024};
	struct loafre_journal *j = open_j(state, &o), *rj;
	struct loafre_journal_reader *old;
	struct loafre_journal_info info;
	struct loafre_rec r;
	char id[LOAFRE_CL_USER_ID_MAX];
	int nseg, n2;

	/* Without readers nothing is purged. */
	put(j, 100, LOAFRE_CL_CREATE);
	nseg = count_segments(j);
	assert_true(nseg > 8);
	assert_int_equal(loafre_journal_register(j, "a", NULL, id, sizeof(id)), 0); /* at 100 */
	assert_int_equal(loafre_journal_register(j, "b", NULL, id, sizeof(id)), 0);
	assert_int_equal(count_segments(j), nseg);
	assert_int_equal(first_readable(j, 0), 1); /* history kept for late readers */
	put(j, 100, LOAFRE_CL_CREATE); /* 101..200 */
	nseg = count_segments(j);

	/* An old reader positioned at 1, holding its segment open. */
	assert_int_equal(loafre_journal_open((char *)*state, MDT, 0, NULL, &rj), 0);
	assert_int_equal(loafre_journal_reader_open(rj, 0, &old), 0);
	assert_int_equal(loafre_journal_reader_next(old, &r, NULL, NULL), 0);
	assert_int_equal(r.index, 1);

	/* a clears everything; b still at 100: only segments <= 100 may go. */
	assert_int_equal(loafre_journal_clear(j, "cl1", 200), 0);
	n2 = count_segments(j);
	assert_true(n2 < nseg);
	assert_int_equal(first_readable(j, 0), 101);
	assert_int_equal(first_readable(j, 150), 150);
	assert_int_equal(loafre_journal_info(j, &info), 0);
	assert_int_equal(info.first_index, 101);
	/* Reader b can still read from its cleared index + 1. */
	assert_int_equal(first_readable(j, 101), 101);
	/* The old reader finishes what it buffered at most, then skips the
	 * purged records and continues at 101. */
	{
		uint64_t prev = 1;
		int k = 0;

		do {
			assert_int_equal(loafre_journal_reader_next(old, &r, NULL, NULL), 0);
			assert_true(r.index == prev + 1 || r.index == 101);
			prev = r.index;
		} while (r.index < 101 && ++k < 100);
		assert_int_equal(r.index, 101);
		assert_true(k < 20);
	}
	loafre_journal_reader_close(old);

	/* b clears to 150: the segment holding 151 stays. */
	assert_int_equal(loafre_journal_clear(j, "cl2", 150), 0);
	assert_true(count_segments(j) < n2);
	assert_int_equal(first_readable(j, 0), 151);
	/* Whole segments only: some record <= 150 is still on disk. */
	assert_int_equal(loafre_journal_info(j, &info), 0);
	assert_int_equal(info.first_index, 151);

	/* Deregistering a leaves b at 150: nothing more. */
	assert_int_equal(loafre_journal_deregister(j, "a"), 0);
	assert_int_equal(first_readable(j, 0), 151);
	/* The last reader goes: everything purged, as in Lustre. */
	assert_int_equal(loafre_journal_deregister(j, "cl2"), 0);
	assert_int_equal(first_readable(j, 0), 0);
	assert_int_equal(loafre_journal_info(j, &info), 0);
	assert_int_equal(info.first_index, 0);
	assert_int_equal(info.last_index, 200);
	assert_int_equal(count_segments(j), 1); /* the active one stays */
	put(j, 5, LOAFRE_CL_CREATE);
	assert_int_equal(first_readable(j, 0), 201);
	loafre_journal_close(rj);
	loafre_journal_close(j);

	/* Purge survives the loss of the state file. */
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/state", (char *)*state);
		assert_int_equal(truncate(p, 0), 0);
		j = open_j(state, &o);
		put(j, 1, LOAFRE_CL_CREATE);
		assert_int_equal(first_readable(j, 0), 201);
		loafre_journal_close(j);
	}
}

/* Registers both readers within one wall-clock second. */
static void sync_second(void)
{
	time_t t = time(NULL);

	while (time(NULL) == t)
		usleep(1000);
}

static char *print_users(struct loafre_journal *j, time_t now)
{
	static char buf[4096];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	assert_non_null(f);
	assert_int_equal(loafre_journal_users_print(j, f, now), 0);
	fclose(f);
	return buf;
}

static void test_users_print(void **state)
{
	struct loafre_journal *j = open_j(state, NULL);
	struct loafre_cl_user *u;
	char id[LOAFRE_CL_USER_ID_MAX];
	uint32_t m = (1u << LOAFRE_CL_MARK) | (1u << LOAFRE_CL_CREATE) | (1u << LOAFRE_CL_UNLINK);
	size_t n;
	time_t t0;

	assert_string_equal(print_users(j, 0), "current_index: 0\n"
					       "ID                            index (idle) mask\n");
	sync_second();
	assert_int_equal(loafre_journal_register(j, NULL, NULL, id, sizeof(id)), 0);
	put(j, 12, LOAFRE_CL_CREATE);
	assert_int_equal(loafre_journal_register(j, "mon", &m, id, sizeof(id)), 0);
	assert_int_equal(loafre_journal_users(j, &u, &n), 0);
	assert_int_equal(n, 2);
	t0 = (time_t)u[0].last_time;
	assert_int_equal(u[1].last_time, u[0].last_time);
	free(u);
	assert_string_equal(print_users(j, t0 + 5),
			    "current_index: 12\n"
			    "ID                            index (idle) mask\n"
			    "cl1                               0 (5)\n"
			    "cl2-mon                          12 (5) mask=MARK,CREAT,UNLNK\n");
	/* A reader with an empty mask shows no mask. */
	m = 0;
	assert_int_equal(loafre_journal_register(j, "zero", &m, id, sizeof(id)), 0);
	assert_int_equal(loafre_journal_deregister(j, "cl1"), 0);
	assert_int_equal(loafre_journal_deregister(j, "cl2"), 0);
	assert_int_equal(loafre_journal_users(j, &u, &n), 0);
	t0 = (time_t)u[0].last_time;
	free(u);
	assert_string_equal(print_users(j, t0 + 1234567),
			    "current_index: 12\n"
			    "ID                            index (idle) mask\n"
			    "cl3-zero                         12 (1234567)\n");
	loafre_journal_close(j);
}

static void test_masks_widen(void **state)
{
	struct loafre_journal *w = open_j(state, NULL), *other;
	struct loafre_journal_info info;
	struct loafre_rec r = {0};
	char id[LOAFRE_CL_USER_ID_MAX];
	uint32_t m = (1u << LOAFRE_CL_MARK) | (1u << LOAFRE_CL_OPEN);

	r.type = LOAFRE_CL_OPEN;
	r.flags = LOAFRE_CLF_VERSION;
	assert_int_equal(loafre_journal_append(w, &r), 1);
	/* Another process registers a reader wanting OPEN. */
	assert_int_equal(loafre_journal_open((char *)*state, MDT, 0, NULL, &other), 0);
	assert_int_equal(loafre_journal_register(other, "opens", &m, id, sizeof(id)), 0);
	assert_int_equal(loafre_journal_info(other, &info), 0);
	assert_int_equal(info.mask, loafre_cl_mask_default() | m);
	/* The writer picks it up at its next commit. */
	assert_int_equal(loafre_journal_commit(w, NULL), 0);
	assert_int_equal(loafre_journal_append(w, &r), 0);
	assert_int_equal(loafre_journal_commit(w, NULL), 1);
	/* Deregistered: narrow again. */
	assert_int_equal(loafre_journal_deregister(other, "opens"), 0);
	assert_int_equal(loafre_journal_commit(w, NULL), 0);
	assert_int_equal(loafre_journal_append(w, &r), 1);
	loafre_journal_close(other);
	loafre_journal_close(w);
}

static void test_gc(void **state)
{
	struct loafre_journal_options oi = {.gc_max_idle_indexes = 5};
	struct loafre_journal_options ot = {.gc_max_idle_time = 100};
	struct loafre_journal *j = open_j(state, &oi), *jt, *joff;
	struct loafre_cl_user *u;
	char id[LOAFRE_CL_USER_ID_MAX];
	time_t now = time(NULL);
	size_t n;

	assert_int_equal(loafre_journal_register(j, "keep", NULL, id, sizeof(id)), 0);
	assert_int_equal(loafre_journal_register(j, "lag", NULL, id, sizeof(id)), 0);
	put(j, 5, LOAFRE_CL_CREATE);
	assert_int_equal(loafre_journal_gc(j, now), 0); /* lag == 5: not more than 5 */
	put(j, 1, LOAFRE_CL_CREATE);
	assert_int_equal(loafre_journal_clear(j, "cl1", 0), 0);
	assert_int_equal(loafre_journal_gc(j, now), 1);
	assert_int_equal(loafre_journal_users(j, &u, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(u[0].id, "cl1-keep");
	free(u);

	/* GC off: nothing happens. */
	assert_int_equal(loafre_journal_open((char *)*state, MDT, 0, NULL, &joff), 0);
	assert_int_equal(loafre_journal_gc(joff, now + 1000000), 0);
	loafre_journal_close(joff);

	/* By idle time. */
	assert_int_equal(loafre_journal_open((char *)*state, MDT, 0, &ot, &jt), 0);
	assert_int_equal(loafre_journal_gc(jt, now + 50), 0);
	assert_int_equal(loafre_journal_gc(jt, now + 200), 1);
	assert_int_equal(loafre_journal_users(jt, &u, &n), 0);
	assert_int_equal(n, 0);
	free(u);
	/* It was the last: everything purged. */
	assert_int_equal(first_readable(jt, 0), 0);
	loafre_journal_close(jt);
	loafre_journal_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
		T(test_register),
		T(test_clear_semantics),
		T(test_register_from),
		T(test_purge),
		T(test_users_print),
		T(test_masks_widen),
		T(test_gc),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
