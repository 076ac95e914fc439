/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cli.h — the loafre command table and the helpers its commands share.
 *
 * main.c parses the global options, finds the command in the table and
 * calls cli_run(): it parses the command's options (every command takes
 * -c FILE and -h/--help), then checks the command's preconditions in one
 * place (configuration loaded, MDT argument resolved) before calling it.
 * Commands return an exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef LOAFRE_CLI_H
#define LOAFRE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/loafre.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* Command flags: preconditions cli_run checks before calling fn. */
#define CMD_NEEDS_CONFIG 0x1 /* load the configuration */
#define CMD_NEEDS_MDT 0x2    /* first argument is an MDT of a configured filesystem */

struct cli_opt {
	int opt;          /* getopt value */
	const char *arg;  /* optarg or NULL */
};

struct cli;

struct cli_cmd {
	const char *name;
	int (*fn)(struct cli *c);
	unsigned flags;
	const char *summary;
	const char *usage;   /* after "loafre NAME " */
	const char *help;    /* options and exit codes */
	const char *shortopts;
	const struct option *longopts;
	int min_args, max_args; /* positional arguments (MDT included); -1: any */
};

struct cli {
	const struct cli_cmd *cmd;
	const char *config_arg;   /* -c FILE (global or per command) */
	struct cli_opt *opts;     /* the command's options, in order */
	size_t n_opts;
	char **args;              /* positional arguments */
	int n_args;
	struct loafre_config *config;          /* CMD_NEEDS_CONFIG */
	const struct loafre_fs_config *fs;     /* CMD_NEEDS_MDT */
	const char *mdt;                       /* CMD_NEEDS_MDT: args[0] */
	const char *journal_dir;               /* CMD_NEEDS_MDT: the MDT's journal */
};

extern const struct cli_cmd cli_commands[];
extern const size_t cli_n_commands;

const struct cli_cmd *cli_find(const char *name);
int cli_run(const struct cli_cmd *cmd, int argc, char **argv, const char *config_arg);
void cli_print_help(const struct cli_cmd *cmd, FILE *out);
void cli_print_overview(FILE *out);

/* Opens the resolved MDT's journal. Reports errors itself (naming the
 * journal, with a hint when it does not exist yet) and returns CLI_FAIL. */
int cli_open_journal(struct cli *c, int flags, struct loafre_journal **ret);

/* Parses an unsigned decimal record number the way lfs does (strtoll base
 * 10, negative or overflow rejected), but also rejecting trailing junk. */
bool cli_parse_recno(const char *s, uint64_t *ret);

/* Commands. */
int cmd_help(struct cli *c);
int cmd_changelog(struct cli *c);
int cmd_changelog_clear(struct cli *c);
int cmd_changelog_register(struct cli *c);
int cmd_changelog_deregister(struct cli *c);
int cmd_changelog_users(struct cli *c);
int cmd_changelog_import(struct cli *c);
int cmd_bench(struct cli *c);
int cmd_fid2path(struct cli *c);
int cmd_path2fid(struct cli *c);
int cmd_stats(struct cli *c);
int cmd_tail(struct cli *c);
int cmd_groups(struct cli *c);

#endif
