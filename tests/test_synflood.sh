#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_synflood.sh - a SYN flood cannot evict established flows, in the
# end-to-end namespace topology (tests/e2e/topo.sh): a client, the
# balancer (lbctl attach, l2dsr VIP, Maglev, b1..b3 at weights 1:2:3) and
# three backends running tools/e2e/httpd.
#
# While 20 quiet streams (a chunk every 1.5 s) and 20 idle ones (a chunk
# every 8 s) are open, FLOOD_COUNT (default 8,000,000) spoofed SYNs from
# random sources in 198.19.0.0/16 (inside 198.18.0.0/15) are sent at the
# VIP, of which at least 4,000,000 must reach the balancer's XDP program
# (veth drops about 30-40% when its ring is full), and the weights change
# every 200 ms. Run against the datapath before SYN slots, the same test
# broke 4 of the 20 idle streams (6M sent, 3.5M reaching XDP). Before SYNs waited in their
# own slots (lb_syn4), ~1.4M of them filled the 1M-entry flow table and
# evicted quiet and idle flows, which the changed Maglev table then sent
# to a backend that never saw them: reset streams. Now:
#   - all 40 streams complete intact (0 broken);
#   - new connections made during the flood complete their handshake;
#   - the datapath saw the flood: new flows >= 4M, waiting
#     handshakes overwritten by colliding SYNs (syn_replaced) counted;
#   - the real connections' first ACKs moved them into the flow table
#     (syn_promoted): all 40 streams opened before the flood, and most of
#     the 30 made during it. A flood SYN that hashes to the same slot may
#     overwrite a real handshake between its SYN and its ACK (that is the
#     design: one write per SYN, no eviction scan); at ~400k SYN/s over
#     262,144 slots and a few ms of handshake on a loaded client, about 1%
#     of handshakes are overwritten. Such a connection is still served (its
#     ACK is routed by hash: the 30 connections above must all succeed),
#     it is just not counted as promoted. So >= 63 of 70, not 70.
# Every loop and wait is bounded; everything is removed on exit.
# Usage: tests/test_synflood.sh BUILD_DIR
export E2E_PREFIX=sf
# shellcheck source=tests/e2e/lbtest.sh
. "$(dirname "$0")/e2e/lbtest.sh" "${1:-build}"

FLOOD_COUNT=${FLOOD_COUNT:-8000000}
FLOOD_SEEN=${FLOOD_SEEN:-4000000}	# of those, reaching the datapath

# stat FIELD: a datapath counter from `lbctl stats -j` (VIP new flows, or
# a global reason such as syn_replaced)
stat() {
	L -j stats | python3 -c '
import json, sys
d = json.load(sys.stdin)
f = sys.argv[1]
if f == "new_flows":
    print(sum(v["new_flows"] for v in d["vips"]))
else:
    def find(o):
        if isinstance(o, dict):
            if f in o and not isinstance(o[f], (dict, list)):
                return o[f]
            for v in o.values():
                r = find(v)
                if r is not None:
                    return r
        elif isinstance(o, list):
            for v in o:
                r = find(v)
                if r is not None:
                    return r
    r = find(d)
    print(0 if r is None else r)' "$1"
}

topo_create 3 || { bad "topology"; exit 1; }
topo_start_backends --quiet || { bad "backends"; exit 1; }
topo_peer_xdp_pass "$pass_obj" || { bad "peer XDP"; exit 1; }
vip="$VIP4:$PORT/tcp"
url="http://$VIP4:$PORT/"
L attach "$TOPO_DEV" --mode native >/dev/null || { bad "attach"; exit 1; }
L vip add "$vip" --mode l2dsr >/dev/null || { bad "vip add"; exit 1; }
for i in 1 2 3; do
	L backend add "$vip" "${BACKEND4[i]}" --weight "$i" >/dev/null ||
		{ bad "backend add b$i"; exit 1; }
done
ok "attached, VIP $vip (l2dsr, maglev) with b1..b3 at weights 1:2:3"
# the flood's SYN-ACKs go nowhere (no route back to 198.19.0.0/16 in the
# backends), so the backends' SYN queues fill: cookies keep them answering
for i in 1 2 3; do
	ip netns exec "$(topo_ns "b$i")" sysctl -qw net.ipv4.tcp_syncookies=1
done

new0=$(stat new_flows)
promoted0=$(stat syn_promoted)
# 20 quiet streams: 16 chunks, one every 1.5 s (24 s); 20 idle ones: 4
# chunks, one every 8 s; a stream silent for 20 s counts as broken
in_client "$E2E_BIN/conns" --stream --url "$url" --streams 20 --bytes 16000 \
	--chunk 1000 --interval-ms 1500 --timeout-ms 20000 >"$TOPO_DIR/quiet.out" 2>&1 &
quiet=$!
in_client "$E2E_BIN/conns" --stream --url "$url" --streams 20 --bytes 4000 \
	--chunk 1000 --interval-ms 8000 --timeout-ms 20000 >"$TOPO_DIR/idle.out" 2>&1 &
idle=$!
BG+=("$quiet" "$idle")
sleep 1.5

# the flood: both cores' worth of senders, bounded in count and time
mac=$(topo_mac lb)
in_client "$E2E_BIN/synflood" --dev "$TOPO_DEV" --dst-mac "$mac" --dst "$VIP4" \
	--dport "$PORT" --count "$FLOOD_COUNT" --src-net 198.19.0.0/16 --threads 2 \
	--seconds 40 >"$TOPO_DIR/flood.out" 2>&1 &
flood=$!
BG+=("$flood")
# weights change every 200 ms while it lasts (at most 200 changes)
changes=0
failed_changes=0
(
	for ((i = 0; i < 200; i++)); do
		kill -0 "$flood" 2>/dev/null || break
		L set-weight "$vip" "${BACKEND4[1 + i % 3]}" $((1 + (i * 7) % 10)) >/dev/null ||
			echo fail
		echo change
		sleep 0.2
	done
) >"$TOPO_DIR/changes.out" 2>&1 &
changer=$!
BG+=("$changer")
# real new connections during the flood: each must complete its handshake
sleep 2
in_client "$E2E_BIN/conns" --url "$url" --count 30 --parallel 3 --timeout-ms 10000 \
	>"$TOPO_DIR/during.out" 2>&1
during_rc=$?
flood_alive=no
kill -0 "$flood" 2>/dev/null && flood_alive=yes

wait "$flood"
flood_rc=$?
wait "$changer"
changes=$(grep -c '^change' "$TOPO_DIR/changes.out")
failed_changes=$(grep -c '^fail' "$TOPO_DIR/changes.out")
flood_out=$(cat "$TOPO_DIR/flood.out")
sent=$(awk '/^sent/ { print $2 }' "$TOPO_DIR/flood.out")
if [ "$flood_rc" = 0 ] && [ "${sent:-0}" = "$FLOOD_COUNT" ]; then
	ok "flood: $flood_out"
else
	bad "flood did not send its $FLOOD_COUNT SYNs (exit $flood_rc): $flood_out"
fi
if [ "$changes" -ge 10 ] && [ "$failed_changes" = 0 ]; then
	ok "$changes weight changes during the flood, every 200 ms"
else
	bad "weight changes: $changes made, $failed_changes failed"
fi
if [ "$during_rc" = 0 ] && [ "$flood_alive" = yes ]; then
	ok "30 new connections during the flood: $(tr '\n' ' ' <"$TOPO_DIR/during.out")"
else
	bad "new connections during the flood (exit $during_rc, flood still running: $flood_alive): $(tr '\n' ' ' <"$TOPO_DIR/during.out")"
fi

wait "$quiet"
quiet_rc=$?
wait "$idle"
idle_rc=$?
BG=()
nq=$(grep -c ' ok$' "$TOPO_DIR/quiet.out")
ni=$(grep -c ' ok$' "$TOPO_DIR/idle.out")
if [ "$quiet_rc" = 0 ] && [ "$idle_rc" = 0 ] && [ "$nq" = 20 ] && [ "$ni" = 20 ]; then
	ok "0 of 40 streams broken by the flood (20 quiet and 20 idle intact)"
else
	bad "streams: quiet $nq/20 intact (exit $quiet_rc), idle $ni/20 (exit $idle_rc): $(grep -v ' ok$' "$TOPO_DIR/quiet.out" "$TOPO_DIR/idle.out" | head -5 | tr '\n' ' ')"
fi

new1=$(stat new_flows)
replaced=$(stat syn_replaced)
promoted1=$(stat syn_promoted)
if [ $((new1 - new0)) -ge "$FLOOD_SEEN" ] && [ "$replaced" -gt 0 ]; then
	ok "the datapath saw the flood: $((new1 - new0)) new flows of ${sent:-0} SYNs sent (>= $FLOOD_SEEN), $replaced waiting handshakes overwritten (syn_replaced)"
else
	bad "datapath counters: $((new1 - new0)) new flows for ${sent:-0} SYNs sent (want >= $FLOOD_SEEN), syn_replaced $replaced"
fi
if [ $((promoted1 - promoted0)) -ge 63 ]; then
	ok "the real connections' first ACKs moved them into the flow table (syn_promoted +$((promoted1 - promoted0)) for 70 connections)"
else
	bad "syn_promoted moved by $((promoted1 - promoted0)) for 70 real connections (want >= 63)"
fi

echo "test_synflood: $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
