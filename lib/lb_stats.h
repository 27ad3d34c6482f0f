/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_stats.h - the one reader of the datapath's counters: per VIP and per
 * backend what was forwarded and refused, each backend's open flows, and
 * the global pass/drop reasons. `lbctl stats` prints a snapshot, lb-agent's
 * /metrics exposes one; both read it here so they cannot disagree.
 *
 * A snapshot is owned by the caller (arrays allocated by lb_stats_read,
 * freed by lb_stats_free); nothing here is static, so two threads may each
 * read their own.
 */
#ifndef LB_STATS_H
#define LB_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <linux/types.h>
#include "inferlb.h"
#include "lb_dp.h"

struct lb_stats_backend {
	__u32 id;
	__u32 vip_id;
	__u8 addr[16];
	__u8 family;			/* LB_AF_* */
	struct lb_counters c;		/* forwarded, summed over CPUs */
	struct lb_refusals refused;	/* new flows refused */
	__u64 open_flows;		/* new - closed - expired */
	__u8 override;			/* LB_BACKEND_F_OVR_* in force: an
					 * operator's weight / state
					 * (lb_backend_override) */
};

struct lb_stats_vip {
	__u32 id;
	struct lb_vip_key key;
	struct lb_counters c;
	struct lb_refusals refused;
	/* its active backends: be[first .. first + n_be), by id */
	size_t first, n_be;
};

struct lb_stats {
	struct lb_stats_vip *vip;	/* by id */
	size_t n_vips;
	struct lb_stats_backend *be;	/* grouped by VIP, in vip[] order */
	size_t n_be;
	struct lb_global_stats global;	/* pass/drop reasons */
	/* id -> index + 1 into vip[] / be[] (0: not in the snapshot) */
	__u32 *vip_index, *be_index;
};

/* Reads every active VIP and backend with their counters, and the global
 * reasons, into *s (which it initializes). Returns 0, or a negative errno
 * with *s empty (nothing to free) when any read fails: a snapshot never
 * passes off a failed read as zero. */
int lb_stats_read(struct lb_dp *dp, struct lb_stats *s);
void lb_stats_free(struct lb_stats *s);

/* The VIP / backend of that id in the snapshot, or NULL. */
const struct lb_stats_vip *lb_stats_vip(const struct lb_stats *s, __u32 id);
const struct lb_stats_backend *lb_stats_backend(const struct lb_stats *s,
						__u32 id);

/* A __u64 counter of a struct, by name and offset: the names are those
 * lbctl prints and /metrics labels carry, in the struct's order. */
struct lb_reason {
	const char *name;
	size_t off;
	/* lb_refusals only: an outcome (what the refused flow got), not a
	 * reason; backend_only: counted per backend, always 0 per VIP */
	bool outcome, backend_only;
};

#define LB_GLOBAL_REASONS (sizeof(struct lb_global_stats) / sizeof(__u64))
extern const struct lb_reason lb_global_reasons[LB_GLOBAL_REASONS];
#define LB_REFUSAL_FIELDS (sizeof(struct lb_refusals) / sizeof(__u64))
extern const struct lb_reason lb_refusal_fields[LB_REFUSAL_FIELDS];

static inline __u64 lb_reason_value(const void *stats, const struct lb_reason *r)
{
	__u64 v;

	memcpy(&v, (const char *)stats + r->off, sizeof(v));
	return v;
}

/* Sum over CPUs of a per-CPU map entry made of __u64 fields. 0 or -errno
 * (out zeroed). */
int lb_percpu_sum(int map_fd, __u32 key, void *out, size_t size);

#endif /* LB_STATS_H */
