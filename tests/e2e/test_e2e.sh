#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_e2e.sh - real TCP through inferlb in network namespaces (topo.sh):
# a client, the balancer (lbctl attach), three backends running httpd that
# say which backend answered. Per case (family, forwarding mode, XDP mode):
#   1. new connections spread by weight 1:2:3 (chi-square, p > 0.001);
#   2. set-weight 0 drains: new connections avoid the backend while a
#      streaming response already open on it completes intact;
#   3. long-lived streams stay intact and on their backend while the
#      weights change again and again;
#   4. backend del: new connections avoid it.
# The first case runs the full sizes of the issue (3,000 connections, 20
# streams, 100 weight changes); the others run smaller ones.
# Usage: tests/e2e/test_e2e.sh [BUILD_DIR]
set -u
build=$(realpath "${1:-build}")
export E2E_BIN=$build/tools/e2e
export E2E_PREFIX=e2e
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/topo.sh
. "$here/topo.sh"

lbctl=$build/lbctl
pass_obj=$build/bpf/pass.bpf.o
pins_lb=
pins_be=()
pass=0
fail=0

cleanup() {
	[ -n "$pins_lb" ] && nsenter --net=/run/netns/"$(topo_ns lb 2>/dev/null)" \
		"$lbctl" --pin-dir "$pins_lb" unload >/dev/null 2>&1
	for p in "${pins_be[@]}"; do
		"$lbctl" --pin-dir "$p" unload >/dev/null 2>&1
		rm -rf "$p" 2>/dev/null
	done
	[ -n "$pins_lb" ] && rm -rf "$pins_lb" 2>/dev/null
	pins_lb=
	pins_be=()
	topo_destroy
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   $*"; }
# A failure shows the balancer's view too (weights, generations, counters).
bad() {
	fail=$((fail + 1))
	echo "FAIL $*"
	[ -n "$pins_lb" ] && { L show; L stats; } 2>&1 | sed 's/^/     /'
}

# lbctl in a namespace; nsenter keeps the root mount namespace, so the pins
# under /sys/fs/bpf outlive the command (ip netns exec would not).
lbctl_in() {
	local node=$1
	shift
	timeout 30 nsenter --net=/run/netns/"$(topo_ns "$node")" "$lbctl" "$@"
}
L() { lbctl_in lb --pin-dir "$pins_lb" "$@"; }
conns() { timeout 120 ip netns exec "$(topo_ns client)" "$E2E_BIN/conns" "$@"; }

# run_case FAMILY(4|6) FWD(ipip|l2dsr) XDPMODE(native|skb) SIZE(full|small)
run_case() {
	local fam=$1 fwd=$2 xmode=$3 size=$4 vip url be i out n conns_n streams changes
	local name="ipv$fam $fwd $xmode"

	echo "== $name ($size)"
	topo_create 3 || { bad "$name: topology"; return; }
	topo_start_backends --quiet || { bad "$name: backends"; topo_destroy; return; }
	topo_peer_xdp_pass "$pass_obj" || { bad "$name: peer XDP"; topo_destroy; return; }
	pins_lb=/sys/fs/bpf/e2e-$$-lb
	if [ "$fam" = 4 ]; then
		vip="$VIP4:$PORT/tcp"; url="http://$VIP4:$PORT/"; be=("${BACKEND4[@]}")
	else
		vip="[$VIP6]:$PORT/tcp"; url="http://[$VIP6]:$PORT/"; be=("${BACKEND6[@]}")
	fi
	if [ "$fwd" = ipip ]; then
		for i in 1 2 3; do
			pins_be+=("/sys/fs/bpf/e2e-$$-b$i")
			lbctl_in "b$i" --pin-dir "/sys/fs/bpf/e2e-$$-b$i" decap attach \
				"$TOPO_DEV" --mode "$xmode" >/dev/null ||
				{ bad "$name: decap attach b$i"; return; }
		done
	fi
	L attach "$TOPO_DEV" --mode "$xmode" >/dev/null || { bad "$name: attach"; return; }
	L vip add "$vip" --mode "$fwd" >/dev/null || { bad "$name: vip add"; return; }
	for i in 1 2 3; do
		L backend add "$vip" "${be[i]}" --weight "$i" >/dev/null ||
			{ bad "$name: backend add b$i"; return; }
	done
	ok "$name: attached, VIP $vip with b1..b3 at weights 1:2:3"

	if [ "$size" = full ]; then conns_n=3000; streams=20; changes=100; sbytes=2000000
	else conns_n=600; streams=6; changes=12; sbytes=600000; fi

	# 1. spread by weight
	out=$(conns --url "$url" --count $conns_n --parallel 16 --expect b1=1,b2=2,b3=3)
	if [ $? = 0 ]; then
		ok "$name: $conns_n connections by weight: $(echo "$out" | tr '\n' ' ')"
	else
		bad "$name: spread: $(echo "$out" | tr '\n' ' ')"
	fi

	# 2. drain b1 while streaming responses are open on it: first all new
	#    flows go to b1 (b2, b3 at 0), then b1 drains and b2, b3 take over.
	L set-weight "$vip" "${be[2]}" 0 >/dev/null && L set-weight "$vip" "${be[3]}" 0 >/dev/null ||
		bad "$name: set-weight"
	conns --stream --url "$url" --streams 8 --bytes 300000 --chunk 3000 \
		--interval-ms 20 >"$TOPO_DIR/drain.out" 2>&1 &
	local spid=$!
	sleep 0.5
	L set-weight "$vip" "${be[2]}" 2 >/dev/null && L set-weight "$vip" "${be[3]}" 3 >/dev/null &&
		L set-weight "$vip" "${be[1]}" 0 >/dev/null || bad "$name: set-weight"
	# here the point is "none to b1" (any b1 answer fails); the split
	# between b2 and b3 is printed, not tested (the spread test does that)
	out=$(conns --url "$url" --count 300 --parallel 8 --expect b1=0,b2=2,b3=3 --alpha 1e-300)
	if [ $? = 0 ]; then ok "$name: drained b1 gets no new connections: $(echo "$out" | tr '\n' ' ')"
	else bad "$name: drain: $(echo "$out" | tr '\n' ' ')"; fi
	if wait $spid && [ "$(grep -c 'backend b1 .* ok' "$TOPO_DIR/drain.out")" = 8 ]; then
		ok "$name: 8 streaming responses open on b1 when it was drained completed intact"
	else
		bad "$name: streams across the drain: $(tr '\n' ' ' <"$TOPO_DIR/drain.out")"
	fi
	L set-weight "$vip" "${be[1]}" 1 >/dev/null

	# 3. streams while the weights keep changing
	conns --stream --url "$url" --streams $streams --bytes $sbytes --chunk 2000 \
		--interval-ms 10 >"$TOPO_DIR/churn.out" 2>&1 &
	spid=$!
	sleep 0.3
	local failed_changes=0
	for ((i = 0; i < changes; i++)); do
		L set-weight "$vip" "${be[1 + i % 3]}" $((1 + (i * 7) % 10)) >/dev/null ||
			failed_changes=$((failed_changes + 1))
	done
	# the streams must still be running when the last change is made
	local still_open=no
	kill -0 $spid 2>/dev/null && still_open=yes
	if wait $spid && ! grep -q BROKEN "$TOPO_DIR/churn.out" &&
		[ $failed_changes = 0 ] && [ $still_open = yes ]; then
		ok "$name: $streams streams stayed intact on their backend through $changes weight changes"
	else
		bad "$name: streams during weight changes ($failed_changes changes failed, open at the end: $still_open): $(tr '\n' ' ' <"$TOPO_DIR/churn.out")"
	fi

	# 4. backend del (the weights back to 1:1 for b1 and b3 first)
	L set-weight "$vip" "${be[1]}" 1 >/dev/null && L set-weight "$vip" "${be[3]}" 1 >/dev/null ||
		bad "$name: set-weight"
	L backend del "$vip" "${be[2]}" >/dev/null || bad "$name: backend del"
	out=$(conns --url "$url" --count 300 --parallel 8 --expect b1=1,b3=1 --alpha 1e-300)
	if [ $? = 0 ]; then ok "$name: deleted b2 gets no new connections: $(echo "$out" | tr '\n' ' ')"
	else bad "$name: after backend del: $(echo "$out" | tr '\n' ' ')"; fi

	L -j stats >"$TOPO_DIR/stats.json" && python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
v=d["vips"][0]
assert v["packets"] > 0 and v["new_flows"] > 0, v
' "$TOPO_DIR/stats.json" && ok "$name: stats count the traffic" || bad "$name: stats"
	cleanup
}

# each case leaves nothing behind, also when it stopped early
for c in "4 ipip native full" "6 ipip native small" "4 l2dsr native small" \
	"6 l2dsr skb small" "4 ipip skb small"; do
	# shellcheck disable=SC2086
	run_case $c
	cleanup
done

echo "test_e2e: $pass passed, $fail failed"
[ $fail = 0 ]
