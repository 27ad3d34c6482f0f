// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * discover.c - discovery sources asked by threads, their answers judged
 * under the agent's lock, and the topology the agent runs (discover.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "discover.h"
#include "lb_addr.h"
#include "lb_msg.h"

/* A drained worker is deleted once idle, but not before it has drained
 * this long: the weight-0 table must be published first (one poll round)
 * so that no new flow lands on it in between. */
#define REAP_GRACE_MS 2000
#define ETCD_TIMEOUT_MS 2000
#define ETCD_WATCH_WINDOW_MS 1000
#define RETRY_MS 1000		/* after a failed etcd call */
#define IDLE_SLICE_MS 50	/* how often a sleeping thread looks at stop */

/* One source of one VIP at run time (guarded by a->mu, but for conf,
 * which the threads read: it changes only while they are halted). */
struct rsrc {
	struct lb_discovery *d;
	struct lb_vip_key vip;
	struct lb_disc_source_conf conf;	/* tpl.names alias the file's */
	struct lb_disc_limits lim;
	char label[LB_DISC_NAME_MAX + 8];
	struct lb_disc_source st;
	/* etcd: the last registry value of each worker (by address) */
	struct lb_registry_entry known[LB_DISC_MAX_WORKERS];
	size_t n_known;
	uint64_t due_ms;		/* dns: next lookup */
	uint64_t reaped;
	char err[192];			/* the last failure, logged once */
	pthread_t th;
	bool th_started;
};

struct lb_discovery {
	struct lb_agent *a;
	struct rsrc *s, *old;		/* old: until commit or rollback */
	size_t n, n_old;
	volatile bool stop;
	bool running;
	pthread_t dns_th;
	bool dns_started;
	bool changed;			/* an applied answer since the last step */
};

static uint64_t now_ms(void)
{
	return lb_agent_now_ms();
}

/* Sleeps ms in slices, returns early once stop is set. */
static void nap(struct lb_discovery *d, uint64_t ms)
{
	struct timespec ts = { 0, IDLE_SLICE_MS * 1000000L };

	for (uint64_t t = 0; t < ms && !d->stop; t += IDLE_SLICE_MS)
		nanosleep(&ts, NULL);
}

static bool same_addr(const __u8 *a, __u8 fa, const __u8 *b, __u8 fb)
{
	return fa == fb && !memcmp(a, b, 16);
}

/* ---- judging an answer (a->mu held) ----------------------------------- */

/* The VIP's backends now: the file's and every source's ACTIVE workers. */
static size_t vip_backends(const struct lb_discovery *d, const struct rsrc *s)
{
	const struct lb_agent *a = d->a;
	size_t n = 0;

	for (size_t i = 0; i < a->conf.topo.n_vips; i++)
		if (!memcmp(&a->conf.topo.vips[i].key, &s->vip, sizeof(s->vip)))
			n += a->conf.topo.vips[i].n_backends;
	for (size_t i = 0; i < d->n; i++)
		if (!memcmp(&d->s[i].vip, &s->vip, sizeof(s->vip)))
			n += lb_disc_count(&d->s[i].st, LB_DISC_ACTIVE);
	return n;
}

static void log_fail(struct rsrc *s, const char *err)
{
	char vk[80];

	if (!strcmp(s->err, err))
		return;		/* said already */
	snprintf(s->err, sizeof(s->err), "%s", err);
	lb_agent_logf("discovery %s (VIP %s): no answer, nothing changes: %s",
		      s->label, lb_fmt_vip(&s->vip, vk, sizeof(vk)), err);
}

/* One answer of s: ok false = a failed lookup (err says why). */
static void judge(struct rsrc *s, bool ok, const struct lb_disc_worker *ans,
		  size_t n, const char *err, uint64_t now)
{
	struct lb_disc_worker fam[LB_DISC_MAX_WORKERS];
	struct lb_disc_result r;
	size_t k = 0;
	char vk[80];

	for (size_t i = 0; ok && i < n && k < LB_DISC_MAX_WORKERS; i++)
		if (ans[i].family == s->vip.family)
			fam[k++] = ans[i];
	r = lb_disc_update(&s->st, ok, fam, k, vip_backends(s->d, s), &s->lim,
			   now);
	lb_fmt_vip(&s->vip, vk, sizeof(vk));
	switch (r.verdict) {
	case LB_DISC_FAILED:
		log_fail(s, err ? err : "failed");
		return;
	case LB_DISC_TOO_MANY:
		log_fail(s, "more workers than a source may give a VIP");
		return;
	case LB_DISC_HELD: {
		char why[192];

		/* said once while it lasts; counted every time */
		snprintf(why, sizeof(why), "held %zu", r.removing);
		if (strcmp(s->err, why)) {
			lb_agent_logf("discovery %s (VIP %s): answer held back: it "
				      "would drain %zu of the VIP's %zu backends "
				      "(more than max_remove_fraction %.2f, or all)",
				      s->label, vk, r.removing, vip_backends(s->d, s),
				      s->lim.max_remove_fraction);
			snprintf(s->err, sizeof(s->err), "%s", why);
		}
		return;
	}
	case LB_DISC_APPLIED:
		lb_agent_logf("discovery %s (VIP %s): %zu added, %zu draining, "
			      "%zu back, %zu moved", s->label, vk, r.added,
			      r.drained, r.back, r.moved);
		s->d->changed = true;
		break;
	case LB_DISC_UNCHANGED:
		break;
	}
	s->err[0] = 0;
}

/* ---- DNS sources ---------------------------------------------------- */

static uint64_t ttl_ms(const struct lb_disc_source_conf *c, const struct lb_dns_answer *a)
{
	uint32_t t = a->ok && !a->empty ? a->ttl_s : c->min_ttl_s;

	if (t < c->min_ttl_s)
		t = c->min_ttl_s;
	if (t > c->max_ttl_s)
		t = c->max_ttl_s;
	return (uint64_t)t * 1000;
}

static void *dns_main(void *arg)
{
	struct lb_discovery *d = arg;
	struct lb_agent *a = d->a;
	struct lb_dns_answer *ans = malloc(sizeof(*ans));

	if (!ans) {
		lb_agent_logf("discovery: out of memory, DNS sources are not asked");
		return NULL;
	}
	while (!d->stop) {
		struct rsrc *s = NULL;
		uint64_t now = now_ms(), next = now + 500;

		/* the threads read conf unlocked (it changes only while they
		 * are halted); due_ms is the lock's */
		pthread_mutex_lock(&a->mu);
		for (size_t i = 0; i < d->n; i++) {
			struct rsrc *c = &d->s[i];

			if (c->conf.kind != LB_DISC_DNS)
				continue;
			if (c->due_ms <= now && (!s || c->due_ms < s->due_ms))
				s = c;
			else if (c->due_ms < next)
				next = c->due_ms;
		}
		pthread_mutex_unlock(&a->mu);
		if (!s) {
			nap(d, next - now < IDLE_SLICE_MS ? IDLE_SLICE_MS : next - now);
			continue;
		}
		lb_dns_resolve(s->conf.name, s->conf.type, s->conf.port,
			       s->conf.servers[0] ? s->conf.servers : NULL,
			       s->conf.timeout_ms, ans);
		if (d->stop)
			break;
		now = now_ms();
		pthread_mutex_lock(&a->mu);
		judge(s, ans->ok, ans->w, ans->n, ans->err, now);
		s->due_ms = now + ttl_ms(&s->conf, ans);
		pthread_mutex_unlock(&a->mu);
	}
	free(ans);
	return NULL;
}

/* ---- etcd sources ---------------------------------------------------- */

/* Keeps s->known to the workers s has, with their latest values. */
static void remember(struct rsrc *s, const struct lb_registry_entry *e, size_t n)
{
	struct lb_registry_entry keep[LB_DISC_MAX_WORKERS];
	size_t k = 0;

	for (size_t i = 0; i < s->st.n && k < LB_DISC_MAX_WORKERS; i++) {
		const struct lb_disc_worker *w = &s->st.m[i].w;
		const struct lb_registry_entry *v = NULL;

		for (size_t j = 0; j < n && !v; j++)
			if (same_addr(e[j].addr, e[j].family, w->addr, w->family))
				v = &e[j];
		for (size_t j = 0; j < s->n_known && !v; j++)
			if (same_addr(s->known[j].addr, s->known[j].family,
				      w->addr, w->family))
				v = &s->known[j];
		if (!v)
			continue;
		if (!s->d->changed)	/* a value that moved: rebuild */
			for (size_t j = 0; j < s->n_known; j++)
				if (same_addr(s->known[j].addr, s->known[j].family,
					      w->addr, w->family) &&
				    memcmp(&s->known[j], v, sizeof(*v)))
					s->d->changed = true;
		keep[k++] = *v;
	}
	memcpy(s->known, keep, k * sizeof(*keep));
	s->n_known = k;
}

static int count_event(void *ctx, const struct lb_etcd_event *ev)
{
	(void)ev;
	(*(int *)ctx)++;
	return 1;	/* read the prefix again */
}

/* The prefix read whole: the answer. Values that are not valid are left
 * out and said (their key and why); the others count. */
static int read_prefix(struct rsrc *s, struct lb_etcd *c, int64_t *rev)
{
	struct lb_registry_entry *e = calloc(LB_DISC_MAX_WORKERS + 1, sizeof(*e));
	struct lb_disc_worker w[LB_DISC_MAX_WORKERS + 1];
	struct lb_agent *a = s->d->a;
	struct lb_etcd_kvs kvs = { 0 };
	char msg[256];
	size_t n = 0, bad = 0;
	int rc;

	if (!e)
		return -ENOMEM;
	rc = lb_etcd_get(c, s->conf.name, true, &kvs, msg, sizeof(msg));
	if (rc) {
		pthread_mutex_lock(&a->mu);
		judge(s, false, NULL, 0, msg, now_ms());
		pthread_mutex_unlock(&a->mu);
		free(e);
		return rc;
	}
	for (size_t i = 0; i < kvs.n && n <= LB_DISC_MAX_WORKERS; i++) {
		if (lb_registry_decode(kvs.kv[i].value, kvs.kv[i].value_len,
				       &e[n], msg, sizeof(msg))) {
			if (!bad++)
				lb_agent_logf("discovery %s: key %s left out: %s",
					      s->label, kvs.kv[i].key, msg);
			continue;
		}
		w[n] = (struct lb_disc_worker){ .family = e[n].family,
						.port = e[n].port };
		memcpy(w[n].addr, e[n].addr, 16);
		n++;
	}
	*rev = kvs.rev + 1;
	lb_etcd_kvs_free(&kvs);
	pthread_mutex_lock(&a->mu);
	if (bad)
		s->st.errors++;
	judge(s, true, w, n, NULL, now_ms());
	remember(s, e, n);
	pthread_mutex_unlock(&a->mu);
	free(e);
	return 0;
}

static void *etcd_main(void *arg)
{
	struct rsrc *s = arg;
	struct lb_discovery *d = s->d;
	const char *ep[LB_ETCD_ENDPOINTS_MAX];
	struct lb_etcd *c;
	int64_t rev = 0;
	bool reread = true;
	char msg[256];

	for (size_t i = 0; i < s->conf.n_endpoints; i++)
		ep[i] = s->conf.endpoints[i];
	c = lb_etcd_new(ep, s->conf.n_endpoints, ETCD_TIMEOUT_MS, msg, sizeof(msg));
	if (!c) {
		lb_agent_logf("discovery %s: %s", s->label, msg);
		return NULL;
	}
	lb_etcd_set_abort(c, &d->stop);
	while (!d->stop) {
		int events = 0, rc;

		if (reread) {
			if (read_prefix(s, c, &rev)) {
				nap(d, RETRY_MS);
				continue;
			}
			reread = false;
		}
		rc = lb_etcd_watch(c, s->conf.name, &rev, ETCD_WATCH_WINDOW_MS,
				   count_event, &events, msg, sizeof(msg));
		if (rc == -ECANCELED || d->stop)
			break;
		if (rc < 0) {
			pthread_mutex_lock(&d->a->mu);
			judge(s, false, NULL, 0, msg, now_ms());
			pthread_mutex_unlock(&d->a->mu);
			nap(d, RETRY_MS);
		}
		reread = rc != 0 || events > 0;
	}
	lb_etcd_free(c);
	return NULL;
}

/* ---- life of the runtime --------------------------------------------- */

int lb_discovery_new(struct lb_agent *a, struct lb_discovery **out)
{
	struct lb_discovery *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->a = a;
	*out = d;
	return 0;
}

void lb_discovery_run(struct lb_discovery *d)
{
	bool dns = false;

	if (!d || d->running)
		return;
	d->stop = false;
	d->running = true;
	for (size_t i = 0; i < d->n; i++) {
		struct rsrc *s = &d->s[i];

		dns |= s->conf.kind == LB_DISC_DNS;
		if (s->conf.kind == LB_DISC_ETCD)
			s->th_started = !pthread_create(&s->th, NULL, etcd_main, s);
		if (s->conf.kind == LB_DISC_ETCD && !s->th_started)
			lb_agent_logf("discovery %s: cannot start its thread", s->label);
	}
	if (dns && !(d->dns_started = !pthread_create(&d->dns_th, NULL, dns_main, d)))
		lb_agent_logf("discovery: cannot start the DNS thread");
}

void lb_discovery_halt(struct lb_discovery *d)
{
	if (!d || !d->running)
		return;
	d->stop = true;
	if (d->dns_started)
		pthread_join(d->dns_th, NULL);
	d->dns_started = false;
	for (size_t i = 0; i < d->n; i++)
		if (d->s[i].th_started) {
			pthread_join(d->s[i].th, NULL);
			d->s[i].th_started = false;
		}
	d->running = false;
}

static struct rsrc *find_src(struct rsrc *s, size_t n, const struct lb_vip_key *k,
			     const char *label)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(&s[i].vip, k, sizeof(*k)) && !strcmp(s[i].label, label))
			return &s[i];
	return NULL;
}

int lb_discovery_sync(struct lb_discovery *d, const struct lb_agent_conf *conf)
{
	size_t n = 0, k = 0;
	struct rsrc *s;

	for (size_t i = 0; i < conf->topo.n_vips; i++) {
		const struct lb_disc_vip_conf *dc = lb_disc_vip_conf(&conf->topo.vips[i]);

		n += dc ? dc->n_src : 0;
	}
	s = calloc(n ? n : 1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < conf->topo.n_vips; i++) {
		const struct lb_topo_vip *v = &conf->topo.vips[i];
		const struct lb_disc_vip_conf *dc = lb_disc_vip_conf(v);

		for (size_t j = 0; dc && j < dc->n_src; j++) {
			struct rsrc *r = &s[k++], *o;

			r->d = d;
			r->vip = v->key;
			r->conf = dc->src[j];
			r->lim = dc->lim;
			lb_disc_source_label(&r->conf, r->label, sizeof(r->label));
			o = find_src(d->s, d->n, &r->vip, r->label);
			if (o) {	/* its workers and counters go on */
				r->st = o->st;
				memcpy(r->known, o->known, sizeof(r->known));
				r->n_known = o->n_known;
				r->due_ms = o->due_ms;
				r->reaped = o->reaped;
			} else {
				lb_disc_init(&r->st);
			}
		}
	}
	free(d->old);	/* an uncommitted sync before: gone */
	d->old = d->s;
	d->n_old = d->n;
	d->s = s;
	d->n = n;
	return 0;
}

void lb_discovery_commit(struct lb_discovery *d)
{
	free(d->old);
	d->old = NULL;
	d->n_old = 0;
}

void lb_discovery_rollback(struct lb_discovery *d)
{
	if (!d->old)
		return;
	free(d->s);
	d->s = d->old;
	d->n = d->n_old;
	d->old = NULL;
	d->n_old = 0;
}

void lb_discovery_free(struct lb_discovery *d)
{
	if (!d)
		return;
	lb_discovery_halt(d);
	free(d->s);
	free(d->old);
	free(d);
}

/* ---- a restarted agent ------------------------------------------------- */

static bool in_file(const struct lb_topo_vip *v, const __u8 addr[16])
{
	for (size_t i = 0; i < v->n_backends; i++)
		if (!memcmp(v->backends[i].addr, addr, 16))
			return true;
	return false;
}

static struct rsrc *first_of_kind(struct lb_discovery *d,
				  const struct lb_vip_key *k, __u8 origin)
{
	enum lb_disc_kind kind = origin == LB_ORIGIN_DNS ? LB_DISC_DNS : LB_DISC_ETCD;

	if (origin != LB_ORIGIN_DNS && origin != LB_ORIGIN_ETCD)
		return NULL;
	for (size_t i = 0; i < d->n; i++)
		if (!memcmp(&d->s[i].vip, k, sizeof(*k)) && d->s[i].conf.kind == kind)
			return &d->s[i];
	return NULL;
}

int lb_discovery_adopt(struct lb_discovery *d, const struct lb_agent_conf *conf,
		       char *msg, size_t len)
{
	struct lb_dp *dp = &d->a->dp;
	uint64_t now = now_ms();
	size_t taken = 0;
	int err = 0;

	if (!d->n)
		return 0;
	if ((err = lb_dp_relock(dp, msg, len)))
		return err;
	for (size_t i = 0; !err && i < conf->topo.n_vips; i++) {
		const struct lb_topo_vip *v = &conf->topo.vips[i];
		struct lb_backend_view *live = NULL;
		struct lb_vip_view vv;
		int n = 0;

		if (!lb_disc_vip_conf(v) || lb_vip_find(dp, &v->key, &vv))
			continue;	/* no sources, or a new VIP */
		if ((err = lb_backend_list_alloc(dp, vv.id, &live, &n, msg, len)))
			break;
		for (int j = 0; j < n; j++) {
			const struct lb_backend *be = &live[j].be;
			struct rsrc *s = first_of_kind(d, &v->key, be->origin);
			struct lb_disc_worker w = { .family = be->family,
						    .port = be->port };

			if (!s || in_file(v, be->addr))
				continue;
			memcpy(w.addr, be->addr, 16);
			/* ACTIVE: the maps' DRAINING may be its engine's
			 * (not ready); an answer without it drains it again */
			taken += lb_disc_adopt(&s->st, &w, LB_DISC_ACTIVE, now);
		}
		free(live);
	}
	lb_dp_unlock(dp);
	if (!err && taken)
		lb_agent_logf("discovery: %zu workers found by the previous agent "
			      "kept until their sources answer", taken);
	return err;
}

/* ---- the topology to run ----------------------------------------------- */

static bool has_addr(const struct lb_topo_backend *b, size_t n,
		     const struct lb_disc_worker *w)
{
	for (size_t i = 0; i < n; i++)
		if (same_addr(b[i].addr, b[i].family, w->addr, w->family))
			return true;
	return false;
}

static const struct lb_registry_entry *known_of(const struct rsrc *s,
						const struct lb_disc_worker *w)
{
	for (size_t i = 0; i < s->n_known; i++)
		if (same_addr(s->known[i].addr, s->known[i].family, w->addr, w->family))
			return &s->known[i];
	return NULL;
}

static void free_found(struct lb_topo_backend *b)
{
	if (!b->origin)
		return;
	if (b->ext)
		lb_agent_backend_release(b->ext);
	free(b->ext);
	free((char *)b->origin);
	b->ext = NULL;
	b->origin = NULL;
}

/* v's backends: the file's, then its sources' workers. */
static int vip_topo(struct lb_discovery *d, const struct lb_topo_vip *fv,
		    struct lb_topo_vip *v, char *msg, size_t len)
{
	size_t n = fv->n_backends, k;

	for (size_t i = 0; i < d->n; i++)
		if (!memcmp(&d->s[i].vip, &fv->key, sizeof(fv->key)))
			n += d->s[i].st.n;
	*v = *fv;
	v->backends = calloc(n ? n : 1, sizeof(*v->backends));
	if (!v->backends)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	memcpy(v->backends, fv->backends, fv->n_backends * sizeof(*v->backends));
	k = fv->n_backends;
	v->n_backends = k;
	for (size_t i = 0; i < d->n; i++) {
		struct rsrc *s = &d->s[i];

		if (memcmp(&s->vip, &fv->key, sizeof(fv->key)))
			continue;
		for (size_t j = 0; j < s->st.n; j++) {
			const struct lb_disc_worker *w = &s->st.m[j].w;
			struct lb_topo_backend *b = &v->backends[k];
			struct lb_agent_backend_conf *ac;
			char why[160], ip[64];

			if (w->family != fv->key.family || has_addr(v->backends, k, w))
				continue;
			ac = calloc(1, sizeof(*ac));
			b->origin = strdup(s->label);
			if (!ac || !b->origin) {
				free(ac);
				free((char *)b->origin);
				b->origin = NULL;
				return lb_msgf(msg, len, -ENOMEM, "out of memory");
			}
			if (lb_disc_backend(&s->conf, w, known_of(s, w), b, ac, why,
					    sizeof(why))) {
				lb_agent_logf("discovery %s: worker %s left out: %s",
					      s->label, lb_fmt_ip(w->addr, w->family,
								  ip, sizeof(ip)), why);
				b->ext = ac;
				free_found(b);
				continue;
			}
			v->n_backends = ++k;
		}
	}
	return 0;
}

int lb_discovery_topo(struct lb_discovery *d, const struct lb_agent_conf *conf,
		      struct lb_topo *out, char *msg, size_t len)
{
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->vips = calloc(conf->topo.n_vips ? conf->topo.n_vips : 1,
			   sizeof(*out->vips));
	if (!out->vips)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	for (size_t i = 0; !err && i < conf->topo.n_vips; i++) {
		out->n_vips = i + 1;
		err = vip_topo(d, &conf->topo.vips[i], &out->vips[i], msg, len);
	}
	if (err)
		lb_discovery_topo_free(out);
	return err;
}

void lb_discovery_topo_free(struct lb_topo *t)
{
	for (size_t i = 0; t->vips && i < t->n_vips; i++) {
		for (size_t j = 0; t->vips[i].backends && j < t->vips[i].n_backends; j++)
			free_found(&t->vips[i].backends[j]);
		free(t->vips[i].backends);
	}
	free(t->vips);
	memset(t, 0, sizeof(*t));
}

/* ---- what the agent asks -------------------------------------------- */

bool lb_discovery_draining(const struct lb_discovery *d,
			   const struct lb_vip_key *k, const __u8 addr[16])
{
	bool draining = false;

	/* drained by one source and kept by none */
	for (size_t i = 0; d && i < d->n; i++) {
		const struct rsrc *s = &d->s[i];

		if (memcmp(&s->vip, k, sizeof(*k)))
			continue;
		for (size_t j = 0; j < s->st.n; j++) {
			if (!same_addr(s->st.m[j].w.addr, s->st.m[j].w.family,
				       addr, k->family))
				continue;
			if (s->st.m[j].state == LB_DISC_ACTIVE)
				return false;
			draining = true;
		}
	}
	return draining;
}

struct busy_ctx {
	const struct lb_agent *a;
	const struct lb_vip_key *vip;
	const struct lb_be_load *ld;
};

/* Does the datapath count open flows of w (or cannot say)? */
static bool busy(void *ctx, const struct lb_disc_worker *w)
{
	const struct busy_ctx *c = ctx;

	if (!c->ld)
		return true;
	for (size_t i = 0; i < c->a->n_vips; i++) {
		const struct lb_agent_vip *v = &c->a->vips[i];

		if (memcmp(&v->conf->key, c->vip, sizeof(*c->vip)))
			continue;
		for (size_t j = 0; j < v->n_be; j++)
			if (same_addr(v->be[j]->conf->addr, v->be[j]->conf->family,
				      w->addr, w->family))
				return __atomic_load_n(&c->ld[v->be[j]->id].open,
						       __ATOMIC_RELAXED) > 0;
	}
	return false;	/* not in the maps: nothing to wait for */
}

bool lb_discovery_step(struct lb_discovery *d, uint64_t now)
{
	struct lb_disc_worker out[LB_DISC_MAX_WORKERS];
	bool changed;

	if (!d)
		return false;
	changed = d->changed;
	d->changed = false;
	for (size_t i = 0; i < d->n; i++) {
		struct rsrc *s = &d->s[i];
		struct busy_ctx c = { .a = d->a, .vip = &s->vip,
				      .ld = lb_dp_load_map(&d->a->dp, NULL, 0) };
		struct lb_disc_limits lim = s->lim;
		size_t n;
		char ip[64], vk[80];

		if (!lb_disc_count(&s->st, LB_DISC_DRAINING))
			continue;
		lim.min_drain_ms = REAP_GRACE_MS;
		n = lb_disc_reap(&s->st, &lim, now, busy, &c, out, LB_DISC_MAX_WORKERS);
		for (size_t j = 0; j < n; j++)
			lb_agent_logf("discovery %s (VIP %s): worker %s drained, removed",
				      s->label, lb_fmt_vip(&s->vip, vk, sizeof(vk)),
				      lb_fmt_ip(out[j].addr, out[j].family, ip,
						sizeof(ip)));
		s->reaped += n;
		changed |= n > 0;
	}
	return changed;
}

void lb_discovery_retry(struct lb_discovery *d)
{
	if (d)
		d->changed = true;
}

void lb_discovery_metrics(const struct lb_discovery *d, FILE *f, uint64_t now)
{
	static const struct {
		const char *name, *type, *help;
	} m[] = {
		{ "inferlb_discovery_last_success_age_seconds", "gauge",
		  "Seconds since the source last answered (-1: never)" },
		{ "inferlb_discovery_workers", "gauge",
		  "Workers the source gives the VIP, by state" },
		{ "inferlb_discovery_changes_applied_total", "counter",
		  "Answers that added, drained or brought back workers" },
		{ "inferlb_discovery_changes_held_total", "counter",
		  "Answers held back by a guard rail (would drain too many)" },
		{ "inferlb_discovery_errors_total", "counter",
		  "Failed lookups and values left out" },
		{ "inferlb_discovery_removed_total", "counter",
		  "Drained workers deleted" },
	};

	if (!d || !d->n)
		return;
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help,
			m[k].name, m[k].type);
		for (size_t i = 0; i < d->n; i++) {
			const struct rsrc *s = &d->s[i];
			char vk[80], lbl[400];

			snprintf(lbl, sizeof(lbl), "vip=\"%s\",source=\"%s\"",
				 lb_fmt_vip(&s->vip, vk, sizeof(vk)), s->label);
			switch (k) {
			case 0:
				fprintf(f, "%s{%s} %.3f\n", m[k].name, lbl,
					s->st.answered ? (now - s->st.last_ok_ms) / 1000.0 : -1.0);
				break;
			case 1:
				fprintf(f, "%s{%s,state=\"active\"} %zu\n", m[k].name, lbl,
					lb_disc_count(&s->st, LB_DISC_ACTIVE));
				fprintf(f, "%s{%s,state=\"draining\"} %zu\n", m[k].name, lbl,
					lb_disc_count(&s->st, LB_DISC_DRAINING));
				break;
			default: {	/* the counters, in m[]'s order */
				const uint64_t c[] = { s->st.applied, s->st.held,
						       s->st.errors, s->reaped };

				fprintf(f, "%s{%s} %" PRIu64 "\n", m[k].name, lbl, c[k - 2]);
				break;
			}
			}
		}
	}
}
