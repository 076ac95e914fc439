/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_rule_status.c — the run-time side of `loafre rule` (rule_cli.h):
 *
 *   status [NAME] [--json]   per rule and destination, from loafred's
 *                            RUN_DIR/stats ("rule.NAME.*" lines of the
 *                            workers, lib/repl_worker.h; "mdt.MDT.index";
 *                            "broker.group.rep-NAME.position.MDT")
 *   failed NAME [--json]     the rule's failed list (STATE/failed,
 *                            STATE = loafre__worker_state_dir)
 *   retry NAME               STATE/failed becomes STATE/retry (appended to
 *                            a retry file not taken yet), then SIGHUP
 *   (add, enable)            the wait for the initial sync
 *
 * Status, text (stable column names, one row per destination; the rule's
 * columns repeated on each):
 *   RULE STATE LAG LAG_S DESTINATION DEST_STATE DONE FAILED BYTES ERROR
 * STATE: the worker's (syncing, running, waiting, retrying, stopped), or
 * failed (loafred could not start it: ERROR says why), disabled, or
 * not-running (loafred is not running, or has not loaded the rule yet).
 * LAG: records of the rule's filesystem not yet acked by its group (the
 * MDTs' current index minus the group's position, summed over MDTs);
 * LAG_S: now minus the time of the newest record acked while LAG > 0, else
 * 0; "-" when unknown. DONE: operations carried out at the destination;
 * FAILED: its entries in the failed list (operations that failed for
 * good); BYTES: data bytes written; ERROR: the destination's last error, or
 * why the rule does not run, "-" if none.
 * --json: one object per rule, one per line:
 *   {"rule":N,"filesystem":F,"enabled":B,"state":S,"reason":R|null,
 *    "lag":N|null,"lag_seconds":X|null,"records":N|null,"acked":N|null,
 *    "failed_list":N|null,"sync":{"entries":N,"copied":N,"bytes":N,
 *    "errors":N}|null,"destinations":[{"destination":T,"state":S|null,
 *    "done":N|null,"failed":N|null,"errors":N|null,"bytes":N|null,
 *    "error":E|null},...]}  (errors: attempts that returned an error,
 *    retried or answered by a fallback included)
 *
 * Failed list, text: TIME MDT:INDEX OP DEST PATH ERROR, PATH "P -> P2"
 * for a rename or link; TIME local, ISO 8601. --json: one object per entry
 * {"time":T,"mdt":M,"index":I,"op":O,"dest":D,"path":P,"path2":P2|null,
 *  "errno":E,"error":MSG}.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "idx_cli.h"
#include "json.h"
#include "repl_worker.h"
#include "rule_cli.h"
#include "stats_file.h"
#include "util.h"

#define FAILED_COPY_MAX (1u << 30) /* a failed list appended to a retry file */
#define WAIT_POLL_NS 200000000L    /* stats polled every 0.2 s while waiting */
#define WAIT_START_S 30            /* loafred must show the rule within */
#define PLAIN_EVERY_S 5            /* progress lines when not on a terminal */
#define RULE_DESTS_MAX 64          /* destinations of a rule (lib/config.c) */

/* ---- loafred ---------------------------------------------------------------- */

static bool pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

pid_t rule_cli_daemon_pid(const struct loafre_config *cfg)
{
	char path[4096], *buf = NULL;
	size_t len;
	long pid;

	if ((size_t)snprintf(path, sizeof(path), "%s/loafred.pid", cfg->run_dir) >= sizeof(path))
		return 0;
	if (loafre__read_file(path, 64, &buf, &len) < 0)
		return 0;
	pid = strtol(buf, NULL, 10);
	free(buf);
	return pid_alive(pid) ? (pid_t)pid : 0;
}

pid_t rule_cli_notify_daemon(const struct loafre_config *cfg)
{
	pid_t pid = rule_cli_daemon_pid(cfg);

	if (!pid)
		return 0;
	if (kill(pid, SIGHUP) < 0) {
		fprintf(stderr, RULE_PROG ": cannot signal loafred (pid %ld): %s\n", (long)pid,
			strerror(errno));
		return 0;
	}
	printf("loafred (pid %ld) told to reload\n", (long)pid);
	fflush(stdout);
	return pid;
}

/* ---- RUN_DIR/stats ------------------------------------------------------------ */

/* Reads RUN_DIR/stats: 0, -ENOENT (loafred not running), -errno. */
static int stats_load(const struct loafre_config *cfg, struct loafre__stats *s)
{
	char path[4096];

	memset(s, 0, sizeof(*s));
	if ((size_t)snprintf(path, sizeof(path), "%s/stats", cfg->run_dir) >= sizeof(path))
		return -ENAMETOOLONG;
	return loafre__stats_load(path, s);
}

/* The value of the key formatted from fmt, or NULL. */
static const char *stats_get(const struct loafre__stats *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static const char *stats_get(const struct loafre__stats *s, const char *fmt, ...)
{
	char k[LOAFRE__STATS_KEY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(k, sizeof(k), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(k))
		return NULL;
	return loafre__stats_get(s, k);
}

static bool to_u64(const char *v, uint64_t *ret)
{
	return v && *v && loafre__parse_u64(v, strlen(v), ret) == 0;
}

/* Whether the stats are a running loafred's (its pid alive). */
static bool stats_live(const struct loafre__stats *s)
{
	return pid_alive(s->pid);
}

/* ---- status --------------------------------------------------------------------- */

/* One destination's counters. */
struct dstat {
	const char *state; /* NULL: unknown */
	const char *error; /* NULL: none */
	bool has;          /* done/failed/bytes known */
	uint64_t done, failed, bytes;
};

/* One rule's status. */
struct rstat {
	const char *state;     /* see the head comment */
	const char *reason;    /* why it does not run, or NULL */
	char reason_buf[256];  /* reason's storage when composed here */
	bool has_lag;          /* lag known */
	uint64_t lag;          /* records */
	bool has_lag_s;        /* lag_s known */
	double lag_s;          /* seconds */
	bool has_counts;       /* records/acked/failed known */
	uint64_t records, acked, failed;
	bool has_sync;         /* sync.* known */
	uint64_t sync_entries, sync_copied, sync_bytes, sync_errors;
	bool has_listed;       /* listed known (the failed list was read) */
	uint64_t listed[RULE_DESTS_MAX]; /* failed-list entries per destination */
};

static bool is_none(const char *v)
{
	return !v || !*v || strcmp(v, "-") == 0;
}

static void rule_stat(const struct loafre_config *cfg, const struct loafre_rule_config *r,
		      const struct loafre__stats *s, bool live, struct rstat *rs)
{
	const struct loafre_fs_config *fs = loafre_config_find_fs(cfg, r->fs);
	const char *n = r->name, *lt;

	memset(rs, 0, sizeof(*rs));
	if (!r->enabled) {
		rs->state = "disabled";
		rs->reason = r->state_file ? "disabled by loafre rule disable" : "enabled = no";
		return;
	}
	if (!live) {
		rs->state = "not-running";
		rs->reason = "loafred is not running";
		return;
	}
	rs->state = stats_get(s, "rule.%s.state", n);
	if (!rs->state) {
		rs->state = "not-running";
		rs->reason = "not started by loafred (its configuration not reloaded yet? see its log)";
		return;
	}
	if (strcmp(rs->state, "failed") == 0) {
		const char *e = stats_get(s, "rule.%s.error", n);
		rs->reason = e ? e : "not started (see loafred's log)";
	}
	rs->has_counts = to_u64(stats_get(s, "rule.%s.records", n), &rs->records) &&
			 to_u64(stats_get(s, "rule.%s.acked", n), &rs->acked) &&
			 to_u64(stats_get(s, "rule.%s.failed", n), &rs->failed);
	rs->has_sync = to_u64(stats_get(s, "rule.%s.sync.entries", n), &rs->sync_entries) &&
		       to_u64(stats_get(s, "rule.%s.sync.copied", n), &rs->sync_copied) &&
		       to_u64(stats_get(s, "rule.%s.sync.bytes", n), &rs->sync_bytes) &&
		       to_u64(stats_get(s, "rule.%s.sync.errors", n), &rs->sync_errors);
	rs->has_lag = fs != NULL && fs->n_mdts > 0;
	for (size_t k = 0; fs && k < fs->n_mdts && rs->has_lag; k++) {
		uint64_t idx, pos;
		if (!to_u64(stats_get(s, "mdt.%s.index", fs->mdts[k]), &idx) ||
		    !to_u64(stats_get(s, "broker.group.%s.position.%s", r->group, fs->mdts[k]),
			    &pos)) {
			rs->has_lag = false;
			break;
		}
		rs->lag += idx > pos ? idx - pos : 0;
	}
	if (rs->has_lag && rs->lag == 0) {
		rs->has_lag_s = true;
		rs->lag_s = 0;
	} else if (rs->has_lag && (lt = stats_get(s, "rule.%s.last_time", n))) {
		char *end;
		double t = strtod(lt, &end);
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		if (end != lt && t > 0) {
			double d = (double)now.tv_sec + (double)now.tv_nsec / 1e9 - t;
			rs->has_lag_s = true;
			rs->lag_s = d > 0 ? d : 0;
		}
	}
}

struct listed_ctx {
	const struct loafre_rule_config *r; /* the rule */
	uint64_t *n;                        /* per destination */
};

static int count_listed(void *arg, const struct loafre__failed_ent *e)
{
	struct listed_ctx *lc = arg;

	for (size_t i = 0; i < lc->r->n_dests; i++)
		if (strcmp(e->dest, lc->r->dests[i].spec) == 0) {
			lc->n[i]++;
			break;
		}
	return 0;
}

/* The failed list's entries per destination (what FAILED shows: operations
 * that failed for good, not the attempts retried or answered otherwise). */
static void rule_listed(const struct loafre_config *cfg, const struct loafre_rule_config *r,
			struct rstat *rs)
{
	struct listed_ctx lc = { .r = r, .n = rs->listed };
	char dir[4096], path[4200];

	rs->has_listed = false;
	if (r->n_dests > RULE_DESTS_MAX ||
	    loafre__worker_state_dir(cfg, r->name, dir, sizeof(dir)) < 0)
		return;
	snprintf(path, sizeof(path), "%s/failed", dir);
	memset(rs->listed, 0, sizeof(rs->listed));
	rs->has_listed = loafre__failed_read(path, count_listed, &lc, NULL) == 0;
}

/* The stats index I of destination i of r (matched by its spec). */
static size_t dest_slot(const struct loafre__stats *s, const struct loafre_rule_config *r, size_t i)
{
	for (size_t k = 0; k <= r->n_dests; k++) {
		const char *spec = stats_get(s, "rule.%s.dest.%zu.spec", r->name, k);
		if (spec && strcmp(spec, r->dests[i].spec) == 0)
			return k;
	}
	return i;
}

static void dest_stat(const struct loafre__stats *s, const struct loafre_rule_config *r, size_t i,
		      const struct rstat *rs, struct dstat *ds)
{
	size_t k;

	memset(ds, 0, sizeof(*ds));
	if (rs->reason || strcmp(rs->state, "not-running") == 0)
		return;
	k = dest_slot(s, r, i);
	ds->state = stats_get(s, "rule.%s.dest.%zu.state", r->name, k);
	ds->error = stats_get(s, "rule.%s.dest.%zu.error", r->name, k);
	if (is_none(ds->error))
		ds->error = NULL;
	ds->has = to_u64(stats_get(s, "rule.%s.dest.%zu.done", r->name, k), &ds->done) &&
		  to_u64(stats_get(s, "rule.%s.dest.%zu.failed", r->name, k), &ds->failed) &&
		  to_u64(stats_get(s, "rule.%s.dest.%zu.bytes", r->name, k), &ds->bytes);
}

static void json_u64(const char *key, bool has, uint64_t v)
{
	if (has)
		printf(",\"%s\":%" PRIu64, key, v);
	else
		printf(",\"%s\":null", key);
}

static void json_strn(const char *key, const char *v)
{
	printf(",\"%s\":", key);
	if (v)
		loafre__json_fquote(stdout, v);
	else
		fputs("null", stdout);
}

static void status_json(const struct loafre_config *cfg, const struct loafre_rule_config *r,
			const struct loafre__stats *s, const struct rstat *rs)
{
	(void)cfg;
	fputs("{\"rule\":", stdout);
	loafre__json_fquote(stdout, r->name);
	json_strn("filesystem", r->fs);
	printf(",\"enabled\":%s", r->enabled ? "true" : "false");
	json_strn("state", rs->state);
	json_strn("reason", rs->reason);
	json_u64("lag", rs->has_lag, rs->lag);
	if (rs->has_lag_s)
		printf(",\"lag_seconds\":%.3f", rs->lag_s);
	else
		fputs(",\"lag_seconds\":null", stdout);
	json_u64("records", rs->has_counts, rs->records);
	json_u64("acked", rs->has_counts, rs->acked);
	json_u64("failed_list", rs->has_counts, rs->failed);
	if (rs->has_sync)
		printf(",\"sync\":{\"entries\":%" PRIu64 ",\"copied\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"errors\":%" PRIu64 "}",
		       rs->sync_entries, rs->sync_copied, rs->sync_bytes, rs->sync_errors);
	else
		fputs(",\"sync\":null", stdout);
	fputs(",\"destinations\":[", stdout);
	for (size_t i = 0; i < r->n_dests; i++) {
		struct dstat ds;

		dest_stat(s, r, i, rs, &ds);
		fputs(i ? ",{\"destination\":" : "{\"destination\":", stdout);
		loafre__json_fquote(stdout, r->dests[i].spec);
		json_strn("state", ds.state);
		json_u64("done", ds.has, ds.done);
		json_u64("failed", rs->has_listed, rs->has_listed ? rs->listed[i] : 0);
		json_u64("errors", ds.has, ds.failed);
		json_u64("bytes", ds.has, ds.bytes);
		json_strn("error", ds.error);
		putchar('}');
	}
	fputs("]}\n", stdout);
}

#define STATUS_HDR "%-11s %-11s %8s %7s %-30s %-10s %9s %7s %12s %s\n"

static void status_text(const struct loafre_rule_config *r, const struct loafre__stats *s,
			const struct rstat *rs)
{
	char lag[32] = "-", lag_s[32] = "-";

	if (rs->has_lag)
		snprintf(lag, sizeof(lag), "%" PRIu64, rs->lag);
	if (rs->has_lag_s)
		snprintf(lag_s, sizeof(lag_s), "%.1f", rs->lag_s);
	for (size_t i = 0; i < r->n_dests; i++) {
		struct dstat ds;
		char done[24] = "-", failed[24] = "-", bytes[24] = "-";

		dest_stat(s, r, i, rs, &ds);
		if (ds.has) {
			snprintf(done, sizeof(done), "%" PRIu64, ds.done);
			snprintf(bytes, sizeof(bytes), "%" PRIu64, ds.bytes);
		}
		if (rs->has_listed)
			snprintf(failed, sizeof(failed), "%" PRIu64, rs->listed[i]);
		printf(STATUS_HDR, r->name, rs->state, lag, lag_s, r->dests[i].spec,
		       ds.state ? ds.state : "-", done, failed, bytes,
		       rs->reason ? rs->reason : ds.error ? ds.error : "-");
	}
}

int rule_cli_status(struct cli *c, const char *name, bool json)
{
	const struct loafre_config *cfg = c->config;
	const struct loafre_rule_config *one = NULL;
	struct loafre__stats s;
	bool live;
	int r;

	if (name && !(one = loafre_config_find_rule(cfg, name))) {
		fprintf(stderr, RULE_PROG " status: no rule %s (see loafre rule list)\n", name);
		return CLI_USAGE;
	}
	r = stats_load(cfg, &s);
	if (r < 0 && r != -ENOENT) {
		fprintf(stderr, RULE_PROG " status: cannot read '%s/stats': %s\n", cfg->run_dir,
			strerror(-r));
		return CLI_FAIL;
	}
	live = r == 0 && stats_live(&s);
	if (!json && !cfg->n_rules)
		printf("no rules (add one with loafre rule add, or a [rule NAME] section in %s)\n",
		       cfg->path);
	else if (!json)
		printf(STATUS_HDR, "RULE", "STATE", "LAG", "LAG_S", "DESTINATION", "DEST_STATE",
		       "DONE", "FAILED", "BYTES", "ERROR");
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct loafre_rule_config *rc = &cfg->rules[i];
		struct rstat rs;

		if (one && rc != one)
			continue;
		rule_stat(cfg, rc, &s, live, &rs);
		rule_listed(cfg, rc, &rs);
		if (json)
			status_json(cfg, rc, &s, &rs);
		else
			status_text(rc, &s, &rs);
	}
	loafre__stats_free(&s);
	if (fflush(stdout) != 0) {
		fprintf(stderr, RULE_PROG " status: cannot write the output: %s\n", strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ---- failed, retry ------------------------------------------------------------- */

/* STATE/file of rule `name` into buf. CLI_OK or CLI_FAIL (printed). */
static int state_path(struct cli *c, const char *sub, const char *name, const char *file,
		      char *buf, size_t cap)
{
	char dir[4096];
	int r = loafre__worker_state_dir(c->config, name, dir, sizeof(dir));

	if (r < 0 || (size_t)snprintf(buf, cap, "%s/%s", dir, file) >= cap) {
		fprintf(stderr, RULE_PROG " %s: rule %s: no state directory: %s\n", sub, name,
			strerror(r < 0 ? -r : ENAMETOOLONG));
		return CLI_FAIL;
	}
	return CLI_OK;
}

struct failed_out {
	bool json;  /* --json */
	size_t n;   /* entries seen */
};

static int print_failed(void *arg, const struct loafre__failed_ent *e)
{
	struct failed_out *o = arg;
	const char *msg = e->message && *e->message ? e->message : strerror(-e->err);
	char when[64];
	time_t t = (time_t)e->time;
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(when, sizeof(when), "%" PRIu64, e->time);
	if (o->json) {
		fputs("{\"time\":", stdout);
		loafre__json_fquote(stdout, when);
		json_strn("mdt", e->mdt);
		printf(",\"index\":%" PRIu64, e->index);
		json_strn("op", e->op);
		json_strn("dest", e->dest);
		json_strn("path", e->path);
		json_strn("path2", e->path2);
		printf(",\"errno\":%d", -e->err);
		json_strn("error", msg);
		fputs("}\n", stdout);
	} else {
		char at[160];

		if (!o->n)
			printf("%-19s %-24s %-8s %-24s %s\n", "TIME", "MDT:INDEX", "OP", "DEST",
			       "PATH ERROR");
		snprintf(at, sizeof(at), "%s:%" PRIu64, e->mdt, e->index);
		printf("%-19s %-24s %-8s %-24s %s%s%s %s\n", when, at, e->op, e->dest, e->path,
		       e->path2 ? " -> " : "", e->path2 ? e->path2 : "", msg);
	}
	o->n++;
	return 0;
}

static int count_failed(void *arg, const struct loafre__failed_ent *e)
{
	(void)e;
	(*(size_t *)arg)++;
	return 0;
}

int rule_cli_failed(struct cli *c, const char *name, bool json)
{
	struct failed_out o = { .json = json };
	char path[4096];
	unsigned line = 0;
	size_t n = 0;
	int r;

	if (!loafre_config_find_rule(c->config, name)) {
		fprintf(stderr, RULE_PROG " failed: no rule %s (see loafre rule list)\n", name);
		return CLI_USAGE;
	}
	if (state_path(c, "failed", name, "failed", path, sizeof(path)) != CLI_OK)
		return CLI_FAIL;
	/* Checked whole first: a malformed list prints its error alone. */
	r = loafre__failed_read(path, count_failed, &n, &line);
	if (r == 0)
		r = loafre__failed_read(path, print_failed, &o, &line);
	if (r < 0) {
		fflush(stdout);
		if (r == -EBADMSG)
			fprintf(stderr, RULE_PROG " failed: %s:%u: malformed entry\n", path, line);
		else
			fprintf(stderr, RULE_PROG " failed: cannot read '%s': %s\n", path,
				strerror(-r));
		return CLI_FAIL;
	}
	if (!o.n && !json)
		printf("rule %s has no failed operations\n", name);
	if (fflush(stdout) != 0) {
		fprintf(stderr, RULE_PROG " failed: cannot write the output: %s\n", strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* Appends the file `from` to `to` (fsync'ed), then removes `from`. */
static int append_file(const char *from, const char *to)
{
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, r;

	r = loafre__read_file(from, FAILED_COPY_MAX, &buf, &len);
	if (r < 0)
		goto out;
	fd = open(to, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = loafre__write_all(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && unlink(from) < 0)
		r = -errno;
out:
	free(buf);
	return r;
}

/* Moves `failed` to `retry`. A retry file the worker has not taken yet
 * (it takes one by renaming it away) keeps its entries: it is taken here
 * the same way, the failed list appended to it, and it is put back — never
 * replacing a retry file that appeared meanwhile. */
static int move_to_retry(const char *failed, const char *retry)
{
	char from[4096 + 48], tmp[4096 + 48];
	int r;

	snprintf(from, sizeof(from), "%s", failed);
	for (unsigned tries = 0; tries < 16; tries++) {
		if (link(from, retry) == 0) {
			if (unlink(from) < 0 && errno != ENOENT)
				return -errno;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
		snprintf(tmp, sizeof(tmp), "%s.cli.%ld.%u", retry, (long)getpid(), tries);
		if (rename(retry, tmp) < 0) {
			if (errno == ENOENT)
				continue; /* the worker took it just now */
			return -errno;
		}
		r = append_file(from, tmp); /* from is removed once appended */
		if (r < 0) {
			rename(tmp, retry);
			return r;
		}
		snprintf(from, sizeof(from), "%s", tmp);
	}
	return -EBUSY;
}

int rule_cli_retry(struct cli *c, const char *name)
{
	char failed[4096], retry[4096];
	size_t n = 0;
	unsigned line = 0;
	int r;

	if (!loafre_config_find_rule(c->config, name)) {
		fprintf(stderr, RULE_PROG " retry: no rule %s (see loafre rule list)\n", name);
		return CLI_USAGE;
	}
	if (state_path(c, "retry", name, "failed", failed, sizeof(failed)) != CLI_OK ||
	    state_path(c, "retry", name, "retry", retry, sizeof(retry)) != CLI_OK)
		return CLI_FAIL;
	r = loafre__failed_read(failed, count_failed, &n, &line);
	if (r == -EBADMSG) {
		fprintf(stderr, RULE_PROG " retry: %s:%u: malformed entry; nothing re-queued\n",
			failed, line);
		return CLI_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, RULE_PROG " retry: cannot read '%s': %s\n", failed, strerror(-r));
		return CLI_FAIL;
	}
	if (!n) {
		printf("rule %s has no failed operations to retry\n", name);
		return CLI_OK;
	}
	r = move_to_retry(failed, retry);
	if (r < 0) {
		fprintf(stderr, RULE_PROG " retry: cannot move '%s' to '%s': %s\n", failed, retry,
			strerror(-r));
		return CLI_FAIL;
	}
	printf("rule %s: %zu failed operation%s re-queued (%s)\n", name, n, n == 1 ? "" : "s",
	       retry);
	if (!rule_cli_notify_daemon(c->config))
		printf("loafred is not running: they are retried when it starts\n");
	return CLI_OK;
}

/* ---- waiting for the initial sync --------------------------------------------- */

static volatile sig_atomic_t wait_interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	wait_interrupted = 1;
}

struct progress {
	bool tty;            /* drawing on a terminal */
	bool drawn;          /* a bar line is on screen */
	unsigned tick;       /* bar animation step */
	uint64_t start_ns;   /* when the wait began */
	uint64_t next_line;  /* not a tty: next plain line (mono ns) */
};

static void progress_counts(const struct rstat *rs, char *buf, size_t cap)
{
	char b[32];

	idx_human(rs->sync_bytes, b, sizeof(b));
	snprintf(buf, cap, "%" PRIu64 " entries, %" PRIu64 " copied, %sB%s", rs->sync_entries,
		 rs->sync_copied, b, rs->sync_errors ? ", errors" : "");
	if (rs->sync_errors) {
		size_t l = strlen(buf) - strlen("errors");
		snprintf(buf + l, cap - l, "%" PRIu64 " errors", rs->sync_errors);
	}
}

static void progress_draw(struct progress *p, const char *name, const struct rstat *rs)
{
	uint64_t now = loafre__mono_ns();
	unsigned secs = (unsigned)((now - p->start_ns) / 1000000000ull);
	char counts[160];

	progress_counts(rs, counts, sizeof(counts));
	if (p->tty) {
		enum { W = 20, B = 5 };
		char bar[W + 1];
		unsigned span = W - B, pos = p->tick % (2 * span);

		pos = pos < span ? pos : 2 * span - pos;
		for (unsigned i = 0; i < W; i++)
			bar[i] = i >= pos && i < pos + B ? '=' : ' ';
		bar[W] = '\0';
		p->tick++;
		printf("\r\033[Krule %s: syncing [%s] %s, %u:%02u", name, bar, counts, secs / 60,
		       secs % 60);
		p->drawn = true;
		fflush(stdout);
		return;
	}
	if (now >= p->next_line) {
		printf("rule %s: initial sync: %s (%u s)\n", name, counts, secs);
		fflush(stdout);
		p->next_line = now + PLAIN_EVERY_S * 1000000000ull;
	}
}

static void progress_end(struct progress *p)
{
	if (p->drawn) {
		printf("\r\033[K");
		p->drawn = false;
	}
}

/* Whether every destination of r has had its initial sync (STATE/synced.N
 * holds its spec: lib/repl_worker.c). */
static bool all_synced(const struct loafre_config *cfg, const struct loafre_rule_config *r)
{
	char dir[4096];

	if (loafre__worker_state_dir(cfg, r->name, dir, sizeof(dir)) < 0)
		return false;
	for (size_t i = 0; i < r->n_dests; i++) {
		char path[4200], *text = NULL;
		size_t len = 0;
		bool same;

		snprintf(path, sizeof(path), "%s/synced.%zu", dir, i);
		if (loafre__read_file(path, 1u << 16, &text, &len) < 0)
			return false;
		same = len == strlen(r->dests[i].spec) + 1 && text[len - 1] == '\n' &&
		       strncmp(text, r->dests[i].spec, len - 1) == 0;
		free(text);
		if (!same)
			return false;
	}
	return true;
}

/* Whether a destination of r is down (unreachable): its spec and error in
 * buf. */
static bool dest_down(const struct loafre__stats *s, const struct loafre_rule_config *r,
		      const struct rstat *rs, char *buf, size_t cap)
{
	for (size_t i = 0; i < r->n_dests; i++) {
		struct dstat ds;

		dest_stat(s, r, i, rs, &ds);
		if (ds.state && strcmp(ds.state, "down") == 0) {
			snprintf(buf, cap, "its destination %s is unreachable: %s", r->dests[i].spec,
				 ds.error ? ds.error : "no reason given");
			return true;
		}
	}
	return false;
}

int rule_cli_wait_sync(struct cli *c, const char *sub, const char *name, pid_t pid)
{
	struct loafre_config *cfg = NULL;
	const struct loafre_rule_config *r;
	struct progress p = { .tty = isatty(STDOUT_FILENO) == 1 };
	struct sigaction sa = { .sa_handler = on_sigint }, old_sa;
	bool synced_before;
	uint64_t stopped_since = 0;
	char err[1024];
	int ret = CLI_OK;

	/* The configuration as loafred now reads it (c->config is from before
	 * the change). */
	if (loafre_config_load(loafre_config_path(c->config_arg), &cfg, err, sizeof(err)) < 0 ||
	    !(r = loafre_config_find_rule(cfg, name))) {
		loafre_config_free(cfg);
		return CLI_OK; /* changed meanwhile: nothing to wait for */
	}
	synced_before = all_synced(cfg, r); /* re-enabled: nothing to sync */
	p.start_ns = loafre__mono_ns();
	wait_interrupted = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_sa);
	for (;; nanosleep(&(struct timespec){ 0, WAIT_POLL_NS }, NULL)) {
		uint64_t now = loafre__mono_ns();
		struct loafre__stats s;
		struct rstat rs;
		bool done;

		if (wait_interrupted) {
			progress_end(&p);
			printf("stopped waiting: the initial sync of rule %s goes on in loafred (loafre rule status %s)\n",
			       name, name);
			break;
		}
		if (stats_load(cfg, &s) < 0 || s.pid != (long)pid) {
			loafre__stats_free(&s);
			if (!pid_alive(pid)) {
				progress_end(&p);
				printf("loafred (pid %ld) stopped: rule %s is saved and starts with it\n",
				       (long)pid, name);
				break;
			}
			continue;
		}
		rule_stat(cfg, r, &s, true, &rs);
		if (strcmp(rs.state, "failed") == 0) {
			progress_end(&p);
			fflush(stdout);
			fprintf(stderr, RULE_PROG " %s: rule %s is saved, but loafred cannot run it: %s\n",
				sub, name, rs.reason);
			loafre__stats_free(&s);
			ret = CLI_FAIL;
			break;
		}
		if (strcmp(rs.state, "not-running") == 0 || strcmp(rs.state, "stopped") == 0) {
			/* not loaded yet, or its worker not started yet (or ended) */
			loafre__stats_free(&s);
			stopped_since = stopped_since ? stopped_since : now;
			if (now - stopped_since > WAIT_START_S * 1000000000ull) {
				progress_end(&p);
				printf("loafred has not started rule %s after %d s (see its log); the rule is saved\n",
				       name, WAIT_START_S);
				break;
			}
			continue;
		}
		stopped_since = 0;
		done = all_synced(cfg, r);
		if (!done && strcmp(rs.state, "waiting") != 0 && dest_down(&s, r, &rs, err, sizeof(err))) {
			/* the sync cannot go on: say why instead of waiting for ever */
			progress_end(&p);
			fflush(stdout);
			fprintf(stderr, RULE_PROG " %s: rule %s is saved, but %s; its initial sync waits for it (loafre rule status %s)\n",
				sub, name, err, name);
			loafre__stats_free(&s);
			ret = CLI_FAIL;
			break;
		}
		if (strcmp(rs.state, "syncing") == 0 || (!done && strcmp(rs.state, "waiting") != 0)) {
			/* syncing; or running/retrying: connecting, the sync not begun */
			progress_draw(&p, name, &rs);
			loafre__stats_free(&s);
			continue;
		}
		progress_end(&p);
		if (!done) {
			printf("rule %s is outside its schedule window: its initial sync runs in the window (loafre rule status %s)\n",
			       name, name);
		} else if (!synced_before && rs.has_sync) {
			char counts[160];
			uint64_t ms = (now - p.start_ns) / 1000000ull;

			progress_counts(&rs, counts, sizeof(counts));
			printf("rule %s: initial sync done: %s in %" PRIu64 ".%01" PRIu64 " s; %s\n",
			       name, counts, ms / 1000, ms % 1000 / 100, rs.state);
			if (rs.sync_errors)
				printf("rule %s: %" PRIu64 " entries failed to sync (see loafred's log)\n",
				       name, rs.sync_errors);
		} else {
			printf("rule %s: %s (its destinations were synced before)\n", name, rs.state);
		}
		loafre__stats_free(&s);
		break;
	}
	sigaction(SIGINT, &old_sa, NULL);
	loafre_config_free(cfg);
	fflush(stdout);
	return ret;
}
