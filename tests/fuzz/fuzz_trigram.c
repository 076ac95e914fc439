/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_trigram.c — libFuzzer target for the name base's posting lists as
 * read back from a store (lib/index_trigram.h, layout in
 * lib/index_trigram.c).
 *
 * Input: byte 0 = n (the announced count, 0-255), the rest the list's
 * bytes. Checked: decode and intersect agree on acceptance; an accepted
 * list's keys strictly increase, re-encode (through a builder) to exactly
 * the input bytes, and intersecting them with themselves keeps them all;
 * trigrams of the bytes are distinct and at most len - 2.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index_trigram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct same {
	const uint8_t *p;  /* the input list */
	size_t len;        /* its bytes */
	uint64_t n;        /* its count */
	int seen;          /* lists walked */
};

static int same_cb(void *ctx, uint32_t t, uint64_t n, const uint8_t *p, size_t len)
{
	struct same *s = ctx;

	assert(t == 0x616263);
	assert(n == s->n && len == s->len && memcmp(p, s->p, len) == 0);
	s->seen++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t keys[256], copy[256];
	uint32_t tri[LOAFRE__TRI_MAX];
	size_t n, len, nt;
	int r;
	long k;

	if (size < 1)
		return 0;
	n = data[0];
	len = size - 1;
	nt = loafre__tri_of((const char *)data, size > 300 ? 300 : size, tri, LOAFRE__TRI_MAX);
	assert(nt <= LOAFRE__TRI_MAX && (size < 3 ? nt == 0 : nt <= size - 2));
	for (size_t i = 0; i < nt; i++)
		for (size_t j = i + 1; j < nt; j++)
			assert(tri[i] != tri[j]);
	r = loafre__tri_decode(data + 1, len, n, keys);
	assert(r == 0 || r == -EBADMSG);
	memset(copy, 0, sizeof(copy));
	k = loafre__tri_intersect(copy, 0, data + 1, len, n);
	assert(k == (r == 0 ? 0 : -EBADMSG));
	if (r < 0)
		return 0;
	for (size_t i = 1; i < n; i++)
		assert(keys[i] > keys[i - 1]);
	memcpy(copy, keys, n * sizeof(*keys));
	k = loafre__tri_intersect(copy, n, data + 1, len, n);
	assert(k == (long)n && memcmp(copy, keys, n * sizeof(*keys)) == 0);
	if (n) {
		struct loafre__tri_builder *b = loafre__tri_builder_new();
		struct same s = {data + 1, len, n, 0};

		if (!b)
			return 0;
		for (size_t i = 0; i < n; i++)
			assert(loafre__tri_builder_add(b, 0x616263, keys[i]) == 0);
		assert(loafre__tri_builder_each(b, same_cb, &s) == 0 && s.seen == 1);
		loafre__tri_builder_free(b);
	}
	return 0;
}
