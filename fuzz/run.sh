#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# fuzz/run.sh BUILD SECONDS - run every built libFuzzer target
# (BUILD/fuzz/fuzz_*) for SECONDS each.
#
# Each target keeps its corpus in BUILD/fuzz/corpus-<name>, so a later run
# starts from what earlier runs found; the fixtures of the parser it tests
# are added as seeds every time (libFuzzer only writes to the first
# directory). Crash, leak and timeout reproducers land in BUILD/fuzz/, the
# full output in BUILD/fuzz/<name>.log. Prints one line per target and
# exits 1 if any target found something, 2 on usage errors or when no
# target is built.
set -eu

usage() {
	echo "usage: $0 BUILD SECONDS" >&2
	exit 2
}

[ $# -eq 2 ] || usage
BUILD=$1
SECONDS_EACH=$2
case $SECONDS_EACH in
'' | *[!0-9]*) usage ;;
esac
[ "$SECONDS_EACH" -gt 0 ] || usage

FUZZ=$BUILD/fuzz
# Targets written by different people may land at different times, so a
# missing one is reported and skipped rather than failing the whole run.
for name in fuzz_prom fuzz_config; do
	[ -x "$FUZZ/$name" ] ||
		echo "fuzz: $name: not built ($FUZZ/$name missing), skipped"
done

# Seeds per target: the fixtures of the format it parses.
seeds_of() {
	case $1 in
	fuzz_prom) echo tests/fixtures/metrics ;;
	fuzz_config) echo tests/fixtures/config ;;
	*) echo "" ;;
	esac
}

# "stat::number_of_executed_units: 12345" -> 12345
stat_of() {
	sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n 1
}

ran=0
failed=0
for bin in "$FUZZ"/fuzz_*; do
	# logs and corpora share the directory; only executables are targets
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		continue
	fi
	name=${bin##*/}
	corpus=$FUZZ/corpus-$name
	log=$FUZZ/$name.log
	seeds=$(seeds_of "$name")
	mkdir -p "$corpus"
	if [ -n "$seeds" ] && [ ! -d "$seeds" ]; then
		echo "fuzz: $name: seed directory $seeds missing, starting from the corpus alone"
		seeds=
	fi
	ran=$((ran + 1))

	echo "fuzz: $name: running for ${SECONDS_EACH}s (log: $log)"
	start=$(date +%s)
	# $seeds is one path or empty, so leaving it unquoted drops it cleanly.
	# shellcheck disable=SC2086
	if "$bin" -max_total_time="$SECONDS_EACH" -artifact_prefix="$FUZZ/" \
		-rss_limit_mb=2048 -print_final_stats=1 \
		"$corpus" $seeds >"$log" 2>&1; then
		rc=0
	else
		rc=$?
	fi
	secs=$(($(date +%s) - start))
	execs=$(stat_of number_of_executed_units "$log")
	speed=$(stat_of average_exec_per_sec "$log")

	if [ "$rc" -eq 0 ]; then
		result="ok, nothing found"
	else
		failed=$((failed + 1))
		# "Test unit written to BUILD/fuzz/crash-<sha1>"
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		what=$(grep -m 1 -o 'ERROR: [A-Za-z]*Sanitizer: [^ ]*\|ERROR: libFuzzer: [^ ]*\|runtime error: .*' "$log" || true)
		result="FOUND (exit $rc) ${what:-see log}${art:+; reproducer: $art}"
	fi
	printf 'fuzz: %-12s execs %s (%s/s) in %ss: %s\n' "$name" \
		"${execs:-?}" "${speed:-?}" "$secs" "$result"
done

if [ "$ran" -eq 0 ]; then
	echo "fuzz: no target built in $FUZZ (run make fuzz)" >&2
	exit 2
fi
if [ "$failed" -ne 0 ]; then
	echo "fuzz: $failed target(s) found a problem; reproduce with: $FUZZ/fuzz_<name> <reproducer>" >&2
	exit 1
fi
echo "fuzz: $ran target(s), nothing found"
