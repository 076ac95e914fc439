/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * sqlite_init.c — process-wide SQLite configuration (lib/sqlite_init.h).
 */
#include "sqlite_init.h"

#include <pthread.h>
#include <sqlite3.h>

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_configure(void)
{
	/* SQLITE_MISUSE if SQLite is already initialised: then it keeps its
	 * defaults, which are correct, only slower. */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void loafre__sqlite_init(void)
{
	(void)pthread_once(&sqlite_once, sqlite_configure);
}
