/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_maglev.c - unit tests of the weighted Maglev table builder.
 *
 * Properties checked on N = 10, 100, 1000 backends and M = 65537, with
 * equal, mixed (1 + (i * 7) % 10) and skewed (1000, 1, 1, ...) weights:
 * every slot holds a valid id; each backend owns its weighted share to
 * within max(1% of it, 2 slots); removing a backend moves at most its
 * share + 1% of M slots; the table does not depend on input order. Plus
 * zero weights, empty input, bad input (table untouched), IPv6, seeds,
 * small M, ctx reuse, the free-list tail against plain probing and
 * weight scaling.
 * No timing here: see bench/bench_maglev.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lb_maglev.h"

#define M_BIG 65537
#define SEED 0x1234567u
#define SENTINEL 0xdeadbeefu

enum weights { W_EQUAL, W_MIXED, W_SKEWED };

static const size_t sizes[] = { 10, 100, 1000 };
static const enum weights kinds[] = { W_EQUAL, W_MIXED, W_SKEWED };

/* ---- helpers ------------------------------------------------------------ */

static __u32 weight_of(enum weights kind, size_t i)
{
	switch (kind) {
	case W_EQUAL:
		return 1;
	case W_MIXED:
		return 1 + (i * 7) % 10;
	default:
		return i == 0 ? 1000 : 1;
	}
}

/* Backend i: id i + 1, address 10.1.x.y or 2001:db8::a:x:y. */
static void make_backends(struct lb_maglev_backend *be, size_t n,
			  enum weights kind, bool v6)
{
	size_t i;

	memset(be, 0, n * sizeof(*be));
	for (i = 0; i < n; i++) {
		if (v6) {
			be[i].addr[0] = 0x20;
			be[i].addr[1] = 0x01;
			be[i].addr[2] = 0x0d;
			be[i].addr[3] = 0xb8;
			be[i].addr[11] = 0x0a;
			be[i].addr[14] = i >> 8;
			be[i].addr[15] = i & 0xff;
		} else {
			be[i].addr[0] = 10;
			be[i].addr[1] = 1;
			be[i].addr[2] = i >> 8;
			be[i].addr[3] = i & 0xff;
		}
		be[i].weight = weight_of(kind, i);
		be[i].id = i + 1;
	}
}

static __u32 *new_table(__u32 m)
{
	__u32 *t = malloc((size_t)m * sizeof(*t));

	assert_non_null(t);
	return t;
}

static __u64 total_weight(const struct lb_maglev_backend *be, size_t n)
{
	__u64 w = 0;
	size_t i;

	for (i = 0; i < n; i++)
		w += be[i].weight;
	return w;
}

/* Slots per id; ids must be 1 .. max_id. */
static __u32 *count_slots(const __u32 *table, __u32 m, __u32 max_id)
{
	__u32 *cnt = calloc(max_id + 1, sizeof(*cnt));
	__u32 s;

	assert_non_null(cnt);
	for (s = 0; s < m; s++) {
		assert_true(table[s] >= 1 && table[s] <= max_id);
		cnt[table[s]]++;
	}
	return cnt;
}

/* Every slot valid, every backend within max(1% of share, 2) of share. */
static void check_balance(const struct lb_maglev_backend *be, size_t n,
			  __u32 m, const __u32 *table, __u32 max_id)
{
	__u32 *cnt = count_slots(table, m, max_id);
	double wsum = total_weight(be, n), share, tol, diff;
	size_t i;

	for (i = 0; i < n; i++) {
		share = (double)m * be[i].weight / wsum;
		tol = share / 100 > 2 ? share / 100 : 2;
		diff = cnt[be[i].id] - share;
		if (diff > tol || -diff > tol)
			fail_msg("backend %zu: %u slots, share %.2f", i,
				 cnt[be[i].id], share);
	}
	free(cnt);
}

static __u32 changed_slots(const __u32 *a, const __u32 *b, __u32 m)
{
	__u32 s, n = 0;

	for (s = 0; s < m; s++)
		n += a[s] != b[s];
	return n;
}

/* Deterministic PRNG (xorshift64*) for shuffles. */
static __u64 rng_next(__u64 *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dULL;
}

static void shuffle(struct lb_maglev_backend *be, size_t n, __u64 *rng)
{
	struct lb_maglev_backend tmp;
	size_t i, j;

	for (i = n - 1; i > 0; i--) {
		j = rng_next(rng) % (i + 1);
		tmp = be[i];
		be[i] = be[j];
		be[j] = tmp;
	}
}

/* ---- M = 65537, N = 10/100/1000, three weightings ---------------------- */

static void test_is_prime(void **state)
{
	(void)state;
	assert_false(lb_is_prime(0));
	assert_false(lb_is_prime(1));
	assert_true(lb_is_prime(2));
	assert_true(lb_is_prime(3));
	assert_false(lb_is_prime(4));
	assert_true(lb_is_prime(7));
	assert_false(lb_is_prime(25));
	assert_false(lb_is_prime(49));
	assert_true(lb_is_prime(251));
	assert_true(lb_is_prime(65537));
	assert_false(lb_is_prime(65535));
	assert_true(lb_is_prime(LB_RING_SIZE_MAX));
	assert_false(lb_is_prime(LB_RING_SIZE_MAX + 2)); /* 1048575 */
	assert_false(lb_is_prime(4294967295u));
	assert_true(lb_is_prime(4294967291u));
	assert_true(lb_is_prime(LB_RING_SIZE_DEFAULT));
}

static void test_fill_and_balance(void **state)
{
	struct lb_maglev_backend *be = calloc(1000, sizeof(*be));
	__u32 *table = new_table(M_BIG);
	size_t si, ki;

	(void)state;
	for (si = 0; si < 3; si++) {
		for (ki = 0; ki < 3; ki++) {
			make_backends(be, sizes[si], kinds[ki], false);
			assert_int_equal(lb_maglev_build(be, sizes[si], M_BIG,
							 SEED, table), 0);
			check_balance(be, sizes[si], M_BIG, table, sizes[si]);
		}
	}
	free(be);
	free(table);
}

/* Remove backend k; at most its share + 1% of M slots may change. */
static void check_removal(struct lb_maglev_backend *be, size_t n, size_t k,
			  const __u32 *full, __u32 *table)
{
	struct lb_maglev_backend *rest = calloc(n, sizeof(*rest));
	double share = (double)M_BIG * be[k].weight / total_weight(be, n);
	__u32 changed;

	assert_non_null(rest);
	memcpy(rest, be, k * sizeof(*be));
	memcpy(rest + k, be + k + 1, (n - k - 1) * sizeof(*be));
	assert_int_equal(lb_maglev_build(rest, n - 1, M_BIG, SEED, table), 0);
	check_balance(rest, n - 1, M_BIG, table, n);
	changed = changed_slots(full, table, M_BIG);
	if (changed > share + M_BIG / 100.0)
		fail_msg("n=%zu remove %zu: %u slots changed, share %.1f", n,
			 k, changed, share);
	free(rest);
}

static void test_removal(void **state)
{
	struct lb_maglev_backend *be = calloc(1000, sizeof(*be));
	__u32 *full = new_table(M_BIG), *table = new_table(M_BIG);
	size_t si, ki, n;

	(void)state;
	for (si = 0; si < 3; si++) {
		for (ki = 0; ki < 3; ki++) {
			n = sizes[si];
			make_backends(be, n, kinds[ki], false);
			assert_int_equal(lb_maglev_build(be, n, M_BIG, SEED,
							 full), 0);
			/* Index 9 has weight 4 when mixed, 7 has weight 10. */
			check_removal(be, n, 1, full, table);
			check_removal(be, n, 7, full, table);
			check_removal(be, n, 9, full, table);
			check_removal(be, n, n / 2, full, table);
			check_removal(be, n, n - 1, full, table);
			/* The heavy backend of the skewed set, except at
			 * N = 1000 (see test_removal_skewed_heavy). */
			if (kinds[ki] != W_SKEWED || n < 1000)
				check_removal(be, n, 0, full, table);
		}
	}
	free(be);
	free(full);
	free(table);
}

/*
 * Known limit, pinned so that it cannot silently grow: removing the one
 * backend of weight 1000 among 999 of weight 1 takes away half of the
 * capacity and doubles every other quota. About share + 2.5% of M slots
 * change, not share + 1%.
 */
static void test_removal_skewed_heavy(void **state)
{
	struct lb_maglev_backend *be = calloc(1000, sizeof(*be));
	__u32 *full = new_table(M_BIG), *table = new_table(M_BIG);
	double share;
	__u32 changed;

	(void)state;
	make_backends(be, 1000, W_SKEWED, false);
	share = (double)M_BIG * 1000 / total_weight(be, 1000);
	assert_int_equal(lb_maglev_build(be, 1000, M_BIG, SEED, full), 0);
	assert_int_equal(lb_maglev_build(be + 1, 999, M_BIG, SEED, table), 0);
	changed = changed_slots(full, table, M_BIG);
	assert_true(changed >= share);
	assert_true(changed <= share + 0.04 * M_BIG);
	free(be);
	free(full);
	free(table);
}

static void test_order_independent(void **state)
{
	struct lb_maglev_backend *be = calloc(1000, sizeof(*be));
	__u32 *ref = new_table(M_BIG), *table = new_table(M_BIG);
	__u64 rng = 0x9e3779b97f4a7c15ULL;
	size_t si, ki, r;

	(void)state;
	for (si = 0; si < 3; si++) {
		for (ki = 0; ki < 3; ki++) {
			make_backends(be, sizes[si], kinds[ki], false);
			assert_int_equal(lb_maglev_build(be, sizes[si], M_BIG,
							 SEED, ref), 0);
			for (r = 0; r < 3; r++) {
				shuffle(be, sizes[si], &rng);
				assert_int_equal(lb_maglev_build(be, sizes[si],
								 M_BIG, SEED,
								 table), 0);
				assert_memory_equal(ref, table,
						    M_BIG * sizeof(*table));
			}
		}
	}
	free(be);
	free(ref);
	free(table);
}

/* ---- special inputs ----------------------------------------------------- */

static void test_zero_weight(void **state)
{
	struct lb_maglev_backend be[100];
	__u32 *table = new_table(M_BIG), *cnt;

	(void)state;
	make_backends(be, 100, W_MIXED, false);
	be[0].weight = 0;
	be[42].weight = 0;
	assert_int_equal(lb_maglev_build(be, 100, M_BIG, SEED, table), 0);
	cnt = count_slots(table, M_BIG, 100);
	assert_int_equal(cnt[be[0].id], 0);
	assert_int_equal(cnt[be[42].id], 0);
	check_balance(be, 100, M_BIG, table, 100);
	free(cnt);
	free(table);
}

static void check_all_none(const __u32 *table, __u32 m)
{
	__u32 s;

	for (s = 0; s < m; s++)
		assert_int_equal(table[s], LB_BACKEND_NONE);
}

static void test_empty(void **state)
{
	struct lb_maglev_backend be[10];
	__u32 *table = new_table(M_BIG);
	size_t i;

	(void)state;
	memset(table, 0xab, M_BIG * sizeof(*table));
	assert_int_equal(lb_maglev_build(NULL, 0, M_BIG, SEED, table), 0);
	check_all_none(table, M_BIG);

	make_backends(be, 10, W_EQUAL, false);
	for (i = 0; i < 10; i++)
		be[i].weight = 0;
	memset(table, 0xab, M_BIG * sizeof(*table));
	assert_int_equal(lb_maglev_build(be, 10, M_BIG, SEED, table), 0);
	check_all_none(table, M_BIG);
	free(table);
}

static void check_einval(const struct lb_maglev_backend *be, size_t n,
			 __u32 m)
{
	static __u32 table[LB_RING_SIZE_MAX + 16];
	__u32 s;

	for (s = 0; s < LB_RING_SIZE_MAX + 16; s++)
		table[s] = SENTINEL;
	assert_int_equal(lb_maglev_build(be, n, m, SEED, table), -EINVAL);
	for (s = 0; s < LB_RING_SIZE_MAX + 16; s++)
		if (table[s] != SENTINEL)
			fail_msg("m=%u: slot %u written on error", m, s);
}

static void test_bad_input(void **state)
{
	struct lb_maglev_backend be[10], copy[10];
	__u32 table[251];

	(void)state;
	make_backends(be, 10, W_MIXED, false);
	check_einval(be, 10, 65536);              /* not prime */
	check_einval(be, 10, 1000);               /* not prime */
	check_einval(be, 10, 0);
	check_einval(be, 10, 5);                  /* prime, below MIN */
	check_einval(be, 10, 1048583);            /* prime, above MAX */
	check_einval(NULL, 10, 251);              /* NULL be, n > 0 */
	check_einval(be, LB_MAGLEV_MAX_BACKENDS + 1, 251); /* n too large */
	assert_int_equal(lb_maglev_build(be, 10, 251, SEED, NULL), -EINVAL);

	memcpy(copy, be, sizeof(be));
	copy[3].id = 0;                           /* id 0 */
	check_einval(copy, 10, 251);
	memcpy(copy, be, sizeof(be));
	copy[3].weight = 0;                       /* id 0 with weight 0 too */
	copy[3].id = 0;
	check_einval(copy, 10, 251);
	memcpy(copy, be, sizeof(be));
	memcpy(copy[7].addr, copy[2].addr, 16);   /* duplicate address */
	check_einval(copy, 10, 251);

	/* The good input still works after all that. */
	assert_int_equal(lb_maglev_build(be, 10, 251, SEED, table), 0);
}

static void test_input_not_modified(void **state)
{
	struct lb_maglev_backend be[100], copy[100];
	__u32 *table = new_table(M_BIG);
	__u64 rng = 42;

	(void)state;
	make_backends(be, 100, W_MIXED, true);
	shuffle(be, 100, &rng);
	memcpy(copy, be, sizeof(be));
	assert_int_equal(lb_maglev_build(be, 100, M_BIG, SEED, table), 0);
	assert_memory_equal(be, copy, sizeof(be));
	free(table);
}

static void test_ipv6(void **state)
{
	struct lb_maglev_backend be[100], v4[100];
	__u32 *table = new_table(M_BIG), *t4 = new_table(M_BIG);
	__u64 rng = 7;
	__u32 *ref = new_table(M_BIG);

	(void)state;
	make_backends(be, 100, W_MIXED, true);
	assert_int_equal(lb_maglev_build(be, 100, M_BIG, SEED, ref), 0);
	check_balance(be, 100, M_BIG, ref, 100);
	shuffle(be, 100, &rng);
	assert_int_equal(lb_maglev_build(be, 100, M_BIG, SEED, table), 0);
	assert_memory_equal(ref, table, M_BIG * sizeof(*table));

	/* Addresses that differ only in the last bytes are distinct. */
	make_backends(be, 2, W_EQUAL, true);
	be[1].addr[14] = be[0].addr[14];
	be[1].addr[15] = be[0].addr[15] ^ 0x80;
	assert_int_equal(lb_maglev_build(be, 2, M_BIG, SEED, table), 0);

	/* Same ids and weights under other addresses: another table. */
	make_backends(be, 100, W_MIXED, true);
	make_backends(v4, 100, W_MIXED, false);
	assert_int_equal(lb_maglev_build(be, 100, M_BIG, SEED, table), 0);
	assert_int_equal(lb_maglev_build(v4, 100, M_BIG, SEED, t4), 0);
	assert_true(changed_slots(table, t4, M_BIG) > M_BIG / 2);
	free(table);
	free(t4);
	free(ref);
}

static void test_seeds(void **state)
{
	struct lb_maglev_backend be[100];
	__u32 *a = new_table(M_BIG), *b = new_table(M_BIG);

	(void)state;
	make_backends(be, 100, W_EQUAL, false);
	assert_int_equal(lb_maglev_build(be, 100, M_BIG, 1, a), 0);
	assert_int_equal(lb_maglev_build(be, 100, M_BIG, 2, b), 0);
	/* Unrelated tables share about 1/N of their slots. */
	assert_true(changed_slots(a, b, M_BIG) > M_BIG * 9 / 10);
	check_balance(be, 100, M_BIG, a, 100);
	check_balance(be, 100, M_BIG, b, 100);
	/* ... and a seed is reproducible. */
	assert_int_equal(lb_maglev_build(be, 100, M_BIG, 1, b), 0);
	assert_memory_equal(a, b, M_BIG * sizeof(*a));
	free(a);
	free(b);
}

static void test_small_m(void **state)
{
	static const __u32 ms[] = { 7, 11, 251 };
	static const size_t ns[] = { 1, 3, 7, 10, 300 };
	struct lb_maglev_backend be[300];
	__u32 table[251];
	size_t mi, ni, ki;

	(void)state;
	for (mi = 0; mi < 3; mi++) {
		for (ni = 0; ni < 5; ni++) {
			for (ki = 0; ki < 3; ki++) {
				make_backends(be, ns[ni], kinds[ki], ni & 1);
				assert_int_equal(lb_maglev_build(be, ns[ni],
								 ms[mi], SEED,
								 table), 0);
				check_balance(be, ns[ni], ms[mi], table,
					      ns[ni]);
			}
		}
	}
}

/* A ctx reused across sizes gives what a fresh build gives. */
static void test_ctx_reuse(void **state)
{
	static const __u32 ms[] = { 251, LB_RING_SIZE_MAX, 7, M_BIG };
	static const size_t ns[] = { 1000, 10, 3, 100 };
	struct lb_maglev_backend *be = calloc(1000, sizeof(*be));
	__u32 *a = new_table(LB_RING_SIZE_MAX);
	__u32 *b = new_table(LB_RING_SIZE_MAX);
	struct lb_maglev_ctx ctx;
	size_t i;

	(void)state;
	lb_maglev_ctx_init(&ctx);
	for (i = 0; i < 4; i++) {
		make_backends(be, ns[i], W_MIXED, false);
		assert_int_equal(lb_maglev_ctx_build(&ctx, be, ns[i], ms[i],
						     SEED, a), 0);
		assert_int_equal(lb_maglev_build(be, ns[i], ms[i], SEED, b),
				 0);
		assert_memory_equal(a, b, ms[i] * sizeof(*a));
		check_balance(be, ns[i], ms[i], a, ns[i]);
	}
	/* An error leaves the ctx usable. */
	be[1].id = 0;
	assert_int_equal(lb_maglev_ctx_build(&ctx, be, 100, M_BIG, SEED, a),
			 -EINVAL);
	be[1].id = 2;
	assert_int_equal(lb_maglev_ctx_build(&ctx, be, 100, M_BIG, SEED, a),
			 0);
	assert_memory_equal(a, b, M_BIG * sizeof(*a));
	lb_maglev_ctx_fini(&ctx);
	free(be);
	free(a);
	free(b);
}

/*
 * The last free slots are found by scanning a free list, not by probing
 * (see lb_maglev.c); tail_slots = 1 turns that off. Same table either way.
 */
static void test_tail_same_as_probing(void **state)
{
	static const __u32 ms[] = { 7, 251, M_BIG };
	static const size_t ns[] = { 1, 3, 10, 100, 1000 };
	struct lb_maglev_backend *be = calloc(1000, sizeof(*be));
	__u32 *a = new_table(M_BIG), *b = new_table(M_BIG);
	struct lb_maglev_ctx fast, slow;
	size_t mi, ni, ki;

	(void)state;
	lb_maglev_ctx_init(&fast);
	lb_maglev_ctx_init(&slow);
	slow.tail_slots = 1;
	for (mi = 0; mi < 3; mi++) {
		for (ni = 0; ni < 5; ni++) {
			for (ki = 0; ki < 3; ki++) {
				make_backends(be, ns[ni], kinds[ki], false);
				assert_int_equal(lb_maglev_ctx_build(&fast, be,
						 ns[ni], ms[mi], SEED, a), 0);
				assert_int_equal(lb_maglev_ctx_build(&slow, be,
						 ns[ni], ms[mi], SEED, b), 0);
				assert_memory_equal(a, b, ms[mi] * sizeof(*a));
			}
		}
	}
	lb_maglev_ctx_fini(&fast);
	lb_maglev_ctx_fini(&slow);
	free(be);
	free(a);
	free(b);
}

/* Only relative weights matter: 1..10 and 3..30 give one table. */
static void test_weight_scale(void **state)
{
	struct lb_maglev_backend be[1000];
	__u32 *a = new_table(M_BIG), *b = new_table(M_BIG);
	size_t i;

	(void)state;
	make_backends(be, 1000, W_MIXED, false);
	assert_int_equal(lb_maglev_build(be, 1000, M_BIG, SEED, a), 0);
	for (i = 0; i < 1000; i++)
		be[i].weight *= 3;
	assert_int_equal(lb_maglev_build(be, 1000, M_BIG, SEED, b), 0);
	assert_memory_equal(a, b, M_BIG * sizeof(*a));
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_prime),
		cmocka_unit_test(test_fill_and_balance),
		cmocka_unit_test(test_removal),
		cmocka_unit_test(test_removal_skewed_heavy),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_zero_weight),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_input_not_modified),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_seeds),
		cmocka_unit_test(test_small_m),
		cmocka_unit_test(test_ctx_reuse),
		cmocka_unit_test(test_tail_same_as_probing),
		cmocka_unit_test(test_weight_scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
