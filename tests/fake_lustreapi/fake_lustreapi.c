/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fake_lustreapi.c — a stand-in for liblustreapi's changelog calls, for the
 * contract tests of lib/lustre_source.c. Same signatures (lib/
 * lustreapi_decl.h); one emulated MDT whose records come from a fixture.
 *
 * Configuration, read from the environment when the state is (re)loaded:
 * at the first call after fake_llapi_reset() (or the first call at all):
 *   LOAFRE_FAKE_LLAPI_FIXTURE  `lfs changelog` text, one record a line ('#'
 *                              and empty lines ignored), parsed with
 *                              loafre_text_parse and served in file order
 *   LOAFRE_FAKE_LLAPI_GROW     more such records, served only once a stream
 *                              hit EOF at the end of the fixture ("the MDT
 *                              keeps writing"), or, in FOLLOW mode, once the
 *                              test calls fake_llapi_grow()
 *   LOAFRE_FAKE_LLAPI_MDT      the MDT's name; other names get -ENOENT (any
 *                              name when unset)
 *   LOAFRE_FAKE_LLAPI_USERS    registered changelog users (default "cl1")
 *   LOAFRE_FAKE_LLAPI_CLEARS   every successful clear appends
 *                              "MDT ID ENDREC\n"; a user's cleared index is
 *                              the highest ENDREC there
 *   LOAFRE_FAKE_LLAPI_LOG      every call appends a line: "start MDT
 *                              STARTREC 0xFLAGS", "xflags 0xX", "eof", "error
 *                              -5", "fini", "clear MDT ID ENDREC RC",
 *                              "blocked" (recv called when it would block)
 *   LOAFRE_FAKE_LLAPI_EOF_EVERY=N  recv returns 1 (EOF) after N records of
 *                              a stream
 *   LOAFRE_FAKE_LLAPI_FAIL_AT=N    the recv that would deliver the Nth
 *                              record (counted over all streams) returns
 *                              -EIO, once
 *   LOAFRE_FAKE_LLAPI_FOLLOW=1 model FOLLOW: at the end of the records a
 *                              stream has nothing to read (descriptor not
 *                              readable) instead of EOF
 *   LOAFRE_FAKE_LLAPI_PATHS    fid2path table: lines "[FID] PATH"
 *
 * Like the real library, a stream started at STARTREC serves the records
 * with index >= STARTREC (in file order: a fixture may repeat indices to
 * emulate duplicate delivery), each remapped to the requested format:
 * CLF_RENAME always (zeroed when absent), CLF_JOBID / CLF_EXTRA_FLAGS per
 * the start flags, the extra extensions per set_xflags. Each record is
 * allocated with exactly its size, so a reader overrunning it trips ASan.
 * The descriptor (an eventfd) is readable exactly while recv would not
 * block; llapi_changelog_in_buf is always 0, so readers must poll.
 * Clears follow Lustre's rules: endrec beyond the current index -EINVAL
 * (checked first), endrec 0 = current index, unknown user -ENOENT, endrec
 * below the user's cleared index -EINVAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fake_lustreapi.h"
#include "loafre/record.h"
#include "loafre/text.h"
#include "lustreapi_decl.h"

#define PRIV_MAGIC 0xCA8E1080u

struct fake_rec {
	uint64_t index; /* cr_index */
	size_t len;     /* bytes of the encoding */
	uint8_t *bytes; /* the record as the fixture has it (not remapped) */
};

struct fake_state {
	bool loaded;           /* configuration and fixtures read */
	int load_error;        /* 0 or the -errno loading failed with */
	struct fake_rec *recs; /* fixture records, then GROW records */
	size_t nbase;          /* records from FIXTURE */
	size_t nrecs;          /* all records (FIXTURE + GROW) */
	bool grown;            /* GROW records are visible */
	uint64_t delivered;    /* records delivered over all streams */
	bool failed;           /* FAIL_AT has fired */
	uint64_t eof_every;    /* LOAFRE_FAKE_LLAPI_EOF_EVERY, 0: off */
	uint64_t fail_at;      /* LOAFRE_FAKE_LLAPI_FAIL_AT, 0: off */
	bool follow_mode;      /* LOAFRE_FAKE_LLAPI_FOLLOW */
};

struct fake_priv {
	uint32_t magic;  /* PRIV_MAGIC while valid */
	int flags;       /* start flags */
	int xflags;      /* set_xflags */
	long long start; /* startrec */
	size_t next;     /* next candidate in g.recs */
	uint64_t served; /* records delivered by this stream */
	int efd;         /* eventfd: readable while recv would not block */
	bool readable;   /* the eventfd's counter is non-zero */
};

static struct fake_state g;
/* Open streams, so that fake_llapi_grow can make their descriptors
 * readable. */
static struct fake_priv *streams[16];

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	const char *path = getenv("LOAFRE_FAKE_LLAPI_LOG");
	va_list ap;
	FILE *f;

	if (!path)
		return;
	f = fopen(path, "ae");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static uint64_t env_u64(const char *name)
{
	const char *v = getenv(name);
	return v ? strtoull(v, NULL, 10) : 0;
}

static int load_file(const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	FILE *f;
	int r = 0;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct loafre_rec rec;
		const char *why = NULL;
		struct fake_rec *nr;
		uint8_t buf[LOAFRE_REC_MAX_SIZE];
		int n;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len == 0 || line[0] == '#')
			continue;
		if (loafre_text_parse(line, (size_t)len, &rec, &why) < 0) {
			fprintf(stderr, "fake_lustreapi: %s:%u: %s\n", path, lineno, why);
			r = -EINVAL;
			break;
		}
		n = loafre_rec_encode(&rec, buf, sizeof(buf));
		if (n < 0) {
			r = n;
			break;
		}
		nr = realloc(g.recs, (g.nrecs + 1) * sizeof(*nr));
		if (!nr) {
			r = -ENOMEM;
			break;
		}
		g.recs = nr;
		g.recs[g.nrecs].bytes = malloc((size_t)n);
		if (!g.recs[g.nrecs].bytes) {
			r = -ENOMEM;
			break;
		}
		memcpy(g.recs[g.nrecs].bytes, buf, (size_t)n);
		g.recs[g.nrecs].len = (size_t)n;
		g.recs[g.nrecs].index = rec.index;
		g.nrecs++;
	}
	free(line);
	fclose(f);
	return r;
}

static int load(void)
{
	const char *fix, *grow;

	if (g.loaded)
		return g.load_error;
	g.loaded = true;
	g.eof_every = env_u64("LOAFRE_FAKE_LLAPI_EOF_EVERY");
	g.fail_at = env_u64("LOAFRE_FAKE_LLAPI_FAIL_AT");
	g.follow_mode = env_u64("LOAFRE_FAKE_LLAPI_FOLLOW") != 0;
	fix = getenv("LOAFRE_FAKE_LLAPI_FIXTURE");
	grow = getenv("LOAFRE_FAKE_LLAPI_GROW");
	if (fix)
		g.load_error = load_file(fix);
	g.nbase = g.nrecs;
	if (grow && g.load_error == 0)
		g.load_error = load_file(grow);
	return g.load_error;
}

void fake_llapi_reset(void)
{
	for (size_t i = 0; i < g.nrecs; i++)
		free(g.recs[i].bytes);
	free(g.recs);
	memset(&g, 0, sizeof(g));
}

static void update_fd(struct fake_priv *p);

void fake_llapi_grow(void)
{
	g.grown = true;
	for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
		if (streams[i])
			update_fd(streams[i]);
}

/* Records visible now. */
static size_t visible(void)
{
	return g.grown ? g.nrecs : g.nbase;
}

/* The MDT's current index: the highest visible index. */
static uint64_t current_index(void)
{
	uint64_t cur = 0;

	for (size_t i = 0; i < visible(); i++)
		if (g.recs[i].index > cur)
			cur = g.recs[i].index;
	return cur;
}

static bool mdt_ok(const char *mdt)
{
	const char *want = getenv("LOAFRE_FAKE_LLAPI_MDT");
	return !want || strcmp(want, mdt) == 0;
}

/* Moves p->next to the next record >= startrec; true if one is visible. */
static bool next_visible(struct fake_priv *p)
{
	while (p->next < visible() && p->start > 0 &&
	       g.recs[p->next].index < (uint64_t)p->start)
		p->next++;
	return p->next < visible();
}

/* What recv would do now: 'r' record, 'f' fail, 'e' EOF, 'b' block. */
static char pending(struct fake_priv *p)
{
	if (g.eof_every && p->served >= g.eof_every)
		return 'e';
	if (next_visible(p))
		return g.fail_at && !g.failed && g.delivered + 1 == g.fail_at ? 'f' : 'r';
	return g.follow_mode ? 'b' : 'e';
}

static void update_fd(struct fake_priv *p)
{
	bool want = pending(p) != 'b';
	uint64_t v = 1;

	if (want && !p->readable) {
		if (write(p->efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			p->readable = true;
	} else if (!want && p->readable) {
		if (read(p->efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			p->readable = false;
	}
}

int llapi_changelog_start(void **priv, enum changelog_send_flag flags, const char *mdtname,
			  long long startrec)
{
	struct fake_priv *p;
	int r;

	r = load();
	if (r < 0)
		return r;
	log_line("start %s %lld 0x%x", mdtname, startrec, (unsigned)flags);
	if (!mdt_ok(mdtname))
		return -ENOENT;
	if (startrec < 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->magic = PRIV_MAGIC;
	p->flags = (int)flags;
	p->start = startrec;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0) {
		r = -errno;
		free(p);
		return r;
	}
	update_fd(p);
	for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
		if (!streams[i]) {
			streams[i] = p;
			break;
		}
	*priv = p;
	return 0;
}

int llapi_changelog_set_xflags(void *priv, enum changelog_send_extra_flag extra_flags)
{
	struct fake_priv *p = priv;

	if (!p || p->magic != PRIV_MAGIC)
		return -EINVAL;
	log_line("xflags 0x%x", (unsigned)extra_flags);
	p->xflags = (int)extra_flags;
	return 0;
}

int llapi_changelog_get_fd(void *priv)
{
	struct fake_priv *p = priv;

	if (!p || p->magic != PRIV_MAGIC)
		return -EINVAL;
	return p->efd;
}

int llapi_changelog_in_buf(void *priv)
{
	return 0;
}

int llapi_changelog_fini(void **priv)
{
	struct fake_priv *p = *priv;

	if (!p || p->magic != PRIV_MAGIC)
		return -EINVAL;
	log_line("fini");
	for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
		if (streams[i] == p)
			streams[i] = NULL;
	close(p->efd);
	p->magic = 0;
	free(p);
	*priv = NULL;
	return 0;
}

/* Remaps the stored record as llapi delivers it for this stream. */
static int deliver(struct fake_priv *p, const struct fake_rec *fr, struct changelog_rec **rech)
{
	struct loafre_rec rec;
	uint8_t buf[LOAFRE_REC_MAX_SIZE];
	uint16_t clf = LOAFRE_CLF_RENAME;
	uint64_t clfe = 0;
	uint8_t *out;
	int n;

	if (loafre_rec_decode(fr->bytes, fr->len, &rec, NULL) < 0)
		return -EIO;
	if (p->flags & CHANGELOG_FLAG_JOBID)
		clf |= LOAFRE_CLF_JOBID;
	if (p->flags & CHANGELOG_FLAG_EXTRA_FLAGS) {
		clf |= LOAFRE_CLF_EXTRA_FLAGS;
		if (p->xflags & CHANGELOG_EXTRA_FLAG_UIDGID)
			clfe |= LOAFRE_CLFE_UIDGID;
		if (p->xflags & CHANGELOG_EXTRA_FLAG_NID)
			clfe |= LOAFRE_CLFE_NID;
		if (p->xflags & CHANGELOG_EXTRA_FLAG_OMODE)
			clfe |= LOAFRE_CLFE_OPEN;
		if (p->xflags & CHANGELOG_EXTRA_FLAG_XATTR)
			clfe |= LOAFRE_CLFE_XATTR;
	}
	loafre_rec_remap(&rec, clf, clfe);
	n = loafre_rec_encode(&rec, buf, sizeof(buf));
	if (n < 0 || n > LOAFRE__LLAPI_CR_MAXSIZE)
		return -EIO;
	out = malloc((size_t)n);
	if (!out)
		return -ENOMEM;
	memcpy(out, buf, (size_t)n);
	*rech = (struct changelog_rec *)out;
	return 0;
}

int llapi_changelog_recv(void *priv, struct changelog_rec **rech)
{
	struct fake_priv *p = priv;
	int r = 0;

	if (!p || p->magic != PRIV_MAGIC || !rech)
		return -EINVAL;
	*rech = NULL;
	switch (pending(p)) {
	case 'b':
		/* The real library would block here: a reader bug. */
		log_line("blocked");
		r = -EDEADLK;
		break;
	case 'e':
		if (!g.follow_mode && p->next >= visible() && !g.grown)
			g.grown = true; /* the MDT wrote more meanwhile */
		log_line("eof");
		r = 1;
		break;
	case 'f':
		g.failed = true;
		log_line("error %d", -EIO);
		r = -EIO;
		break;
	default:
		r = deliver(p, &g.recs[p->next], rech);
		if (r == 0) {
			p->next++;
			p->served++;
			g.delivered++;
		}
		break;
	}
	update_fd(p);
	return r;
}

int llapi_changelog_free(struct changelog_rec **rech)
{
	free(*rech);
	*rech = NULL;
	return 0;
}

static bool user_known(const char *id)
{
	const char *users = getenv("LOAFRE_FAKE_LLAPI_USERS");
	size_t idlen = strcspn(id, "-"); /* llapi cuts "cl1-name" to "cl1" */
	const char *u;

	if (!users)
		users = "cl1";
	for (u = users; *u;) {
		size_t n = strcspn(u, " ,");
		if (n == idlen && strncmp(u, id, n) == 0)
			return true;
		u += n;
		u += strspn(u, " ,");
	}
	return false;
}

/* The highest ENDREC cleared for (mdt, id) so far. */
static uint64_t user_cleared(const char *path, const char *mdt, const char *id)
{
	char m[256], u[128];
	unsigned long long e;
	uint64_t max = 0;
	FILE *f;

	if (!path || !(f = fopen(path, "re")))
		return 0;
	while (fscanf(f, "%255s %127s %llu", m, u, &e) == 3)
		if (strcmp(m, mdt) == 0 && strcmp(u, id) == 0 && e > max)
			max = e;
	fclose(f);
	return max;
}

int llapi_changelog_clear(const char *mdtname, const char *idstr, long long endrec)
{
	const char *path = getenv("LOAFRE_FAKE_LLAPI_CLEARS");
	uint64_t cur, end;
	int r = 0;

	r = load();
	if (r < 0)
		goto out;
	cur = current_index();
	if (endrec < 0 || !mdt_ok(mdtname)) {
		r = endrec < 0 ? -EINVAL : -ENOENT;
		goto out;
	}
	if ((uint64_t)endrec > cur) {
		r = -EINVAL;
		goto out;
	}
	end = endrec == 0 ? cur : (uint64_t)endrec;
	if (strncmp(idstr, "cl", 2) != 0 || !user_known(idstr)) {
		r = -ENOENT;
		goto out;
	}
	if (end < user_cleared(path, mdtname, idstr)) {
		r = -EINVAL;
		goto out;
	}
	if (path) {
		FILE *f = fopen(path, "ae");
		if (!f) {
			r = -errno;
			goto out;
		}
		fprintf(f, "%s %s %llu\n", mdtname, idstr, (unsigned long long)end);
		fclose(f);
	}
out:
	log_line("clear %s %s %lld %d", mdtname, idstr, endrec, r);
	return r;
}

int llapi_fid2path(const char *device, const char *fidstr, char *path, int pathlen,
		   long long *recno, int *linkno)
{
	const char *table = getenv("LOAFRE_FAKE_LLAPI_PATHS");
	char *line = NULL;
	size_t cap = 0, flen = strlen(fidstr);
	ssize_t len;
	int r = -ENOENT;
	FILE *f;

	if (!table || !(f = fopen(table, "re")))
		return -ENOENT;
	while ((len = getline(&line, &cap, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if ((size_t)len > flen && strncmp(line, fidstr, flen) == 0 && line[flen] == ' ') {
			const char *p = line + flen + 1;
			if (strlen(p) >= (size_t)pathlen) {
				r = -EOVERFLOW;
				break;
			}
			strcpy(path, p);
			r = 0;
			break;
		}
	}
	free(line);
	fclose(f);
	return r;
}
