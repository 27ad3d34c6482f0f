/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_map_table.h - the one list of inferlb's BPF maps, for userspace.
 *
 * The maps themselves are defined for the datapath in bpf/lb_maps.h,
 * bpf/lb.bpf.c (lb_scratch) and bpf/decap.bpf.c. Everything userspace
 * needs to know about them comes from LB_MAP_TABLE below: the index enum
 * (LB_M_*), the pin names, the key and value sizes lb_dp checks pinned
 * maps against, and the list of pins `lbctl unload` removes. A map added
 * to a BPF object gets one line here; tests/test_maps.c fails until it
 * has one, and fails when a line names a map the objects lack or a size
 * that differs from theirs.
 *
 * X(ID, name, key, value, object, lbdp), one line per map:
 *   ID      the map's index, LB_M_<ID> in enum lb_map_idx
 *   name    the BPF variable's name, which is also its pin name
 *   key     its key type
 *   value   its value type: for per-CPU maps one CPU's value; for lb_rings
 *           (a map of maps) the inner map's fd or id, a __u32;
 *           LB_MAP_PRIVATE for a struct only its BPF object knows
 *   object  LB: bpf/lb.bpf.c, pinned in the pin directory;
 *           DECAP: bpf/decap.bpf.c, pinned in its decap/ subdirectory
 *   lbdp    OPEN: lb_dp_open opens it, into dp->fd[LB_M_<ID>];
 *           PIN: pinned only (state userspace never reads or writes, or
 *           decap's maps, which lb_dp_decap_attach opens by path)
 */
#ifndef LB_MAP_TABLE_H
#define LB_MAP_TABLE_H

#include <stdbool.h>
#include <linux/types.h>
#include "inferlb.h"

/* The value type of a map userspace never reads, whose struct is private
 * to its BPF object (lb_scratch: lb.bpf.c's struct lb_new_req). Its size
 * is 0 in the table, which means "not known here". */
#define LB_MAP_PRIVATE char[0]

#define LB_MAP_TABLE(X)                                                        \
	X(META,         lb_meta,         __u32,                 struct lb_meta,          LB, OPEN) \
	X(SETTINGS,     lb_settings,     __u32,                 struct lb_settings,      LB, OPEN) \
	X(VIPS,         lb_vips,         struct lb_vip_key,     struct lb_vip_ref,       LB, OPEN) \
	X(VIP_INFO,     lb_vip_info,     __u32,                 struct lb_vip,           LB, OPEN) \
	X(VIP_ADDRS,    lb_vip_addrs,    struct lb_addr_key,    __u32,                   LB, OPEN) \
	X(VIP_FILTER,   lb_vip_filter,   __u32,                 __u64,                   LB, OPEN) \
	X(RINGS,        lb_rings,        __u32,                 __u32,                   LB, OPEN) \
	X(BACKENDS,     lb_backends,     __u32,                 struct lb_backend,       LB, OPEN) \
	X(NEXTHOPS,     lb_nexthops,     __u32,                 struct lb_nexthop,       LB, OPEN) \
	X(FLOWS4,       lb_flows4,       struct lb_flow_key4,   struct lb_flow,          LB, OPEN) \
	X(FLOWS6,       lb_flows6,       struct lb_flow_key6,   struct lb_flow,          LB, OPEN) \
	X(SYN4,         lb_syn4,         __u32,                 struct lb_syn4,          LB, OPEN) \
	X(SYN6,         lb_syn6,         __u32,                 struct lb_syn6,          LB, OPEN) \
	X(VIP_STATS,    lb_vip_stats,    __u32,                 struct lb_counters,      LB, OPEN) \
	X(BE_STATS,     lb_be_stats,     __u32,                 struct lb_counters,      LB, OPEN) \
	X(GLOBAL_STATS, lb_global_stats, __u32,                 struct lb_global_stats,  LB, OPEN) \
	X(AGENT,        lb_agent,        __u32,                 struct lb_agent_status,  LB, OPEN) \
	X(VIP_TB,       lb_vip_tb,       __u32,                 struct lb_tb,            LB, OPEN) \
	X(BE_TB,        lb_be_tb,        __u32,                 struct lb_tb,            LB, OPEN) \
	X(VIP_BACKENDS, lb_vip_backends, __u32,                 struct lb_vip_backends,  LB, OPEN) \
	X(BE_LOAD,      lb_be_load,      __u32,                 struct lb_be_load,       LB, OPEN) \
	X(VIP_REFUSED,  lb_vip_refused,  __u32,                 struct lb_refusals,      LB, OPEN) \
	X(BE_REFUSED,   lb_be_refused,   __u32,                 struct lb_refusals,      LB, OPEN) \
	X(CLIENT_TB,    lb_client_tb,    struct lb_client_key,  struct lb_tb,            LB, PIN)  \
	X(RR,           lb_rr,           __u32,                 __u32,                   LB, PIN)  \
	X(SCRATCH,      lb_scratch,      __u32,                 LB_MAP_PRIVATE,          LB, PIN)  \
	X(DECAP_ADDRS,  lb_decap_addrs,  struct lb_addr_key,    struct lb_decap_addr,    DECAP, PIN) \
	X(DECAP_STATS,  lb_decap_stats,  __u32,                 struct lb_decap_stats,   DECAP, PIN)

/* ---- what the table gives ------------------------------------------- */

#define LB_M_ENUM_(id, name, key, value, object, lbdp) LB_M_##id,
enum lb_map_idx {
	LB_MAP_TABLE(LB_M_ENUM_)
	LB_M_COUNT,
};
#undef LB_M_ENUM_

/* Which BPF object defines a map, and so where it is pinned. */
enum lb_map_object {
	LB_MAP_OBJ_LB,     /* bpf/lb.bpf.c: the pin directory */
	LB_MAP_OBJ_DECAP,  /* bpf/decap.bpf.c: its decap/ subdirectory */
};

struct lb_map_desc {
	const char *name;      /* BPF variable and pin name */
	__u32 key_size;
	__u32 value_size;      /* per CPU for per-CPU maps; 0: LB_MAP_PRIVATE */
	enum lb_map_object object;
	bool opened;           /* lb_dp_open opens it (column lbdp = OPEN) */
};

/* Every map, indexed by enum lb_map_idx (defined in lib/lb_dp.c). */
extern const struct lb_map_desc lb_map_table[LB_M_COUNT];

/* Pin name of a map: lb_map_name(LB_M_BACKENDS) is "lb_backends". */
static inline const char *lb_map_name(enum lb_map_idx i)
{
	return lb_map_table[i].name;
}

#endif /* LB_MAP_TABLE_H */
