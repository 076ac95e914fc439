/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_failed_list.c — libFuzzer target for a replication rule's failed
 * list (lib/repl_failed.c: loafre__failed_read, loafre__failed_format;
 * format at the head of lib/repl_failed.c).
 *
 * Input: the content of a failed list (at most 1 MiB), read from a memfd
 * through /proc/self/fd. Checked for every entry the reader accepts:
 *   - PATH starts with '/', PATH2 is NULL or starts with '/', OP is [a-z]+,
 *     ERR is -1..-4095;
 *   - formatting the entry and reading that line back gives the same
 *     fields (the escapes round-trip);
 * and the reader's result is 0 or -EBADMSG with the line number of a line
 * that exists.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "repl_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd_in = -1, fd_again = -1;
static char path_in[64], path_again[64];

static int fill(int fd, const void *buf, size_t len)
{
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, len, 0) != (ssize_t)len)
		return -1;
	return 0;
}

static int same(void *arg, const struct loafre__failed_ent *e)
{
	const struct loafre__failed_ent *a = arg;

	assert(e->time == a->time && e->index == a->index && e->err == a->err);
	assert(strcmp(e->mdt, a->mdt) == 0 && strcmp(e->op, a->op) == 0);
	assert(strcmp(e->dest, a->dest) == 0 && strcmp(e->path, a->path) == 0);
	assert((!e->path2 && !a->path2) || (e->path2 && a->path2 && strcmp(e->path2, a->path2) == 0));
	assert(strcmp(e->message, a->message) == 0);
	return 0;
}

static int check(void *arg, const struct loafre__failed_ent *e)
{
	static char line[LOAFRE__FAILED_LINE_MAX + 1];
	struct loafre__failed_ent a = *e;
	int n;

	(void)arg;
	assert(e->path[0] == '/');
	assert(!e->path2 || e->path2[0] == '/');
	assert(e->op[0]);
	for (const char *p = e->op; *p; p++)
		assert(*p >= 'a' && *p <= 'z');
	assert(e->err <= -1 && e->err >= -4095);
	/* "-" stands for no MDT: the index is then written as 0 */
	if (strcmp(e->mdt, "-") == 0)
		a.index = 0;
	n = loafre__failed_format(e, line, sizeof(line));
	if (n == -ENAMETOOLONG)
		return 0; /* a message longer than a worker writes */
	assert(n > 0 && line[n - 1] == '\n' && strlen(line) == (size_t)n);
	assert(fill(fd_again, line, (size_t)n) == 0);
	assert(loafre__failed_read(path_again, same, &a, NULL) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned line = 0;
	size_t lines = 1;
	int r;

	if (size > (1u << 20))
		return 0;
	if (fd_in < 0) {
		fd_in = memfd_create("failed", MFD_CLOEXEC);
		fd_again = memfd_create("again", MFD_CLOEXEC);
		assert(fd_in >= 0 && fd_again >= 0);
		snprintf(path_in, sizeof(path_in), "/proc/self/fd/%d", fd_in);
		snprintf(path_again, sizeof(path_again), "/proc/self/fd/%d", fd_again);
	}
	if (fill(fd_in, data, size) < 0)
		return 0;
	r = loafre__failed_read(path_in, check, NULL, &line);
	assert(r == 0 || r == -EBADMSG);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (r == -EBADMSG)
		assert(line >= 1 && line <= lines);
	return 0;
}
