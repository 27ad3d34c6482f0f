/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_policy.c - unit tests of the balancing policy (agent/policy.c):
 * state machine, weights, slow start, the publish decision and the p2c
 * load score, all with injected time (ms), so each rule is checked at
 * exact instants.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lb_names.h"
#include "policy.h"

#define EPS 1e-9

static struct lb_policy_params cfg;

static int setup(void **state)
{
	(void)state;
	lb_policy_params_default(&cfg);
	return 0;
}

static struct lb_event poll_ev(enum lb_health h, double waiting, double kv)
{
	struct lb_event ev = {
		.type = LB_EV_POLL,
		.health = h,
		.has_signals = h == LB_H_OK || h == LB_H_NOT_READY,
		.sig = {
			.waiting = waiting, .has_waiting = true,
			.running = 4, .has_running = true,
			.kv_use = kv, .has_kv = true,
		},
	};
	return ev;
}

static enum lb_be_state poll(struct lb_policy_backend *b, enum lb_health h,
			     uint64_t t)
{
	struct lb_event ev = poll_ev(h, 0, 0.0);	/* idle */

	return lb_policy_step(&cfg, b, &ev, t);
}

static enum lb_be_state ev(struct lb_policy_backend *b, enum lb_event_type type,
			   uint64_t t)
{
	struct lb_event e = { .type = type };

	return lb_policy_step(&cfg, b, &e, t);
}

/* A backend polled OK at t0 with slow start already over. */
static void healthy_backend(struct lb_policy_backend *b, uint64_t *t)
{
	lb_policy_backend_init(b, 1.0);
	assert_int_equal(poll(b, LB_H_OK, *t), LB_BE_HEALTHY);
	*t += cfg.slow_start_ms;
	poll(b, LB_H_OK, *t);
}

static void test_defaults_valid(void **state)
{
	const char *field = "x";
	(void)state;

	assert_int_equal(lb_policy_params_check(&cfg, &field), 0);
	assert_null(field);
	assert_int_equal(cfg.poll_interval_ms, 100);
	cfg.kv_sat = 1.5;
	assert_int_equal(lb_policy_params_check(&cfg, &field), -EINVAL);
	assert_string_equal(field, "kv_sat");
	cfg.kv_sat = 0.8;
	cfg.panic_frac = NAN;
	assert_int_equal(lb_policy_params_check(&cfg, &field), -EINVAL);
	assert_string_equal(field, "panic_frac");
}

static void test_headroom_formula(void **state)
{
	struct lb_signals s = { .has_waiting = true, .has_kv = true,
				.has_running = true, .running = 100 };
	(void)state;

	assert_true(fabs(lb_policy_headroom(&cfg, &s) - 1.0) < EPS);
	s.waiting = 1;		/* 1/5 */
	s.kv_use = 0.4;		/* 0.4/0.8 = 0.5 dominates */
	assert_true(fabs(lb_policy_headroom(&cfg, &s) - 0.5) < EPS);
	s.waiting = 5;		/* at GIE's queue threshold */
	assert_true(lb_policy_headroom(&cfg, &s) == 0.0);
	s.waiting = 0;
	s.kv_use = 0.9;		/* past KV threshold */
	assert_true(lb_policy_headroom(&cfg, &s) == 0.0);
	/* running counts only with a batch capacity */
	s.kv_use = 0;
	cfg.running_sat = 200;
	assert_true(fabs(lb_policy_headroom(&cfg, &s) - 0.5) < EPS);
	/* TGI has no KV: the term is left out */
	s.has_kv = false;
	s.kv_use = 5;
	assert_true(fabs(lb_policy_headroom(&cfg, &s) - 0.5) < EPS);
}

static void test_saturating_loses_weight(void **state)
{
	struct lb_policy_backend b;
	struct lb_event e;
	uint64_t t = 1000;
	double before;
	(void)state;

	healthy_backend(&b, &t);
	before = lb_policy_share(&cfg, &b, t);
	assert_true(before > 0.8);

	e = poll_ev(LB_H_OK, 12, 0.95);	/* saturating */
	t += cfg.poll_interval_ms;
	lb_policy_step(&cfg, &b, &e, t);
	assert_true(lb_policy_share(&cfg, &b, t) < before);
	t += cfg.poll_interval_ms;
	lb_policy_step(&cfg, &b, &e, t);
	/* the headroom is gone, the weight stops at the floor */
	assert_true(b.headroom < LB_POLICY_SAT_HEADROOM);
	assert_true(fabs(lb_policy_share(&cfg, &b, t) - cfg.load_floor) < EPS);
	cfg.load_floor = 0;
	assert_true(lb_policy_share(&cfg, &b, t) < LB_POLICY_SAT_HEADROOM);
	cfg.load_floor = 0.1;

	/* recovery is slower than the fall, but monotone */
	e = poll_ev(LB_H_OK, 0, 0.1);
	t += cfg.poll_interval_ms;
	lb_policy_step(&cfg, &b, &e, t);
	before = lb_policy_share(&cfg, &b, t);
	assert_true(before > LB_POLICY_SAT_HEADROOM && before < 0.5);
	t += cfg.poll_interval_ms;
	lb_policy_step(&cfg, &b, &e, t);
	assert_true(lb_policy_share(&cfg, &b, t) > before);
}

/* expected-wait VIPs: the weight is capacity and state, never load */
static void test_load_blind(void **state)
{
	struct lb_policy_backend b;
	struct lb_event e;
	uint64_t t = 1000;
	(void)state;

	healthy_backend(&b, &t);
	b.load_blind = true;
	e = poll_ev(LB_H_OK, 50, 1.0);	/* far past saturation */
	for (int i = 0; i < 5; i++) {
		t += cfg.poll_interval_ms;
		lb_policy_step(&cfg, &b, &e, t);
	}
	assert_true(b.headroom < LB_POLICY_SAT_HEADROOM);
	assert_true(fabs(lb_policy_share(&cfg, &b, t) - 1.0) < EPS);
	/* stale metrics do not drain it either: health decides */
	t += 10 * cfg.stale_ms;
	assert_true(fabs(lb_policy_share(&cfg, &b, t) - 1.0) < EPS);
	/* a state that takes no new flows still does */
	e = poll_ev(LB_H_NOT_READY, 0, 0);
	lb_policy_step(&cfg, &b, &e, t);
	assert_int_equal(b.state, LB_BE_DRAINING);
	assert_true(lb_policy_share(&cfg, &b, t) == 0.0);
}

static void test_stale_is_saturated(void **state)
{
	struct lb_policy_backend b;
	struct lb_event e;
	uint64_t t = 0;
	(void)state;

	healthy_backend(&b, &t);
	assert_true(lb_policy_share(&cfg, &b, t) > 0.8);
	/* health keeps answering but /metrics does not */
	e = poll_ev(LB_H_OK, 0, 0.1);
	e.has_signals = false;
	t += cfg.stale_ms;
	lb_policy_step(&cfg, &b, &e, t);
	assert_true(lb_policy_share(&cfg, &b, t) > 0.8);	/* at the limit */
	t += 1;
	lb_policy_step(&cfg, &b, &e, t);
	assert_int_equal(b.state, LB_BE_HEALTHY);
	assert_true(lb_policy_share(&cfg, &b, t) == 0.0);
}

static void test_fail_opens_breaker(void **state)
{
	struct lb_policy_backend b;
	uint64_t t = 0;
	uint32_t i;
	(void)state;

	healthy_backend(&b, &t);
	for (i = 1; i < cfg.fail_threshold; i++)
		assert_int_equal(poll(&b, LB_H_FAIL, t += 100), LB_BE_HEALTHY);
	/* an OK poll in between resets the count */
	poll(&b, LB_H_OK, t += 100);
	for (i = 1; i < cfg.fail_threshold; i++)
		assert_int_equal(poll(&b, LB_H_FAIL, t += 100), LB_BE_HEALTHY);
	assert_int_equal(poll(&b, LB_H_FAIL, t += 100), LB_BE_OPEN);
	assert_int_equal(b.open_until, t + cfg.eject_base_ms);
	assert_true(lb_policy_share(&cfg, &b, t) == 0.0);
}

static void test_half_open_then_healthy(void **state)
{
	struct lb_policy_backend b;
	uint64_t t = 0, opened;
	uint32_t i;
	(void)state;

	healthy_backend(&b, &t);
	for (i = 0; i < cfg.fail_threshold; i++)
		poll(&b, LB_H_FAIL, t += 100);
	assert_int_equal(b.state, LB_BE_OPEN);
	opened = t;

	/* OK polls during the ejection do not shorten it */
	assert_int_equal(poll(&b, LB_H_OK, opened + cfg.eject_base_ms - 1),
			 LB_BE_OPEN);
	assert_int_equal(ev(&b, LB_EV_TICK, opened + cfg.eject_base_ms),
			 LB_BE_HALF_OPEN);
	t = opened + cfg.eject_base_ms;
	/* trial weight: slow-start minimum of the headroom */
	assert_true(fabs(lb_policy_share(&cfg, &b, t) -
			 b.headroom * cfg.slow_start_min) < EPS);
	assert_true(lb_policy_share(&cfg, &b, t) > 0.0);

	for (i = 1; i < cfg.half_open_trials; i++)
		assert_int_equal(ev(&b, LB_EV_TRIAL_OK, t += 10),
				 LB_BE_HALF_OPEN);
	assert_int_equal(poll(&b, LB_H_OK, t += 100), LB_BE_HEALTHY);
	/* it ramps again from the minimum */
	assert_true(b.slow_start);
	assert_int_equal(b.healthy_since, t);
}

static uint64_t open_and_reopen(struct lb_policy_backend *b, uint64_t *t)
{
	uint64_t len;

	assert_int_equal(ev(b, LB_EV_TICK, b->open_until), LB_BE_HALF_OPEN);
	*t = b->open_until;
	assert_int_equal(ev(b, LB_EV_TRIAL_FAIL, *t), LB_BE_OPEN);
	len = b->open_until - *t;
	return len;
}

static void test_backoff_grows_and_caps(void **state)
{
	struct lb_policy_backend b;
	uint64_t t = 0;
	uint32_t i;
	(void)state;

	healthy_backend(&b, &t);
	for (i = 0; i < cfg.fail_threshold; i++)
		poll(&b, LB_H_FAIL, t += 100);
	assert_int_equal(b.open_until - t, 30000);
	assert_int_equal(open_and_reopen(&b, &t), 60000);
	assert_int_equal(open_and_reopen(&b, &t), 120000);
	assert_int_equal(open_and_reopen(&b, &t), 240000);
	assert_int_equal(open_and_reopen(&b, &t), 300000);	/* capped */
	assert_int_equal(open_and_reopen(&b, &t), 300000);
	/* a failing poll in HALF_OPEN backs off the same way */
	ev(&b, LB_EV_TICK, b.open_until);
	assert_int_equal(poll(&b, LB_H_FAIL, b.open_until), LB_BE_OPEN);
	assert_int_equal(lb_policy_eject_ms(&cfg, 1000000), 300000);

	/* after eject_max_ms of sustained health the backoff resets */
	t = b.open_until;
	ev(&b, LB_EV_TICK, t);
	for (i = 0; i < cfg.half_open_trials; i++)
		poll(&b, LB_H_OK, t += 100);
	assert_int_equal(b.state, LB_BE_HEALTHY);
	assert_true(b.ejections > 0);
	poll(&b, LB_H_OK, t += cfg.eject_max_ms);
	assert_int_equal(b.ejections, 0);
}

static void test_unreachable_down(void **state)
{
	struct lb_policy_backend b;
	uint64_t t = 0;
	(void)state;

	/* refused while loading is normal for a starting backend */
	lb_policy_backend_init(&b, 1.0);
	assert_int_equal(poll(&b, LB_H_UNREACHABLE, t), LB_BE_STARTING);

	healthy_backend(&b, &t);
	assert_int_equal(poll(&b, LB_H_UNREACHABLE, t += 100), LB_BE_DOWN);
	assert_true(lb_policy_share(&cfg, &b, t) == 0.0);
	assert_int_equal(poll(&b, LB_H_FAIL, t += 100), LB_BE_DOWN);
	assert_int_equal(poll(&b, LB_H_NOT_READY, t += 100), LB_BE_STARTING);
	assert_int_equal(poll(&b, LB_H_OK, t += 100), LB_BE_HEALTHY);
	assert_true(b.slow_start);

	/* an open breaker whose process dies goes DOWN too */
	t += cfg.slow_start_ms;
	while (b.state != LB_BE_OPEN)
		poll(&b, LB_H_FAIL, t += 100);
	assert_int_equal(poll(&b, LB_H_UNREACHABLE, t += 100), LB_BE_DOWN);
}

static void test_draining(void **state)
{
	struct lb_policy_backend b;
	uint64_t t = 0;
	(void)state;

	/* 503 after healthy */
	healthy_backend(&b, &t);
	assert_int_equal(poll(&b, LB_H_NOT_READY, t += 100), LB_BE_DRAINING);
	assert_true(lb_policy_share(&cfg, &b, t) == 0.0);
	/* back to 200: kept its flows, so no slow start */
	assert_int_equal(poll(&b, LB_H_OK, t += 100), LB_BE_HEALTHY);
	assert_false(b.slow_start);

	/* 503 while starting is not a drain */
	lb_policy_backend_init(&b, 1.0);
	assert_int_equal(poll(&b, LB_H_NOT_READY, t += 100), LB_BE_STARTING);

	/* operator drain is sticky */
	healthy_backend(&b, &t);
	assert_int_equal(ev(&b, LB_EV_DRAIN, t += 100), LB_BE_DRAINING);
	assert_int_equal(poll(&b, LB_H_OK, t += 100), LB_BE_DRAINING);
	assert_int_equal(ev(&b, LB_EV_UNDRAIN, t += 100), LB_BE_HEALTHY);
}

static void test_slow_start_envoy(void **state)
{
	struct lb_policy_backend b;
	const uint64_t t0 = 5000, w = 30000;
	const double frac[] = { 0.0, 0.25, 0.5, 1.0 };
	const double aggr[] = { 1.0, 2.0 };
	size_t i, j;
	(void)state;

	for (j = 0; j < 2; j++) {
		cfg.slow_start_aggression = aggr[j];
		for (i = 0; i < 4; i++) {
			uint64_t dt = (uint64_t)(frac[i] * w);
			double tf = (dt < 1 ? 1.0 : (double)dt) / w;
			double want = pow(tf, 1.0 / aggr[j]);

			if (want < 0.10)
				want = 0.10;
			if (dt >= w)
				want = 1.0;
			assert_true(fabs(lb_policy_slow_start(&cfg, t0, t0 + dt) -
					 want) < EPS);
		}
	}
	/* explicit values, aggression 1: 10 %, 25 %, 50 %, 100 % */
	cfg.slow_start_aggression = 1.0;
	assert_true(fabs(lb_policy_slow_start(&cfg, t0, t0) - 0.10) < EPS);
	assert_true(fabs(lb_policy_slow_start(&cfg, t0, t0 + 7500) - 0.25) < EPS);
	assert_true(fabs(lb_policy_slow_start(&cfg, t0, t0 + 15000) - 0.5) < EPS);
	assert_true(fabs(lb_policy_slow_start(&cfg, t0, t0 + w) - 1.0) < EPS);
	/* aggression 2 at 25 %: sqrt(0.25) */
	cfg.slow_start_aggression = 2.0;
	assert_true(fabs(lb_policy_slow_start(&cfg, t0, t0 + 7500) - 0.5) < EPS);
	cfg.slow_start_aggression = 1.0;

	/* the share of a freshly healthy idle backend follows the ramp */
	lb_policy_backend_init(&b, 1.0);
	poll(&b, LB_H_OK, t0);
	assert_true(fabs(lb_policy_share(&cfg, &b, t0) - 0.10) < EPS);
	poll(&b, LB_H_OK, t0 + 15000);
	assert_true(fabs(lb_policy_share(&cfg, &b, t0 + 15000) -
			 0.5 * b.headroom) < EPS);
}

/* n idle HEALTHY backends past slow start, all at time t. */
static void fleet(struct lb_policy_backend *b, size_t n, uint64_t *t)
{
	size_t i;

	for (i = 0; i < n; i++) {
		lb_policy_backend_init(&b[i], 1.0);
		poll(&b[i], LB_H_OK, *t);
	}
	*t += cfg.slow_start_ms;
	for (i = 0; i < n; i++)
		poll(&b[i], LB_H_OK, *t);
}

static void test_decide_capacity_scale(void **state)
{
	struct lb_policy_backend b[2];
	struct lb_publish_state ps = { 0 };
	struct lb_decision d;
	uint32_t out[2];
	uint64_t t = 0;
	(void)state;

	fleet(b, 2, &t);
	b[0].capacity = 2.0;	/* twice as fast GPU */
	d = lb_policy_decide(&cfg, &ps, b, 2, t, NULL, out);
	assert_true(d.rebuild);
	assert_false(d.panic);
	assert_int_equal(out[0], LB_WEIGHT_MAX);
	assert_int_equal(out[1], LB_WEIGHT_MAX / 2);
}

static void test_hysteresis(void **state)
{
	struct lb_policy_backend b[2];
	struct lb_publish_state ps = { 0 };
	struct lb_decision d;
	uint32_t cur[2], out[2];
	uint64_t t = 0;
	(void)state;

	fleet(b, 2, &t);
	d = lb_policy_decide(&cfg, &ps, b, 2, t, NULL, cur);
	assert_true(d.rebuild);

	/* a 2 % move is suppressed, well after the rate-limit gap */
	t += 1000;
	b[0].headroom *= 0.98;
	poll(&b[1], LB_H_OK, t);
	b[0].sig_at = t;
	d = lb_policy_decide(&cfg, &ps, b, 2, t, cur, out);
	assert_false(d.rebuild);
	assert_memory_equal(out, cur, sizeof(cur));

	/* a 10 % move goes through */
	t += 1000;
	b[0].headroom = 0.9;
	b[0].sig_at = t;
	b[1].sig_at = t;
	d = lb_policy_decide(&cfg, &ps, b, 2, t, cur, out);
	assert_true(d.rebuild);
	assert_int_equal(out[0], 900000);
}

static void test_rate_limit(void **state)
{
	struct lb_policy_backend b[2];
	struct lb_publish_state ps = { 0 };
	struct lb_decision d;
	uint32_t cur[2], out[2];
	uint64_t t = 0, end;
	unsigned int rebuilds = 0, i = 0;
	(void)state;

	fleet(b, 2, &t);
	lb_policy_decide(&cfg, &ps, b, 2, t, NULL, cur);
	/* weight flips 50 % every 10 ms for one second */
	for (end = t + 1000; t < end; t += 10, i++) {
		b[0].headroom = (i & 1) ? 1.0 : 0.5;
		b[0].sig_at = b[1].sig_at = t;
		d = lb_policy_decide(&cfg, &ps, b, 2, t, cur, out);
		if (d.rebuild)
			rebuilds++;
		memcpy(cur, out, sizeof(cur));
	}
	assert_true(rebuilds <= cfg.max_rebuilds_per_s);
	assert_true(rebuilds >= cfg.max_rebuilds_per_s - 1);

	/* but a weight falling to zero is never delayed */
	ps.last_rebuild = t;
	b[0].sig_at = b[1].sig_at = t;
	b[0].state = LB_BE_OPEN;
	d = lb_policy_decide(&cfg, &ps, b, 2, t + 1, cur, out);
	assert_true(d.rebuild);
	assert_int_equal(out[0], 0);
}

static void test_panic_fails_open(void **state)
{
	struct lb_policy_backend b[4];
	struct lb_publish_state ps = { 0 };
	struct lb_decision d;
	uint32_t cur[4], out[4];
	uint64_t t = 0;
	(void)state;

	fleet(b, 4, &t);
	/* 2 of 4 available: exactly 50 %, no panic */
	b[0].state = LB_BE_OPEN;
	b[1].state = LB_BE_DOWN;
	d = lb_policy_decide(&cfg, &ps, b, 4, t, NULL, out);
	memcpy(cur, out, sizeof(cur));
	assert_false(d.panic);
	assert_int_equal(d.available, 2);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 0);
	assert_true(out[2] > 0 && out[3] > 0);

	/* 1 of 4: panic, every non-DOWN backend at capacity weight */
	b[2].state = LB_BE_OPEN;
	b[3].headroom = 0.3;
	t += 1000 / cfg.max_rebuilds_per_s;	/* past the rate limit */
	d = lb_policy_decide(&cfg, &ps, b, 4, t, cur, out);
	memcpy(cur, out, sizeof(cur));
	assert_true(d.panic);
	assert_true(d.rebuild);
	assert_int_equal(out[0], LB_WEIGHT_MAX);
	assert_int_equal(out[1], 0);
	assert_int_equal(out[2], LB_WEIGHT_MAX);
	assert_int_equal(out[3], LB_WEIGHT_MAX);

	/* operator-drained backends are neither counted nor used */
	fleet(b, 4, &t);
	ev(&b[0], LB_EV_DRAIN, t);
	ev(&b[1], LB_EV_DRAIN, t);
	d = lb_policy_decide(&cfg, &ps, b, 4, t, cur, out);
	assert_false(d.panic);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 0);
}

static void test_all_saturated_least_bad(void **state)
{
	struct lb_policy_backend b[2];
	struct lb_publish_state ps = { 0 };
	struct lb_decision d;
	uint32_t out[2];
	uint64_t t = 0;
	(void)state;

	fleet(b, 2, &t);
	/* metrics path broken for everyone: stale everywhere */
	t += cfg.stale_ms + 1;
	d = lb_policy_decide(&cfg, &ps, b, 2, t, NULL, out);
	assert_false(d.panic);
	assert_true(d.all_saturated);
	assert_int_equal(out[0], LB_WEIGHT_MAX);
	assert_int_equal(out[1], LB_WEIGHT_MAX);
}

/* The state is the ABI's enum, whose 0 is HEALTHY: a backend must start
 * STARTING by init, not by a zeroed struct, and the policy's states are
 * the values the datapath reads, named by lb_names. */
static void test_init_state_is_abi_starting(void **state)
{
	struct lb_policy_backend b;
	uint64_t t = 0;
	(void)state;

	memset(&b, 0, sizeof(b));
	lb_policy_backend_init(&b, 1.0);
	assert_int_equal(b.state, LB_BE_STARTING);
	assert_int_equal(LB_BE_STARTING, 1);
	assert_string_equal(lb_state_name(b.state), "starting");
	assert_int_equal(poll(&b, LB_H_OK, t), LB_BE_HEALTHY);
	assert_int_equal(b.state, 0);	/* as lb_backend.state says HEALTHY */
	assert_string_equal(lb_state_name(b.state), "healthy");
}

/* Consecutive failures count from the last OK poll, also when that OK
 * takes an operator-drained backend from STARTING to DRAINING: one more
 * failure then must not open the breaker. */
static void test_ok_poll_restarts_fail_count(void **state)
{
	struct lb_policy_backend b;
	uint64_t t = 0;
	(void)state;

	lb_policy_backend_init(&b, 1.0);
	assert_int_equal(poll(&b, LB_H_UNREACHABLE, t), LB_BE_STARTING);
	while (b.state != LB_BE_OPEN)
		poll(&b, LB_H_FAIL, t += 100);
	assert_int_equal(ev(&b, LB_EV_DRAIN, t += 100), LB_BE_OPEN);
	assert_int_equal(poll(&b, LB_H_UNREACHABLE, t += 100), LB_BE_DOWN);
	assert_int_equal(poll(&b, LB_H_NOT_READY, t += 100), LB_BE_STARTING);
	assert_int_equal(poll(&b, LB_H_FAIL, t += 100), LB_BE_STARTING);
	assert_int_equal(poll(&b, LB_H_FAIL, t += 100), LB_BE_STARTING);
	assert_int_equal(poll(&b, LB_H_OK, t += 100), LB_BE_DRAINING);
	assert_int_equal(b.fails, 0);
	assert_int_equal(poll(&b, LB_H_FAIL, t += 100), LB_BE_DRAINING);
	assert_int_equal(poll(&b, LB_H_FAIL, t += 100), LB_BE_DRAINING);
	assert_int_equal(poll(&b, LB_H_FAIL, t += 100), LB_BE_OPEN);
}

static struct lb_signals sig2(double waiting, double running)
{
	struct lb_signals s = { .waiting = waiting, .has_waiting = true,
				.running = running, .has_running = true,
				.kv_use = 0.99, .has_kv = true };
	return s;
}

/* score = LB_P2C_FLOW_SCORE x (waiting + running) / capacity, in the
 * datapath's unit: one request at capacity 1 = one flow sent. */
static void test_p2c_score_formula(void **state)
{
	struct lb_signals s = sig2(3, 5);
	(void)state;

	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 8 * LB_P2C_FLOW_SCORE);
	/* twice as fast, half as loaded; half as fast, twice */
	assert_int_equal(lb_policy_p2c_score(&s, 2.0), 4 * LB_P2C_FLOW_SCORE);
	assert_int_equal(lb_policy_p2c_score(&s, 0.5), 16 * LB_P2C_FLOW_SCORE);
	/* KV use is not a request: it does not count */
	s.kv_use = 0.0;
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 8 * LB_P2C_FLOW_SCORE);
	/* fractions (summed over DP ranks, averaged gauges) round down */
	s = sig2(0.5, 0.2);
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 700);
	s = sig2(1, 0);
	assert_int_equal(lb_policy_p2c_score(&s, 3.0), 333);
	/* idle */
	s = sig2(0, 0);
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 0);
}

/* An engine without a signal (or a scrape that lacked it) scores on the
 * rest; exporter noise counts as no load; a bad capacity counts as 1. */
static void test_p2c_score_missing_signals(void **state)
{
	struct lb_signals s = sig2(4, 6);
	(void)state;

	s.has_waiting = false;		/* value left behind: ignored */
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 6000);
	s.has_waiting = true;
	s.has_running = false;
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 4000);
	s.has_waiting = false;
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 0);
	memset(&s, 0, sizeof(s));	/* never scraped */
	assert_int_equal(lb_policy_p2c_score(&s, 2.0), 0);

	s = sig2(-3, 2);		/* negative gauge: noise, not credit */
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 2000);
	s = sig2(NAN, 2);
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 2000);
	s = sig2(2, -INFINITY);
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 2000);
	s = sig2(INFINITY, 2);		/* +Inf is not a count either */
	assert_int_equal(lb_policy_p2c_score(&s, 1.0), 2000);

	s = sig2(1, 1);
	assert_int_equal(lb_policy_p2c_score(&s, 0.0), 2000);
	assert_int_equal(lb_policy_p2c_score(&s, -2.0), 2000);
	assert_int_equal(lb_policy_p2c_score(&s, NAN), 2000);
	assert_int_equal(lb_policy_p2c_score(&s, INFINITY), 2000);
}

/* The u64 score never wraps or hits undefined conversion: it is clamped
 * to LB_POLICY_P2C_SCORE_MAX, monotone up to it, and the datapath's
 * score + sent x LB_P2C_FLOW_SCORE stays below ~0 (no entry) for far more
 * flows than one poll interval sends. */
static void test_p2c_score_clamps(void **state)
{
	struct lb_signals s;
	uint64_t below, sent = 1000000000000ull;	/* 10^12 flows */
	(void)state;

	/* just under the bound: exact (a multiple of 1024, exact in double) */
	s = sig2(9.2e15, 0);
	below = lb_policy_p2c_score(&s, 1.0);
	assert_true(below == 9200000000000000000ull);
	assert_true(below < LB_POLICY_P2C_SCORE_MAX);
	/* past it: clamped, not wrapped */
	s = sig2(9.3e15, 0);
	assert_true(lb_policy_p2c_score(&s, 1.0) == LB_POLICY_P2C_SCORE_MAX);
	s = sig2(1e300, 1e300);
	assert_true(lb_policy_p2c_score(&s, 1.0) == LB_POLICY_P2C_SCORE_MAX);
	s = sig2(DBL_MAX, DBL_MAX);	/* the sum is +inf */
	assert_true(lb_policy_p2c_score(&s, 1.0) == LB_POLICY_P2C_SCORE_MAX);
	s = sig2(1, 0);			/* a tiny capacity: 1e303 */
	assert_true(lb_policy_p2c_score(&s, 1e-300) == LB_POLICY_P2C_SCORE_MAX);
	s = sig2(1, 0);			/* a denormal capacity: the quotient is +inf */
	assert_true(lb_policy_p2c_score(&s, DBL_MIN / 4) == LB_POLICY_P2C_SCORE_MAX);

	assert_true(LB_POLICY_P2C_SCORE_MAX == UINT64_MAX / 2);
	assert_true(LB_POLICY_P2C_SCORE_MAX + sent * LB_P2C_FLOW_SCORE >
		    LB_POLICY_P2C_SCORE_MAX);
	assert_true(LB_POLICY_P2C_SCORE_MAX + sent * LB_P2C_FLOW_SCORE < ~0ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults_valid, setup),
		cmocka_unit_test_setup(test_headroom_formula, setup),
		cmocka_unit_test_setup(test_load_blind, setup),
		cmocka_unit_test_setup(test_saturating_loses_weight, setup),
		cmocka_unit_test_setup(test_stale_is_saturated, setup),
		cmocka_unit_test_setup(test_fail_opens_breaker, setup),
		cmocka_unit_test_setup(test_half_open_then_healthy, setup),
		cmocka_unit_test_setup(test_backoff_grows_and_caps, setup),
		cmocka_unit_test_setup(test_unreachable_down, setup),
		cmocka_unit_test_setup(test_draining, setup),
		cmocka_unit_test_setup(test_slow_start_envoy, setup),
		cmocka_unit_test_setup(test_decide_capacity_scale, setup),
		cmocka_unit_test_setup(test_hysteresis, setup),
		cmocka_unit_test_setup(test_rate_limit, setup),
		cmocka_unit_test_setup(test_panic_fails_open, setup),
		cmocka_unit_test_setup(test_all_saturated_least_bad, setup),
		cmocka_unit_test_setup(test_init_state_is_abi_starting, setup),
		cmocka_unit_test_setup(test_ok_poll_restarts_fail_count, setup),
		cmocka_unit_test_setup(test_p2c_score_formula, setup),
		cmocka_unit_test_setup(test_p2c_score_missing_signals, setup),
		cmocka_unit_test_setup(test_p2c_score_clamps, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
