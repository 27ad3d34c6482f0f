/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dns.h - one DNS lookup of a discovery source: the workers a name gives
 * (SRV: each target's A and AAAA addresses with the record's port; A or
 * AAAA: the addresses with the configured port) and how long the answer
 * may be kept (the smallest TTL of the records used).
 *
 * c-ares (Debian 12: 1.18.1) on a channel of its own per lookup, driven
 * by a poll() loop here, so a lookup blocks its caller (the discovery
 * thread) for at most timeout_ms and nothing is shared between threads
 * (1.18.1 channels have no locking). 1.18.1's SRV parser gives no TTL:
 * TTLs come from glibc's ns_parserr() over the same answer.
 *
 * What counts as an answer (discovery.h's guard rails judge it):
 *   NOERROR with records           ok, the workers
 *   NXDOMAIN, NODATA               ok, no workers (an empty answer)
 *   an SRV target without address  ok, that target gives no worker
 *   anything else (timeout, SERVFAIL, refused, a malformed answer, a
 *   target's lookup failing)       not ok: no answer at all
 */
#ifndef LB_AGENT_DNS_H
#define LB_AGENT_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "discovery.h"

enum lb_dns_type {
	LB_DNS_SRV,
	LB_DNS_A,
	LB_DNS_AAAA,
};

struct lb_dns_answer {
	bool ok;		/* false: the lookup failed, err says why */
	bool empty;		/* ok, and the name has no records (NXDOMAIN,
				 * NODATA, or SRV targets without addresses) */
	size_t n;
	struct lb_disc_worker w[LB_DISC_MAX_WORKERS];
	size_t dropped;		/* workers beyond LB_DISC_MAX_WORKERS */
	uint32_t ttl_s;		/* smallest TTL of the records used */
	char err[192];
};

/* Once, before any thread starts (c-ares' library init is not thread
 * safe). 0, or -1 with msg set. */
int lb_dns_global_init(char *msg, size_t len);
void lb_dns_global_fini(void);

/*
 * Resolves name as type. servers: "IP[:PORT][,...]" ("[V6]:PORT"), or
 * NULL for /etc/resolv.conf's. port: the workers' port for A/AAAA (SRV
 * records carry their own). Blocks up to timeout_ms.
 */
void lb_dns_resolve(const char *name, enum lb_dns_type type, uint16_t port,
		    const char *servers, uint32_t timeout_ms,
		    struct lb_dns_answer *out);

#endif
