/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * idx_cli.h — what the index query commands share (find, du, locate,
 * report, quota, and fid2path/path2fid when they answer from an index):
 *
 *   - opening a filesystem's index (lib/index_store.h) once per command,
 *     read-only unless asked, with one-line errors that say what to do
 *     (no [index] section, database not created or not loaded yet, locked);
 *   - resolving a PATH argument to (filesystem, index, FID, path relative
 *     to the filesystem's root, attributes);
 *   - a FID → relative path cache for directories, so that printing the
 *     paths of many links costs one lookup per distinct parent;
 *   - GNU du's human sizes, size arguments, JSON strings, owner names.
 *
 * Errors are printed by these helpers as "PROG: ..." (PROG is the
 * command's name, "loafre du"), once; they return CLI_OK or CLI_FAIL (or
 * IDX_CLI_MISSING, see idx_cli_resolve). Ownership: a struct idx_cli owns
 * every store it opened and their caches (idx_cli_done frees them); a
 * struct idx_path owns its strings (idx_path_free) and borrows its db.
 */
#ifndef LOAFRE_IDX_CLI_H
#define LOAFRE_IDX_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "index_store.h"

/* idx_cli_resolve: the PATH is under an indexed filesystem but not in its
 * index (GNU's "No such file or directory"); nothing printed. */
#define IDX_CLI_MISSING 3

#define IDX_CACHE_MAX (1u << 20) /* directory paths cached, at most */

struct idx_cache;

/* One opened index. */
struct idx_db {
	const struct loafre_fs_config *fs;    /* borrowed from the configuration */
	const struct loafre_index_config *ic; /* borrowed from the configuration */
	struct loafre__idx *x;                /* the store (owned) */
	char *root;                           /* the filesystem's path, symlinks
					       * resolved when it exists (owned) */
	struct loafre_fid root_fid;           /* the store's root directory */
	struct idx_cache *cache;              /* directory FID → relative path */
	struct idx_db *next;                  /* list of the struct idx_cli */
};

/* The context of one command. */
struct idx_cli {
	struct cli *c;         /* the command (configuration), borrowed */
	const char *prog;      /* message prefix, "loafre du" */
	bool writable;         /* open stores read-write (quota set/rm) */
	struct idx_db *dbs;    /* stores opened so far (owned) */
};

/* A resolved PATH argument. */
struct idx_path {
	struct idx_db *db;            /* borrowed from the struct idx_cli */
	char *abs;                    /* absolute, normalized; its last component
				       * not followed (owned) */
	char *rel;                    /* relative to the filesystem's root ("" for
				       * the root itself; owned) */
	struct loafre_fid fid;        /* the entry */
	struct loafre__idx_entry e;   /* its attributes; e.a.symlink points to
				       * `symlink`, e.jobid is NULL */
	char *symlink;                /* a symlink's target (owned) or NULL */
};

void idx_cli_init(struct idx_cli *ic, struct cli *c, const char *prog, bool writable);
void idx_cli_done(struct idx_cli *ic);

/* Opens (once per command) the index of filesystem fs and checks that it
 * has been loaded. CLI_OK, or CLI_FAIL after printing why. */
int idx_cli_open_fs(struct idx_cli *ic, const struct loafre_fs_config *fs, struct idx_db **ret);

/* True if fs has an [index] whose database exists (fid2path and path2fid
 * use it then). */
bool idx_cli_fs_has_index(const struct idx_cli *ic, const struct loafre_fs_config *fs);

/* Resolves a PATH argument (relative to the working directory; its last
 * component is not followed, as find and du do not follow it): its
 * filesystem (the deepest configured one containing it), that
 * filesystem's index and the entry. CLI_OK; IDX_CLI_MISSING when the index
 * has no such entry (nothing printed); CLI_FAIL after printing why (not
 * under a configured filesystem, no [index], database missing or
 * unusable). On CLI_OK the caller frees *ret with idx_path_free. */
int idx_cli_resolve(struct idx_cli *ic, const char *path, struct idx_path *ret);
void idx_path_free(struct idx_path *p);
/* The same without printing anything: 0, -ENOENT (no such entry in the
 * index) or -EIO (not under an indexed filesystem, index unusable). */
int idx_cli_resolve_quiet(struct idx_cli *ic, const char *path, struct idx_path *ret);

/* Prints "PROG: index 'DB': REASON" for a store error r (-EBUSY: locked
 * by another process; -EIO: the backend's text; else strerror). */
void idx_cli_store_error(const struct idx_cli *ic, const struct idx_db *db, int r);

/* The path of directory `dir` relative to the root ("" for the root),
 * cached (built from the parent's cached path; after many misses every
 * directory's path is loaded at once, loafre__idx_dirs); valid until the
 * next call on this db. 0, or a negative errno (-ENOENT for a directory
 * without a path, -ELOOP for a cycle). */
int idx_db_dirpath(struct idx_db *db, const struct loafre_fid *dir, const char **ret);

/* Whether relative path `p` is `dir` or below it (dir "" is the root). */
bool idx_rel_under(const char *p, const char *dir);

/* ---- output helpers -------------------------------------------------------------- */

/* GNU du -h: v bytes in powers of 1024 with the suffixes K M G T P E,
 * rounded up, one decimal below 10 ("1.5K", "12M", "0", "512"). */
void idx_human(uint64_t v, char *buf, size_t cap);
/* ceil(a / b), b > 0. */
uint64_t idx_ceil_div(uint64_t a, uint64_t b);
/* "N" or "N[KMGTPE]" (powers of 1024, an optional "B"/"iB" after the
 * suffix); 0 or -EINVAL (also on overflow). */
int idx_parse_size(const char *s, uint64_t *ret);
/* A non-negative decimal that fits a size_t; 0 or -EINVAL. */
int idx_parse_count(const char *s, size_t *ret);
/* Writes s as a JSON string (quotes included; bytes >= 0x80 as they are,
 * controls as \u00XX). */
void idx_json_str(FILE *f, const char *s);
/* Nanoseconds since the epoch as a JSON number of seconds ("12.000000001"). */
void idx_json_time(FILE *f, int64_t ns);
/* The user or group name of an id, or the id in decimal. */
const char *idx_user_name(uint32_t uid, char *buf, size_t cap);
const char *idx_group_name(uint32_t gid, char *buf, size_t cap);
/* A user name or decimal uid; 0 or -ENOENT. */
int idx_parse_user(const char *s, uint32_t *ret);
/* find's one-letter type of a mode: f d l b c p s, '?' otherwise. */
char idx_type_char(uint32_t mode);

#endif
