#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_secondchance.sh - second chance keeps streams alive when a flow
# reaches a balancer that has no entry for it after the table moved: what
# another balancer host sees when ECMP moves a flow to it, or this host
# after an eviction. Topology from tests/e2e/topo.sh: client, balancer
# (ipip VIP, Maglev, b1..b3 at 1:1:1), three backends running xdp_decap
# (lbctl decap attach) and tools/e2e/httpd.
#
# For each setting of the switch (on, then off):
#   1. STREAMS (30) streaming responses open (a chunk every 400 ms, so the
#      client's ACKs keep flowing to the balancer);
#   2. the weights change to 4:1:0, so about half the table's slots change
#      owner (b3's all), and every entry of the balancer's flow table is
#      deleted: the streams' next ACKs are misses without SYN;
#   3. once they have been placed again, the weights change once more
#      (1:3:1): flows keep what their entry says (their chain, when on);
#   4. every stream must complete intact with second chance on (0
#      broken); with it off the count of broken streams is printed (a
#      stream whose slot moved gets a RST from a backend that never saw
#      it), not asserted.
# Then the same with policy least-conn, load-aware (no weight change:
# step 2 empties the flow table only, and the misses are placed again by
# load): with second chance and pair choice on, the choice was between the
# flow's two hashed candidates and the miss goes to one with the other
# attached, 0 broken; with both off the count is printed.
# A backend forwards a chained packet to the second hop with XDP_TX (its
# bridge port runs an XDP_PASS program, as the balancer's does), and
# resolves a neighbour it has not met through the kernel (forwarding on).
# Every loop and wait is bounded; everything is removed on exit.
# Usage: tests/test_secondchance.sh BUILD_DIR
export E2E_PREFIX=sc
# shellcheck source=tests/e2e/lbtest.sh
. "$(dirname "$0")/e2e/lbtest.sh" "${1:-build}"

STREAMS=${STREAMS:-30}

lbtest_cleanup_extra() {
	local i
	for i in 1 2 3; do
		"$lbctl" --pin-dir "$pins-b$i" unload >/dev/null 2>&1
		rm -rf "$pins-b$i" 2>/dev/null
	done
}

# Deletes every entry of the balancer's IPv4 flow table (ours only: the
# pins are this run's). Prints how many.
flush_flows() {
	bpftool -j map dump pinned "$pins/lb_flows4" | python3 -c '
import json, subprocess, sys
n = 0
for e in json.load(sys.stdin):
    key = [b[2:] if b.startswith("0x") else b for b in e["key"]]
    if subprocess.run(["bpftool", "map", "delete", "pinned", sys.argv[1],
                       "key", "hex"] + key).returncode == 0:
        n += 1
print(n)' "$pins/lb_flows4"
}

# The decap counter FIELD summed over b1..b3 and all CPUs.
decap_stat() {
	local i
	for i in 1 2 3; do
		bpftool -j map dump pinned "$pins-b$i/decap/lb_decap_stats"
	done | python3 -c '
import json, sys
f, total = sys.argv[1], 0
dec = json.JSONDecoder()
s = sys.stdin.read()
pos = 0
while pos < len(s):
    while pos < len(s) and s[pos].isspace():
        pos += 1
    if pos >= len(s):
        break
    obj, pos = dec.raw_decode(s, pos)
    for e in obj:
        for v in e.get("formatted", {}).get("values", []):
            total += v["value"][f]
print(total)' "$1"
}

# The balancer's global counter FIELD (lbctl stats -j "reasons").
lb_stat() {
	L -j stats | python3 -c '
import json, sys
r = json.load(sys.stdin)["reasons"]
print(r.get(sys.argv[1], 0) if isinstance(r, dict) else
      next((x["count"] for x in r if x.get("reason") == sys.argv[1]), 0))' "$1"
}

weights() {
	L set-weight "$vip" "${BACKEND4[1]}" "$1" >/dev/null &&
		L set-weight "$vip" "${BACKEND4[2]}" "$2" >/dev/null &&
		L set-weight "$vip" "${BACKEND4[3]}" "$3" >/dev/null
}

topo_create 3 || { bad "topology"; exit 1; }
topo_start_backends --quiet || { bad "backends"; exit 1; }
# XDP_TX from the balancer and from each backend (chains sent on)
topo_peer_xdp_pass "$pass_obj" "$TOPO_LB_PEER" b1 b2 b3 || { bad "peer XDP"; exit 1; }
for i in 1 2 3; do
	timeout 30 nsenter --net="/run/netns/$(topo_ns "b$i")" "$lbctl" \
		--pin-dir "$pins-b$i" decap attach "$TOPO_DEV" --mode native \
		>/dev/null || { bad "decap attach b$i"; exit 1; }
	ip netns exec "$(topo_ns "b$i")" sysctl -qw net.ipv4.ip_forward=1 ||
		{ bad "forwarding on b$i"; exit 1; }
done
vip="$VIP4:$PORT/tcp"
url="http://$VIP4:$PORT/"
L attach "$TOPO_DEV" --mode native >/dev/null || { bad "attach"; exit 1; }
L vip add "$vip" --mode ipip >/dev/null || { bad "vip add"; exit 1; }
for i in 1 2 3; do
	L backend add "$vip" "${BACKEND4[i]}" --weight 1 >/dev/null ||
		{ bad "backend add b$i"; exit 1; }
done
if L -j show | grep -q '"second_chance": *true'; then
	ok "attached; VIP $vip (ipip, maglev) with b1..b3, second chance on by default"
else
	bad "a new ipip VIP has second chance on: $(L show)"
fi

# run_round on|off [least-conn]: steps 1-3 above; prints "BROKEN OK" of
# the streams. With least-conn (a load-aware policy: no table decides, a
# flow's backend is the least loaded of its two hashed candidates with
# second chance on, of all backends with it off) step 2 only empties the
# flow table and the weights stay 1:1:1: the misses are placed again by
# load, as on a host that never saw them.
run_round() {
	local sc=$1 pol=${2:-maglev} out=$TOPO_DIR/streams-$1-${2:-maglev}.out n spid
	L vip set "$vip" --second-chance "$sc" --pair-choice "$sc" --policy "$pol" >/dev/null ||
		{ echo "x x"; return; }
	weights 1 1 1 || { echo "x x"; return; }
	# 30 chunks of 1000 bytes, one every 400 ms (12 s); 5 s of silence
	# counts as broken
	in_client "$E2E_BIN/conns" --stream --url "$url" --streams "$STREAMS" \
		--bytes 30000 --chunk 1000 --interval-ms 400 --timeout-ms 5000 \
		>"$out" 2>&1 &
	spid=$!
	BG+=("$spid")
	sleep 2
	if [ "$pol" = maglev ]; then
		weights 4 1 0 || echo "weights 4:1:0 failed" >&2
		n=$(flush_flows)
		echo "second chance $sc: weights 4:1:0, $n flow entries deleted" >&2
		sleep 3
		weights 1 3 1 || echo "weights 1:3:1 failed" >&2
	else
		n=$(flush_flows)
		echo "second chance $sc, $pol: $n flow entries deleted" >&2
	fi
	wait "$spid"
	BG=()
	echo "$(grep -c 'BROKEN' "$out") $(grep -c ' ok$' "$out")"
}

chained0=$(lb_stat flow_chained)
read -r broken_on ok_on < <(run_round on)
chained1=$(lb_stat flow_chained)
fwd=$(decap_stat chain_forwarded)
loc=$(decap_stat chain_local)
neigh=$(decap_stat chain_no_neigh)
noroute=$(decap_stat chain_no_route)
if [ "$broken_on" = 0 ] && [ "$ok_on" = "$STREAMS" ]; then
	ok "second chance on: 0 of $STREAMS streams broken across a table move with the flow table emptied, and a second move"
else
	bad "second chance on: $broken_on broken, $ok_on of $STREAMS intact: $(grep -v ' ok$' "$TOPO_DIR/streams-on.out" | head -5 | tr '\n' ' ')"
fi
if [ $((chained1 - chained0)) -gt 0 ] && [ "$fwd" -gt 0 ]; then
	ok "chained flows: $((chained1 - chained0)) (flow_chained); backends: $fwd packets sent on to the second hop, $loc kept locally, $neigh via the kernel (neighbour unresolved), $noroute without a route"
else
	bad "no chain was taken: flow_chained +$((chained1 - chained0)), chain_forwarded $fwd, chain_local $loc, chain_no_neigh $neigh"
fi

read -r broken_off ok_off < <(run_round off)
chained2=$(lb_stat flow_chained)
echo "second chance off: $broken_off of $STREAMS streams broken by the same steps ($ok_off intact)"
if [ "$chained2" = "$chained1" ]; then
	ok "switch off: no chained flow (flow_chained stays $chained1)"
else
	bad "switch off, yet flow_chained moved from $chained1 to $chained2"
fi

# load-aware: least-conn (expected-wait chooses the same way, from the
# agent's speeds; without them it is least-conn)
chained3=$(lb_stat flow_chained)
read -r broken_lc ok_lc < <(run_round on least-conn)
chained4=$(lb_stat flow_chained)
if [ "$broken_lc" = 0 ] && [ "$ok_lc" = "$STREAMS" ] && [ "$chained4" -gt "$chained3" ]; then
	ok "least-conn, second chance and pair choice on: 0 of $STREAMS streams broken with the flow table emptied ($((chained4 - chained3)) chained to the flow's other candidate)"
else
	bad "least-conn, second chance and pair choice on: $broken_lc broken, $ok_lc of $STREAMS intact, flow_chained +$((chained4 - chained3)): $(grep -v ' ok$' "$TOPO_DIR/streams-on-least-conn.out" | head -5 | tr '\n' ' ')"
fi
read -r broken_lc_off ok_lc_off < <(run_round off least-conn)
echo "least-conn, second chance and pair choice off: $broken_lc_off of $STREAMS streams broken by the same step ($ok_lc_off intact)"

echo "test_secondchance: $PASSES passed, $FAILS failed (broken streams: maglev on $broken_on, off $broken_off; least-conn on $broken_lc, off $broken_lc_off) in ${SECONDS}s"
[ "$FAILS" = 0 ]
