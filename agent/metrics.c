// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * metrics.c - lb-agent's own /metrics in the Prometheus text format: what
 * it scraped and decided per backend, how its polls went, and the
 * datapath's counters from the maps, so one scrape covers the balancer.
 *
 * Label values are VIP and backend addresses as lbctl prints them; they
 * contain no character that needs escaping except in IPv6 brackets,
 * which are legal in label values.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>

#include "agent.h"
#include "lb_addr.h"
#include "lb_names.h"
#include "lb_ops.h"
#include "lb_stats.h"
#include "cluster.h"
#include "metrics.h"
#include "nexthops.h"

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* {vip="...",backend="..."} of b */
static void labels(char *buf, size_t len, const struct lb_agent_backend *b)
{
	char v[80], a[64];

	snprintf(buf, len, "vip=\"%s\",backend=\"%s\"",
		 lb_fmt_vip(&b->vip->conf->key, v, sizeof(v)),
		 lb_fmt_ip(b->conf->addr, b->conf->family, a, sizeof(a)));
}

typedef double (*be_value)(const struct lb_agent *a,
			   const struct lb_agent_backend *b);

static void be_gauge(FILE *f, const struct lb_agent *a, const char *name,
		     const char *type, const char *help, be_value fn)
{
	char l[200];

	family(f, name, type, help);
	for (size_t i = 0; i < a->n_be; i++) {
		labels(l, sizeof(l), &a->be[i]);
		fprintf(f, "%s{%s} %.17g\n", name, l, fn(a, &a->be[i]));
	}
}

/* The signals are NaN when the engine does not report one (TGI has no
 * KV signal): Prometheus' way to say "no value". */
static double v_waiting(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->sig.has_waiting ? b->sig.waiting : NAN;
}

static double v_running(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->sig.has_running ? b->sig.running : NAN;
}

static double v_kv(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->sig.has_kv ? b->sig.kv_use : NAN;
}

static double v_headroom(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->pol.headroom;
}

static double v_weight(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->weight;
}

static double v_rate(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->rate;
}

static double v_capacity(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->conf->capacity;
}

static double v_early(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return (double)b->early_polls;
}

static double v_polls(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return (double)b->polls;
}

static double v_xid(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->xid;
}

/* expected-wait's inputs (speed.h): NaN while unknown */
static double v_speed(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->speed.tok_s > 0 ? b->speed.tok_s : NAN;
}

static double v_slots(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->slots ? (double)b->slots : NAN;
}

static double v_slot_wait(const struct lb_agent *a, const struct lb_agent_backend *b)
{
	(void)a;
	return b->slot_wait_ns ? (double)b->slot_wait_ns / 1e9 : NAN;
}

/* Open flows, from the datapath snapshot (NaN: not in it). */
static void be_open_flows(FILE *f, const struct lb_agent *a,
			  const struct lb_stats *st)
{
	char l[200];

	family(f, "inferlb_backend_open_flows", "gauge",
	       "Open flows in the datapath (new - closed, recounted without idle flows and those of DOWN backends).");
	for (size_t i = 0; i < a->n_be; i++) {
		const struct lb_stats_backend *b =
			st ? lb_stats_backend(st, a->be[i].id) : NULL;

		labels(l, sizeof(l), &a->be[i]);
		fprintf(f, "inferlb_backend_open_flows{%s} %.17g\n", l,
			b ? (double)b->open_flows : NAN);
	}
}

/* The operator's overrides the agent leaves alone (lbctl set-weight /
 * backend state until `lbctl backend release`), from the datapath
 * snapshot: 1 per overridden field (of="weight" / "state"). */
static void be_overrides(FILE *f, const struct lb_agent *a,
			 const struct lb_stats *st)
{
	char l[200];

	family(f, "inferlb_backend_override", "gauge",
	       "1 while an operator's override (lbctl set-weight / backend state) holds this field; the agent leaves it alone.");
	for (size_t i = 0; i < a->n_be; i++) {
		const struct lb_stats_backend *b =
			st ? lb_stats_backend(st, a->be[i].id) : NULL;

		labels(l, sizeof(l), &a->be[i]);
		fprintf(f, "inferlb_backend_override{%s,of=\"weight\"} %.17g\n", l,
			b ? !!(b->override & LB_BACKEND_F_OVR_WEIGHT) : NAN);
		fprintf(f, "inferlb_backend_override{%s,of=\"state\"} %.17g\n", l,
			b ? !!(b->override & LB_BACKEND_F_OVR_STATE) : NAN);
	}
}

static void be_bad_metrics(FILE *f, const struct lb_agent *a)
{
	char l[200];

	family(f, "inferlb_backend_bad_metrics_total", "counter",
	       "Scrapes refused for values no engine means, by reason (the backend keeps its last good signals until they go stale).");
	for (size_t i = 0; i < a->n_be; i++) {
		labels(l, sizeof(l), &a->be[i]);
		for (int r = LB_BAD_METRICS_NONE + 1; r < LB_BAD_METRICS_COUNT; r++)
			fprintf(f, "inferlb_backend_bad_metrics_total{%s,reason=\"%s\"} %llu\n",
				l, lb_bad_metrics_name(r),
				(unsigned long long)a->be[i].bad_metrics[r]);
	}
}

/* Where each backend came from: the file, or a discovery source. */
static void be_origins(FILE *f, const struct lb_agent *a)
{
	char l[200];

	family(f, "inferlb_backend_origin", "gauge",
	       "1 per backend, labelled with where it came from: file, or the discovery source (dns:NAME, etcd:PREFIX).");
	for (size_t i = 0; i < a->n_be; i++) {
		labels(l, sizeof(l), &a->be[i]);
		fprintf(f, "inferlb_backend_origin{%s,origin=\"%s\"} 1\n", l,
			a->be[i].conf->origin ? a->be[i].conf->origin : "file");
	}
}

static void be_states(FILE *f, const struct lb_agent *a)
{
	char l[200];

	family(f, "inferlb_backend_state", "gauge",
	       "Backend state published to the datapath (1 for the current one).");
	for (size_t i = 0; i < a->n_be; i++) {
		labels(l, sizeof(l), &a->be[i]);
		for (__u8 s = 0; s <= LB_BE_STATE_MAX; s++)
			fprintf(f, "inferlb_backend_state{%s,state=\"%s\"} %d\n", l,
				lb_state_name(s), a->be[i].state == s);
	}
}

static void be_probes(FILE *f, const struct lb_agent *a)
{
	static const char *const kinds[] = { "health", "metrics", "dcgm" };
	static const char *const why[] = { "ok", "refused", "timeout", "error",
					   "bad_answer" };
	char l[200];

	family(f, "inferlb_poll_latency_seconds", "gauge",
	       "Latency of the last request to each backend endpoint.");
	for (size_t i = 0; i < a->n_be; i++) {
		labels(l, sizeof(l), &a->be[i]);
		for (int k = 0; k < LB_PROBE_KINDS; k++)
			if (a->be[i].probe[k].target >= 0)
				fprintf(f, "inferlb_poll_latency_seconds{%s,endpoint=\"%s\"} %.6f\n",
					l, kinds[k],
					a->be[i].probe[k].last_latency_ms / 1000);
	}
	family(f, "inferlb_poll_requests_total", "counter",
	       "Requests to backend endpoints, by result.");
	for (size_t i = 0; i < a->n_be; i++) {
		labels(l, sizeof(l), &a->be[i]);
		for (int k = 0; k < LB_PROBE_KINDS; k++) {
			const struct lb_probe *p = &a->be[i].probe[k];

			if (p->target < 0)
				continue;
			fprintf(f, "inferlb_poll_requests_total{%s,endpoint=\"%s\",result=\"ok\"} %llu\n",
				l, kinds[k], (unsigned long long)p->ok);
			for (int r = LB_FETCH_REFUSED; r <= LB_FETCH_ERROR + 1; r++)
				fprintf(f, "inferlb_poll_requests_total{%s,endpoint=\"%s\",result=\"%s\"} %llu\n",
					l, kinds[k], why[r],
					(unsigned long long)p->errors[r]);
		}
	}
}

static void agent_self(FILE *f, const struct lb_agent *a)
{
	/* the generation lbctl show prints: a counter, hence _total */
	family(f, "inferlb_agent_publications_total", "counter",
	       "Publications of weights and states to the datapath, over agent restarts (lbctl show's agent generation).");
	fprintf(f, "inferlb_agent_publications_total %llu\n",
		(unsigned long long)a->status.generation);
	family(f, "inferlb_agent_publish_errors_total", "counter",
	       "Publications that failed.");
	fprintf(f, "inferlb_agent_publish_errors_total %llu\n",
		(unsigned long long)a->publish_errors);
	family(f, "inferlb_agent_poll_rounds_total", "counter",
	       "Poll rounds started.");
	fprintf(f, "inferlb_agent_poll_rounds_total %llu\n",
		(unsigned long long)a->rounds);
	family(f, "inferlb_agent_flow_recount_seconds", "gauge",
	       "How long the last open-flow recount from the flow tables took.");
	fprintf(f, "inferlb_agent_flow_recount_seconds %.3f\n",
		(double)a->recount_took_ms / 1000);
	family(f, "inferlb_agent_config_loads_total", "counter",
	       "Config loads (start and SIGHUP), by result.");
	fprintf(f, "inferlb_agent_config_loads_total{result=\"ok\"} %llu\n",
		(unsigned long long)a->reload_ok);
	fprintf(f, "inferlb_agent_config_loads_total{result=\"refused\"} %llu\n",
		(unsigned long long)a->reload_failed);
	family(f, "inferlb_vip_table_rebuilds_total", "counter",
	       "Maglev tables this agent rebuilt and published, per VIP.");
	for (size_t i = 0; i < a->n_vips; i++) {
		char v[80];

		fprintf(f, "inferlb_vip_table_rebuilds_total{vip=\"%s\"} %llu\n",
			lb_fmt_vip(&a->vips[i].conf->key, v, sizeof(v)),
			(unsigned long long)a->vips[i].rebuilds);
	}
	family(f, "inferlb_vip_panic", "gauge",
	       "1 while too few backends are available and the VIP fails open.");
	for (size_t i = 0; i < a->n_vips; i++) {
		char v[80];

		fprintf(f, "inferlb_vip_panic{vip=\"%s\"} %d\n",
			lb_fmt_vip(&a->vips[i].conf->key, v, sizeof(v)),
			a->vips[i].last.panic);
	}
}

/* A gauge of the seconds since ms_then (a monotonic ms stamp; 0: never,
 * which is NaN). */
static void age_gauge(FILE *f, const char *name, const char *help,
		      uint64_t now_ms, uint64_t ms_then)
{
	family(f, name, "gauge", help);
	if (ms_then)
		fprintf(f, "%s %.3f\n", name, (double)(now_ms - ms_then) / 1000);
	else
		fprintf(f, "%s NaN\n", name);
}

/* Cluster mode (cluster.c): nothing when it is off. */
static void cluster_metrics(FILE *f, struct lb_cluster *c)
{
	struct lb_cluster_stats s;
	uint64_t now = lb_agent_now_ms();

	if (!c)
		return;
	lb_cluster_get_stats(c, &s);
	family(f, "inferlb_cluster_leader", "gauge",
	       "1 while this host is the cluster's leader (it polls and decides).");
	fprintf(f, "inferlb_cluster_leader %d\n", s.role == LB_CLUSTER_LEADER);
	family(f, "inferlb_cluster_etcd_up", "gauge",
	       "1 while etcd answered within the lease TTL; 0: the host keeps its last decision.");
	fprintf(f, "inferlb_cluster_etcd_up %d\n", s.etcd_up);
	family(f, "inferlb_cluster_generation", "gauge",
	       "Generation of the cluster decision applied on this host.");
	fprintf(f, "inferlb_cluster_generation %llu\n", (unsigned long long)s.generation);
	age_gauge(f, "inferlb_cluster_decision_age_seconds",
		  "Time since this host applied a cluster decision (NaN: none yet).",
		  now, s.applied_ms);
	age_gauge(f, "inferlb_cluster_etcd_contact_age_seconds",
		  "Time since etcd last answered this host (NaN: never).",
		  now, s.contact_ms);
	family(f, "inferlb_cluster_etcd_errors_total", "counter",
	       "etcd calls that failed (unreachable, timeout, refused).");
	fprintf(f, "inferlb_cluster_etcd_errors_total %llu\n", (unsigned long long)s.etcd_errors);
	family(f, "inferlb_cluster_decisions_refused_total", "counter",
	       "Cluster decisions refused (corrupt, foreign, older, not fitting this host's config).");
	fprintf(f, "inferlb_cluster_decisions_refused_total %llu\n", (unsigned long long)s.refused);
	family(f, "inferlb_cluster_decisions_written_total", "counter",
	       "Cluster decisions this host wrote to etcd as the leader.");
	fprintf(f, "inferlb_cluster_decisions_written_total %llu\n", (unsigned long long)s.writes);
}

/* One family of lb_refusals' VIP fields: the reasons, or the outcomes. */
static void vip_refusals(FILE *f, const struct lb_agent *a,
			 const struct lb_stats *st, bool outcomes,
			 const char *name, const char *help)
{
	char v[80];

	family(f, name, "counter", help);
	for (size_t i = 0; i < a->n_vips; i++) {
		const struct lb_stats_vip *sv =
			st ? lb_stats_vip(st, a->vips[i].id) : NULL;

		for (size_t k = 0; sv && k < LB_REFUSAL_FIELDS; k++) {
			const struct lb_reason *r = &lb_refusal_fields[k];

			if (r->backend_only || r->outcome != outcomes)
				continue;
			fprintf(f, "%s{vip=\"%s\",%s=\"%s\"} %llu\n", name,
				lb_fmt_vip(&a->vips[i].conf->key, v, sizeof(v)),
				outcomes ? "outcome" : "reason", r->name,
				(unsigned long long)lb_reason_value(&sv->refused, r));
		}
	}
}

/* Datapath counters, summed over CPUs (st: the snapshot, NULL if the
 * maps could not be read). */
/* The flow tables' occupancy at the last recount: LRU tables evict their
 * least recently used flows when full, established ones included. */
static void flow_tables(FILE *f, const struct lb_agent *a)
{
	static const char *const table[2] = { "lb_flows4", "lb_flows6" };

	family(f, "inferlb_datapath_flow_table_entries", "gauge",
	       "Entries in the flow table at the agent's last recount (0 before it).");
	for (int t = 0; t < 2; t++)
		fprintf(f, "inferlb_datapath_flow_table_entries{table=\"%s\"} %llu\n",
			table[t], (unsigned long long)a->flow_occ.entries[t]);
	family(f, "inferlb_datapath_flow_table_capacity", "gauge",
	       "Size of the flow table (an LRU hash: full, it evicts flows).");
	for (int t = 0; t < 2; t++)
		fprintf(f, "inferlb_datapath_flow_table_capacity{table=\"%s\"} %llu\n",
			table[t], (unsigned long long)a->flow_occ.capacity[t]);
}

static void datapath(FILE *f, struct lb_agent *a, const struct lb_stats *st)
{
	static const char *const what[] = { "packets", "bytes", "new_flows" };
	char l[200], v[80];

	for (int k = 0; k < 3; k++) {
		char name[64];

		snprintf(name, sizeof(name), "inferlb_vip_%s_total", what[k]);
		family(f, name, "counter", "Forwarded per VIP (datapath).");
		for (size_t i = 0; i < a->n_vips; i++) {
			const struct lb_stats_vip *sv =
				st ? lb_stats_vip(st, a->vips[i].id) : NULL;
			__u64 val[3];

			if (!sv)
				continue;
			memcpy(val, &sv->c, sizeof(val));
			fprintf(f, "%s{vip=\"%s\"} %llu\n", name,
				lb_fmt_vip(&a->vips[i].conf->key, v, sizeof(v)),
				(unsigned long long)val[k]);
		}
		snprintf(name, sizeof(name), "inferlb_backend_%s_total", what[k]);
		family(f, name, "counter", "Forwarded per backend (datapath).");
		for (size_t i = 0; i < a->n_be; i++) {
			const struct lb_stats_backend *sb =
				st ? lb_stats_backend(st, a->be[i].id) : NULL;
			__u64 val[3];

			if (!sb)
				continue;
			memcpy(val, &sb->c, sizeof(val));
			labels(l, sizeof(l), &a->be[i]);
			fprintf(f, "%s{%s} %llu\n", name, l, (unsigned long long)val[k]);
		}
	}
	/* Reasons and outcomes are two families: each refused flow has one
	 * reason and one outcome, so a sum over either counts it once. */
	vip_refusals(f, a, st, false, "inferlb_vip_refused_total",
		     "New flows refused per VIP, by reason.");
	vip_refusals(f, a, st, true, "inferlb_vip_refusal_outcomes_total",
		     "What the VIP's refused new flows got (a RST, a drop, the plain choice under fail-open).");
	if (!st)
		return;
	family(f, "inferlb_datapath_packets_total", "counter",
	       "Packets passed or dropped by the datapath, by reason.");
	for (size_t i = 0; i < LB_GLOBAL_REASONS; i++)
		fprintf(f, "inferlb_datapath_packets_total{reason=\"%s\"} %llu\n",
			lb_global_reasons[i].name,
			(unsigned long long)lb_reason_value(&st->global,
							    &lb_global_reasons[i]));
}

void lb_agent_metrics(struct lb_agent *a, FILE *f)
{
	struct lb_stats snap;
	const struct lb_stats *st;

	pthread_mutex_lock(&a->mu);
	st = lb_stats_read(&a->dp, &snap) ? NULL : &snap;
	be_gauge(f, a, "inferlb_backend_waiting_requests", "gauge",
		 "Waiting requests scraped from the worker.", v_waiting);
	be_gauge(f, a, "inferlb_backend_running_requests", "gauge",
		 "Running requests scraped from the worker.", v_running);
	be_gauge(f, a, "inferlb_backend_kv_cache_usage", "gauge",
		 "KV-cache use scraped from the worker (0..1).", v_kv);
	be_gauge(f, a, "inferlb_backend_gpu_xid", "gauge",
		 "Last DCGM XID error of the worker's GPUs (0 = none).", v_xid);
	be_gauge(f, a, "inferlb_backend_headroom", "gauge",
		 "Smoothed headroom computed from the signals (0..1).", v_headroom);
	be_gauge(f, a, "inferlb_backend_capacity", "gauge",
		 "Configured relative capacity.", v_capacity);
	be_gauge(f, a, "inferlb_backend_decode_tokens_per_second", "gauge",
		 "Measured decode speed per running request, smoothed (NaN until measured).",
		 v_speed);
	be_gauge(f, a, "inferlb_backend_slots", "gauge",
		 "Batch slots expected-wait counts with (config, or the engine's; NaN unknown).",
		 v_slots);
	be_gauge(f, a, "inferlb_backend_slot_wait_seconds", "gauge",
		 "Published wait for one batch slot: output length / speed / slots (NaN unknown).",
		 v_slot_wait);
	be_gauge(f, a, "inferlb_backend_weight", "gauge",
		 "Weight in the VIP's live Maglev table (0..1000000).", v_weight);
	be_gauge(f, a, "inferlb_backend_new_flow_rate", "gauge",
		 "New-flow rate limit published (flows/s, 0 = none).", v_rate);
	be_open_flows(f, a, st);
	be_overrides(f, a, st);
	be_gauge(f, a, "inferlb_backend_polls_total", "counter",
		 "Completed polls of the worker.", v_polls);
	be_gauge(f, a, "inferlb_backend_early_polls_total", "counter",
		 "Polls started at once because the worker closed the kept connection or cut an answer.",
		 v_early);
	be_states(f, a);
	be_origins(f, a);
	be_bad_metrics(f, a);
	be_probes(f, a);
	agent_self(f, a);
	cluster_metrics(f, a->cluster);
	lb_nexthops_metrics(a->nexthops, f);
	lb_discovery_metrics(a->disc, f, lb_agent_now_ms());
	lb_agent_announce_metrics(a, f);
	datapath(f, a, st);
	flow_tables(f, a);
	pthread_mutex_unlock(&a->mu);
	if (st)
		lb_stats_free(&snap);
}
