#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_discovery_etcd.sh - discovery from an etcd registry end to end:
# workers put PREFIX+ADDR:PORT with a JSON value under a 3 s lease they
# keep alive (`etcdctl lease grant` / `put --lease` / `lease keep-alive`,
# the recipe of docs/discovery.md), lb-agent watches the prefix, and every
# change reaches the XDP datapath. Topology as test_discovery_e2e.sh
# (tests/e2e/disctest.sh): client, balancer (ipip VIP, least-conn), 4
# backends with httpd, gpusim (port 8001) and xdp_decap; etcd (Debian) in
# the client's namespace. The VIP's only backends come from `discover:`
# with one etcd source.
#
#   a. registered workers become backends, healthy and serving (time from
#      the agent's start); one registered later: time from its put to
#      serving;
#   b. a worker whose keep-alive stops, with streams open on it: its lease
#      expires, it is DRAINING (time from the expiry, seen by a watch, to
#      the datapath), takes no new flow, its streams complete (0 broken),
#      and it is deleted once its open flows are 0;
#   c. the whole prefix deleted (`etcdctl del --prefix`): held, nothing
#      removed or drained, the held counter rises; the keys put back
#      change nothing;
#   d. with `lbctl register` (when this build has it; REG_LBCTL may name
#      another lbctl): b4 is registered by it, beside the worker, in case
#      a; SIGTERM revokes its lease: b4 is DRAINING at once, then deleted
#      (its flows are 0).
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_discovery_etcd.sh BUILD_DIR
export E2E_PREFIX=de
# shellcheck source=tests/e2e/disctest.sh
. "$(dirname "$0")/e2e/disctest.sh" "${1:-build}"

ETCD_URL=http://$CLIENT4:2379	# etcd, in the client's namespace
PREFIX=/inferlb/workers/pool-a/
LEASE_TTL=3
ETCD_PID=
WATCH_PID=
declare -A LEASE=() KEEP=()	# per backend: its lease and keep-alive pid
REG_LBCTL=${REG_LBCTL:-$lbctl}	# the lbctl whose `register` is used
REG_PID=

disc_cleanup_extra() {
	local p
	for p in "$REG_PID" "$WATCH_PID" "${KEEP[@]}" "$ETCD_PID"; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	done
	for p in "$REG_PID" "$WATCH_PID" "${KEEP[@]}" "$ETCD_PID"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null
	done
	ETCD_PID=
}

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi
command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
	{ bad "etcd is not installed (scripts/install-deps.sh)"; exit 1; }

disc_topo 4 || exit 1

E() { ETCDCTL_API=3 in_client timeout 10 etcdctl --endpoints "$ETCD_URL" "$@"; }
key() { echo "$PREFIX$(B "$1"):$WPORT"; }
value() { echo "{\"address\": \"$(B "$1")\", \"port\": $WPORT, \"engine\": \"vllm\", \"capacity\": 1.0, \"slots\": 64}"; }
# register I: a lease of LEASE_TTL s, the key under it, kept alive in the
# background (ip netns exec execs etcdctl: $! is the keep-alive itself)
register() {
	local id
	id=$(E lease grant "$LEASE_TTL" | awk '/granted/ { print $2 }')
	[ -n "$id" ] || return 1
	LEASE[$1]=$id
	E put --lease="$id" "$(key "$1")" "$(value "$1")" >/dev/null || return 1
	ETCDCTL_API=3 ip netns exec "$(topo_ns client)" etcdctl --endpoints "$ETCD_URL" \
		lease keep-alive "$id" >"$tmp/keepalive-b$1.log" 2>&1 &
	KEEP[$1]=$!
}

ip netns exec "$(topo_ns client)" etcd --name disc --data-dir "$tmp/etcd" \
	--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
	--listen-peer-urls "http://$CLIENT4:2380" \
	--initial-advertise-peer-urls "http://$CLIENT4:2380" \
	--initial-cluster "disc=http://$CLIENT4:2380" >"$tmp/etcd.log" 2>&1 &
ETCD_PID=$!
wait_for 15 E endpoint health >/dev/null 2>&1 ||
	{ bad "etcd did not start: $(tail -5 "$tmp/etcd.log")"; exit 1; }
# every event under the prefix, with the time it was seen (ms)
(ETCDCTL_API=3 ip netns exec "$(topo_ns client)" etcdctl --endpoints "$ETCD_URL" \
	watch --prefix "$PREFIX" 2>/dev/null | while IFS= read -r l; do
	echo "$(ms) $l"
done >"$tmp/watch.log") &
WATCH_PID=$!
for i in 1 2 3; do
	register "$i" || { bad "registering b$i"; exit 1; }
done
n=$(E get --prefix --keys-only "$PREFIX" | grep -c .)
[ "$n" = 3 ] && ok "3 workers registered under $PREFIX with ${LEASE_TTL} s leases, kept alive" ||
	bad "registered: $n keys"

disc_config "        - etcd: $PREFIX
          endpoints: [$ETCD_URL]
          template:
            engine: vllm"

# ---- a. registered workers become backends --------------------------------------
disc_agent_start
all_present() { present "$(B 1)" && present "$(B 2)" && present "$(B 3)"; }
if t_pres=$(until_ms "$AGENT_T0" 15 all_present) &&
	t_a=$(until_ms "$AGENT_T0" 15 all_serving "$(B 1)" "$(B 2)" "$(B 3)"); then
	ok "a. the 3 registered workers are backends $t_pres ms after the agent's start, serving after $t_a ms ($(backends))"
else
	bad "a. the registered workers are not all serving 15 s after the start: $(backends); $(tail -5 "$tmp/agent.log")"
	exit 1
fi
origin_is "$(B 1)" etcd:
# b4: by lbctl register beside the worker (its namespace) when this build
# has the command, else by etcdctl as the others
if "$REG_LBCTL" register help >/dev/null 2>&1; then
	how="lbctl register"
	t0=$(ms)
	ip netns exec "$(topo_ns b4)" "$REG_LBCTL" register --etcd "$ETCD_URL" \
		--prefix "$PREFIX" --address "$(B 4)" --port "$WPORT" --engine vllm \
		--capacity 1.0 --slots 64 --ttl "$LEASE_TTL" --interval-ms 200 \
		--timeout-ms 500 >"$tmp/register.log" 2>&1 &
	REG_PID=$!
else
	how="etcdctl"
	echo "skip - $REG_LBCTL has no 'register' command: b4 registered with etcdctl, case d not run"
	t0=$(ms)
	register 4 || bad "a. registering b4"
fi
t_a4p=$(until_ms "$t0" 10 present "$(B 4)") || t_a4p=none
if t_a4=$(until_ms "$t0" 10 serving "$(B 4)"); then
	ok "a. b4 registered by $how while the agent runs: a backend $t_a4p ms after the start of the registration, serving after $t_a4 ms"
else
	bad "a. b4 registered by $how: present after $t_a4p ms, not serving in 10 s: $(backends); $(cat "$tmp/register.log" 2>/dev/null)"
fi

# ---- b. a keep-alive stops: the lease expires -------------------------------------
sleep 0.6	# b4's slow start over
streams_start 24 30000	# ~9 s each
b2_busy() { local n; n=$(be "$(B 2)" open_flows); [ "$n" != none ] && [ "$n" -ge 2 ]; }
wait_for 5 b2_busy || bad "b. no streams open on b2: $(L show)"
sleep 0.5
open0=$(be "$(B 2)" open_flows)
nf0=$(new_flows "$(B 2)")
t_kill=$(ms)
kill "${KEEP[2]}"
wait "${KEEP[2]}" 2>/dev/null
unset 'KEEP[2]'
if t_b=$(until_ms "$t_kill" 12 state_is "$(B 2)" draining); then
	t_exp=$(awk -v k="$(key 2)" -v t="$t_kill" '$1 >= t && $2 == "DELETE" { d = 1; next }
		d && $2 == k { print $1; exit } { d = 0 }' "$tmp/watch.log")
	if [ -n "$t_exp" ]; then
		e2d=$((t_kill + t_b - t_exp))
		ok "b. b2's keep-alive stopped with $open0 streams open on it: its lease expired $((t_exp - t_kill)) ms later (watch), DRAINING $e2d ms after the expiry ($t_b ms after the stop)"
	else
		bad "b. b2 DRAINING $t_b ms after its keep-alive stopped, yet the watch saw no DELETE of $(key 2): $(tail -4 "$tmp/watch.log" | tr '\n' ' ')"
	fi
else
	bad "b. b2 not DRAINING 12 s after its keep-alive stopped: $(backends); key: $(E get "$(key 2)" | tr '\n' ' ')"
fi
drained_checks b "$t_kill" "the keep-alive stopped"

# ---- c. the prefix wiped: held ----------------------------------------------------
held0=$(msum inferlb_discovery_changes_held_total)
before=$(backends)
t0=$(ms)
# b4's lease when lbctl register holds it: etcd's JSON gives it in decimal,
# a 64-bit integer (read as text: jq's doubles would round it)
if [ -z "${LEASE[4]:-}" ]; then
	lease4=$(E get "$(key 4)" -w json | grep -o '"lease":[0-9]*' | cut -d: -f2)
	[ -n "$lease4" ] && LEASE[4]=$(printf '%x' "$lease4") || bad "c. no lease on $(key 4)"
fi
out=$(E del --prefix "$PREFIX")
held_more() { [ "$(msum inferlb_discovery_changes_held_total)" -gt "$held0" ]; }
if t_c=$(until_ms "$t0" 10 held_more); then
	sleep 2	# the agent has seen the deletes; nothing may follow
	held1=$(msum inferlb_discovery_changes_held_total)
	after=$(backends)
	if [ "$after" = "$before" ]; then
		ok "c. the prefix deleted ($out keys): held, counted after $t_c ms (inferlb_discovery_changes_held_total $held0 -> $held1), nothing removed or drained ($after)"
	else
		bad "c. a wiped prefix changed the backends: '$before' -> '$after'"
	fi
else
	bad "c. a wiped prefix was not counted as held in 10 s: held $held0 -> $(msum inferlb_discovery_changes_held_total); $(backends)"
fi
grep -qi "held" "$tmp/agent.log" && ok "c. the agent logs the held change: $(grep -i held "$tmp/agent.log" | tail -1)" ||
	bad "c. no log line about the held change"
# the workers put their keys back (their leases still kept alive)
for i in 1 3 4; do
	E put --lease="${LEASE[$i]}" "$(key "$i")" "$(value "$i")" >/dev/null || bad "c. put back b$i"
done
sleep 1.5
[ "$(backends)" = "$before" ] && ok "c. the keys put back: the same backends ($before)" ||
	bad "c. after the keys came back: $(backends)"
# ---- d. lbctl register stopped: its lease revoked ------------------------------
if [ -n "$REG_PID" ]; then
	t0=$(ms)
	kill -TERM "$REG_PID"
	timeout 10 tail --pid="$REG_PID" -f /dev/null
	wait "$REG_PID"
	rc=$?
	REG_PID=
	t_stop=$(($(ms) - t0))
	if t_d=$(until_ms "$t0" 10 state_is "$(B 4)" draining) || t_d=$(until_ms "$t0" 1 gone "$(B 4)"); then
		ok "d. lbctl register stopped (SIGTERM, exit $rc after $t_stop ms): its lease revoked, b4 DRAINING $t_d ms after the signal"
	else
		bad "d. lbctl register stopped (exit $rc): b4 not DRAINING in 10 s: $(backends); key: $(E get "$(key 4)" | tr '\n' ' '); $(tail -3 "$tmp/register.log")"
	fi
	if t_d2=$(until_ms "$t0" 15 gone "$(B 4)"); then
		ok "d. b4 (no flows) deleted $t_d2 ms after the signal ($(backends))"
	else
		bad "d. b4 not deleted 15 s after its registration ended: $(backends)"
	fi
fi
kill -0 "$AGENT_PID" && ok "the agent runs on" || bad "the agent died"
tl=$(tally 30)
[ "$(tally_of errors "$tl")" = 0 ] && ok "the VIP serves: $tl" || bad "the VIP at the end: $tl"

echo "test_discovery_etcd: $PASSES passed, $FAILS failed in ${SECONDS}s (start->serving ${t_a:-?} ms; put->serving ${t_a4:-?} ms (${how:-?}); lease expiry->draining ${e2d:-?} ms, keep-alive stop->draining ${t_b:-?} ms, ->deleted ${t_gone:-?} ms; register stopped->draining ${t_d:-not run} ms; lease TTL $LEASE_TTL s)"
[ "$FAILS" = 0 ]
