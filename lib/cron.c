/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cron.c — cron expressions as time windows (lib/cron.h).
 *
 * Syntax accepted (Vixie cron's five fields, no seconds, no year):
 *
 *   MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK
 *
 *   fields are separated by blanks (spaces or tabs); each field is a
 *   comma-separated list of items, each item one of
 *     *          every value of the field
 *     N          one value
 *     N-M        the values N to M (N <= M)
 *     N-M/S      every S-th value of N-M (S >= 1, at most the field's span)
 *     N/S        every S-th value from N to the field's maximum
 *     a star followed by /S: every S-th value of the whole field
 *   ranges:  minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or
 *            jan..dec, day-of-week 0-7 or sun..sat (0 and 7 are Sunday);
 *            names are case-insensitive and usable in ranges (mon-fri)
 *   macros:  @hourly = 0 * * * *, @daily = @midnight = 0 0 * * *,
 *            @weekly = 0 0 * * 0, @monthly = 0 0 1 * *,
 *            @yearly = @annually = 0 0 1 1 *
 *
 * Day matching is cron's: when both day fields are restricted (neither
 * covers its whole range), a day matches if EITHER matches; otherwise both
 * must. An expression no day can ever match (e.g. "* * 31 2 *") is an
 * error. Limits: at most LOAFRE__CRON_MAX_TEXT (512) characters; numbers
 * of at most 2 digits. Times are local (TZ); searches look at most 8 years
 * ahead (enough for any day that exists: Feb 29 recurs within 8 years).
 */
#include "cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { F_MIN, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_N };

static const char *const field_name[F_N] = {"minute", "hour", "day-of-month", "month",
					    "day-of-week"};
static const int field_lo[F_N] = {0, 0, 1, 1, 0};
static const int field_hi[F_N] = {59, 23, 31, 12, 7};

static const char *const month_names[12] = {"jan", "feb", "mar", "apr", "may", "jun",
					    "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wday_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct {
	const char *name;
	const char *expr;
} macros[] = {
	{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
	{"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
};

#define SEARCH_LIMIT ((time_t)8 * 366 * 86400)

/* One value: digits or (month, day-of-week) a 3-letter name. Advances *p. */
static int parse_value(int f, const char **p, int *ret, char *why, size_t whylen)
{
	const char *s = *p;
	int v = 0, n = 0;

	if (isdigit((unsigned char)*s)) {
		while (isdigit((unsigned char)*s)) {
			if (++n > 2) {
				snprintf(why, whylen, "%s: number too long", field_name[f]);
				return -EINVAL;
			}
			v = v * 10 + (*s++ - '0');
		}
	} else if (isalpha((unsigned char)*s) && (f == F_MONTH || f == F_WDAY)) {
		const char *const *names = f == F_MONTH ? month_names : wday_names;
		int count = f == F_MONTH ? 12 : 7, i;
		char w[4] = {0};

		for (i = 0; i < 3 && isalpha((unsigned char)s[i]); i++)
			w[i] = (char)tolower((unsigned char)s[i]);
		if (i < 3 || isalpha((unsigned char)s[3])) {
			int len = 0;
			while (isalpha((unsigned char)s[len]) && len < 20)
				len++;
			snprintf(why, whylen, "%s: unknown name '%.*s'", field_name[f], len, s);
			return -EINVAL;
		}
		for (i = 0; i < count; i++)
			if (strcmp(w, names[i]) == 0)
				break;
		if (i == count) {
			snprintf(why, whylen, "%s: unknown name '%s'", field_name[f], w);
			return -EINVAL;
		}
		v = f == F_MONTH ? i + 1 : i;
		s += 3;
	} else {
		if (*s && isprint((unsigned char)*s))
			snprintf(why, whylen, "%s: unexpected '%c'", field_name[f], *s);
		else if (*s)
			snprintf(why, whylen, "%s: unexpected byte 0x%02x", field_name[f],
				 (unsigned char)*s);
		else
			snprintf(why, whylen, "%s: a value is missing", field_name[f]);
		return -EINVAL;
	}
	if (v < field_lo[f] || v > field_hi[f]) {
		snprintf(why, whylen, "%s: %d is out of range %d-%d", field_name[f], v, field_lo[f],
			 field_hi[f]);
		return -EINVAL;
	}
	*p = s;
	*ret = v;
	return 0;
}

/* One field (the text up to the next blank); sets bits of *set. */
static int parse_field(int f, const char *s, size_t len, uint64_t *set, char *why, size_t whylen)
{
	const char *p, *end;
	char buf[LOAFRE__CRON_MAX_TEXT + 1];

	memcpy(buf, s, len);
	buf[len] = '\0';
	p = buf;
	end = buf + len;
	*set = 0;
	while (p < end) {
		int lo, hi, step = 1;
		bool star = false, range = false;

		if (*p == '*') {
			lo = field_lo[f];
			hi = f == F_WDAY ? 6 : field_hi[f];
			star = true;
			p++;
		} else {
			if (parse_value(f, &p, &lo, why, whylen) < 0)
				return -EINVAL;
			hi = lo;
			if (*p == '-') {
				p++;
				if (parse_value(f, &p, &hi, why, whylen) < 0)
					return -EINVAL;
				if (hi < lo) {
					snprintf(why, whylen, "%s: range %d-%d is reversed", field_name[f],
						 lo, hi);
					return -EINVAL;
				}
				range = true;
			}
		}
		if (*p == '/') {
			int n = 0;
			p++;
			if (!isdigit((unsigned char)*p)) {
				snprintf(why, whylen, "%s: a step must be a number", field_name[f]);
				return -EINVAL;
			}
			step = 0;
			while (isdigit((unsigned char)*p)) {
				if (++n > 2) {
					snprintf(why, whylen, "%s: step too long", field_name[f]);
					return -EINVAL;
				}
				step = step * 10 + (*p++ - '0');
			}
			if (step < 1 || step > field_hi[f] - field_lo[f] + 1) {
				snprintf(why, whylen, "%s: step %d is out of range 1-%d", field_name[f],
					 step, field_hi[f] - field_lo[f] + 1);
				return -EINVAL;
			}
			if (!star && !range)
				hi = f == F_WDAY ? 6 : field_hi[f]; /* N/S: N to the maximum */
		}
		for (int v = lo; v <= hi; v += step)
			*set |= 1ull << (f == F_WDAY && v == 7 ? 0 : v);
		if (*p == ',') {
			p++;
			if (p == end) {
				snprintf(why, whylen, "%s: a value is missing after ','", field_name[f]);
				return -EINVAL;
			}
		} else if (p != end) {
			if (isprint((unsigned char)*p))
				snprintf(why, whylen, "%s: unexpected '%c'", field_name[f], *p);
			else
				snprintf(why, whylen, "%s: unexpected byte 0x%02x", field_name[f],
					 (unsigned char)*p);
			return -EINVAL;
		}
	}
	return 0;
}

static int days_in_month(int month, bool leap)
{
	static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return month == 2 && leap ? 29 : d[month - 1];
}

int loafre__cron_parse(const char *text, struct loafre__cron *ret, char *why, size_t whylen)
{
	struct loafre__cron c = {0};
	const char *p = text;
	uint64_t sets[F_N];
	int f = 0;

	if (!why || whylen == 0) {
		static char sink[1];
		why = sink;
		whylen = sizeof(sink);
	}
	why[0] = '\0';
	if (!text || !ret) {
		snprintf(why, whylen, "no expression");
		return -EINVAL;
	}
	if (strlen(text) > LOAFRE__CRON_MAX_TEXT) {
		snprintf(why, whylen, "expression too long (at most %d characters)",
			 LOAFRE__CRON_MAX_TEXT);
		return -EINVAL;
	}
	while (isblank((unsigned char)*p))
		p++;
	if (*p == '@') {
		size_t l = 0;
		while (p[l] && !isblank((unsigned char)p[l]))
			l++;
		for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
			if (strlen(macros[i].name) == l && strncmp(p, macros[i].name, l) == 0) {
				const char *rest = p + l;
				while (isblank((unsigned char)*rest))
					rest++;
				if (*rest) {
					snprintf(why, whylen, "unexpected text after %s", macros[i].name);
					return -EINVAL;
				}
				return loafre__cron_parse(macros[i].expr, ret, why, whylen);
			}
		}
		{
			char name[41];
			size_t k;
			for (k = 0; k < l && k < 40; k++)
				name[k] = isprint((unsigned char)p[k]) ? p[k] : '?';
			name[k] = '\0';
			snprintf(why, whylen,
				 "unknown macro '%s' (@hourly, @daily, @weekly, @monthly, @yearly)",
				 name);
		}
		return -EINVAL;
	}
	while (*p) {
		size_t l = 0;
		while (p[l] && !isblank((unsigned char)p[l]))
			l++;
		if (f == F_N) {
			snprintf(why, whylen,
				 "too many fields (expected 5: minute hour day-of-month month day-of-week)");
			return -EINVAL;
		}
		if (parse_field(f, p, l, &sets[f], why, whylen) < 0)
			return -EINVAL;
		f++;
		p += l;
		while (isblank((unsigned char)*p))
			p++;
	}
	if (f != F_N) {
		snprintf(why, whylen,
			 "%d field%s, expected 5 (minute hour day-of-month month day-of-week)", f,
			 f == 1 ? "" : "s");
		return -EINVAL;
	}
	c.minutes = sets[F_MIN];
	c.hours = (uint32_t)sets[F_HOUR];
	c.mdays = (uint32_t)sets[F_MDAY];
	c.months = (uint16_t)sets[F_MONTH];
	c.wdays = (uint8_t)sets[F_WDAY];
	c.mday_star = c.mdays == 0xfffffffeu;
	c.wday_star = c.wdays == 0x7f;
	if (c.wday_star || c.mday_star) {
		/* Both must match: some month of the set must have a day of the set. */
		bool any = false;
		for (int m = 1; m <= 12 && !any; m++) {
			if (!(c.months & (1u << m)))
				continue;
			for (int d = 1; d <= days_in_month(m, true) && !any; d++)
				if (c.mdays & (1u << d))
					any = true;
		}
		if (!any) {
			snprintf(why, whylen,
				 "day-of-month: no month of the month field has any of these days");
			return -EINVAL;
		}
	}
	*ret = c;
	return 0;
}

static bool day_ok(const struct loafre__cron *c, const struct tm *tm)
{
	bool dom = c->mdays & (1u << tm->tm_mday);
	bool dow = c->wdays & (1u << tm->tm_wday);

	if (c->mday_star || c->wday_star)
		return dom && dow;
	return dom || dow;
}

static bool tm_matches(const struct loafre__cron *c, const struct tm *tm)
{
	return (c->months & (1u << (tm->tm_mon + 1))) && day_ok(c, tm) &&
	       (c->hours & (1u << tm->tm_hour)) && (c->minutes & (1ull << tm->tm_min));
}

bool loafre__cron_matches(const struct loafre__cron *c, time_t t)
{
	struct tm tm;

	if (!c || !localtime_r(&t, &tm))
		return false;
	return tm_matches(c, &tm);
}

/* Local time tm with the fields below `level` reset, then normalised by
 * mktime; never at or before `cur` (DST can make mktime go back). */
static time_t advance(struct tm *tm, time_t cur)
{
	time_t nt;

	tm->tm_sec = 0;
	tm->tm_isdst = -1;
	nt = mktime(tm);
	if (nt == (time_t)-1 || nt <= cur)
		return cur + 60;
	return nt;
}

int loafre__cron_next_open(const struct loafre__cron *c, time_t t, time_t *ret)
{
	struct tm tm;
	time_t cur, limit = t + SEARCH_LIMIT;

	if (!c || !ret)
		return -EINVAL;
	if (!localtime_r(&t, &tm))
		return -EOVERFLOW;
	if (tm_matches(c, &tm)) {
		*ret = t;
		return 0;
	}
	cur = t - tm.tm_sec + 60;
	while (cur <= limit) {
		if (!localtime_r(&cur, &tm))
			return -EOVERFLOW;
		if (!(c->months & (1u << (tm.tm_mon + 1)))) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = 0;
			tm.tm_min = 0;
			cur = advance(&tm, cur);
		} else if (!day_ok(c, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = 0;
			tm.tm_min = 0;
			cur = advance(&tm, cur);
		} else if (!(c->hours & (1u << tm.tm_hour))) {
			tm.tm_hour++;
			tm.tm_min = 0;
			cur = advance(&tm, cur);
		} else if (!(c->minutes & (1ull << tm.tm_min))) {
			cur += 60;
		} else {
			*ret = cur;
			return 0;
		}
	}
	return -ENOENT;
}

int loafre__cron_next_close(const struct loafre__cron *c, time_t t, time_t *ret)
{
	struct tm tm;
	time_t cur, limit = t + SEARCH_LIMIT;
	bool all_min, all_hour, all_day;

	if (!c || !ret)
		return -EINVAL;
	if (!localtime_r(&t, &tm))
		return -EOVERFLOW;
	if (!tm_matches(c, &tm)) {
		*ret = t;
		return 0;
	}
	all_min = c->minutes == (1ull << 60) - 1;
	all_hour = c->hours == (1u << 24) - 1;
	all_day = c->mday_star && c->wday_star;
	if (all_min && all_hour && all_day && c->months == 0x1ffe)
		return -ENOENT;
	cur = t - tm.tm_sec;
	while (cur <= limit) {
		if (!localtime_r(&cur, &tm))
			return -EOVERFLOW;
		if (!tm_matches(c, &tm)) {
			*ret = cur;
			return 0;
		}
		if (all_min && all_hour && all_day) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = 0;
			tm.tm_min = 0;
			cur = advance(&tm, cur);
		} else if (all_min && all_hour) {
			tm.tm_mday++;
			tm.tm_hour = 0;
			tm.tm_min = 0;
			cur = advance(&tm, cur);
		} else if (all_min) {
			tm.tm_hour++;
			tm.tm_min = 0;
			cur = advance(&tm, cur);
		} else {
			cur += 60;
		}
	}
	return -ENOENT;
}
