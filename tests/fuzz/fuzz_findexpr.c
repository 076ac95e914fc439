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

/* The entries every parsed expression is evaluated on: every type, extreme
 * sizes, ids and times, several depths. */
static const struct loafre__find_entry fixed_entries[] = {
	{ .path = "start/", .start_len = 6, .name = "start", .mode = S_IFDIR | 0755,
	  .nlink = 3, .size = 4096, .blocks = 8, .mtime_ns = 1700000100000000000LL,
	  .atime_ns = 1700000100000000000LL, .ctime_ns = 1700000100000000000LL, .dev = 1 },
	{ .path = "start/f1.txt", .start_len = 6, .name = "f1.txt", .depth = 1,
	  .mode = S_IFREG | 04755, .uid = 1234, .gid = 5678, .nlink = 2, .size = 6, .blocks = 8,
	  .mtime_ns = 981173106789000000LL, .atime_ns = -1, .ctime_ns = 1700000000000000000LL,
	  .ino = 12345, .dev = 1, .fstype = "lustre" }, /* its id: entries() */
	{ .path = "start/d/link", .start_len = 6, .name = "link", .depth = 2,
	  .mode = S_IFLNK | 0777, .size = 8, .symlink = "../f1.txt", .target_mode = S_IFREG | 0644,
	  .mtime_ns = INT64_MAX, .atime_ns = INT64_MIN, .ctime_ns = 0, .dev = 2 },
	{ .path = "start/d/loop", .start_len = 6, .name = "loop", .depth = 2,
	  .mode = S_IFLNK | 0777, .symlink = "loop", .target_mode = S_IFLNK, .uid = UINT32_MAX,
	  .gid = UINT32_MAX },
	{ .path = "start/d/big data", .start_len = 6, .name = "big data", .depth = 2,
	  .mode = S_IFREG | 0600, .size = UINT64_MAX, .blocks = UINT64_MAX, .nlink = UINT64_MAX,
	  .ino = UINT64_MAX, .mtime_ns = 1700000000000000001LL,
	  .atime_ns = 1700000000000000001LL, .ctime_ns = 1700000000000000001LL },
	{ .path = "start/d/e/cdev", .start_len = 6, .name = "cdev", .depth = 3,
	  .mode = S_IFCHR | 0620, .rdev = ((uint64_t)259 << 8) | 12345, .uid = 0, .gid = 5,
	  .mtime_ns = -123456789123LL },
	{ .path = "/", .start_len = 1, .name = NULL /* derived: "/" */,
	  .mode = S_IFDIR | 01777, .empty = 1 },
	{ .path = "x//", .start_len = 3, .name = NULL /* derived: "x" */, .mode = S_IFIFO | 0 },
};

#define N_ENTRIES (sizeof(fixed_entries) / sizeof(fixed_entries[0]))

/* fixed_entries into e (N_ENTRIES); f1.txt is lookup's "ref" (-samefile). */
static void entries(struct loafre__find_entry *e)
{
	memcpy(e, fixed_entries, sizeof(fixed_entries));
	memset(e[1].id, 0x42, sizeof(e[1].id));
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
	size_t memlen = 0;
	int argc = 0;
	struct loafre__find *f = NULL;
	struct loafre__find_entry e[N_ENTRIES];
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
	entries(e);
	for (size_t i = 0; i < N_ENTRIES; i++) {
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
