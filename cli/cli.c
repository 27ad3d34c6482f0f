// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cli.c - the steps lbctl's commands share; see cli.h. */
#include "lb_print.h"
#include "cli.h"

int cli_open_dp(struct lb_dp *dp)
{
	char msg[CLI_MSG_LEN];

	if (lb_dp_lock(dp, cli_pin_dir, false, msg, sizeof(msg)) ||
	    lb_dp_open(dp, msg, sizeof(msg))) {
		lb_dp_close(dp);
		lb_err("%s", msg);
		return -1;
	}
	return 0;
}

int cli_fail(struct lb_dp *dp, const char *msg)
{
	lb_dp_close(dp);
	lb_err("%s", msg);
	return EXIT_RUNTIME;
}

int cli_report(const char *key, const char *fmt, const char *val)
{
	lb_out_open_object(NULL);
	lb_out_str(key, fmt, val);
	lb_out_close_object();
	return 0;
}
