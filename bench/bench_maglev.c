/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bench_maglev.c - full Maglev table builds, ours against a textbook one.
 *
 * N = 1000 backends, M = 65537, equal weights and mixed weights 1..10.
 * Each round times every case once with lb_maglev_ctx_build() (scratch
 * reused, as the daemon does), once with the one-shot lb_maglev_build()
 * and once with the baseline, interleaved, so a noisy neighbour slows all
 * of them alike. Prints median and p90 per case and the ratio of medians.
 *
 * The baseline is Maglev as usually written: permutation entry j of a
 * backend is (offset + j * skip) % M, computed for every probe; the table
 * itself is the "taken" map; a backend of weight w takes w turns per
 * round until the table is full. Both builders must fill every slot with
 * a valid id, or the bench fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb_maglev.h"

#define BENCH_N 1000
#define BENCH_M 65537
#define BENCH_ROUNDS 41
#define BENCH_SEED 0x5eed

enum { CASE_EQUAL, CASE_MIXED, NCASES };
enum { IMPL_CTX, IMPL_ONESHOT, IMPL_BASE, NIMPLS };

static const char *const case_name[NCASES] = { "equal weights",
					       "mixed weights" };

/* ---- baseline ------------------------------------------------------- */

static __u32 base_hash(const __u8 *addr, __u32 seed, __u32 salt)
{
	__u32 h = 2166136261u ^ seed ^ salt;
	int i;

	for (i = 0; i < 16; i++) {
		h ^= addr[i];
		h *= 16777619u;
	}
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

struct base_perm {
	__u32 offset;
	__u32 skip;
	__u32 next; /* index j of the next permutation entry to try */
};

/* Entry j of a permutation, the textbook way: one division per probe. */
static __u32 base_entry(const struct base_perm *p, __u32 m)
{
	return ((__u64)p->offset + (__u64)p->next * p->skip) % m;
}

/* One turn: claim the first free entry of the permutation. */
static void base_claim(struct base_perm *p, __u32 m, __u32 id, __u32 *table)
{
	__u32 c = base_entry(p, m);

	while (table[c]) {
		p->next++;
		c = base_entry(p, m);
	}
	table[c] = id;
	p->next++;
}

/* noinline and a runtime m: a real daemon does not know M at compile time,
 * and a constant would let the compiler turn every % into a multiply. */
__attribute__((noinline))
static int base_build(const struct lb_maglev_backend *be, size_t n, __u32 m,
		      __u32 seed, __u32 *table)
{
	struct base_perm *perm = malloc(n * sizeof(*perm));
	__u32 filled = 0, r;
	size_t i;

	if (!perm)
		return -1;
	for (i = 0; i < n; i++) {
		perm[i].offset = base_hash(be[i].addr, seed, 0x1234) % m;
		perm[i].skip = base_hash(be[i].addr, seed, 0x5678) % (m - 1);
		perm[i].skip++;
		perm[i].next = 0;
	}
	/* The table is its own "taken" map: ids are never 0. */
	memset(table, 0, (size_t)m * sizeof(*table));
	while (filled < m) {
		for (i = 0; i < n && filled < m; i++) {
			/* Weight w: w turns in a row per round. */
			for (r = 0; r < be[i].weight && filled < m; r++) {
				base_claim(&perm[i], m, be[i].id, table);
				filled++;
			}
		}
	}
	free(perm);
	return 0;
}

/* ---- harness -------------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void make_backends(struct lb_maglev_backend *be, int mixed)
{
	int i;

	memset(be, 0, BENCH_N * sizeof(*be));
	for (i = 0; i < BENCH_N; i++) {
		be[i].addr[0] = 10;
		be[i].addr[1] = 1;
		be[i].addr[2] = i >> 8;
		be[i].addr[3] = i & 0xff;
		be[i].id = i + 1;
		be[i].weight = mixed ? 1 + (i * 7) % 10 : 1;
	}
}

/* Every slot must hold the id of a backend with a non-zero weight. */
static int check_full(const __u32 *table, const char *who, const char *what)
{
	__u32 s;

	for (s = 0; s < BENCH_M; s++) {
		if (table[s] < 1 || table[s] > BENCH_N) {
			fprintf(stderr, "error: %s, %s: slot %u holds %u\n",
				who, what, s, table[s]);
			return -1;
		}
	}
	return 0;
}

/* Read through a volatile so that no builder sees M as a constant. */
static volatile __u32 bench_m = BENCH_M;

static int run_one(int impl, struct lb_maglev_ctx *ctx,
		   const struct lb_maglev_backend *be, __u32 *table)
{
	__u32 m = bench_m;

	switch (impl) {
	case IMPL_CTX:
		return lb_maglev_ctx_build(ctx, be, BENCH_N, m, BENCH_SEED,
					   table);
	case IMPL_ONESHOT:
		return lb_maglev_build(be, BENCH_N, m, BENCH_SEED, table);
	default:
		return base_build(be, BENCH_N, m, BENCH_SEED, table);
	}
}

static const char *const impl_name[NIMPLS] = { "ours (ctx)", "ours (one-shot)",
					       "baseline" };

int main(void)
{
	static struct lb_maglev_backend be[NCASES][BENCH_N];
	static __u32 table[BENCH_M];
	static double ms[NCASES][NIMPLS][BENCH_ROUNDS];
	struct lb_maglev_ctx ctx;
	double med[NIMPLS], p90[NIMPLS], t0;
	int c, i, r, err = 0;

	make_backends(be[CASE_EQUAL], 0);
	make_backends(be[CASE_MIXED], 1);
	lb_maglev_ctx_init(&ctx);

	/* Warm-up round, which also checks every builder fills the table. */
	for (c = 0; c < NCASES && !err; c++) {
		for (i = 0; i < NIMPLS && !err; i++) {
			memset(table, 0, sizeof(table));
			err = run_one(i, &ctx, be[c], table);
			if (err)
				fprintf(stderr, "error: %s, %s: build failed\n",
					impl_name[i], case_name[c]);
			else
				err = check_full(table, impl_name[i],
						 case_name[c]);
		}
	}
	for (r = 0; r < BENCH_ROUNDS && !err; r++) {
		for (c = 0; c < NCASES; c++) {
			for (i = 0; i < NIMPLS && !err; i++) {
				t0 = now_ms();
				err = run_one(i, &ctx, be[c], table);
				ms[c][i][r] = now_ms() - t0;
			}
		}
	}
	lb_maglev_ctx_fini(&ctx);
	if (err) {
		fprintf(stderr, "error: build failed\n");
		return 1;
	}

	printf("maglev build  N=%d M=%d  %d rounds, median / p90 in ms\n",
	       BENCH_N, BENCH_M, BENCH_ROUNDS);
	printf("%-16s %15s %17s %15s %9s\n", "", "ours (ctx)",
	       "ours (one-shot)", "baseline", "speedup");
	for (c = 0; c < NCASES; c++) {
		for (i = 0; i < NIMPLS; i++) {
			qsort(ms[c][i], BENCH_ROUNDS, sizeof(double),
			      cmp_double);
			med[i] = ms[c][i][BENCH_ROUNDS / 2];
			p90[i] = ms[c][i][BENCH_ROUNDS * 9 / 10];
		}
		printf("%-16s %6.2f / %6.2f %8.2f / %6.2f %6.2f / %6.2f",
		       case_name[c], med[IMPL_CTX], p90[IMPL_CTX],
		       med[IMPL_ONESHOT], p90[IMPL_ONESHOT], med[IMPL_BASE],
		       p90[IMPL_BASE]);
		printf(" %8.1fx\n", med[IMPL_BASE] / med[IMPL_CTX]);
	}
	printf("speedup = baseline median / ours (ctx) median\n");
	return 0;
}
