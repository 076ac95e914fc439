/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* test_rule.c — lib/rule.c: matching, excludes, id maps, templates. */
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
#include <unistd.h>

#include "loafre/loafre.h"
#include "rule.h"

static char tmpdir[] = "/tmp/loafre-test-rule.XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Loads a configuration made of a filesystem section plus `rules`; the
 * first rule compiled into *ret. */
static struct loafre_config *load(const char *rules, struct loafre__rule **ret)
{
	char path[PATH_MAX], err[1024];
	struct loafre_config *c = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[filesystem fs]\npath = /srv/fs\njournal = /var/lib/fs\n%s", rules);
	assert_int_equal(fclose(f), 0);
	if (loafre_config_load(path, &c, err, sizeof(err)) < 0)
		print_error("%s\n", err);
	assert_non_null(c);
	assert_true(c->n_rules >= 1);
	if (loafre__rule_compile(c, &c->rules[0], ret, err, sizeof(err)) < 0)
		print_error("%s\n", err);
	assert_non_null(*ret);
	return c;
}

#define M(r, path) loafre__rule_match(r, path, false, NULL, LOAFRE_CL_CREATE)
#define MD(r, path) loafre__rule_match(r, path, true, NULL, LOAFRE_CL_MKDIR)

static void test_glob(void **state)
{
	(void)state;
	/* ** at the start, middle and end */
	assert_true(loafre__glob_match("/**/core", "/core"));
	assert_true(loafre__glob_match("/**/core", "/a/b/c/core"));
	assert_false(loafre__glob_match("/**/core", "/a/b/core.1"));
	assert_true(loafre__glob_match("/data/**/*.h5", "/data/x.h5"));
	assert_true(loafre__glob_match("/data/**/*.h5", "/data/a/b/c/x.h5"));
	assert_false(loafre__glob_match("/data/**/*.h5", "/data/a/b/c/x.h5/y"));
	assert_false(loafre__glob_match("/data/**/*.h5", "/other/data/x.h5"));
	assert_true(loafre__glob_match("/tmp/**", "/tmp"));
	assert_true(loafre__glob_match("/tmp/**", "/tmp/a/b"));
	assert_false(loafre__glob_match("/tmp/**", "/tmpx/a"));
	assert_true(loafre__glob_match("/a/**/b/**/c", "/a/x/b/y/z/c"));
	assert_true(loafre__glob_match("/a/**/b/**/c", "/a/b/c"));
	assert_false(loafre__glob_match("/a/**/b/**/c", "/a/c/b"));
	assert_true(loafre__glob_match("/**", "/anything/at/all"));
	/* single * does not cross / (FNM_PATHNAME) */
	assert_true(loafre__glob_match("/data/*.h5", "/data/x.h5"));
	assert_false(loafre__glob_match("/data/*.h5", "/data/sub/x.h5"));
	assert_false(loafre__glob_match("/*", "/a/b"));
	assert_true(loafre__glob_match("/d?t[a-c]/f", "/data/f"));
	/* fnmatch's component syntax: classes, ranges, negation, escapes */
	assert_true(loafre__glob_match("/[!a]x", "/bx"));
	assert_false(loafre__glob_match("/[!a]x", "/ax"));
	assert_true(loafre__glob_match("/[^a-c]x", "/dx"));
	assert_true(loafre__glob_match("/f[[:digit:]][[:alpha:]]", "/f1z"));
	assert_false(loafre__glob_match("/f[[:digit:]]", "/fz"));
	assert_true(loafre__glob_match("/[]]", "/]"));
	assert_true(loafre__glob_match("/a\\*", "/a*"));
	assert_false(loafre__glob_match("/a\\*", "/ab"));
	assert_true(loafre__glob_match("/[ab", "/[ab")); /* unclosed: literal */
	assert_true(loafre__glob_match("/*", "/.hidden")); /* no FNM_PERIOD */
	assert_true(loafre__glob_match("/a*b*c", "/aXXbYYc"));
	assert_false(loafre__glob_match("/a*b*c", "/aXXbYY"));
	/* many stars against a long name: linear-time walk, right answer */
	{
		char pat[128] = "/", name[300] = "/";
		for (int i = 0; i < 30; i++)
			strcat(pat, "*a");
		strcat(pat, "*b");
		memset(name + 1, 'a', 250);
		name[251] = '\0';
		assert_false(loafre__glob_match(pat, name));
		name[250] = 'b';
		assert_true(loafre__glob_match(pat, name));
	}
	/* no '/': the last component */
	assert_true(loafre__glob_match("*.swp", "/a/b/.x.swp"));
	assert_false(loafre__glob_match("*.swp", "/a/x.swp/y"));
	/* many ** against a deep path: no blow-up, right answer */
	{
		char pat[512] = "", path[4096] = "";
		for (int i = 0; i < 40; i++)
			strcat(pat, "/**/a");
		strcat(pat, "/b");
		for (int i = 0; i < 400; i++)
			strcat(path, "/a");
		assert_false(loafre__glob_match(pat, path));
		strcat(path, "/b");
		assert_true(loafre__glob_match(pat, path));
	}
}

static void test_match_kinds(void **state)
{
	struct loafre__rule *r = NULL;
	struct loafre_config *c;

	(void)state;
	/* no match_* at all: everything under the sources */
	c = load("[rule r]\nfilesystem = fs\ndestination = /d\nsource = /proj /home\n", &r);
	assert_true(M(r, "/proj"));
	assert_true(M(r, "/proj/a/b"));
	assert_true(M(r, "/home/u/f"));
	assert_false(M(r, "/projects/a"));
	assert_false(M(r, "/other"));
	assert_false(loafre__rule_match(r, "relative", false, NULL, LOAFRE_CL_CREATE));
	assert_string_equal(loafre__rule_source_rel(r, "/proj/a/b"), "a/b");
	assert_string_equal(loafre__rule_source_rel(r, "/proj"), "");
	assert_null(loafre__rule_source_rel(r, "/projx"));
	loafre__rule_free(r);
	loafre_config_free(c);

	/* prefixes, globs and regexes: any of them */
	c = load("[rule r]\nfilesystem = fs\ndestination = /d\n"
		 "match_prefix = /keep /also/this\nmatch_glob = /data/**/*.h5\n"
		 "match_regex = ^/logs/[0-9]{4}\\.log$\n", &r);
	assert_true(M(r, "/keep"));
	assert_true(M(r, "/keep/x/y"));
	assert_false(M(r, "/keeper"));
	assert_true(M(r, "/also/this/z"));
	assert_true(M(r, "/data/x/y.h5"));
	assert_false(M(r, "/data/x/y.h6"));
	assert_true(M(r, "/logs/2024.log"));
	assert_false(M(r, "/logs/24.log"));
	assert_false(M(r, "/nothing"));
	assert_string_equal(loafre__rule_source_rel(r, "/keep/x"), "keep/x");
	loafre__rule_free(r);
	loafre_config_free(c);
}

static void test_events_attrs(void **state)
{
	struct loafre__rule *r = NULL;
	struct loafre_config *c;
	struct loafre__rule_attr a = {.size = 2048, .uid = 1001, .gid = 100, .mtime = 1000,
				      .now = 1000 + 3600};

	(void)state;
	c = load("[rule r]\nfilesystem = fs\ndestination = /d\nevents = CREAT MKDIR\n"
		 "min_size = 1K\nmax_size = 4K\nowner = 1001 1002\ngroup = 100\n"
		 "min_age = 10m\nmax_age = 2h\n", &r);
	assert_true(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_CREATE));
	assert_true(loafre__rule_match(r, "/d", true, &a, LOAFRE_CL_MKDIR));
	assert_false(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_UNLINK));
	assert_false(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_RENAME));
	assert_false(loafre__rule_match(r, "/f", false, &a, 99));
	/* attributes unknown: conditions taken as met */
	assert_true(loafre__rule_match(r, "/f", false, NULL, LOAFRE_CL_CREATE));
	a.size = 1023;
	assert_false(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_CREATE));
	assert_true(loafre__rule_match(r, "/f", true, &a, LOAFRE_CL_MKDIR)); /* dirs: no size */
	a.size = 4097;
	assert_false(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_CREATE));
	a.size = 4096;
	assert_true(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_CREATE));
	a.uid = 1003;
	assert_false(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_CREATE));
	assert_false(loafre__rule_match(r, "/d", true, &a, LOAFRE_CL_MKDIR));
	a.uid = 1002;
	a.gid = 101;
	assert_false(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_CREATE));
	a.gid = 100;
	a.now = a.mtime + 599; /* younger than min_age */
	assert_false(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_CREATE));
	a.now = a.mtime + 600;
	assert_true(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_CREATE));
	a.now = a.mtime + 7201; /* older than max_age */
	assert_false(loafre__rule_match(r, "/f", false, &a, LOAFRE_CL_CREATE));
	loafre__rule_free(r);
	loafre_config_free(c);
}

static void test_excludes(void **state)
{
	struct loafre__rule *r = NULL;
	struct loafre_config *c;

	(void)state;
	c = load("[exclude dirs]\npath = /scratch /a/cache\n"
		 "[exclude pats]\nglob = *.swp\nglob = /build/**/obj\nregex = ~$\nregex = /\\.git(/|$)\n"
		 "[rule r]\nfilesystem = fs\ndestination = /d\nexclude = dirs pats\n", &r);
	assert_true(M(r, "/a/b"));
	/* path: the directory and everything under it */
	assert_false(MD(r, "/scratch"));
	assert_false(M(r, "/scratch/x/y"));
	assert_true(M(r, "/scratchy"));
	assert_false(M(r, "/a/cache/z"));
	assert_true(M(r, "/a/cached"));
	/* glob without '/': any component, so also a directory's subtree */
	assert_false(M(r, "/x/.f.swp"));
	assert_false(M(r, "/x/d.swp/inner"));
	/* glob with **: the matching directory and its subtree */
	assert_false(M(r, "/build/a/b/obj"));
	assert_false(M(r, "/build/a/obj/x.o"));
	assert_true(M(r, "/build/a/objx"));
	/* regexes, on the path and on each ancestor */
	assert_false(M(r, "/notes.txt~"));
	assert_false(M(r, "/src/.git/config"));
	assert_true(M(r, "/src/.gitignore"));
	assert_true(loafre__rule_excluded(r, "/backup~/f"));
	assert_false(loafre__rule_excluded(r, "/ok/f"));
	loafre__rule_free(r);
	loafre_config_free(c);
}

static void test_idmap(void **state)
{
	struct loafre_idmap m = {0};
	char why[256];

	(void)state;
	assert_int_equal(loafre__idmap_parse("1000:2000,root:5,*:65534", false, &m, why,
					     sizeof(why)), 0);
	assert_int_equal(loafre__idmap_map(&m, 1000), 2000);
	assert_int_equal(loafre__idmap_map(&m, 0), 5);
	assert_int_equal(loafre__idmap_map(&m, 42), 65534);
	loafre__idmap_clear(&m);
	assert_int_equal(loafre__idmap_parse("7:8", true, &m, why, sizeof(why)), 0);
	assert_int_equal(loafre__idmap_map(&m, 7), 8);
	assert_int_equal(loafre__idmap_map(&m, 9), 9); /* unmapped, no *: unchanged */
	loafre__idmap_clear(&m);
	assert_int_equal(loafre__idmap_map(NULL, 3), 3);
	assert_int_equal(loafre__idmap_parse("1:2,", false, &m, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "missing after ','"));
	assert_int_equal(loafre__idmap_parse("*:1,*:2", false, &m, why, sizeof(why)), -EINVAL);
	assert_int_equal(loafre__idmap_parse("x", false, &m, why, sizeof(why)), -EINVAL);
	assert_int_equal(loafre__idmap_parse("1:nosuchuserxyz", false, &m, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "unknown user 'nosuchuserxyz'"));
	assert_int_equal(loafre__idmap_parse("", false, &m, why, sizeof(why)), -EINVAL);
}

/* Expands text for action with vars; returns argv (caller frees). */
static char **expand(const char *text, unsigned action, const struct loafre__rule_vars *v)
{
	struct loafre__template *t = NULL;
	char why[256], **argv = NULL;

	if (loafre__template_parse(text, action, &t, why, sizeof(why)) < 0)
		print_error("%s: %s\n", text, why);
	assert_non_null(t);
	assert_int_equal(loafre__rule_expand(t, v, &argv), 0);
	loafre__template_free(t);
	return argv;
}

static void test_templates(void **state)
{
	struct loafre__rule_vars v = {{0}};
	char **a;
	char why[256];
	struct loafre__template *t = NULL;

	(void)state;
	v.v[LOAFRE__TV_SRC] = "/srv/fs/a dir/my file";
	v.v[LOAFRE__TV_DST] = "/backup/a dir/my file";
	v.v[LOAFRE__TV_OLD] = "/backup/old name";
	v.v[LOAFRE__TV_RULE] = "r1";
	v.v[LOAFRE__TV_MODE] = "644";
	/* values with blanks are never split; words split at load */
	a = expand("/usr/bin/scp -p %{src} backup:%{dst}", LOAFRE_ACT_COPY, &v);
	assert_string_equal(a[0], "/usr/bin/scp");
	assert_string_equal(a[1], "-p");
	assert_string_equal(a[2], "/srv/fs/a dir/my file");
	assert_string_equal(a[3], "backup:/backup/a dir/my file");
	assert_null(a[4]);
	loafre__argv_free(a);
	/* quoting: '...' and "..." and backslash; %% */
	a = expand("sh-free 'a b' \"c \\\"d\\\" \\\\\" e\\ f '' x%%y '%{rule}:%{mode}'",
		   LOAFRE_ACT_CHMOD, &v);
	assert_string_equal(a[0], "sh-free");
	assert_string_equal(a[1], "a b");
	assert_string_equal(a[2], "c \"d\" \\");
	assert_string_equal(a[3], "e f");
	assert_string_equal(a[4], "");
	assert_string_equal(a[5], "x%y");
	assert_string_equal(a[6], "r1:644");
	assert_null(a[7]);
	loafre__argv_free(a);
	/* an unset variable is empty, its word kept */
	a = expand("echo %{host} end", LOAFRE_ACT_COPY, &v);
	assert_string_equal(a[1], "");
	assert_string_equal(a[2], "end");
	loafre__argv_free(a);
	a = expand("mv %{old} %{dst}", LOAFRE_ACT_MOVE, &v);
	assert_string_equal(a[1], "/backup/old name");
	loafre__argv_free(a);
	/* errors */
	assert_int_equal(loafre__template_parse("cp %{nope}", LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "unknown variable %{nope}"));
	assert_int_equal(loafre__template_parse("ln -s %{target}", LOAFRE_ACT_COPY, &t, why,
						sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not available to copy"));
	assert_int_equal(loafre__template_parse("ln -s %{target} %{dst}", LOAFRE_ACT_SYMLINK, &t,
						why, sizeof(why)), 0);
	loafre__template_free(t);
	assert_int_equal(loafre__template_parse("a 'b", LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(loafre__template_parse("a \"b", LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(loafre__template_parse("a b\\", LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(loafre__template_parse("50%", LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(loafre__template_parse("%{src", LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(loafre__template_parse("   ", LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "empty command"));
}

static void test_template_limits(void **state)
{
	struct loafre__template *t = NULL;
	struct loafre__rule_vars v = {{0}};
	char why[256], **argv = NULL, *text, *big;
	size_t n = 0;

	(void)state;
	/* 256 words parse, 257 do not */
	text = malloc(257 * 2 + 1);
	assert_non_null(text);
	text[0] = '\0';
	for (int i = 0; i < 256; i++)
		strcat(text, "a ");
	assert_int_equal(loafre__template_parse(text, LOAFRE_ACT_COPY, &t, why, sizeof(why)), 0);
	assert_int_equal(loafre__template_words(t), 256);
	loafre__template_free(t);
	strcat(text, "a");
	assert_int_equal(loafre__template_parse(text, LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "too many words"));
	free(text);
	/* a word expanding past PATH_MAX * 2 fails with E2BIG */
	big = malloc(LOAFRE__TEMPLATE_MAX_WORD + 2);
	assert_non_null(big);
	memset(big, 'x', LOAFRE__TEMPLATE_MAX_WORD);
	big[LOAFRE__TEMPLATE_MAX_WORD] = '\0';
	v.v[LOAFRE__TV_SRC] = big;
	assert_int_equal(loafre__template_parse("cp %{src}", LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 0);
	assert_int_equal(loafre__rule_expand(t, &v, &argv), 0); /* exactly the limit */
	loafre__argv_free(argv);
	argv = NULL;
	loafre__template_free(t);
	assert_int_equal(loafre__template_parse("cp x%{src}", LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 0);
	assert_int_equal(loafre__rule_expand(t, &v, &argv), -E2BIG);
	assert_null(argv);
	loafre__template_free(t);
	free(big);
	/* text longer than the template limit */
	big = malloc(LOAFRE__TEMPLATE_MAX_TEXT + 2);
	assert_non_null(big);
	memset(big, 'y', LOAFRE__TEMPLATE_MAX_TEXT + 1);
	big[LOAFRE__TEMPLATE_MAX_TEXT + 1] = '\0';
	assert_int_equal(loafre__template_parse(big, LOAFRE_ACT_COPY, &t, why, sizeof(why)),
			 -EINVAL);
	free(big);
	/* split_words: no variables, % is ordinary */
	assert_int_equal(loafre__split_words("/a 'b c' 50%", &argv, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(argv[1], "b c");
	assert_string_equal(argv[2], "50%");
	loafre__argv_free(argv);
}

static void test_durations(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(loafre__parse_duration("30s", &v), 0);
	assert_int_equal(v, 30);
	assert_int_equal(loafre__parse_duration("10m", &v), 0);
	assert_int_equal(v, 600);
	assert_int_equal(loafre__parse_duration("2h", &v), 0);
	assert_int_equal(v, 7200);
	assert_int_equal(loafre__parse_duration("7d", &v), 0);
	assert_int_equal(v, 604800);
	assert_int_equal(loafre__parse_duration("1h30m", &v), 0);
	assert_int_equal(v, 5400);
	assert_int_equal(loafre__parse_duration("90", &v), 0);
	assert_int_equal(v, 90);
	assert_int_equal(loafre__parse_duration("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(loafre__parse_duration("", &v), -EINVAL);
	assert_int_equal(loafre__parse_duration("5y", &v), -EINVAL);
	assert_int_equal(loafre__parse_duration("m", &v), -EINVAL);
	assert_int_equal(loafre__parse_duration("99999999999d", &v), -EINVAL);
}

static void test_compile_schedule_templates(void **state)
{
	struct loafre__rule *r = NULL;
	struct loafre_config *c;
	const struct loafre__template *t;
	struct loafre__rule_vars v = {{0}};
	char **argv = NULL;

	(void)state;
	c = load("[rule r]\nfilesystem = fs\ndestination = /d\nschedule = 0 22 * * *\n"
		 "delete = /usr/bin/trash %{dst}\n", &r);
	assert_non_null(loafre__rule_schedule(r));
	assert_true(loafre__rule_schedule(r)->hours == (1u << 22));
	assert_null(loafre__rule_template(r, LOAFRE_ACT_COPY));
	t = loafre__rule_template(r, LOAFRE_ACT_DELETE);
	assert_non_null(t);
	v.v[LOAFRE__TV_DST] = "/d/x y";
	assert_int_equal(loafre__rule_expand(t, &v, &argv), 0);
	assert_string_equal(argv[1], "/d/x y");
	loafre__argv_free(argv);
	assert_ptr_equal(loafre__rule_config(r), &c->rules[0]);
	loafre__rule_free(r);
	loafre_config_free(c);
	loafre__rule_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_match_kinds),
		cmocka_unit_test(test_events_attrs),
		cmocka_unit_test(test_excludes),
		cmocka_unit_test(test_idmap),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_template_limits),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_compile_schedule_templates),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
