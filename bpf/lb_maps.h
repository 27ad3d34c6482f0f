/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_maps.h - every map of the balancer datapath, one purpose each.
 * Keys and values are the structs of include/inferlb.h, so bpftool prints
 * them with field names (the object is built with -g for BTF).
 */
#ifndef LB_MAPS_H
#define LB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "inferlb.h"

/* Schema version of these maps; userspace refuses maps of another schema.
 * The tag records, in the object, the schema it was built for. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_meta);
} lb_meta SEC(".maps") LB_SCHEMA_TAG;

/* Runtime settings: hash seed, MTU, outer source addresses of IPIP, and
 * the coarse clock lb-agent advances (tick), under the pin-dir lock. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_settings);
} lb_settings SEC(".maps");

/* VIP (address, port, protocol) -> its id. Consulted for new flows only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_VIPS);
	__type(key, struct lb_vip_key);
	__type(value, struct lb_vip_ref);
} lb_vips SEC(".maps");

/* VIP id -> forwarding mode, table size, generation, state. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct lb_vip);
} lb_vip_info SEC(".maps");

/* Bit filter over VIP addresses (see lb_vip_filter_bit): a clear bit
 * sends a packet to the kernel without any hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_VIP_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} lb_vip_filter SEC(".maps");

/* Addresses that carry any VIP -> number of VIPs on it. Slow path only:
 * tells fragments, packets with IP options or IPv6 extension headers and
 * truncated TCP/UDP headers that must be dropped (to a VIP) from those to
 * pass (anything else). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_VIPS);
	__type(key, struct lb_addr_key);
	__type(value, __u32);
} lb_vip_addrs SEC(".maps");

/* VIP id -> its current Maglev table (inner map: slot -> backend id;
 * BPF_F_INNER_MAP lets tables of different sizes share the template).
 * Userspace writes a complete new table into a fresh inner map and swaps
 * it in with one update, so a packet sees either the old table or the new
 * one, never a mix. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, LB_MAX_VIPS);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(max_entries, 1);
		__uint(map_flags, BPF_F_INNER_MAP);
		__type(key, __u32);
		/* struct lb_ring_slot, of this size (clang 14 leaves
		 * a struct here as a forward declaration, without a
		 * size); userspace creates the real inner maps and gives
		 * them that BTF type (see lib/lb_ring.c) */
		__type(value, __u64);
	});
} lb_rings SEC(".maps");
_Static_assert(sizeof(struct lb_ring_slot) == sizeof(__u64), "lb_rings inner value");

/* Backend id -> address, family and epoch (see struct lb_backend). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_backend);
} lb_backends SEC(".maps");

/* Backend id -> next-hop MAC, filled by userspace from the neighbour table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_nexthop);
} lb_nexthops SEC(".maps");

/* Flow tables: client 5-tuple -> pinned backend, one per family. Each is
 * one hash shared by all CPUs with per-CPU LRU lists (BPF_F_NO_COMMON_LRU):
 * lookups are lock-free, each CPU inserts and evicts on its own list
 * without contending, and a flow whose packets move to another CPU (RSS
 * change, veth, RPS) still finds its entry, so it never changes backend. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_FLOW4_TABLE_SIZE);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct lb_flow_key4);
	__type(value, struct lb_flow);
} lb_flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_FLOW6_TABLE_SIZE);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct lb_flow_key6);
	__type(value, struct lb_flow);
} lb_flows6 SEC(".maps");

/* Handshakes in progress, slot (flow hash & (slots - 1)) -> the SYN's
 * 5-tuple and choice (struct lb_syn4 in inferlb.h says why SYNs wait here
 * instead of in lb_flows*: a flood of spoofed SYNs only overwrites other
 * waiting SYNs, never an established flow). Written by the datapath on any
 * CPU, one whole value per SYN; read by the first packet without SYN
 * and by the open-flow recount (lb_open_recount). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_SYN4_SLOTS);
	__type(key, __u32);
	__type(value, struct lb_syn4);
} lb_syn4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_SYN6_SLOTS);
	__type(key, __u32);
	__type(value, struct lb_syn6);
} lb_syn6 SEC(".maps");

/* VIP id -> packets, bytes, new flows (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct lb_counters);
} lb_vip_stats SEC(".maps");

/* Backend id -> packets, bytes, new flows (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_counters);
} lb_be_stats SEC(".maps");

/* One counter per pass/drop reason (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_global_stats);
} lb_global_stats SEC(".maps");

/* Heartbeat and publication generation of lb-agent (never read here). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_agent_status);
} lb_agent SEC(".maps");

/* VIP id -> its new-flow token bucket (shared, compare-and-swap). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct lb_tb);
} lb_vip_tb SEC(".maps");

/* Backend id -> its new-flow token bucket (rate set by the agent; the
 * trial bucket while HALF_OPEN). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_tb);
} lb_be_tb SEC(".maps");

/* (VIP, client prefix) -> token bucket; LRU so a flood of sources evicts
 * old prefixes instead of exhausting the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_CLIENT_TB_SIZE);
	__type(key, struct lb_client_key);
	__type(value, struct lb_tb);
} lb_client_tb SEC(".maps");

/* VIP id -> its weighted backends, for rr, least-conn, bounded load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct lb_vip_backends);
} lb_vip_backends SEC(".maps");

/* Backend id -> open flows, p2c score and expected-wait's inputs (shared,
 * atomic adds). Mapped into userspace: lb-agent writes single fields
 * (score, slots, slot wait, the worker's own load; a correction to open
 * from its recount) without overwriting the datapath's concurrent updates
 * of the others (open, sent). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_be_load);
} lb_be_load SEC(".maps");

/* VIP id / backend id -> refused new flows by reason (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct lb_refusals);
} lb_vip_refused SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_refusals);
} lb_be_refused SEC(".maps");

/* VIP id -> this CPU's round-robin cursor (wrr, rr). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_VIPS);
	__type(key, __u32);
	__type(value, __u32);
} lb_rr SEC(".maps");

#endif /* LB_MAPS_H */
