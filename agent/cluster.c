// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cluster.c - lb-agent's cluster mode over etcd; see cluster.h and
 * agent/README.md ("Cluster mode").
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "agent.h"
#include "cluster.h"
#include "config.h"
#include "lb_addr.h"
#include "lb_etcd.h"
#include "lb_msg.h"
#include "lb_names.h"
#include "lb_ops.h"

/* ---- the decision ------------------------------------------------------- */

void lb_cl_decision_free(struct lb_cl_decision *d)
{
	for (size_t i = 0; i < d->n_vips; i++)
		free(d->vips[i].be);
	free(d->vips);
	memset(d, 0, sizeof(*d));
}

static void lb_cl_key(char *buf, size_t len, const char *cluster, const char *what)
{
	snprintf(buf, len, "/inferlb/%s/%s", cluster, what);
}

enum lb_cl_gen lb_cl_gen_check(uint64_t applied, uint64_t gen)
{
	return gen > applied ? LB_CL_GEN_NEW :
	       gen == applied ? LB_CL_GEN_SAME : LB_CL_GEN_OLD;
}

static void put_int(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

char *lb_cl_encode(const struct lb_cl_decision *d)
{
	json_object *o = json_object_new_object(), *vips = json_object_new_array();
	char *s;

	if (!o || !vips)
		goto nomem;
	json_object_object_add(o, "format", json_object_new_string(LB_CL_FORMAT));
	put_int(o, "version", LB_CL_VERSION);
	json_object_object_add(o, "cluster", json_object_new_string(d->cluster));
	json_object_object_add(o, "leader", json_object_new_string(d->leader));
	put_int(o, "generation", (int64_t)d->generation);
	put_int(o, "hash_seed", d->hash_seed);
	json_object_object_add(o, "vips", vips);
	for (size_t i = 0; i < d->n_vips; i++) {
		const struct lb_cl_vip *v = &d->vips[i];
		json_object *vo = json_object_new_object(), *bs = json_object_new_array();
		char t[80];

		if (!vo || !bs) {
			json_object_put(vo);
			json_object_put(bs);
			goto nomem;
		}
		json_object_array_add(vips, vo);
		json_object_object_add(vo, "vip", json_object_new_string(
			lb_fmt_vip(&v->key, t, sizeof(t))));
		put_int(vo, "ring_size", v->ring_size);
		json_object_object_add(vo, "backends", bs);
		for (size_t j = 0; j < v->n; j++) {
			const struct lb_cl_backend *b = &v->be[j];
			json_object *bo = json_object_new_object();

			if (!bo)
				goto nomem;
			json_object_array_add(bs, bo);
			json_object_object_add(bo, "address", json_object_new_string(
				lb_fmt_ip(b->addr, b->family, t, sizeof(t))));
			put_int(bo, "weight", b->weight);
			json_object_object_add(bo, "state",
					       json_object_new_string(lb_state_name(b->state)));
			put_int(bo, "rate", b->rate);
			put_int(bo, "burst", b->burst);
			put_int(bo, "score", (int64_t)b->score);
			put_int(bo, "slots", b->slots);
			put_int(bo, "slot_wait_ns", (int64_t)b->slot_wait_ns);
			if (b->has_requests)
				put_int(bo, "requests", b->requests);
		}
	}
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
nomem:
	json_object_put(o);
	json_object_put(vips);
	return NULL;
}

/* Decoding: every field checked against a table of what it may be. */
struct dec {
	char *msg;
	size_t len;
};

static int bad(struct dec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct dec *x, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(x->msg, x->len, "cluster decision: ");

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < x->len)
		vsnprintf(x->msg + n, x->len - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Only the keys in keys[] (NULL-terminated), each at most once (json-c
 * keeps the last of duplicates: the text cannot have been ours). */
static int only_keys(struct dec *x, json_object *o, const char *const *keys,
		     const char *where)
{
	json_object_object_foreach(o, k, v) {
		size_t i;

		(void)v;
		for (i = 0; keys[i] && strcmp(keys[i], k); i++)
			;
		if (!keys[i])
			return bad(x, "%s: unknown field \"%.40s\"", where, k);
	}
	return 0;
}

static int get_uint(struct dec *x, json_object *o, const char *k, uint64_t max,
		    bool required, uint64_t *out, const char *where)
{
	json_object *f;
	int64_t v;

	*out = 0;
	if (!json_object_object_get_ex(o, k, &f)) {
		if (required)
			return bad(x, "%s: \"%s\" is missing", where, k);
		return 0;
	}
	if (!json_object_is_type(f, json_type_int))
		return bad(x, "%s: \"%s\" must be an integer", where, k);
	errno = 0;
	v = json_object_get_int64(f);
	if (v < 0 || (uint64_t)v > max || errno)
		return bad(x, "%s: \"%s\" must be 0..%" PRIu64, where, k, max);
	*out = (uint64_t)v;
	return 0;
}

static int get_text(struct dec *x, json_object *o, const char *k,
		    const char **out, const char *where)
{
	json_object *f;

	if (!json_object_object_get_ex(o, k, &f) ||
	    !json_object_is_type(f, json_type_string))
		return bad(x, "%s: \"%s\" must be a string", where, k);
	*out = json_object_get_string(f);
	return 0;
}

static int dec_backend(struct dec *x, json_object *o, __u8 family,
		       struct lb_cl_backend *b, const char *where)
{
	static const char *const keys[] = { "address", "weight", "state", "rate",
		"burst", "score", "slots", "slot_wait_ns", "requests", NULL };
	const char *s;
	uint64_t v;
	char m[128];
	int err;

	if (!json_object_is_type(o, json_type_object))
		return bad(x, "%s: must be an object", where);
	if ((err = only_keys(x, o, keys, where)) ||
	    (err = get_text(x, o, "address", &s, where)))
		return err;
	if (lb_parse_ip(s, b->addr, &b->family, m, sizeof(m)) || b->family != family)
		return bad(x, "%s: address \"%.60s\" is not an address of the VIP's family",
			   where, s);
	if ((err = get_text(x, o, "state", &s, where)))
		return err;
	if (lb_state_parse(s, &b->state))
		return bad(x, "%s: unknown state \"%.40s\"", where, s);
	if ((err = get_uint(x, o, "weight", LB_WEIGHT_MAX, true, &v, where)))
		return err;
	b->weight = (__u32)v;
	if ((err = get_uint(x, o, "rate", UINT32_MAX, true, &v, where)))
		return err;
	b->rate = (__u32)v;
	if ((err = get_uint(x, o, "burst", UINT32_MAX, true, &v, where)))
		return err;
	b->burst = (__u32)v;
	if ((err = get_uint(x, o, "score", INT64_MAX / 2, true, &v, where)))
		return err;
	b->score = v;
	if ((err = get_uint(x, o, "slots", LB_SLOTS_MAX, true, &v, where)))
		return err;
	b->slots = (__u32)v;
	if ((err = get_uint(x, o, "slot_wait_ns", LB_SLOT_WAIT_MAX_NS, true, &v,
			    where)))
		return err;
	b->slot_wait_ns = v;
	b->has_requests = json_object_object_get_ex(o, "requests", NULL);
	if ((err = get_uint(x, o, "requests", LB_ENGINE_LOAD_MAX, false, &v, where)))
		return err;
	b->requests = (__u32)v;
	return 0;
}

static int dec_vip(struct dec *x, json_object *o, struct lb_cl_vip *v, size_t i)
{
	static const char *const keys[] = { "vip", "ring_size", "backends", NULL };
	json_object *bs;
	const char *s;
	char where[96], m[128];
	uint64_t ring;
	int err;

	snprintf(where, sizeof(where), "vips[%zu]", i);
	if (!json_object_is_type(o, json_type_object))
		return bad(x, "%s: must be an object", where);
	if ((err = only_keys(x, o, keys, where)) ||
	    (err = get_text(x, o, "vip", &s, where)))
		return err;
	if (lb_parse_vip(s, &v->key, m, sizeof(m)))
		return bad(x, "%s: vip \"%.60s\": %s", where, s, m);
	if ((err = get_uint(x, o, "ring_size", UINT32_MAX, true, &ring, where)))
		return err;
	v->ring_size = (__u32)ring;
	if (!json_object_object_get_ex(o, "backends", &bs) ||
	    !json_object_is_type(bs, json_type_array))
		return bad(x, "%s: \"backends\" must be an array", where);
	v->n = json_object_array_length(bs);
	if (v->n > LB_VIP_LIST_MAX * 64)
		return bad(x, "%s: too many backends", where);
	v->be = calloc(v->n ? v->n : 1, sizeof(*v->be));
	if (!v->be)
		return bad(x, "out of memory");
	for (size_t j = 0; j < v->n; j++) {
		char w[128];

		snprintf(w, sizeof(w), "%s.backends[%zu]", where, j);
		err = dec_backend(x, json_object_array_get_idx(bs, j),
				  v->key.family, &v->be[j], w);
		if (err)
			return err;
		for (size_t k = 0; k < j; k++)
			if (!memcmp(v->be[k].addr, v->be[j].addr, 16))
				return bad(x, "%s: the same address twice", w);
	}
	return 0;
}

int lb_cl_decode(const char *text, size_t n, const char *cluster,
		 struct lb_cl_decision *out, char *msg, size_t len)
{
	static const char *const keys[] = { "format", "version", "cluster", "leader",
		"generation", "hash_seed", "vips", NULL };
	struct dec x = { .msg = msg, .len = len };
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *vips;
	const char *s;
	uint64_t v;
	int err;

	memset(out, 0, sizeof(*out));
	if (!tok)
		return bad(&x, "out of memory");
	if (n < INT32_MAX)
		o = json_tokener_parse_ex(tok, text, (int)n);
	/* one JSON object and nothing after it */
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != n) {
		json_tokener_free(tok);
		json_object_put(o);
		return bad(&x, "not one JSON object");
	}
	json_tokener_free(tok);
	err = -EINVAL;
	if (!json_object_is_type(o, json_type_object)) {
		bad(&x, "not a JSON object");
		goto fail;
	}
	if ((err = only_keys(&x, o, keys, "(top)")) ||
	    (err = get_text(&x, o, "format", &s, "(top)")))
		goto fail;
	if (strcmp(s, LB_CL_FORMAT)) {
		err = bad(&x, "format \"%.40s\", not \"%s\"", s, LB_CL_FORMAT);
		goto fail;
	}
	if ((err = get_uint(&x, o, "version", UINT32_MAX, true, &v, "(top)")))
		goto fail;
	if (v != LB_CL_VERSION) {
		err = bad(&x, "version %" PRIu64 ", this agent reads version %d",
			  v, LB_CL_VERSION);
		goto fail;
	}
	if ((err = get_text(&x, o, "cluster", &s, "(top)")))
		goto fail;
	if (strcmp(s, cluster) || strlen(s) >= sizeof(out->cluster)) {
		err = bad(&x, "of cluster \"%.40s\", not \"%s\"", s, cluster);
		goto fail;
	}
	strcpy(out->cluster, s);
	if ((err = get_text(&x, o, "leader", &s, "(top)")))
		goto fail;
	if (!s[0] || strlen(s) >= sizeof(out->leader)) {
		err = bad(&x, "bad leader name");
		goto fail;
	}
	strcpy(out->leader, s);
	if ((err = get_uint(&x, o, "generation", INT64_MAX, true, &out->generation,
			    "(top)")))
		goto fail;
	if (!out->generation) {
		err = bad(&x, "generation 0");
		goto fail;
	}
	if ((err = get_uint(&x, o, "hash_seed", UINT32_MAX, true, &v, "(top)")))
		goto fail;
	out->hash_seed = (__u32)v;
	if (!json_object_object_get_ex(o, "vips", &vips) ||
	    !json_object_is_type(vips, json_type_array)) {
		err = bad(&x, "\"vips\" must be an array");
		goto fail;
	}
	out->n_vips = json_object_array_length(vips);
	/* a decision without VIPs would wipe every host: never */
	if (!out->n_vips) {
		err = bad(&x, "no VIPs");
		goto fail;
	}
	out->vips = calloc(out->n_vips, sizeof(*out->vips));
	if (!out->vips) {
		out->n_vips = 0;
		err = bad(&x, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < out->n_vips; i++) {
		err = dec_vip(&x, json_object_array_get_idx(vips, i), &out->vips[i], i);
		if (err)
			goto fail;
		for (size_t k = 0; k < i; k++)
			if (!memcmp(&out->vips[k].key, &out->vips[i].key,
				    sizeof(out->vips[i].key))) {
				err = bad(&x, "vips[%zu]: the same VIP twice", i);
				goto fail;
			}
	}
	json_object_put(o);
	return 0;
fail:
	json_object_put(o);
	lb_cl_decision_free(out);
	return err;
}

/* ---- election's txn ------------------------------------------------------ */

struct campaign {
	char leader_key[160], decision_key[160];
	struct lb_etcd_cmp cmp;
	struct lb_etcd_op ok[2], fail[1];
};

static void campaign_build(struct campaign *t, const char *cluster,
			   const char *host, int64_t lease)
{
	lb_cl_key(t->leader_key, sizeof(t->leader_key), cluster, "leader");
	lb_cl_key(t->decision_key, sizeof(t->decision_key), cluster, "decision");
	/* only if nobody holds it: a key never created has create_revision 0 */
	t->cmp = (struct lb_etcd_cmp){ .key = t->leader_key, .target = LB_ETCD_CREATE,
				       .result = LB_ETCD_EQUAL, .num = 0 };
	t->ok[0] = (struct lb_etcd_op){ .type = LB_ETCD_OP_PUT, .key = t->leader_key,
					.value = host, .value_len = strlen(host),
					.lease = lease };
	/* the last generation, to go on from */
	t->ok[1] = (struct lb_etcd_op){ .type = LB_ETCD_OP_GET, .key = t->decision_key };
	t->fail[0] = (struct lb_etcd_op){ .type = LB_ETCD_OP_GET, .key = t->leader_key };
}

char *lb_cl_campaign_json(const char *cluster, const char *host, int64_t lease)
{
	struct campaign t;

	campaign_build(&t, cluster, host, lease);
	return lb_etcd_txn_json(&t.cmp, 1, t.ok, 2, t.fail, 1);
}

/* ---- runtime ------------------------------------------------------------- */

struct lb_cluster {
	struct lb_agent *a;
	struct lb_cluster_conf conf;
	char leader_key[160], decision_key[160], prefix[160];
	struct lb_etcd *session, *watch;
	pthread_t session_th, watch_th;
	bool running;
	volatile bool stop;

	pthread_mutex_t mu;	/* guards what follows; taken after a->mu */
	pthread_cond_t wake;	/* the session thread waits on it */
	enum lb_cluster_role role;
	int64_t lease;		/* 0: none */
	uint64_t lease_ok_ms;	/* last keepalive that succeeded */
	int64_t leader_rev;	/* create_revision of our leader key */
	uint64_t next_gen;	/* the leader's next generation */
	bool campaign_now;	/* the leader key went away */
	struct lb_cl_decision pending;	/* the leader's, to write */
	bool has_pending;
	uint64_t offered_ms;	/* when the last offer was taken */
	char *last_offer;	/* its JSON without generation: what changed */
	struct lb_cluster_stats st;
	uint32_t seed;		/* lb_settings.hash_seed here */
	char logged[256];	/* the last etcd error logged */
};


static uint32_t ttl_ms(const struct lb_cluster *c)
{
	return c->conf.lease_ttl_s * 1000;
}

/* Every etcd answer; every failure counted, logged when it changes. */
static void contact(struct lb_cluster *c, int err, const char *msg)
{
	pthread_mutex_lock(&c->mu);
	if (!err || err == -EREMOTEIO || err == -ENOENT) {
		c->st.contact_ms = lb_agent_now_ms();
		c->st.etcd_up = true;
		if (c->logged[0] && !err) {
			lb_agent_logf("cluster: etcd answers again");
			c->logged[0] = '\0';
		}
	}
	if (err && err != -ECANCELED) {
		c->st.etcd_errors++;
		if (strcmp(c->logged, msg)) {
			snprintf(c->logged, sizeof(c->logged), "%s", msg);
			lb_agent_logf("cluster: %s", msg);
		}
	}
	pthread_mutex_unlock(&c->mu);
}

/* Called with c->mu: etcd counts as reachable while it answered within
 * the lease TTL, so one lost request does not flap the status. */
static void age_contact(struct lb_cluster *c, uint64_t now)
{
	if (c->st.etcd_up && now > c->st.contact_ms + ttl_ms(c)) {
		c->st.etcd_up = false;
		lb_agent_logf("cluster: etcd unreachable for %u ms; every host keeps "
			      "its last decision", ttl_ms(c));
	}
}

static void set_role(struct lb_cluster *c, enum lb_cluster_role r, const char *why)
{
	if (c->role == r)
		return;
	c->role = r;
	c->st.role = r;
	lb_agent_logf("cluster %s: %s (%s)", c->conf.name,
		      r == LB_CLUSTER_LEADER ? "leader" : "follower", why);
}

int lb_cluster_new(struct lb_agent *a, const struct lb_cluster_conf *conf,
		   struct lb_cluster **out, char *msg, size_t len)
{
	const char *eps[LB_CLUSTER_ENDPOINTS_MAX];
	struct lb_cluster *c;
	uint32_t tmo;

	*out = NULL;
	if (!conf->n_etcd)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	c->a = a;
	c->conf = *conf;
	for (size_t i = 0; i < conf->n_etcd; i++)
		eps[i] = c->conf.etcd[i];
	/* each etcd call ends well within the TTL, so a dead etcd (or a
	 * stopped one, which accepts connections but says nothing) is
	 * noticed in time to give the leadership up */
	tmo = ttl_ms(c) / 3;
	c->session = lb_etcd_new(eps, conf->n_etcd, tmo, msg, len);
	c->watch = c->session ? lb_etcd_new(eps, conf->n_etcd, tmo, msg, len) : NULL;
	if (!c->watch) {
		lb_etcd_free(c->session);
		free(c);
		return -EINVAL;
	}
	lb_etcd_set_abort(c->session, &c->stop);
	lb_etcd_set_abort(c->watch, &c->stop);
	lb_cl_key(c->leader_key, sizeof(c->leader_key), conf->name, "leader");
	lb_cl_key(c->decision_key, sizeof(c->decision_key), conf->name, "decision");
	lb_cl_key(c->prefix, sizeof(c->prefix), conf->name, "");
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->wake, NULL);
	c->role = c->st.role = LB_CLUSTER_FOLLOWER;
	*out = c;
	return 0;
}

bool lb_cluster_leads(struct lb_cluster *c)
{
	bool r;

	if (!c)
		return false;
	pthread_mutex_lock(&c->mu);
	r = c->role == LB_CLUSTER_LEADER;
	pthread_mutex_unlock(&c->mu);
	return r;
}

bool cluster_ready(const struct lb_cluster *c)
{
	return !c || __atomic_load_n(&c->st.ready, __ATOMIC_ACQUIRE);
}

void lb_cluster_get_stats(struct lb_cluster *c, struct lb_cluster_stats *s)
{
	pthread_mutex_lock(&c->mu);
	age_contact(c, lb_agent_now_ms());
	*s = c->st;
	pthread_mutex_unlock(&c->mu);
}

void lb_cluster_fill_status(struct lb_cluster *c, struct lb_agent_status *st)
{
	struct lb_cluster_stats s;
	uint64_t now = lb_agent_now_ms();

	if (!c)
		return;
	lb_cluster_get_stats(c, &s);
	st->cluster_role = s.role;
	st->cluster_etcd_up = s.etcd_up;
	st->cluster_generation = s.generation;
	st->cluster_leader = s.leader_hash;
	/* on the boot clock, as the heartbeat */
	st->cluster_contact_ns = s.contact_ms ?
		lb_boottime_ns() - (now - s.contact_ms) * 1000000ull : 0;
	st->cluster_changed_ns = s.changed_ms ?
		lb_boottime_ns() - (now - s.changed_ms) * 1000000ull : 0;
}

/* ---- the leader's offer ------------------------------------------------- */

static __u32 requests_of(const struct lb_agent_backend *b)
{
	double n = lb_policy_requests(&b->sig);

	if (!(n > 0))
		return 0;
	return n >= LB_ENGINE_LOAD_MAX ? LB_ENGINE_LOAD_MAX : (__u32)(n + 0.5);
}

/* The agent's decision (a->mu held): each VIP's ctl[] from its last
 * decide and, with loads, each backend's load as publish_load would write
 * it. Without loads (and as generation 1), its shape: what tells a change
 * from a refresh. */
static int build_offer(struct lb_cluster *c, struct lb_cl_decision *d,
		       uint64_t now, bool loads)
{
	struct lb_agent *a = c->a;

	memset(d, 0, sizeof(*d));
	snprintf(d->cluster, sizeof(d->cluster), "%s", c->conf.name);
	snprintf(d->leader, sizeof(d->leader), "%s", c->conf.host);
	d->hash_seed = c->seed;
	d->vips = calloc(a->n_vips ? a->n_vips : 1, sizeof(*d->vips));
	if (!d->vips)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_vips; i++) {
		const struct lb_agent_vip *v = &a->vips[i];
		struct lb_cl_vip *dv = &d->vips[d->n_vips++];

		dv->key = v->conf->key;
		dv->ring_size = v->conf->opts.ring_size;
		dv->be = calloc(v->n_be ? v->n_be : 1, sizeof(*dv->be));
		if (!dv->be)
			return -ENOMEM;
		for (size_t j = 0; j < v->n_be; j++) {
			const struct lb_agent_backend *b = v->be[j];
			const struct lb_publish_entry *e = &v->ctl[j];
			struct lb_cl_backend *o = &dv->be[dv->n++];

			memcpy(o->addr, b->conf->addr, 16);
			o->family = b->conf->family;
			o->weight = e->weight;
			o->state = e->state;
			o->rate = e->rate;
			o->burst = e->burst;
			o->slots = b->slots;
			if (!loads)
				continue;
			o->score = lb_policy_p2c_score(&b->sig, b->conf->capacity);
			o->slot_wait_ns = b->slot_wait_ns;
			/* the worker's own count, while its scrape is fresh */
			o->has_requests = b->beyond_at_ms &&
				now < b->beyond_at_ms + LB_ENGINE_LOAD_TTL_NS / 1000000;
			o->requests = o->has_requests ? requests_of(b) : 0;
		}
	}
	if (!loads)
		d->generation = 1;
	return 0;
}

void lb_cluster_offer(struct lb_cluster *c, uint64_t now)
{
	struct lb_cl_decision d;
	char *shape = NULL;
	bool due;

	/* only the leader offers: followers build nothing */
	if (!c || !lb_cluster_leads(c))
		return;
	if (!build_offer(c, &d, now, false))
		shape = lb_cl_encode(&d);
	lb_cl_decision_free(&d);
	if (!shape)
		return;
	pthread_mutex_lock(&c->mu);
	due = !c->last_offer || strcmp(c->last_offer, shape) ||
	      now >= c->offered_ms + LB_CL_LOAD_REFRESH_MS;
	pthread_mutex_unlock(&c->mu);
	if (!due || build_offer(c, &d, now, true)) {
		if (due)
			lb_cl_decision_free(&d);
		free(shape);
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (c->role == LB_CLUSTER_LEADER) {
		lb_cl_decision_free(&c->pending);
		c->pending = d;
		c->has_pending = true;
		c->offered_ms = now;
		free(c->last_offer);
		c->last_offer = shape;
		shape = NULL;
		pthread_cond_signal(&c->wake);
	} else {
		lb_cl_decision_free(&d);
	}
	pthread_mutex_unlock(&c->mu);
	free(shape);
}

/* ---- applying a decision (watch thread) -------------------------------- */

static struct lb_agent_vip *vip_of(struct lb_agent *a, const struct lb_vip_key *k)
{
	for (size_t i = 0; i < a->n_vips; i++)
		if (!memcmp(&a->vips[i].conf->key, k, sizeof(*k)))
			return &a->vips[i];
	return NULL;
}

/* The index in v->be of the backend at addr, v->n_be if none. */
static size_t backend_at(const struct lb_agent_vip *v, const __u8 addr[16])
{
	size_t i;

	for (i = 0; i < v->n_be; i++)
		if (!memcmp(v->be[i]->conf->addr, addr, 16))
			break;
	return i;
}

/* Whether this host can apply d exactly: the same VIPs with the same
 * ring sizes and backends (by address), and the same hash seed —
 * otherwise its tables would differ from the other hosts'. */
static int check_fit(struct lb_cluster *c, const struct lb_cl_decision *d,
		     char *msg, size_t len)
{
	struct lb_agent *a = c->a;
	char t[80];

	if (d->hash_seed != c->seed)
		return lb_msgf(msg, len, -EINVAL, "hash seed %u differs from this "
			       "host's %u (lbctl attach --seed)", d->hash_seed, c->seed);
	for (size_t i = 0; i < d->n_vips; i++) {
		const struct lb_cl_vip *dv = &d->vips[i];
		struct lb_agent_vip *v = vip_of(a, &dv->key);

		lb_fmt_vip(&dv->key, t, sizeof(t));
		if (!v)
			return lb_msgf(msg, len, -EINVAL, "VIP %s is not in this host's config", t);
		if (v->conf->opts.ring_size != dv->ring_size)
			return lb_msgf(msg, len, -EINVAL, "VIP %s: ring size %u here, %u in the decision",
				       t, v->conf->opts.ring_size, dv->ring_size);
		if (dv->n != v->n_be)
			return lb_msgf(msg, len, -EINVAL, "VIP %s: %zu backends here, %zu in the decision",
				       t, v->n_be, dv->n);
		for (size_t j = 0; j < dv->n; j++)
			if (backend_at(v, dv->be[j].addr) == v->n_be)
				return lb_msgf(msg, len, -EINVAL, "VIP %s: backend %s is not in "
					       "this host's config", t,
					       lb_fmt_ip(dv->be[j].addr, dv->be[j].family,
							 (char[64]){ 0 }, 64));
	}
	return 0;
}

/* d into this host's maps (a->mu held), with the library's publish. */
/*
 * Whether decision entry e differs from what this host's maps hold for
 * its backend (an operator's override, kept by every publish, aside).
 * Compared with the live entry, not with the agent's own fields: the
 * leader's policy has already moved those when its decision comes back
 * through etcd, and a follower's do not see an operator release an
 * override. Decisions arrive every LB_CL_LOAD_REFRESH_MS, so a host's
 * maps never trail the cluster's decision by longer.
 */
static bool differs_live(struct lb_agent *a, const struct lb_publish_entry *e)
{
	struct lb_backend live;

	if (bpf_map_lookup_elem(a->dp.fd[LB_M_BACKENDS], &e->id, &live))
		return true;
	return (!(live.flags & LB_BACKEND_F_OVR_WEIGHT) && live.weight != e->weight) ||
	       (!(live.flags & LB_BACKEND_F_OVR_STATE) && live.state != e->state) ||
	       live.rate != e->rate;
}

/* Returns whether any VIP was published (the maps changed). */
static bool apply(struct lb_cluster *c, const struct lb_cl_decision *d)
{
	struct lb_agent *a = c->a;
	struct lb_be_load *ld = lb_dp_load_map(&a->dp, NULL, 0);
	uint64_t now = lb_agent_now_ms();
	bool wrote = false;

	for (size_t i = 0; i < d->n_vips; i++) {
		const struct lb_cl_vip *dv = &d->vips[i];
		struct lb_agent_vip *v = vip_of(a, &dv->key);
		size_t at[dv->n ? dv->n : 1];	/* check_fit: a permutation */
		bool write = false;

		/* ctl[] in this host's backend order, as the publish and its
		 * bookkeeping (v->be[k]) take it, whatever the leader's */
		for (size_t j = 0; j < dv->n; j++) {
			const struct lb_cl_backend *db = &dv->be[j];
			size_t k = at[j] = backend_at(v, db->addr);

			v->ctl[k] = (struct lb_publish_entry){
				.id = v->be[k]->id, .weight = db->weight,
				.state = db->state, .rate = db->rate,
				.burst = db->burst,
			};
			write |= differs_live(a, &v->ctl[k]);
		}
		if (write)
			lb_agent_publish_vip(a, v, v->ctl);
		wrote |= write;
		if (!ld)
			continue;
		for (size_t j = 0; j < dv->n; j++) {
			const struct lb_cl_backend *db = &dv->be[j];
			struct lb_agent_backend *b = v->be[at[j]];
			struct lb_be_load *l = &ld[b->id];
			struct lb_be_load snap = {
				.open = __atomic_load_n(&l->open, __ATOMIC_RELAXED) };
			__u64 open = lb_load_open(&snap);

			b->slots = db->slots;
			b->slot_wait_ns = db->slot_wait_ns;
			__atomic_store_n(&l->score, db->score, __ATOMIC_RELAXED);
			__atomic_store_n(&l->sent, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&l->slots, db->slots, __ATOMIC_RELAXED);
			__atomic_store_n(&l->slot_wait_ns, db->slot_wait_ns, __ATOMIC_RELAXED);
			if (!db->has_requests)
				continue;
			/* the worker's own count less this host's open flows
			 * to it: the rest came through other hosts (or around
			 * the balancer); stamped now, so it lapses
			 * LB_ENGINE_LOAD_TTL_NS after the last decision */
			b->beyond = db->requests > open ? (__u32)(db->requests - open) : 0;
			b->beyond_at_ms = now;
			__atomic_store_n(&l->engine_load, b->beyond, __ATOMIC_RELAXED);
			__atomic_store_n(&l->engine_load_ns, now * 1000000ull,
					 __ATOMIC_RELAXED);
		}
	}
	return wrote;
}

/* A decision's text from etcd: decoded, checked, applied or refused. */
static void take_decision(struct lb_cluster *c, const char *text, size_t n,
			  bool resync)
{
	struct lb_agent *a = c->a;
	struct lb_cl_decision d;
	uint64_t applied;
	bool wrote;
	char msg[256];
	int err;

	err = lb_cl_decode(text, n, c->conf.name, &d, msg, sizeof(msg));
	pthread_mutex_lock(&a->mu);
	pthread_mutex_lock(&c->mu);
	applied = c->st.generation;
	pthread_mutex_unlock(&c->mu);
	if (!err) {
		switch (lb_cl_gen_check(applied, d.generation)) {
		case LB_CL_GEN_SAME:
			goto done;	/* a re-read after a reconnect */
		case LB_CL_GEN_OLD:
			err = lb_msgf(msg, sizeof(msg), -EINVAL, "cluster decision: "
				      "generation %" PRIu64 " after %" PRIu64
				      " (generations only move forward)",
				      d.generation, applied);
			break;
		case LB_CL_GEN_NEW:
			err = check_fit(c, &d, msg, sizeof(msg));
			break;
		}
	}
	if (err) {
		pthread_mutex_lock(&c->mu);
		c->st.refused++;
		pthread_mutex_unlock(&c->mu);
		lb_agent_logf("cluster: decision refused, nothing applied: %s", msg);
		goto done;
	}
	wrote = apply(c, &d);
	pthread_mutex_lock(&c->mu);
	c->st.generation = d.generation;
	c->st.applied_ms = lb_agent_now_ms();
	if (wrote)
		c->st.changed_ms = c->st.applied_ms;
	c->st.leader_hash = lb_cluster_name_hash(d.leader);
	if (!c->st.ready)
		lb_agent_logf("cluster %s: applied generation %" PRIu64 " of %s%s",
			      c->conf.name, d.generation, d.leader,
			      resync ? " (full re-read)" : "");
	__atomic_store_n(&c->st.ready, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->mu);
	a->status.cluster_generation = d.generation;
done:
	pthread_mutex_unlock(&a->mu);
	lb_cl_decision_free(&d);
}

static void take_leader(struct lb_cluster *c, const struct lb_etcd_kv *kv, bool del)
{
	char host[LB_CLUSTER_NAME_MAX];

	snprintf(host, sizeof(host), "%.*s", (int)kv->value_len, kv->value);
	pthread_mutex_lock(&c->mu);
	if (del) {
		/* campaign at once rather than at the next keepalive */
		c->campaign_now = true;
		pthread_cond_signal(&c->wake);
	} else {
		c->st.leader_hash = lb_cluster_name_hash(host);
	}
	pthread_mutex_unlock(&c->mu);
}

static int on_event(void *ctx, const struct lb_etcd_event *ev)
{
	struct lb_cluster *c = ctx;

	if (!strcmp(ev->kv->key, c->decision_key) && ev->type == LB_ETCD_EV_PUT)
		take_decision(c, ev->kv->value, ev->kv->value_len, ev->resync);
	else if (!strcmp(ev->kv->key, c->leader_key))
		take_leader(c, ev->kv, ev->type == LB_ETCD_EV_DELETE);
	return 0;
}

static void nap(struct lb_cluster *c, uint32_t ms)
{
	for (uint32_t t = 0; t < ms && !c->stop; t += 50) {
		struct timespec ts = { 0, 50 * 1000000L };

		nanosleep(&ts, NULL);
	}
}

static void *watch_main(void *arg)
{
	struct lb_cluster *c = arg;
	int64_t next = 0;
	char msg[256];

	while (!c->stop) {
		int err = 0;

		if (!next) {
			/* from the start: the whole prefix, then events */
			struct lb_etcd_kvs r;

			err = lb_etcd_get(c->watch, c->prefix, true, &r, msg, sizeof(msg));
			contact(c, err, msg);
			if (!err) {
				for (size_t i = 0; i < r.n; i++)
					on_event(c, &(struct lb_etcd_event){
						.type = LB_ETCD_EV_PUT, .kv = &r.kv[i] });
				next = r.rev + 1;
				lb_etcd_kvs_free(&r);
			}
		} else {
			err = lb_etcd_watch(c->watch, c->prefix, &next, ttl_ms(c) / 3,
					    on_event, c, msg, sizeof(msg));
			contact(c, err, msg);
		}
		if (err)
			nap(c, 200);
	}
	return NULL;
}

/* ---- session: lease, election, writes ----------------------------------- */

static void lose(struct lb_cluster *c, const char *why)
{
	pthread_mutex_lock(&c->mu);
	set_role(c, LB_CLUSTER_FOLLOWER, why);
	c->leader_rev = 0;
	pthread_mutex_unlock(&c->mu);
}

static void campaign(struct lb_cluster *c)
{
	struct lb_etcd_txn_result r;
	struct campaign t;
	char msg[256];
	int err;

	campaign_build(&t, c->conf.name, c->conf.host, c->lease);
	err = lb_etcd_txn(c->session, &t.cmp, 1, t.ok, 2, t.fail, 1, &r, msg,
			  sizeof(msg));
	contact(c, err, msg);
	if (err)
		return;
	pthread_mutex_lock(&c->mu);
	if (r.succeeded) {
		struct lb_cl_decision d;
		uint64_t last = c->st.generation;

		/* go on from the last generation written, whoever wrote it */
		if (r.get[1].n && !lb_cl_decode(r.get[1].kv[0].value,
						r.get[1].kv[0].value_len,
						c->conf.name, &d, msg, sizeof(msg))) {
			if (d.generation > last)
				last = d.generation;
			lb_cl_decision_free(&d);
		}
		c->next_gen = last + 1;
		c->leader_rev = r.rev;
		c->st.leader_hash = lb_cluster_name_hash(c->conf.host);
		free(c->last_offer);
		c->last_offer = NULL;
		set_role(c, LB_CLUSTER_LEADER, "won the election");
	} else if (r.get[0].n) {
		char host[LB_CLUSTER_NAME_MAX];

		snprintf(host, sizeof(host), "%.*s", (int)r.get[0].kv[0].value_len,
			 r.get[0].kv[0].value);
		c->st.leader_hash = lb_cluster_name_hash(host);
	}
	pthread_mutex_unlock(&c->mu);
	lb_etcd_txn_result_free(&r);
}

/* The pending decision, fenced: written only while our leader key is the
 * one we created. */
static void write_pending(struct lb_cluster *c)
{
	struct lb_etcd_txn_result r;
	struct lb_etcd_cmp cmp;
	struct lb_etcd_op op;
	char msg[256], *text;
	int err;

	pthread_mutex_lock(&c->mu);
	if (!c->has_pending || c->role != LB_CLUSTER_LEADER) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	c->pending.generation = c->next_gen;
	text = lb_cl_encode(&c->pending);
	cmp = (struct lb_etcd_cmp){ .key = c->leader_key, .target = LB_ETCD_CREATE,
				    .result = LB_ETCD_EQUAL, .num = c->leader_rev };
	c->has_pending = false;
	pthread_mutex_unlock(&c->mu);
	if (!text)
		return;
	op = (struct lb_etcd_op){ .type = LB_ETCD_OP_PUT, .key = c->decision_key,
				  .value = text, .value_len = strlen(text) };
	err = lb_etcd_txn(c->session, &cmp, 1, &op, 1, NULL, 0, &r, msg, sizeof(msg));
	free(text);
	contact(c, err, msg);
	if (err) {
		/* written again at the next offer (a refresh at the latest) */
		pthread_mutex_lock(&c->mu);
		free(c->last_offer);
		c->last_offer = NULL;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (!r.succeeded) {
		lose(c, "the leader key is no longer ours: write fenced off");
	} else {
		pthread_mutex_lock(&c->mu);
		c->next_gen++;
		c->st.writes++;
		pthread_mutex_unlock(&c->mu);
	}
	lb_etcd_txn_result_free(&r);
}

/* Lease kept alive at TTL/3; lost (expired, or not renewed for a TTL,
 * which etcd will expire) means follower at once. */
static void keep_lease(struct lb_cluster *c)
{
	uint64_t now = lb_agent_now_ms();
	char msg[256];
	int err;

	if (!c->lease) {
		int64_t id;

		err = lb_etcd_lease_grant(c->session, c->conf.lease_ttl_s, &id, msg,
					  sizeof(msg));
		contact(c, err, msg);
		if (!err) {
			c->lease = id;
			c->lease_ok_ms = lb_agent_now_ms();
		}
		return;
	}
	err = lb_etcd_lease_keepalive(c->session, c->lease, NULL, msg, sizeof(msg));
	contact(c, err, msg);
	if (!err) {
		c->lease_ok_ms = lb_agent_now_ms();
		return;
	}
	if (err == -ENOENT || now >= c->lease_ok_ms + ttl_ms(c)) {
		c->lease = 0;
		lose(c, err == -ENOENT ? "lease expired" :
		     "lease not renewed for a TTL");
	}
}

static void *session_main(void *arg)
{
	struct lb_cluster *c = arg;
	uint64_t next_keep = 0;

	while (!c->stop) {
		uint64_t now = lb_agent_now_ms();
		bool leads, again;

		if (now >= next_keep) {
			keep_lease(c);
			next_keep = lb_agent_now_ms() + ttl_ms(c) / 3;
		}
		pthread_mutex_lock(&c->mu);
		leads = c->role == LB_CLUSTER_LEADER;
		again = c->campaign_now;
		c->campaign_now = false;
		pthread_mutex_unlock(&c->mu);
		if (c->lease && !leads && (again || lb_agent_now_ms() + ttl_ms(c) / 3 >= next_keep))
			campaign(c);
		write_pending(c);
		pthread_mutex_lock(&c->mu);
		if (!c->stop && !c->has_pending && !c->campaign_now) {
			struct timespec ts;
			uint64_t wait = next_keep > lb_agent_now_ms() ? next_keep - lb_agent_now_ms() : 0;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&c->wake, &c->mu, &ts);
		}
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

int lb_cluster_run(struct lb_cluster *c, char *msg, size_t len)
{
	struct lb_settings s = { 0 };
	__u32 zero = 0;

	if (!c || c->running)
		return 0;
	if (bpf_map_lookup_elem(c->a->dp.fd[LB_M_SETTINGS], &zero, &s))
		return lb_msgf(msg, len, -errno, "reading lb_settings: %s", strerror(errno));
	c->seed = s.hash_seed;
	if (pthread_create(&c->session_th, NULL, session_main, c))
		return lb_msgf(msg, len, -EAGAIN, "cannot start the cluster thread");
	if (pthread_create(&c->watch_th, NULL, watch_main, c)) {
		c->stop = true;
		pthread_mutex_lock(&c->mu);
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->session_th, NULL);
		c->stop = false;
		return lb_msgf(msg, len, -EAGAIN, "cannot start the cluster thread");
	}
	c->running = true;
	lb_agent_logf("cluster %s: host %s, etcd %s (+%zu more), lease %u s",
		      c->conf.name, c->conf.host, c->conf.etcd[0], c->conf.n_etcd - 1,
		      c->conf.lease_ttl_s);
	return 0;
}

void lb_cluster_stop(struct lb_cluster *c)
{
	char msg[256];

	if (!c)
		return;
	if (c->running) {
		c->stop = true;
		pthread_mutex_lock(&c->mu);
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->session_th, NULL);
		pthread_join(c->watch_th, NULL);
		c->stop = false;
		/* the leader key goes with the lease: another host takes over
		 * now rather than a TTL later */
		if (c->lease && lb_etcd_lease_revoke(c->session, c->lease, msg, sizeof(msg)))
			lb_agent_logf("cluster: revoking the lease: %s", msg);
	}
	lb_etcd_free(c->session);
	lb_etcd_free(c->watch);
	lb_cl_decision_free(&c->pending);
	free(c->last_offer);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
