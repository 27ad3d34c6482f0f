// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * http.c - lb-agent's HTTP endpoint (libmicrohttpd, one internal thread):
 * GET /metrics for Prometheus, GET /healthz for a liveness probe. Loopback
 * by default: the balancer's state is not for the whole network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "lb_addr.h"
#include "metrics.h"

struct lb_http {
	struct MHD_Daemon *d;
	struct lb_agent *a;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *type, char *body, size_t len,
			     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	struct lb_http *h = cls;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)state;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, 405, "text/plain", "only GET\n", 9,
			     MHD_RESPMEM_PERSISTENT);
	if (!strcmp(url, "/healthz"))
		return reply(c, 200, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics"))
		return reply(c, 404, "text/plain", "not found; try /metrics\n", 24,
			     MHD_RESPMEM_PERSISTENT);
	f = open_memstream(&buf, &len);
	if (!f)
		return reply(c, 500, "text/plain", "out of memory\n", 14,
			     MHD_RESPMEM_PERSISTENT);
	lb_agent_metrics(h->a, f);
	fclose(f);
	return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len,
		     MHD_RESPMEM_MUST_FREE);
}

/* "ADDR:PORT" or "[V6]:PORT" (lb_parse_hostport) into a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, char *msg,
			size_t len)
{
	__u8 addr[16], family;
	__u16 port;

	if (lb_parse_hostport(s, addr, &family, &port, msg, len))
		return -EINVAL;
	if (family == LB_AF_INET6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		memcpy(&a6->sin6_addr, addr, 16);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		memcpy(&a4->sin_addr, addr, 4);
	}
	return 0;
}

int lb_http_bind(const char *where, char *msg, size_t len)
{
	struct sockaddr_storage ss = { 0 };
	int fd, one = 1, err;
	char why[256];

	if (parse_listen(where, &ss, why, sizeof(why))) {
		snprintf(msg, len, "metrics_listen: %s", why);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		snprintf(msg, len, "socket: %s", strerror(errno));
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, ss.ss_family == AF_INET6 ?
		 sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) ||
	    listen(fd, 64)) {
		err = -errno;
		snprintf(msg, len, "cannot serve /metrics on %s: %s", where,
			 strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

struct lb_http *lb_http_start(int fd, struct lb_agent *a, char *msg,
			      size_t len)
{
	struct lb_http *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(msg, len, "out of memory");
		return NULL;
	}
	h->a = a;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0,
				NULL, NULL, handle, h,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				MHD_OPTION_END);
	if (!h->d) {
		snprintf(msg, len, "cannot start the /metrics server");
		free(h);
		return NULL;
	}
	return h;
}

void lb_http_stop(struct lb_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
