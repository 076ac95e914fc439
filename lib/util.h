/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * util.h — internal helpers of libloafre (not installed).
 * Little-endian loads/stores for on-disk and wire formats, I/O loops that
 * retry short transfers and EINTR, and small string helpers.
 */
#ifndef LOAFRE_UTIL_H
#define LOAFRE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "loafre/common.h"

static inline uint16_t loafre__le16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | (uint16_t)b[1] << 8);
}
static inline uint32_t loafre__le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t loafre__le64(const void *p)
{
	return (uint64_t)loafre__le32(p) | (uint64_t)loafre__le32((const uint8_t *)p + 4) << 32;
}
static inline void loafre__put16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}
static inline void loafre__put32(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}
static inline void loafre__put64(void *p, uint64_t v)
{
	loafre__put32(p, (uint32_t)v);
	loafre__put32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

#define LOAFRE__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* write()/pwrite() until done; 0 or -errno. */
int loafre__write_all(int fd, const void *buf, size_t len);
int loafre__pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* pread() until len bytes or EOF; returns bytes read or -errno. */
ssize_t loafre__pread_all(int fd, void *buf, size_t len, off_t off);
/* fsync() the directory containing nothing but `dir` itself. */
int loafre__fsync_dir(const char *dir);
/* mkdir -p with mode; 0 or -errno. */
int loafre__mkdir_p(const char *path, mode_t mode);
/* Writes `len` bytes to dir/name atomically (temp file, fsync, rename,
 * fsync dir). 0 or -errno. */
int loafre__write_file_atomic(const char *dir, const char *name, const void *buf, size_t len);
/* Reads a whole (small) file into a malloc'ed NUL-terminated buffer, at most
 * `max` bytes (-EFBIG beyond). */
int loafre__read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);
/* CLOCK_REALTIME in nanoseconds. */
uint64_t loafre__now_ns(void);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t loafre__mono_ns(void);
/* Parses an unsigned decimal (or 0x hex) number of exactly len bytes. */
int loafre__parse_u64(const char *s, size_t len, uint64_t *ret);

struct file_handle;
/* open_by_handle_at(2) with the kernel's spurious ENOMEM retried: Linux 6.x
 * answers ENOMEM, not ESTALE, while another process reuses the inode number
 * of a deleted object; a second look gives the true answer. Returns the fd
 * or -1 with errno set, like the system call. */
int loafre__open_by_handle(int mount_fd, struct file_handle *fh, int flags);

#endif
