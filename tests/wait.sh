# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# wait.sh - bounded waits for the namespace tests, benchmarks and demo:
# every loop that waits for something ends in time.

# ms: milliseconds since the epoch
ms() { date +%s%3N; }

# wait_for SECONDS CMD...: until CMD succeeds, checking every 50 ms;
# fails once SECONDS have passed
wait_for() {
	local end=$(($(ms) + $1 * 1000))
	shift
	while [ "$(ms)" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
