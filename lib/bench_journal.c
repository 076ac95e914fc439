/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* bench_journal.c — journal append (group commit) and read-back throughput. */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "loafre/journal.h"
#include "util.h"

/* Writes "f-<12 digits>.dat" (20 bytes) for i into buf. */
static void bench_name(char *buf, uint64_t i)
{
	memcpy(buf, "f-", 2);
	for (int k = 13; k >= 2; k--) {
		buf[k] = (char)('0' + i % 10);
		i /= 10;
	}
	memcpy(buf + 14, ".dat", 4);
	buf[18] = 'x';
	buf[19] = 'y';
}

int loafre__bench_journal(const char *dir, uint64_t n, unsigned commit_ms, int fsync_policy,
			  FILE *out)
{
	struct loafre_journal_options opts = {
		.fsync = fsync_policy ? LOAFRE_FSYNC_NONE : LOAFRE_FSYNC_COMMIT,
	};
	struct loafre_journal *j = NULL;
	struct loafre_journal_reader *rd = NULL;
	struct loafre_rec rec = {0};
	uint64_t t0, t1, t2, last_commit, commits = 0, bytes = 0, got = 0;
	uint64_t period = (uint64_t)commit_ms * 1000000u;
	char name[20];
	int r;

	r = loafre_journal_open(dir, "bench-MDT0000", LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE,
				&opts, &j);
	if (r < 0)
		return r;
	rec.type = LOAFRE_CL_CREATE;
	rec.flags = LOAFRE_CLF_VERSION | LOAFRE_CLF_EXTRA_FLAGS;
	rec.extra_flags = LOAFRE_CLFE_UIDGID;
	rec.uid = 1000;
	rec.gid = 1000;
	rec.pfid = (struct loafre_fid){0x200000007ull, 1, 0};
	rec.name = name;
	rec.namelen = sizeof(name);

	t0 = last_commit = loafre__mono_ns();
	for (uint64_t i = 0; i < n; i++) {
		bench_name(name, i);
		rec.tfid = (struct loafre_fid){0x200000401ull, (uint32_t)i, 0};
		rec.time = loafre_cl_time(1763764974 + i / 1000000, (uint32_t)(i % 1000000) * 1000);
		r = loafre_journal_append(j, &rec);
		if (r < 0)
			goto out;
		bytes += loafre_rec_size(&rec);
		if ((i & 63) == 63) {
			uint64_t now = loafre__mono_ns();

			if (now - last_commit >= period) {
				r = loafre_journal_commit(j, NULL);
				if (r < 0)
					goto out;
				commits++;
				last_commit = now;
			}
		}
	}
	r = loafre_journal_commit(j, NULL);
	if (r < 0)
		goto out;
	commits++;
	t1 = loafre__mono_ns();
	fprintf(out, "append: %.0f records/s (%.1f MB/s, %" PRIu64 " commits)\n",
		(double)n * 1e9 / (double)(t1 - t0 ? t1 - t0 : 1),
		(double)bytes * 1e3 / (double)(t1 - t0 ? t1 - t0 : 1), commits);

	r = loafre_journal_reader_open(j, 0, &rd);
	if (r < 0)
		goto out;
	t1 = loafre__mono_ns();
	while ((r = loafre_journal_reader_next(rd, &rec, NULL, NULL)) == 0)
		got++;
	t2 = loafre__mono_ns();
	if (r != -EAGAIN)
		goto out;
	if (got != n) {
		r = -EIO;
		goto out;
	}
	fprintf(out, "read: %.0f records/s\n", (double)got * 1e9 / (double)(t2 - t1 ? t2 - t1 : 1));
	r = 0;
out:
	loafre_journal_reader_close(rd);
	loafre_journal_close(j);
	return r;
}
