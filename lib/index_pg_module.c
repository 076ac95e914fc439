/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_pg_module.c — the entry point of the PostgreSQL backend module
 * (loafre-index-pg.so: lib/index_pg.c and what it needs, linked to libpq).
 * lib/index_pg_load.c loads the module with dlopen(3) the first time a
 * store is opened with backend = postgresql, so that programs do not link
 * libpq and the ~30 libraries it pulls (Kerberos, LDAP, GnuTLS) and start
 * faster.
 *
 * The one exported symbol, LOAFRE__IDX_PG_MODULE_ENTRY, has the type
 * loafre__idx_pg_module_fn: it checks that the caller was built with the
 * same vtable layout (its size; another size: -EPROTO and a reason in err)
 * and then answers as loafre__idx_pg_ops does.
 */
#include <errno.h>
#include <stdio.h>

#include "index_pg.h"

__attribute__((visibility("default"))) int
loafre__idx_pg_module_v1(size_t ops_size, const struct loafre__idx_ops **ret, char *err,
			 size_t errlen);

int loafre__idx_pg_module_v1(size_t ops_size, const struct loafre__idx_ops **ret, char *err,
			     size_t errlen)
{
	if (ops_size != sizeof(struct loafre__idx_ops)) {
		if (errlen)
			snprintf(err, errlen,
				 "the PostgreSQL module was built for another version of loafre");
		return -EPROTO;
	}
	return loafre__idx_pg_ops(ret, err, errlen);
}
