#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_cluster.sh - three inferlb balancer hosts behind a BGP router with
# ECMP (tests/e2e/cluster_topo.sh: BIRD 2 on the router and on each host,
# running the shipped examples/bird configs), three backends behind
# xdp_decap (IPIP, direct return), a client behind the router. Every host
# has the same static configuration (VIP, backends, weights, hash seed),
# so their Maglev tables are identical and a flow that ECMP moves to
# another host keeps its backend.
#   1. all 3 hosts carry new flows: 600 connections from the client (one
#      source port each); the per-host new-flow counters fit 1:1:1
#      (chi-square, p > 0.001), and so do the backends';
#   3. one host stops the way a drain does (its VIP route removed, then its
#      datapath unloaded) under 60 long streams: the router's route loses
#      that next hop within 3 s, the other hosts pick the moved flows up,
#      and none of the 60 streams breaks;
#   4. the host comes back (datapath first, then the route) under 60 new
#      streams: the router's route has it again, ECMP moves some running
#      flows to it (it counts them), and none breaks;
#   then, times measured and printed: a host cut off (its link down: no
#   withdraw, no FIN) is dropped by the router when the hold timer runs
#   out; its link back up, its session and route come back; the same cut
#   with BFD on (the configs' commented BFD lines, 100 ms x 3).
# The etcd helper is started and checked (put/get) for the cluster-mode
# tests that will use it. Placeholders (TODO-merge) mark tests 2, 5, 6, 7,
# which need lb-agent's cluster mode and second chance.
# Prints the failover time (route removed -> router next hop gone) and the
# convergence times. Every wait is bounded; everything is removed on exit.
# Usage: tests/test_cluster.sh BUILD_DIR
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
export CL_BUILD=$build
export E2E_BIN=$build/tools/e2e
export CL_PREFIX=clt
# shellcheck source=tests/e2e/cluster_topo.sh
. "$root/tests/e2e/cluster_topo.sh"
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"

STREAMS=60
CONNS=600
SPID=
FAILS=0
PASSES=0
t_start=$(date +%s)

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$SPID" ]; then
		kill -9 "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
	fi
	cl_destroy
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
die() { bad "$*"; echo "test_cluster: $PASSES passed, $FAILS failed"; exit 1; }

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi

ALL3="$(cl_lb_addr 1) $(cl_lb_addr 2) $(cl_lb_addr 3)"
URL=http://$VIP4:$PORT/

# new_flows I: host I's new-flow counter for the VIP (0 with no datapath)
new_flows() {
	cl_lbctl "$1" -j stats 2>/dev/null | python3 -c '
import json, sys
try:
    print(sum(v["new_flows"] for v in json.load(sys.stdin)["vips"]))
except Exception:
    print(0)'
}
# flows_all: "N1 N2 N3", every host's new-flow counter
flows_all() { echo "$(new_flows 1) $(new_flows 2) $(new_flows 3)"; }
# delta "A1 A2 A3" "B1 B2 B3": "B1-A1 B2-A2 B3-A3"
delta() {
	local -a a b
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	echo "$((b[0] - a[0])) $((b[1] - a[1])) $((b[2] - a[2]))"
}
sum3() { local -a a; read -r -a a <<<"$1"; echo $((a[0] + a[1] + a[2])); }

# streams_start: $STREAMS streams of ~15 s (300 kB in 1000-byte chunks
# every 50 ms) through the VIP, in the background; output in $1
streams_start() {
	cl_exec client timeout 60 "$E2E_BIN/conns" --stream --url "$URL" \
		--streams "$STREAMS" --bytes 300000 --chunk 1000 --interval-ms 50 \
		--timeout-ms 5000 >"$1" 2>&1 &
	SPID=$!
}
# streams_end FILE: waits for them; sets OKS and BROKEN
streams_end() {
	wait "$SPID"
	SPID=
	OKS=$(grep -c '^stream .* ok$' "$1")
	BROKEN=$((STREAMS - OKS))
}
# bfd_up: the router's BFD sessions with the 3 hosts are Up
bfd_up() { [ "$(cl_birdc router show bfd sessions 2>/dev/null | grep -c ' Up ')" = 3 ]; }
# started_since "N1 N2 N3" K: the hosts counted at least K new flows since
started_since() { [ "$(sum3 "$(delta "$1" "$(flows_all)")")" -ge "$2" ]; }

echo "== topology: client, router (BIRD, ECMP), lb1..lb3 (BIRD, inferlb), b1..b3"
cl_create 3 && cl_start_backends --quiet || die "topology"
cl_bird_start_all || die "BIRD"
t0=$(ms)
wait_for 20 cl_bgp_up || die "BGP sessions not up: $(cl_birdc router show protocols)"
echo "     BGP sessions router <-> lb1..lb3 established after $(($(ms) - t0)) ms"
for i in 1 2 3; do
	cl_host_start "$i" || die "host lb$i"
done
t0=$(ms)
cl_wait_nexthops 10 "$ALL3" ||
	die "the router's route is not over 3 hosts: '$(cl_router_nexthops)'"
ok "the router's route for $VIP4 has the 3 hosts as next hops ($(($(ms) - t0)) ms after the last route went in):"
ip -n "$(cl_ns router)" route show "$VIP4/32" | sed 's/^/     /'
for i in 1 2 3; do
	echo "     lb$i announces: $(cl_birdc "lb$i" show route table inferlb4 |
		grep -o '^[0-9./]* *blackhole.*' | tr -s ' ')"
done

echo "== etcd helper (for the cluster-mode tests)"
if cl_etcd_start &&
	[ "$(ETCDCTL_API=3 cl_exec lb1 timeout 5 "$CL_ETCDCTL" --endpoints "$(cl_etcd_url)" \
		put /inferlb/test ok 2>&1)" = OK ] &&
	[ "$(ETCDCTL_API=3 cl_exec lb2 timeout 5 "$CL_ETCDCTL" --endpoints "$(cl_etcd_url)" \
		get --print-value-only /inferlb/test 2>&1)" = ok ]; then
	ok "etcd at $(cl_etcd_url): lb1 wrote a key, lb2 read it"
else
	bad "etcd helper: $(tail -3 "$CL_DIR/etcd.log" 2>/dev/null)"
fi

echo "== 1. every host carries new flows (ECMP, L4 hash)"
f0=$(flows_all)
out=$(cl_exec client timeout 120 "$E2E_BIN/conns" --url "$URL" --count "$CONNS" \
	--parallel 8 --expect b1=1,b2=1,b3=1)
rc=$?
d=$(delta "$f0" "$(flows_all)")
read -r chi2 p < <(python3 -c '
import math, sys
n = [int(x) for x in sys.argv[1].split()]
e = sum(n) / 3
x = sum((k - e) ** 2 / e for k in n) if e else float("inf")
print("%.3f %.6g" % (x, math.exp(-x / 2)))' "$d")	# df 2: p = e^(-chi2/2)
if [ "$(sum3 "$d")" -ge "$CONNS" ] && python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > 0.001)' "$p"; then
	ok "$CONNS connections: new flows per host $d (chi2 $chi2 df 2 p $p)"
else
	bad "spread over hosts: new flows per host $d for $CONNS connections (chi2 $chi2 p $p)"
fi
[ $rc = 0 ] && ok "backends: $(echo "$out" | tr '\n' ' ')" ||
	bad "backends: $(echo "$out" | tr '\n' ' ')"

# TODO-merge (2): with lb-agent in cluster mode on lb1..lb3 (cl_etcd_start
# above), a new decision (a weight change on the leader) reaches every
# host: `lbctl -j show` has the same table_digest for the VIP on all three
# within 1 s.

cl_monitor_start
echo "== 3. a host stops (route withdrawn, then datapath unloaded) under $STREAMS streams"
f0=$(flows_all)
streams_start "$CL_DIR/streams3.out"
wait_for 10 started_since "$f0" "$STREAMS" || bad "the $STREAMS streams did not all start"
sleep 1
on3=$(delta "$f0" "$(flows_all)" | awk '{ print $3 }')
f1=$(flows_all)
t0=$(ms)
cl_vip_withdraw 3
if cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 2)"; then
	failover=$(($(ms) - t0))
	failover_k=$(cl_route_changed_ms "$t0" "$(cl_lb_addr 1) $(cl_lb_addr 2)")
else
	failover=
fi
cl_host_stop 3 unload	# its route is gone already: unloads the datapath
if [ -n "$failover" ] && [ "$failover" -le 3000 ]; then
	ok "lb3's route removed: the router's next hop via lb3 gone after ${failover_k:-?} ms (its kernel route changed; seen by polling after $failover ms) (failover)"
else
	bad "the router still routes via lb3 ($(cl_router_nexthops)) ${failover:+after $failover ms}"
fi
streams_end "$CL_DIR/streams3.out"
moved=$(delta "$f1" "$(flows_all)")
[ "$on3" -ge 1 ] && [ "$BROKEN" = 0 ] &&
	ok "$OKS of $STREAMS streams intact, $on3 of them had come in through lb3; flows lb1, lb2 took over since: $(echo "$moved" | awk '{ print $1 ", " $2 }')" ||
	bad "$BROKEN of $STREAMS streams broken ($on3 through lb3): $(grep -v ' ok$' "$CL_DIR/streams3.out" | head -5 | tr '\n' ' ')"

echo "== 4. the host comes back (datapath first, then the route) under $STREAMS streams"
f0=$(flows_all)
streams_start "$CL_DIR/streams4.out"
wait_for 10 started_since "$f0" "$STREAMS" || bad "the $STREAMS streams did not all start"
sleep 1
cl_host_up 3 || bad "lb3 datapath and configuration"
t0=$(ms)
cl_vip_announce 3
if cl_wait_nexthops 10 "$ALL3"; then
	conv=$(($(ms) - t0))
	conv_k=$(cl_route_changed_ms "$t0" "$ALL3")
	ok "lb3's route back: the router's route has 3 next hops again after ${conv_k:-?} ms (polled: $conv ms) (convergence)"
else
	bad "the router's route did not get lb3 back: '$(cl_router_nexthops)'"
fi
streams_end "$CL_DIR/streams4.out"
took=$(new_flows 3)
[ "$took" -ge 1 ] && [ "$BROKEN" = 0 ] &&
	ok "$OKS of $STREAMS streams intact; ECMP moved $took running flows to lb3 (no SYN: its Maglev table chose the same backend)" ||
	bad "$BROKEN of $STREAMS streams broken, lb3 took $took flows: $(grep -v ' ok$' "$CL_DIR/streams4.out" | head -5 | tr '\n' ' ')"

# TODO-merge (5): lb-agent cluster mode: SIGKILL the leader's agent under
# streams; another host becomes leader, decisions go on, 0 streams broken.
# TODO-merge (6): cl_etcd_stop for 10 s, then cl_etcd_start under streams:
# every host keeps its last tables (and its routes), 0 streams broken, and
# decisions resume once etcd is back.
# TODO-merge (7): during the stop of test 3, weights change every 200 ms on
# the leader; report the broken count with second chance on (two IPIP hops,
# xdp_decap forwarding) and off.

echo "== lb2 cut off (its link down: no withdraw, no FIN; the router's hold timer, 3 s)"
t0=$(ms)
cl_exec lb2 ip link set dev "$CL_DEV" down
if cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 3)"; then
	hold=$(cl_route_changed_ms "$t0" "$(cl_lb_addr 1) $(cl_lb_addr 3)")
	ok "the router dropped lb2's next hop ${hold:-?} ms after lb2 went silent (polled: $(($(ms) - t0)) ms; hold time 3 s)"
else
	bad "the router kept lb2's next hop: '$(cl_router_nexthops)'"
fi
t0=$(ms)
cl_exec lb2 ip link set dev "$CL_DEV" up
if cl_wait_nexthops 15 "$ALL3"; then
	back=$(cl_route_changed_ms "$t0" "$ALL3")
	ok "lb2's link up again: its session and route back on the router after ${back:-?} ms (polled: $(($(ms) - t0)) ms)"
else
	bad "lb2's route did not come back: '$(cl_router_nexthops)'"
fi

echo "== the same with BFD (the configs' commented BFD lines on: 100 ms x 3)"
for n in router lb1 lb2 lb3; do cl_bird_stop "$n"; done
export CL_BFD=1
if cl_bird_start_all && wait_for 20 cl_bgp_up && cl_wait_nexthops 10 "$ALL3" &&
	wait_for 5 bfd_up; then
	t0=$(ms)
	cl_exec lb2 ip link set dev "$CL_DEV" down
	if cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 3)"; then
		bfd=$(cl_route_changed_ms "$t0" "$(cl_lb_addr 1) $(cl_lb_addr 3)")
		ok "with BFD the router dropped lb2's next hop ${bfd:-?} ms after lb2 went silent"
	else
		bad "with BFD the router kept lb2's next hop: '$(cl_router_nexthops)'"
	fi
	cl_exec lb2 ip link set dev "$CL_DEV" up
	cl_wait_nexthops 15 "$ALL3" || bad "lb2 not back after its link came up (BFD)"
else
	bad "BIRD with BFD: $(cl_birdc router show protocols; cl_birdc router show bfd sessions)"
fi

echo "== figures (the router's kernel route changes, ip -ts monitor):" \
	"failover (route removed -> next hop gone) ${failover_k:-?} ms;" \
	"convergence (route added -> next hop there) ${conv_k:-?} ms;" \
	"host cut off (link down -> next hop gone, hold timer) ${hold:-?} ms;" \
	"link back -> next hop back ${back:-?} ms;" \
	"host cut off with BFD -> next hop gone ${bfd:-?} ms"
echo "test_cluster: $PASSES passed, $FAILS failed ($(($(date +%s) - t_start)) s)"
[ "$FAILS" = 0 ]
