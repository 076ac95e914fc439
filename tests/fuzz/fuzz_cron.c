/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_cron.c — libFuzzer target for cron expressions (lib/cron.h).
 *
 * Input: the expression (at most 600 bytes; NUL bytes end it). A failed
 * parse must give a one-line reason. A parsed expression's window is
 * checked in UTC from a fixed instant: next_open gives a matching minute
 * at or after it, the minute before it (if later than the instant) does not
 * match; next_close from there gives a later non-matching instant whose
 * previous minute matches.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int tz_set;
	char text[601], why[256];
	struct loafre__cron c;
	time_t t0 = 1700000000 + (time_t)(size * 7919), o, cl;

	if (!tz_set) {
		setenv("TZ", "UTC", 1);
		tzset();
		tz_set = 1;
	}
	if (size > 600)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (loafre__cron_parse(text, &c, why, sizeof(why)) < 0) {
		assert(why[0] != '\0');
		assert(strchr(why, '\n') == NULL);
		return 0;
	}
	if (loafre__cron_next_open(&c, t0, &o) == 0) {
		assert(o >= t0);
		assert(loafre__cron_matches(&c, o));
		if (o > t0)
			assert(o % 60 == 0 && !loafre__cron_matches(&c, o - 60));
		if (loafre__cron_next_close(&c, o, &cl) == 0) {
			assert(cl > o);
			assert(!loafre__cron_matches(&c, cl));
			assert(loafre__cron_matches(&c, cl - 60));
		}
	}
	return 0;
}
