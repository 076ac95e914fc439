/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_modules.c — the processing pipeline (loafre/modules.h), table-driven.
 *
 * Each semantic case is an input sequence of short record specs (type,
 * index, tfid oid, pfid oid, flags, sfid oid, spfid oid — FIDs are
 * [0x200000401:oid:0], oid 0 = zero FID), a module list, the expected
 * delivered indices and the expected cover map: one token per input record,
 * "." delivered, "n" ack now, or the cr_index of the covering record.
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

#include "loafre/modules.h"
#include "loafre/record.h"

/* The tables give short specs: unset trailing fields are zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define SEQ 0x200000401ull

struct rspec {
	uint32_t type; /* LOAFRE_CL_* */
	uint64_t idx;  /* cr_index; 0 ends the list */
	uint32_t t;    /* tfid oid */
	uint32_t p;    /* pfid oid */
	uint16_t fl;   /* low flag bits */
	uint32_t s;    /* sfid oid (renames) */
	uint32_t sp;   /* spfid oid (renames) */
};

struct mcase {
	const char *name;         /* what the case checks */
	const char *mods[8];      /* module specs, NULL-terminated */
	struct rspec in[24];      /* records, idx 0 terminates */
	int ret;                  /* expected process() result */
	uint64_t deliver[24];     /* expected delivered indices, 0 terminates */
	const char *cover;        /* expected cover tokens */
};

static struct loafre_fid fid(uint32_t oid)
{
	return oid ? (struct loafre_fid){SEQ, oid, 0} : (struct loafre_fid){0, 0, 0};
}

static void build(struct loafre_rec *r, const struct rspec *s)
{
	memset(r, 0, sizeof(*r));
	r->index = s->idx;
	r->type = s->type;
	r->time = loafre_cl_time(1763764974, 0);
	r->flags = (uint16_t)(LOAFRE_CLF_VERSION | s->fl);
	r->tfid = fid(s->t);
	r->pfid = fid(s->p);
	r->name = "n";
	r->namelen = 1;
	if (s->type == LOAFRE_CL_RENAME) {
		r->flags |= LOAFRE_CLF_RENAME;
		r->sfid = fid(s->s);
		r->spfid = fid(s->sp);
		r->sname = "o";
		r->snamelen = 1;
	}
}

/* Fake tree: parent of each oid (0 = root/unknown). Oid 999 fails. */
static const uint32_t parent_of[64] = {
	[11] = 10, [12] = 11, [13] = 11, [14] = 12, [21] = 20, [22] = 21,
};

static int fake_under(void *ctx, const struct loafre_fid *dir, const struct loafre_fid *obj)
{
	int *calls = ctx;
	uint32_t o = obj->f_oid;

	if (calls)
		(*calls)++;
	if (o == 999)
		return -EIO;
	for (int depth = 0; depth < 16 && o && o < 64; depth++) {
		o = parent_of[o];
		if (o == dir->f_oid)
			return 1;
	}
	return 0;
}

#define CR LOAFRE_CL_CREATE
#define MKD LOAFRE_CL_MKDIR
#define HLK LOAFRE_CL_HARDLINK
#define SLK LOAFRE_CL_SOFTLINK
#define MKN LOAFRE_CL_MKNOD
#define UNL LOAFRE_CL_UNLINK
#define RMD LOAFRE_CL_RMDIR
#define REN LOAFRE_CL_RENAME
#define CLO LOAFRE_CL_CLOSE
#define TRU LOAFRE_CL_TRUNC
#define SAT LOAFRE_CL_SETATTR
#define XAT LOAFRE_CL_SETXATTR
#define MTI LOAFRE_CL_MTIME
#define CTI LOAFRE_CL_CTIME
#define MRK LOAFRE_CL_MARK
#define LST LOAFRE_CLF_UNLINK_LAST

static const struct mcase cases[] = {
	{"no modules: everything delivered", {NULL},
	 {{CR, 1, 5, 1}, {CLO, 2, 5}, {UNL, 3, 5, 1, LST}},
	 0, {1, 2, 3}, ". . ."},
	{"types absolute mask keeps MARK", {"types = CREAT UNLNK"},
	 {{MRK, 1}, {CR, 2, 5, 1}, {CLO, 3, 5}, {MTI, 4, 5}, {UNL, 5, 5, 1, LST}},
	 0, {1, 2, 5}, ". . n n ."},
	{"types relative mask", {"types = -CLOSE -MTIME"},
	 {{MRK, 1}, {CR, 2, 5, 1}, {CLO, 3, 5}, {MTI, 4, 5}, {SAT, 5, 5}},
	 0, {1, 2, 5}, ". . n n ."},
	{"fid filter: tfid, pfid, sfid roles", {"fid = [0x200000401:0x7:0x0],[0x200000401:0x9:0x0]"},
	 {{CR, 1, 7, 1}, {CR, 2, 8, 9}, {CR, 3, 8, 1}, {REN, 4, 0, 2, 0, 7, 2},
	  {MRK, 5}, {SAT, 6, 6}},
	 0, {1, 2, 4, 5}, ". . n . . n"},
	{"subtree: descendants kept, others ack now", {"subtree = [0x200000401:0xa:0x0]"},
	 {{CR, 1, 12, 11}, {CR, 2, 22, 21}, {UNL, 3, 30, 11, LST}, {MRK, 4}, {SAT, 5, 10},
	  {REN, 6, 0, 20, 0, 21, 12}, {MTI, 7, 40}},
	 0, {1, 3, 4, 5, 6}, ". n . . . . n"},
	{"subtree callback error fails the batch", {"subtree = [0x200000401:0xa:0x0]"},
	 {{CR, 1, 999, 33}},
	 -EIO, {0}, NULL},
	{"cancel CREAT..UNLNK with data records between", {"cancel"},
	 {{CR, 1, 5, 1}, {CLO, 2, 5}, {MTI, 3, 5}, {CR, 4, 6, 1}, {SAT, 5, 5}, {XAT, 6, 5},
	  {UNL, 7, 5, 1, LST}, {CLO, 8, 6}},
	 0, {4, 8}, "n n n . n n n ."},
	{"cancel MKDIR..RMDIR", {"cancel"},
	 {{MKD, 1, 5, 1}, {SAT, 2, 5}, {RMD, 3, 5, 1, LST}},
	 0, {0}, "n n n"},
	{"cancel SLINK..UNLNK and MKNOD..UNLNK", {"cancel"},
	 {{SLK, 1, 5, 1}, {MKN, 2, 6, 1}, {UNL, 3, 6, 1, LST}, {UNL, 4, 5, 1, LST}},
	 0, {0}, "n n n n"},
	{"cancel blocked by a rename of the FID", {"cancel"},
	 {{CR, 1, 5, 1}, {REN, 2, 0, 2, 0, 5, 1}, {UNL, 3, 5, 2, LST}},
	 0, {1, 2, 3}, ". . ."},
	{"cancel blocked by a hard link", {"cancel"},
	 {{CR, 1, 5, 1}, {HLK, 2, 5, 2}, {UNL, 3, 5, 1, 0}, {UNL, 4, 5, 2, LST}},
	 0, {1, 2, 3, 4}, ". . . ."},
	{"cancel blocked by a child created in the new directory", {"cancel"},
	 {{MKD, 1, 5, 1}, {CR, 2, 6, 5}, {UNL, 3, 6, 5, LST}, {RMD, 4, 5, 1, LST}},
	 0, {1, 4}, ". n n ."},
	{"non-last unlink cancels nothing", {"cancel"},
	 {{CR, 1, 5, 1}, {CLO, 2, 5}, {UNL, 3, 5, 1, 0}},
	 0, {1, 2, 3}, ". . ."},
	{"CREAT..RMDIR mismatch cancels nothing", {"cancel"},
	 {{CR, 1, 5, 1}, {RMD, 2, 5, 1, LST}},
	 0, {1, 2}, ". ."},
	{"UNLNK without its creation in the window", {"cancel"},
	 {{CLO, 1, 5}, {UNL, 2, 5, 1, LST}},
	 0, {1, 2}, ". ."},
	{"cancel: records after the UNLNK are outside the pair", {"cancel"},
	 {{CR, 1, 5, 1}, {UNL, 2, 5, 1, LST}, {MRK, 3}, {CR, 4, 7, 1}},
	 0, {3, 4}, "n n . ."},
	{"collapse: CREAT kept, last data record kept", {"collapse"},
	 {{CR, 1, 5, 1}, {CLO, 2, 5}, {MTI, 3, 5}, {TRU, 4, 5}, {CLO, 5, 5}},
	 0, {1, 5}, ". 5 5 5 ."},
	{"collapse: interleaved FIDs", {"collapse"},
	 {{MTI, 1, 5}, {MTI, 2, 6}, {CLO, 3, 5}, {MRK, 4}, {CLO, 5, 6}, {MTI, 6, 7}},
	 0, {3, 4, 5, 6}, "3 5 . . . ."},
	{"collapse run broken by a rename", {"collapse"},
	 {{MTI, 1, 5}, {MTI, 2, 5}, {REN, 3, 0, 2, 0, 5, 1}, {MTI, 4, 5}, {CLO, 5, 5}},
	 0, {2, 3, 5}, "2 . . 5 ."},
	{"collapse run broken by hard link and unlink", {"collapse"},
	 {{MTI, 1, 5}, {HLK, 2, 5, 2}, {MTI, 3, 5}, {UNL, 4, 5, 2, 0}, {MTI, 5, 5}},
	 0, {1, 2, 3, 4, 5}, ". . . . ."},
	{"collapse: SATTR/CTIME a separate run", {"collapse"},
	 {{SAT, 1, 5}, {MTI, 2, 5}, {CTI, 3, 5}, {CLO, 4, 5}, {SAT, 5, 5}, {XAT, 6, 5}},
	 0, {4, 5, 6}, "5 4 5 . . ."},
	{"collapse then cancel: the absorbed record becomes ack now", {"collapse", "cancel"},
	 {{CR, 1, 5, 1}, {MTI, 2, 5}, {MTI, 3, 5}, {UNL, 4, 5, 1, LST}},
	 0, {0}, "n n n n"},
	{"order: type filter before cancel hides the UNLNK",
	 {"types = ALL -UNLNK", "cancel"},
	 {{CR, 1, 5, 1}, {CLO, 2, 5}, {UNL, 3, 5, 1, LST}},
	 0, {1, 2}, ". . n"},
	{"order: cancel before the type filter", {"cancel", "types = ALL -UNLNK"},
	 {{CR, 1, 5, 1}, {CLO, 2, 5}, {UNL, 3, 5, 1, LST}},
	 0, {0}, "n n n"},
	{"order: collapse then filter drops the coverer", {"collapse", "types = -MTIME"},
	 {{CLO, 1, 5}, {MTI, 2, 5}, {SAT, 3, 5}},
	 0, {3}, "n n ."},
	{"order: filter then collapse keeps the earlier record", {"types = -MTIME", "collapse"},
	 {{CLO, 1, 5}, {MTI, 2, 5}, {SAT, 3, 5}},
	 0, {1, 3}, ". n ."},
	{"all modules", {"types = DEFAULT", "subtree = [0x200000401:0xa:0x0]", "cancel", "collapse",
			 "fields = jobid"},
	 {{MKD, 1, 11, 10}, {CR, 2, 12, 11}, {CLO, 3, 12}, {MTI, 4, 12}, {CR, 5, 13, 11},
	  {UNL, 6, 13, 11, LST}, {CR, 7, 22, 21}, {LOAFRE_CL_ATIME, 8, 12}, {CLO, 9, 12}},
	 0, {1, 2, 9}, ". . 9 9 n n n n ."},
	{"indices must increase", {"cancel"},
	 {{CR, 2, 5, 1}, {CR, 2, 6, 1}},
	 -EINVAL, {0}, NULL},
	{"empty batch", {"cancel", "collapse"}, {{0}}, 0, {0}, ""},
};

static void run_case(const struct mcase *c)
{
	struct loafre_rec in[24];
	size_t n = 0, nmods = 0, k = 0;
	struct loafre_modules *p = NULL;
	struct loafre_modules_out out;
	char err[256];
	int r;

	while (c->in[n].idx)
		build(&in[n], &c->in[n]), n++;
	while (c->mods[nmods])
		nmods++;
	r = loafre_modules_new(c->mods, nmods, fake_under, NULL, err, sizeof(err), &p);
	if (r != 0)
		fail_msg("%s: new: %d %s", c->name, r, err);
	r = loafre_modules_process(p, in, n, &out);
	if (r != c->ret)
		fail_msg("%s: process returned %d, want %d", c->name, r, c->ret);
	if (r == 0) {
		const char *s = c->cover;

		assert_int_equal(out.n, n);
		for (k = 0; c->deliver[k]; k++) {
			if (k >= out.ndeliver || in[out.deliver[k]].index != c->deliver[k])
				fail_msg("%s: delivered #%zu: want %llu", c->name, k,
					 (unsigned long long)c->deliver[k]);
			assert_int_equal(out.rec[k]->index, c->deliver[k]);
		}
		if (k != out.ndeliver)
			fail_msg("%s: %zu delivered, want %zu", c->name, out.ndeliver, k);
		for (size_t i = 0; i < n; i++) {
			char tok[16];
			int used = 0;
			uint32_t cv = out.cover[i];

			assert_int_equal(sscanf(s, "%15s%n", tok, &used), 1);
			s += used;
			if (strcmp(tok, ".") == 0) {
				if (cv != i)
					fail_msg("%s: index %llu not delivered", c->name,
						 (unsigned long long)in[i].index);
			} else if (strcmp(tok, "n") == 0) {
				if (cv != LOAFRE_MOD_ACK_NOW)
					fail_msg("%s: index %llu not ack-now (cover %u)", c->name,
						 (unsigned long long)in[i].index, cv);
			} else {
				if (cv == LOAFRE_MOD_ACK_NOW || cv == i ||
				    in[cv].index != strtoull(tok, NULL, 10))
					fail_msg("%s: index %llu cover %u, want index %s", c->name,
						 (unsigned long long)in[i].index, cv, tok);
			}
		}
	}
	loafre_modules_free(p);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* ---- parse errors ---------------------------------------------------------- */

struct pcase {
	const char *mods[3]; /* specs, NULL-terminated */
	bool with_under;     /* pass the callback */
	int ret;             /* expected result */
	const char *msg;     /* expected message substring (NULL: any) */
};

static const struct pcase pcases[] = {
	{{"bogus"}, true, -EINVAL, "module 1: unknown module 'bogus'"},
	{{"cancel", "types = CREAT FOO"}, true, -EINVAL, "module 2 (types): bad type mask 'CREAT FOO'"},
	{{"types ="}, true, -EINVAL, "module 1 (types): needs a value"},
	{{"types"}, true, -EINVAL, "module 1 (types): needs a value"},
	{{"types = +"}, true, -EINVAL, "bad type mask '+'"},
	{{"fid = [0x1:0x2]"}, true, -EINVAL, "module 1 (fid): bad FID '[0x1:0x2]'"},
	{{"fid = [0:0x0:0x0]"}, true, -EINVAL, "bad FID"},
	{{"subtree = [0x200000401:0xa:0x0]"}, false, -EINVAL, "no subtree callback"},
	{{"subtree = [0x200000401:0xa:0x0] [0x200000401:0xb:0x0]"}, true, -EINVAL, "more than 1 FIDs"},
	{{"cancel = yes"}, true, -EINVAL, "module 1 (cancel): takes no value"},
	{{"collapse now"}, true, -EINVAL, "module 1 (collapse): expected '='"},
	{{"fields = jobid gid"}, true, -EINVAL, "module 1 (fields): unknown field 'gid'"},
	{{"fields = none jobid"}, true, -EINVAL, "'none' must stand alone"},
	{{"fields = ,"}, true, -EINVAL, "no field given"},
	{{"collapse", NULL}, true, 0, NULL},
	{{"  fields=jobid,nid  ", "types=ALL"}, true, 0, NULL},
};

static void test_parse_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *c = &pcases[i];
		struct loafre_modules *p = (void *)0x1;
		char err[256];
		size_t n = 0;
		int r;

		while (n < 3 && c->mods[n])
			n++;
		r = loafre_modules_new(c->mods, n, c->with_under ? fake_under : NULL, NULL, err,
				       sizeof(err), &p);
		if (r != c->ret)
			fail_msg("case %zu: %d, want %d (%s)", i, r, c->ret, err);
		if (r < 0) {
			assert_ptr_equal(p, (void *)0x1); /* untouched on failure */
			if (c->msg && !strstr(err, c->msg))
				fail_msg("case %zu: message '%s' lacks '%s'", i, err, c->msg);
		} else {
			loafre_modules_free(p);
		}
	}
	/* NULL err with errlen 0 is fine. */
	{
		const char *bad[] = {"nope"};
		struct loafre_modules *p = NULL;
		assert_int_equal(loafre_modules_new(bad, 1, NULL, NULL, NULL, 0, &p), -EINVAL);
	}
	loafre_modules_free(NULL);
}

/* ---- limits ----------------------------------------------------------------- */

static void test_limits(void **state)
{
	const char *many[LOAFRE_MOD_MAX + 1];
	struct loafre_modules *p = NULL;
	struct loafre_modules_out out;
	struct loafre_rec *in;
	char err[256], *fids;
	size_t len = 0;
	const char *one[1];

	(void)state;
	for (size_t i = 0; i <= LOAFRE_MOD_MAX; i++)
		many[i] = "collapse";
	assert_int_equal(loafre_modules_new(many, LOAFRE_MOD_MAX + 1, NULL, NULL, err, sizeof(err), &p), -E2BIG);
	assert_non_null(strstr(err, "too many modules (17 > 16)"));
	assert_int_equal(loafre_modules_new(many, LOAFRE_MOD_MAX, NULL, NULL, err, sizeof(err), &p), 0);
	loafre_modules_free(p);
	p = NULL;

	/* 1025 FIDs: -E2BIG; 1024: fine. */
	fids = malloc(1025 * 40 + 16);
	assert_non_null(fids);
	len = (size_t)sprintf(fids, "fid =");
	for (unsigned i = 1; i <= 1025; i++)
		len += (size_t)sprintf(fids + len, " [0x200000401:0x%x:0x0]", i);
	one[0] = fids;
	assert_int_equal(loafre_modules_new(one, 1, NULL, NULL, err, sizeof(err), &p), -E2BIG);
	assert_non_null(strstr(err, "more than 1024 FIDs"));
	*strrchr(fids, ' ') = '\0';
	assert_int_equal(loafre_modules_new(one, 1, NULL, NULL, err, sizeof(err), &p), 0);
	free(fids);

	/* Batch size. */
	in = calloc(LOAFRE_MOD_BATCH_MAX + 1, sizeof(*in));
	assert_non_null(in);
	for (size_t i = 0; i <= LOAFRE_MOD_BATCH_MAX; i++) {
		in[i].index = i + 1;
		in[i].type = LOAFRE_CL_CLOSE;
		in[i].tfid = fid((uint32_t)(i % 100 + 1));
	}
	assert_int_equal(loafre_modules_process(p, in, LOAFRE_MOD_BATCH_MAX + 1, &out), -E2BIG);
	assert_int_equal(loafre_modules_process(p, in, LOAFRE_MOD_BATCH_MAX, &out), 0);
	assert_int_equal(out.ndeliver, LOAFRE_MOD_BATCH_MAX); /* all 100 FIDs listed */
	free(in);
	loafre_modules_free(p);
}

/* ---- fields ------------------------------------------------------------------ */

static void full_rec(struct loafre_rec *r, uint32_t type)
{
	memset(r, 0, sizeof(*r));
	r->index = 1;
	r->type = type;
	r->flags = LOAFRE_CLF_VERSION | LOAFRE_CLF_JOBID | LOAFRE_CLF_EXTRA_FLAGS;
	r->tfid = fid(5);
	r->pfid = fid(1);
	strcpy(r->jobid, "job.1");
	r->extra_flags = LOAFRE_CLFE_UIDGID | LOAFRE_CLFE_NID | LOAFRE_CLFE_OPEN | LOAFRE_CLFE_XATTR;
	r->uid = 500;
	r->gid = 501;
	r->nid = 42;
	r->openflags = 3;
	strcpy(r->xattr, "user.x");
	r->name = "f";
	r->namelen = 1;
	if (type == LOAFRE_CL_RENAME) {
		r->flags |= LOAFRE_CLF_RENAME;
		r->sfid = fid(6);
		r->spfid = fid(1);
		r->sname = "g";
		r->snamelen = 1;
	}
}

static void test_fields(void **state)
{
	static const struct {
		const char *spec;   /* fields module */
		uint32_t type;      /* record type */
		uint16_t clf;       /* expected extension flags */
		uint64_t clfe;      /* expected extra flags */
		size_t size;        /* expected loafre_rec_size */
	} fc[] = {
		{"fields = none", LOAFRE_CL_CREATE, 0, 0, 64 + 1},
		{"fields = jobid", LOAFRE_CL_CREATE, LOAFRE_CLF_JOBID, 0, 64 + 32 + 1},
		{"fields = uidgid", LOAFRE_CL_CREATE, LOAFRE_CLF_EXTRA_FLAGS, LOAFRE_CLFE_UIDGID,
		 64 + 8 + 16 + 1},
		{"fields = nid openmode", LOAFRE_CL_OPEN, LOAFRE_CLF_EXTRA_FLAGS,
		 LOAFRE_CLFE_NID | LOAFRE_CLFE_OPEN, 64 + 8 + 24 + 4 + 1},
		{"fields = jobid uidgid nid openmode xattr", LOAFRE_CL_SETXATTR,
		 LOAFRE_CLF_JOBID | LOAFRE_CLF_EXTRA_FLAGS, LOAFRE_CLFE_SUPPORTED,
		 64 + 32 + 8 + 16 + 24 + 4 + 256 + 1},
		{"fields = none", LOAFRE_CL_RENAME, LOAFRE_CLF_RENAME, 0, 64 + 32 + 3},
		{"fields = xattr", LOAFRE_CL_RENAME, LOAFRE_CLF_RENAME | LOAFRE_CLF_EXTRA_FLAGS,
		 LOAFRE_CLFE_XATTR, 64 + 32 + 8 + 256 + 3},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(fc) / sizeof(fc[0]); i++) {
		const char *specs[1] = {fc[i].spec};
		struct loafre_modules *p = NULL;
		struct loafre_modules_out out;
		struct loafre_rec in;
		const struct loafre_rec *r;

		full_rec(&in, fc[i].type);
		assert_int_equal(loafre_modules_new(specs, 1, NULL, NULL, NULL, 0, &p), 0);
		assert_int_equal(loafre_modules_process(p, &in, 1, &out), 0);
		assert_int_equal(out.ndeliver, 1);
		r = out.rec[0];
		assert_ptr_not_equal(r, &in); /* a copy; the input is untouched */
		assert_int_equal(in.extra_flags, LOAFRE_CLFE_SUPPORTED);
		assert_int_equal(r->flags & ~LOAFRE_CLF_FLAGMASK, LOAFRE_CLF_VERSION | fc[i].clf);
		assert_int_equal(r->extra_flags, fc[i].clfe);
		assert_int_equal(loafre_rec_size(r), fc[i].size);
		assert_ptr_equal(r->name, in.name); /* names borrowed */
		assert_string_equal(r->jobid, (fc[i].clf & LOAFRE_CLF_JOBID) ? "job.1" : "");
		assert_int_equal(r->uid, (fc[i].clfe & LOAFRE_CLFE_UIDGID) ? 500 : 0);
		assert_string_equal(r->xattr, (fc[i].clfe & LOAFRE_CLFE_XATTR) ? "user.x" : "");
		assert_true(loafre_fid_equal(&r->sfid, &in.sfid));
		loafre_modules_free(p);
	}
}

/* Without a fields module, delivered records are the input records. */
static void test_no_copy(void **state)
{
	const char *specs[] = {"collapse"};
	struct loafre_modules *p = NULL;
	struct loafre_modules_out out;
	struct loafre_rec in[2];
	const uint32_t *pos;
	size_t cnt;

	(void)state;
	build(&in[0], &(struct rspec){MTI, 1, 5});
	build(&in[1], &(struct rspec){MTI, 2, 5});
	assert_int_equal(loafre_modules_new(specs, 1, NULL, NULL, NULL, 0, &p), 0);
	assert_int_equal(loafre_modules_process(p, in, 2, &out), 0);
	assert_int_equal(out.ndeliver, 1);
	assert_ptr_equal(out.rec[0], &in[1]);
	assert_int_equal(loafre_modules_acked_by(&out, 0, &pos, &cnt), 0);
	assert_int_equal(cnt, 2);
	assert_int_equal(pos[0], 0);
	assert_int_equal(pos[1], 1);
	assert_int_equal(loafre_modules_acked_by(&out, 1, &pos, &cnt), -EINVAL);
	loafre_modules_free(p);
}

/* ---- the ack-coverage property ------------------------------------------------ */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33) % n;
}

static void test_ack_property(void **state)
{
	static const uint32_t types[] = {CR, MKD, HLK, SLK, MKN, UNL, RMD, REN, CLO, TRU,
					 SAT, XAT, MTI, CTI, MRK, LOAFRE_CL_OPEN, LOAFRE_CL_ATIME};
	const char *specs[] = {"types = ALL -ATIME", "subtree = [0x200000401:0xa:0x0]", "cancel",
			       "collapse", "fields = jobid nid", "collapse", "cancel"};
	static struct loafre_rec in[2048];
	static uint8_t acked[2048];
	struct loafre_modules *p = NULL;
	int calls = 0;

	(void)state;
	rng_state = 20251122;
	assert_int_equal(loafre_modules_new(specs, 7, fake_under, &calls, NULL, 0, &p), 0);
	for (int round = 0; round < 300; round++) {
		size_t n = rnd(round % 10 == 0 ? 2048 : 64);
		struct loafre_modules_out out;
		uint64_t idx = rnd(1000) + 1;
		size_t total = 0;

		for (size_t i = 0; i < n; i++) {
			struct rspec s = {types[rnd((uint32_t)(sizeof(types) / sizeof(types[0])))], idx, rnd(24) + 1,
					  rnd(24), (uint16_t)(rnd(3) ? LST : 0), rnd(24) + 1,
					  rnd(24) + 1};
			build(&in[i], &s);
			idx += 1 + rnd(3);
		}
		assert_int_equal(loafre_modules_process(p, in, n, &out), 0);
		memset(acked, 0, n);
		for (size_t i = 0; i < out.nacknow; i++) {
			assert_int_equal(out.cover[out.acknow[i]], LOAFRE_MOD_ACK_NOW);
			acked[out.acknow[i]]++;
		}
		for (size_t k = 0; k < out.ndeliver; k++) {
			const uint32_t *pos;
			size_t cnt;

			assert_int_equal(out.cover[out.deliver[k]], out.deliver[k]);
			assert_int_equal(loafre_modules_acked_by(&out, k, &pos, &cnt), 0);
			assert_true(cnt >= 1);
			for (size_t j = 0; j < cnt; j++) {
				assert_int_equal(out.cover[pos[j]], out.deliver[k]);
				if (j)
					assert_true(pos[j] > pos[j - 1]);
				acked[pos[j]]++;
			}
			total += cnt;
		}
		assert_int_equal(total + out.nacknow, n);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(acked[i], 1); /* every index acked exactly once */
	}
	assert_true(calls > 0);
	loafre_modules_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_no_copy),
		cmocka_unit_test(test_ack_property),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
