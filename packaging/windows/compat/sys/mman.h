/* sys/mman.h for the Windows build - anonymous private mappings only
 * (what the core's arena uses), over VirtualAlloc.  A file mapping is not
 * offered: mmap then fails with ENOSYS and callers take their read()
 * path.  Only packaging/windows/build.sh puts this directory on the
 * include path. */
#ifndef BITSYNC_COMPAT_SYS_MMAN_H
#define BITSYNC_COMPAT_SYS_MMAN_H

#include <windows.h>

#include <errno.h>
#include <stddef.h>
#include <sys/types.h>

#define PROT_NONE	0x0
#define PROT_READ	0x1
#define PROT_WRITE	0x2
#define PROT_EXEC	0x4
#define MAP_SHARED	0x01
#define MAP_PRIVATE	0x02
#define MAP_ANONYMOUS	0x20
#define MAP_ANON	MAP_ANONYMOUS
#define MAP_POPULATE	0		/* VirtualAlloc commits at once */
#define MAP_FAILED	((void *)-1)

static inline void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p;

	(void)addr;
	(void)off;
	if (!(flags & MAP_ANONYMOUS) || fd != -1 || len == 0) {
		errno = ENOSYS;
		return MAP_FAILED;
	}
	p = VirtualAlloc(NULL, len, MEM_RESERVE | MEM_COMMIT,
	    (prot & PROT_WRITE) ? PAGE_READWRITE :
	    (prot & PROT_READ) ? PAGE_READONLY : PAGE_NOACCESS);
	if (p == NULL) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return p;
}

static inline int
munmap(void *addr, size_t len)
{
	(void)len;
	return VirtualFree(addr, 0, MEM_RELEASE) ? 0 : -1;
}

#endif
