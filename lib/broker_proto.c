/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_proto.c — the broker wire protocol (see broker_proto.h).
 *
 * Transport: ZeroMQ multipart messages, consumer DEALER ⇄ broker ROUTER
 * (the ROUTER's identity frame is the transport's, not part of this
 * format). Every message is 1 to 4 frames; the first is the command, its
 * ASCII name exactly (no NUL, case-sensitive). Integer frames are exactly
 * their size, little-endian. Text frames hold no NUL and are not
 * NUL-terminated.
 *
 *   dir   frames                                   limits / rules
 *   C→B   "HELLO"   text options                   text ≤ 4096 bytes (options below)
 *   B→C   "WELCOME" u32 member id, text MDT list   list ≤ 64 KiB: "NAME=ID,NAME=ID"
 *                                                  (NAME: [A-Za-z0-9_-], 1..63 bytes;
 *                                                  ID: decimal u32); may be empty
 *   B→C   "RECS"    u32 mdt id, records [, paths]  records: 1 byte .. 64 MiB of Lustre
 *                                                  binary records back to back, each
 *                                                  sized by loafre_rec_decode (record.h);
 *                                                  paths (optional 4th frame, only to a
 *                                                  member whose HELLO had paths=): below
 *   C→B   "ACK"     u32 mdt id, ranges             1..4096 pairs (u64 first, u64 last),
 *                                                  16 bytes each, 1 ≤ first ≤ last;
 *                                                  inclusive; ascending and disjoint
 *                                                  (each first > the previous last)
 *   C→B   "CREDIT"  u32 n                          1 ≤ n ≤ 2^20: n more records in flight
 *   B→C   "GAP"     u32 mdt id, u64 lost           ephemeral reader lost `lost` records
 *   both  "PING" / "PONG"                          single frame
 *   B→C   "ERR"     i32 -errno (< 0), text         text ≤ 4096 bytes
 *   C→B   "BYE"                                    single frame
 *
 * HELLO options: tokens separated by blanks (space, tab, CR, LF):
 *   group=NAME        persistent group (Lustre reader name: a letter, then
 *                     letters, digits, '_', '-'; ≤ 15 bytes)
 *   ephemeral         an ephemeral reader (exactly one of group / ephemeral)
 *   start=oldest | newest | MDT:INDEX[,MDT:INDEX...]   where a new group
 *                     starts (ignored for an existing group; not allowed
 *                     with ephemeral); INDEX is the first index delivered;
 *                     MDTs not listed start at the oldest; ≤ 64 entries
 *   credit=N          initial credit, 1..2^20 (the broker caps it at its
 *                     max_credit; default: the broker's max_credit)
 *   fields=F,F...     extensions wanted: jobid uidgid nid openmode xattr,
 *                     or all; empty value: none (rename is always kept);
 *                     default: records as journaled
 *   heartbeat_ms=N    10..3600000 (default: the broker's heartbeat_ms)
 *   paths=FSNAME      path annotations (docs/design/replication.md,
 *                     decisions 1 and 2): FSNAME names a [filesystem] of the
 *                     broker's configuration ([A-Za-z0-9_-], 1..63 bytes
 *                     here; the configuration allows 8); only with group=.
 *                     The member then gets RECS with the paths frame.
 * Each key at most once; unknown key or bad value: ERR -EINVAL with a
 * reason. Numbers are decimal, no sign, no leading zeros beyond "0".
 *
 * RECS paths frame: one entry per record of the records frame, in the same
 * order (their number must be equal), each a 16-byte header then bytes:
 *   u32 flags        LOAFRE_RP_DIR 0x1, LOAFRE_RP_VICTIM_DIR 0x2,
 *                    LOAFRE_RP_BARRIER 0x4 (consumer.h); other bits: invalid
 *   i32 path_err     0 or -errno (-4095..-1): why there is no path
 *   i32 spath_err    the same for spath
 *   u16 path_len     0..4095 bytes
 *   u16 spath_len    0..4095 bytes
 *   path_len bytes   the path as of the record, relative to the filesystem's
 *                    root: '/' first, no NUL, not NUL-terminated
 *   spath_len bytes  the same for a rename's source (spath)
 * A non-empty path has error 0. At most 128 MiB in all. Anything else
 * (a short entry, trailing bytes, a count differing from the records')
 * is -EBADMSG.
 *
 * Errors (decode): -EPROTO unknown command, -EMSGSIZE oversized frame,
 * -EBADMSG anything else malformed.
 */
#include "broker_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *const cmd_names[] = {
	[LOAFRE__BP_HELLO] = "HELLO", [LOAFRE__BP_WELCOME] = "WELCOME",
	[LOAFRE__BP_RECS] = "RECS",   [LOAFRE__BP_ACK] = "ACK",
	[LOAFRE__BP_CREDIT] = "CREDIT", [LOAFRE__BP_GAP] = "GAP",
	[LOAFRE__BP_PING] = "PING",   [LOAFRE__BP_PONG] = "PONG",
	[LOAFRE__BP_ERR] = "ERR",     [LOAFRE__BP_BYE] = "BYE",
};

/* Frames per command (including the command frame). */
static const unsigned cmd_frames[] = {
	[LOAFRE__BP_HELLO] = 2, [LOAFRE__BP_WELCOME] = 3, [LOAFRE__BP_RECS] = 3,
	[LOAFRE__BP_ACK] = 3,   [LOAFRE__BP_CREDIT] = 2,  [LOAFRE__BP_GAP] = 3,
	[LOAFRE__BP_PING] = 1,  [LOAFRE__BP_PONG] = 1,    [LOAFRE__BP_ERR] = 3,
	[LOAFRE__BP_BYE] = 1,
};

const char *loafre__bp_cmd_name(enum loafre__bp_cmd cmd)
{
	if ((unsigned)cmd < LOAFRE__BP_HELLO || (unsigned)cmd > LOAFRE__BP_BYE)
		return NULL;
	return cmd_names[cmd];
}

static int fail(int r, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int r, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static bool text_ok(const void *p, size_t len)
{
	return len == 0 || memchr(p, '\0', len) == NULL;
}

static bool mdt_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > LOAFRE__BP_MDT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool loafre__bp_group_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > LOAFRE__BP_GROUP_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	return mdt_name_ok(s, len);
}

/* Strict decimal: digits only, no leading zero unless "0", no overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

/* ---- RECS paths frame ----------------------------------------------------- */

static bool path_ok(const char *p, size_t len)
{
	return len == 0 || (len <= LOAFRE__BP_PATH_MAX && p[0] == '/' && memchr(p, '\0', len) == NULL);
}

static bool path_err_ok(int32_t e, size_t len)
{
	return e <= 0 && e >= -4095 && (len == 0 || e == 0);
}

int loafre__bp_paths_put(void *buf, size_t cap, size_t *len, const struct loafre__bp_rec_paths *p)
{
	uint8_t *b;

	if ((p->flags & ~LOAFRE__BP_RP_FLAGS) || (p->path_len && !p->path) ||
	    (p->spath_len && !p->spath) || !path_ok(p->path, p->path_len) ||
	    !path_ok(p->spath, p->spath_len) || !path_err_ok(p->path_err, p->path_len) ||
	    !path_err_ok(p->spath_err, p->spath_len))
		return -EINVAL;
	if (*len > cap || cap - *len < LOAFRE__BP_PATHS_HDR + p->path_len + p->spath_len)
		return -ENOBUFS;
	b = (uint8_t *)buf + *len;
	loafre__put32(b, p->flags);
	loafre__put32(b + 4, (uint32_t)p->path_err);
	loafre__put32(b + 8, (uint32_t)p->spath_err);
	b[12] = (uint8_t)p->path_len;
	b[13] = (uint8_t)(p->path_len >> 8);
	b[14] = (uint8_t)p->spath_len;
	b[15] = (uint8_t)(p->spath_len >> 8);
	if (p->path_len)
		memcpy(b + LOAFRE__BP_PATHS_HDR, p->path, p->path_len);
	if (p->spath_len)
		memcpy(b + LOAFRE__BP_PATHS_HDR + p->path_len, p->spath, p->spath_len);
	*len += LOAFRE__BP_PATHS_HDR + p->path_len + p->spath_len;
	return 0;
}

int loafre__bp_paths_next(const void *frame, size_t len, size_t *off,
			  struct loafre__bp_rec_paths *ret)
{
	const uint8_t *b = (const uint8_t *)frame + *off;
	struct loafre__bp_rec_paths e;
	size_t left;

	if (*off >= len)
		return 0;
	left = len - *off;
	if (left < LOAFRE__BP_PATHS_HDR)
		return -EBADMSG;
	e.flags = loafre__le32(b);
	e.path_err = (int32_t)loafre__le32(b + 4);
	e.spath_err = (int32_t)loafre__le32(b + 8);
	e.path_len = (size_t)b[12] | (size_t)b[13] << 8;
	e.spath_len = (size_t)b[14] | (size_t)b[15] << 8;
	if (left - LOAFRE__BP_PATHS_HDR < e.path_len + e.spath_len)
		return -EBADMSG;
	e.path = (const char *)b + LOAFRE__BP_PATHS_HDR;
	e.spath = e.path + e.path_len;
	if ((e.flags & ~LOAFRE__BP_RP_FLAGS) || !path_ok(e.path, e.path_len) ||
	    !path_ok(e.spath, e.spath_len) || !path_err_ok(e.path_err, e.path_len) ||
	    !path_err_ok(e.spath_err, e.spath_len))
		return -EBADMSG;
	if (!e.path_len)
		e.path = NULL;
	if (!e.spath_len)
		e.spath = NULL;
	*off += LOAFRE__BP_PATHS_HDR + e.path_len + e.spath_len;
	*ret = e;
	return 1;
}

/* A RECS paths frame: every entry valid, one per record of the records
 * frame (which are then counted, so they must all decode). */
static int check_paths(const struct loafre__bp_frame *recs, const struct loafre__bp_frame *paths,
		       size_t *ret_n, char *err, size_t errlen)
{
	struct loafre__bp_rec_paths e;
	struct loafre_rec rec;
	size_t off = 0, np = 0, nr = 0;
	int r;

	if (paths->len > LOAFRE__BP_PATHS_MAX)
		return fail(-EMSGSIZE, err, errlen, "RECS: paths over %u bytes",
			    LOAFRE__BP_PATHS_MAX);
	while ((r = loafre__bp_paths_next(paths->data, paths->len, &off, &e)) == 1)
		np++;
	if (r < 0)
		return fail(-EBADMSG, err, errlen, "RECS: paths entry %zu is malformed", np);
	off = 0;
	while ((r = loafre__bp_recs_next(recs->data, recs->len, &off, &rec, NULL, NULL)) == 1)
		nr++;
	if (r < 0)
		return fail(-EBADMSG, err, errlen, "RECS: record %zu is malformed", nr);
	if (np != nr)
		return fail(-EBADMSG, err, errlen, "RECS: %zu paths entries for %zu records", np,
			    nr);
	*ret_n = np;
	return 0;
}

int loafre__bp_decode(const struct loafre__bp_frame *f, size_t n, struct loafre__bp_msg *m,
		      char *err, size_t errlen)
{
	enum loafre__bp_cmd cmd = 0;
	struct loafre__bp_msg out;

	if (n == 0)
		return fail(-EPROTO, err, errlen, "empty message");
	for (unsigned c = LOAFRE__BP_HELLO; c <= LOAFRE__BP_BYE; c++) {
		size_t l = strlen(cmd_names[c]);
		if (f[0].len == l && memcmp(f[0].data, cmd_names[c], l) == 0) {
			cmd = (enum loafre__bp_cmd)c;
			break;
		}
	}
	if (cmd == 0)
		return fail(-EPROTO, err, errlen, "unknown command");
	if (n != cmd_frames[cmd] && !(cmd == LOAFRE__BP_RECS && n == 4))
		return fail(-EBADMSG, err, errlen, "%s: %zu frames, expected %u", cmd_names[cmd], n,
			    cmd_frames[cmd]);
	memset(&out, 0, sizeof(out));
	out.cmd = cmd;
	switch (cmd) {
	case LOAFRE__BP_HELLO:
		if (f[1].len > LOAFRE__BP_HELLO_MAX)
			return fail(-EMSGSIZE, err, errlen, "HELLO: options over %u bytes",
				    LOAFRE__BP_HELLO_MAX);
		if (!text_ok(f[1].data, f[1].len))
			return fail(-EBADMSG, err, errlen, "HELLO: NUL in options");
		out.text = f[1].data;
		out.text_len = f[1].len;
		break;
	case LOAFRE__BP_WELCOME:
		if (f[1].len != 4)
			return fail(-EBADMSG, err, errlen, "WELCOME: member id is not 4 bytes");
		if (f[2].len > LOAFRE__BP_MDTS_MAX)
			return fail(-EMSGSIZE, err, errlen, "WELCOME: MDT list over %u bytes",
				    LOAFRE__BP_MDTS_MAX);
		if (!text_ok(f[2].data, f[2].len))
			return fail(-EBADMSG, err, errlen, "WELCOME: NUL in MDT list");
		out.member = loafre__le32(f[1].data);
		out.text = f[2].data;
		out.text_len = f[2].len;
		break;
	case LOAFRE__BP_RECS:
	case LOAFRE__BP_ACK:
		if (f[1].len != 4)
			return fail(-EBADMSG, err, errlen, "%s: mdt id is not 4 bytes",
				    cmd_names[cmd]);
		out.mdt = loafre__le32(f[1].data);
		out.payload = f[2].data;
		out.payload_len = f[2].len;
		if (cmd == LOAFRE__BP_RECS) {
			if (f[2].len == 0)
				return fail(-EBADMSG, err, errlen, "RECS: no records");
			if (f[2].len > LOAFRE__BP_RECS_MAX)
				return fail(-EMSGSIZE, err, errlen, "RECS: over %u bytes",
					    LOAFRE__BP_RECS_MAX);
			if (n == 4) {
				int pr = check_paths(&f[2], &f[3], &out.n_paths, err, errlen);
				if (pr < 0)
					return pr;
				out.paths = f[3].data ? f[3].data : "";
				out.paths_len = f[3].len;
			}
			break;
		}
		if (f[2].len > (size_t)LOAFRE__BP_ACK_RANGES_MAX * LOAFRE__BP_ACK_RANGE_SIZE)
			return fail(-EMSGSIZE, err, errlen, "ACK: over %u ranges",
				    LOAFRE__BP_ACK_RANGES_MAX);
		if (f[2].len == 0 || f[2].len % LOAFRE__BP_ACK_RANGE_SIZE != 0)
			return fail(-EBADMSG, err, errlen, "ACK: %zu bytes is not a number of ranges",
				    f[2].len);
		out.n_ranges = f[2].len / LOAFRE__BP_ACK_RANGE_SIZE;
		for (size_t i = 0, prev = 0; i < out.n_ranges; i++) {
			uint64_t a, b;
			loafre__bp_ack_get(&out, i, &a, &b);
			if (a == 0 || a > b)
				return fail(-EBADMSG, err, errlen, "ACK: bad range %llu-%llu",
					    (unsigned long long)a, (unsigned long long)b);
			/* ascending and disjoint: the broker visits each index once */
			if (i > 0 && a <= prev)
				return fail(-EBADMSG, err, errlen,
					    "ACK: range %llu-%llu not above the previous one",
					    (unsigned long long)a, (unsigned long long)b);
			prev = b;
		}
		break;
	case LOAFRE__BP_CREDIT:
		if (f[1].len != 4)
			return fail(-EBADMSG, err, errlen, "CREDIT: not 4 bytes");
		out.credit = loafre__le32(f[1].data);
		if (out.credit == 0 || out.credit > LOAFRE__BP_CREDIT_MAX)
			return fail(-EBADMSG, err, errlen, "CREDIT: %u out of 1..%u", out.credit,
				    LOAFRE__BP_CREDIT_MAX);
		break;
	case LOAFRE__BP_GAP:
		if (f[1].len != 4 || f[2].len != 8)
			return fail(-EBADMSG, err, errlen, "GAP: bad frame sizes");
		out.mdt = loafre__le32(f[1].data);
		out.lost = loafre__le64(f[2].data);
		break;
	case LOAFRE__BP_ERR:
		if (f[1].len != 4)
			return fail(-EBADMSG, err, errlen, "ERR: errno is not 4 bytes");
		out.err = (int32_t)loafre__le32(f[1].data);
		if (out.err >= 0)
			return fail(-EBADMSG, err, errlen, "ERR: errno %d is not negative",
				    (int)out.err);
		if (f[2].len > LOAFRE__BP_TEXT_MAX)
			return fail(-EMSGSIZE, err, errlen, "ERR: text over %u bytes",
				    LOAFRE__BP_TEXT_MAX);
		if (!text_ok(f[2].data, f[2].len))
			return fail(-EBADMSG, err, errlen, "ERR: NUL in text");
		out.text = f[2].data;
		out.text_len = f[2].len;
		break;
	case LOAFRE__BP_PING:
	case LOAFRE__BP_PONG:
	case LOAFRE__BP_BYE:
		break;
	}
	*m = out;
	return 0;
}

int loafre__bp_encode(const struct loafre__bp_msg *m, struct loafre__bp_frame *out,
		      uint8_t *scratch)
{
	const char *name = loafre__bp_cmd_name(m->cmd);
	struct loafre__bp_msg check;
	int n;

	if (!name)
		return -EINVAL;
	out[0].data = name;
	out[0].len = strlen(name);
	n = (int)cmd_frames[m->cmd];
	switch (m->cmd) {
	case LOAFRE__BP_HELLO:
		out[1].data = m->text;
		out[1].len = m->text_len;
		break;
	case LOAFRE__BP_WELCOME:
		loafre__put32(scratch, m->member);
		out[1].data = scratch;
		out[1].len = 4;
		out[2].data = m->text;
		out[2].len = m->text_len;
		break;
	case LOAFRE__BP_RECS:
	case LOAFRE__BP_ACK:
		loafre__put32(scratch, m->mdt);
		out[1].data = scratch;
		out[1].len = 4;
		out[2].data = m->payload;
		out[2].len = m->cmd == LOAFRE__BP_ACK ? m->n_ranges * LOAFRE__BP_ACK_RANGE_SIZE
						      : m->payload_len;
		if (m->cmd == LOAFRE__BP_RECS && m->paths) {
			out[3].data = m->paths;
			out[3].len = m->paths_len;
			n = 4;
		}
		break;
	case LOAFRE__BP_CREDIT:
		loafre__put32(scratch, m->credit);
		out[1].data = scratch;
		out[1].len = 4;
		break;
	case LOAFRE__BP_GAP:
		loafre__put32(scratch, m->mdt);
		loafre__put64(scratch + 4, m->lost);
		out[1].data = scratch;
		out[1].len = 4;
		out[2].data = scratch + 4;
		out[2].len = 8;
		break;
	case LOAFRE__BP_ERR:
		loafre__put32(scratch, (uint32_t)m->err);
		out[1].data = scratch;
		out[1].len = 4;
		out[2].data = m->text;
		out[2].len = m->text_len;
		break;
	case LOAFRE__BP_PING:
	case LOAFRE__BP_PONG:
	case LOAFRE__BP_BYE:
		break;
	}
	for (int i = 1; i < n; i++)
		if (out[i].len > 0 && !out[i].data)
			return -EINVAL;
	/* What we send must decode: the same limits on both sides. */
	if (loafre__bp_decode(out, (size_t)n, &check, NULL, 0) < 0)
		return -EINVAL;
	return n;
}

/* ---- ACK ranges --------------------------------------------------------- */

void loafre__bp_ack_put(void *payload, size_t i, uint64_t first, uint64_t last)
{
	uint8_t *p = (uint8_t *)payload + i * LOAFRE__BP_ACK_RANGE_SIZE;
	loafre__put64(p, first);
	loafre__put64(p + 8, last);
}

void loafre__bp_ack_get(const struct loafre__bp_msg *m, size_t i, uint64_t *first,
			uint64_t *last)
{
	const uint8_t *p = (const uint8_t *)m->payload + i * LOAFRE__BP_ACK_RANGE_SIZE;
	*first = loafre__le64(p);
	*last = loafre__le64(p + 8);
}

/* ---- RECS --------------------------------------------------------------- */

int loafre__bp_recs_next(const void *payload, size_t len, size_t *off, struct loafre_rec *rec,
			 const void **raw, size_t *raw_len)
{
	size_t size = 0;
	int r;

	if (*off >= len)
		return 0;
	r = loafre_rec_decode((const uint8_t *)payload + *off, len - *off, rec, &size);
	if (r < 0 || size == 0)
		return -EBADMSG;
	if (raw)
		*raw = (const uint8_t *)payload + *off;
	if (raw_len)
		*raw_len = size;
	*off += size;
	return 1;
}

/* ---- WELCOME MDT list ---------------------------------------------------- */

int loafre__bp_mdts_next(const char *s, size_t len, size_t *off, char *name, uint32_t *id)
{
	size_t i = *off, start, eq, end;
	uint64_t v;

	if (i >= len)
		return 0;
	if (i > 0) {
		if (s[i] != ',')
			return -EBADMSG;
		i++;
	}
	start = i;
	while (i < len && s[i] != '=' && s[i] != ',')
		i++;
	if (i >= len || s[i] != '=')
		return -EBADMSG;
	eq = i;
	while (i < len && s[i] != ',')
		i++;
	end = i;
	if (!mdt_name_ok(s + start, eq - start) || !parse_u64(s + eq + 1, end - eq - 1, &v) ||
	    v > UINT32_MAX)
		return -EBADMSG;
	memcpy(name, s + start, eq - start);
	name[eq - start] = '\0';
	*id = (uint32_t)v;
	*off = end;
	return 1;
}

int loafre__bp_mdts_append(char *buf, size_t cap, size_t *len, const char *name, uint32_t id)
{
	int n;

	if (!mdt_name_ok(name, strlen(name)))
		return -EINVAL;
	if (*len >= cap)
		return -ENOBUFS;
	n = snprintf(buf + *len, cap - *len, "%s%s=%u", *len > 0 ? "," : "", name, id);
	if (n < 0 || (size_t)n >= cap - *len) {
		buf[*len] = '\0';
		return -ENOBUFS;
	}
	*len += (size_t)n;
	return 0;
}

/* ---- HELLO options ------------------------------------------------------ */

static const struct {
	const char *name;
	uint32_t bit;
} field_names[] = {
	{"jobid", LOAFRE__BP_FIELD_JOBID},     {"uidgid", LOAFRE__BP_FIELD_UIDGID},
	{"nid", LOAFRE__BP_FIELD_NID},         {"openmode", LOAFRE__BP_FIELD_OPENMODE},
	{"xattr", LOAFRE__BP_FIELD_XATTR},
};

void loafre__bp_fields_flags(uint32_t fields, uint16_t *clf, uint64_t *clfe)
{
	uint64_t e = 0;

	*clf = LOAFRE_CLF_RENAME;
	if (fields & LOAFRE__BP_FIELD_JOBID)
		*clf |= LOAFRE_CLF_JOBID;
	if (fields & LOAFRE__BP_FIELD_UIDGID)
		e |= LOAFRE_CLFE_UIDGID;
	if (fields & LOAFRE__BP_FIELD_NID)
		e |= LOAFRE_CLFE_NID;
	if (fields & LOAFRE__BP_FIELD_OPENMODE)
		e |= LOAFRE_CLFE_OPEN;
	if (fields & LOAFRE__BP_FIELD_XATTR)
		e |= LOAFRE_CLFE_XATTR;
	if (e)
		*clf |= LOAFRE_CLF_EXTRA_FLAGS;
	*clfe = e;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int parse_fields(const char *v, size_t len, uint32_t *ret, char *err, size_t errlen)
{
	uint32_t f = 0;
	size_t i = 0;

	if (len == 0) {
		*ret = 0;
		return 0;
	}
	for (;;) {
		size_t s = i;
		bool found = false;
		while (i < len && v[i] != ',')
			i++;
		if (i - s == 3 && memcmp(v + s, "all", 3) == 0) {
			f |= LOAFRE__BP_FIELD_ALL;
			found = true;
		}
		for (size_t k = 0; !found && k < LOAFRE__ARRAY_SIZE(field_names); k++) {
			if (strlen(field_names[k].name) == i - s &&
			    memcmp(field_names[k].name, v + s, i - s) == 0) {
				f |= field_names[k].bit;
				found = true;
			}
		}
		if (!found)
			return fail(-EINVAL, err, errlen, "fields: unknown field '%.*s'",
				    (int)(i - s > 64 ? 64 : i - s), v + s);
		if (i == len)
			break;
		i++; /* ',' */
		if (i == len)
			return fail(-EINVAL, err, errlen, "fields: trailing comma");
	}
	*ret = f;
	return 0;
}

static int parse_start(const char *v, size_t len, struct loafre__bp_hello *h, char *err,
		       size_t errlen)
{
	size_t i = 0;

	if (len == 6 && memcmp(v, "oldest", 6) == 0) {
		h->start = LOAFRE__BP_START_OLDEST;
		return 0;
	}
	if (len == 6 && memcmp(v, "newest", 6) == 0) {
		h->start = LOAFRE__BP_START_NEWEST;
		return 0;
	}
	h->start = LOAFRE__BP_START_INDEX;
	h->n_starts = 0;
	for (;;) {
		size_t s = i, colon;
		uint64_t idx;
		while (i < len && v[i] != ',')
			i++;
		/* MDT:INDEX — the last ':' of the entry. */
		colon = i;
		while (colon > s && v[colon - 1] != ':')
			colon--;
		if (colon == s)
			return fail(-EINVAL, err, errlen,
				    "start: expected oldest, newest or MDT:INDEX,...");
		colon--;
		if (!mdt_name_ok(v + s, colon - s))
			return fail(-EINVAL, err, errlen, "start: bad MDT name '%.*s'",
				    (int)(colon - s > 64 ? 64 : colon - s), v + s);
		if (!parse_u64(v + colon + 1, i - colon - 1, &idx))
			return fail(-EINVAL, err, errlen, "start: bad index for %.*s",
				    (int)(colon - s), v + s);
		for (size_t k = 0; k < h->n_starts; k++)
			if (strlen(h->starts[k].mdt) == colon - s &&
			    memcmp(h->starts[k].mdt, v + s, colon - s) == 0)
				return fail(-EINVAL, err, errlen, "start: %.*s given twice",
					    (int)(colon - s), v + s);
		if (h->n_starts == LOAFRE__BP_STARTS_MAX)
			return fail(-EINVAL, err, errlen, "start: more than %u MDTs",
				    LOAFRE__BP_STARTS_MAX);
		memcpy(h->starts[h->n_starts].mdt, v + s, colon - s);
		h->starts[h->n_starts].mdt[colon - s] = '\0';
		h->starts[h->n_starts].index = idx;
		h->n_starts++;
		if (i == len)
			break;
		i++;
		if (i == len)
			return fail(-EINVAL, err, errlen, "start: trailing comma");
	}
	return 0;
}

enum {
	K_GROUP = 1,
	K_EPHEMERAL = 2,
	K_START = 4,
	K_CREDIT = 8,
	K_FIELDS = 16,
	K_HB = 32,
	K_PATHS = 64
};

int loafre__bp_hello_parse(const char *s, size_t len, struct loafre__bp_hello *h, char *err,
			   size_t errlen)
{
	struct loafre__bp_hello out;
	unsigned seen = 0;
	size_t i = 0;
	int r;

	if (len > LOAFRE__BP_HELLO_MAX)
		return fail(-EMSGSIZE, err, errlen, "options over %u bytes", LOAFRE__BP_HELLO_MAX);
	if (!text_ok(s, len))
		return fail(-EINVAL, err, errlen, "NUL in options");
	memset(&out, 0, sizeof(out));
	for (;;) {
		size_t ts, te, eq;
		const char *v;
		size_t vl;
		unsigned key;
		uint64_t n;

		while (i < len && is_blank(s[i]))
			i++;
		if (i == len)
			break;
		ts = i;
		while (i < len && !is_blank(s[i]))
			i++;
		te = i;
		for (eq = ts; eq < te && s[eq] != '='; eq++)
			;
		v = s + eq + 1;
		vl = eq < te ? te - eq - 1 : 0;
#define KEY_IS(lit) (eq - ts == sizeof(lit) - 1 && memcmp(s + ts, lit, sizeof(lit) - 1) == 0)
		if (eq == te) {
			if (!KEY_IS("ephemeral"))
				return fail(-EINVAL, err, errlen, "expected KEY=VALUE, got '%.*s'",
					    (int)(te - ts > 64 ? 64 : te - ts), s + ts);
			key = K_EPHEMERAL;
		} else if (KEY_IS("group")) {
			key = K_GROUP;
		} else if (KEY_IS("start")) {
			key = K_START;
		} else if (KEY_IS("credit")) {
			key = K_CREDIT;
		} else if (KEY_IS("fields")) {
			key = K_FIELDS;
		} else if (KEY_IS("heartbeat_ms")) {
			key = K_HB;
		} else if (KEY_IS("paths")) {
			key = K_PATHS;
		} else {
			return fail(-EINVAL, err, errlen, "unknown option '%.*s'",
				    (int)(eq - ts > 64 ? 64 : eq - ts), s + ts);
		}
#undef KEY_IS
		if (seen & key)
			return fail(-EINVAL, err, errlen, "option '%.*s' given twice",
				    (int)(eq - ts > 64 ? 64 : eq - ts), s + ts);
		seen |= key;
		switch (key) {
		case K_EPHEMERAL:
			out.ephemeral = true;
			break;
		case K_GROUP:
			if (!loafre__bp_group_name_ok(v, vl))
				return fail(-EINVAL, err, errlen,
					    "group: bad name (a letter, then letters, digits, "
					    "'_', '-'; at most %u bytes)",
					    LOAFRE__BP_GROUP_MAX);
			memcpy(out.group, v, vl);
			out.group[vl] = '\0';
			break;
		case K_START:
			r = parse_start(v, vl, &out, err, errlen);
			if (r < 0)
				return r;
			break;
		case K_CREDIT:
			if (!parse_u64(v, vl, &n) || n == 0 || n > LOAFRE__BP_CREDIT_MAX)
				return fail(-EINVAL, err, errlen, "credit: expected 1..%u",
					    LOAFRE__BP_CREDIT_MAX);
			out.credit = (uint32_t)n;
			break;
		case K_FIELDS:
			r = parse_fields(v, vl, &out.fields, err, errlen);
			if (r < 0)
				return r;
			out.has_fields = true;
			break;
		case K_HB:
			if (!parse_u64(v, vl, &n) || n < LOAFRE__BP_HEARTBEAT_MIN ||
			    n > LOAFRE__BP_HEARTBEAT_MAX)
				return fail(-EINVAL, err, errlen, "heartbeat_ms: expected %u..%u",
					    LOAFRE__BP_HEARTBEAT_MIN, LOAFRE__BP_HEARTBEAT_MAX);
			out.heartbeat_ms = (uint32_t)n;
			break;
		case K_PATHS:
			if (vl > LOAFRE__BP_FSNAME_MAX || !mdt_name_ok(v, vl))
				return fail(-EINVAL, err, errlen,
					    "paths: bad filesystem name (letters, digits, '_', '-'; "
					    "1 to %u bytes)",
					    LOAFRE__BP_FSNAME_MAX);
			memcpy(out.paths, v, vl);
			out.paths[vl] = '\0';
			break;
		}
	}
	if ((seen & K_GROUP) && (seen & K_EPHEMERAL))
		return fail(-EINVAL, err, errlen, "group and ephemeral are exclusive");
	if (!(seen & (K_GROUP | K_EPHEMERAL)))
		return fail(-EINVAL, err, errlen, "group=NAME or ephemeral is required");
	if ((seen & K_START) && out.ephemeral)
		return fail(-EINVAL, err, errlen, "start: an ephemeral reader starts at the end");
	if ((seen & K_PATHS) && out.ephemeral)
		return fail(-EINVAL, err, errlen, "paths: only for a group (group=NAME)");
	*h = out;
	return 0;
}

int loafre__bp_hello_format(const struct loafre__bp_hello *h, char *buf, size_t cap)
{
	size_t len = 0;
	int n;

#define OUT(...)                                                                 \
	do {                                                                     \
		if (len >= cap)                                                  \
			return -ENOBUFS;                                         \
		n = snprintf(buf + len, cap - len, __VA_ARGS__);                 \
		if (n < 0 || (size_t)n >= cap - len)                             \
			return -ENOBUFS;                                         \
		len += (size_t)n;                                                \
	} while (0)

	if (cap == 0)
		return -ENOBUFS;
	buf[0] = '\0';
	if (h->ephemeral)
		OUT("ephemeral");
	else if (loafre__bp_group_name_ok(h->group, strnlen(h->group, sizeof(h->group))))
		OUT("group=%s", h->group);
	else
		return -EINVAL;
	switch (h->start) {
	case LOAFRE__BP_START_DEFAULT:
		break;
	case LOAFRE__BP_START_OLDEST:
		OUT(" start=oldest");
		break;
	case LOAFRE__BP_START_NEWEST:
		OUT(" start=newest");
		break;
	case LOAFRE__BP_START_INDEX:
		if (h->n_starts == 0 || h->n_starts > LOAFRE__BP_STARTS_MAX)
			return -EINVAL;
		for (size_t k = 0; k < h->n_starts; k++)
			OUT("%s%s:%llu", k ? "," : " start=", h->starts[k].mdt,
			    (unsigned long long)h->starts[k].index);
		break;
	default:
		return -EINVAL;
	}
	if (h->credit)
		OUT(" credit=%u", h->credit);
	if (h->heartbeat_ms)
		OUT(" heartbeat_ms=%u", h->heartbeat_ms);
	if (h->paths[0])
		OUT(" paths=%.*s", (int)LOAFRE__BP_FSNAME_MAX, h->paths);
	if (h->has_fields) {
		OUT(" fields=");
		bool first = true;
		for (size_t k = 0; k < LOAFRE__ARRAY_SIZE(field_names); k++)
			if (h->fields & field_names[k].bit) {
				OUT("%s%s", first ? "" : ",", field_names[k].name);
				first = false;
			}
	}
#undef OUT
	/* Must read back. */
	struct loafre__bp_hello check;
	if (loafre__bp_hello_parse(buf, len, &check, NULL, 0) < 0)
		return -EINVAL;
	return (int)len;
}
