# bench_lib.sh — shared by bench_index_smoke.sh and bench_repl_smoke.sh
# (sourced after lib.sh, not run): a `loafre bench` run and its output
# lines, what runs leave behind in $T, an interrupted run.

# run_bench KIND ARGS...: `loafre bench KIND ARGS...` succeeds with nothing on
# stderr; its output is in $T/bench.out (and printed).
run_bench() {
	"$LOAFRE" bench "$@" >"$T/bench.out" 2>"$T/bench.err" ||
		fail "bench $1 exited $?: $(cat "$T/bench.err")"
	cat "$T/bench.out"
	[ ! -s "$T/bench.err" ] || fail "bench $1 wrote on stderr: $(cat "$T/bench.err")"
}

# expect_line REGEX: exactly one line of $T/bench.out matches.
expect_line() {
	[ "$(grep -cE -- "$1" "$T/bench.out")" -eq 1 ] || fail "no single line matching '$1'"
}

# expect_nothing_left WHAT: no loafre-bench* file or directory is in $T (else
# "WHAT left: ...").
expect_nothing_left() {
	local left
	left=$(ls -A "$T" | grep -E '^loafre-bench' || true)
	[ -z "$left" ] || fail "$1 left: $left"
}

# interrupt_bench READY SECONDS KIND ARGS...: `loafre bench KIND ARGS...` in
# the background gets SIGINT SECONDS after a line of its output matches the
# regex READY: it exits 1 with "loafre bench KIND: interrupted", alone on
# stderr, and leaves nothing in $T.
interrupt_bench() {
	local ready=$1 secs=$2 bench rc=0
	shift 2
	"$LOAFRE" bench "$@" >"$T/int.out" 2>"$T/int.err" &
	bench=$!
	BG_PIDS+=("$bench")
	wait_for "grep -qE '$ready' '$T/int.out'" 600
	sleep "$secs"
	kill -INT "$bench"
	wait "$bench" || rc=$?
	[ "$rc" -eq 1 ] || fail "interrupted bench exited $rc"
	grep -qx "loafre bench $1: interrupted" "$T/int.err" || fail "stderr: $(cat "$T/int.err")"
	expect_nothing_left "the interrupted bench"
}
