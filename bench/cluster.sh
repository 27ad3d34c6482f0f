#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Load-aware steering across balancer hosts (make bench-cluster; issue 14:
# "3 hosts vs 1 host, same fleet and load: goodput within 5 points").
#
# Topology: tests/e2e/cluster_topo.sh: a client behind a BIRD router whose
# ECMP (L4 hash) spreads flows over the balancer hosts that announce the
# VIP (lb1..lb3, inferlb in ipip mode, BIRD each), backends b1..b3 behind
# xdp_decap (direct return), etcd on the hosts' segment.
# The fleet: tools/gpusim on b1..b3 as in bench/e2e.sh part 1 without its
# b4 (no fault phases): b1, b2 10 ms/token, b3 20 ms/token (half as fast),
# batch 8; every backend slots: 8 and its capacity (1, 1, 0.5); the VIP's
# policy expected-wait with ttft_target_ms 80 % of the SLO, as bench/e2e.sh's
# "agent" configuration. Open-loop load (tools/loadgen, a new connection per
# request) at CB_LOADS % of the fleet's estimated capacity, fixed-size
# requests (64 prompt + 64 output tokens) or, with CB_TRACE, replayed from
# a trace (as E2E_TRACE in bench/e2e.sh).
# Configurations (interleaved: each run is every configuration once at
# every load, the same seed within a run, another per run; a fresh fleet,
# fresh VIPs and fresh agents for each):
#   1host      only lb1 announces the VIP; lb-agent on lb1 alone (no
#              cluster): the single-host baseline
#   3host      lb1..lb3 announce; lb-agent on each in cluster mode through
#              etcd: the leader polls, every host applies its decision
#              (each worker's reported running + waiting: engine_load =
#              reported - this host's open flows; refreshed every 500 ms);
#              pair choice on (the default with a cluster: section, also
#              for 1host-cl)
#   3host-solo lb1..lb3 announce; lb-agent on each, no cluster: each polls
#              the workers itself every 100 ms (a reference)
#   1host-cl   only lb1 announces; lb-agent on lb1 in cluster mode, the
#              only member: the 1-host flows with the 500 ms decision
#              refresh of cluster mode (separates the two effects)
#   1host-pair as 1host with the VIP's pair choice on: expected-wait
#              chooses between the flow's two hashed candidates (what lets
#              another host find the flow with second chance; on by
#              default in cluster mode) instead of among all workers
#   3host-all  as 3host with pair choice off: among all workers (a flow
#              moved to another host is then not found)
# Scoring: bench/e2e_report.py row (loadgen's --slo-ms: goodput = share of
# arrivals with TTFT <= CB_SLO_MS; failed, refused or dropped requests
# have an infinite TTFT); tables by bench/cluster_report.py: median
# (min-max) over the runs of goodput, TTFT p50/p99 over all arrivals,
# failures, the share of new flows per host and of requests per worker,
# and each configuration's goodput difference to 1host in points next to
# the target (3host within 5 points). Targets are printed, never asserted.
# Raw data in BUILD/bench-cluster/. Everything (namespaces, pins, BIRD,
# etcd, agents, workers) is removed on exit, also on failure or ^C.
# Usage: bench/cluster.sh BUILD_DIR
# Environment: CB_SECONDS (per run, default 30), CB_LOADS (default "90"),
# CB_RUNS (default 2), CB_CFGS (default "1host 3host 3host-solo 1host-cl"),
# CB_SLO_MS (default 1000), CB_TRACE (trace file, default unset: fixed-size
# requests), CB_TRACE_START (default 0), CB_TRACE_STEP (default 600),
# CB_TOKENS_SCALE (default 0.25).
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
export CL_BUILD=$build
export E2E_BIN=$build/tools/e2e
export CL_PREFIX=clb
PORT=8000			# the VIP's port and gpusim's
# shellcheck source=tests/e2e/cluster_topo.sh
. "$root/tests/e2e/cluster_topo.sh"
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"

gpusim=$build/tools/gpusim
loadgen=$build/tools/loadgen
agent=$build/lb-agent
out=$build/bench-cluster
report=$root/bench/e2e_report.py
creport=$root/bench/cluster_report.py

SECONDS_RUN=${CB_SECONDS:-30}
LOADS=${CB_LOADS:-90}
RUNS=${CB_RUNS:-2}
CFGS=${CB_CFGS:-1host 3host 3host-solo 1host-cl}
SLO_MS=${CB_SLO_MS:-1000}
TTFT_TARGET_MS=$((SLO_MS * 8 / 10))	# as bench/e2e.sh's default
TRACE=${CB_TRACE-}
TRACE_START=${CB_TRACE_START:-0}
TRACE_STEP=${CB_TRACE_STEP:-600}
TOKENS_SCALE=${CB_TOKENS_SCALE:-0.25}
N=3
TOKEN_MS=(0 10 10 20)
CAPW=(0 1.0 1.0 0.5)
BATCH=8
PROMPT_TOK=64
OUT_TOK=64
PREFILL_US=50			# gpusim's default --prefill-us-per-token
HPORT=8080			# cl_start_backends' httpd (unused by the bench)
MPORT=9464			# each agent's /metrics, in its own namespace
T_START=$(date +%s)
declare -A AGENT_PIDS=()
GS_PIDS=()
LG_PID=

cleanup() {
	local rc=$? h i
	trap - EXIT INT TERM
	if [ -n "$LG_PID" ]; then
		kill "$LG_PID" 2>/dev/null
		wait "$LG_PID" 2>/dev/null
	fi
	for h in "${!AGENT_PIDS[@]}"; do
		kill -9 "${AGENT_PIDS[$h]}" 2>/dev/null
		wait "${AGENT_PIDS[$h]}" 2>/dev/null
	done
	for i in "${!GS_PIDS[@]}"; do
		[ -n "${GS_PIDS[i]}" ] || continue
		kill -9 "${GS_PIDS[i]}" 2>/dev/null
		wait "${GS_PIDS[i]}" 2>/dev/null
	done
	if [ "$rc" != 0 ] && [ -n "$CL_DIR" ]; then
		for h in 1 2 3; do
			[ -s "$CL_DIR/agent-lb$h.log" ] || continue
			echo "---- agent lb$h log (last 15 lines)" >&2
			tail -15 "$CL_DIR/agent-lb$h.log" >&2
		done
	fi
	cl_destroy
	echo "bench-cluster: total $(($(date +%s) - T_START)) s" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "Error: $*" >&2; exit 1; }
warn() { echo "warning: $*" >&2; }
B() { echo "198.18.0.$((10 + $1))"; }
VIPG=$VIP4:$PORT/tcp

# ---- preconditions --------------------------------------------------------
[ "$(id -u)" = 0 ] || die "needs root (namespaces, XDP, bpffs)"
for b in "$build/lbctl" "$agent" "$gpusim" "$loadgen" "$E2E_BIN/httpd" \
	"$build/bpf/pass.bpf.o"; do
	[ -e "$b" ] || die "$b not built (make build)"
done
for c in python3 "$CL_ETCD" "$CL_BIRD"; do
	command -v "$c" >/dev/null || die "$c not found (scripts/install-deps.sh)"
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "CB_RUNS must be a whole number >= 1, got '$RUNS'"
[[ $SECONDS_RUN =~ ^[1-9][0-9]*$ ]] || die "CB_SECONDS must be a whole number >= 1, got '$SECONDS_RUN'"
[[ $SLO_MS =~ ^[1-9][0-9]*$ ]] || die "CB_SLO_MS must be a whole number of ms, got '$SLO_MS'"
for c in $CFGS; do
	case $c in
	1host|1host-pair|3host|3host-all|3host-solo|1host-cl) ;;
	*) die "CB_CFGS: unknown configuration '$c' (1host 1host-pair 3host 3host-all 3host-solo 1host-cl)" ;;
	esac
done
for l in $LOADS; do
	[[ $l =~ ^[1-9][0-9]*$ ]] || die "CB_LOADS: '$l' is not a whole percentage"
done
if [ -n "$TRACE" ]; then
	[ -r "$TRACE" ] || die "CB_TRACE: cannot read '$TRACE'"
	TRACE=$(realpath "$TRACE")
	[[ $TRACE_START =~ ^[0-9]+([.][0-9]+)?$ ]] || die "CB_TRACE_START must be seconds >= 0"
	[[ $TRACE_STEP =~ ^[0-9]+([.][0-9]+)?$ ]] || die "CB_TRACE_STEP must be seconds >= 0"
	[[ $TOKENS_SCALE =~ ^[0-9]*[.]?[0-9]+$ ]] || die "CB_TOKENS_SCALE must be a number > 0"
fi
mkdir -p "$out" || die "cannot create $out"
rm -f "$out"/*.json "$out"/*.csv "$out"/*.yaml "$out"/*.txt 2>/dev/null

# ---- capacity and rate ------------------------------------------------------
# as bench/e2e.sh: a worker's capacity is batch / the mean time a request
# holds a slot ((output + 1) x token time + prompt x prefill per token)
fleet_capacity() { # PROMPT OUT: sets CAP[1..N], CAP_TOTAL
	local i
	CAP_TOTAL=0
	for i in $(seq $N); do
		CAP[i]=$(awk -v b=$BATCH -v o="$2" -v t="${TOKEN_MS[i]}" -v p="$1" -v pu=$PREFILL_US \
			'BEGIN { printf "%.2f", b / (((o + 1) * t + p * pu / 1000) / 1000) }')
		CAP_TOTAL=$(awk -v a=$CAP_TOTAL -v b="${CAP[i]}" 'BEGIN { printf "%.2f", a + b }')
	done
}
trace_start() { awk -v s="$TRACE_START" -v d="$TRACE_STEP" -v r="$1" 'BEGIN { print s + (r - 1) * d }'; }
load_rate() { # LOAD RUN: sets RATE
	local o
	if [ -n "$TRACE" ]; then
		o=$(python3 "$report" trace-rate --file "$TRACE" --start "$(trace_start "$2")" \
			--duration "$SECONDS_RUN" --scale "$TOKENS_SCALE" --load "$1" \
			--batch $BATCH --prefill-us $PREFILL_US --token-ms "${TOKEN_MS[*]:1}") || return 1
		read -r RATE TRACE_P TRACE_O TRACE_ROWS <<<"$o"
		fleet_capacity "$TRACE_P" "$TRACE_O"
	else
		fleet_capacity $PROMPT_TOK $OUT_TOK
		RATE=$(awk -v c=$CAP_TOTAL -v l="$1" 'BEGIN { printf "%.2f", c * l / 100 }')
	fi
}

# ---- the fleet ---------------------------------------------------------------
start_worker() { # I
	ip netns exec "$(cl_ns "b$1")" "$gpusim" --bind 0.0.0.0 --port "$PORT" \
		--name "b$1" --batch "$BATCH" --token-ms "${TOKEN_MS[$1]}" \
		--max-queue 1024 --max-conns 2048 >>"$CL_DIR/gpusim-b$1.log" 2>&1 &
	GS_PIDS[$1]=$!
}
worker_up() { cl_exec lb1 curl -s -o /dev/null --max-time 1 "http://$(B "$1"):$PORT/health"; }
restart_fleet() {
	local i
	for i in $(seq $N); do
		if [ -n "${GS_PIDS[i]:-}" ]; then
			kill -9 "${GS_PIDS[i]}" 2>/dev/null
			wait "${GS_PIDS[i]}" 2>/dev/null
		fi
		GS_PIDS[i]=
	done
	for i in $(seq $N); do start_worker "$i"; done
	for i in $(seq $N); do
		wait_for 5 worker_up "$i" || { warn "gpusim b$i did not start"; return 1; }
	done
}

# ---- the balancer hosts ------------------------------------------------------
# host_yaml FILE I CLUSTER_NAME: host I's configuration; cluster mode when
# CLUSTER_NAME is not empty
host_yaml() {
	local f=$1 h=$2 cname=$3 i
	{
		echo "agent:"
		echo "  metrics_listen: 127.0.0.1:$MPORT"
		echo "  pin_dir: $(cl_pins "$h")"
		echo "  request_timeout_ms: 300"
		if [ -n "$cname" ]; then
			echo "cluster:"
			echo "  etcd: [$(cl_etcd_url)]"
			echo "  name: $cname"
			echo "  host: lb$h"
			echo "  lease_ttl_s: 3"
		fi
		echo "policy:"
		echo "  poll_interval_ms: 100"
		echo "  health_interval_ms: 100"
		echo "  fail_threshold: 2"
		echo "  eject_base_ms: 5000"
		echo "  slow_start_ms: 0"
		echo "vips:"
		echo "  - address: $VIPG"
		echo "    mode: ipip"
		echo "    ring_size: 4099"
		echo "    policy: expected-wait"
		echo "    ttft_target_ms: $TTFT_TARGET_MS"
		echo "    backends:"
		for i in $(seq $N); do
			echo "      - address: $(B "$i")"
			echo "        engine: vllm"
			echo "        url: http://$(B "$i"):$PORT"
			echo "        capacity: ${CAPW[i]}"
			echo "        slots: $BATCH"
		done
	} >"$f"
}

agent_start() { # I CONF
	echo "---- lb-agent -c $2" >>"$CL_DIR/agent-lb$1.log"
	# nsenter itself in the background (it execs the agent): the pid is
	# the agent's; a function in the background would be a subshell's
	nsenter --net="/run/netns/$(cl_ns "lb$1")" "$agent" -c "$2" \
		>>"$CL_DIR/agent-lb$1.log" 2>&1 &
	AGENT_PIDS[$1]=$!
}
agents_stop() {
	local h j
	for h in "${!AGENT_PIDS[@]}"; do kill -TERM "${AGENT_PIDS[$h]}" 2>/dev/null; done
	for h in "${!AGENT_PIDS[@]}"; do
		for j in $(seq 50); do
			kill -0 "${AGENT_PIDS[$h]}" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "${AGENT_PIDS[$h]}" 2>/dev/null
		wait "${AGENT_PIDS[$h]}" 2>/dev/null
		unset "AGENT_PIDS[$h]"
	done
}

# host_ready I: lbctl -j show on host I: every backend healthy with a
# weight, and in cluster mode a decision applied
host_ready() {
	cl_lbctl "$1" -j show 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
bes = [b for v in d["vips"] for b in v["backends"]]
ok = len(bes) == int(sys.argv[1]) and all(b["state"] == "healthy" and b["weight"] > 0 for b in bes)
c = (d.get("agent") or {}).get("cluster")
if sys.argv[2] == "1":
    ok = ok and bool(c) and c.get("generation", 0) > 0
sys.exit(0 if ok else 1)' "$N" "$2"
}
hosts_ready() { # CLUSTER(0|1) HOSTS...
	local cl=$1 h
	shift
	for h in "$@"; do host_ready "$h" "$cl" || return 1; done
}
# leaders HOSTS...: how many of them lead
leaders() {
	local h n=0
	for h in "$@"; do
		cl_lbctl "$h" -j show 2>/dev/null | python3 -c '
import json, sys
c = (json.load(sys.stdin).get("agent") or {}).get("cluster") or {}
sys.exit(0 if c.get("role") == "leader" else 1)' && n=$((n + 1))
	done
	echo "$n"
}
one_leader() { [ "$(leaders "$@")" = 1 ]; }


# announce HOSTS...: exactly these hosts announce the VIP; waits until the
# router's route has exactly them as next hops
announce() {
	local h want=""
	for h in 1 2 3; do
		if [[ " $* " == *" $h "* ]]; then
			cl_vip_announce "$h"
			want="$want $(cl_lb_addr "$h")"
		else
			cl_vip_withdraw "$h"
		fi
	done
	cl_wait_nexthops 15 "$want" || {
		warn "the router's next hops are '$(cl_router_nexthops)', not '$want'"
		return 1
	}
}

# setup CFG RUN: a fresh VIP on every host, the agents of CFG, the route
setup() {
	local cfg=$1 run=$2 hosts cl=0 cname="" h f pair=
	case $cfg in
	1host) hosts="1" ;;
	1host-pair) hosts="1"; pair=on ;;
	1host-cl) hosts="1"; cl=1 ;;
	3host) hosts="1 2 3"; cl=1 ;;
	3host-all) hosts="1 2 3"; cl=1; pair=off ;;
	3host-solo) hosts="1 2 3" ;;
	esac
	# a cluster name of its own per run: no leader key or decision of
	# an earlier run in etcd
	[ "$cl" = 1 ] && cname=cb$$-r$run-$cfg
	for h in 1 2 3; do
		f=$CL_DIR/lb$h-$cfg.yaml
		host_yaml "$f" "$h" "$cname"
		cl_lbctl "$h" vip del "$VIPG" >/dev/null 2>&1
		# the agent brings the backends up (no operator override)
		cl_lbctl "$h" apply -f "$f" >"$CL_DIR/apply.log" 2>&1 ||
			{ warn "lb$h: lbctl apply -f $f: $(cat "$CL_DIR/apply.log")"; return 1; }
		# pair choice (on by default in a file with a cluster:
		# section): expected-wait between the flow's two hashed
		# candidates rather than among all workers
		[ -z "$pair" ] || cl_lbctl "$h" vip set "$VIPG" --pair-choice "$pair" >/dev/null ||
			{ warn "lb$h: vip set --pair-choice $pair"; return 1; }
	done
	cp "$CL_DIR/lb1-$cfg.yaml" "$out/lb1-$cfg.yaml"
	for h in $hosts; do agent_start "$h" "$CL_DIR/lb$h-$cfg.yaml"; done
	# shellcheck disable=SC2086
	wait_for 15 hosts_ready "$cl" $hosts || {
		for h in $hosts; do
			host_ready "$h" "$cl" ||
				warn "$cfg: lb$h not ready: $(cl_lbctl "$h" show)"
		done
		return 1
	}
	# shellcheck disable=SC2086
	if [ "$cl" = 1 ] && ! wait_for 10 one_leader $hosts; then
		warn "$cfg: not exactly one leader ($(leaders $hosts))"
		return 1
	fi
	# shellcheck disable=SC2086
	announce $hosts || return 1
	HOSTS=$hosts
	sleep 1		# a few polls of the idle fleet
}

# run_one LOAD CFG RUN: one loadgen run; a row in inference.csv (e2e_report
# row) and one in hosts.csv (new flows per host)
run_one() {
	local load=$1 cfg=$2 run=$3 tag=$1-$2-r$3 f0 f1 lg
	load_rate "$load" "$run" || return 1
	restart_fleet || return 1
	setup "$cfg" "$run" || { agents_stop; return 1; }
	lg=(--url "http://$VIP4:$PORT/v1/completions" --new-conn --max-inflight 4096
		--timeout 30 --connect-timeout 3 --seed $((6 + run)) --slo-ms "$SLO_MS" --json)
	if [ -n "$TRACE" ]; then
		lg+=(--trace "$TRACE" --trace-rate "$RATE" --trace-start "$(trace_start "$run")"
			--duration "$SECONDS_RUN" --tokens-scale "$TOKENS_SCALE")
	else
		lg+=(--rate "$RATE" --duration "$SECONDS_RUN" --dist fixed
			--prompt-tokens "$PROMPT_TOK" --output-tokens "$OUT_TOK")
	fi
	f0=$(cl_flows_all)
	timeout $((SECONDS_RUN + 60)) ip netns exec "$(cl_ns client)" "$loadgen" "${lg[@]}" \
		>"$out/inf-$tag.json" 2>"$CL_DIR/loadgen.err" &
	LG_PID=$!
	wait "$LG_PID" || warn "loadgen $load% $cfg run $run: $(tail -3 "$CL_DIR/loadgen.err")"
	LG_PID=
	f1=$(cl_flows_all)
	for h in $HOSTS; do
		cl_nsenter "lb$h" curl -s --max-time 3 "http://127.0.0.1:$MPORT/metrics" \
			>"$out/inf-$tag.lb$h-metrics.txt" 2>/dev/null
		cl_lbctl "$h" show >"$out/inf-$tag.lb$h-show.txt" 2>&1
	done
	agents_stop
	: >"$CL_DIR/sched"
	python3 "$report" row --json "$out/inf-$tag.json" --sched "$CL_DIR/sched" \
		--load "$load" --config "$cfg" --run "$run" --rate "$RATE" \
		--csv "$out/inference.csv" --phases-csv "$out/phases.csv" ||
		{ warn "no result for $load% $cfg run $run"; return 1; }
	read -r -a a0 <<<"$f0"
	read -r -a a1 <<<"$f1"
	echo "$load,$cfg,$run,$((a1[0] - a0[0])),$((a1[1] - a0[1])),$((a1[2] - a0[2]))" \
		>>"$out/hosts.csv"
}

cfg_legend() {
	case $1 in
	1host) echo "lb1 announces; lb-agent on lb1, no cluster (the baseline)" ;;
	1host-pair) echo "as 1host, pair choice on: expected-wait between the flow's two hashed candidates" ;;
	3host-all) echo "as 3host, pair choice off: expected-wait among all workers" ;;
	3host) echo "lb1..lb3 announce; lb-agent on each, cluster mode (etcd, one leader's decision)" ;;
	3host-solo) echo "lb1..lb3 announce; lb-agent on each, no cluster (each polls the workers)" ;;
	1host-cl) echo "lb1 announces; lb-agent on lb1, cluster mode as the only member" ;;
	esac
}

# ---- main ------------------------------------------------------------------
echo "== Load-aware steering over 1 and 3 balancer hosts (BIRD + ECMP, etcd)"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs (client, router, hosts, workers, etcd share them)"
cl_create $N || die "topology"
PORT=$HPORT cl_start_backends --quiet || die "decap on the backends"
cl_bird_start_all || die "BIRD"
wait_for 20 cl_bgp_up || die "BGP sessions not up: $(cl_birdc router show protocols)"
cl_etcd_start || die "etcd"
for h in 1 2 3; do
	CL_PINS+=("$(cl_pins "$h")")
	cl_lbctl "$h" attach "$CL_DEV" >"$CL_DIR/attach.log" 2>&1 ||
		die "lb$h: lbctl attach: $(cat "$CL_DIR/attach.log")"
done

load_rate "$(echo "$LOADS" | awk '{ print $1 }')" 1 || die "no rate"
if [ -n "$TRACE" ]; then
	printf "fleet: batch %d; requests from the trace %s, run r from %s + (r - 1) x %s s, tokens x %s\n" \
		$BATCH "$TRACE" "$TRACE_START" "$TRACE_STEP" "$TOKENS_SCALE"
else
	printf "fleet: batch %d, %d prompt + %d output tokens per request, %s s per run, %d run(s)\n" \
		$BATCH $PROMPT_TOK $OUT_TOK "$SECONDS_RUN" "$RUNS"
fi
for i in $(seq $N); do
	printf "  b%d  %4s ms/token  capacity %6s req/s (agent: capacity %s, slots %d)\n" \
		"$i" "${TOKEN_MS[i]}" "${CAP[i]}" "${CAPW[i]}" $BATCH
done
echo "  estimated capacity $CAP_TOTAL req/s; VIP policy expected-wait, ttft_target_ms $TTFT_TARGET_MS"
for load in $LOADS; do
	load_rate "$load" 1
	echo "  load $load% = $RATE req/s${TRACE:+ (the window of run 1)}"
done
echo "configurations:"
for cfg in $CFGS; do printf "  %-11s %s\n" "$cfg" "$(cfg_legend "$cfg")"; done
python3 "$report" header --csv "$out/inference.csv" --phases-csv "$out/phases.csv"
echo "load,config,run,lb1,lb2,lb3" >"$out/hosts.csv"

n=0
total=$((RUNS * $(wc -w <<<"$LOADS") * $(wc -w <<<"$CFGS")))
for run in $(seq "$RUNS"); do
	for load in $LOADS; do
		for cfg in $CFGS; do
			n=$((n + 1)); t0=$(date +%s)
			echo "  [$n/$total] run $run, $load%, $cfg ..." >&2
			run_one "$load" "$cfg" "$run" || warn "run $run $load% $cfg failed"
			echo "  [$n/$total] $(($(date +%s) - t0)) s" >&2
		done
	done
done
echo
python3 "$creport" --csv "$out/inference.csv" --hosts-csv "$out/hosts.csv" \
	--loads "$LOADS" --cfgs "$CFGS" --slo-ms "$SLO_MS" --seconds "$SECONDS_RUN" \
	--base 1host --target 3host --points 5 --json-dir "$out"
echo "raw data: $out"
exit 0
