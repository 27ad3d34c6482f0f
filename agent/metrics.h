/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * metrics.h - lb-agent's /metrics: the text (metrics.c) and the HTTP
 * endpoint that serves it (http.c, libmicrohttpd, its own thread).
 */
#ifndef INFERLB_METRICS_H
#define INFERLB_METRICS_H

#include <stddef.h>
#include <stdio.h>

struct lb_agent;

/* Writes the whole exposition (takes the agent's lock). */
void lb_agent_metrics(struct lb_agent *a, FILE *f);

struct lb_http;

/* A listening socket on listen ("127.0.0.1:9464", "[::1]:9464"), made
 * before capabilities are dropped (a port below 1024 needs one). Returns
 * the fd or -errno with msg set. */
int lb_http_bind(const char *listen, char *msg, size_t len);
/* Serves GET /metrics (and /healthz) on that socket from a thread of its
 * own. NULL with msg set on failure. */
struct lb_http *lb_http_start(int fd, struct lb_agent *a, char *msg,
			      size_t len);
void lb_http_stop(struct lb_http *h);

#endif /* INFERLB_METRICS_H */
