// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * poll.c - concurrent, non-blocking HTTP GETs for lb-agent (libcurl multi).
 *
 * Design: every target owns one easy handle, configured once in
 * lb_poller_add() and re-added to the multi handle for each request. An
 * easy handle that is removed from the multi hands its connection back to
 * the multi's connection cache, and the next request to the same
 * host:port picks it up again, so a target polled at 10 Hz keeps one TCP
 * connection open. Each cache is sized to the number of its targets (see
 * shard_for_next()), because libcurl's default only counts easy handles
 * currently added, which would evict idle keep-alive connections between
 * polls. There is no per-host connection limit: benchmarks run many
 * targets on one host:port and want them concurrent.
 *
 * Transfers are driven event by event (curl_multi_socket_action() over
 * an epoll set that libcurl keeps up to date through its socket callback),
 * not with curl_multi_poll()/curl_multi_perform(): those walk every added
 * handle and poll() every socket on each wakeup, which at 1,000 targets
 * made the agent's polling cost grow with targets x wakeups.
 *
 * Targets are spread over shards of SHARD_TARGETS, each with its own multi
 * handle (and so its own connection and DNS caches) on one shared epoll
 * set. libcurl 7.88 walks the whole connection cache when a handle leaves
 * its multi (close_connect_only) and the whole DNS cache when a transfer
 * starts (Curl_hostcache_prune): with 1,000 targets in one multi these two
 * walks were a fifth of the agent's CPU (perf). Per shard they are short.
 *
 * Between requests each target's kept connection is watched for a close
 * by its peer (lb_poller_on_closed()), in an epoll set of our own nested
 * in the main one, so that our registrations never meet libcurl's.
 *
 * Each target also owns its body buffer, which only grows (up to
 * max_body + 1 bytes) and is reused, so a steady-state poll allocates
 * nothing here. Targets are kept behind pointers so that the addresses
 * libcurl holds (write data, error buffer, private pointer) stay valid
 * while the target array grows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "poll.h"

/* Spare cache slots beyond one per target (DNS-equivalent host aliases,
 * a connection being replaced while its successor opens, ...). */
#define CONN_CACHE_SPARE	4
#define BODY_INITIAL		4096
#define SHARD_TARGETS		16
/* epoll tag of the caller's extra fd; libcurl's sockets carry their
 * shard's index in the upper 32 bits and the fd in the lower. */
#define EXTRA_TAG		UINT64_MAX
/* epoll tag of the watch set (below) in the main set; in the watch set
 * each idle connection carries its target id (upper 32) and fd (lower). */
#define WATCH_SET_TAG		(UINT64_MAX - 1)
/* Shard indexes and target ids stay far below 32 bits. */
#define LB_POLLER_MAX_TARGETS	(1 << 24)

struct shard {
	struct lb_poller *p;
	CURLM *multi;
	uint32_t idx;
	int n;			/* targets in this shard */
	bool timer_set;
	bool active;		/* libcurl ran since its messages were read */
	struct timespec timer;	/* libcurl's next timeout, if timer_set */
};

struct target {
	struct lb_poller *p;
	struct shard *sh;
	int id;
	CURL *easy;
	CURLU *uh;
	int watch_fd;		/* kept connection watched while idle; -1 */
	int reg_fd;		/* fd last registered in the watch set; -1 */
	bool busy;
	bool kept;		/* this request began on a watched kept connection */
	bool too_big;		/* body exceeded max_body: write cb refused */

	lb_fetch_cb cb;
	void *ctx;
	struct timespec start;

	char *buf;		/* body, NUL-terminated on completion */
	size_t len;
	size_t cap;

	char errbuf[CURL_ERROR_SIZE];
};

struct done {
	struct target *t;
	CURLcode rc;
};

struct lb_poller {
	int epfd;		/* libcurl's sockets, the caller's extra fd,
				 * and wepfd */
	/* Idle kept-alive connections, in an epoll set of their own so that
	 * our registrations never touch libcurl's (several targets of one
	 * host share a connection, and libcurl may use it again at any time). */
	int wepfd;
	int extra_fd;		/* registered in epfd; -1 if none */
	struct shard **sh;
	int nsh;
	int sh_cap;
	struct target **t;
	struct done *done;	/* finished transfers of one run, cap slots */
	int n;
	int cap;
	int inflight;
	uint32_t timeout_ms;
	size_t max_body;
	lb_closed_cb closed_cb;	/* NULL: idle connections not watched */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* libcurl's global state lives as long as the process: there is no safe
 * point to call curl_global_cleanup() from a library that may have
 * several pollers. */
static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	int n;

	if (!err || !errlen)
		return;
	n = snprintf(err, errlen, "%s", msg);
	if (n < 0)
		err[0] = '\0';
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* libcurl tells which sockets to watch for what; mirror it in epfd. The
 * socket's "assigned" pointer records that it is in the set. */
static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp,
		   void *socketp)
{
	struct shard *sh = userp;
	struct lb_poller *p = sh->p;
	struct epoll_event ev = {
		.data.u64 = (uint64_t)sh->idx << 32 | (uint32_t)s,
	};

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, s, NULL);
		curl_multi_assign(sh->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (socketp) {
		epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev);
	} else if (!epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev) ||
		   (errno == EEXIST && !epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev))) {
		curl_multi_assign(sh->multi, s, sh);
	}
	return 0;
}

/* libcurl's single timer: -1 cancels it, 0 means "call me at once". */
static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct shard *sh = userp;

	(void)m;
	if (timeout_ms < 0) {
		sh->timer_set = false;
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &sh->timer);
	sh->timer.tv_sec += timeout_ms / 1000;
	sh->timer.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (sh->timer.tv_nsec >= 1000000000L) {
		sh->timer.tv_sec++;
		sh->timer.tv_nsec -= 1000000000L;
	}
	sh->timer_set = true;
	return 0;
}

struct lb_poller *lb_poller_new(uint32_t timeout_ms, size_t max_body,
				char *err, size_t errlen)
{
	struct lb_poller *p;

	if (!timeout_ms || timeout_ms > INT_MAX || !max_body ||
	    max_body >= SIZE_MAX / 2) {
		set_err(err, errlen, "poller: bad timeout or body limit");
		return NULL;
	}
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		set_err(err, errlen, curl_easy_strerror(global_rc));
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		set_err(err, errlen, "poller: out of memory");
		return NULL;
	}
	p->extra_fd = -1;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->wepfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0 || p->wepfd < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wepfd, &(struct epoll_event){
			      .events = EPOLLIN, .data.u64 = WATCH_SET_TAG })) {
		if (p->epfd >= 0)
			close(p->epfd);
		if (p->wepfd >= 0)
			close(p->wepfd);
		free(p);
		set_err(err, errlen, "poller: cannot create the epoll sets");
		return NULL;
	}
	p->timeout_ms = timeout_ms;
	p->max_body = max_body;
	return p;
}

static void shard_free(struct shard *sh)
{
	if (!sh)
		return;
	if (sh->multi)
		curl_multi_cleanup(sh->multi);
	free(sh);
}

/* A multi handle of its own, driven through the poller's epoll set. */
static struct shard *shard_new(struct lb_poller *p, uint32_t idx)
{
	struct shard *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return NULL;
	sh->p = p;
	sh->idx = idx;
	sh->multi = curl_multi_init();
	if (!sh->multi ||
	    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, sock_cb) ||
	    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh) ||
	    curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, timer_cb) ||
	    curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh)) {
		shard_free(sh);
		return NULL;
	}
	return sh;
}

void lb_poller_free(struct lb_poller *p)
{
	int i;

	if (!p)
		return;
	/* Removing an in-flight handle aborts its transfer without any
	 * callback; it must leave the multi before either is cleaned up. */
	for (i = 0; i < p->n; i++) {
		if (p->t[i]->busy)
			curl_multi_remove_handle(p->t[i]->sh->multi,
						 p->t[i]->easy);
	}
	for (i = 0; i < p->n; i++) {
		curl_easy_cleanup(p->t[i]->easy);
		curl_url_cleanup(p->t[i]->uh);
		free(p->t[i]->buf);
		free(p->t[i]);
	}
	for (i = 0; i < p->nsh; i++)
		shard_free(p->sh[i]);
	close(p->epfd);
	close(p->wepfd);
	free(p->sh);
	free(p->done);
	free(p->t);
	free(p);
}

/* Appends to the target's buffer; returning less than asked makes libcurl
 * abort the transfer with CURLE_WRITE_ERROR. */
static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct target *t = userdata;
	size_t n = size * nmemb;
	size_t need, cap;
	char *nb;

	if (n > t->p->max_body - t->len) {
		t->too_big = true;
		return 0;
	}
	need = t->len + n + 1;	/* room for the NUL */
	if (need > t->cap) {
		cap = t->cap ? t->cap : BODY_INITIAL;
		while (cap < need)
			cap *= 2;
		if (cap > t->p->max_body + 1)
			cap = t->p->max_body + 1;
		nb = realloc(t->buf, cap);
		if (!nb)
			return 0;
		t->buf = nb;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, data, n);
	t->len += n;
	return n;
}

/* The shard for the next target: the last one, or a new one when it is
 * full. libcurl evicts idle connections beyond CURLMOPT_MAXCONNECTS; keep
 * one slot per target so every target's keep-alive connection survives. */
static struct shard *shard_for_next(struct lb_poller *p)
{
	struct shard *sh, **ns;
	int cap;

	if (p->nsh && p->sh[p->nsh - 1]->n < SHARD_TARGETS)
		sh = p->sh[p->nsh - 1];
	else {
		if (p->nsh == p->sh_cap) {
			cap = p->sh_cap ? p->sh_cap * 2 : 4;
			ns = realloc(p->sh, (size_t)cap * sizeof(*ns));
			if (!ns)
				return NULL;
			p->sh = ns;
			p->sh_cap = cap;
		}
		sh = shard_new(p, (uint32_t)p->nsh);
		if (!sh)
			return NULL;
		p->sh[p->nsh++] = sh;
	}
	if (curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS,
			      (long)(sh->n + 1 + CONN_CACHE_SPARE)) != CURLM_OK)
		return NULL;
	return sh;
}

/* Checks the URL now, so that a typo in the configuration is reported
 * when the target is added instead of as an error on every poll. */
static int check_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	CURLUcode uc;
	int rc = 0;

	if (!u)
		return -ENOMEM;
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OUT_OF_MEMORY)
		rc = -ENOMEM;
	else if (uc != CURLUE_OK ||
		 curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcasecmp(scheme, "http") && strcasecmp(scheme, "https")))
		rc = -EINVAL;
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

#define SETOPT(e, opt, val)						\
	do {								\
		cc = curl_easy_setopt((e), (opt), (val));		\
		if (cc != CURLE_OK)					\
			goto fail;					\
	} while (0)

int lb_poller_add(struct lb_poller *p, const char *url)
{
	struct target *t, **nt;
	struct done *nd;
	CURLcode cc;
	CURL *e;
	int cap, rc;

	if (!p || !url)
		return -EINVAL;
	/* The scheme must be spelled out: libcurl would guess one. */
	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
		return -EINVAL;
	rc = check_url(url);
	if (rc)
		return rc;
	if (p->n == LB_POLLER_MAX_TARGETS)
		return -ENOSPC;
	if (p->n == p->cap) {
		cap = p->cap ? p->cap * 2 : 16;
		if (cap > LB_POLLER_MAX_TARGETS)
			cap = LB_POLLER_MAX_TARGETS;
		nt = realloc(p->t, (size_t)cap * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		p->t = nt;
		nd = realloc(p->done, (size_t)cap * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		p->done = nd;
		p->cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	e = curl_easy_init();
	if (!e) {
		free(t);
		return -ENOMEM;
	}
	t->p = p;
	t->id = p->n;
	t->easy = e;
	t->watch_fd = -1;
	t->reg_fd = -1;

	t->uh = curl_url();
	if (!t->uh || curl_url_set(t->uh, CURLUPART_URL, url, 0) != CURLUE_OK) {
		cc = CURLE_OUT_OF_MEMORY;
		goto fail;
	}
	SETOPT(e, CURLOPT_CURLU, t->uh);
	SETOPT(e, CURLOPT_PRIVATE, t);
	SETOPT(e, CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(e, CURLOPT_WRITEDATA, t);
	SETOPT(e, CURLOPT_ERRORBUFFER, t->errbuf);
	SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	SETOPT(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->timeout_ms);
	SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(e, CURLOPT_FORBID_REUSE, 0L);
	SETOPT(e, CURLOPT_FRESH_CONNECT, 0L);
	SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	/* Environment proxies (http_proxy, ...) must not reroute health
	 * checks of workers on the local network. */
	SETOPT(e, CURLOPT_PROXY, "");
	SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SETOPT(e, CURLOPT_USERAGENT, "inferlb-agent");
	/* Rejects an oversized answer up front when it announces its size;
	 * the write callback catches the rest (chunked, lying lengths). */
	SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)p->max_body);

	t->sh = shard_for_next(p);
	if (!t->sh) {
		curl_easy_cleanup(e);
		free(t);
		return -ENOMEM;
	}
	t->sh->n++;
	p->t[p->n] = t;
	return p->n++;
fail:
	curl_easy_cleanup(e);
	curl_url_cleanup(t->uh);
	free(t);
	return cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
}

#undef SETOPT

void lb_poller_on_closed(struct lb_poller *p, lb_closed_cb cb)
{
	if (p)
		p->closed_cb = cb;
}

/* Forgets t's watch; its registration stays in the watch set until the
 * fd is closed or watched again, and a stale event is told apart below. */
static void unwatch(struct target *t)
{
	t->watch_fd = -1;
}

/* Watches the connection t's finished transfer left in libcurl's cache
 * (still in the multi: the socket is found through it). libcurl does not
 * watch idle connections. One event, then the watch is disarmed. */
static void watch(struct lb_poller *p, struct target *t)
{
	curl_socket_t s = CURL_SOCKET_BAD;
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
	};

	if (!p->closed_cb ||
	    curl_easy_getinfo(t->easy, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK ||
	    s == CURL_SOCKET_BAD)
		return;
	ev.data.u64 = (uint64_t)t->id << 32 | (uint32_t)s;
	/* Usually the same connection as last time: re-arm it in one call
	 * (a closed and reused fd is not in the set any more: add it). */
	if ((s == t->reg_fd && !epoll_ctl(p->wepfd, EPOLL_CTL_MOD, s, &ev)) ||
	    !epoll_ctl(p->wepfd, EPOLL_CTL_ADD, s, &ev) ||
	    (errno == EEXIST && !epoll_ctl(p->wepfd, EPOLL_CTL_MOD, s, &ev))) {
		t->watch_fd = s;
		t->reg_fd = s;
	}
}

/*
 * An event on a watched connection. Reported only if the peer closed or
 * reset it: readable data means the connection is carrying a transfer
 * again (another target of the same host reuses it; libcurl has its own
 * registration and reads it), so that is not a close, and neither is a
 * wakeup with nothing to read (then the watch is armed again).
 */
static void watch_fired(struct lb_poller *p, uint64_t tag)
{
	uint32_t id = (uint32_t)(tag >> 32);
	int fd = (int)(uint32_t)tag;
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
		.data.u64 = tag,
	};
	struct target *t;
	ssize_t n;
	char c;

	if (id >= (uint32_t)p->n)
		return;
	t = p->t[id];
	if (t->busy || t->watch_fd != fd)
		return;	/* stale: the connection is in use again */
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		return;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		epoll_ctl(p->wepfd, EPOLL_CTL_MOD, fd, &ev);
		return;
	}
	unwatch(t);
	if (p->closed_cb)
		p->closed_cb(t->ctx, t->id);
}

/* The watch set is readable: report what it holds. */
static void watches_fired(struct lb_poller *p)
{
	struct epoll_event evs[64];
	int i, n;

	n = epoll_wait(p->wepfd, evs, sizeof(evs) / sizeof(evs[0]), 0);
	for (i = 0; i < n; i++)
		watch_fired(p, evs[i].data.u64);
}

int lb_poller_start(struct lb_poller *p, int target, lb_fetch_cb cb,
		    void *ctx)
{
	struct target *t;
	CURLMcode mc;

	if (!p || target < 0 || target >= p->n)
		return -EINVAL;
	t = p->t[target];
	if (t->busy)
		return -EBUSY;
	t->kept = t->watch_fd >= 0;
	unwatch(t);	/* libcurl takes the connection over again */
	t->cb = cb;
	t->ctx = ctx;
	t->len = 0;
	t->too_big = false;
	t->errbuf[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t->start);
	mc = curl_multi_add_handle(t->sh->multi, t->easy);
	if (mc != CURLM_OK)
		return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	t->busy = true;
	p->inflight++;
	return 0;
}

bool lb_poller_busy(const struct lb_poller *p, int target)
{
	if (!p || target < 0 || target >= p->n)
		return false;
	return p->t[target]->busy;
}

int lb_poller_inflight(const struct lb_poller *p)
{
	return p ? p->inflight : 0;
}

static void set_fetch_error(struct lb_fetch *f, const struct target *t,
			    CURLcode rc)
{
	const char *msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
	int n;

	if (t->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		n = snprintf(f->error, sizeof(f->error),
			     "response body larger than %zu bytes",
			     t->p->max_body);
	else
		n = snprintf(f->error, sizeof(f->error), "%s", msg);
	if (n < 0)
		f->error[0] = '\0';
}

/* Reports one finished transfer. The handle has already left the multi,
 * so the callback may start the same target again. */
static void finish(struct lb_poller *p, struct target *t, CURLcode rc)
{
	struct lb_fetch f = { .result = LB_FETCH_ERROR, .body = "" };
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	f.latency_ms = ms_between(&t->start, &now);
	t->busy = false;
	p->inflight--;

	switch (rc) {
	case CURLE_OK:
		f.result = LB_FETCH_OK;
		if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE,
				      &f.status) != CURLE_OK)
			f.status = 0;
		if (t->buf) {
			t->buf[t->len] = '\0';
			f.body = t->buf;
			f.len = t->len;
		}
		break;
	case CURLE_COULDNT_CONNECT:
		f.result = LB_FETCH_REFUSED;
		f.dropped = t->kept;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		f.result = LB_FETCH_TIMEOUT;
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		f.result = LB_FETCH_ERROR;
		f.dropped = true;
		break;
	default:
		f.result = LB_FETCH_ERROR;
		break;
	}
	if (rc != CURLE_OK)
		set_fetch_error(&f, t, rc);
	if (t->cb)
		t->cb(t->ctx, t->id, &f);
}

/* Milliseconds until a shard's libcurl timer falls due (0 if it has), or
 * -1 if it has none. */
static int timer_wait_ms(const struct shard *sh, const struct timespec *now)
{
	double ms;

	if (!sh->timer_set)
		return -1;
	ms = ms_between(now, &sh->timer);
	return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)(ms + 0.999);
}

/* Keeps the caller's extra fd, and only that one, in the epoll set. */
static void watch_extra(struct lb_poller *p, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EXTRA_TAG };

	if (fd == p->extra_fd)
		return;
	if (p->extra_fd >= 0)
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->extra_fd, NULL);
	p->extra_fd = -1;
	if (fd >= 0 && !epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev))
		p->extra_fd = fd;
}

static int socket_action(struct shard *sh, curl_socket_t fd, int what)
{
	CURLMcode mc;
	int running;

	sh->active = true;
	mc = curl_multi_socket_action(sh->multi, fd, what, &running);
	if (mc != CURLM_OK)
		return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	return 0;
}

/*
 * Collects a shard's finished transfers into p->done from *ndone on, all
 * before any handle is removed: libcurl 7.88's curl_multi_remove_handle()
 * scans the queue of unread messages, which made a round of completions
 * quadratic. At most one message per busy target, so p->done (one slot
 * per target) fits.
 */
static void collect_done(struct lb_poller *p, struct shard *sh, int *ndone)
{
	struct target *t;
	CURLMsg *msg;
	char *priv;
	int queued;

	sh->active = false;
	while (*ndone < p->n &&
	       (msg = curl_multi_info_read(sh->multi, &queued))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		t = (struct target *)priv;
		if (!t || !t->busy)
			continue;
		p->done[(*ndone)++] = (struct done){
			.t = t,
			.rc = msg->data.result,
		};
	}
}

int lb_poller_run(struct lb_poller *p, int timeout_ms, int extra_fd,
		  bool *extra_ready)
{
	struct epoll_event evs[64];
	int i, n, w, rc, wait, ndone = 0;
	struct timespec now;
	struct target *t;

	if (extra_ready)
		*extra_ready = false;
	if (!p || timeout_ms < 0)
		return -EINVAL;
	watch_extra(p, extra_fd);
	wait = timeout_ms;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < p->nsh; i++) {
		w = timer_wait_ms(p->sh[i], &now);
		if (w >= 0 && w < wait)
			wait = w;
	}
	n = epoll_wait(p->epfd, evs, sizeof(evs) / sizeof(evs[0]), wait);
	if (n < 0 && errno != EINTR)
		return -errno;
	for (i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		uint32_t idx = (uint32_t)(tag >> 32);
		int what = 0;

		if (tag == EXTRA_TAG) {
			if (extra_ready)
				*extra_ready = true;
			continue;
		}
		if (tag == WATCH_SET_TAG) {
			watches_fired(p);
			continue;
		}
		if (idx >= (uint32_t)p->nsh)
			continue;
		if (evs[i].events & EPOLLIN)
			what |= CURL_CSELECT_IN;
		if (evs[i].events & EPOLLOUT)
			what |= CURL_CSELECT_OUT;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			what |= CURL_CSELECT_ERR;
		rc = socket_action(p->sh[idx], (curl_socket_t)(uint32_t)tag,
				   what);
		if (rc)
			return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < p->nsh; i++) {
		if (timer_wait_ms(p->sh[i], &now) == 0) {
			rc = socket_action(p->sh[i], CURL_SOCKET_TIMEOUT, 0);
			if (rc)
				return rc;
		}
		if (p->sh[i]->active)
			collect_done(p, p->sh[i], &ndone);
	}
	/* A callback may start any target again, including its own; one
	 * whose own report is still pending here stays -EBUSY until then. */
	for (i = 0; i < ndone; i++) {
		t = p->done[i].t;
		if (p->done[i].rc == CURLE_OK)
			watch(p, t);
		curl_multi_remove_handle(t->sh->multi, t->easy);
		finish(p, t, p->done[i].rc);
	}
	return ndone;
}
