// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * testlib.c - packet builder, checksum, test-run wrapper and map setup for
 * the datapath tests and benchmarks. The checksum here is written
 * independently of the BPF one, so tests check the datapath against it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lb.skel.h"
#include "lb_dp.h"
#include "lb_filter.h"
#include "lb_ring.h"
#include "testlib.h"

const __u8 tl_mac_client[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
const __u8 tl_mac_lb[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };

void tl_mac_backend(__u32 id, __u8 mac[6])
{
	const __u8 m[6] = { 0x02, 0x00, 0x00, 0x00, id >> 8, id & 0xff };

	memcpy(mac, m, 6);
}

void tl_addr(int family, const char *str, __u8 addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(family == 6 ? AF_INET6 : AF_INET, str, addr) != 1) {
		fprintf(stderr, "testlib: bad address literal '%s'\n", str);
		abort();
	}
}

void tl_backend_text(int family, __u32 id, char *buf, size_t n)
{
	if (family == 6)
		snprintf(buf, n, "2001:db8:2::%x", id);
	else
		snprintf(buf, n, "198.18.2.%u", id);
}

__u32 tl_csum_add(const void *p, size_t len, __u32 sum)
{
	const __u8 *b = p;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (__u32)b[len - 1] << 8;
	return sum;
}

__u16 tl_csum(const void *p, size_t len, __u32 sum)
{
	sum = tl_csum_add(p, len, sum);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
}

/* Pseudo-header sum for TCP/UDP/ICMPv6 checksums. */
static __u32 pseudo_sum(int family, const __u8 *src, const __u8 *dst,
			__u8 proto, __u32 len)
{
	int alen = family == 6 ? 16 : 4;
	__u32 sum = 0;

	sum = tl_csum_add(src, alen, sum);
	sum = tl_csum_add(dst, alen, sum);
	return sum + proto + (len >> 16) + (len & 0xffff);
}

static size_t build_l4(const struct tl_pkt_spec *s, __u8 *l4, const __u8 *src,
		       const __u8 *dst)
{
	size_t hl = s->proto == IPPROTO_TCP ? sizeof(struct tcphdr) :
		    s->proto == IPPROTO_UDP ? sizeof(struct udphdr) : 8;
	size_t len = hl + s->payload;

	for (size_t i = 0; i < s->payload; i++)
		l4[hl + i] = (__u8)(i * 7 + 3);
	if (s->proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)l4;

		memset(th, 0, sizeof(*th));
		th->source = htons(s->sport);
		th->dest = htons(s->dport);
		th->seq = htonl(1000);
		th->ack_seq = s->set_ack ? htonl(5000) : 0;
		th->doff = 5;
		l4[13] = s->tcp_flags;
		th->window = htons(65535);
		th->check = tl_csum(l4, len, pseudo_sum(s->family, src, dst,
							 IPPROTO_TCP, len));
	} else if (s->proto == IPPROTO_UDP) {
		struct udphdr *uh = (void *)l4;

		uh->source = htons(s->sport);
		uh->dest = htons(s->dport);
		uh->len = htons(len);
		uh->check = 0;
		uh->check = tl_csum(l4, len, pseudo_sum(s->family, src, dst,
							 IPPROTO_UDP, len));
	} else {
		memset(l4, 0, hl); /* e.g. an ICMP echo-shaped blob */
		l4[0] = 8;
	}
	return len;
}

size_t tl_build(const struct tl_pkt_spec *in, __u8 *buf, size_t cap)
{
	struct tl_pkt_spec s = *in;
	__u8 src[16], dst[16];
	struct ethhdr *eth = (void *)buf;
	size_t off = sizeof(*eth), l4_len;

	if (!s.proto)
		s.proto = IPPROTO_TCP;
	if (!s.sport)
		s.sport = 40000;
	if (!s.dport)
		s.dport = 80;
	if (!s.tcp_flags && s.proto == IPPROTO_TCP)
		s.tcp_flags = 0x10;
	if (!s.src)
		s.src = s.family == 6 ? "2001:db8:1::1" : "198.18.1.1";
	if (!s.dst)
		s.dst = s.family == 6 ? "2001:db8::10" : "198.18.0.10";
	tl_addr(s.family, s.src, src);
	tl_addr(s.family, s.dst, dst);
	if (cap < 2048)
		abort();
	memset(buf, 0, 2048);

	memcpy(eth->h_dest, tl_mac_lb, 6);
	memcpy(eth->h_source, tl_mac_client, 6);
	if (s.vlan) {
		eth->h_proto = htons(ETH_P_8021Q);
		*(__be16 *)(buf + off) = htons(s.vlan);
		*(__be16 *)(buf + off + 2) = htons(s.family == 6 ? ETH_P_IPV6 : ETH_P_IP);
		off += 4;
	} else {
		eth->h_proto = htons(s.family == 6 ? ETH_P_IPV6 : ETH_P_IP);
	}

	if (s.family == 4) {
		struct iphdr *iph = (void *)(buf + off);
		size_t ihl = sizeof(*iph) + s.ip_opts;

		memset(buf + off + sizeof(*iph), 1 /* NOP */, s.ip_opts);
		l4_len = build_l4(&s, buf + off + ihl, src, dst);
		iph->version = 4;
		iph->ihl = ihl / 4;
		iph->tos = s.tos;
		iph->tot_len = htons(ihl + l4_len);
		iph->id = htons(0x1234);
		iph->frag_off = htons((s.no_df ? 0 : 0x4000) | s.frag_off);
		iph->ttl = 64;
		iph->protocol = s.proto;
		memcpy(&iph->saddr, src, 4);
		memcpy(&iph->daddr, dst, 4);
		iph->check = 0;
		iph->check = tl_csum(iph, ihl, 0);
		return off + ihl + l4_len;
	}

	struct ipv6hdr *ip6h = (void *)(buf + off);
	size_t ext = s.v6_ext ? 8 : 0;
	__u8 *e = buf + off + sizeof(*ip6h);

	l4_len = build_l4(&s, buf + off + sizeof(*ip6h) + ext, src, dst);
	*(__be32 *)ip6h = htonl(0x60000000 | (__u32)s.tos << 20);
	ip6h->payload_len = htons(ext + l4_len);
	ip6h->nexthdr = s.v6_ext ? s.v6_ext_type : s.proto;
	ip6h->hop_limit = 64;
	memcpy(&ip6h->saddr, src, 16);
	memcpy(&ip6h->daddr, dst, 16);
	if (s.v6_ext) {
		memset(e, 0, 8);
		e[0] = s.proto; /* next header; length 0 = 8 bytes */
		if (s.v6_ext_type != IPPROTO_FRAGMENT) {
			e[2] = 1; /* PadN option covering the rest */
			e[3] = 4;
		} else {
			e[3] = 1; /* offset 0, more fragments */
			e[7] = 0x42;
		}
	}
	return off + sizeof(*ip6h) + ext + l4_len;
}

int tl_run(int prog_fd, const void *in, size_t len, struct tl_run *r)
{
	__u8 copy[4096];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = copy,
		    .data_size_in = len, .data_out = r->out,
		    .data_size_out = sizeof(r->out), .repeat = 1);
	int err;

	if (len > sizeof(copy))
		return -EINVAL;
	memcpy(copy, in, len);
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err)
		return err;
	r->ret = opts.retval;
	r->len = opts.data_size_out;
	return 0;
}

struct lb_bpf *tl_lb_load(void)
{
	struct lb_settings cfg = { .hash_seed = 1, .mtu = 1500 };
	struct lb_meta meta = { .schema_version = LB_SCHEMA_VERSION };
	struct lb_bpf *s;
	__u32 zero = 0;
	__u8 a[16];
	int ncpu;

	s = lb_bpf__open();
	if (!s) {
		perror("testlib: open balancer");
		return NULL;
	}
	/* Tests need few flows; keep preallocation small and fast. Each CPU's
	 * LRU list holds max_entries / possible CPUs, so scale by those. */
	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 1)
		ncpu = 1;
	bpf_map__set_max_entries(s->maps.lb_flows4, 32768 * ncpu);
	bpf_map__set_max_entries(s->maps.lb_flows6, 8192 * ncpu);
	if (lb_bpf__load(s)) {
		fprintf(stderr, "testlib: loading the balancer failed (root? BPF?)\n");
		lb_bpf__destroy(s);
		return NULL;
	}
	tl_addr(4, "198.18.3.1", a);
	memcpy(&cfg.encap_src_v4, a, 4);
	tl_addr(6, "2001:db8:3::1", cfg.encap_src_v6);
	if (bpf_map_update_elem(bpf_map__fd(s->maps.lb_settings), &zero, &cfg, 0) ||
	    bpf_map_update_elem(bpf_map__fd(s->maps.lb_meta), &zero, &meta, 0)) {
		perror("testlib: config");
		lb_bpf__destroy(s);
		return NULL;
	}
	return s;
}

int tl_vip_add(struct lb_bpf *s, int family, const char *addr, __u16 port,
	       __u8 proto, __u8 mode, __u32 id, __u32 ring_size)
{
	struct lb_vip v = { .key = { .port = htons(port), .proto = proto,
				     .family = family == 6 ? LB_AF_INET6 : LB_AF_INET },
			    .ring_size = ring_size, .mode = mode,
			    .flags = LB_VIP_F_ACTIVE };
	struct lb_addr_key ak = { .family = v.key.family };
	struct lb_vip_ref ref = { .id = id };
	__u32 n = 0;
	int err;

	tl_addr(family, addr, v.key.addr);
	memcpy(ak.addr, v.key.addr, 16);
	bpf_map_lookup_elem(bpf_map__fd(s->maps.lb_vip_addrs), &ak, &n);
	n++;
	/* Filter bit and VIP info first, the key that makes it reachable last. */
	err = lb_filter_add(bpf_map__fd(s->maps.lb_vip_filter), family, v.key.addr);
	if (err)
		return err;
	if (bpf_map_update_elem(bpf_map__fd(s->maps.lb_vip_addrs), &ak, &n, 0) ||
	    bpf_map_update_elem(bpf_map__fd(s->maps.lb_vip_info), &id, &v, 0) ||
	    bpf_map_update_elem(bpf_map__fd(s->maps.lb_vips), &v.key, &ref, 0))
		return -errno;
	return 0;
}

int tl_backend_add(struct lb_bpf *s, __u32 id, __u32 vip_id, int family,
		   const char *addr)
{
	struct lb_backend b = { .epoch = id * 7 + 1, .vip_id = vip_id,
				.family = family == 6 ? LB_AF_INET6 : LB_AF_INET,
				.flags = LB_BACKEND_F_ACTIVE };
	struct lb_nexthop nh = { .flags = LB_NEXTHOP_F_VALID };
	struct lb_vip v;

	/* the backend carries its VIP's (fixed) forwarding mode */
	if (bpf_map_lookup_elem(bpf_map__fd(s->maps.lb_vip_info), &vip_id, &v))
		return -errno;
	b.mode = v.mode;
	tl_addr(family, addr, b.addr);
	tl_mac_backend(id, nh.mac);
	if (bpf_map_update_elem(bpf_map__fd(s->maps.lb_backends), &id, &b, 0) ||
	    bpf_map_update_elem(bpf_map__fd(s->maps.lb_nexthops), &id, &nh, 0))
		return -errno;
	return 0;
}

int tl_ring_fill(struct lb_bpf *s, __u32 vip_id, __u32 ring_size,
		 __u32 backend_id)
{
	__u32 *t = malloc(sizeof(*t) * ring_size);
	int err;

	if (!t)
		return -ENOMEM;
	for (__u32 i = 0; i < ring_size; i++)
		t[i] = backend_id;
	err = lb_ring_install(bpf_map__fd(s->maps.lb_rings), vip_id, ring_size,
			      t, NULL);
	free(t);
	return err;
}

__u64 tl_percpu_sum(int map_fd, __u32 key, size_t value_size, size_t offset)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t stride = (value_size + 7) & ~(size_t)7;
	__u8 *vals;
	__u64 sum = 0, v;

	if (ncpu <= 0)
		return 0;
	vals = calloc(ncpu, stride);
	if (!vals)
		return 0;
	if (!bpf_map_lookup_elem(map_fd, &key, vals)) {
		for (int c = 0; c < ncpu; c++) {
			memcpy(&v, vals + c * stride + offset, sizeof(v));
			sum += v;
		}
	}
	free(vals);
	return sum;
}

int tl_dp_up(struct lb_dp *dp, const char *dir, const char *ifname,
	     bool *loaded, char *msg, size_t len)
{
	if (lb_dp_lock(dp, dir, true, msg, len))
		return -1;
	*loaded = true;
	return lb_dp_load(dp, msg, len) ||
	       lb_dp_attach(dp, ifname, LB_XDP_SKB, false, msg, len) ? -1 : 0;
}
