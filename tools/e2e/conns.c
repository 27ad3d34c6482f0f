// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * conns.c - the client side of the end-to-end tests, for tools/e2e/httpd.
 *
 *   conns --url http://ADDR:PORT/ --count N [--parallel K] [--timeout-ms T]
 *         [--expect NAME=W,...] [--alpha A] [--verbose]
 *     N new TCP connections (each its own socket, so its own source port),
 *     at most K open at a time; each sends one GET and reads
 *     "backend=NAME\n". Prints "NAME COUNT" per backend, then "errors E";
 *     with --expect, also "chi2 X df D p P" (Pearson's goodness of fit of
 *     the tally against the weights).
 *   conns --stream --url ... --streams S --bytes N --chunk C --interval-ms T
 *     S concurrent GET /stream requests; checks every byte of each body
 *     (first line "backend=NAME\n", then byte i = 'a' + i % 26) and its
 *     length; prints "stream i backend NAME bytes B ok|BROKEN".
 *   conns --selftest
 *     checks the p-value code against known values, and the URL parser.
 *
 * Exit: 0 all good; 1 connection errors or broken streams; 2 usage;
 * 3 the tally does not fit the weights (p <= alpha, default 0.001) or a
 * backend outside the weights answered (this takes precedence over 1).
 *
 * Design: one thread, non-blocking sockets, one poll() loop. Each
 * connection has a deadline (count mode: its whole life; stream mode: the
 * longest silence), and the whole run has one too, so every loop ends.
 * The p-value is Q(df/2, chi2/2), the regularized upper incomplete gamma
 * function, evaluated by its power series for x < a + 1 and by its
 * continued fraction (modified Lentz) otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAMES	256
#define NAME_LEN	64
#define HDR_MAX		4096
#define REQ_LEN		512
#define MAX_PARALLEL	4096
#define DRAIN_MS	1000	/* wait for the server's FIN after a body */

/* ---------------------------------------------------------------------
 * Statistics: Pearson's chi-square and its p-value.
 */

#define GAM_EPS		1e-15
#define GAM_TINY	1e-300
#define GAM_ITERS	10000

/* P(a, x) by the series e^-x x^a / Gamma(a) * sum x^n / (a (a+1)...(a+n)). */
static double gamma_p_series(double a, double x)
{
	double term = 1.0 / a, sum = term, den = a;
	int n;

	for (n = 0; n < GAM_ITERS; n++) {
		den += 1.0;
		term *= x / den;
		sum += term;
		if (fabs(term) < fabs(sum) * GAM_EPS)
			break;
	}
	return sum * exp(-x + a * log(x) - lgamma(a));
}

/*
 * Q(a, x) by the continued fraction
 *   e^-x x^a / Gamma(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))
 * evaluated front to back with the modified Lentz method.
 */
static double gamma_q_cfrac(double a, double x)
{
	double b = x + 1.0 - a, c = 1.0 / GAM_TINY, d = 1.0 / b, f = d;
	int i;

	for (i = 1; i < GAM_ITERS; i++) {
		double an = -i * (i - a), delta;

		b += 2.0;
		d = an * d + b;
		if (fabs(d) < GAM_TINY)
			d = GAM_TINY;
		c = b + an / c;
		if (fabs(c) < GAM_TINY)
			c = GAM_TINY;
		d = 1.0 / d;
		delta = d * c;
		f *= delta;
		if (fabs(delta - 1.0) < GAM_EPS)
			break;
	}
	return f * exp(-x + a * log(x) - lgamma(a));
}

/* The regularized upper incomplete gamma function Q(a, x), a > 0, x >= 0. */
static double gamma_q(double a, double x)
{
	if (!(a > 0) || !(x >= 0))
		return NAN;
	if (x == 0)
		return 1.0;
	if (isinf(x))
		return 0.0;
	if (x < a + 1.0)
		return 1.0 - gamma_p_series(a, x);
	return gamma_q_cfrac(a, x);
}

/* The probability that a chi-square variable with DF degrees exceeds X. */
static double chi2_pvalue(double x, int df)
{
	if (df <= 0)
		return 1.0;	/* one category: nothing can deviate */
	return gamma_q(df / 2.0, x / 2.0);
}

struct tally {
	char name[MAX_NAMES][NAME_LEN + 1];
	unsigned long count[MAX_NAMES];
	double weight[MAX_NAMES];
	bool expected[MAX_NAMES];	/* named by --expect */
	int n;
};

static int tally_find(struct tally *t, const char *name, bool add)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->name[i], name))
			return i;
	if (!add || t->n >= MAX_NAMES || strlen(name) > NAME_LEN)
		return -1;
	strcpy(t->name[t->n], name);
	t->count[t->n] = 0;
	t->weight[t->n] = 0;
	t->expected[t->n] = false;
	return t->n++;
}

/*
 * Pearson's statistic of the observed counts against the weights. Only
 * categories with a positive weight count towards DF; an answer from a
 * backend with weight 0 or not named at all makes the fit impossible
 * (*unexpected is set, the statistic is infinite).
 */
static double chi2_stat(const struct tally *t, int *df, bool *unexpected)
{
	double wsum = 0, total = 0, x = 0;
	int i, k = 0;

	*unexpected = false;
	for (i = 0; i < t->n; i++) {
		total += (double)t->count[i];
		if (t->weight[i] > 0) {
			wsum += t->weight[i];
			k++;
		} else if (t->count[i]) {
			*unexpected = true;
		}
	}
	*df = k - 1;
	if (*unexpected || wsum <= 0 || total <= 0)
		return INFINITY;
	for (i = 0; i < t->n; i++) {
		double e = total * t->weight[i] / wsum, d;

		if (t->weight[i] <= 0)
			continue;
		d = (double)t->count[i] - e;
		x += d * d / e;
	}
	return x;
}

/* "NAME=W,NAME=W": weights >= 0. */
static int parse_expect(struct tally *t, const char *spec)
{
	char buf[4096], *save = NULL, *tok;

	if (strlen(spec) >= sizeof(buf))
		return -1;
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		double w;
		int i;

		if (!eq || eq == tok)
			return -1;
		*eq = '\0';
		errno = 0;
		w = strtod(eq + 1, &end);
		if (errno || *end || eq[1] == '\0' || !(w >= 0) || isinf(w))
			return -1;
		i = tally_find(t, tok, true);
		if (i < 0 || t->expected[i])
			return -1;
		t->weight[i] = w;
		t->expected[i] = true;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * URLs: http://198.18.1.10:8000/path, http://[2001:db8::10]:8000/
 */

struct target {
	struct sockaddr_storage sa;
	socklen_t salen;
	char host[INET6_ADDRSTRLEN + 8];	/* for the Host header */
	char path[256];
};

static int parse_url(const char *url, struct target *t)
{
	char addr[INET6_ADDRSTRLEN];
	const char *p, *end, *path;
	unsigned long port = 80;
	size_t alen;

	memset(t, 0, sizeof(*t));
	if (strncmp(url, "http://", 7))
		return -1;
	p = url + 7;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end)
			return -1;
		alen = (size_t)(end - p - 1);
		if (alen >= sizeof(addr))
			return -1;
		memcpy(addr, p + 1, alen);
		end++;
	} else {
		end = p + strcspn(p, ":/");
		alen = (size_t)(end - p);
		if (alen >= sizeof(addr))
			return -1;
		memcpy(addr, p, alen);
	}
	addr[alen] = '\0';
	path = end + strcspn(end, "/");
	if (*end == ':') {
		char *e;

		if (end[1] < '0' || end[1] > '9')
			return -1;
		port = strtoul(end + 1, &e, 10);
		if (e != path || port == 0 || port > 65535)
			return -1;
	} else if (end != path) {
		return -1;
	}
	if (strlen(path) >= sizeof(t->path) ||
	    strpbrk(path, " \r\n"))
		return -1;
	strcpy(t->path, *path ? path : "/");

	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&t->sa)->sin_addr) == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&t->sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		t->salen = sizeof(*s4);
		snprintf(t->host, sizeof(t->host), "%s:%lu", addr, port);
	} else if (inet_pton(AF_INET6, addr,
			     &((struct sockaddr_in6 *)&t->sa)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		t->salen = sizeof(*s6);
		snprintf(t->host, sizeof(t->host), "[%s]:%lu", addr, port);
	} else {
		return -1;	/* literal addresses only: no DNS */
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Connections.
 */

enum cstate { C_FREE, C_CONNECT, C_SEND, C_RECV, C_DRAIN };

enum cerr {
	E_NONE, E_CONNECT, E_TIMEOUT, E_RESET, E_EOF, E_STATUS, E_HEADER,
	E_BODY, E_LENGTH, E_OTHER, E_MAX
};

static const char *const err_names[E_MAX] = {
	[E_NONE] = "none", [E_CONNECT] = "connect", [E_TIMEOUT] = "timeout",
	[E_RESET] = "reset", [E_EOF] = "early-eof", [E_STATUS] = "status",
	[E_HEADER] = "bad-header", [E_BODY] = "bad-body",
	[E_LENGTH] = "bad-length", [E_OTHER] = "other",
};

struct conn {
	int fd;
	enum cstate st;
	int idx;		/* connection / stream number, from 1 */
	int64_t start_ms, deadline_ms;
	char req[REQ_LEN];
	size_t req_len, req_off;
	char hdr[HDR_MAX + 1];
	size_t hdr_len;
	bool hdr_done;
	long long clen;		/* Content-Length, -1 if absent */
	uint64_t got;		/* body bytes received */
	char name[NAME_LEN + 1];
	size_t name_len;
	uint64_t prefix_len;	/* 0 until the first line is complete */
	enum cerr err;
	int sys_errno;		/* why connect() failed */
	uint16_t sport;
};

static struct {
	struct target tgt;
	bool stream, verbose;
	long count, parallel, streams;
	long long bytes, chunk, interval_ms;
	long timeout_ms, max_time_ms;
	double alpha;
	const char *expect;
} opt = {
	.parallel = 1,
	.timeout_ms = 5000,
	.alpha = 0.001,
	.chunk = 0,
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int conn_open(struct conn *c, int idx, int64_t now)
{
	const struct target *t = &opt.tgt;
	int one = 1, n;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->idx = idx;
	c->clen = -1;
	c->start_ms = now;
	c->deadline_ms = now + opt.timeout_ms;
	n = snprintf(c->req, sizeof(c->req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\n"
		     "User-Agent: inferlb-e2e-conns\r\nConnection: close\r\n\r\n",
		     t->path, t->host);
	c->req_len = (size_t)n;
	c->fd = socket(t->sa.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->err = E_OTHER;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->st = C_CONNECT;
	if (connect(c->fd, (const struct sockaddr *)&t->sa, t->salen) < 0 &&
	    errno != EINPROGRESS) {
		c->err = E_CONNECT;
		c->sys_errno = errno;
		return -1;
	}
	return 0;
}

/* Checks body bytes; returns false at the first wrong one. */
static bool body_check(struct conn *c, const char *p, size_t n)
{
	static const char head[] = "backend=";
	size_t i;

	for (i = 0; i < n; i++, c->got++) {
		uint64_t off = c->got;
		char ch = p[i];

		if (c->prefix_len) {
			if (ch != (char)('a' + off % 26))
				return false;
			continue;
		}
		if (off < sizeof(head) - 1) {
			if (ch != head[off])
				return false;
			continue;
		}
		if (ch == '\n') {
			if (!c->name_len)
				return false;
			c->name[c->name_len] = '\0';
			c->prefix_len = off + 1;
			continue;
		}
		if (c->name_len >= NAME_LEN || ch == '\r' || ch == ' ' ||
		    ch == '\0')
			return false;
		c->name[c->name_len++] = ch;
	}
	return true;
}

/* Parses the status line and headers in c->hdr[0..hend). */
static enum cerr parse_headers(struct conn *c, size_t hend)
{
	char *line, *save = NULL;
	int code;

	c->hdr[hend] = '\0';
	if (sscanf(c->hdr, "HTTP/1.%*d %d", &code) != 1)
		return E_HEADER;
	if (code != 200)
		return E_STATUS;
	line = strtok_r(c->hdr, "\r\n", &save);
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		if (!strncasecmp(line, "Content-Length:", 15)) {
			char *e;

			errno = 0;
			c->clen = strtoll(line + 15, &e, 10);
			if (errno || c->clen < 0)
				return E_HEADER;
		}
	}
	if (opt.stream && c->clen != opt.bytes)
		return E_LENGTH;
	return E_NONE;
}

static bool body_complete(const struct conn *c)
{
	return c->clen >= 0 && c->got >= (uint64_t)c->clen;
}

/* Processes received bytes. Returns E_NONE to go on. */
static enum cerr on_data(struct conn *c, const char *p, size_t n)
{
	if (!c->hdr_done) {
		size_t take = n, i, hend = 0;
		enum cerr e;

		if (take > HDR_MAX - c->hdr_len)
			take = HDR_MAX - c->hdr_len;
		memcpy(c->hdr + c->hdr_len, p, take);
		for (i = c->hdr_len > 3 ? c->hdr_len - 3 : 0;
		     i + 3 < c->hdr_len + take; i++) {
			if (!memcmp(c->hdr + i, "\r\n\r\n", 4)) {
				hend = i + 4;
				break;
			}
		}
		if (!hend) {
			c->hdr_len += take;
			return c->hdr_len >= HDR_MAX ? E_HEADER : E_NONE;
		}
		/* Body bytes that came with the headers. */
		p += hend - c->hdr_len;
		n -= hend - c->hdr_len;
		c->hdr_len = hend;
		c->hdr_done = true;
		e = parse_headers(c, hend);
		if (e)
			return e;
	}
	if (c->clen >= 0 && c->got + n > (uint64_t)c->clen)
		return E_LENGTH;	/* more than announced */
	if (!body_check(c, p, n))
		return E_BODY;
	return E_NONE;
}

/* The body ended (complete or EOF): is it what the mode expects? */
static enum cerr final_check(const struct conn *c)
{
	if (!c->prefix_len)
		return E_BODY;
	if (c->clen >= 0 && c->got != (uint64_t)c->clen)
		return E_EOF;
	if (!opt.stream && c->got != c->prefix_len)
		return E_BODY;	/* "/" carries only the backend line */
	if (opt.stream && c->got != (uint64_t)opt.bytes)
		return E_LENGTH;
	return E_NONE;
}

/*
 * Advances one connection after poll() said REVENTS. Returns 1 when it is
 * finished (c->err tells how), 0 otherwise.
 */
static int conn_step(struct conn *c, short revents, int64_t now)
{
	char buf[65536];
	int rounds;

	if (c->st == C_CONNECT) {
		int err = 0;
		socklen_t el = sizeof(err);
		struct sockaddr_storage ls;
		socklen_t ll = sizeof(ls);

		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
			c->err = E_CONNECT;
			c->sys_errno = err;
			return 1;
		}
		if (!getsockname(c->fd, (struct sockaddr *)&ls, &ll))
			c->sport = ntohs(ls.ss_family == AF_INET ?
					 ((struct sockaddr_in *)&ls)->sin_port :
					 ((struct sockaddr_in6 *)&ls)->sin6_port);
		c->st = C_SEND;
		revents = POLLOUT;
	}
	if (c->st == C_SEND) {
		ssize_t n;

		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			c->err = errno == ECONNRESET ? E_RESET : E_OTHER;
			return 1;
		}
		c->req_off += (size_t)n;
		if (c->req_off < c->req_len)
			return 0;
		c->st = C_RECV;
		return 0;
	}
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return 0;
	for (rounds = 0; rounds < 16; rounds++) {	/* bounded per round */
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			if (c->st == C_DRAIN)
				return 1;	/* the body was complete */
			c->err = errno == ECONNRESET ? E_RESET : E_OTHER;
			return 1;
		}
		if (n == 0) {
			if (c->st == C_DRAIN)
				return 1;
			c->err = c->hdr_done ? final_check(c) : E_EOF;
			return 1;
		}
		if (c->st == C_DRAIN) {
			c->err = E_LENGTH;	/* bytes after the body */
			return 1;
		}
		if (opt.stream)	/* stream mode: the deadline is for silence */
			c->deadline_ms = now + opt.timeout_ms;
		c->err = on_data(c, buf, (size_t)n);
		if (c->err)
			return 1;
		if (body_complete(c)) {
			c->err = final_check(c);
			if (c->err)
				return 1;
			/*
			 * Let the server close first (it sent Connection:
			 * close), so TIME_WAIT stays on its side and the
			 * client's source ports are not held.
			 */
			c->st = C_DRAIN;
			if (c->deadline_ms > now + DRAIN_MS)
				c->deadline_ms = now + DRAIN_MS;
		}
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_FREE;
}

static void raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= (rlim_t)want)
		return;
	rl.rlim_cur = rl.rlim_max < (rlim_t)want ? rl.rlim_max : (rlim_t)want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int cmp_names(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Runs TOTAL connections, at most PAR at a time. ON_DONE is told about
 * every finished one. Returns -1 if the run's own deadline struck.
 */
static int run_conns(long total, long par, void (*on_done)(struct conn *))
{
	struct conn *cs = calloc((size_t)par, sizeof(*cs));
	struct pollfd *pfd = calloc((size_t)par, sizeof(*pfd));
	int64_t end = now_ms() + opt.max_time_ms;
	long started = 0, finished = 0, i;
	int ret = 0;

	if (!cs || !pfd) {
		perror("conns: calloc");
		exit(1);
	}
	raise_nofile(par + 64);
	for (i = 0; i < par; i++)
		cs[i].st = C_FREE;

	while (finished < total) {
		int64_t now = now_ms(), wake = end;
		bool again = false;
		int timeout;

		if (now >= end) {
			ret = -1;
			break;
		}
		for (i = 0; i < par; i++) {
			struct conn *c = &cs[i];

			pfd[i].fd = -1;
			pfd[i].revents = 0;
			if (c->st != C_FREE && now >= c->deadline_ms) {
				if (c->st != C_DRAIN)
					c->err = E_TIMEOUT;
				on_done(c);
				conn_close(c);
				finished++;
			}
			if (c->st == C_FREE && started < total &&
			    conn_open(c, (int)++started, now)) {
				on_done(c);	/* failed at once */
				conn_close(c);
				finished++;
				again = true;	/* the slot is free again */
			}
			if (c->st == C_FREE)
				continue;
			if (c->deadline_ms < wake)
				wake = c->deadline_ms;
			pfd[i].fd = c->fd;
			pfd[i].events = c->st == C_CONNECT || c->st == C_SEND ?
					POLLOUT : POLLIN;
		}
		if (again)
			wake = now;
		if (finished >= total)
			break;
		timeout = (int)(wake - now);
		if (timeout < 0)
			timeout = 0;
		if (poll(pfd, (nfds_t)par, timeout) < 0) {
			if (errno == EINTR)
				continue;
			perror("conns: poll");
			exit(1);
		}
		now = now_ms();
		for (i = 0; i < par; i++) {
			struct conn *c = &cs[i];

			if (c->st == C_FREE || pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if (conn_step(c, pfd[i].revents, now)) {
				on_done(c);
				conn_close(c);
				finished++;
				pfd[i].fd = -1;
			}
		}
	}
	if (ret) {
		/* Deadline of the whole run: whatever is open failed. */
		for (i = 0; i < par; i++) {
			if (cs[i].st == C_FREE)
				continue;
			if (cs[i].st != C_DRAIN)
				cs[i].err = E_TIMEOUT;
			on_done(&cs[i]);
			conn_close(&cs[i]);
		}
		fprintf(stderr, "conns: run deadline (%ld ms) reached, %ld of %ld not started\n",
			opt.max_time_ms, total - started, total);
	}
	free(cs);
	free(pfd);
	return ret;
}

/* ---------------------------------------------------------------------
 * Count mode.
 */

static struct tally tally;
static unsigned long n_errors, err_kinds[E_MAX];

static void count_done(struct conn *c)
{
	int i;

	if (!c->err) {
		i = tally_find(&tally, c->name, true);
		if (i < 0) {
			c->err = E_OTHER;	/* too many distinct names */
		} else {
			tally.count[i]++;
			if (opt.verbose)
				fprintf(stderr, "conn %d sport %u backend %s\n",
					c->idx, c->sport, c->name);
			return;
		}
	}
	n_errors++;
	err_kinds[c->err]++;
	if (opt.verbose || err_kinds[c->err] <= 3)
		fprintf(stderr, "conn %d sport %u: %s%s%s\n", c->idx, c->sport,
			err_names[c->err], c->err == E_CONNECT ? ": " : "",
			c->err == E_CONNECT ? strerror(c->sys_errno) : "");
}

static int count_mode(void)
{
	const char *order[MAX_NAMES];
	bool unexpected = false;
	int i, df, ret = 0;
	long par = opt.parallel < opt.count ? opt.parallel : opt.count;

	if (opt.expect && parse_expect(&tally, opt.expect)) {
		fprintf(stderr, "conns: bad --expect '%s'\n", opt.expect);
		return 2;
	}
	if (!opt.max_time_ms)
		opt.max_time_ms = (opt.count + par - 1) / par *
				  (opt.timeout_ms + DRAIN_MS) + 1000;
	run_conns(opt.count, par, count_done);

	for (i = 0; i < tally.n; i++)
		order[i] = tally.name[i];
	qsort(order, (size_t)tally.n, sizeof(order[0]), cmp_names);
	for (i = 0; i < tally.n; i++)
		printf("%s %lu\n", order[i],
		       tally.count[tally_find(&tally, order[i], false)]);
	printf("errors %lu\n", n_errors);
	if (n_errors) {
		fprintf(stderr, "conns: errors by kind:");
		for (i = 1; i < E_MAX; i++)
			if (err_kinds[i])
				fprintf(stderr, " %s %lu", err_names[i],
					err_kinds[i]);
		fprintf(stderr, "\n");
		ret = 1;
	}
	if (opt.expect) {
		double x = chi2_stat(&tally, &df, &unexpected), p, wsum = 0;
		unsigned long total = opt.count - n_errors;

		p = isinf(x) ? 0.0 : chi2_pvalue(x, df);
		printf("chi2 %.4f df %d p %.6g\n", x, df < 0 ? 0 : df, p);
		for (i = 0; i < tally.n; i++) {
			if (tally.count[i] && !(tally.weight[i] > 0))
				fprintf(stderr, "conns: backend %s answered but its weight is 0 or not given\n",
					tally.name[i]);
		}
		for (i = 0; i < tally.n; i++)
			wsum += tally.weight[i];
		for (i = 0; i < tally.n && wsum > 0; i++) {
			double e = total * tally.weight[i] / wsum;

			if (e > 0 && e < 5) {
				fprintf(stderr, "conns: warning: expected count %.1f < 5 for %s; the chi-square approximation is poor\n",
					e, tally.name[i]);
				break;
			}
		}
		if (unexpected || !total || !(p > opt.alpha))
			ret = 3;
	}
	return ret;
}

/* ---------------------------------------------------------------------
 * Stream mode.
 */

static struct conn *stream_res;

static void stream_done(struct conn *c)
{
	stream_res[c->idx - 1] = *c;
	stream_res[c->idx - 1].fd = -1;
	if (c->err) {
		fprintf(stderr, "stream %d sport %u: %s after %llu body bytes\n",
			c->idx, c->sport, err_names[c->err],
			(unsigned long long)c->got);
	}
}

static int stream_mode(void)
{
	long long nchunks;
	int i, broken = 0;

	if (opt.bytes <= 0) {
		fprintf(stderr, "conns: --stream needs --bytes N > 0\n");
		return 2;
	}
	snprintf(opt.tgt.path, sizeof(opt.tgt.path),
		 "/stream?bytes=%lld&chunk=%lld&interval_ms=%lld",
		 opt.bytes, opt.chunk, opt.interval_ms);
	nchunks = opt.chunk > 0 ? (opt.bytes + opt.chunk - 1) / opt.chunk : 1;
	if (!opt.max_time_ms)
		opt.max_time_ms = nchunks * opt.interval_ms +
				  2 * opt.timeout_ms + 1000;
	stream_res = calloc((size_t)opt.streams, sizeof(*stream_res));
	if (!stream_res) {
		perror("conns: calloc");
		return 1;
	}
	for (i = 0; i < opt.streams; i++) {
		stream_res[i].idx = i + 1;
		stream_res[i].err = E_TIMEOUT;
	}
	run_conns(opt.streams, opt.streams, stream_done);
	for (i = 0; i < opt.streams; i++) {
		struct conn *c = &stream_res[i];

		printf("stream %d backend %s bytes %llu %s\n", i + 1,
		       c->prefix_len ? c->name : "-",
		       (unsigned long long)c->got, c->err ? "BROKEN" : "ok");
		broken += c->err != E_NONE;
	}
	free(stream_res);
	return broken ? 1 : 0;
}

/* ---------------------------------------------------------------------
 * Self-test.
 */

static int st_fail, st_checks;

static void st_close(const char *what, double got, double want, double rtol)
{
	double err = fabs(got - want);

	st_checks++;
	if (!(err <= rtol * fabs(want)) && !(want == 0 && got == 0)) {
		st_fail++;
		printf("FAIL %s: got %.17g want %.17g\n", what, got, want);
	}
}

static void st_true(const char *what, bool ok)
{
	st_checks++;
	if (!ok) {
		st_fail++;
		printf("FAIL %s\n", what);
	}
}

static int selftest(void)
{
	/* Reference values: chi-square critical points and tail areas. */
	static const struct { double x; int df; double p, rtol; } ref[] = {
		{ 3.841458820694124, 1, 0.05, 1e-9 },
		{ 3.84, 1, 0.050043521248705103, 1e-9 },
		{ 11.0704976935, 5, 0.05, 1e-9 },
		{ 11.07, 5, 0.050009618622405482, 1e-9 },
		{ 0, 2, 1.0, 0 },
		{ 6.634896601021214, 1, 0.01, 1e-9 },
		{ 10.827566170662733, 1, 0.001, 1e-9 },
		{ 18.307038053275146, 10, 0.05, 1e-9 },
		{ 124.34211340400407, 100, 0.05, 1e-8 },
		{ 2, 2, 0.36787944117144232, 1e-12 },
		{ 1, 3, 0.8012519569012008, 1e-12 },
		{ 100, 1, 1.5239706048321052e-23, 1e-8 },
		{ 0.001, 1, 0.97477287936996039, 1e-12 },
		{ 1000, 10, 1.8702907209159497e-208, 1e-7 },
	};
	static const struct { const char *url; int ok; int fam; const char *path; } urls[] = {
		{ "http://198.18.1.10:8000/", 1, AF_INET, "/" },
		{ "http://198.18.1.10:8000", 1, AF_INET, "/" },
		{ "http://198.18.1.10/x?y=1", 1, AF_INET, "/x?y=1" },
		{ "http://[2001:db8::10]:8000/", 1, AF_INET6, "/" },
		{ "http://[2001:db8::10]/", 1, AF_INET6, "/" },
		{ "http://2001:db8::10:8000/", 0, 0, NULL },
		{ "http://198.18.1.10:0/", 0, 0, NULL },
		{ "http://198.18.1.10:65536/", 0, 0, NULL },
		{ "http://198.18.1.10:/", 0, 0, NULL },
		{ "http://example.com/", 0, 0, NULL },
		{ "https://198.18.1.10/", 0, 0, NULL },
	};
	struct tally t;
	struct target tg;
	char what[128];
	bool unexp;
	double x;
	int i, df;

	for (i = 0; i < (int)(sizeof(ref) / sizeof(ref[0])); i++) {
		snprintf(what, sizeof(what), "p(chi2=%g, df=%d)", ref[i].x,
			 ref[i].df);
		st_close(what, chi2_pvalue(ref[i].x, ref[i].df), ref[i].p,
			 ref[i].rtol);
	}
	/* df = 1: Q(1/2, x/2) = erfc(sqrt(x/2)), over both branches. */
	for (i = 1; i <= 400; i++) {
		double xx = i * 0.1;

		snprintf(what, sizeof(what), "df=1 vs erfc at %g", xx);
		st_close(what, chi2_pvalue(xx, 1), erfc(sqrt(xx / 2)), 1e-9);
	}
	/* Even df = 2k: Q(k, y) = e^-y sum_{j<k} y^j / j!. */
	for (df = 2; df <= 40; df += 2) {
		for (i = 1; i <= 120; i++) {
			double y = i * 0.5 / 2, term = 1, sum = 0;
			int j;

			for (j = 0; j < df / 2; j++) {
				sum += term;
				term *= y / (j + 1);
			}
			snprintf(what, sizeof(what), "df=%d closed form at %g",
				 df, 2 * y);
			st_close(what, chi2_pvalue(2 * y, df), exp(-y) * sum,
				 1e-9);
		}
	}
	/* Monotone in x, within [0, 1]. */
	for (df = 1; df <= 60; df += 7) {
		double prev = 1.0;

		for (i = 0; i <= 500; i++) {
			double p = chi2_pvalue(i * 0.4, df);

			snprintf(what, sizeof(what), "monotone df=%d x=%g", df,
				 i * 0.4);
			st_true(what, p >= 0 && p <= prev + 1e-15);
			prev = p;
		}
	}

	/* The statistic: a perfect 1:2:3 fit, a known deviation, surprises. */
	memset(&t, 0, sizeof(t));
	st_true("parse_expect", !parse_expect(&t, "b1=1,b2=2,b3=3"));
	t.count[tally_find(&t, "b1", false)] = 10;
	t.count[tally_find(&t, "b2", false)] = 20;
	t.count[tally_find(&t, "b3", false)] = 30;
	x = chi2_stat(&t, &df, &unexp);
	st_close("chi2 perfect fit", x, 0, 0);
	st_true("df 2", df == 2 && !unexp);
	t.count[0] = 20;	/* 20,20,30 vs 70*(1/6,2/6,3/6) */
	x = chi2_stat(&t, &df, &unexp);
	st_close("chi2 20/20/30", x,
		 pow(20 - 70 / 6.0, 2) / (70 / 6.0) +
		 pow(20 - 70 / 3.0, 2) / (70 / 3.0) +
		 pow(30 - 35.0, 2) / 35.0, 1e-12);
	t.count[tally_find(&t, "b4", true)] = 1;
	chi2_stat(&t, &df, &unexp);
	st_true("unlisted backend is unexpected", unexp);
	memset(&t, 0, sizeof(t));
	st_true("weight 0", !parse_expect(&t, "b1=1,b2=0"));
	t.count[0] = 5;
	x = chi2_stat(&t, &df, &unexp);
	st_true("weight 0, no answers: df 0 p 1",
		!unexp && df == 0 && x == 0 && chi2_pvalue(x, df) == 1.0);
	t.count[1] = 1;
	chi2_stat(&t, &df, &unexp);
	st_true("weight 0 answered is unexpected", unexp);
	memset(&t, 0, sizeof(t));
	st_true("bad expect rejected", parse_expect(&t, "b1") &&
		parse_expect(&t, "=1") && parse_expect(&t, "b1=-1") &&
		parse_expect(&t, "b1=x"));

	for (i = 0; i < (int)(sizeof(urls) / sizeof(urls[0])); i++) {
		int r = parse_url(urls[i].url, &tg);

		snprintf(what, sizeof(what), "url %s", urls[i].url);
		st_true(what, urls[i].ok ? !r && tg.sa.ss_family == urls[i].fam &&
					   !strcmp(tg.path, urls[i].path)
					 : r != 0);
	}

	printf("selftest: %d checks, %d failed\n", st_checks, st_fail);
	return st_fail ? 1 : 0;
}

/* ---------------------------------------------------------------------
 */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: conns --url http://ADDR:PORT/ --count N [--parallel K]\n"
		"             [--timeout-ms T] [--expect NAME=W,...] [--alpha A]\n"
		"             [--max-time-ms M] [--verbose]\n"
		"       conns --stream --url http://ADDR:PORT/ --streams S --bytes N\n"
		"             [--chunk C] [--interval-ms T] [--timeout-ms T]\n"
		"             [--max-time-ms M]\n"
		"       conns --selftest\n"
		"IPv6: http://[2001:db8::10]:8000/. Exit: 0 ok, 1 errors, 2 usage,\n"
		"3 tally does not fit --expect (p <= alpha, default 0.001).\n");
}

static int num_arg(const char *a, const char *v, long long min,
		   long long max, long long *out)
{
	char *e;

	errno = 0;
	*out = v ? strtoll(v, &e, 10) : 0;
	if (!v || errno || *e || e == v || *out < min || *out > max) {
		fprintf(stderr, "conns: %s needs a number in %lld..%lld\n", a,
			min, max);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	long long v;
	int i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--selftest"))
			return selftest();
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--stream")) {
			opt.stream = true;
			continue;
		}
		if (!strcmp(a, "--verbose")) {
			opt.verbose = true;
			continue;
		}
		i++;
		if (!strcmp(a, "--url")) {
			url = val;
			if (!val)
				goto bad;
		} else if (!strcmp(a, "--expect")) {
			opt.expect = val;
			if (!val)
				goto bad;
		} else if (!strcmp(a, "--alpha")) {
			char *e;

			if (!val)
				goto bad;
			opt.alpha = strtod(val, &e);
			if (*e || !(opt.alpha > 0 && opt.alpha < 1))
				goto bad;
		} else if (!strcmp(a, "--count")) {
			if (num_arg(a, val, 1, 10000000, &v))
				return 2;
			opt.count = (long)v;
		} else if (!strcmp(a, "--parallel")) {
			if (num_arg(a, val, 1, MAX_PARALLEL, &v))
				return 2;
			opt.parallel = (long)v;
		} else if (!strcmp(a, "--streams")) {
			if (num_arg(a, val, 1, MAX_PARALLEL, &v))
				return 2;
			opt.streams = (long)v;
		} else if (!strcmp(a, "--bytes")) {
			if (num_arg(a, val, 1, 1LL << 32, &opt.bytes))
				return 2;
		} else if (!strcmp(a, "--chunk")) {
			if (num_arg(a, val, 0, 1LL << 32, &opt.chunk))
				return 2;
		} else if (!strcmp(a, "--interval-ms")) {
			if (num_arg(a, val, 0, 60000, &opt.interval_ms))
				return 2;
		} else if (!strcmp(a, "--timeout-ms")) {
			if (num_arg(a, val, 1, 3600000, &v))
				return 2;
			opt.timeout_ms = (long)v;
		} else if (!strcmp(a, "--max-time-ms")) {
			if (num_arg(a, val, 1, 24LL * 3600000, &v))
				return 2;
			opt.max_time_ms = (long)v;
		} else {
			goto bad;
		}
	}
	if (!url || parse_url(url, &opt.tgt)) {
		fprintf(stderr, "conns: need --url http://ADDR[:PORT]/ with a literal IPv4 or [IPv6] address\n");
		usage(stderr);
		return 2;
	}
	if (opt.stream) {
		if (!opt.streams)
			opt.streams = 1;
		return stream_mode();
	}
	if (!opt.count) {
		usage(stderr);
		return 2;
	}
	return count_mode();
bad:
	fprintf(stderr, "conns: bad argument %s\n", argv[i - 1]);
	usage(stderr);
	return 2;
}
