#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# demo-cluster.sh - `make demo-cluster`: three inferlb balancer hosts
# behind a BGP router that spreads flows over them (ECMP), on one machine,
# in network namespaces (tests/e2e/cluster_topo.sh): a client, the router
# (BIRD 2, examples/bird/router-ecmp.conf), lb1..lb3 (inferlb, lb-agent in
# cluster mode, BIRD 2 with examples/bird/inferlb-host.conf), etcd, three
# backends (httpd behind xdp_decap answering the client directly, and a
# simulated GPU worker, gpusim, that the agents poll). It shows, step by step:
#   1. the agents elect a leader through etcd; the leader's decision is in
#      etcd, every host applies it (the same generation and table digest)
#      and then announces the VIP (a route in table 4242, proto 242, which
#      its BIRD exports); the router's ECMP route over the three;
#   2. the spread: 600 connections, new flows per host and per backend;
#   3. a new decision: worker b2 turns unhealthy, every host follows;
#   4. under 60 streams of ~40 s, lb3 leaves the way a drain does (its
#      agent's SIGTERM withdraws the route, lbctl detach --drain waits for
#      the traffic to move), then comes back (attach, agent: it announces
#      once it applied the cluster's decision); then the leader's agent is
#      killed and another host takes over; a line per second shows the
#      router's next hops, each host's role and flow counter; at the end
#      every stream is checked byte by byte;
#   5. lb2 cut off without a word (its link down): the router notices when
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

# role I: "L" for the leader, "f" for a follower, "-" with no agent
role() {
	case "$(cl_agent_show "$1" | awk '{ print $1 }')" in
	leader) echo L ;; follower) echo f ;; *) echo - ;;
	esac
}
# hosts_line: the router's next hops (as host names), each host's role
# (L leader, f follower, - no agent) and new flows
hosts_line() {
	local hops h names=""
	hops=$(cl_router_nexthops)
	for h in $hops; do
		names="$names lb$((${h##*.} - 1))"
	done
	printf 'router ECMP ->%-13s | lb1 %s %4s  lb2 %s %4s  lb3 %s %4s | open streams %s\n' \
		"${names:- (none)}" "$(role 1)" "$(cl_new_flows 1 -)" "$(role 2)" "$(cl_new_flows 2 -)" \
		"$(role 3)" "$(cl_new_flows 3 -)" \
		"$(cl_exec client ss -Htn state established dst "$VIP4" | wc -l)"
}
# cluster_table: per host its role, etcd, decision generation, the VIP's
# table digest and whether it announces the VIP
cluster_table() {
	local i r e g d
	for i in 1 2 3; do
		read -r r e g d _ < <(cl_agent_show "$i")
		say "  lb$i  $(printf '%-8s etcd %-4s generation %-4s table_digest %-16s' "$r" "$e" "$g" "$d")  route: $(cl_exec "lb$i" ip route show table "$CL_TABLE" proto "$CL_PROTO" | grep -q . && echo announced || echo none)"
	done
}
# tick SECONDS: a hosts_line about every second for SECONDS
tick() {
	local end=$(($(ms) + $1 * 1000))
	while [ "$(ms)" -lt "$end" ]; do
		say "$(date +%T)  $(hosts_line)"
		sleep 0.5
	done
}
step "building the network: client -> router -> lb1 lb2 lb3 -> b1 b2 b3 (namespaces), etcd"
cl_create 3 && cl_start_backends --quiet && cl_start_workers || fail "topology"
say "client $CLIENT4 | router $ROUTER_CL4 / $ROUTER4 | lb1..lb3 $(cl_lb_addr 1)..$(cl_lb_addr 3) | b1..b3 ${CL_BACKEND4[1]}..${CL_BACKEND4[3]} | etcd $ETCD4 | VIP $VIP4:$PORT"
say "the backends run xdp_decap (IPIP) and answer the client directly through the router;"
say "each also runs a simulated GPU worker (gpusim :$CL_WORKER_PORT) whose metrics and health lb-agent polls"
cl_bird_start_all || fail "BIRD"
cl_etcd_start || fail "etcd"
wait_for 20 cl_bgp_up || fail "BGP sessions: $(cl_birdc router show protocols)"
say "BIRD on the router and on each host; the router's BGP sessions (hold 3 s, keepalive 1 s):"
cl_birdc router show protocols | grep -E '^lb[0-9]' | sed 's/^/     /'

step "1. each host attaches inferlb and starts lb-agent in cluster mode (etcd, lease 3 s, announce on)"
for i in 1 2 3; do
	cl_agent_start "$i" attach || fail "host lb$i"
done
say "every agent has the same config (VIP, backends); one wins the etcd election and decides,"
say "every host applies the decision from etcd, then announces the VIP:"
cl_wait_nexthops 20 "$ALL3" || fail "the router's route: '$(cl_router_nexthops)'"
cluster_table
for i in 1 2 3; do
	say "lb$i kernel: $(cl_exec "lb$i" ip route show table "$CL_TABLE" | tr -s ' ')  -> its BIRD announces: $(cl_birdc "lb$i" show route table inferlb4 | grep -o '^[0-9./]*  *blackhole' | tr -s ' ')"
done
say "the router's kernel route for the VIP (BIRD merged the 3 BGP paths, L4 hash policy):"
ip -n "$(cl_ns router)" route show "$VIP4/32" | sed 's/^/     /'
say "same decision, backends and hash seed on every host: the same Maglev table (equal digests)"

step "2. the spread: 600 new connections from the client, one source port each"
f0="$(cl_new_flows 1 -) $(cl_new_flows 2 -) $(cl_new_flows 3 -)"
out=$(cl_exec client timeout 120 "$E2E_BIN/conns" --url "$URL" --count 600 \
	--parallel 8 --expect b1=1,b2=1,b3=1)
f1="$(cl_new_flows 1 -) $(cl_new_flows 2 -) $(cl_new_flows 3 -)"
python3 -c '
import sys
a = [int(x) for x in sys.argv[1].split()]; b = [int(x) for x in sys.argv[2].split()]
print("   new flows per host (the router hashed them): " +
      "  ".join("lb%d %d" % (i + 1, b[i] - a[i]) for i in range(3)))' "$f0" "$f1"
say "per backend (whichever host took the connection): $(echo "$out" | tr '\n' ' ')"

step "3. a new decision: worker b2 turns unhealthy (gpusim fault 503)"
cl_worker_fault 2 503
sleep 1.5
say "the leader saw b2 fail, wrote a new decision to etcd; every host applied it:"
cluster_table
cl_worker_fault 2 none
sleep 1.5
say "b2 healthy again, the next decision:"
cluster_table

step "4. $STREAMS streams of ~40 s each; lb3 leaves (drain) and comes back, then the leader dies"
cl_monitor_start
cl_exec client timeout 90 "$E2E_BIN/conns" --stream --url "$URL" \
	--streams "$STREAMS" --bytes 800000 --chunk 1000 --interval-ms 50 \
	--timeout-ms 5000 >"$CL_DIR/streams.out" 2>&1 &
SPID=$!
tick 3
say ">>> lb3's agent gets SIGTERM: it withdraws the VIP route, then exits"
t0=$(ms)
cl_agent_stop 3 TERM
cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 2)" || fail "the router kept lb3"
say ">>> the router's route lost lb3 after $(cl_route_changed_ms "$t0" "$(cl_lb_addr 1) $(cl_lb_addr 2)") ms; lbctl detach eth0 --drain: no VIP packet any more -> detach, unload"
cl_host_stop 3 unload
say "    lb1 and lb2 pick lb3's running flows up: not in their flow tables, their"
say "    Maglev tables (the same decision) send each to the backend it already had"
tick 4
say ">>> lb3 attaches inferlb again and starts its agent: it applies the decision, then announces"
t0=$(ms)
cl_agent_start 3 attach || fail "lb3 again"
cl_wait_nexthops 15 "$ALL3" || fail "the router did not take lb3 back"
say ">>> the router's route has lb3 again after $(cl_route_changed_ms "$t0" "$ALL3") ms; ECMP moves some running flows to it"
tick 4
old=$(for i in 1 2 3; do [ "$(role "$i")" = L ] && echo "$i"; done)
say ">>> the leader lb$old's agent is killed (SIGKILL: its lease expires within 3 s)"
t0=$(ms)
cl_agent_stop "$old" KILL
new=
for ((k = 0; k < 200 && ${#new} == 0; k++)); do
	new=$(for i in 1 2 3; do [ "$i" != "$old" ] && [ "$(role "$i")" = L ] && echo "$i"; done)
	[ -n "$new" ] || sleep 0.05
done
say ">>> ${new:+lb$new leads after $(($(ms) - t0)) ms; }lb$old's datapath forwards on its last table meanwhile:"
cluster_table
cl_agent_start "$old" || fail "lb$old's agent again"
tick 3
say "waiting for the streams to end..."
wait "$SPID"
SPID=
oks=$(grep -c '^stream .* ok$' "$CL_DIR/streams.out")
say "streams: $oks of $STREAMS complete and intact (every byte checked), $((STREAMS - oks)) broken"
say "$(hosts_line)"
cluster_table

step "5. lb2 cut off without a word (its link down: no BGP withdraw, no TCP FIN)"
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
