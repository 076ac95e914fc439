/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_record.c — libFuzzer target for the binary record decoder.
 *
 * Decodes the input as one record (in an exact-size heap copy, so ASan sees
 * any read past it). On success: encode, decode again, compare every field,
 * re-encode byte-identically; remap the record in place to random wanted
 * extensions (taken from the first input byte) with a buffer that has a
 * guard zone after `cap`, and check nothing past `cap` was written; the text
 * formatter must also accept the record.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loafre/record.h"
#include "loafre/text.h"

#define GUARD 64

static void same(const struct loafre_rec *a, const struct loafre_rec *b)
{
	if (a->index != b->index || a->prev != b->prev || a->time != b->time ||
	    a->type != b->type || a->flags != b->flags || !loafre_fid_equal(&a->tfid, &b->tfid) ||
	    !loafre_fid_equal(&a->pfid, &b->pfid) || !loafre_fid_equal(&a->sfid, &b->sfid) ||
	    !loafre_fid_equal(&a->spfid, &b->spfid) || strcmp(a->jobid, b->jobid) != 0 ||
	    a->extra_flags != b->extra_flags || a->uid != b->uid || a->gid != b->gid ||
	    a->nid != b->nid || a->nid_extra != b->nid_extra || a->openflags != b->openflags ||
	    strcmp(a->xattr, b->xattr) != 0 || a->namelen != b->namelen ||
	    (a->namelen && memcmp(a->name, b->name, a->namelen) != 0) ||
	    (a->sname != NULL) != (b->sname != NULL) || a->snamelen != b->snamelen ||
	    (a->snamelen && memcmp(a->sname, b->sname, a->snamelen) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t enc[UINT16_MAX + LOAFRE_REC_MAX_SIZE], enc2[UINT16_MAX + LOAFRE_REC_MAX_SIZE];
	static char line[UINT16_MAX * 2 + LOAFRE_TEXT_LINE_MAX];
	uint8_t *copy, *rb;
	struct loafre_rec r, d;
	size_t used, cap;
	int n, n2, m;

	if (size > UINT16_MAX + LOAFRE_REC_MAX_SIZE)
		return 0;
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (loafre_rec_decode(copy, size, &r, &used) < 0 || used > size)
		goto out;
	n = loafre_rec_encode(&r, enc, sizeof(enc));
	if (n <= 0 || (size_t)n != used || memcmp(enc, copy, 64) != 0)
		abort();
	if (loafre_rec_decode(enc, (size_t)n, &d, NULL) < 0)
		abort();
	same(&r, &d);
	n2 = loafre_rec_encode(&d, enc2, sizeof(enc2));
	if (n2 != n || memcmp(enc, enc2, (size_t)n) != 0)
		abort();
	if (loafre_text_format(&r, line, sizeof(line)) <= 0)
		abort();

	/* remap in place with a guard zone after cap */
	m = size ? data[0] : 0;
	cap = (size_t)n + (size_t)(m & 0x7) * 64;
	rb = malloc(cap + GUARD);
	if (!rb)
		goto out;
	memcpy(rb, enc, (size_t)n);
	memset(rb + n, 0xee, cap + GUARD - (size_t)n);
	n2 = loafre_rec_remap_buf(rb, (size_t)n, cap, (uint16_t)((m & 0x70) << 9),
				  (uint64_t)(m >> 4) & 0xf);
	for (size_t i = cap; i < cap + GUARD; i++)
		if (rb[i] != 0xee)
			abort();
	if (n2 > 0) {
		if ((size_t)n2 > cap || loafre_rec_decode(rb, (size_t)n2, &d, NULL) < 0)
			abort();
		if (d.index != r.index || d.type != r.type || d.namelen != r.namelen)
			abort();
	} else if (n2 != -ENOBUFS) {
		abort();
	}
	free(rb);
out:
	free(copy);
	return 0;
}
