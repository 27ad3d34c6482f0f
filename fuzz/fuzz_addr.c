// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * fuzz_addr.c - libFuzzer target for the strings operators type and
 * config files carry (lib/lb_addr.c, lib/lb_names.c): addresses, VIPs,
 * host:port, numbers, durations and the datapath's enum names. They reach
 * lbctl from the command line and lb-agent from its config file, and
 * hostport() copies into a fixed buffer, so they get a target of their own.
 *
 * The input is one string (cut at the first NUL, as argv and the YAML
 * getters would). Any string must give 0 or -EINVAL; on error the output
 * is all zero and the message is not empty; on success, formatting what
 * was parsed and parsing that again must give the same value back.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const __u8 zero16[16];

static void check_ip(const char *s)
{
	__u8 addr[16], addr2[16], fam, fam2;
	char msg[256] = "", buf[64];
	int rc = lb_parse_ip(s, addr, &fam, msg, sizeof(msg));

	if (rc) {
		if (rc != -EINVAL || memcmp(addr, zero16, 16) || !msg[0])
			abort();
		return;
	}
	if (fam != LB_AF_INET && fam != LB_AF_INET6)
		abort();
	lb_fmt_ip(addr, fam, buf, sizeof(buf));
	if (lb_parse_ip(buf, addr2, &fam2, msg, sizeof(msg)) ||
	    fam2 != fam || memcmp(addr, addr2, 16))
		abort();
}

static void check_hostport(const char *s)
{
	__u8 addr[16], fam;
	char msg[512] = "";
	__u16 port = 0;

	if (lb_parse_hostport(s, addr, &fam, &port, msg, sizeof(msg))) {
		if (!msg[0])
			abort();
		return;
	}
	if (!port || (fam != LB_AF_INET && fam != LB_AF_INET6))
		abort();
}

static void check_vip(const char *s)
{
	static const struct lb_vip_key zero_key;
	struct lb_vip_key key, key2;
	char msg[512] = "", buf[128];
	int rc = lb_parse_vip(s, &key, msg, sizeof(msg));

	if (rc) {
		if (rc != -EINVAL || memcmp(&key, &zero_key, sizeof(key)) ||
		    !msg[0])
			abort();
		return;
	}
	if (!key.port || (key.proto != IPPROTO_TCP && key.proto != IPPROTO_UDP))
		abort();
	/* What lbctl prints, lbctl reads back as the same VIP. */
	lb_fmt_vip(&key, buf, sizeof(buf));
	if (lb_parse_vip(buf, &key2, msg, sizeof(msg)) ||
	    memcmp(&key, &key2, sizeof(key)))
		abort();
}

static void check_numbers(const char *s)
{
	__u64 ns;
	__u32 v;

	if (!lb_parse_u32(s, 1, 65535, &v) && (v < 1 || v > 65535))
		abort();
	if (!lb_parse_duration_ns(s, &ns) &&
	    (ns < 1000000ull || ns > LB_DURATION_MAX_NS))
		abort();
}

/* parse(s) succeeds exactly for the names name() prints, and maps back. */
static void check_name(const char *s, int (*parse)(const char *, __u8 *),
		       const char *(*name)(__u8))
{
	__u8 v;

	if (!parse(s, &v) && strcmp(name(v), s))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	/* exact size, so ASan catches a read past the terminating NUL */
	memcpy(s, data, size);
	s[size] = '\0';

	check_ip(s);
	check_hostport(s);
	check_vip(s);
	check_numbers(s);
	check_name(s, lb_state_parse, lb_state_name);
	check_name(s, lb_policy_parse, lb_policy_name);
	check_name(s, lb_refuse_parse, lb_refuse_name);
	check_name(s, lb_mode_parse, lb_mode_name);

	free(s);
	return 0;
}
