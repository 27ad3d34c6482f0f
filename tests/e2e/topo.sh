# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# topo.sh - a sourceable bash library that builds the end-to-end test
# topology (see /work/shared/notes/netns-xdp-testing.md) out of network
# namespaces only; nothing is added to the root namespace:
#
#   client ns  eth0 --veth-- cl  +
#   lb ns      eth0 --veth-- lb  +-- br0 in a "sw" (switch) namespace
#   bI ns      eth0 --veth-- bI  +   (I = 1..N)
#
#   client  198.18.0.1/24  2001:db8::1/64   routes VIP4/VIP6 via the lb
#   lb      198.18.0.2/24  2001:db8::2/64   (forwarding off: without the
#                                            XDP balancer, VIP traffic dies)
#   bI      198.18.0.(10+I) 2001:db8::(10+I) VIP4/32 + VIP6/128 on lo,
#                                            arp_ignore=1, arp_announce=2,
#                                            rp_filter=0 (direct return)
#   VIP4 198.18.1.10, VIP6 2001:db8:1::10 (off-link for the client)
#
# Addresses come only from 198.18.0.0/15 and 2001:db8::/32; IPv6 addresses
# are nodad and DAD/RA are off in every namespace (no start-up delay). The
# client's eth0 has TX checksum offload off, so frames that XDP rewrites
# carry a full TCP checksum. XDP_TX out of the balancer's eth0 is only
# delivered if the bridge-side peer ("lb" in the sw namespace) runs an XDP
# program: topo_peer_xdp_pass attaches an XDP_PASS object there.
#
# Names are unique per run (${E2E_PREFIX:-ilb}$$-NAME) so runs can proceed in
# parallel. Every wait is bounded. Use:
#
#   . tests/e2e/topo.sh
#   trap topo_destroy EXIT
#   topo_create 3 && topo_start_backends
#   topo_exec client "$E2E_BIN/conns" --url "http://$VIP4:$PORT/" --count 100
#
# Functions: topo_create N, topo_destroy, topo_ns NAME, topo_exec NAME CMD...,
# topo_mac NAME, topo_peer_xdp_pass OBJ [PORT...], topo_peer_xdp_off
# [PORT...], topo_start_backends [HTTPD-ARGS...], topo_stop_backends,
# topo_check_l3. NAME is one of sw, client, lb, b1..bN.

_TOPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${E2E_BIN:=$_TOPO_ROOT/build/tools/e2e}"	# httpd and conns
: "${E2E_PREFIX:=ilb}"
: "${PORT:=${E2E_PORT:-8000}}"

VIP4=198.18.1.10
VIP6=2001:db8:1::10
CLIENT4=198.18.0.1
CLIENT6=2001:db8::1
LB4=198.18.0.2
LB6=2001:db8::2
TOPO_DEV=eth0		# the interface in client, lb and backend namespaces
TOPO_LB_PEER=lb		# the balancer's bridge-side port, in the sw namespace
TOPO_ID=
TOPO_N=0
TOPO_DIR=
TOPO_NSES=()
BACKEND4=()
BACKEND6=()
TOPO_PIDS=()

_topo_log() { printf 'topo: %s\n' "$*" >&2; }

# topo_ns NAME: prints the network namespace name of sw|client|lb|bI.
topo_ns() {
	case "${1:-}" in
	sw|switch) printf '%s-sw\n' "$TOPO_ID" ;;
	client|lb) printf '%s-%s\n' "$TOPO_ID" "$1" ;;
	b[0-9]*)
		local i=${1#b}
		if [[ ! $i =~ ^[0-9]+$ ]] || ((i < 1 || i > TOPO_N)); then
			_topo_log "no backend '$1' (have b1..b$TOPO_N)"
			return 1
		fi
		printf '%s-%s\n' "$TOPO_ID" "$1" ;;
	*) _topo_log "unknown node '${1:-}'"; return 1 ;;
	esac
}

# topo_exec NAME CMD...: runs CMD in NAME's network namespace.
topo_exec() {
	local ns
	ns=$(topo_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@"
}

# topo_mac NAME: prints the MAC address of NAME's eth0.
topo_mac() {
	local ns
	ns=$(topo_ns "$1") || return 1
	ip netns exec "$ns" cat "/sys/class/net/$TOPO_DEV/address"
}

# Writes sysctls in one namespace with a single exec: KEY=VALUE...
_topo_sysctl() {
	local ns=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner sh
	ip netns exec "$ns" sh -c '
		for kv in "$@"; do
			k=${kv%%=*}; v=${kv#*=}
			echo "$v" > "/proc/sys/$(echo "$k" | tr . /)" || exit 1
		done' sh "$@"
}

_topo_addns() {
	local ns=$1
	TOPO_NSES+=("$ns")
	ip netns add "$ns" || return 1
	ip -n "$ns" link set dev lo up
}

# Connects NS's eth0 to the bridge through port PORT; MAC is eth0's MAC.
_topo_plug() {
	local ns=$1 port=$2 mac=$3 sw
	sw=$(topo_ns sw)
	ip link add name "$TOPO_DEV" netns "$ns" address "$mac" type veth \
		peer name "$port" netns "$sw" || return 1
	ip -n "$sw" link set dev "$port" master br0 up &&
		ip -n "$ns" link set dev "$TOPO_DEV" up
}

# topo_create N: builds the topology with N backends (1..100).
topo_create() {
	local n=${1:-}
	local i ns sw

	if [[ ! $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 100)); then
		_topo_log "usage: topo_create N (1..100 backends)"
		return 1
	fi
	if ((EUID != 0)); then
		_topo_log "needs root (network namespaces)"
		return 1
	fi
	if [[ -n $TOPO_ID ]]; then
		_topo_log "a topology exists already ($TOPO_ID); topo_destroy first"
		return 1
	fi
	for i in ip ethtool; do
		command -v "$i" >/dev/null || { _topo_log "missing $i"; return 1; }
	done
	TOPO_ID=$E2E_PREFIX$$
	TOPO_N=$n
	TOPO_DIR=$(mktemp -d "/tmp/inferlb-e2e-$TOPO_ID.XXXXXX") || return 1
	BACKEND4=("")
	BACKEND6=("")
	for ((i = 1; i <= n; i++)); do
		BACKEND4[i]=198.18.0.$((10 + i))
		BACKEND6[i]=2001:db8::$((10 + i))
	done

	# The switch: a bridge and nothing else (no IPv6, hence no RS/MLD).
	sw=$(topo_ns sw)
	_topo_addns "$sw" || return 1
	_topo_sysctl "$sw" net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 || return 1
	ip -n "$sw" link add name br0 type bridge stp_state 0 \
		forward_delay 0 mcast_snooping 0 || return 1
	ip -n "$sw" link set dev br0 up || return 1

	# Endpoints: no DAD, no router advertisements; set before eth0 exists.
	for ns in client lb $(seq -f 'b%g' 1 "$n"); do
		ns=$(topo_ns "$ns")
		_topo_addns "$ns" || return 1
		_topo_sysctl "$ns" net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.default.dad_transmits=0 \
			net.ipv6.conf.default.accept_ra=0 \
			net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.all.accept_ra=0 || return 1
	done

	ns=$(topo_ns client)
	_topo_plug "$ns" cl 02:e2:e0:00:00:01 || return 1
	ip -n "$ns" addr add "$CLIENT4/24" dev "$TOPO_DEV" &&
		ip -n "$ns" addr add "$CLIENT6/64" dev "$TOPO_DEV" nodad &&
		ip -n "$ns" route add "$VIP4/32" via "$LB4" &&
		ip -n "$ns" route add "$VIP6/128" via "$LB6" || return 1
	ip netns exec "$ns" ethtool -K "$TOPO_DEV" tx off >/dev/null ||
		return 1

	ns=$(topo_ns lb)
	_topo_plug "$ns" "$TOPO_LB_PEER" 02:e2:e0:00:00:02 || return 1
	ip -n "$ns" addr add "$LB4/24" dev "$TOPO_DEV" &&
		ip -n "$ns" addr add "$LB6/64" dev "$TOPO_DEV" nodad || return 1

	for ((i = 1; i <= n; i++)); do
		ns=$(topo_ns "b$i")
		_topo_sysctl "$ns" net.ipv4.conf.all.arp_ignore=1 \
			net.ipv4.conf.all.arp_announce=2 \
			net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0 || return 1
		_topo_plug "$ns" "b$i" "$(printf '02:e2:e0:00:01:%02x' "$i")" ||
			return 1
		_topo_sysctl "$ns" "net.ipv4.conf.$TOPO_DEV.arp_ignore=1" \
			"net.ipv4.conf.$TOPO_DEV.arp_announce=2" \
			"net.ipv4.conf.$TOPO_DEV.rp_filter=0" \
			net.ipv4.conf.lo.rp_filter=0 || return 1
		ip -n "$ns" addr add "${BACKEND4[i]}/24" dev "$TOPO_DEV" &&
			ip -n "$ns" addr add "${BACKEND6[i]}/64" dev "$TOPO_DEV" nodad &&
			ip -n "$ns" addr add "$VIP4/32" dev lo &&
			ip -n "$ns" addr add "$VIP6/128" dev lo nodad || return 1
	done
	_topo_log "created $TOPO_ID: client, lb, b1..b$n on bridge br0 in $(topo_ns sw)"
}

# topo_check_l3: from the client, one TCP connection attempt (port 9, at
# most 2 s) to the lb's and every backend's own addresses, v4 and v6; a
# refusal proves the path works both ways (no ping needed). Returns
# non-zero if any address is unreachable.
topo_check_l3() {
	local i rc=0 a msg addrs=("$LB4" "$LB6")
	for ((i = 1; i <= TOPO_N; i++)); do
		addrs+=("${BACKEND4[i]}" "${BACKEND6[i]}")
	done
	for a in "${addrs[@]}"; do
		# shellcheck disable=SC2016 # expanded by the inner bash
		if msg=$(topo_exec client timeout 2 bash -c \
			'exec 3<>"/dev/tcp/$1/9"' sh "$a" 2>&1) ||
		   [[ $msg == *refused* ]]; then
			continue
		fi
		_topo_log "client cannot reach $a: ${msg:-timeout}"
		rc=1
	done
	return $rc
}

# topo_peer_xdp_pass OBJ [PORT...]: attaches the XDP program of OBJ (section
# ${TOPO_XDP_SEC:-xdp}, native mode) to bridge-side ports (default: the
# balancer's peer), so that the balancer's XDP_TX frames are delivered.
# Without OBJ it only says so and returns 0.
topo_peer_xdp_pass() {
	local obj=${1:-} sw p
	shift || true
	if [[ -z $obj || ! -f $obj ]]; then
		_topo_log "no XDP_PASS object at '${obj:-}': not attached; the balancer's XDP_TX frames will be lost (rx_queue_0_xdp_tx_errors)"
		return 0
	fi
	(($# > 0)) || set -- "$TOPO_LB_PEER"
	sw=$(topo_ns sw) || return 1
	for p in "$@"; do
		ip -n "$sw" link set dev "$p" xdpdrv obj "$obj" \
			sec "${TOPO_XDP_SEC:-xdp}" || {
			_topo_log "attaching $obj to $p failed"
			return 1
		}
	done
}

# topo_peer_xdp_off [PORT...]: detaches what topo_peer_xdp_pass attached.
topo_peer_xdp_off() {
	local sw p
	(($# > 0)) || set -- "$TOPO_LB_PEER"
	sw=$(topo_ns sw) || return 1
	for p in "$@"; do
		ip -n "$sw" link set dev "$p" xdpdrv off || return 1
	done
}

# Is PID alive and not a zombie?
_topo_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $st != Z ]]
}

# topo_start_backends [HTTPD-ARGS...]: httpd named bI in each backend on
# $PORT; waits (at most 5 s each) until each listens. Logs: $TOPO_DIR.
topo_start_backends() {
	local i j log
	if [[ ! -x $E2E_BIN/httpd ]]; then
		_topo_log "no $E2E_BIN/httpd (set E2E_BIN)"
		return 1
	fi
	for ((i = 1; i <= TOPO_N; i++)); do
		log=$TOPO_DIR/httpd-b$i.log
		ip netns exec "$(topo_ns "b$i")" "$E2E_BIN/httpd" --name "b$i" \
			--port "$PORT" "$@" >"$log" 2>&1 &
		TOPO_PIDS[i]=$!
	done
	for ((i = 1; i <= TOPO_N; i++)); do
		log=$TOPO_DIR/httpd-b$i.log
		for ((j = 0; j < 100; j++)); do
			grep -q ' listening ' "$log" 2>/dev/null && break
			_topo_alive "${TOPO_PIDS[i]}" || break
			sleep 0.05
		done
		if ! grep -q ' listening ' "$log" 2>/dev/null; then
			_topo_log "httpd b$i did not start:"
			cat "$log" >&2
			return 1
		fi
	done
}

# topo_stop_backends: SIGTERM each httpd we started, SIGKILL after 3 s.
topo_stop_backends() {
	local i j pid
	for i in "${!TOPO_PIDS[@]}"; do
		pid=${TOPO_PIDS[i]}
		kill -TERM "$pid" 2>/dev/null || true
	done
	for i in "${!TOPO_PIDS[@]}"; do
		pid=${TOPO_PIDS[i]}
		for ((j = 0; j < 60; j++)); do
			_topo_alive "$pid" || break
			sleep 0.05
		done
		if _topo_alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	TOPO_PIDS=()
	return 0
}

# topo_destroy: stops the backends and any other process left in our
# namespaces, deletes the namespaces (and with them every veth and the
# bridge). Idempotent; meant for "trap topo_destroy EXIT".
topo_destroy() {
	local ns k pid pids
	topo_stop_backends
	for ((k = ${#TOPO_NSES[@]} - 1; k >= 0; k--)); do
		ns=${TOPO_NSES[k]}
		[[ -e /run/netns/$ns ]] || continue
		# Processes the test started inside this run's namespaces.
		pids=$(ip netns pids "$ns" 2>/dev/null)
		if [[ -n $pids ]]; then
			for pid in $pids; do
				kill -TERM "$pid" 2>/dev/null || true
			done
			sleep 0.2
			for pid in $(ip netns pids "$ns" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null || true
			done
		fi
		ip netns del "$ns" 2>/dev/null ||
			_topo_log "could not delete namespace $ns"
	done
	TOPO_NSES=()
	if [[ -n $TOPO_DIR && -d $TOPO_DIR ]]; then
		if [[ -n ${E2E_KEEP_LOGS:-} ]]; then
			_topo_log "logs kept in $TOPO_DIR"
		else
			rm -rf -- "$TOPO_DIR"
		fi
	fi
	TOPO_DIR=
	TOPO_ID=
	TOPO_N=0
	return 0
}
