/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_verify.c — `loafre verify SRC_DIR DEST_DIR [--checksum] [--uid-map M]
 * [--gid-map M] [--exclude-glob P]... [--no-times] [--no-xattrs] [--json]`:
 * compares a tree with its replica (lib/repl_verify.c says what is
 * compared). The rule form, `loafre verify RULE [--checksum] [--no-times]
 * [--no-xattrs] [--exclude-glob P]... [--json]`, compares each source of
 * the rule (FSPATH/SOURCE) with each destination root (sources merge
 * there), with the destination's id maps and ssh options; entries the rule
 * does not replicate are skipped on both sides: excluded paths, entries
 * not matching its match_* / size / owner / group / age conditions (a
 * directory is always descended; it is not reported missing when the rule
 * does not select it itself: workers create it only as a parent), entries
 * of another source of the rule (several sources; a directory several of
 * them have, the root included, is not compared for mtime, mode, owner and
 * xattrs: the destination has one's), files when the rule's
 * events select no file record (CREAT CLOSE MTIME TRUNC HLINK SLINK MKNOD
 * RENME). Before each pair, stdout gets "rule NAME: SRC -> DEST" (--json:
 * {"rule":N,"source":S,"destination":D}); each pair's summary goes to
 * stderr. Exit status: the worst of the pairs.
 *
 * Output (stdout), one line per difference, depth first in byte order of
 * names, then the hard-link differences:
 *   missing: REL                        at the source only
 *   extra: REL                          at the destination only
 *   type: REL SRCTYPE != DSTTYPE        file directory symlink fifo socket
 *                                       character-device block-device
 *   size: REL 10 != 12
 *   mode: REL 0644 != 0600
 *   owner: REL 1000:1000 != 0:0         the source's ids through the maps
 *   mtime: REL SEC.NSEC != SEC.NSEC
 *   symlink: REL SRCTARGET != DSTTARGET
 *   rdev: REL MAJ,MIN != MAJ,MIN
 *   xattr: REL NAME missing|extra|differs
 *   content: REL                        (--checksum) same size, other data
 *   links: REL and REL2 are not one file at the destination
 *   links: REL and REL2 are one file at the destination only
 * REL is the path relative to the roots ("." = the roots themselves).
 * --json: one object per line instead, {"kind":K,"path":P[,"path2":P2]
 * [,"src":S,"dst":D][,"detail":X]}, then {"summary":{...}}.
 * Errors (an entry that cannot be read): "loafre verify: REL: REASON" on
 * stderr. Summary on stderr: "loafre verify: N entries compared, D
 * differences, E errors". Exit status: 0 identical, 1 differences, 2 errors
 * or usage.
 *
 * DEST [user@]host:/path (lib/repl_ssh.c, loafre__verify_ssh; --ssh-port,
 * --ssh-identity, --ssh-known-hosts): `rsync -a -H -A -X -n --delete
 * --out-format` (with --checksum: -c --checksum-choice=xxh128) over ssh
 * names the entries that differ; each is then compared exactly, so the
 * lines are the local form's (hard links: only "not one file at the
 * destination"). The master connection's socket is in a private mkdtemp
 * directory under $TMPDIR or /tmp, removed at the end.
 *
 * Exclude globs: a pattern without '/' is matched (fnmatch) against every
 * name; one with '/' against the whole relative path (where '*' also
 * matches '/'). A matching entry is skipped on both sides with its tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "loafre/record.h"
#include "idx_cli.h"
#include "repl_dest.h"
#include "rule.h"
#include "util.h"

#define PROG "loafre verify"
#define EXCLUDES_MAX 256

/* Exclude-glob filter (the repl_verify filter callback). */
static bool keep_entry(void *arg, const char *rel, bool is_dir)
{
	const struct cli_verify_opts *o = arg;
	const char *base = strrchr(rel, '/');

	if (o->filter && !o->filter(o->filter_arg, rel, is_dir))
		return false;
	base = base ? base + 1 : rel;
	for (size_t i = 0; i < o->n_excludes; i++) {
		const char *p = o->excludes[i];

		if (strchr(p, '/') ? fnmatch(p, rel, 0) == 0 : fnmatch(p, base, 0) == 0)
			return false;
	}
	return true;
}

struct vout {
	bool json;                         /* --json */
	const struct cli_verify_opts *o;   /* keep_diff */
	uint64_t diffs;                    /* differences printed */
};

static void print_diff(void *arg, const struct loafre__vdiff_rec *r)
{
	struct vout *v = arg;

	if (r->kind == LOAFRE__VD_ERROR) {
		fprintf(stderr, PROG ": %s: %s\n", r->path, r->detail ? r->detail : "error");
		return;
	}
	if (v->o->keep_diff && !v->o->keep_diff(v->o->filter_arg, (int)r->kind, r->path))
		return;
	v->diffs++;
	if (v->json) {
		fputs("{\"kind\":", stdout);
		idx_json_str(stdout, loafre__vdiff_name(r->kind));
		fputs(",\"path\":", stdout);
		idx_json_str(stdout, r->path);
		if (r->path2) {
			fputs(",\"path2\":", stdout);
			idx_json_str(stdout, r->path2);
		}
		if (r->src) {
			fputs(",\"src\":", stdout);
			idx_json_str(stdout, r->src);
		}
		if (r->dst) {
			fputs(",\"dst\":", stdout);
			idx_json_str(stdout, r->dst);
		}
		if (r->detail) {
			fputs(",\"detail\":", stdout);
			idx_json_str(stdout, r->detail);
		}
		fputs("}\n", stdout);
		return;
	}
	switch (r->kind) {
	case LOAFRE__VD_MISSING:
	case LOAFRE__VD_EXTRA:
	case LOAFRE__VD_CONTENT:
		printf("%s: %s\n", loafre__vdiff_name(r->kind), r->path);
		break;
	case LOAFRE__VD_XATTR:
		printf("xattr: %s %s %s\n", r->path, r->detail, r->dst);
		break;
	case LOAFRE__VD_LINKS:
		printf("links: %s and %s are %s\n", r->path, r->path2,
		       strcmp(r->detail, "split") == 0 ? "not one file at the destination"
						       : "one file at the destination only");
		break;
	default:
		printf("%s: %s %s != %s\n", loafre__vdiff_name(r->kind), r->path, r->src, r->dst);
		break;
	}
}

/* DEST [user@]host:/path: through rsync over ssh (lib/repl_ssh.c), with a
 * private control directory for the master connection. */
static int verify_remote(const char *src, const char *dest, const struct cli_verify_opts *o,
			 const struct loafre__verify_opts *vo, struct vout *out,
			 struct loafre__verify_result *res)
{
	struct loafre__ssh_opts so = o->ssh ? *o->ssh : (struct loafre__ssh_opts){ 0 };
	const char *tmp = getenv("TMPDIR");
	char ctl[96], why[LOAFRE__DEST_WHY_MAX] = "";
	int r;

	snprintf(ctl, sizeof(ctl), "%s/loafre-ssh.XXXXXX",
		 tmp && tmp[0] == '/' && strlen(tmp) < 60 ? tmp : "/tmp");
	if (!mkdtemp(ctl)) {
		fprintf(stderr, PROG ": cannot make a directory for ssh in '%s': %m\n", ctl);
		return 2;
	}
	so.control_dir = ctl;
	r = loafre__verify_ssh(src, dest, &so, vo, print_diff, out, res, why);
	/* empty once the master has exited: `ssh -O exit` returns before it
	 * removes its socket (up to 2 s) */
	for (int i = 0; i < 200 && rmdir(ctl) < 0 && errno == ENOTEMPTY; i++)
		usleep(10000);
	if (r < 0) {
		fprintf(stderr, PROG ": cannot compare '%s' with '%s': %s\n", src, dest,
			why[0] ? why : strerror(-r));
		return 2;
	}
	return CLI_OK;
}

int cli_verify_run(const char *src, const char *dest, const struct cli_verify_opts *o)
{
	struct loafre__verify_opts vo = {
		.uid_map = o->uid_map,
		.gid_map = o->gid_map,
		.checksum = o->checksum,
		.no_times = o->no_times,
		.no_xattrs = o->no_xattrs,
		.filter = o->n_excludes || o->filter ? keep_entry : NULL,
		.filter_arg = (void *)o,
	};
	struct vout out = { .json = o->json, .o = o };
	struct loafre__verify_result res = { 0 };
	struct loafre__ssh_spec spec;
	int r;

	if (dest[0] != '/' && strchr(dest, ':') && strchr(dest, ':') < strchrnul(dest, '/') &&
	    loafre__ssh_spec_parse(dest, &spec) < 0) {
		fprintf(stderr, PROG ": invalid destination '%s' (expected [user@]host:/path)\n",
			dest);
		return 2;
	}
	if (dest[0] != '/' && loafre__ssh_spec_parse(dest, &spec) == 0) {
		r = verify_remote(src, dest, o, &vo, &out, &res);
		if (r != CLI_OK)
			return r;
	} else if ((r = loafre__verify_trees(src, dest, &vo, print_diff, &out, &res)) < 0) {
		fprintf(stderr, PROG ": cannot compare '%s' with '%s': %s\n", src, dest, strerror(-r));
		return 2;
	}
	if (o->json)
		printf("{\"summary\":{\"entries\":%" PRIu64 ",\"differences\":%" PRIu64
		       ",\"errors\":%" PRIu64 ",\"checksummed_bytes\":%" PRIu64 "}}\n",
		       res.entries, out.diffs, res.errors, res.checked_bytes);
	if (fflush(stdout) != 0) {
		fprintf(stderr, PROG ": cannot write the output: %m\n");
		return 2;
	}
	fprintf(stderr, PROG ": %" PRIu64 " entries compared, %" PRIu64 " differences, %" PRIu64
		" errors\n", res.entries, out.diffs, res.errors);
	if (res.errors)
		return 2;
	return out.diffs ? 1 : 0;
}

/* ---- the rule form ------------------------------------------------------------- */

/* What the rule replicates, for the filter and keep_diff of one pair. */
struct rule_view {
	const struct loafre__rule *rule;         /* compiled */
	const struct loafre_rule_config *rc;     /* its configuration */
	const int *src_fds;                      /* each source's directory (O_PATH), -1 if none */
	size_t src;                              /* the source compared */
	int file_type;                           /* a record type selecting files, -1: none */
	int64_t now;                             /* for the age conditions */
};

/* The path relative to the filesystem's root of rel under the source. */
static bool view_path(const struct rule_view *v, const char *rel, char *buf, size_t cap)
{
	const char *src = v->rc->sources[v->src];

	return (size_t)snprintf(buf, cap, "%s/%s", strcmp(src, "/") == 0 ? "" : src, rel) < cap;
}

/* The rule's attributes of rel at the source; false when it is not there. */
static bool view_attr(const struct rule_view *v, const char *rel, struct loafre__rule_attr *a,
		      bool *is_dir)
{
	struct stat st;

	if (v->src_fds[v->src] < 0 || fstatat(v->src_fds[v->src], rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	*a = (struct loafre__rule_attr){
		.size = (uint64_t)st.st_size,
		.uid = st.st_uid,
		.gid = st.st_gid,
		.mtime = st.st_mtim.tv_sec,
		.now = v->now,
	};
	*is_dir = S_ISDIR(st.st_mode);
	return true;
}

static bool view_filter(void *arg, const char *rel, bool is_dir)
{
	const struct rule_view *v = arg;
	struct loafre__rule_attr a;
	char path[PATH_MAX];
	bool src_dir, at_src;

	if (!view_path(v, rel, path, sizeof(path)) || loafre__rule_excluded(v->rule, path))
		return false;
	at_src = view_attr(v, rel, &a, &src_dir);
	if (!at_src) {
		/* Only at the destination: another source's entry (merged)? */
		struct stat st;
		for (size_t j = 0; j < v->rc->n_sources; j++)
			if (j != v->src && v->src_fds[j] >= 0 &&
			    fstatat(v->src_fds[j], rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
				return false;
	}
	if (is_dir)
		return true;
	if (v->file_type < 0)
		return false;
	return loafre__rule_match(v->rule, path, false, at_src ? &a : NULL, (uint32_t)v->file_type);
}

/* Whether rel is a directory in two sources or more (merged at the
 * destination: its attributes are those of one of them). */
static bool view_merged_dir(const struct rule_view *v, const char *rel)
{
	size_t n = 0;

	for (size_t j = 0; j < v->rc->n_sources && n < 2; j++) {
		struct stat st;
		if (v->src_fds[j] >= 0 &&
		    fstatat(v->src_fds[j], strcmp(rel, ".") == 0 ? "" : rel, &st,
			    AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) == 0 &&
		    S_ISDIR(st.st_mode))
			n++;
	}
	return n >= 2;
}

static bool view_keep_diff(void *arg, int kind, const char *rel)
{
	const struct rule_view *v = arg;
	struct loafre__rule_attr a;
	char path[PATH_MAX];
	bool is_dir = false;

	if ((kind == LOAFRE__VD_MTIME || kind == LOAFRE__VD_MODE || kind == LOAFRE__VD_OWNER ||
	     kind == LOAFRE__VD_XATTR) &&
	    v->rc->n_sources > 1 && view_merged_dir(v, rel))
		return false;
	if (kind != LOAFRE__VD_MISSING || !view_attr(v, rel, &a, &is_dir) || !is_dir ||
	    !view_path(v, rel, path, sizeof(path)))
		return true;
	return loafre__rule_match(v->rule, path, true, &a, LOAFRE_CL_MKDIR);
}

/* `loafre verify RULE`: every source against every destination. */
static int verify_rule(struct cli *c, const char *name, struct cli_verify_opts *o)
{
	static const int file_types[] = {
		LOAFRE_CL_CREATE, LOAFRE_CL_CLOSE, LOAFRE_CL_MTIME, LOAFRE_CL_TRUNC,
		LOAFRE_CL_HARDLINK, LOAFRE_CL_SOFTLINK, LOAFRE_CL_MKNOD, LOAFRE_CL_RENAME,
	};
	struct loafre_config *cfg = NULL;
	const struct loafre_rule_config *rc;
	const struct loafre_fs_config *fs;
	struct loafre__rule *rule = NULL;
	struct rule_view v = { 0 };
	int *fds = NULL, worst = CLI_OK, r;
	char err[1024] = "";

	if (!loafre__rule_name_ok(name, LOAFRE_RULE_NAME_MAX)) {
		fprintf(stderr, PROG ": missing arguments: expected RULE or SRC_DIR DEST_DIR, not just '%s' (see 'loafre verify --help')\n",
			name);
		return CLI_USAGE;
	}
	r = loafre_config_load(loafre_config_path(c->config_arg), &cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "loafre: %s\n", err[0] ? err : strerror(-r));
		return 2;
	}
	rc = loafre_config_find_rule(cfg, name);
	if (!rc) {
		fprintf(stderr, PROG ": no rule %s (expected RULE or SRC_DIR DEST_DIR; see loafre rule list)\n",
			name);
		worst = CLI_USAGE;
		goto out;
	}
	fs = loafre_config_find_fs(cfg, rc->fs);
	r = loafre__rule_compile(cfg, rc, &rule, err, sizeof(err));
	if (r < 0 || !fs) {
		fprintf(stderr, PROG ": rule %s: %s\n", name,
			!fs ? "unknown filesystem" : err[0] ? err : strerror(-r));
		worst = 2;
		goto out;
	}
	fds = calloc(rc->n_sources, sizeof(*fds));
	if (!fds) {
		fprintf(stderr, PROG ": out of memory\n");
		worst = 2;
		goto out;
	}
	v.rule = rule;
	v.rc = rc;
	v.src_fds = fds;
	v.now = (int64_t)time(NULL);
	v.file_type = -1;
	for (size_t i = 0; i < LOAFRE__ARRAY_SIZE(file_types) && v.file_type < 0; i++)
		if (rc->events & (1u << file_types[i]))
			v.file_type = file_types[i];
	for (size_t i = 0; i < rc->n_sources; i++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s%s", fs->path,
			 strcmp(rc->sources[i], "/") == 0 ? "" : rc->sources[i]);
		fds[i] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	o->filter = view_filter;
	o->keep_diff = view_keep_diff;
	o->filter_arg = &v;
	for (size_t d = 0; d < rc->n_dests; d++) {
		const struct loafre_rule_dest *dst = &rc->dests[d];
		struct loafre__ssh_opts so = {
			.port = dst->port,
			.identity_file = dst->identity,
			.known_hosts = dst->known_hosts,
		};
		char target[PATH_MAX + 400];

		if (dst->host)
			snprintf(target, sizeof(target), "%s%s%s:%s", dst->user ? dst->user : "",
				 dst->user ? "@" : "", dst->host, dst->path);
		else
			snprintf(target, sizeof(target), "%s", dst->path);
		o->uid_map = &dst->uid_map;
		o->gid_map = &dst->gid_map;
		o->ssh = &so;
		for (size_t i = 0; i < rc->n_sources; i++) {
			char src[PATH_MAX];

			snprintf(src, sizeof(src), "%s%s", fs->path,
				 strcmp(rc->sources[i], "/") == 0 ? "" : rc->sources[i]);
			v.src = i;
			if (o->json) {
				fputs("{\"rule\":", stdout);
				loafre__json_fquote(stdout, name);
				fputs(",\"source\":", stdout);
				loafre__json_fquote(stdout, src);
				fputs(",\"destination\":", stdout);
				loafre__json_fquote(stdout, dst->spec);
				fputs("}\n", stdout);
			} else {
				printf("rule %s: %s -> %s\n", name, src, dst->spec);
			}
			fflush(stdout);
			r = cli_verify_run(src, target, o);
			if (r > worst)
				worst = r;
		}
	}
out:
	for (size_t i = 0; fds && i < rc->n_sources; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	loafre__rule_free(rule);
	loafre_config_free(cfg);
	return worst;
}

static int parse_map(const char *what, const char *s, bool is_group, struct loafre_idmap *m)
{
	char why[256] = "";
	int r = loafre__idmap_parse(s, is_group, m, why, sizeof(why));

	if (r < 0) {
		fprintf(stderr, PROG ": invalid %s '%s': %s\n", what, s,
			r == -ENOMEM ? strerror(-r) : why);
		return r == -ENOMEM ? 2 : CLI_USAGE;
	}
	return CLI_OK;
}

int cmd_verify(struct cli *c)
{
	struct loafre_idmap um = { 0 }, gm = { 0 };
	const char *excl[EXCLUDES_MAX];
	struct loafre__ssh_opts so = { 0 };
	struct cli_verify_opts o = { .excludes = excl, .ssh = &so };
	int r = CLI_OK;

	for (size_t i = 0; i < c->n_opts && r == CLI_OK; i++) {
		const char *a = c->opts[i].arg;

		switch (c->opts[i].opt) {
		case 'C':
			o.checksum = true;
			break;
		case 'J':
			o.json = true;
			break;
		case 'T':
			o.no_times = true;
			break;
		case 'X':
			o.no_xattrs = true;
			break;
		case 'u':
			loafre__idmap_clear(&um);
			r = parse_map("--uid-map", a, false, &um);
			o.uid_map = &um;
			break;
		case 'g':
			loafre__idmap_clear(&gm);
			r = parse_map("--gid-map", a, true, &gm);
			o.gid_map = &gm;
			break;
		case 'P': {
			char *end;
			unsigned long port = strtoul(a, &end, 10);

			if (!*a || *end || port == 0 || port > 65535) {
				fprintf(stderr, PROG ": invalid --ssh-port '%s'\n", a);
				r = CLI_USAGE;
			}
			so.port = (unsigned)port;
			break;
		}
		case 'I':
			so.identity_file = a;
			break;
		case 'K':
			so.known_hosts = a;
			break;
		case 'e':
			if (o.n_excludes == EXCLUDES_MAX) {
				fprintf(stderr, PROG ": too many --exclude-glob (at most %d)\n",
					EXCLUDES_MAX);
				r = CLI_USAGE;
				break;
			}
			if (!*a) {
				fprintf(stderr, PROG ": empty --exclude-glob\n");
				r = CLI_USAGE;
				break;
			}
			excl[o.n_excludes++] = a;
			break;
		default:
			break;
		}
	}
	if (r == CLI_OK && c->n_args == 1) {
		if (o.uid_map || o.gid_map || so.port || so.identity_file || so.known_hosts) {
			fprintf(stderr, PROG ": --uid-map, --gid-map and --ssh-* come from the rule's destinations in 'loafre verify RULE'\n");
			r = CLI_USAGE;
		} else {
			r = verify_rule(c, c->args[0], &o);
		}
	} else if (r == CLI_OK) {
		r = cli_verify_run(c->args[0], c->args[1], &o);
	}
	loafre__idmap_clear(&um);
	loafre__idmap_clear(&gm);
	return r;
}
