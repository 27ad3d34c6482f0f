# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# table.sh - sourced by tools/demo.sh: the live per-backend table and the
# final side-by-side summary (goodput, TTFT), from `lbctl show -j`,
# `lbctl stats -j`, the workers' /metrics (vLLM format) and loadgen --json
# reports. Needs jq.

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

# demo_ttft JSON: TTFT percentiles and goodput from a loadgen --json report.
demo_ttft() {
	jq -r 'def f1: if . == null then "-" elif type == "string" then . else (. * 10 | round / 10 | tostring) end;
		"  TTFT ms over \(.ttft_ms.n) ok requests:  p50 \(.ttft_ms.p50 | f1)  p90 \(.ttft_ms.p90 | f1)  p99 \(.ttft_ms.p99 | f1)  p99.9 \(.ttft_ms["p99.9"] | f1)  (max \(.ttft_ms.max | f1))\n  goodput (TTFT <= \(.slo_ms) ms): \(if .goodput == null then "-" else (.goodput * 1000 | round / 10 | tostring) + "%" end) of \(.ttft_all_ms.n // .requests) requests;  TTFT p99 over all of them \(.ttft_all_ms.p99 | f1) ms\n  outcomes: \(.outcomes | to_entries | map("\(.key) \(.value)") | join(", "))"' "$1"
}

# demo_summary NAMES JSON TITLE [JSON TITLE]...: loadgen reports side by side.
demo_summary() {
	local names=$1 titles="" files=()
	shift
	while [ $# -ge 2 ]; do
		files+=("$1")
		titles="$titles${titles:+|}$2"
		shift 2
	done
	jq -s -r --arg titles "$titles" --arg names "$names" '
		def f1: if . == null then "-" elif type == "string" then . else (. * 10 | round / 10 | tostring) end;
		def f0: if . == null then "-" elif type == "string" then . else (. | round | tostring) end;
		def pct: if . == null then "-" else (. * 1000 | round / 10 | tostring) + "%" end;
		def errs: (.outcomes | to_entries | map(select(.key != "ok" and .key != "refused" and .key != "cancelled")) | map(.value) | add) // 0;
		def share($b): (.backends[$b].requests // 0) as $n
			| (.requests // 0) as $t
			| if $t > 0 then "\($n) (\($n * 1000 / $t | round / 10)%)" else "-" end;
		def pad($n): tostring | . + (" " * ($n - length));
		def row($l; $xs): "  \($l | pad(28))" + ($xs | map(pad(24)) | join("")) | sub(" +$"; "");
		. as $r |
		row(""; $titles | split("|")),
		row("requests (all arrivals)"; $r | map(.ttft_all_ms.n // .requests)),
		row("  ok"; $r | map(.outcomes.ok)),
		row("  errors (http/broken/..)"; $r | map(errs)),
		row("  refused (connect/RST)"; $r | map(.outcomes.refused)),
		row("goodput (TTFT <= \($r[0].slo_ms // "?") ms)"; $r | map(.goodput | pct)),
		(($r[0].phases // []) | to_entries[] | .key as $i | .value as $p |
			row("  \($p.name) (\(if $p.end_s == null then "from \($p.start_s | f0)" else "\($p.start_s | f0)-\($p.end_s | f0)" end) s)";
				$r | map(.phases[$i].goodput | pct))),
		row("TTFT p99 all ms"; $r | map(.ttft_all_ms.p99 | f0)),
		row("TTFT p50 ms"; $r | map(.ttft_ms.p50 | f0)),
		row("TTFT p90 ms"; $r | map(.ttft_ms.p90 | f0)),
		row("TTFT p99 ms"; $r | map(.ttft_ms.p99 | f0)),
		row("latency p50 ms"; $r | map(.latency_ms.p50 | f0)),
		row("latency p99 ms"; $r | map(.latency_ms.p99 | f0)),
		row("output tokens/s"; $r | map(.output_tokens_per_s | f1)),
		"  requests per backend:",
		($names | split(" ")[] | split(":") as $p |
			row("  " + ($p[1] | gsub("_"; " ")); $r | map(share($p[0]))))' "${files[@]}"
}
