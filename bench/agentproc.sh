# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# agentproc.sh - the benchmarks' one lb-agent process: started in a
# network namespace with nsenter (not `ip netns exec`, which remounts
# /sys and hides the bpffs pins), stopped with SIGTERM and, after 5 s,
# SIGKILL. Needs $agent (the binary) and $tmp/agent.log.

AGENT_PID=

# agent_start NETNS CONFIG: sets AGENT_PID
agent_start() {
	echo "---- lb-agent -c $2" >>"$tmp/agent.log"
	nsenter --net="/run/netns/$1" "$agent" -c "$2" >>"$tmp/agent.log" 2>&1 &
	AGENT_PID=$!
}

agent_stop() {
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null
	local i
	for i in $(seq 50); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
}
