/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_trigram.h — trigram posting lists of names (the name base of the
 * SQLite index store, lib/index_sqlite.c "NAME BASE"; the byte layout of a
 * posting list is specified in lib/index_trigram.c).
 *
 * A name's trigrams are the 3-byte windows of NUL name NUL, ASCII letters
 * folded to lower case, each once: a name of L bytes has at most L
 * trigrams, "\0ab" and "yz\0" included (a search for names starting or
 * ending with something uses them). A trigram is the integer
 * b0 << 16 | b1 << 8 | b2.
 *
 * Ownership: a builder owns its lists until freed; decode writes into the
 * caller's array.
 */
#ifndef LOAFRE_INDEX_TRIGRAM_H
#define LOAFRE_INDEX_TRIGRAM_H

#include <stddef.h>
#include <stdint.h>

#define LOAFRE__TRI_MAX 258 /* trigrams of a name of up to 256 bytes (with anchors) */

/* The distinct trigrams of bytes s[0, len) (anchors included in s, or
 * not: the caller's choice), lower-cased; writes up to `max` of them to
 * out in first-seen order and returns their number. len < 3: 0. */
size_t loafre__tri_of(const char *s, size_t len, uint32_t *out, size_t max);

/* Builder: appends keys to per-trigram lists; each trigram's keys must
 * come in strictly increasing order. */
struct loafre__tri_builder;

/* NULL on ENOMEM. */
struct loafre__tri_builder *loafre__tri_builder_new(void);
void loafre__tri_builder_free(struct loafre__tri_builder *b);
/* 0, -ENOMEM, or -EINVAL if key does not exceed the trigram's last key. */
int loafre__tri_builder_add(struct loafre__tri_builder *b, uint32_t t, uint64_t key);
/* Every list, in no particular order: cb(ctx, trigram, count, bytes,
 * length); a non-zero return stops the walk and is returned. */
int loafre__tri_builder_each(struct loafre__tri_builder *b,
			     int (*cb)(void *ctx, uint32_t t, uint64_t n, const uint8_t *p,
				       size_t len),
			     void *ctx);

/* Decodes a stored list announced to hold n keys into out[0, n) (the
 * caller's array of n); 0, or -EBADMSG when the bytes are not exactly n
 * well-formed, strictly increasing keys. */
int loafre__tri_decode(const uint8_t *p, size_t len, uint64_t n, uint64_t *out);

/* Intersects sorted a[0, na) with the stored list (p, len, n) in place:
 * keeps the keys of a that the list holds; returns the new count, or
 * -EBADMSG as decode. */
long loafre__tri_intersect(uint64_t *a, size_t na, const uint8_t *p, size_t len, uint64_t n);

#endif
