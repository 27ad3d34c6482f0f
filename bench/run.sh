#!/bin/sh
# Runs the benchmarks. Usage: bench/run.sh BUILD_DIR
# Each prints its figures beside a baseline measured in the same run.
set -eu
build=${1:-build}
echo "== Maglev table build (userspace)"
"$build/bench/bench_maglev"
echo
echo "== Prometheus parser (lb-agent's scrapes)"
"$build/bench/bench_prom"
echo
if [ "$(id -u)" -ne 0 ]; then
	echo "Error: the XDP benchmark loads BPF programs; run 'make bench' as root" >&2
	exit 1
fi
echo "== XDP per-packet cost"
"$build/bench/bench_xdp"
echo
echo "== second chance: a chained miss, a chained flow, decap of a chain"
"$build/bench/bench_chain"
echo
echo "== replacing the running program: lbctl upgrade vs detach + attach (namespaces)"
bench/upgrade.sh "$build"
echo
echo "== set-weight on one backend among 16k (library, pinned maps)"
"$build/bench/bench_ops"
echo
echo "== lb-agent (namespaces, simulated fleet)"
bench/agent.sh "$build"
