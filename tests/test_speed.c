// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_speed.c - expected-wait's inputs (agent/speed.c): decode speed from
 * the engines' counters, the VIP's output length and the slot wait
 * published to the datapath, with made-up scrapes and time.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "inferlb.h"
#include "speed.h"

#define EPS 1e-6

static struct lb_signals scrape(double gen, double done, double running)
{
	return (struct lb_signals){
		.gen_tokens = gen, .has_gen_tokens = true,
		.completed = done, .has_completed = true,
		.running = running, .has_running = true,
	};
}

/* 8 requests running, 100 tokens/s each: 80 tokens per 100 ms poll */
static void test_speed_from_counters(void **state)
{
	struct lb_speed sp = { 0 };
	struct lb_signals s;
	double dg, dd;
	(void)state;

	s = scrape(1000, 10, 8);
	assert_false(lb_speed_feed(&sp, &s, 1000, true, 0.3, &dg, &dd));
	assert_true(dg == 0 && dd == 0);	/* no base yet */
	assert_true(sp.tok_s == 0);
	s = scrape(1080, 11, 8);
	assert_true(lb_speed_feed(&sp, &s, 1100, true, 0.3, &dg, &dd));
	assert_true(fabs(dg - 80) < EPS && fabs(dd - 1) < EPS);
	assert_true(fabs(sp.tok_s - 100) < EPS);	/* first sample sets it */
	/* slowed 4x: the EWMA moves 30 % of the way per poll */
	s = scrape(1100, 11, 8);
	assert_true(lb_speed_feed(&sp, &s, 1200, true, 0.3, &dg, &dd));
	assert_true(fabs(sp.tok_s - (100 + 0.3 * (25 - 100))) < EPS);
	for (int i = 0; i < 20; i++) {
		s.gen_tokens += 20;
		lb_speed_feed(&sp, &s, 1300 + 100 * i, true, 0.3, &dg, &dd);
	}
	assert_true(fabs(sp.tok_s - 25) < 0.1);
}

static void test_speed_no_sample(void **state)
{
	struct lb_speed sp = { 0 };
	struct lb_signals s;
	double dg, dd, v;
	(void)state;

	s = scrape(1000, 10, 4);
	lb_speed_feed(&sp, &s, 1000, true, 0.5, &dg, &dd);
	s = scrape(1040, 10, 4);
	lb_speed_feed(&sp, &s, 1100, true, 0.5, &dg, &dd);
	v = sp.tok_s;
	assert_true(fabs(v - 100) < EPS);
	/* an idle batch (running 0 at either end) says nothing of speed */
	s = scrape(1050, 12, 0);
	assert_false(lb_speed_feed(&sp, &s, 1200, true, 0.5, &dg, &dd));
	s = scrape(1060, 12, 4);
	assert_false(lb_speed_feed(&sp, &s, 1300, true, 0.5, &dg, &dd));
	assert_true(sp.tok_s == v);
	/* a counter that went back (restarted worker): a new base, no
	 * sample, no negative increment */
	s = scrape(5, 0, 4);
	assert_false(lb_speed_feed(&sp, &s, 1400, true, 0.5, &dg, &dd));
	assert_true(dg == 0 && dd == 0);
	assert_true(sp.tok_s == v);
	/* two scrapes too close together (an early poll) */
	s = scrape(45, 0, 4);
	assert_false(lb_speed_feed(&sp, &s, 1405, true, 0.5, &dg, &dd));
	/* no token counter at all (the engine has none): never a speed */
	{
		struct lb_speed z = { 0 };
		struct lb_signals n = { .running = 4, .has_running = true };

		lb_speed_feed(&z, &n, 1000, true, 0.5, &dg, &dd);
		assert_false(lb_speed_feed(&z, &n, 1100, true, 0.5, &dg, &dd));
		assert_true(z.tok_s == 0);
	}
}

/* SGLang, TGI, Triton credit a request's tokens when it finishes: a
 * sample per window of several finished requests, not per scrape */
static void test_speed_finish_credited(void **state)
{
	struct lb_speed sp = { 0 };
	struct lb_signals s = scrape(0, 0, 4);
	double dg, dd, gen = 0, done = 0;
	uint64_t t = 1000;
	int samples = 0;
	(void)state;

	lb_speed_feed(&sp, &s, t, false, 0.3, &dg, &dd);
	/* 4 running at 50 tokens/s each, 100-token requests: one finishes
	 * every 0.5 s, crediting 100 tokens at once */
	for (int i = 1; i <= 40; i++) {
		t += 100;
		if (i % 5 == 0) {
			gen += 100;
			done += 1;
		}
		s = scrape(gen, done, 4);
		samples += lb_speed_feed(&sp, &s, t, false, 0.3, &dg, &dd);
		/* never a sample from a single scrape's burst of tokens */
		if (i < 20)
			assert_int_equal(samples, 0);
	}
	/* 4 s: two windows of 4 finished requests (2 s each) */
	assert_int_equal(samples, 2);
	assert_true(fabs(sp.tok_s - 50) < EPS);
	/* the same scrapes read per step would have sampled the bursts */
	{
		struct lb_speed q = { 0 };

		s = scrape(0, 0, 4);
		lb_speed_feed(&q, &s, 1000, true, 0.3, &dg, &dd);
		s = scrape(100, 1, 4);
		assert_true(lb_speed_feed(&q, &s, 1100, true, 0.3, &dg, &dd));
		assert_true(q.tok_s > 200);	/* 250: why the window exists */
	}
}

static void test_output_length(void **state)
{
	struct lb_outlen o = { 0 };
	(void)state;

	assert_true(lb_outlen_mean(&o, 256) == 256);
	lb_outlen_add(&o, 500, 0);	/* tokens, nothing finished yet */
	assert_true(lb_outlen_mean(&o, 256) == 256);
	for (int i = 0; i < 100; i++)
		lb_outlen_add(&o, 640, 10);
	assert_true(fabs(lb_outlen_mean(&o, 256) - 64) < 0.5);
	/* the mix changes: the mean follows within a few hundred scrapes */
	for (int i = 0; i < 2000; i++)
		lb_outlen_add(&o, 2000, 10);
	assert_true(fabs(lb_outlen_mean(&o, 256) - 200) < 1);
}

static void test_slot_wait(void **state)
{
	struct lb_speed_in in[4] = {
		{ .tok_s = 100, .capacity = 1, .slots = 8 },
		{ .tok_s = 50, .capacity = 0.5, .slots = 8 },
		{ .tok_s = 0, .capacity = 2, .slots = 4 },	/* not measured */
		{ .tok_s = 25, .capacity = 1, .slots = 0 },	/* slots unknown */
	};
	uint64_t w[4];
	(void)state;

	lb_speed_slot_wait(in, 4, 64, w);
	/* 64 tokens at 100/s = 640 ms in the batch, a slot every 80 ms */
	assert_int_equal(w[0], 80000000);
	assert_int_equal(w[1], 160000000);
	/* the VIP's speed per capacity: (100/1 + 50/0.5 + 25/1) / 3 = 75,
	 * x 2 = 150 tokens/s: 64 / 150 / 4 slots */
	assert_true(llabs((long long)w[2] - (long long)(64.0 / 150 / 4 * 1e9)) < 2);
	/* no slots: the whole service time */
	assert_int_equal(w[3], 2560000000ull);
	/* nothing measured in the VIP: unknown everywhere */
	for (int i = 0; i < 4; i++)
		in[i].tok_s = 0;
	lb_speed_slot_wait(in, 4, 64, w);
	for (int i = 0; i < 4; i++)
		assert_int_equal(w[i], 0);
	/* bounded: a nearly stopped worker does not overflow the datapath */
	in[0].tok_s = 1e-9;
	lb_speed_slot_wait(in, 1, 1e6, w);
	assert_int_equal(w[0], LB_SLOT_WAIT_MAX_NS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_speed_from_counters),
		cmocka_unit_test(test_speed_no_sample),
		cmocka_unit_test(test_speed_finish_credited),
		cmocka_unit_test(test_output_length),
		cmocka_unit_test(test_slot_wait),
	};

	return cmocka_run_group_tests_name("speed", tests, NULL, NULL);
}
