#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# lb-agent as lb-agent.service runs it, without systemd: the notify
# socket is a datagram socket this test reads, stderr a file whose
# device:inode JOURNAL_STREAM names (as systemd does for the journal), the
# capability bounding set the unit's (its CapabilityBoundingSet=, read
# from systemd/lb-agent.service, through setpriv), in a namespace with the
# datapath attached (tests/e2e/topo.sh, one backend) as inferlb@.service
# does it: lbctl attach, and at the end detach --drain, under that unit's
# bounding set (read from systemd/inferlb@.service).
#
#  1. READY=1 (with STATUS=) once the config is applied; the agent starts
#     with only cap_bpf and cap_net_admin in its bounding set.
#  2. log lines carry journald priorities ("<6>", "<4>") and no own time.
#  3. WATCHDOG=1 keeps coming from the loop (WATCHDOG_USEC=400000).
#  4. SIGHUP: RELOADING=1 (with MONOTONIC_USEC=), then READY=1 again.
#  5. SIGTERM: STOPPING=1, exit status 0.
#  6. lbctl detach --drain under inferlb@.service's bounding set.
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_sdnotify.sh BUILD_DIR
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
export E2E_BIN=$build/tools/e2e
export E2E_PREFIX=sdn
# shellcheck source=tests/e2e/topo.sh
. "$root/tests/e2e/topo.sh"
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"

lbctl=$build/lbctl
agent=$build/lb-agent
pins=/sys/fs/bpf/inferlb-sdtest-$$
tmp=$(mktemp -d)
AGENT_PID=
LISTEN_PID=
FAILS=0

cleanup() {
	trap - EXIT INT TERM
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
	[ -n "$LISTEN_PID" ] && kill -9 "$LISTEN_PID" 2>/dev/null && wait "$LISTEN_PID" 2>/dev/null
	if [ -n "$(topo_ns lb 2>/dev/null)" ] && [ -e "/run/netns/$(topo_ns lb)" ]; then
		nsenter --net="/run/netns/$(topo_ns lb)" "$lbctl" --pin-dir "$pins" \
			unload >/dev/null 2>&1
	fi
	rm -rf "$pins" 2>/dev/null
	topo_destroy
	if [ "$FAILS" -ne 0 ]; then
		echo "---- agent log"; cat "$tmp/agent.log" 2>/dev/null
		echo "---- notifications"; cat "$tmp/notify.log" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "ok   - $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
in_lb() { timeout 60 nsenter --net="/run/netns/$(topo_ns lb)" "$@"; }
count() { grep -c "^$1\$" "$tmp/notify.log" 2>/dev/null; }
at_least() { [ "$(count "$1")" -ge "$2" ]; }

# a unit's CapabilityBoundingSet= as setpriv's --bounding-set
bounding() {
	sed -n 's/^CapabilityBoundingSet=//p' "$root/systemd/$1" | tr ' ' '\n' |
		tr 'A-Z' 'a-z' | sed 's/^cap_/+/' | paste -sd, | sed 's/^/-all,/'
}
dp_caps=$(bounding inferlb@.service)
agent_caps=$(bounding lb-agent.service)

topo_create 1 || exit 1
if in_lb setpriv --bounding-set="$dp_caps" -- \
	"$lbctl" --pin-dir "$pins" attach "$TOPO_DEV" >"$tmp/attach" 2>&1; then
	ok "lbctl attach under inferlb@.service's bounding set ($dp_caps)"
else
	bad "lbctl attach under $dp_caps: $(cat "$tmp/attach")"; exit 1
fi
cat >"$tmp/fleet.yaml" <<EOF
agent:
  pin_dir: $pins
  watch_config: false
vips:
  - address: $VIP4:$PORT/tcp
    mode: l2dsr
    backends:
      - address: 198.18.0.11
        url: http://198.18.0.11:$PORT
EOF

# the manager's end of NOTIFY_SOCKET: one line per field of each datagram
python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    for f in s.recv(4096).decode().split("\n"):
        print(f, flush=True)
' "$tmp/notify" >"$tmp/notify.log" 2>&1 &
LISTEN_PID=$!
wait_for 5 grep -q '^bound$' "$tmp/notify.log" || { bad "notify listener"; exit 1; }

: >"$tmp/agent.log"
journal=$(stat -c '%d:%i' "$tmp/agent.log")
nsenter --net="/run/netns/$(topo_ns lb)" \
	setpriv --bounding-set="$agent_caps" -- \
	env NOTIFY_SOCKET="$tmp/notify" WATCHDOG_USEC=400000 JOURNAL_STREAM="$journal" \
	"$agent" -c "$tmp/fleet.yaml" 2>>"$tmp/agent.log" &
AGENT_PID=$!

# 1
if wait_for 15 at_least READY=1 1; then
	ok "READY=1 ($(grep -m1 '^STATUS=' "$tmp/notify.log"))"
else
	bad "no READY=1 within 15 s"; exit 1
fi
bnd=$(awk '/^CapBnd:/ { print $2 }' "/proc/$AGENT_PID/status")
# CAP_NET_ADMIN is bit 12, CAP_BPF bit 39
[ "$bnd" = "0000008000001000" ] && ok "bounding set cap_bpf,cap_net_admin ($agent_caps: $bnd)" ||
	bad "bounding set $bnd"

# 2
if grep -q '^<6>managing ' "$tmp/agent.log" && ! grep -q '^lb-agent\[' "$tmp/agent.log"; then
	ok "log lines: journald priority, no own time ($(grep -m1 '^<6>' "$tmp/agent.log" | cut -c1-50)...)"
else
	bad "log lines not in journald form"
fi

# 3
if wait_for 10 at_least WATCHDOG=1 4; then
	ok "WATCHDOG=1 from the loop ($(count WATCHDOG=1) so far)"
else
	bad "WATCHDOG=1 seen $(count WATCHDOG=1) times in 10 s"
fi

# 4
kill -HUP "$AGENT_PID"
if wait_for 10 at_least READY=1 2 && at_least RELOADING=1 1 &&
   [ "$(grep -n '^RELOADING=1$' "$tmp/notify.log" | head -1 | cut -d: -f1)" -lt \
     "$(grep -n '^READY=1$' "$tmp/notify.log" | sed -n 2p | cut -d: -f1)" ] &&
   grep -q '^MONOTONIC_USEC=[0-9]' "$tmp/notify.log"; then
	ok "SIGHUP: RELOADING=1 (MONOTONIC_USEC), then READY=1"
else
	bad "SIGHUP: no RELOADING=1 then READY=1"
fi

# 5
kill -TERM "$AGENT_PID"
if wait_for 15 bash -c "! kill -0 $AGENT_PID 2>/dev/null"; then
	wait "$AGENT_PID"
	rc=$?
	AGENT_PID=
	[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
else
	bad "SIGTERM: still running after 15 s"
fi
at_least STOPPING=1 1 && ok "STOPPING=1" || bad "no STOPPING=1"

# 6
if in_lb setpriv --bounding-set="$dp_caps" -- "$lbctl" --pin-dir "$pins" \
	detach "$TOPO_DEV" --drain --quiet-ms 100 --timeout 5 >"$tmp/detach" 2>&1; then
	ok "lbctl detach --drain under inferlb@.service's bounding set"
else
	bad "lbctl detach --drain under $dp_caps: $(cat "$tmp/detach")"
fi

if [ "$FAILS" -eq 0 ]; then echo "test_sdnotify: PASS"; exit 0; fi
echo "test_sdnotify: FAIL ($FAILS)"
exit 1
