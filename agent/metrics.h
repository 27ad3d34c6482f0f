/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * metrics.h - lb-agent's /metrics: the text (metrics.c) and the HTTP
 * endpoint that serves it (http.c, libmicrohttpd, its own thread).
 */
#ifndef INFERLB_METRICS_H
#define INFERLB_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct lb_agent;
struct lb_agent_web_conf;

/* Writes the whole exposition (takes the agent's lock). */
void lb_agent_metrics(struct lb_agent *a, FILE *f);

struct lb_http;

/* A listening socket on listen ("127.0.0.1:9464", "[::1]:9464"), made
 * before capabilities are dropped (a port below 1024 needs one). Returns
 * the fd or -errno with msg set. */
int lb_http_bind(const char *listen, char *msg, size_t len);
/* Serves GET /metrics (and /healthz) on that socket from a thread of its
 * own, with web's TLS and basic auth (copied: they change on restart
 * only). NULL with msg set on failure. */
struct lb_http *lb_http_start(int fd, struct lb_agent *a,
			      const struct lb_agent_web_conf *web, char *msg,
			      size_t len);
/* What lb_http_start would refuse in web: no TLS or basic auth in this
 * libmicrohttpd, a hash libcrypt cannot check, a certificate and key
 * GnuTLS does not take as a pair. 0 or -errno with msg set. */
int lb_http_check(const struct lb_agent_web_conf *web, char *msg, size_t len);
/* Whether web asks for another protection than the server runs with. */
bool lb_http_web_changed(const struct lb_http *h,
			 const struct lb_agent_web_conf *web);
/* "https://ADDR/metrics: TLS and basic auth (2 users)": the protection
 * in force, for the start-up log. */
void lb_http_describe(const char *listen, const struct lb_agent_web_conf *web,
		      char *buf, size_t len);
void lb_http_stop(struct lb_http *h);

#endif /* INFERLB_METRICS_H */
