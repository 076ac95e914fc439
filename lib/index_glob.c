/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_glob.c — the literal part of an fnmatch(3) glob that every
 * matching name contains (loafre__idx_glob_literal, lib/index_backend.h),
 * for the name searches of the index backends. Its own file because the
 * PostgreSQL backend module (lib/index_pg.c, loaded with dlopen) needs it
 * without the rest of the store.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "index_backend.h"

size_t loafre__idx_glob_literal(const char *glob, char *buf, size_t cap)
{
	/* The glob as literal bytes lit[0, nl), brk[k] set when a wildcard
	 * (*, ?, a bracket expression) comes before lit[k]; `wild_end` when
	 * one ends the glob. A backslash escapes the next byte. What cannot be
	 * parsed safely (a trailing backslash, a bracket holding '[' or '\',
	 * an unterminated bracket) ends the parse as a wildcard. */
	size_t n = strlen(glob), nl = 0, i = 0, out = 0;
	size_t best_off = 0, best_len = 0, pre_len = 0, suf_off = 0, suf_len = 0;
	char *lit = malloc(n + 1);
	bool *brk = malloc((n + 1) * sizeof(*brk));
	bool any_wild = false, pending = false;

	if (!lit || !brk)
		goto done;
	while (i < n) {
		char c = glob[i];

		if (c == '*' || c == '?' || c == '[') {
			if (c == '[') {
				size_t j = i + 1;

				if (j < n && (glob[j] == '!' || glob[j] == '^'))
					j++;
				if (j < n && glob[j] == ']')
					j++;
				while (j < n && glob[j] != ']' && glob[j] != '[' && glob[j] != '\\')
					j++;
				if (j >= n || glob[j] != ']') {
					any_wild = pending = true;
					break;
				}
				i = j + 1;
			} else {
				i++;
			}
			any_wild = pending = true;
			continue;
		}
		if (c == '\\') {
			if (i + 1 >= n) {
				any_wild = pending = true;
				break;
			}
			c = glob[i + 1];
			i += 2;
		} else {
			i++;
		}
		brk[nl] = pending;
		lit[nl++] = c;
		pending = false;
	}
	if (!any_wild) {
		/* an exact name: NUL name NUL */
		if (nl > 0 && nl + 2 <= cap) {
			buf[0] = '\0';
			memcpy(buf + 1, lit, nl);
			buf[nl + 1] = '\0';
			out = nl + 2;
		}
		goto done;
	}
	/* runs of literals between wildcards: the prefix run (anchored by the
	 * NUL before a name), the suffix run (by the NUL after it), the longest */
	for (size_t k = 0; k < nl;) {
		size_t e = k + 1;

		while (e < nl && !brk[e])
			e++;
		if (k == 0 && !brk[0])
			pre_len = e;
		if (e == nl && !pending) {
			suf_off = k;
			suf_len = e - k;
		}
		if (e - k > best_len) {
			best_off = k;
			best_len = e - k;
		}
		k = e;
	}
	if (pre_len && pre_len >= suf_len && pre_len + 1 > best_len && pre_len + 1 <= cap) {
		buf[0] = '\0';
		memcpy(buf + 1, lit, pre_len);
		out = pre_len + 1;
	} else if (suf_len && suf_len + 1 > best_len && suf_len + 1 <= cap) {
		memcpy(buf, lit + suf_off, suf_len);
		buf[suf_len] = '\0';
		out = suf_len + 1;
	} else if (pre_len && pre_len + 1 >= best_len && pre_len + 1 <= cap) {
		buf[0] = '\0';
		memcpy(buf + 1, lit, pre_len);
		out = pre_len + 1;
	} else if (best_len && best_len <= cap) {
		memcpy(buf, lit + best_off, best_len);
		out = best_len;
	}
done:
	free(lit);
	free(brk);
	return out;
}
