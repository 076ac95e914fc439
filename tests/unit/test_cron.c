/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* test_cron.c — lib/cron.c: parsing, window matching, next open/close (UTC). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"

static int setup(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static time_t T(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return timegm(&tm);
}

static struct loafre__cron P(const char *text)
{
	struct loafre__cron c;
	char why[256];

	if (loafre__cron_parse(text, &c, why, sizeof(why)) < 0)
		print_error("'%s': %s\n", text, why);
	assert_int_equal(loafre__cron_parse(text, &c, why, sizeof(why)), 0);
	return c;
}

/* c's next opening (next_open) or closing (next_close) at or after t,
 * asserted to exist. */
static time_t next_open(const struct loafre__cron *c, time_t t)
{
	time_t ret = 0;

	assert_int_equal(loafre__cron_next_open(c, t, &ret), 0);
	return ret;
}

static time_t next_close(const struct loafre__cron *c, time_t t)
{
	time_t ret = 0;

	assert_int_equal(loafre__cron_next_close(c, t, &ret), 0);
	return ret;
}

static void test_fields(void **state)
{
	struct loafre__cron c;

	(void)state;
	c = P("* * * * *");
	assert_true(c.minutes == (1ull << 60) - 1);
	assert_true(c.hours == (1u << 24) - 1);
	assert_true(c.mday_star && c.wday_star);
	c = P("5,10-12,50-59/5 0 1 1 0");
	assert_true(c.minutes == ((1ull << 5) | (1ull << 10) | (1ull << 11) | (1ull << 12) |
				  (1ull << 50) | (1ull << 55)));
	c = P("*/15 */6 */10 */3 *");
	assert_true(c.minutes == ((1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45)));
	assert_true(c.hours == ((1u << 0) | (1u << 6) | (1u << 12) | (1u << 18)));
	assert_true(c.mdays == ((1u << 1) | (1u << 11) | (1u << 21) | (1u << 31)));
	assert_true(c.months == ((1u << 1) | (1u << 4) | (1u << 7) | (1u << 10)));
	c = P("30/10 * * * *"); /* N/S: N to the maximum */
	assert_true(c.minutes == ((1ull << 30) | (1ull << 40) | (1ull << 50)));
	/* names, case-insensitive, in ranges; 7 is Sunday */
	c = P("0 0 * JAN-mar,Dec mon-FRI");
	assert_true(c.months == ((1u << 1) | (1u << 2) | (1u << 3) | (1u << 12)));
	assert_true(c.wdays == 0x3e);
	c = P("0 0 * * 5-7");
	assert_true(c.wdays == ((1u << 5) | (1u << 6) | (1u << 0)));
	c = P("0 0 * * sun");
	assert_true(c.wdays == 1);
	/* macros */
	c = P("@hourly");
	assert_true(c.minutes == 1 && c.hours == (1u << 24) - 1);
	c = P("@daily");
	assert_true(c.minutes == 1 && c.hours == 1);
	c = P("@weekly");
	assert_true(c.wdays == 1 && !c.wday_star);
	c = P("@monthly");
	assert_true(c.mdays == 2);
	c = P(" @yearly ");
	assert_true(c.mdays == 2 && c.months == 2);
	c = P("\t0  12\t* * *");
	assert_true(c.hours == (1u << 12));
}

static void test_errors(void **state)
{
	static const struct {
		const char *text;
		const char *why;
	} cases[] = {
		{"", "0 fields, expected 5"},
		{"* * * *", "4 fields, expected 5"},
		{"* * * * * *", "too many fields"},
		{"60 * * * *", "minute: 60 is out of range 0-59"},
		{"* 24 * * *", "hour: 24 is out of range 0-23"},
		{"* * 0 * *", "day-of-month: 0 is out of range 1-31"},
		{"* * 32 * *", "day-of-month: 32 is out of range 1-31"},
		{"* * * 13 *", "month: 13 is out of range 1-12"},
		{"* * * * 8", "day-of-week: 8 is out of range 0-7"},
		{"5-3 * * * *", "minute: range 5-3 is reversed"},
		{"*/0 * * * *", "minute: step 0 is out of range"},
		{"*/61 * * * *", "minute: step 61 is out of range"},
		{"*/x * * * *", "minute: a step must be a number"},
		{"1, * * * *", "minute: a value is missing after ','"},
		{"1,,2 * * * *", "minute: unexpected ','"},
		{"a * * * *", "minute: unexpected 'a'"},
		{"* * * foo *", "month: unknown name 'foo'"},
		{"* * * janu *", "month: unknown name 'janu'"},
		{"* * * * mon-xyz", "day-of-week: unknown name 'xyz'"},
		{"* * * jan mon", NULL}, /* fine */
		{"* * 30 feb *", "day-of-month: no month of the month field has any of these days"},
		{"* * 31 apr,jun *", "no month of the month field"},
		{"1-2-3 * * * *", "minute: unexpected '-'"},
		{"123 * * * *", "minute: number too long"},
		{"@often", "unknown macro '@often'"},
		{"@daily 5", "unexpected text after @daily"},
	};
	struct loafre__cron c;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = loafre__cron_parse(cases[i].text, &c, why, sizeof(why));
		if (!cases[i].why) {
			assert_int_equal(r, 0);
			continue;
		}
		if (r != -EINVAL || !strstr(why, cases[i].why))
			print_error("'%s': r=%d why='%s' (want '%s')\n", cases[i].text, r, why,
				    cases[i].why);
		assert_int_equal(r, -EINVAL);
		assert_non_null(strstr(why, cases[i].why));
	}
	/* "31 feb" with a restricted day-of-week: cron's OR, so it matches */
	assert_int_equal(loafre__cron_parse("* * 31 feb mon", &c, why, sizeof(why)), 0);
	{
		char longtext[LOAFRE__CRON_MAX_TEXT + 2];
		memset(longtext, ' ', sizeof(longtext) - 1);
		longtext[sizeof(longtext) - 1] = '\0';
		assert_int_equal(loafre__cron_parse(longtext, &c, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "too long"));
	}
	assert_int_equal(loafre__cron_parse(NULL, &c, NULL, 0), -EINVAL);
}

static void test_matches(void **state)
{
	struct loafre__cron c;

	(void)state;
	c = P("*/5 22-23 * * mon-fri");
	assert_true(loafre__cron_matches(&c, T(2026, 11, 20, 22, 0)));      /* Friday */
	assert_true(loafre__cron_matches(&c, T(2026, 11, 20, 23, 55) + 59));
	assert_false(loafre__cron_matches(&c, T(2026, 11, 20, 22, 1)));
	assert_false(loafre__cron_matches(&c, T(2026, 11, 21, 22, 0)));     /* Saturday */
	assert_false(loafre__cron_matches(&c, T(2026, 11, 20, 21, 55)));
	/* both day fields restricted: either matches */
	c = P("0 0 13 * fri");
	assert_true(loafre__cron_matches(&c, T(2026, 11, 13, 0, 0)));  /* Friday 13th */
	assert_true(loafre__cron_matches(&c, T(2026, 11, 20, 0, 0)));  /* a Friday */
	assert_true(loafre__cron_matches(&c, T(2026, 10, 13, 0, 0)));  /* a Tuesday 13th */
	assert_false(loafre__cron_matches(&c, T(2026, 11, 19, 0, 0)));
	/* one restricted: both */
	c = P("0 0 13 * *");
	assert_false(loafre__cron_matches(&c, T(2026, 11, 20, 0, 0)));
}

static void test_next_open(void **state)
{
	struct loafre__cron c;

	(void)state;
	/* inside: t itself */
	c = P("* 9-17 * * *");
	assert_int_equal(next_open(&c, T(2026, 3, 1, 9, 30) + 17), T(2026, 3, 1, 9, 30) + 17);
	/* later the same day, and the next day */
	assert_int_equal(next_open(&c, T(2026, 3, 1, 7, 12) + 5), T(2026, 3, 1, 9, 0));
	assert_int_equal(next_open(&c, T(2026, 3, 1, 18, 0)), T(2026, 3, 2, 9, 0));
	/* across a month end and a year end */
	c = P("30 2 1 * *");
	assert_int_equal(next_open(&c, T(2026, 1, 31, 23, 59)), T(2026, 2, 1, 2, 30));
	assert_int_equal(next_open(&c, T(2026, 12, 1, 2, 31)), T(2027, 1, 1, 2, 30));
	c = P("@yearly");
	assert_int_equal(next_open(&c, T(2026, 1, 1, 0, 1)), T(2027, 1, 1, 0, 0));
	/* Feb 29: the next leap year */
	c = P("0 12 29 feb *");
	assert_int_equal(next_open(&c, T(2025, 3, 1, 0, 0)), T(2028, 2, 29, 12, 0));
	/* 31st: skips 30-day months */
	c = P("0 0 31 * *");
	assert_int_equal(next_open(&c, T(2026, 4, 1, 0, 0)), T(2026, 5, 31, 0, 0));
	/* a minute step late in the hour */
	c = P("*/20 * * * *");
	assert_int_equal(next_open(&c, T(2026, 12, 31, 23, 41)), T(2027, 1, 1, 0, 0));
	/* weekdays: from a Sunday */
	c = P("0 8 * * mon");
	assert_int_equal(next_open(&c, T(2026, 11, 22, 12, 0)), T(2026, 11, 23, 8, 0));
}

static void test_next_close(void **state)
{
	struct loafre__cron c;
	time_t t = 0;

	(void)state;
	/* outside: t itself */
	c = P("* 9-17 * * *");
	assert_int_equal(next_close(&c, T(2026, 3, 1, 8, 0) + 3), T(2026, 3, 1, 8, 0) + 3);
	assert_int_equal(next_close(&c, T(2026, 3, 1, 12, 34) + 5), T(2026, 3, 1, 18, 0));
	/* a single minute */
	c = P("0 0 * * *");
	assert_int_equal(next_close(&c, T(2026, 3, 1, 0, 0) + 30), T(2026, 3, 1, 0, 1));
	/* a whole month: closes at the next month's start, across a year end */
	c = P("* * * dec *");
	assert_int_equal(next_close(&c, T(2026, 12, 5, 3, 3)), T(2027, 1, 1, 0, 0));
	/* whole days across a month end */
	c = P("* * 30,31,1 * *");
	assert_int_equal(next_close(&c, T(2026, 1, 30, 10, 0)), T(2026, 2, 2, 0, 0));
	/* every minute: never closes */
	c = P("* * * * *");
	assert_int_equal(loafre__cron_next_close(&c, T(2026, 1, 1, 0, 0), &t), -ENOENT);
	/* minutes 58-59 then 0-1 of the next hour stay open */
	c = P("0-1,58-59 * * * *");
	assert_int_equal(next_close(&c, T(2026, 12, 31, 23, 58)), T(2027, 1, 1, 0, 2));
	/* open and close agree with matches() */
	c = P("*/7 1-3 * * tue");
	for (time_t x = T(2026, 1, 1, 0, 0); x < T(2026, 1, 20, 0, 0); x += 997) {
		time_t o = next_open(&c, x), cl;
		assert_true(o >= x);
		assert_true(loafre__cron_matches(&c, o));
		if (o > x)
			assert_false(loafre__cron_matches(&c, o - 60));
		cl = next_close(&c, o);
		assert_true(cl > o);
		assert_false(loafre__cron_matches(&c, cl));
		assert_true(loafre__cron_matches(&c, cl - 60));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_next_open),
		cmocka_unit_test(test_next_close),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
