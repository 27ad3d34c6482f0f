#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_topo_baseline.sh - checks the end-to-end tooling WITHOUT the
# balancer: conns' self-test (p-values, URL parsing), then the topology of
# topo.sh with three backends running httpd, reached by the client on each
# backend's own address (IPv4 and IPv6): exact tallies, a chi-square that
# must fail, 250 concurrent connections, verified streams, the VIP answered
# on a backend's lo, and the VIP NOT answered from the client while no
# balancer runs. Every step is bounded by timeout(1); the namespaces go
# away on exit, also on failure. Needs root. Takes about 10 s.
#
# Env: E2E_BIN (httpd, conns; default build/tools/e2e), E2E_XDP_PASS (an
# XDP_PASS object to attach to the balancer's bridge-side peer; optional),
# E2E_KEEP_LOGS=1 keeps the httpd logs.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/topo.sh
. "$here/topo.sh"

trap topo_destroy EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass=0
fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$*"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$*"; }

# run_conns NODE EXPECTED_RC ARGS...: runs conns in NODE's namespace
# (bounded), prints its output indented, sets $out and $rc.
run_conns() {
	local node=$1 want=$2
	shift 2
	out=$(topo_exec "$node" timeout 30 "$E2E_BIN/conns" "$@" 2>"$TOPO_DIR/conns.err")
	rc=$?
	# shellcheck disable=SC2001
	sed 's/^/     /' <<<"$out" | head -n 12
	if ((rc != want)); then
		sed 's/^/     stderr: /' "$TOPO_DIR/conns.err" | head -n 5
		return 1
	fi
}

if ((EUID != 0)); then
	echo "test_topo_baseline: needs root (network namespaces)" >&2
	exit 1
fi
for b in httpd conns; do
	if [[ ! -x $E2E_BIN/$b ]]; then
		echo "test_topo_baseline: no $E2E_BIN/$b; build it or set E2E_BIN" >&2
		exit 1
	fi
done
start=$SECONDS

# 1. The statistics, offline.
if st=$(timeout 30 "$E2E_BIN/conns" --selftest); then
	ok "conns --selftest: $st"
else
	bad "conns --selftest: $st"
fi

# 2. The topology.
topo_create 3 || { bad "topo_create 3"; exit 1; }
ok "topo_create 3 ($TOPO_ID)"
if topo_check_l3; then
	ok "client reaches lb and b1..b3 (TCP refused on port 9, v4 and v6)"
else
	bad "L3 reachability"
fi
if topo_exec client ethtool -k "$TOPO_DEV" | grep -q '^tx-checksumming: off'; then
	ok "client $TOPO_DEV: tx checksum offload off"
else
	bad "client $TOPO_DEV: tx checksum offload still on"
fi
if [[ -n ${E2E_XDP_PASS:-} ]]; then
	if topo_peer_xdp_pass "$E2E_XDP_PASS" &&
	   ip -n "$(topo_ns sw)" link show dev "$TOPO_LB_PEER" | grep -q 'prog/xdp'; then
		ok "XDP_PASS attached to the balancer's bridge-side peer"
	else
		bad "XDP_PASS attach"
	fi
else
	echo "skip XDP_PASS attach (set E2E_XDP_PASS=path/to/xdp_pass.o)"
fi

# shellcheck disable=SC2119 # no extra httpd arguments
topo_start_backends || { bad "topo_start_backends"; exit 1; }
ok "httpd listening in b1..b3 on port $PORT"

# 3. Each backend on its own address: every connection answered by it.
for ((i = 1; i <= TOPO_N; i++)); do
	for url in "http://${BACKEND4[i]}:$PORT/" "http://[${BACKEND6[i]}]:$PORT/"; do
		if run_conns client 0 --url "$url" --count 40 --parallel 8 \
			--timeout-ms 3000 --expect "b$i=1" &&
		   grep -qx "b$i 40" <<<"$out" && grep -qx 'errors 0' <<<"$out"; then
			ok "$url: 40 of 40 from b$i"
		else
			bad "$url: tally (rc $rc)"
		fi
	done
done

# 4. Many concurrent connections to one backend.
if run_conns client 0 --url "http://${BACKEND4[1]}:$PORT/" --count 1000 \
	--parallel 250 --timeout-ms 5000 &&
   grep -qx 'b1 1000' <<<"$out"; then
	ok "1000 connections, 250 at a time, to b1"
else
	bad "concurrent connections (rc $rc)"
fi

# 5. The chi-square check must reject a tally that ignores a weight.
if run_conns client 3 --url "http://${BACKEND4[2]}:$PORT/" --count 60 \
	--parallel 8 --expect b1=1,b2=1; then
	ok "--expect b1=1,b2=1 against b2 only: rejected (exit 3)"
else
	bad "--expect should have failed with exit 3 (rc $rc)"
fi

# 6. Streams: 20 concurrent, 300000 bytes each in 10 chunks 50 ms apart.
if run_conns client 0 --stream --url "http://[${BACKEND6[2]}]:$PORT/" \
	--streams 20 --bytes 300000 --chunk 30000 --interval-ms 50 \
	--timeout-ms 3000 &&
   (($(grep -c '^stream .* backend b2 bytes 300000 ok$' <<<"$out") == 20)); then
	ok "20 streams of 300000 bytes from b2, every byte checked"
else
	bad "streams (rc $rc)"
fi

# 7. The VIPs on a backend's lo, answered by its wildcard listeners.
for url in "http://$VIP4:$PORT/" "http://[$VIP6]:$PORT/"; do
	if run_conns b3 0 --url "$url" --count 5 && grep -qx 'b3 5' <<<"$out"; then
		ok "$url from inside b3: answered by b3 (VIP on lo)"
	else
		bad "$url inside b3 (rc $rc)"
	fi
done

# 8. Without a balancer, the client's VIP traffic goes to the lb and dies.
for url in "http://$VIP4:$PORT/" "http://[$VIP6]:$PORT/"; do
	if run_conns client 1 --url "$url" --count 2 --timeout-ms 500 &&
	   grep -qx 'errors 2' <<<"$out"; then
		ok "$url from the client: unanswered (no balancer yet)"
	else
		bad "$url from the client should fail without a balancer (rc $rc)"
	fi
done

# 9. SIGTERM: every httpd exits cleanly.
topo_stop_backends
clean=0
for ((i = 1; i <= TOPO_N; i++)); do
	grep -q "^httpd b$i: exiting:" "$TOPO_DIR/httpd-b$i.log" && clean=$((clean + 1))
done
if ((clean == TOPO_N)); then
	ok "httpd b1..b$TOPO_N exited cleanly on SIGTERM"
	sed 's/^/     /' "$TOPO_DIR"/httpd-b*.log | grep exiting
else
	bad "httpd exit on SIGTERM ($clean of $TOPO_N clean)"
fi

printf 'baseline: %d passed, %d failed, %d s\n' "$pass" "$fail" \
	$((SECONDS - start))
((fail == 0))
