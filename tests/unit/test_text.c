/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_text.c — the `lfs changelog` text line, JSON and NID strings.
 *
 * Data files (TEST_DATA_DIR):
 *   golden.changelog  hand-written lines, each must survive
 *                     text -> record -> binary -> record -> text unchanged;
 *   golden.hex        "INDEX HEX": the binary encoding of the golden line with
 *                     that index, derived from the layout table in record.h
 *                     independently of loafre_rec_encode;
 *   bad.changelog     one malformed line per line ("\n", "\0" and "\\" are
 *                     escapes for bytes a line file cannot hold);
 *   bad.reasons       the reason string expected for the same line number.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "loafre/record.h"
#include "loafre/text.h"
#include "json.h"
#include "rec_equal.h"

/* ---- helpers --------------------------------------------------------------- */

struct lines {
	char *buf;
	char **line; /* each NUL-terminated, without its '\n' */
	size_t *len;
	size_t n;
};

static void read_lines(const char *name, struct lines *ls)
{
	char path[4096];
	FILE *f;
	long size;
	size_t cap = 16;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	ls->buf = malloc((size_t)size + 1);
	assert_non_null(ls->buf);
	assert_int_equal(fread(ls->buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	ls->buf[size] = '\0';
	assert_int_equal(ls->buf[size - 1], '\n');
	ls->line = malloc(cap * sizeof(*ls->line));
	ls->len = malloc(cap * sizeof(*ls->len));
	ls->n = 0;
	for (char *p = ls->buf; p < ls->buf + size;) {
		char *nl = memchr(p, '\n', (size_t)(ls->buf + size - p));
		if (ls->n == cap) {
			cap *= 2;
			ls->line = realloc(ls->line, cap * sizeof(*ls->line));
			ls->len = realloc(ls->len, cap * sizeof(*ls->len));
		}
		*nl = '\0';
		ls->line[ls->n] = p;
		ls->len[ls->n] = (size_t)(nl - p);
		ls->n++;
		p = nl + 1;
	}
}

static void free_lines(struct lines *ls)
{
	free(ls->buf);
	free(ls->line);
	free(ls->len);
}

/* Formats and compares with the expected literal (also checks the length). */
static void assert_formats_as(const struct loafre_rec *r, const char *expect)
{
	char buf[LOAFRE_TEXT_LINE_MAX];
	int n = loafre_text_format(r, buf, sizeof(buf));

	assert_int_equal(n, (int)strlen(expect));
	assert_string_equal(buf, expect);
}

/* r formatted into line (LOAFRE_TEXT_LINE_MAX bytes), then parsed into *p,
 * which must succeed; returns the line's length. */
static int format_parse(const struct loafre_rec *r, char *line, struct loafre_rec *p)
{
	int n = loafre_text_format(r, line, LOAFRE_TEXT_LINE_MAX);

	assert_int_equal(loafre_text_parse(line, (size_t)n, p, NULL), 0);
	return n;
}

static void base_rec(struct loafre_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->index = 42;
	r->type = LOAFRE_CL_CREATE;
	r->flags = LOAFRE_CLF_VERSION;
	r->time = loafre_cl_time(1763764974, 123456789); /* 2025-11-21 22:42:54 UTC */
	r->tfid = (struct loafre_fid){0x200000401ull, 0x2a, 0};
	r->pfid = (struct loafre_fid){0x200000007ull, 0x1, 0};
	r->name = "hosts";
	r->namelen = 5;
}

/* ---- golden corpus ------------------------------------------------------------ */

static void test_golden_roundtrip(void **state)
{
	struct lines ls;
	uint8_t bin[LOAFRE_REC_MAX_SIZE];
	char out[LOAFRE_TEXT_LINE_MAX];
	uint32_t types_seen = 0;

	(void)state;
	read_lines("golden.changelog", &ls);
	assert_true(ls.n >= 60);
	for (size_t i = 0; i < ls.n; i++) {
		struct loafre_rec r, d, r2;
		const char *why = NULL;
		size_t used;
		int n, rc;

		rc = loafre_text_parse(ls.line[i], ls.len[i], &r, &why);
		if (rc != 0)
			fail_msg("golden line %zu: %s: %s", i + 1, why, ls.line[i]);
		if (r.type < LOAFRE_CL_LAST)
			types_seen |= 1u << r.type;
		/* text -> binary -> text */
		n = loafre_rec_encode(&r, bin, sizeof(bin));
		assert_true(n > 0);
		assert_int_equal(loafre_rec_decode(bin, (size_t)n, &d, &used), 0);
		assert_int_equal(used, (size_t)n);
		assert_rec_equal(&r, &d);
		n = loafre_text_format(&d, out, sizeof(out));
		assert_int_equal(n, (int)ls.len[i] + 1);
		assert_memory_equal(out, ls.line[i], ls.len[i]);
		assert_int_equal(out[n - 1], '\n');
		/* the same line with its '\n' parses to the same record */
		assert_int_equal(loafre_text_parse(out, (size_t)n, &r2, NULL), 0);
		assert_rec_equal(&r, &r2);
	}
	assert_int_equal(types_seen, LOAFRE_CL_MASK_ALL);
	free_lines(&ls);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void test_golden_hex(void **state)
{
	struct lines gold, hex;
	uint8_t want[LOAFRE_REC_MAX_SIZE], got[LOAFRE_REC_MAX_SIZE];
	char out[LOAFRE_TEXT_LINE_MAX];

	(void)state;
	read_lines("golden.changelog", &gold);
	read_lines("golden.hex", &hex);
	assert_true(hex.n >= 6);
	for (size_t i = 0; i < hex.n; i++) {
		char *sp = strchr(hex.line[i], ' ');
		unsigned long long index;
		size_t nbytes, found = SIZE_MAX;
		struct loafre_rec r, d;
		int n;

		assert_non_null(sp);
		index = strtoull(hex.line[i], NULL, 10);
		nbytes = strlen(sp + 1) / 2;
		assert_true(nbytes <= sizeof(want));
		for (size_t b = 0; b < nbytes; b++) {
			int hi = hexval(sp[1 + 2 * b]), lo = hexval(sp[2 + 2 * b]);
			assert_true(hi >= 0 && lo >= 0);
			want[b] = (uint8_t)(hi << 4 | lo);
		}
		for (size_t g = 0; g < gold.n; g++) {
			assert_int_equal(loafre_text_parse(gold.line[g], gold.len[g], &r, NULL), 0);
			if (r.index == index) {
				found = g;
				break;
			}
		}
		assert_true(found != SIZE_MAX);
		/* golden text -> binary equals the independent bytes */
		n = loafre_rec_encode(&r, got, sizeof(got));
		assert_int_equal(n, (int)nbytes);
		assert_memory_equal(got, want, nbytes);
		/* and those bytes decode and format to the golden line */
		assert_int_equal(loafre_rec_decode(want, nbytes, &d, NULL), 0);
		n = loafre_text_format(&d, out, sizeof(out));
		assert_int_equal(n, (int)gold.len[found] + 1);
		assert_memory_equal(out, gold.line[found], gold.len[found]);
	}
	free_lines(&gold);
	free_lines(&hex);
}

/* Undo the escapes of bad.changelog in place; returns the new length. */
static size_t unescape(char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len) {
			char c = s[++i];
			s[o++] = c == 'n' ? '\n' : c == '0' ? '\0' : c;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

static void test_bad_lines(void **state)
{
	struct lines bad, why;

	(void)state;
	read_lines("bad.changelog", &bad);
	read_lines("bad.reasons", &why);
	assert_int_equal(bad.n, why.n);
	assert_true(bad.n >= 40);
	for (size_t i = 0; i < bad.n; i++) {
		struct loafre_rec r;
		const char *reason = NULL;
		size_t len = unescape(bad.line[i], bad.len[i]);
		int rc;

		memset(&r, 0xa5, sizeof(r));
		rc = loafre_text_parse(bad.line[i], len, &r, &reason);
		if (rc != -EINVAL)
			fail_msg("bad line %zu accepted: %s", i + 1, bad.line[i]);
		assert_non_null(reason);
		if (strcmp(reason, why.line[i]) != 0)
			fail_msg("bad line %zu: got \"%s\", want \"%s\"", i + 1, reason,
				 why.line[i]);
		assert_int_equal(r.index, 0xa5a5a5a5a5a5a5a5ull); /* not written */
	}
	free_lines(&bad);
	free_lines(&why);
}

/* ---- format of hand-built records ------------------------------------------ */

static void test_format_literals(void **state)
{
	struct loafre_rec r;

	(void)state;
	base_rec(&r);
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "p=[0x200000007:0x1:0x0] hosts\n");

	/* every extension; open mode from WRITE|READ */
	r.flags |= LOAFRE_CLF_JOBID | LOAFRE_CLF_EXTRA_FLAGS;
	strcpy(r.jobid, "slurm.77");
	r.extra_flags = LOAFRE_CLFE_UIDGID | LOAFRE_CLFE_NID | LOAFRE_CLFE_OPEN | LOAFRE_CLFE_XATTR;
	r.uid = 500;
	r.gid = 501;
	r.nid = 0x00020000c0a80102ull;
	r.openflags = 03;
	strcpy(r.xattr, "user.tag");
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "j=slurm.77 ef=0xf u=500:501 nid=192.168.1.2@tcp m=rw- x=user.tag "
			      "p=[0x200000007:0x1:0x0] hosts\n");

	/* TRUNC alone gives -w-; EXEC wins over READ|WRITE; no mode: no m= */
	r.openflags = 01000;
	r.extra_flags = LOAFRE_CLFE_OPEN;
	r.flags = LOAFRE_CLF_VERSION | LOAFRE_CLF_EXTRA_FLAGS | 0x42;
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x42 t=[0x200000401:0x2a:0x0] "
			      "ef=0x4 m=-w- p=[0x200000007:0x1:0x0] hosts\n");
	r.openflags = 07;
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x42 t=[0x200000401:0x2a:0x0] "
			      "ef=0x4 m=--x p=[0x200000007:0x1:0x0] hosts\n");
	r.openflags = 0100; /* MDS_OPEN_CREAT only: "---", not printed */
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x42 t=[0x200000401:0x2a:0x0] "
			      "ef=0x4 p=[0x200000007:0x1:0x0] hosts\n");

	/* jobid: CLF_JOBID without a jobid, or a jobid without the flag */
	base_rec(&r);
	r.flags |= LOAFRE_CLF_JOBID;
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "p=[0x200000007:0x1:0x0] hosts\n");
	r.flags = LOAFRE_CLF_VERSION;
	strcpy(r.jobid, "ignored");
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "p=[0x200000007:0x1:0x0] hosts\n");

	/* Lustre's zero test ignores ver; the name stops at a NUL (%.*s) */
	base_rec(&r);
	r.pfid = (struct loafre_fid){0, 0, 9};
	r.name = "ab\0cd";
	r.namelen = 5;
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "ab\n");

	/* MARK with markerflags, no parent, max time second, 30-bit ns */
	memset(&r, 0, sizeof(r));
	r.index = 1;
	r.type = LOAFRE_CL_MARK;
	r.flags = LOAFRE_CLF_VERSION;
	r.time = loafre_cl_time(17179869183ull, (1u << 30) - 1);
	r.tfid.f_seq = 0x10001;
	r.name = "mdd_obd-lustre-MDT0000-0";
	r.namelen = (uint16_t)strlen(r.name);
	assert_formats_as(&r, "1 00MARK  01:53:03.1073741823 2514.05.30 0x0 t=[0x10001:0x0:0x0] "
			      "mdd_obd-lustre-MDT0000-0\n");

	/* unknown types as glibc prints a NULL %s; negative via (int) */
	memset(&r, 0, sizeof(r));
	r.type = 25;
	assert_formats_as(&r, "0 25(null) 00:00:00.000000000 1970.01.01 0x0 t=[0:0x0:0x0]\n");
	r.type = 0xfffffffeu;
	assert_formats_as(&r, "0 -2(null) 00:00:00.000000000 1970.01.01 0x0 t=[0:0x0:0x0]\n");
	r.type = LOAFRE_CL_RESYNC;
	r.time = loafre_cl_time(951868799, 5);
	assert_formats_as(&r, "0 22RESYNC 23:59:59.000000005 2000.02.29 0x0 t=[0:0x0:0x0]\n");
	r.type = LOAFRE_CL_HSM;
	r.time = loafre_cl_time(2147483648ull, 0);
	assert_formats_as(&r, "0 16HSM   03:14:08.000000000 2038.01.19 0x0 t=[0:0x0:0x0]\n");

	/* rename: empty target name gives a lone space; zero sfid: no s= */
	base_rec(&r);
	r.type = LOAFRE_CL_RENAME;
	r.flags |= LOAFRE_CLF_RENAME;
	r.name = "";
	r.namelen = 0;
	r.sname = "old one";
	r.snamelen = 7;
	r.sfid = (struct loafre_fid){0x200000402ull, 3, 0};
	r.spfid = (struct loafre_fid){0, 0, 0};
	assert_formats_as(&r, "42 08RENME 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "p=[0x200000007:0x1:0x0]  s=[0x200000402:0x3:0x0] sp=[0:0x0:0x0] old one\n");
	r.sfid = (struct loafre_fid){0, 0, 1};
	r.name = "new";
	r.namelen = 3;
	assert_formats_as(&r, "42 08RENME 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "p=[0x200000007:0x1:0x0] new\n");
	/* CLF_RENAME with a source FID but no source name (found by fuzzing:
	 * formatting must not touch the NULL sname) */
	r.sfid = (struct loafre_fid){0x7, 0x8, 0};
	r.sname = NULL;
	r.snamelen = 0;
	r.name = NULL;
	r.namelen = 0;
	assert_formats_as(&r, "42 08RENME 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "p=[0x200000007:0x1:0x0] s=[0x7:0x8:0x0] sp=[0:0x0:0x0] \n");
	/* NID extension with the all-ones and unknown-LND forms */
	base_rec(&r);
	r.flags |= LOAFRE_CLF_EXTRA_FLAGS;
	r.extra_flags = LOAFRE_CLFE_NID;
	r.nid = UINT64_MAX;
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "ef=0x2 nid=<?> p=[0x200000007:0x1:0x0] hosts\n");
	r.nid = 0;
	assert_formats_as(&r, "42 01CREAT 22:42:54.123456789 2025.11.21 0x0 t=[0x200000401:0x2a:0x0] "
			      "ef=0x2 nid=0@<0:0> p=[0x200000007:0x1:0x0] hosts\n");
}

static void test_format_buffer_size(void **state)
{
	const char *expect = "42 01CREAT 22:42:54.123456789 2025.11.21 0x0 "
			     "t=[0x200000401:0x2a:0x0] p=[0x200000007:0x1:0x0] hosts\n";
	size_t len = strlen(expect);
	char buf[256];
	struct loafre_rec r;

	(void)state;
	base_rec(&r);
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(loafre_text_format(&r, buf, len), -ENOBUFS);
	assert_int_equal(loafre_text_format(&r, buf, 0), -ENOBUFS);
	assert_int_equal(loafre_text_format(&r, buf, len + 1), (int)len);
	assert_string_equal(buf, expect);
	assert_int_equal(buf[len + 1], 'Z');
	memset(buf, 0, sizeof(buf));
	assert_int_equal(loafre_json_format(&r, buf, 10), -ENOBUFS);
}

static void test_utc_independence(void **state)
{
	static const char *const zones[] = {"UTC0", "America/New_York", "Asia/Kolkata",
					    "Pacific/Chatham", "XYZ+13:45"};
	char ref[LOAFRE_TEXT_LINE_MAX], out[LOAFRE_TEXT_LINE_MAX];
	struct loafre_rec r;

	(void)state;
	base_rec(&r);
	r.time = loafre_cl_time(1709164800 + 3600, 7); /* 2024-02-29 01:00 UTC */
	setenv("TZ", "UTC0", 1);
	tzset();
	assert_true(loafre_text_format(&r, ref, sizeof(ref)) > 0);
	assert_non_null(strstr(ref, " 01:00:00.000000007 2024.02.29 "));
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		struct loafre_rec p;

		setenv("TZ", zones[i], 1);
		tzset();
		assert_true(loafre_text_format(&r, out, sizeof(out)) > 0);
		assert_string_equal(out, ref);
		assert_int_equal(loafre_text_parse(ref, strlen(ref), &p, NULL), 0);
		assert_int_equal(p.time, r.time);
	}
	unsetenv("TZ");
	tzset();
}

/* ---- JSON ------------------------------------------------------------------- */

static void test_json(void **state)
{
	char buf[4096];
	struct loafre_rec r;
	int n;

	(void)state;
	base_rec(&r);
	r.flags |= LOAFRE_CLF_EXTRA_FLAGS | LOAFRE_CLF_JOBID;
	strcpy(r.jobid, "job\"1");
	r.extra_flags = LOAFRE_CLFE_UIDGID | LOAFRE_CLFE_NID | LOAFRE_CLFE_OPEN;
	r.uid = 0;
	r.gid = 18446744073709551615ull;
	r.nid = 0x0009000000000000ull;
	r.openflags = 01;
	/* quote, backslash, control bytes, DEL, valid 2/3/4-byte UTF-8, and
	 * invalid bytes: lone continuation, overlong, truncated, surrogate */
	r.name = "a\"b\\c\n\t\x01\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80\xc0\xaf\xe2\x82|\xed\xa0\x80";
	r.namelen = (uint16_t)strlen(r.name);
	n = loafre_json_format(&r, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(
		buf,
		"{\"index\":42,\"type\":\"CREAT\",\"type_num\":1,"
		"\"time\":\"2025-11-21T22:42:54.123456789Z\",\"flags\":\"0x0\","
		"\"tfid\":\"[0x200000401:0x2a:0x0]\",\"pfid\":\"[0x200000007:0x1:0x0]\","
		"\"jobid\":\"job\\\"1\",\"extra_flags\":\"0x7\",\"uid\":0,"
		"\"gid\":18446744073709551615,\"nid\":\"0@lo\",\"mode\":\"r--\","
		"\"openflags\":\"0x1\","
		"\"name\":\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|"
		"\\u0080\\u00c0\\u00af\\u00e2\\u0082|\\u00ed\\u00a0\\u0080\"}\n");

	/* rename, unknown type, no extensions */
	memset(&r, 0, sizeof(r));
	r.index = 7;
	r.type = 99;
	r.flags = LOAFRE_CLF_VERSION | LOAFRE_CLF_RENAME | 0x1;
	r.sfid = (struct loafre_fid){1, 2, 3};
	r.name = "t";
	r.namelen = 1;
	r.sname = "s";
	r.snamelen = 1;
	n = loafre_json_format(&r, buf, sizeof(buf));
	assert_true(n > 0);
	assert_string_equal(buf, "{\"index\":7,\"type\":null,\"type_num\":99,"
				 "\"time\":\"1970-01-01T00:00:00.000000000Z\",\"flags\":\"0x1\","
				 "\"tfid\":\"[0:0x0:0x0]\",\"pfid\":\"[0:0x0:0x0]\",\"name\":\"t\","
				 "\"sfid\":\"[0x1:0x2:0x3]\",\"spfid\":\"[0:0x0:0x0]\",\"sname\":\"s\"}\n");
}

/* ---- NIDs ------------------------------------------------------------------- */

static void test_nid(void **state)
{
	static const struct {
		uint64_t nid;
		const char *s;
	} cases[] = {
		{0x00020000c0a80102ull, "192.168.1.2@tcp"},
		{0x00020001c0a80102ull, "192.168.1.2@tcp1"},
		{0x0005000a0a000001ull, "10.0.0.1@o2ib10"},
		{0x0009000000000000ull, "0@lo"},
		{0x0009000300000005ull, "5@lo3"},
		{0x000d000000001234ull, "4660@gni"},
		{0x000e000001020304ull, "1.2.3.4@gip"},
		{0x000f0000ffffffffull, "4294967295@ptlf"},
		{0x0010ffff00000001ull, "1@kfi65535"},
		{0x0000000000000000ull, "0@<0:0>"},
		{0x0003000700abcdefull, "abcdef@<3:7>"},
		{0xfffeffffffffffffull, "ffffffff@<65534:65535>"},
		{0xffffffffffffffffull, "<?>"},
	};
	static const char *const bad[] = {
		"", "@tcp", "1.2.3@tcp", "1.2.3.4.5@tcp", "1.2.3.4@tcp0", "1.2.3.4@tcp01",
		"1.2.3.4@tcp65536", "01.2.3.4@tcp", "1.2.3.4@TCP", "1.2.3.4", "4294967296@lo",
		"1.2.3.4@lo", "0@<2:0>", "0@<0:0", "ABC@<3:7>", "123456789@<3:7>",
		"ffffffff@<65535:65535>", "0@<65536:0>", "<?>x", " 0@lo",
	};
	char buf[64];
	uint64_t v, seed = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = loafre_nid_format(cases[i].nid, buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(cases[i].s));
		assert_string_equal(buf, cases[i].s);
		assert_int_equal(loafre_nid_parse(cases[i].s, strlen(cases[i].s), &v), 0);
		assert_int_equal(v, cases[i].nid);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 77;
		if (loafre_nid_parse(bad[i], strlen(bad[i]), &v) != -EINVAL)
			fail_msg("NID \"%s\" accepted", bad[i]);
		assert_int_equal(v, 77);
	}
	assert_int_equal(loafre_nid_format(0x00020000c0a80102ull, buf, 15), -ENOBUFS);
	/* random NIDs of every LND (and unknown ones) survive format -> parse */
	for (int i = 0; i < 100000; i++) {
		uint64_t lnds[] = {2, 5, 9, 13, 14, 15, 16, 0, 1, 3, 17, 0xffff};
		uint64_t nid;
		int n;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		nid = (seed >> 16) & 0xffffffffffffull;
		nid |= lnds[(seed >> 60) % 12] << 48;
		n = loafre_nid_format(nid, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(loafre_nid_parse(buf, (size_t)n, &v), 0);
		assert_int_equal(v, nid);
	}
}

/* ---- random round trip -------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random name without '\n', NUL, '[' (so no " s=[FID]" look-alike) that
 * does not start with a field key (it starts with a letter from a set
 * holding none of j e u n m x p). */
static uint16_t rnd_name(uint64_t *s, char *out, unsigned max)
{
	static const char alpha[] = "abcdfghikloqrstvwyzABC0123456789 .-_=:]\"\\\t\x01";
	static const char first[] = "abcdfghikloqrstvwyz";
	unsigned len = 1 + (unsigned)(rnd(s) % max), i = 0;

	out[i++] = first[rnd(s) % (sizeof(first) - 1)];
	while (i < len) {
		uint64_t x = rnd(s);
		if (x % 7 == 0 && i + 2 <= len) { /* a UTF-8 é */
			out[i++] = '\xc3';
			out[i++] = '\xa9';
		} else if (x % 11 == 0) {
			out[i++] = (char)(0x80 + (x >> 8) % 0x7f); /* stray high byte */
		} else {
			out[i++] = alpha[(x >> 8) % (sizeof(alpha) - 1)];
		}
	}
	return (uint16_t)len;
}

static void rnd_word(uint64_t *s, char *out, unsigned max)
{
	unsigned len = 1 + (unsigned)(rnd(s) % max);

	for (unsigned i = 0; i < len; i++)
		out[i] = (char)('!' + rnd(s) % 94); /* printable, no space */
	out[len] = '\0';
}

static struct loafre_fid rnd_fid(uint64_t *s)
{
	uint64_t x = rnd(s);
	struct loafre_fid f = {x % 3 == 0 ? 0 : rnd(s) >> (x % 64), (uint32_t)rnd(s),
			       x % 5 == 0 ? (uint32_t)rnd(s) : 0};
	return f;
}

static void test_random_roundtrip(void **state)
{
	static const uint64_t nids[] = {0x00020000c0a80102ull, 0x0005000100000001ull,
					0x0009000000000000ull, 0xffffffffffffffffull,
					0x0063000512345678ull, 0x000f00aa00001234ull};
	static const uint32_t modes[] = {0, 1, 2, 3, 4};
	uint64_t seed = 0x1234567887654321ull;
	char tname[256], sname[256], line[LOAFRE_TEXT_LINE_MAX], line2[LOAFRE_TEXT_LINE_MAX];
	uint8_t bin[LOAFRE_REC_MAX_SIZE];

	(void)state;
	for (int it = 0; it < 200000; it++) {
		struct loafre_rec r, p, d;
		uint64_t x = rnd(&seed);
		int n, n2;

		memset(&r, 0, sizeof(r));
		r.index = rnd(&seed) >> (x % 64);
		r.type = x % 10 == 0 ? (uint32_t)rnd(&seed) : (uint32_t)(x % LOAFRE_CL_LAST);
		r.time = loafre_cl_time(rnd(&seed) % (1ull << 34), (uint32_t)(rnd(&seed) % (1u << 30)));
		r.flags = (uint16_t)(LOAFRE_CLF_VERSION | (rnd(&seed) & 0xfff));
		r.tfid = rnd_fid(&seed);
		if (x & 2) {
			r.pfid = rnd_fid(&seed);
			if (r.pfid.f_seq == 0 && r.pfid.f_oid == 0)
				r.pfid.f_oid = 1;
		}
		if (x & 4) {
			r.flags |= LOAFRE_CLF_JOBID;
			rnd_word(&seed, r.jobid, LOAFRE_JOBID_SIZE - 1);
		}
		if (x & 8) {
			r.flags |= LOAFRE_CLF_EXTRA_FLAGS;
			r.extra_flags = (x >> 8) & 0xf;
			if (r.extra_flags & LOAFRE_CLFE_UIDGID) {
				r.uid = rnd(&seed) >> (x % 64);
				r.gid = rnd(&seed) >> (x % 61);
			}
			if (r.extra_flags & LOAFRE_CLFE_NID)
				r.nid = nids[(x >> 12) % 6] ^ (rnd(&seed) & 0xffffffff);
			if (r.extra_flags & LOAFRE_CLFE_OPEN)
				r.openflags = modes[(x >> 16) % 5];
			if ((r.extra_flags & LOAFRE_CLFE_XATTR) && (x & 0x100000))
				rnd_word(&seed, r.xattr, 255);
		}
		if (x & 16) {
			r.namelen = rnd_name(&seed, tname, 255);
			r.name = tname;
		}
		if (x & 32) {
			r.flags |= LOAFRE_CLF_RENAME;
			r.sfid = rnd_fid(&seed);
			if (r.sfid.f_seq == 0 && r.sfid.f_oid == 0)
				r.sfid.f_seq = 1;
			r.spfid = rnd_fid(&seed);
			r.snamelen = x & 64 ? rnd_name(&seed, sname, 255) : 0;
			r.sname = sname;
			if (!r.name)
				r.name = "";
		}
		/* record -> text -> record */
		n = loafre_text_format(&r, line, sizeof(line));
		assert_true(n > 0);
		assert_int_equal(loafre_text_parse(line, (size_t)n, &p, NULL), 0);
		assert_rec_equal(&r, &p);
		/* text -> text */
		n2 = loafre_text_format(&p, line2, sizeof(line2));
		assert_int_equal(n2, n);
		assert_memory_equal(line, line2, (size_t)n);
		/* through the binary form */
		n2 = loafre_rec_encode(&p, bin, sizeof(bin));
		assert_true(n2 > 0);
		assert_int_equal(loafre_rec_decode(bin, (size_t)n2, &d, NULL), 0);
		n2 = loafre_text_format(&d, line2, sizeof(line2));
		assert_int_equal(n2, n);
		assert_memory_equal(line, line2, (size_t)n);
	}
}

/* The documented ambiguity rules, pinned. */
static void test_ambiguity_rules(void **state)
{
	char line[LOAFRE_TEXT_LINE_MAX], again[LOAFRE_TEXT_LINE_MAX];
	struct loafre_rec r, p;
	int n;

	(void)state;
	/* 1. A target name holding " s=[FID] sp=[FID] " is cut at the first one. */
	base_rec(&r);
	r.name = "a s=[0x1:0x2:0x0] sp=[0x1:0x1:0x0] b";
	r.namelen = (uint16_t)strlen(r.name);
	n = format_parse(&r, line, &p);
	assert_int_equal(p.namelen, 1);
	assert_memory_equal(p.name, "a", 1);
	assert_non_null(p.sname);
	assert_int_equal(p.snamelen, 1);
	assert_memory_equal(p.sname, "b", 1);
	assert_true(p.flags & LOAFRE_CLF_RENAME);
	assert_int_equal(p.sfid.f_oid, 2);
	/* ... but the line itself still survives parse -> format */
	assert_int_equal(loafre_text_format(&p, again, sizeof(again)), n);
	assert_string_equal(again, line);

	/* 2. The same text in a source name is kept whole (first one wins). */
	base_rec(&r);
	r.flags |= LOAFRE_CLF_RENAME;
	r.sfid = (struct loafre_fid){0x5, 0x5, 0};
	r.sname = "x s=[0x1:0x2:0x0] sp=[0x1:0x1:0x0] y";
	r.snamelen = (uint16_t)strlen(r.sname);
	format_parse(&r, line, &p);
	assert_rec_equal(&r, &p);

	/* 3. A zero-sfid look-alike is name text. */
	base_rec(&r);
	r.name = "a s=[0:0x0:0x3] sp=[0x1:0x1:0x0] b";
	r.namelen = (uint16_t)strlen(r.name);
	format_parse(&r, line, &p);
	assert_rec_equal(&r, &p);

	/* 4. Without p=, a name starting with a field key is read as the field. */
	base_rec(&r);
	r.pfid = (struct loafre_fid){0, 0, 0};
	r.name = "j=notajob";
	r.namelen = (uint16_t)strlen(r.name);
	n = format_parse(&r, line, &p);
	assert_int_equal(p.namelen, 0);
	assert_string_equal(p.jobid, "notajob");
	assert_int_equal(loafre_text_format(&p, again, sizeof(again)), n);
	assert_string_equal(again, line);
	/* ... and one that is not a valid field is an error, not a name */
	r.name = "u=1:2";
	r.namelen = 5;
	n = loafre_text_format(&r, line, sizeof(line));
	assert_int_equal(loafre_text_parse(line, (size_t)n, &p, NULL), -EINVAL);
	/* with a parent the same names are plain names */
	r.pfid = (struct loafre_fid){0x1, 0x1, 0};
	format_parse(&r, line, &p);
	assert_rec_equal(&r, &p);

	/* 5. A jobid with a space: the rest becomes name text, the line stays. */
	base_rec(&r);
	r.flags |= LOAFRE_CLF_JOBID;
	strcpy(r.jobid, "my job");
	n = format_parse(&r, line, &p);
	assert_string_equal(p.jobid, "my");
	assert_int_equal(loafre_text_format(&p, again, sizeof(again)), n);
	assert_string_equal(again, line);
}

/* loafre__json_quote: the escaping rule of the header of lib/text.c, and
 * -ENOSPC instead of a truncated string. */
static void test_json_quote(void **state)
{
	char buf[64], small[8];
	size_t len = 0;
	/* quote, backslash, tab, a control byte, DEL, valid UTF-8 (é), a lone
	 * continuation byte, an overlong encoding of '/' */
	const char in[] = "a\"b\\c\td\x01" "e\x7f\xc3\xa9\x80\xc0\xaf";

	(void)state;
	assert_int_equal(loafre__json_quote(in, sizeof(in) - 1, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\td\\u0001e\\u007f\xc3\xa9\\u0080\\u00c0\\u00af\"");
	assert_int_equal(len, strlen(buf));
	assert_int_equal(loafre__json_quote("", 0, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "\"\"");
	assert_int_equal(loafre__json_quote("abcdefgh", 8, small, sizeof(small), &len), -ENOSPC);
	/* exactly fitting: 6 bytes + 2 quotes + NUL = 9 > 8; 5 bytes fit */
	assert_int_equal(loafre__json_quote("abcde", 5, small, sizeof(small), &len), 0);
	assert_string_equal(small, "\"abcde\"");
	assert_int_equal(loafre__json_quote("abcdef", 6, small, sizeof(small), &len), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_roundtrip), cmocka_unit_test(test_golden_hex),
		cmocka_unit_test(test_bad_lines),        cmocka_unit_test(test_format_literals),
		cmocka_unit_test(test_format_buffer_size), cmocka_unit_test(test_utc_independence),
		cmocka_unit_test(test_json),             cmocka_unit_test(test_nid),
		cmocka_unit_test(test_json_quote),
		cmocka_unit_test(test_random_roundtrip), cmocka_unit_test(test_ambiguity_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
