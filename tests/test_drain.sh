#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# lbctl backend del --drain, with real TCP streams through the balancer
# (tests/e2e/topo.sh: a client, the balancer with an l2dsr VIP, two
# backends running tools/gpusim), first without lb-agent:
#
#  1. 20 streams over both backends, del --drain of b2: it is draining
#     with weight 0 at once, new connections all go to b1 (b2's new-flow
#     counter does not move), progress is printed each second, b2 is
#     deleted when its streams have ended, and no stream is broken.
#  2. streams and one idle connection on b2: SIGINT during a drain exits
#     1, says so, and leaves b2 present and draining; a short --timeout
#     exits 1 with the open flows left and deletes nothing.
#  3. once those streams end (none broken), del --drain --idle 2s counts
#     the idle connection (no packet, no FIN) as ended after 2 s and
#     deletes b2.
#  4. with lb-agent driving the VIP (b2 back from its config): the agent
#     leaves b2 draining with weight 0 while it drains (the override), and
#     lbctl warns that the agent's config file may bring it back.
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_drain.sh BUILD_DIR
export E2E_PREFIX=dr
# shellcheck source=tests/e2e/lbtest.sh
. "$(dirname "$0")/e2e/lbtest.sh" "${1:-build}"


B() { echo "198.18.0.$((10 + $1))"; }	# backend address
V=$VIP4:$PORT/tcp

# be ADDR FIELD: a field of backend ADDR in `lbctl show -j`, "none" if absent
be() {
	L show -j | python3 -c '
import json, sys
for v in json.load(sys.stdin)["vips"]:
    for b in v["backends"]:
        if b["address"] == sys.argv[1]:
            print(b[sys.argv[2]]); sys.exit(0)
print("none")' "$1" "$2"
}
# new_flows ADDR: the backend's new-flow counter in `lbctl stats -j`
new_flows() {
	L stats -j | python3 -c '
import json, sys
for v in json.load(sys.stdin)["vips"]:
    for b in v["backends"]:
        if b["address"] == sys.argv[1]:
            print(b["new_flows"]); sys.exit(0)
print("none")' "$1"
}
open_at_least() { local n; n=$(be "$1" open_flows); [ "$n" != none ] && [ "$n" -ge "$2" ]; }
gone() { [ "$(be "$1" state)" = none ]; }

# streams FIRST COUNT TOKENS: streaming requests s$FIRST.. in the background
streams() {
	local i
	for ((i = $1; i < $1 + $2; i++)); do
		ip netns exec "$(topo_ns client)" curl -sN --max-time 30 \
			-d "{\"prompt\":\"x\",\"max_tokens\":$3,\"stream\":true}" \
			"http://$VIP4:$PORT/v1/completions" >"$tmp/s$i" 2>/dev/null &
		BG+=("$!")
		eval "S$i=\$!"
	done
}
# broken FIRST COUNT TOKENS: waits for those streams (not in a subshell:
# they are this shell's children); BROKEN = how many did not end with
# every token and [DONE]
broken() {
	local i
	BROKEN=0
	for ((i = $1; i < $1 + $2; i++)); do
		eval "wait \$S$i"
		if ! grep -q '\[DONE\]' "$tmp/s$i" ||
			[ "$(grep -c '^data: {' "$tmp/s$i")" -lt "$3" ]; then
			BROKEN=$((BROKEN + 1))
		fi
	done
}

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi

# ---- topology: gpusim on both backends, VIP on their lo (topo.sh) -------
topo_create 2 && topo_peer_xdp_pass "$build/bpf/pass.bpf.o" || exit 1
for i in 1 2; do
	# batch 32: every stream decodes at once, 20 ms per token
	ip netns exec "$(topo_ns "b$i")" "$gpusim" --bind 0.0.0.0 --port "$PORT" \
		--name "b$i" --batch 32 --token-ms 20 >"$tmp/gpusim-b$i.log" 2>&1 &
	TOPO_PIDS[i]=$!
done
for i in 1 2; do
	wait_for 5 topo_exec client curl -s -o /dev/null --max-time 1 \
		"http://$(B $i):$PORT/health" || { bad "gpusim b$i did not start"; exit 1; }
done
L attach "$TOPO_DEV" >/dev/null && L vip add "$V" --mode l2dsr >/dev/null &&
	L backend add "$V" "$(B 1)" >/dev/null && L backend add "$V" "$(B 2)" >/dev/null ||
	{ bad "setup: attach, VIP and two backends"; exit 1; }

# ---- 1. drain under 20 streams ---------------------------------------------
streams 0 20 400	# 400 tokens x 20 ms: 8 s each
wait_for 5 open_at_least "$(B 2)" 3 || bad "streams not open on b2: $(L show)"
nf0=$(new_flows "$(B 2)")
t0=$(ms)
# not through a function: nsenter execs lbctl, so $! is lbctl (for kill -INT)
nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" \
	backend del "$V" "$(B 2)" --drain --timeout 30 >"$tmp/drain1" 2>&1 &
DRAIN=$!
BG+=("$DRAIN")
draining() { [ "$(be "$(B 2)" state)" = draining ] && [ "$(be "$(B 2)" weight)" = 0 ]; }
wait_for 3 draining && ok "del --drain: $(B 2) draining with weight 0 at once" ||
	bad "not draining: $(L show)"
kill -0 "$DRAIN" 2>/dev/null && ok "the drain waits while streams run" ||
	bad "the drain ended early: $(cat "$tmp/drain1")"
okc=0
for i in $(seq 10); do
	[ "$(topo_exec client curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
		"http://$VIP4:$PORT/health")" = 200 ] && okc=$((okc + 1))
done
nf1=$(new_flows "$(B 2)")
[ "$okc" = 10 ] && [ "$nf1" = "$nf0" ] &&
	ok "10 new connections during the drain all answered, none went to $(B 2) (new flows $nf0 -> $nf1)" ||
	bad "during the drain: $okc of 10 answered, $(B 2) new flows $nf0 -> $nf1"
wait "$DRAIN"
rc=$?
t1=$(ms)
lines=$(grep -c 'open flows, [0-9]* s elapsed' "$tmp/drain1")
[ "$rc" = 0 ] && grep -q "^deleted backend $(B 2) of $V (drained" "$tmp/drain1" && gone "$(B 2)" &&
	[ "$lines" -ge 3 ] &&
	ok "deleted once its streams ended, after $((t1 - t0)) ms, $lines progress lines" ||
	bad "drain: exit $rc, $lines progress lines: $(cat "$tmp/drain1")"
broken 0 20 400
[ "$BROKEN" = 0 ] && ok "20 streams across the drain: none broken" || bad "$BROKEN of 20 streams broken"

# ---- 2. Ctrl-C and --timeout leave it draining -------------------------------
L backend add "$V" "$(B 2)" >/dev/null || bad "backend add again"
L set-weight "$V" "$(B 1)" 0 >/dev/null	# the next flows all to b2
streams 20 4 400	# 8 s each
ip netns exec "$(topo_ns client)" bash -c \
	"exec 3<>/dev/tcp/$VIP4/$PORT; sleep 40" 2>/dev/null &	# idle, no FIN
BG+=("$!")
wait_for 5 open_at_least "$(B 2)" 5 || bad "streams and idle connection not open on b2: $(L show)"
L set-weight "$V" "$(B 1)" 100 >/dev/null
nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" \
	backend del "$V" "$(B 2)" --drain >"$tmp/drain2" 2>&1 &
DRAIN=$!
BG+=("$DRAIN")
progress() { grep -q 'open flows' "$tmp/drain2"; }
wait_for 5 progress || bad "no progress line: $(cat "$tmp/drain2")"
kill -INT "$DRAIN"
wait "$DRAIN"
rc=$?
[ "$rc" = 1 ] && grep -q 'interrupted (SIGINT).*left draining, not deleted' "$tmp/drain2" &&
	grep -q -- "--drain' again" "$tmp/drain2" && [ "$(be "$(B 2)" state)" = draining ] &&
	ok "SIGINT: exit 1, $(B 2) left draining and the message says how to finish" ||
	bad "SIGINT: exit $rc, state $(be "$(B 2)" state): $(cat "$tmp/drain2")"
t0=$(ms)
out=$(L backend del "$V" "$(B 2)" --drain --timeout 2 2>&1)
rc=$?
t1=$(ms)
[ "$rc" = 1 ] && printf '%s' "$out" | grep -q 'timed out after 2 s: .* left draining, not deleted ([1-9][0-9]* open flows' &&
	[ "$(be "$(B 2)" state)" = draining ] && [ $((t1 - t0)) -lt 4000 ] &&
	ok "--timeout 2: exit 1 after $((t1 - t0)) ms, open flows named, still draining" ||
	bad "--timeout 2: exit $rc after $((t1 - t0)) ms, state $(be "$(B 2)" state): $out"
broken 20 4 400
[ "$BROKEN" = 0 ] && ok "4 streams across SIGINT and timeout: none broken" || bad "$BROKEN of 4 streams broken"

# ---- 3. an idle flow ends by --idle ------------------------------------------
t0=$(ms)
out=$(L backend del "$V" "$(B 2)" --drain --idle 2s --timeout 10 2>&1)
rc=$?
t1=$(ms)
[ "$rc" = 0 ] && printf '%s' "$out" | grep -q '^  1 open flows' && gone "$(B 2)" &&
	[ $((t1 - t0)) -ge 1500 ] && [ $((t1 - t0)) -lt 6000 ] &&
	ok "--idle 2s: the idle connection counted 2 s, then deleted after $((t1 - t0)) ms" ||
	bad "--idle: exit $rc after $((t1 - t0)) ms: $out"

# ---- 4. with lb-agent: the override keeps it draining -----------------------
cat >"$tmp/agent.yaml" <<EOF
agent:
  metrics_listen: 127.0.0.1:9465
  pin_dir: $pins
  request_timeout_ms: 300
policy:
  poll_interval_ms: 100
  health_interval_ms: 100
  slow_start_ms: 200
vips:
  - address: $V
    mode: l2dsr
    backends:
      - {address: $(B 1), engine: vllm, url: "http://$(B 1):$PORT", capacity: 1.0}
      - {address: $(B 2), engine: vllm, url: "http://$(B 2):$PORT", capacity: 1.0}
EOF
nsenter --net="/run/netns/$(topo_ns lb)" "$build/lb-agent" -c "$tmp/agent.yaml" \
	>"$tmp/agent.log" 2>&1 &
BG+=("$!")
both_healthy() {
	[ "$(be "$(B 1)" state)" = healthy ] && [ "$(be "$(B 2)" state)" = healthy ] &&
		[ "$(be "$(B 2)" weight)" != 0 ]
}
wait_for 10 both_healthy || bad "agent: b1 and b2 not healthy: $(L show; tail -5 "$tmp/agent.log")"
L backend state "$V" "$(B 1)" draining --for 2s >/dev/null	# next flows to b2
for i in 1 2; do
	ip netns exec "$(topo_ns client)" bash -c \
		"exec 3<>/dev/tcp/$VIP4/$PORT; sleep 30" 2>/dev/null &	# idle
	BG+=("$!")
done
wait_for 5 open_at_least "$(B 2)" 2 || bad "idle connections not open on b2: $(L show)"
L backend del "$V" "$(B 2)" --drain --idle 6s --timeout 15 >"$tmp/drain4" 2>&1 &
DRAIN=$!
BG+=("$DRAIN")
kept=0
for i in 1 2 3; do	# 30 agent rounds (--idle 6s: its idle flows end 4 s in at the
			# earliest), b1's override running out between
	sleep 1
	[ "$(be "$(B 2)" state)" = draining ] && [ "$(be "$(B 2)" weight)" = 0 ] &&
		kept=$((kept + 1))
done
wait "$DRAIN"
rc=$?
[ "$kept" = 3 ] && [ "$rc" = 0 ] && grep -q "Warning: lb-agent (pid [0-9]*) drives these maps" "$tmp/drain4" &&
	grep -q "^deleted backend $(B 2)" "$tmp/drain4" &&
	ok "with lb-agent: draining with weight 0 for 3 s of agent rounds, then deleted, warned about the agent's file" ||
	bad "with lb-agent: kept $kept of 3, exit $rc: $(cat "$tmp/drain4")"

echo "test_drain: $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
