/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_auth.h — CurveZMQ for the broker's tcp:// endpoints (internal;
 * docs/design/broker.md "Security"; the ZAP exchange is specified at the
 * head of lib/broker_auth.c, the key files at the head of lib/curve_keys.c).
 *
 * The broker creates one of these in its ZeroMQ context before it creates
 * its CURVE server socket, makes that socket a CURVE server with
 * loafre__broker_auth_server, and polls loafre__broker_auth_socket in its
 * own zmq_poll loop, calling loafre__broker_auth_handle when it is
 * readable: every client connecting over tcp:// is then checked against
 * the allowed client keys (ZeroMQ's ZAP, RFC 27). No extra thread.
 *
 * Ownership and threads: the object owns its ZAP socket, keys and allowed
 * list; start and stop are called from the thread that uses the socket
 * (ZeroMQ sockets are not thread-safe), or start before handing it over.
 * Stop it before zmq_ctx_term of the context.
 */
#ifndef LOAFRE_BROKER_AUTH_H
#define LOAFRE_BROKER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "loafre/config.h"

#define LOAFRE__BROKER_ZAP_DOMAIN "loafre"

struct loafre__broker_auth;

/* Loads cfg->broker's curve keys (secret key file, allowed keys file) and binds a ZAP
 * handler socket (ZMQ_REP on "inproc://zeromq.zap.01") in zmq_ctx. Returns 0 and *ret,
 * or a negative errno with a one-line reason in err. With curve off (no tcp endpoint,
 * or curve = no) returns 0 and *ret = NULL. */
int loafre__broker_auth_start(void *zmq_ctx, const struct loafre_broker_config *bc,
			      struct loafre__broker_auth **ret, char *err, size_t errlen);

/* Makes sock a CURVE server (ZMQ_CURVE_SERVER=1, secret key, ZMQ_ZAP_DOMAIN "loafre");
 * call before zmq_bind. 0 or -errno (-EINVAL for a NULL a). */
int loafre__broker_auth_server(struct loafre__broker_auth *a, void *sock);

/* The ZAP socket, for zmq_poll (ZMQ_POLLIN). */
void *loafre__broker_auth_socket(struct loafre__broker_auth *a);

/* Answers every pending ZAP request without blocking (200 for an allowed client public
 * key with mechanism CURVE, 400 otherwise). For each refusal, if refused_fn is not
 * NULL it is called with a one-line reason ("client key <first 8 Z85 chars>... from
 * 1.2.3.4 not allowed") so the broker logs it. At most 20 reasons a minute are
 * reported (a client retrying a bad key must not flood the log); the next reported
 * one then says how many were not. Malformed requests are answered 500 and reported
 * too. */
void loafre__broker_auth_handle(struct loafre__broker_auth *a,
				void (*refused_fn)(void *arg, const char *reason), void *arg);

/* Connections refused since start (400 and 500 answers). */
uint64_t loafre__broker_auth_refused(const struct loafre__broker_auth *a);

/* Connections accepted since start (200 answers). */
uint64_t loafre__broker_auth_accepted(const struct loafre__broker_auth *a);

/* Writes into buf (cap bytes, NUL-terminated) what the CurveZMQ setup of bc depends on:
 * the settings and the identity of both key files (device, inode, size, modification
 * and change times; "-" for a file that cannot be stat'ed), so that a daemon comparing
 * it restarts the broker on SIGHUP after an allowed-keys file was edited. Returns 0 or
 * -ENOBUFS (truncated). */
int loafre__broker_auth_signature(const struct loafre_broker_config *bc, char *buf,
				  size_t cap);

/* Closes its socket, wipes the secret key, frees a. NULL ok. */
void loafre__broker_auth_stop(struct loafre__broker_auth *a);

#endif
