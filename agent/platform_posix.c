/* platform_posix.c - platform.h for Linux and other POSIX hosts.
 *
 * Drop-in listing follows what "*.yaml" and "*.yml" mean to a shell: names
 * that start with '.' are skipped (editor backups, ".#x.yaml" locks, a
 * package manager's ".dpkg-new" staging), suffixes are matched with their
 * case, and symlinks count by what they point to (a link to a regular file
 * is a drop-in; perm_check judges where it points).  Byte order (strcmp)
 * is the contract: locale collation would order "B.yaml" and "a.yaml"
 * differently on two hosts of one fleet. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform.h"
#include "util.h"

int
platform_path_kind(const char *path, enum platform_kind *kind)
{
	struct stat sb;

	if (stat(path, &sb) == -1) {
		/* ENOTDIR: a file where a parent directory should be; the
		 * path names nothing, which is what "missing" means here. */
		if (errno == ENOENT || errno == ENOTDIR) {
			*kind = PLATFORM_KIND_MISSING;
			return 0;
		}
		return -1;
	}
	if (S_ISREG(sb.st_mode))
		*kind = PLATFORM_KIND_FILE;
	else if (S_ISDIR(sb.st_mode))
		*kind = PLATFORM_KIND_DIR;
	else
		*kind = PLATFORM_KIND_OTHER;
	return 0;
}

static int
has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcmp(name + n - s, suffix) == 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
platform_list_manifests(const char *dir, char ***names, size_t *n)
{
	DIR *dp;
	struct dirent *de;
	struct stat sb;
	char **v = NULL;
	size_t nv = 0, cap = 0;
	int rc = -1, saved;

	*names = NULL;
	*n = 0;
	dp = opendir(dir);
	if (dp == NULL)
		return -1;
	for (;;) {
		errno = 0;
		de = readdir(dp);
		if (de == NULL) {
			if (errno != 0)
				goto out;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		if (!has_suffix(de->d_name, ".yaml") &&
		    !has_suffix(de->d_name, ".yml"))
			continue;
		/* A dangling link or an entry removed meanwhile is not a
		 * drop-in; any other failure is worth reporting. */
		if (fstatat(dirfd(dp), de->d_name, &sb, 0) == -1) {
			if (errno == ENOENT)
				continue;
			goto out;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if (nv == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[nv++] = xstrdup(de->d_name);
	}
	if (nv > 1)
		qsort(v, nv, sizeof(*v), cmp_names);
	*names = v;
	*n = nv;
	v = NULL;
	nv = 0;
	rc = 0;
out:
	saved = errno;
	platform_free_names(v, nv);
	closedir(dp);
	errno = saved;
	return rc;
}

void
platform_free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

char *
platform_join(const char *dir, const char *name)
{
	size_t l = strlen(dir);

	if (l == 0)
		return xstrdup(name);
	if (dir[l - 1] == '/')
		return xasprintf("%s%s", dir, name);
	return xasprintf("%s/%s", dir, name);
}
