// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* caps.c - see caps.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "caps.h"
#include "lb_msg.h"

static const cap_value_t keep[] = { CAP_BPF, CAP_NET_ADMIN };
#define NKEEP ((int)(sizeof(keep) / sizeof(keep[0])))

static bool kept(cap_value_t v)
{
	for (int i = 0; i < NKEEP; i++)
		if (keep[i] == v)
			return true;
	return false;
}

/* First, while CAP_SETPCAP (needed to drop from the bounding set) is
 * still there. EINVAL: a capability this kernel does not know. One that is
 * not in the set is skipped: under lb-agent.service's
 * CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN there is nothing to drop and
 * no CAP_SETPCAP to drop it with. */
static int drop_bounding(char *msg, size_t len)
{
	for (cap_value_t v = 0; v <= CAP_LAST_CAP; v++) {
		if (kept(v) || !CAP_IS_SUPPORTED(v) || cap_get_bound(v) == 0 ||
		    !cap_drop_bound(v) ||
		    errno == EINVAL)
			continue;
		return lb_msgf(msg, len, errno,
			       "cannot drop capability %d from the bounding set: %s",
			       v, strerror(errno));
	}
	if (cap_reset_ambient() && errno != EINVAL)
		return lb_msgf(msg, len, errno,
			       "cannot clear ambient capabilities: %s", strerror(errno));
	return 0;
}

/* Permitted and effective: the kept ones; inheritable: none. */
static int set_process_caps(char *msg, size_t len)
{
	cap_t c = cap_init();
	int err = 0;

	if (!c)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	if (cap_set_flag(c, CAP_PERMITTED, NKEEP, keep, CAP_SET) ||
	    cap_set_flag(c, CAP_EFFECTIVE, NKEEP, keep, CAP_SET) ||
	    cap_set_proc(c))
		err = lb_msgf(msg, len, errno,
			      "cannot set capabilities to cap_bpf,cap_net_admin: %s",
			      strerror(errno));
	cap_free(c);
	return err;
}

int lb_drop_caps(char *msg, size_t len)
{
	int err = drop_bounding(msg, len);

	if (!err)
		err = set_process_caps(msg, len);
	if (!err && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		err = lb_msgf(msg, len, errno, "cannot set no_new_privs: %s",
			      strerror(errno));
	return err;
}
