// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pass.bpf.c - returns XDP_PASS. A veth delivers the frames its peer sends
 * with XDP_TX only while it runs an XDP program itself, so the tests and
 * the demo put this one on the far side of the balancer's veth.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}
