# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# disctest.sh - what the discovery end-to-end tests share
# (tests/test_discovery_e2e.sh: DNS, tests/test_discovery_etcd.sh: an etcd
# registry): lbtest.sh's balancer, pins, counters and cleanup, plus
#
#   disc_topo N      N backends b1..bN (topo.sh), each running tools/e2e
#                    httpd on $PORT (the VIP's traffic: streams and tallies
#                    name the backend) and gpusim on $WPORT (what lb-agent
#                    polls: vLLM metrics and health), xdp_decap on its eth0
#                    (the VIP is ipip); the balancer attached. Services the
#                    agent asks (a DNS server, etcd) run in the client's
#                    namespace at $CLIENT4: a host elsewhere on the segment.
#   disc_agent_start lb-agent on $tmp/agent.yaml; AGENT_T0 = its start (ms)
#   be ADDR FIELD    a field of backend ADDR in `lbctl show -j`, "none"
#   backends         "ADDR:STATE ..." of the VIP, sorted (one line)
#   until_ms T0 S CMD...  CMD until it succeeds (every 50 ms, S seconds at
#                    most); prints the ms since T0 when it did, fails on time
#   tally N          N new connections through the VIP: "bI COUNT ..." and
#                    "errors E" on one line
#   streams_start S BYTES  S streams through the VIP in the background
#                    (STREAMS_PID), each BYTES long, a chunk every 300 ms
#   streams_wait     waits for them; BROKEN / INTACT counts, STREAMS_ON
#                    (per backend: "bI:n ...")
#   msum NAME [LABEL]  sum of /metrics family NAME over the lines whose
#                    labels contain LABEL (0 if none)
#   origin_is ADDR KIND  the backend's origin is KIND (dns: / etcd:): on
#                    /metrics (inferlb_backend_origin, KIND + the source's
#                    name) and in lbctl show, text and -j (KIND alone)
#   lint_metrics WHEN  promtool check metrics on the whole /metrics
# The test defines disc_cleanup_extra for its own server (runs first).
# Every loop is bounded.

build_arg=${1:-build}
# shellcheck source=tests/e2e/lbtest.sh
. "$(dirname "${BASH_SOURCE[0]}")/lbtest.sh" "$build_arg"

WPORT=8001		# gpusim on every backend: the worker's port
MPORT=9467		# lb-agent's /metrics, in the balancer's namespace
VIPKEY="$VIP4:$PORT/tcp"
STREAMS_PID=
DECAP_N=0

lbtest_cleanup_extra() {
	local i
	if declare -F disc_cleanup_extra >/dev/null; then
		disc_cleanup_extra
	fi
	for ((i = 1; i <= DECAP_N; i++)); do
		"$lbctl" --pin-dir "$pins-b$i" unload >/dev/null 2>&1
		rm -rf "$pins-b$i" 2>/dev/null
	done
	if [ "$FAILS" -ne 0 ] && [ -f "$tmp/agent.log" ]; then
		echo "---- agent log (last 30 lines)"
		tail -30 "$tmp/agent.log"
	fi
}

B() { echo "198.18.0.$((10 + $1))"; }	# backend I's address

disc_topo() {
	local n=$1 i
	topo_create "$n" || { bad "topology"; return 1; }
	topo_start_backends --quiet || { bad "httpd on the backends"; return 1; }
	topo_peer_xdp_pass "$pass_obj" || { bad "XDP_PASS on the balancer's peer"; return 1; }
	for ((i = 1; i <= n; i++)); do
		timeout 30 nsenter --net="/run/netns/$(topo_ns "b$i")" "$lbctl" \
			--pin-dir "$pins-b$i" decap attach "$TOPO_DEV" --mode native \
			>/dev/null || { bad "decap attach b$i"; return 1; }
		DECAP_N=$i
		# batch 64, 20 ms per token: an idle worker whatever the test sends
		ip netns exec "$(topo_ns "b$i")" "$gpusim" --bind 0.0.0.0 --port "$WPORT" \
			--name "b$i" --batch 64 --token-ms 20 >"$tmp/gpusim-b$i.log" 2>&1 &
		BG+=("$!")
	done
	for ((i = 1; i <= n; i++)); do
		wait_for 5 topo_exec client curl -s -o /dev/null --max-time 1 \
			"http://$(B "$i"):$WPORT/health" ||
			{ bad "gpusim b$i did not start: $(cat "$tmp/gpusim-b$i.log")"; return 1; }
	done
	L attach "$TOPO_DEV" --mode native >/dev/null || { bad "lbctl attach"; return 1; }
}

# disc_config SOURCE-YAML: the agent's file with one VIP whose backends
# all come from discovery; SOURCE-YAML is the sources: list, indented 8
disc_config() {
	cat >"$tmp/agent.yaml" <<EOF
agent:
  metrics_listen: 127.0.0.1:$MPORT
  pin_dir: $pins
  request_timeout_ms: 300
policy:
  poll_interval_ms: 100
  health_interval_ms: 100
  fail_threshold: 3
  slow_start_ms: 500
vips:
  - address: $VIPKEY
    mode: ipip
    policy: least-conn
    backends: []
    discover:
      max_remove_fraction: 0.5
      drain_timeout_s: 60
      sources:
$1
EOF
}

disc_agent_start() {
	AGENT_T0=$(ms)
	nsenter --net="/run/netns/$(topo_ns lb)" "$agent" -c "$tmp/agent.yaml" \
		>>"$tmp/agent.log" 2>&1 &
	AGENT_PID=$!
}

be() {
	L show -j 2>/dev/null | jq -r --arg a "$1" --arg f "$2" '
		[.vips[].backends[] | select(.address == $a) | .[$f]] |
		if length == 0 then "none" else (.[0] | tostring) end'
}
backends() {
	L show -j 2>/dev/null | jq -r '[.vips[].backends[] | "\(.address):\(.state)"] |
		sort | join(" ")'
}
state_is() { [ "$(be "$1" state)" = "$2" ]; }
present() { [ "$(be "$1" state)" != none ]; }
gone() { [ "$(be "$1" state)" = none ]; }
# takes new flows: healthy with a weight
serving() {
	local s w
	read -r s w < <(L show -j 2>/dev/null | jq -r --arg a "$1" '
		[.vips[].backends[] | select(.address == $a)] |
		if length == 0 then "none 0" else "\(.[0].state) \(.[0].weight)" end')
	[ "$s" = healthy ] && [ "${w:-0}" -gt 0 ]
}
# some stream open on the VIP
b_open() {
	[ "$(L show -j 2>/dev/null | jq '[.vips[].backends[].open_flows] | add')" -gt 0 ] 2>/dev/null
}
all_serving() {
	local a
	for a in "$@"; do serving "$a" || return 1; done
}

until_ms() {
	local t0=$1 end=$(($(ms) + $2 * 1000))
	shift 2
	while [ "$(ms)" -lt "$end" ]; do
		if "$@"; then
			echo $(($(ms) - t0))
			return 0
		fi
		sleep 0.05	# lbctl show takes the pin dir's lock: the agent's too
	done
	return 1
}

tally() {
	in_client "$E2E_BIN/conns" --url "http://$VIP4:$PORT/" --count "$1" \
		--parallel 8 --timeout-ms 3000 2>&1 | tr '\n' ' ' | sed 's/ $//'
}
# tally_of NAME "TALLY": NAME's count in a tally line (0 if absent)
tally_of() {
	echo "$2" | awk -v n="$1" '{ for (i = 1; i < NF; i++) if ($i == n) { print $(i + 1); f = 1; exit } }
		END { if (!f) print 0 }'
}

# The new flows backend $1 has taken (lbctl stats).
new_flows() {
	L stats -j | jq -r --arg a "$1" '[.vips[].backends[] | select(.address == $a) | .new_flows] | .[0]'
}

# drained_checks C T0 WHAT: worker b2, with the 24 streams of streams_start
# on it, left its source at T0 (ms; WHAT says how, in messages; C is the
# case's letter). 30 new connections give it none (its new flows stay at
# $nf0), the streams complete, and it is deleted once its open flows are
# 0. Sets t_busy, t_zero and t_gone (ms after T0).
drained_checks() {
	local c=$1 t0=$2 what=$3 tl nf1 n end
	tl=$(tally 30)
	nf1=$(new_flows "$(B 2)")
	if [ "$(tally_of b2 "$tl")" = 0 ] && [ "$(tally_of errors "$tl")" = 0 ] && [ "$nf1" = "$nf0" ]; then
		ok "$c. 30 new connections while b2 drains, none to b2 (its new flows $nf0 -> $nf1): $tl"
	else
		bad "$c. new connections while b2 drains: $tl (b2 new flows $nf0 -> $nf1)"
	fi
	# b2's open flows reach 0 as its streams end; then it is deleted
	t_busy='' t_zero='' t_gone=''
	end=$(($(ms) + 30000))
	while [ "$(ms)" -lt "$end" ]; do
		n=$(be "$(B 2)" open_flows)
		if [ "$n" = none ]; then t_gone=$(($(ms) - t0)); break; fi
		if [ "$n" != 0 ]; then
			t_busy=$(($(ms) - t0))
		elif [ -z "$t_zero" ]; then
			t_zero=$(($(ms) - t0))
		fi
		sleep 0.1
	done
	streams_wait
	if [ "$BROKEN" = 0 ] && [ "$INTACT" = 24 ]; then
		ok "$c. 24 streams across $what, 0 broken (per backend: $STREAMS_ON)"
	else
		bad "$c. $BROKEN of 24 streams broken, $INTACT intact (per backend: $STREAMS_ON): $(grep -v ' ok$' "$tmp/streams.out" | head -5 | tr '\n' ' ')"
	fi
	case " $STREAMS_ON " in *" b2:"*) ;; *) bad "$c. no stream ran on b2: $STREAMS_ON" ;; esac
	if [ -n "$t_gone" ]; then
		ok "$c. b2 deleted once its flows were 0: open flows last seen > 0 at $t_busy ms, 0 at ${t_zero:-(not sampled)} ms, deleted at $t_gone ms after $what (drain_timeout_s 60)"
	else
		bad "$c. b2 not deleted within 30 s of its flows ending: $(backends)"
	fi
}


streams_start() {
	# a chunk of 1000 bytes every 300 ms; 5 s of silence counts as broken
	ip netns exec "$(topo_ns client)" "$E2E_BIN/conns" --stream \
		--url "http://$VIP4:$PORT/" --streams "$1" --bytes "$2" --chunk 1000 \
		--interval-ms 300 --timeout-ms 5000 >"$tmp/streams.out" 2>&1 &
	STREAMS_PID=$!
	BG+=("$STREAMS_PID")
}
streams_wait() {
	# bounded: conns ends each stream after 5 s of silence and its run
	timeout 60 tail --pid="$STREAMS_PID" -f /dev/null
	wait "$STREAMS_PID" 2>/dev/null
	STREAMS_PID=
	BROKEN=$(grep -c 'BROKEN' "$tmp/streams.out")
	INTACT=$(grep -c ' ok$' "$tmp/streams.out")
	STREAMS_ON=$(awk '$1 == "stream" { n[$4]++ } END { for (b in n) printf "%s:%d ", b, n[b] }' \
		"$tmp/streams.out" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ *$//')
}

msum() {
	in_lb_curl >"$tmp/m" || { echo 0; return; }
	awk -v n="$1" -v l="${2:-}" '$0 !~ /^#/ {
		split($1, a, "{"); if (a[1] == n && index($1, l)) s += $2 }
		END { printf "%d\n", s }' "$tmp/m"
}
in_lb_curl() {
	timeout 5 nsenter --net="/run/netns/$(topo_ns lb)" curl -s --max-time 2 \
		"http://127.0.0.1:$MPORT/metrics"
}

origin_is() {
	local m j
	in_lb_curl >"$tmp/m" || { bad "origin of $1: no /metrics"; return; }
	m=$(awk -v b="backend=\"$1\"" '$1 ~ /^inferlb_backend_origin\{/ && index($1, b) {
		sub(/.*origin="/, "", $1); sub(/".*/, "", $1); print $1; exit }' "$tmp/m")
	case "$m" in
	"$2"*) ok "origin of $1 on /metrics: inferlb_backend_origin{origin=\"$m\"}" ;;
	*) bad "origin of $1 on /metrics: '$m' (want $2...)" ;;
	esac
	j=$(L show -j | jq -r --arg a "$1" '[.vips[].backends[] | select(.address == $a)] |
		.[0] | if has("origin") then .origin | tostring else "(no key)" end')
	if [ "$j" = "${2%:}" ] && L show | grep "backend $1 " | grep -q "origin ${2%:}"; then
		ok "origin of $1 in lbctl show: $j (text and -j)"
	else
		bad "origin of $1 in lbctl show -j: '$j' (want ${2%:}); text: $(L show | grep "backend $1 ")"
	fi
}

lint_metrics() {
	local out rc
	if ! command -v promtool >/dev/null; then
		echo "skip - promtool not installed: /metrics $1 not linted"
		return
	fi
	in_lb_curl >"$tmp/lint" || { bad "/metrics $1: no answer to lint"; return; }
	out=$(promtool check metrics <"$tmp/lint" 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ] && grep -q '^inferlb_discovery_' "$tmp/lint"; then
		ok "promtool check metrics: /metrics $1 passes ($(grep -c '^# TYPE inferlb_discovery_' "$tmp/lint") discovery families)"
	else
		bad "promtool check metrics on /metrics $1 (exit $rc): $out"
	fi
}
