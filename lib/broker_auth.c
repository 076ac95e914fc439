/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_auth.c — CurveZMQ for the broker's tcp:// endpoints (lib/broker_auth.h).
 *
 * Server side: the broker's CURVE socket is a CURVE server with the secret
 * key of [broker] curve_secret_key and the ZAP domain "loafre"; the CURVE
 * handshake (ZeroMQ RFC 26) authenticates both ends and encrypts the
 * session. Which clients may connect is decided by ZAP (ZeroMQ RFC 27):
 * libzmq sends, for each connection being accepted, a request to the
 * ZMQ_REP socket bound at inproc://zeromq.zap.01 in the socket's context,
 * and completes the handshake only on a 200 answer. While no handler is
 * bound libzmq accepts every CURVE client: the handler is therefore bound
 * in loafre__broker_auth_start, before the server socket exists.
 *
 * ZAP request (frames after the REP envelope; all text unless said):
 *
 *   0 version      "1.0"
 *   1 request id   opaque, echoed in the reply
 *   2 domain       the server socket's ZMQ_ZAP_DOMAIN ("loafre")
 *   3 address      the client's IP address (text)
 *   4 identity     the client's routing id (may be empty)
 *   5 mechanism    "NULL", "PLAIN", "CURVE" (or another)
 *   6.. credentials: CURVE: one frame, the client's 32-byte public key
 *
 * ZAP reply (6 frames):
 *
 *   0 version      "1.0"
 *   1 request id   frame 1 of the request ("" if it had none)
 *   2 status code  "200" allowed | "400" refused | "500" malformed request
 *   3 status text  one line, for the logs of the other end
 *   4 user id      200: the label of the key's line in the allowed-keys
 *                  file, else the key in Z85; "" otherwise
 *   5 metadata     empty (no ZMTP properties)
 *
 * Decision: mechanism "CURVE" with exactly one 32-byte credential listed in
 * the allowed-keys file: 200. CURVE with another key, or any other
 * mechanism: 400. Fewer than 6 frames, more than 7, another version, a
 * CURVE credential of another size: 500. Every received request gets
 * exactly one reply (the REP socket's state machine requires it); replies
 * are sent without blocking (a request whose connection is gone has its
 * reply dropped by libzmq).
 *
 * Limits: at most ZAP_FRAME_MAX frames of a request are kept (the rest is
 * drained, and the request answered 500); at most HANDLE_MAX requests per
 * call (the socket stays readable for the next poll); at most
 * REASONS_PER_WINDOW refusal reasons reported per REASON_WINDOW_NS.
 */
#include "broker_auth.h"
#include "zmq_load.h" /* <zmq.h>, libzmq loaded on first use */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>


#include "curve_keys.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAME_MAX 8
#define HANDLE_MAX 1000
#define REASONS_PER_WINDOW 20
#define REASON_WINDOW_NS (60ull * 1000000000ull)

struct loafre__broker_auth {
	void *zap;                                 /* ZMQ_REP bound at ZAP_ENDPOINT */
	char secret[LOAFRE_CURVE_KEY_BUF];         /* the broker's secret key, Z85 */
	char public_key[LOAFRE_CURVE_KEY_BUF];     /* ... and its public key */
	struct loafre__curve_allowed *allowed;     /* client keys allowed */
	uint64_t refused;                          /* 400 and 500 answers */
	uint64_t accepted;                         /* 200 answers */
	uint64_t window_start_ns;                  /* start of the reason window */
	unsigned window_reasons;                   /* reasons reported in it */
	uint64_t suppressed;                       /* refusals not reported since */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool has_tcp(const struct loafre_broker_config *bc)
{
	for (size_t i = 0; i < bc->n_endpoints; i++)
		if (strncmp(bc->endpoints[i], "tcp://", 6) == 0)
			return true;
	return false;
}

void loafre__broker_auth_stop(struct loafre__broker_auth *a)
{
	if (!a)
		return;
	if (a->zap) {
		/* Unbinding releases the address at once (a close does it
		 * later, in libzmq's reaper): a new handler may bind it. */
		zmq_unbind(a->zap, ZAP_ENDPOINT);
		zmq_close(a->zap);
	}
	loafre__curve_allowed_free(a->allowed);
	explicit_bzero(a->secret, sizeof(a->secret));
	free(a);
}

int loafre__broker_auth_start(void *zmq_ctx, const struct loafre_broker_config *bc,
			      struct loafre__broker_auth **ret, char *err, size_t errlen)
{
	struct loafre__broker_auth *a = NULL;
	char why[512];
	int r, linger = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!zmq_ctx || !bc || !ret) {
		snprintf(err, errlen, "broker auth: missing argument");
		return -EINVAL;
	}
	if (!bc->curve || !has_tcp(bc)) {
		*ret = NULL;
		return 0;
	}
	if (!bc->curve_secret_key || !bc->curve_allowed_keys) {
		snprintf(err, errlen,
			 "CurveZMQ on tcp:// endpoints needs curve_secret_key and curve_allowed_keys");
		return -EINVAL;
	}
	if (!zmq_has("curve")) {
		snprintf(err, errlen, "this libzmq has no CURVE support (needed on tcp:// endpoints)");
		return -ENOTSUP;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = loafre_curve_keyfile_load(bc->curve_secret_key, a->public_key, a->secret, why,
				      sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "curve_secret_key: %s", why);
		goto fail;
	}
	r = loafre__curve_allowed_load(bc->curve_allowed_keys, &a->allowed, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "curve_allowed_keys: %s", why);
		goto fail;
	}
	a->zap = zmq_socket(zmq_ctx, ZMQ_REP);
	if (!a->zap) {
		r = -zmq_errno();
		snprintf(err, errlen, "cannot create the ZAP socket: %s", zmq_strerror(-r));
		goto fail;
	}
	zmq_setsockopt(a->zap, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(a->zap, ZAP_ENDPOINT) < 0) {
		r = -zmq_errno();
		snprintf(err, errlen, "cannot bind the ZAP handler %s: %s%s", ZAP_ENDPOINT,
			 zmq_strerror(-r),
			 r == -EADDRINUSE ? " (another handler in this ZeroMQ context)" : "");
		goto fail;
	}
	*ret = a;
	return 0;
fail:
	loafre__broker_auth_stop(a);
	return r;
}

int loafre__broker_auth_server(struct loafre__broker_auth *a, void *sock)
{
	int one = 1;

	if (!a || !sock)
		return -EINVAL;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, a->secret, sizeof(a->secret)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, LOAFRE__BROKER_ZAP_DOMAIN,
			   strlen(LOAFRE__BROKER_ZAP_DOMAIN)) < 0)
		return -zmq_errno();
	return 0;
}

void *loafre__broker_auth_socket(struct loafre__broker_auth *a)
{
	return a ? a->zap : NULL;
}

uint64_t loafre__broker_auth_refused(const struct loafre__broker_auth *a)
{
	return a ? a->refused : 0;
}

uint64_t loafre__broker_auth_accepted(const struct loafre__broker_auth *a)
{
	return a ? a->accepted : 0;
}

static int file_sig(char *buf, size_t cap, size_t *len, const char *tag, const char *path)
{
	struct stat st;
	int n;

	if (!path)
		n = snprintf(buf + *len, cap - *len, " %s:none", tag);
	else if (stat(path, &st) < 0)
		n = snprintf(buf + *len, cap - *len, " %s:%s:-", tag, path);
	else
		n = snprintf(buf + *len, cap - *len, " %s:%s:%llu:%llu:%lld:%lld.%09ld:%lld.%09ld",
			     tag, path, (unsigned long long)st.st_dev,
			     (unsigned long long)st.st_ino, (long long)st.st_size,
			     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			     (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	if (n < 0 || (size_t)n >= cap - *len)
		return -ENOBUFS;
	*len += (size_t)n;
	return 0;
}

int loafre__broker_auth_signature(const struct loafre_broker_config *bc, char *buf, size_t cap)
{
	size_t len = 0;
	int n, r;

	if (!buf || cap == 0)
		return -ENOBUFS;
	buf[0] = '\0';
	n = snprintf(buf, cap, "curve:%d", bc->curve ? 1 : 0);
	if (n < 0 || (size_t)n >= cap)
		return -ENOBUFS;
	len = (size_t)n;
	r = file_sig(buf, cap, &len, "secret", bc->curve_secret_key);
	if (r == 0)
		r = file_sig(buf, cap, &len, "allowed", bc->curve_allowed_keys);
	return r;
}

/* Copies a frame as printable text for a log line (at most cap-1 bytes;
 * anything outside printable ASCII becomes '?'). */
static void printable(const zmq_msg_t *m, char *out, size_t cap)
{
	const unsigned char *p = zmq_msg_data((zmq_msg_t *)m);
	size_t n = zmq_msg_size((zmq_msg_t *)m), o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++)
		out[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	out[o] = '\0';
	if (o == 0 && cap > 1)
		snprintf(out, cap, "?");
}

static bool frame_is(const zmq_msg_t *m, const char *s)
{
	size_t n = strlen(s);

	return zmq_msg_size((zmq_msg_t *)m) == n &&
	       memcmp(zmq_msg_data((zmq_msg_t *)m), s, n) == 0;
}

static void send_reply(struct loafre__broker_auth *a, const zmq_msg_t *request_id,
		       const char *code, const char *text, const char *user)
{
	const void *rid = request_id ? zmq_msg_data((zmq_msg_t *)request_id) : "";
	size_t rid_len = request_id ? zmq_msg_size((zmq_msg_t *)request_id) : 0;

	/* REP routes the reply to the requester; a gone peer's is dropped. */
	zmq_send(a->zap, "1.0", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
	zmq_send(a->zap, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
	zmq_send(a->zap, code, strlen(code), ZMQ_SNDMORE | ZMQ_DONTWAIT);
	zmq_send(a->zap, text, strlen(text), ZMQ_SNDMORE | ZMQ_DONTWAIT);
	zmq_send(a->zap, user, strlen(user), ZMQ_SNDMORE | ZMQ_DONTWAIT);
	zmq_send(a->zap, "", 0, ZMQ_DONTWAIT);
}

static void report(struct loafre__broker_auth *a,
		   void (*refused_fn)(void *arg, const char *reason), void *arg,
		   const char *reason)
{
	uint64_t now = mono_ns();
	char line[512];

	if (!refused_fn)
		return;
	if (a->window_start_ns == 0 || now - a->window_start_ns >= REASON_WINDOW_NS) {
		a->window_start_ns = now;
		a->window_reasons = 0;
	}
	if (a->window_reasons >= REASONS_PER_WINDOW) {
		a->suppressed++;
		return;
	}
	a->window_reasons++;
	if (a->suppressed) {
		snprintf(line, sizeof(line), "%s (and %llu earlier refusals not logged)", reason,
			 (unsigned long long)a->suppressed);
		a->suppressed = 0;
		refused_fn(arg, line);
	} else {
		refused_fn(arg, reason);
	}
}

/* Decides one request (n frames, overflow: more frames were drained). */
static void answer(struct loafre__broker_auth *a, zmq_msg_t *f, size_t n, bool overflow,
		   void (*refused_fn)(void *arg, const char *reason), void *arg)
{
	char addr[64], mech[32], reason[256], z85[LOAFRE_CURVE_KEY_BUF];
	const char *label;
	const zmq_msg_t *rid = n >= 2 ? &f[1] : NULL;

	if (overflow || n < 6 || n > 7 || !frame_is(&f[0], "1.0")) {
		a->refused++;
		send_reply(a, rid, "500", "malformed ZAP request", "");
		snprintf(reason, sizeof(reason),
			 "malformed ZAP request (%zu%s frames%s) refused", n, overflow ? "+" : "",
			 n >= 1 && !frame_is(&f[0], "1.0") ? ", not version 1.0" : "");
		report(a, refused_fn, arg, reason);
		return;
	}
	printable(&f[3], addr, sizeof(addr));
	if (!frame_is(&f[5], "CURVE")) {
		printable(&f[5], mech, sizeof(mech));
		a->refused++;
		send_reply(a, rid, "400", "CURVE required", "");
		snprintf(reason, sizeof(reason),
			 "client from %s refused: mechanism %s (CurveZMQ required)", addr, mech);
		report(a, refused_fn, arg, reason);
		return;
	}
	if (n != 7 || zmq_msg_size(&f[6]) != LOAFRE__CURVE_KEY_BYTES) {
		a->refused++;
		send_reply(a, rid, "500", "malformed CURVE credentials", "");
		snprintf(reason, sizeof(reason),
			 "client from %s refused: malformed CURVE credentials in ZAP request", addr);
		report(a, refused_fn, arg, reason);
		return;
	}
	if (!zmq_z85_encode(z85, zmq_msg_data(&f[6]), LOAFRE__CURVE_KEY_BYTES))
		snprintf(z85, sizeof(z85), "?");
	label = loafre__curve_allowed_find(a->allowed, zmq_msg_data(&f[6]));
	if (!label) {
		a->refused++;
		send_reply(a, rid, "400", "client key not allowed", "");
		snprintf(reason, sizeof(reason), "client key %.8s... from %s not allowed", z85,
			 addr);
		report(a, refused_fn, arg, reason);
		return;
	}
	a->accepted++;
	send_reply(a, rid, "200", "OK", label[0] ? label : z85);
}

void loafre__broker_auth_handle(struct loafre__broker_auth *a,
				void (*refused_fn)(void *arg, const char *reason), void *arg)
{
	if (!a)
		return;
	for (int done = 0; done < HANDLE_MAX; done++) {
		zmq_msg_t f[ZAP_FRAME_MAX];
		size_t n = 0;
		bool overflow = false, more = true;

		zmq_msg_init(&f[0]);
		if (zmq_msg_recv(&f[0], a->zap, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&f[0]);
			return; /* EAGAIN (nothing pending), EINTR: next poll */
		}
		n = 1;
		more = zmq_msg_more(&f[0]);
		while (more) {
			zmq_msg_t tmp, *m = n < ZAP_FRAME_MAX ? &f[n] : &tmp;
			int rc;

			zmq_msg_init(m);
			/* The rest of a multipart message is already here. */
			while ((rc = zmq_msg_recv(m, a->zap, 0)) < 0 && zmq_errno() == EINTR)
				;
			if (rc < 0) {
				zmq_msg_close(m);
				overflow = true;
				break;
			}
			more = zmq_msg_more(m);
			if (m == &tmp) {
				zmq_msg_close(&tmp);
				overflow = true;
			} else {
				n++;
			}
		}
		answer(a, f, n, overflow, refused_fn, arg);
		for (size_t i = 0; i < n; i++)
			zmq_msg_close(&f[i]);
	}
}
