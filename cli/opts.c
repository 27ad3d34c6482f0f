// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * opts.c - lbctl's table-driven argument parser; see opts.h.
 *
 * Options may come before, between or after positional arguments (`vip set
 * --rate 5 VIP` works like `vip set VIP --rate 5`); a value is always the
 * next argument, even one that starts with '-' (`--weight -1` is then a
 * range error, not an unknown option).
 */
#include <string.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_print.h"
#include "opts.h"

#define MSG_LEN 512

#define FOR_EACH_ROW(tables, t, d) \
	for (const struct opt_desc *const *t = (tables); *t; t++) \
		for (const struct opt_desc *d = *t; d->kind != OPT_END; d++)

static bool is_option(const char *arg)
{
	return !strncmp(arg, "--", 2) || (arg[0] == '-' && arg[1] && !arg[2]);
}

static const struct opt_desc *find_option(const struct opt_desc *const *tables,
					  const char *arg)
{
	FOR_EACH_ROW(tables, t, d) {
		if (!d->name)
			continue;
		if (arg[1] == '-' ? !strcmp(arg + 2, d->name) : arg[1] == d->alias)
			return d;
	}
	return NULL;
}

/* The next positional row after prev (NULL: the first), or NULL. */
static const struct opt_desc *next_positional(const struct opt_desc *const *tables,
					      const struct opt_desc *prev)
{
	bool after = !prev;

	FOR_EACH_ROW(tables, t, d) {
		if (d->name)
			continue;
		if (after)
			return d;
		after = d == prev;
	}
	return NULL;
}

static int find_given(const struct opt_args *a, const struct opt_desc *d)
{
	for (int i = 0; i < a->n; i++)
		if (a->desc[i] == d)
			return i;
	return -1;
}

static int add_given(struct opt_args *a, const struct opt_desc *d,
		     const char *val)
{
	if (a->n == OPT_ARGS_MAX) {
		lb_err("too many arguments");
		return -1;
	}
	a->desc[a->n] = d;
	a->val[a->n++] = val;
	return 0;
}

/* How an option is written in "apply needs -f FILE". */
static void option_usage(const struct opt_desc *d, char *buf, size_t len)
{
	if (d->alias)
		snprintf(buf, len, "-%c%s%s", d->alias, d->metavar ? " " : "",
			 d->metavar ? d->metavar : "");
	else
		snprintf(buf, len, "--%s%s%s", d->name, d->metavar ? " " : "",
			 d->metavar ? d->metavar : "");
}

static int check_complete(const char *cmd, const char *word,
			  const struct opt_desc *const *tables,
			  const struct opt_args *a, const struct opt_desc *last_pos)
{
	char u[64];

	if (next_positional(tables, last_pos)) {
		lb_err("missing arguments; see 'lbctl %s help'", word);
		return -1;
	}
	FOR_EACH_ROW(tables, t, d) {
		if (d->name && d->required && find_given(a, d) < 0) {
			option_usage(d, u, sizeof(u));
			lb_err("%s needs %s; see 'lbctl %s help'", cmd, u, word);
			return -1;
		}
	}
	return 0;
}

int opts_parse(const char *cmd, const char *word,
	       const struct opt_desc *const *tables, int argc, char **argv,
	       struct opt_args *a)
{
	const struct opt_desc *pos = NULL, *d;

	a->n = 0;
	for (int i = 0; i < argc; i++) {
		const char *val = NULL;

		if (!is_option(argv[i])) {
			d = next_positional(tables, pos);
			if (!d) {
				lb_err("unexpected argument '%s'; see 'lbctl %s help'",
				       argv[i], word);
				return -1;
			}
			pos = d;
			if (add_given(a, d, argv[i]))
				return -1;
			continue;
		}
		d = find_option(tables, argv[i]);
		if (!d) {
			lb_err("unknown option '%s'; see 'lbctl %s help'", argv[i],
			       word);
			return -1;
		}
		if (find_given(a, d) >= 0) {
			lb_err("option '%s' given twice", argv[i]);
			return -1;
		}
		if (d->kind != OPT_FLAG) {
			if (i + 1 >= argc) {
				lb_err("option '%s' needs a value", argv[i]);
				return -1;
			}
			val = argv[++i];
		}
		if (add_given(a, d, val))
			return -1;
	}
	return check_complete(cmd, word, tables, a, pos);
}

static const char *label_of(const struct opt_desc *d, char *buf, size_t len)
{
	if (d->label)
		return d->label;
	snprintf(buf, len, "--%s", d->name ? d->name : "?");
	return buf;
}

static void store_uint(void *field, size_t size, __u64 v)
{
	switch (size) {
	case 1: { __u8 x = v; memcpy(field, &x, 1); break; }
	case 2: { __u16 x = v; memcpy(field, &x, 2); break; }
	case 4: { __u32 x = v; memcpy(field, &x, 4); break; }
	default: memcpy(field, &v, sizeof(v)); break;
	}
}

static int fill_u32(const struct opt_desc *d, const char *s, void *field)
{
	char lb[64];
	__u32 v;

	if (lb_parse_u32(s, d->min, d->max, &v) || (d->valid && !d->valid(v))) {
		lb_err("%s '%s' is not %s from %u to %u%s%s%s",
		       label_of(d, lb, sizeof(lb)), s, d->what ? d->what : "a number",
		       d->min, d->max, d->example ? " (e.g. " : "",
		       d->example ? d->example : "", d->example ? ")" : "");
		return -1;
	}
	store_uint(field, d->size, v);
	return 0;
}

static int fill_duration(const struct opt_desc *d, const char *s, __u64 *field)
{
	char lb[64];

	if (lb_parse_duration_ns(s, field)) {
		lb_err("%s '%s' is not a duration such as 500ms, 30s, 10m, 2h or 1d "
		       "(at most 366d)", label_of(d, lb, sizeof(lb)), s);
		return -1;
	}
	return 0;
}

static int fill_enum(const struct opt_desc *d, const char *s, void *field)
{
	char lb[64];
	__u8 v;

	if (d->parse(s, &v)) {
		lb_err("%s '%s' is not %s", label_of(d, lb, sizeof(lb)), s, d->what);
		return -1;
	}
	*(__u8 *)field = v;
	return 0;
}

static int fill_onoff(const struct opt_desc *d, const char *s, bool *field)
{
	char lb[64];

	if (strcmp(s, "on") && strcmp(s, "off")) {
		lb_err("%s '%s' is not on or off", label_of(d, lb, sizeof(lb)), s);
		return -1;
	}
	*field = !strcmp(s, "on");
	return 0;
}

/* VIP and address: the library's parser says what was wrong. */
static int fill_addr(const struct opt_desc *d, const char *s, void *field)
{
	struct cli_addr *ca = field;
	char msg[MSG_LEN];
	int err;

	if (d->kind == OPT_VIP)
		err = lb_parse_vip(s, field, msg, sizeof(msg));
	else
		err = lb_parse_ip(s, ca->addr, &ca->family, msg, sizeof(msg));
	if (err)
		lb_err("%s", msg);
	return err ? -1 : 0;
}

int opts_fill_value(const struct opt_desc *d, const char *s, void *cfg)
{
	void *field = (char *)cfg + d->off;

	switch (d->kind) {
	case OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case OPT_U32:
		return fill_u32(d, s, field);
	case OPT_ENUM:
		return fill_enum(d, s, field);
	case OPT_ONOFF:
		return fill_onoff(d, s, field);
	case OPT_STR:
		*(const char **)field = s;
		return 0;
	case OPT_VIP:
	case OPT_ADDR:
		return fill_addr(d, s, field);
	case OPT_DURATION:
		return fill_duration(d, s, field);
	case OPT_FN:
		return d->fill(d, s, cfg);
	case OPT_END:
		break;
	}
	lb_err("internal error: argument kind %d", d->kind);
	return -1;
}

int opts_fill(const struct opt_desc *table, const struct opt_args *a,
	      void *cfg)
{
	for (const struct opt_desc *d = table; d->kind != OPT_END; d++) {
		int i = find_given(a, d);

		if (i >= 0 && opts_fill_value(d, a->val[i], cfg))
			return -1;
	}
	return 0;
}

bool opts_given(const struct opt_desc *table, const struct opt_args *a)
{
	for (const struct opt_desc *d = table; d->kind != OPT_END; d++)
		if (find_given(a, d) >= 0)
			return true;
	return false;
}

const struct opt_desc opts_none[] = { OPT_TABLE_END };
const struct opt_desc *const opts_no_args[] = { opts_none, NULL };

/* ---- help ----------------------------------------------------------------- */

#define HELP_WIDTH 80

static void grammar_word(const struct opt_desc *d, char *buf, size_t len)
{
	char u[64];

	if (!d->name) {
		snprintf(buf, len, "%s", d->metavar);
		return;
	}
	option_usage(d, u, sizeof(u)); /* the short form: "apply -f FILE" */
	snprintf(buf, len, d->required ? "%s" : "[%s]", u);
}

void opts_print_grammar(FILE *f, const char *prefix,
			const struct opt_desc *const *tables)
{
	size_t indent = strlen(prefix), col = indent;
	char w[96];

	fputs(prefix, f);
	FOR_EACH_ROW(tables, t, d) {
		grammar_word(d, w, sizeof(w));
		if (col > indent && col + 1 + strlen(w) >= HELP_WIDTH) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		}
		col += fprintf(f, " %s", w);
	}
	fputc('\n', f);
}

void opts_print_help(FILE *f, const struct opt_desc *const *tables)
{
	char left[96];

	FOR_EACH_ROW(tables, t, d) {
		if (!d->help)
			continue;
		if (!d->name)
			snprintf(left, sizeof(left), "%s", d->metavar);
		else if (d->alias)
			snprintf(left, sizeof(left), "-%c, --%s %s", d->alias, d->name,
				 d->metavar ? d->metavar : "");
		else
			snprintf(left, sizeof(left), "--%s %s", d->name,
				 d->metavar ? d->metavar : "");
		fprintf(f, "          %-24s %s\n", left, d->help);
	}
}
