#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# demo.sh - `make demo`: inferlb on one machine. Builds a network of
# namespaces (a client, the balancer, three backends running a small HTTP
# server), attaches inferlb, adds a VIP with three backends at weights
# 1:2:3, sends 1,200 new connections and shows how they spread, changes a
# weight live and shows the new spread, then removes everything it made
# (also on Ctrl-C). Usage: tools/demo.sh [BUILD_DIR]
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
export E2E_BIN=$build/tools/e2e
export E2E_PREFIX=demo
# shellcheck source=tests/e2e/topo.sh
. "$root/tests/e2e/topo.sh"

lbctl=$build/lbctl
pins=/sys/fs/bpf/inferlb-demo-$$
be_pins=()

cleanup() {
	trap - EXIT INT TERM
	echo
	echo "== cleaning up"
	if [ -n "$(topo_ns lb 2>/dev/null)" ] && [ -e "/run/netns/$(topo_ns lb)" ]; then
		nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" \
			unload >/dev/null 2>&1
	fi
	for p in "${be_pins[@]}"; do "$lbctl" --pin-dir "$p" unload >/dev/null 2>&1; done
	rm -rf "$pins" "${be_pins[@]}" 2>/dev/null
	topo_destroy
	echo "removed the namespaces, the pins and the programs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
	echo "Error: the demo creates network namespaces and loads XDP programs; run it as root" >&2
	exit 1
fi
in_ns() { local n=$1; shift; timeout 60 nsenter --net="/run/netns/$(topo_ns "$n")" "$@"; }
L() { in_ns lb "$lbctl" --pin-dir "$pins" "$@"; }
step() { echo; echo "== $*"; }

# spread TITLE WEIGHTS...: 1,200 new connections from the client, as a table.
spread() {
	local title=$1 out
	shift
	step "$title"
	out=$(timeout 120 ip netns exec "$(topo_ns client)" "$E2E_BIN/conns" \
		--url "http://$VIP4:$PORT/" --count 1200 --parallel 16) || {
		echo "connections failed: $out"
		return 1
	}
	echo "$out" | awk -v w="$*" '
		BEGIN { n = split(w, wt, " "); for (i = 1; i <= n; i++) tw += wt[i] }
		$1 ~ /^b[0-9]+$/ { c[$1] = $2; total += $2 }
		$1 == "errors" { errors = $2 }
		END {
			printf "  %-8s %-16s %6s %8s %9s\n", "backend", "address", "weight", "conns", "share"
			for (i = 1; i <= n; i++) {
				b = "b" i
				printf "  %-8s %-16s %6d %8d %8.1f%%   (expected %.1f%%)\n", b,
					"198.18.0." (10 + i), wt[i], c[b], total ? 100 * c[b] / total : 0,
					tw ? 100 * wt[i] / tw : 0
			}
			printf "  %d connections, %d errors\n", total, errors
		}'
}

step "building the network: client, balancer, 3 backends (namespaces)"
topo_create 3 && topo_start_backends --quiet &&
	topo_peer_xdp_pass "$build/bpf/pass.bpf.o" || exit 1
for i in 1 2 3; do
	be_pins+=("/sys/fs/bpf/inferlb-demo-$$-b$i")
	in_ns "b$i" "$lbctl" --pin-dir "/sys/fs/bpf/inferlb-demo-$$-b$i" \
		decap attach "$TOPO_DEV" >/dev/null || exit 1
done
echo "backends b1..b3 run an HTTP server and 'lbctl decap attach eth0'"

step "lbctl attach eth0; a VIP with three backends at weights 1:2:3"
L attach "$TOPO_DEV" || exit 1
L vip add "$VIP4:$PORT/tcp" || exit 1
for i in 1 2 3; do
	L backend add "$VIP4:$PORT/tcp" "${BACKEND4[i]}" --weight "$i" || exit 1
done
L show

spread "1,200 new connections to $VIP4:$PORT" 1 2 3 || exit 1

step "lbctl set-weight $VIP4:$PORT/tcp ${BACKEND4[1]} 6   (live)"
L set-weight "$VIP4:$PORT/tcp" "${BACKEND4[1]}" 6 || exit 1
spread "1,200 new connections after the change" 6 2 3 || exit 1

step "lbctl stats (from the datapath's per-CPU maps)"
L stats | head -12
