/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_ssh_spec.c — the spec of an ssh destination (lib/repl_ssh.c):
 *   SPEC  = [USER "@"] HOST ":" PATH
 *   USER  = 1*64 of [A-Za-z0-9._-], not starting with '-'
 *   HOST  = 1*255 of [A-Za-z0-9._-], not starting with '-' (so neither
 *           can ever be taken for an ssh or rsync option)
 *   PATH  = "/" ..., less than PATH_MAX bytes, no control characters, no
 *           ".." component; trailing '/'s dropped.
 * Its own file (no dependencies) so the fuzzer
 * (tests/fuzz/fuzz_repl_ssh_spec.c) can check it alone.
 */
#include "repl_dest.h"

#include <errno.h>
#include <string.h>

static bool name_ok(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int loafre__ssh_spec_parse(const char *spec, struct loafre__ssh_spec *ret)
{
	struct loafre__ssh_spec s = { 0 };
	const char *colon, *at, *host, *p;
	size_t n;

	if (!spec)
		return -EINVAL;
	colon = strchr(spec, ':');
	if (!colon)
		return -EINVAL;
	at = memchr(spec, '@', (size_t)(colon - spec));
	host = at ? at + 1 : spec;
	if (at) {
		if (!name_ok(spec, (size_t)(at - spec), sizeof(s.user) - 1))
			return -EINVAL;
		memcpy(s.user, spec, (size_t)(at - spec));
	}
	if (!name_ok(host, (size_t)(colon - host), sizeof(s.host) - 1))
		return -EINVAL;
	memcpy(s.host, host, (size_t)(colon - host));
	p = colon + 1;
	n = strlen(p);
	if (n == 0 || p[0] != '/' || n >= sizeof(s.path))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return -EINVAL;
	for (const char *c = p; *c;) {
		const char *slash = strchr(c, '/');
		size_t m = slash ? (size_t)(slash - c) : strlen(c);

		if (m == 2 && c[0] == '.' && c[1] == '.')
			return -EINVAL;
		c += m;
		if (*c == '/')
			c++;
	}
	memcpy(s.path, p, n);
	while (n > 1 && s.path[n - 1] == '/')
		s.path[--n] = '\0';
	*ret = s;
	return 0;
}

