/* fuzz_control.c - libFuzzer target over the control protocol's parsers
 * (agent/control.c): every input is tried as a request (what any local
 * client may send the root daemon) and as a reply (what a client reads
 * back from its endpoint), and a parsed one must hold together. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_request rq;
	struct control_reply r;
	const char *why;
	char *buf = xmalloc(size + 1);
	size_t i;

	memcpy(buf, data, size);
	buf[size] = '\0';
	if (control_parse_request(buf, size, &rq, &why) == 0) {
		for (i = 0; i < rq.npaths; i++)
			if (strchr(rq.paths[i], '\n') != NULL ||
			    rq.paths[i][0] == '\0')
				abort();
	} else if (why == NULL)
		abort();
	control_request_free(&rq);	/* frees buf */
	if (control_parse_reply((const char *)data, size, &r) == 0) {
		if (r.outlen + r.errlen > size || r.out[r.outlen] != '\0' ||
		    r.err[r.errlen] != '\0')
			abort();
		control_reply_free(&r);
	}
	return 0;
}
