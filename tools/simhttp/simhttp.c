// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * simhttp - helpers shared by the simulators; see simhttp.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simhttp.h"

MHD_Result_t sim_reply(struct MHD_Connection *c, unsigned status,
		       const char *ctype, const char *backend,
		       const char *body)
{
	struct MHD_Response *r;
	MHD_Result_t ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
					    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(r, "Content-Type", ctype);
	if (backend)
		MHD_add_response_header(r, "X-Backend", backend);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

unsigned sim_parse_uint(const char *prog, const char *s, const char *what,
			unsigned lo, unsigned hi)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < lo || v > hi) {
		fprintf(stderr, "%s: %s must be %u..%u\n", prog, what, lo, hi);
		exit(2);
	}
	return (unsigned)v;
}

double sim_parse_double(const char *prog, const char *s, const char *what,
			double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);

	/* !(v >= lo) also catches NaN. */
	if (end == s || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "%s: %s must be %g..%g\n", prog, what, lo, hi);
		exit(2);
	}
	return v;
}

int sim_parse_bind(const char *bind, unsigned port,
		   struct sockaddr_storage *ss, char *addr, size_t addrlen,
		   bool *v6)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	size_t alen = strlen(bind);

	memset(ss, 0, sizeof(*ss));
	if (alen >= 2 && bind[0] == '[' && bind[alen - 1] == ']' &&
	    alen - 2 < addrlen) {
		memcpy(addr, bind + 1, alen - 2);
		addr[alen - 2] = '\0';
	} else {
		snprintf(addr, addrlen, "%s", bind);
	}
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*v6 = false;
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*v6 = true;
	} else {
		return -1;
	}
	return 0;
}

void sim_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void sim_bput(struct sim_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *np;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len)
			break;
		np = realloc(b->p, b->cap * 2 + (size_t)n);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = b->cap * 2 + (size_t)n;
	}
	b->len += (size_t)n;
}

void sim_bhead(struct sim_buf *b, const char *name, const char *type,
	       const char *help)
{
	sim_bput(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void sim_vllm_signals(struct sim_buf *b, const char *labels, unsigned running,
		      unsigned waiting, double kv)
{
	sim_bhead(b, "vllm:num_requests_running", "gauge",
		  "Number of requests in model execution batches.");
	sim_bput(b, "vllm:num_requests_running{%s} %u.0\n", labels, running);
	sim_bhead(b, "vllm:num_requests_waiting", "gauge",
		  "Number of requests waiting to be processed.");
	sim_bput(b, "vllm:num_requests_waiting{%s} %u.0\n", labels, waiting);
	sim_bhead(b, "vllm:kv_cache_usage_perc", "gauge",
		  "KV-cache usage. 1 means 100 percent usage.");
	sim_bput(b, "vllm:kv_cache_usage_perc{%s} %.6f\n", labels, kv);
}

void sim_sglang_signals(struct sim_buf *b, const char *labels, unsigned running,
			unsigned waiting, double kv)
{
	sim_bhead(b, "sglang:num_running_reqs", "gauge",
		  "The number of running requests.");
	sim_bput(b, "sglang:num_running_reqs{%s} %u.0\n", labels, running);
	sim_bhead(b, "sglang:num_queue_reqs", "gauge",
		  "The number of requests in the waiting queue.");
	sim_bput(b, "sglang:num_queue_reqs{%s} %u.0\n", labels, waiting);
	sim_bhead(b, "sglang:token_usage", "gauge", "The token usage.");
	sim_bput(b, "sglang:token_usage{%s} %.6f\n", labels, kv);
}
