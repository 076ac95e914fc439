/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * pg_fixture.h — a private PostgreSQL server for the tests of the
 * PostgreSQL index backend (no mocks: Debian's postgresql package).
 *
 * pgfx_start: initdb into a fresh directory under /tmp (as the `postgres`
 * OS user when run as root: initdb refuses root), then the server itself
 * as a child process, listening only on a Unix socket in that directory
 * (listen_addresses='', fsync off), and a database "loafre". The server
 * gets SIGQUIT (immediate shutdown) if the test process dies
 * (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.
 * Binaries: $LOAFRE_PG_BINDIR, else `pg_config --bindir`, else the newest
 * /usr/lib/postgresql/N/bin. $LOAFRE_PG_SETTINGS ("name=value ...") adds
 * server settings (benchmarks: shared_buffers=1GB).
 * pgfx_stop: stops the server (fast shutdown; SIGKILL after 10 s) and
 * removes the directory. Safe to call after a failed or no start.
 */
#ifndef LOAFRE_TEST_PG_FIXTURE_H
#define LOAFRE_TEST_PG_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

struct pgfx {
	char dir[64];            /* the cluster's directory ("" before start) */
	pid_t pid;               /* the server (0: none) */
	char conninfo[160];      /* "host=DIR port=5432 dbname=loafre user=postgres" */
};

/* 0 when the server runs; -ENOENT when PostgreSQL is not installed (err
 * says what is missing: the caller skips); another -errno on failure. */
int pgfx_start(struct pgfx *f, char *err, size_t errlen);
void pgfx_stop(struct pgfx *f);

/* Runs SQL on the fixture's database (as the superuser); 0 or -EIO (the
 * server's message in err). For tests that damage a store by hand. */
int pgfx_sql(const struct pgfx *f, const char *sql, char *err, size_t errlen);

#endif
