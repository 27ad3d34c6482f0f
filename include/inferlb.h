/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * inferlb.h - the ONE definition of inferlb's datapath ABI.
 *
 * Included by the XDP programs (bpf/) and by userspace (lib/, cli/, agent/,
 * tests/) alike, so there is no second copy of any struct to keep in sync.
 * Rules for this file:
 *   - fixed-width types only, explicit padding, no implicit holes;
 *   - every struct has a _Static_assert on its size;
 *   - any layout change bumps LB_SCHEMA_VERSION (checked through lb_meta
 *     before userspace touches pinned maps).
 * Addresses and ports are kept in network byte order, exactly as they
 * appear on the wire, so the datapath never byte-swaps them.
 */
#ifndef INFERLB_H
#define INFERLB_H

#include <linux/types.h>

#define LB_SCHEMA_VERSION 8

/* ---- sizes ------------------------------------------------------------ */
#define LB_MAX_VIPS 512            /* VIP ids are 0 .. LB_MAX_VIPS-1 */
#define LB_MAX_BACKENDS 16384      /* backend ids are 1 .. LB_MAX_BACKENDS-1 */
#define LB_BACKEND_NONE 0          /* ring slot / flow value meaning "none" */
#define LB_RING_SIZE_DEFAULT 65537 /* Maglev table size M (prime) */
#define LB_RING_SIZE_MIN 7
#define LB_RING_SIZE_MAX 1048573   /* largest prime below 2^20 */
/* Flow entries, all CPUs together. With per-CPU LRU lists each CPU keeps
 * at most size / possible CPUs flows: on a host with many possible CPUs,
 * raise these (lbctl does not scale them yet). */
#define LB_FLOW4_TABLE_SIZE 1048576 /* IPv4 flow entries */
#define LB_FLOW6_TABLE_SIZE 524288  /* IPv6 flow entries */
/* Handshakes in progress (SYN seen, no ACK yet), direct-mapped by flow
 * hash: powers of two. A colliding SYN overwrites a slot; the chance that
 * a flood of R spoofed SYNs/s overwrites a real SYN during its round trip
 * T is about R*T/slots (1 Mpps and 1 ms: 0.4%), and the client's next
 * SYN retransmit is placed again. */
#define LB_SYN4_SLOTS 262144
#define LB_SYN6_SLOTS 131072
#define LB_CLIENT_TB_SIZE 65536    /* client-prefix buckets (LRU) */
#define LB_VIP_FILTER_WORDS 1024    /* 64-bit words: a 65536-bit filter */
#define LB_DECAP_MAX_ADDRS 64

/* ---- pin names (relative to the pin directory) ------------------------ */
#define LB_PIN_DIR_DEFAULT "/sys/fs/bpf/inferlb"
/* Each map is pinned under its BPF name: see LB_MAP_TABLE in
 * include/lb_map_table.h for the list. The other pins: */
#define LB_PIN_PROG "prog_xdp_lb"       /* the loaded balancer program */
#define LB_PIN_LINK_PREFIX "link_"      /* + ifname: its XDP link on a device */
#define LB_PIN_RING_PREFIX "ring_"      /* + VIP id: its live table (lb_ring.c) */
#define LB_PIN_DECAP_DIR "decap"        /* decap program, maps and links */
#define LB_PIN_DECAP_PROG "prog_xdp_decap"
#define LB_HASH_SEED_DEFAULT 0x1b5eed01u /* the same on every balancer */

/* ---- enums ------------------------------------------------------------ */
enum lb_family {
	LB_AF_INET = 4,
	LB_AF_INET6 = 6,
};

/* How a VIP's packets reach the chosen backend. */
enum lb_fwd_mode {
	LB_FWD_IPIP = 0,  /* IPv4-in-IPv4 / IPv6-in-IPv6 encapsulation (DSR) */
	LB_FWD_L2DSR = 1, /* destination MAC rewrite only (LVS-DR style) */
};

/* lb_vip.flags */
#define LB_VIP_F_ACTIVE 0x1    /* id holds a live VIP */
#define LB_VIP_F_FAIL_OPEN 0x2 /* every candidate refused by state: use the
                                * plain Maglev choice rather than refuse */
/* Second chance (ipip VIPs only; l2dsr has no header to carry a second
 * hop): a TCP packet without SYN that finds no flow entry and no waiting
 * handshake (its flow was placed by another balancer host, or evicted
 * here) goes to its table slot's owner with the slot's previous owner
 * attached as a second IPIP/IP6IP6 header; the first backend keeps the
 * packet if it holds the connection, else sends it on (decap.bpf.c).
 * For the table-walk policies that start at the flow's hashed slot
 * (maglev, source, bounded); p2c attaches its other candidate; least-conn
 * and expected-wait with LB_VIP_F_PAIR_CHOICE attach the other of the
 * pair they chose from. lbctl sets it on new ipip VIPs. */
#define LB_VIP_F_SECOND_CHANCE 0x4
/* With second chance: least-conn and expected-wait choose between the
 * flow's two hashed candidates (the same on every balancer host) instead
 * of among all backends, so that a host that never saw the flow finds it
 * (the other candidate is the second hop). It costs some steering: off by
 * default, on for lb-agent's VIPs in cluster mode. */
#define LB_VIP_F_PAIR_CHOICE 0x8

/* How a VIP picks the backend of a new flow (lb_vip.policy). */
enum lb_policy {
	LB_POL_MAGLEV = 0,  /* weighted consistent hash of the 5-tuple */
	LB_POL_SOURCE = 1,  /* ... of the client address only (affinity) */
	LB_POL_BOUNDED = 2, /* consistent hash with bounded load (epsilon) */
	LB_POL_P2C = 3,     /* two hashed candidates, lower load score wins */
	LB_POL_WRR = 4,     /* weighted round robin: per-CPU cursor on the table */
	LB_POL_RR = 5,      /* round robin over the VIP's backends */
	LB_POL_RANDOM = 6,  /* weighted random: a random table slot */
	LB_POL_LEAST_CONN = 7, /* fewest open flows per unit of weight */
	LB_POL_EXPECTED_WAIT = 8, /* shortest expected wait for a batch slot,
				   * from open flows and the agent's slots and
				   * slot wait (lb_be_load) */
	LB_POL_MAX = LB_POL_EXPECTED_WAIT,
};

/* What a refused new flow gets (lb_vip.refuse). UDP is always dropped. */
enum lb_refuse {
	LB_REFUSE_RESET = 0, /* TCP: a RST built in XDP, sent back (XDP_TX) */
	LB_REFUSE_DROP = 1,
};

/* Candidates a new flow tries when the first is refused (state or rate):
 * the table slots h, h + s, h + 2s, ... (s from a second hash), so every
 * balancer with the same maps makes the same choice. */
#define LB_MAX_TRIES 8
/* Backends per VIP that round robin, least-conn and bounded load see
 * (lb_vip_backends); a VIP may have more, the rest are reached by the
 * table-based policies only. */
#define LB_VIP_LIST_MAX 64
/* A HALF_OPEN backend without an agent-set rate takes this many trial
 * flows per second (burst the same). */
#define LB_TRIAL_RATE 1

/* lb_backend.flags */
#define LB_BACKEND_F_ACTIVE 0x1 /* slot holds a live backend */
/* An operator set this backend's weight / state by hand (lbctl set-weight /
 * backend state); lb-agent leaves it alone until `lbctl backend release` or
 * until override_until_ns passes. Read by userspace only. */
#define LB_BACKEND_F_OVR_WEIGHT 0x2
#define LB_BACKEND_F_OVR_STATE 0x4
#define LB_BACKEND_F_OVR (LB_BACKEND_F_OVR_WEIGHT | LB_BACKEND_F_OVR_STATE)

/* lb_vip.first_backend: the chain must be rebuilt from a full scan (set
 * while a chain is being repaired, so a repair cut short is redone). */
#define LB_CHAIN_UNKNOWN 0xffffffffu

/* Backend weights are integers 0 .. LB_WEIGHT_MAX, whoever sets them (lbctl,
 * the config file, lb-agent): the agent maps the largest capacity at full
 * headroom to LB_WEIGHT_MAX, six digits of resolution for relative speed
 * and headroom. The Maglev builder and the bounded / least-conn policies
 * multiply weights by flow counts in 64 bits, so this bound is part of the
 * ABI. 0 drains: no new flows. */
#define LB_WEIGHT_MAX 1000000u

/* p2c load score units (lb_be_load.score) per flow: the agent scores a
 * backend as LB_P2C_FLOW_SCORE x (requests waiting + running) / capacity,
 * and the datapath adds LB_P2C_FLOW_SCORE for every new flow it sends
 * there until the next score, so a stale score does not herd. */
#define LB_P2C_FLOW_SCORE 1000u

/* lb_backend.state: who may be sent flows, written by lb-agent from its
 * health and load polls (or left HEALTHY when only lbctl manages the
 * backend). New flows follow the VIP's table, whose weights the agent sets
 * to 0 for every state that takes no new flows; the datapath reads the
 * state for established flows: those of a DOWN backend (its process is
 * gone) are re-steered, so clients fail fast instead of hanging. */
enum lb_be_state {
	LB_BE_HEALTHY = 0,   /* takes new flows (lbctl's default) */
	LB_BE_STARTING = 1,  /* not ready yet: no new flows */
	LB_BE_DRAINING = 2,  /* no new flows, established flows kept */
	LB_BE_OPEN = 3,      /* breaker open: no new flows, flows kept */
	LB_BE_HALF_OPEN = 4, /* breaker trial: a small weight */
	LB_BE_DOWN = 5,      /* unreachable: established flows re-steered */
	LB_BE_STATE_MAX = LB_BE_DOWN,
};

/* lb_nexthop.flags */
#define LB_NEXTHOP_F_VALID 0x1 /* mac was resolved by userspace */

/* ---- maps' keys and values -------------------------------------------- */

/* lb_vips key: a VIP is (address, port, protocol). IPv4 uses addr[0..3]. */
struct lb_vip_key {
	__u8 addr[16];
	__be16 port;
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* enum lb_family */
};
_Static_assert(sizeof(struct lb_vip_key) == 20, "lb_vip_key ABI");

/* lb_vips value: the VIP's id, the index of everything else about it. */
struct lb_vip_ref {
	__u32 id;
};
_Static_assert(sizeof(struct lb_vip_ref) == 4, "lb_vip_ref ABI");

/* lb_vip_info value, indexed by VIP id (lb_rings, lb_vip_stats use the same
 * id). ring_size and mode are fixed for the VIP's life. Clearing
 * LB_VIP_F_ACTIVE drains the VIP: no new flows, established flows go on
 * until their backends are deactivated. */
struct lb_vip {
	struct lb_vip_key key; /* which VIP this id is */
	__u32 ring_size;       /* M: slots of this VIP's Maglev table */
	__u32 ring_gen;        /* generation of the published table */
	__u8 mode;             /* enum lb_fwd_mode */
	__u8 flags;            /* LB_VIP_F_* */
	__u8 policy;           /* enum lb_policy */
	__u8 refuse;           /* enum lb_refuse */
	/* Admission (new flows only), 0 = no limit: the VIP's token bucket
	 * and one per client prefix (/client_plen4 or /client_plen6). */
	__u32 rate;            /* new flows per second */
	__u32 burst;           /* bucket size = initial tokens */
	__u32 client_rate;
	__u32 client_burst;
	__u8 client_plen4;     /* 1..32, 0 means 32 */
	__u8 client_plen6;     /* 1..128, 0 means 64 */
	__u16 bounded_eps;     /* bounded load: epsilon in percent */
	/* Control plane only (the datapath never reads it): the id of the
	 * first of this VIP's backends, chained through lb_backend.next_id,
	 * so a change to one backend reads its VIP's backends, not every
	 * slot. 0: none; LB_CHAIN_UNKNOWN: rebuild the chain from a scan. */
	__u32 first_backend;
	/* expected-wait: refuse a new flow whose shortest expected wait for
	 * a batch slot exceeds this many ms (0: never); counted as
	 * lb_refusals.ttft_target. */
	__u32 ttft_target_ms;
	__u32 pad;
};
_Static_assert(sizeof(struct lb_vip) == 64, "lb_vip ABI");

/* Key of lb_vip_addrs (addresses that carry at least one VIP; used on the
 * slow path to drop, not pass, fragments, IPv4 options, IPv6 extension
 * headers and truncated TCP/UDP headers sent to a VIP address) and of
 * lb_decap_addrs (the decap program's host addresses). */
struct lb_addr_key {
	__u8 addr[16];
	__u8 family;
	__u8 pad[3];
};
_Static_assert(sizeof(struct lb_addr_key) == 20, "lb_addr_key ABI");

/* lb_backends value, indexed by backend id. A backend is one (VIP, address)
 * pair; epoch changes whenever the id is (re)assigned, so a flow pinned to a
 * deleted backend is never sent to the id's next owner. Array values are
 * not written atomically, so userspace reuses an id in two steps: clear
 * LB_BACKEND_F_ACTIVE, wait for in-flight packets (an RCU grace period,
 * e.g. any lb_rings update), then write the new owner with a new epoch.
 * The same holds for lb_vip_info: deactivate a VIP's backends, then the
 * VIP, before its id is reused. */
struct lb_backend {
	__u8 addr[16];
	__u32 epoch;
	__u32 vip_id;
	__u8 family; /* enum lb_family, equal to the VIP's */
	__u8 flags;  /* LB_BACKEND_F_* */
	/* The VIP's forwarding mode, copied (a VIP's mode is fixed for its
	 * life): an established flow then needs no VIP lookup at all. */
	__u8 mode;
	__u8 state; /* enum lb_be_state */
	/* The weight the VIP's current table was built with (0 = drained),
	 * 0 .. LB_WEIGHT_MAX. The table-based policies never read it (the
	 * table already holds it); bounded load reads it for a backend's fair
	 * share. Kept here too so every lbctl run, and bpftool, sees it.
	 * With LB_BACKEND_F_OVR_WEIGHT it is the operator's and lb-agent's
	 * publishes keep it; a publish over an operator's state override to
	 * a state that takes no new flows writes 0 (lb_vip_publish). */
	__u32 weight;
	/* New-flow rate limit set by the agent from the worker's free
	 * capacity: flows per second and burst; 0 = no limit. */
	__u32 rate;
	__u32 burst;
	/* Control plane only, after every field the datapath reads:
	 * next_id is the next backend of the same VIP (0 ends the chain that
	 * starts at lb_vip.first_backend); in a free slot, the next free slot
	 * (slot 0, never a backend, heads the free list). */
	__u32 next_id;
	__u8 origin;	/* enum lb_origin: who added it (lbctl show says) */
	__u8 pad;
	/* a found worker's port (its engine's metrics and health; the
	 * datapath keeps the VIP's port): a restarted agent polls it before
	 * its source answers again. 0 for static backends. */
	__u16 port;
	/* When the operator's override (LB_BACKEND_F_OVR_*) ends:
	 * CLOCK_BOOTTIME ns; 0 = until released. */
	__u64 override_until_ns;
};
_Static_assert(sizeof(struct lb_backend) == 56, "lb_backend ABI");

/* lb_backend.origin: the file or lbctl (static), or lb-agent's discovery
 * of workers from DNS or an etcd registry. Control plane only. */
enum lb_origin {
	LB_ORIGIN_STATIC = 0,
	LB_ORIGIN_DNS = 1,
	LB_ORIGIN_ETCD = 2,
};

/* lb_nexthops value, indexed by backend id: the L2 next hop towards it. */
struct lb_nexthop {
	__u8 mac[6];
	__u8 flags; /* LB_NEXTHOP_F_* */
	__u8 pad;
};
_Static_assert(sizeof(struct lb_nexthop) == 8, "lb_nexthop ABI");

/* lb_flows4 / lb_flows6 keys: the client flow's 5-tuple, as on the wire.
 * Looked up before the VIP, so an established flow costs one hash lookup;
 * one map per family keeps the IPv4 key (and its hashing) short. */
struct lb_flow_key4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};
_Static_assert(sizeof(struct lb_flow_key4) == 16, "lb_flow_key4 ABI");

struct lb_flow_key6 {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};
_Static_assert(sizeof(struct lb_flow_key6) == 40, "lb_flow_key6 ABI");

/* lb_flows4 / lb_flows6 value: the backend the flow is pinned to. */
struct lb_flow {
	__u32 backend_id;
	__u32 backend_epoch;
	__u32 flags;   /* LB_FLOW_F_* */
	/* lb_settings.tick when a packet of the flow was last seen: the
	 * open-flow recount leaves out flows idle for longer than the
	 * agent's flow_idle_ms (clients gone without a FIN). Written only
	 * when the tick moved, so once per tick per flow. */
	__u32 seen;
	/* With LB_FLOW_F_CHAINED: the second hop (the table slot's previous
	 * owner when the flow was first seen here without a SYN), which
	 * every packet of the flow carries as a second IPIP header, so the
	 * two hops stay the same when the table moves again. The flow
	 * counts as open on backend_id (the first hop). 0 otherwise. */
	__u32 chain_id;
	__u32 chain_epoch;
};
_Static_assert(sizeof(struct lb_flow) == 24, "lb_flow ABI");
/* lb_flow.flags */
#define LB_FLOW_F_CLOSED 0x1 /* FIN or RST seen: no longer an open flow */
#define LB_FLOW_F_PROMOTED 0x2 /* lb_syn*: its ACK moved it to lb_flows* */
#define LB_FLOW_F_CHAINED 0x4 /* second chance: chain_id is the second hop */

/*
 * lb_syn4 / lb_syn6 value: a TCP connection between its SYN and the
 * client's first ACK. SYNs never insert into the flow tables (an LRU
 * insert evicts, and spoofed SYNs would push established flows out); the
 * choice waits here, in slot lb_flow_hash & (slots - 1), and the first
 * packet without SYN moves it into lb_flows* (flags |= PROMOTED). flow's
 * flags are 0 while it waits; such a slot counts as an open flow of its
 * backend (in lb_be_load.open) until it is promoted, reset or
 * overwritten. A slot is written whole by a SYN on any CPU without a
 * lock, so two colliding SYNs can tear it: check (lb_syn_check of the
 * writer's hash, backend and epoch) tells a torn or foreign slot, which
 * is then ignored.
 */
struct lb_syn4 {
	struct lb_flow_key4 key;
	struct lb_flow flow;
	__u32 check;
	__u32 pad;
};
_Static_assert(sizeof(struct lb_syn4) == 48, "lb_syn4 ABI");

struct lb_syn6 {
	struct lb_flow_key6 key;
	struct lb_flow flow;
	__u32 check;
	__u32 pad;
};
_Static_assert(sizeof(struct lb_syn6) == 72, "lb_syn6 ABI");

/* Never 0 for a slot that was written (0 ^ 0 ^ 0 ^ constant), so a zeroed
 * slot is not taken for a flow whose hash is 0. */
static inline __u32 lb_syn_check(__u32 hash, __u32 be_id, __u32 epoch)
{
	return hash ^ (be_id * 0x9e3779b1u) ^ (epoch * 0x85ebca77u) ^ 0x5bd1e995u;
}

/* One slot of a VIP's Maglev table (inner map of lb_rings).
 * prev_backend_id is the slot's owner before it last changed owner, kept
 * for second chance (LB_VIP_F_SECOND_CHANCE): lb_ring_install() reads the
 * table it replaces, and a slot whose owner changes gets prev = the old
 * owner, a slot whose owner stays keeps its prev. A VIP's first table
 * (no table, or one of another size, in place) has prev = NONE
 * everywhere. Balancer hosts that publish the same sequence of tables
 * hold the same prev. The datapath reads prev only for a flow it has no
 * entry for, and checks that it is still a live backend of the VIP. */
struct lb_ring_slot {
	__u32 backend_id;
	__u32 prev_backend_id;
};
_Static_assert(sizeof(struct lb_ring_slot) == 8, "lb_ring_slot ABI");

/* lb_vip_stats (by VIP id) and lb_be_stats (by backend id), per CPU. */
struct lb_counters {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
};
_Static_assert(sizeof(struct lb_counters) == 24, "lb_counters ABI");

/* lb_global_stats, one per-CPU entry: every pass/drop reason has a field.
 * Forwarded packets are counted per VIP and per backend instead. */
struct lb_global_stats {
	__u64 pass_not_ip;        /* ARP, LLDP, QinQ, ... */
	__u64 pass_not_vip;       /* IP traffic that matches no VIP */
	__u64 pass_malformed;     /* truncated or invalid L2/L3 header */
	__u64 drop_ip_options;    /* IPv4 with options, to a VIP */
	__u64 drop_fragment;      /* IPv4/IPv6 fragment, to a VIP address */
	__u64 drop_ipv6_ext;      /* IPv6 extension header, to a VIP address */
	__u64 drop_malformed_l4;  /* truncated TCP/UDP header, to a VIP address */
	__u64 drop_no_backend;    /* VIP without a table or with an empty slot */
	__u64 drop_bad_backend;   /* slot names an inactive or mismatched backend */
	__u64 drop_no_nexthop;    /* backend's next-hop MAC not resolved yet */
	__u64 drop_too_big_no_df; /* IPv4 without DF that would need fragmenting */
	__u64 drop_xdp_adjust;    /* bpf_xdp_adjust_head/tail refused */
	__u64 drop_bad_mode;      /* VIP with an unknown forwarding mode */
	__u64 icmp_too_big_v4;    /* ICMP fragmentation-needed sent to a client */
	__u64 icmp_too_big_v6;    /* ICMPv6 packet-too-big sent to a client */
	__u64 flow_insert_fail;   /* flow table update failed (packet still sent) */
	__u64 pass_l2_multicast;  /* broadcast/multicast destination MAC */
	__u64 icmp_err_to_backend; /* ICMP error about a VIP flow, sent to its backend */
	__u64 drop_icmp_err_too_big; /* such an error, too big to encapsulate */
	__u64 flow_resteer_down;  /* established flow moved off a DOWN backend */
	__u64 syn_replaced;       /* a waiting handshake overwritten by a
				   * colliding SYN (a SYN flood shows here) */
	__u64 syn_promoted;       /* a handshake's first ACK: into lb_flows* */
	__u64 flow_chained;       /* second chance: a TCP packet without SYN
				   * and without a flow entry, sent to its
				   * slot's owner with the previous owner as
				   * a second hop (recorded as a chained flow) */
};
_Static_assert(sizeof(struct lb_global_stats) == 184, "lb_global_stats ABI");

/* lb_settings, one entry, written by userspace. */
struct lb_settings {
	__u32 hash_seed; /* seed of the per-packet flow hash */
	/* L3 MTU towards backends; 0 means 1500. Userspace accepts only
	 * 1320 .. 65535: below 1320 an IPv6 packet-too-big would announce
	 * less than IPv6's minimum MTU, which clients ignore. */
	__u32 mtu;
	/* Outer source of IPIP packets: base | (flow entropy & mask), so the
	 * receiver's RSS spreads tunnelled flows over its queues. */
	__be32 encap_src_v4;
	__be32 encap_src_v4_mask;
	__u8 encap_src_v6[16];
	__be32 encap_src_v6_mask; /* applied to the last 32 bits */
	/* A coarse clock for flow activity (lb_flow.seen), advanced by
	 * lb-agent every LB_TICK_MS while it runs: the established path
	 * reads it from this entry, which it looks up anyway, instead of
	 * calling a clock helper for every packet. 0 without an agent. */
	__u32 tick;
	/* LB_SETTINGS_F_*: the host's state beyond one process (read by
	 * userspace only, kept here so lbctl and lb-agent share it and it
	 * lives as long as the pins). */
	__u32 flags;
	/* Where the VIP routes were last announced (lib/lb_announce.h):
	 * routing table and protocol number, 0 = none yet. Detach, unload
	 * and a sync into another table withdraw from there. */
	__u32 announce_table;
	__u8 announce_proto;
	__u8 pad[7];
};
_Static_assert(sizeof(struct lb_settings) == 56, "lb_settings ABI");
/* lb_settings.flags */
#define LB_SETTINGS_F_WITHDRAWN 0x1 /* announce no VIP (`lbctl announce
				     * withdraw`, a drain): lib/lb_announce
				     * removes our routes and adds none */

/* lb_meta, one entry: lets userspace refuse maps of another schema. */
struct lb_meta {
	__u32 schema_version;
	__u32 pad;
};
_Static_assert(sizeof(struct lb_meta) == 8, "lb_meta ABI");
/* The schema an object was built for, carried in its BTF as a decl tag
 * on its lb_meta map ("inferlb_schema:6"): `lbctl upgrade` reads it from
 * an object file before the object touches the pinned maps, whose own
 * schema lb_meta holds. */
#define LB_SCHEMA_TAG_PREFIX "inferlb_schema:"
#define LB_STR_(x) #x
#define LB_STR(x) LB_STR_(x)
#define LB_SCHEMA_TAG \
	__attribute__((btf_decl_tag(LB_SCHEMA_TAG_PREFIX LB_STR(LB_SCHEMA_VERSION))))

/* lb_vip_tb (by VIP id), lb_be_tb (by backend id), lb_client_tb: one token
 * bucket, kept as a GCRA "theoretical arrival time" so that a new flow
 * costs one compare-and-swap and no refill loop: with T = 1e9 / rate ns
 * and a burst of b, a flow at time t is admitted iff max(tat, t) + T <=
 * t + b*T, and then tat = max(tat, t) + T. A fresh bucket (tat 0) holds
 * b tokens, as Envoy's token bucket starts full. */
struct lb_tb {
	__u64 tat; /* ns, bpf_ktime_get_ns() clock */
};
_Static_assert(sizeof(struct lb_tb) == 8, "lb_tb ABI");

/* lb_client_tb key: a VIP and a client prefix (address masked). */
struct lb_client_key {
	__u32 vip_id;
	__u8 addr[16];
	__u8 plen;
	__u8 family;
	__u16 pad;
};
_Static_assert(sizeof(struct lb_client_key) == 24, "lb_client_key ABI");

/* lb_vip_backends value, by VIP id: the VIP's backends with a weight, as
 * the last table was built (what round robin, least-conn and bounded load
 * iterate). Written by userspace with every table. */
struct lb_vip_backends {
	__u32 n;
	__u32 total_weight;
	__u32 ids[LB_VIP_LIST_MAX];
	__u32 weights[LB_VIP_LIST_MAX];
};
_Static_assert(sizeof(struct lb_vip_backends) == 8 + 8 * LB_VIP_LIST_MAX,
	       "lb_vip_backends ABI");

/* lb_be_load value, by backend id, shared by all CPUs (atomic adds). */
struct lb_be_load {
	/* new flows - closed (FIN/RST), recounted by lb-agent from the flow
	 * tables without idle flows and flows of DOWN backends. Signed in
	 * effect: a flow re-steered after a recount can take it below 0
	 * for a moment, and readers count that as 0. */
	__u64 open;
	__u64 score;     /* p2c load score published by the agent */
	__u64 sent;      /* new flows since the agent published score */
	/* expected-wait, published by the agent (0 = unknown): the batch
	 * slots the worker runs at once, and the time one queued request
	 * waits for a slot to free (mean service time / slots, ns). */
	__u32 slots;
	/* requests the worker runs and queues beyond this balancer's open
	 * flows: its own count (running + waiting) less the open count when
	 * the agent read it, at engine_load_ns (CLOCK_MONOTONIC,
	 * bpf_ktime_get_ns's clock): what reaches it past this balancer
	 * (other balancer hosts, direct clients). Ignored once older than
	 * LB_ENGINE_LOAD_TTL_NS, so a stopped agent leaves the exact open
	 * counts in charge. */
	__u32 engine_load;
	__u64 slot_wait_ns;
	__u64 engine_load_ns;
};
_Static_assert(sizeof(struct lb_be_load) == 48, "lb_be_load ABI");
#define LB_ENGINE_LOAD_TTL_NS 1000000000ull
#define LB_ENGINE_LOAD_MAX (1u << 20)	/* the agent clamps engine_load */
/* The open flows an lb_be_load entry says, as every reader counts them. */
static inline __u64 lb_load_open(const struct lb_be_load *ld)
{
	__u64 open = ld->open;

	return (__s64)open < 0 ? 0 : open;
}
/* Bounds on what the agent publishes, so that (open + 1) x slot_wait_ns
 * stays far from 2^64 for any flow count the tables can hold (and for
 * engine_load, bounded by LB_ENGINE_LOAD_MAX). */
#define LB_SLOT_WAIT_MAX_NS 600000000000ull /* 10 minutes */
#define LB_SLOTS_MAX 65535u
/* lb_settings.tick: one tick is this many ms of lb-agent's clock. */
#define LB_TICK_MS 1000u

/* lb_vip_refused (by VIP id) and lb_be_refused (by backend id), per CPU:
 * new flows refused, by reason, and what they got. */
struct lb_refusals {
	__u64 vip_rate;     /* the VIP's bucket was empty */
	__u64 backend_rate; /* every candidate's bucket was empty (VIP), or
	                     * this backend's (backend: skipped for it) */
	__u64 client_rate;  /* the client prefix's bucket was empty */
	__u64 no_backend;   /* every candidate refused by state */
	__u64 state;        /* backend: skipped for its state */
	__u64 reset_sent;   /* answered with a RST */
	__u64 dropped;      /* dropped (drop policy, UDP) */
	__u64 fail_open;    /* state refused all, plain choice used */
	__u64 ttft_target;  /* expected wait above the VIP's ttft_target_ms */
};
_Static_assert(sizeof(struct lb_refusals) == 72, "lb_refusals ABI");

/* lb_agent, one entry, written by lb-agent only: lets `lbctl show` (and
 * the next agent) tell whether an agent is driving the maps. Times are
 * CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns() in BPF terms). */
struct lb_agent_status {
	__u64 heartbeat_ns; /* end of the agent's last poll round */
	__u64 started_ns;   /* when the writing agent process started */
	__u64 generation;   /* publications of weights/states, over restarts */
	__u32 pid;          /* of the writing agent; 0 after a clean exit */
	__u32 poll_interval_ms;
	__u32 backends;     /* backends it manages */
	__u32 reloads;      /* configs loaded by this agent process */
	/* Cluster mode (agent/cluster.c; all 0 when it is off): */
	__u64 cluster_generation; /* the cluster decision last applied here */
	__u64 cluster_contact_ns; /* last answer from etcd (0: none yet) */
	__u32 cluster_leader;     /* lb_cluster_name_hash of the leader's
				   * host name; 0: no leader known */
	__u8 cluster_role;        /* enum lb_cluster_role */
	__u8 cluster_etcd_up;     /* 1: etcd answered within the lease TTL */
	__u16 cluster_pad;
	/* boot clock: when a decision last changed this host's maps (0:
	 * none yet). Hosts that apply the same decisions show the same
	 * moment within ms, whenever each is asked. */
	__u64 cluster_changed_ns;
};
_Static_assert(sizeof(struct lb_agent_status) == 72, "lb_agent_status ABI");
enum lb_cluster_role {
	LB_CLUSTER_OFF = 0,	/* a single host: the agent decides alone */
	LB_CLUSTER_FOLLOWER = 1,
	LB_CLUSTER_LEADER = 2,
};
/* FNV-1a of a host name (cluster.host), 0 mapped to 1: lets lbctl show
 * whether two hosts follow the same leader without a string in the ABI. */
static inline __u32 lb_cluster_name_hash(const char *s)
{
	__u32 h = 2166136261u;

	while (*s)
		h = (h ^ (__u8)*s++) * 16777619u;
	return h ? h : 1;
}

/* lb_decap_addrs value (key: struct lb_addr_key): host addresses whose
 * IPIP/IP6IP6 packets the decap program unwraps. */
struct lb_decap_addr {
	__u32 flags; /* reserved, 0 */
};
_Static_assert(sizeof(struct lb_decap_addr) == 4, "lb_decap_addr ABI");

/* lb_decap_stats, one per-CPU entry. */
struct lb_decap_stats {
	__u64 decap_v4;       /* outer IPv4 removed */
	__u64 decap_v6;       /* outer IPv6 removed */
	__u64 pass_not_encap; /* anything else, untouched */
	__u64 pass_malformed; /* truncated headers, untouched */
	__u64 drop_xdp_adjust;
	__u64 ecn_ce;         /* inner ECN field updated from the outer (RFC 6040) */
	__u64 drop_not_ect;   /* outer CE on a packet that is not ECN-capable */
	/* Second chance: a packet that, once unwrapped, is again IPIP /
	 * IP6IP6 addressed to another host (a second hop). */
	__u64 chain_local;     /* a local socket holds its flow: both
				* headers removed, passed to the stack */
	__u64 chain_forwarded; /* sent on to the second hop (XDP_TX/redirect) */
	__u64 chain_no_neigh;  /* second hop's neighbour unresolved: the
				* one-header packet passed to the kernel,
				* which resolves it and forwards (or drops) */
	__u64 chain_no_route;  /* no route to the second hop: dropped */
	__u64 chain_malformed; /* truncated second header or TCP: dropped */
};
_Static_assert(sizeof(struct lb_decap_stats) == 96, "lb_decap_stats ABI");

/* Bytes added in front of the inner IP header by IPIP encapsulation. */
#define LB_IPIP_V4_OVERHEAD 20
#define LB_IPIP_V6_OVERHEAD 40
#define LB_ENCAP_TTL 64

#endif /* INFERLB_H */
