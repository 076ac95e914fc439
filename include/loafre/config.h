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
 *   [rule backup]               ; optional, repeatable: a replication rule
 *                               ; (docs/replication.md). NAME: 1-11 of
 *                               ; A-Z a-z 0-9 _ - (first a letter or digit);
 *                               ; its broker group is "rep-NAME"
 *   filesystem = demo           ; required: a [filesystem]
 *   source   = /projects /home  ; subtrees, relative to the filesystem's
 *                               ; root, with a leading /; repeatable; default /
 *   destination = /backup uid_map=1000:2000,*:65534 gid_map=100:100
 *                               ; required, repeatable: an absolute local path
 *                               ; or [user@]host:/path, then optional id maps
 *                               ; (S:D pairs, *:D for every other id; numbers
 *                               ; or names, resolved at load) and, for
 *                               ; host:/path, port=N identity=FILE
 *                               ; known_hosts=FILE (ssh options)
 *   match_prefix = /projects/a  ; repeatable; with match_glob/match_regex: an
 *   match_glob = *.h5           ; object must match at least one of them
 *   match_regex = \.h5$         ; (PCRE2; paths are relative to the root
 *                               ; with a leading /; ** spans directories)
 *   events   = CREAT MKDIR      ; record types (default: all)
 *   min_size = 1K               ; max_size too (K M G T)
 *   owner    = alice 1001       ; group = staff 100 (names or ids)
 *   min_age  = 10m              ; max_age too: now - mtime (s m h d)
 *   exclude  = scratch          ; repeatable: an [exclude NAME]
 *   delay    = 0                ; hold and coalesce this long (0: immediate)
 *   schedule = * 0-5 * * *     ; cron: the window in which work runs
 *   copy     = /usr/bin/scp -p %{src} backup:%{dst}
 *                               ; custom commands, one per action: copy
 *                               ; delete move chmod chown utimes mkdir link
 *                               ; symlink setxattr (lib/rule.c: words split
 *                               ; at load, %{VAR}s expanded inside words, no
 *                               ; shell)
 *   enabled  = yes              ; workers = 2 (threads in loafred, 1..64)
 *
 *   [exclude scratch]           ; optional, repeatable: named exclude lists
 *   path     = /tmp             ; a directory's subtree (repeatable)
 *   glob     = *.swp            ; (repeatable; no '/': any path component)
 *   regex    = ~$               ; (repeatable)
 *
 *   [loafred] rules_dir = rules.d ; (default: rules.d beside this file) rules
 *                               ; of `loafre rule`: NAME.rule ([rule NAME]),
 *                               ; NAME.exclude ([exclude NAME]), NAME.state
 *                               ; ("enabled = no": overrides the enabled of
 *                               ; a rule of this file); loaded after it; a
 *                               ; name defined twice is an error
 *
 * Lines: at most LOAFRE_CONFIG_LINE_MAX characters (a longer one is an
 * error naming file:line); `;` after a blank starts a comment, also inside
 * a value; an indented line after a key continues its value.
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
#define LOAFRE_CONFIG_LINE_MAX 65536 /* characters of a line, its '\n' not counted */

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

#define LOAFRE_RULE_NAME_MAX 11 /* so that its group "rep-NAME" fits 15 bytes */
#define LOAFRE_RULE_WORKERS_MAX 64

/* The actions of a rule, each replaceable by a command template. */
enum loafre_rule_action {
	LOAFRE_ACT_COPY = 0,
	LOAFRE_ACT_DELETE,
	LOAFRE_ACT_MOVE,
	LOAFRE_ACT_CHMOD,
	LOAFRE_ACT_CHOWN,
	LOAFRE_ACT_UTIMES,
	LOAFRE_ACT_MKDIR,
	LOAFRE_ACT_LINK,
	LOAFRE_ACT_SYMLINK,
	LOAFRE_ACT_SETXATTR,
	LOAFRE_ACT_N
};

/* One pair of an id map. */
struct loafre_idmap_pair {
	uint32_t from;               /* source uid or gid */
	uint32_t to;                 /* destination uid or gid */
};

/* A uid or gid translation map of a destination. */
struct loafre_idmap {
	struct loafre_idmap_pair *pairs; /* explicit pairs, in written order */
	size_t n_pairs;
	bool has_default;            /* `*:D` given */
	uint32_t default_to;         /* D of `*:D` */
	char *text;                  /* as written (after uid_map=), or NULL */
};

/* A `destination` of a rule. */
struct loafre_rule_dest {
	char *spec;                  /* TARGET as written */
	char *user;                  /* remote: user of user@host, or NULL */
	char *host;                  /* remote: the host; NULL: a local path */
	char *path;                  /* absolute, normalized */
	struct loafre_idmap uid_map; /* translation of owners */
	struct loafre_idmap gid_map; /* translation of groups */
	unsigned port;               /* remote: `port=N` (ssh -p), 0: ssh's default */
	char *identity;              /* remote: `identity=FILE` (ssh -i), absolute, or NULL */
	char *known_hosts;           /* remote: `known_hosts=FILE` (then strict host key
				      * checking), absolute, or NULL */
};

/* An [exclude NAME] section. */
struct loafre_exclude_config {
	char *name;                  /* section name */
	char **paths;                /* directories (relative to the root, leading /) */
	size_t n_paths;
	char **globs;                /* wildcard patterns */
	size_t n_globs;
	char **regexes;              /* PCRE2 patterns (checked at load) */
	size_t n_regexes;
	char *file;                  /* file defining it */
	unsigned line;               /* line of the section header */
};

/* A [rule NAME] section (docs/replication.md). Values are validated at
 * load: regexes compile, the schedule parses, templates split. */
struct loafre_rule_config {
	char *name;                  /* section name, <= LOAFRE_RULE_NAME_MAX */
	char *group;                 /* its broker group: "rep-NAME" */
	char *fs;                    /* the source filesystem (a [filesystem]) */
	char **sources;              /* subtrees relative to the root, leading /,
	                              * normalized, not nested; default { "/" } */
	size_t n_sources;
	struct loafre_rule_dest *dests; /* >= 1 */
	size_t n_dests;
	char **match_prefixes;       /* normalized paths, leading / */
	size_t n_match_prefixes;
	char **match_globs;          /* wildcard patterns as written */
	size_t n_match_globs;
	char **match_regexes;        /* PCRE2 patterns as written */
	size_t n_match_regexes;
	uint32_t events;             /* bit t: record type t replicated (default all) */
	bool has_min_size, has_max_size;
	uint64_t min_size, max_size; /* bytes, regular files only */
	uint32_t *owners;            /* uids allowed (none: any) */
	size_t n_owners;
	uint32_t *gids;              /* gids allowed (`group`; none: any) */
	size_t n_gids;
	bool has_min_age, has_max_age;
	uint64_t min_age, max_age;   /* seconds, now - mtime, non-directories */
	char **excludes;             /* names of [exclude] sections, each known */
	size_t n_excludes;
	uint64_t delay;              /* seconds to hold and coalesce; 0: immediate */
	char *schedule;              /* cron expression (lib/cron.c), or NULL: always */
	char *actions[LOAFRE_ACT_N]; /* command templates, NULL: built-in action */
	bool enabled;                /* effective: after a NAME.state override */
	bool enabled_in_file;        /* the rule's own `enabled` */
	char *state_file;            /* the NAME.state overriding `enabled`, or NULL */
	unsigned workers;            /* threads in loafred, 1..64 (default 2) */
	char *file;                  /* the file defining it (main or rules_dir) */
	bool in_rules_dir;           /* defined by rules_dir/NAME.rule */
	unsigned line;               /* line of the section header in file */
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
	char *rules_dir;             /* absolute: [loafred] rules_dir (default
	                              * rules.d beside the file) */
	struct loafre_rule_config *rules; /* [rule NAME]: main file's, then rules_dir's */
	size_t n_rules;
	struct loafre_exclude_config *excludes; /* [exclude NAME] sections */
	size_t n_excludes;
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

/* The [rule NAME] or [exclude NAME] named; NULL (errno ENOENT) if none.
 * Borrowed. */
LOAFRE_API const struct loafre_rule_config *loafre_config_find_rule(const struct loafre_config *c,
								    const char *name);
LOAFRE_API const struct loafre_exclude_config *
loafre_config_find_exclude(const struct loafre_config *c, const char *name);

/* Parses "64M", "1G", "4096" (K/M/G/T, powers of 1024). 0 or -EINVAL. */
LOAFRE_API int loafre_parse_size(const char *s, uint64_t *ret);

#ifdef __cplusplus
}
#endif

#endif
