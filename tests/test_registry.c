// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_registry.c - a worker's etcd registry entry (lib/lb_registry.h):
 * encode and decode round trips, the key, and every way a value is
 * refused (with the key the message names).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_registry.h"

static struct lb_registry_entry entry(const char *ip, uint16_t port)
{
	struct lb_registry_entry e = { .port = port };
	char msg[128];

	assert_int_equal(lb_parse_ip(ip, e.addr, &e.family, msg, sizeof(msg)), 0);
	return e;
}

static void assert_same(const struct lb_registry_entry *a,
			const struct lb_registry_entry *b)
{
	assert_memory_equal(a->addr, b->addr, 16);
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->port, b->port);
	assert_string_equal(a->engine, b->engine);
	assert_string_equal(a->url, b->url);
	assert_true(a->capacity == b->capacity);
	assert_int_equal(a->slots, b->slots);
}

/* encode, check the text, decode it back to the same entry */
static void round_trip(const struct lb_registry_entry *e, const char *want)
{
	struct lb_registry_entry back;
	char msg[256] = "";
	char *text = lb_registry_encode(e);

	assert_non_null(text);
	if (want)
		assert_string_equal(text, want);
	if (lb_registry_decode(text, strlen(text), &back, msg, sizeof(msg)))
		fail_msg("decode of %s: %s", text, msg);
	assert_same(e, &back);
	free(text);
}

static void test_round_trip(void **state)
{
	struct lb_registry_entry e = entry("198.18.1.11", 8000);
	double caps[] = { 0.1, 0.5, 1, 2, 1e-3, 1000, 3.14159, 999.999 };

	(void)state;
	/* keys not given are left out */
	round_trip(&e, "{ \"address\": \"198.18.1.11\", \"port\": 8000 }");
	strcpy(e.engine, "vllm");
	strcpy(e.url, "http://198.18.1.11:8000");
	e.capacity = 1.0;
	e.slots = 64;
	round_trip(&e, "{ \"address\": \"198.18.1.11\", \"port\": 8000, "
		   "\"engine\": \"vllm\", \"url\": \"http://198.18.1.11:8000\", "
		   "\"capacity\": 1.0, \"slots\": 64 }");
	/* capacities read back exactly, written short */
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		e.capacity = caps[i];
		round_trip(&e, NULL);
	}
	e.capacity = 0.1;
	round_trip(&e, "{ \"address\": \"198.18.1.11\", \"port\": 8000, "
		   "\"engine\": \"vllm\", \"url\": \"http://198.18.1.11:8000\", "
		   "\"capacity\": 0.1, \"slots\": 64 }");

	e = entry("2001:db8::11", 65535);
	strcpy(e.engine, "triton");
	strcpy(e.url, "https://[2001:db8::11]:8443/base/");
	e.slots = 65535;
	round_trip(&e, "{ \"address\": \"2001:db8::11\", \"port\": 65535, "
		   "\"engine\": \"triton\", \"url\": \"https://[2001:db8::11]:8443/base/\", "
		   "\"slots\": 65535 }");
	for (const char *const *n = (const char *const[]){ "vllm", "sglang", "tgi",
			"triton", "generic", NULL }; *n; n++) {
		strcpy(e.engine, *n);
		round_trip(&e, NULL);
	}
}

static int dec(const char *text, struct lb_registry_entry *e, char *msg,
	       size_t len)
{
	return lb_registry_decode(text, strlen(text), e, msg, len);
}

/* What others may write: any order, blanks, escapes, a number 2 for 2.0. */
static void test_decode_forms(void **state)
{
	struct lb_registry_entry e;
	char msg[256] = "";

	(void)state;
	assert_int_equal(dec("\n\t { \"slots\":1,\"capacity\" : 2 , \"port\":1,"
			     "\"\\u0061ddress\":\"198.18.1.1\"}\r\n ", &e, msg,
			     sizeof(msg)), 0);
	assert_int_equal(e.port, 1);
	assert_int_equal(e.family, LB_AF_INET);
	assert_true(e.capacity == 2.0);
	assert_int_equal(e.slots, 1);
	assert_string_equal(e.engine, "");
	assert_string_equal(e.url, "");
	assert_int_equal(dec("{\"address\":\"::ffff:198.18.1.1\",\"port\":80,"
			     "\"capacity\":1e2,\"url\":\"http:\\/\\/h\"}", &e,
			     msg, sizeof(msg)), 0);
	assert_int_equal(e.family, LB_AF_INET6);
	assert_true(e.capacity == 100.0);
	assert_string_equal(e.url, "http://h");
	/* not NUL-terminated: len is what counts */
	assert_int_equal(lb_registry_decode("{\"address\":\"198.18.1.1\",\"port\":80}xyz",
					    34, &e, msg, sizeof(msg)), 0);
	assert_int_equal(e.port, 80);
}

/* Each refused with -EINVAL, the entry zeroed, msg holding want. */
static void refused(const char *text, size_t len, const char *want)
{
	struct lb_registry_entry e;
	char msg[256] = "";
	int err;

	memset(&e, 0xa5, sizeof(e));
	err = lb_registry_decode(text, len, &e, msg, sizeof(msg));
	if (err != -EINVAL)
		fail_msg("%.200s: %d, not -EINVAL", text, err);
	if (!strstr(msg, want))
		fail_msg("%.200s: message \"%s\" lacks \"%s\"", text, msg, want);
	for (size_t i = 0; i < sizeof(e); i++)
		assert_int_equal(((unsigned char *)&e)[i], 0);
}

#define REFUSED(text, want) refused(text, strlen(text), want)
#define A "\"address\":\"198.18.1.11\""
#define P "\"port\":8000"

static void test_refused_json(void **state)
{
	char big[LB_REGISTRY_VALUE_MAX + 64];
	int n;

	(void)state;
	/* too long: refused unparsed, even if it is valid JSON */
	n = snprintf(big, sizeof(big), "{" A "," P ",\"url\":\"http://h/");
	memset(big + n, 'a', LB_REGISTRY_VALUE_MAX - n);
	strcpy(big + LB_REGISTRY_VALUE_MAX - 1, "\"}");
	refused(big, LB_REGISTRY_VALUE_MAX + 1, "more than 4096");
	big[LB_REGISTRY_VALUE_MAX - 2] = 0;
	strcat(big, "\"}");	/* exactly the maximum: taken (url too long) */
	refused(big, LB_REGISTRY_VALUE_MAX, "url:");
	refused("{" A ",\0" P "}", 32, "NUL byte");
	REFUSED("", "not JSON");
	REFUSED("   ", "not JSON");
	REFUSED("{", "not JSON");
	REFUSED("nope", "not JSON");
	REFUSED("{" A "," P "} x", "bytes after the value");
	REFUSED("{" A "," P "}{}", "bytes after the value");
	REFUSED("{" A "," P ",}", "not JSON");		/* trailing comma */
	REFUSED("{'address':'198.18.1.11'," P "}", "not JSON");
	REFUSED("{" A "," P "/* c */}", "not JSON");
	/* json-c takes NaN even when strict: refused as a value */
	REFUSED("{" A ",\"port\":NaN}", "port: must be");
	REFUSED("{" A "," P ",\"capacity\":NaN}", "capacity: must be");
	REFUSED("{" A "," P ",\"capacity\":-Infinity}", "capacity:");
	REFUSED("{" A ",\"port\":08000}", "not JSON");
	REFUSED("{" A "," P ",\"engine\":\"\xff\"}", "not JSON");	/* not UTF-8 */
	REFUSED("[]", "must be a JSON object");
	REFUSED("\"x\"", "must be a JSON object");
	REFUSED("12", "must be a JSON object");
	REFUSED("null", "must be a JSON object");
	REFUSED("true", "must be a JSON object");
}

static void test_refused_keys(void **state)
{
	(void)state;
	REFUSED("{" A "," P ",\"weight\":1}", "unknown key \"weight\"");
	REFUSED("{" A "," P ",\"Port\":1}", "unknown key \"Port\"");
	REFUSED("{" A "," P ",\"\\u0001\":1}", "unknown key \"\\u0001\"");
	REFUSED("{" A "," P ",\"port\":8001}", "port: given twice");
	REFUSED("{" A "," P ",\"\\u0070ort\":8001}", "port: given twice");
	REFUSED("{\"slots\":1," A ",\"url\":\"http://a\"," P ",\"slots\":1}",
		"slots: given twice");
	REFUSED("{" A "," A "," P "}", "address: given twice");
	/* a nested object's keys are not the value's */
	REFUSED("{" A "," P ",\"slots\":{\"port\":1}}", "slots: must be");
	REFUSED("{" P "}", "address: missing");
	REFUSED("{" A "}", "port: missing");
	REFUSED("{}", "address: missing");
}

static void test_refused_values(void **state)
{
	char url[LB_REGISTRY_URL_MAX + 64], text[LB_REGISTRY_URL_MAX + 128];

	(void)state;
	REFUSED("{\"address\":12," P "}", "address: must be an IPv4 or IPv6 address as a string, got 12");
	REFUSED("{\"address\":\"not-an-ip\"," P "}", "address: must be");
	REFUSED("{\"address\":\"198.18.1.11:8000\"," P "}", "address: must be");
	REFUSED("{\"address\":\"[2001:db8::1]\"," P "}", "address: must be");
	REFUSED("{\"address\":\"\"," P "}", "address: must be");
	REFUSED("{\"address\":\"198.18.1.11\\u0000x\"," P "}", "address: must be");
	REFUSED("{\"address\":null," P "}", "address: must be");
	REFUSED("{" A ",\"port\":0}", "port: must be a whole number from 1 to 65535, got 0");
	REFUSED("{" A ",\"port\":65536}", "port: must be");
	REFUSED("{" A ",\"port\":-1}", "port: must be");
	REFUSED("{" A ",\"port\":99999999999999999999999}", "port: must be");
	REFUSED("{" A ",\"port\":\"8000\"}", "port: must be a whole number from 1 to 65535, got \"8000\"");
	REFUSED("{" A ",\"port\":8000.0}", "port: must be");
	REFUSED("{" A ",\"port\":8e3}", "port: must be");
	REFUSED("{" A ",\"port\":true}", "port: must be");
	REFUSED("{" A ",\"port\":[8000]}", "port: must be");
	REFUSED("{" A "," P ",\"engine\":\"foo\"}",
		"engine: must be one of vllm, sglang, tgi, triton, generic, got \"foo\"");
	REFUSED("{" A "," P ",\"engine\":\"VLLM\"}", "engine: must be");
	REFUSED("{" A "," P ",\"engine\":\"vllm,\"}", "engine: must be");
	REFUSED("{" A "," P ",\"engine\":\"\"}", "engine: must be");
	REFUSED("{" A "," P ",\"engine\":\"a-very-long-engine-name\"}", "engine: must be");
	REFUSED("{" A "," P ",\"engine\":1}", "engine: must be");
	REFUSED("{" A "," P ",\"url\":\"ftp://h\"}", "url: must be an http:// or https:// URL");
	REFUSED("{" A "," P ",\"url\":\"http://\"}", "url: must be");
	REFUSED("{" A "," P ",\"url\":\"http:///x\"}", "url: must be");
	REFUSED("{" A "," P ",\"url\":\"http://a b\"}", "url: must be");
	REFUSED("{" A "," P ",\"url\":\"http://a\\tb\"}", "url: must be");
	REFUSED("{" A "," P ",\"url\":\"http://a\\u0001\"}", "got \"http://a\\u0001\"");
	REFUSED("{" A "," P ",\"url\":\"http://h\\u00e9\"}", "url: must be");
	REFUSED("{" A "," P ",\"url\":\"\"}", "url: must be");
	REFUSED("{" A "," P ",\"url\":true}", "url: must be");
	/* LB_REGISTRY_URL_MAX - 1 bytes fit, LB_REGISTRY_URL_MAX do not */
	strcpy(url, "http://h/");
	memset(url + 9, 'a', LB_REGISTRY_URL_MAX - 10);
	url[LB_REGISTRY_URL_MAX - 1] = 0;
	snprintf(text, sizeof(text), "{" A "," P ",\"url\":\"%s\"}", url);
	{
		struct lb_registry_entry e;
		char msg[256];

		assert_int_equal(dec(text, &e, msg, sizeof(msg)), 0);
		assert_string_equal(e.url, url);
	}
	strcat(url, "a");
	snprintf(text, sizeof(text), "{" A "," P ",\"url\":\"%s\"}", url);
	REFUSED(text, "url: must be");
	REFUSED(text, "...");	/* the value shown is cut short */
	REFUSED("{" A "," P ",\"capacity\":0}", "capacity: must be a number in (0, 1000], got 0");
	REFUSED("{" A "," P ",\"capacity\":0.0}", "capacity: must be");
	REFUSED("{" A "," P ",\"capacity\":-1}", "capacity: must be");
	REFUSED("{" A "," P ",\"capacity\":1000.5}", "capacity: must be");
	REFUSED("{" A "," P ",\"capacity\":1e400}", "capacity:");
	REFUSED("{" A "," P ",\"capacity\":\"1\"}", "capacity: must be");
	REFUSED("{" A "," P ",\"capacity\":true}", "capacity: must be");
	REFUSED("{" A "," P ",\"slots\":0}", "slots: must be a whole number from 1 to 65535, got 0");
	REFUSED("{" A "," P ",\"slots\":65536}", "slots: must be");
	REFUSED("{" A "," P ",\"slots\":1.5}", "slots: must be");
	REFUSED("{" A "," P ",\"slots\":\"64\"}", "slots: must be");
}

static void test_key(void **state)
{
	struct lb_registry_entry e = entry("198.18.1.11", 8000);
	char key[64];

	(void)state;
	assert_int_equal(lb_registry_key("/inferlb/workers/pool-a/", &e, key,
					 sizeof(key)), 0);
	assert_string_equal(key, "/inferlb/workers/pool-a/198.18.1.11:8000");
	e = entry("2001:db8::11", 8000);
	assert_int_equal(lb_registry_key("/p/", &e, key, sizeof(key)), 0);
	assert_string_equal(key, "/p/[2001:db8::11]:8000");
	/* exactly full: fits; one byte less: refused, empty */
	assert_int_equal(lb_registry_key("/p/", &e, key, strlen(key) + 1), 0);
	assert_int_equal(lb_registry_key("/p/", &e, key, strlen(key)), -ENAMETOOLONG);
	assert_string_equal(key, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_decode_forms),
		cmocka_unit_test(test_refused_json),
		cmocka_unit_test(test_refused_keys),
		cmocka_unit_test(test_refused_values),
		cmocka_unit_test(test_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
