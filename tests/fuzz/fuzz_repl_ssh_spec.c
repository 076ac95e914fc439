/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * fuzz_repl_ssh_spec.c — libFuzzer target for the ssh destination spec
 * parser (loafre__ssh_spec_parse, lib/repl_ssh_spec.c: `[user@]host:/abs/path`).
 *
 * Input: a spec (at most 8192 bytes; a NUL byte ends it). Checked for a
 * spec the parser accepts:
 *   - user and host hold only [A-Za-z0-9._-] and do not start with '-'
 *     (never an ssh/rsync option), host not empty;
 *   - the path is absolute, has no ".." component, no control character,
 *     no trailing '/' (except "/" itself);
 *   - formatting the result back as [user@]host:path parses to the same.
 */
#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_dest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s, bool may_be_empty)
{
	assert(may_be_empty || s[0]);
	assert(s[0] != '-');
	for (const char *p = s; *p; p++)
		assert((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct loafre__ssh_spec s, t;
	static char in[8193], again[sizeof(s.user) + sizeof(s.host) + sizeof(s.path) + 4];
	size_t n = size < sizeof(in) - 1 ? size : sizeof(in) - 1, len;

	memcpy(in, data, n);
	in[n] = '\0';
	if (loafre__ssh_spec_parse(in, &s) < 0)
		return 0;
	check_name(s.user, true);
	check_name(s.host, false);
	len = strlen(s.path);
	assert(s.path[0] == '/');
	assert(len == 1 || s.path[len - 1] != '/');
	assert(!strstr(s.path, "/../") && strcmp(s.path + (len >= 3 ? len - 3 : 0), "/..") != 0);
	for (const char *p = s.path; *p; p++)
		assert((unsigned char)*p >= 0x20 && *p != 0x7f);
	snprintf(again, sizeof(again), "%s%s%s:%s", s.user, s.user[0] ? "@" : "", s.host, s.path);
	assert(loafre__ssh_spec_parse(again, &t) == 0);
	assert(memcmp(&s, &t, sizeof(s)) == 0);
	return 0;
}
