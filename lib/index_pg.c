/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_pg.c — the PostgreSQL backend of the metadata index (lib/
 * index_store.h; the model's rules live in lib/index_store.c, the split in
 * lib/index_backend.h; the SQLite backend, lib/index_sqlite.c, gives the
 * same answers from another layout). libpq, PostgreSQL >= 10.
 *
 * WHERE. `where` is a libpq conninfo ("host=/run/postgresql dbname=loafre
 * user=loafre", or a postgresql:// URI); fallback_application_name is
 * "loafre". One database may hold several filesystems: each store is the
 * schema "loafre_FSNAME" (FSNAME: 1-56 bytes of [A-Za-z0-9_-], quoted as
 * an identifier). The session's search_path is that schema, so the SQL
 * below names tables unqualified. Strings that come from the filesystem
 * (names, jobids, symlink targets, MDT names, the caller's meta values) are
 * bytea: any bytes, whatever the database's encoding, compared bytewise
 * (memcmp, then length: the order SQLite's BINARY collation gives).
 *
 * SCHEMA (format version 1, in meta 'format'; another value, or a schema
 * with tables but no meta: -EPROTO and nothing is written):
 *
 *   meta(key text PRIMARY KEY, value text NOT NULL)
 *       'format' '1'
 *       'fsname' the filesystem
 *       'root'   root FID, 32 hex digits: f_seq (16), f_oid (8), f_ver (8)
 *       'gen'    token of the last committed write transaction (below)
 *       'names'  'trgm' when the name indexes exist, 'scan' when pg_trgm
 *                was not available at creation (names/select then scan)
 *   position(mdt bytea PRIMARY KEY, idx bigint NOT NULL)
 *   kv(key bytea PRIMARY KEY, value bytea NOT NULL)   the caller's meta values
 *   entry(id bigint PRIMARY KEY,             -- the entry id of index_backend.h
 *         parent bigint,                     -- primary link (NULL: none)
 *         size, blocks, mtime, atime, ctime, -- bigint: st_size, st_blocks, ns
 *         uid, gid, nlink, ino, dev, mdt,    -- bigint
 *         mode integer, nxlinks integer,     -- st_mode; number of xlinks
 *         fid bytea,                         -- 16 bytes: f_seq, f_oid, f_ver
 *                                            -- big-endian (FID order)
 *         name bytea,                        -- primary link (NULL: none)
 *         jobid bytea, symlink bytea)        -- NULL when none
 *       WITH (fillfactor = 90): room in each page for HOT updates (an
 *       attribute change that touches no indexed column updates no index)
 *       Unsigned 64-bit values are stored as their two's-complement bit
 *       pattern (st_size >= 2^63 reads back intact; filters clamp to
 *       INT64_MAX as SQLite's do).
 *     entry_fid  UNIQUE (fid)                  FID → id
 *     entry_link UNIQUE (parent, name)         lookups, children in name order
 *     entry_us   (uid, size)                   find -user / -size
 *     entry_names GIN (encode(name,'escape') gin_trgm_ops)   [pg_trgm]
 *   xlink(xid bigint PRIMARY KEY DEFAULT nextval('xlink_xid'),
 *         parent bigint NOT NULL, child bigint NOT NULL, name bytea NOT NULL)
 *     xlink_link UNIQUE (parent, name); xlink_child (child, xid);
 *     xlink_names GIN (encode(name,'escape') gin_trgm_ops)    [pg_trgm]
 *   dirsum(id bigint PRIMARY KEY, blocks, bytes, inodes bigint NOT NULL)
 *   quota(fid bytea PRIMARY KEY, bytes_limit bigint, inodes_limit bigint,
 *         over boolean)
 *   SEQUENCE entry_id INCREMENT BY 1024: a handle takes a block of 1024 ids
 *       per nextval and hands them out itself (ids are never reused)
 *   SEQUENCE xlink_xid: xids, taken under the write lock, so they grow in
 *       commit order (index_backend.h: a smaller xid is an older link)
 *
 * NAME SEARCH. encode(name,'escape') is the name as ASCII text (bytes >=
 * 0x80 as \ooo, '\' doubled), a substring-preserving image of the bytes;
 * pg_trgm's GIN index on it answers LIKE/ILIKE '%literal%' (and prefix,
 * suffix, exact) with candidates that the backend checks exactly in C
 * (memmem, ASCII case folding, fnmatch(3)). pg_trgm is installed at
 * creation if missing (schema "loafre", which no store can be named); when
 * that fails (not installed, or the role may not create extensions) the
 * store has no name indexes (meta 'names' = 'scan') and the same queries
 * scan the tables. ILIKE folds case by the database's locale: ASCII
 * except in Turkish locales, where the candidates may miss 'I'/'i'.
 *
 * TRANSACTIONS. begin = BEGIN (READ COMMITTED) + LOCK TABLE meta IN
 * EXCLUSIVE MODE: one writer at a time per store; readers are never
 * blocked (they take ACCESS SHARE only). The lock wait is bounded by
 * lock_timeout = the busy timeout: SQLSTATE 55P03 → -EBUSY. Queries outside
 * a write transaction run in BEGIN ISOLATION LEVEL REPEATABLE READ READ
 * ONLY (one snapshot). A failed statement, a serialization failure, a lost
 * connection: -EIO with the server's message in errmsg (the connection is
 * re-established at the next begin or query). clear() is TRUNCATE: it waits
 * for readers' transactions to end, blocks new ones until commit, and
 * readers whose snapshot predates it see empty tables afterwards (the
 * documented TRUNCATE caveat; a rescan is rare). changed() (index_backend.h)
 * compares meta 'gen', read at begin, with the token this handle last
 * wrote or read.
 *
 * SESSION. search_path = the store's schema; jit off (compiling costs more
 * than these queries); work_mem 32MB (sorts and hashes of large results
 * stay in memory); cursor_tuple_fraction 1 (cursors are read to the end);
 * notices are dropped (library code does not log); a read-only handle sets
 * default_transaction_read_only. Every read-write open (and clear) builds
 * the indexes a bulk load dropped if a load was abandoned.
 *
 * BULK WORK. Inside a write transaction new entries are kept in a buffer
 * (up to BUF_ROWS rows, BUF_ARENA bytes of strings) and answered from it
 * (by FID, by id, by primary link); they reach the table in one binary COPY
 * when the buffer fills, before any operation that reads the tables in
 * bulk or changes a buffered row in a way the buffer does not track, and
 * at commit. Negative lookups (a FID or a link the store does not have:
 * every entry of a scan) are answered without a round trip by a Bloom
 * filter of every FID and link ever written, kept while the handle knows
 * it has seen every write: it starts when the handle finds the store
 * empty (begin) or empties it (clear), and stays valid across
 * transactions as long as meta 'gen' at begin is the token this handle
 * wrote at its last commit (every writer writes a new random token at
 * commit). A rollback of the transaction that started it drops it; past
 * KNOW_MAX_BYTES it is dropped (lookups then ask the server).
 * Writers that bypass loafre are not seen: do not write these tables by
 * hand while a loafre writer runs. seq_max (new FIDs above a sequence's
 * largest f_oid) asks the table once per sequence and transaction and
 * adds the transaction's own inserts. A bulk load (bulk_begin .. bulk_end)
 * drops entry_us and entry_names, which no op of the model reads, and
 * builds them (maintenance_work_mem 256MB) and ANALYZEs at its end. After
 * a commit that at least doubled the rows the handle wrote since its last
 * ANALYZE (ANALYZE_MIN at least), it runs one: without statistics the
 * planner hashes all of entry for a parent join (4x slower).
 *
 * QUERIES. Point lookups are prepared statements (binary parameters and
 * results). Listings go by keyset pages (children by name, the checker's
 * scans by id), so callbacks may nest queries. select() and names() are
 * one SQL statement (primary links UNION ALL xlinks, each joined to its
 * parent for the parent's FID) with every constraint of the filter and
 * the glob's literal as LIKE on the name image; the planner picks
 * entry_us, the trigram index or a scan. Their rows, and the reports',
 * come whole when the result is small (the planner's estimate, then a
 * LIMIT: one statement may use parallel workers) and through a cursor
 * (FETCH FETCH_ROWS) otherwise (struct rows).
 */
#include "index_pg.h"

#include <endian.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <xxhash.h>

#include "util.h"

#define FORMAT_VERSION "1"
#define SCHEMA_PREFIX "loafre_"
#define TRGM_SCHEMA "loafre" /* where pg_trgm goes when loafre installs it (no store's name) */
#define FSNAME_MAX (63 - 7)       /* identifier limit minus the prefix */
#define BUSY_MS_DEFAULT 5000
#define ID_BLOCK 1024             /* ids per nextval('entry_id'): the sequence's INCREMENT */
#define ID_BLOCK_STR "1024"
#define BUF_ROWS 65536            /* buffered new entries before a COPY */
#define BUF_ARENA (16u << 20)     /* bytes of their strings before a COPY */
#define BUF_SLOTS (2 * BUF_ROWS)  /* hash slots (load <= 1/2) */
#define FETCH_ROWS 4096           /* rows per cursor FETCH */
#define PROBE_ROWS 16384          /* results taken whole before a cursor is used */
#define PAGE_ROWS 4096            /* rows per keyset page */
#define KNOW_MAX_BYTES (64u << 20) /* Bloom filter memory before it is dropped */
#define KNOW_FIRST (1u << 16)     /* keys of the first Bloom layer */
#define KNOW_PROBES 7             /* bits per key (10 bits/key: ~1 % false positives) */
#define COPY_CHUNK (256u << 10)   /* bytes per PQputCopyData */
#define ANALYZE_MIN 50000         /* rows added before an ANALYZE after commit */

#define ECOLS                                                                                     \
	"id,parent,size,blocks,mtime,atime,ctime,uid,gid,nlink,ino,dev,mdt,mode,nxlinks,fid,name," \
	"jobid,symlink"
#define ECOLS_E                                                                                   \
	"e.id,e.parent,e.size,e.blocks,e.mtime,e.atime,e.ctime,e.uid,e.gid,e.nlink,e.ino,e.dev,"   \
	"e.mdt,e.mode,e.nxlinks,e.fid,e.name,e.jobid,e.symlink"
#define NCOLS 19

/* The schema's tables and indexes (the trigram indexes are separate). */
static const char schema_sql[] =
	"CREATE TABLE meta(key text PRIMARY KEY, value text NOT NULL);"
	"CREATE TABLE position(mdt bytea PRIMARY KEY, idx bigint NOT NULL);"
	"CREATE TABLE kv(key bytea PRIMARY KEY, value bytea NOT NULL);"
	"CREATE SEQUENCE entry_id INCREMENT BY " ID_BLOCK_STR " MINVALUE 1 START 1;"
	"CREATE SEQUENCE xlink_xid MINVALUE 1 START 1;"
	"CREATE TABLE entry(id bigint PRIMARY KEY, parent bigint, size bigint NOT NULL,"
	" blocks bigint NOT NULL, mtime bigint NOT NULL, atime bigint NOT NULL,"
	" ctime bigint NOT NULL, uid bigint NOT NULL, gid bigint NOT NULL, nlink bigint NOT NULL,"
	" ino bigint NOT NULL, dev bigint NOT NULL, mdt bigint NOT NULL, mode integer NOT NULL,"
	" nxlinks integer NOT NULL DEFAULT 0, fid bytea NOT NULL, name bytea, jobid bytea,"
	" symlink bytea) WITH (fillfactor = 90);"
	"CREATE UNIQUE INDEX entry_fid ON entry(fid);"
	"CREATE UNIQUE INDEX entry_link ON entry(parent, name);"
	"CREATE INDEX entry_us ON entry(uid, size);"
	"CREATE TABLE xlink(xid bigint PRIMARY KEY DEFAULT nextval('xlink_xid'),"
	" parent bigint NOT NULL, child bigint NOT NULL, name bytea NOT NULL);"
	"CREATE UNIQUE INDEX xlink_link ON xlink(parent, name);"
	"CREATE INDEX xlink_child ON xlink(child, xid);"
	"CREATE TABLE dirsum(id bigint PRIMARY KEY, blocks bigint NOT NULL, bytes bigint NOT NULL,"
	" inodes bigint NOT NULL);"
	"CREATE TABLE quota(fid bytea PRIMARY KEY, bytes_limit bigint NOT NULL,"
	" inodes_limit bigint NOT NULL, over boolean NOT NULL);"
	"INSERT INTO meta(key, value) VALUES('format', '" FORMAT_VERSION "'), ('gen', '0');";

enum stmt {
	S_BY_FID,
	S_BY_ID,
	S_INSERT,
	S_UPDATE,
	S_SET_JOBID,
	S_SET_LINK,
	S_DELETE,
	S_LINK_GET,
	S_XLINKS_OF,
	S_XLINK_INS,
	S_XLINK_INS1,
	S_XLINK_DEL,
	S_NXL_ADD,
	S_CHILDREN,
	S_DIRSUM_GET,
	S_DIRSUM_ADD,
	S_DIRSUM_DEL,
	S_META_GET,
	S_META_PUT,
	S_POS_GET,
	S_POS_SET,
	S_KV_GET,
	S_KV_SET,
	S_KV_DEL,
	S_ID_BLOCK,
	S_ROOT_ID,
	S_SCAN_ENTRIES,
	S_SCAN_XLINKS,
	S_SCAN_DIRSUMS,
	S_QUOTA_SET,
	S_QUOTA_RM,
	S_QUOTA_LIST,
	S_QUOTA_MARK,
	S_SEQ_MAX,
	S_DIRS,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_BY_FID] = "SELECT " ECOLS " FROM entry WHERE fid=$1::bytea",
	[S_BY_ID] = "SELECT " ECOLS " FROM entry WHERE id=$1::int8",
	[S_INSERT] = "INSERT INTO entry(" ECOLS ") VALUES($1::int8,$2::int8,$3::int8,$4::int8,"
		     "$5::int8,$6::int8,$7::int8,$8::int8,$9::int8,$10::int8,$11::int8,$12::int8,"
		     "$13::int8,$14::int4,$15::int4,$16::bytea,$17::bytea,$18::bytea,$19::bytea)",
	[S_UPDATE] = "UPDATE entry SET size=$2::int8,blocks=$3::int8,mtime=$4::int8,atime=$5::int8,"
		     "ctime=$6::int8,uid=$7::int8,gid=$8::int8,nlink=$9::int8,ino=$10::int8,"
		     "dev=$11::int8,mdt=$12::int8,mode=$13::int4,symlink=$14::bytea WHERE id=$1::int8",
	[S_SET_JOBID] = "UPDATE entry SET jobid=$2::bytea WHERE id=$1::int8",
	[S_SET_LINK] = "UPDATE entry SET parent=$2::int8,name=$3::bytea WHERE id=$1::int8",
	[S_DELETE] = "WITH e AS (DELETE FROM entry WHERE id=$1::int8 RETURNING fid),"
		     " x AS (DELETE FROM xlink WHERE child=$1::int8),"
		     " d AS (DELETE FROM dirsum WHERE id=$1::int8),"
		     " q AS (DELETE FROM quota WHERE fid IN (SELECT fid FROM e))"
		     " SELECT count(*) FROM e",
	[S_LINK_GET] = "SELECT id,0::int8 FROM entry WHERE parent=$1::int8 AND name=$2::bytea"
		       " UNION ALL SELECT child,xid FROM xlink WHERE parent=$1::int8 AND name=$2::bytea",
	[S_XLINKS_OF] = "SELECT xid,parent,name FROM xlink WHERE child=$1::int8 ORDER BY xid",
	[S_XLINK_INS] = "WITH i AS (INSERT INTO xlink(parent,name,child) VALUES($1::int8,$2::bytea,"
			"$3::int8)) UPDATE entry SET nxlinks=nxlinks+1 WHERE id=$3::int8",
	[S_XLINK_INS1] = "INSERT INTO xlink(parent,name,child) VALUES($1::int8,$2::bytea,$3::int8)",
	[S_XLINK_DEL] = "WITH d AS (DELETE FROM xlink WHERE xid=$1::int8 RETURNING child),"
			" u AS (UPDATE entry SET nxlinks=nxlinks-1 WHERE id IN (SELECT child FROM d))"
			" SELECT child FROM d",
	[S_NXL_ADD] = "UPDATE entry SET nxlinks=nxlinks+$2::int4 WHERE id=$1::int8",
	[S_CHILDREN] = "SELECT * FROM (SELECT e.name AS lname,0::int8 AS lxid," ECOLS_E
		       " FROM entry e WHERE e.parent=$1::int8 AND e.name>$2::bytea"
		       " UNION ALL SELECT x.name,x.xid," ECOLS_E " FROM xlink x JOIN entry e"
		       " ON e.id=x.child WHERE x.parent=$1::int8 AND x.name>$2::bytea) c"
		       " ORDER BY lname LIMIT $3::int8",
	[S_DIRSUM_GET] = "SELECT blocks,bytes,inodes FROM dirsum WHERE id=$1::int8",
	[S_DIRSUM_ADD] = "INSERT INTO dirsum(id,blocks,bytes,inodes) SELECT * FROM"
			 " unnest($1::int8[],$2::int8[],$3::int8[],$4::int8[])"
			 " ON CONFLICT (id) DO UPDATE SET blocks=dirsum.blocks+EXCLUDED.blocks,"
			 " bytes=dirsum.bytes+EXCLUDED.bytes, inodes=dirsum.inodes+EXCLUDED.inodes",
	[S_DIRSUM_DEL] = "DELETE FROM dirsum WHERE id=$1::int8",
	[S_META_GET] = "SELECT value FROM meta WHERE key=$1::text",
	[S_META_PUT] = "INSERT INTO meta(key,value) VALUES($1::text,$2::text)"
		       " ON CONFLICT (key) DO UPDATE SET value=EXCLUDED.value",
	[S_POS_GET] = "SELECT idx FROM position WHERE mdt=$1::bytea",
	[S_POS_SET] = "INSERT INTO position(mdt,idx) VALUES($1::bytea,$2::int8)"
		      " ON CONFLICT (mdt) DO UPDATE SET idx=EXCLUDED.idx",
	[S_KV_GET] = "SELECT value FROM kv WHERE key=$1::bytea",
	[S_KV_SET] = "INSERT INTO kv(key,value) VALUES($1::bytea,$2::bytea)"
		     " ON CONFLICT (key) DO UPDATE SET value=EXCLUDED.value",
	[S_KV_DEL] = "DELETE FROM kv WHERE key=$1::bytea",
	[S_ID_BLOCK] = "SELECT nextval('entry_id')",
	[S_ROOT_ID] = "SELECT e.id FROM meta m JOIN entry e ON e.fid=decode(m.value,'hex')"
		      " WHERE m.key='root'",
	[S_SCAN_ENTRIES] = "SELECT " ECOLS " FROM entry WHERE id>$1::int8 ORDER BY id LIMIT $2::int8",
	[S_SCAN_XLINKS] = "SELECT xid,parent,name,child FROM xlink WHERE (child,xid)>($1::int8,"
			  "$2::int8) ORDER BY child,xid LIMIT $3::int8",
	[S_SCAN_DIRSUMS] = "SELECT id,blocks,bytes,inodes FROM dirsum WHERE id>$1::int8 ORDER BY id"
			   " LIMIT $2::int8",
	[S_DIRS] = "SELECT d.id,e.parent,e.fid,e.name FROM dirsum d JOIN entry e ON e.id=d.id"
		   " WHERE d.id>$1::int8 ORDER BY d.id LIMIT $2::int8",
	[S_QUOTA_SET] = "INSERT INTO quota(fid,bytes_limit,inodes_limit,over) VALUES($1::bytea,"
			"$2::int8,$3::int8,$4::bool) ON CONFLICT (fid) DO UPDATE SET"
			" bytes_limit=EXCLUDED.bytes_limit,inodes_limit=EXCLUDED.inodes_limit,"
			" over=EXCLUDED.over",
	[S_QUOTA_RM] = "DELETE FROM quota WHERE fid=$1::bytea",
	[S_QUOTA_LIST] = "SELECT fid,bytes_limit,inodes_limit,over FROM quota ORDER BY fid",
	[S_QUOTA_MARK] = "UPDATE quota SET over=$2::bool WHERE fid=$1::bytea",
	[S_SEQ_MAX] = "SELECT fid FROM entry WHERE fid BETWEEN $1::bytea AND $2::bytea ORDER BY fid DESC"
		      " LIMIT 1",
};

/* A new entry waiting in the buffer for its COPY. */
struct brow {
	int64_t id;                 /* its id */
	int64_t parent;             /* primary link's directory; 0: none */
	struct loafre_fid fid;      /* its FID */
	struct loafre__idx_attr a;  /* attributes (a.symlink unused: sym_off) */
	uint32_t mdt;               /* MDT index */
	uint32_t nxlinks;           /* xlinks (inserted directly in xlink) */
	uint32_t name_off, jobid_off, sym_off; /* strings in the arena */
	int32_t name_len, jobid_len, sym_len;  /* their lengths; -1: none */
};

/* The buffer of new entries (write transactions only). */
struct ibuf {
	struct brow *rows;          /* BUF_ROWS rows, allocated at first use */
	size_t n;                   /* used */
	char *arena;                /* strings */
	size_t alen, acap;          /* used, allocated */
	uint64_t *h_fid, *h_id, *h_link; /* BUF_SLOTS slots each: gen << 32 | row + 1 */
	size_t nlink_keys;          /* entries put in h_link (stale ones too) */
	uint32_t gen;               /* current generation of the slots */
};

/* What a write transaction knows of one f_seq (seq_max without a query). */
struct seqent {
	uint64_t seq;               /* the sequence */
	uint32_t db_max;            /* largest f_oid in the table when asked (db_has) */
	uint32_t ins_max;           /* largest f_oid this transaction inserted (ins_has) */
	bool used, db_known, db_has, ins_has; /* slot taken; db_max asked; values valid */
};

/* A layer of the Bloom filter. */
struct layer {
	uint64_t *bits;             /* nbits bits */
	uint64_t mask;              /* nbits - 1 (nbits a power of two) */
	size_t cap, n;              /* keys it is sized for, keys added */
};

/* What the handle knows about the store's keys (head comment, BULK WORK). */
struct know {
	bool valid;                 /* every FID and link of the store is in the filter */
	bool fresh;                 /* (re)started in the current transaction */
	struct layer *l;            /* layers, the last one filling */
	size_t nl;                  /* their number */
	size_t bytes;               /* their memory */
};

struct pg {
	PGconn *c;                  /* the connection */
	char *conninfo;             /* `where` (for reconnecting) */
	char schema[sizeof(SCHEMA_PREFIX) + FSNAME_MAX]; /* "loafre_FSNAME" */
	char *qschema;              /* the same, quoted as an identifier */
	char desc[256];             /* "dbname=... host=..." for messages (no password) */
	bool readonly;              /* LOAFRE__IDX_READONLY */
	bool in_txn;                /* a write transaction is open */
	bool in_read;               /* a read snapshot is open */
	unsigned busy_ms;           /* lock_timeout */
	bool prepared[S_COUNT];     /* statements prepared on this connection */
	unsigned cursors;           /* cursor names handed out */
	int64_t id_next, id_end;    /* the current block of ids: [next, end] */
	struct ibuf b;              /* new entries not yet copied */
	struct know k;              /* the Bloom filter */
	struct seqent *sm;          /* f_seq → largest f_oid, open addressing (txn only) */
	size_t sm_mask, sm_n;       /* slots - 1, used */
	uint64_t tok_rand;          /* random part of this handle's gen tokens */
	uint64_t tok_count;         /* commits so far */
	char token[48];             /* meta 'gen' as this handle last wrote or read it */
	bool changed;               /* begin found another handle's commit since the last one */
	uint64_t txn_rows;          /* entries copied or inserted in this transaction */
	uint64_t an_rows, an_base;  /* committed so far; at this handle's last ANALYZE */
	char jobid[LOAFRE__IDX_JOBID_MAX + 1];     /* entry_by_* strings (copies) */
	char symlink[LOAFRE__IDX_SYMLINK_MAX + 1]; /* idem */
	char errmsg[512];           /* last backend error */
};

/* ---- bytes ------------------------------------------------------------------ */

static void put_be64(unsigned char *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static void put_be32(unsigned char *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static uint32_t get_be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static void fid_bytes(const struct loafre_fid *f, unsigned char b[16])
{
	put_be64(b, f->f_seq);
	put_be32(b + 8, f->f_oid);
	put_be32(b + 12, f->f_ver);
}

static void fid_from_bytes(const unsigned char *b, struct loafre_fid *f)
{
	f->f_seq = get_be64(b);
	f->f_oid = get_be32(b + 8);
	f->f_ver = get_be32(b + 12);
}

static int64_t clamp64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* ---- parameters (binary) ------------------------------------------------------ */

#define NPARAM_MAX 24
struct prm {
	const char *v[NPARAM_MAX];  /* values */
	int len[NPARAM_MAX];        /* lengths */
	int fmt[NPARAM_MAX];        /* 1: binary */
	int n;                      /* count */
	unsigned char st[NPARAM_MAX][16]; /* storage of fixed-size values */
};

static void p_i64(struct prm *p, int64_t v)
{
	put_be64(p->st[p->n], (uint64_t)v);
	p->v[p->n] = (const char *)p->st[p->n];
	p->len[p->n] = 8;
	p->fmt[p->n++] = 1;
}

static void p_i32(struct prm *p, int32_t v)
{
	put_be32(p->st[p->n], (uint32_t)v);
	p->v[p->n] = (const char *)p->st[p->n];
	p->len[p->n] = 4;
	p->fmt[p->n++] = 1;
}

static void p_bool(struct prm *p, bool v)
{
	p->st[p->n][0] = v;
	p->v[p->n] = (const char *)p->st[p->n];
	p->len[p->n] = 1;
	p->fmt[p->n++] = 1;
}

static void p_fid(struct prm *p, const struct loafre_fid *f)
{
	fid_bytes(f, p->st[p->n]);
	p->v[p->n] = (const char *)p->st[p->n];
	p->len[p->n] = 16;
	p->fmt[p->n++] = 1;
}

/* Bytes (bytea, or text in the connection's encoding); NULL: SQL NULL. */
static void p_bytes(struct prm *p, const void *b, size_t n)
{
	p->v[p->n] = b;
	p->len[p->n] = (int)n;
	p->fmt[p->n++] = 1;
}

static void p_str(struct prm *p, const char *s)
{
	p_bytes(p, s, s ? strlen(s) : 0);
}

/* ---- results -------------------------------------------------------------------- */

/* An integer column of any width (binary), 0 for NULL. */
static int64_t gi(const PGresult *res, int row, int col)
{
	const unsigned char *v;

	if (PQgetisnull(res, row, col))
		return 0;
	v = (const unsigned char *)PQgetvalue(res, row, col);
	switch (PQgetlength(res, row, col)) {
	case 8:
		return (int64_t)get_be64(v);
	case 4:
		return (int32_t)get_be32(v);
	case 2:
		return (int16_t)(v[0] << 8 | v[1]);
	case 1:
		return v[0];
	default:
		return 0;
	}
}

static bool gfid(const PGresult *res, int row, int col, struct loafre_fid *f)
{
	if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 16) {
		memset(f, 0, sizeof(*f));
		return false;
	}
	fid_from_bytes((const unsigned char *)PQgetvalue(res, row, col), f);
	return true;
}

/* A string column (libpq NUL-terminates every value), NULL for NULL. */
static const char *gs(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

enum strmode { STR_NONE, STR_BORROW, STR_COPY };

/* Decodes ECOLS starting at column c0 of `row`. */
static void read_row(struct pg *p, const PGresult *res, int i, int c0, enum strmode sm,
		     struct loafre__idx_row *row)
{
	struct loafre__idx_attr *a = &row->e.a;
	int n;

	row->id = gi(res, i, c0);
	row->parent = gi(res, i, c0 + 1);
	a->size = (uint64_t)gi(res, i, c0 + 2);
	a->blocks = (uint64_t)gi(res, i, c0 + 3);
	a->mtime_ns = gi(res, i, c0 + 4);
	a->atime_ns = gi(res, i, c0 + 5);
	a->ctime_ns = gi(res, i, c0 + 6);
	a->uid = (uint32_t)gi(res, i, c0 + 7);
	a->gid = (uint32_t)gi(res, i, c0 + 8);
	a->nlink = (uint64_t)gi(res, i, c0 + 9);
	a->ino = (uint64_t)gi(res, i, c0 + 10);
	a->dev = (uint64_t)gi(res, i, c0 + 11);
	row->e.mdt = (uint32_t)gi(res, i, c0 + 12);
	a->mode = (uint32_t)gi(res, i, c0 + 13);
	row->nxlinks = (uint32_t)gi(res, i, c0 + 14);
	gfid(res, i, c0 + 15, &row->e.fid);
	row->namelen = 0;
	row->name[0] = '\0';
	n = PQgetlength(res, i, c0 + 16);
	if (row->parent && !PQgetisnull(res, i, c0 + 16) && n > 0 && n <= LOAFRE__IDX_NAME_MAX) {
		memcpy(row->name, PQgetvalue(res, i, c0 + 16), (size_t)n);
		row->name[n] = '\0';
		row->namelen = (uint16_t)n;
	}
	row->e.jobid = NULL;
	a->symlink = NULL;
	if (sm == STR_NONE)
		return;
	row->e.jobid = gs(res, i, c0 + 17);
	a->symlink = gs(res, i, c0 + 18);
	if (sm == STR_COPY) {
		if (row->e.jobid) {
			snprintf(p->jobid, sizeof(p->jobid), "%s", row->e.jobid);
			row->e.jobid = p->jobid;
		}
		if (a->symlink) {
			snprintf(p->symlink, sizeof(p->symlink), "%s", a->symlink);
			a->symlink = p->symlink;
		}
	}
}

/* ---- errors, statements ------------------------------------------------------------ */

static void set_errmsg(struct pg *p, const char *msg)
{
	size_t n = strcspn(msg, "\n");

	if (n >= sizeof(p->errmsg))
		n = sizeof(p->errmsg) - 1;
	memcpy(p->errmsg, msg, n);
	p->errmsg[n] = '\0';
}

/* Maps a failed result (or a connection failure: res NULL) to -errno,
 * with the server's message in errmsg; clears res. */
static int pg_fail(struct pg *p, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	int r = -EIO;

	if (!msg || !*msg)
		msg = PQerrorMessage(p->c);
	set_errmsg(p, msg && *msg ? msg : "PostgreSQL request failed");
	if (state && PQstatus(p->c) == CONNECTION_OK) {
		if (strcmp(state, "55P03") == 0) /* lock_not_available: lock_timeout */
			r = -EBUSY;
		else if (strcmp(state, "23505") == 0) /* unique_violation */
			r = -EEXIST;
		else if (strcmp(state, "25006") == 0) /* read_only_sql_transaction */
			r = -EROFS;
		else if (strcmp(state, "42501") == 0) /* insufficient_privilege */
			r = -EACCES;
		else if (strcmp(state, "53100") == 0) /* disk_full */
			r = -ENOSPC;
		else if (strcmp(state, "53200") == 0) /* out_of_memory */
			r = -ENOMEM;
	}
	PQclear(res);
	return r;
}

static bool res_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* A simple query (text results; several statements allowed). */
static int exec_q(struct pg *p, const char *sql, PGresult **ret)
{
	PGresult *res = PQexec(p->c, sql);

	if (!res || !res_ok(res))
		return pg_fail(p, res);
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

static int exec_sql(struct pg *p, const char *sql)
{
	return exec_q(p, sql, NULL);
}

/* Runs prepared statement k (binary parameters and results). */
static int run(struct pg *p, enum stmt k, const struct prm *a, PGresult **ret)
{
	char name[16];
	PGresult *res = NULL;

	snprintf(name, sizeof(name), "lf%d", (int)k);
	if (!p->prepared[k]) {
		res = PQprepare(p->c, name, stmt_sql[k], 0, NULL);
		if (!res || !res_ok(res))
			return pg_fail(p, res);
		PQclear(res);
		p->prepared[k] = true;
	}
	res = PQexecPrepared(p->c, name, a ? a->n : 0, a ? a->v : NULL, a ? a->len : NULL,
			     a ? a->fmt : NULL, 1);
	if (!res || !res_ok(res))
		return pg_fail(p, res);
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

/* Runs an ad-hoc statement with binary parameters and results. */
static int run_sql(struct pg *p, const char *sql, const struct prm *a, int rfmt, PGresult **ret)
{
	PGresult *res = PQexecParams(p->c, sql, a ? a->n : 0, NULL, a ? a->v : NULL,
				     a ? a->len : NULL, a ? a->fmt : NULL, rfmt);

	if (!res || !res_ok(res))
		return pg_fail(p, res);
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

/* Rows a DML statement touched. */
static long affected(const PGresult *res)
{
	return strtol(PQcmdTuples((PGresult *)res), NULL, 10);
}

/* ---- cursors --------------------------------------------------------------------------- */

struct cur {
	struct pg *p;               /* the backend */
	char name[24];              /* cursor name */
	PGresult *res;              /* the current batch */
	int i, n;                   /* next row, rows in it */
	bool open;                  /* declared, not closed */
	bool last;                  /* the current batch is the last one */
};

static int cur_open(struct pg *p, struct cur *c, const char *query, const struct prm *a)
{
	size_t n = strlen(query) + 64;
	char *sql = malloc(n);
	int r;

	memset(c, 0, sizeof(*c));
	c->p = p;
	if (!sql)
		return -ENOMEM;
	snprintf(c->name, sizeof(c->name), "lfc%u", p->cursors++);
	snprintf(sql, n, "DECLARE %s NO SCROLL CURSOR FOR %s", c->name, query);
	r = run_sql(p, sql, a, 1, NULL);
	free(sql);
	if (r == 0)
		c->open = true;
	return r;
}

/* 1 and (res, row) for the next row; 0 at the end; -errno. */
static int cur_next(struct cur *c, PGresult **res, int *row)
{
	char sql[64];
	int r;

	while (!c->res || c->i >= c->n) {
		PQclear(c->res);
		c->res = NULL;
		if (c->last || !c->open)
			return 0;
		snprintf(sql, sizeof(sql), "FETCH %d FROM %s", FETCH_ROWS, c->name);
		r = run_sql(c->p, sql, NULL, 1, &c->res);
		if (r < 0)
			return r;
		c->i = 0;
		c->n = PQntuples(c->res);
		c->last = c->n < FETCH_ROWS;
	}
	*res = c->res;
	*row = c->i++;
	return 1;
}

static void cur_close(struct cur *c)
{
	char sql[64];

	PQclear(c->res);
	c->res = NULL;
	if (c->open && PQtransactionStatus(c->p->c) == PQTRANS_INTRANS) {
		snprintf(sql, sizeof(sql), "CLOSE %s", c->name);
		PQclear(PQexec(c->p->c, sql));
	}
	c->open = false;
}

/* Rows that callbacks may interleave with other queries of the handle:
 * ROWS_WHOLE runs the statement and keeps its whole result (for results
 * known to be small: one statement, so the planner may use parallel
 * workers, which a cursor never does); ROWS_CURSOR fetches through a
 * cursor; ROWS_PROBE asks the planner for its estimate (EXPLAIN): a
 * large one goes to a cursor, a small one runs whole limited to
 * PROBE_ROWS + 1 rows and, when the result is larger after all, again as a
 * cursor (unordered queries only: the limit wraps it as a subquery). */
enum rows_mode { ROWS_WHOLE, ROWS_CURSOR, ROWS_PROBE };

struct rows {
	PGresult *res;              /* the whole result, or NULL: the cursor */
	int i, n;                   /* next row, rows */
	struct cur c;               /* the cursor */
};

static int rows_open(struct pg *p, struct rows *w, const char *query, const struct prm *a,
		     enum rows_mode mode)
{
	memset(w, 0, sizeof(*w));
	if (mode == ROWS_WHOLE) {
		int r = run_sql(p, query, a, 1, &w->res);

		w->n = r == 0 ? PQntuples(w->res) : 0;
		return r;
	}
	if (mode == ROWS_PROBE) {
		size_t n = strlen(query) + 64;
		char *sql = malloc(n);
		const char *est;
		int r;

		if (!sql)
			return -ENOMEM;
		snprintf(sql, n, "EXPLAIN %s", query);
		r = run_sql(p, sql, a, 0, &w->res);
		if (r < 0) {
			free(sql);
			return r;
		}
		est = PQntuples(w->res) ? strstr(PQgetvalue(w->res, 0, 0), " rows=") : NULL;
		if (est && strtod(est + 6, NULL) > PROBE_ROWS)
			mode = ROWS_CURSOR;
		PQclear(w->res);
		w->res = NULL;
		snprintf(sql, n, "SELECT * FROM (%s) q LIMIT %d", query, PROBE_ROWS + 1);
		r = mode == ROWS_PROBE ? run_sql(p, sql, a, 1, &w->res) : 0;
		free(sql);
		if (r < 0 || mode == ROWS_CURSOR)
			return r < 0 ? r : cur_open(p, &w->c, query, a);
		w->n = PQntuples(w->res);
		if (w->n <= PROBE_ROWS)
			return 0;
		PQclear(w->res);
		w->res = NULL;
		w->n = 0;
	}
	return cur_open(p, &w->c, query, a);
}

/* 1 and (res, row) for the next row; 0 at the end; -errno. */
static int rows_next(struct rows *w, PGresult **res, int *row)
{
	if (!w->res)
		return cur_next(&w->c, res, row);
	if (w->i >= w->n)
		return 0;
	*res = w->res;
	*row = w->i++;
	return 1;
}

static void rows_close(struct rows *w)
{
	PQclear(w->res);
	w->res = NULL;
	if (w->c.p)
		cur_close(&w->c);
}

/* ---- the Bloom filter ------------------------------------------------------------------- */

static void know_drop(struct know *k)
{
	for (size_t i = 0; i < k->nl; i++)
		free(k->l[i].bits);
	free(k->l);
	k->l = NULL;
	k->nl = 0;
	k->bytes = 0;
	k->valid = false;
	k->fresh = false;
}

/* An empty filter, valid: the store has no rows. */
static void know_start(struct know *k)
{
	know_drop(k);
	k->valid = true;
}

static uint64_t key_fid(const struct loafre_fid *f)
{
	unsigned char b[16];

	fid_bytes(f, b);
	return XXH3_64bits_withSeed(b, 16, 0x6c66);
}

static uint64_t key_link(int64_t parent, const char *name, size_t len)
{
	unsigned char b[8 + LOAFRE__IDX_NAME_MAX];

	if (len > LOAFRE__IDX_NAME_MAX)
		len = LOAFRE__IDX_NAME_MAX;
	put_be64(b, (uint64_t)parent);
	memcpy(b + 8, name, len);
	return XXH3_64bits_withSeed(b, 8 + len, 0x6c6c);
}

static void know_add(struct know *k, uint64_t h)
{
	struct layer *l;
	uint64_t h2 = (h >> 33 | h << 31) | 1;

	if (!k->valid)
		return;
	if (!k->nl || k->l[k->nl - 1].n >= k->l[k->nl - 1].cap) {
		size_t cap = k->nl ? k->l[k->nl - 1].cap * 2 : KNOW_FIRST, nbits = 64;
		void *nl;

		while (nbits < cap * 10)
			nbits *= 2;
		if (k->bytes + nbits / 8 > KNOW_MAX_BYTES) {
			know_drop(k);
			return;
		}
		nl = realloc(k->l, (k->nl + 1) * sizeof(*k->l));
		if (!nl) {
			know_drop(k);
			return;
		}
		k->l = nl;
		l = &k->l[k->nl];
		l->bits = calloc(nbits / 64, 8);
		if (!l->bits) {
			know_drop(k);
			return;
		}
		l->mask = nbits - 1;
		l->cap = cap;
		l->n = 0;
		k->nl++;
		k->bytes += nbits / 8;
	}
	l = &k->l[k->nl - 1];
	for (unsigned i = 0; i < KNOW_PROBES; i++) {
		uint64_t bit = (h + i * h2) & l->mask;

		l->bits[bit / 64] |= 1ull << (bit % 64);
	}
	l->n++;
}

/* false: the key was certainly never added. */
static bool know_maybe(const struct know *k, uint64_t h)
{
	uint64_t h2 = (h >> 33 | h << 31) | 1;

	for (size_t j = 0; j < k->nl; j++) {
		const struct layer *l = &k->l[j];
		bool all = true;

		for (unsigned i = 0; all && i < KNOW_PROBES; i++) {
			uint64_t bit = (h + i * h2) & l->mask;

			all = l->bits[bit / 64] >> (bit % 64) & 1;
		}
		if (all)
			return true;
	}
	return false;
}

/* Can a negative lookup be answered by the filter? */
static bool know_usable(const struct pg *p)
{
	return p->in_txn && p->k.valid;
}

/* ---- the buffer of new entries ---------------------------------------------------------- */

static uint64_t hash_id(int64_t id)
{
	uint64_t v = (uint64_t)id;

	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	v *= 0xc4ceb9fe1a85ec53ull;
	return v ^ (v >> 33);
}

static void buf_free(struct ibuf *b)
{
	free(b->rows);
	free(b->arena);
	free(b->h_fid);
	free(b->h_id);
	free(b->h_link);
	memset(b, 0, sizeof(*b));
}

static int buf_init(struct ibuf *b)
{
	if (b->rows)
		return 0;
	b->rows = malloc(BUF_ROWS * sizeof(*b->rows));
	b->h_fid = calloc(BUF_SLOTS, sizeof(*b->h_fid));
	b->h_id = calloc(BUF_SLOTS, sizeof(*b->h_id));
	b->h_link = calloc(BUF_SLOTS, sizeof(*b->h_link));
	if (!b->rows || !b->h_fid || !b->h_id || !b->h_link) {
		buf_free(b);
		return -ENOMEM;
	}
	b->gen = 1;
	return 0;
}

/* Forgets every buffered row (copied, or rolled back). */
static void buf_reset(struct ibuf *b)
{
	b->n = 0;
	b->alen = 0;
	b->nlink_keys = 0;
	if (b->rows && ++b->gen == 0) {
		memset(b->h_fid, 0, BUF_SLOTS * sizeof(*b->h_fid));
		memset(b->h_id, 0, BUF_SLOTS * sizeof(*b->h_id));
		memset(b->h_link, 0, BUF_SLOTS * sizeof(*b->h_link));
		b->gen = 1;
	}
}

static void slot_put(const struct ibuf *b, uint64_t *t, uint64_t h, size_t row)
{
	for (size_t i = h & (BUF_SLOTS - 1);; i = (i + 1) & (BUF_SLOTS - 1))
		if ((uint32_t)(t[i] >> 32) != b->gen) {
			t[i] = (uint64_t)b->gen << 32 | (row + 1);
			return;
		}
}

/* The rows whose slot chain starts at h, one by one: *pos is the probe
 * position (start with SIZE_MAX). */
static struct brow *slot_next(const struct ibuf *b, const uint64_t *t, uint64_t h, size_t *pos)
{
	size_t i = *pos == SIZE_MAX ? h & (BUF_SLOTS - 1) : (*pos + 1) & (BUF_SLOTS - 1);
	uint64_t v = t[i];

	*pos = i;
	if (!b->n || (uint32_t)(v >> 32) != b->gen)
		return NULL;
	return &b->rows[(uint32_t)v - 1];
}

static struct brow *buf_by_fid(const struct pg *p, const struct loafre_fid *f)
{
	uint64_t h = key_fid(f);
	size_t pos = SIZE_MAX;
	struct brow *r;

	if (!p->b.n)
		return NULL;
	while ((r = slot_next(&p->b, p->b.h_fid, h, &pos)))
		if (loafre_fid_equal(&r->fid, f))
			return r;
	return NULL;
}

static struct brow *buf_by_id(const struct pg *p, int64_t id)
{
	uint64_t h = hash_id(id);
	size_t pos = SIZE_MAX;
	struct brow *r;

	if (!p->b.n)
		return NULL;
	while ((r = slot_next(&p->b, p->b.h_id, h, &pos)))
		if (r->id == id)
			return r;
	return NULL;
}

static struct brow *buf_by_link(const struct pg *p, int64_t parent, const char *name, size_t len)
{
	uint64_t h = key_link(parent, name, len);
	size_t pos = SIZE_MAX;
	struct brow *r;

	if (!p->b.n)
		return NULL;
	while ((r = slot_next(&p->b, p->b.h_link, h, &pos)))
		if (r->parent == parent && r->name_len == (int32_t)len &&
		    memcmp(p->b.arena + r->name_off, name, len) == 0)
			return r;
	return NULL;
}

/* Copies a string into the arena; *off, *len (-1 for NULL). */
static int buf_str(struct ibuf *b, const char *s, uint32_t *off, int32_t *len)
{
	size_t n;

	*off = 0;
	*len = -1;
	if (!s)
		return 0;
	n = strlen(s);
	if (b->alen + n + 1 > b->acap) {
		size_t cap = b->acap ? b->acap : 1u << 16;
		char *na;

		while (cap < b->alen + n + 1)
			cap *= 2;
		na = realloc(b->arena, cap);
		if (!na)
			return -ENOMEM;
		b->arena = na;
		b->acap = cap;
	}
	memcpy(b->arena + b->alen, s, n + 1);
	*off = (uint32_t)b->alen;
	*len = (int32_t)n;
	b->alen += n + 1;
	return 0;
}

/* The row of a buffered entry. */
static void brow_row(struct pg *p, const struct brow *r, bool strings, struct loafre__idx_row *row)
{
	row->id = r->id;
	row->e.fid = r->fid;
	row->e.a = r->a;
	row->e.a.symlink = NULL;
	row->e.jobid = NULL;
	row->e.mdt = r->mdt;
	row->parent = r->parent;
	row->nxlinks = r->nxlinks;
	row->namelen = 0;
	row->name[0] = '\0';
	if (r->parent && r->name_len > 0) {
		memcpy(row->name, p->b.arena + r->name_off, (size_t)r->name_len + 1);
		row->namelen = (uint16_t)r->name_len;
	}
	if (!strings)
		return;
	if (r->jobid_len >= 0) {
		snprintf(p->jobid, sizeof(p->jobid), "%s", p->b.arena + r->jobid_off);
		row->e.jobid = p->jobid;
	}
	if (r->sym_len >= 0) {
		snprintf(p->symlink, sizeof(p->symlink), "%s", p->b.arena + r->sym_off);
		row->e.a.symlink = p->symlink;
	}
}

/* COPY field writers (binary format: int32 length, then the bytes). */
struct obuf {
	unsigned char *d;           /* data */
	size_t n;                   /* used */
};

static void o_i64(struct obuf *o, int64_t v)
{
	put_be32(o->d + o->n, 8);
	put_be64(o->d + o->n + 4, (uint64_t)v);
	o->n += 12;
}

static void o_i32(struct obuf *o, int32_t v)
{
	put_be32(o->d + o->n, 4);
	put_be32(o->d + o->n + 4, (uint32_t)v);
	o->n += 8;
}

static void o_bytes(struct obuf *o, const void *s, int32_t len)
{
	put_be32(o->d + o->n, (uint32_t)len);
	o->n += 4;
	if (len > 0) {
		memcpy(o->d + o->n, s, (size_t)len);
		o->n += (size_t)len;
	}
}

static int buf_copy(struct pg *p)
{
	static const unsigned char hdr[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	struct ibuf *b = &p->b;
	struct obuf o = {malloc(COPY_CHUNK + 8 * 1024), 0};
	PGresult *res = NULL;
	int r = 0;

	if (!o.d)
		return -ENOMEM;
	res = PQexec(p->c, "COPY entry(" ECOLS ") FROM STDIN (FORMAT binary)");
	if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
		free(o.d);
		return pg_fail(p, res);
	}
	PQclear(res);
	memcpy(o.d, hdr, sizeof(hdr));
	o.n = sizeof(hdr);
	for (size_t i = 0; i < b->n && r == 0; i++) {
		const struct brow *w = &b->rows[i];
		unsigned char fb[16];

		o.d[o.n++] = 0;
		o.d[o.n++] = NCOLS;
		o_i64(&o, w->id);
		if (w->parent)
			o_i64(&o, w->parent);
		else
			o_bytes(&o, NULL, -1);
		o_i64(&o, (int64_t)w->a.size);
		o_i64(&o, (int64_t)w->a.blocks);
		o_i64(&o, w->a.mtime_ns);
		o_i64(&o, w->a.atime_ns);
		o_i64(&o, w->a.ctime_ns);
		o_i64(&o, w->a.uid);
		o_i64(&o, w->a.gid);
		o_i64(&o, (int64_t)w->a.nlink);
		o_i64(&o, (int64_t)w->a.ino);
		o_i64(&o, (int64_t)w->a.dev);
		o_i64(&o, w->mdt);
		o_i32(&o, (int32_t)w->a.mode);
		o_i32(&o, (int32_t)w->nxlinks);
		fid_bytes(&w->fid, fb);
		o_bytes(&o, fb, 16);
		o_bytes(&o, b->arena + w->name_off, w->parent ? w->name_len : -1);
		o_bytes(&o, b->arena + w->jobid_off, w->jobid_len);
		o_bytes(&o, b->arena + w->sym_off, w->sym_len);
		if (o.n >= COPY_CHUNK) {
			if (PQputCopyData(p->c, (const char *)o.d, (int)o.n) != 1)
				r = pg_fail(p, NULL);
			o.n = 0;
		}
	}
	if (r == 0) {
		o.d[o.n++] = 0xff;
		o.d[o.n++] = 0xff;
		if (PQputCopyData(p->c, (const char *)o.d, (int)o.n) != 1)
			r = pg_fail(p, NULL);
	}
	free(o.d);
	if (PQputCopyEnd(p->c, r == 0 ? NULL : "aborted by loafre") != 1 && r == 0)
		r = pg_fail(p, NULL);
	while ((res = PQgetResult(p->c))) {
		if (r == 0 && !res_ok(res))
			r = pg_fail(p, res);
		else
			PQclear(res);
	}
	return r;
}

/* Writes the buffered entries to the table. */
static int buf_flush(struct pg *p)
{
	struct ibuf *b = &p->b;
	int r;

	if (!b->n)
		return 0;
	if (b->n == 1) {
		const struct brow *w = &b->rows[0];
		unsigned char fb[16];
		struct prm a = {.n = 0};

		p_i64(&a, w->id);
		if (w->parent)
			p_i64(&a, w->parent);
		else
			p_bytes(&a, NULL, 0);
		p_i64(&a, (int64_t)w->a.size);
		p_i64(&a, (int64_t)w->a.blocks);
		p_i64(&a, w->a.mtime_ns);
		p_i64(&a, w->a.atime_ns);
		p_i64(&a, w->a.ctime_ns);
		p_i64(&a, w->a.uid);
		p_i64(&a, w->a.gid);
		p_i64(&a, (int64_t)w->a.nlink);
		p_i64(&a, (int64_t)w->a.ino);
		p_i64(&a, (int64_t)w->a.dev);
		p_i64(&a, w->mdt);
		p_i32(&a, (int32_t)w->a.mode);
		p_i32(&a, (int32_t)w->nxlinks);
		fid_bytes(&w->fid, fb);
		p_bytes(&a, fb, 16);
		p_bytes(&a, w->parent ? b->arena + w->name_off : NULL, w->parent ? (size_t)w->name_len : 0);
		p_bytes(&a, w->jobid_len >= 0 ? b->arena + w->jobid_off : NULL,
			w->jobid_len >= 0 ? (size_t)w->jobid_len : 0);
		p_bytes(&a, w->sym_len >= 0 ? b->arena + w->sym_off : NULL,
			w->sym_len >= 0 ? (size_t)w->sym_len : 0);
		r = run(p, S_INSERT, &a, NULL);
	} else {
		r = buf_copy(p);
	}
	if (r == 0) {
		p->txn_rows += b->n;
		buf_reset(b);
	}
	return r;
}

/* Before an operation that reads the tables in bulk: the buffer goes. */
static int sync_buf(struct pg *p)
{
	return p->b.n ? buf_flush(p) : 0;
}

/* A new id from the handle's block. */
static int take_id(struct pg *p, int64_t *ret)
{
	if (p->id_next == 0 || p->id_next > p->id_end) {
		PGresult *res = NULL;
		int r = run(p, S_ID_BLOCK, NULL, &res);

		if (r < 0)
			return r;
		if (PQntuples(res) != 1) {
			PQclear(res);
			set_errmsg(p, "nextval('entry_id') returned no row");
			return -EIO;
		}
		p->id_next = gi(res, 0, 0);
		p->id_end = p->id_next + ID_BLOCK - 1;
		PQclear(res);
	}
	*ret = p->id_next++;
	return 0;
}

/* ---- the f_seq map (seq_max) ---------------------------------------------------------- */

/* The slot of seq in the transaction's map (added when missing; NULL:
 * out of memory). */
static struct seqent *sm_get(struct pg *p, uint64_t seq)
{
	size_t i;

	if (!p->sm || (p->sm_n + 1) * 2 > p->sm_mask + 1) {
		size_t cap = p->sm ? (p->sm_mask + 1) * 2 : 256;
		struct seqent *ns = calloc(cap, sizeof(*ns));

		if (!ns)
			return NULL;
		for (size_t k = 0; p->sm && k <= p->sm_mask; k++) {
			if (!p->sm[k].used)
				continue;
			for (i = hash_id((int64_t)p->sm[k].seq) & (cap - 1); ns[i].used; i = (i + 1) & (cap - 1))
				;
			ns[i] = p->sm[k];
		}
		free(p->sm);
		p->sm = ns;
		p->sm_mask = cap - 1;
	}
	for (i = hash_id((int64_t)seq) & p->sm_mask; p->sm[i].used; i = (i + 1) & p->sm_mask)
		if (p->sm[i].seq == seq)
			return &p->sm[i];
	p->sm[i] = (struct seqent){.seq = seq, .used = true};
	p->sm_n++;
	return &p->sm[i];
}

static void sm_reset(struct pg *p)
{
	if (p->sm_n)
		memset(p->sm, 0, (p->sm_mask + 1) * sizeof(*p->sm));
	p->sm_n = 0;
}

/* An insert of this transaction (for seq_max). */
static void sm_note(struct pg *p, const struct loafre_fid *fid)
{
	struct seqent *e = p->sm_n || p->sm ? sm_get(p, fid->f_seq) : NULL;

	if (!e) {
		sm_reset(p); /* out of memory: forget, seq_max asks the table */
		return;
	}
	if (!e->ins_has || fid->f_oid > e->ins_max) {
		e->ins_max = fid->f_oid;
		e->ins_has = true;
	}
}

/* ---- open, close, transactions ------------------------------------------------------------- */

static void notice_ignore(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* "dbname=... host=... port=... user=..." of a conninfo, without secrets. */
static int describe(const char *where, char *buf, size_t cap, char *err, size_t errlen)
{
	static const char *const keys[] = {"dbname", "host", "hostaddr", "port", "user"};
	char *perr = NULL;
	PQconninfoOption *o = PQconninfoParse(where, &perr);
	size_t n = 0;

	if (!o) {
		bool bad = perr != NULL;
		char *nl;

		snprintf(err, errlen, "bad PostgreSQL conninfo: %s", bad ? perr : "out of memory");
		nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		PQfreemem(perr);
		return bad ? -EINVAL : -ENOMEM;
	}
	buf[0] = '\0';
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		for (PQconninfoOption *i = o; i->keyword; i++)
			if (strcmp(i->keyword, keys[k]) == 0 && i->val && *i->val && n < cap)
				n += (size_t)snprintf(buf + n, cap - n, "%s%s=%s", n ? " " : "",
						      i->keyword, i->val);
	if (!buf[0])
		snprintf(buf, cap, "(default database)");
	PQconninfoFree(o);
	return 0;
}

/* Session settings, after every (re)connection. */
static int session_setup(struct pg *p)
{
	char sql[512];

	PQsetNoticeProcessor(p->c, notice_ignore, NULL);
	snprintf(sql, sizeof(sql),
		 "SET search_path = %s; SET cursor_tuple_fraction = 1; SET jit = off;"
		 " SET work_mem = '32MB'; SET client_min_messages = warning;"
		 " SET default_transaction_read_only = %s",
		 p->qschema, p->readonly ? "on" : "off");
	memset(p->prepared, 0, sizeof(p->prepared));
	return exec_sql(p, sql);
}

/* A lost connection is re-established (before a transaction starts). */
static int ensure_conn(struct pg *p)
{
	if (PQstatus(p->c) == CONNECTION_OK)
		return 0;
	know_drop(&p->k);
	PQreset(p->c);
	if (PQstatus(p->c) != CONNECTION_OK)
		return pg_fail(p, NULL);
	return session_setup(p);
}

static void pg_close(void *be)
{
	struct pg *p = be;

	if (!p)
		return;
	PQfinish(p->c);
	PQfreemem(p->qschema);
	free(p->conninfo);
	buf_free(&p->b);
	know_drop(&p->k);
	free(p->sm);
	free(p);
}

/* One text value of a one-row text result (NULL if none). */
static const char *val0(const PGresult *res, int col)
{
	return PQntuples(res) > 0 && !PQgetisnull(res, 0, col) ? PQgetvalue(res, 0, col) : NULL;
}

enum sstate { SS_NONE, SS_EMPTY, SS_STORE, SS_FOREIGN };

/* Is the schema absent, empty, a store, or something else? */
static int schema_state(struct pg *p, enum sstate *ret)
{
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r;

	p_str(&a, p->schema);
	r = run_sql(p,
		    "SELECT n.oid IS NOT NULL, (SELECT count(*) FROM pg_class c WHERE c.relnamespace=n.oid"
		    " AND c.relname='meta' AND c.relkind='r'), (SELECT count(*) FROM pg_class c WHERE"
		    " c.relnamespace=n.oid) FROM (SELECT 1) d LEFT JOIN pg_namespace n ON"
		    " n.nspname=$1::text",
		    &a, 1, &res);
	if (r < 0)
		return r;
	if (!gi(res, 0, 0))
		*ret = SS_NONE;
	else if (gi(res, 0, 1))
		*ret = SS_STORE;
	else
		*ret = gi(res, 0, 2) ? SS_FOREIGN : SS_EMPTY;
	PQclear(res);
	return 0;
}

/* Creates the tables (in the caller's transaction) and, when pg_trgm can
 * be had, the name indexes. */
static int schema_create(struct pg *p, const char *fsname, bool exists)
{
	char sql[1024];
	const char *names = "scan";
	PGresult *res = NULL;
	struct prm a = {.n = 0};
	int r;

	/* an administrator may have made it for a role that may not create
	 * schemas (CREATE SCHEMA checks that privilege even when it exists) */
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", p->qschema);
	r = exists ? 0 : exec_sql(p, sql);
	if (r == 0)
		r = exec_sql(p, schema_sql);
	if (r < 0)
		return r;
	/* pg_trgm: a trusted extension since PostgreSQL 13 (the database's
	 * CREATE privilege is enough), once per database, in its own schema
	 * (not in a store's: dropping one store must not take the others'
	 * indexes with it), unless it is installed already; without it,
	 * names() scans */
	if (exec_sql(p, "SAVEPOINT trgm") < 0)
		return -EIO;
	r = exec_sql(p, "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE"
			" extname='pg_trgm') THEN CREATE SCHEMA IF NOT EXISTS " TRGM_SCHEMA ";"
			" CREATE EXTENSION pg_trgm SCHEMA " TRGM_SCHEMA "; END IF; END$$");
	if (r == 0)
		r = exec_q(p,
			   "SELECT quote_ident(n.nspname) FROM pg_extension x JOIN pg_namespace n ON"
			   " n.oid=x.extnamespace WHERE x.extname='pg_trgm'",
			   &res);
	if (r == 0 && val0(res, 0)) {
		snprintf(sql, sizeof(sql),
			 "CREATE INDEX entry_names ON entry USING gin (encode(name,'escape')"
			 " %s.gin_trgm_ops); CREATE INDEX xlink_names ON xlink USING gin"
			 " (encode(name,'escape') %s.gin_trgm_ops)",
			 val0(res, 0), val0(res, 0));
		r = exec_sql(p, sql);
		if (r == 0)
			names = "trgm";
	}
	PQclear(res);
	if (strcmp(names, "trgm") != 0 && exec_sql(p, "ROLLBACK TO SAVEPOINT trgm") < 0)
		return -EIO;
	if (exec_sql(p, "RELEASE SAVEPOINT trgm") < 0)
		return -EIO;
	p_str(&a, fsname);
	p_str(&a, names);
	return run_sql(p, "INSERT INTO meta(key,value) VALUES('fsname',$1::text),('names',$2::text)",
		       &a, 1, NULL);
}

/* Checks (with `create`: makes) the store. */
static int pg_schema(struct pg *p, const char *fsname, bool create, char *err, size_t errlen)
{
	enum sstate ss;
	PGresult *res = NULL;
	bool txn = false;
	int r = schema_state(p, &ss);

	if (r < 0)
		goto fail_read;
	if ((ss == SS_NONE || ss == SS_EMPTY) && create) {
		char sql[256], *lit = PQescapeLiteral(p->c, p->schema, strlen(p->schema));

		if (!lit) {
			r = -ENOMEM;
			goto fail_read;
		}
		/* one creator at a time: the lock, then look again */
		snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(hashtext(%s))", lit);
		PQfreemem(lit);
		r = exec_sql(p, sql);
		if (r < 0)
			goto fail_create;
		txn = true;
		r = schema_state(p, &ss);
		if (r < 0)
			goto fail_create;
		if (ss == SS_NONE || ss == SS_EMPTY) {
			r = schema_create(p, fsname, ss == SS_EMPTY);
			if (r < 0)
				goto fail_create;
			ss = SS_STORE;
		}
	}
	if (ss == SS_NONE || ss == SS_EMPTY) {
		snprintf(err, errlen, "no index store for filesystem '%s' in PostgreSQL database %s"
			 " (schema %s)", fsname, p->desc, p->schema);
		r = -ENOENT;
		goto out;
	}
	if (ss == SS_FOREIGN) {
		snprintf(err, errlen, "schema %s in PostgreSQL database %s is not a loafre index store",
			 p->schema, p->desc);
		r = -EPROTO;
		goto out;
	}
	r = exec_q(p, "SELECT value FROM meta WHERE key='format'", &res);
	if (r < 0)
		goto fail_read;
	if (!val0(res, 0) || strcmp(val0(res, 0), FORMAT_VERSION) != 0) {
		snprintf(err, errlen,
			 "index store %s in PostgreSQL database %s has format version %s; this loafre"
			 " reads version " FORMAT_VERSION,
			 p->schema, p->desc, val0(res, 0) ? val0(res, 0) : "(none)");
		r = -EPROTO;
		goto out;
	}
	if (txn) {
		r = exec_sql(p, "COMMIT");
		txn = false;
		if (r < 0)
			goto fail_create;
	}
	r = 0;
	goto out;
fail_read:
	snprintf(err, errlen, "cannot read index store %s in PostgreSQL database %s: %s", p->schema,
		 p->desc, p->errmsg);
	goto out;
fail_create:
	snprintf(err, errlen, "cannot create index store %s in PostgreSQL database %s: %s", p->schema,
		 p->desc, p->errmsg);
out:
	PQclear(res);
	if (txn)
		PQclear(PQexec(p->c, "ROLLBACK"));
	return r;
}

static int ensure_indexes(struct pg *p);

static bool fsname_ok(const char *fs)
{
	size_t n = fs ? strlen(fs) : 0;

	if (n == 0 || n > FSNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = fs[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int pg_open(const char *where, const char *fsname, int flags, void **ret_be, char *err,
		   size_t errlen)
{
	static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {where, "loafre", NULL};
	struct pg *p;
	int r;

	if (!fsname_ok(fsname)) {
		snprintf(err, errlen,
			 "a PostgreSQL index store needs the filesystem's name (1-%d bytes of"
			 " A-Z a-z 0-9 _ -): it names the schema " SCHEMA_PREFIX "FSNAME",
			 FSNAME_MAX);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->readonly = flags & LOAFRE__IDX_READONLY;
	p->busy_ms = BUSY_MS_DEFAULT;
	snprintf(p->schema, sizeof(p->schema), SCHEMA_PREFIX "%s", fsname);
	r = describe(where, p->desc, sizeof(p->desc), err, errlen);
	if (r < 0)
		goto fail;
	p->conninfo = strdup(where);
	if (!p->conninfo) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (getrandom(&p->tok_rand, sizeof(p->tok_rand), GRND_NONBLOCK) != sizeof(p->tok_rand))
		p->tok_rand = (uint64_t)getpid() << 40 ^ loafre__mono_ns() ^ (uint64_t)(uintptr_t)p;
	p->c = PQconnectdbParams(keys, vals, 1);
	if (!p->c) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (PQstatus(p->c) != CONNECTION_OK) {
		r = pg_fail(p, NULL);
		snprintf(err, errlen, "cannot connect to PostgreSQL database %s: %s", p->desc,
			 p->errmsg);
		goto fail;
	}
	if (PQserverVersion(p->c) < 100000) {
		r = -EPROTONOSUPPORT;
		snprintf(err, errlen, "PostgreSQL database %s: server version %d; loafre needs 10 or later",
			 p->desc, PQserverVersion(p->c));
		goto fail;
	}
	p->qschema = PQescapeIdentifier(p->c, p->schema, strlen(p->schema));
	if (!p->qschema) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r = session_setup(p);
	if (r < 0) {
		snprintf(err, errlen, "cannot set up the session on PostgreSQL database %s: %s", p->desc,
			 p->errmsg);
		goto fail;
	}
	r = pg_schema(p, fsname, (flags & LOAFRE__IDX_CREATE) && !p->readonly, err, errlen);
	if (r < 0)
		goto fail;
	if (!p->readonly) {
		r = ensure_indexes(p);
		if (r < 0) {
			snprintf(err, errlen, "cannot rebuild the indexes of %s in PostgreSQL database %s: %s",
				 p->schema, p->desc, p->errmsg);
			goto fail;
		}
	}
	*ret_be = p;
	return 0;
fail:
	pg_close(p);
	return r;
}

static const char *pg_errmsg(void *be)
{
	return ((struct pg *)be)->errmsg;
}

static void pg_set_busy_timeout(void *be, unsigned ms)
{
	((struct pg *)be)->busy_ms = ms;
}

/* lock_timeout in ms (0 would mean forever). */
static unsigned lock_ms(const struct pg *p)
{
	return p->busy_ms ? p->busy_ms : 1;
}

static int pg_begin(void *be)
{
	struct pg *p = be;
	PGresult *res = NULL;
	const char *gen;
	bool empty;
	char sql[256];
	int r = ensure_conn(p);

	if (r < 0)
		return r;
	snprintf(sql, sizeof(sql),
		 "BEGIN; SET LOCAL lock_timeout = %u; LOCK TABLE meta IN EXCLUSIVE MODE;"
		 " SELECT (SELECT value FROM meta WHERE key='gen'), NOT EXISTS (SELECT 1 FROM entry)",
		 lock_ms(p));
	r = exec_q(p, sql, &res);
	if (r < 0) {
		if (PQtransactionStatus(p->c) != PQTRANS_IDLE)
			PQclear(PQexec(p->c, "ROLLBACK"));
		return r;
	}
	gen = val0(res, 0);
	empty = val0(res, 1) && val0(res, 1)[0] == 't';
	p->changed = !gen || strcmp(gen, p->token) != 0;
	if (p->changed || !p->k.valid) {
		if (empty)
			know_start(&p->k);
		else
			know_drop(&p->k);
	}
	snprintf(p->token, sizeof(p->token), "%s", gen ? gen : "");
	PQclear(res);
	p->k.fresh = false;
	buf_reset(&p->b);
	sm_reset(p);
	p->txn_rows = 0;
	p->in_txn = true;
	return 0;
}

static int pg_rollback(void *be)
{
	struct pg *p = be;
	int r = 0;

	buf_reset(&p->b);
	sm_reset(p);
	if (PQtransactionStatus(p->c) != PQTRANS_IDLE)
		r = exec_sql(p, "ROLLBACK");
	if (p->k.fresh)
		know_drop(&p->k); /* the rows it did not know come back */
	p->in_txn = false;
	return r;
}

static int pg_commit(void *be)
{
	struct pg *p = be;
	char tok[48], sql[160];
	PGresult *res = NULL;
	int r = buf_flush(p);

	snprintf(tok, sizeof(tok), "%016" PRIx64 "-%" PRIu64, p->tok_rand, ++p->tok_count);
	snprintf(sql, sizeof(sql), "UPDATE meta SET value='%s' WHERE key='gen'; COMMIT", tok);
	if (r == 0)
		r = exec_q(p, sql, &res);
	if (r == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		set_errmsg(p, "the transaction was rolled back by the server");
		r = -EIO;
	}
	PQclear(res);
	if (r < 0) {
		pg_rollback(p);
		return r;
	}
	snprintf(p->token, sizeof(p->token), "%s", tok);
	p->k.fresh = false;
	p->in_txn = false;
	/* the planner needs statistics after a big load (autovacuum comes
	 * later): ANALYZE when the rows this handle added since its last one
	 * at least doubled them (a warning, not an error, for a non-owner) */
	p->an_rows += p->txn_rows;
	if (p->an_rows - p->an_base >= ANALYZE_MIN && p->an_rows - p->an_base >= p->an_base) {
		/* not behind autovacuum's lock: skipped when it is busy */
		PQclear(PQexec(p->c, "BEGIN; SET LOCAL lock_timeout = 100; ANALYZE entry;"
				     " ANALYZE xlink; ANALYZE dirsum; COMMIT"));
		if (PQtransactionStatus(p->c) != PQTRANS_IDLE)
			PQclear(PQexec(p->c, "ROLLBACK"));
		p->an_base = p->an_rows;
	}
	return 0;
}

static int pg_read_begin(void *be)
{
	struct pg *p = be;
	char sql[128];
	int r = ensure_conn(p);

	if (r < 0)
		return r;
	snprintf(sql, sizeof(sql),
		 "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL lock_timeout = %u",
		 lock_ms(p));
	r = exec_sql(p, sql);
	if (r < 0 && PQtransactionStatus(p->c) != PQTRANS_IDLE)
		PQclear(PQexec(p->c, "ROLLBACK"));
	p->in_read = r == 0;
	return r;
}

static void pg_read_end(void *be)
{
	struct pg *p = be;

	if (PQtransactionStatus(p->c) != PQTRANS_IDLE)
		PQclear(PQexec(p->c, "COMMIT"));
	p->in_read = false;
}

/* index_backend.h: false only when no other handle committed since the
 * previous call (begin compared meta 'gen' with this handle's). */
static int pg_changed(void *be, bool *ret)
{
	*ret = ((struct pg *)be)->changed;
	return 0;
}

/* The indexes a bulk load drops (entry_us; the name indexes when the store
 * has them), created again when missing: at bulk_end, clear and every
 * read-write open (a load that was abandoned). */
static int ensure_indexes(struct pg *p)
{
	PGresult *res = NULL;
	char sql[512];
	int r = exec_q(p,
		       "SELECT to_regclass('entry_us') IS NULL, (SELECT value FROM meta WHERE key='names')"
		       "='trgm' AND (to_regclass('entry_names') IS NULL OR to_regclass('xlink_names')"
		       " IS NULL), (SELECT quote_ident(n.nspname) FROM pg_extension x JOIN pg_namespace"
		       " n ON n.oid=x.extnamespace WHERE x.extname='pg_trgm')",
		       &res);

	if (r < 0)
		return r;
	if (val0(res, 0) && val0(res, 0)[0] == 't')
		r = exec_sql(p, "CREATE INDEX entry_us ON entry(uid, size)");
	if (r == 0 && val0(res, 1) && val0(res, 1)[0] == 't') {
		if (!val0(res, 2)) {
			set_errmsg(p, "the pg_trgm extension is gone: the name indexes cannot be built");
			r = -EIO;
		} else {
			snprintf(sql, sizeof(sql),
				 "CREATE INDEX IF NOT EXISTS entry_names ON entry USING gin"
				 " (encode(name,'escape') %s.gin_trgm_ops); CREATE INDEX IF NOT EXISTS"
				 " xlink_names ON xlink USING gin (encode(name,'escape') %s.gin_trgm_ops)",
				 val0(res, 2), val0(res, 2));
			r = exec_sql(p, sql);
		}
	}
	PQclear(res);
	return r;
}

/* A bulk load (an emptied store filled by a scan): entry_us and the name
 * index of entry are not maintained row by row but built at the end. */
static int pg_bulk_begin(void *be)
{
	struct pg *p = be;
	int r = sync_buf(p);

	if (r == 0)
		r = exec_sql(p, "DROP INDEX IF EXISTS entry_us; DROP INDEX IF EXISTS entry_names");
	return r;
}

static int pg_bulk_end(void *be)
{
	struct pg *p = be;
	int r = sync_buf(p);

	if (r == 0)
		r = exec_sql(p, "SET LOCAL maintenance_work_mem = '256MB'");
	if (r == 0)
		r = ensure_indexes(p);
	if (r == 0)
		r = exec_sql(p, "ANALYZE entry; ANALYZE xlink; ANALYZE dirsum");
	return r;
}

/* ---- meta, positions ------------------------------------------------------------------------ */

static int pg_root_get(void *be, struct loafre_fid *ret)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	const char *v;
	unsigned char b[16];
	int r;

	p_str(&a, "root");
	r = run(p, S_META_GET, &a, &res);
	if (r < 0)
		return r;
	v = gs(res, 0, 0);
	if (PQntuples(res) == 0) {
		r = -ENOENT;
	} else if (!v || PQgetlength(res, 0, 0) != 32) {
		set_errmsg(p, "bad root FID in meta");
		r = -EIO;
	} else {
		for (int i = 0; i < 16 && r == 0; i++) {
			unsigned hi, lo;

			if (sscanf(v + 2 * i, "%1x%1x", &hi, &lo) != 2) {
				set_errmsg(p, "bad root FID in meta");
				r = -EIO;
			}
			b[i] = (unsigned char)(hi << 4 | lo);
		}
		if (r == 0)
			fid_from_bytes(b, ret);
	}
	PQclear(res);
	return r;
}

static int pg_root_set(void *be, const struct loafre_fid *root)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	char hex[33];

	snprintf(hex, sizeof(hex), "%016" PRIx64 "%08" PRIx32 "%08" PRIx32, root->f_seq, root->f_oid,
		 root->f_ver);
	p_str(&a, "root");
	p_str(&a, hex);
	return run(p, S_META_PUT, &a, NULL);
}

static int pg_position_get(void *be, const char *mdt, uint64_t *ret)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r;

	p_str(&a, mdt);
	r = run(p, S_POS_GET, &a, &res);
	if (r < 0)
		return r;
	if (PQntuples(res))
		*ret = (uint64_t)gi(res, 0, 0);
	else
		r = -ENOENT;
	PQclear(res);
	return r;
}

static int pg_position_set(void *be, const char *mdt, uint64_t index)
{
	struct pg *p = be;
	struct prm a = {.n = 0};

	p_str(&a, mdt);
	p_i64(&a, (int64_t)index);
	return run(p, S_POS_SET, &a, NULL);
}

static int pg_clear(void *be)
{
	struct pg *p = be;
	int r;

	buf_reset(&p->b);
	sm_reset(p);
	r = exec_sql(p, "TRUNCATE entry, xlink, dirsum, position; DELETE FROM meta WHERE key='root'");
	if (r == 0)
		r = ensure_indexes(p);
	if (r == 0) {
		know_start(&p->k);
		p->k.fresh = true;
	}
	return r;
}

static int pg_meta_get(void *be, const char *key, char *buf, size_t cap)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r;

	p_str(&a, key);
	r = run(p, S_KV_GET, &a, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		r = -ENOENT;
	} else {
		size_t n = (size_t)PQgetlength(res, 0, 0);

		if (n + 1 > cap) {
			r = -ENAMETOOLONG;
		} else {
			memcpy(buf, PQgetvalue(res, 0, 0), n);
			buf[n] = '\0';
		}
	}
	PQclear(res);
	return r;
}

static int pg_meta_set(void *be, const char *key, const char *value)
{
	struct pg *p = be;
	struct prm a = {.n = 0};

	p_str(&a, key);
	if (value)
		p_str(&a, value);
	return run(p, value ? S_KV_SET : S_KV_DEL, &a, NULL);
}

/* ---- entries ---------------------------------------------------------------------------------- */

static int fetch_row(struct pg *p, enum stmt k, const struct prm *a, bool strings,
		     struct loafre__idx_row *ret)
{
	PGresult *res = NULL;
	int r = run(p, k, a, &res);

	if (r < 0)
		return r;
	if (PQntuples(res) == 0)
		r = -ENOENT;
	else
		read_row(p, res, 0, 0, strings ? STR_COPY : STR_NONE, ret);
	PQclear(res);
	return r;
}

static int pg_entry_by_fid(void *be, const struct loafre_fid *fid, bool strings,
			   struct loafre__idx_row *ret)
{
	struct pg *p = be;
	struct brow *w = buf_by_fid(p, fid);
	struct prm a = {.n = 0};

	if (w) {
		brow_row(p, w, strings, ret);
		return 0;
	}
	if (know_usable(p) && !know_maybe(&p->k, key_fid(fid)))
		return -ENOENT;
	p_fid(&a, fid);
	return fetch_row(p, S_BY_FID, &a, strings, ret);
}

static int pg_entry_by_id(void *be, int64_t id, bool strings, struct loafre__idx_row *ret)
{
	struct pg *p = be;
	struct brow *w = buf_by_id(p, id);
	struct prm a = {.n = 0};

	if (w) {
		brow_row(p, w, strings, ret);
		return 0;
	}
	p_i64(&a, id);
	return fetch_row(p, S_BY_ID, &a, strings, ret);
}

static int pg_entry_insert(void *be, const struct loafre_fid *fid, const struct loafre__idx_attr *a,
			   uint32_t mdt, int64_t parent, const char *name, const char *jobid,
			   int64_t *ret_id)
{
	struct pg *p = be;
	struct ibuf *b = &p->b;
	struct brow *w;
	int64_t id = 0;
	int r;

	if (buf_by_fid(p, fid))
		return -EEXIST;
	r = buf_init(b);
	if (r == 0 && (b->n >= BUF_ROWS || b->alen >= BUF_ARENA || b->nlink_keys >= BUF_ROWS))
		r = buf_flush(p);
	if (r == 0)
		r = take_id(p, &id);
	if (r < 0)
		return r;
	w = &b->rows[b->n];
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->parent = parent;
	w->fid = *fid;
	w->a = *a;
	w->a.symlink = NULL;
	w->mdt = mdt;
	r = buf_str(b, parent ? name : NULL, &w->name_off, &w->name_len);
	if (r == 0)
		r = buf_str(b, jobid, &w->jobid_off, &w->jobid_len);
	if (r == 0)
		r = buf_str(b, a->symlink, &w->sym_off, &w->sym_len);
	if (r < 0)
		return r;
	slot_put(b, b->h_fid, key_fid(fid), b->n);
	slot_put(b, b->h_id, hash_id(id), b->n);
	know_add(&p->k, key_fid(fid));
	sm_note(p, fid);
	if (parent) {
		uint64_t h = key_link(parent, name, (size_t)w->name_len);

		slot_put(b, b->h_link, h, b->n);
		b->nlink_keys++;
		know_add(&p->k, h);
	}
	b->n++;
	*ret_id = id;
	return 0;
}

static int pg_entry_update(void *be, int64_t id, const struct loafre_fid *fid,
			   const struct loafre__idx_attr *a, uint32_t mdt)
{
	struct pg *p = be;
	struct brow *w = buf_by_id(p, id);
	struct prm q = {.n = 0};
	PGresult *res = NULL;
	int r;

	(void)fid;
	if (w) {
		int r2 = buf_str(&p->b, a->symlink, &w->sym_off, &w->sym_len);

		if (r2 < 0)
			return r2;
		w->a = *a;
		w->a.symlink = NULL;
		w->mdt = mdt;
		return 0;
	}
	p_i64(&q, id);
	p_i64(&q, (int64_t)a->size);
	p_i64(&q, (int64_t)a->blocks);
	p_i64(&q, a->mtime_ns);
	p_i64(&q, a->atime_ns);
	p_i64(&q, a->ctime_ns);
	p_i64(&q, a->uid);
	p_i64(&q, a->gid);
	p_i64(&q, (int64_t)a->nlink);
	p_i64(&q, (int64_t)a->ino);
	p_i64(&q, (int64_t)a->dev);
	p_i64(&q, mdt);
	p_i32(&q, (int32_t)a->mode);
	p_str(&q, a->symlink);
	r = run(p, S_UPDATE, &q, &res);
	if (r < 0)
		return r;
	if (affected(res) == 0)
		r = -ENOENT;
	PQclear(res);
	return r;
}

static int pg_entry_set_jobid(void *be, int64_t id, const char *jobid)
{
	struct pg *p = be;
	struct brow *w = buf_by_id(p, id);
	struct prm a = {.n = 0};

	if (w)
		return buf_str(&p->b, jobid, &w->jobid_off, &w->jobid_len);
	p_i64(&a, id);
	p_str(&a, jobid);
	return run(p, S_SET_JOBID, &a, NULL);
}

static int pg_entry_set_link(void *be, int64_t id, int64_t parent, const char *name)
{
	struct pg *p = be;
	struct ibuf *b = &p->b;
	struct brow *w = buf_by_id(p, id);
	struct prm a = {.n = 0};
	int r;

	if (w && b->nlink_keys >= BUF_ROWS) {
		r = buf_flush(p);
		if (r < 0)
			return r;
		w = NULL;
	}
	if (parent)
		know_add(&p->k, key_link(parent, name, strlen(name)));
	if (w) {
		/* the old link's slot goes stale: lookups compare the row */
		r = buf_str(b, parent ? name : NULL, &w->name_off, &w->name_len);
		if (r < 0)
			return r;
		w->parent = parent;
		if (parent) {
			slot_put(b, b->h_link, key_link(parent, name, (size_t)w->name_len),
				 (size_t)(w - b->rows));
			b->nlink_keys++;
		}
		return 0;
	}
	p_i64(&a, id);
	if (parent) {
		p_i64(&a, parent);
		p_str(&a, name);
	} else {
		p_bytes(&a, NULL, 0);
		p_bytes(&a, NULL, 0);
	}
	return run(p, S_SET_LINK, &a, NULL);
}

static int pg_entry_delete(void *be, int64_t id)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	int r = buf_by_id(p, id) ? buf_flush(p) : 0;

	if (r < 0)
		return r;
	p_i64(&a, id);
	return run(p, S_DELETE, &a, NULL);
}

/* The largest f_oid of the entries with f_seq = seq: the table's (asked
 * once per transaction and sequence; the writer holds the lock) and this
 * transaction's inserts (buffered ones included). */
static int pg_seq_max(void *be, uint64_t seq, uint32_t *ret_oid)
{
	struct pg *p = be;
	unsigned char lo[16], hi[16];
	struct prm a = {.n = 0};
	struct seqent *e = sm_get(p, seq);
	PGresult *res = NULL;
	int r;

	if (!e)
		return -ENOMEM;
	if (e->db_known)
		goto answer;
	put_be64(lo, seq);
	memset(lo + 8, 0, 8);
	put_be64(hi, seq);
	memset(hi + 8, 0xff, 8);
	p_bytes(&a, lo, 16);
	p_bytes(&a, hi, 16);
	r = run(p, S_SEQ_MAX, &a, &res);
	if (r < 0)
		return r;
	e->db_known = true;
	e->db_has = PQntuples(res) && PQgetlength(res, 0, 0) == 16;
	if (e->db_has)
		e->db_max = get_be32((const unsigned char *)PQgetvalue(res, 0, 0) + 8);
	PQclear(res);
answer:
	if (!e->db_has && !e->ins_has)
		return -ENOENT;
	*ret_oid = !e->ins_has ? e->db_max : !e->db_has ? e->ins_max
				  : e->db_max > e->ins_max ? e->db_max : e->ins_max;
	return 0;
}

/* ---- links -------------------------------------------------------------------------------------- */

static int pg_link_get(void *be, int64_t parent, const char *name, int64_t *ret_child,
		       int64_t *ret_xid)
{
	struct pg *p = be;
	size_t len = strlen(name);
	struct brow *w = buf_by_link(p, parent, name, len);
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r;

	if (w) {
		*ret_child = w->id;
		*ret_xid = 0;
		return 0;
	}
	if (know_usable(p) && !know_maybe(&p->k, key_link(parent, name, len)))
		return -ENOENT;
	p_i64(&a, parent);
	p_bytes(&a, name, len);
	r = run(p, S_LINK_GET, &a, &res);
	if (r < 0)
		return r;
	if (PQntuples(res)) {
		*ret_child = gi(res, 0, 0);
		*ret_xid = gi(res, 0, 1);
	} else {
		r = -ENOENT;
	}
	PQclear(res);
	return r;
}

static int pg_xlinks(void *be, int64_t child, loafre__idx_xlink_fn cb, void *ctx)
{
	struct pg *p = be;
	struct brow *w = buf_by_id(p, child);
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r;

	if (w && w->nxlinks == 0)
		return 0;
	p_i64(&a, child);
	r = run(p, S_XLINKS_OF, &a, &res);
	if (r < 0)
		return r;
	for (int i = 0; i < PQntuples(res) && r == 0; i++) {
		struct loafre__idx_xlink l = {
			.xid = gi(res, i, 0),
			.parent = gi(res, i, 1),
			.child = child,
			.name = gs(res, i, 2),
		};

		r = cb(ctx, &l);
	}
	PQclear(res);
	return r;
}

static int pg_xlink_insert(void *be, int64_t parent, const char *name, int64_t child)
{
	struct pg *p = be;
	struct brow *w = buf_by_id(p, child);
	struct prm a = {.n = 0};
	int r;

	p_i64(&a, parent);
	p_str(&a, name);
	p_i64(&a, child);
	r = run(p, w ? S_XLINK_INS1 : S_XLINK_INS, &a, NULL);
	if (r == 0) {
		if (w)
			w->nxlinks++;
		know_add(&p->k, key_link(parent, name, strlen(name)));
	}
	return r;
}

static int pg_xlink_delete(void *be, int64_t xid)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r;

	p_i64(&a, xid);
	r = run(p, S_XLINK_DEL, &a, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		r = -ENOENT;
	} else {
		struct brow *w = buf_by_id(p, gi(res, 0, 0));

		if (w)
			w->nxlinks--;
	}
	PQclear(res);
	return r;
}

/* Every link of a directory in name order, keyset pages (callbacks may
 * nest queries: each page is a complete result). */
static int pg_children(void *be, int64_t dir, bool strings, loafre__idx_childrow_fn cb, void *ctx)
{
	struct pg *p = be;
	char after[LOAFRE__IDX_NAME_MAX + 1];
	size_t alen = 0;
	int64_t limit = 64;
	int r = sync_buf(p);

	while (r == 0) {
		struct prm a = {.n = 0};
		PGresult *res = NULL;
		int n;

		p_i64(&a, dir);
		p_bytes(&a, alen ? after : "", alen);
		p_i64(&a, limit);
		r = run(p, S_CHILDREN, &a, &res);
		if (r < 0)
			break;
		n = PQntuples(res);
		for (int i = 0; i < n && r == 0; i++) {
			struct loafre__idx_row row;
			int64_t xid = gi(res, i, 1);

			read_row(p, res, i, 2, strings ? STR_BORROW : STR_NONE, &row);
			r = cb(ctx, gs(res, i, 0), &row, xid);
		}
		if (r == 0 && n == limit) {
			alen = (size_t)PQgetlength(res, n - 1, 0);
			if (alen > LOAFRE__IDX_NAME_MAX)
				alen = LOAFRE__IDX_NAME_MAX;
			memcpy(after, PQgetvalue(res, n - 1, 0), alen);
		}
		PQclear(res);
		if (n < limit)
			break;
		limit = PAGE_ROWS;
	}
	return r;
}

/* ---- rollups -------------------------------------------------------------------------------------- */

static int pg_dirsum_get(void *be, int64_t dir, struct loafre__idx_sum *ret)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r;

	p_i64(&a, dir);
	r = run(p, S_DIRSUM_GET, &a, &res);
	if (r < 0)
		return r;
	if (PQntuples(res)) {
		ret->blocks = (uint64_t)gi(res, 0, 0);
		ret->bytes = (uint64_t)gi(res, 0, 1);
		ret->inodes = (uint64_t)gi(res, 0, 2);
	} else {
		memset(ret, 0, sizeof(*ret));
	}
	PQclear(res);
	return 0;
}

/* A one-dimensional int8[] in binary form. */
static unsigned char *int8_array(size_t n, const struct loafre__idx_delta *d, size_t field,
				 size_t *ret_len)
{
	size_t len = 20 + 12 * n;
	unsigned char *b = malloc(len);

	if (!b)
		return NULL;
	put_be32(b, 1);      /* dimensions */
	put_be32(b + 4, 0);  /* no NULLs */
	put_be32(b + 8, 20); /* int8 */
	put_be32(b + 12, (uint32_t)n);
	put_be32(b + 16, 1); /* lower bound */
	for (size_t i = 0; i < n; i++) {
		int64_t v = field == 0 ? d[i].id : field == 1 ? d[i].blocks : field == 2 ? d[i].bytes
											 : d[i].inodes;

		put_be32(b + 20 + 12 * i, 8);
		put_be64(b + 24 + 12 * i, (uint64_t)v);
	}
	*ret_len = len;
	return b;
}

static int pg_dirsum_add(void *be, const struct loafre__idx_delta *d, size_t n)
{
	struct pg *p = be;
	unsigned char *arr[4] = {NULL};
	size_t len[4];
	struct prm a = {.n = 0};
	int r = 0;

	if (n == 0)
		return 0;
	if (n > INT32_MAX / 16)
		return -E2BIG;
	for (size_t f = 0; f < 4; f++) {
		arr[f] = int8_array(n, d, f, &len[f]);
		if (!arr[f]) {
			r = -ENOMEM;
			goto out;
		}
		p_bytes(&a, arr[f], len[f]);
	}
	r = run(p, S_DIRSUM_ADD, &a, NULL);
out:
	for (size_t f = 0; f < 4; f++)
		free(arr[f]);
	return r;
}

static int pg_dirsum_delete(void *be, int64_t dir)
{
	struct pg *p = be;
	struct prm a = {.n = 0};

	p_i64(&a, dir);
	return run(p, S_DIRSUM_DEL, &a, NULL);
}

/* ---- full scans (checker), keyset pages ------------------------------------------------------------ */

static int pg_scan_entries(void *be, loafre__idx_row_fn cb, void *ctx)
{
	struct pg *p = be;
	int64_t after = 0;
	int r = sync_buf(p);

	while (r == 0) {
		struct prm a = {.n = 0};
		PGresult *res = NULL;
		int n;

		p_i64(&a, after);
		p_i64(&a, PAGE_ROWS);
		r = run(p, S_SCAN_ENTRIES, &a, &res);
		if (r < 0)
			break;
		n = PQntuples(res);
		for (int i = 0; i < n && r == 0; i++) {
			struct loafre__idx_row row;

			read_row(p, res, i, 0, STR_NONE, &row);
			after = row.id;
			r = cb(ctx, &row);
		}
		PQclear(res);
		if (n < PAGE_ROWS)
			break;
	}
	return r;
}

static int pg_scan_xlinks(void *be, loafre__idx_xlink_fn cb, void *ctx)
{
	struct pg *p = be;
	int64_t child = 0, xid = 0;
	int r = sync_buf(p);

	while (r == 0) {
		struct prm a = {.n = 0};
		PGresult *res = NULL;
		int n;

		p_i64(&a, child);
		p_i64(&a, xid);
		p_i64(&a, PAGE_ROWS);
		r = run(p, S_SCAN_XLINKS, &a, &res);
		if (r < 0)
			break;
		n = PQntuples(res);
		for (int i = 0; i < n && r == 0; i++) {
			struct loafre__idx_xlink l = {
				.xid = gi(res, i, 0),
				.parent = gi(res, i, 1),
				.name = gs(res, i, 2),
				.child = gi(res, i, 3),
			};

			child = l.child;
			xid = l.xid;
			r = cb(ctx, &l);
		}
		PQclear(res);
		if (n < PAGE_ROWS)
			break;
	}
	return r;
}

static int pg_scan_dirsums(void *be, int (*cb)(void *ctx, int64_t id, const struct loafre__idx_sum *s),
			   void *ctx)
{
	struct pg *p = be;
	int64_t after = 0;
	int r = sync_buf(p);

	while (r == 0) {
		struct prm a = {.n = 0};
		PGresult *res = NULL;
		int n;

		p_i64(&a, after);
		p_i64(&a, PAGE_ROWS);
		r = run(p, S_SCAN_DIRSUMS, &a, &res);
		if (r < 0)
			break;
		n = PQntuples(res);
		for (int i = 0; i < n && r == 0; i++) {
			struct loafre__idx_sum s = {(uint64_t)gi(res, i, 1), (uint64_t)gi(res, i, 2),
						    (uint64_t)gi(res, i, 3)};

			after = gi(res, i, 0);
			r = cb(ctx, after, &s);
		}
		PQclear(res);
		if (n < PAGE_ROWS)
			break;
	}
	return r;
}

/* Every directory with its primary link (index_backend.h `dirs`), by
 * keyset pages of dirsum joined to entry. */
static int pg_dirs(void *be, loafre__idx_dir_fn cb, void *ctx)
{
	struct pg *p = be;
	int64_t after = 0;
	int r = sync_buf(p);

	while (r == 0) {
		struct prm a = {.n = 0};
		PGresult *res = NULL;
		int n;

		p_i64(&a, after);
		p_i64(&a, PAGE_ROWS);
		r = run(p, S_DIRS, &a, &res);
		if (r < 0)
			break;
		n = PQntuples(res);
		for (int i = 0; i < n && r == 0; i++) {
			struct loafre_fid fid;
			const char *name = gs(res, i, 3);

			after = gi(res, i, 0);
			gfid(res, i, 2, &fid);
			r = cb(ctx, after, gi(res, i, 1), &fid, name ? name : "");
		}
		PQclear(res);
		if (n < PAGE_ROWS)
			break;
	}
	return r;
}

/* What the tables' own structure can tell (index_backend.h): duplicates,
 * malformed rows, ids beyond their sequences. */
static int pg_check(void *be, char *err, size_t errlen)
{
	static const struct {
		const char *sql;    /* a count of problems */
		const char *what;   /* the problem */
	} probes[] = {
		{"SELECT count(*) FROM (SELECT 1 FROM entry GROUP BY fid HAVING count(*)>1) d",
		 "two entries with one FID"},
		{"SELECT count(*) FROM (SELECT 1 FROM entry WHERE parent IS NOT NULL GROUP BY parent,name"
		 " HAVING count(*)>1) d",
		 "two primary links with one name"},
		{"SELECT count(*) FROM (SELECT 1 FROM xlink GROUP BY parent,name HAVING count(*)>1) d",
		 "two xlinks with one name"},
		{"SELECT count(*) FROM xlink x JOIN entry e ON e.parent=x.parent AND e.name=x.name",
		 "a primary link and an xlink with one name"},
		{"SELECT count(*) FROM entry WHERE length(fid)<>16 OR (parent IS NULL)<>(name IS NULL)"
		 " OR length(name)=0 OR length(name)>255",
		 "malformed entry rows (FID length, link columns)"},
		{"SELECT count(*) FROM entry WHERE id<1 OR id>(SELECT last_value+" ID_BLOCK_STR "-1 FROM"
		 " entry_id)",
		 "entry ids outside the id sequence"},
		{"SELECT count(*) FROM xlink WHERE xid<1 OR xid>(SELECT last_value FROM xlink_xid)",
		 "xlink ids outside their sequence"},
	};
	struct pg *p = be;
	int r = sync_buf(p);

	for (size_t i = 0; r == 0 && i < sizeof(probes) / sizeof(probes[0]); i++) {
		PGresult *res = NULL;
		int64_t n;

		r = run_sql(p, probes[i].sql, NULL, 1, &res);
		if (r < 0)
			break;
		n = gi(res, 0, 0);
		PQclear(res);
		if (n) {
			snprintf(err, errlen, "%s (%" PRId64 ")", probes[i].what, n);
			r = -EBADMSG;
		}
	}
	return r;
}

/* ---- link queries: select, names ------------------------------------------------------------------- */

/* A growing SQL text. */
struct sqlb {
	char *s;                    /* text */
	size_t n, cap;              /* used, allocated */
	bool oom;                   /* an append failed */
};

static void sb_add(struct sqlb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sqlb *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0) {
			b->oom = true;
			return;
		}
		if (b->s && b->n + (size_t)k < b->cap) {
			b->n += (size_t)k;
			return;
		}
		{
			size_t cap = b->cap ? b->cap : 1024;
			char *ns;

			while (cap <= b->n + (size_t)k)
				cap *= 2;
			ns = realloc(b->s, cap);
			if (!ns) {
				b->oom = true;
				return;
			}
			b->s = ns;
			b->cap = cap;
		}
	}
}

/* The LIKE pattern matching encode(name,'escape') for names containing
 * lit[0, n) — which may start and/or end with a NUL anchor (the name
 * starts / ends there; loafre__idx_glob_literal). */
static void like_pattern(const char *lit, size_t n, char *out, size_t cap)
{
	bool start = n && lit[0] == '\0', end;
	size_t o = 0;

	if (start) {
		lit++;
		n--;
	}
	end = n && lit[n - 1] == '\0';
	if (end)
		n--;
	if (!start)
		out[o++] = '%';
	for (size_t i = 0; i < n && o + 12 < cap; i++) {
		unsigned char c = (unsigned char)lit[i];
		char enc[8];

		if (c >= 0x80 || c == 0)
			snprintf(enc, sizeof(enc), "\\%03o", c);
		else if (c == '\\')
			snprintf(enc, sizeof(enc), "\\\\");
		else
			snprintf(enc, sizeof(enc), "%c", c);
		for (const char *e = enc; *e; e++) {
			if (*e == '\\' || *e == '%' || *e == '_')
				out[o++] = '\\';
			out[o++] = *e;
		}
	}
	if (!end)
		out[o++] = '%';
	out[o] = '\0';
}

static void lower_ascii(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
}

static bool all_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* A link query's exact test and its caller. */
struct lq {
	const struct loafre__idx_filter *f; /* select: glob checked with fnmatch */
	int fnflags;                /* its flags */
	const char *needle;         /* names: the substring (lowercased when icase) */
	size_t nlen;                /* its length */
	bool icase;                 /* names: ASCII case folding */
	loafre__idx_link_fn cb;     /* the caller's */
	void *ctx;                  /* its context */
};

static bool lq_match(const struct lq *q, const char *name, size_t len)
{
	char low[LOAFRE__IDX_NAME_MAX + 1];

	if (q->f)
		return !q->f->name_glob || fnmatch(q->f->name_glob, name, q->fnflags) == 0;
	if (!q->nlen)
		return true;
	if (q->icase) {
		if (len > LOAFRE__IDX_NAME_MAX)
			return false;
		lower_ascii(low, name, len);
		name = low;
	}
	return memmem(name, len, q->needle, q->nlen) != NULL;
}

/* Runs the UNION of primary links and xlinks with `cond` (on e) and, when
 * `like` is "LIKE" or "ILIKE", encode(name,'escape') `like` $like_param on
 * the link's name, emitting every link that passes lq_match. */
static int link_query(struct pg *p, const char *cond, const char *like, int like_param,
		      const struct prm *a, const struct lq *q)
{
	struct sqlb b = {0};
	struct rows w;
	PGresult *res = NULL;
	int row, r;

	sb_add(&b, "SELECT " ECOLS_E ",p.fid,e.name FROM entry e JOIN entry p ON p.id=e.parent"
		   " WHERE e.parent IS NOT NULL%s", cond);
	if (like)
		sb_add(&b, " AND encode(e.name,'escape') %s $%d::text", like, like_param);
	sb_add(&b, " UNION ALL SELECT " ECOLS_E ",p.fid,x.name FROM xlink x JOIN entry e ON"
		   " e.id=x.child JOIN entry p ON p.id=x.parent WHERE true%s", cond);
	if (like)
		sb_add(&b, " AND encode(x.name,'escape') %s $%d::text", like, like_param);
	if (b.oom) {
		free(b.s);
		return -ENOMEM;
	}
	r = sync_buf(p);
	if (r == 0)
		r = rows_open(p, &w, b.s, a, ROWS_PROBE);
	free(b.s);
	if (r < 0)
		return r;
	while ((r = rows_next(&w, &res, &row)) == 1) {
		struct loafre__idx_row er;
		struct loafre_fid pfid;
		const char *name = gs(res, row, NCOLS + 1);
		size_t len = (size_t)PQgetlength(res, row, NCOLS + 1);

		if (!name || !lq_match(q, name, len))
			continue;
		read_row(p, res, row, 0, STR_BORROW, &er);
		gfid(res, row, NCOLS, &pfid);
		r = q->cb(q->ctx, &pfid, name, &er.e);
		if (r)
			break;
	}
	rows_close(&w);
	return r;
}

static int pg_names(void *be, const char *needle, bool icase, loafre__idx_link_fn cb, void *ctx)
{
	struct pg *p = be;
	size_t n = strlen(needle);
	char low[LOAFRE__IDX_NAME_MAX + 1], pat[8 * LOAFRE__IDX_NAME_MAX + 16];
	struct lq q = {.needle = low, .nlen = n, .icase = icase, .cb = cb, .ctx = ctx};
	struct prm a = {.n = 0};

	if (n > LOAFRE__IDX_NAME_MAX)
		return 0; /* no name is that long */
	if (icase)
		lower_ascii(low, needle, n);
	else
		memcpy(low, needle, n);
	low[n] = '\0';
	if (!n)
		return link_query(p, "", NULL, 0, NULL, &q);
	like_pattern(needle, n, pat, sizeof(pat));
	p_str(&a, pat);
	return link_query(p, "", icase ? "ILIKE" : "LIKE", 1, &a, &q);
}

/* " AND <lhs> <op> $N" with v as parameter N. */
static void cond_add(struct sqlb *b, struct prm *a, const char *lhs, const char *op, int64_t v)
{
	p_i64(a, v);
	sb_add(b, " AND %s%s$%d::int8", lhs, op, a->n);
}

static int pg_select(void *be, const struct loafre__idx_filter *f, loafre__idx_link_fn cb, void *ctx)
{
	struct pg *p = be;
	struct lq q = {.f = f, .fnflags = f->name_icase ? FNM_CASEFOLD : 0, .cb = cb, .ctx = ctx};
	char lit[LOAFRE__IDX_NAME_MAX + 3], pat[8 * LOAFRE__IDX_NAME_MAX + 16];
	struct sqlb b = {0};
	struct prm a = {.n = 0};
	size_t nlit = 0;
	int r;

	sb_add(&b, "%s", "");
	if (f->type_mask) {
		p_i64(&a, f->type_mask);
		sb_add(&b, " AND ((1::int8<<((e.mode&61440)>>12))&$%d::int8)<>0", a.n);
	}
	if (f->has_uid)
		cond_add(&b, &a, "e.uid", "=", f->uid);
	if (f->has_gid)
		cond_add(&b, &a, "e.gid", "=", f->gid);
	if (f->size_min)
		cond_add(&b, &a, "e.size", ">=", clamp64(f->size_min));
	if (f->size_max)
		cond_add(&b, &a, "e.size", "<=", clamp64(f->size_max));
	if (f->mtime_min)
		cond_add(&b, &a, "e.mtime", ">=", f->mtime_min);
	if (f->mtime_max)
		cond_add(&b, &a, "e.mtime", "<=", f->mtime_max);
	if (f->atime_min)
		cond_add(&b, &a, "e.atime", ">=", f->atime_min);
	if (f->atime_max)
		cond_add(&b, &a, "e.atime", "<=", f->atime_max);
	if (f->ctime_min)
		cond_add(&b, &a, "e.ctime", ">=", f->ctime_min);
	if (f->ctime_max)
		cond_add(&b, &a, "e.ctime", "<=", f->ctime_max);
	if (f->name_glob && strlen(f->name_glob) <= LOAFRE__IDX_NAME_MAX)
		nlit = loafre__idx_glob_literal(f->name_glob, lit, sizeof(lit));
	if (nlit && f->name_icase && !all_ascii(lit, nlit))
		nlit = 0; /* fnmatch may fold more than ASCII */
	if (nlit) {
		like_pattern(lit, nlit, pat, sizeof(pat));
		p_str(&a, pat);
	}
	r = b.oom ? -ENOMEM
		  : link_query(p, b.s, nlit ? (f->name_icase ? "ILIKE" : "LIKE") : NULL, a.n, &a, &q);
	free(b.s);
	return r;
}

/* ---- reports ---------------------------------------------------------------------------------------- */

/* The root's id (0: none), so that reports count it among linked entries. */
static int root_id(struct pg *p, int64_t *ret)
{
	PGresult *res = NULL;
	int r = run(p, S_ROOT_ID, NULL, &res);

	if (r < 0)
		return r;
	*ret = PQntuples(res) ? gi(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

#define SUMS                                                                                     \
	"count(*),coalesce(sum(size),0)::int8,coalesce(sum(blocks),0)::int8,"                    \
	"count(*) FILTER (WHERE mode&61440=32768),count(*) FILTER (WHERE mode&61440=16384),"      \
	"count(*) FILTER (WHERE mode&61440=40960)"

static void read_sums(const PGresult *res, int i, int c0, struct loafre__idx_owner_sum *o)
{
	o->inodes = (uint64_t)gi(res, i, c0);
	o->bytes = (uint64_t)gi(res, i, c0 + 1);
	o->blocks = (uint64_t)gi(res, i, c0 + 2);
	o->files = (uint64_t)gi(res, i, c0 + 3);
	o->dirs = (uint64_t)gi(res, i, c0 + 4);
	o->symlinks = (uint64_t)gi(res, i, c0 + 5);
}

static void p_limit(struct prm *a, size_t limit)
{
	if (limit)
		p_i64(a, clamp64(limit));
	else
		p_bytes(a, NULL, 0); /* LIMIT NULL: all */
}

static int pg_owners(void *be, char by, size_t limit,
		     int (*cb)(void *ctx, const struct loafre__idx_owner_sum *o), void *ctx)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	char sql[512];
	struct rows w;
	PGresult *res = NULL;
	int64_t root = 0;
	int row, r = sync_buf(p);

	if (r == 0)
		r = root_id(p, &root);
	if (r < 0)
		return r;
	p_i64(&a, root);
	p_limit(&a, limit);
	snprintf(sql, sizeof(sql),
		 "SELECT %s," SUMS " FROM entry WHERE parent IS NOT NULL OR id=$1::int8 GROUP BY 1"
		 " ORDER BY 4 DESC,1 LIMIT $2::int8",
		 by == 'u' ? "uid" : "gid");
	r = rows_open(p, &w, sql, &a, ROWS_WHOLE); /* one row per owner */
	if (r < 0)
		return r;
	while ((r = rows_next(&w, &res, &row)) == 1) {
		struct loafre__idx_owner_sum o = {.id = (uint32_t)gi(res, row, 0)};

		read_sums(res, row, 1, &o);
		r = cb(ctx, &o);
		if (r)
			break;
	}
	rows_close(&w);
	return r;
}

static int pg_totals(void *be, struct loafre__idx_owner_sum *ret)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int64_t root = 0;
	int r = sync_buf(p);

	if (r == 0)
		r = root_id(p, &root);
	if (r < 0)
		return r;
	p_i64(&a, root);
	r = run_sql(p, "SELECT " SUMS " FROM entry WHERE parent IS NOT NULL OR id=$1::int8", &a, 1,
		    &res);
	if (r < 0)
		return r;
	read_sums(res, 0, 0, ret);
	PQclear(res);
	return 0;
}

static int pg_top_dirs(void *be, size_t limit,
		       int (*cb)(void *ctx, const struct loafre_fid *dir, const struct loafre__idx_sum *s),
		       void *ctx)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	struct rows w;
	PGresult *res = NULL;
	int row, r = sync_buf(p);

	if (r < 0)
		return r;
	p_limit(&a, limit);
	r = rows_open(p, &w,
		     "SELECT e.fid,d.blocks,d.bytes,d.inodes FROM dirsum d JOIN entry e ON e.id=d.id"
		     " ORDER BY d.blocks DESC,d.id LIMIT $1::int8",
		     &a, limit && limit <= PROBE_ROWS ? ROWS_WHOLE : ROWS_CURSOR);
	if (r < 0)
		return r;
	while ((r = rows_next(&w, &res, &row)) == 1) {
		struct loafre_fid fid;
		struct loafre__idx_sum s = {(uint64_t)gi(res, row, 1), (uint64_t)gi(res, row, 2),
					    (uint64_t)gi(res, row, 3)};

		gfid(res, row, 0, &fid);
		r = cb(ctx, &fid, &s);
		if (r)
			break;
	}
	rows_close(&w);
	return r;
}

static int pg_size_profile(void *be, uint32_t uid, uint64_t counts[64], uint64_t bytes[64])
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r = sync_buf(p);

	if (r < 0)
		return r;
	if (uid != UINT32_MAX)
		p_i64(&a, uid);
	/* bucket: the bit length of size (its first 1 in 64 bits), as text so
	 * that the byte sums wrap modulo 2^64 like the SQLite backend's */
	r = run_sql(p,
		    uid == UINT32_MAX
			    ? "SELECT k,count(*),mod(sum(s),18446744073709551616)::text FROM (SELECT CASE"
			      " WHEN size=0 THEN 0 ELSE least(65-position('1' in size::bit(64)::text),63)"
			      " END k,CASE WHEN size<0 THEN size::numeric+18446744073709551616 ELSE size"
			      " END s FROM entry WHERE mode&61440=32768 AND parent IS NOT NULL) b GROUP BY k"
			    : "SELECT k,count(*),mod(sum(s),18446744073709551616)::text FROM (SELECT CASE"
			      " WHEN size=0 THEN 0 ELSE least(65-position('1' in size::bit(64)::text),63)"
			      " END k,CASE WHEN size<0 THEN size::numeric+18446744073709551616 ELSE size"
			      " END s FROM entry WHERE mode&61440=32768 AND parent IS NOT NULL AND"
			      " uid=$1::int8) b GROUP BY k",
		    &a, 1, &res);
	if (r < 0)
		return r;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t k = gi(res, i, 0);
		const char *s = gs(res, i, 2);

		if (k < 0 || k > 63)
			continue;
		counts[k] += (uint64_t)gi(res, i, 1);
		bytes[k] += s ? strtoull(s, NULL, 10) : 0;
	}
	PQclear(res);
	return 0;
}

static int pg_oldest(void *be, char field, uint32_t uid, size_t limit,
		     int (*cb)(void *ctx, const struct loafre__idx_entry *e), void *ctx)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	char sql[512];
	struct rows w;
	PGresult *res = NULL;
	int64_t root = 0;
	int row, r = sync_buf(p);

	if (r == 0)
		r = root_id(p, &root);
	if (r < 0)
		return r;
	p_i64(&a, root);
	p_limit(&a, limit);
	if (uid != UINT32_MAX)
		p_i64(&a, uid);
	snprintf(sql, sizeof(sql),
		 "SELECT " ECOLS " FROM entry WHERE (parent IS NOT NULL OR id=$1::int8)%s ORDER BY %s,id"
		 " LIMIT $2::int8",
		 uid == UINT32_MAX ? "" : " AND uid=$3::int8",
		 field == 'm' ? "mtime" : field == 'a' ? "atime" : "ctime");
	r = rows_open(p, &w, sql, &a, limit && limit <= PROBE_ROWS ? ROWS_WHOLE : ROWS_CURSOR);
	if (r < 0)
		return r;
	while ((r = rows_next(&w, &res, &row)) == 1) {
		struct loafre__idx_row er;

		read_row(p, res, row, 0, STR_BORROW, &er);
		r = cb(ctx, &er.e);
		if (r)
			break;
	}
	rows_close(&w);
	return r;
}

static int pg_size(void *be, uint64_t *ret_bytes, uint64_t *ret_entries)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r = sync_buf(p);

	if (r < 0)
		return r;
	p_str(&a, p->schema);
	r = run_sql(p,
		    "SELECT coalesce(sum(pg_total_relation_size(c.oid)),0)::int8,(SELECT count(*) FROM"
		    " entry) FROM pg_class c JOIN pg_namespace n ON n.oid=c.relnamespace WHERE"
		    " n.nspname=$1::text AND c.relkind='r'",
		    &a, 1, &res);
	if (r < 0)
		return r;
	*ret_bytes = (uint64_t)gi(res, 0, 0);
	*ret_entries = (uint64_t)gi(res, 0, 1);
	PQclear(res);
	return 0;
}

/* ---- quotas -------------------------------------------------------------------------------------------- */

static int pg_quota_set(void *be, const struct loafre__idx_quota *q)
{
	struct pg *p = be;
	struct prm a = {.n = 0};

	p_fid(&a, &q->dir);
	p_i64(&a, clamp64(q->bytes_limit));
	p_i64(&a, clamp64(q->inodes_limit));
	p_bool(&a, q->over);
	return run(p, S_QUOTA_SET, &a, NULL);
}

static int pg_quota_remove(void *be, const struct loafre_fid *dir)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r;

	p_fid(&a, dir);
	r = run(p, S_QUOTA_RM, &a, &res);
	if (r < 0)
		return r;
	r = affected(res) ? 0 : -ENOENT;
	PQclear(res);
	return r;
}

static int pg_quota_list(void *be, int (*cb)(void *ctx, const struct loafre__idx_quota *q), void *ctx)
{
	struct pg *p = be;
	PGresult *res = NULL;
	int r = run(p, S_QUOTA_LIST, NULL, &res);

	if (r < 0)
		return r;
	for (int i = 0; i < PQntuples(res) && r == 0; i++) {
		struct loafre__idx_quota q = {
			.bytes_limit = (uint64_t)gi(res, i, 1),
			.inodes_limit = (uint64_t)gi(res, i, 2),
			.over = gi(res, i, 3) != 0,
		};

		gfid(res, i, 0, &q.dir);
		r = cb(ctx, &q);
	}
	PQclear(res);
	return r;
}

static int pg_quota_mark(void *be, const struct loafre_fid *dir, bool over)
{
	struct pg *p = be;
	struct prm a = {.n = 0};
	PGresult *res = NULL;
	int r;

	p_fid(&a, dir);
	p_bool(&a, over);
	r = run(p, S_QUOTA_MARK, &a, &res);
	if (r < 0)
		return r;
	r = affected(res) ? 0 : -ENOENT;
	PQclear(res);
	return r;
}

static const struct loafre__idx_ops pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.errmsg = pg_errmsg,
	.set_busy_timeout = pg_set_busy_timeout,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.read_begin = pg_read_begin,
	.read_end = pg_read_end,
	.root_get = pg_root_get,
	.root_set = pg_root_set,
	.position_get = pg_position_get,
	.position_set = pg_position_set,
	.clear = pg_clear,
	.meta_get = pg_meta_get,
	.meta_set = pg_meta_set,
	.entry_by_fid = pg_entry_by_fid,
	.entry_by_id = pg_entry_by_id,
	.entry_insert = pg_entry_insert,
	.entry_update = pg_entry_update,
	.entry_set_jobid = pg_entry_set_jobid,
	.entry_set_link = pg_entry_set_link,
	.entry_delete = pg_entry_delete,
	.link_get = pg_link_get,
	.xlinks = pg_xlinks,
	.xlink_insert = pg_xlink_insert,
	.xlink_delete = pg_xlink_delete,
	.children = pg_children,
	.dirsum_get = pg_dirsum_get,
	.dirsum_add = pg_dirsum_add,
	.dirsum_delete = pg_dirsum_delete,
	.scan_entries = pg_scan_entries,
	.scan_xlinks = pg_scan_xlinks,
	.scan_dirsums = pg_scan_dirsums,
	.check = pg_check,
	.select = pg_select,
	.names = pg_names,
	.dirs = pg_dirs,
	.owners = pg_owners,
	.top_dirs = pg_top_dirs,
	.size_profile = pg_size_profile,
	.oldest = pg_oldest,
	.totals = pg_totals,
	.size = pg_size,
	.quota_set = pg_quota_set,
	.quota_remove = pg_quota_remove,
	.quota_list = pg_quota_list,
	.quota_mark = pg_quota_mark,
	.changed = pg_changed,
	.bulk_begin = pg_bulk_begin,
	.bulk_end = pg_bulk_end,
	.seq_max = pg_seq_max,
};

int loafre__idx_pg_ops(const struct loafre__idx_ops **ret, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*ret = &pg_ops;
	return 0;
}
