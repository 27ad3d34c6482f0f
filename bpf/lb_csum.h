/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* lb_csum.h - Internet checksum helpers (RFC 1071) for headers we build. */
#ifndef LB_CSUM_H
#define LB_CSUM_H

#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

static __always_inline __u16 lb_csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* Checksum of a 20-byte IPv4 header without options, summed inline:
 * ten loads are cheaper than a helper call on the per-packet path. */
static __always_inline void lb_ipv4_csum(struct iphdr *iph)
{
	__u16 *w = (__u16 *)iph;
	__u64 sum = 0;

	iph->check = 0;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += w[i];
	iph->check = lb_csum_fold(sum);
}

#endif /* LB_CSUM_H */
