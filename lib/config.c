/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * config.c — the INI configuration (format in include/loafre/config.h).
 *
 * Parsing uses libinih through ini_parse_stream() with our own line reader:
 * the reader counts lines (so every message names file:line) and recognises
 * section headers itself, so that empty sections are validated too and a
 * section's line is known. Any error stops the parse: the reader then
 * reports end of file. A line longer than inih's 200-byte buffer (up to
 * LOAFRE_CONFIG_LINE_MAX characters) reaches inih as a short stand-in
 * parsed the same way, and the handler takes its real key and value from
 * the reader (iline_stand_in). Validation of whole sections happens at the
 * end.
 *
 * After the file, the files of [loafred] rules_dir are read the same way
 * (load_rules_dir): NAME.rule and NAME.exclude, in name order, each holding
 * exactly its own [rule NAME] / [exclude NAME] section (messages name that
 * file), then the NAME.state files: lines "enabled = yes|no" (blank lines
 * and #/; comments allowed, at most 4096 bytes), each overriding the
 * `enabled` of a rule of the main file. Other names and hidden files are
 * ignored; at most 100000 files. loafre__config_load_with (lib/rule.h)
 * replaces or removes rules_dir files for `loafre rule`'s checks.
 */
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "loafre/config.h"
#include "loafre/modules.h"
#include "broker_proto.h"
#include "cron.h"
#include "rule.h"

#define DEFAULT_RUN_DIR "/run/loafre"
#define DEFAULT_COMMIT_INTERVAL_MS 10u

/* Keys seen in a section, to reject duplicates and check requirements. */
enum {
	K_TYPE = 1u << 0,
	K_PATH = 1u << 1,
	K_JOURNAL = 1u << 2,
	K_MASK = 1u << 3,
	K_FSYNC = 1u << 4,
	K_SEGMENT = 1u << 5,
	K_GC_TIME = 1u << 6,
	K_GC_INDEXES = 1u << 7,
	K_MDTS = 1u << 8,
	K_USER = 1u << 9,
	K_LOG = 1u << 10,
	K_LOG_LEVEL = 1u << 11,
	K_RUN_DIR = 1u << 12,
	K_COMMIT = 1u << 13,
	K_CREATE = 1u << 14,
	K_QUEUE = 1u << 15,
	K_MAX_CREDIT = 1u << 16,
	K_HEARTBEAT = 1u << 17,
	K_EPH_WINDOW = 1u << 18,
	K_G_START = 1u << 19,
	K_G_BATCH = 1u << 20,
	K_I_FS = 1u << 21,
	K_I_BACKEND = 1u << 22,
	K_I_DB = 1u << 23,
	K_I_THREADS = 1u << 24,
	K_I_DAEMON = 1u << 25,
	K_I_HOOK = 1u << 26,
	K_RULES_DIR = 1u << 27,
};

/* Keys of a [rule NAME] section that may be given once. */
enum {
	KR_FS = 1u << 0,
	KR_EVENTS = 1u << 1,
	KR_MIN_SIZE = 1u << 2,
	KR_MAX_SIZE = 1u << 3,
	KR_MIN_AGE = 1u << 4,
	KR_MAX_AGE = 1u << 5,
	KR_DELAY = 1u << 6,
	KR_SCHEDULE = 1u << 7,
	KR_ENABLED = 1u << 8,
	KR_WORKERS = 1u << 9,
	KR_ACTION0 = 1u << 10, /* KR_ACTION0 << LOAFRE_ACT_* */
};

#define RULES_DIR_DEFAULT "rules.d"
#define RULES_DIR_MAX_FILES 100000
#define STATE_FILE_MAX 4096

/* Keys of [broker]'s CurveZMQ settings and of [client] (their own masks). */
enum {
	KC_CURVE = 1u << 0,
	KC_SECRET = 1u << 1,
	KC_ALLOWED = 1u << 2,
	KC_BROKER = 1u << 0,
	KC_SERVER_KEY = 1u << 1,
	KC_KEY = 1u << 2,
};

struct parse_state {
	struct loafre_config *c;
	FILE *f;
	const char *path;
	char *dir;          /* absolute directory of the config file */
	unsigned line;      /* line last handed to inih */
	bool in_daemon;     /* current section is [loafred] */
	bool seen_daemon;
	bool in_broker;     /* current section is [broker] */
	bool seen_broker;
	unsigned broker_keys;
	unsigned curve_keys;  /* [broker] curve keys seen (KC_*) */
	unsigned curve_line;  /* lines of curve, curve_secret_key, curve_allowed_keys */
	unsigned curve_secret_line;
	unsigned curve_allowed_line;
	unsigned tcp_line;    /* line of the first tcp:// endpoint, 0 if none */
	bool in_client;       /* current section is [client] */
	unsigned client_keys; /* [client] keys seen (KC_*) */
	struct loafre_fs_config *fs; /* current [filesystem] section, or NULL */
	struct loafre_group_config *grp; /* current [group] section, or NULL */
	unsigned grp_keys;
	struct loafre_index_config *idx; /* current [index] section, or NULL */
	unsigned idx_keys;
	unsigned fs_keys;
	unsigned daemon_keys;
	unsigned *keys_of_fs; /* per filesystem: keys seen */
	struct loafre_rule_config *rule; /* current [rule] section, or NULL */
	unsigned rule_keys;   /* its once-only keys seen (KR_*) */
	struct loafre_exclude_config *excl; /* current [exclude] section, or NULL */
	int sub_kind;         /* 0: the main file; 1: rules_dir NAME.rule;
	                       * 2: rules_dir NAME.exclude */
	const char *sub_name; /* NAME of the rules_dir file being read */
	unsigned sub_sections; /* sections seen in that file */
	int err;            /* first error (negative errno), 0 if none */
	char *msg;
	size_t msglen;
	char *linebuf;
	size_t linecap;
	bool ini_prev;        /* inih holds a key name from this section: an
	                       * indented line continues that key's value */
	bool long_pending;    /* the line inih has stands in for a long one:
	                       * the handler takes long_name and long_value */
	char *long_name;      /* that line's key (NULL: a continued value) */
	char *long_value;     /* that line's value */
};

static void set_err(struct parse_state *st, int err, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_err(struct parse_state *st, int err, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (st->err)
		return;
	st->err = err;
	if (!st->msg || st->msglen == 0)
		return;
	if (line)
		n = snprintf(st->msg, st->msglen, "%s:%u: ", st->path, line);
	else
		n = snprintf(st->msg, st->msglen, "%s: ", st->path);
	if (n < 0 || (size_t)n >= st->msglen)
		return;
	va_start(ap, fmt);
	vsnprintf(st->msg + n, st->msglen - (size_t)n, fmt, ap);
	va_end(ap);
}

const char *loafre_config_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path && *explicit_path)
		return explicit_path;
	env = getenv("LOAFRE_CONFIG");
	if (env && *env)
		return env;
	return LOAFRE_CONFIG_DEFAULT_PATH;
}

/* Lexically normalises an absolute path: removes "." and ".." components
 * and duplicate slashes. Returns a malloc'ed string or NULL. */
static char *normalize_path(const char *abs)
{
	size_t len = strlen(abs);
	char *out = malloc(len + 2);
	size_t o = 0;
	const char *p = abs;

	if (!out)
		return NULL;
	while (*p) {
		const char *s;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (n == 1 && s[0] == '.')
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the slash */
			continue;
		}
		out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

/* Resolves `value` against the config file's directory. */
static char *resolve_path(const struct parse_state *st, const char *value)
{
	char *joined, *res;

	if (value[0] == '/')
		return normalize_path(value);
	if (asprintf(&joined, "%s/%s", st->dir, value) < 0)
		return NULL;
	res = normalize_path(joined);
	free(joined);
	return res;
}

static char *config_dir(const char *path)
{
	char *copy = strdup(path), *slash, *abs = NULL, *cwd = NULL, *res = NULL;

	if (!copy)
		return NULL;
	slash = strrchr(copy, '/');
	if (slash == copy)
		copy[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(copy, ".");
	if (copy[0] == '/') {
		res = normalize_path(copy);
		goto out;
	}
	cwd = getcwd(NULL, 0);
	if (!cwd)
		goto out;
	if (asprintf(&abs, "%s/%s", cwd, copy) < 0) {
		abs = NULL;
		goto out;
	}
	res = normalize_path(abs);
out:
	free(abs);
	free(cwd);
	free(copy);
	return res;
}

static bool fsname_valid(const char *name, size_t len)
{
	if (len == 0 || len > LOAFRE_FSNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!isalnum(ch) && ch != '_' && ch != '-')
			return false;
	}
	return true;
}

/* Parses "FSNAME-MDTxxxx" (4 hex digits). Writes the fsname length and the
 * index. */
static bool parse_mdt_name(const char *mdt, size_t *ret_fslen, unsigned *ret_index)
{
	const char *dash = strstr(mdt, "-MDT");
	const char *hex;
	unsigned idx = 0;

	/* The fsname may itself contain "-MDT"; take the last occurrence. */
	while (dash) {
		const char *next = strstr(dash + 1, "-MDT");
		if (!next)
			break;
		dash = next;
	}
	if (!dash || !fsname_valid(mdt, (size_t)(dash - mdt)))
		return false;
	hex = dash + 4;
	if (strlen(hex) != 4)
		return false;
	for (int i = 0; i < 4; i++) {
		if (!isxdigit((unsigned char)hex[i]))
			return false;
		idx = idx * 16 + (unsigned)(isdigit((unsigned char)hex[i])
						    ? hex[i] - '0'
						    : tolower((unsigned char)hex[i]) - 'a' + 10);
	}
	*ret_fslen = (size_t)(dash - mdt);
	*ret_index = idx;
	return true;
}

int loafre_parse_size(const char *s, uint64_t *ret)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		p++;
	}
	switch (*p) {
	case '\0':
		break;
	case 'K': case 'k': mult = 1ull << 10; p++; break;
	case 'M': case 'm': mult = 1ull << 20; p++; break;
	case 'G': case 'g': mult = 1ull << 30; p++; break;
	case 'T': case 't': mult = 1ull << 40; p++; break;
	default:
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	if (v != 0 && v > UINT64_MAX / mult)
		return -EINVAL;
	*ret = v * mult;
	return 0;
}

static void fs_config_clear(struct loafre_fs_config *fs)
{
	free(fs->name);
	free(fs->path);
	free(fs->journal);
	for (size_t i = 0; i < fs->n_mdts; i++) {
		free(fs->mdts[i]);
		if (fs->mdt_journals)
			free(fs->mdt_journals[i]);
	}
	free(fs->mdts);
	free(fs->mdt_journals);
	free(fs->changelog_user);
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void dest_clear(struct loafre_rule_dest *d)
{
	free(d->spec);
	free(d->user);
	free(d->host);
	free(d->path);
	free(d->identity);
	free(d->known_hosts);
	loafre__idmap_clear(&d->uid_map);
	loafre__idmap_clear(&d->gid_map);
}

static void rule_config_clear(struct loafre_rule_config *r)
{
	free(r->name);
	free(r->group);
	free(r->fs);
	free_strv(r->sources, r->n_sources);
	for (size_t i = 0; i < r->n_dests; i++)
		dest_clear(&r->dests[i]);
	free(r->dests);
	free_strv(r->match_prefixes, r->n_match_prefixes);
	free_strv(r->match_globs, r->n_match_globs);
	free_strv(r->match_regexes, r->n_match_regexes);
	free(r->owners);
	free(r->gids);
	free_strv(r->excludes, r->n_excludes);
	free(r->schedule);
	for (unsigned a = 0; a < LOAFRE_ACT_N; a++)
		free(r->actions[a]);
	free(r->state_file);
	free(r->file);
}

void loafre_config_free(struct loafre_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_fs; i++)
		fs_config_clear(&c->fs[i]);
	free(c->fs);
	free(c->path);
	free(c->run_dir);
	free_strv(c->broker.endpoints, c->broker.n_endpoints);
	free(c->broker.curve_secret_key);
	free(c->broker.curve_allowed_keys);
	free(c->client.broker);
	free(c->client.curve_server_key);
	free(c->client.curve_key);
	for (size_t i = 0; i < c->n_groups; i++) {
		struct loafre_group_config *g = &c->groups[i];
		free(g->name);
		free(g->start);
		free_strv(g->modules, g->n_modules);
	}
	free(c->groups);
	for (size_t i = 0; i < c->n_indexes; i++) {
		struct loafre_index_config *x = &c->indexes[i];
		free(x->name);
		free(x->fs);
		free(x->database);
		free(x->group);
		free(x->quota_hook);
	}
	free(c->indexes);
	free(c->rules_dir);
	for (size_t i = 0; i < c->n_rules; i++)
		rule_config_clear(&c->rules[i]);
	free(c->rules);
	for (size_t i = 0; i < c->n_excludes; i++) {
		struct loafre_exclude_config *x = &c->excludes[i];
		free(x->name);
		free_strv(x->paths, x->n_paths);
		free_strv(x->globs, x->n_globs);
		free_strv(x->regexes, x->n_regexes);
		free(x->file);
	}
	free(c->excludes);
	free(c);
}

const struct loafre_rule_config *loafre_config_find_rule(const struct loafre_config *c,
							 const char *name)
{
	for (size_t i = 0; c && name && i < c->n_rules; i++)
		if (strcmp(c->rules[i].name, name) == 0)
			return &c->rules[i];
	errno = ENOENT;
	return NULL;
}

const struct loafre_exclude_config *loafre_config_find_exclude(const struct loafre_config *c,
							       const char *name)
{
	for (size_t i = 0; c && name && i < c->n_excludes; i++)
		if (strcmp(c->excludes[i].name, name) == 0)
			return &c->excludes[i];
	errno = ENOENT;
	return NULL;
}

const char *loafre_config_mdt_journal(const struct loafre_fs_config *fs, const char *mdt)
{
	if (fs && mdt && fs->mdt_journals)
		for (size_t i = 0; i < fs->n_mdts; i++)
			if (strcmp(fs->mdts[i], mdt) == 0)
				return fs->mdt_journals[i];
	errno = ENOENT;
	return NULL;
}

const struct loafre_fs_config *loafre_config_find_fs(const struct loafre_config *c,
						     const char *name)
{
	if (!c || !name) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < c->n_fs; i++)
		if (strcmp(c->fs[i].name, name) == 0)
			return &c->fs[i];
	errno = ENOENT;
	return NULL;
}

const struct loafre_fs_config *loafre_config_fs_of_path(const struct loafre_config *c,
							const char *path)
{
	const struct loafre_fs_config *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; c && path && i < c->n_fs; i++) {
		const char *fp = c->fs[i].path;
		size_t l = fp ? strlen(fp) : 0;
		if (!fp || strncmp(path, fp, l) != 0)
			continue;
		if (!(path[l] == '\0' || path[l] == '/' || (l == 1 && fp[0] == '/')))
			continue;
		if (!best || l > best_len) {
			best = &c->fs[i];
			best_len = l;
		}
	}
	if (!best)
		errno = ENOENT;
	return best;
}

const struct loafre_index_config *loafre_config_find_index(const struct loafre_config *c,
							   const char *fs)
{
	for (size_t i = 0; c && fs && i < c->n_indexes; i++)
		if (strcmp(c->indexes[i].fs, fs) == 0)
			return &c->indexes[i];
	errno = ENOENT;
	return NULL;
}

const struct loafre_fs_config *loafre_config_find_mdt(const struct loafre_config *c,
						      const char *mdt, unsigned *ret_mdt_index)
{
	size_t fslen;
	unsigned idx;

	if (!c || !mdt || !parse_mdt_name(mdt, &fslen, &idx)) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < c->n_fs; i++) {
		const struct loafre_fs_config *fs = &c->fs[i];
		if (strlen(fs->name) != fslen || strncmp(fs->name, mdt, fslen) != 0)
			continue;
		for (size_t m = 0; m < fs->n_mdts; m++) {
			if (strcmp(fs->mdts[m], mdt) == 0) {
				if (ret_mdt_index)
					*ret_mdt_index = idx;
				return fs;
			}
		}
		break;
	}
	errno = ENOENT;
	return NULL;
}

/* ---- section headers (seen by the reader) ------------------------------- */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* No section is open: the state a new header or file starts from. */
static void leave_section(struct parse_state *st)
{
	st->in_daemon = false;
	st->in_broker = false;
	st->in_client = false;
	st->fs = NULL;
	st->grp = NULL;
	st->idx = NULL;
	st->rule = NULL;
	st->excl = NULL;
}

/* arr (n elements of size bytes) grown by one zeroed element at index n:
 * the new array, or NULL with the error set (arr is left as it was). */
static void *grow_by_one(struct parse_state *st, void *arr, size_t n, size_t size)
{
	unsigned char *na = realloc(arr, (n + 1) * size);

	if (!na) {
		set_err(st, -ENOMEM, st->line, "out of memory");
		return NULL;
	}
	memset(na + n * size, 0, size);
	return na;
}

/* Whether [KIND NAME] is not yet among the n sections at arr, each size
 * bytes holding its `char *name` at name_off and `unsigned line` at
 * line_off; else the error is set. */
static bool section_new(struct parse_state *st, const char *kind, const char *name,
			const void *arr, size_t n, size_t size, size_t name_off, size_t line_off)
{
	const unsigned char *p = arr;

	for (size_t i = 0; i < n; i++, p += size) {
		const char *nm;
		unsigned line;

		memcpy(&nm, p + name_off, sizeof(nm));
		if (strcmp(nm, name) == 0) {
			memcpy(&line, p + line_off, sizeof(line));
			set_err(st, -EINVAL, st->line, "duplicate section [%s %s] (first on line %u)",
				kind, name, line);
			return false;
		}
	}
	return true;
}

static void begin_group(struct parse_state *st, const char *gname)
{
	struct loafre_config *c = st->c;
	struct loafre_group_config *ng;

	if (!loafre__bp_group_name_ok(gname, strlen(gname))) {
		set_err(st, -EINVAL, st->line,
			"invalid group name '%s' (a letter, then letters, digits, '_' or '-'; at most %d characters)",
			gname, LOAFRE__BP_GROUP_MAX);
		return;
	}
	if (!section_new(st, "group", gname, c->groups, c->n_groups, sizeof(*c->groups),
			 offsetof(struct loafre_group_config, name),
			 offsetof(struct loafre_group_config, line)))
		return;
	ng = grow_by_one(st, c->groups, c->n_groups, sizeof(*ng));
	if (!ng)
		return;
	c->groups = ng;
	st->grp = &c->groups[c->n_groups++];
	st->grp->line = st->line;
	st->grp_keys = 0;
	st->grp->name = strdup(gname);
	if (!st->grp->name)
		set_err(st, -ENOMEM, st->line, "out of memory");
}

static void begin_index(struct parse_state *st, const char *iname)
{
	struct loafre_config *c = st->c;
	struct loafre_index_config *nx;

	if (strlen(iname) > LOAFRE_INDEX_NAME_MAX ||
	    !loafre__bp_group_name_ok(iname, strlen(iname))) {
		set_err(st, -EINVAL, st->line,
			"invalid index name '%s' (a letter, then letters, digits, '_' or '-'; at most %d characters)",
			iname, LOAFRE_INDEX_NAME_MAX);
		return;
	}
	if (!section_new(st, "index", iname, c->indexes, c->n_indexes, sizeof(*c->indexes),
			 offsetof(struct loafre_index_config, name),
			 offsetof(struct loafre_index_config, line)))
		return;
	nx = grow_by_one(st, c->indexes, c->n_indexes, sizeof(*nx));
	if (!nx)
		return;
	c->indexes = nx;
	st->idx = &c->indexes[c->n_indexes++];
	st->idx->line = st->line;
	st->idx->fetch_threads = 4;
	st->idx->in_daemon = true;
	st->idx_keys = 0;
	st->idx->name = strdup(iname);
	if (!st->idx->name || asprintf(&st->idx->group, "idx-%s", iname) < 0) {
		st->idx->group = NULL;
		set_err(st, -ENOMEM, st->line, "out of memory");
	}
}

/* The error for a section a rules_dir file may not hold. */
static void err_sub_file(struct parse_state *st)
{
	const char *kind = st->sub_kind == 1 ? "rule" : "exclude";

	set_err(st, -EINVAL, st->line, "a rules_dir file %s.%s holds only its section [%s %s]",
		st->sub_name, kind, kind, st->sub_name);
}

/* The checks [rule NAME] (kind 1) and [exclude NAME] (kind 2) share: the
 * name, the rules_dir file's one section, a name defined once. Returns
 * whether the section may begin (else the error is set). */
static bool named_section_ok(struct parse_state *st, int kind, const char *name)
{
	const struct loafre_config *c = st->c;
	const char *what = kind == 1 ? "rule" : "exclude";
	int max = kind == 1 ? LOAFRE_RULE_NAME_MAX : 64;
	size_t n = kind == 1 ? c->n_rules : c->n_excludes;

	if (!loafre__rule_name_ok(name, (size_t)max)) {
		set_err(st, -EINVAL, st->line,
			"invalid %s name '%s' (1-%d characters of A-Z a-z 0-9 _ -, first a letter or digit)",
			what, name, max);
		return false;
	}
	if (st->sub_kind && (st->sub_kind != kind || strcmp(name, st->sub_name) != 0 ||
			     st->sub_sections++)) {
		err_sub_file(st);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const char *nm = kind == 1 ? c->rules[i].name : c->excludes[i].name;
		const char *file = kind == 1 ? c->rules[i].file : c->excludes[i].file;
		unsigned line = kind == 1 ? c->rules[i].line : c->excludes[i].line;

		if (strcmp(nm, name) == 0) {
			set_err(st, -EINVAL, st->line, "[%s %s] is defined twice (also in %s:%u)",
				what, name, file, line);
			return false;
		}
	}
	return true;
}

static void begin_rule(struct parse_state *st, const char *rname)
{
	struct loafre_config *c = st->c;
	struct loafre_rule_config *nr, *r;

	if (!named_section_ok(st, 1, rname))
		return;
	nr = grow_by_one(st, c->rules, c->n_rules, sizeof(*nr));
	if (!nr)
		return;
	c->rules = nr;
	r = st->rule = &c->rules[c->n_rules++];
	st->rule_keys = 0;
	r->line = st->line;
	r->enabled = r->enabled_in_file = true;
	r->workers = 2;
	r->events = LOAFRE_CL_MASK_ALL;
	r->in_rules_dir = st->sub_kind != 0;
	r->name = strdup(rname);
	r->file = strdup(st->path);
	if (!r->name || !r->file || asprintf(&r->group, "rep-%s", rname) < 0) {
		r->group = NULL;
		set_err(st, -ENOMEM, st->line, "out of memory");
	}
}

static void begin_exclude(struct parse_state *st, const char *xname)
{
	struct loafre_config *c = st->c;
	struct loafre_exclude_config *nx, *x;

	if (!named_section_ok(st, 2, xname))
		return;
	nx = grow_by_one(st, c->excludes, c->n_excludes, sizeof(*nx));
	if (!nx)
		return;
	c->excludes = nx;
	x = st->excl = &c->excludes[c->n_excludes++];
	x->line = st->line;
	x->name = strdup(xname);
	x->file = strdup(st->path);
	if (!x->name || !x->file)
		set_err(st, -ENOMEM, st->line, "out of memory");
}

static void begin_fs(struct parse_state *st, const char *fsname)
{
	struct loafre_config *c = st->c;
	struct loafre_fs_config *nfs;
	unsigned *nkeys;

	if (!fsname_valid(fsname, strlen(fsname))) {
		set_err(st, -EINVAL, st->line,
			"invalid filesystem name '%s' (1-%d characters of A-Z a-z 0-9 _ -)",
			fsname, LOAFRE_FSNAME_MAX);
		return;
	}
	if (!section_new(st, "filesystem", fsname, c->fs, c->n_fs, sizeof(*c->fs),
			 offsetof(struct loafre_fs_config, name),
			 offsetof(struct loafre_fs_config, line)))
		return;
	nfs = grow_by_one(st, c->fs, c->n_fs, sizeof(*nfs));
	if (!nfs)
		return;
	c->fs = nfs;
	nkeys = grow_by_one(st, st->keys_of_fs, c->n_fs, sizeof(*nkeys));
	if (!nkeys)
		return;
	st->keys_of_fs = nkeys;
	st->fs = &c->fs[c->n_fs++];
	st->fs->line = st->line;
	st->fs->type = LOAFRE_FS_LOCAL;
	st->fs->journal_opts.fsync = LOAFRE_FSYNC_COMMIT;
	st->fs->name = strdup(fsname);
	if (!st->fs->name)
		set_err(st, -ENOMEM, st->line, "out of memory");
}

/* The argument of a section header `name` that is "KIND" or "KIND ARG"
 * (trimmed; empty for "KIND"), NULL for another header. */
static char *section_arg(char *name, const char *kind)
{
	size_t l = strlen(kind);

	if (strncmp(name, kind, l) != 0 || (name[l] && !isspace((unsigned char)name[l])))
		return NULL;
	return trim(name + l);
}

static void begin_section(struct parse_state *st, char *header)
{
	char *end = strchr(header, ']');
	char *name, *arg;
	struct loafre_config *c = st->c;

	if (!end) {
		set_err(st, -EINVAL, st->line, "section header without ']'");
		return;
	}
	*end = '\0';
	name = trim(header + 1);
	leave_section(st);
	if ((arg = section_arg(name, "rule"))) {
		begin_rule(st, arg);
		return;
	}
	if ((arg = section_arg(name, "exclude"))) {
		begin_exclude(st, arg);
		return;
	}
	if (st->sub_kind) {
		err_sub_file(st);
		return;
	}
	if ((arg = section_arg(name, "index"))) {
		begin_index(st, arg);
		return;
	}
	if ((arg = section_arg(name, "group"))) {
		begin_group(st, arg);
		return;
	}
	if (strcmp(name, "client") == 0) {
		if (c->client.line) {
			set_err(st, -EINVAL, st->line, "duplicate section [client] (first on line %u)",
				c->client.line);
			return;
		}
		c->client.line = st->line;
		st->in_client = true;
		return;
	}
	if (strcmp(name, "broker") == 0) {
		if (st->seen_broker) {
			set_err(st, -EINVAL, st->line, "duplicate section [broker]");
			return;
		}
		st->seen_broker = true;
		st->in_broker = true;
		return;
	}
	if (strcmp(name, "loafred") == 0) {
		if (st->seen_daemon) {
			set_err(st, -EINVAL, st->line, "duplicate section [loafred]");
			return;
		}
		st->seen_daemon = true;
		st->in_daemon = true;
		return;
	}
	if ((arg = section_arg(name, "filesystem"))) {
		begin_fs(st, arg);
		return;
	}
	set_err(st, -EINVAL, st->line, "unknown section [%s] (expected [loafred], [broker], [client], [filesystem NAME], [group NAME], [index NAME], [rule NAME] or [exclude NAME])",
		name);
}

/* What inih makes of a line (ini.c of libinih 55 with the settings of
 * <ini.h>: values continued on indented lines, an inline comment after a
 * blank), given whether it holds a key name of this section. */
_Static_assert(INI_ALLOW_MULTILINE && INI_ALLOW_INLINE_COMMENTS && !INI_ALLOW_NO_VALUE,
	       "iline_parse follows inih's default settings");
enum iline_kind {
	IL_NOTHING, /* blank or a comment */
	IL_CONT,    /* more of the previous key's value */
	IL_SECTION, /* a section header ("[" and a "]") */
	IL_BAD,     /* a syntax error */
	IL_KEY,     /* NAME = VALUE (or NAME : VALUE) */
};

/* A line as inih parses it: its kind and, for IL_KEY and IL_CONT, the
 * name and value as inih hands them to the handler. */
struct iline {
	enum iline_kind kind; /* what the line is */
	const char *name;     /* IL_KEY: the key, name_len bytes */
	size_t name_len;      /* its length */
	const char *value;    /* IL_KEY, IL_CONT: the value, value_len bytes */
	size_t value_len;     /* its length */
};

/* The end of s[from, end) at the first of chars (NULL: none) or at an
 * inline comment (a comment prefix after a blank), as inih's
 * find_chars_or_comment. */
static size_t iline_find(const char *s, size_t from, size_t end, const char *chars)
{
	bool was_space = false;

	while (from < end && !(chars && strchr(chars, s[from])) &&
	       !(was_space && strchr(INI_INLINE_COMMENT_PREFIXES, s[from]))) {
		was_space = isspace((unsigned char)s[from]);
		from++;
	}
	return from;
}

/* Parses the line s (len bytes, its '\n' included, a BOM skipped) as inih
 * would; prev: whether inih holds a key name (see parse_state.ini_prev). */
static void iline_parse(const char *s, size_t len, bool prev, struct iline *ret)
{
	size_t b = 0, e, v;

	memset(ret, 0, sizeof(*ret));
	while (b < len && isspace((unsigned char)s[b]))
		b++;
	while (len > b && isspace((unsigned char)s[len - 1]))
		len--;
	if (b == len || strchr(INI_START_COMMENT_PREFIXES, s[b])) {
		ret->kind = IL_NOTHING;
	} else if (prev && b > 0) {
		e = iline_find(s, b, len, NULL);
		while (e > b && isspace((unsigned char)s[e - 1]))
			e--;
		ret->kind = IL_CONT;
		ret->value = s + b;
		ret->value_len = e - b;
	} else if (s[b] == '[') {
		e = iline_find(s, b + 1, len, "]");
		ret->kind = e < len && s[e] == ']' ? IL_SECTION : IL_BAD;
	} else {
		e = iline_find(s, b, len, "=:");
		if (e == len || (s[e] != '=' && s[e] != ':')) {
			ret->kind = IL_BAD;
			return;
		}
		ret->kind = IL_KEY;
		ret->name = s + b;
		ret->name_len = e - b;
		while (ret->name_len > 0 && isspace((unsigned char)ret->name[ret->name_len - 1]))
			ret->name_len--;
		v = e + 1;
		e = iline_find(s, v, len, NULL);
		while (v < e && isspace((unsigned char)s[v]))
			v++;
		while (e > v && isspace((unsigned char)s[e - 1]))
			e--;
		ret->value = s + v;
		ret->value_len = e - v;
	}
}

/* inih keeps the first INIH_NAME_MAX - 1 bytes of a key's name (its
 * MAX_NAME) for the lines continuing the key's value. */
#define INIH_NAME_MAX 50

/* Hands inih, in str (num bytes: its INI_MAX_LINE), a short line it parses
 * as it would the long line il: "\n", "[s]", "[" (an error), " x" or
 * "NAME=x" (NAME cut as inih keeps it); the handler gets il's name and
 * value (long_pending). Returns whether it could (else the error is set). */
static bool iline_stand_in(struct parse_state *st, const struct iline *il, char *str, int num)
{
	size_t nl = il->name_len < INIH_NAME_MAX - 1 ? il->name_len : INIH_NAME_MAX - 1;

	free(st->long_name);
	free(st->long_value);
	st->long_name = st->long_value = NULL;
	switch (il->kind) {
	case IL_NOTHING:
		snprintf(str, (size_t)num, "\n");
		return true;
	case IL_SECTION:
		snprintf(str, (size_t)num, "[s]\n");
		return true;
	case IL_BAD:
		snprintf(str, (size_t)num, "[\n"); /* no ']': a syntax error */
		return true;
	case IL_KEY:
		st->long_name = strndup(il->name, il->name_len);
		snprintf(str, (size_t)num, "%.*s=x\n", (int)nl, il->name);
		break;
	case IL_CONT:
		snprintf(str, (size_t)num, " x\n");
		break;
	}
	st->long_value = strndup(il->value, il->value_len);
	if (!st->long_value || (il->kind == IL_KEY && !st->long_name)) {
		set_err(st, -ENOMEM, st->line, "out of memory");
		return false;
	}
	st->long_pending = true;
	return true;
}

/* inih line reader: one line per call, counted; section headers handled
 * here. A line longer than inih's buffer (num bytes) reaches it as a
 * stand-in (iline_stand_in). Returns NULL (end of file) after an error. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	struct iline il;
	ssize_t n;
	size_t len;
	char *t;

	st->long_pending = false;
	if (st->err)
		return NULL;
	n = getline(&st->linebuf, &st->linecap, st->f);
	if (n < 0) {
		if (ferror(st->f))
			set_err(st, -EIO, 0, "read error");
		return NULL;
	}
	st->line++;
	len = (size_t)n - (st->linebuf[n - 1] == '\n');
	if (len > LOAFRE_CONFIG_LINE_MAX) {
		set_err(st, -EINVAL, st->line, "line too long (at most %d characters)",
			LOAFRE_CONFIG_LINE_MAX);
		return NULL;
	}
	if ((size_t)n != strlen(st->linebuf)) {
		set_err(st, -EINVAL, st->line, "NUL byte in line");
		return NULL;
	}
	t = st->linebuf;
	/* Skip a UTF-8 BOM on the first line, as inih does. */
	if (st->line == 1 && (unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB &&
	    (unsigned char)t[2] == 0xBF)
		t += 3;
	iline_parse(t, (size_t)n - (size_t)(t - st->linebuf), st->ini_prev, &il);
	if (il.kind == IL_SECTION)
		st->ini_prev = false;
	else if (il.kind == IL_KEY)
		st->ini_prev = il.name_len > 0;
	if (n < num)
		memcpy(str, st->linebuf, (size_t)n + 1);
	else if (!iline_stand_in(st, &il, str, num))
		return NULL;
	t = trim(t);
	if (t[0] == '[') {
		begin_section(st, t);
		if (st->err)
			return NULL;
	} else if (t[0] && t[0] != ';' && t[0] != '#' && !st->in_daemon && !st->in_broker && !st->in_client && !st->fs &&
		   !st->grp && !st->idx && !st->rule && !st->excl) {
		set_err(st, -EINVAL, st->line, "setting outside of any section");
		return NULL;
	}
	return str;
}

/* ---- keys ----------------------------------------------------------------- */

static bool mark_key(struct parse_state *st, unsigned *keys, unsigned bit, const char *name)
{
	if (*keys & bit) {
		set_err(st, -EINVAL, st->line, "duplicate key '%s'", name);
		return false;
	}
	*keys |= bit;
	return true;
}

static bool parse_uint(const char *v, uint64_t *ret)
{
	size_t len = strlen(v);

	if (len == 0 || !isdigit((unsigned char)v[0]))
		return false;
	return loafre__parse_u64(v, len, ret) == 0;
}

static int set_str(struct parse_state *st, char **dst, char *val)
{
	if (!val) {
		set_err(st, -ENOMEM, st->line, "out of memory");
		return 0;
	}
	free(*dst);
	*dst = val;
	return 1;
}

/* A word a key's value may be, and what it stands for. */
struct choice {
	const char *word; /* the value as written */
	int val;          /* what it stands for */
	bool alias;       /* accepted, but not named in messages */
};

/* yes or no; the first two alone where true and false are not accepted. */
static const struct choice yes_no[] = {
	{ "yes", 1, false }, { "no", 0, false }, { "true", 1, true }, { "false", 0, true },
};

/* Key `name` (once only: bit in *keys) whose value is one of the n words of
 * ch: its val in *ret. Else the error, "[SECT: ]NAME must be A, B or C, not
 * 'VALUE'" for a bad value, and false. */
static bool choice_key(struct parse_state *st, unsigned *keys, unsigned bit, const char *sect,
		       const char *name, const char *value, const struct choice *ch, size_t n,
		       int *ret)
{
	char expect[128];
	size_t named = 0, o = 0;

	if (!mark_key(st, keys, bit, name))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(value, ch[i].word) == 0) {
			*ret = ch[i].val;
			return true;
		}
		named += !ch[i].alias;
	}
	expect[0] = '\0';
	for (size_t i = 0, j = 0; i < n && o < sizeof(expect); i++) {
		int w;

		if (ch[i].alias)
			continue;
		w = snprintf(expect + o, sizeof(expect) - o, "%s%s",
			     j == 0 ? "" : j + 1 == named ? " or " : ", ", ch[i].word);
		if (w < 0)
			break;
		o += (size_t)w;
		j++;
	}
	set_err(st, -EINVAL, st->line, "%s%s%s must be %s, not '%s'", sect ? sect : "",
		sect ? ": " : "", name, expect, value);
	return false;
}

/* Key `name` (once only: bit in *keys) whose value is a number from lo to
 * hi, in *ret. Else the error and false; for a bad value "[SECT: ]NAME must
 * be WHAT, not 'VALUE'" (hi UINT64_MAX), "... be WHAT from LO to HI, ..."
 * or, what NULL, "... be LO to HI, ...". */
static bool uint_key(struct parse_state *st, unsigned *keys, unsigned bit, const char *sect,
		     const char *name, const char *value, uint64_t lo, uint64_t hi,
		     const char *what, uint64_t *ret)
{
	char expect[128];

	if (!mark_key(st, keys, bit, name))
		return false;
	if (parse_uint(value, ret) && *ret >= lo && *ret <= hi)
		return true;
	if (hi == UINT64_MAX)
		snprintf(expect, sizeof(expect), "%s", what ? what : "a number");
	else
		snprintf(expect, sizeof(expect), "%s%s%" PRIu64 " to %" PRIu64, what ? what : "",
			 what ? " from " : "", lo, hi);
	set_err(st, -EINVAL, st->line, "%s%s%s must be %s, not '%s'", sect ? sect : "",
		sect ? ": " : "", name, expect, value);
	return false;
}

/* Key `name` (once only: bit in *keys) whose value may not be empty, kept
 * in *dst: resolved against the config file's directory if `path`, else as
 * written. Returns 1, or 0 with the error set. */
static int nonempty_key(struct parse_state *st, unsigned *keys, unsigned bit, const char *name,
			const char *value, bool path, char **dst)
{
	if (!mark_key(st, keys, bit, name))
		return 0;
	if (!*value) {
		set_err(st, -EINVAL, st->line, "%s is empty", name);
		return 0;
	}
	return set_str(st, dst, path ? resolve_path(st, value) : strdup(value));
}

static int daemon_key(struct parse_state *st, const char *name, const char *value)
{
	static const struct choice logs[] = {
		{ "stderr", LOAFRE_LOG_STDERR, false }, { "syslog", LOAFRE_LOG_SYSLOG, false },
	};
	static const struct choice levels[] = {
		{ "error", LOG_ERR, false }, { "warning", LOG_WARNING, false },
		{ "info", LOG_INFO, false }, { "debug", LOG_DEBUG, false },
	};
	struct loafre_config *c = st->c;
	unsigned *k = &st->daemon_keys;
	uint64_t v;
	int val;

	if (strcmp(name, "log") == 0) {
		if (!choice_key(st, k, K_LOG, NULL, name, value, logs, LOAFRE__ARRAY_SIZE(logs), &val))
			return 0;
		c->log = val;
	} else if (strcmp(name, "log_level") == 0) {
		if (!choice_key(st, k, K_LOG_LEVEL, NULL, name, value, levels,
				LOAFRE__ARRAY_SIZE(levels), &val))
			return 0;
		c->log_level = val;
	} else if (strcmp(name, "run_dir") == 0) {
		return nonempty_key(st, k, K_RUN_DIR, name, value, true, &c->run_dir);
	} else if (strcmp(name, "commit_interval_ms") == 0) {
		if (!uint_key(st, k, K_COMMIT, NULL, name, value, 1, 60000,
			      "a number of milliseconds", &v))
			return 0;
		c->commit_interval_ms = (unsigned)v;
	} else if (strcmp(name, "rules_dir") == 0) {
		return nonempty_key(st, k, K_RULES_DIR, name, value, true, &c->rules_dir);
	} else {
		set_err(st, -EINVAL, st->line, "unknown key '%s' in section [loafred]", name);
		return 0;
	}
	return 1;
}

static int add_mdts(struct parse_state *st, struct loafre_fs_config *fs, const char *value)
{
	char *copy = strdup(value), *save = NULL, *tok;
	int ok = 1;

	if (!copy) {
		set_err(st, -ENOMEM, st->line, "out of memory");
		return 0;
	}
	for (tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		size_t fslen;
		unsigned idx;
		char **n;

		if (!parse_mdt_name(tok, &fslen, &idx) || fslen != strlen(fs->name) ||
		    strncmp(tok, fs->name, fslen) != 0) {
			set_err(st, -EINVAL, st->line,
				"invalid MDT name '%s' (expected %s-MDTxxxx, 4 hex digits)", tok,
				fs->name);
			ok = 0;
			break;
		}
		for (size_t i = 0; i < fs->n_mdts; i++) {
			if (strcmp(fs->mdts[i], tok) == 0) {
				set_err(st, -EINVAL, st->line, "MDT '%s' listed twice", tok);
				ok = 0;
				goto out;
			}
		}
		n = realloc(fs->mdts, (fs->n_mdts + 1) * sizeof(*n));
		if (!n || !(n[fs->n_mdts] = strdup(tok))) {
			if (n)
				fs->mdts = n;
			set_err(st, -ENOMEM, st->line, "out of memory");
			ok = 0;
			break;
		}
		fs->mdts = n;
		fs->n_mdts++;
	}
	if (ok && fs->n_mdts == 0) {
		set_err(st, -EINVAL, st->line, "mdts is empty");
		ok = 0;
	}
out:
	free(copy);
	return ok;
}

static int fs_key(struct parse_state *st, const char *name, const char *value)
{
	static const struct choice types[] = {
		{ "local", LOAFRE_FS_LOCAL, false }, { "lustre", LOAFRE_FS_LUSTRE, false },
	};
	static const struct choice queues[] = {
		{ "unlimited", 0, false }, { "system", 1, false },
	};
	static const struct choice fsyncs[] = {
		{ "commit", LOAFRE_FSYNC_COMMIT, false }, { "none", LOAFRE_FSYNC_NONE, false },
	};
	struct loafre_fs_config *fs = st->fs;
	unsigned *k = &st->keys_of_fs[fs - st->c->fs];
	uint64_t v;
	int val;

	if (strcmp(name, "type") == 0) {
		if (!choice_key(st, k, K_TYPE, NULL, name, value, types, LOAFRE__ARRAY_SIZE(types),
				&val))
			return 0;
		fs->type = val;
	} else if (strcmp(name, "path") == 0 || strcmp(name, "journal") == 0) {
		bool is_path = name[0] == 'p';
		return nonempty_key(st, k, is_path ? K_PATH : K_JOURNAL, name, value, true,
				    is_path ? &fs->path : &fs->journal);
	} else if (strcmp(name, "create_path") == 0) {
		if (!choice_key(st, k, K_CREATE, NULL, name, value, yes_no,
				LOAFRE__ARRAY_SIZE(yes_no), &val))
			return 0;
		fs->create_path = val;
	} else if (strcmp(name, "event_queue") == 0) {
		if (!choice_key(st, k, K_QUEUE, NULL, name, value, queues,
				LOAFRE__ARRAY_SIZE(queues), &val))
			return 0;
		fs->event_queue_system = val;
	} else if (strcmp(name, "changelog_mask") == 0) {
		uint32_t mask;
		if (!mark_key(st, k, K_MASK, name))
			return 0;
		if (loafre_cl_mask_parse(value, loafre_cl_mask_default(), &mask) < 0) {
			set_err(st, -EINVAL, st->line,
				"invalid changelog_mask '%s' (mask usage: [+|-]<all|type> ...)", value);
			return 0;
		}
		fs->journal_opts.mask = mask;
	} else if (strcmp(name, "fsync") == 0) {
		if (!choice_key(st, k, K_FSYNC, NULL, name, value, fsyncs,
				LOAFRE__ARRAY_SIZE(fsyncs), &val))
			return 0;
		fs->journal_opts.fsync = val;
	} else if (strcmp(name, "segment_size") == 0) {
		if (!mark_key(st, k, K_SEGMENT, name))
			return 0;
		if (loafre_parse_size(value, &v) < 0 || v < 4096) {
			set_err(st, -EINVAL, st->line,
				"segment_size must be a size of at least 4096 bytes (4096, 64K, 64M, 1G), not '%s'",
				value);
			return 0;
		}
		fs->journal_opts.segment_bytes = v;
	} else if (strcmp(name, "gc_max_idle_time") == 0 ||
		   strcmp(name, "gc_max_idle_indexes") == 0) {
		bool is_time = strcmp(name, "gc_max_idle_time") == 0;
		if (!uint_key(st, k, is_time ? K_GC_TIME : K_GC_INDEXES, NULL, name, value, 0,
			      UINT64_MAX, "a non-negative number", &v))
			return 0;
		if (is_time)
			fs->journal_opts.gc_max_idle_time = v;
		else
			fs->journal_opts.gc_max_idle_indexes = v;
	} else if (strcmp(name, "mdts") == 0) {
		if (!mark_key(st, k, K_MDTS, name))
			return 0;
		return add_mdts(st, fs, value);
	} else if (strcmp(name, "changelog_user") == 0) {
		if (!mark_key(st, k, K_USER, name))
			return 0;
		if (strncmp(value, "cl", 2) != 0 || !isdigit((unsigned char)value[2])) {
			set_err(st, -EINVAL, st->line,
				"changelog_user must be a registered reader id like cl1, not '%s'", value);
			return 0;
		}
		return set_str(st, &fs->changelog_user, strdup(value));
	} else {
		set_err(st, -EINVAL, st->line, "unknown key '%s' in section [filesystem %s]", name,
			fs->name);
		return 0;
	}
	return 1;
}

/* Whether ep (len bytes) is a ZeroMQ endpoint loafre takes: tcp://, ipc://
 * or inproc:// and something after it. */
static bool endpoint_ok(const char *ep, size_t len)
{
	static const char *const schemes[] = {"tcp://", "ipc://", "inproc://"};

	for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(schemes); i++) {
		size_t sl = strlen(schemes[i]);
		if (len > sl && strncmp(ep, schemes[i], sl) == 0)
			return true;
	}
	return false;
}

static int add_endpoint(struct parse_state *st, const char *ep, size_t len)
{
	struct loafre_broker_config *b = &st->c->broker;
	char **n;

	if (!endpoint_ok(ep, len)) {
		set_err(st, -EINVAL, st->line,
			"endpoint must be tcp://ADDRESS:PORT, ipc://PATH or inproc://NAME, not '%.*s'",
			(int)len, ep);
		return 0;
	}
	n = realloc(b->endpoints, (b->n_endpoints + 1) * sizeof(*n));
	if (!n) {
		set_err(st, -ENOMEM, st->line, "out of memory");
		return 0;
	}
	b->endpoints = n;
	n[b->n_endpoints] = strndup(ep, len);
	if (!n[b->n_endpoints]) {
		set_err(st, -ENOMEM, st->line, "out of memory");
		return 0;
	}
	b->n_endpoints++;
	if (!st->tcp_line && strncmp(ep, "tcp://", 6) == 0)
		st->tcp_line = st->line;
	return 1;
}

static int broker_key(struct parse_state *st, const char *name, const char *value)
{
	struct loafre_broker_config *b = &st->c->broker;
	unsigned *k = &st->broker_keys;
	uint64_t v;
	int val;

	if (strcmp(name, "endpoint") == 0) {
		const char *p = value;
		bool any = false;
		/* repeatable; several per line separated by blanks */
		while (*p) {
			size_t l;
			while (isspace((unsigned char)*p))
				p++;
			if (!*p)
				break;
			l = 0;
			while (p[l] && !isspace((unsigned char)p[l]))
				l++;
			if (!add_endpoint(st, p, l))
				return 0;
			any = true;
			p += l;
		}
		if (!any) {
			set_err(st, -EINVAL, st->line, "endpoint is empty");
			return 0;
		}
	} else if (strcmp(name, "max_credit") == 0) {
		if (!uint_key(st, k, K_MAX_CREDIT, NULL, name, value, 1, 1048576,
			      "a number of records", &v))
			return 0;
		b->max_credit = (unsigned)v;
	} else if (strcmp(name, "heartbeat_ms") == 0) {
		if (!uint_key(st, k, K_HEARTBEAT, NULL, name, value, 10, 3600000,
			      "a number of milliseconds", &v))
			return 0;
		b->heartbeat_ms = (unsigned)v;
	} else if (strcmp(name, "ephemeral_window") == 0) {
		if (!uint_key(st, k, K_EPH_WINDOW, NULL, name, value, 1, UINT64_MAX,
			      "a positive number of records", &v))
			return 0;
		b->ephemeral_window = v;
	} else if (strcmp(name, "curve") == 0) {
		if (!choice_key(st, &st->curve_keys, KC_CURVE, NULL, name, value, yes_no,
				LOAFRE__ARRAY_SIZE(yes_no), &val))
			return 0;
		st->curve_line = st->line;
		b->curve = val;
	} else if (strcmp(name, "curve_secret_key") == 0 ||
		   strcmp(name, "curve_allowed_keys") == 0) {
		bool secret = name[6] == 's';
		*(secret ? &st->curve_secret_line : &st->curve_allowed_line) = st->line;
		return nonempty_key(st, &st->curve_keys, secret ? KC_SECRET : KC_ALLOWED, name,
				    value, true, secret ? &b->curve_secret_key : &b->curve_allowed_keys);
	} else {
		set_err(st, -EINVAL, st->line, "unknown key '%s' in section [broker]", name);
		return 0;
	}
	return 1;
}

/* Stands in for the broker's subtree callback when a spec is only checked. */
static int under_never(void *ctx, const struct loafre_fid *dir, const struct loafre_fid *obj)
{
	(void)ctx;
	(void)dir;
	(void)obj;
	return 0;
}

/* A key of a [group NAME] section. Module specs are checked here (syntax);
 * a subtree path is checked against the filesystems in validate(). */
static int group_key(struct parse_state *st, const char *name, const char *value)
{
	struct loafre_group_config *g = st->grp;
	uint64_t v;

	if (strcmp(name, "start") == 0) {
		static struct loafre__bp_hello h; /* 5 KiB: not on the stack */
		char text[LOAFRE__BP_HELLO_MAX + 1], why[256];
		int n;

		if (!mark_key(st, &st->grp_keys, K_G_START, name))
			return 0;
		n = snprintf(text, sizeof(text), "group=%s start=%s", g->name, value);
		if (n < 0 || (size_t)n >= sizeof(text) ||
		    loafre__bp_hello_parse(text, (size_t)n, &h, why, sizeof(why)) < 0 ||
		    strchr(value, ' ')) {
			set_err(st, -EINVAL, st->line,
				"start must be oldest, newest or MDT:INDEX,... , not '%s'", value);
			return 0;
		}
		return set_str(st, &g->start, strdup(value));
	}
	if (strcmp(name, "batch_ms") == 0) {
		if (!uint_key(st, &st->grp_keys, K_G_BATCH, NULL, name, value, 0, 60000,
			      "a number of milliseconds", &v))
			return 0;
		g->batch_ms = (unsigned)v;
		return 1;
	}
	if (strcmp(name, "module") == 0) {
		char **nm;
		char *spec = NULL;
		const char *eq = strchr(value, '=');
		size_t kl = eq ? (size_t)(eq - value) : strlen(value);

		while (kl > 0 && isspace((unsigned char)value[kl - 1]))
			kl--;
		if (g->n_modules >= LOAFRE_MOD_MAX) {
			set_err(st, -EINVAL, st->line, "too many modules in [group %s] (at most %d)",
				g->name, LOAFRE_MOD_MAX);
			return 0;
		}
		if (kl == 7 && strncmp(value, "subtree", 7) == 0 && eq) {
			const char *arg = eq + 1;
			char *norm;
			while (isspace((unsigned char)*arg))
				arg++;
			if (arg[0] == '/') {
				norm = normalize_path(arg);
				if (!norm || asprintf(&spec, "subtree = %s", norm) < 0)
					spec = NULL;
				free(norm);
				if (!spec) {
					set_err(st, -ENOMEM, st->line, "out of memory");
					return 0;
				}
			}
		}
		if (!spec) {
			char why[512];
			struct loafre_modules *p = NULL;
			const char *one[1] = {value};
			int r = loafre_modules_new(one, 1, under_never, NULL, why, sizeof(why), &p);
			loafre_modules_free(p);
			if (r < 0) {
				/* the message says "module 1 (NAME): ..." */
				const char *m = strstr(why, "): ");
				set_err(st, r == -ENOMEM ? -ENOMEM : -EINVAL, st->line,
					"bad module '%s': %s", value, m ? m + 3 : why);
				return 0;
			}
			spec = strdup(value);
			if (!spec) {
				set_err(st, -ENOMEM, st->line, "out of memory");
				return 0;
			}
		}
		nm = realloc(g->modules, (g->n_modules + 1) * sizeof(*nm));
		if (!nm) {
			free(spec);
			set_err(st, -ENOMEM, st->line, "out of memory");
			return 0;
		}
		g->modules = nm;
		g->modules[g->n_modules++] = spec;
		return 1;
	}
	set_err(st, -EINVAL, st->line, "unknown key '%s' in section [group %s]", name, g->name);
	return 0;
}

/* A key of [client]. */
static int client_key(struct parse_state *st, const char *name, const char *value)
{
	struct loafre_client_config *cl = &st->c->client;

	if (strcmp(name, "broker") == 0) {
		bool ok = endpoint_ok(value, strlen(value));
		if (!mark_key(st, &st->client_keys, KC_BROKER, name))
			return 0;
		for (const char *p = value; ok && *p; p++)
			if (isspace((unsigned char)*p))
				ok = false;
		if (!ok) {
			set_err(st, -EINVAL, st->line,
				"broker must be one endpoint, tcp://ADDRESS:PORT, ipc://PATH or inproc://NAME, not '%s'",
				value);
			return 0;
		}
		return set_str(st, &cl->broker, strdup(value));
	}
	if (strcmp(name, "curve_server_key") == 0 || strcmp(name, "curve_key") == 0) {
		bool server = name[6] == 's';
		return nonempty_key(st, &st->client_keys, server ? KC_SERVER_KEY : KC_KEY, name,
				    value, true, server ? &cl->curve_server_key : &cl->curve_key);
	}
	set_err(st, -EINVAL, st->line, "unknown key '%s' in section [client]", name);
	return 0;
}

/* CurveZMQ settings of [broker] and [client], once the file is read. */
static void validate_curve(struct parse_state *st)
{
	struct loafre_config *c = st->c;
	const struct loafre_broker_config *b = &c->broker;
	bool has_secret = b->curve_secret_key != NULL, has_allowed = b->curve_allowed_keys != NULL;

	if (has_secret != has_allowed) {
		set_err(st, -EINVAL, has_secret ? st->curve_secret_line : st->curve_allowed_line,
			has_secret ? "curve_secret_key needs curve_allowed_keys too (the client public keys allowed on tcp:// endpoints)"
				   : "curve_allowed_keys needs curve_secret_key too (the broker's key file, made by loafre keygen)");
		return;
	}
	if (b->curve && !has_secret && (st->curve_keys & KC_CURVE)) {
		set_err(st, -EINVAL, st->curve_line,
			"curve = yes needs curve_secret_key and curve_allowed_keys");
		return;
	}
	if (b->curve && !has_secret && st->tcp_line) {
		set_err(st, -EINVAL, st->tcp_line,
			"a tcp:// endpoint needs CurveZMQ keys: set curve_secret_key and curve_allowed_keys in [broker] (see loafre keygen), or curve = no (insecure: whoever reaches the port reads every record)");
		return;
	}
	if ((c->client.curve_server_key != NULL) != (c->client.curve_key != NULL)) {
		set_err(st, -EINVAL, c->client.line,
			"[client]: curve_server_key and curve_key go together (the broker's public key and this client's key pair)");
		return;
	}
}

/* A key of an [index NAME] section. */
static int index_key(struct parse_state *st, const char *name, const char *value)
{
	static const struct choice backends[] = {
		{ "sqlite", LOAFRE_INDEX_SQLITE, false },
		{ "postgresql", LOAFRE_INDEX_POSTGRESQL, false },
	};
	struct loafre_index_config *x = st->idx;
	unsigned *k = &st->idx_keys;
	uint64_t v;
	int val;

	if (strcmp(name, "filesystem") == 0) {
		if (!mark_key(st, k, K_I_FS, name))
			return 0;
		return set_str(st, &x->fs, strdup(value));
	}
	if (strcmp(name, "backend") == 0) {
		if (!choice_key(st, k, K_I_BACKEND, NULL, name, value, backends,
				LOAFRE__ARRAY_SIZE(backends), &val))
			return 0;
		x->backend = val;
		return 1;
	}
	/* database: a path for sqlite (resolved in validate, when the backend
	 * is known), a conninfo for postgresql: kept as written for now */
	if (strcmp(name, "database") == 0)
		return nonempty_key(st, k, K_I_DB, name, value, false, &x->database);
	if (strcmp(name, "fetch_threads") == 0) {
		if (!uint_key(st, k, K_I_THREADS, NULL, name, value, 1, 64, NULL, &v))
			return 0;
		x->fetch_threads = (unsigned)v;
		return 1;
	}
	if (strcmp(name, "in_daemon") == 0) {
		/* yes or no only: not true or false */
		if (!choice_key(st, k, K_I_DAEMON, NULL, name, value, yes_no, 2, &val))
			return 0;
		x->in_daemon = val;
		return 1;
	}
	if (strcmp(name, "quota_hook") == 0)
		return nonempty_key(st, k, K_I_HOOK, name, value, false, &x->quota_hook);
	set_err(st, -EINVAL, st->line, "unknown key '%s' in section [index %s]", name, x->name);
	return 0;
}

/* ---- [rule NAME] and [exclude NAME] --------------------------------------- */

#define RULE_LIST_MAX 1024 /* entries of any list of a rule or exclude */

/* Appends str (owned; NULL: out of memory) to v[n]. */
static int push_str(struct parse_state *st, char ***v, size_t *n, char *str, const char *what)
{
	char **nv;

	if (!str) {
		set_err(st, -ENOMEM, st->line, "out of memory");
		return 0;
	}
	if (*n >= RULE_LIST_MAX) {
		free(str);
		set_err(st, -EINVAL, st->line, "too many %s (at most %d)", what, RULE_LIST_MAX);
		return 0;
	}
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		free(str);
		set_err(st, -ENOMEM, st->line, "out of memory");
		return 0;
	}
	*v = nv;
	nv[(*n)++] = str;
	return 1;
}

/* A path relative to the filesystem's root, written with a leading '/':
 * normalized copy, or NULL with the error set. */
static char *root_path(struct parse_state *st, const char *sect, const char *key, const char *v)
{
	const char *p = v;
	char *n;

	if (v[0] != '/') {
		set_err(st, -EINVAL, st->line,
			"%s: %s '%s' must start with / (paths are relative to the filesystem's root)",
			sect, key, v);
		return NULL;
	}
	if (strlen(v) >= PATH_MAX) {
		set_err(st, -EINVAL, st->line, "%s: %s is too long", sect, key);
		return NULL;
	}
	while ((p = strstr(p, "..")) != NULL) {
		if ((p == v || p[-1] == '/') && (p[2] == '\0' || p[2] == '/')) {
			set_err(st, -EINVAL, st->line, "%s: %s '%s' must not contain '..'", sect,
				key, v);
			return NULL;
		}
		p += 2;
	}
	n = normalize_path(v);
	if (!n)
		set_err(st, -ENOMEM, st->line, "out of memory");
	return n;
}

/* Splits a value into words (quotes allowed); NULL with the error set. */
static char **split_value(struct parse_state *st, const char *sect, const char *key,
			  const char *value, size_t *ret_n)
{
	char **w = NULL, why[256];
	int r = loafre__split_words(value, &w, ret_n, why, sizeof(why));

	if (r == -ENOMEM)
		set_err(st, r, st->line, "out of memory");
	else if (r < 0)
		set_err(st, -EINVAL, st->line, "%s: %s: %s", sect, key,
			why[0] ? why : "cannot split into words");
	return r < 0 ? NULL : w;
}

/* key's words, paths from the filesystem's root, appended to v[n]. */
static int add_root_paths(struct parse_state *st, const char *sect, const char *key,
			  const char *value, char ***v, size_t *n, const char *what)
{
	size_t nw = 0;
	char **w = split_value(st, sect, key, value, &nw);
	int ok = 1;

	if (!w)
		return 0;
	for (size_t i = 0; ok && i < nw; i++) {
		char *p = root_path(st, sect, key, w[i]);
		ok = p && push_str(st, v, n, p, what);
	}
	loafre__argv_free(w);
	return ok;
}

/* key's value, a glob, appended to v[n]. */
static int add_glob(struct parse_state *st, const char *sect, const char *key, const char *value,
		    char ***v, size_t *n, const char *what)
{
	if (!*value || strlen(value) >= PATH_MAX) {
		set_err(st, -EINVAL, st->line, "%s: %s is empty or too long", sect, key);
		return 0;
	}
	return push_str(st, v, n, strdup(value), what);
}

/* key's value, a regular expression, checked and appended to v[n]. */
static int add_regex(struct parse_state *st, const char *sect, const char *key,
		     const char *value, char ***v, size_t *n, const char *what)
{
	char why[256];

	if (loafre__regex_check(value, why, sizeof(why)) < 0) {
		set_err(st, -EINVAL, st->line, "%s: %s '%s': %s", sect, key, value, why);
		return 0;
	}
	return push_str(st, v, n, strdup(value), what);
}

static int add_dest(struct parse_state *st, struct loafre_rule_config *r, const char *sect,
		    const char *value)
{
	struct loafre_rule_dest d = {0}, *nd;
	size_t n = 0;
	char **w = split_value(st, sect, "destination", value, &n), why[256];
	const char *t, *slash, *colon;
	int ok = 0;

	if (!w)
		return 0;
	t = w[0];
	d.spec = strdup(t);
	if (!d.spec)
		goto nomem;
	slash = strchr(t, '/');
	colon = strchr(t, ':');
	if (colon && (!slash || colon < slash)) {
		const char *at = memchr(t, '@', (size_t)(colon - t));
		const char *host = at ? at + 1 : t;
		if (host == colon || (at && at == t) || colon[1] != '/') {
			set_err(st, -EINVAL, st->line,
				"%s: destination '%s' must be an absolute path or [user@]host:/path",
				sect, t);
			goto out;
		}
		if (at && !(d.user = strndup(t, (size_t)(at - t))))
			goto nomem;
		if (!(d.host = strndup(host, (size_t)(colon - host))))
			goto nomem;
		t = colon + 1;
	} else if (t[0] != '/') {
		set_err(st, -EINVAL, st->line,
			"%s: destination '%s' must be an absolute path or [user@]host:/path", sect, t);
		goto out;
	}
	if (!(d.path = normalize_path(t)))
		goto nomem;
	for (size_t i = 1; i < n; i++) {
		bool is_gid = strncmp(w[i], "gid_map=", 8) == 0;
		struct loafre_idmap *m = is_gid ? &d.gid_map : &d.uid_map;
		bool is_port = strncmp(w[i], "port=", 5) == 0;
		bool is_id = strncmp(w[i], "identity=", 9) == 0;
		bool is_kh = strncmp(w[i], "known_hosts=", 12) == 0;
		int e;

		if (is_port || is_id || is_kh) {
			/* ssh options of a [user@]host:/path destination */
			const char *v = strchr(w[i], '=') + 1;
			char **sp = is_id ? &d.identity : &d.known_hosts;

			if (!d.host) {
				set_err(st, -EINVAL, st->line,
					"%s: destination '%s': %.*s is for [user@]host:/path destinations",
					sect, d.spec, (int)(v - 1 - w[i]), w[i]);
				goto out;
			}
			if ((is_port && d.port) || (!is_port && *sp)) {
				set_err(st, -EINVAL, st->line, "%s: destination: %.*s given twice", sect,
					(int)(v - 1 - w[i]), w[i]);
				goto out;
			}
			if (is_port) {
				char *end;
				unsigned long p;

				errno = 0;
				p = strtoul(v, &end, 10);
				if (errno || !*v || *end || v[0] == '0' || p < 1 || p > 65535) {
					set_err(st, -EINVAL, st->line,
						"%s: destination: port '%s' is not 1 to 65535", sect, v);
					goto out;
				}
				d.port = (unsigned)p;
			} else {
				if (!*v) {
					set_err(st, -EINVAL, st->line, "%s: destination: %s needs a file",
						sect, w[i]);
					goto out;
				}
				if (!(*sp = resolve_path(st, v)))
					goto nomem;
			}
			continue;
		}
		if (!is_gid && strncmp(w[i], "uid_map=", 8) != 0) {
			set_err(st, -EINVAL, st->line,
				"%s: destination: unknown option '%s' (uid_map=, gid_map=, port=, "
				"identity=, known_hosts=)",
				sect, w[i]);
			goto out;
		}
		if (m->text || m->n_pairs || m->has_default) {
			set_err(st, -EINVAL, st->line, "%s: destination: %.7s given twice", sect, w[i]);
			goto out;
		}
		e = loafre__idmap_parse(w[i] + 8, is_gid, m, why, sizeof(why));
		if (e == -ENOMEM)
			goto nomem;
		if (e < 0) {
			set_err(st, -EINVAL, st->line, "%s: destination: %.7s: %s", sect, w[i], why);
			goto out;
		}
		if (!(m->text = strdup(w[i] + 8)))
			goto nomem;
	}
	if (r->n_dests >= 64) {
		set_err(st, -EINVAL, st->line, "%s: too many destinations (at most 64)", sect);
		goto out;
	}
	nd = realloc(r->dests, (r->n_dests + 1) * sizeof(*nd));
	if (!nd)
		goto nomem;
	r->dests = nd;
	nd[r->n_dests++] = d;
	memset(&d, 0, sizeof(d));
	ok = 1;
	goto out;
nomem:
	set_err(st, -ENOMEM, st->line, "out of memory");
out:
	dest_clear(&d);
	loafre__argv_free(w);
	return ok;
}

static int add_ids(struct parse_state *st, const char *sect, const char *key, const char *value,
		   bool is_group, uint32_t **v, size_t *n)
{
	size_t nw = 0;
	char **w = split_value(st, sect, key, value, &nw);
	int ok = 1;

	if (!w)
		return 0;
	for (size_t i = 0; ok && i < nw; i++) {
		uint32_t id;
		uint32_t *nv;
		if (loafre__resolve_id(w[i], is_group, &id) < 0) {
			set_err(st, -EINVAL, st->line, "%s: %s: unknown %s '%s'", sect, key,
				is_group ? "group" : "user", w[i]);
			ok = 0;
		} else if (*n >= RULE_LIST_MAX) {
			set_err(st, -EINVAL, st->line, "%s: too many %s ids", sect, key);
			ok = 0;
		} else if (!(nv = realloc(*v, (*n + 1) * sizeof(*nv)))) {
			set_err(st, -ENOMEM, st->line, "out of memory");
			ok = 0;
		} else {
			*v = nv;
			nv[(*n)++] = id;
		}
	}
	loafre__argv_free(w);
	return ok;
}

static int rule_key(struct parse_state *st, const char *name, const char *value)
{
	struct loafre_rule_config *r = st->rule;
	unsigned *k = &st->rule_keys;
	char sect[64], why[256];
	uint64_t v;

	snprintf(sect, sizeof(sect), "[rule %s]", r->name);
	if (strcmp(name, "filesystem") == 0) {
		if (!mark_key(st, k, KR_FS, name))
			return 0;
		return set_str(st, &r->fs, strdup(value));
	}
	if (strcmp(name, "source") == 0)
		return add_root_paths(st, sect, name, value, &r->sources, &r->n_sources, "sources");
	if (strcmp(name, "match_prefix") == 0)
		return add_root_paths(st, sect, name, value, &r->match_prefixes,
				      &r->n_match_prefixes, "match_prefix paths");
	if (strcmp(name, "destination") == 0)
		return add_dest(st, r, sect, value);
	if (strcmp(name, "match_glob") == 0)
		return add_glob(st, sect, name, value, &r->match_globs, &r->n_match_globs,
				"match_globs");
	if (strcmp(name, "match_regex") == 0)
		return add_regex(st, sect, name, value, &r->match_regexes, &r->n_match_regexes,
				 "match_regexes");
	if (strcmp(name, "events") == 0) {
		size_t n = 0;
		char **w;
		uint32_t mask = 0;
		if (!mark_key(st, k, KR_EVENTS, name))
			return 0;
		w = split_value(st, sect, name, value, &n);
		if (!w)
			return 0;
		for (size_t i = 0; i < n; i++) {
			char *save = NULL, *tok;
			for (tok = strtok_r(w[i], ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				int t = loafre_cl_type_from_name(tok, strlen(tok));
				if (t < 0) {
					set_err(st, -EINVAL, st->line,
						"%s: events: unknown record type '%s' (CREAT MKDIR HLINK SLINK MKNOD UNLNK RMDIR RENME ... as lfs changelog prints them)",
						sect, tok);
					loafre__argv_free(w);
					return 0;
				}
				mask |= 1u << t;
			}
		}
		loafre__argv_free(w);
		if (!mask) {
			set_err(st, -EINVAL, st->line, "%s: events is empty", sect);
			return 0;
		}
		r->events = mask;
		return 1;
	}
	if (strcmp(name, "min_size") == 0 || strcmp(name, "max_size") == 0) {
		bool min = name[1] == 'i';
		if (!mark_key(st, k, min ? KR_MIN_SIZE : KR_MAX_SIZE, name))
			return 0;
		if (loafre_parse_size(value, &v) < 0) {
			set_err(st, -EINVAL, st->line, "%s: %s must be a size (4096, 64K, 1G), not '%s'",
				sect, name, value);
			return 0;
		}
		*(min ? &r->min_size : &r->max_size) = v;
		*(min ? &r->has_min_size : &r->has_max_size) = true;
		return 1;
	}
	if (strcmp(name, "owner") == 0)
		return add_ids(st, sect, name, value, false, &r->owners, &r->n_owners);
	if (strcmp(name, "group") == 0)
		return add_ids(st, sect, name, value, true, &r->gids, &r->n_gids);
	if (strcmp(name, "min_age") == 0 || strcmp(name, "max_age") == 0 ||
	    strcmp(name, "delay") == 0) {
		unsigned bit = name[0] == 'd' ? KR_DELAY : name[1] == 'i' ? KR_MIN_AGE : KR_MAX_AGE;
		if (!mark_key(st, k, bit, name))
			return 0;
		if (loafre__parse_duration(value, &v) < 0) {
			set_err(st, -EINVAL, st->line,
				"%s: %s must be a duration (30s, 10m, 2h, 7d), not '%s'", sect, name,
				value);
			return 0;
		}
		if (bit == KR_DELAY) {
			r->delay = v;
		} else if (bit == KR_MIN_AGE) {
			r->min_age = v;
			r->has_min_age = true;
		} else {
			r->max_age = v;
			r->has_max_age = true;
		}
		return 1;
	}
	if (strcmp(name, "exclude") == 0) {
		size_t n = 0;
		char **w = split_value(st, sect, name, value, &n);
		int ok = 1;
		if (!w)
			return 0;
		for (size_t i = 0; ok && i < n; i++) {
			if (!loafre__rule_name_ok(w[i], 64)) {
				set_err(st, -EINVAL, st->line, "%s: exclude: invalid name '%s'", sect,
					w[i]);
				ok = 0;
				break;
			}
			for (size_t j = 0; j < r->n_excludes; j++)
				if (strcmp(r->excludes[j], w[i]) == 0) {
					set_err(st, -EINVAL, st->line, "%s: exclude %s listed twice",
						sect, w[i]);
					ok = 0;
				}
			if (ok)
				ok = push_str(st, &r->excludes, &r->n_excludes, strdup(w[i]), "excludes");
		}
		loafre__argv_free(w);
		return ok;
	}
	if (strcmp(name, "schedule") == 0) {
		struct loafre__cron cr;
		if (!mark_key(st, k, KR_SCHEDULE, name))
			return 0;
		if (loafre__cron_parse(value, &cr, why, sizeof(why)) < 0) {
			set_err(st, -EINVAL, st->line, "%s: schedule '%s': %s", sect, value, why);
			return 0;
		}
		return set_str(st, &r->schedule, strdup(value));
	}
	if (strcmp(name, "enabled") == 0) {
		int val;
		if (!choice_key(st, k, KR_ENABLED, sect, name, value, yes_no,
				LOAFRE__ARRAY_SIZE(yes_no), &val))
			return 0;
		r->enabled = r->enabled_in_file = val;
		return 1;
	}
	if (strcmp(name, "workers") == 0) {
		if (!uint_key(st, k, KR_WORKERS, sect, name, value, 1, LOAFRE_RULE_WORKERS_MAX,
			      NULL, &v))
			return 0;
		r->workers = (unsigned)v;
		return 1;
	}
	for (unsigned a = 0; a < LOAFRE_ACT_N; a++) {
		struct loafre__template *t = NULL;
		int e;
		if (strcmp(name, loafre__rule_action_name(a)) != 0)
			continue;
		if (!mark_key(st, k, KR_ACTION0 << a, name))
			return 0;
		e = loafre__template_parse(value, a, &t, why, sizeof(why));
		loafre__template_free(t);
		if (e == -ENOMEM) {
			set_err(st, e, st->line, "out of memory");
			return 0;
		}
		if (e < 0) {
			set_err(st, -EINVAL, st->line, "%s: %s: %s", sect, name, why);
			return 0;
		}
		return set_str(st, &r->actions[a], strdup(value));
	}
	set_err(st, -EINVAL, st->line, "unknown key '%s' in section %s", name, sect);
	return 0;
}

static int exclude_key(struct parse_state *st, const char *name, const char *value)
{
	struct loafre_exclude_config *x = st->excl;
	char sect[96];

	snprintf(sect, sizeof(sect), "[exclude %s]", x->name);
	if (strcmp(name, "path") == 0)
		return add_root_paths(st, sect, name, value, &x->paths, &x->n_paths, "paths");
	if (strcmp(name, "glob") == 0)
		return add_glob(st, sect, name, value, &x->globs, &x->n_globs, "globs");
	if (strcmp(name, "regex") == 0)
		return add_regex(st, sect, name, value, &x->regexes, &x->n_regexes, "regexes");
	set_err(st, -EINVAL, st->line, "unknown key '%s' in section %s", name, sect);
	return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;

	(void)section; /* tracked by the reader */
	if (st->err)
		return 0;
	if (st->long_pending) {
		/* the line was a stand-in (iline_stand_in): the real key and value */
		st->long_pending = false;
		if (st->long_name)
			name = st->long_name;
		value = st->long_value;
	}
	if (st->in_daemon)
		return daemon_key(st, name, value);
	if (st->in_broker)
		return broker_key(st, name, value);
	if (st->in_client)
		return client_key(st, name, value);
	if (st->fs)
		return fs_key(st, name, value);
	if (st->grp)
		return group_key(st, name, value);
	if (st->idx)
		return index_key(st, name, value);
	if (st->rule)
		return rule_key(st, name, value);
	if (st->excl)
		return exclude_key(st, name, value);
	set_err(st, -EINVAL, st->line, "setting outside of any section");
	return 0;
}

/* Whether path is dir or inside it (both normalized, absolute). */
static bool path_within(const char *path, const char *dir)
{
	size_t l = strlen(dir);

	if (l == 1 && dir[0] == '/')
		return true;
	return strncmp(path, dir, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

/* [rule] and [exclude] checks once every file is read. Messages name the
 * file defining the section. */
static void validate_rules(struct parse_state *st)
{
	struct loafre_config *c = st->c;
	const char *saved = st->path;

	for (size_t i = 0; i < c->n_excludes && !st->err; i++) {
		const struct loafre_exclude_config *x = &c->excludes[i];
		st->path = x->file;
		if (!x->n_paths && !x->n_globs && !x->n_regexes)
			set_err(st, -EINVAL, x->line,
				"[exclude %s] is empty (give path, glob or regex)", x->name);
	}
	for (size_t i = 0; i < c->n_rules && !st->err; i++) {
		struct loafre_rule_config *r = &c->rules[i];
		const struct loafre_fs_config *fs;

		st->path = r->file;
		if (!r->fs) {
			set_err(st, -EINVAL, r->line, "[rule %s] needs filesystem", r->name);
			break;
		}
		fs = loafre_config_find_fs(c, r->fs);
		if (!fs) {
			set_err(st, -EINVAL, r->line, "[rule %s]: unknown filesystem '%s'", r->name,
				r->fs);
			break;
		}
		if (!r->n_dests) {
			set_err(st, -EINVAL, r->line, "[rule %s] needs at least one destination",
				r->name);
			break;
		}
		if (!r->n_sources) {
			r->sources = calloc(1, sizeof(*r->sources));
			if (!r->sources || !(r->sources[0] = strdup("/"))) {
				set_err(st, -ENOMEM, r->line, "out of memory");
				break;
			}
			r->n_sources = 1;
		}
		for (size_t a = 0; a < r->n_sources && !st->err; a++)
			for (size_t b = 0; b < r->n_sources && !st->err; b++)
				if (a != b && path_within(r->sources[b], r->sources[a]))
					set_err(st, -EINVAL, r->line,
						"[rule %s]: source %s is inside source %s (give only %s)",
						r->name, r->sources[b], r->sources[a], r->sources[a]);
		for (size_t e = 0; e < r->n_excludes && !st->err; e++)
			if (!loafre_config_find_exclude(c, r->excludes[e]))
				set_err(st, -EINVAL, r->line,
					"[rule %s]: unknown exclude '%s' (no [exclude %s] section)",
					r->name, r->excludes[e], r->excludes[e]);
		if (!st->err && r->has_min_size && r->has_max_size && r->min_size > r->max_size)
			set_err(st, -EINVAL, r->line, "[rule %s]: min_size is above max_size",
				r->name);
		if (!st->err && r->has_min_age && r->has_max_age && r->min_age > r->max_age)
			set_err(st, -EINVAL, r->line, "[rule %s]: min_age is above max_age", r->name);
		for (size_t d = 0; d < r->n_dests && !st->err; d++) {
			const struct loafre_rule_dest *dst = &r->dests[d];
			if (dst->host)
				continue;
			for (size_t a = 0; a < r->n_sources && !st->err; a++) {
				char *tree = NULL;
				if (asprintf(&tree, "%s%s", fs->path,
					     strcmp(r->sources[a], "/") == 0 ? "" : r->sources[a]) < 0) {
					set_err(st, -ENOMEM, r->line, "out of memory");
					break;
				}
				if (path_within(dst->path, tree) || path_within(tree, dst->path))
					set_err(st, -EINVAL, r->line,
						"[rule %s]: destination %s overlaps the replicated tree %s",
						r->name, dst->path, tree);
				free(tree);
			}
		}
	}
	st->path = saved;
}

/* rules_dir's NAME.state: "enabled = yes|no" (comments with # or ;). */
static void apply_state(struct parse_state *st, const char *path, const char *name,
			const char *text)
{
	struct loafre_rule_config *r = NULL;
	const char *p = text;
	unsigned line = 0;
	bool seen = false, val = true;

	for (size_t i = 0; i < st->c->n_rules; i++)
		if (strcmp(st->c->rules[i].name, name) == 0)
			r = &st->c->rules[i];
	st->path = path;
	if (!r) {
		set_err(st, -EINVAL, 0,
			"no rule %s to apply this state to (left by loafre rule disable; remove the file)",
			name);
		return;
	}
	if (r->in_rules_dir) {
		set_err(st, -EINVAL, 0,
			"rule %s is defined in %s: its enabled is set there (remove this file)", name,
			r->file);
		return;
	}
	while (*p && !st->err) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char buf[256], *t, *eq;

		line++;
		if (len >= sizeof(buf)) {
			set_err(st, -EINVAL, line, "line too long");
			return;
		}
		memcpy(buf, p, len);
		buf[len] = '\0';
		p += len + (nl ? 1 : 0);
		t = trim(buf);
		if (!*t || *t == '#' || *t == ';')
			continue;
		eq = strchr(t, '=');
		if (!eq) {
			set_err(st, -EINVAL, line, "expected enabled = yes or no");
			return;
		}
		*eq = '\0';
		if (strcmp(trim(t), "enabled") != 0 || seen) {
			set_err(st, -EINVAL, line, "expected enabled = yes or no, once");
			return;
		}
		t = trim(eq + 1);
		if (strcmp(t, "yes") == 0)
			val = true;
		else if (strcmp(t, "no") == 0)
			val = false;
		else {
			set_err(st, -EINVAL, line, "enabled must be yes or no, not '%s'", t);
			return;
		}
		seen = true;
	}
	if (!seen) {
		set_err(st, -EINVAL, 0, "expected enabled = yes or no");
		return;
	}
	r->enabled = val;
	if (!(r->state_file = strdup(path)))
		set_err(st, -ENOMEM, 0, "out of memory");
}

/* Runs inih over st->f; a syntax error it finds is set as the error. */
static void parse_stream(struct parse_state *st)
{
	int r;

	st->ini_prev = false; /* a new inih parse holds no key name */
	r = ini_parse_stream(read_line, st, handler, st);

	if (r > 0 && !st->err)
		set_err(st, -EINVAL, (unsigned)r,
			"syntax error (expected [section], key = value or a comment)");
	else if (r < 0 && !st->err)
		set_err(st, -ENOMEM, 0, "cannot parse: out of memory");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *suffix_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot)
		return NULL;
	if (strcmp(dot, ".rule") == 0 || strcmp(dot, ".exclude") == 0 || strcmp(dot, ".state") == 0)
		return dot;
	return NULL;
}

/* Reads one rules_dir file (NAME.rule or NAME.exclude) through inih. */
static void parse_sub_file(struct parse_state *st, const char *path, const char *name,
			   int kind, const char *text)
{
	FILE *f = text ? fmemopen((void *)(*text ? text : "\n"), *text ? strlen(text) : 1, "r")
		       : fopen(path, "re");
	FILE *saved_f = st->f;
	const char *saved_path = st->path;
	unsigned saved_line = st->line;
	int r;

	st->path = path;
	if (!f) {
		r = -errno;
		set_err(st, r, 0, "cannot open: %s", strerror(-r));
		st->path = saved_path;
		return;
	}
	st->f = f;
	st->line = 0;
	st->sub_kind = kind;
	st->sub_name = name;
	st->sub_sections = 0;
	leave_section(st);
	parse_stream(st);
	if (!st->err && st->sub_sections == 0)
		set_err(st, -EINVAL, 0, "holds no [%s %s] section",
			kind == 1 ? "rule" : "exclude", name);
	fclose(f);
	st->rule = NULL;
	st->excl = NULL;
	st->sub_kind = 0;
	st->f = saved_f;
	st->line = saved_line;
	if (!st->err)
		st->path = saved_path;
}

/* Loads rules_dir's files (sorted by name; overrides applied), then the
 * NAME.state files. */
static void load_rules_dir(struct parse_state *st, const struct loafre__config_override *ov,
			   size_t n_ov)
{
	struct loafre_config *c = st->c;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	const char *saved = st->path;

	if (!c->rules_dir && asprintf(&c->rules_dir, "%s/%s", st->dir, RULES_DIR_DEFAULT) < 0) {
		c->rules_dir = NULL;
		set_err(st, -ENOMEM, 0, "out of memory");
		return;
	}
	d = opendir(c->rules_dir);
	if (!d && errno != ENOENT) {
		int e = errno;
		set_err(st, -e, 0, "cannot read rules_dir '%s': %s", c->rules_dir, strerror(e));
		return;
	}
	for (size_t i = 0; i <= n_ov && !st->err; i++) {
		/* directory entries first, then overrides not found there */
		for (;;) {
			const char *nm = NULL;
			struct dirent *de;
			bool skip = false;

			if (i == 0) {
				if (!d || !(de = readdir(d)))
					break;
				nm = de->d_name;
				if (nm[0] == '.' || !suffix_of(nm))
					continue;
				for (size_t o = 0; o < n_ov; o++)
					if (strcmp(ov[o].name, nm) == 0)
						skip = true; /* its override decides */
			} else {
				nm = ov[i - 1].name;
				if (!ov[i - 1].text)
					break;
			}
			if (!skip) {
				if (n >= RULES_DIR_MAX_FILES) {
					set_err(st, -EINVAL, 0, "too many files in rules_dir '%s'",
						c->rules_dir);
					break;
				}
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 16;
					char **nn = realloc(names, nc * sizeof(*nn));
					if (!nn) {
						set_err(st, -ENOMEM, 0, "out of memory");
						break;
					}
					names = nn;
					cap = nc;
				}
				if (!(names[n] = strdup(nm))) {
					set_err(st, -ENOMEM, 0, "out of memory");
					break;
				}
				n++;
			}
			if (i > 0)
				break;
		}
	}
	if (d)
		closedir(d);
	if (!st->err && n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (int pass = 0; pass < 2 && !st->err; pass++) {
		for (size_t i = 0; i < n && !st->err; i++) {
			const char *suf = suffix_of(names[i]);
			const char *text = NULL;
			char *path = NULL, *base = NULL;
			bool state = suf && strcmp(suf, ".state") == 0;

			if (!suf || state != (pass == 1))
				continue;
			for (size_t o = 0; o < n_ov; o++)
				if (strcmp(ov[o].name, names[i]) == 0)
					text = ov[o].text;
			if (asprintf(&path, "%s/%s", c->rules_dir, names[i]) < 0 ||
			    !(base = strndup(names[i], (size_t)(suf - names[i])))) {
				if (path != NULL)
					free(path);
				set_err(st, -ENOMEM, 0, "out of memory");
				break;
			}
			if (!loafre__rule_name_ok(base, strcmp(suf, ".rule") == 0 ? LOAFRE_RULE_NAME_MAX : 64)) {
				st->path = path;
				set_err(st, -EINVAL, 0,
					"invalid name '%s' for a rules_dir file (1-%d characters of A-Z a-z 0-9 _ -, first a letter or digit)",
					base, strcmp(suf, ".rule") == 0 ? LOAFRE_RULE_NAME_MAX : 64);
			} else if (state) {
				char *buf = NULL;
				size_t len;
				int e = 0;
				if (!text) {
					e = loafre__read_file(path, STATE_FILE_MAX, &buf, &len);
					text = buf;
				}
				if (e < 0) {
					st->path = path;
					set_err(st, e, 0, "cannot read: %s", strerror(-e));
				} else {
					apply_state(st, path, base, text);
				}
				free(buf);
			} else {
				parse_sub_file(st, path, base, strcmp(suf, ".rule") == 0 ? 1 : 2, text);
			}
			if (st->err) {
				/* the message is written: keep path alive no longer */
				free(path);
				free(base);
				break;
			}
			st->path = saved;
			free(path);
			free(base);
		}
	}
	st->path = saved;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Whole-section checks once the file is read. */
static void validate(struct parse_state *st)
{
	struct loafre_config *c = st->c;

	for (size_t i = 0; i < c->n_fs && !st->err; i++) {
		struct loafre_fs_config *fs = &c->fs[i];
		unsigned keys = st->keys_of_fs[i];

		if (!fs->path) {
			set_err(st, -EINVAL, fs->line, "[filesystem %s] needs path", fs->name);
			break;
		}
		if (fs->type == LOAFRE_FS_LOCAL) {
			char **m;
			if (!fs->journal) {
				set_err(st, -EINVAL, fs->line, "[filesystem %s] (type local) needs journal",
					fs->name);
				break;
			}
			if (keys & (K_MDTS | K_USER)) {
				set_err(st, -EINVAL, fs->line,
					"[filesystem %s]: mdts and changelog_user are only for type = lustre (a local filesystem's MDT is %s-MDT0000)",
					fs->name, fs->name);
				break;
			}
			m = calloc(1, sizeof(*m));
			if (!m || asprintf(&m[0], "%s-MDT0000", fs->name) < 0) {
				free(m);
				set_err(st, -ENOMEM, fs->line, "out of memory");
				break;
			}
			fs->mdts = m;
			fs->n_mdts = 1;
		} else {
			if (keys & K_CREATE) {
				set_err(st, -EINVAL, fs->line,
					"[filesystem %s]: create_path is only for type = local", fs->name);
				break;
			}
			if (keys & K_QUEUE) {
				set_err(st, -EINVAL, fs->line,
					"[filesystem %s]: event_queue is only for type = local", fs->name);
				break;
			}
			if (!fs->n_mdts || !fs->changelog_user) {
				set_err(st, -EINVAL, fs->line,
					"[filesystem %s] (type lustre) needs mdts and changelog_user",
					fs->name);
				break;
			}
			if (!fs->journal) {
				set_err(st, -EINVAL, fs->line,
					"[filesystem %s] (type lustre) needs journal (the base directory of its MDTs' mirror journals)",
					fs->name);
				break;
			}
		}
		fs->mdt_journals = calloc(fs->n_mdts, sizeof(*fs->mdt_journals));
		for (size_t m = 0; fs->mdt_journals && m < fs->n_mdts; m++) {
			char *jd = NULL;
			if (fs->type == LOAFRE_FS_LOCAL)
				jd = strdup(fs->journal);
			else if (asprintf(&jd, "%s/%s", fs->journal, fs->mdts[m]) < 0)
				jd = NULL;
			fs->mdt_journals[m] = jd;
			if (!jd)
				break;
		}
		if (!fs->mdt_journals || !fs->mdt_journals[fs->n_mdts - 1]) {
			set_err(st, -ENOMEM, fs->line, "out of memory");
			break;
		}
	}
	for (size_t i = 0; i < c->n_groups && !st->err; i++) {
		const struct loafre_group_config *g = &c->groups[i];
		for (size_t m = 0; m < g->n_modules; m++) {
			const char *spec = g->modules[m];
			if (strncmp(spec, "subtree = /", 11) != 0)
				continue;
			if (!loafre_config_fs_of_path(c, spec + 10)) {
				set_err(st, -EINVAL, g->line,
					"[group %s]: subtree %s is not under the path of any [filesystem]",
					g->name, spec + 10);
				break;
			}
		}
	}
	if (!st->err)
		validate_curve(st);
	for (size_t i = 0; i < c->n_indexes && !st->err; i++) {
		struct loafre_index_config *x = &c->indexes[i];
		const struct loafre_fs_config *fs;

		if (!x->fs && !(x->fs = strdup(x->name))) {
			set_err(st, -ENOMEM, x->line, "out of memory");
			break;
		}
		fs = loafre_config_find_fs(c, x->fs);
		if (!fs) {
			set_err(st, -EINVAL, x->line, "[index %s]: unknown filesystem '%s'", x->name,
				x->fs);
			break;
		}
		if (x->backend == LOAFRE_INDEX_SQLITE) {
			char *p = NULL;
			if (!x->database) {
				if (asprintf(&p, "%s/index.db", fs->journal) < 0)
					p = NULL;
			} else {
				p = resolve_path(st, x->database);
			}
			if (!p) {
				set_err(st, -ENOMEM, x->line, "out of memory");
				break;
			}
			free(x->database);
			x->database = p;
		} else if (!x->database) {
			set_err(st, -EINVAL, x->line,
				"[index %s]: backend postgresql needs database (a conninfo, e.g. 'host=/run/postgresql dbname=loafre')",
				x->name);
			break;
		}
		for (size_t j = 0; j < i; j++) {
			if (c->indexes[j].backend == x->backend &&
			    strcmp(c->indexes[j].database, x->database) == 0 &&
			    (x->backend == LOAFRE_INDEX_SQLITE || strcmp(c->indexes[j].fs, x->fs) == 0)) {
				set_err(st, -EINVAL, x->line,
					"[index %s]: database %s is already [index %s]'s (give one of them another `database`)",
					x->name, x->database, c->indexes[j].name);
				break;
			}
		}
		if (st->err)
			break;
	}
	if (!st->err)
		validate_rules(st);
	if (!st->err && !c->run_dir) {
		c->run_dir = strdup(DEFAULT_RUN_DIR);
		if (!c->run_dir)
			set_err(st, -ENOMEM, 0, "out of memory");
	}
	if (!st->err && c->broker.n_endpoints == 0) {
		char *ep = NULL;
		if (asprintf(&ep, "ipc://%s/%s", c->run_dir, LOAFRE_BROKER_SOCKET_NAME) < 0)
			ep = NULL;
		if (!ep || !(c->broker.endpoints = calloc(1, sizeof(char *)))) {
			free(ep);
			set_err(st, -ENOMEM, 0, "out of memory");
		} else {
			c->broker.endpoints[0] = ep;
			c->broker.n_endpoints = 1;
		}
	}
}

int loafre_config_load(const char *path, struct loafre_config **ret_config, char *err,
		       size_t errlen)
{
	return loafre__config_load_with(path, NULL, 0, ret_config, err, errlen);
}

int loafre__config_load_with(const char *path, const struct loafre__config_override *ov,
			     size_t n_ov, struct loafre_config **ret_config, char *err,
			     size_t errlen)
{
	struct parse_state st = { .path = path, .msg = err, .msglen = errlen };
	struct loafre_config *c = NULL;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !ret_config) {
		st.path = path ? path : "(null)";
		set_err(&st, -EINVAL, 0, "no configuration file given");
		return -EINVAL;
	}
	st.f = fopen(path, "re");
	if (!st.f) {
		r = -errno;
		set_err(&st, r, 0, "cannot open configuration: %s", strerror(-r));
		return r;
	}
	c = calloc(1, sizeof(*c));
	st.dir = config_dir(path);
	if (!c || !st.dir) {
		set_err(&st, -ENOMEM, 0, "out of memory");
		goto out;
	}
	c->log = LOAFRE_LOG_STDERR;
	c->log_level = LOG_INFO;
	c->commit_interval_ms = DEFAULT_COMMIT_INTERVAL_MS;
	c->broker.max_credit = LOAFRE_BROKER_DEFAULT_MAX_CREDIT;
	c->broker.heartbeat_ms = LOAFRE_BROKER_DEFAULT_HEARTBEAT_MS;
	c->broker.ephemeral_window = LOAFRE_BROKER_DEFAULT_EPHEMERAL_WINDOW;
	c->broker.curve = true;
	st.c = c;
	c->path = path[0] == '/' ? normalize_path(path) : strdup(path);
	if (!c->path) {
		set_err(&st, -ENOMEM, 0, "out of memory");
		goto out;
	}
	parse_stream(&st);
	if (!st.err)
		load_rules_dir(&st, ov, n_ov);
	if (!st.err)
		validate(&st);
out:
	r = st.err;
	fclose(st.f);
	free(st.dir);
	free(st.keys_of_fs);
	free(st.linebuf);
	free(st.long_name);
	free(st.long_value);
	if (r < 0) {
		loafre_config_free(c);
		return r;
	}
	*ret_config = c;
	return 0;
}
