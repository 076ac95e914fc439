/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * loafre — the command-line tool. Thin: global options, then dispatch
 * through the command table in cli.c.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
	const char *config_arg = NULL;
	const struct cli_cmd *cmd;
	int i = 1;

	/* Global options before the command. */
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];
		if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			printf("loafre %s\n", loafre_version());
			return CLI_OK;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			cli_print_overview(stdout);
			return CLI_OK;
		}
		if (strcmp(a, "-c") == 0 && i + 1 < argc) {
			config_arg = argv[i + 1];
			i += 2;
			continue;
		}
		if (strncmp(a, "-c", 2) == 0 && a[2]) {
			config_arg = a + 2;
			i++;
			continue;
		}
		fprintf(stderr, "loafre: unrecognized option '%s'\n", a);
		fprintf(stderr, "usage: loafre [-c FILE] COMMAND [ARGS] (see 'loafre help')\n");
		return CLI_USAGE;
	}
	if (i >= argc) {
		cli_print_overview(stderr);
		return CLI_USAGE;
	}
	cmd = cli_find(argv[i]);
	if (!cmd) {
		fprintf(stderr, "loafre: unknown command '%s' (see 'loafre help')\n", argv[i]);
		return CLI_USAGE;
	}
	return cli_run(cmd, argc - i, argv + i, config_arg);
}
