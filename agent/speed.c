// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* speed.c - see speed.h. */
#include <math.h>

#include "inferlb.h"
#include "speed.h"

#define MIN_SAMPLE_MS 20

/* Increment of a counter between two scrapes; 0 when it is new to this
 * scrape, absent or went back (a restarted worker). */
static double counter_delta(bool had, double before, bool has, double now)
{
	if (!had || !has || !(now >= before))
		return 0;
	return now - before;
}

bool lb_speed_feed(struct lb_speed *sp, const struct lb_signals *sig,
		   uint64_t now, double ewma, double *dgen, double *ddone)
{
	bool prev = sp->at != 0 && now > sp->at;
	bool sampled = false;
	double dt_s = prev ? (double)(now - sp->at) / 1000.0 : 0;

	*dgen = prev ? counter_delta(sp->has_gen, sp->gen, sig->has_gen_tokens,
				     sig->gen_tokens) : 0;
	*ddone = prev ? counter_delta(sp->has_done, sp->done, sig->has_completed,
				      sig->completed) : 0;
	if (prev && now - sp->at >= MIN_SAMPLE_MS && sig->has_running &&
	    sp->running >= 1 && sig->running >= 1 && *dgen > 0) {
		double running = (sp->running + sig->running) / 2;
		double sample = *dgen / dt_s / running;

		if (isfinite(sample) && sample > 0) {
			sp->tok_s = sp->samples ? sp->tok_s + ewma * (sample - sp->tok_s)
						: sample;
			sp->samples++;
			sampled = true;
		}
	}
	sp->gen = sig->gen_tokens;
	sp->has_gen = sig->has_gen_tokens;
	sp->done = sig->completed;
	sp->has_done = sig->has_completed;
	sp->running = sig->has_running ? sig->running : 0;
	sp->at = now;
	return sampled;
}

void lb_outlen_add(struct lb_outlen *o, double dgen, double ddone)
{
	o->gen = o->gen * LB_OUTLEN_DECAY + dgen;
	o->done = o->done * LB_OUTLEN_DECAY + ddone;
}

double lb_outlen_mean(const struct lb_outlen *o, double dflt)
{
	/* less than one completion's worth of evidence: keep the default */
	if (!(o->done >= 1) || !(o->gen > 0))
		return dflt;
	return o->gen / o->done;
}

void lb_speed_slot_wait(const struct lb_speed_in *in, size_t n, double out_len,
			uint64_t *slot_wait_ns)
{
	double per_cap = 0;
	size_t known = 0;

	/* the VIP's mean speed per unit of capacity: the prior of a
	 * backend not measured yet */
	for (size_t i = 0; i < n; i++)
		if (in[i].tok_s > 0 && in[i].capacity > 0) {
			per_cap += in[i].tok_s / in[i].capacity;
			known++;
		}
	for (size_t i = 0; i < n; i++) {
		double s = in[i].tok_s > 0 ? in[i].tok_s : per_cap / known *
								     in[i].capacity;
		double ns;

		if (!known || !(s > 0)) {
			slot_wait_ns[i] = 0;
			continue;
		}
		ns = out_len / s * 1e9 / (in[i].slots ? in[i].slots : 1);
		if (!(ns >= 1))
			ns = 1;
		slot_wait_ns[i] = ns >= (double)LB_SLOT_WAIT_MAX_NS ?
					  LB_SLOT_WAIT_MAX_NS : (uint64_t)(ns + 0.5);
	}
}
