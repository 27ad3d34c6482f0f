/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_etcd.h - a small etcd v3 client over etcd's JSON gRPC gateway
 * (POST [endpoint]/v3/..., etcd 3.4+; keys and values base64, 64-bit
 * numbers as JSON strings), with libcurl and json-c.
 *
 * One client = one libcurl handle (kept-alive connection) and a list of
 * endpoints: a call that cannot reach the current endpoint (connect
 * failure, timeout, cut answer) tries the next ones once each, and the
 * one that answered becomes current. Every attempt is bounded by the
 * client's timeout. An answer etcd gives (an HTTP error with its JSON
 * {"error", "code", "message"}) is not retried: it is the answer.
 *
 * Not thread-safe: one client per thread. Calls return 0 or a negative
 * errno with msg holding one line:
 *   -EHOSTUNREACH  no endpoint answered (msg names the last failure)
 *   -EPROTO        an answer that is not the gateway's JSON
 *   -EREMOTEIO     etcd refused the request (msg: its message)
 *   -ENOENT        lease keepalive: the lease does not exist (expired)
 *   -ENOMEM, -EINVAL, -E2BIG (an answer over LB_ETCD_BODY_MAX)
 *
 * Used by lb-agent's cluster mode (agent/cluster.c): leader election on
 * a lease, the leader's fenced writes, every host's watch.
 */
#ifndef LB_ETCD_H
#define LB_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LB_ETCD_ENDPOINTS_MAX 8
#define LB_ETCD_URL_MAX 256
/* an answer (or one watch message) larger than this is refused */
#define LB_ETCD_BODY_MAX (8u << 20)
#define LB_ETCD_TXN_OPS_MAX 8

struct lb_etcd;

/* endpoints: "http://HOST:PORT" each (no trailing path); timeout_ms
 * bounds each attempt of each call (connect included). NULL with msg set
 * on a bad endpoint or no memory. */
struct lb_etcd *lb_etcd_new(const char *const *endpoints, size_t n,
			    uint32_t timeout_ms, char *msg, size_t len);
void lb_etcd_free(struct lb_etcd *c);
/* Every call of c ends early (-ECANCELED) once *flag is true: lets a
 * thread blocked in a watch or a slow call be stopped. */
void lb_etcd_set_abort(struct lb_etcd *c, const volatile bool *flag);

/* One key-value as etcd returns it; key and value are NUL-terminated
 * copies (binary-safe with their lengths). */
struct lb_etcd_kv {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	int64_t create_rev, mod_rev, version, lease;
};

/* What a range read returns: its kvs and the store's revision then. */
struct lb_etcd_kvs {
	struct lb_etcd_kv *kv;
	size_t n;
	int64_t rev;
};
void lb_etcd_kvs_free(struct lb_etcd_kvs *r);

/* key, or every key with prefix key (prefix true). */
int lb_etcd_get(struct lb_etcd *c, const char *key, bool prefix,
		struct lb_etcd_kvs *out, char *msg, size_t len);

/* ---- transactions ---- */

enum lb_etcd_target { LB_ETCD_VERSION, LB_ETCD_CREATE, LB_ETCD_MOD,
		      LB_ETCD_VALUE, LB_ETCD_LEASE };
enum lb_etcd_result { LB_ETCD_EQUAL, LB_ETCD_GREATER, LB_ETCD_LESS,
		      LB_ETCD_NOT_EQUAL };

/* key's target compared to num (or to value for LB_ETCD_VALUE) */
struct lb_etcd_cmp {
	const char *key;
	enum lb_etcd_target target;
	enum lb_etcd_result result;
	int64_t num;
	const char *value;
	size_t value_len;
};

enum lb_etcd_op_type { LB_ETCD_OP_GET, LB_ETCD_OP_PUT, LB_ETCD_OP_DELETE };

struct lb_etcd_op {
	enum lb_etcd_op_type type;
	const char *key;
	bool prefix;		/* GET, DELETE */
	const void *value;	/* PUT */
	size_t value_len;
	int64_t lease;		/* PUT; 0 none */
};

struct lb_etcd_txn_result {
	bool succeeded;
	int64_t rev;
	/* the branch's GETs' answers, by op index (others empty) */
	struct lb_etcd_kvs get[LB_ETCD_TXN_OPS_MAX];
	size_t n;
};
void lb_etcd_txn_result_free(struct lb_etcd_txn_result *r);

/* The request body of a txn (malloc'd JSON; NULL on no memory or more
 * than LB_ETCD_TXN_OPS_MAX ops in a branch). Exposed for tests. */
char *lb_etcd_txn_json(const struct lb_etcd_cmp *cmp, size_t ncmp,
		       const struct lb_etcd_op *ok, size_t nok,
		       const struct lb_etcd_op *fail, size_t nfail);
int lb_etcd_txn(struct lb_etcd *c, const struct lb_etcd_cmp *cmp, size_t ncmp,
		const struct lb_etcd_op *ok, size_t nok,
		const struct lb_etcd_op *fail, size_t nfail,
		struct lb_etcd_txn_result *out, char *msg, size_t len);

/* ---- leases ---- */

int lb_etcd_lease_grant(struct lb_etcd *c, int64_t ttl_s, int64_t *id,
			char *msg, size_t len);
/* One keepalive: *ttl_s (may be NULL) is the lease's new TTL; -ENOENT
 * when the lease is gone. */
int lb_etcd_lease_keepalive(struct lb_etcd *c, int64_t id, int64_t *ttl_s,
			    char *msg, size_t len);
int lb_etcd_lease_revoke(struct lb_etcd *c, int64_t id, char *msg, size_t len);

/* ---- watch ---- */

enum lb_etcd_ev_type { LB_ETCD_EV_PUT, LB_ETCD_EV_DELETE };

struct lb_etcd_event {
	enum lb_etcd_ev_type type;
	const struct lb_etcd_kv *kv;
	/* from the full re-read after the watch's start revision was
	 * compacted away, not from the event stream */
	bool resync;
};

/* Return non-zero to stop the watch (lb_etcd_watch returns it). */
typedef int (*lb_etcd_watch_cb)(void *ctx, const struct lb_etcd_event *ev);

/*
 * Watches every key under prefix from revision *next_rev (0: from now)
 * for at most window_ms, calling cb for each event as it arrives (a
 * streaming read, each message bounded by LB_ETCD_BODY_MAX), then returns
 * 0 with *next_rev past the last event: call it again in a loop, which
 * resumes where this one stopped, on any endpoint. If etcd has compacted
 * *next_rev away, the prefix is read whole (events with resync set) and
 * the watch goes on after that read's revision. The watch must be
 * created within the client's timeout, else -EHOSTUNREACH: a dead etcd is
 * noticed within window_ms + timeout.
 */
int lb_etcd_watch(struct lb_etcd *c, const char *prefix, int64_t *next_rev,
		  uint32_t window_ms, lb_etcd_watch_cb cb, void *ctx,
		  char *msg, size_t len);

/* ---- base64 (RFC 4648, padded), as the gateway wants bytes ---- */

/* malloc'd, NUL-terminated; NULL on no memory. */
char *lb_b64_encode(const void *in, size_t n);
/* malloc'd (NUL added, not counted in *out_len); NULL if in is not
 * padded base64 or on no memory. */
char *lb_b64_decode(const char *in, size_t n, size_t *out_len);

#endif /* LB_ETCD_H */
