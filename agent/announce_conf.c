// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* announce_conf.c - the `announce:` section of lb-agent's config (format
 * in announce.h); apart from announce.c so the config parser needs no
 * netlink or maps. */
#include <errno.h>
#include <stdint.h>

#include "announce.h"
#include "lb_announce.h"
#include "lb_yaml.h"

void lb_agent_announce_conf_default(struct lb_agent_announce_conf *c)
{
	*c = (struct lb_agent_announce_conf){
		.table = LB_ANNOUNCE_TABLE_DEFAULT,
		.proto = LB_ANNOUNCE_PROTO_DEFAULT,
		.interval_ms = LB_ANNOUNCE_INTERVAL_MS_DEFAULT,
	};
}

enum { K_ENABLED, K_TABLE, K_PROTO, K_INTERVAL, K_DRAIN, K_N };

int lb_agent_announce_parse(struct lb_agent_announce_conf *c,
			    struct lb_yaml_doc *d, const struct lb_yaml_node *m)
{
	static const char *const keys[K_N] = {
		[K_ENABLED] = "enabled", [K_TABLE] = "table",
		[K_PROTO] = "protocol", [K_INTERVAL] = "interval_ms",
		[K_DRAIN] = "drain_ms",
	};
	const struct lb_yaml_node *v[K_N];
	char msg[256];
	int rc;

	rc = lb_yaml_get_map(d, m, "announce", keys, K_N, v);
	if (rc)
		return rc;
	if ((v[K_ENABLED] &&
	     (rc = lb_yaml_get_bool(d, v[K_ENABLED], "announce.enabled",
				    &c->enabled))) ||
	    (v[K_TABLE] &&
	     (rc = lb_yaml_get_u32(d, v[K_TABLE], "announce.table", 1,
				   UINT32_MAX, &c->table))) ||
	    (v[K_PROTO] &&
	     (rc = lb_yaml_get_u32(d, v[K_PROTO], "announce.protocol", 1, 255,
				   &c->proto))) ||
	    (v[K_INTERVAL] &&
	     (rc = lb_yaml_get_u32(d, v[K_INTERVAL], "announce.interval_ms",
				   100, 600000, &c->interval_ms))) ||
	    (v[K_DRAIN] &&
	     (rc = lb_yaml_get_u32(d, v[K_DRAIN], "announce.drain_ms", 0,
				   600000, &c->drain_ms))))
		return rc;
	if (lb_announce_check_table(c->table, msg, sizeof(msg)))
		return lb_yaml_fail(d, -EINVAL, v[K_TABLE], "announce.table", "%s",
				    msg);
	if (lb_announce_check_proto(c->proto, msg, sizeof(msg)))
		return lb_yaml_fail(d, -EINVAL, v[K_PROTO], "announce.protocol",
				    "%s", msg);
	return 0;
}

