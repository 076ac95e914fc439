/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * loafre/text.h — the `lfs changelog` text format and loafre's JSON form.
 *
 * One record per line, exactly as Lustre's `lfs changelog` prints it (the
 * grammar, with every format string, is at the head of lib/text.c and in
 * docs/formats.md), times in UTC:
 *
 *   INDEX NNTYPE HH:MM:SS.nnnnnnnnn YYYY.MM.DD 0xFLAGS t=[FID]
 *     [ j=JOBID] [ ef=0xEF] [ u=UID:GID] [ nid=NID] [ m=MODE] [ x=XATTR]
 *     [ p=[PFID] NAME] [ s=[SFID] sp=[SPFID] SNAME]
 *
 * Formatting then parsing a record, or parsing then formatting a line that
 * loafre_text_format produced, is byte-identical.
 */
#ifndef LOAFRE_TEXT_H
#define LOAFRE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "loafre/common.h"
#include "loafre/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Enough for any record's text line, newline and NUL included. */
#define LOAFRE_TEXT_LINE_MAX 2048

/* Formats *rec as one `lfs changelog` line, with a trailing '\n', into
 * buf[0..cap). Returns the length written (without NUL), or -ENOBUFS. */
LOAFRE_API int loafre_text_format(const struct loafre_rec *rec, char *buf, size_t cap);

/* Parses one line (len bytes, with or without its trailing '\n') into
 * *ret_rec. `name`/`sname` of the result borrow from `line`. The resulting
 * record's flags announce the extensions the line shows (CLF_JOBID for j=,
 * CLF_EXTRA_FLAGS for ef=, CLF_RENAME for s=), CLF_VERSION always.
 * Returns 0 or -EINVAL; on -EINVAL, if ret_why is non-NULL, it is set to a
 * static string naming what is wrong ("bad FID in t=", ...). */
LOAFRE_API int loafre_text_parse(const char *line, size_t len, struct loafre_rec *ret_rec,
				 const char **ret_why);

/* Formats *rec as one JSON object on a line (with '\n'):
 * {"index":N,"type":"CREAT","type_num":1,"time":"2026-11-21T22:42:54.123456789Z",
 *  "flags":"0x0","tfid":"[0x...]", "pfid":..., "name":..., ...} — keys for
 * absent extensions are omitted; strings are JSON-escaped (bytes that are not
 * valid UTF-8 as \u00XX). Returns the length, or -ENOBUFS. */
LOAFRE_API int loafre_json_format(const struct loafre_rec *rec, char *buf, size_t cap);

/* Lustre NID text for a 64-bit lnet_nid_t ("192.168.1.2@tcp", "0@lo", ...).
 * buf must hold 64 bytes. Returns the length. */
LOAFRE_API int loafre_nid_format(uint64_t nid, char *buf, size_t cap);
/* Inverse of loafre_nid_format. Returns 0 or -EINVAL. */
LOAFRE_API int loafre_nid_parse(const char *s, size_t len, uint64_t *ret_nid);

#ifdef __cplusplus
}
#endif

#endif
