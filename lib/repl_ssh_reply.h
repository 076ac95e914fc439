/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * repl_ssh_reply.h — parsers of what the remote shell of an ssh destination
 * answers (lib/repl_ssh.c, "Channel protocol"; formats in
 * lib/repl_ssh_reply.c). Internal. No ownership: the callers' buffers.
 */
#ifndef LOAFRE_REPL_SSH_REPLY_H
#define LOAFRE_REPL_SSH_REPLY_H

#include <stddef.h>
#include <stdint.h>

struct stat;

/* Payload limit of one reply part (stdout or stderr length). */
#define LOAFRE__SSH_REPLY_PART_MAX ((size_t)1 << 40)

/* Parses a status line (without its '\n') for command number seq:
 * 0 with *status (0..255), *olen, *elen; -EIO when malformed or not seq. */
int loafre__ssh_reply_parse(const char *line, uint64_t seq, int *status, size_t *olen,
			    size_t *elen);

/* Parses a list_stat payload of len bytes: calls fn for each record (name,
 * its lstat: mode, nlink, uid, gid, size, ino, atime, mtime; rdev 0) and
 * stops at fn's first non-zero return (returned). -EIO when malformed
 * (the records before were reported). */
int loafre__ssh_list_stat_parse(const char *p, size_t len,
				int (*fn)(void *arg, const char *name, const struct stat *st),
				void *arg);

#endif
