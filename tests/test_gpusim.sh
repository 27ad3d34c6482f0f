#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Integration test of the simulated GPU worker (tools/gpusim).
# Runs every instance on 127.0.0.1 inside a private network namespace so it
# cannot clash with anything on the host; needs root (ip netns) and curl.
# Usage: tests/test_gpusim.sh [path/to/gpusim]   (default build/tools/gpusim)
set -u

BIN=${1:-build/tools/gpusim}
NS=gs-$$
PORT=$((20000 + RANDOM % 19000))	# below NS's ephemeral ports (nstest.sh)
# shellcheck source=tests/nstest.sh
. "$(dirname "$0")/nstest.sh"
url() { echo "http://127.0.0.1:$PORT$1"; }
# HTTP status of a GET (000 when refused or timed out)
status() { nx curl -s -o /dev/null -w '%{http_code}' --max-time "${2:-2}" "$(url "$1")"; }
ms() { date +%s%3N; }

# start ARGS...: run a fresh worker on $PORT; sets SIM
start() {
	PORT=$((PORT + 1))
	# not via nx(): a backgrounded function would make $! a subshell
	ip netns exec "$NS" "$BIN" --port "$PORT" "$@" 2>>"$TMP/log" &
	SIM=$!
	PIDS+=("$SIM")
}
stop() { kill "$SIM" 2>/dev/null; wait "$SIM" 2>/dev/null; }

# wait_code PATH CODE: poll until PATH answers CODE (at most ~5 s)
wait_code() {
	local i
	for i in $(seq 50); do
		[ "$(status "$1" 1)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# stream N [endpoint]: streaming request of N tokens, body in $TMP/out
stream() {
	local ep=${2:-/v1/completions} body
	if [ "$ep" = /v1/completions ]; then
		body="{\"model\":\"m\",\"prompt\":\"${PROMPT:-hello}\",\"max_tokens\":$1,\"stream\":true}"
	else
		body="{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"${PROMPT:-hello}\"}],\"max_tokens\":$1,\"stream\":true}"
	fi
	nx curl -sN --max-time 20 -D "$TMP/hdr" -H 'Content-Type: application/json' \
		-d "$body" "$(url "$ep")" >"$TMP/out"
}

# metric NAME [LABELMATCH]: value of the first sample of NAME from $TMP/m
metric() {
	awk -v n="$1" -v l="${2:-}" '
		$0 !~ /^#/ { split($1, a, "{"); if (a[1] == n && index($1, l)) { print $2; exit } }' "$TMP/m"
}
# scrape: /metrics into $TMP/m; a slow answer on a loaded machine is
# retried (bounded), since what is checked is the content, not the speed.
scrape() {
	local i
	for i in 1 2 3 4 5; do
		nx curl -s --max-time 3 "$(url /metrics)" >"$TMP/m" && [ -s "$TMP/m" ] && return 0
		sleep 0.2
	done
	echo "scrape of $(url /metrics) failed; worker log:" >&2
	tail -5 "$TMP/log" >&2
	return 1
}

# every non-comment line is "name{labels} value"; HELP/TYPE present
parses() {
	grep -q '^# TYPE ' "$TMP/m" && grep -q '^# HELP ' "$TMP/m" &&
		! grep -v '^#' "$TMP/m" | grep -Ev '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eE]+$' | grep -q .
}
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
eq() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a == b) }'; }
# samples: how many samples of NAME (any labels) $TMP/m has
samples() { grep -c "^$1[{ ]" "$TMP/m"; }

[ -x "$BIN" ] || { echo "no binary $BIN" >&2; exit 1; }
nstest_ns_up || exit 1

echo "# start-up behaviour"
t0=$(ms)
start --engine vllm --startup-ms 600 --token-ms 20 --name w1
sleep 0.2
check "vllm: connection refused while loading" [ "$(status /health)" = 000 ]
check "vllm: /health 200 once loaded" wait_code /health 200
check "vllm: not ready before --startup-ms" gt $(($(ms) - t0)) 500

echo "# streaming"
t0=$(ms)
stream 20
dt=$(($(ms) - t0))
check "stream: exactly 20 data chunks" [ "$(grep -c '^data: {' "$TMP/out")" = 20 ]
check "stream: ends with [DONE]" [ "$(grep '^data:' "$TMP/out" | tail -1)" = "data: [DONE]" ]
check "stream: last chunk has finish_reason length" \
	grep -q '"finish_reason":"length"' <(grep '^data: {' "$TMP/out" | tail -1)
# Only lower bounds on time: the simulated clock cannot run fast, but a
# loaded machine can run slow (timing figures belong to benchmarks).
check "stream: 20 tokens x 20 ms took ${dt} ms (at least 350)" gt "$dt" 349
check "stream: X-Backend header" grep -qi '^X-Backend: w1' "$TMP/hdr"
stream 5 /v1/chat/completions
check "chat stream: 5 chunks" [ "$(grep -c '^data: {.*chat.completion.chunk' "$TMP/out")" = 5 ]
check "chat stream: ends with [DONE]" [ "$(grep '^data:' "$TMP/out" | tail -1)" = "data: [DONE]" ]
out=$(nx curl -s --max-time 5 -d '{"prompt":"abcdefgh","max_tokens":7}' "$(url /v1/completions)")
check "non-streaming: usage counts" grep -q '"prompt_tokens":2,"completion_tokens":7' <<<"$out"
check "bad JSON: 400" [ "$(nx curl -s -o /dev/null -w '%{http_code}' -d '{"prompt":' "$(url /v1/completions)")" = 400 ]

echo "# faults"
t0=$(ms); stream 10; base=$(($(ms) - t0))
nx curl -s -X POST "$(url '/admin/fault?mode=slow&factor=4')" >/dev/null
t0=$(ms); stream 10; slow=$(($(ms) - t0))
check "slow x4: 10 tokens x 80 ms took ${slow} ms (at least 720; ${base} ms unslowed)" gt "$slow" 719
nx curl -s -X POST "$(url '/admin/fault?mode=503')" >/dev/null
check "503: /health 503" [ "$(status /health)" = 503 ]
check "503: requests 503" [ "$(nx curl -s -o /dev/null -w '%{http_code}' -d '{"prompt":"x","max_tokens":1}' "$(url /v1/completions)")" = 503 ]
nx curl -s -X POST "$(url '/admin/fault?mode=none')" >/dev/null
check "none: /health 200 again" [ "$(status /health)" = 200 ]
nx curl -s -X POST "$(url '/admin/fault?mode=hang')" >/dev/null
nx curl -s --max-time 1 "$(url /health)" >/dev/null
check "hang: curl times out (rc 28)" [ $? = 28 ]
nx curl -s -X POST "$(url '/admin/fault?mode=none')" >/dev/null
check "hang cleared: /health 200" [ "$(status /health)" = 200 ]
nx curl -s -X POST "$(url '/admin/fault?mode=die')" >/dev/null
gone=1
for _ in $(seq 20); do kill -0 "$SIM" 2>/dev/null || { gone=0; break; }; sleep 0.1; done
check "die: process gone" [ $gone = 0 ]
check "die: connection refused" [ "$(status /health)" = 000 ]

echo "# bounded queue"
start --batch 1 --max-queue 1 --token-ms 20
wait_code /health 200
lp=()
for i in 1 2; do
	nx curl -sN --max-time 5 -o /dev/null -d '{"prompt":"x","max_tokens":20,"stream":true}' "$(url /v1/completions)" &
	lp+=($!)
	sleep 0.15	# let the scheduler admit the first one
done
check "queue full: 503" [ "$(nx curl -s -o /dev/null -w '%{http_code}' -d '{"prompt":"x","max_tokens":1}' "$(url /v1/completions)")" = 503 ]
wait "${lp[@]}"
stop

echo "# start-up of the other engines"
start --engine sglang --startup-ms 600
sleep 0.2
check "sglang: /health 503 while starting" [ "$(status /health)" = 503 ]
check "sglang: /health 200 when ready" wait_code /health 200
stop
start --engine triton --startup-ms 600
sleep 0.2
check "triton: /v2/health/ready 400 while starting" [ "$(status /v2/health/ready)" = 400 ]
check "triton: /v2/health/ready 200 when ready" wait_code /v2/health/ready 200
nx curl -s -X POST "$(url '/admin/fault?mode=503')" >/dev/null
check "triton: 503 fault -> ready 400" [ "$(status /v2/health/ready)" = 400 ]
stop
start --engine tgi --startup-ms 600
sleep 0.2
check "tgi: no listener while warming up" [ "$(status /health)" = 000 ]
check "tgi: /health 200 when warm" wait_code /health 200
stop

echo "# metrics under load (batch 2, 5 requests of 1 s)"
# G, C: the generated-token and finished-request counters lb-agent reads;
# vLLM counts tokens as they are generated, the others credit a request's
# tokens when it finishes (so there G == 50 x C at any time).
PROMPT=$(printf 'x%.0s' $(seq 400))	# 100 prompt tokens
for e in vllm sglang tgi triton; do
	start --engine "$e" --batch 2 --token-ms 20 --kv-tokens 1000 --prefill-us-per-token 0
	check "$e: ready" wait_code "$([ $e = triton ] && echo /v2/health/ready || echo /health)" 200
	case $e in
	vllm) W=vllm:num_requests_waiting R=vllm:num_requests_running K=vllm:kv_cache_usage_perc L=
		G=vllm:generation_tokens_total C=vllm:request_success_total ;;
	sglang) W=sglang:num_queue_reqs R=sglang:num_running_reqs K=sglang:token_usage L=
		G=sglang:generation_tokens_total C=sglang:num_requests_total ;;
	tgi) W=tgi_queue_size R=tgi_batch_current_size K= L=
		G=tgi_request_generated_tokens_sum C=tgi_request_generated_tokens_count ;;
	triton) W=nv_trt_llm_request_metrics R=$W K=nv_trt_llm_kv_cache_block_metrics L=y
		G=nv_llm_output_token_len_sum C=nv_llm_output_token_len_count ;;
	esac
	wl=; rl=; kl=
	[ -n "$L" ] && wl='request_type="waiting"' rl='request_type="scheduled"' kl='kv_cache_block_type="fraction"'
	scrape
	k0=$([ -n "$K" ] && metric "$K" "$kl" || echo 0)
	lp=()
	for i in 1 2 3 4 5; do
		nx curl -sN --max-time 10 -o /dev/null \
			-d "{\"prompt\":\"$PROMPT\",\"max_tokens\":50,\"stream\":true}" \
			"$(url /v1/completions)" &
		lp+=($!)
	done
	sleep 0.3
	scrape
	check "$e: /metrics parses" parses
	w=$(metric "$W" "$wl"); r=$(metric "$R" "$rl")
	check "$e: waiting $w > 0, running $r == 2" eval 'gt "$w" 0 && [ "${r%.0}" = 2 ]'
	g=$(metric "$G"); c=$(metric "$C")
	if [ $e = vllm ]; then
		check "$e: running requests' tokens counted ($g > 50 x $c)" gt "$g" "$((50 * ${c%.0}))"
	else
		check "$e: tokens credited at the end ($g == 50 x $c)" eq "$g" "$((50 * ${c%.0}))"
	fi
	if [ -n "$K" ]; then
		k1=$(metric "$K" "$kl")
		sleep 0.4
		scrape
		k2=$(metric "$K" "$kl")
		check "$e: kv grows with live sequences ($k0 < $k1 < $k2)" eval 'gt "$k1" "$k0" && gt "$k2" "$k1"'
	fi
	wait "${lp[@]}"
	scrape
	g=$(metric "$G"); c=$(metric "$C")
	check "$e: 5 requests done: $G $g == 250, $C $c == 5" eval 'eq "$g" 250 && eq "$c" 5'
	check "$e: one sample each of $G and $C" eval '[ "$(samples "$G")" = 1 ] && [ "$(samples "$C")" = 1 ]'
	if [ $e = triton ]; then
		s=$(metric nv_trt_llm_request_metrics 'request_type="max"')
		check "$e: batch slots (request_type max) $s == 2" eq "$s" 2
	fi
	stop
done

echo "# --triton-kv blocks (backends before v0.18)"
check "--triton-kv bogus: exit 2" eval '"$BIN" --triton-kv bogus 2>/dev/null; [ $? = 2 ]'
start --engine triton --triton-kv blocks --batch 2 --token-ms 20 --kv-tokens 1000 --prefill-us-per-token 0
check "triton blocks: ready" wait_code /v2/health/ready 200
nx curl -sN --max-time 10 -o /dev/null -d "{\"prompt\":\"$PROMPT\",\"max_tokens\":30,\"stream\":true}" \
	"$(url /v1/completions)" &
lp=($!)
sleep 0.3
scrape
K=nv_trt_llm_kv_cache_block_metrics
check "triton blocks: no fraction" eval '! grep -q "kv_cache_block_type=\"fraction\"" "$TMP/m"'
u=$(metric $K 'kv_cache_block_type="used"'); m=$(metric $K 'kv_cache_block_type="max"')
check "triton blocks: used $u > 0 of max $m == 62" eval 'gt "$u" 0 && eq "$m" 62'
wait "${lp[@]}"
stop

echo "# badmetrics fault: the generated-tokens sample corrupted"
for e in vllm sglang tgi triton; do
	case $e in
	vllm) G=vllm:generation_tokens_total H=/health ;;
	sglang) G=sglang:generation_tokens_total H=/health ;;
	tgi) G=tgi_request_generated_tokens_sum H=/health ;;
	triton) G=nv_llm_output_token_len_sum H=/v2/health/ready ;;
	esac
	start --engine "$e"
	wait_code "$H" 200
	for k in nan:NaN inf:+Inf ninf:-Inf negative:-1; do
		nx curl -s "$(url "/admin/fault?mode=badmetrics&kind=${k%%:*}")" >/dev/null
		scrape
		check "$e: kind=${k%%:*}: $G is ${k#*:}" [ "$(metric "$G")" = "${k#*:}" ]
	done
	out=$(nx curl -s "$(url '/admin/fault?mode=badmetrics&kind=duplicate')")
	check "$e: kind=duplicate acknowledged" [ "$out" = "mode=badmetrics kind=duplicate" ]
	scrape
	check "$e: kind=duplicate: two samples of $G" [ "$(samples "$G")" = 2 ]
	[ $e = triton ] && check "$e: the second with its labels in another order" \
		eval '[ "$(grep "^$G{" "$TMP/m" | sort -u | wc -l)" = 2 ]'
	check "$e: health unaffected" [ "$(status "$H")" = 200 ]
	nx curl -s "$(url '/admin/fault?mode=none')" >/dev/null
	scrape
	check "$e: none: one sample of $G again, value 0" eval '[ "$(samples "$G")" = 1 ] && eq "$(metric "$G")" 0'
	stop
done
start --engine vllm
wait_code /health 200
check "badmetrics: unknown kind 400" [ "$(nx curl -s -o /dev/null -w '%{http_code}' "$(url '/admin/fault?mode=badmetrics&kind=zero')")" = 400 ]
check "badmetrics: no kind 400" [ "$(nx curl -s -o /dev/null -w '%{http_code}' "$(url '/admin/fault?mode=badmetrics')")" = 400 ]
stop

echo "# $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
