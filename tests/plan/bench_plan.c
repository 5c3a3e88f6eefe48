/* bench_plan.c - how long does planning take at scale (issue 4: `plan` of
 * 10,000 sets against 10,000 recorded sets under 100 ms)?
 *
 *   bench_plan CONFIG seed        record every declared set as in sync
 *                                 (spec applied, local files as they are)
 *   bench_plan CONFIG time [RUNS] load + observe + plan, RUNS times;
 *                                 prints the median and the phases
 *
 * No backend is opened: the engine's job listing is measured by the
 * engine's own benchmarks, and a fleet host in sync has no jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "observe.h"
#include "reconcile.h"
#include "util.h"

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* CPU time: the machine is shared, wall time lies under load. */
static double
cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The phases of reconcile_plan one by one, in CPU milliseconds. */
static void
phases(struct reconcile_ctx *c)
{
	struct reconcile_input in;
	struct state_set *rec;
	struct spec *specs;
	struct plan_obs **obs;
	struct platform_statdir *sd;
	size_t nrec, n, k;
	double t0, t1, t2, t3, t4;

	t0 = cpu_ms();
	reconcile_load(c, NULL, 0, 0, &in);
	t1 = cpu_ms();
	state_load(c->st, &rec, &nrec);
	t2 = cpu_ms();
	n = in.m ? in.m->nsets : 0;
	specs = xcalloc(n + 1, sizeof(*specs));
	obs = xcalloc(n + 1, sizeof(*obs));
	for (k = 0; k < n; k++)
		spec_build(&in.m->sets[k], PLATFORM_POSIX, &specs[k]);
	t3 = cpu_ms();
	sd = platform_statdir_new();
	for (k = 0; k < n; k++)
		obs[k] = observe_spec(&specs[k], 0, sd);
	platform_statdir_free(sd);
	t4 = cpu_ms();
	printf("cpu: read+validate %.1f ms, state_load %.1f ms, spec_build "
	    "%.1f ms, observe %.1f ms\n", t1 - t0, t2 - t1, t3 - t2,
	    t4 - t3);
	for (k = 0; k < n; k++) {
		spec_free(&specs[k]);
		free(obs[k]);
	}
	free(specs);
	free(obs);
	state_free_sets(rec, nrec);
	reconcile_input_free(&in);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct diags d;
	struct state *st;
	struct reconcile_ctx c;
	char *err;
	int runs = argc > 3 ? atoi(argv[3]) : 5, i, bkrc;
	double *tl, *tp;

	if (argc < 3)
		return 2;
	diags_init(&d);
	config_defaults(&cfg);
	if (config_load(&cfg, argv[1], 0, &d) != 0) {
		diags_print_text(&d, stderr);
		return 1;
	}
	if (state_open(cfg.state_dir, &st, &err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	memset(&c, 0, sizeof(c));
	c.cfg = &cfg;
	c.platform = PLATFORM_POSIX;
	c.st = st;
	if (strcmp(argv[2], "seed") == 0) {
		struct reconcile_input in;
		struct reconcile_view v;
		size_t k, f;

		reconcile_load(&c, NULL, 0, 1, &in);
		reconcile_plan(&c, &in, (int64_t)time(NULL), &v, &bkrc);
		state_begin(st);
		for (k = 0; k < v.ndesired; k++) {
			const struct spec *sp = v.desired[k].spec;
			struct state_set s = { 0 };
			struct state_file *sf = xcalloc(sp->job.nfiles + 1,
			    sizeof(*sf));

			s.name = (char *)v.desired[k].set->name;
			s.spec_hash = (char *)sp->hash;
			s.manifest_file = (char *)reconcile_origin(&in,
			    v.desired[k].set);
			s.last_success = s.last_check = (int64_t)time(NULL);
			for (f = 0; f < sp->job.nfiles; f++) {
				sf[f].local = (char *)sp->files[f].local;
				sf[f].remote = (char *)sp->files[f].remote;
				sf[f].size = BK_SIZE_UNKNOWN;
				sf[f].local_size = v.obs[k][f].size;
				sf[f].local_mtime_ns = v.obs[k][f].mtime_ns;
			}
			state_put_set(st, &s);
			state_put_files(st, s.name, sf, sp->job.nfiles);
			free(sf);
		}
		state_commit(st);
		printf("seeded %zu sets\n", v.ndesired);
		reconcile_view_free(&v);
		reconcile_input_free(&in);
		goto out;
	}
	phases(&c);
	phases(&c);
	tl = xcalloc((size_t)runs, sizeof(*tl));
	tp = xcalloc((size_t)runs, sizeof(*tp));
	for (i = 0; i < runs; i++) {
		struct reconcile_input in;
		struct reconcile_view v;
		struct timespec t0;
		size_t k, in_sync = 0;

		double c0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		c0 = cpu_ms();
		reconcile_load(&c, NULL, 0, 0, &in);
		tl[i] = ms_since(&t0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		reconcile_plan(&c, &in, (int64_t)time(NULL), &v, &bkrc);
		tp[i] = ms_since(&t0);
		if (i == 0)
			printf("cpu of one load+plan: %.1f ms\n", cpu_ms() - c0);
		for (k = 0; k < v.plan.n; k++)
			if (v.plan.v[k].verb == PLAN_NONE)
				in_sync++;
		if (i == 0)
			printf("%zu sets, %zu recorded, %zu in sync\n",
			    v.ndesired, v.nrecorded, in_sync);
		reconcile_view_free(&v);
		reconcile_input_free(&in);
	}
	qsort(tl, (size_t)runs, sizeof(*tl), cmp_double);
	qsort(tp, (size_t)runs, sizeof(*tp), cmp_double);
	printf("median of %d: read+validate %.1f ms, state+observe+plan "
	    "%.1f ms, total %.1f ms\n", runs, tl[runs / 2], tp[runs / 2],
	    tl[runs / 2] + tp[runs / 2]);
	free(tl);
	free(tp);
out:
	state_close(st);
	config_free(&cfg);
	diags_free(&d);
	return 0;
}
