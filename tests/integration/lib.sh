# lib.sh — shared by the integration scripts (sourced, not run).
# Needs LOAFRE and LOAFRED (the built programs); makes a temp dir with a
# config for one local filesystem "demo" (changelog_mask = ALL so every
# record type is kept), cleans up and kills any daemon on exit.
: "${LOAFRE:?LOAFRE must name the loafre binary}"
: "${LOAFRED:?LOAFRED must name the loafred binary}"
: "${TEST_DATA_DIR:=}"

T=$(mktemp -d "${TMPDIR:-/tmp}/loafre-it.XXXXXX")
CONF=$T/loafre.conf
DAEMON_PID=
BG_PIDS=()

cleanup() {
	local p
	for p in "${BG_PIDS[@]}" $DAEMON_PID; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${BG_PIDS[@]}" $DAEMON_PID; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "FAIL: ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND (exit $?)" >&2' ERR

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

write_conf() { # [extra filesystem sections on stdin]
	cat >"$CONF" <<CONF
[loafred]
run_dir = run
commit_interval_ms = 5

[filesystem demo]
type = local
path = tree
journal = journal
changelog_mask = ALL
fsync = none
CONF
	if [ ! -t 0 ]; then
		cat >>"$CONF"
	fi
}

lf() { "$LOAFRE" -c "$CONF" "$@"; }

# expect_out EXPECTED CMD...: CMD succeeds with exactly EXPECTED on stdout.
expect_out() {
	local want=$1 got
	shift
	got=$("$@") || fail "'$*' exited $?"
	[ "$got" = "$want" ] || fail "'$*' printed:
$got
expected:
$want"
}

# expect_err EXPECTED-STDERR-LINE CMD...: CMD fails (non-zero), prints exactly
# one line, EXPECTED, on stderr (and nothing on stdout).
expect_err() {
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -ne 0 ] || fail "'$*' succeeded; expected failure '$want'"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*' stderr is not one line:
$(cat "$T/err")"
	[ "$(cat "$T/err")" = "$want" ] || fail "'$*' stderr:
$(cat "$T/err")
expected:
$want"
	[ ! -s "$T/out" ] || fail "'$*' printed on stdout: $(cat "$T/out")"
}

# expect_err_match REGEX CMD...: as expect_err, the line matching REGEX.
expect_err_match() {
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -ne 0 ] || fail "'$*' succeeded; expected failure matching '$want'"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*' stderr is not one line:
$(cat "$T/err")"
	grep -Eq -- "$want" "$T/err" || fail "'$*' stderr '$(cat "$T/err")' does not match '$want'"
}

# wait_for CONDITION-CMD [TENTHS]: polls until CMD succeeds.
wait_for() {
	local i n=${2:-100}
	for ((i = 0; i < n; i++)); do
		if eval "$1"; then
			return 0
		fi
		sleep 0.1
	done
	fail "timed out waiting for: $1"
}

start_daemon() {
	"$LOAFRED" -c "$CONF" "$@" 2>"$T/daemon.log" &
	DAEMON_PID=$!
	wait_for "[ -s '$T/run/loafred.pid' ] && grep -q 'started' '$T/daemon.log'"
}

stop_daemon() {
	local rc=0
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	return $rc
}

# golden: a capture to import — tests/data/golden.changelog (the codec's
# golden lines) made journal-shaped: records of unknown types (which no mask
# keeps) dropped and indices renumbered 1..N; else examples/sample.changelog.
golden() {
	if [ -n "$TEST_DATA_DIR" ] && [ -s "$TEST_DATA_DIR/golden.changelog" ]; then
		awk '$2 !~ /\(null\)$/' "$TEST_DATA_DIR/golden.changelog" |
			awk '{ sub(/^[^ ]+/, NR); print }'
	else
		cat "$(dirname "${BASH_SOURCE[0]}")/../../examples/sample.changelog"
	fi
}
