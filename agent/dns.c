// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dns.c - one DNS lookup of a discovery source with c-ares (dns.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/poll.h>	/* <poll.h> is agent/poll.h here */
#include <ares.h>

#include "inferlb.h"
#include "dns.h"

/* SRV targets one lookup follows (each costs an A and an AAAA query). */
#define LB_DNS_MAX_TARGETS LB_DISC_MAX_WORKERS

struct lookup {
	ares_channel ch;
	struct lb_dns_answer *out;
	int pending;		/* queries sent, callbacks not yet run */
	bool failed;		/* first failure wins: out->err */
	bool any_record;	/* some record (SRV, A, AAAA) was there */
};

/* A query's callback context: the lookup and, for an SRV target's
 * address, the port its SRV record gave. */
struct pending_q {
	struct lookup *lk;
	uint16_t port;
	int type;		/* ns_t_a, ns_t_aaaa, ns_t_srv */
	char name[NS_MAXDNAME];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first failure of the lookup: "NAME: [WHAT: ]c-ares's reason". */
static void fail(struct lookup *lk, const char *name, const char *what, int status)
{
	if (lk->failed)
		return;
	lk->failed = true;
	snprintf(lk->out->err, sizeof(lk->out->err), "%.120s: %s%s%s", name,
		 what ? what : "", what ? ": " : "", ares_strerror(status));
}

static void take_ttl(struct lookup *lk, uint32_t ttl)
{
	if (!lk->any_record || ttl < lk->out->ttl_s)
		lk->out->ttl_s = ttl;
	lk->any_record = true;
}

/* The smallest TTL of the answer section's records of type (glibc's
 * parser: c-ares 1.18.1's SRV parser drops TTLs). -1: malformed. */
static long answer_ttl(const unsigned char *abuf, int alen, int type)
{
	long ttl = -1;
	ns_msg msg;
	ns_rr rr;

	if (ns_initparse(abuf, alen, &msg) < 0)
		return -1;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return -1;
		if ((int)ns_rr_type(rr) == type &&
		    (ttl < 0 || ns_rr_ttl(rr) < (unsigned long)ttl))
			ttl = ns_rr_ttl(rr);
	}
	return ttl;
}

static void add_worker(struct lookup *lk, int family, const void *addr,
		       uint16_t port)
{
	struct lb_dns_answer *o = lk->out;
	struct lb_disc_worker w = { .family = family == AF_INET ? LB_AF_INET : LB_AF_INET6,
				    .port = port };

	memcpy(w.addr, addr, family == AF_INET ? 4 : 16);
	for (size_t i = 0; i < o->n; i++)
		if (o->w[i].family == w.family && !memcmp(o->w[i].addr, w.addr, 16))
			return;	/* two SRV targets, one address */
	if (o->n == LB_DISC_MAX_WORKERS) {
		o->dropped++;
		return;
	}
	o->w[o->n++] = w;
}

/* NXDOMAIN and NODATA are answers (no records), anything else is not. */
static bool no_records(int status)
{
	return status == ARES_ENOTFOUND || status == ARES_ENODATA;
}

/* A query's callback came: is there an answer to read? NXDOMAIN and
 * NODATA are answers without records (no), anything else but success
 * fails the lookup (no). */
static bool answered(struct pending_q *q, int status)
{
	q->lk->pending--;
	if (status == ARES_SUCCESS)
		return true;
	if (!no_records(status))
		fail(q->lk, q->name, NULL, status);
	return false;
}

static void addr_cb(void *arg, int status, int timeouts, unsigned char *abuf,
		    int alen)
{
	struct pending_q *q = arg;
	struct lookup *lk = q->lk;
	int n = LB_DISC_MAX_WORKERS, rc;

	(void)timeouts;
	if (!answered(q, status))
		goto out;
	if (q->type == ns_t_a) {
		struct ares_addrttl t[LB_DISC_MAX_WORKERS];

		rc = ares_parse_a_reply(abuf, alen, NULL, t, &n);
		for (int i = 0; rc == ARES_SUCCESS && i < n; i++) {
			add_worker(lk, AF_INET, &t[i].ipaddr, q->port);
			take_ttl(lk, t[i].ttl > 0 ? (uint32_t)t[i].ttl : 0);
		}
	} else {
		struct ares_addr6ttl t[LB_DISC_MAX_WORKERS];

		rc = ares_parse_aaaa_reply(abuf, alen, NULL, t, &n);
		for (int i = 0; rc == ARES_SUCCESS && i < n; i++) {
			add_worker(lk, AF_INET6, &t[i].ip6addr, q->port);
			take_ttl(lk, t[i].ttl > 0 ? (uint32_t)t[i].ttl : 0);
		}
	}
	if (rc != ARES_SUCCESS && !no_records(rc))
		fail(lk, q->name, "a malformed answer", rc);
out:
	free(q);
}

static void query(struct lookup *lk, const char *name, int type, uint16_t port,
		  ares_callback cb)
{
	struct pending_q *q = calloc(1, sizeof(*q));

	if (!q) {
		fail(lk, name, NULL, ARES_ENOMEM);
		return;
	}
	q->lk = lk;
	q->port = port;
	q->type = type;
	snprintf(q->name, sizeof(q->name), "%s", name);
	lk->pending++;
	/* may call cb at once (an error found before sending) */
	ares_query(lk->ch, name, ns_c_in, type, cb, q);
}

static void srv_cb(void *arg, int status, int timeouts, unsigned char *abuf,
		   int alen)
{
	struct pending_q *q = arg;
	struct lookup *lk = q->lk;
	struct ares_srv_reply *srv = NULL;
	size_t targets = 0;
	long ttl;
	int rc;

	(void)timeouts;
	if (!answered(q, status))
		goto out;
	rc = ares_parse_srv_reply(abuf, alen, &srv);
	ttl = answer_ttl(abuf, alen, ns_t_srv);
	if (rc == ARES_ENODATA)
		goto out;
	if (rc != ARES_SUCCESS || ttl < 0) {
		fail(lk, q->name, "a malformed answer",
		     rc != ARES_SUCCESS ? rc : ARES_EBADRESP);
		goto out;
	}
	take_ttl(lk, (uint32_t)ttl);
	for (struct ares_srv_reply *r = srv; r && !lk->failed; r = r->next) {
		/* "." as target: the service is decidedly not there (RFC 2782) */
		if (!r->host[0] || !strcmp(r->host, "."))
			continue;
		if (++targets > LB_DNS_MAX_TARGETS) {
			lk->out->dropped++;
			continue;
		}
		query(lk, r->host, ns_t_a, r->port, addr_cb);
		query(lk, r->host, ns_t_aaaa, r->port, addr_cb);
	}
out:
	if (srv)
		ares_free_data(srv);
	free(q);
}

int lb_dns_global_init(char *msg, size_t len)
{
	int rc = ares_library_init(ARES_LIB_INIT_ALL);

	if (rc != ARES_SUCCESS) {
		snprintf(msg, len, "c-ares: %s", ares_strerror(rc));
		return -1;
	}
	return 0;
}

void lb_dns_global_fini(void)
{
	ares_library_cleanup();
}

/* Runs the channel until every query answered or the deadline. */
static void run(struct lookup *lk, uint64_t deadline)
{
	while (lk->pending > 0) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd p[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *tvp;
		int bits = ares_getsock(lk->ch, socks, ARES_GETSOCK_MAXNUM), n = 0;
		uint64_t now = mono_ms();
		int tmo, r;

		if (now >= deadline) {
			fail(lk, "the lookup", NULL, ARES_ETIMEOUT);
			ares_cancel(lk->ch);	/* runs the callbacks */
			return;
		}
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = (ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) |
				   (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0);

			if (ev)
				p[n++] = (struct pollfd){ .fd = socks[i], .events = ev };
		}
		tmo = (int)(deadline - now);
		tvp = ares_timeout(lk->ch, NULL, &tv);
		if (tvp && tvp->tv_sec * 1000 + tvp->tv_usec / 1000 < tmo)
			tmo = (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000);
		r = poll(p, n, tmo);
		if (r < 0 && errno != EINTR) {
			snprintf(lk->out->err, sizeof(lk->out->err), "poll: %s",
				 strerror(errno));
			lk->failed = true;
			ares_cancel(lk->ch);
			return;
		}
		if (r <= 0) {
			ares_process_fd(lk->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (int i = 0; i < n; i++)
			if (p[i].revents)
				ares_process_fd(lk->ch,
						p[i].revents & (POLLIN | POLLERR | POLLHUP) ?
							p[i].fd : ARES_SOCKET_BAD,
						p[i].revents & POLLOUT ? p[i].fd : ARES_SOCKET_BAD);
	}
}

void lb_dns_resolve(const char *name, enum lb_dns_type type, uint16_t port,
		    const char *servers, uint32_t timeout_ms,
		    struct lb_dns_answer *out)
{
	struct ares_options o = {
		/* per try; c-ares doubles it at each retry */
		.timeout = timeout_ms / 3 ? (int)(timeout_ms / 3) : 1,
		.tries = 2,
		/* EDNS: answers beyond 512 bytes (Consul gives 3 SRV records
		 * without it); SERVFAIL reported as such, not retried away */
		.flags = ARES_FLAG_EDNS | ARES_FLAG_NOCHECKRESP,
		.ednspsz = 1232,
	};
	struct lookup lk = { .out = out };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ares_init_options(&lk.ch, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
						   ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ);
	if (rc != ARES_SUCCESS) {
		snprintf(out->err, sizeof(out->err), "c-ares: %s", ares_strerror(rc));
		return;
	}
	if (servers && (rc = ares_set_servers_ports_csv(lk.ch, servers)) != ARES_SUCCESS) {
		snprintf(out->err, sizeof(out->err), "DNS servers '%s': %s", servers,
			 ares_strerror(rc));
		ares_destroy(lk.ch);
		return;
	}
	if (type == LB_DNS_SRV)
		query(&lk, name, ns_t_srv, 0, srv_cb);
	else
		query(&lk, name, type == LB_DNS_A ? ns_t_a : ns_t_aaaa, port, addr_cb);
	run(&lk, mono_ms() + timeout_ms);
	ares_destroy(lk.ch);	/* no query left: no callback runs */
	out->ok = !lk.failed;
	out->empty = out->ok && !out->n;
	if (!out->ok)
		out->n = 0;
}
