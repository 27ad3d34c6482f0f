// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_httpfloor - the floor under lb-agent's polling cost: the cheapest
 * keep-alive HTTP/1.1 GET loop we can write on raw sockets (one connection
 * per worker, epoll, Content-Length framing only, no HTTP library), at the
 * same rate against the same simulated fleet, optionally running the
 * agent's own engine extraction on each body.
 *
 * It is a baseline for bench/agent.sh, not a client: it assumes the
 * fleetsim answers (Content-Length, no chunking, no errors) and stops at
 * the first surprise. What it prints is the CPU of this process: kernel
 * TCP on loopback (which also carries the server side's receive path in
 * our send()), epoll and the copy of each body; with --parse, plus the
 * metrics extraction.
 *
 * Usage: bench_httpfloor --workers N --seconds S [--hz H] [--port P] [--parse]
 * Worker i is http://127.0.(i/250).(i%250+1):P/w/i/metrics, as bench/agent.sh.
 * Prints one line: "floor workers N hz H reqs R cpu_pct C us_per_req U".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "engine.h"

#define BODY_MAX	(1 << 20)

struct conn {
	int fd;
	int id;
	bool busy;
	size_t len;
	char *buf;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6 +
	       (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec / 1e6;
}

static int open_conn(struct conn *c, int epfd, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	int one = 1;

	a.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)(c->id / 250) << 8 |
				  (uint32_t)(c->id % 250 + 1));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev))
		return -errno;
	c->buf = malloc(BODY_MAX);
	return c->buf ? 0 : -ENOMEM;
}

static int send_get(struct conn *c)
{
	char req[128];
	int n = snprintf(req, sizeof(req),
			 "GET /w/%d/metrics HTTP/1.1\r\nHost: x\r\n\r\n", c->id);

	c->len = 0;
	c->busy = true;
	return send(c->fd, req, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -EIO;
}

/* 1 when c->buf holds a whole response, 0 if not yet, -1 if malformed. */
static int whole(struct conn *c, const char **body, size_t *blen)
{
	const char *end, *cl;
	size_t hdr;

	c->buf[c->len] = '\0';
	end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	hdr = (size_t)(end + 4 - c->buf);
	cl = strcasestr(c->buf, "\r\ncontent-length:");
	if (!cl || cl > end)
		return -1;
	*blen = strtoul(cl + 17, NULL, 10);
	*body = c->buf + hdr;
	return c->len >= hdr + *blen;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workers", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "hz", required_argument, NULL, 'z' },
		{ "port", required_argument, NULL, 'p' },
		{ "parse", no_argument, NULL, 'P' },
		{ 0 },
	};
	int n = 1000, port = 9000, epfd, i, o, rc;
	double secs = 10, hz = 10, t0, c0, next, el, cpu;
	bool parse = false;
	struct conn *cs;
	long done = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'n': n = atoi(optarg); break;
		case 's': secs = atof(optarg); break;
		case 'z': hz = atof(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 'P': parse = true; break;
		default: return 2;
		}
	}
	if (n < 1 || n > 62500 || !(secs > 0) || !(hz > 0) || port < 1 ||
	    port > 65535) {
		fprintf(stderr, "Error: bad --workers, --seconds, --hz or --port\n");
		return 2;
	}
	cs = calloc((size_t)n, sizeof(*cs));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || epfd < 0)
		return 1;
	for (i = 0; i < n; i++) {
		cs[i].id = i;
		rc = open_conn(&cs[i], epfd, port);
		if (rc) {
			fprintf(stderr, "Error: worker %d: %s\n", i, strerror(-rc));
			return 1;
		}
	}
	t0 = now_s();
	c0 = cpu_s();
	next = t0;
	while (now_s() - t0 < secs) {
		struct epoll_event evs[64];
		int k, wait_ms;

		if (now_s() >= next) {
			for (i = 0; i < n; i++) {
				if (cs[i].busy)
					continue;	/* late: skip this round */
				if (send_get(&cs[i])) {
					fprintf(stderr, "Error: send to worker %d\n", i);
					return 1;
				}
			}
			next += 1.0 / hz;
		}
		wait_ms = (int)((next - now_s()) * 1000);
		k = epoll_wait(epfd, evs, 64, wait_ms < 0 ? 0 : wait_ms);
		for (i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			const char *body;
			size_t blen;
			ssize_t r;

			r = recv(c->fd, c->buf + c->len, BODY_MAX - 1 - c->len, 0);
			if (r <= 0) {
				fprintf(stderr, "Error: worker %d closed or failed\n", c->id);
				return 1;
			}
			c->len += (size_t)r;
			rc = whole(c, &body, &blen);
			if (rc < 0) {
				fprintf(stderr, "Error: worker %d: no Content-Length\n", c->id);
				return 1;
			}
			if (!rc)
				continue;
			if (parse) {
				struct lb_signals sig;
				struct prom_error perr;

				if (lb_engine_extract(LB_ENGINE_VLLM, NULL, body, blen,
						      &sig, &perr) < 0) {
					fprintf(stderr, "Error: worker %d: bad metrics\n", c->id);
					return 1;
				}
			}
			c->busy = false;
			done++;
		}
	}
	el = now_s() - t0;
	cpu = cpu_s() - c0;
	printf("floor workers %d hz %.1f reqs %ld cpu_pct %.2f us_per_req %.1f\n",
	       n, hz, done, 100 * cpu / el, done ? 1e6 * cpu / (double)done : 0);
	return 0;
}
