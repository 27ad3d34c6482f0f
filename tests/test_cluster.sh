#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_cluster.sh - three inferlb balancer hosts behind a BGP router with
# ECMP (tests/e2e/cluster_topo.sh: BIRD 2 on the router and on each host,
# running the shipped examples/bird configs), three backends behind
# xdp_decap (IPIP, direct return; httpd serves the VIP, a gpusim beside it
# is the worker lb-agent polls), a client behind the router, etcd. Each
# host runs lb-agent in cluster mode (one leader through an etcd lease, one
# decision in etcd that every host applies, so their Maglev tables are
# identical and a flow that ECMP moves to another host keeps its backend)
# with its announce: section on (the VIP route in table 4242 / proto 242,
# which the host's BIRD exports, only while the datapath and the decision
# are there).
#   1. all 3 hosts carry new flows: 600 connections from the client (one
#      source port each); the per-host new-flow counters fit 1:1:1
#      (chi-square, p > 1e-5: at 0.001, the two tests of a run fail by
#      chance in 1 run of 500), and so do the backends';
#   2. a new decision (a worker turns unhealthy, then healthy again): every
#      host shows the same table_digest (lbctl -j show) within 1 s of the
#      first host, as sampled on the 3 at once or as their maps' changed_ns
#      say (each measure has an error of its own; see the test);
#   3. one host stops the way a drain does (its agent's SIGTERM withdraws
#      the route, then lbctl detach --drain, then unload) under 60 long
#      streams: the router loses that next hop within 3 s, the others pick
#      the moved flows up, and
#   4. the host comes back (attach, agent: it announces once it applied
#      the cluster's decision) under the same streams: ECMP moves some to
#      it; none of the 60 streams breaks over 3 and 4;
#   5. the leader's agent SIGKILLed under 60 streams: another host wins
#      the election within the lease TTL + 1 s (its log's time), the
#      digests of all 3 hosts never differ (sampled through the
#      takeover), no stream breaks;
#   6. etcd stopped (SIGSTOP) for 10 s under 60 streams while a worker
#      turns unhealthy: the router keeps its 3 next hops (sampled), no host
#      changes its table, lbctl show says etcd UNREACHABLE on every host,
#      no stream breaks; etcd back: every host applies the change (equal
#      digests, new) within 15 s;
#   7. with second chance (lbctl vip set --second-chance on, when this
#      build has it): test 3's host stop under 60 streams while b1's weight
#      flips between 1 and 3 every 200 ms on every host (lbctl set-weight):
#      0 broken; the same with --second-chance off: the count is printed;
#   8. the agents' config switched to policy expected-wait (a load-aware
#      choice by each host's own counts): lb3 stops under 60 streams; with
#      second chance and pair choice (the choice is between the flow's two
#      hashed candidates, the other attached on a miss) 4x fewer broken
#      than with second chance off (0 in 10 runs, 2 and 3 in two);
#   then, times measured and printed: a host cut off (its link down: no
#   withdraw, no FIN) is dropped by the router when the hold timer runs
#   out; its link back up, its session and route come back; the same cut
#   with BFD on (the configs' commented BFD lines, 100 ms x 3) when
#   CL_TEST_BFD=1.
# Prints the failover time (agent stopped -> router next hop gone), the
# convergence times (decision -> equal digests; host back -> route back;
# etcd back -> equal digests) and the leader takeover time. Every wait is
# bounded; everything is removed on exit.
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
CPID=
FAILS=0
PASSES=0
t_start=$(date +%s)

cleanup() {
	trap - EXIT INT TERM
	local p
	for p in "$SPID" "$CPID"; do
		[ -n "$p" ] || continue
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$FAILS" != 0 ] && [ -n "$CL_DIR" ]; then
		for p in 1 2 3; do
			echo "---- lb$p agent log (last 15 lines)"
			tail -15 "$CL_DIR/agent-lb$p.log" 2>/dev/null
		done
		# again at the end, where a log that keeps only its tail shows it
		echo "---- test_cluster: $FAILS failed:$FAILED_LINES"
	fi
	cl_destroy
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
FAILED_LINES=
bad() {
	FAILS=$((FAILS + 1))
	echo "FAIL - $*"
	FAILED_LINES="$FAILED_LINES
FAIL - $*"
}
die() { bad "$*"; echo "test_cluster: $PASSES passed, $FAILS failed"; exit 1; }

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi

ALL3="$(cl_lb_addr 1) $(cl_lb_addr 2) $(cl_lb_addr 3)"
URL=http://$VIP4:$PORT/
VIPP=$VIP4:$PORT/tcp

# delta "A1 A2 A3" "B1 B2 B3": "B1-A1 B2-A2 B3-A3"
delta() {
	local -a a b
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	echo "$((b[0] - a[0])) $((b[1] - a[1])) $((b[2] - a[2]))"
}
sum3() { local -a a; read -r -a a <<<"$1"; echo $((a[0] + a[1] + a[2])); }

# streams_start SECONDS FILE: $STREAMS streams of ~SECONDS (1000-byte
# chunks every 50 ms) through the VIP, in the background
streams_start() {
	cl_exec client timeout 90 "$E2E_BIN/conns" --stream --url "$URL" \
		--streams "$STREAMS" --bytes $(($1 * 20000)) --chunk 1000 --interval-ms 50 \
		--timeout-ms 5000 >"$2" 2>&1 &
	SPID=$!
}
# streams_end FILE: waits for them; sets OKS and BROKEN
streams_end() {
	wait "$SPID"
	SPID=
	OKS=$(grep -c '^stream .* ok$' "$1")
	BROKEN=$((STREAMS - OKS))
}
# streams_running SECONDS FILE: streams_start, then until they all started
streams_running() {
	local f0
	f0=$(cl_flows_all)
	streams_start "$1" "$2"
	wait_for 10 started_since "$f0" "$STREAMS" || bad "the $STREAMS streams did not all start"
}
broken_lines() { grep -v ' ok$' "$1" | head -5 | tr '\n' ' '; }
# uptime_ms: now, in ms since boot (the clock of lb-agent's log lines)
uptime_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# won_ms I SINCE: when host I's agent logged winning the election at or
# after SINCE (ms since boot); nothing when it did not
won_ms() {
	awk -F'[][]' -v since="$2" '/: leader \(won the election\)/ {
			t = $2 * 1000; if (t >= since && w == "") w = t }
		END { if (w != "") printf "%d\n", w }' "$CL_DIR/agent-lb$1.log"
}

# bfd_up: the router's BFD sessions with the 3 hosts are Up
bfd_up() { [ "$(cl_birdc router show bfd sessions 2>/dev/null | grep -c ' Up ')" = 3 ]; }
# started_since "N1 N2 N3" K: the hosts counted at least K new flows since
started_since() { [ "$(sum3 "$(delta "$1" "$(cl_flows_all)")")" -ge "$2" ]; }

# show_all: sets ROLE[I], ETCD[I], GEN[I], DIG[I] for each host
declare -A ROLE=() ETCD=() GEN=() DIG=()
# The 3 hosts at once: one `lbctl -j show` waits for the agent's lock
# (held while it recounts open flows) and takes up to ~0.5 s here.
show_all() {
	local i
	local -a pid
	for i in 1 2 3; do
		cl_agent_show "$i" >"$CL_DIR/show.$i" &
		pid[i]=$!
	done
	for i in 1 2 3; do
		wait "${pid[i]}" 2>/dev/null
		read -r "ROLE[$i]" "ETCD[$i]" "GEN[$i]" "DIG[$i]" "CHG[$i]" <"$CL_DIR/show.$i"
	done
}
# digests: "D1 D2 D3"
digests() { show_all; echo "${DIG[1]} ${DIG[2]} ${DIG[3]}"; }
# equal_digests [NOT]: the 3 hosts show one digest (other than NOT)
# shellcheck disable=SC2120 # NOT is passed through wait_for
equal_digests() {
	show_all
	[ "${DIG[1]}" != - ] && [ "${DIG[1]}" = "${DIG[2]}" ] &&
		[ "${DIG[2]}" = "${DIG[3]}" ] && [ "${DIG[1]}" != "${1:-}" ]
}
# leaders_of: the hosts that say they lead, from the last show_all
leaders_of() {
	local i l=""
	for i in 1 2 3; do
		[ "${ROLE[$i]:-}" = leader ] && l="$l $i"
	done
	echo "${l# }"
}
# leader: the host that leads now ("" for none; "2 3" for two)
leader() { show_all; leaders_of; }
# converged: one leader, etcd up everywhere, equal digests
converged() {
	equal_digests && [ "$(leaders_of | wc -w)" = 1 ] &&
		[ "${ETCD[1]}${ETCD[2]}${ETCD[3]}" = upupup ]
}
# decision_ms NOT: polls every host until they all show one digest other
# than NOT (15 s at most); prints "MS_FIRST SPREAD DIGEST T1 T2 T3 MS_ALL
# CHG_LO": when the first host was seen with a new digest, how far apart
# (ms) the hosts' maps took their last change from a decision, the digest,
# when each host was seen changed, when all were seen equal (ms since the
# call), and the earliest of those changes (ms since boot); nothing on
# timeout
decision_ms() {
	local t0 end first="" i n lo hi
	local -a at=(0 - - -)
	t0=$(ms)
	end=$((t0 + 15000))
	while [ "$(ms)" -lt "$end" ]; do
		show_all
		n=0
		for i in 1 2 3; do
			if [ "${DIG[$i]}" != "$1" ] && [ "${DIG[$i]}" != - ]; then
				n=$((n + 1))
				[ "${at[i]}" = - ] && at[i]=$(($(ms) - t0))
			fi
		done
		[ "$n" -ge 1 ] && [ -z "$first" ] && first=$(($(ms) - t0))
		if [ "$n" = 3 ] && [ "${DIG[1]}" = "${DIG[2]}" ] && [ "${DIG[2]}" = "${DIG[3]}" ] &&
			[ "${CHG[1]}" != - ] && [ "${CHG[2]}" != - ] && [ "${CHG[3]}" != - ]; then
			# when each host's maps last took a change from a
			# decision (boot clock, the same on every host here):
			# sampling hosts a moment apart cannot blur it, and a
			# change made of several decisions (slow start) counts
			# from its last step
			lo=${CHG[1]} hi=${CHG[1]}
			for i in 2 3; do
				[ "${CHG[i]}" -lt "$lo" ] && lo=${CHG[i]}
				[ "${CHG[i]}" -gt "$hi" ] && hi=${CHG[i]}
			done
			echo "$first $(((hi - lo) / 1000000)) ${DIG[1]} ${at[1]} ${at[2]} ${at[3]} $(($(ms) - t0)) $((lo / 1000000))"
			return 0
		fi
		sleep 0.02
	done
	return 1
}

echo "== topology: client, router (BIRD, ECMP), lb1..lb3 (BIRD, inferlb, lb-agent), b1..b3, etcd"
cl_create 3 && cl_start_backends --quiet && cl_start_workers || die "topology"
cl_bird_start_all || die "BIRD"
cl_etcd_start || die "etcd: $(tail -3 "$CL_DIR/etcd.log" 2>/dev/null)"
t0=$(ms)
wait_for 20 cl_bgp_up || die "BGP sessions not up: $(cl_birdc router show protocols)"
echo "     BGP sessions router <-> lb1..lb3 established after $(($(ms) - t0)) ms"
t0=$(ms)
for i in 1 2 3; do
	cl_agent_start "$i" attach || die "host lb$i"
done
cl_wait_nexthops 20 "$ALL3" ||
	die "the router's route is not over 3 hosts: '$(cl_router_nexthops)'"
ok "3 agents in cluster mode announced the VIP: the router's route for $VIP4 has the 3 hosts as next hops $(($(ms) - t0)) ms after they started:"
ip -n "$(cl_ns router)" route show "$VIP4/32" | sed 's/^/     /'
for i in 1 2 3; do
	echo "     lb$i announces: $(cl_birdc "lb$i" show route table inferlb4 |
		grep -o '^[0-9./]* *blackhole.*' | tr -s ' ')"
done
if wait_for 10 converged; then
	ok "one leader (lb$(leader)), etcd up, generation ${GEN[1]}, the same table_digest on every host: ${DIG[1]}"
else
	bad "no single leader with equal tables: $(for i in 1 2 3; do echo -n "lb$i: $(cl_agent_show $i); "; done)"
fi

echo "== 1. every host carries new flows (ECMP, L4 hash)"
f0=$(cl_flows_all)
# the backends' expected shares: the weights of the cluster's decision
expect=$(cl_lbctl 1 -j show | python3 -c '
import json, sys
bs = json.load(sys.stdin)["vips"][0]["backends"]
w = {b["address"]: b["weight"] for b in bs}
print(",".join("b%d=%d" % (j, w[a]) for j, a in enumerate(sys.argv[1:], 1)))' \
	"${CL_BACKEND4[1]}" "${CL_BACKEND4[2]}" "${CL_BACKEND4[3]}")
out=$(cl_exec client timeout 120 "$E2E_BIN/conns" --url "$URL" --count "$CONNS" \
	--parallel 8 --expect "$expect" --alpha 1e-5)
rc=$?
d=$(delta "$f0" "$(cl_flows_all)")
read -r chi2 p < <(python3 -c '
import math, sys
n = [int(x) for x in sys.argv[1].split()]
e = sum(n) / 3
x = sum((k - e) ** 2 / e for k in n) if e else float("inf")
print("%.3f %.6g" % (x, math.exp(-x / 2)))' "$d")	# df 2: p = e^(-chi2/2)
if [ "$(sum3 "$d")" -ge "$CONNS" ] && python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > 1e-5)' "$p"; then
	ok "$CONNS connections: new flows per host $d (chi2 $chi2 df 2 p $p)"
else
	bad "spread over hosts: new flows per host $d for $CONNS connections (chi2 $chi2 p $p)"
fi
[ $rc = 0 ] && ok "backends (weights $expect): $(echo "$out" | tr '\n' ' ')" ||
	bad "backends: $(echo "$out" | tr '\n' ' ')"

echo "== 2. a new decision reaches every host (equal table_digest within 1 s)"
conv_list=""
d0=$(digests | awk '{ print $1 }')
for step in "2 503" "2 none"; do
	read -r w mode <<<"$step"
	t0=$(ms)
	fault_up=$(uptime_ms)
	cl_worker_fault "$w" "$mode"
	if r=$(decision_ms "$d0"); then
		read -r first conv d1 t1 t2 t3 all chg_lo <<<"$r"
		# sampled together: when each host was first seen with a
		# changed digest; changed_ns: when each host's maps last took
		# a change from a decision (their spread is printed; in one
		# run of many it disagreed with the sightings, 7.5 s, which
		# is not explained yet)
		lo=$t1 hi=$t1
		for t in "$t2" "$t3"; do
			[ "$t" -lt "$lo" ] && lo=$t
			[ "$t" -gt "$hi" ] && hi=$t
		done
		seen=$((hi - lo))
		conv_list="$conv_list $seen/$conv"
		# Two measures of one property, each with its own error: a
		# sighting is late by up to a sampling round when one host's
		# lbctl show waits for its agent's lock (930 ms once in CI,
		# with changed_ns 142 ms apart); changed_ns was once stale
		# (above). The hosts disagree beyond 1 s only when both say so.
		# changed_ns counts only when every host's is this fault's
		if [ "$seen" -le 1000 ] || { [ "$conv" -le 1000 ] && [ "$chg_lo" -ge "$fault_up" ]; }; then
			ok "worker b$w fault $mode: the 3 hosts' digests changed within $seen ms of each other as sampled (lb1..lb3 first seen changed at $t1, $t2, $t3 ms), their maps within $conv ms (changed_ns), all the same ($d1) at $all ms"
		else
			bad "worker b$w fault $mode: the hosts' digests changed $seen ms apart as sampled and $conv ms apart by changed_ns (want either <= 1000; lb1..lb3 first seen changed at $t1, $t2, $t3 ms)"
		fi
		d0=$d1
	else
		bad "worker b$w fault $mode: no common new digest in 15 s: $(digests)"
	fi
done

echo "== 3, 4. under $STREAMS streams: lb3 stops (agent SIGTERM, detach --drain, unload), then comes back"
cl_monitor_start
f0=$(cl_flows_all)
streams_running 15 "$CL_DIR/streams34.out"
sleep 1
on3=$(delta "$f0" "$(cl_flows_all)" | awk '{ print $3 }')
f1=$(cl_flows_all)
t0=$(ms)
cl_agent_stop 3 TERM	# it withdraws its routes, then exits
failover=
failover_k=
if cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 2)"; then
	failover=$(($(ms) - t0))
	failover_k=$(cl_route_changed_ms "$t0" "$(cl_lb_addr 1) $(cl_lb_addr 2)")
fi
cl_host_stop 3 unload	# detach --drain: waits until no VIP packet comes, then unload
if [ -n "$failover" ] && [ "$failover" -le 3000 ]; then
	ok "lb3's agent stopped: the router's next hop via lb3 gone after ${failover_k:-?} ms (its kernel route changed; seen by polling after $failover ms) (failover)"
else
	bad "the router still routes via lb3 ($(cl_router_nexthops)) ${failover:+after $failover ms}"
fi
grep -q . "$CL_DIR/drain-lb3.log" && echo "     lbctl detach --drain: $(tail -1 "$CL_DIR/drain-lb3.log")"
sleep 1
moved=$(delta "$f1" "$(cl_flows_all)")
t0=$(ms)
cl_agent_start 3 attach || bad "lb3's datapath and agent"
back=
if cl_wait_nexthops 15 "$ALL3"; then
	back=$(cl_route_changed_ms "$t0" "$ALL3")
	ok "lb3 attached, its agent started: it applied the cluster's decision and announced; the router's route has 3 next hops again after ${back:-?} ms (convergence)"
else
	bad "the router's route did not get lb3 back: '$(cl_router_nexthops)'"
fi
wait_for 5 equal_digests && ok "lb3's table_digest is the others' (${DIG[3]})" ||
	bad "lb3's table differs: $(digests)"
streams_end "$CL_DIR/streams34.out"
took=$(cl_new_flows 3)
[ "$on3" -ge 1 ] && [ "$took" -ge 1 ] && [ "$BROKEN" = 0 ] &&
	ok "$OKS of $STREAMS streams intact: $on3 had come in through lb3, lb1 and lb2 took flows over ($(echo "$moved" | awk '{ print $1 ", " $2 }')), ECMP moved $took running flows back to lb3 (no SYN: the same table, the same backend)" ||
	bad "$BROKEN of $STREAMS streams broken ($on3 through lb3, moved $moved, back $took): $(broken_lines "$CL_DIR/streams34.out")"

echo "== 5. the leader's agent SIGKILLed under $STREAMS streams (lease TTL $CL_LEASE_TTL s)"
streams_running 10 "$CL_DIR/streams5.out"
old=$(leader)
others=$(echo 1 2 3 | tr ' ' '\n' | grep -vx "$old" | paste -sd ' ' -)
dig0=$(digests)
diverged=0
samples=0
takeover=
t0=$(ms)
kill_up=$(uptime_ms)
cl_agent_stop "$old" KILL
while [ "$(($(ms) - t0))" -lt $(((CL_LEASE_TTL + 4) * 1000)) ]; do
	samples=$((samples + 1))
	equal_digests || diverged=$((diverged + 1))
	l=$(for i in $others; do [ "${ROLE[$i]}" = leader ] && echo "$i"; done)
	if [ "$(echo "$l" | wc -w)" = 1 ]; then
		takeover=$(($(ms) - t0))
		break
	fi
	sleep 0.05
done
if [ -n "$takeover" ]; then
	# the new leader's own log line says when it won (seconds since
	# boot, the clock of /proc/uptime): polling 3 hosts' lbctl show
	# adds up to ~1 s here, so the bound is checked on the log's time
	won=$(won_ms "$l" "$kill_up")
	takeover=$((${won:-0} - kill_up))
	# etcd expires the dead leader's lease a TTL after its last
	# keepalive (sent every TTL/3) and sweeps expired leases every
	# 500 ms; then the watch, and one txn
	if [ -n "$won" ] && [ "$takeover" -le $((CL_LEASE_TTL * 1000 + 1000)) ]; then
		ok "leader lb$old killed: lb$l won the election after $takeover ms (its log; seen by polling after $(($(ms) - t0)) ms; bound: TTL $CL_LEASE_TTL s + 1 s) (leader takeover)"
	else
		bad "leader lb$old killed: lb$l won after ${won:+$takeover ms}${won:-an unknown time (no log line)}, beyond TTL $CL_LEASE_TTL s + 1 s"
	fi
else
	bad "no new leader among lb${others// /, lb} within $((CL_LEASE_TTL + 4)) s"
fi
for ((k = 0; k < 20; k++)); do	# a second more of samples after the takeover
	samples=$((samples + 1))
	equal_digests || diverged=$((diverged + 1))
	sleep 0.05
done
[ "$diverged" = 0 ] && [ "$(digests)" = "$dig0" ] &&
	ok "the 3 hosts' digests never differed ($samples samples of each through the takeover, lb$old's datapath forwarding on its last table)" ||
	bad "digests differed in $diverged of $samples samples: before '$dig0', now '$(digests)'"
streams_end "$CL_DIR/streams5.out"
[ "$BROKEN" = 0 ] && ok "$OKS of $STREAMS streams intact through the takeover" ||
	bad "$BROKEN of $STREAMS streams broken: $(broken_lines "$CL_DIR/streams5.out")"
cl_agent_start "$old" || bad "lb$old's agent again"
wait_for 15 converged && cl_wait_nexthops 10 "$ALL3" &&
	ok "lb$old's agent restarted: a follower, one leader (lb$(leader)), equal digests, 3 next hops" ||
	bad "no convergence after lb$old's agent restarted: $(digests), leader '$(leader)', hops '$(cl_router_nexthops)'"

echo "== 6. etcd stopped for 10 s under $STREAMS streams while worker b1 turns unhealthy"
streams_running 16 "$CL_DIR/streams6.out"
dig0=$(digests)
cl_etcd_pause
t0=$(ms)
cl_worker_fault 1 503
hops_bad=0
dig_bad=0
samples=0
unreach=
while [ "$(($(ms) - t0))" -lt 10000 ]; do
	samples=$((samples + 1))
	[ "$(cl_router_nexthops)" = "$ALL3" ] || hops_bad=$((hops_bad + 1))
	show_all
	[ "${DIG[1]} ${DIG[2]} ${DIG[3]}" = "$dig0" ] || dig_bad=$((dig_bad + 1))
	if [ -z "$unreach" ] && [ "${ETCD[1]}${ETCD[2]}${ETCD[3]}" = downdowndown ]; then
		n=0
		for i in 1 2 3; do
			cl_lbctl "$i" show | grep -q 'etcd UNREACHABLE' && n=$((n + 1))
		done
		[ "$n" = 3 ] && unreach=$(($(ms) - t0))
	fi
	sleep 0.2
done
[ -n "$unreach" ] &&
	ok "every host's lbctl show says etcd UNREACHABLE ($unreach ms after etcd stopped)" ||
	bad "etcd stopped but not every host says so: $(cl_lbctl 1 show | grep cluster)"
[ "$hops_bad" = 0 ] && ok "no host withdrew: the router kept its 3 next hops ($samples samples over 10 s)" ||
	bad "the router's next hops changed in $hops_bad of $samples samples"
[ "$dig_bad" = 0 ] && ok "no host changed its table while etcd was away (fail-static; b1 failing all along)" ||
	bad "tables changed without etcd in $dig_bad of $samples samples"
cl_etcd_resume
if r=$(decision_ms "$(echo "$dig0" | awk '{ print $1 }')"); then
	read -r first spread d1 _ _ _ all _ <<<"$r"
	etcd_conv=$all
	ok "etcd back: every host applied the change (b1 drained) after $all ms, the same digest $d1 (first host: $first ms; maps changed within $spread ms of each other) (convergence after the outage)"
else
	bad "no convergence after etcd came back: $(digests)"
fi
wait_for 5 converged || bad "after the outage: leader '$(leader)', etcd ${ETCD[*]}"
streams_end "$CL_DIR/streams6.out"
[ "$BROKEN" = 0 ] && ok "$OKS of $STREAMS streams intact through the etcd outage and b1's drain" ||
	bad "$BROKEN of $STREAMS streams broken: $(broken_lines "$CL_DIR/streams6.out")"
cl_worker_fault 1 none
wait_for 10 equal_digests "$d1" || bad "b1 back: no common digest"

# ---- 7. second chance ---------------------------------------------------
# flip I: b1's weight on every host, 1 and 3 in turn, every 200 ms (an
# operator's override, the same on every host), until killed
flip() {
	local w=3 i
	while :; do
		for i in 1 2 3; do
			cl_lbctl "$i" set-weight "$VIPP" "${CL_BACKEND4[1]}" "$w" >/dev/null 2>&1
		done
		w=$((4 - w))
		sleep 0.2
	done
}
# sc_all on|off: the VIP's second chance on every host
sc_all() {
	local i
	for i in 1 2 3; do
		cl_lbctl "$i" vip set "$VIPP" --second-chance "$1" >/dev/null ||
			bad "lb$i: vip set --second-chance $1"
	done
}
# lb3_back: lb3 attached again, its agent started; the cluster converged
lb3_back() {
	cl_agent_start 3 attach || bad "lb3 again"
	wait_for 15 converged && cl_wait_nexthops 10 "$ALL3" ||
		bad "lb3 back: $(digests), hops '$(cl_router_nexthops)'"
}
declare -A SC_BROKEN
if "$CL_BUILD/lbctl" help 2>&1 | grep -q -- '--second-chance'; then
	for sc in on off; do
		echo "== 7. second chance $sc: lb3 stops under $STREAMS streams while b1's weight flips 1 <-> 3 every 200 ms"
		sc_all "$sc"
		streams_running 12 "$CL_DIR/streams7$sc.out"
		flip &
		CPID=$!
		sleep 2
		cl_host_stop 3 unload
		cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 2)" || bad "lb3 still a next hop"
		streams_end "$CL_DIR/streams7$sc.out"
		kill "$CPID"
		wait "$CPID" 2>/dev/null
		CPID=
		SC_BROKEN[$sc]=$BROKEN
		if [ "$sc" = on ]; then
			[ "$BROKEN" = 0 ] &&
				ok "second chance on: $OKS of $STREAMS streams intact" ||
				bad "second chance on: $BROKEN of $STREAMS streams broken: $(broken_lines "$CL_DIR/streams7on.out")"
		else
			echo "     second chance off: $BROKEN of $STREAMS streams broken (not asserted)"
		fi
		for i in 1 2; do
			cl_lbctl "$i" backend release "$VIPP" "${CL_BACKEND4[1]}" >/dev/null ||
				bad "lb$i: backend release"
		done
		lb3_back
	done
else
	echo "skip - 7. second chance: this lbctl has no 'vip set --second-chance'"
fi

# ---- 8. second chance with a load-aware policy ------------------------------
# The agents' config switches the VIP to expected-wait (each restarted in
# turn: it withdraws, applies the new config, follows the decision,
# announces again). Each host then places new flows by its own open
# counts, so no host could tell where another host sent a flow; with
# second chance the choice is between the flow's two hashed candidates,
# and the host a moved flow reaches sends it to one with the other
# attached.
declare -A LA_BROKEN
if "$CL_BUILD/lbctl" help 2>&1 | grep -q -- '--second-chance'; then
	CL_POLICY=expected-wait
	for i in 1 2 3; do
		cl_agent_stop "$i" TERM
		cl_agent_start "$i" || bad "lb$i's agent with policy $CL_POLICY"
		cl_wait_nexthops 15 "$ALL3" || bad "lb$i not announcing again"
	done
	if wait_for 15 converged && [ "$(cl_lbctl 1 -j show | python3 -c '
import json, sys
print(json.load(sys.stdin)["vips"][0]["policy"])')" = expected-wait ]; then
		ok "policy expected-wait on every host (agents restarted in turn), one leader, equal digests"
	else
		bad "expected-wait: $(digests), leader '$(leader)': $(cl_lbctl 1 show | head -5)"
	fi
	for sc in on off; do
		echo "== 8. expected-wait, second chance $sc: lb3 stops under $STREAMS streams"
		sc_all "$sc"
		f0=$(cl_flows_all)
		streams_running 10 "$CL_DIR/streams8$sc.out"
		sleep 1
		on3=$(delta "$f0" "$(cl_flows_all)" | awk '{ print $3 }')
		cl_host_stop 3 unload
		cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 2)" || bad "lb3 still a next hop"
		streams_end "$CL_DIR/streams8$sc.out"
		LA_BROKEN[$sc]=$BROKEN
		if [ "$sc" = on ]; then
			[ "$BROKEN" -gt 0 ] &&
				echo "     expected-wait, second chance on: $BROKEN broken: $(broken_lines "$CL_DIR/streams8on.out")"
		else
			echo "     expected-wait, second chance off: $BROKEN of $STREAMS streams broken ($on3 had come in through lb3)"
		fi
		lb3_back
	done
	# 0 broken with it on in 10 runs, 2 and 3 of 60 in two (not
	# explained yet: agent/README "Cluster mode"); asserted: it cuts the
	# breakage by 4x or more
	if [ $((LA_BROKEN[on] * 4)) -le "${LA_BROKEN[off]}" ]; then
		ok "expected-wait: ${LA_BROKEN[on]} of $STREAMS streams broken with second chance and pair choice, ${LA_BROKEN[off]} without"
	else
		bad "expected-wait: ${LA_BROKEN[on]} of $STREAMS streams broken with second chance and pair choice, ${LA_BROKEN[off]} without (want 4x fewer)"
	fi
	sc_all on
else
	echo "skip - 8. this lbctl has no 'vip set --second-chance'"
fi

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
	link_back=$(cl_route_changed_ms "$t0" "$ALL3")
	ok "lb2's link up again: its session and route back on the router after ${link_back:-?} ms (polled: $(($(ms) - t0)) ms)"
else
	bad "lb2's route did not come back: '$(cl_router_nexthops)'"
fi

# BFD: CL_TEST_BFD=1 measures it too (about 20 s more; make test leaves it
# out for time: 274-317 ms measured with it, against 2-2.5 s of hold timer)
if [ "${CL_TEST_BFD:-0}" = 1 ]; then
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
fi

echo "== figures (the router's kernel route changes, ip -ts monitor; lbctl -j show polled):" \
	"failover (agent SIGTERM -> next hop gone) ${failover_k:-?} ms;" \
	"host back (agent start -> next hop there) ${back:-?} ms;" \
	"a decision: the 3 hosts' digests changed within (sampled/changed_ns):${conv_list:- ?} ms;" \
	"leader takeover (SIGKILL -> new leader) ${takeover:-?} ms;" \
	"etcd back -> converged ${etcd_conv:-?} ms;" \
	"broken streams with second chance on ${SC_BROKEN[on]:-?}, off ${SC_BROKEN[off]:-?};" \
	"expected-wait: on ${LA_BROKEN[on]:-?}, off ${LA_BROKEN[off]:-?};" \
	"host cut off (link down -> next hop gone, hold timer) ${hold:-?} ms;" \
	"link back -> next hop back ${link_back:-?} ms;" \
	"host cut off with BFD -> next hop gone ${bfd:-?} ms"
echo "test_cluster: $PASSES passed, $FAILS failed ($(($(date +%s) - t_start)) s)"
[ "$FAILS" = 0 ]
