#!/usr/bin/env bash
# `loafre bench replicate` on small sizes: every figure line is printed for
# loafred, lsyncd (delay=0 and delay=15) and rsync, every destination was
# found equal to its source after every phase (the bench compares them and
# fails otherwise); a replicator that leaves a difference fails the bench
# with the difference named; --keep-tree keeps the (c) tree and the next
# run reuses it; an interrupted run leaves no process or directory behind;
# bad options are one-line usage errors. No timing is checked.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bench_lib.sh"

command -v lsyncd >/dev/null || fail "lsyncd is not installed (tools/install-deps)"
command -v rsync >/dev/null || fail "rsync is not installed (tools/install-deps)"

run_bench replicate -n 2000 --duration 2 --storm 200 --dir "$T" --loafred "$LOAFRED"

R='[0-9]+(\.[0-9]+)?'
expect_line "^replicate bench: loafred .*; lsyncd [0-9.]+ \(delay=0 and delay=15\); rsync [0-9.]+; [0-9]+ CPUs, load average "
expect_line "^workload: \(a\) 2000 ops/s for 2 s, \(b\) 200 creates, \(c\) 100 changes in 2000 files; "
for tool in 'loafre' 'lsyncd\(delay=0\)' 'lsyncd\(delay=15\)'; do
	expect_line "^$tool: ready $R s after its start "
	# 2000 ops/s for 2 s: 4000 operations; each arrived or was superseded;
	# the destination was compared equal to the source
	expect_line "^$tool \(a\): 4000 operations at $R/s, [0-9]+ arrived \([0-9]+ superseded before they reached the destination\), lag p50 $R ms, p99 $R ms, max $R ms; destination equal to the source $R s after the last operation; CPU $R s$"
	expect_line "^$tool \(a\): lag p99 by second of the workload \(ms\):( ([0-9]+|-))+$"
	expect_line "^$tool \(b\): 200 creates in $R s, all at the destination $R s after the last one(| \(.*\)); destination equal to the source$"
done
# loafre's operations all arrive (nothing of the schedule is superseded by a
# delay 0 replicator that keeps up at this size... unless the machine is
# very slow: then at least most of them)
arrived=$(sed -nE 's/^loafre \(a\): 4000 operations at [0-9.]+\/s, ([0-9]+) arrived.*/\1/p' "$T/bench.out")
[ "$arrived" -ge 2000 ] || fail "loafre: only $arrived of 4000 operations seen arriving"
expect_line "^rsync \(b\): one rsync -a --delete pass after the storm: $R s \(CPU $R s\); destination equal to the source$"
expect_line "^tree: making 2000 files in 20 directories under $T/loafre-bench-repl-tree-2000$"
expect_line "^tree: 2000 files in 20 directories made in $R s$"
expect_line "^rsync \(c\): initial rsync -a --delete of the tree $R s \(CPU $R s\)$"
for tool in 'loafre' 'lsyncd\(delay=0\)'; do
	expect_line "^$tool \(c\): initial sync of the tree \(start to a probe file's arrival\) $R s$"
	expect_line "^$tool \(c\): 100 changes at the destination $R s after the last one \(CPU $R s\); destination equal to the source \(2[0-9]{3} entries compared\)$"
done
expect_line "^rsync \(c\): one rsync -a --delete full pass $R s \(CPU $R s\); destination equal to the source \(2[0-9]{3} entries compared\)$"
expect_line "^summary \(issue 6, section 6; [0-9]+ CPUs, load average "
expect_line "^\(a\) lag p50 at 2000 ops/s for 2 s: loafre $R ms, lsyncd\(delay=0\) $R ms, ratio ${R}x; lsyncd\(delay=15\) $R ms$"
expect_line "^\(a\) lag p99 at 2000 ops/s for 2 s: loafre $R ms, lsyncd\(delay=0\) $R ms, ratio ${R}x; lsyncd\(delay=15\) $R ms$"
expect_line "^\(b\) storm of 200 creates, last create to all at the destination: loafre $R s, lsyncd\(delay=0\) $R s, ratio (${R}x|-); lsyncd\(delay=15\) $R s; rsync -a --delete pass $R s$"
expect_line "^\(c\) converge after 100 changes in 2000 files: loafre $R s, rsync -a --delete full pass $R s, ratio (${R}x|-); lsyncd\(delay=0\) $R s$"
expect_line "^\(d\) CPU seconds \(user\+sys, children included\) per 10 k operations of \(a\): loafre $R s, lsyncd\(delay=0\) $R s, ratio (${R}x|-); lsyncd\(delay=15\) $R s$"
expect_line "^  lag p99 <= 250 ms: $R ms: (yes|no)$"
expect_line "^  storm complete <= 0.5 s after the last create: $R s: (yes|no)$"
expect_line "^  converge >= 100x faster than rsync's full pass: (${R}x|-): (yes|no)$"
expect_line "^reproduce: .*loafre bench replicate -n 2000 --ops-rate 2000 --duration 2 --storm 200 --only a,b,c,d --dir $T$"
expect_nothing_left "bench replicate"

# A replicator that never copies files named f1*: the bench's own compare
# finds the difference and fails, naming it (a stand-in loafred: rsync in a
# loop, from the source and destination of the configuration it is given).
cat >"$T/badrepl" <<'SH'
#!/usr/bin/env bash
conf=$2
src=$(sed -n 's/^path = //p' "$conf")
dst=$(sed -n 's/^destination = //p' "$conf")
while :; do
	rsync -a --delete --exclude 'f1*' "$src/" "$dst/"
	sleep 0.1
done
SH
chmod +x "$T/badrepl"
rc=0
"$LOAFRE" bench replicate --only a --no-lsyncd --duration 1 --settle-timeout 3 --dir "$T" \
	--loafred "$T/badrepl" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a replicator leaving differences: exit $rc, expected 1"
grep -qE "^loafre bench replicate: loafre: \(a\): the destination still differs from the source 3 s after the last operation: missing at the destination: \./a/d[0-9]+/f1" \
	"$T/bad.err" || fail "the difference is not named: $(cat "$T/bad.err")"
grep -qx "loafre bench replicate: failed (see above)" "$T/bad.err" || fail "no failure line"
grep -qE "^  lag p99 <= 250 ms: loafre failed: no$" "$T/bad.out" || fail "summary: $(cat "$T/bad.out")"
expect_nothing_left "the failed bench"
! pgrep -f "$T/badrepl" >/dev/null || fail "the stand-in replicator is still running"

# --keep-tree: the (c) tree and its marker stay; the next run reuses them.
"$LOAFRE" bench replicate --only c -n 300 --no-lsyncd --keep-tree --dir "$T" \
	--loafred "$LOAFRED" >"$T/k1.out"
grep -q "^loafre-bench-repl-tree 1 n=300 " "$T/loafre-bench-repl-tree-300.done" ||
	fail "no marker: $(cat "$T/loafre-bench-repl-tree-300.done" 2>&1)"
"$LOAFRE" bench replicate --only c -n 300 --no-lsyncd --dir "$T" --loafred "$LOAFRED" >"$T/k2.out"
grep -qx "tree: 300 files in 3 directories: reused $T/loafre-bench-repl-tree-300 (its marker says complete)" \
	"$T/k2.out" || fail "the kept tree was not reused: $(grep '^tree' "$T/k2.out")"
grep -qE "^loafre \(c\): 100 changes at the destination .*; destination equal to the source" "$T/k2.out" ||
	fail "(c) on the reused tree: $(cat "$T/k2.out")"
expect_nothing_left "a run without --keep-tree"

# Interrupted: exit status 1, one line, no replicator and no directory left.
interrupt_bench '^loafre: ready ' 1 replicate --only a,b --duration 30 --dir "$T" \
	--loafred "$LOAFRED"
! pgrep -f "$T/loafre-bench-repl" >/dev/null || fail "a replicator is still running"

# Bad options: one line, usage exit status.
expect_err "loafre bench replicate: bad -n '0' (100 to 100000000)" "$LOAFRE" bench replicate -n 0
expect_err "loafre bench replicate: bad --only 'x' (letters a, b, c, d separated by commas)" \
	"$LOAFRE" bench replicate --only x
expect_err "loafre bench replicate: bad --storm '0' (1 to 10000000)" \
	"$LOAFRE" bench replicate --storm 0
expect_err "loafre bench replicate: bad --ops-rate '0' (1 to 1000000)" \
	"$LOAFRE" bench replicate --ops-rate 0
expect_err "loafre bench replicate: option '--fsync' is not for 'bench replicate'" \
	"$LOAFRE" bench replicate --fsync none
echo "PASS"
