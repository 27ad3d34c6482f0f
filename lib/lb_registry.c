// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_registry.c - a worker's registry entry as etcd holds it; see
 * lb_registry.h.
 *
 * Decoding is strict because the value is written by other programs
 * (lbctl register, etcdctl, an operator's tooling) and read by lb-agent,
 * which must say exactly what it skipped and why: json-c's strict
 * tokener over the whole value (trailing bytes are an error), then each
 * key checked for its type and range. json-c keeps the last of two equal
 * keys without a word, so the members are also counted in the text (see
 * find_repeat()).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_msg.h"
#include "lb_registry.h"

/* The keys a value may carry, in the order encode writes them. */
static const char *const keys[] = { "address", "port", "engine", "url",
				    "capacity", "slots" };
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define KEYS_TEXT "address, port, engine, url, capacity, slots"

/* ---- encode -------------------------------------------------------------- */

/* The shortest decimal that reads back as d (so 1.0 is "1.0", not
 * "1.0000000000000000"), kept a JSON number with a fraction or exponent. */
static void fmt_double(double d, char *buf, size_t len)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".eE") && strlen(buf) + 3 <= len)
		strcat(buf, ".0");
}

static int add(json_object *o, const char *k, json_object *v)
{
	if (!v)
		return -1;
	if (json_object_object_add(o, k, v)) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

char *lb_registry_encode(const struct lb_registry_entry *e)
{
	json_object *o = json_object_new_object();
	char ip[64], num[40];
	char *text = NULL;
	int err;

	if (!o)
		return NULL;
	lb_fmt_ip(e->addr, e->family, ip, sizeof(ip));
	err = add(o, "address", json_object_new_string(ip)) ||
	      add(o, "port", json_object_new_int(e->port));
	if (!err && e->engine[0])
		err = add(o, "engine", json_object_new_string(e->engine));
	if (!err && e->url[0])
		err = add(o, "url", json_object_new_string(e->url));
	if (!err && e->capacity != 0) {
		fmt_double(e->capacity, num, sizeof(num));
		err = add(o, "capacity", json_object_new_double_s(e->capacity, num));
	}
	if (!err && e->slots)
		err = add(o, "slots", json_object_new_int64(e->slots));
	if (!err) {
		const char *s = json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);

		text = s ? strdup(s) : NULL;
	}
	json_object_put(o);
	return text;
}

/* ---- decode -------------------------------------------------------------- */

/* v as JSON for a message, cut to a readable length (control bytes come
 * out escaped, so a hostile value cannot reach a terminal raw). */
static const char *shown(json_object *v, char *buf, size_t len)
{
	const char *s = json_object_to_json_string_ext(v,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		s = "?";
	if (strlen(s) < len) {
		memcpy(buf, s, strlen(s) + 1);
	} else {
		memcpy(buf, s, len - 4);
		memcpy(buf + len - 4, "...", 4);
	}
	return buf;
}

#define GOT_MAX 80

/* "KEY: must be WHAT, got VALUE" */
static int bad(char *msg, size_t len, const char *k, json_object *v,
	       const char *what)
{
	char got[GOT_MAX];

	return lb_msgf(msg, len, -EINVAL, "%s: must be %s, got %s", k, what,
		       shown(v, got, sizeof(got)));
}

/* A string without NUL (json-c lets "\u0000" through) shorter than max. */
static const char *get_str(json_object *v, size_t max)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v) || strlen(s) >= max)
		return NULL;
	return s;
}

/* An integer (not 8000.0, not "8000") in [min, max]. */
static int get_uint(json_object *v, int64_t min, int64_t max, int64_t *out)
{
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return *out >= min && *out <= max ? 0 : -1;
}

/* One of LB_REGISTRY_ENGINES (the list is the one home of the names). */
static bool engine_ok(const char *s)
{
	const char *p = LB_REGISTRY_ENGINES;
	size_t n = strlen(s);

	while (*p) {
		size_t w = strcspn(p, ", ");

		if (w == n && !strncmp(p, s, n))
			return true;
		p += w;
		p += strspn(p, ", ");
	}
	return false;
}

/* http(s)://HOST..., printable ASCII, no blanks (as the agent's config
 * wants its URLs). */
static bool url_ok(const char *s)
{
	size_t skip = !strncmp(s, "http://", 7) ? 7 :
		      !strncmp(s, "https://", 8) ? 8 : 0;

	if (!skip || !s[skip] || s[skip] == '/')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* A JSON string s[0..len-1] (quotes included) unescaped, or NULL. */
static json_object *parse_string(const char *s, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)len);
	json_tokener_free(tok);
	return o;
}

/*
 * json-c keeps only the last of two members with the same key. The text
 * is valid JSON by now, so its members are found by a scan: strings at
 * depth 1 right after '{' or ',' are the keys. Each is unescaped by json-c
 * and compared with those before it. Every key is a known one by now (at
 * most NKEYS different), so a repeat shows within the first NKEYS + 1
 * members. Returns the repeated key (malloc'd) or NULL.
 */
static char *find_repeat(const char *s, size_t len)
{
	json_object *seen[NKEYS + 1];
	size_t n = 0, depth = 0;
	bool want_key = false;
	char *dup = NULL;

	for (size_t i = 0; i < len && !dup && n <= NKEYS; i++) {
		char c = s[i];

		if (c == '"') {
			size_t j = i + 1;

			while (j < len && s[j] != '"')
				j += s[j] == '\\' ? 2 : 1;
			if (depth == 1 && want_key) {
				json_object *k = parse_string(s + i, j + 1 - i);

				if (!k)
					break;
				for (size_t m = 0; m < n && !dup; m++)
					if (!strcmp(json_object_get_string(seen[m]),
						    json_object_get_string(k)))
						dup = strdup(json_object_get_string(k));
				seen[n++] = k;
				want_key = false;
			}
			i = j;
		} else if (c == '{' || c == '[') {
			depth++;
			want_key = depth == 1 && c == '{';
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1) {
			want_key = true;
		}
	}
	for (size_t m = 0; m < n; m++)
		json_object_put(seen[m]);
	return dup;
}

/* Which of keys[] k is, or -1. */
static int key_index(const char *k)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(k, keys[i]))
			return (int)i;
	return -1;
}

enum { K_ADDRESS, K_PORT, K_ENGINE, K_URL, K_CAPACITY, K_SLOTS };

/* The members of the value, by key (given: present, v: NULL for a JSON
 * null), checked one by one into *e. */
static int decode_members(const bool *given, json_object *const *v,
			  struct lb_registry_entry *e, char *msg, size_t len)
{
	char why[160];
	const char *s;
	int64_t n;

	if (!given[K_ADDRESS])
		return lb_msgf(msg, len, -EINVAL, "address: missing (required)");
	s = get_str(v[K_ADDRESS], 64);
	if (!s || lb_parse_ip(s, e->addr, &e->family, why, sizeof(why)))
		return bad(msg, len, "address", v[K_ADDRESS],
			   "an IPv4 or IPv6 address as a string");
	if (!given[K_PORT])
		return lb_msgf(msg, len, -EINVAL, "port: missing (required)");
	if (get_uint(v[K_PORT], 1, 65535, &n))
		return bad(msg, len, "port", v[K_PORT],
			   "a whole number from 1 to 65535");
	e->port = (__u16)n;
	if (given[K_ENGINE]) {
		s = get_str(v[K_ENGINE], LB_REGISTRY_ENGINE_MAX);
		if (!s || !engine_ok(s))
			return bad(msg, len, "engine", v[K_ENGINE],
				   "one of " LB_REGISTRY_ENGINES);
		strcpy(e->engine, s);
	}
	if (given[K_URL]) {
		s = get_str(v[K_URL], LB_REGISTRY_URL_MAX);
		if (!s || !url_ok(s)) {
			snprintf(why, sizeof(why), "an http:// or https:// URL of "
				 "printable characters without blanks, shorter "
				 "than %d bytes", LB_REGISTRY_URL_MAX);
			return bad(msg, len, "url", v[K_URL], why);
		}
		strcpy(e->url, s);
	}
	if (given[K_CAPACITY]) {
		json_object *c = v[K_CAPACITY];
		double d = json_object_get_double(c);

		if ((!json_object_is_type(c, json_type_double) &&
		     !json_object_is_type(c, json_type_int)) ||
		    !isfinite(d) || d <= 0 || d > LB_REGISTRY_CAPACITY_MAX)
			return bad(msg, len, "capacity", c,
				   "a number in (0, 1000]");
		e->capacity = d;
	}
	if (given[K_SLOTS]) {
		if (get_uint(v[K_SLOTS], 1, LB_REGISTRY_SLOTS_MAX, &n))
			return bad(msg, len, "slots", v[K_SLOTS],
				   "a whole number from 1 to 65535");
		e->slots = (uint32_t)n;
	}
	return 0;
}

/* The whole text as one JSON value: strict (no comments, NaN, single
 * quotes ...), valid UTF-8, nothing but blanks after it. */
static json_object *parse_value(const char *text, size_t len, char *msg,
				size_t msglen)
{
	json_tokener *tok = json_tokener_new();
	enum json_tokener_error jerr;
	json_object *o;
	size_t end;

	if (!tok) {
		lb_msgf(msg, msglen, -ENOMEM, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_ALLOW_TRAILING_CHARS |
			       JSON_TOKENER_VALIDATE_UTF8);
	/* the NUL counts: a value ends there (a bare number would wait) */
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o && jerr == json_tokener_success) {
		lb_msgf(msg, msglen, -EINVAL, "must be a JSON object, not null");
		return NULL;
	}
	if (!o) {
		lb_msgf(msg, msglen, -EINVAL, "not JSON: %s at byte %zu",
			json_tokener_error_desc(jerr), end);
		return NULL;
	}
	end += strspn(text + end, " \t\r\n");
	if (end < len) {
		lb_msgf(msg, msglen, -EINVAL, "not JSON: bytes after the value at "
			"byte %zu", end);
		json_object_put(o);
		return NULL;
	}
	return o;
}

int lb_registry_decode(const char *val, size_t len,
		       struct lb_registry_entry *out, char *msg, size_t msglen)
{
	char text[LB_REGISTRY_VALUE_MAX + 1], got[GOT_MAX], *dup;
	struct lb_registry_entry e = { 0 };
	json_object *o, *v[NKEYS] = { 0 };
	bool given[NKEYS] = { 0 };
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (len > LB_REGISTRY_VALUE_MAX)
		return lb_msgf(msg, msglen, -EINVAL, "the value is %zu bytes, "
			       "more than %d", len, LB_REGISTRY_VALUE_MAX);
	if (memchr(val, 0, len))
		return lb_msgf(msg, msglen, -EINVAL, "not JSON: a NUL byte at "
			       "byte %zu", (size_t)((const char *)memchr(val, 0, len) - val));
	memcpy(text, val, len);
	text[len] = 0;
	o = parse_value(text, len, msg, msglen);
	if (!o)
		return -EINVAL;
	if (!json_object_is_type(o, json_type_object)) {
		err = lb_msgf(msg, msglen, -EINVAL, "must be a JSON object "
			      "{\"address\": ..., \"port\": ...}, not %s",
			      shown(o, got, sizeof(got)));
		goto out;
	}
	json_object_object_foreach(o, k, kv) {
		int i = key_index(k);

		if (i < 0) {
			json_object *ks = json_object_new_string(k);

			err = lb_msgf(msg, msglen, -EINVAL, "unknown key %s "
				      "(known: " KEYS_TEXT ")",
				      ks ? shown(ks, got, sizeof(got)) : "?");
			json_object_put(ks);
			goto out;
		}
		v[i] = kv;
		given[i] = true;
	}
	dup = find_repeat(text, len);
	if (dup) {
		err = lb_msgf(msg, msglen, -EINVAL, "%s: given twice", dup);
		free(dup);
		goto out;
	}
	err = decode_members(given, v, &e, msg, msglen);
	if (!err)
		*out = e;
out:
	json_object_put(o);
	return err;
}

int lb_registry_key(const char *prefix, const struct lb_registry_entry *e,
		    char *key, size_t keylen)
{
	char ip[64];
	int n;

	lb_fmt_ip(e->addr, e->family, ip, sizeof(ip));
	n = snprintf(key, keylen, e->family == LB_AF_INET6 ? "%s[%s]:%u" :
		     "%s%s:%u", prefix, ip, e->port);
	if (n < 0 || (size_t)n >= keylen) {
		if (keylen)
			key[0] = 0;
		return -ENAMETOOLONG;
	}
	return 0;
}
