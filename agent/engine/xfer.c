/* xfer.c - what every protocol of the engine (http.c, smb.c) shares while
 * it writes a transfer's temp file: its error record, whole writes, and
 * the free-space reserve it leaves on the destination's filesystem. */
#include <sys/statvfs.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "engine_int.h"

/* Free space a transfer leaves on the destination's filesystem (or 5 %
 * of it when smaller). */
#define XFER_RESERVE	((uint64_t)64 << 20)

int
xfer_fail(struct xfer *x, enum bk_error_context ctx, int32_t code,
    int transient, const char *fmt, ...)
{
	va_list ap;

	x->ectx = ctx;
	x->code = code;
	x->transient = transient;
	va_start(ap, fmt);
	vsnprintf(x->text, sizeof(x->text), fmt, ap);
	va_end(ap);
	return XFER_FAILED;
}

int
xfer_write(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* For any protocol: whether need more bytes in fd leave its filesystem
 * the reserve; *avail and *reserve say what was found. */
int
xfer_room(int fd, uint64_t need, uint64_t *avail, uint64_t *reserve)
{
	struct statvfs s;
	uint64_t size;

	if (fstatvfs(fd, &s) != 0) {
		*reserve = XFER_RESERVE;	/* the next check, not at once */
		return 1;
	}
	*avail = (uint64_t)s.f_bavail * s.f_frsize;
	size = (uint64_t)s.f_blocks * s.f_frsize;
	*reserve = size / 20 < XFER_RESERVE ? size / 20 : XFER_RESERVE;
	return *avail >= *reserve && *avail - *reserve >= need;
}
