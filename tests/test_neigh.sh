#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_neigh.sh - next-hop MAC resolution (lib/lb_neigh.c) against real
# kernel routing and neighbour tables, in namespaces made for this test:
#
#   lb ns:  lb0 198.18.1.1/24 2001:db8:1::1/64 --veth-- be0 (be ns) .2 / ::2
#           lb1 198.18.2.1/24 2001:db8:2::1/64 --veth-- rt0 (rt ns) .254 / ::fe
#           198.18.3.0/24 via 198.18.2.254, 2001:db8:3::/64 via fe80::(rt0),
#           198.18.4.0/24 via 198.18.2.77 (nobody)
#
# Usage (root): tests/test_neigh.sh [PATH_TO_neigh_probe]
# Only addresses from 198.18.0.0/15 and 2001:db8::/32 are used; every probe
# is bounded by `timeout 5`; the namespaces are removed on exit.
set -u

PROBE=${1:-build/tests/neigh_probe}
NS_LB=nbt-$$-lb
NS_BE=nbt-$$-be
NS_RT=nbt-$$-rt
pass=0
fail=0

if [ "$(id -u)" -ne 0 ]; then
	echo "test_neigh: needs root (network namespaces)" >&2
	exit 1
fi
if [ ! -x "$PROBE" ]; then
	echo "test_neigh: driver $PROBE not found (build it first)" >&2
	exit 1
fi
PROBE=$(readlink -f "$PROBE")

cleanup() {
	for ns in "$NS_LB" "$NS_BE" "$NS_RT"; do
		ip netns del "$ns" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "test_neigh: setup failed: $*" >&2
	exit 1
}

ok() {
	echo "ok   $*"
	pass=$((pass + 1))
}

bad() {
	echo "FAIL $*"
	fail=$((fail + 1))
}

mac_of() {	# NS DEV
	ip -n "$1" link show "$2" | awk '/link\/ether/ { print $2 }'
}

ifindex_of() {	# NS DEV
	ip -n "$1" -o link show "$2" | cut -d: -f1
}

# probe ARGS...: runs the driver in the lb namespace; sets out, rc, ms.
probe() {
	local t0 t1
	t0=$(date +%s%N)
	out=$(timeout 5 ip netns exec "$NS_LB" "$PROBE" "$@" 2>&1)
	rc=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
}

# expect_mac NAME MAC IFINDEX GW PROBE_ARGS...
expect_mac() {
	local name=$1 mac=$2 idx=$3 gw=$4
	shift 4
	probe "$@"
	if [ "$rc" -eq 0 ] && [ "$out" = "mac=$mac ifindex=$idx gw=$gw" ]; then
		ok "$name: $out (${ms} ms)"
	else
		bad "$name: rc=$rc got '$out'," \
			"want 'mac=$mac ifindex=$idx gw=$gw'"
	fi
}

# expect_err NAME RC PATTERN PROBE_ARGS...
expect_err() {
	local name=$1 want_rc=$2 pat=$3
	shift 3
	probe "$@"
	if [ "$rc" -eq "$want_rc" ] && [[ "$out" == *"$pat"* ]]; then
		ok "$name: $out (${ms} ms)"
	else
		bad "$name: rc=$rc (want $want_rc) got '$out', want '*$pat*'"
	fi
}

neigh_absent() {	# FAMILY ADDR DEV
	[ -z "$(ip -n "$NS_LB" "$1" neigh show "$2" dev "$3")" ]
}

# --- setup ----------------------------------------------------------------
for ns in "$NS_LB" "$NS_BE" "$NS_RT"; do
	ip netns add "$ns" || die "netns add $ns"
	# No DAD: addresses (link-local ones too) are usable at once.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0 || die "sysctl in $ns"
	ip -n "$ns" link set lo up || die "lo up in $ns"
done
ip -n "$NS_LB" link add lb0 type veth peer name be0 netns "$NS_BE" ||
	die "veth lb0"
ip -n "$NS_LB" link add lb1 type veth peer name rt0 netns "$NS_RT" ||
	die "veth lb1"
{
	ip -n "$NS_LB" addr add 198.18.1.1/24 dev lb0 &&
	ip -n "$NS_LB" addr add 2001:db8:1::1/64 dev lb0 nodad &&
	ip -n "$NS_LB" addr add 198.18.2.1/24 dev lb1 &&
	ip -n "$NS_LB" addr add 2001:db8:2::1/64 dev lb1 nodad &&
	ip -n "$NS_LB" link set lb0 up && ip -n "$NS_LB" link set lb1 up &&
	ip -n "$NS_BE" addr add 198.18.1.2/24 dev be0 &&
	ip -n "$NS_BE" addr add 2001:db8:1::2/64 dev be0 nodad &&
	ip -n "$NS_BE" link set be0 up &&
	ip -n "$NS_RT" addr add 198.18.2.254/24 dev rt0 &&
	ip -n "$NS_RT" addr add 2001:db8:2::fe/64 dev rt0 nodad &&
	ip -n "$NS_RT" link set rt0 up &&
	ip -n "$NS_LB" route add 198.18.3.0/24 via 198.18.2.254 dev lb1 &&
	# A gateway that does not exist, for the silent-gateway case.
	ip -n "$NS_LB" route add 198.18.4.0/24 via 198.18.2.77 dev lb1
} || die "addresses"

# IPv6 routers are usually reached through their link-local address: wait
# (bounded) for rt0's to appear, then route 2001:db8:3::/64 via it.
rt_ll=
for _ in $(seq 50); do
	rt_ll=$(ip -n "$NS_RT" -6 -o addr show dev rt0 scope link |
		awk '{ sub("/.*", "", $4); print $4 }')
	[ -n "$rt_ll" ] && break
	sleep 0.1
done
[ -n "$rt_ll" ] || die "no link-local address on rt0"
ip -n "$NS_LB" -6 route add 2001:db8:3::/64 via "$rt_ll" dev lb1 ||
	die "ipv6 route"

BE_MAC=$(mac_of "$NS_BE" be0)
RT_MAC=$(mac_of "$NS_RT" rt0)
LB0=$(ifindex_of "$NS_LB" lb0)
LB1=$(ifindex_of "$NS_LB" lb1)
if [ -z "$BE_MAC" ] || [ -z "$RT_MAC" ] || [ -z "$LB0" ] || [ -z "$LB1" ]; then
	die "cannot read MACs/ifindexes"
fi

# --- 1. on-link IPv4, neighbour entry absent at first ----------------------
ip -n "$NS_LB" neigh flush dev lb0
if neigh_absent -4 198.18.1.2 lb0; then
	ok "1. no neighbour entry for 198.18.1.2 before resolving"
else
	bad "1. neighbour entry still present after flush"
fi
expect_mac "1. on-link IPv4 (entry was absent)" "$BE_MAC" "$LB0" 198.18.1.2 \
	-i lb0 198.18.1.2
expect_mac "1. on-link IPv4, entry cached, no oif" "$BE_MAC" "$LB0" \
	198.18.1.2 198.18.1.2

# --- 2. behind a router: the gateway's MAC ---------------------------------
ip -n "$NS_LB" neigh flush dev lb1
expect_mac "2. IPv4 via gateway" "$RT_MAC" "$LB1" 198.18.2.254 198.18.3.7
expect_mac "2. IPv4 via gateway, oif lb1" "$RT_MAC" "$LB1" 198.18.2.254 \
	-i lb1 198.18.3.7

# --- 3. IPv6 ----------------------------------------------------------------
ip -n "$NS_LB" -6 neigh flush dev lb0
if neigh_absent -6 2001:db8:1::2 lb0; then
	ok "3. no neighbour entry for 2001:db8:1::2 before resolving"
else
	bad "3. IPv6 neighbour entry still present after flush"
fi
expect_mac "3. on-link IPv6 (entry was absent)" "$BE_MAC" "$LB0" \
	2001:db8:1::2 -i lb0 2001:db8:1::2
ip -n "$NS_LB" -6 neigh flush dev lb1
expect_mac "3. IPv6 via link-local gateway" "$RT_MAC" "$LB1" "$rt_ll" \
	2001:db8:3::7

# --- 4. on-link address nobody answers --------------------------------------
expect_err "4. silent IPv4 neighbour" 3 \
	"198.18.1.99 via lb0: no ARP reply within 1000 ms" -t 1000 198.18.1.99
if [ "$rc" -eq 3 ] && [ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ]; then
	ok "4. gave up after ${ms} ms (timeout 1000 ms)"
else
	bad "4. gave up after ${ms} ms, want about 1000"
fi
expect_err "4. silent IPv6 neighbour" 3 \
	"no neighbour advertisement within 500 ms" -t 500 2001:db8:1::99
expect_err "4. silent gateway" 3 \
	"198.18.4.1 via gateway 198.18.2.77 on lb1: no ARP reply" -t 300 \
	198.18.4.1

# With one probe 100 ms apart the kernel marks the entry FAILED quickly: the
# resolver must report that before its own timeout, also when it starts
# from the FAILED entry left by the first attempt (it has to re-trigger).
ip netns exec "$NS_LB" sysctl -qw net.ipv4.neigh.lb0.mcast_solicit=1 \
	net.ipv4.neigh.lb0.retrans_time_ms=100 || die "neigh sysctl"
for attempt in first second; do
	expect_err "4. neighbour FAILED ($attempt attempt)" 3 \
		"198.18.1.98 via lb0: no ARP reply (neighbour FAILED)" \
		-t 3000 198.18.1.98
	if [ "$ms" -lt 2000 ]; then
		ok "4. FAILED reported after ${ms} ms, before the timeout"
	else
		bad "4. FAILED reported after ${ms} ms, want well under 3000"
	fi
done

# --- a static (PERMANENT) entry is used as is and left PERMANENT ------------
ip -n "$NS_LB" neigh replace 198.18.1.50 lladdr 02:00:5e:00:00:50 dev lb0 \
	nud permanent || die "static neighbour"
expect_mac "static entry" 02:00:5e:00:00:50 "$LB0" 198.18.1.50 198.18.1.50
if ip -n "$NS_LB" neigh show 198.18.1.50 dev lb0 | grep -q PERMANENT; then
	ok "static entry still PERMANENT"
else
	bad "static entry changed: $(ip -n "$NS_LB" neigh show 198.18.1.50)"
fi

# --- 5. no route ------------------------------------------------------------
expect_err "5. no IPv4 route" 2 "no route to 198.19.200.1" 198.19.200.1
expect_err "5. no IPv6 route" 2 "no route to 2001:db8:ff::1" 2001:db8:ff::1

# --- 6. oif restriction -----------------------------------------------------
expect_err "6. IPv4 routed via another interface" 2 \
	"198.18.3.7 is routed via lb1, not via lb0" -i lb0 198.18.3.7
expect_err "6. IPv6 routed via another interface" 2 \
	"2001:db8:3::7 is routed via lb1, not via lb0" -i lb0 2001:db8:3::7
expect_err "6. no route at all, with oif" 2 "no route to 198.19.200.1 via lb0" \
	-i lb0 198.19.200.1

# --- other refusals ---------------------------------------------------------
expect_err "local IPv4 address" 4 "198.18.1.1 is a local address" 198.18.1.1
expect_err "local IPv6 address" 4 "2001:db8:1::1 is a local address" \
	2001:db8:1::1
expect_err "broadcast address" 4 "broadcast" -i lb0 198.18.1.255

echo "test_neigh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
