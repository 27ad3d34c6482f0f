#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# lb-agent against real maps and simulated GPU workers, in namespaces
# (tests/e2e/topo.sh): a client, the balancer (lbctl attach, l2dsr VIP,
# lb-agent) and three backends running tools/gpusim (vLLM format).
#
#  1. lbctl apply -f: creates the VIP and backends; a bad file names the
#     line and field, exits 2 and changes nothing; applying twice is a no-op.
#  2. the agent takes over: every backend HEALTHY with a weight; it runs with
#     cap_bpf and cap_net_admin only; /metrics covers backends and datapath
#     and passes `promtool check metrics` (here and after step 4).
#  3. a worker that saturates (real requests fill its batch and queue)
#     loses its weight within two polls of the saturation being visible.
#  4. a worker that hangs is OPEN after fail_threshold failed polls,
#     HALF_OPEN after the ejection time, HEALTHY again once it recovers.
#  4b. an operator's set-weight / backend state on an agent-driven backend
#     is an override: the agent leaves it alone and reports it (lbctl show,
#     /metrics, its log) until `lbctl backend release`; --for expires it.
#  5. SIGKILL the agent while streams run: new connections still work
#     (fail-static), a new agent adopts the maps, no stream breaks.
#  6. a worker that dies is DOWN (its closed connection prompts an early poll); SIGHUP with a bad file is refused and
#     the running config kept; SIGHUP with one backend less removes it; the file replaced (no SIGHUP) applies
#     (watch_config), a malformed edit is refused with its line and column and the running config stays.
#     Under valgrind: a failed start, a failure after start and SIGTERM
#     each exit with their code and leave no descriptor open.
#  7. a VIP rate limit refuses the third connection with a RST.
#  8. expected-wait: the agent measures each worker's decode speed and
#     publishes slots and slot waits (lbctl show); a saturated worker keeps
#     its weight (load is weighed per flow, not in the table); with a TTFT
#     target the first new flow that would wait for a slot gets a RST,
#     counted as ttft_target; a worker whose metrics turn to NaN is a bad
#     answer, counted by reason, and is not drained.
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_agent.sh BUILD_DIR
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
export E2E_BIN=$build/tools/e2e
export E2E_PREFIX=ag
# shellcheck source=tests/e2e/topo.sh
. "$root/tests/e2e/topo.sh"
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"

lbctl=$build/lbctl
agent=$build/lb-agent
gpusim=$build/tools/gpusim
pins=/sys/fs/bpf/inferlb-agtest-$$
tmp=$(mktemp -d)
MPORT=9464
AGENT_PID=
HOLDER_PID=
STREAMS=()	# background clients of section 8
FAILS=0
PASSES=0

cleanup() {
	trap - EXIT INT TERM
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
	[ -n "$HOLDER_PID" ] && kill -9 "$HOLDER_PID" 2>/dev/null
	[ ${#STREAMS[@]} -gt 0 ] && kill -9 "${STREAMS[@]}" 2>/dev/null
	if [ -n "$(topo_ns lb 2>/dev/null)" ] && [ -e "/run/netns/$(topo_ns lb)" ]; then
		nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" \
			unload >/dev/null 2>&1
	fi
	rm -rf "$pins" 2>/dev/null
	topo_destroy
	if [ "$FAILS" -ne 0 ] && [ -f "$tmp/agent.log" ]; then
		echo "---- agent log (last 40 lines)"
		tail -40 "$tmp/agent.log"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }

in_lb() { timeout 60 nsenter --net="/run/netns/$(topo_ns lb)" "$@"; }
L() { in_lb "$lbctl" --pin-dir "$pins" "$@"; }
B() { echo "198.18.0.$((10 + $1))"; }	# backend address

# field of backend ADDR in `lbctl show -j`: be ADDR state|weight|rate
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

# one sample of the agent's /metrics: metric NAME LABEL-SUBSTRING
metric() {
	in_lb curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" >"$tmp/m" || return 1
	awk -v n="$1" -v l="$2" '$0 !~ /^#/ {
		split($1, a, "{"); if (a[1] == n && index($1, l)) { print $2; exit } }' "$tmp/m"
}

# lint_metrics WHEN: the whole /metrics exposition passes Prometheus' own
# linter, `promtool check metrics` (naming, _total on counters, units,
# HELP/TYPE, duplicate families): any complaint fails the test
lint_metrics() {
	local out rc
	if ! command -v promtool >/dev/null; then
		echo "skip - promtool not installed (scripts/install-deps.sh installs it): /metrics $1 not linted"
		return
	fi
	in_lb curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" >"$tmp/lint" ||
		{ bad "/metrics $1: no answer to lint"; return; }
	out=$(promtool check metrics <"$tmp/lint" 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ] && grep -q '^inferlb_' "$tmp/lint"; then
		ok "promtool check metrics: /metrics $1 passes, no complaint ($(grep -c '^# TYPE' "$tmp/lint") families)"
	else
		bad "promtool check metrics on /metrics $1 (exit $rc): $out"
	fi
}

state_is() { [ "$(be "$1" state)" = "$2" ]; }
weight_below() { local w; w=$(be "$1" weight); [ "$w" != none ] && [ "$w" -lt "$2" ]; }
all_healthy() {
	local i
	for i in 1 2 3; do
		state_is "$(B $i)" healthy || return 1
		[ "$(be "$(B $i)" weight)" -gt 0 ] || return 1
	done
}

start_agent() {
	nsenter --net="/run/netns/$(topo_ns lb)" "$agent" -c "$tmp/agent.yaml" \
		>>"$tmp/agent.log" 2>&1 &
	AGENT_PID=$!
}

fault() { # fault I MODE
	topo_exec client curl -s -o /dev/null --max-time 2 \
		"http://$(B "$1"):$PORT/admin/fault?mode=$2"
}

# config FILE [N]: a config for backends 1..N (default 3)
config() {
	local n=${2:-3} i
	{
		echo "agent:"
		echo "  metrics_listen: 127.0.0.1:$MPORT"
		echo "  pin_dir: $pins"
		echo "  request_timeout_ms: 300"
		echo "policy:"
		echo "  poll_interval_ms: 100"
		echo "  health_interval_ms: 100"
		echo "  fail_threshold: 3"
		echo "  eject_base_ms: 2000"
		echo "  half_open_trials: 3"
		echo "  slow_start_ms: 500"
		echo "  backend_rate_per_capacity: 1000"
		echo "  backend_burst: 50"
		echo "vips:"
		echo "  - address: $VIP4:$PORT/tcp"
		echo "    mode: l2dsr"
		echo "    ring_size: 4099"
		# section 8: expected-wait, its slots and TTFT target
		echo "    policy: ${EW_POLICY:-maglev}"
		[ -n "${EW_TARGET:-}" ] && echo "    ttft_target_ms: $EW_TARGET"
		echo "    backends:"
		for ((i = 1; i <= n; i++)); do
			echo "      - address: $(B $i)"
			echo "        engine: vllm"
			echo "        url: http://$(B $i):$PORT"
			echo "        capacity: 1.0"
			[ -n "${EW_SLOTS:-}" ] && echo "        slots: $EW_SLOTS"
		done
	} >"$1"
}

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi

# ---- topology: gpusim on every backend, VIP on their lo (topo.sh) ------
topo_create 3 && topo_peer_xdp_pass "$build/bpf/pass.bpf.o" || exit 1
for i in 1 2 3; do
	# batch 2, 30 ms per token: a handful of requests saturates a worker
	ip netns exec "$(topo_ns "b$i")" "$gpusim" --bind 0.0.0.0 --port "$PORT" \
		--name "b$i" --batch 2 --token-ms 30 --max-queue 64 \
		>"$tmp/gpusim-b$i.log" 2>&1 &
	TOPO_PIDS[i]=$!
done
for i in 1 2 3; do
	wait_for 5 topo_exec client curl -s -o /dev/null --max-time 1 \
		"http://$(B $i):$PORT/health" || { bad "gpusim b$i did not start"; exit 1; }
done
L attach "$TOPO_DEV" >/dev/null || { bad "lbctl attach"; exit 1; }

# ---- 1. lbctl apply ------------------------------------------------------
config "$tmp/agent.yaml"
out=$(L apply -f "$tmp/agent.yaml") && [ "$(be "$(B 2)" weight)" = 100 ] &&
	ok "lbctl apply -f: VIP and 3 backends at their static weight ($out)" ||
	bad "lbctl apply -f: $out"
before=$(L show -j)
out=$(L apply -f "$tmp/agent.yaml")
[ "$(L show -j)" = "$before" ] && echo "$out" | grep -q "+0 -0, backends +0 -0" &&
	ok "applying the same file again changes nothing" || bad "re-apply: $out"
sed 's/ capacity: 1.0/ capacity: fast/' "$tmp/agent.yaml" >"$tmp/bad.yaml"
out=$(L apply -f "$tmp/bad.yaml" 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "bad.yaml:[0-9]*:[0-9]*: vips\[0\]\.backends\[0\]\.capacity" &&
	[ "$(L show -j)" = "$before" ] &&
	ok "bad file: exit 2, names line and field, nothing changed ($out)" ||
	bad "bad file: rc=$rc $out"
config "$tmp/two.yaml" 2
sed -i 's/mode: l2dsr/mode: ipip/' "$tmp/two.yaml"
out=$(L apply -f "$tmp/two.yaml" 2>&1)
rc=$?
[ $rc = 1 ] && [ "$(L show -j)" = "$before" ] &&
	ok "a VIP whose mode differs is refused before any write ($out)" ||
	bad "mode change: rc=$rc $out"

# ---- 2. the agent takes over -------------------------------------------
start_agent
wait_for 10 all_healthy && ok "agent: every backend healthy with a weight" ||
	bad "agent did not bring the backends up: $(L show)"
caps=$(awk '/^CapEff/ { print $2 }' "/proc/$AGENT_PID/status")
[ "$caps" = "0000008000001000" ] &&
	ok "agent keeps only cap_bpf + cap_net_admin (CapEff $caps)" ||
	bad "agent capabilities: CapEff $caps"
show=$(L show)
echo "$show" | grep -q "agent pid $AGENT_PID  running" &&
	ok "lbctl show: agent pid, heartbeat, generation" ||
	bad "lbctl show has no agent line: $show"
[ -n "$(metric inferlb_backend_weight "$(B 1)")" ] &&
	[ -n "$(metric inferlb_datapath_packets_total pass_not_vip)" ] &&
	[ -n "$(metric inferlb_backend_kv_cache_usage "$(B 3)")" ] &&
	ok "/metrics: scraped signals, weights and datapath counters" ||
	bad "/metrics incomplete: $(head -c 300 "$tmp/m")"
lint_metrics "with every backend healthy"

# ---- 3. saturation -------------------------------------------------------
w0=$(be "$(B 1)" weight)
for i in $(seq 12); do	# 2 run, 10 wait: queue 10 > queue_sat 5
	topo_exec client curl -s -o /dev/null --max-time 30 \
		-d '{"prompt":"x","max_tokens":300,"stream":false}' \
		"http://$(B 1):$PORT/v1/completions" &
done
sat_visible() {
	topo_exec client curl -s --max-time 1 "http://$(B 1):$PORT/metrics" |
		awk '/^vllm:num_requests_waiting/ { if ($2 >= 6) f = 1 } END { exit !f }'
}
wait_for 5 sat_visible || bad "b1 never showed a queue"
# polls and weight from one /metrics scrape (one consistent snapshot)
snap() {
	in_lb curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" | awk -v b="$(B 1)\"" '
		index($1, b) && $1 ~ /^inferlb_backend_polls_total/ { p = $2 }
		index($1, b) && $1 ~ /^inferlb_backend_weight/ { w = $2 }
		END { printf "%d %d\n", p, w }'
}
read -r p0 _ < <(snap)
p1=; w1=$w0
for i in $(seq 100); do	# at most ~10 s
	read -r p w < <(snap)
	# down to the load floor (policy.load_floor, 0.1 of the weight)
	if [ "$w" -le $((w0 / 10)) ]; then p1=$p; w1=$w; break; fi
	sleep 0.02
done
polls=$(( ${p1:-999} - p0 ))
# one poll may be in flight when the queue becomes visible: 2 + 1
[ "$polls" -le 3 ] &&
	ok "saturated worker: weight $w0 -> $w1 within $polls polls" ||
	bad "saturation: weight $w0 -> $w1 after $polls polls"
topo_exec client pkill -f "$(B 1):$PORT/v1/completions" 2>/dev/null
early0=$(metric inferlb_backend_early_polls_total "$(B 1)\"")
polls0=$(metric inferlb_backend_polls_total "$(B 1)\"")
fault 1 die
wait_for 5 state_is "$(B 1)" down && ok "a worker that dies is DOWN" ||
	bad "dead worker state: $(be "$(B 1)" state)"
# its exit closed the connection the agent keeps to it: polled at once --
# unless a poll was already under way then, which finds it dead itself
# (the mechanism is unit-tested in test_poll)
early1=$(metric inferlb_backend_early_polls_total "$(B 1)\"")
polls1=$(metric inferlb_backend_polls_total "$(B 1)\"")
if [ "${early1%.*}" -gt "${early0%.*}" ]; then
	ok "the dead worker's closed connection prompted an early poll ($early0 -> $early1)"
elif [ "$((${polls1%.*} - ${polls0%.*}))" -le 2 ]; then
	ok "the dead worker was found by the poll under way at its death (no early poll needed)"
else
	bad "no early poll on the dead worker's closed connection ($early0 -> $early1, polls $polls0 -> $polls1)"
fi
ip netns exec "$(topo_ns b1)" "$gpusim" --bind 0.0.0.0 --port "$PORT" --name b1 \
	--batch 2 --token-ms 30 >>"$tmp/gpusim-b1.log" 2>&1 &
wait_for 10 state_is "$(B 1)" healthy && ok "restarted worker is HEALTHY again" ||
	bad "restarted worker: $(be "$(B 1)" state)"

# ---- 4. breaker ----------------------------------------------------------
: >"$tmp/agent.log.mark"
mark=$(wc -l <"$tmp/agent.log")
fault 2 hang
# the state and the timed-out polls from one /metrics scrape, taken as
# soon as it says OPEN: a later read (lbctl and python take ~0.5 s on a
# loaded machine) would count the polls the breaker makes while open
open_scrape() {
	metric inferlb_backend_state "$(B 2)\",state=\"open\"" >/dev/null &&
		[ "$(awk -v l="$(B 2)\",state=\"open\"" '$1 ~ /^inferlb_backend_state\{/ &&
			index($1, l) { print $2 }' "$tmp/m")" = 1 ]
}
wait_for 5 open_scrape && t_open=$(ms) || bad "hung worker never OPEN"
fails=$(awk -v l="$(B 2)\",endpoint=\"health\",result=\"timeout\"" \
	'$1 ~ /^inferlb_poll_requests_total\{/ && index($1, l) { print $2 }' "$tmp/m")
[ "${fails%.*}" -ge 3 ] && [ "${fails%.*}" -le 4 ] &&
	ok "hung worker OPEN after $fails timed-out health polls (threshold 3)" ||
	bad "OPEN after $fails timeouts"
fault 2 none
wait_for 10 grep -q "$(B 2): half-open -> healthy" <(tail -n +"$mark" "$tmp/agent.log")
log=$(tail -n +"$mark" "$tmp/agent.log" | grep "$(B 2):")
t_half=$(echo "$log" | awk '/open -> half-open/ { gsub(/.*\[|\].*/, "", $1); print $1; exit }')
t_op=$(echo "$log" | awk '/-> open/ { gsub(/.*\[|\].*/, "", $1); print $1; exit }')
if echo "$log" | grep -q -- "-> open" && echo "$log" | grep -q "open -> half-open" &&
	echo "$log" | grep -q "half-open -> healthy" &&
	awk -v a="$t_op" -v b="$t_half" 'BEGIN { exit !(b - a >= 1.95) }'; then
	ok "OPEN -> HALF_OPEN after the 2 s ejection ($t_op -> $t_half) -> HEALTHY"
else
	bad "breaker sequence: $log"
fi
: "${t_open:=}"

lint_metrics "after a death, an ejection and failed polls"

# ---- 4b. the operator's override -----------------------------------------
V="$VIP4:$PORT/tcp"
ovr() { L show -j | python3 -c '
import json, sys
for v in json.load(sys.stdin)["vips"]:
    for b in v["backends"]:
        if b["address"] == sys.argv[1]:
            o = b["override"]; print(o["of"] if o else "none"); sys.exit(0)
print("missing")' "$1"; }
weight_is() { [ "$(be "$1" weight)" = "$2" ]; }
weight_not() { w=$(be "$1" weight); [ "$w" != "$2" ] && [ "$w" != none ]; }
wait_for 10 all_healthy || bad "backends not healthy before the override test"
mark=$(wc -l <"$tmp/agent.log")
gen0=$(L show -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["generation"])')
L set-weight "$V" "$(B 3)" 4321 >/dev/null || bad "set-weight on an agent-driven backend"
# well over a dozen polls and health rounds: the agent keeps deciding
sleep 2
gen1=$(L show -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["generation"])')
if weight_is "$(B 3)" 4321 && [ "$(ovr "$(B 3)")" = weight ]; then
	ok "override: the operator's weight 4321 holds over 2 s of agent rounds (generation $gen0 -> $gen1), show says override weight"
else
	bad "override not kept: weight $(be "$(B 3)" weight), override $(ovr "$(B 3)")"
fi
[ "$(metric inferlb_backend_override "$(B 3)\",of=\"weight\"")" = 1 ] &&
	[ "$(metric inferlb_backend_override "$(B 3)\",of=\"state\"")" = 0 ] &&
	[ "$(metric inferlb_backend_override "$(B 1)\",of=\"weight\"")" = 0 ] &&
	ok "/metrics: inferlb_backend_override says weight for $(B 3), nothing for $(B 1)" ||
	bad "/metrics override: $(grep inferlb_backend_override "$tmp/m" | head -6)"
tail -n +"$mark" "$tmp/agent.log" | grep -q "backend $(B 3): operator override of weight" &&
	ok "agent log: it saw the override and leaves it alone" ||
	bad "agent log has no override line: $(tail -n +"$mark" "$tmp/agent.log" | tail -3)"
L backend release "$V" "$(B 3)" >/dev/null || bad "backend release"
wait_for 5 weight_not "$(B 3)" 4321 &&
	[ "$(ovr "$(B 3)")" = none ] &&
	ok "release: the agent sets $(B 3) again (weight $(be "$(B 3)" weight)), no override shown" ||
	bad "after release: weight $(be "$(B 3)" weight), override $(ovr "$(B 3)")"
L backend state "$V" "$(B 3)" draining --for 1s >/dev/null || bad "backend state --for"
if state_is "$(B 3)" draining && [ "$(ovr "$(B 3)")" = state ]; then
	ok "state override draining --for 1s: held"
else
	bad "state override: $(be "$(B 3)" state), $(ovr "$(B 3)")"
fi
wait_for 5 state_is "$(B 3)" healthy && [ "$(ovr "$(B 3)")" = none ] &&
	ok "--for 1s ran out: the agent took $(B 3) back (healthy, no override)" ||
	bad "--for did not expire: $(be "$(B 3)" state), $(ovr "$(B 3)")"
lint_metrics "with an override in force and released"

# ---- 5. fail-static: SIGKILL the agent while streams run ------------------
gen0=$(L show -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["generation"])')
for i in $(seq 6); do
	topo_exec client curl -sN --max-time 30 -D "$tmp/h$i" \
		-d '{"prompt":"hi","max_tokens":120,"stream":true}' \
		"http://$VIP4:$PORT/v1/completions" >"$tmp/s$i" 2>/dev/null &
	eval "S$i=\$!"
done
sleep 1
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
old_pid=$AGENT_PID
AGENT_PID=
okc=0
for i in $(seq 60); do
	[ "$(topo_exec client curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
		"http://$VIP4:$PORT/health")" = 200 ] && okc=$((okc + 1))
done
[ "$okc" = 60 ] && ok "agent killed: 60 new connections through the VIP still work" ||
	bad "fail-static: $okc of 60 new connections worked"
start_agent
wait_for 10 grep -q "managing 1 VIPs" "$tmp/agent.log" || bad "new agent did not start"
sleep 1
broken=0
for i in $(seq 6); do
	eval "wait \$S$i"
	grep -q '\[DONE\]' "$tmp/s$i" || broken=$((broken + 1))
	n=$(grep -c '^data: {' "$tmp/s$i")
	[ "$n" -ge 120 ] || broken=$((broken + 1))
done
[ "$broken" = 0 ] && ok "6 streams across the kill and restart all complete intact" ||
	bad "$broken streams broken"
gen1=$(L show -j | python3 -c 'import json,sys; d=json.load(sys.stdin)["agent"]; print(d["generation"], d["pid"])')
[ "${gen1#* }" = "$AGENT_PID" ] && [ "${gen1% *}" -ge "$gen0" ] &&
	ok "new agent (pid $AGENT_PID, was $old_pid) adopted the maps: generation $gen0 -> ${gen1% *}" ||
	bad "adoption: $gen1 (gen0 $gen0)"
all_healthy && ok "after the restart every backend is still healthy" ||
	bad "after restart: $(L show)"

# ---- 6. reload -------------------------------------------------------------
cp "$tmp/agent.yaml" "$tmp/good.yaml"
before=$(be "$(B 3)" state)
echo "  bogus_key: 1" >>"$tmp/agent.yaml"
kill -HUP "$AGENT_PID"
wait_for 5 grep -q "reload refused" "$tmp/agent.log" &&
	kill -0 "$AGENT_PID" && [ "$(be "$(B 3)" state)" = "$before" ] &&
	ok "SIGHUP with a bad file: refused, running config kept" ||
	bad "bad reload"
config "$tmp/agent.yaml" 2
kill -HUP "$AGENT_PID"
# (a function: wait_for runs it again every time; "[ $(...) ]" as its
# arguments would be expanded once)
b3_gone() { [ "$(be "$(B 3)" state)" = none ]; }
wait_for 5 b3_gone &&
	ok "SIGHUP with backend 3 removed: gone from the VIP" ||
	bad "reload without b3: $(L show)"

# ---- 6c. the file, watched: an edit applies without SIGHUP ------------------
b3_back() { [ "$(be "$(B 3)" state)" != none ]; }
t0=$(ms)
cp "$tmp/good.yaml" "$tmp/agent.yaml.new" && mv "$tmp/agent.yaml.new" "$tmp/agent.yaml"
if wait_for 5 b3_back; then
	ok "the file replaced (rename, no SIGHUP): backend 3 is back after $(($(ms) - t0)) ms (debounce 300 ms)"
else
	bad "an edit without SIGHUP was not applied: $(L show | head -8)"
fi
refused0=$(grep -c "reload refused" "$tmp/agent.log")
refused_more() { [ "$(grep -c "reload refused" "$tmp/agent.log")" -gt "$refused0" ]; }
printf '    - address: [oops\n' >>"$tmp/agent.yaml"	# an edit in place, malformed
if wait_for 5 refused_more && sleep 0.3 && kill -0 "$AGENT_PID" && b3_back &&
	grep "reload refused" "$tmp/agent.log" | tail -1 | grep -q "agent.yaml:[0-9]*:[0-9]*:"; then
	ok "a malformed edit: refused with file, line and column, the running config kept ($(grep "reload refused" "$tmp/agent.log" | tail -1 | sed 's/.*: \([^:]*agent.yaml:[0-9]*:[0-9]*\).*/\1/'))"
else
	bad "malformed edit: $(grep "reload refused" "$tmp/agent.log" | tail -1), b3 '$(be "$(B 3)" state)'"
fi
cp "$tmp/good.yaml" "$tmp/agent.yaml"	# later sections start agents on it
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
L show | grep -q "agent pid 0  stopped" && ok "SIGTERM: agent marked stopped, maps stay" ||
	bad "after SIGTERM: $(L show | head -3)"

# ---- 6b. every exit path releases what it took ------------------------------
# lb-agent under valgrind --track-fds: at exit no descriptor it opened may be
# left (signalfd, pin directory, map fds, the /metrics socket), on a failed
# start, on a failure after start, and on SIGTERM; exit codes as documented.
# leaked_fds LOG: descriptors open at exit that were not inherited
leaked_fds() {
	awk '/== Open / { fd = $0; sub(/^==[0-9]*== /, "", fd); next }
		fd != "" && /==   *[^ ]/ { if ($0 !~ /inherited from parent/) print fd; fd = "" }' "$1"
}
# exit_clean WHAT RC CONFIG [TERM]: runs lb-agent on CONFIG under valgrind
# (with TERM: SIGTERM it once it runs); passes on exit code RC and no leak
exit_clean() {
	local what=$1 want=$2 conf=$3 term=${4:-} vlog=$tmp/valgrind.log pid rc leaked
	nsenter --net="/run/netns/$(topo_ns lb)" valgrind -q --track-fds=yes \
		--log-file="$vlog" "$agent" -c "$conf" >"$tmp/vg-agent.log" 2>&1 &
	pid=$!
	AGENT_PID=$pid	# killed on exit if the test stops here
	if [ -n "$term" ]; then
		wait_for 60 grep -q "running with" "$tmp/vg-agent.log" ||
			bad "$what: lb-agent under valgrind did not start: $(cat "$tmp/vg-agent.log")"
		kill -TERM "$pid"
	fi
	timeout 60 tail --pid="$pid" -f /dev/null
	kill -0 "$pid" 2>/dev/null && kill -9 "$pid"	# hung: fails below
	wait "$pid"
	rc=$?
	AGENT_PID=
	leaked=$(leaked_fds "$vlog")
	[ "$rc" = "$want" ] && [ -z "$leaked" ] && grep -q "FILE DESCRIPTORS" "$vlog" &&
		ok "$what: exit $rc, every descriptor it opened closed" ||
		bad "$what: exit $rc (want $want), left open: $leaked $(tail -3 "$tmp/vg-agent.log")"
}
if command -v valgrind >/dev/null; then
	sed "s|pin_dir: .*|pin_dir: $pins-none|" "$tmp/good.yaml" >"$tmp/unattached.yaml"
	exit_clean "a start that fails (not attached)" 1 "$tmp/unattached.yaml"
	grep -q "^Error: inferlb is not attached" "$tmp/vg-agent.log" ||
		bad "not attached: $(cat "$tmp/vg-agent.log")"
	# something else listens on the /metrics port: fails after the start
	# (SO_REUSEADDR: the last agent's closed scrapes may be in TIME_WAIT)
	nsenter --net="/run/netns/$(topo_ns lb)" python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(120)' "$MPORT" &
	HOLDER_PID=$!	# python itself: nsenter execs it
	wait_for 5 in_lb python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$MPORT" ||
		bad "could not occupy port $MPORT"
	exit_clean "a failure after the start (/metrics port taken)" 1 "$tmp/good.yaml"
	grep -q "^Error: cannot serve /metrics" "$tmp/vg-agent.log" &&
		L show | grep -q "agent pid 0  stopped" ||
		bad "port taken: $(cat "$tmp/vg-agent.log"; L show | head -3)"
	kill "$HOLDER_PID" 2>/dev/null
	wait "$HOLDER_PID" 2>/dev/null
	HOLDER_PID=
	exit_clean "SIGTERM" 0 "$tmp/good.yaml" term
	L show | grep -q "agent pid 0  stopped" ||
		bad "after SIGTERM under valgrind: $(L show | head -3)"
else
	echo "skip - valgrind not installed (scripts/install-deps.sh installs it): exit paths not checked for leaks"
fi

# ---- 7. admission: a refused SYN gets a RST, the client fails at once ------
L vip set "$VIP4:$PORT/tcp" --rate 1 --burst 2 >/dev/null || bad "vip set --rate"
codes=""
t0=$(ms)
for i in 1 2 3 4; do
	topo_exec client curl -s -o /dev/null --max-time 5 "http://$VIP4:$PORT/health"
	codes="$codes $?"
done
t1=$(ms)
# curl exit 7: "failed to connect" (the RST); 2 tokens, then refused
[ "$codes" = " 0 0 7 7" ] && [ $((t1 - t0)) -lt 3000 ] &&
	ok "VIP rate 1/s burst 2: two connections, then RST (curl exits$codes in $((t1 - t0)) ms)" ||
	bad "admission RST: curl exits$codes in $((t1 - t0)) ms"
refused=$(L -j stats | python3 -c '
import json, sys
v = json.load(sys.stdin)["vips"][0]["refused"]
print(v["vip_rate"], v["reset_sent"])')
[ "$refused" = "2 2" ] && ok "refusals counted: vip_rate and reset_sent 2" ||
	bad "refusal counters: $refused"
# /metrics: the reason and the outcome of each refusal in a family of its
# own, so a sum over either counts each refused flow once (an agent again:
# the last one stopped under valgrind above)
has_metric() { [ -n "$(metric "$1" "$2")" ]; }
start_agent
wait_for 10 has_metric inferlb_vip_refusal_outcomes_total reset_sent ||
	bad "no refusal outcomes on /metrics: $(grep refus "$tmp/m" | head -3)"
m_reasons=$(awk '$1 ~ /^inferlb_vip_refused_total\{/ { s += $2 } END { print s + 0 }' "$tmp/m")
m_outcomes=$(awk '$1 ~ /^inferlb_vip_refusal_outcomes_total\{/ { s += $2 } END { print s + 0 }' "$tmp/m")
[ "$m_reasons" = 2 ] && [ "$m_outcomes" = 2 ] &&
	ok "/metrics: 2 refusals by reason, 2 by outcome (families apart)" ||
	bad "/metrics refusal sums: reasons $m_reasons, outcomes $m_outcomes"
L vip set "$VIP4:$PORT/tcp" --rate 0 >/dev/null

# ---- 8. expected-wait -------------------------------------------------------
# stream N TOKENS: N streaming requests through the VIP, in the background
# (ip netns exec execs curl: $! is curl, for stop_streams and cleanup)
stream() {
	for ((i = 0; i < $1; i++)); do
		ip netns exec "$(topo_ns client)" curl -s -o /dev/null --max-time 20 \
			-d "{\"prompt\":\"x\",\"max_tokens\":$2,\"stream\":true}" \
			"http://$VIP4:$PORT/v1/completions" &
		STREAMS+=($!)
	done
}
stop_streams() {
	[ ${#STREAMS[@]} -gt 0 ] && kill "${STREAMS[@]}" 2>/dev/null
	wait "${STREAMS[@]}" 2>/dev/null
	STREAMS=()
}
# every backend has a published slot wait and the configured slots
speeds_known() {
	L show -j | python3 -c '
import json, sys
b = json.load(sys.stdin)["vips"][0]["backends"]
sys.exit(0 if len(b) == 3 and all(x["slot_wait_ms"] and x["slots"] == 2 for x in b) else 1)'
}
EW_POLICY=expected-wait EW_SLOTS=2 config "$tmp/agent.yaml" 3
kill -HUP "$AGENT_PID"
# vip_is KEY VALUE: the VIP's KEY in lbctl show -j is VALUE
vip_is() {
	[ "$(L show -j | python3 -c 'import json, sys
print(json.load(sys.stdin)["vips"][0][sys.argv[1]])' "$1")" = "$2" ]
}
wait_for 5 vip_is policy expected-wait ||
	bad "reload to expected-wait: $(L show | head -3)"
wait_for 10 all_healthy || bad "expected-wait: backends not healthy: $(L show)"
stream 6 40	# 40 tokens x 30 ms: 1.2 s each, 2 per worker
wait_for 10 speeds_known &&
	ok "expected-wait: speeds measured, slots and slot waits published ($(L show | grep -o 'slots 2 slot wait [0-9.]* ms' | head -1))" ||
	bad "expected-wait inputs not published: $(L show)"
stop_streams
# a saturated worker keeps its weight: no table rebuild for load
w0=$(be "$(B 1)" weight)
for i in $(seq 12); do	# streaming: a killed client cancels its request
	ip netns exec "$(topo_ns client)" curl -s -o /dev/null --max-time 30 \
		-d '{"prompt":"x","max_tokens":100,"stream":true}' \
		"http://$(B 1):$PORT/v1/completions" &
	STREAMS+=($!)
done
wait_for 5 sat_visible || bad "b1 never showed a queue (expected-wait)"
sleep 0.5	# five polls of the saturated worker
w1=$(be "$(B 1)" weight)
[ "$w1" = "$w0" ] && [ "$w0" -gt 0 ] &&
	ok "expected-wait: saturated worker keeps its weight ($w0 -> $w1)" ||
	bad "expected-wait: weight of the saturated worker $w0 -> $w1"
stop_streams
# b1 idle again: expected-wait counts what a worker says it runs and
# queues, so a leftover queue would (rightly) shed the flows below
b1_idle() {
	topo_exec client curl -s --max-time 1 "http://$(B 1):$PORT/metrics" |
		awk '/^vllm:num_requests_(running|waiting)/ { n += $2 } END { exit n != 0 }'
}
wait_for 10 b1_idle || bad "b1 still busy after its clients left"
# TTFT target 1 ms: the 6 flows that find a free slot are admitted, the
# 7th would wait for one: RST at once
EW_POLICY=expected-wait EW_SLOTS=2 EW_TARGET=1 config "$tmp/agent.yaml" 3
kill -HUP "$AGENT_PID"
wait_for 5 vip_is ttft_target_ms 1 ||
	bad "reload with ttft_target_ms: $(L show | head -3)"
open_sum() {
	L show -j | python3 -c '
import json, sys
print(sum(b["open_flows"] for b in json.load(sys.stdin)["vips"][0]["backends"]))'
}
open0=$(open_sum)
stream 6 300	# 9 s each: all six slots busy
six_open() { [ "$(open_sum)" -ge $((open0 + 6)) ]; }
wait_for 5 six_open || bad "six streams not open: $(L show)"
t0=$(ms)
topo_exec client curl -s -o /dev/null --max-time 5 \
	-d '{"prompt":"x","max_tokens":5,"stream":true}' "http://$VIP4:$PORT/v1/completions"
rc=$?
t1=$(ms)
shed=$(L -j stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["vips"][0]["refused"]["ttft_target"])')
[ "$rc" = 7 ] && [ "$shed" -ge 1 ] && [ $((t1 - t0)) -lt 1000 ] &&
	ok "TTFT target: a flow that would wait for a slot got a RST in $((t1 - t0)) ms (ttft_target $shed)" ||
	bad "TTFT target: curl exit $rc in $((t1 - t0)) ms, ttft_target $shed: $(L show)"
wait_for 5 has_metric inferlb_vip_refused_total ttft_target &&
	[ "$(metric inferlb_vip_refused_total ttft_target)" -ge 1 ] &&
	ok "/metrics: inferlb_vip_refused_total{reason=\"ttft_target\"} $(metric inferlb_vip_refused_total ttft_target)" ||
	bad "/metrics: no ttft_target refusal"
stop_streams
# a worker whose metrics turn to NaN: a bad answer, counted, not drained
fault_bad() { # I KIND
	topo_exec client curl -s -o /dev/null --max-time 2 \
		"http://$(B "$1"):$PORT/admin/fault?mode=badmetrics&kind=$2"
}
fault_bad 2 nan
nonfinite() { metric inferlb_backend_bad_metrics_total "$(B 2)\",reason=\"nonfinite\""; }
bad_counted() { [ "$(nonfinite)" -ge 3 ] 2>/dev/null; }
wait_for 5 bad_counted && state_is "$(B 2)" healthy && [ "$(be "$(B 2)" weight)" -gt 0 ] &&
	ok "NaN in a worker's metrics: counted as bad (nonfinite $(nonfinite)), still healthy with a weight" ||
	bad "bad metrics: nonfinite '$(nonfinite)' $(grep "bad_metrics_total.*$(B 2)" "$tmp/m" | head -4); $(L show | grep "$(B 2)")"
grep -q "$(B 2): metrics refused (nonfinite)" "$tmp/agent.log" &&
	ok "agent log names the bad metrics reason" || bad "no log line for the bad metrics"
fault 2 none
lint_metrics "with expected-wait, a shed flow and bad metrics"

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
