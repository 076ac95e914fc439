/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_index_names.c — the name search of the SQLite index store through
 * its base (lib/index_sqlite.c, NAME BASE; lib/index_trigram.c):
 *  - the trigram lists' codec (build, decode, intersect, malformed bytes);
 *  - answers through the base equal a full scan of the chunks (a query
 *    inside a write transaction scans every chunk) after random creates,
 *    hard links, renames, unlinks and deletions, with dirty and clean
 *    chunks, before and after a rebuild, case-sensitive and not;
 *  - the base is what answers for clean chunks (a chunk marked clean
 *    against the rule is not scanned), a dirty chunk is scanned;
 *  - candidates with the needle's trigrams but not the needle are no
 *    answer; keys of a chunk whose links were all deleted lead nowhere;
 *  - a bulk load (loafre scan) ends with a fresh base;
 *  - a corrupt base (a list that does not decode) or a missing one is
 *    ignored; the refresh policy (dirty share); a store made before the
 *    base gets it at the first writer's open.
 * Real SQLite stores in a temporary directory.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "index_backend.h"
#include "index_store.h"
#include "index_trigram.h"

#define DIRM 040755u
#define REGM 0100644u
#define MAXN 4000 /* entries: ids beyond 1024, so several chunks */

struct fx {
	char dir[64];            /* temporary directory */
	char db[128];            /* dir/index.db */
	struct loafre__idx *x;   /* the store, open read-write */
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/loafre-test-names-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/index.db", f->dir);
	if (loafre__idx_open(LOAFRE__IDX_SQLITE, f->db, "t", LOAFRE__IDX_CREATE, &f->x, err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	loafre__idx_close(f->x);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct loafre_fid F(uint32_t n)
{
	return (struct loafre_fid){0x200000400ull + n / 1000, n % 1000 + 1, 0};
}

static void mk(struct loafre__idx *x, uint32_t n, uint32_t mode)
{
	struct loafre_fid f = F(n);
	struct loafre__idx_attr a = {.mode = mode, .uid = 1000, .gid = 1000, .size = n,
				     .nlink = 1, .mtime_ns = 1700000000000000000ll, .dev = 0x803};

	a.ino = loafre__idx_fid_ino(&f);
	assert_int_equal(loafre__idx_upsert(x, &f, &a, 0), 0);
}

static void sql(struct fx *f, const char *text)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", text, msg);
	sqlite3_close(db);
}

static long long sql_int(struct fx *f, const char *text)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* ---- the codec ---------------------------------------------------------------- */

static int collect(void *ctx, uint32_t t, uint64_t n, const uint8_t *p, size_t len)
{
	uint64_t *out = ctx, keys[8];

	if (t != 0x616263) /* "abc" */
		return 0;
	assert_int_equal(n, 4);
	assert_int_equal(loafre__tri_decode(p, len, n, keys), 0);
	memcpy(out, keys, sizeof(*out) * 4);
	return 0;
}

static void test_codec(void **state)
{
	struct loafre__tri_builder *b = loafre__tri_builder_new();
	uint32_t tri[LOAFRE__TRI_MAX];
	uint64_t got[4] = {0}, a[5] = {1, 5, 300, 301, 1ull << 60}, out[4];
	/* 1, +299 (0xab 0x02), +1, +(2^60 - 301): the list of {1, 300, 301, 2^60} */
	uint8_t list[16] = {0x01, 0xab, 0x02, 0x01};
	size_t len = 4;
	uint64_t d = (1ull << 60) - 301;

	(void)state;
	while (d >= 0x80) {
		list[len++] = (uint8_t)(d | 0x80);
		d >>= 7;
	}
	list[len++] = (uint8_t)d;
	/* trigrams: anchored, folded, each once */
	assert_int_equal(loafre__tri_of("\0AbAbA\0", 7, tri, LOAFRE__TRI_MAX), 4);
	assert_int_equal(tri[0], 0x006162);
	assert_int_equal(tri[1], 0x616261);
	assert_int_equal(tri[2], 0x626162);
	assert_int_equal(tri[3], 0x626100);
	assert_int_equal(loafre__tri_of("ab", 2, tri, LOAFRE__TRI_MAX), 0);
	/* builder: increasing keys per trigram */
	assert_non_null(b);
	assert_int_equal(loafre__tri_builder_add(b, 0x616263, 7), 0);
	assert_int_equal(loafre__tri_builder_add(b, 0x616263, 7), -EINVAL);
	assert_int_equal(loafre__tri_builder_add(b, 0x616263, 200), 0);
	for (uint32_t t = 0; t < 20000; t++) /* rehashes */
		assert_int_equal(loafre__tri_builder_add(b, t * 977, 1), 0);
	assert_int_equal(loafre__tri_builder_add(b, 0x616263, 1000000), 0);
	assert_int_equal(loafre__tri_builder_add(b, 0x616263, UINT64_MAX), 0);
	assert_int_equal(loafre__tri_builder_each(b, collect, got), 0);
	assert_int_equal(got[0], 7);
	assert_int_equal(got[1], 200);
	assert_int_equal(got[2], 1000000);
	assert_true(got[3] == UINT64_MAX);
	loafre__tri_builder_free(b);
	loafre__tri_builder_free(NULL);
	/* decode, intersect */
	assert_int_equal(loafre__tri_decode(list, len, 4, out), 0);
	assert_true(out[0] == 1 && out[1] == 300 && out[2] == 301 && out[3] == 1ull << 60);
	assert_int_equal(loafre__tri_intersect(a, 5, list, len, 4), 4);
	assert_true(a[0] == 1 && a[1] == 300 && a[2] == 301 && a[3] == 1ull << 60);
	/* malformed */
	assert_int_equal(loafre__tri_decode(list, len, 3, out), -EBADMSG);   /* trailing */
	assert_int_equal(loafre__tri_decode(list, len, 5, out), -EBADMSG);   /* short */
	assert_int_equal(loafre__tri_decode(list, len - 1, 4, out), -EBADMSG); /* cut varint */
	{
		uint8_t zero[2] = {0x05, 0x00};  /* a zero difference */
		uint8_t over[2] = {0x85, 0x00};  /* overlong */
		uint8_t big[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
		uint8_t wrap[12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01};

		assert_int_equal(loafre__tri_decode(zero, 2, 2, out), -EBADMSG);
		assert_int_equal(loafre__tri_decode(over, 2, 1, out), -EBADMSG);
		assert_int_equal(loafre__tri_decode(big, 10, 1, out), -EBADMSG);
		assert_int_equal(loafre__tri_decode(wrap, 11, 2, out), -EBADMSG);
		assert_int_equal(loafre__tri_decode(wrap, 10, 1, out), 0);
		assert_true(out[0] == UINT64_MAX);
		assert_int_equal(loafre__tri_intersect(a, 4, zero, 2, 2), -EBADMSG);
	}
}

/* ---- a random tree ------------------------------------------------------------ */

struct ent {
	bool live;               /* exists */
	bool dir;                /* a directory */
	uint32_t parent;         /* its primary link's parent (0: unlinked) */
	char name[24];           /* and name */
	uint32_t xparent;        /* a second link (hard link, files): parent, 0: none */
	char xname[24];          /* its name */
};

struct tree {
	struct ent e[MAXN + 1];  /* by number; 1 is the root */
	uint32_t n;              /* numbers used */
	uint64_t rng;            /* xorshift state */
	uint32_t seq;            /* for unique names */
};

static uint32_t rnd(struct tree *t, uint32_t n)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return (uint32_t)(t->rng % n);
}

/* A name from few syllables (shared trigrams), mixed case, unique. */
static void rname(struct tree *t, char *buf, size_t cap)
{
	static const char *const syl[] = {"sol", "ver", "Dat", "run", "_", "1", "23", "MESH", "x"};
	size_t len = 0;
	int k = 1 + (int)rnd(t, 3);

	for (int i = 0; i < k; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s", syl[rnd(t, 9)]);
	snprintf(buf + len, cap - len, ".%u", t->seq++);
}

static uint32_t rdir(struct tree *t)
{
	for (;;) {
		uint32_t d = 1 + rnd(t, t->n);

		if (t->e[d].live && t->e[d].dir && (d == 1 || t->e[d].parent))
			return d;
	}
}

static void t_create(struct fx *f, struct tree *t, bool dir)
{
	uint32_t n, p;
	struct loafre_fid pf, cf;

	if (t->n >= MAXN)
		return;
	n = ++t->n;
	p = rdir(t);
	mk(f->x, n, dir ? DIRM : REGM);
	rname(t, t->e[n].name, sizeof(t->e[n].name));
	pf = F(p);
	cf = F(n);
	assert_int_equal(loafre__idx_link(f->x, &pf, t->e[n].name, &cf), 0);
	t->e[n].live = true;
	t->e[n].dir = dir;
	t->e[n].parent = p;
}

/* A random live file other than the root. */
static uint32_t rfile(struct tree *t)
{
	for (int tries = 0; tries < 100; tries++) {
		uint32_t n = 2 + rnd(t, t->n - 1);

		if (t->e[n].live && !t->e[n].dir && t->e[n].parent)
			return n;
	}
	return 0;
}

static void t_step(struct fx *f, struct tree *t)
{
	uint32_t k = rnd(t, 10), n;
	struct loafre_fid pf, cf;

	if (k < 4 || t->n < 20) {
		t_create(f, t, rnd(t, 6) == 0);
		return;
	}
	n = rfile(t);
	if (!n)
		return;
	cf = F(n);
	if (k < 6) { /* rename */
		uint32_t p = rdir(t);

		pf = F(t->e[n].parent);
		assert_int_equal(loafre__idx_unlink(f->x, &pf, t->e[n].name), 0);
		rname(t, t->e[n].name, sizeof(t->e[n].name));
		pf = F(p);
		assert_int_equal(loafre__idx_link(f->x, &pf, t->e[n].name, &cf), 0);
		t->e[n].parent = p;
	} else if (k < 7) { /* a hard link */
		if (t->e[n].xparent)
			return;
		t->e[n].xparent = rdir(t);
		rname(t, t->e[n].xname, sizeof(t->e[n].xname));
		pf = F(t->e[n].xparent);
		assert_int_equal(loafre__idx_link(f->x, &pf, t->e[n].xname, &cf), 0);
	} else if (k < 8 && t->e[n].xparent) { /* the hard link goes */
		pf = F(t->e[n].xparent);
		assert_int_equal(loafre__idx_unlink(f->x, &pf, t->e[n].xname), 0);
		t->e[n].xparent = 0;
	} else { /* deleted */
		assert_int_equal(loafre__idx_delete(f->x, &cf), 0);
		t->e[n].live = false;
	}
}

static void t_init(struct fx *f, struct tree *t, uint64_t seed, uint32_t files)
{
	struct loafre_fid root = F(1);

	memset(t, 0, sizeof(*t));
	t->rng = seed;
	t->n = 1;
	t->e[1].live = t->e[1].dir = true;
	assert_int_equal(loafre__idx_begin(f->x), 0);
	mk(f->x, 1, DIRM);
	assert_int_equal(loafre__idx_set_root(f->x, &root), 0);
	for (uint32_t i = 0; i < files; i++)
		t_create(f, t, i % 8 == 0);
	assert_int_equal(loafre__idx_commit(f->x), 0);
}

/* ---- answers ------------------------------------------------------------------ */

struct res {
	char (*s)[96];           /* "parent-fid/name/entry-fid" per hit */
	size_t n, cap;           /* used, allocated */
};

static int res_cb(void *ctx, const struct loafre_fid *parent, const char *name,
		  const struct loafre__idx_entry *e)
{
	struct res *r = ctx;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->s = realloc(r->s, r->cap * sizeof(*r->s));
		assert_non_null(r->s);
	}
	snprintf(r->s[r->n++], sizeof(*r->s), "%llx:%x/%s/%llx:%x", (unsigned long long)parent->f_seq,
		 parent->f_oid, name, (unsigned long long)e->fid.f_seq, e->fid.f_oid);
	return 0;
}

static int cmp_s(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The answer for needle: outside a transaction (through the base when it
 * can), or inside a write transaction (every chunk scanned). */
static void answer(struct fx *f, const char *needle, bool icase, bool scan, struct res *r)
{
	r->n = 0;
	if (scan)
		assert_int_equal(loafre__idx_begin(f->x), 0);
	assert_int_equal(loafre__idx_names(f->x, needle, icase, res_cb, r), 0);
	if (scan)
		assert_int_equal(loafre__idx_rollback(f->x), 0);
	if (r->n) /* r->s is NULL without hits: qsort's argument must not be */
		qsort(r->s, r->n, sizeof(*r->s), cmp_s);
}

/* Every needle: base answers == full scans; returns the hits in all. */
static size_t same_answers(struct fx *f, struct tree *t)
{
	static const char *const fixed[] = {"sol", "olv", "ver", "DAT", "dat", "_1", "23.", "MESH",
					    "mesh_", "x.1", "run23", "solver", "zzz", ".7"};
	struct res a = {0}, b = {0};
	size_t hits = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed) + 12; i++) {
		char buf[24];
		const char *needle = buf;

		if (i < sizeof(fixed) / sizeof(*fixed)) {
			needle = fixed[i];
		} else { /* a piece of a live name */
			uint32_t n = rfile(t);
			size_t len, off, k;

			if (!n)
				continue;
			len = strlen(t->e[n].name);
			off = rnd(t, (uint32_t)len);
			k = 1 + rnd(t, 6);
			if (off + k > len)
				k = len - off;
			memcpy(buf, t->e[n].name + off, k);
			buf[k] = '\0';
		}
		for (int icase = 0; icase < 2; icase++) {
			answer(f, needle, icase, false, &a);
			answer(f, needle, icase, true, &b);
			if (a.n != b.n)
				fail_msg("'%s' icase %d: %zu hits through the base, %zu scanned", needle,
					 icase, a.n, b.n);
			for (size_t j = 0; j < a.n; j++)
				assert_string_equal(a.s[j], b.s[j]);
			hits += a.n;
		}
	}
	free(a.s);
	free(b.s);
	return hits;
}

static int base_now(struct fx *f, unsigned pct)
{
	int r;

	assert_int_equal(loafre__idx_begin(f->x), 0);
	r = loafre__idx_names_base(f->x, pct);
	assert_int_equal(loafre__idx_commit(f->x), 0);
	return r;
}

#define DIRTY "SELECT count(*) FROM names WHERE tg IS NULL"
#define CHUNKS "SELECT count(*) FROM names"

static void test_random_equal_scan(void **state)
{
	struct fx *f = *state;
	static struct tree t;
	char err[512];

	t_init(f, &t, 0x9e3779b97f4a7c15ull, 2500);
	assert_true(sql_int(f, CHUNKS) >= 3);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM meta WHERE key='tri1'"), 0);
	assert_true(same_answers(f, &t) > 0); /* no base: scans */
	assert_int_equal(base_now(f, 0), 1);
	assert_int_equal(sql_int(f, DIRTY), 0);
	assert_true(sql_int(f, "SELECT value FROM meta WHERE key='tri1'") >= 2500);
	assert_true(same_answers(f, &t) > 0); /* every chunk clean */
	for (int round = 0; round < 12; round++) {
		assert_int_equal(loafre__idx_begin(f->x), 0);
		for (int i = 0; i < 60; i++) {
			if (round == 0)
				t_create(f, &t, false); /* new ids: the last chunk only */
			else
				t_step(f, &t);
		}
		assert_int_equal(loafre__idx_commit(f->x), 0);
		if (round == 0) {
			long long dirty = sql_int(f, DIRTY);

			/* some chunks rewritten, some not */
			assert_true(dirty > 0);
			assert_true(dirty < sql_int(f, CHUNKS));
		}
		same_answers(f, &t);
		if (round % 4 == 3)
			assert_int_equal(base_now(f, 0), 1);
	}
	assert_int_equal(loafre__idx_check(f->x, err, sizeof(err)), 0);
}

/* A chunk counted as clean is answered from the lists alone: a name added
 * behind the base's back is not found; marked dirty again, it is. */
static void test_clean_chunks_not_scanned(void **state)
{
	struct fx *f = *state;
	static struct tree t;
	struct res a = {0};
	struct loafre_fid root = F(1), c = F(9999);

	t_init(f, &t, 42, 100);
	assert_int_equal(base_now(f, 0), 1);
	assert_int_equal(loafre__idx_begin(f->x), 0);
	mk(f->x, 9999, REGM);
	assert_int_equal(loafre__idx_link(f->x, &root, "Unique-Qwerty", &c), 0);
	assert_int_equal(loafre__idx_commit(f->x), 0);
	answer(f, "qwert", true, false, &a);
	assert_int_equal(a.n, 1); /* its chunk is dirty: scanned */
	sql(f, "UPDATE names SET tg=1");
	answer(f, "qwert", true, false, &a);
	assert_int_equal(a.n, 0); /* against the rule: the lists do not have it */
	answer(f, "qwert", true, true, &a);
	assert_int_equal(a.n, 1);
	sql(f, "UPDATE names SET tg=NULL WHERE k=(SELECT id>>10 FROM entry WHERE name='Unique-Qwerty')");
	answer(f, "qwert", true, false, &a);
	assert_int_equal(a.n, 1);
	assert_int_equal(base_now(f, 0), 1);
	answer(f, "Qwert", false, false, &a);
	assert_int_equal(a.n, 1);
	assert_int_equal(sql_int(f, DIRTY), 0);
	free(a.s);
}

static void test_bad_base_ignored(void **state)
{
	struct fx *f = *state;
	static struct tree t;

	t_init(f, &t, 7, 1500);
	assert_int_equal(base_now(f, 0), 1);
	same_answers(f, &t);
	/* lists that do not decode: ignored, every chunk scanned */
	sql(f, "UPDATE tri SET p=x'ff' WHERE t IN (0x736f6c, 0x766572, 0x646174, 0x6d6573)");
	assert_true(same_answers(f, &t) > 0);
	sql(f, "UPDATE tri SET n=n+1");
	assert_true(same_answers(f, &t) > 0);
	sql(f, "UPDATE tri SET n=n-1");
	sql(f, "UPDATE tri SET n='many' WHERE t IN (0x736f6c, 0x766572, 0x646174, 0x6d6573)");
	assert_true(same_answers(f, &t) > 0);
	sql(f, "UPDATE meta SET value='1500' WHERE key='tri1'"); /* not an integer */
	assert_true(same_answers(f, &t) > 0);
	assert_int_equal(base_now(f, 90), 1); /* the policy: no usable base */
	/* a rebuild replaces it */
	assert_int_equal(base_now(f, 0), 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM tri WHERE p=x'ff'"), 0);
	same_answers(f, &t);
	/* no base at all (its meta row gone): scans */
	sql(f, "DELETE FROM meta WHERE key='tri1'; DELETE FROM tri");
	assert_true(same_answers(f, &t) > 0);
	/* the policy rebuilds a missing base */
	assert_int_equal(base_now(f, 90), 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM meta WHERE key='tri1'"), 1);
	same_answers(f, &t);
}

static void test_policy(void **state)
{
	struct fx *f = *state;
	static struct tree t;
	struct loafre_fid root = F(1);

	/* an empty store needs none */
	assert_int_equal(base_now(f, 25), 0);
	t_init(f, &t, 99, 3000);
	assert_int_equal(base_now(f, 25), 1); /* missing */
	assert_int_equal(base_now(f, 25), 0); /* fresh */
	/* one chunk of 3 or more dirty: under 50 %, at least 1 % */
	assert_int_equal(loafre__idx_begin(f->x), 0);
	mk(f->x, 3999, REGM);
	{
		struct loafre_fid c = F(3999);

		assert_int_equal(loafre__idx_link(f->x, &root, "late", &c), 0);
	}
	assert_int_equal(loafre__idx_commit(f->x), 0);
	assert_true(sql_int(f, DIRTY) >= 1);
	assert_int_equal(base_now(f, 50), 0);
	assert_int_equal(base_now(f, 1), 1);
	assert_int_equal(sql_int(f, DIRTY), 0);
	/* outside a transaction: -EINVAL; a read-only handle: -EROFS */
	assert_int_equal(loafre__idx_names_base(f->x, 0), -EINVAL);
	same_answers(f, &t);
}

/* A store made before the base (no tg column, no tri table) gets them at
 * the first writer's open; answers stay equal throughout. */
static void test_old_store(void **state)
{
	struct fx *f = *state;
	static struct tree t;
	struct loafre__idx *ro = NULL;
	char err[256];
	struct res a = {0}, b = {0};

	t_init(f, &t, 5, 1200);
	loafre__idx_close(f->x);
	f->x = NULL;
	sql(f, "DROP INDEX names_dirty; ALTER TABLE names DROP COLUMN tg; DROP TABLE tri;");
	assert_int_equal(sql_int(f, "SELECT count(*) FROM pragma_table_info('names') WHERE "
				    "name='tg'"),
			 0);
	/* a reader of the old layout: scans */
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_SQLITE, f->db, NULL, LOAFRE__IDX_READONLY,
					  &ro, err, sizeof(err)),
			 0);
	assert_int_equal(loafre__idx_names(ro, "sol", true, res_cb, &a), 0);
	assert_true(a.n > 0);
	loafre__idx_close(ro);
	assert_int_equal(loafre__idx_open(LOAFRE__IDX_SQLITE, f->db, "t", 0, &f->x, err,
					  sizeof(err)),
			 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM pragma_table_info('names') WHERE "
				    "name='tg'"),
			 1);
	assert_int_equal(sql_int(f, DIRTY), sql_int(f, CHUNKS));
	same_answers(f, &t);
	assert_int_equal(base_now(f, 0), 1);
	same_answers(f, &t);
	answer(f, "sol", true, false, &b);
	assert_int_equal(a.n, b.n);
	free(a.s);
	free(b.s);
}

/* Candidates that have every trigram of the needle but not the needle
 * ("abc_bcd" for "abcd"), one or two per chunk (checked against their
 * rows, not by a chunk scan), are not answers; case folding of the lists
 * serves -i and the exact case alike. */
static void test_false_positives(void **state)
{
	struct fx *f = *state;
	struct loafre_fid root = F(1);
	static const struct {
		uint32_t at;             /* after this many fillers */
		const char *name;
	} odd[] = {{10, "abc_bcd"}, {1100, "abcd"}, {1200, "bcd-abc"}, {2100, "xabcdx"},
		   {2900, "ABCD"}, {2950, "abCd.bcd"}};
	struct res a = {0}, b = {0};
	size_t k = 0;

	assert_int_equal(loafre__idx_begin(f->x), 0);
	mk(f->x, 1, DIRM);
	assert_int_equal(loafre__idx_set_root(f->x, &root), 0);
	for (uint32_t i = 2; i < 3200; i++) {
		struct loafre_fid c = F(i);
		char name[32];

		mk(f->x, i, REGM);
		if (k < sizeof(odd) / sizeof(*odd) && odd[k].at == i)
			snprintf(name, sizeof(name), "%s", odd[k++].name);
		else
			snprintf(name, sizeof(name), "file_%u.dat", i);
		assert_int_equal(loafre__idx_link(f->x, &root, name, &c), 0);
	}
	assert_int_equal(loafre__idx_commit(f->x), 0);
	assert_int_equal(base_now(f, 0), 1);
	answer(f, "abcd", false, false, &a);
	answer(f, "abcd", false, true, &b);
	assert_int_equal(a.n, 2); /* abcd, xabcdx */
	assert_int_equal(b.n, 2);
	answer(f, "abcd", true, false, &a);
	answer(f, "abcd", true, true, &b);
	assert_int_equal(a.n, 4); /* and ABCD, abCd.bcd */
	assert_int_equal(b.n, 4);
	for (size_t i = 0; i < a.n; i++)
		assert_string_equal(a.s[i], b.s[i]);
	answer(f, "ABCD", false, false, &a);
	assert_int_equal(a.n, 1);
	free(a.s);
	free(b.s);
}

/* Every link of a chunk deleted: its row goes (no dirty mark), its keys
 * stay in the lists; they lead to no row and are no answer. */
static void test_deleted_chunk(void **state)
{
	struct fx *f = *state;
	struct loafre_fid root = F(1);
	struct res a = {0}, b = {0};
	static const char *const needles[] = {"file_1500.", "file_15", "file_1", ".dat", "e_2"};

	assert_int_equal(loafre__idx_begin(f->x), 0);
	mk(f->x, 1, DIRM);
	assert_int_equal(loafre__idx_set_root(f->x, &root), 0);
	for (uint32_t i = 2; i < 3200; i++) {
		struct loafre_fid c = F(i);
		char name[32];

		mk(f->x, i, REGM);
		snprintf(name, sizeof(name), "file_%u.dat", i);
		assert_int_equal(loafre__idx_link(f->x, &root, name, &c), 0);
	}
	assert_int_equal(loafre__idx_commit(f->x), 0);
	assert_int_equal(base_now(f, 0), 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM names WHERE k=1"), 1);
	assert_int_equal(loafre__idx_begin(f->x), 0);
	for (uint32_t i = 1000; i < 2100; i++) {
		struct loafre_fid c = F(i);

		assert_int_equal(loafre__idx_delete(f->x, &c), 0);
	}
	assert_int_equal(loafre__idx_commit(f->x), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM names WHERE k=1"), 0);
	for (size_t i = 0; i < sizeof(needles) / sizeof(*needles); i++) {
		answer(f, needles[i], false, false, &a);
		answer(f, needles[i], false, true, &b);
		assert_int_equal(a.n, b.n);
		for (size_t j = 0; j < a.n; j++)
			assert_string_equal(a.s[j], b.s[j]);
	}
	answer(f, "file_1500.", false, false, &a);
	assert_int_equal(a.n, 0);
	answer(f, "file_2500.", false, false, &a);
	assert_int_equal(a.n, 1);
	free(a.s);
	free(b.s);
}

/* A bulk load (loafre scan) ends with a fresh base. */
static void test_bulk_end_builds(void **state)
{
	struct fx *f = *state;
	struct loafre_fid root = F(1);
	struct res a = {0}, b = {0};

	assert_int_equal(loafre__idx_begin(f->x), 0);
	assert_int_equal(loafre__idx_bulk_begin(f->x), 0);
	mk(f->x, 1, DIRM);
	assert_int_equal(loafre__idx_set_root(f->x, &root), 0);
	for (uint32_t i = 2; i < 3000; i++) {
		struct loafre_fid c = F(i);
		char name[32];

		mk(f->x, i, REGM);
		snprintf(name, sizeof(name), "file_%u.dat", i * 7);
		assert_int_equal(loafre__idx_link(f->x, &root, name, &c), 0);
	}
	assert_int_equal(loafre__idx_bulk_end(f->x), 0);
	assert_int_equal(loafre__idx_commit(f->x), 0);
	assert_int_equal(sql_int(f, "SELECT value FROM meta WHERE key='tri1'"), 2998);
	assert_int_equal(sql_int(f, DIRTY), 0);
	answer(f, "_777", false, false, &a);
	answer(f, "_777", false, true, &b);
	assert_true(a.n > 0);
	assert_int_equal(a.n, b.n);
	free(a.s);
	free(b.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_random_equal_scan),
		T(test_clean_chunks_not_scanned),
		T(test_bad_base_ignored),
		T(test_policy),
		T(test_old_store),
		T(test_bulk_end_builds),
		T(test_false_positives),
		T(test_deleted_chunk),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
