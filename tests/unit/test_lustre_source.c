/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_lustre_source.c — contract tests of lib/lustre_source.c (the real
 * adapter) against tests/fake_lustreapi: start flags, every record into the
 * mirror journal byte for byte, EOF and error reopen without gap or
 * duplicate, batched clears never past the durable point, restart, unknown
 * user, duplicate delivery, non-blocking reads, fid2path.
 * Registered in tests/fake_lustreapi/meson.build.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_lustreapi.h"
#include "loafre/journal.h"
#include "loafre/record.h"
#include "loafre/text.h"
#include "lustre_source.h"

#define MDT "lustre-MDT0000"
#define MAXREC 8192
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct ctx {
	char dir[64];        /* temp directory */
	char fixture[128];   /* LOAFRE_FAKE_LLAPI_FIXTURE */
	char grow[128];      /* LOAFRE_FAKE_LLAPI_GROW */
	char clears[128];    /* LOAFRE_FAKE_LLAPI_CLEARS */
	char log[128];       /* LOAFRE_FAKE_LLAPI_LOG */
	char jdir[128];      /* the mirror journal */
	struct loafre_journal *j;
	struct loafre__lustre_src *s;
};

/* ---- helpers ------------------------------------------------------------ */

static char *golden[128]; /* the golden corpus' lines, without '\n' */
static size_t ngolden;

static void load_golden(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;

	if (ngolden)
		return;
	f = fopen(TEST_DATA_DIR "/golden.changelog", "re");
	assert_non_null(f);
	while ((len = getline(&line, &cap, f)) >= 0 && ngolden < ARRAY_SIZE(golden)) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0)
			continue;
		golden[ngolden++] = strdup(line);
	}
	free(line);
	fclose(f);
	assert_true(ngolden > 50);
}

static bool in_mask(const char *line)
{
	struct loafre_rec rec;
	assert_int_equal(loafre_text_parse(line, strlen(line), &rec, NULL), 0);
	return rec.type < LOAFRE_CL_LAST;
}

/* The golden line g with its index replaced by `index`, into buf. */
static void renumber(const char *g, uint64_t index, char *buf, size_t cap)
{
	const char *rest = strchr(g, ' ');
	assert_non_null(rest);
	snprintf(buf, cap, "%llu%s", (unsigned long long)index, rest);
}

/* Writes records first..first+count-1 cycling through the golden corpus
 * (only its known types when `known_only`). */
static void write_fixture(const char *path, uint64_t first, size_t count, bool known_only)
{
	char buf[LOAFRE_TEXT_LINE_MAX];
	FILE *f = fopen(path, "we");
	size_t gi = 0;

	load_golden();
	assert_non_null(f);
	for (size_t i = 0; i < count; gi++) {
		const char *g = golden[gi % ngolden];
		if (known_only && !in_mask(g))
			continue;
		renumber(g, first + i, buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
		i++;
	}
	fclose(f);
}

/* Writes a fixture with exactly these indices (golden lines cycled). */
static void write_fixture_indices(const char *path, const uint64_t *idx, size_t n)
{
	char buf[LOAFRE_TEXT_LINE_MAX];
	FILE *f = fopen(path, "we");
	size_t gi = 0;

	load_golden();
	assert_non_null(f);
	for (size_t i = 0; i < n; gi++) {
		const char *g = golden[gi % ngolden];
		if (!in_mask(g))
			continue;
		renumber(g, idx[i], buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
		i++;
	}
	fclose(f);
}

static int journal_open(struct ctx *c)
{
	struct loafre_journal_options o = {.fsync = LOAFRE_FSYNC_NONE, .mask = LOAFRE_CL_MASK_ALL};
	return loafre_journal_open(c->jdir, MDT, LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE, &o,
				   &c->j);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	strcpy(c->dir, "/tmp/loafre-lustre-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->fixture, sizeof(c->fixture), "%s/fixture", c->dir);
	snprintf(c->grow, sizeof(c->grow), "%s/grow", c->dir);
	snprintf(c->clears, sizeof(c->clears), "%s/clears", c->dir);
	snprintf(c->log, sizeof(c->log), "%s/log", c->dir);
	snprintf(c->jdir, sizeof(c->jdir), "%s/journal", c->dir);
	setenv("LOAFRE_FAKE_LLAPI_FIXTURE", c->fixture, 1);
	setenv("LOAFRE_FAKE_LLAPI_CLEARS", c->clears, 1);
	setenv("LOAFRE_FAKE_LLAPI_LOG", c->log, 1);
	setenv("LOAFRE_FAKE_LLAPI_MDT", MDT, 1);
	unsetenv("LOAFRE_FAKE_LLAPI_GROW");
	unsetenv("LOAFRE_FAKE_LLAPI_USERS");
	unsetenv("LOAFRE_FAKE_LLAPI_EOF_EVERY");
	unsetenv("LOAFRE_FAKE_LLAPI_FAIL_AT");
	unsetenv("LOAFRE_FAKE_LLAPI_FOLLOW");
	unsetenv("LOAFRE_FAKE_LLAPI_PATHS");
	fake_llapi_reset();
	assert_int_equal(journal_open(c), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	loafre__lustre_src_close(c->s);
	loafre_journal_close(c->j);
	fake_llapi_reset();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	assert_int_equal(system(cmd), 0);
	free(c);
	return 0;
}

static void src_open(struct ctx *c, const char *user)
{
	assert_int_equal(loafre__lustre_src_open(MDT, user, c->j, &c->s), 0);
}

static struct loafre__lustre_src_stats stats(struct ctx *c)
{
	struct loafre__lustre_src_stats st;
	loafre__lustre_src_get_stats(c->s, &st);
	return st;
}

/* Reads until the source's position reaches `last` and the stream has hit
 * EOF once more (bounded). Errors other than `allowed` fail the test. */
static size_t drain(struct ctx *c, uint64_t last, int allowed)
{
	size_t total = 0;

	for (int i = 0; i < 5000; i++) {
		int r = loafre__lustre_src_read(c->s, 100);
		if (r < 0) {
			assert_int_equal(r, allowed);
			continue;
		}
		total += (size_t)r;
		if (stats(c).position >= last && r == 0 && loafre__lustre_src_fd(c->s) < 0)
			return total;
	}
	fail_msg("drain did not reach %llu", (unsigned long long)last);
	return 0;
}

static uint64_t commit(struct ctx *c)
{
	uint64_t last = 0;
	assert_true(loafre_journal_commit(c->j, &last) >= 0);
	return last;
}

/* The journal's indices, in order. */
static size_t journal_indices(struct ctx *c, uint64_t *idx, size_t cap)
{
	struct loafre_journal_reader *rd;
	struct loafre_rec rec;
	size_t n = 0;
	int r;

	assert_int_equal(loafre_journal_reader_open(c->j, 0, &rd), 0);
	while ((r = loafre_journal_reader_next(rd, &rec, NULL, NULL)) == 0) {
		assert_true(n < cap);
		idx[n++] = rec.index;
	}
	assert_int_equal(r, -EAGAIN);
	loafre_journal_reader_close(rd);
	return n;
}

/* Start positions from the fake's log (and the flags of the last start). */
static size_t log_starts(struct ctx *c, long long *starts, size_t cap, unsigned *ret_flags)
{
	char word[32], mdt[64];
	long long start;
	unsigned flags;
	size_t n = 0;
	FILE *f = fopen(c->log, "re");
	char line[256];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%31s %63s %lld %x", word, mdt, &start, &flags) == 4 &&
		    strcmp(word, "start") == 0) {
			assert_string_equal(mdt, MDT);
			assert_true(n < cap);
			starts[n++] = start;
			if (ret_flags)
				*ret_flags = flags;
		}
	}
	fclose(f);
	return n;
}

static bool log_has(struct ctx *c, const char *what)
{
	char line[256];
	bool found = false;
	FILE *f = fopen(c->log, "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, what, strlen(what)) == 0)
			found = true;
	fclose(f);
	return found;
}

/* The clears the fake accepted, in order. */
static size_t clears(struct ctx *c, uint64_t *ends, size_t cap)
{
	char mdt[64], id[64];
	unsigned long long e;
	size_t n = 0;
	FILE *f = fopen(c->clears, "re");

	if (!f)
		return 0;
	while (fscanf(f, "%63s %63s %llu", mdt, id, &e) == 3) {
		assert_string_equal(mdt, MDT);
		assert_true(n < cap);
		ends[n++] = e;
	}
	fclose(f);
	return n;
}

static void assert_consecutive(const uint64_t *idx, size_t n, uint64_t first)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(idx[i], first + i);
}

/* ---- tests -------------------------------------------------------------- */

static void test_available_and_args(void **state)
{
	struct ctx *c = *state;
	struct loafre__lustre_src *s = NULL;

	assert_true(loafre__lustre_available());
	assert_int_equal(loafre__lustre_src_open(MDT, "bob", c->j, &s), -EINVAL);
	assert_int_equal(loafre__lustre_src_open("", "cl1", c->j, &s), -EINVAL);
	assert_int_equal(loafre__lustre_src_open("a/b", "cl1", c->j, &s), -EINVAL);
	assert_null(s);
	src_open(c, "cl1-reader");
	assert_int_equal(loafre__lustre_src_fd(c->s), -1); /* not started yet */
	assert_false(log_has(c, "start"));
}

static void test_start_flags(void **state)
{
	struct ctx *c = *state;
	long long starts[8];
	unsigned flags = 0;

	write_fixture(c->fixture, 1, 5, true);
	src_open(c, "cl1");
	assert_int_equal(loafre__lustre_src_read(c->s, 100), 5);
	assert_int_equal(log_starts(c, starts, 8, &flags), 1);
	assert_int_equal(starts[0], 0); /* empty journal: the oldest record */
	assert_int_equal(flags, 0x1 | 0x4 | 0x8); /* FOLLOW | JOBID | EXTRA_FLAGS */
	assert_true(log_has(c, "xflags 0xf\n")); /* UIDGID | NID | OMODE | XATTR */
}

/* Every golden record reaches the journal as llapi delivered it. */
static void test_corpus_byte_identical(void **state)
{
	struct ctx *c = *state;
	struct loafre_journal_reader *rd;
	struct loafre_rec got, want;
	char line[LOAFRE_TEXT_LINE_MAX], a[LOAFRE_TEXT_LINE_MAX], b[LOAFRE_TEXT_LINE_MAX];
	uint8_t enc[LOAFRE_REC_MAX_SIZE];
	const void *raw;
	size_t rawlen, known = 0, unknown = 0;
	int r;

	load_golden();
	write_fixture(c->fixture, 1, ngolden, false);
	src_open(c, "cl1");
	drain(c, ngolden, 0);
	commit(c);
	assert_int_equal(loafre_journal_reader_open(c->j, 0, &rd), 0);
	for (size_t i = 0; i < ngolden; i++) {
		renumber(golden[i], i + 1, line, sizeof(line));
		assert_int_equal(loafre_text_parse(line, strlen(line), &want, NULL), 0);
		if (want.type >= LOAFRE_CL_LAST) {
			unknown++; /* outside every mask: the journal drops it */
			continue;
		}
		known++;
		loafre_rec_remap(&want, LOAFRE_CLF_RENAME | LOAFRE_CLF_JOBID | LOAFRE_CLF_EXTRA_FLAGS,
				 LOAFRE_CLFE_SUPPORTED);
		assert_int_equal(loafre_journal_reader_next(rd, &got, &raw, &rawlen), 0);
		assert_int_equal(got.index, i + 1);
		assert_true(loafre_text_format(&want, a, sizeof(a)) > 0);
		assert_true(loafre_text_format(&got, b, sizeof(b)) > 0);
		assert_string_equal(b, a);
		r = loafre_rec_encode(&want, enc, sizeof(enc));
		assert_true(r > 0);
		assert_int_equal(rawlen, (size_t)r);
		assert_memory_equal(raw, enc, rawlen);
	}
	assert_int_equal(loafre_journal_reader_next(rd, &got, NULL, NULL), -EAGAIN);
	loafre_journal_reader_close(rd);
	assert_true(unknown > 0);
	assert_int_equal(stats(c).appended, known);
	assert_int_equal(stats(c).masked, unknown);
	assert_int_equal(stats(c).received, ngolden);
	assert_int_equal(stats(c).position, ngolden);
}

static void test_eof_reopen(void **state)
{
	struct ctx *c = *state;
	uint64_t idx[MAXREC];
	long long starts[64];
	size_t n;

	write_fixture(c->fixture, 1, 76, true);
	setenv("LOAFRE_FAKE_LLAPI_EOF_EVERY", "10", 1);
	src_open(c, "cl1");
	/* The first stream gives 10 records, then EOF closes it. */
	assert_int_equal(loafre__lustre_src_read(c->s, 1000), 10);
	assert_int_equal(loafre__lustre_src_fd(c->s), -1);
	drain(c, 76, 0);
	commit(c);
	n = journal_indices(c, idx, MAXREC);
	assert_int_equal(n, 76);
	assert_consecutive(idx, n, 1);
	n = log_starts(c, starts, 64, NULL);
	/* 0, 11, 21, ..., 71, then 77 (nothing more). */
	assert_int_equal(n, 9);
	assert_int_equal(starts[0], 0);
	for (size_t i = 1; i < 8; i++)
		assert_int_equal(starts[i], (long long)(10 * i + 1));
	assert_int_equal(starts[8], 77);
	assert_int_equal(stats(c).reopens, n - 1);
	assert_int_equal(stats(c).skipped, 0);
}

static void test_error_reopen(void **state)
{
	struct ctx *c = *state;
	uint64_t idx[MAXREC];
	long long starts[8];

	write_fixture(c->fixture, 1, 40, true);
	setenv("LOAFRE_FAKE_LLAPI_FAIL_AT", "5", 1);
	src_open(c, "cl1");
	assert_int_equal(loafre__lustre_src_read(c->s, 1000), -EIO);
	assert_int_equal(loafre_journal_pending(c->j), 4); /* kept: commit them */
	assert_int_equal(loafre__lustre_src_fd(c->s), -1);
	assert_int_equal(stats(c).last_error, -EIO);
	drain(c, 40, 0);
	commit(c);
	assert_int_equal(journal_indices(c, idx, MAXREC), 40);
	assert_consecutive(idx, 40, 1);
	assert_true(log_starts(c, starts, 8, NULL) >= 2);
	assert_int_equal(starts[1], 5);
}

static void test_clear_batched(void **state)
{
	struct ctx *c = *state;
	uint64_t ends[16], last;

	write_fixture(c->fixture, 1, 3000, true);
	src_open(c, "cl1");
	drain(c, 3000, 0);
	/* Nothing is committed yet: nothing may be cleared, even forced. */
	assert_int_equal(loafre__lustre_src_committed(c->s, 0, true), 0);
	assert_int_equal(clears(c, ends, 16), 0);
	last = commit(c);
	assert_int_equal(last, 3000);
	/* Below the batch: no clear unless forced. */
	assert_int_equal(loafre__lustre_src_committed(c->s, 500, false), 0);
	assert_int_equal(loafre__lustre_src_committed(c->s, 1023, false), 0);
	assert_int_equal(clears(c, ends, 16), 0);
	assert_int_equal(loafre__lustre_src_committed(c->s, 1024, false), 0);
	assert_int_equal(clears(c, ends, 16), 1);
	assert_int_equal(ends[0], 1024);
	assert_int_equal(loafre__lustre_src_committed(c->s, 1500, false), 0);
	assert_int_equal(clears(c, ends, 16), 1);
	assert_int_equal(loafre__lustre_src_committed(c->s, 1500, true), 0);
	assert_int_equal(clears(c, ends, 16), 2);
	assert_int_equal(ends[1], 1500);
	/* Never decreasing, never repeated. */
	assert_int_equal(loafre__lustre_src_committed(c->s, 1400, true), 0);
	assert_int_equal(loafre__lustre_src_committed(c->s, 1500, true), 0);
	assert_int_equal(clears(c, ends, 16), 2);
	/* Never past `last` even though 3000 are taken. */
	assert_int_equal(loafre__lustre_src_committed(c->s, 2000, true), 0);
	assert_int_equal(clears(c, ends, 16), 3);
	assert_int_equal(ends[2], 2000);
	/* A bogus `last` is bounded by what the source has taken. */
	assert_int_equal(loafre__lustre_src_committed(c->s, 1u << 30, true), 0);
	assert_int_equal(clears(c, ends, 16), 4);
	assert_int_equal(ends[3], 3000);
	assert_int_equal(stats(c).cleared, 3000);
	assert_int_equal(stats(c).clears, 4);
	assert_int_equal(stats(c).last_error, 0);
}

/* Records queued but not committed are not cleared and are read again after
 * a restart; committed ones are not read twice. */
static void test_restart(void **state)
{
	struct ctx *c = *state;
	uint64_t idx[MAXREC], ends[4];
	long long starts[8];

	write_fixture(c->fixture, 1, 60, true);
	src_open(c, "cl1");
	assert_int_equal(loafre__lustre_src_read(c->s, 30), 30);
	assert_int_equal(commit(c), 30);
	assert_int_equal(loafre__lustre_src_read(c->s, 10), 10); /* 31..40, never committed */
	assert_int_equal(loafre__lustre_src_committed(c->s, 30, true), 0);
	assert_int_equal(clears(c, ends, 4), 1);
	assert_int_equal(ends[0], 30);
	/* loafred dies: queued records are lost locally, still upstream. */
	loafre__lustre_src_close(c->s);
	c->s = NULL;
	loafre_journal_close(c->j);
	c->j = NULL;
	assert_int_equal(journal_open(c), 0);
	src_open(c, "cl1");
	assert_int_equal(stats(c).position, 30);
	drain(c, 60, 0);
	assert_int_equal(commit(c), 60);
	assert_int_equal(journal_indices(c, idx, MAXREC), 60);
	assert_consecutive(idx, 60, 1);
	assert_int_equal(log_starts(c, starts, 8, NULL), 3);
	assert_int_equal(starts[1], 31);
	assert_int_equal(stats(c).skipped, 0);
	assert_int_equal(loafre__lustre_src_committed(c->s, 60, true), 0);
	assert_int_equal(clears(c, ends, 4), 2);
	assert_int_equal(ends[1], 60);
}

static void test_unknown_user(void **state)
{
	struct ctx *c = *state;

	write_fixture(c->fixture, 1, 20, true);
	src_open(c, "cl7");
	assert_int_equal(loafre__lustre_src_read(c->s, 10), 10);
	commit(c);
	assert_int_equal(loafre__lustre_src_committed(c->s, 10, true), -ENOENT);
	assert_int_equal(stats(c).last_error, -ENOENT);
	assert_int_equal(stats(c).cleared, 0);
	/* Still reading. */
	assert_int_equal(loafre__lustre_src_read(c->s, 100), 10);
	assert_int_equal(commit(c), 20);
	/* And retrying the clear once the user exists. */
	fake_llapi_reset();
	setenv("LOAFRE_FAKE_LLAPI_USERS", "cl1 cl7", 1);
	assert_int_equal(loafre__lustre_src_committed(c->s, 20, true), 0);
	assert_int_equal(stats(c).cleared, 20);
}

static void test_duplicates_skipped(void **state)
{
	struct ctx *c = *state;
	uint64_t fix[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 5, 6, 7, 8, 9, 10, 11, 12, 13,
			  14, 15, 15, 2, 20};
	uint64_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20};
	uint64_t idx[64];
	size_t n;

	write_fixture_indices(c->fixture, fix, ARRAY_SIZE(fix));
	src_open(c, "cl1");
	drain(c, 20, 0);
	assert_int_equal(commit(c), 20);
	n = journal_indices(c, idx, 64);
	assert_int_equal(n, ARRAY_SIZE(want));
	assert_memory_equal(idx, want, sizeof(want));
	assert_int_equal(stats(c).skipped, 8);
	assert_int_equal(stats(c).appended, 16);
}

/* After EOF at the end, the MDT writes more: the reopen finds it. */
static void test_grow_after_eof(void **state)
{
	struct ctx *c = *state;
	uint64_t idx[MAXREC];

	write_fixture(c->fixture, 1, 20, true);
	write_fixture(c->grow, 21, 15, true);
	setenv("LOAFRE_FAKE_LLAPI_GROW", c->grow, 1);
	src_open(c, "cl1");
	assert_int_equal(loafre__lustre_src_read(c->s, 1000), 20);
	assert_int_equal(loafre__lustre_src_fd(c->s), -1); /* EOF */
	assert_int_equal(loafre__lustre_src_read(c->s, 1000), 15);
	drain(c, 35, 0);
	assert_int_equal(commit(c), 35);
	assert_int_equal(journal_indices(c, idx, MAXREC), 35);
	assert_consecutive(idx, 35, 1);
}

/* FOLLOW: at the end nothing is readable; read returns 0 without calling
 * the (blocking) recv; new records make the descriptor readable. */
static void test_follow_never_blocks(void **state)
{
	struct ctx *c = *state;
	struct pollfd p;
	long long starts[4];

	write_fixture(c->fixture, 1, 12, true);
	write_fixture(c->grow, 13, 8, true);
	setenv("LOAFRE_FAKE_LLAPI_GROW", c->grow, 1);
	setenv("LOAFRE_FAKE_LLAPI_FOLLOW", "1", 1);
	src_open(c, "cl1");
	assert_int_equal(loafre__lustre_src_read(c->s, 1000), 12);
	assert_int_equal(loafre__lustre_src_read(c->s, 1000), 0);
	assert_true(loafre__lustre_src_fd(c->s) >= 0);
	assert_false(log_has(c, "blocked"));
	p = (struct pollfd){.fd = loafre__lustre_src_fd(c->s), .events = POLLIN};
	assert_int_equal(poll(&p, 1, 0), 0);
	fake_llapi_grow();
	assert_int_equal(loafre__lustre_src_read(c->s, 3), 3); /* max respected */
	p = (struct pollfd){.fd = loafre__lustre_src_fd(c->s), .events = POLLIN};
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(loafre__lustre_src_read(c->s, 1000), 5);
	assert_int_equal(log_starts(c, starts, 4, NULL), 1);
	assert_false(log_has(c, "blocked"));
	assert_int_equal(commit(c), 20);
}

/* liblustreapi refuses to start: a clear error, the journal untouched, a
 * retry later works. */
static void test_start_error(void **state)
{
	struct ctx *c = *state;

	write_fixture(c->fixture, 1, 10, true);
	setenv("LOAFRE_FAKE_LLAPI_MDT", "other-MDT0000", 1);
	src_open(c, "cl1");
	assert_int_equal(loafre__lustre_src_read(c->s, 100), -ENOENT);
	assert_int_equal(loafre__lustre_src_fd(c->s), -1);
	assert_int_equal(stats(c).last_error, -ENOENT);
	assert_int_equal(loafre_journal_pending(c->j), 0);
	setenv("LOAFRE_FAKE_LLAPI_MDT", MDT, 1);
	assert_int_equal(loafre__lustre_src_read(c->s, 100), 10);
	assert_int_equal(stats(c).reopens, 0); /* the first successful start */
}

static void test_fid2path(void **state)
{
	struct ctx *c = *state;
	struct loafre_fid fid = {0x200000402ull, 0x1, 0};
	struct loafre_fid other = {0x200000402ull, 0x2, 0};
	char paths[160], buf[64];
	FILE *f;

	snprintf(paths, sizeof(paths), "%s/paths", c->dir);
	f = fopen(paths, "we");
	assert_non_null(f);
	fprintf(f, "[0x200000402:0x1:0x0] dir/sub/file name\n");
	fclose(f);
	setenv("LOAFRE_FAKE_LLAPI_PATHS", paths, 1);
	assert_int_equal(loafre__lustre_fid2path("lustre", &fid, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "dir/sub/file name");
	strcpy(buf, "untouched");
	assert_int_equal(loafre__lustre_fid2path("lustre", &fid, buf, 5), -ENAMETOOLONG);
	assert_string_equal(buf, "untouched");
	assert_int_equal(loafre__lustre_fid2path("lustre", &other, buf, sizeof(buf)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_available_and_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corpus_byte_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_batched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_after_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_never_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fid2path, setup, teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	for (size_t i = 0; i < ngolden; i++)
		free(golden[i]);
	return r;
}
