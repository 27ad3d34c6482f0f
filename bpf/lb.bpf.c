// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb.bpf.c - the inferlb balancer (XDP).
 *
 * For every frame: parse L2 (at most one VLAN tag), IPv4/IPv6, TCP/UDP;
 * anything that is not for a VIP goes to the kernel untouched (a bit
 * filter over VIP addresses answers most of that without a hash lookup).
 * The 5-tuple is looked up in the flow table first; on a hit the flow
 * keeps its backend. On a miss (or a TCP SYN, which starts a new
 * connection) the VIP is looked up, the flow hash indexes the VIP's Maglev
 * table and the choice is recorded (except for a RST). The frame then
 * leaves through the port it came in on (XDP_TX), encapsulated (ipip) or
 * with only its destination MAC rewritten (l2dsr). ICMP errors about a VIP
 * flow (path-MTU discovery on the DSR return path) go to the flow's
 * backend the same way.
 *
 * Dropped, by design and counted: IPv4 with options, fragments and IPv6
 * extension headers addressed to a VIP address (no ports to hash on, and a
 * backend could not reassemble across balancers). Never XDP_ABORTED.
 *
 * Everything is specialised at compile time on (l3 offset, family): four
 * copies of one body, each with constant offsets, so the verifier needs no
 * variable-offset packet pointers and the hot path has no extra branches.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "inferlb.h"
#include "lb_hash.h"
#include "lb_maps.h"
#include "lb_parse.h"
#include "lb_stats.h"
#include "lb_admit.h"
#include "lb_rst.h"
#include "lb_encap.h"
#include "lb_icmp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Ports and TCP flags of a VIP candidate. */
struct lb_l4 {
	__be16 sport;
	__be16 dport;
	__u8 flags;
};

/* Reads the L4 ports at l4 (l4_len bytes of IP payload).
 * Returns 0, or -1 when the header is truncated. */
static __always_inline int lb_parse_l4(void *l4, void *data_end, __u8 proto,
				       __u32 l4_len, struct lb_l4 *out)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end || l4_len < sizeof(*th))
			return -1;
		out->sport = th->source;
		out->dport = th->dest;
		out->flags = ((__u8 *)th)[13];
		return 0;
	}
	struct udphdr *uh = l4;

	if ((void *)(uh + 1) > data_end || l4_len < sizeof(*uh))
		return -1;
	out->sport = uh->source;
	out->dport = uh->dest;
	out->flags = 0;
	return 0;
}

/* Verdict for traffic we could not parse up to its ports: drop it (and
 * count the reason) only if it is for a VIP address. */
#define LB_NOT_PARSED(daddr, v6, reason)                                     \
	(lb_addr_listed(&lb_vip_addrs, daddr, v6) ?                          \
		 LB_VERDICT(XDP_DROP, reason) :                              \
		 LB_VERDICT(XDP_PASS, pass_not_vip))

static __always_inline int lb_ipv6_is_ext(__u8 nh)
{
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_ESP:
	case IPPROTO_AH:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* Shim6 */
	case 253: /* experimentation */
	case 254:
		return 1;
	}
	return 0;
}

/* Can there be a VIP on this destination address? A clear filter bit
 * means no: one array read instead of a hash lookup for non-VIP traffic. */
static __always_inline int lb_vip_filter_hit(const void *daddr, const int v6)
{
	__u32 bit = lb_vip_filter_bit(daddr, v6), word = bit >> 6;
	__u64 *w = bpf_map_lookup_elem(&lb_vip_filter, &word);

	return w && ((*w >> (bit & 63)) & 1);
}

/* The backend flow entry fl pins its flow to, if that backend still
 * exists (same epoch, active). A VIP that goes away deactivates its
 * backends first, so this needs no VIP lookup. Returns the backend id
 * (0: not pinned) and sets *bep. */
static __always_inline __u32 lb_pick_pinned(const struct lb_flow *fl,
					    struct lb_backend **bep)
{
	struct lb_backend *be;
	__u32 be_id = fl->backend_id;

	be = bpf_map_lookup_elem(&lb_backends, &be_id);
	if (!be || !(be->flags & LB_BACKEND_F_ACTIVE) ||
	    be->epoch != fl->backend_epoch)
		return 0;
	/* Its worker is gone: a new choice (the table no longer holds it)
	 * gets the client a RST from a live backend at once, instead of
	 * retransmitting into a dead one until its timeout. */
	if (be->state == LB_BE_DOWN) {
		lb_global_inc(offsetof(struct lb_global_stats, flow_resteer_down));
		return 0;
	}
	*bep = be;
	return be_id;
}

/* The VIP a new flow is for, or NULL. */
static __always_inline struct lb_vip *lb_find_vip(const void *daddr,
						  __be16 dport, __u8 proto,
						  const int v6, __u32 *vip_id)
{
	struct lb_vip_key vk = {};
	struct lb_vip_ref *ref;
	struct lb_vip *vip;

	__builtin_memcpy(vk.addr, daddr, v6 ? 16 : 4);
	vk.port = dport;
	vk.proto = proto;
	vk.family = v6 ? LB_AF_INET6 : LB_AF_INET;
	ref = bpf_map_lookup_elem(&lb_vips, &vk);
	if (!ref)
		return NULL;
	*vip_id = ref->id;
	vip = bpf_map_lookup_elem(&lb_vip_info, vip_id);
	if (!vip || !(vip->flags & LB_VIP_F_ACTIVE))
		return NULL;
	return vip;
}

/* be_id as a backend of this VIP (active, same family and mode), or NULL. */
static __always_inline struct lb_backend *lb_be_of(__u32 be_id,
						   const struct lb_vip *vip,
						   __u32 vip_id, const int v6)
{
	struct lb_backend *be;

	if (be_id == LB_BACKEND_NONE)
		return NULL;
	be = bpf_map_lookup_elem(&lb_backends, &be_id);
	if (!be || !(be->flags & LB_BACKEND_F_ACTIVE) ||
	    be->family != (v6 ? LB_AF_INET6 : LB_AF_INET) ||
	    be->vip_id != vip_id || be->mode != vip->mode)
		return NULL;
	return be;
}

/* The backend id in slot idx of a VIP's table (0: none). */
static __always_inline __u32 lb_slot(void *ring, __u32 idx)
{
	struct lb_ring_slot *slot = bpf_map_lookup_elem(ring, &idx);

	return slot ? slot->backend_id : LB_BACKEND_NONE;
}

/* Why the candidates of a new flow were refused. */
struct lb_tries {
	int by_state;	/* some candidate refused for its state */
	int by_rate;	/* some candidate's bucket was empty */
	int bad;	/* some slot named an inactive or mismatched backend */
};

/*
 * May candidate be take a new flow now? HEALTHY: yes, if its bucket (when
 * the agent set a rate) has a token. HALF_OPEN: only with a token of its
 * trial bucket. STARTING, DRAINING, OPEN, DOWN: never.
 */
static __always_inline int lb_admit(struct lb_backend *be, __u32 be_id,
				    __u64 now, struct lb_tries *t)
{
	__u32 rate = be->rate, burst = be->burst;
	struct lb_tb *tb;

	if (be->state == LB_BE_HALF_OPEN) {
		if (!rate) {
			rate = LB_TRIAL_RATE;
			burst = LB_TRIAL_RATE;
		}
	} else if (be->state != LB_BE_HEALTHY) {
		t->by_state = 1;
		LB_REFUSED(lb_be_refused, be_id, state);
		return 0;
	}
	if (!rate)
		return 1;
	tb = bpf_map_lookup_elem(&lb_be_tb, &be_id);
	if (!tb || lb_tb_take(tb, rate, burst, now))
		return 1;
	if (be->state == LB_BE_HALF_OPEN) {
		t->by_state = 1;	/* its trials are used up */
		LB_REFUSED(lb_be_refused, be_id, state);
	} else {
		t->by_rate = 1;
		LB_REFUSED(lb_be_refused, be_id, backend_rate);
	}
	return 0;
}

/* Open flows of a backend (new - closed, recounted). */
static __always_inline __u64 lb_open_of(__u32 be_id)
{
	struct lb_be_load *ld = bpf_map_lookup_elem(&lb_be_load, &be_id);

	return ld ? lb_load_open(ld) : 0;
}

/* What lb_least_load() found. */
struct lb_least {
	__u32 id;	/* the choice, 0: no backend may take a new flow */
	__u32 unknown;	/* expected-wait fell back to least-conn */
	__u64 wait_ns;	/* expected-wait: the choice's expected wait */
};

/* A candidate's keys in lb_pair_pick(), as lb_least_load() computes them. */
struct lb_pair_key {
	__u64 open;	/* least-conn: open flows (this balancer's) */
	__u64 wait;	/* expected-wait: the expected wait, ns */
	__u64 tie;	/* ... and its tie-break */
	__u32 w;	/* least-conn: weight */
	__u32 ok;	/* may take a new flow */
};

/* lb_pair() and lb_pair_pick(): in lb_new_req, off the stack. */
struct lb_pair_pick {
	__u32 a, b;	/* the flow's hashed candidates (0: none) */
	__u32 id;	/* the choice, 0: neither may take a new flow */
	__u32 other;	/* the other candidate, 0: none */
	__u64 wait_ns;	/* expected-wait: the choice's expected wait */
	struct lb_pair_key k[2];
};

/*
 * least-conn and expected-wait: the VIP's backend, among those whose
 * weight is not 0 and whose state lets them take new flows, with
 *   least-conn     the fewest open flows per unit of weight;
 *   expected-wait  the shortest expected wait for a batch slot,
 *                  (load + 1 - slots)+ x slot_wait_ns, ties (every slot
 *                  free) by load x slot_wait_ns: the faster worker.
 * load is the open count, exact and without lag (this datapath's own),
 * plus, while fresh, what the worker last said it runs and queues beyond
 * those (engine_load): load that reaches it past this balancer. slots and slot_wait_ns are what the agent
 * measured of each worker. A backend without a slot_wait_ns yet (no
 * agent, or no measurement) makes the whole choice least-conn: waits
 * cannot be compared with guesses. Ties go to the first listed. Products
 * stay below 2^64: open is bounded by the flow tables, engine_load by
 * LB_ENGINE_LOAD_MAX and
 * slot_wait_ns by LB_SLOT_WAIT_MAX_NS.
 */
static __always_inline void lb_least_load(const struct lb_vip_backends *l,
					  int ewait, __u64 now, struct lb_least *out)
{
	__u32 best_lc = 0, best_w = 0, best_ew = 0;
	__u64 best_open = 0, best_wait = 0, best_tie = 0;

	out->unknown = !ewait;
	for (__u32 i = 0; i < LB_VIP_LIST_MAX; i++) {
		struct lb_be_load *ld;
		struct lb_backend *be;
		__u64 open, wait, tie, u;
		__u32 id, w, slots;

		if (i >= l->n)
			break;
		id = l->ids[i];
		w = l->weights[i];
		be = bpf_map_lookup_elem(&lb_backends, &id);
		if (!w || !be || (be->state != LB_BE_HEALTHY &&
				  be->state != LB_BE_HALF_OPEN))
			continue;
		ld = bpf_map_lookup_elem(&lb_be_load, &id);
		open = ld ? lb_load_open(ld) : 0;
		if (!best_lc || open * best_w < best_open * w) {
			best_lc = id;
			best_w = w;
			best_open = open;
		}
		if (out->unknown)
			continue;
		u = ld ? ld->slot_wait_ns : 0;
		if (!u) {
			out->unknown = 1;
			continue;
		}
		slots = ld->slots;
		if (ld->engine_load_ns + LB_ENGINE_LOAD_TTL_NS >= now)
			open += ld->engine_load;
		wait = open + 1 > slots ? (open + 1 - slots) * u : 0;
		tie = open * u;
		if (!best_ew || wait < best_wait ||
		    (wait == best_wait && tie < best_tie)) {
			best_ew = id;
			best_wait = wait;
			best_tie = tie;
		}
	}
	out->id = out->unknown ? best_lc : best_ew;
	out->wait_ns = out->unknown ? 0 : best_wait;
}

/* One candidate's keys for lb_pair_pick(): k->ok 0 when it may not take
 * a new flow, else its least-conn key (open, w) and, when ewait, its
 * expected-wait key (wait, tie), computed as lb_least_load() does. */
static __always_inline void lb_pair_key(__u32 id, int ewait, __u64 now,
					struct lb_pair_key *k)
{
	struct lb_backend *be = bpf_map_lookup_elem(&lb_backends, &id);
	struct lb_be_load *ld;
	__u64 load, u;

	k->ok = 0;
	if (!be || !(be->flags & LB_BACKEND_F_ACTIVE) || !be->weight ||
	    (be->state != LB_BE_HEALTHY && be->state != LB_BE_HALF_OPEN))
		return;
	ld = bpf_map_lookup_elem(&lb_be_load, &id);
	k->ok = 1;
	k->w = be->weight;
	k->open = ld ? lb_load_open(ld) : 0;
	k->wait = k->tie = 0;
	u = ld ? ld->slot_wait_ns : 0;
	if (ewait && ld && u) {
		load = k->open;
		if (ld->engine_load_ns + LB_ENGINE_LOAD_TTL_NS >= now)
			load += ld->engine_load;
		k->wait = load + 1 > ld->slots ? (load + 1 - ld->slots) * u : 0;
		k->tie = load * u;
	}
}

/*
 * The load-aware choice between a flow's two hashed candidates p->a and
 * p->b (second chance: every host can tell where the flow went from its
 * hash alone). The same keys as lb_least_load(): expected wait, or
 * least-conn when ewait is 0 (the policy, or lb_least_load() found a
 * backend without a speed); ties to p->a.
 */
static __always_inline void lb_pair_pick(struct lb_pair_pick *p, int ewait,
					 __u64 now)
{
	struct lb_pair_key *ka = &p->k[0], *kb = &p->k[1];
	int b_wins;

	lb_pair_key(p->a, ewait, now, ka);
	kb->ok = 0;
	if (p->b)
		lb_pair_key(p->b, ewait, now, kb);
	if (ka->ok && kb->ok)
		b_wins = ewait ? kb->wait < ka->wait ||
				 (kb->wait == ka->wait && kb->tie < ka->tie)
			       : kb->open * ka->w < ka->open * kb->w;
	else
		b_wins = kb->ok;
	p->id = b_wins ? p->b : ka->ok ? p->a : 0;
	p->other = b_wins ? p->a : p->b;
	p->wait_ns = b_wins ? kb->wait : ka->wait;
}

/* bounded load: would one more flow put be_id (weight w) above (1 + eps)
 * times its weighted share of the VIP's open flows? */
static __always_inline int lb_over_bound(__u32 be_id, __u32 w, __u64 total,
					 __u32 total_w, __u32 eps_pct)
{
	__u64 open = lb_open_of(be_id);

	if (!w || !total_w)
		return 0;
	return open * total_w * 100 > (100ull + eps_pct) * w * (total + 1);
}

/* p2c: a candidate's load, the agent's score plus the flows sent since
 * (LB_P2C_FLOW_SCORE units each), so a stale score does not herd. */
static __always_inline __u64 lb_p2c_load(__u32 be_id)
{
	struct lb_be_load *ld = bpf_map_lookup_elem(&lb_be_load, &be_id);

	return ld ? ld->score + ld->sent * LB_P2C_FLOW_SCORE : ~0ull;
}

/* c->refused: which lb_refusals field, + 1 (0 = not refused). */
#define LB_REFUSED_BY(field) (offsetof(struct lb_refusals, field) + 1)

/* What lb_choose() decided. */
struct lb_choice {
	struct lb_backend *be;
	__u32 be_id;
	__u32 vip_id;
	__u32 drop;    /* counter offset, when the packet must be dropped */
	__u32 refused; /* LB_REFUSED_BY(reason), when a new flow is refused */
	int new_flow;  /* chosen for a new flow, not from a flow entry */
	__u32 slot;    /* new flow: the table slot its walk started at */
	__u32 hop;     /* new flow: its other hashed candidate (load-aware) */
	__u8 chain;    /* new flow: the VIP allows second chance for it */
	__u8 mode;     /* how to forward: the VIP's mode, read once */
	__u8 refuse;   /* the VIP's enum lb_refuse */
	__u8 policy;   /* the VIP's enum lb_policy */
};

/* A new flow for lb_pick_new(), and why it got no backend. */
struct lb_new_req {
	__u32 vip_id;
	__u32 hash;	/* of the 5-tuple */
	__u32 seed;	/* lb_settings.hash_seed */
	__u8 saddr[16];	/* the client */
	__u32 v6;
	__u32 drop;	/* out: a global counter offset (no table) */
	__u32 refused;	/* out: LB_REFUSED_BY(reason) */
	struct lb_client_key ck; /* scratch: the client bucket's key */
	__u32 tried[LB_MAX_TRIES]; /* scratch: candidates already refused */
	struct lb_tb fresh;	/* scratch: a new client bucket */
	/* lb_pick_new()'s working state, here rather than on its stack:
	 * the caller's frame and its own must fit BPF's 512 bytes */
	struct lb_tries t;
	__u64 now;
	__u64 total;
	__u32 cand0, cand1;
	struct lb_least least;
	struct lb_pair_pick pair;
	__u32 first_idx;	/* out: the slot the table walk starts at */
	/* out: second chance's second hop for a choice from a pair (the
	 * other of the two, when the admitted backend is one of them), 0:
	 * the slot's previous owner or none */
	__u32 hop;
	/* in: a TCP packet without SYN (its connection exists somewhere:
	 * found, not shed) */
	__u32 midstream;
};

/* Per-CPU scratch for lb_new_req: the caller's and lb_pick_new()'s stack
 * frames together must stay within BPF's 512 bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_new_req);
} lb_scratch SEC(".maps");

/* Was id among the first n candidates of this flow (r->tried)? */
static __always_inline int lb_tried(const struct lb_new_req *r, __u32 id,
				    __u32 n)
{
	for (__u32 i = 0; i < LB_MAX_TRIES; i++) {
		if (i >= n)
			break;
		if (r->tried[i] == id)
			return 1;
	}
	return 0;
}

/* The second hop of a flow admitted on id after a choice from a pair:
 * the other of the two when id is one of them, else 0 (a flow placed
 * outside its pair, by the table walk after both were refused, is not
 * findable from another host: it goes unchained). */
static __always_inline __u32 lb_pair_hop(const struct lb_pair_pick *p, __u32 id)
{
	if (!p->id)
		return 0;
	return id == p->a ? p->b : id == p->b ? p->a : 0;
}

/* Does the VIP attach a second hop to flows found without an entry? */
static __always_inline int lb_chains(const struct lb_vip *vip)
{
	return (vip->flags & LB_VIP_F_SECOND_CHANCE) && vip->mode == LB_FWD_IPIP;
}

/* The VIP's TTFT target in ns (0: none). */
static __always_inline __u64 lb_target_ns(const struct lb_vip *vip)
{
	return (__u64)vip->ttft_target_ms * 1000000;
}

/*
 * The flow's two hashed candidates, from its hash alone (the same on every
 * balancer host with the same table): p->a owns the slot the table walk
 * starts at, p->b is the first owner other than p->a along the walk that
 * starts at a second hash of the flow (0 when LB_MAX_TRIES slots give
 * none: a table of one backend).
 */
static __always_inline void lb_pair(void *ring, __u32 m, __u32 hash,
				    __u32 first_idx, __u32 step,
				    struct lb_pair_pick *p)
{
	__u32 idx = lb_hash2(hash) % m;

	p->a = lb_slot(ring, first_idx);
	p->b = 0;
	for (__u32 k = 0; k < LB_MAX_TRIES; k++) {
		__u32 id = lb_slot(ring, idx);

		if (id != LB_BACKEND_NONE && id != p->a) {
			p->b = id;
			return;
		}
		idx += step;
		if (idx >= m)
			idx -= m;
	}
}

/*
 * A new flow of a VIP: admission (VIP and client-prefix buckets), then the
 * policy's candidates in its deterministic order until one is admitted.
 * Returns the backend id, or 0 with r->drop (no table: global counter) or
 * r->refused set. A global function, verified once on its own rather
 * than inlined at every call site: its loops would multiply the
 * verifier's work by the number of copies.
 */
__attribute__((noinline)) int lb_pick_new(struct lb_new_req *r)
{
	const struct lb_vip *vip;
	__u32 vip_id, hash;
	const void *saddr;
	int v6;
	const struct lb_vip_backends *l = NULL;
	__u32 m, idx, step, first_idx;
	__u32 ncand = 0, rr0 = 0, n = 0;
	struct lb_backend *be;
	__u8 policy;
	struct lb_tb *tb;
	void *ring;

	if (!r)
		return 0;
	r->t.by_state = r->t.by_rate = r->t.bad = 0;
	r->now = bpf_ktime_get_ns();
	r->total = 0;
	r->cand0 = r->cand1 = 0;
	r->hop = 0;
	r->pair.id = 0;	/* no choice from a pair (yet) */
	vip_id = r->vip_id;
	hash = r->hash;
	saddr = r->saddr;
	v6 = r->v6;
	vip = bpf_map_lookup_elem(&lb_vip_info, &vip_id);
	if (!vip)
		return 0;
	m = vip->ring_size;
	policy = vip->policy;
	ring = bpf_map_lookup_elem(&lb_rings, &vip_id);
	if (!ring || !m) {
		r->drop = offsetof(struct lb_global_stats, drop_no_backend);
		return 0;
	}
	if (vip->rate) {
		tb = bpf_map_lookup_elem(&lb_vip_tb, &vip_id);
		if (tb && !lb_tb_take(tb, vip->rate, vip->burst, r->now)) {
			r->refused = LB_REFUSED_BY(vip_rate);
			return 0;
		}
	}
	if (vip->client_rate) {
		lb_client_key(&r->ck, vip_id, saddr, vip, v6);
		tb = bpf_map_lookup_elem(&lb_client_tb, &r->ck);
		if (!tb) {
			r->fresh.tat = 0;
			bpf_map_update_elem(&lb_client_tb, &r->ck, &r->fresh, BPF_NOEXIST);
			tb = bpf_map_lookup_elem(&lb_client_tb, &r->ck);
		}
		if (tb && !lb_tb_take(tb, vip->client_rate, vip->client_burst, r->now)) {
			r->refused = LB_REFUSED_BY(client_rate);
			return 0;
		}
	}

	/* where the table walk starts, and the policy's own first picks */
	if (policy == LB_POL_SOURCE) {
		/* r->saddr holds 16 bytes, zero after an IPv4 address */
		hash = lb_addr_hash(r->saddr, r->seed);
	} else if (policy == LB_POL_RANDOM) {
		hash = bpf_get_prandom_u32();
	} else if (policy == LB_POL_WRR || policy == LB_POL_RR) {
		__u32 *cur = bpf_map_lookup_elem(&lb_rr, &vip_id);

		if (cur) {
			rr0 = *cur;
			*cur = rr0 + 1;
		}
		if (policy == LB_POL_WRR)
			hash = rr0;
	}
	if (policy == LB_POL_RR || policy == LB_POL_LEAST_CONN ||
	    policy == LB_POL_EXPECTED_WAIT || policy == LB_POL_BOUNDED) {
		l = bpf_map_lookup_elem(&lb_vip_backends, &vip_id);
		if (l)
			n = l->n < LB_VIP_LIST_MAX ? l->n : LB_VIP_LIST_MAX;
	}
	first_idx = hash % m;
	r->first_idx = first_idx;
	idx = first_idx;
	/* stride: 1 for wrr (the next slots), else a second hash */
	step = policy == LB_POL_WRR || m < 2 ? 1 : lb_rehash(hash) % (m - 1) + 1;
	if ((policy == LB_POL_LEAST_CONN || policy == LB_POL_EXPECTED_WAIT) && l) {
		lb_least_load(l, policy == LB_POL_EXPECTED_WAIT, r->now, &r->least);
		/* With pair choice (and second chance), the choice is
		 * between the flow's two hashed candidates, which every
		 * balancer host computes alike: a flow that reaches a host
		 * without its entry goes to one with the other attached,
		 * and one of them holds it. Only when both would miss the
		 * TTFT target does the best of all take it (a flow second
		 * chance cannot find). */
		r->pair.a = 0;
		if (lb_chains(vip) && (vip->flags & LB_VIP_F_PAIR_CHOICE)) {
			lb_pair(ring, m, hash, first_idx, step, &r->pair);
			if (r->pair.a)
				lb_pair_pick(&r->pair, !r->least.unknown, r->now);
		}
		/* a packet without SYN belongs to a connection placed
		 * already, on its pair: look there, never shed it */
		if (r->pair.id && (r->least.unknown || !vip->ttft_target_ms ||
				   r->midstream ||
				   r->pair.wait_ns <= lb_target_ns(vip))) {
			r->cand0 = r->pair.id;
			r->cand1 = r->pair.other;	/* next if refused */
		} else {
			r->pair.id = 0;	/* the best of all: unchained */
			/* deliberate shedding: a flow that would wait longer
			 * than the VIP's TTFT target is refused now, rather
			 * than queued where it and those behind it miss the
			 * target anyway; a connection's later packet is no
			 * new flow to shed */
			if (r->least.id && !r->least.unknown && vip->ttft_target_ms &&
			    !r->midstream && r->least.wait_ns > lb_target_ns(vip)) {
				r->refused = LB_REFUSED_BY(ttft_target);
				return 0;
			}
			r->cand0 = r->least.id;
		}
		ncand = r->cand0 ? (r->cand1 ? 2 : 1) : 0;
	} else if (policy == LB_POL_P2C) {
		__u32 a = lb_slot(ring, first_idx);
		__u32 b = lb_slot(ring, lb_hash2(hash) % m);

		if (lb_p2c_load(b) < lb_p2c_load(a)) {
			r->cand0 = b;
			r->cand1 = a;
		} else {
			r->cand0 = a;
			r->cand1 = b;
		}
		if (lb_chains(vip)) {	/* the pair p2c chose from */
			r->pair.a = a;
			r->pair.b = b;
			r->pair.id = r->cand0;
		}
		ncand = 2;
	} else if (policy == LB_POL_BOUNDED && l) {
		for (__u32 i = 0; i < LB_VIP_LIST_MAX; i++) {
			if (i >= n)
				break;
			r->total += lb_open_of(l->ids[i]);
		}
	}

	for (__u32 k = 0; k < LB_MAX_TRIES; k++) {
		__u32 id;
		int dup;

		if (k < ncand) {
			id = k ? r->cand1 : r->cand0;
		} else if (policy == LB_POL_RR && l && n) {
			if (k >= n)
				break;
			id = l->ids[((rr0 + k) % n) & (LB_VIP_LIST_MAX - 1)];
		} else {
			id = lb_slot(ring, idx);
			idx += step;
			if (idx >= m)
				idx -= m;
		}
		/* a backend met again further along the table was refused
		 * already: neither ask nor count it twice */
		dup = lb_tried(r, id, k);
		r->tried[k & (LB_MAX_TRIES - 1)] = id;
		if (dup)
			continue;
		be = lb_be_of(id, vip, vip_id, v6);
		if (!be) {
			r->t.bad |= id != LB_BACKEND_NONE;
			continue;
		}
		/* bounded load skips a loaded candidate but never refuses for
		 * load: the last try takes what it gets */
		if (policy == LB_POL_BOUNDED && l && k + 1 < LB_MAX_TRIES &&
		    lb_over_bound(id, be->weight, r->total, l->total_weight,
				  vip->bounded_eps))
			continue;
		if (lb_admit(be, id, r->now, &r->t)) {
			r->hop = lb_pair_hop(&r->pair, id);
			return id;
		}
	}
	/* Every candidate refused for its state: fail open if the VIP says
	 * so, with the plain Maglev choice. */
	if (r->t.by_state && !r->t.by_rate && (vip->flags & LB_VIP_F_FAIL_OPEN)) {
		__u32 id = lb_slot(ring, first_idx);

		be = lb_be_of(id, vip, vip_id, v6);
		if (be) {
			LB_REFUSED(lb_vip_refused, vip_id, fail_open);
			r->hop = lb_pair_hop(&r->pair, id);
			return id;
		}
	}
	if (!r->t.by_state && !r->t.by_rate) {
		r->drop = r->t.bad ? offsetof(struct lb_global_stats, drop_bad_backend)
				: offsetof(struct lb_global_stats, drop_no_backend);
		return 0;
	}
	r->refused = r->t.by_rate ? LB_REFUSED_BY(backend_rate)
			       : LB_REFUSED_BY(no_backend);
	return 0;
}

#define LB_CHOSEN 1
#define LB_NOT_A_VIP 0
#define LB_DROP (-1)
#define LB_REFUSE (-2)

/* The flow hash of fk (seeded: the same on every balancer). */
static __always_inline __u32 lb_flow_hash(const void *fk, __u32 seed,
					  const int v6)
{
	return v6 ? lb_flow_hash6(fk, seed) : lb_flow_hash4(fk, seed);
}

/* Chooses the backend for a packet of flow fk whose flow entry is fl (or
 * NULL): the backend it is pinned to, unless the packet starts a new
 * connection (fresh) or the pin is stale; else a new flow of the VIP
 * (lb_pick_new), hashed with hash when the caller has it (hashed).
 * Records nothing. Returns LB_CHOSEN, LB_NOT_A_VIP,
 * LB_DROP (c->drop says why) or LB_REFUSE (c->refused says why). */
static __always_inline int lb_choose(const struct lb_flow *fl, int fresh,
				     const void *fk, int hashed, __u32 hash,
				     const void *saddr, const void *daddr,
				     __be16 dport, __u8 proto, const int v6,
				     const struct lb_settings *cfg,
				     struct lb_choice *c)
{
	struct lb_new_req *req;
	struct lb_vip *vip;
	__u32 zero = 0;

	if (fl && !fresh) {
		c->be_id = lb_pick_pinned(fl, &c->be);
		if (c->be_id && c->be) {
			c->vip_id = c->be->vip_id;
			c->mode = c->be->mode;
			return LB_CHOSEN;
		}
	}
	vip = lb_find_vip(daddr, dport, proto, v6, &c->vip_id);
	if (!vip)
		return LB_NOT_A_VIP;
	c->new_flow = 1;
	c->mode = vip->mode;
	c->refuse = vip->refuse;
	c->policy = vip->policy;
	/* A retransmitted SYN of an open flow stays where the first went
	 * when the policy is not a hash (p2c, rr, least-conn... could pick
	 * another backend, whose SYN-ACK would break the connection); the
	 * hash policies re-hash it, so a SYN follows a rebuilt table. */
	if (fl && fresh && !(fl->flags & LB_FLOW_F_CLOSED) &&
	    vip->policy != LB_POL_MAGLEV && vip->policy != LB_POL_SOURCE) {
		c->be_id = lb_pick_pinned(fl, &c->be);
		if (c->be_id && c->be && c->be->vip_id == c->vip_id &&
		    (c->be->state == LB_BE_HEALTHY ||
		     c->be->state == LB_BE_HALF_OPEN))
			return LB_CHOSEN;
		c->be = NULL;
	}
	req = bpf_map_lookup_elem(&lb_scratch, &zero);
	if (!req) {
		c->drop = offsetof(struct lb_global_stats, drop_no_backend);
		return LB_DROP;
	}
	req->vip_id = c->vip_id;
	req->seed = cfg->hash_seed;
	req->hash = hashed ? hash : lb_flow_hash(fk, cfg->hash_seed, v6);
	__builtin_memset(req->saddr, 0, 16);
	__builtin_memcpy(req->saddr, saddr, v6 ? 16 : 4);
	req->v6 = v6;
	req->drop = 0;
	req->refused = 0;
	req->first_idx = 0;
	req->midstream = proto == IPPROTO_TCP && !fresh;
	c->be_id = lb_pick_new(req);
	c->be = lb_be_of(c->be_id, vip, c->vip_id, v6);
	if (c->be) {
		/* second chance needs a flow whose place follows from its
		 * hash: its slot (table walks) or its pair (load-aware) */
		c->slot = req->first_idx;
		c->hop = req->hop;
		c->chain = lb_chains(vip) &&
			   (vip->policy == LB_POL_MAGLEV ||
			    vip->policy == LB_POL_SOURCE ||
			    vip->policy == LB_POL_BOUNDED || c->hop);
		return LB_CHOSEN;
	}
	c->drop = req->drop ? req->drop :
		  offsetof(struct lb_global_stats, drop_bad_backend);
	c->refused = req->refused;
	return c->refused ? LB_REFUSE : LB_DROP;
}

/* Adds d to the open flows of backend id (shared by every CPU), and a
 * sent flow to its p2c count when the VIP's policy reads it. */
static __always_inline void lb_open_add(__u32 id, __s64 d, int count_sent)
{
	struct lb_be_load *ld = bpf_map_lookup_elem(&lb_be_load, &id);

	if (!ld)
		return;
	__sync_fetch_and_add(&ld->open, d);
	if (count_sent)
		__sync_fetch_and_add(&ld->sent, 1);
}

/* An established flow saw FIN or RST: it no longer counts as open. Only
 * the CPU that sets the flag takes it off, so a retransmitted FIN does not
 * count twice. */
static __always_inline void lb_flow_closed(struct lb_flow *fl)
{
	if (!(fl->flags & LB_FLOW_F_CLOSED) &&
	    !(__sync_fetch_and_or(&fl->flags, LB_FLOW_F_CLOSED) & LB_FLOW_F_CLOSED))
		lb_open_add(fl->backend_id, -1, 0);
}

/* Pins a new flow to its backend, unless its entry (old) already says so:
 * an LRU update allocates a new element, which is most of the cost of a
 * new flow, and a SYN retransmit needs none of it. Keeps the backends'
 * open-flow counts: +1 for the new pin, -1 for the open flow it replaces
 * (when that backend still exists; a reused id starts from 0). */
static __always_inline void lb_record(void *flows, const void *fk,
				      const struct lb_flow *old, __u32 be_id,
				      __u32 epoch, __u8 policy, __u32 tick,
				      __u32 hop_id)
{
	struct lb_flow fl = { .backend_id = be_id, .backend_epoch = epoch,
			      .seen = tick };

	if (hop_id) {	/* second chance: the flow keeps both hops */
		struct lb_backend *hb = bpf_map_lookup_elem(&lb_backends, &hop_id);

		if (hb) {
			fl.flags = LB_FLOW_F_CHAINED;
			fl.chain_id = hop_id;
			fl.chain_epoch = hb->epoch;
		}
	}

	if (old && old->backend_id == be_id && old->backend_epoch == epoch &&
	    !(old->flags & LB_FLOW_F_CLOSED))
		return;
	if (bpf_map_update_elem(flows, fk, &fl, BPF_ANY)) {
		lb_global_inc(offsetof(struct lb_global_stats, flow_insert_fail));
		return;
	}
	lb_open_add(be_id, 1, policy == LB_POL_P2C);
	if (old && !(old->flags & LB_FLOW_F_CLOSED)) {
		__u32 oid = old->backend_id;
		struct lb_backend *ob = bpf_map_lookup_elem(&lb_backends, &oid);

		if (ob && ob->epoch == old->backend_epoch)
			lb_open_add(oid, -1, 0);
	}
}

/* The SYN slot of flow fk (hash h): lb_syn4 / lb_syn6, NULL only if the
 * map lookup fails. */
static __always_inline void *lb_syn_slot(__u32 h, const int v6)
{
	__u32 idx = h & ((v6 ? LB_SYN6_SLOTS : LB_SYN4_SLOTS) - 1);

	return bpf_map_lookup_elem(v6 ? (void *)&lb_syn6 : (void *)&lb_syn4, &idx);
}

/* The flow and check of SYN slot sl, whichever family's it is (the key
 * comes first in both). */
static __always_inline struct lb_flow *lb_syn_flow(void *sl, const int v6,
						   __u32 **check)
{
	if (v6) {
		*check = &((struct lb_syn6 *)sl)->check;
		return &((struct lb_syn6 *)sl)->flow;
	}
	*check = &((struct lb_syn4 *)sl)->check;
	return &((struct lb_syn4 *)sl)->flow;
}

/* The waiting handshake of flow fk (hash h) in slot sl: its flow, if the
 * slot holds this 5-tuple, whole (not torn by two SYNs writing at once)
 * and not yet promoted, reset or replaced; else NULL. */
static __always_inline struct lb_flow *lb_syn_pending(void *sl, const void *fk,
						      __u32 h, const int v6)
{
	const __u32 keywords = (v6 ? sizeof(struct lb_flow_key6) :
				     sizeof(struct lb_flow_key4)) / 4;
	const __u32 *a = fk, *b = sl;
	struct lb_flow *fl;
	__u32 *check;

	if (!sl)
		return NULL;
#pragma unroll
	for (__u32 i = 0; i < sizeof(struct lb_flow_key6) / 4; i++)
		if (i < keywords && a[i] != b[i])
			return NULL;
	fl = lb_syn_flow(sl, v6, &check);
	if (fl->flags || *check != lb_syn_check(h, fl->backend_id, fl->backend_epoch))
		return NULL;
	return fl;
}

/* Not in the flow table: the TCP handshake of fk may wait in its SYN
 * slot. Sets *hash and *slp (the slot) and returns the waiting flow, or
 * NULL. */
static __always_inline struct lb_flow *lb_syn_find(const void *fk,
						   const struct lb_settings *cfg,
						   const int v6, __u32 *hash,
						   void **slp)
{
	*hash = lb_flow_hash(fk, cfg->hash_seed, v6);
	*slp = lb_syn_slot(*hash, v6);
	return lb_syn_pending(*slp, fk, *hash, v6);
}

/* A SYN's choice (be_id at epoch) waits in slot sl until the client's
 * first ACK: mine is the slot's flow if it already holds this handshake
 * (a retransmitted SYN). Overwriting another waiting handshake takes it
 * off its backend's open flows (its client's next SYN retransmit is
 * placed again); no flow-table insert, so no eviction. */
static __always_inline void lb_syn_record(void *sl, struct lb_flow *mine,
					  const void *fk, __u32 h, __u32 be_id,
					  __u32 epoch, __u8 policy, __u32 tick,
					  const int v6)
{
	struct lb_flow *sf;
	__u32 oid, *check;

	if (!sl)
		return;
	if (mine && mine->backend_id == be_id && mine->backend_epoch == epoch) {
		if (mine->seen != tick)
			mine->seen = tick;
		return;
	}
	sf = lb_syn_flow(sl, v6, &check);
	oid = sf->backend_id;
	if (!sf->flags && oid) {
		struct lb_backend *ob = bpf_map_lookup_elem(&lb_backends, &oid);

		if (ob && ob->epoch == sf->backend_epoch)
			lb_open_add(oid, -1, 0);
		if (!mine)
			lb_global_inc(offsetof(struct lb_global_stats, syn_replaced));
	}
	__builtin_memcpy(sl, fk, v6 ? sizeof(struct lb_flow_key6) :
				      sizeof(struct lb_flow_key4));
	sf->backend_id = be_id;
	sf->backend_epoch = epoch;
	sf->flags = 0;
	sf->seen = tick;
	*check = lb_syn_check(h, be_id, epoch);
	lb_open_add(be_id, 1, policy == LB_POL_P2C);
}

/* The first packet without SYN of a waiting handshake pend (pinned to
 * be_id): the flow moves into the flow table, still counted open (or no
 * longer, on a RST or FIN). Only the CPU that flips the slot's flags does
 * it, so an ACK seen on two CPUs at once counts once. */
static __always_inline void lb_syn_promote(void *flows, const void *fk,
					   struct lb_flow *pend, __u32 be_id,
					   __u8 tcp_flags, __u32 tick)
{
	struct lb_flow fl = { .backend_id = be_id,
			      .backend_epoch = pend->backend_epoch,
			      .seen = tick };
	int rst = tcp_flags & LB_TCP_RST;

	if (__sync_val_compare_and_swap(&pend->flags, 0,
					rst ? LB_FLOW_F_CLOSED : LB_FLOW_F_PROMOTED))
		return;
	if (rst) {
		lb_open_add(be_id, -1, 0);
		return;
	}
	if (tcp_flags & LB_TCP_FIN)
		fl.flags = LB_FLOW_F_CLOSED;
	if (bpf_map_update_elem(flows, fk, &fl, BPF_ANY)) {
		lb_global_inc(offsetof(struct lb_global_stats, flow_insert_fail));
		lb_open_add(be_id, -1, 0);
		return;
	}
	lb_global_inc(offsetof(struct lb_global_stats, syn_promoted));
	if (fl.flags)
		lb_open_add(be_id, -1, 0);
}

/* A refused new flow: a RST for TCP if the VIP says so, else dropped;
 * counted per VIP by reason and outcome. */
static __always_inline int lb_refuse(struct xdp_md *ctx, const __u32 l3_off,
				     const int v6, __u8 proto, __u8 tcp_flags,
				     const struct lb_choice *c)
{
	lb_refused_inc(&lb_vip_refused, c->vip_id, c->refused - 1);
	/* never answer a RST with a RST */
	if (proto == IPPROTO_TCP && c->refuse == LB_REFUSE_RESET &&
	    !(tcp_flags & LB_TCP_RST) && !lb_make_rst(ctx, l3_off, v6)) {
		LB_REFUSED(lb_vip_refused, c->vip_id, reset_sent);
		return XDP_TX;
	}
	LB_REFUSED(lb_vip_refused, c->vip_id, dropped);
	return XDP_DROP;
}

/* L3 MTU towards the backends, bounded so the ICMP field cannot wrap. */
static __always_inline __u32 lb_mtu(const struct lb_settings *cfg)
{
	__u32 mtu = cfg->mtu ? cfg->mtu : 1500;

	return mtu > 0xffff ? 0xffff : mtu;
}

/* Sends the frame to backend be_id the VIP's way (mode), counting it. */
static __always_inline int lb_send(struct xdp_md *ctx, const __u32 l3_off,
				   const int v6, __u8 mode,
				   const struct lb_choice *c,
				   const struct lb_settings *cfg, __u32 entropy,
				   __u32 pkt_len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct lb_backend *be = c->be;
	struct lb_nexthop *nh;
	__u32 be_id = c->be_id;

	if (!be)
		return LB_VERDICT(XDP_DROP, drop_bad_backend);
	nh = bpf_map_lookup_elem(&lb_nexthops, &be_id);
	if (!nh || !(nh->flags & LB_NEXTHOP_F_VALID))
		return LB_VERDICT(XDP_DROP, drop_no_nexthop);
	if (mode == LB_FWD_L2DSR && data + l3_off > data_end)
		return LB_VERDICT(XDP_PASS, pass_malformed); /* parsed before */

	lb_counters_add(&lb_vip_stats, c->vip_id, pkt_len, c->new_flow);
	lb_counters_add(&lb_be_stats, be_id, pkt_len, c->new_flow);

	if (mode == LB_FWD_L2DSR) {
		lb_l2_forward(data, data, l3_off, nh->mac);
		return XDP_TX;
	}
	if (v6) {
		__u8 src[16];

		lb_encap_src6(cfg, entropy, src);
		if (lb_push_ipip6(ctx, l3_off, src, be->addr, entropy, nh->mac))
			return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
	} else {
		if (lb_push_ipip4(ctx, l3_off, lb_encap_src4(cfg, entropy),
				  *(__be32 *)be->addr, nh->mac))
			return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
	}
	return XDP_TX;
}

/*
 * Second chance, the rare path, kept in global functions (verified once,
 * not copied into each of lb_process's four bodies).
 *
 * The second hop of a new flow without SYN: the flow's other hashed
 * candidate when a load-aware policy chose between the two (pair), else
 * the previous owner of the slot its table walk started at (struct
 * lb_ring_slot); if that is a live backend of the VIP (same family and
 * mode), not DOWN, and not the first hop be_id. Returns its id, or 0: no
 * second hop.
 */
__attribute__((noinline)) int lb_chain_hop(__u32 vip_id, __u32 slot,
					   __u32 be_id, __u32 v6, __u32 pair)
{
	struct lb_ring_slot *sl;
	struct lb_backend *hb;
	struct lb_vip *vip;
	__u32 prev = pair;
	void *ring;

	vip = bpf_map_lookup_elem(&lb_vip_info, &vip_id);
	if (!vip)
		return 0;
	if (!prev) {
		ring = bpf_map_lookup_elem(&lb_rings, &vip_id);
		if (!ring)
			return 0;
		sl = bpf_map_lookup_elem(ring, &slot);
		if (!sl)
			return 0;
		prev = sl->prev_backend_id;
	}
	if (prev == LB_BACKEND_NONE || prev == be_id)
		return 0;
	hb = lb_be_of(prev, vip, vip_id, v6 ? 1 : 0);
	if (!hb || hb->state == LB_BE_DOWN)
		return 0;
	return prev;
}

/* A chained flow's second hop, if it still exists (same epoch, active)
 * and is not DOWN; else 0, and the flow goes to its first hop alone. */
__attribute__((noinline)) int lb_chain_pinned(__u32 hop_id, __u32 epoch)
{
	struct lb_backend *hb = bpf_map_lookup_elem(&lb_backends, &hop_id);

	if (!hb || !(hb->flags & LB_BACKEND_F_ACTIVE) || hb->epoch != epoch ||
	    hb->state == LB_BE_DOWN)
		return 0;
	return hop_id;
}

/* What lb_send_chain() sends: lb_send()'s inputs plus the second hop. */
struct lb_chain_tx {
	__u32 l3_off;	/* 14 or 18 */
	__u32 v6;
	__u32 vip_id;
	__u32 be_id;	/* first hop */
	__u32 hop_id;	/* second hop */
	__u32 entropy;
	__u32 pkt_len;
	__u32 new_flow;
};

/* lb_send() with two IPIP / IP6IP6 headers: to t->be_id, then t->hop_id.
 * Counted for the VIP and the first hop, as lb_send() counts. */
__attribute__((noinline)) int lb_send_chain(struct xdp_md *ctx,
					    struct lb_chain_tx *t)
{
	struct lb_backend *be, *hb;
	struct lb_settings *cfg;
	struct lb_nexthop *nh;
	__u32 zero = 0, be_id, hop_id;
	int err;

	if (!t)
		return XDP_DROP;
	be_id = t->be_id;
	hop_id = t->hop_id;
	be = bpf_map_lookup_elem(&lb_backends, &be_id);
	hb = bpf_map_lookup_elem(&lb_backends, &hop_id);
	cfg = bpf_map_lookup_elem(&lb_settings, &zero);
	if (!be || !hb || !cfg)
		return LB_VERDICT(XDP_DROP, drop_bad_backend);
	nh = bpf_map_lookup_elem(&lb_nexthops, &be_id);
	if (!nh || !(nh->flags & LB_NEXTHOP_F_VALID))
		return LB_VERDICT(XDP_DROP, drop_no_nexthop);
	lb_counters_add(&lb_vip_stats, t->vip_id, t->pkt_len, t->new_flow);
	lb_counters_add(&lb_be_stats, be_id, t->pkt_len, t->new_flow);
	if (t->v6) {
		__u8 src[16];

		lb_encap_src6(cfg, t->entropy, src);
		if (t->l3_off == sizeof(struct ethhdr))
			err = lb_push_ipip6_chain(ctx, sizeof(struct ethhdr), src,
						  be->addr, hb->addr, t->entropy,
						  nh->mac);
		else
			err = lb_push_ipip6_chain(ctx, sizeof(struct ethhdr) + 4,
						  src, be->addr, hb->addr,
						  t->entropy, nh->mac);
	} else {
		__be32 src = lb_encap_src4(cfg, t->entropy);

		if (t->l3_off == sizeof(struct ethhdr))
			err = lb_push_ipip4_chain(ctx, sizeof(struct ethhdr), src,
						  *(__be32 *)be->addr,
						  *(__be32 *)hb->addr, nh->mac);
		else
			err = lb_push_ipip4_chain(ctx, sizeof(struct ethhdr) + 4,
						  src, *(__be32 *)be->addr,
						  *(__be32 *)hb->addr, nh->mac);
	}
	if (err)
		return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
	return XDP_TX;
}

static __always_inline int lb_addr6_equal(const void *a, const void *b)
{
	const __u32 *x = a, *y = b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]));
}

/* The client address folded to 32 bits, for encap entropy. */
static __always_inline __u32 lb_fold_addr(const void *addr, const int v6)
{
	const __u32 *w = addr;

	return v6 ? w[0] ^ w[1] ^ w[2] ^ w[3] : w[0];
}

/*
 * An ICMP error about a VIP flow goes to the backend that owns the flow.
 * With direct server return the backend's packets leave with the VIP as
 * their source, so a router on the backend's path to the client that needs
 * to say "fragmentation needed" / "packet too big" says it to the VIP,
 * i.e. to us; without this hop path-MTU discovery from backend to client
 * would break. The quoted header is the backend's packet (VIP -> client),
 * so the flow is looked up with the tuple turned around; a flow we do not
 * hold is hashed like its packets would be (no entry is recorded).
 * Anything else (echo, errors about other traffic) goes to the kernel.
 */
static __always_inline int lb_icmp_error(struct xdp_md *ctx, const __u32 l3_off,
					 const int v6, __u32 ip_len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *flows = v6 ? (void *)&lb_flows6 : (void *)&lb_flows4;
	const __u32 overhead = v6 ? LB_IPIP_V6_OVERHEAD : LB_IPIP_V4_OVERHEAD;
	struct lb_flow_key4 fk4 = {};
	struct lb_flow_key6 fk6 = {};
	void *fk = v6 ? (void *)&fk6 : (void *)&fk4;
	struct lb_choice c = {};
	struct lb_settings *cfg;
	struct lb_flow *fl;
	__u32 zero = 0, hash = 0;
	void *sl = NULL;	/* set with hash: the flow was hashed */
	__be16 *ports;
	int verdict;
	__u8 mode;

	if (!v6) {
		struct iphdr *outer = data + l3_off;
		struct lb_icmphdr *icmp = (void *)(outer + 1);
		struct iphdr *in = (void *)(icmp + 1);

		ports = (void *)(in + 1);
		if ((void *)(ports + 2) > data_end ||
		    icmp->type != LB_ICMP_DEST_UNREACH || in->version != 4 ||
		    in->ihl != 5 || lb_ipv4_is_fragment(in) ||
		    in->saddr != outer->daddr ||
		    (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		fk4.saddr = in->daddr;
		fk4.daddr = in->saddr;
		fk4.proto = in->protocol;
		fk4.sport = ports[1]; /* quoted: VIP port, then client port */
		fk4.dport = ports[0];
	} else {
		struct ipv6hdr *outer = data + l3_off;
		struct lb_icmp6hdr *icmp = (void *)(outer + 1);
		struct ipv6hdr *in = (void *)(icmp + 1);

		ports = (void *)(in + 1);
		if ((void *)(ports + 2) > data_end ||
		    (icmp->type != LB_ICMPV6_DEST_UNREACH &&
		     icmp->type != LB_ICMPV6_PKT_TOOBIG) ||
		    !lb_addr6_equal(&in->saddr, &outer->daddr) ||
		    (in->nexthdr != IPPROTO_TCP && in->nexthdr != IPPROTO_UDP))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		__builtin_memcpy(fk6.saddr, &in->daddr, 16);
		__builtin_memcpy(fk6.daddr, &in->saddr, 16);
		fk6.proto = in->nexthdr;
		fk6.sport = ports[1];
		fk6.dport = ports[0];
	}
	cfg = bpf_map_lookup_elem(&lb_settings, &zero);
	if (!cfg)
		return LB_VERDICT(XDP_PASS, pass_not_vip);
	/* a handshake in progress is still in its SYN slot */
	fl = bpf_map_lookup_elem(flows, fk);
	if (!fl && (v6 ? fk6.proto : fk4.proto) == IPPROTO_TCP)
		fl = lb_syn_find(fk, cfg, v6, &hash, &sl);
	switch (lb_choose(fl, 0, fk, sl != NULL, hash,
			  v6 ? (void *)fk6.saddr : (void *)&fk4.saddr,
			  v6 ? (void *)fk6.daddr : (void *)&fk4.daddr,
			  v6 ? fk6.dport : fk4.dport,
			  v6 ? fk6.proto : fk4.proto, v6, cfg, &c)) {
	case LB_NOT_A_VIP:
		return LB_VERDICT(XDP_PASS, pass_not_vip);
	case LB_DROP:
		lb_global_inc(c.drop);
		return XDP_DROP;
	case LB_REFUSE: /* no backend would take the flow it is about */
		return LB_VERDICT(XDP_DROP, drop_no_backend);
	}
	c.new_flow = 0; /* an error is not a connection */
	mode = c.mode;
	if (mode != LB_FWD_IPIP && mode != LB_FWD_L2DSR)
		return LB_VERDICT(XDP_DROP, drop_bad_mode);
	if (mode == LB_FWD_IPIP && ip_len + overhead > lb_mtu(cfg))
		return LB_VERDICT(XDP_DROP, drop_icmp_err_too_big);
	verdict = lb_send(ctx, l3_off, v6, mode, &c, cfg,
			  lb_encap_entropy(lb_fold_addr(fk, v6),
					   v6 ? fk6.sport : fk4.sport),
			  data_end - data);
	if (verdict == XDP_TX)
		lb_global_inc(offsetof(struct lb_global_stats, icmp_err_to_backend));
	return verdict;
}

static __always_inline int lb_process(struct xdp_md *ctx, const __u32 l3_off,
				      const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const __u32 l3_hdr = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	const __u32 overhead = v6 ? LB_IPIP_V6_OVERHEAD : LB_IPIP_V4_OVERHEAD;
	void *flows = v6 ? (void *)&lb_flows6 : (void *)&lb_flows4;
	__u32 pkt_len = data_end - data;
	struct lb_flow_key4 fk4 = {};
	struct lb_flow_key6 fk6 = {};
	void *fk = v6 ? (void *)&fk6 : (void *)&fk4;
	struct lb_choice c = {};
	struct lb_settings *cfg;
	struct lb_flow *fl, *pend = NULL;
	struct lb_l4 l4;
	__u32 ip_len, zero = 0, mtu, hash = 0, hop_id = 0, entropy;
	int df = 1, syn, ret;
	void *sl = NULL;	/* set with hash: the flow was hashed */
	__u8 proto, mode;

	if (!v6) {
		struct iphdr *iph = data + l3_off;

		if ((void *)(iph + 1) > data_end || iph->version != 4 ||
		    iph->ihl < 5)
			return LB_VERDICT(XDP_PASS, pass_malformed);
		ip_len = bpf_ntohs(iph->tot_len);
		if (ip_len < iph->ihl * 4 || (void *)iph + ip_len > data_end)
			return LB_VERDICT(XDP_PASS, pass_malformed);
		if (!lb_vip_filter_hit(&iph->daddr, 0))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		proto = iph->protocol;
		if (proto == IPPROTO_ICMP) {
			/* errors come unfragmented and without options */
			if (lb_ipv4_is_fragment(iph) || iph->ihl != 5)
				return LB_VERDICT(XDP_PASS, pass_not_vip);
			return lb_icmp_error(ctx, l3_off, 0, ip_len);
		}
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		if (lb_ipv4_is_fragment(iph))
			return LB_NOT_PARSED(&iph->daddr, 0, drop_fragment);
		if (iph->ihl != 5)
			return LB_NOT_PARSED(&iph->daddr, 0, drop_ip_options);
		if (lb_parse_l4(iph + 1, data_end, proto, ip_len - l3_hdr, &l4))
			return LB_NOT_PARSED(&iph->daddr, 0, drop_malformed_l4);
		df = iph->frag_off & bpf_htons(LB_IP_DF);
		fk4.saddr = iph->saddr;
		fk4.daddr = iph->daddr;
		fk4.sport = l4.sport;
		fk4.dport = l4.dport;
		fk4.proto = proto;
	} else {
		struct ipv6hdr *ip6h = data + l3_off;

		if ((void *)(ip6h + 1) > data_end || ip6h->version != 6)
			return LB_VERDICT(XDP_PASS, pass_malformed);
		ip_len = bpf_ntohs(ip6h->payload_len) + l3_hdr;
		if ((void *)ip6h + ip_len > data_end)
			return LB_VERDICT(XDP_PASS, pass_malformed);
		if (!lb_vip_filter_hit(&ip6h->daddr, 1))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		proto = ip6h->nexthdr;
		if (proto == IPPROTO_ICMPV6)
			return lb_icmp_error(ctx, l3_off, 1, ip_len);
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
			if (proto == IPPROTO_FRAGMENT)
				return LB_NOT_PARSED(&ip6h->daddr, 1, drop_fragment);
			if (lb_ipv6_is_ext(proto))
				return LB_NOT_PARSED(&ip6h->daddr, 1, drop_ipv6_ext);
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		}
		if (lb_parse_l4(ip6h + 1, data_end, proto, ip_len - l3_hdr, &l4))
			return LB_NOT_PARSED(&ip6h->daddr, 1, drop_malformed_l4);
		__builtin_memcpy(fk6.saddr, &ip6h->saddr, 16);
		__builtin_memcpy(fk6.daddr, &ip6h->daddr, 16);
		fk6.sport = l4.sport;
		fk6.dport = l4.dport;
		fk6.proto = proto;
	}

	cfg = bpf_map_lookup_elem(&lb_settings, &zero);
	if (!cfg)
		return LB_VERDICT(XDP_PASS, pass_not_vip);
	/* Established flows first: one lookup, no VIP lookup. A SYN starts a
	 * new connection even if its 5-tuple was seen before. */
	fl = bpf_map_lookup_elem(flows, fk);
	syn = proto == IPPROTO_TCP &&
	      (l4.flags & (LB_TCP_SYN | LB_TCP_ACK)) == LB_TCP_SYN;
	/* Not in the flow table: a TCP handshake may be waiting in its SYN
	 * slot (a SYN's retransmit, or the first ACK that promotes it). */
	if (!fl && proto == IPPROTO_TCP)
		pend = lb_syn_find(fk, cfg, v6, &hash, &sl);
	ret = lb_choose(fl ? fl : pend, syn, fk, sl != NULL, hash,
			v6 ? (void *)fk6.saddr : (void *)&fk4.saddr,
			v6 ? (void *)fk6.daddr : (void *)&fk4.daddr,
			l4.dport, proto, v6, cfg, &c);
	if (ret == LB_NOT_A_VIP)
		return LB_VERDICT(XDP_PASS, pass_not_vip);
	if (ret == LB_DROP) {
		lb_global_inc(c.drop);
		return XDP_DROP;
	}
	if (ret == LB_REFUSE)
		return lb_refuse(ctx, l3_off, v6, proto, l4.flags, &c);
	if (!c.new_flow && fl) {
		if (proto == IPPROTO_TCP && (l4.flags & (LB_TCP_FIN | LB_TCP_RST)))
			lb_flow_closed(fl);
		/* activity for the open-flow recount: one store per tick */
		if (fl->seen != cfg->tick)
			fl->seen = cfg->tick;
	} else if (!c.new_flow && pend)
		lb_syn_promote(flows, fk, pend, c.be_id, l4.flags, cfg->tick);

	mode = c.mode; /* read once by lb_choose() */
	if (mode != LB_FWD_IPIP && mode != LB_FWD_L2DSR)
		return LB_VERDICT(XDP_DROP, drop_bad_mode);
	/* Second chance (off the established path, in global functions):
	 * a chained flow keeps its second hop; a TCP packet without SYN
	 * that has neither a flow entry nor a waiting handshake belongs to
	 * a connection placed elsewhere (another balancer host, or evicted
	 * here), possibly on its slot's previous owner: attach it. */
	if (fl && !c.new_flow) {
		if (fl->flags & LB_FLOW_F_CHAINED && mode == LB_FWD_IPIP)
			hop_id = lb_chain_pinned(fl->chain_id, fl->chain_epoch);
	} else if (c.chain && !fl && !pend && proto == IPPROTO_TCP && !syn) {
		hop_id = lb_chain_hop(c.vip_id, c.slot, c.be_id, v6, c.hop);
		if (hop_id)
			lb_global_inc(offsetof(struct lb_global_stats, flow_chained));
	}
	/* Too big once encapsulated: tell the client (path-MTU discovery). */
	if (mode == LB_FWD_IPIP) {
		__u32 ov = hop_id ? 2 * overhead : overhead;

		mtu = lb_mtu(cfg);
		if (ip_len + ov > mtu) {
			if (v6)
				return lb_icmp6_too_big(ctx, l3_off, mtu - ov);
			if (!df)
				return LB_VERDICT(XDP_DROP, drop_too_big_no_df);
			return lb_icmp4_too_big(ctx, l3_off, mtu - ov);
		}
	}
	if (c.new_flow && !(proto == IPPROTO_TCP && (l4.flags & LB_TCP_RST))) {
		if (syn && !fl)
			lb_syn_record(sl, pend, fk, hash, c.be_id, c.be->epoch,
				      c.policy, cfg->tick, v6);
		else {
			/* a waiting handshake whose backend went away: the
			 * new choice replaces it, counted once */
			if (pend && __sync_val_compare_and_swap(&pend->flags, 0,
								LB_FLOW_F_PROMOTED))
				pend = NULL;
			lb_record(flows, fk, fl ? fl : pend, c.be_id, c.be->epoch,
				  c.policy, cfg->tick, hop_id);
		}
	}
	entropy = lb_encap_entropy(lb_fold_addr(fk, v6), l4.sport);
	if (hop_id) {
		struct lb_chain_tx t = {
			.l3_off = l3_off, .v6 = v6, .vip_id = c.vip_id,
			.be_id = c.be_id, .hop_id = hop_id, .entropy = entropy,
			.pkt_len = pkt_len, .new_flow = c.new_flow,
		};

		return lb_send_chain(ctx, &t);
	}
	return lb_send(ctx, l3_off, v6, mode, &c, cfg, entropy, pkt_len);
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3_off = 0;
	__be16 proto = lb_parse_l2(data, data_end, &l3_off);

	if (!proto)
		return LB_VERDICT(XDP_PASS, pass_malformed);
	/* Not sent to us alone (broadcast, multicast, or seen promiscuously
	 * with a group address): never forwarded, or its destination MAC would
	 * become our source MAC. */
	if (((struct ethhdr *)data)->h_dest[0] & 1)
		return LB_VERDICT(XDP_PASS, pass_l2_multicast);
	if (l3_off == sizeof(struct ethhdr)) {
		if (proto == bpf_htons(ETH_P_IP))
			return lb_process(ctx, sizeof(struct ethhdr), 0);
		if (proto == bpf_htons(ETH_P_IPV6))
			return lb_process(ctx, sizeof(struct ethhdr), 1);
	} else {
		if (proto == bpf_htons(ETH_P_IP))
			return lb_process(ctx, sizeof(struct ethhdr) + 4, 0);
		if (proto == bpf_htons(ETH_P_IPV6))
			return lb_process(ctx, sizeof(struct ethhdr) + 4, 1);
	}
	return LB_VERDICT(XDP_PASS, pass_not_ip);
}
