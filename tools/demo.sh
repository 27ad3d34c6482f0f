#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# demo.sh - `make demo`: inferlb balancing simulated GPU workers, on one
# machine, in network namespaces (tests/e2e/topo.sh): a client, the
# balancer and four workers (tools/gpusim) of different speeds:
#
#   b1, b2  fast        --batch 8 --token-ms 10
#   b3      half speed  --batch 8 --token-ms 20
#   b4      fast, then at 50% of the run 4x slower, at 75% it dies
#
# Run 1: lbctl attach, an l2dsr VIP and lb-agent with its default policy
# (capacities 1, 1, 0.5, 1; the workers' queue and KV use, health, circuit
# breaking). Run 2: the same workers (fresh, same fault schedule), the VIP
# with least-conn and no agent: the strongest alternative in bench/e2e.sh.
# Run 3: the same with static equal weights (`lbctl apply -f`), no agent.
# Each run sends an open-loop stream of requests (tools/loadgen, a new
# connection per request) through the VIP for DEMO_SECONDS (default 40),
# prints a live table per backend every 2 s and the TTFT percentiles at
# the end; then the three runs side by side: goodput (the share of all
# requests with a first token within DEMO_SLO_MS; a failed one never has
# it), per phase (healthy, b4 degraded, b4 dead), TTFT percentiles.
# Everything the demo made (namespaces, pins, processes) is removed at the
# end, on error and on Ctrl-C.
#
# Usage: tools/demo.sh [BUILD_DIR]
# Environment: DEMO_SECONDS (run length, 6..3600, default 40),
#              DEMO_LOAD (offered load, % of the fleet's capacity, default 70),
#              DEMO_SLO_MS (goodput's TTFT bound, ms, default 1000)
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
export E2E_BIN=$build/tools/e2e
export E2E_PREFIX=demo
# shellcheck source=tests/e2e/topo.sh
. "$root/tests/e2e/topo.sh"
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"
# shellcheck source=tools/demo/table.sh
. "$root/tools/demo/table.sh"

DEMO_SECONDS=${DEMO_SECONDS:-40}
DEMO_LOAD=${DEMO_LOAD:-70}
DEMO_SLO_MS=${DEMO_SLO_MS:-1000}
lbctl=$build/lbctl
agent=$build/lb-agent
gpusim=$build/tools/gpusim
loadgen=$build/tools/loadgen
pins=/sys/fs/bpf/inferlb-demo-$$
MPORT=9464
tmp=
AGENT_PID=
LOADGEN_PID=
FAULT_PID=
START=$(date +%s)

# The fleet. NAMES labels the table rows and the summary ("_" = space).
NAMES="b1:b1_fast b2:b2_fast b3:b3_half_speed b4:b4_fails"
TOKEN_MS=(- 10 10 20 10)
CAPACITY=(- 1.0 1.0 0.5 1.0)
BATCH=8
PREFILL_US=50
KV_TOKENS=16384
PROMPT_MEAN=256 OUTPUT_MEAN=64
SLOW_FACTOR=4

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	echo
	echo "== cleaning up"
	for p in "$FAULT_PID" "$LOADGEN_PID" "$AGENT_PID"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	done
	for p in "$FAULT_PID" "$LOADGEN_PID" "$AGENT_PID"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null
	done
	if [ -n "$(topo_ns lb 2>/dev/null)" ] && [ -e "/run/netns/$(topo_ns lb)" ]; then
		nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" \
			unload >/dev/null 2>&1
	fi
	rm -rf "$pins" 2>/dev/null
	topo_destroy
	[ -n "$tmp" ] && rm -rf "$tmp"
	echo "removed the namespaces, the pins, the programs and the processes ($(($(date +%s) - START)) s in all)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
	echo "Error: the demo creates network namespaces and loads XDP programs; run it as root" >&2
	exit 1
fi
if [[ ! $DEMO_SECONDS =~ ^[0-9]+$ ]] || ((DEMO_SECONDS < 6 || DEMO_SECONDS > 3600)); then
	echo "Error: DEMO_SECONDS must be a whole number of seconds in 6..3600, got '$DEMO_SECONDS'" >&2
	exit 2
fi
if [[ ! $DEMO_LOAD =~ ^[0-9]+$ ]] || ((DEMO_LOAD < 1 || DEMO_LOAD > 200)); then
	echo "Error: DEMO_LOAD must be a percentage in 1..200, got '$DEMO_LOAD'" >&2
	exit 2
fi
if [[ ! $DEMO_SLO_MS =~ ^[0-9]+$ ]] || ((DEMO_SLO_MS < 1 || DEMO_SLO_MS > 600000)); then
	echo "Error: DEMO_SLO_MS must be a whole number of ms in 1..600000, got '$DEMO_SLO_MS'" >&2
	exit 2
fi
for f in "$lbctl" "$agent" "$gpusim" "$loadgen"; do
	[ -x "$f" ] || { echo "Error: $f is missing; run 'make demo' (it builds first)" >&2; exit 1; }
done
for c in jq curl ip nsenter awk; do
	command -v "$c" >/dev/null || { echo "Error: the demo needs $c" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/inferlb-demo.XXXXXX) || exit 1

in_ns() { local n=$1; shift; timeout 60 nsenter --net="/run/netns/$(topo_ns "$n")" "$@"; }
L() { in_ns lb "$lbctl" --pin-dir "$pins" "$@"; }
step() { echo; echo "== $*"; }
# fail WHAT [LOG]: says what failed and shows the end of LOG; exit 1 (cleanup)
fail() {
	echo "Error: $1" >&2
	if [ -n "${2:-}" ] && [ -s "$2" ]; then
		echo "---- last lines of $(basename "$2"):" >&2
		tail -15 "$2" >&2
	fi
	exit 1
}
worker_url() { echo "http://${BACKEND4[$1]}:$PORT"; }
worker_up() {
	ip netns exec "$(topo_ns client)" curl -sf -o /dev/null --max-time 1 \
		"$(worker_url "$1")/health"
}

# start_workers: a fresh gpusim in b1..b4 (0.0.0.0, so it answers on the VIP)
start_workers() {
	local i
	for i in 1 2 3 4; do
		ip netns exec "$(topo_ns "b$i")" "$gpusim" --bind 0.0.0.0 --port "$PORT" \
			--name "b$i" --batch "$BATCH" --token-ms "${TOKEN_MS[i]}" \
			--prefill-us-per-token "$PREFILL_US" --kv-tokens "$KV_TOKENS" \
			--max-queue 256 >>"$tmp/gpusim-b$i.log" 2>&1 &
		TOPO_PIDS[i]=$!
	done
	for i in 1 2 3 4; do
		wait_for 5 worker_up "$i" ||
			fail "gpusim on b$i does not answer $(worker_url "$i")/health" "$tmp/gpusim-b$i.log"
	done
}

# config FILE agent|lc|static: the balancer's YAML (agent/config.h); agent:
# the agent's default policy (expected-wait) with each worker's batch slots
# and a TTFT target of 80 % of the SLO (the queueing budget: the rest is
# for prefill and the first token), lc: least-conn, static: maglev, equal
# weights (named: a VIP of polled backends defaults to expected-wait)
config() {
	local i cap
	{
		echo "agent:"
		echo "  metrics_listen: 127.0.0.1:$MPORT"
		echo "  pin_dir: $pins"
		echo "  request_timeout_ms: 300"
		echo "policy:"
		echo "  poll_interval_ms: 100"
		echo "  health_interval_ms: 200"
		echo "  fail_threshold: 3"
		echo "  eject_base_ms: 2000"
		echo "  slow_start_ms: 1000"
		echo "vips:"
		echo "  - address: $VIP4:$PORT/tcp"
		echo "    mode: l2dsr"
		echo "    ring_size: 4099"
		case $2 in
		lc) echo "    policy: least-conn" ;;
		static) echo "    policy: maglev" ;;
		agent) echo "    ttft_target_ms: $((DEMO_SLO_MS * 8 / 10))" ;;
		esac
		echo "    backends:"
		for i in 1 2 3 4; do
			cap=${CAPACITY[i]}
			[ "$2" = agent ] || cap=1.0
			echo "      - address: ${BACKEND4[i]}"
			echo "        engine: vllm"
			echo "        url: $(worker_url "$i")"
			echo "        capacity: $cap"
			[ "$2" = agent ] && echo "        slots: $BATCH"
		done
	} >"$1"
}

all_healthy() {
	L show -j 2>/dev/null | jq -e '[(.vips[0].backends // [])[] | select(.state == "healthy" and .weight > 0)] | length == 4' >/dev/null
}

# fault_schedule: b4 slows down at 50% of the run and dies at 75%; each
# event is appended to $tmp/events (printed with the next table).
fault_schedule() {
	local half=$((DEMO_SECONDS / 2)) die=$((DEMO_SECONDS * 3 / 4)) u
	u=$(worker_url 4)
	sleep "$half"
	if ip netns exec "$(topo_ns client)" curl -sf -o /dev/null --max-time 2 \
		"$u/admin/fault?mode=slow&factor=$SLOW_FACTOR"; then
		echo "  >> t=${half}s  b4 degrades: every token now takes ${SLOW_FACTOR}x as long (gpusim /admin/fault?mode=slow)" >>"$tmp/events"
	else
		echo "  >> t=${half}s  could not slow b4 down" >>"$tmp/events"
	fi
	sleep $((die - half))
	ip netns exec "$(topo_ns client)" curl -s -o /dev/null --max-time 2 \
		"$u/admin/fault?mode=die"
	echo "  >> t=${die}s  b4 fails: the worker process exits (gpusim /admin/fault?mode=die)" >>"$tmp/events"
}

# run TAG TITLE: loadgen through the VIP with the live table; report in $tmp/TAG.json
run() {
	local tag=$1 title=$2 t0 now t prev="" cur k i pids ev=0 n line ts ts_prev=0
	local json=$tmp/$tag.json log=$tmp/$tag-loadgen.log
	step "$title: $RATE requests/s through $VIP4:$PORT for ${DEMO_SECONDS} s"
	: >"$tmp/events"
	ip netns exec "$(topo_ns client)" "$loadgen" --url "http://$VIP4:$PORT/v1/completions" \
		--rate "$RATE" --duration "$DEMO_SECONDS" --new-conn --timeout 30 \
		--prompt-tokens "$PROMPT_MEAN:2048" --output-tokens "$OUTPUT_MEAN:512" \
		--slo-ms "$DEMO_SLO_MS" --phase healthy@0 --phase "degraded@$((DEMO_SECONDS / 2))" \
		--phase "failed@$((DEMO_SECONDS * 3 / 4))" \
		--seed 1 --json --progress >"$json" 2>"$log" &
	LOADGEN_PID=$!
	fault_schedule &
	FAULT_PID=$!
	t0=$(ms)
	demo_table_header
	k=0
	while kill -0 "$LOADGEN_PID" 2>/dev/null; do
		k=$((k + 1))
		# sleep until the next 2 s mark (the loop itself takes some time)
		now=$(ms)
		t=$((t0 + k * 2000 - now))
		((t > 0)) && sleep "$(awk -v t="$t" 'BEGIN { printf "%.3f", t / 1000 }')"
		kill -0 "$LOADGEN_PID" 2>/dev/null || break
		cur=$tmp/stats.$((k % 2))
		L show -j >"$tmp/show" 2>/dev/null || echo '{"vips":[]}' >"$tmp/show"
		L stats -j >"$cur" 2>/dev/null || : >"$cur"
		ts=$(ms)
		pids=()
		for i in 1 2 3 4; do
			ip netns exec "$(topo_ns client)" curl -s --max-time 0.5 \
				"$(worker_url "$i")/metrics" >"$tmp/m$i" 2>/dev/null &
			pids+=($!)
		done
		wait "${pids[@]}" 2>/dev/null
		n=$(wc -l <"$tmp/events")
		if ((n > ev)); then
			sed -n "$((ev + 1)),${n}p" "$tmp/events"
			ev=$n
		fi
		line=$(tail -n 1 "$log" 2>/dev/null)
		[[ $line == \[* ]] && echo "  loadgen${line#*]}" | sed 's/ p50_ttft / TTFT p50 (last 1 s) /'
		demo_table_rows "$((($(ms) - t0) / 1000))s" "$tmp/show" "$cur" "$prev" \
			"$(awk -v a="$ts" -v b="$ts_prev" 'BEGIN { printf "%.3f", (a - b) / 1000 }')" "$NAMES" \
			"$tmp/m1" "$tmp/m2" "$tmp/m3" "$tmp/m4"
		prev=$cur ts_prev=$ts
	done
	wait "$LOADGEN_PID"
	local rc=$?
	LOADGEN_PID=
	kill "$FAULT_PID" 2>/dev/null
	wait "$FAULT_PID" 2>/dev/null
	FAULT_PID=
	n=$(wc -l <"$tmp/events")
	((n > ev)) && sed -n "$((ev + 1)),${n}p" "$tmp/events"
	if [ "$rc" != 0 ] || ! jq -e .ttft_ms "$json" >/dev/null 2>&1; then
		fail "loadgen exited with status $rc" "$log"
	fi
	echo "  -- $title: done in $(jq -r '.wall_s | round' "$json") s"
	demo_ttft "$json"
}

# stop_run: ends a run's processes (agent, workers) and unloads the balancer
stop_run() {
	if [ -n "$AGENT_PID" ]; then
		kill -TERM "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
		AGENT_PID=
	fi
	topo_stop_backends
	L unload >/dev/null || fail "lbctl unload"
	rm -rf "$pins"
}

# ---- the fleet and the offered load ----------------------------------------
# A request holds a batch slot for its prefill plus OUTPUT_MEAN decode steps.
read -r CAP_REQS RATE CAP_AFTER < <(awk -v b="$BATCH" -v p="$PROMPT_MEAN" \
	-v pu="$PREFILL_US" -v o="$OUTPUT_MEAN" -v l="$DEMO_LOAD" \
	-v t1="${TOKEN_MS[1]}" -v t2="${TOKEN_MS[2]}" -v t3="${TOKEN_MS[3]}" -v t4="${TOKEN_MS[4]}" '
	function c(t) { return b * 1000 / (o * t + p * pu / 1000) }
	BEGIN {
		all = c(t1) + c(t2) + c(t3) + c(t4)
		rate = int(all * l / 100 + 0.5)
		printf "%.1f %d %.0f\n", all, rate, 100 * rate / (all - c(t4))
	}')

echo "inferlb demo: four simulated GPU workers behind one VIP, three times:"
echo "  run 1  inferlb + lb-agent (expected-wait: open flows, batch slots, measured speed; health; TTFT target)"
echo "  run 2  the same VIP with least-conn and no agent (the strongest alternative)"
echo "  run 3  the same VIP with static equal weights and no agent"
echo "each run ${DEMO_SECONDS} s (DEMO_SECONDS); Ctrl-C stops and cleans up at any time"

step "building the network: client, balancer, 4 workers (namespaces)"
if ! topo_create 4 2>"$tmp/topo.log" ||
	! topo_peer_xdp_pass "$build/bpf/pass.bpf.o" 2>>"$tmp/topo.log"; then
	fail "creating the namespaces" "$tmp/topo.log"
fi
echo "client $CLIENT4 -> VIP $VIP4:$PORT (routed via the balancer $LB4); workers ${BACKEND4[1]}..${BACKEND4[4]}, VIP on their lo (direct return)"

step "starting four simulated GPU workers (gpusim, vLLM metrics)"
start_workers
for i in 1 2 3 4; do
	printf '  b%d %-15s batch %d, %2d ms/token, prefill %d us/token, KV %d tokens%s\n' \
		"$i" "${BACKEND4[i]}" "$BATCH" "${TOKEN_MS[i]}" "$PREFILL_US" "$KV_TOKENS" \
		"$([ "$i" = 4 ] && echo "; ${SLOW_FACTOR}x slower at $((DEMO_SECONDS / 2)) s, dies at $((DEMO_SECONDS * 3 / 4)) s")"
done
echo "  capacity estimate: $BATCH slots / (${OUTPUT_MEAN} tokens x ms/token + ${PROMPT_MEAN}-token prefill)"
echo "    = $CAP_REQS requests/s for the fleet; offered load ${DEMO_LOAD}% = $RATE requests/s"
echo "    (once b4 is gone the other three run at ~${CAP_AFTER}% of their capacity)"

# ---- run 1: inferlb + lb-agent ---------------------------------------------
step "lbctl attach $TOPO_DEV; lb-agent with the fleet's config (capacities 1, 1, 0.5, 1)"
L attach "$TOPO_DEV" >"$tmp/attach.log" 2>&1 || fail "lbctl attach $TOPO_DEV" "$tmp/attach.log"
config "$tmp/agent.yaml" agent
nsenter --net="/run/netns/$(topo_ns lb)" "$agent" -c "$tmp/agent.yaml" >>"$tmp/agent.log" 2>&1 &
AGENT_PID=$!
wait_for 15 all_healthy || fail "lb-agent did not bring the four workers up: $(L show 2>&1 | tail -6)" "$tmp/agent.log"
echo "  l2dsr VIP $VIP4:$PORT/tcp; agent polls /metrics every 100 ms, /health every 200 ms, slow start 1 s"
L show | sed -n '/^vip/,$p' | sed 's/^/  /'
run agent "run 1 (inferlb + lb-agent)"

# ---- runs 2 and 3: no agent, least-conn and static equal weights --------------
# run_noagent TAG TITLE WHAT: fresh workers, the VIP as config TAG, no agent
run_noagent() {
	step "tearing down the previous run: agent, workers, balancer"
	stop_run
	echo "  done; starting fresh workers (same speeds, same fault schedule)"
	start_workers
	step "lbctl attach $TOPO_DEV; lbctl apply -f: $3 (no agent)"
	L attach "$TOPO_DEV" >"$tmp/attach.log" 2>&1 || fail "lbctl attach $TOPO_DEV" "$tmp/attach.log"
	config "$tmp/$1.yaml" "$1"
	L apply -f "$tmp/$1.yaml" >"$tmp/apply.log" 2>&1 || fail "lbctl apply -f $1.yaml" "$tmp/apply.log"
	sed 's/^/  /' "$tmp/apply.log"
	L show | sed -n '/^vip/,$p' | sed 's/^/  /'
	run "$1" "$2"
}
run_noagent lc "run 2 (least-conn, no agent)" "least-conn, equal capacities"
run_noagent static "run 3 (static equal weights)" "maglev, equal capacities (static weights)"

# ---- summary ---------------------------------------------------------------
step "summary: $RATE requests/s for ${DEMO_SECONDS} s, b4 degrades at 50% and dies at 75%"
demo_summary "$NAMES" "$tmp/agent.json" "inferlb + lb-agent" "$tmp/lc.json" "least-conn" \
	"$tmp/static.json" "static equal weights"
echo "  (TTFT = time to first token; goodput = requests with TTFT <= $DEMO_SLO_MS ms, of all started"
echo "   or dropped; 'TTFT p99 all' counts a failed request as never answered (inf); the other"
echo "   TTFT and latency rows are over the ok requests)"
