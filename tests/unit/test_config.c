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

/* The checkout: tests/data/../.. */
#define SOURCE_ROOT_RAW TEST_DATA_DIR "/../.."
static char SOURCE_ROOT[PATH_MAX];

static char tmpdir[] = "/tmp/loafre-test-config.XXXXXX";

static int setup(void **state)
{
	(void)state;
	if (!realpath(SOURCE_ROOT_RAW, SOURCE_ROOT))
		return -1;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes `text` to tmpdir/name; returns the path (static buffer). */
static const char *write_conf(const char *name, const char *text)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
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
			  "ephemeral_window = 7\n");
	assert_int_equal(loafre_config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->broker.n_endpoints, 3);
	assert_string_equal(c->broker.endpoints[0], "ipc:///x.sock");
	assert_string_equal(c->broker.endpoints[1], "tcp://127.0.0.1:5555");
	assert_string_equal(c->broker.endpoints[2], "inproc://b");
	assert_int_equal(c->broker.max_credit, 10);
	assert_int_equal(c->broker.heartbeat_ms, 50);
	assert_int_equal(c->broker.ephemeral_window, 7);
	loafre_config_free(c);
	static const char *const bad[][2] = {
		{"[broker]\nendpoint = http://x\n", "endpoint must be"},
		{"[broker]\nendpoint = ipc://\n", "endpoint must be"},
		{"[broker]\nendpoint =\n", "endpoint is empty"},
		{"[broker]\nmax_credit = 0\n", "max_credit"},
		{"[broker]\nmax_credit = 1048577\n", "max_credit"},
		{"[broker]\nheartbeat_ms = 9\n", "heartbeat_ms"},
		{"[broker]\nephemeral_window = 0\n", "ephemeral_window"},
		{"[broker]\nmax_credit = 1\nmax_credit = 2\n", "max_credit"},
		{"[broker]\nfoo = 1\n", "unknown key 'foo' in section [broker]"},
		{"[broker]\n[broker]\n", "duplicate section [broker]"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		path = write_conf("broker_bad.conf", bad[i][0]);
		assert_true(loafre_config_load(path, &c, err, sizeof(err)) < 0);
		if (!strstr(err, bad[i][1]))
			fail_msg("'%s': got '%s'", bad[i][0], err);
		assert_null(c);
	}
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

struct bad_case {
	const char *text;
	unsigned line;      /* expected line in the message; 0: none */
	const char *needle; /* expected part of the message */
};

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
	};
	char err[512], expect[PATH_MAX + 32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct loafre_config *c = (struct loafre_config *)0x1;
		const char *path = write_conf("bad.conf", cases[i].text);
		int r = loafre_config_load(path, &c, err, sizeof(err));

		if (r >= 0 || !strstr(err, cases[i].needle))
			print_error("case %zu: r=%d err='%s' (want '%s')\n", i, r, err, cases[i].needle);
		assert_true(r < 0);
		assert_ptr_equal(c, (struct loafre_config *)0x1); /* untouched */
		assert_non_null(strstr(err, cases[i].needle));
		snprintf(expect, sizeof(expect), "%s:%u: ", path, cases[i].line);
		if (strncmp(err, expect, strlen(expect)) != 0)
			print_error("case %zu: '%s' does not start with '%s'\n", i, err, expect);
		assert_int_equal(strncmp(err, expect, strlen(expect)), 0);
		assert_null(strchr(err, '\n'));
	}
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_broker),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_path_lookup),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_examples),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
