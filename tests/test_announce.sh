#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# VIP announcement through the kernel's routing table (lib/lb_announce.h),
# in the e2e topology (tests/e2e/topo.sh; routes live in the lb namespace):
#
#  1. bad arguments (table main, a routing daemon's protocol, an unknown
#     verb, an extra argument) exit 2 with a clear message and change
#     nothing; not attached: nothing announced, and an unrelated route in
#     table 4242 (another protocol) and one in main are there to be kept;
#  2. attached with a backend that takes new flows: blackhole VIP/32 in
#     table 4242 proto 242, once (sync is idempotent); all weights 0, all
#     backends DOWN, no backends: withdrawn, each with its reason;
#  3. withdraw / resume: the flag outlives the process (status says so),
#     sync while withdrawn adds nothing, resume announces again;
#  4. detach withdraws; re-attach and sync announce again; unload withdraws;
#  5. detach --drain under traffic (tools/e2e/conns): the route goes at
#     once, lbctl waits while VIP packets arrive, detaches once they stop;
#  6. table_digest: two datapaths (two pin directories) given the same VIP,
#     backends and weights in another order (other backend ids) show the
#     same digest; a weight change changes it;
#  7. lb-agent with announce enabled (gpusim backends) announces the VIP,
#     withdraws it when the backends die, and on SIGTERM withdraws first.
# The unrelated routes are checked untouched at the end. Every wait is
# bounded; everything is removed on exit, also on failure.
# Usage: tests/test_announce.sh BUILD_DIR
export E2E_PREFIX=an
# shellcheck source=tests/e2e/lbtest.sh
. "$(dirname "$0")/e2e/lbtest.sh" "${1:-build}"

pins2=/sys/fs/bpf/inferlb-antest2-$$
MPORT=$((20000 + $$ % 20000))

lbtest_cleanup_extra() {
	if [ -n "${NS2:-}" ] && [ -e "/run/netns/$NS2" ]; then
		nsenter --net="/run/netns/$NS2" "$lbctl" --pin-dir "$pins2" unload >/dev/null 2>&1
		ip netns del "$NS2"
	fi
	rm -rf "$pins2" 2>/dev/null
}

LB() { echo "/run/netns/$(topo_ns lb)"; }
B() { echo "198.18.0.$((10 + $1))"; }
V=$VIP4:$PORT/tcp
# our routes, as `ip route` lists them (one line each)
ours() { ip -n "$(topo_ns lb)" route show table 4242 proto 242; }
ours6() { ip -n "$(topo_ns lb)" -6 route show table 4242 proto 242; }
announced() { [ "$(ours)" = "blackhole $VIP4 " ] || [ "$(ours)" = "blackhole $VIP4" ]; }
none() { [ -z "$(ours)" ] && [ -z "$(ours6)" ]; }
# reason: the VIP's reason in `lbctl announce -j`
reason() {
	L announce -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
for v in d["vips"]:
    if v["vip"] == sys.argv[1]:
        print(v["reason"]); sys.exit(0)
print("none")' "$1"
}
digest() {
	"$@" show -j | python3 -c '
import json, sys
print(json.load(sys.stdin)["vips"][0]["table_digest"])'
}

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi

topo_create 2 && topo_peer_xdp_pass "$build/bpf/pass.bpf.o" && topo_start_backends ||
	{ bad "topology"; exit 1; }
NS=$(topo_ns lb)
# routes that are not ours: table 4242 with another protocol, and main
ip -n "$NS" route add blackhole 198.18.5.1/32 table 4242 proto static &&
	ip -n "$NS" route add blackhole 198.18.5.2/32 proto 242 &&
	ip -n "$NS" -6 route add blackhole 2001:db8:5::1/128 table 4242 proto static ||
	{ bad "unrelated routes"; exit 1; }
others() {
	ip -n "$NS" route show table 4242 proto static
	ip -n "$NS" route show table main proto 242
	ip -n "$NS" -6 route show table 4242 proto static
}
others0=$(others)

# ---- 1. bad arguments; not attached ---------------------------------------
L attach "$TOPO_DEV" >/dev/null && L vip add "$V" --mode l2dsr >/dev/null &&
	L backend add "$V" "$(B 1)" >/dev/null && L backend add "$V" "$(B 2)" >/dev/null ||
	{ bad "setup: attach, VIP and two backends"; exit 1; }
for args in "announce sync --table 254" "announce sync --table 0" "announce --table x" \
	"announce sync --proto 12" "announce sync --proto 300" "announce frob" \
	"announce sync extra" "announce status --bogus" "detach $TOPO_DEV --quiet-ms 5"; do
	# shellcheck disable=SC2086
	out=$(L $args 2>&1)
	rc=$?
	[ "$rc" = 2 ] && printf '%s' "$out" | grep -q '^Error: ' && none &&
		[ "$(L show -j | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["devices"]))')" = 1 ] &&
		ok "'lbctl $args': exit 2, nothing changed: $out" ||
		bad "'lbctl $args': exit $rc, routes '$(ours)': $out"
done
out=$(L announce sync --table 254 2>&1)
printf '%s' "$out" | grep -q "main table" && ok "the message says why: $out" || bad "message: $out"

# ---- 2. announced only while a backend takes new flows ----------------------
out=$(L announce sync)
announced && [ "$(reason "$V")" = announced ] &&
	ok "sync: '$(ours)' in table 4242 proto 242 ($(echo "$out" | head -2 | tr '\n' ' '))" ||
	bad "sync: routes '$(ours)', reason $(reason "$V"): $out"
L announce sync >/dev/null
[ "$(ours | wc -l)" = 1 ] && [ "$(L announce sync -j | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["added"], d["removed"])')" = "0 0" ] &&
	ok "sync again: idempotent (added 0, removed 0)" || bad "not idempotent: $(ours)"
L set-weight "$V" "$(B 1)" 0 >/dev/null && L set-weight "$V" "$(B 2)" 0 >/dev/null
L announce sync >/dev/null
none && [ "$(reason "$V")" = "no backend takes new flows" ] &&
	ok "all weights 0: withdrawn (no backend takes new flows)" || bad "weights 0: '$(ours)' $(reason "$V")"
L set-weight "$V" "$(B 1)" 100 >/dev/null && L set-weight "$V" "$(B 2)" 100 >/dev/null
L announce sync >/dev/null
announced && ok "weights back: announced again" || bad "weights back: '$(ours)'"
L backend state "$V" "$(B 1)" down >/dev/null && L backend state "$V" "$(B 2)" down >/dev/null
L announce sync >/dev/null
none && [ "$(reason "$V")" = "no backend takes new flows" ] &&
	ok "all backends DOWN: withdrawn" || bad "DOWN: '$(ours)' $(reason "$V")"
L backend state "$V" "$(B 2)" healthy >/dev/null
L announce sync >/dev/null
announced && ok "one backend HEALTHY again: announced" || bad "healthy again: '$(ours)'"
L backend del "$V" "$(B 1)" >/dev/null && L backend del "$V" "$(B 2)" >/dev/null
L announce sync >/dev/null
none && [ "$(reason "$V")" = "no backends" ] &&
	ok "no backends: withdrawn (no backends)" || bad "no backends: '$(ours)' $(reason "$V")"
L backend add "$V" "$(B 1)" >/dev/null && L backend add "$V" "$(B 2)" >/dev/null
L announce sync >/dev/null
announced || bad "backends back: '$(ours)'"

# ---- 3. withdraw / resume ------------------------------------------------------
L announce withdraw >/dev/null
none && [ "$(reason "$V")" = withdrawn ] && L announce | grep -q 'withdrawn yes' &&
	ok "withdraw: routes removed, status (another process) says withdrawn" ||
	bad "withdraw: '$(ours)' $(reason "$V")"
L announce sync >/dev/null
none && ok "sync while withdrawn adds nothing" || bad "sync while withdrawn: '$(ours)'"
L announce resume >/dev/null
announced && [ "$(reason "$V")" = announced ] && ok "resume: announced again" ||
	bad "resume: '$(ours)'"

# ---- 4. detach and unload withdraw ---------------------------------------------
out=$(L detach "$TOPO_DEV")
none && ok "detach: withdrawn first ($out)" || bad "detach: '$(ours)'"
L attach "$TOPO_DEV" >/dev/null && L announce sync >/dev/null
announced && ok "attach + sync: announced again" || bad "re-attach: '$(ours)'"
L unload >/dev/null
none && ok "unload: withdrawn" || bad "unload: '$(ours)'"
L attach "$TOPO_DEV" >/dev/null && L vip add "$V" --mode l2dsr >/dev/null &&
	L backend add "$V" "$(B 1)" >/dev/null && L backend add "$V" "$(B 2)" >/dev/null &&
	L announce sync >/dev/null && announced || bad "setup again: '$(ours)'"

# ---- 5. detach --drain under traffic --------------------------------------------
# 4 streams of 6000 bytes, 100 every 100 ms: about 6 s of packets to the VIP
topo_exec client "$E2E_BIN/conns" --stream --url "http://$VIP4:$PORT/" --streams 4 \
	--bytes 6000 --chunk 100 --interval-ms 100 --timeout-ms 20000 >"$tmp/conns" 2>&1 &
CONNS=$!
BG+=("$CONNS")
sleep 0.5
t0=$(ms)
nsenter --net="$(LB)" "$lbctl" --pin-dir "$pins" detach "$TOPO_DEV" --drain \
	--quiet-ms 1000 --timeout 30 >"$tmp/drain" 2>&1 &
DRAIN=$!
BG+=("$DRAIN")
wait_for 3 none && ok "detach --drain: route withdrawn at once" || bad "drain: '$(ours)'"
sleep 2
kill -0 "$DRAIN" 2>/dev/null && L show | grep -q "attached to: $TOPO_DEV" &&
	ok "while VIP packets arrive, still attached and waiting" ||
	bad "drain did not wait: $(cat "$tmp/drain")"
wait "$CONNS"
crc=$?
t1=$(ms)
wait "$DRAIN"
rc=$?
t2=$(ms)
[ "$crc" = 0 ] && ok "the streams through the drain all completed" ||
	bad "conns: exit $crc: $(cat "$tmp/conns")"
[ "$rc" = 0 ] && grep -q "detached from $TOPO_DEV after the traffic moved" "$tmp/drain" &&
	grep -q 'VIP packets in the last second' "$tmp/drain" &&
	[ $((t2 - t1)) -ge 900 ] && [ $((t2 - t0)) -lt 30000 ] && none &&
	! L show | grep -q "attached to: $TOPO_DEV" &&
	ok "detached $((t2 - t1)) ms after the traffic stopped, progress printed: $(tail -1 "$tmp/drain")" ||
	bad "drain: exit $rc, $((t2 - t1)) ms after the traffic: $(cat "$tmp/drain")"
L announce | grep -q 'withdrawn no' && ok "after the drain of the last device the flag is cleared" ||
	bad "flag after drain: $(L announce)"

# ---- 6. table_digest across two datapaths -----------------------------------------
# the second datapath in a namespace of its own (pins are global): a veth
# with the balancer's address and the backends as static neighbours
NS2=$(topo_ns lb)-2
ip netns add "$NS2" && ip -n "$NS2" link add x0 type veth peer name x1 &&
	ip -n "$NS2" link set x0 up && ip -n "$NS2" link set x1 up &&
	ip -n "$NS2" addr add "$LB4/24" dev x0 &&
	ip -n "$NS2" neigh add "$(B 1)" lladdr 02:00:00:00:00:11 dev x0 nud permanent &&
	ip -n "$NS2" neigh add "$(B 2)" lladdr 02:00:00:00:00:12 dev x0 nud permanent &&
	ip -n "$NS2" neigh add 198.18.0.40 lladdr 02:00:00:00:00:40 dev x0 nud permanent ||
	bad "digest: second namespace"
L2() { timeout 60 nsenter --net="/run/netns/$NS2" "$lbctl" --pin-dir "$pins2" "$@"; }
L attach "$TOPO_DEV" >/dev/null
L2 attach x0 --mode skb >/dev/null || bad "second datapath: $(L2 attach x0 --mode skb 2>&1)"
L2 vip add "$V" --mode l2dsr >/dev/null
L2 backend add "$V" 198.18.0.40 --weight 1 >/dev/null	# takes id 1 here
L2 backend add "$V" "$(B 2)" --weight 100 >/dev/null &&
	L2 backend add "$V" "$(B 1)" --weight 100 >/dev/null &&
	L2 backend del "$V" 198.18.0.40 >/dev/null || bad "second datapath backends: $(L2 show)"
d1=$(digest L)
d2=$(digest L2)
ids1=$(L show -j | python3 -c 'import json,sys; print(sorted((b["address"],b["id"]) for b in json.load(sys.stdin)["vips"][0]["backends"]))')
ids2=$(L2 show -j | python3 -c 'import json,sys; print(sorted((b["address"],b["id"]) for b in json.load(sys.stdin)["vips"][0]["backends"]))')
[ "$d1" = "$d2" ] && [ "${#d1}" = 16 ] && [ "$ids1" != "$ids2" ] &&
	ok "table_digest equal on two datapaths, other order and ids: $d1 ($ids1 / $ids2)" ||
	bad "digests $d1 / $d2, ids $ids1 / $ids2"
L2 set-weight "$V" "$(B 1)" 50 >/dev/null
d3=$(digest L2)
[ "$d3" != "$d2" ] && [ "${#d3}" = 16 ] && ok "a weight change changes it: $d3" ||
	bad "after set-weight: $d3"
L show | grep -q "digest $d1" && ok "lbctl show prints it" || bad "show: $(L show | head -4)"
L2 unload >/dev/null

# ---- 7. lb-agent announces, and withdraws on SIGTERM -----------------------------
topo_stop_backends
for i in 1 2; do
	ip netns exec "$(topo_ns "b$i")" "$gpusim" --bind 0.0.0.0 --port "$PORT" \
		--name "b$i" >"$tmp/gpusim-b$i.log" 2>&1 &
	BG+=("$!")
	eval "G$i=\$!"
done
for i in 1 2; do
	wait_for 5 topo_exec client curl -s -o /dev/null --max-time 1 \
		"http://$(B $i):$PORT/health" || bad "gpusim b$i did not start"
done
L announce sync >/dev/null	# from lbctl: announced before the agent
cat >"$tmp/agent.yaml" <<EOF
agent:
  metrics_listen: 127.0.0.1:$MPORT
  pin_dir: $pins
  request_timeout_ms: 300
policy:
  poll_interval_ms: 100
  health_interval_ms: 100
  fail_threshold: 2
  slow_start_ms: 0
announce:
  enabled: true
  interval_ms: 200
  drain_ms: 1500
vips:
  - address: $V
    mode: l2dsr
    backends:
      - address: $(B 1)
        url: http://$(B 1):$PORT
      - address: $(B 2)
        url: http://$(B 2):$PORT
EOF
nsenter --net="$(LB)" "$agent" -c "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
AGENT_PID=$!
metric() {
	nsenter --net="$(LB)" curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" |
		grep "^$1" | awk '{ print $2 }'
}
ann1() { [ "$(metric 'inferlb_vip_announced{vip="'"$V"'"}')" = 1 ]; }
wait_for 10 ann1 && announced &&
	ok "lb-agent: announced, inferlb_vip_announced 1, changes $(metric inferlb_announce_route_changes_total)" ||
	bad "agent: '$(ours)', metrics: $(metric inferlb_vip_announced): $(cat "$tmp/agent.log")"
kill "$G1" "$G2" 2>/dev/null
wait "$G1" "$G2" 2>/dev/null
wait_for 10 none && ok "both workers dead: the agent withdrew the route" ||
	bad "workers dead: '$(ours)' $(L show | head -8)"
for i in 1 2; do
	ip netns exec "$(topo_ns "b$i")" "$gpusim" --bind 0.0.0.0 --port "$PORT" \
		--name "b$i" >>"$tmp/gpusim-b$i.log" 2>&1 &
	BG+=("$!")
done
wait_for 15 announced && ok "workers back: announced again" || bad "workers back: '$(ours)'"
kill -TERM "$AGENT_PID"
wait_for 3 none && kill -0 "$AGENT_PID" 2>/dev/null &&
	ok "SIGTERM: withdrawn first, the agent still runs its drain_ms" ||
	bad "SIGTERM: '$(ours)', agent alive: $(kill -0 "$AGENT_PID" 2>&1 && echo yes)"
wait "$AGENT_PID"
arc=$?
AGENT_PID=
[ "$arc" = 0 ] && none && grep -q 'announce: withdrawn' "$tmp/agent.log" &&
	ok "agent exited 0 after the drain, nothing announced" ||
	bad "agent exit $arc: $(tail -5 "$tmp/agent.log")"

# ---- the routes that are not ours ----------------------------------------------------
[ "$(others)" = "$others0" ] && [ -n "$others0" ] &&
	ok "unrelated routes (table 4242 proto static, main proto 242, IPv6) untouched" ||
	bad "unrelated routes changed: '$others0' -> '$(others)'"

echo "announce: $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
