/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_modules.c — libFuzzer target for the module config parser and the
 * pipeline (loafre/modules.h).
 *
 * The input is split at '\n' into module specs (each in an exact-size heap
 * copy, so ASan sees any read past it). If the pipeline builds, a small
 * fixed batch (creations, data records, renames, unlinks of a few FIDs) is
 * run through it and the ack-coverage invariants are checked: every input
 * position is acked exactly once, by an ack-now entry or by the acked-by
 * list of one delivered record, and delivered records are encodable.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loafre/modules.h"
#include "loafre/record.h"

#define NSPEC (LOAFRE_MOD_MAX + 2)

static int under(void *ctx, const struct loafre_fid *dir, const struct loafre_fid *obj)
{
	(void)ctx;
	if (obj->f_oid == 13)
		return -EIO;
	return obj->f_oid > dir->f_oid;
}

static struct loafre_fid F(uint32_t oid)
{
	return oid ? (struct loafre_fid){0x200000401ull, oid, 0} : (struct loafre_fid){0, 0, 0};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		uint32_t type, t, p, s;
		uint16_t fl;
	} batch[] = {
		{LOAFRE_CL_MARK, 0, 0, 0, 0},      {LOAFRE_CL_MKDIR, 10, 1, 0, 0},
		{LOAFRE_CL_CREATE, 11, 10, 0, 0},  {LOAFRE_CL_CLOSE, 11, 0, 0, 0},
		{LOAFRE_CL_MTIME, 11, 0, 0, 0},    {LOAFRE_CL_CREATE, 12, 1, 0, 0},
		{LOAFRE_CL_SETATTR, 12, 0, 0, 0},  {LOAFRE_CL_CTIME, 12, 0, 0, 0},
		{LOAFRE_CL_UNLINK, 12, 1, 0, 1},   {LOAFRE_CL_RENAME, 0, 1, 11, 0},
		{LOAFRE_CL_TRUNC, 11, 0, 0, 0},    {LOAFRE_CL_HARDLINK, 11, 1, 0, 0},
		{LOAFRE_CL_UNLINK, 11, 10, 0, 0},  {LOAFRE_CL_CREATE, 13, 10, 0, 0},
		{LOAFRE_CL_SETXATTR, 14, 0, 0, 0}, {LOAFRE_CL_RMDIR, 10, 1, 0, 1},
	};
	enum { N = sizeof(batch) / sizeof(batch[0]) };
	char *specs[NSPEC];
	size_t nspecs = 0, start = 0;
	struct loafre_modules *p = NULL;
	struct loafre_modules_out out;
	struct loafre_rec in[N];
	uint8_t acked[N];
	uint8_t buf[LOAFRE_REC_MAX_SIZE];
	char err[128];
	int r;

	if (size > 4 * LOAFRE_MOD_SPEC_MAX)
		return 0;
	for (size_t i = 0; i <= size && nspecs < NSPEC; i++) {
		if (i == size || data[i] == '\n') {
			specs[nspecs] = malloc(i - start + 1);
			if (!specs[nspecs])
				goto out;
			memcpy(specs[nspecs], data + start, i - start);
			specs[nspecs][i - start] = '\0';
			nspecs++;
			start = i + 1;
		}
	}
	r = loafre_modules_new((const char *const *)specs, nspecs, under, NULL, err, sizeof(err), &p);
	if (r < 0) {
		if (r != -EINVAL && r != -E2BIG && r != -ENOMEM)
			abort();
		if (!memchr(err, '\0', sizeof(err)) || err[0] == '\0')
			abort();
		goto out;
	}
	for (size_t i = 0; i < N; i++) {
		memset(&in[i], 0, sizeof(in[i]));
		in[i].index = 100 + i;
		in[i].type = batch[i].type;
		in[i].flags = (uint16_t)(LOAFRE_CLF_VERSION | LOAFRE_CLF_JOBID | batch[i].fl);
		strcpy(in[i].jobid, "job");
		in[i].tfid = F(batch[i].t);
		in[i].pfid = F(batch[i].p);
		in[i].name = "name";
		in[i].namelen = 4;
		if (batch[i].type == LOAFRE_CL_RENAME) {
			in[i].flags |= LOAFRE_CLF_RENAME;
			in[i].sfid = F(batch[i].s);
			in[i].spfid = F(1);
			in[i].sname = "old";
			in[i].snamelen = 3;
		}
	}
	for (int round = 0; round < 2; round++) {
		r = loafre_modules_process(p, in, N, &out);
		if (r == -EIO)
			break;
		if (r < 0 || out.n != N)
			abort();
		memset(acked, 0, sizeof(acked));
		for (size_t i = 0; i < out.nacknow; i++)
			acked[out.acknow[i]]++;
		for (size_t k = 0; k < out.ndeliver; k++) {
			const uint32_t *pos;
			size_t cnt;

			if (loafre_modules_acked_by(&out, k, &pos, &cnt) < 0)
				abort();
			for (size_t j = 0; j < cnt; j++)
				acked[pos[j]]++;
			if (loafre_rec_encode(out.rec[k], buf, sizeof(buf)) <= 0)
				abort();
		}
		for (size_t i = 0; i < N; i++)
			if (acked[i] != 1)
				abort();
	}
out:
	loafre_modules_free(p);
	for (size_t i = 0; i < nspecs; i++)
		free(specs[i]);
	return 0;
}
