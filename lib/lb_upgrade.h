/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_upgrade.h - replace a running XDP program by a new build without a
 * gap: the new object reuses every pinned map, then each device's pinned
 * link is switched to the new program with one bpf_link_update().
 *
 * Order, and what a failure leaves:
 *   1. open the object, check it against the pins: its schema (BTF tag,
 *      see LB_SCHEMA_TAG) against lb_meta's, each of its maps against the
 *      pinned map of that name (type, key and value size, max_entries,
 *      flags; a map-in-map's inner map too), no map of it unpinned, no
 *      pinned map of ours it lacks;
 *   2. load it over the pinned maps (libbpf reuses their fds);
 *   3. swap every device's link (BPF_F_REPLACE with the program read from
 *      the link, so a concurrent change is refused, not overwritten);
 *   4. the new program takes the program pin (rename over it), so a later
 *      `attach` runs it too.
 * A failure in 1-2 changes nothing. A failure in 3 rolls back the devices
 * already switched; should a rollback fail too, the error names which
 * device runs which program. Needs lb_dp_lock (the pin-dir lock).
 */
#ifndef LB_UPGRADE_H
#define LB_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "lb_dp.h"

#define LB_UPGRADE_MAX_DEVS 64
/* The new program's pin (program pin + this) until it has replaced the
 * old one on every device and is renamed over the program pin; one left
 * by an upgrade that died is removed by the next upgrade or unload. */
#define LB_UPGRADE_PIN_SUFFIX "_new" /* bpffs refuses names with dots */

/* Which of inferlb's programs. */
enum lb_upgrade_what {
	LB_UPGRADE_BALANCER,	/* xdp_lb, pinned in the pin directory */
	LB_UPGRADE_DECAP,	/* xdp_decap, in its decap/ subdirectory */
};

struct lb_upgrade_dev {
	char ifname[16];	/* from the link's pin name */
	__u32 old_id;		/* program the link ran before */
	__u32 new_id;		/* ... and runs now (old_id: not switched) */
};

struct lb_upgrade {
	__u32 old_prog_id, new_prog_id;	/* the pinned program */
	__u32 schema;		/* of object and maps; 0: none (decap) */
	int maps_reused;
	int ndevs;
	struct lb_upgrade_dev devs[LB_UPGRADE_MAX_DEVS];
	unsigned long load_us;	/* open, check and load the object */
	unsigned long swap_us;	/* first link switched to last */
};

/*
 * obj_path NULL: the object built into this binary (what `attach` loads).
 * Returns 0 or a negative errno with msg set:
 *   -ENOENT   that program is not loaded under the pin directory;
 *   -EPROTO   the object does not fit the pinned maps (nothing changed);
 *   -EINVAL   not an inferlb object (no such program; nothing changed);
 *   others    as the system calls fail; up->devs says where each device
 *             stands when the failure came during the swap.
 */
int lb_dp_upgrade(struct lb_dp *dp, enum lb_upgrade_what what,
		  const char *obj_path, struct lb_upgrade *up, char *msg,
		  size_t len);

#endif /* LB_UPGRADE_H */
