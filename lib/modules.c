/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * modules.c — the per-group processing pipeline (loafre/modules.h).
 *
 * SPECIFICATION
 *
 * Input: a batch (the window) of records of ONE MDT, strictly increasing
 * cr_index, identified by their position 0..n-1. Every record starts
 * "alive". Modules run in the configured order; each sees only the records
 * still alive after the previous ones. A record is dropped at most once,
 * with a cover: ACK_NOW, or the position of a record alive at that moment
 * that absorbs it. At the end covers are resolved transitively (a record
 * covered by one that a later module drops takes that one's cover), so
 * every dropped record is covered by a delivered record or is ACK_NOW.
 * Ack-coverage rule: acking delivered record k acks its own position and
 * every position it covers; ACK_NOW positions are acked when the batch is
 * delivered. The broker may then clear upstream index X once every position
 * whose index is <= X is acked. Hence acking every delivered record acks
 * every input position.
 *
 * MARK records (tfid is not a FID) are never touched by the FID-based
 * modules (fid, subtree, cancel, collapse): only `types` can drop them.
 * Zero FIDs never match anything.
 *
 * types = MASK   loafre_cl_mask_parse(MASK, base = LOAFRE_CL_MASK_ALL)
 *     (so "CREAT UNLNK" also keeps MARK, as Lustre's absolute masks do;
 *     "-MARK" style relative masks start from everything). Keeps records
 *     whose type bit is set; unknown types (>= CL_LAST) are dropped.
 *     Dropped: ACK_NOW.
 * fid = FID...   keeps a record if tfid, pfid, sfid or spfid is listed.
 *     Dropped: ACK_NOW.
 * subtree = DIR  keeps a record if one of its non-zero FIDs among tfid,
 *     pfid, sfid, spfid equals DIR or under(ctx, DIR, fid) == 1 (asked in
 *     that order, stopping at the first yes). A negative answer fails the
 *     whole batch with that errno. Dropped: ACK_NOW.
 * cancel: for a FID F created in the window by CREAT, SLINK or MKNOD (at
 *     position c) and then destroyed by the first UNLNK of F carrying
 *     CLF_UNLINK_LAST (at d) — or created by MKDIR and destroyed by RMDIR —
 *     with nothing significant between them, drops c, d and every record
 *     between them whose tfid is F and whose type is CLOSE, MTIME, TRUNC,
 *     SATTR, CTIME or XATTR. Significant, for F, between c and d: any other
 *     record naming F: another type with tfid F (RENME, HLINK, OPEN, LAYOUT,
 *     HSM, a second creation, a non-last UNLNK, an RMDIR of a file, ...), or
 *     F as pfid (something created/removed/changed inside F), sfid or spfid
 *     of any record. Then nothing is cancelled for F. Dropped: ACK_NOW
 *     (nothing remains to absorb them; no consumer needs them, so they are
 *     acked when the batch is delivered).
 * collapse: per tfid F, two independent runs: DATA = CLOSE, MTIME, TRUNC;
 *     ATTR = SATTR, CTIME. When a record of a class arrives and the run of
 *     that class for F already holds a record, that earlier record is
 *     dropped, covered by the new one: only the LAST record of a run is
 *     kept, so the consumer still sees "data changed" / "attributes
 *     changed" after the last change, and the creation (CREAT etc., never
 *     dropped by collapse) before it. A run of F is broken (both classes)
 *     by any record naming F in a namespace role: RENME, EXT, UNLNK, RMDIR,
 *     HLINK with tfid F, or F as sfid/spfid. Other FIDs' records in between
 *     break nothing.
 * fields = F...: remaps every alive record (loafre_rec_remap) to carry
 *     exactly: CLF_RENAME if it is a RENME that has it; CLF_JOBID if jobid
 *     is requested; CLF_EXTRA_FLAGS with the requested CLFE_* bits (uidgid
 *     UIDGID, nid NID, openmode OPEN, xattr XATTR) if any is requested.
 *     Later modules see the remapped record. Drops nothing.
 *
 * Memory: all per-batch state lives in scratch arrays owned by the
 * pipeline, grown (never shrunk) to the largest batch; no allocation per
 * record. FID lookups use an open-addressing table of 2^k >= 2n slots.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loafre/modules.h"
#include "util.h"

enum mod_kind { MOD_TYPES, MOD_FID, MOD_SUBTREE, MOD_CANCEL, MOD_COLLAPSE, MOD_FIELDS };

struct mod {
	enum mod_kind kind;       /* which module */
	uint32_t mask;            /* MOD_TYPES: type mask */
	struct loafre_fid *fids;  /* MOD_FID: sorted list (owned); NULL otherwise */
	size_t nfids;             /* MOD_FID: entries in fids */
	struct loafre_fid dir;    /* MOD_SUBTREE: the directory */
	uint16_t clf_want;        /* MOD_FIELDS: CLF_JOBID / CLF_EXTRA_FLAGS wanted */
	uint64_t clfe_want;       /* MOD_FIELDS: CLFE_* wanted */
};

/* One FID's state in the per-pass table. */
struct fid_ent {
	struct loafre_fid fid; /* key */
	uint32_t a;            /* cancel: creation position; collapse: DATA run tail */
	uint32_t b;            /* cancel: destruction position; collapse: ATTR run tail */
	uint8_t state;         /* cancel: ST_*; unused by collapse */
};

#define NONE UINT32_MAX
#define DELIVERED (UINT32_MAX - 1) /* internal cover value of an alive record */
enum { ST_OPEN = 1, ST_SPOILED = 2, ST_CANCEL = 3 };

struct loafre_modules {
	struct mod mods[LOAFRE_MOD_MAX]; /* the configured modules, in order */
	size_t nmods;                    /* modules in mods */
	loafre_modules_under_fn under;   /* subtree callback (may be NULL) */
	void *ctx;                       /* its argument (borrowed) */
	bool has_fields;                 /* some module is MOD_FIELDS */
	/* Scratch, sized for `cap` records (tab_slots slots). */
	size_t cap;                      /* records the scratch holds */
	uint32_t *cover;                 /* [cap] DELIVERED, ACK_NOW or position */
	uint32_t *deliver;               /* [cap] delivered positions */
	const struct loafre_rec **view;  /* [cap] current view of each record */
	const struct loafre_rec **outrec; /* [cap] out.rec */
	struct loafre_rec *work;         /* [cap] remapped copies (fields only) */
	uint32_t *acknow;                /* [cap] ACK_NOW positions */
	uint32_t *acked_start;           /* [cap + 1] CSR offsets */
	uint32_t *acked;                 /* [cap] CSR positions */
	uint32_t *slot_of;               /* [cap] delivered slot of a position */
	struct fid_ent *ents;            /* [cap] table entries */
	uint32_t *tab;                   /* [tab_slots] entry index + 1, 0 empty */
	size_t tab_slots;                /* power of two >= 2 * cap */
	size_t nents;                    /* entries in use this pass */
};

/* ---- configuration ---------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_sep(char c)
{
	return is_blank(c) || c == ',';
}

static int fid_cmp(const void *a, const void *b)
{
	const struct loafre_fid *x = a, *y = b;

	if (x->f_seq != y->f_seq)
		return x->f_seq < y->f_seq ? -1 : 1;
	if (x->f_oid != y->f_oid)
		return x->f_oid < y->f_oid ? -1 : 1;
	if (x->f_ver != y->f_ver)
		return x->f_ver < y->f_ver ? -1 : 1;
	return 0;
}

/* Parses a blank/comma separated FID list of value[0..len) into a new
 * sorted array. */
static int parse_fids(const char *v, size_t len, size_t max, struct loafre_fid **ret_fids,
		      size_t *ret_n, char *err, size_t errlen, size_t mi, const char *name)
{
	struct loafre_fid *fids = NULL;
	size_t n = 0, i = 0;
	int r;

	fids = malloc(max * sizeof(*fids));
	if (!fids)
		return -ENOMEM;
	while (i < len) {
		size_t s;

		while (i < len && is_sep(v[i]))
			i++;
		if (i == len)
			break;
		s = i;
		while (i < len && !is_sep(v[i]))
			i++;
		if (n == max) {
			seterr(err, errlen, "module %zu (%s): more than %zu FIDs", mi, name, max);
			r = max == 1 ? -EINVAL : -E2BIG;
			goto fail;
		}
		if (loafre_fid_parse(v + s, i - s, &fids[n]) < 0 || loafre_fid_is_zero(&fids[n])) {
			seterr(err, errlen, "module %zu (%s): bad FID '%.*s'", mi, name,
			       (int)(i - s > 64 ? 64 : i - s), v + s);
			r = -EINVAL;
			goto fail;
		}
		n++;
	}
	if (n == 0) {
		seterr(err, errlen, "module %zu (%s): no FID given", mi, name);
		r = -EINVAL;
		goto fail;
	}
	qsort(fids, n, sizeof(*fids), fid_cmp);
	*ret_fids = fids;
	*ret_n = n;
	return 0;
fail:
	free(fids);
	return r;
}

static int parse_fields(const char *v, size_t len, struct mod *m, char *err, size_t errlen,
			size_t mi)
{
	static const struct {
		const char *name;
		uint64_t clfe;
	} names[] = {
		{"uidgid", LOAFRE_CLFE_UIDGID},
		{"nid", LOAFRE_CLFE_NID},
		{"openmode", LOAFRE_CLFE_OPEN},
		{"xattr", LOAFRE_CLFE_XATTR},
	};
	size_t i = 0, ntok = 0;
	bool none = false;

	m->clf_want = 0;
	m->clfe_want = 0;
	while (i < len) {
		size_t s, tl;
		bool found = false;

		while (i < len && is_sep(v[i]))
			i++;
		if (i == len)
			break;
		s = i;
		while (i < len && !is_sep(v[i]))
			i++;
		tl = i - s;
		ntok++;
		if (tl == 5 && memcmp(v + s, "jobid", 5) == 0) {
			m->clf_want |= LOAFRE_CLF_JOBID;
			found = true;
		} else if (tl == 4 && memcmp(v + s, "none", 4) == 0) {
			none = true;
			found = true;
		}
		for (size_t k = 0; !found && k < LOAFRE__ARRAY_SIZE(names); k++) {
			if (strlen(names[k].name) == tl && memcmp(v + s, names[k].name, tl) == 0) {
				m->clfe_want |= names[k].clfe;
				found = true;
			}
		}
		if (!found) {
			seterr(err, errlen,
			       "module %zu (fields): unknown field '%.*s' "
			       "(jobid uidgid nid openmode xattr none)",
			       mi, (int)(tl > 64 ? 64 : tl), v + s);
			return -EINVAL;
		}
	}
	if (ntok == 0 || (none && ntok > 1)) {
		seterr(err, errlen, "module %zu (fields): %s", mi,
		       ntok ? "'none' must stand alone" : "no field given");
		return -EINVAL;
	}
	if (m->clfe_want)
		m->clf_want |= LOAFRE_CLF_EXTRA_FLAGS;
	return 0;
}

/* Parses spec number mi (1-based in messages) into *m. */
static int parse_spec(const char *spec, struct mod *m, bool have_under, char *err,
		      size_t errlen, size_t mi)
{
	static const struct {
		const char *name;
		enum mod_kind kind;
		bool value;
	} kinds[] = {
		{"types", MOD_TYPES, true},   {"fid", MOD_FID, true},
		{"subtree", MOD_SUBTREE, true}, {"cancel", MOD_CANCEL, false},
		{"collapse", MOD_COLLAPSE, false}, {"fields", MOD_FIELDS, true},
	};
	size_t len, i = 0, ns, nl, vs, ve;
	const char *name = NULL;
	bool want_value = false;
	int r;

	if (!spec) {
		seterr(err, errlen, "module %zu: missing spec", mi);
		return -EINVAL;
	}
	len = strnlen(spec, LOAFRE_MOD_SPEC_MAX + 1);
	if (len > LOAFRE_MOD_SPEC_MAX) {
		seterr(err, errlen, "module %zu: spec longer than %d bytes", mi,
		       LOAFRE_MOD_SPEC_MAX);
		return -E2BIG;
	}
	while (i < len && is_blank(spec[i]))
		i++;
	ns = i;
	while (i < len && !is_blank(spec[i]) && spec[i] != '=')
		i++;
	nl = i - ns;
	for (size_t k = 0; k < LOAFRE__ARRAY_SIZE(kinds); k++) {
		if (strlen(kinds[k].name) == nl && memcmp(spec + ns, kinds[k].name, nl) == 0) {
			name = kinds[k].name;
			m->kind = kinds[k].kind;
			want_value = kinds[k].value;
		}
	}
	if (!name) {
		seterr(err, errlen,
		       "module %zu: unknown module '%.*s' "
		       "(types fid subtree cancel collapse fields)",
		       mi, (int)(nl > 64 ? 64 : nl), spec + ns);
		return -EINVAL;
	}
	while (i < len && is_blank(spec[i]))
		i++;
	vs = ve = i;
	if (i < len && spec[i] == '=') {
		i++;
		while (i < len && is_blank(spec[i]))
			i++;
		vs = i;
		ve = len;
		while (ve > vs && is_blank(spec[ve - 1]))
			ve--;
		if (!want_value) {
			seterr(err, errlen, "module %zu (%s): takes no value", mi, name);
			return -EINVAL;
		}
	} else if (i < len) {
		seterr(err, errlen, "module %zu (%s): expected '=' after the name", mi, name);
		return -EINVAL;
	}
	if (want_value && ve == vs) {
		seterr(err, errlen, "module %zu (%s): needs a value", mi, name);
		return -EINVAL;
	}

	switch (m->kind) {
	case MOD_TYPES: {
		/* loafre_cl_mask_parse wants a NUL-terminated string: the value
		 * runs to the end of spec but for trailing blanks, which it skips. */
		r = loafre_cl_mask_parse(spec + vs, LOAFRE_CL_MASK_ALL, &m->mask);
		if (r < 0) {
			seterr(err, errlen, "module %zu (types): bad type mask '%.*s'", mi,
			       (int)(ve - vs > 128 ? 128 : ve - vs), spec + vs);
			return -EINVAL;
		}
		return 0;
	}
	case MOD_FID:
		return parse_fids(spec + vs, ve - vs, LOAFRE_MOD_FIDS_MAX, &m->fids, &m->nfids, err,
				  errlen, mi, name);
	case MOD_SUBTREE: {
		struct loafre_fid *one = NULL;
		size_t n1;

		if (!have_under) {
			seterr(err, errlen, "module %zu (subtree): no subtree callback given", mi);
			return -EINVAL;
		}
		r = parse_fids(spec + vs, ve - vs, 1, &one, &n1, err, errlen, mi, name);
		if (r < 0)
			return r;
		m->dir = one[0];
		free(one);
		return 0;
	}
	case MOD_FIELDS:
		return parse_fields(spec + vs, ve - vs, m, err, errlen, mi);
	case MOD_CANCEL:
	case MOD_COLLAPSE:
		return 0;
	}
	return -EINVAL;
}

int loafre_modules_new(const char *const *specs, size_t nspecs, loafre_modules_under_fn under,
		       void *ctx, char *err, size_t errlen, struct loafre_modules **ret_p)
{
	struct loafre_modules *p = NULL;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (nspecs > LOAFRE_MOD_MAX) {
		seterr(err, errlen, "too many modules (%zu > %d)", nspecs, LOAFRE_MOD_MAX);
		return -E2BIG;
	}
	if (nspecs && !specs) {
		seterr(err, errlen, "no module specs");
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->under = under;
	p->ctx = ctx;
	for (size_t i = 0; i < nspecs; i++) {
		r = parse_spec(specs[i], &p->mods[i], under != NULL, err, errlen, i + 1);
		if (r < 0)
			goto fail;
		p->nmods = i + 1;
		if (p->mods[i].kind == MOD_FIELDS)
			p->has_fields = true;
	}
	*ret_p = p;
	return 0;
fail:
	loafre_modules_free(p);
	return r;
}

void loafre_modules_free(struct loafre_modules *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nmods; i++)
		free(p->mods[i].fids);
	free(p->cover);
	free(p->deliver);
	free(p->view);
	free(p->outrec);
	free(p->work);
	free(p->acknow);
	free(p->acked_start);
	free(p->acked);
	free(p->slot_of);
	free(p->ents);
	free(p->tab);
	free(p);
}

/* ---- scratch ------------------------------------------------------------ */

static int grow(void **ptr, size_t n, size_t size)
{
	void *q = realloc(*ptr, n * size);

	if (!q)
		return -ENOMEM;
	*ptr = q;
	return 0;
}

static int reserve(struct loafre_modules *p, size_t n)
{
	size_t cap = p->cap ? p->cap : 64, slots = 2;
	int r = 0;

	if (n <= p->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	if (cap > LOAFRE_MOD_BATCH_MAX)
		cap = LOAFRE_MOD_BATCH_MAX;
	while (slots < 2 * cap)
		slots *= 2;
	/* Each array is grown independently: on failure p->cap stays, and the
	 * arrays already grown are merely larger than needed. */
	if ((r = grow((void **)&p->cover, cap, sizeof(*p->cover))) < 0 ||
	    (r = grow((void **)&p->deliver, cap, sizeof(*p->deliver))) < 0 ||
	    (r = grow((void **)&p->view, cap, sizeof(*p->view))) < 0 ||
	    (r = grow((void **)&p->outrec, cap, sizeof(*p->outrec))) < 0 ||
	    (r = grow((void **)&p->acknow, cap, sizeof(*p->acknow))) < 0 ||
	    (r = grow((void **)&p->acked_start, cap + 1, sizeof(*p->acked_start))) < 0 ||
	    (r = grow((void **)&p->acked, cap, sizeof(*p->acked))) < 0 ||
	    (r = grow((void **)&p->slot_of, cap, sizeof(*p->slot_of))) < 0 ||
	    (r = grow((void **)&p->ents, cap, sizeof(*p->ents))) < 0 ||
	    (r = grow((void **)&p->tab, slots, sizeof(*p->tab))) < 0 ||
	    (p->has_fields && (r = grow((void **)&p->work, cap, sizeof(*p->work))) < 0))
		return r;
	p->cap = cap;
	p->tab_slots = slots;
	return 0;
}

/* ---- FID table ---------------------------------------------------------- */

static void tab_clear(struct loafre_modules *p)
{
	memset(p->tab, 0, p->tab_slots * sizeof(*p->tab));
	p->nents = 0;
}

static size_t fid_hash(const struct loafre_fid *f)
{
	uint64_t h = f->f_seq * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)f->f_oid << 32 | f->f_ver) * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	return (size_t)h;
}

/* Finds F's entry; creates it (zeroed but for the key) when `create`.
 * NULL if absent (or for a zero FID). Never fails to create: there are at
 * most n entries per pass and 2n slots. */
static struct fid_ent *tab_get(struct loafre_modules *p, const struct loafre_fid *f, bool create)
{
	size_t mask = p->tab_slots - 1, s;

	if (loafre_fid_is_zero(f))
		return NULL;
	for (s = fid_hash(f) & mask;; s = (s + 1) & mask) {
		uint32_t e = p->tab[s];

		if (e == 0)
			break;
		if (loafre_fid_equal(&p->ents[e - 1].fid, f))
			return &p->ents[e - 1];
	}
	if (!create || p->nents >= p->cap)
		return NULL;
	p->ents[p->nents] = (struct fid_ent){.fid = *f, .a = NONE, .b = NONE, .state = 0};
	p->tab[s] = (uint32_t)++p->nents;
	return &p->ents[p->nents - 1];
}

/* ---- modules -------------------------------------------------------------- */

static bool alive(const struct loafre_modules *p, size_t i)
{
	return p->cover[i] == DELIVERED;
}

static void drop(struct loafre_modules *p, size_t i, uint32_t cover)
{
	p->cover[i] = cover;
}

static bool in_fids(const struct mod *m, const struct loafre_fid *f)
{
	return !loafre_fid_is_zero(f) && bsearch(f, m->fids, m->nfids, sizeof(*f), fid_cmp);
}

static void run_fid(struct loafre_modules *p, const struct mod *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct loafre_rec *r = p->view[i];

		if (!alive(p, i) || r->type == LOAFRE_CL_MARK)
			continue;
		if (!in_fids(m, &r->tfid) && !in_fids(m, &r->pfid) && !in_fids(m, &r->sfid) &&
		    !in_fids(m, &r->spfid))
			drop(p, i, LOAFRE_MOD_ACK_NOW);
	}
}

static int run_subtree(struct loafre_modules *p, const struct mod *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct loafre_rec *r = p->view[i];
		const struct loafre_fid *f[4] = {&r->tfid, &r->pfid, &r->sfid, &r->spfid};
		bool keep = false;

		if (!alive(p, i) || r->type == LOAFRE_CL_MARK)
			continue;
		for (size_t k = 0; k < 4 && !keep; k++) {
			int u;

			if (loafre_fid_is_zero(f[k]))
				continue;
			if (loafre_fid_equal(f[k], &m->dir)) {
				keep = true;
				break;
			}
			u = p->under(p->ctx, &m->dir, f[k]);
			if (u < 0)
				return u;
			keep = u > 0;
		}
		if (!keep)
			drop(p, i, LOAFRE_MOD_ACK_NOW);
	}
	return 0;
}

static bool is_creation(uint32_t t)
{
	return t == LOAFRE_CL_CREATE || t == LOAFRE_CL_MKDIR || t == LOAFRE_CL_SOFTLINK ||
	       t == LOAFRE_CL_MKNOD;
}

static bool cancel_data(uint32_t t)
{
	return t == LOAFRE_CL_CLOSE || t == LOAFRE_CL_MTIME || t == LOAFRE_CL_TRUNC ||
	       t == LOAFRE_CL_SETATTR || t == LOAFRE_CL_CTIME || t == LOAFRE_CL_SETXATTR;
}

static void spoil(struct loafre_modules *p, const struct loafre_fid *f)
{
	struct fid_ent *e = tab_get(p, f, false);

	if (e && e->state == ST_OPEN)
		e->state = ST_SPOILED;
}

static void run_cancel(struct loafre_modules *p, size_t n)
{
	tab_clear(p);
	/* Pass 1: decide, per created FID, whether its pair cancels. */
	for (size_t i = 0; i < n; i++) {
		const struct loafre_rec *r = p->view[i];
		struct fid_ent *e;

		if (!alive(p, i) || r->type == LOAFRE_CL_MARK)
			continue;
		spoil(p, &r->pfid);
		spoil(p, &r->sfid);
		spoil(p, &r->spfid);
		e = tab_get(p, &r->tfid, false);
		if (!e) {
			if (is_creation(r->type) && (e = tab_get(p, &r->tfid, true))) {
				e->state = ST_OPEN;
				e->a = (uint32_t)i;
			}
			continue;
		}
		if (e->state != ST_OPEN)
			continue;
		if (cancel_data(r->type))
			continue;
		if (r->type == LOAFRE_CL_RMDIR && p->view[e->a]->type == LOAFRE_CL_MKDIR) {
			e->state = ST_CANCEL;
			e->b = (uint32_t)i;
		} else if (r->type == LOAFRE_CL_UNLINK && p->view[e->a]->type != LOAFRE_CL_MKDIR &&
			   (r->flags & LOAFRE_CLF_UNLINK_LAST)) {
			e->state = ST_CANCEL;
			e->b = (uint32_t)i;
		} else {
			e->state = ST_SPOILED;
		}
	}
	/* Pass 2: drop the cancelled pairs and the data records between. */
	for (size_t i = 0; i < n; i++) {
		const struct loafre_rec *r = p->view[i];
		struct fid_ent *e;

		if (!alive(p, i) || r->type == LOAFRE_CL_MARK)
			continue;
		e = tab_get(p, &r->tfid, false);
		if (!e || e->state != ST_CANCEL || i < e->a || i > e->b)
			continue;
		if (i == e->a || i == e->b || cancel_data(r->type))
			drop(p, i, LOAFRE_MOD_ACK_NOW);
	}
}

static void run_collapse(struct loafre_modules *p, size_t n)
{
	tab_clear(p);
	for (size_t i = 0; i < n; i++) {
		const struct loafre_rec *r = p->view[i];
		struct fid_ent *e;
		uint32_t t = r->type;

		if (!alive(p, i) || t == LOAFRE_CL_MARK)
			continue;
		/* Namespace roles break the runs of the FIDs involved. */
		if ((e = tab_get(p, &r->sfid, false)))
			e->a = e->b = NONE;
		if ((e = tab_get(p, &r->spfid, false)))
			e->a = e->b = NONE;
		if (t == LOAFRE_CL_RENAME || t == LOAFRE_CL_EXT || t == LOAFRE_CL_UNLINK ||
		    t == LOAFRE_CL_RMDIR || t == LOAFRE_CL_HARDLINK) {
			if ((e = tab_get(p, &r->tfid, false)))
				e->a = e->b = NONE;
			continue;
		}
		if (t == LOAFRE_CL_CLOSE || t == LOAFRE_CL_MTIME || t == LOAFRE_CL_TRUNC) {
			if (!(e = tab_get(p, &r->tfid, true)))
				continue;
			if (e->a != NONE)
				drop(p, e->a, (uint32_t)i);
			e->a = (uint32_t)i;
		} else if (t == LOAFRE_CL_SETATTR || t == LOAFRE_CL_CTIME) {
			if (!(e = tab_get(p, &r->tfid, true)))
				continue;
			if (e->b != NONE)
				drop(p, e->b, (uint32_t)i);
			e->b = (uint32_t)i;
		}
	}
}

static void run_fields(struct loafre_modules *p, const struct mod *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint16_t want = m->clf_want;

		if (!alive(p, i))
			continue;
		if (p->view[i] != &p->work[i]) {
			p->work[i] = *p->view[i];
			p->view[i] = &p->work[i];
		}
		if (p->work[i].type == LOAFRE_CL_RENAME && (p->work[i].flags & LOAFRE_CLF_RENAME))
			want |= LOAFRE_CLF_RENAME;
		loafre_rec_remap(&p->work[i], want, m->clfe_want);
	}
}

/* ---- the batch ------------------------------------------------------------ */

/* Final cover of position i: DELIVERED's position or ACK_NOW, compressing
 * the chain behind it. Chains always end: a record is dropped only once and
 * only onto a record alive at that time. */
static uint32_t resolve(struct loafre_modules *p, uint32_t i)
{
	uint32_t root = i, c;

	while ((c = p->cover[root]) != DELIVERED && c != LOAFRE_MOD_ACK_NOW)
		root = c;
	c = p->cover[root] == DELIVERED ? root : LOAFRE_MOD_ACK_NOW;
	while (p->cover[i] != DELIVERED && p->cover[i] != LOAFRE_MOD_ACK_NOW) {
		uint32_t next = p->cover[i];

		p->cover[i] = c;
		i = next;
	}
	return c;
}

int loafre_modules_process(struct loafre_modules *p, const struct loafre_rec *in, size_t n,
			   struct loafre_modules_out *ret_out)
{
	size_t nd = 0, na = 0;
	int r;

	if (!p || (n && !in) || !ret_out)
		return -EINVAL;
	if (n > LOAFRE_MOD_BATCH_MAX)
		return -E2BIG;
	for (size_t i = 1; i < n; i++)
		if (in[i].index <= in[i - 1].index)
			return -EINVAL;
	r = reserve(p, n ? n : 1);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		p->cover[i] = DELIVERED;
		p->view[i] = &in[i];
	}
	for (size_t k = 0; k < p->nmods; k++) {
		const struct mod *m = &p->mods[k];

		switch (m->kind) {
		case MOD_TYPES:
			for (size_t i = 0; i < n; i++)
				if (alive(p, i) && (p->view[i]->type >= LOAFRE_CL_LAST ||
						    !(m->mask & (1u << p->view[i]->type))))
					drop(p, i, LOAFRE_MOD_ACK_NOW);
			break;
		case MOD_FID:
			run_fid(p, m, n);
			break;
		case MOD_SUBTREE:
			r = run_subtree(p, m, n);
			if (r < 0)
				return r;
			break;
		case MOD_CANCEL:
			run_cancel(p, n);
			break;
		case MOD_COLLAPSE:
			run_collapse(p, n);
			break;
		case MOD_FIELDS:
			run_fields(p, m, n);
			break;
		}
	}
	/* Delivered list, then final covers. */
	for (size_t i = 0; i < n; i++) {
		if (alive(p, i)) {
			p->slot_of[i] = (uint32_t)nd;
			p->deliver[nd] = (uint32_t)i;
			p->outrec[nd] = p->view[i];
			nd++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!alive(p, i) && resolve(p, (uint32_t)i) == LOAFRE_MOD_ACK_NOW)
			p->acknow[na++] = (uint32_t)i;
	}
	/* Acked-by lists (counting sort by covering slot). */
	memset(p->acked_start, 0, (nd + 1) * sizeof(*p->acked_start));
	for (size_t i = 0; i < n; i++) {
		uint32_t c = alive(p, i) ? (uint32_t)i : p->cover[i];

		if (c != LOAFRE_MOD_ACK_NOW)
			p->acked_start[p->slot_of[c] + 1]++;
	}
	for (size_t k = 0; k < nd; k++)
		p->acked_start[k + 1] += p->acked_start[k];
	/* Fill using slot_of as a running cursor is not possible (it is
	 * needed for the lookup), so fill from the back with a decrementing
	 * end offset kept in acked_start[k+1] and restore it afterwards. */
	for (size_t i = n; i-- > 0;) {
		uint32_t c = alive(p, i) ? (uint32_t)i : p->cover[i];

		if (c != LOAFRE_MOD_ACK_NOW)
			p->acked[--p->acked_start[p->slot_of[c] + 1]] = (uint32_t)i;
	}
	/* Now acked_start[k+1] holds the start of slot k: shift back. */
	for (size_t k = 0; k < nd; k++)
		p->acked_start[k] = p->acked_start[k + 1];
	p->acked_start[nd] = (uint32_t)(n - na);
	/* Report DELIVERED as the position itself. */
	for (size_t i = 0; i < n; i++)
		if (p->cover[i] == DELIVERED)
			p->cover[i] = (uint32_t)i;

	*ret_out = (struct loafre_modules_out){
		.n = n,
		.ndeliver = nd,
		.deliver = p->deliver,
		.rec = p->outrec,
		.cover = p->cover,
		.nacknow = na,
		.acknow = p->acknow,
		.acked_start = p->acked_start,
		.acked = p->acked,
	};
	return 0;
}

int loafre_modules_acked_by(const struct loafre_modules_out *out, size_t k,
			    const uint32_t **ret_pos, size_t *ret_count)
{
	if (!out || k >= out->ndeliver)
		return -EINVAL;
	*ret_pos = out->acked + out->acked_start[k];
	*ret_count = out->acked_start[k + 1] - out->acked_start[k];
	return 0;
}
