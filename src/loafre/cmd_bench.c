/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* cmd_bench.c — `loafre bench codec|journal|index` over lib/bench.h; `watch`
 * is in cmd_bench_watch.c, `broker` in cmd_bench_broker.c. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

int cmd_bench_watch(struct cli *c); /* cmd_bench_watch.c */
int cmd_bench_broker(struct cli *c); /* cmd_bench_broker.c */
int cmd_bench_repl(struct cli *c); /* cmd_bench_repl.c */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static volatile sig_atomic_t bench_stop;

static void on_bench_signal(int sig)
{
	bench_stop = sig;
}

/* `loafre bench index`: options, then loafre__bench_index_run
 * (lib/bench_index_run.c). SIGINT/SIGTERM stop it; it cleans up. */
static int bench_index(struct cli *c)
{
	struct loafre__bench_index_opts o = {.n_files = 1000000, .err = stderr,
					     .interrupted = &bench_stop};
	struct sigaction sa = {.sa_handler = on_bench_signal}, old_int, old_term;
	char self[PATH_MAX], err[600] = "";
	bool ingest_set = false;
	ssize_t len;
	int r;

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		uint64_t v = 0;
		switch (c->opts[i].opt) {
		case 'n':
		case 'I':
			if (!cli_parse_recno(a, &v) || v == 0 || v > LOAFRE__BENCH_INDEX_MAX_FILES) {
				fprintf(stderr, "loafre bench index: bad %s '%s' (1 to %u)\n",
					c->opts[i].opt == 'n' ? "-n" : "--ingest", a,
					LOAFRE__BENCH_INDEX_MAX_FILES);
				return CLI_USAGE;
			}
			if (c->opts[i].opt == 'n') {
				o.n_files = v;
			} else {
				o.ingest = v;
				ingest_set = true;
			}
			break;
		case 'D':
			o.dir = a;
			break;
		case 'T':
			o.keep_tree = true;
			break;
		default: {
			const char *name = "?";
			for (const struct option *lo = c->cmd->longopts; lo->name; lo++)
				if (lo->val == c->opts[i].opt)
					name = lo->name;
			fprintf(stderr, "loafre bench index: option '--%s' is not for 'bench index'\n",
				name);
			return CLI_USAGE;
		}
		}
	}
	if (!ingest_set)
		o.ingest = o.n_files < 300000 ? o.n_files : 300000;
	if (!o.dir) {
		o.dir = getenv("TMPDIR");
		if (!o.dir || !*o.dir)
			o.dir = "/tmp";
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0) {
		fprintf(stderr, "loafre bench index: cannot find this program: %s\n",
			strerror(errno));
		return CLI_FAIL;
	}
	self[len] = '\0';
	o.loafre = self;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	r = loafre__bench_index_run(&o, stdout, err, sizeof(err));
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	fflush(stdout);
	if (r == -EINTR) {
		fprintf(stderr, "loafre bench index: interrupted\n");
		return CLI_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, "loafre bench index: %s\n", err[0] ? err : strerror(-r));
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cmd_bench(struct cli *c)
{
	const char *what = c->args[0], *dir = NULL;
	uint64_t n = 0;
	unsigned long commit_ms = 10;
	int fsync_policy = LOAFRE_FSYNC_COMMIT, r;
	bool journal_opts = false;
	char tmpl[PATH_MAX];

	if (strcmp(what, "watch") == 0)
		return cmd_bench_watch(c);
	if (strcmp(what, "broker") == 0)
		return cmd_bench_broker(c);
	if (strcmp(what, "index") == 0)
		return bench_index(c);
	if (strcmp(what, "replicate") == 0)
		return cmd_bench_repl(c);
	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		char *e;
		switch (c->opts[i].opt) {
		case 'n':
			if (!cli_parse_recno(a, &n) || n == 0) {
				fprintf(stderr, "loafre bench: bad -n '%s' (a positive number)\n", a);
				return CLI_USAGE;
			}
			break;
		case 'C':
			errno = 0;
			commit_ms = strtoul(a, &e, 10);
			if (errno || *e || !*a || commit_ms > 60000) {
				fprintf(stderr, "loafre bench: bad --commit-ms '%s' (0 to 60000)\n", a);
				return CLI_USAGE;
			}
			journal_opts = true;
			break;
		case 'F':
			if (strcmp(a, "commit") == 0)
				fsync_policy = LOAFRE_FSYNC_COMMIT;
			else if (strcmp(a, "none") == 0)
				fsync_policy = LOAFRE_FSYNC_NONE;
			else {
				fprintf(stderr, "loafre bench: bad --fsync '%s' (commit or none)\n", a);
				return CLI_USAGE;
			}
			journal_opts = true;
			break;
		case 'D':
			dir = a;
			journal_opts = true;
			break;
		}
	}
	if (strcmp(what, "codec") == 0) {
		if (journal_opts) {
			fprintf(stderr, "loafre bench codec: --commit-ms, --fsync and --dir are for "
					"'bench journal'\n");
			return CLI_USAGE;
		}
		r = loafre__bench_codec(n ? n : 1000000, stdout);
		if (r < 0) {
			fprintf(stderr, "loafre bench codec: %s\n", strerror(-r));
			return CLI_FAIL;
		}
		return CLI_OK;
	}
	if (strcmp(what, "journal") != 0) {
		fprintf(stderr,
			"loafre bench: unknown benchmark '%s' (codec, journal, watch, broker, "
			"index or replicate)\n",
			what);
		return CLI_USAGE;
	}
	if (!dir) {
		dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/tmp";
	}
	if ((size_t)snprintf(tmpl, sizeof(tmpl), "%s/loafre-bench.XXXXXX", dir) >= sizeof(tmpl)) {
		fprintf(stderr, "loafre bench journal: directory name too long: '%s'\n", dir);
		return CLI_USAGE;
	}
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "loafre bench journal: cannot create a directory in '%s': %s\n", dir,
			strerror(errno));
		return CLI_FAIL;
	}
	r = loafre__bench_journal(tmpl, n ? n : 200000, (unsigned)commit_ms, fsync_policy, stdout);
	if (r < 0)
		fprintf(stderr, "loafre bench journal: journal in '%s': %s\n", tmpl, strerror(-r));
	if (nftw(tmpl, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "loafre bench journal: cannot remove '%s': %s\n", tmpl,
			strerror(errno));
	return r < 0 ? CLI_FAIL : CLI_OK;
}
