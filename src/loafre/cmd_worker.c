/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_worker.c — `loafre worker --rule NAME`: a replication worker in the
 * foreground (lib/repl_worker.h), for another node than loafred's or for
 * more threads: it joins the rule's broker group rep-NAME like loafred's
 * workers do. Stops on SIGINT or SIGTERM; with -v its statistics are
 * printed on stderr when it stops.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"
#include "repl_worker.h"

#define PROG "loafre worker"

static volatile sig_atomic_t worker_stop;

static void on_stop(int sig)
{
	worker_stop = sig;
}

static int log_level = LOG_INFO;

static void worker_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > log_level)
		return;
	fprintf(stderr, PROG ": %s", prio <= LOG_ERR ? "error: " :
				     prio == LOG_WARNING ? "warning: " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cmd_worker(struct cli *c)
{
	const char *rule = NULL, *endpoint = NULL, *server_key = NULL, *key = NULL;
	const char *state_dir = NULL;
	struct loafre_consumer_options co = {0};
	struct loafre__worker_opts o = {0};
	struct loafre__worker *w = NULL;
	struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART */
	struct cli_broker b;
	unsigned threads = 0;
	bool no_sync = false;
	char err[512];
	int r;

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		char *end;
		unsigned long v;

		switch (c->opts[i].opt) {
		case 'r':
			rule = a;
			break;
		case 'B':
			endpoint = a;
			break;
		case 'S':
			server_key = a;
			break;
		case 'k':
			key = a;
			break;
		case 's':
			state_dir = a;
			break;
		case 'n':
			no_sync = true;
			break;
		case 'v':
			log_level = LOG_DEBUG;
			break;
		case 't':
			errno = 0;
			v = strtoul(a, &end, 10);
			if (errno || *end || v < 1 || v > LOAFRE_RULE_WORKERS_MAX) {
				fprintf(stderr, PROG ": bad --threads '%s' (1 to %u)\n", a,
					LOAFRE_RULE_WORKERS_MAX);
				return CLI_USAGE;
			}
			threads = (unsigned)v;
			break;
		}
	}
	if (!rule) {
		fprintf(stderr, PROG ": --rule NAME is required\n");
		return CLI_USAGE;
	}
	r = cli_broker_setup(c, endpoint, server_key, key, &b, &co);
	if (r != CLI_OK)
		return r;
	o.cfg = c->config;
	o.rule = rule;
	o.endpoint = b.endpoint;
	o.curve_server_key = co.curve_server_key;
	o.curve_public_key = co.curve_public_key;
	o.curve_secret_key = co.curve_secret_key;
	o.threads = threads;
	o.state_dir = state_dir;
	o.no_initial_sync = no_sync;
	o.log = worker_log;
	r = loafre__worker_open(&o, &w, err, sizeof(err));
	cli_broker_done(&b);
	if (r < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return CLI_FAIL;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = loafre__worker_run(w, &worker_stop);
	if (r < 0)
		fprintf(stderr, PROG ": rule %s: %s\n", rule, strerror(-r));
	if (log_level >= LOG_DEBUG) {
		char buf[16384];
		size_t len = 0;

		if (loafre__worker_stats(w, buf, sizeof(buf), &len) == 0)
			fwrite(buf, 1, len, stderr);
	}
	loafre__worker_close(w);
	return r < 0 ? CLI_FAIL : CLI_OK;
}
