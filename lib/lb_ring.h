/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_ring.h - publishing a VIP's Maglev table to the datapath, hitlessly.
 */
#ifndef LB_RING_H
#define LB_RING_H

#include <linux/types.h>
#include "inferlb.h"

/* BTF for ring maps ({__u32 key; struct lb_ring_slot value}), so that
 * `bpftool map dump` names their fields. Load once, reuse for every table. */
struct lb_ring_btf {
	int fd;
	__u32 key_type_id;
	__u32 value_type_id;
};

int lb_ring_btf_load(struct lb_ring_btf *rb);
void lb_ring_btf_close(struct lb_ring_btf *rb);

/* Writes table[0..ring_size-1] (backend ids) into a fresh inner map and
 * swaps it into rings_fd[vip_id] with one update. Each slot's previous
 * owner (struct lb_ring_slot) comes from the table it replaces, read
 * through its map id (needs CAP_SYS_ADMIN; without it the slots start
 * with none). Until that update the
 * old table serves every packet; after it returns, no packet uses the old
 * table any more (the kernel waits for an RCU grace period). On error the
 * old table stays in place. rb may be NULL (map without BTF).
 * Returns 0 or a negative errno. */
int lb_ring_install(int rings_fd, __u32 vip_id, __u32 ring_size,
		    const __u32 *table, const struct lb_ring_btf *rb);

/* The same, keeping a pin of the live table in pin_dir (LB_PIN_RING_PREFIX
 * + VIP id): the next install reads the previous owners from it, which a
 * process without CAP_SYS_ADMIN (lb-agent) cannot do through the table's
 * map id. pin_dir NULL: lb_ring_install(). */
int lb_ring_install_at(int rings_fd, const char *pin_dir, __u32 vip_id,
		       __u32 ring_size, const __u32 *table,
		       const struct lb_ring_btf *rb);

/* Reads table fd (a VIP's inner ring map) of ring_size slots into
 * out[ring_size]: batch reads, or one by one on a kernel without batch
 * operations on arrays. Returns 0, -ERANGE for a map of another size or
 * slot layout, or -errno. */
int lb_ring_read(int fd, __u32 ring_size, struct lb_ring_slot *out);

/* Removes a VIP's table (its packets are then dropped as "no backend"). */
int lb_ring_remove(int rings_fd, __u32 vip_id);
/* The same, and its pin in pin_dir (NULL: none). */
int lb_ring_remove_at(int rings_fd, const char *pin_dir, __u32 vip_id);

#endif /* LB_RING_H */
