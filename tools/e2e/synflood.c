// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * synflood.c - a bounded flood of spoofed TCP SYNs, for the flood test of
 * the balancer (tests/test_synflood.sh). Test traffic only: it refuses
 * source and destination addresses outside 198.18.0.0/15, the benchmark
 * range the tests live in.
 *
 *   synflood --dev IF --dst-mac MAC --dst ADDR --dport PORT --count N
 *            [--src-net ADDR/LEN] [--threads T] [--seconds S] [--pps R]
 *
 * Sends N IPv4 SYNs out of IF (AF_PACKET, qdisc bypassed) to ADDR:PORT
 * through the next hop MAC, each from a random source address in
 * --src-net (default 198.19.0.0/16) and a random source port and initial
 * sequence number, with valid IP and TCP checksums, in batches of
 * sendmmsg(); T threads (default 1) share the count. Stops after S seconds
 * (default 60) even if N was not reached. --pps R paces the senders to R
 * SYNs per second in all (default: as fast as they go). Prints
 * "sent N in S s = R pps" and exits 0 if all N were sent, 1 if not (time
 * bound, send errors), 2 on usage errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
#define FRAME_LEN (sizeof(struct ether_header) + sizeof(struct iphdr) + \
		   sizeof(struct tcphdr))

struct conf {
	int ifindex;
	uint8_t dst_mac[6], src_mac[6];
	uint32_t dst;		/* network order */
	uint16_t dport;		/* network order */
	uint32_t src_net, src_mask; /* host order */
	uint64_t count;
	double seconds;
	double pps;		/* 0: unpaced */
	int threads;
};

static struct conf conf;
static atomic_uint_fast64_t budget;	/* SYNs not yet claimed by a thread */
static atomic_uint_fast64_t sent;
static atomic_int send_errno;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One's-complement sum of len bytes (len even), folded to 16 bits. */
static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint16_t *w = p;

	for (size_t i = 0; i < len / 2; i++)
		sum += w[i];
	return sum;
}

/* A SYN from src:sport with sequence seq into frame f. */
static void build(uint8_t *f, uint32_t src, uint16_t sport, uint32_t seq)
{
	struct ether_header *eth = (void *)f;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *th = (void *)(ip + 1);
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
	} ph;

	memcpy(eth->ether_dhost, conf.dst_mac, 6);
	memcpy(eth->ether_shost, conf.src_mac, 6);
	eth->ether_type = htons(ETHERTYPE_IP);
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*th));
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = src;
	ip->daddr = conf.dst;
	ip->check = csum_fold(csum_add(0, ip, sizeof(*ip)));
	memset(th, 0, sizeof(*th));
	th->source = sport;
	th->dest = conf.dport;
	th->seq = seq;
	th->doff = 5;
	th->syn = 1;
	th->window = htons(64240);
	ph.src = src;
	ph.dst = conf.dst;
	ph.zero = 0;
	ph.proto = IPPROTO_TCP;
	ph.len = htons(sizeof(*th));
	th->check = csum_fold(csum_add(csum_add(0, &ph, sizeof(ph)), th,
				       sizeof(*th)));
}

static void *flood(void *arg)
{
	static __thread uint8_t frames[BATCH][FRAME_LEN];
	struct sockaddr_ll to = { .sll_family = AF_PACKET,
				  .sll_ifindex = conf.ifindex,
				  .sll_halen = 6 };
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	uint64_t rnd = 0x9e3779b97f4a7c15ull ^ ((uintptr_t)arg * 0x2545f4914f6cdd1dull) ^
		       (uint64_t)time(NULL);
	double end = now_s() + conf.seconds;
	int one = 1, fd;

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		atomic_store(&send_errno, errno);
		return NULL;
	}
	/* straight to the driver: the qdisc would only add cost here */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	memcpy(to.sll_addr, conf.dst_mac, 6);
	memset(msg, 0, sizeof(msg));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = frames[i];
		iov[i].iov_len = FRAME_LEN;
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
		msg[i].msg_hdr.msg_name = &to;
		msg[i].msg_hdr.msg_namelen = sizeof(to);
	}
	double start = now_s(), mine = 0;

	while (now_s() < end) {
		uint64_t left = atomic_load(&budget), n;
		int done = 0;

		/* paced: this thread's share of the rate, batch by batch */
		if (conf.pps > 0) {
			double due = start + mine / (conf.pps / conf.threads);
			double wait = due - now_s();

			if (wait > 0) {
				struct timespec ts = { .tv_sec = (time_t)wait,
						       .tv_nsec = (long)((wait - (time_t)wait) * 1e9) };

				nanosleep(&ts, NULL);
			}
		}

		/* paced: small batches, which a veth ring (256) always takes */
		uint64_t batch = conf.pps > 0 ? 16 : BATCH;

		do {
			n = left < batch ? left : batch;
		} while (n && !atomic_compare_exchange_weak(&budget, &left, left - n));
		if (!n)
			break;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t r = xorshift(&rnd);
			uint32_t host = conf.src_net | ((uint32_t)r & ~conf.src_mask);

			build(frames[i], htonl(host), htons((uint16_t)(1024 + (r >> 32) % 64000)),
			      (uint32_t)(r >> 16));
		}
		while (done < (int)n && now_s() < end) {
			int rc = sendmmsg(fd, msg + done, (unsigned)n - done, 0);

			if (rc < 0) {
				if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
					continue;	/* the device queue is full */
				atomic_store(&send_errno, errno);
				close(fd);
				return NULL;
			}
			done += rc;
		}
		atomic_fetch_add(&sent, (uint64_t)done);
		mine += done;
		if (done < (int)n)
			break;
	}
	close(fd);
	return NULL;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/* Inside 198.18.0.0/15, the only range tests may use? */
static bool test_range(uint32_t host)
{
	return (host & 0xfffe0000u) == 0xc6120000u;
}

static int read_mac(const char *dev, uint8_t mac[6])
{
	char path[128], buf[64];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", dev);
	f = fopen(path, "r");
	if (!f)
		return -1;
	rc = fgets(buf, sizeof(buf), f) ? 0 : -1;
	fclose(f);
	if (!rc) {
		buf[strcspn(buf, "\n")] = '\0';
		rc = parse_mac(buf, mac);
	}
	return rc;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: synflood --dev IF --dst-mac MAC --dst ADDR --dport PORT --count N\n"
		"                [--src-net ADDR/LEN] [--threads T] [--seconds S] [--pps R]\n"
		"  addresses must lie in 198.18.0.0/15 (test traffic only)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'i' },
		{ "dst-mac", required_argument, NULL, 'm' },
		{ "dst", required_argument, NULL, 'd' },
		{ "dport", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "src-net", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "pps", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dev = NULL, *net = "198.19.0.0/16";
	bool have_mac = false, have_dst = false, have_port = false;
	pthread_t th[16];
	double t0, t1;
	char *end;
	int o, plen;

	conf.threads = 1;
	conf.seconds = 60;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned long long v;
		struct in_addr a;

		switch (o) {
		case 'i':
			dev = optarg;
			break;
		case 'm':
			if (parse_mac(optarg, conf.dst_mac))
				goto bad;
			have_mac = true;
			break;
		case 'd':
			if (inet_pton(AF_INET, optarg, &a) != 1 ||
			    !test_range(ntohl(a.s_addr)))
				goto bad;
			conf.dst = a.s_addr;
			have_dst = true;
			break;
		case 'p':
			v = strtoull(optarg, &end, 10);
			if (*end || !*optarg || !v || v > 65535)
				goto bad;
			conf.dport = htons((uint16_t)v);
			have_port = true;
			break;
		case 'n':
			v = strtoull(optarg, &end, 10);
			if (*end || !*optarg || !v || v > 1000000000ull)
				goto bad;
			conf.count = v;
			break;
		case 's':
			net = optarg;
			break;
		case 't':
			v = strtoull(optarg, &end, 10);
			if (*end || !*optarg || !v || v > 16)
				goto bad;
			conf.threads = (int)v;
			break;
		case 'S':
			conf.seconds = strtod(optarg, &end);
			if (*end || !*optarg || !(conf.seconds > 0 && conf.seconds <= 600))
				goto bad;
			break;
		case 'r':
			conf.pps = strtod(optarg, &end);
			if (*end || !*optarg || !(conf.pps >= 1 && conf.pps <= 1e8))
				goto bad;
			break;
		default:
			goto bad;
		}
	}
	{
		char a[INET_ADDRSTRLEN];
		const char *slash = strchr(net, '/');
		struct in_addr in;

		if (!slash || (size_t)(slash - net) >= sizeof(a))
			goto bad;
		memcpy(a, net, slash - net);
		a[slash - net] = '\0';
		plen = (int)strtol(slash + 1, &end, 10);
		if (*end || plen < 15 || plen > 32 || inet_pton(AF_INET, a, &in) != 1)
			goto bad;
		conf.src_mask = plen ? ~0u << (32 - plen) : 0;
		conf.src_net = ntohl(in.s_addr) & conf.src_mask;
		if (!test_range(conf.src_net))
			goto bad;
	}
	if (optind != argc || !dev || !have_mac || !have_dst || !have_port ||
	    !conf.count)
		goto bad;
	conf.ifindex = (int)if_nametoindex(dev);
	if (!conf.ifindex || read_mac(dev, conf.src_mac)) {
		fprintf(stderr, "synflood: no device %s\n", dev);
		return 2;
	}
	atomic_store(&budget, conf.count);
	t0 = now_s();
	for (int i = 0; i < conf.threads; i++)
		if (pthread_create(&th[i], NULL, flood, (void *)(uintptr_t)(i + 1))) {
			fprintf(stderr, "synflood: cannot start thread %d\n", i);
			return 1;
		}
	for (int i = 0; i < conf.threads; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	printf("sent %llu in %.2f s = %.0f pps\n",
	       (unsigned long long)atomic_load(&sent), t1 - t0,
	       atomic_load(&sent) / (t1 - t0));
	if (atomic_load(&send_errno)) {
		fprintf(stderr, "synflood: send: %s\n", strerror(atomic_load(&send_errno)));
		return 1;
	}
	return atomic_load(&sent) == conf.count ? 0 : 1;
bad:
	usage();
	return 2;
}
