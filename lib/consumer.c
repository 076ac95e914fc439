/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * consumer.c — the broker client (include/loafre/consumer.h).
 *
 * A ZeroMQ DEALER socket speaking lib/broker_proto.h. Per MDT announced in
 * WELCOME the consumer keeps the sorted set of indices it holds unacked, so
 * that ack_upto sends only ranges of records delivered to this member
 * (acking an index never delivered to us is an ERR from the broker: another
 * member may hold the indices in between).
 *
 * Credit: a group member's window is its in-flight (unacked) records, so
 * acks give credit back implicitly. An ephemeral reader never acks: it
 * grants CREDIT for each batch it has received, once the batch is handed
 * to the caller.
 *
 * Heartbeats: recv sends PING when nothing was sent for heartbeat_ms,
 * answers PING with PONG, and reports -ENOTCONN when nothing at all came
 * from the broker for 3 heartbeat intervals.
 *
 * Paths (options.paths): HELLO carries paths=FSNAME; a RECS with the
 * paths frame (validated by the decoder: one valid entry per record) is
 * turned, when the batch is made and before its records count as held,
 * into one struct loafre_rec_paths per record whose strings are copied
 * NUL-terminated (the wire has none) into one buffer owned by the batch;
 * loafre_batch_paths hands them out.
 *
 * CurveZMQ: with the three curve options the DEALER is a CURVE client
 * (ZMQ_CURVE_SERVERKEY/PUBLICKEY/SECRETKEY before connect). A refused
 * handshake is invisible on the socket itself (libzmq just retries), so
 * during open a socket monitor (zmq_socket_monitor, an inproc PAIR) reports
 * HANDSHAKE_FAILED_AUTH (the broker's ZAP handler said no: 400),
 * HANDSHAKE_FAILED_PROTOCOL (e.g. one end uses CURVE and the other does
 * not) and connections the broker closed before their handshake completed
 * (it could not decrypt our hello: a wrong server key; or a mechanism
 * mismatch seen from the other side) twice in a row; open then fails with
 * -EACCES instead of waiting for its timeout. The monitor is stopped once
 * WELCOME arrived.
 */
#include "loafre/consumer.h"
#include "zmq_load.h" /* <zmq.h>, libzmq loaded on first use */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "broker_proto.h"
#include "curve_keys.h"

#define MONITOR_ENDPOINT "inproc://loafre-consumer-monitor"

struct cons_mdt {
	char name[LOAFRE__BP_MDT_NAME_MAX + 1];
	uint32_t id;
	uint64_t *held; /* sorted unacked indices */
	size_t n_held, cap_held;
};

struct loafre_consumer {
	void *ctx;
	void *sock;
	void *mon;       /* during open: PAIR receiving sock's monitor events */
	bool ephemeral;
	char member[16];
	struct cons_mdt *mdts;
	size_t n_mdts;
	unsigned hb_ms;
	uint64_t last_send_ns;
	uint64_t last_recv_ns;
	char err[LOAFRE__BP_TEXT_MAX + 1];
};

struct loafre_batch {
	enum loafre_batch_kind kind;
	char mdt[LOAFRE__BP_MDT_NAME_MAX + 1];
	uint32_t mdt_id;
	uint64_t lost;
	zmq_msg_t msg;  /* the RECS payload frame, owned (zero copy) */
	bool has_msg;   /* msg holds data */
	uint8_t *data;  /* the payload: zmq_msg_data(&msg) */
	size_t len;
	size_t *off; /* count + 1 offsets */
	size_t count;
	struct loafre_rec_paths *paths; /* per record, or NULL (no paths frame) */
	char *pstr;  /* the paths' strings, NUL-terminated (owned) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_err(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!buf || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

/* Sends one message; returns 0 or -errno. */
static int send_msg(struct loafre_consumer *c, const struct loafre__bp_msg *m)
{
	struct loafre__bp_frame f[LOAFRE__BP_MAX_FRAMES];
	uint8_t scratch[LOAFRE__BP_SCRATCH];
	int n = loafre__bp_encode(m, f, scratch);

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		int flags = i + 1 < n ? ZMQ_SNDMORE : 0;
		while (zmq_send(c->sock, f[i].data, f[i].len, flags) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
	}
	c->last_send_ns = now_ns();
	return 0;
}

/* Receives one whole multipart message without waiting. Returns the number
 * of frames (> 0) in msgs (caller closes them), -EAGAIN, or -errno.
 * Messages with more frames than the protocol allows are drained and
 * reported as -EBADMSG. */
static int recv_raw(struct loafre_consumer *c, zmq_msg_t *msgs, size_t max)
{
	size_t n = 0;
	int more;
	size_t ml = sizeof(more);

	for (;;) {
		zmq_msg_t tmp;
		zmq_msg_t *m = n < max ? &msgs[n] : &tmp;

		zmq_msg_init(m);
		if (zmq_msg_recv(m, c->sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			int e = errno;
			zmq_msg_close(m);
			if (n == 0 && e == EINTR)
				return -EINTR;
			if (n == 0)
				return -e;
			if (e == EINTR)
				continue; /* rest of a multipart message is already here */
			for (size_t i = 0; i < n && i < max; i++)
				zmq_msg_close(&msgs[i]);
			return -e;
		}
		n++;
		more = 0;
		zmq_getsockopt(c->sock, ZMQ_RCVMORE, &more, &ml);
		if (m == &tmp)
			zmq_msg_close(&tmp);
		if (!more)
			break;
	}
	if (n > max) {
		for (size_t i = 0; i < max; i++)
			zmq_msg_close(&msgs[i]);
		return -EBADMSG;
	}
	return (int)n;
}

static struct cons_mdt *mdt_by_id(struct loafre_consumer *c, uint32_t id)
{
	for (size_t i = 0; i < c->n_mdts; i++)
		if (c->mdts[i].id == id)
			return &c->mdts[i];
	return NULL;
}

static struct cons_mdt *mdt_by_name(struct loafre_consumer *c, const char *name)
{
	for (size_t i = 0; i < c->n_mdts; i++)
		if (strcmp(c->mdts[i].name, name) == 0)
			return &c->mdts[i];
	return NULL;
}

/* Inserts idx in the sorted held set (duplicates kept once). */
static int held_add(struct cons_mdt *m, uint64_t idx)
{
	size_t pos;

	if (m->n_held == m->cap_held) {
		size_t nc = m->cap_held ? m->cap_held * 2 : 256;
		uint64_t *p = realloc(m->held, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->held = p;
		m->cap_held = nc;
	}
	pos = m->n_held;
	while (pos > 0 && m->held[pos - 1] > idx)
		pos--;
	if (pos > 0 && m->held[pos - 1] == idx)
		return 0; /* redelivered while still held */
	memmove(&m->held[pos + 1], &m->held[pos], (m->n_held - pos) * sizeof(*m->held));
	m->held[pos] = idx;
	m->n_held++;
	return 0;
}

/* Index of the first held entry >= idx. */
static size_t held_lower(const struct cons_mdt *m, uint64_t idx)
{
	size_t lo = 0, hi = m->n_held;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->held[mid] < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Sends ACKs for held[from..to) as ranges of consecutive indices and
 * removes them from the set. */
static int ack_span(struct loafre_consumer *c, struct cons_mdt *m, size_t from, size_t to)
{
	uint8_t *payload;
	size_t cap = LOAFRE__BP_ACK_RANGES_MAX, nr = 0, i = from;
	int r = 0;

	if (from >= to)
		return 0;
	payload = malloc(cap * LOAFRE__BP_ACK_RANGE_SIZE);
	if (!payload)
		return -ENOMEM;
	while (i < to && r == 0) {
		uint64_t first = m->held[i], last = first;
		while (i + 1 < to && m->held[i + 1] == last + 1)
			last = m->held[++i];
		i++;
		loafre__bp_ack_put(payload, nr++, first, last);
		if (nr == cap || i == to) {
			struct loafre__bp_msg msg = { .cmd = LOAFRE__BP_ACK, .mdt = m->id,
						      .payload = payload,
						      .payload_len = nr * LOAFRE__BP_ACK_RANGE_SIZE,
						      .n_ranges = nr };
			r = send_msg(c, &msg);
			nr = 0;
		}
	}
	free(payload);
	if (r < 0)
		return r;
	memmove(&m->held[from], &m->held[to], (m->n_held - to) * sizeof(*m->held));
	m->n_held -= to - from;
	return (int)(to - from);
}

static void free_consumer(struct loafre_consumer *c)
{
	if (!c)
		return;
	if (c->mon)
		zmq_close(c->mon);
	if (c->sock)
		zmq_close(c->sock);
	if (c->ctx)
		zmq_ctx_term(c->ctx);
	for (size_t i = 0; i < c->n_mdts; i++)
		free(c->mdts[i].held);
	free(c->mdts);
	free(c);
}

/* Builds the HELLO options text. */
static int hello_text(const struct loafre_consumer_options *o, char *buf, size_t cap)
{
	size_t len = 0;
	int n;

#define APPEND(...)                                                       \
	do {                                                              \
		n = snprintf(buf + len, cap - len, __VA_ARGS__);          \
		if (n < 0 || (size_t)n >= cap - len)                      \
			return -EMSGSIZE;                                 \
		len += (size_t)n;                                         \
	} while (0)

	if (o->group)
		APPEND("group=%s", o->group);
	else
		APPEND("ephemeral");
	if (o->group && o->start_at)
		APPEND(" start=%s", o->start_at);
	else if (o->group && o->start == LOAFRE_CONSUMER_START_OLDEST)
		APPEND(" start=oldest");
	else if (o->group && o->start == LOAFRE_CONSUMER_START_NEWEST)
		APPEND(" start=newest");
	APPEND(" credit=%u", o->credit ? o->credit : LOAFRE_CONSUMER_CREDIT_DEFAULT);
	if (o->fields)
		APPEND(" fields=%s", o->fields);
	if (o->paths)
		APPEND(" paths=%s", o->paths);
	APPEND(" heartbeat_ms=%u",
	       o->heartbeat_ms ? o->heartbeat_ms : LOAFRE_CONSUMER_HEARTBEAT_DEFAULT_MS);
#undef APPEND
	return (int)len;
}

/* Handles WELCOME: member id and MDT list. */
static int take_welcome(struct loafre_consumer *c, const struct loafre__bp_msg *m)
{
	size_t off = 0;
	char name[LOAFRE__BP_MDT_NAME_MAX + 1];
	uint32_t id;
	int r;

	snprintf(c->member, sizeof(c->member), "%u", m->member);
	while ((r = loafre__bp_mdts_next(m->text, m->text_len, &off, name, &id)) == 1) {
		struct cons_mdt *p = realloc(c->mdts, (c->n_mdts + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->mdts = p;
		memset(&p[c->n_mdts], 0, sizeof(*p));
		memcpy(p[c->n_mdts].name, name, sizeof(name));
		p[c->n_mdts].id = id;
		c->n_mdts++;
	}
	return r < 0 ? r : 0;
}

/* Checks the curve options: 1 when set, 0 when none, -EINVAL (o->err set). */
static int curve_opts(const struct loafre_consumer_options *o)
{
	static const char *const names[3] = { "curve_server_key", "curve_public_key",
					      "curve_secret_key" };
	const char *k[3] = { o->curve_server_key, o->curve_public_key, o->curve_secret_key };
	int set = 0;

	for (int i = 0; i < 3; i++)
		set += k[i] != NULL;
	if (set == 0)
		return 0;
	if (set != 3) {
		set_err(o->err, o->errlen,
			"curve_server_key, curve_public_key and curve_secret_key go together");
		return -EINVAL;
	}
	for (int i = 0; i < 3; i++) {
		uint8_t bin[LOAFRE__CURVE_KEY_BYTES];
		int bad = strlen(k[i]) != LOAFRE_CURVE_KEY_LEN || loafre__curve_z85_key(k[i], bin) < 0;
		explicit_bzero(bin, sizeof(bin));
		if (bad) {
			set_err(o->err, o->errlen, "%s is not a key (%d Z85 characters)", names[i],
				LOAFRE_CURVE_KEY_LEN);
			return -EINVAL;
		}
	}
	return 1;
}

/* Makes c->sock a CURVE client. */
static int curve_client(struct loafre_consumer *c, const struct loafre_consumer_options *o)
{
	if (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, o->curve_server_key,
			   LOAFRE_CURVE_KEY_BUF) < 0 ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, o->curve_public_key,
			   LOAFRE_CURVE_KEY_BUF) < 0 ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, o->curve_secret_key,
			   LOAFRE_CURVE_KEY_BUF) < 0) {
		int r = -zmq_errno();
		set_err(o->err, o->errlen, "cannot use CurveZMQ: %s",
			r == -EINVAL && !zmq_has("curve") ? "this libzmq has no CURVE support"
							  : zmq_strerror(-r));
		return r;
	}
	return 0;
}

/* Watches c->sock's handshakes during open (see the head of this file). */
static int monitor_start(struct loafre_consumer *c)
{
	int linger = 0;

	if (zmq_socket_monitor(c->sock, MONITOR_ENDPOINT,
			       ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
				       ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
				       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) < 0)
		return -zmq_errno();
	c->mon = zmq_socket(c->ctx, ZMQ_PAIR);
	if (!c->mon)
		return -zmq_errno();
	zmq_setsockopt(c->mon, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(c->mon, MONITOR_ENDPOINT) < 0)
		return -zmq_errno();
	return 0;
}

static void monitor_stop(struct loafre_consumer *c)
{
	if (!c->mon)
		return;
	zmq_socket_monitor(c->sock, NULL, 0);
	zmq_close(c->mon);
	c->mon = NULL;
}

struct handshake {
	bool curve;     /* this client uses CURVE */
	bool connected; /* a connection is up ... */
	bool done;      /* ... and its handshake succeeded */
	unsigned drops; /* connections closed by the broker during the handshake */
};

/* Reads the pending monitor events. 0, or -EACCES with o->err set when the
 * broker refused the handshake. */
static int monitor_read(struct loafre_consumer *c, struct handshake *hs, const char *endpoint,
			const struct loafre_consumer_options *o)
{
	for (;;) {
		zmq_msg_t m;
		uint16_t ev = 0;
		uint32_t val = 0;
		int more;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return 0;
		}
		/* Frame 1: u16 event, u32 value (host order); frame 2: endpoint. */
		if (zmq_msg_size(&m) >= 6) {
			memcpy(&ev, zmq_msg_data(&m), sizeof(ev));
			memcpy(&val, (uint8_t *)zmq_msg_data(&m) + 2, sizeof(val));
		}
		more = zmq_msg_more(&m);
		zmq_msg_close(&m);
		while (more) {
			zmq_msg_init(&m);
			more = zmq_msg_recv(&m, c->mon, 0) >= 0 && zmq_msg_more(&m);
			zmq_msg_close(&m);
		}
		switch (ev) {
		case ZMQ_EVENT_CONNECTED:
			hs->connected = true;
			hs->done = false;
			break;
		case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
			hs->done = true;
			break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
			set_err(o->err, o->errlen,
				"broker refused this client's key (status %u from %s: is its public "
				"key in the broker's curve_allowed_keys?)",
				(unsigned)val, endpoint);
			return -EACCES;
		case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
			if (val == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH && hs->curve)
				set_err(o->err, o->errlen,
					"the broker at %s does not use CurveZMQ there: connect without keys",
					endpoint);
			else if (val == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
				set_err(o->err, o->errlen,
					"the broker at %s requires CurveZMQ: give its public key and this "
					"client's key pair (loafre keygen)",
					endpoint);
			else
				set_err(o->err, o->errlen,
					"security handshake with the broker at %s failed (protocol error "
					"0x%x%s)",
					endpoint, (unsigned)val,
					val == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC ? ": wrong server key?"
										    : "");
			return -EACCES;
		case ZMQ_EVENT_DISCONNECTED:
			/* Closed before the handshake completed: the broker could
			 * not decrypt a CURVE hello (wrong server key), or one end
			 * uses CURVE and the other does not (seen this way when the
			 * broker closes before its greeting was read). Once may be a
			 * broker stopping; twice (libzmq reconnects at once) is not. */
			if (hs->connected && !hs->done && ++hs->drops >= 2) {
				if (hs->curve)
					set_err(o->err, o->errlen,
						"the broker at %s closed the connection during the "
						"CurveZMQ handshake: is the server key the broker's public "
						"key, and does the broker use CurveZMQ there?",
						endpoint);
				else
					set_err(o->err, o->errlen,
						"the broker at %s closed the connection during the "
						"handshake: does it require CurveZMQ keys there?",
						endpoint);
				return -EACCES;
			}
			hs->connected = false;
			break;
		default:
			break;
		}
	}
}

int loafre_consumer_open(const char *endpoint, const struct loafre_consumer_options *o,
			 struct loafre_consumer **ret)
{
	static const struct loafre_consumer_options defaults = { 0 };
	struct loafre_consumer *c;
	struct loafre__bp_hello h;
	char text[LOAFRE__BP_HELLO_MAX + 1], perr[256];
	int r, len, linger = 0, timeout_ms;
	uint64_t deadline;
	struct handshake hs = { 0 };

	if (!o)
		o = &defaults;
	if (!endpoint || !ret) {
		set_err(o->err, o->errlen, "no endpoint");
		return -EINVAL;
	}
	len = hello_text(o, text, sizeof(text));
	if (len < 0) {
		set_err(o->err, o->errlen, "consumer options too long");
		return len;
	}
	/* Validate locally with the broker's own parser. */
	r = loafre__bp_hello_parse(text, (size_t)len, &h, perr, sizeof(perr));
	if (r < 0) {
		set_err(o->err, o->errlen, "%s", perr);
		return r;
	}
	r = curve_opts(o);
	if (r < 0)
		return r;
	hs.curve = r > 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ephemeral = !o->group;
	c->hb_ms = o->heartbeat_ms ? o->heartbeat_ms : LOAFRE_CONSUMER_HEARTBEAT_DEFAULT_MS;
	c->ctx = zmq_ctx_new();
	if (!c->ctx) {
		r = -errno;
		goto fail;
	}
	c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
	if (!c->sock) {
		r = -errno;
		goto fail;
	}
	zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (hs.curve) {
		r = curve_client(c, o);
		if (r < 0)
			goto fail;
	}
	r = monitor_start(c);
	if (r < 0) {
		set_err(o->err, o->errlen, "cannot monitor the connection: %s", zmq_strerror(-r));
		goto fail;
	}
	if (zmq_connect(c->sock, endpoint) < 0) {
		r = -errno;
		set_err(o->err, o->errlen, "cannot connect to %s: %s", endpoint,
			zmq_strerror(-r));
		if (r == -EPROTONOSUPPORT || r == -ENOENT)
			r = -EINVAL;
		goto fail;
	}
	{
		struct loafre__bp_msg hello = { .cmd = LOAFRE__BP_HELLO, .text = text,
						.text_len = (size_t)len };
		r = send_msg(c, &hello);
		if (r < 0)
			goto fail;
	}
	timeout_ms = o->connect_timeout_ms ? (int)o->connect_timeout_ms
					   : LOAFRE_CONSUMER_CONNECT_TIMEOUT_DEFAULT_MS;
	deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		zmq_msg_t msgs[LOAFRE__BP_MAX_FRAMES];
		struct loafre__bp_frame f[LOAFRE__BP_MAX_FRAMES];
		struct loafre__bp_msg m;
		uint64_t now = now_ns();
		zmq_pollitem_t pi[2] = { { .socket = c->sock, .events = ZMQ_POLLIN },
					 { .socket = c->mon, .events = ZMQ_POLLIN } };
		int n;

		if (now >= deadline) {
			r = -ETIMEDOUT;
			set_err(o->err, o->errlen, "no answer from the broker at %s within %d ms",
				endpoint, timeout_ms);
			goto fail;
		}
		n = zmq_poll(pi, 2, (long)((deadline - now) / 1000000u) + 1);
		if (n < 0 && errno == EINTR) {
			r = -EINTR;
			goto fail;
		}
		if (n <= 0)
			continue;
		if (pi[1].revents & ZMQ_POLLIN) {
			r = monitor_read(c, &hs, endpoint, o);
			if (r < 0)
				goto fail;
		}
		if (!(pi[0].revents & ZMQ_POLLIN))
			continue;
		n = recv_raw(c, msgs, LOAFRE__BP_MAX_FRAMES);
		if (n == -EAGAIN)
			continue;
		if (n < 0) {
			r = n;
			set_err(o->err, o->errlen, "bad message from the broker");
			goto fail;
		}
		for (int i = 0; i < n; i++) {
			f[i].data = zmq_msg_data(&msgs[i]);
			f[i].len = zmq_msg_size(&msgs[i]);
		}
		r = loafre__bp_decode(f, (size_t)n, &m, perr, sizeof(perr));
		if (r == 0 && m.cmd == LOAFRE__BP_WELCOME)
			r = take_welcome(c, &m);
		else if (r == 0 && m.cmd == LOAFRE__BP_ERR) {
			set_err(o->err, o->errlen, "%.*s", (int)m.text_len, m.text);
			r = m.err;
		} else if (r == 0) {
			r = 1; /* anything else before WELCOME: ignore */
		} else {
			set_err(o->err, o->errlen, "bad message from the broker: %s", perr);
		}
		for (int i = 0; i < n; i++)
			zmq_msg_close(&msgs[i]);
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
	}
	monitor_stop(c);
	c->last_recv_ns = now_ns();
	*ret = c;
	return 0;
fail:
	free_consumer(c);
	return r;
}

void loafre_consumer_close(struct loafre_consumer *c)
{
	if (!c)
		return;
	if (c->sock) {
		struct loafre__bp_msg bye = { .cmd = LOAFRE__BP_BYE };
		int linger = 1000;
		/* Give BYE a moment to leave. */
		zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
		send_msg(c, &bye);
	}
	free_consumer(c);
}

int loafre_consumer_fd(struct loafre_consumer *c)
{
	int fd = -1;
	size_t len = sizeof(fd);

	if (zmq_getsockopt(c->sock, ZMQ_FD, &fd, &len) < 0)
		return -errno;
	return fd;
}

const char *loafre_consumer_error(const struct loafre_consumer *c)
{
	return c->err;
}

const char *loafre_consumer_member(const struct loafre_consumer *c)
{
	return c->member;
}

size_t loafre_consumer_unacked(const struct loafre_consumer *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_mdts; i++)
		n += c->mdts[i].n_held;
	return n;
}

/* Copies the paths frame of m (the decoder checked it: one valid entry per
 * record) into b->paths and b->pstr. */
static int take_paths(struct loafre_batch *b, const struct loafre__bp_msg *m)
{
	struct loafre__bp_rec_paths e;
	size_t off = 0, i = 0, at = 0;
	int r;

	b->paths = calloc(m->n_paths ? m->n_paths : 1, sizeof(*b->paths));
	/* the strings plus one NUL per string: at most the frame's size */
	b->pstr = malloc(m->paths_len + 1);
	if (!b->paths || !b->pstr)
		return -ENOMEM;
	while ((r = loafre__bp_paths_next(m->paths, m->paths_len, &off, &e)) == 1 &&
	       i < m->n_paths) {
		struct loafre_rec_paths *p = &b->paths[i++];

		p->flags = e.flags;
		p->path_err = e.path_err;
		p->spath_err = e.spath_err;
		if (e.path) {
			p->path = b->pstr + at;
			memcpy(b->pstr + at, e.path, e.path_len);
			at += e.path_len;
			b->pstr[at++] = '\0';
		}
		if (e.spath) {
			p->spath = b->pstr + at;
			memcpy(b->pstr + at, e.spath, e.spath_len);
			at += e.spath_len;
			b->pstr[at++] = '\0';
		}
	}
	return r < 0 || i != m->n_paths ? -EBADMSG : 0;
}

/* Builds a batch from a RECS or GAP message. */
static int make_batch(struct loafre_consumer *c, const struct loafre__bp_msg *m,
		      zmq_msg_t *payload, struct loafre_batch **ret)
{
	struct cons_mdt *md = mdt_by_id(c, m->mdt);
	struct loafre_batch *b;
	size_t off = 0, cap = 64;
	struct loafre_rec rec;
	int r;

	if (!md) {
		set_err(c->err, sizeof(c->err), "broker sent records of unknown MDT id %u",
			m->mdt);
		return -EBADMSG;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	memcpy(b->mdt, md->name, sizeof(b->mdt));
	b->mdt_id = m->mdt;
	if (m->cmd == LOAFRE__BP_GAP) {
		b->kind = LOAFRE_BATCH_GAP;
		b->lost = m->lost;
		*ret = b;
		return 0;
	}
	b->kind = LOAFRE_BATCH_RECORDS;
	b->off = malloc(cap * sizeof(*b->off));
	if (!b->off) {
		r = -ENOMEM;
		goto fail;
	}
	/* Take the frame rather than copy it (m->payload points into it). */
	zmq_msg_init(&b->msg);
	zmq_msg_move(&b->msg, payload);
	b->has_msg = true;
	b->data = zmq_msg_data(&b->msg);
	b->len = m->payload_len;
	if (m->paths) {
		r = take_paths(b, m);
		if (r < 0)
			goto fail;
	}
	for (;;) {
		size_t at = off;
		r = loafre__bp_recs_next(b->data, b->len, &off, &rec, NULL, NULL);
		if (r < 0) {
			set_err(c->err, sizeof(c->err), "malformed record from the broker");
			goto fail;
		}
		if (b->count + 1 >= cap) {
			size_t *p = realloc(b->off, cap * 2 * sizeof(*p));
			if (!p) {
				r = -ENOMEM;
				goto fail;
			}
			b->off = p;
			cap *= 2;
		}
		if (r == 0) {
			b->off[b->count] = at;
			break;
		}
		b->off[b->count++] = at;
		if (!c->ephemeral) {
			r = held_add(md, rec.index);
			if (r < 0)
				goto fail;
		}
	}
	if (b->paths && b->count != m->n_paths) {
		/* the decoder counted them: cannot happen */
		set_err(c->err, sizeof(c->err), "paths of %zu records for %zu", m->n_paths,
			b->count);
		r = -EBADMSG;
		goto fail;
	}
	*ret = b;
	return 0;
fail:
	loafre_batch_free(b);
	return r;
}

/* Handles one message; returns 1 with *ret for a batch, 0 for a message
 * consumed internally, or -errno. */
static int handle(struct loafre_consumer *c, zmq_msg_t *msgs, int n, struct loafre_batch **ret)
{
	struct loafre__bp_frame f[LOAFRE__BP_MAX_FRAMES];
	struct loafre__bp_msg m;
	char perr[256];
	int r;

	for (int i = 0; i < n; i++) {
		f[i].data = zmq_msg_data(&msgs[i]);
		f[i].len = zmq_msg_size(&msgs[i]);
	}
	r = loafre__bp_decode(f, (size_t)n, &m, perr, sizeof(perr));
	if (r < 0) {
		set_err(c->err, sizeof(c->err), "bad message from the broker: %s", perr);
		return -EBADMSG;
	}
	switch (m.cmd) {
	case LOAFRE__BP_RECS:
	case LOAFRE__BP_GAP:
		r = make_batch(c, &m, m.cmd == LOAFRE__BP_RECS ? &msgs[2] : NULL, ret);
		if (r < 0)
			return r;
		if (c->ephemeral && m.cmd == LOAFRE__BP_RECS && (*ret)->count > 0) {
			struct loafre__bp_msg cr = { .cmd = LOAFRE__BP_CREDIT,
						     .credit = (uint32_t)(*ret)->count };
			send_msg(c, &cr);
		}
		return 1;
	case LOAFRE__BP_PING: {
		struct loafre__bp_msg pong = { .cmd = LOAFRE__BP_PONG };
		return send_msg(c, &pong);
	}
	case LOAFRE__BP_PONG:
		return 0;
	case LOAFRE__BP_ERR:
		set_err(c->err, sizeof(c->err), "%.*s", (int)m.text_len, m.text);
		return m.err;
	default:
		/* WELCOME again or a command for the broker: not for us. */
		return 0;
	}
}

int loafre_consumer_keepalive(struct loafre_consumer *c)
{
	uint64_t hb_ns = (uint64_t)c->hb_ms * 1000000u;

	if (now_ns() - c->last_send_ns < hb_ns)
		return 0;
	struct loafre__bp_msg ping = { .cmd = LOAFRE__BP_PING };
	return send_msg(c, &ping);
}

int loafre_consumer_recv(struct loafre_consumer *c, int timeout_ms, struct loafre_batch **ret)
{
	uint64_t start = now_ns();
	uint64_t hb_ns = (uint64_t)c->hb_ms * 1000000u;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
					   : start + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		zmq_msg_t msgs[LOAFRE__BP_MAX_FRAMES];
		uint64_t now = now_ns(), wake;
		zmq_pollitem_t pi = { .socket = c->sock, .events = ZMQ_POLLIN };
		struct loafre_batch *b = NULL;
		int n, r;

		if (now - c->last_send_ns >= hb_ns) {
			struct loafre__bp_msg ping = { .cmd = LOAFRE__BP_PING };
			r = send_msg(c, &ping);
			if (r < 0)
				return r;
		}
		n = recv_raw(c, msgs, LOAFRE__BP_MAX_FRAMES);
		if (n > 0) {
			c->last_recv_ns = now_ns();
			r = handle(c, msgs, n, &b);
			for (int i = 0; i < n; i++)
				zmq_msg_close(&msgs[i]);
			if (r < 0)
				return r;
			if (r == 1) {
				*ret = b;
				return 0;
			}
			continue;
		}
		if (n == -EBADMSG) {
			set_err(c->err, sizeof(c->err), "oversized message from the broker");
			return n;
		}
		if (n != -EAGAIN)
			return n;
		now = now_ns();
		if (now - c->last_recv_ns >= 3 * hb_ns) {
			set_err(c->err, sizeof(c->err), "the broker stopped answering");
			return -ENOTCONN;
		}
		if (now >= deadline)
			return -EAGAIN;
		wake = c->last_send_ns + hb_ns;
		if (deadline < wake)
			wake = deadline;
		n = zmq_poll(&pi, 1, wake > now ? (long)((wake - now + 999999u) / 1000000u) : 0);
		if (n < 0 && errno == EINTR)
			return -EINTR;
		if (n < 0)
			return -errno;
	}
}

int loafre_consumer_ack(struct loafre_consumer *c, const struct loafre_batch *b, uint64_t index)
{
	struct cons_mdt *m;
	size_t at;

	if (c->ephemeral || b->kind != LOAFRE_BATCH_RECORDS)
		return -EINVAL;
	m = mdt_by_id(c, b->mdt_id);
	if (!m)
		return -ENOENT;
	at = held_lower(m, index);
	if (at == m->n_held || m->held[at] != index)
		return -ENOENT;
	{
		int r = ack_span(c, m, at, at + 1);
		return r < 0 ? r : 0;
	}
}

int loafre_consumer_ack_upto(struct loafre_consumer *c, const char *mdt, uint64_t index)
{
	struct cons_mdt *m;

	if (c->ephemeral)
		return -EINVAL;
	m = mdt_by_name(c, mdt);
	if (!m)
		return -ENOENT;
	return ack_span(c, m, 0, index == UINT64_MAX ? m->n_held : held_lower(m, index + 1));
}

/* ---- batches -------------------------------------------------------------- */

enum loafre_batch_kind loafre_batch_kind(const struct loafre_batch *b)
{
	return b->kind;
}

const char *loafre_batch_mdt(const struct loafre_batch *b)
{
	return b->mdt;
}

size_t loafre_batch_count(const struct loafre_batch *b)
{
	return b->count;
}

uint64_t loafre_batch_lost(const struct loafre_batch *b)
{
	return b->lost;
}

int loafre_batch_rec(const struct loafre_batch *b, size_t i, struct loafre_rec *ret_rec,
		     const void **ret_raw, size_t *ret_len)
{
	size_t len;

	if (i >= b->count)
		return -ERANGE;
	len = b->off[i + 1] - b->off[i];
	if (ret_rec) {
		int r = loafre_rec_decode(b->data + b->off[i], len, ret_rec, NULL);
		if (r < 0)
			return r;
	}
	if (ret_raw)
		*ret_raw = b->data + b->off[i];
	if (ret_len)
		*ret_len = len;
	return 0;
}

const void *loafre_batch_data(const struct loafre_batch *b, size_t *ret_len)
{
	if (ret_len)
		*ret_len = b->len;
	return b->data;
}

int loafre_batch_paths(const struct loafre_batch *b, size_t i, struct loafre_rec_paths *ret)
{
	if (!b->paths)
		return -ENODATA;
	if (i >= b->count)
		return -ERANGE;
	*ret = b->paths[i];
	return 0;
}

void loafre_batch_free(struct loafre_batch *b)
{
	if (!b)
		return;
	if (b->has_msg)
		zmq_msg_close(&b->msg);
	free(b->paths);
	free(b->pstr);
	free(b->off);
	free(b);
}
