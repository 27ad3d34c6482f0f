// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * trivial.bpf.c - the floor of the XDP benchmark (bench/bench_xdp.c).
 *
 * Sends every frame back untouched. Measured through the same harness as
 * the balancers (harness -> restore -> tail call -> this), its per-packet
 * time is what the measurement itself costs; the benchmark subtracts it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdp_trivial(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_TX;
}
