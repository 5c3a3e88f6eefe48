/* diag.c - collecting and printing diagnostics. */
#include "diag.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

void
diags_init(struct diags *d)
{
	memset(d, 0, sizeof(*d));
}

void
diags_free(struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].message);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* Messages quote user input (key names, paths) and files may hold any
 * bytes: replace what is not valid UTF-8 and control characters with '?',
 * so a diagnostic is always one printable line and valid JSON. */
static void
sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		int len = 0, i;

		if (*p < 0x20 || *p == 0x7f) {
			*p++ = '?';
			continue;
		}
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
			len = 2;
		else if ((*p & 0xf0) == 0xe0)
			len = 3;
		else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
			len = 4;
		for (i = 1; len > 0 && i < len; i++)
			if ((p[i] & 0xc0) != 0x80)
				len = 0;
		/* Overlong 3-byte forms and UTF-16 surrogates are invalid too. */
		if (len == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) ||
		    (p[0] == 0xed && p[1] >= 0xa0)))
			len = 0;
		if (len == 4 && ((p[0] == 0xf0 && p[1] < 0x90) ||
		    (p[0] == 0xf4 && p[1] >= 0x90)))
			len = 0;
		if (len == 0)
			*p++ = '?';
		else
			p += len;
	}
}

/* How many diagnostics file already has: the per-file cap is checked on
 * every add, so walk back only over the tail that belongs to this file. */
static size_t
count_for_file(const struct diags *d, const char *file)
{
	size_t i, n = 0;

	for (i = d->n; i > 0; i--) {
		if (strcmp(d->v[i - 1].file, file) == 0)
			n++;
		else if (n > 0)
			break;
	}
	return n;
}

void
diag_vadd(struct diags *d, const char *file, unsigned line, unsigned col,
    enum diag_severity sev, const char *rule, const char *fmt, va_list ap)
{
	struct diag *g;
	size_t have;
	char *msg;

	have = count_for_file(d, file);
	if (have > DIAG_MAX_PER_FILE)
		return;
	if (have == DIAG_MAX_PER_FILE) {
		/* The note itself counts, so later adds stop above. */
		msg = xasprintf("more than %d problems; fix these and run "
		    "validate again to see the rest", DIAG_MAX_PER_FILE);
		sev = DIAG_ERROR;
		line = col = 0;
	} else {
		va_list cp;
		int len;

		va_copy(cp, ap);
		len = vsnprintf(NULL, 0, fmt, cp);
		va_end(cp);
		msg = xmalloc((size_t)len + 1);
		vsnprintf(msg, (size_t)len + 1, fmt, ap);
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	g = &d->v[d->n++];
	sanitize(msg);
	g->file = xstrdup(file);
	sanitize(g->file);
	g->line = line;
	g->col = col;
	g->severity = sev;
	g->rule = rule;
	g->message = msg;
	if (sev == DIAG_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (strcmp(rule, "io-error") == 0)
		d->io_errors++;
}

void
diag_add(struct diags *d, const char *file, unsigned line, unsigned col,
    enum diag_severity sev, const char *rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, file, line, col, sev, rule, fmt, ap);
	va_end(ap);
}

/* qsort is not stable; carry each diagnostic's file rank and insertion
 * index so equal positions keep the order they were found in. */
struct sortkey {
	size_t file_rank, index;
	struct diag *g;
};

static int
cmp_key(const void *a, const void *b)
{
	const struct sortkey *x = a, *y = b;

	if (x->file_rank != y->file_rank)
		return x->file_rank < y->file_rank ? -1 : 1;
	if (x->g->line != y->g->line)
		return x->g->line < y->g->line ? -1 : 1;
	if (x->g->col != y->g->col)
		return x->g->col < y->g->col ? -1 : 1;
	return x->index < y->index ? -1 : (x->index > y->index);
}

void
diags_sort(struct diags *d)
{
	struct sortkey *k;
	struct diag *sorted;
	struct strset files;
	size_t i, rank = 0;

	if (d->n < 2)
		return;
	k = xcalloc(d->n, sizeof(*k));
	strset_init(&files, 0);
	for (i = 0; i < d->n; i++) {
		const void *prev;

		if (strset_add(&files, d->v[i].file, (void *)(rank + 1),
		    &prev) == 1)
			k[i].file_rank = (size_t)prev;
		else
			k[i].file_rank = ++rank;
		k[i].index = i;
		k[i].g = &d->v[i];
	}
	qsort(k, d->n, sizeof(*k), cmp_key);
	sorted = xcalloc(d->n, sizeof(*sorted));
	for (i = 0; i < d->n; i++)
		sorted[i] = *k[i].g;
	memcpy(d->v, sorted, d->n * sizeof(*sorted));
	free(sorted);
	free(k);
	strset_free(&files);
}

const char *
diag_severity_name(enum diag_severity sev)
{
	return sev == DIAG_ERROR ? "error" : "warning";
}

void
diags_print_text(const struct diags *d, FILE *out)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct diag *g = &d->v[i];

		if (g->line > 0)
			fprintf(out, "%s:%u:%u: %s: %s [%s]\n", g->file,
			    g->line, g->col, diag_severity_name(g->severity),
			    g->message, g->rule);
		else
			fprintf(out, "%s: %s: %s [%s]\n", g->file,
			    diag_severity_name(g->severity), g->message,
			    g->rule);
	}
}

int
diags_print_json(const struct diags *d, int valid, FILE *out)
{
	json_t *root, *arr;
	size_t i;
	int rc = -1;

	root = json_object();
	arr = json_array();
	if (root == NULL || arr == NULL)
		goto out;
	for (i = 0; i < d->n; i++) {
		const struct diag *g = &d->v[i];
		json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}",
		    "file", g->file, "line", (json_int_t)g->line,
		    "column", (json_int_t)g->col,
		    "severity", diag_severity_name(g->severity),
		    "rule", g->rule, "message", g->message);

		if (o == NULL || json_array_append_new(arr, o) != 0)
			goto out;
	}
	if (json_object_set_new(root, "valid", json_boolean(valid)) != 0 ||
	    json_object_set(root, "diagnostics", arr) != 0)
		goto out;
	if (json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		goto out;
	fputc('\n', out);
	rc = 0;
out:
	json_decref(arr);
	json_decref(root);
	return rc;
}
