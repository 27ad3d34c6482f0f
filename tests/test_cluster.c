// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_cluster.c - cluster mode's pure parts: base64 (lib/lb_etcd.c), the
 * decision's encode/decode and every refusal, generations, the election's
 * txn JSON (agent/cluster.c). The etcd I/O itself runs against a real
 * etcd in tests/test_cluster_agent.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "cluster.h"
#include "lb_addr.h"
#include "lb_etcd.h"

static void b64_round(const char *in, size_t n, const char *want)
{
	char *e = lb_b64_encode(in, n), *d;
	size_t dn;

	assert_non_null(e);
	assert_string_equal(e, want);
	d = lb_b64_decode(e, strlen(e), &dn);
	assert_non_null(d);
	assert_int_equal(dn, n);
	assert_memory_equal(d, in, n);
	free(e);
	free(d);
}

static void test_base64(void **state)
{
	size_t n;

	(void)state;
	/* RFC 4648 section 10 */
	b64_round("", 0, "");
	b64_round("f", 1, "Zg==");
	b64_round("fo", 2, "Zm8=");
	b64_round("foo", 3, "Zm9v");
	b64_round("foob", 4, "Zm9vYg==");
	b64_round("fooba", 5, "Zm9vYmE=");
	b64_round("foobar", 6, "Zm9vYmFy");
	b64_round("\0\xff\x10", 3, "AP8Q");
	/* refused: length, alphabet, padding in the middle */
	assert_null(lb_b64_decode("Zm9", 3, &n));
	assert_null(lb_b64_decode("Zm9*", 4, &n));
	assert_null(lb_b64_decode("Zg==Zm9v", 8, &n));
	assert_null(lb_b64_decode("Z===", 4, &n));
	assert_null(lb_b64_decode("Zm=v", 4, &n));
}

static void sample(struct lb_cl_decision *d)
{
	char msg[128];

	memset(d, 0, sizeof(*d));
	strcpy(d->cluster, "edge");
	strcpy(d->leader, "lb1");
	d->generation = 42;
	d->hash_seed = 0xdeadbeef;
	d->n_vips = 1;
	d->vips = calloc(1, sizeof(*d->vips));
	assert_int_equal(lb_parse_vip("198.18.1.10:8000/tcp", &d->vips[0].key, msg,
				      sizeof(msg)), 0);
	d->vips[0].ring_size = 4099;
	d->vips[0].n = 2;
	d->vips[0].be = calloc(2, sizeof(struct lb_cl_backend));
	for (int i = 0; i < 2; i++) {
		struct lb_cl_backend *b = &d->vips[0].be[i];
		char a[32];

		snprintf(a, sizeof(a), "198.18.0.%d", 10 + i);
		assert_int_equal(lb_parse_ip(a, b->addr, &b->family, msg, sizeof(msg)), 0);
		b->weight = 1000000 - i;
		b->state = i ? LB_BE_DRAINING : LB_BE_HEALTHY;
		b->rate = 500 + i;
		b->burst = 50;
		b->score = 3000;
		b->slots = 8;
		b->slot_wait_ns = 12345678;
		b->requests = 7;
		b->has_requests = i == 0;
	}
}

static void test_roundtrip(void **state)
{
	struct lb_cl_decision d, e;
	char *t, *t2, msg[256];

	(void)state;
	sample(&d);
	t = lb_cl_encode(&d);
	assert_non_null(t);
	assert_int_equal(lb_cl_decode(t, strlen(t), "edge", &e, msg, sizeof(msg)), 0);
	assert_int_equal(e.generation, 42);
	assert_int_equal(e.hash_seed, 0xdeadbeef);
	assert_string_equal(e.leader, "lb1");
	assert_int_equal(e.n_vips, 1);
	assert_memory_equal(&e.vips[0].key, &d.vips[0].key, sizeof(d.vips[0].key));
	assert_int_equal(e.vips[0].ring_size, 4099);
	assert_int_equal(e.vips[0].n, 2);
	for (int i = 0; i < 2; i++) {
		const struct lb_cl_backend *a = &d.vips[0].be[i], *b = &e.vips[0].be[i];

		assert_memory_equal(a->addr, b->addr, 16);
		assert_int_equal(a->family, b->family);
		assert_int_equal(a->weight, b->weight);
		assert_int_equal(a->state, b->state);
		assert_int_equal(a->rate, b->rate);
		assert_int_equal(a->burst, b->burst);
		assert_int_equal(a->score, b->score);
		assert_int_equal(a->slots, b->slots);
		assert_int_equal(a->slot_wait_ns, b->slot_wait_ns);
		assert_int_equal(a->has_requests, b->has_requests);
		assert_int_equal(b->requests, a->has_requests ? 7 : 0);
	}
	/* encode(decode(x)) == x */
	t2 = lb_cl_encode(&e);
	assert_string_equal(t, t2);
	free(t);
	free(t2);
	lb_cl_decision_free(&d);
	lb_cl_decision_free(&e);
}

/* The sample's JSON with one edit (json-c), decoded: must be refused. */
typedef void (*edit_fn)(json_object *o);

static void refused(edit_fn edit, const char *cluster, const char *why)
{
	struct lb_cl_decision d, e;
	char *t, msg[256];
	json_object *o;
	const char *s;

	sample(&d);
	t = lb_cl_encode(&d);
	o = json_tokener_parse(t);
	assert_non_null(o);
	if (edit)
		edit(o);
	s = json_object_to_json_string(o);
	assert_int_equal(lb_cl_decode(s, strlen(s), cluster, &e, msg, sizeof(msg)), -22);
	assert_non_null(strstr(msg, why));
	assert_null(e.vips);
	json_object_put(o);
	free(t);
	lb_cl_decision_free(&d);
}

static json_object *be0(json_object *o)
{
	json_object *v, *b;

	json_object_object_get_ex(json_object_array_get_idx(
		json_object_object_get(o, "vips"), 0), "backends", &b);
	v = json_object_array_get_idx(b, 0);
	return v;
}

static void e_version(json_object *o) { json_object_object_add(o, "version", json_object_new_int(2)); }
static void e_format(json_object *o) { json_object_object_add(o, "format", json_object_new_string("x")); }
static void e_gen0(json_object *o) { json_object_object_add(o, "generation", json_object_new_int(0)); }
static void e_gen_str(json_object *o) { json_object_object_add(o, "generation", json_object_new_string("5")); }
static void e_novips(json_object *o) { json_object_object_add(o, "vips", json_object_new_array()); }
static void e_unknown(json_object *o) { json_object_object_add(o, "extra", json_object_new_int(1)); }
static void e_w_str(json_object *o) { json_object_object_add(be0(o), "weight", json_object_new_string("100")); }
static void e_w_big(json_object *o) { json_object_object_add(be0(o), "weight", json_object_new_int(1000001)); }
static void e_w_neg(json_object *o) { json_object_object_add(be0(o), "rate", json_object_new_int(-1)); }
static void e_w_dbl(json_object *o) { json_object_object_add(be0(o), "slots", json_object_new_double(1.5)); }
static void e_state(json_object *o) { json_object_object_add(be0(o), "state", json_object_new_string("happy")); }
static void e_state_int(json_object *o) { json_object_object_add(be0(o), "state", json_object_new_int(0)); }
static void e_addr(json_object *o) { json_object_object_add(be0(o), "address", json_object_new_string("2001:db8::1")); }
static void e_be_unknown(json_object *o) { json_object_object_add(be0(o), "colour", json_object_new_string("red")); }
static void e_missing(json_object *o) { json_object_object_del(be0(o), "burst"); }
static void e_slots(json_object *o) { json_object_object_add(be0(o), "slots", json_object_new_int(70000)); }
static void e_dup(json_object *o)
{
	json_object *b;

	json_object_object_get_ex(json_object_array_get_idx(
		json_object_object_get(o, "vips"), 0), "backends", &b);
	json_object_array_add(b, json_object_get(json_object_array_get_idx(b, 0)));
}
static void e_vip(json_object *o)
{
	json_object_object_add(json_object_array_get_idx(json_object_object_get(o, "vips"), 0),
			       "vip", json_object_new_string("nonsense"));
}

static void test_refusals(void **state)
{
	struct lb_cl_decision e;
	char msg[256];

	(void)state;
	refused(e_version, "edge", "version 2");
	refused(e_format, "edge", "format");
	refused(NULL, "other", "of cluster \"edge\"");
	refused(e_gen0, "edge", "generation 0");
	refused(e_gen_str, "edge", "\"generation\" must be an integer");
	refused(e_novips, "edge", "no VIPs");
	refused(e_unknown, "edge", "unknown field \"extra\"");
	refused(e_w_str, "edge", "\"weight\" must be an integer");
	refused(e_w_big, "edge", "\"weight\" must be 0..1000000");
	refused(e_w_neg, "edge", "\"rate\" must be 0..");
	refused(e_w_dbl, "edge", "\"slots\" must be an integer");
	refused(e_slots, "edge", "\"slots\" must be 0..65535");
	refused(e_state, "edge", "unknown state");
	refused(e_state_int, "edge", "\"state\" must be a string");
	refused(e_addr, "edge", "not an address of the VIP's family");
	refused(e_be_unknown, "edge", "unknown field \"colour\"");
	refused(e_missing, "edge", "\"burst\" is missing");
	refused(e_dup, "edge", "the same address twice");
	refused(e_vip, "edge", "vips[0]: vip");
	/* not JSON, or more than one object */
	assert_int_equal(lb_cl_decode("{\"a\":", 5, "edge", &e, msg, sizeof(msg)), -22);
	assert_int_equal(lb_cl_decode("{} {}", 5, "edge", &e, msg, sizeof(msg)), -22);
	assert_int_equal(lb_cl_decode("[]", 2, "edge", &e, msg, sizeof(msg)), -22);
	assert_int_equal(lb_cl_decode("", 0, "edge", &e, msg, sizeof(msg)), -22);
}

static void test_generations(void **state)
{
	(void)state;
	assert_int_equal(lb_cl_gen_check(0, 1), LB_CL_GEN_NEW);
	assert_int_equal(lb_cl_gen_check(5, 6), LB_CL_GEN_NEW);
	assert_int_equal(lb_cl_gen_check(5, 5), LB_CL_GEN_SAME);
	assert_int_equal(lb_cl_gen_check(5, 4), LB_CL_GEN_OLD);
}

static void test_campaign_json(void **state)
{
	char *t = lb_cl_campaign_json("edge", "lb1", 7587899366914095622LL);
	const char *want =
		"{\"compare\":[{\"key\":\"L2luZmVybGIvZWRnZS9sZWFkZXI=\",\"target\":\"CREATE\","
		"\"result\":\"EQUAL\",\"create_revision\":\"0\"}],"
		"\"success\":[{\"request_put\":{\"key\":\"L2luZmVybGIvZWRnZS9sZWFkZXI=\","
		"\"value\":\"bGIx\",\"lease\":\"7587899366914095622\"}},"
		"{\"request_range\":{\"key\":\"L2luZmVybGIvZWRnZS9kZWNpc2lvbg==\"}}],"
		"\"failure\":[{\"request_range\":{\"key\":\"L2luZmVybGIvZWRnZS9sZWFkZXI=\"}}]}";
	struct lb_etcd_op op = { .type = LB_ETCD_OP_GET, .key = "/a/", .prefix = true };

	(void)state;
	assert_non_null(t);
	assert_string_equal(t, want);
	free(t);
	/* a prefix read: range_end is the prefix with its last byte + 1 */
	t = lb_etcd_txn_json(NULL, 0, &op, 1, NULL, 0);
	assert_string_equal(t, "{\"success\":[{\"request_range\":{\"key\":\"L2Ev\","
			       "\"range_end\":\"L2Ew\"}}]}");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_generations),
		cmocka_unit_test(test_campaign_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
