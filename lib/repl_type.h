/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_type.h — the name verify reports for an entry's type (internal;
 * shared by lib/repl_verify.c and lib/repl_ssh.c's verify over SSH).
 */
#ifndef LOAFRE_REPL_TYPE_H
#define LOAFRE_REPL_TYPE_H

#include <sys/types.h>

/* "file", "directory", "symlink", "fifo", "character-device",
 * "block-device", "socket" or "unknown" for m's S_IFMT bits: a static
 * string. */
const char *loafre__repl_type_name(mode_t m);

#endif
