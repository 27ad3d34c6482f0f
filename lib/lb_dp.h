/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_dp.h - the pinned datapath, as lbctl and the agent see it.
 *
 * Everything lives under one pin directory (default /sys/fs/bpf/inferlb,
 * mode 0700, pins 0600): the balancer's maps (each under its BPF name, see
 * lb_map_table.h), its program, one XDP link per attached device, and a
 * decap/ subdirectory.
 * Every user takes an exclusive flock() on the directory for its whole
 * run, so two lbctl processes (or lbctl and the agent) never interleave
 * their changes.
 */
#ifndef LB_DP_H
#define LB_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "lb_map_table.h"
#include "lb_ring.h"

struct lb_dp {
	char dir[256];
	int dir_fd;          /* the pin directory, flock()ed; -1 if none */
	int fd[LB_M_COUNT];  /* pinned maps; -1 until opened, and always for
			      * the maps lb_dp does not open (lb_map_table) */
	struct lb_ring_btf rb;
	struct lb_be_load *load;  /* lb_be_load mapped (lb_dp_load_map) */
	bool created;        /* lb_dp_load loaded the datapath in this run */
	bool locked;         /* this handle holds the directory's flock: a
			      * read may then repair what it finds broken */
	/* What lb_ops did through this handle (tests and benchmarks check
	 * that a change to one backend reads only its VIP's backends):
	 * lb_backends entries read, and broken VIP chains rebuilt. */
	unsigned long backend_reads;
	unsigned long chain_repairs;
};

/*
 * Errors: these calls return 0 or a negative errno, with the error text in
 * msg[len]. -ENOENT has one meaning: nothing of inferlb's balancer is
 * pinned under the directory (it is not attached, or was unloaded), which
 * a caller may treat as "nothing to do". Every other failure returns
 * another errno, never -ENOENT:
 *   lb_dp_lock(create=false)  -ENOENT: no directory (or it was unloaded
 *                             while we waited for the lock); -EBUSY: held
 *                             by another process too long; others as the
 *                             system calls fail
 *   lb_dp_lock(create=true)   never -ENOENT (a missing parent directory
 *                             is -ENOTDIR)
 *   lb_dp_open                -ENOENT: none of the balancer's maps, nor
 *                             its program, is pinned; -EPROTO: pins of
 *                             another layout or schema, or an incomplete
 *                             set (some maps missing)
 *   lb_dp_relock              as lb_dp_lock(create=false)
 *   lb_dp_unload              -ENOENT: no inferlb pins to remove
 */

/* Creates the pin directory if needed (mounting bpffs on /sys/fs/bpf when
 * it is not mounted) and locks it. */
int lb_dp_lock(struct lb_dp *dp, const char *dir, bool create, char *msg,
	       size_t len);

/* Loads the balancer if it is not pinned yet (maps, program), else reuses
 * the pins; then opens every map. Needs lb_dp_lock(create=true). */
int lb_dp_load(struct lb_dp *dp, char *msg, size_t len);

/* Opens the pinned maps of a running datapath (those of lb_map_table with
 * .opened) and checks their key and value sizes and schema. */
int lb_dp_open(struct lb_dp *dp, char *msg, size_t len);

void lb_dp_close(struct lb_dp *dp);
/* lb_be_load, mapped into this process (array of LB_MAX_BACKENDS), or
 * NULL with msg set. Write single fields with atomic stores only. */
struct lb_be_load *lb_dp_load_map(struct lb_dp *dp, char *msg, size_t len);
/* For a long-running user (the agent): drop the lock between changes and
 * take it again (bounded wait, as lb_dp_lock), keeping the maps open. */
void lb_dp_unlock(struct lb_dp *dp);
int lb_dp_relock(struct lb_dp *dp, char *msg, size_t len);

enum lb_xdp_mode { LB_XDP_NATIVE, LB_XDP_SKB };

/* Attaches the pinned balancer to ifname with a pinned link. Refuses a
 * device that runs another XDP program unless force. */
int lb_dp_attach(struct lb_dp *dp, const char *ifname, enum lb_xdp_mode mode,
		 bool force, char *msg, size_t len);
/* -ENOENT here: not attached to that device. */
int lb_dp_detach(struct lb_dp *dp, const char *ifname, char *msg, size_t len);

/* Names of the devices the balancer is attached to (from the link pins).
 * Returns how many (at most max), each in names[i] (IFNAMSIZ). */
int lb_dp_attached(struct lb_dp *dp, char names[][16], int max);

/* Detaches everywhere and removes every pin of inferlb (the maps of
 * lb_map_table, programs, links), then the directory if that emptied it. */
int lb_dp_unload(struct lb_dp *dp, char *msg, size_t len);

/* Decap program for backend hosts, under DIR/decap/. */
int lb_dp_decap_attach(struct lb_dp *dp, const char *ifname,
		       enum lb_xdp_mode mode, bool force, char *msg, size_t len);
int lb_dp_decap_detach(struct lb_dp *dp, const char *ifname, char *msg,
		       size_t len);

#endif /* LB_DP_H */
