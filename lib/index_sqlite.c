/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_sqlite.c — the SQLite backend of the metadata index (lib/
 * index_store.h; the model's rules live in lib/index_store.c, the split in
 * lib/index_backend.h).
 *
 * FILE. One SQLite database per filesystem, WAL mode (SQLite's own WAL is
 * the recovery), synchronous=NORMAL: commits are not synced, checkpoints
 * are; a commit survives a crash of the process, while an OS crash or a
 * power loss may take the last commits back, whole (the changelog
 * positions with their changes: the store stays consistent, at an older
 * position); a store lost altogether is rebuilt by a scan. Page size
 * 4096. A writing handle checkpoints every 16384 WAL pages (64 MiB: a page
 * rewritten by many commits is copied back once), keeps up to 256 MiB of
 * pages in its cache (readers 64 MiB; both read through mmap) and its
 * temporary B-trees in memory, and writes the WAL's frames in batches
 * (the "loafre-wal" VFS below; the file is SQLite's, unchanged).
 *   PRAGMA application_id = 0x6c6f6978 ("loix"): a loafre index store.
 *   PRAGMA user_version   = 1: the format below. Another value: -EPROTO,
 *   and the file is not touched (no pragma is written before the check).
 *
 * TABLES (every integer is SQLite's variable-size integer: 0, 1, 2, 3, 4,
 * 6 or 8 bytes by value, 0 bytes for the constants 0 and 1).
 *
 *   meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID
 *       'fsname' TEXT   the filesystem (checked at open when given)
 *       'root'   BLOB   root FID: f_seq, f_oid, f_ver little-endian (16 bytes)
 *       'dev'    INT    base of the dev column: the st_dev of the first entry
 *                       ever written (never changed afterwards)
 *   position(mdt TEXT PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID
 *       last changelog index applied per MDT name
 *   kv(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID
 *       the caller's meta values (loafre__idx_set_meta)
 *
 *   entry(id INTEGER PRIMARY KEY,  -- the entry id of index_backend.h
 *         mode, uid, gid, size, mtime,   -- st_mode ... ; mtime in ns
 *         parent INTEGER, name TEXT,     -- the PRIMARY link (NULL, NULL: none)
 *         seq, oid, ver,                 -- the FID
 *         blk,       -- st_blocks - (st_size + 511) / 512      (usually 0..7)
 *         ct, at,    -- ctime - mtime, atime - mtime (ns)      (often 0)
 *         nlink,
 *         ino,       -- st_ino - loafre__idx_fid_ino(FID)      (usually 0)
 *         dev,       -- st_dev - meta 'dev'                    (usually 0)
 *         xl,        -- number of xlinks of the entry          (usually 0)
 *         mdt,
 *         jobid TEXT, symlink TEXT)      -- NULL when none
 *       The differences are computed modulo 2^64 and stored as int64, so
 *       every value round-trips; they only make common values small.
 *       Columns most filters read come first (SQLite decodes a row up to
 *       the last column a query needs).
 *     entry_fid  (seq, oid, ver)               FID → id
 *     entry_link (parent, name)                lookups, children in name order
 *     entry_us   (uid, size)                   find -user / -size
 *   xlink(xid INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name TEXT NOT
 *         NULL, child INTEGER NOT NULL)        the other links (hard links)
 *     xlink_link (parent, name);  xlink_child (child) (then xid: age order)
 *   dirsum(id INTEGER PRIMARY KEY, blocks, bytes, inodes, seq, oid, ver)
 *       directories only: the rollup, and the FID (parents of query results
 *       are resolved here: a small table, or read whole for big results)
 *   quota(seq, oid, ver, bytes_limit, inodes_limit, over,
 *         PRIMARY KEY(seq, oid, ver)) WITHOUT ROWID  by directory FID
 *   names(k INTEGER PRIMARY KEY, data BLOB NOT NULL, tg INTEGER)  name chunks;
 *       tg NULL: the chunk changed since the name base (dirty), 1: covered
 *     names_dirty (k) WHERE tg IS NULL         the dirty chunks
 *   tri(t INTEGER PRIMARY KEY, n INTEGER NOT NULL, p BLOB NOT NULL)
 *       the name base's lists (NAME BASE); meta 'tri1' INT: its names
 *
 * Names are TEXT compared with the BINARY collation (memcmp): bytewise
 * order, any bytes but NUL.
 *
 * NAME CHUNKS (locate, find -name). Every link's name is stored a second
 * time, packed, so that a substring search is a memmem(3) over a few MB:
 *   chunk k >= 0 holds the primary links of entries with id >> 10 == k;
 *   chunk k <  0 holds the xlinks with xid >> 10 == -1 - k.
 *   data = u16 n (LE) | n × u16 ref (LE: id & 1023, resp. xid & 1023)
 *          | NUL | name_0 NUL | name_1 NUL | ... | name_{n-1} NUL
 *   (records in any order; each ref once). The leading NUL lets "\0abc"
 *   find names starting with abc, "abc\0" names ending with it.
 *   An empty chunk has no row. Writers keep the chunks they touch in
 *   memory (decoded; a deleted record is marked there and dropped when the
 *   chunk is written) and write them at commit (or when more than
 *   CHUNK_CACHE_MAX bytes are cached); queries inside a write transaction
 *   write them first.
 *
 * NAME BASE (the head comment of lib/index_trigram.c has the list layout;
 * docs/index.md "SQLite layout" the policy). A trigram index over the
 * chunks that writers never maintain:
 *   tri row t (a trigram of NUL name NUL, ASCII letters folded, as
 *   lib/index_trigram.h): n = how many links have it, p = their keys,
 *   strictly increasing (key = entry id for a primary link, 2^56 + xid
 *   for an xlink), as varint deltas;
 *   meta 'tri1' (INTEGER): the names the base covers. Its presence says
 *   that the rows of tri are a complete base of format 1 for every chunk
 *   with tg = 1. No 'tri1' row (or another type): no base.
 *   Writers: S_CHUNK_PUT does not name tg, so every chunk (re)written has
 *   tg NULL: dirty (an older loafre writing to this store does the same).
 *   A chunk deleted (empty) has no row; its stale keys fail the check
 *   below. Built (base_build, in the write transaction: DELETE FROM tri,
 *   the lists of every chunk, UPDATE names SET tg=1, meta 'tri1') at the
 *   end of a bulk load and by loafre__idx_names_base (the indexer's
 *   policy); a crash before the commit leaves the old base and marks.
 *   Reading (base_names, outside a write transaction, needles of >= 3
 *   bytes): the rarest trigrams' lists intersected, candidates in dirty
 *   chunks dropped, each other one checked against its link's name in
 *   entry / xlink (exact; a chunk with TRI_SCAN_RUN candidates or more is
 *   scanned instead), then the dirty chunks scanned whole: the same
 *   answer as a scan of every chunk. About TRI_SCAN_RUN candidates per
 *   chunk or more: every chunk scanned (cheaper). A list that does not decode, or whose
 *   count disagrees, makes the query ignore the base (a full scan; the
 *   next rebuild replaces it). A store made before the base gets tg,
 *   names_dirty and tri from its first writer (base_schema; all chunks
 *   dirty); the format version stays 1 (older readers ignore them).
 *
 * SIZE BUDGET (≤ 200 bytes per entry, everything included; measured by
 * `loafre bench index` on 1 M entries, names 15 bytes on average, 63 %
 * with a jobid; docs/index.md "Store"): entry 83.6, entry_link 31.9,
 * entry_fid 21.0, names 20.3, entry_us 16.2, dirsum 3.5 (directories
 * only), xlink tables 0.9: 177.5 bytes per entry; the name base (tri)
 * adds 18.7 (2026-11-22: 189.7 in all).
 *
 * UNIQUENESS. entry_fid and xlink_link are plain indexes: lib/index_store.c
 * looks a FID or an xlink's (parent, name) up before it inserts one.
 * entry_link is UNIQUE (its check is the seek the insert makes anyway:
 * SQLite inserts at the position its conflict check found): while the
 * xlink table is empty, a new entry's link needs no lookup first, the
 * INSERT refuses a taken (parent, name) (insert_checks_link; the store
 * then inserts the entry unlinked and links it the general way). A store
 * created before entry_link was UNIQUE has the same layout with a plain
 * entry_link (every reader handles both; its writers look names up first)
 * until a clear (a rescan) rebuilds it UNIQUE. loafre__idx_check verifies
 * that no FID and no (parent, name) occurs twice.
 *
 * BULK LOADS (loafre__idx_bulk_begin .. bulk_end): entry_us is dropped at
 * the start and built at the end (a sort instead of one random insert per
 * entry); while it is missing this handle plans no USER-SIZE query, and a
 * handle opened for writing creates it again (a load abandoned by a crash).
 *
 * WRITES. An attribute update leaves entry_us alone when uid and size did
 * not change (entry_update_from); a jobid equal to the stored one dirties
 * nothing; a deletion is a DELETE when the store knows the row (its row
 * cache: entry_delete_known), else a SELECT of what says which other rows
 * (xlinks, dirsum, quota) exist, then a DELETE (RETURNING would build an
 * ephemeral table per execution); the rollups of a commit are upserts,
 * DIRSUM_ROWS rows per statement, for the directories whose FID the store
 * gives (it knows them from its row cache), else an UPDATE of the row and
 * an INSERT (the FID read from the entry) for a new directory; link_get
 * reads xlink_link only when the xlink table has rows. changed() is PRAGMA
 * data_version. New entries come in batches (entry_insert_many, the store
 * choosing their ids): one "INSERT OR FAIL INTO entry(id, ...) VALUES
 * (...), ..." of up to LOAFRE__IDX_INSERT_MANY_MAX rows, prepared once per
 * row count; OR FAIL, not the default ABORT, so that SQLite keeps no
 * statement journal (ABORT's rollback of a multi-row statement needs a
 * copy of every page it changes: more than the statements it saves); a
 * refused row ends the statement, the rows before it stay
 * (sqlite3_changes says how many).
 *
 * QUERIES. select() picks one plan: NAME (the glob's literal, see
 * loafre__idx_glob_literal, searched in the chunks through the name base
 * when it can (NAME BASE), candidates checked with
 * fnmatch, then fetched by id), USER-SIZE (entry_us range for a uid or, for
 * a size range alone, one range per distinct uid: the ids from the index,
 * then the rows in id order, US_BATCH per "id IN (...)"), or SCAN (the entry table,
 * NOT INDEXED, every constraint in SQL, the glob's literal as instr()).
 * NAME is used unless its hits exceed 1/16 of the names or a USER-SIZE
 * range holds fewer rows; USER-SIZE when its range holds under 1/10 of the
 * entries (a random row read costs ~10 scanned rows, mapped and warm).
 *
 * TRANSACTIONS. begin = BEGIN IMMEDIATE (the write lock, waiting up to the
 * busy timeout, then -EBUSY); queries outside one run in a deferred BEGIN
 * (one snapshot). Statements are prepared once per handle and pooled, so
 * query callbacks may nest queries on the same handle.
 */
#include "index_backend.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "index_trigram.h"
#include "sqlite_init.h"
#include "util.h"

#define APP_ID 0x6c6f6978
#define FORMAT_VERSION 1
#define CHUNK_SHIFT 10
#define CHUNK_REFS (1u << CHUNK_SHIFT)
#define CHUNK_BUCKETS 256
#define DEAD_REF 0xFFFFu            /* a deleted record of a decoded chunk (refs < 1024) */
#define CHUNK_CACHE_MAX (64u << 20) /* bytes of decoded chunks before an early write */
#define POOL_MAX 4                  /* idle prepared statements kept per kind */
#define US_RATIO 10 /* a row read through entry_us costs about 10 rows of a scan */
#define US_BATCH 64 /* ids per row read of the USER-SIZE plan (id IN (...)) */
#define BUSY_MS_DEFAULT 5000
#define INS_PARAMS 19 /* parameters of S_INSERT */

#define ECOLS                                                                                     \
	"id,mode,uid,gid,size,mtime,parent,name,seq,oid,ver,blk,ct,at,nlink,ino,dev,xl,mdt,jobid," \
	"symlink"
#define ECOLS_E                                                                                    \
	"e.id,e.mode,e.uid,e.gid,e.size,e.mtime,e.parent,e.name,e.seq,e.oid,e.ver,e.blk,e.ct,e.at," \
	"e.nlink,e.ino,e.dev,e.xl,e.mdt,e.jobid,e.symlink"
#define NCOLS 21

static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE position(mdt TEXT PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE entry(id INTEGER PRIMARY KEY, mode INTEGER NOT NULL, uid INTEGER NOT NULL,"
	" gid INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL, parent INTEGER,"
	" name TEXT, seq INTEGER NOT NULL, oid INTEGER NOT NULL, ver INTEGER NOT NULL,"
	" blk INTEGER NOT NULL, ct INTEGER NOT NULL, at INTEGER NOT NULL, nlink INTEGER NOT NULL,"
	" ino INTEGER NOT NULL, dev INTEGER NOT NULL, xl INTEGER NOT NULL, mdt INTEGER NOT NULL,"
	" jobid TEXT, symlink TEXT);"
	"CREATE INDEX entry_fid ON entry(seq, oid, ver);"
	"CREATE UNIQUE INDEX entry_link ON entry(parent, name);"
	"CREATE INDEX entry_us ON entry(uid, size);"
	"CREATE TABLE xlink(xid INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name TEXT NOT NULL,"
	" child INTEGER NOT NULL);"
	"CREATE INDEX xlink_link ON xlink(parent, name);"
	"CREATE INDEX xlink_child ON xlink(child);"
	"CREATE TABLE dirsum(id INTEGER PRIMARY KEY, blocks INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL, inodes INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" oid INTEGER NOT NULL, ver INTEGER NOT NULL);"
	"CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE quota(seq INTEGER NOT NULL, oid INTEGER NOT NULL, ver INTEGER NOT NULL,"
	" bytes_limit INTEGER NOT NULL, inodes_limit INTEGER NOT NULL, over INTEGER NOT NULL,"
	" PRIMARY KEY(seq, oid, ver)) WITHOUT ROWID;"
	"CREATE TABLE names(k INTEGER PRIMARY KEY, data BLOB NOT NULL, tg INTEGER);"
	"CREATE INDEX names_dirty ON names(k) WHERE tg IS NULL;"
	"CREATE TABLE tri(t INTEGER PRIMARY KEY, n INTEGER NOT NULL, p BLOB NOT NULL);";

enum stmt_kind {
	S_BY_FID,
	S_BY_ID,
	S_INSERT,
	S_UPDATE,
	S_UPDATE_NOUS,
	S_SET_JOBID,
	S_SET_LINK,
	S_DEL_INFO,
	S_DELETE,
	S_XLINKS_OF,
	S_XLINK_DEL_CHILD,
	S_DIRSUM_DEL,
	S_QUOTA_RM,
	S_KV_GET,
	S_KV_SET,
	S_KV_DEL,
	S_XLINK_INS,
	S_XLINK_CHILD,
	S_XLINK_DEL,
	S_XL_ADD,
	S_CHILDREN_P,
	S_CHILDREN_X,
	S_DIRSUM_GET,
	S_DIRSUM_ADD,
	S_DIRSUM_UPD,
	S_CHUNK_GET,
	S_CHUNK_PUT,
	S_CHUNK_DEL,
	S_CHUNK_SCAN,
	S_TRI_META,
	S_TRI_N,
	S_TRI_LIST,
	S_TRI_DIRTY,
	S_NAME_OF,
	S_XNAME_OF,
	S_META_GET,
	S_META_PUT,
	S_POS_GET,
	S_POS_SET,
	S_FID_OF,
	S_DIR_FIDS,
	S_DIR_FID,
	S_XLINK_ROW,
	S_LINKED_BY_ID,
	S_SCAN_ENTRIES,
	S_SCAN_XLINKS,
	S_SCAN_DIRSUMS,
	S_QUOTA_SET,
	S_QUOTA_LIST,
	S_QUOTA_MARK,
	S_COUNT_ENTRIES,
	S_MAX_ID,
	S_NEXT_UID,
	S_COUNT_US,
	S_DATA_VERSION,
	S_QUOTA_ANY,
	S_SEQ_MAX,
	S_LINK_E,
	S_LINK_X,
	S_XLINK_ANY,
	S_DIRSUM_UPS1,
	S_DIRSUM_UPSN,
	S_COUNT
};

#define DIRSUM_ROWS 64
#define DS_V1 "(?,?,?,?,?,?,?)"
#define DS_V4 DS_V1 "," DS_V1 "," DS_V1 "," DS_V1
#define DS_V16 DS_V4 "," DS_V4 "," DS_V4 "," DS_V4
#define DS_V64 DS_V16 "," DS_V16 "," DS_V16 "," DS_V16
#define DS_UPSERT                                                                          \
	" ON CONFLICT(id) DO UPDATE SET blocks=blocks+excluded.blocks,"                    \
	"bytes=bytes+excluded.bytes,inodes=inodes+excluded.inodes"

static const char *const stmt_sql[S_COUNT] = {
	[S_BY_FID] = "SELECT " ECOLS " FROM entry WHERE seq=?1 AND oid=?2 AND ver=?3",
	[S_BY_ID] = "SELECT " ECOLS " FROM entry WHERE id=?1",
	[S_INSERT] = "INSERT INTO entry(mode,uid,gid,size,mtime,parent,name,seq,oid,ver,blk,ct,at,"
		     "nlink,ino,dev,xl,mdt,jobid,symlink) "
		     "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,0,?17,?19,?18)",
	[S_UPDATE] = "UPDATE entry SET mode=?2,uid=?3,gid=?4,size=?5,mtime=?6,blk=?7,ct=?8,at=?9,"
		     "nlink=?10,ino=?11,dev=?12,mdt=?13,symlink=?14 WHERE id=?1",
	/* uid and size unchanged (?3 and ?5 are bound, unused): entry_us stays */
	[S_UPDATE_NOUS] = "UPDATE entry SET mode=?2,gid=?4,mtime=?6,blk=?7,ct=?8,at=?9,"
			  "nlink=?10,ino=?11,dev=?12,mdt=?13,symlink=?14 WHERE id=?1",
	/* an unchanged jobid (the common case) dirties no page */
	[S_SET_JOBID] = "UPDATE entry SET jobid=?2 WHERE id=?1 AND jobid IS NOT ?2",
	[S_SET_LINK] = "UPDATE entry SET parent=?2,name=?3 WHERE id=?1",
	[S_DEL_INFO] = "SELECT mode,parent IS NOT NULL,xl,seq,oid,ver FROM entry WHERE id=?1",
	[S_DELETE] = "DELETE FROM entry WHERE id=?1",
	[S_XLINKS_OF] = "SELECT xid,parent,name FROM xlink WHERE child=?1 ORDER BY xid",
	[S_XLINK_DEL_CHILD] = "DELETE FROM xlink WHERE child=?1",
	[S_DIRSUM_DEL] = "DELETE FROM dirsum WHERE id=?1",
	[S_QUOTA_RM] = "DELETE FROM quota WHERE seq=?1 AND oid=?2 AND ver=?3",
	[S_KV_GET] = "SELECT value FROM kv WHERE key=?1",
	[S_KV_SET] = "INSERT OR REPLACE INTO kv(key,value) VALUES(?1,?2)",
	[S_KV_DEL] = "DELETE FROM kv WHERE key=?1",
	[S_XLINK_INS] = "INSERT INTO xlink(parent,name,child) VALUES(?1,?2,?3)",
	[S_XLINK_CHILD] = "SELECT child FROM xlink WHERE xid=?1",
	[S_XLINK_DEL] = "DELETE FROM xlink WHERE xid=?1",
	[S_XL_ADD] = "UPDATE entry SET xl=xl+?2 WHERE id=?1",
	[S_CHILDREN_P] = "SELECT " ECOLS " FROM entry WHERE parent=?1 ORDER BY name",
	[S_CHILDREN_X] = "SELECT x.name,x.xid," ECOLS_E " FROM xlink x JOIN entry e ON e.id=x.child"
			 " WHERE x.parent=?1 ORDER BY x.name",
	[S_DIRSUM_GET] = "SELECT blocks,bytes,inodes FROM dirsum WHERE id=?1",
	[S_DIRSUM_ADD] = "INSERT INTO dirsum(id,blocks,bytes,inodes,seq,oid,ver)"
			 " SELECT ?1,?2,?3,?4,seq,oid,ver FROM entry WHERE id=?1"
			 " ON CONFLICT(id) DO UPDATE SET blocks=blocks+excluded.blocks,"
			 " bytes=bytes+excluded.bytes, inodes=inodes+excluded.inodes",
	[S_DIRSUM_UPD] = "UPDATE dirsum SET blocks=blocks+?2,bytes=bytes+?3,inodes=inodes+?4 WHERE id=?1",
	[S_CHUNK_GET] = "SELECT data FROM names WHERE k=?1",
	[S_CHUNK_PUT] = "INSERT OR REPLACE INTO names(k,data) VALUES(?1,?2)",
	[S_CHUNK_DEL] = "DELETE FROM names WHERE k=?1",
	[S_CHUNK_SCAN] = "SELECT k,data FROM names ORDER BY k",
	[S_TRI_META] = "SELECT value FROM meta WHERE key='tri1'",
	[S_TRI_N] = "SELECT n FROM tri WHERE t=?1",
	[S_TRI_LIST] = "SELECT n,p FROM tri WHERE t=?1",
	[S_TRI_DIRTY] = "SELECT k FROM names WHERE tg IS NULL ORDER BY k",
	[S_NAME_OF] = "SELECT name FROM entry WHERE id=?1 AND parent IS NOT NULL",
	[S_XNAME_OF] = "SELECT name FROM xlink WHERE xid=?1",
	[S_META_GET] = "SELECT value FROM meta WHERE key=?1",
	[S_META_PUT] = "INSERT OR REPLACE INTO meta(key,value) VALUES(?1,?2)",
	[S_POS_GET] = "SELECT idx FROM position WHERE mdt=?1",
	[S_POS_SET] = "INSERT OR REPLACE INTO position(mdt,idx) VALUES(?1,?2)",
	[S_FID_OF] = "SELECT seq,oid,ver FROM entry WHERE id=?1",
	[S_DIR_FIDS] = "SELECT id,seq,oid,ver FROM dirsum ORDER BY id",
	[S_DIR_FID] = "SELECT seq,oid,ver FROM dirsum WHERE id=?1",
	[S_XLINK_ROW] = "SELECT x.parent,x.name," ECOLS_E " FROM xlink x JOIN entry e"
			" ON e.id=x.child WHERE x.xid=?1",
	[S_LINKED_BY_ID] = "SELECT " ECOLS " FROM entry WHERE id=?1 AND parent IS NOT NULL",
	[S_SCAN_ENTRIES] = "SELECT " ECOLS " FROM entry",
	[S_SCAN_XLINKS] = "SELECT xid,parent,name,child FROM xlink ORDER BY child,xid",
	[S_SCAN_DIRSUMS] = "SELECT id,blocks,bytes,inodes FROM dirsum",
	[S_QUOTA_SET] = "INSERT OR REPLACE INTO quota(seq,oid,ver,bytes_limit,inodes_limit,over)"
			" VALUES(?1,?2,?3,?4,?5,?6)",
	[S_QUOTA_LIST] = "SELECT seq,oid,ver,bytes_limit,inodes_limit,over FROM quota",
	[S_QUOTA_MARK] = "UPDATE quota SET over=?4 WHERE seq=?1 AND oid=?2 AND ver=?3",
	[S_COUNT_ENTRIES] = "SELECT count(*) FROM entry",
	[S_MAX_ID] = "SELECT max(id) FROM entry",
	[S_NEXT_UID] = "SELECT uid FROM entry INDEXED BY entry_us WHERE uid>?1 ORDER BY uid LIMIT 1",
	[S_COUNT_US] = "SELECT count(*) FROM (SELECT 1 FROM entry INDEXED BY entry_us"
		       " WHERE uid=?1 AND size>=?2 AND size<=?3 LIMIT ?4)",
	[S_DATA_VERSION] = "PRAGMA data_version",
	[S_QUOTA_ANY] = "SELECT 1 FROM quota LIMIT 1",
	[S_SEQ_MAX] = "SELECT max(oid) FROM entry WHERE seq=?1",
	[S_LINK_E] = "SELECT id FROM entry WHERE parent=?1 AND name=?2",
	[S_LINK_X] = "SELECT child,xid FROM xlink WHERE parent=?1 AND name=?2",
	[S_XLINK_ANY] = "SELECT 1 FROM xlink LIMIT 1",
	/* rollups of directories whose FID the store gives: one row, or
	 * DIRSUM_ROWS rows per statement (VALUES are 7 parameters each) */
	[S_DIRSUM_UPS1] = "INSERT INTO dirsum(id,blocks,bytes,inodes,seq,oid,ver) VALUES" DS_V1
			  DS_UPSERT,
	[S_DIRSUM_UPSN] = "INSERT INTO dirsum(id,blocks,bytes,inodes,seq,oid,ver) VALUES" DS_V64
			  DS_UPSERT,
};

/* A name chunk, decoded, while a write transaction changes it. */
struct chunk {
	int64_t k;                  /* its key */
	uint16_t *refs;             /* n refs */
	size_t n, cap;              /* refs used, allocated */
	char *names;                /* NUL name NUL name NUL ... */
	size_t nlen, ncap;          /* bytes used, allocated */
	size_t ndead;               /* records deleted in place (ref DEAD_REF, the
				     * name left) since it was loaded or compacted */
	bool dirty;                 /* differs from its row */
	struct chunk *next;         /* hash chain */
	uint16_t at[CHUNK_REFS];    /* ref → index of its record + 1 (0: none) */
};

struct sq {
	sqlite3 *db;                /* the connection */
	char *path;                 /* the database file (size()) */
	bool readonly;              /* opened LOAFRE__IDX_READONLY */
	bool in_txn;                /* a write transaction is open */
	bool dev_known;             /* dev_base read from meta (or set) */
	bool dv_known;              /* data_version holds a value */
	bool us_deferred;           /* entry_us dropped by bulk_begin (until bulk_end) */
	bool link_unique;           /* a writer: entry_link is a UNIQUE index (see UNIQUENESS) */
	int quota_any;              /* this transaction: -1 unknown, 0 no quota rows, 1 some */
	int xlink_any;              /* this transaction: -1 unknown, 0 no xlink rows, 1 some */
	int64_t data_version;       /* PRAGMA data_version at the last changed() */
	uint64_t dev_base;          /* meta 'dev' */
	struct {
		sqlite3_stmt *idle[POOL_MAX]; /* prepared, reset, ready */
		unsigned n;             /* of them */
	} pool[S_COUNT];            /* statement pools per kind */
	struct chunk *chunks[CHUNK_BUCKETS]; /* decoded chunks (write txn) */
	size_t chunk_bytes;         /* their size, roughly */
	char *scratch;              /* names(): lowercased chunk */
	size_t scratch_cap;         /* its capacity */
	char jobid[LOAFRE__IDX_JOBID_MAX + 1];     /* entry_by_* strings */
	char symlink[LOAFRE__IDX_SYMLINK_MAX + 1]; /* idem */
	char errmsg[256];           /* last backend error */
	struct {
		sqlite3_stmt *st;       /* S_INSERT's statement, outside the pool, or NULL */
		int64_t v[INS_PARAMS + 1]; /* the integer last bound to parameter i */
		uint32_t valid;         /* bit i: v[i] is parameter i's binding */
	} ins;                      /* entry_insert's statement (see ins_int) */
	struct insm *many[LOAFRE__IDX_INSERT_MANY_MAX + 1]; /* entry_insert_many's
				     * statements by row count, or NULL */
};

/* ---- errors, statements ----------------------------------------------------- */

static int sq_err(struct sq *s, int rc)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(s->db));
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	default:
		return -EIO;
	}
}

static int st_get(struct sq *s, enum stmt_kind k, sqlite3_stmt **ret)
{
	int rc;

	if (s->pool[k].n) {
		*ret = s->pool[k].idle[--s->pool[k].n];
		return 0;
	}
	rc = sqlite3_prepare_v3(s->db, stmt_sql[k], -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
	return rc == SQLITE_OK ? 0 : sq_err(s, rc);
}

static void st_put(struct sq *s, enum stmt_kind k, sqlite3_stmt *st)
{
	if (!st)
		return;
	sqlite3_reset(st);
	if (s->pool[k].n < POOL_MAX)
		s->pool[k].idle[s->pool[k].n++] = st;
	else
		sqlite3_finalize(st);
}

/* Steps a statement expected to finish (DML). */
static int st_done(struct sq *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE ? 0 : sq_err(s, rc);
}

static int exec(struct sq *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sq_err(s, rc);
}

static void bind_name(sqlite3_stmt *st, int i, const char *name)
{
	if (name)
		sqlite3_bind_text(st, i, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* ---- rows -------------------------------------------------------------------------- */

enum strmode { STR_NONE, STR_BORROW, STR_COPY };

static uint64_t u64col(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

/* Decodes ECOLS starting at column c0. */
static void read_row(struct sq *s, sqlite3_stmt *st, int c0, enum strmode sm,
		     struct loafre__idx_row *row)
{
	struct loafre__idx_attr *a = &row->e.a;
	uint64_t mtime;
	const unsigned char *t;
	int n;

	row->id = sqlite3_column_int64(st, c0);
	a->mode = (uint32_t)sqlite3_column_int64(st, c0 + 1);
	a->uid = (uint32_t)sqlite3_column_int64(st, c0 + 2);
	a->gid = (uint32_t)sqlite3_column_int64(st, c0 + 3);
	a->size = u64col(st, c0 + 4);
	mtime = u64col(st, c0 + 5);
	a->mtime_ns = (int64_t)mtime;
	row->parent = sqlite3_column_int64(st, c0 + 6);
	row->namelen = 0;
	row->name[0] = '\0';
	if (row->parent) {
		t = sqlite3_column_text(st, c0 + 7);
		n = sqlite3_column_bytes(st, c0 + 7);
		if (t && n > 0 && n <= LOAFRE__IDX_NAME_MAX) {
			memcpy(row->name, t, (size_t)n);
			row->name[n] = '\0';
			row->namelen = (uint16_t)n;
		}
	}
	row->e.fid.f_seq = u64col(st, c0 + 8);
	row->e.fid.f_oid = (uint32_t)sqlite3_column_int64(st, c0 + 9);
	row->e.fid.f_ver = (uint32_t)sqlite3_column_int64(st, c0 + 10);
	a->blocks = u64col(st, c0 + 11) + (a->size + 511) / 512;
	a->ctime_ns = (int64_t)(mtime + u64col(st, c0 + 12));
	a->atime_ns = (int64_t)(mtime + u64col(st, c0 + 13));
	a->nlink = u64col(st, c0 + 14);
	a->ino = u64col(st, c0 + 15) + loafre__idx_fid_ino(&row->e.fid);
	a->dev = u64col(st, c0 + 16) + s->dev_base;
	row->nxlinks = (uint32_t)sqlite3_column_int64(st, c0 + 17);
	row->e.mdt = (uint32_t)sqlite3_column_int64(st, c0 + 18);
	row->e.jobid = NULL;
	a->symlink = NULL;
	if (sm == STR_NONE)
		return;
	row->e.jobid = (const char *)sqlite3_column_text(st, c0 + 19);
	a->symlink = (const char *)sqlite3_column_text(st, c0 + 20);
	if (sm == STR_COPY) {
		if (row->e.jobid) {
			snprintf(s->jobid, sizeof(s->jobid), "%s", row->e.jobid);
			row->e.jobid = s->jobid;
		}
		if (a->symlink) {
			snprintf(s->symlink, sizeof(s->symlink), "%s", a->symlink);
			a->symlink = s->symlink;
		}
	}
}

static int meta_get_int(struct sq *s, const char *key, int64_t *ret)
{
	sqlite3_stmt *st;
	int r = st_get(s, S_META_GET, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	st_put(s, S_META_GET, st);
	return r;
}

static int dev_refresh(struct sq *s)
{
	int64_t v;
	int r;

	if (s->dev_known)
		return 0;
	r = meta_get_int(s, "dev", &v);
	if (r == 0) {
		s->dev_base = (uint64_t)v;
		s->dev_known = true;
	}
	return r == -ENOENT ? 0 : r;
}

/* The dev base, fixed by the first entry ever written. */
static int dev_base_for(struct sq *s, uint64_t dev)
{
	sqlite3_stmt *st;
	int r;

	if (s->dev_known)
		return 0;
	r = st_get(s, S_META_PUT, &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, "dev", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)dev);
	r = st_done(s, st);
	st_put(s, S_META_PUT, st);
	if (r == 0) {
		s->dev_base = dev;
		s->dev_known = true;
	}
	return r;
}

/* Binds the attribute columns of S_INSERT / S_UPDATE. */
static void bind_attrs(struct sq *s, sqlite3_stmt *st, const struct loafre_fid *fid,
		       const struct loafre__idx_attr *a, int i_mode, int i_blk, int i_nlink)
{
	uint64_t mt = (uint64_t)a->mtime_ns;

	sqlite3_bind_int64(st, i_mode, a->mode);
	sqlite3_bind_int64(st, i_mode + 1, a->uid);
	sqlite3_bind_int64(st, i_mode + 2, a->gid);
	sqlite3_bind_int64(st, i_mode + 3, (int64_t)a->size);
	sqlite3_bind_int64(st, i_mode + 4, a->mtime_ns);
	sqlite3_bind_int64(st, i_blk, (int64_t)(a->blocks - (a->size + 511) / 512));
	sqlite3_bind_int64(st, i_blk + 1, (int64_t)((uint64_t)a->ctime_ns - mt));
	sqlite3_bind_int64(st, i_blk + 2, (int64_t)((uint64_t)a->atime_ns - mt));
	sqlite3_bind_int64(st, i_nlink, (int64_t)a->nlink);
	sqlite3_bind_int64(st, i_nlink + 1, (int64_t)(a->ino - loafre__idx_fid_ino(fid)));
	sqlite3_bind_int64(st, i_nlink + 2, (int64_t)(a->dev - s->dev_base));
}

/* ---- name chunks -------------------------------------------------------------------- */

static void chunk_free(struct chunk *c)
{
	if (!c)
		return;
	free(c->refs);
	free(c->names);
	free(c);
}

static void chunks_drop(struct sq *s)
{
	for (size_t b = 0; b < CHUNK_BUCKETS; b++) {
		for (struct chunk *c = s->chunks[b], *n; c; c = n) {
			n = c->next;
			chunk_free(c);
		}
		s->chunks[b] = NULL;
	}
	s->chunk_bytes = 0;
}

/* Validates a chunk blob; returns n or -EBADMSG. */
static int chunk_parse(const unsigned char *d, size_t len, const unsigned char **refs,
		       const char **area, size_t *alen)
{
	size_t n;

	if (!d || len < 3)
		return -EBADMSG;
	n = loafre__le16(d);
	if (n > CHUNK_REFS || len < 2 + 2 * n + 1 + n)
		return -EBADMSG;
	*refs = d + 2;
	*area = (const char *)d + 2 + 2 * n;
	*alen = len - 2 - 2 * n;
	if ((*area)[0] != '\0' || (*area)[*alen - 1] != '\0')
		return -EBADMSG;
	return (int)n;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	np = realloc(*p, c * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = c;
	return 0;
}

/* Drops the records deleted in place. */
static void chunk_compact(struct chunk *c)
{
	char *src = c->names + 1, *dst = c->names + 1;
	size_t k = 0;

	for (size_t i = 0; i < c->n; i++) {
		size_t len = strlen(src) + 1;

		if (c->refs[i] != DEAD_REF) {
			memmove(dst, src, len);
			dst += len;
			c->refs[k] = c->refs[i];
			c->at[c->refs[k]] = (uint16_t)(k + 1);
			k++;
		}
		src += len;
	}
	c->n = k;
	c->nlen = (size_t)(dst - c->names);
	c->ndead = 0;
}

static int chunk_write(struct sq *s, struct chunk *c)
{
	sqlite3_stmt *st;
	unsigned char *buf;
	size_t len;

	if (c->dirty && c->ndead)
		chunk_compact(c);
	len = 2 + 2 * c->n + c->nlen;
	int r;

	if (!c->dirty)
		return 0;
	if (c->n == 0) {
		r = st_get(s, S_CHUNK_DEL, &st);
		if (r < 0)
			return r;
		sqlite3_bind_int64(st, 1, c->k);
		r = st_done(s, st);
		st_put(s, S_CHUNK_DEL, st);
		if (r == 0)
			c->dirty = false;
		return r;
	}
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	loafre__put16(buf, (uint16_t)c->n);
	for (size_t i = 0; i < c->n; i++)
		loafre__put16(buf + 2 + 2 * i, c->refs[i]);
	memcpy(buf + 2 + 2 * c->n, c->names, c->nlen);
	r = st_get(s, S_CHUNK_PUT, &st);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, c->k);
		sqlite3_bind_blob(st, 2, buf, (int)len, SQLITE_STATIC);
		r = st_done(s, st);
		st_put(s, S_CHUNK_PUT, st);
	}
	free(buf);
	if (r == 0)
		c->dirty = false;
	return r;
}

static int chunks_flush(struct sq *s)
{
	for (size_t b = 0; b < CHUNK_BUCKETS; b++)
		for (struct chunk *c = s->chunks[b]; c; c = c->next) {
			int r = chunk_write(s, c);

			if (r < 0)
				return r;
		}
	return 0;
}

/* The decoded chunk k (loaded, or empty when it has no row). */
static int chunk_get(struct sq *s, int64_t k, struct chunk **ret)
{
	size_t b = (size_t)((uint64_t)k * 0x9E3779B97F4A7C15ull >> 56) % CHUNK_BUCKETS;
	struct chunk *c;
	sqlite3_stmt *st;
	int r, rc;

	for (c = s->chunks[b]; c; c = c->next)
		if (c->k == k) {
			*ret = c;
			return 0;
		}
	if (s->chunk_bytes > CHUNK_CACHE_MAX) {
		r = chunks_flush(s);
		if (r < 0)
			return r;
		chunks_drop(s);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->k = k;
	r = st_get(s, S_CHUNK_GET, &st);
	if (r < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, k);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *refs;
		const char *area;
		size_t alen;
		int n = chunk_parse(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
				    &refs, &area, &alen);

		if (n < 0) {
			snprintf(s->errmsg, sizeof(s->errmsg), "corrupt name chunk %lld", (long long)k);
			r = -EIO;
		}
		if (r == 0)
			r = grow((void **)&c->refs, &c->cap, (size_t)n + 1, sizeof(*c->refs));
		if (r == 0)
			r = grow((void **)&c->names, &c->ncap, alen + 1, 1);
		for (int i = 0; r == 0 && i < n; i++) {
			c->refs[i] = loafre__le16(refs + 2 * i);
			if (c->refs[i] >= CHUNK_REFS) {
				snprintf(s->errmsg, sizeof(s->errmsg), "corrupt name chunk %lld",
					 (long long)k);
				r = -EIO;
			} else {
				c->at[c->refs[i]] = (uint16_t)(i + 1);
			}
		}
		if (r == 0) {
			c->n = (size_t)n;
			memcpy(c->names, area, alen);
			c->nlen = alen;
		}
	} else if (rc == SQLITE_DONE) {
		r = grow((void **)&c->names, &c->ncap, 64, 1);
		if (r == 0) {
			c->names[0] = '\0';
			c->nlen = 1;
		}
	} else {
		r = sq_err(s, rc);
	}
	st_put(s, S_CHUNK_GET, st);
	if (r < 0)
		goto fail;
	c->next = s->chunks[b];
	s->chunks[b] = c;
	s->chunk_bytes += c->ncap + 2 * c->cap + sizeof(*c);
	*ret = c;
	return 0;
fail:
	chunk_free(c);
	return r;
}

static int64_t chunk_key(int64_t id, bool xlink)
{
	return xlink ? -1 - (id >> CHUNK_SHIFT) : id >> CHUNK_SHIFT;
}

static int name_add(struct sq *s, int64_t id, bool xlink, const char *name)
{
	struct chunk *c;
	size_t len = strlen(name);
	int r = chunk_get(s, chunk_key(id, xlink), &c);

	if (r == 0)
		r = grow((void **)&c->refs, &c->cap, c->n + 1, sizeof(*c->refs));
	if (r == 0)
		r = grow((void **)&c->names, &c->ncap, c->nlen + len + 1, 1);
	if (r < 0)
		return r;
	c->refs[c->n] = (uint16_t)(id & (CHUNK_REFS - 1));
	c->at[c->refs[c->n]] = (uint16_t)(c->n + 1);
	c->n++;
	memcpy(c->names + c->nlen, name, len + 1);
	c->nlen += len + 1;
	c->dirty = true;
	s->chunk_bytes += len + 3;
	return 0;
}

/* Removes the record of id (none: nothing to do): in place (its ref
 * becomes DEAD_REF; chunk_write drops it, or a compaction once a quarter
 * of the records are dead), not a move of the chunk's bytes per deletion. */
static int name_del(struct sq *s, int64_t id, bool xlink)
{
	uint16_t ref = (uint16_t)(id & (CHUNK_REFS - 1));
	struct chunk *c;
	size_t i;
	int r = chunk_get(s, chunk_key(id, xlink), &c);

	if (r < 0)
		return r;
	i = c->at[ref];
	if (i == 0)
		return 0;
	i--;
	c->at[ref] = 0;
	c->refs[i] = DEAD_REF;
	c->ndead++;
	c->dirty = true;
	if (c->ndead >= 64 && c->ndead * 4 >= c->n)
		chunk_compact(c);
	return 0;
}

/* ---- open, close, transactions ------------------------------------------------------ */

#define US_INDEX_SQL "CREATE INDEX IF NOT EXISTS entry_us ON entry(uid, size)"
/* 1 when entry_link is UNIQUE (stores created before it was are not,
 * until a clear) */
#define LINK_UNIQUE_SQL                                                                 \
	"SELECT count(*) FROM pragma_index_list('entry') WHERE name='entry_link' AND \"unique\""

/* A store made before the name base (NAME BASE): its column, index and
 * table, added by the first writer (an ALTER of the schema only: the
 * existing chunks read tg NULL, dirty). */
static int pragma_int(struct sq *s, const char *sql, int64_t *ret);

static int base_schema(struct sq *s)
{
#define HAS_TG_SQL "SELECT count(*) FROM pragma_table_info('names') WHERE name='tg'"
	int64_t has = 0;
	int r = pragma_int(s, HAS_TG_SQL, &has);

	if (r < 0 || has)
		return r;
	r = exec(s, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = pragma_int(s, HAS_TG_SQL, &has); /* again, under the lock */
	if (r == 0 && !has)
		r = exec(s, "ALTER TABLE names ADD COLUMN tg INTEGER;"
			    " CREATE INDEX IF NOT EXISTS names_dirty ON names(k) WHERE tg IS NULL;"
			    " CREATE TABLE IF NOT EXISTS tri(t INTEGER PRIMARY KEY,"
			    " n INTEGER NOT NULL, p BLOB NOT NULL);");
	if (r == 0)
		r = exec(s, "COMMIT");
	if (r < 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
#undef HAS_TG_SQL
}

/* 1 if the entry_us index exists, 0 if not (a bulk load dropped it), or
 * -errno. */
static int us_exists(struct sq *s)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT 1 FROM sqlite_master WHERE type='index' AND name='entry_us'",
				    -1, &st, NULL);
	int r;

	if (rc != SQLITE_OK)
		return sq_err(s, rc);
	rc = sqlite3_step(st);
	r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sq_err(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* entry_insert_many's statement for n rows: "INSERT INTO entry(id, ...)
 * VALUES(...), ..." with MANY_COLS parameters per row, and the integers
 * last bound to them (as ins_int: most columns repeat). */
#define MANY_COLS 20
struct insm {
	sqlite3_stmt *st;           /* prepared for n rows */
	int64_t v[LOAFRE__IDX_INSERT_MANY_MAX * MANY_COLS + 1]; /* last integer bound to i */
	uint8_t valid[LOAFRE__IDX_INSERT_MANY_MAX * MANY_COLS + 1]; /* v[i] is i's binding */
};

static void sq_close(void *be)
{
	struct sq *s = be;

	if (!s)
		return;
	chunks_drop(s);
	for (int k = 0; k < S_COUNT; k++)
		while (s->pool[k].n)
			sqlite3_finalize(s->pool[k].idle[--s->pool[k].n]);
	sqlite3_finalize(s->ins.st);
	for (int k = 0; k <= LOAFRE__IDX_INSERT_MANY_MAX; k++)
		if (s->many[k]) {
			sqlite3_finalize(s->many[k]->st);
			free(s->many[k]);
		}
	sqlite3_close(s->db);
	free(s->scratch);
	free(s->path);
	free(s);
}

static int pragma_int(struct sq *s, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*ret = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK) {
		int r = sq_err(s, rc);

		sqlite3_finalize(st);
		return r;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Checks (and with `create`, makes) the schema. */
static int sq_schema(struct sq *s, const char *where, const char *fsname, bool create, char *err,
		     size_t errlen)
{
	int64_t app = 0, ver = 0, ntables = 0;
	sqlite3_stmt *st = NULL;
	bool locked = false;
	int r;

	for (;;) {
		r = pragma_int(s, "PRAGMA application_id", &app);
		if (r == 0)
			r = pragma_int(s, "PRAGMA user_version", &ver);
		if (r == 0)
			r = pragma_int(s, "SELECT count(*) FROM sqlite_master", &ntables);
		if (r < 0) {
			snprintf(err, errlen, "cannot read index store '%s': %s", where, s->errmsg);
			goto out;
		}
		if (app == 0 && ver == 0 && ntables == 0) {
			if (!create) {
				snprintf(err, errlen, "no index store at '%s'", where);
				r = -ENOENT;
				goto out;
			}
			if (!locked) {
				/* re-check under the write lock: another process may create it */
				r = exec(s, "BEGIN IMMEDIATE");
				if (r < 0) {
					snprintf(err, errlen, "cannot create index store '%s': %s", where,
						 s->errmsg);
					goto out;
				}
				locked = true;
				continue;
			}
			break;
		}
		if (app != APP_ID) {
			snprintf(err, errlen, "'%s' is not a loafre index store (application_id %#llx)",
				 where, (unsigned long long)app);
			r = -EPROTO;
			goto out;
		}
		if (ver != FORMAT_VERSION) {
			snprintf(err, errlen,
				 "index store '%s' has format version %lld; this loafre reads version %d",
				 where, (long long)ver, FORMAT_VERSION);
			r = -EPROTO;
			goto out;
		}
		break;
	}
	if (locked && ntables == 0) {
		char pragmas[128];

		snprintf(pragmas, sizeof(pragmas), "PRAGMA application_id=%d; PRAGMA user_version=%d;",
			 APP_ID, FORMAT_VERSION);
		r = exec(s, schema);
		if (r == 0)
			r = exec(s, pragmas);
		if (r == 0 && fsname) {
			r = sqlite3_prepare_v2(s->db,
					       "INSERT INTO meta(key,value) VALUES('fsname',?1)", -1,
					       &st, NULL) == SQLITE_OK
				    ? 0
				    : sq_err(s, SQLITE_ERROR);
			if (r == 0) {
				sqlite3_bind_text(st, 1, fsname, -1, SQLITE_STATIC);
				r = st_done(s, st);
			}
		}
		if (r < 0) {
			snprintf(err, errlen, "cannot create index store '%s': %s", where, s->errmsg);
			goto out;
		}
	}
	if (fsname) {
		sqlite3_finalize(st);
		st = NULL;
		if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='fsname'", -1, &st,
				       NULL) != SQLITE_OK) {
			r = sq_err(s, SQLITE_ERROR);
			snprintf(err, errlen, "cannot read index store '%s': %s", where, s->errmsg);
			goto out;
		}
		if (sqlite3_step(st) == SQLITE_ROW &&
		    strcmp((const char *)sqlite3_column_text(st, 0), fsname) != 0) {
			snprintf(err, errlen, "index store '%s' belongs to filesystem '%s', not '%s'",
				 where, (const char *)sqlite3_column_text(st, 0), fsname);
			r = -EINVAL;
			goto out;
		}
	}
	r = 0;
out:
	sqlite3_finalize(st);
	if (locked) {
		if (r == 0 && exec(s, "COMMIT") < 0) {
			r = sq_err(s, SQLITE_ERROR);
			snprintf(err, errlen, "cannot create index store '%s': %s", where, s->errmsg);
		}
		if (r < 0)
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	return r;
}

/* ---- writers' VFS: WAL frames gathered into large writes ------------------------------ */

/* SQLite writes a WAL frame as two writes (its 24-byte header, then the
 * page): two system calls per dirty page at every commit. A writing handle
 * opens its database through "loafre-wal", the default VFS except for the
 * WAL file: frame headers and their pages, appended in order, are gathered
 * in a WALBUF_CAP buffer (31 frames of 4 KiB pages) and written at once.
 * Other handles (other processes too) see frames only through the WAL
 * index, which SQLite updates after it has written a commit frame (the
 * one whose header has a non-zero nTruncate): the buffer is written as
 * soon as a commit frame is complete, by that xWrite, whose error SQLite
 * then gets (the commit fails, nothing is published). Any other access to
 * the WAL file (a read, sync, size, truncate, lock, file control, close, or
 * a write of another shape or place, such as the WAL header or a frame
 * rewritten in place) writes the buffer first, so the file reads as if
 * nothing were held back; only whole frames of a transaction not committed
 * yet can wait in memory, and those no reader may see anyway. */
#define WALBUF_CAP 0x1ffffu /* the unix VFS writes at most 2^17 - 1 bytes per call */
#define WAL_FRAME_HDR 24
#define WAL_VFS_NAME "loafre-wal"

struct wfile {
	sqlite3_file base;           /* SQLite's view: our methods */
	sqlite3_file *real;          /* the default VFS's file (after this struct) */
	char *buf;                   /* gathered bytes (malloc'ed on first use), or NULL */
	size_t len;                  /* bytes in buf */
	sqlite3_int64 off;           /* file offset of buf[0] */
	sqlite3_int64 page_at;       /* a frame header ends buf: where its page starts; else -1 */
	bool commit;                 /* that header is a commit frame's */
};

#define WFILE_HEAD ((sizeof(struct wfile) + 15) & ~(size_t)15)

static sqlite3_vfs *wal_real_vfs;    /* the default VFS */
static sqlite3_vfs wal_vfs;          /* "loafre-wal" */
static bool wal_vfs_ok;              /* registered */
static pthread_once_t wal_vfs_once = PTHREAD_ONCE_INIT;

static int wf_flush(struct wfile *w)
{
	int rc = SQLITE_OK;

	if (w->len)
		rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
	w->len = 0;
	w->page_at = -1;
	w->commit = false;
	return rc;
}

static int wf_close(sqlite3_file *f)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w), rc2 = w->real->pMethods->xClose(w->real);

	free(w->buf);
	w->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int wf_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 ofs)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, p, amt, ofs);
}

/* Appends p to the buffer (w->len + amt <= WALBUF_CAP). */
static void wf_put(struct wfile *w, const void *p, int amt, sqlite3_int64 ofs)
{
	if (w->len == 0)
		w->off = ofs;
	memcpy(w->buf + w->len, p, (size_t)amt);
	w->len += (size_t)amt;
}

static int wf_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 ofs)
{
	struct wfile *w = (struct wfile *)f;
	const unsigned char *h = p;
	int rc;

	if (amt == WAL_FRAME_HDR && w->page_at < 0 &&
	    (w->len == 0 || ofs == w->off + (sqlite3_int64)w->len) &&
	    (w->buf || (w->buf = malloc(WALBUF_CAP)))) {
		/* a frame header, in sequence */
		if (w->len + WAL_FRAME_HDR > WALBUF_CAP && (rc = wf_flush(w)) != SQLITE_OK)
			return rc;
		wf_put(w, p, amt, ofs);
		w->page_at = ofs + amt;
		w->commit = (h[4] | h[5] | h[6] | h[7]) != 0; /* nTruncate */
		return SQLITE_OK;
	}
	if (w->page_at >= 0 && ofs == w->page_at && amt >= 512 && amt <= 65536) {
		/* its page */
		bool commit = w->commit;

		if (w->len + (size_t)amt > WALBUF_CAP && (rc = wf_flush(w)) != SQLITE_OK)
			return rc;
		wf_put(w, p, amt, ofs);
		w->page_at = -1;
		w->commit = false;
		return commit ? wf_flush(w) : SQLITE_OK;
	}
	/* anything else goes after what is gathered */
	rc = wf_flush(w);
	return rc != SQLITE_OK ? rc : w->real->pMethods->xWrite(w->real, p, amt, ofs);
}

static int wf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wf_sync(sqlite3_file *f, int flags)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wf_file_size(sqlite3_file *f, sqlite3_int64 *ret)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, ret);
}

static int wf_lock(sqlite3_file *f, int l)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xLock(w->real, l);
}

static int wf_unlock(sqlite3_file *f, int l)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xUnlock(w->real, l);
}

static int wf_check_reserved(sqlite3_file *f, int *ret)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xCheckReservedLock(w->real, ret);
}

static int wf_file_control(sqlite3_file *f, int op, void *arg)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wf_sector_size(sqlite3_file *f)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xSectorSize(w->real);
}

static int wf_device_characteristics(sqlite3_file *f)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xDeviceCharacteristics(w->real);
}

static int wf_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **ret)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xShmMap(w->real, pg, pgsz, extend, ret);
}

static int wf_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xShmLock(w->real, offset, n, flags);
}

static void wf_shm_barrier(sqlite3_file *f)
{
	struct wfile *w = (struct wfile *)f;

	w->real->pMethods->xShmBarrier(w->real);
}

static int wf_shm_unmap(sqlite3_file *f, int del)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xShmUnmap(w->real, del);
}

static int wf_fetch(sqlite3_file *f, sqlite3_int64 ofs, int amt, void **ret)
{
	struct wfile *w = (struct wfile *)f;
	int rc = wf_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xFetch(w->real, ofs, amt, ret);
}

static int wf_unfetch(sqlite3_file *f, sqlite3_int64 ofs, void *p)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xUnfetch(w->real, ofs, p);
}

static const sqlite3_io_methods wf_methods = {
	.iVersion = 3,
	.xClose = wf_close,
	.xRead = wf_read,
	.xWrite = wf_write,
	.xTruncate = wf_truncate,
	.xSync = wf_sync,
	.xFileSize = wf_file_size,
	.xLock = wf_lock,
	.xUnlock = wf_unlock,
	.xCheckReservedLock = wf_check_reserved,
	.xFileControl = wf_file_control,
	.xSectorSize = wf_sector_size,
	.xDeviceCharacteristics = wf_device_characteristics,
	.xShmMap = wf_shm_map,
	.xShmLock = wf_shm_lock,
	.xShmBarrier = wf_shm_barrier,
	.xShmUnmap = wf_shm_unmap,
	.xFetch = wf_fetch,
	.xUnfetch = wf_unfetch,
};

/* The default VFS's open; a WAL file (of a version-3 file: the unix VFS)
 * is wrapped. Every other file is the default VFS's own. */
static int wf_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
		   int *ret_flags)
{
	struct wfile *w = (struct wfile *)f;
	sqlite3_file *real = (sqlite3_file *)((char *)f + WFILE_HEAD);
	int rc;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_WAL))
		return wal_real_vfs->xOpen(wal_real_vfs, name, f, flags, ret_flags);
	memset(w, 0, sizeof(*w));
	real->pMethods = NULL;
	rc = wal_real_vfs->xOpen(wal_real_vfs, name, real, flags, ret_flags);
	if (rc != SQLITE_OK || !real->pMethods || real->pMethods->iVersion < 3) {
		if (rc == SQLITE_OK) /* not a file this wrapper can forward to: as is */
			rc = SQLITE_CANTOPEN;
		if (real->pMethods)
			real->pMethods->xClose(real);
		f->pMethods = NULL;
		return rc;
	}
	w->real = real;
	w->page_at = -1;
	f->pMethods = &wf_methods;
	return SQLITE_OK;
}

static void wal_vfs_register(void)
{
	sqlite3_vfs *d = sqlite3_vfs_find(NULL);

	if (!d || d->iVersion < 1)
		return;
	wal_real_vfs = d;
	wal_vfs = *d;
	wal_vfs.szOsFile = (int)WFILE_HEAD + d->szOsFile;
	wal_vfs.pNext = NULL;
	wal_vfs.zName = WAL_VFS_NAME;
	wal_vfs.xOpen = wf_open;
	wal_vfs_ok = sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK;
}

/* The VFS of a writing handle: "loafre-wal", or NULL (the default). */
static const char *writer_vfs(void)
{
	loafre__sqlite_init();
	(void)pthread_once(&wal_vfs_once, wal_vfs_register);
	return wal_vfs_ok ? WAL_VFS_NAME : NULL;
}

static int sq_open(const char *where, const char *fsname, int flags, void **ret_be, char *err,
		   size_t errlen)
{
	bool ro = flags & LOAFRE__IDX_READONLY, create = flags & LOAFRE__IDX_CREATE;
	int oflags = (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
		     (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
	struct sq *s = calloc(1, sizeof(*s));
	struct stat stt;
	int rc, r;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->readonly = ro;
	s->path = strdup(where);
	if (!s->path) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!create && stat(where, &stt) < 0) {
		r = -errno;
		snprintf(err, errlen, "no index store at '%s': %s", where, strerror(errno));
		goto fail;
	}
	loafre__sqlite_init();
	rc = sqlite3_open_v2(where, &s->db, oflags, ro ? NULL : writer_vfs());
	if (rc != SQLITE_OK) {
		r = s->db ? sq_err(s, rc) : -ENOMEM;
		snprintf(err, errlen, "cannot open index store '%s': %s", where,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_MS_DEFAULT);
	sqlite3_extended_result_codes(s->db, 1);
	r = sq_schema(s, where, fsname, create, err, errlen);
	if (r < 0)
		goto fail;
	/* cache: 64 MiB of private pages; reads through mmap share the OS
	 * page cache between processes (a CLI command starts warm). A writer:
	 * 256 MiB (the pages its commits dirty stay), a checkpoint every
	 * 16384 WAL pages (see FILE above) */
	r = exec(s, "PRAGMA cache_size=-65536; PRAGMA mmap_size=2147418112;");
	if (r == 0 && !ro)
		r = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			    " PRAGMA journal_size_limit=67108864; PRAGMA wal_autocheckpoint=16384;"
			    " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-262144;");
	if (r < 0) {
		snprintf(err, errlen, "cannot set up index store '%s': %s", where, s->errmsg);
		goto fail;
	}
	r = dev_refresh(s);
	if (r < 0) {
		snprintf(err, errlen, "cannot read index store '%s': %s", where, s->errmsg);
		goto fail;
	}
	if (!ro) {
		int64_t unique = 0;

		/* an abandoned bulk load (a crash) left entry_us out */
		r = us_exists(s);
		if (r == 0)
			r = exec(s, US_INDEX_SQL);
		if (r >= 0)
			r = pragma_int(s, LINK_UNIQUE_SQL, &unique);
		if (r >= 0)
			r = base_schema(s);
		if (r < 0) {
			snprintf(err, errlen, "cannot set up index store '%s': %s", where, s->errmsg);
			goto fail;
		}
		s->link_unique = unique > 0;
	}
	*ret_be = s;
	return 0;
fail:
	sq_close(s);
	return r;
}

static const char *sq_errmsg(void *be)
{
	return ((struct sq *)be)->errmsg;
}

static void sq_set_busy_timeout(void *be, unsigned ms)
{
	sqlite3_busy_timeout(((struct sq *)be)->db, (int)ms);
}

static int sq_begin(void *be)
{
	struct sq *s = be;
	int r = exec(s, "BEGIN IMMEDIATE");

	if (r < 0)
		return r;
	r = dev_refresh(s);
	if (r < 0) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	s->in_txn = true;
	s->quota_any = -1;
	s->xlink_any = -1;
	return 0;
}

static int sq_changed(void *be, bool *ret)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int64_t v = 0;
	int r = st_get(s, S_DATA_VERSION, &st), rc;

	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		r = sq_err(s, rc);
	st_put(s, S_DATA_VERSION, st);
	if (r < 0)
		return r;
	*ret = !s->dv_known || v != s->data_version;
	s->data_version = v;
	s->dv_known = true;
	return 0;
}

static int sq_rollback(void *be)
{
	struct sq *s = be;
	int r = s->in_txn ? exec(s, "ROLLBACK") : 0;

	s->in_txn = false;
	chunks_drop(s);
	s->dev_known = false; /* a base set in the transaction is gone */
	if (dev_refresh(s) < 0)
		s->dev_known = false;
	if (s->us_deferred && us_exists(s) > 0)
		s->us_deferred = false; /* the DROP of bulk_begin was rolled back */
	return r;
}

static int sq_commit(void *be)
{
	struct sq *s = be;
	int r = chunks_flush(s);

	if (r == 0)
		r = exec(s, "COMMIT");
	if (r < 0) {
		sq_rollback(s);
		return r;
	}
	s->in_txn = false;
	chunks_drop(s);
	return 0;
}

static int sq_read_begin(void *be)
{
	struct sq *s = be;
	int r = exec(s, "BEGIN");

	s->quota_any = s->xlink_any = -1;
	if (r == 0)
		r = dev_refresh(s);
	if (r < 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static void sq_read_end(void *be)
{
	sqlite3_exec(((struct sq *)be)->db, "COMMIT", NULL, NULL, NULL);
}

/* Queries that read the chunks see the transaction's changes. */
static int chunks_sync(struct sq *s)
{
	return s->in_txn ? chunks_flush(s) : 0;
}

/* ---- meta, positions ----------------------------------------------------------------- */

static int sq_root_get(void *be, struct loafre_fid *ret)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_META_GET, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, "root", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *b = sqlite3_column_blob(st, 0);

		if (b && sqlite3_column_bytes(st, 0) == 16) {
			ret->f_seq = loafre__le64(b);
			ret->f_oid = loafre__le32(b + 8);
			ret->f_ver = loafre__le32(b + 12);
		} else {
			snprintf(s->errmsg, sizeof(s->errmsg), "bad root FID in meta");
			r = -EIO;
		}
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	}
	st_put(s, S_META_GET, st);
	return r;
}

static int sq_root_set(void *be, const struct loafre_fid *root)
{
	struct sq *s = be;
	unsigned char b[16];
	sqlite3_stmt *st;
	int r = st_get(s, S_META_PUT, &st);

	if (r < 0)
		return r;
	loafre__put64(b, root->f_seq);
	loafre__put32(b + 8, root->f_oid);
	loafre__put32(b + 12, root->f_ver);
	sqlite3_bind_text(st, 1, "root", -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, b, 16, SQLITE_STATIC);
	r = st_done(s, st);
	st_put(s, S_META_PUT, st);
	return r;
}

static int sq_position_get(void *be, const char *mdt, uint64_t *ret)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_POS_GET, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, mdt, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = u64col(st, 0);
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	st_put(s, S_POS_GET, st);
	return r;
}

static int sq_position_set(void *be, const char *mdt, uint64_t index)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_POS_SET, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, mdt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)index);
	r = st_done(s, st);
	st_put(s, S_POS_SET, st);
	return r;
}

static int sq_clear(void *be)
{
	struct sq *s = be;
	int r;

	chunks_drop(s);
	r = exec(s, "DELETE FROM entry; DELETE FROM xlink; DELETE FROM dirsum;"
		    " DELETE FROM names; DELETE FROM position; DELETE FROM meta WHERE key='root';"
		    " DELETE FROM tri; DELETE FROM meta WHERE key='tri1';"
		    " " US_INDEX_SQL ";"
		    /* an older store's plain entry_link becomes UNIQUE (now: empty) */
		    " DROP INDEX entry_link; CREATE UNIQUE INDEX entry_link ON entry(parent, name);");
	if (r == 0) {
		s->us_deferred = false;
		s->link_unique = true;
	}
	return r;
}

/* A bulk load does without entry_us (random inserts: about a quarter of
 * a scan's insert time) and builds it at the end, sorted. */
static int sq_bulk_begin(void *be)
{
	struct sq *s = be;
	int r = exec(s, "DROP INDEX IF EXISTS entry_us");

	if (r == 0)
		s->us_deferred = true;
	return r;
}

static int sq_names_base(void *be, unsigned dirty_pct);

static int sq_bulk_end(void *be)
{
	struct sq *s = be;
	int r = exec(s, US_INDEX_SQL);

	if (r == 0) {
		r = sq_names_base(s, 0); /* a scan ends with a fresh base */
		r = r < 0 ? r : 0;
	}

	if (r == 0)
		s->us_deferred = false;
	return r;
}

/* ---- entries --------------------------------------------------------------------------- */

static int fetch_row(struct sq *s, enum stmt_kind k, sqlite3_stmt *st, bool strings,
		     struct loafre__idx_row *ret)
{
	int rc = sqlite3_step(st), r = 0;

	if (rc == SQLITE_ROW)
		read_row(s, st, 0, strings ? STR_COPY : STR_NONE, ret);
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	st_put(s, k, st);
	return r;
}

static int sq_entry_by_fid(void *be, const struct loafre_fid *fid, bool strings,
			   struct loafre__idx_row *ret)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_BY_FID, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (int64_t)fid->f_seq);
	sqlite3_bind_int64(st, 2, fid->f_oid);
	sqlite3_bind_int64(st, 3, fid->f_ver);
	return fetch_row(s, S_BY_FID, st, strings, ret);
}

static int sq_entry_by_id(void *be, int64_t id, bool strings, struct loafre__idx_row *ret)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_BY_ID, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	return fetch_row(s, S_BY_ID, st, strings, ret);
}

/* Binds integer v to parameter i of entry_insert's statement, unless it
 * holds v already (SQLite keeps bindings across executions; most columns
 * of consecutive new entries are equal: a bind costs ~70 instructions). */
static void ins_int(struct sq *s, int i, int64_t v)
{
	if ((s->ins.valid >> i & 1) && s->ins.v[i] == v)
		return;
	sqlite3_bind_int64(s->ins.st, i, v);
	s->ins.v[i] = v;
	s->ins.valid |= 1u << i;
}

/* Binds text (or NULL) to parameter i of entry_insert's statement. */
static void ins_text(struct sq *s, int i, const char *text)
{
	bind_name(s->ins.st, i, text);
	s->ins.valid &= ~(1u << i);
}

static int sq_entry_insert(void *be, const struct loafre_fid *fid,
			   const struct loafre__idx_attr *a, uint32_t mdt, int64_t parent,
			   const char *name, const char *jobid, int64_t *ret_id)
{
	struct sq *s = be;
	uint64_t mt = (uint64_t)a->mtime_ns;
	int r = dev_base_for(s, a->dev), rc;

	if (r < 0)
		return r;
	if (!s->ins.st) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[S_INSERT], -1, SQLITE_PREPARE_PERSISTENT,
					&s->ins.st, NULL);
		if (rc != SQLITE_OK)
			return sq_err(s, rc);
		s->ins.valid = 0;
	}
	/* the columns of bind_attrs (1..5, 11..13, 14..16) */
	ins_int(s, 1, a->mode);
	ins_int(s, 2, a->uid);
	ins_int(s, 3, a->gid);
	ins_int(s, 4, (int64_t)a->size);
	ins_int(s, 5, a->mtime_ns);
	ins_int(s, 11, (int64_t)(a->blocks - (a->size + 511) / 512));
	ins_int(s, 12, (int64_t)((uint64_t)a->ctime_ns - mt));
	ins_int(s, 13, (int64_t)((uint64_t)a->atime_ns - mt));
	ins_int(s, 14, (int64_t)a->nlink);
	ins_int(s, 15, (int64_t)(a->ino - loafre__idx_fid_ino(fid)));
	ins_int(s, 16, (int64_t)(a->dev - s->dev_base));
	if (parent) {
		ins_int(s, 6, parent);
		ins_text(s, 7, name);
	} else {
		ins_text(s, 6, NULL);
		ins_text(s, 7, NULL);
	}
	ins_int(s, 8, (int64_t)fid->f_seq);
	ins_int(s, 9, fid->f_oid);
	ins_int(s, 10, fid->f_ver);
	ins_int(s, 17, mdt);
	ins_text(s, 18, a->symlink);
	ins_text(s, 19, jobid);
	r = st_done(s, s->ins.st);
	sqlite3_reset(s->ins.st);
	if (r < 0)
		return r;
	*ret_id = sqlite3_last_insert_rowid(s->db);
	return parent ? name_add(s, *ret_id, false, name) : 0;
}

static int many_get(struct sq *s, size_t n, struct insm **ret)
{
	static const char head[] = "INSERT OR FAIL INTO entry(id,mode,uid,gid,size,mtime,parent,name,seq,oid,"
				   "ver,blk,ct,at,nlink,ino,dev,xl,mdt,jobid,symlink) VALUES";
	static const char row[] = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,?,?)";
	char sql[sizeof(head) + LOAFRE__IDX_INSERT_MANY_MAX * sizeof(row)];
	struct insm *m = s->many[n];
	size_t len = sizeof(head) - 1;
	int rc;

	if (m) {
		*ret = m;
		return 0;
	}
	memcpy(sql, head, len);
	for (size_t i = 0; i < n; i++) {
		if (i)
			sql[len++] = ',';
		memcpy(sql + len, row, sizeof(row) - 1);
		len += sizeof(row) - 1;
	}
	sql[len] = '\0';
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = sqlite3_prepare_v3(s->db, sql, (int)len + 1, SQLITE_PREPARE_PERSISTENT, &m->st, NULL);
	if (rc != SQLITE_OK) {
		free(m);
		return sq_err(s, rc);
	}
	s->many[n] = m;
	*ret = m;
	return 0;
}

static void many_int(struct insm *m, int i, int64_t v)
{
	if (m->valid[i] && m->v[i] == v)
		return;
	sqlite3_bind_int64(m->st, i, v);
	m->v[i] = v;
	m->valid[i] = 1;
}

static void many_text(struct insm *m, int i, const char *text)
{
	bind_name(m->st, i, text);
	m->valid[i] = 0;
}

/* INSERT OR FAIL: a refused row ends the statement keeping the rows
 * before it (sqlite3_changes), so SQLite keeps no statement journal (a copy
 * of every page the statement changes, which ABORT's rollback would need). */
static int sq_entry_insert_many(void *be, const struct loafre__idx_newrow *rows, size_t n,
				size_t *ret_done)
{
	struct sq *s = be;
	struct insm *m;
	size_t done;
	int r;

	*ret_done = 0;
	if (n == 0 || n > LOAFRE__IDX_INSERT_MANY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		r = dev_base_for(s, rows[i].a->dev);
		if (r < 0)
			return r;
	}
	r = many_get(s, n, &m);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const struct loafre__idx_newrow *w = &rows[i];
		const struct loafre__idx_attr *a = w->a;
		uint64_t mt = (uint64_t)a->mtime_ns;
		int b = (int)(i * MANY_COLS); /* parameter b + c: column c (1-based) */

		many_int(m, b + 1, w->id);
		many_int(m, b + 2, a->mode);
		many_int(m, b + 3, a->uid);
		many_int(m, b + 4, a->gid);
		many_int(m, b + 5, (int64_t)a->size);
		many_int(m, b + 6, a->mtime_ns);
		if (w->parent) {
			many_int(m, b + 7, w->parent);
			many_text(m, b + 8, w->name);
		} else {
			many_text(m, b + 7, NULL);
			many_text(m, b + 8, NULL);
		}
		many_int(m, b + 9, (int64_t)w->fid->f_seq);
		many_int(m, b + 10, w->fid->f_oid);
		many_int(m, b + 11, w->fid->f_ver);
		many_int(m, b + 12, (int64_t)(a->blocks - (a->size + 511) / 512));
		many_int(m, b + 13, (int64_t)((uint64_t)a->ctime_ns - mt));
		many_int(m, b + 14, (int64_t)((uint64_t)a->atime_ns - mt));
		many_int(m, b + 15, (int64_t)a->nlink);
		many_int(m, b + 16, (int64_t)(a->ino - loafre__idx_fid_ino(w->fid)));
		many_int(m, b + 17, (int64_t)(a->dev - s->dev_base));
		many_int(m, b + 18, w->mdt);
		many_text(m, b + 19, w->jobid);
		many_text(m, b + 20, a->symlink);
	}
	r = st_done(s, m->st);
	done = r == 0 ? n : r == -EEXIST ? (size_t)sqlite3_changes(s->db) : 0;
	sqlite3_reset(m->st);
	if (done > n || (r == -EEXIST && done == n))
		return -EIO; /* cannot be */
	for (size_t i = 0; i < done; i++) {
		int e = rows[i].parent ? name_add(s, rows[i].id, false, rows[i].name) : 0;

		if (e < 0)
			return e;
	}
	*ret_done = done;
	return r;
}

static int sq_entry_max_id(void *be, int64_t *ret)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_MAX_ID, &st), rc;

	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = sq_err(s, rc);
	st_put(s, S_MAX_ID, st);
	return r;
}

/* S_UPDATE, or S_UPDATE_NOUS (uid and size unchanged). */
static int update_k(struct sq *s, enum stmt_kind k, int64_t id, const struct loafre_fid *fid,
		    const struct loafre__idx_attr *a, uint32_t mdt)
{
	sqlite3_stmt *st;
	int r = dev_base_for(s, a->dev);

	if (r == 0)
		r = st_get(s, k, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	bind_attrs(s, st, fid, a, 2, 7, 10);
	sqlite3_bind_int64(st, 13, mdt);
	bind_name(st, 14, a->symlink);
	r = st_done(s, st);
	st_put(s, k, st);
	return r;
}

static int sq_entry_update(void *be, int64_t id, const struct loafre_fid *fid,
			   const struct loafre__idx_attr *a, uint32_t mdt)
{
	return update_k(be, S_UPDATE, id, fid, a, mdt);
}

static int sq_entry_update_from(void *be, int64_t id, const struct loafre_fid *fid,
				const struct loafre__idx_attr *a, uint32_t mdt,
				const struct loafre__idx_attr *old, uint32_t old_mdt)
{
	(void)old_mdt;
	return update_k(be, old->uid == a->uid && old->size == a->size ? S_UPDATE_NOUS : S_UPDATE,
			id, fid, a, mdt);
}

static int sq_entry_set_jobid(void *be, int64_t id, const char *jobid)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_SET_JOBID, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	bind_name(st, 2, jobid);
	r = st_done(s, st);
	st_put(s, S_SET_JOBID, st);
	return r;
}

static int sq_entry_set_link(void *be, int64_t id, int64_t parent, const char *name)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_SET_LINK, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	if (parent) {
		sqlite3_bind_int64(st, 2, parent);
		bind_name(st, 3, name);
	} else {
		sqlite3_bind_null(st, 2);
		sqlite3_bind_null(st, 3);
	}
	r = st_done(s, st);
	st_put(s, S_SET_LINK, st);
	if (r == 0)
		r = name_del(s, id, false);
	if (r == 0 && parent)
		r = name_add(s, id, false, name);
	return r;
}

/* Runs a one-parameter DML statement. */
static int run_id(struct sq *s, enum stmt_kind k, int64_t id)
{
	sqlite3_stmt *st;
	int r = st_get(s, k, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	r = st_done(s, st);
	st_put(s, k, st);
	return r;
}

/* Does a table have rows? k: S_QUOTA_ANY or S_XLINK_ANY; *flag caches
 * the answer (-1 unknown) for the transaction (inserts set it). */
static int any_rows(struct sq *s, enum stmt_kind k, int *flag, bool *ret)
{
	sqlite3_stmt *st;
	int r, rc;

	if (*flag < 0) {
		r = st_get(s, k, &st);
		if (r < 0)
			return r;
		rc = sqlite3_step(st);
		st_put(s, k, st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return sq_err(s, rc);
		*flag = rc == SQLITE_ROW;
	}
	*ret = *flag;
	return 0;
}

/* The rest of a deletion, the entry row gone: its xlinks and names, a
 * directory's dirsum row, a quota on it. `linked`: it has a primary link
 * (-1: not known; the name chunk is then asked, which ignores an id it
 * does not hold). */
static int delete_rest(struct sq *s, int64_t id, const struct loafre_fid *fid, uint32_t mode,
		       int64_t xl, int linked)
{
	sqlite3_stmt *st;
	int64_t *xids = NULL;
	bool quota = false;
	size_t n = 0, cap = 0;
	int r = 0, rc;

	if (xl) {
		r = st_get(s, S_XLINKS_OF, &st);
		if (r < 0)
			return r;
		sqlite3_bind_int64(st, 1, id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			r = grow((void **)&xids, &cap, n + 1, sizeof(*xids));
			if (r < 0)
				break;
			xids[n++] = sqlite3_column_int64(st, 0);
		}
		if (r == 0 && rc != SQLITE_DONE)
			r = sq_err(s, rc);
		st_put(s, S_XLINKS_OF, st);
		for (size_t i = 0; r == 0 && i < n; i++)
			r = name_del(s, xids[i], true);
		free(xids);
		if (r == 0 && n)
			r = run_id(s, S_XLINK_DEL_CHILD, id);
	}
	if (r == 0 && linked)
		r = name_del(s, id, false);
	if (r == 0 && S_ISDIR(mode))
		r = run_id(s, S_DIRSUM_DEL, id);
	if (r == 0)
		r = any_rows(s, S_QUOTA_ANY, &s->quota_any, &quota);
	if (r == 0 && quota) {
		r = st_get(s, S_QUOTA_RM, &st);
		if (r < 0)
			return r;
		sqlite3_bind_int64(st, 1, (int64_t)fid->f_seq);
		sqlite3_bind_int64(st, 2, fid->f_oid);
		sqlite3_bind_int64(st, 3, fid->f_ver);
		r = st_done(s, st);
		st_put(s, S_QUOTA_RM, st);
	}
	return r;
}

/* The entry row goes first (read just before: it says what else there is
 * to do): its xlinks and names, a directory's dirsum row, a quota on it. */
static int sq_entry_delete(void *be, int64_t id)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	struct loafre_fid fid = {0, 0, 0};
	int64_t mode = 0, xl = 0;
	bool found = false, linked = false;
	int r = st_get(s, S_DEL_INFO, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		found = true;
		mode = sqlite3_column_int64(st, 0);
		linked = sqlite3_column_int64(st, 1) != 0;
		xl = sqlite3_column_int64(st, 2);
		fid.f_seq = u64col(st, 3);
		fid.f_oid = (uint32_t)sqlite3_column_int64(st, 4);
		fid.f_ver = (uint32_t)sqlite3_column_int64(st, 5);
	}
	if (rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_DEL_INFO, st);
	if (r < 0 || !found)
		return r;
	/* not DELETE ... RETURNING: that materializes its rows in an
	 * ephemeral table, opened and freed per execution (dearer than this
	 * second seek of a hot page) */
	r = run_id(s, S_DELETE, id);
	if (r < 0)
		return r;
	return delete_rest(s, id, &fid, (uint32_t)mode, xl, linked);
}

/* The caller knows the row (FID, mode, xlinks): no read. Whether it has a
 * primary link is left to the name chunk (a pending link change of the
 * store may not be written yet). */
static int sq_entry_delete_known(void *be, int64_t id, const struct loafre_fid *fid,
				 uint32_t mode, uint32_t nxlinks)
{
	struct sq *s = be;
	int r = run_id(s, S_DELETE, id);

	if (r < 0)
		return r;
	if (sqlite3_changes(s->db) == 0)
		return 0; /* no such row (as entry_delete) */
	return delete_rest(s, id, fid, mode, nxlinks, -1);
}

/* ---- links ------------------------------------------------------------------------------ */

/* The primary links (entry_link), then, when there are xlinks at all,
 * xlink_link. */
static int sq_link_get(void *be, int64_t parent, const char *name, int64_t *ret_child,
		       int64_t *ret_xid)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	bool xl = false;
	int r = st_get(s, S_LINK_E, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, parent);
	bind_name(st, 2, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret_child = sqlite3_column_int64(st, 0);
		*ret_xid = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	}
	st_put(s, S_LINK_E, st);
	if (r != -ENOENT)
		return r;
	r = any_rows(s, S_XLINK_ANY, &s->xlink_any, &xl);
	if (r < 0 || !xl)
		return r < 0 ? r : -ENOENT;
	r = st_get(s, S_LINK_X, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, parent);
	bind_name(st, 2, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret_child = sqlite3_column_int64(st, 0);
		*ret_xid = sqlite3_column_int64(st, 1);
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	}
	st_put(s, S_LINK_X, st);
	return r;
}

/* entry_insert refuses a taken name itself: a UNIQUE entry_link covers
 * every link while there are no xlinks (looked up once per transaction;
 * an error: false, the store then asks link_get). */
static bool sq_insert_checks_link(void *be)
{
	struct sq *s = be;
	bool xl = true;

	return s->link_unique && s->in_txn && any_rows(s, S_XLINK_ANY, &s->xlink_any, &xl) == 0 &&
	       !xl;
}

static int sq_seq_max(void *be, uint64_t seq, uint32_t *ret_oid)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_SEQ_MAX, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (int64_t)seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*ret_oid = (uint32_t)sqlite3_column_int64(st, 0);
	else
		r = rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	st_put(s, S_SEQ_MAX, st);
	return r;
}

static int sq_xlinks(void *be, int64_t child, loafre__idx_xlink_fn cb, void *ctx)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_XLINKS_OF, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, child);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct loafre__idx_xlink l = {
			.xid = sqlite3_column_int64(st, 0),
			.parent = sqlite3_column_int64(st, 1),
			.child = child,
			.name = (const char *)sqlite3_column_text(st, 2),
		};

		r = cb(ctx, &l);
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_XLINKS_OF, st);
	return r;
}

static int xl_add(struct sq *s, int64_t id, int d)
{
	sqlite3_stmt *st;
	int r = st_get(s, S_XL_ADD, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, d);
	r = st_done(s, st);
	st_put(s, S_XL_ADD, st);
	return r;
}

static int sq_xlink_insert(void *be, int64_t parent, const char *name, int64_t child)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_XLINK_INS, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, parent);
	bind_name(st, 2, name);
	sqlite3_bind_int64(st, 3, child);
	r = st_done(s, st);
	st_put(s, S_XLINK_INS, st);
	if (r == 0)
		s->xlink_any = 1;
	if (r == 0)
		r = name_add(s, sqlite3_last_insert_rowid(s->db), true, name);
	if (r == 0)
		r = xl_add(s, child, 1);
	return r;
}

static int sq_xlink_delete(void *be, int64_t xid)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int64_t child = 0;
	int r = st_get(s, S_XLINK_CHILD, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, xid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		child = sqlite3_column_int64(st, 0);
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	st_put(s, S_XLINK_CHILD, st);
	if (r == 0)
		r = run_id(s, S_XLINK_DEL, xid);
	if (r == 0)
		r = name_del(s, xid, true);
	if (r == 0)
		r = xl_add(s, child, -1);
	return r;
}

/* Merges the primary links and the xlinks of a directory in name order. */
static int sq_children(void *be, int64_t dir, bool strings, loafre__idx_childrow_fn cb, void *ctx)
{
	struct sq *s = be;
	sqlite3_stmt *p = NULL, *x = NULL;
	struct loafre__idx_row row;
	int rp, rx, r;
	enum strmode sm = strings ? STR_BORROW : STR_NONE;

	r = st_get(s, S_CHILDREN_P, &p);
	if (r == 0)
		r = st_get(s, S_CHILDREN_X, &x);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(p, 1, dir);
	sqlite3_bind_int64(x, 1, dir);
	rp = sqlite3_step(p);
	rx = sqlite3_step(x);
	while (rp == SQLITE_ROW || rx == SQLITE_ROW) {
		bool take_p = rx != SQLITE_ROW;

		if (rp == SQLITE_ROW && rx == SQLITE_ROW) {
			int lp = sqlite3_column_bytes(p, 7), lx = sqlite3_column_bytes(x, 0);
			const void *np = sqlite3_column_text(p, 7), *nx = sqlite3_column_text(x, 0);
			int c = memcmp(np, nx, (size_t)(lp < lx ? lp : lx));

			take_p = c < 0 || (c == 0 && lp < lx);
		}
		if (take_p) {
			read_row(s, p, 0, sm, &row);
			r = cb(ctx, row.name, &row, 0);
			if (r)
				break;
			rp = sqlite3_step(p);
		} else {
			char name[LOAFRE__IDX_NAME_MAX + 1];

			snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(x, 0));
			read_row(s, x, 2, sm, &row);
			r = cb(ctx, name, &row, sqlite3_column_int64(x, 1));
			if (r)
				break;
			rx = sqlite3_step(x);
		}
	}
	if (r == 0 && ((rp != SQLITE_DONE && rp != SQLITE_ROW) || (rx != SQLITE_DONE && rx != SQLITE_ROW)))
		r = sq_err(s, rp != SQLITE_DONE ? rp : rx);
out:
	st_put(s, S_CHILDREN_P, p);
	st_put(s, S_CHILDREN_X, x);
	return r;
}

/* ---- rollups ------------------------------------------------------------------------------ */

static int sq_dirsum_get(void *be, int64_t dir, struct loafre__idx_sum *ret)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_DIRSUM_GET, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, dir);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret->blocks = u64col(st, 0);
		ret->bytes = u64col(st, 1);
		ret->inodes = u64col(st, 2);
	} else if (rc == SQLITE_DONE) {
		memset(ret, 0, sizeof(*ret));
	} else {
		r = sq_err(s, rc);
	}
	st_put(s, S_DIRSUM_GET, st);
	return r;
}

/* Binds delta d as the k-th row (7 parameters) of an S_DIRSUM_UPS* statement. */
static void bind_delta(sqlite3_stmt *st, int k, const struct loafre__idx_delta *d)
{
	int i = 7 * k;

	sqlite3_bind_int64(st, i + 1, d->id);
	sqlite3_bind_int64(st, i + 2, d->blocks);
	sqlite3_bind_int64(st, i + 3, d->bytes);
	sqlite3_bind_int64(st, i + 4, d->inodes);
	sqlite3_bind_int64(st, i + 5, (int64_t)d->fid.f_seq);
	sqlite3_bind_int64(st, i + 6, d->fid.f_oid);
	sqlite3_bind_int64(st, i + 7, d->fid.f_ver);
}

/* A delta with its directory's FID: an upsert, DIRSUM_ROWS per statement
 * (per-statement work is most of a one-row change). Without: an UPDATE of
 * the row, and an INSERT (the FID from the entry) when there is none yet. */
static int sq_dirsum_add(void *be, const struct loafre__idx_delta *d, size_t n)
{
	struct sq *s = be;
	sqlite3_stmt *up = NULL, *ins = NULL, *many = NULL, *one = NULL;
	const struct loafre__idx_delta *known[DIRSUM_ROWS];
	size_t nk = 0;
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		sqlite3_stmt *st;

		if (!loafre_fid_is_zero(&d[i].fid)) {
			known[nk++] = &d[i];
			if (nk < DIRSUM_ROWS)
				continue;
			if (!many && (r = st_get(s, S_DIRSUM_UPSN, &many)) < 0)
				break;
			for (size_t k = 0; k < nk; k++)
				bind_delta(many, (int)k, known[k]);
			r = st_done(s, many);
			sqlite3_reset(many);
			nk = 0;
			continue;
		}
		if (!up && (r = st_get(s, S_DIRSUM_UPD, &up)) < 0)
			break;
		st = up;
		for (int pass = 0; pass < 2 && r == 0; pass++) {
			if (pass == 1) {
				if (sqlite3_changes(s->db) > 0)
					break;
				if (!ins && (r = st_get(s, S_DIRSUM_ADD, &ins)) < 0)
					break;
				st = ins;
			}
			sqlite3_bind_int64(st, 1, d[i].id);
			sqlite3_bind_int64(st, 2, d[i].blocks);
			sqlite3_bind_int64(st, 3, d[i].bytes);
			sqlite3_bind_int64(st, 4, d[i].inodes);
			r = st_done(s, st);
			sqlite3_reset(st);
		}
	}
	if (r == 0 && nk)
		r = st_get(s, S_DIRSUM_UPS1, &one);
	for (size_t k = 0; r == 0 && k < nk; k++) {
		bind_delta(one, 0, known[k]);
		r = st_done(s, one);
		sqlite3_reset(one);
	}
	st_put(s, S_DIRSUM_UPD, up);
	st_put(s, S_DIRSUM_ADD, ins);
	st_put(s, S_DIRSUM_UPSN, many);
	st_put(s, S_DIRSUM_UPS1, one);
	return r;
}

static int sq_dirsum_delete(void *be, int64_t dir)
{
	return run_id(be, S_DIRSUM_DEL, dir);
}

/* ---- full scans (checker) ------------------------------------------------------------------ */

static int sq_scan_entries(void *be, loafre__idx_row_fn cb, void *ctx)
{
	struct sq *s = be;
	struct loafre__idx_row row;
	sqlite3_stmt *st;
	int r = st_get(s, S_SCAN_ENTRIES, &st), rc;

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(s, st, 0, STR_NONE, &row);
		r = cb(ctx, &row);
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_SCAN_ENTRIES, st);
	return r;
}

static int sq_scan_xlinks(void *be, loafre__idx_xlink_fn cb, void *ctx)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_SCAN_XLINKS, &st), rc;

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct loafre__idx_xlink l = {
			.xid = sqlite3_column_int64(st, 0),
			.parent = sqlite3_column_int64(st, 1),
			.name = (const char *)sqlite3_column_text(st, 2),
			.child = sqlite3_column_int64(st, 3),
		};

		r = cb(ctx, &l);
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_SCAN_XLINKS, st);
	return r;
}

static int sq_scan_dirsums(void *be, int (*cb)(void *ctx, int64_t id, const struct loafre__idx_sum *sum),
			   void *ctx)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_SCAN_DIRSUMS, &st), rc;

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct loafre__idx_sum sum = {u64col(st, 1), u64col(st, 2), u64col(st, 3)};

		r = cb(ctx, sqlite3_column_int64(st, 0), &sum);
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_SCAN_DIRSUMS, st);
	return r;
}

struct rec {
	unsigned ref;               /* id & 1023 */
	const char *name;           /* in the chunk blob */
};

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return (int)x->ref - (int)y->ref;
}

/* One chunk against the links whose ids it covers: both sorted by id. */
static int check_chunk(struct sq *s, int64_t k, struct rec *v, int n, char *err, size_t errlen)
{
	bool x = k < 0;
	int64_t base = (x ? -1 - k : k) << CHUNK_SHIFT;
	sqlite3_stmt *st = NULL;
	int i = 0, r = 0, rc;

	if (n > 1)
		qsort(v, (size_t)n, sizeof(*v), cmp_rec);
	rc = sqlite3_prepare_v2(s->db,
				x ? "SELECT xid,name FROM xlink WHERE xid BETWEEN ?1 AND ?2 ORDER BY xid"
				  : "SELECT id,name FROM entry WHERE id BETWEEN ?1 AND ?2 AND parent IS NOT"
				    " NULL ORDER BY id",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc);
	sqlite3_bind_int64(st, 1, base);
	sqlite3_bind_int64(st, 2, base + CHUNK_REFS - 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);

		if (i >= n || base + v[i].ref != id || strcmp(v[i].name, name) != 0) {
			snprintf(err, errlen, "name chunk %lld: %s %lld ('%s') not recorded as such",
				 (long long)k, x ? "xlink" : "entry", (long long)id, name);
			r = -EBADMSG;
			break;
		}
		i++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	if (r == 0 && i != n) {
		snprintf(err, errlen, "name chunk %lld: '%s' (ref %u) for no link", (long long)k,
			 v[i].name, v[i].ref);
		r = -EBADMSG;
	}
	sqlite3_finalize(st);
	return r;
}

static int sq_check(void *be, char *err, size_t errlen)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	uint64_t records = 0;
	int64_t links = 0, xl = 0;
	int r, rc;

	r = chunks_sync(s);
	if (r == 0) {
		int64_t dup = 0;

		r = pragma_int(s, "SELECT count(*) FROM (SELECT 1 FROM entry GROUP BY seq,oid,ver"
				  " HAVING count(*)>1 UNION ALL SELECT 1 FROM entry WHERE parent IS NOT"
				  " NULL GROUP BY parent,name HAVING count(*)>1 UNION ALL SELECT 1 FROM"
				  " xlink GROUP BY parent,name HAVING count(*)>1 UNION ALL SELECT 1 FROM"
				  " xlink x JOIN entry e ON e.parent=x.parent AND e.name=x.name)",
			       &dup);
		if (r == 0 && dup) {
			snprintf(err, errlen, "two entries with one FID, or two links with one name");
			return -EBADMSG;
		}
	}
	if (r == 0)
		r = pragma_int(s, "SELECT count(*) FROM entry WHERE parent IS NOT NULL", &links);
	if (r == 0)
		r = pragma_int(s, "SELECT count(*) FROM xlink", &xl);
	if (r == 0)
		r = st_get(s, S_CHUNK_SCAN, &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);
		const unsigned char *refs;
		const char *area, *p;
		size_t alen;
		int n = chunk_parse(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
				    &refs, &area, &alen);
		struct rec v[CHUNK_REFS];

		if (n <= 0) {
			snprintf(err, errlen, "name chunk %lld: bad layout", (long long)k);
			r = -EBADMSG;
			break;
		}
		p = area + 1;
		for (int i = 0; i < n; i++) {
			if (p >= area + alen) {
				snprintf(err, errlen, "name chunk %lld: %d names announced, fewer stored",
					 (long long)k, n);
				r = -EBADMSG;
				break;
			}
			v[i].ref = loafre__le16(refs + 2 * i);
			v[i].name = p;
			p += strlen(p) + 1;
		}
		if (r == 0 && p != area + alen) {
			snprintf(err, errlen, "name chunk %lld: trailing names", (long long)k);
			r = -EBADMSG;
		}
		if (r == 0)
			r = check_chunk(s, k, v, n, err, errlen);
		if (r < 0)
			break;
		records += (uint64_t)n;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_CHUNK_SCAN, st);
	if (r == 0 && records != (uint64_t)(links + xl)) {
		snprintf(err, errlen, "name chunks hold %llu names for %lld links",
			 (unsigned long long)records, (long long)(links + xl));
		r = -EBADMSG;
	}
	return r;
}

/* ---- name search ------------------------------------------------------------------------------- */

/* ASCII lowercase, 8 bytes at a time. */
static void lower_ascii(char *dst, const char *src, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v, h, gt_z, ge_a, up;

		memcpy(&v, src + i, 8);
		h = v & 0x7f7f7f7f7f7f7f7full;
		gt_z = h + 0x2525252525252525ull; /* high bit: byte > 'Z' */
		ge_a = h + 0x3f3f3f3f3f3f3f3full; /* high bit: byte >= 'A' */
		up = ~v & (ge_a ^ gt_z) & 0x8080808080808080ull;
		v |= up >> 2;
		memcpy(dst + i, &v, 8);
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
}

/* NUL bytes in [p, end), 8 at a time. */
static size_t count_nul(const char *p, const char *end)
{
	size_t n = 0;

	for (; p + 8 <= end; p += 8) {
		uint64_t v, t;

		memcpy(&v, p, 8);
		t = (v & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full;
		t = ~(t | v | 0x7f7f7f7f7f7f7f7full); /* high bit: the byte is 0 */
		n += (size_t)(((t >> 7) * 0x0101010101010101ull) >> 56); /* sum of the bits */
	}
	for (; p < end; p++)
		n += !*p;
	return n;
}

/* A name found in a chunk: (chunk key, ref) identifies the link. */
typedef int (*name_hit_fn)(void *ctx, int64_t k, unsigned ref, const char *name);

/* Every name of chunk k (its blob d, len bytes) containing needle[0, nlen)
 * (none: every name), in the chunk's order; *total += its names. */
static int scan_chunk(struct sq *s, int64_t k, const void *d, size_t len, const char *needle,
		      size_t nlen, bool icase, name_hit_fn fn, void *ctx, uint64_t *total)
{
	const unsigned char *refs;
	const char *area, *hay, *p, *end, *cnt_pos;
	size_t alen, cnt = 0;
	int n = chunk_parse(d, len, &refs, &area, &alen), r = 0;

	if (n < 0) {
		snprintf(s->errmsg, sizeof(s->errmsg), "corrupt name chunk %lld", (long long)k);
		return -EIO;
	}
	*total += (uint64_t)n;
	hay = area;
	if (icase) {
		r = grow((void **)&s->scratch, &s->scratch_cap, alen, 1);
		if (r < 0)
			return r;
		lower_ascii(s->scratch, area, alen);
		hay = s->scratch;
	}
	end = hay + alen;
	if (nlen == 0) {
		p = area + 1;
		for (int i = 0; i < n && p < area + alen; i++) {
			r = fn(ctx, k, loafre__le16(refs + 2 * i), p);
			if (r)
				return r;
			p += strlen(p) + 1;
		}
		return 0;
	}
	p = hay;
	cnt_pos = hay;
	while (p < end && (p = memmem(p, (size_t)(end - p), needle, nlen))) {
		const char *start, *nend;

		if (needle[0] == '\0')
			start = p + 1;
		else
			start = (const char *)memrchr(hay, 0, (size_t)(p - hay)) + 1;
		cnt += count_nul(cnt_pos, start);
		cnt_pos = start;
		if (cnt == 0 || cnt > (size_t)n) {
			snprintf(s->errmsg, sizeof(s->errmsg), "corrupt name chunk %lld",
				 (long long)k);
			return -EIO;
		}
		nend = memchr(start, 0, (size_t)(end - start));
		r = fn(ctx, k, loafre__le16(refs + 2 * (cnt - 1)), area + (start - hay));
		if (r)
			return r;
		p = nend;
	}
	return 0;
}

/* ---- the name base (NAME BASE) ------------------------------------------------------- */

#define TRI_XBASE ((uint64_t)1 << 56) /* key of xlink xid: TRI_XBASE + xid; of entry id: id */
#define TRI_RATIO 256 /* a further list is read while it holds <= TRI_RATIO keys per candidate */
#define TRI_SCAN_RUN 4 /* a chunk with this many candidates is scanned (cheaper than their rows) */

static uint64_t tri_key(int64_t k, unsigned ref)
{
	return k >= 0 ? (uint64_t)k << CHUNK_SHIFT | ref
		      : TRI_XBASE + ((uint64_t)(-1 - k) << CHUNK_SHIFT | ref);
}

static int64_t tri_chunk(uint64_t key, unsigned *ret_ref)
{
	if (key < TRI_XBASE) {
		*ret_ref = (unsigned)(key & (CHUNK_REFS - 1));
		return (int64_t)(key >> CHUNK_SHIFT);
	}
	key -= TRI_XBASE;
	*ret_ref = (unsigned)(key & (CHUNK_REFS - 1));
	return -1 - (int64_t)(key >> CHUNK_SHIFT);
}

/* The integer of one row of statement kind k bound to a: -ENOENT when no
 * row, -ENODATA when the value is not an integer (a damaged base). */
static int st_int(struct sq *s, enum stmt_kind k, bool bind, int64_t a, int64_t *ret)
{
	sqlite3_stmt *st;
	int r = st_get(s, k, &st), rc;

	if (r < 0)
		return r;
	if (bind)
		sqlite3_bind_int64(st, 1, a);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		*ret = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_ROW)
		r = -ENODATA;
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	st_put(s, k, st);
	return r;
}

/* Reads the list of trigram t: with cand NULL decodes it into *cand
 * (allocated, *nc keys), else intersects cand[0, *nc) with it. -ENODATA:
 * the list does not decode (the base is then ignored). */
static int tri_apply(struct sq *s, uint32_t t, uint64_t **cand, size_t *nc, bool first)
{
	sqlite3_stmt *st;
	int r = st_get(s, S_TRI_LIST, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, t);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(st, 0);
		const uint8_t *p = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);

		if (n < 0 || (uint64_t)n > len) {
			r = -ENODATA;
		} else if (first) {
			*cand = malloc(((size_t)n + 1) * sizeof(**cand));
			if (!*cand)
				r = -ENOMEM;
			else if (loafre__tri_decode(p, len, (uint64_t)n, *cand) < 0)
				r = -ENODATA;
			else
				*nc = (size_t)n;
		} else {
			long k = loafre__tri_intersect(*cand, *nc, p, len, (uint64_t)n);

			if (k < 0)
				r = -ENODATA;
			else
				*nc = (size_t)k;
		}
	} else if (rc == SQLITE_DONE) {
		*nc = 0; /* no name has it */
	} else {
		r = sq_err(s, rc);
	}
	st_put(s, S_TRI_LIST, st);
	return r;
}

/* Whether NUL name NUL contains needle[0, nlen) (icase: needle is lower
 * case, the name is folded). */
static bool name_has(const char *name, const char *needle, size_t nlen, bool icase)
{
	char buf[LOAFRE__IDX_NAME_MAX + 3];
	size_t len = strlen(name);

	if (len > LOAFRE__IDX_NAME_MAX)
		return false;
	buf[0] = '\0';
	if (icase)
		lower_ascii(buf + 1, name, len);
	else
		memcpy(buf + 1, name, len);
	buf[len + 1] = '\0';
	return memmem(buf, len + 2, needle, nlen) != NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

struct tri_len {
	uint32_t t;                  /* a trigram of the needle */
	int64_t n;                   /* names that have it */
};

static int cmp_tri_len(const void *a, const void *b)
{
	const struct tri_len *x = a, *y = b;

	return x->n < y->n ? -1 : x->n > y->n;
}

/* scan_chunk of chunk k, read by its key (no row: nothing). */
static int scan_key(struct sq *s, int64_t k, const char *needle, size_t nlen, bool icase,
		    name_hit_fn fn, void *ctx, uint64_t *total)
{
	sqlite3_stmt *st;
	int r = st_get(s, S_CHUNK_GET, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, k);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = scan_chunk(s, k, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
			       needle, nlen, icase, fn, ctx, total);
	else if (rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_CHUNK_GET, st);
	return r;
}

/* scan_names through the base: the clean chunks' candidates from the
 * needle's rarest trigrams, each checked against its link's name (a chunk
 * with TRI_SCAN_RUN candidates or more: scanned); the dirty chunks
 * scanned. -ENODATA, before any hit: no usable base, or about as many
 * candidates as chunks times TRI_SCAN_RUN (a scan of every chunk is then
 * cheaper). */
static int base_names(struct sq *s, const char *needle, size_t nlen, bool icase, name_hit_fn fn,
		      void *ctx, uint64_t *ret_total)
{
	uint32_t tri[LOAFRE__TRI_MAX];
	struct tri_len l[LOAFRE__TRI_MAX];
	uint64_t *cand = NULL, total = 0;
	int64_t *dirty = NULL, count = 0, many;
	size_t nt = loafre__tri_of(needle, nlen, tri, LOAFRE__TRI_MAX), nc = 0, nd = 0, capd = 0;
	sqlite3_stmt *st = NULL;
	int r, rc;

	if (nt == 0)
		return -ENODATA;
	r = st_int(s, S_TRI_META, false, 0, &count);
	if (r < 0)
		return r == -ENOENT ? -ENODATA : r;
	for (size_t i = 0; i < nt; i++) {
		l[i].t = tri[i];
		l[i].n = 0;
		r = st_int(s, S_TRI_N, true, tri[i], &l[i].n);
		if (r == -ENOENT)
			r = 0;
		if (r < 0)
			return r;
	}
	qsort(l, nt, sizeof(*l), cmp_tri_len);
	/* about TRI_SCAN_RUN candidates per chunk (after the intersection; the
	 * rarest list alone, 4 times that): a scan of every chunk is cheaper */
	many = (count / CHUNK_REFS + 1) * TRI_SCAN_RUN;
	if (l[0].n >= 4 * many)
		return -ENODATA;
	if (l[0].n > 0) {
		r = tri_apply(s, l[0].t, &cand, &nc, true);
		for (size_t i = 1; r == 0 && i < nt && nc > 0 && (uint64_t)l[i].n <= nc * TRI_RATIO;
		     i++) {
			size_t before = nc;

			r = tri_apply(s, l[i].t, &cand, &nc, false);
			if ((int64_t)nc >= many && nc * 2 > before)
				break; /* not shrinking: the scan below */
		}
		if (r == 0 && (int64_t)nc >= many)
			r = -ENODATA;
		if (r < 0)
			goto out;
	}
	/* the dirty chunks (rewritten since the base: their lists may lie) */
	r = st_get(s, S_TRI_DIRTY, &st);
	if (r < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = grow((void **)&dirty, &capd, nd + 1, sizeof(*dirty));
		if (r < 0)
			break;
		dirty[nd++] = sqlite3_column_int64(st, 0);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_TRI_DIRTY, st);
	if (r < 0)
		goto out;
	total = (uint64_t)count;
	for (size_t i = 0, j; i < nc; i = j) {
		unsigned ref;
		int64_t k = tri_chunk(cand[i], &ref);

		for (j = i + 1; j < nc && tri_chunk(cand[j], &ref) == k; j++)
			;
		if (nd && bsearch(&k, dirty, nd, sizeof(*dirty), cmp_i64))
			continue; /* scanned below */
		if (j - i >= TRI_SCAN_RUN) {
			uint64_t dn = 0;

			r = scan_key(s, k, needle, nlen, icase, fn, ctx, &dn);
			if (r)
				goto out;
			continue;
		}
		for (size_t c = i; c < j; c++) {
			bool x = cand[c] >= TRI_XBASE;
			int64_t id = x ? (int64_t)(cand[c] - TRI_XBASE) : (int64_t)cand[c];
			enum stmt_kind kind = x ? S_XNAME_OF : S_NAME_OF;
			char name[LOAFRE__IDX_NAME_MAX + 1];
			bool found = false;

			tri_chunk(cand[c], &ref);
			r = st_get(s, kind, &st);
			if (r < 0)
				goto out;
			sqlite3_bind_int64(st, 1, id);
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW) {
				const char *nm = (const char *)sqlite3_column_text(st, 0);
				size_t len = nm ? strlen(nm) : 0;

				if (nm && len <= LOAFRE__IDX_NAME_MAX &&
				    name_has(nm, needle, nlen, icase)) {
					memcpy(name, nm, len + 1);
					found = true;
				}
			} else if (rc != SQLITE_DONE) {
				r = sq_err(s, rc);
			}
			st_put(s, kind, st);
			if (r == 0 && found)
				r = fn(ctx, k, ref, name);
			if (r)
				goto out;
		}
	}
	for (size_t i = 0; i < nd; i++) {
		uint64_t dn = 0;

		r = scan_key(s, dirty[i], needle, nlen, icase, fn, ctx, &dn);
		total += dn;
		if (r)
			goto out;
	}
out:
	free(cand);
	free(dirty);
	if (ret_total)
		*ret_total = total;
	return r;
}

struct base_put {
	struct sq *s;                /* the backend */
	sqlite3_stmt *st;            /* INSERT INTO tri */
};

static int base_put_one(void *ctx, uint32_t t, uint64_t n, const uint8_t *p, size_t len)
{
	struct base_put *bp = ctx;
	int rc;

	sqlite3_bind_int64(bp->st, 1, t);
	sqlite3_bind_int64(bp->st, 2, (int64_t)n);
	sqlite3_bind_blob(bp->st, 3, p, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(bp->st);
	sqlite3_reset(bp->st);
	return rc == SQLITE_DONE ? 0 : sq_err(bp->s, rc);
}

/* Adds the names of one chunk blob to the builder, in ref order (keys
 * increase); *count += its names. */
static int base_add_chunk(struct sq *s, struct loafre__tri_builder *b, int64_t k, const void *d,
			  size_t len, uint64_t *count)
{
	const unsigned char *refs;
	const char *area, *at[CHUNK_REFS] = {0};
	size_t alen;
	int n = chunk_parse(d, len, &refs, &area, &alen);
	const char *p, *end;

	if (n < 0)
		goto bad;
	p = area + 1;
	end = area + alen;
	for (int i = 0; i < n; i++) {
		unsigned ref = loafre__le16(refs + 2 * i);

		if (p >= end || ref >= CHUNK_REFS || at[ref])
			goto bad;
		at[ref] = p;
		p += strlen(p) + 1;
	}
	for (unsigned ref = 0; ref < CHUNK_REFS; ref++) {
		char buf[LOAFRE__IDX_NAME_MAX + 3];
		uint32_t tri[LOAFRE__TRI_MAX];
		size_t nl, nt;

		if (!at[ref])
			continue;
		nl = strlen(at[ref]);
		if (nl > LOAFRE__IDX_NAME_MAX)
			goto bad;
		buf[0] = '\0';
		memcpy(buf + 1, at[ref], nl);
		buf[nl + 1] = '\0';
		nt = loafre__tri_of(buf, nl + 2, tri, LOAFRE__TRI_MAX);
		for (size_t j = 0; j < nt; j++) {
			int r = loafre__tri_builder_add(b, tri[j], tri_key(k, ref));

			if (r < 0)
				return r == -EINVAL ? -EIO : r;
		}
		(*count)++;
	}
	return 0;
bad:
	snprintf(s->errmsg, sizeof(s->errmsg), "corrupt name chunk %lld", (long long)k);
	return -EIO;
}

/* Builds the base anew from every chunk, in the write transaction. */
static int base_build(struct sq *s)
{
	static const char *const pass[] = {
		"SELECT k,data FROM names WHERE k>=0 ORDER BY k", /* entry ids ascending */
		"SELECT k,data FROM names WHERE k<0 ORDER BY k DESC", /* then xids ascending */
	};
	struct loafre__tri_builder *b = loafre__tri_builder_new();
	struct base_put bp = {s, NULL};
	sqlite3_stmt *st = NULL;
	uint64_t count = 0;
	int r = b ? chunks_flush(s) : -ENOMEM, rc;

	for (size_t i = 0; r == 0 && i < 2; i++) {
		rc = sqlite3_prepare_v2(s->db, pass[i], -1, &st, NULL);
		if (rc != SQLITE_OK) {
			r = sq_err(s, rc);
			break;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			r = base_add_chunk(s, b, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
					   (size_t)sqlite3_column_bytes(st, 1), &count);
			if (r < 0)
				break;
		}
		if (r == 0 && rc != SQLITE_DONE)
			r = sq_err(s, rc);
		sqlite3_finalize(st);
		st = NULL;
	}
	if (r == 0)
		r = exec(s, "DELETE FROM tri");
	if (r == 0) {
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO tri(t,n,p) VALUES(?1,?2,?3)", -1, &bp.st,
					NULL);
		r = rc == SQLITE_OK ? loafre__tri_builder_each(b, base_put_one, &bp) : sq_err(s, rc);
		sqlite3_finalize(bp.st);
	}
	if (r == 0)
		r = exec(s, "UPDATE names SET tg=1 WHERE tg IS NULL");
	if (r == 0) {
		rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key,value) VALUES('tri1',?1)",
					-1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, (int64_t)count);
			r = st_done(s, st);
		} else {
			r = sq_err(s, rc);
		}
		sqlite3_finalize(st);
	}
	loafre__tri_builder_free(b);
	return r;
}

/* The base's refresh policy: rebuilt when missing (and there are names)
 * or when at least dirty_pct % of the chunks are dirty (0: always).
 * Returns 1 if rebuilt, 0 if not, or -errno. In a write transaction. */
static int sq_names_base(void *be, unsigned dirty_pct)
{
	struct sq *s = be;
	int64_t count = 0, chunks = 0, dirty = 0;
	int r;

	if (!s->in_txn)
		return -EINVAL;
	r = chunks_flush(s);
	if (r == 0 && dirty_pct) {
		r = st_int(s, S_TRI_META, false, 0, &count);
		if (r == -ENOENT || r == -ENODATA) {
			count = -1; /* no base */
			r = 0;
		}
		if (r == 0)
			r = pragma_int(s, "SELECT count(*) FROM names", &chunks);
		if (r == 0)
			r = pragma_int(s, "SELECT count(*) FROM names WHERE tg IS NULL", &dirty);
		if (r < 0)
			return r;
		if (count >= 0 ? dirty * 100 < chunks * (int64_t)dirty_pct : chunks == 0)
			return 0;
	}
	if (r == 0)
		r = base_build(s);
	return r < 0 ? r : 1;
}

/* Every name containing needle[0, nlen) (which may begin and/or end with
 * the NUL anchors): through the name base when it can (outside a write
 * transaction, a needle of 3 bytes or more), else every chunk in chunk
 * order; *ret_total: about the names searched. */
static int scan_names(struct sq *s, const char *needle, size_t nlen, bool icase, name_hit_fn fn,
		      void *ctx, uint64_t *ret_total)
{
	sqlite3_stmt *st;
	uint64_t total = 0;
	int r = chunks_sync(s), rc;

	if (r < 0)
		return r;
	if (!s->in_txn && nlen >= 3) {
		r = base_names(s, needle, nlen, icase, fn, ctx, ret_total);
		if (r != -ENODATA)
			return r;
		r = 0;
	}
	r = st_get(s, S_CHUNK_SCAN, &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = scan_chunk(s, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
			       (size_t)sqlite3_column_bytes(st, 1), needle, nlen, icase, fn, ctx,
			       &total);
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_CHUNK_SCAN, st);
	if (ret_total)
		*ret_total = total;
	return r;
}

/* Parent FIDs of emitted links, per query: a direct-mapped cache; misses
 * read the directory's dirsum row (a small table), else its entry. Once
 * the misses cost about what reading every directory's FID costs (a
 * quarter of the directories, at least PMAP_AFTER), every directory's FID
 * is read from dirsum in one pass into a sorted array (queries with many
 * results in many directories). */
#define PCACHE 1024
#define PMAP_AFTER 2048
struct pcache {
	int64_t id[PCACHE];          /* 0: empty */
	struct loafre_fid fid[PCACHE]; /* their FIDs */
	uint64_t misses;             /* lookups that went to the tables */
	uint64_t load_at;            /* misses before the array is loaded (0: unknown) */
	struct pmap_item {
		int64_t id;          /* directory id, ascending */
		struct loafre_fid fid; /* its FID */
	} *map;                      /* every directory's FID, or NULL */
	size_t nmap;                 /* items */
};

static void pcache_free(struct pcache *pc)
{
	if (pc)
		free(pc->map);
	free(pc);
}

/* Loads every directory's FID (a failure only means no array). */
static void pmap_load(struct sq *s, struct pcache *pc, int64_t n)
{
	sqlite3_stmt *st;

	pc->map = malloc((size_t)n * sizeof(*pc->map));
	if (!pc->map || st_get(s, S_DIR_FIDS, &st) < 0)
		return;
	while (pc->nmap < (size_t)n && sqlite3_step(st) == SQLITE_ROW) {
		struct pmap_item *m = &pc->map[pc->nmap++];

		m->id = sqlite3_column_int64(st, 0);
		m->fid.f_seq = u64col(st, 1);
		m->fid.f_oid = (uint32_t)sqlite3_column_int64(st, 2);
		m->fid.f_ver = (uint32_t)sqlite3_column_int64(st, 3);
	}
	st_put(s, S_DIR_FIDS, st);
}

/* FID of entry id from statement kind k; -ENOENT if no row. */
static int fid_from(struct sq *s, enum stmt_kind k, int64_t id, struct loafre_fid *ret)
{
	sqlite3_stmt *st;
	int r = st_get(s, k, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret->f_seq = u64col(st, 0);
		ret->f_oid = (uint32_t)sqlite3_column_int64(st, 1);
		ret->f_ver = (uint32_t)sqlite3_column_int64(st, 2);
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	}
	st_put(s, k, st);
	return r;
}

static int parent_fid(struct sq *s, struct pcache *pc, int64_t id, struct loafre_fid *ret)
{
	size_t i = (size_t)id & (PCACHE - 1);
	int r;

	if (pc->id[i] == id) {
		*ret = pc->fid[i];
		return 0;
	}
	if (pc->map) {
		size_t lo = 0, hi = pc->nmap;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (pc->map[mid].id < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < pc->nmap && pc->map[lo].id == id) {
			*ret = pc->map[lo].fid;
			return 0;
		}
	} else if (++pc->misses >= PMAP_AFTER) {
		if (!pc->load_at) {
			int64_t n = 0;

			if (pragma_int(s, "SELECT count(*) FROM dirsum", &n) < 0 || n <= 0)
				n = INT64_MAX / 8;
			pc->load_at = (uint64_t)n / 4 > PMAP_AFTER ? (uint64_t)n / 4 : PMAP_AFTER;
			if (pc->misses >= pc->load_at)
				pmap_load(s, pc, n);
		} else if (pc->misses == pc->load_at) {
			int64_t n = 0;

			if (pragma_int(s, "SELECT count(*) FROM dirsum", &n) == 0 && n > 0)
				pmap_load(s, pc, n);
		}
	}
	r = fid_from(s, S_DIR_FID, id, ret);
	if (r == -ENOENT)
		r = fid_from(s, S_FID_OF, id, ret);
	if (r == -ENOENT) {
		snprintf(s->errmsg, sizeof(s->errmsg), "link to missing directory %lld", (long long)id);
		r = -EIO;
	}
	if (r == 0) {
		pc->id[i] = id;
		pc->fid[i] = *ret;
	}
	return r;
}

struct names_q {
	struct sq *s;                /* the backend */
	struct pcache *pc;           /* parent FIDs */
	loafre__idx_link_fn cb;      /* the caller's */
	void *ctx;                   /* its context */
};

/* Emits the link (k, ref) with its entry. */
static int names_hit(void *ctx, int64_t k, unsigned ref, const char *name)
{
	struct names_q *q = ctx;
	struct sq *s = q->s;
	bool x = k < 0;
	int64_t id = ((x ? -1 - k : k) << CHUNK_SHIFT) | ref;
	enum stmt_kind kind = x ? S_XLINK_ROW : S_LINKED_BY_ID;
	struct loafre__idx_row row;
	struct loafre_fid pfid;
	sqlite3_stmt *st;
	int r = st_get(s, kind, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t parent;

		read_row(s, st, x ? 2 : 0, STR_BORROW, &row);
		parent = x ? sqlite3_column_int64(st, 0) : row.parent;
		r = parent_fid(s, q->pc, parent, &pfid);
		if (r == 0)
			r = q->cb(q->ctx, &pfid, name, &row.e);
	} else if (rc != SQLITE_DONE) {
		r = sq_err(s, rc);
	}
	st_put(s, kind, st);
	return r;
}

static int sq_names(void *be, const char *needle, bool icase, loafre__idx_link_fn cb, void *ctx)
{
	struct sq *s = be;
	struct names_q q = {s, calloc(1, sizeof(struct pcache)), cb, ctx};
	size_t n = strlen(needle);
	char *lower = malloc(n + 1);
	int r;

	if (!q.pc || !lower) {
		r = -ENOMEM;
		goto out;
	}
	if (icase)
		lower_ascii(lower, needle, n);
	else
		memcpy(lower, needle, n);
	r = scan_names(s, lower, n, icase, names_hit, &q, NULL);
out:
	free(lower);
	pcache_free(q.pc);
	return r;
}

/* Every directory (a dirsum row) with its primary link, in id order: one
 * pass over dirsum, one entry row read by id per directory. */
static int sq_dirs(void *be, loafre__idx_dir_fn cb, void *ctx)
{
	struct sq *s = be;
	sqlite3_stmt *st = NULL;
	int r = chunks_sync(s), rc;

	if (r < 0)
		return r;
	rc = sqlite3_prepare_v2(s->db,
				"SELECT d.id,e.parent,e.name,d.seq,d.oid,d.ver FROM dirsum d"
				" CROSS JOIN entry e ON e.id=d.id", /* dirsum first: no scan of entry */
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct loafre_fid fid = {u64col(st, 3), (uint32_t)sqlite3_column_int64(st, 4),
					 (uint32_t)sqlite3_column_int64(st, 5)};
		const char *name = (const char *)sqlite3_column_text(st, 2);

		r = cb(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), &fid,
		       name ? name : "");
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* ---- select -------------------------------------------------------------------------------------- */

/* The constraints of a filter as SQL on entry columns (prefix "" or "e."),
 * parameters numbered from `first`. */
struct resid {
	char sql[768];               /* " AND ..." */
	int64_t v[16];               /* parameter values */
	int nv;                      /* count */
	int first;                   /* number of the first one */
};

/* Appends " AND <lhs> <op> ?N": lhs is column c1 of the prefix, or
 * (c1 + c2) when c2 is given. */
static void resid_add(struct resid *q, const char *pfx, const char *c1, const char *c2,
		      const char *op, int64_t v)
{
	size_t l = strlen(q->sql);
	int num = q->first + q->nv;

	if (c2)
		snprintf(q->sql + l, sizeof(q->sql) - l, " AND (%s%s+%s%s)%s?%d", pfx, c1, pfx, c2, op,
			 num);
	else
		snprintf(q->sql + l, sizeof(q->sql) - l, " AND %s%s%s?%d", pfx, c1, op, num);
	q->v[q->nv++] = v;
}

static int64_t clamp64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void resid_build(struct resid *q, const struct loafre__idx_filter *f, const char *pfx,
			int first)
{
	q->sql[0] = '\0';
	q->nv = 0;
	q->first = first;
	if (f->type_mask) {
		snprintf(q->sql, sizeof(q->sql), " AND ((1<<((%smode&61440)>>12))&?%d)!=0", pfx, first);
		q->v[q->nv++] = f->type_mask;
	}
	if (f->has_uid)
		resid_add(q, pfx, "uid", NULL, "=", f->uid);
	if (f->has_gid)
		resid_add(q, pfx, "gid", NULL, "=", f->gid);
	if (f->size_min)
		resid_add(q, pfx, "size", NULL, ">=", clamp64(f->size_min));
	if (f->size_max)
		resid_add(q, pfx, "size", NULL, "<=", clamp64(f->size_max));
	if (f->mtime_min)
		resid_add(q, pfx, "mtime", NULL, ">=", f->mtime_min);
	if (f->mtime_max)
		resid_add(q, pfx, "mtime", NULL, "<=", f->mtime_max);
	if (f->atime_min)
		resid_add(q, pfx, "mtime", "at", ">=", f->atime_min);
	if (f->atime_max)
		resid_add(q, pfx, "mtime", "at", "<=", f->atime_max);
	if (f->ctime_min)
		resid_add(q, pfx, "mtime", "ct", ">=", f->ctime_min);
	if (f->ctime_max)
		resid_add(q, pfx, "mtime", "ct", "<=", f->ctime_max);
}

static int prepare_resid(struct sq *s, const char *head, const char *tail, const struct resid *q,
			 sqlite3_stmt **ret)
{
	size_t n = strlen(head) + strlen(q->sql) + strlen(tail) + 1;
	char *sql = malloc(n);
	int rc;

	if (!sql)
		return -ENOMEM;
	snprintf(sql, n, "%s%s%s", head, q->sql, tail);
	rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return sq_err(s, rc);
	for (int i = 0; i < q->nv; i++)
		sqlite3_bind_int64(*ret, q->first + i, q->v[i]);
	return 0;
}

struct sel {
	struct sq *s;                /* the backend */
	const struct loafre__idx_filter *f; /* the filter */
	int fnflags;                 /* fnmatch flags */
	struct pcache *pc;           /* parent FIDs */
	loafre__idx_link_fn cb;      /* the caller's */
	void *ctx;                   /* its context */
	struct cand {
		int64_t id;          /* entry id or xid */
		bool x;              /* an xlink */
	} *c;                        /* NAME plan candidates */
	size_t nc, capc;             /* used, allocated */
};

static bool glob_ok(const struct sel *q, const char *name)
{
	return !q->f->name_glob || fnmatch(q->f->name_glob, name, q->fnflags) == 0;
}

static int sel_hit(void *ctx, int64_t k, unsigned ref, const char *name)
{
	struct sel *q = ctx;
	bool x = k < 0;
	int r;

	if (!glob_ok(q, name))
		return 0;
	r = grow((void **)&q->c, &q->capc, q->nc + 1, sizeof(*q->c));
	if (r < 0)
		return r;
	q->c[q->nc].id = ((x ? -1 - k : k) << CHUNK_SHIFT) | ref;
	q->c[q->nc++].x = x;
	return 0;
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->x != y->x)
		return x->x ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct xemit {
	struct sel *q;               /* the query */
	const struct loafre__idx_row *row; /* the entry */
};

static int xemit_cb(void *ctx, const struct loafre__idx_xlink *l)
{
	struct xemit *xe = ctx;
	struct loafre_fid pfid;
	int r;

	if (!glob_ok(xe->q, l->name))
		return 0;
	r = parent_fid(xe->q->s, xe->q->pc, l->parent, &pfid);
	return r ? r : xe->q->cb(xe->q->ctx, &pfid, l->name, &xe->row->e);
}

/* Every link of a row that passed the SQL constraints. */
static int emit_all_links(struct sel *q, const struct loafre__idx_row *row)
{
	struct loafre_fid pfid;
	int r = 0;

	if (row->parent && glob_ok(q, row->name)) {
		r = parent_fid(q->s, q->pc, row->parent, &pfid);
		if (r == 0)
			r = q->cb(q->ctx, &pfid, row->name, &row->e);
	}
	if (r == 0 && row->nxlinks) {
		struct xemit xe = {q, row};

		r = sq_xlinks(q->s, row->id, xemit_cb, &xe);
	}
	return r;
}

/* Runs a prepared statement of ECOLS rows, emitting every link. */
static int run_rows(struct sel *q, sqlite3_stmt *st)
{
	struct loafre__idx_row row;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(q->s, st, 0, STR_BORROW, &row);
		r = emit_all_links(q, &row);
		if (r)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : sq_err(q->s, rc);
}

static int plan_name(struct sel *q)
{
	struct resid rs;
	sqlite3_stmt *pe = NULL, *px = NULL;
	int r;

	if (q->nc > 1) /* q->c may be NULL when there is no candidate */
		qsort(q->c, q->nc, sizeof(*q->c), cmp_cand);
	resid_build(&rs, q->f, "", 2);
	r = prepare_resid(q->s, "SELECT " ECOLS " FROM entry WHERE id=?1 AND parent IS NOT NULL", "",
			  &rs, &pe);
	if (r == 0) {
		resid_build(&rs, q->f, "e.", 2);
		r = prepare_resid(q->s,
				  "SELECT x.parent,x.name," ECOLS_E " FROM xlink x JOIN entry e"
				  " ON e.id=x.child WHERE x.xid=?1",
				  "", &rs, &px);
	}
	for (size_t i = 0; r == 0 && i < q->nc; i++) {
		sqlite3_stmt *st = q->c[i].x ? px : pe;
		struct loafre__idx_row row;
		struct loafre_fid pfid;
		int rc;

		sqlite3_bind_int64(st, 1, q->c[i].id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *name;
			int64_t parent;

			if (q->c[i].x) {
				read_row(q->s, st, 2, STR_BORROW, &row);
				parent = sqlite3_column_int64(st, 0);
				name = (const char *)sqlite3_column_text(st, 1);
			} else {
				read_row(q->s, st, 0, STR_BORROW, &row);
				parent = row.parent;
				name = row.name;
			}
			r = parent_fid(q->s, q->pc, parent, &pfid);
			if (r == 0)
				r = q->cb(q->ctx, &pfid, name, &row.e);
		} else if (rc != SQLITE_DONE) {
			r = sq_err(q->s, rc);
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(pe);
	sqlite3_finalize(px);
	return r;
}

/* Rows of entry_us in [lo, hi] for one uid, at most `limit` counted. */
static int count_us(struct sq *s, uint32_t uid, int64_t lo, int64_t hi, int64_t limit,
		    int64_t *ret)
{
	sqlite3_stmt *st;
	int r = st_get(s, S_COUNT_US, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int64(st, 2, lo);
	sqlite3_bind_int64(st, 3, hi);
	sqlite3_bind_int64(st, 4, limit);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = sq_err(s, rc);
	st_put(s, S_COUNT_US, st);
	return r;
}

/* The next uid present after `after` (-1: the first); -ENOENT at the end. */
static int next_uid(struct sq *s, int64_t after, int64_t *ret)
{
	sqlite3_stmt *st;
	int r = st_get(s, S_NEXT_UID, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, after);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	st_put(s, S_NEXT_UID, st);
	return r;
}

/* Rows the USER-SIZE plan would read, counting at most `limit`. */
static int us_estimate(struct sq *s, const struct loafre__idx_filter *f, int64_t limit,
		       int64_t *ret)
{
	int64_t lo = clamp64(f->size_min), hi = f->size_max ? clamp64(f->size_max) : INT64_MAX;
	int64_t total = 0, uid = -1, c;
	int r = 0;

	if (f->has_uid)
		return count_us(s, f->uid, lo, hi, limit, ret);
	while (total < limit && (r = next_uid(s, uid, &uid)) == 0) {
		r = count_us(s, (uint32_t)uid, lo, hi, limit - total, &c);
		if (r < 0)
			return r;
		total += c;
	}
	if (r < 0 && r != -ENOENT)
		return r;
	*ret = total;
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts n ids (rowids: distinct) ascending: through a bitmap of their
 * range when it is dense (at most 4 words per id), else with qsort.
 * Returns the number of distinct ids (a duplicate would be dropped). */
static size_t sort_ids(int64_t *ids, size_t n)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	uint64_t *bits, span;
	size_t words, k = 0;

	for (size_t i = 0; i < n; i++) {
		lo = ids[i] < lo ? ids[i] : lo;
		hi = ids[i] > hi ? ids[i] : hi;
	}
	if (n < 2)
		return n;
	span = (uint64_t)hi - (uint64_t)lo;
	if (span / 64 >= 4 * (uint64_t)n || !(bits = calloc(span / 64 + 1, sizeof(*bits)))) {
		qsort(ids, n, sizeof(*ids), cmp_id);
		return n;
	}
	words = (size_t)(span / 64) + 1;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)ids[i] - (uint64_t)lo;

		bits[d / 64] |= UINT64_C(1) << (d % 64);
	}
	for (size_t w = 0; w < words; w++) {
		for (uint64_t b = bits[w]; b; b &= b - 1)
			ids[k++] = (int64_t)((uint64_t)lo + w * 64 + (uint64_t)__builtin_ctzll(b));
	}
	free(bits);
	return k;
}

static int plan_us(struct sel *q)
{
	const struct loafre__idx_filter *f = q->f;
	int64_t lo = clamp64(f->size_min), hi = f->size_max ? clamp64(f->size_max) : INT64_MAX;
	int64_t uid = f->has_uid ? (int64_t)f->uid : -1;
	struct resid rs;
	sqlite3_stmt *st = NULL, *pe = NULL;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int r, rc = SQLITE_DONE;

	/* the ids from entry_us alone (it covers uid, size and the rowid),
	 * then the rows in id order: neighbouring reads share leaf pages
	 * instead of one random descent of the entry B-tree per row */
	r = sqlite3_prepare_v2(q->s->db,
			       "SELECT id FROM entry INDEXED BY entry_us WHERE uid=?1 AND size>=?2"
			       " AND size<=?3",
			       -1, &st, NULL);
	if (r != SQLITE_OK) {
		st = NULL;
		r = sq_err(q->s, r);
	}
	while (r == 0) {
		if (!f->has_uid) {
			r = next_uid(q->s, uid, &uid);
			if (r == -ENOENT) {
				r = 0;
				break;
			}
			if (r < 0)
				break;
		}
		sqlite3_bind_int64(st, 1, uid);
		sqlite3_bind_int64(st, 2, lo);
		sqlite3_bind_int64(st, 3, hi);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			r = grow((void **)&ids, &cap, n + 1, sizeof(*ids));
			if (r == 0)
				ids[n++] = sqlite3_column_int64(st, 0);
		}
		if (r == 0 && rc != SQLITE_DONE)
			r = sq_err(q->s, rc);
		sqlite3_reset(st);
		if (f->has_uid)
			break;
	}
	n = sort_ids(ids, n);
	if (r == 0 && n >= PMAP_AFTER && !q->pc->map) {
		/* rows enough to miss the parent cache for a quarter of the
		 * directories: every directory's FID at once, not after the
		 * misses (see struct pcache) */
		int64_t nd = 0;

		if (pragma_int(q->s, "SELECT count(*) FROM dirsum", &nd) == 0 && nd > 0 &&
		    (uint64_t)n >= (uint64_t)nd / 4)
			pmap_load(q->s, q->pc, nd);
	}
	if (r == 0) {
		/* US_BATCH ids per execution (one statement start, one cursor,
		 * rows in id order; NOT INDEXED: by rowid, never entry_us for
		 * the residual uid and size); a short last batch repeats its
		 * last id */
		char head[sizeof("SELECT " ECOLS " FROM entry NOT INDEXED WHERE id IN () AND parent IS "
				 "NOT NULL") +
			  US_BATCH * 5];
		size_t l = (size_t)snprintf(head, sizeof(head),
					    "SELECT " ECOLS " FROM entry NOT INDEXED WHERE id IN (");

		for (int k = 1; k <= US_BATCH; k++)
			l += (size_t)snprintf(head + l, sizeof(head) - l, "%s?%d", k > 1 ? "," : "", k);
		snprintf(head + l, sizeof(head) - l, ") AND parent IS NOT NULL");
		resid_build(&rs, f, "", US_BATCH + 1);
		r = prepare_resid(q->s, head, "", &rs, &pe);
	}
	for (size_t i = 0; r == 0 && i < n; i += US_BATCH) {
		struct loafre__idx_row row;

		for (size_t k = 0; k < US_BATCH; k++)
			sqlite3_bind_int64(pe, (int)k + 1, ids[i + k < n ? i + k : n - 1]);
		while (r == 0 && (rc = sqlite3_step(pe)) == SQLITE_ROW) {
			read_row(q->s, pe, 0, STR_BORROW, &row);
			r = emit_all_links(q, &row);
		}
		if (r == 0 && rc != SQLITE_DONE)
			r = sq_err(q->s, rc);
		sqlite3_reset(pe);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(pe);
	free(ids);
	return r;
}

/* The entry table, constraints in SQL; with `lit` (a glob literal, NUL
 * anchors included) rows whose primary name lacks it are skipped in SQL
 * unless they have xlinks. */
static int plan_scan(struct sel *q, const char *lit, size_t nlit)
{
	char bare[LOAFRE__IDX_NAME_MAX + 3];
	struct resid rs;
	sqlite3_stmt *st = NULL;
	size_t nb = 0;
	int r;

	if (lit) {
		if (lit[0] == '\0') {
			lit++;
			nlit--;
		}
		nb = nlit && lit[nlit - 1] == '\0' ? nlit - 1 : nlit;
		memcpy(bare, lit, nb);
		bare[nb] = '\0';
	}
	resid_build(&rs, q->f, "", 2);
	/* the filter's columns first, parent last: SQLite decodes a row's
	 * columns up to the last one a test reads, and most rows fail early */
	r = prepare_resid(q->s, "SELECT " ECOLS " FROM entry NOT INDEXED WHERE 1",
			  nb ? " AND parent IS NOT NULL AND (xl>0 OR instr(name,?1)>0)"
			     : " AND parent IS NOT NULL",
			  &rs, &st);
	if (r == 0) {
		if (nb)
			sqlite3_bind_text(st, 1, bare, (int)nb, SQLITE_STATIC);
		r = run_rows(q, st);
	}
	sqlite3_finalize(st);
	return r;
}

static bool all_ascii(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return false;
	return true;
}

static int sq_select(void *be, const struct loafre__idx_filter *f, loafre__idx_link_fn cb,
		     void *ctx)
{
	struct sq *s = be;
	struct sel q = {.s = s, .f = f, .fnflags = f->name_icase ? FNM_CASEFOLD : 0, .cb = cb,
			.ctx = ctx};
	bool us = (f->has_uid || f->size_min || f->size_max) && !s->us_deferred;
	char lit[LOAFRE__IDX_NAME_MAX + 3];
	size_t nlit = 0;
	uint64_t total = 0;
	int64_t est;
	int r;

	q.pc = calloc(1, sizeof(*q.pc));
	if (!q.pc)
		return -ENOMEM;
	if (f->name_glob && strlen(f->name_glob) <= LOAFRE__IDX_NAME_MAX)
		nlit = loafre__idx_glob_literal(f->name_glob, lit, sizeof(lit));
	if (nlit && f->name_icase) {
		if (all_ascii(lit, nlit))
			lower_ascii(lit, lit, nlit);
		else
			nlit = 0;
	}
	if (nlit) {
		r = scan_names(s, lit, nlit, f->name_icase, sel_hit, &q, &total);
		if (r < 0)
			goto out;
		if (q.nc * 16 <= total) {
			est = (int64_t)q.nc;
			r = us ? us_estimate(s, f, (int64_t)q.nc, &est) : 0;
			if (r < 0)
				goto out;
			r = us && est < (int64_t)q.nc ? plan_us(&q) : plan_name(&q);
			goto out;
		}
	}
	if (us) {
		int64_t maxid = 0;

		r = pragma_int(s, "SELECT ifnull(max(id),0) FROM entry", &maxid);
		if (r == 0)
			r = us_estimate(s, f, maxid / US_RATIO + 1, &est);
		if (r < 0)
			goto out;
		if (est <= maxid / US_RATIO) {
			r = plan_us(&q);
			goto out;
		}
	}
	r = plan_scan(&q, nlit && !f->name_icase ? lit : NULL, nlit);
out:
	free(q.c);
	pcache_free(q.pc);
	return r;
}

/* ---- reports ------------------------------------------------------------------------------------ */

static int root_id(struct sq *s, int64_t *ret)
{
	struct loafre_fid root;
	struct loafre__idx_row row;
	int r = sq_root_get(s, &root);

	*ret = 0;
	if (r == 0)
		r = sq_entry_by_fid(s, &root, false, &row);
	if (r == 0)
		*ret = row.id;
	return r == -ENOENT ? 0 : r;
}

#define SUMS                                                                                   \
	"count(*), sum(size), sum(blk+(size+511)/512), sum((mode&61440)=32768),"             \
	" sum((mode&61440)=16384), sum((mode&61440)=40960)"

static void read_sums(sqlite3_stmt *st, int c0, struct loafre__idx_owner_sum *o)
{
	o->inodes = u64col(st, c0);
	o->bytes = u64col(st, c0 + 1);
	o->blocks = u64col(st, c0 + 2);
	o->files = u64col(st, c0 + 3);
	o->dirs = u64col(st, c0 + 4);
	o->symlinks = u64col(st, c0 + 5);
}

static int sq_owners(void *be, char by, size_t limit,
		     int (*cb)(void *ctx, const struct loafre__idx_owner_sum *o), void *ctx)
{
	struct sq *s = be;
	char sql[512];
	sqlite3_stmt *st = NULL;
	int64_t root;
	int r = root_id(s, &root), rc;

	if (r < 0)
		return r;
	snprintf(sql, sizeof(sql),
		 "SELECT %s, " SUMS " FROM entry WHERE parent IS NOT NULL OR id=?1 GROUP BY 1"
		 " ORDER BY 4 DESC, 1 LIMIT ?2",
		 by == 'u' ? "uid" : "gid");
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc);
	sqlite3_bind_int64(st, 1, root);
	sqlite3_bind_int64(st, 2, limit ? clamp64(limit) : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct loafre__idx_owner_sum o = {.id = (uint32_t)sqlite3_column_int64(st, 0)};

		read_sums(st, 1, &o);
		r = cb(ctx, &o);
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	sqlite3_finalize(st);
	return r;
}

static int sq_totals(void *be, struct loafre__idx_owner_sum *ret)
{
	struct sq *s = be;
	sqlite3_stmt *st = NULL;
	int64_t root;
	int r = root_id(s, &root), rc;

	if (r < 0)
		return r;
	rc = sqlite3_prepare_v2(s->db,
				"SELECT " SUMS " FROM entry WHERE parent IS NOT NULL OR id=?1", -1,
				&st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc);
	sqlite3_bind_int64(st, 1, root);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_sums(st, 0, ret);
	else
		r = sq_err(s, rc);
	sqlite3_finalize(st);
	return r;
}

static int sq_top_dirs(void *be, size_t limit,
		       int (*cb)(void *ctx, const struct loafre_fid *dir, const struct loafre__idx_sum *sum),
		       void *ctx)
{
	struct sq *s = be;
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	rc = sqlite3_prepare_v2(s->db,
				"SELECT e.seq,e.oid,e.ver,d.blocks,d.bytes,d.inodes FROM dirsum d"
				" JOIN entry e ON e.id=d.id ORDER BY d.blocks DESC, d.id LIMIT ?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc);
	sqlite3_bind_int64(st, 1, limit ? clamp64(limit) : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct loafre_fid fid = {u64col(st, 0), (uint32_t)sqlite3_column_int64(st, 1),
					 (uint32_t)sqlite3_column_int64(st, 2)};
		struct loafre__idx_sum sum = {u64col(st, 3), u64col(st, 4), u64col(st, 5)};

		r = cb(ctx, &fid, &sum);
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	sqlite3_finalize(st);
	return r;
}

static int sq_size_profile(void *be, uint32_t uid, uint64_t counts[64], uint64_t bytes[64])
{
	struct sq *s = be;
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	rc = sqlite3_prepare_v2(s->db,
				uid == UINT32_MAX
					? "SELECT size FROM entry WHERE (mode&61440)=32768 AND parent IS NOT NULL"
					: "SELECT size FROM entry WHERE (mode&61440)=32768 AND parent IS NOT NULL"
					  " AND uid=?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc);
	if (uid != UINT32_MAX)
		sqlite3_bind_int64(st, 1, uid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t sz = u64col(st, 0);
		unsigned k = sz ? 64 - (unsigned)__builtin_clzll(sz) : 0;

		if (k > 63)
			k = 63;
		counts[k]++;
		bytes[k] += sz;
	}
	if (rc != SQLITE_DONE)
		r = sq_err(s, rc);
	sqlite3_finalize(st);
	return r;
}

static int sq_oldest(void *be, char field, uint32_t uid, size_t limit,
		     int (*cb)(void *ctx, const struct loafre__idx_entry *e), void *ctx)
{
	struct sq *s = be;
	char sql[512];
	sqlite3_stmt *st = NULL;
	struct loafre__idx_row row;
	int64_t root;
	int r = root_id(s, &root), rc;

	if (r < 0)
		return r;
	snprintf(sql, sizeof(sql),
		 "SELECT " ECOLS " FROM entry WHERE (parent IS NOT NULL OR id=?1)%s ORDER BY %s, id"
		 " LIMIT ?3",
		 uid == UINT32_MAX ? "" : " AND uid=?2",
		 field == 'm' ? "mtime" : field == 'a' ? "mtime+at" : "mtime+ct");
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, rc);
	sqlite3_bind_int64(st, 1, root);
	if (uid != UINT32_MAX)
		sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, limit ? clamp64(limit) : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(s, st, 0, STR_BORROW, &row);
		r = cb(ctx, &row.e);
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	sqlite3_finalize(st);
	return r;
}

static int sq_size(void *be, uint64_t *ret_bytes, uint64_t *ret_entries)
{
	struct sq *s = be;
	char wal[4096];
	struct stat st;
	uint64_t bytes = 0;
	int64_t n = 0;
	int r;

	if (stat(s->path, &st) == 0)
		bytes += (uint64_t)st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", s->path);
	if (stat(wal, &st) == 0)
		bytes += (uint64_t)st.st_size;
	r = pragma_int(s, stmt_sql[S_COUNT_ENTRIES], &n);
	if (r < 0)
		return r;
	*ret_bytes = bytes;
	*ret_entries = (uint64_t)n;
	return 0;
}

/* ---- quotas ----------------------------------------------------------------------------------------- */

static void bind_fid(sqlite3_stmt *st, int i, const struct loafre_fid *f)
{
	sqlite3_bind_int64(st, i, (int64_t)f->f_seq);
	sqlite3_bind_int64(st, i + 1, f->f_oid);
	sqlite3_bind_int64(st, i + 2, f->f_ver);
}

static int sq_quota_set(void *be, const struct loafre__idx_quota *q)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_QUOTA_SET, &st);

	if (r < 0)
		return r;
	bind_fid(st, 1, &q->dir);
	sqlite3_bind_int64(st, 4, clamp64(q->bytes_limit));
	sqlite3_bind_int64(st, 5, clamp64(q->inodes_limit));
	sqlite3_bind_int64(st, 6, q->over);
	r = st_done(s, st);
	st_put(s, S_QUOTA_SET, st);
	if (r == 0)
		s->quota_any = 1;
	return r;
}

static int sq_quota_remove(void *be, const struct loafre_fid *dir)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_QUOTA_RM, &st);

	if (r < 0)
		return r;
	bind_fid(st, 1, dir);
	r = st_done(s, st);
	st_put(s, S_QUOTA_RM, st);
	return r == 0 && sqlite3_changes(s->db) == 0 ? -ENOENT : r;
}

static int sq_quota_list(void *be, int (*cb)(void *ctx, const struct loafre__idx_quota *q),
			 void *ctx)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_QUOTA_LIST, &st), rc;

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct loafre__idx_quota q = {
			.dir = {u64col(st, 0), (uint32_t)sqlite3_column_int64(st, 1),
				(uint32_t)sqlite3_column_int64(st, 2)},
			.bytes_limit = u64col(st, 3),
			.inodes_limit = u64col(st, 4),
			.over = sqlite3_column_int64(st, 5) != 0,
		};

		r = cb(ctx, &q);
		if (r)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(s, rc);
	st_put(s, S_QUOTA_LIST, st);
	return r;
}

static int sq_quota_mark(void *be, const struct loafre_fid *dir, bool over)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_QUOTA_MARK, &st);

	if (r < 0)
		return r;
	bind_fid(st, 1, dir);
	sqlite3_bind_int64(st, 4, over);
	r = st_done(s, st);
	st_put(s, S_QUOTA_MARK, st);
	return r == 0 && sqlite3_changes(s->db) == 0 ? -ENOENT : r;
}

static int sq_meta_get(void *be, const char *key, char *buf, size_t cap)
{
	struct sq *s = be;
	sqlite3_stmt *st;
	int r = st_get(s, S_KV_GET, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		if (!v || n + 1 > cap) {
			r = v ? -ENAMETOOLONG : -ENOMEM;
		} else {
			memcpy(buf, v, n);
			buf[n] = '\0';
		}
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(s, rc);
	}
	st_put(s, S_KV_GET, st);
	return r;
}

static int sq_meta_set(void *be, const char *key, const char *value)
{
	struct sq *s = be;
	enum stmt_kind k = value ? S_KV_SET : S_KV_DEL;
	sqlite3_stmt *st;
	int r = st_get(s, k, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	r = st_done(s, st);
	st_put(s, k, st);
	return r;
}

const struct loafre__idx_ops loafre__idx_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.errmsg = sq_errmsg,
	.set_busy_timeout = sq_set_busy_timeout,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.read_begin = sq_read_begin,
	.read_end = sq_read_end,
	.root_get = sq_root_get,
	.root_set = sq_root_set,
	.position_get = sq_position_get,
	.position_set = sq_position_set,
	.clear = sq_clear,
	.meta_get = sq_meta_get,
	.meta_set = sq_meta_set,
	.entry_by_fid = sq_entry_by_fid,
	.entry_by_id = sq_entry_by_id,
	.entry_insert = sq_entry_insert,
	.entry_insert_many = sq_entry_insert_many,
	.entry_max_id = sq_entry_max_id,
	.entry_update = sq_entry_update,
	.entry_set_jobid = sq_entry_set_jobid,
	.entry_set_link = sq_entry_set_link,
	.entry_delete = sq_entry_delete,
	.link_get = sq_link_get,
	.insert_checks_link = sq_insert_checks_link,
	.xlinks = sq_xlinks,
	.xlink_insert = sq_xlink_insert,
	.xlink_delete = sq_xlink_delete,
	.children = sq_children,
	.dirsum_get = sq_dirsum_get,
	.dirsum_add = sq_dirsum_add,
	.dirsum_delete = sq_dirsum_delete,
	.scan_entries = sq_scan_entries,
	.scan_xlinks = sq_scan_xlinks,
	.scan_dirsums = sq_scan_dirsums,
	.check = sq_check,
	.select = sq_select,
	.names = sq_names,
	.dirs = sq_dirs,
	.owners = sq_owners,
	.top_dirs = sq_top_dirs,
	.size_profile = sq_size_profile,
	.oldest = sq_oldest,
	.totals = sq_totals,
	.size = sq_size,
	.quota_set = sq_quota_set,
	.quota_remove = sq_quota_remove,
	.quota_list = sq_quota_list,
	.quota_mark = sq_quota_mark,
	.changed = sq_changed,
	.entry_update_from = sq_entry_update_from,
	.bulk_begin = sq_bulk_begin,
	.bulk_end = sq_bulk_end,
	.names_base = sq_names_base,
	.seq_max = sq_seq_max,
	.entry_delete_known = sq_entry_delete_known,
};
