/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_ssh_reply.c — parsers of the remote shell's answers on an ssh
 * destination's channel (lib/repl_ssh.c, "Channel protocol"). Its own file
 * (no dependencies) for the fuzzer tests/fuzz/fuzz_repl_ssh_reply.c.
 *
 * Status line (one per command, then OLEN bytes of the command's stdout
 * and ELEN bytes of its stderr):
 *   LINE   = "@" SEQ " " STATUS " " OLEN " " ELEN      (no '\n' here)
 *   SEQ    = decimal, the command's number on the channel (1, 2, ...)
 *   STATUS = decimal 0..255, the command's exit status
 *   OLEN, ELEN = decimal, at most LOAFRE__SSH_REPLY_PART_MAX
 * every number 1 to 20 digits, single spaces, nothing else.
 *
 * list_stat payload (find -printf '%f\0%y %m %U %G %s %n %i %A@ %T@\0'):
 *   RECORD = NAME NUL TYPE " " MODE " " UID " " GID " " SIZE " " NLINK " "
 *            INO " " ATIME " " MTIME NUL
 *   NAME   = 1..255 bytes, no '/', not "." or ".."
 *   TYPE   = one of f d l b c p s
 *   MODE   = octal permission bits, at most 07777
 *   UID, GID = decimal < 2^32; SIZE, NLINK, INO = decimal < 2^63
 *   ATIME, MTIME = ["-"] SECONDS ["." FRACTION] (seconds < 2^62; the
 *            first 9 fraction digits are the nanoseconds)
 */
#include "repl_ssh_reply.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

/* Decimal at *p (1-20 digits) up to max, then *p past it. */
static int num(const char **p, const char *end, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	int n = 0;

	while (*p < end && **p >= '0' && **p <= '9') {
		unsigned dg = (unsigned)(**p - '0');

		if (++n > 20 || v > (UINT64_MAX - dg) / 10)
			return -EIO;
		v = v * 10 + dg;
		(*p)++;
	}
	if (n == 0 || v > max)
		return -EIO;
	*ret = v;
	return 0;
}

static int sep(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -EIO;
	(*p)++;
	return 0;
}

int loafre__ssh_reply_parse(const char *line, uint64_t seq, int *status, size_t *olen,
			    size_t *elen)
{
	const char *p = line, *end = line + strlen(line);
	uint64_t q, st, o, e;

	if (sep(&p, end, '@') || num(&p, end, UINT64_MAX, &q) || sep(&p, end, ' ') ||
	    num(&p, end, 255, &st) || sep(&p, end, ' ') ||
	    num(&p, end, LOAFRE__SSH_REPLY_PART_MAX, &o) || sep(&p, end, ' ') ||
	    num(&p, end, LOAFRE__SSH_REPLY_PART_MAX, &e) || p != end || q != seq)
		return -EIO;
	*status = (int)st;
	*olen = (size_t)o;
	*elen = (size_t)e;
	return 0;
}

/* ["-"] SECONDS ["." FRACTION] */
static int stime(const char **p, const char *end, struct timespec *ts)
{
	bool neg = false;
	uint64_t s;
	long ns = 0;
	int n = 0;

	if (*p < end && **p == '-') {
		neg = true;
		(*p)++;
	}
	if (num(p, end, (uint64_t)1 << 62, &s))
		return -EIO;
	if (*p < end && **p == '.') {
		(*p)++;
		while (*p < end && **p >= '0' && **p <= '9') {
			if (n < 9)
				ns = ns * 10 + (**p - '0');
			n++;
			(*p)++;
		}
		if (n == 0 || n > 30)
			return -EIO;
		for (; n < 9; n++)
			ns *= 10;
	}
	if (neg) { /* -S.F = -(S+1) + (1 - .F) */
		ts->tv_sec = -(time_t)s - (ns ? 1 : 0);
		ts->tv_nsec = ns ? 1000000000L - ns : 0;
	} else {
		ts->tv_sec = (time_t)s;
		ts->tv_nsec = ns;
	}
	return 0;
}

static int record(const char *p, const char *end, struct stat *ret)
{
	static const char types[] = "fdlbcps";
	static const mode_t fmt[] = { S_IFREG, S_IFDIR, S_IFLNK, S_IFBLK, S_IFCHR, S_IFIFO,
				      S_IFSOCK };
	struct stat st;
	uint64_t mode = 0, uid, gid, size, nlink, ino;
	const char *t;
	int n = 0;

	memset(&st, 0, sizeof(st));
	if (p >= end || !(t = memchr(types, *p, sizeof(types) - 1)))
		return -EIO;
	p++;
	if (sep(&p, end, ' '))
		return -EIO;
	while (p < end && *p >= '0' && *p <= '7' && n < 6) {
		mode = mode * 8 + (uint64_t)(*p++ - '0');
		n++;
	}
	if (n == 0 || mode > 07777)
		return -EIO;
	if (sep(&p, end, ' ') || num(&p, end, UINT32_MAX, &uid) || sep(&p, end, ' ') ||
	    num(&p, end, UINT32_MAX, &gid) || sep(&p, end, ' ') ||
	    num(&p, end, INT64_MAX, &size) || sep(&p, end, ' ') ||
	    num(&p, end, INT64_MAX, &nlink) || sep(&p, end, ' ') ||
	    num(&p, end, INT64_MAX, &ino) || sep(&p, end, ' ') || stime(&p, end, &st.st_atim) ||
	    sep(&p, end, ' ') || stime(&p, end, &st.st_mtim) || p != end)
		return -EIO;
	st.st_mode = fmt[t - types] | (mode_t)mode;
	st.st_uid = (uid_t)uid;
	st.st_gid = (gid_t)gid;
	st.st_size = (off_t)size;
	st.st_nlink = (nlink_t)nlink;
	st.st_ino = (ino_t)ino;
	*ret = st;
	return 0;
}

int loafre__ssh_list_stat_parse(const char *p, size_t len,
				int (*fn)(void *arg, const char *name, const struct stat *st),
				void *arg)
{
	const char *end = p + len;

	while (p < end) {
		const char *name = p, *ne = memchr(p, '\0', (size_t)(end - p)), *re;
		struct stat st;
		size_t nl;
		int r;

		if (!ne)
			return -EIO;
		nl = (size_t)(ne - name);
		if (nl == 0 || nl > 255 || memchr(name, '/', nl) || strcmp(name, ".") == 0 ||
		    strcmp(name, "..") == 0)
			return -EIO;
		re = memchr(ne + 1, '\0', (size_t)(end - ne - 1));
		if (!re || record(ne + 1, re, &st) < 0)
			return -EIO;
		r = fn(arg, name, &st);
		if (r)
			return r;
		p = re + 1;
	}
	return 0;
}
