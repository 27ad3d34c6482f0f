/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_digest.h - a VIP's table digest: equal on two balancer hosts that
 * make the same decision for every new flow of the VIP, whatever order
 * their backends were added in.
 *
 * Backend ids are host-local, so the digest hashes what they stand for:
 * the ring size, each slot as its backend's family and address (the VIP's
 * port is every backend's port), and the backend list sorted by family
 * and address with each one's weight and state. FNV-1a, 64 bits, over
 * that byte stream (little-endian integers), printed as 16 hex digits.
 */
#ifndef LB_DIGEST_H
#define LB_DIGEST_H

#include <stddef.h>
#include <linux/types.h>
#include "lb_dp.h"

/* The digest of VIP vip_id's published table and backends into *out.
 * 0, or a negative errno with msg set (-ENOENT: the VIP has no table). */
int lb_vip_digest(struct lb_dp *dp, __u32 vip_id, __u64 *out, char *msg,
		  size_t len);

#endif /* LB_DIGEST_H */
