/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * rule_cli.h — what `loafre rule` (cmd_rule.c) shares with its run-time
 * subcommands (cmd_rule_status.c: status, failed, retry, and the wait for
 * an initial sync after add/enable).
 *
 * Messages are printed by these functions ("loafre rule SUB: ..."), once;
 * they return CLI_OK, CLI_FAIL or CLI_USAGE. Everything is borrowed.
 */
#ifndef LOAFRE_RULE_CLI_H
#define LOAFRE_RULE_CLI_H

#include <stdbool.h>
#include <sys/types.h>

#include "cli.h"

#define RULE_PROG "loafre rule"

/* The pid of the running loafred (RUN_DIR/loafred.pid, process alive), or 0. */
pid_t rule_cli_daemon_pid(const struct loafre_config *cfg);
/* Sends SIGHUP to a running loafred and says so; returns its pid, or 0 when
 * none runs (or it could not be signalled: printed). */
pid_t rule_cli_notify_daemon(const struct loafre_config *cfg);

/* `loafre rule status [NAME] [--json]`: NAME NULL for every rule. */
int rule_cli_status(struct cli *c, const char *name, bool json);
/* `loafre rule failed NAME [--json]`. */
int rule_cli_failed(struct cli *c, const char *name, bool json);
/* `loafre rule retry NAME`. */
int rule_cli_retry(struct cli *c, const char *name);
/* After `add`/`enable` (sub) told loafred (pid) to reload: waits for the
 * rule to start and its initial sync to end, drawing progress; Ctrl-C stops
 * waiting. CLI_OK, or CLI_FAIL when loafred cannot run the rule. */
int rule_cli_wait_sync(struct cli *c, const char *sub, const char *name, pid_t pid);

#endif
