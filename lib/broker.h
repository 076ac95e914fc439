/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker.h — the consumer broker run by loafred (internal; docs/design/broker.md,
 * wire format at the head of lib/broker_proto.c).
 *
 * The broker runs in its own thread with its own read-only handles on the
 * journals of every MDT of every configured filesystem, and serves
 * consumers on a ZeroMQ ROUTER socket bound to every configured endpoint.
 *
 * Thread-safety: start, stop and stats are called from the owning
 * (daemon) thread; the log callback is called from the broker thread.
 */
#ifndef LOAFRE_BROKER_H
#define LOAFRE_BROKER_H

#include <stddef.h>

#include "loafre/config.h"

struct loafre__broker;

typedef void (*loafre__broker_log_fn)(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Opens the journals of cfg's filesystems (they must exist: start the
 * broker after the daemon opened them), binds every endpoint of
 * cfg->broker and starts the thread. Only cfg values are copied; cfg may
 * be freed afterwards. On failure returns a negative errno and writes a
 * one-line reason into err. */
int loafre__broker_start(const struct loafre_config *cfg, loafre__broker_log_fn log,
			 struct loafre__broker **ret, char *err, size_t errlen);

/* Stops the thread (clearing every group's journals up to its position
 * first), closes the socket and the journals, frees b. NULL is fine. */
void loafre__broker_stop(struct loafre__broker *b);

/* Appends the latest stats snapshot ("KEY VALUE\n" lines:
 * broker.group.NAME.{members,inflight,redelivered} N, for paths groups
 * broker.group.NAME.{paths_fs NAME,paths_building 0|1,paths_dirs N,barriers N},
 * broker.group.NAME.position.MDT N, broker.ephemeral N, broker.bad_frames N)
 * to buf at *len (cap bytes in all). Returns 0 or -ENOBUFS (truncated at a
 * line boundary). */
int loafre__broker_stats(struct loafre__broker *b, char *buf, size_t cap, size_t *len);

#endif
