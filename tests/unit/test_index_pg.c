/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_index_pg.c — the PostgreSQL backend of the metadata index
 * (lib/index_pg.c) on a real, private PostgreSQL server
 * (tests/unit/pg_fixture.h: initdb + postgres on a Unix socket in a temp
 * directory, stopped at the end whatever happens).
 *
 * 1. Every backend-neutral case of test_index_store.c (IDX_SHARED_CASES),
 *    run here against PostgreSQL: this file includes it and points its
 *    `tgt` at the server; each case gets a fresh schema.
 * 2. PostgreSQL's own: open errors, format versions, foreign schemas,
 *    several filesystems in one database, the checker on damage done by
 *    hand, another writer between two transactions of a handle (the
 *    Bloom filter of negative lookups must be dropped), a clear rolled
 *    back, transactions past the entry buffer (COPY), a connection
 *    killed by the server.
 * 3. Same answers: one synthetic history (thousands of entries, hard
 *    links, renames, moves, deletes, attribute changes, odd names) applied
 *    through the store API to a SQLite store and to a PostgreSQL store,
 *    every mutation returning the same code, then every query's output
 *    compared.
 *
 * Without PostgreSQL (no initdb/postgres binaries) the program says so and
 * exits 77: meson reports the test as skipped. LOAFRE_TEST_FILTER=NAME
 * runs only the cases whose names match (a cmocka glob).
 */
#define LOAFRE_TEST_NO_MAIN
#include "test_index_store.c"

#include <inttypes.h>

#include <libpq-fe.h>

#include "pg_fixture.h"

static struct pgfx pg;

static int pg_reset(const char *fsname)
{
	char sql[256], err[256];
	int r;

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS \"loafre_%s\" CASCADE", fsname);
	r = pgfx_sql(&pg, sql, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "%s: %s\n", sql, err);
	return r;
}

static void psql(const char *sql)
{
	char err[512];
	int r = pgfx_sql(&pg, sql, err, sizeof(err));

	if (r < 0)
		fprintf(stderr, "%s: %s\n", sql, err);
	assert_int_equal(r, 0);
}

/* The first value of a query's first row, as text ("" if none). */
static void pval(const char *sql, char *buf, size_t cap)
{
	PGconn *c = PQconnectdb(pg.conninfo);
	PGresult *res = PQexec(c, sql);

	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	snprintf(buf, cap, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	PQfinish(c);
}

/* ---- open errors, versions, schemas ---------------------------------------------- */

static void test_pg_open_errors_and_version(void **state)
{
	struct fx *f = *state;
	struct loafre__idx *y = NULL, *u = NULL;
	struct loafre_fid root = F(1), four = F(4);
	struct loafre__idx_entry e;
	char err[512], v[64];

	(void)f;
	/* no store for that filesystem: -ENOENT, nothing created */
	assert_int_equal(pg_reset("missing"), 0);
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, pg.conninfo, "missing", 0, &y, err,
					  sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "loafre_missing"));
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, pg.conninfo, "missing",
					  LOAFRE__IDX_READONLY, &y, err, sizeof(err)),
			 -ENOENT);
	pval("SELECT count(*) FROM pg_namespace WHERE nspname='loafre_missing'", v, sizeof(v));
	assert_string_equal(v, "0");
	/* bad names and conninfos */
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, pg.conninfo, NULL, 0, &y, err,
					  sizeof(err)),
			 -EINVAL);
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, pg.conninfo, "a/b", 0, &y, err,
					  sizeof(err)),
			 -EINVAL);
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, "host", "t", 0, &y, err,
					  sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "conninfo"));
	/* a password never appears in messages */
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL,
					  "host=/nonexistent dbname=x password=s3cret", "t", 0, &y,
					  err, sizeof(err)),
			 -EIO);
	assert_null(strstr(err, "s3cret"));
	assert_non_null(strstr(err, "dbname=x"));

	/* a future format: refused, untouched */
	small_tree(f->x);
	loafre__idx_close(f->x);
	f->x = NULL;
	psql("UPDATE loafre_t.meta SET value='2' WHERE key='format'");
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, pg.conninfo, "t",
					  LOAFRE__IDX_CREATE, &y, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "version 2"));
	pval("SELECT value FROM loafre_t.meta WHERE key='format'", v, sizeof(v));
	assert_string_equal(v, "2");
	pval("SELECT count(*) FROM loafre_t.entry", v, sizeof(v));
	assert_string_equal(v, "5");
	/* not a loafre store */
	assert_int_equal(pg_reset("other"), 0);
	psql("CREATE SCHEMA loafre_other; CREATE TABLE loafre_other.x(i int)");
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, pg.conninfo, "other",
					  LOAFRE__IDX_CREATE, &y, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "not a loafre index store"));
	/* an empty schema made by an administrator is filled */
	assert_int_equal(pg_reset("other"), 0);
	psql("CREATE SCHEMA loafre_other");
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, pg.conninfo, "other",
					  LOAFRE__IDX_CREATE, &y, err, sizeof(err)),
			 0);
	/* two filesystems in one database do not see each other */
	assert_int_equal(pg_reset("t"), 0);
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, pg.conninfo, "t",
					  LOAFRE__IDX_CREATE, &u, err, sizeof(err)),
			 0);
	small_tree(u);
	assert_int_equal(loafre__idx_lookup(u, &four, &e), 0);
	assert_int_equal(loafre__idx_lookup(y, &four, &e), -ENOENT);
	assert_int_equal(loafre__idx_get_root(y, &root), -ENOENT);
	pval("SELECT value FROM loafre_other.meta WHERE key='fsname'", v, sizeof(v));
	assert_string_equal(v, "other");
	loafre__idx_close(y);
	loafre__idx_close(u);
}

/* ---- the checker sees damage ---------------------------------------------------------- */

static void pdamage(struct fx *f, const char *sql, const char *want)
{
	char err[512];

	psql(sql);
	assert_int_equal(loafre__idx_check(f->x, err, sizeof(err)), -EBADMSG);
	if (!strstr(err, want))
		fprintf(stderr, "check said: %s\n", err);
	assert_non_null(strstr(err, want));
}

static void test_pg_check_detects(void **state)
{
	struct fx *f = *state;

	small_tree(f->x);
	check_ok(f->x);
	pdamage(f, "UPDATE loafre_t.dirsum SET blocks=blocks+1 WHERE id=(SELECT max(id) FROM"
		   " loafre_t.dirsum)",
		"rollup");
	psql("UPDATE loafre_t.dirsum SET blocks=blocks-1 WHERE id=(SELECT max(id) FROM loafre_t.dirsum)");
	check_ok(f->x);
	pdamage(f, "UPDATE loafre_t.entry SET nxlinks=1 WHERE name='f'", "xlinks");
	psql("UPDATE loafre_t.entry SET nxlinks=0 WHERE name='f'");
	pdamage(f, "UPDATE loafre_t.entry SET name='' WHERE name='f'", "malformed");
	psql("UPDATE loafre_t.entry SET name='f' WHERE name=''");
	check_ok(f->x);
	pdamage(f, "UPDATE loafre_t.entry SET id=id+100000 WHERE name='g'", "id");
	psql("UPDATE loafre_t.entry SET id=id-100000 WHERE name='g'");
	check_ok(f->x);
	pdamage(f, "DROP INDEX loafre_t.entry_fid; UPDATE loafre_t.entry SET fid=(SELECT fid FROM"
		   " loafre_t.entry WHERE name='g') WHERE name='f'",
		"one FID");
}

/* ---- another writer, rollbacks, big transactions, lost connections -------------------- */

static struct loafre__idx *open_t(int flags)
{
	struct loafre__idx *y = NULL;
	char err[512];
	int r = loafre__idx_open(LOAFRE__IDX_POSTGRESQL, pg.conninfo, "t", flags, &y, err, sizeof(err));

	if (r < 0)
		fprintf(stderr, "open: %s\n", err);
	assert_int_equal(r, 0);
	return y;
}

static void test_pg_other_writer(void **state)
{
	struct fx *f = *state;
	struct loafre__idx *w2 = open_t(0);
	struct loafre_fid root = F(1), nine = F(9), ten = F(10);
	struct loafre__idx_attr a = attr(REGM, 77, 1000);
	struct loafre__idx_entry e;

	/* f->x found the store empty: it answers "not there" from its filter */
	small_tree(f->x);
	/* another handle creates 9 = /x and commits */
	assert_int_equal(loafre__idx_begin(w2), 0);
	mk(w2, 9, REGM, 5);
	ln(w2, 1, "x", 9);
	assert_int_equal(loafre__idx_commit(w2), 0);
	/* f->x must see both the FID and the name now */
	assert_int_equal(loafre__idx_begin(f->x), 0);
	assert_int_equal(loafre__idx_upsert(f->x, &nine, &a, 0), 0); /* an update, not a second row */
	mk(f->x, 10, REGM, 3);
	ln(f->x, 1, "x", 10); /* replaces 9 at /x */
	assert_int_equal(loafre__idx_commit(f->x), 0);
	assert_int_equal(loafre__idx_lookup(f->x, &nine, &e), 0);
	assert_int_equal(e.a.size, 77);
	assert_int_equal(loafre__idx_lookup_name(f->x, &root, "x", &e.fid), 0);
	assert_true(loafre_fid_equal(&e.fid, &ten));
	check_ok(f->x);
	assert_int_equal(sum_of(w2, 1).inodes, 6); /* 9 is an orphan now */

	/* a clear rolled back: the rows come back, and the handle sees them */
	assert_int_equal(loafre__idx_begin(f->x), 0);
	assert_int_equal(loafre__idx_clear(f->x), 0);
	assert_int_equal(loafre__idx_lookup(f->x, &ten, &e), -ENOENT);
	assert_int_equal(loafre__idx_rollback(f->x), 0);
	assert_int_equal(loafre__idx_begin(f->x), 0);
	a.size = 78;
	assert_int_equal(loafre__idx_upsert(f->x, &ten, &a, 0), 0);
	assert_int_equal(loafre__idx_link(f->x, &root, "y", &ten), 0); /* a second link */
	assert_int_equal(loafre__idx_commit(f->x), 0);
	assert_int_equal(loafre__idx_lookup(w2, &ten, &e), 0);
	assert_int_equal(e.a.size, 78);
	check_ok(f->x);
	loafre__idx_close(w2);
}

static int count_child(void *ctx, const char *name, const struct loafre__idx_entry *e)
{
	(void)name;
	(void)e;
	++*(int *)ctx;
	return 0;
}

static int count_sel(void *ctx, const struct loafre_fid *parent, const char *name,
		     const struct loafre__idx_entry *e)
{
	(void)parent;
	(void)name;
	(void)e;
	++*(int *)ctx;
	return 0;
}

/* Past the entry buffer: COPY in the middle of a transaction, queries
 * that see buffered rows, a rollback of a big transaction. */
static void test_pg_big_transactions(void **state)
{
	struct fx *f = *state;
	struct loafre_fid root = F(1), d = F(2);
	const int n = 70000;
	struct loafre__idx_filter flt = {.name_glob = "f1234*"};
	struct loafre__idx_entry e;
	char name[32];
	int cnt = 0;

	assert_int_equal(loafre__idx_begin(f->x), 0);
	mk(f->x, 1, DIRM, 4096);
	assert_int_equal(loafre__idx_set_root(f->x, &root), 0);
	mk(f->x, 2, DIRM, 4096);
	ln(f->x, 1, "d", 2);
	for (int i = 0; i < n; i++) {
		struct loafre_fid c = {0x300000000ull + (uint64_t)i / 1000, (uint32_t)(i % 1000) + 1, 0};
		struct loafre__idx_attr a = attr(REGM, (uint64_t)i, 1000 + (uint32_t)(i % 3));

		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(loafre__idx_upsert(f->x, &c, &a, 0), 0);
		assert_int_equal(loafre__idx_link(f->x, &d, name, &c), 0);
		if (i == n - 10) /* buffered: found by FID, by name, in listings */
			assert_int_equal(loafre__idx_lookup(f->x, &c, &e), 0);
	}
	assert_int_equal(loafre__idx_children(f->x, &d, count_child, &cnt), 0);
	assert_int_equal(cnt, n);
	assert_int_equal(sum_of(f->x, 1).inodes, (uint64_t)n + 2);
	cnt = 0;
	assert_int_equal(loafre__idx_select(f->x, &flt, count_sel, &cnt), 0);
	assert_int_equal(cnt, 11); /* f1234, f12340..f12349 */
	assert_int_equal(loafre__idx_commit(f->x), 0);
	check_ok(f->x);

	/* a big transaction rolled back leaves nothing */
	assert_int_equal(loafre__idx_begin(f->x), 0);
	for (int i = 0; i < n; i++) {
		struct loafre_fid c = {0x400000000ull + (uint64_t)i / 1000, (uint32_t)(i % 1000) + 1, 0};
		struct loafre__idx_attr a = attr(REGM, 1, 1000);

		snprintf(name, sizeof(name), "g%d", i);
		assert_int_equal(loafre__idx_upsert(f->x, &c, &a, 0), 0);
		assert_int_equal(loafre__idx_link(f->x, &root, name, &c), 0);
	}
	assert_int_equal(loafre__idx_rollback(f->x), 0);
	assert_int_equal(sum_of(f->x, 1).inodes, (uint64_t)n + 2);
	assert_int_equal(loafre__idx_lookup_name(f->x, &root, "g5", &e.fid), -ENOENT);
	/* and the handle's filter does not believe in them either: they are
	 * created again in another transaction */
	assert_int_equal(loafre__idx_begin(f->x), 0);
	for (int i = 0; i < 100; i++) {
		struct loafre_fid c = {0x400000000ull, (uint32_t)i + 1, 0};
		struct loafre__idx_attr a = attr(REGM, 1, 1000);

		snprintf(name, sizeof(name), "g%d", i);
		assert_int_equal(loafre__idx_upsert(f->x, &c, &a, 0), 0);
		assert_int_equal(loafre__idx_link(f->x, &root, name, &c), 0);
	}
	assert_int_equal(loafre__idx_commit(f->x), 0);
	assert_int_equal(sum_of(f->x, 1).inodes, (uint64_t)n + 102);
	check_ok(f->x);
}

static void test_pg_connection_lost(void **state)
{
	struct fx *f = *state;
	struct loafre_fid root = F(1);
	struct loafre__idx_sum s;
	int r;

	small_tree(f->x);
	psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE"
	     " application_name='loafre' AND pid<>pg_backend_pid()");
	r = loafre__idx_dirsum(f->x, &root, &s);
	if (r == 0) { /* the first statement may not notice: the next one does */
		r = loafre__idx_dirsum(f->x, &root, &s);
	}
	assert_int_equal(r, -EIO);
	assert_true(loafre__idx_errmsg(f->x)[0] != '\0');
	/* the next request reconnects */
	assert_int_equal(loafre__idx_dirsum(f->x, &root, &s), 0);
	assert_int_equal(s.inodes, 5);
	assert_int_equal(loafre__idx_begin(f->x), 0);
	mk(f->x, 9, REGM, 1);
	ln(f->x, 1, "n", 9);
	assert_int_equal(loafre__idx_commit(f->x), 0);
	assert_int_equal(sum_of(f->x, 1).inodes, 6);
}

/* A bulk load (the scan's path): entry_us and the entry name index are
 * dropped at bulk_begin and built at bulk_end; a load abandoned after a
 * commit leaves them missing until the next read-write open. */
static void test_pg_bulk(void **state)
{
	struct fx *f = *state;
	struct loafre_fid root = F(1), d = F(2);
	struct loafre__idx_filter flt = {.name_glob = "b12*", .has_uid = true, .uid = 1001};
	char v[64], name[32];
	int n = 0;

	small_tree(f->x);
	assert_int_equal(loafre__idx_begin(f->x), 0);
	assert_int_equal(loafre__idx_clear(f->x), 0);
	assert_int_equal(loafre__idx_bulk_begin(f->x), 0);
	mk(f->x, 1, DIRM, 4096);
	assert_int_equal(loafre__idx_set_root(f->x, &root), 0);
	for (int i = 0; i < 3000; i++) {
		struct loafre_fid c = {0x500000000ull, (uint32_t)i + 1, 0};
		struct loafre__idx_attr a = attr(i < 100 ? DIRM : REGM, (uint64_t)i, 1000 + (uint32_t)(i % 3));

		snprintf(name, sizeof(name), "b%d", i);
		/* directories b0-b99 in the root, files b100-b2999 in b0 */
		assert_int_equal(loafre__idx_bulk_add(f->x, i < 100 ? &root : &d, name, &c, &a, 0), 0);
		if (i == 0) {
			d = c;
			pval("SELECT count(*) FROM pg_class WHERE relname IN ('entry_us','entry_names')"
			     " AND relnamespace='loafre_t'::regnamespace", v, sizeof(v));
			assert_string_equal(v, "2"); /* dropped, but not committed */
		}
		if (i == 1500) { /* the load spans transactions */
			assert_int_equal(loafre__idx_commit(f->x), 0);
			assert_int_equal(loafre__idx_begin(f->x), 0);
		}
	}
	assert_int_equal(loafre__idx_bulk_end(f->x), 0);
	assert_int_equal(loafre__idx_commit(f->x), 0);
	pval("SELECT count(*) FROM pg_class WHERE relname IN ('entry_us','entry_names')"
	     " AND relnamespace='loafre_t'::regnamespace", v, sizeof(v));
	assert_string_equal(v, "2");
	check_ok(f->x);
	assert_int_equal(sum_of(f->x, 1).inodes, 3001);
	assert_int_equal(loafre__idx_select(f->x, &flt, count_sel, &n), 0);
	assert_int_equal(n, 36); /* b12*, uid 1001 (i % 3 == 1): 121-127 (3), 1201-1297 (33) */

	/* abandoned after a commit: back at the next read-write open */
	assert_int_equal(loafre__idx_begin(f->x), 0);
	assert_int_equal(loafre__idx_clear(f->x), 0);
	assert_int_equal(loafre__idx_bulk_begin(f->x), 0);
	assert_int_equal(loafre__idx_commit(f->x), 0);
	loafre__idx_close(f->x);
	f->x = NULL;
	pval("SELECT count(*) FROM pg_class WHERE relname IN ('entry_us','entry_names')"
	     " AND relnamespace='loafre_t'::regnamespace", v, sizeof(v));
	assert_string_equal(v, "0");
	f->x = open_t(LOAFRE__IDX_READONLY); /* a reader does not build */
	loafre__idx_close(f->x);
	pval("SELECT count(*) FROM pg_class WHERE relname IN ('entry_us','entry_names')"
	     " AND relnamespace='loafre_t'::regnamespace", v, sizeof(v));
	assert_string_equal(v, "0");
	f->x = open_t(0);
	pval("SELECT count(*) FROM pg_class WHERE relname IN ('entry_us','entry_names')"
	     " AND relnamespace='loafre_t'::regnamespace", v, sizeof(v));
	assert_string_equal(v, "2");
}

/* ---- roles, permissions, a database without pg_trgm ---------------------------------- */

static void psql_as(const char *conninfo, const char *sql)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
	PQclear(res);
	PQfinish(c);
}

static int count_names(void *ctx, const struct loafre_fid *parent, const char *name,
		       const struct loafre__idx_entry *e)
{
	(void)parent;
	(void)e;
	if (strcmp(name, "f") == 0 || strcmp(name, "g") == 0)
		++*(int *)ctx;
	else
		*(int *)ctx += 100; /* no other name contains the needle */
	return 0;
}

/* The setup docs/index.md describes: an administrator makes the schema for
 * a writer role that may not create extensions (so no trigram index: the
 * name queries scan), and grants a reader role SELECT. */
static void test_pg_roles(void **state)
{
	struct loafre__idx *w = NULL, *r = NULL;
	struct loafre__idx_filter flt = {.name_glob = "[fg]"};
	char su[200], cw[200], cr[200], err[512], v[64];
	int n = 0;

	(void)state;
	snprintf(su, sizeof(su), "host=%s port=5432 dbname=roles user=postgres", pg.dir);
	snprintf(cw, sizeof(cw), "host=%s port=5432 dbname=roles user=lw", pg.dir);
	snprintf(cr, sizeof(cr), "host=%s port=5432 dbname=roles user=lr", pg.dir);
	psql("CREATE DATABASE roles");
	psql("CREATE ROLE lw LOGIN; CREATE ROLE lr LOGIN");
	psql_as(su, "CREATE SCHEMA loafre_r AUTHORIZATION lw; GRANT USAGE ON SCHEMA loafre_r TO lr");
	if (loafre__idx_open(LOAFRE__IDX_POSTGRESQL, cw, "r", LOAFRE__IDX_CREATE, &w, err,
			     sizeof(err)) < 0)
		fprintf(stderr, "open as lw: %s\n", err);
	assert_non_null(w);
	small_tree(w);
	{
		PGconn *c = PQconnectdb(su);
		PGresult *res = PQexec(c, "SELECT value FROM loafre_r.meta WHERE key='names'");

		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		snprintf(v, sizeof(v), "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
		PQclear(res);
		PQfinish(c);
	}
	assert_string_equal(v, "scan"); /* lw may not install pg_trgm here */
	assert_int_equal(loafre__idx_names(w, "f", false, count_names, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(loafre__idx_select(w, &flt, count_names, &n), 0);
	assert_int_equal(n, 2);
	check_ok(w);
	/* the reader: nothing until granted, then queries only */
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, cr, "r", LOAFRE__IDX_READONLY, &r,
					  err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "permission denied"));
	psql_as(su, "GRANT SELECT ON ALL TABLES IN SCHEMA loafre_r TO lr");
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, cr, "r", LOAFRE__IDX_READONLY, &r,
					  err, sizeof(err)),
			 0);
	assert_int_equal(sum_of(r, 1).inodes, 5);
	n = 0;
	assert_int_equal(loafre__idx_names(r, "g", false, count_names, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(loafre__idx_begin(r), -EROFS);
	loafre__idx_close(r);
	r = NULL;
	/* opened for writing, it cannot take the write lock */
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_POSTGRESQL, cr, "r", 0, &r, err, sizeof(err)), 0);
	assert_int_equal(loafre__idx_begin(r), -EACCES);
	loafre__idx_close(r);
	loafre__idx_close(w);
}

/* ---- same answers: SQLite and PostgreSQL ------------------------------------------------ */

#define SA_MAX 4000 /* entries created */

/* The history's entries: FID G(i). */
struct sa {
	struct loafre__idx *x[2];    /* SQLite, PostgreSQL */
	bool dir[SA_MAX];            /* a directory */
	int n;                       /* entries created */
	int dirs[SA_MAX];            /* indexes of the directories */
	int nd;                      /* count */
	struct rng r;                /* the history's randomness */
};

static struct loafre_fid G(int i)
{
	return (struct loafre_fid){0x280000000ull + (uint64_t)i / 700, (uint32_t)(i % 700) + 1,
				   (uint32_t)(i % 5 == 0)};
}

/* Names with bytes that LIKE, escapes and encodings care about. */
static void sa_name(struct rng *r, char *buf, size_t cap)
{
	static const char *const sa_stems[] = {
		"file", "File", "data", "Mesh", "run", "%pct", "under_score", "back\\slash", "caf\xc3\xa9",
		"CAF\xc3\x89", "\xff\xfe raw", "a b", "x", "UPPER", "n", "%", "_", "\\", "dot.", "q'uote",
	};
	static const char *const sa_ext[] = {"", ".c", ".C", ".h", ".txt", ".TXT", ".tar.gz", "~"};

	snprintf(buf, cap, "%s%u%s", sa_stems[rnd(r, LOAFRE__ARRAY_SIZE(sa_stems))], rnd(r, 40),
		 sa_ext[rnd(r, LOAFRE__ARRAY_SIZE(sa_ext))]);
}

static struct loafre__idx_attr sa_attr(struct rng *r, bool dir)
{
	struct loafre__idx_attr a = attr(dir ? DIRM : rnd(r, 10) == 0 ? 0120777u : REGM,
					 dir ? 4096 : rnd(r, 8) == 0 ? 0 : 1ull << rnd(r, 36),
					 1000 + rnd(r, 5));

	a.size += dir ? 0 : rnd(r, 1000);
	a.blocks = (a.size + 4095) / 4096 * 8;
	a.gid = 100 + rnd(r, 3);
	a.mtime_ns = 1700000000000000000ll - (int64_t)rnd(r, 1000) * 1000000000ll;
	a.atime_ns = a.mtime_ns + (int64_t)rnd(r, 3) * 1000;
	a.ctime_ns = a.mtime_ns + (int64_t)rnd(r, 2);
	a.nlink = dir ? 2 : 1;
	a.symlink = (a.mode & S_IFMT) == S_IFLNK ? "../some where/\xc3\xa9" : NULL;
	return a;
}

/* Applies one operation to both stores (the call names the store x_);
 * both must return the same. */
#define BOTH(call)                                                                               \
	do {                                                                                     \
		struct loafre__idx *x_ = s->x[0];                                                \
		int r0_ = (call);                                                                \
		x_ = s->x[1];                                                                    \
		int r1_ = (call);                                                                \
		if (r0_ != r1_)                                                                  \
			fprintf(stderr, "%s: sqlite %d, postgresql %d (%s)\n", #call, r0_, r1_,  \
				loafre__idx_errmsg(s->x[1]));                                    \
		assert_int_equal(r0_, r1_);                                                      \
	} while (0)

struct pick {
	struct rng *r;               /* chooser */
	unsigned seen;               /* children seen */
	char name[LOAFRE__IDX_NAME_MAX + 1]; /* the one kept */
	struct loafre_fid fid;       /* its entry */
};

static int pick_cb(void *ctx, const char *name, const struct loafre__idx_entry *e)
{
	struct pick *p = ctx;

	if (rnd(p->r, ++p->seen) == 0) { /* reservoir sampling */
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->fid = e->fid;
	}
	return 0;
}

/* A random child of p in store x (none: p was deleted, or is empty). */
static void pick_child(struct loafre__idx *x, const struct loafre_fid *p, struct pick *k)
{
	int r = loafre__idx_children(x, p, pick_cb, k);

	assert_true(r == 0 || r == -ENOENT);
}

/* One step of the history: a creation, a hard link, a rename or move
 * (both orders of link and unlink: directories become orphans on the way),
 * a deletion (a subtree for a directory), an unlink, new attributes (of
 * deleted entries too: they come back as orphans), or positions, meta
 * values and quotas. Arguments are drawn before BOTH(). */
static void sa_step(struct sa *s)
{
	struct rng *r = &s->r;
	unsigned op = rnd(r, 100);
	struct loafre_fid p = G(s->dirs[rnd(r, (uint32_t)s->nd)]);
	char name[64];

	sa_name(r, name, sizeof(name));
	if (op < 45 && s->n < SA_MAX) { /* create */
		bool dir = rnd(r, 6) == 0;
		struct loafre_fid c = G(s->n);
		struct loafre__idx_attr a = sa_attr(r, dir);
		uint32_t mdt = rnd(r, 2);
		bool job = rnd(r, 2);
		char jobid[16];

		snprintf(jobid, sizeof(jobid), "job%u", rnd(r, 50));
		BOTH(loafre__idx_upsert(x_, &c, &a, mdt));
		BOTH(loafre__idx_link(x_, &p, name, &c));
		if (job)
			BOTH(loafre__idx_set_jobid(x_, &c, jobid));
		s->dir[s->n] = dir;
		if (dir)
			s->dirs[s->nd++] = s->n;
		s->n++;
	} else if (op < 55) { /* a hard link (a move for a directory); not the root */
		struct loafre_fid c = G(1 + (int)rnd(r, (uint32_t)s->n - 1));

		BOTH(loafre__idx_link(x_, &p, name, &c));
	} else if (op < 75) { /* rename or move a child of p */
		struct pick k = {.r = r};
		struct loafre_fid q = G(s->dirs[rnd(r, (uint32_t)s->nd)]);

		pick_child(s->x[0], &p, &k);
		if (!k.seen)
			return;
		if (rnd(r, 2)) { /* rename(2): link the new name, unlink the old */
			BOTH(loafre__idx_link(x_, &q, name, &k.fid));
			BOTH(loafre__idx_unlink(x_, &p, k.name));
		} else {
			BOTH(loafre__idx_unlink(x_, &p, k.name));
			BOTH(loafre__idx_link(x_, &q, name, &k.fid));
		}
	} else if (op < 82) { /* delete a child of p (a subtree for a directory) */
		struct pick k = {.r = r};

		pick_child(s->x[0], &p, &k);
		if (k.seen)
			BOTH(loafre__idx_delete(x_, &k.fid));
	} else if (op < 86) { /* unlink one link */
		struct pick k = {.r = r};

		pick_child(s->x[0], &p, &k);
		if (k.seen)
			BOTH(loafre__idx_unlink(x_, &p, k.name));
	} else if (op < 97) { /* new attributes */
		int i = (int)rnd(r, (uint32_t)s->n);
		struct loafre_fid c = G(i);
		struct loafre__idx_attr a = sa_attr(r, s->dir[i]);

		BOTH(loafre__idx_upsert(x_, &c, &a, 1));
	} else { /* positions, meta values, quotas */
		struct loafre__idx_quota q = {.dir = p, .bytes_limit = rnd(r, 1000000),
					      .inodes_limit = rnd(r, 100)};
		uint64_t pos = rnd(r, 1000000);
		char v[32];

		snprintf(v, sizeof(v), "v%u", rnd(r, 1000));
		BOTH(loafre__idx_set_position(x_, "t-MDT0000", pos));
		BOTH(loafre__idx_set_meta(x_, "k", v));
		BOTH(loafre__idx_quota_set(x_, &q));
	}
}

/* A growing text. */
struct dump {
	char *s;                     /* text */
	size_t n, cap;               /* used, allocated */
};

static void d_add(struct dump *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void d_add(struct dump *d, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(k >= 0);
	if (d->n + (size_t)k + 1 > d->cap) {
		d->cap = (d->n + (size_t)k + 1) * 2;
		d->s = realloc(d->s, d->cap);
		assert_non_null(d->s);
	}
	va_start(ap, fmt);
	vsnprintf(d->s + d->n, d->cap - d->n, fmt, ap);
	va_end(ap);
	d->n += (size_t)k;
}

/* Lines of an unordered result, sorted before they are added. */
struct lines {
	char **v;                    /* lines */
	size_t n, cap;               /* used, allocated */
};

static void l_add(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void l_add(struct lines *l, const char *fmt, ...)
{
	va_list ap;
	char *t = NULL;

	va_start(ap, fmt);
	assert_true(vasprintf(&t, fmt, ap) >= 0);
	va_end(ap);
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n++] = t;
}

static int sa_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void l_flush(struct lines *l, struct dump *d, const char *tag)
{
	qsort(l->v, l->n, sizeof(*l->v), sa_cmp_str);
	d_add(d, "%s: %zu\n", tag, l->n);
	for (size_t i = 0; i < l->n; i++) {
		d_add(d, "  %s\n", l->v[i]);
		free(l->v[i]);
	}
	l->n = 0;
}

static void fid_txt(const struct loafre_fid *f, char *buf)
{
	snprintf(buf, 48, "%" PRIx64 ":%x:%x", f->f_seq, f->f_oid, f->f_ver);
}

/* An entry as text (every attribute). */
static void ent_txt(const struct loafre__idx_entry *e, char *buf, size_t cap)
{
	char f[48];

	fid_txt(&e->fid, f);
	snprintf(buf, cap,
		 "%s m%o u%u g%u s%" PRIu64 " b%" PRIu64 " n%" PRIu64 " i%" PRIu64 " d%" PRIu64
		 " a%" PRId64 " m%" PRId64 " c%" PRId64 " j%s l%s t%u",
		 f, e->a.mode, e->a.uid, e->a.gid, e->a.size, e->a.blocks, e->a.nlink, e->a.ino,
		 e->a.dev, e->a.atime_ns, e->a.mtime_ns, e->a.ctime_ns, e->jobid ? e->jobid : "-",
		 e->a.symlink ? e->a.symlink : "-", e->mdt);
}

static int sel_line(void *ctx, const struct loafre_fid *parent, const char *name,
		    const struct loafre__idx_entry *e)
{
	char pf[48], et[512];

	fid_txt(parent, pf);
	ent_txt(e, et, sizeof(et));
	l_add(ctx, "%s/%s -> %s", pf, name, et);
	return 0;
}

static int child_line(void *ctx, const char *name, const struct loafre__idx_entry *e)
{
	char et[512];

	ent_txt(e, et, sizeof(et));
	d_add(ctx, "    %s -> %s\n", name, et);
	return 0;
}

static int link_line(void *ctx, const struct loafre_fid *parent, const char *name)
{
	char pf[48];

	fid_txt(parent, pf);
	d_add(ctx, " %s/%s", pf, name);
	return 0;
}

static int owner_line(void *ctx, const struct loafre__idx_owner_sum *o)
{
	d_add(ctx, "  %u: b%" PRIu64 " B%" PRIu64 " i%" PRIu64 " f%" PRIu64 " d%" PRIu64 " l%" PRIu64
		   "\n",
	      o->id, o->blocks, o->bytes, o->inodes, o->files, o->dirs, o->symlinks);
	return 0;
}

static int top_line(void *ctx, const struct loafre_fid *dir, const struct loafre__idx_sum *s)
{
	char f[48];

	fid_txt(dir, f);
	d_add(ctx, "  %s: %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", f, s->blocks, s->bytes, s->inodes);
	return 0;
}

static int old_line(void *ctx, const struct loafre__idx_entry *e)
{
	char et[512];

	ent_txt(e, et, sizeof(et));
	d_add(ctx, "  %s\n", et);
	return 0;
}

static int ml_line(void *ctx, const struct loafre__idx_entry *e, const struct loafre_fid *parent,
		   const char *name, bool primary)
{
	char pf[48], et[512];

	fid_txt(parent, pf);
	ent_txt(e, et, sizeof(et));
	l_add(ctx, "%s %s/%s %d", et, pf, name, primary);
	return 0;
}

static int quota_line(void *ctx, const struct loafre__idx_quota *q)
{
	char f[48];

	fid_txt(&q->dir, f);
	d_add(ctx, "  %s %" PRIu64 " %" PRIu64 " %d\n", f, q->bytes_limit, q->inodes_limit, q->over);
	return 0;
}

/* Every query's answer on store x, as text. */
static void sa_dump(const struct sa *s, struct loafre__idx *x, struct dump *d)
{
	static const char *const globs[] = {
		"*.c", "*.C", "file1*", "*caf\xc3\xa9*", "*%*", "*_*", "*\\\\*", "[ab]*", "?", "n3",
		"*\xff*", "*", "*.tar.gz", "x*.h", "UPPER1?.TXT", "*'*",
	};
	static const struct {
		const char *needle; /* substring */
		bool icase;         /* ASCII case folding */
	} needles[] = {
		{"", false},       {"file", false},     {"FILE", true},      {"%", false},
		{"_", false},      {"\\", false},       {"caf\xc3\xa9", false}, {"CAF\xc3\xa9", true},
		{"\xff", false},   {".c", false},       {".C", true},        {"a b", false},
		{"9.t", false},    {"q'u", false},      {"NOPE", false},
	};
	struct lines l = {0};
	char tag[64], buf[4200], et[512], f[48];
	uint64_t counts[64], bytes[64], pos;
	struct loafre__idx_owner_sum tot;
	struct loafre_fid root;

	assert_int_equal(loafre__idx_get_root(x, &root), 0);
	fid_txt(&root, f);
	d_add(d, "root %s\n", f);
	for (int i = 0; i < s->n; i++) {
		struct loafre_fid c = G(i), got;
		struct loafre__idx_entry e;
		int r = loafre__idx_lookup(x, &c, &e);

		fid_txt(&c, f);
		if (r < 0) {
			d_add(d, "%s: %d\n", f, r);
			continue;
		}
		ent_txt(&e, et, sizeof(et));
		d_add(d, "%s\n", et);
		r = loafre__idx_path(x, &c, buf, sizeof(buf));
		d_add(d, "  path %d %s\n", r, r == 0 ? buf : "");
		if (r == 0) {
			r = loafre__idx_resolve(x, buf, &got);
			assert_int_equal(r, 0);
			assert_true(loafre_fid_equal(&got, &c));
		}
		d_add(d, "  links");
		assert_int_equal(loafre__idx_links(x, &c, link_line, d), 0);
		d_add(d, "\n");
		if (s->dir[i]) {
			struct loafre__idx_sum sum;

			assert_int_equal(loafre__idx_dirsum(x, &c, &sum), 0);
			d_add(d, "  sum %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", sum.blocks, sum.bytes,
			      sum.inodes);
			assert_int_equal(loafre__idx_children(x, &c, child_line, d), 0);
		}
	}
	for (size_t g = 0; g < LOAFRE__ARRAY_SIZE(globs); g++)
		for (int icase = 0; icase < 2; icase++) {
			struct loafre__idx_filter flt = {.name_glob = globs[g], .name_icase = icase};

			assert_int_equal(loafre__idx_select(x, &flt, sel_line, &l), 0);
			snprintf(tag, sizeof(tag), "select name %zu icase %d", g, icase);
			l_flush(&l, d, tag);
		}
	{
		struct loafre__idx_filter flts[] = {
			{0},
			{.has_uid = true, .uid = 1002},
			{.has_gid = true, .gid = 101, .type_mask = loafre__idx_type_bit(S_IFREG)},
			{.type_mask = loafre__idx_type_bit(S_IFDIR) | loafre__idx_type_bit(S_IFLNK)},
			{.size_min = 1u << 20},
			{.size_min = 1, .size_max = 4096, .has_uid = true, .uid = 1000},
			{.mtime_min = 1700000000000000000ll - 300000000000ll},
			{.atime_max = 1700000000000000000ll - 700000000000ll, .name_glob = "*a*"},
			{.ctime_min = 1699999500000000000ll, .ctime_max = 1699999800000000001ll},
			{.has_uid = true, .uid = 1001, .name_glob = "*.c", .name_icase = true},
		};

		for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(flts); i++) {
			assert_int_equal(loafre__idx_select(x, &flts[i], sel_line, &l), 0);
			snprintf(tag, sizeof(tag), "select filter %zu", i);
			l_flush(&l, d, tag);
		}
	}
	for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(needles); i++) {
		assert_int_equal(loafre__idx_names(x, needles[i].needle, needles[i].icase, sel_line, &l),
				 0);
		snprintf(tag, sizeof(tag), "names %zu", i);
		l_flush(&l, d, tag);
	}
	for (int by = 0; by < 2; by++)
		for (size_t lim = 0; lim < 3; lim += 2) {
			d_add(d, "owners %c %zu\n", by ? 'g' : 'u', lim);
			assert_int_equal(loafre__idx_owners(x, by ? 'g' : 'u', lim, owner_line, d), 0);
		}
	d_add(d, "top_dirs\n");
	assert_int_equal(loafre__idx_top_dirs(x, 0, top_line, d), 0);
	d_add(d, "top_dirs 5\n");
	assert_int_equal(loafre__idx_top_dirs(x, 5, top_line, d), 0);
	for (int u = 0; u < 2; u++) {
		memset(counts, 0, sizeof(counts));
		memset(bytes, 0, sizeof(bytes));
		assert_int_equal(loafre__idx_size_profile(x, u ? 1003 : UINT32_MAX, counts, bytes), 0);
		d_add(d, "profile %d:", u);
		for (int k = 0; k < 64; k++)
			if (counts[k])
				d_add(d, " %d:%" PRIu64 "/%" PRIu64, k, counts[k], bytes[k]);
		d_add(d, "\n");
	}
	for (const char *fld = "mac"; *fld; fld++)
		for (size_t lim = 0; lim < 8; lim += 7) {
			d_add(d, "oldest %c %zu\n", *fld, lim);
			assert_int_equal(loafre__idx_oldest(x, *fld, UINT32_MAX, lim, old_line, d), 0);
			d_add(d, "oldest %c %zu uid 1004\n", *fld, lim);
			assert_int_equal(loafre__idx_oldest(x, *fld, 1004, lim, old_line, d), 0);
		}
	assert_int_equal(loafre__idx_totals(x, &tot), 0);
	d_add(d, "totals\n");
	owner_line(d, &tot);
	assert_int_equal(loafre__idx_multilinks(x, ml_line, &l), 0);
	l_flush(&l, d, "multilinks");
	assert_int_equal(loafre__idx_get_position(x, "t-MDT0000", &pos), 0);
	d_add(d, "position %" PRIu64 "\n", pos);
	d_add(d, "meta %d", loafre__idx_get_meta(x, "k", buf, sizeof(buf)));
	d_add(d, " %s\n", buf);
	d_add(d, "quotas\n");
	assert_int_equal(loafre__idx_quota_list(x, quota_line, d), 0);
	free(l.v);
}

static void test_pg_same_answers(void **state)
{
	struct fx *f = *state;
	static struct sa state_sa;
	struct sa *s = &state_sa;
	struct loafre_fid root = G(0);
	struct loafre__idx_attr a;
	struct dump d[2] = {{0}};
	char err[256];
	int ops = 0, bad = 0;

	memset(s, 0, sizeof(*s));
	s->r.s = 0x5eed5eed5eedull;
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_SQLITE, f->db, "t", LOAFRE__IDX_CREATE, &s->x[0],
					  err, sizeof(err)),
			 0);
	s->x[1] = f->x;
	BOTH(loafre__idx_begin(x_));
	a = sa_attr(&s->r, true);
	BOTH(loafre__idx_upsert(x_, &root, &a, 0));
	BOTH(loafre__idx_set_root(x_, &root));
	s->dir[0] = true;
	s->dirs[s->nd++] = 0;
	s->n = 1;
	while (s->n < SA_MAX) {
		sa_step(s);
		if (++ops % 400 == 0) {
			if (rnd(&s->r, 5) == 0) { /* some transactions are rolled back */
				BOTH(loafre__idx_rollback(x_));
			} else {
				BOTH(loafre__idx_commit(x_));
			}
			BOTH(loafre__idx_begin(x_));
		}
	}
	BOTH(loafre__idx_commit(x_));
	for (int k = 0; k < 2; k++) {
		char cerr[512];
		int r = loafre__idx_check(s->x[k], cerr, sizeof(cerr));

		if (r != 0)
			fprintf(stderr, "check %s: %s\n", k ? "postgresql" : "sqlite", cerr);
		bad += r != 0;
	}
	assert_int_equal(bad, 0);
	for (int k = 0; k < 2; k++)
		sa_dump(s, s->x[k], &d[k]);
	assert_true(d[0].n > 500000); /* a real comparison */
	if (strcmp(d[0].s, d[1].s) != 0) {
		size_t i = 0, line = 1, ls = 0;

		while (d[0].s[i] == d[1].s[i]) {
			if (d[0].s[i] == '\n') {
				line++;
				ls = i + 1;
			}
			i++;
		}
		fprintf(stderr, "answers differ at line %zu:\n sqlite:     %.300s\n postgresql: %.300s\n",
			line, d[0].s + ls, d[1].s + ls);
	}
	assert_string_equal(d[0].s, d[1].s);
	free(d[0].s);
	free(d[1].s);
	loafre__idx_close(s->x[0]);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int group_teardown(void **state)
{
	(void)state;
	pgfx_stop(&pg);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		IDX_SHARED_CASES(T),
		T(test_pg_open_errors_and_version),
		T(test_pg_check_detects),
		T(test_pg_other_writer),
		T(test_pg_big_transactions),
		T(test_pg_connection_lost),
		T(test_pg_roles),
		T(test_pg_bulk),
		T(test_pg_same_answers),
#undef T
	};
	char err[512];
	int r;

	(void)test_open_errors_and_version; /* SQLite's own (test_index_store) */
	(void)test_check_detects;
	(void)test_glob_literal;
	if (getenv("LOAFRE_TEST_FILTER")) /* one case: a cmocka glob of test names */
		cmocka_set_test_filter(getenv("LOAFRE_TEST_FILTER"));
	r = pgfx_start(&pg, err, sizeof(err));
	if (r == -ENOENT) {
		printf("# SKIP: no PostgreSQL to test against: %s\n", err);
		return 77;
	}
	if (r < 0) {
		fprintf(stderr, "cannot start a PostgreSQL server: %s\n", err);
		return 1;
	}
	tgt = (struct target){LOAFRE__IDX_POSTGRESQL, pg.conninfo, pg_reset};
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
