// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* lb_filter.c - see lb_filter.h. */
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>

#include "inferlb.h"
#include "lb_hash.h"
#include "lb_filter.h"

int lb_filter_add(int filter_fd, int family, const __u8 addr[16])
{
	__u32 w[4], bit, word;
	__u64 v;

	if (family != 4 && family != 6) /* LB_AF_INET / LB_AF_INET6 */
		return -EINVAL;
	memcpy(w, addr, sizeof(w));
	bit = lb_vip_filter_bit(w, family == 6);
	word = bit >> 6;
	if (bpf_map_lookup_elem(filter_fd, &word, &v))
		return -errno;
	v |= 1ull << (bit & 63);
	return bpf_map_update_elem(filter_fd, &word, &v, BPF_ANY) ? -errno : 0;
}

int lb_filter_rebuild(int filter_fd, int vip_addrs_fd)
{
	static __thread __u64 want[LB_VIP_FILTER_WORDS];
	struct lb_addr_key k, next;
	void *prev = NULL;
	__u32 w[4], bit;
	__u64 have;

	memset(want, 0, sizeof(want));
	while (!bpf_map_get_next_key(vip_addrs_fd, prev, &next)) {
		k = next;
		prev = &k;
		memcpy(w, k.addr, sizeof(w));
		bit = lb_vip_filter_bit(w, k.family == LB_AF_INET6);
		want[bit >> 6] |= 1ull << (bit & 63);
	}
	if (errno != ENOENT)
		return -errno;
	for (__u32 i = 0; i < LB_VIP_FILTER_WORDS; i++) {
		if (bpf_map_lookup_elem(filter_fd, &i, &have))
			return -errno;
		if (have != want[i] &&
		    bpf_map_update_elem(filter_fd, &i, &want[i], BPF_ANY))
			return -errno;
	}
	return 0;
}
