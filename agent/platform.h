/* platform.h - the few operating-system services the core needs, so that
 * the core (reader, rules, model, planner) builds unchanged for POSIX and
 * for Windows.  platform_posix.c and win/platform_win.c implement it. */
#ifndef BITSYNC_PLATFORM_H
#define BITSYNC_PLATFORM_H

#include <stddef.h>

enum platform_kind { PLATFORM_KIND_MISSING, PLATFORM_KIND_FILE,
	PLATFORM_KIND_DIR, PLATFORM_KIND_OTHER };

/* What path is, following symlinks; MISSING when it does not exist.
 * Returns -1 (errno set) when it cannot be inspected. */
int platform_path_kind(const char *path, enum platform_kind *kind);

/* The names (not paths) of the regular files in dir whose names end in
 * ".yaml" or ".yml", sorted in byte order.  Free with platform_free_names.
 * Returns -1 with errno set when dir cannot be read. */
int platform_list_manifests(const char *dir, char ***names, size_t *n);
void platform_free_names(char **names, size_t n);

/* dir + separator + name, newly allocated. */
char *platform_join(const char *dir, const char *name);

/* A hint that the process is about to allocate about bytes and keep them
 * until it exits (a plan over a large manifest): where the C library
 * allows, the heap then grows in one step backed by huge pages instead of
 * faulting in 4 KiB at a time.  Nothing else changes; may do nothing. */
void platform_heap_hint(size_t bytes);

/* Calls fn(arg, lo, hi) over [0, n) in slices of about grain items, on
 * up to four threads at once (the caller's among them, one per CPU), and
 * returns when every slice is done: for independent system calls that
 * spend their time in the kernel (a stat of every placed file).  fn must
 * be safe to run concurrently on different slices.  Runs inline when n is
 * one slice, or where threads are not offered. */
void platform_parallel(size_t n, size_t grain,
    void (*fn)(void *arg, size_t lo, size_t hi), void *arg);

#endif
