/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * test_curve_keys.c — lib/curve_keys.c: loafre_curve_keygen, key files
 * (round trip, malformed files, permissions) and allowed-keys files
 * (parsing, labels, lookup, errors naming the line, limits). Real files in
 * a temporary directory; real libzmq key functions.
 */
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
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "curve_keys.h"
#include "loafre/curve.h"

static char tmpdir[] = "/tmp/loafre-test-curve.XXXXXX";

static int setup(void **state)
{
	(void)state;
	umask(022);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *tpath(const char *name)
{
	static char path[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", tmpdir, name);
	return path[k];
}

static const char *write_file(const char *name, mode_t mode, const char *text, size_t len)
{
	const char *path = tpath(name);
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char *write_str(const char *name, mode_t mode, const char *text)
{
	return write_file(name, mode, text, strlen(text));
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_keygen_round_trip(void **state)
{
	char pub[LOAFRE_CURVE_KEY_BUF], sec[LOAFRE_CURVE_KEY_BUF], pub2[LOAFRE_CURVE_KEY_BUF];
	char derived[LOAFRE_CURVE_KEY_BUF], err[512];
	uint8_t bin[LOAFRE__CURVE_KEY_BYTES];

	(void)state;
	assert_int_equal(loafre_curve_keygen(tpath("alice"), err, sizeof(err)), 0);
	assert_int_equal(mode_of(tpath("alice.key")), 0600);
	assert_int_equal(mode_of(tpath("alice.pub")), 0644);

	assert_int_equal(loafre_curve_keyfile_load(tpath("alice.key"), pub, sec, err, sizeof(err)),
			 0);
	assert_int_equal(strlen(pub), LOAFRE_CURVE_KEY_LEN);
	assert_int_equal(strlen(sec), LOAFRE_CURVE_KEY_LEN);
	assert_int_equal(loafre__curve_z85_key(pub, bin), 0);
	assert_int_equal(zmq_curve_public(derived, sec), 0);
	assert_string_equal(derived, pub);
	/* The .pub file has the same public key and no secret. */
	assert_int_equal(loafre_curve_keyfile_load(tpath("alice.pub"), pub2, NULL, err, sizeof(err)),
			 0);
	assert_string_equal(pub2, pub);
	/* The public key alone may be read from the .key file too. */
	memset(pub2, 0, sizeof(pub2));
	assert_int_equal(loafre_curve_keyfile_load(tpath("alice.key"), pub2, NULL, err, sizeof(err)),
			 0);
	assert_string_equal(pub2, pub);
	/* .pub has no secret: asking for it is -ENOKEY, outputs untouched. */
	memset(sec, 'x', sizeof(sec));
	assert_int_equal(loafre_curve_keyfile_load(tpath("alice.pub"), pub2, sec, err, sizeof(err)),
			 -ENOKEY);
	assert_non_null(strstr(err, "alice.pub"));
	assert_non_null(strstr(err, "no secret-key"));
	assert_int_equal(sec[0], 'x');

	/* Another pair is different. */
	assert_int_equal(loafre_curve_keygen(tpath("bob"), err, sizeof(err)), 0);
	assert_int_equal(loafre_curve_keyfile_load(tpath("bob.pub"), pub2, NULL, err, sizeof(err)),
			 0);
	assert_string_not_equal(pub2, pub);
}

static void test_keygen_no_overwrite(void **state)
{
	char pub[LOAFRE_CURVE_KEY_BUF], pub2[LOAFRE_CURVE_KEY_BUF], err[512];
	struct stat st;

	(void)state;
	assert_int_equal(loafre_curve_keygen(tpath("carol"), err, sizeof(err)), 0);
	assert_int_equal(loafre_curve_keyfile_load(tpath("carol.pub"), pub, NULL, err, sizeof(err)),
			 0);
	assert_int_equal(loafre_curve_keygen(tpath("carol"), err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "already exists"));
	assert_int_equal(loafre_curve_keyfile_load(tpath("carol.pub"), pub2, NULL, err, sizeof(err)),
			 0);
	assert_string_equal(pub, pub2);

	/* Only NAME.pub exists: nothing is written, no NAME.key left behind. */
	write_str("dave.pub", 0644, "# not ours\n");
	assert_int_equal(loafre_curve_keygen(tpath("dave"), err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "dave.pub"));
	assert_int_equal(stat(tpath("dave.key"), &st), -1);
	/* Only NAME.key exists: refused too, NAME.pub not created. */
	write_str("erin.key", 0600, "# not ours\n");
	assert_int_equal(loafre_curve_keygen(tpath("erin"), err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "erin.key"));
	assert_int_equal(stat(tpath("erin.pub"), &st), -1);
	/* A directory that does not exist. */
	assert_int_equal(loafre_curve_keygen(tpath("nodir/x"), err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot create"));
}

static void test_keyfile_permissions(void **state)
{
	char pub[LOAFRE_CURVE_KEY_BUF], sec[LOAFRE_CURVE_KEY_BUF], err[512];
	const char *key;

	(void)state;
	assert_int_equal(loafre_curve_keygen(tpath("perm"), err, sizeof(err)), 0);
	key = tpath("perm.key");
	assert_int_equal(chmod(key, 0640), 0);
	memset(pub, 'x', sizeof(pub));
	assert_int_equal(loafre_curve_keyfile_load(key, pub, sec, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "perm.key"));
	assert_non_null(strstr(err, "0640"));
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(pub[0], 'x');
	/* Refused even when only the public key is asked for. */
	assert_int_equal(loafre_curve_keyfile_load(key, pub, NULL, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(key, 0604), 0);
	assert_int_equal(loafre_curve_keyfile_load(key, pub, sec, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(key, 0400), 0);
	assert_int_equal(loafre_curve_keyfile_load(key, pub, sec, err, sizeof(err)), 0);
	/* A world-readable .pub is fine. */
	assert_int_equal(chmod(tpath("perm.pub"), 0666), 0);
	assert_int_equal(loafre_curve_keyfile_load(tpath("perm.pub"), pub, NULL, err, sizeof(err)),
			 0);
}

struct bad_keyfile {
	const char *text;
	unsigned line;      /* expected "PATH:LINE: " prefix; 0: "PATH: " */
	const char *needle;
	int err;
};

static void test_keyfile_bad(void **state)
{
	char pub[LOAFRE_CURVE_KEY_BUF], sec[LOAFRE_CURVE_KEY_BUF], other[LOAFRE_CURVE_KEY_BUF];
	char err[512], text[1024], expect[PATH_MAX + 32];
	const char *path;

	(void)state;
	assert_int_equal(zmq_curve_keypair(pub, sec), 0);
	assert_int_equal(zmq_curve_keypair(other, text), 0);
	struct bad_keyfile cases[] = {
		{ "", 0, "no public-key line", -EINVAL },
		{ "# only a comment\n\n", 0, "no public-key line", -EINVAL },
		{ "public-key = short\n", 1, "public-key must be 40 Z85", -EINVAL },
		{ "#\npublic-key = 0123456789012345678901234567890123456789X\n", 2,
		  "must be 40 Z85", -EINVAL },
		{ "public-key = 012345678901234567890123456789012345678\"\n", 1, "must be 40 Z85",
		  -EINVAL },
		{ "public-key 0123456789012345678901234567890123456789\n", 1, "expected 'public-key = KEY'",
		  -EINVAL },
		{ "publickey = 0123456789012345678901234567890123456789\n", 1, "unknown field 'publickey'",
		  -EINVAL },
		{ "PUBLIC = 0123456789012345678901234567890123456789\n", 1, "expected", -EINVAL },
		{ NULL, 3, "duplicate public-key (first on line 1)", -EINVAL },   /* [8] */
		{ NULL, 2, "does not belong to public-key", -EINVAL },            /* [9] */
		{ NULL, 2, "control byte 0x07", -EINVAL },                         /* [10] */
		{ NULL, 1, "line too long", -EINVAL },                             /* [11] */
	};
	char dup[256], mismatch[256], ctrl[256], longl[1200];

	snprintf(dup, sizeof(dup), "public-key = %s\n\npublic-key = %s\n", pub, pub);
	snprintf(mismatch, sizeof(mismatch), "public-key = %s\nsecret-key = %s\n", other, sec);
	snprintf(ctrl, sizeof(ctrl), "public-key = %s\n#\a\n", pub);
	memset(longl, '#', sizeof(longl) - 1);
	longl[sizeof(longl) - 1] = '\0';
	cases[8].text = dup;
	cases[9].text = mismatch;
	cases[10].text = ctrl;
	cases[11].text = longl;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char p2[LOAFRE_CURVE_KEY_BUF] = "untouched";
		int r;

		path = write_str("bad.key", 0600, cases[i].text);
		r = loafre_curve_keyfile_load(path, p2, sec, err, sizeof(err));
		if (r != cases[i].err || !strstr(err, cases[i].needle))
			fail_msg("case %zu: r=%d err='%s' (want %d '%s')", i, r, err, cases[i].err,
				 cases[i].needle);
		if (cases[i].line)
			snprintf(expect, sizeof(expect), "%s:%u: ", path, cases[i].line);
		else
			snprintf(expect, sizeof(expect), "%s: ", path);
		if (strncmp(err, expect, strlen(expect)) != 0)
			fail_msg("case %zu: '%s' does not start with '%s'", i, err, expect);
		assert_null(strchr(err, '\n'));
		assert_string_equal(p2, "untouched");
	}
	/* A NUL byte. */
	snprintf(text, sizeof(text), "public-key = %s\n# x", pub);
	{
		size_t l = strlen(text);
		text[l - 1] = '\0';
		path = write_file("nul.key", 0600, text, l);
	}
	assert_int_equal(loafre_curve_keyfile_load(path, pub, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: NUL byte"));
	/* CRLF line ends and blanks are fine. */
	snprintf(text, sizeof(text), "\t# made by hand\r\n  public-key\t=\t%s  \r\n", pub);
	path = write_str("crlf.pub", 0644, text);
	assert_int_equal(loafre_curve_keyfile_load(path, other, NULL, err, sizeof(err)), 0);
	assert_string_equal(other, pub);
	/* Not a regular file; missing; too large. */
	assert_int_equal(loafre_curve_keyfile_load(tmpdir, pub, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(loafre_curve_keyfile_load(tpath("none.key"), pub, NULL, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "none.key"));
	{
		size_t big = LOAFRE__CURVE_KEYFILE_MAX + 1;
		char *b = malloc(big);
		assert_non_null(b);
		memset(b, '\n', big);
		path = write_file("big.pub", 0644, b, big);
		free(b);
	}
	assert_int_equal(loafre_curve_keyfile_load(path, pub, NULL, err, sizeof(err)), -EFBIG);
}

static void test_z85(void **state)
{
	uint8_t bin[LOAFRE__CURVE_KEY_BYTES], bin2[LOAFRE__CURVE_KEY_BYTES];
	char pub[LOAFRE_CURVE_KEY_BUF], sec[LOAFRE_CURVE_KEY_BUF], txt[LOAFRE_CURVE_KEY_BUF];

	(void)state;
	assert_int_equal(zmq_curve_keypair(pub, sec), 0);
	assert_int_equal(loafre__curve_z85_key(pub, bin), 0);
	assert_non_null(zmq_z85_decode(bin2, pub));
	assert_memory_equal(bin, bin2, sizeof(bin));
	/* Every 5-character group must stay below 2^32: "#####" is 85^5-1. */
	memcpy(txt, pub, sizeof(txt));
	memcpy(txt, "#####", 5);
	assert_int_equal(loafre__curve_z85_key(txt, bin), -EINVAL);
	memcpy(txt, pub, sizeof(txt));
	txt[7] = '"';
	assert_int_equal(loafre__curve_z85_key(txt, bin), -EINVAL);
	txt[7] = ' ';
	assert_int_equal(loafre__curve_z85_key(txt, bin), -EINVAL);
	assert_int_equal(loafre__curve_z85_key("short", bin), -EINVAL);
}

/* Writes n keys; returns them in keys[] (Z85). */
static void make_keys(char (*keys)[LOAFRE_CURVE_KEY_BUF], size_t n)
{
	char sec[LOAFRE_CURVE_KEY_BUF];

	for (size_t i = 0; i < n; i++)
		assert_int_equal(zmq_curve_keypair(keys[i], sec), 0);
}

static void test_allowed(void **state)
{
	char keys[4][LOAFRE_CURVE_KEY_BUF], text[2048], err[512];
	uint8_t bin[LOAFRE__CURVE_KEY_BYTES];
	struct loafre__curve_allowed *a = NULL;
	const char *path, *label;

	(void)state;
	make_keys(keys, 4);
	snprintf(text, sizeof(text),
		 "# clients allowed\n"
		 "\n"
		 "%s\n"
		 "  %s   indexer-3  \r\n"
		 "%s\t# alice\n"
		 "   # %s commented out\n",
		 keys[0], keys[1], keys[2], keys[3]);
	path = write_str("ok.allowed", 0644, text);
	assert_int_equal(loafre__curve_allowed_load(path, &a, err, sizeof(err)), 0);
	assert_int_equal(loafre__curve_allowed_count(a), 3);
	assert_int_equal(loafre__curve_z85_key(keys[0], bin), 0);
	label = loafre__curve_allowed_find(a, bin);
	assert_non_null(label);
	assert_string_equal(label, "");
	assert_int_equal(loafre__curve_z85_key(keys[1], bin), 0);
	assert_string_equal(loafre__curve_allowed_find(a, bin), "indexer-3");
	assert_int_equal(loafre__curve_z85_key(keys[2], bin), 0);
	assert_string_equal(loafre__curve_allowed_find(a, bin), "alice");
	assert_int_equal(loafre__curve_z85_key(keys[3], bin), 0);
	assert_null(loafre__curve_allowed_find(a, bin));
	loafre__curve_allowed_free(a);
	a = NULL;

	/* Empty file: a valid list that allows nobody. */
	path = write_str("empty.allowed", 0644, "# nobody yet\n");
	assert_int_equal(loafre__curve_allowed_load(path, &a, err, sizeof(err)), 0);
	assert_int_equal(loafre__curve_allowed_count(a), 0);
	assert_null(loafre__curve_allowed_find(a, bin));
	loafre__curve_allowed_free(a);
	loafre__curve_allowed_free(NULL);

	/* Writable by group or others: refused like ssh's authorized_keys. */
	path = write_str("open.allowed", 0664, text);
	a = (struct loafre__curve_allowed *)0x1;
	assert_int_equal(loafre__curve_allowed_load(path, &a, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "0664"));
	assert_ptr_equal(a, (struct loafre__curve_allowed *)0x1);
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(loafre__curve_allowed_load(path, &a, err, sizeof(err)), -EPERM);
	assert_int_equal(loafre__curve_allowed_load(tpath("none.allowed"), &a, err, sizeof(err)),
			 -ENOENT);
}

static void test_allowed_errors(void **state)
{
	char keys[2][LOAFRE_CURVE_KEY_BUF], text[2048], err[512], expect[PATH_MAX + 32];
	struct {
		const char *fmt; /* %1$s, %2$s: two keys */
		unsigned line;
		const char *needle;
	} cases[] = {
		{ "%1$s\n\nnot-a-key\n", 3, "not a public key" },
		{ "# x\n%1$sX\n", 2, "not a public key" },
		{ "%1$s\npublic-key = %2$s\n", 2, "write the key alone" },
		{ "%1$s\n%2$s\n#\n%1$s again\n", 4, "key already listed on line 1" },
		{ "%1$s\n%2$s\n\x01\n", 3, "control byte 0x01" },
		{ "%1$s\n\"%2$.39s\n", 2, "not a public key" },
	};

	(void)state;
	make_keys(keys, 2);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct loafre__curve_allowed *a = (struct loafre__curve_allowed *)0x1;
		const char *path;
		int r;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(text, sizeof(text), cases[i].fmt, keys[0], keys[1]);
#pragma GCC diagnostic pop
		path = write_str("bad.allowed", 0644, text);
		r = loafre__curve_allowed_load(path, &a, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, cases[i].needle))
			fail_msg("case %zu: r=%d err='%s' (want '%s')", i, r, err, cases[i].needle);
		snprintf(expect, sizeof(expect), "%s:%u: ", path, cases[i].line);
		if (strncmp(err, expect, strlen(expect)) != 0)
			fail_msg("case %zu: '%s' does not start with '%s'", i, err, expect);
		assert_ptr_equal(a, (struct loafre__curve_allowed *)0x1);
	}
}

static void test_allowed_limit(void **state)
{
	size_t n = LOAFRE__CURVE_ALLOWED_MAX + 1, len = 0;
	char *text = malloc(n * (LOAFRE_CURVE_KEY_LEN + 1) + 1);
	char pub[LOAFRE_CURVE_KEY_BUF], sec[LOAFRE_CURVE_KEY_BUF], err[512];
	uint8_t bin[LOAFRE__CURVE_KEY_BYTES];
	struct loafre__curve_allowed *a = NULL;

	(void)state;
	assert_non_null(text);
	/* Distinct keys without 100001 key pairs: vary the binary key. */
	memset(bin, 0, sizeof(bin));
	for (size_t i = 0; i < n; i++) {
		bin[0] = (uint8_t)i;
		bin[1] = (uint8_t)(i >> 8);
		bin[2] = (uint8_t)(i >> 16);
		assert_non_null(zmq_z85_encode(text + len, bin, sizeof(bin)));
		len += LOAFRE_CURVE_KEY_LEN;
		text[len++] = '\n';
	}
	/* Exactly the limit is fine; found by bsearch. */
	assert_int_equal(loafre__curve_allowed_parse("limit", text, len - LOAFRE_CURVE_KEY_LEN - 1,
						     &a, err, sizeof(err)),
			 0);
	assert_int_equal(loafre__curve_allowed_count(a), LOAFRE__CURVE_ALLOWED_MAX);
	bin[0] = 0x34;
	bin[1] = 0x12;
	bin[2] = 0x01;
	assert_non_null(loafre__curve_allowed_find(a, bin));
	bin[2] = 0x7f;
	assert_null(loafre__curve_allowed_find(a, bin));
	loafre__curve_allowed_free(a);
	a = NULL;
	/* One more is refused, naming the line. */
	assert_int_equal(loafre__curve_allowed_parse("limit", text, len, &a, err, sizeof(err)),
			 -E2BIG);
	assert_non_null(strstr(err, "limit:100001: more than 100000 keys"));
	assert_null(a);
	free(text);
	/* A real key pair still works after that. */
	assert_int_equal(zmq_curve_keypair(pub, sec), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keygen_round_trip),
		cmocka_unit_test(test_keygen_no_overwrite),
		cmocka_unit_test(test_keyfile_permissions),
		cmocka_unit_test(test_keyfile_bad),
		cmocka_unit_test(test_z85),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_allowed_errors),
		cmocka_unit_test(test_allowed_limit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
