/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * daemon.h — loafred: opens the journals of the configured local
 * filesystems and runs the event loop that commits what their sources
 * append (signalfd: SIGTERM/SIGINT stop, SIGHUP reloads; timerfd: group
 * commit every commit_interval_ms, reader GC every 60 s).
 */
#ifndef LOAFRED_DAEMON_H
#define LOAFRED_DAEMON_H

#include <stdbool.h>

struct daemon_options {
	const char *config_path; /* explicit -c, or NULL for the lookup */
	int log_target;          /* -1: from the config, else LOAFRE_LOG_* */
	bool verbose;            /* -v: log at debug level */
};

/* Runs the daemon until SIGTERM/SIGINT. Returns the exit status. */
int loafred_run(const struct daemon_options *opts);

#endif
