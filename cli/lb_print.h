/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_print.h - lbctl's single output sink: every command prints through
 * these calls, once, and the mode chosen at lb_out_init() decides whether
 * that becomes text or JSON. One call per field (the key is used in JSON,
 * the printf format in text) is what keeps the two outputs from drifting.
 *
 * Text mode writes straight to stdout. JSON mode builds the whole document
 * in memory and writes it at lb_out_fini(). Buffering is what lets lb_err()
 * keep stdout valid JSON whatever happened before: on error the partial
 * document is thrown away and stdout gets only {"error":"..."}. lbctl
 * output is small (tables of VIPs and backends), so holding it costs
 * nothing worth mentioning.
 *
 * In JSON mode stdout always receives exactly one JSON value: the
 * document, or the error object, or "null" when a command produced no
 * value at all (so that `lbctl -j ... | jq` never sees empty input).
 *
 * The state is one static struct: this is an output sink for a
 * single-threaded CLI, not a library for concurrent use.
 *
 * Misuse (a key inside an array, no key inside an object, a second value
 * at top level, closing the wrong container, nesting deeper than
 * LB_OUT_MAX_DEPTH) never produces invalid JSON: the offending key or
 * value is dropped or fixed up and one "Warning: JSON output: ..." line
 * goes to stderr per document, so the bug is visible in development.
 */
#ifndef LB_PRINT_H
#define LB_PRINT_H

#include <stdbool.h>
#include <stdio.h>

/* Containers nested deeper than this are dropped with their contents. */
#define LB_OUT_MAX_DEPTH 32

/* Output goes to stdout. json: JSON mode; pretty: indent JSON (-p) with
 * 4 spaces, like bpftool -p; otherwise one compact line. Discards any
 * document left unfinished by an earlier lb_out_init(). */
void lb_out_init(bool json, bool pretty);

/* Ends the document (closes anything still open, final newline in JSON)
 * and writes it to stdout. Output calls after it are ignored in JSON mode
 * until the next lb_out_init(). */
void lb_out_fini(void);

bool lb_out_is_json(void);

/* JSON containers. key is the member name inside an object, NULL inside an
 * array or at top level. Text mode: these print nothing. */
void lb_out_open_object(const char *key);
void lb_out_close_object(void);
void lb_out_open_array(const char *key);
void lb_out_close_array(void);

/*
 * Fields. Text mode: printf(fmt, val) (fmt may be NULL: print nothing).
 * JSON mode: "key": value (key NULL inside arrays); fmt is not used.
 * Strings are escaped (quote, backslash, \b \f \n \r \t, other control
 * characters and DEL as \u00XX); valid UTF-8 is kept as is, each byte of
 * an invalid sequence becomes \ufffd so the output stays valid JSON.
 * A NULL string is JSON null and "-" in text.
 */
void lb_out_str(const char *key, const char *fmt, const char *val);
void lb_out_u64(const char *key, const char *fmt, unsigned long long val);
void lb_out_s64(const char *key, const char *fmt, long long val);
/* JSON: %.6g; NaN/Inf as null. */
void lb_out_double(const char *key, const char *fmt, double val);
/* Text: fmt with "yes"/"no" via %s. JSON: true/false. */
void lb_out_bool(const char *key, const char *fmt, bool val);
/* Text: fmt printed without an argument (use "-" or "none", "%%" for %). */
void lb_out_null(const char *key, const char *fmt);

/*
 * The text of s safe for a terminal, in a new string (free() it; NULL
 * without memory): newline, tab and CR become \n \t \r,
 * any other control byte, DEL, each byte of an invalid UTF-8 sequence and
 * of a C1 control or bidirectional override becomes \xNN; the rest, valid
 * printable UTF-8, is kept as is, backslashes included: escaping is
 * idempotent, so a message that is already escaped (a library error
 * quoting a config value as "\x01") passes unchanged rather than
 * doubled. lb_err() and lb_warn() pass their whole
 * message through it, and text mode every lb_out_str() value, so that an
 * argument's bytes never reach the terminal raw.
 */
char *lb_escape(const char *s);

/* Text-only output (headers, newlines, padding); nothing in JSON mode. */
void lb_out_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The one error sink. Text mode: "Error: <msg>\n" on stderr. JSON mode:
 * the document built so far is discarded and stdout gets {"error":"<msg>"}
 * at once (no lb_out_fini() needed; later output is ignored). A second
 * error in the same JSON document goes to stderr as text, since stdout
 * already holds its one JSON value. The message is one line, printf-style;
 * a trailing newline from the caller is dropped, and the rest goes through
 * lb_escape() (both modes: JSON gets the same "\\n" text a terminal does).
 */
void lb_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Warnings: "Warning: <msg>\n" on stderr in both modes. */
void lb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* LB_PRINT_H */
