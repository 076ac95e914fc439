#!/usr/bin/env bash
# Bad input: one clear line on stderr, non-zero exit, nothing stored lost.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
write_conf </dev/null
M=demo-MDT0000

# Help, version, usage.
expect_out "loafre $("$LOAFRE" --version | cut -d' ' -f2)" "$LOAFRE" --version
"$LOAFRE" help | grep -q '^  changelog_import ' || fail "help lists no changelog_import"
for c in help changelog changelog_clear changelog_register changelog_deregister \
	changelog_users changelog_import bench; do
	# captured first: grep -q may exit before a long help is written (SIGPIPE)
	out=$("$LOAFRE" help $c) && grep -q 'Exit status' <<<"$out" || fail "help $c"
	out=$("$LOAFRE" $c --help) && grep -q "^usage: loafre $c" <<<"$out" || fail "$c --help"
done
expect_err "loafre: unknown command 'frobnicate' (see 'loafre help')" "$LOAFRE" frobnicate
expect_err "loafre changelog: unrecognized option '--bogus'" lf changelog --bogus $M
expect_err "loafre changelog: mdtname must be specified" lf changelog
expect_err "loafre changelog: bad startrec" lf changelog $M abc
expect_err "loafre changelog: bad endrec" lf changelog $M 1 x

# Config problems name the file (and line).
expect_err "loafre: $T/none.conf: cannot open configuration: No such file or directory" \
	"$LOAFRE" -c "$T/none.conf" changelog $M
printf '[filesystem demo]\npath = tree\nbogus = 1\n' >"$T/bad.conf"
expect_err "loafre: $T/bad.conf:3: unknown key 'bogus' in section [filesystem demo]" \
	"$LOAFRE" -c "$T/bad.conf" changelog $M
printf '[filesystem waytoolongname]\n' >"$T/bad.conf"
expect_err_match "^loafre: $T/bad.conf:1: invalid filesystem name 'waytoolongname'" \
	"$LOAFRE" -c "$T/bad.conf" changelog $M
# $LOAFRE_CONFIG is used without -c; -c wins over it.
expect_err "loafre: $T/bad.conf:1: invalid filesystem name 'waytoolongname' (1-8 characters of A-Z a-z 0-9 _ -)" \
	env LOAFRE_CONFIG="$T/bad.conf" "$LOAFRE" changelog $M
LOAFRE_CONFIG="$T/bad.conf" "$LOAFRE" -c "$CONF" changelog_register -n $M >/dev/null ||
	fail "-c does not override \$LOAFRE_CONFIG"

# Unknown / malformed MDT.
expect_err "loafre: unknown MDT 'nope-MDT0000' (no such filesystem in $CONF)" lf changelog nope-MDT0000
expect_err "loafre: unknown MDT 'demo-MDT0001' (no such filesystem in $CONF)" lf changelog demo-MDT0001
expect_err "loafre: invalid MDT name 'demo' (expected FSNAME-MDT0000)" lf changelog_users demo

# No journal yet, for a reader of a fresh filesystem.
printf '[filesystem fresh]\npath = t2\njournal = j2\n' >>"$CONF"
expect_err "loafre: no journal for fresh-MDT0000 at '$T/j2' (has loafred run yet? start it with -c $CONF)" \
	lf changelog fresh-MDT0000

golden >"$T/golden"
lf changelog_import $M <"$T/golden"
lf changelog $M >"$T/before"

# A malformed line anywhere: nothing committed.
bad() { # LINE-NUMBER SED-EXPR
	sed "$1$2" "$T/golden" | lf changelog_import --renumber $M
}
expect_err_match "^changelog_import: line 7: .+" bad 7 's/t=\[0x200000402:0x3:0x0\]/t=[0x2000zz402:0x3:0x0]/'
expect_err_match "^changelog_import: line 1: .+" bad 1 's/^1 00MARK /1 00MORK /'
n=$(wc -l <"$T/golden")
expect_err_match "^changelog_import: line $n: .+" bad "$n" 's/ 0x[0-9a-f]* t=/ t=/'
expect_err_match "^changelog_import: line 3: .+" bad 3 's/.*/garbage/'
# Indices that do not increase (without --renumber).
expect_err_match "^changelog_import: line 1: index 1 is not above the journal's current index" \
	lf changelog_import $M <"$T/golden"
printf '%s\n%s\n' "$(sed -n 2p "$T/golden" | sed 's/^2 /1000 /')" "$(sed -n 3p "$T/golden" | sed 's/^3 /999 /')" >"$T/dec"
expect_err "changelog_import: line 2: index 999 does not increase (previous 1000; use --renumber)" \
	lf changelog_import $M <"$T/dec"
lf changelog $M >"$T/after"
cmp "$T/before" "$T/after" || fail "a failed import changed the changelog"

# Readers and clears.
expect_err "changelog_clear: no changelog user: cl7" lf changelog_clear $M cl7 1
lf changelog_register -n $M >/dev/null
last=$(tail -n1 "$T/golden" | cut -d' ' -f1)
expect_err "changelog_clear: record out of range: $((last + 100))" lf changelog_clear $M cl1 $((last + 100))
expect_err_match "^error: changelog_register: " lf changelog_register $M -u 9bad
expect_err_match "^error: changelog_register: invalid mask 'BOGUS'" lf changelog_register $M -m BOGUS
expect_err "loafre changelog_deregister: give either ID or -u NAME" lf changelog_deregister $M
lf changelog $M >"$T/after"
cmp "$T/before" "$T/after" || fail "errors changed the changelog"

# Bench argument checks (the benchmarks themselves are not timed here).
expect_err "loafre bench: unknown benchmark 'disk' (codec, journal, watch, broker, index or replicate)" "$LOAFRE" bench disk
expect_err "loafre bench: bad --fsync 'maybe' (commit or none)" "$LOAFRE" bench journal --fsync maybe
"$LOAFRE" bench codec -n 1000 >"$T/out" || fail "bench codec"
[ -s "$T/out" ] || fail "bench codec printed nothing"
"$LOAFRE" bench journal -n 2000 --commit-ms 1 --fsync none --dir "$T" >"$T/out" || fail "bench journal"
[ -z "$(ls -d "$T"/loafre-bench.* 2>/dev/null)" ] || fail "bench journal left its directory"
echo ok
