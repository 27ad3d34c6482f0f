// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dns_probe - one lb_dns_resolve() (agent/dns.c), for tests/test_dns.sh:
 *
 *   dns_probe SERVER NAME srv|a|aaaa [PORT] [TIMEOUT_MS]
 *
 * prints "ok N ttl T" and one "ADDR PORT" line per worker (sorted as the
 * answer gave them), "ok 0 empty" for an empty answer, or "fail ERROR"
 * (exit 1). Exit 2: bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "inferlb.h"
#include "dns.h"

int main(int argc, char **argv)
{
	static struct lb_dns_answer a;
	enum lb_dns_type type;
	unsigned long port = 0, tmo = 2000;
	char msg[256], s[INET6_ADDRSTRLEN];

	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: dns_probe SERVER NAME srv|a|aaaa [PORT] [TIMEOUT_MS]\n");
		return 2;
	}
	if (!strcmp(argv[3], "srv"))
		type = LB_DNS_SRV;
	else if (!strcmp(argv[3], "a"))
		type = LB_DNS_A;
	else if (!strcmp(argv[3], "aaaa"))
		type = LB_DNS_AAAA;
	else {
		fprintf(stderr, "dns_probe: type must be srv, a or aaaa\n");
		return 2;
	}
	if (argc > 4)
		port = strtoul(argv[4], NULL, 10);
	if (argc > 5)
		tmo = strtoul(argv[5], NULL, 10);
	if (port > 65535 || !tmo || tmo > 60000) {
		fprintf(stderr, "dns_probe: bad PORT or TIMEOUT_MS\n");
		return 2;
	}
	if (lb_dns_global_init(msg, sizeof(msg))) {
		fprintf(stderr, "dns_probe: %s\n", msg);
		return 1;
	}
	lb_dns_resolve(argv[2], type, (uint16_t)port, argv[1], (uint32_t)tmo, &a);
	lb_dns_global_fini();
	if (!a.ok) {
		printf("fail %s\n", a.err);
		return 1;
	}
	if (a.empty) {
		printf("ok 0 empty\n");
		return 0;
	}
	printf("ok %zu ttl %u\n", a.n, a.ttl_s);
	for (size_t i = 0; i < a.n; i++)
		printf("%s %u\n", inet_ntop(a.w[i].family == LB_AF_INET ? AF_INET : AF_INET6,
					    a.w[i].addr, s, sizeof(s)),
		       a.w[i].port);
	return 0;
}
