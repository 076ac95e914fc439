/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_repl_ssh_reply.c — libFuzzer target for the parsers of an ssh
 * destination's channel replies (lib/repl_ssh_reply.c): the status line
 * and the list_stat payload.
 *
 * Input: the first byte selects the parser (even: status line, the rest a
 * line of at most 255 bytes; odd: list_stat, the rest the payload of at
 * most 64 KiB). Checked for what is accepted:
 *   - status: status 0..255, lengths at most LOAFRE__SSH_REPLY_PART_MAX,
 *     the values printed back parse to the same values, and the line is
 *     refused for any other sequence number;
 *   - list_stat: each name is 1..255 bytes without '/' and not "."/"..",
 *     lies inside the input, the mode is one of the seven types with
 *     permission bits only, nanoseconds < 10^9.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "repl_ssh_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *in_lo, *in_hi;

static int check_rec(void *arg, const char *name, const struct stat *st)
{
	size_t n = strlen(name);
	mode_t t = st->st_mode & S_IFMT;

	(void)arg;
	assert(name >= in_lo && name + n < in_hi);
	assert(n >= 1 && n <= 255 && !strchr(name, '/'));
	assert(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
	assert(t == S_IFREG || t == S_IFDIR || t == S_IFLNK || t == S_IFBLK || t == S_IFCHR ||
	       t == S_IFIFO || t == S_IFSOCK);
	assert((st->st_mode & ~(mode_t)(S_IFMT | 07777)) == 0);
	assert(st->st_mtim.tv_nsec >= 0 && st->st_mtim.tv_nsec < 1000000000L);
	assert(st->st_atim.tv_nsec >= 0 && st->st_atim.tv_nsec < 1000000000L);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[65537], again[320];

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		size_t n = size - 1 < 255 ? size - 1 : 255, ol, el;
		uint64_t seq = 0;
		int st;

		memcpy(buf, data + 1, n);
		buf[n] = '\0';
		/* the sequence number the line claims (any digits after '@') */
		for (size_t i = 1; i < n && buf[i] >= '0' && buf[i] <= '9' && i < 20; i++)
			seq = seq * 10 + (uint64_t)(buf[i] - '0');
		if (loafre__ssh_reply_parse(buf, seq, &st, &ol, &el) < 0)
			return 0;
		assert(st >= 0 && st <= 255);
		assert(ol <= LOAFRE__SSH_REPLY_PART_MAX && el <= LOAFRE__SSH_REPLY_PART_MAX);
		snprintf(again, sizeof(again), "@%" PRIu64 " %d %zu %zu", seq, st, ol, el);
		/* leading zeros are accepted: compare the values */
		{
			int st2;
			size_t ol2, el2;

			assert(loafre__ssh_reply_parse(again, seq, &st2, &ol2, &el2) == 0);
			assert(st2 == st && ol2 == ol && el2 == el);
		}
		assert(loafre__ssh_reply_parse(buf, seq + 1, &st, &ol, &el) < 0);
	} else {
		size_t n = size - 1 < sizeof(buf) - 1 ? size - 1 : sizeof(buf) - 1;

		memcpy(buf, data + 1, n);
		in_lo = buf;
		in_hi = buf + n;
		(void)loafre__ssh_list_stat_parse(buf, n, check_rec, NULL);
	}
	return 0;
}
