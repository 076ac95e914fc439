/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_worker.h — replication workers (issue 6, part 3; normative design in
 * docs/design/replication.md, user documentation in docs/replication.md).
 *
 * A worker carries out one rule: it joins the rule's persistent broker
 * group "rep-NAME" with path annotations (loafre/consumer.h `paths`; the
 * group is created at the newest record the first time), runs the rule's
 * initial sync to every destination not synced yet (the group's position,
 * taken when it was created, is the hand-over: records after it are applied
 * over the synced tree, idempotently), then turns every record into
 * destination operations (the operation table of the design, decision 5),
 * matched against the rule (source subtrees, match_*, events, conditions,
 * excludes), and acks a record once every destination has it (or it went
 * to the failed list). `threads` threads each hold one broker member of
 * the group (per-object order comes from the broker; several worker
 * processes on several nodes may join the same group).
 *
 * Destinations: local paths and `[user@]host:/path` (lib/repl_dest.h); a
 * destination that is down holds the records unacked and is retried with
 * backoff (1 s doubling to 60 s); an operation failing otherwise is retried
 * 5 times, then written to the failed list and acked.
 * Timing: `delay` holds records that long and coalesces CLOSE/MTIME/TRUNC/
 * SATTR of one object into one operation; outside the `schedule` window
 * nothing is received (the records wait in the broker).
 * Custom actions: a rule's command template replaces the built-in action
 * (run without a shell, with a timeout; non-zero exit = failure).
 *
 * State (persistent), in loafre__worker_state_dir: "synced.N" (destination N
 * has had its initial sync: "DEST-SPEC\n"), "failed" (the failed list, format
 * at the head of lib/repl_failed.c), "retry" (a retry request: `loafre rule
 * retry` renames "failed" to it; the worker re-syncs each entry's paths from
 * the source as it is now and writes those that fail again back to "failed").
 *
 * Ownership: a worker keeps a configuration of its own (open loads
 * cfg->path again: the compiled rule borrows from it), so cfg may be freed
 * after open; loafre__worker_close (NULL ok) stops its threads. The log
 * callback is called from the worker's threads.
 */
#ifndef LOAFRE_REPL_WORKER_H
#define LOAFRE_REPL_WORKER_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/config.h"

struct loafre__worker;

typedef void (*loafre__worker_log_fn)(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct loafre__worker_opts {
	const struct loafre_config *cfg; /* borrowed during open only */
	const char *rule;               /* the rule's name (a rule of cfg) */
	const char *endpoint;           /* the broker; NULL: [client] broker, else the
					 * first ipc:// endpoint of [broker] */
	const char *curve_server_key;   /* Z85 keys for a CURVE tcp:// broker, or NULL */
	const char *curve_public_key;
	const char *curve_secret_key;
	unsigned threads;               /* broker members (0: the rule's `workers`) */
	const char *state_dir;          /* NULL: loafre__worker_state_dir */
	const char *control_dir;        /* ssh master sockets (private 0700 directory,
					 * at most 1024 bytes); NULL: RUN_DIR/ssh */
	bool no_initial_sync;           /* skip the initial sync (`loafre worker
					 * --no-sync`: loafred's workers do it) */
	loafre__worker_log_fn log;      /* required */
};

/* Copies the options; connects nothing yet (run does, and retries). -EINVAL
 * with a reason in err: unknown rule, rule disabled, bad destination (or
 * the file cfg->path no longer loads: its error). */
int loafre__worker_open(const struct loafre__worker_opts *o, struct loafre__worker **ret,
			char *err, size_t errlen);
/* Runs in the calling thread (plus threads-1 more) until *stop is non-zero;
 * 0 after a stop, -errno for a failure it cannot retry. */
int loafre__worker_run(struct loafre__worker *w, volatile sig_atomic_t *stop);
/* Starts run in threads of its own. */
int loafre__worker_start(struct loafre__worker *w);
/* Stops the threads if started (each finishes its current operation; what
 * is not acked is redelivered) and frees. NULL ok. */
void loafre__worker_close(struct loafre__worker *w);

/* Appends "rule.NAME.KEY VALUE\n" lines to buf at *len (cap bytes):
 *   rule.NAME.state          syncing | running | waiting | retrying | stopped
 *   rule.NAME.sync.entries / .copied / .bytes / .errors   initial sync progress
 *   rule.NAME.records        records received
 *   rule.NAME.acked          records acked
 *   rule.NAME.last_index.MDT highest index acked
 *   rule.NAME.last_time      ctime (s.ns) of the newest record acked
 *   rule.NAME.failed         entries written to the failed list
 *   rule.NAME.dest.I.spec    destination I as written
 *   rule.NAME.dest.I.state   ok | retrying | down | waiting
 *   rule.NAME.dest.I.done / .failed / .bytes     operations, data bytes
 *   rule.NAME.dest.I.error   last error (one line), "-" if none
 * 0 or -ENOBUFS. Thread-safe. */
int loafre__worker_stats(struct loafre__worker *w, char *buf, size_t cap, size_t *len);

/* The rule's state directory: FSJOURNAL/replication/NAME (fs->journal of
 * the rule's filesystem). 0 or -ENAMETOOLONG / -ENOENT (no such rule). */
int loafre__worker_state_dir(const struct loafre_config *cfg, const char *rule, char *buf,
			     size_t len);

/* One entry of a failed list. Strings valid during the callback only. */
struct loafre__failed_ent {
	uint64_t time;        /* when it failed for good (s since the epoch) */
	const char *mdt;      /* the record's MDT */
	uint64_t index;       /* its index */
	const char *op;       /* operation kind (loafre__dest_op_name) */
	const char *path;     /* path relative to the filesystem's root */
	const char *path2;    /* rename/link: the other path, or NULL */
	const char *dest;     /* the destination's spec */
	int err;              /* negative errno */
	const char *message;  /* one line */
};
/* Reads the failed list `path` (a missing file is an empty list): calls fn
 * per entry (stops at its first non-zero return, returned). -EBADMSG for a
 * malformed line (the line number in *ret_line if not NULL). */
int loafre__failed_read(const char *path,
			int (*fn)(void *arg, const struct loafre__failed_ent *e), void *arg,
			unsigned *ret_line);
/* Formats e as one line of the failed list (with its LF, NUL-terminated)
 * into buf: its length, -ENAMETOOLONG when cap is too small
 * (LOAFRE__FAILED_LINE_MAX + 1 always suffices for paths < PATH_MAX and a
 * message < 4096 bytes), -EINVAL when op, dest or path is NULL. */
#define LOAFRE__FAILED_LINE_MAX (4 * 3 * PATH_MAX + 4096)
int loafre__failed_format(const struct loafre__failed_ent *e, char *buf, size_t cap);

#endif
