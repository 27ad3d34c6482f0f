/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_ops.h - the changes an operator (lbctl) or the agent makes to a locked,
 * open datapath (struct lb_dp): VIPs, backends, weights. Each call checks
 * everything before it writes anything, so a failed call changes nothing,
 * and a VIP's table is always rebuilt whole and published in one step.
 * A failed map read fails the call (a negative errno): no call ever
 * publishes a table, or returns a list, from a partial read.
 * Every call is reentrant (no static state): a change to one backend
 * reads that VIP's backends only (dp->backend_reads counts them).
 */
#ifndef LB_OPS_H
#define LB_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "inferlb.h"
#include "lb_dp.h"

/* weight of a backend added without one (lbctl, config file) */
#define LB_WEIGHT_DEFAULT 100

/* CLOCK_BOOTTIME in ns: the clock of lb_agent_status.heartbeat_ns and of
 * lb_backend.override_until_ns (bpf_ktime_get_boot_ns() in BPF terms). */
__u64 lb_boottime_ns(void);

/* The operator's overrides of b still in force at now_ns (boottime):
 * LB_BACKEND_F_OVR_WEIGHT / _STATE, or 0 once override_until_ns has
 * passed (lb_vip_publish then clears the flags). The one rule every
 * reader uses: the publish, the agent, lbctl show and /metrics. */
__u8 lb_backend_override(const struct lb_backend *b, __u64 now_ns);

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
/* A VIP's settings: fixed for its life (mode, ring size), then how it
 * picks and admits new flows (changeable with lb_vip_set). */
struct lb_vip_opts {
	__u8 mode;		/* enum lb_fwd_mode */
	__u32 ring_size;
	__u8 policy;		/* enum lb_policy */
	__u8 refuse;		/* enum lb_refuse */
	bool fail_open;
	bool second_chance;	/* LB_VIP_F_SECOND_CHANCE (ipip VIPs only) */
	bool pair_choice;	/* LB_VIP_F_PAIR_CHOICE (with second chance) */
	__u32 rate, burst;	/* VIP new flows/s; 0 = no limit */
	__u32 client_rate, client_burst;
	__u8 client_plen4, client_plen6;	/* 0: /32 and /64 */
	__u16 bounded_eps;	/* percent */
	__u32 ttft_target_ms;	/* expected-wait shedding; 0 = none */
};
/* Largest TTFT target: an hour (the product with 1e6 stays in 64 bits
 * by far; beyond it a target means nothing). */
#define LB_TTFT_TARGET_MAX_MS 3600000u
/* A new VIP's settings unless told otherwise (lbctl vip add, the file). */
#define LB_BOUNDED_EPS_DEFAULT 25
#define LB_VIP_OPTS_DEFAULT                                               \
	{ .mode = LB_FWD_IPIP, .ring_size = LB_RING_SIZE_DEFAULT,         \
	  .bounded_eps = LB_BOUNDED_EPS_DEFAULT, .second_chance = true }

int lb_vip_add(struct lb_dp *dp, const struct lb_vip_key *key,
	       const struct lb_vip_opts *o, char *msg, size_t len);
/* Changes policy and admission (not mode or ring size) of a live VIP. */
int lb_vip_set(struct lb_dp *dp, const struct lb_vip_key *key,
	       const struct lb_vip_opts *o, char *msg, size_t len);
void lb_vip_opts_of(const struct lb_vip *v, struct lb_vip_opts *o);
int lb_vip_del(struct lb_dp *dp, const struct lb_vip_key *key, char *msg,
	       size_t len);
/* All VIPs, by id. Returns how many (at most max), or a negative errno
 * if a read failed. */
int lb_vip_list(struct lb_dp *dp, struct lb_vip_view *out, int max);

int lb_backend_add(struct lb_dp *dp, const struct lb_vip_key *vip,
		   const __u8 addr[16], __u8 family, __u32 weight, char *msg,
		   size_t len);
/* The same, recording who added it (enum lb_origin; lb_backend_add:
 * static) and, for a found worker, its port. */
int lb_backend_add_from(struct lb_dp *dp, const struct lb_vip_key *vip,
			const __u8 addr[16], __u8 family, __u32 weight,
			__u8 origin, __u16 port, char *msg, size_t len);
int lb_backend_del(struct lb_dp *dp, const struct lb_vip_key *vip,
		   const __u8 addr[16], __u8 family, char *msg, size_t len);
/*
 * The operator's hand-made changes (lbctl set-weight, backend state): each
 * is an override lb-agent leaves alone (LB_BACKEND_F_OVR_WEIGHT / _STATE)
 * for override_for_ns (CLOCK_BOOTTIME; 0 = until lb_backend_release). The
 * expiry is one per backend: the latest change sets it for both.
 * set_weight rebuilds the table; set_state writes the state only (the
 * datapath refuses new flows to a backend whose state takes none).
 */
int lb_backend_set_weight(struct lb_dp *dp, const struct lb_vip_key *vip,
			  const __u8 addr[16], __u8 family, __u32 weight,
			  __u64 override_for_ns, char *msg, size_t len);
int lb_backend_set_state(struct lb_dp *dp, const struct lb_vip_key *vip,
			 const __u8 addr[16], __u8 family, __u8 state,
			 __u64 override_for_ns, char *msg, size_t len);
/* Hands a backend back to lb-agent: clears both overrides and their
 * expiry, changes neither weight nor state (the agent publishes its own
 * in its next round). 1 if an override was released, 0 (with a note in
 * msg) if it had none; -ENOENT if there is no such backend. */
int lb_backend_release(struct lb_dp *dp, const struct lb_vip_key *vip,
		       const __u8 addr[16], __u8 family, char *msg, size_t len);
/* The backend at addr of VIP vip, as found in the maps (no next hop):
 * 0, or -ENOENT (no such VIP or backend) or another negative errno, with
 * msg set. */
int lb_backend_find(struct lb_dp *dp, const struct lb_vip_key *vip,
		    const __u8 addr[16], __u8 family, struct lb_backend_view *out,
		    char *msg, size_t len);
/*
 * The first step of a graceful delete (lbctl backend del --drain): state
 * DRAINING as the operator's override until released (LB_BACKEND_F_OVR_STATE:
 * lb-agent keeps it, and with it weight 0), weight 0 and the VIP's table
 * rebuilt without it, so no new flow goes to it whatever the policy, with
 * or without an agent; its established flows go on. *was: the backend as
 * it was (id, epoch, weight). lb_backend_del is the last step.
 */
int lb_backend_drain(struct lb_dp *dp, const struct lb_vip_key *vip,
		     const __u8 addr[16], __u8 family,
		     struct lb_backend_view *was, char *msg, size_t len);
/* Every slot of lb_backends, all[id] for id 0 .. LB_MAX_BACKENDS-1, read
 * with batch lookups (one syscall per id would cost milliseconds).
 * 0 or a negative errno; never a partial table (a short read is -EIO). */
int lb_backend_read_all(struct lb_dp *dp, struct lb_backend *all);
/* The active backends of VIP vip_id, by id, through the VIP's chain,
 * with their next hops. Returns how many (at most max), or a negative
 * errno if a read failed. */
int lb_backend_list(struct lb_dp *dp, __u32 vip_id,
		    struct lb_backend_view *out, int max);
/* The same without next hops, all of them, into *out (malloc'd, the
 * caller frees it) and *n: 0 or a negative errno with msg set. */
int lb_backend_list_alloc(struct lb_dp *dp, __u32 vip_id,
			  struct lb_backend_view **out, int *n, char *msg,
			  size_t len);
/*
 * Recounts every backend's open flows from the flow tables and the SYN
 * slots (handshakes waiting for their ACK). A flow counts when it is not
 * closed (FIN/RST seen) nor a SYN slot already promoted, its backend id still has the
 * flow's epoch, that backend is not DOWN (its flows died with its worker:
 * the clients got a RST from the worker's host, which never passes the
 * balancer) and its lb_flow.seen is at least since (0: any). Flows evicted
 * from the LRU tables drop out by themselves. The count replaces the
 * datapath's as a correction (count - the value read before the scan), so
 * flows opened or closed during the scan are kept, give or take the few
 * the scan also saw. Returns 0 or a negative errno with msg set.
 */
struct lb_flow_occupancy;
int lb_open_recount(struct lb_dp *dp, __u32 since,
		    struct lb_flow_occupancy *occ, char *msg, size_t len);
/* What the flow tables held at lb_open_recount's scan (occ may be NULL),
 * entries and size per family: LRU tables, so a full one evicts its least
 * recently used flows, established ones included. */
struct lb_flow_occupancy {
	__u64 entries[2];	/* [0] lb_flows4, [1] lb_flows6 */
	__u64 capacity[2];
};

/* The open flows of backend id by lb_open_recount's rule (the same
 * since), counted from the flow tables into *open without writing
 * anything: the datapath's own count is left alone. 0 or a negative
 * errno with msg set. */
int lb_backend_open_flows(struct lb_dp *dp, __u32 id, __u32 since,
			  __u64 *open, char *msg, size_t len);
/* The value of lb_settings.tick at CLOCK_MONOTONIC time ms: the one
 * formula of the flow clock (never 0, so a zeroed lb_flow.seen is old). */
static inline __u32 lb_tick_of_ms(__u64 ms)
{
	return (__u32)(ms / LB_TICK_MS) + 1;
}
/* CLOCK_MONOTONIC in ms: the clock of the flow tick, of lb-agent's rounds
 * and of lbctl's waits. */
__u64 lb_mono_ms(void);
/* lb_tick_of_ms(now): lbctl, while it drains a backend, moves the flow
 * clock itself, and an agent beside it writes the same values. */
__u32 lb_tick_now(void);
/* Sets lb_settings.tick (the clock lb_flow.seen is kept in). */
int lb_tick_set(struct lb_dp *dp, __u32 tick, char *msg, size_t len);

/* The L2 next hop towards a backend, through a device inferlb is attached
 * to (libnl route + neighbour lookup); lets a batch of changes resolve
 * every new backend before it writes anything. */
int lb_nexthop_for(struct lb_dp *dp, const __u8 addr[16], __u8 family,
		   __u8 mode, struct lb_nexthop *nh, char *msg, size_t len);
/* A backend of family for a VIP of mode: an ipip VIP needs an outer
 * source address of that family (lb_settings, from the attached device).
 * 0, or -EADDRNOTAVAIL with msg saying what to do. */
int lb_encap_source_need(struct lb_dp *dp, __u8 mode, __u8 family, char *msg,
			 size_t len);

/* What lb-agent controls of one backend. */
struct lb_publish_entry {
	__u32 id;
	__u32 weight;
	__u32 rate;
	__u32 burst;
	__u8 state;	/* enum lb_be_state */
	/* out: the operator's overrides in force (LB_BACKEND_F_OVR_WEIGHT,
	 * LB_BACKEND_F_OVR_STATE), which kept their values over these */
	__u8 override;
};

/*
 * Publishes weights, states and rates of backends of VIP vip_id in one go:
 * the VIP's table is rebuilt once (published in one step) if any weight
 * changed, and *rebuilt says so. States other than DOWN are written before
 * the new table, DOWN after it. -ESTALE if an id is no longer that VIP's;
 * any failed read fails the call before anything is written.
 *
 * The operator's overrides win (the agent never fights the operator):
 *   - OVR_WEIGHT: the backend keeps its weight, the table is built with it;
 *   - OVR_STATE: it keeps its state; with a state that takes no new flows
 *     (anything but HEALTHY) and no OVR_WEIGHT it gets weight 0 in the
 *     table, with HEALTHY the weight given here;
 *   - rate and burst always come from c.
 * Overrides whose override_until_ns has passed are cleared (written back)
 * and c applies. c[i].override reports what was in force, and on success
 * c[i].weight and c[i].state are set to what is live (the operator's
 * values where an override held).
 */
int lb_vip_publish(struct lb_dp *dp, __u32 vip_id, struct lb_publish_entry *c,
		   size_t n, bool *rebuilt, char *msg, size_t len);

#endif /* LB_OPS_H */
