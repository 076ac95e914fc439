/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * rule.h — replication rules compiled for matching (issue 6, part 1).
 *
 * A struct loafre_rule_config (loafre/config.h) is what the configuration
 * says; struct loafre__rule is the same rule ready to be used by workers:
 * regexes compiled once (PCRE2), excludes resolved, schedule parsed,
 * command templates split into words. Syntax of globs, templates, id maps
 * and durations: lib/rule.c's head comment.
 *
 * Ownership: loafre__rule_compile returns a rule owned by the caller
 * (loafre__rule_free); it borrows the loafre_config it was compiled from,
 * which must outlive it. loafre__rule_match and loafre__rule_expand may be
 * called from several threads at once on one rule.
 */
#ifndef LOAFRE_LIB_RULE_H
#define LOAFRE_LIB_RULE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/config.h"
#include "cron.h"

#define LOAFRE__TEMPLATE_MAX_TEXT 4096       /* template text, bytes */
#define LOAFRE__TEMPLATE_MAX_WORDS 256       /* argv words of a command */
#define LOAFRE__TEMPLATE_MAX_WORD (PATH_MAX * 2) /* bytes of one expanded word */
#define LOAFRE__IDMAP_MAX_PAIRS 4096
#define LOAFRE__REGEX_MATCH_LIMIT 1000000u   /* PCRE2 match limit per match */

/* Template variables, %{NAME}. */
enum loafre__tvar {
	LOAFRE__TV_SRC = 0,  /* absolute source path */
	LOAFRE__TV_DST,      /* absolute destination path */
	LOAFRE__TV_REL,      /* path relative to the source subtree (no leading /) */
	LOAFRE__TV_OLD,      /* move: old path; link: the existing link (destination-absolute) */
	LOAFRE__TV_OLDREL,   /* move, link: the same relative to the source subtree */
	LOAFRE__TV_HOST,     /* remote destination's host ("" if local) */
	LOAFRE__TV_USER,     /* remote destination's user ("" if none) */
	LOAFRE__TV_DEST,     /* destination root path */
	LOAFRE__TV_MODE,     /* permission bits, octal */
	LOAFRE__TV_UID,      /* owner after translation */
	LOAFRE__TV_GID,      /* group after translation */
	LOAFRE__TV_NAME,     /* last component */
	LOAFRE__TV_TYPE,     /* file, dir, symlink or other */
	LOAFRE__TV_TARGET,   /* symlink: its target */
	LOAFRE__TV_XATTR,    /* setxattr: the attribute's name */
	LOAFRE__TV_RULE,     /* the rule's name */
	LOAFRE__TV_N
};

/* Values of the variables for one expansion; NULL expands to "". */
struct loafre__rule_vars {
	const char *v[LOAFRE__TV_N]; /* borrowed */
};

/* Object attributes for size/owner/group/age conditions. */
struct loafre__rule_attr {
	uint64_t size;     /* bytes */
	uint32_t uid;      /* owner on the source */
	uint32_t gid;      /* group on the source */
	int64_t mtime;     /* seconds since the epoch */
	int64_t now;       /* the current time, seconds (age = now - mtime) */
};

struct loafre__template;
struct loafre__rule;

/* The action's name in the configuration ("copy", ...), or NULL. */
const char *loafre__rule_action_name(unsigned action);

/* Parses a command template for `action` (LOAFRE_ACT_*): variables valid
 * for it only. 0, or -EINVAL with a one-line reason in why; -ENOMEM. */
int loafre__template_parse(const char *text, unsigned action, struct loafre__template **ret,
			   char *why, size_t whylen);
void loafre__template_free(struct loafre__template *t);
/* Words of a parsed template. */
size_t loafre__template_words(const struct loafre__template *t);

/* Expands t into a NULL-terminated argv (malloc'ed, one string per word;
 * free with loafre__argv_free). -E2BIG if a word exceeds
 * LOAFRE__TEMPLATE_MAX_WORD; -ENOMEM. */
int loafre__rule_expand(const struct loafre__template *t, const struct loafre__rule_vars *vars,
			char ***ret_argv);
void loafre__argv_free(char **argv);

/* Splits text into words like a template without variables ('...', "...",
 * backslash; '%' is an ordinary character). NULL-terminated, malloc'ed
 * (loafre__argv_free). -EINVAL (reason in why), -E2BIG, -ENOMEM. */
int loafre__split_words(const char *text, char ***ret_words, size_t *ret_n, char *why,
			size_t whylen);

/* Wildcard match of a path relative to the root (leading /): fnmatch with
 * FNM_PATHNAME per component, `**` as a whole component matches any number
 * of components (zero included); a pattern without '/' matches the last
 * component. */
bool loafre__glob_match(const char *pattern, const char *path);

/* Whether a PCRE2 pattern compiles. 0 or -EINVAL (reason in why). */
int loafre__regex_check(const char *pattern, char *why, size_t whylen);

/* Parses "30s", "10m", "2h", "7d", "90" (seconds), "1h30m". 0 or -EINVAL. */
int loafre__parse_duration(const char *s, uint64_t *ret_seconds);

/* Parses an id map "S:D,S:D,*:D" (names resolved with getpwnam/getgrnam
 * when is_group is false/true). Fills m (m->text is not set). 0, -EINVAL
 * with a reason, -ENOMEM. Clear with loafre__idmap_clear. */
int loafre__idmap_parse(const char *text, bool is_group, struct loafre_idmap *m, char *why,
			size_t whylen);
void loafre__idmap_clear(struct loafre_idmap *m);
/* A user (is_group false) or group name, or a number, to its id. 0,
 * -ENOENT (unknown name), -ERANGE, -EINVAL. */
int loafre__resolve_id(const char *s, bool is_group, uint32_t *ret);
/* The translated id: the explicit pair, else *:D, else id unchanged. */
uint32_t loafre__idmap_map(const struct loafre_idmap *m, uint32_t id);

/* Compiles rc (a rule of c). 0, -EINVAL (reason naming the rule in err),
 * -ENOMEM. */
int loafre__rule_compile(const struct loafre_config *c, const struct loafre_rule_config *rc,
			 struct loafre__rule **ret, char *err, size_t errlen);
void loafre__rule_free(struct loafre__rule *r);
const struct loafre_rule_config *loafre__rule_config(const struct loafre__rule *r);

/* Whether the object at relpath (relative to the filesystem's root, with a
 * leading /) with record type record_type is replicated by r: under a
 * source, not excluded, the event type selected, matching a match_* if any
 * is given, and (when a is not NULL) the size/owner/group/age conditions
 * (size and age: non-directories only). a == NULL: attributes unknown, the
 * conditions are taken as met. */
bool loafre__rule_match(const struct loafre__rule *r, const char *relpath, bool is_dir,
			const struct loafre__rule_attr *a, uint32_t record_type);
/* Whether relpath or one of its ancestors is excluded by r's excludes. */
bool loafre__rule_excluded(const struct loafre__rule *r, const char *relpath);
/* The path relative to the source subtree containing relpath (without a
 * leading /; "" for the subtree itself), borrowed from relpath; NULL if
 * relpath is under no source. */
const char *loafre__rule_source_rel(const struct loafre__rule *r, const char *relpath);
/* The compiled template of an action, or NULL (built-in). */
const struct loafre__template *loafre__rule_template(const struct loafre__rule *r,
						     unsigned action);
/* The schedule, or NULL when the rule has none (always open). */
const struct loafre__cron *loafre__rule_schedule(const struct loafre__rule *r);

/* Loading with rules_dir files replaced, for `loafre rule`: each override
 * names a file of rules_dir ("NAME.rule", "NAME.exclude", "NAME.state") and
 * gives its content, or NULL for "absent". */
struct loafre__config_override {
	const char *name;  /* file name inside rules_dir */
	const char *text;  /* replacement content, or NULL: the file is absent */
};
int loafre__config_load_with(const char *path, const struct loafre__config_override *ov,
			     size_t n_ov, struct loafre_config **ret_config, char *err,
			     size_t errlen);

/* Whether name is a valid rule name (1..11 of A-Z a-z 0-9 _ -, first a
 * letter or digit) or exclude name (the same, up to 64). */
bool loafre__rule_name_ok(const char *name, size_t max);

#endif
