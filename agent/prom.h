/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * prom.h - streaming parser of the Prometheus text exposition format
 * (version 0.0.4), as scraped by lb-agent from inference servers.
 *
 * The parser walks the buffer once, line by line, and calls a callback
 * for every sample. It allocates one scratch buffer per call (bounded by
 * PROM_MAX_LINE) and nothing per sample: names and unescaped label
 * values handed to the callback point into that buffer and are valid
 * only during the callback.
 *
 * It is strict, like the Prometheus Go text parser: any malformed line
 * fails the whole parse with a line/column and a message. Because it
 * streams, the callback may already have seen samples of earlier lines
 * when an error is found: callers must treat the scrape as failed as a
 * whole and discard what they accumulated.
 */
#ifndef INFERLB_PROM_H
#define INFERLB_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest accepted line in bytes, without its line ending. */
#define PROM_MAX_LINE (64 * 1024)
/* Most labels accepted on one sample. */
#define PROM_MAX_LABELS 64

enum prom_type {
	PROM_TYPE_NONE = 0,	/* no # TYPE line covers this sample */
	PROM_TYPE_COUNTER,
	PROM_TYPE_GAUGE,
	PROM_TYPE_HISTOGRAM,
	PROM_TYPE_SUMMARY,
	PROM_TYPE_UNTYPED,	/* declared "untyped" */
};

struct prom_label {
	const char *name;
	const char *value;	/* unescaped, NUL-terminated */
};

struct prom_sample {
	const char *name;	/* full sample name, e.g. "x_bucket" */
	const struct prom_label *labels;
	unsigned int nlabels;
	double value;		/* may be NaN or +-Inf */
	int64_t timestamp_ms;	/* valid if has_timestamp */
	bool has_timestamp;
	enum prom_type type;	/* TYPE of the family the sample belongs to */
	unsigned int line;	/* 1-based line of the sample */
};

struct prom_error {
	unsigned int line;	/* 1-based; 0 if no error */
	unsigned int col;	/* 1-based byte column */
	char msg[160];		/* "line 7, col 12: expected '=' ..." */
};

/*
 * Called once per sample. Return 0 to go on, or a negative errno to stop:
 * prom_parse() then returns that value (err->msg says "aborted").
 */
typedef int (*prom_sample_cb)(void *ctx, const struct prom_sample *s);

/*
 * Parse @len bytes of @text (need not be NUL-terminated). @cb may be NULL
 * (validation only); @err may be NULL.
 * Returns the number of samples (>= 0), or a negative errno:
 *   -EINVAL  malformed text,
 *   -E2BIG   a limit was exceeded (PROM_MAX_LINE, PROM_MAX_LABELS),
 *   -ENOMEM  out of memory,
 *   or the callback's negative return.
 * Lines may end in "\n" or "\r\n"; the last line needs no line ending.
 */
int prom_parse(const char *text, size_t len, prom_sample_cb cb, void *ctx,
	       struct prom_error *err);

/*
 * The same, for the samples named in @only (a NULL-terminated list of
 * exact sample names) only: every other line, comments included, is
 * skipped after finding its end, without being validated. This is what
 * lb-agent scrapes with: it needs three series out of a few hundred, so
 * its cost per scrape stays near a line scan, and a malformed line in an
 * unrelated family cannot blind it to a worker's load. Samples passed to
 * @cb have type PROM_TYPE_NONE (TYPE lines are skipped).
 */
int prom_parse_only(const char *text, size_t len, const char *const *only,
		    prom_sample_cb cb, void *ctx, struct prom_error *err);

/* Value of label @name of @s, or NULL if it has none. */
const char *prom_label_get(const struct prom_sample *s, const char *name);

/*
 * Parse a Prometheus float ("1", "-2.5e3", "NaN", "+Inf", "-Inf", ...)
 * independent of the process locale. @s is NUL-terminated.
 * Returns true on success.
 */
bool prom_parse_double(const char *s, double *out);

const char *prom_type_name(enum prom_type t);

#endif /* INFERLB_PROM_H */
