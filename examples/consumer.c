/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * consumer.c — a minimal broker consumer: joins a persistent group of
 * loafred's broker, prints each record in `lfs changelog` format and acks
 * it. Stop it with Ctrl-C; records it had not acked go to other members.
 *
 *   cc consumer.c $(pkg-config --cflags --libs loafre) -o consumer
 *   ./consumer ipc:///run/loafre/broker.sock GROUP
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <loafre/loafre.h>
#include <loafre/consumer.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

int main(int argc, char **argv)
{
	struct loafre_consumer_options o = { .start = LOAFRE_CONSUMER_START_OLDEST };
	struct loafre_consumer *c;
	char err[256] = "", line[LOAFRE_TEXT_LINE_MAX];
	struct sigaction sa = { .sa_handler = on_signal };
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s ENDPOINT GROUP\n", argv[0]);
		return 2;
	}
	o.group = argv[2];
	o.err = err;
	o.errlen = sizeof(err);
	r = loafre_consumer_open(argv[1], &o, &c);
	if (r < 0) {
		fprintf(stderr, "cannot join %s: %s\n", argv[2], err[0] ? err : strerror(-r));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop) {
		struct loafre_batch *b;

		r = loafre_consumer_recv(c, 1000, &b);
		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "%s\n", loafre_consumer_error(c)[0] ? loafre_consumer_error(c)
									 : strerror(-r));
			break;
		}
		for (size_t i = 0; i < loafre_batch_count(b); i++) {
			struct loafre_rec rec;

			if (loafre_batch_rec(b, i, &rec, NULL, NULL) < 0)
				continue;
			if (loafre_text_format(&rec, line, sizeof(line)) > 0)
				fputs(line, stdout);
			loafre_consumer_ack(c, b, rec.index);
		}
		fflush(stdout);
		loafre_batch_free(b);
	}
	loafre_consumer_close(c);
	return r < 0 && r != -EAGAIN && r != -EINTR ? 1 : 0;
}
