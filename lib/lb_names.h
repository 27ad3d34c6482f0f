/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_names.h - the names operators type and read for the datapath's enums
 * (lbctl arguments and output, the config file, the agent's /metrics):
 * one table each, so every tool spells them the same way.
 */
#ifndef LB_NAMES_H
#define LB_NAMES_H

#include <linux/types.h>

/* enum lb_be_state: healthy, starting, draining, open, half-open, down */
const char *lb_state_name(__u8 state);
int lb_state_parse(const char *s, __u8 *out);
/* enum lb_policy: maglev, source, bounded, p2c, wrr, rr, random, least-conn */
const char *lb_policy_name(__u8 policy);
int lb_policy_parse(const char *s, __u8 *out);
/* enum lb_refuse: reset, drop */
const char *lb_refuse_name(__u8 refuse);
int lb_refuse_parse(const char *s, __u8 *out);
/* LB_BACKEND_F_OVR_* of a backend: weight, state, weight+state ("" for 0) */
const char *lb_override_name(__u8 override);
/* enum lb_fwd_mode: ipip, l2dsr */
const char *lb_mode_name(__u8 mode);
int lb_mode_parse(const char *s, __u8 *out);
/* enum lb_origin: static, dns, etcd */
const char *lb_origin_name(__u8 origin);

#endif /* LB_NAMES_H */
