#!/usr/bin/env bash
# loafre changelog / changelog_import: byte-identical round trip of a capture,
# STARTREC/ENDREC, --json, --renumber, --follow.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
write_conf </dev/null

golden >"$T/golden"
n=$(wc -l <"$T/golden")
last=$(tail -n1 "$T/golden" | cut -d' ' -f1)

lf changelog_import demo-MDT0000 <"$T/golden"
lf changelog demo-MDT0000 >"$T/out"
cmp "$T/golden" "$T/out" || fail "changelog output differs from the imported capture"

# The raw golden file with --renumber: records of unknown types are skipped
# (counted on stderr), the rest is stored as is.
if [ -n "$TEST_DATA_DIR" ] && [ -s "$TEST_DATA_DIR/golden.changelog" ]; then
	sed -i 's/^\(journal = \).*/\1journal-raw/' "$CONF"
	unknown=$(grep -c '^[^ ]* [^ ]*(null) ' "$TEST_DATA_DIR/golden.changelog" || true)
	lf changelog_import --renumber demo-MDT0000 <"$TEST_DATA_DIR/golden.changelog" 2>"$T/err"
	if [ "$unknown" -gt 0 ]; then
		[ "$(cat "$T/err")" = "changelog_import: $unknown records outside changelog_mask skipped" ] ||
			fail "raw golden import: $(cat "$T/err")"
	fi
	lf changelog demo-MDT0000 | cut -d' ' -f2- >"$T/a"
	grep -v '^[^ ]* [^ ]*(null) ' "$TEST_DATA_DIR/golden.changelog" | cut -d' ' -f2- >"$T/b"
	cmp "$T/a" "$T/b" || fail "raw golden import differs"
	sed -i 's/^\(journal = \).*/\1journal/' "$CONF"
fi

# STARTREC / ENDREC (inclusive; 0 = no end).
lf changelog demo-MDT0000 5 10 >"$T/out"
awk '$1 >= 5 && $1 <= 10' "$T/golden" | cmp - "$T/out" || fail "STARTREC 5 ENDREC 10"
lf changelog demo-MDT0000 $((last - 2)) >"$T/out"
awk -v s=$((last - 2)) '$1 >= s' "$T/golden" | cmp - "$T/out" || fail "STARTREC only"
lf changelog demo-MDT0000 3 0 >"$T/out"
awk '$1 >= 3' "$T/golden" | cmp - "$T/out" || fail "ENDREC 0"
lf changelog demo-MDT0000 0 1 >"$T/out"
head -n1 "$T/golden" | cmp - "$T/out" || fail "ENDREC 1"
lf changelog demo-MDT0000 $((last + 1)) >"$T/out"
[ ! -s "$T/out" ] || fail "STARTREC past the end printed records"

# --json: one object per line, same indices.
lf changelog --json demo-MDT0000 >"$T/json"
python3 - "$T/json" "$T/golden" <<'PY'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
want = [int(l.split(" ", 1)[0]) for l in open(sys.argv[2], encoding="utf-8", errors="replace")]
assert [o["index"] for o in objs] == want, "json indices differ"
for o in objs:
    assert isinstance(o["type"], str) and "tfid" in o and "time" in o, o
PY

# --renumber appends after the current index, same text otherwise.
lf changelog_import --renumber demo-MDT0000 <"$T/golden"
lf changelog demo-MDT0000 $((last + 1)) >"$T/out"
[ "$(wc -l <"$T/out")" -eq "$n" ] || fail "--renumber imported $(wc -l <"$T/out") records, not $n"
head -n1 "$T/out" | cut -d' ' -f2- >"$T/a"
head -n1 "$T/golden" | cut -d' ' -f2- >"$T/b"
cmp "$T/a" "$T/b" || fail "--renumber changed the record text"
[ "$(head -n1 "$T/out" | cut -d' ' -f1)" = $((last + 1)) ] || fail "--renumber index"
total=$((last + n))

# --follow sees records committed after it started; SIGINT ends it with 0.
"$LOAFRE" -c "$CONF" changelog -f demo-MDT0000 $((total - 1)) >"$T/follow" &
fpid=$!
BG_PIDS+=("$fpid")
wait_for "[ \$(wc -l <'$T/follow') -eq 2 ]"
head -n 3 "$T/golden" | lf changelog_import --renumber demo-MDT0000
wait_for "[ \$(wc -l <'$T/follow') -eq 5 ]"
kill -INT "$fpid"
rc=0
wait "$fpid" || rc=$?
[ "$rc" -eq 0 ] || fail "changelog -f exited $rc on SIGINT"
tail -n 3 "$T/follow" | cut -d' ' -f2- >"$T/a"
head -n 3 "$T/golden" | cut -d' ' -f2- >"$T/b"
cmp "$T/a" "$T/b" || fail "follow output differs"
[ "$(tail -n1 "$T/follow" | cut -d' ' -f1)" = $((total + 3)) ] || fail "follow indices"

# --follow with ENDREC stops there; SIGTERM also ends it with 0.
lf changelog --follow demo-MDT0000 1 2 >"$T/out"
[ "$(wc -l <"$T/out")" -eq 2 ] || fail "follow with ENDREC did not stop"
"$LOAFRE" -c "$CONF" changelog -f demo-MDT0000 >/dev/null &
fpid=$!
BG_PIDS+=("$fpid")
sleep 0.3
kill -TERM "$fpid"
rc=0
wait "$fpid" || rc=$?
[ "$rc" -eq 0 ] || fail "changelog -f exited $rc on SIGTERM"

# A closed pipe (EPIPE) ends it with 0.
rc=0
timeout 20 bash -c "'$LOAFRE' -c '$CONF' changelog -f demo-MDT0000 | head -n 1 >/dev/null; exit \${PIPESTATUS[0]}" || rc=$?
[ "$rc" -eq 0 ] || fail "changelog -f | head exited $rc"
echo ok
