// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* caps.c - see caps.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "caps.h"

int lb_drop_caps(char *msg, size_t len)
{
	const cap_value_t keep[] = { CAP_BPF, CAP_NET_ADMIN };
	const int nkeep = sizeof(keep) / sizeof(keep[0]);
	cap_t c;
	int err = 0;

	/* the bounding set first: dropping from it needs CAP_SETPCAP */
	for (cap_value_t v = 0; v <= CAP_LAST_CAP; v++) {
		int kept = 0;

		for (int i = 0; i < nkeep; i++)
			kept |= keep[i] == v;
		if (!kept && CAP_IS_SUPPORTED(v) && cap_drop_bound(v) && errno != EINVAL) {
			snprintf(msg, len, "cannot drop capability %d from the bounding set: %s",
				 v, strerror(errno));
			return -errno;
		}
	}
	if (cap_reset_ambient() && errno != EINVAL) {
		snprintf(msg, len, "cannot clear ambient capabilities: %s",
			 strerror(errno));
		return -errno;
	}
	c = cap_init();
	if (!c) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	if (cap_set_flag(c, CAP_PERMITTED, nkeep, keep, CAP_SET) ||
	    cap_set_flag(c, CAP_EFFECTIVE, nkeep, keep, CAP_SET) ||
	    cap_set_proc(c)) {
		err = -errno;
		snprintf(msg, len, "cannot set capabilities to cap_bpf,cap_net_admin: %s",
			 strerror(errno));
	}
	cap_free(c);
	if (!err && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		err = -errno;
		snprintf(msg, len, "cannot set no_new_privs: %s", strerror(errno));
	}
	return err;
}
