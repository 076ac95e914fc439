/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_pg_none.c — the PostgreSQL index backend of a build without libpq
 * (meson feature `postgresql` disabled or libpq not found): opening a
 * PostgreSQL store fails with -EOPNOTSUPP and says how to get one.
 */
#include <errno.h>
#include <stdio.h>

#include "index_pg.h"

int loafre__idx_pg_ops(const struct loafre__idx_ops **ret, char *err, size_t errlen)
{
	(void)ret;
	if (errlen)
		snprintf(err, errlen, "built without PostgreSQL support (meson -Dpostgresql=enabled)");
	return -EOPNOTSUPP;
}
