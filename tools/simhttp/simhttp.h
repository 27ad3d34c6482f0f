/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * simhttp - helpers shared by the simulators (gpusim, fleetsim): the
 * libmicrohttpd glue, command-line number parsing and the Prometheus text
 * buffer.  Only what both use the same way belongs here.
 */
#ifndef SIMHTTP_H
#define SIMHTTP_H

#include <microhttpd.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Handler return type: int before libmicrohttpd 0.9.71, an enum since. */
#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

/* Queue a copy of @body; @ctype and @backend (X-Backend) may be NULL. */
MHD_Result_t sim_reply(struct MHD_Connection *c, unsigned status,
		       const char *ctype, const char *backend,
		       const char *body);

/* Option value in lo..hi, else "@prog: @what must be lo..hi" and exit(2). */
unsigned sim_parse_uint(const char *prog, const char *s, const char *what,
			unsigned lo, unsigned hi);
double sim_parse_double(const char *prog, const char *s, const char *what,
			double lo, double hi);

/*
 * --bind ADDR (IPv4, IPv6 or [IPv6]) and @port into @ss; the bare address
 * goes to @addr (INET6_ADDRSTRLEN + 2 bytes).  -1 if it is no address.
 */
int sim_parse_bind(const char *bind, unsigned port,
		   struct sockaddr_storage *ss, char *addr, size_t addrlen,
		   bool *v6);

/* Block SIGINT/SIGTERM for all threads (main sigwaits @set), ignore SIGPIPE. */
void sim_block_signals(sigset_t *set);

/* Growable text buffer; @p must start as a malloc'ed block of @cap bytes. */
struct sim_buf {
	char *p;
	size_t len, cap;
	bool oom;		/* an append failed; the text is incomplete */
};

/* Append printf-style, growing @b->p as needed. */
void sim_bput(struct sim_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The "# HELP" and "# TYPE" lines of a Prometheus metric family. */
void sim_bhead(struct sim_buf *b, const char *name, const char *type,
	       const char *help);

/* The three families the agent reads (waiting, running, KV use), as the
 * engine exports them; @labels is the series' label set without braces.
 * vLLM: vllm:num_requests_running, vllm:num_requests_waiting,
 * vllm:kv_cache_usage_perc. SGLang: sglang:num_running_reqs,
 * sglang:num_queue_reqs, sglang:token_usage. */
void sim_vllm_signals(struct sim_buf *b, const char *labels, unsigned running,
		      unsigned waiting, double kv);
void sim_sglang_signals(struct sim_buf *b, const char *labels, unsigned running,
			unsigned waiting, double kv);

#endif /* SIMHTTP_H */
