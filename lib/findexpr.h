/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * findexpr.h — GNU find's expression language over abstract entries
 * (internal).
 *
 * `loafre find PATH... [EXPR]` answers from an index instead of walking a
 * tree; this module is everything between the arguments and the output
 * lines: it parses EXPR the way GNU find 4.9 does (same precedence, same
 * implicit -a and -print, same error messages and exit status), evaluates
 * it against entries the caller supplies (from a database, from lstat(),
 * from anywhere) and writes what -print, -print0, -printf, -ls and -count
 * write. The language, its limits and the few differences from GNU find
 * are described at the head of lib/findexpr.c and in docs/find.md.
 *
 * Use: loafre__find_split() separates the start paths from the expression;
 * loafre__find_parse() compiles the expression; then, for each start path,
 * the caller walks its entries depth-first in pre-order and calls
 * loafre__find_eval() on each, skipping the subtree of any entry whose
 * result says `prune` and stopping at `quit`; then loafre__find_finish()
 * (prints the -count total); loafre__find_free(). loafre__find_hints()
 * summarises constraints that let an index skip entries.
 *
 * Ownership: loafre__find_parse() copies everything it keeps from argv and
 * from the looked-up reference entries; the caller keeps ownership of argv,
 * of the FILE streams in the options (never closed here) and of every
 * entry passed to loafre__find_eval() (borrowed for the duration of the
 * call). Hints borrow strings from the struct loafre__find they came from.
 *
 * Threads: one struct loafre__find is used by one thread at a time.
 * Parsing takes a process-wide lock around glibc's regex syntax global
 * (re_syntax_options), which it restores; -user/-group names and the
 * -nouser/-nogroup tests use the reentrant getpw*_r/getgr*_r functions.
 * Times are printed in the local time zone (tzset() at parse).
 */
#ifndef LOAFRE_FINDEXPR_H
#define LOAFRE_FINDEXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* ---- limits ------------------------------------------------------------- */

#define LOAFRE__FIND_ARGS_MAX 65536    /* expression arguments (argc) */
#define LOAFRE__FIND_ARG_MAX 65536     /* bytes of one argument */
#define LOAFRE__FIND_WIDTH_MAX 4096    /* -printf field width and precision */
#define LOAFRE__FIND_HINT_UIDS 16      /* uids in a hint set */
#define LOAFRE__FIND_REGEX_ATOMS 65536 /* -regex: atoms once repetitions are expanded */
#define LOAFRE__FIND_REGEX_NULLABLE 512 /* -regex: of them, atoms that may match nothing */

/* One entry as find would see it (its lstat(), plus a few derived facts).
 * Everything is borrowed by loafre__find_eval() for the duration of the
 * call. */
struct loafre__find_entry {
	const char *path;       /* as find prints it: start path, then '/' (unless
	                         * the start path ends with one) and the path
	                         * relative to it; the start path itself at depth 0 */
	size_t start_len;       /* bytes of the start path at the head of path
	                         * (%H is path[0, start_len), %P what follows it
	                         * without its leading '/') */
	const char *name;       /* what -name/-iname match; NULL: derived from path
	                         * like GNU (the last component; at depth 0 the
	                         * start path's last component without trailing
	                         * slashes, "/" for "/") */
	unsigned depth;         /* 0 for the start path, 1 for its entries, ... */
	uint32_t mode;          /* st_mode: type bits and the 07777 permission bits */
	uint32_t uid, gid;      /* owner, group (numeric) */
	uint64_t size;          /* st_size in bytes */
	uint64_t blocks;        /* st_blocks: allocated 512-byte units */
	uint64_t nlink;         /* st_nlink */
	int64_t atime_ns;       /* access time, ns since the epoch */
	int64_t mtime_ns;       /* modification time, ns since the epoch */
	int64_t ctime_ns;       /* status change time, ns since the epoch */
	uint64_t ino;           /* inode number: %i, -inum, -ls */
	uint64_t dev;           /* device number: %D, -xdev (makedev() form) */
	uint64_t rdev;          /* device of a char/block special file: -ls prints
	                         * major(rdev), minor(rdev) instead of the size */
	uint8_t id[16];         /* object identity compared by -samefile (a Lustre
	                         * FID, or dev and ino of a local file) */
	const char *symlink;    /* symlinks: the target (%l, -lname, -ls); NULL
	                         * otherwise */
	uint32_t target_mode;   /* symlinks: st_mode of what the link resolves to
	                         * (stat()); 0 if it does not resolve (dangling),
	                         * S_IFLNK if resolving loops (ELOOP). Used by
	                         * %Y and -xtype; ignored for other types */
	int empty;              /* directories: 1 if they hold no entry (-empty);
	                         * ignored for other types (a regular file is
	                         * empty when size is 0, others never are) */
	const char *fstype;     /* file system type (%F, -fstype); NULL: "unknown" */
};

/* lookup: how -newer, -anewer, -cnewer, -newerXY and -samefile find their
 * reference entry at parse time (GNU find stat()s the path). Fills *ret
 * (only its scalar fields are kept) and returns 0, or a negative errno
 * whose strerror() becomes the message ("find: 'x': No such file or
 * directory"). Also asked whether a misplaced path exists, to add GNU's
 * "possible unquoted pattern" hint. */
typedef int (*loafre__find_lookup_fn)(void *ctx, const char *path,
				      struct loafre__find_entry *ret);

struct loafre__find_opts {
	const char *progname;          /* message prefix, GNU's "find"; NULL: "find" */
	FILE *out;                     /* where actions write; NULL: stdout */
	FILE *warn;                    /* GNU's non-fatal warnings (-printf escapes,
	                                * -perm /000), one line each; NULL: dropped */
	struct timespec now;           /* find's start time (-mtime, -mmin, -ls dates,
	                                * -daystart); {0, 0}: CLOCK_REALTIME at parse */
	loafre__find_lookup_fn lookup; /* reference entries; NULL: every lookup
	                                * fails with ENOENT */
	void *lookup_ctx;              /* passed to lookup */
};

/* What one evaluation decided. */
struct loafre__find_result {
	bool matched; /* the whole expression was true (the implicit -print, if
	               * any, included); false when not evaluated (depth) or
	               * when -quit stopped it */
	bool prune;   /* do not descend into this entry: -prune was evaluated,
	               * or the entry is at -maxdepth, or -xdev and it is on
	               * another device than its start path */
	bool quit;    /* -quit: evaluate nothing more, call loafre__find_finish() */
};

/* Type mask bits of struct loafre__find_hints: bit (mode >> 12) for each
 * S_IFMT value (S_IFREG >> 12 == 8, S_IFDIR >> 12 == 4, ...). */
#define LOAFRE__FIND_TYPE_BIT(mode) (1u << (((uint32_t)(mode) & 0170000u) >> 12))
#define LOAFRE__FIND_TYPES_ALL 0xffffu

/* Constraints that hold for every entry on which the expression can have
 * any effect (print, count, prune, quit), so an index may skip the other
 * entries (only those: never their descendants, which keep their own
 * chance). Taken, conservatively, from the tests at the top level of the
 * expression that are evaluated before its first action or -prune; an
 * entry outside the hints may still be passed, loafre__find_eval() stays
 * authoritative. A range whose min > max means nothing can match. */
struct loafre__find_hints {
	unsigned mindepth;        /* entries shallower are not evaluated */
	unsigned maxdepth;        /* deeper entries are not visited; UINT32_MAX: none */
	bool post_order;          /* -depth: GNU visits a directory after its
	                           * contents (and -prune has no effect) */
	uint32_t types;           /* LOAFRE__FIND_TYPE_BIT()s of the possible types
	                           * (of mode, not of a symlink's target) */
	const char *name;         /* the exact name (-name without wildcards), or NULL */
	const char *name_prefix;  /* every name starts with this (may be ""), or NULL */
	const char *name_suffix;  /* every name ends with this (may be ""), or NULL */
	const char *name_glob;    /* every name matches this fnmatch(3) glob (flags 0:
	                           * a case-sensitive -name), or NULL */
	const char *name_iglob;   /* every name matches this glob with FNM_CASEFOLD
	                           * (an -iname), or NULL; unused when name_glob,
	                           * name, name_prefix or name_suffix is given */
	uint64_t size_min, size_max;     /* st_size range, bytes, inclusive */
	uint32_t uid_min, uid_max;       /* uid range, inclusive */
	unsigned n_uids;                 /* > 0: the uid is one of uids[] */
	uint32_t uids[LOAFRE__FIND_HINT_UIDS];
	uint32_t gid_min, gid_max;       /* gid range, inclusive */
	int64_t mtime_min_ns, mtime_max_ns; /* inclusive ranges, ns since the epoch */
	int64_t atime_min_ns, atime_max_ns;
	int64_t ctime_min_ns, ctime_max_ns;
};

struct loafre__find;

/* Index of the first expression argument in argv[0..argc) (the arguments
 * after the command name): GNU's rule, the leading arguments that neither
 * start with '-' (other than "-" itself) nor are exactly "(" or "!" are
 * start paths (so a leading ")" or "," is a path). */
int loafre__find_split(int argc, char *const argv[]);

/* Compiles the expression argv[0..argc) (the arguments after the start
 * paths; argc == 0 means -print). On success *ret owns the expression.
 * On a bad expression returns -EINVAL with GNU find's message(s) in err
 * (each line prefixed with the progname, several lines separated by '\n',
 * no final newline; GNU exits with status 1); -ENOMEM; -E2BIG beyond the
 * limits above. Warnings GNU prints while parsing go to opts->warn. */
int loafre__find_parse(int argc, char *const argv[], const struct loafre__find_opts *opts,
		       struct loafre__find **ret, char *err, size_t errlen);

/* Evaluates the expression on one entry and performs its actions (output
 * to opts->out). 0, or -EIO if the output stream has failed. */
int loafre__find_eval(struct loafre__find *f, const struct loafre__find_entry *e,
		      struct loafre__find_result *ret);

/* Ends the run: prints the -count total (if the expression has -count)
 * and flushes the output. 0 or -EIO. */
int loafre__find_finish(struct loafre__find *f);

/* The hints (see struct loafre__find_hints); 0. */
int loafre__find_hints(const struct loafre__find *f, struct loafre__find_hints *ret);

void loafre__find_free(struct loafre__find *f);

#endif
