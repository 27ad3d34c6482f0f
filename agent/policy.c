// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * policy.c - backend state machine, weights and publish decision.
 *
 * Design: every function takes the time as an argument and touches only
 * the state it is given, so the agent's event loop owns time and the
 * tests can replay any sequence. Formulas and the decision rules are
 * documented in policy.h; the state transitions are documented here.
 *
 * TRANSITIONS (event at time t; "fail" = poll FAIL, or a NOT_READY where
 * noted; n = fail_threshold; E(k) = lb_policy_eject_ms(k)).
 * Before any event: OPEN with t >= open_until becomes HALF_OPEN.
 *
 *  from       event                    to          notes
 *  ---------  -----------------------  ----------  -----------------------
 *  STARTING   poll OK                  HEALTHY     slow start from t;
 *                                                  DRAINING if op drain
 *  STARTING   poll NOT_READY/UNREACH   STARTING    still loading (vLLM,
 *                                                  TGI refuse until warm)
 *  STARTING   n-th consecutive fail    OPEN        eject E(++ejections)
 *  HEALTHY    poll OK                  HEALTHY     fails = 0
 *  HEALTHY    poll NOT_READY           DRAINING    server asks to drain
 *  HEALTHY    n-th consecutive fail    OPEN        eject E(++ejections)
 *  HEALTHY    poll UNREACHABLE         DOWN        process gone: re-steer
 *  DRAINING   poll OK, no op drain     HEALTHY     flows were kept: no ramp
 *  DRAINING   poll NOT_READY           DRAINING
 *  DRAINING   n-th consecutive fail    OPEN
 *  DRAINING   poll UNREACHABLE         DOWN
 *  OPEN       t >= open_until          HALF_OPEN   trials_ok = 0
 *  OPEN       poll UNREACHABLE         DOWN        other polls ignored
 *  HALF_OPEN  poll OK / TRIAL_OK       HALF_OPEN   ++trials_ok, and at
 *                                      or HEALTHY  half_open_trials: HEALTHY
 *                                                  (slow start from t), or
 *                                                  DRAINING if op drain
 *  HALF_OPEN  poll FAIL/NOT_READY,     OPEN        eject E(++ejections):
 *             TRIAL_FAIL                           backoff
 *  HALF_OPEN  poll UNREACHABLE         DOWN
 *  DOWN       poll OK                  HEALTHY     slow start (restarted,
 *                                                  cold caches); DRAINING
 *                                                  if op drain
 *  DOWN       poll NOT_READY           STARTING    reloading
 *  DOWN       poll FAIL/UNREACH        DOWN
 *  any        DRAIN                    DRAINING    from STARTING, HEALTHY,
 *                                                  HALF_OPEN; OPEN and DOWN
 *                                                  stay (flag is kept)
 *  DRAINING   UNDRAIN, last poll OK    HEALTHY     else wait for a poll
 *  any        TICK                     (timer only)
 *
 * Every poll OK restarts the count of consecutive failures (fails = 0).
 * The ejection count (backoff) resets once a backend has stayed HEALTHY
 * for eject_max_ms: by then it has outlived the longest ejection, so a
 * new failure is a new incident, not the same flapping backend.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "policy.h"

void lb_policy_params_default(struct lb_policy_params *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->poll_interval_ms = 100;
	cfg->health_interval_ms = 1000;
	cfg->stale_ms = 500;
	cfg->fail_threshold = 3;
	cfg->eject_base_ms = 30000;
	cfg->eject_backoff = 2.0;
	cfg->eject_max_ms = 300000;
	cfg->half_open_trials = 3;
	cfg->slow_start_ms = 30000;
	cfg->slow_start_aggression = 1.0;
	cfg->slow_start_min = 0.10;
	cfg->panic_frac = 0.5;
	cfg->hysteresis = 0.05;
	cfg->max_rebuilds_per_s = 10;
	cfg->queue_sat = 5.0;
	cfg->kv_sat = 0.8;
	cfg->running_sat = 0.0;
	cfg->ewma_down = 0.7;
	cfg->ewma_up = 0.3;
	cfg->load_floor = 0.1;
	cfg->flow_idle_ms = 10000;
	cfg->speed_ewma = 0.3;
	cfg->output_tokens_default = 256;
}

/* NaN fails every comparison, so "!(x >= lo && x <= hi)" also rejects it. */
static bool in_range(double x, double lo, double hi)
{
	return x >= lo && x <= hi;
}

int lb_policy_params_check(const struct lb_policy_params *cfg, const char **field)
{
	const char *bad = NULL;

	if (cfg->poll_interval_ms == 0)
		bad = "poll_interval_ms";
	else if (cfg->health_interval_ms < cfg->poll_interval_ms)
		bad = "health_interval_ms";
	else if (cfg->stale_ms < cfg->poll_interval_ms)
		bad = "stale_ms";	/* would be stale between two polls */
	else if (cfg->fail_threshold == 0)
		bad = "fail_threshold";
	else if (cfg->eject_base_ms == 0)
		bad = "eject_base_ms";
	else if (!in_range(cfg->eject_backoff, 1.0, 100.0))
		bad = "eject_backoff";
	else if (cfg->eject_max_ms < cfg->eject_base_ms)
		bad = "eject_max_ms";
	else if (cfg->half_open_trials == 0)
		bad = "half_open_trials";
	else if (!in_range(cfg->slow_start_aggression, 1e-3, 1e3))
		bad = "slow_start_aggression";
	else if (!in_range(cfg->slow_start_min, 0.0, 1.0))
		bad = "slow_start_min";
	else if (!in_range(cfg->panic_frac, 0.0, 1.0))
		bad = "panic_frac";
	else if (!in_range(cfg->hysteresis, 0.0, 1.0))
		bad = "hysteresis";
	else if (cfg->max_rebuilds_per_s == 0 || cfg->max_rebuilds_per_s > 1000)
		bad = "max_rebuilds_per_s";
	else if (!(cfg->queue_sat > 0.0) || !isfinite(cfg->queue_sat))
		bad = "queue_sat";
	else if (!(cfg->kv_sat > 0.0) || cfg->kv_sat > 1.0)
		bad = "kv_sat";
	else if (!(cfg->running_sat >= 0.0) || !isfinite(cfg->running_sat))
		bad = "running_sat";
	else if (!in_range(cfg->ewma_down, 1e-6, 1.0))
		bad = "ewma_down";
	else if (!in_range(cfg->ewma_up, 1e-6, 1.0))
		bad = "ewma_up";
	else if (!in_range(cfg->load_floor, 0.0, 1.0))
		bad = "load_floor";
	else if (cfg->flow_idle_ms < 1000)
		bad = "flow_idle_ms";	/* below a tick: every flow idle */
	else if (!in_range(cfg->speed_ewma, 1e-6, 1.0))
		bad = "speed_ewma";
	else if (!in_range(cfg->output_tokens_default, 1.0, 1e6))
		bad = "output_tokens_default";

	if (field)
		*field = bad;
	return bad ? -EINVAL : 0;
}

void lb_policy_backend_init(struct lb_policy_backend *b, double capacity)
{
	memset(b, 0, sizeof(*b));
	b->state = LB_BE_STARTING;
	b->capacity = capacity > 0.0 && isfinite(capacity) ? capacity : 1.0;
	b->last_health = LB_H_UNREACHABLE;
}

uint64_t lb_policy_eject_ms(const struct lb_policy_params *cfg, uint32_t n)
{
	double ms = cfg->eject_base_ms;
	uint32_t i;

	/* Iterate rather than pow() so the cap stops growth early. */
	for (i = 1; i < n && ms < cfg->eject_max_ms; i++)
		ms *= cfg->eject_backoff;
	if (ms > cfg->eject_max_ms)
		ms = cfg->eject_max_ms;
	return (uint64_t)ms;
}

double lb_policy_slow_start(const struct lb_policy_params *cfg,
			    uint64_t since, uint64_t now)
{
	double dt, f;

	if (cfg->slow_start_ms == 0 || now >= since + cfg->slow_start_ms)
		return 1.0;
	/* Envoy: TimeFactor = max(t_since_join, 1) / window. */
	dt = now > since ? (double)(now - since) : 0.0;
	if (dt < 1.0)
		dt = 1.0;
	f = pow(dt / cfg->slow_start_ms, 1.0 / cfg->slow_start_aggression);
	return f > cfg->slow_start_min ? f : cfg->slow_start_min;
}

static double load_term(double v, double sat)
{
	/* Negative or non-finite gauges are exporter noise: no load. */
	if (!isfinite(v) || v <= 0.0)
		return 0.0;
	return v / sat;
}

double lb_policy_headroom(const struct lb_policy_params *cfg,
			  const struct lb_signals *sig)
{
	double load = 0.0, t;

	if (sig->has_waiting) {
		t = load_term(sig->waiting, cfg->queue_sat);
		if (t > load)
			load = t;
	}
	if (sig->has_kv) {
		t = load_term(sig->kv_use, cfg->kv_sat);
		if (t > load)
			load = t;
	}
	if (sig->has_running && cfg->running_sat > 0.0) {
		t = load_term(sig->running, cfg->running_sat);
		if (t > load)
			load = t;
	}
	return load >= 1.0 ? 0.0 : 1.0 - load;
}

static bool is_stale(const struct lb_policy_params *cfg,
		     const struct lb_policy_backend *b, uint64_t now)
{
	return !b->has_sig || (now > b->sig_at && now - b->sig_at > cfg->stale_ms);
}

double lb_policy_share(const struct lb_policy_params *cfg,
		       const struct lb_policy_backend *b, uint64_t now)
{
	double h;

	if (b->state != LB_BE_HEALTHY && b->state != LB_BE_HALF_OPEN)
		return 0.0;
	if (b->load_blind)
		h = 1.0;	/* expected-wait weighs load per flow itself */
	else if (is_stale(cfg, b, now))
		return 0.0;
	else
		h = b->headroom > cfg->load_floor ? b->headroom : cfg->load_floor;
	if (b->state == LB_BE_HALF_OPEN)
		return h * cfg->slow_start_min;
	if (b->slow_start)
		h *= lb_policy_slow_start(cfg, b->healthy_since, now);
	return h;
}

static void update_signals(const struct lb_policy_params *cfg,
			   struct lb_policy_backend *b,
			   const struct lb_signals *sig, uint64_t now)
{
	double raw = lb_policy_headroom(cfg, sig);
	double a;

	/* After a stale gap the old average says nothing: start afresh. */
	if (is_stale(cfg, b, now)) {
		b->headroom = raw;
	} else {
		a = raw < b->headroom ? cfg->ewma_down : cfg->ewma_up;
		b->headroom += a * (raw - b->headroom);
	}
	b->has_sig = true;
	b->sig_at = now;
}

static void enter_healthy(struct lb_policy_backend *b, uint64_t now, bool ramp)
{
	b->state = LB_BE_HEALTHY;
	b->fails = 0;
	b->healthy_since = now;
	b->slow_start = ramp;
}

/* No new flows, established ones kept; failures are counted afresh. */
static void enter_draining(struct lb_policy_backend *b)
{
	b->state = LB_BE_DRAINING;
	b->fails = 0;
}

/* A backend that was not serving answers OK: HEALTHY with a slow start
 * (cold caches), or DRAINING while the operator drains it. Either way a
 * poll succeeded, so the count of consecutive failures starts over. */
static void enter_serving(struct lb_policy_backend *b, uint64_t now)
{
	if (b->op_drain)
		enter_draining(b);
	else
		enter_healthy(b, now, true);
}

static void enter_open(const struct lb_policy_params *cfg,
		       struct lb_policy_backend *b, uint64_t now)
{
	if (b->ejections < UINT32_MAX)
		b->ejections++;
	b->state = LB_BE_OPEN;
	b->open_until = now + lb_policy_eject_ms(cfg, b->ejections);
	b->fails = 0;
	b->trials_ok = 0;
}

/* Count one failure; open the breaker at the threshold. */
static void count_fail(const struct lb_policy_params *cfg,
		       struct lb_policy_backend *b, uint64_t now)
{
	if (++b->fails >= cfg->fail_threshold)
		enter_open(cfg, b, now);
}

static void trial_ok(const struct lb_policy_params *cfg,
		     struct lb_policy_backend *b, uint64_t now)
{
	if (++b->trials_ok < cfg->half_open_trials)
		return;
	b->trials_ok = 0;
	enter_serving(b, now);
}

static void step_poll(const struct lb_policy_params *cfg,
		      struct lb_policy_backend *b, const struct lb_event *ev,
		      uint64_t now)
{
	enum lb_health h = ev->health;

	b->last_health = h;
	/* Load is tracked in every state so weight is right on re-entry. */
	if (ev->has_signals && (h == LB_H_OK || h == LB_H_NOT_READY))
		update_signals(cfg, b, &ev->sig, now);

	switch (b->state) {
	case LB_BE_STARTING:
		if (h == LB_H_OK) {
			enter_serving(b, now);
		} else if (h == LB_H_FAIL) {
			count_fail(cfg, b, now);
		}
		break;
	case LB_BE_HEALTHY:
		if (h == LB_H_OK) {
			b->fails = 0;
			if (b->ejections &&
			    now - b->healthy_since >= cfg->eject_max_ms)
				b->ejections = 0;
		} else if (h == LB_H_NOT_READY) {
			enter_draining(b);
		} else if (h == LB_H_FAIL) {
			count_fail(cfg, b, now);
		} else {
			b->state = LB_BE_DOWN;
		}
		break;
	case LB_BE_DRAINING:
		if (h == LB_H_OK) {
			b->fails = 0;
			if (!b->op_drain)
				enter_healthy(b, now, false);
		} else if (h == LB_H_FAIL) {
			count_fail(cfg, b, now);
		} else if (h == LB_H_UNREACHABLE) {
			b->state = LB_BE_DOWN;
		}
		break;
	case LB_BE_OPEN:
		/* The ejection runs its course; only a dead process matters. */
		if (h == LB_H_UNREACHABLE)
			b->state = LB_BE_DOWN;
		break;
	case LB_BE_HALF_OPEN:
		if (h == LB_H_OK)
			trial_ok(cfg, b, now);
		else if (h == LB_H_UNREACHABLE)
			b->state = LB_BE_DOWN;
		else
			enter_open(cfg, b, now);
		break;
	case LB_BE_DOWN:
		if (h == LB_H_OK) {
			enter_serving(b, now);
		} else if (h == LB_H_NOT_READY) {
			b->state = LB_BE_STARTING;
			b->fails = 0;
		}
		break;
	}
}

enum lb_be_state lb_policy_step(const struct lb_policy_params *cfg,
				struct lb_policy_backend *b,
				const struct lb_event *ev, uint64_t now)
{
	if (b->state == LB_BE_OPEN && now >= b->open_until) {
		b->state = LB_BE_HALF_OPEN;
		b->trials_ok = 0;
	}

	switch (ev->type) {
	case LB_EV_POLL:
		step_poll(cfg, b, ev, now);
		break;
	case LB_EV_SIGNALS:
		/* load only; the state moves on health polls */
		if (ev->has_signals && (b->last_health == LB_H_OK ||
					b->last_health == LB_H_NOT_READY))
			update_signals(cfg, b, &ev->sig, now);
		break;
	case LB_EV_TICK:
		break;
	case LB_EV_DRAIN:
		b->op_drain = true;
		if (b->state == LB_BE_STARTING || b->state == LB_BE_HEALTHY ||
		    b->state == LB_BE_HALF_OPEN)
			enter_draining(b);
		break;
	case LB_EV_UNDRAIN:
		b->op_drain = false;
		if (b->state == LB_BE_DRAINING && b->last_health == LB_H_OK)
			enter_healthy(b, now, false);
		break;
	case LB_EV_TRIAL_OK:
		if (b->state == LB_BE_HALF_OPEN)
			trial_ok(cfg, b, now);
		break;
	case LB_EV_TRIAL_FAIL:
		if (b->state == LB_BE_HALF_OPEN)
			enter_open(cfg, b, now);
		break;
	}
	return b->state;
}

/* A request count as the score counts it: absent or noise is none. */
static double requests(bool has, double v)
{
	return has && isfinite(v) && v > 0.0 ? v : 0.0;
}

double lb_policy_requests(const struct lb_signals *sig)
{
	return requests(sig->has_waiting, sig->waiting) +
	       requests(sig->has_running, sig->running);
}

uint64_t lb_policy_p2c_score(const struct lb_signals *sig, double capacity)
{
	double load = lb_policy_requests(sig);
	double score;

	if (!(capacity > 0.0) || !isfinite(capacity))
		capacity = 1.0;
	score = (double)LB_P2C_FLOW_SCORE * load / capacity;
	/* also catches +inf (a sum of two huge gauges, a tiny capacity):
	 * converting a double out of uint64_t's range is undefined */
	if (!(score < (double)LB_POLICY_P2C_SCORE_MAX))
		return LB_POLICY_P2C_SCORE_MAX;
	return (uint64_t)score;
}

static uint32_t to_weight(double cap, double max_cap, double share)
{
	double w = (double)LB_WEIGHT_MAX * (cap / max_cap) * share;

	if (!(w > 0.0))
		return 0;
	if (w >= LB_WEIGHT_MAX)
		return LB_WEIGHT_MAX;
	return (uint32_t)lround(w);
}

static bool moved(const struct lb_policy_params *cfg, uint32_t cur, uint32_t tgt)
{
	uint32_t hi = cur > tgt ? cur : tgt;
	uint32_t d = cur > tgt ? cur - tgt : tgt - cur;

	if ((cur == 0) != (tgt == 0))
		return true;
	return d > cfg->hysteresis * hi;
}

static bool takes_flows(const struct lb_policy_backend *b)
{
	return b->state == LB_BE_HEALTHY || b->state == LB_BE_HALF_OPEN;
}

/* Rules 1-3 of lb_policy_decide (policy.h): the target weights into
 * out[], and d's panic, all_saturated and available. */
static void targets(const struct lb_policy_params *cfg,
		    const struct lb_policy_backend *b, size_t n, uint64_t now,
		    uint32_t *out, struct lb_decision *d)
{
	double max_cap = 0.0;
	size_t i, eligible = 0;
	bool any = false;

	for (i = 0; i < n; i++) {
		if (b[i].capacity > max_cap)
			max_cap = b[i].capacity;
		if (!b[i].op_drain)
			eligible++;
		if (takes_flows(&b[i]))
			d->available++;
	}
	if (max_cap <= 0.0)
		max_cap = 1.0;

	if (d->available < cfg->panic_frac * eligible) {
		d->panic = true;
		for (i = 0; i < n; i++) {
			bool use = !b[i].op_drain && b[i].state != LB_BE_DOWN;

			out[i] = use ? to_weight(b[i].capacity, max_cap, 1.0) : 0;
		}
		return;
	}
	for (i = 0; i < n; i++) {
		out[i] = to_weight(b[i].capacity, max_cap,
				   lb_policy_share(cfg, &b[i], now));
		any |= out[i] != 0;
	}
	if (any || !d->available)
		return;
	d->all_saturated = true;
	for (i = 0; i < n; i++)
		out[i] = takes_flows(&b[i]) ?
			 to_weight(b[i].capacity, max_cap, 1.0) : 0;
}

/* Rules 4-5: whether the targets in out[] should replace cur[] now. */
static bool rebuild_due(const struct lb_policy_params *cfg,
			const struct lb_publish_state *ps, size_t n,
			uint64_t now, const uint32_t *cur, const uint32_t *out)
{
	bool change = false, removal = false;

	if (!ps->published)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (!moved(cfg, cur[i], out[i]))
			continue;
		change = true;
		if (out[i] == 0)
			removal = true;
	}
	if (!change)
		return false;
	/* a weight going to 0 is never delayed by the rate limit */
	return removal || now >= ps->last_rebuild + 1000 / cfg->max_rebuilds_per_s;
}

struct lb_decision lb_policy_decide(const struct lb_policy_params *cfg,
				    struct lb_publish_state *ps,
				    const struct lb_policy_backend *b, size_t n,
				    uint64_t now, const uint32_t *cur,
				    uint32_t *out)
{
	struct lb_decision d = { 0 };

	targets(cfg, b, n, now, out, &d);
	d.rebuild = rebuild_due(cfg, ps, n, now, cur, out);
	if (d.rebuild) {
		ps->published = true;
		ps->last_rebuild = now;
	} else {
		memcpy(out, cur, n * sizeof(*out));
	}
	return d;
}
