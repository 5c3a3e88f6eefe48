/* cmd_plan.c - `bitsync plan`: what a reconcile pass would do now, per
 * set, as a diff an administrator reads before an apply (like terraform
 * plan), or as JSON for pipelines.  Changes nothing: no job, no state,
 * no last-known-good copy; the one file it may write is the validated-
 * manifest cache (mcache.h), which only spares the next command the
 * validation. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "control.h"
#include "platform.h"
#include "reconcile.h"
#include "util.h"

/* The sign in front of a set in the text diff. */
static char
sign(enum plan_verb v)
{
	switch (v) {
	case PLAN_CREATE:
		return '+';
	case PLAN_CANCEL_RECREATE:
	case PLAN_ADD_FILES:
	case PLAN_RESUME:
	case PLAN_RETRY:
	case PLAN_COMPLETE:
	case PLAN_ADOPT:
	case PLAN_SUSPEND:
	case PLAN_RECHECK:
		return '~';
	case PLAN_CANCEL_ORPHAN:
	case PLAN_REDUCE_DUPLICATES:
		return '-';
	case PLAN_REPORT_DRIFT:
	case PLAN_HOLD:
		return '!';
	default:
		return ' ';
	}
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "never");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
print_text(const struct reconcile_input *in, const struct reconcile_view *v,
    int verbose, FILE *out)
{
	struct reconcile_summary sum;
	size_t i, k, shown = 0;
	char g[39], t[32];

	reconcile_summarize(v, &sum);
	for (i = 0; i < v->plan.n; i++) {
		const struct plan_action *a = &v->plan.v[i];
		const struct spec *sp = a->desired ? a->desired->spec : NULL;

		if (!verbose && (a->verb == PLAN_NONE || a->verb == PLAN_WAIT))
			continue;
		if (shown++ == 0)
			fprintf(out, "bitsync will perform these actions:\n\n");
		fprintf(out, "  %c %s: %s (%s)", sign(a->verb), a->set,
		    plan_verb_name(a->verb), plan_reason_text(a->reason));
		if ((a->reason == PLAN_R_MISSING ||
		    a->reason == PLAN_R_DRIFTED) && sp != NULL)
			fprintf(out, ": %s", sp->files[a->file].local);
		fputc('\n', out);
		if (a->job != NULL) {
			bk_guid_format(&a->job->id, g);
			fprintf(out, "      job %s %s\n", g,
			    bk_state_name(a->job->state));
			if (a->job->has_error)
				fprintf(out, "      error: %s (context %s, "
				    "0x%08x)\n", a->job->error.text ?
				    a->job->error.text : "?",
				    bk_context_name(a->job->error.context),
				    (unsigned)a->job->error.code);
		}
		if (a->reason == PLAN_R_BACKOFF) {
			fmt_time(a->retry_at, t, sizeof(t));
			fprintf(out, "      retry at %s (failure %u)\n", t,
			    a->attempts);
		}
		if (a->recorded != NULL && a->recorded->last_error != NULL)
			fprintf(out, "      last error: %s\n",
			    a->recorded->last_error);
		for (k = 0; k < a->ncancel; k++) {
			bk_guid_format(&a->cancel[k]->id, g);
			fprintf(out, "      - cancel job %s (%s)\n", g,
			    bk_state_name(a->cancel[k]->state));
		}
		for (k = 0; k < a->nremove; k++)
			fprintf(out, "      - delete %s\n", a->remove[k]->local);
		if (sp != NULL && (a->verb == PLAN_CREATE ||
		    a->verb == PLAN_CANCEL_RECREATE))
			for (k = 0; k < sp->job.nfiles; k++)
				fprintf(out, "      + %s\n          <- %s\n",
				    sp->files[k].local, sp->files[k].remote);
		if (sp != NULL && a->verb == PLAN_ADD_FILES && a->job != NULL) {
			/* Only what the job gains; it keeps the rest. */
			unsigned char *add = xcalloc(sp->job.nfiles + 1, 1);

			plan_grow_files(a->desired, a->recorded, a->job,
			    spec_job_hash(a->job->description, a->set,
			    strlen(a->set)), add);
			for (k = 0; k < sp->job.nfiles; k++)
				if (add[k])
					fprintf(out, "      + %s\n          <- %s\n",
					    sp->files[k].local,
					    sp->files[k].remote);
			free(add);
		}
		if (a->nforeign > 0)
			fprintf(out, "      (%zu job%s named bitsync:%s not created "
			    "by this agent: left alone)\n", a->nforeign,
			    a->nforeign == 1 ? "" : "s", a->set);
	}
	if (shown == 0)
		fprintf(out, "No changes. Every declared set is in sync or on its "
		    "way.\n");
	for (i = 0; i < in->nlkg_used; i++)
		fprintf(out, "\nnote: %s is invalid; its last valid version stays "
		    "in force\n", in->lkg_used[i]);
	for (i = 0; i < in->nheld; i++)
		fprintf(out, "\nnote: %s is invalid and never validated; its sets "
		    "are held as they are\n", in->held[i]);
	fprintf(out, "\nPlan: %zu to change, %zu in sync, %zu in progress, %zu "
	    "failing, %zu drifted (monitor), %zu held.\n", sum.changed,
	    sum.in_sync, sum.working > sum.changed ?
	    sum.working - sum.changed : 0, sum.failed, sum.drift, sum.held);
}

static json_t *
strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static int
print_json(const struct reconcile_input *in, const struct reconcile_view *v,
    FILE *out)
{
	struct reconcile_summary sum;
	json_t *root = json_object(), *sets = json_array(), *dg = json_array();
	size_t i, k, changes = 0;
	char g[39];
	int rc;

	reconcile_summarize(v, &sum);
	for (i = 0; i < in->diags.n; i++) {
		const struct diag *d = &in->diags.v[i];

		json_array_append_new(dg, json_pack("{s:s?,s:i,s:i,s:s,s:s,"
		    "s:s}", "file", d->file, "line", (int)d->line, "column",
		    (int)d->col, "severity", diag_severity_name(d->severity),
		    "rule", d->rule, "message", d->message));
	}
	for (i = 0; i < v->plan.n; i++) {
		const struct plan_action *a = &v->plan.v[i];
		const struct spec *sp = a->desired ? a->desired->spec : NULL;
		json_t *o = json_object(), *arr;

		if (plan_action_changes(a))
			changes++;
		json_object_set_new(o, "name", json_string(a->set));
		json_object_set_new(o, "action",
		    json_string(plan_verb_name(a->verb)));
		json_object_set_new(o, "reason",
		    json_string(plan_reason_text(a->reason)));
		json_object_set_new(o, "changes",
		    json_boolean(plan_action_changes(a)));
		json_object_set_new(o, "mode", a->desired ? json_string(
		    a->desired->set->settings.mode == MODE_MONITOR ?
		    "monitor" : "enforce") : json_null());
		json_object_set_new(o, "spec", sp ? json_string(sp->hash) :
		    json_null());
		json_object_set_new(o, "applied_spec",
		    a->recorded && a->recorded->spec_hash ?
		    json_string(a->recorded->spec_hash) : json_null());
		json_object_set_new(o, "manifest_file", a->recorded &&
		    a->recorded->manifest_file && !a->desired ?
		    json_string(a->recorded->manifest_file) : a->desired ?
		    json_string(reconcile_origin(in, a->desired->set)) :
		    json_null());
		if (a->job != NULL) {
			bk_guid_format(&a->job->id, g);
			json_object_set_new(o, "job", json_pack("{s:s,s:s}",
			    "id", g, "state", bk_state_name(a->job->state)));
			if (a->job->has_error) {
				char code[16];

				snprintf(code, sizeof(code), "0x%08X",
				    (unsigned)a->job->error.code);
				json_object_set_new(o, "error", json_pack(
				    "{s:s,s:s,s:s?}", "context",
				    bk_context_name(a->job->error.context),
				    "code", code, "text", a->job->error.text));
			}
		} else
			json_object_set_new(o, "job", json_null());
		if (a->reason == PLAN_R_MISSING || a->reason == PLAN_R_DRIFTED)
			json_object_set_new(o, "file",
			    json_string(sp->files[a->file].local));
		if (a->reason == PLAN_R_BACKOFF)
			json_object_set_new(o, "retry_at",
			    json_integer(a->retry_at));
		json_object_set_new(o, "attempts", json_integer(a->attempts));
		json_object_set_new(o, "last_error",
		    a->recorded && a->recorded->last_error ?
		    json_string(a->recorded->last_error) : json_null());
		arr = json_array();
		for (k = 0; k < a->ncancel; k++) {
			bk_guid_format(&a->cancel[k]->id, g);
			json_array_append_new(arr, json_string(g));
		}
		json_object_set_new(o, "cancel", arr);
		arr = json_array();
		for (k = 0; k < a->nremove; k++)
			json_array_append_new(arr,
			    json_string(a->remove[k]->local));
		json_object_set_new(o, "delete", arr);
		arr = json_array();
		for (k = 0; sp != NULL && k < sp->job.nfiles; k++)
			json_array_append_new(arr, json_pack("{s:s,s:s}",
			    "remote", sp->files[k].remote, "local",
			    sp->files[k].local));
		json_object_set_new(o, "files", arr);
		json_object_set_new(o, "foreign_jobs",
		    json_integer((json_int_t)a->nforeign));
		json_array_append_new(sets, o);
	}
	json_object_set_new(root, "valid", json_boolean(in->valid));
	json_object_set_new(root, "diagnostics", dg);
	json_object_set_new(root, "changes", json_integer((json_int_t)changes));
	json_object_set_new(root, "summary", json_pack("{s:I,s:I,s:I,s:I,"
	    "s:I,s:I}", "sets", (json_int_t)sum.sets, "in_sync",
	    (json_int_t)sum.in_sync, "changes", (json_int_t)sum.changed,
	    "failing", (json_int_t)sum.failed, "drift", (json_int_t)sum.drift,
	    "held", (json_int_t)sum.held));
	json_object_set_new(root, "last_known_good",
	    strv_json(in->lkg_used, in->nlkg_used));
	json_object_set_new(root, "held_files", strv_json(in->held, in->nheld));
	json_object_set_new(root, "sets", sets);
	rc = json_dumpf(root, out, JSON_INDENT(2)) == 0 ? 0 : -1;
	fputc('\n', out);
	json_decref(root);
	return rc;
}

int
plan_render(struct reconcile_ctx *c, const char *const *paths, size_t npaths,
    int json, int detailed, int verbose, FILE *out, FILE *err)
{
	struct reconcile_input in;
	struct reconcile_view v;
	size_t i;
	int rc = EXIT_OK, bkrc;

	reconcile_load(c, paths, npaths, 0, &in);
	/* What a plan builds from here (specs, observations, the record)
	 * stays until it exits: about 3 KB a set. */
	if (c->one_shot && in.m != NULL)
		platform_heap_hint(in.m->nsets * 3072);
	if (reconcile_plan(c, &in, (int64_t)time(NULL), &v, &bkrc) != 0) {
		rc = bkrc == BK_E_IO ? EXIT_IOERR : EXIT_UNAVAILABLE;
		goto done;
	}
	if (json) {
		if (print_json(&in, &v, out) != 0)
			rc = EXIT_IOERR;
	} else {
		diags_sort(&in.diags);
		diags_print_text(&in.diags, err);
		print_text(&in, &v, verbose, out);
	}
	if (rc == EXIT_OK && !in.valid)
		rc = EXIT_INVALID;
	else if (rc == EXIT_OK && detailed)
		for (i = 0; i < v.plan.n; i++)
			if (plan_action_changes(&v.plan.v[i])) {
				rc = EXIT_CHANGES;
				break;
			}
done:
	reconcile_view_free(&v);
	reconcile_input_free(&in);
	return rc;
}

/* Asks a running daemon for the plan (control.h: "plan JSON DETAILED
 * VERBOSE\n", one PATH per line, "\n"), prints what it answers and
 * returns its exit code; -1 when no daemon answers. */
static int
plan_via_daemon(const struct cli *cli, int npaths, char **paths, int json,
    int detailed, int verbose)
{
	struct config cfg;
	struct diags d;
	struct control_reply r;
	char *req = NULL, *t;
	int rc = -1, cr, i;

	memset(&r, 0, sizeof(r));
	diags_init(&d);
	config_defaults(&cfg);
	if (reconcile_config_load(&cfg, cli->config_path,
	    !cli->config_explicit, &d) != 0 || cfg.state_dir == NULL)
		goto done;
	req = xasprintf("plan %d %d %d\n", json, detailed, verbose);
	for (i = 0; i < npaths; i++) {
		/* A PATH is read by the daemon: make it absolute here. */
		char *abs = platform_abspath(paths[i]);

		t = xasprintf("%s%s\n", req, abs ? abs : paths[i]);
		free(req);
		req = t;
		free(abs);
	}
	t = xasprintf("%s\n", req);
	free(req);
	req = t;
	if ((cr = control_call(cfg.state_dir, req, strlen(req), &r)) ==
	    CONTROL_NONE)
		goto done;
	if (cr == CONTROL_BROKEN) {
		fprintf(stderr, "bitsync plan: the daemon of %s did not "
		    "answer in full on its control endpoint (control.sock "
		    "there, a named pipe on Windows); is it stuck?\n",
		    cfg.state_dir);
		rc = EXIT_UNAVAILABLE;
		goto done;
	}
	fwrite(r.err, 1, r.errlen, stderr);
	fwrite(r.out, 1, r.outlen, stdout);
	rc = r.rc;
done:
	control_reply_free(&r);
	free(req);
	config_free(&cfg);
	diags_free(&d);
	return rc;
}

int
cmd_plan(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "detailed-exitcode", no_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct reconcile_session s;
	int json = 0, detailed = 0, verbose = 0, ch, rc;

	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "text") != 0) {
				fprintf(stderr, "bitsync plan: --format is text "
				    "or json, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'd':
			detailed = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	/* A running daemon holds the job store: it plans for us. */
	if ((rc = plan_via_daemon(cli, argc - optind, argv + optind, json,
	    detailed, verbose)) != -1)
		return rc;
	if ((rc = reconcile_session_open(&s, cli->config_path,
	    cli->config_explicit, 0, NULL)) != EXIT_OK)
		return rc;
	s.ctx.one_shot = 1;
	rc = plan_render(&s.ctx, (const char *const *)argv + optind,
	    (size_t)(argc - optind), json, detailed, verbose, stdout, stderr);
	reconcile_session_close(&s);
	return rc;
}
