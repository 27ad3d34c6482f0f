// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_print.c - unit tests of lbctl's text/JSON output sink (lb_print).
 *
 * stdout and stderr are redirected (dup2) to temporary files around each
 * sequence of calls and compared byte for byte with the expected output.
 * Every JSON output is also run through a small strict JSON parser here,
 * so "valid JSON" is checked rather than assumed: that guarantee (even
 * after an error or API misuse) is the point of the module.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lb_print.h"

/* ---- capture of stdout and stderr ---------------------------------------- */

struct capture {
	FILE *f[2];
	int saved[2];
	char *out;	/* what went to stdout, NUL-terminated */
	char *err;	/* what went to stderr */
};

static struct capture cap;

static void cap_begin(void)
{
	int i;

	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < 2; i++) {
		cap.f[i] = tmpfile();
		assert_non_null(cap.f[i]);
		cap.saved[i] = dup(1 + i);
		assert_true(cap.saved[i] >= 0);
		assert_true(dup2(fileno(cap.f[i]), 1 + i) >= 0);
	}
}

static char *slurp(FILE *f)
{
	long size;
	size_t n;
	char *s;

	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size >= 0);
	s = malloc((size_t)size + 1);
	assert_non_null(s);
	rewind(f);
	n = fread(s, 1, (size_t)size, f);
	assert_int_equal(n, (size_t)size);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* Restores the real streams before any assertion can print. */
static void cap_end(void)
{
	int i;

	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < 2; i++) {
		dup2(cap.saved[i], 1 + i);
		close(cap.saved[i]);
	}
	free(cap.out);
	free(cap.err);
	cap.out = slurp(cap.f[0]);
	cap.err = slurp(cap.f[1]);
}

static int teardown(void **state)
{
	(void)state;
	free(cap.out);
	free(cap.err);
	cap.out = NULL;
	cap.err = NULL;
	return 0;
}

/* ---- strict JSON parser (RFC 8259 grammar), for validity checks ---------- */

static const char *j_value(const char *p);

static const char *j_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *j_string(const char *p)
{
	int i;

	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;	/* also the terminating NUL */
		if (*p++ != '\\')
			continue;
		if (*p && strchr("\"\\/bfnrt", *p)) {
			p++;
			continue;
		}
		if (*p++ != 'u')
			return NULL;
		for (i = 0; i < 4; i++, p++)
			if (!*p || !strchr("0123456789abcdefABCDEF", *p))
				return NULL;
	}
	return p + 1;
}

static const char *j_digits(const char *p)
{
	if (*p < '0' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9')
		p++;
	return p;
}

static const char *j_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!(p = j_digits(p)))
		return NULL;
	if (*p == '.' && !(p = j_digits(p + 1)))
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		p = j_digits(p);
	}
	return p;
}

static const char *j_container(const char *p, char close, bool keys)
{
	p = j_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (keys) {
			p = j_string(j_ws(p));
			if (!p)
				return NULL;
			p = j_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		p = j_value(p);
		if (!p)
			return NULL;
		p = j_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *j_value(const char *p)
{
	p = j_ws(p);
	switch (*p) {
	case '{':
		return j_container(p, '}', true);
	case '[':
		return j_container(p, ']', false);
	case '"':
		return j_string(p);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default:
		return j_number(p);
	}
}

/* Exactly one JSON value, then only whitespace. */
static bool json_valid(const char *s)
{
	const char *p = j_value(s);

	return p && *j_ws(p) == '\0';
}

static void test_parser_self_check(void **state)
{
	(void)state;
	assert_true(json_valid("{\"a\":[1,-2.5e+3,true,null,{}],\"b\":\"\\u00e9\"}\n"));
	assert_false(json_valid(""));
	assert_false(json_valid("{\"a\":1}{\"b\":2}"));
	assert_false(json_valid("{\"a\":1,}"));
	assert_false(json_valid("[1 2]"));
	assert_false(json_valid("\"a\nb\""));
	assert_false(json_valid("[nan]"));
	assert_false(json_valid("{\"a\":[}"));
}

/* ---- text mode ------------------------------------------------------------ */

static void test_text_fields(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(false, false);
	lb_out_text("%-6s %s\n", "VIP", "PORT");
	lb_out_open_object(NULL);
	lb_out_str("name", "%-6s ", "vip0");
	lb_out_u64("port", "%llu", 443ULL);
	lb_out_text("\n");
	lb_out_open_array("backends");
	lb_out_s64("delta", "delta=%lld ", -7LL);
	lb_out_double("load", "load=%.2f ", 0.25);
	lb_out_bool("up", "up=%s ", true);
	lb_out_bool("down", "down=%s ", false);
	lb_out_null("none", "none=- ");
	lb_out_str("hidden", NULL, "json only");
	lb_out_u64("hidden2", NULL, 1);
	lb_out_str("missing", "name=%s", NULL);
	lb_out_close_array();
	lb_out_close_object();
	lb_out_text("\n");
	lb_out_fini();
	cap_end();

	assert_false(lb_out_is_json());
	assert_string_equal(cap.out,
			    "VIP    PORT\n"
			    "vip0   443\n"
			    "delta=-7 load=0.25 up=yes down=no none=- name=-\n");
	assert_string_equal(cap.err, "");
}

/* ---- JSON mode ------------------------------------------------------------ */

/* One document using every value type and every kind of nesting. */
static void emit_nested(void)
{
	lb_out_open_object(NULL);
	lb_out_str("name", "%s", "vip0");	/* formats are text-only */
	lb_out_u64("port", "%llu", 443);
	lb_out_s64("delta", NULL, -7);
	lb_out_double("load", NULL, 0.25);
	lb_out_bool("up", "%s", true);
	lb_out_bool("down", NULL, false);
	lb_out_null("none", "-");
	lb_out_text("text only %d\n", 1);
	lb_out_open_array("backends");
	lb_out_open_object(NULL);
	lb_out_str("addr", NULL, "10.0.0.1");
	lb_out_u64("w", NULL, 3);
	lb_out_close_object();
	lb_out_open_object(NULL);
	lb_out_close_object();
	lb_out_close_array();
	lb_out_open_array("empty");
	lb_out_close_array();
	lb_out_open_array("nums");
	lb_out_u64(NULL, NULL, 1);
	lb_out_s64(NULL, NULL, -2);
	lb_out_double(NULL, NULL, 1e20);
	lb_out_open_array(NULL);
	lb_out_str(NULL, NULL, "x");
	lb_out_close_array();
	lb_out_close_array();
	lb_out_open_object("stats");
	lb_out_u64("pkts", NULL, 18446744073709551615ULL);
	lb_out_s64("min", NULL, INT64_MIN);
	lb_out_close_object();
	lb_out_close_object();
}

static void test_json_compact(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, false);
	emit_nested();
	lb_out_fini();
	cap_end();

	assert_true(lb_out_is_json());
	assert_string_equal(cap.out,
		"{\"name\":\"vip0\",\"port\":443,\"delta\":-7,\"load\":0.25,"
		"\"up\":true,\"down\":false,\"none\":null,"
		"\"backends\":[{\"addr\":\"10.0.0.1\",\"w\":3},{}],"
		"\"empty\":[],\"nums\":[1,-2,1e+20,[\"x\"]],"
		"\"stats\":{\"pkts\":18446744073709551615,"
		"\"min\":-9223372036854775808}}\n");
	assert_string_equal(cap.err, "");
	assert_true(json_valid(cap.out));
}

static void test_json_pretty(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, true);
	emit_nested();
	lb_out_fini();
	cap_end();

	assert_string_equal(cap.out,
		"{\n"
		"    \"name\": \"vip0\",\n"
		"    \"port\": 443,\n"
		"    \"delta\": -7,\n"
		"    \"load\": 0.25,\n"
		"    \"up\": true,\n"
		"    \"down\": false,\n"
		"    \"none\": null,\n"
		"    \"backends\": [\n"
		"        {\n"
		"            \"addr\": \"10.0.0.1\",\n"
		"            \"w\": 3\n"
		"        },\n"
		"        {}\n"
		"    ],\n"
		"    \"empty\": [],\n"
		"    \"nums\": [\n"
		"        1,\n"
		"        -2,\n"
		"        1e+20,\n"
		"        [\n"
		"            \"x\"\n"
		"        ]\n"
		"    ],\n"
		"    \"stats\": {\n"
		"        \"pkts\": 18446744073709551615,\n"
		"        \"min\": -9223372036854775808\n"
		"    }\n"
		"}\n");
	assert_string_equal(cap.err, "");
	assert_true(json_valid(cap.out));
}

static void test_json_escaping(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, false);
	lb_out_open_object(NULL);
	lb_out_str("s", "%s", "q\"b\\n\nt\t\x01 caf\xc3\xa9");
	lb_out_str("ctl", NULL, "\b\f\r\x1f\x7f/");
	lb_out_str("k\"ey\n", NULL, "4-byte \xf0\x9f\x98\x80 3-byte \xe2\x82\xac");
	lb_out_close_object();
	lb_out_fini();
	cap_end();

	assert_string_equal(cap.out,
		"{\"s\":\"q\\\"b\\\\n\\nt\\t\\u0001 caf\xc3\xa9\","
		"\"ctl\":\"\\b\\f\\r\\u001f\\u007f/\","
		"\"k\\\"ey\\n\":\"4-byte \xf0\x9f\x98\x80 3-byte \xe2\x82\xac\"}\n");
	assert_string_equal(cap.err, "");
	assert_true(json_valid(cap.out));
}

/* Invalid UTF-8 must not leak into the document: each bad byte -> U+FFFD. */
static void test_json_bad_utf8(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, false);
	lb_out_open_array(NULL);
	lb_out_str(NULL, NULL, "a\xff" "b");		/* never valid */
	lb_out_str(NULL, NULL, "\xc3");			/* truncated */
	lb_out_str(NULL, NULL, "\xc0\xaf");		/* overlong '/' */
	lb_out_str(NULL, NULL, "\xed\xa0\x80");		/* surrogate */
	lb_out_str(NULL, NULL, "\xf4\x90\x80\x80");	/* > U+10FFFF */
	lb_out_str(NULL, NULL, "\xe2\x82" "x");		/* cut 3-byte */
	lb_out_close_array();
	lb_out_fini();
	cap_end();

	assert_string_equal(cap.out,
		"[\"a\\ufffdb\",\"\\ufffd\",\"\\ufffd\\ufffd\","
		"\"\\ufffd\\ufffd\\ufffd\",\"\\ufffd\\ufffd\\ufffd\\ufffd\","
		"\"\\ufffd\\ufffdx\"]\n");
	assert_true(json_valid(cap.out));
}

static void test_json_doubles(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, false);
	lb_out_open_object(NULL);
	lb_out_double("nan", "%f", NAN);
	lb_out_double("inf", NULL, INFINITY);
	lb_out_double("ninf", NULL, -INFINITY);
	lb_out_double("tenth", NULL, 0.1);
	lb_out_double("big", NULL, 123456789.0);
	lb_out_double("small", NULL, 1.5e-7);
	lb_out_double("zero", NULL, 0.0);
	lb_out_close_object();
	lb_out_fini();
	cap_end();

	assert_string_equal(cap.out,
		"{\"nan\":null,\"inf\":null,\"ninf\":null,\"tenth\":0.1,"
		"\"big\":1.23457e+08,\"small\":1.5e-07,\"zero\":0}\n");
	assert_true(json_valid(cap.out));
}

/* Containers left open are closed by lb_out_fini(), without a warning. */
static void test_json_fini_closes(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, true);
	lb_out_open_object(NULL);
	lb_out_open_array("a");
	lb_out_u64(NULL, NULL, 1);
	lb_out_open_object(NULL);
	lb_out_fini();
	lb_out_u64(NULL, NULL, 2);	/* after fini: ignored */
	lb_out_fini();			/* second fini: nothing */
	cap_end();

	assert_string_equal(cap.out,
		"{\n    \"a\": [\n        1,\n        {}\n    ]\n}\n");
	assert_string_equal(cap.err, "");
	assert_true(json_valid(cap.out));
}

/* A command that printed nothing still gives one JSON value. */
static void test_json_empty(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, false);
	lb_out_text("text only\n");
	lb_out_fini();
	cap_end();

	assert_string_equal(cap.out, "null\n");
	assert_true(json_valid(cap.out));
}

/* Misuse keeps stdout valid and is reported once on stderr. */
static void test_json_misuse(void **state)
{
	char expect[256] = "";
	int i;

	(void)state;
	cap_begin();
	lb_out_init(true, false);
	lb_out_open_array(NULL);
	for (i = 0; i < LB_OUT_MAX_DEPTH + 8; i++)	/* 1 + 39 levels */
		lb_out_open_array(NULL);
	lb_out_u64(NULL, NULL, 7);			/* too deep: dropped */
	for (i = 0; i < LB_OUT_MAX_DEPTH + 8; i++)
		lb_out_close_array();
	lb_out_u64("key", NULL, 1);			/* key in array */
	lb_out_open_object(NULL);
	lb_out_u64(NULL, NULL, 2);			/* no key in object */
	lb_out_close_array();				/* wrong kind */
	lb_out_close_array();
	lb_out_close_array();				/* nothing open */
	lb_out_u64(NULL, NULL, 3);			/* 2nd top value */
	lb_out_open_object(NULL);			/* 2nd top value */
	lb_out_u64("x", NULL, 4);
	lb_out_close_object();
	lb_out_fini();
	cap_end();

	/* 32 levels kept, the deepest 8 and their value dropped. */
	for (i = 0; i < LB_OUT_MAX_DEPTH; i++)
		strcat(expect, "[");
	for (i = 0; i < LB_OUT_MAX_DEPTH - 1; i++)
		strcat(expect, "]");
	strcat(expect, ",1,{\"\":2}]\n");
	assert_string_equal(cap.out, expect);
	assert_string_equal(cap.err,
		"Warning: JSON output: nesting too deep, contents dropped\n");
	assert_true(json_valid(cap.out));
}

/* Each kind of misuse, alone in a document: its warning, valid output. */
static void misuse_key_in_array(void)
{
	lb_out_open_array(NULL);
	lb_out_u64("k", NULL, 1);
}

static void misuse_no_key(void)
{
	lb_out_open_object(NULL);
	lb_out_u64(NULL, NULL, 1);
}

static void misuse_top_key(void)
{
	lb_out_u64("k", NULL, 1);
}

static void misuse_two_top(void)
{
	lb_out_u64(NULL, NULL, 1);
	lb_out_open_array(NULL);
	lb_out_u64(NULL, NULL, 2);
	lb_out_close_array();
}

static void misuse_wrong_close(void)
{
	lb_out_open_array(NULL);
	lb_out_close_object();
}

static void misuse_extra_close(void)
{
	lb_out_open_object(NULL);
	lb_out_close_object();
	lb_out_close_array();
}

static void test_json_misuse_each(void **state)
{
	static const struct {
		void (*emit)(void);
		const char *out;
		const char *warning;
	} cases[] = {
		{ misuse_key_in_array, "[1]\n", "key inside an array ignored" },
		{ misuse_no_key, "{\"\":1}\n",
		  "object member without a key, named \"\"" },
		{ misuse_top_key, "1\n", "key at top level ignored" },
		{ misuse_two_top, "1\n", "second top-level value dropped" },
		{ misuse_wrong_close, "[]\n",
		  "closed the wrong kind of container" },
		{ misuse_extra_close, "{}\n", "close without open ignored" },
	};
	char warning[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cap_begin();
		lb_out_init(true, false);
		cases[i].emit();
		lb_out_fini();
		cap_end();
		snprintf(warning, sizeof(warning),
			 "Warning: JSON output: %s\n", cases[i].warning);
		assert_string_equal(cap.out, cases[i].out);
		assert_string_equal(cap.err, warning);
		assert_true(json_valid(cap.out));
	}
}

/* Exercise buffer growth well past the initial allocation. */
static void test_json_large(void **state)
{
	int i;

	(void)state;
	cap_begin();
	lb_out_init(true, true);
	lb_out_open_array(NULL);
	for (i = 0; i < 20000; i++) {
		lb_out_open_object(NULL);
		lb_out_u64("id", NULL, i);
		lb_out_str("name", NULL, "backend");
		lb_out_close_object();
	}
	lb_out_close_array();
	lb_out_fini();
	cap_end();

	assert_true(strlen(cap.out) > 20000 * 40);
	assert_true(json_valid(cap.out));
	assert_non_null(strstr(cap.out, "\"id\": 19999,"));
	assert_string_equal(cap.err, "");
}

/* ---- errors and warnings -------------------------------------------------- */

static void test_err_text(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(false, false);
	lb_err("cannot open %s: %s", "/sys/fs/bpf/inferlb", "No such file");
	lb_err("trailing newline dropped %d\n", 2);
	lb_out_fini();
	cap_end();

	assert_string_equal(cap.out, "");
	assert_string_equal(cap.err,
		"Error: cannot open /sys/fs/bpf/inferlb: No such file\n"
		"Error: trailing newline dropped 2\n");
}

/* Text printed before an error stays, and comes first. */
static void test_err_text_after_output(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(false, false);
	lb_out_str("name", "%s\n", "vip0");
	lb_err("vip %s: no backends", "vip0");
	lb_out_fini();
	cap_end();

	assert_string_equal(cap.out, "vip0\n");
	assert_string_equal(cap.err, "Error: vip vip0: no backends\n");
}

static void test_err_json_discards_partial(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, false);
	lb_out_open_object(NULL);
	lb_out_str("name", NULL, "vip0");
	lb_out_open_array("backends");
	lb_out_open_object(NULL);
	lb_out_u64("id", NULL, 1);
	lb_err("backend %d: \"%s\" not found", 7, "b7");
	/* The CLI may keep going; none of this may reach stdout. */
	lb_out_close_object();
	lb_out_close_array();
	lb_out_u64("late", NULL, 1);
	lb_out_close_object();
	lb_err("second error");
	lb_out_fini();
	cap_end();

	assert_string_equal(cap.out,
			    "{\"error\":\"backend 7: \\\"b7\\\" not found\"}\n");
	assert_string_equal(cap.err, "Error: second error\n");
	assert_true(json_valid(cap.out));
}

static void test_err_json_pretty(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, true);
	lb_out_open_array(NULL);
	lb_out_u64(NULL, NULL, 1);
	lb_err("map %s: %s\n", "lb_vips", "Operation not permitted");
	cap_end();

	assert_string_equal(cap.out,
		"{\n    \"error\": \"map lb_vips: Operation not permitted\"\n}\n");
	assert_string_equal(cap.err, "");
	assert_true(json_valid(cap.out));
}

/* After an error the next lb_out_init() starts a fresh document. */
static void test_err_json_then_new_doc(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(true, false);
	lb_err("first");
	lb_out_fini();
	cap_end();
	assert_string_equal(cap.out, "{\"error\":\"first\"}\n");

	cap_begin();
	lb_out_init(true, false);
	lb_out_open_object(NULL);
	lb_out_bool("ok", NULL, true);
	lb_out_fini();
	cap_end();
	assert_string_equal(cap.out, "{\"ok\":true}\n");
	assert_string_equal(cap.err, "");
}

static void test_warn(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(false, false);
	lb_out_text("before\n");
	lb_warn("weight %u rounded to %u", 1001u, 1000u);
	lb_out_fini();
	cap_end();
	assert_string_equal(cap.out, "before\n");
	assert_string_equal(cap.err, "Warning: weight 1001 rounded to 1000\n");

	/* JSON mode: still stderr, and the document is untouched. */
	cap_begin();
	lb_out_init(true, false);
	lb_out_open_object(NULL);
	lb_out_u64("a", NULL, 1);
	lb_warn("pin dir %s is stale", "/sys/fs/bpf/x");
	lb_out_u64("b", NULL, 2);
	lb_out_close_object();
	lb_out_fini();
	cap_end();
	assert_string_equal(cap.out, "{\"a\":1,\"b\":2}\n");
	assert_string_equal(cap.err, "Warning: pin dir /sys/fs/bpf/x is stale\n");
	assert_true(json_valid(cap.out));
}

/* ---- escaping of what users typed ------------------------------------------ */

static void expect_escape(const char *in, const char *want)
{
	char *got = lb_escape(in);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_escape(void **state)
{
	(void)state;
	expect_escape("", "");
	expect_escape("198.18.0.10:80/tcp", "198.18.0.10:80/tcp");
	/* control bytes: newline, tab, CR by name; ESC, BEL, DEL as bytes */
	expect_escape("1.2.3.4\n:80/tcp", "1.2.3.4\\n:80/tcp");
	expect_escape("a\tb\rc", "a\\tb\\rc");
	expect_escape("\x1b[31mred", "\\x1b[31mred");
	expect_escape("\x07\x7f", "\\x07\\x7f");
	/* idempotent: text already escaped (a library message quoting a
	 * config value) passes unchanged, so nothing is escaped twice */
	expect_escape("a\\nb", "a\\nb");
	expect_escape("got \"ip\\x01ip\"", "got \"ip\\x01ip\"");
	{
		char *once = lb_escape("x\n\xff\x1b"), *twice = lb_escape(once);

		assert_string_equal(once, twice);
		free(once);
		free(twice);
	}
	/* not UTF-8: a lone byte, a lone continuation byte, a cut sequence */
	expect_escape("\xff", "\\xff");
	expect_escape("x\x80y", "x\\x80y");
	expect_escape("\xe2\x82", "\\xe2\\x82");
	expect_escape("\xe2\x28\xa1", "\\xe2(\\xa1");
	/* overlong forms ('/' as 2 and 3 bytes), a UTF-16 surrogate, and a
	 * code point above U+10FFFF */
	expect_escape("\xc0\xaf", "\\xc0\\xaf");
	expect_escape("\xe0\x80\xaf", "\\xe0\\x80\\xaf");
	expect_escape("\xed\xa0\x80", "\\xed\\xa0\\x80");
	expect_escape("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	/* valid UTF-8 that a terminal acts on: C1 CSI, a bidi override */
	expect_escape("\xc2\x9b" "2J", "\\xc2\\x9b2J");
	expect_escape("a\xe2\x80\xae" "b", "a\\xe2\\x80\\xaeb");
	/* valid printable multibyte UTF-8 passes as it is */
	expect_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	expect_escape("\xc2\xa0\xe2\x80\x94", "\xc2\xa0\xe2\x80\x94");
}

/* Every error and warning is escaped whole, in text and in JSON. */
static void test_err_escaped(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(false, false);
	lb_err("'%s' is not a VIP", "1.2.3.4\n:80/tcp");
	lb_err("no device '%s'", "\xff\x1b[2J");
	lb_warn("odd '%s'", "\t");
	lb_out_fini();
	cap_end();
	assert_string_equal(cap.out, "");
	assert_string_equal(cap.err,
		"Error: '1.2.3.4\\n:80/tcp' is not a VIP\n"
		"Error: no device '\\xff\\x1b[2J'\n"
		"Warning: odd '\\t'\n");

	cap_begin();
	lb_out_init(true, false);
	lb_err("'%s' is not a VIP", "a\nb\xff");
	cap_end();
	assert_string_equal(cap.out,
			    "{\"error\":\"'a\\\\nb\\\\xff' is not a VIP\"}\n");
	assert_true(json_valid(cap.out));
}

/* Text-mode strings are escaped too; JSON strings keep their own rules. */
static void test_text_str_escaped(void **state)
{
	(void)state;
	cap_begin();
	lb_out_init(false, false);
	lb_out_str("file", "applied %s\n", "/tmp/a\nb\x1b");
	lb_out_fini();
	cap_end();
	assert_string_equal(cap.out, "applied /tmp/a\\nb\\x1b\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_parser_self_check, teardown),
		cmocka_unit_test_teardown(test_text_fields, teardown),
		cmocka_unit_test_teardown(test_json_compact, teardown),
		cmocka_unit_test_teardown(test_json_pretty, teardown),
		cmocka_unit_test_teardown(test_json_escaping, teardown),
		cmocka_unit_test_teardown(test_json_bad_utf8, teardown),
		cmocka_unit_test_teardown(test_json_doubles, teardown),
		cmocka_unit_test_teardown(test_json_fini_closes, teardown),
		cmocka_unit_test_teardown(test_json_empty, teardown),
		cmocka_unit_test_teardown(test_json_misuse, teardown),
		cmocka_unit_test_teardown(test_json_misuse_each, teardown),
		cmocka_unit_test_teardown(test_json_large, teardown),
		cmocka_unit_test_teardown(test_err_text, teardown),
		cmocka_unit_test_teardown(test_err_text_after_output, teardown),
		cmocka_unit_test_teardown(test_err_json_discards_partial,
					  teardown),
		cmocka_unit_test_teardown(test_err_json_pretty, teardown),
		cmocka_unit_test_teardown(test_err_json_then_new_doc, teardown),
		cmocka_unit_test_teardown(test_warn, teardown),
		cmocka_unit_test_teardown(test_escape, teardown),
		cmocka_unit_test_teardown(test_err_escaped, teardown),
		cmocka_unit_test_teardown(test_text_str_escaped, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
