/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * lustre_source.c — one Lustre MDT's changelog, read with liblustreapi and
 * mirrored into a loafre journal (see lustre_source.h for the contract).
 *
 * Built when meson finds liblustreapi (feature `lustre`), and for the tests
 * as loafre_lustre_src_for_tests, linked with tests/fake_lustreapi: the same
 * code runs against both. Declarations come from lustreapi_decl.h.
 *
 * Position. `pos` is the highest index taken: the journal's last committed
 * index at open and at every reopen, raised by every record queued (or
 * dropped by the journal's mask). A stream is started at
 * pos + 1 (0, the oldest record, while pos is 0). A received record with
 * index <= pos is a duplicate (llapi seeks to the first record >= startrec,
 * and a reopen may replay) and is skipped. Since pos is re-read from the
 * journal at each reopen, records queued but lost before a commit (the
 * daemon died) are read again after a restart: nothing is lost, nothing is
 * appended twice (the journal rejects non-increasing indices anyway).
 *
 * Reading never blocks. llapi_changelog_recv does a blocking read() when its
 * 4 KiB buffer is empty, and in FOLLOW mode the kernel waits for new records
 * there; so recv is only called while llapi_changelog_in_buf says the buffer
 * holds records, or the descriptor polls readable (records, EOF or an error
 * are pending).
 *
 * Clearing. Only from committed(last): endrec = min(last, pos), and only
 * when it exceeds what this source cleared before — by at least
 * LOAFRE__LUSTRE_CLEAR_BATCH records unless forced. A record therefore
 * leaves the MDT only once the mirror journal holds it durably. After a
 * restart `cleared` starts at 0, so the first clear may come early; it is
 * never below the user's cleared index upstream, because that was a
 * committed index of the same journal, which only grows.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loafre/journal.h"
#include "loafre/record.h"
#include "lustre_source.h"
#include "lustreapi_decl.h"
#include "util.h"

#define START_FLAGS (CHANGELOG_FLAG_FOLLOW | CHANGELOG_FLAG_JOBID | CHANGELOG_FLAG_EXTRA_FLAGS)
#define START_XFLAGS                                                                     \
	(CHANGELOG_EXTRA_FLAG_UIDGID | CHANGELOG_EXTRA_FLAG_NID | CHANGELOG_EXTRA_FLAG_OMODE | \
	 CHANGELOG_EXTRA_FLAG_XATTR)

struct loafre__lustre_src {
	char *mdt;                /* "fsname-MDT0000" (owned) */
	char *user;               /* changelog user, "cl1" (owned) */
	struct loafre_journal *j; /* the MDT's mirror journal (borrowed) */
	void *priv;               /* llapi reader; NULL while no stream is open */
	int fd;                   /* its descriptor to poll; -1 while closed */
	bool started;             /* a stream was started once (later ones are reopens) */
	uint64_t pos;             /* highest index taken (see the file header) */
	uint64_t cleared;         /* highest endrec cleared upstream by this source */
	struct loafre__lustre_src_stats stats; /* counters for get_stats */
};

bool loafre__lustre_available(void)
{
	return true;
}

int loafre__lustre_src_open(const char *mdt, const char *user, struct loafre_journal *j,
			    struct loafre__lustre_src **ret_src)
{
	struct loafre__lustre_src *s = NULL;
	struct loafre_journal_info info;
	int r;

	if (!mdt || !*mdt || strchr(mdt, '/') || strlen(mdt) > 255 || !user || !j || !ret_src)
		return -EINVAL;
	/* The kernel parses "clear:cl%u:%llu": the id must be cl<digits>[-name]. */
	if (strncmp(user, "cl", 2) != 0 || user[2] < '0' || user[2] > '9' || strlen(user) > 48)
		return -EINVAL;
	r = loafre_journal_info(j, &info);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->mdt = strdup(mdt);
	s->user = strdup(user);
	if (!s->mdt || !s->user) {
		r = -ENOMEM;
		goto fail;
	}
	s->j = j;
	s->fd = -1;
	s->pos = info.last_index;
	s->stats.position = s->pos;
	*ret_src = s;
	return 0;

fail:
	free(s->mdt);
	free(s->user);
	free(s);
	return r;
}

static void stream_close(struct loafre__lustre_src *s)
{
	if (s->priv)
		llapi_changelog_fini(&s->priv);
	s->priv = NULL;
	s->fd = -1;
}

void loafre__lustre_src_close(struct loafre__lustre_src *s)
{
	if (!s)
		return;
	stream_close(s);
	free(s->mdt);
	free(s->user);
	free(s);
}

int loafre__lustre_src_fd(const struct loafre__lustre_src *s)
{
	return s->priv ? s->fd : -1;
}

static void set_pos(struct loafre__lustre_src *s, uint64_t index)
{
	if (index > s->pos) {
		s->pos = index;
		s->stats.position = index;
	}
}

/* Starts a stream at pos + 1. */
static int stream_open(struct loafre__lustre_src *s)
{
	struct loafre_journal_info info;
	void *priv = NULL;
	long long startrec;
	int fd, r;

	r = loafre_journal_info(s->j, &info);
	if (r < 0)
		return r;
	set_pos(s, info.last_index);
	if (s->pos >= (uint64_t)LLONG_MAX)
		return -EOVERFLOW;
	startrec = s->pos ? (long long)s->pos + 1 : 0;

	r = llapi_changelog_start(&priv, START_FLAGS, s->mdt, startrec);
	if (r < 0)
		goto fail;
	r = llapi_changelog_set_xflags(priv, START_XFLAGS);
	if (r < 0)
		goto fail_fini;
	fd = llapi_changelog_get_fd(priv);
	if (fd < 0) {
		r = fd;
		goto fail_fini;
	}
	/* liblustreapi opens the device without O_CLOEXEC. */
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (s->started)
		s->stats.reopens++;
	s->started = true;
	s->priv = priv;
	s->fd = fd;
	return 0;

fail_fini:
	llapi_changelog_fini(&priv);
fail:
	s->stats.last_error = r;
	return r;
}

/* 1 when recv will not block (records, EOF or an error pending), 0 if not,
 * or -errno. */
static int stream_ready(struct loafre__lustre_src *s)
{
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	int r;

	if (llapi_changelog_in_buf(s->priv))
		return 1;
	do
		r = poll(&p, 1, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	if (p.revents & POLLNVAL)
		return -EBADF;
	return 1; /* POLLIN, POLLERR or POLLHUP: recv reports which */
}

/* Size of the record llapi handed out, from its header, bounded by
 * CR_MAXSIZE (the allocation llapi makes); 0 if the header is implausible. */
static size_t cr_size(const uint8_t *b)
{
	uint16_t namelen = loafre__le16(b);
	uint16_t flags = loafre__le16(b + 2);
	uint64_t extra = 0;
	size_t size;

	if (flags & LOAFRE_CLF_EXTRA_FLAGS) {
		/* The u64 follows the rename and jobid extensions: at most
		 * 64 + 32 + 32 + 8 = 136 bytes in, inside CR_MAXSIZE. */
		size_t off = loafre_rec_offset(flags & (LOAFRE_CLF_RENAME | LOAFRE_CLF_JOBID), 0);
		extra = loafre__le64(b + off);
	}
	size = loafre_rec_offset(flags, extra) + namelen;
	return size > LOAFRE__LLAPI_CR_MAXSIZE ? 0 : size;
}

/* Takes one received record: 1 if queued, 0 if skipped, or -errno (the
 * record was not taken; pos is unchanged so a reopen delivers it again). */
static int take(struct loafre__lustre_src *s, const struct changelog_rec *cr)
{
	const uint8_t *b = (const uint8_t *)cr;
	struct loafre_rec rec;
	size_t size = cr_size(b);
	int r;

	s->stats.received++;
	if (size == 0 || loafre_rec_decode(b, size, &rec, NULL) < 0 || rec.index == 0) {
		/* Not storable. pos stays: its index cannot be trusted, and a
		 * later good record moves past it. */
		s->stats.bad++;
		return 0;
	}
	if (rec.index <= s->pos) {
		s->stats.skipped++;
		return 0;
	}
	r = loafre_journal_append(s->j, &rec);
	if (r < 0)
		return r;
	set_pos(s, rec.index);
	if (r == 1) {
		s->stats.masked++;
		return 0;
	}
	s->stats.appended++;
	return 1;
}

int loafre__lustre_src_read(struct loafre__lustre_src *s, size_t max)
{
	size_t n = 0;
	int r;

	if (!s->priv) {
		r = stream_open(s);
		if (r < 0)
			return r;
	}
	while (n < max) {
		struct changelog_rec *cr = NULL;

		r = stream_ready(s);
		if (r < 0)
			goto fail_llapi;
		if (r == 0)
			break;
		r = llapi_changelog_recv(s->priv, &cr);
		if (r == 1) {
			stream_close(s); /* EOF: the next call reopens at pos + 1 */
			break;
		}
		if (r < 0)
			goto fail_llapi;
		if (!cr) {
			r = -EPROTO;
			goto fail_llapi;
		}
		r = take(s, cr);
		llapi_changelog_free(&cr);
		if (r < 0)
			goto fail;
		n += (size_t)r;
	}
	return n > INT_MAX ? INT_MAX : (int)n;

fail_llapi:
	s->stats.last_error = r;
fail:
	stream_close(s);
	return r;
}

int loafre__lustre_src_committed(struct loafre__lustre_src *s, uint64_t last, bool force)
{
	uint64_t endrec = last < s->pos ? last : s->pos;
	int r;

	if (endrec <= s->cleared)
		return 0;
	if (!force && endrec - s->cleared < LOAFRE__LUSTRE_CLEAR_BATCH)
		return 0;
	if (endrec > (uint64_t)LLONG_MAX)
		return -EOVERFLOW;
	r = llapi_changelog_clear(s->mdt, s->user, (long long)endrec);
	if (r < 0) {
		s->stats.last_error = r;
		return r;
	}
	s->cleared = endrec;
	s->stats.cleared = endrec;
	s->stats.clears++;
	return 0;
}

int loafre__lustre_fid2path(const char *device, const struct loafre_fid *fid, char *ret_path,
			    size_t cap)
{
	char fidstr[LOAFRE_FID_STRLEN];
	char path[PATH_MAX];
	long long recno = -1;
	int linkno = 0;
	size_t len;
	int r;

	if (!device || !fid || !ret_path)
		return -EINVAL;
	loafre_fid_format(fid, fidstr);
	memset(path, 0, sizeof(path));
	r = llapi_fid2path(device, fidstr, path, (int)sizeof(path), &recno, &linkno);
	if (r < 0)
		return r;
	if (r > 0)
		return -EPROTO;
	path[sizeof(path) - 1] = '\0';
	len = strlen(path);
	if (len >= cap)
		return -ENAMETOOLONG;
	memcpy(ret_path, path, len + 1);
	return 0;
}

void loafre__lustre_src_get_stats(const struct loafre__lustre_src *s,
				  struct loafre__lustre_src_stats *ret)
{
	*ret = s->stats;
}
