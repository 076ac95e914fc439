/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_broker_proto.c — the broker wire protocol (lib/broker_proto.h):
 * round trips of every message, every HELLO error, the limits; the RECS
 * paths frame (round trip, every malformed entry, the count check).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker_proto.h"
#include "loafre/record.h"

static void roundtrip(const struct loafre__bp_msg *in, int frames, struct loafre__bp_msg *out)
{
	struct loafre__bp_frame f[LOAFRE__BP_MAX_FRAMES];
	uint8_t scratch[LOAFRE__BP_SCRATCH];
	char err[256] = "";

	assert_int_equal(loafre__bp_encode(in, f, scratch), frames);
	assert_int_equal(loafre__bp_decode(f, (size_t)frames, out, err, sizeof(err)), 0);
	assert_int_equal(out->cmd, in->cmd);
}

static void test_roundtrip_simple(void **state)
{
	struct loafre__bp_msg m = {0}, o;
	uint8_t ranges[3 * 16];

	m.cmd = LOAFRE__BP_HELLO;
	m.text = "group=idx credit=5";
	m.text_len = strlen(m.text);
	roundtrip(&m, 2, &o);
	assert_int_equal(o.text_len, m.text_len);
	assert_memory_equal(o.text, m.text, m.text_len);

	memset(&m, 0, sizeof(m));
	m.cmd = LOAFRE__BP_WELCOME;
	m.member = 0xdeadbeef;
	m.text = "demo-MDT0000=0,demo-MDT0001=1";
	m.text_len = strlen(m.text);
	roundtrip(&m, 3, &o);
	assert_int_equal(o.member, 0xdeadbeef);
	assert_memory_equal(o.text, m.text, m.text_len);

	memset(&m, 0, sizeof(m));
	m.cmd = LOAFRE__BP_ACK;
	m.mdt = 7;
	loafre__bp_ack_put(ranges, 0, 1, 1);
	loafre__bp_ack_put(ranges, 1, 5, 9);
	loafre__bp_ack_put(ranges, 2, UINT64_MAX - 1, UINT64_MAX);
	m.payload = ranges;
	m.n_ranges = 3;
	roundtrip(&m, 3, &o);
	assert_int_equal(o.mdt, 7);
	assert_int_equal(o.n_ranges, 3);
	uint64_t a, b;
	loafre__bp_ack_get(&o, 0, &a, &b);
	assert_true(a == 1 && b == 1);
	loafre__bp_ack_get(&o, 1, &a, &b);
	assert_true(a == 5 && b == 9);
	loafre__bp_ack_get(&o, 2, &a, &b);
	assert_true(a == UINT64_MAX - 1 && b == UINT64_MAX);

	memset(&m, 0, sizeof(m));
	m.cmd = LOAFRE__BP_CREDIT;
	m.credit = 4096;
	roundtrip(&m, 2, &o);
	assert_int_equal(o.credit, 4096);

	memset(&m, 0, sizeof(m));
	m.cmd = LOAFRE__BP_GAP;
	m.mdt = 3;
	m.lost = 123456789012ull;
	roundtrip(&m, 3, &o);
	assert_int_equal(o.mdt, 3);
	assert_true(o.lost == 123456789012ull);

	memset(&m, 0, sizeof(m));
	m.cmd = LOAFRE__BP_ERR;
	m.err = -EINVAL;
	m.text = "unknown option 'foo'";
	m.text_len = strlen(m.text);
	roundtrip(&m, 3, &o);
	assert_int_equal(o.err, -EINVAL);
	assert_memory_equal(o.text, m.text, m.text_len);

	for (int c = LOAFRE__BP_PING; c <= LOAFRE__BP_BYE; c++) {
		if (c == LOAFRE__BP_ERR)
			continue;
		memset(&m, 0, sizeof(m));
		m.cmd = (enum loafre__bp_cmd)c;
		roundtrip(&m, 1, &o);
	}
}

static void test_roundtrip_recs(void **state)
{
	uint8_t buf[3 * LOAFRE_REC_MAX_SIZE];
	size_t len = 0, off = 0;
	struct loafre_rec r, d;
	struct loafre__bp_msg m = {0}, o;
	const void *raw;
	size_t raw_len;

	for (int i = 0; i < 3; i++) {
		memset(&r, 0, sizeof(r));
		r.index = 100 + (uint64_t)i;
		r.type = LOAFRE_CL_CREATE;
		r.flags = LOAFRE_CLF_VERSION | (i == 1 ? LOAFRE_CLF_JOBID : 0);
		strcpy(r.jobid, "job");
		r.tfid.f_seq = 0x200000401ull;
		r.tfid.f_oid = (uint32_t)i + 1;
		r.name = "file";
		r.namelen = 4;
		int n = loafre_rec_encode(&r, buf + len, sizeof(buf) - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	m.cmd = LOAFRE__BP_RECS;
	m.mdt = 1;
	m.payload = buf;
	m.payload_len = len;
	roundtrip(&m, 3, &o);
	assert_int_equal(o.payload_len, len);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(loafre__bp_recs_next(o.payload, o.payload_len, &off, &d, &raw,
						      &raw_len),
				 1);
		assert_true(d.index == 100 + (uint64_t)i);
		assert_int_equal(d.tfid.f_oid, i + 1);
		assert_ptr_equal(raw, buf + off - raw_len);
	}
	assert_int_equal(loafre__bp_recs_next(o.payload, o.payload_len, &off, &d, NULL, NULL), 0);
	/* A truncated tail is an error, not a silent end. */
	off = 0;
	size_t cut = len - 3;
	int r1 = 1;
	while ((r1 = loafre__bp_recs_next(buf, cut, &off, &d, NULL, NULL)) == 1)
		;
	assert_int_equal(r1, -EBADMSG);
}

static int decode_raw(const char *cmd, const void *f1, size_t l1, const void *f2, size_t l2,
		      size_t n)
{
	struct loafre__bp_frame f[3] = {{cmd, strlen(cmd)}, {f1, l1}, {f2, l2}};
	struct loafre__bp_msg m;
	char err[256] = "";
	int r = loafre__bp_decode(f, n, &m, err, sizeof(err));
	if (r < 0)
		assert_true(err[0] != '\0'); /* every failure has a reason */
	return r;
}

static void test_decode_errors(void **state)
{
	static uint8_t big[LOAFRE__BP_ACK_RANGES_MAX * 16 + 16];
	uint8_t four[4] = {1, 0, 0, 0}, zero4[4] = {0}, eight[8] = {0}, r16[16];
	char hello[LOAFRE__BP_HELLO_MAX + 1];

	assert_int_equal(decode_raw("NOPE", NULL, 0, NULL, 0, 1), -EPROTO);
	assert_int_equal(decode_raw("ping", NULL, 0, NULL, 0, 1), -EPROTO);
	assert_int_equal(decode_raw("PING", four, 4, NULL, 0, 2), -EBADMSG);
	assert_int_equal(decode_raw("HELLO", NULL, 0, NULL, 0, 1), -EBADMSG);
	memset(hello, 'a', sizeof(hello));
	assert_int_equal(decode_raw("HELLO", hello, sizeof(hello), NULL, 0, 2), -EMSGSIZE);
	assert_int_equal(decode_raw("HELLO", hello, LOAFRE__BP_HELLO_MAX, NULL, 0, 2), 0);
	assert_int_equal(decode_raw("HELLO", "a\0b", 3, NULL, 0, 2), -EBADMSG);
	/* ACK */
	assert_int_equal(decode_raw("ACK", four, 3, r16, 16, 3), -EBADMSG);
	assert_int_equal(decode_raw("ACK", four, 4, r16, 15, 3), -EBADMSG);
	assert_int_equal(decode_raw("ACK", four, 4, r16, 0, 3), -EBADMSG);
	loafre__bp_ack_put(r16, 0, 0, 5);
	assert_int_equal(decode_raw("ACK", four, 4, r16, 16, 3), -EBADMSG);
	loafre__bp_ack_put(r16, 0, 6, 5);
	assert_int_equal(decode_raw("ACK", four, 4, r16, 16, 3), -EBADMSG);
	loafre__bp_ack_put(r16, 0, 5, 5);
	assert_int_equal(decode_raw("ACK", four, 4, r16, 16, 3), 0);
	/* ranges must be ascending and disjoint */
	{
		uint8_t two[32];
		loafre__bp_ack_put(two, 0, 5, 9);
		loafre__bp_ack_put(two, 1, 9, 12); /* overlaps */
		assert_int_equal(decode_raw("ACK", four, 4, two, 32, 3), -EBADMSG);
		loafre__bp_ack_put(two, 1, 1, 2); /* below */
		assert_int_equal(decode_raw("ACK", four, 4, two, 32, 3), -EBADMSG);
		loafre__bp_ack_put(two, 1, 10, 12);
		assert_int_equal(decode_raw("ACK", four, 4, two, 32, 3), 0);
	}
	for (size_t i = 0; i < sizeof(big) / 16; i++)
		loafre__bp_ack_put(big, i, 2 * i + 1, 2 * i + 2);
	assert_int_equal(decode_raw("ACK", four, 4, big, sizeof(big), 3), -EMSGSIZE);
	assert_int_equal(decode_raw("ACK", four, 4, big, sizeof(big) - 16, 3), 0);
	/* CREDIT */
	assert_int_equal(decode_raw("CREDIT", zero4, 4, NULL, 0, 2), -EBADMSG);
	assert_int_equal(decode_raw("CREDIT", four, 2, NULL, 0, 2), -EBADMSG);
	uint8_t over[4] = {1, 0, 0x10, 0}; /* 2^20 + 1 */
	assert_int_equal(decode_raw("CREDIT", over, 4, NULL, 0, 2), -EBADMSG);
	/* GAP, ERR, RECS, WELCOME */
	assert_int_equal(decode_raw("GAP", four, 4, eight, 7, 3), -EBADMSG);
	assert_int_equal(decode_raw("GAP", four, 4, eight, 8, 3), 0);
	assert_int_equal(decode_raw("ERR", four, 4, "x", 1, 3), -EBADMSG); /* errno > 0 */
	assert_int_equal(decode_raw("ERR", zero4, 4, "x", 1, 3), -EBADMSG);
	assert_int_equal(decode_raw("RECS", four, 4, "", 0, 3), -EBADMSG);
	assert_int_equal(decode_raw("WELCOME", four, 4, "a\0", 2, 3), -EBADMSG);
	assert_int_equal(decode_raw("WELCOME", four, 4, "", 0, 3), 0);

	/* the encoder refuses what would not decode */
	struct loafre__bp_msg m = {0};
	struct loafre__bp_frame f[3];
	uint8_t scratch[LOAFRE__BP_SCRATCH];
	m.cmd = LOAFRE__BP_CREDIT;
	assert_int_equal(loafre__bp_encode(&m, f, scratch), -EINVAL);
	m.cmd = 0;
	assert_int_equal(loafre__bp_encode(&m, f, scratch), -EINVAL);
	m.cmd = LOAFRE__BP_ERR;
	m.err = 5;
	assert_int_equal(loafre__bp_encode(&m, f, scratch), -EINVAL);
}

static void test_mdts(void **state)
{
	char buf[128];
	size_t len = 0, off = 0;
	char name[LOAFRE__BP_MDT_NAME_MAX + 1];
	uint32_t id;

	assert_int_equal(loafre__bp_mdts_append(buf, sizeof(buf), &len, "demo-MDT0000", 0), 0);
	assert_int_equal(loafre__bp_mdts_append(buf, sizeof(buf), &len, "lu-MDT0001", 4294967295u),
			 0);
	assert_string_equal(buf, "demo-MDT0000=0,lu-MDT0001=4294967295");
	assert_int_equal(loafre__bp_mdts_append(buf, sizeof(buf), &len, "bad name", 1), -EINVAL);
	assert_int_equal(loafre__bp_mdts_next(buf, len, &off, name, &id), 1);
	assert_string_equal(name, "demo-MDT0000");
	assert_int_equal(id, 0);
	assert_int_equal(loafre__bp_mdts_next(buf, len, &off, name, &id), 1);
	assert_string_equal(name, "lu-MDT0001");
	assert_int_equal(id, 4294967295u);
	assert_int_equal(loafre__bp_mdts_next(buf, len, &off, name, &id), 0);

	const char *bad[] = {"a=", "=1", "a=1,", "a=1,,b=2", "a=4294967296", "a=01", "a",
			     "a=1=2", "a b=1", "a=-1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;
		off = 0;
		while ((r = loafre__bp_mdts_next(bad[i], strlen(bad[i]), &off, name, &id)) == 1)
			;
		if (r != -EBADMSG)
			fail_msg("'%s' accepted", bad[i]);
	}
	char small[8];
	len = 0;
	assert_int_equal(loafre__bp_mdts_append(small, sizeof(small), &len, "demo-MDT0000", 0),
			 -ENOBUFS);
	assert_int_equal(len, 0);
}

static int hello(const char *s, struct loafre__bp_hello *h, char *err, size_t errlen)
{
	return loafre__bp_hello_parse(s, strlen(s), h, err, errlen);
}

static void test_hello_ok(void **state)
{
	struct loafre__bp_hello h, h2;
	char err[256], buf[LOAFRE__BP_HELLO_MAX + 1];
	uint16_t clf;
	uint64_t clfe;

	assert_int_equal(hello("group=idx", &h, err, sizeof(err)), 0);
	assert_false(h.ephemeral);
	assert_string_equal(h.group, "idx");
	assert_int_equal(h.start, LOAFRE__BP_START_DEFAULT);
	assert_int_equal(h.credit, 0);
	assert_false(h.has_fields);

	assert_int_equal(hello("\t ephemeral\n credit=1048576 heartbeat_ms=10 fields= ", &h, err,
			       sizeof(err)),
			 0);
	assert_true(h.ephemeral);
	assert_int_equal(h.credit, 1048576);
	assert_int_equal(h.heartbeat_ms, 10);
	assert_true(h.has_fields);
	assert_int_equal(h.fields, 0);

	assert_int_equal(hello("group=A_b-9abcdefghij start=newest fields=jobid,nid", &h, err,
			       sizeof(err)),
			 0);
	assert_string_equal(h.group, "A_b-9abcdefghij");
	assert_int_equal(h.start, LOAFRE__BP_START_NEWEST);
	assert_int_equal(h.fields, LOAFRE__BP_FIELD_JOBID | LOAFRE__BP_FIELD_NID);
	loafre__bp_fields_flags(h.fields, &clf, &clfe);
	assert_int_equal(clf, LOAFRE_CLF_RENAME | LOAFRE_CLF_JOBID | LOAFRE_CLF_EXTRA_FLAGS);
	assert_int_equal(clfe, LOAFRE_CLFE_NID);
	loafre__bp_fields_flags(0, &clf, &clfe);
	assert_int_equal(clf, LOAFRE_CLF_RENAME);
	assert_int_equal(clfe, 0);

	assert_int_equal(hello("start=demo-MDT0000:0,x-MDT0001:18446744073709551615 group=g "
			       "fields=all",
			       &h, err, sizeof(err)),
			 0);
	assert_int_equal(h.start, LOAFRE__BP_START_INDEX);
	assert_int_equal(h.n_starts, 2);
	assert_string_equal(h.starts[0].mdt, "demo-MDT0000");
	assert_true(h.starts[0].index == 0);
	assert_string_equal(h.starts[1].mdt, "x-MDT0001");
	assert_true(h.starts[1].index == UINT64_MAX);
	assert_int_equal(h.fields, LOAFRE__BP_FIELD_ALL);

	/* format → parse is the identity */
	int n = loafre__bp_hello_format(&h, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(loafre__bp_hello_parse(buf, (size_t)n, &h2, err, sizeof(err)), 0);
	assert_memory_equal(&h, &h2, sizeof(h));
	assert_int_equal(loafre__bp_hello_format(&h, buf, 10), -ENOBUFS);
	h.group[0] = '1';
	assert_int_equal(loafre__bp_hello_format(&h, buf, sizeof(buf)), -EINVAL);

	memset(&h, 0, sizeof(h));
	h.ephemeral = true;
	h.credit = 3;
	h.has_fields = true;
	n = loafre__bp_hello_format(&h, buf, sizeof(buf));
	assert_string_equal(buf, "ephemeral credit=3 fields=");
	h.start = LOAFRE__BP_START_OLDEST;
	assert_int_equal(loafre__bp_hello_format(&h, buf, sizeof(buf)), -EINVAL);

	/* 64 start entries fit in 4 KiB; the 65th is refused */
	size_t len = (size_t)snprintf(buf, sizeof(buf), "group=g start=");
	for (int i = 0; i < LOAFRE__BP_STARTS_MAX; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%sf-MDT%04x:%d",
					i ? "," : "", i, i);
	assert_int_equal(loafre__bp_hello_parse(buf, len, &h, err, sizeof(err)), 0);
	assert_int_equal(h.n_starts, LOAFRE__BP_STARTS_MAX);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",f-MDTffff:1");
	assert_int_equal(loafre__bp_hello_parse(buf, len, &h, err, sizeof(err)), -EINVAL);
}

static void test_hello_errors(void **state)
{
	static const struct {
		const char *s;
		const char *reason; /* substring of the reason */
	} bad[] = {
		{"", "required"},
		{"   ", "required"},
		{"credit=5", "required"},
		{"group=a ephemeral", "exclusive"},
		{"group=a group=b", "twice"},
		{"ephemeral ephemeral", "twice"},
		{"group=a bogus=1", "unknown option 'bogus'"},
		{"group=a verbose", "expected KEY=VALUE"},
		{"group=", "group: bad name"},
		{"group=1abc", "group: bad name"},
		{"group=abcdefghijklmnop", "group: bad name"}, /* 16 bytes */
		{"group=a.b", "group: bad name"},
		{"group=a credit=0", "credit"},
		{"group=a credit=1048577", "credit"},
		{"group=a credit=-1", "credit"},
		{"group=a credit=+1", "credit"},
		{"group=a credit=01", "credit"},
		{"group=a credit=", "credit"},
		{"group=a credit=99999999999999999999999", "credit"},
		{"group=a heartbeat_ms=9", "heartbeat_ms"},
		{"group=a heartbeat_ms=3600001", "heartbeat_ms"},
		{"group=a fields=jobid,", "trailing comma"},
		{"group=a fields=pid", "unknown field 'pid'"},
		{"group=a fields=,jobid", "unknown field ''"},
		{"group=a start=middle", "start"},
		{"group=a start=", "start"},
		{"group=a start=:5", "bad MDT name"},
		{"group=a start=m:x", "bad index"},
		{"group=a start=m:", "bad index"},
		{"group=a start=m:1,", "trailing comma"},
		{"group=a start=m:1,m:2", "twice"},
		{"group=a start=m/x:1", "bad MDT name"},
		{"ephemeral start=newest", "ephemeral"},
		{"group=a Group=b", "unknown option"},
		{"group=a paths=", "paths: bad filesystem name"},
		{"group=a paths=a/b", "paths: bad filesystem name"},
		{"group=a paths=a.b", "paths: bad filesystem name"},
		{"group=a paths=a paths=a", "twice"},
		{"group=a paths=0123456789012345678901234567890123456789012345678901234567890123",
		 "paths: bad filesystem name"}, /* 64 bytes */
		{"ephemeral paths=t", "paths: only for a group"},
	};
	struct loafre__bp_hello h;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		int r = hello(bad[i].s, &h, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, bad[i].reason))
			fail_msg("'%s': %d '%s', expected -EINVAL '%s'", bad[i].s, r, err,
				 bad[i].reason);
	}
	/* NUL inside, and the size limit */
	assert_int_equal(loafre__bp_hello_parse("group=a\0", 8, &h, err, sizeof(err)), -EINVAL);
	static char big[LOAFRE__BP_HELLO_MAX + 2];
	memset(big, ' ', sizeof(big));
	memcpy(big, "group=a", 7);
	assert_int_equal(loafre__bp_hello_parse(big, LOAFRE__BP_HELLO_MAX, &h, err, sizeof(err)),
			 0);
	assert_int_equal(
		loafre__bp_hello_parse(big, LOAFRE__BP_HELLO_MAX + 1, &h, err, sizeof(err)),
		-EMSGSIZE);
	/* a NULL err is fine */
	assert_int_equal(hello("nope=1", &h, NULL, 0), -EINVAL);
}

/* Three records (CREAT, RENME, MKDIR) for the paths tests. */
static size_t three_recs(uint8_t *buf, size_t cap)
{
	static const enum loafre_cl_type types[3] = {LOAFRE_CL_CREATE, LOAFRE_CL_RENAME,
						      LOAFRE_CL_MKDIR};
	size_t len = 0;

	for (int i = 0; i < 3; i++) {
		struct loafre_rec r;
		memset(&r, 0, sizeof(r));
		r.index = 10 + (uint64_t)i;
		r.type = types[i];
		r.flags = LOAFRE_CLF_VERSION | (i == 1 ? LOAFRE_CLF_RENAME : 0);
		r.tfid.f_seq = 0x200000401ull;
		r.tfid.f_oid = (uint32_t)i + 1;
		r.name = "n";
		r.namelen = 1;
		if (i == 1) {
			r.sfid = r.tfid;
			r.sname = "o";
			r.snamelen = 1;
		}
		int n = loafre_rec_encode(&r, buf + len, cap - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	return len;
}

static int decode_recs_paths(const void *recs, size_t rl, const void *paths, size_t pl,
			     struct loafre__bp_msg *m)
{
	uint8_t id[4] = {2, 0, 0, 0};
	struct loafre__bp_frame f[4] = {{"RECS", 4}, {id, 4}, {recs, rl}, {paths, pl}};
	char err[256] = "";
	int r = loafre__bp_decode(f, 4, m, err, sizeof(err));
	if (r < 0)
		assert_true(err[0] != '\0');
	return r;
}

static void test_recs_paths(void **state)
{
	uint8_t recs[3 * LOAFRE_REC_MAX_SIZE], pbuf[4096], bad[4096];
	size_t rl = three_recs(recs, sizeof(recs)), pl = 0, off = 0;
	struct loafre__bp_rec_paths e[3] = {
		{.flags = 0, .path = "/a/f", .path_len = 4},
		{.flags = 0x1 | 0x4, .path = "/b/d", .path_len = 4, .spath = "/a/d", .spath_len = 4},
		{.flags = 0x1, .path_err = -ENOENT},
	}, d;
	struct loafre__bp_msg m = {0}, o;

	for (int i = 0; i < 3; i++)
		assert_int_equal(loafre__bp_paths_put(pbuf, sizeof(pbuf), &pl, &e[i]), 0);
	assert_int_equal(pl, 3 * LOAFRE__BP_PATHS_HDR + 12);
	/* the header is little-endian: flags, path_err, spath_err, path_len, spath_len */
	assert_int_equal(pbuf[LOAFRE__BP_PATHS_HDR + 4 + 0], 5);
	assert_int_equal(pbuf[LOAFRE__BP_PATHS_HDR + 4 + 12], 4);
	assert_int_equal(pbuf[LOAFRE__BP_PATHS_HDR + 4 + 14], 4);
	m.cmd = LOAFRE__BP_RECS;
	m.mdt = 2;
	m.payload = recs;
	m.payload_len = rl;
	m.paths = pbuf;
	m.paths_len = pl;
	roundtrip(&m, 4, &o);
	assert_int_equal(o.n_paths, 3);
	assert_int_equal(o.paths_len, pl);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(loafre__bp_paths_next(o.paths, o.paths_len, &off, &d), 1);
		assert_int_equal(d.flags, e[i].flags);
		assert_int_equal(d.path_err, e[i].path_err);
		assert_int_equal(d.spath_err, e[i].spath_err);
		assert_int_equal(d.path_len, e[i].path_len);
		assert_int_equal(d.spath_len, e[i].spath_len);
		if (e[i].path_len)
			assert_memory_equal(d.path, e[i].path, e[i].path_len);
		else
			assert_null(d.path);
		if (e[i].spath_len)
			assert_memory_equal(d.spath, e[i].spath, e[i].spath_len);
		else
			assert_null(d.spath);
	}
	assert_int_equal(loafre__bp_paths_next(o.paths, o.paths_len, &off, &d), 0);
	/* without paths: 3 frames, n_paths 0, paths NULL */
	m.paths = NULL;
	roundtrip(&m, 3, &o);
	assert_null(o.paths);
	assert_int_equal(o.n_paths, 0);

	/* the count must match: 2 entries for 3 records, 4 for 3 */
	size_t two = 2 * LOAFRE__BP_PATHS_HDR + 12;
	assert_int_equal(decode_recs_paths(recs, rl, pbuf, two, &o), -EBADMSG);
	memcpy(bad, pbuf, pl);
	memcpy(bad + pl, pbuf, LOAFRE__BP_PATHS_HDR + 4);
	assert_int_equal(decode_recs_paths(recs, rl, bad, pl + LOAFRE__BP_PATHS_HDR + 4, &o),
			 -EBADMSG);
	assert_int_equal(decode_recs_paths(recs, rl, pbuf, pl, &o), 0);
	/* truncated: a short header, a short path */
	assert_int_equal(decode_recs_paths(recs, rl, pbuf, pl - 1, &o), -EBADMSG);
	assert_int_equal(decode_recs_paths(recs, rl, pbuf, 5, &o), -EBADMSG);
	assert_int_equal(decode_recs_paths(recs, rl, pbuf, 0, &o), -EBADMSG);
	/* a malformed record with paths is an error (they are counted) */
	memcpy(bad, recs, rl);
	assert_int_equal(decode_recs_paths(bad, rl - 2, pbuf, pl, &o), -EBADMSG);

	/* entry by entry: each bad field */
	static const struct {
		size_t at;   /* byte of the first entry to change */
		uint8_t val; /* new value */
	} pokes[] = {
		{0, 0x08},                       /* unknown flag */
		{3, 0x80},                       /* unknown flag (high bit) */
		{4, 0x01},                       /* path_err 1: positive */
		{4 + 3, 0x7f},                   /* path_err huge */
		{8, 0x02},                       /* spath_err positive */
		{LOAFRE__BP_PATHS_HDR, 'a'},     /* path not starting with '/' */
		{LOAFRE__BP_PATHS_HDR + 2, 0},   /* NUL in the path */
		{12, 0xff},                      /* path_len beyond the frame */
		{13, 0x10},                      /* path_len 4100 > 4095 */
	};
	for (size_t i = 0; i < sizeof(pokes) / sizeof(pokes[0]); i++) {
		memcpy(bad, pbuf, pl);
		bad[pokes[i].at] = pokes[i].val;
		if (decode_recs_paths(recs, rl, bad, pl, &o) != -EBADMSG)
			fail_msg("poke %zu (byte %zu = 0x%x) decoded", i, pokes[i].at, pokes[i].val);
	}
	/* a path with an error: the third entry (no path, -ENOENT) given a path */
	{
		size_t l2 = 0;
		struct loafre__bp_rec_paths x = {.path = "/x", .path_len = 2, .path_err = -ENOENT};
		assert_int_equal(loafre__bp_paths_put(bad, sizeof(bad), &l2, &x), -EINVAL);
		x.path_err = 0;
		x.path = "x";
		assert_int_equal(loafre__bp_paths_put(bad, sizeof(bad), &l2, &x), -EINVAL);
		x.path = "/x";
		x.flags = 0x10;
		assert_int_equal(loafre__bp_paths_put(bad, sizeof(bad), &l2, &x), -EINVAL);
		x.flags = 0;
		x.spath_err = 5;
		assert_int_equal(loafre__bp_paths_put(bad, sizeof(bad), &l2, &x), -EINVAL);
		x.spath_err = -4096;
		assert_int_equal(loafre__bp_paths_put(bad, sizeof(bad), &l2, &x), -EINVAL);
		x.spath_err = -4095;
		assert_int_equal(loafre__bp_paths_put(bad, sizeof(bad), &l2, &x), 0);
		/* no room */
		assert_int_equal(loafre__bp_paths_put(bad, l2 + LOAFRE__BP_PATHS_HDR + 1, &l2, &x),
				 -ENOBUFS);
		/* the longest path: 4095 bytes, not 4096 */
		static char longp[LOAFRE__BP_PATH_MAX + 1];
		static uint8_t lb[2 * (LOAFRE__BP_PATH_MAX + 1) + 64];
		memset(longp, 'a', sizeof(longp));
		longp[0] = '/';
		x.path = longp;
		x.path_len = LOAFRE__BP_PATH_MAX;
		l2 = 0;
		assert_int_equal(loafre__bp_paths_put(lb, sizeof(lb), &l2, &x), 0);
		x.path_len = LOAFRE__BP_PATH_MAX + 1;
		assert_int_equal(loafre__bp_paths_put(lb, sizeof(lb), &l2, &x), -EINVAL);
	}
	/* encode refuses what would not decode (a count mismatch) */
	{
		struct loafre__bp_frame f[LOAFRE__BP_MAX_FRAMES];
		uint8_t scratch[LOAFRE__BP_SCRATCH];
		m.paths = pbuf;
		m.paths_len = two;
		assert_int_equal(loafre__bp_encode(&m, f, scratch), -EINVAL);
	}
	/* 4 frames are for RECS only */
	{
		uint8_t id[4] = {0};
		struct loafre__bp_frame f[4] = {{"ACK", 3}, {id, 4}, {bad, 16}, {pbuf, pl}};
		char err[256];
		assert_int_equal(loafre__bp_decode(f, 4, &o, err, sizeof(err)), -EBADMSG);
	}
}

static void test_hello_paths(void **state)
{
	struct loafre__bp_hello h, h2;
	char err[256], buf[512];
	int n;

	assert_int_equal(hello("group=rep-a paths=demo_fs-1", &h, err, sizeof(err)), 0);
	assert_string_equal(h.paths, "demo_fs-1");
	n = loafre__bp_hello_format(&h, buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, " paths=demo_fs-1"));
	assert_int_equal(loafre__bp_hello_parse(buf, (size_t)n, &h2, err, sizeof(err)), 0);
	assert_memory_equal(&h, &h2, sizeof(h));
	assert_int_equal(hello("group=a", &h, err, sizeof(err)), 0);
	assert_string_equal(h.paths, "");
	/* 63 bytes: the longest */
	assert_int_equal(
		hello("group=a paths=012345678901234567890123456789012345678901234567890123456789012",
		      &h, err, sizeof(err)),
		0);
	assert_int_equal(strlen(h.paths), 63);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recs_paths), cmocka_unit_test(test_hello_paths),
		cmocka_unit_test(test_roundtrip_simple), cmocka_unit_test(test_roundtrip_recs),
		cmocka_unit_test(test_decode_errors),    cmocka_unit_test(test_mdts),
		cmocka_unit_test(test_hello_ok),         cmocka_unit_test(test_hello_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
