#!/usr/bin/env bash
# changelog_register / _deregister / _users / _clear: exact lctl/lfs output;
# clear while loafred runs and while imports run concurrently.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
write_conf </dev/null
M=demo-MDT0000

# idle seconds vary: show them as (I)
users() { lf changelog_users "$@" $M | sed -E 's/\(([0-9]+)\)/(I)/'; }
row() { printf '%-24s %10s (I)%s\n' "$1" "$2" "${3:+ mask=$3}"; }
hdr() { printf 'current_index: %s\n%-24s %10s %s %s\n' "$1" ID index '(idle)' mask; }

expect_out "$M: Registered changelog userid 'cl1'" lf changelog_register $M
expect_out "$M: Registered changelog userid 'cl2-monitor'" lf changelog_register $M -u monitor
expect_out "cl3" lf changelog_register -n $M
expect_out "cl4-x" lf changelog_register $M -n -u x -m CREAT,UNLNK
expect_err "error: changelog_register: User exists" lf changelog_register $M -u monitor

expect_out "$(hdr 0; row cl1 0; row cl2-monitor 0; row cl3 0; row cl4-x 0 MARK,CREAT,UNLNK)" users

golden >"$T/golden"
last=$(tail -n1 "$T/golden" | cut -d' ' -f1)
lf changelog_import $M <"$T/golden"

expect_out "" lf changelog_clear $M cl1 10
expect_out "" lf changelog_clear $M cl2-monitor 0
expect_out "" lf changelog_clear $M cl1 10
expect_err "changelog_clear: record out of range: 5" lf changelog_clear $M cl1 5
expect_err "changelog_clear: record out of range: $((last + 1))" lf changelog_clear $M cl1 $((last + 1))
expect_err "changelog_clear: no changelog user: cl9" lf changelog_clear $M cl9 1
expect_err "changelog_clear: bad endrec 'x'" lf changelog_clear $M cl1 x
expect_out "$(hdr "$last"; row cl1 10; row cl2-monitor "$last"; row cl3 0; row cl4-x 0 MARK,CREAT,UNLNK)" users

lf changelog_users --json $M | python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
assert o["current_index"] == '"$last"', o
assert [u["id"] for u in o["users"]] == ["cl1", "cl2-monitor", "cl3", "cl4-x"], o
assert o["users"][0]["index"] == 10 and "mask" not in o["users"][0], o
assert o["users"][3]["mask"] == "MARK,CREAT,UNLNK", o
'

expect_out "$M: Deregistered changelog user #3" lf changelog_deregister $M cl3
expect_out "$M: Deregistered changelog user #2" lf changelog_deregister $M -u monitor
expect_out "$M: Deregistered changelog user #4" lf changelog_deregister $M 4
expect_err "error: changelog_deregister: User not found" lf changelog_deregister $M cl3
expect_err "error: changelog_deregister: User not found" lf changelog_deregister $M -u nobody
expect_err "error: Invalid argument: expect <ID> or cl<ID>[-name] got 'foo'" lf changelog_deregister $M foo
expect_out "$(hdr "$last"; row cl1 10)" users

# Clear while loafred runs and imports commit concurrently.
start_daemon
(
	for i in 1 2 3 4 5 6 7 8; do
		lf changelog_import --renumber $M <"$T/golden"
	done
) &
ipid=$!
BG_PIDS+=("$ipid")
n=$(wc -l <"$T/golden")
e=10
for i in $(seq 1 40); do
	e=$((e + 1))
	lf changelog_clear $M cl1 $e || fail "clear $e during imports"
done
wait "$ipid" || fail "concurrent import failed"
total=$((last + 8 * n))
lf changelog $M $((total - 2)) >"$T/out"
[ "$(wc -l <"$T/out")" -eq 3 ] || fail "records after concurrent imports: $(cut -c1-40 "$T/out")"
expect_out "" lf changelog_clear $M cl1 0
expect_out "$(hdr "$total"; row cl1 "$total")" users
stop_daemon
echo ok
