// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* lb_names.c - see lb_names.h. */
#include <errno.h>
#include <string.h>

#include "inferlb.h"
#include "lb_names.h"

static const char *const states[] = {
	[LB_BE_HEALTHY] = "healthy", [LB_BE_STARTING] = "starting",
	[LB_BE_DRAINING] = "draining", [LB_BE_OPEN] = "open",
	[LB_BE_HALF_OPEN] = "half-open", [LB_BE_DOWN] = "down",
};
static const char *const policies[] = {
	[LB_POL_MAGLEV] = "maglev", [LB_POL_SOURCE] = "source",
	[LB_POL_BOUNDED] = "bounded", [LB_POL_P2C] = "p2c",
	[LB_POL_WRR] = "wrr", [LB_POL_RR] = "rr", [LB_POL_RANDOM] = "random",
	[LB_POL_LEAST_CONN] = "least-conn",
	[LB_POL_EXPECTED_WAIT] = "expected-wait",
};
static const char *const refusals[] = {
	[LB_REFUSE_RESET] = "reset", [LB_REFUSE_DROP] = "drop",
};
static const char *const overrides[] = {
	[0] = "", [LB_BACKEND_F_OVR_WEIGHT] = "weight",
	[LB_BACKEND_F_OVR_STATE] = "state", [LB_BACKEND_F_OVR] = "weight+state",
};
static const char *const modes[] = {
	[LB_FWD_IPIP] = "ipip", [LB_FWD_L2DSR] = "l2dsr",
};
static const char *const origins[] = {
	[LB_ORIGIN_STATIC] = "static", [LB_ORIGIN_DNS] = "dns",
	[LB_ORIGIN_ETCD] = "etcd",
};

#define N(t) (sizeof(t) / sizeof((t)[0]))

static const char *name_of(const char *const *t, size_t n, __u8 v)
{
	return v < n && t[v] ? t[v] : "unknown";
}

static int parse_in(const char *const *t, size_t n, const char *s, __u8 *out)
{
	for (size_t i = 0; s && i < n; i++)
		if (t[i] && !strcmp(s, t[i])) {
			*out = (__u8)i;
			return 0;
		}
	return -EINVAL;
}

const char *lb_state_name(__u8 v) { return name_of(states, N(states), v); }
int lb_state_parse(const char *s, __u8 *o) { return parse_in(states, N(states), s, o); }
const char *lb_policy_name(__u8 v) { return name_of(policies, N(policies), v); }
int lb_policy_parse(const char *s, __u8 *o) { return parse_in(policies, N(policies), s, o); }
const char *lb_refuse_name(__u8 v) { return name_of(refusals, N(refusals), v); }
int lb_refuse_parse(const char *s, __u8 *o) { return parse_in(refusals, N(refusals), s, o); }
const char *lb_override_name(__u8 v) { return name_of(overrides, N(overrides), v & LB_BACKEND_F_OVR); }
const char *lb_mode_name(__u8 v) { return name_of(modes, N(modes), v); }
int lb_mode_parse(const char *s, __u8 *o) { return parse_in(modes, N(modes), s, o); }
const char *lb_origin_name(__u8 v) { return name_of(origins, N(origins), v); }
