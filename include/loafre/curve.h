/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * loafre/curve.h — CurveZMQ key files for the broker's tcp:// endpoints
 * (docs/design/broker.md, "Security"; file format at the head of
 * lib/curve_keys.c).
 *
 * A key pair is two files made by loafre_curve_keygen (`loafre keygen
 * NAME`): NAME.key (mode 0600: the public and the secret key) and NAME.pub
 * (mode 0644: the public key only). Keys are handled as 40 Z85 characters
 * (ZeroMQ's text form of a 32-byte CURVE key) plus a terminating NUL,
 * exactly what ZMQ_CURVE_SERVERKEY / PUBLICKEY / SECRETKEY and the
 * consumer options (loafre/consumer.h) take.
 *
 *   char srv[LOAFRE_CURVE_KEY_BUF], pub[LOAFRE_CURVE_KEY_BUF], sec[LOAFRE_CURVE_KEY_BUF];
 *   char err[256];
 *   if (loafre_curve_keyfile_load("broker.pub", srv, NULL, err, sizeof(err)) < 0 ||
 *       loafre_curve_keyfile_load("client.key", pub, sec, err, sizeof(err)) < 0)
 *       ... err says which file and why ...
 *   o.curve_server_key = srv; o.curve_public_key = pub; o.curve_secret_key = sec;
 *
 * Errors: negative errno (loafre/common.h); when err is non-NULL a one-line
 * reason naming the file (and the line, for a malformed file) is written
 * into err[0..errlen). Ownership: the caller owns every buffer; a secret
 * key is sensitive: wipe it (explicit_bzero) when done. Thread-safe.
 */
#ifndef LOAFRE_CURVE_H
#define LOAFRE_CURVE_H

#include <stddef.h>

#include "loafre/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LOAFRE_CURVE_KEY_LEN 40 /* Z85 characters of a CURVE key */
#define LOAFRE_CURVE_KEY_BUF 41 /* ... plus the NUL */

/* Creates a new key pair and writes it to NAME.key (created with mode 0600)
 * and NAME.pub (mode 0644), NAME being a path without the suffix. Never
 * overwrites: -EEXIST if either file exists (nothing is written then).
 * -ENOTSUP if the libzmq in use has no CURVE support; other -errno from
 * the filesystem (neither file is left behind). */
LOAFRE_API int loafre_curve_keygen(const char *name, char *err, size_t errlen);

/* Loads a key file. ret_public receives its public key (40 Z85 characters
 * and a NUL). If ret_secret is non-NULL, the file must hold a secret key
 * too (a .key file; else -ENOKEY), whose public key must match the file's
 * public-key line (else -EINVAL); it is written to ret_secret. A file
 * holding a secret key must not be accessible to group or others: -EPERM
 * (as ssh does; chmod 600 it), whether or not the secret is asked for.
 * Other errors: -ENOENT/-EACCES/... from opening it, -EINVAL (not a regular
 * file, or malformed: the message names the line), -EFBIG (over 64 KiB).
 * The outputs are written only on success. */
LOAFRE_API int loafre_curve_keyfile_load(const char *path, char ret_public[LOAFRE_CURVE_KEY_BUF],
					 char ret_secret[LOAFRE_CURVE_KEY_BUF], char *err,
					 size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
