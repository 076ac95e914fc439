/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * record.c — Lustre changelog records: binary decode, encode and remap.
 *
 * The byte layout is written out at the head of include/loafre/record.h and
 * is Lustre's (lustre_user.h, struct changelog_rec and its extensions). All
 * multi-byte integers are read and written little-endian with explicit byte
 * loads, so a record may sit at any alignment in a buffer.
 *
 * Decoding rules (every one checked against the buffer length first):
 *   1. 64 header bytes are present;
 *   2. the extensions announced by cr_flags (and, when CLF_EXTRA_FLAGS is
 *      set, by cr_extra_flags) are present, in Lustre's order;
 *   3. cr_namelen name bytes follow;
 *   4. jobid and xattr fields contain a NUL;
 *   5. the name area holds at most one NUL ("tname\0sname" for renames);
 *   6. each name is at most NAME_MAX (255) bytes.
 * Unknown bits in cr_extra_flags beyond CLFE_SUPPORTED make the layout
 * unknowable and are rejected, as are cr_flags format bits Lustre does not
 * define (there are none left: the four high bits are all defined).
 */
#include "loafre/record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const char *const type_names[LOAFRE_CL_LAST] = {
	"MARK",  "CREAT", "MKDIR", "HLINK", "SLINK", "MKNOD", "UNLNK", "RMDIR", "RENME",
	"RNMTO", "OPEN",  "CLOSE", "LYOUT", "TRUNC", "SATTR", "XATTR", "HSM",   "MTIME",
	"CTIME", "ATIME", "MIGRT", "FLRW",  "RESYNC", "GXATR", "NOPEN",
};

const char *loafre_cl_type_name(uint32_t type)
{
	return type < LOAFRE_CL_LAST ? type_names[type] : NULL;
}

int loafre_cl_type_from_name(const char *name, size_t len)
{
	for (int t = 0; t < LOAFRE_CL_LAST; t++)
		if (strlen(type_names[t]) == len && memcmp(type_names[t], name, len) == 0)
			return t;
	return -EINVAL;
}

int loafre_fid_format(const struct loafre_fid *fid, char *buf)
{
	/* DFID is "[%#llx:0x%x:0x%x]": '#' prints 0 (not 0x0) for seq 0. */
	return snprintf(buf, LOAFRE_FID_STRLEN, "[%#llx:0x%x:0x%x]",
			(unsigned long long)fid->f_seq, fid->f_oid, fid->f_ver);
}

int loafre_fid_parse(const char *s, size_t len, struct loafre_fid *ret_fid)
{
	uint64_t v[3];
	size_t start = 0, part = 0;

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ':')
			continue;
		if (part >= 3 || loafre__parse_u64(s + start, i - start, &v[part]) < 0)
			return -EINVAL;
		part++;
		start = i + 1;
	}
	if (part != 3 || v[1] > UINT32_MAX || v[2] > UINT32_MAX)
		return -EINVAL;
	ret_fid->f_seq = v[0];
	ret_fid->f_oid = (uint32_t)v[1];
	ret_fid->f_ver = (uint32_t)v[2];
	return 0;
}

size_t loafre_rec_offset(uint16_t clf, uint64_t clfe)
{
	size_t size = LOAFRE_REC_HDR_SIZE;

	if (clf & LOAFRE_CLF_RENAME)
		size += LOAFRE_EXT_RENAME_SIZE;
	if (clf & LOAFRE_CLF_JOBID)
		size += LOAFRE_JOBID_SIZE;
	if (clf & LOAFRE_CLF_EXTRA_FLAGS) {
		size += LOAFRE_EXT_EXTRA_FLAGS_SIZE;
		if (clfe & LOAFRE_CLFE_UIDGID)
			size += LOAFRE_EXT_UIDGID_SIZE;
		if (clfe & LOAFRE_CLFE_NID)
			size += LOAFRE_EXT_NID_SIZE;
		if (clfe & LOAFRE_CLFE_OPEN)
			size += LOAFRE_EXT_OPENMODE_SIZE;
		if (clfe & LOAFRE_CLFE_XATTR)
			size += LOAFRE_XATTR_NAME_SIZE;
	}
	return size;
}

size_t loafre_rec_size(const struct loafre_rec *rec)
{
	return loafre_rec_offset(rec->flags, rec->extra_flags) + loafre_rec_namearea(rec);
}

static void get_fid(const uint8_t *p, struct loafre_fid *f)
{
	f->f_seq = loafre__le64(p);
	f->f_oid = loafre__le32(p + 8);
	f->f_ver = loafre__le32(p + 12);
}

static void put_fid(uint8_t *p, const struct loafre_fid *f)
{
	loafre__put64(p, f->f_seq);
	loafre__put32(p + 8, f->f_oid);
	loafre__put32(p + 12, f->f_ver);
}

/* Copies a NUL-terminated string field of `size` bytes; -EBADMSG without NUL. */
static int get_cstr(const uint8_t *p, size_t size, char *out)
{
	const uint8_t *nul = memchr(p, '\0', size);

	if (!nul)
		return -EBADMSG;
	memcpy(out, p, (size_t)(nul - p) + 1);
	return 0;
}

int loafre_rec_decode(const void *buf, size_t len, struct loafre_rec *ret_rec, size_t *ret_size)
{
	const uint8_t *b = buf, *p;
	struct loafre_rec r;
	const char *nul;
	size_t off;

	if (len < LOAFRE_REC_HDR_SIZE)
		return -EBADMSG;
	memset(&r, 0, offsetof(struct loafre_rec, name));
	r.namelen = loafre__le16(b);
	r.flags = loafre__le16(b + 2);
	r.type = loafre__le32(b + 4);
	r.index = loafre__le64(b + 8);
	r.prev = loafre__le64(b + 16);
	r.time = loafre__le64(b + 24);
	get_fid(b + 32, &r.tfid);
	get_fid(b + 48, &r.pfid);
	p = b + LOAFRE_REC_HDR_SIZE;

	/* The fixed extensions: check their total size before touching them. */
	off = loafre_rec_offset(r.flags & (LOAFRE_CLF_RENAME | LOAFRE_CLF_JOBID), 0);
	if (r.flags & LOAFRE_CLF_EXTRA_FLAGS)
		off += LOAFRE_EXT_EXTRA_FLAGS_SIZE;
	if (off > len)
		return -EBADMSG;
	if (r.flags & LOAFRE_CLF_RENAME) {
		get_fid(p, &r.sfid);
		get_fid(p + 16, &r.spfid);
		p += LOAFRE_EXT_RENAME_SIZE;
	}
	if (r.flags & LOAFRE_CLF_JOBID) {
		if (get_cstr(p, LOAFRE_JOBID_SIZE, r.jobid) < 0)
			return -EBADMSG;
		p += LOAFRE_JOBID_SIZE;
	}
	if (r.flags & LOAFRE_CLF_EXTRA_FLAGS) {
		r.extra_flags = loafre__le64(p);
		if (r.extra_flags & ~(uint64_t)LOAFRE_CLFE_SUPPORTED)
			return -EBADMSG;
		p += LOAFRE_EXT_EXTRA_FLAGS_SIZE;
	}
	off = loafre_rec_offset(r.flags, r.extra_flags);
	if (off > len || len - off < r.namelen)
		return -EBADMSG;
	if (r.extra_flags & LOAFRE_CLFE_UIDGID) {
		r.uid = loafre__le64(p);
		r.gid = loafre__le64(p + 8);
		p += LOAFRE_EXT_UIDGID_SIZE;
	}
	if (r.extra_flags & LOAFRE_CLFE_NID) {
		r.nid = loafre__le64(p);
		r.nid_extra = loafre__le64(p + 8);
		p += LOAFRE_EXT_NID_SIZE;
	}
	if (r.extra_flags & LOAFRE_CLFE_OPEN) {
		r.openflags = loafre__le32(p);
		p += LOAFRE_EXT_OPENMODE_SIZE;
	}
	if (r.extra_flags & LOAFRE_CLFE_XATTR) {
		if (get_cstr(p, LOAFRE_XATTR_NAME_SIZE, r.xattr) < 0)
			return -EBADMSG;
		p += LOAFRE_XATTR_NAME_SIZE;
	}

	/* Name area. */
	r.name = (const char *)p;
	r.sname = NULL;
	r.snamelen = 0;
	nul = memchr(p, '\0', r.namelen);
	if (nul) {
		size_t tlen = (size_t)(nul - r.name);
		if (memchr(nul + 1, '\0', r.namelen - tlen - 1))
			return -EBADMSG;
		r.sname = nul + 1;
		r.snamelen = (uint16_t)(r.namelen - tlen - 1);
		r.namelen = (uint16_t)tlen;
	}
	/* Lustre names are at most NAME_MAX bytes; a longer one is not a
	 * record any MDT writes (and would break the text line bound). MARK
	 * records carry a device name, bounded the same way. */
	if (r.namelen > LOAFRE_NAME_MAX || r.snamelen > LOAFRE_NAME_MAX)
		return -EBADMSG;
	*ret_rec = r;
	if (ret_size)
		*ret_size = off + loafre_rec_namearea(&r);
	return 0;
}

/* Writes a NUL-terminated string field; -EINVAL if it does not fit. */
static int put_cstr(uint8_t *p, size_t size, const char *s)
{
	size_t n = strnlen(s, size);

	if (n >= size)
		return -EINVAL;
	memcpy(p, s, n);
	memset(p + n, 0, size - n);
	return 0;
}

int loafre_rec_encode(const struct loafre_rec *rec, void *buf, size_t cap)
{
	uint8_t *b = buf, *p;
	size_t off, area, size;

	if (rec->extra_flags & ~(uint64_t)LOAFRE_CLFE_SUPPORTED)
		return -EINVAL;
	if ((rec->namelen && memchr(rec->name, '\0', rec->namelen)) ||
	    (rec->sname && rec->snamelen && memchr(rec->sname, '\0', rec->snamelen)))
		return -EINVAL;
	if (rec->namelen > LOAFRE_NAME_MAX || rec->snamelen > LOAFRE_NAME_MAX)
		return -EINVAL;
	area = loafre_rec_namearea(rec);
	off = loafre_rec_offset(rec->flags, rec->extra_flags);
	size = off + area;
	if (size > cap)
		return -ENOBUFS;

	loafre__put16(b, (uint16_t)area);
	loafre__put16(b + 2, rec->flags);
	loafre__put32(b + 4, rec->type);
	loafre__put64(b + 8, rec->index);
	loafre__put64(b + 16, rec->prev);
	loafre__put64(b + 24, rec->time);
	put_fid(b + 32, &rec->tfid);
	put_fid(b + 48, &rec->pfid);
	p = b + LOAFRE_REC_HDR_SIZE;
	if (rec->flags & LOAFRE_CLF_RENAME) {
		put_fid(p, &rec->sfid);
		put_fid(p + 16, &rec->spfid);
		p += LOAFRE_EXT_RENAME_SIZE;
	}
	if (rec->flags & LOAFRE_CLF_JOBID) {
		if (put_cstr(p, LOAFRE_JOBID_SIZE, rec->jobid) < 0)
			return -EINVAL;
		p += LOAFRE_JOBID_SIZE;
	}
	if (rec->flags & LOAFRE_CLF_EXTRA_FLAGS) {
		loafre__put64(p, rec->extra_flags);
		p += LOAFRE_EXT_EXTRA_FLAGS_SIZE;
		if (rec->extra_flags & LOAFRE_CLFE_UIDGID) {
			loafre__put64(p, rec->uid);
			loafre__put64(p + 8, rec->gid);
			p += LOAFRE_EXT_UIDGID_SIZE;
		}
		if (rec->extra_flags & LOAFRE_CLFE_NID) {
			loafre__put64(p, rec->nid);
			loafre__put64(p + 8, rec->nid_extra);
			memset(p + 16, 0, 8); /* padding, and the struct's tail padding */
			p += LOAFRE_EXT_NID_SIZE;
		}
		if (rec->extra_flags & LOAFRE_CLFE_OPEN) {
			loafre__put32(p, rec->openflags);
			p += LOAFRE_EXT_OPENMODE_SIZE;
		}
		if (rec->extra_flags & LOAFRE_CLFE_XATTR) {
			if (put_cstr(p, LOAFRE_XATTR_NAME_SIZE, rec->xattr) < 0)
				return -EINVAL;
			p += LOAFRE_XATTR_NAME_SIZE;
		}
	}
	if (rec->namelen)
		memcpy(p, rec->name, rec->namelen);
	if (rec->sname) {
		p[rec->namelen] = '\0';
		if (rec->snamelen)
			memcpy(p + rec->namelen + 1, rec->sname, rec->snamelen);
	}
	return (int)size;
}

void loafre_rec_remap(struct loafre_rec *rec, uint16_t clf_want, uint64_t clfe_want)
{
	clf_want = (uint16_t)((clf_want & LOAFRE_CLF_SUPPORTED) | LOAFRE_CLF_VERSION);
	clfe_want &= LOAFRE_CLFE_SUPPORTED;

	if (!(clf_want & LOAFRE_CLF_RENAME)) {
		memset(&rec->sfid, 0, sizeof(rec->sfid));
		memset(&rec->spfid, 0, sizeof(rec->spfid));
	}
	if (!(clf_want & LOAFRE_CLF_JOBID) || !(rec->flags & LOAFRE_CLF_JOBID))
		memset(rec->jobid, 0, sizeof(rec->jobid));
	if (!(clf_want & LOAFRE_CLF_EXTRA_FLAGS)) {
		clfe_want = 0;
	} else if (!(rec->flags & LOAFRE_CLF_EXTRA_FLAGS)) {
		rec->extra_flags = 0;
	}
	/* Extra extensions: keep the wanted ones that are present, zero the
	 * wanted ones that are not, drop the rest. */
	if (!(clfe_want & LOAFRE_CLFE_UIDGID) || !(rec->extra_flags & LOAFRE_CLFE_UIDGID))
		rec->uid = rec->gid = 0;
	if (!(clfe_want & LOAFRE_CLFE_NID) || !(rec->extra_flags & LOAFRE_CLFE_NID))
		rec->nid = rec->nid_extra = 0;
	if (!(clfe_want & LOAFRE_CLFE_OPEN) || !(rec->extra_flags & LOAFRE_CLFE_OPEN))
		rec->openflags = 0;
	if (!(clfe_want & LOAFRE_CLFE_XATTR) || !(rec->extra_flags & LOAFRE_CLFE_XATTR))
		memset(rec->xattr, 0, sizeof(rec->xattr));
	rec->extra_flags = clfe_want;
	rec->flags = (uint16_t)((rec->flags & LOAFRE_CLF_FLAGMASK) | clf_want);
}

int loafre_rec_remap_buf(void *buf, size_t len, size_t cap, uint16_t clf_want, uint64_t clfe_want)
{
	/* The view borrows the name from buf, which the encoder overwrites:
	 * stage the name area first (it is at most 64 KiB). */
	char names[UINT16_MAX + 1];
	struct loafre_rec rec;
	int r;

	r = loafre_rec_decode(buf, len, &rec, NULL);
	if (r < 0)
		return r;
	if (rec.namelen)
		memcpy(names, rec.name, rec.namelen);
	if (rec.sname && rec.snamelen)
		memcpy(names + rec.namelen + 1, rec.sname, rec.snamelen);
	rec.name = names;
	if (rec.sname)
		rec.sname = names + rec.namelen + 1;
	loafre_rec_remap(&rec, clf_want, clfe_want);
	return loafre_rec_encode(&rec, buf, cap);
}

/* ---- masks ---------------------------------------------------------------- */

uint32_t loafre_cl_mask_default(void)
{
	/* Lustre's CHANGELOG_DEFMASK: everything but ATIME, OPEN, GETXATTR and
	 * DN_OPEN (noisy, read-side events). */
	return LOAFRE_CL_MASK_ALL &
	       ~((1u << LOAFRE_CL_ATIME) | (1u << LOAFRE_CL_OPEN) | (1u << LOAFRE_CL_GETXATTR) |
		 (1u << LOAFRE_CL_DN_OPEN));
}

static bool mask_sep(char c)
{
	return c == ' ' || c == '\t' || c == ',' || c == '\n';
}

int loafre_cl_mask_parse(const char *s, uint32_t base, uint32_t *ret_mask)
{
	uint32_t mask = LOAFRE_CL_MASK_MIN;
	char op = 0;
	bool first = true, pending_op = false;
	const char *p = s;

	for (;;) {
		const char *tok;
		size_t len;
		uint32_t bits;

		while (*p && mask_sep(*p))
			p++;
		if (!*p)
			break;
		if (*p == '+' || *p == '-') {
			op = *p++;
			if (first)
				mask = base;
			pending_op = true;
			first = false;
			continue;
		}
		tok = p;
		while (*p && !mask_sep(*p) && *p != '+' && *p != '-')
			p++;
		len = (size_t)(p - tok);
		first = false;
		pending_op = false;
		if (len == 3 && strncasecmp(tok, "ALL", 3) == 0) {
			if (op == '-') {
				mask = LOAFRE_CL_MASK_MIN;
				continue;
			}
			bits = LOAFRE_CL_MASK_ALL;
		} else if (len == 7 && strncasecmp(tok, "DEFAULT", 7) == 0) {
			if (op == '-') {
				mask = (mask & ~loafre_cl_mask_default()) | LOAFRE_CL_MASK_MIN;
				continue;
			}
			bits = loafre_cl_mask_default();
		} else {
			int t = -1;
			for (int i = 0; i < LOAFRE_CL_LAST; i++)
				if (strlen(type_names[i]) == len &&
				    strncasecmp(type_names[i], tok, len) == 0)
					t = i;
			if (t < 0)
				return -EINVAL;
			bits = 1u << t;
		}
		if (op == '-')
			mask &= ~bits;
		else
			mask |= bits;
	}
	if (first || pending_op)
		return -EINVAL;
	*ret_mask = mask;
	return 0;
}

int loafre_cl_mask_format(uint32_t mask, char sep, char *buf, size_t cap)
{
	size_t len = 0;

	if (cap == 0)
		return -ENOBUFS;
	buf[0] = '\0';
	for (int t = 0; t < LOAFRE_CL_LAST; t++) {
		size_t n;

		if (!(mask & (1u << t)))
			continue;
		n = strlen(type_names[t]);
		if (len + n + 2 > cap)
			return -ENOBUFS;
		if (len)
			buf[len++] = sep;
		memcpy(buf + len, type_names[t], n + 1);
		len += n;
	}
	return (int)len;
}
