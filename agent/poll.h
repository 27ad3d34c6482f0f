/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * poll.h - concurrent, non-blocking HTTP GETs for lb-agent (libcurl multi).
 *
 * One target per URL the agent scrapes (a worker's health, metrics, DCGM).
 * Each target keeps its own easy handle, so its connection stays open
 * between polls (keep-alive); every request has a total timeout. The
 * agent's loop calls lb_poller_run(), which waits on libcurl's sockets
 * (and one extra fd of the caller, e.g. a signalfd) and reports finished
 * requests through their callbacks. Single-threaded: call everything from
 * one thread.
 */
#ifndef INFERLB_POLL_H
#define INFERLB_POLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lb_fetch_result {
	LB_FETCH_OK,		/* got an HTTP response (any status) */
	LB_FETCH_REFUSED,	/* connection refused / host unreachable */
	LB_FETCH_TIMEOUT,	/* no full answer within the timeout */
	LB_FETCH_ERROR,		/* anything else (bad reply, too big, ...) */
};

struct lb_fetch {
	enum lb_fetch_result result;
	long status;		/* HTTP status when LB_FETCH_OK */
	const char *body;	/* NUL-terminated; valid during the callback */
	size_t len;
	double latency_ms;	/* start to end of the request */
	bool dropped;		/* the connection was cut (LB_FETCH_ERROR:
				 * reset, closed, nothing or half an answer),
				 * or the request began on a kept connection
				 * and ended refused (LB_FETCH_REFUSED: the
				 * peer died between requests, and libcurl
				 * found it so before its close was seen) */
	char error[128];	/* libcurl's message when not OK */
};

struct lb_poller;

typedef void (*lb_fetch_cb)(void *ctx, int target, const struct lb_fetch *f);

/* timeout_ms: per request; max_body: larger answers are LB_FETCH_ERROR.
 * NULL with err filled on failure. */
struct lb_poller *lb_poller_new(uint32_t timeout_ms, size_t max_body,
				char *err, size_t errlen);
void lb_poller_free(struct lb_poller *p);

/* Registers a URL (http:// or https://); returns its target id (>= 0) or
 * a negative errno. Ids are dense, from 0, in call order. */
int lb_poller_add(struct lb_poller *p, const char *url);

/* Starts one GET of target; cb(ctx, target, result) runs from a later
 * lb_poller_run(). -EBUSY if that target's previous request is still in
 * flight (the caller skips this round instead of piling up). */
int lb_poller_start(struct lb_poller *p, int target, lb_fetch_cb cb,
		    void *ctx);
bool lb_poller_busy(const struct lb_poller *p, int target);

/*
 * Between requests, a target's kept-alive connection is watched: when its
 * peer closes it (the worker's process exited, or it timed the idle
 * connection out) or sends anything unasked, cb(ctx, target) runs once from
 * lb_poller_run(), ctx being the one of the target's last request. A worker
 * that dies is known at once instead of at its next poll. NULL cb: no
 * watching (the default).
 */
typedef void (*lb_closed_cb)(void *ctx, int target);
void lb_poller_on_closed(struct lb_poller *p, lb_closed_cb cb);
/* Requests in flight. */
int lb_poller_inflight(const struct lb_poller *p);

/*
 * Drives transfers: waits at most timeout_ms for network activity or for
 * extra_fd (>= 0) to become readable, then completes what can be completed
 * and runs the callbacks. *extra_ready (may be NULL) tells whether
 * extra_fd was readable. Returns the number of finished requests, or a
 * negative errno.
 */
int lb_poller_run(struct lb_poller *p, int timeout_ms, int extra_fd,
		  bool *extra_ready);

#endif /* INFERLB_POLL_H */
