/* test_backends.c - the backends[] table (agent/backends.c) as the Linux
 * build carries it: the engine, chosen by the config or by default, with
 * its capability; BITS refused with the sentence the admin reads. */
#include <string.h>

#include "backends.h"
#include "check.h"
#include "config.h"

int
main(void)
{
	struct config cfg;
	const struct backend_ops *ops;
	const char *why;

	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = BACKEND_ENGINE;
	ops = backends_choose(&cfg, &why);
	CHECK(ops != NULL && why == NULL);
	if (ops != NULL) {
		CHECK_STR(ops->name, "engine");
		CHECK((ops->caps & BK_CAP_IN_PROCESS) != 0);
	}
	cfg.backend = BACKEND_DEFAULT;
	ops = backends_choose(&cfg, &why);
	CHECK(ops != NULL && strcmp(ops->name, "engine") == 0);
	cfg.backend = BACKEND_BITS;
	CHECK(backends_choose(&cfg, &why) == NULL);
	CHECK(why != NULL && strstr(why, "backend = bits needs Windows") !=
	    NULL && strstr(why, "write backend = engine") != NULL);
	return check_done();
}
