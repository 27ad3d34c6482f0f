# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# table.sh - sourced by tools/demo.sh: the live per-backend table and the
# final side-by-side summary, from `lbctl show -j`, `lbctl stats -j`, the
# workers' /metrics (vLLM format) and loadgen --json reports. Needs jq.

# demo_table_header: the column titles of demo_table_rows.
demo_table_header() {
	printf '  %5s  %-12s %-9s %8s %5s %5s %6s %5s %4s %5s\n' \
		"t" "backend" "state" "weight" "w%" "open" "new/s" "queue" "run" "kv%"
}

# demo_table_rows T SHOW STATS PREV_STATS DT NAMES M1 M2 ...
#   T: seconds since the start of the run; SHOW, STATS, PREV_STATS: files
#   with `lbctl show -j` and `lbctl stats -j` (PREV_STATS may be missing);
#   DT: seconds between the two stats; NAMES: "b1:label b2:label ...", one
#   per backend in the order of BACKEND4; M1...: files holding each worker's
#   /metrics (empty when the scrape failed).
demo_table_rows() {
	local t=$1 show=$2 stats=$3 prev=$4 dt=$5 names=$6
	shift 6
	local i=0 nm label addr st w wsum open nf nf0 rate q run kv m
	local -A W S O N N0
	wsum=0
	while read -r addr st w; do
		S[$addr]=$st W[$addr]=$w
		wsum=$((wsum + w))
	done < <(jq -r '.vips[0].backends[] | "\(.address) \(.state) \(.weight)"' "$show" 2>/dev/null)
	while read -r addr nf open; do
		N[$addr]=$nf O[$addr]=$open
	done < <(jq -r '.vips[0].backends[] | "\(.address) \(.new_flows) \(.open_flows)"' "$stats" 2>/dev/null)
	if [ -s "$prev" ]; then
		while read -r addr nf; do
			N0[$addr]=$nf
		done < <(jq -r '.vips[0].backends[] | "\(.address) \(.new_flows)"' "$prev" 2>/dev/null)
	fi
	for nm in $names; do
		i=$((i + 1))
		label=${nm#*:}
		addr=${BACKEND4[i]}
		m=$1
		shift
		st=${S[$addr]:-gone} w=${W[$addr]:-0}
		open=${O[$addr]:-0} nf=${N[$addr]:-0} nf0=${N0[$addr]:-}
		if [ -n "$nf0" ]; then
			rate=$(awk -v a="$nf" -v b="$nf0" -v d="$dt" 'BEGIN { printf "%.1f", (d > 0 ? (a - b) / d : 0) }')
		else
			rate=-
		fi
		if [ -s "$m" ]; then
			read -r q run kv < <(awk '
				$1 ~ /^vllm:num_requests_waiting[{ ]/ { q = $2 }
				$1 ~ /^vllm:num_requests_running[{ ]/ { r = $2 }
				$1 ~ /^vllm:kv_cache_usage_perc[{ ]/ { k = $2 }
				END { printf "%d %d %.0f%%\n", q, r, 100 * k }' "$m")
		else
			q=- run=- kv=down
		fi
		printf '  %5s  %-12s %-9s %8s %5s %5s %6s %5s %4s %5s\n' \
			"$t" "${label//_/ }" "$st" "$w" \
			"$(awk -v w="$w" -v s="$wsum" 'BEGIN { printf "%.0f", (s > 0 ? 100 * w / s : 0) }')" \
			"$open" "$rate" "$q" "$run" "$kv"
		t=""
	done
}

# demo_ttft JSON: one line of TTFT percentiles from a loadgen --json report.
demo_ttft() {
	jq -r 'def f1: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
		"  TTFT ms over \(.ttft_ms.n) ok requests:  p50 \(.ttft_ms.p50 | f1)  p90 \(.ttft_ms.p90 | f1)  p99 \(.ttft_ms.p99 | f1)  p99.9 \(.ttft_ms["p99.9"] | f1)  (max \(.ttft_ms.max | f1))\n  outcomes: \(.outcomes | to_entries | map("\(.key) \(.value)") | join(", "))"' "$1"
}

# demo_summary JSON_A TITLE_A JSON_B TITLE_B NAMES: two loadgen reports side by side.
demo_summary() {
	local a=$1 ta=$2 b=$3 tb=$4 names=$5
	jq -n -r --slurpfile A "$a" --slurpfile B "$b" \
		--arg ta "$ta" --arg tb "$tb" --arg names "$names" '
		def f1: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
		def f0: if . == null then "-" else (. | round | tostring) end;
		def errs: (.outcomes | to_entries | map(select(.key != "ok" and .key != "refused" and .key != "cancelled")) | map(.value) | add) // 0;
		def share($b): (.backends[$b].requests // 0) as $n
			| (.requests // 0) as $t
			| if $t > 0 then "\($n) (\($n * 1000 / $t | round / 10)%)" else "-" end;
		def row($l; $x; $y): "  \($l | . + (" " * (26 - length)))\($x | tostring | . + (" " * (24 - length)))\($y | tostring)";
		$A[0] as $a | $B[0] as $b |
		row(""; $ta; $tb),
		row("requests started"; $a.requests; $b.requests),
		row("  ok"; $a.outcomes.ok; $b.outcomes.ok),
		row("  errors (http/broken/..)"; $a | errs; $b | errs),
		row("  refused (connect/RST)"; $a.outcomes.refused; $b.outcomes.refused),
		row("TTFT p50 ms"; $a.ttft_ms.p50 | f0; $b.ttft_ms.p50 | f0),
		row("TTFT p90 ms"; $a.ttft_ms.p90 | f0; $b.ttft_ms.p90 | f0),
		row("TTFT p99 ms"; $a.ttft_ms.p99 | f0; $b.ttft_ms.p99 | f0),
		row("latency p50 ms"; $a.latency_ms.p50 | f0; $b.latency_ms.p50 | f0),
		row("latency p99 ms"; $a.latency_ms.p99 | f0; $b.latency_ms.p99 | f0),
		row("output tokens/s"; $a.output_tokens_per_s | f1; $b.output_tokens_per_s | f1),
		"  requests per backend:",
		($names | split(" ")[] | split(":") as $p |
			row("  " + ($p[1] | gsub("_"; " ")); $a | share($p[0]); $b | share($p[0])))'
}
