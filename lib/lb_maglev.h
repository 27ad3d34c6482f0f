/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_maglev.h - weighted Maglev lookup-table builder (userspace only).
 *
 * Builds the M-slot table a VIP's XDP program indexes with hash % M. The
 * table depends only on the set of backends (identified by address), their
 * weights, M and the seed: input order does not matter. Each backend owns
 * its weighted share of slots to within one slot, and removing a backend
 * moves few slots that it did not own (Maglev's minimal disruption).
 *
 * Two ways to call it:
 *   - lb_maglev_build(): one-shot, allocates and frees its scratch memory;
 *   - struct lb_maglev_ctx + lb_maglev_ctx_build(): keeps scratch memory
 *     between builds, for a daemon that rebuilds tables often.
 * Neither touches global mutable state; a ctx must not be shared by two
 * threads at once.
 */
#ifndef LB_MAGLEV_H
#define LB_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "inferlb.h"

/* Most backends one table can hold (the datapath's id space). */
#define LB_MAGLEV_MAX_BACKENDS LB_MAX_BACKENDS

struct lb_maglev_backend {
	__u8 addr[16]; /* identity; IPv4 uses addr[0..3], rest zero */
	__u32 weight;  /* relative weight; 0 = gets no slots */
	__u32 id;      /* value written into the slots it owns; never 0 */
};

/*
 * Scratch memory reused between builds. Treat the fields as private (but
 * see tail_slots); only lb_maglev_ctx_init/fini/build touch them. Buffers
 * only ever grow.
 */
struct lb_maglev_ctx {
	void *ents;       /* backends sorted by address (struct lb_mg_ent) */
	void *state;      /* per-backend probe state (struct lb_mg_state) */
	void *rank;       /* ents by remainder, for the quota pass */
	__u16 *order;     /* turn order: M state indices */
	__u32 *bucket;    /* counting-sort time buckets */
	__u8 *taken;      /* byte map of claimed slots, M */
	size_t cap_n;     /* capacity of ents and state, in backends */
	__u32 cap_m;      /* capacity of order, bucket and taken, in slots */
	/* Public knob, for tests: free slots left when the fill stops probing
	 * and scans the free list instead (same table either way). 0 means
	 * the default; values above the default are clamped to it; 1 makes
	 * the build plain probing, as in the paper. */
	__u32 tail_slots;
};

bool lb_is_prime(__u32 n);
/* A usable table size M: a prime in [LB_RING_SIZE_MIN, LB_RING_SIZE_MAX]
 * (the one check every caller makes: lbctl, the config file, the library). */
bool lb_ring_size_ok(__u32 m);

void lb_maglev_ctx_init(struct lb_maglev_ctx *ctx);
void lb_maglev_ctx_fini(struct lb_maglev_ctx *ctx);

/*
 * Fill table[0..m-1] with backend ids. Returns 0, -EINVAL (NULL table, NULL
 * be with n > 0, m not a prime in [LB_RING_SIZE_MIN, LB_RING_SIZE_MAX],
 * n > LB_MAGLEV_MAX_BACKENDS, an id of 0, two backends with the same
 * addr) or -ENOMEM. With n == 0 or all weights 0 every slot is
 * LB_BACKEND_NONE. be[] is never modified; on error table is untouched.
 * Ids are written as given: keeping them unique is the caller's job.
 * ctx must have been set up by lb_maglev_ctx_init().
 */
int lb_maglev_ctx_build(struct lb_maglev_ctx *ctx,
			const struct lb_maglev_backend *be, size_t n, __u32 m,
			__u32 seed, __u32 *table);

/* Same as lb_maglev_ctx_build() with a throw-away ctx. */
int lb_maglev_build(const struct lb_maglev_backend *be, size_t n, __u32 m,
		    __u32 seed, __u32 *table);

#endif /* LB_MAGLEV_H */
