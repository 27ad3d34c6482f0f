#!/bin/sh
# Runs every test binary, all of them even if one fails; exits non-zero if
# any failed. Usage: tests/run.sh BUILD_DIR
# Each binary is bounded in time; tests that need root say so and fail.
set -eu
build=${1:-build}
fail=0

# make test must stay under 15 minutes: each test says how long it took
run() {
	name=$1; shift
	printf '== %s\n' "$name"
	t0=$(date +%s)
	if ! timeout 300 "$@"; then
		printf '!! %s FAILED\n' "$name"
		fail=1
	fi
	printf '   (%s: %d s)\n' "$name" $(($(date +%s) - t0))
}

run "maglev (unit)" "$build/tests/test_maglev"
run "text and JSON output (unit)" "$build/tests/test_print"
run "Prometheus metrics and engine profiles (unit)" "$build/tests/test_prom"
run "agent policy and backend states, injected time (unit)" "$build/tests/test_policy"
run "expected-wait inputs: decode speed, output length, slot wait (unit)" "$build/tests/test_speed"
run "agent config file (unit)" "$build/tests/test_config"
run "cluster decision, base64, etcd txn JSON (unit)" "$build/tests/test_cluster"
run "discovery: merge, guard rails, drain life cycle (unit)" "$build/tests/test_discovery"
run "etcd registry entry: key, JSON encode and strict decode (unit)" "$build/tests/test_registry"
run "table of maps against the BPF objects (unit)" "$build/tests/test_maps"
# libFuzzer targets (ASan + UBSan): the corpus in fuzz/corpus/ once, then
# FUZZ_TEST_SECONDS of fuzzing each; one line per target
fuzz_s=${FUZZ_TEST_SECONDS:-10}
run "parsers under libFuzzer: corpus, then ${fuzz_s} s each (fuzz)" \
	fuzz/run.sh --test "$build" "$fuzz_s"
if [ "$(id -u)" -ne 0 ]; then
	echo "Error: the datapath tests load BPF programs; run 'make test' as root" >&2
	exit 1
fi
run "datapath fixtures (BPF_PROG_TEST_RUN)" "$build/tests/test_datapath"
run "hitless table swap" "$build/tests/test_hitless"
# moves itself into a network namespace of its own (loopback only)
run "second chance: chained frames, flows and decap (BPF_PROG_TEST_RUN)" \
	"$build/tests/test_secondchance"
run "admission control and selection policies (BPF_PROG_TEST_RUN)" "$build/tests/test_admission"
run "pin directory error codes (lb_dp)" "$build/tests/test_dp_errors"
# moves itself into a network namespace of its own (veth, 198.18.60-61.0/24)
run "VIP/backend operations on pinned datapaths (namespace)" "$build/tests/test_ops"
# moves itself into a network namespace of its own (veth, 198.18.62-63.0/24)
run "next-hop re-sync on a pinned datapath (namespace)" "$build/tests/test_nexthop_sync"
run "next hops via libnl (namespaces)" tests/test_neigh.sh "$build/tests/neigh_probe"
run "DNS lookups (SRV, A, AAAA) against unbound (namespace)" tests/test_dns.sh "$build"
run "lbctl command line (namespaces)" tests/test_lbctl_cli.sh "$build"
run "man pages and bash completion against lbctl help, lb-agent --help, the config keys" tests/test_manpages.sh "$build"
run "apply guard: an empty or VIP-less config never wipes the balancer (namespaces)" \
	tests/test_apply_guard.sh "$build"
run "e2e tools, without the balancer (namespaces)" env E2E_BIN="$build/tools/e2e" tests/e2e/test_topo_baseline.sh
run "real TCP through inferlb (namespaces)" tests/e2e/test_e2e.sh "$build"
run "a SYN flood evicts no established flow (namespaces)" \
	tests/test_synflood.sh "$build"
run "backend del --drain under real streams (namespaces)" tests/test_drain.sh "$build"
run "second chance: streams survive a table move without flow entries (namespaces)" \
	tests/test_secondchance.sh "$build"
run "hitless program upgrade under 50 streams (namespaces)" tests/test_upgrade.sh "$build"
run "simulated GPU worker (namespace)" tests/test_gpusim.sh "$build/tools/gpusim"
run "streaming load generator (namespace)" \
	tests/test_loadgen.sh "$build/tools/loadgen" "$build/tools/gpusim"
# its HTTP server listens on 127.0.0.1 of a namespace of its own
run "agent HTTP poller, libcurl multi (namespace)" \
	unshare --net sh -c 'ip link set lo up && exec "$0"' "$build/tests/test_poll"
run "lb-agent with simulated GPU workers and real maps (namespaces)" \
	tests/test_agent.sh "$build"
run "lb-agent under systemd's protocol: READY, WATCHDOG, RELOADING, STOPPING, journald priorities, the unit's bounding set (namespaces)" \
	tests/test_sdnotify.sh "$build"
run "DNS discovery end to end: unbound SRV records -> lb-agent -> XDP, workers added, drained under streams, empty answer held, server down (namespaces)" \
	tests/test_discovery_e2e.sh "$build"
run "etcd registry discovery end to end: leases, an expired one drained under streams, a wiped prefix held (namespaces)" \
	tests/test_discovery_etcd.sh "$build"
run "lb-agent /metrics beyond loopback: TLS, basic auth or refused (namespace)" \
	tests/test_metrics_auth.sh "$build"
run "next hops follow the network: lbctl nexthop refresh, lb-agent (namespaces)" tests/test_nexthop.sh "$build"
run "cluster mode: 3 hosts, one etcd, leader failover, etcd outage (namespaces)" tests/test_cluster_agent.sh "$build"
run "lbctl register: a worker kept in an etcd registry while healthy (namespaces)" tests/test_register.sh "$build"
run "VIP announcement: routes gated on health, withdraw, detach --drain, lb-agent, table_digest (namespaces)" tests/test_announce.sh "$build"
run "Grafana dashboard and Prometheus alert rules: names against a real /metrics scrape, promtool check/test rules (namespace)" tests/test_monitoring.sh "$build"
run "3 hosts behind a BIRD router's ECMP: spread, a host leaving and coming back under streams (namespaces)" tests/test_cluster.sh "$build"

[ "$fail" -eq 0 ] && echo "all tests passed"
exit "$fail"
