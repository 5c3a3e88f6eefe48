/* test_control.c - the control protocol's wire format (agent/control.c):
 * requests as a client or an attacker may send them, replies as a daemon
 * (or something squatting its endpoint) may answer, and the round trip
 * through a reader and a writer. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control.h"
#include "util.h"

static int
parse(const char *req, struct control_request *rq, const char **why)
{
	size_t n = strlen(req);
	char *buf = xmalloc(n + 1);

	memcpy(buf, req, n + 1);
	return control_parse_request(buf, n, rq, why);
}

static void
test_requests(void)
{
	struct control_request rq;
	const char *why;

	CHECK_INT(parse("apply\n", &rq, &why), 0);
	CHECK_INT(rq.verb, CONTROL_APPLY);
	CHECK(why == NULL);
	control_request_free(&rq);
	CHECK_INT(parse("status\n", &rq, &why), 0);
	CHECK_INT(rq.verb, CONTROL_STATUS);
	control_request_free(&rq);
	CHECK_INT(parse("plan 1 0 1\n/etc/a.yaml\n/etc/b dir\n\n", &rq, &why),
	    0);
	CHECK_INT(rq.verb, CONTROL_PLAN);
	CHECK_INT(rq.json, 1);
	CHECK_INT(rq.detailed, 0);
	CHECK_INT(rq.verbose, 1);
	CHECK_INT(rq.npaths, 2);
	if (rq.npaths == 2) {
		CHECK_STR(rq.paths[0], "/etc/a.yaml");
		CHECK_STR(rq.paths[1], "/etc/b dir");
	}
	control_request_free(&rq);
	CHECK_INT(parse("plan 0 0 0\n\n", &rq, &why), 0);
	CHECK_INT(rq.npaths, 0);
	control_request_free(&rq);

	/* What a client must not get away with, each refused with why. */
	CHECK_INT(parse("", &rq, &why), -1);
	CHECK_STR(why, "an incomplete request");
	control_request_free(&rq);
	CHECK_INT(parse("apply", &rq, &why), -1);
	CHECK_STR(why, "an incomplete request");
	control_request_free(&rq);
	CHECK_INT(parse("delete-everything\n", &rq, &why), -1);
	CHECK_STR(why, "an unknown request (apply, status or plan)");
	control_request_free(&rq);
	CHECK_INT(parse("applyX\n", &rq, &why), -1);
	control_request_free(&rq);
	CHECK_INT(parse("apply\nstatus\n", &rq, &why), -1);
	CHECK_STR(why, "bytes after the request");
	control_request_free(&rq);
	CHECK_INT(parse("plan 2 0 0\n\n", &rq, &why), -1);
	CHECK(why != NULL && strstr(why, "flags") != NULL);
	control_request_free(&rq);
	CHECK_INT(parse("plan -1 0 0\n\n", &rq, &why), -1);
	control_request_free(&rq);
	CHECK_INT(parse("plan 1 1\n\n", &rq, &why), -1);
	control_request_free(&rq);
	CHECK_INT(parse("plan 0 0 0\n/a\n", &rq, &why), -1);
	CHECK_STR(why, "an incomplete request");
	control_request_free(&rq);
	CHECK_INT(parse("plan 0 0 0\n/a\n\n/b\n\n", &rq, &why), -1);
	CHECK_STR(why, "bytes after the request");
	control_request_free(&rq);
	{
		/* A NUL would cut a path short: "/etc/x\0/../../y". */
		char *buf = xmalloc(32);

		memcpy(buf, "plan 0 0 0\n/a\0b\n\n", 17);
		CHECK_INT(control_parse_request(buf, 17, &rq, &why), -1);
		CHECK_STR(why, "a request with a NUL byte");
		control_request_free(&rq);
	}
}

static void
test_replies(void)
{
	struct control_reply r;
	static const char ok[] = "2 5 4\nhello\nerr";

	CHECK_INT(control_parse_reply(ok, sizeof(ok) - 1, &r), 0);
	CHECK_INT(r.rc, 2);
	CHECK_INT(r.outlen, 5);
	CHECK_STR(r.out, "hello");
	CHECK_INT(r.errlen, 4);
	CHECK_STR(r.err, "\nerr");
	control_reply_free(&r);
	CHECK_INT(control_parse_reply("0 0 0\n", 6, &r), 0);
	CHECK_STR(r.out, "");
	control_reply_free(&r);

	/* Short, long, lying or malformed answers are not a reply. */
	CHECK_INT(control_parse_reply("", 0, &r), -1);
	CHECK_INT(control_parse_reply(NULL, 0, &r), -1);
	CHECK_INT(control_parse_reply("0 5 0\nhell", 10, &r), -1);
	CHECK_INT(control_parse_reply("0 1 0\nab", 8, &r), -1);
	CHECK_INT(control_parse_reply("0 0 1\n", 6, &r), -1);
	CHECK_INT(control_parse_reply("0 -1 0\n", 7, &r), -1);
	CHECK_INT(control_parse_reply("0 +1 0\nx", 8, &r), -1);
	CHECK_INT(control_parse_reply("0  1 0\nx", 8, &r), -1);
	CHECK_INT(control_parse_reply("0 1 0 \nx", 8, &r), -1);
	CHECK_INT(control_parse_reply("300 0 0\n", 8, &r), -1);
	CHECK_INT(control_parse_reply("0 99999999999999999999 0\n", 25, &r),
	    -1);
	/* A length that wraps when added to the other. */
	CHECK_INT(control_parse_reply("0 18446744073709551615 2\nab", 27, &r),
	    -1);
	CHECK_INT(control_parse_reply("{\"error\":\"x\"}\n", 14, &r), -1);
	CHECK(r.out == NULL && r.err == NULL);
}

/* A connection in memory: what a client sent, read in small pieces (as a
 * socket may deliver it); what the daemon wrote, collected. */
struct conn {
	const char *in;
	size_t inlen, off, piece;
	char out[256];
	size_t outlen;
};

static long
conn_read(void *arg, char *buf, size_t len)
{
	struct conn *c = arg;
	size_t n = c->inlen - c->off;

	if (n > c->piece)
		n = c->piece;
	if (n > len)
		n = len;
	memcpy(buf, c->in + c->off, n);
	c->off += n;
	return (long)n;
}

static int
conn_write(void *arg, const char *buf, size_t len)
{
	struct conn *c = arg;

	if (c->outlen + len > sizeof(c->out))
		return -1;
	memcpy(c->out + c->outlen, buf, len);
	c->outlen += len;
	return 0;
}

static void
test_round_trip(void)
{
	static const char req[] = "plan 0 1 0\n/x/y.yaml\n\n";
	struct control_request rq;
	struct control_reply r;
	struct conn c;
	const char *why;

	memset(&c, 0, sizeof(c));
	c.in = req;
	c.inlen = sizeof(req) - 1;
	c.piece = 3;
	CHECK_INT(control_read_request(conn_read, &c, &rq, &why), 0);
	CHECK_INT(rq.detailed, 1);
	CHECK_INT(rq.npaths, 1);
	if (rq.npaths == 1)
		CHECK_STR(rq.paths[0], "/x/y.yaml");
	control_request_free(&rq);

	/* The reader stops at the request's end: the client keeps its side
	 * open for the reply, so reading on would wait forever. */
	memset(&c, 0, sizeof(c));
	c.in = "status\nMORE";
	c.inlen = 11;
	c.piece = 7;
	CHECK_INT(control_read_request(conn_read, &c, &rq, &why), 0);
	CHECK_INT(c.off, 7);
	control_request_free(&rq);

	/* A client that hangs up half-way. */
	memset(&c, 0, sizeof(c));
	c.in = "plan 0 0 0\n/a\n";
	c.inlen = 14;
	c.piece = 100;
	CHECK_INT(control_read_request(conn_read, &c, &rq, &why), -1);
	CHECK_STR(why, "an incomplete request");
	control_request_free(&rq);

	memset(&c, 0, sizeof(c));
	CHECK_INT(control_write_reply(conn_write, &c, 69, "{}\n", 3,
	    "no\n", 3), 0);
	CHECK_INT(control_parse_reply(c.out, c.outlen, &r), 0);
	CHECK_INT(r.rc, 69);
	CHECK_STR(r.out, "{}\n");
	CHECK_STR(r.err, "no\n");
	control_reply_free(&r);
}

/* A client that sends without end is cut off at 64 KiB. */
static long
endless(void *arg, char *buf, size_t len)
{
	(void)arg;
	memset(buf, 'a', len);
	return (long)len;
}

static void
test_oversized(void)
{
	struct control_request rq;
	const char *why;

	CHECK_INT(control_read_request(endless, NULL, &rq, &why), -1);
	CHECK_STR(why, "a request over 64 KiB");
	control_request_free(&rq);
}

int
main(void)
{
	test_requests();
	test_replies();
	test_round_trip();
	test_oversized();
	return check_done();
}
