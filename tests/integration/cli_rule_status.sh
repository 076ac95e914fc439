#!/usr/bin/env bash
# loafre rule status|failed|retry, the wait for the initial sync after rule
# add/enable, and loafre verify RULE, with a real loafred replicating a temp
# tree (issue 6, sections 3 and 4, "Bad input"):
#   - unknown rules: one line, exit 2; loafred not running: said, success;
#   - add waits for the initial sync (the destination then equals the
#     source), --no-wait does not, Ctrl-C stops waiting (exit 0);
#   - status: running, destination ok, lag 0 once changes settled (text and
#     JSON); editing one rule restarts it alone; disable/enable;
#   - unreachable destinations (a path under a regular file; ssh to a closed
#     loopback port): add fails with one line, status shows the error, the
#     other rules keep replicating;
#   - failed/retry: a copy template failing for one name, then the rule fixed
#     and the failed list retried; a hand-written failed list (format of
#     lib/repl_failed.c) listed, refused when malformed, appended to a retry
#     file not taken yet;
#   - verify RULE: 0 when equal, 1 on a difference (--checksum for content),
#     2 for an unknown rule or an unreachable destination; two merged
#     sources and an exclude; over ssh to a private sshd on 127.0.0.1 with
#     the destination's port, identity and known_hosts (skipped without
#     sshd/ssh/rsync).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
write_conf <<CONF

[exclude junk]
glob = *.tmp
CONF
MDT=demo-MDT0000

# rc CMD...: prints CMD's exit status (its output in $T/out, $T/err).
rc() {
	local r=0
	"$@" >"$T/out" 2>"$T/err" || r=$?
	echo "$r"
}
# status_row RULE: the text status rows of RULE (one per destination).
status_row() { lf rule status "$1" | awk -v r="$1" '$1 == r'; }
same_tree() { diff -r --no-dereference "$1" "$2" >/dev/null 2>&1; }

mkdir -p "$T/tree/a/b" "$T/tree/x" "$T/m1" "$T/m3" "$T/m4"
echo one >"$T/tree/a/f1"
echo two >"$T/tree/a/b/f2"
head -c 300000 /dev/urandom >"$T/tree/a/big"
ln -s f1 "$T/tree/a/s1"
ln "$T/tree/a/f1" "$T/tree/a/h1"
echo top >"$T/tree/x/t"

# ---- bad input: unknown rule, exit 2, one line ---------------------------------
expect_out "no rules (add one with loafre rule add, or a [rule NAME] section in $CONF)" lf rule status
for sub in status failed retry show enable; do
	[ "$(rc lf rule $sub nope)" = 2 ] || fail "rule $sub nope: exit $(rc lf rule $sub nope)"
	[ "$(cat "$T/err")" = "loafre rule $sub: no rule nope (see loafre rule list)" ] ||
		fail "rule $sub nope said: $(cat "$T/err")"
done
[ "$(rc lf verify nope)" = 2 ] || fail "verify nope: exit not 2"
[ "$(cat "$T/err")" = "loafre verify: no rule nope (expected RULE or SRC_DIR DEST_DIR; see loafre rule list)" ] ||
	fail "verify nope said: $(cat "$T/err")"
expect_err "loafre rule status: takes [NAME] and --json only" lf rule status --no-wait

# ---- loafred not running: the rule is saved, add succeeds and says so ---------
[ "$(rc lf rule add r0 --filesystem demo --destination "$T/m0")" = 0 ] || fail "add r0: $(cat "$T/err")"
grep -qx "loafred is not running: rule r0 starts with it" "$T/out" || fail "add r0 said: $(cat "$T/out")"
status_row r0 | grep -Eq "^r0 +not-running +- +- +$T/m0 +- +- +0 +- +loafred is not running$" ||
	fail "status of r0 without loafred: $(lf rule status r0)"
lf rule status | head -1 | grep -Eq '^RULE +STATE +LAG +LAG_S +DESTINATION +DEST_STATE +DONE +FAILED +BYTES +ERROR$' ||
	fail "status header: $(lf rule status | head -1)"
lf rule rm r0 >/dev/null

start_daemon

# ---- add waits for the initial sync; the destination equals the source ---------
[ "$(rc lf rule add r1 --filesystem demo --destination "$T/m1")" = 0 ] || fail "add r1: $(cat "$T/err")"
grep -q "^loafred (pid $DAEMON_PID) told to reload$" "$T/out" || fail "add r1 did not reload: $(cat "$T/out")"
grep -Eq "^rule r1: initial sync done: [0-9]+ entries, [0-9]+ copied, .* in [0-9.]+ s; running$" "$T/out" ||
	fail "add r1 did not wait for the initial sync: $(cat "$T/out")"
same_tree "$T/tree" "$T/m1" || fail "after add r1: $(diff -r --no-dereference "$T/tree" "$T/m1" 2>&1)"
[ "$(stat -c %i "$T/m1/a/f1")" = "$(stat -c %i "$T/m1/a/h1")" ] || fail "hard link not kept"
[ "$(rc lf verify r1)" = 0 ] || fail "verify r1 after the sync: $(cat "$T/out" "$T/err")"
grep -qx "rule r1: $T/tree -> $T/m1" "$T/out" || fail "verify r1 header: $(cat "$T/out")"

# ---- changes replicate; status: running, ok, lag 0 ---------------------------------
echo three >"$T/tree/a/f3"
mv "$T/tree/a/b" "$T/tree/a/c"
rm "$T/tree/a/f1"
wait_for "same_tree '$T/tree' '$T/m1'" 300
wait_for "status_row r1 | grep -Eq '^r1 +running +0 +0\.0 +$T/m1 +ok +[1-9][0-9]* +0 +[1-9][0-9]* +-$'" 100
lf rule status r1 --json >"$T/json"
python3 - "$T/json" "$T" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
r = json.loads(lines[0]); t = sys.argv[2]
assert r["rule"] == "r1" and r["state"] == "running" and r["reason"] is None, r
assert r["lag"] == 0 and r["lag_seconds"] == 0 and r["enabled"] is True, r
assert r["sync"]["entries"] >= 8 and r["sync"]["bytes"] >= 300000, r
d = r["destinations"]
assert len(d) == 1 and d[0]["destination"] == t + "/m1" and d[0]["state"] == "ok", d
assert d[0]["done"] >= 1 and d[0]["failed"] == 0 and d[0]["error"] is None, d
PY

# ---- --no-wait ---------------------------------------------------------------------
mkdir -p "$T/m6"
lf rule add r6 --filesystem demo --destination "$T/m6" --no-wait >"$T/out"
grep -q "initial sync" "$T/out" && fail "--no-wait waited: $(cat "$T/out")"
wait_for "same_tree '$T/tree' '$T/m6'" 200
lf rule rm r6 >/dev/null

# ---- Ctrl-C stops waiting (loafred held with SIGSTOP: the rule cannot start) -------
mkdir -p "$T/m7"
kill -STOP "$DAEMON_PID"
"$LOAFRE" -c "$CONF" rule add r7 --filesystem demo --destination "$T/m7" >"$T/out7" 2>&1 &
P7=$!
wait_for "grep -q 'told to reload' '$T/out7'"
sleep 0.3
kill -INT "$P7"
r7=0
wait "$P7" || r7=$?
kill -CONT "$DAEMON_PID"
[ "$r7" = 0 ] || fail "add r7 interrupted: exit $r7: $(cat "$T/out7")"
grep -qx "stopped waiting: the initial sync of rule r7 goes on in loafred (loafre rule status r7)" "$T/out7" ||
	fail "add r7 interrupted said: $(cat "$T/out7")"
wait_for "same_tree '$T/tree' '$T/m7'" 200
lf rule rm r7 >/dev/null

# ---- a rule outside its schedule window: add returns, status says waiting ---------
mkdir -p "$T/m8"
DAY=$(( $(date +%-d) % 28 + 1 ))   # a day of the month that is not today
[ "$(rc lf rule add r8 --filesystem demo --destination "$T/m8" --schedule "* * $DAY * *")" = 0 ] ||
	fail "add r8: $(cat "$T/out" "$T/err")"
grep -qx "rule r8 is outside its schedule window: its initial sync runs in the window (loafre rule status r8)" "$T/out" ||
	fail "add r8 said: $(cat "$T/out")"
status_row r8 | grep -Eq "^r8 +waiting " || fail "status of r8: $(lf rule status r8)"
[ -z "$(ls -A "$T/m8")" ] || fail "r8 synced outside its window: $(ls -A "$T/m8")"
lf rule rm r8 >/dev/null

# ---- editing one rule restarts it alone ------------------------------------------
lf rule add r3 --filesystem demo --source /a --destination "$T/m3" >/dev/null
same_tree "$T/tree/a" "$T/m3" || fail "r3's sync: $(diff -r --no-dereference "$T/tree/a" "$T/m3" 2>&1)"
lf rule edit r3 --set workers=1 >/dev/null
wait_for "grep -q 'rule r3: restarting (its configuration changed)' '$T/daemon.log'"
wait_for "status_row r3 | grep -Eq '^r3 +running '"
grep -q 'rule r1: restarting' "$T/daemon.log" && fail "editing r3 restarted r1"
[ "$(grep -c 'rule r1: started' "$T/daemon.log")" = 1 ] || fail "r1 started more than once"

# ---- an unreachable destination: its error in status, r1 keeps working ------------
echo plain >"$T/plainfile"
[ "$(rc lf rule add r2 --filesystem demo --destination "$T/plainfile/sub")" = 1 ] ||
	fail "add r2 (unreachable) did not fail: $(cat "$T/out" "$T/err")"
[ "$(cat "$T/err")" = "loafre rule add: rule r2 is saved, but its destination $T/plainfile/sub is unreachable: cannot open '$T/plainfile/sub': Not a directory; its initial sync waits for it (loafre rule status r2)" ] ||
	fail "add r2 said: $(cat "$T/err")"
wait_for "status_row r2 | grep -Eq '^r2 +[a-z]+ .* $T/plainfile/sub +down .*Not a directory'" 100
grep -q "rule r2: destination $T/plainfile/sub is unreachable" "$T/daemon.log" || fail "r2 not logged"
echo four >"$T/tree/x/f4"
wait_for "[ -f '$T/m1/x/f4' ]" 200
status_row r1 | grep -Eq '^r1 +running ' || fail "r1 not running beside r2: $(lf rule status)"
[ "$(rc lf verify r2)" = 2 ] || fail "verify r2 (unreachable) did not exit 2: $(cat "$T/out" "$T/err")"
lf rule rm r2 >/dev/null
# an ssh destination on a closed loopback port: down, its ssh error shown
lf rule add r2s --filesystem demo --destination "root@127.0.0.1:$T/r2s port=1" --no-wait >/dev/null
wait_for "status_row r2s | grep -Eq '^r2s +[a-z]+ .* root@127.0.0.1:$T/r2s +down .*(refused|port 1)'" 200
[ "$(rc lf verify r2s)" = 2 ] || fail "verify r2s (closed port) did not exit 2: $(cat "$T/out" "$T/err")"
grep -q "loafre verify: cannot compare '$T/tree' with 'root@127.0.0.1:$T/r2s'" "$T/err" ||
	fail "verify r2s said: $(cat "$T/err")"
lf rule rm r2s >/dev/null
wait_for "! lf rule status | grep -q '^r2 '"
wait_for "grep -q 'rule r2: stopped (removed from the configuration)' '$T/daemon.log'"

# ---- failed list and retry: a copy command failing for names with "bad" ---------
COPY=$(cat <<'X'
/bin/sh -c 'case "$1" in *bad*) exit 1;; esac; exec cp -p "$1" "$2"' sh %{src} %{dst}
X
)
lf rule add r4 --filesystem demo --destination "$T/m4" --copy "$COPY" >"$T/out"
grep -q "^rule r4: initial sync done" "$T/out" || fail "add r4: $(cat "$T/out")"
expect_out "rule r4 has no failed operations" lf rule failed r4
expect_out "rule r4 has no failed operations to retry" lf rule retry r4
echo good >"$T/tree/x/good1"
echo bad >"$T/tree/x/bad1"
wait_for "lf rule failed r4 | grep -q ' /x/bad1 '" 600
[ -f "$T/m4/x/good1" ] || fail "good1 not copied by the template"
[ ! -e "$T/m4/x/bad1" ] || fail "bad1 copied although its copy command fails"
out=$(lf rule failed r4)
head -1 <<<"$out" | grep -Eq '^TIME +MDT:INDEX +OP +DEST +PATH ERROR$' || fail "failed header: $out"
grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8} +$MDT:[0-9]+ +copy +$T/m4 +/x/bad1 .+" <<<"$out" ||
	fail "failed list: $out"
lf rule failed r4 --json | python3 -c '
import json, sys
e = [json.loads(l) for l in sys.stdin]
assert e and all(x["path"] == "/x/bad1" and x["op"] == "copy" and x["index"] > 0 for x in e), e'
failed_counted() {
	lf rule status r4 --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
d = r["destinations"][0]
sys.exit(0 if r["failed_list"] >= 1 and d["failed"] >= 1 and d["errors"] is not None else 1)'
}
wait_for failed_counted 50
status_row r4 | grep -Eq "^r4 .* $T/m4 +[a-z]+ +[0-9]+ +[1-9][0-9]* +[0-9]+ " ||
	fail "status of r4: FAILED is not the failed list: $(lf rule status r4)"
lf rule edit r4 --unset copy >/dev/null
wait_for "grep -q 'rule r4: stopped (replaced by a new worker)' '$T/daemon.log'" 300
[ "$(rc lf rule retry r4)" = 0 ] || fail "retry r4: $(cat "$T/err")"
grep -Eq "^rule r4: [1-9][0-9]* failed operations? re-queued \($T/journal/replication/r4/retry\)$" "$T/out" ||
	fail "retry r4 said: $(cat "$T/out")"
grep -q "^loafred (pid $DAEMON_PID) told to reload$" "$T/out" || fail "retry did not reload"
wait_for "[ -f '$T/m4/x/bad1' ]" 300
cmp -s "$T/tree/x/bad1" "$T/m4/x/bad1" || fail "bad1 differs after the retry"
no_failed() { lf rule failed "$1" | grep -qx "rule $1 has no failed operations"; }
for ((i = 0; i < 100; i++)); do no_failed r4 && break; sleep 0.1; done
no_failed r4 || fail "failed list of r4 after the retry: $(lf rule failed r4; grep 'rule r4' "$T/daemon.log")"

# ---- a hand-written failed list: columns, JSON, malformed, retry appends ----------
lf rule add r5 --filesystem demo --destination "$T/m5" --disabled >/dev/null
S5=$T/journal/replication/r5
mkdir -p "$S5"
printf '# a comment\n1700000000\t%s\t42\tcopy\t-13\t%s\t/a/x y\t-\tcannot open: Permission denied\n1700000001\t%s\t43\trename\t-2\t%s\t/a/old\t/a/new\tgone\n' \
	"$MDT" "$T/m5" "$MDT" "$T/m5" >"$S5/failed"
out=$(lf rule failed r5)
[ "$(wc -l <<<"$out")" = 3 ] || fail "failed r5: $out"
grep -Eq "^[0-9T:-]{19} +$MDT:42 +copy +$T/m5 +/a/x y cannot open: Permission denied$" <<<"$out" ||
	fail "failed r5 line 1: $out"
grep -Eq "^[0-9T:-]{19} +$MDT:43 +rename +$T/m5 +/a/old -> /a/new gone$" <<<"$out" ||
	fail "failed r5 line 2: $out"
lf rule failed r5 --json | python3 -c '
import json, sys
e = [json.loads(l) for l in sys.stdin]
assert [x["index"] for x in e] == [42, 43], e
assert e[0]["path"] == "/a/x y" and e[0]["path2"] is None and e[0]["errno"] == 13, e
assert e[1]["path2"] == "/a/new" and e[1]["error"] == "gone", e'
cp "$S5/failed" "$T/failed.good"
printf 'not an entry\n' >>"$S5/failed"
expect_err "loafre rule failed: $S5/failed:4: malformed entry" lf rule failed r5
expect_err "loafre rule retry: $S5/failed:4: malformed entry; nothing re-queued" lf rule retry r5
cmp -s <(cat "$T/failed.good"; printf 'not an entry\n') "$S5/failed" || fail "a refused retry changed the failed list"
cp "$T/failed.good" "$S5/failed"
expect_out "rule r5: 2 failed operations re-queued ($S5/retry)
loafred (pid $DAEMON_PID) told to reload" lf rule retry r5
[ ! -e "$S5/failed" ] && cmp -s "$T/failed.good" "$S5/retry" || fail "retry did not move failed to retry"
cp "$T/failed.good" "$S5/failed"
lf rule retry r5 >/dev/null
[ "$(grep -c /a/old "$S5/retry")" = 2 ] || fail "a second retry did not append: $(cat "$S5/retry")"
ls "$S5" | grep -q '\.cli\.' && fail "temporary file left in $S5: $(ls "$S5")"
status_row r5 | grep -Eq "^r5 +disabled .* enabled = no$" || fail "status of disabled r5: $(lf rule status r5)"

# ---- verify RULE: exit codes --------------------------------------------------------
wait_for "same_tree '$T/tree' '$T/m1'" 200
[ "$(rc lf verify r1)" = 0 ] || fail "verify r1: $(cat "$T/out" "$T/err")"
echo extra >"$T/m1/extra.txt"
[ "$(rc lf verify r1)" = 1 ] || fail "verify r1 with an extra file: exit not 1"
grep -qx "extra: extra.txt" "$T/out" || fail "verify r1 extra: $(cat "$T/out")"
rm "$T/m1/extra.txt"
touch -r "$T/tree" "$T/m1"
printf 'THREE\n' | dd of="$T/m1/a/f3" conv=notrunc status=none
touch -r "$T/tree/a/f3" "$T/m1/a/f3"
[ "$(rc lf verify r1)" = 0 ] || fail "verify r1 without --checksum saw the content: $(cat "$T/out")"
[ "$(rc lf verify r1 --checksum)" = 1 ] || fail "verify r1 --checksum: exit not 1"
grep -qx "content: a/f3" "$T/out" || fail "verify r1 --checksum: $(cat "$T/out")"
[ "$(rc lf verify r3 --json)" = 0 ] || fail "verify r3: $(cat "$T/out" "$T/err")"
head -1 "$T/out" | python3 -c '
import json, sys
h = json.load(sys.stdin)
assert h["rule"] == "r3" and h["source"].endswith("/tree/a") and h["destination"].endswith("/m3"), h'
expect_err "loafre verify: --uid-map, --gid-map and --ssh-* come from the rule's destinations in 'loafre verify RULE'" \
	lf verify r1 --uid-map 1:2
# two sources merged in one destination, an exclude: neither is a difference
mkdir -p "$T/m10"
echo junk >"$T/tree/a/j.tmp"
lf rule add r10 --filesystem demo --source /a --source /x --exclude junk --destination "$T/m10" >/dev/null
[ -f "$T/m10/f3" ] && [ -f "$T/m10/t" ] && [ ! -e "$T/m10/j.tmp" ] || fail "r10's sync: $(ls -R "$T/m10")"
echo other >"$T/m10/z.tmp"
mkdir -p "$T/m10/hold/deeper"   # kept by the workers for excluded entries only: not extra
echo own >"$T/m10/hold/deeper/own.tmp"
[ "$(rc lf verify r10)" = 0 ] || fail "verify r10: $(cat "$T/out" "$T/err")"
[ "$(grep -c '^rule r10: ' "$T/out")" = 2 ] || fail "verify r10 pairs: $(cat "$T/out")"
echo new >"$T/m10/unknown"
[ "$(rc lf verify r10)" = 1 ] || fail "verify r10 with an extra file: $(cat "$T/out" "$T/err")"
[ "$(grep -c '^extra: unknown$' "$T/out")" = 2 ] || fail "verify r10 extra: $(cat "$T/out")"
echo mine >"$T/m10/hold/deeper/mine"
[ "$(rc lf verify r10)" = 1 ] && [ "$(grep -c '^extra: hold/deeper/mine$' "$T/out")" = 2 ] ||
	fail "verify r10 with a non-excluded file in a holder: $(cat "$T/out" "$T/err")"

# ---- verify RULE over ssh: the destination's port, identity, known_hosts -----------
if [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null && command -v rsync >/dev/null; then
	K=$T/keys
	mkdir -m 700 "$K"
	ssh-keygen -q -t ed25519 -N '' -f "$K/host"
	ssh-keygen -q -t ed25519 -N '' -f "$K/client"
	cp "$K/client.pub" "$K/authorized_keys"
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$K/host.pub")" >"$K/known_hosts"
	cat >"$K/sshd_config" <<SSHD
ListenAddress 127.0.0.1
Port $PORT
HostKey $K/host
AuthorizedKeysFile $K/authorized_keys
PidFile $K/sshd.pid
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
SSHD
	mkdir -p /run/sshd
	/usr/sbin/sshd -D -e -f "$K/sshd_config" 2>"$T/sshd.log" &
	BG_PIDS+=($!)
	wait_for "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $PORT), 1)' 2>/dev/null"
	mkdir -p "$T/ms"
	lf rule add rs --filesystem demo --source /x \
		--destination "root@127.0.0.1:$T/ms port=$PORT identity=$K/client known_hosts=$K/known_hosts" >"$T/out" ||
		fail "add rs: $(cat "$T/out")"
	grep -q '^rule rs: initial sync done' "$T/out" || fail "add rs: $(cat "$T/out")"
	[ "$(rc lf verify rs --checksum)" = 0 ] || fail "verify rs: $(cat "$T/out" "$T/err")"
	grep -qx "rule rs: $T/tree/x -> root@127.0.0.1:$T/ms" "$T/out" || fail "verify rs: $(cat "$T/out")"
	printf 'X' | dd of="$T/ms/t" conv=notrunc status=none
	touch -r "$T/tree/x/t" "$T/ms/t"
	[ "$(rc lf verify rs --checksum)" = 1 ] || fail "verify rs --checksum after a change: $(cat "$T/out" "$T/err")"
	grep -qx "content: t" "$T/out" || fail "verify rs --checksum: $(cat "$T/out")"
	lf rule show rs | grep -qxF "  destination   root@127.0.0.1:$T/ms port=$PORT identity=$K/client known_hosts=$K/known_hosts" ||
		fail "show rs: $(lf rule show rs)"
	lf rule rm rs >/dev/null
else
	echo "cli_rule_status: sshd, ssh or rsync missing: verify RULE over ssh not tested"
fi

# ---- disable / enable -----------------------------------------------------------------
lf rule disable r3 >/dev/null
wait_for "grep -q 'rule r3: stopped (disabled)' '$T/daemon.log'"
status_row r3 | grep -Eq '^r3 +disabled ' || fail "status of disabled r3: $(lf rule status r3)"
echo five >"$T/tree/a/f5"
[ "$(rc lf rule enable r3)" = 0 ] || fail "enable r3: $(cat "$T/err")"
grep -Eq '^rule r3: running \(its destinations were synced before\)$' "$T/out" || fail "enable r3 said: $(cat "$T/out")"
wait_for "[ -f '$T/m3/f5' ]" 200

# ---- loafred stopped ------------------------------------------------------------------
stop_daemon
status_row r1 | grep -Eq "^r1 +not-running .* loafred is not running$" || fail "status after stop: $(lf rule status r1)"
echo "cli_rule_status: ok"
