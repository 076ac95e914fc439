/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * json.h — JSON string escaping shared by every --json output and event
 * line (internal). One rule, the one of loafre_json_format (lib/text.c):
 * '"' and '\\' backslash-escaped, \b \f \n \r \t as such, other bytes
 * < 0x20 and 0x7f as \u00XX, valid UTF-8 sequences copied, every other
 * byte (a name is bytes, not text) as \u00XX.
 */
#ifndef LOAFRE_JSON_H
#define LOAFRE_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Writes s[0..n) as a quoted JSON string into buf[0..cap), NUL-terminated.
 * 0 and the length (without the NUL) in *ret_len, or -ENOSPC (buf then
 * holds a truncated, unterminated prefix: do not use it). */
int loafre__json_quote(const char *s, size_t n, char *buf, size_t cap, size_t *ret_len);

/* The same, written to f; 0, -ENOMEM or -EIO. */
int loafre__json_fquote(FILE *f, const char *s);

#endif
