#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end benchmark (make bench-e2e), in network namespaces built by
# tests/e2e/topo.sh: client, lb (inferlb, lb-agent, HAProxy, nftables),
# b1..b4 (tools/gpusim workers on :8000, tools/e2e/httpd on :8080).
#
#  1. Inference outcome. A heterogeneous fleet of 4 simulated GPU workers:
#     b1, b2 fast, b3 half as fast, b4 fast until it degrades (slow fault,
#     x4) half-way through the run and dies three quarters in. Open-loop
#     streaming load (tools/loadgen, a new connection per request) at each
#     of E2E_LOADS % of the fleet's estimated capacity, of fixed-size
#     requests (64 prompt + 64 output tokens) or, with E2E_TRACE, replayed
#     from a trace, through
#       agent         inferlb + lb-agent, VIP policy E2E_AGENT_POLICY; with
#                     expected-wait every backend gets slots: 8 (the batch)
#                     and the VIP ttft_target_ms: E2E_TTFT_TARGET_MS
#                     (default 80 % of the SLO)
#       agent-maglev  inferlb + lb-agent, policy maglev (the agent's weights)
#       agent-p2c     inferlb + lb-agent, policy p2c (the agent's load scores)
#       static        inferlb, maglev, equal static weights (lbctl apply -f)
#       rr            inferlb, --policy rr, no agent
#       lc            inferlb, --policy least-conn, no agent
#       haproxy       HAProxy in the lb namespace (TCP mode, balance
#                     leastconn, health checks GET /health on each worker
#                     every 100 ms, down after 2 failures, up after 2
#                     successes, a refused connect retried on another
#                     server); clients connect to the lb's address :8081
#     E2E_RUNS runs, interleaved: each run is every configuration once at
#     every load (same seed within a run, another per run). Scored over
#     all arrivals (loadgen): a failed, refused or dropped request has an
#     infinite TTFT; goodput = share of arrivals with TTFT <= E2E_SLO_MS;
#     also per phase: healthy, degraded (from 50 %), failed (from 75 %).
#     Tables: median (min-max) over the runs of goodput, TTFT p99 and p95
#     over all arrivals, TTFT p99 of the ok requests, errors, the agent's
#     table rebuilds/s; then the targets.
#     Trace mode (E2E_TRACE=FILE, Azure format TIMESTAMP,ContextTokens,
#     GeneratedTokens, e.g. /work/shared/data/azure-llm-2023-conv.csv: the
#     Azure LLM inference trace 2023, CC-BY 4.0, Patel et al., "Splitwise",
#     ISCA 2024): E2E_SECONDS of the trace's arrivals from E2E_TRACE_START
#     s on (run r: E2E_TRACE_STEP x (r - 1) s later, a different stretch
#     of the trace per run), time-scaled to the load's rate, token counts x E2E_TOKENS_SCALE
#     (default 0.25: the hour's mean of ~1150 prompt + ~210 output tokens
#     becomes ~290 + ~53, a fleet capacity of ~45-50 requests/s, a rate
#     this machine's 2 CPUs can drive). The capacity is estimated from the
#     mean token counts of the rows loadgen will replay (bench/e2e_report.py
#     trace-rate).
#  2. Reaction: one worker saturated by direct requests; time until the
#     agent's weight for it is ~0 and until its new_flows stop growing.
#  3. Against what users would pick instead, on the same namespaces and
#     backends (httpd, short requests): HAProxy (TCP mode, leastconn, a
#     proxy in the lb namespace) and an nftables DNAT balancer the
#     kube-proxy way (numgen random mod N vmap, masquerade), beside inferlb
#     (XDP, l2dsr). wrk from the client: requests/s (keep-alive),
#     connections/s (Connection: close), CPU per request.
#
# Output: tables on stdout, raw JSON/CSV and PNG charts (gnuplot) in
# BUILD/bench-e2e/. Targets are printed, never asserted. Everything
# (namespaces, pins, processes) is removed on exit, also on failure/^C.
# Usage: bench/e2e.sh BUILD_DIR
# Environment: E2E_SECONDS (per inference run, default 30), E2E_LOADS
# (percent list, default "90 70"), E2E_RUNS (default 3), E2E_CFGS (default
# "agent agent-maglev agent-p2c static rr lc haproxy"), E2E_AGENT_POLICY
# (the agent configuration's policy, also part 2's; default expected-wait),
# E2E_TTFT_TARGET_MS (the VIP's ttft_target_ms with expected-wait; default
# 80 % of E2E_SLO_MS; empty: not written), E2E_SLO_MS (goodput's TTFT
# bound, default 1000),
# E2E_TRACE (trace file; default unset: fixed-size requests),
# E2E_TRACE_START (seconds into the trace, default 0), E2E_TRACE_STEP (run
# r starts (r - 1) x this later, default 600 s), E2E_TOKENS_SCALE
# (default 0.25), E2E_RUNNING_SAT (the agent's running_sat, default its
# own), E2E_WRK_SECONDS (default 8), E2E_TW_REUSE (part 3: tcp_tw_reuse in
# the client, default 1), E2E_PARTS (default "1 2 3").
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
export E2E_BIN=$build/tools/e2e
export E2E_PREFIX=ilbb
# shellcheck source=tests/e2e/topo.sh
. "$root/tests/e2e/topo.sh"
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"

lbctl=$build/lbctl
agent=$build/lb-agent
gpusim=$build/tools/gpusim
loadgen=$build/tools/loadgen
out=$build/bench-e2e
pins=/sys/fs/bpf/inferlb-e2e-$$
tmp=$(mktemp -d /tmp/inferlb-bench-e2e.XXXXXX)

SECONDS_RUN=${E2E_SECONDS:-30}
LOADS=${E2E_LOADS:-90 70}
WRK_SECONDS=${E2E_WRK_SECONDS:-8}
FRESH_SECONDS=3		# < 64k connections: no client port is reused
PARTS=${E2E_PARTS:-1 2 3}
RUNS=${E2E_RUNS:-3}
CFGS=${E2E_CFGS:-agent agent-maglev agent-p2c static rr lc haproxy}
AGENT_POLICY=${E2E_AGENT_POLICY:-expected-wait}
SLO_MS=${E2E_SLO_MS:-1000}
# the queueing budget an operator with this SLO gives expected-wait: 80 %
# of it, the rest for prefill, the first token and the estimate's error;
# "" (E2E_TTFT_TARGET_MS=) = no ttft_target_ms in the yaml
TTFT_TARGET_MS=${E2E_TTFT_TARGET_MS-auto}
TRACE=${E2E_TRACE-}			# "" = fixed-size requests
TRACE_START=${E2E_TRACE_START:-0}
# run r replays the window from TRACE_START + (r - 1) x TRACE_STEP, so
# the runs see different stretches of the trace, not one replayed thrice
TRACE_STEP=${E2E_TRACE_STEP:-600}
TOKENS_SCALE=${E2E_TOKENS_SCALE:-0.25}
RUNNING_SAT=${E2E_RUNNING_SAT-}	# the agent's running_sat ("" = its default)
GPORT=8000		# gpusim
HPORT=8080		# httpd (part 3)
HAPORT=8081		# HAProxy on the lb's own address
NFTVIP=198.18.1.12	# the nftables balancer's VIP (DNAT in the lb namespace)
# its SNAT source: an address of its own on the lb, so that its flows'
# tuples never meet the TIME_WAIT state HAProxy's connections left on the
# backends (kube-proxy masquerades to the node's address)
NFTSNAT=198.18.0.3
MPORT=9464
N=4
# the fleet: decode ms per token, batch; b4 degrades then dies
TOKEN_MS=(0 10 10 20 10)
BATCH=8
OUT_TOK=64		# fixed output tokens per request
PROMPT_TOK=64		# fixed prompt tokens (prefill 64 x 50 us = 3.2 ms)
CAPW=(0 1.0 1.0 0.5 1.0)	# what the agent is told (relative GPU speed)
PREFILL_US=50		# gpusim's default --prefill-us-per-token
AGENT_PID=
SCHED_PID=
LG_PID=
HAPROXY_PIDFILE=$tmp/haproxy.pid
T_START=$(date +%s)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "$SCHED_PID" ] && pkill -P "$SCHED_PID" 2>/dev/null && kill "$SCHED_PID" 2>/dev/null
	[ -n "$LG_PID" ] && kill "$LG_PID" 2>/dev/null	# timeout passes it on
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
	[ -n "$AGENT_PID" ] && wait "$AGENT_PID" 2>/dev/null
	if [ -s "$HAPROXY_PIDFILE" ]; then
		for p in $(cat "$HAPROXY_PIDFILE"); do kill "$p" 2>/dev/null; done
	fi
	if [ -n "$TOPO_ID" ] && [ -e "/run/netns/$(topo_ns lb)" ]; then
		timeout 20 nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" \
			--pin-dir "$pins" unload >/dev/null 2>&1
		ip netns exec "$(topo_ns lb)" nft delete table ip e2elb 2>/dev/null
	fi
	rm -rf "$pins" 2>/dev/null
	topo_destroy
	if [ "$rc" != 0 ] && [ -s "$tmp/agent.log" ]; then
		echo "---- agent log (last 20 lines)" >&2
		tail -20 "$tmp/agent.log" >&2
	fi
	rm -rf "$tmp"
	echo "bench-e2e: total $(($(date +%s) - T_START)) s" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "Error: $*" >&2; exit 1; }
warn() { echo "warning: $*" >&2; }
in_lb() { timeout 60 nsenter --net="/run/netns/$(topo_ns lb)" "$@"; }
L() { in_lb "$lbctl" --pin-dir "$pins" "$@"; }
B() { echo "198.18.0.$((10 + $1))"; }
VIPG=$VIP4:$GPORT/tcp


# ---- preconditions ----------------------------------------------------------
[ "$(id -u)" = 0 ] || die "needs root (namespaces, XDP, bpffs)"
for b in "$lbctl" "$agent" "$gpusim" "$loadgen" "$E2E_BIN/httpd" \
	"$E2E_BIN/conns" "$build/bpf/pass.bpf.o"; do
	[ -e "$b" ] || die "$b not built (make build)"
done
missing=
command -v haproxy >/dev/null || missing="$missing haproxy"
command -v nft >/dev/null || missing="$missing nftables"
command -v wrk >/dev/null || missing="$missing wrk"
command -v gnuplot >/dev/null || missing="$missing gnuplot-nox"
if [ -n "$missing" ]; then
	echo "bench-e2e: installing$missing" >&2
	# shellcheck disable=SC2086
	timeout 600 env DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends $missing >"$tmp/apt.log" 2>&1 ||
		warn "apt-get install$missing failed (see below); those parts are skipped
$(tail -5 "$tmp/apt.log")"
	# a package's service must not run outside our namespaces
	command -v systemctl >/dev/null && [ -d /run/systemd/system ] &&
		systemctl stop haproxy 2>/dev/null
fi
command -v python3 >/dev/null || die "python3 not found"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "E2E_RUNS must be a whole number >= 1, got '$RUNS'"
for c in $CFGS; do
	case $c in
	agent|agent-maglev|agent-p2c|static|rr|lc|haproxy) ;;
	*) die "E2E_CFGS: unknown configuration '$c' (agent agent-maglev agent-p2c static rr lc haproxy)" ;;
	esac
done
for l in $LOADS; do
	[[ $l =~ ^[1-9][0-9]*$ ]] || die "E2E_LOADS: '$l' is not a whole percentage"
done
[[ $SLO_MS =~ ^[1-9][0-9]*$ ]] || die "E2E_SLO_MS must be a whole number of ms, got '$SLO_MS'"
[ "$TTFT_TARGET_MS" = auto ] && TTFT_TARGET_MS=$((SLO_MS * 8 / 10))
[ -z "$TTFT_TARGET_MS" ] || [[ $TTFT_TARGET_MS =~ ^[1-9][0-9]*$ ]] ||
	die "E2E_TTFT_TARGET_MS must be a whole number of ms, got '$TTFT_TARGET_MS'"
if [ -n "$TRACE" ]; then
	[ -r "$TRACE" ] || die "E2E_TRACE: cannot read '$TRACE'"
	TRACE=$(realpath "$TRACE")
	[[ $TRACE_START =~ ^[0-9]+([.][0-9]+)?$ ]] || die "E2E_TRACE_START must be seconds >= 0, got '$TRACE_START'"
	[[ $TRACE_STEP =~ ^[0-9]+([.][0-9]+)?$ ]] || die "E2E_TRACE_STEP must be seconds >= 0, got '$TRACE_STEP'"
	[[ $TOKENS_SCALE =~ ^[0-9]*[.]?[0-9]+$ ]] || die "E2E_TOKENS_SCALE must be a number > 0, got '$TOKENS_SCALE'"
fi
mkdir -p "$out" || die "cannot create $out"
rm -f "$out"/*.json "$out"/*.csv "$out"/*.png "$out"/*.dat "$out"/*.txt \
	"$out"/*.yaml "$out"/*.cfg "$out"/*.conf 2>/dev/null

# ---- topology ---------------------------------------------------------------
topo_create $N && topo_peer_xdp_pass "$build/bpf/pass.bpf.o" ||
	die "topology"
L attach "$TOPO_DEV" >"$tmp/attach.log" 2>&1 ||
	die "lbctl attach: $(cat "$tmp/attach.log")"

GS_PIDS=()
start_worker() { # I
	local i=$1
	ip netns exec "$(topo_ns "b$i")" "$gpusim" --bind 0.0.0.0 --port "$GPORT" \
		--name "b$i" --batch "$BATCH" --token-ms "${TOKEN_MS[i]}" \
		--max-queue 1024 --max-conns 2048 >>"$tmp/gpusim-b$i.log" 2>&1 &
	GS_PIDS[i]=$!
}
worker_up() { topo_exec client curl -s -o /dev/null --max-time 1 "http://$(B "$1"):$GPORT/health"; }
# restart_fleet: fresh workers (no queue, no fault) on every backend
restart_fleet() {
	local i
	for i in $(seq $N); do
		[ -n "${GS_PIDS[i]:-}" ] && kill -9 "${GS_PIDS[i]}" 2>/dev/null &&
			wait "${GS_PIDS[i]}" 2>/dev/null
		GS_PIDS[i]=
	done
	for i in $(seq $N); do start_worker "$i"; done
	for i in $(seq $N); do
		wait_for 5 worker_up "$i" || { warn "gpusim b$i did not start"; return 1; }
	done
}
fault() { # I MODE [ARGS]
	topo_exec client curl -s -o /dev/null --max-time 2 \
		"http://$(B "$1"):$GPORT/admin/fault?mode=$2${3:+&$3}"
}
# requests running + waiting on worker I (from its /metrics)
inflight() {
	topo_exec client curl -s --max-time 1 "http://$(B "$1"):$GPORT/metrics" |
		awk '/^vllm:num_requests_(running|waiting)/ { n += $2 } END { print n + 0 }'
}

# capacity: a request is admitted at a tick and gets a token per tick,
# OUT tokens take ~(OUT + 1) ticks, plus the prefill (PROMPT x 50 us, in
# its slot); a worker runs BATCH at a time. With mean token counts this is
# BATCH / the mean time a request holds a slot.
# fleet_capacity PROMPT OUT: sets CAP[1..N], CAP_TOTAL, CAP_SURV (req/s)
fleet_capacity() {
	local i
	CAP_TOTAL=0
	for i in $(seq $N); do
		CAP[i]=$(awk -v b=$BATCH -v o="$2" -v t="${TOKEN_MS[i]}" -v p="$1" -v pu=$PREFILL_US \
			'BEGIN { printf "%.2f", b / (((o + 1) * t + p * pu / 1000) / 1000) }')
		CAP_TOTAL=$(awk -v a=$CAP_TOTAL -v b="${CAP[i]}" 'BEGIN { printf "%.2f", a + b }')
	done
	CAP_SURV=$(awk -v a=$CAP_TOTAL -v b="${CAP[4]}" 'BEGIN { printf "%.2f", a - b }')
}
fleet_capacity $PROMPT_TOK $OUT_TOK

# fleet config: yaml FILE POLICY CAPACITIES(equal|true)
fleet_yaml() {
	local f=$1 pol=$2 capmode=$3 i c
	{
		echo "agent:"
		echo "  metrics_listen: 127.0.0.1:$MPORT"
		echo "  pin_dir: $pins"
		echo "  request_timeout_ms: 300"
		echo "policy:"
		echo "  poll_interval_ms: 100"
		echo "  health_interval_ms: 100"
		echo "  fail_threshold: 2"
		echo "  eject_base_ms: 5000"
		echo "  slow_start_ms: 0"
		[ -n "$RUNNING_SAT" ] && echo "  running_sat: $RUNNING_SAT"
		echo "vips:"
		echo "  - address: $VIPG"
		echo "    mode: l2dsr"
		echo "    ring_size: 4099"
		echo "    policy: $pol"
		# expected-wait's own keys, only with it (older agents refuse them)
		[ "$pol" = expected-wait ] && [ -n "$TTFT_TARGET_MS" ] &&
			echo "    ttft_target_ms: $TTFT_TARGET_MS"
		echo "    backends:"
		for i in $(seq $N); do
			c=1.0
			[ "$capmode" = true ] && c=${CAPW[i]}
			echo "      - address: $(B "$i")"
			echo "        engine: vllm"
			echo "        url: http://$(B "$i"):$GPORT"
			echo "        capacity: $c"
			[ "$pol" = expected-wait ] && echo "        slots: $BATCH"
		done
	} >"$f"
}

# field of backend ADDR in `lbctl show -j` (state|weight|...)
be() {
	L show -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
for v in d["vips"]:
    for b in v["backends"]:
        if b["address"] == sys.argv[1]:
            print(b[sys.argv[2]]); sys.exit(0)
print("none")' "$1" "$2"
}
all_healthy_weighted() {
	local i
	for i in $(seq $N); do
		[ "$(be "$(B "$i")" state)" = healthy ] || return 1
		[ "$(be "$(B "$i")" weight)" -gt 0 ] 2>/dev/null || return 1
	done
}
# shellcheck source=bench/agentproc.sh
. "$(dirname "$0")/agentproc.sh"
start_agent() { agent_start "$(topo_ns lb)" "$1"; }
stop_agent() { agent_stop; }

# setup_lb CONF AGENT(0|1): the VIP exactly as CONF, backends healthy
setup_lb() {
	local conf=$1 with_agent=$2 i
	L vip del "$VIPG" >/dev/null 2>&1
	L apply -f "$conf" >"$tmp/apply.log" 2>&1 || {
		warn "lbctl apply -f $conf: $(cat "$tmp/apply.log")"
		return 1
	}
	for i in $(seq $N); do
		L backend state "$VIPG" "$(B "$i")" healthy >/dev/null 2>&1
	done
	if [ "$with_agent" = 1 ]; then
		start_agent "$conf"
		wait_for 10 all_healthy_weighted || {
			warn "agent did not bring the backends up: $(L show)"
			return 1
		}
		sleep 1	# a few polls of the idle fleet
	fi
}

# ---- part 1: inference outcome ----------------------------------------------
# HAProxy for part 1: TCP mode, leastconn over the gpusims; health checks
# as close as HAProxy gets to the agent's (health_interval_ms 100,
# fail_threshold 2): GET /health every 100 ms, down after 2 failures, up
# after 2 successes. A connect that fails (b4 dead, not yet marked down)
# is retried (retries 3) and, with redispatch, on another server: what an
# operator would configure. No per-server maxconn: HAProxy would then
# queue requests itself (a central queue), not balance connections.
haproxy_gpu_cfg() { # FILE
	local i
	{
		echo "global"
		echo "  maxconn 8000"
		echo "defaults"
		echo "  mode tcp"
		echo "  timeout connect 3s"
		echo "  timeout client 60s"
		echo "  timeout server 60s"
		echo "  timeout check 1s"
		echo "  retries 3"
		echo "  option redispatch"
		echo "frontend fe"
		echo "  bind $LB4:$HAPORT"
		echo "  default_backend be"
		echo "backend be"
		echo "  balance leastconn"
		echo "  option httpchk GET /health"
		echo "  http-check expect status 200"
		echo "  default-server check inter 100 fall 2 rise 2"
		for i in $(seq $N); do echo "  server b$i $(B "$i"):$GPORT"; done
	} >"$1"
}
haproxy_start() { # CFG
	ip netns exec "$(topo_ns lb)" haproxy -f "$1" -D -p "$HAPROXY_PIDFILE" >"$tmp/haproxy.log" 2>&1 || {
		warn "haproxy: $(cat "$tmp/haproxy.log")"
		return 1
	}
}
haproxy_gone() {
	local p
	for p in $(cat "$HAPROXY_PIDFILE" 2>/dev/null); do
		kill -0 "$p" 2>/dev/null && return 1
	done
	return 0
}
haproxy_stop() {
	local p
	[ -s "$HAPROXY_PIDFILE" ] || return 0
	for p in $(cat "$HAPROXY_PIDFILE"); do kill "$p" 2>/dev/null; done
	wait_for 5 haproxy_gone || for p in $(cat "$HAPROXY_PIDFILE"); do kill -9 "$p" 2>/dev/null; done
	rm -f "$HAPROXY_PIDFILE"
}
haproxy_answers() { topo_exec client curl -s -o /dev/null --max-time 1 "http://$LB4:$HAPORT/health"; }

# the agent's table rebuilds so far (its /metrics), "" if unreadable
agent_rebuilds() {
	in_lb curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" 2>/dev/null |
		awk '/^inferlb_vip_table_rebuilds_total[{ ]/ { n += $NF; f = 1 } END { if (f) print n }'
}

# Trace mode: the mean (scaled) token counts of the rows loadgen replays at
# a rate, hence the capacity and the rate of a load. The rows are the
# first round(rate x E2E_SECONDS) from E2E_TRACE_START; the rate depends on
# their means, so: start from the means of the hour from E2E_TRACE_START,
# then rate -> rows -> means -> rate a few times (bench/e2e_report.py).
# trace_start RUN: where run RUN's window starts, seconds into the trace
trace_start() { awk -v s="$TRACE_START" -v d="$TRACE_STEP" -v r="$1" 'BEGIN { print s + (r - 1) * d }'; }
# trace_load LOAD [RUN]: sets RATE, CAP[], CAP_TOTAL, CAP_SURV, TRACE_MEANS
# for run RUN's window (default 1)
trace_load() {
	local out
	out=$(python3 "$root/bench/e2e_report.py" trace-rate --file "$TRACE" \
		--start "$(trace_start "${2:-1}")" --duration "$SECONDS_RUN" --scale "$TOKENS_SCALE" \
		--load "$1" --batch $BATCH --prefill-us $PREFILL_US \
		--token-ms "${TOKEN_MS[*]:1}") || return 1
	read -r RATE TRACE_P TRACE_O TRACE_ROWS <<<"$out"
	fleet_capacity "$TRACE_P" "$TRACE_O"
	TRACE_MEANS="$TRACE_ROWS rows, means $TRACE_P prompt + $TRACE_O output tokens"
}
# load_rate LOAD [RUN]: sets RATE (and in trace mode the capacities)
load_rate() {
	if [ -n "$TRACE" ]; then
		trace_load "$1" "${2:-1}"
	else
		RATE=$(awk -v c=$CAP_TOTAL -v l="$1" 'BEGIN { printf "%.2f", c * l / 100 }')
	fi
}

# run_inference LOADPCT CFG RUN: one run; raw JSON in
# $out/inf-LOAD-CFG-rRUN.json, a row in inference.csv, rows in phases.csv
run_inference() {
	local load=$1 cfg=$2 run=$3 pol=maglev capmode=equal with_agent=0 f
	local url="http://$VIP4:$GPORT/v1/completions" tag=$1-$2-r$3 lg=()
	case $cfg in
	agent) pol=$AGENT_POLICY; capmode=true; with_agent=1 ;;
	agent-maglev) capmode=true; with_agent=1 ;;
	agent-p2c) pol=p2c; capmode=true; with_agent=1 ;;
	static) ;;
	rr) pol=rr ;;
	lc) pol=least-conn ;;
	haproxy) url="http://$LB4:$HAPORT/v1/completions" ;;
	esac
	load_rate "$load" "$run" || return 1
	restart_fleet || return 1
	if [ "$cfg" = haproxy ]; then
		command -v haproxy >/dev/null || { warn "no haproxy"; return 1; }
		L vip del "$VIPG" >/dev/null 2>&1	# inferlb passes everything
		haproxy_gpu_cfg "$tmp/haproxy-gpu.cfg"
		cp "$tmp/haproxy-gpu.cfg" "$out/haproxy-gpu.cfg"
		haproxy_start "$tmp/haproxy-gpu.cfg" || return 1
		wait_for 5 haproxy_answers || { warn "HAProxy does not answer"; haproxy_stop; return 1; }
		sleep 1	# a few health checks
	else
		f=$tmp/fleet-$cfg.yaml
		fleet_yaml "$f" "$pol" "$capmode"
		cp "$f" "$out/fleet-$cfg.yaml"
		setup_lb "$f" "$with_agent" || { stop_agent; return 1; }
	fi
	local half=$((SECONDS_RUN * 1000 / 2)) threeq=$((SECONDS_RUN * 1000 * 3 / 4))
	lg=(--url "$url" --new-conn --max-inflight 4096 --timeout 30 --connect-timeout 3
		--seed $((6 + run)) --slo-ms "$SLO_MS" --phase healthy@0
		--phase "degraded@$(awk -v m=$half 'BEGIN { print m / 1000 }')"
		--phase "failed@$(awk -v m=$threeq 'BEGIN { print m / 1000 }')" --json)
	if [ -n "$TRACE" ]; then
		lg+=(--trace "$TRACE" --trace-rate "$RATE" --trace-start "$(trace_start "$run")"
			--duration "$SECONDS_RUN" --tokens-scale "$TOKENS_SCALE")
	else
		lg+=(--rate "$RATE" --duration "$SECONDS_RUN" --dist fixed
			--prompt-tokens "$PROMPT_TOK" --output-tokens "$OUT_TOK")
	fi
	: >"$tmp/sched"
	# the agent's table rebuilds over the arrivals (not the drain after)
	[ "$with_agent" = 1 ] && echo "rebuilds0 $(agent_rebuilds) $(ms)" >>"$tmp/sched"
	(	# the fault schedule of b4, relative to the load's start
		sleep "$(awk -v m=$half 'BEGIN { print m / 1000 }')"
		fault 4 slow factor=4
		echo "slow $(ms)" >>"$tmp/sched"
		sleep "$(awk -v m=$((threeq - half)) 'BEGIN { print m / 1000 }')"
		echo "inflight_at_death $(inflight 4)" >>"$tmp/sched"
		fault 4 die
		echo "die $(ms)" >>"$tmp/sched"
		[ "$with_agent" = 1 ] || exit 0
		sleep "$(awk -v m=$((SECONDS_RUN * 1000 - threeq)) 'BEGIN { print m / 1000 }')"
		echo "rebuilds1 $(agent_rebuilds) $(ms)" >>"$tmp/sched"
	) &
	SCHED_PID=$!
	timeout $((SECONDS_RUN + 60)) ip netns exec "$(topo_ns client)" "$loadgen" "${lg[@]}" \
		>"$out/inf-$tag.json" 2>"$tmp/loadgen.err" &
	LG_PID=$!
	# in the background: a signal's trap runs at once, not after the run
	wait $LG_PID || warn "loadgen $load% $cfg run $run: $(tail -3 "$tmp/loadgen.err")"
	LG_PID=
	wait "$SCHED_PID" 2>/dev/null
	SCHED_PID=
	if [ "$with_agent" = 1 ]; then
		# the agent's own view (signals, weights, states, polls), raw data
		in_lb curl -s --max-time 3 "http://127.0.0.1:$MPORT/metrics" \
			>"$out/inf-$tag.agent-metrics.txt" 2>/dev/null
	fi
	if [ "$cfg" = haproxy ]; then
		haproxy_stop
	else
		L -j stats >"$out/inf-$tag.stats.json" 2>/dev/null
	fi
	stop_agent
	python3 "$root/bench/e2e_report.py" row --json "$out/inf-$tag.json" \
		--sched "$tmp/sched" --load "$load" --config "$cfg" --run "$run" \
		--rate "$RATE" \
		--csv "$out/inference.csv" --phases-csv "$out/phases.csv" ||
		warn "no result for $load% $cfg run $run"
}

cfg_legend() {
	case $1 in
	agent) echo "inferlb + lb-agent, policy $AGENT_POLICY$([ "$AGENT_POLICY" = expected-wait ] &&
		echo ", slots $BATCH${TTFT_TARGET_MS:+, ttft_target_ms $TTFT_TARGET_MS}")" ;;
	agent-maglev) echo "inferlb + lb-agent, policy maglev" ;;
	agent-p2c) echo "inferlb + lb-agent, policy p2c" ;;
	static) echo "inferlb, maglev, equal static weights, no agent" ;;
	rr) echo "inferlb, round robin, no agent" ;;
	lc) echo "inferlb, least-conn, no agent" ;;
	haproxy) echo "HAProxy, TCP, leastconn, health checks GET /health every 100 ms" ;;
	esac
}

charts() { # LOAD: from the .dat files bench/e2e_report.py wrote
	local load=$1 what
	command -v gnuplot >/dev/null || return 0
	what="fixed-size requests"
	[ -n "$TRACE" ] && what="trace $(basename "$TRACE")"
	[ -s "$out/goodput-$load.dat" ] && { gnuplot <<EOG 2>"$tmp/gnuplot.err" || warn "gnuplot: $(cat "$tmp/gnuplot.err")"; }
set terminal pngcairo size 900,520
set output "$out/goodput-$load.png"
set title "Goodput (TTFT <= $SLO_MS ms, all arrivals) at $load% of estimated capacity, $what\nb4 degrades at 50%, dies at 75% of the run; median and min-max over $RUNS run(s)"
set ylabel "goodput, % of arrivals"
set yrange [0:100]
set grid ytics
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.85 border -1
set key off
plot "$out/goodput-$load.dat" using 2:3:4:xtic(1)
EOG
	[ -s "$out/ttft-$load.dat" ] && { gnuplot <<EOG 2>"$tmp/gnuplot.err" || warn "gnuplot: $(cat "$tmp/gnuplot.err")"; }
set terminal pngcairo size 900,520
set output "$out/ttft-$load.png"
set title "TTFT of the ok requests at $load% of estimated capacity, $what\nb4 degrades at 50%, dies at 75% of the run; medians over $RUNS run(s)"
set ylabel "TTFT, ms (log)"
set logscale y
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top left
plot "$out/ttft-$load.dat" using 2:xtic(1) title "p50", "" using 3 title "p90", \\
     "" using 4 title "p99", "" using 5 title "p99.9"
EOG
	local png
	for png in "$out/goodput-$load.png" "$out/ttft-$load.png"; do
		[ -f "$png" ] && echo "chart: $png"
	done
}

part1() {
	local load cfg run n=0 total t0
	echo "== 1. Inference outcome (4 gpusim workers, loadgen, $SECONDS_RUN s per run, $RUNS run(s))"
	if [ -n "$TRACE" ]; then
		printf "fleet: batch %d; requests from the trace %s, run r from %s + (r - 1) x %s s, tokens x %s\n" \
			$BATCH "$TRACE" "$TRACE_START" "$TRACE_STEP" "$TOKENS_SCALE"
		echo "  (Azure LLM inference trace 2023 format; its data: CC-BY 4.0, Patel et al., Splitwise, ISCA 2024)"
	else
		printf "fleet: batch %d, %d prompt + %d output tokens per request\n" \
			$BATCH $PROMPT_TOK $OUT_TOK
	fi
	for i in $(seq $N); do
		printf "  b%d  %4s ms/token%s%s\n" "$i" "${TOKEN_MS[i]}" \
			"$([ -z "$TRACE" ] && printf "  capacity %6s req/s" "${CAP[i]}")" \
			"$([ "$i" = 4 ] && echo "  (slow x4 at 50% of the run, dies at 75%)")"
	done
	[ -z "$TRACE" ] &&
		echo "  estimated capacity: $CAP_TOTAL req/s (all four), $CAP_SURV req/s after b4 dies"
	echo "  capacity per worker = batch / ((output+1) x token time + prompt x ${PREFILL_US} us)"
	echo "  goodput: arrivals with TTFT <= $SLO_MS ms (failed, refused, dropped: TTFT infinite)"
	for load in $LOADS; do
		load_rate "$load" || die "trace: no rate for $load%"
		echo "  load $load% = $RATE req/s${TRACE:+ (the window of run 1: $TRACE_MEANS; capacity $CAP_TOTAL req/s, $CAP_SURV after b4 dies)}"
	done
	echo "configurations:"
	for cfg in $CFGS; do printf "  %-13s %s\n" "$cfg" "$(cfg_legend "$cfg")"; done
	python3 "$root/bench/e2e_report.py" header --csv "$out/inference.csv" \
		--phases-csv "$out/phases.csv"
	total=$((RUNS * $(wc -w <<<"$LOADS") * $(wc -w <<<"$CFGS")))
	for run in $(seq "$RUNS"); do
		for load in $LOADS; do
			for cfg in $CFGS; do
				n=$((n + 1)); t0=$(date +%s)
				echo "  [$n/$total] run $run, $load%, $cfg ..." >&2
				run_inference "$load" "$cfg" "$run" || warn "run $run $load% $cfg failed"
				echo "  [$n/$total] $(($(date +%s) - t0)) s" >&2
			done
		done
	done
	echo
	python3 "$root/bench/e2e_report.py" tables --csv "$out/inference.csv" \
		--phases-csv "$out/phases.csv" --loads "$LOADS" --cfgs "$CFGS" \
		--slo-ms "$SLO_MS" --dat-dir "$out"
	for load in $LOADS; do charts "$load"; done
}

# ---- part 2: reaction ---------------------------------------------------------
# JSON of `lbctl -j stats`: new flows of backend ADDR
new_flows() {
	L -j stats | python3 -c '
import json, sys
d = json.load(sys.stdin)
def walk(o):
    if isinstance(o, dict):
        if o.get("address") == sys.argv[1] and "new_flows" in o:
            print(o["new_flows"]); sys.exit(0)
        for v in o.values(): walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(d)
print(-1)' "$1"
}
part2() {
	local f=$tmp/fleet-react.yaml i w0 t_sat= t_w= t_last= nf prev w now end lg
	echo
	echo "== 2. Reaction: a worker saturated by direct requests"
	fleet_capacity $PROMPT_TOK $OUT_TOK	# (trace mode changed it)
	fleet_yaml "$f" "$AGENT_POLICY" true
	restart_fleet && setup_lb "$f" 1 || { warn "part 2 setup failed"; stop_agent; return 1; }
	# background load through the VIP (50 %), so new flows keep arriving
	ip netns exec "$(topo_ns client)" timeout 60 "$loadgen" \
		--url "http://$VIP4:$GPORT/v1/completions" \
		--rate "$(awk -v c=$CAP_TOTAL 'BEGIN { printf "%.2f", c * 0.5 }')" \
		--duration 20 --new-conn --dist fixed --prompt-tokens $PROMPT_TOK \
		--output-tokens 16 --timeout 30 --json >"$out/react-load.json" 2>/dev/null &
	lg=$!
	sleep 3
	w0=$(be "$(B 1)" weight)
	# fill b1: BATCH running + 3 x BATCH waiting, long outputs
	local cpids=() t_burst nf_w=
	t_burst=$(ms)
	for i in $(seq $((BATCH * 4))); do
		ip netns exec "$(topo_ns client)" curl -s -o /dev/null --max-time 40 \
			-d '{"prompt":"x","max_tokens":2000,"stream":false}' \
			"http://$(B 1):$GPORT/v1/completions" &
		cpids+=($!)
	done
	# saturation: the batch is full and a request waits (worker's /metrics)
	end=$(($(ms) + 5000))
	while [ "$(ms)" -lt "$end" ]; do
		if topo_exec client curl -s --max-time 1 "http://$(B 1):$GPORT/metrics" |
			awk '/^vllm:num_requests_waiting/ { if ($2 >= 1) f = 1 } END { exit !f }'; then
			t_sat=$(ms); break
		fi
		sleep 0.01
	done
	prev=$(new_flows "$(B 1)"); t_last=$t_sat
	end=$(($(ms) + 8000))
	while [ -n "$t_sat" ] && [ "$(ms)" -lt "$end" ]; do
		now=$(ms)
		w=$(be "$(B 1)" weight)
		nf=$(new_flows "$(B 1)")
		[ -z "$t_w" ] && [ "$w" != none ] && [ "$w" -le $((w0 / 20)) ] && { t_w=$now; nf_w=$nf; }
		[ "$nf" != "$prev" ] && { t_last=$now; prev=$nf; }
		# done once the weight is down (table policies) and no new
		# flow came for 2 s
		{ [ -n "$t_w" ] || [ "$AGENT_POLICY" = expected-wait ]; } &&
			[ $((now - t_last)) -gt 2000 ] && break
		sleep 0.02
	done
	kill "${cpids[@]}" 2>/dev/null	# ip netns exec execs curl: same pid
	wait "${cpids[@]}" "$lg" 2>/dev/null
	stop_agent
	printf "%-46s %s\n" "b1 weight before" "$w0"
	if [ -z "$t_sat" ]; then
		echo "b1 never showed a full batch and a queue: no figure"
		return 1
	fi
	printf "%-46s %s\n" "direct burst -> saturation visible on b1" "$((t_sat - t_burst)) ms"
	if [ "$AGENT_POLICY" = expected-wait ]; then
		# the weight is capacity and state only; the worker's own
		# queue (engine_load) makes its expected wait long
		printf "%-46s %s\n" "saturation -> agent weight <= 5% (lbctl show)" \
			"n/a: expected-wait keeps weights, it steers each flow"
	else
		printf "%-46s %s\n" "saturation -> agent weight <= 5% (lbctl show)" \
			"$([ -n "$t_w" ] && echo "$((t_sat < t_w ? t_w - t_sat : 0)) ms" || echo "not within 8 s")"
	fi
	printf "%-46s %s\n" "saturation -> last new flow to b1 (stats)" "$((t_last - t_sat)) ms"
	printf "%-46s %s\n" "new flows to b1 after its weight hit <= 5%" \
		"$([ -n "$nf_w" ] && echo $((prev - nf_w)) || echo -)"
	echo "(agent: policy $AGENT_POLICY, poll_interval_ms 100, queue_sat 5 (default); background load 50% through the VIP;"
	echo " lbctl sampled every ~20 ms + its own run time; 'last new flow' is bounded below by flow arrivals)"
	printf 'weight_before,sat_to_weight_ms,sat_to_last_flow_ms\n%s,%s,%s\n' "$w0" \
		"$([ -n "$t_w" ] && echo $((t_w - t_sat)))" "$((t_last - t_sat))" >"$out/reaction.csv"
	echo "reaction: $out/reaction.csv"
}

# ---- part 3: inferlb vs HAProxy vs nftables ---------------------------------------
HZ=$(getconf CLK_TCK)
cpu_sample() { # "busy sys+softirq" ticks, whole machine
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $4 + $8; exit }' /proc/stat
}
haproxy_ticks() {
	local t=0 p
	[ -s "$HAPROXY_PIDFILE" ] || { echo 0; return; }
	for p in $(cat "$HAPROXY_PIDFILE"); do
		[ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo $t
}
# wrk_run NAME URL MODE(ka|close|fresh): appends to $out/balancers.csv;
# fresh: Connection: close for FRESH_SECONDS, few enough connections that
# the client's ports are not reused
wrk_run() {
	local name=$1 url=$2 mode=$3 hdr=() c0 c1 h0 h1 res rps n errs secs=$WRK_SECONDS
	[ "$mode" != ka ] && hdr=(-H "Connection: close")
	[ "$mode" = fresh ] && secs=$FRESH_SECONDS
	read -r c0 s0 < <(cpu_sample); h0=$(haproxy_ticks)
	timeout $((secs + 30)) ip netns exec "$(topo_ns client)" \
		wrk -t 2 -c 64 -d "${secs}s" --timeout 5s "${hdr[@]}" "$url" >"$tmp/wrk.out" 2>&1 &
	wait $!
	res=$(cat "$tmp/wrk.out")
	read -r c1 s1 < <(cpu_sample); h1=$(haproxy_ticks)
	echo "$res" >"$out/wrk-$name-$mode.txt"
	rps=$(echo "$res" | awk '/^Requests\/sec:/ { print $2 }')
	n=$(echo "$res" | awk '/requests in/ { print $1 }')
	errs=$(echo "$res" | awk '/Socket errors/ { gsub(/,/, ""); s = $4 + $6 + $8 + $10 } /Non-2xx/ { s += $NF } END { print s + 0 }')
	[ -n "$rps" ] || { warn "wrk $name $mode: $res"; rps=0; n=0; }
	awk -v name="$name" -v mode="$mode" -v rps="$rps" -v n="$n" -v e="$errs" \
		-v busy=$((c1 - c0)) -v sys=$((s1 - s0)) -v hp=$((h1 - h0)) -v hz="$HZ" 'BEGIN {
		us = (n > 0) ? 1e6 / hz / n : 0
		printf "%s,%s,%.0f,%d,%d,%.2f,%.2f,%.2f\n", name, mode, rps, n, e, busy * us, sys * us, hp * us }' \
		>>"$out/balancers.csv"
}

# wrk_all NAME URL: once URL answers (5 s at most), the three wrk modes
wrk_all() {
	wait_for 5 topo_exec client curl -s -o /dev/null --max-time 1 "$2" ||
		warn "$1 $2 unreachable"
	wrk_run "$1" "$2" ka
	wrk_run "$1" "$2" fresh
	wrk_run "$1" "$2" close
}

part3() {
	local i ns_lb cfg
	echo
	echo "== 3. inferlb vs HAProxy vs nftables DNAT (httpd backends, short GET /, wrk -t2 -c64 ${WRK_SECONDS}s)"
	command -v wrk >/dev/null || { warn "no wrk: part 3 skipped"; return 1; }
	ns_lb=$(topo_ns lb)
	# stop the gpusims (their threads would only add noise), start httpd
	for i in $(seq $N); do
		[ -n "${GS_PIDS[i]:-}" ] || continue
		kill -9 "${GS_PIDS[i]}" 2>/dev/null
		wait "${GS_PIDS[i]}" 2>/dev/null
		GS_PIDS[i]=
	done
	PORT=$HPORT topo_start_backends --quiet || { warn "httpd backends"; return 1; }
	# wrk's connection churn: reuse TIME_WAIT ports, the widest port range
	[ "${E2E_TW_REUSE:-1}" = 1 ] &&
		ip netns exec "$(topo_ns client)" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
			net.ipv4.ip_local_port_range="1024 65535"
	echo "name,mode,requests_per_s,requests,errors,cpu_busy_us_per_req,cpu_sys_softirq_us_per_req,haproxy_proc_us_per_req" \
		>"$out/balancers.csv"

	# inferlb: VIP:8080, l2dsr, maglev, equal weights (no agent: httpd has no metrics)
	L vip del "$VIPG" >/dev/null 2>&1
	L vip add "$VIP4:$HPORT/tcp" --mode l2dsr --ring-size 4099 >/dev/null &&
		for i in $(seq $N); do
			L backend add "$VIP4:$HPORT/tcp" "$(B "$i")" --weight 100 >/dev/null || false
		done || warn "inferlb VIP :$HPORT"
	wrk_all inferlb "http://$VIP4:$HPORT/"

	# HAProxy: a TCP proxy on the lb's own address (clients connect to it;
	# backends see the proxy as the source, replies go back through it)
	if command -v haproxy >/dev/null; then
		cfg=$tmp/haproxy.cfg
		{
			echo "global"
			echo "  maxconn 8000"
			echo "defaults"
			echo "  mode tcp"
			echo "  timeout connect 3s"
			echo "  timeout client 30s"
			echo "  timeout server 30s"
			echo "frontend fe"
			echo "  bind $LB4:$HAPORT"
			echo "  default_backend be"
			echo "backend be"
			echo "  balance leastconn"
			for i in $(seq $N); do echo "  server b$i $(B "$i"):$HPORT"; done
		} >"$cfg"
		cp "$cfg" "$out/haproxy.cfg"
		ip netns exec "$ns_lb" haproxy -f "$cfg" -D -p "$HAPROXY_PIDFILE" >"$tmp/haproxy.log" 2>&1 ||
			warn "haproxy: $(cat "$tmp/haproxy.log")"
		wrk_all haproxy "http://$LB4:$HAPORT/"
		haproxy_stop
	else
		warn "no haproxy: skipped"
	fi

	# nftables: DNAT the kube-proxy way (numgen random mod N vmap of
	# per-endpoint chains), SNAT so replies come back through the lb
	if command -v nft >/dev/null; then
		ip netns exec "$ns_lb" sysctl -qw net.ipv4.ip_forward=1 \
			net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
		ip -n "$ns_lb" addr add "$NFTSNAT/24" dev eth0 2>/dev/null
		ip -n "$(topo_ns client)" route replace "$NFTVIP/32" via "$LB4" ||
			warn "client route to $NFTVIP"
		{
			echo "table ip e2elb {"
			for i in $(seq $N); do
				echo "  chain ep-b$i {"
				echo "    meta mark set mark or 0x4000"
				echo "    meta l4proto tcp dnat to $(B "$i"):$HPORT"
				echo "  }"
			done
			echo "  chain svc {"
			printf "    numgen random mod %d vmap {" $N
			for i in $(seq $N); do printf " %d : goto ep-b%d%s" $((i - 1)) "$i" "$([ "$i" -lt $N ] && echo ,)"; done
			echo " }"
			echo "  }"
			echo "  chain services {"
			echo "    ip daddr . meta l4proto . th dport vmap { $NFTVIP . tcp . $HPORT : goto svc }"
			echo "  }"
			echo "  chain prerouting {"
			echo "    type nat hook prerouting priority dstnat; policy accept;"
			echo "    jump services"
			echo "  }"
			echo "  chain postrouting {"
			echo "    type nat hook postrouting priority srcnat; policy accept;"
			echo "    mark and 0x4000 == 0x4000 snat to $NFTSNAT"
			echo "  }"
			echo "}"
		} >"$tmp/nft.conf"
		cp "$tmp/nft.conf" "$out/nftables.conf"
		ip netns exec "$ns_lb" nft -f "$tmp/nft.conf" 2>"$tmp/nft.err" ||
			warn "nft: $(cat "$tmp/nft.err")"
		wrk_all nftables "http://$NFTVIP:$HPORT/"
		ip netns exec "$ns_lb" nft delete table ip e2elb 2>/dev/null
		ip netns exec "$ns_lb" sysctl -qw net.ipv4.ip_forward=0
	else
		warn "no nft: skipped"
	fi

	echo
	printf "%-9s %10s %6s %12s %6s %12s %6s %12s %6s %12s %6s %11s\n" balancer "req/s(ka)" "x ilb" \
		"conn/s(3s)" "x ilb" "conn/s(${WRK_SECONDS}s)" "x ilb" "busy us/req" "x ilb" "sys+si us/r" "x ilb" "proc us/req"
	awk -F, '
		NR > 1 { k = $1 SUBSEP $2; rps[k] = $3; busy[k] = $6; sys[k] = $7; proc[k] = $8; order[++n] = $1 }
		function r(a, b) { return (b > 0) ? sprintf("%.2f", a / b) : "-" }
		END {
			for (j = 1; j <= n; j++) {
				b = order[j]; if (b in done) continue; done[b] = 1
				ka = b SUBSEP "ka"; fr = b SUBSEP "fresh"; cl = b SUBSEP "close"
				ika = "inferlb" SUBSEP "ka"; ifr = "inferlb" SUBSEP "fresh"; icl = "inferlb" SUBSEP "close"
				printf "%-9s %10.0f %6s %12.0f %6s %12.0f %6s %12.1f %6s %12.1f %6s %11s\n", b,
					rps[ka], r(rps[ka], rps[ika]), rps[fr], r(rps[fr], rps[ifr]),
					rps[cl], r(rps[cl], rps[icl]),
					busy[fr], r(busy[fr], busy[ifr]), sys[fr], r(sys[fr], sys[ifr]),
					(b == "haproxy") ? sprintf("%.1f", proc[fr]) : "-"
			}
		}' "$out/balancers.csv"
	echo "conn/s: wrk with 'Connection: close' (a new TCP connection per request): for ${FRESH_SECONDS} s (under 64k"
	echo "connections, no client port reused) and for ${WRK_SECONDS} s (ports reused: a NAT's conntrack entries of"
	echo "closed flows (TIME_WAIT, 120 s) then meet new SYNs with the same tuple)."
	echo "CPU columns are per request of the ${FRESH_SECONDS} s conn/s run: whole-machine busy (user+sys+irq+softirq) and sys+softirq ticks"
	echo "from /proc/stat (client, balancer and backends share this machine's $(nproc) CPUs, so the balancer is the difference);"
	echo "proc: HAProxy's own CPU. inferlb is DSR (replies bypass the lb); HAProxy proxies both ways"
	echo "(backends see the proxy's address); nftables DNATs and SNATs (to $NFTSNAT), replies come back through the lb."

	if command -v gnuplot >/dev/null; then
		awk -F, 'NR > 1 { k[$1 "," $2] = $3; if (!($1 in s)) { s[$1] = 1; o[++n] = $1 } }
			END { for (j = 1; j <= n; j++) print o[j], k[o[j] ",ka"] + 0, k[o[j] ",fresh"] + 0, k[o[j] ",close"] + 0 }' \
			"$out/balancers.csv" >"$out/balancers.dat"
		gnuplot <<EOF 2>"$tmp/gnuplot.err" || warn "gnuplot: $(cat "$tmp/gnuplot.err")"
set terminal pngcairo size 800,480
set output "$out/balancers.png"
set title "Short requests through the balancer (wrk -t2 -c64, same namespaces and backends)"
set ylabel "per second"
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set yrange [0:*]
plot "$out/balancers.dat" using 2:xtic(1) title "requests/s (keep-alive)", "" using 3 title "connections/s ($FRESH_SECONDS s)", "" using 4 title "connections/s ($WRK_SECONDS s, ports reused)"
EOF
		[ -f "$out/balancers.png" ] && echo "chart: $out/balancers.png"
	fi
	topo_stop_backends
}

for p in $PARTS; do
	case $p in
	1) part1 ;;
	2) part2 ;;
	3) part3 ;;
	*) warn "unknown part $p" ;;
	esac
done
echo
echo "raw data: $out"
exit 0
