/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * loafre/config.h — the INI configuration shared by loafre and loafred.
 *
 *   [loafred]                   ; optional
 *   log      = stderr           ; stderr | syslog
 *   log_level = info            ; error | warning | info | debug
 *   run_dir  = /run/loafre      ; pid file and sockets
 *   commit_interval_ms = 10     ; journal group-commit interval
 *
 *   [filesystem demo]
 *   type     = local            ; local (emulated MDT) | lustre
 *   path     = /srv/demo        ; the tree (local) or the client mount (lustre)
 *   journal  = /var/lib/loafre/demo ; the emulated MDT's changelog (local), or
 *                               ; the base of the mirror journals DIR/<MDT> (lustre)
 *   create_path = no            ; (local) yes: loafred creates `path` if missing
 *   event_queue = unlimited     ; (local) unlimited | system: the fanotify
 *                               ; queue (system: fs.fanotify.max_queued_events)
 *   changelog_mask = ...        ; types recorded (default: Lustre's)
 *   fsync    = commit           ; commit | none
 *   segment_size = 64M
 *   gc_max_idle_time = 0        ; seconds; 0 = off
 *   gc_max_idle_indexes = 0     ; records; 0 = off
 *   mdts     = fs-MDT0000 ...   ; (lustre)
 *   changelog_user = cl1        ; (lustre)
 *
 *   [broker]                    ; optional: the consumer broker in loafred
 *   endpoint = ipc:///run/loafre/broker.sock ; tcp://, ipc:// or inproc://
 *                               ; repeatable, or several separated by blanks
 *                               ; default: ipc://RUN_DIR/broker.sock
 *   max_credit = 4096           ; records in flight per member, at most
 *   heartbeat_ms = 1000         ; default heartbeat; silent 3x: member dead
 *   ephemeral_window = 65536    ; records an ephemeral reader may lag
 *   curve_secret_key = broker.key ; the broker's key pair (loafre keygen broker)
 *   curve_allowed_keys = clients.allowed ; client public keys allowed on
 *                               ; tcp:// endpoints: one Z85 key per line,
 *                               ; optionally a label (lib/curve_keys.c)
 *   curve    = yes              ; CurveZMQ (authentication + encryption) on
 *                               ; tcp:// endpoints. A tcp:// endpoint needs
 *                               ; both keys above unless curve = no, which
 *                               ; is INSECURE: anyone reaching the port reads
 *                               ; every record. ipc:// never uses CurveZMQ:
 *                               ; it relies on the socket's permissions (0660)
 *
 *   [client]                    ; optional: CLI commands (loafre tail) on any node
 *   broker   = tcp://mds1:5555  ; endpoint (default: the first [broker]
 *                               ; endpoint, an ipc:// one if any)
 *   curve_server_key = broker.pub ; the broker's public key (for tcp:// only)
 *   curve_key = client.key      ; this client's key pair; both or neither
 *
 *   [group indexer]             ; optional, repeatable: a persistent consumer
 *                               ; group, created at broker start (its records
 *                               ; are retained from then on even before a
 *                               ; member connects) with its processing modules
 *   start = oldest              ; oldest | newest | MDT:INDEX,... (first start only)
 *   batch_ms = 0                ; hold read records up to N ms (0..60000) so
 *                               ; cancel/collapse see more of them at once
 *   module = types = CREAT MKDIR RENME UNLNK RMDIR   ; repeatable, in order
 *   module = subtree = /srv/demo/projects  ; an absolute path under a
 *                               ; filesystem's path, or a FID
 *   module = cancel
 *   module = collapse
 *   module = fields = uidgid jobid
 *                               ; (module specs: loafre/modules.h, docs/modules.md)
 *
 *   [index demo]                ; optional, repeatable: a metadata index
 *                               ; (docs/index.md), kept by loafred
 *   filesystem = demo           ; default: the section name
 *   backend  = sqlite           ; sqlite | postgresql
 *   database = /var/lib/loafre/demo/index.db ; a path (sqlite) or a
 *                               ; PostgreSQL conninfo; default:
 *                               ; JOURNAL/index.db of the filesystem
 *   fetch_threads = 4           ; concurrent attribute fetches (1..64)
 *   in_daemon = yes             ; no: loafred leaves it to `loafre index`
 *   quota_hook = /usr/local/bin/notify ; run on a quota alert (optional)
 *
 * Lookup: an explicit file (-c FILE), else $LOAFRE_CONFIG, else
 * /etc/loafre/loafre.conf. Relative paths inside the file are relative to
 * the file's directory. Unknown sections or keys are errors.
 *
 * Ownership: loafre_config_load returns a struct owned by the caller and
 * freed with loafre_config_free; every string in it belongs to it.
 */
#ifndef LOAFRE_CONFIG_H
#define LOAFRE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loafre/common.h"
#include "loafre/journal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LOAFRE_CONFIG_DEFAULT_PATH "/etc/loafre/loafre.conf"
#define LOAFRE_FSNAME_MAX 8 /* Lustre's limit on a filesystem name */

enum loafre_fs_type {
	LOAFRE_FS_LOCAL = 0,  /* any Linux filesystem, through an emulated MDT */
	LOAFRE_FS_LUSTRE = 1, /* a Lustre client mount, read through liblustreapi */
};

struct loafre_fs_config {
	char *name;                  /* section name: the fsname ("demo") */
	enum loafre_fs_type type;    /* local or lustre */
	char *path;                  /* absolute: the tree (local) or client mount (lustre) */
	char *journal;               /* absolute: local: the journal; lustre: base of DIR/<MDT> */
	struct loafre_journal_options journal_opts; /* options of every journal of the fs */
	char **mdts;                 /* lustre: MDT names; local: { "NAME-MDT0000" } */
	char **mdt_journals;         /* per MDT (same order): its journal directory
	                              * (local: journal; lustre: journal/<MDT>) */
	size_t n_mdts;               /* entries of mdts and mdt_journals */
	bool create_path;            /* local: loafred creates path if missing */
	bool event_queue_system;     /* local: keep the kernel's queue limit
				      * (default: unlimited, when root) */
	char *changelog_user;        /* lustre: the registered reader, e.g. "cl1" */
	unsigned line;               /* line of the section header, for messages */
};

enum loafre_log_target { LOAFRE_LOG_STDERR = 0, LOAFRE_LOG_SYSLOG = 1 };

#define LOAFRE_BROKER_SOCKET_NAME "broker.sock"
#define LOAFRE_BROKER_DEFAULT_MAX_CREDIT 4096u
#define LOAFRE_BROKER_DEFAULT_HEARTBEAT_MS 1000u
#define LOAFRE_BROKER_DEFAULT_EPHEMERAL_WINDOW 65536u

struct loafre_broker_config {
	char **endpoints;            /* at least one: default ipc://RUN_DIR/broker.sock */
	size_t n_endpoints;
	unsigned max_credit;         /* 1..1048576 */
	unsigned heartbeat_ms;       /* 10..3600000 */
	uint64_t ephemeral_window;   /* records, >= 1 */
	/* CurveZMQ on the tcp:// endpoints (docs/design/broker.md, "Security";
	 * lib/broker_auth.h). Only tcp:// endpoints use it: ipc:// relies on
	 * the socket's file permissions, inproc:// stays in the process. */
	bool curve;                  /* true unless `curve = no` (insecure) */
	char *curve_secret_key;      /* absolute path of the broker's key file
	                              * (NAME.key of `loafre keygen`), or NULL */
	char *curve_allowed_keys;    /* absolute path of the allowed client public
	                              * keys file (lib/curve_keys.c), or NULL */
};

/* [client]: how CLI commands (loafre tail) on any node reach a broker. */
struct loafre_client_config {
	char *broker;                /* endpoint, or NULL: the first [broker]
	                              * endpoint, an ipc:// one if any */
	char *curve_server_key;      /* absolute path of the broker's public key
	                              * file (its NAME.pub), or NULL */
	char *curve_key;             /* absolute path of this client's key file
	                              * (NAME.key), or NULL; both or neither */
	unsigned line;               /* line of the section header; 0: absent */
};

/* A [group NAME] section. */
struct loafre_group_config {
	char *name;                  /* the group (Lustre reader-name rules, <= 15 bytes) */
	char *start;                 /* "oldest", "newest" or "MDT:INDEX,..."; NULL: oldest */
	char **modules;              /* module specs in order, as written ("cancel",
				      * "types = ..."); a subtree path is kept as an
				      * absolute normalized path */
	size_t n_modules;
	unsigned batch_ms;           /* hold window for the modules, 0..60000 */
	unsigned line;               /* line of the section header */
};

enum loafre_index_backend { LOAFRE_INDEX_SQLITE = 0, LOAFRE_INDEX_POSTGRESQL = 1 };

#define LOAFRE_INDEX_NAME_MAX 11 /* so that its group "idx-NAME" fits 15 bytes */

/* An [index NAME] section. */
struct loafre_index_config {
	char *name;                  /* section name (group rules, <= 11 bytes) */
	char *fs;                    /* the filesystem indexed (default: name) */
	enum loafre_index_backend backend;
	char *database;              /* absolute path (sqlite) or conninfo */
	char *group;                 /* its broker group: "idx-NAME" */
	unsigned fetch_threads;      /* 1..64, default 4 */
	bool in_daemon;              /* loafred runs it (default true) */
	char *quota_hook;            /* command run on a quota alert, or NULL */
	unsigned line;               /* line of the section header */
};

struct loafre_config {
	char *path;                  /* the file this was read from */
	enum loafre_log_target log;
	int log_level;               /* syslog priority: LOG_ERR .. LOG_DEBUG */
	char *run_dir;
	unsigned commit_interval_ms;
	struct loafre_fs_config *fs;
	size_t n_fs;
	struct loafre_broker_config broker; /* [broker], defaults filled in */
	struct loafre_group_config *groups; /* [group NAME] sections, in file order */
	size_t n_groups;
	struct loafre_index_config *indexes; /* [index NAME] sections, in file order */
	size_t n_indexes;
	struct loafre_client_config client; /* [client]; NULL strings when absent */
};

/* Picks the config path: explicit if non-NULL, else $LOAFRE_CONFIG, else
 * the default. Borrowed strings. */
LOAFRE_API const char *loafre_config_path(const char *explicit_path);

/* Loads and validates a config file. On failure returns a negative errno
 * and, if err is non-NULL, writes a one-line message naming the file, the
 * line and the problem into err[0..errlen). */
LOAFRE_API int loafre_config_load(const char *path, struct loafre_config **ret_config,
				  char *err, size_t errlen);
LOAFRE_API void loafre_config_free(struct loafre_config *c);

/* Finds the filesystem owning an MDT name ("demo-MDT0000"): the part before
 * "-MDT" is the fsname and the MDT must be one of the filesystem's.
 * Returns the filesystem (borrowed) and writes the MDT index; NULL if none
 * (errno ENOENT, or EINVAL for a malformed MDT name). */
LOAFRE_API const struct loafre_fs_config *loafre_config_find_mdt(const struct loafre_config *c,
								 const char *mdt,
								 unsigned *ret_mdt_index);
/* The journal directory of one of fs's MDTs (borrowed), or NULL (errno
 * ENOENT) if the MDT is not fs's. */
LOAFRE_API const char *loafre_config_mdt_journal(const struct loafre_fs_config *fs,
						 const char *mdt);
LOAFRE_API const struct loafre_fs_config *loafre_config_find_fs(const struct loafre_config *c,
								const char *name);
/* The filesystem whose path contains the absolute normalized path `path`
 * (the deepest one if paths nest); NULL (errno ENOENT) if none. Borrowed. */
LOAFRE_API const struct loafre_fs_config *loafre_config_fs_of_path(const struct loafre_config *c,
								   const char *path);

/* The (first) [index] of the filesystem named fs; NULL (errno ENOENT) if
 * none. Borrowed. */
LOAFRE_API const struct loafre_index_config *loafre_config_find_index(const struct loafre_config *c,
								      const char *fs);

/* Parses "64M", "1G", "4096" (K/M/G/T, powers of 1024). 0 or -EINVAL. */
LOAFRE_API int loafre_parse_size(const char *s, uint64_t *ret);

#ifdef __cplusplus
}
#endif

#endif
