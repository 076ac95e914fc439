/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * cmd_keygen.c — `loafre keygen NAME`: a CurveZMQ key pair for the broker's
 * tcp:// endpoints (NAME.key and NAME.pub; format at the head of
 * lib/curve_keys.c, setup in docs/design/broker.md "Security").
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "loafre/curve.h"

static int ends_with(const char *s, const char *suffix)
{
	size_t l = strlen(s), n = strlen(suffix);

	return l >= n && strcmp(s + l - n, suffix) == 0;
}

int cmd_keygen(struct cli *c)
{
	const char *name = c->args[0];
	char err[512], pub[LOAFRE_CURVE_KEY_BUF], path[4096];
	int r;

	if (!*name || ends_with(name, "/") || ends_with(name, ".key") || ends_with(name, ".pub")) {
		fprintf(stderr,
			"loafre keygen: give NAME without .key or .pub ('%s'): NAME.key and "
			"NAME.pub are written\n",
			name);
		return CLI_USAGE;
	}
	r = loafre_curve_keygen(name, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "loafre keygen: %s\n", err[0] ? err : strerror(-r));
		return CLI_FAIL;
	}
	/* Read back what was written: the public key, for the allowed list. */
	snprintf(path, sizeof(path), "%s.pub", name);
	r = loafre_curve_keyfile_load(path, pub, NULL, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "loafre keygen: %s\n", err);
		return CLI_FAIL;
	}
	printf("%s.key: the key pair (secret: keep it mode 0600, give it to nobody)\n"
	       "%s.pub: the public key\n"
	       "public key: %s\n",
	       name, name, pub);
	return CLI_OK;
}
