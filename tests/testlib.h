/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * testlib.h - what the datapath tests and benchmarks share: a packet
 * builder (frames with correct checksums), an independent checksum, a
 * BPF_PROG_TEST_RUN wrapper and datapath map setup.
 *
 * Addresses: 198.18.0.0/15 and 2001:db8::/32 only.
 */
#ifndef TESTLIB_H
#define TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "inferlb.h"

struct lb_bpf;

extern const __u8 tl_mac_client[6];
extern const __u8 tl_mac_lb[6];
/* Next-hop MAC the tests give backend id: 02:00:00:00:hi:lo. */
void tl_mac_backend(__u32 id, __u8 mac[6]);

/* Parses an IPv4/IPv6 address into addr[16] (IPv4 in addr[0..3], rest 0).
 * Aborts the test program on a bad literal. */
void tl_addr(int family, const char *str, __u8 addr[16]);
/* The address the datapath fixtures give backend id: 198.18.2.ID or
 * 2001:db8:2::ID (hex), as text. */
void tl_backend_text(int family, __u32 id, char *buf, size_t n);

struct tl_pkt_spec {
	int family;          /* 4 or 6 */
	const char *src;     /* defaults: 198.18.1.1 / 2001:db8:1::1 */
	const char *dst;     /* defaults: 198.18.0.10 / 2001:db8::10 */
	__u8 proto;          /* default IPPROTO_TCP */
	__u16 sport, dport;  /* host order; defaults 40000 and 80 */
	__u8 tcp_flags;      /* default ACK */
	__u16 payload;       /* payload bytes after the L4 header */
	__u16 vlan;          /* VLAN id; 0 = untagged */
	__u8 tos;            /* IPv4 TOS / IPv6 traffic class */
	bool no_df;          /* IPv4: leave DF clear */
	__u8 ip_opts;        /* IPv4: bytes of NOP options (multiple of 4) */
	__u16 frag_off;      /* IPv4: MF / offset bits (host order) */
	bool v6_ext;         /* IPv6: insert one extension header ... */
	__u8 v6_ext_type;    /* ... of this type (0 hop-by-hop, 44 fragment) */
	bool set_ack;        /* TCP ack field non-zero */
};

/* Builds an Ethernet frame (client -> LB MAC) into buf. Returns its length. */
size_t tl_build(const struct tl_pkt_spec *s, __u8 *buf, size_t cap);

/* RFC 1071 checksum over len bytes, starting from sum; folded and inverted. */
__u16 tl_csum(const void *p, size_t len, __u32 sum);
/* Partial sum (not folded) for building pseudo headers. */
__u32 tl_csum_add(const void *p, size_t len, __u32 sum);

struct tl_run {
	int ret;          /* XDP verdict */
	__u32 len;        /* output frame length */
	__u8 out[4096];
};

/* One BPF_PROG_TEST_RUN of prog_fd on a fresh copy of the frame.
 * Returns 0, or -errno when the kernel refused the run itself. */
int tl_run(int prog_fd, const void *in, size_t len, struct tl_run *r);

/* ---- balancer setup ---------------------------------------------------- */

/* Opens and loads the balancer with a small flow table, writes lb_meta and
 * an lb_settings (seed 1, MTU 1500, fixed encap sources 198.18.3.1 and
 * 2001:db8:3::1). Returns NULL (and prints why) on failure. */
struct lb_bpf *tl_lb_load(void);

int tl_vip_add(struct lb_bpf *s, int family, const char *addr, __u16 port,
	       __u8 proto, __u8 mode, __u32 id, __u32 ring_size);
/* Backend slot id of vip_id at addr, ACTIVE, with a resolved next hop and
 * the VIP's mode (so add the VIP first). */
int tl_backend_add(struct lb_bpf *s, __u32 id, __u32 vip_id, int family,
		   const char *addr);
/* Every slot of the VIP's table -> backend_id. */
int tl_ring_fill(struct lb_bpf *s, __u32 vip_id, __u32 ring_size,
		 __u32 backend_id);

/* Sums a per-CPU map entry's u64 field (at offset) over all CPUs. */
__u64 tl_percpu_sum(int map_fd, __u32 key, size_t value_size, size_t offset);
#define TL_GLOBAL(s, field)                                                  \
	tl_percpu_sum(bpf_map__fd((s)->maps.lb_global_stats), 0,             \
		      sizeof(struct lb_global_stats),                         \
		      offsetof(struct lb_global_stats, field))

struct lb_dp;
/* A datapath of the test's own: pin directory dir locked (created), the
 * program loaded and attached to ifname in skb mode. *loaded turns true
 * once there is something to unload, also when a later step fails (msg
 * says which). Returns 0 or -1. */
int tl_dp_up(struct lb_dp *dp, const char *dir, const char *ifname,
	     bool *loaded, char *msg, size_t len);

#endif /* TESTLIB_H */
