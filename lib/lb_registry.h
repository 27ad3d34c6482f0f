/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_registry.h - a worker's entry in an etcd registry: the key it is
 * put under and its JSON value, the one format `lbctl register` writes
 * and lb-agent's etcd discovery source reads.
 *
 *   key    PREFIX + "ADDR:PORT" ("[ADDR]:PORT" for IPv6), put with a lease
 *          the registrant keeps alive: an expired lease removes it
 *   value  {"address": "198.18.1.11", "port": 8000, "engine": "vllm",
 *           "url": "http://198.18.1.11:8000", "capacity": 1.0,
 *           "slots": 64}
 *          address and port required; the others optional (the agent's
 *          source template fills them); unknown keys, wrong types and
 *          out-of-range values are errors, as in the YAML file.
 *
 * The library knows engines by name only (the agent owns their meaning):
 * engine is checked against LB_REGISTRY_ENGINES.
 */
#ifndef LB_REGISTRY_H
#define LB_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#define LB_REGISTRY_URL_MAX 512		/* = LB_AGENT_URL_MAX */
#define LB_REGISTRY_ENGINE_MAX 16
/* the engine names a value may carry (agent/engine.h parses them) */
#define LB_REGISTRY_ENGINES "vllm, sglang, tgi, triton, generic"
#define LB_REGISTRY_CAPACITY_MAX 1000.0
#define LB_REGISTRY_SLOTS_MAX 65535
/* a value longer than this is refused unparsed */
#define LB_REGISTRY_VALUE_MAX 4096

struct lb_registry_entry {
	__u8 addr[16];			/* IPv4 in the first 4 bytes */
	__u8 family;			/* LB_AF_INET or LB_AF_INET6 */
	__u16 port;			/* 1..65535 */
	char engine[LB_REGISTRY_ENGINE_MAX];	/* "" = not given */
	char url[LB_REGISTRY_URL_MAX];	/* "" = not given */
	double capacity;		/* 0 = not given, else (0, 1000] */
	uint32_t slots;			/* 0 = not given, else 1..65535 */
};

/* The value of e as JSON (malloc'd, NUL-terminated; keys not given are
 * left out), or NULL on no memory. */
char *lb_registry_encode(const struct lb_registry_entry *e);

/* val[0..len-1] into *out. 0, or -EINVAL with msg saying which key is
 * wrong and why (out zeroed). */
int lb_registry_decode(const char *val, size_t len,
		       struct lb_registry_entry *out, char *msg, size_t msglen);

/* The key of e under prefix into key[keylen]: 0, or -ENAMETOOLONG. */
int lb_registry_key(const char *prefix, const struct lb_registry_entry *e,
		    char *key, size_t keylen);

#endif /* LB_REGISTRY_H */
