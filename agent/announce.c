// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* announce.c - lb-agent keeps the VIP routes in sync; see announce.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "announce.h"
#include "cluster.h"
#include "lb_addr.h"
#include "lb_announce.h"

struct lb_agent_announce {
	bool routed;			/* routes of ours may be out there */
	struct lb_announce_opts o;	/* where they went */
	uint64_t next_ms;
	uint64_t seen_pubs;		/* a->publications at the last sync */
	uint64_t changes;		/* routes added + removed */
	uint64_t errors;
	char last_err[256];
	struct lb_vip_key *keys;	/* per VIP: announced now */
	bool *announced;
	size_t n;
};

static struct lb_agent_announce *state(struct lb_agent *a)
{
	if (!a->announce)
		a->announce = calloc(1, sizeof(*a->announce));
	return a->announce;
}

/* Keeps what /metrics shows: each VIP's route, as the sync left it. */
static void remember(struct lb_agent_announce *s, const struct lb_announce *an)
{
	struct lb_vip_key *k = calloc(an->n_vips ? an->n_vips : 1, sizeof(*k));
	bool *on = calloc(an->n_vips ? an->n_vips : 1, sizeof(*on));

	if (!k || !on) {
		free(k);
		free(on);
		return;
	}
	for (size_t i = 0; i < an->n_vips; i++) {
		k[i] = an->vips[i].key;
		on[i] = an->routes[an->vips[i].route].ours;
	}
	free(s->keys);
	free(s->announced);
	s->keys = k;
	s->announced = on;
	s->n = an->n_vips;
}

/* One sync: under the pin-directory lock (lbctl's changes interleave). dp
 * NULL: withdraw every route of ours. */
static void sync_now(struct lb_agent *a, struct lb_agent_announce *s,
		     const struct lb_announce_opts *o, bool withdraw_all)
{
	struct lb_announce an;
	char msg[256], v[80];
	int err;

	err = lb_dp_relock(&a->dp, msg, sizeof(msg));
	if (!err)
		err = lb_announce_sync(withdraw_all ? NULL : &a->dp, o, &an, msg,
				       sizeof(msg));
	else
		memset(&an, 0, sizeof(an));
	lb_dp_unlock(&a->dp);
	s->changes += an.added + an.removed;
	for (size_t i = 0; i < an.n_routes; i++) {
		const struct lb_announce_route *r = &an.routes[i];

		if (r->changed)
			lb_agent_logf("announce: %s route to %s/%u (table %u)",
				      r->ours ? "added" : "removed",
				      lb_fmt_ip(r->addr, r->family, v, sizeof(v)),
				      r->plen, o->table);
	}
	remember(s, &an);
	lb_announce_free(&an);
	if (err) {
		s->errors++;
		if (strcmp(msg, s->last_err))
			lb_agent_logf("announce: %s", msg);
		snprintf(s->last_err, sizeof(s->last_err), "%s", msg);
	} else {
		s->last_err[0] = 0;
	}
}

void lb_agent_announce_step(struct lb_agent *a, uint64_t now)
{
	const struct lb_agent_announce_conf *c = &a->conf.announce;
	struct lb_agent_announce *s = state(a);
	struct lb_announce_opts o = { .table = c->table, .proto = c->proto };

	if (!s)
		return;
	if (!c->enabled) {
		if (s->routed) {	/* disabled by a reload */
			sync_now(a, s, &s->o, true);
			s->routed = false;
		}
		return;
	}
	if (now < s->next_ms && a->publications == s->seen_pubs)
		return;
	s->next_ms = now + c->interval_ms;
	s->seen_pubs = a->publications;
	o.ready = cluster_ready(a->cluster);
	s->o = o;
	s->routed = true;
	sync_now(a, s, &o, false);
}

void lb_agent_announce_stop(struct lb_agent *a)
{
	struct lb_agent_announce *s = a->announce;
	uint32_t drain_ms = a->conf.announce.drain_ms;
	struct timespec ts = { drain_ms / 1000, (drain_ms % 1000) * 1000000L };

	if (!s || !s->routed)
		return;
	pthread_mutex_lock(&a->mu);
	sync_now(a, s, &s->o, true);
	s->routed = false;
	pthread_mutex_unlock(&a->mu);
	lb_agent_logf("announce: withdrawn; the datapath forwards for %u ms more "
		      "while the router moves the traffic", drain_ms);
	while (drain_ms && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void lb_agent_announce_metrics(struct lb_agent *a, FILE *f)
{
	struct lb_agent_announce *s = a->announce;
	char v[80];

	if (!a->conf.announce.enabled && (!s || !s->changes))
		return;
	fprintf(f, "# HELP inferlb_vip_announced Whether the VIP's route is in the "
		   "announce table (1) or not (0).\n"
		   "# TYPE inferlb_vip_announced gauge\n");
	for (size_t i = 0; s && i < s->n; i++)
		fprintf(f, "inferlb_vip_announced{vip=\"%s\"} %d\n",
			lb_fmt_vip(&s->keys[i], v, sizeof(v)), s->announced[i]);
	fprintf(f, "# HELP inferlb_announce_route_changes_total VIP routes added "
		   "or removed.\n# TYPE inferlb_announce_route_changes_total counter\n"
		   "inferlb_announce_route_changes_total %llu\n"
		   "# HELP inferlb_announce_errors_total Syncs of the VIP routes that "
		   "failed.\n# TYPE inferlb_announce_errors_total counter\n"
		   "inferlb_announce_errors_total %llu\n",
		   (unsigned long long)(s ? s->changes : 0),
		   (unsigned long long)(s ? s->errors : 0));
}

void lb_agent_announce_free(struct lb_agent *a)
{
	struct lb_agent_announce *s = a->announce;

	if (!s)
		return;
	free(s->keys);
	free(s->announced);
	free(s);
	a->announce = NULL;
}
