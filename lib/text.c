/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * text.c — the `lfs changelog` text line (format and strict parse), loafre's
 * JSON form of a record, and Lustre NID strings.
 *
 * ===== 1. The text line =====================================================
 *
 * Output of loafre_text_format, byte for byte what `lfs changelog` prints for
 * the same record (docs/lustre-facts.md section 1), in this order:
 *
 *   1. "%ju %02d%-5s %02d:%02d:%02d.%09d %04d.%02d.%02d 0x%x t=" DFID
 *        cr_index; (int)cr_type; type name (loafre_cl_type_name, or "(null)"
 *        for a type outside 0..24, as glibc prints a NULL %s; "RESYNC" and
 *        "(null)" are 6 characters and get no padding); hour, minute, second
 *        of cr_time >> 30 in UTC (never the local zone); the nanoseconds,
 *        (int)(cr_time & (2^30 - 1)) — 30 bits, so values >= 10^9 print with
 *        10 digits; year, month, day in UTC; cr_flags & 0xfff; the target
 *        FID (for MARK its seq carries the markerflags).
 *        DFID is "[%#llx:0x%x:0x%x]": seq 0 prints as "0", not "0x0".
 *   2. " j=%s"        if CLF_JOBID and jobid[0] != '\0'
 *   3. if CLF_EXTRA_FLAGS:
 *        " ef=0x%llx"  always
 *        " u=%llu:%llu" if ef & CLFE_UIDGID (uid, gid)
 *        " nid=%s"     if ef & CLFE_NID (NID string, section 3)
 *        " m=%s"       if ef & CLFE_OPEN and the mode string is not "---":
 *                      openflags & 04 (MDS_FMODE_EXEC) gives "--x"; else
 *                      'r' at 0 if & 01 (READ), 'w' at 1 if & (02 | 01000 |
 *                      02000) (WRITE, TRUNC, APPEND)
 *        " x=%s"       if ef & CLFE_XATTR and xattr[0] != '\0'
 *   4. " p=" DFID      if pfid is not zero; "zero" is seq == 0 && oid == 0
 *                      (ver ignored, as Lustre's fid_is_zero)
 *   5. " %.*s"         if the binary cr_namelen (the whole name area,
 *                      namelen, or namelen + 1 + snamelen for a rename) is
 *                      not 0: the target name, up to namelen bytes or a NUL.
 *                      A rename with an empty target name thus prints a
 *                      lone space here.
 *   6. " s=" DFID " sp=" DFID " %.*s"
 *                      if CLF_RENAME and sfid is not zero (same zero test):
 *                      sfid, spfid, the source name (empty if none)
 *   7. "\n"
 *
 * Integers, hex numbers, the clock time and the civil date are formatted by
 * hand (days-since-epoch to civil date with integer arithmetic; the last
 * day converted is cached per thread), never with snprintf or gmtime.
 * The line is at most TEXT_FIXED_MAX + the two name lengths bytes; with
 * names of at most 255 bytes it fits LOAFRE_TEXT_LINE_MAX.
 *
 * ===== 2. Parsing (loafre_text_parse) =======================================
 *
 * Grammar of an accepted line (SP is one ' '; nothing else is skipped):
 *
 *   line    = index SP typenum typename pad SP clock SP date SP flags
 *             SP "t=" fid fields [ SP namearea ] [ "\n" ]
 *   index   = canonical decimal u64          (no leading zeros, "0" allowed)
 *   typenum = 2+ digits, or "-" digits: %02d of an int32 (canonical; the
 *             type is that int32 as a u32)
 *   typename= the name of typenum's type, or "(null)" when it has none;
 *   pad     = spaces bringing typename to 5 characters (none if longer)
 *   clock   = 2DIGIT ":" 2DIGIT ":" 2DIGIT "." nanos   (h<24, m<60, s<60)
 *   nanos   = 9 digits, or 10 digits for a value in [10^9, 2^30)
 *   date    = 4DIGIT "." 2DIGIT "." 2DIGIT  (a real Gregorian date; the
 *             resulting seconds must be >= 0 and < 2^34 so sec << 30 fits)
 *   flags   = "0x" canonical lowercase hex <= 0xfff
 *   fid     = "[" ("0" | "0x" hex16) ":0x" hex8 ":0x" hex8 "]", each hex
 *             canonical (lowercase, no leading zeros, "0" for zero; seq
 *             written "0" exactly when it is 0)
 *   fields  = [SP "j=" jobid] [SP "ef=0x" hex16] [SP "u=" dec ":" dec]
 *             [SP "nid=" nid] [SP "m=" ("r--"|"-w-"|"rw-"|"--x")]
 *             [SP "x=" xattr] [SP "p=" fid]
 *   jobid   = 1..31 bytes without SP; xattr = 1..255 bytes without SP
 *
 * Validity rules (each failure is -EINVAL with a static reason string):
 *   - fields appear in the order above, each at most once; a token after
 *     t=[...] that starts with "j=", "ef=", "u=", "nid=", "m=", "x=" or "p="
 *     is always that field (and an error if out of order or malformed);
 *   - ef= holds only CLFE_UIDGID|NID|OPEN|XATTR bits; u= and nid= appear
 *     exactly when ef= has their bit; m= and x= only when it has theirs;
 *     u=, nid=, m=, x= require ef=; p= must not be a zero FID;
 *   - the line holds no NUL byte and no '\n' except one optional final one;
 *   - a name area that is present is not empty, and each name is at most
 *     255 bytes (NAME_MAX).
 *
 * The name area starts after "p=[FID] " or, when p= is absent, after the
 * last field and one SP, at the first token that is not a field. It runs to
 * the end of the line, unless it contains the sequence
 *   SP "s=" fid SP "sp=" fid SP
 * with a non-zero (by the zero test above) sfid: then the first such
 * sequence ends the target name, and the source name is everything after
 * it. The result announces CLF_VERSION always, CLF_JOBID iff j= was seen,
 * CLF_EXTRA_FLAGS iff ef= was seen, CLF_RENAME iff the s= sequence was seen
 * (and then sname is non-NULL, possibly empty). m= gives openflags 01, 02,
 * 03 or 04. cr_prev, which the line does not show, is 0.
 *
 * Ambiguities of the lfs format and the rules chosen:
 *   - A target name containing " s=[FID] sp=[FID] " (valid, non-zero sfid)
 *     is cut there: the FIRST occurrence wins, so such text inside a source
 *     name is kept, inside a target name it is not. Invalid or zero-sfid
 *     look-alikes are plain name text.
 *   - With p= absent (zero parent, e.g. MARK records), a name whose first
 *     token starts with a field key ("j=", "ef=", ...) is read as that
 *     field: the record does not survive format then parse (the line may
 *     still be rejected). Lustre names always have a parent except MARK's.
 *   - A jobid or xattr containing SP prints as lfs prints it; the parse
 *     ends it at the SP and the rest becomes name text.
 *   - A name containing '\n' or NUL cannot be represented (as in lfs).
 *   - A rename whose sfid is zero or whose flags lack CLF_RENAME prints no
 *     s= part; its line parses as a non-rename.
 * Every line loafre_text_format produces from a record that avoids these
 * cases parses back to a record that formats to the same bytes.
 *
 * ===== 3. NID strings (loafre_nid_format / loafre_nid_parse) ================
 *
 * For a 64-bit lnet_nid_t: addr = low 32 bits, netnum = bits 32-47, lnd =
 * bits 48-63.
 *   all ones                      -> "<?>"
 *   lnd unknown                   -> "%x@<%u:%u>" (addr, lnd, netnum)
 *   lnd known, netnum == 0        -> ADDR "@%s" (LND name)
 *   lnd known, netnum != 0        -> ADDR "@%s%u" (LND name, netnum)
 * Known LNDs (name, address style): 2 "tcp" IP, 5 "o2ib" IP, 9 "lo" decimal,
 * 13 "gni" decimal, 14 "gip" IP, 15 "ptlf" decimal (PTL4LND's name is
 * "ptlf"), 16 "kfi" decimal. IP style is "%u.%u.%u.%u" of addr bytes from
 * the most significant; decimal style is "%u". (Checked against libcfs's
 * netstrfns table.) The parse accepts exactly these canonical forms.
 *
 * ===== 4. JSON (loafre_json_format) =========================================
 *
 * One object and '\n'. Keys, in this order:
 *   "index":N, "type":"NAME" (null for an unknown type), "type_num":N,
 *   "time":"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (UTC; nanoseconds as in the
 *   text line), "flags":"0x%x" (cr_flags & 0xfff), "tfid":"[...]",
 *   "pfid":"[...]",
 *   "jobid":"..."                 if CLF_JOBID
 *   "extra_flags":"0x%llx"        if CLF_EXTRA_FLAGS, then per bit:
 *     "uid":N,"gid":N             (UIDGID)
 *     "nid":"..."                 (NID)
 *     "mode":"rw-","openflags":"0x%x"   (OPEN)
 *     "xattr":"..."               (XATTR)
 *   "name":"..."                  if the name area is not empty
 *   "sfid":"[...]","spfid":"[...]","sname":"..."   if CLF_RENAME
 * Strings: '"' and '\\' are backslash-escaped, \b \f \n \r \t as such, other
 * bytes < 0x20 and 0x7f as \u00XX, valid UTF-8 sequences (shortest form,
 * no surrogates, <= U+10FFFF) copied, every other byte as \u00XX.
 */
#include "loafre/text.h"
#include "json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Upper bound of a text line without its two names (see the head). */
#define TEXT_FIXED_MAX 768

static const char dig2[200] =
	"0001020304050607080910111213141516171819"
	"2021222324252627282930313233343536373839"
	"4041424344454647484950515253545556575859"
	"6061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";
static const char hexdig[16] = "0123456789abcdef";

/* ---- civil date ------------------------------------------------------------ */

/* Days since 1970-01-01 (>= 0) to a Gregorian date: shift to an era
 * starting on March 1st of year 0 so the leap day is the last of a year. */
static void civil_from_days(uint64_t days, unsigned *y, unsigned *m, unsigned *d)
{
	uint64_t z = days + 719468; /* days from 0000-03-01 */
	uint64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);                      /* [0, 146096] */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);           /* [0, 365] */
	unsigned mp = (5 * doy + 2) / 153;                                /* March = 0 */

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (unsigned)(yoe + era * 400) + (*m <= 2);
}

/* Inverse of civil_from_days for y >= 1 (may be negative before 1970). */
static int64_t days_from_civil(unsigned y, unsigned m, unsigned d)
{
	unsigned era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + (int64_t)doe - 719468;
}

static bool is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(unsigned y, unsigned m)
{
	static const unsigned char md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

/* ---- unchecked writers (the caller guarantees room) ------------------------ */

static char *put2(char *p, unsigned v)
{
	memcpy(p, dig2 + 2 * v, 2);
	return p + 2;
}

static char *put_dec(char *p, uint64_t v)
{
	char tmp[20], *t = tmp + sizeof(tmp);
	size_t n;

	while (v >= 100) {
		unsigned i = (unsigned)(v % 100);
		v /= 100;
		t -= 2;
		memcpy(t, dig2 + 2 * i, 2);
	}
	if (v >= 10) {
		t -= 2;
		memcpy(t, dig2 + 2 * v, 2);
	} else {
		*--t = (char)('0' + v);
	}
	n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return p + n;
}

static char *put_hex(char *p, uint64_t v)
{
	int n = v ? (64 - __builtin_clzll(v) + 3) / 4 : 1;

	for (int i = n - 1; i >= 0; i--) {
		p[i] = hexdig[v & 15];
		v >>= 4;
	}
	return p + n;
}

static char *put_fid(char *p, const struct loafre_fid *f)
{
	*p++ = '[';
	if (f->f_seq == 0) {
		*p++ = '0';
	} else {
		*p++ = '0';
		*p++ = 'x';
		p = put_hex(p, f->f_seq);
	}
	memcpy(p, ":0x", 3);
	p = put_hex(p + 3, f->f_oid);
	memcpy(p, ":0x", 3);
	p = put_hex(p + 3, f->f_ver);
	*p++ = ']';
	return p;
}

/* s may be NULL when n is 0 (an absent name). */
static char *put_mem(char *p, const void *s, size_t n)
{
	if (n)
		memcpy(p, s, n);
	return p + n;
}

/* Lustre's fid_is_zero: the version is not looked at. */
static bool lfs_fid_zero(const struct loafre_fid *f)
{
	return f->f_seq == 0 && f->f_oid == 0;
}

/* Per-thread cache of the last day formatted: "YYYY.MM.DD". */
static _Thread_local uint64_t cached_day = UINT64_MAX;
static _Thread_local char cached_date[10];

/* "HH:MM:SS.nnnnnnnnn YYYY.MM.DD" (date separator `sep`, or ISO with 'T'
 * in the JSON writer: see put_iso_time). */
static char *put_clock_date(char *p, uint64_t t)
{
	uint64_t sec = loafre_cl_time_sec(t), day = sec / 86400;
	unsigned tod = (unsigned)(sec % 86400), ns = loafre_cl_time_nsec(t);

	p = put2(p, tod / 3600);
	*p++ = ':';
	p = put2(p, tod / 60 % 60);
	*p++ = ':';
	p = put2(p, tod % 60);
	*p++ = '.';
	if (ns >= 1000000000u) {
		p = put_dec(p, ns);
	} else {
		for (int i = 8; i >= 0; i--) {
			p[i] = (char)('0' + ns % 10);
			ns /= 10;
		}
		p += 9;
	}
	*p++ = ' ';
	if (day != cached_day) {
		unsigned y, m, d;

		civil_from_days(day, &y, &m, &d);
		put2(cached_date, y / 100);
		put2(cached_date + 2, y % 100);
		cached_date[4] = '.';
		put2(cached_date + 5, m);
		cached_date[7] = '.';
		put2(cached_date + 8, d);
		cached_day = day;
	}
	return put_mem(p, cached_date, 10);
}

/* ---- NIDs -------------------------------------------------------------------- */

struct lnd_info {
	uint16_t lnd;
	bool ip;
	uint8_t namelen;
	const char *name;
};

static const struct lnd_info lnds[] = {
	{2, true, 3, "tcp"},   {5, true, 4, "o2ib"},  {9, false, 2, "lo"},  {13, false, 3, "gni"},
	{14, true, 3, "gip"},  {15, false, 4, "ptlf"}, {16, false, 3, "kfi"},
};

static const struct lnd_info *lnd_by_num(unsigned lnd)
{
	for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(lnds); i++)
		if (lnds[i].lnd == lnd)
			return &lnds[i];
	return NULL;
}

/* Writes the NID string (at most 32 bytes, no NUL). */
static char *put_nid(char *p, uint64_t nid)
{
	uint32_t addr = (uint32_t)nid;
	unsigned netnum = (unsigned)(nid >> 32) & 0xffff, lnd = (unsigned)(nid >> 48);
	const struct lnd_info *li;

	if (nid == UINT64_MAX)
		return put_mem(p, "<?>", 3);
	li = lnd_by_num(lnd);
	if (!li) {
		p = put_hex(p, addr);
		*p++ = '@';
		*p++ = '<';
		p = put_dec(p, lnd);
		*p++ = ':';
		p = put_dec(p, netnum);
		*p++ = '>';
		return p;
	}
	if (li->ip) {
		p = put_dec(p, addr >> 24);
		*p++ = '.';
		p = put_dec(p, (addr >> 16) & 0xff);
		*p++ = '.';
		p = put_dec(p, (addr >> 8) & 0xff);
		*p++ = '.';
		p = put_dec(p, addr & 0xff);
	} else {
		p = put_dec(p, addr);
	}
	*p++ = '@';
	p = put_mem(p, li->name, li->namelen);
	if (netnum)
		p = put_dec(p, netnum);
	return p;
}

int loafre_nid_format(uint64_t nid, char *buf, size_t cap)
{
	char tmp[64];
	size_t n = (size_t)(put_nid(tmp, nid) - tmp);

	if (n + 1 > cap)
		return -ENOBUFS;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return (int)n;
}

/* ---- scanners (canonical forms only; NULL on failure) ----------------------- */

static inline bool is_digit(char c)
{
	return (unsigned)((unsigned char)c - '0') <= 9;
}

static inline int hexval(char c)
{
	unsigned u = (unsigned char)c;

	if (u - '0' <= 9)
		return (int)(u - '0');
	if (u - 'a' <= 5)
		return (int)(u - 'a' + 10);
	return -1;
}

/* Canonical decimal u64: no leading zeros except "0" itself. */
static const char *scan_dec(const char *p, const char *e, uint64_t *ret)
{
	uint64_t v = 0;

	if (p == e || !is_digit(*p))
		return NULL;
	if (*p == '0')
		return (p + 1 < e && is_digit(p[1])) ? NULL : (*ret = 0, p + 1);
	while (p < e && is_digit(*p)) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return NULL;
		v = v * 10 + d;
		p++;
	}
	*ret = v;
	return p;
}

/* Canonical lowercase hex, 1..maxdig digits, no leading zeros but "0". */
static const char *scan_hex(const char *p, const char *e, uint64_t *ret, int maxdig)
{
	uint64_t v = 0;
	int n = 0, d;

	if (p == e || (d = hexval(*p)) < 0)
		return NULL;
	if (d == 0)
		return (p + 1 < e && hexval(p[1]) >= 0) ? NULL : (*ret = 0, p + 1);
	while (p < e && (d = hexval(*p)) >= 0) {
		if (++n > maxdig)
			return NULL;
		v = v << 4 | (unsigned)d;
		p++;
	}
	*ret = v;
	return p;
}

static const char *scan_fid(const char *p, const char *e, struct loafre_fid *ret)
{
	uint64_t seq, oid, ver;

	if (e - p < 11 || p[0] != '[') /* the shortest is "[0:0x0:0x0]" */
		return NULL;
	p++;
	if (p[0] == '0' && p[1] == ':') {
		seq = 0;
		p++;
	} else {
		if (p[0] != '0' || p[1] != 'x')
			return NULL;
		p = scan_hex(p + 2, e, &seq, 16);
		if (!p || seq == 0)
			return NULL;
	}
	if (e - p < 3 || memcmp(p, ":0x", 3) != 0)
		return NULL;
	p = scan_hex(p + 3, e, &oid, 8);
	if (!p || e - p < 3 || memcmp(p, ":0x", 3) != 0)
		return NULL;
	p = scan_hex(p + 3, e, &ver, 8);
	if (!p || p == e || *p != ']')
		return NULL;
	ret->f_seq = seq;
	ret->f_oid = (uint32_t)oid;
	ret->f_ver = (uint32_t)ver;
	return p + 1;
}

int loafre_nid_parse(const char *s, size_t len, uint64_t *ret_nid)
{
	const char *e = s + len, *at, *p;
	const struct lnd_info *li = NULL;
	uint64_t addr = 0, lnd, netnum = 0, v;

	if (len == 3 && memcmp(s, "<?>", 3) == 0) {
		*ret_nid = UINT64_MAX;
		return 0;
	}
	at = memchr(s, '@', len);
	if (!at || at == s)
		return -EINVAL;
	if (at + 1 < e && at[1] == '<') {
		/* Unknown LND: "%x@<%u:%u>". */
		p = scan_hex(s, at, &addr, 8);
		if (p != at)
			return -EINVAL;
		p = scan_dec(at + 2, e, &lnd);
		if (!p || lnd > 0xffff || lnd_by_num((unsigned)lnd) || p == e || *p != ':')
			return -EINVAL;
		p = scan_dec(p + 1, e, &netnum);
		if (!p || netnum > 0xffff || p + 1 != e || *p != '>')
			return -EINVAL;
		v = lnd << 48 | netnum << 32 | addr;
		if (v == UINT64_MAX)
			return -EINVAL; /* that one prints as "<?>" */
		*ret_nid = v;
		return 0;
	}
	for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(lnds); i++)
		if ((size_t)(e - at - 1) >= lnds[i].namelen &&
		    memcmp(at + 1, lnds[i].name, lnds[i].namelen) == 0)
			li = &lnds[i];
	if (!li)
		return -EINVAL;
	p = at + 1 + li->namelen;
	if (p < e) {
		p = scan_dec(p, e, &netnum);
		if (!p || p != e || netnum == 0 || netnum > 0xffff)
			return -EINVAL;
	}
	if (li->ip) {
		p = s;
		for (int i = 0; i < 4; i++) {
			uint64_t b;

			p = scan_dec(p, at, &b);
			if (!p || b > 255)
				return -EINVAL;
			addr = addr << 8 | b;
			if (i < 3) {
				if (p == at || *p != '.')
					return -EINVAL;
				p++;
			}
		}
	} else {
		p = scan_dec(s, at, &addr);
		if (!p || addr > UINT32_MAX)
			return -EINVAL;
	}
	if (p != at)
		return -EINVAL;
	*ret_nid = (uint64_t)li->lnd << 48 | netnum << 32 | addr;
	return 0;
}

/* ---- text format ------------------------------------------------------------ */

/* %.*s semantics: at most n bytes, stopping at a NUL. */
static size_t cstr_len(const char *s, size_t n)
{
	const char *nul;

	if (!s || !n)
		return 0;
	nul = memchr(s, '\0', n);
	return nul ? (size_t)(nul - s) : n;
}

static char *put_mode(char *p, uint32_t of)
{
	char m[3] = {'-', '-', '-'};

	if (of & 04) {
		m[2] = 'x';
	} else {
		if (of & 01)
			m[0] = 'r';
		if (of & (02 | 01000 | 02000))
			m[1] = 'w';
	}
	return put_mem(p, m, 3);
}

static bool mode_is_empty(uint32_t of)
{
	return !(of & (01 | 02 | 04 | 01000 | 02000));
}

/* Writes the line and a NUL into buf, which holds TEXT_FIXED_MAX + tlen +
 * slen bytes. Returns the length without NUL. */
static size_t format_line(const struct loafre_rec *r, size_t tlen, size_t slen, char *buf)
{
	const char *tname;
	char *p = buf;
	int32_t type = (int32_t)r->type;
	size_t area;

	p = put_dec(p, r->index);
	*p++ = ' ';
	if (type < 0) {
		*p++ = '-';
		p = put_dec(p, (uint64_t)(-(int64_t)type));
	} else if (type < 10) {
		*p++ = '0';
		*p++ = (char)('0' + type);
	} else {
		p = put_dec(p, (uint64_t)type);
	}
	tname = loafre_cl_type_name(r->type);
	if (!tname)
		tname = "(null)";
	{
		size_t n = strlen(tname);

		p = put_mem(p, tname, n);
		for (; n < 5; n++)
			*p++ = ' ';
	}
	*p++ = ' ';
	p = put_clock_date(p, r->time);
	p = put_mem(p, " 0x", 3);
	p = put_hex(p, r->flags & LOAFRE_CLF_FLAGMASK);
	p = put_mem(p, " t=", 3);
	p = put_fid(p, &r->tfid);

	if ((r->flags & LOAFRE_CLF_JOBID) && r->jobid[0]) {
		p = put_mem(p, " j=", 3);
		p = put_mem(p, r->jobid, strnlen(r->jobid, sizeof(r->jobid)));
	}
	if (r->flags & LOAFRE_CLF_EXTRA_FLAGS) {
		uint64_t ef = r->extra_flags;

		p = put_mem(p, " ef=0x", 6);
		p = put_hex(p, ef);
		if (ef & LOAFRE_CLFE_UIDGID) {
			p = put_mem(p, " u=", 3);
			p = put_dec(p, r->uid);
			*p++ = ':';
			p = put_dec(p, r->gid);
		}
		if (ef & LOAFRE_CLFE_NID) {
			p = put_mem(p, " nid=", 5);
			p = put_nid(p, r->nid);
		}
		if ((ef & LOAFRE_CLFE_OPEN) && !mode_is_empty(r->openflags)) {
			p = put_mem(p, " m=", 3);
			p = put_mode(p, r->openflags);
		}
		if ((ef & LOAFRE_CLFE_XATTR) && r->xattr[0]) {
			p = put_mem(p, " x=", 3);
			p = put_mem(p, r->xattr, strnlen(r->xattr, sizeof(r->xattr)));
		}
	}
	if (!lfs_fid_zero(&r->pfid)) {
		p = put_mem(p, " p=", 3);
		p = put_fid(p, &r->pfid);
	}
	area = loafre_rec_namearea(r);
	if (area) {
		*p++ = ' ';
		p = put_mem(p, r->name, tlen);
	}
	if ((r->flags & LOAFRE_CLF_RENAME) && !lfs_fid_zero(&r->sfid)) {
		p = put_mem(p, " s=", 3);
		p = put_fid(p, &r->sfid);
		p = put_mem(p, " sp=", 4);
		p = put_fid(p, &r->spfid);
		*p++ = ' ';
		p = put_mem(p, r->sname, slen);
	}
	*p++ = '\n';
	*p = '\0';
	return (size_t)(p - buf);
}

int loafre_text_format(const struct loafre_rec *rec, char *buf, size_t cap)
{
	char stack[LOAFRE_TEXT_LINE_MAX], *tmp = stack;
	size_t tlen = cstr_len(rec->name, rec->namelen);
	size_t slen = rec->sname ? cstr_len(rec->sname, rec->snamelen) : 0;
	size_t bound = TEXT_FIXED_MAX + tlen + slen, n;
	int ret;

	if (cap >= bound)
		return (int)format_line(rec, tlen, slen, buf);
	/* Small caller buffer: format aside, then copy if it fits. */
	if (bound > sizeof(stack)) {
		tmp = malloc(bound);
		if (!tmp)
			return -ENOMEM;
	}
	n = format_line(rec, tlen, slen, tmp);
	if (n + 1 > cap || n > INT32_MAX) {
		ret = -ENOBUFS;
		goto out;
	}
	memcpy(buf, tmp, n + 1);
	ret = (int)n;
out:
	if (tmp != stack)
		free(tmp);
	return ret;
}

/* ---- text parse ------------------------------------------------------------- */

enum field_key { K_J, K_EF, K_U, K_NID, K_M, K_X, K_P, K_NONE };

/* Which field key starts at p (the key text and '=' included in *klen). */
static enum field_key match_key(const char *p, const char *e, size_t *klen)
{
	size_t n = (size_t)(e - p);

	if (n < 2)
		return K_NONE;
	switch (p[0]) {
	case 'j':
		if (p[1] == '=')
			return *klen = 2, K_J;
		break;
	case 'u':
		if (p[1] == '=')
			return *klen = 2, K_U;
		break;
	case 'm':
		if (p[1] == '=')
			return *klen = 2, K_M;
		break;
	case 'x':
		if (p[1] == '=')
			return *klen = 2, K_X;
		break;
	case 'p':
		if (p[1] == '=')
			return *klen = 2, K_P;
		break;
	case 'e':
		if (n >= 3 && p[1] == 'f' && p[2] == '=')
			return *klen = 3, K_EF;
		break;
	case 'n':
		if (n >= 4 && p[1] == 'i' && p[2] == 'd' && p[3] == '=')
			return *klen = 4, K_NID;
		break;
	default:
		break;
	}
	return K_NONE;
}

/* The " s=[FID] sp=[FID] " sequence at p (which points at its first SP).
 * Returns the start of the source name, or NULL. */
static const char *scan_rename(const char *p, const char *e, struct loafre_fid *sfid,
			       struct loafre_fid *spfid)
{
	p = scan_fid(p + 3, e, sfid);
	if (!p || lfs_fid_zero(sfid) || e - p < 4 || memcmp(p, " sp=", 4) != 0)
		return NULL;
	p = scan_fid(p + 4, e, spfid);
	if (!p || p == e || *p != ' ')
		return NULL;
	return p + 1;
}

static const char *value_end(const char *p, const char *e)
{
	const char *sp = memchr(p, ' ', (size_t)(e - p));
	return sp ? sp : e;
}

#define FAIL(w)            \
	do {               \
		why = (w); \
		goto fail; \
	} while (0)

int loafre_text_parse(const char *line, size_t len, struct loafre_rec *ret_rec,
		      const char **ret_why)
{
	const char *p = line, *e = line + len, *q, *why = NULL, *expect;
	struct loafre_rec r;
	uint64_t v, v2;
	unsigned hh, mi, ss, yy, mo, dd, next = K_J;
	bool neg = false, seen_u = false, seen_nid = false;
	size_t n, klen = 0;
	int64_t days;

	if (len && e[-1] == '\n')
		e--;
	if (memchr(p, '\n', (size_t)(e - p)))
		FAIL("newline inside line");
	if (memchr(p, '\0', (size_t)(e - p)))
		FAIL("NUL byte in line");
	memset(&r, 0, offsetof(struct loafre_rec, name));
	r.name = r.sname = NULL;
	r.namelen = r.snamelen = 0;

	/* INDEX SP */
	q = scan_dec(p, e, &r.index);
	if (!q || q == e || *q != ' ')
		FAIL("bad index");
	p = q + 1;

	/* %02d type number: an int32, at least 2 digits, no other leading
	 * zeros; negative values print as "-N". */
	if (p < e && *p == '-') {
		neg = true;
		p++;
	}
	v = 0;
	for (q = p; q < e && is_digit(*q) && q - p < 11; q++)
		v = v * 10 + (unsigned)(*q - '0');
	if (neg ? (q == p || *p == '0' || v > 0x80000000ull)
		: (q - p < 2 || (q - p > 2 && *p == '0') || v > INT32_MAX))
		FAIL("bad type");
	r.type = neg ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
	p = q;

	/* %-5s type name */
	q = value_end(p, e);
	n = (size_t)(q - p);
	expect = loafre_cl_type_name(r.type);
	if (!expect)
		expect = "(null)";
	if (n != strlen(expect) || memcmp(p, expect, n) != 0) {
		if (loafre_cl_type_from_name(p, n) >= 0 || (n == 6 && memcmp(p, "(null)", 6) == 0))
			FAIL("type name does not match number");
		FAIL("bad type");
	}
	p = q;
	for (; n < 5; n++, p++)
		if (p == e || *p != ' ')
			FAIL("bad type");
	if (p == e || *p != ' ')
		FAIL("bad type");
	p++;

	/* HH:MM:SS.nnnnnnnnn SP */
	if (e - p < 19 || !is_digit(p[0]) || !is_digit(p[1]) || p[2] != ':' || !is_digit(p[3]) ||
	    !is_digit(p[4]) || p[5] != ':' || !is_digit(p[6]) || !is_digit(p[7]) || p[8] != '.')
		FAIL("bad time");
	hh = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
	mi = (unsigned)(p[3] - '0') * 10 + (unsigned)(p[4] - '0');
	ss = (unsigned)(p[6] - '0') * 10 + (unsigned)(p[7] - '0');
	if (hh > 23 || mi > 59 || ss > 59)
		FAIL("bad time");
	p += 9;
	v = 0;
	for (q = p; q < e && is_digit(*q); q++)
		v = v * 10 + (unsigned)(*q - '0');
	if (q - p == 10 ? (v < 1000000000u || v >= (1u << 30)) : q - p != 9)
		FAIL("bad time");
	if (q == e || *q != ' ')
		FAIL("bad time");
	p = q + 1;

	/* YYYY.MM.DD SP */
	if (e - p < 11 || !is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]) ||
	    !is_digit(p[3]) || p[4] != '.' || !is_digit(p[5]) || !is_digit(p[6]) || p[7] != '.' ||
	    !is_digit(p[8]) || !is_digit(p[9]) || p[10] != ' ')
		FAIL("bad date");
	yy = (unsigned)(p[0] - '0') * 1000 + (unsigned)(p[1] - '0') * 100 +
	     (unsigned)(p[2] - '0') * 10 + (unsigned)(p[3] - '0');
	mo = (unsigned)(p[5] - '0') * 10 + (unsigned)(p[6] - '0');
	dd = (unsigned)(p[8] - '0') * 10 + (unsigned)(p[9] - '0');
	if (yy < 1970 || mo < 1 || mo > 12 || dd < 1 || dd > month_days(yy, mo))
		FAIL("bad date");
	days = days_from_civil(yy, mo, dd);
	v2 = (uint64_t)days * 86400 + hh * 3600u + mi * 60u + ss;
	if (days < 0 || v2 >= (1ull << 34))
		FAIL("bad date");
	r.time = loafre_cl_time(v2, (uint32_t)v);
	p += 11;

	/* 0xFLAGS SP t=FID */
	if (e - p < 3 || p[0] != '0' || p[1] != 'x')
		FAIL("bad flags");
	q = scan_hex(p + 2, e, &v, 3);
	if (!q || v > LOAFRE_CLF_FLAGMASK || q == e || *q != ' ')
		FAIL("bad flags");
	r.flags = (uint16_t)(LOAFRE_CLF_VERSION | v);
	p = q + 1;
	if (e - p < 2 || p[0] != 't' || p[1] != '=')
		FAIL("missing t=");
	q = scan_fid(p + 2, e, &r.tfid);
	if (!q)
		FAIL("bad FID in t=");
	p = q;

	/* Fields, in order, until the name area or the end. */
	for (;;) {
		enum field_key k;

		if (p == e)
			goto fields_done;
		if (*p != ' ')
			FAIL("trailing garbage");
		p++;
		k = match_key(p, e, &klen);
		if (k == K_NONE)
			break; /* the name area starts at p */
		if ((unsigned)k < next)
			FAIL("field out of order or repeated");
		next = (unsigned)k + 1;
		p += klen;
		q = value_end(p, e);
		n = (size_t)(q - p);
		switch (k) {
		case K_J:
			if (n == 0)
				FAIL("empty j=");
			if (n >= LOAFRE_JOBID_SIZE)
				FAIL("jobid too long");
			memcpy(r.jobid, p, n);
			r.flags |= LOAFRE_CLF_JOBID;
			break;
		case K_EF:
			if (n < 3 || p[0] != '0' || p[1] != 'x' || scan_hex(p + 2, q, &v, 16) != q)
				FAIL("bad ef=");
			if (v & ~(uint64_t)LOAFRE_CLFE_SUPPORTED)
				FAIL("unknown bits in ef=");
			r.extra_flags = v;
			r.flags |= LOAFRE_CLF_EXTRA_FLAGS;
			break;
		case K_U:
			if (!(r.extra_flags & LOAFRE_CLFE_UIDGID))
				FAIL("u= without ef UIDGID bit");
			p = scan_dec(p, q, &r.uid);
			if (!p || p == q || *p != ':' || scan_dec(p + 1, q, &r.gid) != q)
				FAIL("bad u=");
			seen_u = true;
			break;
		case K_NID:
			if (!(r.extra_flags & LOAFRE_CLFE_NID))
				FAIL("nid= without ef NID bit");
			if (loafre_nid_parse(p, n, &r.nid) < 0)
				FAIL("bad nid=");
			seen_nid = true;
			break;
		case K_M:
			if (!(r.extra_flags & LOAFRE_CLFE_OPEN))
				FAIL("m= without ef OPEN bit");
			if (n != 3)
				FAIL("bad m=");
			if (memcmp(p, "r--", 3) == 0)
				r.openflags = 01;
			else if (memcmp(p, "-w-", 3) == 0)
				r.openflags = 02;
			else if (memcmp(p, "rw-", 3) == 0)
				r.openflags = 03;
			else if (memcmp(p, "--x", 3) == 0)
				r.openflags = 04;
			else
				FAIL("bad m=");
			break;
		case K_X:
			if (!(r.extra_flags & LOAFRE_CLFE_XATTR))
				FAIL("x= without ef XATTR bit");
			if (n == 0)
				FAIL("empty x=");
			if (n >= LOAFRE_XATTR_NAME_SIZE)
				FAIL("xattr too long");
			memcpy(r.xattr, p, n);
			break;
		case K_P:
			q = scan_fid(p, e, &r.pfid);
			if (!q || (q != e && *q != ' '))
				FAIL("bad FID in p=");
			if (lfs_fid_zero(&r.pfid))
				FAIL("zero FID in p=");
			if (q == e) {
				p = q;
				goto fields_done;
			}
			p = q + 1;
			goto name_area;
		case K_NONE:
			break;
		}
		p = q;
	}
name_area:
	if (p == e)
		FAIL("empty name");
	{
		const char *s = p, *sname = NULL, *tend = e;

		while ((s = memmem(s, (size_t)(e - s), " s=[", 4)) != NULL) {
			sname = scan_rename(s, e, &r.sfid, &r.spfid);
			if (sname) {
				tend = s;
				break;
			}
			s++;
		}
		if (sname) {
			if (e - sname > LOAFRE_NAME_MAX)
				FAIL("name too long");
			r.sname = sname;
			r.snamelen = (uint16_t)(e - sname);
			r.flags |= LOAFRE_CLF_RENAME;
		} else {
			memset(&r.sfid, 0, sizeof(r.sfid));
			memset(&r.spfid, 0, sizeof(r.spfid));
		}
		if (tend - p > LOAFRE_NAME_MAX)
			FAIL("name too long");
		r.name = p;
		r.namelen = (uint16_t)(tend - p);
	}
fields_done:
	if ((r.extra_flags & LOAFRE_CLFE_UIDGID) && !seen_u)
		FAIL("ef UIDGID bit without u=");
	if ((r.extra_flags & LOAFRE_CLFE_NID) && !seen_nid)
		FAIL("ef NID bit without nid=");
	*ret_rec = r;
	return 0;
fail:
	if (ret_why)
		*ret_why = why;
	return -EINVAL;
}

/* ---- JSON ------------------------------------------------------------------- */

struct jw {
	char *p, *end;
	bool full;
};

static void jw_mem(struct jw *w, const void *s, size_t n)
{
	if (w->full || (size_t)(w->end - w->p) < n) {
		w->full = true;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

static void jw_str(struct jw *w, const char *s)
{
	jw_mem(w, s, strlen(s));
}

/* Up to 64 bytes produced by an unchecked writer. */
static void jw_dec(struct jw *w, uint64_t v)
{
	char tmp[24];
	jw_mem(w, tmp, (size_t)(put_dec(tmp, v) - tmp));
}

static void jw_hex(struct jw *w, uint64_t v)
{
	char tmp[24] = "\"0x";
	char *e = put_hex(tmp + 3, v);
	*e++ = '"';
	jw_mem(w, tmp, (size_t)(e - tmp));
}

static void jw_fid(struct jw *w, const char *key, const struct loafre_fid *f)
{
	char tmp[LOAFRE_FID_STRLEN + 2], *e;

	jw_str(w, key);
	tmp[0] = '"';
	e = put_fid(tmp + 1, f);
	*e++ = '"';
	jw_mem(w, tmp, (size_t)(e - tmp));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0; /* > U+10FFFF */
		return 4;
	}
	return 0;
}

static void jw_jstr(struct jw *w, const char *key, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	jw_str(w, key);
	jw_mem(w, "\"", 1);
	while (i < n) {
		unsigned c = u[i];
		size_t l;
		char esc[6];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jw_mem(w, esc, 2);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			const char *short_esc = NULL;

			switch (c) {
			case '\b': short_esc = "\\b"; break;
			case '\f': short_esc = "\\f"; break;
			case '\n': short_esc = "\\n"; break;
			case '\r': short_esc = "\\r"; break;
			case '\t': short_esc = "\\t"; break;
			default: break;
			}
			if (short_esc) {
				jw_mem(w, short_esc, 2);
				i++;
				continue;
			}
			l = 0;
		} else {
			l = utf8_len(u + i, n - i);
		}
		if (l == 0) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hexdig[c >> 4];
			esc[5] = hexdig[c & 15];
			jw_mem(w, esc, 6);
			i++;
			continue;
		}
		jw_mem(w, u + i, l);
		i += l;
	}
	jw_mem(w, "\"", 1);
}

int loafre__json_quote(const char *s, size_t n, char *buf, size_t cap, size_t *ret_len)
{
	struct jw w = {buf, buf + cap, false};

	if (cap == 0)
		return -ENOSPC;
	w.end = buf + cap - 1; /* room for the NUL */
	jw_jstr(&w, "", s, n);
	if (w.full)
		return -ENOSPC;
	*w.p = '\0';
	if (ret_len)
		*ret_len = (size_t)(w.p - buf);
	return 0;
}

int loafre__json_fquote(FILE *f, const char *s)
{
	size_t n = strlen(s), cap = 6 * n + 3, len;
	char small[1024], *buf = cap <= sizeof(small) ? small : malloc(cap);
	int r;

	if (!buf)
		return -ENOMEM;
	r = loafre__json_quote(s, n, buf, cap, &len);
	if (r == 0 && fwrite(buf, 1, len, f) != len)
		r = -EIO;
	if (buf != small)
		free(buf);
	return r;
}

int loafre_json_format(const struct loafre_rec *rec, char *buf, size_t cap)
{
	struct jw w = {buf, buf + cap, false};
	const char *tn = loafre_cl_type_name(rec->type);
	char tmp[64], *e;
	uint64_t ef = rec->extra_flags;

	jw_str(&w, "{\"index\":");
	jw_dec(&w, rec->index);
	if (tn)
		jw_jstr(&w, ",\"type\":", tn, strlen(tn));
	else
		jw_str(&w, ",\"type\":null");
	jw_str(&w, ",\"type_num\":");
	jw_dec(&w, rec->type);

	/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" from the text writer's pieces. */
	e = put_clock_date(tmp, rec->time); /* "HH:MM:SS.n... YYYY.MM.DD" */
	{
		char iso[48];
		size_t clock_len = (size_t)(e - tmp) - 11;
		char *d = tmp + clock_len + 1, *o = iso;

		*o++ = '"';
		o = put_mem(o, d, 4);
		*o++ = '-';
		o = put_mem(o, d + 5, 2);
		*o++ = '-';
		o = put_mem(o, d + 8, 2);
		*o++ = 'T';
		o = put_mem(o, tmp, clock_len);
		*o++ = 'Z';
		*o++ = '"';
		jw_str(&w, ",\"time\":");
		jw_mem(&w, iso, (size_t)(o - iso));
	}
	jw_str(&w, ",\"flags\":");
	jw_hex(&w, rec->flags & LOAFRE_CLF_FLAGMASK);
	jw_fid(&w, ",\"tfid\":", &rec->tfid);
	jw_fid(&w, ",\"pfid\":", &rec->pfid);
	if (rec->flags & LOAFRE_CLF_JOBID)
		jw_jstr(&w, ",\"jobid\":", rec->jobid, strnlen(rec->jobid, sizeof(rec->jobid)));
	if (rec->flags & LOAFRE_CLF_EXTRA_FLAGS) {
		jw_str(&w, ",\"extra_flags\":");
		jw_hex(&w, ef);
		if (ef & LOAFRE_CLFE_UIDGID) {
			jw_str(&w, ",\"uid\":");
			jw_dec(&w, rec->uid);
			jw_str(&w, ",\"gid\":");
			jw_dec(&w, rec->gid);
		}
		if (ef & LOAFRE_CLFE_NID) {
			e = put_nid(tmp, rec->nid);
			jw_jstr(&w, ",\"nid\":", tmp, (size_t)(e - tmp));
		}
		if (ef & LOAFRE_CLFE_OPEN) {
			e = put_mode(tmp, rec->openflags);
			jw_jstr(&w, ",\"mode\":", tmp, 3);
			jw_str(&w, ",\"openflags\":");
			jw_hex(&w, rec->openflags);
		}
		if (ef & LOAFRE_CLFE_XATTR)
			jw_jstr(&w, ",\"xattr\":", rec->xattr,
				strnlen(rec->xattr, sizeof(rec->xattr)));
	}
	if (loafre_rec_namearea(rec))
		jw_jstr(&w, ",\"name\":", rec->name, cstr_len(rec->name, rec->namelen));
	if (rec->flags & LOAFRE_CLF_RENAME) {
		jw_fid(&w, ",\"sfid\":", &rec->sfid);
		jw_fid(&w, ",\"spfid\":", &rec->spfid);
		jw_jstr(&w, ",\"sname\":", rec->sname,
			rec->sname ? cstr_len(rec->sname, rec->snamelen) : 0);
	}
	jw_mem(&w, "}\n", 3); /* with the NUL */
	if (w.full || w.p - buf - 1 > INT32_MAX)
		return -ENOBUFS;
	return (int)(w.p - buf - 1);
}
