/* diag.h - diagnostics: what bitsync tells an administrator about an input.
 *
 * Every diagnostic names a file, a place in it (line and column, 1-based;
 * 0 when the whole file is meant), a severity, a rule id and a message that
 * says what to write instead.  Rule ids are a public contract: pipelines
 * match on them (see README "Validation rules"). */
#ifndef BITSYNC_DIAG_H
#define BITSYNC_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag {
	char *file;
	unsigned line, col;
	enum diag_severity severity;
	const char *rule;	/* static string, e.g. "schema" */
	char *message;
};

struct diags {
	struct diag *v;
	size_t n, cap;
	size_t errors, warnings;
	size_t io_errors;	/* diagnostics with rule "io-error": exit 74 */
};

/* A file may produce at most this many diagnostics; past it one note says
 * that more were suppressed, so a pasted binary cannot flood a terminal. */
#define DIAG_MAX_PER_FILE 100

void diags_init(struct diags *d);
void diags_free(struct diags *d);

/* Adds one diagnostic; the message is printf-formatted.  Out of memory is
 * fatal (the process cannot report anything meaningful without memory). */
void diag_add(struct diags *d, const char *file, unsigned line, unsigned col,
    enum diag_severity sev, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void diag_vadd(struct diags *d, const char *file, unsigned line,
    unsigned col, enum diag_severity sev, const char *rule, const char *fmt,
    va_list ap) __attribute__((format(printf, 7, 0)));

/* Stable order for output: by file (order of first appearance), then line,
 * then column, then insertion order. */
void diags_sort(struct diags *d);

/* FILE:LINE:COL: error: MESSAGE [rule-id]   (what compilers print) */
void diags_print_text(const struct diags *d, FILE *out);

/* {"valid": bool, "diagnostics": [{file,line,column,severity,rule,message}]}
 * Returns 0, or -1 when the output could not be written. */
int diags_print_json(const struct diags *d, int valid, FILE *out);

const char *diag_severity_name(enum diag_severity sev);

#endif
