#!/usr/bin/env bash
# loafred: pid file, journals, SIGHUP reload (added fs, bad config), a
# filesystem whose journal cannot be created, SIGTERM/SIGINT.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

: >"$T/file" # a regular file: nothing can be created under it
write_conf <<CONF

[filesystem broken]
path = tree-broken
journal = file/journal

[filesystem lfs]
type = lustre
path = /mnt/lfs
journal = journal-lfs
mdts = lfs-MDT0000
changelog_user = cl1
CONF

"$LOAFRED" --help | grep -q '^usage: loafred' || fail "loafred --help"
rc=0
"$LOAFRED" --bogus 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "loafred --bogus exited $rc"
rc=0
"$LOAFRED" -c "$T/none.conf" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "loafred without config exited $rc"
grep -q "$T/none.conf: cannot open configuration" "$T/err" || fail "loafred config error: $(cat "$T/err")"

mkdir -p "$T/tree"
start_daemon -f
grep -q "loafred .* started: 1 filesystem (demo)$" "$T/daemon.log" || fail "start message: $(cat "$T/daemon.log")"
grep -q "broken: cannot create journal directory '$T/file/journal': Not a directory; skipped" \
	"$T/daemon.log" || fail "broken filesystem not logged: $(cat "$T/daemon.log")"
grep -q "lfs: built without liblustreapi, lustre source disabled" "$T/daemon.log" ||
	fail "lustre filesystem not logged"
[ "$(cat "$T/run/loafred.pid")" = "$DAEMON_PID" ] || fail "pid file"
[ -d "$T/journal" ] || fail "journal not created"

# The working filesystem works while the broken one is skipped.
golden >"$T/golden"
lf changelog_register -n demo-MDT0000 >/dev/null
lf changelog_import demo-MDT0000 <"$T/golden"
lf changelog demo-MDT0000 | cmp - "$T/golden" || fail "changelog with loafred running"

# A second loafred on the same run_dir refuses to start.
rc=0
"$LOAFRED" -c "$CONF" 2>"$T/err2" || rc=$?
[ "$rc" -eq 1 ] || fail "second loafred exited $rc"
grep -q "already running as pid $DAEMON_PID" "$T/err2" || fail "second loafred: $(cat "$T/err2")"

# SIGHUP: a bad config is logged and the old one kept.
cp "$CONF" "$T/good.conf"
printf '[filesystem demo]\nnope = 1\n' >"$CONF"
kill -HUP "$DAEMON_PID"
wait_for "grep -q 'keeping the previous one' '$T/daemon.log'"
grep -q "$CONF:2: unknown key 'nope'" "$T/daemon.log" || fail "bad reload not explained"
kill -0 "$DAEMON_PID" || fail "loafred died on a bad config"

# SIGHUP: a second filesystem is opened, the broken and lustre ones dropped.
cp "$T/good.conf" "$CONF"
sed -i '/^\[filesystem broken\]/,$d' "$CONF"
printf '\n[filesystem two]\npath = tree2\njournal = journal2\n' >>"$CONF"
kill -HUP "$DAEMON_PID"
wait_for "grep -q 'configuration reloaded: 2 filesystems (demo, two)' '$T/daemon.log'"
wait_for "[ -n \"\$(ls -A '$T/journal2' 2>/dev/null)\" ]"
grep -q "two: journal '$T/journal2' open for two-MDT0000" "$T/daemon.log" ||
	fail "two not opened: $(cat "$T/daemon.log")"
head -n 2 "$T/golden" | lf changelog_import two-MDT0000
[ "$(lf changelog two-MDT0000 | wc -l)" -eq 2 ] || fail "second filesystem"

# SIGHUP: removing it closes it.
sed -i '/^\[filesystem two\]/,$d' "$CONF"
kill -HUP "$DAEMON_PID"
wait_for "grep -q 'two: closed' '$T/daemon.log'"

# SIGTERM: exits 0 quickly and removes the pid file.
start=$(date +%s%N)
stop_daemon || fail "loafred exited non-zero on SIGTERM"
el=$((($(date +%s%N) - start) / 1000000))
[ "$el" -lt 2000 ] || fail "SIGTERM took ${el} ms"
[ ! -e "$T/run/loafred.pid" ] || fail "pid file left behind"
grep -q "stopped" "$T/daemon.log" || fail "no stop message"

# Restart on the existing journal (recovery), then SIGINT.
start_daemon
grep -q "current index $(tail -n1 "$T/golden" | cut -d' ' -f1)" "$T/daemon.log" ||
	fail "restart did not find the journal: $(cat "$T/daemon.log")"
kill -INT "$DAEMON_PID"
rc=0
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
[ "$rc" -eq 0 ] || fail "SIGINT exit $rc"
[ ! -e "$T/run/loafred.pid" ] || fail "pid file left behind after SIGINT"
echo ok
