/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * stats_file.h — reading loafred's RUN_DIR/stats (internal): the text
 * loafred rewrites every second (format at the head of lib/stats_file.c),
 * parsed into a sorted key → value table, for `loafre rule status` and the
 * wait of `loafre rule add`.
 *
 * Ownership: a struct loafre__stats owns its buffer and table
 * (loafre__stats_free, which accepts a zeroed struct); the strings returned
 * by loafre__stats_get point into it.
 */
#ifndef LOAFRE_STATS_FILE_H
#define LOAFRE_STATS_FILE_H

#include <stddef.h>

#define LOAFRE__STATS_MAX (1u << 24)      /* bytes of a stats file, at most */
#define LOAFRE__STATS_KEY_MAX 512         /* bytes of a key looked up, with the NUL */

struct loafre__stats_kv {
	const char *key;   /* in the buffer, NUL-terminated */
	const char *value; /* in the buffer, NUL-terminated, no trailing blanks */
};

struct loafre__stats {
	char *buf;                    /* the text, cut in place */
	struct loafre__stats_kv *kv;  /* entries, sorted by key (strcmp) */
	size_t n;                     /* entries of kv */
	long pid;                     /* value of "loafred.pid", 0 if absent or bad */
};

/* Parses text[0..len) (copied; NUL bytes end a line's use) into *ret.
 * Lines that are not "KEY VALUE" are skipped; a key given twice keeps its
 * last value. 0, -EFBIG (longer than LOAFRE__STATS_MAX), -ENOMEM. */
int loafre__stats_parse(const char *text, size_t len, struct loafre__stats *ret);
/* Reads and parses the file at path: 0, -ENOENT (no file: loafred is not
 * running), -errno. */
int loafre__stats_load(const char *path, struct loafre__stats *ret);
/* The value of key, or NULL. */
const char *loafre__stats_get(const struct loafre__stats *s, const char *key);
void loafre__stats_free(struct loafre__stats *s);

#endif
