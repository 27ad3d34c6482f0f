// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * http.c - lb-agent's HTTP endpoint (libmicrohttpd, one internal thread):
 * GET /metrics for Prometheus, GET /healthz for a liveness probe. Loopback
 * by default: the balancer's state is not for the whole network. Beyond
 * loopback the config asks for TLS (GnuTLS inside libmicrohttpd) and/or
 * basic auth against bcrypt hashes (crypt_r, libxcrypt), the way
 * Prometheus exporters do (agent.metrics_web, config.h).
 */
#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "config.h"
#include "lb_addr.h"
#include "metrics.h"

#define REALM "inferlb lb-agent"
/* TLS 1.2 and 1.3 only, as Prometheus' exporter-toolkit by default */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* libmicrohttpd's own words on why it failed (GnuTLS' reason for a
 * certificate it refuses): its first message, first line. Read only when
 * the daemon did not start, so no thread writes it then. */
struct mhd_log {
	char buf[200];
};

struct lb_http {
	struct MHD_Daemon *d;
	struct lb_agent *a;
	struct mhd_log log;
	/* a copy of the config's, taken at start: a reload frees the
	 * agent's config, and the protection changes only on restart */
	struct lb_agent_web_conf web;
};

/* ---- basic auth ------------------------------------------------------- */

/* Whether pass hashes to hash (bcrypt, via crypt_r), compared in constant
 * time. */
static bool bcrypt_match(const char *hash, const char *pass)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));	/* ~32 KiB */
	unsigned char diff = 0;
	const char *out;
	size_t i;

	if (!cd)
		return false;
	out = crypt_r(pass, hash, cd);
	if (out && strlen(out) == LB_AGENT_BCRYPT_LEN)
		for (i = 0; i < LB_AGENT_BCRYPT_LEN; i++)
			diff |= (unsigned char)(out[i] ^ hash[i]);
	else
		diff = 1;	/* crypt_r failed: "*0" or NULL */
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return !diff;
}

/* Whether the request names a configured user with its password. Every
 * request that brings credentials pays one bcrypt, also for an unknown
 * user (against the first user's hash), so the answer's time does not
 * tell which users exist. */
static bool authorized(const struct lb_http *h, struct MHD_Connection *c)
{
	const struct lb_agent_web_user *u = NULL;
	char *user, *pass = NULL;
	bool ok = false;
	size_t i;

	user = MHD_basic_auth_get_username_password(c, &pass);
	if (user && pass) {
		for (i = 0; i < h->web.n_users; i++)
			if (!strcmp(h->web.users[i].name, user))
				u = &h->web.users[i];
		ok = bcrypt_match(u ? u->hash : h->web.users[0].hash, pass) &&
		     u;
	}
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return ok;
}

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
	/* a liveness probe learns nothing from "ok": no credentials needed */
	if (!strcmp(url, "/healthz"))
		return reply(c, 200, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT);
	if (h->web.users && !authorized(h, c)) {
		struct MHD_Response *r = MHD_create_response_from_buffer(
			13, "unauthorized\n", MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Content-Type", "text/plain");
		/* 401 with WWW-Authenticate: Basic realm="..." */
		ret = MHD_queue_basic_auth_fail_response(c, REALM, r);
		MHD_destroy_response(r);
		return ret;
	}
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

/* ---- the server ------------------------------------------------------ */

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct mhd_log *l = cls;

	if (l->buf[0])
		return;
	vsnprintf(l->buf, sizeof(l->buf), fmt, ap);
	l->buf[strcspn(l->buf, "\n")] = 0;
}

/* The daemon: on fd, or none at all (fd < 0) to try the TLS setup. */
static struct MHD_Daemon *daemon_start(int fd, struct lb_http *h,
				       const struct lb_agent_web_conf *w,
				       struct mhd_log *log)
{
	unsigned flags = MHD_USE_ERROR_LOG;
	struct MHD_OptionItem o[5];
	size_t n = 0;

	if (fd >= 0) {
		flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd,
						  NULL };
	} else {
		flags |= MHD_USE_NO_LISTEN_SOCKET;
	}
	if (w->cert_pem) {
		flags |= MHD_USE_TLS;
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
						  w->cert_pem };
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
						  w->key_pem };
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						  TLS_PRIORITIES };
	}
	o[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, log,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				MHD_OPTION_ARRAY, o, MHD_OPTION_END);
}

int lb_http_check(const struct lb_agent_web_conf *w, char *msg, size_t len)
{
	struct mhd_log log = { "" };
	struct MHD_Daemon *d;
	size_t i;

	if (w->users) {
		if (MHD_is_feature_supported(MHD_FEATURE_BASIC_AUTH) != MHD_YES) {
			snprintf(msg, len, "agent.metrics_web.basic_auth_users: "
				 "this libmicrohttpd has no basic auth");
			return -ENOTSUP;
		}
		for (i = 0; i < w->n_users; i++)
			if (crypt_checksalt(w->users[i].hash) != CRYPT_SALT_OK) {
				snprintf(msg, len, "agent.metrics_web."
					 "basic_auth_users.%s: this libcrypt "
					 "cannot check a hash of this kind",
					 w->users[i].name);
				return -ENOTSUP;
			}
	}
	if (!w->cert_pem)
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(msg, len, "agent.metrics_web.tls_server_config: this "
			 "libmicrohttpd was built without TLS");
		return -ENOTSUP;
	}
	d = daemon_start(-1, NULL, w, &log);
	if (!d) {
		snprintf(msg, len, "agent.metrics_web.tls_server_config: "
			 "%s and %s are not a certificate and its unencrypted "
			 "key (%s)", w->cert_file ? w->cert_file : "cert_file",
			 w->key_file ? w->key_file : "key_file",
			 log.buf[0] ? log.buf : "libmicrohttpd refused them");
		return -EINVAL;
	}
	MHD_stop_daemon(d);
	return 0;
}

static bool str_differ(const char *x, const char *y)
{
	return (!x != !y) || (x && strcmp(x, y));
}

bool lb_http_web_changed(const struct lb_http *h,
			 const struct lb_agent_web_conf *w)
{
	size_t i;

	if (h->web.insecure != w->insecure || h->web.n_users != w->n_users ||
	    str_differ(h->web.cert_pem, w->cert_pem) ||
	    str_differ(h->web.key_pem, w->key_pem))
		return true;
	for (i = 0; i < w->n_users; i++)
		if (strcmp(h->web.users[i].name, w->users[i].name) ||
		    strcmp(h->web.users[i].hash, w->users[i].hash))
			return true;
	return false;
}

void lb_http_describe(const char *listen, const struct lb_agent_web_conf *w,
		      char *buf, size_t len)
{
	const char *scheme = w->cert_pem ? "https" : "http";

	if (w->cert_pem && w->users)
		snprintf(buf, len, "%s://%s/metrics: TLS and basic auth (%zu "
			 "user%s)", scheme, listen, w->n_users,
			 w->n_users == 1 ? "" : "s");
	else if (w->cert_pem)
		snprintf(buf, len, "%s://%s/metrics: TLS, no auth (anyone who "
			 "reaches it may read it)", scheme, listen);
	else if (w->users)
		snprintf(buf, len, "%s://%s/metrics: basic auth (%zu user%s), "
			 "no TLS (passwords cross the network in clear)",
			 scheme, listen, w->n_users, w->n_users == 1 ? "" : "s");
	else if (lb_agent_listen_is_loopback(listen))
		snprintf(buf, len, "%s://%s/metrics: loopback only, no TLS, no "
			 "auth", scheme, listen);
	else
		snprintf(buf, len, "%s://%s/metrics: INSECURE: plain HTTP, no "
			 "auth, beyond loopback (agent.metrics_insecure: true)",
			 scheme, listen);
}

struct lb_http *lb_http_start(int fd, struct lb_agent *a,
			      const struct lb_agent_web_conf *web, char *msg,
			      size_t len)
{
	struct lb_http *h = calloc(1, sizeof(*h));

	if (!h || lb_agent_web_copy(&h->web, web)) {
		snprintf(msg, len, "out of memory");
		free(h);
		return NULL;
	}
	if (lb_http_check(web, msg, len))
		goto fail;
	h->a = a;
	h->d = daemon_start(fd, h, &h->web, &h->log);
	if (!h->d) {
		snprintf(msg, len, "cannot start the /metrics server%s%s",
			 h->log.buf[0] ? ": " : "", h->log.buf);
		goto fail;
	}
	return h;
fail:
	lb_agent_web_free(&h->web);
	free(h);
	return NULL;
}

void lb_http_stop(struct lb_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	lb_agent_web_free(&h->web);
	free(h);
}
