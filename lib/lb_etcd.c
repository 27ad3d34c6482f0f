// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_etcd.c - etcd v3 over its JSON gRPC gateway; see lb_etcd.h.
 *
 * The gateway's JSON (checked against etcd 3.4.23): requests and answers
 * are the protobuf messages in JSON, bytes base64, int64 as strings
 * ("revision":"4"), fields at their default (0, false, empty) left out.
 * A watch answers with one JSON object per line, {"result": {...}}: first
 * "created", then "events"; a start revision that was compacted gives
 * "canceled" with "compact_revision".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "lb_etcd.h"
#include "lb_msg.h"
#include "lb_ops.h"

struct lb_etcd {
	CURL *curl;
	char url[LB_ETCD_ENDPOINTS_MAX][LB_ETCD_URL_MAX];
	size_t n;
	size_t cur;		/* the endpoint that answered last */
	uint32_t timeout_ms;
	const volatile bool *abort;
};

/* ---- base64 ------------------------------------------------------------ */

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *lb_b64_encode(const void *in, size_t n)
{
	const unsigned char *p = in;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

char *lb_b64_decode(const char *in, size_t n, size_t *out_len)
{
	char *out, *o;

	if (n % 4)
		return NULL;
	out = o = malloc(n / 4 * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		bool last = i + 4 == n;

		for (int k = 0; k < 4; k++) {
			v[k] = b64_val(in[i + k]);
			/* '=' only at the end: "xx==" or "xxx=" */
			if (v[k] < 0 && !(last && in[i + k] == '=' && k >= 2 &&
					  (k == 3 || in[i + 3] == '=')))
				goto bad;
		}
		*o++ = (char)(v[0] << 2 | v[1] >> 4);
		if (v[2] >= 0)
			*o++ = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (v[3] >= 0)
			*o++ = (char)((v[2] & 3) << 6 | v[3]);
	}
	*o = '\0';
	*out_len = (size_t)(o - out);
	return out;
bad:
	free(out);
	return NULL;
}

/* ---- client ------------------------------------------------------------ */

struct lb_etcd *lb_etcd_new(const char *const *endpoints, size_t n,
			    uint32_t timeout_ms, char *msg, size_t len)
{
	struct lb_etcd *c;

	if (!n || n > LB_ETCD_ENDPOINTS_MAX) {
		lb_msgf(msg, len, -EINVAL, "etcd: 1 to %d endpoints, not %zu",
			LB_ETCD_ENDPOINTS_MAX, n);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		lb_msgf(msg, len, -ENOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *e = endpoints[i];
		size_t l = strlen(e);

		if ((strncmp(e, "http://", 7) && strncmp(e, "https://", 8)) ||
		    l >= LB_ETCD_URL_MAX || e[l - 1] == '/') {
			lb_msgf(msg, len, -EINVAL, "etcd endpoint \"%s\": must be "
				"http(s)://HOST:PORT, without a path", e);
			free(c);
			return NULL;
		}
		memcpy(c->url[i], e, l + 1);
	}
	c->n = n;
	c->timeout_ms = timeout_ms ? timeout_ms : 1000;
	c->curl = curl_easy_init();
	if (!c->curl) {
		lb_msgf(msg, len, -ENOMEM, "curl_easy_init failed");
		free(c);
		return NULL;
	}
	return c;
}

void lb_etcd_free(struct lb_etcd *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

void lb_etcd_set_abort(struct lb_etcd *c, const volatile bool *flag)
{
	c->abort = flag;
}

static int call_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c,
			 curl_off_t d)
{
	const struct lb_etcd *e = ctx;

	(void)a, (void)b, (void)c, (void)d;
	return e->abort && *e->abort;
}

struct body {
	char *p;
	size_t n, cap;
	bool too_big;
};

static size_t body_write(char *d, size_t sz, size_t nm, void *ctx)
{
	struct body *b = ctx;
	size_t n = sz * nm;

	if (b->n + n + 1 > LB_ETCD_BODY_MAX) {
		b->too_big = true;
		return 0;
	}
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static void setup(struct lb_etcd *c, size_t ep, const char *path,
		  const char *req, struct curl_slist *hdr)
{
	char url[LB_ETCD_URL_MAX + 64];

	snprintf(url, sizeof(url), "%s%s", c->url[ep], path);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	/* etcd itself, never an http_proxy from the environment */
	curl_easy_setopt(c->curl, CURLOPT_PROXY, "");
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, call_progress);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
}

/* etcd's own refusal: {"error": ..., "message": ..., "code": n} */
static int etcd_error(const char *body, long status, char *msg, size_t len)
{
	json_object *o = json_tokener_parse(body ? body : ""), *m;
	int err;

	if (o && (json_object_object_get_ex(o, "message", &m) ||
		  json_object_object_get_ex(o, "error", &m)))
		err = lb_msgf(msg, len, -EREMOTEIO, "etcd: %s (HTTP %ld)",
			      json_object_get_string(m), status);
	else
		err = lb_msgf(msg, len, -EPROTO, "etcd: HTTP %ld", status);
	json_object_put(o);
	return err;
}

/* POSTs req to path on the current endpoint, then the others: the parsed
 * answer in *out. */
static int call(struct lb_etcd *c, const char *path, const char *req,
		json_object **out, char *msg, size_t len)
{
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	int err = lb_msgf(msg, len, -EHOSTUNREACH, "etcd: no endpoint");

	*out = NULL;
	if (!hdr)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	for (size_t k = 0; k < c->n; k++) {
		size_t ep = (c->cur + k) % c->n;
		struct body b = { 0 };
		long status = 0;
		CURLcode rc;

		setup(c, ep, path, req, hdr);
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, body_write);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
		rc = curl_easy_perform(c->curl);
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (b.too_big) {
			free(b.p);
			err = lb_msgf(msg, len, -E2BIG, "etcd %s: answer over %u bytes",
				      c->url[ep], LB_ETCD_BODY_MAX);
			break;
		}
		if (rc == CURLE_ABORTED_BY_CALLBACK) {
			free(b.p);
			err = lb_msgf(msg, len, -ECANCELED, "etcd: stopped");
			break;
		}
		if (rc != CURLE_OK) {
			free(b.p);
			err = lb_msgf(msg, len, -EHOSTUNREACH, "etcd %s%s: %s",
				      c->url[ep], path, curl_easy_strerror(rc));
			continue;	/* the next endpoint */
		}
		c->cur = ep;
		if (status != 200) {
			err = etcd_error(b.p, status, msg, len);
			free(b.p);
			break;
		}
		*out = json_tokener_parse(b.p ? b.p : "");
		free(b.p);
		err = *out && json_object_is_type(*out, json_type_object) ? 0 :
		      lb_msgf(msg, len, -EPROTO, "etcd %s%s: answer is not a JSON object",
			      c->url[ep], path);
		if (err) {
			json_object_put(*out);
			*out = NULL;
		}
		break;
	}
	curl_slist_free_all(hdr);
	return err;
}

/* ---- JSON helpers ---------------------------------------------------- */

/* An int64 field, as the gateway writes it (a string) or as a number;
 * absent is 0. -1 when present but not an integer. */
static int get_i64(json_object *o, const char *k, int64_t *v)
{
	json_object *f;
	const char *s;
	char *end;

	*v = 0;
	if (!o || !json_object_object_get_ex(o, k, &f))
		return 0;
	if (json_object_is_type(f, json_type_int)) {
		*v = json_object_get_int64(f);
		return 0;
	}
	if (!json_object_is_type(f, json_type_string))
		return -1;
	s = json_object_get_string(f);
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

static int add_b64(json_object *o, const char *k, const void *p, size_t n)
{
	char *s = lb_b64_encode(p, n);

	if (!s)
		return -ENOMEM;
	json_object_object_add(o, k, json_object_new_string(s));
	free(s);
	return 0;
}

static void add_i64(json_object *o, const char *k, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	json_object_object_add(o, k, json_object_new_string(s));
}

/* key, and range_end for every key with that prefix */
static int add_key(json_object *o, const char *key, bool prefix)
{
	size_t n = strlen(key);
	char *end;
	int err;

	err = add_b64(o, "key", key, n);
	if (err || !prefix)
		return err;
	end = strdup(key);
	if (!end)
		return -ENOMEM;
	/* the prefix with its last byte below 0xff incremented */
	while (n && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (!n) {
		free(end);
		return add_b64(o, "range_end", "\0", 1);	/* every key */
	}
	end[n - 1]++;
	err = add_b64(o, "range_end", end, n);
	free(end);
	return err;
}

static char *to_text(json_object *o)
{
	char *s = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) : NULL;

	json_object_put(o);
	return s;
}

/* POSTs request object req (consumed, also on error; NULL means it could
 * not be built) to path; *ans is etcd's answer on success. */
static int call_obj(struct lb_etcd *c, const char *path, json_object *req,
		    json_object **ans, char *msg, size_t len)
{
	char *s = to_text(req);
	int err;

	if (!s)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	err = call(c, path, s, ans, msg, len);
	free(s);
	return err;
}

static int b64_field(json_object *o, const char *k, char **out, size_t *n)
{
	json_object *f;
	const char *s = "";

	if (json_object_object_get_ex(o, k, &f)) {
		if (!json_object_is_type(f, json_type_string))
			return -EPROTO;
		s = json_object_get_string(f);
	}
	*out = lb_b64_decode(s, strlen(s), n);
	return *out ? 0 : -EPROTO;
}

static int parse_kv(json_object *o, struct lb_etcd_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	if (!json_object_is_type(o, json_type_object) ||
	    b64_field(o, "key", &kv->key, &kv->key_len) ||
	    b64_field(o, "value", &kv->value, &kv->value_len) ||
	    get_i64(o, "create_revision", &kv->create_rev) ||
	    get_i64(o, "mod_revision", &kv->mod_rev) ||
	    get_i64(o, "version", &kv->version) ||
	    get_i64(o, "lease", &kv->lease))
		return -EPROTO;
	return 0;
}

static void kv_free(struct lb_etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
}

void lb_etcd_kvs_free(struct lb_etcd_kvs *r)
{
	for (size_t i = 0; i < r->n; i++)
		kv_free(&r->kv[i]);
	free(r->kv);
	memset(r, 0, sizeof(*r));
}

static int header_rev(json_object *o, int64_t *rev)
{
	json_object *h;

	*rev = 0;
	if (!json_object_object_get_ex(o, "header", &h))
		return 0;
	return get_i64(h, "revision", rev) ? -EPROTO : 0;
}

/* A RangeResponse into out. */
static int parse_range(json_object *o, struct lb_etcd_kvs *out)
{
	json_object *kvs;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (header_rev(o, &out->rev))
		return -EPROTO;
	if (!json_object_object_get_ex(o, "kvs", &kvs))
		return 0;
	if (!json_object_is_type(kvs, json_type_array))
		return -EPROTO;
	n = json_object_array_length(kvs);
	out->kv = calloc(n ? n : 1, sizeof(*out->kv));
	if (!out->kv)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (parse_kv(json_object_array_get_idx(kvs, i), &out->kv[i])) {
			lb_etcd_kvs_free(out);
			return -EPROTO;
		}
		out->n++;
	}
	return 0;
}

/* ---- KV ---------------------------------------------------------------- */

int lb_etcd_get(struct lb_etcd *c, const char *key, bool prefix,
		struct lb_etcd_kvs *out, char *msg, size_t len)
{
	json_object *req = json_object_new_object(), *ans;
	int err;

	memset(out, 0, sizeof(*out));
	if (req && add_key(req, key, prefix)) {
		json_object_put(req);
		req = NULL;
	}
	err = call_obj(c, "/v3/kv/range", req, &ans, msg, len);
	if (err)
		return err;
	err = parse_range(ans, out);
	json_object_put(ans);
	return err ? lb_msgf(msg, len, err, "etcd: bad range answer for %s", key) : 0;
}

/* ---- txn ----------------------------------------------------------------- */

static const char *const target_names[] = {
	[LB_ETCD_VERSION] = "VERSION", [LB_ETCD_CREATE] = "CREATE",
	[LB_ETCD_MOD] = "MOD", [LB_ETCD_VALUE] = "VALUE",
	[LB_ETCD_LEASE] = "LEASE",
};
static const char *const target_fields[] = {
	[LB_ETCD_VERSION] = "version", [LB_ETCD_CREATE] = "create_revision",
	[LB_ETCD_MOD] = "mod_revision", [LB_ETCD_VALUE] = "value",
	[LB_ETCD_LEASE] = "lease",
};
static const char *const result_names[] = {
	[LB_ETCD_EQUAL] = "EQUAL", [LB_ETCD_GREATER] = "GREATER",
	[LB_ETCD_LESS] = "LESS", [LB_ETCD_NOT_EQUAL] = "NOT_EQUAL",
};

static json_object *cmp_json(const struct lb_etcd_cmp *c)
{
	json_object *o = json_object_new_object();

	if (!o || (unsigned)c->target > LB_ETCD_LEASE ||
	    (unsigned)c->result > LB_ETCD_NOT_EQUAL || add_key(o, c->key, false))
		goto bad;
	json_object_object_add(o, "target", json_object_new_string(target_names[c->target]));
	json_object_object_add(o, "result", json_object_new_string(result_names[c->result]));
	if (c->target == LB_ETCD_VALUE) {
		if (add_b64(o, "value", c->value ? c->value : "", c->value_len))
			goto bad;
	} else {
		add_i64(o, target_fields[c->target], c->num);
	}
	return o;
bad:
	json_object_put(o);
	return NULL;
}

static json_object *op_json(const struct lb_etcd_op *op)
{
	json_object *o = json_object_new_object(), *r = json_object_new_object();
	const char *name;

	if (!o || !r)
		goto bad;
	switch (op->type) {
	case LB_ETCD_OP_GET:
		name = "request_range";
		if (add_key(r, op->key, op->prefix))
			goto bad;
		break;
	case LB_ETCD_OP_PUT:
		name = "request_put";
		if (add_key(r, op->key, false) ||
		    add_b64(r, "value", op->value ? op->value : "", op->value_len))
			goto bad;
		if (op->lease)
			add_i64(r, "lease", op->lease);
		break;
	case LB_ETCD_OP_DELETE:
		name = "request_delete_range";
		if (add_key(r, op->key, op->prefix))
			goto bad;
		break;
	default:
		goto bad;
	}
	json_object_object_add(o, name, r);
	return o;
bad:
	json_object_put(o);
	json_object_put(r);
	return NULL;
}

static int add_ops(json_object *req, const char *k, const struct lb_etcd_op *ops,
		   size_t n)
{
	json_object *a;

	if (!n)
		return 0;
	if (n > LB_ETCD_TXN_OPS_MAX || !(a = json_object_new_array()))
		return -1;
	json_object_object_add(req, k, a);
	for (size_t i = 0; i < n; i++) {
		json_object *o = op_json(&ops[i]);

		if (!o)
			return -1;
		json_object_array_add(a, o);
	}
	return 0;
}

char *lb_etcd_txn_json(const struct lb_etcd_cmp *cmp, size_t ncmp,
		       const struct lb_etcd_op *ok, size_t nok,
		       const struct lb_etcd_op *fail, size_t nfail)
{
	json_object *req = json_object_new_object(), *a;

	if (!req)
		return NULL;
	if (ncmp) {
		a = json_object_new_array();
		if (!a)
			goto bad;
		json_object_object_add(req, "compare", a);
		for (size_t i = 0; i < ncmp; i++) {
			json_object *o = cmp_json(&cmp[i]);

			if (!o)
				goto bad;
			json_object_array_add(a, o);
		}
	}
	if (add_ops(req, "success", ok, nok) || add_ops(req, "failure", fail, nfail))
		goto bad;
	return to_text(req);
bad:
	json_object_put(req);
	return NULL;
}

void lb_etcd_txn_result_free(struct lb_etcd_txn_result *r)
{
	for (size_t i = 0; i < LB_ETCD_TXN_OPS_MAX; i++)
		lb_etcd_kvs_free(&r->get[i]);
	memset(r, 0, sizeof(*r));
}

static int parse_txn(json_object *ans, struct lb_etcd_txn_result *out)
{
	json_object *f, *resp;
	size_t n;

	if (header_rev(ans, &out->rev))
		return -EPROTO;
	out->succeeded = json_object_object_get_ex(ans, "succeeded", &f) &&
			 json_object_get_boolean(f);
	if (!json_object_object_get_ex(ans, "responses", &resp))
		return 0;
	if (!json_object_is_type(resp, json_type_array))
		return -EPROTO;
	n = json_object_array_length(resp);
	if (n > LB_ETCD_TXN_OPS_MAX)
		return -EPROTO;
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(resp, i), *rr;

		if (json_object_object_get_ex(r, "response_range", &rr) &&
		    parse_range(rr, &out->get[i]))
			return -EPROTO;
	}
	return 0;
}

int lb_etcd_txn(struct lb_etcd *c, const struct lb_etcd_cmp *cmp, size_t ncmp,
		const struct lb_etcd_op *ok, size_t nok,
		const struct lb_etcd_op *fail, size_t nfail,
		struct lb_etcd_txn_result *out, char *msg, size_t len)
{
	char *s = lb_etcd_txn_json(cmp, ncmp, ok, nok, fail, nfail);
	json_object *ans;
	int err;

	memset(out, 0, sizeof(*out));
	if (!s)
		return lb_msgf(msg, len, -EINVAL, "etcd txn: bad request or no memory");
	err = call(c, "/v3/kv/txn", s, &ans, msg, len);
	free(s);
	if (err)
		return err;
	err = parse_txn(ans, out);
	json_object_put(ans);
	if (err) {
		lb_etcd_txn_result_free(out);
		return lb_msgf(msg, len, err, "etcd: bad txn answer");
	}
	return 0;
}

/* ---- leases -------------------------------------------------------------- */

static int lease_call(struct lb_etcd *c, const char *path, const char *idk,
		      int64_t id, int64_t ttl, json_object **ans, char *msg,
		      size_t len)
{
	json_object *req = json_object_new_object();

	if (req && id)
		add_i64(req, idk, id);
	if (req && ttl)
		add_i64(req, "TTL", ttl);
	return call_obj(c, path, req, ans, msg, len);
}

int lb_etcd_lease_grant(struct lb_etcd *c, int64_t ttl_s, int64_t *id,
			char *msg, size_t len)
{
	json_object *ans;
	int64_t ttl = 0;
	int err = lease_call(c, "/v3/lease/grant", "ID", 0, ttl_s, &ans, msg, len);

	if (err)
		return err;
	if (get_i64(ans, "ID", id) || get_i64(ans, "TTL", &ttl) || !*id || ttl <= 0)
		err = lb_msgf(msg, len, -EPROTO, "etcd: bad lease grant answer");
	json_object_put(ans);
	return err;
}

int lb_etcd_lease_keepalive(struct lb_etcd *c, int64_t id, int64_t *ttl_s,
			    char *msg, size_t len)
{
	json_object *ans, *res;
	int64_t ttl = 0;
	int err = lease_call(c, "/v3/lease/keepalive", "ID", id, 0, &ans, msg, len);

	if (err)
		return err;
	/* a stream of one message: {"result": {"ID", "TTL"}}, TTL absent
	 * (0) when the lease is gone */
	if (!json_object_object_get_ex(ans, "result", &res) ||
	    get_i64(res, "TTL", &ttl))
		err = lb_msgf(msg, len, -EPROTO, "etcd: bad keepalive answer");
	else if (ttl <= 0)
		err = lb_msgf(msg, len, -ENOENT, "etcd: lease %" PRIx64 " expired",
			      (uint64_t)id);
	json_object_put(ans);
	if (!err && ttl_s)
		*ttl_s = ttl;
	return err;
}

int lb_etcd_lease_revoke(struct lb_etcd *c, int64_t id, char *msg, size_t len)
{
	json_object *ans;
	int err = lease_call(c, "/v3/lease/revoke", "ID", id, 0, &ans, msg, len);

	json_object_put(ans);
	return err;
}

/* ---- watch --------------------------------------------------------------- */

struct watch {
	struct lb_etcd *c;
	const char *prefix;
	struct body line;	/* the message being received */
	int64_t *next_rev;
	bool created;
	int64_t compacted;	/* compact_revision, when canceled for it */
	int stop;		/* cb's non-zero answer */
	int err;
	char *msg;
	size_t len;
	lb_etcd_watch_cb cb;
	void *ctx;
	uint64_t started_ms;
};

static int watch_events(struct watch *w, json_object *evs)
{
	size_t n = json_object_array_length(evs);

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(evs, i), *kvo, *t;
		struct lb_etcd_event ev = { .type = LB_ETCD_EV_PUT };
		struct lb_etcd_kv kv;

		if (!json_object_object_get_ex(e, "kv", &kvo) || parse_kv(kvo, &kv))
			return -EPROTO;
		if (json_object_object_get_ex(e, "type", &t) &&
		    !strcmp(json_object_get_string(t), "DELETE"))
			ev.type = LB_ETCD_EV_DELETE;
		ev.kv = &kv;
		if (kv.mod_rev >= *w->next_rev)
			*w->next_rev = kv.mod_rev + 1;
		w->stop = w->cb(w->ctx, &ev);
		kv_free(&kv);
		if (w->stop)
			return 0;
	}
	return 0;
}

/* One message of the stream: {"result": WatchResponse} or an error. */
static int watch_message(struct watch *w, const char *s)
{
	json_object *o = json_tokener_parse(s), *r, *f;
	int64_t rev = 0, compact = 0;
	int err = 0;

	if (!o || !json_object_object_get_ex(o, "result", &r)) {
		if (o && (json_object_object_get_ex(o, "error", &f) ||
			  json_object_object_get_ex(o, "message", &f)))
			err = lb_msgf(w->msg, w->len, -EREMOTEIO, "etcd watch: %s",
				      json_object_get_string(f));
		else
			err = lb_msgf(w->msg, w->len, -EPROTO,
				      "etcd watch: a message that is not {\"result\"}");
		json_object_put(o);
		return err;
	}
	if (header_rev(r, &rev) || get_i64(r, "compact_revision", &compact)) {
		json_object_put(o);
		return lb_msgf(w->msg, w->len, -EPROTO, "etcd watch: bad header");
	}
	if (json_object_object_get_ex(r, "created", &f) && json_object_get_boolean(f)) {
		w->created = true;
		/* from now: the first revision after the current one */
		if (!*w->next_rev)
			*w->next_rev = rev + 1;
	}
	if (json_object_object_get_ex(r, "canceled", &f) && json_object_get_boolean(f)) {
		if (compact > 0)
			w->compacted = compact;
		else
			err = lb_msgf(w->msg, w->len, -EREMOTEIO, "etcd watch canceled");
	}
	if (!err && json_object_object_get_ex(r, "events", &f)) {
		if (!json_object_is_type(f, json_type_array) || watch_events(w, f))
			err = lb_msgf(w->msg, w->len, -EPROTO, "etcd watch: bad event");
	}
	json_object_put(o);
	return err;
}

static size_t watch_write(char *d, size_t sz, size_t nm, void *ctx)
{
	struct watch *w = ctx;
	size_t n = sz * nm;

	for (size_t i = 0; i < n; i++) {
		char *nl = memchr(d + i, '\n', n - i);
		size_t take = nl ? (size_t)(nl - (d + i)) : n - i;

		if (take && body_write(d + i, 1, take, &w->line) != take) {
			w->err = lb_msgf(w->msg, w->len, -E2BIG,
					 "etcd watch: a message over %u bytes",
					 LB_ETCD_BODY_MAX);
			return 0;
		}
		i += take;
		if (!nl)
			break;
		if (w->line.n) {
			w->err = watch_message(w, w->line.p);
			w->line.n = 0;
			if (w->err || w->stop || w->compacted)
				return 0;	/* ends the transfer */
		}
	}
	return n;
}

/* Ends a transfer whose watch was not created within the timeout: a
 * stopped etcd accepts connections but answers nothing. */
static int watch_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c,
			  curl_off_t d)
{
	struct watch *w = ctx;

	(void)a, (void)b, (void)c, (void)d;
	if (w->c->abort && *w->c->abort)
		return 1;
	return !w->created && lb_mono_ms() > w->started_ms + w->c->timeout_ms;
}

/* After compaction: the prefix read whole, as events, and the watch goes
 * on after that read. */
static int watch_resync(struct watch *w)
{
	struct lb_etcd_kvs r;
	int err = lb_etcd_get(w->c, w->prefix, true, &r, w->msg, w->len);

	if (err)
		return err;
	for (size_t i = 0; i < r.n && !w->stop; i++) {
		struct lb_etcd_event ev = { .type = LB_ETCD_EV_PUT, .kv = &r.kv[i],
					    .resync = true };

		w->stop = w->cb(w->ctx, &ev);
	}
	*w->next_rev = r.rev + 1;
	lb_etcd_kvs_free(&r);
	return 0;
}

int lb_etcd_watch(struct lb_etcd *c, const char *prefix, int64_t *next_rev,
		  uint32_t window_ms, lb_etcd_watch_cb cb, void *ctx,
		  char *msg, size_t len)
{
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	json_object *req = json_object_new_object(), *cr = json_object_new_object();
	struct watch w = { .c = c, .prefix = prefix, .next_rev = next_rev,
			   .msg = msg, .len = len, .cb = cb, .ctx = ctx,
			   .started_ms = lb_mono_ms() };
	char *s = NULL;
	CURLcode rc;
	int err;

	if (!hdr || !req || !cr || add_key(cr, prefix, true)) {
		json_object_put(req);
		json_object_put(cr);
		curl_slist_free_all(hdr);
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	}
	if (*next_rev)
		add_i64(cr, "start_revision", *next_rev);
	json_object_object_add(req, "create_request", cr);
	s = to_text(req);
	if (!s) {
		curl_slist_free_all(hdr);
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	}
	setup(c, c->cur, "/v3/watch", s, hdr);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)window_ms);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, watch_progress);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &w);
	rc = curl_easy_perform(c->curl);
	free(s);
	free(w.line.p);
	curl_slist_free_all(hdr);
	if (c->abort && *c->abort)
		err = lb_msgf(msg, len, -ECANCELED, "etcd: stopped");
	else if (w.err)
		err = w.err;
	else if (w.stop)
		err = w.stop;
	else if (w.compacted)
		err = watch_resync(&w);
	else if (w.created && (rc == CURLE_OK || rc == CURLE_OPERATION_TIMEDOUT))
		err = 0;	/* the window ended (or etcd closed it) */
	else if (rc == CURLE_OK) {
		long status = 0;

		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		err = lb_msgf(msg, len, -EPROTO, "etcd %s watch: HTTP %ld, not created",
			      c->url[c->cur], status);
	} else {
		err = lb_msgf(msg, len, -EHOSTUNREACH, "etcd %s watch: %s",
			      c->url[c->cur],
			      rc == CURLE_ABORTED_BY_CALLBACK ? "not created in time" :
			      curl_easy_strerror(rc));
	}
	/* the next window tries the next endpoint */
	if (err == -EHOSTUNREACH || err == -EPROTO)
		c->cur = (c->cur + 1) % c->n;
	return err;
}
