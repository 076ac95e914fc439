#!/bin/sh
# run.sh BUILDDIR SECONDS — run every libFuzzer target for SECONDS each on a
# temporary copy of its seed corpus (the repository is not modified).
# Prints "NAME: ok (N runs)" per fuzzer; exits non-zero on the first crash
# (the crash input and log are left in the temporary directory, whose path
# is printed).
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 BUILDDIR SECONDS" >&2
	exit 2
fi
build=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loafre-fuzz.XXXXXX") || exit 2
status=0
for pair in fuzz_text:text fuzz_record:record fuzz_modules:modules fuzz_broker_proto:broker_proto fuzz_curve_keys:curve_keys fuzz_findexpr:findexpr fuzz_cron:cron fuzz_rule_template:rule_template fuzz_repl_path:repl_path fuzz_repl_ssh_spec:repl_ssh_spec fuzz_repl_ssh_reply:repl_ssh_reply fuzz_failed_list:failed_list fuzz_stats_file:stats_file fuzz_trigram:trigram; do
	name=${pair%%:*}
	corpus=${pair#*:}
	exe=$build/tests/fuzz/$name
	if [ ! -x "$exe" ]; then
		echo "$name: missing $exe (configure with -Dfuzzing=true)" >&2
		status=2
		continue
	fi
	mkdir -p "$tmp/$corpus" "$tmp/$name-artifacts"
	cp "$here/corpus/$corpus/"* "$tmp/$corpus/" 2>/dev/null
	log=$tmp/$name.log
	if "$exe" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$tmp/$name-artifacts/" "$tmp/$corpus" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		echo "$name: ok (${runs:-?} runs)"
	else
		echo "$name: CRASH (see $log and $tmp/$name-artifacts/)"
		status=1
	fi
done
if [ $status -eq 0 ]; then
	rm -rf "$tmp"
fi
exit $status
