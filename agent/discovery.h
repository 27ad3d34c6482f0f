/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * discovery.h - workers that come and go: one discovery source's answers
 * (DNS SRV/A/AAAA, an etcd registry prefix) merged into the set of
 * backends it gave a VIP, with the guard rails and the life cycle.
 *
 * Pure logic, like policy.h: time is passed in (ms, any monotonic
 * origin), no I/O, no clock, no globals; the agent asks the datapath
 * whether a draining worker still has open flows (a callback).
 *
 * LIFE CYCLE of a worker a source found
 *   ACTIVE    in the source's last applied answer: the agent adds it as a
 *             backend, which starts STARTING and goes through slow start
 *             (the policy's, as for a backend of the file);
 *   DRAINING  gone from an applied answer: no new flows (the agent sets
 *             the backend DRAINING), established flows go on;
 *   removed   by lb_disc_reap() once its open flows reached 0 or it has
 *             drained for drain_timeout_ms: the agent deletes the
 *             backend. No established stream is cut by discovery.
 *   A DRAINING worker that comes back in an answer is ACTIVE again.
 *
 * GUARD RAILS (lb_disc_update)
 *   - a failed lookup (timeout, SERVFAIL, refused, etcd unreachable) is
 *     no answer: nothing changes, it is counted as an error;
 *   - an answer, empty ones included (NXDOMAIN, NODATA, a wiped etcd
 *     prefix), that would drain more than max_remove_fraction of the
 *     VIP's backends at once, or every one of them, is held: nothing
 *     applied, counted, what it would have drained in the result. The
 *     next answer is judged afresh.
 * The share counts the VIP's backends before the answer, from every
 * source and the file, draining ones aside (vip_backends), so a source
 * that holds most of a VIP cannot take it out because its name stopped
 * resolving.
 *
 * Sources: HAProxy's server-template + resolvers (a resolution error
 * keeps the servers), Envoy's STRICT_DNS (an empty answer removes
 * hosts: the failure this guards against), Consul/Kubernetes DNS.
 */
#ifndef LB_AGENT_DISCOVERY_H
#define LB_AGENT_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#define LB_DISC_MAX_REMOVE_FRACTION_DEFAULT 0.5
#define LB_DISC_DRAIN_TIMEOUT_DEFAULT_MS (5 * 60 * 1000)
/* Workers one source may give one VIP (the datapath's per-VIP list). */
#define LB_DISC_MAX_WORKERS 64

/* One worker as a source names it. Identity: family and address (a VIP's
 * backend is one address; the port says where its engine's metrics and
 * health answer, the datapath's direct return keeps the VIP's port). */
struct lb_disc_worker {
	__u8 addr[16];		/* IPv4 in the first 4 bytes */
	__u8 family;		/* LB_AF_INET or LB_AF_INET6 */
	__u8 pad;
	uint16_t port;		/* 0: the source's template port */
};

enum lb_disc_state {
	LB_DISC_ACTIVE = 1,
	LB_DISC_DRAINING = 2,
};

struct lb_disc_member {
	struct lb_disc_worker w;
	enum lb_disc_state state;
	uint64_t since_ms;	/* when it entered its state */
};

struct lb_disc_limits {
	double max_remove_fraction;	/* (0, 1] */
	uint64_t drain_timeout_ms;
	/* a worker is reaped for being idle only after draining this long
	 * (the agent's grace for its weight 0 to be published) */
	uint64_t min_drain_ms;
};

/* One source of one VIP: its workers and the figures /metrics shows. */
struct lb_disc_source {
	struct lb_disc_member m[LB_DISC_MAX_WORKERS];
	size_t n;
	uint64_t last_ok_ms;	/* last answer (applied, unchanged or held) */
	bool answered;		/* some answer came, last_ok_ms is valid */
	uint64_t answers, errors, applied, held;
};

enum lb_disc_verdict {
	LB_DISC_UNCHANGED,	/* the answer is what is applied */
	LB_DISC_APPLIED,	/* workers added, drained or back */
	LB_DISC_HELD,		/* a guard rail held it: nothing changed */
	LB_DISC_FAILED,		/* no answer: nothing changed */
	LB_DISC_TOO_MANY,	/* more than LB_DISC_MAX_WORKERS: nothing changed */
};

struct lb_disc_result {
	enum lb_disc_verdict verdict;
	size_t added, drained, back;	/* when applied */
	size_t moved;			/* ... workers on another port */
	size_t removing;		/* when held: what it would have drained */
};

/* An empty source (no workers, no answer yet). */
void lb_disc_init(struct lb_disc_source *s);

/*
 * One lookup's outcome: ok false for a failed lookup (ans ignored), else
 * its n workers (duplicates counted once). vip_backends: the VIP's
 * backends now, from every source and the file, draining ones aside.
 */
struct lb_disc_result lb_disc_update(struct lb_disc_source *s, bool ok,
				     const struct lb_disc_worker *ans, size_t n,
				     size_t vip_backends,
				     const struct lb_disc_limits *lim,
				     uint64_t now);

/* Does the datapath still hold open flows of w? */
typedef bool (*lb_disc_busy_fn)(void *ctx, const struct lb_disc_worker *w);

/*
 * The DRAINING workers to delete now: no open flows (busy says false)
 * after min_drain_ms, or draining for drain_timeout_ms. They leave the source and are copied to
 * out (at most max); returns how many.
 */
size_t lb_disc_reap(struct lb_disc_source *s, const struct lb_disc_limits *lim,
		    uint64_t now, lb_disc_busy_fn busy, void *ctx,
		    struct lb_disc_worker *out, size_t max);

/* A worker the maps hold from a previous agent, taken back before the
 * source's first answer (which then judges it like any other): false if
 * it is a member already or the source is full. */
bool lb_disc_adopt(struct lb_disc_source *s, const struct lb_disc_worker *w,
		   enum lb_disc_state st, uint64_t now);

/* Workers of the source in a state (ACTIVE: those serving new flows). */
size_t lb_disc_count(const struct lb_disc_source *s, enum lb_disc_state st);

#endif
