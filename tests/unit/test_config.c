/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* test_config.c — lib/config.c: loading, validation messages, lookups. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loafre/loafre.h"
#include "rule.h"

/* The checkout: tests/data/../.. */
#define SOURCE_ROOT_RAW TEST_DATA_DIR "/../.."
static char SOURCE_ROOT[PATH_MAX];

#define TMPDIR_TEMPLATE "/tmp/loafre-test-config.XXXXXX"
static char tmpdir[sizeof(TMPDIR_TEMPLATE)];

/* 0, or the length of the inline comment (" ;000...") write_text puts at
 * the end of every line: main runs the tests a second time with every line
 * longer than inih's 200-byte buffer, which must change nothing. */
static size_t pad;

static int setup(void **state)
{
	(void)state;
	if (!realpath(SOURCE_ROOT_RAW, SOURCE_ROOT))
		return -1;
	memcpy(tmpdir, TMPDIR_TEMPLATE, sizeof(tmpdir));
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes `text` to the file path, each line padded as `pad` says. */
static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		assert_int_equal(fwrite(p, 1, len, f), len);
		if (pad)
			assert_true(fprintf(f, " ;%0*d", (int)pad - 2, 0) > 0);
		if (nl)
			assert_true(fputc('\n', f) == '\n');
		p += len + (nl ? 1 : 0);
	}
	assert_int_equal(fclose(f), 0);
}

/* Writes `text` to tmpdir/name; returns the path (static buffer). */
static const char *write_conf(const char *name, const char *text)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	write_text(path, text);
	return path;
}

/* A configuration file that must not load. */
struct bad_case {
	const char *text;   /* the file */
	unsigned line;      /* expected line in the message; 0: none */
	const char *needle; /* expected part of the message */
};

/* Each of the n cases, written to tmpdir/name, fails to load with -EINVAL,
 * leaves the config pointer untouched and says one line "PATH:LINE: ..."
 * (LINE 0: "PATH: ...") holding its needle. */
static void check_bad(const char *name, const struct bad_case *cases, size_t n)
{
	char err[512], expect[PATH_MAX + 32];

	for (size_t i = 0; i < n; i++) {
		struct loafre_config *c = (struct loafre_config *)0x1;
		const char *path = write_conf(name, cases[i].text);
		int r = loafre_config_load(path, &c, err, sizeof(err));

		if (r != -EINVAL || !strstr(err, cases[i].needle))
			fail_msg("case %zu: r=%d err='%s' (want '%s')", i, r, err, cases[i].needle);
		assert_ptr_equal(c, (struct loafre_config *)0x1); /* untouched */
		if (cases[i].line)
			snprintf(expect, sizeof(expect), "%s:%u: ", path, cases[i].line);
		else
			snprintf(expect, sizeof(expect), "%s: ", path);
		if (strncmp(err, expect, strlen(expect)) != 0)
			fail_msg("case %zu: '%s' does not start with '%s'", i, err, expect);
		assert_null(strchr(err, '\n'));
	}
}

static void test_valid(void **state)
{
	const char *path = write_conf("valid.conf",
		"; comment\n"
		"[loafred]\n"
		"log = syslog\n"
		"log_level = debug\n"
		"run_dir = /run/x\n"
		"commit_interval_ms = 25\n"
		"\n"
		"[filesystem demo]\n"
		"type = local\n"
		"path = /srv/demo\n"
		"journal = /var/lib/loafre/demo\n"
		"changelog_mask = +OPEN\n"
		"fsync = none\n"
		"segment_size = 16M\n"
		"gc_max_idle_time = 3600\n"
		"gc_max_idle_indexes = 1000\n"
		"\n"
		"[filesystem lfs1]\n"
		"type = lustre\n"
		"path = /mnt/lfs1\n"
		"journal = /var/lib/loafre/lfs1\n"
		"mdts = lfs1-MDT0000 lfs1-MDT0001\n"
		"changelog_user = cl1\n");
	struct loafre_config *c = NULL;
	char err[256];
	const struct loafre_fs_config *fs;
	unsigned idx = 99;

	(void)state;
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->path, path);
	assert_int_equal(c->log, LOAFRE_LOG_SYSLOG);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_string_equal(c->run_dir, "/run/x");
	assert_int_equal(c->commit_interval_ms, 25);
	assert_int_equal(c->n_fs, 2);

	fs = &c->fs[0];
	assert_string_equal(fs->name, "demo");
	assert_int_equal(fs->type, LOAFRE_FS_LOCAL);
	assert_string_equal(fs->path, "/srv/demo");
	assert_string_equal(fs->journal, "/var/lib/loafre/demo");
	assert_int_equal(fs->journal_opts.mask, loafre_cl_mask_default() | (1u << LOAFRE_CL_OPEN));
	assert_int_equal(fs->journal_opts.fsync, LOAFRE_FSYNC_NONE);
	assert_int_equal(fs->journal_opts.segment_bytes, 16u << 20);
	assert_int_equal(fs->journal_opts.gc_max_idle_time, 3600);
	assert_int_equal(fs->journal_opts.gc_max_idle_indexes, 1000);
	assert_int_equal(fs->n_mdts, 1);
	assert_string_equal(fs->mdts[0], "demo-MDT0000");
	assert_string_equal(fs->mdt_journals[0], "/var/lib/loafre/demo");
	assert_false(fs->create_path);
	assert_false(fs->event_queue_system); /* unlimited by default */
	assert_int_equal(fs->line, 8);

	fs = &c->fs[1];
	assert_int_equal(fs->type, LOAFRE_FS_LUSTRE);
	assert_string_equal(fs->journal, "/var/lib/loafre/lfs1");
	assert_int_equal(fs->n_mdts, 2);
	assert_string_equal(fs->mdts[1], "lfs1-MDT0001");
	assert_string_equal(fs->mdt_journals[0], "/var/lib/loafre/lfs1/lfs1-MDT0000");
	assert_string_equal(fs->mdt_journals[1], "/var/lib/loafre/lfs1/lfs1-MDT0001");
	assert_string_equal(loafre_config_mdt_journal(fs, "lfs1-MDT0001"),
			    "/var/lib/loafre/lfs1/lfs1-MDT0001");
	errno = 0;
	assert_null(loafre_config_mdt_journal(fs, "demo-MDT0000"));
	assert_int_equal(errno, ENOENT);
	assert_string_equal(loafre_config_mdt_journal(&c->fs[0], "demo-MDT0000"),
			    "/var/lib/loafre/demo");
	assert_string_equal(fs->changelog_user, "cl1");

	assert_ptr_equal(loafre_config_find_mdt(c, "demo-MDT0000", &idx), &c->fs[0]);
	assert_int_equal(idx, 0);
	assert_ptr_equal(loafre_config_find_mdt(c, "lfs1-MDT0001", &idx), &c->fs[1]);
	assert_int_equal(idx, 1);
	errno = 0;
	assert_null(loafre_config_find_mdt(c, "demo-MDT0001", &idx));
	assert_int_equal(errno, ENOENT);
	assert_null(loafre_config_find_mdt(c, "other-MDT0000", &idx));
	assert_int_equal(errno, ENOENT);
	assert_null(loafre_config_find_mdt(c, "demo", &idx));
	assert_int_equal(errno, EINVAL);
	assert_null(loafre_config_find_mdt(c, "demo-MDT00", &idx));
	assert_int_equal(errno, EINVAL);
	assert_null(loafre_config_find_mdt(c, "toolongname-MDT0000", &idx));
	assert_int_equal(errno, EINVAL);
	assert_ptr_equal(loafre_config_find_fs(c, "lfs1"), &c->fs[1]);
	assert_null(loafre_config_find_fs(c, "nope"));
	loafre_config_free(c);
	loafre_config_free(NULL);
}

static void test_defaults(void **state)
{
	const char *path = write_conf("defaults.conf",
		"[filesystem a_b-1]\npath = /a\njournal = /j\n");
	struct loafre_config *c = NULL;

	(void)state;
	assert_int_equal(loafre_config_load(path, &c, NULL, 0), 0);
	assert_int_equal(c->log, LOAFRE_LOG_STDERR);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_string_equal(c->run_dir, "/run/loafre");
	assert_int_equal(c->commit_interval_ms, 10);
	assert_int_equal(c->fs[0].journal_opts.mask, 0);
	assert_int_equal(c->fs[0].journal_opts.fsync, LOAFRE_FSYNC_COMMIT);
	assert_int_equal(c->fs[0].journal_opts.segment_bytes, 0);
	assert_string_equal(c->fs[0].mdts[0], "a_b-1-MDT0000");
	assert_non_null(loafre_config_find_mdt(c, "a_b-1-MDT0000", NULL));
	loafre_config_free(c);
}

static void test_broker(void **state)
{
	struct loafre_config *c = NULL;
	char err[512];
	const char *path;

	(void)state;
	/* default endpoint and values */
	path = write_conf("broker0.conf", "[loafred]\nrun_dir = /r\n");
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->broker.n_endpoints, 1);
	assert_string_equal(c->broker.endpoints[0], "ipc:///r/broker.sock");
	assert_int_equal(c->broker.max_credit, 4096);
	assert_int_equal(c->broker.heartbeat_ms, 1000);
	assert_int_equal(c->broker.ephemeral_window, 65536);
	loafre_config_free(c);
	/* repeatable and space-separated endpoints */
	path = write_conf("broker1.conf",
			  "[broker]\nendpoint = ipc:///x.sock tcp://127.0.0.1:5555\n"
			  "endpoint = inproc://b\nmax_credit = 10\nheartbeat_ms = 50\n"
			  "ephemeral_window = 7\ncurve = no\n");
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->broker.n_endpoints, 3);
	assert_string_equal(c->broker.endpoints[0], "ipc:///x.sock");
	assert_string_equal(c->broker.endpoints[1], "tcp://127.0.0.1:5555");
	assert_string_equal(c->broker.endpoints[2], "inproc://b");
	assert_int_equal(c->broker.max_credit, 10);
	assert_int_equal(c->broker.heartbeat_ms, 50);
	assert_int_equal(c->broker.ephemeral_window, 7);
	assert_false(c->broker.curve);
	assert_null(c->broker.curve_secret_key);
	loafre_config_free(c);
	static const struct bad_case bad[] = {
		{ "[broker]\nendpoint = http://x\n", 2, "endpoint must be" },
		{ "[broker]\nendpoint = ipc://\n", 2, "endpoint must be" },
		{ "[broker]\nendpoint =\n", 2, "endpoint is empty" },
		{ "[broker]\nmax_credit = 0\n", 2, "max_credit" },
		{ "[broker]\nmax_credit = 1048577\n", 2, "max_credit" },
		{ "[broker]\nheartbeat_ms = 9\n", 2, "heartbeat_ms" },
		{ "[broker]\nephemeral_window = 0\n", 2, "ephemeral_window" },
		{ "[broker]\nmax_credit = 1\nmax_credit = 2\n", 3, "max_credit" },
		{ "[broker]\nfoo = 1\n", 2, "unknown key 'foo' in section [broker]" },
		{ "[broker]\n[broker]\n", 2, "duplicate section [broker]" },
	};
	check_bad("broker_bad.conf", bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_curve(void **state)
{
	struct loafre_config *c = NULL;
	char err[512], expect[PATH_MAX + 64];
	const char *path;

	(void)state;
	/* Defaults: curve on, no keys, no [client]; fine without tcp://. */
	path = write_conf("curve0.conf", "[broker]\nendpoint = ipc:///x.sock\n");
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_true(c->broker.curve);
	assert_null(c->broker.curve_secret_key);
	assert_null(c->broker.curve_allowed_keys);
	assert_null(c->client.broker);
	assert_null(c->client.curve_server_key);
	assert_null(c->client.curve_key);
	assert_int_equal(c->client.line, 0);
	loafre_config_free(c);

	/* tcp:// with both keys (relative to the file's directory), and a
	 * [client] section. */
	path = write_conf("curve1.conf",
			  "[broker]\nendpoint = ipc:///x.sock tcp://0.0.0.0:5555\n"
			  "curve_secret_key = keys/broker.key\n"
			  "curve_allowed_keys = /etc/loafre/clients.allowed\n"
			  "[client]\nbroker = tcp://mds1:5555\n"
			  "curve_server_key = keys/../keys/broker.pub\ncurve_key = me.key\n");
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_true(c->broker.curve);
	snprintf(expect, sizeof(expect), "%s/keys/broker.key", tmpdir);
	assert_string_equal(c->broker.curve_secret_key, expect);
	assert_string_equal(c->broker.curve_allowed_keys, "/etc/loafre/clients.allowed");
	assert_string_equal(c->client.broker, "tcp://mds1:5555");
	snprintf(expect, sizeof(expect), "%s/keys/broker.pub", tmpdir);
	assert_string_equal(c->client.curve_server_key, expect);
	snprintf(expect, sizeof(expect), "%s/me.key", tmpdir);
	assert_string_equal(c->client.curve_key, expect);
	assert_int_equal(c->client.line, 5);
	loafre_config_free(c);

	/* curve = no: a tcp:// endpoint without keys (insecure, allowed). */
	path = write_conf("curve2.conf", "[broker]\ncurve = no\nendpoint = tcp://127.0.0.1:1\n");
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_false(c->broker.curve);
	loafre_config_free(c);

	/* A [client] section alone (a node without loafred). */
	path = write_conf("curve3.conf", "[client]\nbroker = ipc:///r/broker.sock\n");
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->client.broker, "ipc:///r/broker.sock");
	assert_null(c->client.curve_key);
	loafre_config_free(c);

	static const struct bad_case bad[] = {
		{ "[broker]\nendpoint = ipc:///x.sock\n\nendpoint = tcp://127.0.0.1:5555\n", 4,
		  "a tcp:// endpoint needs CurveZMQ keys" },
		{ "[broker]\nendpoint = tcp://127.0.0.1:5555\n", 2, "curve = no (insecure" },
		{ "[broker]\nendpoint = tcp://127.0.0.1:5555\ncurve = yes\n", 3,
		  "curve = yes needs curve_secret_key" },
		{ "[broker]\ncurve = yes\n", 2, "curve = yes needs curve_secret_key" },
		{ "[broker]\nendpoint = tcp://h:1\ncurve_secret_key = b.key\n", 3,
		  "curve_secret_key needs curve_allowed_keys" },
		{ "[broker]\n\ncurve_allowed_keys = a\n", 3,
		  "curve_allowed_keys needs curve_secret_key" },
		{ "[broker]\ncurve = maybe\n", 2, "curve must be yes or no" },
		{ "[broker]\ncurve = no\ncurve = yes\n", 3, "duplicate key 'curve'" },
		{ "[broker]\ncurve_secret_key =\n", 2, "curve_secret_key is empty" },
		{ "[broker]\ncurve_secret_key = a\ncurve_secret_key = b\n", 3, "duplicate key" },
		{ "[client]\nbroker = http://x\n", 2, "broker must be one endpoint" },
		{ "[client]\nbroker = ipc:///a ipc:///b\n", 2, "broker must be one endpoint" },
		{ "[client]\nbroker = ipc:///a\nbroker = ipc:///b\n", 3, "duplicate key 'broker'" },
		{ "[client]\ncurve_key = me.key\n", 1,
		  "curve_server_key and curve_key go together" },
		{ "\n[client]\ncurve_server_key = b.pub\n", 2, "go together" },
		{ "[client]\ncurve_key =\n", 2, "curve_key is empty" },
		{ "[client]\nendpoint = ipc:///a\n", 2, "unknown key 'endpoint' in section [client]" },
		{ "[client]\n[client]\n", 2, "duplicate section [client] (first on line 1)" },
	};
	check_bad("curve_bad.conf", bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_relative_paths(void **state)
{
	char sub[PATH_MAX], path[PATH_MAX + 64], expect[PATH_MAX + 64], cwd[PATH_MAX];
	struct loafre_config *c = NULL;
	FILE *f;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/etc", tmpdir);
	assert_int_equal(mkdir(sub, 0755) == 0 || errno == EEXIST, 1);
	snprintf(path, sizeof(path), "%s/rel.conf", sub);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[loafred]\nrun_dir = ../demo/run\n"
	      "[filesystem demo]\npath = ../demo/./tree\njournal = journal//x\n", f);
	fclose(f);

	assert_int_equal(loafre_config_load(path, &c, NULL, 0), 0);
	snprintf(expect, sizeof(expect), "%s/demo/run", tmpdir);
	assert_string_equal(c->run_dir, expect);
	snprintf(expect, sizeof(expect), "%s/demo/tree", tmpdir);
	assert_string_equal(c->fs[0].path, expect);
	snprintf(expect, sizeof(expect), "%s/etc/journal/x", tmpdir);
	assert_string_equal(c->fs[0].journal, expect);
	loafre_config_free(c);

	/* A relative config path is resolved against the working directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(loafre_config_load("etc/rel.conf", &c, NULL, 0), 0);
	assert_int_equal(chdir(cwd), 0);
	snprintf(expect, sizeof(expect), "%s/etc/journal/x", tmpdir);
	assert_string_equal(c->fs[0].journal, expect);
	loafre_config_free(c);
}

static void test_groups_indexes(void **state)
{
	struct loafre_config *c = NULL;
	char err[512];
	const char *path;

	(void)state;
	path = write_conf("groups.conf",
			  "[filesystem demo]\npath = /srv/demo\njournal = /var/lib/demo\n"
			  "[group idx]\nstart = demo-MDT0000:5\nbatch_ms = 250\n"
			  "module = types = CREAT MKDIR\nmodule = subtree = /srv/demo/a/../b\n"
			  "module = cancel\nmodule = fields = none\n"
			  "[group plain]\n"
			  "[index demo]\nquota_hook = /bin/true\n"
			  "[index pg]\nfilesystem = demo\nbackend = postgresql\n"
			  "database = host=/run/postgresql dbname=loafre\nfetch_threads = 8\n"
			  "in_daemon = no\n");
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->n_groups, 2);
	assert_string_equal(c->groups[0].name, "idx");
	assert_string_equal(c->groups[0].start, "demo-MDT0000:5");
	assert_int_equal(c->groups[0].batch_ms, 250);
	assert_int_equal(c->groups[0].n_modules, 4);
	assert_string_equal(c->groups[0].modules[0], "types = CREAT MKDIR");
	assert_string_equal(c->groups[0].modules[1], "subtree = /srv/demo/b"); /* normalized */
	assert_string_equal(c->groups[0].modules[2], "cancel");
	assert_string_equal(c->groups[1].name, "plain");
	assert_null(c->groups[1].start);
	assert_int_equal(c->groups[1].n_modules, 0);
	assert_int_equal(c->n_indexes, 2);
	assert_string_equal(c->indexes[0].fs, "demo");
	assert_int_equal(c->indexes[0].backend, LOAFRE_INDEX_SQLITE);
	assert_string_equal(c->indexes[0].database, "/var/lib/demo/index.db");
	assert_string_equal(c->indexes[0].group, "idx-demo");
	assert_string_equal(c->indexes[0].quota_hook, "/bin/true");
	assert_true(c->indexes[0].in_daemon);
	assert_int_equal(c->indexes[0].fetch_threads, 4);
	assert_int_equal(c->indexes[1].backend, LOAFRE_INDEX_POSTGRESQL);
	assert_string_equal(c->indexes[1].database, "host=/run/postgresql dbname=loafre");
	assert_false(c->indexes[1].in_daemon);
	assert_int_equal(c->indexes[1].fetch_threads, 8);
	assert_ptr_equal(loafre_config_find_index(c, "demo"), &c->indexes[0]);
	assert_null(loafre_config_find_index(c, "other"));
	assert_ptr_equal(loafre_config_fs_of_path(c, "/srv/demo/x/y"), &c->fs[0]);
	assert_ptr_equal(loafre_config_fs_of_path(c, "/srv/demo"), &c->fs[0]);
	assert_null(loafre_config_fs_of_path(c, "/srv/demox"));
	loafre_config_free(c);
}

static void test_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[loafred]\nlog = stderr\n[nope]\n", 3, "unknown section [nope]" },
		{ "[filesystem demo]\npath = /a\njournal = /j\nbogus = 1\n", 4, "unknown key 'bogus'" },
		{ "[loafred]\nfoo = bar\n", 2, "unknown key 'foo' in section [loafred]" },
		{ "[filesystem toolongname]\npath = /a\njournal = /j\n", 1, "invalid filesystem name 'toolongname'" },
		{ "[filesystem a.b]\npath = /a\njournal = /j\n", 1, "invalid filesystem name 'a.b'" },
		{ "[filesystem ]\n", 1, "invalid filesystem name" },
		{ "[filesystem x]\npath=/a\njournal=/j\n[filesystem x]\n", 4, "duplicate section [filesystem x] (first on line 1)" },
		{ "[filesystem x]\npath=/a\npath=/b\n", 3, "duplicate key 'path'" },
		{ "[filesystem x]\n\n\njournal = /j\n", 1, "needs path" },
		{ "[filesystem x]\npath = /a\n", 1, "needs journal" },
		{ "[filesystem x]\ntype = lustre\npath = /a\n", 1, "needs mdts and changelog_user" },
		{ "[filesystem x]\ntype = lustre\npath = /a\nmdts = x-MDT0000\n", 1, "needs mdts and changelog_user" },
		{ "[filesystem x]\ntype = lustre\npath=/a\nmdts = y-MDT0000\n", 4, "invalid MDT name 'y-MDT0000'" },
		{ "[filesystem x]\ntype = lustre\npath=/a\nmdts = x-MDT000g\n", 4, "invalid MDT name" },
		{ "[filesystem x]\npath=/a\njournal=/j\nchangelog_user = cl1\n", 1, "only for type = lustre" },
		{ "[filesystem x]\ntype = lustre\npath=/a\nmdts=x-MDT0000\nchangelog_user=cl1\n", 1, "(type lustre) needs journal" },
		{ "[filesystem x]\ntype = lustre\npath=/a\njournal=/j\nmdts=x-MDT0000\nchangelog_user=cl1\ncreate_path = yes\n", 1, "create_path is only for type = local" },
		{ "[filesystem x]\npath=/a\njournal=/j\ncreate_path = maybe\n", 4, "create_path must be yes or no" },
		{ "[filesystem x]\npath=/a\njournal=/j\nevent_queue = big\n", 4, "event_queue must be unlimited or system" },
		{ "[filesystem x]\ntype = lustre\npath=/a\njournal=/j\nmdts=x-MDT0000\nchangelog_user=cl1\nevent_queue = system\n", 1, "event_queue is only for type = local" },
		{ "[filesystem x]\ntype = ext4\n", 2, "type must be local or lustre" },
		{ "[filesystem x]\nfsync = always\n", 2, "fsync must be commit or none" },
		{ "[filesystem x]\nsegment_size = 12Q\n", 2, "segment_size" },
		{ "[filesystem x]\nsegment_size = 100\n", 2, "segment_size" },
		{ "[filesystem x]\ngc_max_idle_time = -1\n", 2, "gc_max_idle_time" },
		{ "[filesystem x]\ngc_max_idle_indexes = lots\n", 2, "gc_max_idle_indexes" },
		{ "[filesystem x]\nchangelog_mask = +BOGUS\n", 2, "invalid changelog_mask '+BOGUS'" },
		{ "[loafred]\nlog = file\n", 2, "log must be stderr or syslog" },
		{ "[loafred]\nlog_level = loud\n", 2, "log_level must be" },
		{ "[loafred]\ncommit_interval_ms = 0\n", 2, "commit_interval_ms" },
		{ "[loafred]\n[loafred]\n", 2, "duplicate section [loafred]" },
		{ "path = /a\n", 1, "outside of any section" },
		{ "[loafred]\nthis is not ini\n", 2, "syntax error" },
		{ "[loafred\n", 1, "without ']'" },
		/* [group NAME] */
		{ "[group 9bad]\n", 1, "invalid group name '9bad'" },
		{ "[group waytoolongname16]\n", 1, "invalid group name" },
		{ "[group g]\n[group g]\n", 2, "duplicate section [group g] (first on line 1)" },
		{ "[group g]\nstart = sometime\n", 2, "start must be oldest, newest or MDT:INDEX" },
		{ "[group g]\nbatch_ms = 60001\n", 2, "batch_ms must be" },
		{ "[group g]\nmodule = types = CREAT BOGUS\n", 2, "bad module 'types = CREAT BOGUS'" },
		{ "[group g]\nmodule = frobnicate\n", 2, "bad module 'frobnicate'" },
		{ "[group g]\nmodule = fields = jobid colour\n", 2, "bad module 'fields = jobid colour'" },
		{ "[group g]\nmodule = subtree = not-a-fid\n", 2, "bad module 'subtree = not-a-fid'" },
		{ "[filesystem x]\npath = /a\njournal = /j\n[group g]\nmodule = subtree = /b/c\n", 4,
		  "[group g]: subtree /b/c is not under the path of any [filesystem]" },
		{ "[group g]\nfilter = x\n", 2, "unknown key 'filter' in section [group g]" },
		/* [index NAME] */
		{ "[index toolongindex]\n", 1, "invalid index name 'toolongindex'" },
		{ "[index i]\n", 1, "[index i]: unknown filesystem 'i'" },
		{ "[filesystem x]\npath = /a\njournal = /j\n[index i]\nfilesystem = y\n", 4,
		  "[index i]: unknown filesystem 'y'" },
		{ "[filesystem x]\npath = /a\njournal = /j\n[index x]\nbackend = mysql\n", 5,
		  "backend must be sqlite or postgresql" },
		{ "[filesystem x]\npath = /a\njournal = /j\n[index x]\nbackend = postgresql\n", 4,
		  "needs database (a conninfo" },
		{ "[filesystem x]\npath = /a\njournal = /j\n[index x]\nfetch_threads = 0\n", 5,
		  "fetch_threads must be 1 to 64" },
		{ "[filesystem x]\npath = /a\njournal = /j\n[index x]\n[index y]\nfilesystem = x\n", 5,
		  "[index y]: database /j/index.db is already [index x]'s" },
	};
	(void)state;
	check_bad("bad.conf", cases, sizeof(cases) / sizeof(cases[0]));
}

/* [rule NAME] and [exclude NAME] sections of the main file. */
static void test_rules(void **state)
{
	struct loafre_config *c = NULL;
	const struct loafre_rule_config *r;
	char err[512];
	const char *path;

	(void)state;
	path = write_conf("rules.conf",
			  "[filesystem demo]\npath = /srv/demo\njournal = /var/lib/demo\n"
			  "[exclude scratch]\npath = /tmp /./scratch//\nglob = *.swp\nregex = ~$\n"
			  "[rule r-1]\nfilesystem = demo\nsource = /projects \"/with blank\"\n"
			  "source = /home/./u\n"
			  "destination = /backup uid_map=0:1000,*:65534 gid_map=5:6\n"
			  "destination = bob@host:/srv/b port=2222 identity=keys/id "
			  "known_hosts=/etc/kh\n"
			  "match_prefix = /projects/a\nmatch_glob = /data/**/*.h5\n"
			  "match_regex = \\.h5$\nevents = CREAT MKDIR,RENME\n"
			  "min_size = 1K\nmax_size = 1G\nowner = root 1001\ngroup = 0\n"
			  "min_age = 10m\nmax_age = 7d\nexclude = scratch\ndelay = 1h30m\n"
			  "schedule = @daily\ncopy = /usr/bin/scp -p %{src} backup:%{dst}\n"
			  "move = mv '%{old}' \"%{dst}\"\nenabled = no\nworkers = 8\n"
			  "[rule plain]\nfilesystem = demo\ndestination = /b2\n");
	if (loafre_config_load(path, &c, err, sizeof(err)) != 0)
		print_error("%s\n", err);
	assert_non_null(c);
	assert_int_equal(c->n_rules, 2);
	assert_int_equal(c->n_excludes, 1);
	assert_string_equal(c->excludes[0].paths[1], "/scratch");
	assert_int_equal(c->excludes[0].n_globs, 1);
	r = loafre_config_find_rule(c, "r-1");
	assert_ptr_equal(r, &c->rules[0]);
	assert_string_equal(r->group, "rep-r-1");
	assert_string_equal(r->fs, "demo");
	assert_int_equal(r->n_sources, 3);
	assert_string_equal(r->sources[1], "/with blank");
	assert_string_equal(r->sources[2], "/home/u");
	assert_int_equal(r->n_dests, 2);
	assert_null(r->dests[0].host);
	assert_string_equal(r->dests[0].path, "/backup");
	assert_int_equal(r->dests[0].uid_map.n_pairs, 1);
	assert_int_equal(r->dests[0].uid_map.pairs[0].from, 0);
	assert_int_equal(r->dests[0].uid_map.pairs[0].to, 1000);
	assert_true(r->dests[0].uid_map.has_default);
	assert_int_equal(r->dests[0].uid_map.default_to, 65534);
	assert_string_equal(r->dests[0].uid_map.text, "0:1000,*:65534");
	assert_int_equal(r->dests[0].gid_map.pairs[0].to, 6);
	assert_string_equal(r->dests[1].user, "bob");
	assert_string_equal(r->dests[1].host, "host");
	assert_string_equal(r->dests[1].path, "/srv/b");
	assert_int_equal(r->dests[1].port, 2222);
	assert_non_null(strstr(r->dests[1].identity, "/keys/id")); /* beside the file */
	assert_true(r->dests[1].identity[0] == '/');
	assert_string_equal(r->dests[1].known_hosts, "/etc/kh");
	assert_int_equal(r->dests[0].port, 0);
	assert_null(r->dests[0].identity);
	assert_null(r->dests[0].known_hosts);
	assert_string_equal(r->match_prefixes[0], "/projects/a");
	assert_string_equal(r->match_globs[0], "/data/**/*.h5");
	assert_string_equal(r->match_regexes[0], "\\.h5$");
	assert_int_equal(r->events, (1u << LOAFRE_CL_CREATE) | (1u << LOAFRE_CL_MKDIR) |
				       (1u << LOAFRE_CL_RENAME));
	assert_true(r->has_min_size && r->has_max_size);
	assert_int_equal(r->min_size, 1024);
	assert_int_equal(r->max_size, 1u << 30);
	assert_int_equal(r->n_owners, 2);
	assert_int_equal(r->owners[0], 0);
	assert_int_equal(r->owners[1], 1001);
	assert_int_equal(r->n_gids, 1);
	assert_int_equal(r->min_age, 600);
	assert_int_equal(r->max_age, 7 * 86400);
	assert_int_equal(r->delay, 5400);
	assert_string_equal(r->schedule, "@daily");
	assert_string_equal(r->actions[LOAFRE_ACT_COPY], "/usr/bin/scp -p %{src} backup:%{dst}");
	assert_null(r->actions[LOAFRE_ACT_DELETE]);
	assert_false(r->enabled);
	assert_false(r->enabled_in_file);
	assert_null(r->state_file);
	assert_int_equal(r->workers, 8);
	assert_false(r->in_rules_dir);
	assert_int_equal(r->line, 8);
	assert_string_equal(r->file, path);
	r = &c->rules[1];
	assert_int_equal(r->n_sources, 1);
	assert_string_equal(r->sources[0], "/"); /* default */
	assert_int_equal(r->events, LOAFRE_CL_MASK_ALL);
	assert_true(r->enabled);
	assert_int_equal(r->workers, 2);
	assert_int_equal(r->delay, 0);
	assert_null(r->schedule);
	assert_null(loafre_config_find_rule(c, "nope"));
	assert_non_null(loafre_config_find_exclude(c, "scratch"));
	{
		char rd[PATH_MAX];
		snprintf(rd, sizeof(rd), "%s/rules.d", tmpdir);
		assert_string_equal(c->rules_dir, rd); /* default: beside the file */
	}
	loafre_config_free(c);
}

static void test_rule_errors(void **state)
{
#define FS "[filesystem x]\npath = /a\njournal = /j\n"
	static const struct bad_case cases[] = {
		{ "[rule toolongrule1]\n", 1, "invalid rule name 'toolongrule1'" },
		{ "[rule a.b]\n", 1, "invalid rule name 'a.b'" },
		{ "[rule -a]\n", 1, "invalid rule name '-a'" },
		{ FS "[rule r]\n", 4, "[rule r] needs filesystem" },
		{ FS "[rule r]\nfilesystem = y\ndestination = /d\n", 4, "[rule r]: unknown filesystem 'y'" },
		{ FS "[rule r]\nfilesystem = x\n", 4, "[rule r] needs at least one destination" },
		{ FS "[rule r]\nfilesystem = x\ndestination = rel/path\n", 6, "destination 'rel/path' must be an absolute path" },
		{ FS "[rule r]\nfilesystem = x\ndestination = host:rel\n", 6, "must be an absolute path or [user@]host:/path" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /d foo=1\n", 6, "unknown option 'foo=1'" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /d uid_map=1:2,1:3\n", 6, "uid_map: id 1 mapped twice" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /d uid_map=nosuchuserxyz:1\n", 6, "unknown user 'nosuchuserxyz'" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /d gid_map=1\n", 6, "gid_map: '1' is not S:D" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /d port=22\n", 6, "destination '/d': port is for [user@]host:/path destinations" },
		{ FS "[rule r]\nfilesystem = x\ndestination = h:/d port=0\n", 6, "port '0' is not 1 to 65535" },
		{ FS "[rule r]\nfilesystem = x\ndestination = h:/d port=65536\n", 6, "port '65536' is not 1 to 65535" },
		{ FS "[rule r]\nfilesystem = x\ndestination = h:/d port=22x\n", 6, "port '22x' is not 1 to 65535" },
		{ FS "[rule r]\nfilesystem = x\ndestination = h:/d port=22 port=23\n", 6, "port given twice" },
		{ FS "[rule r]\nfilesystem = x\ndestination = h:/d identity=\n", 6, "identity= needs a file" },
		{ FS "[rule r]\nfilesystem = x\ndestination = h:/d known_hosts=/a known_hosts=/b\n", 6, "known_hosts given twice" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /a/sub\n", 4, "destination /a/sub overlaps the replicated tree /a" },
		{ FS "[rule r]\nfilesystem = x\nsource = rel\n", 6, "source 'rel' must start with /" },
		{ FS "[rule r]\nfilesystem = x\nsource = /a/../..\n", 6, "must not contain '..'" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /d\nsource = /a /a/b\n", 4, "source /a/b is inside source /a" },
		{ FS "[rule r]\nfilesystem = x\nmatch_regex = a(b\n", 6, "[rule r]: match_regex 'a(b': missing closing parenthesis" },
		{ FS "[rule r]\nfilesystem = x\nevents = CREAT BOGUS\n", 6, "events: unknown record type 'BOGUS'" },
		{ FS "[rule r]\nfilesystem = x\nevents = CREAT\nevents = MKDIR\n", 7, "duplicate key 'events'" },
		{ FS "[rule r]\nfilesystem = x\nmin_size = 1Q\n", 6, "min_size must be a size" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /d\nmin_size = 2K\nmax_size = 1K\n", 4, "min_size is above max_size" },
		{ FS "[rule r]\nfilesystem = x\nowner = nosuchuserxyz\n", 6, "owner: unknown user 'nosuchuserxyz'" },
		{ FS "[rule r]\nfilesystem = x\ngroup = nosuchgroupxyz\n", 6, "group: unknown group 'nosuchgroupxyz'" },
		{ FS "[rule r]\nfilesystem = x\nmin_age = 5y\n", 6, "min_age must be a duration" },
		{ FS "[rule r]\nfilesystem = x\ndelay = soon\n", 6, "delay must be a duration" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /d\nexclude = nope\n", 4, "[rule r]: unknown exclude 'nope' (no [exclude nope] section)" },
		{ FS "[rule r]\nfilesystem = x\nexclude = a a\n", 6, "exclude a listed twice" },
		{ FS "[rule r]\nfilesystem = x\nschedule = * * * *\n", 6, "schedule '* * * *': 4 fields, expected 5" },
		{ FS "[rule r]\nfilesystem = x\nschedule = 61 * * * *\n", 6, "minute: 61 is out of range 0-59" },
		{ FS "[rule r]\nfilesystem = x\nschedule = * * 31 feb *\n", 6, "no month of the month field has any of these days" },
		{ FS "[rule r]\nfilesystem = x\ncopy = cp %{src} %{bogus}\n", 6, "[rule r]: copy: unknown variable %{bogus}" },
		{ FS "[rule r]\nfilesystem = x\ncopy = cp %{old} %{dst}\n", 6, "copy: %{old} is not available to copy" },
		{ FS "[rule r]\nfilesystem = x\nmove = mv 'a\n", 6, "move: unterminated ' quote" },
		{ FS "[rule r]\nfilesystem = x\nchmod = chmod 50% x\n", 6, "chmod: '%' at offset" },
		{ FS "[rule r]\nfilesystem = x\nenabled = maybe\n", 6, "enabled must be yes or no" },
		{ FS "[rule r]\nfilesystem = x\nworkers = 65\n", 6, "workers must be 1 to 64" },
		{ FS "[rule r]\nfilesystem = x\nfrobnicate = 1\n", 6, "unknown key 'frobnicate' in section [rule r]" },
		{ FS "[rule r]\nfilesystem = x\ndestination = /d\n[rule r]\n", 7, "[rule r] is defined twice (also in " },
		{ "[exclude e]\n", 1, "[exclude e] is empty" },
		{ "[exclude e]\nregex = (\n", 2, "[exclude e]: regex '(': missing closing parenthesis" },
		{ "[exclude e]\npath = rel\n", 2, "path 'rel' must start with /" },
		{ "[exclude e]\nsize = 1\n", 2, "unknown key 'size' in section [exclude e]" },
		{ "[exclude e]\nglob = *\n[exclude e]\n", 3, "[exclude e] is defined twice" },
	};
#undef FS
	(void)state;
	check_bad("badrule.conf", cases, sizeof(cases) / sizeof(cases[0]));
}

/* Writes tmpdir/rd/REL (directories made; a NAME.state file never padded). */
static void write_rd(const char *rel, const char *text)
{
	char path[PATH_MAX];
	size_t len = strlen(rel), saved = pad;

	snprintf(path, sizeof(path), "%s/rd", tmpdir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/rd/rules", tmpdir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/rd/%s", tmpdir, rel);
	if (len > 6 && strcmp(rel + len - 6, ".state") == 0)
		pad = 0; /* not INI: no inline comments, lines of 255 bytes */
	write_text(path, text);
	pad = saved;
}

static void rm_rd(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/rd/%s", tmpdir, rel);
	assert_int_equal(unlink(path), 0);
}

/* Loads tmpdir/rd/main.conf; expects success (err_needle NULL) or an
 * error containing err_needle. */
static struct loafre_config *load_rd(const char *err_needle)
{
	char path[PATH_MAX], err[1024];
	struct loafre_config *c = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/rd/main.conf", tmpdir);
	r = loafre_config_load(path, &c, err, sizeof(err));
	if (err_needle) {
		if (r >= 0 || !strstr(err, err_needle))
			print_error("r=%d err='%s' (want '%s')\n", r, err, err_needle);
		assert_true(r < 0);
		assert_non_null(strstr(err, err_needle));
		assert_null(strchr(err, '\n'));
		return NULL;
	}
	if (r < 0)
		print_error("%s\n", err);
	assert_int_equal(r, 0);
	return c;
}

static void test_rules_dir(void **state)
{
	struct loafre_config *c;
	const struct loafre_rule_config *r;
	char want[PATH_MAX + 64];

	(void)state;
	write_rd("main.conf", "[loafred]\nrules_dir = rules\n"
			      "[filesystem x]\npath = /a\njournal = /j\n"
			      "[rule m]\nfilesystem = x\ndestination = /d\nexclude = ex\n");
	write_rd("rules/ex.exclude", "; comment\n[exclude ex]\nglob = *.o\n");
	write_rd("rules/r2.rule", "[rule r2]\nfilesystem = x\ndestination = /d2\nenabled = no\n");
	write_rd("rules/r1.rule", "# c\n[rule r1]\nfilesystem = x\ndestination = h:/d1\n");
	write_rd("rules/notes.txt", "ignored: not .rule/.exclude/.state\n");
	write_rd("rules/.r9.rule.tmp", "ignored: hidden\n");
	c = load_rd(NULL);
	snprintf(want, sizeof(want), "%s/rd/rules", tmpdir);
	assert_string_equal(c->rules_dir, want);
	assert_int_equal(c->n_rules, 3);
	assert_string_equal(c->rules[0].name, "m");
	assert_false(c->rules[0].in_rules_dir);
	assert_string_equal(c->rules[1].name, "r1"); /* sorted by file name */
	assert_true(c->rules[1].in_rules_dir);
	snprintf(want, sizeof(want), "%s/rd/rules/r1.rule", tmpdir);
	assert_string_equal(c->rules[1].file, want);
	assert_int_equal(c->rules[1].line, 2);
	assert_string_equal(c->rules[2].name, "r2");
	assert_false(c->rules[2].enabled);
	assert_int_equal(c->n_excludes, 1);
	loafre_config_free(c);

	/* NAME.state overrides a main-file rule's enabled, visibly */
	write_rd("rules/m.state", "# by loafre rule disable\nenabled = no\n");
	c = load_rd(NULL);
	r = loafre_config_find_rule(c, "m");
	assert_false(r->enabled);
	assert_true(r->enabled_in_file);
	snprintf(want, sizeof(want), "%s/rd/rules/m.state", tmpdir);
	assert_string_equal(r->state_file, want);
	loafre_config_free(c);
	write_rd("rules/m.state", "enabled = perhaps\n");
	load_rd("m.state:1: enabled must be yes or no");
	rm_rd("rules/m.state");
	write_rd("rules/r1.state", "enabled = no\n");
	load_rd("rule r1 is defined in");
	rm_rd("rules/r1.state");
	write_rd("rules/zz.state", "enabled = no\n");
	load_rd("zz.state: no rule zz to apply this state to");
	rm_rd("rules/zz.state");

	/* defined twice: main file and rules_dir; both places named */
	write_rd("rules/m.rule", "[rule m]\nfilesystem = x\ndestination = /d3\n");
	snprintf(want, sizeof(want), "rules/m.rule:1: [rule m] is defined twice (also in %s/rd/main.conf:6)",
		 tmpdir);
	load_rd(want);
	rm_rd("rules/m.rule");
	/* a rules_dir file holds only its own section */
	write_rd("rules/r3.rule", "[rule other]\nfilesystem = x\ndestination = /d\n");
	load_rd("r3.rule:1: a rules_dir file r3.rule holds only its section [rule r3]");
	write_rd("rules/r3.rule", "[rule r3]\nfilesystem = x\ndestination = /d\n[filesystem y]\n");
	load_rd("r3.rule:4: a rules_dir file r3.rule holds only its section [rule r3]");
	write_rd("rules/r3.rule", "; nothing\n");
	load_rd("r3.rule: holds no [rule r3] section");
	write_rd("rules/r3.rule", "[rule r3]\nfilesystem = x\ndestination = /d\nschedule = @often\n");
	load_rd("r3.rule:4: [rule r3]: schedule '@often': unknown macro");
	rm_rd("rules/r3.rule");
	write_rd("rules/bad.name.rule", "[rule bad]\n");
	load_rd("invalid name 'bad.name' for a rules_dir file");
	rm_rd("rules/bad.name.rule");
	rm_rd("rules/ex.exclude");
	load_rd("main.conf:6: [rule m]: unknown exclude 'ex'");
	write_rd("rules/ex.exclude", "[exclude ex]\nglob = *.o\n");
	c = load_rd(NULL);
	loafre_config_free(c);
}

/* loafre__config_load_with: a rules_dir file replaced or removed. */
static void test_rules_override(void **state)
{
	char path[PATH_MAX], err[1024];
	struct loafre_config *c = NULL;
	struct loafre__config_override ov[2] = {
		{ "new.rule", "[rule new]\nfilesystem = x\ndestination = /n\n" },
		{ "r1.rule", NULL },
	};

	(void)state;
	snprintf(path, sizeof(path), "%s/rd/main.conf", tmpdir);
	assert_int_equal(loafre__config_load_with(path, ov, 2, &c, err, sizeof(err)), 0);
	assert_non_null(loafre_config_find_rule(c, "new"));
	assert_null(loafre_config_find_rule(c, "r1"));
	assert_non_null(loafre_config_find_rule(c, "r2"));
	loafre_config_free(c);
	c = NULL;
	ov[0].text = "[rule new]\nfilesystem = x\ndestination = /n\nmatch_regex = [\n";
	assert_true(loafre__config_load_with(path, ov, 1, &c, err, sizeof(err)) < 0);
	assert_null(c);
	assert_non_null(strstr(err, "rules/new.rule:4: [rule new]: match_regex '['"));
	ov[0].text = "";
	assert_true(loafre__config_load_with(path, ov, 1, &c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "holds no [rule new] section"));
}

static void test_missing_file(void **state)
{
	struct loafre_config *c = NULL;
	char err[256], path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));
	/* A directory is not a config. */
	assert_true(loafre_config_load(tmpdir, &c, err, sizeof(err)) < 0);
	assert_null(c);
}

static void test_path_lookup(void **state)
{
	(void)state;
	unsetenv("LOAFRE_CONFIG");
	assert_string_equal(loafre_config_path(NULL), LOAFRE_CONFIG_DEFAULT_PATH);
	assert_string_equal(loafre_config_path("/x.conf"), "/x.conf");
	setenv("LOAFRE_CONFIG", "/env.conf", 1);
	assert_string_equal(loafre_config_path(NULL), "/env.conf");
	assert_string_equal(loafre_config_path("/x.conf"), "/x.conf");
	setenv("LOAFRE_CONFIG", "", 1);
	assert_string_equal(loafre_config_path(NULL), LOAFRE_CONFIG_DEFAULT_PATH);
	unsetenv("LOAFRE_CONFIG");
}

static void test_parse_size(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(loafre_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(loafre_parse_size("64K", &v), 0);
	assert_int_equal(v, 64u << 10);
	assert_int_equal(loafre_parse_size("64M", &v), 0);
	assert_int_equal(v, 64u << 20);
	assert_int_equal(loafre_parse_size("1G", &v), 0);
	assert_int_equal(v, 1ull << 30);
	assert_int_equal(loafre_parse_size("2T", &v), 0);
	assert_int_equal(v, 2ull << 40);
	assert_int_equal(loafre_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	v = 7;
	assert_int_equal(loafre_parse_size("", &v), -EINVAL);
	assert_int_equal(loafre_parse_size("M", &v), -EINVAL);
	assert_int_equal(loafre_parse_size("-1", &v), -EINVAL);
	assert_int_equal(loafre_parse_size("1X", &v), -EINVAL);
	assert_int_equal(loafre_parse_size("1MB", &v), -EINVAL);
	assert_int_equal(loafre_parse_size(" 1", &v), -EINVAL);
	assert_int_equal(loafre_parse_size("99999999999999999999", &v), -EINVAL);
	assert_int_equal(loafre_parse_size("16777216T", &v), -EINVAL);
	assert_int_equal(v, 7);
}

static void test_examples(void **state)
{
	char path[PATH_MAX + 64], expect[PATH_MAX + 64];
	struct loafre_config *c = NULL;
	char err[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/examples/demo.conf", SOURCE_ROOT);
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->n_fs, 1);
	assert_string_equal(c->fs[0].name, "demo");
	snprintf(expect, sizeof(expect), "%s/demo/journal", SOURCE_ROOT);
	assert_string_equal(c->fs[0].journal, expect);
	loafre_config_free(c);
	snprintf(path, sizeof(path), "%s/examples/loafre.conf", SOURCE_ROOT);
	if (loafre_config_load(path, &c, err, sizeof(err)) != 0)
		print_error("%s\n", err);
	assert_non_null(c);
	loafre_config_free(c);
}

/* text with a run of n copies of ch appended (malloc'ed). */
static char *with_run(const char *text, char ch, size_t n)
{
	size_t l = strlen(text);
	char *s = malloc(l + n + 1);

	assert_non_null(s);
	memcpy(s, text, l);
	memset(s + l, ch, n);
	s[l + n] = '\0';
	return s;
}

/* Lines longer than inih's 200-byte buffer: read whole, as short ones are,
 * up to LOAFRE_CONFIG_LINE_MAX characters. */
static void test_long_lines(void **state)
{
	struct loafre_config *c = NULL;
	char err[1024], *dir, *hook, *ep1, *ep2, *key, *word, *comment, *text = NULL;
	const char *path;
	size_t len;
	FILE *f;

	(void)state;
	if (pad)
		skip(); /* its lines are long already, one of the largest size */
	dir = with_run("/srv/", 'd', 250);
	hook = with_run("/bin/h ", 'a', 4993);
	ep1 = with_run("ipc:///e1/", 'e', 400);
	ep2 = with_run("ipc:///e2/", 'f', 400);
	key = with_run("", 'k', 250);
	word = with_run("", 'w', 250);
	comment = with_run(";", 'c', LOAFRE_CONFIG_LINE_MAX - 1);
	/* a 300-character destination, a 5000-character value, an indented
	 * long line continuing a value, a short one continuing a long one,
	 * long comments and headers, a comment of the largest size */
	f = open_memstream(&text, &len);
	assert_non_null(f);
	fprintf(f, "[filesystem x] ;%s\npath = /a\njournal = /j\n", word);
	fprintf(f, "[rule r]\nfilesystem = x\n");
	fprintf(f, "destination = bob@h:%s port=2222 identity=/k/id known_hosts=/k/kh\n", dir);
	fprintf(f, "  ; %s\n%s\n[index x]\nquota_hook = %s ; a comment\n", word, comment, hook);
	fprintf(f, "[broker]\ncurve = no\nendpoint = ipc:///a\n   %s\n", ep1);
	fprintf(f, "endpoint = %s\n	ipc:///b\n", ep2);
	assert_int_equal(fclose(f), 0);
	assert_true(strlen(strstr(text, "destination")) > 300);
	path = write_conf("long.conf", text);
	if (loafre_config_load(path, &c, err, sizeof(err)) != 0)
		print_error("%s\n", err);
	assert_non_null(c);
	assert_int_equal(c->rules[0].n_dests, 1);
	assert_string_equal(c->rules[0].dests[0].host, "h");
	assert_string_equal(c->rules[0].dests[0].path, dir);
	assert_int_equal(c->rules[0].dests[0].port, 2222);
	assert_string_equal(c->rules[0].dests[0].known_hosts, "/k/kh");
	assert_string_equal(c->indexes[0].quota_hook, hook);
	assert_int_equal(strlen(c->indexes[0].quota_hook), 5000);
	assert_int_equal(c->broker.n_endpoints, 4);
	assert_string_equal(c->broker.endpoints[0], "ipc:///a");
	assert_string_equal(c->broker.endpoints[1], ep1);
	assert_string_equal(c->broker.endpoints[2], ep2);
	assert_string_equal(c->broker.endpoints[3], "ipc:///b");
	loafre_config_free(c);
	free(text);

	/* one character more than the limit: refused, naming file:line */
	free(comment);
	comment = with_run("[loafred]\n;", 'c', LOAFRE_CONFIG_LINE_MAX);
	path = write_conf("toolong.conf", comment);
	c = (struct loafre_config *)0x1;
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), -EINVAL);
	assert_ptr_equal(c, (struct loafre_config *)0x1);
	assert_non_null(strstr(err, ":2: line too long (at most 65536 characters)"));

	/* a long unknown key, a long line without '=' */
	assert_true(asprintf(&text, "[loafred]\n%s = 1\n", key) > 0);
	path = write_conf("longkey.conf", text);
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: unknown key 'kkkk"));
	assert_non_null(strstr(err, key));
	free(text);
	assert_true(asprintf(&text, "[loafred]\n%s\n", word) > 0);
	path = write_conf("longword.conf", text);
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: syntax error"));
	free(text);
	free(dir);
	free(hook);
	free(ep1);
	free(ep2);
	free(key);
	free(word);
	free(comment);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_broker),
		cmocka_unit_test(test_curve),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_groups_indexes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_rule_errors),
		cmocka_unit_test(test_rules_dir),
		cmocka_unit_test(test_rules_override),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_path_lookup),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_long_lines),
	};
	int r = cmocka_run_group_tests_name("config", tests, setup, teardown);

	pad = 300; /* again, every line longer than inih's buffer */
	return r | cmocka_run_group_tests_name("config, every line padded", tests, setup, teardown);
}
