/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * bench_codec.c — `loafre bench codec`: text format and parse throughput.
 *
 * Builds `n` synthetic records of varied shapes (a deterministic mix of
 * plain creates, MARKs, unlinks, opens with a mode, setxattrs, and renames
 * with jobid, ef, u= and nid=; names with spaces and UTF-8), formats them
 * to text once into one buffer, then on the calling thread times:
 *   parse:  every line with loafre_text_parse (all must succeed);
 *   format: every record with loafre_text_format.
 * Output, one figure per line:
 *   "parse: %llu lines/s (%.1f MB/s)\n"
 *   "format: %llu lines/s (%.1f MB/s)\n"
 * Returns 0, -EINVAL for n == 0, -ENOMEM, or -EIO if any line fails to
 * parse or re-format differently (the benchmark also checks results).
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loafre/text.h"
#include "util.h"

static const char *const bench_names[] = {
	"data.bin", "report 2024 final.pdf", "\xc3\xa9t\xc3\xa9 photo.jpg", "a",
	"core.12345", "some/odd name with  two spaces", "checkpoint_000123.h5",
	"README",
};
#define NNAMES LOAFRE__ARRAY_SIZE(bench_names)

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void make_bench_rec(struct loafre_rec *r, uint64_t i, uint64_t *rng)
{
	uint64_t x = rng_next(rng);
	const char *nm = bench_names[x % NNAMES];

	memset(r, 0, sizeof(*r));
	r->index = 1000000 + i;
	r->time = loafre_cl_time(1700000000 + i / 16, (uint32_t)(x >> 34) % 1000000000u);
	r->flags = LOAFRE_CLF_VERSION | LOAFRE_CLF_EXTRA_FLAGS;
	r->tfid = (struct loafre_fid){0x200000400ull + (x >> 40 & 0xff), (uint32_t)(i & 0xffffff), 0};
	r->pfid = (struct loafre_fid){0x200000007ull, 1 + (uint32_t)(x >> 20 & 0xfff), 0};
	r->extra_flags = LOAFRE_CLFE_UIDGID | LOAFRE_CLFE_NID;
	r->uid = 1000 + (x >> 8 & 0x3ff);
	r->gid = 100;
	r->nid = (x & 1) ? 0x00020000c0a80000ull + (x >> 16 & 0xffff)
			 : 0x00050000ac100000ull + (x >> 16 & 0xffff);
	r->name = nm;
	r->namelen = (uint16_t)strlen(nm);
	switch (x % 7) {
	case 0: /* rename with jobid */
		r->type = LOAFRE_CL_RENAME;
		r->flags |= LOAFRE_CLF_RENAME | LOAFRE_CLF_JOBID;
		strcpy(r->jobid, "slurm.4242");
		r->sfid = (struct loafre_fid){0x200000401ull, (uint32_t)i + 1, 0};
		r->spfid = (struct loafre_fid){0x200000007ull, 2, 0};
		r->sname = bench_names[(x >> 3) % NNAMES];
		r->snamelen = (uint16_t)strlen(r->sname);
		break;
	case 1: /* open with a mode */
		r->type = LOAFRE_CL_OPEN;
		r->extra_flags |= LOAFRE_CLFE_OPEN;
		r->openflags = (x >> 5) & 3 ? (uint32_t)((x >> 5) & 3) : 04;
		break;
	case 2:
		r->type = LOAFRE_CL_SETXATTR;
		r->extra_flags |= LOAFRE_CLFE_XATTR;
		strcpy(r->xattr, "user.checksum");
		break;
	case 3:
		r->type = LOAFRE_CL_UNLINK;
		r->flags |= LOAFRE_CLF_UNLINK_LAST;
		break;
	case 4: /* plain old-style record: no extensions */
		r->type = LOAFRE_CL_MKDIR;
		r->flags = LOAFRE_CLF_VERSION;
		r->extra_flags = 0;
		break;
	default:
		r->type = LOAFRE_CL_CREATE;
		r->flags |= LOAFRE_CLF_JOBID;
		strcpy(r->jobid, "dd.0");
		break;
	}
}

int loafre__bench_codec(uint64_t n, FILE *out)
{
	struct loafre_rec *recs = NULL;
	char *text = NULL, line[LOAFRE_TEXT_LINE_MAX];
	size_t *offs = NULL, total = 0, cap;
	uint64_t rng = 0x9e3779b97f4a7c15ull, t0, t1, failures = 0, sink = 0;
	double secs;
	int ret = 0;

	if (n == 0 || n > SIZE_MAX / LOAFRE_TEXT_LINE_MAX)
		return -EINVAL;
	recs = malloc(n * sizeof(*recs));
	offs = malloc((n + 1) * sizeof(*offs));
	cap = n * 256;
	text = malloc(cap);
	if (!recs || !offs || !text) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		int len;

		make_bench_rec(&recs[i], i, &rng);
		if (cap - total < LOAFRE_TEXT_LINE_MAX) {
			char *nt = realloc(text, cap * 2);
			if (!nt) {
				ret = -ENOMEM;
				goto out;
			}
			text = nt;
			cap *= 2;
		}
		len = loafre_text_format(&recs[i], text + total, cap - total);
		if (len < 0) {
			ret = -EIO;
			goto out;
		}
		offs[i] = total;
		total += (size_t)len;
	}
	offs[n] = total;

	/* Parse. */
	t0 = loafre__mono_ns();
	for (uint64_t i = 0; i < n; i++) {
		struct loafre_rec r;

		if (loafre_text_parse(text + offs[i], offs[i + 1] - offs[i], &r, NULL) < 0)
			failures++;
		else
			sink += r.namelen;
	}
	t1 = loafre__mono_ns();
	secs = (double)(t1 - t0) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	fprintf(out, "parse: %llu lines/s (%.1f MB/s)\n", (unsigned long long)((double)n / secs),
		(double)total / secs / 1e6);

	/* Format. */
	t0 = loafre__mono_ns();
	for (uint64_t i = 0; i < n; i++) {
		int len = loafre_text_format(&recs[i], line, sizeof(line));

		if (len < 0)
			failures++;
		else
			sink += (uint64_t)len;
	}
	t1 = loafre__mono_ns();
	secs = (double)(t1 - t0) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	fprintf(out, "format: %llu lines/s (%.1f MB/s)\n", (unsigned long long)((double)n / secs),
		(double)total / secs / 1e6);

	/* Check (untimed): parse then format gives the line back. */
	for (uint64_t i = 0; i < n; i++) {
		struct loafre_rec r;
		size_t l = offs[i + 1] - offs[i];
		int len;

		if (loafre_text_parse(text + offs[i], l, &r, NULL) < 0) {
			failures++;
			continue;
		}
		len = loafre_text_format(&r, line, sizeof(line));
		if (len < 0 || (size_t)len != l || memcmp(line, text + offs[i], l) != 0)
			failures++;
	}
	if (failures || sink == 0)
		ret = -EIO;
out:
	free(recs);
	free(offs);
	free(text);
	return ret;
}
