/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * rules.h — loafred's replication workers: one loafre__worker
 * (lib/repl_worker.h) per enabled [rule NAME], with the rule's `workers`
 * threads, started after the broker and stopped before it.
 *
 * loafred_rules_sync brings the running workers in line with a
 * configuration, rule by rule: a rule whose signature (its section, the
 * [exclude] sections it names, its filesystem, the broker it reaches)
 * is unchanged keeps its worker (members stay connected); a changed rule's
 * worker is stopped and started again; a disabled or removed rule's worker
 * is stopped. Stopping happens in a thread of its own (a worker finishes
 * its current operation first, which may be long: an initial sync), so
 * loafred's event loop never waits for it; loafred_rules_stop waits for all.
 * A rule whose worker cannot be opened or started (bad
 * destination, ...) is logged once, naming the rule and the cause, is
 * reported in the stats ("rule.NAME.state failed", "rule.NAME.error
 * TEXT") and retried at the next sync (SIGHUP); the other rules run on.
 *
 * Ownership: the struct is the caller's (zero-initialised); the workers and
 * strings in it belong to it until loafred_rules_stop.
 */
#ifndef LOAFRED_RULES_H
#define LOAFRED_RULES_H

#include <stddef.h>
#include <stdio.h>

#include "loafre/config.h"

typedef void (*loafred_log_fn)(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct loafred_rule_run;
struct loafred_rule_stopping;

struct loafred_rules {
	struct loafred_rule_run *runs; /* one per enabled rule, started or failed */
	size_t n_runs;                 /* entries of runs */
	loafred_log_fn log;            /* loafred's log function (required) */
	struct loafred_rule_stopping *stopping; /* workers being stopped (own threads) */
	char *stats_buf;               /* loafre__worker_stats buffer (grown) */
	size_t stats_cap;              /* its size */
};

/* Starts, restarts or stops workers so that every enabled rule of cfg runs
 * (cfg is borrowed during the call only). `deps` is what every worker
 * depends on besides its rule (the broker's signature): when it changes,
 * every worker restarts. */
void loafred_rules_sync(struct loafred_rules *rs, const struct loafre_config *cfg,
			const char *deps);

/* Appends the workers' "rule.NAME.KEY VALUE" lines to out (a failed rule:
 * state failed and its error). Also joins the workers stopped meanwhile
 * (loafred calls it every second). */
void loafred_rules_stats(struct loafred_rules *rs, FILE *out);

/* Stops every worker and frees what rs holds (rs stays usable, empty). */
void loafred_rules_stop(struct loafred_rules *rs);

#endif
