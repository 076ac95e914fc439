/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* test_record.c — binary record codec, remap, FIDs, type names and masks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loafre/record.h"
#include "rec_equal.h"

/* Builds a record with every field set to a recognisable value and the
 * extensions selected by clf/clfe. */
static void make_rec(struct loafre_rec *r, uint32_t type, uint16_t clf, uint64_t clfe,
		     const char *name, const char *sname)
{
	memset(r, 0, sizeof(*r));
	r->index = 0x1122334455667788ull;
	r->prev = 7;
	r->time = loafre_cl_time(1763764974, 123456789);
	r->type = type;
	r->flags = (uint16_t)(LOAFRE_CLF_VERSION | clf | 0x001);
	r->tfid = (struct loafre_fid){0x200000401ull, 0x2a, 0};
	r->pfid = (struct loafre_fid){0x200000007ull, 0x1, 0};
	if (clf & LOAFRE_CLF_RENAME) {
		r->sfid = (struct loafre_fid){0x200000402ull, 0x3, 0};
		r->spfid = (struct loafre_fid){0x200000403ull, 0x4, 0};
	}
	if (clf & LOAFRE_CLF_JOBID)
		strcpy(r->jobid, "slurm.12345");
	if (clf & LOAFRE_CLF_EXTRA_FLAGS) {
		r->extra_flags = clfe;
		if (clfe & LOAFRE_CLFE_UIDGID) {
			r->uid = 500;
			r->gid = 501;
		}
		if (clfe & LOAFRE_CLFE_NID)
			r->nid = 0x00020000c0a80102ull;
		if (clfe & LOAFRE_CLFE_OPEN)
			r->openflags = 03;
		if (clfe & LOAFRE_CLFE_XATTR)
			strcpy(r->xattr, "user.comment");
	}
	r->name = name;
	r->namelen = name ? (uint16_t)strlen(name) : 0;
	r->sname = sname;
	r->snamelen = sname ? (uint16_t)strlen(sname) : 0;
}

/* make_rec's fullest record, a RENME "old" -> "new" with every extension,
 * encoded into buf (LOAFRE_REC_MAX_SIZE bytes): its size. */
static int encode_full(struct loafre_rec *r, uint8_t *buf)
{
	make_rec(r, LOAFRE_CL_RENAME, LOAFRE_CLF_RENAME | LOAFRE_CLF_JOBID | LOAFRE_CLF_EXTRA_FLAGS,
		 LOAFRE_CLFE_SUPPORTED, "new", "old");
	return loafre_rec_encode(r, buf, LOAFRE_REC_MAX_SIZE);
}

static void test_header_layout(void **state)
{
	uint8_t buf[LOAFRE_REC_MAX_SIZE];
	struct loafre_rec r;
	int n;

	(void)state;
	make_rec(&r, LOAFRE_CL_CREATE, 0, 0, "hosts", NULL);
	n = loafre_rec_encode(&r, buf, sizeof(buf));
	assert_int_equal(n, 64 + 5);
	/* Byte offsets as in Lustre's struct changelog_rec, little-endian. */
	assert_int_equal(buf[0] | buf[1] << 8, 5);                   /* cr_namelen */
	assert_int_equal(buf[2] | buf[3] << 8, 0x1001);              /* cr_flags */
	assert_int_equal(buf[4], 1);                                 /* cr_type */
	assert_int_equal(buf[8], 0x88);                              /* cr_index LSB */
	assert_int_equal(buf[15], 0x11);                             /* cr_index MSB */
	assert_int_equal(buf[16], 7);                                /* cr_prev */
	assert_int_equal(buf[32], 0x01);                             /* tfid seq LSB */
	assert_int_equal(buf[36], 0x02);                             /* tfid seq byte 4 */
	assert_int_equal(buf[40], 0x2a);                             /* tfid oid */
	assert_int_equal(buf[48], 0x07);                             /* pfid seq */
	assert_memory_equal(buf + 64, "hosts", 5);
}

static void test_extension_offsets(void **state)
{
	(void)state;
	assert_int_equal(loafre_rec_offset(LOAFRE_CLF_VERSION, 0), 64);
	assert_int_equal(loafre_rec_offset(LOAFRE_CLF_RENAME, 0), 96);
	assert_int_equal(loafre_rec_offset(LOAFRE_CLF_RENAME | LOAFRE_CLF_JOBID, 0), 128);
	assert_int_equal(loafre_rec_offset(LOAFRE_CLF_EXTRA_FLAGS, 0), 72);
	assert_int_equal(loafre_rec_offset(LOAFRE_CLF_EXTRA_FLAGS, LOAFRE_CLFE_UIDGID), 88);
	assert_int_equal(loafre_rec_offset(LOAFRE_CLF_EXTRA_FLAGS, LOAFRE_CLFE_NID), 96);
	assert_int_equal(loafre_rec_offset(LOAFRE_CLF_EXTRA_FLAGS, LOAFRE_CLFE_OPEN), 76);
	assert_int_equal(loafre_rec_offset(LOAFRE_CLF_EXTRA_FLAGS, LOAFRE_CLFE_XATTR), 328);
	/* Everything: 64+32+32+8+16+24+4+256 = 436; Lustre's CR_MAXSIZE is
	 * that plus two names and two NULs, rounded up to 8: 952. */
	assert_int_equal(loafre_rec_offset(LOAFRE_CLF_SUPPORTED, LOAFRE_CLFE_SUPPORTED), 436);
	assert_int_equal(LOAFRE_REC_MAX_SIZE, 436 + 512);
}

/* Every type, with every combination of extensions and extra extensions,
 * with and without names and rename source names: encode, decode, compare,
 * re-encode byte-identical. */
static void test_roundtrip_all_combinations(void **state)
{
	static const char *const names[] = {NULL, "a", "file with spaces", "\xc3\xa9t\xc3\xa9"};
	uint8_t buf[LOAFRE_REC_MAX_SIZE], buf2[LOAFRE_REC_MAX_SIZE];
	unsigned count = 0;

	(void)state;
	for (uint32_t type = 0; type < LOAFRE_CL_LAST; type++)
		for (unsigned clf = 0; clf < 8; clf++)
			for (uint64_t clfe = 0; clfe < 16; clfe++)
				for (unsigned ni = 0; ni < 4; ni++)
					for (unsigned withs = 0; withs < 2; withs++) {
						uint16_t f = (uint16_t)(clf << 13);
						struct loafre_rec r, d;
						size_t used;
						int n, n2;

						if (!(f & LOAFRE_CLF_EXTRA_FLAGS) && clfe)
							continue;
						make_rec(&r, type, f, clfe, names[ni],
							 withs ? "old name" : NULL);
						if (withs && !names[ni])
							r.name = "", r.namelen = 0;
						n = loafre_rec_encode(&r, buf, sizeof(buf));
						assert_true(n > 0);
						assert_int_equal((size_t)n, loafre_rec_size(&r));
						assert_int_equal(loafre_rec_decode(buf, (size_t)n, &d, &used), 0);
						assert_int_equal(used, (size_t)n);
						assert_rec_equal(&r, &d);
						n2 = loafre_rec_encode(&d, buf2, sizeof(buf2));
						assert_int_equal(n2, n);
						assert_memory_equal(buf, buf2, (size_t)n);
						count++;
					}
	assert_true(count > 10000);
}

/* Every strict prefix of a valid record is rejected, never read past. */
static void test_truncation_rejected(void **state)
{
	uint8_t buf[LOAFRE_REC_MAX_SIZE];
	struct loafre_rec r, d;
	int n;

	(void)state;
	n = encode_full(&r, buf);
	assert_true(n > 0);
	for (int len = 0; len < n; len++) {
		/* Copy into an exact-size heap block so ASan sees any overread. */
		uint8_t *p = malloc(len ? (size_t)len : 1);
		memcpy(p, buf, (size_t)len);
		assert_int_equal(loafre_rec_decode(p, (size_t)len, &d, NULL), -EBADMSG);
		free(p);
	}
}

static void test_malformed_rejected(void **state)
{
	uint8_t buf[LOAFRE_REC_MAX_SIZE];
	struct loafre_rec r, d;
	int n;

	(void)state;
	/* jobid without NUL */
	make_rec(&r, LOAFRE_CL_CREATE, LOAFRE_CLF_JOBID, 0, "x", NULL);
	n = loafre_rec_encode(&r, buf, sizeof(buf));
	memset(buf + 64, 'A', 32);
	assert_int_equal(loafre_rec_decode(buf, (size_t)n, &d, NULL), -EBADMSG);
	/* unknown extra flag bit: layout unknowable */
	make_rec(&r, LOAFRE_CL_CREATE, LOAFRE_CLF_EXTRA_FLAGS, 0, "x", NULL);
	n = loafre_rec_encode(&r, buf, sizeof(buf));
	buf[64] = 0x20;
	assert_int_equal(loafre_rec_decode(buf, (size_t)n, &d, NULL), -EBADMSG);
	/* two NULs in the name area */
	make_rec(&r, LOAFRE_CL_RENAME, LOAFRE_CLF_RENAME, 0, "ab", "cd");
	n = loafre_rec_encode(&r, buf, sizeof(buf));
	buf[n - 1] = '\0';
	assert_int_equal(loafre_rec_decode(buf, (size_t)n, &d, NULL), -EBADMSG);
	/* namelen beyond the buffer */
	make_rec(&r, LOAFRE_CL_CREATE, 0, 0, "abc", NULL);
	n = loafre_rec_encode(&r, buf, sizeof(buf));
	buf[0] = 200;
	assert_int_equal(loafre_rec_decode(buf, (size_t)n, &d, NULL), -EBADMSG);
	/* encoder refuses what it cannot represent */
	make_rec(&r, LOAFRE_CL_CREATE, LOAFRE_CLF_JOBID, 0, "abc", NULL);
	memset(r.jobid, 'j', sizeof(r.jobid));
	assert_int_equal(loafre_rec_encode(&r, buf, sizeof(buf)), -EINVAL);
	make_rec(&r, LOAFRE_CL_CREATE, 0, 0, "abc", NULL);
	assert_int_equal(loafre_rec_encode(&r, buf, 10), -ENOBUFS);
	r.name = "a\0b";
	r.namelen = 3;
	assert_int_equal(loafre_rec_encode(&r, buf, sizeof(buf)), -EINVAL);
	/* names are bounded by NAME_MAX both ways */
	{
		char longname[300];
		memset(longname, 'n', sizeof(longname));
		r.name = longname;
		r.namelen = 256;
		assert_int_equal(loafre_rec_encode(&r, buf, sizeof(buf)), -EINVAL);
		r.namelen = 255;
		n = loafre_rec_encode(&r, buf, sizeof(buf));
		assert_int_equal(n, 64 + 255);
		assert_int_equal(loafre_rec_decode(buf, (size_t)n, &d, NULL), 0);
		buf[0] = 0;
		buf[1] = 1; /* cr_namelen 256, with the bytes present */
		memset(buf + 64, 'n', 256);
		assert_int_equal(loafre_rec_decode(buf, 64 + 256, &d, NULL), -EBADMSG);
	}
}

static void test_remap(void **state)
{
	uint8_t buf[LOAFRE_REC_MAX_SIZE];
	struct loafre_rec r, d;
	int n;

	(void)state;
	/* Full record remapped down to uid/gid only. */
	n = encode_full(&r, buf);
	n = loafre_rec_remap_buf(buf, (size_t)n, sizeof(buf), LOAFRE_CLF_RENAME | LOAFRE_CLF_EXTRA_FLAGS,
				 LOAFRE_CLFE_UIDGID);
	assert_int_equal(n, 64 + 32 + 8 + 16 + 7); /* "new\0old" */
	assert_int_equal(loafre_rec_decode(buf, (size_t)n, &d, NULL), 0);
	assert_int_equal(d.flags, LOAFRE_CLF_VERSION | LOAFRE_CLF_RENAME | LOAFRE_CLF_EXTRA_FLAGS | 1);
	assert_int_equal(d.extra_flags, LOAFRE_CLFE_UIDGID);
	assert_int_equal(d.uid, 500);
	assert_int_equal(d.nid, 0);
	assert_string_equal(d.jobid, "");
	assert_true(loafre_fid_equal(&d.sfid, &r.sfid));
	assert_memory_equal(d.name, "new", 3);
	assert_memory_equal(d.sname, "old", 3);

	/* Bare record remapped up: added fields are present and zero. */
	make_rec(&r, LOAFRE_CL_MKDIR, 0, 0, "dir", NULL);
	n = loafre_rec_encode(&r, buf, sizeof(buf));
	n = loafre_rec_remap_buf(buf, (size_t)n, sizeof(buf), LOAFRE_CLF_SUPPORTED,
				 LOAFRE_CLFE_SUPPORTED);
	assert_int_equal(n, 436 + 3);
	assert_int_equal(loafre_rec_decode(buf, (size_t)n, &d, NULL), 0);
	assert_int_equal(d.extra_flags, LOAFRE_CLFE_SUPPORTED);
	assert_true(loafre_fid_is_zero(&d.sfid));
	assert_int_equal(d.uid, 0);
	assert_string_equal(d.xattr, "");
	assert_memory_equal(d.name, "dir", 3);
	assert_null(d.sname);

	/* No room: -ENOBUFS, and the buffer still decodes as before. */
	make_rec(&r, LOAFRE_CL_MKDIR, 0, 0, "dir", NULL);
	n = loafre_rec_encode(&r, buf, sizeof(buf));
	assert_int_equal(loafre_rec_remap_buf(buf, (size_t)n, (size_t)n, LOAFRE_CLF_JOBID, 0), -ENOBUFS);
	assert_int_equal(loafre_rec_decode(buf, (size_t)n, &d, NULL), 0);
	assert_memory_equal(d.name, "dir", 3);
}

static void test_fid_text(void **state)
{
	struct loafre_fid f = {0x200000401ull, 0x1, 0x0}, g;
	char buf[LOAFRE_FID_STRLEN];

	(void)state;
	assert_int_equal(loafre_fid_format(&f, buf), 21);
	assert_string_equal(buf, "[0x200000401:0x1:0x0]");
	f = (struct loafre_fid){0, 0, 0};
	loafre_fid_format(&f, buf);
	assert_string_equal(buf, "[0:0x0:0x0]");
	f = (struct loafre_fid){UINT64_MAX, UINT32_MAX, UINT32_MAX};
	assert_true(loafre_fid_format(&f, buf) < LOAFRE_FID_STRLEN);
	assert_int_equal(loafre_fid_parse(buf, strlen(buf), &g), 0);
	assert_true(loafre_fid_equal(&f, &g));
	assert_int_equal(loafre_fid_parse("[0:0x0:0x0]", 11, &g), 0);
	assert_true(loafre_fid_is_zero(&g));
	assert_int_equal(loafre_fid_parse("0x2:0x3:0x0", 11, &g), 0);
	assert_int_equal(g.f_oid, 3);
	assert_int_equal(loafre_fid_parse("[0x2:0x3]", 9, &g), -EINVAL);
	assert_int_equal(loafre_fid_parse("[0x2:0x3:0x0:0x1]", 17, &g), -EINVAL);
	assert_int_equal(loafre_fid_parse("[0x2:0x100000000:0x0]", 21, &g), -EINVAL);
	assert_int_equal(loafre_fid_parse("[0xg:0x1:0x0]", 13, &g), -EINVAL);
	assert_int_equal(loafre_fid_parse("[:0x1:0x0]", 10, &g), -EINVAL);
}

static void test_type_names(void **state)
{
	static const char *const expect[] = {
		"MARK", "CREAT", "MKDIR", "HLINK", "SLINK", "MKNOD", "UNLNK", "RMDIR", "RENME",
		"RNMTO", "OPEN", "CLOSE", "LYOUT", "TRUNC", "SATTR", "XATTR", "HSM", "MTIME",
		"CTIME", "ATIME", "MIGRT", "FLRW", "RESYNC", "GXATR", "NOPEN"};

	(void)state;
	for (uint32_t t = 0; t < LOAFRE_CL_LAST; t++) {
		assert_string_equal(loafre_cl_type_name(t), expect[t]);
		assert_int_equal(loafre_cl_type_from_name(expect[t], strlen(expect[t])), (int)t);
	}
	assert_null(loafre_cl_type_name(LOAFRE_CL_LAST));
	assert_int_equal(loafre_cl_type_from_name("CREATE", 6), -EINVAL);
}

static void test_masks(void **state)
{
	char buf[512];
	uint32_t m;

	(void)state;
	assert_int_equal(loafre_cl_mask_default(), 0x077fbff);
	assert_int_equal(loafre_cl_mask_parse("CREAT MKDIR", 0, &m), 0);
	assert_int_equal(m, LOAFRE_CL_MASK_MIN | 1u << 1 | 1u << 2);
	assert_int_equal(loafre_cl_mask_parse("creat,unlnk", 0, &m), 0);
	assert_int_equal(m, LOAFRE_CL_MASK_MIN | 1u << 1 | 1u << 6);
	assert_int_equal(loafre_cl_mask_parse("-CLOSE", loafre_cl_mask_default(), &m), 0);
	assert_int_equal(m, loafre_cl_mask_default() & ~(1u << LOAFRE_CL_CLOSE));
	assert_int_equal(loafre_cl_mask_parse("+ATIME OPEN", loafre_cl_mask_default(), &m), 0);
	assert_int_equal(m, loafre_cl_mask_default() | 1u << 19 | 1u << 10);
	assert_int_equal(loafre_cl_mask_parse("ALL -ATIME", 0, &m), 0);
	assert_int_equal(m, LOAFRE_CL_MASK_ALL & ~(1u << 19));
	assert_int_equal(loafre_cl_mask_parse("DEFAULT", 0, &m), 0);
	assert_int_equal(m, loafre_cl_mask_default());
	assert_int_equal(loafre_cl_mask_parse("-ALL", 0xff, &m), 0);
	assert_int_equal(m, LOAFRE_CL_MASK_MIN);
	assert_int_equal(loafre_cl_mask_parse("CREAT BOGUS", 0, &m), -EINVAL);
	assert_int_equal(loafre_cl_mask_parse("CREAT +", 0, &m), -EINVAL);
	assert_int_equal(loafre_cl_mask_parse("", 0, &m), -EINVAL);
	assert_int_equal(loafre_cl_mask_format(1u << 1 | 1u << 2 | 1u << 22, ' ', buf, sizeof(buf)), 18);
	assert_string_equal(buf, "CREAT MKDIR RESYNC");
	loafre_cl_mask_format(1u << 1 | 1u << 6, ',', buf, sizeof(buf));
	assert_string_equal(buf, "CREAT,UNLNK");
	assert_int_equal(loafre_cl_mask_format(LOAFRE_CL_MASK_ALL, ' ', buf, 8), -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_extension_offsets),
		cmocka_unit_test(test_roundtrip_all_combinations),
		cmocka_unit_test(test_truncation_rejected),
		cmocka_unit_test(test_malformed_rejected),
		cmocka_unit_test(test_remap),
		cmocka_unit_test(test_fid_text),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_masks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
