#!/usr/bin/env bash
# loafred with the local source: a filesystem whose path is missing is
# logged and skipped while another works; records arrive live; SIGTERM
# flushes; fid2path/path2fid round trip (and follow a rename); stats; an
# event-queue overflow (fs.fanotify.max_queued_events = 64) is logged,
# counted and reconciled so that every file gets its CREAT.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SYSCTL_SAVED=
restore_sysctl() {
	if [ -n "$SYSCTL_SAVED" ]; then
		sysctl -q -w fs.fanotify.max_queued_events="$SYSCTL_SAVED" || true
		SYSCTL_SAVED=
	fi
}
trap 'restore_sysctl; cleanup' EXIT

mkdir -p "$T/tree"
write_conf <<CONF

[filesystem bad]
path = missing
journal = journal-bad
CONF
start_daemon
wait_for "grep -q 'demo: watching' '$T/daemon.log'"
grep -q "bad: cannot watch '$T/missing': No such file or directory" "$T/daemon.log" ||
	fail "missing path not logged: $(cat "$T/daemon.log")"

# Live records on the good filesystem.
mkdir "$T/tree/d"
echo hi >"$T/tree/d/f"
wait_for "lf changelog demo-MDT0000 | grep -q 'CREAT.* f\$'" 30
lf changelog demo-MDT0000 | grep -q 'MKDIR.* d$' || fail "no MKDIR d: $(lf changelog demo-MDT0000)"

# path2fid / fid2path.
fid=$(lf path2fid "$T/tree/d/f")
[[ $fid =~ ^\[0x[0-9a-f]+:0x[0-9a-f]+:0x[0-9a-f]+\]$ ]] || fail "path2fid printed '$fid'"
expect_out "$T/tree/d/f" lf fid2path demo-MDT0000 "$fid"
expect_out "$T/tree/d/f" lf fid2path demo "$fid"
dfid=$(cd "$T/tree" && lf path2fid d)
expect_out "$T/tree/d: $dfid
$T/tree/d/f: $fid" lf path2fid "$T/tree/d" "$T/tree/d/f"
mv "$T/tree/d/f" "$T/tree/g"
wait_for "lf changelog demo-MDT0000 | grep -q 'RENME'" 30
expect_out "$T/tree/g" lf fid2path demo-MDT0000 "$fid"
rm "$T/tree/g"
wait_for "lf changelog demo-MDT0000 | grep -q 'UNLNK'" 30
expect_err "loafre: cannot resolve FID $fid on demo: No such file or directory" \
	lf fid2path demo-MDT0000 "$fid"
lf fid2path --help | grep -q '^usage: loafre fid2path' || fail "fid2path --help"
lf path2fid --help | grep -q '^usage: loafre path2fid' || fail "path2fid --help"

# Stats.
wait_for "lf stats | grep -q '^demo.records [1-9]'" 30
lf stats | grep -q '^demo.watching 1$' || fail "stats: $(lf stats)"

# SIGTERM flushes: a file made just before is journaled.
echo x >"$T/tree/last"
stop_daemon || fail "loafred exited non-zero on SIGTERM"
lf changelog demo-MDT0000 | grep -q 'CREAT.* last$' || fail "SIGTERM lost the last record"
grep -Eq "demo: stopped watching '$T/tree': [0-9]+ records, [0-9]+ rescans, 0 overflows" \
	"$T/daemon.log" || fail "no stop counters: $(cat "$T/daemon.log")"

# Overflow: a tiny fanotify queue (read when loafred creates its group).
if [ "$(id -u)" -ne 0 ] || ! SYSCTL_SAVED=$(sysctl -n fs.fanotify.max_queued_events 2>/dev/null); then
	echo "skip overflow: needs root and fs.fanotify.max_queued_events"
	echo ok
	exit 0
fi
sysctl -q -w fs.fanotify.max_queued_events=64
# The default queue is unlimited (root); the system limit is asked for.
sed -i 's/^\[filesystem demo\]$/[filesystem demo]\nevent_queue = system/' "$CONF"
mkdir "$T/tree/burst"
: >"$T/daemon.log"
start_daemon
wait_for "grep -q 'demo: watching' '$T/daemon.log'"
grep -q "(fanotify filesystem mark)" "$T/daemon.log" || fail "not in fanotify mode"
# Stop loafred from reading for a moment so the queue overflows for sure.
kill -STOP "$DAEMON_PID"
for i in $(seq 1 5000); do : >"$T/tree/burst/f$i"; done
kill -CONT "$DAEMON_PID"
restore_sysctl
wait_for "grep -q 'demo: event queue overflowed, reconciling' '$T/daemon.log'" 100
wait_for "lf stats | grep -q '^demo.overflows [1-9]'" 50
# Settled: every file has its CREAT.
wait_for "[ \$(lf changelog demo-MDT0000 | grep -Ec 'CREAT.* f[0-9]+\$') -ge 5000 ]" 300
n=$(lf changelog demo-MDT0000 | grep -E 'CREAT.* f[0-9]+$' | awk '{ print $NF }' | sort -u | wc -l)
[ "$n" -eq 5000 ] || fail "$n of 5000 files have a CREAT"
stop_daemon || fail "loafred exited non-zero"

# The default, unlimited queue does not overflow under the same burst
# (the system limit is still 64).
sed -i '/^event_queue = system$/d' "$CONF"
mkdir "$T/tree/burst2"
: >"$T/daemon.log"
start_daemon
wait_for "grep -q 'demo: watching' '$T/daemon.log'"
kill -STOP "$DAEMON_PID"
for i in $(seq 1 5000); do : >"$T/tree/burst2/g$i"; done
kill -CONT "$DAEMON_PID"
wait_for "[ \$(lf changelog demo-MDT0000 | grep -Ec 'CREAT.* g[0-9]+\$') -ge 5000 ]" 300
! grep -q 'overflowed' "$T/daemon.log" || fail "the unlimited queue overflowed: $(cat "$T/daemon.log")"
stop_daemon || fail "loafred exited non-zero"
echo ok
