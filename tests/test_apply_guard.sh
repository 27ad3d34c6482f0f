#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_apply_guard.sh - an empty, truncated or VIP-less config never wipes
# a running balancer (issue 11, fix 1). Against a real (pinned, attached)
# datapath in network namespaces of its own, with 2 VIPs x 4 backends:
#
#  a. `lbctl apply -f` with an empty file, a comment-only file and
#     `vips: ~` exits 1 with a clear message; `lbctl show -j` is unchanged;
#  b. a file that drops 3 of a VIP's 4 backends is refused the same way;
#  c. the same with --prune is applied; dropping 2 of 4 (the default 50%),
#     or a whole VIP while keeping the other, is allowed without it; an
#     empty balancer applying an empty file deletes nothing and passes;
#  d. lb-agent running on the 2-VIP file gets SIGHUP after the file was
#     truncated to empty: it logs the refusal, keeps running, and every VIP
#     and backend is still there; likewise for a file dropping 3 of 4
#     backends; with `agent: {prune: true}` the same file is applied;
#  e. `lb-agent --check` on an empty file: valid (exit 0) with a warning.
# Everything is removed on exit, also on failure.
# Usage: tests/test_apply_guard.sh [BUILD_DIR]
set -u
build=$(realpath "${1:-build}")
# shellcheck source=tests/wait.sh
. "$(dirname "$0")/wait.sh"
lbctl=$build/lbctl
agent=$build/lb-agent
id=$$
ns_lb=lbguard-lb-$id
ns_be=lbguard-be-$id
pins=/sys/fs/bpf/lbguard-$id
tmp=$(mktemp -d)
AGENT_PID=
PASSES=0
FAILS=0

cleanup() {
	trap - EXIT INT TERM
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	if [ -e "/run/netns/$ns_lb" ]; then
		nsenter --net="/run/netns/$ns_lb" "$lbctl" --pin-dir "$pins" \
			unload >/dev/null 2>&1
	fi
	rm -rf "$pins" 2>/dev/null
	ip netns del "$ns_lb" 2>/dev/null
	ip netns del "$ns_be" 2>/dev/null
	if [ "$FAILS" -ne 0 ] && [ -f "$tmp/agent.log" ]; then
		echo "---- agent log (last 30 lines)"
		tail -30 "$tmp/agent.log"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
L() { timeout 20 nsenter --net="/run/netns/$ns_lb" "$lbctl" --pin-dir "$pins" "$@"; }


# The VIPs and backends the maps hold, one "VIP BACKEND" line each, sorted
# (weights and states left out: the agent moves those).
members() {
	L show -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = []
for v in d["vips"]:
    rows.append(v["vip"] + " -")
    rows += [v["vip"] + " " + b["address"] for b in v["backends"]]
print("\n".join(sorted(rows)))'
}

A=198.18.42.10:80/tcp
Bv=198.18.42.20:80/tcp
a_be() { echo "198.18.42.$((10 + $1))"; }	# VIP A's backends .11-.14
b_be() { echo "198.18.42.$((20 + $1))"; }	# VIP B's backends .21-.24

# config FILE NA NB [AGENT-LINES]: VIP A with backends 1..NA, VIP B with
# 1..NB (0: the VIP is left out), in lb-agent's full format.
config() {
	local f=$1 na=$2 nb=$3 extra=${4:-} i
	{
		echo "# the balancer of test_apply_guard.sh"
		echo "agent:"
		echo "  pin_dir: $pins"
		echo "  metrics_listen: \"off\""
		echo "  request_timeout_ms: 200"
		[ -n "$extra" ] && echo "$extra"
		echo "policy:"
		echo "  poll_interval_ms: 100"
		echo "  health_interval_ms: 100"
		echo "vips:"
		if [ "$na" -gt 0 ]; then
			echo "  - address: $A"
			echo "    backends:"
			for ((i = 1; i <= na; i++)); do
				echo "      - {address: $(a_be $i), url: 'http://$(a_be $i):8000', engine: vllm}"
			done
		fi
		if [ "$nb" -gt 0 ]; then
			echo "  - address: $Bv"
			echo "    backends:"
			for ((i = 1; i <= nb; i++)); do
				echo "      - {address: $(b_be $i), url: 'http://$(b_be $i):8000'}"
			done
		fi
	} >"$f"
}

# refused DESC FILE PATTERN [ARGS...]: `lbctl apply -f FILE` exits 1 with
# one "Error:" line matching PATTERN and changes nothing.
refused() {
	local desc=$1 file=$2 pat=$3 before out rc
	shift 3
	before=$(L show -j)
	out=$(L apply -f "$file" "$@" 2>&1)
	rc=$?
	if [ $rc != 1 ]; then
		bad "$desc: exit $rc, expected 1 ($out)"
	elif ! printf '%s\n' "$out" | grep -q "^Error: .*$pat"; then
		bad "$desc: message does not say '$pat': $out"
	elif [ "$(L show -j)" != "$before" ]; then
		bad "$desc: the datapath changed"
	else
		ok "$desc: refused, nothing changed ($out)"
	fi
}

applied() { # applied DESC FILE [ARGS...]
	local desc=$1 file=$2 out
	shift 2
	if out=$(L apply -f "$file" "$@" 2>&1); then
		ok "$desc ($out)"
	else
		bad "$desc: $out"
	fi
}

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi

# ---- setup: the balancer's namespace and one with every backend ----------
ip netns add "$ns_lb" && ip netns add "$ns_be" || exit 1
ip link add grd0 netns "$ns_lb" type veth peer name grd1 netns "$ns_be" || exit 1
ip -n "$ns_lb" addr add 198.18.42.1/24 dev grd0
for i in 1 2 3 4; do
	ip -n "$ns_be" addr add "$(a_be $i)/24" dev grd1
	ip -n "$ns_be" addr add "$(b_be $i)/24" dev grd1
done
for ns in "$ns_lb" "$ns_be"; do ip -n "$ns" link set lo up; done
ip -n "$ns_lb" link set grd0 up
ip -n "$ns_be" link set grd1 up
L attach grd0 >/dev/null || { bad "lbctl attach"; exit 1; }

config "$tmp/full.yaml" 4 4
: >"$tmp/empty.yaml"
printf '# nothing here yet\n\n# (a truncated write)\n' >"$tmp/comments.yaml"
printf 'vips: ~\n' >"$tmp/null.yaml"
config "$tmp/drop3.yaml" 1 4
config "$tmp/drop2.yaml" 2 4
config "$tmp/only_b.yaml" 0 4

applied "lbctl apply -f: 2 VIPs x 4 backends (lb-agent's full file)" "$tmp/full.yaml"
full=$(members)
[ "$(printf '%s\n' "$full" | wc -l)" = 10 ] &&
	ok "show lists 2 VIPs and 8 backends" || bad "after apply: $full"

# ---- a. files without VIPs --------------------------------------------------
refused "a. empty file" "$tmp/empty.yaml" "would delete every VIP"
refused "a. comment-only file" "$tmp/comments.yaml" "would delete every VIP"
refused "a. vips: ~" "$tmp/null.yaml" "would delete every VIP"
out=$(L apply -f "$tmp/empty.yaml" 2>&1)
printf '%s\n' "$out" | grep -q -- "--prune" &&
	ok "a. the message says how to force it" || bad "a. no hint: $out"

# ---- b. / c. a large share of a VIP's backends ------------------------------
refused "b. a file dropping 3 of VIP A's 4 backends" "$tmp/drop3.yaml" \
	"would delete 3 of the 4 backends of VIP $A, more than 50%"
applied "c. the same with --prune" "$tmp/drop3.yaml" --prune
[ "$(members | grep -c "^$A 198")" = 1 ] && [ "$(members | grep -c "^$Bv 198")" = 4 ] &&
	ok "c. VIP A has 1 backend left, VIP B 4" || bad "c. after --prune: $(members)"
applied "c. the full file again (adds only)" "$tmp/full.yaml"
applied "c. dropping 2 of 4 (50%, the default share) is allowed" "$tmp/drop2.yaml"
applied "c. back to the full file" "$tmp/full.yaml"
applied "c. dropping one whole VIP, keeping the other, is allowed" "$tmp/only_b.yaml"
[ "$(members | grep -c "^$A")" = 0 ] && ok "c. VIP A is gone" || bad "c. $(members)"
applied "c. back to the full file" "$tmp/full.yaml"
applied "c. an empty file with --prune empties the balancer" "$tmp/empty.yaml" --prune
[ -z "$(members)" ] && ok "c. no VIPs left" || bad "c. after prune: $(members)"
applied "c. an empty balancer applying an empty file: nothing to delete" "$tmp/empty.yaml"
applied "c. the full file on the empty balancer" "$tmp/full.yaml"
[ "$(members)" = "$full" ] && ok "c. every VIP and backend back" || bad "c. $(members)"

# ---- d. lb-agent: SIGHUP with a truncated file -------------------------------
cp "$tmp/full.yaml" "$tmp/agent.yaml"
nsenter --net="/run/netns/$ns_lb" "$agent" -c "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
AGENT_PID=$!
wait_for 10 grep -q "managing 2 VIPs, 8 backends" "$tmp/agent.log" &&
	ok "d. lb-agent manages 2 VIPs, 8 backends" ||
	{ bad "d. lb-agent did not start"; exit 1; }

# hup PATTERN: SIGHUP, then wait for PATTERN in the log's new lines
hup() {
	local from
	from=$(($(wc -l <"$tmp/agent.log") + 1))
	kill -HUP "$AGENT_PID"
	wait_for 10 sh -c 'tail -n +"$1" "$2" | grep -q -- "$3"' _ "$from" \
		"$tmp/agent.log" "$1"
}

: >"$tmp/agent.yaml"	# a truncated write by config management
if hup "reload refused"; then
	grep "reload refused" "$tmp/agent.log" | tail -1 | grep -q "would delete every VIP" &&
		ok "d. truncated file: the agent logs the refusal ($(grep "reload refused" "$tmp/agent.log" | tail -1))" ||
		bad "d. refusal without the reason: $(grep "reload refused" "$tmp/agent.log" | tail -1)"
else
	bad "d. no refusal logged after SIGHUP with an empty file"
fi
sleep 0.3
kill -0 "$AGENT_PID" 2>/dev/null && ok "d. the agent keeps running" || bad "d. the agent died"
[ "$(members)" = "$full" ] && ok "d. every VIP and backend still there" ||
	bad "d. after SIGHUP: $(members)"

config "$tmp/agent.yaml" 1 4
hup "reload refused" && tail -3 "$tmp/agent.log" | grep -q "would delete 3 of the 4 backends" &&
	[ "$(members)" = "$full" ] &&
	ok "d. a file dropping 3 of 4 backends: refused, nothing changed" ||
	bad "d. drop 3 of 4: $(tail -3 "$tmp/agent.log"); $(members)"

config "$tmp/agent.yaml" 1 4 "  prune: true"
hup "reloaded" && [ "$(members | grep -c "^$A 198")" = 1 ] &&
	[ "$(members | grep -c "^$Bv 198")" = 4 ] &&
	ok "d. with agent: {prune: true} the same file is applied" ||
	bad "d. prune: $(tail -3 "$tmp/agent.log"); $(members)"
kill -0 "$AGENT_PID" 2>/dev/null && ok "d. the agent is still running" || bad "d. the agent died"
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=

# ---- e. lb-agent --check warns ------------------------------------------------
out=$("$agent" -c "$tmp/empty.yaml" --check 2>"$tmp/check.err")
rc=$?
[ $rc = 0 ] && grep -q "^Warning: .*empty.yaml: no VIPs" "$tmp/check.err" &&
	ok "e. --check on an empty file: valid, with a warning ($(cat "$tmp/check.err"))" ||
	bad "e. --check: rc=$rc out=$out err=$(cat "$tmp/check.err")"
out=$("$agent" -c "$tmp/full.yaml" --check 2>"$tmp/check.err")
[ $? = 0 ] && [ ! -s "$tmp/check.err" ] &&
	ok "e. --check on the full file: no warning ($out)" ||
	bad "e. --check full: $(cat "$tmp/check.err")"

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
