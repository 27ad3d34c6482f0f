#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# bench/upgrade.sh BUILD - what replacing the running balancer costs the
# traffic: `lbctl upgrade` (hitless: the new program over the pinned maps,
# one link update) beside the operator's alternative, `lbctl detach` +
# `lbctl attach`, and beside a control window with no operation, in the
# end-to-end namespace topology (tests/e2e/topo.sh, l2dsr VIP, 2 backends).
#
# In each window the client sends SYNS paced SYNs (tools/e2e/synflood,
# 198.19.0.0/16 sources) at the VIP for WINDOW_S seconds and the operation
# runs one second in; a SYN the balancer forwards reaches a backend, whose
# kernel counts it (Tcp InSegs); one that meets no XDP program is dropped
# by the balancer's kernel (forwarding is off). Lost = sent - received.
# Everything is removed on exit.
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
export E2E_BIN=$build/tools/e2e
export E2E_PREFIX=bu
# shellcheck source=tests/e2e/topo.sh
. "$root/tests/e2e/topo.sh"

lbctl=$build/lbctl
pins=/sys/fs/bpf/inferlb-bench-upgrade-$$
PPS=${PPS:-20000}
WINDOW_S=${WINDOW_S:-3}
ROUNDS=${ROUNDS:-3}

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$(topo_ns lb 2>/dev/null)" ] && [ -e "/run/netns/$(topo_ns lb)" ]; then
		nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" \
			unload >/dev/null 2>&1
	fi
	rm -rf "$pins" 2>/dev/null
	topo_destroy
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench/upgrade: $*" >&2; exit 1; }
L() { timeout 30 nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" "$@"; }
ms() { date +%s%3N; }

# segments the backends' kernels received, all together
received() {
	local i n=0 v
	for i in 1 2; do
		v=$(ip netns exec "$(topo_ns "b$i")" awk '/^Tcp:/ { if (h) { print $11; exit } h = 1 }' /proc/net/snmp)
		n=$((n + v))
	done
	echo "$n"
}

op_none() { :; }
op_upgrade() { L upgrade >/dev/null; }
op_reattach() { L detach "$TOPO_DEV" >/dev/null && L attach "$TOPO_DEV" --mode native >/dev/null; }

# window OP: prints "wall_ms sent received"
window() {
	local op=$1 r0 r1 t0 t1 out sent
	r0=$(received)
	ip netns exec "$(topo_ns client)" timeout $((WINDOW_S + 20)) "$E2E_BIN/synflood" \
		--dev "$TOPO_DEV" --dst-mac "$(topo_mac lb)" --dst "$VIP4" --dport "$PORT" \
		--count $((PPS * WINDOW_S)) --pps "$PPS" --src-net 198.19.0.0/16 \
		--seconds $((WINDOW_S + 10)) >"$TOPO_DIR/flood.out" 2>&1 &
	local fl=$!
	sleep 1
	t0=$(ms)
	"$op" || die "$op failed"
	t1=$(ms)
	wait "$fl" || die "synflood: $(cat "$TOPO_DIR/flood.out")"
	sleep 0.5	# the last SYNs reach the backends
	r1=$(received)
	sent=$(awk '/^sent/ { print $2 }' "$TOPO_DIR/flood.out")
	echo "$((t1 - t0)) $sent $((r1 - r0))"
}

topo_create 2 >/dev/null 2>&1 || die "topology"
topo_start_backends --quiet || die "backends"
topo_peer_xdp_pass "$build/bpf/pass.bpf.o" || die "peer XDP"
for i in 1 2; do
	ip netns exec "$(topo_ns "b$i")" sysctl -qw net.ipv4.tcp_syncookies=1
done
L attach "$TOPO_DEV" --mode native >/dev/null || die "attach"
L vip add "$VIP4:$PORT/tcp" --mode l2dsr >/dev/null || die "vip add"
for i in 1 2; do
	L backend add "$VIP4:$PORT/tcp" "${BACKEND4[i]}" >/dev/null || die "backend add"
done

printf 'replacing the balancer program under %d SYNs/s (%d s windows, the operation 1 s in; %d rounds, interleaved)\n' \
	"$PPS" "$WINDOW_S" "$ROUNDS"
printf '%-26s %7s %9s %9s %7s\n' "operation" "wall_ms" "sent" "received" "lost"
for ((r = 1; r <= ROUNDS; r++)); do
	for op in op_none op_upgrade op_reattach; do
		read -r wall sent recv < <(window "$op")
		case $op in
		op_none) name="none (control)" ;;
		op_upgrade) name="lbctl upgrade" ;;
		op_reattach) name="lbctl detach + attach" ;;
		esac
		printf '%-26s %7s %9s %9s %7s\n' "$name" "$wall" "$sent" "$recv" "$((sent - recv))"
	done
done
echo "(lost = SYNs sent - segments the backends received; the control window shows the loss with no operation)"
