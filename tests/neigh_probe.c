// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * neigh_probe.c - test driver for lb_nexthop_resolve().
 *
 * Usage: neigh_probe [-i IFNAME] [-t TIMEOUT_MS] ADDRESS
 * Prints "mac=.. ifindex=.. gw=.." and exits 0, or prints the error message
 * and exits 2 (ENETUNREACH), 3 (EHOSTUNREACH), 4 (EINVAL), 1 (other), so
 * that tests/test_neigh.sh can check which failure it got.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lb_neigh.h"

static int usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-i IFNAME] [-t TIMEOUT_MS] ADDRESS\n",
		prog);
	return 64;
}

int main(int argc, char **argv)
{
	struct lb_nexthop_info nh;
	char msg[256], gw[INET6_ADDRSTRLEN];
	unsigned char addr[16];
	int opt, family, err, oif = 0, timeout_ms = 1000;

	while ((opt = getopt(argc, argv, "i:t:")) != -1) {
		switch (opt) {
		case 'i':
			oif = if_nametoindex(optarg);
			if (!oif) {
				fprintf(stderr, "no interface %s\n", optarg);
				return 64;
			}
			break;
		case 't':
			timeout_ms = atoi(optarg);
			break;
		default:
			return usage(argv[0]);
		}
	}
	if (optind != argc - 1)
		return usage(argv[0]);
	family = strchr(argv[optind], ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, argv[optind], addr) != 1) {
		fprintf(stderr, "bad address %s\n", argv[optind]);
		return 64;
	}

	err = lb_nexthop_resolve(family, addr, oif, timeout_ms, &nh, msg,
				 sizeof(msg));
	if (err) {
		printf("error %d (%s): %s\n", -err, strerror(-err), msg);
		switch (err) {
		case -ENETUNREACH:
			return 2;
		case -EHOSTUNREACH:
			return 3;
		case -EINVAL:
			return 4;
		default:
			return 1;
		}
	}
	inet_ntop(nh.gw_family, nh.gw, gw, sizeof(gw));
	printf("mac=%02x:%02x:%02x:%02x:%02x:%02x ifindex=%d gw=%s\n",
	       nh.mac[0], nh.mac[1], nh.mac[2], nh.mac[3], nh.mac[4],
	       nh.mac[5], nh.ifindex, gw);
	return 0;
}
