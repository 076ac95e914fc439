/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * bench.h — benchmark drivers behind `loafre bench ...` (internal).
 * Each prints its figures to `out`, one "name: value unit" per line, and
 * returns 0 or a negative errno. They take the work size from their
 * arguments; they never assert targets (targets live in the docs/issues).
 */
#ifndef LOAFRE_BENCH_H
#define LOAFRE_BENCH_H

#include <stdint.h>
#include <stdio.h>

/* Text parse + format of `n` synthetic lines of varied shapes, one core. */
int loafre__bench_codec(uint64_t n, FILE *out);

/* Appends `n` records to a fresh journal in `dir` with a group commit every
 * `commit_ms` milliseconds (fsync per policy), then reads them all back. */
int loafre__bench_journal(const char *dir, uint64_t n, unsigned commit_ms, int fsync_policy,
			  FILE *out);

#endif
