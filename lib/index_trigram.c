/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_trigram.c — trigrams of names and their posting lists (see
 * lib/index_trigram.h; stored by lib/index_sqlite.c, "NAME BASE").
 *
 * POSTING LIST (a stored BLOB, its count n stored beside it): n unsigned
 * LEB128 varints (7 bits per byte, least significant group first, high
 * bit set on every byte but the last; at most 10 bytes and 64 bits). The
 * first is the smallest key, each next one the difference to the previous
 * key (>= 1: keys strictly increase). Nothing else: no header, no
 * padding; the bytes end exactly after the n-th varint. A list that does
 * not decode so (short, long, an overlong varint, a zero difference, a
 * key beyond 2^64 - 1) is -EBADMSG, and the reader (lib/index_sqlite.c)
 * then ignores the whole base.
 */
#include "index_trigram.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t fold(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

size_t loafre__tri_of(const char *s, size_t len, uint32_t *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i + 3 <= len && n < max; i++) {
		uint32_t t = (uint32_t)fold((uint8_t)s[i]) << 16 |
			     (uint32_t)fold((uint8_t)s[i + 1]) << 8 | fold((uint8_t)s[i + 2]);
		size_t j;

		for (j = 0; j < n && out[j] != t; j++)
			;
		if (j == n)
			out[n++] = t;
	}
	return n;
}

/* ---- builder ------------------------------------------------------------------------- */

struct tlist {
	uint32_t t;                 /* the trigram (slot used iff buf or n) */
	uint32_t used;              /* 1: slot taken */
	uint64_t n;                 /* keys */
	uint64_t last;              /* the last key added */
	uint8_t *buf;               /* encoded keys */
	size_t len, cap;            /* bytes used, allocated */
};

struct loafre__tri_builder {
	struct tlist *slot;         /* open addressing, linear probing */
	size_t nslot;               /* a power of two */
	size_t used;                /* slots taken */
};

struct loafre__tri_builder *loafre__tri_builder_new(void)
{
	struct loafre__tri_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->nslot = 4096;
	b->slot = calloc(b->nslot, sizeof(*b->slot));
	if (!b->slot) {
		free(b);
		return NULL;
	}
	return b;
}

void loafre__tri_builder_free(struct loafre__tri_builder *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nslot; i++)
		free(b->slot[i].buf);
	free(b->slot);
	free(b);
}

static size_t hash(uint32_t t, size_t mask)
{
	return (size_t)(((uint64_t)t * 0x9E3779B97F4A7C15ull) >> 40) & mask;
}

static int rehash(struct loafre__tri_builder *b)
{
	size_t n = b->nslot * 2;
	struct tlist *ns = calloc(n, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < b->nslot; i++) {
		size_t h;

		if (!b->slot[i].used)
			continue;
		for (h = hash(b->slot[i].t, n - 1); ns[h].used; h = (h + 1) & (n - 1))
			;
		ns[h] = b->slot[i];
	}
	free(b->slot);
	b->slot = ns;
	b->nslot = n;
	return 0;
}

int loafre__tri_builder_add(struct loafre__tri_builder *b, uint32_t t, uint64_t key)
{
	size_t h;
	struct tlist *l;
	uint64_t v;

	for (h = hash(t, b->nslot - 1); b->slot[h].used && b->slot[h].t != t;
	     h = (h + 1) & (b->nslot - 1))
		;
	l = &b->slot[h];
	if (!l->used) {
		if ((b->used + 1) * 4 > b->nslot * 3) {
			int r = rehash(b);

			if (r < 0)
				return r;
			return loafre__tri_builder_add(b, t, key);
		}
		l->used = 1;
		l->t = t;
		b->used++;
		v = key;
	} else {
		if (key <= l->last)
			return -EINVAL;
		v = key - l->last;
	}
	if (l->len + 10 > l->cap) {
		size_t c = l->cap ? l->cap * 2 : 16;
		uint8_t *nb = realloc(l->buf, c);

		if (!nb)
			return -ENOMEM;
		l->buf = nb;
		l->cap = c;
	}
	while (v >= 0x80) {
		l->buf[l->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	l->buf[l->len++] = (uint8_t)v;
	l->last = key;
	l->n++;
	return 0;
}

int loafre__tri_builder_each(struct loafre__tri_builder *b,
			     int (*cb)(void *ctx, uint32_t t, uint64_t n, const uint8_t *p,
				       size_t len),
			     void *ctx)
{
	for (size_t i = 0; i < b->nslot; i++) {
		int r;

		if (!b->slot[i].used)
			continue;
		r = cb(ctx, b->slot[i].t, b->slot[i].n, b->slot[i].buf, b->slot[i].len);
		if (r)
			return r;
	}
	return 0;
}

/* ---- reading ------------------------------------------------------------------------- */

/* One varint at *p (< end); advances *p. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; *p < end; shift += 7) {
		uint8_t c = *(*p)++;

		if (shift == 63 && c > 1)
			return -EBADMSG; /* beyond 64 bits */
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			if (c == 0 && shift)
				return -EBADMSG; /* overlong */
			*ret = v;
			return 0;
		}
		if (shift == 63)
			return -EBADMSG;
	}
	return -EBADMSG;
}

/* The next key of a list: *key holds the previous one (first: ignored). */
static int next_key(const uint8_t **p, const uint8_t *end, bool first, uint64_t *key)
{
	uint64_t d;
	int r = varint(p, end, &d);

	if (r < 0)
		return r;
	if (first) {
		*key = d;
		return 0;
	}
	if (d == 0 || d > UINT64_MAX - *key)
		return -EBADMSG;
	*key += d;
	return 0;
}

int loafre__tri_decode(const uint8_t *p, size_t len, uint64_t n, uint64_t *out)
{
	const uint8_t *end = p + len;
	uint64_t key = 0;

	if (n > len)
		return -EBADMSG; /* at least a byte per key */
	for (uint64_t i = 0; i < n; i++) {
		int r = next_key(&p, end, i == 0, &key);

		if (r < 0)
			return r;
		out[i] = key;
	}
	return p == end ? 0 : -EBADMSG;
}

long loafre__tri_intersect(uint64_t *a, size_t na, const uint8_t *p, size_t len, uint64_t n)
{
	const uint8_t *end = p + len;
	uint64_t key = 0;
	size_t i = 0, k = 0;

	if (n > len)
		return -EBADMSG;
	for (uint64_t j = 0; j < n; j++) {
		int r = next_key(&p, end, j == 0, &key);

		if (r < 0)
			return r;
		while (i < na && a[i] < key)
			i++;
		if (i < na && a[i] == key)
			a[k++] = a[i++];
	}
	if (p != end)
		return -EBADMSG;
	return (long)k;
}
