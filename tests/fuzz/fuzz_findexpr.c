/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_findexpr.c — libFuzzer target for find's expression language
 * (lib/findexpr.h).
 *
 * Input: the expression's arguments separated by NUL bytes (at most 64,
 * input at most 4096 bytes). A failed parse must say why, prefixed with
 * the program name. A parsed expression is evaluated against fixed
 * entries (every type, extreme sizes and times, several depths) with its
 * output in memory, then its hints are checked against those evaluations:
 * an entry on which the expression printed something, pruned or quit must
 * satisfy the hints (below -maxdepth, without -xdev).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "findexpr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64
#define MAX_INPUT 4096

static int lookup(void *ctx, const char *path, struct loafre__find_entry *ret)
{
	(void)ctx;
	memset(ret, 0, sizeof(*ret));
	if (strcmp(path, "ref") != 0)
		return -ENOENT;
	ret->mode = S_IFREG | 0644;
	ret->mtime_ns = 1700000000000000000LL;
	ret->atime_ns = 1600000000000000000LL;
	ret->ctime_ns = 1700000000500000000LL;
	memset(ret->id, 0x42, sizeof(ret->id));
	return 0;
}

static void entries(struct loafre__find_entry *e, size_t *n)
{
	size_t k = 0;
	memset(e, 0, 8 * sizeof(*e));

	e[k].path = "start/";
	e[k].start_len = 6;
	e[k].name = "start";
	e[k].mode = S_IFDIR | 0755;
	e[k].nlink = 3;
	e[k].size = 4096;
	e[k].blocks = 8;
	e[k].mtime_ns = e[k].atime_ns = e[k].ctime_ns = 1700000100000000000LL;
	e[k].dev = 1;
	k++;

	e[k].path = "start/f1.txt";
	e[k].start_len = 6;
	e[k].name = "f1.txt";
	e[k].depth = 1;
	e[k].mode = S_IFREG | 04755;
	e[k].uid = 1234;
	e[k].gid = 5678;
	e[k].nlink = 2;
	e[k].size = 6;
	e[k].blocks = 8;
	e[k].mtime_ns = 981173106789000000LL;
	e[k].atime_ns = -1;
	e[k].ctime_ns = 1700000000000000000LL;
	e[k].ino = 12345;
	e[k].dev = 1;
	memset(e[k].id, 0x42, sizeof(e[k].id));
	e[k].fstype = "lustre";
	k++;

	e[k].path = "start/d/link";
	e[k].start_len = 6;
	e[k].name = "link";
	e[k].depth = 2;
	e[k].mode = S_IFLNK | 0777;
	e[k].size = 8;
	e[k].symlink = "../f1.txt";
	e[k].target_mode = S_IFREG | 0644;
	e[k].mtime_ns = INT64_MAX;
	e[k].atime_ns = INT64_MIN;
	e[k].ctime_ns = 0;
	e[k].dev = 2;
	k++;

	e[k].path = "start/d/loop";
	e[k].start_len = 6;
	e[k].name = "loop";
	e[k].depth = 2;
	e[k].mode = S_IFLNK | 0777;
	e[k].symlink = "loop";
	e[k].target_mode = S_IFLNK;
	e[k].uid = UINT32_MAX;
	e[k].gid = UINT32_MAX;
	k++;

	e[k].path = "start/d/big data";
	e[k].start_len = 6;
	e[k].name = "big data";
	e[k].depth = 2;
	e[k].mode = S_IFREG | 0600;
	e[k].size = UINT64_MAX;
	e[k].blocks = UINT64_MAX;
	e[k].nlink = UINT64_MAX;
	e[k].ino = UINT64_MAX;
	e[k].mtime_ns = 1700000000000000001LL;
	e[k].atime_ns = 1700000000000000001LL;
	e[k].ctime_ns = 1700000000000000001LL;
	k++;

	e[k].path = "start/d/e/cdev";
	e[k].start_len = 6;
	e[k].name = "cdev";
	e[k].depth = 3;
	e[k].mode = S_IFCHR | 0620;
	e[k].rdev = ((uint64_t)259 << 8) | 12345;
	e[k].uid = 0;
	e[k].gid = 5;
	e[k].mtime_ns = -123456789123LL;
	k++;

	e[k].path = "/";
	e[k].start_len = 1;
	e[k].name = NULL; /* derived: "/" */
	e[k].mode = S_IFDIR | 01777;
	e[k].empty = 1;
	k++;

	e[k].path = "x//";
	e[k].start_len = 3;
	e[k].name = NULL; /* derived: "x" */
	e[k].mode = S_IFIFO | 0;
	k++;
	*n = k;
}

static bool in_hints(const struct loafre__find_hints *h, const struct loafre__find_entry *e)
{
	const char *name = e->name;
	if (e->depth < h->mindepth || e->depth > h->maxdepth)
		return false;
	if (!(h->types & LOAFRE__FIND_TYPE_BIT(e->mode)))
		return false;
	if (name) {
		size_t nl = strlen(name);
		if (h->name && strcmp(h->name, name))
			return false;
		if (h->name_prefix && strncmp(name, h->name_prefix, strlen(h->name_prefix)))
			return false;
		if (h->name_suffix && (strlen(h->name_suffix) > nl ||
				       strcmp(name + nl - strlen(h->name_suffix), h->name_suffix)))
			return false;
	}
	if (e->size < h->size_min || e->size > h->size_max)
		return false;
	if (e->uid < h->uid_min || e->uid > h->uid_max || e->gid < h->gid_min || e->gid > h->gid_max)
		return false;
	if (h->n_uids) {
		bool found = false;
		for (unsigned i = 0; i < h->n_uids; i++)
			found |= h->uids[i] == e->uid;
		if (!found)
			return false;
	}
	if (e->mtime_ns < h->mtime_min_ns || e->mtime_ns > h->mtime_max_ns ||
	    e->atime_ns < h->atime_min_ns || e->atime_ns > h->atime_max_ns ||
	    e->ctime_ns < h->ctime_min_ns || e->ctime_ns > h->ctime_max_ns)
		return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[MAX_INPUT + 1];
	char *argv[MAX_ARGS], err[1024], *mem = NULL;
	size_t memlen = 0, n_entries;
	int argc = 0;
	struct loafre__find *f = NULL;
	struct loafre__find_entry e[8];
	struct loafre__find_hints h;
	FILE *out;

	if (size > MAX_INPUT)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0; i <= size && argc < MAX_ARGS;) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	if (size == 0)
		argc = 0;

	out = open_memstream(&mem, &memlen);
	if (!out)
		return 0;
	struct loafre__find_opts o = {
	    .progname = "find",
	    .out = out,
	    .warn = NULL,
	    .now = {1700000000, 123456789},
	    .lookup = lookup,
	};
	int rc = loafre__find_parse(argc, argv, &o, &f, err, sizeof(err));
	if (rc < 0) {
		if (strncmp(err, "find: ", 6) != 0)
			abort();
		fclose(out);
		free(mem);
		return 0;
	}
	if (loafre__find_hints(f, &h) != 0)
		abort();
	entries(e, &n_entries);
	for (size_t i = 0; i < n_entries; i++) {
		struct loafre__find_result r;
		size_t before;
		fflush(out);
		before = memlen;
		if (loafre__find_eval(f, &e[i], &r) != 0)
			abort();
		fflush(out);
		bool effect = memlen != before || r.quit || (r.prune && e[i].depth < h.maxdepth);
		if (r.quit && i > 0) {
			/* after -quit nothing is evaluated any more */
			struct loafre__find_result r2;
			if (loafre__find_eval(f, &e[0], &r2) != 0 || !r2.quit || r2.matched)
				abort();
		}
		if (effect && !in_hints(&h, &e[i]) && e[i].name) {
			/* hints are conservative unless -xdev (then entry hints are off) */
			abort();
		}
		if (r.quit)
			break;
	}
	if (loafre__find_finish(f) != 0)
		abort();
	loafre__find_free(f);
	fclose(out);
	free(mem);
	return 0;
}
