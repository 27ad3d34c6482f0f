/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_admit.h - admission control of new flows: token buckets (VIP, client
 * prefix, backend), backend states, and the candidate order of each
 * selection policy. Only new flows come here; established flows never
 * spend a token.
 */
#ifndef LB_ADMIT_H
#define LB_ADMIT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "inferlb.h"
#include "lb_maps.h"

#define LB_NS_PER_S 1000000000ull
#define LB_TB_CAS_TRIES 4

/*
 * Takes one token from bucket tb (rate tokens/s, burst tokens) at time
 * now, or says there is none: GCRA (see struct lb_tb), correct under
 * concurrent CPUs through compare-and-swap. Returns 1 if admitted.
 * A bucket that loses LB_TB_CAS_TRIES races in a row refuses: only a
 * bucket hammered by every CPU at once does, and then it is nearly empty.
 */
static __always_inline int lb_tb_take(struct lb_tb *tb, __u32 rate,
				      __u32 burst, __u64 now)
{
	__u64 t = LB_NS_PER_S / rate;	/* caller: rate > 0 */
	__u64 tau = (__u64)(burst ? burst : 1) * t;

	for (int i = 0; i < LB_TB_CAS_TRIES; i++) {
		__u64 tat = tb->tat;
		__u64 base = tat > now ? tat : now;

		if (base + t > now + tau)
			return 0;
		if (__sync_val_compare_and_swap(&tb->tat, tat, base + t) == tat)
			return 1;
	}
	return 0;
}

/* The client's prefix for its bucket: /plen4 of IPv4, /plen6 of IPv6. */
static __always_inline void lb_client_key(struct lb_client_key *k,
					  __u32 vip_id, const void *saddr,
					  const struct lb_vip *vip, const int v6)
{
	__u32 plen = v6 ? (vip->client_plen6 ? vip->client_plen6 : 64)
			: (vip->client_plen4 ? vip->client_plen4 : 32);
	const __u32 *w = saddr;
	__u32 *o = (__u32 *)k->addr;

	k->vip_id = vip_id;
	k->plen = plen;
	k->family = v6 ? LB_AF_INET6 : LB_AF_INET;
	k->pad = 0;
	o[0] = o[1] = o[2] = o[3] = 0;
	for (int i = 0; i < 4; i++) {
		__u32 bits = plen > 32 * i ? plen - 32 * i : 0;

		if (i && !v6)
			break;
		if (bits >= 32)
			o[i] = w[i];
		else if (bits)
			o[i] = w[i] & bpf_htonl(~0u << (32 - bits));
	}
}

static __always_inline void lb_refused_inc(void *map, __u32 id, __u32 off)
{
	void *r = bpf_map_lookup_elem(map, &id);

	if (r && off <= sizeof(struct lb_refusals) - sizeof(__u64))
		*(__u64 *)(r + off) += 1;
}

#define LB_REFUSED(map, id, field) \
	lb_refused_inc(&(map), (id), offsetof(struct lb_refusals, field))

#endif /* LB_ADMIT_H */
