/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_curve_keys.c — libFuzzer target for the CurveZMQ key file and
 * allowed-keys file parsers (lib/curve_keys.h; formats at the head of
 * lib/curve_keys.c).
 *
 * The whole input is parsed as both. A key file that parses has a valid
 * 40-character Z85 public key and, if it has a secret key, one that
 * derives it; an allowed-keys file that parses holds at most the limit of
 * keys, and every line of the input that starts with a valid key (after
 * blanks; a line starting with `#` is a comment) is found in it. A refusal always comes with a one-line message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "curve_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const char *err)
{
	if (!err[0] || strchr(err, '\n'))
		abort();
}

static void check_keyfile(const char *buf, size_t size)
{
	char pub[LOAFRE_CURVE_KEY_BUF], sec[LOAFRE_CURVE_KEY_BUF], derived[LOAFRE_CURVE_KEY_BUF];
	uint8_t bin[LOAFRE__CURVE_KEY_BYTES];
	char err[256] = "";

	if (loafre__curve_keyfile_parse("input", buf, size, pub, sec, err, sizeof(err)) < 0) {
		check_msg(err);
		return;
	}
	if (strlen(pub) != LOAFRE_CURVE_KEY_LEN || loafre__curve_z85_key(pub, bin) < 0)
		abort();
	if (sec[0] && (zmq_curve_public(derived, sec) < 0 || strcmp(derived, pub) != 0))
		abort();
}

static void check_allowed(const char *buf, size_t size)
{
	struct loafre__curve_allowed *a = NULL;
	char err[256] = "";
	size_t off = 0;

	if (loafre__curve_allowed_parse("input", buf, size, &a, err, sizeof(err)) < 0) {
		check_msg(err);
		if (a)
			abort();
		return;
	}
	if (loafre__curve_allowed_count(a) > LOAFRE__CURVE_ALLOWED_MAX)
		abort();
	while (off < size) {
		const char *nl = memchr(buf + off, '\n', size - off);
		size_t end = nl ? (size_t)(nl - buf) : size, s = off;
		uint8_t bin[LOAFRE__CURVE_KEY_BYTES];

		while (s < end && (buf[s] == ' ' || buf[s] == '\t'))
			s++;
		if (end - s >= LOAFRE_CURVE_KEY_LEN && buf[s] != '#' &&
		    (end - s == LOAFRE_CURVE_KEY_LEN || buf[s + LOAFRE_CURVE_KEY_LEN] == ' ' ||
		     buf[s + LOAFRE_CURVE_KEY_LEN] == '\t' || buf[s + LOAFRE_CURVE_KEY_LEN] == '\r') &&
		    loafre__curve_z85_key(buf + s, bin) == 0 && !loafre__curve_allowed_find(a, bin))
			abort();
		off = end + 1;
	}
	loafre__curve_allowed_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	check_keyfile((const char *)data, size);
	check_allowed((const char *)data, size);
	return 0;
}
