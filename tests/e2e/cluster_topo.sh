# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# cluster_topo.sh - a sourceable bash library that builds a multi-host
# inferlb topology out of network namespaces only: three balancer hosts
# behind a BGP router that spreads flows over them (ECMP), N backends,
# a client behind the router, and an etcd for lb-agent's cluster mode:
#
#   client ns eth0 --veth-- eth0 router ns eth1 --veth-- rt  +
#   lbI ns    eth0 --veth-- lbI (I = 1..3)                    +-- br0 in a
#   bJ ns     eth0 --veth-- bJ  (J = 1..N)                    +   "sw" ns
#   etcd ns   eth0 --veth-- etcd (cl_etcd_start)              +
#
#   client  198.18.2.1/24, 198.18.0.0/15 via the router
#   router  198.18.2.254/24 (eth0), 198.18.0.254/24 (eth1); forwarding on,
#           fib_multipath_hash_policy=1 (L4 hash), BIRD 2 with one BGP
#           session per balancer host (examples/bird/router-ecmp.conf):
#           the VIP's kernel route has one next hop per announcing host
#   lbI     198.18.0.(1+I)/24; the inferlb datapath on eth0 (pins under
#           /sys/fs/bpf/inferlb-$CL_ID-lbI), BIRD 2 with
#           examples/bird/inferlb-host.conf: it learns the blackhole VIP
#           routes of kernel table 4242 / proto 242 and announces them
#   bJ      198.18.0.(10+J)/24, VIP on lo (arp_ignore, arp_announce,
#           rp_filter off), xdp_decap on eth0 (IPIP), default route via
#           the router: replies go straight to the client (DSR); httpd on
#           $PORT (the VIP's traffic), with cl_start_workers a gpusim on
#           $CL_WORKER_PORT (engine metrics and health for lb-agent)
#   etcd    198.18.0.250/24, client URL http://198.18.0.250:2379
#   VIP4    198.18.1.10 (port $PORT)
#
# Names are unique per run (${CL_PREFIX:-cl}$$-NAME); addresses come only
# from 198.18.0.0/15. Senders (client, router) have TX checksum offload
# off; the balancers' XDP_TX frames are delivered because their bridge-side
# peers run an XDP_PASS program (see /work/shared/notes/netns-xdp-testing.md).
# Every wait is bounded; cl_destroy removes every namespace, daemon (BIRD,
# etcd, httpd), pin directory and temp dir; use "trap cl_destroy EXIT".
#
#   . tests/e2e/cluster_topo.sh
#   trap cl_destroy EXIT
#   cl_create 3 && cl_start_backends && cl_bird_start_all &&
#   for i in 1 2 3; do cl_host_start $i; done
#   cl_wait_nexthops 10 "$(cl_lb_addr 1) $(cl_lb_addr 2) $(cl_lb_addr 3)"
#
# Functions: cl_create N, cl_destroy, cl_ns NAME, cl_exec NAME CMD...,
# cl_nsenter NAME CMD..., cl_lbctl I ARGS..., cl_lb_addr I, cl_pins I,
# cl_start_backends [HTTPD-ARGS...], cl_bird_start NODE, cl_bird_stop NODE,
# cl_bird_kill NODE, cl_bird_start_all, cl_birdc NODE CMD..., cl_bgp_up,
# cl_host_up I [W...], cl_host_start I [W...], cl_host_stop I
# [detach|unload], cl_vip_announce I, cl_vip_withdraw I, cl_router_nexthops,
# cl_wait_nexthops SECONDS "ADDRS", cl_monitor_start, cl_monitor_stop,
# cl_route_changed_ms T0 "ADDRS", cl_etcd_start, cl_etcd_stop,
# cl_etcd_kill, cl_etcd_pause, cl_etcd_resume, cl_etcd_url,
# cl_start_workers, cl_worker_get J PATH, cl_worker_fault J MODE,
# cl_agent_start I [attach], cl_agent_stop I [SIGNAL], cl_agent_show I.
# NAME is one of sw, router, client, etcd, lb1..lb3, b1..bN.

_CL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${CL_BUILD:=$_CL_ROOT/build}"
: "${E2E_BIN:=$CL_BUILD/tools/e2e}"	# httpd and conns
: "${CL_PREFIX:=cl}"
: "${PORT:=${E2E_PORT:-8000}}"
: "${CL_BIRD:=bird}"
: "${CL_BIRDC:=birdc}"
: "${CL_ETCD:=etcd}"
: "${CL_ETCDCTL:=etcdctl}"
: "${CL_GPUSIM:=$CL_BUILD/tools/gpusim}"
: "${CL_WORKER_PORT:=8001}"	# gpusim on each backend: what lb-agent polls
: "${CL_LEASE_TTL:=3}"		# cluster mode's etcd lease, seconds
: "${CL_POLICY:=maglev}"		# the VIP's policy in the agents' config

CL_HOSTS=3		# balancer hosts lb1..lb3
VIP4=198.18.1.10
CLIENT4=198.18.2.1
ROUTER_CL4=198.18.2.254	# the router on the client's link
ROUTER4=198.18.0.254	# the router on the hosts' segment
ETCD4=198.18.0.250
CL_ROUTER_AS=65000
CL_HOST_AS=65001
CL_TABLE=4242		# inferlb's VIP routes: kernel table and protocol
CL_PROTO=242
CL_DEV=eth0
CL_ID=
CL_N=0
CL_DIR=
CL_NSES=()
CL_BACKEND4=()
CL_HTTPD_PIDS=()
CL_WORKER_PIDS=()
declare -A CL_AGENT_PIDS=()
declare -A CL_BIRD_PIDS=()
CL_ETCD_PID=
CL_MON_PID=
CL_PINS=()		# every pin directory made (balancers and decap)

_cl_log() { printf 'cluster: %s\n' "$*" >&2; }

# cl_ns NAME: the network namespace name of a node
cl_ns() {
	local i
	case "${1:-}" in
	sw|router|client|etcd) printf '%s-%s\n' "$CL_ID" "$1" ;;
	lb[0-9]*)
		i=${1#lb}
		if [[ ! $i =~ ^[0-9]+$ ]] || ((i < 1 || i > CL_HOSTS)); then
			_cl_log "no balancer host '$1' (have lb1..lb$CL_HOSTS)"
			return 1
		fi
		printf '%s-%s\n' "$CL_ID" "$1" ;;
	b[0-9]*)
		i=${1#b}
		if [[ ! $i =~ ^[0-9]+$ ]] || ((i < 1 || i > CL_N)); then
			_cl_log "no backend '$1' (have b1..b$CL_N)"
			return 1
		fi
		printf '%s-%s\n' "$CL_ID" "$1" ;;
	*) _cl_log "unknown node '${1:-}'"; return 1 ;;
	esac
}

# cl_exec NAME CMD...: CMD in NAME's network namespace (a private mount
# namespace: /sys/fs/bpf is not visible; see cl_nsenter)
cl_exec() {
	local ns
	ns=$(cl_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@"
}

# cl_nsenter NAME CMD...: CMD in NAME's network namespace only, so pins
# under /sys/fs/bpf persist (lbctl)
cl_nsenter() {
	local ns
	ns=$(cl_ns "$1") || return 1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

cl_lb_addr() { printf '198.18.0.%d\n' $((1 + $1)); }
cl_pins() { printf '/sys/fs/bpf/inferlb-%s-lb%d\n' "$CL_ID" "$1"; }
_cl_decap_pins() { printf '/sys/fs/bpf/inferlb-%s-b%d\n' "$CL_ID" "$1"; }

# cl_lbctl I ARGS...: lbctl on balancer host I with its own pin directory
cl_lbctl() {
	local i=$1
	shift
	timeout 30 nsenter --net="/run/netns/$(cl_ns "lb$i")" \
		"$CL_BUILD/lbctl" --pin-dir "$(cl_pins "$i")" "$@"
}

_cl_sysctl() {
	local ns=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner sh
	ip netns exec "$ns" sh -c '
		for kv in "$@"; do
			k=${kv%%=*}; v=${kv#*=}
			echo "$v" > "/proc/sys/$(echo "$k" | tr . /)" || exit 1
		done' sh "$@"
}

_cl_addns() {
	local ns=$1
	CL_NSES+=("$ns")
	ip netns add "$ns" || return 1
	ip -n "$ns" link set dev lo up || return 1
	# no DAD, no router advertisements, no IPv6 chatter at all
	_cl_sysctl "$ns" net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
}

# _cl_plug NODE PORT [DEV]: NODE's DEV (eth0) to port PORT of the bridge
_cl_plug() {
	local ns sw dev=${3:-$CL_DEV}
	ns=$(cl_ns "$1") || return 1
	sw=$(cl_ns sw)
	ip link add name "$dev" netns "$ns" type veth \
		peer name "$2" netns "$sw" || return 1
	ip -n "$sw" link set dev "$2" master br0 up &&
		ip -n "$ns" link set dev "$dev" up
}

# cl_create N: the topology with N backends (1..50); no daemon yet
cl_create() {
	local n=${1:-} i ns sw c
	if [[ ! $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 50)); then
		_cl_log "usage: cl_create N (1..50 backends)"
		return 1
	fi
	if ((EUID != 0)); then
		_cl_log "needs root (network namespaces, XDP)"
		return 1
	fi
	if [[ -n $CL_ID ]]; then
		_cl_log "a topology exists already ($CL_ID); cl_destroy first"
		return 1
	fi
	for c in ip ethtool nsenter "$CL_BIRD" "$CL_BIRDC"; do
		command -v "$c" >/dev/null || { _cl_log "missing $c (scripts/install-deps.sh)"; return 1; }
	done
	for c in "$CL_BUILD/lbctl" "$CL_BUILD/bpf/pass.bpf.o"; do
		[[ -e $c ]] || { _cl_log "missing $c: build first (make)"; return 1; }
	done
	CL_ID=$CL_PREFIX$$
	CL_N=$n
	CL_DIR=$(mktemp -d "/tmp/inferlb-cluster-$CL_ID.XXXXXX") || return 1
	CL_BACKEND4=("")
	for ((i = 1; i <= n; i++)); do
		CL_BACKEND4[i]=198.18.0.$((10 + i))
	done
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || return 1

	sw=$(cl_ns sw)
	_cl_addns "$sw" || return 1
	ip -n "$sw" link add name br0 type bridge stp_state 0 \
		forward_delay 0 mcast_snooping 0 || return 1
	ip -n "$sw" link set dev br0 up || return 1

	# the router: eth0 towards the client (a link of its own), eth1 on
	# the hosts' segment
	_cl_addns "$(cl_ns router)" && _cl_addns "$(cl_ns client)" || return 1
	ns=$(cl_ns router)
	ip link add name eth0 netns "$ns" type veth peer name eth0 \
		netns "$(cl_ns client)" || return 1
	_cl_plug router rt eth1 || return 1
	ip -n "$ns" link set dev eth0 up &&
		ip -n "$ns" addr add "$ROUTER_CL4/24" dev eth0 &&
		ip -n "$ns" addr add "$ROUTER4/24" dev eth1 || return 1
	_cl_sysctl "$ns" net.ipv4.ip_forward=1 \
		net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0 ||
		return 1
	# the router forwards the client's frames to the balancers, whose XDP
	# rewrites them: full checksums needed
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null &&
		ip netns exec "$ns" ethtool -K eth1 tx off >/dev/null || return 1

	ns=$(cl_ns client)
	ip -n "$ns" link set dev eth0 up &&
		ip -n "$ns" addr add "$CLIENT4/24" dev eth0 &&
		ip -n "$ns" route add 198.18.0.0/15 via "$ROUTER_CL4" || return 1
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null || return 1
	# many connections in little time: ports enough, no TIME_WAIT limit
	_cl_sysctl "$ns" net.ipv4.ip_local_port_range="20000 60999" \
		net.ipv4.tcp_tw_reuse=1 || return 1

	for ((i = 1; i <= CL_HOSTS; i++)); do
		ns=$(cl_ns "lb$i")
		_cl_addns "$ns" && _cl_plug "lb$i" "lb$i" || return 1
		ip -n "$ns" addr add "$(cl_lb_addr "$i")/24" dev "$CL_DEV" &&
			ip -n "$ns" route add 198.18.2.0/24 via "$ROUTER4" || return 1
		# XDP_TX out of lbI's eth0 needs a program on its peer
		ip -n "$sw" link set dev "lb$i" xdpdrv \
			obj "$CL_BUILD/bpf/pass.bpf.o" sec xdp || return 1
	done

	for ((i = 1; i <= n; i++)); do
		ns=$(cl_ns "b$i")
		_cl_addns "$ns" || return 1
		_cl_sysctl "$ns" net.ipv4.conf.all.arp_ignore=1 \
			net.ipv4.conf.all.arp_announce=2 \
			net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0 || return 1
		_cl_plug "b$i" "b$i" || return 1
		_cl_sysctl "$ns" "net.ipv4.conf.$CL_DEV.arp_ignore=1" \
			"net.ipv4.conf.$CL_DEV.arp_announce=2" \
			"net.ipv4.conf.$CL_DEV.rp_filter=0" \
			net.ipv4.conf.lo.rp_filter=0 || return 1
		ip -n "$ns" addr add "${CL_BACKEND4[i]}/24" dev "$CL_DEV" &&
			ip -n "$ns" addr add "$VIP4/32" dev lo &&
			ip -n "$ns" route add default via "$ROUTER4" || return 1
		# second chance: a backend's xdp_decap sends a chained packet it
		# holds no socket for on to the second hop by XDP_TX, which
		# needs a program on its peer too, and the kernel resolves a
		# second hop it has not met yet only while forwarding is on
		_cl_sysctl "$ns" net.ipv4.ip_forward=1 || return 1
		ip -n "$sw" link set dev "b$i" xdpdrv \
			obj "$CL_BUILD/bpf/pass.bpf.o" sec xdp || return 1
	done
	_cl_log "created $CL_ID: client, router, lb1..lb$CL_HOSTS, b1..b$n (logs in $CL_DIR)"
}

_cl_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $st != Z ]]
}

# _cl_stop_pid PID [SIGNAL]: SIGNAL (TERM), SIGKILL after 3 s, reaped
_cl_stop_pid() {
	local pid=$1 j
	[[ -n $pid ]] || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null || true
	for ((j = 0; j < 60; j++)); do
		_cl_alive "$pid" || break
		sleep 0.05
	done
	_cl_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# cl_start_backends [HTTPD-ARGS...]: xdp_decap on each backend's eth0
# (IPIP from the balancers), httpd named bJ on $PORT; waits until each
# listens (5 s at most each)
cl_start_backends() {
	local i j log p
	[[ -x $E2E_BIN/httpd ]] || { _cl_log "no $E2E_BIN/httpd"; return 1; }
	for ((i = 1; i <= CL_N; i++)); do
		p=$(_cl_decap_pins "$i")
		CL_PINS+=("$p")
		cl_nsenter "b$i" "$CL_BUILD/lbctl" --pin-dir "$p" decap attach \
			"$CL_DEV" >/dev/null || { _cl_log "decap attach on b$i failed"; return 1; }
		log=$CL_DIR/httpd-b$i.log
		ip netns exec "$(cl_ns "b$i")" "$E2E_BIN/httpd" --name "b$i" \
			--port "$PORT" "$@" >"$log" 2>&1 &
		CL_HTTPD_PIDS[i]=$!
	done
	for ((i = 1; i <= CL_N; i++)); do
		log=$CL_DIR/httpd-b$i.log
		for ((j = 0; j < 100; j++)); do
			grep -q ' listening ' "$log" 2>/dev/null && break
			_cl_alive "${CL_HTTPD_PIDS[i]}" || break
			sleep 0.05
		done
		grep -q ' listening ' "$log" 2>/dev/null ||
			{ _cl_log "httpd b$i did not start: $(cat "$log")"; return 1; }
	done
}

# _cl_bird_conf NODE: writes NODE's BIRD configuration from the shipped
# examples (only their `define` lines, the log line and the example peers
# are rewritten; with CL_BFD=1 their BFD lines are uncommented) and prints
# its path
_cl_bird_conf() {
	local node=$1 conf=$CL_DIR/bird-$1.conf i sed_args
	sed_args=(-e "s|^log .*|log \"$CL_DIR/bird-$node.log\" all;|")
	# CL_BFD=1: the configs' commented BFD lines turned on
	[[ ${CL_BFD:-0} == 1 ]] && sed_args+=(-e '/^# protocol bfd {/,/^# }/ s/^# \{0,1\}//'
		-e 's/^\t# bfd on;.*/\tbfd on;/')
	if [[ $node == router ]]; then
		sed_args+=(-e "s|^define ROUTER_ADDR *=.*|define ROUTER_ADDR = $ROUTER4;|"
			-e "s|^define ROUTER_AS *=.*|define ROUTER_AS   = $CL_ROUTER_AS;|"
			-e "s|^define HOSTS_AS *=.*|define HOSTS_AS    = $CL_HOST_AS;|"
			-e '/# example peer$/d')
		sed "${sed_args[@]}" "$_CL_ROOT/examples/bird/router-ecmp.conf" >"$conf" || return 1
		for ((i = 1; i <= CL_HOSTS; i++)); do
			printf 'protocol bgp lb%d from inferlb_host { neighbor %s as HOSTS_AS; }\n' \
				"$i" "$(cl_lb_addr "$i")" >>"$conf"
		done
	else
		sed_args+=(-e "s|^define HOST_ADDR *=.*|define HOST_ADDR   = $(cl_lb_addr "${node#lb}");|"
			-e "s|^define HOST_AS *=.*|define HOST_AS     = $CL_HOST_AS;|"
			-e "s|^define ROUTER_ADDR *=.*|define ROUTER_ADDR = $ROUTER4;|"
			-e "s|^define ROUTER_AS *=.*|define ROUTER_AS   = $CL_ROUTER_AS;|"
			-e "s|^define INFERLB_TABLE *=.*|define INFERLB_TABLE = $CL_TABLE;|"
			-e "s|^define INFERLB_PROTO *=.*|define INFERLB_PROTO = $CL_PROTO;|")
		sed "${sed_args[@]}" "$_CL_ROOT/examples/bird/inferlb-host.conf" >"$conf" || return 1
	fi
	printf '%s\n' "$conf"
}

_cl_bird_sock() { printf '%s/bird-%s.ctl\n' "$CL_DIR" "$1"; }

# cl_birdc NODE CMD...: birdc on NODE's BIRD (its own control socket)
cl_birdc() {
	local node=$1
	shift
	timeout 5 "$CL_BIRDC" -s "$(_cl_bird_sock "$node")" "$@"
}

# cl_bird_start NODE: BIRD 2 in NODE's namespace (router or lbI), in the
# foreground of a background job (so its pid is ours to stop), with its
# own config, control socket and pid file under $CL_DIR; waits (5 s at
# most) until it answers on its socket
cl_bird_start() {
	local node=$1 conf sock j
	[[ -z ${CL_BIRD_PIDS[$node]:-} ]] || { _cl_log "BIRD runs on $node already"; return 1; }
	cl_ns "$node" >/dev/null || return 1
	conf=$(_cl_bird_conf "$node") || return 1
	"$CL_BIRD" -p -c "$conf" 2>"$CL_DIR/bird-$node.err" ||
		{ _cl_log "BIRD config of $node: $(cat "$CL_DIR/bird-$node.err")"; return 1; }
	sock=$(_cl_bird_sock "$node")
	ip netns exec "$(cl_ns "$node")" "$CL_BIRD" -f -c "$conf" -s "$sock" \
		-P "$CL_DIR/bird-$node.pid" >>"$CL_DIR/bird-$node.err" 2>&1 &
	CL_BIRD_PIDS[$node]=$!
	for ((j = 0; j < 100; j++)); do
		[[ -S $sock ]] && cl_birdc "$node" show status >/dev/null 2>&1 && return 0
		_cl_alive "${CL_BIRD_PIDS[$node]}" || break
		sleep 0.05
	done
	_cl_log "BIRD on $node did not start: $(cat "$CL_DIR/bird-$node.err")"
	return 1
}

# cl_bird_stop NODE: stops NODE's BIRD in order (SIGTERM: it closes its
# sessions with a Cease, so the peer withdraws its routes at once)
cl_bird_stop() {
	_cl_stop_pid "${CL_BIRD_PIDS[$1]:-}" TERM
	unset "CL_BIRD_PIDS[$1]"
	rm -f "$(_cl_bird_sock "$1")"
}

# cl_bird_kill NODE: SIGKILL, as if the host died: nothing is withdrawn,
# the router finds out when the hold timer (or BFD) runs out
cl_bird_kill() {
	_cl_stop_pid "${CL_BIRD_PIDS[$1]:-}" KILL
	unset "CL_BIRD_PIDS[$1]"
	rm -f "$(_cl_bird_sock "$1")"
}

# cl_bird_start_all: BIRD on the router and on every balancer host
cl_bird_start_all() {
	local i
	cl_bird_start router || return 1
	for ((i = 1; i <= CL_HOSTS; i++)); do
		cl_bird_start "lb$i" || return 1
	done
}

# cl_bgp_up: every session of the router is Established
cl_bgp_up() {
	local i
	for ((i = 1; i <= CL_HOSTS; i++)); do
		cl_birdc router show protocols "lb$i" 2>/dev/null | grep -q Established ||
			return 1
	done
}

# cl_vip_announce I / cl_vip_withdraw I: host I's VIP routes (blackhole
# VIP/32 in table 4242, protocol 242, which its BIRD announces) through
# inferlb itself (lib/lb_announce): `lbctl announce resume` ends a withdraw
# and syncs - the route is there only while the datapath is attached and
# the VIP has a backend that takes new flows; `lbctl announce withdraw`
# removes it and keeps it away (the flag lives in the pins) until resume.
# With lb-agent on the host (cl_agent_start), its announce: section keeps
# the routes in sync instead.
cl_vip_announce() {
	cl_lbctl "$1" announce resume >/dev/null
}
cl_vip_withdraw() {
	cl_lbctl "$1" announce withdraw >/dev/null
}

# cl_host_up I [WEIGHT...]: host I's datapath on eth0, the VIP (ipip) and
# every backend with the given weights (default 1 each; the same on every
# host so their Maglev tables are identical); no route yet
cl_host_up() {
	local i=$1 j w
	shift
	CL_PINS+=("$(cl_pins "$i")")
	cl_lbctl "$i" attach "$CL_DEV" >/dev/null &&
		cl_lbctl "$i" vip add "$VIP4:$PORT/tcp" --mode ipip >/dev/null ||
		{ _cl_log "lb$i: attach or vip add failed"; return 1; }
	for ((j = 1; j <= CL_N; j++)); do
		w=${1:-1}
		(($# > 0)) && shift
		cl_lbctl "$i" backend add "$VIP4:$PORT/tcp" "${CL_BACKEND4[j]}" \
			--weight "$w" >/dev/null ||
			{ _cl_log "lb$i: backend add b$j failed"; return 1; }
	done
}

# cl_host_start I [WEIGHT...]: cl_host_up, then the VIP route (the
# datapath is ready before the router sends it anything)
cl_host_start() {
	cl_host_up "$@" && cl_vip_announce "$1"
}

# cl_host_stop I [detach|unload]: what a drain does. Host I's agent, if it
# runs, gets SIGTERM: it withdraws the VIP routes first, then exits; then
# `lbctl detach DEV --drain` withdraws whatever is left, waits until no
# VIP packet arrived for 300 ms (the router has moved the traffic; 10 s at
# most) and detaches (pins and flows kept); unload (default) then removes
# everything, for a fresh start later
cl_host_stop() {
	local i=$1 how=${2:-unload}
	cl_agent_stop "$i" TERM
	cl_lbctl "$i" detach "$CL_DEV" --drain --quiet-ms 300 --timeout 10 \
		>>"$CL_DIR/drain-lb$i.log" 2>&1
	[[ $how == detach ]] || cl_lbctl "$i" unload >/dev/null
}

# ---- lb-agent in cluster mode (agent/README.md "Cluster mode") ---------

# cl_start_workers: a simulated inference worker (tools/gpusim: vllm
# metrics and /health) on every backend at $CL_WORKER_PORT, what the
# agents poll for backend J; the VIP's traffic still goes to httpd on
# $PORT (its streams are checked byte by byte). Waits until each answers.
cl_start_workers() {
	local i j log
	[[ -x $CL_GPUSIM ]] || { _cl_log "no $CL_GPUSIM"; return 1; }
	for ((i = 1; i <= CL_N; i++)); do
		log=$CL_DIR/gpusim-b$i.log
		ip netns exec "$(cl_ns "b$i")" "$CL_GPUSIM" --bind "${CL_BACKEND4[i]}" \
			--port "$CL_WORKER_PORT" --name "b$i" --batch 4 >"$log" 2>&1 &
		CL_WORKER_PIDS[i]=$!
	done
	for ((i = 1; i <= CL_N; i++)); do
		log=$CL_DIR/gpusim-b$i.log
		for ((j = 0; j < 100; j++)); do
			cl_worker_get "$i" /health && break
			_cl_alive "${CL_WORKER_PIDS[i]}" || break
			sleep 0.05
		done
		cl_worker_get "$i" /health ||
			{ _cl_log "gpusim b$i did not start: $(cat "$log")"; return 1; }
	done
}

# cl_worker_get J PATH: GET PATH of backend J's worker (from the router)
cl_worker_get() {
	ip netns exec "$(cl_ns router)" curl -s -o /dev/null -f --max-time 1 \
		"http://${CL_BACKEND4[$1]}:$CL_WORKER_PORT$2"
}

# cl_worker_fault J MODE: gpusim's fault MODE (503, none, ...) on backend J
cl_worker_fault() { cl_worker_get "$1" "/admin/fault?mode=$2"; }

# _cl_agent_conf I: host I's lb-agent configuration (the same VIP,
# backends, policy and cluster on every host; only host and pins differ).
# The VIP's policy is maglev: a new flow's backend is the table's, so a
# flow that ECMP moves to another host finds the same backend there (a
# load-aware policy, the agent's default expected-wait, picks by the
# picking host's loads instead)
_cl_agent_conf() {
	local i=$1 j
	printf '%s\n' "agent:" \
		"  metrics_listen: 127.0.0.1:9464" \
		"  pin_dir: $(cl_pins "$i")" \
		"  request_timeout_ms: 300" \
		"cluster:" \
		"  etcd: [$(cl_etcd_url)]" \
		"  name: $CL_ID" \
		"  host: lb$i" \
		"  lease_ttl_s: $CL_LEASE_TTL" \
		"announce:" \
		"  enabled: true" \
		"  table: $CL_TABLE" \
		"  protocol: $CL_PROTO" \
		"  interval_ms: 500" \
		"  drain_ms: 0" \
		"policy:" \
		"  poll_interval_ms: 100" \
		"  health_interval_ms: 100" \
		"  fail_threshold: 3" \
		"  slow_start_ms: 0" \
		"vips:" \
		"  - address: $VIP4:$PORT/tcp" \
		"    mode: ipip" \
		"    policy: $CL_POLICY" \
		"    backends:"
	for ((j = 1; j <= CL_N; j++)); do
		printf '      - address: %s\n        engine: vllm\n        url: http://%s:%s\n' \
			"${CL_BACKEND4[j]}" "${CL_BACKEND4[j]}" "$CL_WORKER_PORT"
	done
}

# cl_agent_start I [attach]: lb-agent on host I in cluster mode with the
# announce: section on (after `lbctl attach` with "attach"): it configures
# the VIP and backends, follows the cluster's decision from etcd, and
# announces the VIP once it applied one; log in $CL_DIR/agent-lbI.log
cl_agent_start() {
	local i=$1 conf=$CL_DIR/agent-lb$1.yaml
	[[ -z ${CL_AGENT_PIDS[$i]:-} ]] || { _cl_log "lb-agent runs on lb$i already"; return 1; }
	_cl_agent_conf "$i" >"$conf" || return 1
	if [[ ${2:-} == attach ]]; then
		CL_PINS+=("$(cl_pins "$i")")
		cl_lbctl "$i" attach "$CL_DEV" >/dev/null ||
			{ _cl_log "lb$i: attach failed"; return 1; }
	fi
	# nsenter execs the agent: the pid is the agent's own
	nsenter --net="/run/netns/$(cl_ns "lb$i")" "$CL_BUILD/lb-agent" -c "$conf" \
		>>"$CL_DIR/agent-lb$i.log" 2>&1 &
	CL_AGENT_PIDS[$i]=$!
}

# cl_agent_stop I [SIGNAL]: SIGTERM (default: the agent withdraws its
# routes, then exits) or KILL (a crash: nothing withdrawn); reaped
cl_agent_stop() {
	_cl_stop_pid "${CL_AGENT_PIDS[$1]:-}" "${2:-TERM}"
	unset "CL_AGENT_PIDS[$1]"
}

# cl_new_flows I [NONE]: host I's new-flow counter over its VIPs (NONE,
# default 0, when host I has no datapath to ask)
cl_new_flows() {
	cl_lbctl "$1" -j stats 2>/dev/null | python3 -c '
import json, sys
try:
    print(sum(v["new_flows"] for v in json.load(sys.stdin)["vips"]))
except Exception:
    print(sys.argv[1])' "${2:-0}"
}
# cl_flows_all: "N1 N2 N3", the new-flow counters of lb1..lb3
cl_flows_all() { echo "$(cl_new_flows 1) $(cl_new_flows 2) $(cl_new_flows 3)"; }

# cl_agent_show I: "ROLE ETCD GENERATION DIGEST CHANGED_NS" from host I's
# lbctl -j show (the VIP's table_digest; "-" for what is missing)
cl_agent_show() {
	cl_lbctl "$1" -j show 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print("- - - -"); sys.exit()
c = (d.get("agent") or {}).get("cluster") or {}
v = [x.get("table_digest") for x in d.get("vips", [])]
print(c.get("role", "-"), {True: "up", False: "down"}.get(c.get("etcd_up"), "-"),
      c.get("generation", "-"), (v[0] if v and v[0] else "-"),
      c.get("changed_ns") or "-")'
}

# cl_router_nexthops: the router's next hops for the VIP, sorted, one line
# ("" when it has no route)
cl_router_nexthops() {
	# few processes: cheap enough to poll every 20 ms
	ip -o -n "$(cl_ns router)" route show "$VIP4/32" 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "via") print $(i + 1) }' |
		sort | paste -sd ' ' -
}

# cl_wait_nexthops SECONDS "A B C": until the router's next hops for the
# VIP are exactly these addresses (any order)
cl_wait_nexthops() {
	local end=$(($(date +%s%3N) + $1 * 1000)) want
	want=$(printf '%s\n' $2 | sort | tr '\n' ' ' | sed 's/ $//')
	while (($(date +%s%3N) < end)); do
		[[ $(cl_router_nexthops) == "$want" ]] && return 0
		sleep 0.02
	done
	return 1
}

# cl_monitor_start: records the router's route changes with timestamps
# (ip -ts monitor route), for cl_route_changed_ms; cl_destroy stops it
cl_monitor_start() {
	[[ -z $CL_MON_PID ]] || return 0
	ip -n "$(cl_ns router)" -ts monitor route >"$CL_DIR/router-routes.log" 2>&1 &
	CL_MON_PID=$!
	sleep 0.1
}
cl_monitor_stop() { _cl_stop_pid "$CL_MON_PID" TERM; CL_MON_PID=; }

# cl_route_changed_ms T0 "A B C": milliseconds from T0 (ms since the
# epoch) to the first change of the router's VIP route recorded at or
# after T0 that left exactly these next hops ("" for none); nothing
# printed if there was none. The kernel's own time of the change, without
# the polling delay of cl_wait_nexthops.
cl_route_changed_ms() {
	python3 - "$CL_DIR/router-routes.log" "$VIP4" "$1" "$2" <<'PY'
import re, sys, time, datetime
log, vip, t0, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), sorted(sys.argv[4].split())
events, cur = [], None
for line in open(log):
    m = re.match(r'\[(\S+)\]\s+(Deleted )?(\S+)(.*)', line)
    if m:
        cur = None
        if m.group(3) != vip:
            continue
        ts = datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S.%f')
        ms = time.mktime(ts.timetuple()) * 1000 + ts.microsecond / 1000
        cur = [ms, bool(m.group(2)), re.findall(r'via (\S+)', m.group(4))]
        events.append(cur)
    elif cur is not None:
        cur[2] += re.findall(r'via (\S+)', line)
for ms, deleted, hops in events:
    if ms >= t0 and sorted([] if deleted else hops) == want:
        print(int(round(ms - t0)))
        break
PY
}

cl_etcd_url() { printf 'http://%s:2379\n' "$ETCD4"; }

# cl_etcd_start: etcd (one member) in the etcd namespace on the hosts'
# segment, data under $CL_DIR/etcd (kept across cl_etcd_stop/start);
# waits (10 s at most) until it answers
cl_etcd_start() {
	local ns j url
	url=$(cl_etcd_url)
	command -v "$CL_ETCD" >/dev/null || { _cl_log "missing $CL_ETCD"; return 1; }
	[[ -z $CL_ETCD_PID ]] || { _cl_log "etcd runs already"; return 1; }
	ns=$(cl_ns etcd)
	if [[ ! -e /run/netns/$ns ]]; then
		_cl_addns "$ns" && _cl_plug etcd etcd &&
			ip -n "$ns" addr add "$ETCD4/24" dev "$CL_DEV" || return 1
	fi
	ip netns exec "$ns" "$CL_ETCD" --name inferlb-test \
		--data-dir "$CL_DIR/etcd" \
		--listen-client-urls "$url" --advertise-client-urls "$url" \
		--listen-peer-urls "http://$ETCD4:2380" \
		--initial-advertise-peer-urls "http://$ETCD4:2380" \
		--initial-cluster "inferlb-test=http://$ETCD4:2380" \
		>>"$CL_DIR/etcd.log" 2>&1 &
	CL_ETCD_PID=$!
	for ((j = 0; j < 100; j++)); do
		ETCDCTL_API=3 ip netns exec "$ns" timeout 2 "$CL_ETCDCTL" \
			--endpoints "$url" endpoint health >/dev/null 2>&1 && return 0
		_cl_alive "$CL_ETCD_PID" || break
		sleep 0.1
	done
	_cl_log "etcd did not start: $(tail -5 "$CL_DIR/etcd.log")"
	return 1
}
cl_etcd_stop() { cl_etcd_resume; _cl_stop_pid "$CL_ETCD_PID" TERM; CL_ETCD_PID=; }
# cl_etcd_pause / cl_etcd_resume: SIGSTOP / SIGCONT: etcd unreachable (its
# connections hang) without losing its state
cl_etcd_pause() { [[ -z $CL_ETCD_PID ]] || kill -STOP "$CL_ETCD_PID"; }
cl_etcd_resume() { [[ -z $CL_ETCD_PID ]] || kill -CONT "$CL_ETCD_PID" 2>/dev/null; }
cl_etcd_kill() { cl_etcd_resume; _cl_stop_pid "$CL_ETCD_PID" KILL; CL_ETCD_PID=; }

# cl_destroy: every daemon, datapath, pin directory, namespace and the
# temp dir. Idempotent; meant for "trap cl_destroy EXIT".
cl_destroy() {
	local k ns pid node p
	for k in "${!CL_AGENT_PIDS[@]}"; do
		cl_agent_stop "$k" KILL
	done
	for k in "${!CL_WORKER_PIDS[@]}"; do
		_cl_stop_pid "${CL_WORKER_PIDS[k]}" TERM
	done
	CL_WORKER_PIDS=()
	for k in "${!CL_HTTPD_PIDS[@]}"; do
		_cl_stop_pid "${CL_HTTPD_PIDS[k]}" TERM
	done
	CL_HTTPD_PIDS=()
	for node in "${!CL_BIRD_PIDS[@]}"; do
		cl_bird_stop "$node"
	done
	cl_etcd_stop
	cl_monitor_stop
	for p in "${CL_PINS[@]}"; do
		[[ -d $p ]] || continue
		"$CL_BUILD/lbctl" --pin-dir "$p" unload >/dev/null 2>&1
		rm -rf -- "$p"
	done
	CL_PINS=()
	for ((k = ${#CL_NSES[@]} - 1; k >= 0; k--)); do
		ns=${CL_NSES[k]}
		[[ -e /run/netns/$ns ]] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null || _cl_log "could not delete namespace $ns"
	done
	CL_NSES=()
	if [[ -n $CL_DIR && -d $CL_DIR ]]; then
		if [[ -n ${CL_KEEP_LOGS:-} ]]; then
			_cl_log "logs kept in $CL_DIR"
		else
			rm -rf -- "$CL_DIR"
		fi
	fi
	CL_DIR=
	CL_ID=
	CL_N=0
	return 0
}
