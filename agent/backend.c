/* backend.c - helpers shared by every transfer backend: freeing what
 * list_jobs and probe hand out, printable names, GUID text form. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

void
backend_free_error(struct bk_error *e)
{
	if (e == NULL)
		return;
	free(e->text);
	free(e->context_text);
	free(e->remote);
	free(e->local);
	memset(e, 0, sizeof(*e));
}

void
backend_free_validators(struct bk_validators *v)
{
	if (v == NULL)
		return;
	free(v->etag);
	free(v->last_modified);
	v->etag = NULL;
	v->last_modified = NULL;
}

void
backend_free_listing(struct bk_listing *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void
backend_free_jobs(struct bk_job *jobs, size_t n)
{
	size_t i, j;

	if (jobs == NULL)
		return;
	for (i = 0; i < n; i++) {
		struct bk_job *jb = &jobs[i];

		free(jb->display_name);
		free(jb->description);
		backend_free_error(&jb->error);
		for (j = 0; j < jb->nfiles; j++) {
			free(jb->files[j].remote);
			free(jb->files[j].local);
			backend_free_validators(&jb->files[j].validators);
		}
		free(jb->files);
	}
	free(jobs);
}

const char *
bk_state_name(enum bk_state s)
{
	/* BITS's own spelling (BG_JOB_STATE_ without the prefix), which is
	 * also what bitsadmin and Get-BitsTransfer show. */
	static const char *const names[] = {
		"QUEUED", "CONNECTING", "TRANSFERRING", "SUSPENDED", "ERROR",
		"TRANSIENT_ERROR", "TRANSFERRED", "ACKNOWLEDGED", "CANCELLED"
	};

	if ((unsigned)s < sizeof(names) / sizeof(names[0]))
		return names[s];
	return "UNKNOWN";
}

const char *
bk_context_name(enum bk_error_context c)
{
	static const char *const names[] = {
		"NONE", "UNKNOWN", "GENERAL_QUEUE_MANAGER",
		"QUEUE_MANAGER_NOTIFICATION", "LOCAL_FILE", "REMOTE_FILE",
		"GENERAL_TRANSPORT", "REMOTE_APPLICATION",
		"SERVER_CERTIFICATE_CALLBACK"
	};

	if ((unsigned)c < sizeof(names) / sizeof(names[0]))
		return names[c];
	return "UNKNOWN";
}

/* A GUID's text form stores its first three fields as little-endian
 * integers (Data1, Data2, Data3) and the last eight bytes in order, which is
 * how Windows prints a GUID; the bits backend copies a GUID struct into
 * b[] byte for byte, so both backends print the same text. */
void
bk_guid_format(const bk_guid *g, char buf[39])
{
	const uint8_t *b = g->b;

	snprintf(buf, 39,
	    "{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-"
	    "%02X%02X%02X%02X%02X%02X}",
	    b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6],
	    b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Accepts the form bk_guid_format writes, with or without braces, any
 * case.  Returns 0, or -1 (and *g untouched) when s is not a GUID. */
int
bk_guid_parse(const char *s, bk_guid *g)
{
	/* Byte positions in b[] for each pair of hex digits, in text order. */
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6,
	    8, 9, 10, 11, 12, 13, 14, 15 };
	bk_guid out;
	size_t len = strlen(s);
	int braces = 0, k = 0, i, hi, lo;

	if (len == 38 && s[0] == '{' && s[37] == '}')
		braces = 1;
	else if (len != 36)
		return -1;
	s += braces;
	for (i = 0; i < 36; ) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
			i++;
			continue;
		}
		hi = hexval(s[i]);
		lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out.b[order[k++]] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	*g = out;
	return 0;
}
