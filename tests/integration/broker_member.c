/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_member.c — a group member (or ephemeral reader) for the broker
 * integration tests, on include/loafre/consumer.h.
 *
 *   broker_member ENDPOINT GROUP [options]      (GROUP is ignored with --ephemeral)
 *
 *   --credit N         records in flight (group) or buffered (ephemeral)
 *   --no-ack           never ack
 *   --count N          exit 0 after N records
 *   --start oldest|newest
 *   --start-at MDT:INDEX[,...]   where a new group starts, per MDT
 *   --ephemeral        an ephemeral reader
 *   --heartbeat-ms N   heartbeat interval (default: the library's)
 *   --print-rec        record lines are "INDEX TYPE TFID SFID" (SFID "-"
 *                      unless the record is a rename) instead of "INDEX"
 *   --print-acks       print "ACKED INDEX" after each ack the library took
 *   --delay-ms N       sleep N ms per record (before acking it)
 *   --keepalive        during --delay-ms sleeps, call loafre_consumer_keepalive
 *                      every 50 ms (a member busy with a long operation)
 *   --hold N           never ack the first N records of the first session
 *                      (they stay in flight until the member leaves or the
 *                      broker goes away); prints "HELD INDEX" for each
 *   --bad-ack INDEX    on the first record batch, ack INDEX (an index that
 *                      was never delivered) and print "BADACK INDEX ERRNO TEXT"
 *   --reconnect        when the broker goes away (recv: -ENOTCONN), close
 *                      and open again until it answers; prints "RECONNECTED"
 *   --paths FSNAME     ask path annotations of filesystem FSNAME; after each
 *                      record line, "PATHS MDT INDEX FLAGS PATH_ERR PATH
 *                      SPATH_ERR SPATH" (PATH, SPATH "-" when none; bytes
 *                      outside '!'..'~' and '%' written %XX; errors as
 *                      negative errno numbers; FLAGS decimal LOAFRE_RP_*),
 *                      or "PATHS MDT INDEX NONE ERRNO" when
 *                      loafre_batch_paths fails
 *
 * Output (stdout, one line each, flushed per batch): "READY" once joined;
 * per record batch first one record line per record, then per record (after
 * --delay-ms) "HELD INDEX" or "ACKED INDEX" (with --print-acks); "GAP N" for
 * a gap notice. Exits 0 after --count records or on SIGTERM/SIGINT (sending
 * BYE); 1 when open fails (reason on stderr: "broker_member: open: TEXT")
 * or recv fails ("broker_member: recv: ERRNO-TEXT (BROKER-TEXT)").
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loafre/consumer.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (!stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int parse_num(const char *s, unsigned long long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

/* Prints one record line. */
static void print_rec(const struct loafre_rec *rec, bool full)
{
	char t[LOAFRE_FID_STRLEN], s[LOAFRE_FID_STRLEN];
	const char *type;

	if (!full) {
		printf("%llu\n", (unsigned long long)rec->index);
		return;
	}
	type = loafre_cl_type_name(rec->type);
	loafre_fid_format(&rec->tfid, t);
	if (rec->flags & LOAFRE_CLF_RENAME)
		loafre_fid_format(&rec->sfid, s);
	else
		strcpy(s, "-");
	printf("%llu %s %s %s\n", (unsigned long long)rec->index, type ? type : "?", t, s);
}

/* Prints s (NULL: "-") with bytes outside '!'..'~' and '%' as %XX. */
static void print_path(const char *s)
{
	if (!s) {
		fputs("-", stdout);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < '!' || *p > '~' || *p == '%')
			printf("%%%02X", *p);
		else
			putchar(*p);
	}
}

static void print_paths(const struct loafre_batch *b, size_t i, uint64_t index)
{
	struct loafre_rec_paths p;
	int r = loafre_batch_paths(b, i, &p);

	if (r < 0) {
		printf("PATHS %s %llu NONE %d\n", loafre_batch_mdt(b), (unsigned long long)index, r);
		return;
	}
	printf("PATHS %s %llu %u %d ", loafre_batch_mdt(b), (unsigned long long)index, p.flags,
	       p.path_err);
	print_path(p.path);
	printf(" %d ", p.spath_err);
	print_path(p.spath);
	putchar('\n');
}

/* Opens; with `retry`, until the broker answers (or a signal). */
static int open_consumer(const char *endpoint, struct loafre_consumer_options *o, bool retry,
			 struct loafre_consumer **ret)
{
	for (;;) {
		int r = loafre_consumer_open(endpoint, o, ret);
		if (r == 0 || !retry || r != -ETIMEDOUT || stop)
			return r;
		sleep_ms(100);
	}
}

int main(int argc, char **argv)
{
	struct loafre_consumer_options o = { .start = LOAFRE_CONSUMER_START_OLDEST };
	struct loafre_consumer *c = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long long count = 0, got = 0, hold = 0, delay = 0, bad_ack = 0, v;
	bool ack = true, full = false, print_acks = false, reconnect = false, first_batch = true;
	bool keepalive = false;
	unsigned session = 1;
	char err[512] = "";
	int r, ret = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: broker_member ENDPOINT GROUP [options]\n");
		return 2;
	}
	o.group = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;

		if (strcmp(a, "--no-ack") == 0)
			ack = false;
		else if (strcmp(a, "--ephemeral") == 0)
			o.group = NULL;
		else if (strcmp(a, "--print-rec") == 0)
			full = true;
		else if (strcmp(a, "--print-acks") == 0)
			print_acks = true;
		else if (strcmp(a, "--keepalive") == 0)
			keepalive = true;
		else if (strcmp(a, "--reconnect") == 0)
			reconnect = true;
		else if (strcmp(a, "--start-at") == 0 && has)
			o.start_at = argv[++i];
		else if (strcmp(a, "--paths") == 0 && has)
			o.paths = argv[++i];
		else if (strcmp(a, "--start") == 0 && has) {
			i++;
			if (strcmp(argv[i], "newest") == 0)
				o.start = LOAFRE_CONSUMER_START_NEWEST;
			else if (strcmp(argv[i], "oldest") == 0)
				o.start = LOAFRE_CONSUMER_START_OLDEST;
			else
				goto bad;
		} else if (has && (strcmp(a, "--credit") == 0 || strcmp(a, "--count") == 0 ||
				   strcmp(a, "--delay-ms") == 0 || strcmp(a, "--hold") == 0 ||
				   strcmp(a, "--bad-ack") == 0 ||
				   strcmp(a, "--heartbeat-ms") == 0)) {
			if (parse_num(argv[++i], &v) < 0)
				goto bad;
			if (strcmp(a, "--credit") == 0)
				o.credit = (uint32_t)v;
			else if (strcmp(a, "--count") == 0)
				count = v;
			else if (strcmp(a, "--delay-ms") == 0)
				delay = v;
			else if (strcmp(a, "--hold") == 0)
				hold = v;
			else if (strcmp(a, "--bad-ack") == 0)
				bad_ack = v;
			else
				o.heartbeat_ms = (unsigned)v;
		} else {
			goto bad;
		}
		continue;
bad:
		fprintf(stderr, "broker_member: bad argument '%s'\n", argv[i]);
		return 2;
	}
	if (!o.group)
		o.start = LOAFRE_CONSUMER_START_DEFAULT;
	o.err = err;
	o.errlen = sizeof(err);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r = loafre_consumer_open(argv[1], &o, &c);
	if (r < 0) {
		fprintf(stderr, "broker_member: open: %s\n", err[0] ? err : strerror(-r));
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	while (!stop && (count == 0 || got < count)) {
		struct loafre_batch *b;
		size_t n;

		r = loafre_consumer_recv(c, 200, &b);
		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r == -ENOTCONN && reconnect) {
			/* The broker went away (silent, or it forgot us after a
			 * restart): whatever we held is its to redeliver. */
			fprintf(stderr, "broker_member: %s; reconnecting\n", loafre_consumer_error(c));
			loafre_consumer_close(c);
			c = NULL;
			o.connect_timeout_ms = 1000;
			r = open_consumer(argv[1], &o, true, &c);
			if (r < 0) {
				if (stop)
					break;
				fprintf(stderr, "broker_member: open: %s\n",
					err[0] ? err : strerror(-r));
				return 1;
			}
			session++;
			printf("RECONNECTED\n");
			fflush(stdout);
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "broker_member: recv: %s (%s)\n", strerror(-r),
				loafre_consumer_error(c));
			goto out;
		}
		if (loafre_batch_kind(b) == LOAFRE_BATCH_GAP)
			printf("GAP %llu\n", (unsigned long long)loafre_batch_lost(b));
		n = loafre_batch_count(b);
		if (count && n > count - got)
			n = (size_t)(count - got);
		for (size_t i = 0; i < n; i++) {
			struct loafre_rec rec;

			if (loafre_batch_rec(b, i, &rec, NULL, NULL) == 0) {
				print_rec(&rec, full);
				if (o.paths)
					print_paths(b, i, rec.index);
			}
		}
		fflush(stdout);
		if (bad_ack && first_batch && n > 0 && o.group) {
			r = loafre_consumer_ack(c, b, bad_ack);
			printf("BADACK %llu %d %s\n", bad_ack, r,
			       r < 0 ? strerror(-r) : "accepted");
		}
		if (n > 0)
			first_batch = false;
		for (size_t i = 0; i < n; i++) {
			struct loafre_rec rec;

			if (loafre_batch_rec(b, i, &rec, NULL, NULL) < 0)
				continue;
			got++;
			for (unsigned long long left = delay; left > 0 && !stop;) {
				unsigned step = keepalive && left > 50 ? 50 : (unsigned)left;
				sleep_ms(step);
				left -= step;
				if (keepalive && (r = loafre_consumer_keepalive(c)) < 0)
					fprintf(stderr, "broker_member: keepalive: %s\n", strerror(-r));
			}
			if (!ack || !o.group)
				continue;
			if (session == 1 && hold > 0) {
				hold--;
				printf("HELD %llu\n", (unsigned long long)rec.index);
				continue;
			}
			r = loafre_consumer_ack(c, b, rec.index);
			if (r < 0)
				fprintf(stderr, "broker_member: ack %llu: %s\n",
					(unsigned long long)rec.index, strerror(-r));
			else if (print_acks)
				printf("ACKED %llu\n", (unsigned long long)rec.index);
		}
		fflush(stdout);
		loafre_batch_free(b);
	}
	ret = 0;
out:
	loafre_consumer_close(c);
	return ret;
}
