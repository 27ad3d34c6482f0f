/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * speed.h - how fast a worker serves: the inputs of the datapath's
 * expected-wait policy (lb_be_load.slots and slot_wait_ns, inferlb.h).
 *
 * Pure logic, like policy.h: time is passed in (ms), nothing here reads a
 * clock, does I/O or keeps globals.
 *
 * DECODE SPEED, per backend, from its engine's counters over a window:
 *   sample  = d(gen_tokens) / sum(running x dt)   tokens/s per running request
 *   speed  += speed_ewma x (sample - speed)       the first sample sets it
 * running x dt is summed scrape by scrape (the mean of the two ends).
 * Engines that count tokens every step (vLLM) give a sample per scrape;
 * a scrape needs running >= 1 at both ends (a batch that was empty for
 * part of the interval would make the worker look slow). Engines that
 * credit a request's tokens when it finishes (SGLang, TGI, Triton; see
 * engine.h) need a window over several requests: a sample once
 * LB_SPEED_WINDOW_DONE requests finished and LB_SPEED_WINDOW_MS passed,
 * else each scrape would see either nothing or a whole request's tokens.
 * Counters that go back (a restarted worker) start a new window. With no
 * sample yet the speed is unknown (0). Decode dominates: a request's
 * prefill is a small part of its time in the batch for chat traffic, and
 * the engines' token counters do not tell it apart.
 *
 * OUTPUT LENGTH, per VIP: d(gen_tokens) / d(completed) over every backend
 * of the VIP, both kept as sums that decay by outlen_decay per scrape
 * (about the last 1 / (1 - decay) scrapes), so the mean follows the
 * traffic's length mix; output_tokens_default until anything completed.
 *
 * SLOT WAIT, what the datapath multiplies by the requests ahead:
 *   service time T = output length / speed      one request's time in the batch
 *   slot_wait      = T / max(slots, 1)           one slot frees every slot_wait
 * With S slots busy and requests finishing at random times, a slot frees
 * every T / S on average, so the k-th request in the queue waits about
 * k x T / S: the M/M/S picture (Kleinrock, Queueing Systems I, 1975, ch. 3)
 * without its randomness, which is enough to rank workers and to tell a
 * wait of 200 ms from one of 2 s.
 * A backend whose speed is unknown gets the VIP's mean speed per unit of
 * configured capacity times its own capacity (the operator's prior); a
 * VIP where no speed is known publishes 0 ("unknown"), and the datapath
 * then falls back to least-conn for it.
 */
#ifndef INFERLB_SPEED_H
#define INFERLB_SPEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* Decay of the VIP's output-length sums per scrape of one backend. */
#define LB_OUTLEN_DECAY 0.995

/* A finish-credited engine's window: this many finished requests and ms. */
#define LB_SPEED_WINDOW_DONE 4
#define LB_SPEED_WINDOW_MS 1000

struct lb_speed {
	double gen, done, running;	/* at the last scrape */
	uint64_t at;			/* ms of the last scrape; 0: none */
	bool has_gen, has_done;
	/* the window since the last sample */
	double w_gen, w_done, w_exposure;	/* tokens, requests, request-s */
	uint64_t w_start;		/* ms */
	double tok_s;			/* smoothed; 0 = unknown */
	uint64_t samples;
};

/*
 * Feeds one scrape of a backend at time now; per_step says whether its
 * engine counts tokens every step (lb_engine_tokens_per_step). *dgen and
 * *ddone get the counters' increments since the last scrape (0 when a
 * counter is absent, new or went back). Returns true when a speed sample
 * was taken.
 */
bool lb_speed_feed(struct lb_speed *sp, const struct lb_signals *sig,
		   uint64_t now, bool per_step, double ewma, double *dgen,
		   double *ddone);

/* A VIP's output length, as decaying sums of tokens and completions. */
struct lb_outlen {
	double gen, done;
};

void lb_outlen_add(struct lb_outlen *o, double dgen, double ddone);
/* Mean output tokens per request, or dflt while nothing completed. */
double lb_outlen_mean(const struct lb_outlen *o, double dflt);

/* One backend as the slot-wait computation sees it. */
struct lb_speed_in {
	double tok_s;		/* measured speed, 0 = unknown */
	double capacity;	/* configured relative speed, > 0 */
	uint32_t slots;		/* 0 = unknown */
};

/*
 * slot_wait_ns[i] for the n backends of one VIP whose mean output length
 * is out_len tokens (see the top of this file), each clamped to
 * 1 .. LB_SLOT_WAIT_MAX_NS; all 0 when no backend's speed is known.
 */
void lb_speed_slot_wait(const struct lb_speed_in *in, size_t n, double out_len,
			uint64_t *slot_wait_ns);

#endif /* INFERLB_SPEED_H */
