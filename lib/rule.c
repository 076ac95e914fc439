/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * rule.c — replication rules compiled for matching (lib/rule.h).
 *
 * Syntax accepted here:
 *
 * Paths: relative to the filesystem's root, written with a leading '/'
 *   ("/projects/a"); the root is "/".
 *
 * Wildcards (match_glob, [exclude] glob): the pattern is split at '/' into
 *   components, each matched against one path component as fnmatch(3)
 *   does ('*', '?', '[...]' with ranges, '!' or '^' and [:class:], and
 *   backslash quoting; never crossing a '/'), by our own matcher that takes
 *   O(pattern x name) steps at worst (fnmatch may backtrack exponentially
 *   on patterns with many '*'); a component that is
 *   exactly "**" matches any number of path components, zero included
 *   (with ** written as STARSTAR here, since C comments cannot hold it:
 *   "/data/STARSTAR/STAR.h5" is every .h5 file anywhere under /data,
 *   "/STARSTAR/core" core at any depth, "/tmp/STARSTAR" /tmp and below). A
 *   pattern with no '/' at all matches the last path component ("*.swp").
 *   Leading '/' optional otherwise (the pattern is anchored at the root).
 *
 * Regexes (match_regex, [exclude] regex): PCRE2, searched (not anchored)
 *   in the path; compiled once; at most LOAFRE__REGEX_MATCH_LIMIT steps per
 *   match: a match_regex over the limit does not match, an exclude regex
 *   over the limit excludes (the safe side: the object is left alone).
 *
 * Exclusion: an object is excluded if its path or any ancestor's path is
 *   one of the `path`s, or matches one of the `glob`s or `regex`es: an
 *   excluded directory excludes its whole subtree.
 *
 * Command templates (copy = ..., move = ...): at most 4096 bytes, split
 *   into at most 256 words at load, shell-like but no shell ever runs:
 *     blanks separate words; '...' keeps everything literally; "..." keeps
 *     everything but \" and \\ (backslash then the character); outside
 *     quotes a backslash makes the next character literal; '' or "" is an
 *     empty word.
 *   Variables %{NAME} are expanded in every quoting context, inside the
 *   word they are in, never splitting or dropping it (a value with blanks
 *   stays one argument); %% is a '%'; any other '%' is an error, as is an
 *   unknown variable or one the action does not have:
 *     every action: src dst rel host user dest mode uid gid name type rule
 *     move, link: old oldrel;  symlink: target;  setxattr: xattr
 *   An expanded word longer than LOAFRE__TEMPLATE_MAX_WORD bytes fails the
 *   expansion (-E2BIG).
 *
 * Id maps (destination uid_map=/gid_map=): comma-separated S:D pairs, S and
 *   D numbers or names (resolved with getpwnam/getgrnam at load), S may be
 *   '*' (every id not listed); at most 4096 pairs, each S once.
 *
 * Durations: a number with an optional unit s, m, h, d (seconds by
 *   default), several in a row adding up ("1h30m"); at most 100 years.
 */
#include "rule.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pcre2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loafre/record.h"

static const char *const action_names[LOAFRE_ACT_N] = {
	"copy", "delete", "move", "chmod", "chown", "utimes", "mkdir", "link", "symlink", "setxattr",
};

static const char *const var_names[LOAFRE__TV_N] = {
	"src", "dst", "rel", "old", "oldrel", "host", "user", "dest",
	"mode", "uid", "gid", "name", "type", "target", "xattr", "rule",
};

const char *loafre__rule_action_name(unsigned action)
{
	return action < LOAFRE_ACT_N ? action_names[action] : NULL;
}

bool loafre__rule_name_ok(const char *name, size_t max)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > max || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!isalnum(ch) && ch != '_' && ch != '-')
			return false;
	}
	return true;
}

/* Copies at most 64 bytes of s[0..n) into out (65 bytes) for a message,
 * with non-printable bytes as '?': messages stay one line. */
static const char *shown(const char *s, size_t n, char *out)
{
	size_t k;

	for (k = 0; k < n && k < 64; k++)
		out[k] = isprint((unsigned char)s[k]) ? s[k] : '?';
	out[k] = '\0';
	return out;
}

/* ---- templates ------------------------------------------------------------ */

struct tseg {
	int var;      /* LOAFRE__TV_*, or -1: literal */
	size_t off;   /* literal: offset in lit */
	size_t len;   /* literal: length */
};

struct tword {
	size_t first; /* first segment */
	size_t n;     /* segments */
};

struct loafre__template {
	struct tword *words; /* words, in order */
	size_t n_words;
	struct tseg *segs;   /* segments of every word */
	size_t n_segs;
	char *lit;           /* literal bytes of every segment */
	size_t lit_len;
};

void loafre__template_free(struct loafre__template *t)
{
	if (!t)
		return;
	free(t->words);
	free(t->segs);
	free(t->lit);
	free(t);
}

size_t loafre__template_words(const struct loafre__template *t)
{
	return t ? t->n_words : 0;
}

/* Whether action has variable v. */
static bool var_allowed(unsigned action, int v)
{
	switch (v) {
	case LOAFRE__TV_OLD:
	case LOAFRE__TV_OLDREL:
		return action == LOAFRE_ACT_MOVE || action == LOAFRE_ACT_LINK;
	case LOAFRE__TV_TARGET:
		return action == LOAFRE_ACT_SYMLINK;
	case LOAFRE__TV_XATTR:
		return action == LOAFRE_ACT_SETXATTR;
	default:
		return true;
	}
}

struct tbuild {
	struct loafre__template *t;
	size_t cap_words, cap_segs, cap_lit;
	bool in_word;      /* a word is open */
	bool lit_open;     /* the last segment of the open word is a literal */
};

static int tb_word(struct tbuild *b)
{
	struct loafre__template *t = b->t;

	if (b->in_word)
		return 0;
	if (t->n_words >= LOAFRE__TEMPLATE_MAX_WORDS)
		return -E2BIG;
	if (t->n_words == b->cap_words) {
		size_t cap = b->cap_words ? b->cap_words * 2 : 8;
		struct tword *w = realloc(t->words, cap * sizeof(*w));
		if (!w)
			return -ENOMEM;
		t->words = w;
		b->cap_words = cap;
	}
	t->words[t->n_words++] = (struct tword){t->n_segs, 0};
	b->in_word = true;
	b->lit_open = false;
	return 0;
}

static int tb_seg(struct tbuild *b, int var)
{
	struct loafre__template *t = b->t;

	if (t->n_segs == b->cap_segs) {
		size_t cap = b->cap_segs ? b->cap_segs * 2 : 16;
		struct tseg *s = realloc(t->segs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		t->segs = s;
		b->cap_segs = cap;
	}
	t->segs[t->n_segs++] = (struct tseg){var, t->lit_len, 0};
	t->words[t->n_words - 1].n++;
	b->lit_open = var < 0;
	return 0;
}

static int tb_char(struct tbuild *b, char ch)
{
	struct loafre__template *t = b->t;
	int r;

	if ((r = tb_word(b)) < 0)
		return r;
	if (!b->lit_open && (r = tb_seg(b, -1)) < 0)
		return r;
	if (t->lit_len + 1 >= b->cap_lit) {
		size_t cap = b->cap_lit ? b->cap_lit * 2 : 64;
		char *l = realloc(t->lit, cap);
		if (!l)
			return -ENOMEM;
		t->lit = l;
		b->cap_lit = cap;
	}
	t->lit[t->lit_len++] = ch;
	t->segs[t->n_segs - 1].len++;
	return 0;
}

/* Shared by templates (with_vars) and loafre__split_words. */
static int tokenize(const char *text, bool with_vars, unsigned action,
		    struct loafre__template **ret, char *why, size_t whylen)
{
	struct tbuild b = {0};
	const char *p = text;
	char quote = 0;
	int r = 0;

	if (!why || whylen == 0) {
		static char sink[1];
		why = sink;
		whylen = sizeof(sink);
	}
	why[0] = '\0';
	if (strlen(text) > LOAFRE__TEMPLATE_MAX_TEXT) {
		snprintf(why, whylen, "too long (at most %d bytes)", LOAFRE__TEMPLATE_MAX_TEXT);
		return -EINVAL;
	}
	b.t = calloc(1, sizeof(*b.t));
	if (!b.t)
		return -ENOMEM;
	for (; *p; p++) {
		char ch = *p;

		if (with_vars && ch == '%') {
			const char *end;
			size_t l;
			int v;

			if (p[1] == '%') {
				if ((r = tb_char(&b, '%')) < 0)
					goto fail;
				p++;
				continue;
			}
			if (p[1] != '{' || !(end = strchr(p + 2, '}'))) {
				snprintf(why, whylen,
					 "'%%' at offset %zu is not %%{NAME} (write %%%% for a '%%')",
					 (size_t)(p - text));
				r = -EINVAL;
				goto fail;
			}
			l = (size_t)(end - (p + 2));
			for (v = 0; v < LOAFRE__TV_N; v++)
				if (strlen(var_names[v]) == l && strncmp(var_names[v], p + 2, l) == 0)
					break;
			if (v == LOAFRE__TV_N) {
				char sh[65];
				snprintf(why, whylen, "unknown variable %%{%s}", shown(p + 2, l, sh));
				r = -EINVAL;
				goto fail;
			}
			if (!var_allowed(action, v)) {
				snprintf(why, whylen, "%%{%s} is not available to %s", var_names[v],
					 loafre__rule_action_name(action));
				r = -EINVAL;
				goto fail;
			}
			if ((r = tb_word(&b)) < 0 || (r = tb_seg(&b, v)) < 0)
				goto fail;
			p = end;
			continue;
		}
		if (quote == '\'') {
			if (ch == '\'')
				quote = 0;
			else if ((r = tb_char(&b, ch)) < 0)
				goto fail;
			continue;
		}
		if (quote == '"') {
			if (ch == '"') {
				quote = 0;
				continue;
			}
			if (ch == '\\' && (p[1] == '"' || p[1] == '\\'))
				ch = *++p;
			if ((r = tb_char(&b, ch)) < 0)
				goto fail;
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			b.in_word = false;
			continue;
		}
		if (ch == '\'' || ch == '"') {
			quote = ch;
			if ((r = tb_word(&b)) < 0)
				goto fail;
			continue;
		}
		if (ch == '\\') {
			if (!p[1]) {
				snprintf(why, whylen, "backslash at the end");
				r = -EINVAL;
				goto fail;
			}
			ch = *++p;
		}
		if ((r = tb_char(&b, ch)) < 0)
			goto fail;
	}
	if (quote) {
		snprintf(why, whylen, "unterminated %c quote", quote);
		r = -EINVAL;
		goto fail;
	}
	if (b.t->n_words == 0) {
		snprintf(why, whylen, "empty command");
		r = -EINVAL;
		goto fail;
	}
	*ret = b.t;
	return 0;
fail:
	if (r == -E2BIG && !why[0])
		snprintf(why, whylen, "too many words (at most %d)", LOAFRE__TEMPLATE_MAX_WORDS);
	if (r == -E2BIG)
		r = -EINVAL;
	loafre__template_free(b.t);
	return r;
}

int loafre__template_parse(const char *text, unsigned action, struct loafre__template **ret,
			   char *why, size_t whylen)
{
	if (!text || !ret || action >= LOAFRE_ACT_N)
		return -EINVAL;
	return tokenize(text, true, action, ret, why, whylen);
}

void loafre__argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

int loafre__rule_expand(const struct loafre__template *t, const struct loafre__rule_vars *vars,
			char ***ret_argv)
{
	char **argv;
	int r = 0;

	if (!t || !ret_argv)
		return -EINVAL;
	argv = calloc(t->n_words + 1, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	for (size_t w = 0; w < t->n_words; w++) {
		const struct tword *tw = &t->words[w];
		size_t len = 0;
		char *s;

		for (size_t i = 0; i < tw->n; i++) {
			const struct tseg *sg = &t->segs[tw->first + i];
			const char *v = sg->var >= 0 && vars ? vars->v[sg->var] : NULL;
			len += sg->var < 0 ? sg->len : (v ? strlen(v) : 0);
			if (len > LOAFRE__TEMPLATE_MAX_WORD) {
				r = -E2BIG;
				goto fail;
			}
		}
		s = malloc(len + 1);
		if (!s) {
			r = -ENOMEM;
			goto fail;
		}
		argv[w] = s;
		for (size_t i = 0; i < tw->n; i++) {
			const struct tseg *sg = &t->segs[tw->first + i];
			const char *v;
			size_t l;

			if (sg->var < 0) {
				v = t->lit + sg->off;
				l = sg->len;
			} else {
				v = vars ? vars->v[sg->var] : NULL;
				l = v ? strlen(v) : 0;
			}
			if (l)
				memcpy(s, v, l);
			s += l;
		}
		*s = '\0';
	}
	*ret_argv = argv;
	return 0;
fail:
	loafre__argv_free(argv);
	return r;
}

int loafre__split_words(const char *text, char ***ret_words, size_t *ret_n, char *why,
			size_t whylen)
{
	struct loafre__template *t = NULL;
	char **words = NULL;
	int r;

	if (!text || !ret_words)
		return -EINVAL;
	r = tokenize(text, false, 0, &t, why, whylen);
	if (r < 0)
		return r;
	r = loafre__rule_expand(t, NULL, &words);
	if (r == 0) {
		if (ret_n)
			*ret_n = t->n_words;
		*ret_words = words;
	}
	loafre__template_free(t);
	return r;
}

/* ---- globs ------------------------------------------------------------------ */

/* Next component of *p (skipping slashes): start and length; false at end. */
static bool next_comp(const char **p, const char **s, size_t *len)
{
	const char *q = *p;

	while (*q == '/')
		q++;
	if (!*q)
		return false;
	*s = q;
	while (*q && *q != '/')
		q++;
	*len = (size_t)(q - *s);
	*p = q;
	return true;
}

/* A bracket expression at pat[p] == '[': whether ch is in it; *np is set
 * past the ']'. Returns -1 if the bracket is not closed ('[' is then an
 * ordinary character). */
static int bracket(const char *pat, size_t pl, size_t p, unsigned char ch, size_t *np)
{
	static const struct {
		const char *name;
		int (*fn)(int);
	} classes[] = {
		{"alpha", isalpha}, {"digit", isdigit}, {"alnum", isalnum}, {"upper", isupper},
		{"lower", islower}, {"space", isspace}, {"punct", ispunct}, {"xdigit", isxdigit},
		{"blank", isblank}, {"cntrl", iscntrl}, {"graph", isgraph}, {"print", isprint},
	};
	size_t q = p + 1;
	bool neg = false, in = false, first = true;

	if (q < pl && (pat[q] == '!' || pat[q] == '^')) {
		neg = true;
		q++;
	}
	while (q < pl) {
		unsigned char lo, hi;

		if (pat[q] == ']' && !first) {
			*np = q + 1;
			return in != neg;
		}
		first = false;
		if (pat[q] == '[' && q + 1 < pl && pat[q + 1] == ':') {
			const char *end = NULL;
			for (size_t k = q + 2; k + 1 < pl; k++)
				if (pat[k] == ':' && pat[k + 1] == ']') {
					end = pat + k;
					break;
				}
			if (end) {
				size_t l = (size_t)(end - (pat + q + 2));
				for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]); c++)
					if (strlen(classes[c].name) == l &&
					    strncmp(classes[c].name, pat + q + 2, l) == 0 && classes[c].fn(ch))
						in = true;
				q = (size_t)(end - pat) + 2;
				continue;
			}
		}
		if (pat[q] == '\\' && q + 1 < pl)
			q++;
		lo = (unsigned char)pat[q++];
		hi = lo;
		if (q + 1 < pl && pat[q] == '-' && pat[q + 1] != ']') {
			q++;
			if (pat[q] == '\\' && q + 1 < pl)
				q++;
			hi = (unsigned char)pat[q++];
		}
		if (ch >= lo && ch <= hi)
			in = true;
	}
	return -1;
}

/* fnmatch(3) of one component (no '/' in either): '*', '?', '[...]'
 * (ranges, '!' or '^', [:class:]), backslash quoting. The classic walk
 * with one backtracking point: O(pattern x name), never exponential. */
static bool comp_match(const char *pat, size_t pl, const char *name, size_t nl)
{
	size_t p = 0, n = 0, star_p = SIZE_MAX, star_n = 0;

	while (n < nl) {
		if (p < pl && pat[p] == '*') {
			while (p < pl && pat[p] == '*')
				p++;
			star_p = p;
			star_n = n;
			continue;
		}
		if (p < pl) {
			size_t np = p + 1;
			int m;
			if (pat[p] == '?') {
				m = 1;
			} else if (pat[p] == '[' && (m = bracket(pat, pl, p, (unsigned char)name[n], &np)) >= 0) {
				/* m set */
			} else if (pat[p] == '\\' && p + 1 < pl) {
				m = pat[p + 1] == name[n];
				np = p + 2;
			} else {
				m = pat[p] == name[n];
				np = p + 1;
			}
			if (m) {
				p = np;
				n++;
				continue;
			}
		}
		if (star_p == SIZE_MAX)
			return false;
		p = star_p;
		n = ++star_n;
	}
	while (p < pl && pat[p] == '*')
		p++;
	return p == pl;
}

bool loafre__glob_match(const char *pattern, const char *path)
{
	const char *pp, *sp, *star_p = NULL, *star_s = NULL;
	const char *pc, *sc;
	size_t pl, sl;

	if (!pattern || !path)
		return false;
	if (!strchr(pattern, '/')) {
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		return comp_match(pattern, strlen(pattern), base, strlen(base));
	}
	/* Components as characters, "**" as '*': the classic wildcard walk
	 * with one backtracking point, O(components^2) at worst. */
	pp = pattern;
	sp = path;
	for (;;) {
		bool have_p = next_comp(&pp, &pc, &pl);
		const char *sp_before = sp;
		bool have_s;

		if (have_p && pl == 2 && pc[0] == '*' && pc[1] == '*') {
			star_p = pp;       /* after the ** */
			star_s = sp_before; /* ** matches nothing so far */
			continue;
		}
		have_s = next_comp(&sp, &sc, &sl);
		if (!have_p && !have_s)
			return true;
		if (have_p && have_s && comp_match(pc, pl, sc, sl))
			continue;
		/* Mismatch: let the last ** swallow one more component. */
		if (!star_p)
			return false;
		{
			const char *q = star_s, *qs;
			size_t ql;
			if (!next_comp(&q, &qs, &ql))
				return false;
			star_s = q;
		}
		pp = star_p;
		sp = star_s;
	}
}

/* ---- regexes ------------------------------------------------------------------ */

static pcre2_code *regex_compile(const char *pattern, char *why, size_t whylen)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off,
				       NULL);

	if (!re && why && whylen) {
		PCRE2_UCHAR msg[256];
		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		if (snprintf(why, whylen, "%s at offset %zu", (const char *)msg, (size_t)off) >=
		    (int)whylen)
			why[whylen - 1] = '\0'; /* cut to the caller's buffer */
	}
	return re;
}

int loafre__regex_check(const char *pattern, char *why, size_t whylen)
{
	pcre2_code *re;

	if (!pattern)
		return -EINVAL;
	re = regex_compile(pattern, why, whylen);
	if (!re)
		return -EINVAL;
	pcre2_code_free(re);
	return 0;
}

/* 1 match, 0 no match, -1 error (limit, memory). */
static int regex_run(const pcre2_code *re, pcre2_match_context *mc, const char *s)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	int rc;

	if (!md)
		return -1;
	rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, mc);
	pcre2_match_data_free(md);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* ---- durations, id maps ------------------------------------------------------- */

int loafre__parse_duration(const char *s, uint64_t *ret_seconds)
{
	uint64_t total = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	while (*p) {
		uint64_t v = 0, mult = 1;
		int n = 0;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p)) {
			if (++n > 12)
				return -EINVAL;
			v = v * 10 + (uint64_t)(*p++ - '0');
		}
		switch (*p) {
		case 's': p++; break;
		case 'm': mult = 60; p++; break;
		case 'h': mult = 3600; p++; break;
		case 'd': mult = 86400; p++; break;
		case '\0': break;
		default: return -EINVAL;
		}
		total += v * mult;
		if (total > 100ull * 366 * 86400)
			return -EINVAL;
	}
	*ret_seconds = total;
	return 0;
}

static int resolve_id(const char *s, size_t len, bool is_group, uint32_t *ret)
{
	char name[256];
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len >= sizeof(name))
		return -EINVAL;
	for (i = 0; i < len && isdigit((unsigned char)s[i]); i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX - 1)
			return -ERANGE;
	}
	if (i == len) {
		*ret = (uint32_t)v;
		return 0;
	}
	memcpy(name, s, len);
	name[len] = '\0';
	if (is_group) {
		struct group gr, *res = NULL;
		char buf[4096];
		if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
			return -ENOENT;
		*ret = (uint32_t)res->gr_gid;
	} else {
		struct passwd pw, *res = NULL;
		char buf[4096];
		if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
			return -ENOENT;
		*ret = (uint32_t)res->pw_uid;
	}
	return 0;
}

int loafre__resolve_id(const char *s, bool is_group, uint32_t *ret)
{
	return resolve_id(s, strlen(s), is_group, ret);
}

void loafre__idmap_clear(struct loafre_idmap *m)
{
	if (!m)
		return;
	free(m->pairs);
	free(m->text);
	memset(m, 0, sizeof(*m));
}

int loafre__idmap_parse(const char *text, bool is_group, struct loafre_idmap *m, char *why,
			size_t whylen)
{
	struct loafre_idmap out = {0};
	const char *p = text;
	size_t cap = 0;
	int r = -EINVAL;

	if (!text || !m)
		return -EINVAL;
	if (!*p) {
		snprintf(why, whylen, "empty map");
		return -EINVAL;
	}
	while (*p) {
		const char *comma = strchr(p, ','), *colon, *end = comma ? comma : p + strlen(p);
		uint32_t from = 0, to;
		bool any;
		int e;
		char sh[65];

		colon = memchr(p, ':', (size_t)(end - p));
		if (!colon) {
			snprintf(why, whylen, "'%s' is not S:D", shown(p, (size_t)(end - p), sh));
			goto fail;
		}
		any = colon - p == 1 && *p == '*';
		if (!any && (e = resolve_id(p, (size_t)(colon - p), is_group, &from)) < 0) {
			snprintf(why, whylen, "unknown %s '%s'", is_group ? "group" : "user",
				 shown(p, (size_t)(colon - p), sh));
			goto fail;
		}
		if ((e = resolve_id(colon + 1, (size_t)(end - colon - 1), is_group, &to)) < 0) {
			snprintf(why, whylen, "unknown %s '%s'", is_group ? "group" : "user",
				 shown(colon + 1, (size_t)(end - colon - 1), sh));
			goto fail;
		}
		if (any) {
			if (out.has_default) {
				snprintf(why, whylen, "'*' given twice");
				goto fail;
			}
			out.has_default = true;
			out.default_to = to;
		} else {
			for (size_t i = 0; i < out.n_pairs; i++)
				if (out.pairs[i].from == from) {
					snprintf(why, whylen, "id %u mapped twice", from);
					goto fail;
				}
			if (out.n_pairs >= LOAFRE__IDMAP_MAX_PAIRS) {
				snprintf(why, whylen, "too many pairs (at most %d)",
					 LOAFRE__IDMAP_MAX_PAIRS);
				goto fail;
			}
			if (out.n_pairs == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct loafre_idmap_pair *np = realloc(out.pairs, nc * sizeof(*np));
				if (!np) {
					r = -ENOMEM;
					snprintf(why, whylen, "out of memory");
					goto fail;
				}
				out.pairs = np;
				cap = nc;
			}
			out.pairs[out.n_pairs++] = (struct loafre_idmap_pair){from, to};
		}
		p = comma ? comma + 1 : end;
		if (comma && !*p) {
			snprintf(why, whylen, "a pair is missing after ','");
			goto fail;
		}
	}
	*m = out;
	return 0;
fail:
	free(out.pairs);
	return r;
}

uint32_t loafre__idmap_map(const struct loafre_idmap *m, uint32_t id)
{
	if (!m)
		return id;
	for (size_t i = 0; i < m->n_pairs; i++)
		if (m->pairs[i].from == id)
			return m->pairs[i].to;
	return m->has_default ? m->default_to : id;
}

/* ---- compiled rules ------------------------------------------------------------- */

struct cexclude {
	const struct loafre_exclude_config *cfg; /* borrowed */
	pcre2_code **re;                          /* one per cfg->regexes */
};

struct loafre__rule {
	const struct loafre_rule_config *cfg;     /* borrowed from the config */
	pcre2_code **match_re;                    /* one per cfg->match_regexes */
	struct cexclude *ex;                      /* one per cfg->excludes */
	size_t n_ex;
	pcre2_match_context *mc;                  /* match limits (read-only use) */
	struct loafre__cron cron;                 /* parsed schedule */
	bool has_cron;                            /* cfg->schedule set */
	struct loafre__template *actions[LOAFRE_ACT_N]; /* NULL: built-in */
};

void loafre__rule_free(struct loafre__rule *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->match_re && i < r->cfg->n_match_regexes; i++)
		pcre2_code_free(r->match_re[i]);
	free(r->match_re);
	for (size_t i = 0; i < r->n_ex; i++) {
		for (size_t j = 0; r->ex[i].re && j < r->ex[i].cfg->n_regexes; j++)
			pcre2_code_free(r->ex[i].re[j]);
		free(r->ex[i].re);
	}
	free(r->ex);
	pcre2_match_context_free(r->mc);
	for (unsigned a = 0; a < LOAFRE_ACT_N; a++)
		loafre__template_free(r->actions[a]);
	free(r);
}

int loafre__rule_compile(const struct loafre_config *c, const struct loafre_rule_config *rc,
			 struct loafre__rule **ret, char *err, size_t errlen)
{
	struct loafre__rule *r;
	char why[256];
	int ret_r = -EINVAL;

	if (!c || !rc || !ret)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = rc;
	r->mc = pcre2_match_context_create(NULL);
	r->match_re = calloc(rc->n_match_regexes + 1, sizeof(*r->match_re));
	r->ex = calloc(rc->n_excludes + 1, sizeof(*r->ex));
	if (!r->mc || !r->match_re || !r->ex)
		goto nomem;
	pcre2_set_match_limit(r->mc, LOAFRE__REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(r->mc, 10000);
	for (size_t i = 0; i < rc->n_match_regexes; i++) {
		r->match_re[i] = regex_compile(rc->match_regexes[i], why, sizeof(why));
		if (!r->match_re[i]) {
			snprintf(err, errlen, "rule %s: match_regex '%s': %s", rc->name,
				 rc->match_regexes[i], why);
			goto fail;
		}
	}
	for (size_t i = 0; i < rc->n_excludes; i++) {
		const struct loafre_exclude_config *x = loafre_config_find_exclude(c, rc->excludes[i]);
		struct cexclude *ce = &r->ex[r->n_ex];

		if (!x) {
			snprintf(err, errlen, "rule %s: unknown exclude '%s'", rc->name,
				 rc->excludes[i]);
			goto fail;
		}
		ce->cfg = x;
		ce->re = calloc(x->n_regexes + 1, sizeof(*ce->re));
		if (!ce->re)
			goto nomem;
		r->n_ex++;
		for (size_t j = 0; j < x->n_regexes; j++) {
			ce->re[j] = regex_compile(x->regexes[j], why, sizeof(why));
			if (!ce->re[j]) {
				snprintf(err, errlen, "rule %s: exclude %s: regex '%s': %s", rc->name,
					 x->name, x->regexes[j], why);
				goto fail;
			}
		}
	}
	if (rc->schedule) {
		if (loafre__cron_parse(rc->schedule, &r->cron, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "rule %s: schedule '%s': %s", rc->name, rc->schedule,
				 why);
			goto fail;
		}
		r->has_cron = true;
	}
	for (unsigned a = 0; a < LOAFRE_ACT_N; a++) {
		int e;
		if (!rc->actions[a])
			continue;
		e = loafre__template_parse(rc->actions[a], a, &r->actions[a], why, sizeof(why));
		if (e == -ENOMEM)
			goto nomem;
		if (e < 0) {
			snprintf(err, errlen, "rule %s: %s: %s", rc->name, action_names[a], why);
			goto fail;
		}
	}
	*ret = r;
	return 0;
nomem:
	ret_r = -ENOMEM;
	snprintf(err, errlen, "out of memory");
fail:
	loafre__rule_free(r);
	return ret_r;
}

const struct loafre_rule_config *loafre__rule_config(const struct loafre__rule *r)
{
	return r ? r->cfg : NULL;
}

const struct loafre__template *loafre__rule_template(const struct loafre__rule *r,
						     unsigned action)
{
	return r && action < LOAFRE_ACT_N ? r->actions[action] : NULL;
}

const struct loafre__cron *loafre__rule_schedule(const struct loafre__rule *r)
{
	return r && r->has_cron ? &r->cron : NULL;
}

/* Whether path is dir or inside it (both normalized, leading /). */
static bool path_under(const char *path, const char *dir)
{
	size_t l = strlen(dir);

	if (l == 1 && dir[0] == '/')
		return true;
	return strncmp(path, dir, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

const char *loafre__rule_source_rel(const struct loafre__rule *r, const char *relpath)
{
	if (!r || !relpath)
		return NULL;
	for (size_t i = 0; i < r->cfg->n_sources; i++) {
		const char *s = r->cfg->sources[i];
		size_t l = strlen(s);
		if (!path_under(relpath, s))
			continue;
		if (l == 1)
			l = 0;
		relpath += l;
		while (*relpath == '/')
			relpath++;
		return relpath;
	}
	return NULL;
}

/* Whether one path (not its ancestors) is excluded. */
static bool excluded_one(const struct loafre__rule *r, const char *path)
{
	for (size_t i = 0; i < r->n_ex; i++) {
		const struct cexclude *ce = &r->ex[i];
		for (size_t j = 0; j < ce->cfg->n_paths; j++)
			if (strcmp(ce->cfg->paths[j], path) == 0)
				return true;
		for (size_t j = 0; j < ce->cfg->n_globs; j++)
			if (loafre__glob_match(ce->cfg->globs[j], path))
				return true;
		for (size_t j = 0; j < ce->cfg->n_regexes; j++)
			if (regex_run(ce->re[j], r->mc, path) != 0) /* an error excludes */
				return true;
	}
	return false;
}

bool loafre__rule_excluded(const struct loafre__rule *r, const char *relpath)
{
	char buf[PATH_MAX];
	size_t len;

	if (!r || !relpath)
		return true;
	if (r->n_ex == 0)
		return false;
	len = strlen(relpath);
	if (len >= sizeof(buf))
		return true; /* cannot be checked: leave it alone */
	memcpy(buf, relpath, len + 1);
	/* the path, then each ancestor, down to the first component */
	for (;;) {
		char *slash;
		if (len > 1 && excluded_one(r, buf))
			return true;
		slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			break;
		*slash = '\0';
		len = (size_t)(slash - buf);
	}
	return false;
}

static bool id_in(const uint32_t *v, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

bool loafre__rule_match(const struct loafre__rule *r, const char *relpath, bool is_dir,
			const struct loafre__rule_attr *a, uint32_t record_type)
{
	const struct loafre_rule_config *rc;

	if (!r || !relpath || relpath[0] != '/')
		return false;
	rc = r->cfg;
	if (record_type >= 32 || !(rc->events & (1u << record_type)))
		return false;
	if (!loafre__rule_source_rel(r, relpath))
		return false;
	if (loafre__rule_excluded(r, relpath))
		return false;
	if (rc->n_match_prefixes || rc->n_match_globs || rc->n_match_regexes) {
		bool any = false;
		for (size_t i = 0; !any && i < rc->n_match_prefixes; i++)
			any = path_under(relpath, rc->match_prefixes[i]);
		for (size_t i = 0; !any && i < rc->n_match_globs; i++)
			any = loafre__glob_match(rc->match_globs[i], relpath);
		for (size_t i = 0; !any && i < rc->n_match_regexes; i++)
			any = regex_run(r->match_re[i], r->mc, relpath) == 1;
		if (!any)
			return false;
	}
	if (!a)
		return true;
	if (!is_dir) {
		if (rc->has_min_size && a->size < rc->min_size)
			return false;
		if (rc->has_max_size && a->size > rc->max_size)
			return false;
		if (rc->has_min_age && a->now - a->mtime < (int64_t)rc->min_age)
			return false;
		if (rc->has_max_age && a->now - a->mtime > (int64_t)rc->max_age)
			return false;
	}
	if (rc->n_owners && !id_in(rc->owners, rc->n_owners, a->uid))
		return false;
	if (rc->n_gids && !id_in(rc->gids, rc->n_gids, a->gid))
		return false;
	return true;
}
