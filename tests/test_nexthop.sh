#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_nexthop.sh - next hops follow the network (lib/lb_nexthop_sync.c,
# `lbctl nexthop refresh`, lb-agent's watcher agent/nexthops.c), in
# namespaces (tests/e2e/topo.sh): a client, the balancer (an l2dsr VIP,
# which forwards to lb_nexthops' MAC) and one backend running
# tools/e2e/httpd on the VIP's port and tools/gpusim for lb-agent's polls.
# The backend's NIC announces a new MAC by gratuitous ARP (arp_notify=1),
# as a replaced NIC or a failed-over address does; the balancer's
# neighbour table learns it, lb_nexthops must follow.
#
#  1. `lbctl nexthop refresh` with nothing changed: 0 changes, exit 0;
#     with an extra argument: a usage error (exit 2).
#  2. no agent: the MAC changes while a stream runs; lb_nexthops keeps the
#     old MAC (the stream stalls) until `lbctl nexthop refresh`, which
#     reports 1 change, old -> new (text and JSON); the stream completes
#     intact.
#  3. lb-agent running: the MAC changes again mid-stream; the agent writes
#     the new next hop by itself within 2 s (reported with the time it
#     took), /metrics counts 1 change; the stream completes intact.
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_nexthop.sh BUILD_DIR
export E2E_PREFIX=nh
# shellcheck source=tests/e2e/lbtest.sh
. "$(dirname "$0")/e2e/lbtest.sh" "${1:-build}"

MPORT=9465
GPORT=9100	# gpusim, what the agent polls (the VIP's port is httpd's)
BE=198.18.0.11
VIP="$VIP4:$PORT/tcp"

lbtest_cleanup_extra() {
	if [ "$FAILS" -ne 0 ] && [ -f "$tmp/agent.log" ]; then
		echo "---- agent log (last 20 lines)"
		tail -20 "$tmp/agent.log"
	fi
}

in_lb() { timeout 30 nsenter --net="/run/netns/$(topo_ns lb)" "$@"; }

# the next hop lb_nexthops holds for the backend, as lbctl show says
next_hop() {
	L show -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
for v in d["vips"]:
    for b in v["backends"]:
        if b["address"] == sys.argv[1]:
            print(b["next_hop"]); sys.exit(0)
print("none")' "$BE"
}
next_hop_is() { [ "$(next_hop)" = "$1" ]; }
# the balancer's neighbour entry for the backend holds MAC
lb_neigh_is() {
	ip -n "$(topo_ns lb)" neigh show "$BE" dev "$TOPO_DEV" | grep -q "lladdr $1 "
}
metric() { # metric NAME: its value in the agent's /metrics
	in_lb curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" |
		awk -v n="$1" '$1 == n { print $2; exit }'
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }
agent_ready() {
	local n
	n=$(metric inferlb_nexthop_syncs_total)
	[ -n "$n" ] && [ "$n" != 0 ] || return 1
	[ "$(L show -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["vips"][0]["backends"][0]["state"])')" = healthy ]
}

# stream OUT: 2 streams of 3 s through the VIP, in the background (SPID)
stream() {
	ip netns exec "$(topo_ns client)" timeout 30 "$E2E_BIN/conns" --stream \
		--url "http://$VIP4:$PORT/" --streams 2 --bytes 400000 --chunk 4000 \
		--interval-ms 30 >"$1" 2>&1 &
	SPID=$!
}
# stream_ok WHAT OUT: the stream was still running, then completed intact
stream_ok() {
	local alive=no
	kill -0 "$SPID" 2>/dev/null && alive=yes
	if wait "$SPID" && [ "$(grep -c 'backend b1 .* ok' "$2")" = 2 ] &&
		[ $alive = yes ]; then
		ok "$1: 2 streams open across the change completed intact"
	else
		bad "$1: streams (running at the change: $alive): $(tr '\n' ' ' <"$2")"
	fi
	SPID=
}
# new_mac MAC: the backend's NIC takes MAC (and announces it: arp_notify)
new_mac() {
	topo_exec b1 ip link set dev "$TOPO_DEV" address "$1"
}

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi

# ---- topology: one backend, httpd and gpusim on it -------------------------
SECONDS=0
if ! { topo_create 1 && topo_peer_xdp_pass "$build/bpf/pass.bpf.o" &&
	topo_start_backends --quiet; }; then
	bad "topology"
	exit 1
fi
topo_exec b1 sysctl -qw "net.ipv4.conf.$TOPO_DEV.arp_notify=1" ||
	{ bad "arp_notify"; exit 1; }
ip netns exec "$(topo_ns b1)" "$gpusim" --bind 0.0.0.0 --port "$GPORT" \
	--name b1 >"$tmp/gpusim.log" 2>&1 &
TOPO_PIDS+=($!)	# topo_destroy stops it
if ! { L attach "$TOPO_DEV" >/dev/null && L vip add "$VIP" --mode l2dsr >/dev/null &&
	L backend add "$VIP" "$BE" >/dev/null; }; then
	bad "attach, vip and backend add"
	exit 1
fi
MAC0=$(topo_mac b1)
MAC1=02:e2:e0:00:02:01
MAC2=02:e2:e0:00:03:01
if next_hop_is "$MAC0"; then
	ok "backend $BE added with next hop $MAC0"
else
	bad "next hop after backend add: $(next_hop), want $MAC0"
fi

# ---- 1. nothing changed ------------------------------------------------------
out=$(L nexthop refresh 2>&1)
rc=$?
if [ $rc = 0 ] && [[ $out == "0 next hops changed (1 backends checked, 0 not resolved"* ]]; then
	ok "nexthop refresh, nothing changed: $out"
else
	bad "nexthop refresh, nothing changed: exit $rc: $out"
fi
out=$(L nexthop refresh now 2>&1)
rc=$?
if [ $rc = 2 ] && [[ $out == Error:* ]] && next_hop_is "$MAC0"; then
	ok "nexthop refresh with an argument: exit 2, nothing changed: $out"
else
	bad "nexthop refresh with an argument: exit $rc: $out"
fi

# ---- 2. no agent: lbctl nexthop refresh --------------------------------------
stream "$tmp/s1.out"
sleep 0.7
new_mac "$MAC1" || bad "changing the backend's MAC"
if wait_for 3 lb_neigh_is "$MAC1"; then
	ok "the balancer's neighbour table learnt $MAC1 from the gratuitous ARP"
else
	bad "the balancer's neighbour entry: $(ip -n "$(topo_ns lb)" neigh show "$BE")"
fi
sleep 0.3
if next_hop_is "$MAC0"; then
	ok "without the agent lb_nexthops still holds $MAC0"
else
	bad "without the agent lb_nexthops holds $(next_hop), want still $MAC0"
fi
out=$(L nexthop refresh 2>&1)
rc=$?
want="backend $BE of $VIP (id 1): next hop $MAC0 -> $MAC1"
if [ $rc = 0 ] && [[ $out == "$want"*"1 next hops changed (1 backends checked"* ]] &&
	next_hop_is "$MAC1"; then
	ok "nexthop refresh reports 1 change: $(echo "$out" | tr '\n' ' ')"
else
	bad "nexthop refresh after the change: exit $rc: $out"
fi
stream_ok "no agent, lbctl nexthop refresh" "$tmp/s1.out"
out=$(L -j nexthop refresh)
if [ "$out" = '{"changes":[],"not_resolved":[],"changed":0,"checked":1,"failed":0,"raced":0}' ]; then
	ok "nexthop refresh -j, nothing left to change: $out"
else
	bad "nexthop refresh -j: $out"
fi

# ---- 3. lb-agent follows by itself -------------------------------------------
cat >"$tmp/agent.yaml" <<EOF
agent:
  metrics_listen: 127.0.0.1:$MPORT
  pin_dir: $pins
  request_timeout_ms: 300
policy:
  poll_interval_ms: 100
  health_interval_ms: 100
vips:
  - address: $VIP
    mode: l2dsr
    backends:
      - address: $BE
        engine: vllm
        url: http://$BE:$GPORT
EOF
nsenter --net="/run/netns/$(topo_ns lb)" "$agent" -c "$tmp/agent.yaml" \
	>>"$tmp/agent.log" 2>&1 &
AGENT_PID=$!
if wait_for 10 agent_ready; then
	ok "lb-agent runs: backend healthy, first next-hop sync done"
else
	bad "lb-agent did not start: $(tail -3 "$tmp/agent.log" | tr '\n' ' ')"
fi
stream "$tmp/s2.out"
sleep 0.7
t0=$(ms)
up0=$(cut -d' ' -f1 /proc/uptime)	# CLOCK_BOOTTIME, the agent log's clock
new_mac "$MAC2" || bad "changing the backend's MAC"
if wait_for 2 next_hop_is "$MAC2"; then
	# the agent's own reaction, from its log line's time stamp
	took=$(awk -v t="$up0" -v m="-> $MAC2" 'index($0, m) {
		sub(/^lb-agent\[/, ""); printf "%d", ($1 - t) * 1000; exit }' "$tmp/agent.log")
	ok "lb-agent rewrote the next hop to $MAC2 by itself, ${took:-?} ms after the change (seen by lbctl show after $(($(ms) - t0)) ms)"
else
	bad "lb-agent did not follow within 2 s: next hop $(next_hop)"
fi
if metric_is inferlb_nexthop_changes_total 1 &&
	grep -q "next hop of backend $BE of $VIP: $MAC1 -> $MAC2" "$tmp/agent.log"; then
	ok "/metrics: inferlb_nexthop_changes_total 1; the agent logged $MAC1 -> $MAC2"
else
	bad "agent change count $(metric inferlb_nexthop_changes_total), log: $(grep 'next hop' "$tmp/agent.log")"
fi
stream_ok "lb-agent" "$tmp/s2.out"
kill -TERM "$AGENT_PID"
if timeout 5 tail --pid="$AGENT_PID" -f /dev/null; then
	ok "lb-agent stops on SIGTERM with its watcher thread"
else
	bad "lb-agent did not stop on SIGTERM within 5 s"
fi
AGENT_PID=

# ---- 4. an unreachable next hop: reported, its MAC kept --------------------
if ! { topo_exec b1 ip link set dev "$TOPO_DEV" down &&
	ip -n "$(topo_ns lb)" neigh flush "$BE" dev "$TOPO_DEV"; }; then
	bad "taking the backend's link down"
fi
out=$(L -j nexthop refresh)
rc=$?
if [ $rc = 1 ] && echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
n = d["not_resolved"]
sys.exit(not (d["changed"] == 0 and d["failed"] == 1 and len(n) == 1 and
	n[0]["backend"] == sys.argv[1] and n[0]["kept"] == sys.argv[2] and
	"no ARP reply" in n[0]["error"]))' "$BE" "$MAC2" && next_hop_is "$MAC2"; then
	ok "unreachable next hop: exit 1, reported, $MAC2 kept: $out"
else
	bad "unreachable next hop: exit $rc: $out; next hop $(next_hop)"
fi

echo "$PASSES passed, $FAILS failed (${SECONDS} s)"
[ "$FAILS" -eq 0 ]
