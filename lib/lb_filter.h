/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_filter.h - maintaining lb_vip_filter, the bit filter over VIP
 * addresses that lets the datapath pass non-VIP traffic without a hash
 * lookup. A bit must be set BEFORE a VIP on that address is published and
 * may be cleared only AFTER the last VIP on it is gone.
 */
#ifndef LB_FILTER_H
#define LB_FILTER_H

#include <linux/types.h>

/* Sets the bit of one address (family 4 or 6, i.e. LB_AF_INET or
 * LB_AF_INET6; IPv4 in addr[0..3]). -EINVAL for another family. */
int lb_filter_add(int filter_fd, int family, const __u8 addr[16]);

/* Recomputes the whole filter from lb_vip_addrs (struct lb_addr_key keys)
 * and writes the words that changed; each word changes in one write.
 * Callers serialize all filter writers (lbctl holds the pin-dir lock). */
int lb_filter_rebuild(int filter_fd, int vip_addrs_fd);

#endif /* LB_FILTER_H */
