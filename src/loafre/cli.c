/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* cli.c — the loafre command table, option parsing and shared helpers. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_CODES                                                                   \
	"Exit status: 0 on success, 1 on failure (the reason is printed on stderr),\n" \
	"2 on a usage error.\n"

#define COMMON_OPTS                                                                  \
	"  -c FILE      configuration file (default: $LOAFRE_CONFIG, else\n"         \
	"               " LOAFRE_CONFIG_DEFAULT_PATH ")\n"                           \
	"  -h, --help   show this help\n"

/* The options of a command that is a client of the broker (index, worker). */
#define BROKER_CLIENT_OPTS                                                            \
	"  --broker EP        the broker (default: [client] broker, else the first\n" \
	"                     [broker] endpoint, an ipc:// one if any)\n"             \
	"  --server-key FILE  tcp://: the broker's public key (NAME.pub)\n"           \
	"  --key FILE         tcp://: this client's key pair (NAME.key)\n"

static const struct option no_long[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option changelog_long[] = {
	{ "follow", no_argument, NULL, 'f' },
	{ "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* --json and --help: changelog_users, groups. */
static const struct option json_long[] = {
	{ "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option register_long[] = {
	{ "mask", required_argument, NULL, 'm' },
	{ "user", required_argument, NULL, 'u' },
	{ "nameonly", no_argument, NULL, 'n' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option deregister_long[] = {
	{ "user", required_argument, NULL, 'u' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option import_long[] = {
	{ "renumber", no_argument, NULL, 'R' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option tail_long[] = {
	{ "group", required_argument, NULL, 'g' },
	{ "ephemeral", no_argument, NULL, 'E' },
	{ "follow", no_argument, NULL, 'f' },
	{ "json", no_argument, NULL, 'J' },
	{ "start", required_argument, NULL, 'S' },
	{ "broker", required_argument, NULL, 'B' },
	{ "server-key", required_argument, NULL, 'P' },
	{ "key", required_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option index_long[] = {
	{ "broker", required_argument, NULL, 'B' },
	{ "server-key", required_argument, NULL, 'S' },
	{ "key", required_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option scan_long[] = {
	{ "threads", required_argument, NULL, 't' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option fid_long[] = {
	{ "index", no_argument, NULL, 'X' },
	{ "live", no_argument, NULL, 'L' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option du_long[] = {
	{ "summarize", no_argument, NULL, 's' },
	{ "max-depth", required_argument, NULL, 'd' },
	{ "all", no_argument, NULL, 'a' },
	{ "human-readable", no_argument, NULL, 'h' },
	{ "total", no_argument, NULL, 'c' },
	{ "apparent-size", no_argument, NULL, 'A' },
	{ "bytes", no_argument, NULL, 'b' },
	{ "block-size", required_argument, NULL, 'B' },
	{ "inodes", no_argument, NULL, 'I' },
	{ "by-user", no_argument, NULL, 'U' },
	{ "by-group", no_argument, NULL, 'G' },
	{ "one-file-system", no_argument, NULL, 'x' },
	{ "json", no_argument, NULL, 'J' },
	{ "config", required_argument, NULL, CLI_OPT_CONFIG },
	{ "help", no_argument, NULL, CLI_OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const struct option locate_long[] = {
	{ "ignore-case", no_argument, NULL, 'i' },
	{ "count", no_argument, NULL, 'c' },
	{ "limit", required_argument, NULL, 'l' },
	{ "null", no_argument, NULL, '0' },
	{ "basename", no_argument, NULL, 'b' },
	{ "fs", required_argument, NULL, 'F' },
	{ "json", no_argument, NULL, 'J' },
	{ "config", required_argument, NULL, CLI_OPT_CONFIG },
	{ "help", no_argument, NULL, CLI_OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const struct option report_long[] = {
	{ "fs-info", no_argument, NULL, 'i' },
	{ "top-users", optional_argument, NULL, 'u' },
	{ "top-groups", optional_argument, NULL, 'g' },
	{ "top-dirs", optional_argument, NULL, 'd' },
	{ "size-profile", no_argument, NULL, 'p' },
	{ "oldest", optional_argument, NULL, 'o' },
	{ "atime", no_argument, NULL, 'a' },
	{ "user", required_argument, NULL, 'U' },
	{ "fs", required_argument, NULL, 'F' },
	{ "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option quota_long[] = {
	{ "bytes", required_argument, NULL, 'b' },
	{ "inodes", required_argument, NULL, 'i' },
	{ "fs", required_argument, NULL, 'F' },
	{ "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option worker_long[] = {
	{ "rule", required_argument, NULL, 'r' },
	{ "broker", required_argument, NULL, 'B' },
	{ "server-key", required_argument, NULL, 'S' },
	{ "key", required_argument, NULL, 'k' },
	{ "threads", required_argument, NULL, 't' },
	{ "no-sync", no_argument, NULL, 'n' },
	{ "state-dir", required_argument, NULL, 's' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option verify_long[] = {
	{ "checksum", no_argument, NULL, 'C' },
	{ "uid-map", required_argument, NULL, 'u' },
	{ "gid-map", required_argument, NULL, 'g' },
	{ "exclude-glob", required_argument, NULL, 'e' },
	{ "no-times", no_argument, NULL, 'T' },
	{ "no-xattrs", no_argument, NULL, 'X' },
	{ "json", no_argument, NULL, 'J' },
	{ "ssh-port", required_argument, NULL, 'P' },
	{ "ssh-identity", required_argument, NULL, 'I' },
	{ "ssh-known-hosts", required_argument, NULL, 'K' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option bench_long[] = {
	{ "commit-ms", required_argument, NULL, 'C' },
	{ "fsync", required_argument, NULL, 'F' },
	{ "dir", required_argument, NULL, 'D' },
	{ "workers", required_argument, NULL, 'w' },
	{ "duration", required_argument, NULL, 'd' },
	{ "rate", required_argument, NULL, 'r' },
	{ "files", required_argument, NULL, 'N' },
	{ "loafred", required_argument, NULL, 'L' },
	{ "mkdir", no_argument, NULL, 'M' },
	{ "keep", no_argument, NULL, 'K' },
	{ "members", required_argument, NULL, 'm' },
	{ "groups", required_argument, NULL, 'G' },
	{ "ephemeral", required_argument, NULL, 'E' },
	{ "scenario", required_argument, NULL, 'S' },
	{ "credit", required_argument, NULL, 'k' },
	{ "rss-records", required_argument, NULL, 'R' },
	{ "keep-tree", no_argument, NULL, 'T' },
	{ "ingest", required_argument, NULL, 'I' },
	{ "ops-rate", required_argument, NULL, 'O' },
	{ "storm", required_argument, NULL, 'Z' },
	{ "only", required_argument, NULL, 'Y' },
	{ "no-lsyncd", no_argument, NULL, 'W' },
	{ "settle-timeout", required_argument, NULL, 'Q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

const struct cli_cmd cli_commands[] = {
	{ "help", cmd_help, 0, "show help for loafre or one of its commands", "[COMMAND]",
	  "Without COMMAND, lists the commands; with it, shows that command's help.\n"
	  "\n" EXIT_CODES,
	  "hc:", no_long, 0, 1 },
	{ "changelog", cmd_changelog, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "print an MDT's changelog records (as lfs changelog)",
	  "[-f|--follow] [--json] MDT [STARTREC [ENDREC]]",
	  "Prints the records of MDT's changelog from STARTREC to ENDREC (inclusive;\n"
	  "0 or absent: no bound), one per line in the `lfs changelog` format.\n"
	  "\n"
	  "  -f, --follow  after the last record, wait for new ones; stops with exit\n"
	  "                status 0 on SIGINT, SIGTERM or a closed output pipe\n"
	  "  --json        one JSON object per line instead of the lfs format\n" COMMON_OPTS
	  "\n" EXIT_CODES,
	  "fhc:", changelog_long, 1, 3 },
	{ "changelog_clear", cmd_changelog_clear, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "tell the MDT that reader ID has processed records up to ENDREC",
	  "MDT ID ENDREC",
	  "Marks the records up to ENDREC (0: the current index) as processed by the\n"
	  "registered reader ID (cl1, cl1-name). Records every reader has cleared are\n"
	  "purged. Messages as lfs changelog_clear:\n"
	  "  changelog_clear: record out of range: ENDREC  (beyond the current index,\n"
	  "                                                 or below ID's cleared index)\n"
	  "  changelog_clear: no changelog user: ID\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", no_long, 3, 3 },
	{ "changelog_register", cmd_changelog_register, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "register a changelog reader (as lctl changelog_register)",
	  "MDT [-m MASK] [-u NAME] [-n]",
	  "Registers a reader; prints \"MDT: Registered changelog userid 'clN'\".\n"
	  "Records are kept until every registered reader has cleared them.\n"
	  "Creates the MDT's journal if loafred has not yet done so.\n"
	  "\n"
	  "  -m, --mask MASK   record types this reader wants (\"+OPEN\", \"CREAT,UNLNK\");\n"
	  "                    widens the journal's changelog_mask\n"
	  "  -u, --user NAME   name the reader: its id becomes clN-NAME (a letter, then\n"
	  "                    letters, digits, _ or -; at most 15 characters)\n"
	  "  -n, --nameonly    print only the id\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hm:u:nc:", register_long, 1, 1 },
	{ "changelog_deregister", cmd_changelog_deregister, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "deregister a changelog reader (as lctl changelog_deregister)",
	  "MDT ID|-u NAME",
	  "Deregisters the reader ID (N, clN or clN-name) or the reader named NAME;\n"
	  "prints \"MDT: Deregistered changelog user #N\". Records no remaining reader\n"
	  "needs are purged (all of them when the last reader goes).\n"
	  "\n"
	  "  -u, --user NAME   the reader's name\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hu:c:", deregister_long, 1, 2 },
	{ "changelog_users", cmd_changelog_users, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "show the registered readers (as mdd.*.changelog_users)", "[--json] MDT",
	  "Prints the current index and each reader's cleared index, idle time and\n"
	  "mask exactly as lctl get_param mdd.MDT.changelog_users does.\n"
	  "\n"
	  "  --json        one JSON object: {\"current_index\":N,\"users\":[...]}\n" COMMON_OPTS
	  "\n" EXIT_CODES,
	  "hc:", json_long, 1, 1 },
	{ "changelog_import", cmd_changelog_import, CMD_NEEDS_CONFIG | CMD_NEEDS_MDT,
	  "append records captured with lfs changelog (read from stdin)",
	  "[--renumber] MDT < FILE",
	  "Reads `lfs changelog` lines from standard input and appends them to MDT's\n"
	  "journal in one commit: either every record is stored or none is. A\n"
	  "malformed line is reported as \"changelog_import: line N: REASON\".\n"
	  "Captured indices are kept; they must increase and exceed the journal's\n"
	  "current index. Records outside changelog_mask are skipped (counted on\n"
	  "stderr). Empty lines are ignored. Creates the journal if it is missing.\n"
	  "\n"
	  "  --renumber    give the records the journal's next indices instead\n" COMMON_OPTS
	  "\n" EXIT_CODES,
	  "hc:", import_long, 1, 1 },
	{ "fid2path", cmd_fid2path, CMD_NEEDS_CONFIG,
	  "print the path of a FID (as lfs fid2path)", "[--index|--live] MDT|FSNAME FID",
	  "Prints the absolute path of the object with FID (\"[0x200000401:0x1:0x0]\",\n"
	  "brackets optional) on the filesystem of MDT or FSNAME. A filesystem with\n"
	  "an [index] whose database exists is answered from the index (the path\n"
	  "through the object's first link). Otherwise local filesystems are\n"
	  "resolved through the state loafred keeps next to the journal (it follows\n"
	  "renames); Lustre ones through liblustreapi. An unknown or removed\n"
	  "object: \"loafre: cannot resolve FID [...] on FSNAME: No such file or\n"
	  "directory\".\n"
	  "\n"
	  "  --index      answer from the index (an error if there is none)\n"
	  "  --live       never use the index\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", fid_long, 2, 2 },
	{ "path2fid", cmd_path2fid, CMD_NEEDS_CONFIG,
	  "print the FID of a path (as lfs path2fid)", "[--index|--live] PATH...",
	  "Prints the FID of each PATH (a symlink itself, not its target) inside a\n"
	  "filesystem of the configuration: \"[0x...:0x...:0x0]\", or\n"
	  "\"PATH: [FID]\" per line with several paths, as lfs path2fid does. From\n"
	  "the filesystem's index when it has one whose database exists, else (local\n"
	  "filesystems) from the state loafred keeps.\n"
	  "\n"
	  "  --index      answer from the index (an error if there is none)\n"
	  "  --live       never use the index\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", fid_long, 1, -1 },
	{ "stats", cmd_stats, CMD_NEEDS_CONFIG, "print loafred's counters",
	  "",
	  "Prints RUN_DIR/stats, which loafred rewrites every second: one\n"
	  "\"KEY VALUE\" line per counter, KEY = FSNAME.counter for a local filesystem\n"
	  "(watching, mode, last_index, records, caught_up, rescans, overflows,\n"
	  "events, notes, ignored, objects, dirs, mark_errors) and MDT.counter for a\n"
	  "Lustre MDT (last_index, received, appended, cleared, reopens, last_error).\n"
	  COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", no_long, 0, 0 },
	{ "tail", cmd_tail, CMD_NEEDS_CONFIG, "print records served by loafred's broker",
	  "[--group G | --ephemeral] [-f] [--json] [--start oldest|newest|MDT:INDEX,...]\n"
	  "       [--broker ENDPOINT [--server-key FILE --key FILE]]",
	  "Connects to loafred's broker and prints the records it delivers, in the\n"
	  "`lfs changelog` format. In a persistent group, what was printed is acked\n"
	  "(the group's position advances); an ephemeral reader (the default) sees\n"
	  "only records written after it connected and acks nothing.\n"
	  "\n"
	  "  -g, --group G   join persistent group G (created on first use)\n"
	  "  --ephemeral     read ephemerally (default)\n"
	  "  -f, --follow    keep waiting for records; stops with exit status 0 on\n"
	  "                  SIGINT or SIGTERM. Without it, exits once nothing has\n"
	  "                  arrived for 1 s\n"
	  "  --json          one JSON object per line, with its \"mdt\"; a lost-records\n"
	  "                  notice is {\"mdt\":...,\"gap\":N} (on stderr otherwise)\n"
	  "  --start S       where a new group starts: oldest, newest, MDT:INDEX,...\n"
	  "  --broker E      endpoint (default: [client] broker of the configuration,\n"
	  "                  else its first ipc:// [broker] endpoint, else its first\n"
	  "                  one; by default ipc://RUN_DIR/broker.sock)\n"
	  "  --server-key F  tcp:// with CurveZMQ: the broker's public key file\n"
	  "                  (its NAME.pub; default: [client] curve_server_key)\n"
	  "  -k, --key F     tcp:// with CurveZMQ: this client's key file (NAME.key of\n"
	  "                  loafre keygen, mode 0600; default: [client] curve_key).\n"
	  "                  A key the broker does not allow fails at once: \"broker\n"
	  "                  refused this client's key\"\n" COMMON_OPTS
	  "\n" EXIT_CODES,
	  "g:fJS:B:k:hc:", tail_long, 0, 0 },
	{ "keygen", cmd_keygen, 0, "make a CurveZMQ key pair for the broker's tcp:// endpoints",
	  "NAME",
	  "Writes a new key pair: NAME.key (mode 0600: the public and the secret key;\n"
	  "give it to nobody) and NAME.pub (mode 0644: the public key), and prints\n"
	  "the public key. Existing files are never overwritten. NAME may include a\n"
	  "directory; it does not end in .key or .pub.\n"
	  "\n"
	  "For the broker: [broker] curve_secret_key = NAME.key; give NAME.pub to the\n"
	  "clients ([client] curve_server_key, or loafre tail --server-key).\n"
	  "For a client: [client] curve_key = NAME.key (or --key), and add the public\n"
	  "key, alone on a line (a label may follow), to the broker's\n"
	  "curve_allowed_keys file. Setup: docs/design/broker.md, \"Security\".\n"
	  "\n"
	  "  -h, --help   show this help\n"
	  "\n" EXIT_CODES,
	  "hc:", no_long, 1, 1 },
	{ "index", cmd_index, CMD_NEEDS_CONFIG,
	  "keep a filesystem's metadata index current (in the foreground)", "NAME|FS",
	  "Runs the indexer of [index NAME] (or of filesystem FS's index) in the\n"
	  "foreground, as loafred does in a thread for indexes with in_daemon = yes:\n"
	  "a member of the broker group idx-NAME that applies every record of the\n"
	  "filesystem to the index database and acks it only once committed. Use it\n"
	  "on another node (in_daemon = no on loafred's node), with a [client]\n"
	  "section or the options below. A never-loaded index is loaded by a scan\n"
	  "first (as 'loafre scan'). Stops on SIGINT or SIGTERM. docs/index.md.\n"
	  "\n"
	  BROKER_CLIENT_OPTS
	  "  -h, --help         show this help\n"
	  "\n" EXIT_CODES,
	  "hc:", index_long, 1, 1 },
	{ "scan", cmd_scan, CMD_NEEDS_CONFIG,
	  "load a filesystem's metadata index with a parallel walk", "NAME|FS",
	  "Empties the index of [index NAME] (or of filesystem FS) and loads it with\n"
	  "a parallel walk of the tree (getdents + statx, FIDs as loafred computes\n"
	  "them), then hands over to the changelog without a gap: the index's group\n"
	  "is registered on every journal and each journal's last index noted before\n"
	  "the walk; records after it are applied by the indexer (loafred's or\n"
	  "'loafre index'), which waits while the scan runs. Shows progress on a\n"
	  "terminal. Interrupted (SIGINT), the index stays incomplete: scan again.\n"
	  "\n"
	  "  -t, --threads N    walker threads (default: the number of CPUs)\n"
	  "  -q, --quiet        no progress line\n"
	  "  -h, --help         show this help\n"
	  "\n" EXIT_CODES,
	  "hc:t:q", scan_long, 1, 1 },
	{ "find", cmd_find, CMD_NEEDS_CONFIG | CMD_RAW_ARGS,
	  "search a metadata index with GNU find's expressions",
	  "[--json] [PATH...] [EXPRESSION]",
	  "Answers 'find PATH... EXPRESSION' from the index of the filesystem that\n"
	  "holds each PATH (default: .) instead of walking the tree, and prints the\n"
	  "same lines as GNU find on the same tree (in another order). EXPRESSION is\n"
	  "GNU find's: tests (-name -iname -path -ipath -regex -iregex -lname -type\n"
	  "-xtype -size -empty -user -group -uid -gid -nouser -nogroup -perm -links\n"
	  "-inum -samefile -newer -newerXY -atime -ctime -mtime -amin -cmin -mmin\n"
	  "-fstype -true -false), operators ( ) ! -not -a -and -o -or , and options\n"
	  "(-maxdepth -mindepth -depth -xdev -daystart -regextype ...); actions\n"
	  "-print -print0 -printf -ls -prune -quit, and -count (prints the number\n"
	  "of entries it was evaluated on, alone on a line). Not supported: -exec,\n"
	  "-execdir, -ok, -delete, -fprint*, -fls and the -H -L -P options.\n"
	  "Details: docs/find.md. An expression that starts with a selective test\n"
	  "(-name with a literal part, -user/-uid/-gid, -size, a time range, -type)\n"
	  "and has no -prune or -quit is answered from the index's own indexes;\n"
	  "otherwise the index's tree is walked (docs/index.md, \"Queries\").\n"
	  "\n"
	  "  --json   one JSON object per entry the whole expression is true for\n"
	  "           (path, fid, type, mode, uid, gid, size, blocks, nlink, ino,\n"
	  "           atime, mtime, ctime) instead of what its actions print\n"
	  "  -c FILE  configuration file (before the paths; default: $LOAFRE_CONFIG,\n"
	  "           else " LOAFRE_CONFIG_DEFAULT_PATH ")\n"
	  "  --help   this help (when it is the only argument)\n"
	  "\n"
	  "Exit status: 0; 1 if a PATH is not in the index, if the expression is\n"
	  "bad (GNU find's message) or if the index cannot be used (one line says\n"
	  "why).\n",
	  "", no_long, 0, -1 },
	{ "du", cmd_du, CMD_NEEDS_CONFIG | CMD_OWN_H | CMD_OWN_C,
	  "disk usage from a metadata index (as GNU du)",
	  "[-s] [-d N] [-a] [-h] [-c] [--apparent-size|-b] [--inodes] [-B SIZE] [-k|-m]\n"
	  "       [--by-user|--by-group] [--json] [PATH...]",
	  "Prints the disk usage of each PATH (default: .) as GNU du does, from the\n"
	  "index of the filesystem that holds it: \"SIZE<TAB>PATH\" for every\n"
	  "directory below PATH, children before their parent, PATH last; sizes in\n"
	  "1024-byte units rounded up. Each directory's total is read from the\n"
	  "rollups the index keeps, so 'du -s' costs the same for any directory.\n"
	  "An inode is counted once per invocation, like GNU du; with hard links in\n"
	  "two different subdirectories the per-directory lines may differ from GNU\n"
	  "du's (loafre counts such an inode at its first link, GNU du in the first\n"
	  "directory its readdir order meets); the PATH totals do not.\n"
	  "\n"
	  "  -s, --summarize       only a total for each PATH\n"
	  "  -d, --max-depth N     only directories at most N levels below PATH\n"
	  "  -a, --all             files too, not only directories\n"
	  "  -h, --human-readable  sizes like 1.5K, 12M, 3.0G (powers of 1024, rounded up)\n"
	  "  -c, --total           a last line \"SIZE<TAB>total\"\n"
	  "  --apparent-size       sizes in bytes of content (st_size), not disk usage\n"
	  "  -b, --bytes           --apparent-size --block-size=1\n"
	  "  -B, --block-size SIZE units of SIZE bytes (K, M, G, T suffixes: powers of\n"
	  "                        1024); -k: 1K (default), -m: 1M\n"
	  "  --inodes              count inodes instead of sizes\n"
	  "  -x, --one-file-system accepted: the index never crosses a mount point\n"
	  "  --by-user, --by-group one line per owner of each PATH's total:\n"
	  "                        \"SIZE<TAB>OWNER<TAB>PATH\", largest first (these\n"
	  "                        walk PATH's subtree in the index: O(entries))\n"
	  "  --json                one JSON object per line: path, disk_bytes (blocks\n"
	  "                        x 512), apparent_bytes, inodes (and owner)\n"
	  "  --config FILE         configuration file (or loafre -c FILE du ...)\n"
	  "  --help                show this help\n"
	  "\n" EXIT_CODES,
	  "sd:ahcbB:kmx", du_long, 0, -1 },
	{ "locate", cmd_locate, CMD_NEEDS_CONFIG | CMD_OWN_C,
	  "find files by name in the metadata indexes (as plocate -b)",
	  "[-i] [-c] [-l N] [-0] [--fs FS] [--json] PATTERN...",
	  "Prints the full path of every link whose name matches every PATTERN, in\n"
	  "the index of every configured filesystem (or of FS). A PATTERN without\n"
	  "glob characters matches names containing it; with * ? or [ it is a\n"
	  "glob (fnmatch) the whole name must match.\n"
	  "\n"
	  "  -i, --ignore-case     ASCII case-insensitive\n"
	  "  -c, --count           print only the number of matches\n"
	  "  -l, --limit N         stop after N matches\n"
	  "  -0, --null            end each path with NUL instead of newline\n"
	  "  -b, --basename        accepted for plocate compatibility (always on)\n"
	  "  --fs FS               only the index of filesystem FS\n"
	  "  --json                one JSON object per match (path, fid, type, size, ...)\n"
	  "  --config FILE         configuration file (or loafre -c FILE locate ...)\n"
	  "  -h, --help            show this help\n"
	  "\n"
	  "Exit status: 0 if something matched, 1 if nothing did or on failure, 2 on\n"
	  "a usage error.\n",
	  "icl:0bh", locate_long, 1, -1 },
	{ "report", cmd_report, CMD_NEEDS_CONFIG,
	  "usage reports of a filesystem from its metadata index (as rbh-report)",
	  "[--fs FS | PATH] --fs-info | --top-users[=N] | --top-groups[=N] | --top-dirs[=N]\n"
	  "       | --size-profile | --oldest[=N] [--atime] | --user U  [--json]",
	  "Reports on the filesystem FS (or the one holding PATH; default: the only\n"
	  "indexed one), from its index. Sizes are disk usage (blocks x 512) and\n"
	  "volume (st_size), each inode counted once.\n"
	  "\n"
	  "  --fs-info         entries per type, space used, volume, index size\n"
	  "  --top-users[=N]   the N (default 20) users using the most space\n"
	  "  --top-groups[=N]  the same per group\n"
	  "  --top-dirs[=N]    the N (default 20) directories with the largest subtree\n"
	  "  --size-profile    regular files per size class (0, 1-31, 32-1K, ... +1T)\n"
	  "  --oldest[=N]      the N (default 20) entries modified longest ago\n"
	  "  --atime           --oldest: by access time\n"
	  "  --user U          user U's (name or uid) totals and size profile\n"
	  "  --json            one JSON document instead of the table\n" COMMON_OPTS
	  "\n" EXIT_CODES,
	  "hc:", report_long, 0, 1 },
	{ "quota", cmd_quota, CMD_NEEDS_CONFIG,
	  "directory soft quotas kept with a metadata index",
	  "set DIR [--bytes N] [--inodes N] | rm DIR | list [--fs FS] [--json]\n"
	  "       | check [--fs FS] [--json]",
	  "Soft quotas on directories of indexed filesystems. The indexer (loafred,\n"
	  "or 'loafre index') compares each directory's usage with its limits as it\n"
	  "applies changes and raises an alert when one is crossed (log line,\n"
	  "RUN_DIR/events, quota_hook) and clears it when usage falls back under.\n"
	  "Usage is the directory's subtree: disk usage (blocks x 512, as du) and\n"
	  "inodes.\n"
	  "\n"
	  "  set DIR      set DIR's limits (DIR: a directory in the index)\n"
	  "  rm DIR       remove DIR's quota\n"
	  "  list         every quota: directory, usage, limits, state (ok or over)\n"
	  "               and whether the indexer has raised its alert\n"
	  "  check        the same; exit status 1 if a directory is over a limit\n"
	  "               (it raises no alert: the indexer does)\n"
	  "\n"
	  "  --bytes N    limit of disk usage (K, M, G, T suffixes; 0: none)\n"
	  "  --inodes N   limit of inodes (0: none)\n"
	  "  --fs FS      list, check: only filesystem FS (default: every index)\n"
	  "  --json       one JSON object per quota\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", quota_long, 1, 2 },
	{ "verify", cmd_verify, 0, "compare a tree, or a rule's sources, with its replicas",
	  "SRC_DIR DEST_DIR|[USER@]HOST:/PATH [--checksum] [--uid-map S:D,...]\n"
	  "       [--gid-map S:D,...] [--exclude-glob P]... [--no-times] [--no-xattrs]\n"
	  "       [--json] [--ssh-port N] [--ssh-identity FILE] [--ssh-known-hosts FILE]\n"
	  "       | RULE [OPTIONS but --uid-map, --gid-map, --ssh-*]",
	  "Compares the tree SRC_DIR with its replica DEST_DIR: existence, type, size,\n"
	  "mode, owner (after the maps), mtime (ns, symlinks and directories too),\n"
	  "user.* and trusted.* xattrs, symlink targets, device numbers, hard-link\n"
	  "structure and, with --checksum, content (xxh128). Prints one line per\n"
	  "difference (\"missing: REL\", \"extra: REL\", \"size: REL 10 != 12\",\n"
	  "\"content: REL\", \"links: REL and REL2 are not one file at the\n"
	  "destination\", ...; docs/replication-destinations.md), then a summary on\n"
	  "stderr. Nothing is followed or modified on either side.\n"
	  "\n"
	  "  --checksum          also compare the data of regular files (xxh128)\n"
	  "  --uid-map S:D,...   the source's uid S is D at the destination (*:D: every\n"
	  "                      other uid)\n"
	  "  --gid-map S:D,...   the same for gids\n"
	  "  --exclude-glob P    skip entries matching P on both sides (a P without '/'\n"
	  "                      matches names, one with '/' relative paths); repeatable\n"
	  "  --no-times          do not compare mtimes\n"
	  "  --no-xattrs         do not compare xattrs\n"
	  "  --json              one JSON object per difference, then a summary object\n"
	  "  --ssh-port N, --ssh-identity FILE, --ssh-known-hosts FILE\n"
	  "                      for a [USER@]HOST:/PATH replica: compared over ssh with\n"
	  "                      rsync --dry-run --itemize-changes, then each flagged\n"
	  "                      entry exactly (hard links: only split ones)\n"
	  "  -h, --help          show this help\n"
	  "\n"
	  "RULE (a rule of the configuration): each of the rule's sources is compared\n"
	  "with each of its destinations (the sources merge in the destination root),\n"
	  "with the destination's uid_map/gid_map and ssh port/identity/known_hosts;\n"
	  "what the rule does not replicate (excludes, match_*, size, owner, group\n"
	  "and age conditions, other sources' entries) is skipped on both sides.\n"
	  "\"rule RULE: SRC -> DEST\" precedes each pair's differences. An unknown\n"
	  "RULE is a usage error.\n"
	  "\n"
	  "Exit status: 0 the trees are the same, 1 differences, 2 errors (an entry\n"
	  "could not be read) or a usage error.\n",
	  "hc:", verify_long, 1, 2 },
	{ "worker", cmd_worker, CMD_NEEDS_CONFIG,
	  "run a replication rule's worker (in the foreground)",
	  "--rule NAME [--broker EP] [--threads N] [--no-sync] [--state-dir DIR] [-v]",
	  "Carries out replication rule NAME (docs/replication.md, \"Workers\"): joins\n"
	  "the rule's broker group rep-NAME with path annotations, runs the initial\n"
	  "sync of every destination not synced yet (STATE/synced.N; one process at a\n"
	  "time), then applies each record to every destination and acks it once all\n"
	  "have it. A destination that is down is retried with backoff (1 s doubling\n"
	  "to 60 s) and nothing is acked meanwhile; an operation failing otherwise is\n"
	  "retried 5 times, then written to the rule's failed list (loafre rule\n"
	  "failed/retry). Several workers (loafred's, this command on other nodes)\n"
	  "share the group's records. Outside the rule's schedule it leaves the\n"
	  "broker and waits. STATE is JOURNAL/replication/NAME of the rule's\n"
	  "filesystem. Stops on SIGINT or SIGTERM (what is not acked is redelivered).\n"
	  "\n"
	  "  --rule NAME        the rule (required)\n"
	  BROKER_CLIENT_OPTS
	  "  --threads N        broker members (threads), 1-64 (default: the rule's\n"
	  "                     workers)\n"
	  "  --no-sync          no initial sync (another worker, e.g. loafred's, does it)\n"
	  "  --state-dir DIR    the rule's state directory (default: STATE above)\n"
	  "  -v, --verbose      more messages; the statistics when it stops\n"
	  "  -c FILE            configuration file (default: $LOAFRE_CONFIG, else\n"
	  "                     " LOAFRE_CONFIG_DEFAULT_PATH ")\n"
	  "  -h, --help         show this help\n"
	  "\n" EXIT_CODES,
	  "hc:v", worker_long, 0, 0 },
	{ "rule", cmd_rule, CMD_NEEDS_CONFIG,
	  "replication rules: add, edit, enable..., status, failed list, retry",
	  "add NAME --filesystem FS --destination TARGET [OPTIONS]\n"
	  "       | list [--json] | show NAME [--json]\n"
	  "       | edit NAME (--set KEY=VALUE | --add KEY=VALUE | --unset KEY)...\n"
	  "       | rm NAME | enable NAME [--no-wait] | disable NAME\n"
	  "       | status [NAME] [--json] | failed NAME [--json] | retry NAME",
	  "Rules are [rule NAME] sections of the configuration file or files\n"
	  "RULES_DIR/NAME.rule ([loafred] rules_dir, default rules.d beside the\n"
	  "configuration file), which this command writes. Every change is checked\n"
	  "by loading the whole configuration with it first: a bad regex, schedule,\n"
	  "filesystem or exclude is refused with one line naming the rule and the\n"
	  "cause, and nothing is written. A running loafred gets SIGHUP afterwards.\n"
	  "Keys and their syntax: docs/replication.md.\n"
	  "\n"
	  "  add NAME      write RULES_DIR/NAME.rule from the options below\n"
	  "  list          name, filesystem, enabled, sources, destinations, origin\n"
	  "  show NAME     every setting of the rule, resolved\n"
	  "  edit NAME     change a RULES_DIR rule: --set KEY=VALUE (replaces every\n"
	  "                KEY line), --add KEY=VALUE (one more, for repeatable\n"
	  "                keys), --unset KEY; in order; comments are kept. A rule\n"
	  "                of the configuration file itself is refused (edit that\n"
	  "                file)\n"
	  "  rm NAME       remove a RULES_DIR rule (same refusal)\n"
	  "  enable NAME, disable NAME\n"
	  "                any rule: a RULES_DIR rule gets `enabled` rewritten; a\n"
	  "                rule of the configuration file gets RULES_DIR/NAME.state,\n"
	  "                which overrides its `enabled` (shown by list and show)\n"
	  "  (waiting)     add and enable of an enabled rule then wait while loafred\n"
	  "                runs its initial sync, with a progress bar on a terminal\n"
	  "                (lines every 5 s otherwise); Ctrl-C or --no-wait: do not\n"
	  "                wait (the sync goes on in loafred). An unreachable\n"
	  "                destination or a rule loafred cannot run: one line, exit 1\n"
	  "                (the rule stays saved); loafred not running: said, exit 0\n"
	  "  status [NAME] per rule and destination, from loafred's RUN_DIR/stats:\n"
	  "                RULE STATE LAG LAG_S DESTINATION DEST_STATE DONE FAILED\n"
	  "                BYTES ERROR. STATE: syncing, running, waiting (outside\n"
	  "                its schedule), retrying, stopped, failed (loafred cannot\n"
	  "                run it: ERROR says why), disabled, not-running. LAG:\n"
	  "                records not yet replicated; LAG_S: their age in seconds;\n"
	  "                DONE: operations at the destination; FAILED: its entries\n"
	  "                in the failed list; BYTES: data written; ERROR: the\n"
	  "                destination's last error\n"
	  "  failed NAME   operations that kept failing (the failed list): TIME\n"
	  "                MDT:INDEX OP DEST PATH ERROR\n"
	  "  retry NAME    re-queue the failed list (loafred's workers sync those\n"
	  "                paths again) and say how many\n"
	  "\n"
	  "add options (each writes the key named after it; repeatable ones may be\n"
	  "given several times):\n"
	  "  --filesystem FS            --destination TARGET (repeatable: a path or\n"
	  "                             [user@]host:/path, then uid_map=S:D,... gid_map=)\n"
	  "  --source /SUBTREE          --match-prefix /PATH   --match-glob PATTERN\n"
	  "  --match-regex PCRE2        --events \"CREAT MKDIR\" --exclude NAME\n"
	  "  --min-size N --max-size N  --owner U --group G    --min-age D --max-age D\n"
	  "  --delay D                  --schedule CRON        --workers N\n"
	  "  --disabled                 (writes enabled = no)\n"
	  "  --copy CMD --delete CMD --move CMD --chmod CMD --chown CMD --utimes CMD\n"
	  "  --mkdir CMD --link CMD --symlink CMD --setxattr CMD  (command templates)\n"
	  "  --no-wait     add, enable: do not wait for the initial sync\n"
	  "  --json        list, show, failed: JSON instead of text; status: one JSON\n"
	  "                object per rule and line\n" COMMON_OPTS "\n"
	  "Exit status: 0 on success, 1 on failure (the reason is printed on stderr;\n"
	  "add/enable: also when loafred cannot run the rule, which stays saved),\n"
	  "2 on a usage error or an unknown rule NAME.\n",
	  "hc:", cli_rule_long, 1, 2 },
	{ "groups", cmd_groups, CMD_NEEDS_CONFIG, "list the broker's consumer groups",
	  "[--json]",
	  "Reads loafred's RUN_DIR/stats and prints, per consumer group: members,\n"
	  "position per MDT (everything up to it is acked), lag in records (the\n"
	  "MDT's current index minus the position), records in flight and records\n"
	  "redelivered.\n"
	  "\n"
	  "  --json        one JSON array of groups\n" COMMON_OPTS "\n" EXIT_CODES,
	  "hc:", json_long, 0, 0 },
	{ "bench", cmd_bench, 0,
	  "measure the record codec, the journal, the local source, the broker, the index or "
	  "replication",
	  "codec [-n N] | journal [-n N] [--commit-ms MS] [--fsync commit|none] [--dir DIR]\n"
	  "       | watch [-w W] [-d SECONDS] [--rate N] [--files N] [--mkdir] [--loafred PATH]\n"
	  "         [--commit-ms MS] [--fsync commit|none] [--dir DIR] [--keep]\n"
	  "       | broker [-n N] [--scenario S[,S...]] [--members M] [--groups G]\n"
	  "         [--ephemeral E] [--credit C] [--rate N] [-d SECONDS] [--commit-ms MS]\n"
	  "         [--rss-records R] [--dir DIR]\n"
	  "       | index [-n N] [--ingest R] [--keep-tree] [--dir DIR]\n"
	  "       | replicate [-n N] [--ops-rate R] [-d SECONDS] [--storm S] [--only a,b,c,d]\n"
	  "         [--no-lsyncd] [--loafred PATH] [--settle-timeout S] [--keep-tree]\n"
	  "         [--dir DIR]",
	  "  codec         parse and format N synthetic lfs changelog lines (one core)\n"
	  "  journal       append N records to a fresh journal with a group commit\n"
	  "                every MS milliseconds, then read them back\n"
	  "  watch         start loafred on a temporary tree; W worker processes run\n"
	  "                create+write/rename/unlink storms on it for SECONDS while\n"
	  "                the journal is followed: ops/s, records/s, create->record\n"
	  "                latency p50/p99/max, overflows, daemon RSS and CPU\n"
	  "  broker        a broker (own process) serves a preloaded journal to\n"
	  "                consumers acking every batch; scenarios: members (1 group\n"
	  "                x 1, 2, 4 members), groups (G x 1 member), ephemeral (+ E\n"
	  "                ephemeral readers, live appends), latency (appends at\n"
	  "                --rate), rss (R pending). Prints records delivered of\n"
	  "                expected, records/s to the last ack, latency p50/p99/max,\n"
	  "                broker RSS, a summary against the targets; fails only if\n"
	  "                a record was not delivered (docs/design/broker.md)\n"
	  "  index         ingest rates into SQLite (R synthetic records without\n"
	  "                attribute fetch, then a real tree's records with stat\n"
	  "                enrichment); a generated tree of N files (directories of\n"
	  "                10-100 entries, depth 6, 5 owners, log-distributed sparse\n"
	  "                sizes, symlinks, hard links) scanned into an index:\n"
	  "                entries/s, bytes/entry; then, warm, best of 3, GNU find\n"
	  "                -name and -size -user, GNU du -s and plocate (with its\n"
	  "                updatedb) beside this program's find, du and locate on\n"
	  "                the index (process time, and the store's query time),\n"
	  "                answers compared; a summary against the targets\n"
	  "                (docs/index.md, \"Benchmark\"); minutes at 1 M files\n"
	  "  replicate     loafred (one [rule] to a local destination, delay 0) beside\n"
	  "                lsyncd (default.rsync, delay=0 and delay=15) and rsync -a\n"
	  "                --delete, each started on its own trees: (a) operation ->\n"
	  "                destination lag p50/p99 at R ops/s for SECONDS (inotify on\n"
	  "                the destination), (b) S creates as fast as possible: last\n"
	  "                create to complete, (c) converge after 100 changes in an\n"
	  "                N-file tree vs one rsync full pass (initial syncs reported\n"
	  "                apart), (d) CPU per 10 k operations; ratios, targets and\n"
	  "                the command line to reproduce (docs/replication.md,\n"
	  "                \"Benchmark\"). Every destination is compared with its\n"
	  "                source after each phase: a difference fails the bench\n"
	  "\n"
	  "  -n N            work size (default: codec 1000000, journal 200000,\n"
	  "                  broker 5000000 preloaded records, index 1000000 files,\n"
	  "                  replicate 1000000 files in the (c) tree)\n"
	  "  --commit-ms MS  group-commit interval (default 10)\n"
	  "  --fsync P       commit (default) or none\n"
	  "  --dir DIR       where the temporary journal/tree is made (default $TMPDIR\n"
	  "                  or /tmp); it is removed afterwards\n"
	  "  -w, --workers W     watch: worker processes (default 2)\n"
	  "  -d, --duration S    watch: storm length in seconds (default 10)\n"
	  "  --rate N            watch: throttle to N ops/s in total (default: as fast\n"
	  "                      as possible)\n"
	  "  --files N           watch: pre-populate N files (in N/10 directories)\n"
	  "                      before loafred first starts\n"
	  "  --mkdir             watch: add mkdir/rmdir to the storm\n"
	  "  --loafred PATH      watch: the daemon (default $LOAFRED, else next to\n"
	  "                      loafre: ../loafred/loafred)\n"
	  "  --keep              watch: keep the temporary directory\n"
	  "  --scenario S,...    broker: members groups ephemeral latency rss all\n"
	  "  --members M         broker: only M members (default 1, 2 and 4)\n"
	  "  --groups G          broker: groups at once (default 4)\n"
	  "  --ephemeral E       broker: ephemeral readers (default 2)\n"
	  "  --credit C          broker: records in flight per consumer (default 4096)\n"
	  "  --rate N, -d S      broker: latency appends (default 50000/s for 5 s)\n"
	  "  --rss-records R     broker: rss records (default 10 M; fewer if the\n"
	  "                      disk is short)\n"
	  "  --ingest R          index: synthetic records of the ingest figures\n"
	  "                      (default: N, at most 300000)\n"
	  "  --keep-tree         index: keep the tree (DIR/loafre-bench-index-tree-N)\n"
	  "                      for the next run, which reuses it while its marker\n"
	  "                      file says it is complete; else it is removed;\n"
	  "                      replicate: the same (DIR/loafre-bench-repl-tree-N)\n"
	  "  --ops-rate R        replicate: (a) operations/s (default 2000); -d SECONDS\n"
	  "                      its duration (default 10)\n"
	  "  --storm S           replicate: (b) creates (default 2000)\n"
	  "  --only a,b,c,d      replicate: only these figures (d needs a)\n"
	  "  --no-lsyncd         replicate: loafre and rsync only\n"
	  "  --loafred PATH      replicate: as for watch\n"
	  "  --settle-timeout S  replicate: how long a replicator may take to start,\n"
	  "                      and a phase to leave the destination equal to the\n"
	  "                      source, before it fails (default 120; (c): 5 x S)\n"
	  "  -h, --help      show this help\n"
	  "\n" EXIT_CODES,
	  "hn:c:w:d:", bench_long, 1, 1 },
};

const size_t cli_n_commands = sizeof(cli_commands) / sizeof(cli_commands[0]);

const struct cli_cmd *cli_find(const char *name)
{
	for (size_t i = 0; i < cli_n_commands; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

void cli_print_overview(FILE *out)
{
	fprintf(out,
		"usage: loafre [-c FILE] COMMAND [ARGS]\n"
		"       loafre --version | help [COMMAND] | COMMAND --help\n"
		"\n"
		"loafre reads and manages Lustre changelogs kept by loafred.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < cli_n_commands; i++)
		fprintf(out, "  %-22s %s\n", cli_commands[i].name, cli_commands[i].summary);
	fprintf(out, "\n"
		"MDT names look like demo-MDT0000: a filesystem of the configuration\n"
		"(-c FILE, else $LOAFRE_CONFIG, else " LOAFRE_CONFIG_DEFAULT_PATH ").\n"
		"Run 'loafre help COMMAND' for a command's options.\n");
}

void cli_print_help(const struct cli_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: loafre %s %s\n\n%s.\n\n%s", cmd->name, cmd->usage, cmd->summary,
		cmd->help);
}


int cmd_help(struct cli *c)
{
	const struct cli_cmd *cmd;

	if (c->n_args == 0) {
		cli_print_overview(stdout);
		return CLI_OK;
	}
	cmd = cli_find(c->args[0]);
	if (!cmd) {
		fprintf(stderr, "loafre help: unknown command '%s'\n", c->args[0]);
		return CLI_FAIL;
	}
	cli_print_help(cmd, stdout);
	return CLI_OK;
}

static int load_config(struct cli *c)
{
	const char *path = loafre_config_path(c->config_arg);
	char err[512];
	int r;

	r = loafre_config_load(path, &c->config, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "loafre: %s\n", err[0] ? err : strerror(-r));
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int resolve_mdt(struct cli *c)
{
	const char *mdt = c->args[0];

	c->fs = loafre_config_find_mdt(c->config, mdt, NULL);
	if (!c->fs) {
		if (errno == EINVAL)
			fprintf(stderr, "loafre: invalid MDT name '%s' (expected FSNAME-MDT0000)\n",
				mdt);
		else
			fprintf(stderr, "loafre: unknown MDT '%s' (no such filesystem in %s)\n", mdt,
				c->config->path);
		return CLI_FAIL;
	}
	c->mdt = mdt;
	c->journal_dir = loafre_config_mdt_journal(c->fs, mdt);
	return CLI_OK;
}

int cli_run(const struct cli_cmd *cmd, int argc, char **argv, const char *config_arg)
{
	struct cli c = { .cmd = cmd, .config_arg = config_arg };
	int r = CLI_FAIL, opt;

	c.opts = calloc((size_t)argc + 1, sizeof(*c.opts));
	if (!c.opts) {
		fprintf(stderr, "loafre: out of memory\n");
		return CLI_FAIL;
	}
	if (cmd->flags & CMD_RAW_ARGS) {
		/* The command parses its own arguments (find's expression). */
		int i = 1;

		if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			cli_print_help(cmd, stdout);
			r = CLI_OK;
			goto out;
		}
		while (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
			c.config_arg = argv[i + 1];
			i += 2;
		}
		optind = i;
		goto parsed;
	}
	optind = 1;
	opterr = 0;
	/* argv[0] is the command name. */
	while ((opt = getopt_long(argc, argv, cmd->shortopts, cmd->longopts, NULL)) != -1) {
		if (opt == CLI_OPT_HELP || (opt == 'h' && !(cmd->flags & CMD_OWN_H))) {
			cli_print_help(cmd, stdout);
			r = CLI_OK;
			goto out;
		}
		if (opt == CLI_OPT_CONFIG || (opt == 'c' && !(cmd->flags & CMD_OWN_C))) {
			c.config_arg = optarg;
			continue;
		}
		if (opt == '?' || opt == ':') {
			if (optopt && strchr(cmd->shortopts, optopt) && optopt != ':')
				fprintf(stderr, "loafre %s: option '-%c' requires an argument\n",
					cmd->name, optopt);
			else
				fprintf(stderr, "loafre %s: unrecognized option '%s'\n", cmd->name,
					argv[optind - 1]);
			r = CLI_USAGE;
			goto out;
		}
		c.opts[c.n_opts].opt = opt;
		c.opts[c.n_opts].arg = optarg;
		c.n_opts++;
	}
parsed:
	c.args = argv + optind;
	c.n_args = argc - optind;
	if ((cmd->flags & CMD_NEEDS_MDT) && c.n_args < 1) {
		fprintf(stderr, "loafre %s: mdtname must be specified\n", cmd->name);
		r = CLI_USAGE;
		goto out;
	}
	if (c.n_args < cmd->min_args || (cmd->max_args >= 0 && c.n_args > cmd->max_args)) {
		fprintf(stderr, "loafre %s: %s arguments (usage: loafre %s %s)\n", cmd->name,
			c.n_args < cmd->min_args ? "missing" : "too many", cmd->name, cmd->usage);
		r = CLI_USAGE;
		goto out;
	}
	if (cmd->flags & CMD_NEEDS_CONFIG) {
		r = load_config(&c);
		if (r != CLI_OK)
			goto out;
	}
	if (cmd->flags & CMD_NEEDS_MDT) {
		r = resolve_mdt(&c);
		if (r != CLI_OK)
			goto out;
	}
	r = cmd->fn(&c);
out:
	loafre_config_free(c.config);
	free(c.opts);
	return r;
}

int cli_open_journal(struct cli *c, int flags, struct loafre_journal **ret)
{
	const char *dir = c->journal_dir;
	int r = loafre_journal_open(dir, c->mdt, flags, &c->fs->journal_opts, ret);

	if (r == -ENOENT) {
		fprintf(stderr,
			"loafre: no journal for %s at '%s' (has loafred run yet? start it with -c %s)\n",
			c->mdt, dir, c->config->path);
		return CLI_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, "loafre: cannot open journal '%s': %s\n", dir,
			r == -EBADMSG ? "not a loafre journal, or corrupt metadata"
			: r == -EXDEV ? "it belongs to another MDT"
				      : strerror(-r));
		return CLI_FAIL;
	}
	return CLI_OK;
}

bool cli_parse_recno(const char *s, uint64_t *ret)
{
	char *end;
	long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0 || *end != '\0')
		return false;
	*ret = (uint64_t)v;
	return true;
}
