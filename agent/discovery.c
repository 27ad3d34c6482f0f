// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * discovery.c - one discovery source's answers merged into its workers,
 * with the guard rails and the life cycle (discovery.h).
 */
#include <string.h>

#include "discovery.h"

void lb_disc_init(struct lb_disc_source *s)
{
	memset(s, 0, sizeof(*s));
}

static bool same(const struct lb_disc_worker *a, const struct lb_disc_worker *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, 16);
}

static long find(const struct lb_disc_source *s, const struct lb_disc_worker *w)
{
	for (size_t i = 0; i < s->n; i++)
		if (same(&s->m[i].w, w))
			return (long)i;
	return -1;
}

/* Is w among the first n of ans? */
static bool in_answer(const struct lb_disc_worker *ans, size_t n,
		      const struct lb_disc_worker *w)
{
	for (size_t i = 0; i < n; i++)
		if (same(&ans[i], w))
			return true;
	return false;
}

size_t lb_disc_count(const struct lb_disc_source *s, enum lb_disc_state st)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++)
		k += s->m[i].state == st;
	return k;
}

struct lb_disc_result lb_disc_update(struct lb_disc_source *s, bool ok,
				     const struct lb_disc_worker *ans, size_t n,
				     size_t vip_backends,
				     const struct lb_disc_limits *lim,
				     uint64_t now)
{
	struct lb_disc_result r = { .verdict = LB_DISC_UNCHANGED };
	size_t distinct = 0, removing = 0;

	if (!ok) {
		s->errors++;
		r.verdict = LB_DISC_FAILED;
		return r;
	}
	s->answers++;
	s->last_ok_ms = now;
	s->answered = true;
	/* what the answer would change, before anything is */
	for (size_t i = 0; i < n; i++) {
		if (in_answer(ans, i, &ans[i]))
			continue;	/* a duplicate record */
		distinct++;
	}
	if (distinct > LB_DISC_MAX_WORKERS) {
		r.verdict = LB_DISC_TOO_MANY;
		s->errors++;
		return r;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->m[i].state == LB_DISC_ACTIVE && !in_answer(ans, n, &s->m[i].w))
			removing++;
	/* the guard rails: never a VIP emptied, never more than the share
	 * at once (newcomers do not make up for it: they start STARTING,
	 * and a half-wiped answer with strangers in it is as suspect) */
	if (removing && (removing >= vip_backends ||
			 (double)removing >
				 lim->max_remove_fraction * (double)vip_backends + 1e-9)) {
		s->held++;
		r.verdict = LB_DISC_HELD;
		r.removing = removing;
		return r;
	}
	/* apply: leavers drain, returners and newcomers are ACTIVE */
	for (size_t i = 0; i < s->n; i++) {
		struct lb_disc_member *m = &s->m[i];
		bool there = in_answer(ans, n, &m->w);

		if (m->state == LB_DISC_ACTIVE && !there) {
			m->state = LB_DISC_DRAINING;
			m->since_ms = now;
			r.drained++;
		} else if (m->state == LB_DISC_DRAINING && there) {
			m->state = LB_DISC_ACTIVE;
			m->since_ms = now;
			r.back++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (in_answer(ans, i, &ans[i]) || find(s, &ans[i]) >= 0)
			continue;
		if (s->n == LB_DISC_MAX_WORKERS)
			break;	/* draining workers fill it: the next answer */
		s->m[s->n++] = (struct lb_disc_member){
			.w = ans[i], .state = LB_DISC_ACTIVE, .since_ms = now };
		r.added++;
	}
	/* a worker that moved to another port: the answer's port (its
	 * metrics and health URLs change: a change to apply) */
	for (size_t i = 0; i < n; i++) {
		long k = find(s, &ans[i]);

		if (k >= 0 && s->m[k].w.port != ans[i].port) {
			s->m[k].w.port = ans[i].port;
			r.moved++;
		}
	}
	if (r.added || r.drained || r.back || r.moved) {
		r.verdict = LB_DISC_APPLIED;
		s->applied++;
	}
	return r;
}

bool lb_disc_adopt(struct lb_disc_source *s, const struct lb_disc_worker *w,
		   enum lb_disc_state st, uint64_t now)
{
	if (find(s, w) >= 0 || s->n == LB_DISC_MAX_WORKERS)
		return false;
	s->m[s->n++] = (struct lb_disc_member){ .w = *w, .state = st,
						.since_ms = now };
	return true;
}

size_t lb_disc_reap(struct lb_disc_source *s, const struct lb_disc_limits *lim,
		    uint64_t now, lb_disc_busy_fn busy, void *ctx,
		    struct lb_disc_worker *out, size_t max)
{
	size_t k = 0, j = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct lb_disc_member *m = &s->m[i];
		bool gone = m->state == LB_DISC_DRAINING && k < max &&
			    (now >= m->since_ms + lim->drain_timeout_ms ||
			     (now >= m->since_ms + lim->min_drain_ms &&
			      !busy(ctx, &m->w)));

		if (gone)
			out[k++] = m->w;
		else
			s->m[j++] = *m;
	}
	s->n = j;
	return k;
}
