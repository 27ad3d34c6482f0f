#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# lb-agent's cluster mode: three balancer hosts share one decision through
# etcd (agent/cluster.c). Namespaces: W holds the workers (3 gpusim on a
# bridge) and etcd; hA, hB, hC are the hosts, each with its own veth to
# the bridge, its own datapath (skb mode) and pin directory, its own
# lb-agent in cluster mode.
#
#  1. exactly one leader; every host shows the same backends, weights and
#     states (lbctl -j show, host-local fields left out);
#  2. a worker turns unhealthy: every host follows the same change;
#  3. SIGKILL the leader: another host leads, the generation goes on
#     upward, the tables of the others never diverge;
#  4. etcd stopped (SIGSTOP) while a worker changes: no host changes its
#     maps; lbctl show and /metrics say etcd is unreachable;
#  5. etcd back: every host converges on the change.
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_cluster_agent.sh BUILD_DIR
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"

lbctl=$build/lbctl
agent=$build/lb-agent
gpusim=$build/tools/gpusim
tmp=$(mktemp -d)
W=clw$$
HOSTS=(A B C)
PORT=8000
VIP=198.18.71.10
ETCD=198.18.70.1
TTL=3
ETCD_PID=
declare -A AGENT_PID
GPIDS=()
FAILS=0
PASSES=0

cleanup() {
	trap - EXIT INT TERM
	local h p
	for h in "${HOSTS[@]}"; do
		p=${AGENT_PID[$h]:-}
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	done
	# each killed job reaped with its stderr away: no "Killed" job notices
	if [ -n "$ETCD_PID" ]; then
		kill -CONT "$ETCD_PID" 2>/dev/null
		kill -9 "$ETCD_PID" 2>/dev/null
		wait "$ETCD_PID" 2>/dev/null
	fi
	if [ ${#GPIDS[@]} -gt 0 ]; then
		kill -9 "${GPIDS[@]}" 2>/dev/null
		wait "${GPIDS[@]}" 2>/dev/null
	fi
	for h in "${HOSTS[@]}"; do
		[ -n "${AGENT_PID[$h]:-}" ] && wait "${AGENT_PID[$h]}" 2>/dev/null
		if [ -e "/run/netns/h$h$$" ]; then
			nsenter --net="/run/netns/h$h$$" "$lbctl" --pin-dir "/sys/fs/bpf/inferlb-cl$h$$" \
				unload >/dev/null 2>&1
			ip netns del "h$h$$" 2>/dev/null
		fi
		rm -rf "/sys/fs/bpf/inferlb-cl$h$$" 2>/dev/null
	done
	ip netns del "$W" 2>/dev/null
	if [ "$FAILS" -ne 0 ]; then
		for h in "${HOSTS[@]}"; do
			echo "---- agent $h log (last 25 lines)"
			tail -25 "$tmp/agent-$h.log" 2>/dev/null
		done
		echo "---- etcd log (last 10 lines)"
		tail -10 "$tmp/etcd.log" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi

inw() { timeout 30 ip netns exec "$W" "$@"; }
inh() { local h=$1; shift; timeout 30 nsenter --net="/run/netns/h$h$$" "$@"; }
L() { local h=$1; shift; inh "$h" "$lbctl" --pin-dir "/sys/fs/bpf/inferlb-cl$h$$" "$@"; }
B() { echo "198.18.70.$((10 + $1))"; }

# ---- topology ------------------------------------------------------------
ip netns add "$W" || exit 1
inw ip link set lo up
inw ip link add br0 type bridge
inw ip addr add "$ETCD/24" dev br0
inw ip link set br0 up
for i in 1 2 3; do
	inw ip addr add "$(B $i)/32" dev br0
done
# the VIP on the workers' side (l2dsr: they answer for it)
inw ip addr add "$VIP/32" dev lo
n=1
for h in "${HOSTS[@]}"; do
	ip netns add "h$h$$" || exit 1
	ip link add "cl$h$$" netns "h$h$$" type veth peer name "w$h$$" netns "$W" || exit 1
	inh "$h" ip link set lo up
	inh "$h" ip addr add "198.18.70.$((100 + n))/24" dev "cl$h$$"
	inh "$h" ip link set "cl$h$$" up
	inw ip link set "w$h$$" master br0
	inw ip link set "w$h$$" up
	n=$((n + 1))
done
for i in 1 2 3; do
	ip netns exec "$W" "$gpusim" --bind "$(B $i)" --port "$PORT" --name "b$i" \
		--batch 4 --token-ms 20 >"$tmp/gpusim-$i.log" 2>&1 &
	GPIDS+=($!)
done
ip netns exec "$W" etcd --name cl --data-dir "$tmp/etcd" \
	--listen-client-urls "http://$ETCD:2379" --advertise-client-urls "http://$ETCD:2379" \
	--listen-peer-urls "http://127.0.0.1:2380" --initial-advertise-peer-urls "http://127.0.0.1:2380" \
	--initial-cluster "cl=http://127.0.0.1:2380" >"$tmp/etcd.log" 2>&1 &
ETCD_PID=$!
etcd_ok() { inh A curl -s --max-time 1 "http://$ETCD:2379/health" | grep -q '"health":"true"'; }
wait_for 15 etcd_ok || { bad "etcd did not start"; exit 1; }
for i in 1 2 3; do
	wait_for 5 inh A curl -s -o /dev/null --max-time 1 "http://$(B $i):$PORT/health" ||
		{ bad "gpusim $i not reachable from host A"; exit 1; }
done

config() { # config HOST
	cat <<EOF
agent:
  metrics_listen: 127.0.0.1:9464
  pin_dir: /sys/fs/bpf/inferlb-cl$1$$
  request_timeout_ms: 300
cluster:
  etcd: [http://$ETCD:2379]
  name: t$$
  host: host$1
  lease_ttl_s: $TTL
policy:
  poll_interval_ms: 100
  health_interval_ms: 100
  fail_threshold: 3
  slow_start_ms: 0
vips:
  - address: $VIP:$PORT/tcp
    mode: l2dsr
    ring_size: 4099
    backends:
EOF
	for i in 1 2 3; do
		printf '      - address: %s\n        engine: vllm\n        url: http://%s:%s\n' \
			"$(B $i)" "$(B $i)" "$PORT"
	done
}

start_agent() { # start_agent HOST
	nsenter --net="/run/netns/h$1$$" "$agent" -c "$tmp/agent-$1.yaml" \
		>>"$tmp/agent-$1.log" 2>&1 &
	AGENT_PID[$1]=$!
}

for h in "${HOSTS[@]}"; do
	L "$h" attach "cl$h$$" --mode skb >/dev/null || { bad "attach on host $h"; exit 1; }
	config "$h" >"$tmp/agent-$h.yaml"
	start_agent "$h"
done

# table HOST: what must be equal on every host (addresses, weights,
# states, rates), without host-local fields (ids, epochs, next hops, open)
table() {
	L "$1" show -j 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for v in d["vips"]:
    for b in sorted(v["backends"], key=lambda b: b["address"]):
        print(v["vip"], b["address"], b["weight"], b["state"], b.get("rate"))'
}
cfield() { # cfield HOST FIELD: the cluster object of lbctl -j show
	L "$1" show -j 2>/dev/null | python3 -c '
import json, sys
c = json.load(sys.stdin)["agent"].get("cluster") or {}
print(c.get(sys.argv[1], "none"))' "$2"
}
leaders() {
	local h n=0
	for h in "$@"; do
		[ "$(cfield "$h" role)" = leader ] && n=$((n + 1))
	done
	echo "$n"
}
leader_of() {
	local h
	for h in "$@"; do
		[ "$(cfield "$h" role)" = leader ] && { echo "$h"; return; }
	done
}
# same TABLE_WANTED HOSTS...: every host's table is TABLE_WANTED's
same_tables() {
	local want=$1 h
	shift
	for h in "$@"; do
		[ "$(table "$h")" = "$want" ] || return 1
	done
}
converged() { # converged HOSTS...: all equal, all healthy with a weight
	local t
	t=$(table "$1")
	[ -n "$t" ] && same_tables "$t" "$@" || return 1
	! echo "$t" | awk '$3 == 0 || $4 != "healthy" { bad = 1 } END { exit !bad }'
}
metric() { # metric HOST NAME
	inh "$1" curl -s --max-time 2 http://127.0.0.1:9464/metrics |
		awk -v n="$2" '$1 == n { print $2; exit }'
}

# ---- 1. one leader, same tables ---------------------------------------
one_leader() { [ "$(leaders A B C)" = 1 ]; }
wait_for 15 one_leader && ok "exactly one leader of 3 hosts ($(leader_of A B C))" ||
	bad "leaders: $(leaders A B C)"
wait_for 15 converged A B C &&
	ok "every host: the same backends, weights and states, all healthy" ||
	{ bad "tables differ or not healthy"; for h in A B C; do echo "$h:"; table $h; done; }
[ "$(cfield A leader_hash)" = "$(cfield B leader_hash)" ] &&
	[ "$(cfield B leader_hash)" = "$(cfield C leader_hash)" ] &&
	[ "$(cfield A leader_hash)" != 0 ] &&
	ok "every host names the same leader" || bad "leader hashes differ"

# ---- 2. a change reaches every host ------------------------------------
draining_everywhere() { # draining_everywhere WORKER HOSTS...
	local w=$1 h
	shift
	for h in "$@"; do
		table "$h" | grep -q "$(B "$w") [0-9]* draining" || return 1
	done
	same_tables "$(table "$1")" "$@"
}
inw curl -s -o /dev/null --max-time 2 "http://$(B 2):$PORT/admin/fault?mode=503"
wait_for 10 draining_everywhere 2 A B C &&
	ok "worker 2 unhealthy: every host drains it, tables equal" ||
	{ bad "the change did not reach every host"; for h in A B C; do echo "$h:"; table $h; done; }
inw curl -s -o /dev/null --max-time 2 "http://$(B 2):$PORT/admin/fault?mode=none"
wait_for 10 converged A B C && ok "worker 2 back: every host again equal" ||
	bad "no convergence after worker 2 came back"

# ---- 3. SIGKILL the leader ----------------------------------------------
old=$(leader_of A B C)
others=()
for h in A B C; do [ "$h" != "$old" ] && others+=("$h"); done
gen0=$(cfield "${others[0]}" generation)
kill -9 "${AGENT_PID[$old]}"
wait "${AGENT_PID[$old]}" 2>/dev/null
AGENT_PID[$old]=
# meanwhile the survivors' tables never diverge
diverged=0
new_leader() {
	[ "$(table "${others[0]}")" = "$(table "${others[1]}")" ] || diverged=$((diverged + 1))
	[ "$(leaders "${others[@]}")" = 1 ]
}
wait_for $((TTL + 4)) new_leader &&
	ok "leader $old killed: $(leader_of "${others[@]}") leads (bound TTL $TTL s + 4 s)" ||
	bad "no new leader after SIGKILL of $old"
gen_up() { [ "$(cfield "${others[0]}" generation)" -gt "$gen0" ] 2>/dev/null; }
inw curl -s -o /dev/null --max-time 2 "http://$(B 3):$PORT/admin/fault?mode=503"
wait_for 10 draining_everywhere 3 "${others[@]}" && wait_for 5 gen_up &&
	ok "the new leader's decisions reach both hosts, generation $gen0 -> $(cfield "${others[0]}" generation)" ||
	bad "after takeover: generation $(cfield "${others[0]}" generation) (was $gen0)"
[ "$diverged" = 0 ] && ok "the survivors' tables never diverged during the takeover" ||
	bad "tables diverged $diverged times during the takeover"
# the killed host comes back as a follower and catches up
start_agent "$old"
inw curl -s -o /dev/null --max-time 2 "http://$(B 3):$PORT/admin/fault?mode=none"
wait_for 15 converged A B C && one_leader &&
	ok "host $old restarted: follower, every host equal again" ||
	bad "no convergence after host $old restarted (leaders $(leaders A B C))"

# ---- 4. etcd stopped: nothing changes ------------------------------------
declare -A before
for h in A B C; do before[$h]=$(table "$h"); done
kill -STOP "$ETCD_PID"
inw curl -s -o /dev/null --max-time 2 "http://$(B 1):$PORT/admin/fault?mode=503"
unreachable() {
	local h
	for h in A B C; do
		[ "$(cfield "$h" etcd_up)" = False ] || return 1
		L "$h" show | grep -q "etcd UNREACHABLE" || return 1
		[ "$(metric "$h" inferlb_cluster_etcd_up)" = 0 ] || return 1
	done
}
wait_for 8 unreachable &&
	ok "etcd stopped: lbctl show (text, JSON) and /metrics say unreachable on every host" ||
	bad "etcd stopped but not reported: $(L A show | grep cluster)"
sleep 4	# the rest of etcd's 10 s outage, worker 1 failing all along
changed=0
for h in A B C; do [ "$(table "$h")" = "${before[$h]}" ] || changed=1; done
[ "$changed" = 0 ] && ok "etcd unreachable ~10 s while worker 1 fails: no host changed its maps" ||
	{ bad "a host changed its maps without etcd"; for h in A B C; do echo "$h:"; table $h; done; }
errs=$(metric A inferlb_cluster_etcd_errors_total)
[ "${errs:-0}" -gt 0 ] && ok "/metrics counts etcd errors ($errs on host A)" ||
	bad "no etcd errors counted"

# ---- 5. etcd back: convergence ------------------------------------------
kill -CONT "$ETCD_PID"
back() {
	local h
	for h in A B C; do
		[ "$(cfield "$h" etcd_up)" = True ] || return 1
	done
	draining_everywhere 1 A B C
}
wait_for 20 back && wait_for 10 one_leader &&
	ok "etcd back: every host applies the change, tables equal, one leader" ||
	{ bad "no convergence after etcd came back"; for h in A B C; do echo "$h:"; table $h; cfield $h role; done; }

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
