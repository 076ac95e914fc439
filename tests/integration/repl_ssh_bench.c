/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_ssh_bench.c — rates of the ssh destination (lib/repl_ssh.c) against a
 * real sshd, for the figures in docs/replication-destinations.md (not a test:
 * no assertion on time; it fails only when an operation fails).
 *
 *   repl_ssh_bench SRC SPEC CTLDIR PORT IDENTITY KNOWN_HOSTS N SYNC_N
 *       SRC: an empty directory (the source, filled here); SPEC's path: an
 *       empty directory (the destination). Prints one line per measure:
 *         mkdir N: R ops/s          (N directories m/I)
 *         copy N: R copies/s        (N small files f/I, one copy each)
 *         rename N: R ops/s         (f/I -> f/I.r)
 *         unlink N: R ops/s         (f/I.r)
 *         copy-batched N: R copies/s (N files g/I queued, one flush)
 *         sync SYNC_N: R entries/s  (initial sync of s/: SYNC_N files in
 *                                    directories of 100)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "repl_dest.h"

static char why[LOAFRE__DEST_WHY_MAX];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int put(int s, const char *rel)
{
	int fd = openat(s, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, rel, strlen(rel)) < 0) {
		perror(rel);
		return -1;
	}
	close(fd);
	return 0;
}

static int check(int r, const char *what)
{
	if (r < 0)
		fprintf(stderr, "FAIL: %s: %s (%s)\n", what, strerror(-r), why);
	return r;
}

static void rate(const char *what, unsigned n, double t0)
{
	double t = now_s() - t0;

	printf("%s %u: %.1f /s (%.2f s)\n", what, n, t > 0 ? n / t : 0.0, t);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct loafre__ssh_opts so = { 0 };
	struct loafre__dest *d = NULL;
	struct loafre__sync_progress p;
	unsigned n, sn;
	char rel[64], rel2[64];
	double t0;
	int s, r;

	if (argc != 9) {
		fprintf(stderr, "usage: %s SRC SPEC CTLDIR PORT IDENTITY KNOWN_HOSTS N SYNC_N\n",
			argv[0]);
		return 2;
	}
	so.control_dir = argv[3];
	so.port = (unsigned)atoi(argv[4]);
	so.identity_file = argv[5];
	so.known_hosts = argv[6];
	n = (unsigned)atoi(argv[7]);
	sn = (unsigned)atoi(argv[8]);
	s = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s < 0) {
		perror(argv[1]);
		return 1;
	}
	if (mkdirat(s, "m", 0755) < 0 || mkdirat(s, "f", 0755) < 0 || mkdirat(s, "g", 0755) < 0 ||
	    mkdirat(s, "s", 0755) < 0) {
		perror("mkdir");
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		snprintf(rel, sizeof(rel), "m/%u", i);
		mkdirat(s, rel, 0755);
		snprintf(rel, sizeof(rel), "f/%u", i);
		snprintf(rel2, sizeof(rel2), "g/%u", i);
		if (put(s, rel) < 0 || put(s, rel2) < 0)
			return 1;
	}
	for (unsigned i = 0; i < sn; i++) {
		if (i % 100 == 0) {
			snprintf(rel, sizeof(rel), "s/%u", i / 100);
			mkdirat(s, rel, 0755);
		}
		snprintf(rel, sizeof(rel), "s/%u/%u", i / 100, i);
		if (put(s, rel) < 0)
			return 1;
	}
	r = loafre__dest_open_ssh(argv[2], &so, NULL, &d, why);
	if (check(r, "open") < 0)
		return 1;
	if (check(loafre__dest_mkdir(d, s, "m", why), "mkdir m") < 0 ||
	    check(loafre__dest_mkdir(d, s, "f", why), "mkdir f") < 0 ||
	    check(loafre__dest_mkdir(d, s, "g", why), "mkdir g") < 0)
		return 1;
	t0 = now_s();
	for (unsigned i = 0; i < n; i++) {
		snprintf(rel, sizeof(rel), "m/%u", i);
		if (check(loafre__dest_mkdir(d, s, rel, why), rel) < 0)
			return 1;
	}
	rate("mkdir", n, t0);
	t0 = now_s();
	for (unsigned i = 0; i < n; i++) {
		snprintf(rel, sizeof(rel), "f/%u", i);
		if (check(loafre__dest_copy(d, s, rel, why), rel) < 0)
			return 1;
	}
	rate("copy", n, t0);
	t0 = now_s();
	for (unsigned i = 0; i < n; i++) {
		snprintf(rel, sizeof(rel), "f/%u", i);
		snprintf(rel2, sizeof(rel2), "f/%u.r", i);
		renameat(s, rel, s, rel2);
		if (check(loafre__dest_rename(d, s, rel, rel2, why), rel) < 0)
			return 1;
	}
	rate("rename", n, t0);
	t0 = now_s();
	for (unsigned i = 0; i < n; i++) {
		snprintf(rel, sizeof(rel), "f/%u.r", i);
		unlinkat(s, rel, 0);
		if (check(loafre__dest_unlink(d, s, rel, why), rel) < 0)
			return 1;
	}
	rate("unlink", n, t0);
	t0 = now_s();
	if (check(loafre__dest_batch_begin(d, NULL, NULL), "batch") < 0)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		snprintf(rel, sizeof(rel), "g/%u", i);
		if (check(loafre__dest_copy(d, s, rel, why), rel) < 0)
			return 1;
	}
	if (check(loafre__dest_batch_end(d, why), "flush") < 0)
		return 1;
	rate("copy-batched", n, t0);
	t0 = now_s();
	r = loafre__dest_sync_tree(d, s, "s", NULL, &p);
	if (check(r, "sync") < 0)
		return 1;
	rate("sync", (unsigned)p.entries, t0);
	loafre__dest_close(d);
	close(s);
	return 0;
}
