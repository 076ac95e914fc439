/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * index_pg.h — the PostgreSQL backend of the metadata index (internal;
 * lib/index_pg.c with libpq, or lib/index_pg_none.c in a build without it:
 * meson feature `postgresql`). Private to lib/index_store.c, which
 * dispatches LOAFRE__IDX_POSTGRESQL here.
 */
#ifndef LOAFRE_INDEX_PG_H
#define LOAFRE_INDEX_PG_H

#include <stddef.h>

#include "index_backend.h"

/* Writes the backend's vtable (static storage) in *ret and returns 0; in a
 * build without PostgreSQL support returns -EOPNOTSUPP with a one-line
 * reason in err. */
int loafre__idx_pg_ops(const struct loafre__idx_ops **ret, char *err, size_t errlen);

#endif
