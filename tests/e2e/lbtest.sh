# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# lbtest.sh - what the namespace tests of one balancer share (test_drain,
# test_synflood, test_upgrade, test_nexthop, test_announce,
# test_secondchance): the build's programs, the topology (topo.sh) and
# bounded waits (wait.sh), a pin directory and a temp dir of the run's
# own, pass/fail counters, lbctl in the balancer's namespace, and one
# cleanup that runs on exit, also on failure or Ctrl-C.
#
# Use: set E2E_PREFIX (a short tag naming the test's namespaces and pin
# directory), then source this file with the build directory:
#   . "$(dirname "$0")/e2e/lbtest.sh" "${1:-build}"
# A test puts the PIDs of its background jobs in BG, an agent in
# AGENT_PID and a server in SPID: the cleanup kills those and waits for
# them only (a bare wait would also wait for the topology's httpd).
# Whatever else it must undo goes in a function lbtest_cleanup_extra,
# which runs first, while the namespaces still exist.

set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export E2E_BIN=$build/tools/e2e
# shellcheck source=tests/e2e/topo.sh
. "$root/tests/e2e/topo.sh"
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"

lbctl=$build/lbctl
agent=$build/lb-agent
gpusim=$build/tools/gpusim
pass_obj=$build/bpf/pass.bpf.o
pins=/sys/fs/bpf/inferlb-${E2E_PREFIX}test-$$
tmp=$(mktemp -d)
BG=()
AGENT_PID=
SPID=
FAILS=0
PASSES=0

lbtest_cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "$AGENT_PID" "$SPID" "${BG[@]}"; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	done
	for p in "$AGENT_PID" "$SPID" "${BG[@]}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null
	done
	if declare -F lbtest_cleanup_extra >/dev/null; then
		lbtest_cleanup_extra
	fi
	if [ -n "$(topo_ns lb 2>/dev/null)" ] && [ -e "/run/netns/$(topo_ns lb)" ]; then
		nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" \
			unload >/dev/null 2>&1
	fi
	rm -rf "$pins" 2>/dev/null
	topo_destroy
	rm -rf "$tmp"
}
trap lbtest_cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
# lbctl on the balancer, on this run's pins
L() { timeout 60 nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" "$@"; }
in_client() { timeout 120 ip netns exec "$(topo_ns client)" "$@"; }
