/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* test_journal.c — journal segments, commit, readers, recovery, masks. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	char *d = strdup("/tmp/loafre-test-journal-XXXXXX");

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

static char *jpath(void **state)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/j", (char *)*state);
	return buf;
}

/* Deterministic record for index i: name "f<i>", tfid oid i. */
static char name_buf[64];
static void make_rec(struct loafre_rec *r, uint64_t i, uint32_t type)
{
	memset(r, 0, sizeof(*r));
	r->index = 0;
	r->type = type;
	r->flags = LOAFRE_CLF_VERSION | LOAFRE_CLF_EXTRA_FLAGS;
	r->extra_flags = LOAFRE_CLFE_UIDGID;
	r->uid = 1000 + i;
	r->gid = 100;
	r->time = loafre_cl_time(1700000000 + i, 5);
	r->tfid = (struct loafre_fid){0x200000401ull, (uint32_t)i, 0};
	r->pfid = (struct loafre_fid){0x200000007ull, 1, 0};
	snprintf(name_buf, sizeof(name_buf), "f%llu", (unsigned long long)i);
	r->name = name_buf;
	r->namelen = (uint16_t)strlen(name_buf);
}

static struct loafre_journal *open_w(void **state, uint64_t segbytes)
{
	struct loafre_journal_options o = {.segment_bytes = segbytes};
	struct loafre_journal *j = NULL;

	assert_int_equal(loafre_journal_open(jpath(state), MDT,
					     LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &o, &j),
			 0);
	return j;
}

/* Appends records key..key+n-1 with automatic indices and commits. */
static uint64_t put(struct loafre_journal *j, uint64_t key, int n)
{
	struct loafre_rec r;
	uint64_t last = 0;

	for (int k = 0; k < n; k++) {
		make_rec(&r, key + (uint64_t)k, LOAFRE_CL_CREATE);
		assert_int_equal(loafre_journal_append(j, &r), 0);
	}
	assert_int_equal(loafre_journal_commit(j, &last), n);
	return last;
}

static void check_rec(const struct loafre_rec *r, uint64_t key)
{
	char nm[64];

	snprintf(nm, sizeof(nm), "f%llu", (unsigned long long)key);
	assert_int_equal(r->tfid.f_oid, (uint32_t)key);
	assert_int_equal(r->uid, 1000 + key);
	assert_int_equal(r->namelen, strlen(nm));
	assert_memory_equal(r->name, nm, r->namelen);
}

/* Reads everything from `start`; checks index i holds key i; returns the count. */
static uint64_t read_all(struct loafre_journal *j, uint64_t start, uint64_t first, uint64_t last)
{
	struct loafre_journal_reader *rd;
	struct loafre_rec r;
	uint64_t n = 0, expect = first;
	int ret;

	assert_int_equal(loafre_journal_reader_open(j, start, &rd), 0);
	while ((ret = loafre_journal_reader_next(rd, &r, NULL, NULL)) == 0) {
		assert_int_equal(r.index, expect);
		check_rec(&r, r.index);
		expect++;
		n++;
	}
	assert_int_equal(ret, -EAGAIN);
	assert_int_equal(expect, last + 1);
	loafre_journal_reader_close(rd);
	return n;
}

static void seg_path(void **state, uint64_t first, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%020llu.seg", jpath(state), (unsigned long long)first);
}

static off_t fsize(const char *p)
{
	struct stat sb;

	assert_int_equal(stat(p, &sb), 0);
	return sb.st_size;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_append_commit_read(void **state)
{
	struct loafre_journal *j = open_w(state, 0);
	struct loafre_journal_reader *rd;
	struct loafre_rec r;
	const void *raw;
	size_t len;
	uint64_t last = 99;

	assert_int_equal(loafre_journal_commit(j, &last), 0);
	assert_int_equal(last, 0);
	assert_string_equal(loafre_journal_mdt(j), MDT);
	make_rec(&r, 1, LOAFRE_CL_CREATE);
	assert_int_equal(loafre_journal_append(j, &r), 0);
	assert_int_equal(loafre_journal_pending(j), 1);
	assert_int_equal(loafre_journal_commit(j, &last), 1);
	assert_int_equal(last, 1);
	assert_int_equal(put(j, 2, 2), 3);
	assert_int_equal(loafre_journal_pending(j), 0);
	assert_int_equal(read_all(j, 0, 1, 3), 3);
	assert_int_equal(read_all(j, 2, 2, 3), 2);

	assert_int_equal(loafre_journal_reader_open(j, 1, &rd), 0);
	assert_int_equal(loafre_journal_reader_next(rd, &r, &raw, &len), 0);
	assert_int_equal(len, loafre_rec_size(&r));
	assert_int_equal(((const uint8_t *)raw)[8], 1); /* cr_index, little-endian */
	loafre_journal_reader_close(rd);
	loafre_journal_close(j);

	/* Reopen read-only: still there. */
	assert_int_equal(loafre_journal_open(jpath(state), MDT, 0, NULL, &j), 0);
	assert_int_equal(read_all(j, 0, 1, 3), 3);
	assert_int_equal(loafre_journal_append(j, &r), -EBADF);
	loafre_journal_close(j);
}

static void test_explicit_indices(void **state)
{
	struct loafre_journal *j = open_w(state, 0);
	struct loafre_journal_reader *rd;
	struct loafre_journal_info info;
	struct loafre_rec r;
	uint64_t last = 0, want[] = {5, 6, 10, 11};

	make_rec(&r, 5, LOAFRE_CL_CREATE);
	r.index = 5;
	assert_int_equal(loafre_journal_append(j, &r), 0);
	make_rec(&r, 6, LOAFRE_CL_CREATE); /* index 0: becomes 6 */
	assert_int_equal(loafre_journal_append(j, &r), 0);
	make_rec(&r, 10, LOAFRE_CL_CREATE);
	r.index = 10;
	assert_int_equal(loafre_journal_append(j, &r), 0);
	assert_int_equal(loafre_journal_commit(j, &last), 3);
	assert_int_equal(last, 10);

	/* Not increasing: -ERANGE, nothing written, queue kept. */
	make_rec(&r, 11, LOAFRE_CL_CREATE);
	assert_int_equal(loafre_journal_append(j, &r), 0); /* auto: 11 */
	make_rec(&r, 11, LOAFRE_CL_CREATE);
	r.index = 11;
	assert_int_equal(loafre_journal_append(j, &r), 0); /* explicit 11: not > 11 */
	assert_int_equal(loafre_journal_commit(j, &last), -ERANGE);
	assert_int_equal(loafre_journal_pending(j), 2);
	assert_int_equal(loafre_journal_info(j, &info), 0);
	assert_int_equal(info.last_index, 10);
	loafre_journal_close(j); /* drops the queue */

	j = open_w(state, 0);
	make_rec(&r, 10, LOAFRE_CL_CREATE);
	r.index = 10;
	assert_int_equal(loafre_journal_append(j, &r), 0);
	assert_int_equal(loafre_journal_commit(j, &last), -ERANGE);
	loafre_journal_close(j);
	j = open_w(state, 0);
	assert_int_equal(put(j, 11, 1), 11);

	assert_int_equal(loafre_journal_reader_open(j, 0, &rd), 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(loafre_journal_reader_next(rd, &r, NULL, NULL), 0);
		assert_int_equal(r.index, want[i]);
		check_rec(&r, want[i]);
	}
	assert_int_equal(loafre_journal_reader_next(rd, &r, NULL, NULL), -EAGAIN);
	loafre_journal_reader_close(rd);
	/* Start inside a gap. */
	assert_int_equal(loafre_journal_reader_open(j, 7, &rd), 0);
	assert_int_equal(loafre_journal_reader_next(rd, &r, NULL, NULL), 0);
	assert_int_equal(r.index, 10);
	loafre_journal_reader_close(rd);
	loafre_journal_close(j);
}

static void test_rotation(void **state)
{
	struct loafre_journal *j = open_w(state, 1024);
	struct loafre_journal_info info;

	for (int i = 0; i < 20; i++)
		put(j, (uint64_t)i * 10 + 1, 10);
	assert_int_equal(loafre_journal_info(j, &info), 0);
	assert_int_equal(info.last_index, 200);
	assert_int_equal(info.first_index, 1);
	assert_true(info.segments > 10);
	assert_int_equal(read_all(j, 0, 1, 200), 200);
	assert_int_equal(read_all(j, 123, 123, 200), 78);
	/* One big commit spanning many segments. */
	put(j, 201, 100);
	assert_int_equal(read_all(j, 150, 150, 300), 151);
	loafre_journal_close(j);
}

static void test_follow(void **state)
{
	struct loafre_journal *w = open_w(state, 2048), *rj;
	struct loafre_journal_reader *rd;
	struct loafre_rec r;
	uint64_t next = 1;

	assert_int_equal(loafre_journal_open(jpath(state), MDT, 0, NULL, &rj), 0);
	assert_int_equal(loafre_journal_reader_open(rj, 0, &rd), 0);
	assert_true(loafre_journal_reader_fd(rd) >= 0);
	assert_int_equal(loafre_journal_reader_next(rd, &r, NULL, NULL), -EAGAIN);
	assert_int_equal(loafre_journal_reader_rearm(rd), 0);
	assert_int_equal(loafre_journal_reader_wait(rd, 20), 0);
	for (int round = 0; round < 30; round++) {
		/* Queued but uncommitted records are invisible. */
		struct loafre_rec q;

		make_rec(&q, next, LOAFRE_CL_CREATE);
		assert_int_equal(loafre_journal_append(w, &q), 0);
		assert_int_equal(loafre_journal_reader_next(rd, &r, NULL, NULL), -EAGAIN);
		assert_int_equal(loafre_journal_commit(w, NULL), 1);
		put(w, next + 1, 4);
		assert_int_equal(loafre_journal_reader_wait(rd, 2000), 1);
		for (int k = 0; k < 5; k++) {
			assert_int_equal(loafre_journal_reader_next(rd, &r, NULL, NULL), 0);
			assert_int_equal(r.index, next);
			check_rec(&r, next);
			next++;
		}
		assert_int_equal(loafre_journal_reader_next(rd, &r, NULL, NULL), -EAGAIN);
		assert_int_equal(loafre_journal_reader_rearm(rd), 0);
		assert_int_equal(loafre_journal_reader_wait(rd, 0), 0);
	}
	loafre_journal_reader_close(rd);
	loafre_journal_close(rj);
	loafre_journal_close(w);
}

/* Copies the state file (to restore it later: a stale state). */
static void state_save(void **state, unsigned char *buf)
{
	char p[600];
	int fd;

	snprintf(p, sizeof(p), "%s/state", jpath(state));
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, 64, 0), 64);
	close(fd);
}

static void state_restore(void **state, const unsigned char *buf)
{
	char p[600];
	int fd;

	snprintf(p, sizeof(p), "%s/state", jpath(state));
	fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, 64, 0), 64);
	close(fd);
}

static void append_bytes(const char *p, const void *b, size_t n)
{
	int fd = open(p, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

static void flip_byte(const char *p, off_t off)
{
	unsigned char c;
	int fd = open(p, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* Stale state: frames written by a writer that "died" before its state
 * update are adopted; a torn last frame is dropped. */
static void test_recovery_stale_state(void **state)
{
	struct loafre_journal *j = open_w(state, 0);
	unsigned char st[64];
	char seg[600];
	off_t sz;

	put(j, 1, 10);
	state_save(state, st);
	put(j, 11, 5);
	loafre_journal_close(j);
	state_restore(state, st); /* as if the 2nd commit's state update was lost */

	j = open_w(state, 0);
	assert_int_equal(put(j, 16, 1), 16); /* recovery kept 11..15 */
	assert_int_equal(read_all(j, 0, 1, 16), 16);
	loafre_journal_close(j);

	/* Now a torn tail beyond the stale state: cut record 20 mid-frame. */
	j = open_w(state, 0);
	state_save(state, st);
	put(j, 17, 4); /* 17..20 */
	loafre_journal_close(j);
	state_restore(state, st);
	seg_path(state, 1, seg, sizeof(seg));
	sz = fsize(seg);
	assert_int_equal(truncate(seg, sz - 20), 0);
	j = open_w(state, 0);
	assert_int_equal(put(j, 20, 1), 20); /* 17..19 kept, 20 rewritten */
	assert_int_equal(read_all(j, 0, 1, 20), 20);
	assert_int_equal(fsize(seg), sz);
	loafre_journal_close(j);
}

static void test_recovery_torn_tail(void **state)
{
	struct loafre_journal *j = open_w(state, 0);
	unsigned char st[64], junk[300];
	char seg[600];
	off_t sz;

	put(j, 1, 10);
	loafre_journal_close(j);
	seg_path(state, 1, seg, sizeof(seg));
	sz = fsize(seg);

	/* Garbage after the committed end. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	append_bytes(seg, junk, sizeof(junk));
	j = open_w(state, 0);
	{
		struct loafre_journal_reader *rd; /* readers ignore it already */
		struct loafre_rec r;
		int n = 0;

		assert_int_equal(loafre_journal_reader_open(j, 0, &rd), 0);
		while (loafre_journal_reader_next(rd, &r, NULL, NULL) == 0)
			n++;
		assert_int_equal(n, 10);
		loafre_journal_reader_close(rd);
	}
	assert_int_equal(put(j, 11, 1), 11);
	assert_int_equal(read_all(j, 0, 1, 11), 11);
	loafre_journal_close(j);

	/* A complete frame with one flipped byte past the state. */
	j = open_w(state, 0);
	state_save(state, st);
	sz = fsize(seg);
	put(j, 12, 2);
	loafre_journal_close(j);
	state_restore(state, st);
	flip_byte(seg, fsize(seg) - 30); /* inside record 13 */
	j = open_w(state, 0);
	assert_int_equal(put(j, 13, 1), 13); /* 12 kept, bad 13 dropped */
	assert_int_equal(read_all(j, 0, 1, 13), 13);
	loafre_journal_close(j);
	(void)sz;

	/* Partial frame: only 8 bytes of header. */
	sz = fsize(seg);
	append_bytes(seg, "\x70\0\0\0abcd", 8);
	j = open_w(state, 0);
	assert_int_equal(put(j, 14, 1), 14);
	assert_int_equal(read_all(j, 0, 1, 14), 14);
	loafre_journal_close(j);
}

/* Invalid state (checksum): rebuilt from the last segment. */
static void test_recovery_bad_state(void **state)
{
	struct loafre_journal *j = open_w(state, 700);
	char p[600];

	put(j, 1, 30);
	loafre_journal_close(j);
	snprintf(p, sizeof(p), "%s/state", jpath(state));
	flip_byte(p, 20);
	j = open_w(state, 700);
	assert_int_equal(put(j, 31, 1), 31);
	assert_int_equal(read_all(j, 0, 1, 31), 31);
	loafre_journal_close(j);
	/* Lost entirely. */
	assert_int_equal(truncate(p, 0), 0);
	j = open_w(state, 700);
	assert_int_equal(put(j, 32, 1), 32);
	assert_int_equal(read_all(j, 0, 1, 32), 32);
	loafre_journal_close(j);
}

/* An orphan segment newer than the active one (writer died rotating). */
static void test_recovery_orphan_segment(void **state)
{
	struct loafre_journal *j = open_w(state, 0);
	char seg[600];
	int fd;

	put(j, 1, 5);
	loafre_journal_close(j);
	seg_path(state, 6, seg, sizeof(seg));
	fd = open(seg, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "LFRJSEG1junk", 12), 12);
	close(fd);
	j = open_w(state, 0);
	assert_int_equal(put(j, 6, 2), 7);
	assert_int_equal(read_all(j, 0, 1, 7), 7);
	loafre_journal_close(j);
}

static void test_corrupt_sealed(void **state)
{
	struct loafre_journal *j = open_w(state, 1024);
	struct loafre_journal_reader *rd;
	struct loafre_rec r;
	char seg[600];
	int ret, n = 0;

	put(j, 1, 40);
	seg_path(state, 1, seg, sizeof(seg));
	flip_byte(seg, 32 + 8 + 40); /* inside record 1 */
	assert_int_equal(loafre_journal_reader_open(j, 0, &rd), 0);
	ret = loafre_journal_reader_next(rd, &r, NULL, NULL);
	assert_int_equal(ret, -EIO);
	loafre_journal_reader_close(rd);
	/* Corrupt committed frame in the middle. */
	flip_byte(seg, 32 + 8 + 40);
	flip_byte(seg, fsize(seg) - 20);
	assert_int_equal(loafre_journal_reader_open(j, 0, &rd), 0);
	while ((ret = loafre_journal_reader_next(rd, &r, NULL, NULL)) == 0)
		n++;
	assert_int_equal(ret, -EIO);
	assert_true(n > 0 && n < 40);
	loafre_journal_reader_close(rd);
	/* The writer never truncates a sealed segment. */
	put(j, 41, 1);
	assert_int_equal(loafre_journal_reader_open(j, 0, &rd), 0);
	n = 0;
	while ((ret = loafre_journal_reader_next(rd, &r, NULL, NULL)) == 0)
		n++;
	assert_int_equal(ret, -EIO);
	loafre_journal_reader_close(rd);
	loafre_journal_close(j);
}

static void test_mask(void **state)
{
	struct loafre_journal_options o = {.mask = (1u << LOAFRE_CL_MARK) | (1u << LOAFRE_CL_UNLINK)};
	struct loafre_journal *j;
	struct loafre_journal_info info;
	struct loafre_rec r;

	assert_int_equal(loafre_journal_open(jpath(state), MDT,
					     LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &o, &j),
			 0);
	make_rec(&r, 1, LOAFRE_CL_CREATE);
	assert_int_equal(loafre_journal_append(j, &r), 1);
	make_rec(&r, 1, LOAFRE_CL_UNLINK);
	assert_int_equal(loafre_journal_append(j, &r), 0);
	make_rec(&r, 2, 40);
	assert_int_equal(loafre_journal_append(j, &r), 1);
	assert_int_equal(loafre_journal_commit(j, NULL), 1);
	assert_int_equal(loafre_journal_info(j, &info), 0);
	assert_int_equal(info.mask, o.mask);
	loafre_journal_close(j);

	/* Default mask: OPEN, ATIME, GXATR, NOPEN dropped. */
	assert_int_equal(loafre_journal_open(jpath(state), MDT, LOAFRE_JOURNAL_WRITE, NULL, &j), 0);
	make_rec(&r, 2, LOAFRE_CL_OPEN);
	assert_int_equal(loafre_journal_append(j, &r), 1);
	make_rec(&r, 2, LOAFRE_CL_ATIME);
	assert_int_equal(loafre_journal_append(j, &r), 1);
	make_rec(&r, 2, LOAFRE_CL_CREATE);
	assert_int_equal(loafre_journal_append(j, &r), 0);
	assert_int_equal(loafre_journal_info(j, &info), 0);
	assert_int_equal(info.mask, loafre_cl_mask_default());
	loafre_journal_close(j);
}

static void test_info(void **state)
{
	struct loafre_journal *j = open_w(state, 1024);
	struct loafre_journal_info info;

	assert_int_equal(loafre_journal_info(j, &info), 0);
	assert_int_equal(info.first_index, 0);
	assert_int_equal(info.last_index, 0);
	assert_int_equal(info.segments, 0);
	assert_int_equal(info.bytes, 0);
	put(j, 1, 50);
	assert_int_equal(loafre_journal_info(j, &info), 0);
	assert_int_equal(info.first_index, 1);
	assert_int_equal(info.last_index, 50);
	assert_true(info.segments >= 5);
	assert_true(info.bytes > 50 * 100);
	loafre_journal_close(j);
}

static void test_open_errors(void **state)
{
	struct loafre_journal *j = NULL;
	char p[600];
	FILE *f;

	assert_int_equal(loafre_journal_open(jpath(state), MDT, 0, NULL, &j), -ENOENT);
	assert_null(j);
	j = open_w(state, 0);
	loafre_journal_close(j);
	assert_int_equal(loafre_journal_open(jpath(state), "other-MDT0001", LOAFRE_JOURNAL_CREATE,
					     NULL, &j),
			 -EXDEV);
	assert_int_equal(loafre_journal_open(jpath(state), MDT, 0, NULL, &j), 0);
	loafre_journal_close(j);

	/* A directory with unrelated content is not claimed. */
	snprintf(p, sizeof(p), "%s/notj", (char *)*state);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/notj/file", (char *)*state);
	f = fopen(p, "w");
	fclose(f);
	snprintf(p, sizeof(p), "%s/notj", (char *)*state);
	assert_int_equal(loafre_journal_open(p, MDT, LOAFRE_JOURNAL_CREATE, NULL, &j), -EBADMSG);
	assert_int_equal(loafre_journal_open(p, MDT, 0, NULL, &j), -EBADMSG);
	/* Garbage meta. */
	snprintf(p, sizeof(p), "%s/notj/meta", (char *)*state);
	f = fopen(p, "w");
	fputs("something else\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/notj", (char *)*state);
	assert_int_equal(loafre_journal_open(p, MDT, 0, NULL, &j), -EBADMSG);
	assert_int_equal(loafre_journal_open(jpath(state), "", 0, NULL, &j), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
		T(test_append_commit_read),
		T(test_explicit_indices),
		T(test_rotation),
		T(test_follow),
		T(test_recovery_stale_state),
		T(test_recovery_torn_tail),
		T(test_recovery_bad_state),
		T(test_recovery_orphan_segment),
		T(test_corrupt_sealed),
		T(test_mask),
		T(test_info),
		T(test_open_errors),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
