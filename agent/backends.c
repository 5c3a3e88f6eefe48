/* backends.c - the backends[] table (backends.h). */
#include "backends.h"

#include <stddef.h>

/* Which backends a build carries is the build's choice: CMake defines
 * BITSYNC_HAVE_ENGINE where it links agent/engine/, and
 * packaging/windows/build.sh BITSYNC_HAVE_BITS for bitsync.exe. */
#ifdef BITSYNC_HAVE_ENGINE
#include "engine.h"
#define ENGINE_OPS (&engine_backend_ops)
#else
#define ENGINE_OPS NULL
#endif
#ifdef BITSYNC_HAVE_BITS
#include "bits.h"
#define BITS_OPS (&bits_backend_ops)
#else
#define BITS_OPS NULL
#endif

static const struct backend_slot {
	enum config_backend	 id;	/* the config's backend value */
	const struct backend_ops *ops;	/* NULL: not in this build */
	const char		*refusal; /* why not, and what instead */
} backends[] = {
	{ BACKEND_ENGINE, ENGINE_OPS, "backend = engine is not available "
	    "on Windows, where BITS carries the jobs; remove the value (the "
	    "default is bits)" },
	{ BACKEND_BITS, BITS_OPS, "backend = bits needs Windows's "
	    "Background Intelligent Transfer Service; on this host write "
	    "backend = engine (the default)" },
};

const struct backend_ops *
backends_choose(const struct config *cfg, const char **refusal)
{
	const struct backend_ops *ops = NULL;
	size_t i;

	*refusal = "no transfer backend is built into this program";
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const struct backend_slot *b = &backends[i];

		/* The default: the first this build carries. */
		if (b->id == cfg->backend || (cfg->backend ==
		    BACKEND_DEFAULT && b->ops != NULL)) {
			ops = b->ops;
			*refusal = ops != NULL ? NULL : b->refusal;
			break;
		}
	}
	return ops;
}
