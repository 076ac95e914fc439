/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * sqlite_init.h — process-wide SQLite configuration, done once.
 *
 * SQLite's memory statistics (SQLITE_CONFIG_MEMSTATUS, on by default) take a
 * global mutex on every allocation; loafre reads none of them, so they are
 * turned off. sqlite3_config() only works before SQLite's first use in the
 * process, hence every library function that opens a SQLite database calls
 * loafre__sqlite_init() first. If the program used SQLite before (its own
 * databases), the call changes nothing and SQLite keeps working as it was.
 *
 * Ownership: nothing is allocated; no teardown.
 */
#ifndef LOAFRE_LIB_SQLITE_INIT_H
#define LOAFRE_LIB_SQLITE_INIT_H

/* Configure SQLite for this process (first call only; thread-safe). */
void loafre__sqlite_init(void);

#endif
