/* recheck.c - the re-check grid of a set (see recheck.h). */
#include <string.h>

#include "recheck.h"

/* The set's phase on this host, in [0, refresh): FNV-1a over seed and
 * name, then a 64-bit finaliser (FNV's low bits follow the last byte
 * closely, and sets named pkgs-1, pkgs-2 must not get neighbouring
 * phases). */
static uint64_t
phase_of(uint64_t seed, const char *set, uint64_t refresh)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	size_t i, n = set != NULL ? strlen(set) : 0;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)set[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h % refresh;
}

static uint64_t
slices_of(uint64_t refresh, size_t nfiles)
{
	uint64_t k = nfiles > 0 ? (uint64_t)nfiles : 1;

	return k < refresh ? k : refresh;
}

/* Position of t in the set's period: seconds since the last grid origin
 * (phase), in [0, refresh). */
static uint64_t
position(int64_t t, uint64_t phase, uint64_t refresh)
{
	int64_t p = (t - (int64_t)phase) % (int64_t)refresh;

	return (uint64_t)(p < 0 ? p + (int64_t)refresh : p);
}

/* Offset of slice j in the period: strictly increasing in j, and at
 * least one second apart since k <= refresh. */
static uint64_t
offset_of(uint64_t j, uint64_t k, uint64_t refresh)
{
	return j * refresh / k;
}

int64_t
recheck_next(uint64_t seed, const char *set, uint64_t refresh,
    size_t nfiles, int64_t after)
{
	uint64_t k, ph, p, j;
	int64_t t = 0;

	if (refresh == 0)
		goto done;
	k = slices_of(refresh, nfiles);
	ph = phase_of(seed, set, refresh);
	p = position(after + 1, ph, refresh);
	/* The first slice at or after p: j >= p * k / refresh. */
	j = (p * k + refresh - 1) / refresh;
	if (j >= k)		/* past the last slice: slice 0 next period */
		t = after + 1 + (int64_t)(refresh - p);
	else
		t = after + 1 + (int64_t)(offset_of(j, k, refresh) - p);
done:
	return t;
}

int
recheck_file_due(uint64_t seed, const char *set, uint64_t refresh,
    size_t nfiles, size_t i, int64_t from, int64_t to)
{
	uint64_t k, off, p;
	int64_t t;
	int due = 0;

	if (refresh == 0 || to <= from)
		goto done;
	if ((uint64_t)(to - from) >= refresh || nfiles == 0) {
		due = 1;
		goto done;
	}
	k = slices_of(refresh, nfiles);
	off = offset_of((uint64_t)i * k / (uint64_t)nfiles, k, refresh);
	/* The slice's first time after from. */
	p = position(from + 1, (phase_of(seed, set, refresh) + off) %
	    refresh, refresh);
	t = from + 1 + (int64_t)(p == 0 ? 0 : refresh - p);
	due = t <= to;
done:
	return due;
}

int64_t
recheck_commit_time(int same_spec, int64_t last_check, uint64_t refresh,
    int64_t now)
{
	if (same_spec && refresh > 0 && last_check > 0 && last_check <= now &&
	    (uint64_t)(now - last_check) < refresh)
		return last_check;
	return now;
}
