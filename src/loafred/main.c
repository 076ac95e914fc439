/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* loafred — the loafre daemon. Thin: options, then daemon.c. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "loafre/loafre.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: loafred [-c FILE] [-f|--foreground] [--log stderr|syslog] [-v]\n"
		"\n"
		"Keeps the changelog journals of the filesystems in the configuration.\n"
		"Runs in the foreground (systemd style; -f is accepted for compatibility).\n"
		"\n"
		"  -c, --config FILE  configuration (default: $LOAFRE_CONFIG, else\n"
		"                     " LOAFRE_CONFIG_DEFAULT_PATH ")\n"
		"  -f, --foreground   run in the foreground (always the case)\n"
		"  --log TARGET       log to stderr or syslog (overrides the config)\n"
		"  -v, --verbose      log debug messages\n"
		"  -h, --help         show this help\n"
		"  --version          show the version\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop cleanly, SIGHUP re-reads the configuration.\n"
		"Exit status: 0 after a clean stop, 1 if it cannot start (bad\n"
		"configuration, pid file in use), 2 on a usage error.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log", required_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_options o = { .log_target = -1 };
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:fvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': o.config_path = optarg; break;
		case 'f': break;
		case 'v': o.verbose = true; break;
		case 'L':
			if (strcmp(optarg, "stderr") == 0)
				o.log_target = LOAFRE_LOG_STDERR;
			else if (strcmp(optarg, "syslog") == 0)
				o.log_target = LOAFRE_LOG_SYSLOG;
			else {
				fprintf(stderr, "loafred: --log must be stderr or syslog, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("loafred %s\n", loafre_version()); return 0;
		default:
			fprintf(stderr, "loafred: unrecognized option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "loafred: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return loafred_run(&o);
}
