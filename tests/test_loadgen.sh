#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Integration test of the load generator (tools/loadgen) against two
# simulated GPU workers (tools/gpusim).  Everything runs on 127.0.0.1 inside
# a private network namespace; needs root (ip netns) and python3.
# Usage: tests/test_loadgen.sh [path/to/loadgen [path/to/gpusim]]
#        (default build/tools/loadgen and build/tools/gpusim)
set -u

LG=${1:-build/tools/loadgen}
SIM=${2:-build/tools/gpusim}
NS=lg-$$
PORT=$((20000 + RANDOM % 19000))	# below NS's ephemeral ports (nstest.sh)
P1=$PORT
P2=$((PORT + 1))
DEAD=$((PORT + 2))	# nothing listens here
# shellcheck source=tests/nstest.sh
. "$(dirname "$0")/nstest.sh"
url() { echo "http://127.0.0.1:$1${2:-/v1/completions}"; }
# lg ARGS...: run loadgen in the namespace, bounded by timeout(1) so a hung
# run fails the test instead of stalling it; stdout to $TMP/out, rc in RC
lg() {
	timeout 20 ip netns exec "$NS" "$LG" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
}
# jq-ish: evaluate a python expression over the JSON in $TMP/out as j
jv() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/out" "$1" 2>/dev/null; }
# jcheck DESC EXPR [DESC EXPR]...: a check per pair, passing when the python
# EXPR over the JSON in $TMP/out (as j) is True; all pairs in one python run,
# as its start-up is what makes a check slow.  {EXPR} in DESC shows a value.
jcheck() {
	local r n=0
	while IFS= read -r r; do
		n=$((n + 1))
		case $r in
		"ok "*) ok "${r#ok }" ;;
		*) bad "${r#* }" ;;
		esac
	done < <(python3 -c '
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    j = None
a = sys.argv[2:]
for d, x in zip(a[0::2], a[1::2]):
    try:
        d = eval("f" + repr(d))
    except Exception:
        pass
    try:
        r = eval(x) is True
    except Exception:
        r = False
    print(("ok " if r else "bad ") + d.replace("\n", " "))
' "$TMP/out" "$@" 2>/dev/null)
	[ "$n" = $(($# / 2)) ] || bad "jcheck: $((($# / 2) - n)) checks not evaluated (python3?)"
}
# prompt_tokens PORT: the worker's prefill tokens so far (its vllm counter)
prompt_tokens() {
	nx curl -s --max-time 2 "$(url "$1" /metrics)" |
		awk '/^vllm:prompt_tokens_total/ { sub(/\.0$/, "", $2); print $2 }'
}
# one_error [TEXT]: the last run failed with exit 2, no output and one line
# on stderr, "Error: ..." (containing TEXT)
one_error() {
	[ "$RC" = 2 ] && [ ! -s "$TMP/out" ] && [ "$(wc -l <"$TMP/err")" = 1 ] &&
		[ "$(grep -c '^Error: ' "$TMP/err")" = 1 ] && grep -qF -- "${1:-Error: }" "$TMP/err"
}

# wait_up PORT: poll until the worker answers /health (at most ~5 s)
wait_up() {
	for _ in $(seq 50); do
		[ "$(nx curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$(url "$1" /health)")" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

[ -x "$LG" ] || { echo "no binary $LG" >&2; exit 1; }
[ -x "$SIM" ] || { echo "no binary $SIM" >&2; exit 1; }
nstest_ns_up || exit 1

# 1 ms of prefill per prompt token: 16 prompt tokens give TTFT >= 16 ms,
# a lower bound that holds however slow the machine is.
for p in "$P1:w1" "$P2:w2"; do
	ip netns exec "$NS" "$SIM" --port "${p%%:*}" --name "${p#*:}" --token-ms 5 \
		--prefill-us-per-token 1000 --batch 8 2>>"$TMP/log" &
	PIDS+=($!)
done
check "workers up" wait_up "$P1"
wait_up "$P2"

echo "# closed loop"
lg --url "$(url $P1)" --concurrency 4 --requests 40 --prompt-tokens 16 \
	--output-tokens 8 --dist fixed --slo-ms 60000 --json
check "closed: exit 0 (rc $RC)" [ "$RC" = 0 ]
jcheck "closed: JSON parses" 'isinstance(j, dict)' \
	"closed: fields present" 'all(k in j for k in ("outcomes","backends","ttft_ms","latency_ms","tokens_per_s","requests","dropped","output_tokens"))' \
	"closed: 40 requests, 40 ok" 'j["requests"] == 40 and j["outcomes"]["ok"] == 40' \
	"closed: no errors" 'sum(j["outcomes"].values()) == 40 and j["dropped"] == 0' \
	"closed: backend w1 served all 40" 'j["backends"] == {"w1": {"requests": 40, "ok": 40}}' \
	"closed: TTFT percentiles present" 'all(isinstance(j["ttft_ms"][k], float) for k in ("p50","p90","p95","p99","p99.9"))' \
	"closed: percentiles ordered" 'j["ttft_ms"]["p50"] <= j["ttft_ms"]["p90"] <= j["ttft_ms"]["p95"] <= j["ttft_ms"]["p99"] <= j["ttft_ms"]["p99.9"]' \
	'closed: TTFT p50 {j["ttft_ms"]["p50"]} ms >= 15 (prefill)' 'j["ttft_ms"]["p50"] >= 15' \
	'closed: latency p50 {j["latency_ms"]["p50"]} ms >= 50 (16 ms prefill + 8 tokens of 5 ms)' 'j["latency_ms"]["p50"] >= 50' \
	"closed: latency >= TTFT" 'j["latency_ms"]["min"] >= j["ttft_ms"]["min"]' \
	"closed: tokens/s present and > 0" 'j["tokens_per_s"]["n"] == 40 and j["tokens_per_s"]["p50"] > 0' \
	"closed: SLO 60 s, all 40 good, goodput 1" 'j["slo_ms"] == 60000 and j["good"] == 40 and j["goodput"] == 1' \
	"closed: all ok, so the all-arrivals percentiles are the ok-only ones" \
	'j["ttft_all_ms"]["n"] == 40 and all(j["ttft_all_ms"][k] == j["ttft_ms"][k] for k in ("p50","p90","p95","p99"))' \
	"closed: no --phase, no phases; no --trace, trace null" 'j["phases"] == [] and j["trace"] is None' \
	"tokens: 320 received = 40 x 8 asked" 'j["output_tokens"] == 320 and j["requested_tokens"] == 320 and j["short_outputs"] == 0'

echo "# token counts"
lg --url "$(url $P2 /v1/chat/completions)" --chat --new-conn --concurrency 3 \
	--requests 12 --prompt-tokens 8 --output-tokens 6:20 --dist uniform --seed 7 --json
want=$(jv 'j["requested_tokens"]')
jcheck "chat, new-conn: 12 ok from w2" 'j["outcomes"]["ok"] == 12 and j["backends"]["w2"]["requests"] == 12' \
	'chat, uniform: received = asked ({j["output_tokens"]})' 'j["output_tokens"] == j["requested_tokens"] and j["short_outputs"] == 0'
lg --url "$(url $P2 /v1/chat/completions)" --chat --concurrency 2 \
	--requests 12 --prompt-tokens 8 --output-tokens 6:20 --dist uniform --seed 7 --json
jcheck "seed: same seed, same lengths ($want tokens)" "j['requested_tokens'] == $want"
lg --url "$(url $P1)" --requests 3 --output-tokens 4 --dist fixed --phase all@0
check "text report: table with p95 and p99.9 columns" grep -Eq ' p95 .* p99.9 ' "$TMP/out"
check "text report: ttft_ms row" grep -Eq '^ttft_ms +3 ' "$TMP/out"
check "text report: goodput line" grep -Eq '^goodput 1.0000 \(3 good of 3 arrivals' "$TMP/out"
check "text report: all-arrivals beside ok-only TTFT" grep -q 'all arrivals: .* ok only: ' "$TMP/out"
check "text report: phase table with phase 'all'" grep -Eq '^all +0.000 +- +3 +3 +3 ' "$TMP/out"

echo "# scoring: goodput and TTFT over all arrivals"
# 16 prompt tokens take 16 ms to prefill: nothing meets 1 ms
lg --url "$(url $P1)" --concurrency 4 --requests 4 --prompt-tokens 16 \
	--output-tokens 2 --dist fixed --slo-ms 1 --json
jcheck "SLO 1 ms: 4 ok but none good, goodput 0" 'j["outcomes"]["ok"] == 4 and j["good"] == 0 and j["goodput"] == 0' \
	'SLO 1 ms: ok requests still have a finite all-arrivals TTFT ({j["ttft_all_ms"]["p99"]})' \
	'isinstance(j["ttft_all_ms"]["p99"], float)'

echo "# refused"
lg --url "$(url $DEAD)" --concurrency 2 --requests 20 --json
check "refused: exit 0 (rc $RC)" [ "$RC" = 0 ]
jcheck "refused: all 20 counted as refused" 'j["outcomes"]["refused"] == 20 and j["outcomes"]["ok"] == 0' \
	"refused: all 20 at connect (the SYN got a RST)" 'j["refused_at_connect"] == 20' \
	"refused: no TTFT samples" 'j["ttft_ms"]["n"] == 0 and j["ttft_ms"]["p50"] is None' \
	"refused: goodput 0, all 20 arrivals infinite" \
	'j["good"] == 0 and j["goodput"] == 0 and j["ttft_all_ms"] == {"n": 20, "p50": "inf", "p90": "inf", "p95": "inf", "p99": "inf"}'

echo "# open loop"
lg --url "$(url $P2)" --rate 20 --duration 2 --prompt-tokens 4 --output-tokens 4 \
	--dist fixed --json --progress
jcheck 'open: rate 20 for 2 s started {j["requests"]} requests (20..60)' '20 <= j["requests"] <= 60' \
	"open: all ok" 'j["outcomes"]["ok"] == j["requests"]'
check "open: progress lines on stderr" grep -q 'inflight' "$TMP/err"
lg --url "$(url $P2)" --rate 20 --arrivals fixed --duration 2 --output-tokens 4 --json
jcheck 'open fixed: {j["requests"]} requests (20..60)' '20 <= j["requests"] <= 60'
# 4 slots, 100 arrivals/s of 0.5 s requests: most arrivals must be dropped
lg --url "$(url $P1)" --rate 100 --duration 1 --max-inflight 4 \
	--output-tokens 100 --dist fixed --json
jcheck 'open: over --max-inflight counted as dropped ({j["dropped"]})' \
	'j["dropped"] > 0 and j["requests"] <= 40 and j["arrivals_total"] == j["requests"] + j["dropped"]' \
	'open: goodput {j["goodput"]} = good / all arrivals, dropped ones included' \
	'j["good"] <= j["outcomes"]["ok"] and abs(j["goodput"] - j["good"] / j["arrivals_total"]) < 1e-6' \
	"open: dropped arrivals make the all-arrivals p99 inf, the ok-only p99 stays finite" \
	'j["ttft_all_ms"]["n"] == j["arrivals_total"] and j["ttft_all_ms"]["p99"] == "inf" and isinstance(j["ttft_ms"]["p99"], float)'

echo "# phases"
# fixed arrivals every 25 ms for 0.5 s: 20, the first 10 before 0.25 s
lg --url "$(url $P2)" --rate 40 --arrivals fixed --duration 0.5 --prompt-tokens 4 \
	--output-tokens 2 --dist fixed --phase warm@0 --phase hot@0.25 --json
jcheck "phases: two, named, bounds chained" \
	'[(p["name"], p["start_s"], p["end_s"]) for p in j["phases"]] == [("warm", 0, 0.25), ("hot", 0.25, None)]' \
	'phases: arrivals {[p["arrivals"] for p in j["phases"]]} about even, summing to {j["arrivals_total"]}' \
	'sum(p["arrivals"] for p in j["phases"]) == j["arrivals_total"] == 20 and all(9 <= p["arrivals"] <= 11 for p in j["phases"])' \
	"phases: ok, good, errors and samples add up" \
	'sum(p["ok"] for p in j["phases"]) == j["outcomes"]["ok"] and sum(p["good"] for p in j["phases"]) == j["good"] and all(p["errors"] == p["arrivals"] - p["ok"] and p["ttft_all_ms"]["n"] == p["arrivals"] and p["ttft_ms"]["n"] == p["ok"] for p in j["phases"])' \
	"phases: goodput and percentiles per phase" \
	'all(p["goodput"] == 1 and isinstance(p["ttft_all_ms"]["p99"], float) and p["ttft_ms"]["p50"] <= p["ttft_ms"]["p95"] for p in j["phases"])'

echo "# trace replay"
# tests/fixtures/trace/small.csv: 12 made-up rows in the Azure trace format
# over 1.2 s (row 10 at +1.0 s, rows 0-6 before +0.4 s, rows 7-11 from +0.5 s)
TR=$(dirname "$0")/fixtures/trace/small.csv
col() { # col N FIRST LAST [SCALE]: sum of max(1, round(column N x SCALE)) over data rows FIRST..LAST (from 0)
	awk -F, -v c="$1" -v a="$2" -v b="$3" -v f="${4:-1}" \
		'NR > 1 && NR - 2 >= a && NR - 2 <= b { x = int($c * f + 0.5); s += x < 1 ? 1 : x } END { print s }' "$TR"
}
before=$(prompt_tokens "$P2")
lg --url "$(url $P2)" --trace "$TR" --trace-rate 20 --duration 0.5 \
	--phase early@0 --phase late@0.2 --json
after=$(prompt_tokens "$P2")
check "trace: exit 0 (rc $RC)" [ "$RC" = 0 ]
jcheck "trace: mode trace at 20/s" 'j["mode"] == "trace" and j["rate"] == 20 and j["arrivals"] == "trace"' \
	"trace: 20/s for 0.5 s: 10 arrivals, 10 ok" 'j["arrivals_total"] == 10 and j["requests"] == 10 and j["outcomes"]["ok"] == 10' \
	"trace: rows 12, used 10, not ended" \
	'j["trace"]["rows"] == 12 and j["trace"]["used"] == 10 and j["trace"]["wanted"] == 10 and j["trace"]["file_ended"] is False' \
	'trace: time scale {j["trace"]["time_scale"]} = 0.5 s / 1.0 trace s' 'abs(j["trace"]["time_scale"] - 0.5) < 1e-9' \
	"trace: max_tokens = GeneratedTokens ($(col 3 0 9) tokens asked, {j['output_tokens']} received)" \
	"j['requested_tokens'] == $(col 3 0 9) == j['output_tokens'] and j['short_outputs'] == 0" \
	"trace: token means in JSON" \
	"abs(j['trace']['prompt_tokens_mean'] - $(col 2 0 9) / 10) < 1e-3 and abs(j['trace']['output_tokens_mean'] - $(col 3 0 9) / 10) < 1e-3" \
	"trace: phases in replay seconds: 7 arrivals before 0.2 s, 3 after" '[p["arrivals"] for p in j["phases"]] == [7, 3]'
check "trace: prompts = ContextTokens ($(col 2 0 9) tokens; the worker prefilled $((after - before)))" \
	[ "$((after - before))" = "$(col 2 0 9)" ]

before=$(prompt_tokens "$P2")
lg --url "$(url $P2)" --trace "$TR" --trace-start 0.5 --trace-rate 40 --duration 0.5 \
	--tokens-scale 0.5 --json
after=$(prompt_tokens "$P2")
jcheck "trace end: 5 rows from +0.5 s of the 20 asked for, file_ended" \
	'j["trace"]["used"] == 5 and j["trace"]["wanted"] == 20 and j["trace"]["file_ended"] is True and j["arrivals_total"] == 5' \
	"trace end: the 5 keep rate 40/s (time scale 0.125 s / 0.875 trace s)" 'abs(j["trace"]["time_scale"] - 0.125 / 0.875) < 1e-9' \
	"tokens-scale 0.5: max_tokens max(1, round(n/2)), $(col 3 7 11 0.5) tokens" \
	"j['requested_tokens'] == $(col 3 7 11 0.5) == j['output_tokens'] and j['trace']['tokens_scale'] == 0.5"
check "trace end: said so on stderr" grep -q 'not the 20 asked for' "$TMP/err"
check "tokens-scale 0.5: prompts $(col 2 7 11 0.5) tokens (the worker prefilled $((after - before)))" \
	[ "$((after - before))" = "$(col 2 7 11 0.5)" ]

# the trace's own rate: 11 gaps in 1.2 s; 3 requests span 0.125 trace s
lg --url "$(url $P2)" --trace "$TR" --requests 3 --json
jcheck 'trace: default rate {j["trace"]["rate"]} = the file'"'"'s mean, 3 requests' \
	'abs(j["trace"]["rate"] - 11 / 1.2) < 1e-6 and j["arrivals_total"] == 3 and j["outcomes"]["ok"] == 3' \
	'trace: time scale {j["trace"]["time_scale"]} = (3 / rate) / 0.125' \
	'abs(j["trace"]["time_scale"] - 3 / (11 / 1.2) / 0.125) < 1e-6'
# seconds instead of dates, CRLF, no newline at the end
printf 'TIMESTAMP,ContextTokens,GeneratedTokens\r\n0,4,2\r\n0.01,4,3\r\n0.02,4,1\r\n1.5,4,2' >"$TMP/secs.csv"
lg --url "$(url $P2)" --trace "$TMP/secs.csv" --trace-rate 100 --requests 4 --json
jcheck "trace: seconds, CRLF, last line unterminated: 4 rows, 8 tokens" \
	'j["trace"]["rows"] == 4 and j["outcomes"]["ok"] == 4 and j["requested_tokens"] == 8'
lg --url "$(url $P2)" --trace "$TR" --requests 2 --trace-rate 50
check "trace: text report names the trace and its time scale" \
	grep -q '^trace: 12 rows, 2 replayed from +0 s, time scale ' "$TMP/out"

echo "# bad trace input: exit 2 before any request"
H=TIMESTAMP,ContextTokens,GeneratedTokens
bad_trace() { # bad_trace NAME CONTENT MESSAGE [ARGS...]: FILE:MESSAGE expected
	local f=$TMP/$1.csv want=$3
	printf '%b' "$2" >"$f"
	shift 3
	lg --url "$(url $P1)" --trace "$f" "$@"
	check "bad trace $(basename "$f"): exit 2, '$want'" one_error "Error: $f:$want"
}
before=$(prompt_tokens "$P1")
bad_trace header 'TS,a,b\n0,1,1\n' '1: header is not'
bad_trace fields "$H\n0,1,1\n0.1,1\n" '3: not 3 comma-separated fields'
bad_trace text "$H\n0,1,1\n0.1,many,1\n" "3: ContextTokens 'many' is not a token count"
bad_trace negative "$H\n0,1,1\n0.1,1,-4\n" "3: GeneratedTokens '-4' is negative"
bad_trace time "$H\n2023-11-16 18:15:46.6805900,1,1\n2023-11-16 25:00:00,1,1\n" \
	"3: TIMESTAMP '2023-11-16 25:00:00' is neither"
bad_trace back "$H\n0,1,1\n2,1,1\n1.5,1,1\n" '4: goes back in time'
bad_trace empty "$H\n" '1: no requests after the header'
bad_trace window "$H\n0,1,1\n1,1,1\n" \
	'3: the trace ends 1.000 s after its first row, before --trace-start 5' --trace-start 5
lg --url "$(url $P1)" --trace "$TMP/missing.csv"
check "bad trace: missing file" one_error "Error: $TMP/missing.csv: No such file"
check "bad trace: the worker got no request" [ "$(prompt_tokens "$P1")" = "$before" ]

echo "# bad arguments"
for a in "--rate 0 --url $(url $P1)" "--url ftp://x" "--bogus" \
	"--url $(url $P1) --rate 5 --concurrency 2" "--url $(url $P1) --prompt-tokens 9:3" \
	"--url $(url $P1) --dist zipf" "--url $(url $P1) --rate" \
	"--url $(url $P1) --slo-ms 0" "--url $(url $P1) --phase a@1" \
	"--url $(url $P1) --phase a@0 --phase b@0" "--url $(url $P1) --phase a!b@0" \
	"--url $(url $P1) --trace $TR --rate 5" "--url $(url $P1) --trace $TR --output-tokens 5" \
	"--url $(url $P1) --tokens-scale 2" "--url $(url $P1) --trace $TR --tokens-scale 0" \
	"--url $(url $P1) --trace $TR --trace-rate 1 --duration 0.1"; do
	# shellcheck disable=SC2086 # split into words on purpose
	lg $a
	check "bad args '$a': exit 2, one Error: line" one_error
done
lg
check "no --url: exit 2" [ "$RC" = 2 ]

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
