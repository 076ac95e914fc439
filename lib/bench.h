/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * bench.h — benchmark drivers behind `loafre bench ...` (internal).
 * Each prints its figures to `out`, one "name: value unit" per line, and
 * returns 0 or a negative errno. They take the work size from their
 * arguments; they never assert targets (targets live in the docs/issues).
 */
#ifndef LOAFRE_BENCH_H
#define LOAFRE_BENCH_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

/* Text parse + format of `n` synthetic lines of varied shapes, one core. */
int loafre__bench_codec(uint64_t n, FILE *out);

/* Appends `n` records to a fresh journal in `dir` with a group commit every
 * `commit_ms` milliseconds (fsync per policy), then reads them all back. */
int loafre__bench_journal(const char *dir, uint64_t n, unsigned commit_ms, int fsync_policy,
			  FILE *out);

/* `loafre bench broker` (lib/bench_broker.c, whose head comment says what
 * each scenario does). */
#define LOAFRE__BB_MEMBERS 0x01u   /* 1 group x 1, 2, 4 members (or `members`) */
#define LOAFRE__BB_GROUPS 0x02u    /* `groups` groups x 1 member at once */
#define LOAFRE__BB_EPHEMERAL 0x04u /* 1 member + `ephemeral` readers, live appends */
#define LOAFRE__BB_LATENCY 0x08u   /* paced live appends: delivery latency */
#define LOAFRE__BB_RSS 0x10u       /* broker RSS with `rss_records` pending */
#define LOAFRE__BB_ALL 0x1fu

struct loafre__bench_broker_opts {
	const char *dir;       /* the temporary directory is made here */
	uint64_t n;            /* records preloaded for members/groups/ephemeral */
	uint64_t rss_records;  /* records preloaded for rss (scaled to free disk) */
	unsigned members;      /* members scenario: this many; 0: 1, 2 and 4 */
	unsigned groups;       /* groups scenario: groups at once, 1..64 */
	unsigned ephemeral;    /* ephemeral readers (ephemeral, latency scenarios) */
	uint32_t credit;       /* records in flight per consumer */
	uint64_t rate;         /* latency: records/s appended */
	double duration;       /* latency: seconds of appending */
	unsigned commit_ms;    /* live appends: group-commit interval */
	unsigned scenarios;    /* LOAFRE__BB_* */
	FILE *err;             /* warnings, and the brokers' own log lines */
	volatile sig_atomic_t *interrupted; /* non-zero: stop early (may be NULL) */
};

/* Runs the selected scenarios: each on a broker (loafre__broker_start) in
 * a forked child process (it exits with _exit; never left behind), fed by
 * a journal this function preloads in a temporary directory under o->dir
 * (removed on every path), consumed by threads of the calling process.
 * Prints figures to `out`. Returns 0, -EIO if some record was not
 * delivered, -EINTR when interrupted, or another negative errno, with a
 * one-line reason in err[0..errlen). The calling process must have no
 * other threads (it forks) and must ignore SIGPIPE. */
int loafre__bench_broker(const struct loafre__bench_broker_opts *o, FILE *out, char *err,
			 size_t errlen);

/* The metadata index (lib/bench_index_apply.c, whose head comment says
 * what is measured), in a temporary directory under `dir` (removed).
 * apply: `n_records` synthetic records into SQLite without fetching
 * attributes (fetch false), or the records of a real tree of
 * min(n_records / 2, 100000) files with fetch (true). scan: a real tree of
 * `n_files` files scanned with `threads` walkers (0: one per CPU). */
#include <stdbool.h>
int loafre__bench_index_apply(const char *dir, uint64_t n_records, bool fetch, FILE *out);
int loafre__bench_index_scan(const char *dir, uint64_t n_files, unsigned threads, FILE *out);

/* `loafre bench index` store figures (lib/bench_index.c, whose head
 * comment describes the synthetic tree): builds an n_entries-entry store
 * (SQLite) in a temporary directory under `dir` (removed on every path)
 * and prints insert rate, bytes per entry, du/select/names/rename times. */
int loafre__bench_index_store(const char *dir, uint64_t n_entries, FILE *out);
/* The same on PostgreSQL (lib/index_pg.c): the store of filesystem "bench"
 * in the database `conninfo` (schema loafre_bench; emptied before and
 * after). */
int loafre__bench_index_store_pg(const char *conninfo, uint64_t n_entries, FILE *out);

/* `loafre bench index` end to end (lib/bench_index_run.c, whose head
 * comment describes the steps and the generated tree). */
#define LOAFRE__BENCH_INDEX_MAX_FILES 100000000u /* n_files and ingest, at most */

struct loafre__bench_index_opts {
	const char *dir;       /* the tree and a temporary directory are made here */
	uint64_t n_files;      /* regular files of the generated tree */
	uint64_t ingest;       /* synthetic records of the ingest figures */
	bool keep_tree;        /* keep the tree for the next run (else removed) */
	unsigned threads;      /* tree generator threads; 0: one per CPU */
	const char *loafre;    /* the loafre program whose find, du, locate are timed */
	FILE *err;             /* warnings (cleanup problems), or NULL */
	volatile sig_atomic_t *interrupted; /* non-zero: stop early (may be NULL) */
};

/* Ingest rates (loafre__bench_index_apply), the tree (made, or reused when
 * its marker says it is complete), a scan of it into a store in a
 * temporary directory, then GNU find, GNU du, plocate and o->loafre's
 * find/du/locate on it (child processes) and the store's own queries,
 * warm, best of 3; figures and a summary against the targets to `out`.
 * Returns 0 (also when a target is missed or an answer differs: the
 * summary says so), -EINTR when interrupted, or another negative errno
 * with a one-line reason in err. The temporary directory is removed on
 * every path; the tree unless o->keep_tree (and it is complete). The
 * calling process forks: it must have no other threads. */
int loafre__bench_index_run(const struct loafre__bench_index_opts *o, FILE *out, char *err,
			    size_t errlen);

#endif
