// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * prom.c - streaming parser of the Prometheus text exposition format.
 *
 * Design: one pass over the buffer, one line at a time, no per-sample
 * allocation. Every token of a sample line (name, label names, unescaped
 * label values, value, timestamp) is copied NUL-terminated into a scratch
 * buffer that is reset per line; since unescaping only shrinks text, the
 * scratch never needs more than the line length plus one NUL per token,
 * so it is sized once per call and can never overflow.
 *
 * Rules follow the Prometheus Go text parser: names match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*; label
 * values allow the escapes \\ \" \n only, HELP text \\ and \n only;
 * floats are Go ParseFloat spellings (NaN, +Inf, -Inf, Inf, infinity in
 * any case; a signed NaN or an out-of-range number is an error); the
 * timestamp is a decimal int64 in milliseconds; duplicate label names, a
 * second TYPE or HELP for a family, a TYPE after the family's samples,
 * a histogram bucket without a numeric "le" and a summary quantile
 * without a numeric "quantile" are errors.
 * Deliberate differences: "\r\n" line endings are accepted (some proxies
 * rewrite line endings, and a CR right before LF is unambiguous); NUL
 * bytes are rejected (they would truncate C strings); label values are
 * not checked for valid UTF-8 (they are only compared, never re-emitted).
 * Only the family of the latest HELP/TYPE line is tracked, so a family
 * split across the text is not detected: that needs a table of names,
 * which this parser avoids.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

struct parser {
	const char *line;	/* current line, without line ending */
	size_t llen;
	size_t pos;		/* cursor in line */
	unsigned int lineno;

	char *scratch;		/* tokens of the current line */
	size_t sused;
	size_t scap;

	char *fam;		/* family of the last HELP/TYPE line */
	size_t fam_len;		/* 0: no current family */
	enum prom_type fam_type;
	bool fam_help;
	bool fam_samples;

	struct prom_label labels[PROM_MAX_LABELS];
	struct prom_error *err;
};

static int fail(struct parser *p, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record the first error, at the cursor. */
static int fail(struct parser *p, int rc, const char *fmt, ...)
{
	struct prom_error *e = p->err;
	va_list ap;
	int n;

	if (!e)
		return rc;
	e->line = p->lineno;
	e->col = (unsigned int)p->pos + 1;
	n = snprintf(e->msg, sizeof(e->msg), "line %u, col %u: ", e->line,
		     e->col);
	if (n < 0 || (size_t)n >= sizeof(e->msg))
		return rc;
	va_start(ap, fmt);
	vsnprintf(e->msg + n, sizeof(e->msg) - n, fmt, ap);
	va_end(ap);
	return rc;
}

/* Names in messages are cut short so the message stays readable. */
#define NAMEFMT "'%.40s%s'"
#define NAMEARG(s) (s), (strlen(s) > 40 ? "..." : "")

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool at_end(const struct parser *p)
{
	return p->pos >= p->llen;
}

static char cur(const struct parser *p)
{
	return at_end(p) ? '\0' : p->line[p->pos];
}

static void skip_blanks(struct parser *p)
{
	while (!at_end(p) && is_blank(p->line[p->pos]))
		p->pos++;
}

/* Start a NUL-terminated token in scratch; capacity is proven above. */
static char *tok_begin(struct parser *p)
{
	return p->scratch + p->sused;
}

static void tok_put(struct parser *p, char c)
{
	p->scratch[p->sused++] = c;
}

static char *tok_end(struct parser *p, char *start)
{
	p->scratch[p->sused++] = '\0';
	return start;
}

/*
 * Copy a metric (colons allowed) or label name at the cursor. Returns an
 * empty string if the cursor is not on a name start.
 */
static char *read_name(struct parser *p, bool metric)
{
	char *t = tok_begin(p);
	char c = cur(p);

	if (!at_end(p) && (is_name_start(c) || (metric && c == ':'))) {
		for (;;) {
			tok_put(p, c);
			p->pos++;
			c = cur(p);
			if (at_end(p) || !(is_name_char(c) ||
					   (metric && c == ':')))
				break;
		}
	}
	return tok_end(p, t);
}

/* Copy the run of non-blank bytes at the cursor. */
static char *read_word(struct parser *p)
{
	char *t = tok_begin(p);

	while (!at_end(p) && !is_blank(p->line[p->pos]))
		tok_put(p, p->line[p->pos++]);
	return tok_end(p, t);
}

static bool ascii_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a, y = *b;

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return *a == *b;
}

/*
 * strtod() follows LC_NUMERIC, so a host with a "," decimal point would
 * misread "0.5". strtod_l() with a private "C" locale does not. The
 * locale is made once and published with a CAS so concurrent first
 * callers are safe without pthread_once.
 */
static locale_t c_locale(void)
{
	static locale_t cached;
	locale_t l = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
	locale_t expected = (locale_t)0;

	if (l)
		return l;
	l = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!l)
		return (locale_t)0;
	if (!__atomic_compare_exchange_n(&cached, &expected, l, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		freelocale(l);
		return expected;
	}
	return l;
}

bool prom_parse_double(const char *s, double *out)
{
	const char *body = s;
	bool neg = false;
	locale_t loc;
	char *end;
	double v;

	if (*body == '+' || *body == '-') {
		neg = *body == '-';
		body++;
	}
	if (ascii_ieq(body, "inf") || ascii_ieq(body, "infinity")) {
		*out = neg ? -INFINITY : INFINITY;
		return true;
	}
	/* Go's ParseFloat takes "NaN" in any case but never with a sign. */
	if (ascii_ieq(s, "nan")) {
		*out = NAN;
		return true;
	}
	/* Keep strtod's own extras (nan(...), leading space) out. */
	if (!((*body >= '0' && *body <= '9') || *body == '.'))
		return false;
	loc = c_locale();
	if (!loc)
		return false;
	errno = 0;
	v = strtod_l(s, &end, loc);
	if (end == s || *end != '\0')
		return false;
	/* Overflow is an error in Go too; underflow rounds to 0 there. */
	if (errno == ERANGE && isinf(v))
		return false;
	*out = v;
	return true;
}

static bool parse_int64(const char *s, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, lim;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!*s)
		return false;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++) {
		unsigned int d;

		if (*s < '0' || *s > '9')
			return false;
		d = (unsigned int)(*s - '0');
		if (v > (lim - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return true;
}

static const struct {
	const char *name;
	enum prom_type type;
} type_names[] = {
	{ "counter", PROM_TYPE_COUNTER },
	{ "gauge", PROM_TYPE_GAUGE },
	{ "histogram", PROM_TYPE_HISTOGRAM },
	{ "summary", PROM_TYPE_SUMMARY },
	{ "untyped", PROM_TYPE_UNTYPED },
};

const char *prom_type_name(enum prom_type t)
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == t)
			return type_names[i].name;
	return "none";
}

static void fam_set(struct parser *p, const char *name)
{
	size_t n = strlen(name);

	memcpy(p->fam, name, n + 1);
	p->fam_len = n;
	p->fam_type = PROM_TYPE_NONE;
	p->fam_help = false;
	p->fam_samples = false;
}

static bool fam_is(const struct parser *p, const char *name)
{
	return p->fam_len && strcmp(p->fam, name) == 0;
}

/* "# HELP name text", "# TYPE name type", or any other comment. */
static int parse_comment(struct parser *p)
{
	char *kw, *name;
	bool help;

	p->pos++;		/* '#' */
	skip_blanks(p);
	kw = read_word(p);
	help = strcmp(kw, "HELP") == 0;
	if (!help && strcmp(kw, "TYPE") != 0)
		return 0;	/* plain comment */
	skip_blanks(p);
	name = read_name(p, true);
	if (!*name)
		return fail(p, -EINVAL, "invalid metric name in # %s line",
			    kw);
	if (!at_end(p) && !is_blank(cur(p)))
		return fail(p, -EINVAL,
			    "invalid character '%c' in metric name in # %s line",
			    cur(p), kw);
	skip_blanks(p);

	if (help) {
		if (fam_is(p, name)) {
			if (p->fam_help)
				return fail(p, -EINVAL,
					    "second HELP line for metric "
					    NAMEFMT, NAMEARG(name));
		} else {
			fam_set(p, name);
		}
		p->fam_help = true;
		/* The text is not reported, but its escapes must be valid. */
		for (; !at_end(p); p->pos++) {
			if (p->line[p->pos] != '\\')
				continue;
			p->pos++;
			if (at_end(p))
				return fail(p, -EINVAL,
					    "unterminated escape sequence in HELP text");
			if (p->line[p->pos] != '\\' && p->line[p->pos] != 'n')
				return fail(p, -EINVAL,
					    "invalid escape sequence '\\%c' in HELP text",
					    p->line[p->pos]);
		}
		return 0;
	}

	{
		size_t tpos = p->pos, i;
		char *word = read_word(p);
		enum prom_type t = PROM_TYPE_NONE;

		for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
			if (strcmp(word, type_names[i].name) == 0)
				t = type_names[i].type;
		if (t == PROM_TYPE_NONE) {
			p->pos = tpos;
			return fail(p, -EINVAL,
				    "unknown metric type '%.20s' for " NAMEFMT,
				    word, NAMEARG(name));
		}
		skip_blanks(p);
		if (!at_end(p))
			return fail(p, -EINVAL,
				    "unexpected text after metric type");
		if (fam_is(p, name)) {
			if (p->fam_samples)
				return fail(p, -EINVAL,
					    "TYPE line for " NAMEFMT
					    " after its samples", NAMEARG(name));
			if (p->fam_type != PROM_TYPE_NONE)
				return fail(p, -EINVAL,
					    "second TYPE line for metric "
					    NAMEFMT, NAMEARG(name));
		} else {
			fam_set(p, name);
		}
		p->fam_type = t;
	}
	return 0;
}

static bool has_suffix(const char *name, size_t nlen, const char *base,
		       size_t blen, const char *suffix)
{
	size_t slen = strlen(suffix);

	return nlen == blen + slen && memcmp(name, base, blen) == 0 &&
	       memcmp(name + blen, suffix, slen) == 0;
}

/* Which declared family, if any, the sample belongs to. */
static enum prom_type sample_type(struct parser *p, const char *name)
{
	size_t n = strlen(name);
	bool mine;

	if (!p->fam_len)
		return PROM_TYPE_NONE;
	mine = n == p->fam_len && memcmp(name, p->fam, n) == 0;
	if (!mine && (p->fam_type == PROM_TYPE_HISTOGRAM ||
		      p->fam_type == PROM_TYPE_SUMMARY))
		mine = has_suffix(name, n, p->fam, p->fam_len, "_sum") ||
		       has_suffix(name, n, p->fam, p->fam_len, "_count") ||
		       (p->fam_type == PROM_TYPE_HISTOGRAM &&
			has_suffix(name, n, p->fam, p->fam_len, "_bucket"));
	if (!mine) {
		/* Another family started without HELP/TYPE. */
		p->fam_len = 0;
		return PROM_TYPE_NONE;
	}
	p->fam_samples = true;
	return p->fam_type;
}

static int parse_labels(struct parser *p, const char *metric,
			unsigned int *nlabels)
{
	unsigned int n = 0, i;

	p->pos++;		/* '{' */
	for (;;) {
		char *lname, *val;
		size_t lpos;

		skip_blanks(p);
		if (cur(p) == '}' && !at_end(p))
			break;
		if (at_end(p))
			return fail(p, -EINVAL,
				    "unterminated label set of metric " NAMEFMT,
				    NAMEARG(metric));
		lpos = p->pos;
		lname = read_name(p, false);
		if (!*lname)
			return fail(p, -EINVAL,
				    "expected label name or '}' in metric "
				    NAMEFMT, NAMEARG(metric));
		if (n == PROM_MAX_LABELS) {
			p->pos = lpos;
			return fail(p, -E2BIG,
				    "more than %d labels on metric " NAMEFMT,
				    PROM_MAX_LABELS, NAMEARG(metric));
		}
		for (i = 0; i < n; i++) {
			if (strcmp(p->labels[i].name, lname) == 0) {
				p->pos = lpos;
				return fail(p, -EINVAL,
					    "duplicate label name " NAMEFMT,
					    NAMEARG(lname));
			}
		}
		skip_blanks(p);
		if (cur(p) != '=' || at_end(p))
			return fail(p, -EINVAL,
				    "expected '=' after label name " NAMEFMT,
				    NAMEARG(lname));
		p->pos++;
		skip_blanks(p);
		if (cur(p) != '"' || at_end(p))
			return fail(p, -EINVAL,
				    "expected '\"' to start value of label "
				    NAMEFMT, NAMEARG(lname));
		p->pos++;
		val = tok_begin(p);
		for (;;) {
			char c;

			if (at_end(p))
				return fail(p, -EINVAL,
					    "unterminated value of label "
					    NAMEFMT, NAMEARG(lname));
			c = p->line[p->pos];
			if (c == '"')
				break;
			if (c == '\\') {
				p->pos++;
				if (at_end(p))
					return fail(p, -EINVAL,
						    "unterminated value of label "
						    NAMEFMT, NAMEARG(lname));
				c = p->line[p->pos];
				if (c == 'n') {
					c = '\n';
				} else if (c != '\\' && c != '"') {
					p->pos--;
					return fail(p, -EINVAL,
						    "invalid escape sequence '\\%c' in value of label "
						    NAMEFMT, c, NAMEARG(lname));
				}
			}
			tok_put(p, c);
			p->pos++;
		}
		p->pos++;	/* closing '"' */
		p->labels[n].name = lname;
		p->labels[n].value = tok_end(p, val);
		n++;
		skip_blanks(p);
		if (cur(p) == ',' && !at_end(p)) {
			p->pos++;
			continue;	/* a trailing comma is allowed */
		}
		if (cur(p) == '}' && !at_end(p))
			break;
		if (at_end(p))
			return fail(p, -EINVAL,
				    "unterminated label set of metric " NAMEFMT,
				    NAMEARG(metric));
		return fail(p, -EINVAL,
			    "expected ',' or '}' after value of label " NAMEFMT,
			    NAMEARG(lname));
	}
	p->pos++;		/* '}' */
	*nlabels = n;
	return 0;
}

static int check_le(struct parser *p, const struct prom_sample *s,
		    const char *label, size_t name_pos)
{
	const char *v = prom_label_get(s, label);
	double d;

	if (v && prom_parse_double(v, &d))
		return 0;
	p->pos = name_pos;
	return fail(p, -EINVAL, "%s " NAMEFMT " needs a numeric '%s' label",
		    s->type == PROM_TYPE_HISTOGRAM ? "histogram bucket" :
		    "summary quantile", NAMEARG(s->name), label);
}

static int parse_sample(struct parser *p, prom_sample_cb cb, void *ctx)
{
	struct prom_sample s = { .labels = p->labels, .line = p->lineno };
	size_t name_pos = p->pos, vpos;
	char *word;
	int rc;

	s.name = read_name(p, true);
	if (!*s.name)
		return fail(p, -EINVAL, "invalid metric name");
	if (!at_end(p) && !is_blank(cur(p)) && cur(p) != '{')
		return fail(p, -EINVAL, "invalid character '%c' in metric name",
			    cur(p));
	skip_blanks(p);
	if (cur(p) == '{' && !at_end(p)) {
		rc = parse_labels(p, s.name, &s.nlabels);
		if (rc)
			return rc;
		skip_blanks(p);
	}
	vpos = p->pos;
	word = read_word(p);
	if (!*word)
		return fail(p, -EINVAL, "missing value for metric " NAMEFMT,
			    NAMEARG(s.name));
	if (!prom_parse_double(word, &s.value)) {
		p->pos = vpos;
		return fail(p, -EINVAL, "invalid value '%.40s' for metric "
			    NAMEFMT, word, NAMEARG(s.name));
	}
	skip_blanks(p);
	if (!at_end(p)) {
		vpos = p->pos;
		word = read_word(p);
		if (!parse_int64(word, &s.timestamp_ms)) {
			p->pos = vpos;
			return fail(p, -EINVAL,
				    "invalid timestamp '%.40s' for metric "
				    NAMEFMT, word, NAMEARG(s.name));
		}
		s.has_timestamp = true;
		skip_blanks(p);
		if (!at_end(p))
			return fail(p, -EINVAL,
				    "unexpected text after timestamp");
	}

	s.type = sample_type(p, s.name);
	if (s.type == PROM_TYPE_HISTOGRAM &&
	    has_suffix(s.name, strlen(s.name), p->fam, p->fam_len, "_bucket")) {
		rc = check_le(p, &s, "le", name_pos);
		if (rc)
			return rc;
	} else if (s.type == PROM_TYPE_SUMMARY &&
		   strlen(s.name) == p->fam_len) {
		rc = check_le(p, &s, "quantile", name_pos);
		if (rc)
			return rc;
	}

	if (!cb)
		return 0;
	rc = cb(ctx, &s);
	if (rc < 0) {
		p->pos = name_pos;
		return fail(p, rc, "aborted by the sample callback (%d)", rc);
	}
	return 0;
}

/* Is the sample on this line (blanks skipped) one of the wanted names?
 * Only the leading name token is looked at, nothing is validated. */
static bool line_wanted(const struct parser *p, const char *const *only)
{
	size_t n = 0;

	while (p->pos + n < p->llen && (is_name_char(p->line[p->pos + n]) ||
					p->line[p->pos + n] == ':'))
		n++;
	for (; *only; only++)
		if (strlen(*only) == n && !memcmp(*only, p->line + p->pos, n))
			return true;
	return false;
}

int prom_parse(const char *text, size_t len, prom_sample_cb cb, void *ctx,
	       struct prom_error *err)
{
	return prom_parse_only(text, len, NULL, cb, ctx, err);
}

int prom_parse_only(const char *text, size_t len, const char *const *only,
		    prom_sample_cb cb, void *ctx, struct prom_error *err)
{
	struct parser p = { .err = err };
	size_t off = 0, maxline;
	unsigned int count = 0;
	int rc = 0;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!text && len)
		return -EINVAL;
	/*
	 * Scratch: every token of a line is at most its bytes, plus one NUL
	 * per token (name, value, timestamp, 2 per label, one spare word).
	 */
	maxline = len < PROM_MAX_LINE ? len : PROM_MAX_LINE;
	p.scap = maxline + 2 * PROM_MAX_LABELS + 8;
	p.scratch = malloc(p.scap + maxline + 1);
	if (!p.scratch)
		return -ENOMEM;
	p.fam = p.scratch + p.scap;

	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - text) : len;

		p.lineno++;
		p.line = text + off;
		p.llen = end - off;
		p.pos = 0;
		p.sused = 0;
		off = end + 1;

		if (p.llen && p.line[p.llen - 1] == '\r')
			p.llen--;
		if (p.llen > PROM_MAX_LINE) {
			p.pos = PROM_MAX_LINE;
			rc = fail(&p, -E2BIG, "line longer than %d bytes",
				  PROM_MAX_LINE);
			break;
		}
		skip_blanks(&p);
		if (at_end(&p))
			continue;	/* blank line */
		if (only && (cur(&p) == '#' || !line_wanted(&p, only)))
			continue;
		{
			const char *z = memchr(p.line, '\0', p.llen);

			if (z) {
				p.pos = (size_t)(z - p.line);
				rc = fail(&p, -EINVAL, "NUL byte in line");
				break;
			}
		}
		if (cur(&p) == '#') {
			rc = parse_comment(&p);
		} else {
			rc = parse_sample(&p, cb, ctx);
			if (!rc)
				count++;
		}
		if (rc)
			break;
	}
	free(p.scratch);
	if (rc)
		return rc;
	return count > (unsigned int)INT32_MAX ? INT32_MAX : (int)count;
}

const char *prom_label_get(const struct prom_sample *s, const char *name)
{
	unsigned int i;

	for (i = 0; i < s->nlabels; i++)
		if (strcmp(s->labels[i].name, name) == 0)
			return s->labels[i].value;
	return NULL;
}
