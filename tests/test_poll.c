/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_poll.c - unit tests of the agent's HTTP poller (agent/poll.c)
 * against an in-process libmicrohttpd server on 127.0.0.1.
 *
 * The runner starts this test in its own network namespace, so ports are
 * private and "a port nothing listens on" is reliable. The server runs a
 * thread per connection, so a handler that sleeps (/slow, /conc) does not
 * hold up the others; it counts TCP connections (keep-alive) and
 * requests in flight (concurrency) with atomics, so assertions are on
 * counts, never on tight timings. Every wait loop is bounded both by
 * iterations and by time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <microhttpd.h>

#include "poll.h"

#define BIG_BODY	(64 * 1024)
#define MAX_BODY	4096
#define SLOW_MS		2000
#define CONC_MS		50
#define NCONC		50

static struct MHD_Daemon *srv;
static uint16_t srv_port;
static atomic_int conns;	/* TCP connections accepted */
static atomic_int conc_now;	/* /conc requests in the handler */
static atomic_int conc_max;
static atomic_bool stopping;
static char big[BIG_BODY];

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	nanosleep(&ts, NULL);
}

static void notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
		   enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)c;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&conns, 1);
}

/* Chunked answer (no Content-Length) bigger than MAX_BODY, so the limit
 * must be enforced by the write callback rather than up front. */
static ssize_t chunked_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	size_t n;

	(void)cls;
	if (pos >= BIG_BODY)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = BIG_BODY - pos;
	if (n > max)
		n = max;
	memset(buf, 'c', n);
	return (ssize_t)n;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status,
			     const char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body,
					    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Sleeps ms unless the server is being stopped. */
static void server_sleep(int ms)
{
	int i;

	for (i = 0; i < ms / 10 && !atomic_load(&stopping); i++)
		sleep_ms(10);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_data_size, void **req_cls)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *ua;
	int cur, max;

	(void)cls;
	(void)method;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;

	/* The first call only announces the request: answering right away
	 * makes libmicrohttpd send "Connection: close", since the request
	 * may still have a body, which would defeat the keep-alive test. */
	if (!*req_cls) {
		*req_cls = (void *)handler;
		return MHD_YES;
	}
	if (!strcmp(url, "/ok"))
		return reply(c, 200, "hello", 5);
	if (!strcmp(url, "/503"))
		return reply(c, 503, "busy", 4);
	if (!strcmp(url, "/big"))
		return reply(c, 200, big, sizeof(big));
	if (!strcmp(url, "/slow")) {
		server_sleep(SLOW_MS);
		return reply(c, 200, "late", 4);
	}
	if (!strcmp(url, "/ua")) {
		ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_USER_AGENT);
		if (!ua)
			ua = "";
		return reply(c, 200, ua, strlen(ua));
	}
	if (!strcmp(url, "/conc")) {
		cur = atomic_fetch_add(&conc_now, 1) + 1;
		max = atomic_load(&conc_max);
		while (cur > max &&
		       !atomic_compare_exchange_weak(&conc_max, &max, cur))
			;
		server_sleep(CONC_MS);
		atomic_fetch_sub(&conc_now, 1);
		return reply(c, 200, "conc", 4);
	}
	if (!strcmp(url, "/chunked")) {
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024,
						      chunked_reader, NULL,
						      NULL);
		if (!r)
			return MHD_NO;
		ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	return reply(c, 404, "nope", 4);
}

/* A server on 127.0.0.1:port (0: any free port), its port in *bound. */
static struct MHD_Daemon *daemon_start(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons(port),
	};
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;

	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_THREAD_PER_CONNECTION,
			     port, NULL, NULL, handler, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_NOTIFY_CONNECTION, notify, NULL,
			     MHD_OPTION_END);
	if (!d)
		return NULL;
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port) {
		MHD_stop_daemon(d);
		return NULL;
	}
	*bound = info->port;
	return d;
}

static int server_start(void **state)
{
	(void)state;
	memset(big, 'b', sizeof(big));
	srv = daemon_start(0, &srv_port);
	if (!srv) {
		fprintf(stderr, "cannot start libmicrohttpd\n");
		return -1;
	}
	return 0;
}

static int server_stop(void **state)
{
	(void)state;
	atomic_store(&stopping, true);
	MHD_stop_daemon(srv);
	return 0;
}

static void url_of(char *buf, size_t len, uint16_t port, const char *path)
{
	int n = snprintf(buf, len, "http://127.0.0.1:%u%s", port, path);

	assert_true(n > 0 && (size_t)n < len);
}

/* One finished request, as seen by the callback. */
struct res {
	int calls;
	int target;
	enum lb_fetch_result result;
	long status;
	char body[64];
	size_t len;
	bool dropped;
	double latency_ms;
	char error[128];
};

static void record(void *ctx, int target, const struct lb_fetch *f)
{
	struct res *r = ctx;

	r->calls++;
	r->target = target;
	r->result = f->result;
	r->status = f->status;
	r->len = f->len;
	r->dropped = f->dropped;
	r->latency_ms = f->latency_ms;
	/* The body must be NUL-terminated at len. */
	assert_non_null(f->body);
	assert_int_equal(f->body[f->len], '\0');
	snprintf(r->body, sizeof(r->body), "%s", f->body);
	snprintf(r->error, sizeof(r->error), "%s", f->error);
}

/* Drives p until *count reaches want; bounded by iterations and time. */
static void run_until(struct lb_poller *p, const int *count, int want,
		      double max_ms)
{
	double end = now_ms() + max_ms;
	int i, rc;

	for (i = 0; i < 100000 && *count < want && now_ms() < end; i++) {
		rc = lb_poller_run(p, 50, -1, NULL);
		assert_true(rc >= 0);
	}
	assert_int_equal(*count, want);
}

/* Makes a poller with one target at path and fetches it once. */
static void fetch_one(uint32_t timeout_ms, uint16_t port, const char *path,
		      struct res *r)
{
	char url[128], err[128] = "";
	struct lb_poller *p;
	int t;

	p = lb_poller_new(timeout_ms, MAX_BODY, err, sizeof(err));
	assert_non_null(p);
	url_of(url, sizeof(url), port, path);
	t = lb_poller_add(p, url);
	assert_int_equal(t, 0);
	memset(r, 0, sizeof(*r));
	assert_int_equal(lb_poller_start(p, t, record, r), 0);
	run_until(p, &r->calls, 1, 10.0 * timeout_ms + 5000);
	assert_int_equal(r->target, t);
	assert_false(lb_poller_busy(p, t));
	assert_int_equal(lb_poller_inflight(p), 0);
	lb_poller_free(p);
}

static void test_ok(void **state)
{
	struct res r;

	(void)state;
	fetch_one(1000, srv_port, "/ok", &r);
	assert_int_equal(r.result, LB_FETCH_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 5);
	assert_string_equal(r.body, "hello");
	assert_true(r.latency_ms >= 0 && r.latency_ms < 10000);
}

static void test_status_503(void **state)
{
	struct res r;

	(void)state;
	fetch_one(1000, srv_port, "/503", &r);
	assert_int_equal(r.result, LB_FETCH_OK);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "busy");
}

static void test_user_agent(void **state)
{
	struct res r;

	(void)state;
	fetch_one(1000, srv_port, "/ua", &r);
	assert_int_equal(r.result, LB_FETCH_OK);
	assert_string_equal(r.body, "inferlb-agent");
}

/* A port that was just free on 127.0.0.1 (private network namespace). */
static uint16_t free_port(void)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_refused(void **state)
{
	struct res r;

	(void)state;
	fetch_one(1000, free_port(), "/ok", &r);
	assert_int_equal(r.result, LB_FETCH_REFUSED);
	assert_true(r.error[0] != '\0');
}

static void test_timeout(void **state)
{
	const uint32_t timeout = 200;
	struct res r;

	(void)state;
	fetch_one(timeout, srv_port, "/slow", &r);
	assert_int_equal(r.result, LB_FETCH_TIMEOUT);
	assert_true(r.error[0] != '\0');
	assert_true(r.latency_ms >= timeout - 1);
	assert_true(r.latency_ms < 10.0 * timeout);
}

static void test_too_big(void **state)
{
	struct res r;

	(void)state;
	/* Announced by Content-Length. */
	fetch_one(2000, srv_port, "/big", &r);
	assert_int_equal(r.result, LB_FETCH_ERROR);
	assert_non_null(strstr(r.error, "larger than"));
	assert_int_equal(r.len, 0);
	/* Chunked: caught while receiving. */
	fetch_one(2000, srv_port, "/chunked", &r);
	assert_int_equal(r.result, LB_FETCH_ERROR);
	assert_non_null(strstr(r.error, "larger than"));
}

static void test_keepalive(void **state)
{
	char url[128], err[128] = "";
	struct lb_poller *p;
	struct res r;
	int i, t;

	(void)state;
	p = lb_poller_new(2000, MAX_BODY, err, sizeof(err));
	assert_non_null(p);
	url_of(url, sizeof(url), srv_port, "/ok");
	t = lb_poller_add(p, url);
	assert_true(t >= 0);
	atomic_store(&conns, 0);
	for (i = 0; i < 20; i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(lb_poller_start(p, t, record, &r), 0);
		run_until(p, &r.calls, 1, 5000);
		assert_int_equal(r.result, LB_FETCH_OK);
		assert_string_equal(r.body, "hello");
	}
	assert_int_equal(atomic_load(&conns), 1);
	lb_poller_free(p);
}

struct batch {
	int done;
	int ok;
	bool seen[NCONC];
};

static void batch_cb(void *ctx, int target, const struct lb_fetch *f)
{
	struct batch *b = ctx;

	assert_true(target >= 0 && target < NCONC);
	assert_false(b->seen[target]);
	b->seen[target] = true;
	b->done++;
	if (f->result == LB_FETCH_OK && f->status == 200 &&
	    !strcmp(f->body, "conc"))
		b->ok++;
}

static void test_concurrency(void **state)
{
	char url[128], err[128] = "";
	struct batch b = { .done = 0 };
	struct lb_poller *p;
	int i, round;

	(void)state;
	p = lb_poller_new(5000, MAX_BODY, err, sizeof(err));
	assert_non_null(p);
	for (i = 0; i < NCONC; i++) {
		/* Distinct URLs on one host:port, as in the benchmarks. */
		snprintf(err, sizeof(err), "/conc?i=%d", i);
		url_of(url, sizeof(url), srv_port, err);
		assert_int_equal(lb_poller_add(p, url), i);
	}
	atomic_store(&conns, 0);
	for (round = 0; round < 3; round++) {
		memset(&b, 0, sizeof(b));
		atomic_store(&conc_max, 0);
		for (i = 0; i < NCONC; i++)
			assert_int_equal(lb_poller_start(p, i, batch_cb, &b),
					 0);
		assert_int_equal(lb_poller_inflight(p), NCONC);
		run_until(p, &b.done, NCONC, 20000);
		assert_int_equal(b.ok, NCONC);
		assert_int_equal(lb_poller_inflight(p), 0);
		assert_true(atomic_load(&conc_max) > 1);
	}
	/* Later rounds reuse the first round's connections: the cache
	 * holds one idle connection per target. */
	assert_true(atomic_load(&conns) <= NCONC);
	lb_poller_free(p);
}

static void test_busy_and_ids(void **state)
{
	char url[128], err[128] = "";
	struct lb_poller *p;
	struct res r = { .calls = 0 };
	int t;

	(void)state;
	p = lb_poller_new(2000, MAX_BODY, err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(lb_poller_add(p, "ftp://127.0.0.1/"), -EINVAL);
	assert_int_equal(lb_poller_add(p, "127.0.0.1/ok"), -EINVAL);
	assert_int_equal(lb_poller_add(p, "http://"), -EINVAL);
	assert_int_equal(lb_poller_add(p, "http://a b/"), -EINVAL);
	assert_int_equal(lb_poller_add(p, "http://[::1/"), -EINVAL);
	url_of(url, sizeof(url), srv_port, "/ok");
	t = lb_poller_add(p, url);
	assert_int_equal(t, 0);
	assert_int_equal(lb_poller_add(p, url), 1);
	assert_int_equal(lb_poller_start(p, -1, record, &r), -EINVAL);
	assert_int_equal(lb_poller_start(p, 2, record, &r), -EINVAL);
	assert_false(lb_poller_busy(p, 5));

	assert_false(lb_poller_busy(p, t));
	assert_int_equal(lb_poller_start(p, t, record, &r), 0);
	assert_true(lb_poller_busy(p, t));
	assert_false(lb_poller_busy(p, 1));
	assert_int_equal(lb_poller_inflight(p), 1);
	assert_int_equal(lb_poller_start(p, t, record, &r), -EBUSY);
	assert_int_equal(lb_poller_inflight(p), 1);
	run_until(p, &r.calls, 1, 5000);
	assert_int_equal(r.result, LB_FETCH_OK);
	assert_false(lb_poller_busy(p, t));
	assert_int_equal(lb_poller_inflight(p), 0);
	/* Runs with nothing in flight report nothing. */
	assert_int_equal(lb_poller_run(p, 10, -1, NULL), 0);
	assert_int_equal(lb_poller_run(p, -1, -1, NULL), -EINVAL);
	lb_poller_free(p);
	lb_poller_free(NULL);

	assert_null(lb_poller_new(0, MAX_BODY, err, sizeof(err)));
	assert_true(err[0] != '\0');
}

/* A callback that starts its own target again: the handle must already
 * be out of the multi when the callback runs. */
struct again {
	struct lb_poller *p;
	int calls;
	int ok;
};

static void again_cb(void *ctx, int target, const struct lb_fetch *f)
{
	struct again *a = ctx;

	a->calls++;
	if (f->result == LB_FETCH_OK && f->status == 200)
		a->ok++;
	if (a->calls < 10)
		assert_int_equal(lb_poller_start(a->p, target, again_cb, a),
				 0);
}

static void test_restart_in_callback(void **state)
{
	char url[128], err[128] = "";
	struct again a = { .calls = 0 };
	int t;

	(void)state;
	a.p = lb_poller_new(2000, MAX_BODY, err, sizeof(err));
	assert_non_null(a.p);
	url_of(url, sizeof(url), srv_port, "/ok");
	t = lb_poller_add(a.p, url);
	assert_int_equal(lb_poller_start(a.p, t, again_cb, &a), 0);
	run_until(a.p, &a.calls, 10, 10000);
	assert_int_equal(a.ok, 10);
	assert_int_equal(lb_poller_inflight(a.p), 0);
	lb_poller_free(a.p);
}

/* A worker that restarts: its kept-alive connection dies with it, the
 * poll while it is down is refused, and the next one reconnects. */
static void test_server_restart(void **state)
{
	char url[128], err[128] = "";
	struct MHD_Daemon *d;
	struct lb_poller *p;
	uint16_t port, again;
	struct res r;
	int t;

	(void)state;
	d = daemon_start(0, &port);
	assert_non_null(d);
	p = lb_poller_new(2000, MAX_BODY, err, sizeof(err));
	assert_non_null(p);
	url_of(url, sizeof(url), port, "/ok");
	t = lb_poller_add(p, url);
	assert_int_equal(t, 0);

	memset(&r, 0, sizeof(r));
	assert_int_equal(lb_poller_start(p, t, record, &r), 0);
	run_until(p, &r.calls, 1, 5000);
	assert_int_equal(r.result, LB_FETCH_OK);

	MHD_stop_daemon(d);
	memset(&r, 0, sizeof(r));
	assert_int_equal(lb_poller_start(p, t, record, &r), 0);
	run_until(p, &r.calls, 1, 5000);
	assert_int_equal(r.result, LB_FETCH_REFUSED);

	d = daemon_start(port, &again);
	assert_non_null(d);
	assert_int_equal(again, port);
	memset(&r, 0, sizeof(r));
	assert_int_equal(lb_poller_start(p, t, record, &r), 0);
	run_until(p, &r.calls, 1, 5000);
	assert_int_equal(r.result, LB_FETCH_OK);
	assert_string_equal(r.body, "hello");

	lb_poller_free(p);
	MHD_stop_daemon(d);
}

static void test_extra_fd(void **state)
{
	char url[128], err[128] = "";
	struct lb_poller *p;
	bool ready = true;
	int fds[2], rc;
	double t0;
	char c;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	p = lb_poller_new(2000, MAX_BODY, err, sizeof(err));
	assert_non_null(p);
	url_of(url, sizeof(url), srv_port, "/ok");
	assert_int_equal(lb_poller_add(p, url), 0);

	/* Nothing written: not ready. */
	assert_int_equal(lb_poller_run(p, 20, fds[0], &ready), 0);
	assert_false(ready);

	/* Written: returns early, ready, no transfers. */
	assert_int_equal(write(fds[1], "x", 1), 1);
	t0 = now_ms();
	rc = lb_poller_run(p, 5000, fds[0], &ready);
	assert_int_equal(rc, 0);
	assert_true(ready);
	assert_true(now_ms() - t0 < 4000);
	assert_int_equal(read(fds[0], &c, 1), 1);

	/* NULL extra_ready is allowed. */
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(lb_poller_run(p, 5000, fds[0], NULL), 0);
	assert_int_equal(read(fds[0], &c, 1), 1);

	lb_poller_free(p);
	close(fds[0]);
	close(fds[1]);
}

static void test_free_inflight(void **state)
{
	char url[128], err[128] = "";
	struct lb_poller *p;
	struct res r = { .calls = 0 };
	int i, t;

	(void)state;
	p = lb_poller_new(5000, MAX_BODY, err, sizeof(err));
	assert_non_null(p);
	url_of(url, sizeof(url), srv_port, "/slow");
	for (i = 0; i < 5; i++) {
		t = lb_poller_add(p, url);
		assert_int_equal(lb_poller_start(p, t, record, &r), 0);
	}
	/* One never started, one refused target. */
	assert_true(lb_poller_add(p, url) >= 0);
	url_of(url, sizeof(url), free_port(), "/ok");
	t = lb_poller_add(p, url);
	assert_int_equal(lb_poller_start(p, t, record, &r), 0);
	/* The refused one finishes; the slow ones are sent and wait. */
	run_until(p, &r.calls, 1, 5000);
	for (i = 0; i < 5; i++)
		assert_int_equal(lb_poller_run(p, 20, -1, NULL), 0);
	assert_int_equal(lb_poller_inflight(p), 5);
	assert_int_equal(r.calls, 1);	/* the refused one */
	lb_poller_free(p);
	assert_int_equal(r.calls, 1);
}

/* ---- a worker that dies between polls ---------------------------------- */

/* One keep-alive answer on one connection, then it holds the connection
 * open until told to close it (its process "exits"), and closes its
 * listener too. */
struct one_shot {
	int lfd;
	int go[2];	/* a byte on go[0]: close everything */
	uint16_t port;
	const char *ans;	/* NULL: the keep-alive "ok" */
	atomic_bool answered;
};

static void *one_shot_main(void *arg)
{
	static const char ans[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct one_shot *o = arg;
	const char *a = o->ans ? o->ans : ans;
	char buf[2048];
	size_t len = 0;
	ssize_t n;
	int c;
	char x;

	c = accept(o->lfd, NULL, NULL);
	while (c >= 0 && len < sizeof(buf) - 1) {
		n = read(c, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n")) {
			if (write(c, a, strlen(a)) < 0)
				break;
			atomic_store(&o->answered, true);
			break;
		}
	}
	if (read(o->go[0], &x, 1) < 0)
		x = 0;
	if (c >= 0)
		close(c);
	close(o->lfd);
	return NULL;
}

struct closed_rec {
	int calls;
	int target;
	void *ctx;
};

static struct closed_rec closed_seen;

static void on_closed(void *ctx, int target)
{
	closed_seen.calls++;
	closed_seen.target = target;
	closed_seen.ctx = ctx;
}

/* Starts a one_shot server on 127.0.0.1 (any port) answering ans. */
static void one_shot_start(struct one_shot *o, const char *ans, pthread_t *th)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);

	memset(o, 0, sizeof(*o));
	o->ans = ans;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	o->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(o->lfd >= 0);
	assert_int_equal(bind(o->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(o->lfd, 4), 0);
	assert_int_equal(getsockname(o->lfd, (struct sockaddr *)&a, &alen), 0);
	o->port = ntohs(a.sin_port);
	assert_int_equal(pipe(o->go), 0);
	assert_int_equal(pthread_create(th, NULL, one_shot_main, o), 0);
}

static void one_shot_stop(struct one_shot *o, pthread_t th)
{
	/* also wakes an accept() still waiting, should the test fail early */
	shutdown(o->lfd, SHUT_RDWR);
	assert_int_equal(write(o->go[1], "x", 1), 1);
	pthread_join(th, NULL);
	close(o->go[0]);
	close(o->go[1]);
}

static void test_idle_close_reported(void **state)
{
	struct one_shot o;
	char url[128], err[128] = "";
	struct lb_poller *p;
	struct res r = { .calls = 0 };
	pthread_t th;
	int i, t;

	(void)state;
	memset(&closed_seen, 0, sizeof(closed_seen));
	one_shot_start(&o, NULL, &th);

	p = lb_poller_new(2000, MAX_BODY, err, sizeof(err));
	assert_non_null(p);
	lb_poller_on_closed(p, on_closed);
	url_of(url, sizeof(url), o.port, "/metrics");
	t = lb_poller_add(p, url);
	assert_int_equal(lb_poller_start(p, t, record, &r), 0);
	run_until(p, &r.calls, 1, 5000);
	assert_int_equal(r.result, LB_FETCH_OK);
	assert_false(r.dropped);
	assert_string_equal(r.body, "ok");

	/* Connection kept open and quiet: nothing to report. */
	for (i = 0; i < 5; i++)
		assert_true(lb_poller_run(p, 20, -1, NULL) >= 0);
	assert_int_equal(closed_seen.calls, 0);

	/* The worker goes away between polls: reported once, at once, with
	 * the context of the target's last request. */
	assert_int_equal(write(o.go[1], "x", 1), 1);
	run_until(p, &closed_seen.calls, 1, 3000);
	assert_int_equal(closed_seen.target, t);
	assert_ptr_equal(closed_seen.ctx, &r);
	for (i = 0; i < 5; i++)
		assert_true(lb_poller_run(p, 20, -1, NULL) >= 0);
	assert_int_equal(closed_seen.calls, 1);

	/* The early poll it prompts finds nobody listening. */
	assert_int_equal(lb_poller_start(p, t, record, &r), 0);
	run_until(p, &r.calls, 2, 5000);
	assert_int_equal(r.result, LB_FETCH_REFUSED);
	assert_int_equal(closed_seen.calls, 1);

	lb_poller_free(p);
	pthread_join(th, NULL);
	close(o.go[0]);
	close(o.go[1]);
}

/* A worker that dies while it answers: an error that says the connection
 * was cut, so the caller can look again at once. */
static void test_cut_answer_dropped(void **state)
{
	struct one_shot o;
	char url[128], err[128] = "";
	struct lb_poller *p;
	struct res r = { .calls = 0 };
	pthread_t th;
	int t;

	(void)state;
	one_shot_start(&o, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", &th);
	p = lb_poller_new(5000, MAX_BODY, err, sizeof(err));
	assert_non_null(p);
	url_of(url, sizeof(url), o.port, "/metrics");
	t = lb_poller_add(p, url);
	assert_int_equal(lb_poller_start(p, t, record, &r), 0);
	/* half the answer is sent and the rest never comes ... */
	for (int i = 0; i < 250 && !atomic_load(&o.answered); i++)
		assert_int_equal(lb_poller_run(p, 20, -1, NULL), 0);
	assert_true(atomic_load(&o.answered));
	for (int i = 0; i < 3; i++)
		assert_int_equal(lb_poller_run(p, 20, -1, NULL), 0);
	assert_int_equal(r.calls, 0);
	/* ... because the process "exits" */
	one_shot_stop(&o, th);
	run_until(p, &r.calls, 1, 5000);
	assert_int_equal(r.result, LB_FETCH_ERROR);
	assert_true(r.dropped);
	lb_poller_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_status_503),
		cmocka_unit_test(test_user_agent),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_busy_and_ids),
		cmocka_unit_test(test_restart_in_callback),
		cmocka_unit_test(test_server_restart),
		cmocka_unit_test(test_extra_fd),
		cmocka_unit_test(test_free_inflight),
		cmocka_unit_test(test_idle_close_reported),
		cmocka_unit_test(test_cut_answer_dropped),
	};

	return cmocka_run_group_tests(tests, server_start, server_stop);
}
