/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_yaml.h - a strict YAML reader for configuration files: libyaml's
 * event parser builds a small tree (every scalar copied, children linked
 * by index), then the caller walks it with typed getters that check one
 * value each and report errors as one line
 *   NAME:LINE:COL: FIELD: WHAT
 * e.g. "fleet.yaml:12:17: vips[0].backends[1].capacity: must be a number
 * in (0, 1000], got "fast"". Generic: it knows no key of any file.
 *
 * Safety: anchors, aliases and tags are refused (aliases can blow a small
 * file up exponentially, tags would let a file ask for types we do not
 * have); nesting is limited to LB_YAML_MAX_DEPTH and the tree to
 * LB_YAML_MAX_NODES, so any input costs memory linear in its size. Only
 * one document per file.
 */
#ifndef LB_YAML_H
#define LB_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LB_YAML_MAX_DEPTH 16
#define LB_YAML_MAX_NODES (1u << 18)	/* ~2.5x a full 4096-backend file */
#define LB_YAML_MAX_FILE (16u << 20)

enum lb_yaml_kind { LB_YAML_SCALAR, LB_YAML_SEQ, LB_YAML_MAP };

/*
 * Children of a sequence are its items; children of a mapping alternate
 * key, value. Indices into lb_yaml_doc.v (the array is realloc'd while
 * building); -1 = none.
 */
struct lb_yaml_node {
	enum lb_yaml_kind kind;
	bool plain;		/* unquoted scalar (for null detection) */
	unsigned line, col;	/* 1-based */
	char *val;		/* scalar: NUL-terminated copy */
	size_t len;		/* scalar: bytes (may include NULs) */
	int first, last, next;
	size_t n;		/* children */
};

/* One parsed file and where its errors go. */
struct lb_yaml_doc {
	const char *name;	/* for messages: the path */
	char *err;		/* the caller's buffer; may be NULL */
	size_t errlen;
	struct lb_yaml_node *v;
	size_t n, cap;
	int root;		/* -1: empty stream (no document) */
};

/*
 * Parses buf[len] (NULL with len 0 is an empty file) into d. Returns 0, or
 * a negative errno with the message in err (d is then freed). Errors at
 * the YAML level name the field "(top)".
 */
int lb_yaml_parse(struct lb_yaml_doc *d, const char *name, const char *buf,
		  size_t len, char *err, size_t errlen);
void lb_yaml_free(struct lb_yaml_doc *d);

/* Reads a whole file (or pipe) of at most LB_YAML_MAX_FILE bytes into a
 * malloc'd buffer. Returns 0 or a negative errno with "PATH: what". */
int lb_yaml_read_file(const char *path, char **buf, size_t *len, char *err,
		      size_t errlen);

/* The node with index id, NULL for -1. */
static inline const struct lb_yaml_node *lb_yaml_at(const struct lb_yaml_doc *d,
						    int id)
{
	return id >= 0 ? &d->v[id] : (const struct lb_yaml_node *)0;
}

/* "a mapping", "a sequence", "a scalar". */
const char *lb_yaml_kind_name(const struct lb_yaml_node *n);
/* "", "~" or "null" unquoted: an optional section left empty counts as
 * absent. NULL is null too. */
bool lb_yaml_is_null(const struct lb_yaml_node *n);

/* Writes "NAME:LINE:COL: FIELD: WHAT" (control bytes as '?') and returns
 * rc, so a caller can `return lb_yaml_fail(...)`. */
int lb_yaml_fail(struct lb_yaml_doc *d, int rc, const struct lb_yaml_node *n,
		 const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A value for a message: quoted, at most 40 bytes, non-printable bytes as
 * \xNN, so a hostile value cannot break the one-line error. */
const char *lb_yaml_quote(const struct lb_yaml_node *n, char *buf, size_t len);
#define LB_YAML_Q(n) lb_yaml_quote((n), (char[200]){ 0 }, 200)

/* "prefix.key" (or "key" at the top) in buf; truncation only shortens a
 * message. */
const char *lb_yaml_field(char *buf, size_t len, const char *prefix,
			  const char *key);
#define LB_YAML_FIELD(prefix, key) \
	lb_yaml_field((char[128]){ 0 }, 128, (prefix), (key))

/*
 * Checks mapping m against keys[nkeys] and returns each key's value node
 * in vals[] (NULL if absent). An unknown key (the message lists the
 * expected ones, in the order given), a duplicate key or a non-string key
 * is an error at that key. prefix is the mapping's field path ("" at the
 * top).
 */
int lb_yaml_get_map(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
		    const char *prefix, const char *const *keys, size_t nkeys,
		    const struct lb_yaml_node **vals);

/* A string: a scalar without NUL bytes; empty only if empty_ok. */
int lb_yaml_get_str(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		    const char *field, bool empty_ok, const char **out);
/* An unsigned decimal in [lo, hi]. */
int lb_yaml_get_u32(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		    const char *field, uint32_t lo, uint32_t hi, uint32_t *out);
/* A finite decimal number (no hex, inf, nan, blanks; locale-independent).
 * range ("in (0, 1000]") completes the message; NULL for none. */
int lb_yaml_get_double(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		       const char *field, const char *range, double *out);
/* true or false, nothing else. */
int lb_yaml_get_bool(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		     const char *field, bool *out);

#endif /* LB_YAML_H */
