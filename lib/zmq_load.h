/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * zmq_load.h — libzmq, loaded on first use (lib/zmq_load.c). The files of
 * the library that talk ZeroMQ include this instead of <zmq.h>: the
 * functions they call are renamed to loafre__zmq_* forwarders, so the
 * programs do not link libzmq (and the 15 libraries it pulls: libstdc++,
 * libsodium, PGM, NORM, Kerberos), which costs every process ~1.3 ms of
 * start-up, and commands that never talk to a broker (find, du, locate)
 * never load it.
 *
 * The forwarders behave as the libzmq functions they stand for; when
 * libzmq cannot be loaded, each fails as libzmq reports a failure (NULL,
 * -1; zmq_errno() then ELIBACC; zmq_msg_size 0, zmq_msg_data NULL,
 * zmq_has 0), and loafre__zmq_error() names the reason.
 */
#ifndef LOAFRE_ZMQ_LOAD_H
#define LOAFRE_ZMQ_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

int loafre__zmq_errno(void);
const char *loafre__zmq_strerror(int errnum);
int loafre__zmq_has(const char *capability);
void *loafre__zmq_ctx_new(void);
int loafre__zmq_ctx_term(void *context);
void *loafre__zmq_socket(void *context, int type);
int loafre__zmq_close(void *s);
int loafre__zmq_setsockopt(void *s, int option, const void *optval, size_t optvallen);
int loafre__zmq_getsockopt(void *s, int option, void *optval, size_t *optvallen);
int loafre__zmq_bind(void *s, const char *addr);
int loafre__zmq_unbind(void *s, const char *addr);
int loafre__zmq_connect(void *s, const char *addr);
int loafre__zmq_socket_monitor(void *s, const char *addr, int events);
int loafre__zmq_send(void *s, const void *buf, size_t len, int flags);
int loafre__zmq_poll(zmq_pollitem_t *items, int nitems, long timeout);
int loafre__zmq_msg_init(zmq_msg_t *msg);
int loafre__zmq_msg_close(zmq_msg_t *msg);
int loafre__zmq_msg_recv(zmq_msg_t *msg, void *s, int flags);
int loafre__zmq_msg_move(zmq_msg_t *dest, zmq_msg_t *src);
void *loafre__zmq_msg_data(zmq_msg_t *msg);
size_t loafre__zmq_msg_size(const zmq_msg_t *msg);
int loafre__zmq_msg_more(const zmq_msg_t *msg);
int loafre__zmq_curve_keypair(char *z85_public_key, char *z85_secret_key);
int loafre__zmq_curve_public(char *z85_public_key, const char *z85_secret_key);
char *loafre__zmq_z85_encode(char *dest, const uint8_t *data, size_t size);
uint8_t *loafre__zmq_z85_decode(uint8_t *dest, const char *string);
/* Why libzmq could not be loaded ("" while it is, or was not tried). */
const char *loafre__zmq_error(void);

#ifndef LOAFRE_ZMQ_LOAD_IMPL
#define zmq_errno loafre__zmq_errno
#define zmq_strerror loafre__zmq_strerror
#define zmq_has loafre__zmq_has
#define zmq_ctx_new loafre__zmq_ctx_new
#define zmq_ctx_term loafre__zmq_ctx_term
#define zmq_socket loafre__zmq_socket
#define zmq_close loafre__zmq_close
#define zmq_setsockopt loafre__zmq_setsockopt
#define zmq_getsockopt loafre__zmq_getsockopt
#define zmq_bind loafre__zmq_bind
#define zmq_unbind loafre__zmq_unbind
#define zmq_connect loafre__zmq_connect
#define zmq_socket_monitor loafre__zmq_socket_monitor
#define zmq_send loafre__zmq_send
#define zmq_poll loafre__zmq_poll
#define zmq_msg_init loafre__zmq_msg_init
#define zmq_msg_close loafre__zmq_msg_close
#define zmq_msg_recv loafre__zmq_msg_recv
#define zmq_msg_move loafre__zmq_msg_move
#define zmq_msg_data loafre__zmq_msg_data
#define zmq_msg_size loafre__zmq_msg_size
#define zmq_msg_more loafre__zmq_msg_more
#define zmq_curve_keypair loafre__zmq_curve_keypair
#define zmq_curve_public loafre__zmq_curve_public
#define zmq_z85_encode loafre__zmq_z85_encode
#define zmq_z85_decode loafre__zmq_z85_decode
#endif

#endif
