/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_ops.c — records → destination operations (lib/repl_ops.h; the
 * operation table of docs/design/replication.md, decision 5).
 *
 * No format of its own. Template commands (a rule's `copy = ...`) run with
 * posix_spawnp, never a shell: stdin /dev/null, stdout /dev/null, stderr a
 * pipe (its first line, up to 4 KiB, is the failure's message), in a
 * process group of their own, killed (SIGKILL to the group) after the
 * timeout; a non-zero exit or a signal is a failure (-EIO; the timeout
 * -ETIMEDOUT).
 *
 * Hard links. A write to a file with several names is applied to the
 * destination name the record names (or its current one): the destination
 * rewrites a file with several names in place there (loafre__dest_update),
 * so its other destination names follow and links stay links; nothing
 * else is looked for when the destination's inode then has as many names
 * as the source's. An inode that has more names at the destination than
 * the file's names found there (dest_inode_foreign: another object's
 * names, a rename bringing the file to that name still on its way) is
 * never rewritten in place: the entry is replaced by a copy, for a write
 * and for an HLINK that linked the new name to it. Creations, HLINKs made by a copy and renames whose old
 * name is missing replace the entry (loafre__dest_copy: what is at that
 * name may be another object's link). Re-linking remains for names that
 * are separate files at the destination: an HLINK whose object has no
 * other name there yet (its directory not renamed there yet) is made by a
 * copy, and later HLINKs link to that copy; when the destination's inode
 * has fewer names than the source's after a copy, and after a directory
 * rename (pending list), the other names are linked to it again. The
 * other current names of the object are its path as the kernel names it
 * (the FID's handle, lib/index_fetch.c loafre__fetch_relpath), the entries
 * of the same directory with its inode and, while fewer than st_nlink - 1
 * are known, a walk of the rule's sources comparing d_ino (at most
 * WALK_MAX entries; at most OTHER_LINKS_MAX names); a name the destination
 * already has is linked. Symlinks and special files with several names
 * are linked the same way.
 *
 * Directory times. After an entry changed, its directory's times are set
 * from the source; when the directory's path as of the record is gone at
 * the source (a directory above renamed since), its FID is kept (at most
 * PEND_MAX) and its times are set where it is after the directory rename
 * that brings it there; after a directory rename, the times of the
 * directories in it (two levels, at most CHILD_DIRS_MAX) are set again too.
 */
#include "repl_ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "index_fetch.h"
#include "util.h"

extern char **environ;

#define OTHER_LINKS_MAX 16      /* other names of a file looked for */
#define DIR_SCAN_MAX 1000000u   /* entries of a directory read when looking for them */
#define WALK_MAX 4000000u       /* entries of the sources read when looking for them */
#define WALK_DEPTH 256u         /* directory depth of that walk */
#define MERGE_NAMES_MAX 1000000u /* entries of one directory merged by a rename */
#define MERGE_DEPTH_MAX 256u    /* directory depth of a merge */
#define PEND_MAX 256u           /* files with names to link again after a directory rename */
#define PEND_TRIES 64u          /* directory renames (per destination) they are tried again after */
#define ORPHAN_WATCH_MS 600000u /* how long a relocated name is watched (orphan_check) */
#define ORPHAN_CHECK_MAX 256u   /* relocated names orphan_check looks at per call */
#define PRUNE_MAX 100000u       /* destination entries one tree_again looks at */
#define PRUNE_DEPTH 64u         /* directory depth it looks into */
#define ANC_MAX 7u              /* directories above a relocated name's own noted */
#define CMD_ERR_MAX 4096        /* stderr kept from a template command */
#define CHILD_DIRS_MAX 128u     /* subdirectories whose times a directory rename resets */

static const char *const rop_names[LOAFRE__ROP_N] = {
	"none", "mkdir", "create", "content", "link", "rename",
	"unlink", "rmdir", "setattr", "xattr", "sync",
};

const char *loafre__rop_name(enum loafre__rop op)
{
	return (unsigned)op < LOAFRE__ROP_N ? rop_names[op] : "?";
}

bool loafre__rop_dest_down(int err)
{
	return err == -EHOSTUNREACH || err == -ETIMEDOUT || err == -ENOTCONN ||
	       err == -ECONNREFUSED || err == -ECONNRESET || err == -ENETUNREACH ||
	       err == -EHOSTDOWN || err == -ESHUTDOWN;
}

/* ---- mapping ------------------------------------------------------------------- */

static bool under(const char *path, const char *dir)
{
	size_t l = strlen(dir);

	if (l == 1 && dir[0] == '/')
		return path[0] == '/';
	return strncmp(path, dir, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

int loafre__rop_source_of(const struct loafre__rule *r, const char *fspath, unsigned *ret_src,
			  const char **ret_rel)
{
	const struct loafre_rule_config *rc = loafre__rule_config(r);

	if (!fspath || fspath[0] != '/')
		return -ENOENT;
	for (size_t i = 0; i < rc->n_sources; i++) {
		const char *s = rc->sources[i];
		size_t l = strlen(s);
		const char *rel;

		if (!under(fspath, s))
			continue;
		rel = fspath + (l == 1 ? 0 : l);
		while (*rel == '/')
			rel++;
		*ret_src = (unsigned)i;
		*ret_rel = rel;
		return 0;
	}
	return -ENOENT;
}

/* Whether the object at fspath is replicated (see the head of repl_ops.h
 * for directories). */
static bool in_scope(const struct loafre__rule *r, const char *fspath, bool is_dir,
		     const struct loafre__rule_attr *attr, uint32_t type)
{
	const struct loafre_rule_config *rc = loafre__rule_config(r);
	unsigned src;
	const char *rel;

	if (!fspath || loafre__rop_source_of(r, fspath, &src, &rel) < 0)
		return false;
	if (!is_dir)
		return loafre__rule_match(r, fspath, false, attr, type);
	if (type >= 32 || !(rc->events & (1u << type)))
		return false;
	return !loafre__rule_excluded(r, fspath);
}

static int plan(const struct loafre__rule *r, enum loafre__rop op, const char *fspath,
		bool is_dir, struct loafre__rop_plan *o)
{
	memset(o, 0, sizeof(*o));
	if (loafre__rop_source_of(r, fspath, &o->src, &o->rel) < 0)
		return 0;
	/* the source directory itself is the destination root: never created,
	 * removed or renamed there; only its attributes follow */
	if (o->rel[0] == '\0' && op != LOAFRE__ROP_SETATTR && op != LOAFRE__ROP_XATTR)
		return 0;
	o->op = op;
	o->fspath = fspath;
	o->is_dir = is_dir;
	return 1;
}

int loafre__rop_map(const struct loafre__rule *r, const struct loafre_rec *rec,
		    const struct loafre_rec_paths *p, const struct loafre__rule_attr *attr,
		    struct loafre__rop_plan out[LOAFRE__ROP_MAX])
{
	bool is_dir = p->flags & LOAFRE_RP_DIR;
	uint32_t t = rec->type;
	enum loafre__rop op;

	if (p->path_err == -EXDEV)
		return -EXDEV;
	switch (t) {
	case LOAFRE_CL_MKDIR:
	case LOAFRE_CL_RMDIR:
		is_dir = true;
		/* fallthrough */
	case LOAFRE_CL_CREATE:
	case LOAFRE_CL_MKNOD:
	case LOAFRE_CL_SOFTLINK:
	case LOAFRE_CL_HARDLINK:
	case LOAFRE_CL_UNLINK:
		if (!p->path || !in_scope(r, p->path, is_dir,
					  t == LOAFRE_CL_UNLINK || t == LOAFRE_CL_RMDIR ? NULL
											: attr,
					  t))
			return 0;
		op = t == LOAFRE_CL_MKDIR      ? LOAFRE__ROP_MKDIR
		     : t == LOAFRE_CL_RMDIR    ? LOAFRE__ROP_RMDIR
		     : t == LOAFRE_CL_HARDLINK ? LOAFRE__ROP_LINK
		     : t == LOAFRE_CL_UNLINK   ? (is_dir ? LOAFRE__ROP_RMDIR : LOAFRE__ROP_UNLINK)
					       : LOAFRE__ROP_CREATE;
		return plan(r, op, p->path, is_dir, &out[0]);
	case LOAFRE_CL_RENAME: {
		bool s_in = p->spath && in_scope(r, p->spath, is_dir, attr, t);
		bool d_in = p->path && in_scope(r, p->path, is_dir, attr, t);

		if (s_in && d_in) {
			if (plan(r, LOAFRE__ROP_RENAME, p->path, is_dir, &out[0]) == 0)
				return 0;
			if (loafre__rop_source_of(r, p->spath, &out[0].src2, &out[0].rel2) < 0 ||
			    out[0].rel2[0] == '\0')
				return 0;
			out[0].fspath2 = p->spath;
			return 1;
		}
		if (s_in) /* moved out of the rule's scope */
			return plan(r, is_dir ? LOAFRE__ROP_RMDIR : LOAFRE__ROP_UNLINK, p->spath,
				    is_dir, &out[0]);
		if (d_in) /* moved into it */
			return plan(r, LOAFRE__ROP_SYNC, p->path, is_dir, &out[0]);
		return 0;
	}
	case LOAFRE_CL_CLOSE:
	case LOAFRE_CL_MTIME:
	case LOAFRE_CL_TRUNC:
	case LOAFRE_CL_SETATTR:
	case LOAFRE_CL_CTIME:
	case LOAFRE_CL_SETXATTR:
		if (!p->path)
			return p->path_err == -ENODATA ? -ENODATA : 0;
		if (!in_scope(r, p->path, is_dir, attr, t))
			return 0;
		if (t == LOAFRE_CL_SETXATTR)
			op = LOAFRE__ROP_XATTR;
		else if (t == LOAFRE_CL_SETATTR || t == LOAFRE_CL_CTIME || is_dir)
			op = LOAFRE__ROP_SETATTR;
		else
			op = LOAFRE__ROP_CONTENT;
		return plan(r, op, p->path, is_dir, &out[0]);
	default:
		return 0;
	}
}

/* The kind of record that coalesces: 2 content, 1 attributes, 0 none. */
static int coalesce_class(uint32_t t)
{
	switch (t) {
	case LOAFRE_CL_CLOSE:
	case LOAFRE_CL_MTIME:
	case LOAFRE_CL_TRUNC:
		return 2;
	case LOAFRE_CL_SETATTR:
	case LOAFRE_CL_CTIME:
		return 1;
	default:
		return 0;
	}
}

int loafre__rop_supersedes(uint32_t head, uint32_t later)
{
	int h = coalesce_class(head), l = coalesce_class(later);

	if (!h || !l)
		return -1;
	return h == l ? 1 : 0;
}

/* ---- filters ------------------------------------------------------------------- */

bool loafre__rop_protect(void *arg, const char *rel, bool is_dir)
{
	const struct loafre__rule *r = arg;
	const struct loafre_rule_config *rc = loafre__rule_config(r);
	char p[PATH_MAX];

	(void)is_dir;
	for (size_t i = 0; i < rc->n_sources; i++) {
		const char *s = rc->sources[i];
		int n = snprintf(p, sizeof(p), "%s/%s", strcmp(s, "/") == 0 ? "" : s, rel);

		if (n < 0 || (size_t)n >= sizeof(p) || loafre__rule_excluded(r, p))
			return true;
	}
	return false;
}

bool loafre__rop_filter(void *arg, const char *rel, bool is_dir)
{
	const struct loafre__rop_filter_arg *fa = arg;
	const struct loafre_rule_config *rc = loafre__rule_config(fa->rule);
	const char *s = rc->sources[fa->src];
	struct loafre__rule_attr a, *ap = NULL;
	struct stat st;
	char p[PATH_MAX];
	int n;

	n = snprintf(p, sizeof(p), "%s%s%s", strcmp(s, "/") == 0 ? "" : s, rel[0] ? "/" : "",
		     rel);
	if (n < 0 || (size_t)n >= sizeof(p))
		return false;
	if (!p[0])
		strcpy(p, "/");
	if (is_dir)
		return !loafre__rule_excluded(fa->rule, p);
	if ((rc->has_min_size || rc->has_max_size || rc->has_min_age || rc->has_max_age ||
	     rc->n_owners || rc->n_gids) &&
	    fa->src_root >= 0 &&
	    fstatat(fa->src_root, rel[0] ? rel : ".", &st, AT_SYMLINK_NOFOLLOW) == 0) {
		a.size = (uint64_t)st.st_size;
		a.uid = st.st_uid;
		a.gid = st.st_gid;
		a.mtime = st.st_mtim.tv_sec;
		a.now = time(NULL);
		ap = &a;
	}
	/* the initial sync copies what a CREAT would */
	return loafre__rule_match(fa->rule, p, false, ap, LOAFRE_CL_CREATE) ||
	       loafre__rule_match(fa->rule, p, false, ap, LOAFRE_CL_CLOSE);
}

/* ---- template commands ---------------------------------------------------------- */

static uint64_t mono_ms(void)
{
	return loafre__mono_ns() / 1000000u;
}

/* Runs argv (no shell); 0, or -EIO / -ETIMEDOUT with a line in why. */
static int run_cmd(char **argv, unsigned timeout_ms, char *why)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	char err[CMD_ERR_MAX + 1];
	size_t elen = 0;
	int pfd[2] = {-1, -1}, status = 0, r;
	pid_t pid = -1;
	uint64_t deadline = mono_ms() + timeout_ms;
	bool exited = false, eof = false, fa_ok = false, at_ok = false;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(why, LOAFRE__DEST_WHY_MAX, "cannot run '%s': %s", argv[0], strerror(-r));
		return r;
	}
	r = -posix_spawn_file_actions_init(&fa);
	if (r < 0)
		goto out;
	fa_ok = true;
	r = -posix_spawnattr_init(&at);
	if (r < 0)
		goto out;
	at_ok = true;
	sigemptyset(&none);
	sigfillset(&dfl);
	if ((r = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) < 0 ||
	    (r = -posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) < 0 ||
	    (r = -posix_spawn_file_actions_adddup2(&fa, pfd[1], 2)) < 0 ||
	    (r = -posix_spawnattr_setpgroup(&at, 0)) < 0 ||
	    (r = -posix_spawnattr_setsigmask(&at, &none)) < 0 ||
	    (r = -posix_spawnattr_setsigdefault(&at, &dfl)) < 0 ||
	    (r = -posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							POSIX_SPAWN_SETSIGDEF)) < 0)
		goto out;
	r = -posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	if (r < 0) {
		pid = -1;
		snprintf(why, LOAFRE__DEST_WHY_MAX, "cannot run '%s': %s", argv[0], strerror(-r));
		goto out;
	}
	close(pfd[1]);
	pfd[1] = -1;
	while (!exited) {
		struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
		uint64_t now = mono_ms();
		pid_t w;

		if (now >= deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			pid = -1;
			snprintf(why, LOAFRE__DEST_WHY_MAX, "'%s' timed out after %u ms (killed)",
				 argv[0], timeout_ms);
			r = -ETIMEDOUT;
			goto out;
		}
		if (!eof && poll(&pf, 1, 50) > 0) {
			char tmp[512];
			ssize_t n = read(pfd[0], tmp, sizeof(tmp));

			if (n <= 0) {
				eof = true;
			} else {
				size_t k = (size_t)n;
				if (k > CMD_ERR_MAX - elen)
					k = CMD_ERR_MAX - elen;
				memcpy(err + elen, tmp, k);
				elen += k;
			}
		} else if (eof) {
			usleep(20000);
		}
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			exited = true;
		else if (w < 0 && errno != EINTR) {
			r = -errno;
			goto out;
		}
	}
	pid = -1;
	err[elen] = '\0';
	for (size_t i = 0; i < elen; i++)
		if (err[i] == '\n' || err[i] == '\r') {
			err[i] = '\0';
			break;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		r = 0;
	} else {
		if (WIFEXITED(status))
			snprintf(why, LOAFRE__DEST_WHY_MAX, "'%.100s' exited with status %d%s%.300s",
				 argv[0], WEXITSTATUS(status), err[0] ? ": " : "", err);
		else
			snprintf(why, LOAFRE__DEST_WHY_MAX, "'%.100s' killed by signal %d%s%.300s",
				 argv[0], WTERMSIG(status), err[0] ? ": " : "", err);
		r = -EIO;
	}
out:
	if (pid > 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (r < 0 && r != -EIO && r != -ETIMEDOUT && !why[0])
		snprintf(why, LOAFRE__DEST_WHY_MAX, "cannot run '%s': %s", argv[0], strerror(-r));
	return r;
}

/* Storage of the template variables of one expansion. */
struct tvals {
	char src[PATH_MAX * 2];  /* %{src} */
	char dst[PATH_MAX * 2];  /* %{dst} */
	char old[PATH_MAX * 2];  /* %{old} */
	char mode[16];           /* %{mode} */
	char uid[16];            /* %{uid} */
	char gid[16];            /* %{gid} */
	char target[PATH_MAX];   /* %{target} */
};

/* Expands and runs the template of `action` for op (old_rel: move/link). */
static int run_template(const struct loafre__rop_ctx *c, const struct loafre__template *t,
			const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
			const char *old_rel, const struct loafre_rec *rec, char *why)
{
	struct loafre__rule_vars v = {0};
	struct tvals *tv = calloc(1, sizeof(*tv));
	const char *rootp = strcmp(c->fs_path, "/") == 0 ? "" : c->fs_path;
	const char *name;
	struct stat st;
	char **argv = NULL;
	int r, src_root = c->src_roots[op->src];

	if (!tv)
		return -ENOMEM;
	snprintf(tv->src, sizeof(tv->src), "%s%s", rootp, op->fspath);
	snprintf(tv->dst, sizeof(tv->dst), "%s%s%s", dc->path, op->rel[0] ? "/" : "", op->rel);
	v.v[LOAFRE__TV_SRC] = tv->src;
	v.v[LOAFRE__TV_DST] = tv->dst;
	v.v[LOAFRE__TV_REL] = op->rel;
	if (old_rel) {
		snprintf(tv->old, sizeof(tv->old), "%s/%s", dc->path, old_rel);
		v.v[LOAFRE__TV_OLD] = tv->old;
		v.v[LOAFRE__TV_OLDREL] = old_rel;
	}
	v.v[LOAFRE__TV_HOST] = dc->host ? dc->host : "";
	v.v[LOAFRE__TV_USER] = dc->user ? dc->user : "";
	v.v[LOAFRE__TV_DEST] = dc->path;
	name = strrchr(op->rel, '/');
	v.v[LOAFRE__TV_NAME] = name ? name + 1 : op->rel;
	v.v[LOAFRE__TV_RULE] = loafre__rule_config(c->rule)->name;
	if (rec && rec->xattr[0])
		v.v[LOAFRE__TV_XATTR] = rec->xattr;
	if (src_root >= 0 && fstatat(src_root, op->rel[0] ? op->rel : ".", &st,
				     AT_SYMLINK_NOFOLLOW) == 0) {
		snprintf(tv->mode, sizeof(tv->mode), "%o", (unsigned)(st.st_mode & 07777));
		snprintf(tv->uid, sizeof(tv->uid), "%u", loafre__idmap_map(&dc->uid_map, st.st_uid));
		snprintf(tv->gid, sizeof(tv->gid), "%u", loafre__idmap_map(&dc->gid_map, st.st_gid));
		v.v[LOAFRE__TV_MODE] = tv->mode;
		v.v[LOAFRE__TV_UID] = tv->uid;
		v.v[LOAFRE__TV_GID] = tv->gid;
		v.v[LOAFRE__TV_TYPE] = S_ISREG(st.st_mode)   ? "file"
				       : S_ISDIR(st.st_mode) ? "dir"
				       : S_ISLNK(st.st_mode) ? "symlink"
							     : "other";
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(src_root, op->rel, tv->target, sizeof(tv->target) - 1);
			if (n >= 0) {
				tv->target[n] = '\0';
				v.v[LOAFRE__TV_TARGET] = tv->target;
			}
		}
	}
	r = loafre__rule_expand(t, &v, &argv);
	if (r < 0) {
		snprintf(why, LOAFRE__DEST_WHY_MAX, "cannot expand the command for '%s': %s", op->rel,
			 strerror(-r));
		goto out;
	}
	r = run_cmd(argv, c->cmd_timeout_ms ? c->cmd_timeout_ms : LOAFRE__ROP_CMD_TIMEOUT_MS, why);
out:
	loafre__argv_free(argv);
	free(tv);
	return r;
}

/* ---- hard links ---------------------------------------------------------------- */

struct others {
	char *fspath[OTHER_LINKS_MAX]; /* other names, relative to the fs root */
	size_t n;
};

static void others_free(struct others *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->fspath[i]);
	o->n = 0;
}

static void others_add(struct others *o, const char *fspath, const char *self)
{
	if (o->n >= OTHER_LINKS_MAX || strcmp(fspath, self) == 0)
		return;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->fspath[i], fspath) == 0)
			return;
	o->fspath[o->n] = strdup(fspath);
	if (o->fspath[o->n])
		o->n++;
}

/* The walk of the rule's sources for the other names of an inode. */
struct walk {
	const struct stat *st;  /* the file */
	struct others *o;       /* names found */
	const char *self;       /* its own name (fs path) */
	char path[PATH_MAX];    /* fs path of the directory being read */
	size_t len;             /* strlen(path) */
	unsigned long seen;     /* entries read */
	size_t want;            /* names wanted */
};

static void walk_dir(struct walk *wk, int dfd, unsigned depth)
{
	DIR *dir = fdopendir(dfd);

	if (!dir) {
		close(dfd);
		return;
	}
	while (wk->o->n < wk->want && wk->seen < WALK_MAX) {
		struct dirent *de = readdir(dir);
		size_t nl, save = wk->len;
		struct stat s2;

		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		wk->seen++;
		nl = strlen(de->d_name);
		if (wk->len + 1 + nl >= sizeof(wk->path))
			continue;
		if ((de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) && depth < WALK_DEPTH) {
			int cfd = openat(dirfd(dir), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (cfd >= 0) {
				if (fstat(cfd, &s2) == 0 && s2.st_dev == wk->st->st_dev) {
					wk->path[wk->len] = '/';
					memcpy(wk->path + wk->len + 1, de->d_name, nl + 1);
					wk->len += 1 + nl;
					walk_dir(wk, cfd, depth + 1);
					wk->len = save;
					wk->path[save] = '\0';
				} else {
					close(cfd);
				}
				continue;
			}
		}
		if (de->d_ino != wk->st->st_ino ||
		    fstatat(dirfd(dir), de->d_name, &s2, AT_SYMLINK_NOFOLLOW) < 0 ||
		    s2.st_ino != wk->st->st_ino || s2.st_dev != wk->st->st_dev)
			continue;
		wk->path[wk->len] = '/';
		memcpy(wk->path + wk->len + 1, de->d_name, nl + 1);
		others_add(wk->o, wk->path, wk->self);
		wk->path[save] = '\0';
	}
	closedir(dir);
}

/* loafre__fetch_relpath of fid under the context's fetch lock. */
static int fid_relpath(const struct loafre__rop_ctx *c, const struct loafre_fid *fid, char *buf,
		       size_t cap)
{
	int r;

	if (c->fetch_lock)
		pthread_mutex_lock(c->fetch_lock);
	r = loafre__fetch_relpath(c->fetch, fid, buf, cap);
	if (c->fetch_lock)
		pthread_mutex_unlock(c->fetch_lock);
	return r;
}

/* Other current names of the object at op (stat st, FID of rec if any). */
static void find_others(const struct loafre__rop_ctx *c, const struct loafre__rop_plan *op,
			const struct loafre_rec *rec, const struct stat *st, struct others *o)
{
	int src_root = c->src_roots[op->src];
	const char *slash, *name;
	char buf[PATH_MAX];
	DIR *dir = NULL;
	int pfd, dfd;

	if (rec && c->fetch) {
		/* the object: a RENME's is its sfid (its tfid is the entry it
		 * replaced, another object) */
		const struct loafre_fid *fid =
			rec->type == LOAFRE_CL_RENAME ? &rec->sfid : &rec->tfid;
		unsigned fsrc;
		const char *frel;
		struct stat fs;
		int r;

		r = fid_relpath(c, fid, buf + 1, sizeof(buf) - 1);
		buf[0] = '/';
		/* a name of this very inode (not of the one the record named) */
		if (r == 0 && loafre__rop_source_of(c->rule, buf, &fsrc, &frel) == 0 && frel[0] &&
		    c->src_roots[fsrc] >= 0 &&
		    fstatat(c->src_roots[fsrc], frel, &fs, AT_SYMLINK_NOFOLLOW) == 0 &&
		    fs.st_ino == st->st_ino && fs.st_dev == st->st_dev)
			others_add(o, buf, op->fspath);
	}
	/* the same directory: `ln a b` */
	pfd = loafre__repl_open_parent(src_root, op->rel, &name);
	if (pfd < 0)
		return;
	dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(pfd);
	if (dfd < 0)
		return;
	dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return;
	}
	slash = strrchr(op->fspath, '/');
	for (unsigned seen = 0; seen < DIR_SCAN_MAX && o->n < OTHER_LINKS_MAX; seen++) {
		struct dirent *de = readdir(dir);
		struct stat s2;
		int n;

		if (!de)
			break;
		if (de->d_ino != st->st_ino || strcmp(de->d_name, name) == 0)
			continue;
		if (fstatat(dirfd(dir), de->d_name, &s2, AT_SYMLINK_NOFOLLOW) < 0 ||
		    s2.st_ino != st->st_ino || s2.st_dev != st->st_dev)
			continue;
		n = snprintf(buf, sizeof(buf), "%.*s/%s", (int)(slash - op->fspath), op->fspath,
			     de->d_name);
		if (n > 0 && (size_t)n < sizeof(buf))
			others_add(o, buf, op->fspath);
	}
	closedir(dir);
	/* names elsewhere: a walk of the rule's sources (d_ino: no stat per entry) */
	{
		const struct loafre_rule_config *rc = loafre__rule_config(c->rule);
		struct walk *wk;
		size_t want = st->st_nlink - 1 < OTHER_LINKS_MAX ? st->st_nlink - 1 : OTHER_LINKS_MAX;

		if (o->n >= want || !(wk = calloc(1, sizeof(*wk))))
			return;
		wk->st = st;
		wk->o = o;
		wk->self = op->fspath;
		wk->want = want;
		for (size_t i = 0; i < rc->n_sources && o->n < want; i++) {
			const char *s = rc->sources[i];
			int fd;

			if (c->src_roots[i] < 0 || strlen(s) >= sizeof(wk->path))
				continue;
			strcpy(wk->path, strcmp(s, "/") == 0 ? "" : s);
			wk->len = strlen(wk->path);
			fd = openat(c->src_roots[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0)
				walk_dir(wk, fd, 0);
		}
		free(wk);
	}
}

/* The destination path of another name, when the rule replicates it. */
static const char *other_rel(const struct loafre__rop_ctx *c, const char *fspath)
{
	unsigned src;
	const char *rel;

	if (loafre__rop_source_of(c->rule, fspath, &src, &rel) < 0 || !rel[0] ||
	    !loafre__rule_match(c->rule, fspath, false, NULL, LOAFRE_CL_HARDLINK))
		return NULL;
	return rel;
}

/* After op's file was copied (a new inode at the destination): its other
 * names the destination has are linked to it again. Best effort. */
static void pend_put(struct loafre__rop_moved *m, const struct loafre_fid *fid,
		     const char *fspath);
static int src_stat(const struct loafre__rop_ctx *c, const struct loafre__rop_plan *op,
		    struct stat *st);

/* Is a destination file what the source's file st holds now (a regular
 * file: same size and mtime; anything else: yes)? */
static bool dest_current(const struct stat *ds, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return true;
	return S_ISREG(ds->st_mode) && ds->st_size == st->st_size &&
	       ds->st_mtim.tv_sec == st->st_mtim.tv_sec && ds->st_mtim.tv_nsec == st->st_mtim.tv_nsec;
}

static void relink_others(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			  const struct loafre__rop_plan *op, const struct loafre_rec *rec,
			  const struct stat *st)
{
	struct others o = {0};
	struct stat self;
	bool missing = false, have_self, self_current;

	if (st->st_nlink < 2 || S_ISDIR(st->st_mode))
		return;
	have_self = loafre__dest_lstat(d, op->rel, &self) == 0;
	self_current = have_self && dest_current(&self, st);
	find_others(c, op, rec, st, &o);
	for (size_t i = 0; i < o.n; i++) {
		const char *rel = other_rel(c, o.fspath[i]);
		struct stat ds;

		if (rel && loafre__dest_lstat(d, rel, &ds) == 0) {
			if (have_self && ds.st_ino == self.st_ino && ds.st_dev == self.st_dev)
				continue; /* one file there already */
			if (!self_current) {
				/* The inode at op->rel is not the file as the source
				 * has it (work kept for after a rename, done later:
				 * an older content, or another object's inode, with
				 * names of its own, that a rename still on its way
				 * takes away: storm seed 204). Linking the other
				 * names to it would give them that content; when this
				 * name's is the file's, op->rel joins it instead;
				 * when neither is, the write still to come links
				 * them (after it, op->rel is current). */
				if (have_self && dest_current(&ds, st) &&
				    loafre__dest_link(d, c->src_roots[op->src], rel, op->rel, NULL) == 0) {
					self = ds;
					self_current = true;
				}
				continue;
			}
			loafre__dest_link(d, c->src_roots[op->src], op->rel, rel, NULL);
		} else if (rel) {
			missing = true;
		}
	}
	others_free(&o);
	/* a name the destination does not have yet (its directory not renamed
	 * there yet): tried again after the next directory rename */
	if (missing && rec)
		pend_put(c->moved, rec->type == LOAFRE_CL_RENAME ? &rec->sfid : &rec->tfid,
			 op->fspath);
}

/* ---- plans whose source path is stale ------------------------------------------------ */

struct moved_ent {
	struct loafre_fid fid;  /* the object */
	char *fspath;           /* where it was made (relative to the fs root) */
	struct loafre_fid pfid; /* the directory it was made in (zero: unknown) */
	uint64_t made_ms;       /* when (monotonic ms; 0: no longer watched) */
	uint64_t settled;       /* destinations (bit = index < 64) where the
				 * name is settled (orphan_check) */
	bool tree;              /* a directory a record's sync copied with its
				 * tree: pruned once (orphan_check) */
	struct loafre_fid anc[ANC_MAX]; /* the directories above pfid when it was
				 * made (nearest first; zero: not known) */
	bool gone;              /* not made: a name an UNLNK/RMDIR found at neither
				 * its path nor its directory's current place
				 * (orphan_check: gone_name) */
};

struct loafre__rop_moved {
	pthread_mutex_t mu;     /* everything below */
	struct moved_ent *v;    /* ring of LOAFRE__ROP_MOVED_MAX */
	size_t next;            /* the slot written next */
	struct moved_ent pend[PEND_MAX]; /* files whose names to link again (ring) */
	unsigned pend_tries[PEND_MAX];   /* retries left per entry */
	size_t pend_next;       /* the slot of pend written next */
	struct loafre_fid dt[PEND_MAX]; /* directories whose times to set again (ring) */
	unsigned dt_tries[PEND_MAX];    /* tries left per entry (0: free slot) */
	size_t dt_next;         /* the slot of dt written next */
	size_t orphan_next;     /* the slot of v orphan_check looks at next */
};

/* A directory (fid) whose times could not be set from the source after an
 * entry of it changed: its path as of the record is gone at the source (a
 * directory above it renamed since). Its times are set again where the
 * source has it now, after a directory rename brings it there. */
static void dt_put(struct loafre__rop_moved *m, const struct loafre_fid *fid)
{
	size_t k;

	if (!m || loafre_fid_is_zero(fid))
		return;
	pthread_mutex_lock(&m->mu);
	for (k = 0; k < PEND_MAX; k++)
		if (m->dt_tries[k] && loafre_fid_equal(&m->dt[k], fid))
			break;
	if (k == PEND_MAX) {
		k = m->dt_next;
		m->dt_next = (m->dt_next + 1) % PEND_MAX;
	}
	m->dt[k] = *fid;
	m->dt_tries[k] = PEND_TRIES;
	pthread_mutex_unlock(&m->mu);
}

/* After directory `under` (fs path) was renamed at d: the pending
 * directories now below it get their times from the source. */
static void dt_retry(const struct loafre__rop_ctx *c, struct loafre__dest *d, const char *under_fs)
{
	struct loafre_fid take[PEND_MAX];
	size_t n = 0, ul = strlen(under_fs);

	if (!c->moved || !c->fetch)
		return;
	pthread_mutex_lock(&c->moved->mu);
	for (size_t k = 0; k < PEND_MAX; k++)
		if (c->moved->dt_tries[k])
			take[n++] = c->moved->dt[k];
	pthread_mutex_unlock(&c->moved->mu);
	for (size_t i = 0; i < n; i++) {
		char buf[PATH_MAX];
		const char *rel;
		unsigned src;
		struct stat st, ds;
		int r;

		r = fid_relpath(c, &take[i], buf + 1, sizeof(buf) - 1);
		buf[0] = '/';
		if (r < 0 || strncmp(buf, under_fs, ul) != 0 || (buf[ul] != '/' && buf[ul] != '\0') ||
		    loafre__rop_source_of(c->rule, buf, &src, &rel) < 0 || c->src_roots[src] < 0 ||
		    fstatat(c->src_roots[src], rel[0] ? rel : ".", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || loafre__dest_lstat(d, rel, &ds) < 0 || !S_ISDIR(ds.st_mode))
			continue;
		(void)loafre__dest_setattr(d, c->src_roots[src], rel, LOAFRE__ATTR_TIMES, NULL);
		pthread_mutex_lock(&c->moved->mu);
		for (size_t k = 0; k < PEND_MAX; k++)
			if (c->moved->dt_tries[k] && loafre_fid_equal(&c->moved->dt[k], &take[i])) {
				c->moved->dt_tries[k]--;
				break;
			}
		pthread_mutex_unlock(&c->moved->mu);
	}
}

static void pend_put(struct loafre__rop_moved *m, const struct loafre_fid *fid,
		     const char *fspath)
{
	char *p;
	size_t k;

	if (!m || !(p = strdup(fspath)))
		return;
	pthread_mutex_lock(&m->mu);
	for (k = 0; k < PEND_MAX; k++)
		if (m->pend[k].fspath && loafre_fid_equal(&m->pend[k].fid, fid))
			break;
	if (k == PEND_MAX) {
		k = m->pend_next;
		m->pend_next = (m->pend_next + 1) % PEND_MAX;
		m->pend_tries[k] = PEND_TRIES;
	}
	free(m->pend[k].fspath);
	m->pend[k].fid = *fid;
	m->pend[k].fspath = p;
	pthread_mutex_unlock(&m->mu);
}

/* After a directory rename at d: the pending files' names linked again. */
static void pend_retry(const struct loafre__rop_ctx *c, struct loafre__dest *d)
{
	struct moved_ent take[PEND_MAX];
	size_t n = 0;

	if (!c->moved)
		return;
	pthread_mutex_lock(&c->moved->mu);
	for (size_t k = 0; k < PEND_MAX; k++) {
		if (!c->moved->pend[k].fspath)
			continue;
		take[n].fid = c->moved->pend[k].fid;
		take[n].fspath = strdup(c->moved->pend[k].fspath);
		if (take[n].fspath)
			n++;
		if (--c->moved->pend_tries[k] == 0) {
			free(c->moved->pend[k].fspath);
			c->moved->pend[k].fspath = NULL;
		}
	}
	pthread_mutex_unlock(&c->moved->mu);
	for (size_t i = 0; i < n; i++) {
		struct loafre__rop_plan op = {.op = LOAFRE__ROP_CONTENT, .fspath = take[i].fspath};
		struct loafre_rec rec;
		struct stat st, ds;

		memset(&rec, 0, sizeof(rec));
		rec.type = LOAFRE_CL_CLOSE;
		rec.tfid = take[i].fid;
		if (loafre__rop_source_of(c->rule, op.fspath, &op.src, &op.rel) == 0 && op.rel[0] &&
		    src_stat(c, &op, &st) == 0 && !S_ISDIR(st.st_mode) && st.st_nlink > 1 &&
		    loafre__dest_lstat(d, op.rel, &ds) == 0)
			relink_others(c, d, &op, &rec, &st);
		free(take[i].fspath);
	}
}

static unsigned orphan_check(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			     unsigned di);

unsigned loafre__rop_idle(const struct loafre__rop_ctx *c, struct loafre__dest *d, unsigned di,
			  bool quiet)
{
	bool pend = false, dt = false;
	unsigned removed;

	if (!c->moved || !d)
		return 0;
	removed = quiet ? orphan_check(c, d, di) : 0;
	pthread_mutex_lock(&c->moved->mu);
	for (size_t k = 0; k < PEND_MAX && !(pend && dt); k++) {
		pend = pend || c->moved->pend[k].fspath;
		dt = dt || c->moved->dt_tries[k];
	}
	pthread_mutex_unlock(&c->moved->mu);
	if (pend)
		pend_retry(c, d);
	if (dt)
		dt_retry(c, d, ""); /* every pending directory */
	return removed;
}

int loafre__rop_moved_new(struct loafre__rop_moved **ret)
{
	struct loafre__rop_moved *m = calloc(1, sizeof(*m));

	if (!m || !(m->v = calloc(LOAFRE__ROP_MOVED_MAX, sizeof(*m->v)))) {
		free(m);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->mu, NULL);
	*ret = m;
	return 0;
}

void loafre__rop_moved_free(struct loafre__rop_moved *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < LOAFRE__ROP_MOVED_MAX; i++)
		free(m->v[i].fspath);
	for (size_t i = 0; i < PEND_MAX; i++)
		free(m->pend[i].fspath);
	free(m->v);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static void moved_put(struct loafre__rop_moved *m, const struct loafre_fid *fid,
		      const char *fspath, const struct loafre_fid *pfid, bool tree,
		      const struct loafre_fid *anc, bool gone)
{
	struct moved_ent *e;
	char *p;

	if (!m || !(p = strdup(fspath)))
		return;
	pthread_mutex_lock(&m->mu);
	/* one entry per (object, path): an object may be made at several
	 * names over time (a file renamed on, names it had only briefly) */
	for (size_t i = 0; i < LOAFRE__ROP_MOVED_MAX; i++)
		if (m->v[i].fspath && loafre_fid_equal(&m->v[i].fid, fid) &&
		    strcmp(m->v[i].fspath, fspath) == 0) {
			e = &m->v[i];
			free(e->fspath);
			tree = tree || e->tree;
			goto out;
		}
	e = &m->v[m->next];
	free(e->fspath);
	m->next = (m->next + 1) % LOAFRE__ROP_MOVED_MAX;
out:
	e->gone = gone;
	e->tree = tree;
	if (anc)
		memcpy(e->anc, anc, sizeof(e->anc));
	else
		memset(e->anc, 0, sizeof(e->anc));
	e->fid = *fid;
	e->fspath = p;
	e->pfid = *pfid;
	e->made_ms = mono_ms();
	e->settled = 0;
	pthread_mutex_unlock(&m->mu);
}

/* The FID of the object at relpath (relative to the root, no leading '/')
 * at the source now, into *ret (written on success only). Takes the fetch
 * lock. 0 or -errno. */
static int fid_at(const struct loafre__rop_ctx *c, const char *relpath, struct loafre_fid *ret)
{
	struct loafre__fetch_result res;
	struct loafre_fid got;
	int r;

	if (!c->fetch)
		return -ENOENT;
	if (c->fetch_lock)
		pthread_mutex_lock(c->fetch_lock);
	r = loafre__fetch_path(c->fetch, relpath, &got, &res);
	loafre__fetch_results_free(&res, 1);
	if (c->fetch_lock)
		pthread_mutex_unlock(c->fetch_lock);
	if (r == 0)
		*ret = got;
	return r;
}

/* The FID of the directory of fspath ("/a/b" -> "/a") at the source now,
 * into *ret (zero when not knowable). Takes the fetch lock. */
static void parent_fid(const struct loafre__rop_ctx *c, const char *fspath,
		       struct loafre_fid *ret)
{
	const char *slash = strrchr(fspath, '/');
	char dir[PATH_MAX];
	size_t l = slash ? (size_t)(slash - fspath) : 0;

	memset(ret, 0, sizeof(*ret));
	if (!c->fetch || !slash || l >= sizeof(dir))
		return;
	/* relative to the root, without the leading '/' */
	memcpy(dir, fspath + (l ? 1 : 0), l ? l - 1 : 0);
	dir[l ? l - 1 : 0] = '\0';
	if (fid_at(c, dir, ret) < 0)
		memset(ret, 0, sizeof(*ret));
}

void loafre__rop_moved_note(const struct loafre__rop_ctx *c, const struct loafre_fid *fid,
			    const char *fspath)
{
	struct loafre_fid pf;

	if (!c->moved)
		return;
	parent_fid(c, fspath, &pf);
	moved_put(c->moved, fid, fspath, &pf, false, NULL, false);
}

#define MOVED_PER_FID 8 /* names of one object looked at */

/* fid's entries, newest first: copies of their paths (malloc'ed, into
 * paths[]) and the directories they were made in; how many (at most
 * MOVED_PER_FID). The entries stay: every destination of the worker asks
 * (one after the other), and what the callers do with them is guarded by
 * the destination's and the source's state, so asking again later is
 * harmless; the ring forgets old ones. */
static size_t moved_get(struct loafre__rop_moved *m, const struct loafre_fid *fid,
			char *paths[MOVED_PER_FID], struct loafre_fid pfids[MOVED_PER_FID])
{
	size_t n = 0;

	if (!m)
		return 0;
	pthread_mutex_lock(&m->mu);
	for (size_t k = 0; k < LOAFRE__ROP_MOVED_MAX && n < MOVED_PER_FID; k++) {
		/* from the newest slot backwards */
		size_t i = (m->next + LOAFRE__ROP_MOVED_MAX - 1 - k) % LOAFRE__ROP_MOVED_MAX;

		if (m->v[i].fspath && !m->v[i].gone && loafre_fid_equal(&m->v[i].fid, fid) &&
		    (paths[n] = strdup(m->v[i].fspath)) != NULL)
			pfids[n++] = m->v[i].pfid;
	}
	pthread_mutex_unlock(&m->mu);
	return n;
}

int loafre__rop_relocate(const struct loafre__rop_ctx *c, const struct loafre_rec *rec,
			 struct loafre__rop_plan *op, char *buf, size_t cap)
{
	const struct loafre_fid *fid;
	struct stat st;
	unsigned src;
	const char *rel;
	int r;

	switch (op->op) {
	case LOAFRE__ROP_MKDIR:
	case LOAFRE__ROP_CREATE:
	case LOAFRE__ROP_CONTENT:
	case LOAFRE__ROP_LINK:
	case LOAFRE__ROP_SETATTR:
	case LOAFRE__ROP_XATTR:
	case LOAFRE__ROP_SYNC:
		break;
	default:
		return 1; /* namespace changes apply to the paths as of the record */
	}
	if (c->src_roots[op->src] < 0 ||
	    fstatat(c->src_roots[op->src], op->rel[0] ? op->rel : ".", &st,
		    AT_SYMLINK_NOFOLLOW) == 0 ||
	    (errno != ENOENT && errno != ENOTDIR))
		return 1; /* there (or not knowable): as planned */
	if (!rec || !c->fetch || cap < 2)
		return 0;
	fid = rec->type == LOAFRE_CL_RENAME ? &rec->sfid : &rec->tfid;
	if (c->fetch_lock)
		pthread_mutex_lock(c->fetch_lock);
	/* the record's name in its parent's current place (a directory has
	 * one path), if it is still this object: a file with several names
	 * keeps the one of the record */
	r = -ENOENT;
	if (rec->namelen && !loafre_fid_is_zero(&rec->pfid) &&
	    loafre__fetch_relpath(c->fetch, &rec->pfid, buf + 1, cap - 1) == 0) {
		size_t l = strlen(buf + 1);
		struct loafre__fetch_result res;
		struct loafre_fid got;

		if (l + 2 + rec->namelen < cap) {
			char *p = buf + 1 + l;
			if (l)
				*p++ = '/';
			memcpy(p, rec->name, rec->namelen);
			p[rec->namelen] = '\0';
			if (loafre__fetch_path(c->fetch, buf + 1, &got, &res) == 0 &&
			    loafre_fid_equal(&got, fid))
				r = 0;
			loafre__fetch_results_free(&res, 1);
		}
	}
	if (r < 0)
		r = loafre__fetch_relpath(c->fetch, fid, buf + 1, cap - 1);
	if (c->fetch_lock)
		pthread_mutex_unlock(c->fetch_lock);
	if (r < 0)
		return 0; /* gone: its UNLNK/RMDIR follows */
	buf[0] = '/';
	if (loafre__rop_source_of(c->rule, buf, &src, &rel) < 0 || !rel[0] ||
	    !in_scope(c->rule, buf, op->is_dir, NULL, rec->type))
		return 0; /* moved out of scope: its RENME unlinks it */
	op->fspath = buf;
	op->rel = rel;
	op->src = src;
	if (c->moved) {
		struct loafre_fid pf, anc[ANC_MAX];
		char up[PATH_MAX];
		size_t l = strlen(buf);

		parent_fid(c, buf, &pf);
		/* the directories above: a copy there makes the missing ones
		 * (empty_parents) */
		memset(anc, 0, sizeof(anc));
		if (l < sizeof(up)) {
			char *slash;

			memcpy(up, buf, l + 1);
			if ((slash = strrchr(up, '/')) != NULL)
				*slash = '\0';
			for (size_t k = 0; k < ANC_MAX && (slash = strrchr(up, '/')) != NULL; k++) {
				*slash = '\0';
				if (!up[0] || fid_at(c, up + 1, &anc[k]) < 0)
					break;
			}
		}
		moved_put(c->moved, fid, buf, &pf, false, anc, false);
	}
	return 1;
}

/* fspath's last component in directory pfid where the source has that
 * directory now, into buf ("/dir/name"). 0 or -errno. */
static int name_now(const struct loafre__rop_ctx *c, const struct loafre_fid *pfid,
		    const char *fspath, char *buf, size_t cap)
{
	const char *name = strrchr(fspath, '/');
	size_t l;
	int r;

	if (!name || cap < 2)
		return -EINVAL;
	r = fid_relpath(c, pfid, buf + 1, cap - 1);
	if (r < 0)
		return r;
	buf[0] = '/';
	l = strlen(buf);
	if (l + strlen(name) >= cap)
		return -ENAMETOOLONG;
	strcpy(buf + (l == 1 ? 0 : l), name);
	return 0;
}

/* Whether the object (fid) still has, at the source, the name fspath had
 * (its last component) in the directory fspath was in (pfid, wherever that
 * directory is now): then fspath is gone at the source only because a
 * directory above was renamed since, and the destination's entry there is
 * the object's own (that rename brings it to its place). Without pfid: the
 * name as the kernel names the object now (one of its names, for a file
 * with several). */
static bool still_named(const struct loafre__rop_ctx *c, const struct loafre_fid *fid,
			const char *fspath, const struct loafre_fid *pfid)
{
	const char *a = strrchr(fspath, '/'), *b;
	char cur[PATH_MAX];
	int r;

	if (!c->fetch || !a)
		return false;
	if (!loafre_fid_is_zero(pfid)) {
		struct loafre_fid got;

		return name_now(c, pfid, fspath, cur, sizeof(cur)) == 0 &&
		       fid_at(c, cur + 1, &got) == 0 && loafre_fid_equal(&got, fid);
	}
	r = fid_relpath(c, fid, cur, sizeof(cur));
	if (r < 0)
		return false;
	b = strrchr(cur, '/');
	return strcmp(a + 1, b ? b + 1 : cur) == 0;
}

/* ---- relocated names no record removes ---------------------------------------- */

/* One destination directory's entries (prune). */
struct prune_names {
	char **name;  /* malloc'ed names */
	bool *dir;    /* whether each is a directory at the destination */
	size_t n, cap;
};

static int prune_add(void *arg, const char *name, const struct stat *st)
{
	struct prune_names *pn = arg;

	if (pn->n == pn->cap) {
		size_t cap = pn->cap ? pn->cap * 2 : 64;
		char **nn = realloc(pn->name, cap * sizeof(*nn));
		bool *nd;

		if (!nn)
			return -ENOMEM;
		pn->name = nn;
		if (!(nd = realloc(pn->dir, cap * sizeof(*nd))))
			return -ENOMEM;
		pn->dir = nd;
		pn->cap = cap;
	}
	if (!(pn->name[pn->n] = strdup(name)))
		return -ENOMEM;
	pn->dir[pn->n++] = S_ISDIR(st->st_mode);
	return 0;
}

/* Removes from destination directory rel (fspath at the source; both
 * PATH_MAX buffers, restored on return) the entries the source lacks, in
 * the rule's scope, and looks the same way into the directories both
 * have (depth at most PRUNE_DEPTH, *budget entries at most). Nothing the
 * source has is touched. How many were removed. */
static unsigned prune(const struct loafre__rop_ctx *c, struct loafre__dest *d, unsigned src,
		      char *fspath, char *rel, unsigned depth, size_t *budget)
{
	struct prune_names pn = {0};
	size_t fl = strlen(fspath), rl = strlen(rel);
	unsigned n = 0;

	if (depth > PRUNE_DEPTH || loafre__dest_list_stat(d, rel, prune_add, &pn) < 0)
		goto out;
	for (size_t i = 0; i < pn.n && *budget > 0; i++, (*budget)--) {
		char why[LOAFRE__DEST_WHY_MAX];
		size_t nl = strlen(pn.name[i]);
		struct stat st;

		if (fl + 1 + nl >= PATH_MAX || rl + 1 + nl >= PATH_MAX)
			continue;
		snprintf(fspath + fl, PATH_MAX - fl, "/%s", pn.name[i]);
		snprintf(rel + rl, PATH_MAX - rl, "%s%s", rl ? "/" : "", pn.name[i]);
		if (fstatat(c->src_roots[src], rel, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (pn.dir[i] && S_ISDIR(st.st_mode))
				n += prune(c, d, src, fspath, rel, depth + 1, budget);
		} else if ((errno == ENOENT || errno == ENOTDIR) &&
			   in_scope(c->rule, fspath, pn.dir[i], NULL,
				    pn.dir[i] ? LOAFRE_CL_RMDIR : LOAFRE_CL_UNLINK) &&
			   (pn.dir[i] ? loafre__dest_rmdir(d, c->src_roots[src], rel, why)
				      : loafre__dest_unlink(d, c->src_roots[src], rel, why)) == 0) {
			n++;
		}
		fspath[fl] = '\0';
		rel[rl] = '\0';
	}
out:
	for (size_t i = 0; i < pn.n; i++)
		free(pn.name[i]);
	free(pn.name);
	free(pn.dir);
	return n;
}

/* A directory a record's sync copied with its tree (e->tree), which the
 * source has at fspath (where it was synced, or where renames of
 * directories above took it since): the names in that tree the source
 * lacks are removed (prune; the walk may have copied names the source had
 * for an instant only). 1 + the names removed; 0: to look again (the
 * destination does not have it there yet). */
static int tree_again(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		      const struct loafre_fid *fid, const char *fspath, unsigned src,
		      const char *rel, const struct stat *st)
{
	char fs[PATH_MAX], r[PATH_MAX];
	size_t budget = PRUNE_MAX;
	struct loafre_fid got = {0};
	struct stat ds;
	unsigned n;

	if (!S_ISDIR(st->st_mode))
		return 1; /* another object there now: its records */
	if (fid_at(c, fspath + 1, &got) < 0 || !loafre_fid_equal(&got, fid))
		return 1; /* another object there now: its records */
	if (loafre__dest_lstat(d, rel, &ds) < 0 || !S_ISDIR(ds.st_mode))
		return 0; /* not there yet (a rename on its way) */
	if (strlen(fspath) >= sizeof(fs) || strlen(rel) >= sizeof(r))
		return 1;
	strcpy(fs, fspath);
	strcpy(r, rel);
	n = prune(c, d, src, fs, r, 0, &budget);
	return 1 + (int)(n < INT_MAX - 1 ? n : INT_MAX - 1);
}

/* Whether fid's object is known to be gone at the source (fetch lock). */
static bool fid_gone(const struct loafre__rop_ctx *c, const struct loafre_fid *fid)
{
	int r;

	if (c->fetch_lock)
		pthread_mutex_lock(c->fetch_lock);
	r = loafre__fetch_gone(c->fetch, fid);
	if (c->fetch_lock)
		pthread_mutex_unlock(c->fetch_lock);
	return r == 1;
}

static int first_name(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return 1;
}

/* After relocated name e (rel of source src) is gone from d: the
 * directories above it that a copy there made (its missing parents) and
 * that no record names: each one, nearest first, whose FID is known (e's
 * pfid, then e->anc), which the source does not have at that path, whose
 * directory is gone at the source or at d where the source has it now
 * (else the rename that takes it there is still to come), and which is
 * empty at d, is removed. How many. */
static unsigned empty_parents(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			      unsigned src, const struct moved_ent *e, const char *rel)
{
	char fs[PATH_MAX], why[LOAFRE__DEST_WHY_MAX];
	size_t off = (size_t)(rel - e->fspath);
	unsigned n = 0;
	char *slash;

	if (rel < e->fspath || strlen(e->fspath) >= sizeof(fs))
		return 0;
	strcpy(fs, e->fspath);
	/* (a destination sets a directory's times from the source after its
	 * entries change: those of the directory kept follow) */
	for (size_t k = 0; k <= ANC_MAX && (slash = strrchr(fs + off, '/')) != NULL; k++) {
		const struct loafre_fid *fid = k ? &e->anc[k - 1] : &e->pfid;
		const char *dr = fs + off, *nrel;
		char now[PATH_MAX];
		struct stat st;
		unsigned nsrc;
		int r;

		*slash = '\0';
		if (loafre_fid_is_zero(fid))
			break;
		if (fstatat(c->src_roots[src], dr, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		    (errno != ENOENT && errno != ENOTDIR))
			break; /* the source has it (or not knowable) */
		r = fid_relpath(c, fid, now + 1, sizeof(now) - 1);
		if (r == 0) {
			now[0] = '/';
			if (loafre__rop_source_of(c->rule, now, &nsrc, &nrel) == 0 && nrel[0] &&
			    loafre__dest_lstat(d, nrel, &st) < 0)
				break; /* its rename is still to come */
		} else if (r != -EXDEV && !(r == -ENOENT && fid_gone(c, fid))) {
			break;
		}
		if (!in_scope(c->rule, fs, true, NULL, LOAFRE_CL_RMDIR) ||
		    loafre__dest_lstat(d, dr, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    loafre__dest_list(d, dr, first_name, NULL) != 0 ||
		    loafre__dest_rmdir(d, c->src_roots[src], dr, why) < 0)
			break;
		n++;
	}
	return n;
}

/* Relocated name e (rel of source src) that the source no longer has,
 * whose object is still in the directory it was made in, now at crel
 * (source csrc): when d has that directory at its current place already
 * (another directory there: the rename that takes the old one there,
 * if any, merges them), the entry is renamed to crel at d. The object's
 * records may never name rel: a directory name the source had for an
 * instant only. 2 + the empty directories removed; 0: to look again. */
static int to_place(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		    const struct moved_ent *e, unsigned src, const char *rel, unsigned csrc,
		    const char *crel)
{
	char dir[PATH_MAX], why[LOAFRE__DEST_WHY_MAX];
	const char *slash = strrchr(crel, '/');
	struct stat st, ds;

	if (csrc != src || (slash && (size_t)(slash - crel) >= sizeof(dir)))
		return 0;
	memcpy(dir, crel, slash ? (size_t)(slash - crel) : 0);
	dir[slash ? slash - crel : 0] = '\0';
	if ((dir[0] && (loafre__dest_lstat(d, dir, &ds) < 0 || !S_ISDIR(ds.st_mode))) ||
	    loafre__dest_lstat(d, rel, &ds) < 0 || loafre__rule_template(c->rule, LOAFRE_ACT_MOVE) ||
	    !in_scope(c->rule, e->fspath, S_ISDIR(ds.st_mode), NULL, LOAFRE_CL_RENAME))
		return 0;
	if (fstatat(c->src_roots[src], rel, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    (errno != ENOENT && errno != ENOTDIR))
		return 0;
	if (loafre__dest_rename(d, c->src_roots[src], rel, crel, why) < 0)
		return 0;
	return 2 + (int)empty_parents(c, d, src, e, rel);
}

/* A name an UNLNK/RMDIR found at neither its path nor where the source has
 * its directory now (e->gone): that directory may have been between
 * renames at d. Once d has the directory at its current place: the name
 * there is removed, unless the source has that name again. 1 + removed; 0:
 * to look again. */
static int gone_name(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		     const struct moved_ent *e)
{
	char where[PATH_MAX], why[LOAFRE__DEST_WHY_MAX];
	const char *wrel, *slash;
	struct stat st, ds;
	unsigned wsrc;
	int r;

	r = name_now(c, &e->pfid, e->fspath, where, sizeof(where));
	if (r < 0)
		return r == -ENOENT && fid_gone(c, &e->pfid) ? 1 : 0;
	if (loafre__rop_source_of(c->rule, where, &wsrc, &wrel) < 0 || !wrel[0] ||
	    c->src_roots[wsrc] < 0)
		return 1;
	if (fstatat(c->src_roots[wsrc], wrel, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    (errno != ENOENT && errno != ENOTDIR))
		return 1; /* the name is back: its own records */
	if (loafre__dest_lstat(d, wrel, &ds) < 0) {
		char dir[PATH_MAX];
		size_t l;

		/* settled when d has the directory at its place */
		slash = strrchr(wrel, '/');
		if (!slash)
			return 1;
		l = (size_t)(slash - wrel);
		if (l >= sizeof(dir))
			return 1;
		memcpy(dir, wrel, l);
		dir[l] = '\0';
		return loafre__dest_lstat(d, dir, &ds) == 0 ? 1 : 0;
	}
	if (!in_scope(c->rule, where, S_ISDIR(ds.st_mode), NULL,
		      S_ISDIR(ds.st_mode) ? LOAFRE_CL_RMDIR : LOAFRE_CL_UNLINK))
		return 1;
	if (fstatat(c->src_roots[wsrc], wrel, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    (errno != ENOENT && errno != ENOTDIR))
		return 1;
	return loafre__dest_unlink(d, c->src_roots[wsrc], wrel, why) == 0 ? 2 : 0;
}

/* Whether relocated name e at d is settled (1 + what was removed or moved
 * now: 1 when d does not have it) or still to watch (0). When the source
 * lacks the name:
 *  - the object has not kept that name in the directory it was made in
 *    (still_named): it is removed when the object is gone at the source,
 *    lives outside the rule's scope, or d already has it where the source
 *    has it now (otherwise the record that takes it there may still be on
 *    its way, and may name this path);
 *  - it has (a directory above renamed since): when d has it where the
 *    source has it now too, this is a second copy, removed; when d has
 *    the directory it is in now, it is moved there (to_place); else the
 *    directory rename that brings it is awaited.
 * The directories above a name removed or moved that the source lacks and
 * that are empty at d go too (empty_parents). The source is looked at
 * again last, just before a removal. A directory of e->tree that the
 * source has (at the name, or where renames above took it): tree_again. */
static int orphan_one(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		      const struct moved_ent *e)
{
	char cur[PATH_MAX], why[LOAFRE__DEST_WHY_MAX];
	const char *rel, *crel;
	unsigned src, csrc;
	struct stat st, ds;
	bool named;
	int r;

	if (loafre__rop_source_of(c->rule, e->fspath, &src, &rel) < 0 || !rel[0] ||
	    c->src_roots[src] < 0)
		return 1; /* not a name of this rule's (any more) */
	if (e->gone)
		return gone_name(c, d, e);
	if (fstatat(c->src_roots[src], rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return e->tree ? tree_again(c, d, &e->fid, e->fspath, src, rel, &st)
			       : 0; /* the source has it */
	if (errno != ENOENT && errno != ENOTDIR)
		return 0; /* not knowable */
	/* where this name is now: its directory's current path (the kernel's
	 * name of a file with several names may be another); else where
	 * the object is */
	named = still_named(c, &e->fid, e->fspath, &e->pfid);
	if (named && !loafre_fid_is_zero(&e->pfid)) {
		r = name_now(c, &e->pfid, e->fspath, cur, sizeof(cur));
	} else {
		r = fid_relpath(c, &e->fid, cur + 1, sizeof(cur) - 1);
		if (r == 0)
			cur[0] = '/';
	}
	if (named) {
		/* a directory above renamed: its rename brings it, unless d
		 * has the object where the source has it now already (then
		 * this is a second copy: made where that directory was, which
		 * the rename merges into the new place); a synced tree is
		 * pruned where it is now */
		if (r < 0)
			return 0;
		if (loafre__rop_source_of(c->rule, cur, &csrc, &crel) < 0 || !crel[0] ||
		    c->src_roots[csrc] < 0)
			return e->tree ? 1 : 0;
		if (fstatat(c->src_roots[csrc], crel, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return 0;
		if (e->tree)
			return tree_again(c, d, &e->fid, cur, csrc, crel, &st);
		if (strcmp(cur, e->fspath) == 0)
			return 0;
		if (loafre__dest_lstat(d, crel, &ds) < 0)
			return to_place(c, d, e, src, rel, csrc, crel);
	} else if (r == 0) {
		if (strcmp(cur, e->fspath) == 0)
			return 0;
		if (loafre__rop_source_of(c->rule, cur, &csrc, &crel) == 0 && crel[0]) {
			/* in the rule's scope: its place at d first */
			if (fstatat(c->src_roots[csrc], crel, &st, AT_SYMLINK_NOFOLLOW) < 0)
				return 0;
			if (in_scope(c->rule, cur, S_ISDIR(st.st_mode), NULL, LOAFRE_CL_RENAME) &&
			    loafre__dest_lstat(d, crel, &ds) < 0)
				return 0; /* not at its place yet */
		}
	} else if (r == -ENOENT) {
		/* relpath's -ENOENT may be "not resolvable now" too */
		if (!fid_gone(c, &e->fid))
			return 0;
	} else if (r != -EXDEV) {
		return 0; /* -EXDEV: it lives outside the tree */
	}
	if (loafre__dest_lstat(d, rel, &ds) < 0)
		return 1 + (int)empty_parents(c, d, src, e, rel);
	/* deletes honour excludes and the rule's event types */
	if (!in_scope(c->rule, e->fspath, S_ISDIR(ds.st_mode), NULL,
		      S_ISDIR(ds.st_mode) ? LOAFRE_CL_RMDIR : LOAFRE_CL_UNLINK))
		return 1;
	if (fstatat(c->src_roots[src], rel, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    (errno != ENOENT && errno != ENOTDIR))
		return 0;
	if (loafre__dest_unlink(d, c->src_roots[src], rel, why) < 0)
		return 0;
	return 2 + (int)empty_parents(c, d, src, e, rel);
}

/* Names loafre__rop_relocate (and loafre__rop_moved_note) made at an
 * object's current path are removed by the object's later records when
 * they name that path, or through moved_rel when this process applies
 * them. A name the source never recorded (the local source merges `mv a
 * b; mv b c` into one RENME a -> c) whose records another worker process
 * of the rule applies is removed by neither: an idle worker looks at the
 * names it made (ORPHAN_CHECK_MAX per call, each from ctx.orphan_age_ms
 * after it was made until ORPHAN_WATCH_MS) and removes those orphan_one
 * finds to be orphans. A directory a record's sync copied with its tree
 * (tree_note) is pruned then (tree_again): the walk may have copied names
 * the source had for an instant only, which no record names. Not for a rule whose deletes are a command template
 * (that command gets the records' deletes only). */
static unsigned orphan_check(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			     unsigned di)
{
	struct moved_ent take[ORPHAN_CHECK_MAX];
	uint64_t now = mono_ms(), bit = di < 64 ? UINT64_C(1) << di : 0;
	uint64_t age = c->orphan_age_ms ? c->orphan_age_ms : LOAFRE__ROP_ORPHAN_AGE_MS;
	struct loafre__rop_moved *m = c->moved;
	unsigned removed = 0;
	size_t n = 0;

	if (!c->fetch)
		return 0; /* still_named cannot tell */
	if (loafre__rule_template(c->rule, LOAFRE_ACT_DELETE))
		return 0; /* deletes are the rule's command's, for records only */
	pthread_mutex_lock(&m->mu);
	for (size_t k = 0; k < LOAFRE__ROP_MOVED_MAX && n < ORPHAN_CHECK_MAX; k++) {
		struct moved_ent *e = &m->v[m->orphan_next];

		m->orphan_next = (m->orphan_next + 1) % LOAFRE__ROP_MOVED_MAX;
		if (!e->fspath || !e->made_ms || (e->settled & bit) || now - e->made_ms < age)
			continue;
		if (now - e->made_ms > ORPHAN_WATCH_MS) {
			e->made_ms = 0;
			continue;
		}
		take[n] = *e;
		if ((take[n].fspath = strdup(e->fspath)) != NULL)
			n++;
	}
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < n; i++) {
		int r = orphan_one(c, d, &take[i]);

		removed += r > 1 ? (unsigned)(r - 1) : 0;
		if (r > 0 && bit) {
			pthread_mutex_lock(&m->mu);
			for (size_t k = 0; k < LOAFRE__ROP_MOVED_MAX; k++) {
				struct moved_ent *e = &m->v[k];

				if (e->fspath && e->made_ms == take[i].made_ms &&
				    loafre_fid_equal(&e->fid, &take[i].fid) &&
				    strcmp(e->fspath, take[i].fspath) == 0) {
					e->settled |= bit;
					break;
				}
			}
			pthread_mutex_unlock(&m->mu);
		}
		free(take[i].fspath);
	}
	return removed;
}

/* Whether the source has, in the directory fspath was in (pfid, wherever
 * that directory is now), an entry of fspath's name, whichever object it
 * is: the destination's entry of that name is that object's, or a record
 * still to come makes it so (storm seed 322: `ln h E/r7` recorded, then
 * `mv E/r7 h24; mv y E/r7; mv E m150`; a later HLINK of h's file took E/r7
 * at the destination, y's file by then, for a name the source had had only
 * briefly). */
static bool name_taken(const struct loafre__rop_ctx *c, const char *fspath,
		       const struct loafre_fid *pfid)
{
	char cur[PATH_MAX];
	struct loafre_fid got;

	return !loafre_fid_is_zero(pfid) && name_now(c, pfid, fspath, cur, sizeof(cur)) == 0 &&
	       fid_at(c, cur + 1, &got) == 0;
}

/* Where the object (fid) of a namespace record was made by a relocation
 * (the newest such place first), when the destination has it there and
 * the source does not, nor has that name in the directory it was made in
 * (wherever that is now; the object's or another's): its path relative to
 * the destination (in buf), or NULL. */
static const char *moved_rel(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			     const struct loafre_fid *fid, const char *not_this, char *buf,
			     size_t cap, unsigned *ret_src)
{
	struct loafre_fid pfids[MOVED_PER_FID];
	char *paths[MOVED_PER_FID];
	size_t n = moved_get(c->moved, fid, paths, pfids);
	const char *rel = NULL;

	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (!rel && strcmp(paths[i], not_this) != 0 && strlen(paths[i]) < cap) {
			strcpy(buf, paths[i]);
			if (loafre__rop_source_of(c->rule, buf, ret_src, &rel) < 0 || !rel[0] ||
			    loafre__dest_lstat(d, rel, &st) < 0 ||
			    (c->src_roots[*ret_src] >= 0 &&
			     fstatat(c->src_roots[*ret_src], rel, &st, AT_SYMLINK_NOFOLLOW) == 0) ||
			    still_named(c, fid, paths[i], &pfids[i]) ||
			    name_taken(c, paths[i], &pfids[i]))
				rel = NULL;
		}
		free(paths[i]);
	}
	return rel;
}

/* Where the destination has the entry of a namespace record when its
 * directory was moved on ahead of the record: the record's path (fspath:
 * the directory `parent`, a FID of the record, where it was then, and the
 * entry's name) is not at the destination, because records applied at the
 * source's current paths (loafre__rop_relocate, rename_dir_moved_on) put
 * the directory where the source has it now. The entry's name in the
 * directory's current place, when the destination has an entry there and
 * the source does not (then no other object owns it): its path relative
 * to the destination (borrowed from buf, which gets the fspath), its
 * source's index in *ret_src; else NULL. */
static const char *moved_parent_rel(const struct loafre__rop_ctx *c, struct loafre__dest *d,
				    const struct loafre_fid *parent, const char *fspath,
				    bool is_dir, uint32_t type, char *buf, size_t cap,
				    unsigned *ret_src)
{
	const char *slash = fspath ? strrchr(fspath, '/') : NULL, *rel;
	struct stat st;

	if (!slash || !slash[1] || !c->fetch || !parent || loafre_fid_is_zero(parent) || cap < 2)
		return NULL;
	if (name_now(c, parent, fspath, buf, cap) < 0)
		return NULL; /* the directory is gone too (or the path too long) */
	if (strcmp(buf, fspath) == 0 || loafre__rop_source_of(c->rule, buf, ret_src, &rel) < 0 ||
	    !rel[0] || !in_scope(c->rule, buf, is_dir, NULL, type) ||
	    loafre__dest_lstat(d, rel, &st) < 0 || c->src_roots[*ret_src] < 0 ||
	    fstatat(c->src_roots[*ret_src], rel, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    (errno != ENOENT && errno != ENOTDIR))
		return NULL;
	return rel;
}

/* ---- applying ------------------------------------------------------------------- */

static int src_stat(const struct loafre__rop_ctx *c, const struct loafre__rop_plan *op,
		    struct stat *st)
{
	int root = c->src_roots[op->src];

	if (root < 0)
		return -ENOENT;
	if (fstatat(root, op->rel[0] ? op->rel : ".", st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOTDIR || errno == ELOOP ? -ENOENT : -errno;
	return 0;
}

/* Whether the name fspath (rel of source src) of directory `parent` (a
 * FID of the record) is back at the source: the directory is still where
 * it was then, and it holds that name again. */
static bool name_back(const struct loafre__rop_ctx *c, const struct loafre_fid *parent,
		      unsigned src, const char *fspath, const char *rel)
{
	const char *slash = strrchr(fspath, '/');
	char buf[PATH_MAX];
	struct stat st;
	size_t l;
	int r;

	if (!rel[0] || c->src_roots[src] < 0 || !c->fetch || !parent ||
	    loafre_fid_is_zero(parent) ||
	    fstatat(c->src_roots[src], rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	r = fid_relpath(c, parent, buf, sizeof(buf));
	if (r < 0)
		return false;
	l = strlen(buf);
	/* fspath = "/" buf "/" name */
	return slash && (size_t)(slash - fspath) == (l ? l + 1 : 0) &&
	       (l == 0 || memcmp(fspath + 1, buf, l) == 0);
}

/* The template for what the source entry is: copy, mkdir, symlink (NULL:
 * built-in, also for devices/fifos/sockets). */
static const struct loafre__template *entry_template(const struct loafre__rule *r, mode_t m)
{
	if (S_ISREG(m))
		return loafre__rule_template(r, LOAFRE_ACT_COPY);
	if (S_ISDIR(m))
		return loafre__rule_template(r, LOAFRE_ACT_MKDIR);
	if (S_ISLNK(m))
		return loafre__rule_template(r, LOAFRE_ACT_SYMLINK);
	return NULL;
}

static enum loafre__dest_op entry_kind(mode_t m)
{
	return S_ISREG(m)   ? LOAFRE__DOP_COPY
	       : S_ISDIR(m) ? LOAFRE__DOP_MKDIR
	       : S_ISLNK(m) ? LOAFRE__DOP_SYMLINK
			    : LOAFRE__DOP_MKNOD;
}

/* Names of a destination directory. */
struct names {
	char **v;    /* malloc'ed names */
	size_t n;    /* how many */
};

static int names_add(void *arg, const char *name)
{
	struct names *nm = arg;
	char **nv;

	if (nm->n >= MERGE_NAMES_MAX)
		return -E2BIG;
	nv = realloc(nm->v, (nm->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	nm->v = nv;
	if (!(nv[nm->n] = strdup(name)))
		return -ENOMEM;
	nm->n++;
	return 0;
}

static void names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
}

/* The subdirectories of a destination directory (at most CHILD_DIRS_MAX). */
static int child_dir_add(void *arg, const char *name, const struct stat *st)
{
	struct names *nm = arg;

	if (!S_ISDIR(st->st_mode))
		return 0;
	if (nm->n >= CHILD_DIRS_MAX)
		return 1; /* enough */
	return names_add(arg, name) < 0 ? 1 : 0;
}

/* Sets the times of the subdirectories of destination directory rel (and
 * theirs, depth levels) from the source; *budget directories at most. */
static void dir_times_below(const struct loafre__rop_ctx *c, struct loafre__dest *d, int root,
			    const char *rel, unsigned depth, unsigned *budget)
{
	struct names nm = {0};

	if (!depth || !*budget)
		return;
	(void)loafre__dest_list_stat(d, rel, child_dir_add, &nm);
	for (size_t i = 0; i < nm.n && *budget; i++) {
		char *sub = NULL;
		struct stat st;

		if (asprintf(&sub, "%s/%s", rel, nm.v[i]) < 0)
			break;
		if (fstatat(root, sub, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			(*budget)--;
			/* the deeper ones first: setting a directory's times
			 * does not touch its parent's */
			dir_times_below(c, d, root, sub, depth - 1, budget);
			(void)loafre__dest_setattr(d, root, sub, LOAFRE__ATTR_TIMES, NULL);
		}
		free(sub);
	}
	names_free(&nm);
}

/* After directory op->rel was renamed into place at d: the times of the
 * directories in it (two levels, at most CHILD_DIRS_MAX) from the source.
 * What was changed in them before the rename (records applied at their
 * paths as of the record, whose directory times could not be read from
 * the source then) leaves them newer than the source's. Best effort. */
static void child_dir_times(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			    const struct loafre__rop_plan *op)
{
	int root = c->src_roots[op->src];
	unsigned budget = CHILD_DIRS_MAX;

	if (root < 0 || loafre__rule_template(c->rule, LOAFRE_ACT_UTIMES))
		return;
	dir_times_below(c, d, root, op->rel, 2, &budget);
}

/* Moves the entries of destination directory `from` into directory `into`
 * (directories in both merged, depth first; other entries of `from`
 * replace those of `into`), leaving `from` empty. The paths of the merged
 * directories relative to `into` (prefix `sub`, "" at the top) are added
 * to *merged (their attributes are the source's business afterwards). */
static int merge_into(struct loafre__dest *d, int src_root, const char *from, const char *into,
		      const char *sub, unsigned depth, struct names *merged, char *why)
{
	struct names nm = {0};
	int r;

	if (depth > MERGE_DEPTH_MAX) {
		snprintf(why, LOAFRE__DEST_WHY_MAX, "cannot merge '%s' into '%s': too deep", from,
			 into);
		return -ELOOP;
	}
	r = loafre__dest_list(d, from, names_add, &nm);
	for (size_t i = 0; r == 0 && i < nm.n; i++) {
		char *f = NULL, *t = NULL, *sb = NULL;
		struct stat fs, ts;

		if (asprintf(&f, "%s/%s", from, nm.v[i]) < 0 ||
		    asprintf(&t, "%s/%s", into, nm.v[i]) < 0 ||
		    asprintf(&sb, "%s%s%s", sub, sub[0] ? "/" : "", nm.v[i]) < 0) {
			free(f);
			free(t);
			r = -ENOMEM;
			break;
		}
		if (loafre__dest_lstat(d, f, &fs) == 0 && S_ISDIR(fs.st_mode) &&
		    loafre__dest_lstat(d, t, &ts) == 0 && S_ISDIR(ts.st_mode)) {
			r = merge_into(d, src_root, f, t, sb, depth + 1, merged, why);
			if (r == 0)
				r = loafre__dest_rmdir(d, src_root, f, why);
			if (r == 0 && merged->n < MERGE_NAMES_MAX)
				r = names_add(merged, sb);
		} else {
			r = loafre__dest_rename(d, src_root, f, t, why);
		}
		free(f);
		free(t);
		free(sb);
	}
	names_free(&nm);
	return r;
}

struct sync_err {
	char *why;      /* the caller's buffer */
	unsigned n;     /* failures */
};

static void sync_error(void *arg, const char *rel, int err, const char *why)
{
	struct sync_err *se = arg;

	(void)rel;
	(void)err;
	if (se->n++ == 0)
		snprintf(se->why, LOAFRE__DEST_WHY_MAX, "%s", why);
}

/* Makes directory rel (of source src) at d what the source has there, its
 * tree included, names the source lacks removed (excluded ones kept). */
static int sync_dir(const struct loafre__rop_ctx *c, struct loafre__dest *d, unsigned src,
		    const char *rel, char *why, struct loafre__sync_progress *p)
{
	int root = c->src_roots[src];
	struct loafre__rop_filter_arg fa = {.rule = c->rule, .src = src, .src_root = root};
	struct sync_err se = {.why = why};
	struct loafre__sync_opts so = {
		.threads = c->sync_threads ? (unsigned)c->sync_threads : 2,
		.delete = true,
		.filter = loafre__rop_filter,
		.filter_arg = &fa,
		.error = sync_error,
		.error_arg = &se,
	};
	int r = loafre__dest_sync_tree(d, root, rel, &so, p);

	if (r == -EIO && se.n > 1) {
		size_t l = strlen(why);
		snprintf(why + l, LOAFRE__DEST_WHY_MAX - l, " (and %u more)", se.n - 1);
	}
	return r;
}

/* Notes directory fspath, just synced with its tree, for orphan_check. */
static void tree_note(const struct loafre__rop_ctx *c, const char *fspath)
{
	struct loafre_fid fid, pf;

	if (!c->moved || fspath[0] != '/' || fid_at(c, fspath + 1, &fid) < 0)
		return;
	parent_fid(c, fspath, &pf);
	moved_put(c->moved, &fid, fspath, &pf, true, NULL, false);
}

/* The entry (a directory with its subtree) as the source has it now; gone
 * at the source: removed at the destination. */
static int do_sync(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		   const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
		   const struct loafre_rec *rec, char *why, enum loafre__dest_op *kind)
{
	int root = c->src_roots[op->src];
	const struct loafre__template *t;
	struct stat st, ds;
	int r = src_stat(c, op, &st);

	if (r == -ENOENT) {
		if (loafre__dest_lstat(d, op->rel, &ds) < 0)
			return 0;
		*kind = S_ISDIR(ds.st_mode) ? LOAFRE__DOP_RMDIR : LOAFRE__DOP_UNLINK;
		if ((t = loafre__rule_template(c->rule, LOAFRE_ACT_DELETE)))
			return run_template(c, t, dc, op, NULL, rec, why);
		return S_ISDIR(ds.st_mode) ? loafre__dest_rmdir(d, root, op->rel, why)
					   : loafre__dest_unlink(d, root, op->rel, why);
	}
	if (r < 0) {
		snprintf(why, LOAFRE__DEST_WHY_MAX, "cannot stat source '%s': %s", op->fspath,
			 strerror(-r));
		return r;
	}
	*kind = entry_kind(st.st_mode);
	if (S_ISDIR(st.st_mode)) {
		struct loafre__sync_progress p = {0};

		r = sync_dir(c, d, op->src, op->rel, why, &p);
		/* what the walk copied may hold names the source had only for
		 * an instant, which no record names (the local source merges
		 * `creat a; mv a b` into one CREAT of b): pruned later
		 * (orphan_check) */
		if (r == 0 && rec)
			tree_note(c, op->fspath);
		return r;
	}
	if ((t = entry_template(c->rule, st.st_mode)))
		return run_template(c, t, dc, op, NULL, rec, why);
	r = loafre__dest_sync_entry(d, root, op->rel, why);
	if (r == -ENOENT)
		return 0; /* gone meanwhile */
	/* a new inode (a symlink or special file too can have several
	 * names): the other names the destination has linked to it */
	if (r == 0)
		relink_others(c, d, op, rec, &st);
	return r;
}

/* Whether the destination's entry at op->rel, a file with several names
 * there, may be another object's inode: it has more names there than the
 * source's object has names that are that inode at the destination (op->rel
 * and the other names found). A nameless record (CLOSE, MTIME, TRUNC) is
 * applied at the object's current path, which may be ahead of the
 * destination: a name the object took over by a rename whose record is
 * still coming is another file's there (with its own other names), and
 * rewriting that inode in place would change them — also when none of the
 * object's other names is at the destination yet (storm seed 204: a write
 * gave a file's content to another file's second name). A name the
 * object's inode keeps there while the source has dropped it (its UNLNK
 * still coming) counts as foreign too: the entry is then replaced, the
 * object's other names linked to the new inode (relink_others), and the
 * old inode keeps only names records still to come remove or replace. */
static bool dest_inode_foreign(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			       const struct loafre__rop_plan *op, const struct loafre_rec *rec)
{
	struct others o = {0};
	struct stat st, ds, os;
	nlink_t known = 1; /* op->rel */

	if (src_stat(c, op, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink < 2 ||
	    loafre__dest_lstat(d, op->rel, &ds) < 0 || !S_ISREG(ds.st_mode) || ds.st_nlink < 2)
		return false; /* no in-place update: nothing shared to protect */
	find_others(c, op, rec, &st, &o);
	for (size_t i = 0; known < ds.st_nlink && i < o.n; i++) {
		const char *rel = other_rel(c, o.fspath[i]);

		if (rel && loafre__dest_lstat(d, rel, &os) == 0 && os.st_ino == ds.st_ino &&
		    os.st_dev == ds.st_dev)
			known++;
	}
	others_free(&o);
	return known < ds.st_nlink;
}

static int do_content(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		      const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
		      const struct loafre_rec *rec, char *why, enum loafre__dest_op *kind)
{
	const struct loafre__template *t;
	struct stat st, ds;
	int r = src_stat(c, op, &st);

	if (r == -ENOENT)
		return 0;
	if (r < 0 || !S_ISREG(st.st_mode))
		return do_sync(c, d, dc, op, rec, why, kind);
	/* a remote destination: rsync skips an unchanged file itself (one
	 * round trip instead of two) */
	if (!dc->host || loafre__rule_template(c->rule, LOAFRE_ACT_COPY)) {
		if (loafre__dest_lstat(d, op->rel, &ds) < 0 || !S_ISREG(ds.st_mode))
			return do_sync(c, d, dc, op, rec, why, kind);
		if (dest_current(&ds, &st)) {
			/* content unchanged; its names may not be one file there,
			 * even with as many names as the source's file: a copy
			 * made at a name a rename still on its way gives it, the
			 * rename then bringing the old inode, which keeps a name
			 * whose UNLNK is still coming (storm seed 76) */
			if (st.st_nlink > 1)
				relink_others(c, d, op, rec, &st);
			return 0;
		}
	}
	*kind = LOAFRE__DOP_COPY;
	if ((t = loafre__rule_template(c->rule, LOAFRE_ACT_COPY)))
		return run_template(c, t, dc, op, NULL, rec, why);
	/* a write to this file at one of its names: a file with several names
	 * is rewritten in place there (its other destination names follow) */
	r = loafre__dest_update(d, c->src_roots[op->src], op->rel, why);
	if (r == -ENOENT)
		return 0;
	/* a file with several names: the update rewrote its destination
	 * inode in place (loafre__dest_update), the names that inode has
	 * follow. Its other names the destination gives another inode (split
	 * by an earlier HLINK that found no other name there, a file replaced
	 * because it could not be opened for writing, a copy made at a name a
	 * rename still on its way gives it, a remote destination not looked
	 * at): linked again to this one (relink_others skips the ones that
	 * are this inode already) */
	if (r == 0 && st.st_nlink > 1)
		relink_others(c, d, op, rec, &st);
	return r;
}

static int do_link(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		   const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
		   const struct loafre_rec *rec, char *why, enum loafre__dest_op *kind)
{
	const struct loafre__template *t = loafre__rule_template(c->rule, LOAFRE_ACT_LINK);
	struct others o = {0};
	struct stat st;
	int r = src_stat(c, op, &st);

	if (r == -ENOENT)
		return 0;
	if (r < 0 || S_ISDIR(st.st_mode) || st.st_nlink < 2)
		return do_sync(c, d, dc, op, rec, why, kind);
	*kind = LOAFRE__DOP_LINK;
	find_others(c, op, rec, &st, &o);
	r = 1;
	for (size_t i = 0; r == 1 && i < o.n; i++) {
		const char *rel = other_rel(c, o.fspath[i]);
		struct stat ds;

		if (!rel)
			continue;
		if (t) {
			if (loafre__dest_lstat(d, rel, &ds) < 0 || S_ISDIR(ds.st_mode))
				continue;
			r = run_template(c, t, dc, op, rel, rec, why);
		} else {
			r = loafre__dest_link(d, c->src_roots[op->src], rel, op->rel, why);
		}
		if (r == -ENOENT || r == -EISDIR || r == -EPERM)
			r = 1; /* not at the destination (or not a file there): the next one */
	}
	others_free(&o);
	if (r == 1) /* no other name at the destination: a copy */
		return do_sync(c, d, dc, op, rec, why, kind);
	/* linked to an inode that has names the source does not give this
	 * file (the other name is another object's there: a rename bringing
	 * this file to it is still on its way; storm seed 204): a write in
	 * place would change those names too, so the new name is replaced by
	 * a copy, the file's other names linked to it */
	if (r == 0 && !loafre__rule_template(c->rule, LOAFRE_ACT_COPY) &&
	    dest_inode_foreign(c, d, op, rec))
		return do_sync(c, d, dc, op, rec, why, kind);
	if (r == 0) /* linked to a name whose content may lag */
		r = do_content(c, d, dc, op, rec, why, kind);
	return r;
}

static int do_setattr(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		      const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
		      const struct loafre_rec *rec, unsigned mask, char *why,
		      enum loafre__dest_op *kind)
{
	static const struct {
		unsigned action, bit;
	} parts[] = {
		{LOAFRE_ACT_CHMOD, LOAFRE__ATTR_MODE},
		{LOAFRE_ACT_CHOWN, LOAFRE__ATTR_OWNER},
		{LOAFRE_ACT_UTIMES, LOAFRE__ATTR_TIMES},
		{LOAFRE_ACT_SETXATTR, LOAFRE__ATTR_XATTR},
	};
	struct stat st, ds;
	int r = src_stat(c, op, &st);

	bool templ = false;

	if (r == -ENOENT)
		return 0;
	for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(parts); i++)
		if ((mask & parts[i].bit) && loafre__rule_template(c->rule, parts[i].action))
			templ = true;
	/* a command needs the entry there as it is at the source (the built-in
	 * setattr checks that itself: no extra round trip) */
	if (r < 0 || (templ && (loafre__dest_lstat(d, op->rel, &ds) < 0 ||
				(ds.st_mode & S_IFMT) != (st.st_mode & S_IFMT))))
		return op->rel[0] ? do_sync(c, d, dc, op, rec, why, kind) : 0;
	*kind = LOAFRE__DOP_SETATTR;
	for (size_t i = 0; templ && i < LOAFRE__ARRAY_SIZE(parts); i++) {
		const struct loafre__template *t;

		if (!(mask & parts[i].bit) || !(t = loafre__rule_template(c->rule, parts[i].action)))
			continue;
		r = run_template(c, t, dc, op, NULL, rec, why);
		if (r < 0)
			return r;
		mask &= ~parts[i].bit;
	}
	if (!mask)
		return 0;
	/* a name the destination still gives a file with several names that
	 * are not all this object's (a record applied at the object's current
	 * path, ahead of the rename that gave it that name: storm seeds 119,
	 * 409): the attributes set in place would change those other names
	 * too; the name is made anew instead. Checked here for a local
	 * destination; an ssh one's setattr looks at its entry anyway and
	 * answers -EMLINK when the inode has more names there than the
	 * source's file (no round trip of its own) */
	if (!dc->host && op->rel[0] && S_ISREG(st.st_mode) &&
	    loafre__dest_lstat(d, op->rel, &ds) == 0 && S_ISREG(ds.st_mode) && ds.st_nlink > 1 &&
	    (st.st_nlink == 1 || dest_inode_foreign(c, d, op, rec)))
		return do_sync(c, d, dc, op, rec, why, kind);
	r = loafre__dest_setattr(d, c->src_roots[op->src], op->rel, mask, why);
	if (r == -EMLINK) {
		why[0] = '\0';
		return do_sync(c, d, dc, op, rec, why, kind);
	}
	if (r == -ENOENT && op->rel[0] && src_stat(c, op, &st) == 0) {
		/* missing at the destination: a file is made; a directory only
		 * itself (not its tree: its own records, or the rename that
		 * brings it there, fill it) */
		if (S_ISDIR(st.st_mode)) {
			*kind = LOAFRE__DOP_MKDIR;
			r = loafre__dest_mkdir(d, c->src_roots[op->src], op->rel, why);
			return r == -ENOENT ? 0 : r;
		}
		return do_sync(c, d, dc, op, rec, why, kind);
	}
	if (r == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1 && op->rel[0]) {
		/* a file with several names: they may be separate copies at the
		 * destination (a write applied under one of them): one file again */
		enum loafre__dest_op k2 = *kind;
		r = do_content(c, d, dc, op, rec, why, &k2);
	}
	return r == -ENOENT ? 0 : r;
}

/* The attributes in mask of destination entry rel from the source's
 * object fid where the source has it now, when that is another path (a
 * directory above renamed since, its rename still to come here, maybe by
 * another worker process). Best effort. */
static void attrs_from_moved(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			     const char *rel, const struct loafre_fid *fid, unsigned mask)
{
	char buf[PATH_MAX];
	const char *crel;
	unsigned csrc;
	struct stat st;
	int r;

	if (!c->fetch || !fid || loafre_fid_is_zero(fid) || !rel[0])
		return;
	r = fid_relpath(c, fid, buf + 1, sizeof(buf) - 1);
	buf[0] = '/';
	if (r < 0 || loafre__rop_source_of(c->rule, buf, &csrc, &crel) < 0 || !crel[0] ||
	    c->src_roots[csrc] < 0 || strcmp(crel, rel) == 0 ||
	    fstatat(c->src_roots[csrc], crel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	(void)loafre__dest_setattr_from(d, c->src_roots[csrc], crel, rel, mask, NULL);
}

/* After an entry of the directory holding rel (of source src, its FID
 * pfid) changed at d, where the source has no directory at that path any
 * more (a directory above renamed since, its rename still to come here):
 * the destination's directory at that path gets the times the source's
 * has where it is now. Setting them at the source's path (loafre__dest_*
 * do after each change) found nothing; the rename that brings it there
 * may be applied by another worker process, whose pending list (dt_put,
 * also filled) this one's is not, and the times of directories deep below
 * a renamed one are not set again (child_dir_times). */
static void moved_parent_times(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			       unsigned src, const char *rel, const struct loafre_fid *pfid)
{
	const char *rs = strrchr(rel, '/');
	char prel[PATH_MAX];
	struct stat st;
	int n;

	if (!pfid || loafre_fid_is_zero(pfid) || c->src_roots[src] < 0 ||
	    loafre__rule_template(c->rule, LOAFRE_ACT_UTIMES))
		return;
	n = snprintf(prel, sizeof(prel), "%.*s", rs ? (int)(rs - rel) : 0, rel);
	if (n < 0 || (size_t)n >= sizeof(prel) || !prel[0] ||
	    fstatat(c->src_roots[src], prel, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    (errno != ENOENT && errno != ENOTDIR))
		return;
	dt_put(c->moved, pfid);
	attrs_from_moved(c, d, prel, pfid, LOAFRE__ATTR_TIMES);
}

/* Sets the times of the directory holding rel (of source src; "" for a
 * top-level entry: the destination root) from the source, if both have it. */
static int parent_times(const struct loafre__rop_ctx *c, struct loafre__dest *d, unsigned src,
			const char *rel, const struct loafre_fid *pfid, char *why)
{
	const char *rs = strrchr(rel, '/');
	char prel[PATH_MAX];
	struct stat st;
	int n, r;

	if (loafre__rule_template(c->rule, LOAFRE_ACT_UTIMES) || c->src_roots[src] < 0)
		return 0;
	n = snprintf(prel, sizeof(prel), "%.*s", rs ? (int)(rs - rel) : 0, rel);
	if (n < 0 || (size_t)n >= sizeof(prel))
		return 0;
	if (fstatat(c->src_roots[src], prel[0] ? prel : ".", &st, AT_SYMLINK_NOFOLLOW) < 0) {
		/* moved since (a directory above renamed): from where the
		 * source has it now, and again where the rename brings it
		 * (dt_retry) */
		if (errno == ENOENT || errno == ENOTDIR)
			moved_parent_times(c, d, src, rel, pfid);
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	r = loafre__dest_setattr(d, c->src_roots[src], prel, LOAFRE__ATTR_TIMES, why);
	return r == -ENOENT ? 0 : r;
}

/* The new name of a RENAME made from the source instead of renamed at the
 * destination (the old name is not there, or is another object's now):
 * where the object is now when a directory above the new name was renamed
 * since (as for the records of loafre__rop_relocate), not "gone": nothing
 * else would make it. */
static int sync_new_name(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			 const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
			 const struct loafre_rec *rec, char *why, enum loafre__dest_op *kind)
{
	struct loafre__rop_plan cur = *op;
	char cbuf[PATH_MAX];
	struct stat cs;

	cur.op = LOAFRE__ROP_SYNC;
	/* a directory too: its new name gone at the source because a
	 * directory above moved on is not "gone" (syncing the stale path
	 * would remove what the destination has there: a directory a MKDIR
	 * applied at its then current path made, with its entries; the
	 * rename above brings it to its place). Storm seed 100 */
	if (rec && src_stat(c, op, &cs) == -ENOENT &&
	    loafre__rop_relocate(c, rec, &cur, cbuf, sizeof(cbuf)) == 1 && cur.fspath != op->fspath)
		return do_sync(c, d, dc, &cur, rec, why, kind);
	return do_sync(c, d, dc, op, rec, why, kind);
}

/* A directory renamed where the source has it no more. */
struct moved_dir {
	struct loafre__rop_plan plan; /* the rename, its new name where the directory is now */
	char buf[PATH_MAX];           /* plan.fspath */
};

/* The RENAME op of directory rec->sfid failed with ENOENT: if its new name
 * is gone at the source because the directory was moved on since (a
 * directory above renamed later) and the destination has the old one, the
 * old directory is renamed to where the source has the directory now,
 * merged with what records applied at that current path made there already
 * (their paths into *merged, as for the RENAME case). ret->plan: op at the
 * current path, on success. -ENODEV: not that case (the new name at the
 * source, the directory gone from the source or out of the rule's scope,
 * the old directory not at the destination): the caller's fallback
 * applies. -EAGAIN: moved again meanwhile, tried again later. */
static int rename_dir_moved_on(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			       const struct loafre__rop_plan *op, const struct loafre_rec *rec,
			       struct names *merged, struct moved_dir *ret, char *why)
{
	struct stat st;
	int root, r;

	if (src_stat(c, op, &st) != -ENOENT || loafre__dest_lstat(d, op->rel2, &st) < 0 ||
	    !S_ISDIR(st.st_mode))
		return -ENODEV;
	ret->plan = *op;
	ret->plan.op = LOAFRE__ROP_SYNC; /* loafre__rop_relocate moves only these */
	if (loafre__rop_relocate(c, rec, &ret->plan, ret->buf, sizeof(ret->buf)) != 1 ||
	    ret->plan.fspath == op->fspath)
		return -ENODEV;
	ret->plan.op = op->op;
	root = c->src_roots[ret->plan.src];
	why[0] = '\0';
	if (strcmp(ret->plan.rel, op->rel2) == 0)
		return 0; /* back at its old name */
	if (loafre__dest_lstat(d, ret->plan.rel, &st) == 0 && S_ISDIR(st.st_mode)) {
		r = merge_into(d, root, ret->plan.rel, op->rel2, "", 0, merged, why);
		if (r < 0)
			return r;
	}
	r = loafre__dest_rename(d, root, op->rel2, ret->plan.rel, why);
	return r == -ENOENT ? -EAGAIN : r;
}

static int apply_placed(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
			const struct loafre_rec *rec, char *why, enum loafre__dest_op *ret_kind);

/* Operations read from the source's object at a path (the ones
 * loafre__rop_relocate moves). */
static bool placed_at_source(enum loafre__rop op)
{
	return op == LOAFRE__ROP_MKDIR || op == LOAFRE__ROP_CREATE || op == LOAFRE__ROP_CONTENT ||
	       op == LOAFRE__ROP_LINK || op == LOAFRE__ROP_SETATTR || op == LOAFRE__ROP_XATTR ||
	       op == LOAFRE__ROP_SYNC;
}

#define PLACE_TRIES 4 /* placements of one operation at one destination */

int loafre__rop_apply(const struct loafre__rop_ctx *c, struct loafre__dest *d,
		      const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
		      const struct loafre_rec *rec, char *why, enum loafre__dest_op *ret_kind)
{
	struct loafre__rop_plan here = *op;
	char hbuf[2][PATH_MAX];
	int r;

	/* The source may move the object on at any time (a directory above
	 * renamed): before this destination (another one was written first),
	 * and while it is written (the copy then finds nothing, which is not
	 * "gone": nothing else would bring the object there). The operation
	 * is placed where the object is now, and placed again after it if its
	 * path went away meanwhile (an lstat when it is still there;
	 * namespace operations keep their paths). */
	if (rec && placed_at_source(here.op))
		(void)loafre__rop_relocate(c, rec, &here, hbuf[0], sizeof(hbuf[0]));
	for (unsigned i = 0;; i++) {
		struct loafre__rop_plan next;
		struct stat st;

		r = apply_placed(c, d, dc, &here, rec, why, ret_kind);
		if (r < 0 || !rec || !placed_at_source(here.op) || i + 1 >= PLACE_TRIES ||
		    src_stat(c, &here, &st) != -ENOENT)
			break;
		next = here;
		if (loafre__rop_relocate(c, rec, &next, hbuf[(i + 1) % 2],
					 sizeof(hbuf[(i + 1) % 2])) != 1 ||
		    strcmp(next.fspath, here.fspath) == 0)
			break; /* gone from the source: its UNLNK/RMDIR follows */
		here = next;
	}
	return r;
}

static int apply_placed(const struct loafre__rop_ctx *c, struct loafre__dest *d,
			const struct loafre_rule_dest *dc, const struct loafre__rop_plan *op,
			const struct loafre_rec *rec, char *why, enum loafre__dest_op *ret_kind)
{
	enum loafre__dest_op kind = LOAFRE__DOP_COPY;
	const struct loafre__template *t;
	int root = c->src_roots[op->src], r;

	why[0] = '\0';
	if (root < 0 && op->op != LOAFRE__ROP_UNLINK && op->op != LOAFRE__ROP_RMDIR) {
		snprintf(why, LOAFRE__DEST_WHY_MAX, "source '%s' of rule %s is missing",
			 loafre__rule_config(c->rule)->sources[op->src],
			 loafre__rule_config(c->rule)->name);
		r = -ENOENT;
		goto out;
	}
	switch (op->op) {
	case LOAFRE__ROP_MKDIR:
		kind = LOAFRE__DOP_MKDIR;
		if ((t = loafre__rule_template(c->rule, LOAFRE_ACT_MKDIR)))
			r = run_template(c, t, dc, op, NULL, rec, why);
		else
			r = loafre__dest_mkdir(d, root, op->rel, why);
		if (r == -ENOENT)
			r = 0; /* removed meanwhile: its RMDIR follows */
		break;
	case LOAFRE__ROP_CREATE:
	case LOAFRE__ROP_SYNC:
		r = do_sync(c, d, dc, op, rec, why, &kind);
		break;
	case LOAFRE__ROP_CONTENT:
		/* another object's inode at that name (the object's current
		 * path is ahead of the destination): replaced by a copy, its
		 * other names linked to it; the other object's names keep theirs */
		if (!loafre__rule_template(c->rule, LOAFRE_ACT_COPY) &&
		    dest_inode_foreign(c, d, op, rec))
			r = do_sync(c, d, dc, op, rec, why, &kind);
		else
			r = do_content(c, d, dc, op, rec, why, &kind);
		break;
	case LOAFRE__ROP_LINK:
		r = do_link(c, d, dc, op, rec, why, &kind);
		if (r == 0 && rec) {
			/* a name an earlier nameless record of this file was
			 * applied at (its name as the kernel gave it then), which
			 * the source had only briefly and no record names (the
			 * local source merges `ln f a; mv a b` into HLINK b): gone
			 * from the destination too */
			char mbuf[PATH_MAX];
			unsigned msrc;
			const char *mrel = moved_rel(c, d, &rec->tfid, op->fspath, mbuf,
						     sizeof(mbuf), &msrc);

			if (mrel)
				(void)loafre__dest_unlink(d, c->src_roots[msrc], mrel, why);
			why[0] = '\0';
		}
		break;
	case LOAFRE__ROP_RENAME: {
		const struct loafre__rop_plan *as_recorded = op;
		struct names merged = {0};
		struct moved_dir renamed, moved;
		struct stat ds;

		kind = LOAFRE__DOP_RENAME;
		if (rec && loafre__dest_lstat(d, op->rel2, &ds) < 0) {
			/* its old directory moved on ahead of this record: the old
			 * name where the destination has that directory now */
			unsigned psrc;
			const char *prel = moved_parent_rel(c, d, &rec->spfid, op->fspath2,
							    op->is_dir, rec->type, moved.buf,
							    sizeof(moved.buf), &psrc);

			if (prel) {
				moved.plan = (struct loafre__rop_plan){ .op = op->op,
									.src = op->src,
									.fspath = op->fspath,
									.rel = op->rel,
									.src2 = psrc,
									.fspath2 = moved.buf,
									.rel2 = prel,
									.is_dir = op->is_dir };
				op = &moved.plan;
			}
		}
		if (rec && !op->is_dir) {
			/* made elsewhere by a relocation, under a name no record
			 * of the source names: back to this record's old name */
			char mbuf[PATH_MAX];
			unsigned msrc;
			const char *mrel = moved_rel(c, d, &rec->sfid, op->fspath2, mbuf,
						     sizeof(mbuf), &msrc);

			if (mrel)
				(void)loafre__dest_rename(d, root, mrel, op->rel2, why);
			why[0] = '\0';
		}
		t = loafre__rule_template(c->rule, LOAFRE_ACT_MOVE);
		if ((t && loafre__dest_lstat(d, op->rel2, &ds) < 0) ||
		    (!op->is_dir && rec &&
		     name_back(c, &rec->spfid, op->src2, op->fspath2, op->rel2))) {
			/* the old name is not there: the new one from the source.
			 * Or the source has the old name again (another object,
			 * whose records another worker may have applied already:
			 * the destination's old name may be it): not renamed */
			r = sync_new_name(c, d, dc, op, rec, why, &kind);
			break;
		}
		if (op->is_dir && strcmp(op->rel, op->rel2) != 0 &&
		    loafre__dest_lstat(d, op->rel2, &ds) == 0 && S_ISDIR(ds.st_mode)) {
			struct stat ns;

			/* the new name is there already: records applied at the
			 * source's current paths (loafre__rop_relocate) made it
			 * before this rename got here; what they wrote is newer */
			if (loafre__dest_lstat(d, op->rel, &ns) == 0 && S_ISDIR(ns.st_mode)) {
				r = merge_into(d, root, op->rel, op->rel2, "", 0, &merged, why);
				if (r < 0) {
					names_free(&merged);
					break;
				}
			}
		}
		if (t)
			r = run_template(c, t, dc, op, op->rel2, rec, why);
		else
			r = loafre__dest_rename(d, root, op->rel2, op->rel, why);
		if (r == -ENOENT && !t && op->is_dir && rec) {
			/* a directory whose new name cannot be made because the
			 * source has moved it on since (a directory above renamed
			 * later): renamed to where the source has it now. The
			 * fallback below would copy what the source has at the new
			 * name (nothing) and remove the old directory with every
			 * entry no later record names: data lost */
			r = rename_dir_moved_on(c, d, op, rec, &merged, &renamed, why);
			if (r == 0)
				op = &renamed.plan;
			else if (r == -ENODEV)
				r = -ENOENT;
		}
		if (r == -ENOENT) {
			/* the old name is not there, or the new one cannot be made
			 * (its directory is gone at the source too): the new name
			 * from the source, and the old one is gone (as of this
			 * record). The new name not at the source any more (a
			 * directory above it renamed since): the object where it
			 * is now (as for the records of loafre__rop_relocate), not
			 * "gone" */
			r = sync_new_name(c, d, dc, op, rec, why, &kind);
			if (r == 0 && loafre__dest_lstat(d, op->rel2, &ds) == 0 &&
			    !(rec && name_back(c, &rec->spfid, op->src2, op->fspath2, op->rel2)))
				r = S_ISDIR(ds.st_mode)
					    ? loafre__dest_rmdir(d, c->src_roots[op->src2], op->rel2, why)
					    : loafre__dest_unlink(d, c->src_roots[op->src2], op->rel2, why);
			if (r == -ENOTEMPTY)
				r = 0; /* excluded entries kept */
			if (r == 0) /* the old directory's times, as for an unlink */
				r = parent_times(c, d, op->src2, op->rel2,
						 rec ? &rec->spfid : NULL, why);
		} else if (r == 0 && op->is_dir) {
			/* a directory: its own attributes (and those of the
			 * directories merged into it) from the source */
			enum loafre__dest_op k2 = kind;

			pend_retry(c, d);
			dt_retry(c, d, op->fspath);
			child_dir_times(c, d, op);

			r = do_setattr(c, d, dc, op, rec, LOAFRE__ATTR_ALL, why, &k2);
			for (size_t i = 0; r == 0 && i < merged.n; i++) {
				struct loafre__rop_plan sub = *op;
				char *rel = NULL, *fsp = NULL;

				if (asprintf(&rel, "%s/%s", op->rel, merged.v[i]) < 0 ||
				    asprintf(&fsp, "%s/%s", op->fspath, merged.v[i]) < 0) {
					free(rel);
					r = -ENOMEM;
					break;
				}
				sub.rel = rel;
				sub.fspath = fsp;
				r = do_setattr(c, d, dc, &sub, rec, LOAFRE__ATTR_ALL, why, &k2);
				free(rel);
				free(fsp);
			}
		} else if (r == 0 && !op->is_dir && src_stat(c, op, &ds) == 0) {
			/* a file: what the old name brings may be older than the
			 * source (records of it applied at its current path
			 * meanwhile, a write under another of its names copied to
			 * that name only, records the source merged away): made
			 * as the source has it now, content then attributes (a
			 * remote destination: by rsync, which skips an unchanged
			 * file and sets the attributes in the same round trip) */
			enum loafre__dest_op k2 = kind;

			r = do_content(c, d, dc, op, rec, why, &k2);
			if (r == 0 && !dc->host)
				r = do_setattr(c, d, dc, op, rec, LOAFRE__ATTR_ALL, why, &k2);
		}
		if (r == 0 && rec && op == as_recorded) {
			struct stat ss;

			/* renamed at the paths of the record: directories the
			 * source has moved on since lose the times set there */
			moved_parent_times(c, d, op->src2, op->rel2, &rec->spfid);
			moved_parent_times(c, d, op->src, op->rel, &rec->pfid);
			/* a directory's own attributes (and those of the ones
			 * merged into it) from where the source has it now */
			if (op->is_dir && src_stat(c, op, &ss) == -ENOENT &&
			    !loafre__rule_template(c->rule, LOAFRE_ACT_CHMOD) &&
			    !loafre__rule_template(c->rule, LOAFRE_ACT_CHOWN) &&
			    !loafre__rule_template(c->rule, LOAFRE_ACT_UTIMES) &&
			    !loafre__rule_template(c->rule, LOAFRE_ACT_SETXATTR))
				attrs_from_moved(c, d, op->rel, &rec->sfid, LOAFRE__ATTR_ALL);
		}
		names_free(&merged);
		break;
	}
	case LOAFRE__ROP_UNLINK:
	case LOAFRE__ROP_RMDIR: {
		struct moved_dir moved;
		struct stat ds;

		kind = op->op == LOAFRE__ROP_UNLINK ? LOAFRE__DOP_UNLINK : LOAFRE__DOP_RMDIR;
		if (rec && loafre__dest_lstat(d, op->rel, &ds) < 0) {
			/* its directory moved on ahead of this record: the entry
			 * where the destination has that directory now */
			const struct loafre_fid *pf =
				rec->type == LOAFRE_CL_RENAME ? &rec->spfid : &rec->pfid;
			unsigned psrc;
			const char *prel = moved_parent_rel(c, d, pf, op->fspath, op->is_dir,
							    rec->type, moved.buf, sizeof(moved.buf),
							    &psrc);

			if (prel) {
				moved.plan = (struct loafre__rop_plan){ .op = op->op,
									.src = psrc,
									.fspath = moved.buf,
									.rel = prel,
									.is_dir = op->is_dir };
				op = &moved.plan;
				root = c->src_roots[op->src];
			} else if (c->moved && !loafre_fid_is_zero(pf)) {
				/* at neither place: its directory may be between
				 * renames still to come here; looked for again
				 * (orphan_check) */
				moved_put(c->moved,
					  rec->type == LOAFRE_CL_RENAME ? &rec->sfid : &rec->tfid,
					  op->fspath, pf, false, NULL, true);
			}
		}
		if (rec) {
			/* made elsewhere by a relocation: gone from there too */
			char mbuf[PATH_MAX];
			unsigned msrc;
			const char *mrel = moved_rel(
				c, d, rec->type == LOAFRE_CL_RENAME ? &rec->sfid : &rec->tfid,
				op->fspath, mbuf, sizeof(mbuf), &msrc);

			if (mrel)
				(void)(op->op == LOAFRE__ROP_UNLINK
					       ? loafre__dest_unlink(d, c->src_roots[msrc], mrel, why)
					       : loafre__dest_rmdir(d, c->src_roots[msrc], mrel, why));
			why[0] = '\0';
		}
		if (rec && name_back(c, rec->type == LOAFRE_CL_RENAME ? &rec->spfid : &rec->pfid,
				     op->src, op->fspath, op->rel)) {
			/* the name is back at the source (another object, whose
			 * CREAT/MKDIR another worker may have applied already):
			 * kept; its own records make it right */
			r = 0;
		} else if ((t = loafre__rule_template(c->rule, LOAFRE_ACT_DELETE))) {
			r = loafre__dest_lstat(d, op->rel, &ds) < 0
				    ? 0
				    : run_template(c, t, dc, op, NULL, rec, why);
		} else if (op->op == LOAFRE__ROP_UNLINK) {
			r = loafre__dest_unlink(d, root, op->rel, why);
		} else {
			r = loafre__dest_rmdir(d, root, op->rel, why);
			if (r == -ENOTEMPTY)
				r = 0; /* excluded entries kept, as asked */
		}
		if (r == 0)
			/* the directory's times as the source has them: also when
			 * the entry was not there (created and removed before its
			 * CREAT got here), which touches nothing at the destination */
			r = parent_times(c, d, op->src, op->rel,
					 rec ? (rec->type == LOAFRE_CL_RENAME ? &rec->spfid : &rec->pfid)
					     : NULL,
					 why);
		break;
	}
	case LOAFRE__ROP_SETATTR:
		r = do_setattr(c, d, dc, op, rec, LOAFRE__ATTR_MODE | LOAFRE__ATTR_OWNER |
						      LOAFRE__ATTR_TIMES,
			       why, &kind);
		break;
	case LOAFRE__ROP_XATTR:
		r = do_setattr(c, d, dc, op, rec, LOAFRE__ATTR_XATTR, why, &kind);
		break;
	default:
		r = 0;
		break;
	}
out:
	if (r < 0 && !why[0])
		snprintf(why, LOAFRE__DEST_WHY_MAX, "%s '%s': %s", loafre__rop_name(op->op),
			 op->rel, strerror(-r));
	if (ret_kind)
		*ret_kind = kind;
	return r;
}
