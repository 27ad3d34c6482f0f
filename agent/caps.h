/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * caps.h - lb-agent keeps only the capabilities its work needs once it is
 * set up: CAP_BPF (map updates and the new inner map of every table swap)
 * and CAP_NET_ADMIN (next-hop resolution of backends added on reload).
 * Everything else leaves the effective, permitted, inheritable, ambient
 * and bounding sets, and no-new-privs is set. Call it before starting any
 * thread: capabilities are per thread.
 */
#ifndef INFERLB_CAPS_H
#define INFERLB_CAPS_H

#include <stddef.h>

int lb_drop_caps(char *msg, size_t len);

#endif /* INFERLB_CAPS_H */
