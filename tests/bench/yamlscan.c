/* yamlscan.c - the floor of the manifest-validation benchmark.
 *
 *     bench_yamlscan PATH...
 *
 * Runs libyaml's event parser (yaml_parser_parse) over each file to the end,
 * deleting every event, and does nothing else: no tree, no checks.  Any
 * libyaml-based manifest reader does at least this much work, so its wall
 * time and peak RSS are the floor that `bitsync validate` is compared with.
 * A directory argument stands for its *.yaml and *.yml files in byte order of
 * their names, as a bitsync drop-in directory does.
 *
 * Prints the number of events and files; exits 1 on a YAML error, 74 when a
 * file cannot be read. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

static unsigned long long nevents;
static unsigned nfiles;

static int scan_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	yaml_parser_t p;
	yaml_event_t ev;
	int done = 0, rc = 0;

	if (f == NULL) {
		fprintf(stderr, "bench_yamlscan: %s: %s\n", path, strerror(errno));
		return 74;
	}
	if (!yaml_parser_initialize(&p)) {
		fprintf(stderr, "bench_yamlscan: out of memory\n");
		fclose(f);
		return 70;
	}
	yaml_parser_set_input_file(&p, f);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			fprintf(stderr, "bench_yamlscan: %s:%lu:%lu: %s\n", path,
			    (unsigned long)p.problem_mark.line + 1,
			    (unsigned long)p.problem_mark.column + 1,
			    p.problem ? p.problem : "YAML error");
			rc = 1;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		nevents++;
	}
	yaml_parser_delete(&p);
	fclose(f);
	nfiles++;
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_yaml_suffix(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	    (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int scan_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, "bench_yamlscan: %s: %s\n", dir, strerror(errno));
		return 74;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !has_yaml_suffix(e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			names = realloc(names, cap * sizeof *names);
			if (names == NULL)
				abort();
		}
		names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
		if (names[n] == NULL)
			abort();
		sprintf(names[n], "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof *names, cmp_names);
	for (i = 0; i < n; i++) {
		if (rc == 0)
			rc = scan_file(names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	int i, rc = 0;
	struct stat st;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_yamlscan PATH...\n");
		return 64;
	}
	for (i = 1; i < argc && rc == 0; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			rc = scan_dir(argv[i]);
		else
			rc = scan_file(argv[i]);
	}
	printf("%llu events in %u file%s\n", nevents, nfiles, nfiles == 1 ? "" : "s");
	return rc;
}
