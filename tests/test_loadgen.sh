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
PORT=$((20000 + RANDOM % 40000))
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
jtrue() { [ "$(jv "$1")" = True ]; }

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
ip netns add "$NS" || exit 1
nx ip link set lo up

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
	--output-tokens 8 --dist fixed --json
check "closed: exit 0 (rc $RC)" [ "$RC" = 0 ]
check "closed: JSON parses" jtrue 'isinstance(j, dict)'
check "closed: fields present" jtrue 'all(k in j for k in ("outcomes","backends","ttft_ms","latency_ms","tokens_per_s","requests","dropped","output_tokens"))'
check "closed: 40 requests, 40 ok" jtrue 'j["requests"] == 40 and j["outcomes"]["ok"] == 40'
check "closed: no errors" jtrue 'sum(j["outcomes"].values()) == 40 and j["dropped"] == 0'
check "closed: backend w1 served all 40" jtrue 'j["backends"] == {"w1": {"requests": 40, "ok": 40}}'
check "closed: TTFT percentiles present" jtrue 'all(isinstance(j["ttft_ms"][k], float) for k in ("p50","p90","p99","p99.9"))'
check "closed: percentiles ordered" jtrue 'j["ttft_ms"]["p50"] <= j["ttft_ms"]["p90"] <= j["ttft_ms"]["p99"] <= j["ttft_ms"]["p99.9"]'
check "closed: TTFT p50 $(jv 'j["ttft_ms"]["p50"]') ms >= 15 (prefill)" jtrue 'j["ttft_ms"]["p50"] >= 15'
# 16 ms prefill + 8 tokens of 5 ms
check "closed: latency p50 $(jv 'j["latency_ms"]["p50"]') ms >= 50" jtrue 'j["latency_ms"]["p50"] >= 50'
check "closed: latency >= TTFT" jtrue 'j["latency_ms"]["min"] >= j["ttft_ms"]["min"]'
check "closed: tokens/s present and > 0" jtrue 'j["tokens_per_s"]["n"] == 40 and j["tokens_per_s"]["p50"] > 0'

echo "# token counts"
check "tokens: 320 received = 40 x 8 asked" jtrue 'j["output_tokens"] == 320 and j["requested_tokens"] == 320 and j["short_outputs"] == 0'
lg --url "$(url $P2 /v1/chat/completions)" --chat --new-conn --concurrency 3 \
	--requests 12 --prompt-tokens 8 --output-tokens 6:20 --dist uniform --seed 7 --json
check "chat, new-conn: 12 ok from w2" jtrue 'j["outcomes"]["ok"] == 12 and j["backends"]["w2"]["requests"] == 12'
check "chat, uniform: received = asked ($(jv 'j["output_tokens"]'))" \
	jtrue 'j["output_tokens"] == j["requested_tokens"] and j["short_outputs"] == 0'
want=$(jv 'j["requested_tokens"]')
lg --url "$(url $P2 /v1/chat/completions)" --chat --concurrency 2 \
	--requests 12 --prompt-tokens 8 --output-tokens 6:20 --dist uniform --seed 7 --json
check "seed: same seed, same lengths ($want tokens)" jtrue "j['requested_tokens'] == $want"
lg --url "$(url $P1)" --requests 3 --output-tokens 4 --dist fixed
check "text report: table with p99.9 column" grep -q 'p99.9' "$TMP/out"
check "text report: ttft_ms row" grep -Eq '^ttft_ms +3 ' "$TMP/out"

echo "# refused"
lg --url "$(url $DEAD)" --concurrency 2 --requests 20 --json
check "refused: exit 0 (rc $RC)" [ "$RC" = 0 ]
check "refused: all 20 counted as refused" jtrue 'j["outcomes"]["refused"] == 20 and j["outcomes"]["ok"] == 0'
check "refused: all 20 at connect (the SYN got a RST)" jtrue 'j["refused_at_connect"] == 20'
check "refused: no TTFT samples" jtrue 'j["ttft_ms"]["n"] == 0 and j["ttft_ms"]["p50"] is None'

echo "# open loop"
lg --url "$(url $P2)" --rate 20 --duration 2 --prompt-tokens 4 --output-tokens 4 \
	--dist fixed --json --progress
n=$(jv 'j["requests"]')
check "open: rate 20 for 2 s started $n requests (20..60)" jtrue '20 <= j["requests"] <= 60'
check "open: all ok" jtrue 'j["outcomes"]["ok"] == j["requests"]'
check "open: progress lines on stderr" grep -q 'inflight' "$TMP/err"
lg --url "$(url $P2)" --rate 20 --arrivals fixed --duration 2 --output-tokens 4 --json
check "open fixed: $(jv 'j["requests"]') requests (20..60)" jtrue '20 <= j["requests"] <= 60'
# 4 slots, 100 arrivals/s of 0.5 s requests: most arrivals must be dropped
lg --url "$(url $P1)" --rate 100 --duration 1 --max-inflight 4 \
	--output-tokens 100 --dist fixed --json
check "open: over --max-inflight counted as dropped ($(jv 'j["dropped"]'))" \
	jtrue 'j["dropped"] > 0 and j["requests"] <= 40 and j["arrivals_total"] == j["requests"] + j["dropped"]'

echo "# bad arguments"
for a in "--rate 0 --url $(url $P1)" "--url ftp://x" "--bogus" \
	"--url $(url $P1) --rate 5 --concurrency 2" "--url $(url $P1) --prompt-tokens 9:3" \
	"--url $(url $P1) --dist zipf" "--url $(url $P1) --rate"; do
	# shellcheck disable=SC2086 # split into words on purpose
	lg $a
	check "bad args '$a': exit 2, one Error: line" \
		[ "$RC" = 2 -a "$(wc -l <"$TMP/err")" = 1 -a "$(grep -c '^Error: ' "$TMP/err")" = 1 ]
done
lg
check "no --url: exit 2" [ "$RC" = 2 ]

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
