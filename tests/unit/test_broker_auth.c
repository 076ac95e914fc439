/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_broker_auth.c — lib/broker_auth.c (the broker's ZAP handler) and the
 * CurveZMQ side of the consumer (lib/consumer.c), on real ZeroMQ sockets
 * and real key files:
 *  - the ZAP exchange itself: requests sent by a REQ socket to the handler
 *    (allowed key: 200 with the label as user id; unknown key or another
 *    mechanism: 400 with a reason reported; malformed: 500; request ids
 *    echoed);
 *  - real handshakes: a CURVE ROUTER made by loafre__broker_auth_server on
 *    tcp://127.0.0.1 answering HELLO with WELCOME (in a thread that polls
 *    it and the ZAP socket, as the broker thread does): an allowed client
 *    joins; a client with another key, with no keys or with a wrong
 *    server key gets -EACCES from loafre_consumer_open (not its
 *    timeout); a plain ROUTER on ipc:// in the same context still serves
 *    a client without keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "broker_auth.h"
#include "broker_proto.h"
#include "curve_keys.h"
#include "loafre/consumer.h"
#include "loafre/curve.h"

static char tmpdir[] = "/tmp/loafre-test-auth.XXXXXX";

/* Key pairs made with loafre_curve_keygen: the broker, an allowed client
 * ("alice"), a client not allowed ("mallory"). */
static char broker_pub[LOAFRE_CURVE_KEY_BUF], broker_sec[LOAFRE_CURVE_KEY_BUF];
static char alice_pub[LOAFRE_CURVE_KEY_BUF], alice_sec[LOAFRE_CURVE_KEY_BUF];
static char mallory_pub[LOAFRE_CURVE_KEY_BUF], mallory_sec[LOAFRE_CURVE_KEY_BUF];
static char broker_key_path[PATH_MAX], allowed_path[PATH_MAX];

static const char *tpath(const char *name)
{
	static char path[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", tmpdir, name);
	return path[k];
}

static int setup(void **state)
{
	char err[512];
	FILE *f;

	(void)state;
	umask(022);
	if (!mkdtemp(tmpdir))
		return -1;
	if (loafre_curve_keygen(tpath("broker"), err, sizeof(err)) < 0 ||
	    loafre_curve_keygen(tpath("alice"), err, sizeof(err)) < 0 ||
	    loafre_curve_keygen(tpath("mallory"), err, sizeof(err)) < 0 ||
	    loafre_curve_keyfile_load(tpath("broker.key"), broker_pub, broker_sec, err,
				      sizeof(err)) < 0 ||
	    loafre_curve_keyfile_load(tpath("alice.key"), alice_pub, alice_sec, err,
				      sizeof(err)) < 0 ||
	    loafre_curve_keyfile_load(tpath("mallory.key"), mallory_pub, mallory_sec, err,
				      sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	snprintf(broker_key_path, sizeof(broker_key_path), "%s", tpath("broker.key"));
	snprintf(allowed_path, sizeof(allowed_path), "%s", tpath("clients.allowed"));
	f = fopen(allowed_path, "w");
	if (!f)
		return -1;
	fprintf(f, "# test clients\n%s alice\n", alice_pub);
	return fclose(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct loafre_broker_config make_bc(char **eps, size_t n)
{
	struct loafre_broker_config bc = { 0 };

	bc.endpoints = eps;
	bc.n_endpoints = n;
	bc.curve = true;
	bc.curve_secret_key = broker_key_path;
	bc.curve_allowed_keys = allowed_path;
	return bc;
}

static void test_off_and_errors(void **state)
{
	char *tcp[] = { "ipc:///nowhere.sock", "tcp://127.0.0.1:1" };
	struct loafre_broker_config bc;
	struct loafre__broker_auth *a = (struct loafre__broker_auth *)0x1, *b = NULL;
	void *ctx = zmq_ctx_new();
	char err[512];

	(void)state;
	assert_non_null(ctx);
	/* No tcp:// endpoint: off. */
	bc = make_bc(tcp, 1);
	assert_int_equal(loafre__broker_auth_start(ctx, &bc, &a, err, sizeof(err)), 0);
	assert_null(a);
	/* curve = no: off. */
	bc = make_bc(tcp, 2);
	bc.curve = false;
	a = (struct loafre__broker_auth *)0x1;
	assert_int_equal(loafre__broker_auth_start(ctx, &bc, &a, err, sizeof(err)), 0);
	assert_null(a);
	assert_int_equal(loafre__broker_auth_server(NULL, ctx), -EINVAL);
	assert_null(loafre__broker_auth_socket(NULL));
	loafre__broker_auth_handle(NULL, NULL, NULL);
	loafre__broker_auth_stop(NULL);

	/* A .pub file as the secret key. */
	bc = make_bc(tcp, 2);
	bc.curve_secret_key = (char *)tpath("broker.pub");
	a = (struct loafre__broker_auth *)0x1;
	assert_int_equal(loafre__broker_auth_start(ctx, &bc, &a, err, sizeof(err)), -ENOKEY);
	assert_non_null(strstr(err, "curve_secret_key: "));
	assert_non_null(strstr(err, "broker.pub"));
	assert_ptr_equal(a, (struct loafre__broker_auth *)0x1);
	/* A missing allowed-keys file. */
	bc = make_bc(tcp, 2);
	bc.curve_allowed_keys = (char *)tpath("none.allowed");
	assert_int_equal(loafre__broker_auth_start(ctx, &bc, &a, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "curve_allowed_keys: "));
	assert_non_null(strstr(err, "none.allowed"));
	/* Keys missing from the configuration. */
	bc = make_bc(tcp, 2);
	bc.curve_allowed_keys = NULL;
	assert_int_equal(loafre__broker_auth_start(ctx, &bc, &a, err, sizeof(err)), -EINVAL);
	assert_ptr_equal(a, (struct loafre__broker_auth *)0x1);

	/* One handler per context. */
	bc = make_bc(tcp, 2);
	a = NULL;
	assert_int_equal(loafre__broker_auth_start(ctx, &bc, &a, err, sizeof(err)), 0);
	assert_non_null(a);
	assert_non_null(loafre__broker_auth_socket(a));
	assert_int_equal(loafre__broker_auth_start(ctx, &bc, &b, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "another handler"));
	assert_null(b);
	loafre__broker_auth_stop(a);
	/* Stopped: the address is free again. */
	assert_int_equal(loafre__broker_auth_start(ctx, &bc, &b, err, sizeof(err)), 0);
	loafre__broker_auth_stop(b);
	assert_int_equal(zmq_ctx_term(ctx), 0);
}

static void test_signature(void **state)
{
	char *eps[] = { "tcp://127.0.0.1:1" };
	struct loafre_broker_config bc = make_bc(eps, 1);
	char s1[1024], s2[1024], s3[1024], small[16];
	FILE *f;

	(void)state;
	assert_int_equal(loafre__broker_auth_signature(&bc, s1, sizeof(s1)), 0);
	assert_int_equal(loafre__broker_auth_signature(&bc, s2, sizeof(s2)), 0);
	assert_string_equal(s1, s2);
	assert_non_null(strstr(s1, allowed_path));
	/* Another line in the allowed-keys file changes it. */
	f = fopen(allowed_path, "a");
	assert_non_null(f);
	fprintf(f, "# a comment\n");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(loafre__broker_auth_signature(&bc, s2, sizeof(s2)), 0);
	assert_string_not_equal(s1, s2);
	/* So does the setting. */
	bc.curve = false;
	assert_int_equal(loafre__broker_auth_signature(&bc, s3, sizeof(s3)), 0);
	assert_string_not_equal(s2, s3);
	assert_int_equal(loafre__broker_auth_signature(&bc, small, sizeof(small)), -ENOBUFS);
	assert_true(strlen(small) < sizeof(small));
}

/* ---- the ZAP exchange ----------------------------------------------------- */

struct reasons {
	pthread_mutex_t lock;
	char text[4096];
	unsigned n;
};

static void on_refused(void *arg, const char *reason)
{
	struct reasons *rs = arg;
	size_t l;

	pthread_mutex_lock(&rs->lock);
	l = strlen(rs->text);
	snprintf(rs->text + l, sizeof(rs->text) - l, "%s\n", reason);
	rs->n++;
	pthread_mutex_unlock(&rs->lock);
}

/* Sends frames (sizes given; -1: strlen) from req, lets the handler answer,
 * and reads the reply into out[] (at most 8 frames). Returns the count. */
static int zap_exchange(void *req, struct loafre__broker_auth *a, struct reasons *rs,
			const void *const *frames, const int *sizes, int n, char out[][64])
{
	int got = 0, more = 1;

	for (int i = 0; i < n; i++) {
		size_t len = sizes[i] < 0 ? strlen(frames[i]) : (size_t)sizes[i];
		assert_true(zmq_send(req, frames[i], len, i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
	}
	/* The request is on its way over inproc: wait until it is readable. */
	{
		zmq_pollitem_t pi = { .socket = loafre__broker_auth_socket(a), .events = ZMQ_POLLIN };
		assert_int_equal(zmq_poll(&pi, 1, 10000), 1);
	}
	loafre__broker_auth_handle(a, on_refused, rs);
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		assert_true(zmq_msg_recv(&m, req, 0) >= 0);
		if (got < 8) {
			size_t l = zmq_msg_size(&m) < 63 ? zmq_msg_size(&m) : 63;
			memcpy(out[got], zmq_msg_data(&m), l);
			out[got][l] = '\0';
		}
		got++;
		more = zmq_msg_more(&m);
		zmq_msg_close(&m);
	}
	return got;
}

static void test_zap_protocol(void **state)
{
	char *eps[] = { "tcp://127.0.0.1:1" };
	struct loafre_broker_config bc = make_bc(eps, 1);
	struct loafre__broker_auth *a = NULL;
	struct reasons rs = { .lock = PTHREAD_MUTEX_INITIALIZER };
	void *ctx = zmq_ctx_new(), *req;
	uint8_t alice[32], mallory[32];
	char out[8][64], err[512];
	int n;

	(void)state;
	assert_int_equal(loafre__curve_z85_key(alice_pub, alice), 0);
	assert_int_equal(loafre__curve_z85_key(mallory_pub, mallory), 0);
	assert_int_equal(loafre__broker_auth_start(ctx, &bc, &a, err, sizeof(err)), 0);
	req = zmq_socket(ctx, ZMQ_REQ);
	assert_non_null(req);
	assert_int_equal(zmq_connect(req, "inproc://zeromq.zap.01"), 0);

	/* Allowed key: 200, user id = the label. */
	{
		const void *f[] = { "1.0", "r1", "loafre", "10.0.0.1", "", "CURVE", alice };
		const int s[] = { -1, -1, -1, -1, 0, -1, 32 };
		n = zap_exchange(req, a, &rs, f, s, 7, out);
	}
	assert_int_equal(n, 6);
	assert_string_equal(out[0], "1.0");
	assert_string_equal(out[1], "r1");
	assert_string_equal(out[2], "200");
	assert_string_equal(out[4], "alice");
	assert_string_equal(out[5], "");
	assert_int_equal(loafre__broker_auth_accepted(a), 1);
	assert_int_equal(loafre__broker_auth_refused(a), 0);
	assert_int_equal(rs.n, 0);

	/* Unknown key: 400, reported with the key's start and the address. */
	{
		const void *f[] = { "1.0", "r2", "loafre", "10.0.0.2", "", "CURVE", mallory };
		const int s[] = { -1, -1, -1, -1, 0, -1, 32 };
		n = zap_exchange(req, a, &rs, f, s, 7, out);
	}
	assert_int_equal(n, 6);
	assert_string_equal(out[1], "r2");
	assert_string_equal(out[2], "400");
	assert_string_equal(out[4], "");
	assert_int_equal(rs.n, 1);
	{
		char want[128];
		snprintf(want, sizeof(want), "client key %.8s... from 10.0.0.2 not allowed",
			 mallory_pub);
		if (!strstr(rs.text, want))
			fail_msg("reason '%s' lacks '%s'", rs.text, want);
	}

	/* Another mechanism: 400. */
	{
		const void *f[] = { "1.0", "r3", "loafre", "10.0.0.3", "", "NULL" };
		const int s[] = { -1, -1, -1, -1, 0, -1 };
		n = zap_exchange(req, a, &rs, f, s, 6, out);
	}
	assert_string_equal(out[1], "r3");
	assert_string_equal(out[2], "400");
	assert_non_null(strstr(rs.text, "mechanism NULL"));

	/* Malformed: wrong version, too few frames, short credential, too
	 * many frames: 500, request id echoed when there is one. */
	{
		const void *f[] = { "2.0", "r4", "loafre", "10.0.0.4", "", "CURVE", alice };
		const int s[] = { -1, -1, -1, -1, 0, -1, 32 };
		n = zap_exchange(req, a, &rs, f, s, 7, out);
	}
	assert_int_equal(n, 6);
	assert_string_equal(out[0], "1.0");
	assert_string_equal(out[1], "r4");
	assert_string_equal(out[2], "500");
	{
		const void *f[] = { "1.0", "r5", "loafre" };
		const int s[] = { -1, -1, -1 };
		n = zap_exchange(req, a, &rs, f, s, 3, out);
	}
	assert_string_equal(out[1], "r5");
	assert_string_equal(out[2], "500");
	{
		const void *f[] = { "1.0", "r6", "loafre", "10.0.0.6", "", "CURVE", alice };
		const int s[] = { -1, -1, -1, -1, 0, -1, 31 };
		n = zap_exchange(req, a, &rs, f, s, 7, out);
	}
	assert_string_equal(out[2], "500");
	{
		const void *f[20];
		int s[20];
		for (int i = 0; i < 20; i++) {
			f[i] = i == 0 ? "1.0" : i == 1 ? "r7" : "x";
			s[i] = -1;
		}
		n = zap_exchange(req, a, &rs, f, s, 20, out);
	}
	assert_int_equal(n, 6);
	assert_string_equal(out[1], "r7");
	assert_string_equal(out[2], "500");
	{
		const void *f[] = { "" };
		const int s[] = { 0 };
		n = zap_exchange(req, a, &rs, f, s, 1, out);
	}
	assert_string_equal(out[1], "");
	assert_string_equal(out[2], "500");
	assert_int_equal(loafre__broker_auth_refused(a), 7);
	assert_int_equal(loafre__broker_auth_accepted(a), 1);
	assert_int_equal(rs.n, 7);

	/* Still answering correctly after all that. */
	{
		const void *f[] = { "1.0", "r8", "loafre", "10.0.0.8", "", "CURVE", alice };
		const int s[] = { -1, -1, -1, -1, 0, -1, 32 };
		n = zap_exchange(req, a, &rs, f, s, 7, out);
	}
	assert_string_equal(out[1], "r8");
	assert_string_equal(out[2], "200");

	zmq_close(req);
	loafre__broker_auth_stop(a);
	assert_int_equal(zmq_ctx_term(ctx), 0);
}

/* ---- real handshakes -------------------------------------------------------- */

struct server {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ready;
	int start_err;
	atomic_bool stop;
	char tcp[256];           /* the CURVE ROUTER's endpoint */
	char ipc[PATH_MAX + 16]; /* the plain ROUTER's endpoint */
	struct reasons rs;
	uint64_t refused;
};

/* Answers HELLO with WELCOME (member 7, one MDT). */
static void serve(void *sock)
{
	for (;;) {
		zmq_msg_t parts[1 + LOAFRE__BP_MAX_FRAMES];
		struct loafre__bp_frame f[LOAFRE__BP_MAX_FRAMES], out[LOAFRE__BP_MAX_FRAMES];
		struct loafre__bp_msg m;
		uint8_t scratch[LOAFRE__BP_SCRATCH];
		size_t n = 0;
		int more = 1;

		while (more && n < 1 + LOAFRE__BP_MAX_FRAMES) {
			zmq_msg_init(&parts[n]);
			if (zmq_msg_recv(&parts[n], sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
				zmq_msg_close(&parts[n]);
				for (size_t i = 0; i < n; i++)
					zmq_msg_close(&parts[i]);
				return;
			}
			more = zmq_msg_more(&parts[n]);
			n++;
		}
		for (size_t i = 1; i < n; i++) {
			f[i - 1].data = zmq_msg_data(&parts[i]);
			f[i - 1].len = zmq_msg_size(&parts[i]);
		}
		if (loafre__bp_decode(f, n - 1, &m, NULL, 0) == 0 && m.cmd == LOAFRE__BP_HELLO) {
			struct loafre__bp_msg w = { .cmd = LOAFRE__BP_WELCOME, .member = 7,
						    .text = "t-MDT0000=0", .text_len = 11 };
			int k = loafre__bp_encode(&w, out, scratch);
			zmq_send(sock, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), ZMQ_SNDMORE);
			for (int i = 0; i < k; i++)
				zmq_send(sock, out[i].data, out[i].len, i + 1 < k ? ZMQ_SNDMORE : 0);
		}
		for (size_t i = 0; i < n; i++)
			zmq_msg_close(&parts[i]);
	}
}

static void *server_thread(void *arg)
{
	struct server *s = arg;
	char *eps[] = { "tcp://127.0.0.1:0", s->ipc };
	struct loafre_broker_config bc = make_bc(eps, 2);
	struct loafre__broker_auth *a = NULL;
	void *ctx = zmq_ctx_new(), *curve = NULL, *plain = NULL;
	char err[512];
	size_t len = sizeof(s->tcp);
	int r, linger = 0;

	r = loafre__broker_auth_start(ctx, &bc, &a, err, sizeof(err));
	if (r == 0) {
		curve = zmq_socket(ctx, ZMQ_ROUTER);
		plain = zmq_socket(ctx, ZMQ_ROUTER);
		zmq_setsockopt(curve, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_setsockopt(plain, ZMQ_LINGER, &linger, sizeof(linger));
		r = loafre__broker_auth_server(a, curve);
	}
	if (r == 0 && (zmq_bind(curve, "tcp://127.0.0.1:*") < 0 || zmq_bind(plain, s->ipc) < 0 ||
		       zmq_getsockopt(curve, ZMQ_LAST_ENDPOINT, s->tcp, &len) < 0))
		r = -zmq_errno();
	pthread_mutex_lock(&s->lock);
	s->ready = true;
	s->start_err = r;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	while (r == 0 && !atomic_load(&s->stop)) {
		zmq_pollitem_t pi[3] = { { .socket = curve, .events = ZMQ_POLLIN },
					 { .socket = plain, .events = ZMQ_POLLIN },
					 { .socket = loafre__broker_auth_socket(a),
					   .events = ZMQ_POLLIN } };
		if (zmq_poll(pi, 3, 20) < 0 && zmq_errno() != EINTR)
			break;
		loafre__broker_auth_handle(a, on_refused, &s->rs);
		serve(curve);
		serve(plain);
	}
	s->refused = loafre__broker_auth_refused(a);
	if (curve)
		zmq_close(curve);
	if (plain)
		zmq_close(plain);
	loafre__broker_auth_stop(a);
	zmq_ctx_term(ctx);
	return NULL;
}

static int open_with(const char *ep, const char *srv, const char *pub, const char *sec,
		     char *err, size_t errlen, char *member, size_t mlen)
{
	struct loafre_consumer_options o = {
		.connect_timeout_ms = 60000, /* a refusal must come long before this */
		.err = err,
		.errlen = errlen,
		.curve_server_key = srv,
		.curve_public_key = pub,
		.curve_secret_key = sec,
	};
	struct loafre_consumer *c = NULL;
	int r;

	err[0] = '\0';
	r = loafre_consumer_open(ep, &o, &c);
	if (r == 0) {
		snprintf(member, mlen, "%s", loafre_consumer_member(c));
		loafre_consumer_close(c);
	}
	return r;
}

static void test_handshakes(void **state)
{
	struct server s = { .lock = PTHREAD_MUTEX_INITIALIZER,
			    .cond = PTHREAD_COND_INITIALIZER,
			    .rs = { .lock = PTHREAD_MUTEX_INITIALIZER } };
	char err[512], member[32] = "", other_pub[LOAFRE_CURVE_KEY_BUF],
			 other_sec[LOAFRE_CURVE_KEY_BUF];
	int r;

	(void)state;
	snprintf(s.ipc, sizeof(s.ipc), "ipc://%s/plain.sock", tmpdir);
	assert_int_equal(pthread_create(&s.thread, NULL, server_thread, &s), 0);
	pthread_mutex_lock(&s.lock);
	while (!s.ready)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(s.start_err, 0);

	/* The allowed client joins. */
	r = open_with(s.tcp, broker_pub, alice_pub, alice_sec, err, sizeof(err), member,
		      sizeof(member));
	if (r != 0)
		fail_msg("allowed client: %d %s", r, err);
	assert_string_equal(member, "7");

	/* A key not in the allowed list: refused at once, clearly. */
	r = open_with(s.tcp, broker_pub, mallory_pub, mallory_sec, err, sizeof(err), member,
		      sizeof(member));
	if (r != -EACCES || !strstr(err, "broker refused this client's key"))
		fail_msg("not-allowed client: %d '%s'", r, err);

	/* No keys at all against the CURVE endpoint. */
	r = open_with(s.tcp, NULL, NULL, NULL, err, sizeof(err), member, sizeof(member));
	if (r != -EACCES || !strstr(err, "CurveZMQ"))
		fail_msg("client without keys: %d '%s'", r, err);

	/* The right client key but a wrong server key. */
	assert_int_equal(zmq_curve_keypair(other_pub, other_sec), 0);
	r = open_with(s.tcp, other_pub, alice_pub, alice_sec, err, sizeof(err), member,
		      sizeof(member));
	if (r != -EACCES || !strstr(err, "server key"))
		fail_msg("wrong server key: %d '%s'", r, err);

	/* Keys against the plain ipc:// endpoint: a clear mismatch. */
	r = open_with(s.ipc, broker_pub, alice_pub, alice_sec, err, sizeof(err), member,
		      sizeof(member));
	if (r != -EACCES || !strstr(err, "use CurveZMQ there"))
		fail_msg("keys on ipc: %d '%s'", r, err);

	/* The plain ipc:// endpoint in the same context serves a client
	 * without keys (the ZAP handler does not refuse it). */
	strcpy(member, "");
	r = open_with(s.ipc, NULL, NULL, NULL, err, sizeof(err), member, sizeof(member));
	if (r != 0)
		fail_msg("ipc client without keys: %d '%s'", r, err);
	assert_string_equal(member, "7");

	/* And the allowed client still joins after the refusals. */
	r = open_with(s.tcp, broker_pub, alice_pub, alice_sec, err, sizeof(err), member,
		      sizeof(member));
	if (r != 0)
		fail_msg("allowed client again: %d %s", r, err);

	/* Bad option combinations are refused before connecting. */
	r = open_with(s.tcp, broker_pub, alice_pub, NULL, err, sizeof(err), member, sizeof(member));
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err, "go together"));
	r = open_with(s.tcp, broker_pub, alice_pub, "not a key", err, sizeof(err), member,
		      sizeof(member));
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err, "curve_secret_key is not a key"));

	atomic_store(&s.stop, true);
	assert_int_equal(pthread_join(s.thread, NULL), 0);
	/* The refusal of mallory's key was reported to the broker. */
	{
		char want[128];
		snprintf(want, sizeof(want), "client key %.8s... from 127.0.0.1 not allowed",
			 mallory_pub);
		if (!strstr(s.rs.text, want))
			fail_msg("broker reasons '%s' lack '%s'", s.rs.text, want);
	}
	assert_true(s.refused >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_and_errors),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_zap_protocol),
		cmocka_unit_test(test_handshakes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
