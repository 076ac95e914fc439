/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * broker.c — the consumer broker (see broker.h, docs/design/broker.md; the
 * wire format is specified at the head of broker_proto.c).
 *
 * Thread: one, owning a ROUTER socket, one read-only handle per MDT, and
 * per MDT a "tail" reader that follows the journal's end (its inotify
 * descriptor wakes the zmq_poll loop; it gives the current last index).
 *
 * Persistent group: per MDT a registered journal reader named after the
 * group (found again via loafre_journal_users after a restart) whose
 * cleared index is the group's position `pos`; a journal cursor; and a
 * ring of W slots for indices pos+1 .. pos+W, each FREE (not read yet),
 * PENDING (read, waiting for a member; its bytes kept), INFLIGHT (sent to
 * `member`, bytes kept for redelivery) or DONE (acked, or an index the
 * journal does not hold). The cursor reads while fewer than max_credit
 * records are pending and the index fits the window. Dispatch scans the
 * pending slots in index order: a record whose key (tfid; sfid for a
 * rename) has records in flight goes to that member or waits for its
 * credit; a free key goes to the member picked by hash among those with
 * credit. Acks mark slots DONE; pos advances over the DONE prefix and is
 * cleared upstream about once a second (and at stop). A member that says
 * BYE or is silent for 3 heartbeats has its in-flight slots turned back to
 * PENDING, so they go out again in index order. Memory: pending ≤
 * max_credit per group and MDT, in flight ≤ the members' credits.
 *
 * Ephemeral reader: per MDT a cursor opened at the journal's end; it
 * sends while the reader's credit budget (CREDIT grants) lasts; when the
 * journal's end is more than ephemeral_window records ahead, the cursor
 * jumps to the end and GAP tells how many were lost.
 *
 * Processing modules (groups declared in a [group] section): records
 * read for such a group enter the ring RAW; once the group's batch_ms hold
 * passed (or the window is full) the RAW run is handed to the pipeline
 * (loafre/modules.h) and each record becomes PENDING (kept; remapped bytes
 * if `fields` changed it), DONE (dropped: acked at once) or COVERED
 * (absorbed by `collapse`; `key` then holds the absorbing record's index,
 * and the position passes it only once that record is DONE). The subtree
 * module asks broker_fid.c where objects are now.
 *
 * Paths groups (a member's HELLO paths=FSNAME; docs/design/replication.md
 * decisions 1 and 2, docs/design/broker.md "Paths groups"): the group has
 * a directory map (lib/repl_paths.h, FS_JOURNAL/broker/GROUP.paths; the
 * file existing makes the group one again after a restart). Until the
 * map is loaded (a walk in its own thread, lib/broker_paths.h, from P =
 * the read position) nothing of the group is read or sent. Each record
 * read for the group is annotated when it is placed (before the modules:
 * the map sees every record), the annotation kept in its slot until the
 * record is acked, dropped or covered; the map commits at the end of each
 * read run, before dispatch (see paths_commit), prunes its stored
 * annotations and collects deleted subtrees in group_clear's rhythm.
 * Barriers: a record flagged LOAFRE_RP_BARRIER is dispatched alone when
 * the group has nothing in flight, and nothing after it until it is acked
 * (group_dispatch). A map failure stops the group until a restart.
 *
 * Sockets: one ROUTER for ipc:// and inproc:// endpoints; with CurveZMQ
 * (broker_auth.h) a second ROUTER, a CURVE server, for tcp:// endpoints,
 * its clients checked by the ZAP handler polled in this same loop. A
 * member belongs to the socket it came through (routing ids are per
 * socket).
 */
#include "broker.h"
#include "zmq_load.h" /* <zmq.h>, libzmq loaded on first use */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "broker_auth.h"
#include "broker_fid.h"
#include "broker_paths.h"
#include "broker_proto.h"
#include "loafre/consumer.h"
#include "repl_paths.h"
#include "util.h"
#include "loafre/modules.h"
#include "loafre/journal.h"
#include "loafre/record.h"

/* Upstream clears rewrite the journal's reader registry (fsync'd): about
 * once a second is plenty (the position itself advances with every ack). */
#define CLEAR_INTERVAL_MS 1000
#define POLL_INTERVAL_MS 100
#define STATS_INTERVAL_MS 500
#define BATCH_BYTES (256u * 1024u)
/* a paths frame: room for at least 64 entries of two PATH_MAX paths */
#define PATHS_BATCH_BYTES (1024u * 1024u)
/* a paths group's map: gc at most this often, and only after directory deletes */
#define PATHS_GC_INTERVAL_MS 60000
#define MAX_RECV_FRAMES 8
/* frames of the longest message a consumer sends (ACK; the 4-frame RECS
 * only goes to consumers): more is "too many frames" */
#define IN_FRAMES_MAX 3
#define ROUTING_ID_MAX 256
#define BAD_FRAME_LOG_MAX 100

/* Slot states. RAW: read, waiting for the group's modules (only groups
 * with modules); COVERED: dropped by `collapse`, acked when the record
 * whose index is in `key` is acked. */
enum slot_state { S_FREE = 0, S_PENDING, S_INFLIGHT, S_DONE, S_RAW, S_COVERED };

struct slot {
	uint8_t state;   /* enum slot_state */
	uint32_t member; /* INFLIGHT: holder; DONE: who acked (UINT32_MAX: nobody) */
	uint64_t key;    /* RAW/PENDING/INFLIGHT: dispatch key; COVERED: the cover's index */
	uint64_t time;   /* the record's cr_time (for lag in seconds) */
	uint8_t *raw;    /* RAW / PENDING / INFLIGHT: the record */
	uint32_t len;    /* bytes at raw */
	struct loafre__bpann *ann; /* paths groups: RAW / PENDING / INFLIGHT: the
				    * record's paths (NULL: read before the group
				    * asked for paths) */
};

struct bmdt {
	uint32_t id;
	char *name;
	char *dir;
	struct loafre_journal *j;          /* read-only handle */
	struct loafre_journal_reader *tail; /* follows the end */
	uint64_t last;                     /* journal's last index seen */
	struct loafre__fidres *res;        /* FID -> path (subtree modules), or NULL */
	uint64_t read_total;               /* records the tail reader has seen */
	size_t fs;                         /* its filesystem: index in broker.fs */
};

/* A configured filesystem (what paths groups need of it). */
struct bfs {
	char *name;               /* the [filesystem] name */
	enum loafre_fs_type type; /* local or lustre */
	char *path;               /* the tree (local) or the client mount (lustre) */
	char *journal;            /* its journal (local) or journals' base (lustre) */
	size_t first_mdt;         /* its MDTs: broker.mdts[first_mdt .. + n_mdts) */
	size_t n_mdts;
};

struct keyent {
	uint64_t key;
	uint32_t member;
	uint32_t count;
	struct keyent *next;
};

#define KEY_BUCKETS 4096

/* One group on one MDT. */
struct gmdt {
	char user_id[LOAFRE_CL_USER_ID_MAX]; /* the registered reader */
	uint64_t pos;       /* everything <= pos is acked */
	uint64_t cleared;   /* what the journal has */
	int clear_error;
	struct loafre_journal_reader *cur;
	uint64_t read_upto; /* highest index read from cur (or pos) */
	struct slot *ring;  /* W slots */
	size_t n_pending;
	uint64_t first_pending; /* no PENDING slot below this */
	uint64_t raw_from;  /* groups with modules: first RAW index (no RAW below) */
	uint64_t raw_since_ms; /* when the oldest RAW record was read (0: none) */
	int mod_error;      /* last error of the modules on this MDT (logged once) */
	bool at_barrier;    /* paths groups: dispatch stopped at a pending barrier */
	uint64_t pruned;    /* paths groups: the map's annotations are pruned up to here */
	uint8_t *stash;     /* a record read beyond the window (or not yet annotated) */
	uint32_t stash_len;
	uint64_t stash_index;
	struct keyent *keys[KEY_BUCKETS];
};

struct group {
	char name[LOAFRE__BP_GROUP_MAX + 1];
	struct gmdt *m;           /* per MDT */
	uint64_t inflight;        /* records held by members, unacked */
	uint64_t redelivered;     /* records given back by dead or leaving members */
	uint64_t dropped;         /* records the modules dropped (acked at once) */
	uint64_t covered;         /* records collapsed into a later one */
	size_t members;
	bool keyed;               /* key tables in use: more than one member */
	bool declared;            /* from a [group] section */
	struct loafre_modules *mods; /* processing modules, or NULL */
	unsigned batch_ms;        /* hold RAW records this long for the modules */
	struct loafre_rec *mod_in; /* scratch: decoded RAW records */
	uint64_t *mod_idx;        /* scratch: their indices */
	size_t mod_cap;           /* entries of mod_in / mod_idx */
	/* paths groups (docs/design/replication.md decisions 1 and 2) */
	int pfs;                  /* its filesystem (index in broker.fs), -1: not one */
	struct loafre__paths *paths; /* the directory map (JOURNAL/broker/NAME.paths) */
	struct loafre__pbuild *pbuild; /* the map's walk, running: nothing is read
					* or sent meanwhile */
	bool paths_broken;        /* the map failed: nothing read or sent (logged) */
	bool paths_txn;           /* the map has an open transaction to commit */
	int paths_error;          /* last map error (logged once) */
	bool barrier_held;        /* a barrier record is in flight */
	uint64_t barriers;        /* barrier records sent */
	uint64_t paths_dirs;      /* the map's directories (at its build, then its gc) */
	uint64_t dir_deletes;     /* directory deletes since the last gc */
	uint64_t next_gc_ms;      /* gc not before */
	struct group *next;
};

struct member {
	void *sock;                /* the socket it came through (plain or CURVE) */
	uint8_t rid[ROUTING_ID_MAX];
	size_t rid_len;
	uint32_t id;
	struct group *g;           /* NULL: ephemeral */
	uint32_t credit;           /* group: window; ephemeral: budget */
	uint64_t inflight;
	uint32_t hb_ms;
	uint64_t last_recv_ms, last_send_ms;
	bool has_fields;
	bool paths;                /* asked paths=: RECS carry the paths frame */
	uint8_t *pbatch;           /* the paths frame being built (paths members) */
	size_t pbatch_len;         /* its bytes */
	uint16_t clf;
	uint64_t clfe;
	/* ephemeral: per MDT cursor and next index expected */
	struct loafre_journal_reader **ecur;
	uint64_t *enext;
	/* the RECS being built */
	uint8_t *batch;
	size_t batch_len;
	uint32_t batch_mdt;
	struct member *next;
};

struct loafre__broker {
	loafre__broker_log_fn log;
	void *ctx;
	void *sock;               /* ROUTER for ipc:// and inproc:// (and tcp:// with curve = no) */
	void *csock;              /* CURVE ROUTER for tcp:// endpoints, or NULL */
	void *cur_sock;           /* the socket of the message being handled */
	struct loafre__broker_auth *auth; /* ZAP handler (CURVE), or NULL */
	int efd; /* stop eventfd */
	pthread_t thread;
	bool thread_started;
	struct bmdt *mdts;
	size_t n_mdts;
	struct bfs *fs;           /* the configured filesystems */
	size_t n_fs;
	char **endpoints;
	size_t n_endpoints;
	unsigned max_credit, heartbeat_ms;
	uint64_t window;          /* ephemeral */
	uint64_t W;               /* ring size (power of 2) */
	struct group *groups;
	struct member *members;
	uint32_t next_member;
	size_t n_ephemeral;
	uint64_t bad_frames;
	uint64_t next_clear_ms, next_stats_ms;
	pthread_mutex_t stats_lock;
	char *stats;
	size_t stats_len;
	uint8_t *scratch_rec;     /* LOAFRE_REC_MAX_SIZE */
	struct bmdt *cur_mdt;     /* the MDT whose batch the modules are processing */
	unsigned min_batch_ms;    /* smallest batch_ms of a group with modules, or 0 */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- sending ------------------------------------------------------------- */

static void send_msg(struct loafre__broker *b, struct member *mb, const uint8_t *rid,
		     size_t rid_len, const struct loafre__bp_msg *m)
{
	struct loafre__bp_frame f[LOAFRE__BP_MAX_FRAMES];
	uint8_t scratch[LOAFRE__BP_SCRATCH];
	int n = loafre__bp_encode(m, f, scratch);

	if (n < 0) {
		b->log(LOG_ERR, "broker: cannot encode %s (bug)", loafre__bp_cmd_name(m->cmd));
		return;
	}
	void *sock = mb ? mb->sock : b->cur_sock;

	if (!sock || zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return;
	for (int i = 0; i < n; i++)
		zmq_send(sock, f[i].data, f[i].len,
			 (i + 1 < n ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
	if (mb)
		mb->last_send_ms = now_ms();
}

static void send_err(struct loafre__broker *b, struct member *mb, const uint8_t *rid,
		     size_t rid_len, int err, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void send_err(struct loafre__broker *b, struct member *mb, const uint8_t *rid,
		     size_t rid_len, int err, const char *fmt, ...)
{
	char text[512];
	struct loafre__bp_msg m = {.cmd = LOAFRE__BP_ERR, .err = err < 0 ? err : -EINVAL};
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	m.text = text;
	m.text_len = (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1;
	send_msg(b, mb, rid, rid_len, &m);
}

static void bad_frame(struct loafre__broker *b, struct member *mb, const uint8_t *rid,
		      size_t rid_len, int err, const char *reason)
{
	b->bad_frames++;
	if (b->bad_frames <= BAD_FRAME_LOG_MAX)
		b->log(LOG_WARNING, "broker: %s %u: %s%s", mb ? "member" : "unknown client",
		       mb ? mb->id : 0, reason,
		       b->bad_frames == BAD_FRAME_LOG_MAX ? " (further bad frames not logged)" : "");
	send_err(b, mb, rid, rid_len, err, "%s", reason);
}

static void flush_batch(struct loafre__broker *b, struct member *mb)
{
	struct loafre__bp_msg m = {.cmd = LOAFRE__BP_RECS};

	if (mb->batch_len == 0)
		return;
	m.mdt = mb->batch_mdt;
	m.payload = mb->batch;
	m.payload_len = mb->batch_len;
	if (mb->paths) {
		m.paths = mb->pbatch;
		m.paths_len = mb->pbatch_len;
	}
	send_msg(b, mb, mb->rid, mb->rid_len, &m);
	mb->batch_len = 0;
	mb->pbatch_len = 0;
}

/* Appends a record (remapped to the member's fields) to its batch, and for
 * a member that asked paths its annotation (ann NULL: -ENODATA) to the
 * paths frame. */
static int batch_add(struct loafre__broker *b, struct member *mb, uint32_t mdt,
		     const uint8_t *raw, size_t len, const struct loafre__bpann *ann)
{
	struct loafre__bp_rec_paths rp = {.path_err = -ENODATA};
	size_t plen = 0;

	if (mb->paths && ann) {
		rp.flags = ann->flags;
		rp.path_err = ann->path_err;
		rp.spath_err = ann->spath_err;
		rp.path = ann->s;
		rp.path_len = ann->path_len;
		rp.spath = ann->s + ann->path_len;
		rp.spath_len = ann->spath_len;
	}
	if (mb->paths)
		plen = LOAFRE__BP_PATHS_HDR + rp.path_len + rp.spath_len;
	if (mb->batch_len > 0 &&
	    (mb->batch_mdt != mdt || mb->batch_len + LOAFRE_REC_MAX_SIZE > BATCH_BYTES ||
	     mb->pbatch_len + plen > PATHS_BATCH_BYTES))
		flush_batch(b, mb);
	if (!mb->batch) {
		mb->batch = malloc(BATCH_BYTES);
		if (!mb->batch)
			return -ENOMEM;
	}
	if (mb->paths && !mb->pbatch) {
		mb->pbatch = malloc(PATHS_BATCH_BYTES);
		if (!mb->pbatch)
			return -ENOMEM;
	}
	mb->batch_mdt = mdt;
	memcpy(mb->batch + mb->batch_len, raw, len);
	if (mb->has_fields) {
		int n = loafre_rec_remap_buf(mb->batch + mb->batch_len, len,
					     BATCH_BYTES - mb->batch_len, mb->clf, mb->clfe);
		if (n < 0)
			return n;
		len = (size_t)n;
	}
	if (mb->paths) {
		/* one entry per record: the record is added only with its entry */
		int r = loafre__bp_paths_put(mb->pbatch, PATHS_BATCH_BYTES, &mb->pbatch_len, &rp);
		if (r < 0)
			return r;
	}
	mb->batch_len += len;
	return 0;
}

/* ---- keys ------------------------------------------------------------------ */

static uint64_t rec_key(const struct loafre_rec *r)
{
	const struct loafre_fid *f = (r->flags & LOAFRE_CLF_RENAME) && r->type == LOAFRE_CL_RENAME
					     ? &r->sfid
					     : &r->tfid;
	uint8_t buf[16];

	memcpy(buf, &f->f_seq, 8);
	memcpy(buf + 8, &f->f_oid, 4);
	memcpy(buf + 12, &f->f_ver, 4);
	return XXH3_64bits(buf, sizeof(buf));
}

static struct keyent *key_find(struct gmdt *gm, uint64_t key)
{
	for (struct keyent *e = gm->keys[key % KEY_BUCKETS]; e; e = e->next)
		if (e->key == key)
			return e;
	return NULL;
}

static int key_take(struct gmdt *gm, uint64_t key, uint32_t member)
{
	struct keyent *e = key_find(gm, key);

	if (e) {
		e->count++;
		return 0;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->key = key;
	e->member = member;
	e->count = 1;
	e->next = gm->keys[key % KEY_BUCKETS];
	gm->keys[key % KEY_BUCKETS] = e;
	return 0;
}

static void key_release(struct gmdt *gm, uint64_t key)
{
	struct keyent **pp = &gm->keys[key % KEY_BUCKETS];

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->key == key) {
			if (--(*pp)->count == 0) {
				struct keyent *e = *pp;
				*pp = e->next;
				free(e);
			}
			return;
		}
	}
}

/* A group of one member needs no key table: every key is that member's.
 * When a second member joins, the table is built from the records in
 * flight (at most W per MDT); when one member is left, it is dropped. */
static int group_key(struct loafre__broker *b, struct group *g);
static void group_unkey(struct loafre__broker *b, struct group *g);

/* ---- groups ---------------------------------------------------------------- */

static struct slot *slot_of(struct loafre__broker *b, struct gmdt *gm, uint64_t index)
{
	return &gm->ring[index & (b->W - 1)];
}

static struct member *member_by_id(struct loafre__broker *b, uint32_t id)
{
	for (struct member *m = b->members; m; m = m->next)
		if (m->id == id)
			return m;
	return NULL;
}

static void gmdt_free(struct loafre__broker *b, struct gmdt *gm)
{
	if (gm->ring)
		for (uint64_t i = 0; i < b->W; i++) {
			free(gm->ring[i].raw);
			free(gm->ring[i].ann);
		}
	free(gm->ring);
	free(gm->stash);
	loafre_journal_reader_close(gm->cur);
	for (size_t k = 0; k < KEY_BUCKETS; k++)
		while (gm->keys[k]) {
			struct keyent *e = gm->keys[k];
			gm->keys[k] = e->next;
			free(e);
		}
}

static void group_free(struct loafre__broker *b, struct group *g)
{
	if (g->m)
		for (size_t i = 0; i < b->n_mdts; i++)
			gmdt_free(b, &g->m[i]);
	free(g->m);
	if (g->pbuild) {
		loafre__pbuild_cancel(g->pbuild);
		loafre__pbuild_finish(g->pbuild, NULL);
	}
	loafre__paths_close(g->paths);
	loafre_modules_free(g->mods);
	free(g->mod_in);
	free(g->mod_idx);
	free(g);
}

static void group_unkey(struct loafre__broker *b, struct group *g)
{
	for (size_t k = 0; k < b->n_mdts; k++)
		for (size_t i = 0; i < KEY_BUCKETS; i++)
			while (g->m[k].keys[i]) {
				struct keyent *e = g->m[k].keys[i];
				g->m[k].keys[i] = e->next;
				free(e);
			}
	g->keyed = false;
}

static int group_key(struct loafre__broker *b, struct group *g)
{
	for (size_t k = 0; k < b->n_mdts; k++) {
		struct gmdt *gm = &g->m[k];
		for (uint64_t i = gm->pos + 1; i <= gm->read_upto; i++) {
			struct slot *s = slot_of(b, gm, i);
			if (s->state == S_INFLIGHT && key_take(gm, s->key, s->member) < 0) {
				group_unkey(b, g);
				return -ENOMEM;
			}
		}
	}
	g->keyed = true;
	return 0;
}

/* Advances pos over the DONE prefix. */
static void advance(struct loafre__broker *b, struct gmdt *gm)
{
	while (gm->pos < gm->read_upto) {
		struct slot *s = slot_of(b, gm, gm->pos + 1);
		if (s->state == S_COVERED) {
			/* the cover lies above (collapse keeps the later record) */
			if (s->key <= gm->pos + 1 || slot_of(b, gm, s->key)->state != S_DONE)
				break;
		} else if (s->state != S_DONE) {
			break;
		}
		free(s->ann);
		memset(s, 0, sizeof(*s));
		gm->pos++;
	}
	if (gm->first_pending <= gm->pos)
		gm->first_pending = gm->pos + 1;
}

static void paths_fail(struct loafre__broker *b, struct group *g, const char *what, int r)
{
	if (r != g->paths_error)
		b->log(LOG_ERR, "broker: group %s: paths map %s: %s", g->name, what, strerror(-r));
	g->paths_error = r;
}

/* A paths group's annotation of a record read on MDT k (see the head of
 * this file): loafre__paths_next for the records of the group's
 * filesystem, in index order per MDT (the map must see every record, also
 * one a module drops later: this runs when the record is read, before
 * the modules); -EXDEV for another filesystem's. 0 and *ret, or -errno
 * and the record is to be placed again: -ENOMEM (the map is past it and
 * answers from its stored annotation then), or a map failure (the group
 * is stopped: paths_broken). */
static int annotate(struct loafre__broker *b, struct group *g, size_t k,
		    const struct loafre_rec *rec, struct loafre__bpann **ret)
{
	struct loafre__paths_ann pa;
	int r;

	if (b->mdts[k].fs != (size_t)g->pfs) {
		*ret = loafre__bpann_error(-EXDEV);
		return *ret ? 0 : -ENOMEM;
	}
	r = loafre__paths_next(g->paths, b->mdts[k].name, rec, &pa);
	g->paths_txn = true;
	if (r < 0 && r != -ENOENT && r != -ENAMETOOLONG && r != -ELOOP && r != -EINVAL &&
	    r != -ENODATA) {
		/* the map rolled its transaction back, with the changes of records
		 * already in the window: stop until a restart re-reads them */
		paths_fail(b, g, "cannot annotate (the group stops until loafred restarts)", r);
		g->paths_broken = true;
		g->paths_txn = false;
		return r;
	}
	*ret = loafre__bpann_make(rec, r, r == -ENODATA ? NULL : &pa);
	if (!*ret)
		return -ENOMEM;
	if ((*ret)->flags & LOAFRE_RP_BARRIER)
		g->dir_deletes++;
	return 0;
}

/* Commits what the map did for the records read. Ordering: this runs at
 * the end of each read run, before group_dispatch can put any of those
 * records into a RECS frame, so no record leaves the broker before the
 * map's change and its stored annotation are committed. The map is WAL
 * with synchronous=NORMAL (lib/repl_paths.c): a commit survives a crash of
 * loafred (the restart re-reads from the acked position, and
 * loafre__paths_next answers every record the map has seen with the
 * annotation it stored, the one that went out); an OS crash may take the
 * last commits back, whole: records after the map's older position are
 * then applied again, in order, to the map as it was before them, which
 * gives the same annotations; if even acked records were lost (the map
 * behind the group's position) group_paths rebuilds the map. A failed
 * commit rolled the map back past records already in the window: the
 * group stops (nothing more is read or sent) until loafred restarts and
 * re-reads them. */
static void paths_commit(struct loafre__broker *b, struct group *g)
{
	int r;

	if (!g->paths_txn)
		return;
	g->paths_txn = false;
	r = loafre__paths_commit(g->paths, NULL, 0);
	if (r < 0) {
		paths_fail(b, g, "cannot commit (the group stops until loafred restarts)", r);
		g->paths_broken = true;
	}
}

/* Puts a record read at `index` into the window (marking skipped indices
 * DONE). Returns 0, 1 if it lies beyond the window (caller stashes), or
 * -errno (nothing placed: the caller stashes it and tries again). */
static int place(struct loafre__broker *b, struct group *g, struct gmdt *gm, uint64_t index,
		 const void *raw, size_t len, const struct loafre_rec *rec)
{
	struct loafre__bpann *ann = NULL;
	struct slot *s;
	int r;

	if (index <= gm->read_upto)
		return 0; /* not expected from a journal cursor; ignore */
	if (index > gm->pos + b->W)
		return 1;
	if (g->paths) {
		r = annotate(b, g, (size_t)(gm - g->m), rec, &ann);
		if (r < 0)
			return r;
	}
	s = slot_of(b, gm, index);
	s->raw = malloc(len);
	if (!s->raw) {
		free(ann);
		return -ENOMEM;
	}
	s->ann = ann;
	memcpy(s->raw, raw, len);
	s->len = (uint32_t)len;
	s->key = rec_key(rec);
	s->time = rec->time;
	if (g->mods) {
		s->state = S_RAW;
		if (!gm->raw_since_ms) {
			gm->raw_since_ms = now_ms();
			gm->raw_from = index;
		}
	} else {
		s->state = S_PENDING;
	}
	for (uint64_t i = gm->read_upto + 1; i < index; i++) {
		struct slot *gap = slot_of(b, gm, i);
		gap->state = S_DONE;
		gap->member = UINT32_MAX;
	}
	gm->read_upto = index;
	if (gm->n_pending == 0 || index < gm->first_pending)
		gm->first_pending = gm->n_pending == 0 ? index : gm->first_pending;
	gm->n_pending++;
	return 0;
}

/* Reads the group's cursor while pending is below max_credit. */
static void group_read(struct loafre__broker *b, struct group *g, size_t k)
{
	struct gmdt *gm = &g->m[k];
	struct loafre_rec rec;
	const void *raw;
	size_t len;
	int r;

	advance(b, gm);
	if (gm->stash) {
		if (gm->stash_index > gm->pos + b->W)
			return;
		struct loafre_rec sr;
		if (loafre_rec_decode(gm->stash, gm->stash_len, &sr, NULL) == 0 &&
		    place(b, g, gm, gm->stash_index, gm->stash, gm->stash_len, &sr) < 0)
			goto out; /* not placed (out of memory, the map): next loop */
		free(gm->stash);
		gm->stash = NULL;
	}
	while (gm->n_pending < b->max_credit) {
		r = loafre_journal_reader_next(gm->cur, &rec, &raw, &len);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			b->log(LOG_ERR, "broker: group %s: cannot read %s: %s", g->name,
			       b->mdts[k].name, strerror(-r));
			break;
		}
		r = place(b, g, gm, rec.index, raw, len, &rec);
		if (r != 0) {
			gm->stash = malloc(len);
			if (gm->stash) {
				memcpy(gm->stash, raw, len);
				gm->stash_len = (uint32_t)len;
				gm->stash_index = rec.index;
			}
			break;
		}
	}
out:
	if (g->paths)
		paths_commit(b, g);
}

/* ---- processing modules ----------------------------------------------------- */

/* The modules' subtree callback: is obj (at any depth) under dir, on the MDT
 * being processed? Paths come from the MDT's filesystem (broker_fid.h); an
 * object that cannot be resolved (removed since) is not under. */
static int under_cb(void *ctx, const struct loafre_fid *dir, const struct loafre_fid *obj)
{
	struct loafre__broker *b = ctx;
	struct bmdt *bm = b->cur_mdt;
	static char dpath[4096], opath[4096];
	size_t dl;
	int r;

	if (!bm || !bm->res)
		return 0;
	r = loafre__fidres_path(bm->res, dir, dpath, sizeof(dpath));
	if (r == 0)
		r = loafre__fidres_path(bm->res, obj, opath, sizeof(opath));
	if (r == -ENOENT || r == -ENAMETOOLONG || r == -ESTALE)
		return 0;
	if (r < 0)
		return r;
	dl = strlen(dpath);
	if (dl == 1 && dpath[0] == '/')
		return opath[0] == '/';
	return strncmp(opath, dpath, dl) == 0 && (opath[dl] == '/' || opath[dl] == '\0');
}

/* Runs the group's modules over the RAW records of MDT k (all of them, in
 * chunks of at most LOAFRE_MOD_BATCH_MAX): kept records become PENDING
 * (remapped bytes when the fields module changed them), dropped ones DONE
 * (acked at once) or COVERED (acked with the record that absorbed them).
 * On an error (the subtree lookup) the records stay RAW and the next loop
 * retries. */
static void group_process(struct loafre__broker *b, struct group *g, size_t k)
{
	struct gmdt *gm = &g->m[k];
	struct loafre_modules_out out;
	size_t n;
	int r;

	while (gm->raw_since_ms) {
		uint64_t i = gm->raw_from;
		n = 0;
		for (; i <= gm->read_upto && n < LOAFRE_MOD_BATCH_MAX; i++) {
			struct slot *s = slot_of(b, gm, i);
			if (s->state != S_RAW)
				continue;
			if (n == g->mod_cap) {
				size_t nc = g->mod_cap ? g->mod_cap * 2 : 1024;
				struct loafre_rec *ni = realloc(g->mod_in, nc * sizeof(*ni));
				uint64_t *nx = ni ? realloc(g->mod_idx, nc * sizeof(*nx)) : NULL;
				if (ni)
					g->mod_in = ni;
				if (!ni || !nx)
					return; /* retried next loop */
				g->mod_idx = nx;
				g->mod_cap = nc;
			}
			if (loafre_rec_decode(s->raw, s->len, &g->mod_in[n], NULL) < 0) {
				/* the journal validated it: cannot happen; deliver as is */
				s->state = S_PENDING;
				continue;
			}
			g->mod_idx[n++] = i;
		}
		b->cur_mdt = &b->mdts[k];
		r = n ? loafre_modules_process(g->mods, g->mod_in, n, &out) : 0;
		b->cur_mdt = NULL;
		if (r < 0) {
			if (r != gm->mod_error)
				b->log(LOG_ERR, "broker: group %s: modules failed on %s: %s; will retry",
				       g->name, b->mdts[k].name, strerror(-r));
			gm->mod_error = r;
			return;
		}
		gm->mod_error = 0;
		/* Kept records first (their bytes may borrow from dropped ones'
		 * names: no, names borrow from their own slot; but encode before
		 * any free to keep it simple). */
		for (size_t d = 0; n && d < out.ndeliver; d++) {
			uint32_t pos = out.deliver[d];
			struct slot *s = slot_of(b, gm, g->mod_idx[pos]);
			if (out.rec[d] != &g->mod_in[pos]) {
				size_t len = loafre_rec_size(out.rec[d]);
				uint8_t *nb = malloc(len);
				int e = nb ? loafre_rec_encode(out.rec[d], nb, len) : -ENOMEM;
				if (e < 0) {
					free(nb);
					nb = NULL;
				} else {
					len = (size_t)e > 0 ? (size_t)e : len;
				}
				if (nb) {
					free(s->raw);
					s->raw = nb;
					s->len = (uint32_t)len;
				}
			}
			s->state = S_PENDING;
		}
		for (size_t p = 0; p < n; p++) {
			struct slot *s = slot_of(b, gm, g->mod_idx[p]);
			uint32_t c = out.cover[p];
			if (c == p)
				continue;
			free(s->raw);
			s->raw = NULL;
			free(s->ann);
			s->ann = NULL;
			s->len = 0;
			gm->n_pending--;
			if (c == LOAFRE_MOD_ACK_NOW) {
				s->state = S_DONE;
				s->member = UINT32_MAX;
				g->dropped++;
			} else {
				s->state = S_COVERED;
				s->key = g->mod_idx[c];
				g->covered++;
			}
		}
		if (i > gm->read_upto) {
			gm->raw_since_ms = 0;
			gm->raw_from = 0;
		} else {
			gm->raw_from = i;
		}
	}
	advance(b, gm);
}

static bool member_free(const struct member *m)
{
	return m->inflight < m->credit;
}

static bool is_barrier(const struct group *g, const struct slot *s)
{
	return g->paths && s->ann && (s->ann->flags & LOAFRE_RP_BARRIER);
}

/* Sends the group's pending records of MDT k to its members.
 *
 * Paths groups (decision 2): a barrier record (a directory's RENME, a
 * RENME over a directory, an RMDIR) leaves only when the group has nothing
 * in flight on any MDT, alone, and nothing leaves after it (on any MDT)
 * until it is acked. While an MDT waits at a barrier, the other MDTs send
 * nothing new either, so the group drains. A member that dies or leaves
 * gives its records back (PENDING again, barrier_held cleared): they go
 * out again in index order under the same rule. */
static void group_dispatch(struct loafre__broker *b, struct group *g, size_t k)
{
	struct gmdt *gm = &g->m[k];
	struct member *cand[64];
	size_t n_cand = 0, seen = 0;
	uint64_t first_left = 0;

	if (gm->n_pending == 0 || g->members == 0)
		return;
	if (g->paths) {
		if (g->barrier_held)
			return;
		gm->at_barrier = false;
		for (size_t j = 0; j < b->n_mdts; j++)
			if (j != k && g->m[j].at_barrier)
				return; /* another MDT waits for the group to drain */
	}
	for (struct member *m = b->members; m && n_cand < 64; m = m->next)
		if (m->g == g)
			cand[n_cand++] = m;
	for (uint64_t i = gm->first_pending; i <= gm->read_upto && seen < gm->n_pending; i++) {
		struct slot *s = slot_of(b, gm, i);
		struct member *to = NULL;
		struct keyent *e;
		bool barrier;

		if (s->state != S_PENDING)
			continue;
		barrier = is_barrier(g, s);
		if (barrier && g->inflight > 0) {
			gm->at_barrier = true;
			if (!first_left)
				first_left = i;
			break;
		}
		seen++;
		e = g->keyed ? key_find(gm, s->key) : NULL;
		if (e) {
			to = member_by_id(b, e->member);
			if (to && !member_free(to))
				to = NULL;
		} else {
			size_t h = (size_t)(s->key % n_cand);
			for (size_t t = 0; t < n_cand && !to; t++) {
				struct member *c = cand[(h + t) % n_cand];
				if (member_free(c))
					to = c;
			}
			if (!to)
				break; /* nobody has credit */
		}
		if (!to) {
			if (!first_left)
				first_left = i;
			continue;
		}
		if (g->keyed && !e && key_take(gm, s->key, to->id) < 0)
			break;
		if (e)
			e->count++;
		if (batch_add(b, to, b->mdts[k].id, s->raw, s->len, s->ann) < 0) {
			b->log(LOG_ERR, "broker: group %s: cannot send record %llu", g->name,
			       (unsigned long long)i);
			if (g->keyed)
				key_release(gm, s->key);
			break;
		}
		s->state = S_INFLIGHT;
		s->member = to->id;
		to->inflight++;
		g->inflight++;
		gm->n_pending--;
		seen--;
		if (barrier) {
			g->barrier_held = true;
			g->barriers++;
			break;
		}
	}
	gm->first_pending = first_left ? first_left : gm->first_pending;
	for (size_t c = 0; c < n_cand; c++)
		flush_batch(b, cand[c]);
}

/* With modules: process the RAW records now if the hold time passed or the
 * window is full (batch_ms 0: always). */
static void group_maybe_process(struct loafre__broker *b, struct group *g, size_t k,
				uint64_t now)
{
	struct gmdt *gm = &g->m[k];

	if (!g->mods || !gm->raw_since_ms)
		return;
	if (g->batch_ms == 0 || now - gm->raw_since_ms >= g->batch_ms ||
	    gm->n_pending >= b->max_credit)
		group_process(b, g, k);
}

/* A paths group whose map is being built: when the walk finished, logs
 * it. True while nothing of the group may be read or sent (building, or
 * the map failed). */
static bool paths_waiting(struct loafre__broker *b, struct group *g)
{
	struct loafre__pwalk_stats st;
	int r;

	if (g->paths_broken)
		return true;
	if (!g->pbuild)
		return false;
	if (!loafre__pbuild_done(g->pbuild))
		return true;
	r = loafre__pbuild_finish(g->pbuild, &st);
	g->pbuild = NULL;
	if (r < 0) {
		b->log(LOG_ERR,
		       "broker: group %s: cannot build its paths map of %s: %s; the group stops until loafred restarts",
		       g->name, b->fs[g->pfs].name, strerror(-r));
		g->paths_broken = true;
		return true;
	}
	g->paths_dirs = st.dirs;
	b->log(LOG_INFO,
	       "broker: group %s: paths map of %s built: %llu directories (%llu entries read, %llu skipped) in %.3f s",
	       g->name, b->fs[g->pfs].name, (unsigned long long)st.dirs,
	       (unsigned long long)st.entries, (unsigned long long)st.skipped, st.seconds);
	for (size_t k = 0; k < b->n_mdts; k++)
		g->m[k].pruned = g->m[k].pos;
	return false;
}

static void group_pump(struct loafre__broker *b, struct group *g, uint64_t now)
{
	if (g->paths && paths_waiting(b, g))
		return;
	for (size_t k = 0; k < b->n_mdts; k++) {
		group_read(b, g, k);
		group_maybe_process(b, g, k, now);
		group_dispatch(b, g, k);
		/* dispatch made room: read and dispatch again, a bounded number of times */
		for (int again = 0; again < 8 && g->m[k].n_pending < b->max_credit / 2; again++) {
			size_t before = g->m[k].n_pending;
			group_read(b, g, k);
			if (g->m[k].n_pending == before)
				break;
			group_maybe_process(b, g, k, now);
			group_dispatch(b, g, k);
		}
	}
}

/* Paths groups, about once a second: the map forgets the annotations of
 * acked records, and after directory deletes (at most once a minute)
 * drops the entries of deleted subtrees. */
static void paths_tidy(struct loafre__broker *b, struct group *g, uint64_t now)
{
	const struct bfs *f;
	uint64_t removed = 0;
	int r = 0;

	if (!g->paths || g->pbuild || g->paths_broken)
		return;
	f = &b->fs[g->pfs];
	for (size_t i = 0; r == 0 && i < f->n_mdts; i++) {
		struct gmdt *gm = &g->m[f->first_mdt + i];

		if (gm->pos > gm->pruned) {
			r = loafre__paths_prune(g->paths, b->mdts[f->first_mdt + i].name, gm->pos);
			g->paths_txn = true;
			if (r == 0)
				gm->pruned = gm->pos;
		}
	}
	if (r == 0 && g->dir_deletes && now >= g->next_gc_ms) {
		r = loafre__paths_gc(g->paths, &removed);
		g->paths_txn = true;
		if (r == 0) {
			g->dir_deletes = 0;
			g->next_gc_ms = now + PATHS_GC_INTERVAL_MS;
		}
	}
	if (r == 0 && removed)
		r = loafre__paths_count(g->paths, &g->paths_dirs);
	if (r < 0) {
		paths_fail(b, g, "cannot prune", r);
		g->paths_broken = true;
		loafre__paths_rollback(g->paths);
		g->paths_txn = false;
		return;
	}
	paths_commit(b, g);
}

/* Clears upstream what the group's position passed. */
static void group_clear(struct loafre__broker *b, struct group *g)
{
	for (size_t k = 0; k < b->n_mdts; k++) {
		struct gmdt *gm = &g->m[k];
		int r;

		uint64_t upto = gm->pos < b->mdts[k].last ? gm->pos : b->mdts[k].last;

		if (upto <= gm->cleared)
			continue;
		r = loafre_journal_clear(b->mdts[k].j, gm->user_id, upto);
		if (r < 0) {
			if (r != gm->clear_error)
				b->log(LOG_ERR, "broker: group %s: cannot clear %s up to %llu: %s",
				       g->name, b->mdts[k].name, (unsigned long long)gm->pos,
				       strerror(-r));
			gm->clear_error = r;
			continue;
		}
		gm->clear_error = 0;
		gm->cleared = upto;
	}
}

/* FS_JOURNAL/broker/GROUP.paths: a paths group's map. */
static int paths_file(const struct bfs *f, const char *group, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/broker/%s.paths", f->journal, group);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Starts the walk that loads g's map, with P = the group's read position
 * on each MDT of its filesystem (records after it are read once the map
 * is loaded and applied over it; nothing of the group is read or sent
 * meanwhile). */
static int paths_build(struct loafre__broker *b, struct group *g, char *err, size_t errlen)
{
	const struct bfs *f = &b->fs[g->pfs];
	const char **mdts = calloc(f->n_mdts, sizeof(*mdts));
	uint64_t *pos = calloc(f->n_mdts, sizeof(*pos));
	int r = -ENOMEM;

	if (!mdts || !pos) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < f->n_mdts; i++) {
		mdts[i] = b->mdts[f->first_mdt + i].name;
		pos[i] = g->m[f->first_mdt + i].read_upto;
	}
	r = loafre__pbuild_start(g->paths, f->path, f->type, mdts, pos, f->n_mdts, &g->pbuild);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the paths map's walk: %s", strerror(-r));
		goto out;
	}
	b->log(LOG_INFO, "broker: group %s: building its paths map of %s (walking %s from %s:%llu)",
	       g->name, f->name, f->path, mdts[0], (unsigned long long)pos[0]);
out:
	free(mdts);
	free(pos);
	return r;
}

/* Makes g a paths group of filesystem fi: opens (creates) its map and
 * builds it when it has no root yet, when `fresh` (the group's readers
 * were just registered: an old map of the same name is of an old group),
 * or when it is behind the group's position on an MDT (an OS crash took
 * its last commits back: records it has not seen are acked already). */
static int group_paths(struct loafre__broker *b, struct group *g, size_t fi, bool fresh,
		       char *err, size_t errlen)
{
	const struct bfs *f = &b->fs[fi];
	char file[PATH_MAX], dir[PATH_MAX];
	struct loafre_fid root;
	bool build = fresh;
	int r;

	r = paths_file(f, g->name, file, sizeof(file));
	if (r == 0 && (size_t)snprintf(dir, sizeof(dir), "%s/broker", f->journal) >= sizeof(dir))
		r = -ENAMETOOLONG;
	if (r == 0 && mkdir(dir, 0700) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0 && fresh) {
		/* an old map of this name (of a root since replaced, say) is of no
		 * use: start from an empty file */
		static const char *const sfx[] = {"", "-wal", "-shm"};
		char old[PATH_MAX + 8];

		for (size_t i = 0; r == 0 && i < LOAFRE__ARRAY_SIZE(sfx); i++) {
			snprintf(old, sizeof(old), "%s%s", file, sfx[i]);
			if (unlink(old) < 0 && errno != ENOENT)
				r = -errno;
		}
	}
	if (r == 0)
		r = loafre__paths_open(file, LOAFRE__PATHS_CREATE, &g->paths);
	if (r < 0) {
		snprintf(err, errlen, "cannot open the paths map '%.300s': %s", file, strerror(-r));
		return r;
	}
	g->pfs = (int)fi;
	if (!build) {
		r = loafre__paths_get_root(g->paths, &root);
		if (r == -ENOENT)
			build = true;
		else if (r < 0)
			goto fail;
	}
	for (size_t i = 0; !build && i < f->n_mdts; i++) {
		uint64_t at = 0;

		r = loafre__paths_get_position(g->paths, b->mdts[f->first_mdt + i].name, &at);
		if (r < 0)
			goto fail;
		if (at < g->m[f->first_mdt + i].pos) {
			b->log(LOG_WARNING,
			       "broker: group %s: paths map '%s' is behind the group on %s (%llu < %llu): rebuilding it",
			       g->name, file, b->mdts[f->first_mdt + i].name, (unsigned long long)at,
			       (unsigned long long)g->m[f->first_mdt + i].pos);
			build = true;
		}
	}
	if (build)
		return paths_build(b, g, err, errlen);
	r = loafre__paths_count(g->paths, &g->paths_dirs);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < f->n_mdts; i++)
		g->m[f->first_mdt + i].pruned = g->m[f->first_mdt + i].pos;
	return 0;
fail:
	snprintf(err, errlen, "paths map '%.300s': %s", file, strerror(-r));
	loafre__paths_close(g->paths);
	g->paths = NULL;
	g->pfs = -1;
	return r;
}

/* Finds or registers the group's reader on every MDT. */
static int group_open(struct loafre__broker *b, const struct loafre__bp_hello *h,
		      struct group **ret, char *err, size_t errlen)
{
	struct group *g;
	bool fresh = false;
	int r = 0;

	for (size_t s = 0; s < h->n_starts; s++) {
		bool found = false;
		for (size_t k = 0; k < b->n_mdts; k++)
			if (strcmp(b->mdts[k].name, h->starts[s].mdt) == 0)
				found = true;
		if (!found) {
			snprintf(err, errlen, "start: unknown MDT %s", h->starts[s].mdt);
			return -ENOENT;
		}
	}
	g = calloc(1, sizeof(*g));
	if (!g || !(g->m = calloc(b->n_mdts ? b->n_mdts : 1, sizeof(*g->m)))) {
		free(g);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	strcpy(g->name, h->group);
	g->pfs = -1;
	for (size_t k = 0; k < b->n_mdts; k++) {
		struct bmdt *bm = &b->mdts[k];
		struct gmdt *gm = &g->m[k];
		struct loafre_cl_user *users = NULL;
		size_t n = 0;
		bool found = false;
		uint64_t start;

		gm->ring = calloc(b->W, sizeof(*gm->ring));
		if (!gm->ring) {
			r = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			break;
		}
		r = loafre_journal_users(bm->j, &users, &n);
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot read its readers: %s", bm->name,
				 strerror(-r));
			break;
		}
		for (size_t u = 0; u < n; u++) {
			const char *dash = strchr(users[u].id, '-');
			if (dash && strcmp(dash + 1, g->name) == 0) {
				found = true;
				strcpy(gm->user_id, users[u].id);
				gm->pos = gm->cleared = users[u].cleared;
			}
		}
		free(users);
		if (found) {
			start = gm->pos + 1;
		} else {
			fresh = true;
			/* The reader starts cleared just before the group's start,
			 * so the journal keeps every record the group has yet to
			 * get (decided under the journal lock: no purge between). */
			uint64_t from = 0; /* oldest retained */

			if (h->start == LOAFRE__BP_START_NEWEST)
				from = LOAFRE_JOURNAL_FROM_CURRENT;
			for (size_t s = 0; s < h->n_starts; s++)
				if (strcmp(h->starts[s].mdt, bm->name) == 0)
					from = h->starts[s].index ? h->starts[s].index - 1 : 0;
			r = loafre_journal_register_from(bm->j, g->name, NULL, from, gm->user_id,
							 sizeof(gm->user_id));
			if (r < 0) {
				snprintf(err, errlen, "%s: cannot register reader %s: %s", bm->name,
					 g->name, strerror(-r));
				break;
			}
			/* re-read what register wrote: the registry is the truth */
			users = NULL;
			r = loafre_journal_users(bm->j, &users, &n);
			if (r < 0) {
				snprintf(err, errlen, "%s: cannot read its readers: %s", bm->name,
					 strerror(-r));
				break;
			}
			for (size_t u = 0; u < n; u++)
				if (strcmp(users[u].id, gm->user_id) == 0)
					gm->cleared = users[u].cleared;
			free(users);
			gm->pos = gm->cleared;
			start = gm->cleared + 1;
			b->log(LOG_INFO, "broker: group %s registered on %s as %s, starting at %llu",
			       g->name, bm->name, gm->user_id, (unsigned long long)start);
		}
		gm->read_upto = gm->pos;
		gm->first_pending = gm->pos + 1;
		r = loafre_journal_reader_open(bm->j, start, &gm->cur);
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", bm->name, strerror(-r));
			break;
		}
	}
	/* A paths group again (its map's file exists: the group was made one
	 * before a restart). */
	for (size_t i = 0; r == 0 && i < b->n_fs; i++) {
		char file[PATH_MAX];
		struct stat st;

		if (paths_file(&b->fs[i], g->name, file, sizeof(file)) == 0 &&
		    stat(file, &st) == 0) {
			r = group_paths(b, g, i, fresh, err, errlen);
			break;
		}
	}
	if (r < 0) {
		group_free(b, g);
		return r;
	}
	g->next = b->groups;
	b->groups = g;
	*ret = g;
	return 0;
}

static struct group *group_find(struct loafre__broker *b, const char *name)
{
	for (struct group *g = b->groups; g; g = g->next)
		if (strcmp(g->name, name) == 0)
			return g;
	return NULL;
}

/* Opens a [group] section's group at start: registers its readers (so its
 * records are kept from now on) and builds its modules, a subtree path
 * turned into the directory's FID. */
static int group_declare(struct loafre__broker *b, const struct loafre_config *cfg,
			 const struct loafre_group_config *gc, char *err, size_t errlen)
{
	static struct loafre__bp_hello h; /* 5 KiB: not on the stack */
	char text[LOAFRE__BP_HELLO_MAX + 1], why[512];
	char *specs[LOAFRE_MOD_MAX] = {0};
	struct group *g = NULL;
	int n, r = 0;

	n = snprintf(text, sizeof(text), "group=%s start=%s", gc->name,
		     gc->start ? gc->start : "oldest");
	if (n < 0 || (size_t)n >= sizeof(text) ||
	    (r = loafre__bp_hello_parse(text, (size_t)n, &h, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "group %s: bad start '%s'", gc->name,
			 gc->start ? gc->start : "oldest");
		return r < 0 ? r : -EINVAL;
	}
	for (size_t m = 0; m < gc->n_modules && m < LOAFRE_MOD_MAX; m++) {
		const char *spec = gc->modules[m];
		if (strncmp(spec, "subtree = /", 11) == 0) {
			const char *path = spec + 10;
			const struct loafre_fs_config *fs = loafre_config_fs_of_path(cfg, path);
			struct loafre_fid fid;
			char fs_txt[LOAFRE_FID_STRLEN];

			r = fs ? loafre__fidres_path2fid(fs, path, &fid) : -ENOENT;
			if (r < 0) {
				snprintf(err, errlen, "group %s: subtree %s: %s%s", gc->name, path,
					 strerror(-r),
					 r == -EOPNOTSUPP ? " (give a Lustre subtree as its FID)" : "");
				goto out;
			}
			loafre_fid_format(&fid, fs_txt);
			if (asprintf(&specs[m], "subtree = %s", fs_txt) < 0)
				specs[m] = NULL;
		} else {
			specs[m] = strdup(spec);
		}
		if (!specs[m]) {
			r = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	g = group_find(b, gc->name);
	if (!g) {
		r = group_open(b, &h, &g, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "group %s: %s", gc->name, why);
			goto out;
		}
	}
	g->declared = true;
	g->batch_ms = gc->batch_ms;
	if (gc->n_modules) {
		r = loafre_modules_new((const char *const *)specs, gc->n_modules, under_cb, b, why,
				       sizeof(why), &g->mods);
		if (r < 0) {
			snprintf(err, errlen, "group %s: %s", gc->name, why);
			goto out;
		}
		if (g->batch_ms && (!b->min_batch_ms || g->batch_ms < b->min_batch_ms))
			b->min_batch_ms = g->batch_ms;
	}
out:
	for (size_t m = 0; m < LOAFRE_MOD_MAX; m++)
		free(specs[m]);
	return r;
}

/* ---- members --------------------------------------------------------------- */

/* Routing ids are per socket: a member is found by both. */
static struct member *member_find(struct loafre__broker *b, const uint8_t *rid, size_t len)
{
	for (struct member *m = b->members; m; m = m->next)
		if (m->sock == b->cur_sock && m->rid_len == len && memcmp(m->rid, rid, len) == 0)
			return m;
	return NULL;
}

/* Removes a member; its in-flight records become pending again. */
static void member_drop(struct loafre__broker *b, struct member *mb, const char *why)
{
	struct member **pp;

	if (mb->g) {
		struct group *g = mb->g;
		uint64_t back = 0;
		for (size_t k = 0; k < b->n_mdts; k++) {
			struct gmdt *gm = &g->m[k];
			for (uint64_t i = gm->pos + 1; i <= gm->read_upto; i++) {
				struct slot *s = slot_of(b, gm, i);
				if (s->state != S_INFLIGHT || s->member != mb->id)
					continue;
				if (is_barrier(g, s))
					g->barrier_held = false;
				s->state = S_PENDING;
				if (g->keyed)
					key_release(gm, s->key);
				if (gm->n_pending == 0 || i < gm->first_pending)
					gm->first_pending = i;
				gm->n_pending++;
				back++;
			}
		}
		g->inflight -= back;
		g->redelivered += back;
		g->members--;
		if (g->members <= 1 && g->keyed)
			group_unkey(b, g); /* every key is the last member's now */
		b->log(LOG_INFO, "broker: group %s: member %u %s; %llu records to redeliver",
		       g->name, mb->id, why, (unsigned long long)back);
	} else {
		for (size_t k = 0; k < b->n_mdts; k++)
			loafre_journal_reader_close(mb->ecur[k]);
		b->n_ephemeral--;
		b->log(LOG_INFO, "broker: ephemeral reader %u %s", mb->id, why);
	}
	for (pp = &b->members; *pp; pp = &(*pp)->next)
		if (*pp == mb) {
			*pp = mb->next;
			break;
		}
	free(mb->ecur);
	free(mb->enext);
	free(mb->batch);
	free(mb->pbatch);
	free(mb);
}

/* HELLO paths=FSNAME: the group becomes (or must be) a paths group of it. */
static int hello_paths(struct loafre__broker *b, struct group *g, const char *fsname, char *err,
		       size_t errlen)
{
	for (size_t i = 0; i < b->n_fs; i++) {
		if (strcmp(b->fs[i].name, fsname) != 0)
			continue;
		if (g->pfs == (int)i)
			return 0;
		if (g->pfs >= 0) {
			snprintf(err, errlen, "paths: the group's paths are of filesystem %s, not %s",
				 b->fs[g->pfs].name, fsname);
			return -EINVAL;
		}
		/* the group was not one: its readers are its own (not fresh),
		 * but an old map of this name is of no use: build it anew */
		return group_paths(b, g, i, true, err, errlen);
	}
	snprintf(err, errlen, "paths: no filesystem %s in loafred's configuration", fsname);
	return -ENOENT;
}

static void on_hello(struct loafre__broker *b, const uint8_t *rid, size_t rid_len,
		     const struct loafre__bp_msg *msg)
{
	static struct loafre__bp_hello h; /* 5 KiB: not on the stack; one thread */
	char err[256], list[LOAFRE__BP_MDTS_MAX];
	size_t list_len = 0;
	struct member *mb;
	struct group *g = NULL;
	int r;

	err[0] = '\0';
	r = loafre__bp_hello_parse(msg->text, msg->text_len, &h, err, sizeof(err));
	if (r < 0) {
		char reason[300];
		snprintf(reason, sizeof(reason), "HELLO: %s", err);
		bad_frame(b, NULL, rid, rid_len, r, reason);
		return;
	}
	mb = calloc(1, sizeof(*mb));
	if (!mb) {
		send_err(b, NULL, rid, rid_len, -ENOMEM, "out of memory");
		return;
	}
	if (!h.ephemeral) {
		g = group_find(b, h.group);
		if (!g && (r = group_open(b, &h, &g, err, sizeof(err))) < 0) {
			b->log(LOG_ERR, "broker: group %s: %s", h.group, err);
			send_err(b, NULL, rid, rid_len, r, "group %s: %s", h.group, err);
			free(mb);
			return;
		}
		if (h.paths[0] && (r = hello_paths(b, g, h.paths, err, sizeof(err))) < 0) {
			b->log(LOG_ERR, "broker: group %s: %s", h.group, err);
			send_err(b, NULL, rid, rid_len, r, "group %s: %s", h.group, err);
			free(mb);
			return;
		}
		/* a second member: keys in flight must stay with their member */
		if (g->members >= 1 && !g->keyed && (r = group_key(b, g)) < 0) {
			send_err(b, NULL, rid, rid_len, r, "group %s: out of memory", h.group);
			free(mb);
			return;
		}
	} else {
		mb->ecur = calloc(b->n_mdts ? b->n_mdts : 1, sizeof(*mb->ecur));
		mb->enext = calloc(b->n_mdts ? b->n_mdts : 1, sizeof(*mb->enext));
		if (!mb->ecur || !mb->enext)
			r = -ENOMEM;
		for (size_t k = 0; r == 0 && k < b->n_mdts; k++) {
			mb->enext[k] = b->mdts[k].last + 1;
			r = loafre_journal_reader_open(b->mdts[k].j, mb->enext[k], &mb->ecur[k]);
		}
		if (r < 0) {
			send_err(b, NULL, rid, rid_len, r, "cannot open the journals: %s",
				 strerror(-r));
			for (size_t k = 0; mb->ecur && k < b->n_mdts; k++)
				loafre_journal_reader_close(mb->ecur[k]);
			free(mb->ecur);
			free(mb->enext);
			free(mb);
			return;
		}
	}
	memcpy(mb->rid, rid, rid_len);
	mb->rid_len = rid_len;
	mb->sock = b->cur_sock;
	mb->id = b->next_member++;
	mb->g = g;
	mb->credit = h.credit && h.credit < b->max_credit ? h.credit : b->max_credit;
	mb->hb_ms = h.heartbeat_ms ? h.heartbeat_ms : b->heartbeat_ms;
	mb->last_recv_ms = mb->last_send_ms = now_ms();
	mb->has_fields = h.has_fields;
	mb->paths = h.paths[0] != '\0';
	loafre__bp_fields_flags(h.fields, &mb->clf, &mb->clfe);
	mb->next = b->members;
	b->members = mb;
	if (g)
		g->members++;
	else
		b->n_ephemeral++;
	list[0] = '\0';
	for (size_t k = 0; k < b->n_mdts; k++)
		loafre__bp_mdts_append(list, sizeof(list), &list_len, b->mdts[k].name,
				       b->mdts[k].id);
	struct loafre__bp_msg w = {.cmd = LOAFRE__BP_WELCOME, .member = mb->id, .text = list,
				   .text_len = list_len};
	send_msg(b, mb, rid, rid_len, &w);
	b->log(LOG_INFO, "broker: %s%s: member %u joined (credit %u, heartbeat %u ms)",
	       g ? "group " : "ephemeral reader", g ? g->name : "", mb->id, mb->credit, mb->hb_ms);
}

/* Range r of an ACK, clipped to what lies above the position (acks at or
 * below it change nothing). False when nothing is left. */
static bool ack_range(const struct loafre__bp_msg *m, size_t r, uint64_t pos, uint64_t *ret_a,
		      uint64_t *ret_z)
{
	uint64_t a, z;

	loafre__bp_ack_get(m, r, &a, &z);
	if (z <= pos)
		return false;
	*ret_a = a <= pos ? pos + 1 : a;
	*ret_z = z;
	return true;
}

static void on_ack(struct loafre__broker *b, struct member *mb, const struct loafre__bp_msg *m)
{
	struct group *g = mb->g;
	struct gmdt *gm;
	char reason[160];

	if (!g) {
		bad_frame(b, mb, mb->rid, mb->rid_len, -EINVAL, "ACK: an ephemeral reader never acks");
		return;
	}
	if (m->mdt >= b->n_mdts) {
		snprintf(reason, sizeof(reason), "ACK: unknown MDT id %u", m->mdt);
		bad_frame(b, mb, mb->rid, mb->rid_len, -ENOENT, reason);
		return;
	}
	gm = &g->m[m->mdt];
	/* Validate every range before touching anything (the decoder made
	 * them ascending and disjoint: each index is visited once). */
	for (size_t r = 0; r < m->n_ranges; r++) {
		uint64_t a, z;
		if (!ack_range(m, r, gm->pos, &a, &z))
			continue;
		if (z > gm->read_upto) {
			snprintf(reason, sizeof(reason), "ACK: index %llu of %s was never delivered",
				 (unsigned long long)(a > gm->read_upto ? a : gm->read_upto + 1),
				 b->mdts[m->mdt].name);
			bad_frame(b, mb, mb->rid, mb->rid_len, -EINVAL, reason);
			return;
		}
		for (uint64_t i = a; i <= z; i++) {
			struct slot *s = slot_of(b, gm, i);
			if ((s->state == S_INFLIGHT || s->state == S_DONE) && s->member == mb->id)
				continue;
			snprintf(reason, sizeof(reason),
				 "ACK: index %llu of %s was never delivered to member %u",
				 (unsigned long long)i, b->mdts[m->mdt].name, mb->id);
			bad_frame(b, mb, mb->rid, mb->rid_len, -EINVAL, reason);
			return;
		}
	}
	for (size_t r = 0; r < m->n_ranges; r++) {
		uint64_t a, z;
		if (!ack_range(m, r, gm->pos, &a, &z))
			continue;
		for (uint64_t i = a; i <= z; i++) {
			struct slot *s = slot_of(b, gm, i);
			if (s->state != S_INFLIGHT)
				continue;
			if (is_barrier(g, s))
				g->barrier_held = false;
			s->state = S_DONE;
			free(s->raw);
			s->raw = NULL;
			free(s->ann);
			s->ann = NULL;
			if (g->keyed)
				key_release(gm, s->key);
			mb->inflight--;
			g->inflight--;
		}
	}
	advance(b, gm);
}

static void on_message(struct loafre__broker *b, zmq_msg_t *parts, size_t n)
{
	struct loafre__bp_frame f[MAX_RECV_FRAMES];
	struct loafre__bp_msg m;
	char err[256];
	const uint8_t *rid = zmq_msg_data(&parts[0]);
	size_t rid_len = zmq_msg_size(&parts[0]);
	struct member *mb;
	int r;

	if (rid_len == 0 || rid_len > ROUTING_ID_MAX)
		return;
	mb = member_find(b, rid, rid_len);
	if (mb)
		mb->last_recv_ms = now_ms();
	for (size_t i = 1; i < n; i++) {
		f[i - 1].data = zmq_msg_data(&parts[i]);
		f[i - 1].len = zmq_msg_size(&parts[i]);
	}
	err[0] = '\0';
	r = loafre__bp_decode(f, n - 1, &m, err, sizeof(err));
	if (r < 0) {
		bad_frame(b, mb, rid, rid_len, r, err[0] ? err : "malformed message");
		return;
	}
	if (!mb && m.cmd != LOAFRE__BP_HELLO) {
		if (m.cmd == LOAFRE__BP_BYE)
			return;
		if (m.cmd == LOAFRE__BP_PING || m.cmd == LOAFRE__BP_PONG) {
			/* a member the broker forgot (declared dead, or a broker
			 * restart): tell it to join again; not bad input */
			send_err(b, NULL, rid, rid_len, -ENOTCONN, "not a member: send HELLO first");
			return;
		}
		bad_frame(b, NULL, rid, rid_len, -ENOTCONN, "not a member: send HELLO first");
		return;
	}
	switch (m.cmd) {
	case LOAFRE__BP_HELLO:
		if (mb) {
			bad_frame(b, mb, rid, rid_len, -EISCONN, "HELLO: already a member");
			return;
		}
		on_hello(b, rid, rid_len, &m);
		break;
	case LOAFRE__BP_ACK:
		on_ack(b, mb, &m);
		break;
	case LOAFRE__BP_CREDIT: {
		uint64_t c = (uint64_t)mb->credit + m.credit;
		mb->credit = c > b->max_credit ? b->max_credit : (uint32_t)c;
		break;
	}
	case LOAFRE__BP_PING: {
		struct loafre__bp_msg pong = {.cmd = LOAFRE__BP_PONG};
		send_msg(b, mb, rid, rid_len, &pong);
		break;
	}
	case LOAFRE__BP_PONG:
		break;
	case LOAFRE__BP_BYE:
		member_drop(b, mb, "left");
		break;
	default: {
		char reason[64];
		snprintf(reason, sizeof(reason), "%s is not a command for the broker",
			 loafre__bp_cmd_name(m.cmd));
		bad_frame(b, mb, rid, rid_len, -EPROTO, reason);
		break;
	}
	}
}

static void recv_all(struct loafre__broker *b, void *sock)
{
	b->cur_sock = sock;
	for (;;) {
		zmq_msg_t parts[MAX_RECV_FRAMES + 1];
		size_t n = 0;
		bool more = true, overflow = false;
		int r;

		while (more) {
			zmq_msg_t tmp;
			zmq_msg_t *p = n < MAX_RECV_FRAMES + 1 ? &parts[n] : &tmp;
			zmq_msg_init(p);
			r = zmq_msg_recv(p, sock, n == 0 ? ZMQ_DONTWAIT : 0);
			if (r < 0) {
				zmq_msg_close(p);
				for (size_t i = 0; i < n && i < MAX_RECV_FRAMES + 1; i++)
					zmq_msg_close(&parts[i]);
				return; /* EAGAIN (or ETERM) */
			}
			more = zmq_msg_more(p);
			if (p == &tmp) {
				overflow = true;
				zmq_msg_close(p);
			} else {
				n++;
			}
		}
		if (overflow || n < 2) {
			if (n >= 1) {
				const uint8_t *rid = zmq_msg_data(&parts[0]);
				size_t rl = zmq_msg_size(&parts[0]);
				if (rl > 0 && rl <= ROUTING_ID_MAX)
					bad_frame(b, member_find(b, rid, rl), rid, rl, -EBADMSG,
						  overflow ? "too many frames" : "empty message");
			}
		} else if (n > IN_FRAMES_MAX + 1) {
			const uint8_t *rid = zmq_msg_data(&parts[0]);
			size_t rl = zmq_msg_size(&parts[0]);
			if (rl > 0 && rl <= ROUTING_ID_MAX)
				bad_frame(b, member_find(b, rid, rl), rid, rl, -EBADMSG,
					  "too many frames");
		} else {
			on_message(b, parts, n);
		}
		for (size_t i = 0; i < n; i++)
			zmq_msg_close(&parts[i]);
	}
}

/* ---- ephemeral readers ------------------------------------------------------ */

static void ephemeral_pump(struct loafre__broker *b, struct member *mb)
{
	for (size_t k = 0; k < b->n_mdts; k++) {
		struct bmdt *bm = &b->mdts[k];
		struct loafre_rec rec;
		const void *raw;
		size_t len;

		if (bm->last >= mb->enext[k] && bm->last - mb->enext[k] + 1 > b->window) {
			struct loafre_journal_reader *nr = NULL;
			uint64_t lost = bm->last - mb->enext[k] + 1;
			if (loafre_journal_reader_open(bm->j, bm->last + 1, &nr) == 0) {
				flush_batch(b, mb);
				loafre_journal_reader_close(mb->ecur[k]);
				mb->ecur[k] = nr;
				mb->enext[k] = bm->last + 1;
				struct loafre__bp_msg gap = {.cmd = LOAFRE__BP_GAP, .mdt = bm->id,
							     .lost = lost};
				send_msg(b, mb, mb->rid, mb->rid_len, &gap);
			}
		}
		while (mb->credit > 0) {
			int r = loafre_journal_reader_next(mb->ecur[k], &rec, &raw, &len);
			if (r < 0)
				break;
			if (batch_add(b, mb, bm->id, raw, len, NULL) < 0)
				break;
			mb->enext[k] = rec.index + 1;
			mb->credit--;
		}
		flush_batch(b, mb);
	}
}

/* ---- the loop --------------------------------------------------------------- */

static void tail_read(struct loafre__broker *b)
{
	for (size_t k = 0; k < b->n_mdts; k++) {
		struct bmdt *bm = &b->mdts[k];
		struct loafre_rec rec;
		while (loafre_journal_reader_next(bm->tail, &rec, NULL, NULL) == 0)
			if (rec.index > bm->last)
				bm->last = rec.index;
		loafre_journal_reader_rearm(bm->tail);
	}
}

static void heartbeats(struct loafre__broker *b, uint64_t now)
{
	struct member *mb = b->members, *next;

	for (; mb; mb = next) {
		next = mb->next;
		if (now - mb->last_recv_ms > 3ull * mb->hb_ms) {
			member_drop(b, mb, "silent for 3 heartbeats: dead");
			continue;
		}
		if (now - mb->last_send_ms >= mb->hb_ms) {
			struct loafre__bp_msg ping = {.cmd = LOAFRE__BP_PING};
			send_msg(b, mb, mb->rid, mb->rid_len, &ping);
		}
	}
}

static void update_stats(struct loafre__broker *b)
{
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	struct timespec ts;
	double wall;

	clock_gettime(CLOCK_REALTIME, &ts);
	wall = (double)ts.tv_sec + ts.tv_nsec / 1e9;

#define ADD(...)                                                                          \
	do {                                                                              \
		int n_;                                                                   \
		for (;;) {                                                                \
			if (!s)                                                           \
				return;                                                   \
			n_ = snprintf(s + len, cap - len, __VA_ARGS__);                   \
			if (n_ >= 0 && (size_t)n_ < cap - len)                            \
				break;                                                    \
			char *ns_ = realloc(s, cap * 2);                                  \
			if (!ns_) {                                                       \
				free(s);                                                  \
				return;                                                   \
			}                                                                 \
			s = ns_;                                                          \
			cap *= 2;                                                         \
		}                                                                         \
		len += (size_t)n_;                                                        \
	} while (0)

	for (struct group *g = b->groups; g; g = g->next) {
		ADD("broker.group.%s.members %zu\n", g->name, g->members);
		ADD("broker.group.%s.inflight %llu\n", g->name, (unsigned long long)g->inflight);
		ADD("broker.group.%s.redelivered %llu\n", g->name,
		    (unsigned long long)g->redelivered);
		ADD("broker.group.%s.dropped %llu\n", g->name, (unsigned long long)g->dropped);
		ADD("broker.group.%s.covered %llu\n", g->name, (unsigned long long)g->covered);
		ADD("broker.group.%s.declared %d\n", g->name, g->declared ? 1 : 0);
		if (g->paths) {
			ADD("broker.group.%s.paths_fs %s\n", g->name, b->fs[g->pfs].name);
			ADD("broker.group.%s.paths_building %d\n", g->name, g->pbuild ? 1 : 0);
			ADD("broker.group.%s.paths_dirs %llu\n", g->name,
			    (unsigned long long)g->paths_dirs);
			ADD("broker.group.%s.barriers %llu\n", g->name, (unsigned long long)g->barriers);
		}
		for (size_t k = 0; k < b->n_mdts; k++) {
			const struct gmdt *gm = &g->m[k];
			uint64_t lag = b->mdts[k].last > gm->pos ? b->mdts[k].last - gm->pos : 0;
			double lag_s = 0;

			ADD("broker.group.%s.position.%s %llu\n", g->name, b->mdts[k].name,
			    (unsigned long long)gm->pos);
			ADD("broker.group.%s.lag.%s %llu\n", g->name, b->mdts[k].name,
			    (unsigned long long)lag);
			/* lag in seconds: age of the oldest record not yet acked */
			if (lag && gm->pos < gm->read_upto) {
				const struct slot *sl = &gm->ring[(gm->pos + 1) & (b->W - 1)];
				if (sl->time) {
					double t = (double)loafre_cl_time_sec(sl->time) +
						   loafre_cl_time_nsec(sl->time) / 1e9;
					lag_s = wall - t > 0 ? wall - t : 0;
				}
			}
			ADD("broker.group.%s.lag_seconds.%s %.3f\n", g->name, b->mdts[k].name,
			    lag_s);
		}
	}
	for (size_t k = 0; k < b->n_mdts; k++)
		ADD("broker.mdt.%s.last %llu\n", b->mdts[k].name,
		    (unsigned long long)b->mdts[k].last);
	ADD("broker.ephemeral %zu\n", b->n_ephemeral);
	ADD("broker.bad_frames %llu\n", (unsigned long long)b->bad_frames);
	if (b->auth) {
		ADD("broker.curve.accepted %llu\n",
		    (unsigned long long)loafre__broker_auth_accepted(b->auth));
		ADD("broker.curve.refused %llu\n",
		    (unsigned long long)loafre__broker_auth_refused(b->auth));
	}
#undef ADD
	pthread_mutex_lock(&b->stats_lock);
	free(b->stats);
	b->stats = s;
	b->stats_len = len;
	pthread_mutex_unlock(&b->stats_lock);
}

static void auth_refused(void *arg, const char *reason)
{
	struct loafre__broker *b = arg;

	b->log(LOG_WARNING, "broker: tcp client refused: %s", reason);
}

static void *broker_thread(void *arg)
{
	struct loafre__broker *b = arg;
	size_t n_items = 4 + b->n_mdts;
	zmq_pollitem_t *items = calloc(n_items, sizeof(*items));
	bool stop = false;

	if (!items) {
		b->log(LOG_ERR, "broker: out of memory; stopped");
		return NULL;
	}
	items[0] = (zmq_pollitem_t){.socket = b->sock, .events = ZMQ_POLLIN};
	items[1] = (zmq_pollitem_t){.fd = b->efd, .events = ZMQ_POLLIN};
	for (size_t k = 0; k < b->n_mdts; k++)
		items[2 + k] = (zmq_pollitem_t){.fd = loafre_journal_reader_fd(b->mdts[k].tail),
						.events = ZMQ_POLLIN};
	/* the CURVE socket and the ZAP handler, when there are (else inert) */
	items[2 + b->n_mdts] = (zmq_pollitem_t){.socket = b->csock, .fd = -1,
						.events = b->csock ? ZMQ_POLLIN : 0};
	items[3 + b->n_mdts] = (zmq_pollitem_t){
		.socket = b->auth ? loafre__broker_auth_socket(b->auth) : NULL, .fd = -1,
		.events = b->auth ? ZMQ_POLLIN : 0};
	if (!b->auth)
		n_items -= 2;
	while (!stop) {
		uint64_t now;
		long timeout = POLL_INTERVAL_MS;

		if (b->min_batch_ms && b->min_batch_ms < timeout)
			timeout = b->min_batch_ms;

		if (zmq_poll(items, (int)n_items, timeout) < 0 && zmq_errno() != EINTR) {
			b->log(LOG_ERR, "broker: poll: %s; stopped", zmq_strerror(zmq_errno()));
			break;
		}
		if (items[1].revents & ZMQ_POLLIN)
			stop = true;
		tail_read(b);
		if (b->auth)
			loafre__broker_auth_handle(b->auth, auth_refused, b);
		recv_all(b, b->sock);
		if (b->csock)
			recv_all(b, b->csock);
		b->cur_sock = NULL;
		now = now_ms();
		heartbeats(b, now);
		for (struct group *g = b->groups; g; g = g->next)
			group_pump(b, g, now);
		for (struct member *m = b->members; m; m = m->next)
			if (!m->g)
				ephemeral_pump(b, m);
		if (now >= b->next_clear_ms || stop) {
			for (struct group *g = b->groups; g; g = g->next) {
				group_clear(b, g);
				paths_tidy(b, g, now);
			}
			b->next_clear_ms = now + CLEAR_INTERVAL_MS;
		}
		if (now >= b->next_stats_ms || stop) {
			update_stats(b);
			b->next_stats_ms = now + STATS_INTERVAL_MS;
		}
	}
	free(items);
	return NULL;
}

/* ---- start / stop ---------------------------------------------------------- */

static void broker_free(struct loafre__broker *b)
{
	while (b->members) {
		struct member *m = b->members;
		b->members = m->next;
		if (!m->g)
			for (size_t k = 0; k < b->n_mdts; k++)
				loafre_journal_reader_close(m->ecur[k]);
		free(m->ecur);
		free(m->enext);
		free(m->batch);
		free(m->pbatch);
		free(m);
	}
	while (b->groups) {
		struct group *g = b->groups;
		b->groups = g->next;
		group_free(b, g);
	}
	if (b->sock)
		zmq_close(b->sock);
	if (b->csock)
		zmq_close(b->csock);
	loafre__broker_auth_stop(b->auth);
	if (b->ctx)
		zmq_ctx_term(b->ctx);
	if (b->efd >= 0)
		close(b->efd);
	for (size_t k = 0; k < b->n_mdts; k++) {
		loafre_journal_reader_close(b->mdts[k].tail);
		loafre_journal_close(b->mdts[k].j);
		loafre__fidres_close(b->mdts[k].res);
		free(b->mdts[k].name);
		free(b->mdts[k].dir);
	}
	free(b->mdts);
	for (size_t i = 0; i < b->n_fs; i++) {
		free(b->fs[i].name);
		free(b->fs[i].path);
		free(b->fs[i].journal);
	}
	free(b->fs);
	for (size_t i = 0; i < b->n_endpoints; i++)
		free(b->endpoints[i]);
	free(b->endpoints);
	free(b->stats);
	pthread_mutex_destroy(&b->stats_lock);
	free(b);
}

int loafre__broker_start(const struct loafre_config *cfg, loafre__broker_log_fn log,
			 struct loafre__broker **ret, char *err, size_t errlen)
{
	struct loafre__broker *b = calloc(1, sizeof(*b));
	const struct loafre_broker_config *bc = &cfg->broker;
	size_t n = 0;
	int r = 0, zero = 0, linger = 0;
	int64_t maxmsg = 1 << 20;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&b->stats_lock, NULL);
	b->log = log;
	b->efd = -1;
	b->max_credit = bc->max_credit ? bc->max_credit : LOAFRE_BROKER_DEFAULT_MAX_CREDIT;
	b->heartbeat_ms = bc->heartbeat_ms ? bc->heartbeat_ms : LOAFRE_BROKER_DEFAULT_HEARTBEAT_MS;
	b->window = bc->ephemeral_window ? bc->ephemeral_window
					 : LOAFRE_BROKER_DEFAULT_EPHEMERAL_WINDOW;
	b->W = 1;
	while (b->W < 4ull * b->max_credit || b->W < 65536)
		b->W <<= 1;
	for (size_t i = 0; i < cfg->n_fs; i++)
		n += cfg->fs[i].n_mdts;
	b->mdts = calloc(n ? n : 1, sizeof(*b->mdts));
	b->fs = calloc(cfg->n_fs ? cfg->n_fs : 1, sizeof(*b->fs));
	b->endpoints = calloc(bc->n_endpoints ? bc->n_endpoints : 1, sizeof(char *));
	if (!b->mdts || !b->fs || !b->endpoints) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_fs; i++) {
		const struct loafre_fs_config *fs = &cfg->fs[i];
		struct bfs *bf = &b->fs[b->n_fs++];

		bf->type = fs->type;
		bf->first_mdt = b->n_mdts;
		bf->n_mdts = fs->n_mdts;
		bf->name = strdup(fs->name);
		bf->path = strdup(fs->path);
		bf->journal = strdup(fs->journal);
		if (!bf->name || !bf->path || !bf->journal) {
			snprintf(err, errlen, "out of memory");
			r = -ENOMEM;
			goto fail;
		}
		for (size_t k = 0; k < fs->n_mdts; k++) {
			struct bmdt *bm = &b->mdts[b->n_mdts];
			struct loafre_journal_info info;

			bm->id = (uint32_t)b->n_mdts;
			bm->fs = i;
			bm->name = strdup(fs->mdts[k]);
			bm->dir = strdup(fs->mdt_journals[k]);
			b->n_mdts++;
			if (!bm->name || !bm->dir) {
				snprintf(err, errlen, "out of memory");
				r = -ENOMEM;
				goto fail;
			}
			r = loafre_journal_open(bm->dir, bm->name, 0, NULL, &bm->j);
			if (r == 0)
				r = loafre_journal_info(bm->j, &info);
			if (r == 0) {
				bm->last = info.last_index;
				r = loafre_journal_reader_open(bm->j, info.last_index + 1, &bm->tail);
			}
			if (r < 0) {
				snprintf(err, errlen, "cannot open journal '%s': %s", bm->dir,
					 strerror(-r));
				goto fail;
			}
		}
	}
	for (size_t k = 0, i = 0; i < cfg->n_fs; i++) {
		for (size_t m = 0; m < cfg->fs[i].n_mdts; m++, k++) {
			/* only the subtree module needs it; a tree that cannot be
			 * opened resolves nothing (subtree then keeps nothing) */
			if (loafre__fidres_open(&cfg->fs[i], &b->mdts[k].res) < 0)
				b->mdts[k].res = NULL;
		}
	}
	for (size_t i = 0; i < cfg->n_groups; i++) {
		r = group_declare(b, cfg, &cfg->groups[i], err, errlen);
		if (r < 0)
			goto fail;
	}
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b->ctx = zmq_ctx_new();
	b->sock = b->ctx ? zmq_socket(b->ctx, ZMQ_ROUTER) : NULL;
	if (b->efd < 0 || !b->sock) {
		r = -errno ? -errno : -ENOMEM;
		snprintf(err, errlen, "cannot create the socket: %s", strerror(-r));
		goto fail;
	}
	r = loafre__broker_auth_start(b->ctx, bc, &b->auth, err, errlen);
	if (r < 0)
		goto fail;
	if (b->auth) {
		b->csock = zmq_socket(b->ctx, ZMQ_ROUTER);
		if (!b->csock) {
			r = -zmq_errno();
			snprintf(err, errlen, "cannot create the CURVE socket: %s", zmq_strerror(-r));
			goto fail;
		}
		r = loafre__broker_auth_server(b->auth, b->csock);
		if (r < 0) {
			snprintf(err, errlen, "cannot make the CURVE socket a server: %s",
				 strerror(-r));
			goto fail;
		}
	}
	for (int s = 0; s < 2; s++) {
		void *so = s == 0 ? b->sock : b->csock;
		if (!so)
			continue;
		zmq_setsockopt(so, ZMQ_SNDHWM, &zero, sizeof(zero)); /* bounded by credits */
		zmq_setsockopt(so, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_setsockopt(so, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	}
	for (size_t i = 0; i < bc->n_endpoints; i++) {
		const char *ep = bc->endpoints[i];
		mode_t old = 0;
		bool ipc = strncmp(ep, "ipc://", 6) == 0;
		/* with CURVE, every tcp:// endpoint is on the CURVE socket */
		void *so = b->csock && strncmp(ep, "tcp://", 6) == 0 ? b->csock : b->sock;
		if (ipc)
			old = umask(0117); /* 0660 sockets; umask is per process: brief */
		r = zmq_bind(so, ep);
		if (ipc) {
			umask(old);
			if (r == 0)
				chmod(ep + 6, 0660);
		}
		if (r < 0) {
			r = -zmq_errno();
			snprintf(err, errlen, "cannot bind %s: %s", ep, zmq_strerror(-r));
			goto fail;
		}
		b->endpoints[b->n_endpoints++] = strdup(ep);
	}
	update_stats(b);
	r = -pthread_create(&b->thread, NULL, broker_thread, b);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the thread: %s", strerror(-r));
		goto fail;
	}
	b->thread_started = true;
	*ret = b;
	return 0;
fail:
	broker_free(b);
	return r < 0 ? r : -EINVAL;
}

void loafre__broker_stop(struct loafre__broker *b)
{
	uint64_t one = 1;

	if (!b)
		return;
	if (b->thread_started) {
		if (write(b->efd, &one, sizeof(one)) < 0) {
			/* an eventfd write cannot fail short of overflow */
		}
		pthread_join(b->thread, NULL);
	}
	for (size_t i = 0; i < b->n_endpoints; i++)
		if (strncmp(b->endpoints[i], "ipc://", 6) == 0)
			unlink(b->endpoints[i] + 6);
	broker_free(b);
}

int loafre__broker_stats(struct loafre__broker *b, char *buf, size_t cap, size_t *len)
{
	int r = 0;

	if (!b)
		return 0;
	pthread_mutex_lock(&b->stats_lock);
	if (b->stats && *len < cap) {
		size_t room = cap - *len - 1, n = b->stats_len;
		if (n > room) {
			while (n > 0 && (n > room || b->stats[n - 1] != '\n'))
				n--;
			r = -ENOBUFS;
		}
		memcpy(buf + *len, b->stats, n);
		*len += n;
		buf[*len] = '\0';
	}
	pthread_mutex_unlock(&b->stats_lock);
	return r;
}
