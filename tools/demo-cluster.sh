#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# demo-cluster.sh - `make demo-cluster`: three inferlb balancer hosts
# behind a BGP router that spreads flows over them (ECMP), on one machine,
# in network namespaces (tests/e2e/cluster_topo.sh): a client, the router
# (BIRD 2, examples/bird/router-ecmp.conf), lb1..lb3 (inferlb + BIRD 2,
# examples/bird/inferlb-host.conf), three backends (httpd behind xdp_decap,
# answering the client directly). It shows, step by step:
#   1. what each host announces (its VIP route in table 4242, proto 242,
#      learned by its BIRD) and the router's ECMP route over the three;
#   2. the spread: 600 connections, new flows per host and per backend;
#   3. under 60 streams of ~40 s, lb3 leaves the way a drain does (its route
#      first, then its datapath), then comes back (datapath first, then
#      its route); a line per second shows the router's next hops and each
#      host's flow counter; at the end every stream is checked byte by byte;
#   4. lb2 cut off without a word (its link down): the router notices when
#      the BGP hold timer (3 s) runs out, and takes it back when it returns.
# Everything (namespaces, daemons, pins, temp files) is removed at the end,
# on error and on Ctrl-C.
# Usage: tools/demo-cluster.sh [BUILD_DIR]
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
export CL_BUILD=$build
export E2E_BIN=$build/tools/e2e
export CL_PREFIX=demoC
# shellcheck source=tests/e2e/cluster_topo.sh
. "$root/tests/e2e/cluster_topo.sh"
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"

STREAMS=60
SPID=
START=$(date +%s)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	echo
	echo "== cleaning up"
	if [ -n "$SPID" ]; then
		kill -9 "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
	fi
	cl_destroy
	echo "removed the namespaces, BIRD, etcd, the pins, the programs and the processes ($(($(date +%s) - START)) s in all)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
	echo "Error: the demo creates network namespaces and loads XDP programs; run it as root" >&2
	exit 1
fi
fail() { echo "Error: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }
say() { echo "   $*"; }

ALL3="$(cl_lb_addr 1) $(cl_lb_addr 2) $(cl_lb_addr 3)"
URL=http://$VIP4:$PORT/

new_flows() {
	cl_lbctl "$1" -j stats 2>/dev/null | python3 -c '
import json, sys
try:
    print(sum(v["new_flows"] for v in json.load(sys.stdin)["vips"]))
except Exception:
    print("-")'
}
# hosts_line: the router's next hops (as host names) and each host's flows
hosts_line() {
	local hops h names=""
	hops=$(cl_router_nexthops)
	for h in $hops; do
		names="$names lb$((${h##*.} - 1))"
	done
	printf 'router ECMP ->%-13s | new flows: lb1 %4s  lb2 %4s  lb3 %4s | open streams %s\n' \
		"${names:- (none)}" "$(new_flows 1)" "$(new_flows 2)" "$(new_flows 3)" \
		"$(cl_exec client ss -Htn state established dst "$VIP4" | wc -l)"
}
# tick SECONDS: a hosts_line about every second for SECONDS
tick() {
	local end=$(($(ms) + $1 * 1000))
	while [ "$(ms)" -lt "$end" ]; do
		say "$(date +%T)  $(hosts_line)"
		sleep 0.5
	done
}

step "building the network: client -> router -> lb1 lb2 lb3 -> b1 b2 b3 (namespaces)"
cl_create 3 && cl_start_backends --quiet || fail "topology"
say "client $CLIENT4 | router $ROUTER_CL4 / $ROUTER4 | lb1..lb3 $(cl_lb_addr 1)..$(cl_lb_addr 3) | b1..b3 ${CL_BACKEND4[1]}..${CL_BACKEND4[3]} | VIP $VIP4:$PORT"
say "the backends run xdp_decap (IPIP) and answer the client directly through the router"
cl_bird_start_all || fail "BIRD"
wait_for 20 cl_bgp_up || fail "BGP sessions: $(cl_birdc router show protocols)"
say "BIRD on the router and on each host; the router's BGP sessions (hold 3 s, keepalive 1 s):"
cl_birdc router show protocols | grep -E '^lb[0-9]' | sed 's/^/     /'

step "1. each host attaches inferlb, configures the VIP and b1..b3 (weights 1:1:1), then announces"
for i in 1 2 3; do
	cl_host_start "$i" || fail "host lb$i"
done
cl_wait_nexthops 10 "$ALL3" || fail "the router's route: '$(cl_router_nexthops)'"
for i in 1 2 3; do
	say "lb$i kernel: $(cl_exec "lb$i" ip route show table "$CL_TABLE" | tr -s ' ')  -> its BIRD announces: $(cl_birdc "lb$i" show route table inferlb4 | grep -o '^[0-9./]*  *blackhole' | tr -s ' ')"
done
say "the router's kernel route for the VIP (BIRD merged the 3 BGP paths, L4 hash policy):"
ip -n "$(cl_ns router)" route show "$VIP4/32" | sed 's/^/     /'
say "same VIP, backends, weights and hash seed on every host: identical Maglev tables"

step "2. the spread: 600 new connections from the client, one source port each"
f0="$(new_flows 1) $(new_flows 2) $(new_flows 3)"
out=$(cl_exec client timeout 120 "$E2E_BIN/conns" --url "$URL" --count 600 \
	--parallel 8 --expect b1=1,b2=1,b3=1)
f1="$(new_flows 1) $(new_flows 2) $(new_flows 3)"
python3 -c '
import sys
a = [int(x) for x in sys.argv[1].split()]; b = [int(x) for x in sys.argv[2].split()]
print("   new flows per host (the router hashed them): " +
      "  ".join("lb%d %d" % (i + 1, b[i] - a[i]) for i in range(3)))' "$f0" "$f1"
say "per backend (whichever host took the connection): $(echo "$out" | tr '\n' ' ')"

step "3. $STREAMS streams of ~40 s each; lb3 leaves (drain) and comes back under them"
cl_monitor_start
cl_exec client timeout 90 "$E2E_BIN/conns" --stream --url "$URL" \
	--streams "$STREAMS" --bytes 800000 --chunk 1000 --interval-ms 50 \
	--timeout-ms 5000 >"$CL_DIR/streams.out" 2>&1 &
SPID=$!
tick 3
say ">>> lb3 withdraws its VIP route (ip route del ... table $CL_TABLE proto $CL_PROTO)"
t0=$(ms)
cl_vip_withdraw 3
cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 2)" || fail "the router kept lb3"
say ">>> the router's route lost lb3 after $(cl_route_changed_ms "$t0" "$(cl_lb_addr 1) $(cl_lb_addr 2)") ms; now lb3 unloads its datapath"
cl_host_stop 3 unload
say "    lb1 and lb2 pick lb3's running flows up: not in their flow tables, their"
say "    Maglev tables send each to the backend it already had"
tick 5
say ">>> lb3 attaches and configures inferlb again, then announces its route"
cl_host_up 3 || fail "lb3 again"
t0=$(ms)
cl_vip_announce 3
cl_wait_nexthops 10 "$ALL3" || fail "the router did not take lb3 back"
say ">>> the router's route has lb3 again after $(cl_route_changed_ms "$t0" "$ALL3") ms; ECMP moves some running flows to it"
tick 5
say "waiting for the streams to end..."
wait "$SPID"
SPID=
oks=$(grep -c '^stream .* ok$' "$CL_DIR/streams.out")
say "streams: $oks of $STREAMS complete and intact (every byte checked), $((STREAMS - oks)) broken"
say "$(hosts_line)"

step "4. lb2 cut off without a word (its link down: no BGP withdraw, no TCP FIN)"
t0=$(ms)
cl_exec lb2 ip link set dev "$CL_DEV" down
cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 3)" || fail "the router kept lb2"
say "the router dropped lb2 after $(cl_route_changed_ms "$t0" "$(cl_lb_addr 1) $(cl_lb_addr 3)") ms: its hold timer (3 s) ran out"
say "(with BFD, commented in examples/bird/*.conf, that is 300 ms)"
t0=$(ms)
cl_exec lb2 ip link set dev "$CL_DEV" up
cl_wait_nexthops 15 "$ALL3" || fail "lb2 did not come back"
say "lb2's link back: session up again and its route on the router after $(cl_route_changed_ms "$t0" "$ALL3") ms"
ip -n "$(cl_ns router)" route show "$VIP4/32" | sed 's/^/     /'
