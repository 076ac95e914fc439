/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* test_stats_file.c — lib/stats_file.c: loafred's RUN_DIR/stats read back
 * (keys, values with blanks, trailing blanks, odd lines, repeated keys,
 * loafred.pid, a real file, a missing one, the size limit). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stats_file.h"

static void test_parse(void **state)
{
	static const char text[] =
		"loafred.pid 4242\n"
		"mdt.demo-MDT0000.index 17\n"
		"rule.r1.dest.0.error cannot open 'x y': Not a directory \r\n"
		"no-blank-here\n"
		" leading.blank 1\n"
		"\n"
		"rule.r1.state syncing\n"
		"rule.r1.state running\n"
		"empty.value \n"
		"last.line no newline";
	struct loafre__stats s;

	(void)state;
	assert_int_equal(loafre__stats_parse(text, strlen(text), &s), 0);
	assert_int_equal(s.pid, 4242);
	assert_string_equal(loafre__stats_get(&s, "mdt.demo-MDT0000.index"), "17");
	assert_string_equal(loafre__stats_get(&s, "rule.r1.dest.0.error"),
			    "cannot open 'x y': Not a directory");
	assert_string_equal(loafre__stats_get(&s, "rule.r1.state"), "running");
	assert_string_equal(loafre__stats_get(&s, "empty.value"), "");
	assert_string_equal(loafre__stats_get(&s, "last.line"), "no newline");
	assert_null(loafre__stats_get(&s, "no-blank-here"));
	assert_null(loafre__stats_get(&s, "leading.blank"));
	assert_null(loafre__stats_get(&s, ""));
	assert_null(loafre__stats_get(&s, "rule.r1"));
	assert_int_equal(s.n, 6);
	for (size_t i = 1; i < s.n; i++)
		assert_true(strcmp(s.kv[i - 1].key, s.kv[i].key) < 0);
	loafre__stats_free(&s);
	loafre__stats_free(&s); /* a freed (zeroed) struct again */
}

static void test_pid_and_nul(void **state)
{
	static const char text[] = "loafred.pid 12x\nk v\0hidden\nk2 w\n";
	struct loafre__stats s;

	(void)state;
	assert_int_equal(loafre__stats_parse(text, sizeof(text) - 1, &s), 0);
	assert_int_equal(s.pid, 0); /* not a number */
	assert_string_equal(loafre__stats_get(&s, "k"), "v");
	assert_string_equal(loafre__stats_get(&s, "k2"), "w");
	loafre__stats_free(&s);
	assert_int_equal(loafre__stats_parse("", 0, &s), 0);
	assert_int_equal(s.n, 0);
	assert_null(loafre__stats_get(&s, "k"));
	loafre__stats_free(&s);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/loafre-test-stats.XXXXXX", path[64];
	struct loafre__stats s;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/stats", dir);
	assert_int_equal(loafre__stats_load(path, &s), -ENOENT);
	loafre__stats_free(&s);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "loafred.pid %ld\nrule.r1.state running\n", (long)getpid());
	fclose(f);
	assert_int_equal(loafre__stats_load(path, &s), 0);
	assert_int_equal(s.pid, (long)getpid());
	assert_string_equal(loafre__stats_get(&s, "rule.r1.state"), "running");
	loafre__stats_free(&s);
	unlink(path);
	rmdir(dir);
	{
		char *big = calloc(1, (size_t)LOAFRE__STATS_MAX + 1);
		assert_non_null(big);
		assert_int_equal(loafre__stats_parse(big, (size_t)LOAFRE__STATS_MAX + 1, &s), -EFBIG);
		free(big);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_pid_and_nul),
		cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
