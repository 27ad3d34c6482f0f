// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_discovery.c - discovery's merge, guard rails and life cycle
 * (agent/discovery.h), step by step with made-up time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "inferlb.h"
#include "discovery.h"

static const struct lb_disc_limits lim = {
	.max_remove_fraction = LB_DISC_MAX_REMOVE_FRACTION_DEFAULT,
	.drain_timeout_ms = 60000,
};

/* Worker 198.18.0.<k>, port 8000 + k. */
static struct lb_disc_worker W(int k)
{
	struct lb_disc_worker w = { .family = LB_AF_INET, .port = 8000 + k };

	w.addr[0] = 198;
	w.addr[1] = 18;
	w.addr[3] = k;
	return w;
}

/* An answer of the workers in ks (0-terminated). */
static size_t answer(struct lb_disc_worker *out, const int *ks)
{
	size_t n = 0;

	while (ks[n]) {
		out[n] = W(ks[n]);
		n++;
	}
	return n;
}

static enum lb_disc_state state_of(const struct lb_disc_source *s, int k)
{
	struct lb_disc_worker w = W(k);

	for (size_t i = 0; i < s->n; i++)
		if (!memcmp(s->m[i].w.addr, w.addr, 16))
			return s->m[i].state;
	return 0;
}

static struct lb_disc_result upd(struct lb_disc_source *s, const int *ks,
				 size_t vip_backends, uint64_t now)
{
	struct lb_disc_worker a[LB_DISC_MAX_WORKERS + 8];

	return lb_disc_update(s, true, a, answer(a, ks), vip_backends, &lim, now);
}

/* the workers whose open flows a test says are there */
static bool busy_set[256];
static bool busy(void *ctx, const struct lb_disc_worker *w)
{
	(void)ctx;
	return busy_set[w->addr[3]];
}

static void test_add_drain_back(void **state)
{
	struct lb_disc_source s;
	struct lb_disc_result r;

	(void)state;
	lb_disc_init(&s);
	r = upd(&s, (int[]){ 1, 2, 3, 0 }, 0, 1000);
	assert_int_equal(r.verdict, LB_DISC_APPLIED);
	assert_int_equal(r.added, 3);
	assert_int_equal(lb_disc_count(&s, LB_DISC_ACTIVE), 3);
	assert_true(s.answered);
	assert_int_equal(s.last_ok_ms, 1000);
	/* the same answer, in another order and with a duplicate */
	r = upd(&s, (int[]){ 3, 1, 2, 1, 0 }, 3, 2000);
	assert_int_equal(r.verdict, LB_DISC_UNCHANGED);
	assert_int_equal(s.last_ok_ms, 2000);
	/* 3 goes (1 of 3 = 33 % <= 50 %), 4 comes */
	r = upd(&s, (int[]){ 1, 2, 4, 0 }, 3, 3000);
	assert_int_equal(r.verdict, LB_DISC_APPLIED);
	assert_int_equal(r.drained, 1);
	assert_int_equal(r.added, 1);
	assert_int_equal(state_of(&s, 3), LB_DISC_DRAINING);
	assert_int_equal(state_of(&s, 4), LB_DISC_ACTIVE);
	/* 3 comes back while draining: ACTIVE again, not added twice */
	r = upd(&s, (int[]){ 1, 2, 3, 4, 0 }, 3, 4000);
	assert_int_equal(r.verdict, LB_DISC_APPLIED);
	assert_int_equal(r.back, 1);
	assert_int_equal(r.added, 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(state_of(&s, 3), LB_DISC_ACTIVE);
	assert_int_equal(s.applied, 3);
}

/* An empty answer, a wiped prefix, half the VIP at once: held. A failed
 * lookup: no answer, nothing changes. */
static void test_guard_rails(void **state)
{
	struct lb_disc_source s;
	struct lb_disc_result r;

	(void)state;
	lb_disc_init(&s);
	upd(&s, (int[]){ 1, 2, 3, 4, 0 }, 0, 0);
	r = upd(&s, (int[]){ 0 }, 4, 1000);	/* NXDOMAIN, NODATA */
	assert_int_equal(r.verdict, LB_DISC_HELD);
	assert_int_equal(r.removing, 4);
	assert_int_equal(lb_disc_count(&s, LB_DISC_ACTIVE), 4);
	assert_int_equal(s.held, 1);
	/* 3 of the VIP's 4 (75 %): held, newcomers do not make up for it */
	r = upd(&s, (int[]){ 1, 7, 8, 9, 0 }, 4, 2000);
	assert_int_equal(r.verdict, LB_DISC_HELD);
	assert_int_equal(r.removing, 3);
	assert_int_equal(s.n, 4);
	/* 2 of 4 (50 %, not more): applied */
	r = upd(&s, (int[]){ 1, 2, 0 }, 4, 3000);
	assert_int_equal(r.verdict, LB_DISC_APPLIED);
	assert_int_equal(r.drained, 2);
	/* at 100 %: the source's last 2 when the VIP has nothing else would
	 * empty it: held; with a third backend from the file: applied */
	{
		struct lb_disc_limits all = { .max_remove_fraction = 1.0,
					      .drain_timeout_ms = 1 };
		struct lb_disc_worker none[1];

		r = lb_disc_update(&s, true, none, 0, 2, &all, 4000);
		assert_int_equal(r.verdict, LB_DISC_HELD);
		r = lb_disc_update(&s, true, none, 0, 3, &all, 4000);
		assert_int_equal(r.verdict, LB_DISC_APPLIED);
		assert_int_equal(lb_disc_count(&s, LB_DISC_ACTIVE), 0);
	}
	/* a timeout: counted, nothing else */
	lb_disc_init(&s);
	upd(&s, (int[]){ 1, 2, 0 }, 0, 0);
	r = lb_disc_update(&s, false, NULL, 0, 2, &lim, 5000);
	assert_int_equal(r.verdict, LB_DISC_FAILED);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.last_ok_ms, 0);
	assert_int_equal(lb_disc_count(&s, LB_DISC_ACTIVE), 2);
}

/* Draining workers leave once their flows are gone or after the drain
 * timeout, never before. */
static void test_reap(void **state)
{
	struct lb_disc_worker out[LB_DISC_MAX_WORKERS];
	struct lb_disc_source s;

	(void)state;
	lb_disc_init(&s);
	upd(&s, (int[]){ 1, 2, 3, 4, 0 }, 0, 0);
	upd(&s, (int[]){ 1, 2, 0 }, 4, 1000);	/* 3 and 4 drain */
	busy_set[3] = busy_set[4] = true;
	assert_int_equal(lb_disc_reap(&s, &lim, 2000, busy, NULL, out, 8), 0);
	busy_set[4] = false;	/* its last stream ended */
	assert_int_equal(lb_disc_reap(&s, &lim, 3000, busy, NULL, out, 8), 1);
	assert_int_equal(out[0].addr[3], 4);
	assert_int_equal(s.n, 3);
	/* 3 still busy: until the timeout */
	assert_int_equal(lb_disc_reap(&s, &lim, 1000 + 59999, busy, NULL, out, 8), 0);
	assert_int_equal(lb_disc_reap(&s, &lim, 1000 + 60000, busy, NULL, out, 8), 1);
	assert_int_equal(out[0].addr[3], 3);
	assert_int_equal(s.n, 2);
	/* ACTIVE workers are never reaped, busy or not */
	busy_set[1] = busy_set[2] = false;
	assert_int_equal(lb_disc_reap(&s, &lim, 999999, busy, NULL, out, 8), 0);
	busy_set[3] = false;
}

/* An idle drained worker waits out min_drain_ms (its weight 0 must be
 * live first); a worker taken back from the maps is a member like any
 * other, judged by the next answer. */
static void test_grace_and_adopt(void **state)
{
	struct lb_disc_worker out[LB_DISC_MAX_WORKERS], w5 = W(5);
	struct lb_disc_limits g = lim;
	struct lb_disc_source s;

	(void)state;
	g.min_drain_ms = 2000;
	lb_disc_init(&s);
	upd(&s, (int[]){ 1, 2, 3, 0 }, 0, 0);
	upd(&s, (int[]){ 1, 2, 0 }, 3, 1000);	/* 3 drains, idle */
	assert_int_equal(lb_disc_reap(&s, &g, 2999, busy, NULL, out, 8), 0);
	assert_int_equal(lb_disc_reap(&s, &g, 3000, busy, NULL, out, 8), 1);
	assert_true(lb_disc_adopt(&s, &w5, LB_DISC_ACTIVE, 4000));
	assert_false(lb_disc_adopt(&s, &w5, LB_DISC_ACTIVE, 4000));
	assert_int_equal(lb_disc_count(&s, LB_DISC_ACTIVE), 3);
	/* the first answer without it drains it (1 of 3: within the rail) */
	upd(&s, (int[]){ 1, 2, 0 }, 3, 5000);
	assert_int_equal(lb_disc_count(&s, LB_DISC_DRAINING), 1);
}

/* More distinct workers than a VIP may have: refused as an error; a
 * worker's port follows the answer. */
static void test_limits_and_port(void **state)
{
	struct lb_disc_worker a[LB_DISC_MAX_WORKERS + 1];
	struct lb_disc_source s;
	struct lb_disc_result r;

	(void)state;
	lb_disc_init(&s);
	for (int i = 0; i < LB_DISC_MAX_WORKERS + 1; i++)
		a[i] = W(i + 1);
	r = lb_disc_update(&s, true, a, LB_DISC_MAX_WORKERS + 1, 0, &lim, 0);
	assert_int_equal(r.verdict, LB_DISC_TOO_MANY);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.errors, 1);
	r = lb_disc_update(&s, true, a, LB_DISC_MAX_WORKERS, 0, &lim, 0);
	assert_int_equal(r.added, LB_DISC_MAX_WORKERS);
	a[0].port = 9999;
	r = lb_disc_update(&s, true, a, LB_DISC_MAX_WORKERS, LB_DISC_MAX_WORKERS,
			   &lim, 1);
	assert_int_equal(r.verdict, LB_DISC_APPLIED);
	assert_int_equal(r.moved, 1);
	assert_int_equal(s.m[0].w.port, 9999);
	r = lb_disc_update(&s, true, a, LB_DISC_MAX_WORKERS, LB_DISC_MAX_WORKERS,
			   &lim, 2);
	assert_int_equal(r.verdict, LB_DISC_UNCHANGED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_drain_back),
		cmocka_unit_test(test_guard_rails),
		cmocka_unit_test(test_reap),
		cmocka_unit_test(test_grace_and_adopt),
		cmocka_unit_test(test_limits_and_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
