/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * stats_file.c — parsing loafred's RUN_DIR/stats (lib/stats_file.h).
 *
 * Format (written by src/loafred/daemon.c once a second, replaced
 * atomically): text lines ending with LF, each "KEY VALUE": KEY is the
 * bytes before the first blank (' '), non-empty, without LF; VALUE is the
 * rest of the line, which may contain blanks (an error message); trailing
 * blanks, tabs and CRs of VALUE are not part of it. Keys are dotted names
 * ("mdt.demo-MDT0000.index", "broker.group.rep-r1.position.demo-MDT0000",
 * "rule.r1.dest.0.error"); "loafred.pid" names the writer. A line without a
 * blank, or starting with one, is ignored; so is everything after a NUL
 * byte in a line. The file is at most LOAFRE__STATS_MAX bytes.
 */
#include "stats_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct loafre__stats_kv *)a)->key,
		      ((const struct loafre__stats_kv *)b)->key);
}

void loafre__stats_free(struct loafre__stats *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s->kv);
	memset(s, 0, sizeof(*s));
}

/* Keeps the last of equal keys (the table is sorted stably by position). */
static void dedup(struct loafre__stats *s)
{
	size_t o = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (o && strcmp(s->kv[o - 1].key, s->kv[i].key) == 0)
			s->kv[o - 1] = s->kv[i];
		else
			s->kv[o++] = s->kv[i];
	}
	s->n = o;
}

/* qsort is not stable: order equal keys by their position in the buffer
 * (increasing), so that dedup keeps the last one. */
static int kv_cmp_pos(const void *a, const void *b)
{
	const struct loafre__stats_kv *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->key > y->key) - (x->key < y->key);
}

int loafre__stats_parse(const char *text, size_t len, struct loafre__stats *ret)
{
	struct loafre__stats s = { 0 };
	size_t cap = 0;
	char *p, *end;

	memset(ret, 0, sizeof(*ret));
	if (len > LOAFRE__STATS_MAX)
		return -EFBIG;
	s.buf = malloc(len + 1);
	if (!s.buf)
		return -ENOMEM;
	memcpy(s.buf, text, len);
	s.buf[len] = '\0';
	end = s.buf + len;
	for (p = s.buf; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *line_end = nl ? nl : end, *sp;

		*line_end = '\0';
		sp = strchr(p, ' ');
		if (sp && sp > p) {
			size_t vl = strlen(sp + 1);

			while (vl && (sp[vl] == ' ' || sp[vl] == '\t' || sp[vl] == '\r'))
				sp[vl--] = '\0';
			*sp = '\0';
			if (s.n == cap) {
				size_t ncap = cap ? cap * 2 : 256;
				struct loafre__stats_kv *nk = realloc(s.kv, ncap * sizeof(*nk));
				if (!nk) {
					loafre__stats_free(&s);
					return -ENOMEM;
				}
				s.kv = nk;
				cap = ncap;
			}
			s.kv[s.n++] = (struct loafre__stats_kv){ .key = p, .value = sp + 1 };
		}
		p = line_end + 1;
	}
	if (s.n) {
		qsort(s.kv, s.n, sizeof(*s.kv), kv_cmp_pos);
		dedup(&s);
	}
	{
		const char *v = loafre__stats_get(&s, "loafred.pid");
		char *e;
		long pid = v ? strtol(v, &e, 10) : 0;
		s.pid = v && *v && !*e && pid > 0 ? pid : 0;
	}
	*ret = s;
	return 0;
}

int loafre__stats_load(const char *path, struct loafre__stats *ret)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = loafre__read_file(path, LOAFRE__STATS_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = loafre__stats_parse(buf, len, ret);
	free(buf);
	return r;
}

const char *loafre__stats_get(const struct loafre__stats *s, const char *key)
{
	struct loafre__stats_kv k = { .key = key }, *f;

	if (!s->n || !key)
		return NULL;
	f = bsearch(&k, s->kv, s->n, sizeof(*s->kv), kv_cmp);
	return f ? f->value : NULL;
}
