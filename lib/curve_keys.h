/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * curve_keys.h — CurveZMQ key files (internal part; public part in
 * include/loafre/curve.h, formats at the head of lib/curve_keys.c).
 *
 * The parsers work on a buffer (so that tests/fuzz/fuzz_curve_keys.c can
 * drive them); the loaders read a file and call them. Messages are one
 * line, "NAME:LINE: reason" (NAME: the path, or what the caller passes).
 *
 * Ownership: a loafre__curve_allowed belongs to its loader's caller and is
 * freed with loafre__curve_allowed_free (NULL ok); labels returned by find
 * borrow from it. Read-only use is thread-safe.
 */
#ifndef LOAFRE_CURVE_KEYS_H
#define LOAFRE_CURVE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "loafre/curve.h"

#define LOAFRE__CURVE_KEY_BYTES 32            /* a binary CURVE key */
#define LOAFRE__CURVE_KEYFILE_MAX (64 * 1024) /* bytes of a key file */
#define LOAFRE__CURVE_ALLOWED_MAX 100000      /* keys in an allowed-keys file */
#define LOAFRE__CURVE_ALLOWED_FILE_MAX (32 * 1024 * 1024) /* its bytes */
#define LOAFRE__CURVE_LINE_MAX 1024           /* bytes of a line, either file */

struct loafre__curve_allowed;

/* Decodes 40 Z85 characters (exactly: s[40] must be the end of the key, not
 * read) into 32 bytes. Only canonical encodings are accepted. 0 or -EINVAL. */
int loafre__curve_z85_key(const char *s, uint8_t ret[LOAFRE__CURVE_KEY_BYTES]);

/* Parses a key file's text (len bytes at buf). Writes its public key and
 * its secret key ("" when it has none) on success; a secret key must
 * derive the public key. 0, -EINVAL (malformed; the message names the
 * line), -ENOTSUP (libzmq without CURVE: a secret cannot be checked). */
int loafre__curve_keyfile_parse(const char *name, const char *buf, size_t len,
				char ret_public[LOAFRE_CURVE_KEY_BUF],
				char ret_secret[LOAFRE_CURVE_KEY_BUF], char *err, size_t errlen);

/* Parses an allowed-keys file's text. 0 and *ret; -EINVAL (the message names
 * the line), -E2BIG (over LOAFRE__CURVE_ALLOWED_MAX keys), -ENOMEM. */
int loafre__curve_allowed_parse(const char *name, const char *buf, size_t len,
				struct loafre__curve_allowed **ret, char *err, size_t errlen);

/* Reads and parses an allowed-keys file. Like ssh's authorized_keys, a file
 * writable by group or others is refused (-EPERM). Other errors: those of
 * open, -EINVAL (not a regular file, or malformed), -EFBIG, the parser's. */
int loafre__curve_allowed_load(const char *path, struct loafre__curve_allowed **ret,
			       char *err, size_t errlen);

/* Number of keys. */
size_t loafre__curve_allowed_count(const struct loafre__curve_allowed *a);

/* Looks up a binary public key: its label ("" when the line has none;
 * borrowed from a), or NULL when the key is not listed. */
const char *loafre__curve_allowed_find(const struct loafre__curve_allowed *a,
				       const uint8_t key[LOAFRE__CURVE_KEY_BYTES]);

void loafre__curve_allowed_free(struct loafre__curve_allowed *a);

#endif
