// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_neigh.c - next-hop MAC resolution for backends.
 *
 * The XDP program writes Ethernet headers itself, so for every backend it
 * needs the MAC of the next hop on the egress device. We ask the kernel what
 * its own stack would use: RTM_GETROUTE (like `ip route get`) gives the
 * output interface and the gateway (none when the backend is on-link), then
 * an RTM_GETNEIGH get request for that next hop on that interface gives the
 * MAC. All messages are built and parsed with libnl.
 *
 * When the entry is missing or unusable, an RTM_NEWNEIGH with NTF_USE (what
 * `ip neigh replace ... use` sends) makes the kernel create it if needed and
 * run its normal ARP/NDP state machine, exactly as if a packet were waiting.
 * We prefer this to sending a dummy UDP datagram: nothing but the ARP
 * request / neighbour solicitation goes on the wire (no datagram to the
 * backend or gateway, no ICMP port unreachable back), there is no port or
 * source address to choose, no SO_BINDTODEVICE, and IPv4, IPv6 and IPv6
 * link-local gateways take the same path. It needs CAP_NET_ADMIN, which a
 * process attaching XDP programs has anyway. We then poll the entry until it
 * holds a MAC, goes FAILED or the timeout expires.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <net/if.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include "lb_neigh.h"
#include "lb_ops.h"

/* States in which the kernel itself would transmit to the cached MAC. */
#define LB_NUD_VALID (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | \
		      NUD_PERMANENT)

struct lb_neigh_req {
	struct nl_sock *sk;
	int family;
	const void *addr;
	char addr_str[INET6_ADDRSTRLEN];
	char *msg;
	size_t msglen;
};

static void set_msg(struct lb_neigh_req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_msg(struct lb_neigh_req *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->msg || !r->msglen)
		return;
	va_start(ap, fmt);
	vsnprintf(r->msg, r->msglen, fmt, ap);
	va_end(ap);
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static const char *ifname(int ifindex, char buf[IF_NAMESIZE])
{
	if (!if_indextoname(ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "if%d", ifindex);
	return buf;
}

/* libnl reports its own error codes; callers of this file get errnos. */
static int nle_to_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_AGAIN:
		return -ETIMEDOUT;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

/* One request/answer exchange: the kernel's reply (if any) of type
 * reply_type, then its ACK or error. */
struct nl_answer {
	int reply_type;
	struct nl_msg *reply;	/* holds a reference */
	int err;		/* 0 or the kernel's negative errno */
	bool done;
};

static int answer_valid(struct nl_msg *msg, void *arg)
{
	struct nl_answer *a = arg;

	if (nlmsg_hdr(msg)->nlmsg_type == a->reply_type && !a->reply) {
		nlmsg_get(msg);
		a->reply = msg;
	}
	return NL_OK;
}

static int answer_ack(struct nl_msg *msg, void *arg)
{
	struct nl_answer *a = arg;

	(void)msg;
	a->done = true;
	return NL_STOP;
}

static int answer_err(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nl_answer *a = arg;

	(void)nla;
	/* Keep the kernel's errno: libnl would fold e.g. ENETUNREACH and
	 * EHOSTUNREACH into one generic code. */
	a->err = e->error;
	a->done = true;
	return NL_STOP;
}

/*
 * Sends msg (consumed) and waits for the kernel's answer. Returns 0 with
 * *reply set (caller frees it with nlmsg_free) or NULL if the kernel only
 * acknowledged, or a negative errno.
 */
static int nl_request(struct nl_sock *sk, struct nl_msg *msg, int reply_type,
		      struct nl_msg **reply)
{
	struct nl_answer a = { .reply_type = reply_type };
	struct nl_cb *cb;
	int err, i;

	*reply = NULL;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, answer_valid, &a);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, answer_ack, &a);
	nl_cb_err(cb, NL_CB_CUSTOM, answer_err, &a);

	/* nl_send_auto() sets NLM_F_ACK: the kernel answers with the reply
	 * (one message, get requests are not dumps) and then an ACK, or
	 * with an error only. A few rounds always suffice; the socket's
	 * receive timeout bounds each one. */
	err = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (err < 0)
		goto out;
	err = 0;
	for (i = 0; i < 8 && !a.done; i++) {
		err = nl_recvmsgs(sk, cb);
		if (err < 0 && !a.done)
			break;
	}
out:
	nl_cb_put(cb);
	if (a.done && a.err) {
		err = a.err;
	} else if (!a.done) {
		err = err < 0 ? nle_to_errno(err) : -EIO;
	} else {
		*reply = a.reply;
		return 0;
	}
	if (a.reply)
		nlmsg_free(a.reply);
	return err;
}

/* RTM_GETROUTE for one destination, like `ip route get ADDR [oif DEV]`:
 * the kernel returns the route it would use, with the nexthop selected.
 * *table (may be NULL) gets the table the route came from. */
static int route_get(struct lb_neigh_req *r, int oif, struct rtnl_route **route,
		     uint32_t *table)
{
	struct rtmsg rtm = {
		.rtm_family = r->family,
		.rtm_dst_len = addr_len(r->family) * 8,
		/* Report the table the route came from (IPv4 otherwise
		 * says "main" for every answer). */
		.rtm_flags = RTM_F_LOOKUP_TABLE,
	};
	struct nl_msg *msg, *reply;
	struct nlattr *tb_attr;
	struct nlmsghdr *nlh;
	int err;

	*route = NULL;
	msg = nlmsg_alloc_simple(RTM_GETROUTE, 0);
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, addr_len(r->family), r->addr) < 0 ||
	    (oif > 0 && nla_put_u32(msg, RTA_OIF, oif) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	err = nl_request(r->sk, msg, RTM_NEWROUTE, &reply);
	if (err)
		return err;
	if (!reply)
		return -EIO;
	/* Read from the message itself: libnl reports RT_TABLE_MAIN for a
	 * route from table 0 (RT_TABLE_UNSPEC). */
	nlh = nlmsg_hdr(reply);
	if (table) {
		*table = ((struct rtmsg *)nlmsg_data(nlh))->rtm_table;
		tb_attr = nlmsg_find_attr(nlh, sizeof(struct rtmsg), RTA_TABLE);
		if (tb_attr && nla_len(tb_attr) >= 4)
			*table = nla_get_u32(tb_attr);
	}
	err = rtnl_route_parse(nlh, route);
	nlmsg_free(reply);
	return err < 0 ? nle_to_errno(err) : 0;
}

struct neigh_seen {
	int state;		/* NUD_*, or -1: no entry */
	int lladdr_len;
	uint8_t mac[6];
};

static void neigh_fill(struct rtnl_neigh *n, struct neigh_seen *s)
{
	struct nl_addr *ll = rtnl_neigh_get_lladdr(n);

	s->state = rtnl_neigh_get_state(n);
	s->lladdr_len = ll ? (int)nl_addr_get_len(ll) : 0;
	if (s->lladdr_len == 6)
		memcpy(s->mac, nl_addr_get_binary_addr(ll), 6);
}

/* Kernels before 5.1 have no single-entry RTM_GETNEIGH: dump the table. */
static int neigh_get_dump(struct nl_sock *sk, int family, const void *gw,
			  int ifindex, struct neigh_seen *s)
{
	struct nl_cache *cache;
	struct rtnl_neigh *n;
	struct nl_addr *dst;
	int err;

	dst = nl_addr_build(family, gw, addr_len(family));
	if (!dst)
		return -ENOMEM;
	err = rtnl_neigh_alloc_cache(sk, &cache);
	if (err < 0) {
		nl_addr_put(dst);
		return nle_to_errno(err);
	}
	n = rtnl_neigh_get(cache, ifindex, dst);
	if (n) {
		neigh_fill(n, s);
		rtnl_neigh_put(n);
	}
	nl_cache_free(cache);
	nl_addr_put(dst);
	return 0;
}

/* Reads the neighbour entry for gw on ifindex (s->state -1 if absent). */
static int neigh_get(struct nl_sock *sk, int family, const void *gw,
		     int ifindex, struct neigh_seen *s)
{
	struct ndmsg ndm = { .ndm_family = family, .ndm_ifindex = ifindex };
	struct nl_msg *msg, *reply;
	struct rtnl_neigh *n;
	int err;

	memset(s, 0, sizeof(*s));
	s->state = -1;
	msg = nlmsg_alloc_simple(RTM_GETNEIGH, 0);
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &ndm, sizeof(ndm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, NDA_DST, addr_len(family), gw) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	err = nl_request(sk, msg, RTM_NEWNEIGH, &reply);
	if (err == -ENOENT)
		return 0;
	if (err == -EOPNOTSUPP)
		return neigh_get_dump(sk, family, gw, ifindex, s);
	if (err)
		return err;
	if (!reply)
		return -EIO;
	err = rtnl_neigh_parse(nlmsg_hdr(reply), &n);
	nlmsg_free(reply);
	if (err < 0)
		return nle_to_errno(err);
	neigh_fill(n, s);
	rtnl_neigh_put(n);
	return 0;
}

/* Asks the kernel to resolve gw on ifindex now (see the file header). The
 * state we send is ignored with NTF_USE; no lladdr, so nothing is forced. */
static int neigh_trigger(struct nl_sock *sk, int family, const void *gw,
			 int ifindex)
{
	struct ndmsg ndm = {
		.ndm_family = family,
		.ndm_ifindex = ifindex,
		.ndm_state = NUD_NONE,
		.ndm_flags = NTF_USE,
	};
	struct nl_msg *msg, *reply;
	int err;

	msg = nlmsg_alloc_simple(RTM_NEWNEIGH, NLM_F_CREATE);
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &ndm, sizeof(ndm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, NDA_DST, addr_len(family), gw) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	err = nl_request(sk, msg, 0, &reply);
	if (reply)
		nlmsg_free(reply);
	return err;
}

/* The lookup restricted to oif found nothing usable: say where the
 * destination is routed instead, if anywhere. */
static int explain_oif(struct lb_neigh_req *r, int oif)
{
	struct rtnl_route *route;
	struct rtnl_nexthop *nh;
	char want[IF_NAMESIZE], got[IF_NAMESIZE];
	int ifindex = 0;

	if (route_get(r, 0, &route, NULL) == 0) {
		nh = rtnl_route_nexthop_n(route, 0);
		if (rtnl_route_get_type(route) == RTN_UNICAST && nh)
			ifindex = rtnl_route_nh_get_ifindex(nh);
		rtnl_route_put(route);
	}
	if (ifindex > 0 && ifindex != oif)
		set_msg(r, "%s is routed via %s, not via %s", r->addr_str,
			ifname(ifindex, got), ifname(oif, want));
	else
		set_msg(r, "no route to %s via %s", r->addr_str,
			ifname(oif, want));
	return -ENETUNREACH;
}

/* Fills out->ifindex, out->gw and out->gw_family from the route. */
static int route_nexthop(struct lb_neigh_req *r, int oif,
			 struct lb_nexthop_info *out)
{
	struct rtnl_route *route;
	struct rtnl_nexthop *nh;
	struct nl_addr *gw;
	char dev[IF_NAMESIZE];
	uint32_t table;
	int err, type;

	err = route_get(r, oif, &route, &table);
	if (err == -ENETUNREACH || err == -EHOSTUNREACH) {
		/* EHOSTUNREACH here is an "unreachable" route, not a
		 * neighbour failure: report both as no route. */
		if (oif > 0)
			return explain_oif(r, oif);
		set_msg(r, "no route to %s", r->addr_str);
		return -ENETUNREACH;
	}
	if (err) {
		set_msg(r, "route lookup for %s failed: %s", r->addr_str,
			strerror(-err));
		return err;
	}

	type = rtnl_route_get_type(route);
	nh = rtnl_route_nexthop_n(route, 0);
	err = 0;
	if (type == RTN_LOCAL) {
		set_msg(r, "%s is a local address", r->addr_str);
		err = -EINVAL;
	} else if (type == RTN_BROADCAST || type == RTN_MULTICAST ||
		   type == RTN_ANYCAST) {
		set_msg(r, "%s is a broadcast, multicast or anycast address",
			r->addr_str);
		err = -EINVAL;
	} else if (type != RTN_UNICAST || !nh) {
		set_msg(r, "no unicast route to %s", r->addr_str);
		err = -ENETUNREACH;
	} else if (oif > 0 && (rtnl_route_nh_get_ifindex(nh) != oif ||
			       table == RT_TABLE_UNSPEC)) {
		/* With an oif and no matching route, IPv4 "assumes the
		 * destination is on link" and answers with a route from no
		 * table: that is not a route the administrator configured. */
		err = explain_oif(r, oif);
	}
	if (err)
		goto out;

	out->ifindex = rtnl_route_nh_get_ifindex(nh);
	gw = rtnl_route_nh_get_gateway(nh);
	if (!gw)
		gw = rtnl_route_nh_get_via(nh);	/* IPv4 via IPv6 */
	if (gw) {
		out->gw_family = nl_addr_get_family(gw);
		if ((out->gw_family != AF_INET && out->gw_family != AF_INET6) ||
		    nl_addr_get_len(gw) != addr_len(out->gw_family)) {
			set_msg(r, "%s via %s: unsupported gateway address",
				r->addr_str, ifname(out->ifindex, dev));
			err = -EINVAL;
			goto out;
		}
		memcpy(out->gw, nl_addr_get_binary_addr(gw),
		       addr_len(out->gw_family));
	} else {
		out->gw_family = r->family;
		memcpy(out->gw, r->addr, addr_len(r->family));
	}
out:
	rtnl_route_put(route);
	return err;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* "ADDR via DEV" or "ADDR via gateway GW on DEV", for messages. */
static void where_of(const struct lb_neigh_req *r,
		     const struct lb_nexthop_info *out, char *where, size_t len)
{
	char gw_str[INET6_ADDRSTRLEN], dev[IF_NAMESIZE];

	ifname(out->ifindex, dev);
	inet_ntop(out->gw_family, out->gw, gw_str, sizeof(gw_str));
	if (memcmp(out->gw, r->addr, addr_len(r->family)) ||
	    out->gw_family != r->family)
		snprintf(where, len, "%s via gateway %s on %s", r->addr_str,
			 gw_str, dev);
	else
		snprintf(where, len, "%s via %s", r->addr_str, dev);
}

#define WHERE_LEN (2 * INET6_ADDRSTRLEN + IF_NAMESIZE + 32)

static const char *reply_name(int family)
{
	return family == AF_INET ? "ARP reply" : "neighbour advertisement";
}

/* Polls (and if needed triggers) the neighbour entry of out->gw. */
static int neigh_resolve(struct lb_neigh_req *r, int timeout_ms,
			 struct lb_nexthop_info *out)
{
	const char *proto = reply_name(out->gw_family);
	char where[WHERE_LEN], dev[IF_NAMESIZE];
	__u64 deadline = lb_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	bool triggered = false;
	struct neigh_seen s;
	int err, i, wait = 1;

	ifname(out->ifindex, dev);
	where_of(r, out, where, sizeof(where));

	/* Bounded both by the deadline and by a count, in case the clock
	 * misbehaves: the waits sum to at least timeout_ms before the count
	 * runs out. */
	for (i = 0; i <= timeout_ms + 2; i++) {
		err = neigh_get(r->sk, out->gw_family, out->gw, out->ifindex,
				&s);
		if (err) {
			set_msg(r, "%s: neighbour lookup failed: %s", where,
				strerror(-err));
			return err;
		}
		if (s.state >= 0 && (s.state & LB_NUD_VALID)) {
			if (s.lladdr_len != 6) {
				set_msg(r, "%s: %s has no Ethernet address",
					where, dev);
				return -EINVAL;
			}
			memcpy(out->mac, s.mac, 6);
			return 0;
		}
		if (s.state >= 0 && (s.state & NUD_NOARP)) {
			/* The kernel puts the device's own address in
			 * NOARP entries: useless as a destination MAC. */
			set_msg(r, "%s: %s does not use ARP/NDP (NOARP)",
				where, dev);
			return -EINVAL;
		}
		/* FAILED after our trigger means the kernel gave up (the
		 * trigger itself moves an old FAILED entry to INCOMPLETE). */
		if (triggered && s.state >= 0 && (s.state & NUD_FAILED)) {
			set_msg(r, "%s: no %s (neighbour FAILED)", where,
				proto);
			return -EHOSTUNREACH;
		}
		/* Only trigger for entries without a usable MAC: NTF_USE
		 * would also demote a PERMANENT entry. INCOMPLETE entries
		 * are already being resolved by the kernel. */
		if (!triggered && !(s.state >= 0 &&
				    (s.state & NUD_INCOMPLETE))) {
			err = neigh_trigger(r->sk, out->gw_family, out->gw,
					    out->ifindex);
			if (err) {
				set_msg(r, "%s: cannot start %s resolution: %s",
					where, out->gw_family == AF_INET ?
					"ARP" : "NDP", strerror(-err));
				return err;
			}
			triggered = true;
			continue;
		}
		triggered = true;
		if (lb_mono_ms() >= deadline)
			break;
		sleep_ms(wait);
		if (wait < 32)
			wait *= 2;
	}
	set_msg(r, "%s: no %s within %d ms", where, proto, timeout_ms);
	return -EHOSTUNREACH;
}

/* An rtnetlink socket for requests (the caller frees it). */
static int sock_open(struct nl_sock **out, struct lb_neigh_req *r)
{
	struct timeval tv = { .tv_sec = 2 };
	struct nl_sock *sk;
	int err;

	*out = NULL;
	sk = nl_socket_alloc();
	if (!sk) {
		set_msg(r, "out of memory");
		return -ENOMEM;
	}
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		err = nle_to_errno(err);
		set_msg(r, "cannot open rtnetlink socket: %s", strerror(-err));
		nl_socket_free(sk);
		return err;
	}
	/* The kernel answers requests at once; this only bounds the wait
	 * if something is badly wrong. */
	setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	*out = sk;
	return 0;
}

int lb_nexthop_resolve(int family, const void *addr, int oif, int timeout_ms,
		       struct lb_nexthop_info *out, char *err_msg,
		       size_t errlen)
{
	struct lb_neigh_req r = {
		.family = family,
		.addr = addr,
		.msg = err_msg,
		.msglen = errlen,
	};
	int err;

	if (err_msg && errlen)
		err_msg[0] = '\0';
	if ((family != AF_INET && family != AF_INET6) || !addr || !out ||
	    timeout_ms < 0 || oif < 0) {
		set_msg(&r, "invalid arguments");
		return -EINVAL;
	}
	inet_ntop(family, addr, r.addr_str, sizeof(r.addr_str));
	memset(out, 0, sizeof(*out));

	err = sock_open(&r.sk, &r);
	if (err)
		return err;
	err = route_nexthop(&r, oif, out);
	if (!err)
		err = neigh_resolve(&r, timeout_ms, out);
	nl_socket_free(r.sk);
	if (err)
		memset(out, 0, sizeof(*out));
	return err;
}

/* ---- many lookups, none waiting (lb_nexthop_sync.c) ------------------ */

struct lb_neigh {
	struct nl_sock *sk;
};

int lb_neigh_open(struct lb_neigh **out, char *err_msg, size_t errlen)
{
	struct lb_neigh_req r = { .msg = err_msg, .msglen = errlen };
	struct lb_neigh *nl;
	int err;

	*out = NULL;
	nl = calloc(1, sizeof(*nl));
	if (!nl) {
		set_msg(&r, "out of memory");
		return -ENOMEM;
	}
	err = sock_open(&nl->sk, &r);
	if (err) {
		free(nl);
		return err;
	}
	*out = nl;
	return 0;
}

void lb_neigh_close(struct lb_neigh *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk);
	free(nl);
}

/* One look at the neighbour entry of out->gw; see lb_neigh_lookup. */
static int neigh_look(struct lb_neigh_req *r, unsigned int flags,
		      struct lb_nexthop_info *out)
{
	char where[WHERE_LEN], dev[IF_NAMESIZE];
	struct neigh_seen s;
	int err;

	ifname(out->ifindex, dev);
	where_of(r, out, where, sizeof(where));
	err = neigh_get(r->sk, out->gw_family, out->gw, out->ifindex, &s);
	if (err) {
		set_msg(r, "%s: neighbour lookup failed: %s", where,
			strerror(-err));
		return err;
	}
	if (s.state >= 0 && (s.state & LB_NUD_VALID)) {
		if (s.lladdr_len != 6) {
			set_msg(r, "%s: %s has no Ethernet address", where, dev);
			return -EINVAL;
		}
		memcpy(out->mac, s.mac, 6);
		/* XDP traffic never confirms an entry, so a STALE one stays
		 * STALE (and wrong, once the neighbour's MAC changed without
		 * a gratuitous ARP) until someone asks: NTF_USE makes the
		 * kernel probe it (DELAY, PROBE), as for a waiting packet.
		 * The MAC we have is still the best there is meanwhile. */
		if ((flags & LB_NEIGH_NUDGE) && (s.state & NUD_STALE))
			neigh_trigger(r->sk, out->gw_family, out->gw,
				      out->ifindex);
		return 0;
	}
	if (s.state >= 0 && (s.state & NUD_NOARP)) {
		set_msg(r, "%s: %s does not use ARP/NDP (NOARP)", where, dev);
		return -EINVAL;
	}
	if (s.state >= 0 && (s.state & NUD_INCOMPLETE)) {
		set_msg(r, "%s: no %s yet", where, reply_name(out->gw_family));
		return -EINPROGRESS;
	}
	if (!(flags & LB_NEIGH_TRIGGER)) {
		set_msg(r, "%s: no %s (neighbour %s)", where,
			reply_name(out->gw_family),
			s.state >= 0 && (s.state & NUD_FAILED) ? "FAILED" :
								 "missing");
		return -EHOSTUNREACH;
	}
	/* missing, NONE or FAILED: start over (as neigh_resolve does) */
	err = neigh_trigger(r->sk, out->gw_family, out->gw, out->ifindex);
	if (err) {
		set_msg(r, "%s: cannot start %s resolution: %s", where,
			out->gw_family == AF_INET ? "ARP" : "NDP",
			strerror(-err));
		return err;
	}
	set_msg(r, "%s: no %s yet", where, reply_name(out->gw_family));
	return -EINPROGRESS;
}

int lb_neigh_lookup(struct lb_neigh *nl, int family, const void *addr, int oif,
		    unsigned int flags, struct lb_nexthop_info *out,
		    char *err_msg, size_t errlen)
{
	struct lb_neigh_req r = {
		.sk = nl ? nl->sk : NULL,
		.family = family,
		.addr = addr,
		.msg = err_msg,
		.msglen = errlen,
	};
	int err;

	if (err_msg && errlen)
		err_msg[0] = '\0';
	if (!nl || (family != AF_INET && family != AF_INET6) || !addr ||
	    !out || oif < 0) {
		set_msg(&r, "invalid arguments");
		return -EINVAL;
	}
	inet_ntop(family, addr, r.addr_str, sizeof(r.addr_str));
	memset(out, 0, sizeof(*out));
	err = route_nexthop(&r, oif, out);
	if (err) {
		memset(out, 0, sizeof(*out));
		return err;
	}
	return neigh_look(&r, flags, out);
}
