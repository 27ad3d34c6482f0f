#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# fuzz/run.sh [--test] BUILD SECONDS - run every libFuzzer target
# (BUILD/fuzz/fuzz_<t>) over its corpus, then fuzz it for SECONDS.
#
# The corpus kept in the repository, fuzz/corpus/<t>/, is small and
# minimised (see fuzz/README.md); it holds the reproducers of what fuzzing
# found, so every run first executes each of its inputs once as a
# regression test. Then the target fuzzes for SECONDS with its dictionary
# (fuzz/<t>.dict), starting from the repository corpus and the test
# fixtures of the parser it tests. libFuzzer writes new inputs only into
# the first corpus directory, which is a scratch one, BUILD/fuzz/corpus-<t>
# (kept, so a later `make fuzz` goes on from there): nothing is written
# into the repository. Crash, leak and timeout reproducers land in
# BUILD/fuzz/, the full output in BUILD/fuzz/fuzz_<t>.log.
#
# --test (make test): every target must be built, an input that takes
# more than 10 s counts as a finding, and SECONDS may be 0 (the corpus
# alone). Prints one line per target and exits
# 1 if any target found something (or, with --test, is missing), 2 on usage
# errors or when no target is built.
set -eu

TARGETS="prom config addr"

usage() {
	echo "usage: $0 [--test] BUILD SECONDS" >&2
	exit 2
}

test_mode=
if [ "${1:-}" = --test ]; then
	test_mode=1
	shift
fi
[ $# -eq 2 ] || usage
BUILD=$1
SECONDS_EACH=$2
case $SECONDS_EACH in
'' | *[!0-9]*) usage ;;
esac
# 0 runs the corpus alone (a quick regression test)
[ "$SECONDS_EACH" -gt 0 ] || [ -n "$test_mode" ] || usage

FUZZ=$BUILD/fuzz
# The test fixtures of the format a target parses: seeds beside the corpus.
seeds_of() {
	case $1 in
	prom) echo tests/fixtures/metrics ;;
	config) echo tests/fixtures/config ;;
	*) echo "" ;;
	esac
}

# "stat::number_of_executed_units: 12345" -> 12345
stat_of() {
	sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n 1
}

# What a failed run found, from its log: the sanitizer's or libFuzzer's
# verdict and the reproducer it wrote.
finding() {
	what=$(grep -m 1 -o 'ERROR: [A-Za-z]*Sanitizer: [^ ]*\|ERROR: libFuzzer: [^ ]*\|runtime error: .*' "$1" || true)
	# "Test unit written to BUILD/fuzz/crash-<sha1>"
	art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$1" | tail -n 1)
	# a corpus input run alone: "Running: fuzz/corpus/<t>/<name>"
	[ -n "$art" ] || art=$(sed -n 's/^Running: \(.*\)$/\1/p' "$1" | tail -n 1)
	echo "${what:-see $1}${art:+; reproducer: $art}"
}

# UB aborts (-fno-sanitize-recover); say where. Leaks are found by
# libFuzzer's own check after each input that allocated more than it freed.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

ran=0
failed=0
for t in $TARGETS; do
	name=fuzz_$t
	bin=$FUZZ/$name
	if [ ! -x "$bin" ]; then
		echo "fuzz: $name: not built ($bin missing)${test_mode:+: FAILED}"
		[ -z "$test_mode" ] || failed=$((failed + 1))
		continue
	fi
	ran=$((ran + 1))
	repo=fuzz/corpus/$t
	scratch=$FUZZ/corpus-$name
	log=$FUZZ/$name.log
	seeds=$(seeds_of "$t")
	mkdir -p "$scratch"
	[ -d "$repo" ] || repo=
	if [ -n "$seeds" ] && [ ! -d "$seeds" ]; then
		echo "fuzz: $name: seed directory $seeds missing, starting without it"
		seeds=
	fi
	opts="-artifact_prefix=$FUZZ/ -rss_limit_mb=2048 -print_final_stats=1"
	[ -z "$test_mode" ] || opts="$opts -timeout=10"
	[ ! -f "fuzz/$t.dict" ] || opts="$opts -dict=fuzz/$t.dict"

	# 1. The repository corpus, each input once (files, not a directory:
	# libFuzzer runs them and stops, writing nothing).
	n=0
	if [ -n "$repo" ]; then
		n=$(find "$repo" -type f | wc -l)
	fi
	if [ "$n" -gt 0 ]; then
		# names are hex digests or plain words (fuzz/README.md), no
		# blanks, so the list splits cleanly
		# shellcheck disable=SC2046,SC2086
		if ! "$bin" $opts $(find "$repo" -type f | sort) >"$log" 2>&1; then
			failed=$((failed + 1))
			printf 'fuzz: %-12s corpus of %s inputs: FOUND %s\n' \
				"$name" "$n" "$(finding "$log")"
			continue
		fi
	fi

	if [ "$SECONDS_EACH" -eq 0 ]; then
		printf 'fuzz: %-12s corpus of %s inputs ok (no fuzzing: 0 s)\n' "$name" "$n"
		continue
	fi

	# 2. Fuzzing for SECONDS. $repo and $seeds are one path or empty, so
	# leaving them unquoted drops them cleanly.
	start=$(date +%s)
	# shellcheck disable=SC2086
	if "$bin" $opts -max_total_time="$SECONDS_EACH" \
		"$scratch" $repo $seeds >>"$log" 2>&1; then
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
		result="FOUND (exit $rc) $(finding "$log")"
	fi
	printf 'fuzz: %-12s corpus of %s inputs ok; fuzzed %s execs (%s/s) in %ss: %s\n' \
		"$name" "$n" "${execs:-?}" "${speed:-?}" "$secs" "$result"
done

if [ "$ran" -eq 0 ] && [ -z "$test_mode" ]; then
	echo "fuzz: no target built in $FUZZ (run make fuzz)" >&2
	exit 2
fi
if [ "$failed" -ne 0 ]; then
	echo "fuzz: $failed target(s) failed; reproduce with: $FUZZ/fuzz_<t> <reproducer>," \
		"and keep the reproducer in fuzz/corpus/<t>/ once fixed" >&2
	exit 1
fi
echo "fuzz: $ran target(s), nothing found"
