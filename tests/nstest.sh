# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# nstest.sh - what the single-namespace tools tests share (gpusim,
# loadgen): a private network namespace NS, the processes they start in it
# (PIDS), a temp dir (TMP), pass/fail counters, and one cleanup that runs
# on exit, also on failure or Ctrl-C. Source it after setting NS; then
# `nx CMD...` runs CMD in the namespace.

PIDS=()
FAILS=0
PASSES=0
TMP=$(mktemp -d)

nstest_cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	ip netns delete "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap nstest_cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
check() { # check DESC CMD...: pass when CMD succeeds
	local d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
nx() { ip netns exec "$NS" "$@"; }

# nstest_ns_up: creates NS with lo up. Its clients' ephemeral ports stay
# in 40000..60999, so a server port below 40000 (the tests pick theirs in
# 20000..38999, with room above) is never held by a client connection in
# TIME_WAIT when a test (re)binds it.
nstest_ns_up() {
	ip netns add "$NS" || return 1
	nx ip link set lo up &&
		nx sysctl -qw net.ipv4.ip_local_port_range="40000 60999"
}
