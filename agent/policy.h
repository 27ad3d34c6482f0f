/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * policy.h - lb-agent's balancing policy: per-backend state machine,
 * load-derived weights, slow start, and the publish decision (panic,
 * hysteresis, rebuild rate limit).
 *
 * Pure logic. Time is passed in (milliseconds, any monotonic origin);
 * nothing here reads a clock, does I/O or keeps globals, so every rule
 * can be tested step by step with made-up time.
 *
 * WEIGHT
 *   load   = max(waiting / queue_sat, kv_use / kv_sat, running / running_sat)
 *            (a term is left out when its signal is absent, or for running
 *            when running_sat == 0; no term at all means load = 0)
 *   raw    = clamp(1 - load, 0, 1)
 *   head   = EWMA of raw: h += a * (raw - h), a = ewma_down when raw < h,
 *            ewma_up otherwise; the first sample sets h = raw.
 *   stale  : metrics older than stale_ms (or never seen) => head = 0
 *   head   = max(head, load_floor) for the share (not when stale)
 *   share  = head * slow_start(t)          in HEALTHY
 *            head * slow_start_min         in HALF_OPEN (trial weight)
 *            0                             in any other state
 *   weight = round(LB_WEIGHT_MAX * capacity / max_capacity * share)
 *   (expected-wait VIPs, load_blind: head = 1, stale or not: the datapath
 *   weighs each new flow by open flows, slots and speed itself)
 *
 * Why this shape: it is GIE's "roofline" saturation score (the worst of
 * queue/QueueThreshold and KV/KVThreshold, defaults 5 and 0.8) turned
 * into a headroom. It is monotone (more load never raises weight) and
 * reaches 0 exactly where GIE's detector calls the endpoint saturated.
 * The weight itself stops at load_floor there: a table weight cannot
 * react per flow, and at 0 the saturated worker's share moved to the
 * others all at once, which saturated them in turn (a herd between 0 and
 * full weight, measured in make bench-e2e). GIE's
 * scorers (queue min-max, 1 - KV) rank endpoints per request; at L4 we
 * can only set table weights, so a capacity-relative headroom is the
 * analogue. Running requests are an optional third term (set
 * running_sat to the batch capacity) because engines already reflect a
 * full batch in waiting and KV. A stale endpoint counts as saturated, as
 * in GIE's detector. The EWMA is asymmetric: load rises must bite within
 * a poll or two (a full worker hurts TTFT now), recovery is slower so a
 * just-emptied worker is not stampeded.
 *
 * Weights are integers 0..LB_WEIGHT_MAX (1000000): the largest
 * configured capacity at full headroom maps to 1000000, so there is six
 * digits of resolution for relative GPU speed and headroom.
 */
#ifndef INFERLB_POLICY_H
#define INFERLB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inferlb.h"
#include "engine.h"

/*
 * Headroom below which a backend is "saturated" for reporting and tests.
 * With ewma_down 0.7 a fully saturated worker goes 1 -> 0.3 -> 0.09,
 * i.e. below this within two poll intervals.
 */
#define LB_POLICY_SAT_HEADROOM 0.1

struct lb_policy_params {
	/* Poll period of health and /metrics. 100 ms: GIE refreshes at
	 * 50 ms; 100 ms keeps scrape load low and still reacts in 2 polls. */
	uint32_t poll_interval_ms;
	/* Health endpoints are polled every health_interval_ms (rounded up
	 * to whole polls), metrics every poll. 1000: Envoy-style active
	 * health checking is 1-10 s; a worker that stops answering is
	 * caught sooner by its metrics going stale (stale_ms), and halving
	 * the requests is what lets one agent poll 1,000 workers at 10 Hz. */
	uint32_t health_interval_ms;
	/* Metrics older than this count as saturated. 500 ms = 5 polls:
	 * GIE's detector uses 200 ms at a 50 ms refresh (4 polls). */
	uint32_t stale_ms;
	/* Consecutive failed health polls that open the breaker (3). */
	uint32_t fail_threshold;
	/* Ejection n lasts base * factor^(n-1), capped at max. Envoy's
	 * outlier detection: base 30 s, max 300 s (Envoy grows linearly;
	 * a factor of 2 backs off faster from a flapping backend). */
	uint32_t eject_base_ms;
	double eject_backoff;
	uint32_t eject_max_ms;
	/* Successful trials (polls or trial flows) that close HALF_OPEN (3,
	 * the SGLang gateway's success_threshold). */
	uint32_t half_open_trials;
	/* Envoy slow start: weight * max(min, (t/window)^(1/aggression)).
	 * 30 s window (warms prefix caches), aggression 1 (linear),
	 * min 10 % (Envoy's min_weight_percent default). */
	uint32_t slow_start_ms;
	double slow_start_aggression;
	double slow_start_min;
	/* Fail open when fewer than this fraction of (non-operator-drained)
	 * backends can take new flows. 0.5 = Envoy's healthy_panic_threshold. */
	double panic_frac;
	/* Rebuild only when some weight moves by more than this fraction of
	 * its larger value (0.05); at most max_rebuilds_per_s rebuilds (10,
	 * one per poll at the default interval). */
	double hysteresis;
	uint32_t max_rebuilds_per_s;
	/* Saturation points (GIE utilization detector defaults: queue 5,
	 * KV 0.8). running_sat 0 leaves running requests out. */
	double queue_sat;
	double kv_sat;
	double running_sat;
	/* EWMA factors of headroom for falling and rising load (0.7/0.3). */
	double ewma_down;
	double ewma_up;
	/* Load alone never takes a weight below this share of capacity
	 * (0.1): at 0 a loaded backend got no new flows and the table
	 * swung between 0 and full weight under overload (a herd, 7
	 * rebuilds/s measured); states still drain to 0. */
	double load_floor;
	/* Open-flow recount (lb_open_recount): a flow without a packet for
	 * this long no longer counts as open (10 s; >= one tick, 1 s).
	 * Clients that vanish without a FIN leave the count after it; a
	 * request queued longer than it without a byte from its client is
	 * undercounted until its stream starts. */
	uint32_t flow_idle_ms;
	/* expected-wait inputs (speed.h): EWMA of the decode speed per
	 * scrape (0.3) and the output length assumed until the engines'
	 * counters show one (256 tokens). */
	double speed_ewma;
	double output_tokens_default;
};

void lb_policy_params_default(struct lb_policy_params *cfg);
/* 0 if usable; otherwise -EINVAL and *field names the bad knob. */
int lb_policy_params_check(const struct lb_policy_params *cfg, const char **field);

/*
 * A backend's state is the ABI's enum lb_be_state (inferlb.h), the value
 * the agent publishes in lb_backend.state, so policy and datapath share
 * one numbering and lb_state_name() (lb_names.h) spells it for both:
 *   STARTING   not yet healthy: no new flows
 *   HEALTHY    takes new flows (slow start after entry)
 *   DRAINING   no new flows, existing flows kept
 *   OPEN       breaker open: no new flows until open_until
 *   HALF_OPEN  small trial weight
 *   DOWN       unreachable: existing flows re-steered
 */

enum lb_health {
	LB_H_OK,		/* ready: 200 */
	LB_H_NOT_READY,		/* 503 (vLLM/SGLang), 400 (Triton ready) */
	LB_H_FAIL,		/* timeout, other 5xx, garbage, XID error */
	LB_H_UNREACHABLE,	/* connection refused, host unreachable */
};

enum lb_event_type {
	LB_EV_POLL,		/* one health (+ metrics) poll completed */
	LB_EV_SIGNALS,		/* a metrics scrape alone (no health poll) */
	LB_EV_TICK,		/* time passed (ejection timer) */
	LB_EV_DRAIN,		/* operator: drain */
	LB_EV_UNDRAIN,		/* operator: cancel drain */
	LB_EV_TRIAL_OK,		/* a HALF_OPEN trial flow succeeded */
	LB_EV_TRIAL_FAIL,	/* a HALF_OPEN trial flow failed */
};

struct lb_event {
	enum lb_event_type type;
	/* LB_EV_POLL (health and signals), LB_EV_SIGNALS (signals only) */
	enum lb_health health;
	bool has_signals;	/* false: scrape failed, old signals age out */
	struct lb_signals sig;
};

/* Per-backend policy state; owned by the caller, changed by lb_policy_step. */
struct lb_policy_backend {
	enum lb_be_state state;
	double capacity;	/* relative speed (> 0), from config */
	bool op_drain;		/* operator drain is sticky until UNDRAIN */
	enum lb_health last_health;
	uint32_t fails;		/* consecutive failed polls */
	uint32_t trials_ok;	/* successes in HALF_OPEN */
	uint32_t ejections;	/* opens since last sustained health */
	uint64_t open_until;	/* OPEN: when HALF_OPEN starts */
	uint64_t healthy_since;	/* slow-start origin */
	bool slow_start;	/* ramp active for this HEALTHY period */
	bool has_sig;
	uint64_t sig_at;	/* time of the last fresh signals */
	double headroom;	/* smoothed, 0..1 */
	/* the VIP's policy balances load per flow (expected-wait): the
	 * weight is capacity and state only, never load */
	bool load_blind;
};

void lb_policy_backend_init(struct lb_policy_backend *b, double capacity);

/*
 * Apply one event at time now; returns the new state. See the
 * transition table in policy.c.
 */
enum lb_be_state lb_policy_step(const struct lb_policy_params *cfg,
				struct lb_policy_backend *b,
				const struct lb_event *ev, uint64_t now);

/* Ejection length of the n-th consecutive open (n >= 1). */
uint64_t lb_policy_eject_ms(const struct lb_policy_params *cfg, uint32_t n);

/* Envoy slow-start factor for a backend healthy since `since`. */
double lb_policy_slow_start(const struct lb_policy_params *cfg,
			    uint64_t since, uint64_t now);

/* Unsmoothed headroom of one set of signals, 0..1. */
double lb_policy_headroom(const struct lb_policy_params *cfg,
			  const struct lb_signals *sig);

/* Fraction of its capacity a backend should get now (the "share"). */
double lb_policy_share(const struct lb_policy_params *cfg,
		       const struct lb_policy_backend *b, uint64_t now);

/*
 * P2C LOAD SCORE (lb_be_load.score, read by the datapath's p2c policy)
 *   score = floor(LB_P2C_FLOW_SCORE * (waiting + running) / capacity)
 *   an absent, negative or non-finite signal counts 0 (as in the weight);
 *   capacity that is not > 0 and finite counts 1 (as lb_policy_backend_init);
 *   clamped to LB_POLICY_P2C_SCORE_MAX.
 *
 * Why this shape: p2c is Mitzenmacher's power of two choices as Envoy's
 * least-request balancer does it: of two random backends take the one
 * with fewer requests in flight, divided by its weight when weights
 * differ. The requests are the engine's own count of what it serves
 * (waiting + running: also requests from other balancers and clients, not
 * only our flows), per unit of capacity, so a GPU twice as fast looks half
 * as loaded. The unit is a request: the datapath adds LB_P2C_FLOW_SCORE
 * for every new flow it sends a backend until the next score (inferlb.h),
 * treating a flow as a request, so the two add up. KV-cache use is left
 * out: a fraction of memory has no exchange rate to requests.
 *
 * The datapath reads score + sent * LB_P2C_FLOW_SCORE in 64 bits (and ~0
 * for a backend without an entry): the clamp at half the range keeps that
 * sum from wrapping for 2^63 / 1000 flows, far beyond one poll interval.
 */
#define LB_POLICY_P2C_SCORE_MAX (UINT64_MAX / 2)

uint64_t lb_policy_p2c_score(const struct lb_signals *sig, double capacity);

/* Requests a worker reports (waiting + running); an absent, negative or
 * non-finite signal counts 0. The p2c score's and expected-wait's count. */
double lb_policy_requests(const struct lb_signals *sig);

/* Rebuild bookkeeping kept by the caller between decisions. */
struct lb_publish_state {
	bool published;		/* a table has been built at least once */
	uint64_t last_rebuild;	/* time of that rebuild */
};

struct lb_decision {
	bool rebuild;		/* rebuild and publish `out` now */
	bool panic;		/* panic rule applied */
	bool all_saturated;	/* least-bad fallback applied */
	uint32_t available;	/* backends able to take new flows */
};

/*
 * Compute the weights to publish for n backends at time now.
 *
 * cur[] holds the weights in the live table (ignored before the first
 * rebuild). out[] receives the target weights when rebuild is true, and
 * a copy of cur[] otherwise, so out[] is always what should be live.
 * cur[] and out[] must not overlap.
 * When rebuild is true the caller is assumed to rebuild at once: ps is
 * advanced.
 *
 * Rules, in order:
 *  1. target_i = weight of lb_policy_share (see top of file).
 *  2. Panic: available = HEALTHY or HALF_OPEN backends; eligible = all
 *     backends not drained by the operator. If available < panic_frac *
 *     eligible, fail open: target_i = capacity weight of every eligible
 *     backend that is not DOWN (health is ignored, as in Envoy: refusing
 *     everything is worse than trying a possibly bad backend, and DOWN
 *     ones would only make clients hang).
 *  3. Otherwise, if some backend is available but every target is 0
 *     (all saturated or stale), use the capacity weights of available
 *     backends: GIE's "least bad" choice rather than dropping traffic.
 *  4. Hysteresis: rebuild only if some i has (cur_i == 0) != (target_i
 *     == 0), or |target_i - cur_i| > hysteresis * max(cur_i, target_i).
 *  5. Rate limit: at most max_rebuilds_per_s (a minimum gap of 1000 /
 *     max_rebuilds_per_s ms), except that a rebuild taking a backend's
 *     weight to 0 is never delayed: new flows to a dead or ejected
 *     backend are the failures the breaker exists to stop.
 */
struct lb_decision lb_policy_decide(const struct lb_policy_params *cfg,
				    struct lb_publish_state *ps,
				    const struct lb_policy_backend *b, size_t n,
				    uint64_t now, const uint32_t *cur,
				    uint32_t *out);

#endif /* INFERLB_POLICY_H */
