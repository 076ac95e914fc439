/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_verify.c — `loafre verify SRC_DIR DEST_DIR [--checksum] [--uid-map M]
 * [--gid-map M] [--exclude-glob P]... [--no-times] [--no-xattrs] [--json]`:
 * compares a tree with its replica (lib/repl_verify.c says what is
 * compared). The rule form (`loafre verify RULE`) will resolve the rule's
 * source, destinations, maps and excludes and call cli_verify_run().
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
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "idx_cli.h"
#include "repl_dest.h"
#include "rule.h"

#define PROG "loafre verify"
#define EXCLUDES_MAX 256

/* Exclude-glob filter (the repl_verify filter callback). */
static bool keep_entry(void *arg, const char *rel, bool is_dir)
{
	const struct cli_verify_opts *o = arg;
	const char *base = strrchr(rel, '/');

	(void)is_dir;
	base = base ? base + 1 : rel;
	for (size_t i = 0; i < o->n_excludes; i++) {
		const char *p = o->excludes[i];

		if (strchr(p, '/') ? fnmatch(p, rel, 0) == 0 : fnmatch(p, base, 0) == 0)
			return false;
	}
	return true;
}

struct vout {
	bool json;  /* --json */
};

static void print_diff(void *arg, const struct loafre__vdiff_rec *r)
{
	const struct vout *v = arg;

	if (r->kind == LOAFRE__VD_ERROR) {
		fprintf(stderr, PROG ": %s: %s\n", r->path, r->detail ? r->detail : "error");
		return;
	}
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
	rmdir(ctl);
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
		.filter = o->n_excludes ? keep_entry : NULL,
		.filter_arg = (void *)o,
	};
	struct vout out = { .json = o->json };
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
		       res.entries, res.diffs, res.errors, res.checked_bytes);
	if (fflush(stdout) != 0) {
		fprintf(stderr, PROG ": cannot write the output: %m\n");
		return 2;
	}
	fprintf(stderr, PROG ": %" PRIu64 " entries compared, %" PRIu64 " differences, %" PRIu64
		" errors\n", res.entries, res.diffs, res.errors);
	if (res.errors)
		return 2;
	return res.diffs ? 1 : 0;
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

	if (c->n_args != 2) {
		/* The rule form (loafre verify RULE) needs rules: not yet. */
		fprintf(stderr, PROG ": expected SRC_DIR DEST_DIR (see 'loafre verify --help')\n");
		return CLI_USAGE;
	}
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
	if (r == CLI_OK)
		r = cli_verify_run(c->args[0], c->args[1], &o);
	loafre__idmap_clear(&um);
	loafre__idmap_clear(&gm);
	return r;
}
