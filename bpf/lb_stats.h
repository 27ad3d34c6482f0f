/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* lb_stats.h - counter updates; every verdict but a forward counts a reason. */
#ifndef LB_STATS_H
#define LB_STATS_H

#include <stddef.h>
#include "lb_maps.h"

static __always_inline void lb_global_inc(__u32 offset)
{
	__u32 zero = 0;
	struct lb_global_stats *g = bpf_map_lookup_elem(&lb_global_stats, &zero);

	/* the bound keeps the verifier sure of offsets passed through
	 * struct fields (lb_choice.drop) */
	if (g && offset <= sizeof(*g) - sizeof(__u64))
		*(__u64 *)((void *)g + offset) += 1;
}

/* Counts a reason and yields the verdict: return LB_VERDICT(XDP_PASS, x); */
#define LB_VERDICT(verdict, field)                                           \
	({                                                                   \
		lb_global_inc(offsetof(struct lb_global_stats, field));     \
		(verdict);                                                   \
	})

static __always_inline void lb_counters_add(void *map, __u32 id, __u64 bytes,
					    int new_flow)
{
	struct lb_counters *c = bpf_map_lookup_elem(map, &id);

	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	if (new_flow)	/* a branch, not a read-modify-write of 0 per packet */
		c->new_flows++;
}

#endif /* LB_STATS_H */
