/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * loafre/record.h — the Lustre changelog record, byte-compatible with Lustre.
 *
 * Binary layout (Lustre's `struct changelog_rec`, lustre_user.h; all integers
 * little-endian in loafre's journal and on its wire, which is the host order
 * of every platform Lustre ships on):
 *
 *   off size field
 *   0   2    cr_namelen     length of the name area at the end of the record
 *   2   2    cr_flags       high 4 bits: CLF_VERSION|RENAME|JOBID|EXTRA_FLAGS
 *                           (which extensions follow); low 12 bits per type
 *   4   4    cr_type        enum loafre_cl_type
 *   8   8    cr_index       record number on its MDT, > 0
 *   16  8    cr_prev        last index for this target FID (Lustre writes 0)
 *   24  8    cr_time        seconds << 30 | nanoseconds
 *   32  16   cr_tfid        target FID (for MARK: u32 markerflags, then 0)
 *   48  16   cr_pfid        parent FID
 *   64       extensions, in this order, each present when its flag is set:
 *            CLF_RENAME      32  sfid (16), spfid (16)
 *            CLF_JOBID       32  jobid, NUL-terminated, 31 usable bytes
 *            CLF_EXTRA_FLAGS  8  cr_extra_flags (u64), then per CLFE_* bit:
 *              CLFE_UIDGID   16  uid (u64), gid (u64)
 *              CLFE_NID      24  nid (u64), extra (u64), padding (u32) + 4
 *                                bytes of tail padding (the C struct is not
 *                                packed: sizeof == 24)
 *              CLFE_OPEN      4  low 32 bits of MDS_OPEN_* flags
 *              CLFE_XATTR   256  xattr name, NUL-terminated
 *   then     cr_namelen bytes of name; for a rename "tname\0sname".
 *
 * A FID is { u64 seq; u32 oid; u32 ver; } (16 bytes).
 *
 * Validity (loafre_rec_decode): the buffer holds at least the 64-byte header,
 * the extensions its flags announce and cr_namelen name bytes; jobid and
 * xattr are NUL-terminated inside their fields; the name area contains at
 * most one NUL; each name is at most 255 bytes (NAME_MAX). Anything else
 * is -EBADMSG; the decoder never reads outside the buffer it is given.
 *
 * Ownership: a struct loafre_rec decoded from a buffer borrows `name` and
 * `sname` from that buffer; it is valid while the buffer is. Everything else
 * in it is copied.
 */
#ifndef LOAFRE_RECORD_H
#define LOAFRE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- FIDs ---------------------------------------------------------------- */

/* Lustre File IDentifier. */
struct loafre_fid {
	uint64_t f_seq; /* sequence */
	uint32_t f_oid; /* object id within the sequence */
	uint32_t f_ver; /* version (0 for everything loafre writes) */
};

#define LOAFRE_FID_SIZE 16
/* "[0x200000401:0x1:0x0]" is at most 2+18+1+10+1+10+1 chars + NUL. */
#define LOAFRE_FID_STRLEN 48

static inline bool loafre_fid_is_zero(const struct loafre_fid *f)
{
	return f->f_seq == 0 && f->f_oid == 0 && f->f_ver == 0;
}

static inline bool loafre_fid_equal(const struct loafre_fid *a, const struct loafre_fid *b)
{
	return a->f_seq == b->f_seq && a->f_oid == b->f_oid && a->f_ver == b->f_ver;
}

/* Formats a FID the way Lustre's DFID does: "[%#llx:0x%x:0x%x]" (so the zero
 * FID is "[0:0x0:0x0]"). buf must hold LOAFRE_FID_STRLEN bytes. Returns the
 * length written (without NUL). */
LOAFRE_API int loafre_fid_format(const struct loafre_fid *fid, char *buf);

/* Parses "[seq:oid:ver]" or "seq:oid:ver" (each number in C notation: 0x hex,
 * or decimal; seq "0" allowed). Consumes exactly `len` bytes. Returns 0 or
 * -EINVAL; *ret_fid is written only on success. */
LOAFRE_API int loafre_fid_parse(const char *s, size_t len, struct loafre_fid *ret_fid);

/* ---- types and flags ---------------------------------------------------- */

enum loafre_cl_type {
	LOAFRE_CL_MARK = 0,
	LOAFRE_CL_CREATE = 1,
	LOAFRE_CL_MKDIR = 2,
	LOAFRE_CL_HARDLINK = 3,
	LOAFRE_CL_SOFTLINK = 4,
	LOAFRE_CL_MKNOD = 5,
	LOAFRE_CL_UNLINK = 6,
	LOAFRE_CL_RMDIR = 7,
	LOAFRE_CL_RENAME = 8,
	LOAFRE_CL_EXT = 9, /* RNMTO: second half of an old-style rename */
	LOAFRE_CL_OPEN = 10,
	LOAFRE_CL_CLOSE = 11,
	LOAFRE_CL_LAYOUT = 12,
	LOAFRE_CL_TRUNC = 13,
	LOAFRE_CL_SETATTR = 14,
	LOAFRE_CL_SETXATTR = 15,
	LOAFRE_CL_HSM = 16,
	LOAFRE_CL_MTIME = 17,
	LOAFRE_CL_CTIME = 18,
	LOAFRE_CL_ATIME = 19,
	LOAFRE_CL_MIGRATE = 20,
	LOAFRE_CL_FLRW = 21,
	LOAFRE_CL_RESYNC = 22,
	LOAFRE_CL_GETXATTR = 23,
	LOAFRE_CL_DN_OPEN = 24,
	LOAFRE_CL_LAST = 25
};

/* Lustre's 5-letter (or shorter) names: "MARK", "CREAT", ..., "NOPEN".
 * NULL for a type outside [0, LOAFRE_CL_LAST). */
LOAFRE_API const char *loafre_cl_type_name(uint32_t type);
/* Inverse of loafre_cl_type_name (exact, case-sensitive). -EINVAL if none. */
LOAFRE_API int loafre_cl_type_from_name(const char *name, size_t len);

/* cr_flags, high bits: which extensions follow the header. */
#define LOAFRE_CLF_FLAGSHIFT 12
#define LOAFRE_CLF_VERSION 0x1000u
#define LOAFRE_CLF_RENAME 0x2000u
#define LOAFRE_CLF_JOBID 0x4000u
#define LOAFRE_CLF_EXTRA_FLAGS 0x8000u
#define LOAFRE_CLF_SUPPORTED \
	(LOAFRE_CLF_VERSION | LOAFRE_CLF_RENAME | LOAFRE_CLF_JOBID | LOAFRE_CLF_EXTRA_FLAGS)
#define LOAFRE_CLF_FLAGMASK 0x0fffu

/* cr_flags, low 12 bits, per type. */
#define LOAFRE_CLF_UNLINK_LAST 0x0001u       /* UNLNK of the last hard link */
#define LOAFRE_CLF_UNLINK_HSM_EXISTS 0x0002u /* ... and it has an HSM copy */
#define LOAFRE_CLF_RENAME_LAST 0x0001u       /* RENME overwrote the target's last link */
#define LOAFRE_CLF_RENAME_LAST_EXISTS 0x0002u /* ... and it has an HSM copy */
/* HSM: bits 0-6 error code, 7-9 event, 10-11 flags. */
#define LOAFRE_CLF_HSM_ERR_MASK 0x007fu
#define LOAFRE_CLF_HSM_EVENT_SHIFT 7
#define LOAFRE_CLF_HSM_EVENT_MASK 0x0380u
#define LOAFRE_CLF_HSM_FLAG_SHIFT 10
#define LOAFRE_CLF_HSM_FLAG_MASK 0x0c00u
#define LOAFRE_CLF_HSM_DIRTY 1u /* value in the flag field */

enum loafre_hsm_event {
	LOAFRE_HE_ARCHIVE = 0,
	LOAFRE_HE_RESTORE = 1,
	LOAFRE_HE_CANCEL = 2,
	LOAFRE_HE_RELEASE = 3,
	LOAFRE_HE_REMOVE = 4,
	LOAFRE_HE_STATE = 5,
};

/* cr_extra_flags. */
#define LOAFRE_CLFE_UIDGID 0x0001u
#define LOAFRE_CLFE_NID 0x0002u
#define LOAFRE_CLFE_OPEN 0x0004u
#define LOAFRE_CLFE_XATTR 0x0008u
#define LOAFRE_CLFE_SUPPORTED \
	(LOAFRE_CLFE_UIDGID | LOAFRE_CLFE_NID | LOAFRE_CLFE_OPEN | LOAFRE_CLFE_XATTR)

/* Sizes of the parts of a binary record. */
#define LOAFRE_REC_HDR_SIZE 64
#define LOAFRE_EXT_RENAME_SIZE 32
#define LOAFRE_JOBID_SIZE 32 /* 31 usable bytes + NUL */
#define LOAFRE_EXT_EXTRA_FLAGS_SIZE 8
#define LOAFRE_EXT_UIDGID_SIZE 16
#define LOAFRE_EXT_NID_SIZE 24
#define LOAFRE_EXT_OPENMODE_SIZE 4
#define LOAFRE_XATTR_NAME_SIZE 256 /* XATTR_NAME_MAX + 1 */
#define LOAFRE_NAME_MAX 255        /* NAME_MAX */
/* Largest record: every extension and a rename's two names. */
#define LOAFRE_REC_MAX_SIZE                                                            \
	(LOAFRE_REC_HDR_SIZE + LOAFRE_EXT_RENAME_SIZE + LOAFRE_JOBID_SIZE +            \
	 LOAFRE_EXT_EXTRA_FLAGS_SIZE + LOAFRE_EXT_UIDGID_SIZE + LOAFRE_EXT_NID_SIZE +  \
	 LOAFRE_EXT_OPENMODE_SIZE + LOAFRE_XATTR_NAME_SIZE + 2 * LOAFRE_NAME_MAX + 2)

/* Offset of the name area for records with these flags (Lustre's
 * changelog_rec_offset): header plus the announced extensions. */
LOAFRE_API size_t loafre_rec_offset(uint16_t clf_flags, uint64_t clfe_flags);

/* ---- the in-memory view ------------------------------------------------- */

/* One decoded record. Fields of absent extensions are zero. */
struct loafre_rec {
	uint64_t index;       /* cr_index */
	uint64_t prev;        /* cr_prev */
	uint64_t time;        /* cr_time: seconds << 30 | nanoseconds */
	uint32_t type;        /* enum loafre_cl_type (unknown values kept as is) */
	uint16_t flags;       /* cr_flags: CLF_* extension bits | per-type low bits */
	struct loafre_fid tfid; /* target; for MARK, low 32 bits of f_seq = markerflags */
	struct loafre_fid pfid; /* parent */
	/* CLF_RENAME */
	struct loafre_fid sfid;  /* renamed object (source) */
	struct loafre_fid spfid; /* its old parent */
	/* CLF_JOBID: NUL-terminated, at most 31 bytes */
	char jobid[LOAFRE_JOBID_SIZE];
	/* CLF_EXTRA_FLAGS */
	uint64_t extra_flags; /* CLFE_* */
	uint64_t uid, gid;    /* CLFE_UIDGID */
	uint64_t nid;         /* CLFE_NID: lnet_nid_t */
	uint64_t nid_extra;   /* CLFE_NID: reserved (IPv6) */
	uint32_t openflags;   /* CLFE_OPEN: low 32 bits of MDS_OPEN_* */
	char xattr[LOAFRE_XATTR_NAME_SIZE]; /* CLFE_XATTR: NUL-terminated */
	/* Name area. `name` is the target name (namelen bytes, not necessarily
	 * NUL-terminated). `sname` is non-NULL exactly when the name area holds
	 * "tname\0sname" (renames); then it points at snamelen bytes. */
	const char *name;
	uint16_t namelen;
	const char *sname;
	uint16_t snamelen;
};

/* Time helpers: cr_time packs seconds << 30 | nanoseconds. */
static inline uint64_t loafre_cl_time(uint64_t sec, uint32_t nsec)
{
	return (sec << 30) | (nsec & ((1u << 30) - 1));
}
static inline uint64_t loafre_cl_time_sec(uint64_t t) { return t >> 30; }
static inline uint32_t loafre_cl_time_nsec(uint64_t t) { return (uint32_t)(t & ((1u << 30) - 1)); }

static inline uint32_t loafre_rec_markerflags(const struct loafre_rec *r)
{
	return (uint32_t)r->tfid.f_seq;
}

/* Size of the name area a record needs: namelen, or namelen + 1 + snamelen. */
static inline size_t loafre_rec_namearea(const struct loafre_rec *r)
{
	return r->sname ? (size_t)r->namelen + 1 + r->snamelen : r->namelen;
}

/* Size of the binary encoding of *rec. */
LOAFRE_API size_t loafre_rec_size(const struct loafre_rec *rec);

/* Decodes one binary record from buf[0..len). On success writes *ret_rec
 * (borrowing name/sname from buf) and, if ret_size is non-NULL, the number
 * of bytes the record occupies. Returns 0, or -EBADMSG for a malformed or
 * truncated record. */
LOAFRE_API int loafre_rec_decode(const void *buf, size_t len, struct loafre_rec *ret_rec,
				 size_t *ret_size);

/* Encodes *rec into buf[0..cap). The extensions written are exactly those
 * announced by rec->flags and rec->extra_flags. Returns the number of bytes
 * written (> 0), -ENOBUFS if cap is too small, or -EINVAL if the record is
 * not encodable (a name longer than 255 bytes or containing a NUL, jobid
 * or xattr not NUL-terminated). */
LOAFRE_API int loafre_rec_encode(const struct loafre_rec *rec, void *buf, size_t cap);

/* Remaps a record to carry exactly the extensions in `clf_want`
 * (CLF_RENAME|CLF_JOBID|CLF_EXTRA_FLAGS; CLF_VERSION is always set) and,
 * when CLF_EXTRA_FLAGS is wanted, exactly the extra extensions in
 * `clfe_want`: absent fields that are added are zeroed, present ones that
 * are not wanted are dropped (Lustre's LU-1996 behaviour, as a consumer
 * asking for a subset of fields sees it). Works on the view; encode it to
 * get the remapped binary layout. */
LOAFRE_API void loafre_rec_remap(struct loafre_rec *rec, uint16_t clf_want, uint64_t clfe_want);

/* Remaps the binary record in buf (of `len` valid bytes, `cap` bytes of
 * room) in place. Returns the new size, -EBADMSG if buf does not hold a
 * valid record, or -ENOBUFS if cap is too small for the remapped layout. */
LOAFRE_API int loafre_rec_remap_buf(void *buf, size_t len, size_t cap, uint16_t clf_want,
				    uint64_t clfe_want);

/* ---- masks --------------------------------------------------------------- */

/* A record-type mask has bit (1 << type) set for each type it selects. */
#define LOAFRE_CL_MASK_ALL ((1u << LOAFRE_CL_LAST) - 1)
#define LOAFRE_CL_MASK_MIN (1u << LOAFRE_CL_MARK) /* Lustre's CHANGELOG_MINMASK */
/* Lustre's CHANGELOG_DEFMASK: all but ATIME, OPEN, GXATR and NOPEN. */
LOAFRE_API uint32_t loafre_cl_mask_default(void);

/* Parses a mask with Lustre's cfs_str2mask syntax: tokens (type names,
 * case-insensitive, "ALL", "DEFAULT") separated by blanks or commas; an
 * operator '+' or '-' applies to the tokens that follow it up to the next
 * operator. If the first token carries an operator the result starts from
 * `base` (relative), otherwise from MINMASK (absolute). Returns 0 or
 * -EINVAL (unknown name, dangling operator, empty); *ret_mask on success. */
LOAFRE_API int loafre_cl_mask_parse(const char *s, uint32_t base, uint32_t *ret_mask);

/* Formats a mask as the type names of its bits in type order, joined by
 * `sep` (' ' for changelog_mask, ',' for changelog_users). Returns the
 * length written, or -ENOBUFS. */
LOAFRE_API int loafre_cl_mask_format(uint32_t mask, char sep, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
