/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_failed.c — a replication rule's failed list (lib/repl_worker.h:
 * loafre__failed_format, loafre__failed_read), written by the workers
 * (lib/repl_worker.c) to STATE/failed, read by `loafre rule failed` and by
 * the workers for a retry request (STATE/retry). Fuzzed by
 * tests/fuzz/fuzz_failed_list.c.
 *
 * Failed list format (version 1). UTF-8 or any bytes, one entry per line,
 * lines end with LF, at most LOAFRE__FAILED_LINE_MAX bytes; a line starting
 * with '#' is a comment; no empty lines. An entry is exactly 9 fields
 * separated by one TAB each:
 *
 *   TIME  MDT  INDEX  OP  ERR  DEST  PATH  PATH2  MESSAGE
 *
 *   TIME     decimal seconds since the epoch, when it failed for good
 *   MDT      the record's MDT ("demo-MDT0000"), or "-" (a retry of an
 *            initial sync entry)
 *   INDEX    decimal record index (0 with MDT "-")
 *   OP       operation kind, [a-z]+ (loafre__dest_op_name: copy, mkdir, ...)
 *   ERR      negative errno, decimal ("-13")
 *   DEST     the destination's spec as written in the rule
 *   PATH     path relative to the filesystem's root, starting with '/'
 *   PATH2    the other path of a rename or link (starting with '/'), or "-"
 *   MESSAGE  one line
 *
 * MDT, DEST, PATH, PATH2 and MESSAGE are escaped: '\\' for a backslash,
 * '\t', '\n', '\r', and '\xHH' (two lowercase hex digits) for any other
 * byte below 0x20 and 0x7f; nothing else may follow a backslash. Decimal
 * fields have no sign (but ERR's '-'), no leading zeros beyond "0", and fit
 * 64 bits (ERR: -1 .. -4095). Every other byte stands for itself.
 * Writers append a whole line with one write(2) (O_APPEND); a reader
 * refuses the file at its first malformed line (-EBADMSG, the line number
 * given), having passed the entries before it.
 */
#include "repl_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends s escaped, then `sep` (if not NUL), at *o before end; -1 when it
 * does not fit. */
static int esc_put(char **o, const char *end, const char *s, char sep)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char e = ch == '\\' ? '\\' : ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : 0;

		if (end - *o < 5)
			return -1;
		if (e) {
			*(*o)++ = '\\';
			*(*o)++ = e;
		} else if (ch < 0x20 || ch == 0x7f) {
			*(*o)++ = '\\';
			*(*o)++ = 'x';
			*(*o)++ = hex[ch >> 4];
			*(*o)++ = hex[ch & 15];
		} else {
			*(*o)++ = (char)ch;
		}
	}
	if (end - *o < 2)
		return -1;
	if (sep)
		*(*o)++ = sep;
	return 0;
}

int loafre__failed_format(const struct loafre__failed_ent *e, char *buf, size_t cap)
{
	char *o = buf, *end = buf + cap;
	int n;

	if (!e->op || !e->dest || !e->path)
		return -EINVAL;
	n = snprintf(o, cap, "%llu\t", (unsigned long long)e->time);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	o += n;
	if (esc_put(&o, end, e->mdt && e->mdt[0] ? e->mdt : "-", '\t') < 0)
		return -ENAMETOOLONG;
	n = snprintf(o, (size_t)(end - o), "%llu\t%s\t%d\t",
		     (unsigned long long)(e->mdt && e->mdt[0] && strcmp(e->mdt, "-") != 0
						  ? e->index
						  : 0),
		     e->op,
		     e->err < 0 && e->err > -4096 ? e->err : -EIO);
	if (n < 0 || n >= end - o)
		return -ENAMETOOLONG;
	o += n;
	if (esc_put(&o, end, e->dest, '\t') < 0 || esc_put(&o, end, e->path, '\t') < 0 ||
	    esc_put(&o, end, e->path2 ? e->path2 : "-", '\t') < 0 ||
	    esc_put(&o, end, e->message && e->message[0] ? e->message : "-", '\n') < 0)
		return -ENAMETOOLONG;
	*o = '\0';
	return (int)(o - buf);
}

/* Unescapes field [s, e) in place (into s); -EBADMSG. */
static int unesc(char *s, char *e)
{
	char *o = s;

	for (char *p = s; p < e; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		if (++p >= e)
			return -EBADMSG;
		switch (*p) {
		case '\\':
			*o++ = '\\';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 'x': {
			int v = 0;
			for (int k = 0; k < 2; k++) {
				char c;
				if (++p >= e)
					return -EBADMSG;
				c = *p;
				if (c >= '0' && c <= '9')
					v = v * 16 + (c - '0');
				else if (c >= 'a' && c <= 'f')
					v = v * 16 + (c - 'a' + 10);
				else
					return -EBADMSG;
			}
			if (v == 0)
				return -EBADMSG; /* a NUL would cut the string */
			*o++ = (char)v;
			break;
		}
		default:
			return -EBADMSG;
		}
	}
	*o = '\0';
	return 0;
}

static int dec(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EBADMSG;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -EBADMSG;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

/* Parses one line (without its LF, NUL-terminated, modified) into e. */
static int failed_parse_line(char *line, struct loafre__failed_ent *e)
{
	char *f[9];
	size_t n = 0;
	uint64_t v;
	char *p = line;

	f[n++] = p;
	for (; *p; p++)
		if (*p == '\t') {
			if (n == 9)
				return -EBADMSG;
			*p = '\0';
			f[n++] = p + 1;
		}
	if (n != 9)
		return -EBADMSG;
	for (size_t i = 0; i < 9; i++)
		if (!f[i][0])
			return -EBADMSG;
	memset(e, 0, sizeof(*e));
	if (dec(f[0], &e->time) < 0 || dec(f[2], &e->index) < 0)
		return -EBADMSG;
	for (p = f[3]; *p; p++)
		if (*p < 'a' || *p > 'z')
			return -EBADMSG;
	if (f[4][0] != '-' || dec(f[4] + 1, &v) < 0 || v == 0 || v > 4095)
		return -EBADMSG;
	e->err = -(int)v;
	for (size_t i = 0; i < 9; i++)
		if ((i == 1 || i >= 5) && unesc(f[i], f[i] + strlen(f[i])) < 0)
			return -EBADMSG;
	if (f[6][0] != '/' || (strcmp(f[7], "-") != 0 && f[7][0] != '/') ||
	    (strcmp(f[1], "-") == 0 && e->index != 0))
		return -EBADMSG;
	e->mdt = f[1];
	e->op = f[3];
	e->dest = f[5];
	e->path = f[6];
	e->path2 = strcmp(f[7], "-") == 0 ? NULL : f[7];
	e->message = f[8];
	return 0;
}

int loafre__failed_read(const char *path,
			int (*fn)(void *arg, const struct loafre__failed_ent *e), void *arg,
			unsigned *ret_line)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	unsigned no = 0;
	int r = 0;

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	for (;;) {
		struct loafre__failed_ent e;
		ssize_t n;

		errno = 0;
		n = getline(&line, &cap, f);
		if (n < 0) {
			r = errno ? -errno : 0;
			break;
		}
		no++;
		if ((size_t)n > LOAFRE__FAILED_LINE_MAX || line[n - 1] != '\n' ||
		    memchr(line, '\0', (size_t)n)) {
			r = -EBADMSG;
			break;
		}
		line[n - 1] = '\0';
		if (line[0] == '#')
			continue;
		r = failed_parse_line(line, &e);
		if (r < 0)
			break;
		r = fn(arg, &e);
		if (r)
			break;
	}
	if (r == -EBADMSG && ret_line)
		*ret_line = no;
	free(line);
	fclose(f);
	return r;
}
