/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_member.c — a group member for the broker integration tests.
 *
 *   broker_member ENDPOINT GROUP [--credit N] [--no-ack] [--count N]
 *                 [--start oldest|newest] [--ephemeral]
 *
 * Prints "READY" once joined, then "INDEX" (one line, flushed) per record
 * received ("GAP N" for a gap notice), acks each record unless --no-ack,
 * and exits 0 after N records (--count) or on SIGTERM/SIGINT (sending BYE).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loafre/consumer.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

int main(int argc, char **argv)
{
	struct loafre_consumer_options o = { .start = LOAFRE_CONSUMER_START_OLDEST };
	struct loafre_consumer *c;
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long long count = 0, got = 0;
	char err[512] = "";
	int ack = 1, r;

	if (argc < 3) {
		fprintf(stderr, "usage: broker_member ENDPOINT GROUP [options]\n");
		return 2;
	}
	o.group = argv[2];
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--no-ack") == 0)
			ack = 0;
		else if (strcmp(argv[i], "--ephemeral") == 0)
			o.group = NULL;
		else if (strcmp(argv[i], "--credit") == 0 && i + 1 < argc)
			o.credit = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--start") == 0 && i + 1 < argc) {
			i++;
			o.start = strcmp(argv[i], "newest") == 0 ? LOAFRE_CONSUMER_START_NEWEST
								 : LOAFRE_CONSUMER_START_OLDEST;
		} else {
			fprintf(stderr, "broker_member: bad argument '%s'\n", argv[i]);
			return 2;
		}
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

		r = loafre_consumer_recv(c, 200, &b);
		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "broker_member: recv: %s (%s)\n", strerror(-r),
				loafre_consumer_error(c));
			loafre_consumer_close(c);
			return 1;
		}
		if (loafre_batch_kind(b) == LOAFRE_BATCH_GAP)
			printf("GAP %llu\n", (unsigned long long)loafre_batch_lost(b));
		for (size_t i = 0; i < loafre_batch_count(b); i++) {
			struct loafre_rec rec;

			if (loafre_batch_rec(b, i, &rec, NULL, NULL) < 0)
				continue;
			printf("%llu\n", (unsigned long long)rec.index);
			got++;
			if (ack && o.group) {
				r = loafre_consumer_ack(c, b, rec.index);
				if (r < 0)
					fprintf(stderr, "broker_member: ack %llu: %s\n",
						(unsigned long long)rec.index, strerror(-r));
			}
		}
		fflush(stdout);
		loafre_batch_free(b);
	}
	loafre_consumer_close(c);
	return 0;
}
