/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_bench_broker.c — `loafre bench broker`: options, then
 * loafre__bench_broker (lib/bench_broker.c) does the work. SIGINT and
 * SIGTERM stop it early, cleanly (broker child stopped, temp dir removed).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

int cmd_bench_broker(struct cli *c);

#define BB_DEFAULT_N 5000000u
#define BB_DEFAULT_RSS 10000000u
#define BB_MAX_RECORDS 1000000000u

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static bool parse_uint(const char *a, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	uint64_t v;

	if (!cli_parse_recno(a, &v) || v < lo || v > hi)
		return false;
	*ret = v;
	return true;
}

/* "members,rss" or "all" -> LOAFRE__BB_* bits; 0 for a bad name. */
static unsigned parse_scenarios(const char *a)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{"members", LOAFRE__BB_MEMBERS}, {"groups", LOAFRE__BB_GROUPS},
		{"ephemeral", LOAFRE__BB_EPHEMERAL}, {"latency", LOAFRE__BB_LATENCY},
		{"rss", LOAFRE__BB_RSS}, {"all", LOAFRE__BB_ALL},
	};
	unsigned bits = 0;
	const char *p = a;

	while (*p) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == len && strncmp(names[i].name, p, len) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return 0;
		bits |= names[i].bit;
		p += len;
		if (*p == ',' && *++p == '\0')
			return 0;
	}
	return bits;
}

int cmd_bench_broker(struct cli *c)
{
	struct loafre__bench_broker_opts o = {
		.n = BB_DEFAULT_N,
		.rss_records = BB_DEFAULT_RSS,
		.groups = 4,
		.ephemeral = 2,
		.credit = 4096,
		.rate = 50000,
		.duration = 5,
		.commit_ms = 10,
		.scenarios = LOAFRE__BB_ALL,
		.err = stderr,
		.interrupted = &interrupted,
	};
	struct sigaction sa = {.sa_handler = on_signal}, ign = {.sa_handler = SIG_IGN};
	struct sigaction old_int, old_term, old_pipe;
	char err[600] = "";
	uint64_t v;
	int r;

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		char *e;

		switch (c->opts[i].opt) {
		case 'n':
			if (!parse_uint(a, 1, BB_MAX_RECORDS, &o.n)) {
				fprintf(stderr, "loafre bench broker: bad -n '%s' (1 to %u)\n", a,
					BB_MAX_RECORDS);
				return CLI_USAGE;
			}
			break;
		case 'R':
			if (!parse_uint(a, 1, BB_MAX_RECORDS, &o.rss_records)) {
				fprintf(stderr, "loafre bench broker: bad --rss-records '%s' (1 to %u)\n",
					a, BB_MAX_RECORDS);
				return CLI_USAGE;
			}
			break;
		case 'm':
			if (!parse_uint(a, 1, 64, &v)) {
				fprintf(stderr, "loafre bench broker: bad --members '%s' (1 to 64)\n", a);
				return CLI_USAGE;
			}
			o.members = (unsigned)v;
			break;
		case 'G':
			if (!parse_uint(a, 1, 64, &v)) {
				fprintf(stderr, "loafre bench broker: bad --groups '%s' (1 to 64)\n", a);
				return CLI_USAGE;
			}
			o.groups = (unsigned)v;
			break;
		case 'E':
			if (!parse_uint(a, 0, 64, &v)) {
				fprintf(stderr, "loafre bench broker: bad --ephemeral '%s' (0 to 64)\n",
					a);
				return CLI_USAGE;
			}
			o.ephemeral = (unsigned)v;
			break;
		case 'k':
			if (!parse_uint(a, 1, 1u << 20, &v)) {
				fprintf(stderr, "loafre bench broker: bad --credit '%s' (1 to %u)\n", a,
					1u << 20);
				return CLI_USAGE;
			}
			o.credit = (uint32_t)v;
			break;
		case 'r':
			if (!parse_uint(a, 1, 10000000, &o.rate)) {
				fprintf(stderr, "loafre bench broker: bad --rate '%s' (1 to 10000000 "
						"records/s)\n",
					a);
				return CLI_USAGE;
			}
			break;
		case 'd':
			errno = 0;
			o.duration = strtod(a, &e);
			if (errno || *e || !*a || !(o.duration > 0) || o.duration > 3600) {
				fprintf(stderr, "loafre bench broker: bad --duration '%s' (seconds, "
						"over 0 and at most 3600)\n",
					a);
				return CLI_USAGE;
			}
			break;
		case 'C':
			if (!parse_uint(a, 1, 60000, &v)) {
				fprintf(stderr, "loafre bench broker: bad --commit-ms '%s' (1 to 60000)\n",
					a);
				return CLI_USAGE;
			}
			o.commit_ms = (unsigned)v;
			break;
		case 'S':
			o.scenarios = parse_scenarios(a);
			if (!o.scenarios) {
				fprintf(stderr, "loafre bench broker: bad --scenario '%s' (members, "
						"groups, ephemeral, latency, rss or all, comma-separated)\n",
					a);
				return CLI_USAGE;
			}
			break;
		case 'D':
			o.dir = a;
			break;
		default:
			fprintf(stderr, "loafre bench broker: option '%s' is not for 'bench broker'\n",
				c->opts[i].opt == 'w'   ? "--workers"
				: c->opts[i].opt == 'F' ? "--fsync"
				: c->opts[i].opt == 'N' ? "--files"
				: c->opts[i].opt == 'L' ? "--loafred"
				: c->opts[i].opt == 'M' ? "--mkdir"
				: c->opts[i].opt == 'K' ? "--keep"
							: "?");
			return CLI_USAGE;
		}
	}
	if (o.rate * o.duration > BB_MAX_RECORDS) {
		fprintf(stderr, "loafre bench broker: --rate x --duration over %u records\n",
			BB_MAX_RECORDS);
		return CLI_USAGE;
	}
	if (!o.dir) {
		o.dir = getenv("TMPDIR");
		if (!o.dir || !*o.dir)
			o.dir = "/tmp";
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old_pipe); /* a dead broker process is an error, not death */
	r = loafre__bench_broker(&o, stdout, err, sizeof(err));
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	fflush(stdout);
	if (r < 0) {
		fprintf(stderr, "loafre bench broker: %s\n", err[0] ? err : strerror(-r));
		return CLI_FAIL;
	}
	return CLI_OK;
}
