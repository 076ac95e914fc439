/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * indexer.h — keeping a metadata index current (internal; docs/index.md
 * "The indexer").
 *
 * An indexer is a member of the broker group of its [index NAME] ("idx-NAME",
 * created at the newest record the first time). It loads the store with a
 * scan when the store was never loaded (meta "scan" is not "done …"), then
 * applies every batch of its filesystem's records (lib/index_apply.h) in
 * one transaction and acks the records only after the commit; records of
 * other filesystems are acked untouched. A batch that fails to apply is
 * kept and retried (1 s, then backoff up to 30 s) — never acked, so nothing
 * is lost. While another process scans the store (meta "scan" =
 * "running PID" with PID alive), batches wait. After commits, at most once
 * a second, directory quotas are checked: a crossing (over or back under)
 * is logged, appended to RUN_DIR/events as a JSON line and handed to the
 * index's quota_hook, if any.
 *
 * loafred runs indexers in threads (loafre__indexer_start); `loafre index`
 * runs one in the foreground (loafre__indexer_run).
 *
 * Ownership: an indexer copies what it needs from the configuration;
 * loafre__indexer_close (NULL ok) stops its thread if started. The log
 * callback may be called from the indexer's thread.
 */
#ifndef LOAFRE_INDEXER_H
#define LOAFRE_INDEXER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "loafre/config.h"

struct loafre__indexer;

typedef void (*loafre__indexer_log_fn)(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct loafre__indexer_opts {
	const struct loafre_config *cfg;        /* borrowed during open only */
	const struct loafre_index_config *ic;   /* one of cfg's indexes */
	const char *endpoint;   /* the broker; NULL: [client] broker, else the
				 * first ipc:// endpoint of [broker] */
	const char *curve_server_key;  /* Z85 keys for a CURVE tcp:// broker, or NULL */
	const char *curve_public_key;
	const char *curve_secret_key;
	loafre__indexer_log_fn log;     /* required */
	unsigned scan_threads;          /* initial scan walkers; 0: CPUs */
};

/* Copies the options; opens nothing yet (run does, and retries). NULL
 * fields of o are defaults. -EINVAL with a reason in err for a filesystem
 * the configuration does not have. */
int loafre__indexer_open(const struct loafre__indexer_opts *o, struct loafre__indexer **ret,
			 char *err, size_t errlen);
/* Runs until *stop is non-zero (or the internal stop of a started thread).
 * Returns 0 after a stop, or -errno for a failure it cannot retry (the
 * store cannot be opened: another format version, a bad conninfo). */
int loafre__indexer_run(struct loafre__indexer *ix, volatile sig_atomic_t *stop);
/* Starts run in a thread. */
int loafre__indexer_start(struct loafre__indexer *ix);
/* Stops the thread if started (waits for its current transaction) and frees. */
void loafre__indexer_close(struct loafre__indexer *ix);

/* Appends "index.NAME.KEY VALUE\n" lines (state, applied, skipped, fetches,
 * gone, orphaned, batches, retries, position.MDT, quota_alerts, entries
 * scanned) to buf at *len (cap bytes). 0 or -ENOBUFS. Thread-safe. */
int loafre__indexer_stats(struct loafre__indexer *ix, char *buf, size_t cap, size_t *len);

#endif
