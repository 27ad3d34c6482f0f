// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* lb_digest.c - a VIP's table digest; see lb_digest.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "inferlb.h"
#include "lb_digest.h"
#include "lb_msg.h"
#include "lb_ops.h"
#include "lb_ring.h"

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

static void fnv(__u64 *h, const void *p, size_t n)
{
	const __u8 *b = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= FNV64_PRIME;
	}
}

/* Integers go in as little-endian bytes, whatever the host's order. */
static void fnv_u32(__u64 *h, __u32 v)
{
	__u8 b[4] = { v, v >> 8, v >> 16, v >> 24 };

	fnv(h, b, sizeof(b));
}

/* A backend as the digest sees it: family, then the address. */
static void fnv_addr(__u64 *h, const struct lb_backend *b)
{
	fnv(h, &b->family, 1);
	fnv(h, b->addr, 16);
}

static int by_id(const void *x, const void *y)
{
	const struct lb_backend_view *a = x, *b = y;

	return (a->id > b->id) - (a->id < b->id);
}

static int by_addr(const void *x, const void *y)
{
	const struct lb_backend_view *a = x, *b = y;

	if (a->be.family != b->be.family)
		return a->be.family < b->be.family ? -1 : 1;
	return memcmp(a->be.addr, b->be.addr, 16);
}

int lb_vip_digest(struct lb_dp *dp, __u32 vip_id, __u64 *out, char *msg,
		  size_t len)
{
	struct lb_backend_view *be = NULL, *sorted = NULL, key, *hit;
	struct lb_vip v;
	struct lb_ring_slot *slots = NULL;
	__u32 inner_id;
	__u64 h = FNV64_OFFSET;
	int fd = -1, n = 0, err;

	if (bpf_map_lookup_elem(dp->fd[LB_M_VIP_INFO], &vip_id, &v))
		return lb_msgf(msg, len, -errno, "cannot read VIP %u: %s", vip_id,
			       strerror(errno));
	if (bpf_map_lookup_elem(dp->fd[LB_M_RINGS], &vip_id, &inner_id))
		return lb_msgf(msg, len, -ENOENT, "VIP %u has no table", vip_id);
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return lb_msgf(msg, len, -errno, "cannot open VIP %u's table: %s",
			       vip_id, strerror(errno));
	slots = malloc(sizeof(*slots) * (v.ring_size ? v.ring_size : 1));
	err = slots ? lb_ring_read(fd, v.ring_size, slots) : -ENOMEM;
	close(fd);
	if (!err)
		err = lb_backend_list_alloc(dp, vip_id, &be, &n, msg, len);
	else
		lb_msgf(msg, len, err, "cannot read VIP %u's table: %s", vip_id,
			strerror(-err));
	if (err)
		goto out;
	sorted = malloc(sizeof(*sorted) * (n ? n : 1));
	if (!sorted) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(sorted, be, sizeof(*be) * n);
	qsort(be, n, sizeof(*be), by_id);
	qsort(sorted, n, sizeof(*sorted), by_addr);
	fnv_u32(&h, v.ring_size);
	for (__u32 i = 0; i < v.ring_size; i++) {
		/* owners only: previous owners depend on the tables a host
		 * has seen since it started, not on the decision */
		key.id = slots[i].backend_id;
		hit = key.id ? bsearch(&key, be, n, sizeof(*be), by_id) : NULL;
		if (hit) {
			fnv_addr(&h, &hit->be);
		} else {
			/* empty, or an id that is none of the VIP's (a table
			 * being repaired): a byte no family takes, then
			 * which of the two */
			__u8 none = 0;

			fnv(&h, &none, 1);
			fnv_u32(&h, key.id ? 0xffffffffu : 0);
		}
	}
	fnv_u32(&h, n);
	for (int i = 0; i < n; i++) {
		fnv_addr(&h, &sorted[i].be);
		fnv_u32(&h, sorted[i].be.weight);
		fnv(&h, &sorted[i].be.state, 1);
	}
	*out = h;
out:
	free(slots);
	free(be);
	free(sorted);
	return err;
}
