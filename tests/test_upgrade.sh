#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_upgrade.sh - `lbctl upgrade` under load, in namespaces
# (tests/e2e/topo.sh): a client, the balancer (ipip VIP, native XDP) and two
# backends running httpd behind the decap program.
#   1. 50 streaming responses run through the balancer while `lbctl
#      upgrade` replaces its program 10 times (built-in object and --obj
#      file in turn) and `lbctl decap upgrade` replaces b1's 3 times:
#      every stream completes intact (every byte checked), the program id
#      changes each time (on the device too), no packet is counted as
#      dropped, and the packet counters go on growing (maps are reused).
#   2. objects that do not fit the pinned maps are refused while the
#      streams run, changing nothing (program id on the device and the
#      pin, every pinned map's id, the pins): one of another schema
#      number (the built object with its schema tag patched), one whose
#      IPv4 flow table has another size (tests/upgrade_shape.bpf.c).
#   3. nothing loaded: a clear error, exit 1.
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_upgrade.sh BUILD_DIR
export E2E_PREFIX=upg
# shellcheck source=tests/e2e/lbtest.sh
. "$(dirname "$0")/e2e/lbtest.sh" "${1:-build}"

obj=$build/bpf/lb.bpf.o
shape_obj=$build/tests/upgrade_shape.bpf.o
pins_be=()
UPGRADES=10
STREAMS=50
t_start=$(date +%s)

lbtest_cleanup_extra() {
	local p
	for p in "${pins_be[@]}"; do
		"$lbctl" --pin-dir "$p" unload >/dev/null 2>&1
		rm -rf "$p" 2>/dev/null
	done
}

in_ns() { local n=$1; shift; timeout 60 nsenter --net="/run/netns/$(topo_ns "$n")" "$@"; }

# json FILE EXPR: a Python expression over the JSON document d in FILE
json() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"
}
# the XDP program id on NODE's eth0
dev_prog() {
	ip -n "$(topo_ns "$1")" -d link show dev "$TOPO_DEV" |
		sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -1
}
# VIP packets and the sum of every drop_* reason, from `lbctl stats -j`
stats() { # stats OUT
	L stats -j >"$1" || return 1
}
vip_packets() { json "$1" 'sum(v["packets"] for v in d["vips"])'; }
drops() { json "$1" 'sum(n for k, n in d["reasons"].items() if k.startswith("drop_"))'; }
# what a refused upgrade must not change: the program on the device and
# pinned, the maps it uses, every pin (name and inode: a pin replaced
# or added shows)
snapshot() {
	echo "device $(dev_prog lb)"
	bpftool -j prog show pinned "$pins/prog_xdp_lb" |
		python3 -c 'import json, sys; d = json.load(sys.stdin); print("pinned", d["id"], "maps", d["map_ids"])'
	stat -c 'pin %n %i' "$pins"/*
}
streams_open() { kill -0 "$SPID" 2>/dev/null; }
flows_at_least() { # flows_at_least N: new flows counted on the VIP
	stats "$tmp/s" && [ "$(json "$tmp/s" 'sum(v["new_flows"] for v in d["vips"])')" -ge "$1" ]
}

echo "== topology: client, balancer, 2 backends behind decap"
topo_create 2 && topo_start_backends --quiet &&
	topo_peer_xdp_pass "$build/bpf/pass.bpf.o" || { bad "topology"; exit 1; }
for i in 1 2; do
	pins_be+=("/sys/fs/bpf/inferlb-upgtest-$$-b$i")
	in_ns "b$i" "$lbctl" --pin-dir "${pins_be[i - 1]}" decap attach "$TOPO_DEV" \
		>/dev/null || { bad "decap attach b$i"; exit 1; }
done
vip="$VIP4:$PORT/tcp"
L attach "$TOPO_DEV" >/dev/null && L vip add "$vip" --mode ipip >/dev/null &&
	L backend add "$vip" "${BACKEND4[1]}" >/dev/null &&
	L backend add "$vip" "${BACKEND4[2]}" >/dev/null || { bad "balancer set-up"; exit 1; }
ok "balancer attached, VIP $vip over b1, b2 (ipip, decap on both)"

echo "== 1. $STREAMS streams while the program is replaced $UPGRADES times"
# 450 kB in 500-byte chunks every 20 ms: each stream lasts ~18 s
ip netns exec "$(topo_ns client)" timeout 60 "$E2E_BIN/conns" --stream \
	--url "http://$VIP4:$PORT/" --streams "$STREAMS" --bytes 450000 --chunk 500 \
	--interval-ms 20 --timeout-ms 5000 >"$tmp/streams.out" 2>&1 &
SPID=$!
flows_with_all() { flows_at_least "$STREAMS"; }
wait_for 10 flows_with_all || bad "the $STREAMS streams did not all start"
stats "$tmp/s0"
p_prev=$(vip_packets "$tmp/s0")
drops0=$(drops "$tmp/s0")
prev=$(dev_prog lb)
t_loop=$(ms)
ids_ok=0 counters_ok=0 durs=()
for ((i = 1; i <= UPGRADES; i++)); do
	args=()
	((i % 2 == 0)) && args=(--obj "$obj")
	t0=$(ms)
	if ! L -j upgrade "${args[@]}" >"$tmp/up.json" 2>"$tmp/up.err"; then
		bad "upgrade $i ${args[*]}: $(cat "$tmp/up.err")"
		continue
	fi
	durs+=($(($(ms) - t0)))
	stats "$tmp/s"
	# one python run: the upgrade's report and the VIP packets after it
	read -r old new devnew reused swap_us p < <(python3 -c '
import json, sys
u = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
print(u["old_prog_id"], u["new_prog_id"],
      ",".join(str(x["new_prog_id"]) for x in u["devices"]),
      u["maps_reused"], u["swap_us"], sum(v["packets"] for v in s["vips"]))' \
		"$tmp/up.json" "$tmp/s")
	if [ "$old" = "$prev" ] && [ "$new" != "$old" ] && [ "$devnew" = "$new" ] &&
	   [ "$(dev_prog lb)" = "$new" ] && [ "$reused" -gt 0 ]; then
		ids_ok=$((ids_ok + 1))
	else
		bad "upgrade $i: program $old -> $new, devices $devnew, eth0 runs $(dev_prog lb), was $prev"
	fi
	prev=$new
	if [ "$p" -ge "$p_prev" ]; then counters_ok=$((counters_ok + 1)); else
		bad "upgrade $i: VIP packets went from $p_prev to $p (counters reset?)"; fi
	p_prev=$p
	if ((i == 3)); then
		echo "== 2. objects that do not fit are refused (streams running)"
		snapshot >"$tmp/snap_a"
		# the built object with another schema number in its tag
		python3 - "$obj" "$tmp/schema.o" <<'EOF'
import re, sys
data = open(sys.argv[1], 'rb').read()
# every copy (BTF and DWARF), same length, so no offset moves
def other(m):
    cur = m.group(1)
    return b'inferlb_schema:' + (b'8' if cur == b'9' * len(cur) else b'9') * len(cur)
out, n = re.subn(rb'inferlb_schema:(\d+)', other, data)
assert n > 0
open(sys.argv[2], 'wb').write(out)
EOF
		L upgrade --obj "$tmp/schema.o" >/dev/null 2>"$tmp/refuse1.err"
		rc1=$?
		L upgrade --obj "$shape_obj" >/dev/null 2>"$tmp/refuse2.err"
		rc2=$?
		snapshot >"$tmp/snap_b"
		if [ $rc1 = 1 ] && grep -q 'schema v9*8*, the pinned maps of v' "$tmp/refuse1.err"; then
			ok "an object of another schema is refused: $(cat "$tmp/refuse1.err")"
		else
			bad "schema refusal (exit $rc1): $(cat "$tmp/refuse1.err")"
		fi
		if [ $rc2 = 1 ] && grep -q 'lb_flows4: .*max_entries' "$tmp/refuse2.err"; then
			ok "an object with another flow table size is refused: $(cat "$tmp/refuse2.err")"
		else
			bad "map-shape refusal (exit $rc2): $(cat "$tmp/refuse2.err")"
		fi
		if cmp -s "$tmp/snap_a" "$tmp/snap_b" && [ "$(grep -c '/lb_' "$tmp/snap_a")" -gt 20 ]; then
			ok "the refusals changed nothing: program $(dev_prog lb) on eth0 and pinned, the same maps, $(grep -c '^pin ' "$tmp/snap_a") pins as they were"
		else
			bad "a refused upgrade changed something: $(diff "$tmp/snap_a" "$tmp/snap_b" | tr '\n' ' ')"
		fi
	fi
	if ((i == 2 || i == 5 || i == 8)); then # b1's decap program, too
		d0=$(dev_prog b1)
		if in_ns b1 "$lbctl" --pin-dir "${pins_be[0]}" decap upgrade >"$tmp/dup.out" 2>&1 &&
		   [ "$(dev_prog b1)" != "$d0" ] && [ -n "$d0" ]; then
			decap_ok=$((${decap_ok:-0} + 1))
		else
			bad "decap upgrade on b1 (program $d0 -> $(dev_prog b1)): $(cat "$tmp/dup.out")"
		fi
	fi
done
streams_open && still_open=yes || still_open=no
t_loop=$(($(ms) - t_loop))
wait "$SPID"
src=$?
SPID=
n_ok=$(grep -c ' ok$' "$tmp/streams.out")
if [ "$still_open" = yes ] && [ $src = 0 ] && [ "$n_ok" = "$STREAMS" ] &&
   ! grep -q BROKEN "$tmp/streams.out"; then
	ok "$STREAMS streams completed intact, 0 broken, across $UPGRADES upgrades (still open after the last)"
else
	bad "streams: exit $src, $n_ok of $STREAMS intact, open after the upgrades: $still_open: $(grep -v ' ok$' "$tmp/streams.out" | head -5 | tr '\n' ' ')"
fi
[ "$ids_ok" = "$UPGRADES" ] &&
	ok "the program id changed each of $UPGRADES times, on eth0 too, each upgrade starting from the last one's program"
[ "${decap_ok:-0}" = 3 ] && ok "b1's decap program replaced 3 times under the streams"
stats "$tmp/s1"
p1=$(vip_packets "$tmp/s1")
drops1=$(drops "$tmp/s1")
p0=$(vip_packets "$tmp/s0")
if [ "$counters_ok" = "$UPGRADES" ] && [ "$p1" -gt "$p0" ]; then
	ok "counters went on: VIP packets $p0 before the upgrades, $p1 after, never lower after an upgrade"
else
	bad "counters: $p0 -> $p1, grew after $counters_ok of $UPGRADES upgrades"
fi
if [ "$drops1" = "$drops0" ]; then
	ok "no packet counted as dropped across the upgrades (drop_* sum $drops0 -> $drops1)"
else
	bad "drops across the upgrades: $drops0 -> $drops1: $(json "$tmp/s1" 'd["reasons"]')"
fi
sorted=$(printf '%s\n' "${durs[@]}" | sort -n)
echo "     upgrade wall time (lbctl run, ms): min $(echo "$sorted" | head -1)," \
	"median $(echo "$sorted" | sed -n "$(((${#durs[@]} + 1) / 2))p"), max $(echo "$sorted" | tail -1);" \
	"last swap $swap_us us; all upgrades and checks took $t_loop ms"

echo "== 3. nothing loaded"
out=$(L --pin-dir "$pins-none" upgrade 2>&1)
rc=$?
if [ $rc = 1 ] && [[ $out == *"not attached"* ]]; then ok "no pins: exit 1, '$out'"
else bad "upgrade with nothing loaded: exit $rc, '$out'"; fi

echo "upgrade: $PASSES passed, $FAILS failed in $(($(date +%s) - t_start)) s"
[ "$FAILS" -eq 0 ]
