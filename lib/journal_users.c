/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * journal_users.c — the journal's readers (Lustre changelog users):
 * register, deregister, clear, purge, idle GC and the changelog_users
 * table. The segment format, commit and recovery are in journal.c.
 *
 * The `users` file (text, replaced atomically under the journal lock:
 * temp file, fsync, rename, fsync dir):
 *
 *   loafre-users 1
 *   next N            number the next registration gets (never reused)
 *   purged P          durable copy of state.purged_index
 *   user NUM NAME CLEARED LAST_TIME MASK
 *   ...               one line per reader, in registration order
 *
 * NAME is "-" for a reader registered without a name (a real name starts
 * with a letter, so "-" is unambiguous); MASK is "-" for none or 0x-hex.
 * Numbers are decimal. Anything else makes the file -EBADMSG.
 *
 * Ordering of a change (all under the lock): the users file is replaced
 * first (durable), then the state gets users_generation+1 (so other
 * handles reload the registry and their effective mask) and the new
 * purged_index, then purged segments are deleted. Why: a segment may only
 * disappear once the clear that allows it is durable; and `purged` in the
 * users file lets recovery rebuild purged_index if the state is lost.
 */
#include "journal_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define USERS_MAGIC "loafre-users 1"
#define USERS_FILE_MAX (16u << 20)

void loafre__jusers_free(struct loafre__jusers *u)
{
	free(u->v);
	memset(u, 0, sizeof(*u));
}

static int jusers_push(struct loafre__jusers *u, const struct loafre__juser *e)
{
	if (u->n == u->cap) {
		size_t ncap = u->cap ? u->cap * 2 : 8;
		struct loafre__juser *nv = realloc(u->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		u->v = nv;
		u->cap = ncap;
	}
	u->v[u->n++] = *e;
	return 0;
}

/* Splits s at blanks into at most `max` tokens; returns the count. */
static size_t tokenize(char *s, char **tok, size_t max)
{
	size_t n = 0;

	while (*s) {
		while (*s == ' ')
			*s++ = '\0';
		if (!*s)
			break;
		if (n == max)
			return max + 1;
		tok[n++] = s;
		while (*s && *s != ' ')
			s++;
	}
	return n;
}

static int parse_num(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v;
	int r = loafre__parse_u64(s, strlen(s), &v);

	if (r < 0)
		return -EBADMSG;
	if (v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int jusers_parse(char *buf, struct loafre__jusers *ret)
{
	struct loafre__jusers u = {.next_num = 1};
	char *line, *save = NULL;
	int nline = 0, r = 0;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tok[7];
		size_t nt;
		uint64_t v;

		if (nline++ == 0) {
			if (strcmp(line, USERS_MAGIC) != 0)
				goto bad;
			continue;
		}
		nt = tokenize(line, tok, 6);
		if (nt == 2 && strcmp(tok[0], "next") == 0) {
			if (parse_num(tok[1], UINT32_MAX, &v) < 0)
				goto bad;
			u.next_num = (uint32_t)v;
		} else if (nt == 2 && strcmp(tok[0], "purged") == 0) {
			if (parse_num(tok[1], UINT64_MAX, &u.purged) < 0)
				goto bad;
		} else if (nt == 6 && strcmp(tok[0], "user") == 0) {
			struct loafre__juser e = {0};

			if (parse_num(tok[1], UINT32_MAX, &v) < 0 || v == 0)
				goto bad;
			e.num = (uint32_t)v;
			if (strcmp(tok[2], "-") != 0) {
				if (strlen(tok[2]) > LOAFRE__JUSER_NAME_MAX)
					goto bad;
				strcpy(e.name, tok[2]);
			}
			if (parse_num(tok[3], UINT64_MAX, &e.cleared) < 0 ||
			    parse_num(tok[4], UINT64_MAX, &e.last_time) < 0)
				goto bad;
			if (strcmp(tok[5], "-") != 0) {
				if (parse_num(tok[5], UINT32_MAX, &v) < 0)
					goto bad;
				e.has_mask = true;
				e.mask = (uint32_t)v;
			}
			r = jusers_push(&u, &e);
			if (r < 0)
				goto fail;
		} else {
			goto bad;
		}
	}
	if (nline == 0)
		goto bad;
	*ret = u;
	return 0;
bad:
	r = -EBADMSG;
fail:
	loafre__jusers_free(&u);
	return r;
}

int loafre__jusers_load(struct loafre_journal *j, struct loafre__jusers *ret)
{
	char path[PATH_MAX], *buf = NULL;
	int r;

	if (snprintf(path, sizeof(path), "%s/users", j->dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = loafre__read_file(path, USERS_FILE_MAX, &buf, NULL);
	if (r == -ENOENT) {
		*ret = (struct loafre__jusers){.next_num = 1};
		return 0;
	}
	if (r < 0)
		return r;
	r = jusers_parse(buf, ret);
	free(buf);
	return r;
}

static int jusers_save(struct loafre_journal *j, const struct loafre__jusers *u)
{
	size_t cap = 64 + u->n * 128, len;
	char *buf = malloc(cap);
	int n, r;

	if (!buf)
		return -ENOMEM;
	n = snprintf(buf, cap, "%s\nnext %" PRIu32 "\npurged %" PRIu64 "\n", USERS_MAGIC,
		     u->next_num, u->purged);
	len = (size_t)n;
	for (size_t i = 0; i < u->n; i++) {
		const struct loafre__juser *e = &u->v[i];
		char mask[16] = "-";

		if (e->has_mask)
			snprintf(mask, sizeof(mask), "0x%" PRIx32, e->mask);
		n = snprintf(buf + len, cap - len, "user %" PRIu32 " %s %" PRIu64 " %" PRIu64 " %s\n",
			     e->num, e->name[0] ? e->name : "-", e->cleared, e->last_time, mask);
		len += (size_t)n;
	}
	r = loafre__write_file_atomic(j->dir, "users", buf, len);
	free(buf);
	return r;
}

uint32_t loafre__journal_mask(const struct loafre_journal_options *opts,
			      const struct loafre__jusers *u)
{
	uint32_t m = opts->mask ? opts->mask : loafre_cl_mask_default();

	for (size_t i = 0; i < u->n; i++)
		if (u->v[i].has_mask)
			m |= u->v[i].mask;
	return m;
}

/* Replaces j's cached registry with *u (taking ownership). */
static void adopt_users(struct loafre_journal *j, struct loafre__jusers *u, uint32_t gen)
{
	loafre__jusers_free(&j->users);
	j->users = *u;
	memset(u, 0, sizeof(*u));
	j->users_gen = gen;
	j->eff_mask = loafre__journal_mask(&j->opts, &j->users);
}

int loafre__journal_users_refresh(struct loafre_journal *j, uint32_t users_gen)
{
	struct loafre__jusers u;
	int r = loafre__jusers_load(j, &u);

	if (r < 0)
		return r;
	adopt_users(j, &u, users_gen);
	return 0;
}

/* ---- the locked read-modify-write cycle ------------------------------------ */

/* Takes the lock, trusts the state (recovering if needed), loads users. */
static int users_begin(struct loafre_journal *j, struct loafre__jstate *st,
		       struct loafre__jusers *u)
{
	int r = loafre__journal_lock(j);

	if (r < 0)
		return r;
	r = loafre__journal_recover_locked(j, false, st);
	if (r == 0)
		r = loafre__jusers_load(j, u);
	if (r < 0)
		loafre__journal_unlock(j);
	return r;
}

/* Purge horizon for the registry u (see journal.c PURGE). all_gone: the
 * last reader was just deregistered. */
static uint64_t purge_horizon(const struct loafre__jstate *st, const struct loafre__jusers *u,
			      bool all_gone)
{
	uint64_t p = st->purged_index > u->purged ? st->purged_index : u->purged;

	if (u->n == 0) {
		if (all_gone)
			p = st->last_index;
	} else {
		uint64_t min = UINT64_MAX;

		for (size_t i = 0; i < u->n; i++)
			if (u->v[i].cleared < min)
				min = u->v[i].cleared;
		if (min > p)
			p = min;
	}
	return p > st->last_index ? st->last_index : p;
}

/* Writes users (durable) then state, then deletes purged segments, then
 * releases the lock. Consumes u. `purge`: recompute the purge horizon
 * (clear, deregister, gc; not register: a new reader holds nothing back,
 * and the history written before it stays until a reader clears). */
static int users_finish(struct loafre_journal *j, struct loafre__jstate *st,
			struct loafre__jusers *u, bool purge, bool all_gone)
{
	int r;

	if (purge)
		st->purged_index = purge_horizon(st, u, all_gone);
	u->purged = st->purged_index;
	r = jusers_save(j, u);
	if (r < 0)
		goto out;
	st->generation++;
	st->users_generation++;
	r = loafre__journal_state_write(j, st);
	if (r < 0)
		goto out;
	j->known_gen = st->generation;
	adopt_users(j, u, st->users_generation);
	/* Best effort: a segment left behind is deleted by the next purge. */
	loafre__journal_purge_segments_locked(j, st);
out:
	loafre__jusers_free(u);
	loafre__journal_unlock(j);
	return r;
}

static void users_abort(struct loafre_journal *j, struct loafre__jusers *u)
{
	loafre__jusers_free(u);
	loafre__journal_unlock(j);
}

static void format_id(const struct loafre__juser *e, char *buf, size_t cap)
{
	if (e->name[0])
		snprintf(buf, cap, "cl%" PRIu32 "-%s", e->num, e->name);
	else
		snprintf(buf, cap, "cl%" PRIu32, e->num);
}

/* ---- public API -------------------------------------------------------------- */

static int name_check(const char *name)
{
	if (!isalpha((unsigned char)name[0]))
		return -EINVAL;
	for (const char *p = name + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return -EINVAL;
	if (strlen(name) > LOAFRE__JUSER_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int loafre_journal_register(struct loafre_journal *j, const char *name, const uint32_t *mask,
			    char *ret_id, size_t cap)
{
	return loafre_journal_register_from(j, name, mask, LOAFRE_JOURNAL_FROM_CURRENT, ret_id, cap);
}

int loafre_journal_register_from(struct loafre_journal *j, const char *name, const uint32_t *mask,
				 uint64_t cleared, char *ret_id, size_t cap)
{
	struct loafre__jstate st;
	struct loafre__jusers u;
	struct loafre__juser e = {0};
	char id[LOAFRE_CL_USER_ID_MAX];
	int r;

	if (!ret_id || cap < LOAFRE_CL_USER_ID_MAX)
		return -EINVAL;
	if (name) {
		r = name_check(name);
		if (r < 0)
			return r;
	}
	r = users_begin(j, &st, &u);
	if (r < 0)
		return r;
	if (name) {
		for (size_t i = 0; i < u.n; i++) {
			if (strcmp(u.v[i].name, name) == 0) {
				users_abort(j, &u);
				return -EEXIST;
			}
		}
		strcpy(e.name, name);
	}
	if (u.next_num == 0 || u.next_num == UINT32_MAX) {
		users_abort(j, &u);
		return -EOVERFLOW;
	}
	/* Under the lock: the starting point must still be retained (records
	 * at or below the purge point are gone) and must exist. */
	if (cleared == LOAFRE_JOURNAL_FROM_CURRENT) {
		cleared = st.last_index;
	} else if (cleared > st.last_index) {
		users_abort(j, &u);
		return -EINVAL;
	} else if (cleared < st.purged_index) {
		cleared = st.purged_index; /* "oldest": everything still there */
	}
	e.num = u.next_num++;
	e.cleared = cleared;
	e.last_time = (uint64_t)time(NULL);
	e.has_mask = mask != NULL;
	e.mask = mask ? *mask : 0;
	r = jusers_push(&u, &e);
	if (r < 0) {
		users_abort(j, &u);
		return r;
	}
	format_id(&e, id, sizeof(id));
	r = users_finish(j, &st, &u, false, false);
	if (r < 0)
		return r;
	memcpy(ret_id, id, strlen(id) + 1);
	return 0;
}

/* "cl<digits>" then end or '-' (llapi cuts at '-', the kernel reads
 * "cl%u"). -EINVAL otherwise. */
static int parse_clear_id(const char *id, uint32_t *ret_num)
{
	const char *p;
	uint64_t v = 0;

	if (strncmp(id, "cl", 2) != 0 || !isdigit((unsigned char)id[2]))
		return -EINVAL;
	for (p = id + 2; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (*p && *p != '-')
		return -EINVAL;
	*ret_num = (uint32_t)v;
	return 0;
}

int loafre_journal_clear(struct loafre_journal *j, const char *id, uint64_t endrec)
{
	struct loafre__jstate st;
	struct loafre__jusers u;
	struct loafre__juser *e = NULL;
	uint32_t num;
	int r;

	if (!id)
		return -EINVAL;
	r = users_begin(j, &st, &u);
	if (r < 0)
		return r;
	r = -EINVAL;
	if (endrec > st.last_index)
		goto abort;
	if (endrec == 0)
		endrec = st.last_index;
	if (parse_clear_id(id, &num) < 0)
		goto abort;
	for (size_t i = 0; i < u.n; i++)
		if (u.v[i].num == num)
			e = &u.v[i];
	r = -ENOENT;
	if (!e)
		goto abort;
	r = -EINVAL;
	if (endrec < e->cleared)
		goto abort;
	e->cleared = endrec;
	e->last_time = (uint64_t)time(NULL);
	return users_finish(j, &st, &u, true, false);
abort:
	users_abort(j, &u);
	return r;
}

int loafre_journal_deregister(struct loafre_journal *j, const char *id_or_name)
{
	struct loafre__jstate st;
	struct loafre__jusers u;
	size_t i;
	int r;

	if (!id_or_name)
		return -EINVAL;
	r = users_begin(j, &st, &u);
	if (r < 0)
		return r;
	if (strncmp(id_or_name, "cl", 2) == 0 && isdigit((unsigned char)id_or_name[2])) {
		uint64_t v = 0;

		for (const char *p = id_or_name + 2; isdigit((unsigned char)*p) && v <= UINT32_MAX; p++)
			v = v * 10 + (uint64_t)(*p - '0');
		for (i = 0; i < u.n && u.v[i].num != v; i++)
			;
	} else {
		for (i = 0; i < u.n && strcmp(u.v[i].name, id_or_name) != 0; i++)
			;
	}
	if (i == u.n) {
		users_abort(j, &u);
		return -ENOENT;
	}
	memmove(&u.v[i], &u.v[i + 1], (u.n - i - 1) * sizeof(u.v[0]));
	u.n--;
	return users_finish(j, &st, &u, true, u.n == 0);
}

int loafre_journal_users(struct loafre_journal *j, struct loafre_cl_user **ret_users,
			 size_t *ret_n)
{
	struct loafre__jusers u;
	struct loafre_cl_user *v = NULL;
	int r;

	r = loafre__jusers_load(j, &u);
	if (r < 0)
		return r;
	if (u.n) {
		v = calloc(u.n, sizeof(*v));
		if (!v) {
			loafre__jusers_free(&u);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < u.n; i++) {
		format_id(&u.v[i], v[i].id, sizeof(v[i].id));
		v[i].num = u.v[i].num;
		v[i].cleared = u.v[i].cleared;
		v[i].last_time = u.v[i].last_time;
		v[i].has_mask = u.v[i].has_mask;
		v[i].mask = u.v[i].mask;
	}
	*ret_users = v;
	*ret_n = u.n;
	loafre__jusers_free(&u);
	return 0;
}

int loafre_journal_users_print(struct loafre_journal *j, FILE *out, time_t now)
{
	struct loafre__jstate st;
	struct loafre__jusers u;
	int r;

	r = loafre__journal_state_read(j, &st);
	if (r < 0)
		return r;
	r = loafre__jusers_load(j, &u);
	if (r < 0)
		return r;
	fprintf(out, "current_index: %llu\n", (unsigned long long)st.last_index);
	fprintf(out, "%-24s %10s %s %s\n", "ID", "index", "(idle)", "mask");
	for (size_t i = 0; i < u.n; i++) {
		const struct loafre__juser *e = &u.v[i];
		char id[LOAFRE_CL_USER_ID_MAX];

		format_id(e, id, sizeof(id));
		fprintf(out, "%-24s %10llu (%u)", id, (unsigned long long)e->cleared,
			(unsigned)((uint32_t)now - (uint32_t)e->last_time));
		if (e->has_mask && e->mask) {
			char names[512];

			if (loafre_cl_mask_format(e->mask, ',', names, sizeof(names)) >= 0)
				fprintf(out, " mask=%s", names);
		}
		fputc('\n', out);
	}
	loafre__jusers_free(&u);
	return ferror(out) ? -EIO : 0;
}

int loafre_journal_gc(struct loafre_journal *j, time_t now)
{
	struct loafre__jstate st;
	struct loafre__jusers u;
	uint64_t max_time = j->opts.gc_max_idle_time, max_idx = j->opts.gc_max_idle_indexes;
	size_t kept = 0, had;
	int r;

	if (!max_time && !max_idx)
		return 0;
	r = users_begin(j, &st, &u);
	if (r < 0)
		return r;
	had = u.n;
	for (size_t i = 0; i < u.n; i++) {
		const struct loafre__juser *e = &u.v[i];
		uint64_t idle = (uint64_t)now > e->last_time ? (uint64_t)now - e->last_time : 0;
		uint64_t lag = st.last_index > e->cleared ? st.last_index - e->cleared : 0;

		if ((max_time && idle > max_time) || (max_idx && lag > max_idx))
			continue;
		u.v[kept++] = *e;
	}
	u.n = kept;
	if (kept == had) {
		users_abort(j, &u);
		return 0;
	}
	r = users_finish(j, &st, &u, true, kept == 0);
	return r < 0 ? r : (int)(had - kept);
}
