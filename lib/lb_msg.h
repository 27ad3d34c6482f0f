/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_msg.h - how the library's calls report a failure: a negative errno
 * for the program, and one line of text for the operator in the caller's
 * msg[len] (lbctl prints it as "Error: ...", the agent logs it).
 */
#ifndef LB_MSG_H
#define LB_MSG_H

#include <stddef.h>

/* Formats msg[len] and returns err as a negative errno (either sign in). */
int lb_msgf(char *msg, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* LB_MSG_H */
