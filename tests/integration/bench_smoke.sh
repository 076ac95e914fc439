#!/usr/bin/env bash
# `loafre bench broker` on tiny sizes: every scenario runs, every record is
# delivered (the counts it prints, not its timings), nothing is left behind
# (temp directory, broker child), also when interrupted.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=20000
RSS=30000
RATE=20000 # x 0.5 s = 10000 live records in the latency scenario
"$LOAFRE" bench broker -n $N --rss-records $RSS --rate $RATE -d 0.5 --dir "$T" \
	>"$T/bench.out" 2>"$T/bench.err" || fail "bench broker exited $?: $(cat "$T/bench.err")"
cat "$T/bench.out"
[ ! -s "$T/bench.err" ] || fail "bench broker wrote on stderr: $(cat "$T/bench.err")"

# expect_delivered PREFIX WANT: the line starting with "broker PREFIX:" says
# WANT of WANT records were delivered and acked.
expect_delivered() {
	local line
	line=$(grep -F "broker $1: " "$T/bench.out" | grep -F 'records delivered and acked') ||
		fail "no delivery line for '$1'"
	[ "$(printf '%s\n' "$line" | wc -l)" -eq 1 ] || fail "several delivery lines for '$1'"
	[[ "$line" == *": $2 of $2 records delivered and acked in "* ]] ||
		fail "'$1': expected $2 of $2 records delivered: $line"
}

# expect_ephemeral PREFIX K WANT: ephemeral reader K got all WANT live records.
expect_ephemeral() {
	grep -qF "broker $1: ephemeral reader $2: $3 of $3 live records received, 0 lost (gap)," \
		"$T/bench.out" || fail "'$1': ephemeral reader $2 did not get $3 records"
}

expect_delivered "1 group x 1 member" $N
expect_delivered "1 group x 2 members" $N
expect_delivered "1 group x 4 members" $N
for g in 1 2 3 4; do
	expect_delivered "4 groups x 1 member: group bench04g0$g" $N
done
grep -qF "broker 4 groups x 1 member: all groups $((4 * N)) records in " "$T/bench.out" ||
	fail "no total for 4 groups"
# The group reads the preload and N/2 live records; the readers the live ones.
expect_delivered "1 group x 1 member + 2 ephemeral" $((N + N / 2))
expect_ephemeral "1 group x 1 member + 2 ephemeral" 1 $((N / 2))
expect_ephemeral "1 group x 1 member + 2 ephemeral" 2 $((N / 2))
expect_delivered "latency at $RATE records/s" 10000
expect_ephemeral "latency at $RATE records/s" 1 10000
grep -qE "^broker latency, group member: p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms \(10000 records\)$" \
	"$T/bench.out" || fail "no latency figures for the group member"
grep -qE "^broker latency, ephemeral readers: p50 .* \(20000 records\)$" "$T/bench.out" ||
	fail "no latency figures for the ephemeral readers"
expect_delivered "rss, 1 group x 1 member" $RSS
grep -qE "^broker rss: $RSS records pending \(member holding its 4096 credit unacked\): broker RSS [0-9.]+ MiB" \
	"$T/bench.out" || fail "no RSS figure with records pending"
[ "$(grep -c 'broker RSS peak (VmHWM) [0-9.]* MiB' "$T/bench.out")" -eq 7 ] ||
	fail "not one RSS figure per scenario"
grep -qx '  every record delivered: yes' "$T/bench.out" || fail "summary says not all delivered"
grep -q '^  one group with acks >= 1 M records/s: .*: \(yes\|no\)$' "$T/bench.out" ||
	fail "no summary against the one-group target"
[ -z "$(ls -d "$T"/loafre-bench-broker.* 2>/dev/null)" ] || fail "bench left its directory"
! pgrep -f -- "--dir $T" >/dev/null || fail "a broker process was left behind"

# One scenario, several members.
"$LOAFRE" bench broker -n 5000 --scenario members --members 3 --dir "$T" >"$T/bench.out"
expect_delivered "1 group x 3 members" 5000
! grep -q "1 group x 1 member" "$T/bench.out" || fail "--members 3 ran other member counts"

# Interrupted mid-scenario: exits 1, says so, leaves nothing behind.
"$LOAFRE" bench broker -n 1000 --scenario latency -d 60 --dir "$T" >"$T/int.out" 2>"$T/int.err" &
BENCH=$!
BG_PIDS+=("$BENCH")
wait_for "grep -q 'broker latency at 50000 records/s: 1 member' '$T/int.out'" 300
sleep 0.5
kill -INT "$BENCH"
rc=0
wait "$BENCH" || rc=$?
[ "$rc" -eq 1 ] || fail "interrupted bench exited $rc"
grep -qx "loafre bench broker: interrupted" "$T/int.err" || fail "stderr: $(cat "$T/int.err")"
[ -z "$(ls -d "$T"/loafre-bench-broker.* 2>/dev/null)" ] || fail "interrupted bench left its directory"
wait_for "! pgrep -f -- '--dir $T' >/dev/null" 50

# Bad options: one line, usage exit status.
expect_err "loafre bench broker: bad --scenario 'bogus' (members, groups, ephemeral, latency, rss or all, comma-separated)" \
	"$LOAFRE" bench broker --scenario bogus
expect_err "loafre bench broker: bad --members '0' (1 to 64)" "$LOAFRE" bench broker --members 0
expect_err "loafre bench broker: option '--fsync' is not for 'bench broker'" \
	"$LOAFRE" bench broker --fsync none
echo "PASS"
