#!/usr/bin/env bash
# `loafre bench index` on a tiny tree: every figure line is printed, loafre's
# answers equal GNU find's, GNU du's and plocate's on the same tree (the
# counts and lines the bench compares, not its timings), --keep-tree keeps
# the tree and the next run reuses it, nothing else is left behind (also
# when interrupted), bad options are one-line usage errors.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bench_lib.sh"

N=2000
TREE="$T/loafre-bench-index-tree-$N"
run_bench index -n $N --dir "$T"

R='[0-9.]+'
expect_line "^index bench: $N files, ingest of $N records, [0-9]+ CPUs, load average "
expect_line "^ingest: apply \(no fetch, attributes from the records\): $R records/s "
expect_line "^ingest: apply \(no fetch, synthetic attributes, refreshed\): $R records/s "
expect_line "^ingest: apply \(fetch, 4 threads\): $R records/s, $R fetches/s "
expect_line "^tree: making $N files in [0-9]+ directories under $TREE$"
expect_line "^tree: $N files, [0-9]+ directories, [0-9]+ symlinks, [0-9]+ hard links, depth [0-9]+, made in "
expect_line "^scan: $R entries/s \([0-9]+ entries, [0-9]+ directories in "
expect_line "^size: $R bytes/entry "
# the queries: loafre's answers equal GNU's (and the result counts agree)
expect_line "^query find -name 'solver_1\*\.c': GNU find $R ms, loafre find $R ms \(process wall time; the store's select $R ms in-process, [0-9]+ candidates\): ${R}x; ([0-9]+) results, GNU \1: equal$"
expect_line "^query find -size \+1M -user [0-9]+: GNU find $R ms, loafre find $R ms .*; ([0-9]+) results, GNU \1: equal$"
expect_line "^query du -s: GNU du $R ms, loafre du $R ms \(process wall time; the root's rollup row $R ms in-process\): ${R}x; [0-9]+ KiB, equal$"
# the size+user question has results on this tree (the generator's owners)
grep -qE "^query find -size \+1M -user [0-9]+: .*; [1-9][0-9]* results" "$T/bench.out" ||
	fail "find -size +1M -user found nothing: the tree lacks owners or sizes"
if command -v plocate >/dev/null && command -v updatedb.plocate >/dev/null; then
	expect_line "^query locate solver_1234: plocate $R ms \(its database by updatedb.plocate in $R ms\), loafre locate $R ms .*; ([0-9]+) results, plocate \1: equal$"
	expect_line "^  locate within 2x of plocate: $R ms vs $R ms = ${R}x: (yes|no) "
fi
expect_line "^summary \(targets of issue 5, [0-9]+ CPUs, load average "
expect_line "^  ingest without attribute fetch >= 300 k records/s: $R records/s: (yes|no)$"
expect_line "^  find by name >= 20x faster than GNU find: ${R}x: (yes|no)$"
expect_line "^  find by size\+user >= 20x faster than GNU find: ${R}x: (yes|no)$"
expect_line "^  du -s of the root <= 10 ms: $R ms \(process; $R ms in-process\): (yes|no)$"
expect_line "^  answers equal to GNU find, GNU du and plocate: yes$"
expect_nothing_left "bench index"

# --keep-tree: the tree and its marker stay; the next run reuses them; a run
# without --keep-tree reuses it too and removes it.
"$LOAFRE" bench index -n 500 --ingest 100 --keep-tree --dir "$T" >"$T/k1.out"
[ -d "$T/loafre-bench-index-tree-500" ] || fail "--keep-tree did not keep the tree"
grep -q "^loafre-bench-index-tree 1 n=500 " "$T/loafre-bench-index-tree-500.done" ||
	fail "no marker: $(cat "$T/loafre-bench-index-tree-500.done" 2>&1)"
"$LOAFRE" bench index -n 500 --ingest 100 --dir "$T" >"$T/k2.out"
grep -qE "^tree: 500 files, .*: reused $T/loafre-bench-index-tree-500 \(its marker says complete\)$" \
	"$T/k2.out" || fail "the kept tree was not reused: $(grep '^tree' "$T/k2.out")"
grep -qx "  answers equal to GNU find, GNU du and plocate: yes" "$T/k2.out" ||
	fail "answers differ on the reused tree"
expect_nothing_left "a run without --keep-tree"
# a tree without its marker (an interrupted generation) is made again
mkdir -p "$TREE/junk"
"$LOAFRE" bench index -n $N --ingest 100 --dir "$T" >"$T/k3.out"
grep -qE "^tree: $N files, .* made in " "$T/k3.out" || fail "an incomplete tree was reused"

# Interrupted: exit status 1, one line, nothing left behind.
interrupt_bench '^tree: making ' 0.5 index -n 200000 --ingest 100 --dir "$T"

# Bad options: one line, usage exit status.
expect_err "loafre bench index: bad -n '0' (1 to 100000000)" "$LOAFRE" bench index -n 0
expect_err "loafre bench index: bad --ingest 'x' (1 to 100000000)" "$LOAFRE" bench index --ingest x
expect_err "loafre bench index: option '--fsync' is not for 'bench index'" \
	"$LOAFRE" bench index --fsync none
echo "PASS"
