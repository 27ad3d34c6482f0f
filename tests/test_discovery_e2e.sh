#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_discovery_e2e.sh - DNS discovery end to end: lb-agent finds its
# workers in SRV records served by a real DNS server, and every change
# reaches the XDP datapath. Topology (tests/e2e/disctest.sh): a client,
# the balancer (ipip VIP, least-conn, XDP attached), 4 backends running
# httpd (the VIP's traffic), gpusim (what the agent polls, port 8001) and
# xdp_decap. unbound (Debian) serves the static zone pool.test. with 2 s
# TTLs from the client's namespace; a change rewrites the zone's include
# file and runs `unbound-control reload` (atomic: an RRset has no
# per-record edit at runtime). The VIP's only backends come from
# `discover:` with one dns source (min_ttl_s 1, timeout 500 ms).
#
#   a. start: the 3 workers in the SRV answer become backends, healthy
#      and serving; the time from the agent's start is printed;
#   b. a worker added to the zone: it is a backend taking new flows
#      within 10 s (TTL + 1 s, the issue's target, is printed met or missed), and
#      new connections reach it;
#   c. a worker removed from the zone while streams run on it: DRAINING
#      within 10 s (target TTL + 1 s, printed), no new flow goes to it, its streams complete
#      (0 broken), and it is deleted once its open flows are 0 (times
#      printed), long before drain_timeout_s;
#   d. an empty answer (every SRV record gone: NXDOMAIN): held, nothing
#      removed or drained, the held counter in /metrics rises;
#   e. the DNS server stopped (SIGSTOP), then gone (killed): nothing
#      changes, the errors counter rises; the agent SIGKILLed and started
#      again while the server is gone, under streams: it keeps the workers
#      it had found (the maps say which), none broken.
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_discovery_e2e.sh BUILD_DIR
export E2E_PREFIX=dd
# shellcheck source=tests/e2e/disctest.sh
. "$(dirname "$0")/e2e/disctest.sh" "${1:-build}"

TTL=2
NAME=_llm._tcp.pool.test
DNS=$CLIENT4		# unbound, in the client's namespace
UB_PID=
UC=(timeout 10 unbound-control -c "$tmp/unbound.conf")

disc_cleanup_extra() {
	[ -n "$UB_PID" ] && kill -CONT "$UB_PID" 2>/dev/null
	[ -n "$UB_PID" ] && kill -9 "$UB_PID" 2>/dev/null
	[ -n "$UB_PID" ] && wait "$UB_PID" 2>/dev/null
	UB_PID=
}

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi
command -v unbound >/dev/null && command -v unbound-control >/dev/null ||
	{ bad "unbound is not installed (scripts/install-deps.sh)"; exit 1; }

disc_topo 4 || exit 1

# zone_write I...: the zone's records: an A record for every backend, an
# SRV record (port $WPORT) for backends I... only; then reload
zone_write() {
	local i
	{
		echo "local-data: \"pool.test. $TTL IN SOA ns.pool.test. admin.pool.test. 1 3600 600 86400 $TTL\""
		for i in 1 2 3 4; do
			echo "local-data: \"b$i.pool.test. $TTL IN A $(B "$i")\""
		done
		for i in "$@"; do
			echo "local-data: \"$NAME. $TTL IN SRV 0 5 $WPORT b$i.pool.test.\""
		done
	} >"$tmp/zone.conf.new" && mv "$tmp/zone.conf.new" "$tmp/zone.conf"
}
zone_set() { zone_write "$@" && "${UC[@]}" reload >/dev/null; }

cat >"$tmp/unbound.conf" <<EOF
server:
    interface: $DNS
    port: 53
    access-control: 198.18.0.0/15 allow
    username: ""
    chroot: ""
    directory: "$tmp"
    pidfile: "$tmp/unbound.pid"
    do-daemonize: no
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    module-config: "iterator"
    local-zone: "." static
    local-zone: "pool.test." static
    include: "$tmp/zone.conf"
remote-control:
    control-enable: yes
    control-interface: "$tmp/unbound.ctl"
EOF
zone_write 1 2 3
# ip netns exec execs unbound: $! is unbound itself (for SIGSTOP, kill)
ip netns exec "$(topo_ns client)" unbound -d -c "$tmp/unbound.conf" >"$tmp/unbound.log" 2>&1 &
UB_PID=$!
wait_for 10 "${UC[@]}" status >/dev/null 2>&1 ||
	{ bad "unbound did not start: $(tail -5 "$tmp/unbound.log")"; exit 1; }

disc_config "        - dns: $NAME
          servers: $DNS:53
          min_ttl_s: 1
          max_ttl_s: 30
          timeout_ms: 500
          template:
            engine: vllm"

# ---- a. start ---------------------------------------------------------------
disc_agent_start
all_present() { present "$(B 1)" && present "$(B 2)" && present "$(B 3)"; }
if t_pres=$(until_ms "$AGENT_T0" 15 all_present) &&
	t_a=$(until_ms "$AGENT_T0" 15 all_serving "$(B 1)" "$(B 2)" "$(B 3)"); then
	ok "a. the SRV answer's 3 workers are backends $t_pres ms after the agent's start, healthy and serving after $t_a ms ($(backends))"
else
	bad "a. the SRV answer's workers are not all serving 15 s after the start: $(backends); $(tail -5 "$tmp/agent.log")"
	exit 1
fi
gone "$(B 4)" && ok "a. b4 (an A record, no SRV) is no backend" || bad "a. b4 present: $(backends)"
origin_is "$(B 1)" dns:
w=$(msum inferlb_discovery_workers 'state="active"')
[ "$w" = 3 ] && ok "a. /metrics: inferlb_discovery_workers{state=\"active\"} $w" ||
	bad "a. /metrics: $w active workers: $(grep '^inferlb_discovery_workers' "$tmp/m")"

# ---- b. a worker added ------------------------------------------------------
t0=$(ms)
zone_set 1 2 3 4 || bad "b. unbound-control reload"
t_b_pres=$(until_ms "$t0" 10 present "$(B 4)") || t_b_pres=none
t_b=$(until_ms "$t0" 10 serving "$(B 4)") || t_b=none
# no timed assertion (a loaded CI machine): the change must come within the
# wait's 10 s bound; the issue's target, TTL + 1 s, is printed met or missed
target() { [ "$1" -le $((TTL * 1000 + 1000)) ] && echo "target TTL + 1 s = $((TTL * 1000 + 1000)) ms: met" ||
	echo "target TTL + 1 s = $((TTL * 1000 + 1000)) ms: MISSED"; }
if [ "$t_b" != none ]; then
	ok "b. b4 added to the zone: a backend after $t_b_pres ms, taking new flows (healthy, weight $(be "$(B 4)" weight)) after $t_b ms ($(target "$t_b"))"
else
	bad "b. b4 added to the zone: present after $t_b_pres ms, serving after $t_b ms (target $((TTL * 1000 + 1000)) ms): $(backends)"
fi
sleep 0.6	# slow start (500 ms) over: b4 at its full weight
tl=$(tally 40)
if [ "$(tally_of b4 "$tl")" -gt 0 ] && [ "$(tally_of errors "$tl")" = 0 ]; then
	ok "b. 40 new connections through the VIP, b4 takes its share: $tl"
else
	bad "b. new connections after b4 was added: $tl"
fi

# ---- c. a worker removed under streams ----------------------------------------
streams_start 24 30000	# 30 chunks, one every 300 ms: ~9 s each
b2_busy() { local n; n=$(be "$(B 2)" open_flows); [ "$n" != none ] && [ "$n" -ge 2 ]; }
wait_for 5 b2_busy || bad "c. no streams open on b2: $(L show)"
sleep 0.5
open0=$(be "$(B 2)" open_flows)
nf0=$(new_flows "$(B 2)")
t0=$(ms)
zone_set 1 3 4 || bad "c. unbound-control reload"
if t_c=$(until_ms "$t0" 10 state_is "$(B 2)" draining); then
	ok "c. b2 removed from the zone with $open0 streams open on it: DRAINING after $t_c ms ($(target "$t_c"))"
else
	bad "c. b2 removed from the zone: not DRAINING within 10 s: $(backends)"
fi
drained_checks c "$t0" "the zone change"

rm=$(msum inferlb_discovery_removed_total)
dr=$(msum inferlb_discovery_workers 'state="draining"')
[ "$rm" = 1 ] && [ "$dr" = 0 ] && ok "c. /metrics: inferlb_discovery_removed_total $rm, none draining" ||
	bad "c. /metrics: removed $rm, draining $dr"

# ---- d. an empty answer: held ----------------------------------------------------
held0=$(msum inferlb_discovery_changes_held_total)
before=$(backends)
t0=$(ms)
zone_set || bad "d. unbound-control reload"	# no SRV record: NXDOMAIN
held_more() { [ "$(msum inferlb_discovery_changes_held_total)" -gt "$held0" ]; }
if t_d=$(until_ms "$t0" 10 held_more); then
	sleep $((TTL + 1))	# at least one more lookup of the empty answer
	held1=$(msum inferlb_discovery_changes_held_total)
	after=$(backends)
	if [ "$after" = "$before" ]; then
		ok "d. every SRV record removed (NXDOMAIN): held, counted after $t_d ms (inferlb_discovery_changes_held_total $held0 -> $held1), nothing removed or drained ($after)"
	else
		bad "d. an empty answer changed the backends: '$before' -> '$after'"
	fi
else
	bad "d. an empty answer was not counted as held in 10 s: held $held0 -> $(msum inferlb_discovery_changes_held_total); $(backends)"
fi
grep -qi "held" "$tmp/agent.log" && ok "d. the agent logs the held answer: $(grep -i held "$tmp/agent.log" | tail -1)" ||
	bad "d. no log line about the held answer"
lint_metrics "with an answer held"
zone_set 1 3 4 || bad "d. unbound-control reload"
sleep $((TTL + 1))
[ "$(backends)" = "$before" ] && ok "d. the zone back: the same backends ($before)" ||
	bad "d. after the zone came back: $(backends)"

# ---- e. the DNS server stopped, then gone ---------------------------------------------
errs_more() { [ "$(msum inferlb_discovery_errors_total)" -gt "$1" ]; }
before=$(backends)
errs0=$(msum inferlb_discovery_errors_total)
t0=$(ms)
kill -STOP "$UB_PID"
if t_e=$(until_ms "$t0" 10 errs_more "$errs0"); then
	sleep $((TTL + 1))
	errs1=$(msum inferlb_discovery_errors_total)
	age=$(msum inferlb_discovery_last_success_age_seconds)
	after=$(backends)
	[ "$age" -ge "$TTL" ] && ok "e. /metrics: the last successful update ${age} s ago and rising" ||
		bad "e. /metrics: last success age $age s while the server is silent"
	[ "$after" = "$before" ] &&
		ok "e. DNS server silent (SIGSTOP): lookups fail (inferlb_discovery_errors_total $errs0 -> $errs1, the first after $t_e ms), nothing changed ($after)" ||
		bad "e. a silent DNS server changed the backends: '$before' -> '$after'"
else
	bad "e. a silent DNS server: no error counted in 10 s ($errs0 -> $(msum inferlb_discovery_errors_total))"
fi
kill -CONT "$UB_PID"
kill -TERM "$UB_PID"
timeout 10 tail --pid="$UB_PID" -f /dev/null
wait "$UB_PID" 2>/dev/null
UB_PID=
errs1=$(msum inferlb_discovery_errors_total)
t0=$(ms)
if t_e2=$(until_ms "$t0" 10 errs_more "$errs1"); then
	sleep $((TTL + 1))
	after=$(backends)
	[ "$after" = "$before" ] &&
		ok "e. DNS server gone (port closed): errors $errs1 -> $(msum inferlb_discovery_errors_total) (the first after $t_e2 ms), nothing changed ($after)" ||
		bad "e. a dead DNS server changed the backends: '$before' -> '$after'"
else
	bad "e. a dead DNS server: no error counted in 10 s"
fi
# a restart while the server is gone: the new agent adopts the workers
# the maps say were found (no answer yet), deletes nothing, cuts nothing
addrs() { L show -j 2>/dev/null | jq -r '[.vips[].backends[].address] | sort | join(" ")'; }
before=$(addrs)
streams_start 12 20000	# ~6 s each
wait_for 5 b_open || bad "e. streams not open before the restart"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
old=$AGENT_PID
disc_agent_start
agent_up() { L show | grep -q "agent pid $AGENT_PID  running"; }
wait_for 10 agent_up || bad "e. the restarted agent is not running: $(L show | head -3)"
sleep $((TTL + 1))
after=$(addrs)
# shellcheck disable=SC2086 # one argument per address
if [ "$after" = "$before" ] && all_serving $after; then
	ok "e. agent SIGKILLed (pid $old) and restarted (pid $AGENT_PID) with the DNS server gone: it kept the found workers ($after), all serving"
else
	bad "e. after the restart without DNS: '$before' -> '$after': $(backends)"
fi
streams_wait
[ "$BROKEN" = 0 ] && [ "$INTACT" = 12 ] &&
	ok "e. 12 streams across the restart, 0 broken (per backend: $STREAMS_ON)" ||
	bad "e. $BROKEN of 12 streams broken across the restart, $INTACT intact"
kill -0 "$AGENT_PID" && ok "the agent runs on" || bad "the agent died"
tl=$(tally 30)
[ "$(tally_of errors "$tl")" = 0 ] && ok "the VIP still serves: $tl" || bad "the VIP after the DNS outage: $tl"

echo "test_discovery_e2e: $PASSES passed, $FAILS failed in ${SECONDS}s (start->serving ${t_a:-?} ms; add->serving ${t_b:-?} ms; remove->draining ${t_c:-?} ms, ->deleted ${t_gone:-?} ms; TTL $TTL s)"
[ "$FAILS" = 0 ]
