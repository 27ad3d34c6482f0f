// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * httpd.c - a tiny HTTP/1.1 server for the backend namespaces of the
 * end-to-end tests. It tells the client which backend answered:
 *
 *   GET /        200, body "backend=NAME\n"
 *   GET /stream?bytes=N&chunk=C&interval_ms=T
 *                200, a body of exactly N bytes (Content-Length: N), sent
 *                C bytes at a time every T ms. The body starts with the
 *                line "backend=NAME\n"; every later byte at body offset i
 *                is 'a' + i % 26, so a client can verify what it received.
 *
 * Design: one thread, one poll() loop over non-blocking sockets. By default
 * it listens on 0.0.0.0 and [::] (IPV6_V6ONLY) so it also answers on a VIP
 * held on lo; --bind ADDR (repeatable) replaces that. Each connection is a
 * small state machine (read request, write headers + chunk, wait for the
 * next chunk's time). Body bytes are generated on the fly, so a connection
 * costs a few hundred bytes whatever N is. Everything is bounded: the
 * number of connections (excess ones wait in the listen backlog), the
 * request size, the time a peer may stay silent or stop reading, N, and a
 * stream's total duration. Keep-alive is supported; "Connection: close"
 * and HTTP/1.0 close after the response. SIGTERM/SIGINT: close and exit 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTEN	8
#define REQ_MAX		8192
#define HDR_MAX		512
#define NAME_MAX_LEN	64
#define GEN_BUF		16384
#define MAX_BODY	(1ULL << 32)		/* 4 GiB */
#define MAX_INTERVAL_MS	60000
#define MAX_STREAM_MS	(15ULL * 60 * 1000)	/* 15 min */

enum conn_state {
	ST_READ,	/* waiting for a complete request */
	ST_WRITE,	/* writing headers and/or the current chunk */
	ST_WAIT,	/* a stream between two chunks */
};

struct conn {
	int fd;
	enum conn_state st;
	bool close_after;
	char req[REQ_MAX + 1];
	size_t req_len;
	char hdr[HDR_MAX];
	size_t hdr_len, hdr_off;
	uint64_t body_len;	/* N */
	uint64_t body_off;	/* bytes of the body written */
	uint64_t chunk;		/* C (0: all at once) */
	uint64_t chunk_end;	/* write up to this body offset, then wait */
	uint64_t interval_ms;	/* T */
	int64_t next_chunk_ms;	/* when ST_WAIT ends */
	int64_t deadline_ms;	/* read/write stall limit */
};

static struct {
	const char *name;
	char prefix[NAME_MAX_LEN + 16];	/* "backend=NAME\n" */
	size_t prefix_len;
	int port;
	int max_conns;
	int timeout_ms;
	bool quiet;
} cfg = {
	.max_conns = 1024,
	.timeout_ms = 10000,
};

static volatile sig_atomic_t stop;
static struct conn **conns;	/* max_conns slots */
static int nconns;
static int lfds[MAX_LISTEN];
static int nlfds;
static unsigned long long n_accepted, n_requests, n_timeouts;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: httpd --name NAME --port P [--bind ADDR]... [--max-conns M]\n"
		"             [--timeout-ms T] [--quiet]\n"
		"  GET /        -> 200 \"backend=NAME\\n\"\n"
		"  GET /stream?bytes=N&chunk=C&interval_ms=T -> N bytes, C every T ms,\n"
		"      first line \"backend=NAME\\n\", then byte i = 'a' + i %% 26\n"
		"  default: listen on 0.0.0.0 and [::]; max-conns 1024; timeout 10000 ms\n");
}

static int parse_uint(const char *s, unsigned long long max,
		      unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Listen on ADDR (IPv4 or IPv6 literal, brackets allowed); v6only for [::]. */
static int add_listener(const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char buf[INET6_ADDRSTRLEN + 2];
	socklen_t sl;
	size_t len;
	int fd, one = 1;

	if (nlfds >= MAX_LISTEN) {
		fprintf(stderr, "httpd: at most %d listen addresses\n",
			MAX_LISTEN);
		return -1;
	}
	len = strlen(addr);
	if (len >= sizeof(buf)) {
		fprintf(stderr, "httpd: bad address '%s'\n", addr);
		return -1;
	}
	strcpy(buf, addr);
	if (buf[0] == '[' && len > 2 && buf[len - 1] == ']') {
		memmove(buf, buf + 1, len - 2);
		buf[len - 2] = '\0';
	}
	if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(cfg.port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(cfg.port);
		sl = sizeof(*s6);
	} else {
		fprintf(stderr, "httpd: bad address '%s'\n", addr);
		return -1;
	}

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("httpd: socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4096) < 0) {
		fprintf(stderr, "httpd: bind/listen %s port %d: %s\n", addr,
			cfg.port, strerror(errno));
		close(fd);
		return -1;
	}
	lfds[nlfds++] = fd;
	return 0;
}

static void conn_free(int i)
{
	struct conn *c = conns[i];

	close(c->fd);
	free(c);
	conns[i] = conns[--nconns];
	conns[nconns] = NULL;
}

static void accept_all(int lfd)
{
	int budget = 64;	/* bounded per poll round */

	while (nconns < cfg.max_conns && budget-- > 0) {
		struct conn *c;
		int fd, one = 1;

		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;	/* EAGAIN, or a transient error */
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->st = ST_READ;
		c->deadline_ms = now_ms() + cfg.timeout_ms;
		conns[nconns++] = c;
		n_accepted++;
	}
}

/* Value of query parameter KEY in QUERY ("a=1&b=2"), or NULL. */
static const char *query_get(char *query, const char *key, char *out,
			     size_t outsz)
{
	size_t klen = strlen(key);
	char *p = query;

	while (p && *p) {
		char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);

		if (seg > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			size_t vlen = seg - klen - 1;

			if (vlen >= outsz)
				return NULL;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return out;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static void set_response(struct conn *c, int code, const char *reason,
			 uint64_t body_len)
{
	int n;

	n = snprintf(c->hdr, sizeof(c->hdr),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %llu\r\n"
		     "X-Backend: %s\r\n"
		     "%s"
		     "\r\n",
		     code, reason, (unsigned long long)body_len, cfg.name,
		     c->close_after ? "Connection: close\r\n" : "");
	c->hdr_len = (size_t)n < sizeof(c->hdr) ? (size_t)n : sizeof(c->hdr);
	c->hdr_off = 0;
	c->body_len = body_len;
	c->body_off = 0;
	c->st = ST_WRITE;
}

/* An error response: no body, and the connection closes after it. */
static void set_error(struct conn *c, int code, const char *reason)
{
	c->close_after = true;
	set_response(c, code, reason, 0);
	c->chunk = 0;
	c->chunk_end = 0;
}

static bool header_has_token(const char *hdrs, const char *name,
			     const char *token)
{
	size_t nlen = strlen(name);
	const char *p = hdrs;

	while (p && *p) {
		const char *eol = strchr(p, '\n');

		if (!strncasecmp(p, name, nlen) && p[nlen] == ':') {
			char val[256];
			size_t vlen = eol ? (size_t)(eol - p) - nlen - 1
					  : strlen(p + nlen + 1);

			if (vlen >= sizeof(val))
				vlen = sizeof(val) - 1;
			memcpy(val, p + nlen + 1, vlen);
			val[vlen] = '\0';
			if (strcasestr(val, token))
				return true;
		}
		p = eol ? eol + 1 : NULL;
	}
	return false;
}

/*
 * Parses the request held in c->req (headers end at HEND, exclusive) and
 * prepares the response. Returns the number of request bytes consumed.
 */
static size_t handle_request(struct conn *c, size_t hend)
{
	char *line = c->req, *sp1, *sp2, *eol, *path, *query, *hdrs;
	unsigned long long bytes, chunk, interval;
	char v[32];

	c->req[hend - 1] = '\0';	/* the last '\n' of the header block */
	eol = strchr(line, '\n');
	hdrs = eol ? eol + 1 : line + strlen(line);
	if (eol) {
		*eol = '\0';
		if (eol > line && eol[-1] == '\r')
			eol[-1] = '\0';
	}
	n_requests++;
	c->chunk = 0;
	c->interval_ms = 0;

	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7)) {
		set_error(c, 400, "Bad Request");
		return hend;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	path = sp1 + 1;
	c->close_after = !strcmp(sp2 + 1, "HTTP/1.0") ||
			 header_has_token(hdrs, "Connection", "close");
	/* A request body is not expected: serve, then close. */
	if (header_has_token(hdrs, "Content-Length", "") ||
	    header_has_token(hdrs, "Transfer-Encoding", ""))
		c->close_after = true;
	if (strcmp(line, "GET")) {
		set_error(c, 405, "Method Not Allowed");
		return hend;
	}
	query = strchr(path, '?');
	if (query)
		*query++ = '\0';

	if (!strcmp(path, "/")) {
		set_response(c, 200, "OK", cfg.prefix_len);
		c->chunk_end = c->body_len;
		return hend;
	}
	if (strcmp(path, "/stream")) {
		set_error(c, 404, "Not Found");
		return hend;
	}

	bytes = cfg.prefix_len;
	chunk = 0;
	interval = 0;
	if (query_get(query, "bytes", v, sizeof(v)) &&
	    parse_uint(v, MAX_BODY, &bytes))
		goto bad;
	if (query_get(query, "chunk", v, sizeof(v)) &&
	    parse_uint(v, MAX_BODY, &chunk))
		goto bad;
	if (query_get(query, "interval_ms", v, sizeof(v)) &&
	    parse_uint(v, MAX_INTERVAL_MS, &interval))
		goto bad;
	if (bytes < cfg.prefix_len)
		goto bad;	/* the body must hold the backend line */
	if (!chunk || chunk > bytes)
		chunk = bytes;
	/* Bound the stream's duration: (chunks - 1) intervals. */
	if (interval && (bytes / chunk) * interval > MAX_STREAM_MS)
		goto bad;
	set_response(c, 200, "OK", bytes);
	c->chunk = chunk;
	c->chunk_end = chunk;
	c->interval_ms = interval;
	c->next_chunk_ms = now_ms() + (int64_t)interval;
	return hend;
bad:
	set_error(c, 400, "Bad Request");
	return hend;
}

/* Looks for the end of the header block; returns its length or 0. */
static size_t find_hdr_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* 'a'..'z' repeated: body byte i (past the first line) is pattern[i % 26]. */
static char pattern[GEN_BUF + 26];

/* Returns N body bytes from offset OFF (N <= GEN_BUF), built in SCRATCH. */
static const char *body_bytes(char *scratch, uint64_t off, size_t n)
{
	size_t i;

	if (off >= cfg.prefix_len)
		return pattern + off % 26;
	for (i = 0; i < n; i++, off++)
		scratch[i] = off < cfg.prefix_len ? cfg.prefix[off]
						  : (char)('a' + off % 26);
	return scratch;
}

/* Returns -1 to close the connection, 0 otherwise. */
static int try_parse(struct conn *c)
{
	size_t hend = find_hdr_end(c->req, c->req_len);

	if (!hend) {
		if (c->req_len >= REQ_MAX) {
			set_error(c, 431, "Request Header Fields Too Large");
			c->req_len = 0;
		}
		return 0;
	}
	handle_request(c, hend);
	/* Keep pipelined bytes for the next request. */
	memmove(c->req, c->req + hend, c->req_len - hend);
	c->req_len -= hend;
	return 0;
}

static int on_readable(struct conn *c)
{
	ssize_t n;

	if (c->req_len >= REQ_MAX)
		return 0;
	n = recv(c->fd, c->req + c->req_len, REQ_MAX - c->req_len, 0);
	if (n == 0)
		return -1;
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	c->req_len += (size_t)n;
	c->deadline_ms = now_ms() + cfg.timeout_ms;
	return try_parse(c);
}

/* Writes as much as the socket takes. Returns -1 to close. */
static int on_writable(struct conn *c)
{
	static char gen[GEN_BUF];
	int rounds = 64;	/* bounded per poll round, for fairness */

	while (rounds-- > 0) {
		ssize_t n;

		if (c->hdr_off < c->hdr_len) {
			struct iovec iov[2];
			size_t blen = 0;
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 1 };

			iov[0].iov_base = c->hdr + c->hdr_off;
			iov[0].iov_len = c->hdr_len - c->hdr_off;
			if (c->chunk_end > c->body_off) {
				blen = c->chunk_end - c->body_off;
				if (blen > sizeof(gen))
					blen = sizeof(gen);
				iov[1].iov_base = (void *)body_bytes(gen,
							c->body_off, blen);
				iov[1].iov_len = blen;
				mh.msg_iovlen = 2;
			}
			n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
			if (n < 0)
				goto err;
			if ((size_t)n <= c->hdr_len - c->hdr_off) {
				c->hdr_off += (size_t)n;
			} else {
				c->body_off += (size_t)n - (c->hdr_len - c->hdr_off);
				c->hdr_off = c->hdr_len;
			}
		} else if (c->body_off < c->chunk_end) {
			size_t blen = c->chunk_end - c->body_off;

			if (blen > sizeof(gen))
				blen = sizeof(gen);
			n = send(c->fd, body_bytes(gen, c->body_off, blen),
				 blen, MSG_NOSIGNAL);
			if (n < 0)
				goto err;
			c->body_off += (size_t)n;
		} else {
			break;
		}
		c->deadline_ms = now_ms() + cfg.timeout_ms;
	}
	if (c->hdr_off < c->hdr_len || c->body_off < c->chunk_end)
		return 0;	/* more to write */

	if (c->body_off < c->body_len) {
		/* A stream: the next chunk after the interval. */
		c->chunk_end = c->body_off + c->chunk;
		if (c->chunk_end > c->body_len)
			c->chunk_end = c->body_len;
		if (c->interval_ms)
			c->st = ST_WAIT;
		return 0;	/* without an interval: keep writing */
	}

	/* Response complete. */
	if (c->close_after)
		return -1;
	c->st = ST_READ;
	c->deadline_ms = now_ms() + cfg.timeout_ms;
	return try_parse(c);
err:
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return -1;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg.max_conns + MAX_LISTEN + 32;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want) {
		cfg.max_conns = (int)rl.rlim_cur - MAX_LISTEN - 32;
		fprintf(stderr, "httpd: RLIMIT_NOFILE limits max-conns to %d\n",
			cfg.max_conns);
	}
}

static int run(void)
{
	struct pollfd *pfd;
	sigset_t block, orig;
	int i;

	pfd = calloc((size_t)cfg.max_conns + MAX_LISTEN, sizeof(*pfd));
	conns = calloc((size_t)cfg.max_conns, sizeof(*conns));
	if (!pfd || !conns) {
		perror("httpd: calloc");
		return 1;
	}
	/* Signals are delivered only inside ppoll(): no lost wake-ups. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);

	while (!stop) {
		int64_t now = now_ms(), wake = now + 1000;
		struct timespec ts;
		int n = 0, nl;

		/* Stall timeouts and stream timers. */
		for (i = 0; i < nconns; i++) {
			struct conn *c = conns[i];

			if (c->st == ST_WAIT && c->next_chunk_ms <= now) {
				c->st = ST_WRITE;
				c->deadline_ms = now + cfg.timeout_ms;
				c->next_chunk_ms = now + (int64_t)c->interval_ms;
			}
			if (c->st != ST_WAIT && c->deadline_ms <= now) {
				n_timeouts++;
				conn_free(i--);
				continue;
			}
		}
		for (i = 0; i < nlfds && nconns < cfg.max_conns; i++) {
			pfd[n].fd = lfds[i];
			pfd[n++].events = POLLIN;
		}
		nl = n;
		for (i = 0; i < nconns; i++) {
			struct conn *c = conns[i];
			int64_t t = c->st == ST_WAIT ? c->next_chunk_ms
						     : c->deadline_ms;

			if (t < wake)
				wake = t;
			pfd[n].fd = c->fd;
			pfd[n++].events = c->st == ST_READ ? POLLIN :
					  c->st == ST_WRITE ? POLLOUT : 0;
		}
		if (wake < now)
			wake = now;
		ts.tv_sec = (wake - now) / 1000;
		ts.tv_nsec = ((wake - now) % 1000) * 1000000;
		if (ppoll(pfd, (nfds_t)n, &ts, &orig) < 0) {
			if (errno == EINTR)
				continue;
			perror("httpd: ppoll");
			break;
		}
		/*
		 * Connections first (indices nl..n-1 map to conns[0..]); walk
		 * backwards so conn_free()'s swap-with-last stays consistent.
		 */
		for (i = n - 1; i >= nl; i--) {
			int ci = i - nl;
			struct conn *c = conns[ci];
			short re = pfd[i].revents;
			int rc = 0;

			if (!re)
				continue;
			if (c->st == ST_READ && (re & (POLLIN | POLLHUP | POLLERR)))
				rc = on_readable(c);
			else if (c->st == ST_WRITE && (re & POLLOUT))
				rc = on_writable(c);
			else if (re & (POLLERR | POLLHUP))
				rc = -1;
			/* A parsed request: start writing right away. */
			if (!rc && c->st == ST_WRITE && !(re & POLLOUT))
				rc = on_writable(c);
			if (rc < 0)
				conn_free(ci);
		}
		for (i = 0; i < nl; i++)
			if (pfd[i].revents & POLLIN)
				accept_all(pfd[i].fd);
	}

	for (i = nconns - 1; i >= 0; i--)
		conn_free(i);
	for (i = 0; i < nlfds; i++)
		close(lfds[i]);
	if (!cfg.quiet)
		fprintf(stderr,
			"httpd %s: exiting: %llu connections, %llu requests, %llu timeouts\n",
			cfg.name, n_accepted, n_requests, n_timeouts);
	free(pfd);
	free(conns);
	return 0;
}

int main(int argc, char **argv)
{
	const char *binds[MAX_LISTEN];
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long long v;
	int nbinds = 0, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--quiet")) {
			cfg.quiet = true;
			continue;
		}
		if (!val) {
			fprintf(stderr, "httpd: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--name")) {
			cfg.name = val;
		} else if (!strcmp(a, "--port") && !parse_uint(val, 65535, &v) &&
			   v > 0) {
			cfg.port = (int)v;
		} else if (!strcmp(a, "--bind") && nbinds < MAX_LISTEN) {
			binds[nbinds++] = val;
		} else if (!strcmp(a, "--max-conns") &&
			   !parse_uint(val, 65536, &v) && v > 0) {
			cfg.max_conns = (int)v;
		} else if (!strcmp(a, "--timeout-ms") &&
			   !parse_uint(val, 3600000, &v) && v > 0) {
			cfg.timeout_ms = (int)v;
		} else {
			fprintf(stderr, "httpd: bad argument %s %s\n", a, val);
			usage(stderr);
			return 2;
		}
	}
	if (!cfg.name || !cfg.port) {
		usage(stderr);
		return 2;
	}
	if (strlen(cfg.name) > NAME_MAX_LEN || strpbrk(cfg.name, " \r\n\t")) {
		fprintf(stderr, "httpd: name must be 1..%d characters, no spaces\n",
			NAME_MAX_LEN);
		return 2;
	}
	cfg.prefix_len = (size_t)snprintf(cfg.prefix, sizeof(cfg.prefix),
					  "backend=%s\n", cfg.name);
	for (i = 0; i < (int)sizeof(pattern); i++)
		pattern[i] = (char)('a' + i % 26);

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (cfg.max_conns < 1)
		return 1;

	if (!nbinds) {
		binds[nbinds++] = "0.0.0.0";
		binds[nbinds++] = "::";
	}
	for (i = 0; i < nbinds; i++)
		if (add_listener(binds[i]))
			return 1;
	/* The start-up scripts wait for this line. */
	printf("httpd %s listening on port %d (%d addresses)\n", cfg.name,
	       cfg.port, nlfds);
	fflush(stdout);
	return run();
}
