/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_maglev.c - weighted Maglev table builder.
 *
 * Maglev (Eisenbud et al., NSDI 2016): every backend gets a permutation of
 * the M slots, offset + j * skip (mod M), with offset and skip taken from a
 * hash of its address and the seed. Backends take turns; on its turn a
 * backend claims the next slot of its permutation that is still free.
 * A backend's preferences do not depend on the other backends, so removing
 * one mostly hands its slots to the others and leaves the rest alone.
 *
 * Weights, so that balance is exact and the cost is O(M + N log N):
 *   1. Quotas. Backend i should own M * w_i / W slots. Each gets the floor
 *      of that, and the slots left over go one each to the largest
 *      remainders (ties: lower address). There are exactly M turns, one
 *      per quota unit, so every count is within one slot of its share.
 *   2. Turn order (stride scheduling). Backend i's k-th turn is due at time
 *      (k + 1/2) / w_i. Turn times do not depend on the other backends, so
 *      removing one keeps the others' relative order, as the round robin
 *      of unweighted Maglev does; with equal weights it IS that round
 *      robin. The M turns are put in time order by one stable counting
 *      sort over time buckets half the shortest stride wide (turns due in
 *      one bucket go in address order). Nothing loops over rounds x N, so
 *      skewed weights (1000, 1, 1, ...) cost nothing extra.
 *
 * Determinism: backends are sorted by address first and every tie above
 * is broken by that order, so the input order never matters.
 *
 * Disruption, measured (M = 65537, N = 100 or 1000): removing a backend
 * moves its own slots plus about 0.6% of M (equal weights), up to 1% for
 * one of twice the average weight. The extra comes from Maglev's cascade
 * in the last few percent of the fill, where a turn's first free slot is
 * far along its permutation. Removing a backend that holds half of all
 * capacity (weight 1000 among 999 of weight 1) moves about 2.5% extra.
 *
 * Speed. Plain Maglev probes about M ln M times (730k for M = 65537), most
 * of it while the table is nearly full. Here, for N = 1000, M = 65537:
 *   - a permutation is stepped with an add and a conditional subtract,
 *     never a division;
 *   - four permutation entries are tested per loop iteration without
 *     branches between them, because "is it free" is a coin flip and its
 *     mispredicts cost more than the extra probes (540k entries looked at,
 *     in 135k iterations);
 *   - "taken" is a byte map: one load per probe, no shifts;
 *   - for the last LB_MG_TAIL_SLOTS free slots, where probing costs about
 *     M / free probes per turn, each turn computes how far each free slot
 *     is along its permutation and takes the nearest: the same slot for
 *     13k multiplications instead of about 240k probes;
 *   - scratch memory lives in struct lb_maglev_ctx and is reused.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_maglev.h"

/* Most time buckets the schedule can use (see lb_mg_schedule). */
#define LB_MG_NBUCKETS(m) (2 * (m) + 3)
/* Free slots left when the fill switches from probing to a free list. */
#define LB_MG_TAIL_SLOTS 160

/* Turn order entries are 16-bit state indices. */
_Static_assert(LB_MAGLEV_MAX_BACKENDS <= 65536, "order[] is __u16");

/*
 * One backend, as copied from the caller and sorted by address. Once the
 * quotas are known, the backends with a quota are packed to the front, so
 * that ents[a] and the probe state st[a] describe the same backend.
 */
struct lb_mg_ent {
	__u64 key_hi;   /* addr[0..7] big-endian: compares like memcmp */
	__u64 key_lo;   /* addr[8..15] big-endian */
	__u64 rem;      /* (M * weight) % W, for the largest-remainder pass */
	__u32 weight;
	__u32 id;
	__u32 quota;    /* slots this backend will own */
	__u32 inv;      /* skip^-1 mod M, 0 until lb_mg_fill_tail() needs it */
};

/* Probe state of one backend with a quota: only what the fill loop
 * touches, so that a thousand of them stay in L1 next to the byte map. */
struct lb_mg_state {
	__u32 next;     /* next slot of its permutation to try */
	__u32 ahead[4]; /* 0, 1, 2 and 3 steps (mod M); ahead[1] is the skip */
	__u32 skip4;    /* 4 steps (mod M) */
	__u32 id;
};

bool lb_is_prime(__u32 n)
{
	__u32 d;

	if (n < 4)
		return n >= 2;
	if (n % 2 == 0 || n % 3 == 0)
		return false;
	/* Every prime above 3 is 6k +- 1. */
	for (d = 5; (__u64)d * d <= n; d += 6)
		if (n % d == 0 || n % (d + 2) == 0)
			return false;
	return true;
}

bool lb_ring_size_ok(__u32 m)
{
	return m >= LB_RING_SIZE_MIN && m <= LB_RING_SIZE_MAX && lb_is_prime(m);
}

/* ---- scratch memory ----------------------------------------------------- */

void lb_maglev_ctx_init(struct lb_maglev_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
}

static void lb_mg_free_n(struct lb_maglev_ctx *ctx)
{
	free(ctx->ents);
	free(ctx->state);
	free(ctx->rank);
	ctx->ents = NULL;
	ctx->state = NULL;
	ctx->rank = NULL;
	ctx->cap_n = 0;
}

static void lb_mg_free_m(struct lb_maglev_ctx *ctx)
{
	free(ctx->order);
	free(ctx->bucket);
	free(ctx->taken);
	ctx->order = NULL;
	ctx->bucket = NULL;
	ctx->taken = NULL;
	ctx->cap_m = 0;
}

void lb_maglev_ctx_fini(struct lb_maglev_ctx *ctx)
{
	lb_mg_free_n(ctx);
	lb_mg_free_m(ctx);
}

/* Grow the per-backend buffers. Old contents need not survive. */
static int lb_mg_reserve_n(struct lb_maglev_ctx *ctx, size_t n)
{
	void *ents, *state, *rank;

	if (n <= ctx->cap_n)
		return 0;
	ents = malloc(n * sizeof(struct lb_mg_ent));
	state = malloc(n * sizeof(struct lb_mg_state));
	rank = malloc(n * sizeof(struct lb_mg_ent *));
	if (!ents || !state || !rank) {
		free(ents);
		free(state);
		free(rank);
		return -ENOMEM;
	}
	lb_mg_free_n(ctx);
	ctx->ents = ents;
	ctx->state = state;
	ctx->rank = rank;
	ctx->cap_n = n;
	return 0;
}

/* Grow the per-slot buffers. Old contents need not survive. */
static int lb_mg_reserve_m(struct lb_maglev_ctx *ctx, __u32 m)
{
	__u16 *order;
	__u32 *bucket;
	__u8 *taken;

	if (m <= ctx->cap_m)
		return 0;
	order = malloc((size_t)m * sizeof(*order));
	bucket = malloc(((size_t)LB_MG_NBUCKETS(m) + 1) * sizeof(*bucket));
	taken = malloc(m);
	if (!order || !bucket || !taken) {
		free(order);
		free(bucket);
		free(taken);
		return -ENOMEM;
	}
	lb_mg_free_m(ctx);
	ctx->order = order;
	ctx->bucket = bucket;
	ctx->taken = taken;
	ctx->cap_m = m;
	return 0;
}

/* ---- backends and quotas ------------------------------------------------ */

static __u64 lb_mg_load_be64(const __u8 *p)
{
	__u64 v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int lb_mg_cmp_addr(const void *a, const void *b)
{
	const struct lb_mg_ent *x = a, *y = b;

	if (x->key_hi != y->key_hi)
		return x->key_hi < y->key_hi ? -1 : 1;
	if (x->key_lo != y->key_lo)
		return x->key_lo < y->key_lo ? -1 : 1;
	return 0;
}

/*
 * Copy be[] into ents sorted by address; reject id 0 and duplicate
 * addresses. *wsum gets the total weight (fits: 2^14 * 2^32).
 */
static int lb_mg_load(struct lb_mg_ent *ents,
		      const struct lb_maglev_backend *be, size_t n,
		      __u64 *wsum)
{
	__u64 w = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (be[i].id == LB_BACKEND_NONE)
			return -EINVAL;
		ents[i].key_hi = lb_mg_load_be64(be[i].addr);
		ents[i].key_lo = lb_mg_load_be64(be[i].addr + 8);
		ents[i].weight = be[i].weight;
		ents[i].id = be[i].id;
		w += be[i].weight;
	}
	qsort(ents, n, sizeof(*ents), lb_mg_cmp_addr);
	for (i = 1; i < n; i++)
		if (lb_mg_cmp_addr(&ents[i - 1], &ents[i]) == 0)
			return -EINVAL;
	*wsum = w;
	return 0;
}

/*
 * Largest remainder first; equal remainders by address. ents[] is sorted
 * by address, so comparing the pointers compares the addresses.
 */
static int lb_mg_cmp_rem(const void *a, const void *b)
{
	const struct lb_mg_ent *x = *(const struct lb_mg_ent *const *)a;
	const struct lb_mg_ent *y = *(const struct lb_mg_ent *const *)b;

	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	return x < y ? -1 : (x > y);
}

/*
 * Quotas by the largest-remainder method: they sum to exactly m and each
 * is within one of m * w / W.
 */
static void lb_mg_quotas(struct lb_mg_ent *ents, struct lb_mg_ent **rank,
			 size_t n, __u32 m, __u64 wsum)
{
	size_t i, nrank = 0;
	__u32 used = 0, left;

	for (i = 0; i < n; i++) {
		/* m < 2^20 and weight < 2^32: no overflow in 64 bits. */
		__u64 share = (__u64)m * ents[i].weight;

		ents[i].quota = share / wsum;
		ents[i].rem = share % wsum;
		used += ents[i].quota;
		if (ents[i].rem)
			rank[nrank++] = &ents[i];
	}
	/* The fractional parts sum to an integer below nrank. */
	left = m - used;
	if (!left)
		return;
	qsort(rank, nrank, sizeof(*rank), lb_mg_cmp_rem);
	for (i = 0; i < left; i++)
		rank[i]->quota++;
}

/* ---- permutations ------------------------------------------------------- */

static __u64 lb_mg_mix(__u64 x)
{
	/* Multiply-xorshift finaliser: every input bit affects every output
	 * bit, so neighbouring addresses get unrelated permutations. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* pos + skip (mod m), for pos, skip < m: no division. */
static __u32 lb_mg_step(__u32 pos, __u32 skip, __u32 m)
{
	pos += skip;
	return pos >= m ? pos - m : pos;
}

/* (x * n) >> 32: maps a 32-bit hash onto 0 .. n-1 without a division. */
static __u32 lb_mg_range(__u64 h, __u32 n)
{
	return (h >> 32) * n >> 32;
}

/* Permutation of backend e: first slot and step, from address and seed. */
static void lb_mg_perm(const struct lb_mg_ent *e, __u32 m, __u32 seed,
		       struct lb_mg_state *s)
{
	__u64 h = ((__u64)seed << 32 | seed) ^ 0x9e3779b97f4a7c15ULL;
	__u32 skip;

	h = lb_mg_mix(h ^ e->key_hi);
	h = lb_mg_mix(h ^ e->key_lo);
	s->next = lb_mg_range(h, m);
	/* A second draw for the step, 1 .. m-1; m is prime, so any step
	 * visits all m slots. */
	skip = lb_mg_range(lb_mg_mix(h ^ 0x6a09e667f3bcc909ULL), m - 1) + 1;
	s->ahead[0] = 0;
	s->ahead[1] = skip;
	s->ahead[2] = lb_mg_step(skip, skip, m);
	s->ahead[3] = lb_mg_step(s->ahead[2], skip, m);
	s->skip4 = lb_mg_step(s->ahead[2], s->ahead[2], m);
}

/*
 * Pack the backends with a quota to the front of ents (address order is
 * kept) and give each its probe state. Returns how many there are.
 */
static __u32 lb_mg_states(struct lb_mg_ent *ents, size_t n, __u32 m,
			  __u32 seed, struct lb_mg_state *st)
{
	__u32 na = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!ents[i].quota)
			continue;
		ents[na] = ents[i];
		ents[na].inv = 0;
		lb_mg_perm(&ents[na], m, seed, &st[na]);
		st[na].id = ents[na].id;
		na++;
	}
	return na;
}

/* ---- turn order --------------------------------------------------------- */

/*
 * Time buckets of one backend's turns. Turn k of a backend of weight w is
 * due at time (k + 1/2) / w, in bucket floor((2k + 1) * wmax / w): a
 * bucket is half the shortest stride wide, so no backend has two turns in
 * one bucket, equal times share a bucket, and the scale does not depend
 * on the other backends (only on wmax). Every backend's last turn is due
 * near M / W, i.e. bucket 2M * wmax / W; only a last turn won by rounding
 * can fall past nb, and goes to the last bucket. The quotient is stepped
 * Bresenham-style: no division per turn.
 */
struct lb_mg_turn_iter {
	__u64 b;        /* bucket of the next turn, before clamping */
	__u64 r;        /* remainder of that division, < w */
	__u64 qstep;    /* 2 * wmax / w */
	__u64 rstep;    /* 2 * wmax % w */
	__u32 w;
	__u32 nb;
};

static void lb_mg_turn_start(struct lb_mg_turn_iter *it, __u32 w,
			     __u32 wmax, __u32 nb)
{
	bool carry;

	it->w = w;
	it->nb = nb;
	it->b = wmax / w;
	it->r = wmax % w;
	/* 2 * wmax / w and 2 * wmax % w, from the same division. */
	carry = 2 * it->r >= w;
	it->qstep = 2 * it->b + carry;
	it->rstep = 2 * it->r - (carry ? w : 0);
}

static __u32 lb_mg_turn_next(struct lb_mg_turn_iter *it)
{
	__u32 cb = it->b < it->nb ? it->b : it->nb - 1;

	it->b += it->qstep;
	it->r += it->rstep;
	if (it->r >= it->w) {
		it->r -= it->w;
		it->b++;
	}
	return cb;
}

static __u32 lb_mg_max_weight(const struct lb_mg_ent *ents, __u32 na)
{
	__u32 a, w = 0;

	for (a = 0; a < na; a++)
		if (ents[a].weight > w)
			w = ents[a].weight;
	return w;
}

static bool lb_mg_equal_weights(const struct lb_mg_ent *ents, __u32 na)
{
	__u32 a;

	for (a = 1; a < na; a++)
		if (ents[a].weight != ents[0].weight)
			return false;
	return true;
}

/* Stable counting sort of all turns by time bucket (see above). */
static void lb_mg_sort_turns(const struct lb_mg_ent *ents, __u32 na,
			     __u32 m, __u64 wsum, __u32 *bucket, __u16 *order)
{
	__u32 wmax = lb_mg_max_weight(ents, na), a, b, k, nb;
	struct lb_mg_turn_iter it;

	/* wmax <= wsum, so nb <= 2m + 3. */
	nb = 2 * (__u64)m * wmax / wsum + 3;
	/* bucket[b + 1] counts bucket b; the prefix sum then makes bucket[b]
	 * the first position of bucket b. */
	memset(bucket, 0, ((size_t)nb + 1) * sizeof(*bucket));
	for (a = 0; a < na; a++) {
		lb_mg_turn_start(&it, ents[a].weight, wmax, nb);
		for (k = 0; k < ents[a].quota; k++)
			bucket[lb_mg_turn_next(&it) + 1]++;
	}
	for (b = 1; b <= nb; b++)
		bucket[b] += bucket[b - 1];
	for (a = 0; a < na; a++) {
		lb_mg_turn_start(&it, ents[a].weight, wmax, nb);
		for (k = 0; k < ents[a].quota; k++)
			order[bucket[lb_mg_turn_next(&it)]++] = a;
	}
}

/*
 * order[0..m-1]: state indices, one per turn, in time order; turns in one
 * bucket go in address order. With equal weights bucket 2k + 1 holds
 * every backend's k-th turn, so the result is the plain round robin:
 * write that directly.
 */
static void lb_mg_schedule(const struct lb_mg_ent *ents, __u32 na, __u32 m,
			   __u64 wsum, __u32 *bucket, __u16 *order)
{
	__u32 a, t;

	if (!lb_mg_equal_weights(ents, na)) {
		lb_mg_sort_turns(ents, na, m, wsum, bucket, order);
		return;
	}
	for (t = 0; t < m; t += na)
		for (a = 0; a < na && t + a < m; a++)
			order[t + a] = a;
}

/* ---- filling the table -------------------------------------------------- */

/*
 * First free slot at or after s->next in s's permutation, four entries per
 * iteration and no branch among them (see the file header).
 */
static __u32 lb_mg_probe(const __u8 *taken, const struct lb_mg_state *s,
			 __u32 m)
{
	__u32 pos = s->next;
	unsigned int busy;

	for (;;) {
		busy = taken[pos] |
		       taken[lb_mg_step(pos, s->ahead[1], m)] << 1 |
		       taken[lb_mg_step(pos, s->ahead[2], m)] << 2 |
		       taken[lb_mg_step(pos, s->ahead[3], m)] << 3;
		if (busy != 15)
			return lb_mg_step(pos, s->ahead[__builtin_ctz(~busy)],
					  m);
		pos = lb_mg_step(pos, s->skip4, m);
	}
}

/* Turns 0 .. t1-1, while the table is not nearly full: probe. */
static void lb_mg_fill_bulk(struct lb_mg_state *st, const __u16 *order,
			    __u32 t1, __u32 m, __u8 *taken, __u32 *table)
{
	__u32 t, pos;

	for (t = 0; t < t1; t++) {
		struct lb_mg_state *s = &st[order[t]];

		pos = lb_mg_probe(taken, s, m);
		taken[pos] = 1;
		table[pos] = s->id;
		s->next = lb_mg_step(pos, s->ahead[1], m);
	}
}

/* skip^-1 mod m (m prime, 0 < skip < m), by extended Euclid; 32-bit
 * operands keep the divisions cheap (|t| stays below m < 2^21). */
static __u32 lb_mg_inverse(__u32 skip, __u32 m)
{
	__s32 r0 = m, r1 = skip, t0 = 0, t1 = 1, q, tmp;

	while (r1) {
		q = r0 / r1;
		tmp = r0 - q * r1;
		r0 = r1;
		r1 = tmp;
		tmp = t0 - q * t1;
		t0 = t1;
		t1 = tmp;
	}
	return t0 < 0 ? (__u32)(t0 + (__s32)m) : (__u32)t0;
}

/*
 * x mod m for x < 2^40, m < 2^21, without a division: the quotient from
 * the double reciprocal is off by at most one either way.
 */
static __u32 lb_mg_mod(__u64 x, __u32 m, double rcp)
{
	__s64 r = (__s64)(x - (__u64)((double)x * rcp) * m);

	if (r < 0)
		r += m;
	else if (r >= m)
		r -= m;
	return r;
}

/* Index into free_slot[] of the slot nearest to s->next along s's
 * permutation: slot e is (e - next) * skip^-1 (mod m) steps ahead. */
static __u32 lb_mg_nearest(const struct lb_mg_state *s,
			   struct lb_mg_ent *ent, const __u32 *free_slot,
			   __u32 nfree, __u32 m, double rcp)
{
	__u32 i, best = 0, dbest = UINT32_MAX, d, e, pos = s->next;

	if (!ent->inv)
		ent->inv = lb_mg_inverse(s->ahead[1], m);
	for (i = 0; i < nfree; i++) {
		e = free_slot[i];
		d = e >= pos ? e - pos : e + m - pos;
		d = lb_mg_mod((__u64)d * ent->inv, m, rcp);
		if (d < dbest) {
			dbest = d;
			best = i;
		}
	}
	return best;
}

/* The free slots, in free_slot[]; returns how many. */
static __u32 lb_mg_free_slots(const __u8 *taken, __u32 m, __u32 *free_slot)
{
	__u32 e = 0, i, nfree = 0;
	__u64 w;

	/* Nearly every slot is taken: skip them eight at a time. */
	for (; e + 8 <= m; e += 8) {
		memcpy(&w, taken + e, sizeof(w));
		if (w == 0x0101010101010101ULL)
			continue;
		for (i = e; i < e + 8; i++)
			if (!taken[i])
				free_slot[nfree++] = i;
	}
	for (; e < m; e++)
		if (!taken[e])
			free_slot[nfree++] = e;
	return nfree;
}

/*
 * Turns t0 .. m-1, when at most LB_MG_TAIL_SLOTS slots are free: probing
 * would cost about M / free probes per turn, a look at each free slot is
 * cheaper and gives the same slot.
 */
static void lb_mg_fill_tail(struct lb_mg_state *st, struct lb_mg_ent *ents,
			    const __u16 *order, __u32 t0, __u32 m,
			    const __u8 *taken, __u32 *table)
{
	__u32 free_slot[LB_MG_TAIL_SLOTS];
	__u32 nfree, t, i, e;
	double rcp = 1.0 / m;

	nfree = lb_mg_free_slots(taken, m, free_slot);
	for (t = t0; t < m; t++) {
		struct lb_mg_state *s = &st[order[t]];

		i = lb_mg_nearest(s, &ents[order[t]], free_slot, nfree, m, rcp);
		e = free_slot[i];
		free_slot[i] = free_slot[--nfree];
		table[e] = s->id;
		s->next = lb_mg_step(e, s->ahead[1], m);
	}
}

/*
 * Play the m turns. Each turn is sure to find a free slot (fewer than m
 * are taken before it) and every permutation visits all slots.
 */
static void lb_mg_fill(struct lb_mg_state *st, struct lb_mg_ent *ents,
		       const __u16 *order, __u32 m, __u32 tail, __u8 *taken,
		       __u32 *table)
{
	__u32 t1;

	if (!tail || tail > LB_MG_TAIL_SLOTS)
		tail = LB_MG_TAIL_SLOTS;
	t1 = m > tail ? m - tail : 0;

	memset(taken, 0, m);
	lb_mg_fill_bulk(st, order, t1, m, taken, table);
	lb_mg_fill_tail(st, ents, order, t1, m, taken, table);
}

/* ---- entry points ------------------------------------------------------- */

static void lb_mg_fill_none(__u32 *table, __u32 m)
{
	__u32 i;

	for (i = 0; i < m; i++)
		table[i] = LB_BACKEND_NONE;
}

static int lb_mg_check_args(const struct lb_maglev_backend *be, size_t n,
			    __u32 m, const __u32 *table)
{
	if (!table || (!be && n))
		return -EINVAL;
	if (!lb_ring_size_ok(m))
		return -EINVAL;
	if (n > LB_MAGLEV_MAX_BACKENDS)
		return -EINVAL;
	return 0;
}

int lb_maglev_ctx_build(struct lb_maglev_ctx *ctx,
			const struct lb_maglev_backend *be, size_t n, __u32 m,
			__u32 seed, __u32 *table)
{
	struct lb_mg_ent *ents;
	struct lb_mg_state *st;
	__u64 wsum;
	__u32 na;
	int err;

	err = lb_mg_check_args(be, n, m, table);
	if (err)
		return err;
	if (!n) {
		lb_mg_fill_none(table, m);
		return 0;
	}
	err = lb_mg_reserve_n(ctx, n);
	if (err)
		return err;
	ents = ctx->ents;
	err = lb_mg_load(ents, be, n, &wsum);
	if (err)
		return err;
	if (!wsum) {
		lb_mg_fill_none(table, m);
		return 0;
	}
	err = lb_mg_reserve_m(ctx, m);
	if (err)
		return err;
	/* Every check has passed and nothing below can fail: the table is
	 * either rebuilt in full or, above, left untouched. */
	st = ctx->state;
	lb_mg_quotas(ents, ctx->rank, n, m, wsum);
	na = lb_mg_states(ents, n, m, seed, st);
	lb_mg_schedule(ents, na, m, wsum, ctx->bucket, ctx->order);
	lb_mg_fill(st, ents, ctx->order, m, ctx->tail_slots, ctx->taken,
		   table);
	return 0;
}

int lb_maglev_build(const struct lb_maglev_backend *be, size_t n, __u32 m,
		    __u32 seed, __u32 *table)
{
	struct lb_maglev_ctx ctx;
	int err;

	lb_maglev_ctx_init(&ctx);
	err = lb_maglev_ctx_build(&ctx, be, n, m, seed, table);
	lb_maglev_ctx_fini(&ctx);
	return err;
}
