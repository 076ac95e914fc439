/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_stats_file.c — libFuzzer target for loafred's stats file as read
 * back by `loafre rule status` (lib/stats_file.h).
 *
 * Input: the file's bytes. Checked: parsing never fails but for -EFBIG /
 * -ENOMEM; the table is sorted with unique keys; every key is non-empty
 * without blank or LF; no value has LF or trailing blanks; each entry is
 * found by loafre__stats_get (which gives that same value); a key absent
 * from the input ("no.such.key") is not found.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "stats_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loafre__stats s;
	int r = loafre__stats_parse((const char *)data, size, &s);

	if (r < 0) {
		assert(r == -EFBIG || r == -ENOMEM);
		return 0;
	}
	for (size_t i = 0; i < s.n; i++) {
		const char *k = s.kv[i].key, *v = s.kv[i].value;
		size_t vl = strlen(v);

		assert(k[0] && !strchr(k, ' ') && !strchr(k, '\n'));
		assert(!strchr(v, '\n'));
		assert(!vl || (v[vl - 1] != ' ' && v[vl - 1] != '\t' && v[vl - 1] != '\r'));
		if (i)
			assert(strcmp(s.kv[i - 1].key, k) < 0);
		assert(loafre__stats_get(&s, k) == v);
	}
	if (!memmem(data, size, "no.such.key", 11))
		assert(loafre__stats_get(&s, "no.such.key") == NULL);
	loafre__stats_free(&s);
	return 0;
}
