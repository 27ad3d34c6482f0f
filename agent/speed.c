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

/* Starts a new window at the scrape just taken. */
static void window_reset(struct lb_speed *sp, uint64_t now)
{
	sp->w_gen = sp->w_done = sp->w_exposure = 0;
	sp->w_start = now;
}

bool lb_speed_feed(struct lb_speed *sp, const struct lb_signals *sig,
		   uint64_t now, bool per_step, double ewma, double *dgen,
		   double *ddone)
{
	bool prev = sp->at != 0 && now > sp->at;
	double running = sig->has_running ? sig->running : 0;
	double sample = 0;
	bool went_back;

	*dgen = prev ? counter_delta(sp->has_gen, sp->gen, sig->has_gen_tokens,
				     sig->gen_tokens) : 0;
	*ddone = prev ? counter_delta(sp->has_done, sp->done, sig->has_completed,
				      sig->completed) : 0;
	went_back = (sp->has_gen && sig->has_gen_tokens && sig->gen_tokens < sp->gen) ||
		    (sp->has_done && sig->has_completed && sig->completed < sp->done);
	if (!prev || went_back || !sig->has_gen_tokens) {
		window_reset(sp, now);
	} else if (per_step) {
		/* one scrape is a window; a batch empty at either end is not */
		if (now - sp->at >= MIN_SAMPLE_MS && sp->running >= 1 && running >= 1 &&
		    *dgen > 0)
			sample = *dgen / ((sp->running + running) / 2 *
					  (double)(now - sp->at) / 1000.0);
		window_reset(sp, now);
	} else {
		sp->w_gen += *dgen;
		sp->w_done += *ddone;
		sp->w_exposure += (sp->running + running) / 2 *
				  (double)(now - sp->at) / 1000.0;
		if (sp->w_done >= LB_SPEED_WINDOW_DONE &&
		    now - sp->w_start >= LB_SPEED_WINDOW_MS) {
			if (sp->w_exposure > 0 && sp->w_gen > 0)
				sample = sp->w_gen / sp->w_exposure;
			window_reset(sp, now);
		}
	}
	if (isfinite(sample) && sample > 0) {
		sp->tok_s = sp->samples ? sp->tok_s + ewma * (sample - sp->tok_s) : sample;
		sp->samples++;
	}
	sp->gen = sig->gen_tokens;
	sp->has_gen = sig->has_gen_tokens;
	sp->done = sig->completed;
	sp->has_done = sig->has_completed;
	sp->running = running;
	sp->at = now;
	return sample > 0 && isfinite(sample);
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
