// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_announce_check.c - which routing tables and protocol numbers the VIP
 * routes may use, and the names of lb_announce's reasons: apart from
 * lb_announce.c so that the config parsers (and their fuzz target) check
 * values without linking netlink and the maps.
 */
#include <errno.h>
#include <linux/rtnetlink.h>

#include "lb_announce.h"
#include "lb_msg.h"

int lb_announce_check_table(__u32 table, char *msg, size_t len)
{
	const char *what = table == RT_TABLE_UNSPEC ? "unspecified" :
			   table == RT_TABLE_DEFAULT ? "the host's 'default' table" :
			   table == RT_TABLE_MAIN ? "the host's main table" :
			   table == RT_TABLE_LOCAL ? "the host's local table" : NULL;

	if (!what)
		return 0;
	return lb_msgf(msg, len, -EINVAL,
		       "routing table %u is %s; announcements need a table of "
		       "their own (default %u)", table, what,
		       LB_ANNOUNCE_TABLE_DEFAULT);
}

/* Protocol numbers of linux/rtnetlink.h: the kernel's own and those of
 * routing daemons, whose routes we must never take for ours. */
static const struct { __u8 n; const char *who; } taken_protos[] = {
	{ RTPROT_UNSPEC, "unspecified" }, { RTPROT_REDIRECT, "redirect" },
	{ RTPROT_KERNEL, "the kernel's" }, { RTPROT_BOOT, "boot (ip route's default)" },
	{ RTPROT_STATIC, "static" }, { 8, "gated" }, { 9, "ra" }, { 10, "mrt" },
	{ 11, "zebra (FRR)" }, { 12, "bird" }, { 13, "dnrouted" }, { 14, "xorp" },
	{ 15, "ntk" }, { 16, "dhcp" }, { 17, "mrouted" }, { 18, "keepalived" },
	{ 42, "babel" }, { 99, "openr" }, { 186, "bgp (FRR)" }, { 187, "isis (FRR)" },
	{ 188, "ospf (FRR)" }, { 189, "rip (FRR)" }, { 192, "eigrp (FRR)" },
};

int lb_announce_check_proto(__u32 proto, char *msg, size_t len)
{
	if (proto > 255)
		return lb_msgf(msg, len, -EINVAL,
			       "routing protocol %u is not from 0 to 255", proto);
	for (size_t i = 0; i < sizeof(taken_protos) / sizeof(taken_protos[0]); i++)
		if (taken_protos[i].n == proto)
			return lb_msgf(msg, len, -EINVAL,
				       "routing protocol %u is %s; announcements "
				       "need a number of their own (default %u)",
				       proto, taken_protos[i].who,
				       LB_ANNOUNCE_PROTO_DEFAULT);
	return 0;
}

const char *lb_announce_why_name(enum lb_announce_why w)
{
	switch (w) {
	case LB_ANN_OK: return "announced";
	case LB_ANN_NOT_ATTACHED: return "not attached";
	case LB_ANN_WITHDRAWN: return "withdrawn";
	case LB_ANN_NOT_READY: return "not ready";
	case LB_ANN_INACTIVE: return "inactive";
	case LB_ANN_NO_BACKENDS: return "no backends";
	case LB_ANN_NO_TAKER: return "no backend takes new flows";
	case LB_ANN_CONFLICT: return "conflict";
	}
	return "?";
}

