/* control.c - the control protocol's wire format and its client
 * (control.h). */
#include "control.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform.h"
#include "util.h"

/* One of "0" and "1", followed by sep. */
static int
flag(const char **p, char sep, int *v)
{
	if (((*p)[0] != '0' && (*p)[0] != '1') || (*p)[1] != sep)
		return -1;
	*v = (*p)[0] == '1';
	*p += 2;
	return 0;
}

int
control_parse_request(char *buf, size_t len, struct control_request *rq,
    const char **why)
{
	const char *p;
	char *line, *nl, *end = buf + len;
	int rc = -1;

	memset(rq, 0, sizeof(*rq));
	rq->buf = buf;
	*why = "an incomplete request";
	if ((nl = memchr(buf, '\n', len)) == NULL)
		goto done;
	/* A NUL inside would end the strings below early: not ours. */
	*why = "a request with a NUL byte";
	if (memchr(buf, '\0', len) != NULL)
		goto done;
	*why = "an unknown request (apply, status or plan)";
	if (nl - buf == 5 && memcmp(buf, "apply", 5) == 0) {
		rq->verb = CONTROL_APPLY;
		rc = nl + 1 == end ? 0 : -1;
		*why = "bytes after the request";
		goto done;
	}
	if (nl - buf == 6 && memcmp(buf, "status", 6) == 0) {
		rq->verb = CONTROL_STATUS;
		rc = nl + 1 == end ? 0 : -1;
		*why = "bytes after the request";
		goto done;
	}
	if (nl - buf < 5 || memcmp(buf, "plan ", 5) != 0)
		goto done;
	rq->verb = CONTROL_PLAN;
	p = buf + 5;
	*why = "a plan request whose flags are not \"0|1 0|1 0|1\"";
	if (flag(&p, ' ', &rq->json) == -1 ||
	    flag(&p, ' ', &rq->detailed) == -1 ||
	    flag(&p, '\n', &rq->verbose) == -1)
		goto done;
	/* PATH lines up to the empty line that ends the request. */
	line = nl + 1;
	*why = "an incomplete request";
	for (;;) {
		if (line >= end || (nl = memchr(line, '\n', (size_t)(end -
		    line))) == NULL)
			goto done;
		if (nl == line)
			break;
		*nl = '\0';
		rq->paths = xrealloc(rq->paths, (rq->npaths + 1) *
		    sizeof(*rq->paths));
		rq->paths[rq->npaths++] = line;
		line = nl + 1;
	}
	*why = "bytes after the request";
	rc = nl + 1 == end ? 0 : -1;
done:
	if (rc == 0)
		*why = NULL;
	return rc;
}

/* Whether buf (n bytes) holds a whole request: a verb line without
 * arguments, or a plan's lines up to the empty one. */
static int
complete(const char *buf, size_t n)
{
	size_t i;

	if (memchr(buf, '\n', n) == NULL)
		return 0;
	if (n < 5 || memcmp(buf, "plan ", 5) != 0)
		return 1;
	for (i = 1; i < n; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\n')
			return 1;
	return 0;
}

int
control_read_request(long (*rd)(void *arg, char *buf, size_t len),
    void *arg, struct control_request *rq, const char **why)
{
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap + 1);
	long r;

	while (!complete(buf, n)) {
		if (n == cap) {
			if (cap >= CONTROL_MAX_REQUEST) {
				memset(rq, 0, sizeof(*rq));
				rq->buf = buf;
				*why = "a request over 64 KiB";
				return -1;
			}
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		if ((r = rd(arg, buf + n, cap - n)) <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return control_parse_request(buf, n, rq, why);
}

void
control_request_free(struct control_request *rq)
{
	free(rq->paths);
	free(rq->buf);
	memset(rq, 0, sizeof(*rq));
}

int
control_write_reply(int (*wr)(void *arg, const char *buf, size_t len),
    void *arg, int rc, const char *out, size_t outlen, const char *err,
    size_t errlen)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "%d %zu %zu\n", rc, outlen,
	    errlen);

	if (wr(arg, head, (size_t)n) == -1 ||
	    (outlen > 0 && wr(arg, out, outlen) == -1) ||
	    (errlen > 0 && wr(arg, err, errlen) == -1))
		return -1;
	return 0;
}

/* A decimal number of at most 10 digits (the reply is bounded far below),
 * followed by sep.  Signs, spaces and empty numbers are refused. */
static int
number(const char **p, const char *end, char sep, long long *v)
{
	const char *s = *p;
	long long x = 0;

	while (s < end && s - *p < 10 && *s >= '0' && *s <= '9')
		x = x * 10 + (*s++ - '0');
	if (s == *p || s >= end || *s != sep)
		return -1;
	*v = x;
	*p = s + 1;
	return 0;
}

int
control_parse_reply(const char *buf, size_t len, struct control_reply *r)
{
	const char *p = buf, *end;
	long long rc, outlen, errlen;
	int neg = 0;

	memset(r, 0, sizeof(*r));
	if (buf == NULL)	/* nothing came back */
		return -1;
	end = buf + len;
	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	if (number(&p, end, ' ', &rc) == -1 || rc > 255 ||
	    number(&p, end, ' ', &outlen) == -1 ||
	    number(&p, end, '\n', &errlen) == -1 ||
	    (unsigned long long)outlen > (size_t)(end - p) ||
	    (unsigned long long)errlen != (size_t)(end - p) - (size_t)outlen)
		return -1;
	r->rc = neg ? -(int)rc : (int)rc;
	r->outlen = (size_t)outlen;
	r->errlen = (size_t)errlen;
	r->out = xmalloc(r->outlen + 1);
	memcpy(r->out, p, r->outlen);
	r->out[r->outlen] = '\0';
	r->err = xmalloc(r->errlen + 1);
	memcpy(r->err, p + r->outlen, r->errlen);
	r->err[r->errlen] = '\0';
	return 0;
}

void
control_reply_free(struct control_reply *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

int
control_call(const char *state_dir, const char *req, size_t len,
    struct control_reply *r)
{
	char *buf = NULL;
	size_t n = 0, cap = 0;
	ssize_t got;
	int fd, rc = CONTROL_BROKEN;

	memset(r, 0, sizeof(*r));
	if ((fd = platform_control_connect(state_dir)) == -1)
		return CONTROL_NONE;
	while (len > 0 && (got = write(fd, req, len)) > 0) {
		req += got;
		len -= (size_t)got;
	}
	if (len > 0)
		goto done;
	/* The reply ends where the daemon hangs up. */
	for (;;) {
		if (n == cap) {
			if (cap >= CONTROL_MAX_REPLY)
				goto done;
			cap = cap ? cap * 2 : 65536;
			buf = xrealloc(buf, cap);
		}
		if ((got = read(fd, buf + n, cap - n)) < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	/* Windows' pipe reads fail (ERROR_BROKEN_PIPE) where a socket reads
	 * 0 at the end: either ends the reply, whose header says how long
	 * it must be. */
	if (control_parse_reply(buf, n, r) == 0)
		rc = CONTROL_OK;
done:
	free(buf);
	close(fd);
	return rc;
}
