#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# lbctl register against a real etcd and a real health endpoint.
# Namespaces: E holds etcd (198.18.74.1:2379, its data dir in a temp dir);
# W holds the worker (gpusim, 198.18.74.11:8000) and lbctl register, as a
# sidecar would run. What is in etcd is read with etcdctl (v3).
#
#  1. bad arguments: exit 2, an error, nothing written to etcd;
#  2. health refused: no key; health answers: the key appears, with the
#     registry's JSON and a lease of --ttl, kept alive past several TTLs
#     (the first etcd endpoint given is dead: the second one is used);
#     the prefix deleted wholesale: the key is put again;
#  3. health fails (503): the key is gone (lease revoked); health back:
#     the key is back with a new lease;
#  4. etcd paused (SIGSTOP) longer than the TTL, then resumed: the lease
#     expired, lbctl registers again with a new one;
#  5. SIGTERM: the key is gone when lbctl has exited, exit status 0;
#  6. SIGKILL: the key stays until its lease expires (~TTL), then goes;
#  7. the README's etcdctl recipe (lease grant, put --lease, revoke).
# Measured times are printed; the only bounds are generous waits.
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_register.sh BUILD_DIR   (REG_SHOW_LOG=1: print lbctl's log)
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"

lbctl=$build/lbctl
gpusim=$build/tools/gpusim
tmp=$(mktemp -d)
E=rge$$
W=rgw$$
ETCD=198.18.74.1
WORKER=198.18.74.11
PORT=8000
TTL=3
PREFIX=/inferlb/workers/pool-a/
KEY=$PREFIX$WORKER:$PORT
ETCD_URL=http://$ETCD:2379
ETCD_PID=
GPUSIM_PID=
REG_PID=
FAILS=0
PASSES=0

cleanup() {
	trap - EXIT INT TERM
	local p
	for p in $REG_PID $GPUSIM_PID; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$ETCD_PID" ]; then
		kill -CONT "$ETCD_PID" 2>/dev/null
		kill -9 "$ETCD_PID" 2>/dev/null
		wait "$ETCD_PID" 2>/dev/null
	fi
	ip netns del "$W" 2>/dev/null
	ip netns del "$E" 2>/dev/null
	# (REG_SHOW_LOG=1: also when all passed)
	if [ "$FAILS" -ne 0 ] || [ -n "${REG_SHOW_LOG:-}" ]; then
		echo "---- lbctl register logs (last 30 lines)"
		tail -n 30 "$tmp"/reg*.log 2>/dev/null
		echo "---- etcd log (last 10 lines)"
		tail -n 10 "$tmp/etcd.log" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (network namespaces)" >&2
	exit 1
fi
for c in etcd etcdctl curl; do
	command -v "$c" >/dev/null || { echo "Error: $c missing (scripts/install-deps.sh)" >&2; exit 1; }
done

inw() { timeout 30 ip netns exec "$W" "$@"; }
ectl() { ETCDCTL_API=3 timeout 5 ip netns exec "$E" etcdctl --endpoints "$ETCD_URL" "$@"; }
# the key's value ("" if absent) and lease (decimal, 0 if none)
value() { ectl get --print-value-only "$KEY"; }
# (-w fields: jq would round the 64-bit lease id through a double)
lease() { ectl get "$KEY" -w fields | awk '$1 == "\"Lease\"" { l = $3 } END { print l + 0 ? l : 0 }'; }
present() { [ -n "$(ectl get --keys-only "$KEY")" ]; }
absent() { [ -z "$(ectl get --keys-only --prefix /)" ]; }
fault() { inw curl -s -o /dev/null -X POST "http://$WORKER:$PORT/admin/fault?mode=$1"; }
alive() { kill -0 "$1" 2>/dev/null; }

# ---- topology: E -- veth -- W ---------------------------------------------
ip netns add "$E" || exit 1
ip netns add "$W" || exit 1
ip link add "rg$$" netns "$E" type veth peer name "rw$$" netns "$W" || exit 1
ip -n "$E" link set lo up
ip -n "$W" link set lo up
ip -n "$E" addr add "$ETCD/24" dev "rg$$"
ip -n "$W" addr add "$WORKER/24" dev "rw$$"
ip -n "$E" link set "rg$$" up
ip -n "$W" link set "rw$$" up
ip netns exec "$E" etcd --name rg --data-dir "$tmp/etcd" \
	--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
	--listen-peer-urls "http://127.0.0.1:2380" --initial-advertise-peer-urls "http://127.0.0.1:2380" \
	--initial-cluster "rg=http://127.0.0.1:2380" >"$tmp/etcd.log" 2>&1 &
ETCD_PID=$!
etcd_ok() { inw curl -s --max-time 1 "$ETCD_URL/health" | grep -q '"health":"true"'; }
wait_for 15 etcd_ok || { bad "etcd did not start"; exit 1; }

# ---- 1. bad arguments --------------------------------------------------------
good=(--etcd "$ETCD_URL" --prefix "$PREFIX" --address "$WORKER" --port "$PORT")
badarg() { # badarg WHAT ARGS...: exit 2, an error line, nothing in etcd
	local what=$1 rc
	shift
	inw timeout 10 "$lbctl" register "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"
	rc=$?
	if [ "$rc" -eq 2 ] && grep -q '^Error: ' "$tmp/bad.err" && absent; then
		ok "bad arguments ($what): exit 2, $(head -1 "$tmp/bad.err")"
	else
		bad "bad arguments ($what): exit $rc, stderr: $(head -3 "$tmp/bad.err")"
	fi
}
badarg "no --address" --etcd "$ETCD_URL" --prefix "$PREFIX" --port "$PORT"
badarg "port 0" "${good[@]:0:6}" --port 0
badarg "engine" "${good[@]}" --engine foo
badarg "url" "${good[@]}" --url "ftp://$WORKER"
badarg "capacity" "${good[@]}" --capacity 0
badarg "slots" "${good[@]}" --slots 70000
badarg "ttl" "${good[@]}" --ttl 1
badarg "prefix" --etcd "$ETCD_URL" --prefix "workers/" --address "$WORKER" --port "$PORT"
badarg "etcd endpoint" --etcd "$ETCD,x" --prefix "$PREFIX" --address "$WORKER" --port "$PORT"
badarg "health url" "${good[@]}" --health-url "/health"
badarg "address" --etcd "$ETCD_URL" --prefix "$PREFIX" --address "$WORKER:$PORT" --port "$PORT"

# ---- 2. registered once the health endpoint answers -----------------------
start_reg() { # start_reg LOG
	ip netns exec "$W" "$lbctl" register \
		--etcd "http://$ETCD:2390,$ETCD_URL" --prefix "$PREFIX" \
		--address "$WORKER" --port "$PORT" --engine vllm --capacity 1.5 --slots 64 \
		--ttl "$TTL" --interval-ms 200 --timeout-ms 500 >"$tmp/$1.out" 2>"$tmp/$1.log" &
	REG_PID=$!
}
start_reg reg1
sleep 1.5
check "health refused: no key after 1.5 s" absent
check "lbctl register says why" grep -q "Connection refused\|Couldn't connect\|not registered until" "$tmp/reg1.log"
t0=$(ms)
ip netns exec "$W" "$gpusim" --bind "$WORKER" --port "$PORT" --name w1 >"$tmp/gpusim.log" 2>&1 &
GPUSIM_PID=$!
if wait_for 10 present; then
	echo "   health up -> key put after $(($(ms) - t0)) ms"
	ok "health answers: key $KEY put"
else
	bad "health answers: no key within 10 s"
fi
want='{ "address": "198.18.74.11", "port": 8000, "engine": "vllm", "capacity": 1.5, "slots": 64 }'
check "value is the registry JSON: $(value)" [ "$(value)" = "$want" ]
L1=$(lease)
check "put with a lease ($L1)" [ "$L1" != 0 ]
ttl_line=$(ectl lease timetolive "$(printf '%x' "$L1")")
check "lease granted with TTL $TTL s ($ttl_line)" grep -q "granted with TTL(${TTL}s)" <<<"$ttl_line"
sleep $((TTL * 2 + 1))
check "kept alive past 2 TTLs: same key, same lease" [ "$(lease)" = "$L1" ]
# the prefix deleted wholesale (an operator, a wiped registry): put again
t0=$(ms)
ectl del --prefix "$PREFIX" >/dev/null
if wait_for 10 present; then
	echo "   prefix deleted -> key put again after $(($(ms) - t0)) ms"
	ok "prefix deleted: key put again, same lease ($(lease))"
else
	bad "prefix deleted: key not put again within 10 s"
fi
check "value unchanged" [ "$(value)" = "$want" ]
check "lease unchanged" [ "$(lease)" = "$L1" ]

# ---- 3. health fails, then comes back -------------------------------------
t0=$(ms)
fault 503
if wait_for 10 absent; then
	echo "   health fail (503) -> key gone after $(($(ms) - t0)) ms"
	ok "health failing: key gone (lease revoked)"
else
	bad "health failing: key still there after 10 s"
fi
check "the lease was revoked, not left to expire" grep -q "deregistered (unhealthy): lease" "$tmp/reg1.log"
sleep 1
check "still failing: no key" absent
t0=$(ms)
fault none
if wait_for 10 present; then
	echo "   health back -> key put again after $(($(ms) - t0)) ms"
	ok "health back: key back"
else
	bad "health back: no key within 10 s"
fi
L2=$(lease)
new_lease() { [ "$L2" != 0 ] && [ "$L2" != "$L1" ]; }
check "registered again with a new lease ($L1 -> $L2)" new_lease
check "value unchanged" [ "$(value)" = "$want" ]

# ---- 4. etcd paused longer than the TTL ---------------------------------------
kill -STOP "$ETCD_PID"
sleep $((TTL + 2))
t0=$(ms)
kill -CONT "$ETCD_PID"
lease_moved() { l=$(lease 2>/dev/null) && [ -n "$l" ] && [ "$l" != 0 ] && [ "$l" != "$L2" ]; }
if wait_for 20 lease_moved; then
	echo "   etcd back after a $((TTL + 2)) s pause -> registered again after $(($(ms) - t0)) ms"
	ok "etcd outage over the TTL: registered again with a new lease ($L2 -> $(lease))"
else
	bad "etcd outage over the TTL: lease $(lease) (was $L2)"
fi
check "lbctl logged the outage" grep -q "etcd: .*retrying" "$tmp/reg1.log"
check "lbctl logged the expired lease" grep -q "expired in etcd" "$tmp/reg1.log"
check "value unchanged" [ "$(value)" = "$want" ]

# ---- 5. SIGTERM deregisters at once ----------------------------------------
t0=$(ms)
kill -TERM "$REG_PID"
rc=0
for ((i = 0; i < 100; i++)); do alive "$REG_PID" || break; sleep 0.05; done
wait "$REG_PID"
rc=$?
REG_PID=
gone_ms=$(($(ms) - t0))
check "SIGTERM: exit status 0 (got $rc)" [ "$rc" -eq 0 ]
check "SIGTERM: key gone when lbctl has exited (${gone_ms} ms after the signal)" absent
check "SIGTERM: lbctl says it deregistered" grep -q "deregistered: lease" "$tmp/reg1.log"
echo "   SIGTERM -> lbctl exited, key gone, after $gone_ms ms"

# ---- 6. SIGKILL: the lease expires -----------------------------------------------
start_reg reg2
wait_for 10 present || bad "registered again for the SIGKILL test"
t0=$(ms)
kill -9 "$REG_PID"
wait "$REG_PID" 2>/dev/null
REG_PID=
check "SIGKILL: key still there at once (the lease runs on)" present
if wait_for $((TTL + 5)) absent; then
	echo "   SIGKILL -> key gone after $(($(ms) - t0)) ms (lease TTL $TTL s)"
	ok "SIGKILL: key gone when the lease expired"
else
	bad "SIGKILL: key still there $((TTL + 5)) s later"
fi

# ---- 7. the README's etcdctl recipe does the same -------------------------
grant=$(ectl lease grant "$TTL")
ID=$(awk '$1 == "lease" && $3 == "granted" { print $2 }' <<<"$grant")
if [ -n "$ID" ] && ectl put --lease="$ID" "$KEY" "$want" >/dev/null && present &&
   [ "$(printf '%x' "$(lease)")" = "$ID" ] && ectl lease revoke "$ID" >/dev/null && absent; then
	ok "etcdctl recipe: lease grant, put --lease, lease revoke ($grant)"
else
	bad "etcdctl recipe: lease grant gave '$grant'"
fi

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
