/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * opts.h - lbctl's arguments, declared in tables.
 *
 * Each command fills ONE struct of its own, starting from its defaults
 * struct. Its arguments are rows of tables: a row names a field of that
 * struct (offset and size), how a value is written (kind), how help and
 * errors call it, and one line of help. Positional arguments are rows
 * without a name, taken in order. Parsing has two steps:
 *
 *   opts_parse()  splits argv against the tables: unknown, repeated or
 *                 valueless options, extra or missing positionals and
 *                 missing required options are usage errors;
 *   opts_fill()   converts what was given, table by table and row by row,
 *                 into the struct: a value out of its range or set is a
 *                 usage error.
 *
 * What was given stays in struct opt_args, so a command can fill the same
 * rows again over other values (vip set: over the VIP's live settings).
 * Every error goes through lb_err(), which escapes what it quotes.
 */
#ifndef LBCTL_OPTS_H
#define LBCTL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

enum opt_kind {
	OPT_END,	/* ends a table */
	OPT_FLAG,	/* no value; sets a bool */
	OPT_U32,	/* whole number in [min, max] (and valid() if set),
			 * stored in a field of 1, 2, 4 or 8 bytes */
	OPT_ENUM,	/* a name, through parse() (lb_*_parse) into a __u8 */
	OPT_ONOFF,	/* on|off into a bool */
	OPT_STR,	/* the argument itself, as a const char * */
	OPT_VIP,	/* ADDR:PORT/tcp|udp into a struct lb_vip_key */
	OPT_ADDR,	/* an IP address into a struct cli_addr */
	OPT_DURATION,	/* 500ms, 30s, 10m, 2h, 1d into a __u64 of ns */
	OPT_FN,		/* fill() does it (and reports its own error) */
};

struct opt_desc {
	const char *name;	/* --name; NULL: a positional argument */
	char alias;		/* -X, or 0 */
	enum opt_kind kind;
	size_t off, size;	/* the field in the command's struct */
	const char *metavar;	/* the value in help: "DEV", "native|skb" */
	const char *label;	/* the value in errors: "weight"; "--name" if NULL */
	const char *help;
	bool required;		/* an option that must be given */
	/* OPT_U32: "LABEL 'X' is not WHAT from MIN to MAX[ (e.g. EXAMPLE)]" */
	__u32 min, max;
	const char *what;	/* OPT_U32 default "a number"; OPT_ENUM: the
				 * choices, "LABEL 'X' is not WHAT" */
	bool (*valid)(__u32 v);
	const char *example;
	int (*parse)(const char *s, __u8 *out);			/* OPT_ENUM */
	int (*fill)(const struct opt_desc *d, const char *s, void *cfg); /* OPT_FN */
};

/* The field of a row: OPT_FIELD(struct vip_opts, o.rate). */
#define OPT_FIELD(type, member) \
	.off = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define OPT_TABLE_END { .kind = OPT_END }

/* An address argument: OPT_ADDR fills it. */
struct cli_addr {
	__u8 addr[16];
	__u8 family;	/* LB_AF_* */
};

/* The tables of a command without arguments. */
extern const struct opt_desc opts_none[];
extern const struct opt_desc *const opts_no_args[];

/* What argv gave, in argv order. */
#define OPT_ARGS_MAX 32
struct opt_args {
	const struct opt_desc *desc[OPT_ARGS_MAX];
	const char *val[OPT_ARGS_MAX];	/* NULL for a flag */
	int n;
};

/* Splits argv against tables (NULL-terminated). cmd names the command in
 * errors ("vip add"), word the help to see ("vip"). 0, or -1 after
 * printing a usage error. */
int opts_parse(const char *cmd, const char *word,
	       const struct opt_desc *const *tables, int argc, char **argv,
	       struct opt_args *a);
/* Converts the rows of table that a gave into cfg, in table order. 0, or
 * -1 after printing a usage error (cfg is then partly filled). */
int opts_fill(const struct opt_desc *table, const struct opt_args *a,
	      void *cfg);
/* Converts one value as row d says (for an OPT_FN row's fill() that
 * picks the row at run time). 0, or -1 after printing a usage error. */
int opts_fill_value(const struct opt_desc *d, const char *s, void *cfg);
/* Whether any row of table was given. */
bool opts_given(const struct opt_desc *table, const struct opt_args *a);

/* Help from the tables: the grammar ("DEV [--mode native|skb]") ... */
void opts_print_grammar(FILE *f, const char *prefix,
			const struct opt_desc *const *tables);
/* ... and one line per argument that has help. */
void opts_print_help(FILE *f, const struct opt_desc *const *tables);

#endif /* LBCTL_OPTS_H */
