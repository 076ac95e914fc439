/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * journal.c — an MDT's durable changelog: segments, group commit, readers
 * and crash recovery. The readers' registry (users file, clear, purge, GC)
 * lives in journal_users.c.
 *
 * ==========================================================================
 * ON-DISK FORMAT
 * ==========================================================================
 *
 * A journal is one directory per MDT holding:
 *
 *   meta        text, written once at creation (atomically: temp + fsync +
 *               rename + fsync dir):  "loafre-journal 1\nmdt NAME\n".
 *               Open checks it: another NAME is -EXDEV, anything else
 *               -EBADMSG.
 *   lock        empty; flock(LOCK_EX) on it serializes every writer-side
 *               operation across processes: commit, register, deregister,
 *               clear, purge, gc and recovery. Readers never take it.
 *   state       64 bytes, rewritten in place with one pwrite under the lock
 *               after every change; NOT fsynced (it is reconstructible
 *               from the segments and the users file, see RECOVERY).
 *   users       the readers' registry, text (see journal_users.c), replaced
 *               atomically (temp + fsync + rename + fsync dir) under the
 *               lock.
 *   NNNNNNNNNNNNNNNNNNNN.seg   segments: 20-digit decimal first index.
 *
 * All integers are little-endian.
 *
 * State (64 bytes):
 *   0   8  magic "LFRJSTA1"
 *   8   8  generation     bumped by every change (readers detect change)
 *   16  8  last_index     newest committed index (Lustre's current_index)
 *   24  8  purged_index   records <= this are purged: invisible to readers
 *   32  8  active_first   first index of the active segment (0: none yet)
 *   40  8  valid_length   committed bytes of the active segment
 *   48  4  flags          reserved, 0
 *   52  4  users_generation  bumped whenever `users` changes, so handles
 *                         reload it (and their effective mask)
 *   56  8  XXH3_64bits of bytes 0..55
 * An empty (0-byte) state file reads as all zeros: a fresh journal.
 * Readers may see a torn state (pread racing the writer's pwrite): the
 * checksum catches it and they re-read.
 *
 * Segment header (32 bytes):
 *   0   8  magic "LFRJSEG1"
 *   8   4  version = 1
 *   12  4  salt: random per segment (getrandom), seeds the frame checksums
 *          so that stale bytes of an earlier file never validate
 *   16  8  first_index: index of its first frame (also its file name)
 *   24  4  reserved, 0
 *   28  4  XXH32(bytes 0..27, seed 0)
 *
 * Frames follow the header back to back, each 8-byte aligned:
 *   0   4  len: bytes of the Lustre record
 *   4   4  checksum: low 32 bits of XXH3_64bits_withSeed(record, len, salt)
 *          (XXH3 rather than XXH32: several times faster on 100-byte
 *          inputs; the len field is covered implicitly: a wrong len makes
 *          the hash run over other bytes)
 *   8 len  the record, Lustre's binary changelog_rec layout exactly as
 *          loafre_rec_encode writes it (cr_index at record bytes 8..15)
 *   ...    zero padding to a multiple of 8
 *
 * Frame validity: 64 <= len <= LOAFRE_REC_MAX_SIZE; the whole padded frame
 * lies inside the bytes considered; the checksum matches;
 * loafre_rec_decode accepts the record and it occupies exactly len bytes;
 * its cr_index is strictly greater than the previous frame's (gaps are
 * allowed: imported captures may have gaps) and, for the first frame of a
 * segment, equal to the header's first_index.
 *
 * A segment is "active" when its first index is state.active_first: its
 * committed bytes are [0, valid_length). Segments with a smaller first
 * index are "sealed": the whole file is committed and never changes again
 * (they are never truncated: a bad frame there is -EIO for readers).
 * Segment files with a greater first index than active_first are not
 * committed (a writer died while rotating); readers ignore them and
 * recovery adopts or deletes them.
 *
 * ==========================================================================
 * COMMIT PROTOCOL (loafre_journal_commit)
 * ==========================================================================
 *
 * append() encodes each record into an in-memory batch of frames (index
 * and checksum patched at commit). commit():
 *   1. flock(lock).
 *   2. Read the state; run recovery (below) when this handle has never
 *      checked the journal, a previous commit of it failed, the state is
 *      invalid, or another process changed the state since (its generation
 *      differs from the one this handle wrote last).
 *   3. Assign indices: 0 becomes previous+1; an explicit index must exceed
 *      the previous one (else -ERANGE, nothing written).
 *   4. For each frame, in order: if the active segment already holds
 *      frames and the frame would take it past segment_bytes, rotate:
 *      fdatasync the old segment (policy COMMIT), create the new segment
 *      (O_TRUNC), write its header, fsync it and fsync the directory —
 *      why: the new file and its salt must be durable before any frame in
 *      it can be considered committed. Frames are pwritten at
 *      valid_length, many per call.
 *   5. fdatasync the active segment (policy COMMIT).
 *   6. THEN pwrite the state: generation+1, last_index, active_first,
 *      valid_length. Why this order: the state is the commit point readers
 *      trust; it must never point at bytes that are not yet durable.
 *   7. funlock. Readers are woken by inotify IN_MODIFY on `state`.
 * On an error after step 3 the handle truncates what it wrote (best
 * effort), deletes segments it created and marks itself for recovery; the
 * queue is kept.
 *
 * Durability: when commit returns >= 0 under LOAFRE_FSYNC_COMMIT, its
 * records are on stable storage (step 5 precedes the return) and survive
 * SIGKILL and power loss: even if the unsynced state is lost or stale,
 * recovery finds the fsynced frames again. Under LOAFRE_FSYNC_NONE they
 * survive a process crash (the page cache keeps them) but not power loss.
 *
 * ==========================================================================
 * RECOVERY (under the lock)
 * ==========================================================================
 *
 * Rebuild, when the state is invalid, empty while segments exist, names a
 * missing or headerless active segment, or has valid_length beyond the
 * active segment's size:
 *   - take the last segment file; if its header is invalid, or it holds no
 *     valid frame and an older segment exists, delete it (it holds nothing
 *     committed: a header is fsynced before its first frame is written)
 *     and repeat with the previous one;
 *   - scan it from its header, keep the valid frames, truncate at the
 *     first invalid one, fsync;
 *   - last_index = max(last valid frame, users.purged, every reader's
 *     cleared index) so that an index a reader may already have consumed
 *     is never handed out again; purged_index = max(users.purged, first
 *     index of the oldest segment - 1); a new generation.
 * Otherwise (state trusted), scan forward:
 *   - from valid_length in the active segment, keep further complete valid
 *     frames (a writer died after writing them — real records; with
 *     FSYNC_NONE, or after power loss erased the unsynced state update,
 *     this is what keeps fsynced records), truncate the rest (a torn
 *     tail), fsync;
 *   - then, unless a torn tail was just cut (a torn frame ends the log:
 *     anything written after it is not adopted across the hole), the
 *     segments newer than the active one, in order: one whose
 *     header is valid and that holds at least one valid frame continuing
 *     the index sequence is adopted as the new active segment (its torn
 *     tail truncated, fsynced); the first that does not qualify is deleted
 *     with every newer one;
 *   - if anything changed, write the state (generation+1).
 * Committed frames are never truncated by the forward scan (it starts at
 * valid_length). A corrupt committed frame in a sealed segment stays and
 * readers get -EIO there.
 *
 * ==========================================================================
 * PURGE
 * ==========================================================================
 *
 * After clear, deregister and gc (journal_users.c): purged_index becomes
 * max(previous, min cleared over registered readers), clamped to
 * last_index; with no reader left after a deregistration, last_index (as
 * Lustre cancels everything). The users file (holding a durable copy of
 * purged_index) is written first, then the state, then segment i is
 * deleted when segment i+1 exists and its first index <= purged_index+1
 * and segment i is not the active one. Why this order: a segment is only
 * deleted once the clear that allows it is durable.
 *
 * ==========================================================================
 * READERS (no lock)
 * ==========================================================================
 *
 * A reader pread()s the state (retrying torn reads), lists the segments
 * (readdir; refreshed at the end of a sealed segment or when active_first
 * names a segment it has not listed), reads frames with large pread()s
 * into a window buffer, validates every frame (a bad committed frame is
 * -EIO), skips indices <= purged_index and below its start, and stops at
 * the committed end: valid_length of the active segment. There it drains
 * its inotify descriptor and only then re-reads the state, so a commit
 * landing after that re-read leaves the descriptor readable. A reader
 * whose segment was deleted by purge keeps reading its open descriptor;
 * when the next segment is gone it re-lists and continues at the oldest
 * retained record.
 *
 * The users file: see journal_users.c.
 */
#include "journal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "util.h"

#define JSTATE_MAGIC "LFRJSTA1"
#define JSEG_MAGIC "LFRJSEG1"
#define JSEG_VERSION 1u
#define JSEG_NAME_LEN 24         /* 20 digits + ".seg" */
#define JDEFAULT_SEGMENT_BYTES (64ull << 20)
#define JSCAN_CHUNK (1u << 20)   /* bytes per pread when scanning */
#define JREAD_WINDOW (1u << 20)  /* reader window */
#define JSTATE_RETRIES 1000      /* torn state re-reads before giving up */

static const char meta_prefix[] = "loafre-journal 1\nmdt ";

/* ---- small helpers ------------------------------------------------------ */

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static uint32_t frame_sum(const uint8_t *rec, size_t len, uint32_t salt)
{
	return (uint32_t)XXH3_64bits_withSeed(rec, len, salt);
}

static void seg_name(char buf[JSEG_NAME_LEN + 1], uint64_t first)
{
	snprintf(buf, JSEG_NAME_LEN + 1, "%020" PRIu64 ".seg", first);
}

/* Parses a segment file name; false if it is not one. */
static bool seg_parse_name(const char *name, uint64_t *ret_first)
{
	if (strlen(name) != JSEG_NAME_LEN || strcmp(name + 20, ".seg") != 0)
		return false;
	for (int i = 0; i < 20; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return loafre__parse_u64(name, 20, ret_first) == 0 && *ret_first > 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted first indices of the segment files. *ret_segs malloc'ed. */
static int list_segments(int dirfd, uint64_t **ret_segs, size_t *ret_n)
{
	uint64_t *v = NULL, first;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = NULL;
	int fd, r;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		if (!seg_parse_name(de->d_name, &first))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				goto fail;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = first;
	}
	if (errno) {
		r = -errno;
		goto fail;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	*ret_segs = v;
	*ret_n = n;
	return 0;
fail:
	closedir(d);
	free(v);
	return r;
}

static int open_segment(struct loafre_journal *j, uint64_t first, int oflags)
{
	char name[JSEG_NAME_LEN + 1];
	int fd;

	seg_name(name, first);
	fd = openat(j->dirfd, name, oflags | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

/* Reads and checks a segment header; -EBADMSG if invalid or short. */
static int seg_header_read(int fd, uint64_t *ret_first, uint32_t *ret_salt)
{
	uint8_t h[LOAFRE__JSEG_HDR_SIZE];
	ssize_t n = loafre__pread_all(fd, h, sizeof(h), 0);

	if (n < 0)
		return (int)n;
	if (n != (ssize_t)sizeof(h) || memcmp(h, JSEG_MAGIC, 8) != 0 ||
	    loafre__le32(h + 8) != JSEG_VERSION || loafre__le32(h + 24) != 0 ||
	    loafre__le32(h + 28) != XXH32(h, 28, 0))
		return -EBADMSG;
	*ret_first = loafre__le64(h + 16);
	*ret_salt = loafre__le32(h + 12);
	return 0;
}

/* Checks the frame at p with `avail` bytes available. Returns 0 (valid:
 * *ret_rec decoded, *ret_fsize the padded frame size), -EAGAIN when the
 * frame extends past avail (incomplete), -EBADMSG when invalid. */
static int frame_check(const uint8_t *p, size_t avail, uint32_t salt, struct loafre_rec *ret_rec,
		       size_t *ret_fsize)
{
	struct loafre_rec rec;
	size_t len, fsize, used;

	if (avail < LOAFRE__JFRAME_HDR_SIZE)
		return -EAGAIN;
	len = loafre__le32(p);
	if (len < LOAFRE_REC_HDR_SIZE || len > LOAFRE_REC_MAX_SIZE)
		return -EBADMSG;
	fsize = LOAFRE__JFRAME_HDR_SIZE + align8(len);
	if (avail < fsize)
		return -EAGAIN;
	if (loafre__le32(p + 4) != frame_sum(p + LOAFRE__JFRAME_HDR_SIZE, len, salt))
		return -EBADMSG;
	if (loafre_rec_decode(p + LOAFRE__JFRAME_HDR_SIZE, len, &rec, &used) < 0 || used != len)
		return -EBADMSG;
	*ret_rec = rec;
	*ret_fsize = fsize;
	return 0;
}

/* Result of scanning frames. */
struct jscan {
	uint64_t end;     /* offset just past the last valid frame */
	uint64_t last;    /* index of the last valid frame (prev if none) */
	uint64_t nframes; /* valid frames found */
};

/* Scans frames of fd from `off` up to `size`, stopping at the first
 * incomplete or invalid one. Each index must exceed the previous (`prev`
 * before the first); if first_must is non-zero the first frame's index must
 * equal it. */
static int scan_frames(int fd, uint32_t salt, uint64_t off, uint64_t size, uint64_t prev,
		       uint64_t first_must, struct jscan *ret)
{
	struct jscan sc = {.end = off, .last = prev, .nframes = 0};
	uint8_t *buf;
	int r = 0;

	buf = malloc(JSCAN_CHUNK);
	if (!buf)
		return -ENOMEM;
	while (sc.end < size) {
		size_t want = (size_t)(size - sc.end < JSCAN_CHUNK ? size - sc.end : JSCAN_CHUNK);
		ssize_t n = loafre__pread_all(fd, buf, want, (off_t)sc.end);
		size_t pos = 0;
		bool stop = false;

		if (n < 0) {
			r = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		for (;;) {
			struct loafre_rec rec;
			size_t fsize;
			int c = frame_check(buf + pos, (size_t)n - pos, salt, &rec, &fsize);

			if (c == -EAGAIN) {
				/* Cut by the chunk: re-read from here, unless the
				 * file ends here (a torn tail). */
				if (pos == 0 || sc.end + ((size_t)n - pos) >= size)
					stop = true;
				break;
			}
			if (c < 0 || rec.index <= sc.last ||
			    (sc.nframes == 0 && first_must && rec.index != first_must)) {
				stop = true;
				break;
			}
			sc.last = rec.index;
			sc.nframes++;
			sc.end += fsize;
			pos += fsize;
		}
		if (stop)
			break;
	}
	*ret = sc;
out:
	free(buf);
	return r;
}

/* ---- state ---------------------------------------------------------------- */

static void state_encode(const struct loafre__jstate *st, uint8_t b[LOAFRE__JSTATE_SIZE])
{
	memcpy(b, JSTATE_MAGIC, 8);
	loafre__put64(b + 8, st->generation);
	loafre__put64(b + 16, st->last_index);
	loafre__put64(b + 24, st->purged_index);
	loafre__put64(b + 32, st->active_first);
	loafre__put64(b + 40, st->valid_length);
	loafre__put32(b + 48, st->flags);
	loafre__put32(b + 52, st->users_generation);
	loafre__put64(b + 56, XXH3_64bits(b, 56));
}

/* One attempt: 0, -EBADMSG (bad/torn), or -errno. */
static int state_read_once(struct loafre_journal *j, struct loafre__jstate *ret_st)
{
	uint8_t b[LOAFRE__JSTATE_SIZE];
	ssize_t n;

	if (j->statefd < 0) {
		j->statefd = openat(j->dirfd, "state", O_RDONLY | O_CLOEXEC);
		if (j->statefd < 0) {
			if (errno == ENOENT) {
				memset(ret_st, 0, sizeof(*ret_st));
				return 0;
			}
			return -errno;
		}
	}
	n = loafre__pread_all(j->statefd, b, sizeof(b), 0);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		memset(ret_st, 0, sizeof(*ret_st));
		return 0;
	}
	if (n != (ssize_t)sizeof(b) || memcmp(b, JSTATE_MAGIC, 8) != 0 ||
	    loafre__le64(b + 56) != XXH3_64bits(b, 56))
		return -EBADMSG;
	ret_st->generation = loafre__le64(b + 8);
	ret_st->last_index = loafre__le64(b + 16);
	ret_st->purged_index = loafre__le64(b + 24);
	ret_st->active_first = loafre__le64(b + 32);
	ret_st->valid_length = loafre__le64(b + 40);
	ret_st->flags = loafre__le32(b + 48);
	ret_st->users_generation = loafre__le32(b + 52);
	return 0;
}

int loafre__journal_state_read(struct loafre_journal *j, struct loafre__jstate *ret_st)
{
	int r = -EBADMSG;

	for (int i = 0; i < JSTATE_RETRIES; i++) {
		r = state_read_once(j, ret_st);
		if (r != -EBADMSG)
			return r;
		if (i > 10)
			sched_yield();
	}
	return r;
}

int loafre__journal_state_write(struct loafre_journal *j, const struct loafre__jstate *st)
{
	uint8_t b[LOAFRE__JSTATE_SIZE];

	if (j->statefd >= 0 && !(fcntl(j->statefd, F_GETFL) & O_RDWR)) {
		close(j->statefd);
		j->statefd = -1;
	}
	if (j->statefd < 0) {
		j->statefd = openat(j->dirfd, "state", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (j->statefd < 0)
			return -errno;
	}
	state_encode(st, b);
	return loafre__pwrite_all(j->statefd, b, sizeof(b), 0);
}

/* ---- lock ------------------------------------------------------------------ */

int loafre__journal_lock(struct loafre_journal *j)
{
	if (j->locked)
		return 0;
	if (j->lockfd < 0)
		return -EROFS;
	while (flock(j->lockfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	j->locked = true;
	return 0;
}

void loafre__journal_unlock(struct loafre_journal *j)
{
	if (!j->locked)
		return;
	flock(j->lockfd, LOCK_UN);
	j->locked = false;
}

/* ---- recovery ---------------------------------------------------------------- */

static void writer_close_segment(struct loafre_journal *j)
{
	if (j->segfd >= 0)
		close(j->segfd);
	j->segfd = -1;
	j->seg_first = 0;
}

static int unlink_segment(struct loafre_journal *j, uint64_t first)
{
	char name[JSEG_NAME_LEN + 1];

	seg_name(name, first);
	if (unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Truncates fd to `end` if longer, and fsyncs when anything changed. */
static int trim_and_sync(int fd, uint64_t end, uint64_t size, bool changed)
{
	if (size > end) {
		if (ftruncate(fd, (off_t)end) < 0)
			return -errno;
		changed = true;
	}
	if (changed && fsync(fd) < 0)
		return -errno;
	return 0;
}

/* Rebuilds the state from the newest segment and the users file. */
static int rebuild(struct loafre_journal *j, uint64_t *segs, size_t n, struct loafre__jstate *st)
{
	struct loafre__jusers u = {0};
	struct jscan sc = {0};
	uint64_t last = 0, vlen = 0, floor_idx;
	int fd = -1, r;

	r = loafre__jusers_load(j, &u);
	if (r < 0)
		return r;
	floor_idx = u.purged;
	for (size_t i = 0; i < u.n; i++)
		if (u.v[i].cleared > floor_idx)
			floor_idx = u.v[i].cleared;

	while (n > 0) {
		uint64_t first = 0;
		uint32_t salt = 0;
		struct stat sb = {0};
		int h;

		sc = (struct jscan){0};
		fd = open_segment(j, segs[n - 1], O_RDWR);
		if (fd < 0) {
			r = fd;
			fd = -1;
			if (r == -ENOENT) {
				n--;
				continue;
			}
			goto out;
		}
		h = seg_header_read(fd, &first, &salt);
		if (h < 0 && h != -EBADMSG) {
			r = h;
			goto out;
		}
		if (h == 0 && first != segs[n - 1])
			h = -EBADMSG;
		if (h == 0) {
			if (fstat(fd, &sb) < 0) {
				r = -errno;
				goto out;
			}
			r = scan_frames(fd, salt, LOAFRE__JSEG_HDR_SIZE, (uint64_t)sb.st_size, 0,
					first, &sc);
			if (r < 0)
				goto out;
		}
		if (h < 0 || (sc.nframes == 0 && n > 1)) {
			/* Nothing committed can be in it: delete and step back. */
			close(fd);
			fd = -1;
			r = unlink_segment(j, segs[n - 1]);
			if (r < 0)
				goto out;
			n--;
			continue;
		}
		r = trim_and_sync(fd, sc.end, (uint64_t)sb.st_size, false);
		if (r < 0)
			goto out;
		last = sc.nframes ? sc.last : first - 1;
		vlen = sc.end;
		break;
	}
	if (last < floor_idx)
		last = floor_idx;
	st->generation = loafre__now_ns();
	st->last_index = last;
	st->active_first = n ? segs[n - 1] : 0;
	st->valid_length = n ? vlen : 0;
	st->purged_index = u.purged;
	if (n && segs[0] - 1 > st->purged_index)
		st->purged_index = segs[0] - 1;
	if (!n)
		st->purged_index = last;
	if (st->purged_index > last)
		st->purged_index = last;
	st->flags = 0;
	st->users_generation = (uint32_t)(st->generation >> 10);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	loafre__jusers_free(&u);
	return r;
}

/* The state is trusted: adopt complete frames beyond it, trim torn tails,
 * adopt or delete newer segment files. *changed tells whether st moved. */
static int extend(struct loafre_journal *j, int afd, uint64_t asize, uint32_t asalt,
		  const uint64_t *segs, size_t n, struct loafre__jstate *st, bool *changed)
{
	struct jscan sc = {0};
	/* A torn tail ends the log: frames in newer segments were written
	 * after the torn one and must not be adopted across the hole. */
	bool torn = false;
	size_t i;
	int fd = -1, r;

	*changed = false;
	if (asize > st->valid_length) {
		r = scan_frames(afd, asalt, st->valid_length, asize, st->last_index, 0, &sc);
		if (r < 0)
			return r;
		if (sc.nframes) {
			st->valid_length = sc.end;
			st->last_index = sc.last;
			*changed = true;
		}
		torn = sc.end < asize;
		r = trim_and_sync(afd, sc.end, asize, sc.nframes > 0);
		if (r < 0)
			return r;
	}
	for (i = 0; i < n && segs[i] <= st->active_first; i++)
		;
	for (; i < n && !torn; i++) {
		uint64_t first = 0;
		uint32_t salt = 0;
		struct stat sb = {0};
		int h;

		fd = open_segment(j, segs[i], O_RDWR);
		if (fd < 0) {
			r = fd;
			fd = -1;
			if (r == -ENOENT)
				continue;
			return r;
		}
		h = seg_header_read(fd, &first, &salt);
		if (h < 0 && h != -EBADMSG)
			goto fail_h;
		sc.nframes = 0;
		if (h == 0 && first == segs[i] && first > st->last_index) {
			if (fstat(fd, &sb) < 0) {
				h = -errno;
				goto fail_h;
			}
			h = scan_frames(fd, salt, LOAFRE__JSEG_HDR_SIZE, (uint64_t)sb.st_size,
					st->last_index, first, &sc);
			if (h < 0)
				goto fail_h;
		}
		if (sc.nframes == 0)
			break;
		h = trim_and_sync(fd, sc.end, (uint64_t)sb.st_size, true);
		if (h < 0)
			goto fail_h;
		close(fd);
		fd = -1;
		torn = sc.end < (uint64_t)sb.st_size;
		st->active_first = segs[i];
		st->valid_length = sc.end;
		st->last_index = sc.last;
		*changed = true;
		continue;
	fail_h:
		close(fd);
		return h;
	}
	if (fd >= 0)
		close(fd);
	/* segs[i..] hold nothing committed: a writer died while rotating. */
	for (; i < n; i++) {
		r = unlink_segment(j, segs[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int loafre__journal_recover_locked(struct loafre_journal *j, bool full,
				   struct loafre__jstate *ret_st)
{
	struct loafre__jstate st;
	uint64_t *segs = NULL;
	size_t n = 0;
	bool bad, changed = false;
	uint64_t asize = 0;
	uint32_t asalt = 0;
	int afd = -1, r;

	r = state_read_once(j, &st);
	if (r < 0 && r != -EBADMSG)
		return r;
	bad = r == -EBADMSG;
	if (!bad && !full && st.generation == j->known_gen) {
		*ret_st = st;
		return 0;
	}
	r = list_segments(j->dirfd, &segs, &n);
	if (r < 0)
		return r;
	if (!bad && st.active_first == 0 && n > 0)
		bad = true;
	if (!bad && st.active_first != 0) {
		uint64_t first;
		struct stat sb;

		afd = open_segment(j, st.active_first, O_RDWR);
		if (afd < 0) {
			if (afd != -ENOENT) {
				r = afd;
				afd = -1;
				goto out;
			}
			afd = -1;
			bad = true;
		} else if (seg_header_read(afd, &first, &asalt) < 0 || first != st.active_first ||
			   fstat(afd, &sb) < 0 || (uint64_t)sb.st_size < st.valid_length ||
			   st.valid_length < LOAFRE__JSEG_HDR_SIZE) {
			bad = true;
		} else {
			asize = (uint64_t)sb.st_size;
		}
	}
	if (bad) {
		r = rebuild(j, segs, n, &st);
		changed = true;
	} else if (st.active_first != 0) {
		r = extend(j, afd, asize, asalt, segs, n, &st, &changed);
	} else {
		r = 0;
	}
	if (r < 0)
		goto out;
	if (changed) {
		if (!bad)
			st.generation++;
		r = loafre__journal_state_write(j, &st);
		if (r < 0)
			goto out;
	}
	/* Recovery may have truncated or replaced what segfd refers to. */
	writer_close_segment(j);
	j->known_gen = st.generation;
	*ret_st = st;
	r = 0;
out:
	if (afd >= 0)
		close(afd);
	free(segs);
	return r;
}

int loafre__journal_purge_segments_locked(struct loafre_journal *j,
					  const struct loafre__jstate *st)
{
	uint64_t *segs = NULL;
	size_t n = 0;
	int r;

	r = list_segments(j->dirfd, &segs, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i + 1 < n; i++) {
		if (segs[i] >= st->active_first || segs[i + 1] > st->active_first ||
		    segs[i + 1] > st->purged_index + 1)
			break;
		r = unlink_segment(j, segs[i]);
		if (r < 0)
			break;
	}
	free(segs);
	return r;
}

/* ---- open / close ------------------------------------------------------------- */

/* Whether a directory without `meta` may become a journal: it holds
 * nothing but what a crashed creation could have left. */
static int dir_is_claimable(int dirfd)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 1;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "lock") && strcmp(de->d_name, ".meta.tmp"))
			r = 0;
	closedir(d);
	return r;
}

static int check_meta(struct loafre_journal *j, const char *mdt, bool create)
{
	char path[PATH_MAX], *buf = NULL, expect[sizeof(meta_prefix) + LOAFRE__JMDT_MAX + 1];
	size_t len, plen = sizeof(meta_prefix) - 1;
	int r;

	snprintf(expect, sizeof(expect), "%s%s\n", meta_prefix, mdt);
	if (snprintf(path, sizeof(path), "%s/meta", j->dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = loafre__read_file(path, 4096, &buf, &len);
	if (r == -ENOENT) {
		r = dir_is_claimable(j->dirfd);
		if (r < 0)
			return r;
		if (!r)
			return -EBADMSG;
		if (!create)
			return -ENOENT;
		return loafre__write_file_atomic(j->dir, "meta", expect, strlen(expect));
	}
	if (r == -EFBIG)
		return -EBADMSG;
	if (r < 0)
		return r;
	if (len < plen + 2 || memcmp(buf, meta_prefix, plen) != 0 || buf[len - 1] != '\n' ||
	    memchr(buf + plen, '\n', len - plen - 1)) {
		r = -EBADMSG;
	} else if (len != strlen(expect) || memcmp(buf, expect, len) != 0) {
		r = -EXDEV;
	} else {
		r = 0;
	}
	free(buf);
	return r;
}

int loafre_journal_open(const char *dir, const char *mdt, int flags,
			const struct loafre_journal_options *opts, struct loafre_journal **ret_journal)
{
	struct loafre_journal *j = NULL;
	struct loafre__jstate st;
	size_t mlen;
	struct stat sb;
	int r;

	if (!dir || !mdt || !ret_journal || (flags & ~(LOAFRE_JOURNAL_CREATE | LOAFRE_JOURNAL_WRITE)))
		return -EINVAL;
	mlen = strlen(mdt);
	if (mlen == 0 || mlen >= LOAFRE__JMDT_MAX || strpbrk(mdt, "\n/"))
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->dirfd = j->lockfd = j->statefd = j->segfd = -1;
	j->need_recovery = true;
	j->known_gen = UINT64_MAX;
	j->flags = flags;
	memcpy(j->mdt, mdt, mlen + 1);
	if (opts)
		j->opts = *opts;
	if (!j->opts.segment_bytes)
		j->opts.segment_bytes = JDEFAULT_SEGMENT_BYTES;
	j->dir = strdup(dir);
	if (!j->dir) {
		r = -ENOMEM;
		goto fail;
	}
	if (stat(dir, &sb) < 0) {
		r = -errno;
		if (r != -ENOENT || !(flags & LOAFRE_JOURNAL_CREATE))
			goto fail;
		r = loafre__mkdir_p(dir, 0755);
		if (r < 0)
			goto fail;
	} else if (!S_ISDIR(sb.st_mode)) {
		r = -ENOTDIR;
		goto fail;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	r = check_meta(j, mdt, flags & LOAFRE_JOURNAL_CREATE);
	if (r < 0)
		goto fail;
	j->lockfd = openat(j->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j->lockfd < 0 && !(flags & LOAFRE_JOURNAL_WRITE))
		j->lockfd = openat(j->dirfd, "lock", O_RDONLY | O_CLOEXEC);
	if (j->lockfd < 0 && (flags & LOAFRE_JOURNAL_WRITE)) {
		r = -errno;
		goto fail;
	}
	/* Writers create the state file now so readers can watch it. */
	j->statefd = openat(j->dirfd, "state",
			    ((flags & (LOAFRE_JOURNAL_WRITE | LOAFRE_JOURNAL_CREATE))
				     ? O_RDWR | O_CREAT
				     : O_RDONLY) | O_CLOEXEC,
			    0644);
	if (j->statefd < 0 && errno != ENOENT) {
		r = -errno;
		goto fail;
	}
	if (loafre__journal_state_read(j, &st) < 0)
		st.users_generation = 0;
	r = loafre__journal_users_refresh(j, st.users_generation);
	if (r < 0)
		goto fail;
	*ret_journal = j;
	return 0;
fail:
	loafre_journal_close(j);
	return r;
}

void loafre_journal_close(struct loafre_journal *j)
{
	if (!j)
		return;
	loafre__journal_unlock(j);
	writer_close_segment(j);
	if (j->statefd >= 0)
		close(j->statefd);
	if (j->lockfd >= 0)
		close(j->lockfd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	loafre__jusers_free(&j->users);
	free(j->batch);
	free(j->qauto);
	free(j->dir);
	free(j);
}

const char *loafre_journal_mdt(const struct loafre_journal *j)
{
	return j->mdt;
}

/* ---- writing -------------------------------------------------------------------- */

int loafre_journal_append(struct loafre_journal *j, const struct loafre_rec *rec)
{
	size_t need = LOAFRE__JFRAME_HDR_SIZE + align8(LOAFRE_REC_MAX_SIZE);
	uint8_t *p;
	int n;

	if (!(j->flags & LOAFRE_JOURNAL_WRITE))
		return -EBADF;
	if (rec->type >= 32 || !(j->eff_mask & (1u << rec->type)))
		return 1;
	if (j->batch_cap - j->batch_len < need) {
		size_t ncap = j->batch_cap ? j->batch_cap * 2 : (1u << 20);
		uint8_t *nb = realloc(j->batch, ncap);
		if (!nb)
			return -ENOMEM;
		j->batch = nb;
		j->batch_cap = ncap;
	}
	if (j->nq == j->qauto_cap) {
		size_t ncap = j->qauto_cap ? j->qauto_cap * 2 : 4096;
		uint8_t *nq = realloc(j->qauto, ncap);
		if (!nq)
			return -ENOMEM;
		j->qauto = nq;
		j->qauto_cap = ncap;
	}
	p = j->batch + j->batch_len;
	n = loafre_rec_encode(rec, p + LOAFRE__JFRAME_HDR_SIZE, LOAFRE_REC_MAX_SIZE);
	if (n < 0)
		return n == -ENOBUFS ? -EINVAL : n;
	if ((size_t)n < LOAFRE_REC_HDR_SIZE)
		return -EINVAL;
	loafre__put32(p, (uint32_t)n);
	loafre__put32(p + 4, 0); /* checksum: at commit, once index and salt are known */
	memset(p + LOAFRE__JFRAME_HDR_SIZE + n, 0, align8((size_t)n) - (size_t)n);
	j->qauto[j->nq++] = rec->index == 0;
	j->batch_len += LOAFRE__JFRAME_HDR_SIZE + align8((size_t)n);
	return 0;
}

size_t loafre_journal_pending(const struct loafre_journal *j)
{
	return j->nq;
}

static size_t frame_size_at(const uint8_t *p)
{
	return LOAFRE__JFRAME_HDR_SIZE + align8(loafre__le32(p));
}

/* Creates segment `first` with a fresh header, durable, and makes it the
 * handle's open segment. */
static int rotate(struct loafre_journal *j, uint64_t first)
{
	uint8_t h[LOAFRE__JSEG_HDR_SIZE];
	uint32_t salt;
	int fd, r;

	if (j->segfd >= 0 && j->opts.fsync == LOAFRE_FSYNC_COMMIT && fdatasync(j->segfd) < 0)
		return -errno;
	if (getrandom(&salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		salt = (uint32_t)loafre__now_ns() ^ (uint32_t)getpid();
	memcpy(h, JSEG_MAGIC, 8);
	loafre__put32(h + 8, JSEG_VERSION);
	loafre__put32(h + 12, salt);
	loafre__put64(h + 16, first);
	loafre__put32(h + 24, 0);
	loafre__put32(h + 28, XXH32(h, 28, 0));
	fd = open_segment(j, first, O_RDWR | O_CREAT | O_TRUNC);
	if (fd < 0)
		return fd;
	r = loafre__pwrite_all(fd, h, sizeof(h), 0);
	/* Why: header and directory entry durable before any frame counts. */
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && fsync(j->dirfd) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	writer_close_segment(j);
	j->segfd = fd;
	j->seg_first = first;
	j->seg_salt = salt;
	return 0;
}

/* Makes segfd refer to the active segment `first`. */
static int writer_open_active(struct loafre_journal *j, uint64_t first)
{
	uint64_t hfirst;
	uint32_t salt;
	int fd, r;

	if (j->segfd >= 0 && j->seg_first == first)
		return 0;
	writer_close_segment(j);
	fd = open_segment(j, first, O_RDWR);
	if (fd < 0)
		return fd;
	r = seg_header_read(fd, &hfirst, &salt);
	if (r == 0 && hfirst != first)
		r = -EBADMSG;
	if (r < 0) {
		close(fd);
		return r == -EBADMSG ? -EIO : r;
	}
	j->segfd = fd;
	j->seg_first = first;
	j->seg_salt = salt;
	return 0;
}

/* Undoes a failed commit as far as possible (best effort). */
static void commit_undo(struct loafre_journal *j, const struct loafre__jstate *st)
{
	uint64_t *segs = NULL;
	size_t n = 0;
	int fd;

	writer_close_segment(j);
	if (list_segments(j->dirfd, &segs, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (segs[i] > st->active_first)
				unlink_segment(j, segs[i]);
	free(segs);
	if (st->active_first) {
		fd = open_segment(j, st->active_first, O_RDWR);
		if (fd >= 0) {
			if (ftruncate(fd, (off_t)st->valid_length) == 0)
				fsync(fd);
			close(fd);
		}
	}
	j->need_recovery = true;
}

int loafre_journal_commit(struct loafre_journal *j, uint64_t *ret_last)
{
	struct loafre__jstate st, orig;
	uint64_t prev, vlen;
	size_t done, i;
	int r;

	if (!(j->flags & LOAFRE_JOURNAL_WRITE))
		return -EBADF;
	r = loafre__journal_lock(j);
	if (r < 0)
		return r;
	r = loafre__journal_recover_locked(j, j->need_recovery, &st);
	if (r < 0)
		goto out;
	j->need_recovery = false;
	if (st.users_generation != j->users_gen) {
		r = loafre__journal_users_refresh(j, st.users_generation);
		if (r < 0)
			goto out;
	}
	if (j->nq == 0)
		goto published;

	/* Indices: check everything before writing anything. */
	prev = st.last_index;
	for (done = 0, i = 0; done < j->batch_len; i++) {
		uint8_t *rec = j->batch + done + LOAFRE__JFRAME_HDR_SIZE;
		uint64_t idx = j->qauto[i] ? prev + 1 : loafre__le64(rec + 8);

		if (idx <= prev) {
			r = -ERANGE;
			goto out;
		}
		prev = idx;
		done += frame_size_at(j->batch + done);
	}
	prev = st.last_index;
	for (done = 0, i = 0; done < j->batch_len; i++) {
		uint8_t *rec = j->batch + done + LOAFRE__JFRAME_HDR_SIZE;

		if (j->qauto[i])
			loafre__put64(rec + 8, prev + 1);
		prev = loafre__le64(rec + 8);
		done += frame_size_at(j->batch + done);
	}

	orig = st;
	vlen = st.valid_length;
	if (st.active_first) {
		r = writer_open_active(j, st.active_first);
		if (r < 0)
			goto out;
	}
	for (done = 0; done < j->batch_len;) {
		size_t end = done;

		if (!st.active_first ||
		    (vlen > LOAFRE__JSEG_HDR_SIZE &&
		     vlen + frame_size_at(j->batch + done) > j->opts.segment_bytes)) {
			uint64_t first = loafre__le64(j->batch + done + LOAFRE__JFRAME_HDR_SIZE + 8);

			r = rotate(j, first);
			if (r < 0)
				goto undo;
			st.active_first = first;
			vlen = LOAFRE__JSEG_HDR_SIZE;
		}
		while (end < j->batch_len) {
			uint8_t *p = j->batch + end;
			size_t fs = frame_size_at(p);

			if (end > done && vlen + (end - done) + fs > j->opts.segment_bytes)
				break;
			loafre__put32(p + 4, frame_sum(p + LOAFRE__JFRAME_HDR_SIZE,
						       loafre__le32(p), j->seg_salt));
			end += fs;
		}
		r = loafre__pwrite_all(j->segfd, j->batch + done, end - done, (off_t)vlen);
		if (r < 0)
			goto undo;
		vlen += end - done;
		done = end;
	}
	/* Why: frames durable before the state (the commit point) names them. */
	if (j->opts.fsync == LOAFRE_FSYNC_COMMIT && fdatasync(j->segfd) < 0) {
		r = -errno;
		goto undo;
	}
	st.generation++;
	st.last_index = prev;
	st.valid_length = vlen;
	r = loafre__journal_state_write(j, &st);
	if (r < 0)
		goto undo;
	j->known_gen = st.generation;
	r = j->nq > INT_MAX ? INT_MAX : (int)j->nq;
	j->batch_len = 0;
	j->nq = 0;
	if (ret_last)
		*ret_last = st.last_index;
	goto out;
published:
	if (ret_last)
		*ret_last = st.last_index;
	r = 0;
	goto out;
undo:
	/* Restore the indices the queue is to keep assigning at retry. */
	for (done = 0, i = 0; done < j->batch_len; i++) {
		if (j->qauto[i])
			loafre__put64(j->batch + done + LOAFRE__JFRAME_HDR_SIZE + 8, 0);
		done += frame_size_at(j->batch + done);
	}
	commit_undo(j, &orig);
out:
	loafre__journal_unlock(j);
	return r;
}

/* ---- readers ---------------------------------------------------------------------- */

struct loafre_journal_reader {
	struct loafre_journal *j;   /* borrowed journal */
	int ifd;                    /* inotify descriptor */
	bool watch_dir;             /* watching the directory (no state file yet) */
	struct loafre__jstate st;   /* last state read */
	uint64_t *segs;             /* last segment listing (first indices, sorted) */
	size_t nsegs;               /* entries in segs */
	int fd;                     /* current segment; -1 when none */
	uint64_t seg_first;         /* its first index */
	uint32_t salt;              /* its salt */
	uint64_t seg_size;          /* its size when sealed (fixed) */
	bool sealed;                /* seg_size is the sealed size */
	uint64_t off;               /* file offset of the next frame */
	uint64_t prev_index;        /* index of the previous frame in this segment */
	uint64_t want;              /* next index the caller wants (>=) */
	uint8_t *buf;               /* read window */
	uint64_t buf_off;           /* file offset of buf[0] */
	size_t buf_len;             /* valid bytes in buf */
};

static int reader_watch(struct loafre_journal_reader *r)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/state", r->j->dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (inotify_add_watch(r->ifd, path, IN_MODIFY) >= 0) {
		r->watch_dir = false;
		return 0;
	}
	if (errno != ENOENT)
		return -errno;
	if (inotify_add_watch(r->ifd, r->j->dir, IN_CREATE | IN_MODIFY | IN_MOVED_TO) < 0)
		return -errno;
	r->watch_dir = true;
	return 0;
}

static void reader_drop_segment(struct loafre_journal_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->buf_len = 0;
}

static int reader_relist(struct loafre_journal_reader *r)
{
	uint64_t *segs;
	size_t n;
	int ret = list_segments(r->j->dirfd, &segs, &n);

	if (ret < 0)
		return ret;
	free(r->segs);
	r->segs = segs;
	r->nsegs = n;
	return 0;
}

static int reader_open_seg(struct loafre_journal_reader *r, uint64_t first)
{
	uint64_t hfirst;
	uint32_t salt;
	struct stat sb;
	int fd, ret;

	fd = open_segment(r->j, first, O_RDONLY);
	if (fd < 0)
		return fd;
	ret = seg_header_read(fd, &hfirst, &salt);
	if (ret == 0 && hfirst != first)
		ret = -EBADMSG;
	if (ret == 0 && fstat(fd, &sb) < 0)
		ret = -errno;
	if (ret < 0) {
		close(fd);
		return ret == -EBADMSG ? -EIO : ret;
	}
	reader_drop_segment(r);
	r->fd = fd;
	r->seg_first = first;
	r->salt = salt;
	r->seg_size = (uint64_t)sb.st_size;
	r->sealed = first < r->st.active_first;
	r->off = LOAFRE__JSEG_HDR_SIZE;
	r->prev_index = 0;
	return 0;
}

/* Opens the segment to continue from: the first segment after `after`
 * (when after != 0), or the one holding r->want. Returns 0, -EAGAIN if no
 * committed segment exists, or -errno. */
static int reader_seek(struct loafre_journal_reader *r, uint64_t after)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		uint64_t want = r->want > r->st.purged_index ? r->want : r->st.purged_index + 1;
		uint64_t pick = 0;
		int ret;

		ret = reader_relist(r);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < r->nsegs; i++) {
			uint64_t s = r->segs[i];

			if (s > r->st.active_first)
				break;
			if (after) {
				if (s > after) {
					pick = s;
					break;
				}
			} else if (s <= want || !pick) {
				pick = s;
			}
		}
		if (!pick)
			return -EAGAIN;
		ret = reader_open_seg(r, pick);
		if (ret != -ENOENT)
			return ret;
		/* Purged meanwhile: continue at the oldest retained record. */
		after = 0;
		ret = loafre__journal_state_read(r->j, &r->st);
		if (ret < 0)
			return ret == -EBADMSG ? -EAGAIN : ret;
	}
	return -EAGAIN;
}

int loafre_journal_reader_open(struct loafre_journal *j, uint64_t start,
			       struct loafre_journal_reader **ret_reader)
{
	struct loafre_journal_reader *r;
	int ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->j = j;
	r->fd = -1;
	r->want = start ? start : 1;
	r->buf = malloc(JREAD_WINDOW);
	r->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (!r->buf || r->ifd < 0) {
		ret = r->buf ? -errno : -ENOMEM;
		goto fail;
	}
	ret = reader_watch(r);
	if (ret < 0)
		goto fail;
	*ret_reader = r;
	return 0;
fail:
	loafre_journal_reader_close(r);
	return ret;
}

void loafre_journal_reader_close(struct loafre_journal_reader *r)
{
	if (!r)
		return;
	reader_drop_segment(r);
	if (r->ifd >= 0)
		close(r->ifd);
	free(r->segs);
	free(r->buf);
	free(r);
}

static void reader_drain(struct loafre_journal_reader *r)
{
	char ev[4096];

	while (read(r->ifd, ev, sizeof(ev)) > 0)
		;
}

/* Bytes of the current segment that are committed per r->st. */
static uint64_t reader_limit(struct loafre_journal_reader *r)
{
	if (r->seg_first < r->st.active_first) {
		struct stat sb;

		/* Opened while active: its final size is known only now. */
		if (!r->sealed && fstat(r->fd, &sb) == 0) {
			r->seg_size = (uint64_t)sb.st_size;
			r->sealed = true;
		}
		return r->seg_size;
	}
	if (r->seg_first == r->st.active_first)
		return r->st.valid_length;
	return 0;
}

/* Makes buf hold at least `need` bytes at r->off (need <= limit - off). */
static int reader_fill(struct loafre_journal_reader *r, size_t need, uint64_t limit)
{
	size_t want;
	ssize_t n;

	struct loafre__jstate st;

	if (r->off >= r->buf_off && r->off + need <= r->buf_off + r->buf_len)
		return 0;
	/* Refresh the purge horizon once per window. */
	if (loafre__journal_state_read(r->j, &st) == 0)
		r->st = st;
	want = limit - r->off < JREAD_WINDOW ? (size_t)(limit - r->off) : JREAD_WINDOW;
	n = loafre__pread_all(r->fd, r->buf, want, (off_t)r->off);
	if (n < 0)
		return (int)n;
	r->buf_off = r->off;
	r->buf_len = (size_t)n;
	if ((size_t)n < need)
		return -EIO; /* committed bytes missing */
	return 0;
}

int loafre_journal_reader_next(struct loafre_journal_reader *r, struct loafre_rec *ret_rec,
			       const void **ret_raw, size_t *ret_len)
{
	int ret;

	if (r->nsegs == 0 && r->fd < 0) {
		ret = loafre__journal_state_read(r->j, &r->st);
		if (ret < 0)
			return ret == -EBADMSG ? -EAGAIN : ret;
	}
	for (;;) {
		struct loafre_rec rec;
		uint64_t limit;
		size_t fsize, avail;
		const uint8_t *p;

		if (r->fd < 0) {
			ret = reader_seek(r, 0);
			if (ret == -EAGAIN) {
				struct loafre__jstate st;

				reader_drain(r);
				ret = loafre__journal_state_read(r->j, &st);
				if (ret < 0)
					return ret == -EBADMSG ? -EAGAIN : ret;
				if (st.generation == r->st.generation)
					return -EAGAIN;
				r->st = st;
				continue;
			}
			if (ret < 0)
				return ret;
		}
		limit = reader_limit(r);
		if (r->off >= limit) {
			struct loafre__jstate st;

			if (r->seg_first < r->st.active_first) {
				/* Sealed and done: on to the next segment, with a
				 * fresh purge horizon (it may skip segments). */
				ret = loafre__journal_state_read(r->j, &st);
				if (ret == 0)
					r->st = st;
				else if (ret != -EBADMSG)
					return ret;
				ret = reader_seek(r, r->seg_first);
				if (ret == -EAGAIN)
					reader_drop_segment(r);
				else if (ret < 0)
					return ret;
				continue;
			}
			/* Why drain before re-reading: a commit after the read
			 * below leaves an event queued, so polling wakes. */
			reader_drain(r);
			if (r->watch_dir)
				reader_watch(r);
			ret = loafre__journal_state_read(r->j, &st);
			if (ret < 0)
				return ret == -EBADMSG ? -EAGAIN : ret;
			if (st.generation == r->st.generation)
				return -EAGAIN;
			r->st = st;
			if (r->seg_first > r->st.active_first) {
				reader_drop_segment(r); /* rebuilt without it */
			}
			continue;
		}
		ret = reader_fill(r, LOAFRE__JFRAME_HDR_SIZE, limit);
		if (ret < 0)
			return ret;
		p = r->buf + (r->off - r->buf_off);
		avail = r->buf_len - (size_t)(r->off - r->buf_off);
		ret = frame_check(p, avail, r->salt, &rec, &fsize);
		if (ret == -EAGAIN) {
			size_t need = LOAFRE__JFRAME_HDR_SIZE + align8(loafre__le32(p));

			if (r->off + need > limit)
				return -EIO;
			ret = reader_fill(r, need, limit);
			if (ret < 0)
				return ret;
			p = r->buf + (r->off - r->buf_off);
			avail = r->buf_len - (size_t)(r->off - r->buf_off);
			ret = frame_check(p, avail, r->salt, &rec, &fsize);
		}
		if (ret < 0 || r->off + fsize > limit || rec.index <= r->prev_index ||
		    (r->prev_index == 0 && rec.index != r->seg_first))
			return -EIO;
		r->off += fsize;
		r->prev_index = rec.index;
		if (rec.index > r->st.last_index)
			return -EIO;
		if (rec.index <= r->st.purged_index || rec.index < r->want)
			continue;
		r->want = rec.index + 1;
		*ret_rec = rec;
		if (ret_raw)
			*ret_raw = p + LOAFRE__JFRAME_HDR_SIZE;
		if (ret_len)
			*ret_len = loafre__le32(p);
		return 0;
	}
}

int loafre_journal_reader_fd(struct loafre_journal_reader *r)
{
	return r->ifd;
}

int loafre_journal_reader_rearm(struct loafre_journal_reader *r)
{
	/* reader_next drains the descriptor before it reports -EAGAIN. */
	if (r->watch_dir)
		return reader_watch(r);
	return 0;
}

int loafre_journal_reader_wait(struct loafre_journal_reader *r, int timeout_ms)
{
	struct pollfd pfd = {.fd = r->ifd, .events = POLLIN};
	int n;

	n = poll(&pfd, 1, timeout_ms);
	if (n < 0)
		return -errno;
	return n > 0 ? 1 : 0;
}

/* ---- info ------------------------------------------------------------------------- */

int loafre_journal_info(struct loafre_journal *j, struct loafre_journal_info *ret_info)
{
	struct loafre_journal_info info = {0};
	struct loafre_journal_reader *rd = NULL;
	struct loafre__jstate st;
	struct loafre_rec rec;
	uint64_t *segs = NULL;
	size_t n = 0;
	int r;

	r = loafre__journal_state_read(j, &st);
	if (r < 0)
		return r;
	if (st.users_generation != j->users_gen) {
		r = loafre__journal_users_refresh(j, st.users_generation);
		if (r < 0)
			return r;
	}
	r = list_segments(j->dirfd, &segs, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char name[JSEG_NAME_LEN + 1];
		struct stat sb;

		seg_name(name, segs[i]);
		if (fstatat(j->dirfd, name, &sb, 0) < 0)
			continue; /* purged meanwhile */
		info.segments++;
		info.bytes += (uint64_t)sb.st_size;
	}
	info.last_index = st.last_index;
	info.mask = j->eff_mask;
	r = loafre_journal_reader_open(j, 0, &rd);
	if (r < 0)
		goto out;
	r = loafre_journal_reader_next(rd, &rec, NULL, NULL);
	if (r == 0)
		info.first_index = rec.index;
	else if (r != -EAGAIN)
		goto out;
	*ret_info = info;
	r = 0;
out:
	loafre_journal_reader_close(rd);
	free(segs);
	return r;
}
