/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_chain.h - the index of backends by VIP, inside lb_backends itself
 * (library-internal; lb_ops.c is its user).
 *
 * Each VIP's backends form a chain: lb_vip.first_backend, then
 * lb_backend.next_id until 0. Free slots form another chain from slot 0
 * (never a backend). Both live in fields the datapath never reads, so a
 * change to one backend reads its VIP's backends, not all LB_MAX_BACKENDS.
 *
 * Crash safety (lbctl may be killed between any two writes): a slot is
 * linked into its VIP's chain while still inactive and only then made
 * active; it is deactivated before it is unlinked. So a live backend is
 * always reachable from its VIP's chain; what a crash can leave is an
 * inactive entry in a chain (the next reader sees it and rebuilds the
 * chain from a full scan) or a free slot on no list (found again when the
 * free list runs out and is rebuilt from a full scan).
 */
#ifndef LB_CHAIN_H
#define LB_CHAIN_H

#include <stddef.h>
#include <linux/types.h>
#include "inferlb.h"
#include "lb_dp.h"
#include "lb_ops.h"

/* One lb_backends entry, counted in dp->backend_reads. 0 or -errno. */
int lb_be_read(struct lb_dp *dp, __u32 id, struct lb_backend *b);
int lb_be_write(struct lb_dp *dp, __u32 id, const struct lb_backend *b);

/*
 * VIP vip_id's active backends, sorted by id, into *out (malloc'd, the
 * caller frees it; nh left zero) and *n. Walks the VIP's chain; a chain
 * that is broken (a cycle, an entry of another VIP or inactive, an id out
 * of range) is answered from a full scan and, when dp holds the lock,
 * rebuilt from it, counted in dp->chain_repairs and reported on stderr.
 * Returns 0 or a negative errno with msg set: any failed read fails the
 * call, it never returns a short list.
 */
int lb_chain_read(struct lb_dp *dp, __u32 vip_id, struct lb_backend_view **out,
		  int *n, char *msg, size_t len);

/* Puts slot id (entry *b: addr, epoch, ... with vip_id set and flags
 * without LB_BACKEND_F_ACTIVE) at the head of its VIP's chain, then makes
 * it active. On error nothing of it is reachable or active. */
int lb_chain_link(struct lb_dp *dp, struct lb_backend *b, __u32 id, char *msg,
		  size_t len);

/* Takes the deactivated slot id out of its VIP's chain; set[0..n-1] is
 * the VIP's chain as lb_chain_read returned it (for the predecessor). */
int lb_chain_unlink(struct lb_dp *dp, __u32 vip_id, __u32 id,
		    const struct lb_backend_view *set, int n, char *msg,
		    size_t len);

/* A free slot id and its entry (for the epoch), taken off the free list
 * (rebuilt from a full scan when it is empty or broken). -ENOSPC if every
 * slot is in use. */
int lb_free_pop(struct lb_dp *dp, __u32 *id, struct lb_backend *old, char *msg,
		size_t len);

/* Clears slot id (keeping its epoch) and puts it on the free list. */
int lb_free_push(struct lb_dp *dp, __u32 id);

#endif /* LB_CHAIN_H */
