// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * upgrade_shape.bpf.c - an object `lbctl upgrade` must refuse, for
 * tests/test_upgrade.sh: the balancer's program name and schema tag, but
 * an IPv4 flow table of another size under the same schema number (what
 * a build with a changed constant and no schema bump would be).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "inferlb.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_meta);
} lb_meta SEC(".maps") LB_SCHEMA_TAG;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_FLOW4_TABLE_SIZE / 2);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct lb_flow_key4);
	__type(value, struct lb_flow);
} lb_flows4 SEC(".maps");

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	struct lb_flow_key4 k = { 0 };
	__u32 zero = 0;

	(void)ctx;
	if (!bpf_map_lookup_elem(&lb_meta, &zero))
		return XDP_PASS;
	return bpf_map_lookup_elem(&lb_flows4, &k) ? XDP_PASS : XDP_PASS;
}
