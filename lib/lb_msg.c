// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* lb_msg.c - see lb_msg.h. */
#include <stdarg.h>
#include <stdio.h>

#include "lb_msg.h"

int lb_msgf(char *msg, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}
