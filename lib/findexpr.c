/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * findexpr.c — GNU find's expression language over abstract entries (see
 * findexpr.h). The reference is the behaviour of GNU findutils 4.9.0 (Debian
 * 12) observed on real trees, in the C locale; tests/unit/test_findexpr.c
 * compares this module with it. docs/find.md is the user's description.
 *
 * SYNTAX. The expression is a sequence of arguments:
 *   primaries   tests, actions and options below (an option is a primary
 *               that is always true, wherever it stands: GNU's rule;
 *               -daystart alone inserts nothing)
 *   operators   ( EXPR )   ! EXPR  -not EXPR   EXPR [-a|-and] EXPR
 *               EXPR -o|-or EXPR   EXPR , EXPR
 *   precedence  ! (4) > -a, implicit between juxtaposed primaries (3) >
 *               -o (2) > , (1); all binary operators left-associative.
 *   default     if no primary is an action (-print -print0 -printf -ls
 *               -count; -prune and -quit are not actions), EXPR becomes
 *               ( EXPR ) -print; an empty EXPR is -print.
 *   start paths loafre__find_split(): the leading arguments that neither
 *               start with '-' (except "-" itself) nor are "(" or "!".
 *
 * NUMBERS. N in -links -inum -uid -gid: [+|-] then a decimal as strtoumax
 * reads it (leading blanks and one '+' allowed, no trailing bytes);
 * +N means more than N, -N less than N. -size N[bcwkMG]: same, the unit is
 * the last byte (default b = 512 bytes, c 1, w 2, k 1024, M 2^20, G 2^30),
 * the size is rounded up to whole units before comparing. -mtime -atime
 * -ctime (days) and -mmin -amin -cmin (minutes): [+|-] then a strtod()
 * number (fractions allowed; nan refused). -maxdepth/-mindepth: digits
 * only, at most INT_MAX.
 *
 * TIMES (GNU's arithmetic). now = opts->now; day_start = now - 86400 s,
 * or, after -daystart, today's local midnight. Days: origin = day_start,
 * plus 86399 s for -N; ref = origin - N days; minutes: origin = day_start +
 * 86400 s, ref = origin - N minutes. +N matches t < ref, -N t > ref, N
 * ref < t <= ref + window (86400 s or 60 s); t in ns. So -mtime 0 is
 * "less than 24 h ago", -mtime +1 "more than 48 h ago", -mtime -1 "less
 * than 24 h and 1 s ago", -mmin -5 "less than 5 minutes ago", -mmin 0 "in
 * the next minute". -newer F: t_entry.mtime > F.mtime; -anewer/-cnewer
 * compare atime/ctime with F's mtime; -newerXY compares the entry's X with
 * F's Y (a c m; Y = t: a date, see below; B, birth time: refused as GNU 4.9
 * on Linux refuses it).
 *
 * TESTS. -name/-iname PATTERN: fnmatch() of the name (flags 0 or
 * FNM_CASEFOLD: no FNM_PERIOD, no FNM_PATHNAME); -path/-wholename,
 * -ipath/-iwholename: fnmatch() of the whole path; -lname/-ilname: of a
 * symlink's target; -regex/-iregex: glibc re_match() of the whole path
 * (the match must span it), syntax per the last -regextype before it
 * (findutils-default = RE_SYNTAX_EMACS|RE_DOT_NEWLINE, ed, emacs, gnu-awk,
 * grep, posix-awk, awk, posix-basic, posix-egrep, egrep, posix-extended,
 * posix-minimal-basic, sed), RE_ICASE for -iregex. -type/-xtype L[,L...]
 * with L in b c d p f l s (D is refused like GNU; -xtype looks through a
 * symlink: target_mode). -empty, -links, -inum, -uid, -gid, -user NAME|ID,
 * -group NAME|ID (resolved once), -nouser, -nogroup (getpwuid_r /
 * getgrgid_r find nothing), -perm MODE / -MODE / /MODE (exact / all of /
 * any of, /0 matches everything; MODE octal or chmod-style symbolic, applied
 * to 0, with X meaning x for directories and, as chmod does, '=' keeping a
 * directory's setuid/setgid bits unless it names them), -samefile F (the
 * entry id), -fstype T, -true, -false.
 *
 * ACTIONS. -print (path "\n"), -print0 (path "\0"), -printf FORMAT, -ls,
 * -prune (true; do not descend; no effect with -depth), -quit (stop now:
 * the rest of the expression is not evaluated), -count (loafre's: true;
 * counts the entry, once however many -count it meets; it is an action, so
 * no implicit -print; loafre__find_finish() prints the number alone on a
 * line, "0" if nothing was counted).
 *
 * OPTIONS (true where they stand, global effect): -maxdepth N, -mindepth N
 * (last one wins), -depth/-d, -xdev/-mount, -noleaf, -warn, -nowarn,
 * -ignore_readdir_race, -noignore_readdir_race, -regextype T (affects later
 * -regex), -daystart (affects later time tests; inserts nothing).
 *
 * -printf FORMAT. Escapes \a \b \c (stop this format) \f \n \r \t \v \\
 * \NNN (1-3 octal digits, value & 0xff); any other \x is printed as is
 * (warning). Directives %[flags][width][.precision]X, flags among "-+ #"
 * (a 0 starting the width pads numbers with zeros), width and precision at
 * most LOAFRE__FIND_WIDTH_MAX; as strings (precision truncates): %p %f %h
 * %H %P %s %b %k %n %i %D %u %g %U %G %y %Y %l %M %F and the times; as
 * numbers: %d (printf %d), %m (printf %o; # adds the 0), %S (printf %g).
 * Times: %a %c %t ("Thu Jan  2 03:04:05.1234567890 2020"), %A@ %C@ %T@
 * (seconds.fraction, 10 fraction digits) and %Ak %Ck %Tk for k in
 * abcdeghjklmnprstuwxyzABCDFGHIMPRSTUVWXYZ% (strftime, local time; S T X
 * and + ("%Y-%m-%d+%H:%M:%S") get the ".NNNNNNNNN0" fraction); another k
 * prints "%k". %B (birth time) prints nothing (GNU 4.9 on Linux has none;
 * "%B@" prints GNU's "-1.-000000010"). %% is "%", "%<flags>%" prints
 * "%<flags>"; an unknown directive is printed as is (warning); "%" at the
 * end, "%{" "%[" "%(" are errors; %Z (SELinux) is refused.
 *
 * -ls. GNU's line: inode, 1 KiB blocks (rounded up), mode string, links,
 * owner, group, size (or "major, minor" for devices), date ("%b %e %H:%M"
 * if within 180 days before now to 1 hour after, else "%b %e  %Y"), path,
 * " -> target" for symlinks. Columns start at widths 9 6 3 8 8 8 (major
 * and minor 3) and grow to the widest value printed so far by this
 * expression (a numeric owner or group counts its trailing blank, as GNU's
 * does). Names are escaped byte by byte: \b \t \n \f \r, "\ " for a blank,
 * \" \\, \NNN for bytes outside 0x21..0x7e.
 *
 * -newerXt DATE (GNU reads any date; this reads): @SECONDS[.FRAC],
 * YYYY-MM-DD, optionally followed by [T| ]HH:MM[:SS[.FRAC]], optionally
 * followed by [ ]Z, [ ]UTC or [ ]+HH[:]MM / -HH[:]MM; local time otherwise.
 *
 * ERRORS are GNU's, word for word (C-locale quoting), with the progname
 * instead of "find"; parsing stops at the first. Left to right: argument
 * errors ("unknown predicate `-foo'", "missing argument to `-name'",
 * "paths must precede expression: `x'" plus, when opts->lookup finds x,
 * "possible unquoted pattern after predicate `-name'?", each predicate's
 * own), then the structure ("invalid expression; ..."). One deliberate
 * difference: for "%" followed only by flags at the end of a -printf format
 * GNU prints a NUL byte in its message; this omits it.
 *
 * LIMITS. LOAFRE__FIND_ARGS_MAX arguments of LOAFRE__FIND_ARG_MAX bytes;
 * -printf widths; a -regex that glibc would compile into too large an
 * automaton (LOAFRE__FIND_REGEX_ATOMS atoms once repetitions are expanded,
 * or LOAFRE__FIND_REGEX_NULLABLE that may match nothing: "(a?){8192}" takes
 * glibc 5 GB) is refused, see regex_cost().
 * Not supported (an error naming the predicate): -exec -execdir -ok
 * -okdir -delete -fprint -fprint0 -fprintf -fls -readable -writable
 * -executable -context -follow -used -files0-from -help -version, and the
 * leading options -H -L -P -D -O (before the start paths).
 */
#include "findexpr.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"

#define NS_PER_SEC 1000000000LL
#define DAY_SECS 86400
#define SIX_MONTHS_SECS (180LL * DAY_SECS) /* -ls: older dates show the year */
#define LS_FUTURE_SECS 3600                /* -ls: newer dates show the year */
#define IDCACHE 64                         /* uid/gid -> name cache slots */
#define PW_BUF_MAX (1u << 20)              /* getpw*_r buffer limit */

/* ---- the compiled expression ---------------------------------------------- */

enum kind {
	/* tests */
	K_TRUE,
	K_FALSE,
	K_NAME,     /* u.glob, flag: FNM_CASEFOLD */
	K_PATH,     /* u.glob, flag: FNM_CASEFOLD */
	K_LNAME,    /* u.glob, flag: FNM_CASEFOLD */
	K_REGEX,    /* u.re */
	K_TYPE,     /* u.types */
	K_XTYPE,    /* u.types */
	K_SIZE,     /* cmp, u.num (n units of u.num.unit bytes) */
	K_LINKS,    /* cmp, u.num.n */
	K_INUM,     /* cmp, u.num.n */
	K_UID,      /* cmp, u.num.n */
	K_GID,      /* cmp, u.num.n */
	K_NOUSER,
	K_NOGROUP,
	K_TIME,     /* flag: field; cmp; u.time */
	K_NEWER,    /* flag: field; u.time.ref */
	K_EMPTY,
	K_PERM,     /* flag: enum perm_kind; u.perm[0] files, [1] directories */
	K_SAMEFILE, /* u.id */
	K_FSTYPE,   /* u.str */
	/* actions and their kin */
	K_PRUNE,
	K_QUIT,
	K_PRINT,
	K_PRINT0,
	K_PRINTF, /* u.fmt */
	K_LS,
	K_COUNT,
	/* operators */
	K_AND,
	K_OR,
	K_NOT,
	K_COMMA,
	K_OPEN,
	K_CLOSE,
};

enum cmp { CMP_EQ, CMP_GT, CMP_LT };
enum perm_kind { PERM_EXACT, PERM_ALL, PERM_ANY };
enum tfield { TF_A, TF_C, TF_M };

/* precedences, GNU's numbering */
#define PREC_NONE 0
#define PREC_COMMA 1
#define PREC_OR 2
#define PREC_AND 3
#define PREC_NOT 4

/* -printf */
enum seg_type { SEG_LIT, SEG_DIR, SEG_STOP };
#define FL_MINUS 1u
#define FL_PLUS 2u
#define FL_SPACE 4u
#define FL_HASH 8u
#define FL_ZERO 16u

struct seg {
	uint8_t type;    /* enum seg_type */
	char conv;       /* SEG_DIR: the directive letter */
	char tconv;      /* SEG_DIR with conv A B C T: the time letter */
	uint8_t flags;   /* SEG_DIR: FL_* */
	int width;       /* SEG_DIR: -1 when absent */
	int prec;        /* SEG_DIR: -1 when absent */
	size_t off, len; /* SEG_LIT: bytes of pfmt.lit */
};

struct pfmt {
	struct seg *segs; /* in order */
	size_t n;         /* segments */
	char *lit;        /* the literal bytes, escapes resolved */
};

struct glob {
	char *pat;    /* the pattern (owned) */
	char *exact;  /* K_NAME hints, owned, NULL when none: the literal name */
	char *prefix; /* the literal head */
	char *suffix; /* the literal tail */
};

struct node {
	uint8_t kind;    /* enum kind */
	uint8_t prec;    /* PREC_* (operators), PREC_NONE otherwise */
	uint8_t cmp;     /* enum cmp (numeric and time tests) */
	uint8_t flag;    /* per kind, see enum kind */
	bool artificial; /* added by the implicit "( EXPR ) -print" */
	const char *name; /* as typed, for messages (borrowed from argv, parse only) */
	struct node *left, *right; /* operators (! uses right) */
	union {
		struct glob glob;
		struct re_pattern_buffer *re;  /* owned */
		uint32_t types;                /* LOAFRE__FIND_TYPE_BIT()s */
		struct {
			uint64_t n;    /* the number */
			uint64_t unit; /* K_SIZE: bytes per unit */
		} num;
		struct {
			int64_t ref;    /* reference time, ns (saturated) */
			int64_t window; /* CMP_EQ: ns */
		} time;
		uint32_t perm[2]; /* [0] other files, [1] directories */
		uint8_t id[16];
		char *str;        /* owned */
		struct pfmt *fmt; /* owned */
	} u;
};

struct idname {
	uint32_t id;  /* the uid or gid */
	int8_t state; /* 0: empty slot, 1: name, -1: no such id */
	char *name;   /* state 1: owned */
};

struct loafre__find {
	struct node *nodes;       /* every node, in argument order */
	size_t n_nodes;           /* used */
	size_t cap_nodes;         /* allocated */
	struct node *root;        /* the tree */
	char *progname;           /* owned */
	FILE *out;                /* actions write here */
	FILE *warn;               /* NULL: warnings dropped */
	int64_t now_ns;           /* find's start time */
	unsigned mindepth;        /* -mindepth */
	unsigned maxdepth;        /* -maxdepth, UINT_MAX: none */
	bool depth_first;         /* -depth */
	bool xdev;                /* -xdev/-mount */
	uint64_t root_dev;        /* -xdev: the device of the last depth-0 entry */
	bool has_count;           /* the expression holds -count */
	bool counted;             /* this entry was counted */
	uint64_t count;           /* -count total */
	bool quitting;            /* -quit was evaluated */
	bool prune;               /* -prune was evaluated on this entry */
	int out_err;              /* first output error (negative errno) */
	int w_ino, w_blk, w_nlink, w_owner, w_group, w_size, w_major, w_minor; /* -ls columns */
	struct idname users[IDCACHE];  /* uid -> name */
	struct idname groups[IDCACHE]; /* gid -> name */
	char *scratch;            /* eval: a NUL-terminated copy of a name */
	size_t scratch_cap;
};

/* ---- small helpers ------------------------------------------------------- */

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int64_t sat_mul(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
	return r;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return sat_add(sat_mul((int64_t)ts->tv_sec, NS_PER_SEC), (int64_t)ts->tv_nsec);
}

/* ns since the epoch -> seconds (floor) and 0..999999999 ns */
static void split_ns(int64_t ns, int64_t *sec, long *nsec)
{
	int64_t s = ns / NS_PER_SEC, r = ns % NS_PER_SEC;
	if (r < 0) {
		r += NS_PER_SEC;
		s--;
	}
	*sec = s;
	*nsec = (long)r;
}

/* ---- output -------------------------------------------------------------- */

static void out_bytes(struct loafre__find *f, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, f->out) != n && !f->out_err)
		f->out_err = -EIO;
}

static void out_str(struct loafre__find *f, const char *s)
{
	out_bytes(f, s, strlen(s));
}

static void out_pad(struct loafre__find *f, size_t n)
{
	static const char blanks[32] = "                                ";
	while (n) {
		size_t k = n < sizeof(blanks) ? n : sizeof(blanks);
		out_bytes(f, blanks, k);
		n -= k;
	}
}

/* printf("%-*.*s")-like: precision truncates, width pads with blanks. */
static void out_field(struct loafre__find *f, const struct seg *sg, const char *s, size_t len)
{
	if (sg->prec >= 0 && (size_t)sg->prec < len)
		len = (size_t)sg->prec;
	size_t pad = sg->width > 0 && (size_t)sg->width > len ? (size_t)sg->width - len : 0;
	if (!(sg->flags & FL_MINUS))
		out_pad(f, pad);
	out_bytes(f, s, len);
	if (sg->flags & FL_MINUS)
		out_pad(f, pad);
}

/* A number already converted to text (digits, no sign) with printf's
 * integer rules: precision is the minimum number of digits (0 and value 0
 * print nothing), sign flags, 0 flag, width. */
static void out_number(struct loafre__find *f, const struct seg *sg, const char *digits,
		       const char *sign, bool zero_allowed)
{
	char buf[2 * LOAFRE__FIND_WIDTH_MAX + 128];
	size_t nd = strlen(digits), len = 0, sl = strlen(sign);

	memcpy(buf, sign, sl);
	len = sl;
	if (sg->prec >= 0 && (size_t)sg->prec > nd) {
		memset(buf + len, '0', (size_t)sg->prec - nd);
		len += (size_t)sg->prec - nd;
	}
	memcpy(buf + len, digits, nd);
	len += nd;
	if (zero_allowed && (sg->flags & FL_ZERO) && !(sg->flags & FL_MINUS) && sg->width > 0 &&
	    (size_t)sg->width > len) {
		size_t z = (size_t)sg->width - len;
		memmove(buf + sl + z, buf + sl, len - sl);
		memset(buf + sl, '0', z);
		len += z;
	}
	struct seg plain = *sg;
	plain.prec = -1;
	out_field(f, &plain, buf, len);
}

static void out_int(struct loafre__find *f, const struct seg *sg, int64_t v)
{
	char digits[32];
	const char *sign = v < 0 ? "-" : (sg->flags & FL_PLUS) ? "+" : (sg->flags & FL_SPACE) ? " " : "";
	uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	if (m == 0 && sg->prec == 0)
		digits[0] = '\0';
	else
		snprintf(digits, sizeof(digits), "%" PRIu64, m);
	out_number(f, sg, digits, sign, sg->prec < 0);
}

static void out_octal(struct loafre__find *f, const struct seg *sg, uint32_t v)
{
	char digits[32];

	if (v == 0 && sg->prec == 0)
		digits[0] = '\0';
	else
		snprintf(digits, sizeof(digits), "%o", v);
	if ((sg->flags & FL_HASH) && digits[0] != '0' &&
	    !(sg->prec >= 0 && (size_t)sg->prec > strlen(digits))) {
		memmove(digits + 1, digits, strlen(digits) + 1);
		digits[0] = '0';
	}
	out_number(f, sg, digits, "", sg->prec < 0);
}

static void out_double(struct loafre__find *f, const struct seg *sg, double v)
{
	char digits[LOAFRE__FIND_WIDTH_MAX + 128];
	int prec = sg->prec < 0 ? 6 : sg->prec;
	const char *sign = signbit(v) ? "-" : (sg->flags & FL_PLUS) ? "+" : (sg->flags & FL_SPACE) ? " " : "";

	if (sg->flags & FL_HASH)
		snprintf(digits, sizeof(digits), "%#.*g", prec, fabs(v));
	else
		snprintf(digits, sizeof(digits), "%.*g", prec, fabs(v));
	struct seg s2 = *sg;
	s2.prec = -1;
	out_number(f, &s2, digits, sign, true);
}

/* -ls escaping of a name, byte by byte. */
static void out_ls_quoted(struct loafre__find *f, const char *s)
{
	char buf[8];
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const char *esc = NULL;
		switch (*p) {
		case '\b': esc = "\\b"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\f': esc = "\\f"; break;
		case '\r': esc = "\\r"; break;
		case ' ': esc = "\\ "; break;
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		default:
			if (*p < 0x21 || *p > 0x7e) {
				snprintf(buf, sizeof(buf), "\\%03o", *p);
				esc = buf;
			}
		}
		if (esc)
			out_str(f, esc);
		else
			out_bytes(f, p, 1);
	}
}

/* ---- entries ------------------------------------------------------------- */

/* The last component of path[0, len) ignoring trailing slashes: [*b, *e).
 * Returns false for a path of slashes only (or empty). */
static bool last_component(const char *p, size_t len, size_t *b, size_t *e)
{
	size_t end = len;
	while (end > 0 && p[end - 1] == '/')
		end--;
	if (end == 0)
		return false;
	size_t beg = end;
	while (beg > 0 && p[beg - 1] != '/')
		beg--;
	*b = beg;
	*e = end;
	return true;
}

static int scratch_set(struct loafre__find *f, const char *s, size_t n, const char **ret)
{
	if (n + 1 > f->scratch_cap) {
		size_t cap = n + 1 < 256 ? 256 : n + 1;
		char *p = realloc(f->scratch, cap);
		if (!p)
			return -ENOMEM;
		f->scratch = p;
		f->scratch_cap = cap;
	}
	memcpy(f->scratch, s, n);
	f->scratch[n] = '\0';
	*ret = f->scratch;
	return 0;
}

/* What -name matches. */
static const char *entry_name(struct loafre__find *f, const struct loafre__find_entry *e)
{
	size_t len, b, end;
	const char *r;

	if (e->name)
		return e->name;
	len = strlen(e->path);
	if (!last_component(e->path, len, &b, &end))
		return len ? "/" : "";
	if (end == len)
		return e->path + b;
	if (scratch_set(f, e->path + b, end - b, &r) < 0)
		return e->path + b; /* no memory: with its trailing slashes */
	return r;
}

static char type_letter(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return 'f';
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	default: return 'U';
	}
}

static void mode_string(uint32_t mode, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";
	char t;
	switch (mode & S_IFMT) {
	case S_IFREG: t = '-'; break;
	case S_IFDIR: t = 'd'; break;
	case S_IFLNK: t = 'l'; break;
	case S_IFCHR: t = 'c'; break;
	case S_IFBLK: t = 'b'; break;
	case S_IFIFO: t = 'p'; break;
	case S_IFSOCK: t = 's'; break;
	default: t = '?'; break;
	}
	out[0] = t;
	for (int i = 0; i < 9; i++)
		out[1 + i] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & S_ISUID)
		out[3] = (mode & S_IXUSR) ? 's' : 'S';
	if (mode & S_ISGID)
		out[6] = (mode & S_IXGRP) ? 's' : 'S';
	if (mode & S_ISVTX)
		out[9] = (mode & S_IXOTH) ? 't' : 'T';
	out[10] = '\0';
}

/* uid/gid -> name through a small cache; NULL when the id has no name. */
static const char *id_name(struct loafre__find *f, bool group, uint32_t id)
{
	struct idname *slot = &(group ? f->groups : f->users)[id % IDCACHE];
	size_t cap = 1024;
	char *buf = NULL, *name = NULL;
	int found = 0;

	if (slot->state && slot->id == id)
		return slot->state > 0 ? slot->name : NULL;
	for (;;) {
		char *nb = realloc(buf, cap);
		int rc;
		if (!nb)
			goto out;
		buf = nb;
		if (group) {
			struct group gr, *res = NULL;
			rc = getgrgid_r((gid_t)id, &gr, buf, cap, &res);
			if (rc == 0 && res) {
				name = strdup(gr.gr_name);
				found = 1;
			}
		} else {
			struct passwd pw, *res = NULL;
			rc = getpwuid_r((uid_t)id, &pw, buf, cap, &res);
			if (rc == 0 && res) {
				name = strdup(pw.pw_name);
				found = 1;
			}
		}
		if (rc == ERANGE && cap < PW_BUF_MAX) {
			cap *= 2;
			continue;
		}
		break;
	}
	if (found && !name)
		goto out; /* no memory: not cached, printed as a number */
	free(slot->name);
	slot->id = id;
	slot->state = found ? 1 : -1;
	slot->name = name;
out:
	free(buf);
	return slot->state > 0 && slot->id == id ? slot->name : NULL;
}

/* ---- parsing: messages --------------------------------------------------- */

struct parser {
	struct loafre__find *f;
	const struct loafre__find_opts *opts;
	char *const *argv;
	int argc;
	int i;                 /* next argument */
	char *err;             /* the caller's buffer */
	size_t errlen;
	bool failed;           /* an error was reported */
	int rc;                /* what to return when failed */
	reg_syntax_t syntax;   /* -regextype */
	int64_t day_start;     /* GNU's cur_day_start, ns */
	bool full_days;        /* -daystart seen */
	bool has_action;       /* an action disables the implicit -print */
	const char *last_name; /* the last predicate read (GNU's hint) */
	size_t pos;            /* tree building: next node */
};

static void perr_v(struct parser *p, bool append, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void perr_v(struct parser *p, bool append, const char *fmt, va_list ap)
{
	size_t used = 0;
	if (!p->errlen)
		return;
	if (append) {
		used = strlen(p->err);
		if (used + 1 >= p->errlen)
			return;
		p->err[used++] = '\n';
		p->err[used] = '\0';
	}
	int n = snprintf(p->err + used, p->errlen - used, "%s: ", p->f->progname);
	if (n < 0 || (size_t)n >= p->errlen - used)
		return;
	vsnprintf(p->err + used + (size_t)n, p->errlen - used - (size_t)n, fmt, ap);
}

static void perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	if (p->failed)
		return;
	p->failed = true;
	p->rc = -EINVAL;
	va_start(ap, fmt);
	perr_v(p, false, fmt, ap);
	va_end(ap);
}

static void perr_more(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr_more(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	perr_v(p, true, fmt, ap);
	va_end(ap);
}

static void nomem(struct parser *p)
{
	if (p->failed)
		return;
	p->failed = true;
	p->rc = -ENOMEM;
	if (p->errlen)
		snprintf(p->err, p->errlen, "%s: %s", p->f->progname, strerror(ENOMEM));
}

static void pwarn(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pwarn(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	FILE *w = p->f->warn;
	if (!w)
		return;
	fprintf(w, "%s: warning: ", p->f->progname);
	va_start(ap, fmt);
	vfprintf(w, fmt, ap);
	va_end(ap);
	fputc('\n', w);
}

/* ---- parsing: arguments -------------------------------------------------- */

/* [+|-] then what strtoumax accepts (blanks, one '+'), nothing after. */
static bool parse_cmp_u64(const char *s, enum cmp *cmp, uint64_t *ret)
{
	const char *q;
	char *end;

	*cmp = CMP_EQ;
	if (*s == '+') {
		*cmp = CMP_GT;
		s++;
	} else if (*s == '-') {
		*cmp = CMP_LT;
		s++;
	}
	for (q = s; isspace((unsigned char)*q); q++)
		;
	if (*q == '-' || !(isdigit((unsigned char)*q) || (*q == '+' && isdigit((unsigned char)q[1]))))
		return false;
	errno = 0;
	uintmax_t v = strtoumax(s, &end, 10);
	if (errno || *end || v > UINT64_MAX)
		return false;
	*ret = (uint64_t)v;
	return true;
}

static struct node *add_node(struct parser *p, enum kind kind, const char *name)
{
	struct loafre__find *f = p->f;
	struct node *n = &f->nodes[f->n_nodes++];

	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->name = name;
	switch (kind) {
	case K_AND: n->prec = PREC_AND; break;
	case K_OR: n->prec = PREC_OR; break;
	case K_COMMA: n->prec = PREC_COMMA; break;
	case K_NOT: n->prec = PREC_NOT; break;
	default: n->prec = PREC_NONE; break;
	}
	return n;
}

static bool is_primary(const struct node *n)
{
	return n->kind < K_AND;
}

/* A primary, "(" or "!" right after a primary or ")" gets an implicit -a. */
static struct node *add_operand(struct parser *p, enum kind kind, const char *name)
{
	struct loafre__find *f = p->f;
	if (f->n_nodes) {
		const struct node *last = &f->nodes[f->n_nodes - 1];
		if (is_primary(last) || last->kind == K_CLOSE)
			add_node(p, K_AND, "-a");
	}
	return add_node(p, kind, name);
}

/* the next argument of predicate `name`, NULL (and the error) if none */
static const char *need_arg(struct parser *p, const char *name)
{
	if (p->i >= p->argc) {
		perr(p, "missing argument to `%s'", name);
		return NULL;
	}
	return p->argv[p->i++];
}

static char *xstrdup(struct parser *p, const char *s)
{
	char *r = strdup(s);
	if (!r)
		nomem(p);
	return r;
}

/* -name hints: literal head, tail and (when no wildcard) the whole name.
 * Tokens: an escaped byte, '?', '*', a bracket expression (GNU fnmatch:
 * "[!" or "[^" negate, a ']' right after the opening is literal; an
 * unclosed '[' is a literal '['), or a literal byte. */
static int glob_hints(struct glob *g)
{
	const char *s = g->pat;
	size_t n = strlen(s);
	char *lit = malloc(n + 1), *pre = NULL, *suf = NULL;
	size_t nl = 0, pre_len = 0;
	bool wild = false, in_suffix_run = false;
	size_t suf_start = 0;
	int rc = -ENOMEM;

	if (!lit)
		return -ENOMEM;
	for (size_t i = 0; i < n;) {
		char c = s[i];
		bool is_lit = true;
		char lc = c;
		size_t adv = 1;
		if (c == '\\' && i + 1 < n) {
			lc = s[i + 1];
			adv = 2;
		} else if (c == '?' || c == '*') {
			is_lit = false;
		} else if (c == '[') {
			size_t j = i + 1;
			if (j < n && (s[j] == '!' || s[j] == '^'))
				j++;
			if (j < n && s[j] == ']')
				j++;
			while (j < n && s[j] != ']') {
				if (s[j] == '[' && j + 1 < n && (s[j + 1] == ':' || s[j + 1] == '.' || s[j + 1] == '=')) {
					char close = s[j + 1];
					size_t k = j + 2;
					while (k + 1 < n && !(s[k] == close && s[k + 1] == ']'))
						k++;
					if (k + 1 < n)
						j = k + 2;
					else
						j = n;
					continue;
				}
				if (s[j] == '\\' && j + 1 < n)
					j++;
				j++;
			}
			if (j < n) { /* closed */
				is_lit = false;
				adv = j + 1 - i;
			}
		}
		if (is_lit) {
			if (!in_suffix_run) {
				in_suffix_run = true;
				suf_start = nl;
			}
			lit[nl++] = lc;
			if (!wild)
				pre_len = nl;
		} else {
			wild = true;
			in_suffix_run = false;
		}
		i += adv;
	}
	lit[nl] = '\0';
	if (!wild) {
		g->exact = lit;
		lit = NULL;
		rc = 0;
		goto out;
	}
	pre = strndup(lit, pre_len);
	suf = strdup(in_suffix_run ? lit + suf_start : "");
	if (!pre || !suf)
		goto out;
	g->prefix = pre;
	g->suffix = suf;
	pre = suf = NULL;
	rc = 0;
out:
	free(lit);
	free(pre);
	free(suf);
	return rc;
}

static void parse_glob(struct parser *p, enum kind kind, const char *name, bool icase)
{
	const char *a = need_arg(p, name);
	if (!a)
		return;
	struct node *n = add_operand(p, kind, name);
	n->flag = icase ? FNM_CASEFOLD : 0;
	n->u.glob.pat = xstrdup(p, a);
	if (n->u.glob.pat && kind == K_NAME && !icase && glob_hints(&n->u.glob) < 0)
		nomem(p);
}

static const struct {
	const char *name;
	reg_syntax_t syntax;
} regex_types[] = {
	{"findutils-default", RE_SYNTAX_EMACS | RE_DOT_NEWLINE},
	{"ed", RE_SYNTAX_ED},
	{"emacs", RE_SYNTAX_EMACS},
	{"gnu-awk", RE_SYNTAX_GNU_AWK},
	{"grep", RE_SYNTAX_GREP},
	{"posix-awk", RE_SYNTAX_POSIX_AWK},
	{"awk", RE_SYNTAX_AWK},
	{"posix-basic", RE_SYNTAX_POSIX_BASIC},
	{"posix-egrep", RE_SYNTAX_POSIX_EGREP},
	{"egrep", RE_SYNTAX_EGREP},
	{"posix-extended", RE_SYNTAX_POSIX_EXTENDED},
	{"posix-minimal-basic", RE_SYNTAX_POSIX_MINIMAL_BASIC},
	{"sed", RE_SYNTAX_SED},
};

static pthread_mutex_t regex_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t sat_umul(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_add_u(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* What glibc's compiler would build from a regular expression, roughly:
 * *ret_atoms, the atoms once counted repetitions are expanded ("x{n}" is n
 * copies of x, "x+" two), and *ret_nullable, how many of them can match
 * the empty string (under "*" "?" "{0,n}", in a group with an empty or
 * all-optional branch, or copied by "+" or "{m,n}"), whose epsilon closures
 * cost glibc memory quadratic in their number: "(a?){8192}" takes 5 GB.
 * Every "(" "\(" "|" "\|" "{m,n}" "\{m,n\}" "+" "\+" "?" "\?" counts
 * whatever the syntax: an overestimate where they are literal. */
static void regex_cost(const char *s, uint64_t *ret_atoms, uint64_t *ret_nullable)
{
	struct level {
		uint64_t cur, curn;   /* atoms, nullable atoms so far */
		uint64_t bcur, bcurn; /* the same in the current branch */
		bool nullable;        /* a branch so far could match nothing */
		bool alt;             /* the group has '|' */
	} lv[64], *l;
	unsigned depth = 0;
	uint64_t last = 0, lastn = 0, peak = 0, peakn = 0;

	memset(&lv[0], 0, sizeof(lv[0]));
	l = &lv[0];
#define ADD(a, n)                                      \
	do {                                           \
		l->cur = sat_add_u(l->cur, (a));       \
		l->curn = sat_add_u(l->curn, (n));     \
		l->bcur = sat_add_u(l->bcur, (a));     \
		l->bcurn = sat_add_u(l->bcurn, (n));   \
	} while (0)
	for (size_t i = 0; s[i];) {
		bool esc = s[i] == '\\' && s[i + 1];
		char c = esc ? s[i + 1] : s[i];
		size_t adv = esc ? 2 : 1;
		if (l->cur > peak)
			peak = l->cur;
		if (l->curn > peakn)
			peakn = l->curn;
		if ((c == '*' || c == '?' || c == '+' || c == '{') && last == 0) {
			/* an operator with nothing before it (the pattern's start) is
			 * a literal in the emacs and basic syntaxes: an atom the next
			 * operators repeat ("+++...": each '+' doubles it) */
			ADD(1, 0);
			last = 1;
			lastn = 0;
			i += adv;
			continue;
		}
		if (c == '(') {
			if (depth + 1 >= LOAFRE__ARRAY_SIZE(lv)) {
				/* deeper than anyone writes: count it as too much */
				*ret_atoms = *ret_nullable = UINT64_MAX;
				return;
			}
			depth++;
			l = &lv[depth];
			memset(l, 0, sizeof(*l));
			/* where "(" is literal it is an atom "+" can double */
			l->cur = 1;
			last = 1;
			lastn = 0;
		} else if (c == ')' && depth > 0) {
			bool nul = l->nullable || l->bcur == l->bcurn;
			uint64_t g = l->cur ? l->cur : 1, gn = nul ? g : l->curn;
			depth--;
			l = &lv[depth];
			ADD(g, gn);
			last = g;
			lastn = gn;
		} else if (c == '|') {
			if (l->bcur == l->bcurn)
				l->nullable = true;
			l->alt = true;
			l->bcur = l->bcurn = 0;
			/* where "|" is literal it is an atom */
			l->cur = sat_add_u(l->cur, 1);
			last = 1;
			lastn = 0;
		} else if (c == '*' || c == '?') {
			ADD(0, last - lastn);
			lastn = last;
		} else if (c == '+') {
			/* x+ is x x*: a second, optional copy */
			ADD(last, last);
			lastn = sat_add_u(lastn, last);
			last = sat_add_u(last, last);
		} else if (c == '{') {
			uint64_t m = 0, n = 0;
			size_t j = i + adv;
			bool comma = false;
			for (; isdigit((unsigned char)s[j]) && m < 100000000; j++)
				m = m * 10 + (uint64_t)(s[j] - '0');
			if (s[j] == ',') {
				comma = true;
				for (j++; isdigit((unsigned char)s[j]) && n < 100000000; j++)
					n = n * 10 + (uint64_t)(s[j] - '0');
			}
			if (s[j] == '}')
				adv = j + 1 - i;
			else if (s[j] == '\\' && s[j + 1] == '}')
				adv = j + 2 - i;
			uint64_t rep = comma && n > m ? n : m;
			if (rep == 0)
				rep = 1;
			uint64_t nl = sat_umul(last, rep);
			/* optional copies (x{m,n} with n > m, x{0,...}) are nullable */
			uint64_t nn = comma || m == 0 ? nl : sat_umul(lastn, rep);
			ADD(nl - last, nn - lastn);
			last = nl;
			lastn = nn;
		} else {
			if (!esc && c == '[') {
				size_t j = i + 1;
				if (s[j] == '^')
					j++;
				if (s[j] == ']')
					j++;
				while (s[j] && s[j] != ']')
					j++;
				if (s[j])
					adv = j + 1 - i;
			}
			ADD(1, 0);
			last = 1;
			lastn = 0;
		}
		i += adv;
	}
#undef ADD
	/* groups left open count too */
	uint64_t atoms = 0, nullable = 0;
	for (unsigned k = 0; k <= depth; k++) {
		atoms = sat_add_u(atoms, lv[k].cur);
		nullable = sat_add_u(nullable, lv[k].curn);
	}
	*ret_atoms = atoms > peak ? atoms : peak;
	*ret_nullable = nullable > peakn ? nullable : peakn;
}

static void parse_regex(struct parser *p, const char *name, bool icase)
{
	const char *a = need_arg(p, name), *msg;
	struct re_pattern_buffer *re;
	if (!a)
		return;
	uint64_t atoms, nullable;
	regex_cost(a, &atoms, &nullable);
	if (atoms > LOAFRE__FIND_REGEX_ATOMS || nullable > LOAFRE__FIND_REGEX_NULLABLE) {
		perr(p, "regular expression '%s' is too complex (more than %d atoms, or %d that may match nothing, once repetitions are expanded)",
		     a, LOAFRE__FIND_REGEX_ATOMS, LOAFRE__FIND_REGEX_NULLABLE);
		return;
	}
	struct node *n = add_operand(p, K_REGEX, name);
	re = calloc(1, sizeof(*re));
	if (!re) {
		nomem(p);
		return;
	}
	n->u.re = re;
	pthread_mutex_lock(&regex_lock);
	reg_syntax_t old = re_set_syntax(p->syntax | (icase ? RE_ICASE : 0));
	msg = re_compile_pattern(a, strlen(a), re);
	re_set_syntax(old);
	pthread_mutex_unlock(&regex_lock);
	if (msg) {
		regfree(re);
		free(re);
		n->u.re = NULL;
		perr(p, "failed to compile regular expression '%s': %s", a, msg);
	}
}

static void parse_regextype(struct parser *p, const char *name)
{
	const char *a = need_arg(p, name);
	char list[512];
	size_t used = 0;
	if (!a)
		return;
	for (size_t k = 0; k < LOAFRE__ARRAY_SIZE(regex_types); k++) {
		if (!strcmp(a, regex_types[k].name)) {
			p->syntax = regex_types[k].syntax;
			add_operand(p, K_TRUE, name);
			return;
		}
	}
	list[0] = '\0';
	for (size_t k = 0; k < LOAFRE__ARRAY_SIZE(regex_types); k++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s'%s'", k ? ", " : "",
					 regex_types[k].name);
	perr(p, "Unknown regular expression type '%s'; valid types are %s.", a, list);
}

static void parse_type(struct parser *p, const char *name, enum kind kind)
{
	const char *a = need_arg(p, name);
	uint32_t mask = 0;
	if (!a)
		return;
	if (!*a) {
		perr(p, "Arguments to %s should contain at least one letter", name);
		return;
	}
	for (size_t i = 0;;) {
		uint32_t bit;
		switch (a[i]) {
		case 'b': bit = LOAFRE__FIND_TYPE_BIT(S_IFBLK); break;
		case 'c': bit = LOAFRE__FIND_TYPE_BIT(S_IFCHR); break;
		case 'd': bit = LOAFRE__FIND_TYPE_BIT(S_IFDIR); break;
		case 'p': bit = LOAFRE__FIND_TYPE_BIT(S_IFIFO); break;
		case 'f': bit = LOAFRE__FIND_TYPE_BIT(S_IFREG); break;
		case 'l': bit = LOAFRE__FIND_TYPE_BIT(S_IFLNK); break;
		case 's': bit = LOAFRE__FIND_TYPE_BIT(S_IFSOCK); break;
		case 'D':
			perr(p, "%s D is not supported because Solaris doors are not supported on the platform find was compiled on.",
			     name);
			return;
		default:
			perr(p, "Unknown argument to %s: %c", name, a[i]);
			return;
		}
		if (mask & bit) {
			perr(p, "Duplicate file type '%c' in the argument list to %s.", a[i], name);
			return;
		}
		mask |= bit;
		if (!a[i + 1])
			break;
		if (a[i + 1] != ',') {
			perr(p, "Must separate multiple arguments to %s using: ','", name);
			return;
		}
		if (!a[i + 2]) {
			perr(p, "Last file type in list argument to %s is missing, i.e., list is ending on: ','",
			     name);
			return;
		}
		i += 2;
	}
	add_operand(p, kind, name)->u.types = mask;
}

static void parse_num(struct parser *p, const char *name, enum kind kind)
{
	const char *a = need_arg(p, name);
	enum cmp cmp;
	uint64_t v;
	if (!a)
		return;
	if (!parse_cmp_u64(a, &cmp, &v)) {
		perr(p, "invalid argument `%s' to `%s'", a, name);
		return;
	}
	struct node *n = add_operand(p, kind, name);
	n->cmp = (uint8_t)cmp;
	n->u.num.n = v;
	n->u.num.unit = 1;
}

static void parse_size(struct parser *p, const char *name)
{
	const char *a = need_arg(p, name);
	char num[64];
	uint64_t unit, v;
	enum cmp cmp;
	size_t len;
	if (!a)
		return;
	len = strlen(a);
	if (!len) {
		perr(p, "invalid null argument to %s", name);
		return;
	}
	switch (a[len - 1]) {
	case 'b': unit = 512; len--; break;
	case 'c': unit = 1; len--; break;
	case 'w': unit = 2; len--; break;
	case 'k': unit = 1024; len--; break;
	case 'M': unit = 1024 * 1024; len--; break;
	case 'G': unit = 1024 * 1024 * 1024; len--; break;
	default:
		if (!isdigit((unsigned char)a[len - 1])) {
			perr(p, "invalid %s type `%c'", name, a[len - 1]);
			return;
		}
		unit = 512;
	}
	if (len >= sizeof(num)) {
		perr(p, "Invalid argument `%s' to %s", a, name);
		return;
	}
	memcpy(num, a, len);
	num[len] = '\0';
	if (!parse_cmp_u64(num, &cmp, &v)) {
		perr(p, "Invalid argument `%s' to %s", a, name);
		return;
	}
	struct node *n = add_operand(p, K_SIZE, name);
	n->cmp = (uint8_t)cmp;
	n->u.num.n = v;
	n->u.num.unit = unit;
}

static void parse_depth(struct parser *p, const char *name, bool max)
{
	const char *a = need_arg(p, name);
	if (!a)
		return;
	if (!*a || strspn(a, "0123456789") != strlen(a)) {
		perr(p, "Expected a positive decimal integer argument to %s, but got '%s'", name, a);
		return;
	}
	errno = 0;
	unsigned long long v = strtoull(a, NULL, 10);
	if (errno || v > INT_MAX) {
		perr(p, "%s: %s", a, strerror(ERANGE));
		return;
	}
	if (max)
		p->f->maxdepth = (unsigned)v;
	else
		p->f->mindepth = (unsigned)v;
	add_operand(p, K_TRUE, name);
}

/* -mtime & co. (days) and -mmin & co. (minutes): see TIMES at the top. */
static void parse_time(struct parser *p, const char *name, enum tfield field, bool minutes)
{
	const char *a = need_arg(p, name), *s;
	enum cmp cmp = CMP_EQ;
	char *end;
	double v, secs, frac;
	int64_t origin;
	if (!a)
		return;
	s = a;
	if (*s == '+') {
		cmp = CMP_LT; /* older than: t < ref */
		s++;
	} else if (*s == '-') {
		cmp = CMP_GT;
		s++;
	}
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || isnan(v) || (errno == ERANGE && v != 0)) {
		perr(p, "invalid argument `%s' to `%s'", a, name);
		return;
	}
	if (minutes) {
		origin = sat_add(p->day_start, DAY_SECS * NS_PER_SEC);
	} else {
		origin = p->day_start;
		if (cmp == CMP_GT)
			origin = sat_add(origin, (DAY_SECS - 1) * NS_PER_SEC);
	}
	frac = modf(v * (minutes ? 60.0 : (double)DAY_SECS), &secs);
	int64_t ref;
	if (secs >= 9.2e9)
		ref = INT64_MIN;
	else if (secs <= -9.2e9)
		ref = INT64_MAX;
	else
		ref = sat_add(origin, -sat_add(sat_mul((int64_t)secs, NS_PER_SEC), (int64_t)(frac * 1e9)));
	struct node *n = add_operand(p, K_TIME, name);
	n->flag = (uint8_t)field;
	n->cmp = (uint8_t)cmp;
	n->u.time.ref = ref;
	n->u.time.window = (minutes ? 60 : DAY_SECS) * NS_PER_SEC;
}

static int64_t entry_time(const struct loafre__find_entry *e, enum tfield field)
{
	switch (field) {
	case TF_A: return e->atime_ns;
	case TF_C: return e->ctime_ns;
	default: return e->mtime_ns;
	}
}

static bool lookup_ref(struct parser *p, const char *path, struct loafre__find_entry *ret)
{
	int rc = -ENOENT;
	memset(ret, 0, sizeof(*ret));
	if (p->opts && p->opts->lookup)
		rc = p->opts->lookup(p->opts->lookup_ctx, path, ret);
	if (rc < 0) {
		perr(p, "'%s': %s", path, strerror(-rc));
		return false;
	}
	return true;
}

/* days from 1970-01-01 of a proleptic Gregorian date */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool read_digits(const char **s, int n, int *ret)
{
	int v = 0;
	for (int k = 0; k < n; k++) {
		if (!isdigit((unsigned char)(*s)[k]))
			return false;
		v = v * 10 + ((*s)[k] - '0');
	}
	*s += n;
	*ret = v;
	return true;
}

/* -newerXt DATE: the subset documented at the top; ns since the epoch. */
static bool parse_date(const char *s, int64_t *ret)
{
	int Y, M, D, h = 0, m = 0, sec = 0;
	long nsec = 0;
	bool has_zone = false;
	int64_t off = 0;

	if (*s == '@') {
		char *end;
		errno = 0;
		double v = strtod(s + 1, &end);
		if (end == s + 1 || *end || !isfinite(v) || fabs(v) > 9.2e9 ||
		    strspn(s + 1, "+-0123456789.") != strlen(s + 1))
			return false;
		double ip, fp = modf(v, &ip);
		*ret = sat_add(sat_mul((int64_t)ip, NS_PER_SEC), (int64_t)(fp * 1e9));
		return true;
	}
	if (!read_digits(&s, 4, &Y) || *s++ != '-' || !read_digits(&s, 2, &M) || *s++ != '-' ||
	    !read_digits(&s, 2, &D))
		return false;
	if (M < 1 || M > 12 || D < 1 || D > 31)
		return false;
	if (*s == 'T' || (*s == ' ' && isdigit((unsigned char)s[1]))) {
		s++;
		if (!read_digits(&s, 2, &h) || *s++ != ':' || !read_digits(&s, 2, &m))
			return false;
		if (*s == ':') {
			s++;
			if (!read_digits(&s, 2, &sec))
				return false;
			if (*s == '.' || *s == ',') {
				long scale = 100000000;
				s++;
				if (!isdigit((unsigned char)*s))
					return false;
				for (; isdigit((unsigned char)*s); s++) {
					nsec += (*s - '0') * scale;
					scale /= 10;
				}
			}
		}
		if (h > 23 || m > 59 || sec > 60)
			return false;
	}
	if (*s == ' ')
		s++;
	if (!strcmp(s, "Z") || !strcmp(s, "UTC")) {
		has_zone = true;
	} else if (*s == '+' || *s == '-') {
		int zh, zm;
		int sign = *s++ == '-' ? -1 : 1;
		if (!read_digits(&s, 2, &zh))
			return false;
		if (*s == ':')
			s++;
		if (!read_digits(&s, 2, &zm) || *s || zh > 23 || zm > 59)
			return false;
		has_zone = true;
		off = sign * (zh * 3600 + zm * 60);
	} else if (*s) {
		return false;
	}
	int64_t t;
	if (has_zone) {
		t = days_from_civil(Y, (unsigned)M, (unsigned)D) * DAY_SECS + h * 3600 + m * 60 + sec - off;
	} else {
		struct tm tm = {0};
		tm.tm_year = Y - 1900;
		tm.tm_mon = M - 1;
		tm.tm_mday = D;
		tm.tm_hour = h;
		tm.tm_min = m;
		tm.tm_sec = sec;
		tm.tm_isdst = -1;
		time_t tt = mktime(&tm);
		if (tt == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
			return false;
		t = (int64_t)tt;
	}
	*ret = sat_add(sat_mul(t, NS_PER_SEC), nsec);
	return true;
}

static bool tfield_of(char c, enum tfield *ret)
{
	switch (c) {
	case 'a': *ret = TF_A; return true;
	case 'c': *ret = TF_C; return true;
	case 'm': *ret = TF_M; return true;
	default: return false;
	}
}

/* -newer -anewer -cnewer (x: the entry's field) and -newerXY */
static void parse_newer(struct parser *p, const char *name, char x, char y, bool xy)
{
	struct loafre__find_entry ref;
	enum tfield fx = TF_M, fy = TF_M;
	int64_t t;
	const char *a;

	if (xy) {
		x = name[6];
		y = name[7];
		bool ok_x = x == 'B' || tfield_of(x, &fx), ok_y = y == 'B' || y == 't' || tfield_of(y, &fy);
		if (!ok_x || !ok_y || x == 't') {
			perr(p, "invalid predicate `%s'", name);
			return;
		}
		if (x == 'B' || y == 'B') {
			perr(p, "This system does not provide a way to find the birth time of a file.");
			perr_more(p, "invalid predicate `%s'", name);
			return;
		}
		if (p->i >= p->argc) {
			perr(p, "The '%s' test needs an argument", name);
			return;
		}
		a = p->argv[p->i++];
	} else {
		tfield_of(x, &fx);
		a = need_arg(p, name);
		if (!a)
			return;
	}
	if (y == 't') {
		if (!parse_date(a, &t)) {
			perr(p, "I cannot figure out how to interpret '%s' as a date or time", a);
			return;
		}
	} else {
		if (!lookup_ref(p, a, &ref))
			return;
		t = entry_time(&ref, fy);
	}
	struct node *n = add_operand(p, K_NEWER, name);
	n->flag = (uint8_t)fx;
	n->u.time.ref = t;
}

static void parse_user(struct parser *p, const char *name, bool group)
{
	const char *a = need_arg(p, name);
	size_t cap = 1024;
	char *buf = NULL;
	bool found = false;
	uint32_t id = 0;
	if (!a)
		return;
	if (!*a) {
		if (group)
			perr(p, "argument to -group is empty, but should be a group name");
		else
			perr(p, "The argument to -user should not be empty");
		return;
	}
	for (;;) {
		int rc;
		char *nb = realloc(buf, cap);
		if (!nb) {
			free(buf);
			nomem(p);
			return;
		}
		buf = nb;
		if (group) {
			struct group gr, *res = NULL;
			rc = getgrnam_r(a, &gr, buf, cap, &res);
			if (rc == 0 && res) {
				found = true;
				id = (uint32_t)gr.gr_gid;
			}
		} else {
			struct passwd pw, *res = NULL;
			rc = getpwnam_r(a, &pw, buf, cap, &res);
			if (rc == 0 && res) {
				found = true;
				id = (uint32_t)pw.pw_uid;
			}
		}
		if (rc == ERANGE && cap < PW_BUF_MAX) {
			cap *= 2;
			continue;
		}
		break;
	}
	free(buf);
	if (!found) {
		size_t nd = strspn(a, "0123456789");
		if (nd && a[nd] == '\0') {
			errno = 0;
			unsigned long long v = strtoull(a, NULL, 10);
			if (errno || v > INT_MAX) {
				perr(p, "%s: %s", a, strerror(ERANGE));
				return;
			}
			id = (uint32_t)v;
		} else if (group && nd) {
			perr(p, "'%s' is not the name of an existing group and it does not look like a numeric group ID because it has the unexpected suffix '%s'",
			     a, a + nd);
			return;
		} else if (group) {
			perr(p, "'%s' is not the name of an existing group", a);
			return;
		} else {
			perr(p, "'%s' is not the name of a known user", a);
			return;
		}
	}
	struct node *n = add_operand(p, group ? K_GID : K_UID, name);
	n->cmp = CMP_EQ;
	n->u.num.n = id;
	n->u.num.unit = 1;
}

/* -perm: the mode a file whose permission bits are 0 gets from MODE
 * (chmod's syntax, umask 0), for a non-directory or a directory. */
static bool perm_compile(const char *s, bool dir, uint32_t *ret)
{
	uint32_t cur = 0;

	if (*s >= '0' && *s <= '7') {
		for (; *s; s++) {
			if (*s < '0' || *s > '7')
				return false;
			cur = cur * 8 + (uint32_t)(*s - '0');
			if (cur > 07777)
				return false;
		}
		*ret = cur;
		return true;
	}
	for (;;) {
		uint32_t who = 0;
		for (;; s++) {
			if (*s == 'u')
				who |= 04700;
			else if (*s == 'g')
				who |= 02070;
			else if (*s == 'o')
				who |= 01007;
			else if (*s == 'a')
				who |= 07777;
			else
				break;
		}
		uint32_t mask = who ? who : 07777;
		if (*s != '+' && *s != '-' && *s != '=')
			return false;
		while (*s == '+' || *s == '-' || *s == '=') {
			char op = *s++;
			uint32_t value = 0;
			if (*s == 'u' || *s == 'g' || *s == 'o') {
				uint32_t bits = *s == 'u' ? (cur >> 6) & 7 : *s == 'g' ? (cur >> 3) & 7 : cur & 7;
				value = bits * 0111;
				s++;
			} else {
				bool x_if = false;
				for (;; s++) {
					if (*s == 'r')
						value |= 0444;
					else if (*s == 'w')
						value |= 0222;
					else if (*s == 'x')
						value |= 0111;
					else if (*s == 'X')
						x_if = true;
					else if (*s == 's')
						value |= 06000;
					else if (*s == 't')
						value |= 01000;
					else
						break;
				}
				if (x_if && (dir || (cur & 0111)))
					value |= 0111;
			}
			value &= mask;
			if (op == '=') {
				/* like chmod, '=' keeps a directory's setuid and
				 * setgid bits unless it names them */
				uint32_t keep = ~mask | (dir ? 06000 & ~value : 0);
				cur = (cur & keep) | value;
			}
			else if (op == '+')
				cur |= value;
			else
				cur &= ~value;
		}
		if (*s == '\0')
			break;
		if (*s != ',' || s[1] == '\0')
			return false;
		s++;
	}
	*ret = cur;
	return true;
}

static void parse_perm(struct parser *p, const char *name)
{
	const char *a = need_arg(p, name), *m;
	enum perm_kind kind = PERM_EXACT;
	uint32_t v0, v1;
	if (!a)
		return;
	m = a;
	if (*m == '-') {
		kind = PERM_ALL;
		m++;
	} else if (*m == '/') {
		kind = PERM_ANY;
		m++;
	}
	if (!perm_compile(m, false, &v0) || !perm_compile(m, true, &v1)) {
		perr(p, "invalid mode '%s'", a);
		return;
	}
	if (kind == PERM_ANY && v0 == 0 && v1 == 0)
		pwarn(p, "you have specified a mode pattern %s (which is equivalent to /000). The meaning of -perm /000 has now been changed to be consistent with -perm -000; that is, while it used to match no files, it now matches all files.",
		      a);
	struct node *n = add_operand(p, K_PERM, name);
	n->flag = (uint8_t)kind;
	n->u.perm[0] = v0;
	n->u.perm[1] = v1;
}

/* -printf FORMAT -> segments (see -printf at the top). */
static struct pfmt *printf_compile(struct parser *p, const char *s)
{
	size_t n = strlen(s);
	struct pfmt *fmt = calloc(1, sizeof(*fmt));
	if (!fmt)
		goto nomem;
	fmt->lit = malloc(n + 1);
	fmt->segs = calloc(n + 1, sizeof(*fmt->segs)); /* a segment consumes >= 1 byte */
	if (!fmt->lit || !fmt->segs)
		goto nomem;
	size_t nl = 0;
	struct seg *litseg = NULL;
#define LIT_BYTES(src, cnt)                                                              \
	do {                                                                             \
		if (!litseg) {                                                           \
			litseg = &fmt->segs[fmt->n++];                                   \
			litseg->type = SEG_LIT;                                          \
			litseg->off = nl;                                                \
		}                                                                        \
		memcpy(fmt->lit + nl, (src), (cnt));                                     \
		nl += (cnt);                                                             \
		litseg->len += (cnt);                                                    \
	} while (0)

	for (size_t i = 0; i < n;) {
		char c = s[i];
		if (c == '\\') {
			char e = s[i + 1], b;
			if (!e) {
				pwarn(p, "escape `\\' followed by nothing at all");
				LIT_BYTES("\\", 1);
				i++;
				continue;
			}
			if (e >= '0' && e <= '7') {
				unsigned v = 0;
				size_t k = i + 1;
				for (int d = 0; d < 3 && s[k] >= '0' && s[k] <= '7'; d++, k++)
					v = v * 8 + (unsigned)(s[k] - '0');
				b = (char)(v & 0xff);
				LIT_BYTES(&b, 1);
				i = k;
				continue;
			}
			switch (e) {
			case 'a': b = '\a'; break;
			case 'b': b = '\b'; break;
			case 'f': b = '\f'; break;
			case 'n': b = '\n'; break;
			case 'r': b = '\r'; break;
			case 't': b = '\t'; break;
			case 'v': b = '\v'; break;
			case '\\': b = '\\'; break;
			case 'c':
				/* GNU ignores the rest of the format */
				fmt->segs[fmt->n++].type = SEG_STOP;
				litseg = NULL;
				i = n;
				continue;
			default:
				pwarn(p, "unrecognized escape `\\%c'", e);
				LIT_BYTES(s + i, 2);
				i += 2;
				continue;
			}
			LIT_BYTES(&b, 1);
			i += 2;
			continue;
		}
		if (c != '%') {
			LIT_BYTES(&c, 1);
			i++;
			continue;
		}
		/* a directive */
		size_t j = i + 1;
		struct seg sg = {.type = SEG_DIR, .width = -1, .prec = -1};
		if (s[j] == '\0') {
			perr(p, "error: %% at end of format string");
			goto fail;
		}
		if (s[j] == '%') {
			LIT_BYTES("%", 1);
			i = j + 1;
			continue;
		}
		for (;; j++) {
			if (s[j] == '-')
				sg.flags |= FL_MINUS;
			else if (s[j] == '+')
				sg.flags |= FL_PLUS;
			else if (s[j] == ' ')
				sg.flags |= FL_SPACE;
			else if (s[j] == '#')
				sg.flags |= FL_HASH;
			else
				break;
		}
		if (s[j] == '0')
			sg.flags |= FL_ZERO;
		if (isdigit((unsigned char)s[j])) {
			long w = 0;
			for (; isdigit((unsigned char)s[j]); j++) {
				w = w * 10 + (s[j] - '0');
				if (w > LOAFRE__FIND_WIDTH_MAX) {
					perr(p, "-printf: field width or precision larger than %d", LOAFRE__FIND_WIDTH_MAX);
					goto fail;
				}
			}
			sg.width = (int)w;
		}
		if (s[j] == '.') {
			long w = 0;
			for (j++; isdigit((unsigned char)s[j]); j++) {
				w = w * 10 + (s[j] - '0');
				if (w > LOAFRE__FIND_WIDTH_MAX) {
					perr(p, "-printf: field width or precision larger than %d", LOAFRE__FIND_WIDTH_MAX);
					goto fail;
				}
			}
			sg.prec = (int)w;
		}
		char d = s[j];
		if (d == '\0' || d == '{' || d == '[' || d == '(') {
			if (d)
				perr(p, "error: the format directive `%%%c' is reserved for future use", d);
			else
				perr(p, "error: the format directive `%%' is reserved for future use");
			goto fail;
		}
		if (d == '%') {
			LIT_BYTES(s + i, j - i);
			i = j + 1;
			continue;
		}
		if (d == 'Z') {
			perr(p, "-printf %%Z (SELinux context) is not supported");
			goto fail;
		}
		if (d == 'A' || d == 'B' || d == 'C' || d == 'T') {
			if (s[j + 1] == '\0') {
				pwarn(p, "format directive `%%%c' should be followed by another character", d);
				LIT_BYTES(s + i, j + 1 - i);
				i = j + 1;
				continue;
			}
			sg.tconv = s[j + 1];
			sg.conv = d;
			fmt->segs[fmt->n++] = sg;
			litseg = NULL;
			i = j + 2;
			continue;
		}
		if (!strchr("abcdDfFgGhHiklmMnpPsStuUyY", d)) {
			pwarn(p, "unrecognized format directive `%%%c'", d);
			LIT_BYTES(s + i, j + 1 - i);
			i = j + 1;
			continue;
		}
		sg.conv = d;
		fmt->segs[fmt->n++] = sg;
		litseg = NULL;
		i = j + 1;
	}
#undef LIT_BYTES
	fmt->lit[nl] = '\0';
	return fmt;
nomem:
	nomem(p);
fail:
	if (fmt) {
		free(fmt->segs);
		free(fmt->lit);
		free(fmt);
	}
	return NULL;
}

/* ---- parsing: the predicate table ---------------------------------------- */

enum pop {
	OP_NOT, OP_AND, OP_OR, OP_COMMA, OP_OPEN, OP_CLOSE,
	OP_TRUE, OP_FALSE, OP_OPTION, OP_DAYSTART, OP_DEPTH, OP_XDEV,
	OP_MAXDEPTH, OP_MINDEPTH, OP_REGEXTYPE,
	OP_NAME, OP_INAME, OP_PATH, OP_IPATH, OP_LNAME, OP_ILNAME, OP_REGEX, OP_IREGEX,
	OP_TYPE, OP_XTYPE, OP_SIZE, OP_LINKS, OP_INUM, OP_UID, OP_GID, OP_USER, OP_GROUP,
	OP_NOUSER, OP_NOGROUP, OP_AMIN, OP_CMIN, OP_MMIN, OP_ATIME, OP_CTIME, OP_MTIME,
	OP_NEWER, OP_NEWERXY, OP_ANEWER, OP_CNEWER, OP_EMPTY, OP_PERM, OP_SAMEFILE, OP_FSTYPE,
	OP_PRUNE, OP_QUIT, OP_PRINT, OP_PRINT0, OP_PRINTF, OP_LS, OP_COUNT,
	OP_UNSUPPORTED,
};

static const struct pdef {
	const char *name;
	uint8_t op;
} pdefs[] = {
	{"!", OP_NOT}, {"-not", OP_NOT}, {"-a", OP_AND}, {"-and", OP_AND}, {"-o", OP_OR},
	{"-or", OP_OR}, {",", OP_COMMA}, {"(", OP_OPEN}, {")", OP_CLOSE},
	{"-true", OP_TRUE}, {"-false", OP_FALSE},
	{"-noleaf", OP_OPTION}, {"-warn", OP_OPTION}, {"-nowarn", OP_OPTION},
	{"-ignore_readdir_race", OP_OPTION}, {"-noignore_readdir_race", OP_OPTION},
	{"-daystart", OP_DAYSTART}, {"-depth", OP_DEPTH}, {"-d", OP_DEPTH},
	{"-xdev", OP_XDEV}, {"-mount", OP_XDEV},
	{"-maxdepth", OP_MAXDEPTH}, {"-mindepth", OP_MINDEPTH}, {"-regextype", OP_REGEXTYPE},
	{"-name", OP_NAME}, {"-iname", OP_INAME}, {"-path", OP_PATH}, {"-wholename", OP_PATH},
	{"-ipath", OP_IPATH}, {"-iwholename", OP_IPATH}, {"-lname", OP_LNAME},
	{"-ilname", OP_ILNAME}, {"-regex", OP_REGEX}, {"-iregex", OP_IREGEX},
	{"-type", OP_TYPE}, {"-xtype", OP_XTYPE}, {"-size", OP_SIZE}, {"-links", OP_LINKS},
	{"-inum", OP_INUM}, {"-uid", OP_UID}, {"-gid", OP_GID}, {"-user", OP_USER},
	{"-group", OP_GROUP}, {"-nouser", OP_NOUSER}, {"-nogroup", OP_NOGROUP},
	{"-amin", OP_AMIN}, {"-cmin", OP_CMIN}, {"-mmin", OP_MMIN}, {"-atime", OP_ATIME},
	{"-ctime", OP_CTIME}, {"-mtime", OP_MTIME}, {"-newer", OP_NEWER},
	{"-anewer", OP_ANEWER}, {"-cnewer", OP_CNEWER}, {"-empty", OP_EMPTY},
	{"-perm", OP_PERM}, {"-samefile", OP_SAMEFILE}, {"-fstype", OP_FSTYPE},
	{"-prune", OP_PRUNE}, {"-quit", OP_QUIT}, {"-print", OP_PRINT}, {"-print0", OP_PRINT0},
	{"-printf", OP_PRINTF}, {"-ls", OP_LS}, {"-count", OP_COUNT},
	{"-exec", OP_UNSUPPORTED}, {"-execdir", OP_UNSUPPORTED}, {"-ok", OP_UNSUPPORTED},
	{"-okdir", OP_UNSUPPORTED}, {"-delete", OP_UNSUPPORTED}, {"-fprint", OP_UNSUPPORTED},
	{"-fprint0", OP_UNSUPPORTED}, {"-fprintf", OP_UNSUPPORTED}, {"-fls", OP_UNSUPPORTED},
	{"-readable", OP_UNSUPPORTED}, {"-writable", OP_UNSUPPORTED},
	{"-executable", OP_UNSUPPORTED}, {"-context", OP_UNSUPPORTED},
	{"-follow", OP_UNSUPPORTED}, {"-used", OP_UNSUPPORTED},
	{"-files0-from", OP_UNSUPPORTED}, {"-help", OP_UNSUPPORTED}, {"--help", OP_UNSUPPORTED},
	{"-version", OP_UNSUPPORTED}, {"--version", OP_UNSUPPORTED},
};

static void parse_one(struct parser *p, const struct pdef *d, const char *a)
{
	struct loafre__find *f = p->f;
	const char *arg;

	switch ((enum pop)d->op) {
	case OP_NOT: add_operand(p, K_NOT, a); break;
	case OP_AND: add_node(p, K_AND, a); break;
	case OP_OR: add_node(p, K_OR, a); break;
	case OP_COMMA: add_node(p, K_COMMA, a); break;
	case OP_OPEN: add_operand(p, K_OPEN, a); break;
	case OP_CLOSE: add_node(p, K_CLOSE, a); break;
	case OP_TRUE:
	case OP_OPTION: add_operand(p, K_TRUE, a); break;
	case OP_FALSE: add_operand(p, K_FALSE, a); break;
	case OP_DAYSTART:
		if (!p->full_days) {
			/* today's local midnight (GNU: from yesterday's time of day) */
			int64_t sec;
			long ns;
			struct tm tm;
			split_ns(sat_add(p->day_start, DAY_SECS * NS_PER_SEC), &sec, &ns);
			time_t t = (time_t)sec;
			if (localtime_r(&t, &tm))
				sec -= tm.tm_sec + tm.tm_min * 60 + tm.tm_hour * 3600;
			else
				sec -= ((sec % DAY_SECS) + DAY_SECS) % DAY_SECS;
			p->day_start = sat_mul(sec, NS_PER_SEC);
			p->full_days = true;
		}
		break;
	case OP_DEPTH:
		f->depth_first = true;
		add_operand(p, K_TRUE, a);
		break;
	case OP_XDEV:
		f->xdev = true;
		add_operand(p, K_TRUE, a);
		break;
	case OP_MAXDEPTH: parse_depth(p, a, true); break;
	case OP_MINDEPTH: parse_depth(p, a, false); break;
	case OP_REGEXTYPE: parse_regextype(p, a); break;
	case OP_NAME: parse_glob(p, K_NAME, a, false); break;
	case OP_INAME: parse_glob(p, K_NAME, a, true); break;
	case OP_PATH: parse_glob(p, K_PATH, a, false); break;
	case OP_IPATH: parse_glob(p, K_PATH, a, true); break;
	case OP_LNAME: parse_glob(p, K_LNAME, a, false); break;
	case OP_ILNAME: parse_glob(p, K_LNAME, a, true); break;
	case OP_REGEX: parse_regex(p, a, false); break;
	case OP_IREGEX: parse_regex(p, a, true); break;
	case OP_TYPE: parse_type(p, a, K_TYPE); break;
	case OP_XTYPE: parse_type(p, a, K_XTYPE); break;
	case OP_SIZE: parse_size(p, a); break;
	case OP_LINKS: parse_num(p, a, K_LINKS); break;
	case OP_INUM: parse_num(p, a, K_INUM); break;
	case OP_UID: parse_num(p, a, K_UID); break;
	case OP_GID: parse_num(p, a, K_GID); break;
	case OP_USER: parse_user(p, a, false); break;
	case OP_GROUP: parse_user(p, a, true); break;
	case OP_NOUSER: add_operand(p, K_NOUSER, a); break;
	case OP_NOGROUP: add_operand(p, K_NOGROUP, a); break;
	case OP_AMIN: parse_time(p, a, TF_A, true); break;
	case OP_CMIN: parse_time(p, a, TF_C, true); break;
	case OP_MMIN: parse_time(p, a, TF_M, true); break;
	case OP_ATIME: parse_time(p, a, TF_A, false); break;
	case OP_CTIME: parse_time(p, a, TF_C, false); break;
	case OP_MTIME: parse_time(p, a, TF_M, false); break;
	case OP_NEWER: parse_newer(p, a, 'm', 'm', false); break;
	case OP_NEWERXY: parse_newer(p, a, 0, 0, true); break;
	case OP_ANEWER: parse_newer(p, a, 'a', 'm', false); break;
	case OP_CNEWER: parse_newer(p, a, 'c', 'm', false); break;
	case OP_EMPTY: add_operand(p, K_EMPTY, a); break;
	case OP_PERM: parse_perm(p, a); break;
	case OP_SAMEFILE: {
		struct loafre__find_entry ref;
		arg = need_arg(p, a);
		if (arg && lookup_ref(p, arg, &ref))
			memcpy(add_operand(p, K_SAMEFILE, a)->u.id, ref.id, sizeof(ref.id));
		break;
	}
	case OP_FSTYPE:
		arg = need_arg(p, a);
		if (arg)
			add_operand(p, K_FSTYPE, a)->u.str = xstrdup(p, arg);
		break;
	case OP_PRUNE: add_operand(p, K_PRUNE, a); break;
	case OP_QUIT: add_operand(p, K_QUIT, a); break;
	case OP_PRINT:
		p->has_action = true;
		add_operand(p, K_PRINT, a);
		break;
	case OP_PRINT0:
		p->has_action = true;
		add_operand(p, K_PRINT0, a);
		break;
	case OP_PRINTF:
		arg = need_arg(p, a);
		if (arg) {
			struct pfmt *fmt = printf_compile(p, arg);
			if (fmt) {
				p->has_action = true;
				add_operand(p, K_PRINTF, a)->u.fmt = fmt;
			}
		}
		break;
	case OP_LS:
		p->has_action = true;
		add_operand(p, K_LS, a);
		break;
	case OP_COUNT:
		p->has_action = true;
		f->has_count = true;
		add_operand(p, K_COUNT, a);
		break;
	case OP_UNSUPPORTED:
		perr(p, "the predicate `%s' is not supported", a);
		break;
	}
}

static const struct pdef *find_pdef(const char *a)
{
	static const struct pdef newer_xy = {"-newerXY", OP_NEWERXY};
	for (size_t k = 0; k < LOAFRE__ARRAY_SIZE(pdefs); k++)
		if (!strcmp(a, pdefs[k].name))
			return &pdefs[k];
	if (!strncmp(a, "-newer", 6) && strlen(a) == 8)
		return &newer_xy;
	return NULL;
}

/* ---- parsing: the tree (GNU's rules and messages) ------------------------ */

static struct node *cur_tok(struct parser *p)
{
	return p->pos < p->f->n_nodes ? &p->f->nodes[p->pos] : NULL;
}

static struct node *get_expr(struct parser *p, int prev_prec, const struct node *prev);

static struct node *scan_rest(struct parser *p, struct node *head, int prev_prec)
{
	struct node *tree = head, *t;

	t = cur_tok(p);
	if (!t || t->kind == K_CLOSE)
		return NULL;
	while (!p->failed && (t = cur_tok(p)) && t->prec > prev_prec) {
		if (t->kind == K_AND || t->kind == K_OR || t->kind == K_COMMA) {
			t->left = tree;
			p->pos++;
			t->right = get_expr(p, t->prec, t);
			tree = t;
		} else {
			perr(p, "invalid expression");
			return NULL;
		}
	}
	return tree;
}

static struct node *get_expr(struct parser *p, int prev_prec, const struct node *prev)
{
	struct node *t = cur_tok(p), *node = NULL;

	if (p->failed)
		return NULL;
	if (!t) {
		perr(p, "invalid expression");
		return NULL;
	}
	switch (t->kind) {
	case K_AND:
	case K_OR:
	case K_COMMA:
		perr(p, "invalid expression; you have used a binary operator '%s' with nothing before it.",
		     t->name);
		return NULL;
	case K_CLOSE:
		if (!prev)
			perr(p, "invalid expression: expected expression before closing parentheses '%s'.",
			     t->name);
		else if ((prev->kind == K_NOT || prev->kind == K_AND || prev->kind == K_OR ||
			  prev->kind == K_COMMA) && !t->artificial)
			perr(p, "expected an expression between '%s' and ')'", prev->name);
		else if (t->artificial)
			perr(p, "expected an expression after '%s'", prev->name);
		else
			perr(p, "invalid expression; you have too many ')'");
		return NULL;
	case K_NOT:
		p->pos++;
		t->right = get_expr(p, PREC_NOT, t);
		node = t;
		break;
	case K_OPEN: {
		struct node *next = p->pos + 1 < p->f->n_nodes ? &p->f->nodes[p->pos + 1] : NULL;
		if (!next || next->artificial) {
			perr(p, "invalid expression; expected to find a ')' but didn't see one. Perhaps you need an extra predicate after '%s'",
			     t->name);
			return NULL;
		}
		p->pos++;
		if (next->kind == K_CLOSE) {
			if (t->artificial)
				perr(p, "invalid expression: expected expression before closing parentheses '%s'.",
				     next->name);
			else
				perr(p, "invalid expression; empty parentheses are not allowed.");
			return NULL;
		}
		node = get_expr(p, PREC_NONE, t);
		if (p->failed)
			return NULL;
		if (!cur_tok(p) || cur_tok(p)->kind != K_CLOSE) {
			perr(p, "invalid expression; I was expecting to find a ')' somewhere but did not see one.");
			return NULL;
		}
		p->pos++;
		break;
	}
	default:
		node = t;
		p->pos++;
		break;
	}
	if (p->failed)
		return NULL;
	if (!cur_tok(p))
		return node;
	if (cur_tok(p)->prec > prev_prec) {
		node = scan_rest(p, node, prev_prec);
		if (!node && !p->failed)
			perr(p, "invalid expression");
	}
	return node;
}

static void build_tree(struct parser *p)
{
	struct loafre__find *f = p->f;

	if (!p->has_action) {
		if (!f->n_nodes) {
			add_node(p, K_PRINT, "-print")->artificial = true;
		} else {
			/* ( EXPR ) -print */
			memmove(&f->nodes[1], &f->nodes[0], f->n_nodes * sizeof(*f->nodes));
			f->n_nodes++;
			memset(&f->nodes[0], 0, sizeof(*f->nodes));
			f->nodes[0].kind = K_OPEN;
			f->nodes[0].name = "(";
			f->nodes[0].artificial = true;
			add_node(p, K_CLOSE, ")")->artificial = true;
			add_node(p, K_AND, "-a")->artificial = true;
			add_node(p, K_PRINT, "-print")->artificial = true;
		}
	}
	p->pos = 0;
	f->root = get_expr(p, PREC_NONE, NULL);
	if (p->failed)
		return;
	struct node *t = cur_tok(p);
	if (t) {
		if (t->kind == K_CLOSE)
			perr(p, "you have too many ')'");
		else
			perr(p, "unexpected extra predicate '%s'", t->name);
	}
}

int loafre__find_split(int argc, char *const argv[])
{
	int i;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] == '-' && a[1])
			break;
		if ((a[0] == '(' || a[0] == '!') && !a[1])
			break;
	}
	return i;
}

int loafre__find_parse(int argc, char *const argv[], const struct loafre__find_opts *opts,
		       struct loafre__find **ret, char *err, size_t errlen)
{
	struct loafre__find *f;
	struct parser p = {0};
	struct timespec now = {0, 0};
	int rc;

	if (errlen)
		err[0] = '\0';
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->progname = strdup(opts && opts->progname ? opts->progname : "find");
	if (!f->progname) {
		free(f);
		return -ENOMEM;
	}
	p.f = f;
	p.opts = opts;
	p.argv = argv;
	p.argc = argc;
	p.err = err;
	p.errlen = errlen;
	if (argc < 0 || argc > LOAFRE__FIND_ARGS_MAX) {
		perr(&p, "too many arguments (at most %d)", LOAFRE__FIND_ARGS_MAX);
		p.rc = -E2BIG;
		goto fail;
	}
	for (int i = 0; i < argc; i++) {
		if (strnlen(argv[i], LOAFRE__FIND_ARG_MAX + 1) > LOAFRE__FIND_ARG_MAX) {
			perr(&p, "argument %d is longer than %d bytes", i + 1, LOAFRE__FIND_ARG_MAX);
			p.rc = -E2BIG;
			goto fail;
		}
	}
	f->out = opts && opts->out ? opts->out : stdout;
	f->warn = opts ? opts->warn : NULL;
	if (opts)
		now = opts->now;
	if (!now.tv_sec && !now.tv_nsec)
		clock_gettime(CLOCK_REALTIME, &now);
	tzset();
	f->now_ns = ts_ns(&now);
	f->maxdepth = UINT_MAX;
	f->w_ino = 9;
	f->w_blk = 6;
	f->w_nlink = 3;
	f->w_owner = 8;
	f->w_group = 8;
	f->w_size = 8;
	f->w_major = 3;
	f->w_minor = 3;
	f->cap_nodes = 2 * (size_t)argc + 8;
	f->nodes = calloc(f->cap_nodes, sizeof(*f->nodes));
	if (!f->nodes) {
		nomem(&p);
		goto fail;
	}
	p.syntax = RE_SYNTAX_EMACS | RE_DOT_NEWLINE;
	p.day_start = sat_add(f->now_ns, -(int64_t)DAY_SECS * NS_PER_SEC);

	while (p.i < argc && !p.failed) {
		const char *a = argv[p.i];
		const struct pdef *d = find_pdef(a);
		if (!d) {
			struct loafre__find_entry probe;
			if (a[0] == '-' && a[1]) {
				perr(&p, "unknown predicate `%s'", a);
			} else {
				perr(&p, "paths must precede expression: `%s'", a);
				memset(&probe, 0, sizeof(probe));
				if (p.last_name && opts && opts->lookup &&
				    opts->lookup(opts->lookup_ctx, a, &probe) == 0)
					perr_more(&p, "possible unquoted pattern after predicate `%s'?", p.last_name);
			}
			break;
		}
		p.i++;
		parse_one(&p, d, a);
		p.last_name = a;
	}
	if (!p.failed)
		build_tree(&p);
	if (p.failed)
		goto fail;
	*ret = f;
	return 0;
fail:
	rc = p.rc ? p.rc : -EINVAL;
	loafre__find_free(f);
	return rc;
}

/* ---- evaluation ---------------------------------------------------------- */

static bool cmp_u64(enum cmp c, uint64_t v, uint64_t n)
{
	switch (c) {
	case CMP_GT: return v > n;
	case CMP_LT: return v < n;
	default: return v == n;
	}
}

/* GNU's %A@ (and the fallback when a time has no calendar form): the
 * seconds, then ".NNNNNNNNN0" if `frac`. */
static size_t fmt_seconds(char *buf, size_t cap, int64_t sec, long nsec, bool frac)
{
	if (frac)
		return (size_t)snprintf(buf, cap, "%" PRId64 ".%09ld0", sec, nsec);
	return (size_t)snprintf(buf, cap, "%" PRId64, sec);
}

/* %Ak & co.: strftime("%k") in the local time; for S T X and + the
 * ".NNNNNNNNN0" fraction goes right after the seconds digits (found, like
 * GNU does, as the only two digits that change when the seconds do). */
static size_t fmt_time(char *buf, size_t cap, char conv, int64_t ns)
{
	char a[256], b[256], tf[24];
	int64_t sec;
	long nsec;
	struct tm tm, alt;
	time_t t;
	bool frac = conv == 'S' || conv == 'T' || conv == 'X' || conv == '+' || conv == '@';
	size_t na, nb;

	split_ns(ns, &sec, &nsec);
	t = (time_t)sec;
	if (conv == '@' || (time_t)sec != sec || !localtime_r(&t, &tm))
		return fmt_seconds(buf, cap, sec, nsec, frac);
	/* a leading '_' tells an empty result from a failure, as GNU's */
	snprintf(tf, sizeof(tf), conv == '+' ? "_%%Y-%%m-%%d+%%T" : "_%%%c", conv);
	alt = tm;
	alt.tm_sec += tm.tm_sec >= 11 ? -11 : 11;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	na = strftime(a, sizeof(a), tf, &tm);
	nb = strftime(b, sizeof(b), tf, &alt);
#pragma GCC diagnostic pop
	if (!na)
		return fmt_seconds(buf, cap, sec, nsec, frac);
	size_t first = 0, run = 0;
	bool one_run = frac && na == nb;
	for (size_t i = 0; one_run && i < na; i++) {
		if (a[i] == b[i])
			continue;
		if (!isdigit((unsigned char)a[i]) || !isdigit((unsigned char)b[i]))
			one_run = false;
		else if (!run)
			first = i, run = 1;
		else if (i - first == run)
			run++;
		else
			one_run = false;
	}
	if (one_run && run == 2 && !isdigit((unsigned char)a[first + 2]))
		return (size_t)snprintf(buf, cap, "%.*s.%09ld0%s", (int)(first + 2 - 1), a + 1, nsec,
					a + first + 2);
	return (size_t)snprintf(buf, cap, "%s", a + 1);
}

/* %a %c %t: ctime()'s layout (English names) with the fraction */
static size_t fmt_ctime(char *buf, size_t cap, int64_t ns)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t sec;
	long nsec;
	struct tm tm;
	time_t t;

	split_ns(ns, &sec, &nsec);
	t = (time_t)sec;
	if ((time_t)sec != sec || !localtime_r(&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return fmt_seconds(buf, cap, sec, nsec, true);
	return (size_t)snprintf(buf, cap, "%3s %3s %2d %02d:%02d:%02d.%09ld0 %04d", wd[tm.tm_wday],
				mo[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nsec,
				1900 + tm.tm_year);
}

/* v in decimal, written by out_field as text (the segment's width and
 * precision apply as to a string). */
static void out_dec(struct loafre__find *f, const struct seg *sg, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	out_field(f, sg, buf, strlen(buf));
}

static void do_printf(struct loafre__find *f, const struct pfmt *fmt, const struct loafre__find_entry *e)
{
	char buf[512];
	size_t len = strlen(e->path), b, end;
	const char *s;

	for (size_t k = 0; k < fmt->n; k++) {
		const struct seg *sg = &fmt->segs[k];
		if (sg->type == SEG_STOP)
			return;
		if (sg->type == SEG_LIT) {
			out_bytes(f, fmt->lit + sg->off, sg->len);
			continue;
		}
		switch (sg->conv) {
		case 'p':
			out_field(f, sg, e->path, len);
			break;
		case 'f':
			if (!last_component(e->path, len, &b, &end)) {
				out_field(f, sg, "/", len ? 1 : 0);
			} else if (end < len) {
				/* the last component and one of its trailing slashes */
				out_field(f, sg, e->path + b, end - b + 1);
			} else {
				out_field(f, sg, e->path + b, end - b);
			}
			break;
		case 'h': {
			/* GNU: trailing slashes are dropped only when what is left is
			 * at least 2 bytes long; then everything before the last '/' */
			size_t n = len;
			while (n > 0 && e->path[n - 1] == '/')
				n--;
			if (n < 2 || n == len)
				n = len;
			const char *sl = memrchr(e->path, '/', n);
			if (sl)
				out_field(f, sg, e->path, (size_t)(sl - e->path));
			else
				out_field(f, sg, ".", 1);
			break;
		}
		case 'H':
			out_field(f, sg, e->path, e->start_len < len ? e->start_len : len);
			break;
		case 'P':
			s = e->path + (e->start_len < len ? e->start_len : len);
			if (*s == '/')
				s++;
			out_field(f, sg, s, strlen(s));
			break;
		case 's':
			out_dec(f, sg, e->size);
			break;
		case 'b':
			out_dec(f, sg, e->blocks);
			break;
		case 'k':
			out_dec(f, sg, e->blocks / 2 + (e->blocks & 1));
			break;
		case 'n':
			out_dec(f, sg, e->nlink);
			break;
		case 'i':
			out_dec(f, sg, e->ino);
			break;
		case 'D':
			out_dec(f, sg, e->dev);
			break;
		case 'F':
			s = e->fstype ? e->fstype : "unknown";
			out_field(f, sg, s, strlen(s));
			break;
		case 'd':
			out_int(f, sg, (int64_t)e->depth);
			break;
		case 'm':
			out_octal(f, sg, e->mode & 07777);
			break;
		case 'M':
			mode_string(e->mode, buf);
			out_field(f, sg, buf, strlen(buf));
			break;
		case 'S': {
			double sp = e->size ? (double)e->blocks * 512.0 / (double)e->size : 1.0;
			out_double(f, sg, sp);
			break;
		}
		case 'u':
		case 'g': {
			uint32_t id = sg->conv == 'u' ? e->uid : e->gid;
			s = id_name(f, sg->conv == 'g', id);
			if (!s) {
				snprintf(buf, sizeof(buf), "%" PRIu32, id);
				s = buf;
			}
			out_field(f, sg, s, strlen(s));
			break;
		}
		case 'U':
		case 'G':
			out_dec(f, sg, sg->conv == 'U' ? e->uid : e->gid);
			break;
		case 'y':
			buf[0] = type_letter(e->mode);
			out_field(f, sg, buf, 1);
			break;
		case 'Y':
			if (S_ISLNK(e->mode)) {
				if (!e->target_mode)
					buf[0] = 'N';
				else if (S_ISLNK(e->target_mode))
					buf[0] = 'L';
				else
					buf[0] = type_letter(e->target_mode);
			} else {
				buf[0] = type_letter(e->mode);
			}
			out_field(f, sg, buf, 1);
			break;
		case 'l':
			s = S_ISLNK(e->mode) && e->symlink ? e->symlink : "";
			out_field(f, sg, s, strlen(s));
			break;
		case 'a':
		case 'c':
		case 't': {
			int64_t ns = sg->conv == 'a' ? e->atime_ns : sg->conv == 'c' ? e->ctime_ns : e->mtime_ns;
			size_t n = fmt_ctime(buf, sizeof(buf), ns);
			out_field(f, sg, buf, n);
			break;
		}
		case 'A':
		case 'C':
		case 'T': {
			int64_t ns = sg->conv == 'A' ? e->atime_ns : sg->conv == 'C' ? e->ctime_ns : e->mtime_ns;
			size_t n = fmt_time(buf, sizeof(buf), sg->tconv, ns);
			out_field(f, sg, buf, n);
			break;
		}
		case 'B':
			if (sg->tconv == '@')
				out_field(f, sg, "-1.-000000010", 13);
			else
				out_field(f, sg, "", 0);
			break;
		}
	}
}

static int num_width(const char *s)
{
	return (int)strlen(s);
}

/* s right-aligned in a column of -ls whose width *w grows to fit it. */
static void ls_column(struct loafre__find *f, int *w, const char *s)
{
	if (num_width(s) > *w)
		*w = num_width(s);
	out_pad(f, (size_t)(*w - num_width(s)));
	out_str(f, s);
}

static void do_ls(struct loafre__find *f, const struct loafre__find_entry *e)
{
	char buf[128], mode[11];
	const char *name;
	int n;
	int64_t sec;
	long nsec;
	struct tm tm;
	time_t t;

	snprintf(buf, sizeof(buf), "%" PRIu64, e->ino);
	ls_column(f, &f->w_ino, buf);
	out_str(f, " ");

	snprintf(buf, sizeof(buf), "%" PRIu64, e->blocks / 2 + (e->blocks & 1));
	ls_column(f, &f->w_blk, buf);
	out_str(f, " ");

	mode_string(e->mode, mode);
	out_str(f, mode);
	out_str(f, " ");

	snprintf(buf, sizeof(buf), "%" PRIu64, e->nlink);
	ls_column(f, &f->w_nlink, buf);
	out_str(f, " ");

	for (int g = 0; g < 2; g++) {
		int *w = g ? &f->w_group : &f->w_owner;
		uint32_t id = g ? e->gid : e->uid;
		name = id_name(f, g != 0, id);
		if (name) {
			n = (int)strlen(name);
			if (n > *w)
				*w = n;
			out_str(f, name);
			out_pad(f, (size_t)(*w - n));
			out_str(f, " ");
		} else if (!g) {
			/* GNU: a numeric owner is printed in 8 columns, and the
			 * owner column grows to what that printed, blank included */
			snprintf(buf, sizeof(buf), "%" PRIu32, id);
			n = num_width(buf);
			out_str(f, buf);
			out_pad(f, n < 8 ? (size_t)(8 - n) : 0);
			out_str(f, " ");
			if ((n < 8 ? 8 : n) + 1 > *w)
				*w = (n < 8 ? 8 : n) + 1;
		} else {
			/* a numeric group: in the group column, which grows to it */
			snprintf(buf, sizeof(buf), "%" PRIu32, id);
			n = num_width(buf);
			out_str(f, buf);
			out_pad(f, n < *w ? (size_t)(*w - n) : 0);
			out_str(f, " ");
			if (n > *w)
				*w = n;
		}
	}

	if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		char mi[32];
		snprintf(buf, sizeof(buf), "%u", major((dev_t)e->rdev));
		snprintf(mi, sizeof(mi), "%u", minor((dev_t)e->rdev));
		ls_column(f, &f->w_major, buf);
		out_str(f, ", ");
		ls_column(f, &f->w_minor, mi);
	} else {
		snprintf(buf, sizeof(buf), "%" PRIu64, e->size);
		ls_column(f, &f->w_size, buf);
	}
	out_str(f, " ");

	split_ns(e->mtime_ns, &sec, &nsec);
	t = (time_t)sec;
	if (localtime_r(&t, &tm)) {
		int64_t now_sec;
		long now_nsec;
		split_ns(f->now_ns, &now_sec, &now_nsec);
		bool recent = sec >= now_sec - SIX_MONTHS_SECS && sec <= now_sec + LS_FUTURE_SECS;
		size_t k = strftime(buf, sizeof(buf), recent ? "%b %e %H:%M" : "%b %e  %Y", &tm);
		out_bytes(f, buf, k);
	} else {
		snprintf(buf, sizeof(buf), "%" PRId64, sec);
		out_str(f, buf);
	}
	out_str(f, " ");
	out_ls_quoted(f, e->path);
	if (S_ISLNK(e->mode) && e->symlink) {
		out_str(f, " -> ");
		out_ls_quoted(f, e->symlink);
	}
	out_str(f, "\n");
}

static bool type_matches(uint32_t types, uint32_t mode)
{
	return (types & LOAFRE__FIND_TYPE_BIT(mode)) != 0;
}

static bool eval(struct loafre__find *f, const struct node *n, const struct loafre__find_entry *e)
{
	bool v;

	switch (n->kind) {
	case K_AND:
		v = eval(f, n->left, e);
		if (!v || f->quitting)
			return false;
		return eval(f, n->right, e);
	case K_OR:
		v = eval(f, n->left, e);
		if (f->quitting)
			return false;
		return v || eval(f, n->right, e);
	case K_COMMA:
		eval(f, n->left, e);
		if (f->quitting)
			return false;
		return eval(f, n->right, e);
	case K_NOT:
		v = eval(f, n->right, e);
		return !v && !f->quitting;
	case K_TRUE:
		return true;
	case K_FALSE:
		return false;
	case K_NAME:
		return fnmatch(n->u.glob.pat, entry_name(f, e), n->flag) == 0;
	case K_PATH:
		return fnmatch(n->u.glob.pat, e->path, n->flag) == 0;
	case K_LNAME:
		return S_ISLNK(e->mode) && e->symlink && fnmatch(n->u.glob.pat, e->symlink, n->flag) == 0;
	case K_REGEX: {
		size_t len = strlen(e->path);
		if (len > INT_MAX)
			return false;
		return re_match(n->u.re, e->path, (regoff_t)len, 0, NULL) == (regoff_t)len;
	}
	case K_TYPE:
		return type_matches(n->u.types, e->mode);
	case K_XTYPE:
		if (S_ISLNK(e->mode) && e->target_mode) {
			if (S_ISLNK(e->target_mode))
				return false; /* a loop: GNU reports an error, no match */
			return type_matches(n->u.types, e->target_mode);
		}
		return type_matches(n->u.types, e->mode);
	case K_SIZE: {
		uint64_t u = n->u.num.unit;
		uint64_t units = e->size / u + (e->size % u != 0);
		return cmp_u64(n->cmp, units, n->u.num.n);
	}
	case K_LINKS:
		return cmp_u64(n->cmp, e->nlink, n->u.num.n);
	case K_INUM:
		return cmp_u64(n->cmp, e->ino, n->u.num.n);
	case K_UID:
		return cmp_u64(n->cmp, e->uid, n->u.num.n);
	case K_GID:
		return cmp_u64(n->cmp, e->gid, n->u.num.n);
	case K_NOUSER:
		return id_name(f, false, e->uid) == NULL;
	case K_NOGROUP:
		return id_name(f, true, e->gid) == NULL;
	case K_TIME: {
		int64_t t = entry_time(e, n->flag), ref = n->u.time.ref;
		switch (n->cmp) {
		case CMP_GT: return t > ref;
		case CMP_LT: return t < ref;
		default:
			if (t <= ref)
				return false;
			/* t - ref in (0, window] without overflow */
			return ref >= 0 || t <= INT64_MAX + ref ? t - ref <= n->u.time.window : false;
		}
	}
	case K_NEWER:
		return entry_time(e, n->flag) > n->u.time.ref;
	case K_EMPTY:
		if (S_ISDIR(e->mode))
			return e->empty != 0;
		if (S_ISREG(e->mode))
			return e->size == 0;
		return false;
	case K_PERM: {
		uint32_t m = e->mode & 07777, pv = n->u.perm[S_ISDIR(e->mode) ? 1 : 0];
		switch (n->flag) {
		case PERM_ALL: return (m & pv) == pv;
		case PERM_ANY: return pv == 0 || (m & pv) != 0;
		default: return m == pv;
		}
	}
	case K_SAMEFILE:
		return memcmp(e->id, n->u.id, sizeof(e->id)) == 0;
	case K_FSTYPE:
		return !strcmp(e->fstype ? e->fstype : "unknown", n->u.str);
	case K_PRUNE:
		if (!f->depth_first)
			f->prune = true;
		return true;
	case K_QUIT:
		f->quitting = true;
		return false;
	case K_PRINT:
		out_str(f, e->path);
		out_bytes(f, "\n", 1);
		return true;
	case K_PRINT0:
		out_bytes(f, e->path, strlen(e->path) + 1);
		return true;
	case K_PRINTF:
		do_printf(f, n->u.fmt, e);
		return true;
	case K_LS:
		do_ls(f, e);
		return true;
	case K_COUNT:
		if (!f->counted) {
			f->counted = true;
			f->count++;
		}
		return true;
	default:
		return false;
	}
}

int loafre__find_eval(struct loafre__find *f, const struct loafre__find_entry *e,
		      struct loafre__find_result *ret)
{
	struct loafre__find_result r = {false, false, false};

	if (f->quitting) {
		r.quit = true;
		goto out;
	}
	if (e->depth == 0)
		f->root_dev = e->dev;
	if (e->depth > f->maxdepth) {
		r.prune = true;
		goto out;
	}
	if (e->depth >= f->mindepth) {
		f->prune = false;
		f->counted = false;
		r.matched = eval(f, f->root, e);
		r.prune = f->prune;
		if (f->quitting) {
			r.matched = false;
			r.quit = true;
		}
	}
	if (e->depth >= f->maxdepth)
		r.prune = true;
	if (f->xdev && e->depth > 0 && e->dev != f->root_dev)
		r.prune = true;
out:
	*ret = r;
	if (f->out_err)
		return f->out_err;
	return ferror(f->out) ? -EIO : 0;
}

int loafre__find_finish(struct loafre__find *f)
{
	if (f->has_count) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%" PRIu64 "\n", f->count);
		out_str(f, buf);
	}
	if (fflush(f->out) != 0 && !f->out_err)
		f->out_err = -EIO;
	return f->out_err;
}

/* ---- hints --------------------------------------------------------------- */

static void hints_top(struct loafre__find_hints *h)
{
	memset(h, 0, sizeof(*h));
	h->maxdepth = UINT32_MAX;
	h->types = LOAFRE__FIND_TYPES_ALL;
	h->size_max = UINT64_MAX;
	h->uid_max = UINT32_MAX;
	h->gid_max = UINT32_MAX;
	h->mtime_min_ns = h->atime_min_ns = h->ctime_min_ns = INT64_MIN;
	h->mtime_max_ns = h->atime_max_ns = h->ctime_max_ns = INT64_MAX;
}

static void hints_empty(struct loafre__find_hints *h)
{
	h->types = 0;
	h->size_min = UINT64_MAX;
	h->size_max = 0;
}

static bool is_effect(const struct node *n)
{
	switch (n->kind) {
	case K_PRUNE:
	case K_QUIT:
	case K_PRINT:
	case K_PRINT0:
	case K_PRINTF:
	case K_LS:
	case K_COUNT:
		return true;
	case K_AND:
	case K_OR:
	case K_COMMA:
		return is_effect(n->left) || is_effect(n->right);
	case K_NOT:
		return is_effect(n->right);
	default:
		return false;
	}
}

/* meet_SFX and join_SFX of the ranges [lo, hi] of type T that hints hold
 * (lo > hi: the empty range): *lo, *hi become the intersection of [*lo, *hi]
 * and [l2, h2] (meet), or the smallest range holding both (join). */
#define RANGE_OPS(T, SFX)                                                        \
	static void meet_##SFX(T *lo, T *hi, T l2, T h2)                         \
	{                                                                        \
		if (l2 > *lo)                                                    \
			*lo = l2;                                                \
		if (h2 < *hi)                                                    \
			*hi = h2;                                                \
	}                                                                        \
                                                                                 \
	static void join_##SFX(T *lo, T *hi, T l2, T h2)                         \
	{                                                                        \
		if (l2 > h2)                                                     \
			return;                                                  \
		if (*lo > *hi) {                                                 \
			*lo = l2;                                                \
			*hi = h2;                                                \
			return;                                                  \
		}                                                                \
		if (l2 < *lo)                                                    \
			*lo = l2;                                                \
		if (h2 > *hi)                                                    \
			*hi = h2;                                                \
	}

RANGE_OPS(uint64_t, u64)
RANGE_OPS(uint32_t, u32)
RANGE_OPS(int64_t, i64)

static const char *same_str(const char *a, const char *b)
{
	return a && b && !strcmp(a, b) ? a : NULL;
}

static void hints_meet(struct loafre__find_hints *h, const struct loafre__find_hints *o)
{
	h->types &= o->types;
	if (o->name && h->name && strcmp(o->name, h->name))
		h->types = 0; /* two different exact names: nothing matches */
	if (o->name)
		h->name = o->name;
	if (o->name_prefix && (!h->name_prefix || strlen(o->name_prefix) > strlen(h->name_prefix)))
		h->name_prefix = o->name_prefix;
	if (o->name_suffix && (!h->name_suffix || strlen(o->name_suffix) > strlen(h->name_suffix)))
		h->name_suffix = o->name_suffix;
	if (o->name_glob && (!h->name_glob || strlen(o->name_glob) > strlen(h->name_glob)))
		h->name_glob = o->name_glob; /* both hold for every match: keep one */
	if (o->name_iglob && (!h->name_iglob || strlen(o->name_iglob) > strlen(h->name_iglob)))
		h->name_iglob = o->name_iglob;
	meet_u64(&h->size_min, &h->size_max, o->size_min, o->size_max);
	meet_u32(&h->uid_min, &h->uid_max, o->uid_min, o->uid_max);
	meet_u32(&h->gid_min, &h->gid_max, o->gid_min, o->gid_max);
	if (o->n_uids) {
		if (!h->n_uids) {
			h->n_uids = o->n_uids;
			memcpy(h->uids, o->uids, sizeof(h->uids));
		} else {
			unsigned k = 0;
			for (unsigned i = 0; i < h->n_uids; i++)
				for (unsigned j = 0; j < o->n_uids; j++)
					if (h->uids[i] == o->uids[j]) {
						h->uids[k++] = h->uids[i];
						break;
					}
			h->n_uids = k;
			if (!k) /* no uid left: nothing matches */
				h->uid_min = 1, h->uid_max = 0;
		}
	}
	meet_i64(&h->mtime_min_ns, &h->mtime_max_ns, o->mtime_min_ns, o->mtime_max_ns);
	meet_i64(&h->atime_min_ns, &h->atime_max_ns, o->atime_min_ns, o->atime_max_ns);
	meet_i64(&h->ctime_min_ns, &h->ctime_max_ns, o->ctime_min_ns, o->ctime_max_ns);
}

static void hints_join(struct loafre__find_hints *h, const struct loafre__find_hints *o)
{
	h->types |= o->types;
	h->name = same_str(h->name, o->name);
	h->name_prefix = same_str(h->name_prefix, o->name_prefix);
	h->name_suffix = same_str(h->name_suffix, o->name_suffix);
	h->name_glob = same_str(h->name_glob, o->name_glob);
	h->name_iglob = same_str(h->name_iglob, o->name_iglob);
	join_u64(&h->size_min, &h->size_max, o->size_min, o->size_max);
	if (h->n_uids && o->n_uids && h->n_uids + o->n_uids <= LOAFRE__FIND_HINT_UIDS) {
		for (unsigned j = 0; j < o->n_uids; j++) {
			bool dup = false;
			for (unsigned i = 0; i < h->n_uids; i++)
				dup |= h->uids[i] == o->uids[j];
			if (!dup)
				h->uids[h->n_uids++] = o->uids[j];
		}
	} else {
		h->n_uids = 0;
	}
	join_u32(&h->uid_min, &h->uid_max, o->uid_min, o->uid_max);
	join_u32(&h->gid_min, &h->gid_max, o->gid_min, o->gid_max);
	join_i64(&h->mtime_min_ns, &h->mtime_max_ns, o->mtime_min_ns, o->mtime_max_ns);
	join_i64(&h->atime_min_ns, &h->atime_max_ns, o->atime_min_ns, o->atime_max_ns);
	join_i64(&h->ctime_min_ns, &h->ctime_max_ns, o->ctime_min_ns, o->ctime_max_ns);
}

static void time_range(struct loafre__find_hints *h, enum tfield fld, int64_t lo, int64_t hi)
{
	switch (fld) {
	case TF_A: meet_i64(&h->atime_min_ns, &h->atime_max_ns, lo, hi); break;
	case TF_C: meet_i64(&h->ctime_min_ns, &h->ctime_max_ns, lo, hi); break;
	default: meet_i64(&h->mtime_min_ns, &h->mtime_max_ns, lo, hi); break;
	}
}

/* The constraint a pure (effect-free) subexpression puts on the entries
 * for which it is true. */
static void constraint(const struct node *n, struct loafre__find_hints *h)
{
	struct loafre__find_hints o;

	hints_top(h);
	switch (n->kind) {
	case K_AND:
		constraint(n->left, h);
		constraint(n->right, &o);
		hints_meet(h, &o);
		break;
	case K_OR:
		constraint(n->left, h);
		constraint(n->right, &o);
		hints_join(h, &o);
		break;
	case K_COMMA:
		constraint(n->right, h);
		break;
	case K_NOT:
		if (n->right->kind == K_TYPE)
			h->types = LOAFRE__FIND_TYPES_ALL & ~n->right->u.types;
		break;
	case K_FALSE:
		hints_empty(h);
		break;
	case K_NAME:
		if (n->flag) {
			h->name_iglob = n->u.glob.pat;
			break;
		}
		h->name = n->u.glob.exact;
		h->name_prefix = n->u.glob.exact ? n->u.glob.exact : n->u.glob.prefix;
		h->name_suffix = n->u.glob.exact ? n->u.glob.exact : n->u.glob.suffix;
		h->name_glob = n->u.glob.pat;
		break;
	case K_LNAME:
		h->types = LOAFRE__FIND_TYPE_BIT(S_IFLNK);
		break;
	case K_TYPE:
		h->types = n->u.types;
		break;
	case K_XTYPE:
		h->types = n->u.types | LOAFRE__FIND_TYPE_BIT(S_IFLNK);
		break;
	case K_EMPTY:
		h->types = LOAFRE__FIND_TYPE_BIT(S_IFDIR) | LOAFRE__FIND_TYPE_BIT(S_IFREG);
		break;
	case K_SIZE: {
		uint64_t u = n->u.num.unit, v = n->u.num.n;
		switch (n->cmp) {
		case CMP_EQ:
			if (v == 0) {
				h->size_min = h->size_max = 0;
			} else {
				uint64_t lo = sat_umul(v - 1, u);
				h->size_min = lo == UINT64_MAX ? UINT64_MAX : lo + 1;
				h->size_max = sat_umul(v, u);
			}
			break;
		case CMP_GT: {
			uint64_t lo = sat_umul(v, u);
			if (lo == UINT64_MAX)
				hints_empty(h);
			else
				h->size_min = lo + 1;
			break;
		}
		case CMP_LT:
			if (v == 0)
				hints_empty(h);
			else
				h->size_max = sat_umul(v - 1, u);
			break;
		}
		break;
	}
	case K_UID:
	case K_GID: {
		uint64_t v = n->u.num.n;
		uint32_t lo = 0, hi = UINT32_MAX;
		switch (n->cmp) {
		case CMP_EQ:
			if (v > UINT32_MAX)
				lo = 1, hi = 0;
			else
				lo = hi = (uint32_t)v;
			break;
		case CMP_GT:
			if (v >= UINT32_MAX)
				lo = 1, hi = 0;
			else
				lo = (uint32_t)v + 1;
			break;
		case CMP_LT:
			if (v == 0)
				lo = 1, hi = 0;
			else if (v <= UINT32_MAX)
				hi = (uint32_t)(v - 1);
			break;
		}
		if (n->kind == K_UID) {
			h->uid_min = lo;
			h->uid_max = hi;
			if (n->cmp == CMP_EQ && lo == hi) {
				h->n_uids = 1;
				h->uids[0] = lo;
			}
		} else {
			h->gid_min = lo;
			h->gid_max = hi;
		}
		break;
	}
	case K_TIME: {
		int64_t ref = n->u.time.ref;
		switch (n->cmp) {
		case CMP_GT:
			if (ref == INT64_MAX)
				time_range(h, n->flag, 1, 0);
			else
				time_range(h, n->flag, ref + 1, INT64_MAX);
			break;
		case CMP_LT:
			if (ref == INT64_MIN)
				time_range(h, n->flag, 1, 0);
			else
				time_range(h, n->flag, INT64_MIN, ref - 1);
			break;
		default:
			if (ref == INT64_MAX)
				time_range(h, n->flag, 1, 0);
			else
				time_range(h, n->flag, ref + 1, sat_add(ref, n->u.time.window));
			break;
		}
		break;
	}
	case K_NEWER:
		if (n->u.time.ref == INT64_MAX)
			time_range(h, n->flag, 1, 0);
		else
			time_range(h, n->flag, n->u.time.ref + 1, INT64_MAX);
		break;
	default:
		break;
	}
}

/* Walks the top-level conjunction in evaluation order, meeting the
 * constraints of its pure members until the first one with an effect.
 * Returns false once that member is reached. */
static bool hints_walk(const struct node *n, struct loafre__find_hints *h)
{
	struct loafre__find_hints o;

	if (n->kind == K_AND)
		return hints_walk(n->left, h) && hints_walk(n->right, h);
	if (is_effect(n))
		return false;
	constraint(n, &o);
	hints_meet(h, &o);
	return true;
}

int loafre__find_hints(const struct loafre__find *f, struct loafre__find_hints *ret)
{
	struct loafre__find_hints h;

	hints_top(&h);
	if (!f->xdev && f->root)
		hints_walk(f->root, &h);
	h.mindepth = f->mindepth;
	h.maxdepth = f->maxdepth == UINT_MAX ? UINT32_MAX : f->maxdepth;
	h.post_order = f->depth_first;
	*ret = h;
	return 0;
}

/* ---- free ---------------------------------------------------------------- */

void loafre__find_free(struct loafre__find *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_nodes; i++) {
		struct node *n = &f->nodes[i];
		switch (n->kind) {
		case K_NAME:
		case K_PATH:
		case K_LNAME:
			free(n->u.glob.pat);
			free(n->u.glob.exact);
			free(n->u.glob.prefix);
			free(n->u.glob.suffix);
			break;
		case K_REGEX:
			if (n->u.re) {
				regfree(n->u.re);
				free(n->u.re);
			}
			break;
		case K_FSTYPE:
			free(n->u.str);
			break;
		case K_PRINTF:
			if (n->u.fmt) {
				free(n->u.fmt->segs);
				free(n->u.fmt->lit);
				free(n->u.fmt);
			}
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < IDCACHE; i++) {
		free(f->users[i].name);
		free(f->groups[i].name);
	}
	free(f->nodes);
	free(f->progname);
	free(f->scratch);
	free(f);
}
