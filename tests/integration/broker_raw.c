/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_raw.c — speaks raw ZeroMQ to loafred's broker (the wire format is
 * at the head of lib/broker_proto.c) to send it what consumer.h never
 * would: malformed frames, commands out of order, bad options, bad acks.
 * For tests/integration/broker_badinput.py.
 *
 *   broker_raw ENDPOINT GROUP MDT [CASE...]     (no CASE: every case, in order)
 *
 * Each case sends one message and prints one line with the broker's answer:
 *   "CASE NAME ERR ERRNO TEXT"      ERRNO negative, as sent
 *   "CASE NAME WELCOME ID MDTLIST"
 *   "CASE NAME NOREPLY"             nothing within 3 s
 *   "CASE NAME SENT"                for messages that expect no answer (BYE)
 * Cases named session-* / member-* run in order on one DEALER that joined
 * GROUP (credit 1) and prints "RECS INDEX" for each record the broker sends
 * it (it never acks one successfully: they must go back to the group when
 * it leaves); eph-* on one that joined as an ephemeral reader. Other cases
 * each use a fresh DEALER (a client the broker does not know).
 * Exit: 0, 1 on a local error, 2 on bad usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "loafre/record.h"

#define REPLY_TIMEOUT_MS 3000
#define MAX_FRAMES 24
#define NEVER_DELIVERED 1000000000000ull

struct frame {
	const void *data; /* the frame's bytes (borrowed) */
	size_t len;       /* their count */
};

static void *ctx;
static const char *endpoint, *group, *mdt_name;
static uint32_t mdt_id = UINT32_MAX; /* from WELCOME */
static uint64_t held = 0;            /* a record the member session holds */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void *new_sock(void)
{
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 1000; /* let a last BYE leave */

	if (!s || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_connect(s, endpoint) < 0) {
		fprintf(stderr, "broker_raw: cannot connect to %s: %s\n", endpoint,
			zmq_strerror(zmq_errno()));
		exit(1);
	}
	return s;
}

static void send_frames(void *s, const struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (zmq_send(s, f[i].data, f[i].len, i + 1 < n ? ZMQ_SNDMORE : 0) < 0) {
			fprintf(stderr, "broker_raw: send: %s\n", zmq_strerror(zmq_errno()));
			exit(1);
		}
}

/* Prints the RECS payload's indices. */
static void print_recs(const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct loafre_rec rec;
		size_t size = 0;
		if (loafre_rec_decode(p + off, len - off, &rec, &size) < 0 || size == 0) {
			printf("RECS malformed\n");
			return;
		}
		printf("RECS %llu\n", (unsigned long long)rec.index);
		if (!held)
			held = rec.index;
		off += size;
	}
}

/* Waits for the answer to a case: the first message that is not RECS,
 * PING or PONG (PING is answered). Prints the CASE line. */
static void answer(void *s, const char *name)
{
	zmq_pollitem_t pi = { .socket = s, .events = ZMQ_POLLIN };
	int left = REPLY_TIMEOUT_MS;

	for (;;) {
		zmq_msg_t m[MAX_FRAMES];
		size_t n = 0;
		int more = 1;

		if (zmq_poll(&pi, 1, left) <= 0) {
			printf("CASE %s NOREPLY\n", name);
			return;
		}
		left = REPLY_TIMEOUT_MS; /* a live broker answers within that */
		while (more && n < MAX_FRAMES) {
			size_t ml = sizeof(more);
			zmq_msg_init(&m[n]);
			if (zmq_msg_recv(&m[n], s, 0) < 0) {
				zmq_msg_close(&m[n]);
				break;
			}
			n++;
			zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
		}
		if (n == 0)
			continue;
		const char *cmd = zmq_msg_data(&m[0]);
		size_t cl = zmq_msg_size(&m[0]);
		bool done = true;
		if (cl == 4 && memcmp(cmd, "RECS", 4) == 0 && n == 3) {
			print_recs(zmq_msg_data(&m[2]), zmq_msg_size(&m[2]));
			done = false;
		} else if (cl == 4 && memcmp(cmd, "PING", 4) == 0) {
			struct frame pong = { "PONG", 4 };
			send_frames(s, &pong, 1);
			done = false;
		} else if (cl == 4 && memcmp(cmd, "PONG", 4) == 0) {
			done = false;
		} else if (cl == 3 && memcmp(cmd, "ERR", 3) == 0 && n == 3 &&
			   zmq_msg_size(&m[1]) == 4) {
			printf("CASE %s ERR %d %.*s\n", name, (int32_t)le32(zmq_msg_data(&m[1])),
			       (int)zmq_msg_size(&m[2]), (const char *)zmq_msg_data(&m[2]));
		} else if (cl == 7 && memcmp(cmd, "WELCOME", 7) == 0 && n == 3 &&
			   zmq_msg_size(&m[1]) == 4) {
			const char *list = zmq_msg_data(&m[2]);
			size_t ll = zmq_msg_size(&m[2]), nl = strlen(mdt_name);
			printf("CASE %s WELCOME %u %.*s\n", name, le32(zmq_msg_data(&m[1])), (int)ll,
			       list);
			/* "NAME=ID,..." -> our MDT's id (the frame is not
			 * NUL-terminated: the digits are copied out first) */
			for (size_t i = 0; i + nl < ll; i++)
				if ((i == 0 || list[i - 1] == ',') && memcmp(list + i, mdt_name, nl) == 0 &&
				    list[i + nl] == '=') {
					char num[16];
					size_t k = 0;

					for (size_t j = i + nl + 1; j < ll && k < sizeof(num) - 1 &&
					     list[j] >= '0' && list[j] <= '9'; j++)
						num[k++] = list[j];
					num[k] = '\0';
					mdt_id = (uint32_t)strtoul(num, NULL, 10);
				}
		} else {
			printf("CASE %s GOT %.*s (%zu frames)\n", name, (int)cl, cmd, n);
		}
		for (size_t i = 0; i < n; i++)
			zmq_msg_close(&m[i]);
		fflush(stdout);
		if (done)
			return;
	}
}

/* Waits up to ms for a RECS (answering PINGs), so the member holds one. */
static void wait_recs(void *s, int ms)
{
	zmq_pollitem_t pi = { .socket = s, .events = ZMQ_POLLIN };

	while (!held && zmq_poll(&pi, 1, ms) > 0) {
		zmq_msg_t m[3];
		size_t n = 0;
		int more = 1;

		while (more) {
			size_t ml = sizeof(more);
			zmq_msg_t tmp, *p = n < 3 ? &m[n] : &tmp;
			zmq_msg_init(p);
			if (zmq_msg_recv(p, s, 0) < 0) {
				zmq_msg_close(p);
				break;
			}
			zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
			if (p == &tmp)
				zmq_msg_close(p);
			else
				n++;
		}
		if (n == 3 && zmq_msg_size(&m[0]) == 4 && memcmp(zmq_msg_data(&m[0]), "RECS", 4) == 0)
			print_recs(zmq_msg_data(&m[2]), zmq_msg_size(&m[2]));
		else if (n == 1 && zmq_msg_size(&m[0]) == 4 &&
			 memcmp(zmq_msg_data(&m[0]), "PING", 4) == 0) {
			struct frame pong = { "PONG", 4 };
			send_frames(s, &pong, 1);
		}
		for (size_t i = 0; i < n; i++)
			zmq_msg_close(&m[i]);
	}
	fflush(stdout);
}

/* One case on socket s (NULL: a fresh client). */
static int run_case(const char *name, void **member, void **eph)
{
	uint8_t id[4], ranges[32], big[2 * 16];
	char text[8192];
	struct frame f[MAX_FRAMES];
	size_t n = 0;
	void *s = NULL;
	bool fresh = false, expect = true;

	put32(id, 0);
	if (strncmp(name, "session-", 8) == 0 || strncmp(name, "member-", 7) == 0) {
		if (!*member)
			*member = new_sock();
		s = *member;
	} else if (strncmp(name, "eph-", 4) == 0) {
		if (!*eph)
			*eph = new_sock();
		s = *eph;
	} else {
		s = new_sock();
		fresh = true;
	}
#define F(d, l) (f[n++] = (struct frame){ (d), (l) })
#define FS(str) F((str), strlen(str))
	if (strcmp(name, "garbage") == 0) {
		F("\x00\xffJUNK", 6);
	} else if (strcmp(name, "missing-frame") == 0) {
		FS("HELLO");
	} else if (strcmp(name, "truncated-ack") == 0) {
		put64(ranges, 1);
		put64(ranges + 8, 1);
		FS("ACK");
		F(id, 4);
		F(ranges, 10);
	} else if (strcmp(name, "short-ack-mdt") == 0) {
		put64(ranges, 1);
		put64(ranges + 8, 1);
		FS("ACK");
		F(id, 2);
		F(ranges, 16);
	} else if (strcmp(name, "bad-range") == 0) {
		put64(ranges, 5);
		put64(ranges + 8, 3);
		FS("ACK");
		F(id, 4);
		F(ranges, 16);
	} else if (strcmp(name, "oversized-hello") == 0) {
		int l = snprintf(text, sizeof(text), "group=%s ", group);
		memset(text + l, 'x', 5000);
		FS("HELLO");
		F(text, (size_t)l + 5000);
	} else if (strcmp(name, "too-many-frames") == 0) {
		FS("HELLO");
		FS("group=x");
		FS("y");
		FS("z");
	} else if (strcmp(name, "many-frames") == 0) {
		FS("HELLO");
		for (int i = 0; i < 19; i++)
			FS("frame");
	} else if (strcmp(name, "huge-frame") == 0) {
		/* over the broker's ZMQ_MAXMSGSIZE: ZeroMQ drops the connection */
		static char huge[2 << 20];
		FS("HELLO");
		F(huge, sizeof(huge));
	} else if (strcmp(name, "ack-before-hello") == 0) {
		put64(ranges, 1);
		put64(ranges + 8, 1);
		FS("ACK");
		F(id, 4);
		F(ranges, 16);
	} else if (strcmp(name, "hello-unknown-option") == 0) {
		snprintf(text, sizeof(text), "group=%s bogus=1", group);
		FS("HELLO");
		FS(text);
	} else if (strcmp(name, "hello-bad-group") == 0) {
		FS("HELLO");
		FS("group=9bad");
	} else if (strcmp(name, "hello-long-group") == 0) {
		FS("HELLO");
		FS("group=abcdefghijklmnop");
	} else if (strcmp(name, "hello-no-group") == 0) {
		FS("HELLO");
		FS("credit=5");
	} else if (strcmp(name, "hello-bad-credit") == 0) {
		snprintf(text, sizeof(text), "group=%s credit=0", group);
		FS("HELLO");
		FS(text);
	} else if (strcmp(name, "hello-eph-start") == 0) {
		FS("HELLO");
		FS("ephemeral start=oldest");
	} else if (strcmp(name, "hello-unknown-mdt") == 0) {
		FS("HELLO");
		FS("group=rawnewgrp start=nosuch-MDT0000:1");
	} else if (strcmp(name, "session-hello") == 0) {
		snprintf(text, sizeof(text), "group=%s credit=1 heartbeat_ms=30000", group);
		FS("HELLO");
		FS(text);
	} else if (strcmp(name, "member-ack-never") == 0) {
		put64(ranges, NEVER_DELIVERED);
		put64(ranges + 8, NEVER_DELIVERED);
		put32(id, mdt_id);
		FS("ACK");
		F(id, 4);
		F(ranges, 16);
	} else if (strcmp(name, "member-ack-mixed") == 0) {
		/* the record we hold, then one never delivered: all refused */
		wait_recs(s, 5000);
		if (!held) {
			printf("CASE %s NORECORD\n", name);
			goto done;
		}
		put64(big, held);
		put64(big + 8, held);
		put64(big + 16, NEVER_DELIVERED);
		put64(big + 24, NEVER_DELIVERED);
		put32(id, mdt_id);
		FS("ACK");
		F(id, 4);
		F(big, 32);
	} else if (strcmp(name, "member-ack-unknown-mdt") == 0) {
		put64(ranges, 1);
		put64(ranges + 8, 1);
		put32(id, 999);
		FS("ACK");
		F(id, 4);
		F(ranges, 16);
	} else if (strcmp(name, "member-hello-again") == 0) {
		snprintf(text, sizeof(text), "group=%s", group);
		FS("HELLO");
		FS(text);
	} else if (strcmp(name, "member-credit-zero") == 0) {
		FS("CREDIT");
		F(id, 4);
	} else if (strcmp(name, "member-welcome") == 0) {
		FS("WELCOME");
		F(id, 4);
		F("", 0);
	} else if (strcmp(name, "member-bye") == 0 || strcmp(name, "eph-bye") == 0) {
		FS("BYE");
		expect = false;
	} else if (strcmp(name, "eph-hello") == 0) {
		FS("HELLO");
		FS("ephemeral credit=1 heartbeat_ms=30000");
	} else if (strcmp(name, "eph-ack") == 0) {
		put64(ranges, 1);
		put64(ranges + 8, 1);
		FS("ACK");
		F(id, 4);
		F(ranges, 16);
	} else {
		fprintf(stderr, "broker_raw: unknown case '%s'\n", name);
		if (fresh)
			zmq_close(s);
		return -1;
	}
#undef F
#undef FS
	send_frames(s, f, n);
	if (expect)
		answer(s, name);
	else
		printf("CASE %s SENT\n", name);
done:
	fflush(stdout);
	if (fresh)
		zmq_close(s);
	return 0;
}

static const char *const all_cases[] = {
	"garbage", "missing-frame", "truncated-ack", "short-ack-mdt", "bad-range",
	"oversized-hello", "too-many-frames", "many-frames", "ack-before-hello",
	"hello-unknown-option", "hello-bad-group", "hello-long-group", "hello-no-group",
	"hello-bad-credit", "hello-eph-start", "hello-unknown-mdt",
	"session-hello", "member-ack-never", "member-ack-mixed", "member-ack-unknown-mdt",
	"member-hello-again", "member-credit-zero", "member-welcome", "member-bye",
	"eph-hello", "eph-ack", "eph-bye", "huge-frame",
};

int main(int argc, char **argv)
{
	void *member = NULL, *eph = NULL;
	int ret = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: broker_raw ENDPOINT GROUP MDT [CASE...]\n");
		return 2;
	}
	endpoint = argv[1];
	group = argv[2];
	mdt_name = argv[3];
	ctx = zmq_ctx_new();
	if (!ctx) {
		fprintf(stderr, "broker_raw: zmq_ctx_new: %s\n", zmq_strerror(zmq_errno()));
		return 1;
	}
	if (argc == 4) {
		for (size_t i = 0; i < sizeof(all_cases) / sizeof(all_cases[0]); i++)
			if (run_case(all_cases[i], &member, &eph) < 0)
				ret = 2;
	} else {
		for (int i = 4; i < argc; i++)
			if (run_case(argv[i], &member, &eph) < 0)
				ret = 2;
	}
	if (member)
		zmq_close(member);
	if (eph)
		zmq_close(eph);
	zmq_ctx_term(ctx);
	return ret;
}
