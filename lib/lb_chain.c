// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_chain.c - backends indexed by VIP, and free slots, as chains through
 * lb_backends (see lb_chain.h for the write order that makes them safe
 * against a process killed between two writes).
 *
 * Rewriting an active entry to change next_id is safe while packets read
 * it: every byte the datapath reads is written with the value it had.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "lb_chain.h"
#include "lb_msg.h"

int lb_be_read(struct lb_dp *dp, __u32 id, struct lb_backend *b)
{
	dp->backend_reads++;
	return bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &id, b) ? -errno : 0;
}

int lb_be_write(struct lb_dp *dp, __u32 id, const struct lb_backend *b)
{
	return bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &id, b, 0) ? -errno : 0;
}

static int vip_read(struct lb_dp *dp, __u32 vip_id, struct lb_vip *v,
		    char *msg, size_t len)
{
	if (bpf_map_lookup_elem(dp->fd[LB_M_VIP_INFO], &vip_id, v))
		return lb_msgf(msg, len, -errno, "reading VIP id %u: %s", vip_id,
			       strerror(errno));
	return 0;
}

static int vip_write(struct lb_dp *dp, __u32 vip_id, const struct lb_vip *v,
		     char *msg, size_t len)
{
	if (bpf_map_update_elem(dp->fd[LB_M_VIP_INFO], &vip_id, v, 0))
		return lb_msgf(msg, len, -errno, "writing VIP id %u: %s", vip_id,
			       strerror(errno));
	return 0;
}

/* A growing array of views. */
struct view_set {
	struct lb_backend_view *v;
	int n, cap;
};

static int set_add(struct view_set *s, __u32 id, const struct lb_backend *b)
{
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 16;
		void *p = realloc(s->v, sizeof(*s->v) * cap);

		if (!p)
			return -ENOMEM;
		s->v = p;
		s->cap = cap;
	}
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	s->v[s->n].id = id;
	s->v[s->n].be = *b;
	s->n++;
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const struct lb_backend_view *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* Follows the chain from first. 0: whole; 1: broken (*why says how);
 * negative errno: a read failed. */
static int walk(struct lb_dp *dp, __u32 vip_id, __u32 first,
		struct view_set *s, const char **why)
{
	__u8 seen[LB_MAX_BACKENDS / 8] = { 0 };
	struct lb_backend b;
	__u32 id = first;
	int err;

	if (first == LB_CHAIN_UNKNOWN) {
		*why = "a repair cut short";
		return 1;
	}
	while (id) {
		if (id >= LB_MAX_BACKENDS) {
			*why = "an id out of range";
			return 1;
		}
		if (seen[id / 8] & (1u << (id % 8))) {
			*why = "a cycle";
			return 1;
		}
		seen[id / 8] |= 1u << (id % 8);
		err = lb_be_read(dp, id, &b);
		if (err)
			return err;
		if (!(b.flags & LB_BACKEND_F_ACTIVE)) {
			*why = "an inactive entry";
			return 1;
		}
		if (b.vip_id != vip_id) {
			*why = "an entry of another VIP";
			return 1;
		}
		err = set_add(s, id, &b);
		if (err)
			return err;
		id = b.next_id;
	}
	return 0;
}

/* Every active backend of the VIP, from all slots. */
static int scan(struct lb_dp *dp, __u32 vip_id, struct view_set *s)
{
	struct lb_backend *all = malloc(sizeof(*all) * LB_MAX_BACKENDS);
	int err;

	if (!all)
		return -ENOMEM;
	err = lb_backend_read_all(dp, all);
	for (__u32 id = 1; !err && id < LB_MAX_BACKENDS; id++)
		if ((all[id].flags & LB_BACKEND_F_ACTIVE) &&
		    all[id].vip_id == vip_id)
			err = set_add(s, id, &all[id]);
	free(all);
	return err;
}

/* Re-chains s (sorted by id). The head says "unknown" while the links
 * are rewritten, so a repair cut short is redone by the next reader. */
static int repair(struct lb_dp *dp, __u32 vip_id, struct view_set *s,
		  char *msg, size_t len)
{
	struct lb_vip v;
	int err = vip_read(dp, vip_id, &v, msg, len);

	if (err)
		return err;
	v.first_backend = LB_CHAIN_UNKNOWN;
	err = vip_write(dp, vip_id, &v, msg, len);
	if (err)
		return err;
	for (int i = 0; i < s->n; i++) {
		__u32 next = i + 1 < s->n ? s->v[i + 1].id : 0;

		if (s->v[i].be.next_id == next)
			continue;
		s->v[i].be.next_id = next;
		err = lb_be_write(dp, s->v[i].id, &s->v[i].be);
		if (err)
			return lb_msgf(msg, len, err, "repairing backend %u: %s",
				       s->v[i].id, strerror(-err));
	}
	v.first_backend = s->n ? s->v[0].id : 0;
	err = vip_write(dp, vip_id, &v, msg, len);
	if (!err)
		dp->chain_repairs++;
	return err;
}

int lb_chain_read(struct lb_dp *dp, __u32 vip_id, struct lb_backend_view **out,
		  int *n, char *msg, size_t len)
{
	struct view_set s = { 0 };
	const char *why = NULL;
	struct lb_vip v;
	int err;

	*out = NULL;
	*n = 0;
	err = vip_read(dp, vip_id, &v, msg, len);
	if (err)
		return err;
	err = walk(dp, vip_id, v.first_backend, &s, &why);
	if (err == 1) {
		s.n = 0;
		err = scan(dp, vip_id, &s);
	}
	if (err)
		goto fail;
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), by_id);
	/* a read repairs only with the lock held: a reader without it (a
	 * /metrics scrape) may be looking at another process's change in
	 * the middle, and it gets the full scan's answer all the same */
	if (why && dp->locked) {
		err = repair(dp, vip_id, &s, msg, len);
		if (err)
			goto fail_msg;
		fprintf(stderr, "inferlb: the backend chain of VIP id %u had %s; "
			"rebuilt from all %u slots (%d backends)\n", vip_id,
			why, LB_MAX_BACKENDS, s.n);
	}
	*out = s.v;
	*n = s.n;
	return 0;
fail:
	lb_msgf(msg, len, err, "reading the backends of VIP id %u: %s", vip_id,
		strerror(-err));
fail_msg:
	free(s.v);
	return err;
}

int lb_chain_link(struct lb_dp *dp, struct lb_backend *b, __u32 id, char *msg,
		  size_t len)
{
	struct lb_vip v;
	__u32 first;
	int err = vip_read(dp, b->vip_id, &v, msg, len);

	if (err)
		return err;
	first = v.first_backend;
	/* an "unknown" chain is rebuilt by a scan, which finds this one */
	b->flags &= ~LB_BACKEND_F_ACTIVE;
	b->next_id = first == LB_CHAIN_UNKNOWN ? 0 : first;
	err = lb_be_write(dp, id, b);
	if (err)
		return lb_msgf(msg, len, err, "writing backend %u: %s", id,
			       strerror(-err));
	if (first != LB_CHAIN_UNKNOWN) {
		v.first_backend = id;
		err = vip_write(dp, b->vip_id, &v, msg, len);
		if (err)
			return err;
	}
	b->flags |= LB_BACKEND_F_ACTIVE;
	err = lb_be_write(dp, id, b);
	if (err) {
		b->flags &= ~LB_BACKEND_F_ACTIVE;
		if (first != LB_CHAIN_UNKNOWN) {
			v.first_backend = first;
			vip_write(dp, b->vip_id, &v, NULL, 0);
		}
		return lb_msgf(msg, len, err, "activating backend %u: %s", id,
			       strerror(-err));
	}
	return 0;
}

int lb_chain_unlink(struct lb_dp *dp, __u32 vip_id, __u32 id,
		    const struct lb_backend_view *set, int n, char *msg,
		    size_t len)
{
	__u32 next = 0;
	struct lb_vip v;
	int err;

	for (int i = 0; i < n; i++)
		if (set[i].id == id)
			next = set[i].be.next_id;
	for (int i = 0; i < n; i++) {
		struct lb_backend p;

		if (set[i].be.next_id != id || set[i].id == id)
			continue;
		/* a fresh copy: the caller may have changed set[i] since */
		err = lb_be_read(dp, set[i].id, &p);
		if (!err) {
			p.next_id = next;
			err = lb_be_write(dp, set[i].id, &p);
		}
		if (err)
			return lb_msgf(msg, len, err, "unlinking backend %u: %s", id,
				       strerror(-err));
		return 0;
	}
	err = vip_read(dp, vip_id, &v, msg, len);
	if (err || v.first_backend != id)
		return err;	/* not reachable: nothing to unlink */
	v.first_backend = next;
	return vip_write(dp, vip_id, &v, msg, len);
}

/* slot 0 heads the free list */
static int free_head_write(struct lb_dp *dp, __u32 first)
{
	struct lb_backend z = { .next_id = first };

	return lb_be_write(dp, 0, &z);
}

/* Chains every inactive slot, lowest id first, from a full scan. */
static int free_rebuild(struct lb_dp *dp, __u32 *first, char *msg, size_t len)
{
	struct lb_backend *all = malloc(sizeof(*all) * LB_MAX_BACKENDS);
	__u32 next = 0;
	int err;

	if (!all)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	err = lb_backend_read_all(dp, all);
	if (err) {
		free(all);
		return lb_msgf(msg, len, err, "reading backends: %s", strerror(-err));
	}
	for (__u32 id = LB_MAX_BACKENDS - 1; !err && id >= 1; id--) {
		if (all[id].flags & LB_BACKEND_F_ACTIVE)
			continue;
		if (all[id].next_id != next) {
			all[id].next_id = next;
			err = lb_be_write(dp, id, &all[id]);
		}
		next = id;
	}
	if (!err)
		err = free_head_write(dp, next);
	free(all);
	if (err)
		return lb_msgf(msg, len, err, "rebuilding the free slot list: %s",
			       strerror(-err));
	*first = next;
	return 0;
}

int lb_free_pop(struct lb_dp *dp, __u32 *id, struct lb_backend *old, char *msg,
		size_t len)
{
	struct lb_backend head;
	__u32 f;
	int err = lb_be_read(dp, 0, &head);

	if (err)
		return lb_msgf(msg, len, err, "reading the free slot list: %s",
			       strerror(-err));
	f = head.next_id;
	if (f && f < LB_MAX_BACKENDS) {
		err = lb_be_read(dp, f, old);
		if (err)
			return lb_msgf(msg, len, err, "reading backend %u: %s", f,
				       strerror(-err));
	}
	if (!f || f >= LB_MAX_BACKENDS || (old->flags & LB_BACKEND_F_ACTIVE)) {
		/* empty (or never built, or broken): from a full scan */
		err = free_rebuild(dp, &f, msg, len);
		if (err)
			return err;
		if (!f)
			return lb_msgf(msg, len, -ENOSPC,
				       "all %u backend slots are in use",
				       LB_MAX_BACKENDS - 1);
		err = lb_be_read(dp, f, old);
		if (err)
			return lb_msgf(msg, len, err, "reading backend %u: %s", f,
				       strerror(-err));
	}
	err = free_head_write(dp, old->next_id);
	if (err)
		return lb_msgf(msg, len, err, "updating the free slot list: %s",
			       strerror(-err));
	*id = f;
	return 0;
}

int lb_free_push(struct lb_dp *dp, __u32 id)
{
	struct lb_backend head, b = { 0 }, old;
	bool listed = !lb_be_read(dp, 0, &head);
	int err;

	if (!lb_be_read(dp, id, &old))
		b.epoch = old.epoch;
	/* without the head, cleared and on no list until a rebuild */
	b.next_id = listed ? head.next_id : 0;
	err = lb_be_write(dp, id, &b);
	if (!err && listed)
		err = free_head_write(dp, id);
	return err;
}
