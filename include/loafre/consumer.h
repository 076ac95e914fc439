/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * loafre/consumer.h — a client of loafred's broker (docs/design/broker.md).
 *
 * A consumer joins a persistent group (named; every record of every MDT
 * reaches at least one member of every group) or reads ephemerally (only
 * records emitted after it connected; it never acks and may be told it lost
 * records). It receives batches: records of one MDT, in Lustre's binary
 * layout (loafre/record.h), or a gap notice. Members of a group ack what
 * they have processed; unacked records of a member that leaves or dies are
 * redelivered to the others (at-least-once: a record may arrive twice,
 * never zero times).
 *
 * No ZeroMQ knowledge is needed: the transport, the heartbeats (sent from
 * loafre_consumer_recv) and the credit window are handled here.
 *
 *   struct loafre_consumer_options o = { .group = "indexer",
 *                                        .start = LOAFRE_CONSUMER_START_OLDEST };
 *   struct loafre_consumer *c;
 *   struct loafre_batch *b;
 *   if (loafre_consumer_open("ipc:///run/loafre/broker.sock", &o, &c) < 0) ...
 *   while (loafre_consumer_recv(c, -1, &b) == 0) {
 *       struct loafre_rec rec;
 *       for (size_t i = 0; i < loafre_batch_count(b); i++) {
 *           loafre_batch_rec(b, i, &rec, NULL, NULL);
 *           ... process rec ...
 *           loafre_consumer_ack(c, b, rec.index);
 *       }
 *       loafre_batch_free(b);
 *   }
 *   loafre_consumer_close(c);
 *
 * Errors: as everywhere in libloafre, negative errno (loafre/common.h).
 * When the broker refused something (its ERR message), the function returns
 * the broker's errno and loafre_consumer_error() gives the broker's text.
 *
 * Ownership and threads: a consumer is owned by its opener, freed by
 * loafre_consumer_close(). Batches are owned by the caller (free them with
 * loafre_batch_free; they may outlive their consumer). Records obtained from
 * a batch borrow from it. A consumer is not thread-safe: use it from one
 * thread at a time.
 */
#ifndef LOAFRE_CONSUMER_H
#define LOAFRE_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "loafre/common.h"
#include "loafre/record.h"

#ifdef __cplusplus
extern "C" {
#endif

struct loafre_consumer;
struct loafre_batch;

/* Where a group starts reading the first time it is used (the broker keeps
 * an existing group's persisted position and ignores this). */
enum loafre_consumer_start {
	LOAFRE_CONSUMER_START_DEFAULT = 0, /* the broker's default */
	LOAFRE_CONSUMER_START_OLDEST = 1,  /* the oldest retained record of each MDT */
	LOAFRE_CONSUMER_START_NEWEST = 2,  /* only records written after creation */
};

#define LOAFRE_CONSUMER_CREDIT_DEFAULT 1024
#define LOAFRE_CONSUMER_HEARTBEAT_DEFAULT_MS 1000
#define LOAFRE_CONSUMER_CONNECT_TIMEOUT_DEFAULT_MS 5000

struct loafre_consumer_options {
	/* Persistent group name (Lustre reader-name rules: a letter, then
	 * letters, digits, '_', '-'; at most 15 bytes), or NULL for an
	 * ephemeral reader. */
	const char *group;
	enum loafre_consumer_start start;
	/* Start per MDT, "MDT:INDEX,..." (overrides `start` when non-NULL). */
	const char *start_at;
	/* Records this consumer may hold unacked (group) or buffered
	 * (ephemeral); 0: LOAFRE_CONSUMER_CREDIT_DEFAULT. The broker may cap it. */
	uint32_t credit;
	/* Extensions wanted, comma-separated ("jobid,uidgid,nid,openmode,xattr");
	 * records are remapped to exactly these. NULL: the broker's default
	 * (records as the journal holds them). */
	const char *fields;
	/* Heartbeat interval; the broker declares a member dead after 3 silent
	 * intervals, and recv reports -ENOTCONN after 3 silent intervals of the
	 * broker. 0: LOAFRE_CONSUMER_HEARTBEAT_DEFAULT_MS. */
	unsigned heartbeat_ms;
	/* How long open waits for the broker's answer; 0: the default. */
	unsigned connect_timeout_ms;
	/* Optional (may be NULL): when open fails, a one-line reason (the
	 * broker's ERR text, or what went wrong locally) is written here. */
	char *err;
	size_t errlen;
	/* CurveZMQ (docs/design/broker.md, "Security"), for a tcp:// endpoint
	 * of a broker that uses it: the broker's public key and this client's
	 * key pair, each 40 Z85 characters (loafre/curve.h reads them from the
	 * files `loafre keygen` writes). All three or none; none: a plain
	 * connection (ipc://, or a broker with curve = no). Read by open only. */
	const char *curve_server_key;
	const char *curve_public_key;
	const char *curve_secret_key;
	/* Path annotations (replication, docs/design/replication.md decision 1):
	 * a filesystem name (a [filesystem] of loafred's configuration) asks the
	 * broker to keep, for this persistent group, the map of that
	 * filesystem's directories at the group's read position and to send
	 * every record with its paths as of that record (loafre_batch_paths).
	 * Only with `group`. The first member that asks makes the group a paths
	 * group of that filesystem for good (the broker then builds its map by
	 * walking the filesystem's root before it delivers anything); a later
	 * member naming another filesystem is refused (-EINVAL); a member that
	 * does not ask gets the same records without annotations. Directory
	 * renames (and renames over a directory) and RMDIR are then barriers:
	 * delivered only once every earlier record of the group is acked, and
	 * nothing after them before they are acked. NULL: no annotations. */
	const char *paths;
};

/* Connects to the broker at `endpoint` ("ipc:///run/loafre/broker.sock",
 * "tcp://host:port") and joins. o may be NULL (an ephemeral reader with
 * defaults). Waits for the broker's WELCOME: returns 0 and *ret on success;
 * -EINVAL (bad options or endpoint), -ETIMEDOUT (no answer: is loafred
 * running?), -EACCES (the broker refused the connection: this client's key
 * is not allowed, or the broker requires CurveZMQ keys and none were given,
 * or the other way round; reported as soon as the handshake fails), the
 * broker's refusal (e.g. -ENOENT for an unknown group or MDT; its text in
 * o->err), -ENOMEM. */
LOAFRE_API int loafre_consumer_open(const char *endpoint,
				    const struct loafre_consumer_options *o,
				    struct loafre_consumer **ret);

/* Sends BYE (records still unacked are redelivered to other members of the
 * group) and frees the consumer. Batches it returned stay valid. NULL ok. */
LOAFRE_API void loafre_consumer_close(struct loafre_consumer *c);

/* A file descriptor for poll/epoll (ZeroMQ's ZMQ_FD). It is edge-triggered
 * and may signal spuriously: when it polls readable, call
 * loafre_consumer_recv(c, 0, ...) until it returns -EAGAIN, and only then
 * poll again. Do not read from or close it. Heartbeats are sent only from
 * recv: call recv (timeout 0 is fine) at least every heartbeat interval. */
LOAFRE_API int loafre_consumer_fd(struct loafre_consumer *c);

/* Receives the next batch. timeout_ms: -1 waits forever, 0 does not wait.
 * Returns 0 and *ret (free it with loafre_batch_free); -EAGAIN when nothing
 * arrived in time; -ENOTCONN when the broker stopped answering heartbeats;
 * -EINTR when a signal interrupted the wait; the broker's errno when it
 * sent ERR (loafre_consumer_error has the text); -EBADMSG for a malformed
 * message from the broker. */
LOAFRE_API int loafre_consumer_recv(struct loafre_consumer *c, int timeout_ms,
				    struct loafre_batch **ret);

/* Sends a heartbeat if one is due (nothing sent for heartbeat_ms), without
 * receiving anything: for a member busy with a long operation between two
 * recv calls (the broker declares a member silent for 3 heartbeats dead and
 * redelivers its records). Acks count as heartbeats too. Like every call on
 * c, not concurrently with another call on c: to call it from another
 * thread (a ticker while the owner works), serialize the calls with a mutex
 * (ZeroMQ allows a socket to be used by several threads one at a time).
 * Returns 0 or -errno from the transport. */
LOAFRE_API int loafre_consumer_keepalive(struct loafre_consumer *c);

/* Acks one record (its cr_index) of a batch this consumer received.
 * Returns 0; -ENOENT if that index of the batch's MDT is not held unacked
 * by this consumer (never delivered, or already acked); -EINVAL for an
 * ephemeral reader or a gap batch; -errno from the transport. */
LOAFRE_API int loafre_consumer_ack(struct loafre_consumer *c, const struct loafre_batch *b,
				   uint64_t index);

/* Acks every record of MDT `mdt` ("demo-MDT0000") held unacked by this
 * consumer with cr_index <= index. Returns the number of records acked
 * (0 is fine), -ENOENT for an MDT the broker did not announce, -EINVAL for
 * an ephemeral reader. */
LOAFRE_API int loafre_consumer_ack_upto(struct loafre_consumer *c, const char *mdt,
					uint64_t index);

/* The broker's text for the last ERR it sent ("" if none). Borrowed from c,
 * valid until the next call on c. */
LOAFRE_API const char *loafre_consumer_error(const struct loafre_consumer *c);

/* Member id the broker assigned (WELCOME). Borrowed from c. */
LOAFRE_API const char *loafre_consumer_member(const struct loafre_consumer *c);

/* Number of records currently held unacked by this consumer (all MDTs). */
LOAFRE_API size_t loafre_consumer_unacked(const struct loafre_consumer *c);

/* ---- batches -------------------------------------------------------------- */

enum loafre_batch_kind {
	LOAFRE_BATCH_RECORDS = 0, /* records of one MDT */
	LOAFRE_BATCH_GAP = 1,     /* an ephemeral reader lost records of one MDT */
};

LOAFRE_API enum loafre_batch_kind loafre_batch_kind(const struct loafre_batch *b);
/* The MDT name ("demo-MDT0000"); borrowed from b. */
LOAFRE_API const char *loafre_batch_mdt(const struct loafre_batch *b);
/* Number of records (0 for a gap). */
LOAFRE_API size_t loafre_batch_count(const struct loafre_batch *b);
/* For a gap: how many records were lost (0 for a record batch). */
LOAFRE_API uint64_t loafre_batch_lost(const struct loafre_batch *b);

/* Record i (0 <= i < count): its decoded view in *ret_rec (name/sname
 * borrow from b) and/or its Lustre binary bytes in *ret_raw and *ret_len
 * (borrowed from b); any output may be NULL. Returns 0 or -ERANGE. The
 * records were validated on receipt. */
LOAFRE_API int loafre_batch_rec(const struct loafre_batch *b, size_t i,
				struct loafre_rec *ret_rec, const void **ret_raw,
				size_t *ret_len);

/* The raw payload: every record back to back, as Lustre's changelog
 * buffers lay them out (each self-sized). Borrowed from b. */
LOAFRE_API const void *loafre_batch_data(const struct loafre_batch *b, size_t *ret_len);

/* Paths of a record as of that record (consumers opened with `paths`). */
#define LOAFRE_RP_DIR 0x1        /* the object (sfid for RENME) is a directory */
#define LOAFRE_RP_VICTIM_DIR 0x2 /* RENME: the object renamed over is a directory */
#define LOAFRE_RP_BARRIER 0x4    /* delivered as a barrier (see `paths` above) */
struct loafre_rec_paths {
	const char *path;  /* "/a/b", relative to the filesystem's root with a
			    * leading '/': the target's link as of the record
			    * (RENME: the new name; a nameless record about a
			    * known directory: the directory's path); NULL when
			    * none or unresolved (path_err). Borrowed from b. */
	const char *spath; /* RENME: the name before (source path); else NULL */
	int path_err;      /* 0, or why path is NULL: -EXDEV (a record of an MDT
			    * of another filesystem), -ENODATA (the record has
			    * no name and is not about a known directory: a
			    * file's CLOSE, MARK; or it was read before the
			    * group became a paths group), -ENOENT (a parent
			    * not in the map: outside the walked tree, or under
			    * a deleted directory), -ELOOP, -ENAMETOOLONG,
			    * -EINVAL */
	int spath_err;     /* the same for spath (0 when not a RENME) */
	unsigned flags;    /* LOAFRE_RP_* */
};
/* The paths of record i of b. 0 and *ret (its strings NUL-terminated,
 * borrowed from b: valid until loafre_batch_free); -ENODATA when b carries
 * no annotations (the consumer did not ask, or a gap batch); -ERANGE when
 * i >= loafre_batch_count(b). *ret is written on success only. */
LOAFRE_API int loafre_batch_paths(const struct loafre_batch *b, size_t i,
				  struct loafre_rec_paths *ret);

LOAFRE_API void loafre_batch_free(struct loafre_batch *b);

#ifdef __cplusplus
}
#endif

#endif
