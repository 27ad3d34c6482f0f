/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * discover.h - lb-agent's discovery at run time: the sources of every
 * VIP's `discover:` (discover_conf.h) asked by threads of their own, their
 * answers merged with the guard rails (discovery.h), and the topology the
 * agent runs: the file's backends plus every source's ACTIVE and DRAINING
 * workers.
 *
 * THREADS
 *   one for the DNS sources (a lookup blocks at most its timeout_ms;
 *   each source is asked again after its answer's TTL clamped to
 *   [min_ttl_s, max_ttl_s], after min_ttl_s when it failed);
 *   one per etcd source: the prefix is read whole (the truth), then
 *   watched; an event (a put, a delete, a lease that expired) ends the
 *   watch and the prefix is read again. A failed call is no answer.
 * Every answer is judged under a->mu (lb_disc_update); an applied one
 * marks the runtime changed, and the agent's loop (lb_discovery_step)
 * rebuilds the effective topology and applies it: new workers are added
 * STARTING (slow start), gone ones DRAINING (weight 0, their flows go
 * on), and a drained one is deleted once the datapath counts no open
 * flow of it, or after drain_timeout_s (lb_disc_reap).
 *
 * A worker found by several sources, or also in the file's list, is one
 * backend: the file's, else the first source's. Workers of the other
 * address family than the VIP's are left out (an SRV target with A and
 * AAAA records gives both).
 *
 * A reload stops the threads, carries every source's workers over to
 * the same source (by VIP and label) of the new file, and starts them
 * again; a source no longer in the file lets its workers go with the
 * file's other removals (the reload's guard rails).
 *
 * In cluster mode every host discovers by itself: the hosts' backend
 * lists agree once their sources answered alike, and until then the
 * cluster's decision does not fit a host that lags (refused, counted, the
 * next one fits).
 */
#ifndef LB_AGENT_DISCOVER_H
#define LB_AGENT_DISCOVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "discover_conf.h"

struct lb_agent;
struct lb_discovery;

/* The runtime for a's config (NULL sources: none). 0 or -ENOMEM. */
int lb_discovery_new(struct lb_agent *a, struct lb_discovery **out);
/* Threads started (after capabilities were dropped, from the loop);
 * idempotent. */
void lb_discovery_run(struct lb_discovery *d);
/* Stops the threads (call without a->mu held); the state stays. */
void lb_discovery_halt(struct lb_discovery *d);
/* The sources of conf, with the state of the running ones carried over
 * (a->mu held, threads halted). 0 or -ENOMEM (nothing changed). */
int lb_discovery_sync(struct lb_discovery *d, const struct lb_agent_conf *conf);
/* The sync before is final (the old sources freed) / undone (they are
 * back, with the state they had). */
void lb_discovery_commit(struct lb_discovery *d);
void lb_discovery_rollback(struct lb_discovery *d);
void lb_discovery_free(struct lb_discovery *d);

/*
 * A restarted agent: the workers a previous one found (live backends of
 * origin dns or etcd that the file does not list) become members of the
 * VIP's first source of their kind again (ACTIVE),
 * so that the first apply keeps them and their streams; the sources'
 * first answers judge them as usual. a->mu held, before the first
 * lb_discovery_topo. 0 or -errno with msg (nothing adopted).
 */
int lb_discovery_adopt(struct lb_discovery *d, const struct lb_agent_conf *conf,
		       char *msg, size_t len);

/*
 * The topology to run: conf's, each VIP's backends followed by its
 * sources' workers (deduplicated, the VIP's family). Its VIPs share
 * conf's data (free it with lb_discovery_topo_free before conf).
 * a->mu held. 0, or -errno with msg.
 */
int lb_discovery_topo(struct lb_discovery *d, const struct lb_agent_conf *conf,
		      struct lb_topo *out, char *msg, size_t len);
void lb_discovery_topo_free(struct lb_topo *t);

/* Is backend addr of VIP k a worker a source drained and none keeps?
 * (a->mu) */
bool lb_discovery_draining(const struct lb_discovery *d,
			   const struct lb_vip_key *k, const __u8 addr[16]);

/*
 * Once per loop turn (a->mu held): reaps drained workers without open
 * flows (or past drain_timeout_s); returns true when the effective
 * topology must be rebuilt (an applied answer or a reaped worker).
 */
bool lb_discovery_step(struct lb_discovery *d, uint64_t now);
/* Applying what discovery found failed: the next step says so again. */
void lb_discovery_retry(struct lb_discovery *d);

/* /metrics: per source, inferlb_discovery_* (a->mu held). */
void lb_discovery_metrics(const struct lb_discovery *d, FILE *f, uint64_t now);

#endif
