/* control.h - the control protocol between the run daemon and the
 * commands that ask it (apply, plan, status): its wire format and its
 * client.  The transport is the platform's (a unix socket, a named pipe:
 * platform_control_connect); what the daemon answers is daemon_serve's.
 *
 * A request is a line naming the verb, then for "plan" one absolute PATH
 * per line and an empty line:
 *	"apply\n"
 *	"status\n"
 *	"plan JSON DETAILED VERBOSE\n" PATH... "\n"	(flags 0 or 1)
 * Every reply, whatever the verb, is one header line and two blocks:
 *	"RC OUTLEN ERRLEN\n" OUT ERR
 * RC is the command's exit code, OUT what it prints on stdout (apply: a
 * JSON summary; status: the status document; plan: the plan), ERR what
 * it prints on stderr (a refusal says why there).  The daemon closes the
 * connection after its reply, so a reply ends where the stream ends and a
 * client checks that the lengths add up. */
#ifndef BITSYNC_CONTROL_H
#define BITSYNC_CONTROL_H

#include <stddef.h>

/* A request or a reply larger than this is refused: a plan of 10,000
 * sets is a few MiB, a path list a few KiB. */
#define CONTROL_MAX_REQUEST	65536
#define CONTROL_MAX_REPLY	((size_t)256 << 20)

enum control_verb { CONTROL_APPLY, CONTROL_STATUS, CONTROL_PLAN };

struct control_request {
	enum control_verb verb;
	int json, detailed, verbose;	/* plan's flags */
	char **paths;			/* plan's PATH lines, into buf */
	size_t npaths;
	char *buf;			/* the request as read */
};

/* Parses a request of len bytes in buf (taken over: freed by
 * control_request_free, also on failure).  Returns 0, or -1 when it is
 * incomplete, malformed or of an unknown verb (*why says which). */
int control_parse_request(char *buf, size_t len, struct control_request *rq,
    const char **why);

/* Reads one request through rd (up to len bytes from the connection
 * arg; returns the count, 0 at its end, -1 on error) and parses it.
 * Stops reading as soon as a request is complete: the client waits for
 * the reply without closing its side. */
int control_read_request(long (*rd)(void *arg, char *buf, size_t len),
    void *arg, struct control_request *rq, const char **why);
void control_request_free(struct control_request *rq);

/* Writes a reply through wr (0, or -1 when the client went away). */
int control_write_reply(int (*wr)(void *arg, const char *buf, size_t len),
    void *arg, int rc, const char *out, size_t outlen, const char *err,
    size_t errlen);

struct control_reply {
	int rc;
	char *out, *err;	/* NUL-terminated copies */
	size_t outlen, errlen;
};

/* Parses a whole reply.  Returns 0, or -1 when it is not one (a header
 * that is not three numbers, lengths that do not add up to len). */
int control_parse_reply(const char *buf, size_t len, struct control_reply *r);
void control_reply_free(struct control_reply *r);

/* Results of control_call. */
enum {
	CONTROL_NONE = -1,	/* no daemon listens there */
	CONTROL_OK = 0,		/* *r holds its reply */
	CONTROL_BROKEN = 1	/* one listens but did not answer in form */
};

/* Sends req (len bytes) to the daemon of state_dir and reads its reply. */
int control_call(const char *state_dir, const char *req, size_t len,
    struct control_reply *r);

#endif
