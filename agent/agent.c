// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * agent.c - lb-agent's cycle: poll, step the policy, decide, publish.
 * See agent.h for the overview.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "agent.h"
#include "cluster.h"
#include "announce.h"
#include "lb_apply.h"
#include "engine.h"
#include "lb_addr.h"
#include "lb_msg.h"
#include "lb_names.h"
#include "lb_ops.h"
#include "nexthops.h"
#include "sdnotify.h"

#define MAX_BODY (8u << 20)	/* a scrape larger than this is an error */
#define DECIDE_GAP_MS 5		/* batch decisions over bursts of answers */

static void on_closed(void *ctx, int target);
static void early_poll(struct lb_agent *a, struct lb_agent_backend *b);
/* open-flow recount from the flow tables: every tick, or 20 times as
 * long as the last one took (big tables), whichever is longer */
#define LB_RECOUNT_COST_FACTOR 20

uint64_t lb_agent_now_ms(void)
{
	return lb_mono_ms();
}

void lb_agent_logf(const char *fmt, ...)
{
	const char *pfx = lb_sd_log_prefix(fmt);
	va_list ap;

	/* under journald a priority and no time of our own (sdnotify.h);
	 * else seconds since boot, so lines line up with `lbctl show`'s
	 * heartbeat */
	if (pfx)
		fputs(pfx, stderr);
	else
		fprintf(stderr, "lb-agent[%.3f]: ", lb_boottime_ns() / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- adopting what the maps say --------------------------------------- */

/*
 * A restarted agent takes over the state the last one published, so the
 * first decisions do not reshuffle anything: a HEALTHY backend stays so
 * (without a new slow start), an OPEN one serves a fresh ejection.
 */
static void adopt(const struct lb_agent_conf *conf, struct lb_agent_backend *b,
		  const struct lb_backend *live, uint64_t now)
{
	struct lb_policy_backend *p = &b->pol;

	lb_policy_backend_init(p, b->conf->capacity);
	b->weight = live->weight;
	b->state = live->state;
	b->rate = live->rate;
	switch (live->state) {
	case LB_BE_HEALTHY:
		if (!live->weight)
			break;	/* never polled healthy: start over */
		p->state = LB_BE_HEALTHY;
		p->last_health = LB_H_OK;
		p->healthy_since = now;
		p->slow_start = false;
		break;
	case LB_BE_DRAINING:
		p->state = LB_BE_DRAINING;
		p->last_health = LB_H_NOT_READY;
		break;
	case LB_BE_OPEN:
	case LB_BE_HALF_OPEN:
		p->state = LB_BE_OPEN;
		p->ejections = 1;
		p->open_until = now + lb_policy_eject_ms(&conf->policy, 1);
		p->last_health = LB_H_FAIL;
		break;
	case LB_BE_DOWN:
		p->state = LB_BE_DOWN;
		break;
	default:	/* STARTING, or a value this build does not know */
		break;
	}
}

/* ---- runtime built from a config ----------------------------------------- */

/* What runtime_build makes of a config: set aside while a reload builds
 * the next one, restored if that fails. */
struct lb_runtime {
	struct lb_agent_backend *be;
	size_t n_be;
	struct lb_agent_vip *vips;
	size_t n_vips;
	struct lb_poller *poller;
};

/* Exchanges a's runtime with *rt. */
static void runtime_swap(struct lb_agent *a, struct lb_runtime *rt)
{
	struct lb_runtime cur = { .be = a->be, .n_be = a->n_be, .vips = a->vips,
				  .n_vips = a->n_vips, .poller = a->poller };

	a->be = rt->be;
	a->n_be = rt->n_be;
	a->vips = rt->vips;
	a->n_vips = rt->n_vips;
	a->poller = rt->poller;
	*rt = cur;
}

static void runtime_release(struct lb_runtime *rt)
{
	for (size_t i = 0; i < rt->n_vips; i++) {
		free(rt->vips[i].be);
		free(rt->vips[i].pols);
		free(rt->vips[i].cur);
		free(rt->vips[i].out);
		free(rt->vips[i].ctl);
	}
	free(rt->vips);
	free(rt->be);
	lb_poller_free(rt->poller);
	memset(rt, 0, sizeof(*rt));
}

/* Frees a's runtime, which is left empty. */
static void runtime_free(struct lb_agent *a)
{
	struct lb_runtime rt = { 0 };

	runtime_swap(a, &rt);
	runtime_release(&rt);
}

static struct lb_agent_backend *find_old(struct lb_agent_backend *old,
					 size_t n, const struct lb_vip_key *k,
					 const __u8 addr[16])
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(&old[i].vip->conf->key, k, sizeof(*k)) &&
		    !memcmp(old[i].conf->addr, addr, 16))
			return &old[i];
	return NULL;
}

static int add_probe(struct lb_agent *a, struct lb_agent_backend *b,
		     enum lb_probe_kind kind, const char *url)
{
	struct lb_probe *p = &b->probe[kind];

	p->agent = a;
	p->owner = b;
	p->kind = kind;
	p->pending = false;
	p->target = -1;
	if (!url[0])
		return 0;
	p->target = lb_poller_add(a->poller, url);
	return p->target < 0 ? p->target : 0;
}

/* The live backend at addr among the VIP's live[0..n-1], NULL if none. */
static const struct lb_backend_view *live_at(const struct lb_backend_view *live,
					     int n, const __u8 addr[16])
{
	for (int i = 0; i < n; i++)
		if (!memcmp(live[i].be.addr, addr, 16))
			return &live[i];
	return NULL;
}

/* A backend kept over a reload: its policy state and counters go on. */
static void carry_over(struct lb_agent_backend *b,
		       const struct lb_agent_backend *o)
{
	b->pol = o->pol;
	b->pol.capacity = b->conf->capacity;
	b->sig = o->sig;
	b->speed = o->speed;
	memcpy(b->bad_metrics, o->bad_metrics, sizeof(b->bad_metrics));
	b->xid = o->xid;
	b->polls = o->polls;
	for (int p = 0; p < LB_PROBE_KINDS; p++)
		b->probe[p] = o->probe[p];
}

/* Backend b of VIP v, configured as cb, over the VIP's live backends. */
static int backend_build(struct lb_agent *a, const struct lb_agent_conf *conf,
			 struct lb_agent_vip *v, struct lb_agent_backend *b,
			 const struct lb_topo_backend *cb,
			 const struct lb_backend_view *live, int n_live,
			 const struct lb_runtime *old, uint64_t now, char *msg,
			 size_t len)
{
	const struct lb_agent_backend_conf *ac = lb_agent_backend_conf(cb);
	const struct lb_backend_view *lv = live_at(live, n_live, cb->addr);
	const struct lb_agent_backend *o;

	b->conf = cb;
	b->vip = v;
	if (!lv)
		return lb_msgf(msg, len, -ENOENT, "backend missing after apply");
	b->id = lv->id;
	o = find_old(old->be, old->n_be, &v->conf->key, cb->addr);
	if (o)
		carry_over(b, o);
	else
		adopt(conf, b, &lv->be, now);
	b->pol.load_blind = v->conf->opts.policy == LB_POL_EXPECTED_WAIT;
	/* the maps are the truth for what is live */
	b->weight = lv->be.weight;
	b->state = lv->be.state;
	b->rate = lv->be.rate;
	b->override = lb_backend_override(&lv->be, lb_boottime_ns());
	/* a worker of the file stays the file's, whatever a source says */
	b->disc_draining = cb->origin &&
			   lb_discovery_draining(a->disc, &v->conf->key, cb->addr);
	if (add_probe(a, b, LB_PROBE_HEALTH, ac->health_url) ||
	    add_probe(a, b, LB_PROBE_METRICS, ac->metrics_url) ||
	    add_probe(a, b, LB_PROBE_DCGM, ac->dcgm_url))
		return lb_msgf(msg, len, -EINVAL, "cannot poll %s", ac->metrics_url);
	return 0;
}

/* VIP v, configured as cv, with its backends from a->be[*k] on; the
 * maps' view of it is read here (the caller holds the lock). */
static int vip_build(struct lb_agent *a, const struct lb_agent_conf *conf,
		     struct lb_agent_vip *v, const struct lb_topo_vip *cv,
		     const struct lb_runtime *old, size_t *k, uint64_t now,
		     char *msg, size_t len)
{
	size_t n = cv->n_backends ? cv->n_backends : 1;
	struct lb_backend_view *live = NULL;
	struct lb_vip_view vv;
	int n_live, err;

	v->conf = cv;
	if (lb_vip_find(&a->dp, &cv->key, &vv))
		return lb_msgf(msg, len, -ENOENT, "VIP missing after apply");
	v->id = vv.id;
	v->be = calloc(n, sizeof(*v->be));
	v->pols = calloc(n, sizeof(*v->pols));
	v->cur = calloc(n, sizeof(*v->cur));
	v->out = calloc(n, sizeof(*v->out));
	v->ctl = calloc(n, sizeof(*v->ctl));
	if (!v->be || !v->pols || !v->cur || !v->out || !v->ctl)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	err = lb_backend_list_alloc(&a->dp, v->id, &live, &n_live, msg, len);
	if (err)
		return err;
	v->n_be = cv->n_backends;
	for (size_t j = 0; !err && j < cv->n_backends; j++) {
		v->be[j] = &a->be[(*k)++];
		err = backend_build(a, conf, v, v->be[j], &cv->backends[j], live,
				    n_live, old, now, msg, len);
	}
	free(live);
	return err;
}

/*
 * Runtime for conf over the maps as they are now, into a (whose runtime
 * is empty). Backends that were in the previous runtime (old) keep their
 * policy state and counters; others adopt what the maps say. On failure
 * a holds what was built so far, for runtime_free.
 */
static int runtime_build(struct lb_agent *a, const struct lb_agent_conf *conf,
			 const struct lb_topo *topo, const struct lb_runtime *old,
			 char *msg, size_t len)
{
	uint64_t now = lb_agent_now_ms();
	size_t nb = 0, k = 0;
	char perr[128];
	int err;

	for (size_t i = 0; i < topo->n_vips; i++)
		nb += topo->vips[i].n_backends;
	a->poller = lb_poller_new(conf->request_timeout_ms, MAX_BODY, perr,
				  sizeof(perr));
	if (!a->poller)
		return lb_msgf(msg, len, -ENOMEM, "HTTP poller: %s", perr);
	lb_poller_on_closed(a->poller, on_closed);
	a->vips = calloc(topo->n_vips ? topo->n_vips : 1, sizeof(*a->vips));
	a->be = calloc(nb ? nb : 1, sizeof(*a->be));
	if (!a->vips || !a->be)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	a->n_vips = topo->n_vips;
	a->n_be = nb;
	/* each VIP's backends through its chain, under the lock (a read
	 * may repair a chain) */
	err = lb_dp_relock(&a->dp, msg, len);
	for (size_t i = 0; !err && i < topo->n_vips; i++)
		err = vip_build(a, conf, &a->vips[i], &topo->vips[i], old,
				&k, now, msg, len);
	lb_dp_unlock(&a->dp);
	return err;
}

/* ---- start, reload, stop ---------------------------------------------- */

static void heartbeat(struct lb_agent *a)
{
	__u32 zero = 0;

	a->status.heartbeat_ns = lb_boottime_ns();
	a->status.backends = a->n_be;
	a->status.poll_interval_ms = a->conf.policy.poll_interval_ms;
	lb_cluster_fill_status(a->cluster, &a->status);
	bpf_map_update_elem(a->dp.fd[LB_M_AGENT], &zero, &a->status, 0);
}

/* topo into the maps. found: a change discovery made (the file's guard
 * against deleting many backends at once is for edits; discovery's own
 * guard rails held what it would drain, and it deletes only workers that
 * drained). */
static int apply_locked(struct lb_agent *a, const struct lb_agent_conf *conf,
			const struct lb_topo *topo, bool found, char *msg,
			size_t len)
{
	const struct lb_apply_opts opts = {
		.agent_managed = true,
		.prune = conf->prune || found,
		.max_backend_delete_pct = conf->max_backend_delete_pct,
		.prune_hint = "'agent: {prune: true}' in the config",
	};
	struct lb_apply_result r;
	int err = lb_dp_relock(&a->dp, msg, len);

	if (err)
		return err;
	err = lb_apply(&a->dp, topo, &opts, &r, msg, len);
	lb_dp_unlock(&a->dp);
	if (!err && (r.vips_added || r.vips_deleted || r.backends_added ||
		     r.backends_deleted))
		lb_agent_logf("applied: %u VIPs added, %u deleted; %u backends added, %u deleted",
		      r.vips_added, r.vips_deleted, r.backends_added,
		      r.backends_deleted);
	return err;
}

/* Releases everything a holds (runtime, config, maps); writes nothing. */
static void release(struct lb_agent *a)
{
	lb_cluster_stop(a->cluster);
	a->cluster = NULL;
	lb_agent_announce_free(a);
	runtime_free(a);
	lb_discovery_free(a->disc);
	a->disc = NULL;
	lb_discovery_topo_free(&a->eff);
	lb_agent_conf_free(&a->conf);
	lb_dp_close(&a->dp);
	pthread_mutex_destroy(&a->mu);
}

int lb_agent_start(struct lb_agent *a, const char *conf_path, char *msg,
		   size_t len)
{
	__u32 zero = 0;
	int err;

	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->mu, NULL);
	/* nothing open yet: release() must close nothing */
	a->dp.dir_fd = -1;
	a->dp.rb.fd = -1;
	for (int i = 0; i < LB_M_COUNT; i++)
		a->dp.fd[i] = -1;
	if (snprintf(a->conf_path, sizeof(a->conf_path), "%s", conf_path) >=
	    (int)sizeof(a->conf_path)) {
		err = lb_msgf(msg, len, -ENAMETOOLONG, "config path too long");
		goto fail;
	}
	err = lb_agent_conf_load_file(conf_path, &a->conf, msg, len);
	if (err)
		goto fail;
	err = lb_dp_lock(&a->dp, a->conf.pin_dir, false, msg, len);
	if (!err)
		err = lb_dp_open(&a->dp, msg, len);
	if (err)
		goto fail;
	lb_dp_unlock(&a->dp);
	/* carry the publication count over restarts: it only goes up */
	bpf_map_lookup_elem(a->dp.fd[LB_M_AGENT], &zero, &a->status);
	/* but not a former agent's cluster state: this one's comes from its
	 * own cluster mode (lb_cluster_fill_status), or is "off" */
	a->status.cluster_role = LB_CLUSTER_OFF;
	a->status.cluster_etcd_up = 0;
	a->status.cluster_generation = 0;
	a->status.cluster_leader = 0;
	a->status.cluster_contact_ns = 0;
	a->status.cluster_changed_ns = 0;
	a->status.pid = getpid();
	a->status.started_ns = lb_boottime_ns();
	a->status.reloads = 1;
	/* what a previous agent found, kept until the sources answer (their
	 * threads start with the loop) */
	err = lb_discovery_new(a, &a->disc);
	if (!err && (err = lb_discovery_sync(a->disc, &a->conf)))
		lb_msgf(msg, len, err, "out of memory");
	if (!err) {
		lb_discovery_commit(a->disc);
		err = lb_discovery_adopt(a->disc, &a->conf, msg, len);
	}
	if (!err)
		err = lb_discovery_topo(a->disc, &a->conf, &a->eff, msg, len);
	if (!err)
		err = apply_locked(a, &a->conf, &a->eff, false, msg, len);
	if (!err)
		err = runtime_build(a, &a->conf, &a->eff, &(struct lb_runtime){ 0 },
				    msg, len);
	if (!err)
		err = lb_cluster_new(a, &a->conf.cluster, &a->cluster, msg, len);
	if (err)
		goto fail;
	a->start_ms = lb_agent_now_ms();
	a->next_round_ms = a->start_ms;
	a->reload_ok = 1;
	heartbeat(a);
	lb_agent_logf("managing %zu VIPs, %zu backends from %s (pins %s), polling every %u ms",
	      a->n_vips, a->n_be, conf_path, a->conf.pin_dir,
	      a->conf.policy.poll_interval_ms);
	return 0;
fail:
	release(a);	/* the heartbeat was not written: nothing to undo */
	return err;
}

/* pin_dir and metrics_listen were acted on at start: conf keeps a's. */
static void keep_start_only_keys(const struct lb_agent *a, struct lb_agent_conf *conf)
{
	if (strcmp(conf->pin_dir, a->conf.pin_dir) ||
	    strcmp(conf->metrics_listen, a->conf.metrics_listen))
		lb_agent_logf("note: pin_dir and metrics_listen change only on restart");
	snprintf(conf->pin_dir, sizeof(conf->pin_dir), "%s", a->conf.pin_dir);
	snprintf(conf->metrics_listen, sizeof(conf->metrics_listen), "%s",
		 a->conf.metrics_listen);
	if (memcmp(&conf->cluster, &a->conf.cluster, sizeof(conf->cluster)))
		lb_agent_logf("note: cluster changes only on restart");
	conf->cluster = a->conf.cluster;
	/* and so does what it implies: pair_choice's default follows the
	 * cluster mode this agent runs, not a section added or removed
	 * since (a save would otherwise flip it on this host alone) */
	for (size_t i = 0; i < conf->topo.n_vips; i++)
		if (!conf->topo.vips[i].pair_choice_given)
			conf->topo.vips[i].opts.pair_choice = conf->cluster.n_etcd > 0;
	if (conf->watch_config != a->conf.watch_config ||
	    conf->watch_debounce_ms != a->conf.watch_debounce_ms)
		lb_agent_logf("note: watch_config and watch_debounce_ms change only on restart");
	conf->watch_config = a->conf.watch_config;
	conf->watch_debounce_ms = a->conf.watch_debounce_ms;
}

/*
 * conf with what discovery found into the maps and a new runtime (a->mu
 * held, discovery synced to conf). 0: a runs it (its runtime points into
 * the new a->eff). On failure a runs what it ran; the maps may hold the
 * new topology: need_reconcile puts a->eff back.
 */
static int run_topology(struct lb_agent *a, const struct lb_agent_conf *conf,
			bool found, char *msg, size_t len)
{
	struct lb_runtime old = { 0 };
	struct lb_topo eff;
	int err = lb_discovery_topo(a->disc, conf, &eff, msg, len);

	if (err)
		return err;
	err = apply_locked(a, conf, &eff, found, msg, len);
	if (err)
		goto fail;
	runtime_swap(a, &old);
	err = runtime_build(a, conf, &eff, &old, msg, len);
	if (err) {
		/* the maps match the new topology but we cannot run it:
		 * keep polling with the old runtime and re-apply it next step */
		runtime_free(a);
		runtime_swap(a, &old);
		a->need_reconcile = true;
		goto fail;
	}
	runtime_release(&old);
	lb_discovery_topo_free(&a->eff);
	a->eff = eff;
	return 0;
fail:
	lb_discovery_topo_free(&eff);
	return err;
}

int lb_agent_reload(struct lb_agent *a, char *msg, size_t len)
{
	struct lb_agent_conf conf;
	int err;

	err = lb_agent_conf_load_file(a->conf_path, &conf, msg, len);
	if (err)
		goto refused;
	keep_start_only_keys(a, &conf);
	/* the sources may change: their threads stop (they start again
	 * with the loop's next turn), their workers are carried over */
	lb_discovery_halt(a->disc);
	pthread_mutex_lock(&a->mu);
	err = lb_discovery_sync(a->disc, &conf);
	if (err) {
		lb_msgf(msg, len, err, "out of memory");
		goto unlock;
	}
	err = run_topology(a, &conf, false, msg, len);
	if (err) {
		lb_discovery_rollback(a->disc);
		goto unlock;
	}
	lb_discovery_commit(a->disc);
	/* the runtime points into conf's arrays, which the struct copy
	 * keeps where they are: nothing dangles */
	lb_agent_conf_free(&a->conf);
	a->conf = conf;
	a->status.reloads++;
	a->reload_ok++;
	a->next_round_ms = lb_agent_now_ms();
	heartbeat(a);
	pthread_mutex_unlock(&a->mu);
	lb_agent_logf("reloaded %s: %zu VIPs, %zu backends", a->conf_path, a->n_vips,
	      a->n_be);
	return 0;
unlock:
	pthread_mutex_unlock(&a->mu);
	lb_agent_conf_free(&conf);
refused:
	pthread_mutex_lock(&a->mu);
	a->reload_failed++;
	pthread_mutex_unlock(&a->mu);
	lb_agent_logf("reload refused, keeping the running config: %s", msg);
	return err;
}

void lb_agent_stop(struct lb_agent *a)
{
	struct lb_nexthops *nh;

	lb_agent_announce_stop(a);	/* first: a stop is a drain */
	lb_discovery_halt(a->disc);	/* its threads take a->mu */
	pthread_mutex_lock(&a->mu);
	nh = a->nexthops;
	a->nexthops = NULL;
	pthread_mutex_unlock(&a->mu);
	lb_nexthops_stop(nh);	/* its thread takes a->mu */
	lb_cluster_stop(a->cluster);	/* so do its threads */
	a->cluster = NULL;
	pthread_mutex_lock(&a->mu);
	a->status.pid = 0;
	heartbeat(a);
	pthread_mutex_unlock(&a->mu);
	release(a);
}

/* ---- polling -------------------------------------------------------------- */

/* What a health answer means, engine by engine (see the research notes):
 * vLLM /health 200 or 503 (and refused while loading), SGLang 503 while
 * starting, TGI no listener until warm, Triton /v2/health/ready 200/400. */
static enum lb_health health_of(const struct lb_agent_backend_conf *cb,
				const struct lb_fetch *f)
{
	switch (f->result) {
	case LB_FETCH_REFUSED:
		return LB_H_UNREACHABLE;
	case LB_FETCH_TIMEOUT:
	case LB_FETCH_ERROR:
		return LB_H_FAIL;
	case LB_FETCH_OK:
		break;
	}
	if (f->status == 200)
		return LB_H_OK;
	if (f->status == 503 ||
	    (cb->engine == LB_ENGINE_TRITON && f->status == 400))
		return LB_H_NOT_READY;
	return LB_H_FAIL;
}

/* One policy event for b, with its state change logged. */
static void step(struct lb_agent *a, struct lb_agent_backend *b,
		 const struct lb_event *ev, uint64_t now)
{
	enum lb_be_state before = b->pol.state, after;
	char s[80], ad[64];

	after = lb_policy_step(&a->conf.policy, &b->pol, ev, now);
	if (before != after)
		lb_agent_logf("%s backend %s: %s -> %s", lb_fmt_vip(&b->vip->conf->key, s, sizeof(s)),
		      lb_fmt_ip(b->conf->addr, b->conf->family, ad, sizeof(ad)),
		      lb_state_name(before), lb_state_name(after));
}

static void round_done(struct lb_agent *a, struct lb_agent_backend *b)
{
	struct lb_event ev = { .type = b->round_health ? LB_EV_POLL : LB_EV_SIGNALS,
			       .health = b->health, .has_signals = b->round_sig,
			       .sig = b->sig };

	if (ev.health == LB_H_OK && b->xid > 0)
		ev.health = LB_H_FAIL;	/* a GPU fault: open the breaker */
	step(a, b, &ev, lb_agent_now_ms());
	b->polls++;
	a->dirty = true;
}

/* A scrape that parsed but holds values no engine means (NaN, a negative
 * count, a series twice): a bad answer, counted by reason and logged when
 * the reason changes; the backend keeps its last good signals until they
 * go stale, as after a failed scrape. */
static void bad_metrics(struct lb_agent_backend *b, enum lb_bad_metrics why,
			const struct prom_error *perr)
{
	char ad[64];

	if (why == LB_BAD_METRICS_NONE)
		return;	/* a parse error: counted as a bad answer only */
	b->bad_metrics[why]++;
	if (why == b->bad_logged)
		return;
	b->bad_logged = why;
	lb_agent_logf("backend %s: metrics refused (%s): %s",
	      lb_fmt_ip(b->conf->addr, b->conf->family, ad, sizeof(ad)),
	      lb_bad_metrics_name(why), perr->msg);
}

/* Requests a worker says it runs and queues beyond open, this balancer's
 * open flows to it, for lb_be_load.engine_load. */
static __u32 beyond_of(const struct lb_signals *s, __u64 open)
{
	double n = lb_policy_requests(s) - (double)open;

	if (!(n > 0))
		return 0;
	return n >= LB_ENGINE_LOAD_MAX ? LB_ENGINE_LOAD_MAX : (__u32)lrint(n);
}

/* What a good scrape says beyond the gauges: the backend's decode speed
 * and its VIP's output length (speed.h), and the requests it serves that
 * did not come through this balancer — its own count less the open flows
 * the datapath counts for it now, when the answer arrived. */
static void note_scrape(struct lb_agent *a, struct lb_agent_backend *b,
			const struct lb_signals *sig)
{
	struct lb_be_load *ld = lb_dp_load_map(&a->dp, NULL, 0);
	uint64_t now = lb_agent_now_ms();
	double dgen, ddone;

	lb_speed_feed(&b->speed, sig, now,
		      lb_engine_tokens_per_step(lb_agent_backend_conf(b->conf)->engine),
		      a->conf.policy.speed_ewma, &dgen, &ddone);
	lb_outlen_add(&b->vip->outlen, dgen, ddone);
	if (ld) {
		struct lb_be_load snap = {
			.open = __atomic_load_n(&ld[b->id].open, __ATOMIC_RELAXED),
		};

		b->beyond = beyond_of(sig, lb_load_open(&snap));
		b->beyond_at_ms = now;
	}
}

/* Folds answer f of probe p into its backend's round. Returns true when
 * it is the answer expected (health: any HTTP answer; metrics and DCGM:
 * 200 with text that parses). */
static bool take_answer(struct lb_agent_backend *b, const struct lb_probe *p,
			const struct lb_fetch *f)
{
	const struct lb_agent_backend_conf *ac = lb_agent_backend_conf(b->conf);
	enum lb_bad_metrics bad = LB_BAD_METRICS_NONE;
	struct prom_error perr;
	struct lb_signals sig;
	double xid = 0;

	if (p->kind == LB_PROBE_HEALTH) {
		b->health = health_of(ac, f);
		return f->result == LB_FETCH_OK;
	}
	if (f->result != LB_FETCH_OK || f->status != 200)
		return false;
	switch (p->kind) {
	case LB_PROBE_METRICS:
		if (lb_engine_extract_ex(ac->engine, &ac->names, f->body,
					 f->len, &sig, &perr, &bad)) {
			bad_metrics(b, bad, &perr);
			return false;
		}
		b->bad_logged = LB_BAD_METRICS_NONE;
		b->sig = sig;
		b->round_sig = true;
		note_scrape(p->agent, b, &sig);
		return true;
	case LB_PROBE_DCGM:
		if (lb_dcgm_xid_errors(f->body, f->len, &xid, &perr) < 0)
			return false;
		b->xid = xid;
		return true;
	default:
		return false;
	}
}

/* The probe's counters, as /metrics reports them per result. */
static void count_answer(struct lb_probe *p, const struct lb_fetch *f, bool good)
{
	if (good)
		p->ok++;
	else if (f->result == LB_FETCH_OK)
		p->errors[LB_FETCH_ERROR + 1]++;	/* bad status or text */
	else
		p->errors[f->result]++;
}

static bool round_pending(const struct lb_agent_backend *b)
{
	for (int k = 0; k < LB_PROBE_KINDS; k++)
		if (b->probe[k].pending)
			return true;
	return false;
}

static void on_fetch(void *ctx, int target, const struct lb_fetch *f)
{
	struct lb_probe *p = ctx;
	struct lb_agent_backend *b = p->owner;
	struct lb_agent *a = p->agent;

	(void)target;
	pthread_mutex_lock(&a->mu);
	p->pending = false;
	p->last_latency_ms = f->latency_ms;
	count_answer(p, f, take_answer(b, p, f));
	/* cut mid-answer, or refused where a kept connection was: the
	 * process may have died while we asked or since the last poll */
	if (f->dropped)
		b->dropped = true;
	if (!round_pending(b)) {
		round_done(a, b);
		if (b->dropped) {
			b->dropped = false;
			early_poll(a, b);
		}
	}
	pthread_mutex_unlock(&a->mu);
}

/* Starts a poll of backend b unless its previous one is still out (a hung
 * worker is left alone until its timeout); health is asked too when due,
 * or when health says so. */
static void start_backend(struct lb_agent *a, struct lb_agent_backend *b,
			  uint64_t now, bool health)
{
	if (round_pending(b))
		return;
	b->health = LB_H_FAIL;
	b->round_sig = false;
	b->round_started = now;
	b->round_health = health || now >= b->next_health_ms;
	if (b->round_health)
		b->next_health_ms = now + a->conf.policy.health_interval_ms -
				    a->conf.policy.poll_interval_ms / 2;
	for (int k = 0; k < LB_PROBE_KINDS; k++) {
		struct lb_probe *p = &b->probe[k];

		if (p->target < 0 || (k != LB_PROBE_METRICS && !b->round_health))
			continue;
		if (!lb_poller_start(a->poller, p->target, on_fetch, p))
			p->pending = true;
	}
}

/* Starts a poll of every backend whose previous one is back. */
static void start_round(struct lb_agent *a, uint64_t now)
{
	for (size_t i = 0; i < a->n_be; i++)
		start_backend(a, &a->be[i], now, false);
	a->rounds++;
}

/* Polls b now, health included, rather than at the next round: a worker
 * that just died is DOWN within a round trip instead of up to a poll
 * interval later, and fewer new connections meet its closed port. At most
 * once per health interval: a server that times idle connections out
 * faster than we poll must not double its polls, and a death is the first
 * such sign in a long while. Called with a->mu held. */
static void early_poll(struct lb_agent *a, struct lb_agent_backend *b)
{
	uint64_t now = lb_agent_now_ms();

	if (b->last_early_ms &&
	    now < b->last_early_ms + a->conf.policy.health_interval_ms)
		return;
	b->last_early_ms = now;
	b->early_polls++;
	start_backend(a, b, now, true);
}

/* A worker closed the connection we keep to it between polls: its process
 * may have exited (or it timed the idle connection out). */
static void on_closed(void *ctx, int target)
{
	struct lb_probe *p = ctx;
	struct lb_agent *a;

	(void)target;
	if (!p)
		return;
	a = p->agent;
	pthread_mutex_lock(&a->mu);
	early_poll(a, p->owner);
	pthread_mutex_unlock(&a->mu);
}

/* ---- deciding and publishing ------------------------------------------ */

/* New flows per second a backend may take: its share of capacity times
 * the configured rate per unit of capacity; 0 (no limit) when unset. */
static __u32 rate_of(const struct lb_agent_conf *c, const struct lb_agent_backend *b,
		     uint64_t now)
{
	double r;

	if (c->backend_rate_per_capacity <= 0)
		return 0;
	r = c->backend_rate_per_capacity * b->conf->capacity *
	    lb_policy_share(&c->policy, &b->pol, now);
	if (!(r >= 1))
		return 1;	/* 0 would mean "no limit" */
	return r > 4e9 ? 4000000000u : (__u32)lrint(r);
}

static bool rate_moved(const struct lb_agent_conf *c, __u32 live, __u32 want)
{
	double big = live > want ? live : want;

	if (live == want)
		return false;
	return (live == 0) != (want == 0) ||
	       fabs((double)live - want) > c->policy.hysteresis * big;
}

/*
 * What backend b (index i of v) should have live after decision d: the
 * policy's weight and state, and its new-flow rate. Whatever else may
 * decide a backend's entry (an operator's override) belongs here.
 */
static struct lb_publish_entry target_of(const struct lb_agent *a,
				       const struct lb_agent_vip *v, size_t i,
				       const struct lb_decision *d, uint64_t now)
{
	const struct lb_agent_backend *b = v->be[i];
	__u32 rate = rate_of(&a->conf, b, now);
	/* panic fails open: the datapath must then take the backends the
	 * policy gave a weight, whatever their breaker says */
	__u8 state = d->panic && v->out[i] ? LB_BE_HEALTHY : b->pol.state;

	if (b->disc_draining)	/* its source dropped it: no new flows */
		return (struct lb_publish_entry){ .id = b->id,
			.state = LB_BE_DRAINING, .rate = b->rate,
			.burst = a->conf.backend_burst };
	return (struct lb_publish_entry){
		.id = b->id,
		.weight = v->out[i],
		.state = state,
		.rate = rate_moved(&a->conf, b->rate, rate) ? rate : b->rate,
		.burst = a->conf.backend_burst,
	};
}

/* Whether b already has what c asks; a field an operator's override
 * holds is not the agent's to change, so it never counts as a difference. */
static bool is_live(const struct lb_publish_entry *c,
		    const struct lb_agent_backend *b)
{
	return ((b->override & LB_BACKEND_F_OVR_WEIGHT) || c->weight == b->weight) &&
	       ((b->override & LB_BACKEND_F_OVR_STATE) || c->state == b->state) &&
	       c->rate == b->rate;
}

/* Says so when an operator's override starts or ends for b. */
static void log_override(const struct lb_agent_backend *b, __u8 now_ovr)
{
	char ad[64];

	if (now_ovr == b->override)
		return;
	lb_fmt_ip(b->conf->addr, b->conf->family, ad, sizeof(ad));
	if (now_ovr)
		lb_agent_logf("backend %s: operator override of %s; left alone until "
		      "'lbctl backend release' (or its --for ends)", ad,
		      lb_override_name(now_ovr));
	else
		lb_agent_logf("backend %s: override ended (released or run out); the agent sets it again", ad);
}

/* Writes ctl[] for v's backends: one lb_vip_publish() under the lock. On
 * failure the maps may be half-written: counted, logged, and reconciled
 * from the config at the next round. */
void lb_agent_publish_vip(struct lb_agent *a, struct lb_agent_vip *v,
			  struct lb_publish_entry *ctl)
{
	bool rebuilt = false;
	char err[256], s[80];

	if (lb_dp_relock(&a->dp, err, sizeof(err)) ||
	    lb_vip_publish(&a->dp, v->id, ctl, v->n_be, &rebuilt, err,
			   sizeof(err))) {
		lb_dp_unlock(&a->dp);
		a->publish_errors++;
		snprintf(a->last_error, sizeof(a->last_error), "%s", err);
		lb_agent_logf("publishing %s failed: %s", lb_fmt_vip(&v->conf->key, s, sizeof(s)),
		      err);
		a->need_reconcile = true;
		return;
	}
	lb_dp_unlock(&a->dp);
	/* ctl now says what is live, an operator's values included */
	for (size_t i = 0; i < v->n_be; i++) {
		log_override(v->be[i], ctl[i].override);
		v->be[i]->override = ctl[i].override;
		v->be[i]->weight = ctl[i].weight;
		v->be[i]->state = ctl[i].state;
		v->be[i]->rate = ctl[i].rate;
	}
	v->rebuilds += rebuilt;
	a->publications++;
	a->status.generation++;
}

/*
 * An operator's override is made by lbctl between the agent's rounds, so
 * the agent reads its VIP's backends for them once per health interval
 * (under the lock: a read may repair the VIP's chain). Afterwards
 * b->override, weight and state say what is live: an override that
 * started is recorded (and left alone), one that was released or has run
 * out (--for) no longer counts, so the agent's own target differs from
 * the operator's values it recorded and is published (which clears an
 * expired override in the maps).
 */
static int view_by_id(const void *x, const void *y)
{
	const struct lb_backend_view *a = x, *b = y;

	return (a->id > b->id) - (a->id < b->id);
}

static void refresh_overrides(struct lb_agent *a, struct lb_agent_vip *v)
{
	struct lb_backend_view *live = NULL;
	__u64 now_ns = lb_boottime_ns();
	char err[256];
	int n = 0;

	if (lb_dp_relock(&a->dp, err, sizeof(err)))
		return;		/* tried again next interval */
	if (lb_backend_list_alloc(&a->dp, v->id, &live, &n, err, sizeof(err)))
		n = 0;
	lb_dp_unlock(&a->dp);
	for (size_t i = 0; i < v->n_be; i++) {
		struct lb_agent_backend *b = v->be[i];
		const struct lb_backend_view key = { .id = b->id }, *l;
		__u8 ovr;

		/* the list is sorted by id */
		l = bsearch(&key, live, n, sizeof(*live), view_by_id);
		if (!l)
			continue;
		ovr = lb_backend_override(&l->be, now_ns);
		log_override(b, ovr);
		b->override = ovr;
		b->weight = l->be.weight;
		b->state = l->be.state;
	}
	free(live);
}

static void decide_vip(struct lb_agent *a, struct lb_agent_vip *v, uint64_t now)
{
	struct lb_publish_entry *ctl = v->ctl;
	bool write = false;

	if (now >= v->next_override_check_ms) {
		v->next_override_check_ms = now + a->conf.policy.health_interval_ms;
		refresh_overrides(a, v);
	}
	for (size_t i = 0; i < v->n_be; i++) {
		v->pols[i] = v->be[i]->pol;
		v->cur[i] = v->be[i]->weight;
		/* a worker its source dropped takes no new flows */
		if (v->be[i]->disc_draining)
			v->pols[i].state = LB_BE_DRAINING;
	}
	/* the live table may predate this process: treat it as published */
	v->ps.published = true;
	v->last = lb_policy_decide(&a->conf.policy, &v->ps, v->pols, v->n_be,
				   now, v->cur, v->out);
	for (size_t i = 0; i < v->n_be; i++) {
		ctl[i] = target_of(a, v, i, &v->last, now);
		write |= !is_live(&ctl[i], v->be[i]);
	}
	/* cluster mode: every host publishes the cluster's decision */
	if (write && !a->cluster)
		lb_agent_publish_vip(a, v, ctl);
}

/* Batch slots of b: the config's, else the engine's own figure, else 0
 * (unknown). */
static __u32 slots_of(const struct lb_agent_backend *b)
{
	const struct lb_agent_backend_conf *ac = lb_agent_backend_conf(b->conf);

	if (ac->slots)
		return ac->slots;
	if (b->sig.has_slots && b->sig.slots >= 1)
		return b->sig.slots >= LB_SLOTS_MAX ? LB_SLOTS_MAX : (__u32)b->sig.slots;
	return 0;
}

/* expected-wait's inputs of v's backends (speed.h) into b->slots and
 * b->slot_wait_ns. */
static void vip_slot_waits(const struct lb_agent *a, struct lb_agent_vip *v)
{
	struct lb_speed_in in[LB_VIP_LIST_MAX];
	uint64_t wait[LB_VIP_LIST_MAX];
	size_t n = v->n_be < LB_VIP_LIST_MAX ? v->n_be : LB_VIP_LIST_MAX;
	double len = lb_outlen_mean(&v->outlen, a->conf.policy.output_tokens_default);

	for (size_t i = 0; i < n; i++) {
		struct lb_agent_backend *b = v->be[i];

		b->slots = slots_of(b);
		in[i] = (struct lb_speed_in){ .tok_s = b->speed.tok_s,
					      .capacity = b->conf->capacity,
					      .slots = b->slots };
	}
	lb_speed_slot_wait(in, n, len, wait);
	for (size_t i = 0; i < n; i++)
		v->be[i]->slot_wait_ns = wait[i];
}

/*
 * What the datapath's load-aware policies read of every backend, written
 * field by field into the mapped lb_be_load: p2c's score
 * (lb_policy_p2c_score) with the flows-sent count the datapath adds to it
 * reset, and expected-wait's slots, slot wait and the requests the
 * worker serves beyond this balancer's flows.
 */
static void publish_load(struct lb_agent *a)
{
	struct lb_be_load *ld = lb_dp_load_map(&a->dp, NULL, 0);

	if (!ld)
		return;
	for (size_t i = 0; i < a->n_be; i++) {
		struct lb_agent_backend *b = &a->be[i];
		__u64 score = lb_policy_p2c_score(&b->sig, b->conf->capacity);

		__atomic_store_n(&ld[b->id].score, score, __ATOMIC_RELAXED);
		__atomic_store_n(&ld[b->id].sent, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&ld[b->id].slots, b->slots, __ATOMIC_RELAXED);
		__atomic_store_n(&ld[b->id].slot_wait_ns, b->slot_wait_ns,
				 __ATOMIC_RELAXED);
		/* stamped with its scrape's time: the datapath stops using
		 * it LB_ENGINE_LOAD_TTL_NS later */
		if (b->beyond_at_ms) {
			__atomic_store_n(&ld[b->id].engine_load, b->beyond,
					 __ATOMIC_RELAXED);
			__atomic_store_n(&ld[b->id].engine_load_ns,
					 b->beyond_at_ms * 1000000ull, __ATOMIC_RELAXED);
		}
	}
}

/* Advances lb_settings.tick, the clock of flow activity, once per tick. */
static void advance_tick(struct lb_agent *a, uint64_t now)
{
	__u32 tick = lb_tick_of_ms(now);
	char msg[128];

	if (now < a->next_tick_ms)
		return;
	a->next_tick_ms = (now / LB_TICK_MS + 1) * LB_TICK_MS;
	if (lb_dp_relock(&a->dp, msg, sizeof(msg)) ||
	    lb_tick_set(&a->dp, tick, msg, sizeof(msg))) {
		lb_dp_unlock(&a->dp);
		lb_agent_logf("advancing the flow clock failed: %s", msg);
		return;
	}
	lb_dp_unlock(&a->dp);
	if (!a->first_tick)
		a->first_tick = tick;
	a->tick = tick;
}

/*
 * The open counts from the flow tables, without the flows the datapath
 * cannot see end: evicted from the LRU tables, idle for flow_idle_ms (a
 * client gone without a FIN), or of a DOWN backend. Idleness counts only
 * once this process has advanced the clock for flow_idle_ms: before, a
 * flow's tick may be one a previous agent (or none) wrote.
 */
static void recount(struct lb_agent *a, uint64_t now)
{
	__u32 idle = (a->conf.policy.flow_idle_ms + LB_TICK_MS - 1) / LB_TICK_MS;
	__u32 since = a->first_tick && a->tick - a->first_tick >= idle ?
			      a->tick - idle : 0;
	uint64_t took;
	char msg[128];

	if (now < a->next_recount_ms)
		return;
	if (lb_open_recount(&a->dp, since, &a->flow_occ, msg, sizeof(msg)))
		lb_agent_logf("recounting open flows failed: %s", msg);
	took = lb_agent_now_ms() - now;
	a->recount_took_ms = took;
	a->next_recount_ms = now + (took * LB_RECOUNT_COST_FACTOR > LB_TICK_MS ?
				    took * LB_RECOUNT_COST_FACTOR : LB_TICK_MS);
}

static void decide(struct lb_agent *a, uint64_t now)
{
	struct lb_event tick = { .type = LB_EV_TICK };

	for (size_t i = 0; i < a->n_be; i++)
		step(a, &a->be[i], &tick, now);
	for (size_t i = 0; i < a->n_vips; i++)
		decide_vip(a, &a->vips[i], now);
	for (size_t i = 0; i < a->n_vips; i++)
		vip_slot_waits(a, &a->vips[i]);
	if (a->cluster)
		lb_cluster_offer(a->cluster, now);	/* to etcd, then back */
	else
		publish_load(a);
	advance_tick(a, now);
	recount(a, now);
	a->last_decide_ms = now;
	a->dirty = false;
}

/* First publication only once every backend answered (or timed out)
 * once: a restarted agent must not judge the fleet on no data. */
static bool first_round_complete(const struct lb_agent *a)
{
	for (size_t i = 0; i < a->n_be; i++)
		if (!a->be[i].polls)
			return false;
	return true;
}

/*
 * Cluster mode, once per step: starts the cluster's threads (here, after
 * capabilities were dropped, like the next-hop thread) and follows this
 * host's role. A host that becomes leader takes the live state as its
 * policy's starting point (adopt: the cluster's last decision is what its
 * maps hold) and, like a restarted agent, decides nothing before every
 * backend was polled once. Returns whether this host polls and decides.
 */
static bool cluster_step(struct lb_agent *a, uint64_t now)
{
	bool leads;
	char msg[256];

	if (!a->cluster)
		return true;
	if (lb_cluster_run(a->cluster, msg, sizeof(msg)))
		lb_agent_logf("cluster: %s", msg);	/* tried again next step */
	leads = lb_cluster_leads(a->cluster);
	if (leads == a->cluster_leads)
		return leads;
	pthread_mutex_lock(&a->mu);
	a->cluster_leads = leads;
	if (leads) {
		for (size_t i = 0; i < a->n_be; i++) {
			struct lb_agent_backend *b = &a->be[i];
			struct lb_backend live = { .weight = b->weight,
						   .state = b->state, .rate = b->rate };

			adopt(&a->conf, b, &live, now);
			b->polls = 0;
		}
		a->first_round_done = false;
		a->start_ms = now;
		a->next_round_ms = now;
	}
	pthread_mutex_unlock(&a->mu);
	return leads;
}

/* A follower polls nothing; its flow clock and open counts go on. */
static void follow(struct lb_agent *a, uint64_t now)
{
	if (now < a->last_decide_ms + a->conf.policy.poll_interval_ms)
		return;
	pthread_mutex_lock(&a->mu);
	advance_tick(a, now);
	recount(a, now);
	a->last_decide_ms = now;
	/* a follower announces too: the leader's decision is applied here */
	lb_agent_announce_step(a, now);
	pthread_mutex_unlock(&a->mu);
}

int lb_agent_step(struct lb_agent *a, int sig_fd, bool *sig_ready)
{
	bool leads;

	uint64_t now = lb_agent_now_ms();
	int wait, n;

	*sig_ready = false;
	/* Here rather than in lb_agent_start: main() drops capabilities in
	 * between, and a thread keeps the ones it was started with. */
	if (!a->nexthops && now >= a->next_nexthops_ms) {
		struct lb_nexthops *nh;
		char msg[256];

		nh = lb_nexthops_start(a, msg, sizeof(msg));
		if (!nh) {
			lb_agent_logf("next hops are not followed: %s", msg);
			a->next_nexthops_ms = now + LB_NH_PERIOD_MS;
		}
		pthread_mutex_lock(&a->mu);
		a->nexthops = nh;
		pthread_mutex_unlock(&a->mu);
	}
	leads = cluster_step(a, now);
	lb_discovery_run(a->disc);	/* idem; here for the same reason */
	if (now >= a->next_round_ms) {
		pthread_mutex_lock(&a->mu);
		if (lb_discovery_step(a->disc, now)) {
			char msg[256];

			if (run_topology(a, &a->conf, true, msg, sizeof(msg))) {
				lb_agent_logf("applying what discovery found failed "
					      "(tried again next round): %s", msg);
				lb_discovery_retry(a->disc);
			}
		}
		if (a->need_reconcile) {
			char msg[256];

			a->need_reconcile = false;
			if (apply_locked(a, &a->conf, &a->eff, false, msg,
					 sizeof(msg)))
				lb_agent_logf("reconciling the maps failed: %s", msg);
		}
		if (leads)
			start_round(a, now);
		heartbeat(a);
		a->next_round_ms += a->conf.policy.poll_interval_ms;
		if (a->next_round_ms <= now)	/* fell behind: no burst */
			a->next_round_ms = now + a->conf.policy.poll_interval_ms;
		pthread_mutex_unlock(&a->mu);
	}
	wait = (int)(a->next_round_ms - now);
	if (a->dirty && wait > DECIDE_GAP_MS)
		wait = DECIDE_GAP_MS;
	n = lb_poller_run(a->poller, wait > 0 ? wait : 0, sig_fd, sig_ready);
	if (n < 0)
		return n;
	now = lb_agent_now_ms();
	if (!leads) {
		follow(a, now);
		return 0;
	}
	pthread_mutex_lock(&a->mu);
	if (!a->first_round_done &&
	    (first_round_complete(a) ||
	     now >= a->start_ms + a->conf.request_timeout_ms +
			    a->conf.policy.poll_interval_ms))
		a->first_round_done = true;
	if (a->first_round_done && a->dirty &&
	    now >= a->last_decide_ms + DECIDE_GAP_MS)
		decide(a, now);
	else if (a->first_round_done && now >= a->last_decide_ms +
						   a->conf.policy.poll_interval_ms)
		decide(a, now);	/* timers (ejection, staleness) move on */
	if (a->first_round_done)
		lb_agent_announce_step(a, now);
	pthread_mutex_unlock(&a->mu);
	return 0;
}
