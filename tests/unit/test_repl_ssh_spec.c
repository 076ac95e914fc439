/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_repl_ssh_spec.c — the ssh destination spec `[user@]host:/abs/path`
 * (lib/repl_ssh_spec.c): accepted forms and what they give, refused forms
 * (options in disguise, relative paths, "..", control characters).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "repl_dest.h"

static void test_accepted(void **state)
{
	struct loafre__ssh_spec s;

	(void)state;
	assert_int_equal(loafre__ssh_spec_parse("backup:/srv/replica", &s), 0);
	assert_string_equal(s.user, "");
	assert_string_equal(s.host, "backup");
	assert_string_equal(s.path, "/srv/replica");
	assert_int_equal(loafre__ssh_spec_parse("al.ice_1@h-2.example.org:/a b/c'd//", &s), 0);
	assert_string_equal(s.user, "al.ice_1");
	assert_string_equal(s.host, "h-2.example.org");
	assert_string_equal(s.path, "/a b/c'd");
	assert_int_equal(loafre__ssh_spec_parse("127.0.0.1:/", &s), 0);
	assert_string_equal(s.path, "/");
	assert_int_equal(loafre__ssh_spec_parse("h:/a/..b/c..", &s), 0);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"", "host", ":/x", "@h:/x", "u@:/x", "h:", "h:x", "h:./x",
		"-oProxyCommand=touch /tmp/p:/x", "u@-oProxyCommand=x:/x", "-u@h:/x",
		"h:/a/../b", "h:/..", "h:/a/..", "h:/a\n", "h:/a\tb", "u@v@h:/x",
		"h o:/x", "h;rm:/x", "h$(x):/x", "[::1]:/x",
	};
	struct loafre__ssh_spec s = { .host = "untouched" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (loafre__ssh_spec_parse(bad[i], &s) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_string_equal(s.host, "untouched");
	assert_int_equal(loafre__ssh_spec_parse(NULL, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
