// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_stats.c - the datapath's counters in one snapshot; see lb_stats.h.
 *
 * The per-CPU maps are summed here; the lists of VIPs and backends come
 * from lb_ops (the same as `lbctl show`), so a VIP or backend is counted
 * exactly when it is active.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "inferlb.h"
#include "lb_ops.h"
#include "lb_stats.h"

/* Every field, in the struct's order (the size checks below catch a new
 * field that was not listed). */
const struct lb_reason lb_global_reasons[LB_GLOBAL_REASONS] = {
#define R(f) { #f, offsetof(struct lb_global_stats, f), false, false }
	R(pass_not_ip), R(pass_not_vip), R(pass_malformed),
	R(drop_ip_options), R(drop_fragment), R(drop_ipv6_ext),
	R(drop_malformed_l4), R(drop_no_backend), R(drop_bad_backend),
	R(drop_no_nexthop), R(drop_too_big_no_df), R(drop_xdp_adjust),
	R(drop_bad_mode), R(icmp_too_big_v4), R(icmp_too_big_v6),
	R(flow_insert_fail), R(pass_l2_multicast), R(icmp_err_to_backend),
	R(drop_icmp_err_too_big), R(flow_resteer_down), R(syn_replaced),
	R(syn_promoted), R(flow_chained),
#undef R
};
_Static_assert(sizeof(lb_global_reasons) / sizeof(lb_global_reasons[0]) ==
		       23, "list every field of struct lb_global_stats");

const struct lb_reason lb_refusal_fields[LB_REFUSAL_FIELDS] = {
#define R(f, outcome, be_only) { #f, offsetof(struct lb_refusals, f), outcome, be_only }
	R(vip_rate, false, false), R(backend_rate, false, false),
	R(client_rate, false, false), R(no_backend, false, false),
	R(state, false, true), R(reset_sent, true, false),
	R(dropped, true, false), R(fail_open, true, false),
	R(ttft_target, false, false),
#undef R
};
_Static_assert(sizeof(lb_refusal_fields) / sizeof(lb_refusal_fields[0]) ==
		       9, "list every field of struct lb_refusals");

int lb_percpu_sum(int map_fd, __u32 key, void *out, size_t size)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t stride = (size + 7) & ~(size_t)7;
	__u64 *sum = out;
	__u8 *vals;

	memset(out, 0, size);
	if (ncpu <= 0)
		return -EINVAL;
	vals = calloc(ncpu, stride);
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd, &key, vals)) {
		int err = -errno;

		free(vals);
		return err;
	}
	for (int c = 0; c < ncpu; c++)
		for (size_t i = 0; i < size / 8; i++) {
			__u64 v;

			memcpy(&v, vals + c * stride + i * 8, 8);
			sum[i] += v;
		}
	free(vals);
	return 0;
}

/* Open flows of backend id: from the mapped array when the caller mapped
 * it (the agent: no syscall), else one lookup. */
static int open_flows(struct lb_dp *dp, __u32 id, __u64 *open)
{
	struct lb_be_load ld;

	if (dp->load)
		ld.open = __atomic_load_n(&dp->load[id].open, __ATOMIC_RELAXED);
	else if (bpf_map_lookup_elem(dp->fd[LB_M_BE_LOAD], &id, &ld))
		return -errno;
	*open = lb_load_open(&ld);
	return 0;
}

/* Appends the active backends of VIP v (index vi) and their counters. */
static int read_backends(struct lb_dp *dp, struct lb_stats *s, size_t vi,
			 __u64 now_ns)
{
	struct lb_stats_vip *v = &s->vip[vi];
	struct lb_backend_view *views;
	int n, err = lb_backend_list_alloc(dp, v->id, &views, &n, NULL, 0);

	if (err)
		return err;
	v->first = s->n_be;
	v->n_be = (size_t)n;
	for (int i = 0; !err && i < n; i++) {
		struct lb_stats_backend *b;

		if (s->n_be >= LB_MAX_BACKENDS || views[i].id >= LB_MAX_BACKENDS) {
			err = -EOVERFLOW;
			break;
		}
		b = &s->be[s->n_be];
		b->id = views[i].id;
		b->vip_id = v->id;
		memcpy(b->addr, views[i].be.addr, sizeof(b->addr));
		b->family = views[i].be.family;
		b->override = lb_backend_override(&views[i].be, now_ns);
		err = lb_percpu_sum(dp->fd[LB_M_BE_STATS], b->id, &b->c, sizeof(b->c));
		if (!err)
			err = lb_percpu_sum(dp->fd[LB_M_BE_REFUSED], b->id, &b->refused,
					    sizeof(b->refused));
		if (!err)
			err = open_flows(dp, b->id, &b->open_flows);
		if (!err)
			s->be_index[b->id] = (__u32)++s->n_be;
	}
	free(views);
	return err;
}

static int read_all(struct lb_dp *dp, struct lb_stats *s,
		    struct lb_vip_view *vv)
{
	int nv = lb_vip_list(dp, vv, LB_MAX_VIPS);
	__u64 now_ns = lb_boottime_ns();
	int err;

	if (nv < 0)
		return nv;
	for (int i = 0; i < nv; i++) {
		struct lb_stats_vip *v = &s->vip[i];

		if (vv[i].id >= LB_MAX_VIPS)
			return -EOVERFLOW;
		v->id = vv[i].id;
		v->key = vv[i].info.key;
		err = lb_percpu_sum(dp->fd[LB_M_VIP_STATS], v->id, &v->c, sizeof(v->c));
		if (!err)
			err = lb_percpu_sum(dp->fd[LB_M_VIP_REFUSED], v->id, &v->refused,
					    sizeof(v->refused));
		if (!err)
			err = read_backends(dp, s, i, now_ns);
		if (err)
			return err;
		s->n_vips++;
		s->vip_index[v->id] = (__u32)s->n_vips;
	}
	return lb_percpu_sum(dp->fd[LB_M_GLOBAL_STATS], 0, &s->global,
			     sizeof(s->global));
}

int lb_stats_read(struct lb_dp *dp, struct lb_stats *s)
{
	struct lb_vip_view *vv = calloc(LB_MAX_VIPS, sizeof(*vv));
	int err = -ENOMEM;

	memset(s, 0, sizeof(*s));
	s->vip = calloc(LB_MAX_VIPS, sizeof(*s->vip));
	s->be = calloc(LB_MAX_BACKENDS, sizeof(*s->be));
	s->vip_index = calloc(LB_MAX_VIPS, sizeof(*s->vip_index));
	s->be_index = calloc(LB_MAX_BACKENDS, sizeof(*s->be_index));
	if (vv && s->vip && s->be && s->vip_index && s->be_index)
		err = read_all(dp, s, vv);
	free(vv);
	if (err)
		lb_stats_free(s);
	return err;
}

void lb_stats_free(struct lb_stats *s)
{
	free(s->vip);
	free(s->be);
	free(s->vip_index);
	free(s->be_index);
	memset(s, 0, sizeof(*s));
}

const struct lb_stats_vip *lb_stats_vip(const struct lb_stats *s, __u32 id)
{
	if (!s->vip_index || id >= LB_MAX_VIPS || !s->vip_index[id])
		return NULL;
	return &s->vip[s->vip_index[id] - 1];
}

const struct lb_stats_backend *lb_stats_backend(const struct lb_stats *s,
						__u32 id)
{
	if (!s->be_index || id >= LB_MAX_BACKENDS || !s->be_index[id])
		return NULL;
	return &s->be[s->be_index[id] - 1];
}
