/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_tail.c — the broker commands: `loafre tail` (a consumer printing
 * records) and `loafre groups` (the broker's groups, from RUN_DIR/stats),
 * and how broker commands reach a broker (cli_broker_setup: endpoint and
 * CurveZMQ keys).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "loafre/consumer.h"

/* ---- endpoint and keys (cli.h) ---------------------------------------------- */

/* The broker endpoint: --broker, else [client] broker, else the config's
 * first ipc:// [broker] endpoint, else its first one (the default is
 * ipc://RUN_DIR/broker.sock). ipc:// is preferred on the broker's own node:
 * it needs no keys (file permissions guard it). */
static const char *broker_endpoint(struct cli *c, const char *arg)
{
	const struct loafre_broker_config *b = &c->config->broker;

	if (arg)
		return arg;
	if (c->config->client.broker)
		return c->config->client.broker;
	for (size_t i = 0; i < b->n_endpoints; i++)
		if (strncmp(b->endpoints[i], "ipc://", 6) == 0)
			return b->endpoints[i];
	if (b->n_endpoints > 0)
		return b->endpoints[0];
	return NULL;
}

void cli_broker_done(struct cli_broker *b)
{
	if (b)
		explicit_bzero(b->secret_key, sizeof(b->secret_key));
}

int cli_broker_setup(struct cli *c, const char *endpoint_arg, const char *server_key_arg,
		     const char *key_arg, struct cli_broker *b, struct loafre_consumer_options *o)
{
	const char *srv, *key;
	char err[512];

	memset(b, 0, sizeof(*b));
	b->endpoint = broker_endpoint(c, endpoint_arg);
	if (!b->endpoint) {
		fprintf(stderr, "loafre %s: no broker endpoint (use --broker)\n", c->cmd->name);
		return CLI_FAIL;
	}
	if (strncmp(b->endpoint, "tcp://", 6) != 0) {
		if (server_key_arg || key_arg) {
			fprintf(stderr,
				"loafre %s: --server-key and --key are for tcp:// endpoints, not %s "
				"(ipc:// relies on the socket's file permissions)\n",
				c->cmd->name, b->endpoint);
			return CLI_USAGE;
		}
		return CLI_OK;
	}
	srv = server_key_arg ? server_key_arg : c->config->client.curve_server_key;
	key = key_arg ? key_arg : c->config->client.curve_key;
	if (!srv && !key)
		return CLI_OK; /* a broker with curve = no */
	if (!srv || !key) {
		fprintf(stderr,
			"loafre %s: CurveZMQ needs both the broker's public key (--server-key or "
			"[client] curve_server_key) and this client's key pair (--key or [client] "
			"curve_key)\n",
			c->cmd->name);
		return CLI_USAGE;
	}
	if (loafre_curve_keyfile_load(srv, b->server_key, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "loafre %s: bad server key: %s\n", c->cmd->name, err);
		return CLI_FAIL;
	}
	if (loafre_curve_keyfile_load(key, b->public_key, b->secret_key, err, sizeof(err)) < 0) {
		fprintf(stderr, "loafre %s: bad client key: %s\n", c->cmd->name, err);
		return CLI_FAIL;
	}
	o->curve_server_key = b->server_key;
	o->curve_public_key = b->public_key;
	o->curve_secret_key = b->secret_key;
	return CLI_OK;
}

/* ---- tail ----------------------------------------------------------------- */

static volatile sig_atomic_t tail_stop;

static void on_tail_stop(int sig)
{
	tail_stop = sig;
}

/* Prints one batch; acks what was printed when in a group. */
static int tail_batch(struct loafre_consumer *cons, struct loafre_batch *b, bool json,
		      bool group)
{
	char line[LOAFRE_TEXT_LINE_MAX * 6];
	size_t n = loafre_batch_count(b);
	uint64_t last = 0;
	int r;

	if (loafre_batch_kind(b) == LOAFRE_BATCH_GAP) {
		if (json)
			printf("{\"mdt\":\"%s\",\"gap\":%llu}\n", loafre_batch_mdt(b),
			       (unsigned long long)loafre_batch_lost(b));
		else
			fprintf(stderr, "loafre tail: %s: %llu records lost (reader too slow)\n",
				loafre_batch_mdt(b), (unsigned long long)loafre_batch_lost(b));
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct loafre_rec rec;
		int len;

		r = loafre_batch_rec(b, i, &rec, NULL, NULL);
		if (r < 0)
			return r;
		if (json) {
			len = loafre_json_format(&rec, line, sizeof(line));
			if (len < 0)
				return len;
			/* {"index":...} -> {"mdt":"NAME","index":...} */
			printf("{\"mdt\":\"%s\",%s", loafre_batch_mdt(b), line + 1);
		} else {
			len = loafre_text_format(&rec, line, sizeof(line));
			if (len < 0)
				return len;
			fwrite(line, 1, (size_t)len, stdout);
		}
		if (rec.index > last)
			last = rec.index;
	}
	if (fflush(stdout) != 0)
		return -(errno ? errno : EIO);
	if (group && n > 0) {
		r = loafre_consumer_ack_upto(cons, loafre_batch_mdt(b), last);
		if (r < 0)
			return r;
	}
	return 0;
}

int cmd_tail(struct cli *c)
{
	struct loafre_consumer_options o = { 0 };
	struct loafre_consumer *cons = NULL;
	struct cli_broker brk;
	const char *endpoint_arg = NULL, *server_key_arg = NULL, *key_arg = NULL, *endpoint;
	bool follow = false, json = false, ephemeral = false;
	char err[512] = "";
	int r, ret = CLI_FAIL;

	for (size_t i = 0; i < c->n_opts; i++) {
		const char *a = c->opts[i].arg;
		switch (c->opts[i].opt) {
		case 'f':
			follow = true;
			break;
		case 'J':
			json = true;
			break;
		case 'g':
			o.group = a;
			break;
		case 'E':
			ephemeral = true;
			break;
		case 'B':
			endpoint_arg = a;
			break;
		case 'P':
			server_key_arg = a;
			break;
		case 'k':
			key_arg = a;
			break;
		case 'S':
			if (strcmp(a, "oldest") == 0)
				o.start = LOAFRE_CONSUMER_START_OLDEST;
			else if (strcmp(a, "newest") == 0)
				o.start = LOAFRE_CONSUMER_START_NEWEST;
			else if (strchr(a, ':'))
				o.start_at = a;
			else {
				fprintf(stderr, "loafre tail: bad --start '%s' (oldest, newest or "
						"MDT:INDEX,...)\n", a);
				return CLI_USAGE;
			}
			break;
		}
	}
	if (o.group && ephemeral) {
		fprintf(stderr, "loafre tail: --group and --ephemeral exclude each other\n");
		return CLI_USAGE;
	}
	if (ephemeral && (o.start || o.start_at)) {
		fprintf(stderr, "loafre tail: --start needs --group\n");
		return CLI_USAGE;
	}
	r = cli_broker_setup(c, endpoint_arg, server_key_arg, key_arg, &brk, &o);
	if (r != CLI_OK)
		return r;
	endpoint = brk.endpoint;
	o.err = err;
	o.errlen = sizeof(err);
	r = loafre_consumer_open(endpoint, &o, &cons);
	cli_broker_done(&brk);
	if (r < 0) {
		fprintf(stderr, "loafre tail: cannot join %s%s at %s: %s\n",
			o.group ? "group " : "as an ephemeral reader", o.group ? o.group : "",
			endpoint, err[0] ? err : strerror(-r));
		return CLI_FAIL;
	}

	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa = { .sa_handler = on_tail_stop }; /* no SA_RESTART */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	for (;;) {
		struct loafre_batch *b = NULL;

		if (tail_stop) {
			ret = CLI_OK;
			break;
		}
		r = loafre_consumer_recv(cons, follow ? 500 : 1000, &b);
		if (r == -EAGAIN) {
			if (!follow) {
				ret = CLI_OK;
				break;
			}
			continue;
		}
		if (r == -EINTR)
			continue;
		if (r < 0) {
			const char *msg = loafre_consumer_error(cons);
			fprintf(stderr, "loafre tail: %s\n", msg[0] ? msg : strerror(-r));
			break;
		}
		r = tail_batch(cons, b, json, o.group != NULL);
		loafre_batch_free(b);
		if (r == -EPIPE) {
			ret = CLI_OK;
			break;
		}
		if (r < 0) {
			const char *msg = loafre_consumer_error(cons);
			fprintf(stderr, "loafre tail: %s\n", msg[0] ? msg : strerror(-r));
			break;
		}
	}
	loafre_consumer_close(cons);
	return ret;
}

/* ---- groups --------------------------------------------------------------- */

struct grp_pos {
	char mdt[64];      /* MDT name */
	uint64_t position; /* everything up to it is acked */
	double lag_s;      /* age of the oldest record not yet acked, seconds */
};

struct grp {
	char name[32];
	uint64_t members, in_flight, redelivered; /* as the broker counts them */
	uint64_t dropped, covered; /* records its modules dropped / collapsed */
	int declared;              /* 1: from a [group] section */
	struct grp_pos *pos;
	size_t n_pos;
};

static struct grp *grp_get(struct grp **gs, size_t *n, const char *name, size_t len)
{
	struct grp *p;

	if (len >= sizeof((*gs)->name))
		return NULL;
	for (size_t i = 0; i < *n; i++)
		if (strlen((*gs)[i].name) == len && memcmp((*gs)[i].name, name, len) == 0)
			return &(*gs)[i];
	p = realloc(*gs, (*n + 1) * sizeof(*p));
	if (!p)
		return NULL;
	*gs = p;
	p = &p[(*n)++];
	memset(p, 0, sizeof(*p));
	memcpy(p->name, name, len);
	return p;
}

static void grp_set_pos(struct grp *g, const char *mdt, size_t len, uint64_t v)
{
	struct grp_pos *p;

	if (len == 0 || len >= sizeof(p->mdt))
		return;
	p = realloc(g->pos, (g->n_pos + 1) * sizeof(*p));
	if (!p)
		return;
	g->pos = p;
	memset(&p[g->n_pos], 0, sizeof(*p));
	memcpy(p[g->n_pos].mdt, mdt, len);
	p[g->n_pos++].position = v;
}

static struct grp_pos *grp_pos_of(struct grp *g, const char *mdt, size_t len)
{
	for (size_t i = 0; i < g->n_pos; i++)
		if (strlen(g->pos[i].mdt) == len && memcmp(g->pos[i].mdt, mdt, len) == 0)
			return &g->pos[i];
	return NULL;
}

/* Parses "broker.group.NAME.REST VALUE": REST is members, in_flight,
 * redelivered, dropped, covered, declared, or per MDT position.MDT or
 * lag_seconds.MDT (after its position line). */
static void grp_line(struct grp **gs, size_t *n, const char *line)
{
	static const char prefix[] = "broker.group.";
	const char *name, *dot, *sp, *rest;
	unsigned long long v;
	size_t rl;
	struct grp *g;

	if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
		return;
	name = line + sizeof(prefix) - 1;
	sp = strchr(name, ' ');
	dot = strchr(name, '.');
	if (!sp || !dot || dot > sp)
		return;
	v = strtoull(sp + 1, NULL, 10);
	g = grp_get(gs, n, name, (size_t)(dot - name));
	if (!g)
		return;
	rest = dot + 1;
	rl = (size_t)(sp - rest);
#define IS(k) (rl == strlen(k) && memcmp(rest, k, rl) == 0)
	if (IS("members"))
		g->members = v;
	else if (IS("in_flight") || IS("inflight"))
		g->in_flight += v;
	else if (IS("redelivered"))
		g->redelivered += v;
	else if (IS("dropped"))
		g->dropped = v;
	else if (IS("covered"))
		g->covered = v;
	else if (IS("declared"))
		g->declared = (int)v;
	else if (rl > 9 && memcmp(rest, "position.", 9) == 0)
		grp_set_pos(g, rest + 9, rl - 9, v);
	else if (rl > 12 && memcmp(rest, "lag_seconds.", 12) == 0) {
		struct grp_pos *gp = grp_pos_of(g, rest + 12, rl - 12);
		if (gp)
			gp->lag_s = strtod(sp + 1, NULL);
	}
	else if (rl > 9 && memcmp(sp - 9, ".position", 9) == 0)
		grp_set_pos(g, rest, rl - 9, v);
	else if (rl > 10 && memcmp(sp - 10, ".in_flight", 10) == 0)
		g->in_flight += v;
	else if (rl > 12 && memcmp(sp - 12, ".redelivered", 12) == 0)
		g->redelivered += v;
#undef IS
}

/* Journal's last index for an MDT of the configuration; -1 if unknown. */
static long long mdt_last(struct cli *c, const char *mdt)
{
	const struct loafre_fs_config *fs = loafre_config_find_mdt(c->config, mdt, NULL);
	struct loafre_journal *j = NULL;
	struct loafre_journal_info info;
	const char *dir;
	long long last = -1;

	if (!fs || !(dir = loafre_config_mdt_journal(fs, mdt)))
		return -1;
	if (loafre_journal_open(dir, mdt, 0, &fs->journal_opts, &j) < 0)
		return -1;
	if (loafre_journal_info(j, &info) == 0)
		last = (long long)info.last_index;
	loafre_journal_close(j);
	return last;
}

int cmd_groups(struct cli *c)
{
	bool json = false;
	struct grp *gs = NULL;
	size_t n = 0;
	char path[4096], line[1024];
	FILE *f;

	for (size_t i = 0; i < c->n_opts; i++)
		if (c->opts[i].opt == 'J')
			json = true;
	snprintf(path, sizeof(path), "%s/stats", c->config->run_dir);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "loafre groups: cannot read %s: %s (is loafred running?)\n", path,
			strerror(errno));
		return CLI_FAIL;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		grp_line(&gs, &n, line);
	}
	fclose(f);

	if (json)
		printf("[");
	else
		printf("%-16s %7s %-20s %12s %12s %9s %9s %11s %9s\n", "GROUP", "MEMBERS", "MDT",
		       "POSITION", "LAG", "LAG_S", "IN_FLIGHT", "REDELIVERED", "DROPPED");
	for (size_t i = 0; i < n; i++) {
		struct grp *g = &gs[i];
		if (json) {
			printf("%s{\"group\":\"%s\",\"declared\":%s,\"members\":%llu,"
			       "\"in_flight\":%llu,\"redelivered\":%llu,\"dropped\":%llu,"
			       "\"covered\":%llu,\"mdts\":[",
			       i ? "," : "", g->name, g->declared ? "true" : "false",
			       (unsigned long long)g->members, (unsigned long long)g->in_flight,
			       (unsigned long long)g->redelivered, (unsigned long long)g->dropped,
			       (unsigned long long)g->covered);
		}
		for (size_t k = 0; k < g->n_pos || (k == 0 && !json); k++) {
			const char *mdt = k < g->n_pos ? g->pos[k].mdt : "-";
			uint64_t pos = k < g->n_pos ? g->pos[k].position : 0;
			long long last = k < g->n_pos ? mdt_last(c, mdt) : -1;
			long long lag = last < 0 ? -1 : (last > (long long)pos ? last - (long long)pos : 0);
			double lag_s = k < g->n_pos && lag > 0 ? g->pos[k].lag_s : 0;
			char lagbuf[32], lagsbuf[32];

			if (json) {
				printf("%s{\"mdt\":\"%s\",\"position\":%llu", k ? "," : "", mdt,
				       (unsigned long long)pos);
				if (lag >= 0)
					printf(",\"lag\":%lld,\"lag_seconds\":%.3f", lag, lag_s);
				printf("}");
				continue;
			}
			snprintf(lagsbuf, sizeof(lagsbuf), "%.1f", lag_s);
			if (lag >= 0)
				snprintf(lagbuf, sizeof(lagbuf), "%lld", lag);
			else
				snprintf(lagbuf, sizeof(lagbuf), "-");
			if (k == 0)
				printf("%-16s %7llu %-20s %12llu %12s %9s %9llu %11llu %9llu\n",
				       g->name, (unsigned long long)g->members, mdt,
				       (unsigned long long)pos, lagbuf, lagsbuf,
				       (unsigned long long)g->in_flight,
				       (unsigned long long)g->redelivered,
				       (unsigned long long)(g->dropped + g->covered));
			else
				printf("%-16s %7s %-20s %12llu %12s %9s\n", "", "", mdt,
				       (unsigned long long)pos, lagbuf, lagsbuf);
		}
		if (json)
			printf("]}");
		free(g->pos);
	}
	if (json)
		printf("]\n");
	free(gs);
	return CLI_OK;
}
