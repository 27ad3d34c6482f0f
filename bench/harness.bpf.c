// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * harness.bpf.c - the measuring wrapper of the XDP benchmark
 * (bench/bench_xdp.c), "method B" of the team's benchmarking notes.
 *
 * BPF_PROG_TEST_RUN with repeat N runs a program N times on ONE buffer and
 * does not reset it in between, so a program that encapsulates sees its own
 * output from the second iteration on. This wrapper runs first in every
 * iteration, puts the original frame back and tail-calls the program
 * under test:
 *
 *   1. how far has ctx->data moved since the first iteration? Packet
 *      pointers cannot be compared across runs, so the pointer is turned
 *      into a plain number by a round trip through map memory (storing a
 *      pointer into a map needs allow_ptr_leaks, i.e. root/CAP_PERFMON);
 *   2. checks the previous iteration's output layout (data movement and
 *      length) against what the benchmark expects of that program and
 *      path, and counts mismatches: every iteration's output is checked,
 *      not only the last one, which the kernel copies out;
 *   3. bpf_xdp_adjust_head() back to the original start and
 *      bpf_xdp_adjust_tail() back to the original length. Both helpers are
 *      called in every iteration, also with offset 0, so the harness costs
 *      the same whatever the program under test did to the frame;
 *   4. bpf_xdp_store_bytes() copies the original bytes back;
 *   5. two more bpf_xdp_store_bytes() write a 32-bit counter, (its
 *      template value + s->vary_step * the number of earlier iterations
 *      of this slot), its low half into the 16-bit big-endian field at
 *      s->vary_off and its high half into the one at s->vary_off2 (the
 *      template value is read from the same two fields), so that a slot
 *      can send a different packet every iteration (e.g. a new TCP source
 *      port, and a new source address every 65536 packets: a new flow
 *      each time, never repeated within a run of 2^32 packets; 16 bits
 *      alone would bring a tuple back every 65536 packets, and a SYN
 *      whose handshake still waits in its slot is a retransmit, not a new
 *      flow). Every slot makes both stores in every iteration, and the
 *      non-varying ones (vary_step 0, both offsets 0) write their own
 *      template bytes back, so the harness costs the same for all slots.
 *      Checksums covering the fields are not fixed up;
 *   6. tail call. If it fails, a distinctive verdict is returned.
 *
 * Slots and blocks: up to HARNESS_SLOTS programs (bench_progs[i]), each
 * with its own frame and expectations (harness.s[i]), take turns in blocks
 * of harness.block iterations: slot 0, 1, ..., nslots-1, 0, 1, ... within
 * ONE test run. On these VMs the speed of a vCPU changes by tens of percent
 * from one tenth of a second to the next; programs that alternate every
 * millisecond or so see the same machine, so their difference and ratio
 * hold even when the absolute figures drift.
 *
 * Timing: bpf_ktime_get_ns() at each block boundary; the finished block's
 * time is charged to its slot (ns, timed). A block's time covers its
 * iterations whole: harness, program and the kernel's loop. The kernel's
 * own figure is whole ns per iteration only, averaged over all slots, and
 * the test-run syscall has a fixed cost of several ms outside its loop (it
 * swaps the XDP dispatcher), so neither can time a slot.
 *
 * State lives in .bss (one array map, mmapped by the skeleton): userspace
 * writes frames and expectations and zeroes the rest before every run; the
 * skeleton gives both sides the same layout.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define HARNESS_SLOTS 16 /* power of two */
#define HARNESS_MAX_FRAME 256
#define HARNESS_MIN_FRAME 14 /* Ethernet header */

/* Verdicts of the harness itself; no XDP action uses these values. They are
 * read-only data so that userspace takes them from the skeleton. */
const volatile __u32 harness_ret_tail_call = 0xbe01; /* empty or bad slot */
const volatile __u32 harness_ret_adjust_head = 0xbe02;
const volatile __u32 harness_ret_adjust_tail = 0xbe03;
const volatile __u32 harness_ret_store = 0xbe04;
const volatile __u32 harness_ret_bad_len = 0xbe05; /* frame length */
const volatile __u32 harness_ret_vary = 0xbe06; /* vary_off(2) out of frame */

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, HARNESS_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} bench_progs SEC(".maps");

/* Anonymous structs only: the skeleton then spells them out for userspace. */
struct {
	/* set by userspace */
	__u32 nslots; /* slots in use, 1..HARNESS_SLOTS */
	__u32 block;  /* iterations per block, >= 1 */
	/* run state, zero at the start of a run */
	__u32 slot;    /* slot of the current block */
	__u32 left;    /* iterations left in the current block */
	__u64 iters;   /* iterations run */
	__u64 t_block; /* bpf_ktime_get_ns() at the current block's start */
	__u64 orig;    /* ctx->data of the first iteration */
	__u64 cur;     /* scratch for the pointer -> number round trip */
	struct {
		/* set by userspace */
		__u32 len;         /* frame length */
		__s32 expect_head; /* data movement the program causes */
		__u32 expect_len;  /* frame length it leaves */
		__u16 vary_off;    /* 16-bit fields rewritten every iteration */
		__u16 vary_step;   /* with template + vary_step * iterations: */
		__u16 vary_off2;   /* vary_off the low half, this the high */
		__u16 pad1;
		__u8 bytes[HARNESS_MAX_FRAME]; /* the frame */
		/* results, zero at the start of a run */
		__u64 iters; /* iterations run with this slot */
		__u64 timed; /* of those, in time-stamped (finished) blocks */
		__u64 ns;    /* time of the timed iterations */
		__u64 bad;   /* iterations that left an unexpected layout */
		__s64 bad_head; /* ... the last one's data movement */
		__u32 bad_len;  /* ... and length */
		__u32 pad2;
	} s[HARNESS_SLOTS];
} harness;

SEC("xdp")
int xdp_harness(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	volatile __u64 *cur = &harness.cur;
	__u32 idx = harness.slot & (HARNESS_SLOTS - 1), len, tlen;
	typeof(harness.s[0]) *s = &harness.s[idx];
	__u64 n = harness.iters, now, k;
	__u32 off, off2, v32;
	__u16 v;
	__s64 head;

	/* Where the previous iteration left the frame (s: its slot). */
	*cur = (__u64)(long)data;
	head = (__s64)(*cur - harness.orig);
	len = data_end - data;
	if (!n) {
		harness.orig = *cur;
		head = 0;
	} else if (head != s->expect_head || len != s->expect_len) {
		s->bad++;
		s->bad_head = head;
		s->bad_len = len;
	}

	if (!harness.left) {
		now = bpf_ktime_get_ns();
		if (n) {
			s->ns += now - harness.t_block;
			s->timed += harness.block;
			if (++idx >= harness.nslots)
				idx = 0;
			idx &= HARNESS_SLOTS - 1;
			harness.slot = idx;
			s = &harness.s[idx];
		}
		harness.t_block = now;
		harness.left = harness.block;
	}
	harness.left--;
	harness.iters = n + 1;
	k = s->iters++; /* this slot's earlier iterations */

	/* Back to the original frame of this slot. */
	if (bpf_xdp_adjust_head(ctx, (int)-head))
		return harness_ret_adjust_head;
	tlen = s->len;
	if (tlen < HARNESS_MIN_FRAME || tlen > HARNESS_MAX_FRAME)
		return harness_ret_bad_len;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	len = data_end - data;
	/* keep clang from folding this into "tlen - data_end + data" */
	asm volatile("" : "+r"(len));
	if (bpf_xdp_adjust_tail(ctx, (int)tlen - (int)len))
		return harness_ret_adjust_tail;
	if (bpf_xdp_store_bytes(ctx, 0, s->bytes, tlen))
		return harness_ret_store;
	off = s->vary_off;
	off2 = s->vary_off2;
	if (off > tlen - 2 || off > HARNESS_MAX_FRAME - 2 ||
	    off2 > tlen - 2 || off2 > HARNESS_MAX_FRAME - 2)
		return harness_ret_vary;
	v32 = ((__u32)s->bytes[off2] << 24 | (__u32)s->bytes[off2 + 1] << 16 |
	       (__u32)s->bytes[off] << 8 | s->bytes[off + 1]) +
	      (__u32)s->vary_step * (__u32)k;
	v = bpf_htons((__u16)v32);
	if (bpf_xdp_store_bytes(ctx, off, &v, sizeof(v)))
		return harness_ret_store;
	v = bpf_htons((__u16)(v32 >> 16));
	if (bpf_xdp_store_bytes(ctx, off2, &v, sizeof(v)))
		return harness_ret_store;

	bpf_tail_call(ctx, &bench_progs, idx);
	return harness_ret_tail_call;
}
