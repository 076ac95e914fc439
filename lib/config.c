/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * config.c — the INI configuration (format in include/loafre/config.h).
 *
 * Parsing uses libinih through ini_parse_stream() with our own line reader:
 * the reader counts lines (so every message names file:line) and recognises
 * section headers itself, so that empty sections are validated too and a
 * section's line is known. Any error stops the parse: the reader then
 * reports end of file. Validation of whole sections happens at the end.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "loafre/config.h"

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
	struct loafre_fs_config *fs; /* current [filesystem] section, or NULL */
	unsigned fs_keys;
	unsigned daemon_keys;
	unsigned *keys_of_fs; /* per filesystem: keys seen */
	int err;            /* first error (negative errno), 0 if none */
	char *msg;
	size_t msglen;
	char *linebuf;
	size_t linecap;
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

void loafre_config_free(struct loafre_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_fs; i++)
		fs_config_clear(&c->fs[i]);
	free(c->fs);
	free(c->path);
	free(c->run_dir);
	for (size_t i = 0; i < c->broker.n_endpoints; i++)
		free(c->broker.endpoints[i]);
	free(c->broker.endpoints);
	free(c);
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

static void begin_section(struct parse_state *st, char *header)
{
	char *end = strchr(header, ']');
	char *name;
	struct loafre_config *c = st->c;

	if (!end) {
		set_err(st, -EINVAL, st->line, "section header without ']'");
		return;
	}
	*end = '\0';
	name = trim(header + 1);
	st->in_daemon = false;
	st->in_broker = false;
	st->fs = NULL;
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
	if (strncmp(name, "filesystem", 10) == 0 && (!name[10] || isspace((unsigned char)name[10]))) {
		char *fsname = trim(name + 10);
		struct loafre_fs_config *nfs;
		unsigned *nkeys;

		if (!fsname_valid(fsname, strlen(fsname))) {
			set_err(st, -EINVAL, st->line,
				"invalid filesystem name '%s' (1-%d characters of A-Z a-z 0-9 _ -)",
				fsname, LOAFRE_FSNAME_MAX);
			return;
		}
		for (size_t i = 0; i < c->n_fs; i++) {
			if (strcmp(c->fs[i].name, fsname) == 0) {
				set_err(st, -EINVAL, st->line,
					"duplicate section [filesystem %s] (first on line %u)",
					fsname, c->fs[i].line);
				return;
			}
		}
		nfs = realloc(c->fs, (c->n_fs + 1) * sizeof(*nfs));
		if (!nfs) {
			set_err(st, -ENOMEM, st->line, "out of memory");
			return;
		}
		c->fs = nfs;
		nkeys = realloc(st->keys_of_fs, (c->n_fs + 1) * sizeof(*nkeys));
		if (!nkeys) {
			set_err(st, -ENOMEM, st->line, "out of memory");
			return;
		}
		st->keys_of_fs = nkeys;
		st->fs = &c->fs[c->n_fs];
		memset(st->fs, 0, sizeof(*st->fs));
		nkeys[c->n_fs] = 0;
		c->n_fs++;
		st->fs->line = st->line;
		st->fs->type = LOAFRE_FS_LOCAL;
		st->fs->journal_opts.fsync = LOAFRE_FSYNC_COMMIT;
		st->fs->name = strdup(fsname);
		if (!st->fs->name)
			set_err(st, -ENOMEM, st->line, "out of memory");
		return;
	}
	set_err(st, -EINVAL, st->line, "unknown section [%s] (expected [loafred], [broker] or [filesystem NAME])",
		name);
}

/* inih line reader: one line per call, counted; section headers handled
 * here. Returns NULL (end of file) after an error. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	ssize_t n;
	char *t;

	if (st->err)
		return NULL;
	n = getline(&st->linebuf, &st->linecap, st->f);
	if (n < 0) {
		if (ferror(st->f))
			set_err(st, -EIO, 0, "read error");
		return NULL;
	}
	st->line++;
	if (n >= num) {
		set_err(st, -EINVAL, st->line, "line too long (at most %d characters)", num - 2);
		return NULL;
	}
	if ((size_t)n != strlen(st->linebuf)) {
		set_err(st, -EINVAL, st->line, "NUL byte in line");
		return NULL;
	}
	memcpy(str, st->linebuf, (size_t)n + 1);
	t = st->linebuf;
	/* Skip a UTF-8 BOM on the first line, as inih does. */
	if (st->line == 1 && (unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB &&
	    (unsigned char)t[2] == 0xBF)
		t += 3;
	t = trim(t);
	if (t[0] == '[') {
		begin_section(st, t);
		if (st->err)
			return NULL;
	} else if (t[0] && t[0] != ';' && t[0] != '#' && !st->in_daemon && !st->in_broker && !st->fs) {
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

static int daemon_key(struct parse_state *st, const char *name, const char *value)
{
	struct loafre_config *c = st->c;
	unsigned *k = &st->daemon_keys;
	uint64_t v;

	if (strcmp(name, "log") == 0) {
		if (!mark_key(st, k, K_LOG, name))
			return 0;
		if (strcmp(value, "stderr") == 0)
			c->log = LOAFRE_LOG_STDERR;
		else if (strcmp(value, "syslog") == 0)
			c->log = LOAFRE_LOG_SYSLOG;
		else {
			set_err(st, -EINVAL, st->line, "log must be stderr or syslog, not '%s'", value);
			return 0;
		}
	} else if (strcmp(name, "log_level") == 0) {
		if (!mark_key(st, k, K_LOG_LEVEL, name))
			return 0;
		if (strcmp(value, "error") == 0)
			c->log_level = LOG_ERR;
		else if (strcmp(value, "warning") == 0)
			c->log_level = LOG_WARNING;
		else if (strcmp(value, "info") == 0)
			c->log_level = LOG_INFO;
		else if (strcmp(value, "debug") == 0)
			c->log_level = LOG_DEBUG;
		else {
			set_err(st, -EINVAL, st->line,
				"log_level must be error, warning, info or debug, not '%s'", value);
			return 0;
		}
	} else if (strcmp(name, "run_dir") == 0) {
		if (!mark_key(st, k, K_RUN_DIR, name))
			return 0;
		if (!*value) {
			set_err(st, -EINVAL, st->line, "run_dir is empty");
			return 0;
		}
		return set_str(st, &c->run_dir, resolve_path(st, value));
	} else if (strcmp(name, "commit_interval_ms") == 0) {
		if (!mark_key(st, k, K_COMMIT, name))
			return 0;
		if (!parse_uint(value, &v) || v < 1 || v > 60000) {
			set_err(st, -EINVAL, st->line,
				"commit_interval_ms must be a number of milliseconds from 1 to 60000, not '%s'",
				value);
			return 0;
		}
		c->commit_interval_ms = (unsigned)v;
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
	struct loafre_fs_config *fs = st->fs;
	unsigned *k = &st->keys_of_fs[fs - st->c->fs];
	uint64_t v;

	if (strcmp(name, "type") == 0) {
		if (!mark_key(st, k, K_TYPE, name))
			return 0;
		if (strcmp(value, "local") == 0)
			fs->type = LOAFRE_FS_LOCAL;
		else if (strcmp(value, "lustre") == 0)
			fs->type = LOAFRE_FS_LUSTRE;
		else {
			set_err(st, -EINVAL, st->line, "type must be local or lustre, not '%s'", value);
			return 0;
		}
	} else if (strcmp(name, "path") == 0 || strcmp(name, "journal") == 0) {
		bool is_path = name[0] == 'p';
		if (!mark_key(st, k, is_path ? K_PATH : K_JOURNAL, name))
			return 0;
		if (!*value) {
			set_err(st, -EINVAL, st->line, "%s is empty", name);
			return 0;
		}
		return set_str(st, is_path ? &fs->path : &fs->journal, resolve_path(st, value));
	} else if (strcmp(name, "create_path") == 0) {
		if (!mark_key(st, k, K_CREATE, name))
			return 0;
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			fs->create_path = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
			fs->create_path = false;
		else {
			set_err(st, -EINVAL, st->line, "create_path must be yes or no, not '%s'", value);
			return 0;
		}
	} else if (strcmp(name, "event_queue") == 0) {
		if (!mark_key(st, k, K_QUEUE, name))
			return 0;
		if (strcmp(value, "unlimited") == 0)
			fs->event_queue_system = false;
		else if (strcmp(value, "system") == 0)
			fs->event_queue_system = true;
		else {
			set_err(st, -EINVAL, st->line, "event_queue must be unlimited or system, not '%s'",
				value);
			return 0;
		}
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
		if (!mark_key(st, k, K_FSYNC, name))
			return 0;
		if (strcmp(value, "commit") == 0)
			fs->journal_opts.fsync = LOAFRE_FSYNC_COMMIT;
		else if (strcmp(value, "none") == 0)
			fs->journal_opts.fsync = LOAFRE_FSYNC_NONE;
		else {
			set_err(st, -EINVAL, st->line, "fsync must be commit or none, not '%s'", value);
			return 0;
		}
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
		if (!mark_key(st, k, is_time ? K_GC_TIME : K_GC_INDEXES, name))
			return 0;
		if (!parse_uint(value, &v)) {
			set_err(st, -EINVAL, st->line, "%s must be a non-negative number, not '%s'",
				name, value);
			return 0;
		}
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

static int add_endpoint(struct parse_state *st, const char *ep, size_t len)
{
	struct loafre_broker_config *b = &st->c->broker;
	static const char *const schemes[] = {"tcp://", "ipc://", "inproc://"};
	bool ok = false;
	char **n;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t sl = strlen(schemes[i]);
		if (len > sl && strncmp(ep, schemes[i], sl) == 0)
			ok = true;
	}
	if (!ok) {
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
	return 1;
}

static int broker_key(struct parse_state *st, const char *name, const char *value)
{
	struct loafre_broker_config *b = &st->c->broker;
	unsigned *k = &st->broker_keys;
	uint64_t v;

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
		if (!mark_key(st, k, K_MAX_CREDIT, name))
			return 0;
		if (!parse_uint(value, &v) || v < 1 || v > 1048576) {
			set_err(st, -EINVAL, st->line,
				"max_credit must be a number of records from 1 to 1048576, not '%s'",
				value);
			return 0;
		}
		b->max_credit = (unsigned)v;
	} else if (strcmp(name, "heartbeat_ms") == 0) {
		if (!mark_key(st, k, K_HEARTBEAT, name))
			return 0;
		if (!parse_uint(value, &v) || v < 10 || v > 3600000) {
			set_err(st, -EINVAL, st->line,
				"heartbeat_ms must be a number of milliseconds from 10 to 3600000, not '%s'",
				value);
			return 0;
		}
		b->heartbeat_ms = (unsigned)v;
	} else if (strcmp(name, "ephemeral_window") == 0) {
		if (!mark_key(st, k, K_EPH_WINDOW, name))
			return 0;
		if (!parse_uint(value, &v) || v < 1) {
			set_err(st, -EINVAL, st->line,
				"ephemeral_window must be a positive number of records, not '%s'", value);
			return 0;
		}
		b->ephemeral_window = v;
	} else {
		set_err(st, -EINVAL, st->line, "unknown key '%s' in section [broker]", name);
		return 0;
	}
	return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;

	(void)section; /* tracked by the reader */
	if (st->err)
		return 0;
	if (st->in_daemon)
		return daemon_key(st, name, value);
	if (st->in_broker)
		return broker_key(st, name, value);
	if (st->fs)
		return fs_key(st, name, value);
	set_err(st, -EINVAL, st->line, "setting outside of any section");
	return 0;
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
	st.c = c;
	c->path = path[0] == '/' ? normalize_path(path) : strdup(path);
	if (!c->path) {
		set_err(&st, -ENOMEM, 0, "out of memory");
		goto out;
	}
	r = ini_parse_stream(read_line, &st, handler, &st);
	if (r > 0 && !st.err)
		set_err(&st, -EINVAL, (unsigned)r, "syntax error (expected [section], key = value or a comment)");
	else if (r < 0 && !st.err)
		set_err(&st, -ENOMEM, 0, "cannot parse: out of memory");
	if (!st.err)
		validate(&st);
out:
	r = st.err;
	fclose(st.f);
	free(st.dir);
	free(st.keys_of_fs);
	free(st.linebuf);
	if (r < 0) {
		loafre_config_free(c);
		return r;
	}
	*ret_config = c;
	return 0;
}
