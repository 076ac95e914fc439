/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cron.h — cron expressions as time windows (a rule's `schedule`).
 *
 * The syntax is in lib/cron.c's head comment. A schedule does not fire
 * jobs: the minutes it matches (in the local time zone, TZ) form the window
 * during which a rule's work runs; outside it, work waits.
 *
 * Ownership: struct loafre__cron is a plain value (no pointers), filled by
 * loafre__cron_parse; nothing to free.
 */
#ifndef LOAFRE_LIB_CRON_H
#define LOAFRE_LIB_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define LOAFRE__CRON_MAX_TEXT 512 /* longest expression accepted */

struct loafre__cron {
	uint64_t minutes;   /* bit m: minute m (0..59) matches */
	uint32_t hours;     /* bit h: hour h (0..23) */
	uint32_t mdays;     /* bit d: day of month d (1..31) */
	uint16_t months;    /* bit m: month m (1..12) */
	uint8_t wdays;      /* bit d: day of week d (0 = Sunday .. 6) */
	bool mday_star;     /* day-of-month field was '*' (or '*' with a step 1) */
	bool wday_star;     /* day-of-week field was '*' */
};

/* Parses a 5-field expression or an @macro. On error returns -EINVAL and
 * writes a one-line reason naming the field into why[0..whylen). */
int loafre__cron_parse(const char *text, struct loafre__cron *ret, char *why, size_t whylen);

/* Whether the local-time minute containing t is in the window. */
bool loafre__cron_matches(const struct loafre__cron *c, time_t t);

/* The start of the first window minute at or after t (t itself if it is
 * in the window). 0, or -ENOENT if none within 8 years. */
int loafre__cron_next_open(const struct loafre__cron *c, time_t t, time_t *ret);

/* The first instant at or after t outside the window (t itself if it is
 * outside): the start of the first non-matching minute. 0, or -ENOENT if
 * the window never closes (every minute matches) or not within 8 years. */
int loafre__cron_next_close(const struct loafre__cron *c, time_t t, time_t *ret);

#endif
