/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker_proto.h — the broker wire protocol, as byte buffers (internal).
 *
 * The format is specified at the head of lib/broker_proto.c. This module
 * knows nothing of ZeroMQ: a message is an array of frames (pointer,
 * length); the broker (lib/broker.c), the consumer library
 * (lib/consumer.c) and the fuzzer use the same encoder and decoder.
 *
 * Ownership: decoded messages borrow every pointer from the frames they
 * were decoded from; encoded frames borrow from the message and from the
 * caller's scratch buffer. Nothing here allocates.
 */
#ifndef LOAFRE_BROKER_PROTO_H
#define LOAFRE_BROKER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/record.h"

/* ---- limits ------------------------------------------------------------- */

#define LOAFRE__BP_MAX_FRAMES 4          /* frames of the longest message (RECS with paths) */
#define LOAFRE__BP_HELLO_MAX 4096        /* HELLO options text, bytes */
#define LOAFRE__BP_TEXT_MAX 4096         /* ERR text, bytes */
#define LOAFRE__BP_MDTS_MAX 65536        /* WELCOME MDT list, bytes */
#define LOAFRE__BP_ACK_RANGES_MAX 4096   /* (first, last) pairs in one ACK */
#define LOAFRE__BP_ACK_RANGE_SIZE 16
#define LOAFRE__BP_RECS_MAX (64u << 20)  /* RECS payload, bytes */
#define LOAFRE__BP_CREDIT_MAX (1u << 20) /* credit=N and CREDIT n */
#define LOAFRE__BP_HEARTBEAT_MIN 10      /* heartbeat_ms=N bounds */
#define LOAFRE__BP_HEARTBEAT_MAX 3600000
#define LOAFRE__BP_GROUP_MAX 15          /* Lustre reader-name limit */
#define LOAFRE__BP_MDT_NAME_MAX 63       /* bytes of an MDT name */
#define LOAFRE__BP_STARTS_MAX 64         /* MDT:INDEX entries in start= */
#define LOAFRE__BP_SCRATCH 16            /* scratch bytes loafre__bp_encode needs */
#define LOAFRE__BP_FSNAME_MAX 63         /* bytes of paths=FSNAME */
#define LOAFRE__BP_PATHS_MAX (128u << 20) /* RECS paths frame, bytes */
#define LOAFRE__BP_PATH_MAX 4095         /* bytes of one path (PATH_MAX without the NUL) */
#define LOAFRE__BP_PATHS_HDR 16          /* header bytes of one paths entry */
#define LOAFRE__BP_RP_FLAGS 0x7u         /* the LOAFRE_RP_* bits a paths entry may have */

enum loafre__bp_cmd {
	LOAFRE__BP_HELLO = 1,
	LOAFRE__BP_WELCOME,
	LOAFRE__BP_RECS,
	LOAFRE__BP_ACK,
	LOAFRE__BP_CREDIT,
	LOAFRE__BP_GAP,
	LOAFRE__BP_PING,
	LOAFRE__BP_PONG,
	LOAFRE__BP_ERR,
	LOAFRE__BP_BYE,
};

/* The command frame's text ("HELLO", ...), NULL for an unknown value. */
const char *loafre__bp_cmd_name(enum loafre__bp_cmd cmd);

struct loafre__bp_frame {
	const void *data;
	size_t len;
};

/* One message. Which fields are meaningful depends on cmd:
 *   HELLO   text (options, see loafre__bp_hello_parse)
 *   WELCOME member, text (MDT list, see loafre__bp_mdts_next)
 *   RECS    mdt, payload (records, see loafre__bp_recs_next); paths,
 *           paths_len, n_paths (the optional paths frame, NULL when absent:
 *           see loafre__bp_paths_next; encode sends it when non-NULL)
 *   ACK     mdt, payload (n_ranges pairs, see loafre__bp_ack_get)
 *   CREDIT  credit
 *   GAP     mdt, lost
 *   ERR     err (< 0), text
 *   PING, PONG, BYE: nothing. */
struct loafre__bp_msg {
	enum loafre__bp_cmd cmd;
	uint32_t mdt;
	uint32_t member;
	uint32_t credit;
	int32_t err;
	uint64_t lost;
	const char *text; /* not NUL-terminated */
	size_t text_len;
	const void *payload;
	size_t payload_len;
	size_t n_ranges;
	const void *paths;  /* RECS: the paths frame, or NULL */
	size_t paths_len;   /* its bytes */
	size_t n_paths;     /* decoded: its entries (= the records) */
};

/* Decodes the n frames of one message. Returns 0 and fills *m, or:
 *   -EPROTO    unknown command frame (or no frame at all)
 *   -EMSGSIZE  a frame over its limit (HELLO > 4 KiB, ACK > 4096 ranges...)
 *   -EBADMSG   wrong frame count, wrong integer frame size, a bad value
 *              (CREDIT 0, ERR >= 0, ACK range first > last or first 0,
 *              NUL in a text frame, empty RECS, a RECS paths frame that is
 *              malformed or whose entries are not one per record)
 * and writes a one-line reason into err[0..errlen) when err is non-NULL.
 * RECS records are not validated here unless a paths frame came with
 * them (then they are counted: a malformed record is -EBADMSG); HELLO
 * options are parsed by loafre__bp_hello_parse. */
int loafre__bp_decode(const struct loafre__bp_frame *frames, size_t n, struct loafre__bp_msg *m,
		      char *err, size_t errlen);

/* Encodes *m into frames out[0..LOAFRE__BP_MAX_FRAMES) (integers are
 * written into scratch, LOAFRE__BP_SCRATCH bytes). Returns the number of
 * frames, or -EINVAL if m would not decode (the same limits apply). */
int loafre__bp_encode(const struct loafre__bp_msg *m, struct loafre__bp_frame *out,
		      uint8_t *scratch);

/* ---- ACK ranges --------------------------------------------------------- */

/* Writes range i into an ACK payload buffer (16 bytes per range). */
void loafre__bp_ack_put(void *payload, size_t i, uint64_t first, uint64_t last);
/* Reads range i of a decoded ACK (i < m->n_ranges). */
void loafre__bp_ack_get(const struct loafre__bp_msg *m, size_t i, uint64_t *first,
			uint64_t *last);

/* ---- RECS payload ------------------------------------------------------- */

/* Iterates the records of a RECS payload: *off starts at 0. Returns 1 with
 * the next record decoded into *rec (borrowing from payload) and, if raw is
 * non-NULL, its bytes in *raw / *raw_len; 0 at the end; -EBADMSG if the
 * bytes at *off are not a valid record (the iteration must stop). */
int loafre__bp_recs_next(const void *payload, size_t len, size_t *off, struct loafre_rec *rec,
			 const void **raw, size_t *raw_len);

/* ---- RECS paths frame --------------------------------------------------- */

/* One record's paths (the wire form of struct loafre_rec_paths). */
struct loafre__bp_rec_paths {
	uint32_t flags;      /* LOAFRE_RP_* (loafre/consumer.h) */
	int32_t path_err;    /* 0 or -errno */
	int32_t spath_err;   /* 0 or -errno */
	const char *path;    /* path_len bytes, not NUL-terminated; borrowed */
	size_t path_len;     /* 0: no path */
	const char *spath;   /* spath_len bytes; borrowed */
	size_t spath_len;    /* 0: no spath */
};

/* Appends one entry to a paths frame being built in buf (cap bytes, *len
 * used). 0, -EINVAL (an entry that would not decode: a path over
 * LOAFRE__BP_PATH_MAX, not starting with '/', with a NUL, a path with an
 * error, an error out of -4095..0, unknown flags) or -ENOBUFS. */
int loafre__bp_paths_put(void *buf, size_t cap, size_t *len, const struct loafre__bp_rec_paths *p);
/* Iterates a paths frame: *off starts at 0. 1 with the next entry in *ret
 * (borrowing from frame), 0 at the end, -EBADMSG (the iteration must
 * stop). */
int loafre__bp_paths_next(const void *frame, size_t len, size_t *off,
			  struct loafre__bp_rec_paths *ret);

/* ---- WELCOME MDT list: "NAME=ID,NAME=ID" --------------------------------- */

/* Iterates the list: *off starts at 0. Returns 1 with the entry's name
 * (NUL-terminated, name holds LOAFRE__BP_MDT_NAME_MAX + 1 bytes) and id, 0
 * at the end, -EBADMSG for a malformed list. */
int loafre__bp_mdts_next(const char *s, size_t len, size_t *off, char *name, uint32_t *id);
/* Appends "NAME=ID" (with a comma when *len > 0) to buf. 0, -EINVAL (bad
 * name), or -ENOBUFS. buf stays NUL-terminated. */
int loafre__bp_mdts_append(char *buf, size_t cap, size_t *len, const char *name, uint32_t id);

/* ---- HELLO options ------------------------------------------------------ */

enum loafre__bp_start {
	LOAFRE__BP_START_DEFAULT = 0, /* not given: a new group starts at the oldest record */
	LOAFRE__BP_START_OLDEST,
	LOAFRE__BP_START_NEWEST,
	LOAFRE__BP_START_INDEX, /* per MDT: starts[]; MDTs not listed start at the oldest */
};

/* What fields= can ask for (the record extensions beyond the header and
 * rename, which are always kept). */
#define LOAFRE__BP_FIELD_JOBID 0x01u
#define LOAFRE__BP_FIELD_UIDGID 0x02u
#define LOAFRE__BP_FIELD_NID 0x04u
#define LOAFRE__BP_FIELD_OPENMODE 0x08u
#define LOAFRE__BP_FIELD_XATTR 0x10u
#define LOAFRE__BP_FIELD_ALL 0x1fu

struct loafre__bp_start_index {
	char mdt[LOAFRE__BP_MDT_NAME_MAX + 1];
	uint64_t index; /* first index to deliver */
};

struct loafre__bp_hello {
	bool ephemeral;
	char group[LOAFRE__BP_GROUP_MAX + 1]; /* "" when ephemeral */
	enum loafre__bp_start start;
	struct loafre__bp_start_index starts[LOAFRE__BP_STARTS_MAX];
	size_t n_starts;
	uint32_t credit;       /* 0: not given */
	uint32_t heartbeat_ms; /* 0: not given */
	bool has_fields;       /* fields= given; else every field is sent as journaled */
	uint32_t fields;       /* LOAFRE__BP_FIELD_* */
	char paths[LOAFRE__BP_FSNAME_MAX + 1]; /* paths=FSNAME, "" when not given */
};

/* Parses the HELLO options text (tokens KEY=VALUE or `ephemeral`,
 * separated by blanks):
 *   group=NAME | ephemeral   exactly one of them
 *   start=oldest|newest|MDT:INDEX[,MDT:INDEX...]   (not with ephemeral)
 *   credit=N                 1..LOAFRE__BP_CREDIT_MAX
 *   fields=F[,F...]          jobid uidgid nid openmode xattr, `all`; empty: none
 *   heartbeat_ms=N           LOAFRE__BP_HEARTBEAT_MIN..MAX
 *   paths=FSNAME             [A-Za-z0-9_-], 1..LOAFRE__BP_FSNAME_MAX; only with group
 * Each key at most once. Returns 0, -EMSGSIZE (over 4 KiB) or -EINVAL
 * (unknown key, bad value, duplicate, missing group/ephemeral) with a
 * one-line reason in err. */
int loafre__bp_hello_parse(const char *s, size_t len, struct loafre__bp_hello *h, char *err,
			   size_t errlen);
/* Formats options that loafre__bp_hello_parse reads back as *h. Returns the
 * length (buf NUL-terminated), -EINVAL for invalid options, or -ENOBUFS. */
int loafre__bp_hello_format(const struct loafre__bp_hello *h, char *buf, size_t cap);

/* The record extensions (CLF_*, CLFE_*) a field set keeps, for
 * loafre_rec_remap: CLF_RENAME always, CLF_JOBID, CLF_EXTRA_FLAGS when any
 * of uidgid/nid/openmode/xattr. */
void loafre__bp_fields_flags(uint32_t fields, uint16_t *clf, uint64_t *clfe);

/* Checks a group name against Lustre's reader-name rules. */
bool loafre__bp_group_name_ok(const char *s, size_t len);

#endif
