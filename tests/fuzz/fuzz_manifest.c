/* fuzz_manifest.c - libFuzzer target over the manifest reader and every
 * validation rule.  The first input byte picks platform, drop-in mode and
 * whether a host config with drives and roots applies, so all branches of
 * the destination rules are reachable; bit 8 allows on_change commands
 * (allow_commands), so the command rules' model is built too. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char root0[] = "/srv/bitsync", root1[] = "%ProgramData%\\Contoso";
	static char *roots[] = { root0, root1, NULL };
	struct manifest_opts opts;
	struct config cfg;
	struct manifest *m;
	struct diags d;
	uint8_t mode = size > 0 ? data[0] : 0;
	size_t i;

	memset(&opts, 0, sizeof(opts));
	config_defaults(&cfg);
	if (mode & 4) {
		cfg.allow_drives = 1u << ('D' - 'A');
		cfg.allow_roots = roots;
		cfg.nallow_roots = 2;
	}
	cfg.allow_commands = (mode & 8) != 0;
	opts.platform = (mode & 1) ? PLATFORM_WINDOWS : PLATFORM_POSIX;
	opts.config = &cfg;
	opts.permissions = PERM_OFF;
	diags_init(&d);
	m = manifest_load_buffer("fuzz.yaml", size ? data + 1 : data,
	    size ? size - 1 : 0, (mode & 2) != 0, &opts, &d);
	/* Everything a caller may read must be readable. */
	for (i = 0; i < m->nsets; i++)
		if (m->sets[i].destination != NULL)
			(void)strlen(m->sets[i].destination);
	for (i = 0; i < m->nsets; i++)
		if (m->sets[i].on_change != NULL) {
			size_t k;

			for (k = 0; k < m->sets[i].on_change->argc; k++)
				(void)strlen(m->sets[i].on_change->argv[k]);
		}
	diags_sort(&d);
	manifest_free(m);
	diags_free(&d);
	return 0;
}
