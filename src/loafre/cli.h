/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cli.h — the loafre command table and the helpers its commands share.
 *
 * main.c parses the global options, finds the command in the table and
 * calls cli_run(): it parses the command's options (every command takes
 * -c FILE and -h/--help, unless its flags give -c or -h another meaning:
 * CMD_OWN_C, CMD_OWN_H, CMD_RAW_ARGS), then checks the command's preconditions in one
 * place (configuration loaded, MDT argument resolved) before calling it.
 * Commands return an exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef LOAFRE_CLI_H
#define LOAFRE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/consumer.h"
#include "loafre/curve.h"
#include "loafre/loafre.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* Command flags: preconditions cli_run checks before calling fn. */
#define CMD_NEEDS_CONFIG 0x1 /* load the configuration */
#define CMD_NEEDS_MDT 0x2    /* first argument is an MDT of a configured filesystem */
#define CMD_RAW_ARGS 0x4     /* no option parsing: args = everything after the name
			      * (leading "-c FILE" still taken; "--help" or "-h"
			      * alone shows the help) — loafre find */
#define CMD_OWN_H 0x8        /* -h is the command's own option (du -h); help is
			      * --help only (longopt value CLI_OPT_HELP) */
#define CMD_OWN_C 0x10       /* -c is the command's own option (du -c, locate -c);
			      * the configuration is --config FILE (CLI_OPT_CONFIG)
			      * or the global -c */

/* getopt values of --help and --config for commands with CMD_OWN_H/_C. */
#define CLI_OPT_HELP 0x1000
#define CLI_OPT_CONFIG 0x1001

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
int cmd_keygen(struct cli *c);
int cmd_index(struct cli *c);
int cmd_scan(struct cli *c);
int cmd_find(struct cli *c);
int cmd_du(struct cli *c);
int cmd_locate(struct cli *c);
int cmd_report(struct cli *c);
int cmd_quota(struct cli *c);
int cmd_rule(struct cli *c);
extern const struct option cli_rule_long[]; /* cmd_rule.c */
int cmd_verify(struct cli *c);
int cmd_worker(struct cli *c); /* cmd_worker.c */

/* loafre verify (cmd_verify.c): what cli_verify_run compares. The rule form
 * (loafre verify RULE) fills it from the rule. Everything is borrowed. */
struct loafre_idmap;
struct loafre__ssh_opts;
struct cli_verify_opts {
	const struct loafre_idmap *uid_map; /* NULL: identity */
	const struct loafre_idmap *gid_map; /* NULL: identity */
	const char **excludes;               /* exclude globs */
	size_t n_excludes;                   /* how many */
	bool checksum;                       /* compare content (xxh128) */
	bool no_times;                       /* do not compare mtimes */
	bool no_xattrs;                      /* do not compare xattrs */
	bool json;                           /* JSON lines output */
	const struct loafre__ssh_opts *ssh;  /* for a [user@]host:/path DEST (its
					      * control_dir made by cli_verify_run) */
	/* The rule form: entries compared (with the excludes above), and the
	 * differences reported (a dropped one is not counted); NULL: all. */
	bool (*filter)(void *arg, const char *rel, bool is_dir);
	bool (*keep_diff)(void *arg, int kind, const char *rel);
	void *filter_arg;                    /* their argument */
};
/* Compares tree src with its replica dest, prints the differences and a
 * summary; returns the exit status: 0 identical, 1 differences, 2 errors. */
int cli_verify_run(const char *src, const char *dest, const struct cli_verify_opts *o);

/* How a broker command connects (cmd_tail.c): the endpoint and, for a
 * tcp:// one, the CurveZMQ keys. */
struct cli_broker {
	const char *endpoint;                      /* borrowed from the options or config */
	char server_key[LOAFRE_CURVE_KEY_BUF];     /* the broker's public key; "": none */
	char public_key[LOAFRE_CURVE_KEY_BUF];     /* this client's key pair */
	char secret_key[LOAFRE_CURVE_KEY_BUF];
};

/* Picks the endpoint (endpoint_arg, else [client] broker, else the first
 * [broker] endpoint, an ipc:// one if any) and, for tcp://, the CurveZMQ
 * key files (server_key_arg / key_arg, else [client] curve_server_key /
 * curve_key), loads them into b and points o's curve options at them.
 * Prints the problem itself ("loafre CMD: ...") and returns CLI_OK,
 * CLI_FAIL or CLI_USAGE. Call cli_broker_done(b) afterwards (wipes the
 * secret key). */
int cli_broker_setup(struct cli *c, const char *endpoint_arg, const char *server_key_arg,
		     const char *key_arg, struct cli_broker *b,
		     struct loafre_consumer_options *o);
void cli_broker_done(struct cli_broker *b);

#endif
