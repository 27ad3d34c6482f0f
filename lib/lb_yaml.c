// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_yaml.c - the strict YAML tree and its typed getters (see lb_yaml.h).
 *
 * Why a tree and not the events directly: it gives each mapping all its
 * keys before any is interpreted, so rules that involve two keys do not
 * depend on key order, and sequence lengths are known before arrays are
 * allocated, so limits are checked before anything big is made.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "lb_addr.h"
#include "lb_yaml.h"

/* ---- errors ---------------------------------------------------------- */

static int failv(struct lb_yaml_doc *d, int rc, unsigned line, unsigned col,
		 const char *field, const char *fmt, va_list ap)
{
	char what[1024], *p;

	if (!d->err || !d->errlen)
		return rc;
	vsnprintf(what, sizeof(what), fmt, ap);
	if (snprintf(d->err, d->errlen, "%s:%u:%u: %s: %s", d->name, line,
		     col, field, what) < 0)
		d->err[0] = 0;
	/* One line, whatever a value (a multi-line scalar echoed by a
	 * parser's message) or the name contains. */
	for (p = d->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return rc;
}

int lb_yaml_fail(struct lb_yaml_doc *d, int rc, const struct lb_yaml_node *n,
		 const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = failv(d, rc, n->line, n->col, field, fmt, ap);
	va_end(ap);
	return rc;
}

__attribute__((format(printf, 5, 6)))
static int fail_at(struct lb_yaml_doc *d, int rc, const yaml_mark_t *m,
		   const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = failv(d, rc, m->line + 1, m->column + 1, field, fmt, ap);
	va_end(ap);
	return rc;
}

const char *lb_yaml_kind_name(const struct lb_yaml_node *n)
{
	return n->kind == LB_YAML_MAP ? "a mapping" :
	       n->kind == LB_YAML_SEQ ? "a sequence" : "a scalar";
}

const char *lb_yaml_quote(const struct lb_yaml_node *n, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (n->kind != LB_YAML_SCALAR)
		return lb_yaml_kind_name(n);
	buf[o++] = '"';
	for (i = 0; i < n->len && o + 8 < len; i++) {
		unsigned char ch = n->val[i];

		if (i == 40) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		} else {
			buf[o++] = ch;
		}
	}
	buf[o++] = '"';
	buf[o] = 0;
	return buf;
}

const char *lb_yaml_field(char *buf, size_t len, const char *prefix,
			  const char *key)
{
	int r = snprintf(buf, len, "%s%s%s", prefix, *prefix ? "." : "", key);

	if (r < 0 || (size_t)r >= len)
		buf[len - 1] = 0;
	return buf;
}

/* ---- events to tree -------------------------------------------------- */

void lb_yaml_free(struct lb_yaml_doc *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->v[i].val);
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
	d->root = -1;
}

static int tree_add(struct lb_yaml_doc *d, const yaml_event_t *ev,
		    enum lb_yaml_kind k, int parent)
{
	struct lb_yaml_node *n;
	int id;

	if (d->n >= LB_YAML_MAX_NODES)
		return fail_at(d, -E2BIG, &ev->start_mark, "(top)",
			       "too many YAML nodes (more than %u)",
			       LB_YAML_MAX_NODES);
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct lb_yaml_node *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return fail_at(d, -ENOMEM, &ev->start_mark, "(top)",
				       "out of memory");
		d->v = v;
		d->cap = cap;
	}
	id = d->n++;
	n = &d->v[id];
	*n = (struct lb_yaml_node){
		.kind = k,
		.line = ev->start_mark.line + 1,
		.col = ev->start_mark.column + 1,
		.first = -1, .last = -1, .next = -1,
	};
	if (k == LB_YAML_SCALAR) {
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->val = malloc(n->len + 1);
		if (!n->val)
			return fail_at(d, -ENOMEM, &ev->start_mark, "(top)",
				       "out of memory");
		memcpy(n->val, ev->data.scalar.value, n->len);
		n->val[n->len] = 0;
	}
	if (parent >= 0) {
		struct lb_yaml_node *p = &d->v[parent];

		if (p->last >= 0)
			d->v[p->last].next = id;
		else
			p->first = id;
		p->last = id;
		p->n++;
	}
	return id;
}

/* Anchors and tags are refused on every node kind. */
static int check_props(struct lb_yaml_doc *d, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor)
		return fail_at(d, -EINVAL, &ev->start_mark, "(top)",
			       "YAML anchors (&) are not supported");
	if (tag)
		return fail_at(d, -EINVAL, &ev->start_mark, "(top)",
			       "YAML tags (!) are not supported");
	return 0;
}

static yaml_mark_t offset_mark(const char *buf, size_t len, size_t off)
{
	yaml_mark_t m = { .index = off };
	size_t i;

	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else {
			m.column++;
		}
	}
	return m;
}

/* One event into the tree; the stack holds the open collections. */
static int on_event(struct lb_yaml_doc *d, const yaml_event_t *ev,
		    int *stack, int *depth, int *docs)
{
	int id;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return fail_at(d, -EINVAL, &ev->start_mark, "(top)",
				       "only one YAML document is allowed");
		return 0;
	case YAML_ALIAS_EVENT:
		return fail_at(d, -EINVAL, &ev->start_mark, "(top)",
			       "YAML aliases (*) are not supported");
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		id = tree_add(d, ev,
			      ev->type == YAML_SCALAR_EVENT ? LB_YAML_SCALAR :
			      ev->type == YAML_SEQUENCE_START_EVENT ?
			      LB_YAML_SEQ : LB_YAML_MAP,
			      *depth ? stack[*depth - 1] : -1);
		if (id < 0)
			return id;
		if (!*depth)
			d->root = id;
		if (ev->type == YAML_SCALAR_EVENT)
			return 0;
		if (*depth == LB_YAML_MAX_DEPTH)
			return fail_at(d, -E2BIG, &ev->start_mark, "(top)",
				       "nested deeper than %d levels",
				       LB_YAML_MAX_DEPTH);
		stack[(*depth)++] = id;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		--*depth;
		return 0;
	default:
		return 0;
	}
}

int lb_yaml_parse(struct lb_yaml_doc *d, const char *name, const char *buf,
		  size_t len, char *err, size_t errlen)
{
	int stack[LB_YAML_MAX_DEPTH + 1];
	int depth = 0, docs = 0, rc = 0;
	yaml_parser_t p;
	yaml_event_t ev;
	bool done = false;

	*d = (struct lb_yaml_doc){ .name = name ? name : "(config)",
				   .err = err, .errlen = errlen, .root = -1 };
	if (err && errlen)
		err[0] = 0;
	if (len > LB_YAML_MAX_FILE) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %u bytes",
				 d->name, LB_YAML_MAX_FILE);
		return -E2BIG;
	}
	if (!buf)
		len = 0;
	if (!yaml_parser_initialize(&p)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", d->name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)(buf ? buf : ""),
				     len);
	while (!done && !rc) {
		if (!yaml_parser_parse(&p, &ev)) {
			/* The reader (bad UTF-8, control bytes) reports an
			 * offset, not a mark. */
			if (p.error == YAML_READER_ERROR)
				p.problem_mark = offset_mark(buf, len,
							     p.problem_offset);
			rc = fail_at(d, -EINVAL, &p.problem_mark, "(top)",
				     "YAML syntax: %s%s%s",
				     p.problem ? p.problem : "error",
				     p.context ? " " : "",
				     p.context ? p.context : "");
			break;
		}
		rc = check_props(d, &ev);
		if (!rc)
			rc = on_event(d, &ev, stack, &depth, &docs);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (rc)
		lb_yaml_free(d);
	return rc;
}

/* Makes room for more bytes in *buf: doubling, capped one byte over the
 * limit, which tells "too big" from "exactly the limit". */
static int grow(char **buf, size_t *cap, const char *path, char *err,
		size_t errlen)
{
	size_t want = *cap ? *cap * 2 : 65536;
	char *nb;

	if (*cap > LB_YAML_MAX_FILE) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %u bytes", path,
				 LB_YAML_MAX_FILE);
		return -E2BIG;
	}
	if (want > LB_YAML_MAX_FILE + 1)
		want = LB_YAML_MAX_FILE + 1;
	nb = realloc(*buf, want);
	if (!nb) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	*buf = nb;
	*cap = want;
	return 0;
}

int lb_yaml_read_file(const char *path, char **out, size_t *outlen, char *err,
		      size_t errlen)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int fd, rc = 0;

	*out = NULL;
	*outlen = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path,
				 strerror(-rc));
		return rc;
	}
	/* Read to EOF rather than trust st_size: the file may be a pipe
	 * (/dev/stdin) or change under us. */
	for (;;) {
		ssize_t r;

		if (len == cap && (rc = grow(&buf, &cap, path, err, errlen)))
			break;
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			if (err && errlen)
				snprintf(err, errlen, "%s: cannot read: %s",
					 path, strerror(-rc));
			break;
		}
		if (!r)
			break;
		len += r;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- getters --------------------------------------------------------- */

bool lb_yaml_is_null(const struct lb_yaml_node *n)
{
	return !n || (n->kind == LB_YAML_SCALAR && n->plain &&
		      (!n->len || !strcmp(n->val, "~") ||
		       !strcmp(n->val, "null")));
}

/* The expected keys, for an "unknown key" message. */
static void key_list(char *list, size_t len, const char *const *keys,
		     size_t nkeys)
{
	size_t o = 0, j;

	list[0] = 0;
	for (j = 0; j < nkeys && o < len; j++) {
		int r = snprintf(list + o, len - o, "%s%s", j ? ", " : "",
				 keys[j]);

		if (r < 0)
			break;
		o += r;
	}
}

int lb_yaml_get_map(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
		    const char *prefix, const char *const *keys, size_t nkeys,
		    const struct lb_yaml_node **vals)
{
	const char *where = *prefix ? prefix : "(top)";
	const struct lb_yaml_node *k;
	int id;
	size_t i;

	memset(vals, 0, nkeys * sizeof(*vals));
	if (m->kind != LB_YAML_MAP)
		return lb_yaml_fail(d, -EINVAL, m, where,
				    "must be a mapping, got %s",
				    lb_yaml_kind_name(m));
	for (id = m->first; id >= 0; id = lb_yaml_at(d, k->next)->next) {
		k = lb_yaml_at(d, id);
		if (k->kind != LB_YAML_SCALAR || strlen(k->val) != k->len)
			return lb_yaml_fail(d, -EINVAL, k, where,
					    "keys must be plain strings");
		for (i = 0; i < nkeys; i++)
			if (!strcmp(k->val, keys[i]))
				break;
		if (i == nkeys) {
			char list[512];

			key_list(list, sizeof(list), keys, nkeys);
			return lb_yaml_fail(d, -EINVAL, k, where,
					    "unknown key %s; expected one of: %s",
					    LB_YAML_Q(k), list);
		}
		if (vals[i])
			return lb_yaml_fail(d, -EINVAL, k,
					    LB_YAML_FIELD(prefix, keys[i]),
					    "duplicate key (first at line %u)",
					    vals[i]->line);
		vals[i] = lb_yaml_at(d, k->next);
	}
	return 0;
}

int lb_yaml_get_str(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		    const char *field, bool empty_ok, const char **out)
{
	if (n->kind != LB_YAML_SCALAR)
		return lb_yaml_fail(d, -EINVAL, n, field,
				    "must be a string, got %s",
				    lb_yaml_kind_name(n));
	if (strlen(n->val) != n->len)
		return lb_yaml_fail(d, -EINVAL, n, field,
				    "must not contain NUL bytes");
	if (!empty_ok && !n->len)
		return lb_yaml_fail(d, -EINVAL, n, field, "must not be empty");
	*out = n->val;
	return 0;
}

int lb_yaml_get_u32(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		    const char *field, uint32_t lo, uint32_t hi, uint32_t *out)
{
	const char *s;
	int rc = lb_yaml_get_str(d, n, field, true, &s);

	if (rc)
		return rc;
	if (lb_parse_u32(s, lo, hi, out))
		return lb_yaml_fail(d, -EINVAL, n, field,
				    "must be an integer in [%u, %u], got %s",
				    lo, hi, LB_YAML_Q(n));
	return 0;
}

/*
 * A finite decimal number. Only [0-9.eE+-] are accepted, which keeps out
 * what strtod() would also take: hex floats, "inf", "nan", and leading
 * blanks; the "C" locale makes '.' the decimal point whatever the
 * process's locale is.
 */
static int parse_double(const char *s, double *out)
{
	locale_t c;
	char *end;
	double v;

	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
		return -EINVAL;
	c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!c)
		return -ENOMEM;
	v = strtod_l(s, &end, c);
	freelocale(c);
	if (end == s || *end || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

int lb_yaml_get_double(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		       const char *field, const char *range, double *out)
{
	const char *s;
	int rc = lb_yaml_get_str(d, n, field, true, &s);

	if (rc)
		return rc;
	if (parse_double(s, out))
		return lb_yaml_fail(d, -EINVAL, n, field,
				    "must be a number%s%s, got %s",
				    range ? " " : "", range ? range : "",
				    LB_YAML_Q(n));
	return 0;
}

int lb_yaml_get_bool(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		     const char *field, bool *out)
{
	const char *s;
	int rc = lb_yaml_get_str(d, n, field, false, &s);

	if (rc)
		return rc;
	if (strcmp(s, "true") && strcmp(s, "false"))
		return lb_yaml_fail(d, -EINVAL, n, field,
				    "must be true or false, got %s",
				    LB_YAML_Q(n));
	*out = !strcmp(s, "true");
	return 0;
}
