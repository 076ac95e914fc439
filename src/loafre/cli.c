/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* cli.c — the loafre command table, option parsing and shared helpers. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_CODES                                                                   \
	"Exit status: 0 on success, 1 on failure (the reason is printed on stderr),\n" \
	"2 on a usage error.\n"

#define COMMON_OPTS                                                                  \
	"  -c FILE      configuration file (default: $LOAFRE_CONFIG, else\n"         \
	"               " LOAFRE_CONFIG_DEFAULT_PATH ")\n"                           \
	"  -h, --help   show this help\n"

static const struct option no_long[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option changelog_long[] = {
	{ "follow", no_argument, NULL, 'f' },
	{ "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option users_long[] = {
	{ "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option register_long[] = {
	{ "mask", required_argument, NULL, 'm' },
	{ "user", required_argument, NULL, 'u' },
	{ "nameonly", no_argument, NULL, 'n' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option deregister_long[] = {
	{ "user", required_argument, NULL, 'u' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option import_long[] = {
	{ "renumber", no_argument, NULL, 'R' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option tail_long[] = {
	{ "group", required_argument, NULL, 'g' },
	{ "ephemeral", no_argument, NULL, 'E' },
	{ "follow", no_argument, NULL, 'f' },
	{ "json", no_argument, NULL, 'J' },
	{ "start", required_argument, NULL, 'S' },
	{ "broker", required_argument, NULL, 'B' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option groups_long[] = {
	{ "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option bench_long[] = {
	{ "commit-ms", required_argument, NULL, 'C' },
	{ "fsync", required_argument, NULL, 'F' },
	{ "dir", required_argument, NULL, 'D' },
	{ "workers", required_argument, NULL, 'w' },
	{ "duration", required_argument, NULL, 'd' },
	{ "rate", required_argument, NULL, 'r' },
	{ "files", required_argument, NULL, 'N' },
	{ "loafred", required_argument, NULL, 'L' },
	{ "mkdir", no_argument, NULL, 'M' },
	{ "keep", no_argument, NULL, 'K' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

const struct cli_cmd cli_commands[] = {
	{ "help", cmd_help, 0, "show help for loafre or one of its commands", "[COMMAND]",
	  "Without COMMAND, lists the commands; with it, shows that command's help.\n"
	  "\n" EXIT_CODES,
	  "hc:", no_long, 0, 1 },
	{ "changelog", cmd_changelog, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "print an MDT's changelog records (as lfs changelog)",
	  "[-f|--follow] [--json] MDT [STARTREC [ENDREC]]",
	  "Prints the records of MDT's changelog from STARTREC to ENDREC (inclusive;\n"
	  "0 or absent: no bound), one per line in the `lfs changelog` format.\n"
	  "\n"
	  "  -f, --follow  after the last record, wait for new ones; stops with exit\n"
	  "                status 0 on SIGINT, SIGTERM or a closed output pipe\n"
	  "  --json        one JSON object per line instead of the lfs format\n" COMMON_OPTS
	  "\n" EXIT_CODES,
	  "fhc:", changelog_long, 1, 3 },
	{ "changelog_clear", cmd_changelog_clear, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "tell the MDT that reader ID has processed records up to ENDREC",
	  "MDT ID ENDREC",
	  "Marks the records up to ENDREC (0: the current index) as processed by the\n"
	  "registered reader ID (cl1, cl1-name). Records every reader has cleared are\n"
	  "purged. Messages as lfs changelog_clear:\n"
	  "  changelog_clear: record out of range: ENDREC  (beyond the current index,\n"
	  "                                                 or below ID's cleared index)\n"
	  "  changelog_clear: no changelog user: ID\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", no_long, 3, 3 },
	{ "changelog_register", cmd_changelog_register, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "register a changelog reader (as lctl changelog_register)",
	  "MDT [-m MASK] [-u NAME] [-n]",
	  "Registers a reader; prints \"MDT: Registered changelog userid 'clN'\".\n"
	  "Records are kept until every registered reader has cleared them.\n"
	  "Creates the MDT's journal if loafred has not yet done so.\n"
	  "\n"
	  "  -m, --mask MASK   record types this reader wants (\"+OPEN\", \"CREAT,UNLNK\");\n"
	  "                    widens the journal's changelog_mask\n"
	  "  -u, --user NAME   name the reader: its id becomes clN-NAME (a letter, then\n"
	  "                    letters, digits, _ or -; at most 15 characters)\n"
	  "  -n, --nameonly    print only the id\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hm:u:nc:", register_long, 1, 1 },
	{ "changelog_deregister", cmd_changelog_deregister, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "deregister a changelog reader (as lctl changelog_deregister)",
	  "MDT ID|-u NAME",
	  "Deregisters the reader ID (N, clN or clN-name) or the reader named NAME;\n"
	  "prints \"MDT: Deregistered changelog user #N\". Records no remaining reader\n"
	  "needs are purged (all of them when the last reader goes).\n"
	  "\n"
	  "  -u, --user NAME   the reader's name\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hu:c:", deregister_long, 1, 2 },
	{ "changelog_users", cmd_changelog_users, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "show the registered readers (as mdd.*.changelog_users)", "[--json] MDT",
	  "Prints the current index and each reader's cleared index, idle time and\n"
	  "mask exactly as lctl get_param mdd.MDT.changelog_users does.\n"
	  "\n"
	  "  --json        one JSON object: {\"current_index\":N,\"users\":[...]}\n" COMMON_OPTS
	  "\n" EXIT_CODES,
	  "hc:", users_long, 1, 1 },
	{ "changelog_import", cmd_changelog_import, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "append records captured with lfs changelog (read from stdin)",
	  "[--renumber] MDT < FILE",
	  "Reads `lfs changelog` lines from standard input and appends them to MDT's\n"
	  "journal in one commit: either every record is stored or none is. A\n"
	  "malformed line is reported as \"changelog_import: line N: REASON\".\n"
	  "Captured indices are kept; they must increase and exceed the journal's\n"
	  "current index. Records outside changelog_mask are skipped (counted on\n"
	  "stderr). Empty lines are ignored. Creates the journal if it is missing.\n"
	  "\n"
	  "  --renumber    give the records the journal's next indices instead\n" COMMON_OPTS
	  "\n" EXIT_CODES,
	  "hc:", import_long, 1, 1 },
	{ "fid2path", cmd_fid2path, CMD_NEEDS_CONFIG,
	  "print the path of a FID (as lfs fid2path)", "MDT|FSNAME FID",
	  "Prints the absolute path of the object with FID (\"[0x200000401:0x1:0x0]\",\n"
	  "brackets optional) on the filesystem of MDT or FSNAME. Local filesystems\n"
	  "are resolved through the state loafred keeps next to the journal (it\n"
	  "follows renames); Lustre ones through liblustreapi. An unknown or removed\n"
	  "object: \"loafre: cannot resolve FID [...] on FSNAME: No such file or\n"
	  "directory\".\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", no_long, 2, 2 },
	{ "path2fid", cmd_path2fid, CMD_NEEDS_CONFIG,
	  "print the FID of a path (as lfs path2fid)", "PATH...",
	  "Prints the FID of each PATH (a symlink itself, not its target) inside a\n"
	  "local filesystem of the configuration: \"[0x...:0x...:0x0]\", or\n"
	  "\"PATH: [FID]\" per line with several paths, as lfs path2fid does.\n"
	  COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", no_long, 1, -1 },
	{ "stats", cmd_stats, CMD_NEEDS_CONFIG, "print loafred's counters",
	  "",
	  "Prints RUN_DIR/stats, which loafred rewrites every second: one\n"
	  "\"KEY VALUE\" line per counter, KEY = FSNAME.counter for a local filesystem\n"
	  "(watching, mode, last_index, records, caught_up, rescans, overflows,\n"
	  "events, notes, ignored, objects, dirs, mark_errors) and MDT.counter for a\n"
	  "Lustre MDT (last_index, received, appended, cleared, reopens, last_error).\n"
	  COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", no_long, 0, 0 },
	{ "tail", cmd_tail, CMD_NEEDS_CONFIG, "print records served by loafred's broker",
	  "[--group G | --ephemeral] [-f] [--json] [--start oldest|newest|MDT:INDEX,...]\n"
	  "       [--broker ENDPOINT]",
	  "Connects to loafred's broker and prints the records it delivers, in the\n"
	  "`lfs changelog` format. In a persistent group, what was printed is acked\n"
	  "(the group's position advances); an ephemeral reader (the default) sees\n"
	  "only records written after it connected and acks nothing.\n"
	  "\n"
	  "  -g, --group G   join persistent group G (created on first use)\n"
	  "  --ephemeral     read ephemerally (default)\n"
	  "  -f, --follow    keep waiting for records; stops with exit status 0 on\n"
	  "                  SIGINT or SIGTERM. Without it, exits once nothing has\n"
	  "                  arrived for 1 s\n"
	  "  --json          one JSON object per line, with its \"mdt\"; a lost-records\n"
	  "                  notice is {\"mdt\":...,\"gap\":N} (on stderr otherwise)\n"
	  "  --start S       where a new group starts: oldest, newest, MDT:INDEX,...\n"
	  "  --broker E      endpoint (default: [broker] endpoint of the\n"
	  "                  configuration, else ipc://RUN_DIR/broker.sock)\n" COMMON_OPTS
	  "\n" EXIT_CODES,
	  "g:fJS:B:hc:", tail_long, 0, 0 },
	{ "groups", cmd_groups, CMD_NEEDS_CONFIG, "list the broker's consumer groups",
	  "[--json]",
	  "Reads loafred's RUN_DIR/stats and prints, per consumer group: members,\n"
	  "position per MDT (everything up to it is acked), lag in records (the\n"
	  "MDT's current index minus the position), records in flight and records\n"
	  "redelivered.\n"
	  "\n"
	  "  --json        one JSON array of groups\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", groups_long, 0, 0 },
	{ "bench", cmd_bench, 0, "measure the record codec, the journal or the local source",
	  "codec [-n N] | journal [-n N] [--commit-ms MS] [--fsync commit|none] [--dir DIR]\n"
	  "       | watch [-w W] [-d SECONDS] [--rate N] [--files N] [--mkdir] [--loafred PATH]\n"
	  "         [--commit-ms MS] [--fsync commit|none] [--dir DIR] [--keep]",
	  "  codec         parse and format N synthetic lfs changelog lines (one core)\n"
	  "  journal       append N records to a fresh journal with a group commit\n"
	  "                every MS milliseconds, then read them back\n"
	  "  watch         start loafred on a temporary tree; W worker processes run\n"
	  "                create+write/rename/unlink storms on it for SECONDS while\n"
	  "                the journal is followed: ops/s, records/s, create->record\n"
	  "                latency p50/p99/max, overflows, daemon RSS and CPU\n"
	  "\n"
	  "  -n N            work size (default: codec 1000000, journal 200000)\n"
	  "  --commit-ms MS  group-commit interval (default 10)\n"
	  "  --fsync P       commit (default) or none\n"
	  "  --dir DIR       where the temporary journal/tree is made (default $TMPDIR\n"
	  "                  or /tmp); it is removed afterwards\n"
	  "  -w, --workers W     watch: worker processes (default 2)\n"
	  "  -d, --duration S    watch: storm length in seconds (default 10)\n"
	  "  --rate N            watch: throttle to N ops/s in total (default: as fast\n"
	  "                      as possible)\n"
	  "  --files N           watch: pre-populate N files (in N/10 directories)\n"
	  "                      before loafred first starts\n"
	  "  --mkdir             watch: add mkdir/rmdir to the storm\n"
	  "  --loafred PATH      watch: the daemon (default $LOAFRED, else next to\n"
	  "                      loafre: ../loafred/loafred)\n"
	  "  --keep              watch: keep the temporary directory\n"
	  "  -h, --help      show this help\n"
	  "\n" EXIT_CODES,
	  "hn:c:w:d:", bench_long, 1, 1 },
};

const size_t cli_n_commands = sizeof(cli_commands) / sizeof(cli_commands[0]);

const struct cli_cmd *cli_find(const char *name)
{
	for (size_t i = 0; i < cli_n_commands; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

void cli_print_overview(FILE *out)
{
	fprintf(out,
		"usage: loafre [-c FILE] COMMAND [ARGS]\n"
		"       loafre --version | help [COMMAND] | COMMAND --help\n"
		"\n"
		"loafre reads and manages Lustre changelogs kept by loafred.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < cli_n_commands; i++)
		fprintf(out, "  %-22s %s\n", cli_commands[i].name, cli_commands[i].summary);
	fprintf(out, "\n"
		"MDT names look like demo-MDT0000: a filesystem of the configuration\n"
		"(-c FILE, else $LOAFRE_CONFIG, else " LOAFRE_CONFIG_DEFAULT_PATH ").\n"
		"Run 'loafre help COMMAND' for a command's options.\n");
}

void cli_print_help(const struct cli_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: loafre %s %s\n\n%s.\n\n%s", cmd->name, cmd->usage, cmd->summary,
		cmd->help);
}


int cmd_help(struct cli *c)
{
	const struct cli_cmd *cmd;

	if (c->n_args == 0) {
		cli_print_overview(stdout);
		return CLI_OK;
	}
	cmd = cli_find(c->args[0]);
	if (!cmd) {
		fprintf(stderr, "loafre help: unknown command '%s'\n", c->args[0]);
		return CLI_FAIL;
	}
	cli_print_help(cmd, stdout);
	return CLI_OK;
}

static int load_config(struct cli *c)
{
	const char *path = loafre_config_path(c->config_arg);
	char err[512];
	int r;

	r = loafre_config_load(path, &c->config, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "loafre: %s\n", err[0] ? err : strerror(-r));
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int resolve_mdt(struct cli *c)
{
	const char *mdt = c->args[0];

	c->fs = loafre_config_find_mdt(c->config, mdt, NULL);
	if (!c->fs) {
		if (errno == EINVAL)
			fprintf(stderr, "loafre: invalid MDT name '%s' (expected FSNAME-MDT0000)\n",
				mdt);
		else
			fprintf(stderr, "loafre: unknown MDT '%s' (no such filesystem in %s)\n", mdt,
				c->config->path);
		return CLI_FAIL;
	}
	c->mdt = mdt;
	c->journal_dir = loafre_config_mdt_journal(c->fs, mdt);
	return CLI_OK;
}

int cli_run(const struct cli_cmd *cmd, int argc, char **argv, const char *config_arg)
{
	struct cli c = { .cmd = cmd, .config_arg = config_arg };
	int r = CLI_FAIL, opt;

	c.opts = calloc((size_t)argc + 1, sizeof(*c.opts));
	if (!c.opts) {
		fprintf(stderr, "loafre: out of memory\n");
		return CLI_FAIL;
	}
	optind = 1;
	opterr = 0;
	/* argv[0] is the command name. */
	while ((opt = getopt_long(argc, argv, cmd->shortopts, cmd->longopts, NULL)) != -1) {
		if (opt == 'h') {
			cli_print_help(cmd, stdout);
			r = CLI_OK;
			goto out;
		}
		if (opt == 'c') {
			c.config_arg = optarg;
			continue;
		}
		if (opt == '?' || opt == ':') {
			if (optopt && strchr(cmd->shortopts, optopt) && optopt != ':')
				fprintf(stderr, "loafre %s: option '-%c' requires an argument\n",
					cmd->name, optopt);
			else
				fprintf(stderr, "loafre %s: unrecognized option '%s'\n", cmd->name,
					argv[optind - 1]);
			r = CLI_USAGE;
			goto out;
		}
		c.opts[c.n_opts].opt = opt;
		c.opts[c.n_opts].arg = optarg;
		c.n_opts++;
	}
	c.args = argv + optind;
	c.n_args = argc - optind;
	if ((cmd->flags & CMD_NEEDS_MDT) && c.n_args < 1) {
		fprintf(stderr, "loafre %s: mdtname must be specified\n", cmd->name);
		r = CLI_USAGE;
		goto out;
	}
	if (c.n_args < cmd->min_args || (cmd->max_args >= 0 && c.n_args > cmd->max_args)) {
		fprintf(stderr, "loafre %s: %s arguments (usage: loafre %s %s)\n", cmd->name,
			c.n_args < cmd->min_args ? "missing" : "too many", cmd->name, cmd->usage);
		r = CLI_USAGE;
		goto out;
	}
	if (cmd->flags & CMD_NEEDS_CONFIG) {
		r = load_config(&c);
		if (r != CLI_OK)
			goto out;
	}
	if (cmd->flags & CMD_NEEDS_MDT) {
		r = resolve_mdt(&c);
		if (r != CLI_OK)
			goto out;
	}
	r = cmd->fn(&c);
out:
	loafre_config_free(c.config);
	free(c.opts);
	return r;
}

int cli_open_journal(struct cli *c, int flags, struct loafre_journal **ret)
{
	const char *dir = c->journal_dir;
	int r = loafre_journal_open(dir, c->mdt, flags, &c->fs->journal_opts, ret);

	if (r == -ENOENT) {
		fprintf(stderr,
			"loafre: no journal for %s at '%s' (has loafred run yet? start it with -c %s)\n",
			c->mdt, dir, c->config->path);
		return CLI_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, "loafre: cannot open journal '%s': %s\n", dir,
			r == -EBADMSG ? "not a loafre journal, or corrupt metadata"
			: r == -EXDEV ? "it belongs to another MDT"
				      : strerror(-r));
		return CLI_FAIL;
	}
	return CLI_OK;
}

bool cli_parse_recno(const char *s, uint64_t *ret)
{
	char *end;
	long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0 || *end != '\0')
		return false;
	*ret = (uint64_t)v;
	return true;
}
