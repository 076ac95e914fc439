/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_rule.c — `loafre rule add|list|show|edit|rm|enable|disable` and the
 * dispatch of `status|failed|retry` (cmd_rule_status.c): replication rules
 * (docs/replication.md).
 *
 * Rules live in the configuration file ([rule NAME]) and in its rules_dir
 * (default rules.d beside it): this command writes only rules_dir files,
 * in the configuration's own syntax, so the daemon reads both the same way:
 *
 *   RULES_DIR/NAME.rule    one [rule NAME] section (add, edit, rm,
 *                          enable/disable of such a rule)
 *   RULES_DIR/NAME.state   "enabled = yes|no": overrides the `enabled` of a
 *                          rule of the main file (enable/disable); reported
 *                          by list and show, never silent
 *
 * Every change is validated first by loading the whole configuration with
 * the changed file in place (loafre__config_load_with): a change that would
 * make the configuration fail to load is refused with one line naming the
 * rule and the cause, and nothing is written. Files are replaced
 * atomically (temporary file, fsync, rename, fsync of the directory).
 * `edit` changes key lines and keeps comments and the order of the rest.
 * After a change, a running loafred (RUN_DIR/loafred.pid) gets SIGHUP;
 * `add` and `enable` of an enabled rule then wait for its initial sync
 * (rule_cli_wait_sync; --no-wait skips it). An unknown rule NAME is a usage
 * error (exit 2).
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "loafre/record.h"
#include "rule.h"
#include "rule_cli.h"
#include "util.h"

#define PROG "loafre rule"
#define RULE_FILE_MAX (1u << 20)

enum {
	O_FS = 0x2000,
	O_DEST,
	O_SOURCE,
	O_GLOB,
	O_REGEX,
	O_PREFIX,
	O_EVENTS,
	O_EXCLUDE,
	O_DELAY,
	O_SCHEDULE,
	O_MIN_SIZE,
	O_MAX_SIZE,
	O_OWNER,
	O_GROUP,
	O_MIN_AGE,
	O_MAX_AGE,
	O_WORKERS,
	O_DISABLED,
	O_JSON,
	O_SET,
	O_ADD,
	O_UNSET,
	O_NO_WAIT,
	O_ACTION0, /* + LOAFRE_ACT_* */
};

const struct option cli_rule_long[] = {
	{ "filesystem", required_argument, NULL, O_FS },
	{ "destination", required_argument, NULL, O_DEST },
	{ "source", required_argument, NULL, O_SOURCE },
	{ "match-glob", required_argument, NULL, O_GLOB },
	{ "match-regex", required_argument, NULL, O_REGEX },
	{ "match-prefix", required_argument, NULL, O_PREFIX },
	{ "events", required_argument, NULL, O_EVENTS },
	{ "exclude", required_argument, NULL, O_EXCLUDE },
	{ "delay", required_argument, NULL, O_DELAY },
	{ "schedule", required_argument, NULL, O_SCHEDULE },
	{ "min-size", required_argument, NULL, O_MIN_SIZE },
	{ "max-size", required_argument, NULL, O_MAX_SIZE },
	{ "owner", required_argument, NULL, O_OWNER },
	{ "group", required_argument, NULL, O_GROUP },
	{ "min-age", required_argument, NULL, O_MIN_AGE },
	{ "max-age", required_argument, NULL, O_MAX_AGE },
	{ "workers", required_argument, NULL, O_WORKERS },
	{ "disabled", no_argument, NULL, O_DISABLED },
	{ "json", no_argument, NULL, O_JSON },
	{ "set", required_argument, NULL, O_SET },
	{ "add", required_argument, NULL, O_ADD },
	{ "unset", required_argument, NULL, O_UNSET },
	{ "no-wait", no_argument, NULL, O_NO_WAIT },
	{ "copy", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_COPY },
	{ "delete", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_DELETE },
	{ "move", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_MOVE },
	{ "chmod", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_CHMOD },
	{ "chown", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_CHOWN },
	{ "utimes", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_UTIMES },
	{ "mkdir", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_MKDIR },
	{ "link", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_LINK },
	{ "symlink", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_SYMLINK },
	{ "setxattr", required_argument, NULL, O_ACTION0 + LOAFRE_ACT_SETXATTR },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The configuration key an `add` option writes. */
static const char *opt_key(int opt)
{
	static const struct {
		int opt;
		const char *key;
	} keys[] = {
		{O_FS, "filesystem"},     {O_DEST, "destination"},  {O_SOURCE, "source"},
		{O_GLOB, "match_glob"},   {O_REGEX, "match_regex"}, {O_PREFIX, "match_prefix"},
		{O_EVENTS, "events"},     {O_EXCLUDE, "exclude"},   {O_DELAY, "delay"},
		{O_SCHEDULE, "schedule"}, {O_MIN_SIZE, "min_size"}, {O_MAX_SIZE, "max_size"},
		{O_OWNER, "owner"},       {O_GROUP, "group"},       {O_MIN_AGE, "min_age"},
		{O_MAX_AGE, "max_age"},   {O_WORKERS, "workers"},
	};

	if (opt >= O_ACTION0 && opt < O_ACTION0 + LOAFRE_ACT_N)
		return loafre__rule_action_name((unsigned)(opt - O_ACTION0));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].opt == opt)
			return keys[i].key;
	return NULL;
}

/* ---- a growing text buffer --------------------------------------------------- */

struct sbuf {
	char *s;     /* NUL-terminated */
	size_t len;
	size_t cap;
	bool oom;    /* an append failed */
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *ns;
		while (cap < b->len + n + 1)
			cap *= 2;
		ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* ---- helpers -------------------------------------------------------------------- */

/* Whether a value can be written as one `key = value` line that the
 * configuration reader gives back unchanged. Prints the problem. */
static bool value_ok(const char *sub, const char *name, const char *key, const char *value)
{
	size_t vl = strlen(value);

	if (!*value) {
		fprintf(stderr, PROG " %s: rule %s: %s is empty\n", sub, name, key);
		return false;
	}
	for (const char *p = value; *p; p++) {
		if (*p == '\n' || *p == '\r') {
			fprintf(stderr, PROG " %s: rule %s: %s: a value cannot span lines\n", sub,
				name, key);
			return false;
		}
		if (*p == ';' && p > value && isspace((unsigned char)p[-1])) {
			fprintf(stderr,
				PROG " %s: rule %s: %s: ' ;' would start a comment in the configuration (write it without the blank)\n",
				sub, name, key);
			return false;
		}
	}
	if (isspace((unsigned char)value[0]) || isspace((unsigned char)value[vl - 1])) {
		fprintf(stderr, PROG " %s: rule %s: %s: leading or trailing blanks are not kept\n",
			sub, name, key);
		return false;
	}
	if (strlen(key) + 3 + vl > LOAFRE_CONFIG_LINE_MAX) {
		fprintf(stderr,
			PROG " %s: rule %s: %s: value too long for one configuration line (at most %zu characters)\n",
			sub, name, key, (size_t)LOAFRE_CONFIG_LINE_MAX - 3 - strlen(key));
		return false;
	}
	return true;
}

static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void json_strv(char *const *v, size_t n)
{
	putchar('[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			putchar(',');
		json_str(v[i]);
	}
	putchar(']');
}

/* Loads the configuration with overrides; prints "PROG SUB: rule NAME
 * WHAT: <error>" on failure. 0 or CLI_FAIL. */
static int validate(struct cli *c, const char *sub, const char *name, const char *what,
		    const struct loafre__config_override *ov, size_t n_ov)
{
	struct loafre_config *nc = NULL;
	char err[1024];
	int r = loafre__config_load_with(loafre_config_path(c->config_arg), ov, n_ov, &nc, err,
					 sizeof(err));

	loafre_config_free(nc);
	if (r < 0) {
		fprintf(stderr, PROG " %s: rule %s %s: %s\n", sub, name, what,
			err[0] ? err : strerror(-r));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* Writes RULES_DIR/file atomically. CLI_OK or CLI_FAIL (printed). */
static int write_rules_file(struct cli *c, const char *sub, const char *file, const char *text)
{
	const char *dir = c->config->rules_dir;
	int r = loafre__mkdir_p(dir, 0755);

	if (r == 0)
		r = loafre__write_file_atomic(dir, file, text, strlen(text));
	if (r < 0) {
		fprintf(stderr, PROG " %s: cannot write '%s/%s': %s\n", sub, dir, file,
			strerror(-r));
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int remove_rules_file(struct cli *c, const char *sub, const char *file)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", c->config->rules_dir, file);
	if (unlink(path) < 0 && errno != ENOENT) {
		fprintf(stderr, PROG " %s: cannot remove '%s': %s\n", sub, path, strerror(errno));
		return CLI_FAIL;
	}
	loafre__fsync_dir(c->config->rules_dir);
	return CLI_OK;
}

static const struct loafre_rule_config *find_rule(struct cli *c, const char *sub,
						  const char *name)
{
	const struct loafre_rule_config *r = loafre_config_find_rule(c->config, name);

	if (!r)
		fprintf(stderr, PROG " %s: no rule %s (see loafre rule list)\n", sub, name);
	return r; /* NULL: the caller returns CLI_USAGE */
}

/* Refuses a rule of the main file (edit, rm). */
static bool in_rules_dir(const char *sub, const struct loafre_rule_config *r)
{
	if (r->in_rules_dir)
		return true;
	fprintf(stderr, PROG " %s: rule %s is defined in %s:%u; edit that file\n", sub, r->name,
		r->file, r->line);
	return false;
}

/* The sentence about a NAME.state override, or NULL. */
static const char *state_note(const struct loafre_rule_config *r, char *buf, size_t cap)
{
	if (!r->state_file)
		return NULL;
	snprintf(buf, cap, "%s by loafre rule %s (overrides %s:%u; %s)",
		 r->enabled ? "enabled" : "disabled", r->enabled ? "enable" : "disable", r->file,
		 r->line, r->state_file);
	return buf;
}

/* ---- add ------------------------------------------------------------------------ */

static int rule_add(struct cli *c, const char *name)
{
	struct sbuf b = {0};
	char file[64];
	bool has_fs = false, has_dest = false, disabled = false, no_wait = false;
	int ret = CLI_FAIL;
	const struct loafre_rule_config *old;
	pid_t pid;

	if (!loafre__rule_name_ok(name, LOAFRE_RULE_NAME_MAX)) {
		fprintf(stderr,
			PROG " add: invalid rule name '%s' (1-%d characters of A-Z a-z 0-9 _ -, first a letter or digit)\n",
			name, LOAFRE_RULE_NAME_MAX);
		return CLI_USAGE;
	}
	old = loafre_config_find_rule(c->config, name);
	if (old) {
		fprintf(stderr, PROG " add: rule %s already exists (%s:%u)\n", name, old->file,
			old->line);
		return CLI_FAIL;
	}
	sb_str(&b, "# written by loafre rule add; loafre rule edit changes it\n[rule ");
	sb_str(&b, name);
	sb_str(&b, "]\n");
	for (size_t i = 0; i < c->n_opts; i++) {
		const struct cli_opt *o = &c->opts[i];
		const char *key = opt_key(o->opt);

		if (o->opt == O_DISABLED) {
			sb_str(&b, "enabled = no\n");
			disabled = true;
			continue;
		}
		if (o->opt == O_NO_WAIT) {
			no_wait = true;
			continue;
		}
		if (!key) {
			fprintf(stderr, PROG " add: options --json, --set, --add and --unset are not for add\n");
			ret = CLI_USAGE;
			goto out;
		}
		if (!value_ok("add", name, key, o->arg))
			goto out;
		has_fs |= o->opt == O_FS;
		has_dest |= o->opt == O_DEST;
		sb_str(&b, key);
		sb_str(&b, " = ");
		sb_str(&b, o->arg);
		sb_str(&b, "\n");
	}
	if (!has_fs || !has_dest) {
		fprintf(stderr, PROG " add: rule %s needs --filesystem and --destination\n", name);
		ret = CLI_USAGE;
		goto out;
	}
	if (b.oom) {
		fprintf(stderr, PROG " add: out of memory\n");
		goto out;
	}
	snprintf(file, sizeof(file), "%s.rule", name);
	{
		struct loafre__config_override ov = {file, b.s};
		if (validate(c, "add", name, "not added", &ov, 1) != CLI_OK)
			goto out;
	}
	if (write_rules_file(c, "add", file, b.s) != CLI_OK)
		goto out;
	printf("rule %s added (%s/%s)\n", name, c->config->rules_dir, file);
	pid = rule_cli_notify_daemon(c->config);
	ret = CLI_OK;
	if (!pid && !disabled)
		printf("loafred is not running: rule %s starts with it\n", name);
	else if (!disabled && !no_wait)
		ret = rule_cli_wait_sync(c, "add", name, pid);
out:
	free(b.s);
	return ret;
}

/* ---- edit (and enable/disable of a rules_dir rule) ------------------------------- */

/* The key of a `key = value` line, or 0 length. */
static size_t line_key(const char *line, size_t len, const char **ret_key)
{
	const char *p = line, *end = line + len, *k;

	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p == end || *p == ';' || *p == '#' || *p == '[')
		return 0;
	k = p;
	while (p < end && *p != '=' && *p != ':')
		p++;
	if (p == end)
		return 0;
	while (p > k && isspace((unsigned char)p[-1]))
		p--;
	*ret_key = k;
	return (size_t)(p - k);
}

struct lines {
	char **v;   /* lines without their newline */
	size_t n;
};

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int lines_insert(struct lines *l, size_t at, char *s)
{
	char **nv;

	if (!s)
		return -ENOMEM;
	nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	l->v = nv;
	memmove(nv + at + 1, nv + at, (l->n - at) * sizeof(*nv));
	nv[at] = s;
	l->n++;
	return 0;
}

static void lines_remove(struct lines *l, size_t at)
{
	free(l->v[at]);
	memmove(l->v + at, l->v + at + 1, (l->n - at - 1) * sizeof(*l->v));
	l->n--;
}

static bool is_key(const char *line, const char *key)
{
	const char *k;
	size_t kl = line_key(line, strlen(line), &k);

	return kl && kl == strlen(key) && strncmp(k, key, kl) == 0;
}

/* One --set/--add/--unset on the lines. CLI_OK, CLI_FAIL or CLI_USAGE. */
static int apply_edit(const char *sub, const char *name, struct lines *l, int op,
		      const char *arg)
{
	char key[64], *line = NULL;
	const char *eq = strchr(arg, '='), *value = NULL;
	size_t kl = eq ? (size_t)(eq - arg) : strlen(arg);
	size_t first = SIZE_MAX, last = SIZE_MAX;

	if ((op == O_UNSET) != (eq == NULL) || kl == 0 || kl >= sizeof(key)) {
		fprintf(stderr, PROG " %s: expected %s, not '%s'\n", sub,
			op == O_UNSET ? "--unset KEY" : "--set/--add KEY=VALUE", arg);
		return CLI_USAGE;
	}
	for (size_t i = 0; i < kl; i++) {
		char ch = arg[i] == '-' ? '_' : arg[i];
		if (!(islower((unsigned char)ch) || ch == '_')) {
			fprintf(stderr, PROG " %s: invalid key '%.*s'\n", sub, (int)kl, arg);
			return CLI_USAGE;
		}
		key[i] = ch;
	}
	key[kl] = '\0';
	if (eq) {
		value = eq + 1;
		if (!value_ok(sub, name, key, value))
			return CLI_FAIL;
		if (asprintf(&line, "%s = %s", key, value) < 0) {
			fprintf(stderr, PROG " %s: out of memory\n", sub);
			return CLI_FAIL;
		}
	}
	for (size_t i = 0; i < l->n; i++)
		if (is_key(l->v[i], key)) {
			if (first == SIZE_MAX)
				first = i;
			last = i;
		}
	if (op == O_UNSET) {
		if (first == SIZE_MAX) {
			fprintf(stderr, PROG " %s: rule %s has no %s\n", sub, name, key);
			return CLI_FAIL;
		}
		for (size_t i = l->n; i-- > 0;)
			if (is_key(l->v[i], key))
				lines_remove(l, i);
		return CLI_OK;
	}
	if (op == O_SET && first != SIZE_MAX) {
		for (size_t i = l->n; i-- > first + 1;)
			if (is_key(l->v[i], key))
				lines_remove(l, i);
		free(l->v[first]);
		l->v[first] = line;
		return CLI_OK;
	}
	if (lines_insert(l, last != SIZE_MAX ? last + 1 : l->n, line) < 0) {
		fprintf(stderr, PROG " %s: out of memory\n", sub);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* Edits RULES_DIR/NAME.rule with the ops (O_SET/O_ADD/O_UNSET + arg). */
static int edit_file(struct cli *c, const char *sub, const struct loafre_rule_config *r,
		     const struct cli_opt *ops, size_t n_ops)
{
	struct lines l = {0};
	struct sbuf b = {0};
	char *text = NULL, file[64];
	size_t len;
	int ret = CLI_FAIL, e;

	e = loafre__read_file(r->file, RULE_FILE_MAX, &text, &len);
	if (e < 0) {
		fprintf(stderr, PROG " %s: cannot read '%s': %s\n", sub, r->file, strerror(-e));
		return CLI_FAIL;
	}
	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		if (lines_insert(&l, l.n, strndup(p, ll)) < 0) {
			fprintf(stderr, PROG " %s: out of memory\n", sub);
			goto out;
		}
		p += ll + (nl ? 1 : 0);
	}
	for (size_t i = 0; i < n_ops; i++) {
		int rr = apply_edit(sub, r->name, &l, ops[i].opt, ops[i].arg);
		if (rr != CLI_OK) {
			ret = rr;
			goto out;
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		sb_str(&b, l.v[i]);
		sb_str(&b, "\n");
	}
	if (b.oom || !b.s) {
		fprintf(stderr, PROG " %s: out of memory\n", sub);
		goto out;
	}
	snprintf(file, sizeof(file), "%s.rule", r->name);
	{
		struct loafre__config_override ov = {file, b.s};
		if (validate(c, sub, r->name, "not changed", &ov, 1) != CLI_OK)
			goto out;
	}
	if (write_rules_file(c, sub, file, b.s) != CLI_OK)
		goto out;
	ret = CLI_OK;
out:
	free(b.s);
	free(text);
	lines_free(&l);
	return ret;
}

static int rule_edit(struct cli *c, const char *name)
{
	const struct loafre_rule_config *r = find_rule(c, "edit", name);
	size_t n = 0;
	int ret;

	if (!r)
		return CLI_USAGE;
	for (size_t i = 0; i < c->n_opts; i++) {
		int o = c->opts[i].opt;
		if (o != O_SET && o != O_ADD && o != O_UNSET) {
			fprintf(stderr, PROG " edit: only --set, --add and --unset\n");
			return CLI_USAGE;
		}
		n++;
	}
	if (!n) {
		fprintf(stderr, PROG " edit: nothing to do (--set KEY=VALUE, --add KEY=VALUE, --unset KEY)\n");
		return CLI_USAGE;
	}
	if (!in_rules_dir("edit", r))
		return CLI_FAIL;
	ret = edit_file(c, "edit", r, c->opts, c->n_opts);
	if (ret == CLI_OK) {
		printf("rule %s changed (%s)\n", name, r->file);
		rule_cli_notify_daemon(c->config);
	}
	return ret;
}

/* ---- rm, enable, disable ------------------------------------------------------ */

static int rule_rm(struct cli *c, const char *name)
{
	const struct loafre_rule_config *r = find_rule(c, "rm", name);
	char file[64];

	if (!r)
		return CLI_USAGE;
	if (!in_rules_dir("rm", r))
		return CLI_FAIL;
	snprintf(file, sizeof(file), "%s.rule", name);
	{
		struct loafre__config_override ov = {file, NULL};
		if (validate(c, "rm", name, "not removed", &ov, 1) != CLI_OK)
			return CLI_FAIL;
	}
	if (remove_rules_file(c, "rm", file) != CLI_OK)
		return CLI_FAIL;
	printf("rule %s removed (%s)\n", name, r->file);
	rule_cli_notify_daemon(c->config);
	return CLI_OK;
}

static int rule_enable(struct cli *c, const char *name, bool on)
{
	const char *sub = on ? "enable" : "disable";
	const struct loafre_rule_config *r = find_rule(c, sub, name);
	char file[64];
	bool no_wait = false;
	pid_t pid;
	int ret;

	if (!r)
		return CLI_USAGE;
	for (size_t i = 0; i < c->n_opts; i++) {
		if (on && c->opts[i].opt == O_NO_WAIT) {
			no_wait = true;
			continue;
		}
		fprintf(stderr, on ? PROG " enable: takes only --no-wait\n"
				   : PROG " disable: takes no options\n");
		return CLI_USAGE;
	}
	if (r->enabled == on) {
		printf("rule %s is already %s\n", name, on ? "enabled" : "disabled");
		return CLI_OK;
	}
	if (r->in_rules_dir) {
		struct cli_opt op = {O_SET, on ? "enabled=yes" : "enabled=no"};
		ret = edit_file(c, sub, r, &op, 1);
		if (ret != CLI_OK)
			return ret;
		printf("rule %s %s (%s)\n", name, on ? "enabled" : "disabled", r->file);
	} else {
		snprintf(file, sizeof(file), "%s.state", name);
		if (r->enabled_in_file == on) {
			/* back to what the main file says: drop the override */
			struct loafre__config_override ov = {file, NULL};
			if (validate(c, sub, name, "not changed", &ov, 1) != CLI_OK ||
			    remove_rules_file(c, sub, file) != CLI_OK)
				return CLI_FAIL;
			printf("rule %s %s (as %s:%u says; override %s/%s removed)\n", name,
			       on ? "enabled" : "disabled", r->file, r->line, c->config->rules_dir,
			       file);
		} else {
			char text[512];
			struct loafre__config_override ov = {file, text};
			snprintf(text, sizeof(text),
				 "# written by loafre rule %s: overrides the enabled of [rule %s] in %s:%u\nenabled = %s\n",
				 sub, name, r->file, r->line, on ? "yes" : "no");
			if (validate(c, sub, name, "not changed", &ov, 1) != CLI_OK ||
			    write_rules_file(c, sub, file, text) != CLI_OK)
				return CLI_FAIL;
			printf("rule %s %s by loafre rule %s (overrides %s:%u; %s/%s)\n", name,
			       on ? "enabled" : "disabled", sub, r->file, r->line,
			       c->config->rules_dir, file);
		}
	}
	pid = rule_cli_notify_daemon(c->config);
	if (on && !pid)
		printf("loafred is not running: rule %s starts with it\n", name);
	else if (on && !no_wait)
		return rule_cli_wait_sync(c, "enable", name, pid);
	return CLI_OK;
}

/* ---- list, show ---------------------------------------------------------------- */

static void print_dest(const struct loafre_rule_dest *d, bool json)
{
	if (json) {
		printf("{\"target\":");
		json_str(d->spec);
		printf(",\"host\":");
		if (d->host)
			json_str(d->host);
		else
			printf("null");
		printf(",\"user\":");
		if (d->user)
			json_str(d->user);
		else
			printf("null");
		printf(",\"path\":");
		json_str(d->path);
		printf(",\"uid_map\":");
		if (d->uid_map.text)
			json_str(d->uid_map.text);
		else
			printf("null");
		printf(",\"gid_map\":");
		if (d->gid_map.text)
			json_str(d->gid_map.text);
		else
			printf("null");
		printf(",\"port\":");
		d->port ? printf("%u", d->port) : printf("null");
		printf(",\"identity\":");
		if (d->identity)
			json_str(d->identity);
		else
			printf("null");
		printf(",\"known_hosts\":");
		if (d->known_hosts)
			json_str(d->known_hosts);
		else
			printf("null");
		putchar('}');
		return;
	}
	printf("%s", d->spec);
	if (d->uid_map.text)
		printf(" uid_map=%s", d->uid_map.text);
	if (d->gid_map.text)
		printf(" gid_map=%s", d->gid_map.text);
	if (d->port)
		printf(" port=%u", d->port);
	if (d->identity)
		printf(" identity=%s", d->identity);
	if (d->known_hosts)
		printf(" known_hosts=%s", d->known_hosts);
}

static int rule_list(struct cli *c, bool json)
{
	const struct loafre_config *cfg = c->config;
	char note[8192];

	if (json)
		putchar('[');
	else if (cfg->n_rules)
		printf("%-11s %-8s %-7s %-20s %-30s %s\n", "NAME", "FS", "ENABLED", "SOURCES",
		       "DESTINATIONS", "ORIGIN");
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct loafre_rule_config *r = &cfg->rules[i];
		const char *sn = state_note(r, note, sizeof(note));

		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			json_str(r->name);
			printf(",\"filesystem\":");
			json_str(r->fs);
			printf(",\"enabled\":%s,\"sources\":", r->enabled ? "true" : "false");
			json_strv(r->sources, r->n_sources);
			printf(",\"destinations\":[");
			for (size_t d = 0; d < r->n_dests; d++) {
				if (d)
					putchar(',');
				json_str(r->dests[d].spec);
			}
			printf("],\"origin\":");
			snprintf(note, sizeof(note), "%s:%u", r->file, r->line);
			json_str(note);
			printf(",\"state\":");
			sn = state_note(r, note, sizeof(note));
			if (sn)
				json_str(sn);
			else
				printf("null");
			putchar('}');
			continue;
		}
		{
			char src[4096] = "", dst[4096] = "";
			size_t o = 0;
			for (size_t s = 0; s < r->n_sources; s++)
				o += (size_t)snprintf(src + o, o < sizeof(src) ? sizeof(src) - o : 0,
						      "%s%s", s ? "," : "", r->sources[s]);
			o = 0;
			for (size_t d = 0; d < r->n_dests; d++)
				o += (size_t)snprintf(dst + o, o < sizeof(dst) ? sizeof(dst) - o : 0,
						      "%s%s", d ? "," : "", r->dests[d].spec);
			printf("%-11s %-8s %-7s %-20s %-30s %s:%u%s%s\n", r->name, r->fs,
			       r->enabled ? "yes" : "no", src, dst, r->file, r->line, sn ? ", " : "",
			       sn ? sn : "");
		}
	}
	if (json)
		printf("]\n");
	else if (!cfg->n_rules)
		printf("no rules (add one with loafre rule add, or a [rule NAME] section in %s)\n",
		       cfg->path);
	return CLI_OK;
}

static void show_list(const char *label, char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("  %-13s %s\n", label, v[i]);
}

static void duration_text(uint64_t s, char *buf, size_t cap)
{
	if (s && s % 86400 == 0)
		snprintf(buf, cap, "%llud", (unsigned long long)(s / 86400));
	else if (s && s % 3600 == 0)
		snprintf(buf, cap, "%lluh", (unsigned long long)(s / 3600));
	else if (s && s % 60 == 0)
		snprintf(buf, cap, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, cap, "%llus", (unsigned long long)s);
}

static void events_text(uint32_t mask, char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	if (mask == LOAFRE_CL_MASK_ALL) {
		snprintf(buf, cap, "all");
		return;
	}
	for (uint32_t t = 0; t < LOAFRE_CL_LAST; t++)
		if (mask & (1u << t)) {
			int n = snprintf(buf + o, cap - o, "%s%s", o ? " " : "", loafre_cl_type_name(t));
			if (n < 0 || (size_t)n >= cap - o)
				return;
			o += (size_t)n;
		}
}

static void ids_json(const uint32_t *v, size_t n)
{
	putchar('[');
	for (size_t i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", v[i]);
	putchar(']');
}

static int rule_show(struct cli *c, const char *name, bool json)
{
	const struct loafre_rule_config *r = find_rule(c, "show", name);
	const struct loafre_fs_config *fs;
	char note[8192], ev[512], d1[32], d2[32];

	if (!r)
		return CLI_USAGE;
	fs = loafre_config_find_fs(c->config, r->fs);
	events_text(r->events, ev, sizeof(ev));
	if (json) {
		printf("{\"name\":");
		json_str(r->name);
		printf(",\"group\":");
		json_str(r->group);
		printf(",\"filesystem\":");
		json_str(r->fs);
		printf(",\"filesystem_path\":");
		json_str(fs ? fs->path : "");
		snprintf(note, sizeof(note), "%s:%u", r->file, r->line);
		printf(",\"origin\":");
		json_str(note);
		printf(",\"in_rules_dir\":%s,\"enabled\":%s,\"enabled_in_file\":%s,\"state_file\":",
		       r->in_rules_dir ? "true" : "false", r->enabled ? "true" : "false",
		       r->enabled_in_file ? "true" : "false");
		if (r->state_file)
			json_str(r->state_file);
		else
			printf("null");
		printf(",\"state\":");
		if (state_note(r, note, sizeof(note)))
			json_str(note);
		else
			printf("null");
		printf(",\"sources\":");
		json_strv(r->sources, r->n_sources);
		printf(",\"destinations\":[");
		for (size_t d = 0; d < r->n_dests; d++) {
			if (d)
				putchar(',');
			print_dest(&r->dests[d], true);
		}
		printf("],\"match_prefix\":");
		json_strv(r->match_prefixes, r->n_match_prefixes);
		printf(",\"match_glob\":");
		json_strv(r->match_globs, r->n_match_globs);
		printf(",\"match_regex\":");
		json_strv(r->match_regexes, r->n_match_regexes);
		printf(",\"events\":");
		json_str(ev);
		printf(",\"min_size\":");
		r->has_min_size ? printf("%llu", (unsigned long long)r->min_size) : printf("null");
		printf(",\"max_size\":");
		r->has_max_size ? printf("%llu", (unsigned long long)r->max_size) : printf("null");
		printf(",\"owner\":");
		ids_json(r->owners, r->n_owners);
		printf(",\"group_ids\":");
		ids_json(r->gids, r->n_gids);
		printf(",\"min_age\":");
		r->has_min_age ? printf("%llu", (unsigned long long)r->min_age) : printf("null");
		printf(",\"max_age\":");
		r->has_max_age ? printf("%llu", (unsigned long long)r->max_age) : printf("null");
		printf(",\"exclude\":[");
		for (size_t e = 0; e < r->n_excludes; e++) {
			const struct loafre_exclude_config *x =
				loafre_config_find_exclude(c->config, r->excludes[e]);
			printf("%s{\"name\":", e ? "," : "");
			json_str(r->excludes[e]);
			if (x) {
				printf(",\"path\":");
				json_strv(x->paths, x->n_paths);
				printf(",\"glob\":");
				json_strv(x->globs, x->n_globs);
				printf(",\"regex\":");
				json_strv(x->regexes, x->n_regexes);
			}
			putchar('}');
		}
		printf("],\"delay\":%llu,\"schedule\":", (unsigned long long)r->delay);
		if (r->schedule)
			json_str(r->schedule);
		else
			printf("null");
		printf(",\"actions\":{");
		for (unsigned a = 0; a < LOAFRE_ACT_N; a++) {
			printf("%s\"%s\":", a ? "," : "", loafre__rule_action_name(a));
			if (r->actions[a])
				json_str(r->actions[a]);
			else
				printf("null");
		}
		printf("},\"workers\":%u}\n", r->workers);
		return CLI_OK;
	}
	printf("rule %s\n", r->name);
	printf("  %-13s %s:%u%s\n", "origin", r->file, r->line,
	       r->in_rules_dir ? " (loafre rule)" : " (edit that file)");
	if (state_note(r, note, sizeof(note)))
		printf("  %-13s %s, %s\n", "enabled", r->enabled ? "yes" : "no", note);
	else
		printf("  %-13s %s\n", "enabled", r->enabled ? "yes" : "no");
	printf("  %-13s %s (%s)\n", "filesystem", r->fs, fs ? fs->path : "?");
	printf("  %-13s %s\n", "group", r->group);
	show_list("source", r->sources, r->n_sources);
	for (size_t d = 0; d < r->n_dests; d++) {
		printf("  %-13s ", "destination");
		print_dest(&r->dests[d], false);
		putchar('\n');
	}
	show_list("match_prefix", r->match_prefixes, r->n_match_prefixes);
	show_list("match_glob", r->match_globs, r->n_match_globs);
	show_list("match_regex", r->match_regexes, r->n_match_regexes);
	printf("  %-13s %s\n", "events", ev);
	if (r->has_min_size)
		printf("  %-13s %llu\n", "min_size", (unsigned long long)r->min_size);
	if (r->has_max_size)
		printf("  %-13s %llu\n", "max_size", (unsigned long long)r->max_size);
	for (size_t i = 0; i < r->n_owners; i++)
		printf("  %-13s %u\n", "owner", r->owners[i]);
	for (size_t i = 0; i < r->n_gids; i++)
		printf("  %-13s %u\n", "group", r->gids[i]);
	if (r->has_min_age) {
		duration_text(r->min_age, d1, sizeof(d1));
		printf("  %-13s %s\n", "min_age", d1);
	}
	if (r->has_max_age) {
		duration_text(r->max_age, d2, sizeof(d2));
		printf("  %-13s %s\n", "max_age", d2);
	}
	for (size_t e = 0; e < r->n_excludes; e++) {
		const struct loafre_exclude_config *x =
			loafre_config_find_exclude(c->config, r->excludes[e]);
		printf("  %-13s %s", "exclude", r->excludes[e]);
		for (size_t j = 0; x && j < x->n_paths; j++)
			printf(" path=%s", x->paths[j]);
		for (size_t j = 0; x && j < x->n_globs; j++)
			printf(" glob=%s", x->globs[j]);
		for (size_t j = 0; x && j < x->n_regexes; j++)
			printf(" regex=%s", x->regexes[j]);
		putchar('\n');
	}
	duration_text(r->delay, d1, sizeof(d1));
	printf("  %-13s %s\n", "delay", r->delay ? d1 : "0 (immediate)");
	printf("  %-13s %s\n", "schedule", r->schedule ? r->schedule : "none (always)");
	for (unsigned a = 0; a < LOAFRE_ACT_N; a++)
		printf("  %-13s %s\n", loafre__rule_action_name(a),
		       r->actions[a] ? r->actions[a] : "built-in");
	printf("  %-13s %u\n", "workers", r->workers);
	return CLI_OK;
}

int cmd_rule(struct cli *c)
{
	const char *sub = c->args[0], *name = c->n_args > 1 ? c->args[1] : NULL;
	bool json = false;

	for (size_t i = 0; i < c->n_opts; i++)
		if (c->opts[i].opt == O_JSON)
			json = true;
	if (strcmp(sub, "list") == 0) {
		if (name || c->n_opts > (json ? 1u : 0u)) {
			fprintf(stderr, PROG " list: takes only --json\n");
			return CLI_USAGE;
		}
		return rule_list(c, json);
	}
	if (strcmp(sub, "status") == 0) {
		if (c->n_opts > (json ? 1u : 0u)) {
			fprintf(stderr, PROG " status: takes [NAME] and --json only\n");
			return CLI_USAGE;
		}
		return rule_cli_status(c, name, json);
	}
	if (strcmp(sub, "add") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "edit") != 0 &&
	    strcmp(sub, "rm") != 0 && strcmp(sub, "enable") != 0 && strcmp(sub, "disable") != 0 &&
	    strcmp(sub, "failed") != 0 && strcmp(sub, "retry") != 0) {
		fprintf(stderr,
			PROG ": unknown subcommand '%s' (add, list, show, edit, rm, enable, disable, status, failed, retry)\n",
			sub);
		return CLI_USAGE;
	}
	if (!name) {
		fprintf(stderr, PROG " %s: missing rule NAME\n", sub);
		return CLI_USAGE;
	}
	if (strcmp(sub, "show") == 0 || strcmp(sub, "failed") == 0) {
		if (c->n_opts > (json ? 1u : 0u)) {
			fprintf(stderr, PROG " %s: takes only --json\n", sub);
			return CLI_USAGE;
		}
		return sub[0] == 's' ? rule_show(c, name, json) : rule_cli_failed(c, name, json);
	}
	if (json) {
		fprintf(stderr, PROG " %s: --json is for list, show, status and failed\n", sub);
		return CLI_USAGE;
	}
	if (strcmp(sub, "retry") == 0) {
		if (c->n_opts) {
			fprintf(stderr, PROG " retry: takes no options\n");
			return CLI_USAGE;
		}
		return rule_cli_retry(c, name);
	}
	if (strcmp(sub, "add") == 0)
		return rule_add(c, name);
	if (strcmp(sub, "edit") == 0)
		return rule_edit(c, name);
	if (strcmp(sub, "rm") == 0) {
		if (c->n_opts) {
			fprintf(stderr, PROG " rm: takes no options\n");
			return CLI_USAGE;
		}
		return rule_rm(c, name);
	}
	return rule_enable(c, name, strcmp(sub, "enable") == 0);
}
