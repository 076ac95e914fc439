/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_dest.c — what every destination type shares (lib/repl_dest.h): the
 * uid/gid maps, the operation wrappers that count each operation in the
 * destination's statistics, and the dispatch through the type's ops table.
 * Id maps are lib/rule.c's (struct loafre_idmap).
 */
#include "repl_dest.h"
#include "rule.h"

#include <stdatomic.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- id maps ------------------------------------------------------------------ */

/* Deep copy of src's pairs into dst (src NULL: identity); text not copied. */
static int idmap_copy(struct loafre_idmap *dst, const struct loafre_idmap *src)
{
	struct loafre_idmap t = { 0 };

	if (src) {
		t.has_default = src->has_default;
		t.default_to = src->default_to;
		t.n_pairs = src->n_pairs;
		if (src->n_pairs) {
			t.pairs = malloc(src->n_pairs * sizeof(*t.pairs));
			if (!t.pairs)
				return -ENOMEM;
			memcpy(t.pairs, src->pairs, src->n_pairs * sizeof(*t.pairs));
		}
	}
	*dst = t;
	return 0;
}

/* ---- destinations ------------------------------------------------------------- */

static const char *const op_names[LOAFRE__DOP_N] = {
	"copy", "mkdir", "symlink", "mknod", "link", "rename", "unlink", "rmdir", "setattr",
};

const char *loafre__dest_op_name(enum loafre__dest_op op)
{
	return (unsigned)op < LOAFRE__DOP_N ? op_names[op] : "?";
}

int loafre__dest_new(const struct loafre__dest_ops *ops, void *priv,
		     const struct loafre__dest_opts *opts, struct loafre__dest **ret)
{
	struct loafre__dest *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	if (opts)
		d->o = *opts;
	if (d->o.copy_retries == 0)
		d->o.copy_retries = 3;
	r = idmap_copy(&d->uid_map, opts ? opts->uid_map : NULL);
	if (r < 0)
		goto fail;
	r = idmap_copy(&d->gid_map, opts ? opts->gid_map : NULL);
	if (r < 0)
		goto fail;
	d->o.uid_map = &d->uid_map;
	d->o.gid_map = &d->gid_map;
	d->ops = ops;
	d->priv = priv;
	*ret = d;
	return 0;
fail:
	loafre__idmap_clear(&d->uid_map);
	free(d);
	return r;
}

void loafre__dest_close(struct loafre__dest *d)
{
	if (!d)
		return;
	if (d->ops && d->ops->close)
		d->ops->close(d);
	loafre__idmap_clear(&d->uid_map);
	loafre__idmap_clear(&d->gid_map);
	free(d);
}

void loafre__dest_get_stats(struct loafre__dest *d, struct loafre__dest_stats *ret)
{
	for (int i = 0; i < LOAFRE__DOP_N; i++) {
		ret->done[i] = atomic_load(&d->done[i]);
		ret->failed[i] = atomic_load(&d->failed[i]);
	}
	ret->bytes = atomic_load(&d->bytes);
	ret->retries = atomic_load(&d->retries);
}

static int count(struct loafre__dest *d, enum loafre__dest_op op, int r)
{
	if (r < 0)
		atomic_fetch_add(&d->failed[op], 1);
	else
		atomic_fetch_add(&d->done[op], 1);
	return r;
}

static int bad_rel(const char *rel, char *why)
{
	int r = loafre__rel_check(rel);

	if (r < 0 && why)
		snprintf(why, LOAFRE__DEST_WHY_MAX, "invalid relative path '%s'", rel ? rel : "");
	return r;
}

/* An operation on one entry: rel checked, then fn, the outcome counted. */
static int one_path_op(struct loafre__dest *d, enum loafre__dest_op op,
		       int (*fn)(struct loafre__dest *d, int src_root, const char *rel, char *why),
		       int src_root, const char *rel, char *why)
{
	int r = bad_rel(rel, why);

	if (r == 0)
		r = fn(d, src_root, rel, why);
	return count(d, op, r);
}

/* An operation on two entries: both checked, then fn, the outcome counted. */
static int two_path_op(struct loafre__dest *d, enum loafre__dest_op op,
		       int (*fn)(struct loafre__dest *d, int src_root, const char *old_rel,
				 const char *new_rel, char *why),
		       int src_root, const char *old_rel, const char *new_rel, char *why)
{
	int r = bad_rel(old_rel, why);

	if (r == 0)
		r = bad_rel(new_rel, why);
	if (r == 0)
		r = fn(d, src_root, old_rel, new_rel, why);
	return count(d, op, r);
}

int loafre__dest_copy(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return one_path_op(d, LOAFRE__DOP_COPY, d->ops->copy, src_root, rel, why);
}

int loafre__dest_update(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return one_path_op(d, LOAFRE__DOP_COPY, d->ops->update ? d->ops->update : d->ops->copy,
			   src_root, rel, why);
}

int loafre__dest_mkdir(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return one_path_op(d, LOAFRE__DOP_MKDIR, d->ops->mkdir, src_root, rel, why);
}

int loafre__dest_symlink(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return one_path_op(d, LOAFRE__DOP_SYMLINK, d->ops->symlink, src_root, rel, why);
}

int loafre__dest_mknod(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return one_path_op(d, LOAFRE__DOP_MKNOD, d->ops->mknod, src_root, rel, why);
}

int loafre__dest_link(struct loafre__dest *d, int src_root, const char *old_rel,
		      const char *new_rel, char *why)
{
	return two_path_op(d, LOAFRE__DOP_LINK, d->ops->link, src_root, old_rel, new_rel,
			   why);
}

int loafre__dest_rename(struct loafre__dest *d, int src_root, const char *old_rel,
			const char *new_rel, char *why)
{
	return two_path_op(d, LOAFRE__DOP_RENAME, d->ops->rename, src_root, old_rel, new_rel,
			   why);
}

int loafre__dest_unlink(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return one_path_op(d, LOAFRE__DOP_UNLINK, d->ops->unlink, src_root, rel, why);
}

int loafre__dest_rmdir(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return one_path_op(d, LOAFRE__DOP_RMDIR, d->ops->rmdir, src_root, rel, why);
}

int loafre__dest_setattr(struct loafre__dest *d, int src_root, const char *rel, unsigned mask,
			 char *why)
{
	int r = rel && !rel[0] ? 0 : bad_rel(rel, why);

	if (r == 0)
		r = d->ops->setattr(d, src_root, rel, mask, why);
	return count(d, LOAFRE__DOP_SETATTR, r);
}

int loafre__dest_setattr_from(struct loafre__dest *d, int src_root, const char *src_rel,
			      const char *rel, unsigned mask, char *why)
{
	int r = bad_rel(rel, why);

	if (r == 0)
		r = bad_rel(src_rel, why);
	if (r == 0)
		r = d->ops->setattr_from ? d->ops->setattr_from(d, src_root, src_rel, rel, mask, why)
					 : -EOPNOTSUPP;
	return count(d, LOAFRE__DOP_SETATTR, r);
}

int loafre__dest_sync_attrs(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	return loafre__dest_setattr(d, src_root, rel, LOAFRE__ATTR_ALL, why);
}

int loafre__dest_lstat(struct loafre__dest *d, const char *rel, struct stat *st)
{
	int r = loafre__rel_check(rel);

	if (r < 0)
		return r;
	return d->ops->lstat(d, rel, st);
}

int loafre__dest_sync_entry(struct loafre__dest *d, int src_root, const char *rel, char *why)
{
	const char *name;
	struct stat st;
	int r = bad_rel(rel, why), p;

	if (r < 0)
		return r;
	p = loafre__repl_open_parent(src_root, rel, &name);
	if (p < 0) {
		r = p;
		goto fail;
	}
	r = fstatat(p, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	close(p);
	if (r < 0)
		goto fail;
	if (S_ISREG(st.st_mode))
		return loafre__dest_copy(d, src_root, rel, why);
	if (S_ISDIR(st.st_mode))
		return loafre__dest_mkdir(d, src_root, rel, why);
	if (S_ISLNK(st.st_mode))
		return loafre__dest_symlink(d, src_root, rel, why);
	return loafre__dest_mknod(d, src_root, rel, why);
fail:
	if (why)
		snprintf(why, LOAFRE__DEST_WHY_MAX, "cannot stat source '%s': %s", rel,
			 strerror(-r));
	return r;
}

int loafre__dest_list(struct loafre__dest *d, const char *rel,
		      int (*fn)(void *arg, const char *name), void *arg)
{
	int r = rel && !rel[0] ? 0 : loafre__rel_check(rel);

	if (r < 0)
		return r;
	return d->ops->list(d, rel, fn, arg);
}

/* The fallback of list_stat: list, then lstat of each name. */
struct ls_ctx {
	struct loafre__dest *d;  /* the destination */
	const char *rel;         /* the directory */
	int (*fn)(void *arg, const char *name, const struct stat *st); /* caller's */
	void *arg;               /* its argument */
};

static int ls_one(void *arg, const char *name)
{
	struct ls_ctx *c = arg;
	char path[PATH_MAX];
	struct stat st;
	int r;

	if (snprintf(path, sizeof(path), "%s%s%s", c->rel, c->rel[0] ? "/" : "", name) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	r = c->d->ops->lstat(c->d, path, &st);
	if (r == -ENOENT)
		return 0; /* gone meanwhile */
	if (r < 0)
		return r;
	return c->fn(c->arg, name, &st);
}

int loafre__dest_list_stat(struct loafre__dest *d, const char *rel,
			   int (*fn)(void *arg, const char *name, const struct stat *st),
			   void *arg)
{
	struct ls_ctx c = { d, rel, fn, arg };
	int r = rel && !rel[0] ? 0 : loafre__rel_check(rel);

	if (r < 0)
		return r;
	if (d->ops->list_stat)
		return d->ops->list_stat(d, rel, fn, arg);
	return d->ops->list(d, rel, ls_one, &c);
}

int loafre__dest_batch_begin(struct loafre__dest *d,
			     void (*failed)(void *arg, const char *rel, int err, const char *why),
			     void *arg)
{
	return d->ops->batch_begin ? d->ops->batch_begin(d, failed, arg) : 0;
}

int loafre__dest_flush(struct loafre__dest *d, char *why)
{
	return d->ops->flush ? d->ops->flush(d, why) : 0;
}

int loafre__dest_batch_end(struct loafre__dest *d, char *why)
{
	return d->ops->batch_end ? d->ops->batch_end(d, why) : 0;
}
