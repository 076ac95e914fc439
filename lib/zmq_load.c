/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * zmq_load.c — the loafre__zmq_* forwarders of lib/zmq_load.h: the first
 * call of any loads libzmq (dlopen of ZMQ_SONAME, the library this build's
 * <zmq.h> belongs to: major version 4 is libzmq.so.5) and resolves every
 * function once; later calls go straight through. Never unloaded.
 */
#define LOAFRE_ZMQ_LOAD_IMPL /* zmq_load.h: the prototypes, not the renames */
#include "zmq_load.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#if ZMQ_VERSION_MAJOR != 4
#error "zmq_load.c knows the library name of libzmq 4 (libzmq.so.5) only"
#endif
#define ZMQ_SONAME "libzmq.so.5"

/* Every forwarded function: X(name, return type, parameters). */
#define ZMQ_FUNCS(X)                                                                 \
	X(zmq_errno, int, (void))                                                        \
	X(zmq_strerror, const char *, (int))                                             \
	X(zmq_has, int, (const char *))                                                  \
	X(zmq_ctx_new, void *, (void))                                                   \
	X(zmq_ctx_term, int, (void *))                                                   \
	X(zmq_socket, void *, (void *, int))                                             \
	X(zmq_close, int, (void *))                                                      \
	X(zmq_setsockopt, int, (void *, int, const void *, size_t))                      \
	X(zmq_getsockopt, int, (void *, int, void *, size_t *))                          \
	X(zmq_bind, int, (void *, const char *))                                         \
	X(zmq_unbind, int, (void *, const char *))                                       \
	X(zmq_connect, int, (void *, const char *))                                      \
	X(zmq_socket_monitor, int, (void *, const char *, int))                          \
	X(zmq_send, int, (void *, const void *, size_t, int))                            \
	X(zmq_poll, int, (zmq_pollitem_t *, int, long))                                  \
	X(zmq_msg_init, int, (zmq_msg_t *))                                              \
	X(zmq_msg_close, int, (zmq_msg_t *))                                             \
	X(zmq_msg_recv, int, (zmq_msg_t *, void *, int))                                 \
	X(zmq_msg_move, int, (zmq_msg_t *, zmq_msg_t *))                                 \
	X(zmq_msg_data, void *, (zmq_msg_t *))                                           \
	X(zmq_msg_size, size_t, (const zmq_msg_t *))                                     \
	X(zmq_msg_more, int, (const zmq_msg_t *))                                        \
	X(zmq_curve_keypair, int, (char *, char *))                                      \
	X(zmq_curve_public, int, (char *, const char *))                                 \
	X(zmq_z85_encode, char *, (char *, const uint8_t *, size_t))                     \
	X(zmq_z85_decode, uint8_t *, (uint8_t *, const char *))

#define FIELD(name, ret, params) ret(*name) params; /* the library's */
static struct {
	ZMQ_FUNCS(FIELD)
} fn;
#undef FIELD

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool loaded;       /* every function resolved */
static char why[256];     /* or why not */

static void load(void)
{
	void *h = dlopen(ZMQ_SONAME, RTLD_NOW | RTLD_LOCAL);
	void *p;

	if (!h) {
		snprintf(why, sizeof(why), "%s", dlerror());
		return;
	}
#define RESOLVE(name, ret, params)                                                 \
	p = dlsym(h, #name);                                                       \
	if (!p) {                                                                  \
		snprintf(why, sizeof(why), "%s lacks %s", ZMQ_SONAME, #name);    \
		return;                                                            \
	}                                                                          \
	memcpy(&fn.name, &p, sizeof(p));
	ZMQ_FUNCS(RESOLVE)
#undef RESOLVE
	loaded = true;
}

static bool ready(void)
{
	pthread_once(&once, load);
	if (!loaded)
		errno = ELIBACC;
	return loaded;
}

const char *loafre__zmq_error(void)
{
	return why;
}

int loafre__zmq_errno(void)
{
	return ready() ? fn.zmq_errno() : errno;
}

const char *loafre__zmq_strerror(int errnum)
{
	if (!ready())
		return errnum == ELIBACC && why[0] ? why : strerror(errnum);
	return fn.zmq_strerror(errnum);
}

int loafre__zmq_has(const char *capability)
{
	return ready() ? fn.zmq_has(capability) : 0;
}

void *loafre__zmq_ctx_new(void)
{
	return ready() ? fn.zmq_ctx_new() : NULL;
}

int loafre__zmq_ctx_term(void *context)
{
	return ready() ? fn.zmq_ctx_term(context) : -1;
}

void *loafre__zmq_socket(void *context, int type)
{
	return ready() ? fn.zmq_socket(context, type) : NULL;
}

int loafre__zmq_close(void *s)
{
	return ready() ? fn.zmq_close(s) : -1;
}

int loafre__zmq_setsockopt(void *s, int option, const void *optval, size_t optvallen)
{
	return ready() ? fn.zmq_setsockopt(s, option, optval, optvallen) : -1;
}

int loafre__zmq_getsockopt(void *s, int option, void *optval, size_t *optvallen)
{
	return ready() ? fn.zmq_getsockopt(s, option, optval, optvallen) : -1;
}

int loafre__zmq_bind(void *s, const char *addr)
{
	return ready() ? fn.zmq_bind(s, addr) : -1;
}

int loafre__zmq_unbind(void *s, const char *addr)
{
	return ready() ? fn.zmq_unbind(s, addr) : -1;
}

int loafre__zmq_connect(void *s, const char *addr)
{
	return ready() ? fn.zmq_connect(s, addr) : -1;
}

int loafre__zmq_socket_monitor(void *s, const char *addr, int events)
{
	return ready() ? fn.zmq_socket_monitor(s, addr, events) : -1;
}

int loafre__zmq_send(void *s, const void *buf, size_t len, int flags)
{
	return ready() ? fn.zmq_send(s, buf, len, flags) : -1;
}

int loafre__zmq_poll(zmq_pollitem_t *items, int nitems, long timeout)
{
	return ready() ? fn.zmq_poll(items, nitems, timeout) : -1;
}

int loafre__zmq_msg_init(zmq_msg_t *msg)
{
	return ready() ? fn.zmq_msg_init(msg) : -1;
}

int loafre__zmq_msg_close(zmq_msg_t *msg)
{
	return ready() ? fn.zmq_msg_close(msg) : -1;
}

int loafre__zmq_msg_recv(zmq_msg_t *msg, void *s, int flags)
{
	return ready() ? fn.zmq_msg_recv(msg, s, flags) : -1;
}

int loafre__zmq_msg_move(zmq_msg_t *dest, zmq_msg_t *src)
{
	return ready() ? fn.zmq_msg_move(dest, src) : -1;
}

void *loafre__zmq_msg_data(zmq_msg_t *msg)
{
	return ready() ? fn.zmq_msg_data(msg) : NULL;
}

size_t loafre__zmq_msg_size(const zmq_msg_t *msg)
{
	return ready() ? fn.zmq_msg_size(msg) : 0;
}

int loafre__zmq_msg_more(const zmq_msg_t *msg)
{
	return ready() ? fn.zmq_msg_more(msg) : 0;
}

int loafre__zmq_curve_keypair(char *z85_public_key, char *z85_secret_key)
{
	return ready() ? fn.zmq_curve_keypair(z85_public_key, z85_secret_key) : -1;
}

int loafre__zmq_curve_public(char *z85_public_key, const char *z85_secret_key)
{
	return ready() ? fn.zmq_curve_public(z85_public_key, z85_secret_key) : -1;
}

char *loafre__zmq_z85_encode(char *dest, const uint8_t *data, size_t size)
{
	return ready() ? fn.zmq_z85_encode(dest, data, size) : NULL;
}

uint8_t *loafre__zmq_z85_decode(uint8_t *dest, const char *string)
{
	return ready() ? fn.zmq_z85_decode(dest, string) : NULL;
}
