/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_ops.h - the changes an operator (lbctl) or the agent makes to a locked,
 * open datapath (struct lb_dp): VIPs, backends, weights. Each call checks
 * everything before it writes anything, so a failed call changes nothing,
 * and a VIP's table is always rebuilt whole and published in one step.
 */
#ifndef LB_OPS_H
#define LB_OPS_H

#include <stddef.h>
#include <linux/types.h>
#include "inferlb.h"
#include "lb_dp.h"

#define LB_WEIGHT_MAX 1000000
#define LB_WEIGHT_DEFAULT 100

/* A VIP as found in the maps. */
struct lb_vip_view {
	__u32 id;
	struct lb_vip info;
};

/* A backend as found in the maps. */
struct lb_backend_view {
	__u32 id;
	struct lb_backend be;
	struct lb_nexthop nh;
};

int lb_vip_find(struct lb_dp *dp, const struct lb_vip_key *key,
		struct lb_vip_view *out);
int lb_vip_add(struct lb_dp *dp, const struct lb_vip_key *key, __u8 mode,
	       __u32 ring_size, char *msg, size_t len);
int lb_vip_del(struct lb_dp *dp, const struct lb_vip_key *key, char *msg,
	       size_t len);
/* All VIPs, by id. Returns how many (at most max). */
int lb_vip_list(struct lb_dp *dp, struct lb_vip_view *out, int max);

int lb_backend_add(struct lb_dp *dp, const struct lb_vip_key *vip,
		   const __u8 addr[16], __u8 family, __u32 weight, char *msg,
		   size_t len);
int lb_backend_del(struct lb_dp *dp, const struct lb_vip_key *vip,
		   const __u8 addr[16], __u8 family, char *msg, size_t len);
int lb_backend_set_weight(struct lb_dp *dp, const struct lb_vip_key *vip,
			  const __u8 addr[16], __u8 family, __u32 weight,
			  char *msg, size_t len);
/* The active backends of VIP vip_id, by id. Returns how many. */
int lb_backend_list(struct lb_dp *dp, __u32 vip_id,
		    struct lb_backend_view *out, int max);

/* Sum over CPUs of a per-CPU map entry made of __u64 fields. */
int lb_percpu_sum(int map_fd, __u32 key, void *out, size_t size);

#endif /* LB_OPS_H */
