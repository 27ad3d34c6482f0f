#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_dns.sh - lb-agent's DNS lookups (agent/dns.c, through
# tests/dns_probe) against a real server: unbound (Debian) in a network
# namespace of its own, serving a static zone svc.test. with 2 s TTLs
# from 198.18.53.1, its records changed at runtime over its control
# socket. Checks:
#   1. SRV: each target's A address with the record's port, the TTL;
#   2. a worker added (A + SRV at runtime): in the next lookup;
#   3. a target with an AAAA record too: both addresses;
#   4. A records with the configured port;
#   5. an SRV target without address: no worker from it, the rest stay;
#   6. the SRV name removed (NXDOMAIN) and a name without SRV (NODATA):
#      an empty answer, not a failure;
#   7. the server silent (SIGSTOP), 8. gone: a failure (no answer), within
#      the lookup's timeout.
# Every wait is bounded; the namespace, unbound and its files go on exit.
# Usage: tests/test_dns.sh BUILD_DIR
set -u
BUILD=${1:-build}
probe=$BUILD/tests/dns_probe
NS=ilbdns$$
SRV=198.18.53.1
# shellcheck source=tests/nstest.sh
. "$(dirname "$0")/nstest.sh"
tmp=$TMP
UB_PID=

die() { bad "$*"; echo "test_dns: $PASSES passed, $FAILS failed"; exit 1; }

[ "$(id -u)" = 0 ] || { echo "Error: needs root (namespaces)" >&2; exit 1; }
[ -x "$probe" ] || die "no $probe (make build)"
command -v unbound >/dev/null && command -v unbound-control >/dev/null ||
	die "unbound is not installed (make deps)"
nstest_ns_up || die "netns"
nx ip addr add "$SRV/32" dev lo	# no dummy module on every kernel

cat >"$tmp/unbound.conf" <<EOF
server:
    interface: $SRV
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
    local-zone: "svc.test." static
    local-data: "svc.test. 2 IN SOA ns.svc.test. admin.svc.test. 1 3600 600 86400 2"
    local-data: "_llm._tcp.pool.svc.test. 2 IN SRV 0 5 8001 b1.svc.test."
    local-data: "_llm._tcp.pool.svc.test. 2 IN SRV 0 5 8002 b2.svc.test."
    local-data: "b1.svc.test. 2 IN A 198.18.1.11"
    local-data: "b2.svc.test. 2 IN A 198.18.1.12"
    local-data: "pool-a.svc.test. 7 IN A 198.18.1.21"
    local-data: "pool-a.svc.test. 7 IN A 198.18.1.22"
remote-control:
    control-enable: yes
    control-interface: "$tmp/unbound.ctl"
EOF
# ip netns exec execs unbound: $! is unbound's own pid (nx, a function,
# would give its subshell's, and the signals below would miss unbound)
ip netns exec "$NS" unbound -d -c "$tmp/unbound.conf" >"$tmp/unbound.log" 2>&1 &
UB_PID=$!
PIDS+=("$UB_PID")
UC=(unbound-control -c "$tmp/unbound.conf")
for _ in $(seq 100); do
	"${UC[@]}" status >/dev/null 2>&1 && break
	kill -0 "$UB_PID" 2>/dev/null || break
	sleep 0.1
done
"${UC[@]}" status >/dev/null 2>&1 || die "unbound did not start: $(tail -5 "$tmp/unbound.log")"

# q NAME TYPE [PORT] [TIMEOUT_MS]: the probe's output on one line, the
# workers sorted (a server may rotate the records of a set)
q() {
	local out
	out=$(nx "$probe" "$SRV" "$@" 2>&1)
	{ echo "$out" | head -1; echo "$out" | tail -n +2 | sort; } | tr '\n' ' ' | sed 's/ $//'
}

r=$(q _llm._tcp.pool.svc.test srv)
[ "$r" = "ok 2 ttl 2 198.18.1.11 8001 198.18.1.12 8002" ] &&
	ok "1. SRV: $r" || bad "1. SRV: '$r'"

"${UC[@]}" local_data "b3.svc.test. 2 IN A 198.18.1.13" >/dev/null &&
	"${UC[@]}" local_data "_llm._tcp.pool.svc.test. 2 IN SRV 0 5 8003 b3.svc.test." >/dev/null ||
	bad "unbound-control local_data"
r=$(q _llm._tcp.pool.svc.test srv)
case "$r" in
"ok 3 ttl 2 198.18.1.11 8001 198.18.1.12 8002 198.18.1.13 8003") ok "2. a worker added at runtime: $r" ;;
*) bad "2. after adding b3: '$r'" ;;
esac

"${UC[@]}" local_data "b1.svc.test. 2 IN AAAA 2001:db8::11" >/dev/null
r=$(q _llm._tcp.pool.svc.test srv)
case "$r" in
"ok 4 ttl 2 198.18.1.11 8001 198.18.1.12 8002 198.18.1.13 8003 2001:db8::11 8001") ok "3. a target with A and AAAA: $r" ;;
*) bad "3. A and AAAA: '$r'" ;;
esac

r=$(q pool-a.svc.test a 9000)
[ "$r" = "ok 2 ttl 7 198.18.1.21 9000 198.18.1.22 9000" ] &&
	ok "4. A records, the configured port: $r" || bad "4. A: '$r'"

"${UC[@]}" local_data "_llm._tcp.pool.svc.test. 2 IN SRV 0 5 8009 gone.svc.test." >/dev/null
r=$(q _llm._tcp.pool.svc.test srv)
case "$r" in
"ok 4 "*) case "$r" in *8009*) bad "5. a worker from a target without address: '$r'" ;;
	*) ok "5. a target without address gives no worker: $r" ;; esac ;;
*) bad "5. target without address: '$r'" ;;
esac

"${UC[@]}" local_data_remove _llm._tcp.pool.svc.test >/dev/null
r=$(q _llm._tcp.pool.svc.test srv)
r2=$(q b1.svc.test srv)
[ "$r" = "ok 0 empty" ] && [ "$r2" = "ok 0 empty" ] &&
	ok "6. NXDOMAIN and NODATA: an empty answer, not a failure ($r; $r2)" ||
	bad "6. NXDOMAIN '$r', NODATA '$r2'"

# fails WHAT: the lookup fails (no answer) and does not hang: its budget
# is 900 ms, the bound 5 s (a loaded runner)
fails() {
	local t0 t r
	t0=$(date +%s%N)
	r=$(q pool-a.svc.test a 9000 900)
	t=$((($(date +%s%N) - t0) / 1000000))
	case "$r" in
	"fail "*) [ "$t" -le 5000 ] && ok "$1: no answer after $t ms ($r)" ||
		bad "$1: $t ms for '$r'" ;;
	*) bad "$1, yet: '$r'" ;;
	esac
}
kill -STOP "$UB_PID"
fails "7. server silent (SIGSTOP)"
kill -CONT "$UB_PID"
kill "$UB_PID"
wait "$UB_PID" 2>/dev/null
fails "8. server gone (port closed)"

echo "test_dns: $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
