// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_print.c - text/JSON output sink for lbctl; see lb_print.h.
 *
 * The JSON writer is a stack of open containers ('{' or '[') plus, per
 * level, whether a value was already written there: that one bit decides
 * the comma before the next value and, in pretty mode, whether the closing
 * bracket goes on its own line (empty containers stay "{}" and "[]").
 * Level 0 is the top level, which may hold one value only.
 *
 * Everything goes to a growable memory buffer that reaches stdout only at
 * lb_out_fini() or as an error object, so stdout never sees half a
 * document.
 */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_print.h"

#define INDENT_WIDTH	4	/* bpftool -p indents by 4 */
#define BUF_MIN		4096

/* Single-threaded CLI sink: one document at a time, see lb_print.h. */
struct out_state {
	bool json;
	bool pretty;
	bool done;	/* JSON: this document (or an error) is on stdout */
	bool oom;	/* JSON: the buffer failed to grow; error at the end */
	bool warned;	/* misuse is reported once per document */
	int depth;	/* containers open in the buffer */
	int skipped;	/* containers dropped: too deep, or 2nd top value */
	/* Per level: '{' or '[' (levels 1..depth), and whether it holds a
	 * value yet (level 0 is the top level). */
	char kind[LB_OUT_MAX_DEPTH + 1];
	bool nonempty[LB_OUT_MAX_DEPTH + 1];
	char *buf;
	size_t len;
	size_t cap;
};

/* Zero-initialized: before lb_out_init() everything is text mode. */
static struct out_state out;

/* ---- memory buffer ------------------------------------------------------ */

static void buf_put(const char *s, size_t n)
{
	size_t cap;
	char *nb;

	/* After one failed allocation nothing more is appended: the
	 * document is incomplete anyway and becomes an error at the end. */
	if (out.oom)
		return;
	if (n > out.cap - out.len) {
		cap = out.cap ? out.cap : BUF_MIN;
		while (cap - out.len < n) {
			if (cap > SIZE_MAX / 2) {
				out.oom = true;
				return;
			}
			cap *= 2;
		}
		nb = realloc(out.buf, cap);
		if (!nb) {
			out.oom = true;
			return;
		}
		out.buf = nb;
		out.cap = cap;
	}
	memcpy(out.buf + out.len, s, n);
	out.len += n;
}

static void buf_puts(const char *s)
{
	buf_put(s, strlen(s));
}

static void buf_putc(char c)
{
	buf_put(&c, 1);
}

static void buf_free(void)
{
	free(out.buf);
	out.buf = NULL;
	out.len = 0;
	out.cap = 0;
	out.oom = false;
}

/* Writes the buffer to stdout; the document is then finished. */
static void buf_flush(void)
{
	if (out.oom)
		/* Fixed text: building anything else needs memory. */
		fputs("{\"error\":\"out of memory\"}\n", stdout);
	else
		fwrite(out.buf, 1, out.len, stdout);
	fflush(stdout);
	buf_free();
	out.done = true;
}

/* Forgets the current document, keeping the mode. */
static void doc_reset(void)
{
	buf_free();
	out.done = false;
	out.warned = false;
	out.depth = 0;
	out.skipped = 0;
	out.nonempty[0] = false;
}

/* ---- JSON encoding ------------------------------------------------------ */

/*
 * Length of the valid UTF-8 sequence at s, 0 if there is none. The second
 * byte's range comes from RFC 3629's table: it rules out overlong forms,
 * UTF-16 surrogates and code points above U+10FFFF in one comparison.
 * Never reads past a NUL (a NUL fails every continuation test).
 */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;

	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Code points that are valid UTF-8 but must not reach a terminal as they
 * are: C1 controls (U+0080..U+009F, e.g. CSI) and the bidirectional
 * overrides that reorder what is shown (U+200E/F, U+202A..E, U+2066..9). */
static bool utf8_unsafe(const unsigned char *s, size_t n)
{
	if (n == 2)
		return s[0] == 0xc2 && s[1] <= 0x9f;
	if (n == 3 && s[0] == 0xe2 && s[1] == 0x80)
		return s[2] == 0x8e || s[2] == 0x8f || (s[2] >= 0xaa && s[2] <= 0xae);
	if (n == 3 && s[0] == 0xe2 && s[1] == 0x81)
		return s[2] >= 0xa6 && s[2] <= 0xa9;
	return false;
}

char *lb_escape(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	char *out = malloc(strlen(str) * 4 + 1), *o = out;
	size_t n;

	if (!out)
		return NULL;
	while (*s) {
		n = utf8_len(s);
		if (*s == '\n' || *s == '\t' || *s == '\r') {
			*o++ = '\\';
			*o++ = *s == '\n' ? 'n' : *s == '\t' ? 't' : 'r';
		} else if (n && *s >= 0x20 && *s != 0x7f && !utf8_unsafe(s, n)) {
			memcpy(o, s, n);
			o += n;
			s += n;
			continue;
		} else {
			/* a control byte, or one byte of a bad or unsafe
			 * sequence: each such byte is written as \xNN */
			for (size_t i = 0; i < (n ? n : 1); i++)
				o += sprintf(o, "\\x%02x", s[i]);
			s += n ? n : 1;
			continue;
		}
		s++;
	}
	*o = '\0';
	return out;
}

static void buf_quoted(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	const char *esc;
	char hex[8];
	size_t n;

	buf_putc('"');
	while (*s) {
		switch (*s) {
		case '"':  esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:   esc = NULL; break;
		}
		if (esc) {
			buf_puts(esc);
			s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			/* JSON requires < 0x20 escaped; DEL too so that
			 * a terminal never gets a raw control byte. */
			snprintf(hex, sizeof(hex), "\\u%04x", *s);
			buf_puts(hex);
			s++;
		} else if ((n = utf8_len(s))) {
			buf_put((const char *)s, n);
			s += n;
		} else {
			/* Names come from users and kernels; one bad byte
			 * must not make the whole document unparsable. */
			buf_puts("\\ufffd");
			s++;
		}
	}
	buf_putc('"');
}

static void buf_newline(int level)
{
	int i;

	if (!out.pretty)
		return;
	buf_putc('\n');
	for (i = 0; i < level * INDENT_WIDTH; i++)
		buf_putc(' ');
}

/* Misuse is a bug in lbctl: say so once, but keep stdout valid JSON. */
static void misuse(const char *what)
{
	if (out.warned)
		return;
	out.warned = true;
	lb_warn("JSON output: %s", what);
}

/*
 * Writes what precedes any value: the comma, the indentation and, inside
 * an object, the key. Returns false if the value must not be written.
 */
static bool json_begin(const char *key)
{
	if (!out.json || out.done || out.skipped)
		return false;

	if (out.depth == 0) {
		if (out.nonempty[0]) {
			misuse("second top-level value dropped");
			return false;
		}
		if (key)
			misuse("key at top level ignored");
		out.nonempty[0] = true;
		return true;
	}

	if (out.nonempty[out.depth])
		buf_putc(',');
	out.nonempty[out.depth] = true;
	buf_newline(out.depth);
	if (out.kind[out.depth] == '{') {
		if (!key) {
			misuse("object member without a key, named \"\"");
			key = "";
		}
		buf_quoted(key);
		buf_puts(out.pretty ? ": " : ":");
	} else if (key) {
		misuse("key inside an array ignored");
	}
	return true;
}

static void json_scalar(const char *key, const char *text)
{
	if (json_begin(key))
		buf_puts(text);
}

static void json_open(const char *key, char kind)
{
	if (!out.json || out.done)
		return;
	/* A dropped container drops its contents too; counting it lets the
	 * matching close be absorbed instead of closing a real level. */
	if (out.skipped) {
		out.skipped++;
		return;
	}
	if (out.depth == LB_OUT_MAX_DEPTH) {
		misuse("nesting too deep, contents dropped");
		out.skipped++;
		return;
	}
	if (!json_begin(key)) {
		out.skipped++;
		return;
	}
	out.depth++;
	out.kind[out.depth] = kind;
	out.nonempty[out.depth] = false;
	buf_putc(kind);
}

static void json_pop(void)
{
	bool had_values = out.nonempty[out.depth];
	char kind = out.kind[out.depth];

	out.depth--;
	if (had_values)
		buf_newline(out.depth);
	buf_putc(kind == '{' ? '}' : ']');
}

static void json_close(char kind)
{
	if (!out.json || out.done)
		return;
	if (out.skipped) {
		out.skipped--;
		return;
	}
	if (!out.depth) {
		misuse("close without open ignored");
		return;
	}
	/* Closing with the bracket that matches what is open keeps the
	 * output valid even when the caller mixed them up. */
	if (out.kind[out.depth] != kind)
		misuse("closed the wrong kind of container");
	json_pop();
}

/* %g follows LC_NUMERIC; JSON always wants '.'. */
static void fix_decimal_point(char *num)
{
	const char *dp = localeconv()->decimal_point;
	size_t n;
	char *p;

	if (!dp || !*dp || !strcmp(dp, "."))
		return;
	p = strstr(num, dp);
	if (!p)
		return;
	n = strlen(dp);
	*p = '.';
	memmove(p + 1, p + n, strlen(p + n) + 1);
}

/* ---- text --------------------------------------------------------------- */

/* Caller-supplied formats are not literals, so no format attribute here:
 * the API documents which argument each format receives. */
static void text_out(const char *fmt, ...)
{
	va_list ap;

	if (!fmt)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* printf-style message, trailing newlines dropped; NULL without memory. */
static char *vformat(const char *fmt, va_list ap)
{
	va_list ap2;
	char *s;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	while (n > 0 && s[n - 1] == '\n')
		s[--n] = '\0';
	return s;
}

/* An error or warning: what the caller's arguments put in (a device, a
 * file name, a library message quoting them) is escaped here, once for
 * every message, so no caller can forget it. NULL without memory. */
static char *escaped_message(const char *fmt, va_list ap)
{
	char *s = vformat(fmt, ap), *e;

	if (!s)
		return NULL;
	e = lb_escape(s);
	free(s);
	return e;
}

/* ---- API ---------------------------------------------------------------- */

void lb_out_init(bool json, bool pretty)
{
	doc_reset();
	out.json = json;
	out.pretty = json && pretty;
}

void lb_out_fini(void)
{
	if (!out.json) {
		fflush(stdout);
		return;
	}
	if (out.done)
		return;
	out.skipped = 0;
	while (out.depth)
		json_pop();
	if (!out.nonempty[0])
		buf_puts("null");
	buf_putc('\n');
	buf_flush();
}

bool lb_out_is_json(void)
{
	return out.json;
}

void lb_out_open_object(const char *key)
{
	json_open(key, '{');
}

void lb_out_close_object(void)
{
	json_close('{');
}

void lb_out_open_array(const char *key)
{
	json_open(key, '[');
}

void lb_out_close_array(void)
{
	json_close('[');
}

void lb_out_str(const char *key, const char *fmt, const char *val)
{
	if (!out.json) {
		char *e = val ? lb_escape(val) : NULL;

		/* without memory: the field is left out, never raw */
		text_out(fmt, val ? (e ? e : "?") : "-");
		free(e);
		return;
	}
	if (!json_begin(key))
		return;
	if (val)
		buf_quoted(val);
	else
		buf_puts("null");
}

void lb_out_u64(const char *key, const char *fmt, unsigned long long val)
{
	char num[32];

	if (!out.json) {
		text_out(fmt, val);
		return;
	}
	snprintf(num, sizeof(num), "%llu", val);
	json_scalar(key, num);
}

void lb_out_s64(const char *key, const char *fmt, long long val)
{
	char num[32];

	if (!out.json) {
		text_out(fmt, val);
		return;
	}
	snprintf(num, sizeof(num), "%lld", val);
	json_scalar(key, num);
}

void lb_out_double(const char *key, const char *fmt, double val)
{
	char num[64];

	if (!out.json) {
		text_out(fmt, val);
		return;
	}
	/* JSON has no NaN or Infinity; null is what parsers accept. */
	if (!isfinite(val)) {
		json_scalar(key, "null");
		return;
	}
	snprintf(num, sizeof(num), "%.6g", val);
	fix_decimal_point(num);
	json_scalar(key, num);
}

void lb_out_bool(const char *key, const char *fmt, bool val)
{
	if (!out.json) {
		text_out(fmt, val ? "yes" : "no");
		return;
	}
	json_scalar(key, val ? "true" : "false");
}

void lb_out_null(const char *key, const char *fmt)
{
	if (!out.json) {
		text_out(fmt);
		return;
	}
	json_scalar(key, "null");
}

void lb_out_text(const char *fmt, ...)
{
	va_list ap;

	if (out.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* The one error/warning sink: the whole message escaped (arguments reach
 * it raw), an error as a JSON document of its own in JSON mode. */
static void emit(bool error, const char *fmt, va_list ap)
{
	char *s = escaped_message(fmt, ap);
	/* Without memory the unexpanded format still says what failed. */
	const char *msg = s ? s : fmt;

	if (error && out.json && !out.done) {
		/* Discard the partial document: stdout gets the error object
		 * alone, built with the same writer (so same -p style). */
		doc_reset();
		lb_out_open_object(NULL);
		lb_out_str("error", NULL, msg);
		lb_out_close_object();
		buf_putc('\n');
		buf_flush();
	} else {
		/* Text already printed must come before the message when both
		 * streams go to the same place (2>&1). */
		fflush(stdout);
		fprintf(stderr, "%s: %s\n", error ? "Error" : "Warning", msg);
	}
	free(s);
}

void lb_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(true, fmt, ap);
	va_end(ap);
}

void lb_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(false, fmt, ap);
	va_end(ap);
}
