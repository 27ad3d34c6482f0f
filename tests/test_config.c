/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_config.c - unit tests of the YAML config parsers (agent/config.c over
 * lib/lb_topo.c and lib/lb_yaml.c; lbctl's topology-only reading; the
 * host:port splitter of lib/lb_addr.c):
 * a full file field by field, defaults, and one case per error class with
 * its exact message (name:line:col: field: what). Fixtures are read from
 * tests/fixtures/config/, so run from the repository root.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "config.h"
#include "discover_conf.h"
#include "lb_announce.h"
#include "lb_addr.h"
#include "lb_apply.h"
#include "lb_topo.h"
#include "lb_ops.h"

#define FIX "tests/fixtures/config/"
#define EPS 1e-12
#define AB(b) lb_agent_backend_conf(b)

static const struct lb_agent_conf zero;

static void assert_zero(const struct lb_agent_conf *c)
{
	assert_memory_equal(c, &zero, sizeof(*c));
}

/* Parse text that must fail with rc and exactly msg (name "t.yaml"). */
static void expect_err(const char *text, int rc, const char *msg)
{
	struct lb_agent_conf c;
	char err[512];

	memset(&c, 0xa5, sizeof(c));	/* must be zeroed on error */
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", text, strlen(text), &c,
					  err, sizeof(err)), rc);
	assert_string_equal(err, msg);
	assert_zero(&c);
}

static void load_ok(const char *text, struct lb_agent_conf *c)
{
	char err[512] = "";
	int rc = lb_agent_conf_load_buf("t.yaml", text, strlen(text), c, err,
				  sizeof(err));

	if (rc)
		fail_msg("unexpected error %d: %s", rc, err);
}

static void check_ip(const __u8 addr[16], __u8 family, int af,
		     const char *want)
{
	__u8 buf[16] = { 0 };

	assert_int_equal(inet_pton(af, want, buf), 1);
	assert_memory_equal(addr, buf, 16);
	assert_int_equal(family, af == AF_INET6 ? LB_AF_INET6 : LB_AF_INET);
}

/* ---- valid files ----------------------------------------------------- */

static void test_full(void **state)
{
	const struct lb_topo_backend *b;
	const struct lb_topo_vip *v;
	struct lb_agent_conf c;
	char err[512] = "";

	(void)state;
	assert_int_equal(lb_agent_conf_load_file(FIX "full.yaml", &c, err,
					   sizeof(err)), 0);
	assert_string_equal(err, "");

	assert_string_equal(c.metrics_listen, "[::1]:9500");
	assert_string_equal(c.pin_dir, "/sys/fs/bpf/lbtest");
	assert_int_equal(c.request_timeout_ms, 2500);

	assert_int_equal(c.policy.poll_interval_ms, 50);
	assert_int_equal(c.policy.health_interval_ms, 250);
	assert_int_equal(c.policy.stale_ms, 200);
	assert_int_equal(c.policy.fail_threshold, 4);
	assert_int_equal(c.policy.eject_base_ms, 10000);
	assert_float_equal(c.policy.eject_backoff, 1.5, EPS);
	assert_int_equal(c.policy.eject_max_ms, 120000);
	assert_int_equal(c.policy.half_open_trials, 2);
	assert_int_equal(c.policy.slow_start_ms, 60000);
	assert_float_equal(c.policy.slow_start_aggression, 2.0, EPS);
	assert_float_equal(c.policy.slow_start_min, 0.2, EPS);
	assert_float_equal(c.policy.panic_frac, 0.4, EPS);
	assert_float_equal(c.policy.hysteresis, 0.1, EPS);
	assert_int_equal(c.policy.max_rebuilds_per_s, 5);
	assert_float_equal(c.policy.queue_sat, 8, EPS);
	assert_float_equal(c.policy.kv_sat, 0.9, EPS);
	assert_float_equal(c.policy.running_sat, 256, EPS);
	assert_float_equal(c.policy.ewma_down, 0.8, EPS);
	assert_float_equal(c.policy.ewma_up, 0.25, EPS);
	assert_float_equal(c.backend_rate_per_capacity, 50.5, EPS);
	assert_int_equal(c.backend_burst, 200);

	assert_int_equal(c.topo.n_vips, 2);
	v = &c.topo.vips[0];
	check_ip(v->key.addr, v->key.family, AF_INET, "198.18.1.10");
	assert_int_equal(ntohs(v->key.port), 8000);
	assert_int_equal(v->key.proto, IPPROTO_TCP);
	assert_int_equal(v->opts.mode, LB_FWD_L2DSR);
	assert_int_equal(v->opts.ring_size, 251);
	assert_int_equal(v->line, 29);
	assert_int_equal(v->n_backends, 5);

	b = &v->backends[0];
	check_ip(b->addr, b->family, AF_INET, "198.18.0.10");
	assert_int_equal(AB(b)->engine, LB_ENGINE_VLLM);
	assert_string_equal(AB(b)->metrics_url, "http://198.18.0.10:8000/metrics");
	assert_string_equal(AB(b)->health_url, "http://198.18.0.10:8000/health");
	assert_string_equal(AB(b)->dcgm_url, "");
	assert_float_equal(b->capacity, 2.5, EPS);
	assert_int_equal(lb_topo_static_weight(b), 250);
	assert_null(AB(b)->names.waiting);
	assert_int_equal(b->line, 33);

	b = &v->backends[1];
	check_ip(b->addr, b->family, AF_INET, "198.18.0.11");
	assert_int_equal(AB(b)->engine, LB_ENGINE_SGLANG);
	assert_string_equal(AB(b)->metrics_url, "https://198.18.0.11:30000/metrics");
	assert_string_equal(AB(b)->health_url, "https://198.18.0.11:30000/health");
	assert_string_equal(AB(b)->dcgm_url, "http://198.18.0.11:9400/metrics");
	assert_float_equal(b->capacity, 1.0, EPS);
	assert_int_equal(lb_topo_static_weight(b), LB_WEIGHT_DEFAULT);

	b = &v->backends[2];
	assert_int_equal(AB(b)->engine, LB_ENGINE_TGI);
	assert_string_equal(AB(b)->metrics_url, "http://198.18.0.12:80/metrics");
	assert_string_equal(AB(b)->health_url, "http://198.18.0.12:80/health");
	assert_float_equal(b->capacity, 0.5, EPS);
	assert_int_equal(lb_topo_static_weight(b), 50);

	b = &v->backends[3];
	assert_int_equal(AB(b)->engine, LB_ENGINE_TRITON);
	assert_string_equal(AB(b)->metrics_url, "http://198.18.0.13:8000/metrics");
	assert_string_equal(AB(b)->health_url,
			    "http://198.18.0.13:8000/v2/health/ready");

	b = &v->backends[4];
	assert_int_equal(AB(b)->engine, LB_ENGINE_GENERIC);
	assert_string_equal(AB(b)->metrics_url, "http://198.18.0.14:9000/metrics");
	assert_string_equal(AB(b)->health_url, "http://198.18.0.14:9000/ready");
	assert_string_equal(AB(b)->names.waiting, "my_queue_len");
	assert_string_equal(AB(b)->names.running, "my_running");
	assert_string_equal(AB(b)->names.kv, "my_kv_fraction");

	v = &c.topo.vips[1];
	check_ip(v->key.addr, v->key.family, AF_INET6, "2001:db8::10");
	assert_int_equal(ntohs(v->key.port), 8000);
	assert_int_equal(v->key.proto, IPPROTO_UDP);
	assert_int_equal(v->opts.mode, LB_FWD_IPIP);
	assert_int_equal(v->opts.ring_size, LB_RING_SIZE_DEFAULT);
	assert_int_equal(v->n_backends, 2);
	b = &v->backends[0];
	check_ip(b->addr, b->family, AF_INET6, "2001:db8::1");
	assert_int_equal(AB(b)->engine, LB_ENGINE_GENERIC);
	assert_null(AB(b)->names.waiting);
	assert_null(AB(b)->names.running);
	assert_string_equal(AB(b)->names.kv, "app:kv");
	assert_string_equal(AB(b)->health_url, "http://[2001:db8::1]:8000/health");
	b = &v->backends[1];
	check_ip(b->addr, b->family, AF_INET6, "2001:db8::2");
	assert_int_equal(AB(b)->engine, LB_ENGINE_VLLM);

	lb_agent_conf_free(&c);
	assert_zero(&c);
	lb_agent_conf_free(&c);	/* twice is fine */
	assert_zero(&c);
}

static void check_defaults(const struct lb_agent_conf *c)
{
	struct lb_policy_params p;

	lb_policy_params_default(&p);
	assert_string_equal(c->metrics_listen, LB_AGENT_METRICS_LISTEN_DEFAULT);
	assert_string_equal(c->pin_dir, LB_PIN_DIR_DEFAULT);
	assert_int_equal(c->request_timeout_ms,
			 LB_AGENT_REQUEST_TIMEOUT_DEFAULT);
	assert_memory_equal(&c->policy, &p, sizeof(p));
	assert_true(c->backend_rate_per_capacity == 0);
	assert_int_equal(c->backend_burst, 0);
	assert_false(c->prune);
	assert_int_equal(c->max_backend_delete_pct,
			 LB_APPLY_MAX_BACKEND_DELETE_PCT_DEFAULT);
}

static void test_minimal(void **state)
{
	const struct lb_topo_backend *b;
	struct lb_agent_conf c;
	char err[512];

	(void)state;
	assert_int_equal(lb_agent_conf_load_file(FIX "minimal.yaml", &c, err,
					   sizeof(err)), 0);
	check_defaults(&c);
	assert_int_equal(c.topo.n_vips, 1);
	assert_int_equal(c.topo.vips[0].opts.mode, LB_FWD_IPIP);
	assert_int_equal(c.topo.vips[0].opts.ring_size, LB_RING_SIZE_DEFAULT);
	assert_int_equal(c.topo.vips[0].n_backends, 1);
	b = &c.topo.vips[0].backends[0];
	assert_int_equal(AB(b)->engine, LB_ENGINE_VLLM);
	assert_float_equal(b->capacity, 1.0, EPS);
	assert_string_equal(AB(b)->metrics_url, "http://10.0.0.2:8000/metrics");
	assert_string_equal(AB(b)->health_url, "http://10.0.0.2:8000/health");
	assert_string_equal(AB(b)->dcgm_url, "");
	assert_int_equal(b->line, 4);
	/* backends the agent polls: its policy unless the file names one */
	assert_int_equal(c.topo.vips[0].opts.policy, LB_POL_EXPECTED_WAIT);
	lb_agent_conf_free(&c);
}

static void test_empty(void **state)
{
	static const char *const texts[] = {
		"", "# only a comment\n", "---\n", "~\n", "vips: []\n",
		"agent: {}\npolicy: {}\n", "agent:\npolicy: ~\nvips: null\n",

	};
	struct lb_agent_conf c;
	char err[512];
	size_t i;

	(void)state;
	assert_int_equal(lb_agent_conf_load_file(FIX "empty.yaml", &c, err,
					   sizeof(err)), 0);
	check_defaults(&c);
	assert_int_equal(c.topo.n_vips, 0);
	assert_null(c.topo.vips);
	lb_agent_conf_free(&c);
	assert_int_equal(lb_agent_conf_load_file(FIX "comments.yaml", &c, err,
					   sizeof(err)), 0);
	assert_int_equal(c.topo.n_vips, 0);
	lb_agent_conf_free(&c);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		load_ok(texts[i], &c);
		check_defaults(&c);
		assert_int_equal(c.topo.n_vips, 0);
		lb_agent_conf_free(&c);
	}
	/* NULL buffer of length 0 too */
	assert_int_equal(lb_agent_conf_load_buf("x", NULL, 0, &c, err, sizeof(err)),
			 0);
	lb_agent_conf_free(&c);
}

static void test_small_values(void **state)
{
	struct lb_agent_conf c;

	(void)state;
	load_ok("agent:\n  metrics_listen: \"off\"\n", &c);
	assert_string_equal(c.metrics_listen, "");
	lb_agent_conf_free(&c);
	load_ok("agent: {metrics_listen: 0.0.0.0:1, metrics_insecure: true}\n",
		&c);
	assert_string_equal(c.metrics_listen, "0.0.0.0:1");
	lb_agent_conf_free(&c);
	/* quoted numbers, exponent, largest u32, ring bounds */
	load_ok("policy: {queue_sat: '1e1', backend_burst: 4294967295}\n"
		"vips:\n"
		"- {address: 1.2.3.4:1/udp, ring_size: 7}\n"
		"- {address: 1.2.3.4:1/tcp, ring_size: 1048573}\n", &c);
	assert_float_equal(c.policy.queue_sat, 10, EPS);
	assert_int_equal(c.backend_burst, 4294967295u);
	assert_int_equal(c.topo.n_vips, 2);
	assert_int_equal(c.topo.vips[0].opts.ring_size, 7);
	assert_int_equal(c.topo.vips[0].n_backends, 0);
	assert_int_equal(c.topo.vips[1].opts.ring_size, 1048573);
	lb_agent_conf_free(&c);
	/* "backends:" left empty: no backends */
	load_ok("vips:\n- address: 1.2.3.4:1/tcp\n  backends:\n", &c);
	assert_int_equal(c.topo.n_vips, 1);
	assert_int_equal(c.topo.vips[0].n_backends, 0);
	assert_null(c.topo.vips[0].backends);
	lb_agent_conf_free(&c);
	/* same address in two VIPs is fine; dcgm_url "" = none */
	load_ok("vips:\n"
		"- address: 1.2.3.4:1/tcp\n"
		"  backends: [{address: 5.6.7.8, url: 'http://h', dcgm_url: ''}]\n"
		"- address: 1.2.3.4:2/tcp\n"
		"  backends: [{address: 5.6.7.8, url: 'http://h',"
		" capacity: 1000}]\n", &c);
	assert_string_equal(AB(&c.topo.vips[0].backends[0])->dcgm_url, "");
	assert_string_equal(AB(&c.topo.vips[0].backends[0])->metrics_url,
			    "http://h/metrics");
	assert_int_equal(lb_topo_static_weight(&c.topo.vips[1].backends[0]),
			 100000);
	lb_agent_conf_free(&c);
}

static void test_static_weight(void **state)
{
	struct lb_topo_backend b = { .capacity = 0.001 };

	(void)state;
	assert_int_equal(lb_topo_static_weight(&b), 1);
	b.capacity = 0.015;
	assert_int_equal(lb_topo_static_weight(&b), 2);
	b.capacity = 1.234;
	assert_int_equal(lb_topo_static_weight(&b), 123);
	b.capacity = 1e9;
	assert_int_equal(lb_topo_static_weight(&b), 1000000);
	b.capacity = NAN;
	assert_int_equal(lb_topo_static_weight(&b), 1);
}

/* ---- errors from files ----------------------------------------------- */

static void expect_file_err(const char *path, int rc, const char *msg)
{
	struct lb_agent_conf c;
	char err[512];

	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(lb_agent_conf_load_file(path, &c, err, sizeof(err)), rc);
	assert_string_equal(err, msg);
	assert_zero(&c);
}

static void test_file_errors(void **state)
{
	(void)state;
	expect_file_err(FIX "bad_capacity.yaml", -EINVAL,
			FIX "bad_capacity.yaml:8:19: "
			"vips[0].backends[1].capacity: must be a number in "
			"(0, 1000], got \"fast\"");
	expect_file_err(FIX "bad_syntax.yaml", -EINVAL,
			FIX "bad_syntax.yaml:3:2: (top): YAML syntax: did not "
			"find expected key while parsing a block mapping");
	expect_file_err(FIX "bad_policy.yaml", -EINVAL,
			FIX "bad_policy.yaml:2:3: policy.stale_ms: must be >= "
			"poll_interval_ms; the default does not fit the "
			"values given");
	expect_file_err(FIX "nope.yaml", -ENOENT,
			FIX "nope.yaml: cannot open: No such file or "
			"directory");
}

/* ---- errors from buffers: one per class ------------------------------ */

static void test_err_structure(void **state)
{
	(void)state;
	expect_err("- a\n- b\n", -EINVAL,
		   "t.yaml:1:1: (top): must be a mapping, got a sequence");
	expect_err("hello\n", -EINVAL,
		   "t.yaml:1:1: (top): must be a mapping, got a scalar");
	expect_err("a: 1\n---\nb: 2\n", -EINVAL,
		   "t.yaml:2:1: (top): only one YAML document is allowed");
	expect_err("agent: [1]\n", -EINVAL,
		   "t.yaml:1:8: agent: must be a mapping, got a sequence");
	expect_err("agent: x\n", -EINVAL,
		   "t.yaml:1:8: agent: must be a mapping, got a scalar");
	expect_err("agent: ''\n", -EINVAL,
		   "t.yaml:1:8: agent: must be a mapping, got a scalar");
	expect_err("vips: {}\n", -EINVAL,
		   "t.yaml:1:7: vips: must be a sequence, got a mapping");
	expect_err("vips: [1.2.3.4:1/tcp]\n", -EINVAL,
		   "t.yaml:1:8: vips[0]: must be a mapping, got a scalar");
	expect_err("vips: [{address: 1.2.3.4:1/tcp, backends: x}]\n", -EINVAL,
		   "t.yaml:1:43: vips[0].backends: must be a sequence, got a "
		   "scalar");
	expect_err("agent: {pin_dir: [a]}\n", -EINVAL,
		   "t.yaml:1:18: agent.pin_dir: must be a string, got a "
		   "sequence");
	expect_err("{[a]: 1}\n", -EINVAL,
		   "t.yaml:1:2: (top): keys must be plain strings");
	expect_err("a: [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]\n", -E2BIG,
		   "t.yaml:1:19: (top): nested deeper than 16 levels");
}

static void test_err_syntax(void **state)
{
	(void)state;
	expect_err("a: [1, 2\n", -EINVAL,
		   "t.yaml:2:1: (top): YAML syntax: did not find expected ',' "
		   "or ']' while parsing a flow sequence");
	expect_err("agent:\n  pin_dir: /a\xff\n", -EINVAL,
		   "t.yaml:2:14: (top): YAML syntax: invalid leading UTF-8 "
		   "octet");
	expect_err("agent:\n\tpin_dir: /a\n", -EINVAL,
		   "t.yaml:2:1: (top): YAML syntax: found character that "
		   "cannot start any token while scanning for the next token");
	expect_err("agent: \"a\nb\"\n", -EINVAL,
		   "t.yaml:1:8: agent: must be a mapping, got a scalar");
	expect_err("a: \"x\\q\"\n", -EINVAL,
		   "t.yaml:1:6: (top): YAML syntax: found unknown escape "
		   "character while parsing a quoted scalar");
}

static void test_err_anchor_tag(void **state)
{
	(void)state;
	expect_err("agent: &a {pin_dir: /x}\npolicy: *a\n", -EINVAL,
		   "t.yaml:1:8: (top): YAML anchors (&) are not supported");
	expect_err("agent: {pin_dir: !!str /x}\n", -EINVAL,
		   "t.yaml:1:18: (top): YAML tags (!) are not supported");
	expect_err("vips: !x []\n", -EINVAL,
		   "t.yaml:1:7: (top): YAML tags (!) are not supported");
}

/* announce: defaults, values, and a table or protocol that cannot be
 * ours refused with the reason */
static void test_announce_section(void **state)
{
	const char *ok = "announce: {enabled: true, table: 100, protocol: 200, "
			 "interval_ms: 500, drain_ms: 1500}\n";
	struct lb_agent_conf c;
	char err[512];

	(void)state;
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", "vips: []\n", 9, &c, err,
						sizeof(err)), 0);
	assert_false(c.announce.enabled);
	assert_int_equal(c.announce.table, LB_ANNOUNCE_TABLE_DEFAULT);
	assert_int_equal(c.announce.proto, LB_ANNOUNCE_PROTO_DEFAULT);
	assert_int_equal(c.announce.drain_ms, 0);
	lb_agent_conf_free(&c);
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", ok, strlen(ok), &c, err,
						sizeof(err)), 0);
	assert_true(c.announce.enabled);
	assert_int_equal(c.announce.table, 100);
	assert_int_equal(c.announce.proto, 200);
	assert_int_equal(c.announce.interval_ms, 500);
	assert_int_equal(c.announce.drain_ms, 1500);
	lb_agent_conf_free(&c);
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", "announce: {table: 254}\n",
						23, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "announce.table: routing table 254 is the host's main table"));
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", "announce: {protocol: 186}\n",
						26, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "announce.protocol: routing protocol 186 is bgp (FRR)"));
}

static void test_err_unknown_dup(void **state)
{
	(void)state;
	expect_err("agents: {}\n", -EINVAL,
		   "t.yaml:1:1: (top): unknown key \"agents\"; expected one "
		   "of: agent, policy, cluster, announce, vips");
	expect_err("agent:\n  pin_dir: /a\n  pin_dir: /b\n", -EINVAL,
		   "t.yaml:3:3: agent.pin_dir: duplicate key (first at line "
		   "2)");
	expect_err("policy: {stale: 1}\n", -EINVAL,
		   "t.yaml:1:10: policy: unknown key \"stale\"; expected one "
		   "of: poll_interval_ms, health_interval_ms, stale_ms, fail_threshold, "
		   "eject_base_ms, eject_backoff, eject_max_ms, "
		   "half_open_trials, slow_start_ms, slow_start_aggression, "
		   "slow_start_min, panic_frac, hysteresis, "
		   "max_rebuilds_per_s, queue_sat, kv_sat, running_sat, "
		   "ewma_down, ewma_up, load_floor, flow_idle_ms, speed_ewma, "
		   "output_tokens_default, backend_rate_per_capacity, "
		   "backend_burst");
	expect_err("vips:\n- address: 1.2.3.4:1/tcp\n  backends:\n"
		   "  - {address: 1.1.1.1, url: 'http://a', weight: 3}\n",
		   -EINVAL,
		   "t.yaml:4:41: vips[0].backends[0]: unknown key \"weight\"; "
		   "expected one of: address, capacity, engine, url, "
		   "metrics_url, health_url, dcgm_url, metrics, slots");
	expect_err("vips: [{address: 1.2.3.4:1/tcp, address: 1.2.3.4:2/tcp}]\n",
		   -EINVAL,
		   "t.yaml:1:33: vips[0].address: duplicate key (first at "
		   "line 1)");
}

static void test_err_empty_required(void **state)
{
	(void)state;
	expect_err("vips: [{mode: ipip}]\n", -EINVAL,
		   "t.yaml:1:8: vips[0].address: is required");
	expect_err("vips: [{address: ''}]\n", -EINVAL,
		   "t.yaml:1:18: vips[0].address: must not be empty");
	expect_err("vips: [{address: 1.2.3.4:1/tcp, backends: [{url: 'http://a'}]}]\n",
		   -EINVAL,
		   "t.yaml:1:44: vips[0].backends[0].address: is required");
	expect_err("agent: {pin_dir: \"\"}\n", -EINVAL,
		   "t.yaml:1:18: agent.pin_dir: must not be empty");
	expect_err("agent: {pin_dir: \"/a\\0b\"}\n", -EINVAL,
		   "t.yaml:1:18: agent.pin_dir: must not contain NUL bytes");
}

static void test_err_addresses(void **state)
{
	(void)state;
	expect_err("vips: [{address: 1.2.3.4:80}]\n", -EINVAL,
		   "t.yaml:1:18: vips[0].address: '1.2.3.4:80' is not a VIP; "
		   "expected ADDR:PORT/tcp|udp, e.g. 198.18.0.10:80/tcp or "
		   "[2001:db8::10]:8000/tcp");
	expect_err("vips:\n- address: 1.2.3.4:1/tcp\n- address: 1.2.3.4:1/tcp\n",
		   -EINVAL,
		   "t.yaml:3:12: vips[1].address: duplicate VIP (first at "
		   "line 2)");
	expect_err("vips:\n- address: 1.2.3.4:1/tcp\n  backends:\n"
		   "  - {address: 10.0.0.1, url: 'http://a'}\n"
		   "  - {address: 10.0.0.1, url: 'http://b'}\n", -EINVAL,
		   "t.yaml:5:15: vips[0].backends[1].address: duplicate "
		   "backend in this VIP (first at line 4)");
	expect_err("vips:\n- address: 1.2.3.4:1/tcp\n  backends:\n"
		   "  - {address: '2001:db8::1', url: 'http://a'}\n", -EINVAL,
		   "t.yaml:4:15: vips[0].backends[0].address: is an IPv6 "
		   "address but the VIP is IPv4");
	expect_err("vips:\n- address: 1.2.3.4:1/tcp\n  backends:\n"
		   "  - {address: host1, url: 'http://a'}\n", -EINVAL,
		   "t.yaml:4:15: vips[0].backends[0].address: 'host1' is not "
		   "an IPv4 or IPv6 address");
}

static void test_err_ring_mode_engine(void **state)
{
	(void)state;
	expect_err("vips: [{address: 1.2.3.4:1/tcp, ring_size: 65536}]\n",
		   -EINVAL,
		   "t.yaml:1:44: vips[0].ring_size: must be a prime in "
		   "[7, 1048573], got \"65536\"");
	expect_err("vips: [{address: 1.2.3.4:1/tcp, ring_size: 5}]\n",
		   -EINVAL,
		   "t.yaml:1:44: vips[0].ring_size: must be a prime in "
		   "[7, 1048573], got \"5\"");
	expect_err("vips: [{address: 1.2.3.4:1/tcp, ring_size: 1048583}]\n",
		   -EINVAL,
		   "t.yaml:1:44: vips[0].ring_size: must be a prime in "
		   "[7, 1048573], got \"1048583\"");
	expect_err("vips: [{address: 1.2.3.4:1/tcp, mode: nat}]\n", -EINVAL,
		   "t.yaml:1:39: vips[0].mode: must be ipip or l2dsr, got "
		   "\"nat\"");
	expect_err("vips: [{address: 1.2.3.4:1/tcp, backends: [{address: "
		   "1.1.1.1, url: 'http://a', engine: ollama}]}]\n", -EINVAL,
		   "t.yaml:1:88: vips[0].backends[0].engine: must be vllm, "
		   "sglang, tgi, triton or generic, got \"ollama\"");
}

/* one backend whose agent keys lb-agent refuses (engine) */
#define ONE_BACKEND_TOPO "vips: [{address: 1.2.3.4:1/tcp, backends: " \
	"[{address: 1.1.1.1, engine: ollama, metrics: x}]}]\n"
#define ONE_BACKEND "vips: [{address: 1.2.3.4:1/tcp, backends: [{address: 1.1.1.1, "

static void test_err_generic(void **state)
{
	(void)state;
	expect_err(ONE_BACKEND "url: 'http://a', engine: generic}]}]\n",
		   -EINVAL,
		   "t.yaml:1:44: vips[0].backends[0].metrics: is required "
		   "with engine: generic (at least one of waiting, running, "
		   "kv)");
	expect_err(ONE_BACKEND "url: 'http://a', engine: generic, metrics: "
		   "{}}]}]\n", -EINVAL,
		   "t.yaml:1:106: vips[0].backends[0].metrics: needs at least "
		   "one of waiting, running, kv");
	expect_err(ONE_BACKEND "url: 'http://a', metrics: {kv: x}}]}]\n",
		   -EINVAL,
		   "t.yaml:1:89: vips[0].backends[0].metrics: only allowed "
		   "with engine: generic (engine is vllm)");
	expect_err(ONE_BACKEND "url: 'http://a', engine: generic, metrics: "
		   "{kv: 'a b'}}]}]\n", -EINVAL,
		   "t.yaml:1:111: vips[0].backends[0].metrics.kv: must be a "
		   "Prometheus metric name, got \"a b\"");
	expect_err(ONE_BACKEND "url: 'http://a', engine: generic, metrics: "
		   "{kv: a, kv: b}}]}]\n", -EINVAL,
		   "t.yaml:1:114: vips[0].backends[0].metrics.kv: duplicate "
		   "key (first at line 1)");
}

static void test_err_urls(void **state)
{
	char *text, *big;
	size_t n;

	(void)state;
	expect_err(ONE_BACKEND "url: 'ftp://a'}]}]\n", -EINVAL,
		   "t.yaml:1:68: vips[0].backends[0].url: must be an http:// "
		   "or https:// URL shorter than 512 bytes, got \"ftp://a\"");
	expect_err(ONE_BACKEND "health_url: 'http://a/h'}]}]\n", -EINVAL,
		   "t.yaml:1:44: vips[0].backends[0]: needs url, or both "
		   "metrics_url and health_url (missing metrics_url)");
	expect_err(ONE_BACKEND "metrics_url: 'http://a/m'}]}]\n", -EINVAL,
		   "t.yaml:1:44: vips[0].backends[0]: needs url, or both "
		   "metrics_url and health_url (missing health_url)");
	expect_err(ONE_BACKEND "capacity: 2}]}]\n", -EINVAL,
		   "t.yaml:1:44: vips[0].backends[0]: needs url, or both "
		   "metrics_url and health_url (missing metrics_url and "
		   "health_url)");
	expect_err(ONE_BACKEND "url: 'http://a', dcgm_url: 'http://a b'}]}]\n",
		   -EINVAL,
		   "t.yaml:1:90: vips[0].backends[0].dcgm_url: must be an "
		   "http:// or https:// URL shorter than 512 bytes, got "
		   "\"http://a b\"");
	expect_err(ONE_BACKEND "url: 'http://'}]}]\n", -EINVAL,
		   "t.yaml:1:68: vips[0].backends[0].url: must be an http:// "
		   "or https:// URL shorter than 512 bytes, got \"http://\"");

	/* A 511-byte health_url fits; 512 does not. */
	big = malloc(LB_AGENT_URL_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', LB_AGENT_URL_MAX);
	memcpy(big, "http://", 7);
	big[LB_AGENT_URL_MAX] = 0;
	n = strlen(ONE_BACKEND) + 2 * LB_AGENT_URL_MAX + 100;
	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, ONE_BACKEND "metrics_url: 'http://m', health_url: "
		 "'%s'}]}]\n", big);
	expect_err(text, -EINVAL,
		   "t.yaml:1:100: vips[0].backends[0].health_url: must be an "
		   "http:// or https:// URL shorter than 512 bytes, got "
		   "\"http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
	big[LB_AGENT_URL_MAX - 1] = 0;
	snprintf(text, n, ONE_BACKEND "metrics_url: 'http://m', health_url: "
		 "'%s'}]}]\n", big);
	{
		struct lb_agent_conf c;

		load_ok(text, &c);
		assert_int_equal(strlen(AB(&c.topo.vips[0].backends[0])->health_url),
				 LB_AGENT_URL_MAX - 1);
		lb_agent_conf_free(&c);
	}
	/* url must leave room for the longest default suffix */
	snprintf(text, n, ONE_BACKEND "url: '%s'}]}]\n", big);
	expect_err(text, -EINVAL,
		   "t.yaml:1:68: vips[0].backends[0].url: must be an http:// "
		   "or https:// URL shorter than 496 bytes, got "
		   "\"http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
	free(text);
	free(big);
}

static void test_err_numbers(void **state)
{
	(void)state;
	expect_err(ONE_BACKEND "url: 'http://a', capacity: 0}]}]\n", -EINVAL,
		   "t.yaml:1:90: vips[0].backends[0].capacity: must be a "
		   "number in (0, 1000], got \"0\"");
	expect_err(ONE_BACKEND "url: 'http://a', capacity: 1000.5}]}]\n",
		   -EINVAL,
		   "t.yaml:1:90: vips[0].backends[0].capacity: must be a "
		   "number in (0, 1000], got \"1000.5\"");
	expect_err(ONE_BACKEND "url: 'http://a', capacity: 1x}]}]\n", -EINVAL,
		   "t.yaml:1:90: vips[0].backends[0].capacity: must be a "
		   "number in (0, 1000], got \"1x\"");
	expect_err(ONE_BACKEND "url: 'http://a', capacity: .nan}]}]\n",
		   -EINVAL,
		   "t.yaml:1:90: vips[0].backends[0].capacity: must be a "
		   "number in (0, 1000], got \".nan\"");
	expect_err("policy: {queue_sat: inf}\n", -EINVAL,
		   "t.yaml:1:21: policy.queue_sat: must be a number > 0, got "
		   "\"inf\"");
	expect_err("policy: {queue_sat: 1e999}\n", -EINVAL,
		   "t.yaml:1:21: policy.queue_sat: must be a number > 0, got "
		   "\"1e999\"");
	expect_err("policy: {queue_sat: 0x10}\n", -EINVAL,
		   "t.yaml:1:21: policy.queue_sat: must be a number > 0, got "
		   "\"0x10\"");
	expect_err("policy: {stale_ms: -1}\n", -EINVAL,
		   "t.yaml:1:20: policy.stale_ms: must be an integer in "
		   "[0, 4294967295], got \"-1\"");
	expect_err("policy: {backend_burst: 4294967296}\n", -EINVAL,
		   "t.yaml:1:25: policy.backend_burst: must be an integer in "
		   "[0, 4294967295], got \"4294967296\"");
	expect_err("policy: {fail_threshold: 3.0}\n", -EINVAL,
		   "t.yaml:1:26: policy.fail_threshold: must be an integer in "
		   "[0, 4294967295], got \"3.0\"");
	expect_err("agent: {request_timeout_ms: 0}\n", -EINVAL,
		   "t.yaml:1:29: agent.request_timeout_ms: must be an integer "
		   "in [1, 60000], got \"0\"");
	expect_err("agent: {request_timeout_ms: 60001}\n", -EINVAL,
		   "t.yaml:1:29: agent.request_timeout_ms: must be an integer "
		   "in [1, 60000], got \"60001\"");
	expect_err("policy: {backend_rate_per_capacity: -1}\n", -EINVAL,
		   "t.yaml:1:37: policy.backend_rate_per_capacity: must be a "
		   "number >= 0, got \"-1\"");
}

static void test_err_policy_check(void **state)
{
	(void)state;
	expect_err("policy:\n  kv_sat: 1.5\n", -EINVAL,
		   "t.yaml:2:11: policy.kv_sat: must be in (0, 1], got "
		   "\"1.5\"");
	expect_err("policy:\n  poll_interval_ms: 0\n", -EINVAL,
		   "t.yaml:2:21: policy.poll_interval_ms: must be > 0, got "
		   "\"0\"");
	expect_err("policy:\n  max_rebuilds_per_s: 1001\n", -EINVAL,
		   "t.yaml:2:23: policy.max_rebuilds_per_s: must be in "
		   "[1, 1000], got \"1001\"");
	expect_err("policy:\n  eject_base_ms: 400000\n", -EINVAL,
		   "t.yaml:2:3: policy.eject_max_ms: must be >= eject_base_ms; "
		   "the default does not fit the values given");
}

static void test_err_agent(void **state)
{
	(void)state;
	expect_err("agent: {metrics_listen: localhost:9464}\n", -EINVAL,
		   "t.yaml:1:25: agent.metrics_listen: must be \"off\", "
		   "IPV4:PORT or [IPV6]:PORT with port 1..65535, got "
		   "\"localhost:9464\"");
	expect_err("agent: {metrics_listen: '127.0.0.1:0'}\n", -EINVAL,
		   "t.yaml:1:25: agent.metrics_listen: must be \"off\", "
		   "IPV4:PORT or [IPV6]:PORT with port 1..65535, got "
		   "\"127.0.0.1:0\"");
	expect_err("agent: {metrics_listen: '::1:9464'}\n", -EINVAL,
		   "t.yaml:1:25: agent.metrics_listen: must be \"off\", "
		   "IPV4:PORT or [IPV6]:PORT with port 1..65535, got "
		   "\"::1:9464\"");
	expect_err("agent: {metrics_listen: '[1.2.3.4]:80'}\n", -EINVAL,
		   "t.yaml:1:25: agent.metrics_listen: must be \"off\", "
		   "IPV4:PORT or [IPV6]:PORT with port 1..65535, got "
		   "\"[1.2.3.4]:80\"");
	expect_err("agent: {pin_dir: relative/dir}\n", -EINVAL,
		   "t.yaml:1:18: agent.pin_dir: must be an absolute path "
		   "shorter than 256 bytes, got \"relative/dir\"");
}

/* Build "vips:" with n VIPs of k backends each. */
static char *many(size_t n, size_t k)
{
	size_t cap = 64 + n * (64 + k * 64), o = 0, i, j;
	char *s = malloc(cap);

	assert_non_null(s);
	o += snprintf(s + o, cap - o, "vips:\n");
	for (i = 0; i < n; i++) {
		o += snprintf(s + o, cap - o,
			      "- address: 10.%zu.%zu.1:80/tcp\n  backends:%s\n",
			      i / 256, i % 256, k ? "" : " []");
		for (j = 0; j < k; j++)
			o += snprintf(s + o, cap - o,
				      "  - {address: 10.9.%zu.%zu, url: "
				      "'http://h'}\n", j / 256, j % 256);
	}
	return s;
}

static void test_err_limits(void **state)
{
	struct lb_agent_conf c;
	char err[512];
	char *s;

	(void)state;
	s = many(LB_TOPO_MAX_VIPS, 0);
	load_ok(s, &c);
	assert_int_equal(c.topo.n_vips, LB_TOPO_MAX_VIPS);
	lb_agent_conf_free(&c);
	free(s);
	s = many(LB_TOPO_MAX_VIPS + 1, 0);
	expect_err(s, -E2BIG, "t.yaml:2:1: vips: more than 256 VIPs");
	free(s);

	/* 16 VIPs x 256 backends = 4096 is fine; one more is not. */
	s = many(16, 256);
	load_ok(s, &c);
	assert_int_equal(c.topo.n_vips, 16);
	assert_int_equal(c.topo.vips[15].n_backends, 256);
	lb_agent_conf_free(&c);
	free(s);
	s = many(17, 241);	/* 16 * 241 = 3856, + 241 > 4096 */
	expect_err(s, -E2BIG,
		   "t.yaml:3892:3: vips[16].backends: more than 4096 "
		   "backends in the file");
	free(s);

	/* Over the size limit, before any parsing. */
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", "", (16u << 20) + 1, &c,
					  err, sizeof(err)), -E2BIG);
	assert_string_equal(err, "t.yaml: larger than 16777216 bytes");
	assert_zero(&c);
}

/* A message never overflows a small buffer and stays terminated. */
static void test_small_errbuf(void **state)
{
	struct lb_agent_conf c;
	char err[16];

	(void)state;
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", "x: 1", 4, &c, err,
					  sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:1:1: (to");
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", "x: 1", 4, &c, NULL, 0),
			 -EINVAL);
	assert_zero(&c);
}

/* Errors inside a later backend free the names of earlier ones. */
static void test_err_after_alloc(void **state)
{
	(void)state;
	expect_err("vips:\n- address: 1.2.3.4:1/tcp\n  backends:\n"
		   "  - {address: 10.0.0.1, url: 'http://a', engine: generic,"
		   " metrics: {waiting: w, running: r, kv: k}}\n"
		   "  - {address: 10.0.0.2, url: 'http://a', engine: generic,"
		   " metrics: {waiting: w, kv: 'bad name'}}\n", -EINVAL,
		   "t.yaml:5:85: vips[0].backends[1].metrics.kv: must be a "
		   "Prometheus metric name, got \"bad name\"");
	expect_err("vips:\n- address: 1.2.3.4:1/tcp\n  backends:\n"
		   "  - {address: 10.0.0.1, url: 'http://a', engine: generic,"
		   " metrics: {waiting: w}}\n"
		   "- address: 1.2.3.4:2/tcp\n  mode: x\n", -EINVAL,
		   "t.yaml:6:9: vips[1].mode: must be ipip or l2dsr, got "
		   "\"x\"");
}

/* VIP policy and admission settings, as lbctl vip add/set takes them. */
static void test_vip_admission(void **state)
{
	struct lb_agent_conf c;
	char err[512];
	const char *y =
		"vips:\n"
		"  - address: 198.18.1.10:8000/tcp\n"
		"    policy: least-conn\n"
		"    rate: 1000\n"
		"    burst: 100\n"
		"    client_rate: 10\n"
		"    client_burst: 5\n"
		"    client_prefix: 24\n"
		"    refuse: drop\n"
		"    fail_open: true\n"
		"    epsilon: 50\n"
		"  - address: \"[2001:db8::10]:8000/tcp\"\n"
		"    client_prefix: 48\n";

	(void)state;
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", y, strlen(y), &c, err,
					  sizeof(err)), 0);
	assert_int_equal(c.topo.vips[0].opts.policy, LB_POL_LEAST_CONN);
	assert_int_equal(c.topo.vips[0].opts.rate, 1000);
	assert_int_equal(c.topo.vips[0].opts.burst, 100);
	assert_int_equal(c.topo.vips[0].opts.client_rate, 10);
	assert_int_equal(c.topo.vips[0].opts.client_burst, 5);
	assert_int_equal(c.topo.vips[0].opts.client_plen4, 24);
	assert_int_equal(c.topo.vips[0].opts.refuse, LB_REFUSE_DROP);
	assert_true(c.topo.vips[0].opts.fail_open);
	assert_int_equal(c.topo.vips[0].opts.bounded_eps, 50);
	assert_int_equal(c.topo.vips[0].opts.ring_size, LB_RING_SIZE_DEFAULT);
	/* defaults */
	assert_int_equal(c.topo.vips[1].opts.policy, LB_POL_MAGLEV);
	assert_int_equal(c.topo.vips[1].opts.refuse, LB_REFUSE_RESET);
	assert_false(c.topo.vips[1].opts.fail_open);
	assert_int_equal(c.topo.vips[1].opts.bounded_eps, 25);
	assert_int_equal(c.topo.vips[1].opts.client_plen6, 48);
	lb_agent_conf_free(&c);

	expect_err("vips:\n  - address: 198.18.1.10:80/tcp\n    policy: fastest\n",
		   -EINVAL, "t.yaml:3:13: vips[0].policy: must be maglev, source, "
		   "bounded, p2c, wrr, rr, random, least-conn or expected-wait, got \"fastest\"");
	expect_err("vips:\n  - address: 198.18.1.10:80/tcp\n    client_prefix: 33\n",
		   -EINVAL, "t.yaml:3:20: vips[0].client_prefix: must be an "
		   "integer in [1, 32], got \"33\"");
	expect_err("vips:\n  - address: 198.18.1.10:80/tcp\n    fail_open: yes\n",
		   -EINVAL, "t.yaml:3:16: vips[0].fail_open: must be true or "
		   "false, got \"yes\"");
	expect_err("vips:\n  - address: 198.18.1.10:80/tcp\n    refuse: rst\n",
		   -EINVAL, "t.yaml:3:13: vips[0].refuse: must be reset or drop, "
		   "got \"rst\"");
}

/* ---- fix 1: a file without VIPs parses, and --check warns ------------- */

/* An empty file, one of comments only, "vips: ~" and "vips: []" are valid
 * (a balancer may be set up empty) but, applied to a running balancer,
 * would delete everything: lb_topo_warning() says so for `--check`. */
static void test_no_vips_warning(void **state)
{
	static const char *const texts[] = {
		"", "# only a comment\n", "vips: ~\n", "vips: []\n", "vips:\n",
		"agent: {prune: false}\npolicy: {}\nvips: null\n",
	};
	struct lb_agent_conf c;
	struct lb_topo t;
	char err[512], warn[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		load_ok(texts[i], &c);
		assert_int_equal(c.topo.n_vips, 0);
		assert_true(lb_topo_warning(&c.topo, warn, sizeof(warn)));
		assert_string_equal(warn, "no VIPs: applied, this file would "
				    "delete every VIP and backend of the "
				    "balancer (a reload or apply refuses that "
				    "unless forced)");
		lb_agent_conf_free(&c);
		/* lbctl's reading of the same file */
		assert_int_equal(lb_topo_load_buf("t.yaml", texts[i],
						  strlen(texts[i]),
						  &lb_topo_ext_agent_names, &t,
						  err, sizeof(err)), 0);
		assert_true(lb_topo_warning(&t, warn, sizeof(warn)));
		lb_topo_free(&t);
	}
	assert_int_equal(lb_agent_conf_load_file(FIX "comments.yaml", &c, err,
						 sizeof(err)), 0);
	assert_true(lb_topo_warning(&c.topo, warn, sizeof(warn)));
	lb_agent_conf_free(&c);
	/* one VIP, even without backends: nothing to say */
	load_ok("vips: [{address: 1.2.3.4:1/tcp}]\n", &c);
	assert_false(lb_topo_warning(&c.topo, warn, sizeof(warn)));
	assert_string_equal(warn, "");
	lb_agent_conf_free(&c);
}

/* The guard's keys: agent.prune and agent.max_backend_delete_pct. */
static void test_guard_keys(void **state)
{
	struct lb_agent_conf c;

	(void)state;
	load_ok("agent: {prune: true, max_backend_delete_pct: 100}\n", &c);
	assert_true(c.prune);
	assert_int_equal(c.max_backend_delete_pct, 100);
	lb_agent_conf_free(&c);
	load_ok("agent: {max_backend_delete_pct: 0}\n", &c);
	assert_false(c.prune);
	assert_int_equal(c.max_backend_delete_pct, 0);
	lb_agent_conf_free(&c);
	expect_err("agent: {prune: yes}\n", -EINVAL,
		   "t.yaml:1:16: agent.prune: must be true or false, got "
		   "\"yes\"");
	expect_err("agent: {max_backend_delete_pct: 101}\n", -EINVAL,
		   "t.yaml:1:33: agent.max_backend_delete_pct: must be an "
		   "integer in [0, 100], got \"101\"");
	expect_err("agent: {prunes: true}\n", -EINVAL,
		   "t.yaml:1:9: agent: unknown key \"prunes\"; expected one "
		   "of: metrics_listen, metrics_web, metrics_insecure, "
		   "pin_dir, request_timeout_ms, prune, max_backend_delete_pct, "
		   "watch_config, watch_debounce_ms");
}

/* ---- agent.metrics_web: who may read /metrics ---------------------------- */

/* real bcrypt hashes (cost 4) of "s3cret" and "hunter2" */
#define HASH1 "$2b$04$b1RrxVM0iJrBoelsh1rhQueoqMgcs/14XWLViamTnlTGFoLYDC2Sy"
#define HASH2 "$2y$04$CI9/Ql/gGZYDrmj789GLne1BY.TYH47FrOCrMYQ4moagojJWubY6i"
#define CERT "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define KEY "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"

/* A temp dir with cert.pem, key.pem (PEM-shaped: the parser reads
 * labels; GnuTLS' check of a real pair is tests/test_metrics_auth.sh's),
 * empty.pem and a directory. */
struct webdir {
	char dir[64];
	char path[128];
};

static const char *wpath(struct webdir *w, const char *name)
{
	snprintf(w->path, sizeof(w->path), "%s/%s", w->dir, name);
	return w->path;
}

static void wfile(struct webdir *w, const char *name, const char *text)
{
	FILE *f = fopen(wpath(w, name), "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int web_setup(void **state)
{
	static struct webdir w;

	strcpy(w.dir, "/tmp/inferlb-webconf-XXXXXX");
	if (!mkdtemp(w.dir))
		return -1;
	wfile(&w, "cert.pem", CERT);
	wfile(&w, "key.pem", "an RSA key\n-----BEGIN RSA PRIVATE KEY-----\n"
	      "MIIE\n-----END RSA PRIVATE KEY-----\n");
	wfile(&w, "empty.pem", "");
	wfile(&w, "both.pem", KEY CERT);
	*state = &w;
	return 0;
}

static int web_teardown(void **state)
{
	struct webdir *w = *state;
	const char *names[] = { "cert.pem", "key.pem", "empty.pem", "both.pem" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(wpath(w, names[i]));
	return rmdir(w->dir);
}

/* agent: {metrics_listen: LISTEN, EXTRA} into a buffer */
static const char *agent_yaml(const char *listen, const char *extra)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "agent:\n  metrics_listen: '%s'\n%s", listen,
		 extra);
	return buf;
}

static void test_listen_loopback(void **state)
{
	(void)state;
	assert_true(lb_agent_listen_is_loopback("127.0.0.1:9464"));
	assert_true(lb_agent_listen_is_loopback("127.255.255.254:1"));
	assert_true(lb_agent_listen_is_loopback("[::1]:9464"));
	assert_false(lb_agent_listen_is_loopback("0.0.0.0:9464"));
	assert_false(lb_agent_listen_is_loopback("[::]:9464"));
	assert_false(lb_agent_listen_is_loopback("128.0.0.1:9464"));
	assert_false(lb_agent_listen_is_loopback("198.18.0.1:9464"));
	assert_false(lb_agent_listen_is_loopback("[::ffff:127.0.0.1]:9464"));
	assert_false(lb_agent_listen_is_loopback("[2001:db8::1]:9464"));
	assert_false(lb_agent_listen_is_loopback("localhost:9464"));
}

static void test_metrics_web(void **state)
{
	struct webdir *w = *state;
	struct lb_agent_web_conf copy;
	struct lb_agent_conf c;
	char extra[512];

	/* loopback needs nothing; the default is loopback */
	load_ok(agent_yaml("127.0.0.2:9464", ""), &c);
	assert_null(c.web.users);
	assert_null(c.web.cert_pem);
	assert_false(c.web.insecure);
	lb_agent_conf_free(&c);
	load_ok(agent_yaml("[::1]:9464", ""), &c);
	lb_agent_conf_free(&c);
	load_ok("agent: {metrics_listen: \"off\"}\n", &c);
	lb_agent_conf_free(&c);
	/* the explicit opt-out */
	load_ok(agent_yaml("0.0.0.0:9464", "  metrics_insecure: true\n"), &c);
	assert_true(c.web.insecure);
	lb_agent_conf_free(&c);
	/* basic auth alone, $2b$ and $2y$ */
	load_ok(agent_yaml("198.18.0.1:9464",
			   "  metrics_web:\n    basic_auth_users:\n"
			   "      alice: " HASH1 "\n"
			   "      'bob smith': '" HASH2 "'\n"), &c);
	assert_int_equal(c.web.n_users, 2);
	assert_string_equal(c.web.users[0].name, "alice");
	assert_string_equal(c.web.users[0].hash, HASH1);
	assert_string_equal(c.web.users[1].name, "bob smith");
	assert_string_equal(c.web.users[1].hash, HASH2);
	assert_null(c.web.cert_pem);
	lb_agent_conf_free(&c);
	/* TLS alone: both files read; an "RSA PRIVATE KEY" is a private key */
	snprintf(extra, sizeof(extra), "  metrics_web:\n    tls_server_config:\n"
		 "      cert_file: %s/cert.pem\n      key_file: %s/key.pem\n",
		 w->dir, w->dir);
	load_ok(agent_yaml("[::]:9464", extra), &c);
	assert_string_equal(c.web.cert_pem, CERT);
	assert_non_null(strstr(c.web.key_pem, "RSA PRIVATE KEY"));
	assert_string_equal(c.web.cert_file, wpath(w, "cert.pem"));
	assert_null(c.web.users);
	lb_agent_conf_free(&c);
	/* both, on "off" too (checked all the same) */
	snprintf(extra, sizeof(extra), "  metrics_web:\n    tls_server_config:\n"
		 "      cert_file: %s/both.pem\n      key_file: %s/both.pem\n"
		 "    basic_auth_users: {alice: '" HASH1 "'}\n", w->dir, w->dir);
	load_ok(agent_yaml("0.0.0.0:443", extra), &c);
	assert_non_null(c.web.cert_pem);
	assert_int_equal(c.web.n_users, 1);
	/* the /metrics server's copy outlives the config */
	assert_int_equal(lb_agent_web_copy(&copy, &c.web), 0);
	lb_agent_conf_free(&c);
	assert_string_equal(copy.cert_pem, KEY CERT);
	assert_string_equal(copy.key_file, wpath(w, "both.pem"));
	assert_string_equal(copy.users[0].hash, HASH1);
	assert_int_equal(copy.n_users, 1);
	lb_agent_web_free(&copy);
	assert_null(copy.users);
}

/* expect_err with a message that has the temp dir in it: %s is w->dir */
static void expect_web_err(struct webdir *w, const char *yaml_fmt,
			   const char *msg_fmt)
{
	char yaml[1024], msg[1024];

	snprintf(yaml, sizeof(yaml), yaml_fmt, w->dir, w->dir);
	snprintf(msg, sizeof(msg), msg_fmt, w->dir, w->dir);
	expect_err(yaml, strstr(msg, "No such file") ? -ENOENT : -EINVAL, msg);
}

static void test_err_metrics_web(void **state)
{
	struct webdir *w = *state;
	char err[512];
	struct lb_agent_conf c;
	const char *s;

	/* beyond loopback without protection: refused, naming the key */
	expect_err(agent_yaml("0.0.0.0:9464", ""), -EINVAL,
		   "t.yaml:2:19: agent.metrics_listen: \"0.0.0.0:9464\" is not "
		   "loopback, and /metrics shows backends, weights and "
		   "counters: protect it with agent.metrics_web "
		   "(tls_server_config, basic_auth_users) or serve it to anyone "
		   "with agent.metrics_insecure: true");
	expect_err(agent_yaml("[::]:9464", "  metrics_insecure: false\n"),
		   -EINVAL,
		   "t.yaml:2:19: agent.metrics_listen: \"[::]:9464\" is not "
		   "loopback, and /metrics shows backends, weights and "
		   "counters: protect it with agent.metrics_web "
		   "(tls_server_config, basic_auth_users) or serve it to anyone "
		   "with agent.metrics_insecure: true");
	s = agent_yaml("198.18.0.1:9464", "");
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", s, strlen(s), &c, err,
						sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "agent.metrics_listen: \"198.18.0.1:9464\""));
	/* the opt-out and a protection at once: which one is meant? */
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_insecure: true\n"
			      "  metrics_web: {basic_auth_users: {a: '" HASH1
			      "'}}\n"), -EINVAL,
		   "t.yaml:3:21: agent.metrics_insecure: true contradicts "
		   "agent.metrics_web (line 4): drop one of them");
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_insecure: yes\n"),
		   -EINVAL, "t.yaml:3:21: agent.metrics_insecure: must be true "
		   "or false, got \"yes\"");
	/* empty or unknown */
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_web: {}\n"), -EINVAL,
		   "t.yaml:3:16: agent.metrics_web: needs tls_server_config, "
		   "basic_auth_users or both");
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_web: {rate_limit: 1}\n"),
		   -EINVAL, "t.yaml:3:17: agent.metrics_web: unknown key "
		   "\"rate_limit\"; expected one of: tls_server_config, "
		   "basic_auth_users");
	/* users */
	expect_err(agent_yaml("0.0.0.0:9464",
			      "  metrics_web: {basic_auth_users: {}}\n"), -EINVAL,
		   "t.yaml:3:35: agent.metrics_web.basic_auth_users: needs at "
		   "least one user: bcrypt-hash");
	expect_err(agent_yaml("0.0.0.0:9464",
			      "  metrics_web: {basic_auth_users: [a]}\n"), -EINVAL,
		   "t.yaml:3:35: agent.metrics_web.basic_auth_users: must be a "
		   "mapping of user: bcrypt-hash, got a sequence");
	/* a password where the hash goes: refused and not echoed */
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_web:\n"
			      "    basic_auth_users: {alice: s3cret}\n"), -EINVAL,
		   "t.yaml:4:31: agent.metrics_web.basic_auth_users.alice: must "
		   "be a bcrypt hash ($2y$, $2b$ or $2a$, cost 04..31, 60 bytes; "
		   "e.g. from `htpasswd -nBC 10 USER`), not a password");
	/* md5-crypt, bcrypt's $2x$, cost 03, one byte short, a bad byte */
	{
		static const char *const bad[] = {
			"$1$abcdefgh$0123456789012345678901",
			"$2x$04$b1RrxVM0iJrBoelsh1rhQueoqMgcs/14XWLViamTnlTGFoLYDC2Sy",
			"$2b$03$b1RrxVM0iJrBoelsh1rhQueoqMgcs/14XWLViamTnlTGFoLYDC2Sy",
			"$2b$04$b1RrxVM0iJrBoelsh1rhQueoqMgcs/14XWLViamTnlTGFoLYDC2S",
			"$2b$04$b1RrxVM0iJrBoelsh1rhQueoqMgcs/14XWLViamTnlTGFoLYDC2S!",
		};
		char extra[256];
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(extra, sizeof(extra), "  metrics_web:\n    "
				 "basic_auth_users: {alice: '%s'}\n", bad[i]);
			s = agent_yaml("0.0.0.0:9464", extra);
			assert_int_equal(lb_agent_conf_load_buf("t.yaml", s,
					 strlen(s), &c, err, sizeof(err)),
					 -EINVAL);
			assert_non_null(strstr(err, "must be a bcrypt hash"));
			assert_zero(&c);
		}
	}
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_web:\n"
			      "    basic_auth_users: {'a:b': '" HASH1 "'}\n"),
		   -EINVAL, "t.yaml:4:24: agent.metrics_web.basic_auth_users: "
		   "user \"a:b\" must be 1..255 bytes without ':' or control "
		   "bytes");
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_web:\n"
			      "    basic_auth_users: {'': '" HASH1 "'}\n"),
		   -EINVAL, "t.yaml:4:24: agent.metrics_web.basic_auth_users: "
		   "user \"\" must be 1..255 bytes without ':' or control "
		   "bytes");
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_web:\n"
			      "    basic_auth_users: {b: '" HASH1 "', b: '"
			      HASH2 "'}\n"),
		   -EINVAL, "t.yaml:4:91: agent.metrics_web.basic_auth_users.b: "
		   "duplicate user");
	/* TLS */
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_web:\n"
			      "    tls_server_config: {cert_file: /x}\n"),
		   -EINVAL, "t.yaml:4:24: agent.metrics_web.tls_server_config: "
		   "needs both cert_file and key_file (missing key_file)");
	expect_err(agent_yaml("0.0.0.0:9464", "  metrics_web:\n"
			      "    tls_server_config: {cert_file: /x, key_file: /y, "
			      "client_ca_file: /z}\n"),
		   -EINVAL, "t.yaml:4:54: agent.metrics_web.tls_server_config: "
		   "unknown key \"client_ca_file\"; expected one of: cert_file, "
		   "key_file");
	expect_web_err(w, "agent:\n  metrics_web:\n    tls_server_config:\n"
		       "      cert_file: %s/nope.pem\n      key_file: %s/key.pem\n",
		       "t.yaml:4:18: agent.metrics_web.tls_server_config."
		       "cert_file: cannot open \"%s/nope.pem\": No such file or "
		       "directory");
	expect_web_err(w, "agent:\n  metrics_web:\n    tls_server_config:\n"
		       "      cert_file: %s/cert.pem\n      key_file: %s\n",
		       "t.yaml:5:17: agent.metrics_web.tls_server_config."
		       "key_file: cannot read \"%s\": not a regular file");
	/* the key given as the certificate and the other way round */
	expect_web_err(w, "agent:\n  metrics_web:\n    tls_server_config:\n"
		       "      cert_file: %s/key.pem\n      key_file: %s/key.pem\n",
		       "t.yaml:4:18: agent.metrics_web.tls_server_config."
		       "cert_file: \"%s/key.pem\" holds no PEM block "
		       "\"-----BEGIN ...CERTIFICATE-----\"");
	expect_web_err(w, "agent:\n  metrics_web:\n    tls_server_config:\n"
		       "      cert_file: %s/cert.pem\n      key_file: %s/cert.pem\n",
		       "t.yaml:5:17: agent.metrics_web.tls_server_config."
		       "key_file: \"%s/cert.pem\" holds no PEM block "
		       "\"-----BEGIN ...PRIVATE KEY-----\"");
	expect_web_err(w, "agent:\n  metrics_web:\n    tls_server_config:\n"
		       "      cert_file: %s/empty.pem\n      key_file: %s/key.pem\n",
		       "t.yaml:4:18: agent.metrics_web.tls_server_config."
		       "cert_file: \"%s/empty.pem\" holds no PEM block "
		       "\"-----BEGIN ...CERTIFICATE-----\"");
	expect_err("agent:\n  metrics_web:\n    tls_server_config:\n"
		   "      cert_file: /dev/zero\n      key_file: /dev/zero\n",
		   -EINVAL, "t.yaml:4:18: agent.metrics_web.tls_server_config."
		   "cert_file: cannot read \"/dev/zero\": not a regular file");
	/* an error after the web config was read leaves nothing behind */
	snprintf(err, sizeof(err), "agent:\n  metrics_web:\n    "
		 "tls_server_config: {cert_file: %s/cert.pem, key_file: "
		 "%s/key.pem}\n    basic_auth_users: {a: '" HASH1 "'}\n"
		 "vips: [{address: nope}]\n", w->dir, w->dir);
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(lb_agent_conf_load_buf("t.yaml", err, strlen(err), &c,
						err + 256, 256), -EINVAL);
	assert_zero(&c);
}

/* ---- the topology layer alone: what `lbctl apply -f` reads ------------- */

static void expect_topo_err(const char *text, const struct lb_topo_ext *ext,
			    const char *msg)
{
	struct lb_topo t, zero_t = { 0 };
	char err[512];

	memset(&t, 0xa5, sizeof(t));
	assert_int_equal(lb_topo_load_buf("t.yaml", text, strlen(text), ext, &t,
					  err, sizeof(err)), -EINVAL);
	assert_string_equal(err, msg);
	assert_memory_equal(&t, &zero_t, sizeof(t));
}

static void test_topo_agent_names(void **state)
{
	struct lb_agent_conf c;
	struct lb_topo t;
	char err[512] = "";
	size_t i, j;

	(void)state;
	/* The agent's full file: the same VIPs and backends as the agent
	 * reads, the agent's keys skipped by name. */
	assert_int_equal(lb_topo_load_file(FIX "full.yaml",
					   &lb_topo_ext_agent_names, &t, err,
					   sizeof(err)), 0);
	assert_int_equal(lb_agent_conf_load_file(FIX "full.yaml", &c, err,
						 sizeof(err)), 0);
	assert_int_equal(t.n_vips, c.topo.n_vips);
	for (i = 0; i < t.n_vips; i++) {
		const struct lb_topo_vip *a = &t.vips[i], *b = &c.topo.vips[i];

		assert_memory_equal(&a->key, &b->key, sizeof(a->key));
		assert_int_equal(a->opts.mode, b->opts.mode);
		assert_int_equal(a->opts.ring_size, b->opts.ring_size);
		assert_int_equal(a->n_backends, b->n_backends);
		for (j = 0; j < a->n_backends; j++) {
			assert_memory_equal(a->backends[j].addr,
					    b->backends[j].addr, 16);
			assert_float_equal(a->backends[j].capacity,
					   b->backends[j].capacity, EPS);
			assert_null(a->backends[j].ext);
			assert_non_null(b->backends[j].ext);
		}
	}
	assert_int_equal(lb_topo_static_weight(&t.vips[0].backends[0]), 250);
	lb_topo_free(&t);
	lb_agent_conf_free(&c);

	/* values of the agent's keys are the agent's to check ... */
	assert_int_equal(lb_topo_load_buf("t.yaml", ONE_BACKEND_TOPO, strlen(
		ONE_BACKEND_TOPO), &lb_topo_ext_agent_names, &t, err,
		sizeof(err)), 0);
	assert_int_equal(t.vips[0].n_backends, 1);
	/* lbctl apply reads an agent-driven VIP's default as the agent does */
	assert_int_equal(t.vips[0].opts.policy, LB_POL_EXPECTED_WAIT);
	lb_topo_free(&t);
	/* a VIP whose backends have no agent key: maglev */
	assert_int_equal(lb_topo_load_buf("t.yaml", "vips: [{address: 1.2.3.4:1/tcp, "
		"backends: [{address: 1.1.1.1, capacity: 2}]}]\n",
		strlen("vips: [{address: 1.2.3.4:1/tcp, "
		"backends: [{address: 1.1.1.1, capacity: 2}]}]\n"),
		&lb_topo_ext_agent_names, &t, err, sizeof(err)), 0);
	assert_int_equal(t.vips[0].opts.policy, LB_POL_MAGLEV);
	lb_topo_free(&t);
	/* ... but a misspelt key is refused by lbctl too */
	expect_topo_err("agnet: {}\n", &lb_topo_ext_agent_names,
			"t.yaml:1:1: (top): unknown key \"agnet\"; expected "
			"one of: agent, policy, cluster, announce, vips");
	expect_topo_err("vips: [{address: 1.2.3.4:1/tcp, backends: [{address: "
			"1.1.1.1, enigne: vllm}]}]\n", &lb_topo_ext_agent_names,
			"t.yaml:1:63: vips[0].backends[0]: unknown key "
			"\"enigne\"; expected one of: address, capacity, "
			"engine, url, metrics_url, health_url, dcgm_url, "
			"metrics, slots");
	expect_topo_err("vips: [{address: 1.2.3.4:1/tcp, mode: nat}]\n",
			&lb_topo_ext_agent_names,
			"t.yaml:1:39: vips[0].mode: must be ipip or l2dsr, got "
			"\"nat\"");
	/* without an extension, only vips: */
	expect_topo_err("agent: {}\n", NULL,
			"t.yaml:1:1: (top): unknown key \"agent\"; expected "
			"one of: vips");
	expect_topo_err("vips: [{address: 1.2.3.4:1/tcp, backends: [{address: "
			"1.1.1.1, url: 'http://a'}]}]\n", NULL,
			"t.yaml:1:63: vips[0].backends[0]: unknown key \"url\"; "
			"expected one of: address, capacity");
}

/* ---- the one host:port splitter (lib/lb_addr.c) ---------------------- */

static void hostport_ok(const char *s, int af, const char *ip, __u16 want)
{
	__u8 addr[16], fam;
	__u16 port = 0;
	char msg[256] = "";

	if (lb_parse_hostport(s, addr, &fam, &port, msg, sizeof(msg)))
		fail_msg("'%s': %s", s, msg);
	check_ip(addr, fam, af, ip);
	assert_int_equal(port, want);
}

static void hostport_bad(const char *s, const char *why)
{
	__u8 addr[16], fam;
	__u16 port = 7;
	char msg[256], want[256];

	assert_int_equal(lb_parse_hostport(s, addr, &fam, &port, msg,
					   sizeof(msg)), -EINVAL);
	snprintf(want, sizeof(want), "'%s' is not ADDR:PORT: %s (e.g. "
		 "127.0.0.1:9464 or [::1]:9464)", s, why);
	assert_string_equal(msg, want);
	assert_int_equal(port, 7);	/* untouched */
}

/* lb_parse_duration_ns: lbctl's --for DURATION */
static void test_duration(void **state)
{
	static const struct {
		const char *s;
		unsigned long long ns;	/* 0: must be refused */
	} cases[] = {
		{ "500ms", 500000000ull }, { "1ms", 1000000ull }, { "30s", 30000000000ull },
		{ "30", 30000000000ull }, { "10m", 600000000000ull },
		{ "2h", 7200000000000ull }, { "1d", 86400000000000ull },
		{ "366d", LB_DURATION_MAX_NS },
		{ "367d", 0 }, { "0s", 0 }, { "0", 0 }, { "", 0 }, { "s", 0 },
		{ "-1s", 0 }, { "+1s", 0 }, { " 1s", 0 }, { "1s ", 0 }, { "1.5s", 0 },
		{ "1 s", 0 }, { "10x", 0 }, { "1sec", 0 }, { "1S", 0 }, { "1hm", 0 },
		{ "99999999999999999999s", 0 }, { "18446744073709551615ms", 0 },
	};
	__u64 ns;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ns = 12345;
		if (cases[i].ns) {
			assert_int_equal(lb_parse_duration_ns(cases[i].s, &ns), 0);
			assert_true(ns == cases[i].ns);
		} else {
			assert_int_equal(lb_parse_duration_ns(cases[i].s, &ns), -EINVAL);
			assert_true(ns == 12345);	/* untouched */
		}
	}
	assert_int_equal(lb_parse_duration_ns(NULL, &ns), -EINVAL);
}

static void test_hostport(void **state)
{
	struct lb_vip_key k;
	char msg[256];

	(void)state;
	hostport_ok("127.0.0.1:9464", AF_INET, "127.0.0.1", 9464);
	hostport_ok("0.0.0.0:1", AF_INET, "0.0.0.0", 1);
	hostport_ok("[::1]:65535", AF_INET6, "::1", 65535);
	hostport_ok("[2001:db8::10]:8000", AF_INET6, "2001:db8::10", 8000);
	hostport_bad("127.0.0.1", "no ':PORT'");
	hostport_bad("::1:9464", "an IPv6 address needs brackets, [ADDR]:PORT");
	hostport_bad("[::1]9464", "no ']:PORT' after '[ADDR'");
	hostport_bad("[1.2.3.4]:80", "brackets are for IPv6 addresses only");
	hostport_bad("localhost:9464",
		     "'localhost' is not an IPv4 or IPv6 address");
	hostport_bad("1.2.3.4:0", "the port must be a number in 1..65535");
	hostport_bad("1.2.3.4:65536", "the port must be a number in 1..65535");
	hostport_bad("1.2.3.4:", "the port must be a number in 1..65535");
	hostport_bad("1.2.3.4:+80", "the port must be a number in 1..65535");
	hostport_bad("1.2.3.4:80 ", "the port must be a number in 1..65535");
	hostport_bad("", "no ':PORT'");

	/* lb_parse_vip splits with the same function */
	assert_int_equal(lb_parse_vip("[2001:db8::10]:8000/udp", &k, msg,
				      sizeof(msg)), 0);
	check_ip(k.addr, k.family, AF_INET6, "2001:db8::10");
	assert_int_equal(ntohs(k.port), 8000);
	assert_int_equal(k.proto, IPPROTO_UDP);
	assert_int_equal(lb_parse_vip("::1:80/tcp", &k, msg, sizeof(msg)),
			 -EINVAL);
	assert_string_equal(msg, "'::1:80/tcp' is not a VIP: an IPv6 address "
			    "needs brackets, [ADDR]:PORT; expected "
			    "ADDR:PORT/tcp|udp, e.g. 198.18.0.10:80/tcp or "
			    "[2001:db8::10]:8000/tcp");
	assert_int_equal(lb_parse_vip("host:80/tcp", &k, msg, sizeof(msg)),
			 -EINVAL);
	assert_string_equal(msg, "'host:80/tcp' is not a VIP: 'host' is not "
			    "an IPv4 or IPv6 address; expected "
			    "ADDR:PORT/tcp|udp, e.g. 198.18.0.10:80/tcp or "
			    "[2001:db8::10]:8000/tcp");
}

/* cluster: (cluster mode) */
static void test_cluster_section(void **state)
{
	struct lb_agent_conf c;

	(void)state;
	load_ok("cluster:\n  etcd: [http://198.18.0.1:2379, http://198.18.0.2:2379]\n"
		"  name: edge-a\n  host: lb1\nvips: []\n", &c);
	assert_int_equal(c.cluster.n_etcd, 2);
	assert_string_equal(c.cluster.etcd[1], "http://198.18.0.2:2379");
	assert_string_equal(c.cluster.name, "edge-a");
	assert_string_equal(c.cluster.host, "lb1");
	assert_int_equal(c.cluster.lease_ttl_s, LB_CLUSTER_TTL_DEFAULT);
	lb_agent_conf_free(&c);
	load_ok("vips: []\n", &c);
	assert_int_equal(c.cluster.n_etcd, 0);	/* off */
	lb_agent_conf_free(&c);
	expect_err("cluster:\n  etcd: [http://198.18.0.1:2379]\n  name: a\n", -EINVAL,
		   "t.yaml:2:3: cluster.host: is required in cluster mode");
	expect_err("cluster:\n  etcd: [198.18.0.1:2379]\n  name: a\n  host: b\n", -EINVAL,
		   "t.yaml:2:10: cluster.etcd[0]: must be http://HOST:PORT (or https://), "
		   "without a path, got \"198.18.0.1:2379\"");
	expect_err("cluster:\n  etcd: []\n  name: a\n  host: b\n", -EINVAL,
		   "t.yaml:2:9: cluster.etcd: must be a list of 1..8 etcd endpoints (http://HOST:PORT)");
	expect_err("cluster:\n  etcd: [http://e:1]\n  name: a/b\n  host: b\n", -EINVAL,
		   "t.yaml:3:9: cluster.name: must be 1..63 characters of [A-Za-z0-9._-], got \"a/b\"");
	expect_err("cluster:\n  etcd: [http://e:1]\n  name: a\n  host: b\n  lease_ttl_s: 1\n",
		   -EINVAL, "t.yaml:5:16: cluster.lease_ttl_s: must be an integer in [2, 60], got \"1\"");
}

/* agent.watch_config and watch_debounce_ms */
static void test_watch_keys(void **state)
{
	struct lb_agent_conf c;

	(void)state;
	load_ok("vips: []\n", &c);
	assert_true(c.watch_config);
	assert_int_equal(c.watch_debounce_ms, LB_AGENT_WATCH_DEBOUNCE_DEFAULT_MS);
	lb_agent_conf_free(&c);
	load_ok("agent: {watch_config: false, watch_debounce_ms: 50}\nvips: []\n", &c);
	assert_false(c.watch_config);
	assert_int_equal(c.watch_debounce_ms, 50);
	lb_agent_conf_free(&c);
	expect_err("agent: {watch_debounce_ms: 5}\n", -EINVAL,
		   "t.yaml:1:28: agent.watch_debounce_ms: must be an integer in "
		   "[10, 60000], got \"5\"");
}

/* second_chance and pair_choice; a cluster: section makes pair_choice
 * default true (a flow may reach a host that never saw it) */
static void test_second_chance_keys(void **state)
{
	const char *vips = "vips:\n  - address: 198.18.1.10:80/tcp\n"
			   "  - address: 198.18.1.11:80/tcp\n"
			   "    second_chance: false\n    pair_choice: false\n";
	char text[512];
	struct lb_agent_conf c;

	(void)state;
	load_ok(vips, &c);
	assert_true(c.topo.vips[0].opts.second_chance);
	assert_false(c.topo.vips[0].opts.pair_choice);
	assert_false(c.topo.vips[1].opts.second_chance);
	assert_false(c.topo.vips[1].opts.pair_choice);
	lb_agent_conf_free(&c);
	snprintf(text, sizeof(text), "cluster:\n  etcd: [http://198.18.0.1:2379]\n"
		 "  name: a\n  host: b\n%s", vips);
	load_ok(text, &c);
	assert_true(c.topo.vips[0].opts.pair_choice);	/* cluster default */
	assert_false(c.topo.vips[1].opts.pair_choice);	/* said so */
	lb_agent_conf_free(&c);
	expect_err("vips:\n  - address: 198.18.1.10:80/tcp\n    pair_choice: 1\n",
		   -EINVAL, "t.yaml:3:18: vips[0].pair_choice: must be true or "
		   "false, got \"1\"");
}

/* A VIP's discover: sources, defaults, templates, and every refusal. */
static void test_discover_keys(void **state)
{
	struct lb_agent_conf c;
	const struct lb_disc_vip_conf *dc;
	struct lb_topo_backend b = { 0 };
	struct lb_agent_backend_conf ac = { 0 };
	struct lb_disc_worker w = { .family = LB_AF_INET6, .port = 8001 };
	struct lb_registry_entry reg = { .capacity = 2.5, .slots = 7 };
	char msg[256];

	(void)state;
	load_ok("cluster: {etcd: [http://198.18.5.1:2379], name: a, host: h}\n"
		"vips:\n"
		"- address: '[2001:db8::1]:80/tcp'\n"
		"  discover:\n"
		"    max_remove_fraction: 0.25\n"
		"    drain_timeout_s: 60\n"
		"    sources:\n"
		"    - dns: _llm._tcp.pool.svc.test\n"
		"      servers: 198.18.5.53:5353,198.18.5.54\n"
		"      template: {engine: triton, scheme: https, slots: 4, capacity: 2}\n"
		"    - dns: pool.svc.test\n"
		"      type: aaaa\n"
		"      port: 9000\n"
		"      min_ttl_s: 2\n"
		"      max_ttl_s: 10\n"
		"      timeout_ms: 500\n"
		"    - etcd: /inferlb/workers/a/\n", &c);
	/* discovery makes a VIP agent-driven: expected-wait by default */
	assert_int_equal(c.topo.vips[0].opts.policy, LB_POL_EXPECTED_WAIT);
	assert_int_equal(c.topo.vips[0].n_backends, 0);
	dc = lb_disc_vip_conf(&c.topo.vips[0]);
	assert_non_null(dc);
	assert_true(dc->lim.max_remove_fraction == 0.25);
	assert_int_equal(dc->lim.drain_timeout_ms, 60000);
	assert_int_equal(dc->n_src, 3);
	assert_int_equal(dc->src[0].kind, LB_DISC_DNS);
	assert_int_equal(dc->src[0].type, LB_DNS_SRV);
	assert_string_equal(dc->src[0].servers, "198.18.5.53:5353,198.18.5.54");
	assert_int_equal(dc->src[0].min_ttl_s, LB_DISC_MIN_TTL_DEFAULT_S);
	assert_int_equal(dc->src[0].max_ttl_s, LB_DISC_MAX_TTL_DEFAULT_S);
	assert_string_equal(dc->src[0].tpl.health_path, "/v2/health/ready");
	assert_int_equal(dc->src[1].type, LB_DNS_AAAA);
	assert_int_equal(dc->src[1].port, 9000);
	assert_int_equal(dc->src[1].timeout_ms, 500);
	assert_int_equal(dc->src[1].tpl.engine, LB_ENGINE_VLLM);
	assert_string_equal(dc->src[1].tpl.metrics_path, "/metrics");
	/* an etcd source defaults to the cluster's etcd */
	assert_int_equal(dc->src[2].kind, LB_DISC_ETCD);
	assert_int_equal(dc->src[2].n_endpoints, 1);
	assert_string_equal(dc->src[2].endpoints[0], "http://198.18.5.1:2379");
	/* a worker of the first source: https, IPv6 in brackets, template */
	lb_parse_ip("2001:db8::11", w.addr, &w.family, msg, sizeof(msg));
	assert_int_equal(lb_disc_backend(&dc->src[0], &w, NULL, &b, &ac, msg,
					 sizeof(msg)), 0);
	assert_string_equal(ac.metrics_url, "https://[2001:db8::11]:8001/metrics");
	assert_string_equal(ac.health_url, "https://[2001:db8::11]:8001/v2/health/ready");
	assert_int_equal(ac.engine, LB_ENGINE_TRITON);
	assert_int_equal(ac.slots, 4);
	assert_true(b.capacity == 2);
	/* a registry value's keys come first */
	snprintf(reg.url, sizeof(reg.url), "http://198.18.9.9:7000/");
	snprintf(reg.engine, sizeof(reg.engine), "sglang");
	memset(&ac, 0, sizeof(ac));
	assert_int_equal(lb_disc_backend(&dc->src[2], &w, &reg, &b, &ac, msg,
					 sizeof(msg)), 0);
	assert_string_equal(ac.metrics_url, "http://198.18.9.9:7000/metrics");
	assert_int_equal(ac.engine, LB_ENGINE_SGLANG);
	assert_int_equal(ac.slots, 7);
	assert_true(b.capacity == 2.5);
	snprintf(reg.engine, sizeof(reg.engine), "nope");
	memset(&ac, 0, sizeof(ac));
	assert_int_equal(lb_disc_backend(&dc->src[2], &w, &reg, &b, &ac, msg,
					 sizeof(msg)), -EINVAL);
	lb_agent_conf_free(&c);

#define V "vips:\n- address: 1.2.3.4:1/tcp\n  discover:\n"
	expect_err(V "    sources: []\n", -EINVAL,
		   "t.yaml:4:14: vips[0].discover.sources: must be a list of 1..8 sources (dns: or etcd:)");
	expect_err(V "    max_remove_fraction: 0\n    sources: [{dns: a.b}]\n", -EINVAL,
		   "t.yaml:4:26: vips[0].discover.max_remove_fraction: must be a number in (0, 1], got \"0\"");
	expect_err(V "    sources: [{dns: a.b, etcd: /x/}]\n", -EINVAL,
		   "t.yaml:4:15: vips[0].discover.sources[0]: needs exactly one of dns or etcd");
	expect_err(V "    sources: [{dns: 'a b'}]\n", -EINVAL,
		   "t.yaml:4:21: vips[0].discover.sources[0].dns: must be a DNS name (letters, digits, '-', '_', '.'), got \"a b\"");
	expect_err(V "    sources: [{dns: a.b, port: 80}]\n", -EINVAL,
		   "t.yaml:4:32: vips[0].discover.sources[0].port: is not allowed with type srv (the records carry the port)");
	expect_err(V "    sources: [{dns: a.b, type: a}]\n", -EINVAL,
		   "t.yaml:4:15: vips[0].discover.sources[0].port: is required with type a or aaaa");
	expect_err(V "    sources: [{dns: a.b, servers: 'x'}]\n", -EINVAL,
		   "t.yaml:4:35: vips[0].discover.sources[0].servers: must be IP[:PORT] or [V6]:PORT, comma-separated, got \"x\"");
	expect_err(V "    sources: [{dns: a.b, min_ttl_s: 9, max_ttl_s: 3}]\n", -EINVAL,
		   "t.yaml:4:37: vips[0].discover.sources[0].min_ttl_s: must not be above max_ttl_s (9 > 3)");
	expect_err(V "    sources: [{etcd: /x/}]\n", -EINVAL,
		   "t.yaml:4:15: vips[0].discover.sources[0].endpoints: is required without a cluster: section (whose etcd it defaults to)");
	expect_err(V "    sources: [{etcd: x}]\n", -EINVAL,
		   "t.yaml:4:22: vips[0].discover.sources[0].etcd: must be a key prefix starting with '/', without blanks, quotes or backslashes, shorter than 256 bytes, got \"x\"");
	expect_err(V "    sources: [{etcd: /x/, endpoints: [http://a:1], min_ttl_s: 1}]\n", -EINVAL,
		   "t.yaml:4:63: vips[0].discover.sources[0].min_ttl_s: is not a key of an etcd source");
	expect_err(V "    sources: [{dns: a.b}, {dns: a.b}]\n", -EINVAL,
		   "t.yaml:4:27: vips[0].discover.sources[1]: duplicate source (first at line 4)");
	expect_err(V "    sources: [{dns: a.b, template: {engine: generic}}]\n", -EINVAL,
		   "t.yaml:4:36: vips[0].discover.sources[0].template.metrics: is required with engine: generic");
	expect_err(V "    sources: [{dns: a.b, template: {health_path: x}}]\n", -EINVAL,
		   "t.yaml:4:50: vips[0].discover.sources[0].template.health_path: must be a path starting with '/', printable, shorter than 128 bytes, got \"x\"");
	expect_err(V "    sourcez: []\n", -EINVAL,
		   "t.yaml:4:5: vips[0].discover: unknown key \"sourcez\"; expected one of: max_remove_fraction, drain_timeout_s, sources");
#undef V
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_small_values),
		cmocka_unit_test(test_static_weight),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_err_structure),
		cmocka_unit_test(test_err_syntax),
		cmocka_unit_test(test_err_anchor_tag),
		cmocka_unit_test(test_err_unknown_dup),
		cmocka_unit_test(test_err_empty_required),
		cmocka_unit_test(test_err_addresses),
		cmocka_unit_test(test_err_ring_mode_engine),
		cmocka_unit_test(test_err_generic),
		cmocka_unit_test(test_err_urls),
		cmocka_unit_test(test_err_numbers),
		cmocka_unit_test(test_err_policy_check),
		cmocka_unit_test(test_err_agent),
		cmocka_unit_test(test_err_limits),
		cmocka_unit_test(test_small_errbuf),
		cmocka_unit_test(test_err_after_alloc),
		cmocka_unit_test(test_vip_admission),
		cmocka_unit_test(test_no_vips_warning),
		cmocka_unit_test(test_guard_keys),
		cmocka_unit_test(test_listen_loopback),
		cmocka_unit_test_setup_teardown(test_metrics_web, web_setup,
						web_teardown),
		cmocka_unit_test_setup_teardown(test_err_metrics_web, web_setup,
						web_teardown),
		cmocka_unit_test(test_topo_agent_names),
		cmocka_unit_test(test_announce_section),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_cluster_section),
		cmocka_unit_test(test_second_chance_keys),
		cmocka_unit_test(test_watch_keys),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_discover_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
