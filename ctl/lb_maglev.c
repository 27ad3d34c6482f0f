/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_maglev.c - weighted Maglev table builder.
 *
 * Maglev (Eisenbud et al., NSDI 2016): every backend gets a permutation of
 * the M slots, offset + j * skip (mod M), with offset and skip taken from a
 * hash of its address and the seed. Backends take turns; on its turn a
 * backend claims the next slot of its permutation that is still empty.
 * Because a backend's preferences do not depend on the other backends,
 * removing one mostly hands its slots to others and leaves the rest alone.
 *
 * Weights, done so that balance is exact and the cost is O(M + N log N):
 *   1. Quotas. Backend i should own M * w_i / W slots. Each gets the floor
 *      of that, and the slots left over go one each to the largest
 *      remainders (ties: lower address). A backend stops claiming once its
 *      quota is met, so every count is within one slot of its share, and
 *      there are exactly M turns in all.
 *   2. Turn order. Backend i's k-th turn is due at time (k + 1/2) / q_i in
 *      [0, 1): its turns are spread evenly over the build, interleaved with
 *      everybody else's in proportion to quota. The M turns are put in time
 *      order with one counting sort over M buckets (stable, so backends due
 *      in the same bucket go in address order). No rounds over all N
 *      backends, so skewed weights cost nothing extra.
 *
 * Determinism: backends are sorted by address first and every tie above
 * is broken by that order, so the input order never matters.
 *
 * Speed: the probe loop steps through a permutation with an add and a
 * conditional subtract (no division), tests a bitmap of claimed slots that
 * stays in L1 (8 KB for M = 65537) and writes the table only on a claim.
 * All scratch memory lives in struct lb_maglev_ctx and is reused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lb_maglev.h"

/* Time buckets of the turn schedule (see lb_mg_turns). */
#define LB_MG_NBUCKETS(m) (2 * (m))

/* One backend, as copied from the caller and sorted by address. */
struct lb_mg_ent {
	__u64 key_hi;   /* addr[0..7] big-endian: compares like memcmp */
	__u64 key_lo;   /* addr[8..15] big-endian */
	__u64 rem;      /* (M * weight) % W, for the largest-remainder pass */
	__u32 weight;
	__u32 id;
	__u32 quota;    /* slots this backend will own */
	__u32 pad;
};

/* Probe state of one backend that has a non-zero quota. */
struct lb_mg_state {
	__u32 next;     /* next slot of its permutation to try */
	__u32 skip;     /* permutation step, 1 .. M-1 */
	__u32 id;
	__u32 quota;
	__u32 weight;
};

bool lb_is_prime(__u32 n)
{
	__u32 d;

	if (n < 4)
		return n >= 2;
	if (n % 2 == 0 || n % 3 == 0)
		return false;
	/* Every prime above 3 is 6k +- 1; d * d fits: d stays below 2^16 + 6. */
	for (d = 5; (__u64)d * d <= n; d += 6)
		if (n % d == 0 || n % (d + 2) == 0)
			return false;
	return true;
}

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
	__u32 *order, *bucket;
	__u64 *taken;

	if (m <= ctx->cap_m)
		return 0;
	order = malloc((size_t)m * sizeof(*order));
	bucket = malloc(((size_t)LB_MG_NBUCKETS(m) + 1) * sizeof(*bucket));
	taken = malloc(((size_t)m + 63) / 64 * sizeof(*taken));
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
static int lb_mg_load(struct lb_mg_ent *ents, const struct lb_maglev_backend *be,
		      size_t n, __u64 *wsum)
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

static __u64 lb_mg_mix(__u64 x)
{
	/* Multiply-xorshift finaliser: every input bit affects every output
	 * bit, so nearby addresses get unrelated permutations. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Permutation of backend e: first slot and step, from address and seed. */
static void lb_mg_perm(const struct lb_mg_ent *e, __u32 m, __u32 seed,
		       struct lb_mg_state *s)
{
	__u64 h = ((__u64)seed << 32 | seed) ^ 0x9e3779b97f4a7c15ULL;

	h = lb_mg_mix(h ^ e->key_hi);
	h = lb_mg_mix(h ^ e->key_lo);
	s->next = h % m;
	/* A second, independent draw for the step: 1 .. m-1, and since m is
	 * prime every step visits all m slots. */
	s->skip = lb_mg_mix(h ^ 0x6a09e667f3bcc909ULL) % (m - 1) + 1;
}

/* Probe state for every backend with a quota, kept in address order. */
static __u32 lb_mg_states(const struct lb_mg_ent *ents, size_t n, __u32 m,
			  __u32 seed, struct lb_mg_state *st)
{
	__u32 na = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!ents[i].quota)
			continue;
		lb_mg_perm(&ents[i], m, seed, &st[na]);
		st[na].id = ents[i].id;
		st[na].quota = ents[i].quota;
		st[na].weight = ents[i].weight;
		na++;
	}
	return na;
}

/*
 * Stride scheduling: backend i's k-th turn is due at time (k + 1/2) / w_i,
 * so a backend's turn times do not depend on the other backends, and
 * removing one backend leaves the others' relative order alone (as in
 * unweighted Maglev's round robin). Time is scaled by W into buckets:
 * bucket = floor((2k + 1) * W / (2 w_i)). Every backend's last turn is due
 * near M / W, so the buckets span about M; the rare turns past 2M (tiny
 * shares that got a slot from rounding) share the last bucket. The
 * quotient is stepped Bresenham-style, keeping divisions out of the loop.
 * With fill == NULL the buckets are counted, else the backend's index is
 * placed at fill[bucket[b]++].
 */
static void lb_mg_turns(const struct lb_mg_state *s, __u64 wsum, __u32 nb,
			__u32 idx, __u32 *bucket, __u32 *fill)
{
	__u64 den = 2 * (__u64)s->weight, b = wsum / den, r = wsum % den;
	__u64 qstep = wsum / s->weight, rstep = 2 * (wsum % s->weight);
	__u32 k, cb;

	for (k = 0; k < s->quota; k++) {
		cb = b < nb ? b : nb - 1;
		if (fill)
			fill[bucket[cb]++] = idx;
		else
			bucket[cb + 1]++;
		b += qstep;
		r += rstep;
		if (r >= den) {
			r -= den;
			b++;
		}
	}
}

/* order[0..m-1]: state indices, one per turn, in time order. */
static void lb_mg_schedule(const struct lb_mg_state *st, __u32 na, __u32 m,
			   __u64 wsum, __u32 *bucket, __u32 *order)
{
	__u32 a, b, nb = LB_MG_NBUCKETS(m);

	/* bucket[b + 1] counts bucket b; the prefix sum makes bucket[b] its
	 * first position. */
	memset(bucket, 0, ((size_t)nb + 1) * sizeof(*bucket));
	for (a = 0; a < na; a++)
		lb_mg_turns(&st[a], wsum, nb, a, bucket, NULL);
	for (b = 1; b <= nb; b++)
		bucket[b] += bucket[b - 1];
	for (a = 0; a < na; a++)
		lb_mg_turns(&st[a], wsum, nb, a, bucket, order);
}

/*
 * Play the m turns. Each turn is sure to find an empty slot (fewer than m
 * slots are taken before it) and every permutation visits all slots, so
 * the probe loop ends.
 */
static void lb_mg_fill(struct lb_mg_state *st, const __u32 *order, __u32 m,
		       __u64 *taken, __u32 *table)
{
	__u32 t;

	memset(taken, 0, ((size_t)m + 63) / 64 * sizeof(*taken));
	for (t = 0; t < m; t++) {
		struct lb_mg_state *s = &st[order[t]];
		__u32 pos = s->next, skip = s->skip;

		while (taken[pos >> 6] & (1ULL << (pos & 63))) {
			pos += skip;
			if (pos >= m)
				pos -= m;
		}
		taken[pos >> 6] |= 1ULL << (pos & 63);
		table[pos] = s->id;
		pos += skip;
		if (pos >= m)
			pos -= m;
		s->next = pos;
	}
}

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
	if (m < LB_RING_SIZE_MIN || m > LB_RING_SIZE_MAX || !lb_is_prime(m))
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
	/* All checks passed: from here on nothing fails, so the table is
	 * either fully rebuilt or (above) left untouched. */
	st = ctx->state;
	lb_mg_quotas(ents, ctx->rank, n, m, wsum);
	na = lb_mg_states(ents, n, m, seed, st);
	lb_mg_schedule(st, na, m, wsum, ctx->bucket, ctx->order);
	lb_mg_fill(st, ctx->order, m, ctx->taken, table);
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
