#!/usr/bin/env bash
# The watcher's three modes (LOAFRE_WATCH_MODE=fanotify-fs, fanotify-inode,
# inotify) turn the same create/rename/unlink sequence into the same
# records (types and names; FIDs differ between trees).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# records DIR: "TYPE NAME..." per record (names: the tokens without '=').
records() {
	"$LOAFRE" -c "$1/loafre.conf" changelog demo-MDT0000 |
		awk '{ s = $2; for (i = 6; i <= NF; i++) if ($i !~ /=/) s = s " " $i; print s }'
}

run_mode() { # MODE
	local mode=$1 d=$T/$1 pid
	mkdir -p "$d/tree"
	cat >"$d/loafre.conf" <<CONF
[loafred]
run_dir = run
commit_interval_ms = 5

[filesystem demo]
path = tree
journal = journal
changelog_mask = ALL
fsync = none
CONF
	LOAFRE_WATCH_MODE=$mode "$LOAFRED" -c "$d/loafre.conf" 2>"$d/daemon.log" &
	pid=$!
	BG_PIDS+=("$pid")
	wait_for "grep -qs 'demo: watching' '$d/daemon.log'"
	case $mode in
	fanotify-fs) want="fanotify filesystem mark" ;;
	fanotify-inode) want="fanotify inode marks" ;;
	inotify) want="inotify" ;;
	esac
	grep -q "demo: watching '$d/tree' ($want)" "$d/daemon.log" ||
		fail "$mode: mode not logged: $(cat "$d/daemon.log")"
	# One step at a time: each must be journaled before the next (the
	# kernel merges events on the same name; the records must say what
	# happened in order).
	step() {
		local n
		n=$(records "$d" | wc -l)
		eval "$1"
		wait_for "[ \$(records '$d' | wc -l) -gt $n ]" 50
	}
	step "mkdir '$d/tree/a'"
	step "echo hi >'$d/tree/a/f'"
	step "mv '$d/tree/a/f' '$d/tree/a/g'"
	step "mkdir '$d/tree/b'"
	step "mv '$d/tree/a/g' '$d/tree/b/h'"
	step "rm '$d/tree/b/h'"
	step "rmdir '$d/tree/b'"
	sleep 0.3 # anything late would show up now
	kill -TERM "$pid"
	wait "$pid" || fail "$mode: loafred exited $?"
	grep -q "demo: stopped watching" "$d/daemon.log" || fail "$mode: no stop counters"
	records "$d" | grep -Ev '^(11CLOSE|13TRUNC|14SATTR|17MTIME|15XATTR)' >"$T/$mode.records"
}

for m in fanotify-fs fanotify-inode inotify; do
	run_mode "$m"
done
grep -q '^01CREAT f$' "$T/fanotify-fs.records" || fail "no CREAT f: $(cat "$T/fanotify-fs.records")"
grep -q '^08RENME g' "$T/fanotify-fs.records" || fail "no RENME: $(cat "$T/fanotify-fs.records")"
for m in fanotify-inode inotify; do
	diff -u "$T/fanotify-fs.records" "$T/$m.records" >&2 || fail "$m differs from fanotify-fs"
done
echo ok
