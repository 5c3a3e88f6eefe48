/* fuzz_config.c - libFuzzer target over the agent config reader (inih and
 * the key table).  config_load reads a path, so the input goes through a
 * memfd that the reader opens by its /proc name. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct diags d;
	char path[64];
	int fd;

	fd = memfd_create("bitsync.ini", 0);
	if (fd < 0)
		return 0;
	if (size == 0 || write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		diags_init(&d);
		config_defaults(&cfg);
		config_load(&cfg, path, 0, &d);
		config_free(&cfg);
		diags_free(&d);
	}
	close(fd);
	return 0;
}
