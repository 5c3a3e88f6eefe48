/* status.c - the status document, its file and the metrics (status.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifndef _WIN32
#include <sys/stat.h>
#endif

#include "command.h"
#include "platform.h"
#include "sha256.h"
#include "status.h"
#include "util.h"

static const char *
set_state(const struct plan_action *a, int executed)
{
	if (a->verb == PLAN_CANCEL_ORPHAN)
		return "removing";
	if (!executed && plan_action_changes(a))
		return "pending";
	switch (a->verb) {
	case PLAN_NONE:
	case PLAN_RECHECK:
		return "in-sync";
	case PLAN_WAIT:
		if (a->reason == PLAN_R_JOB_BUDGET)
			return "queued";
		return a->reason == PLAN_R_BACKOFF ? "waiting-to-retry" :
		    "transferring";
	case PLAN_HOLD:
		return "held";
	case PLAN_REPORT_DRIFT:
		return "drift";
	case PLAN_CANCEL_ORPHAN:
		return "removing";
	case PLAN_RETRY:
		return "failed";
	default:
		return "transferring";
	}
}

static json_t *
job_json(const struct bk_job *j)
{
	json_t *o;
	char g[39];

	if (j == NULL)
		return json_null();
	bk_guid_format(&j->id, g);
	o = json_pack("{s:s,s:s,s:o,s:I,s:I,s:I}", "id", g, "state",
	    bk_state_name(j->state), "bytes_total",
	    j->bytes_total == BK_SIZE_UNKNOWN ? json_null() :
	    json_integer((json_int_t)j->bytes_total), "bytes_transferred",
	    (json_int_t)j->bytes_transferred, "files_total",
	    (json_int_t)j->files_total, "files_transferred",
	    (json_int_t)j->files_transferred);
	json_object_set_new(o, "error", j->has_error ? json_pack(
	    "{s:s,s:s,s:s?}", "context", bk_context_name(j->error.context),
	    "code", "", "text", j->error.text) : json_null());
	if (j->has_error) {
		char code[16];

		snprintf(code, sizeof(code), "0x%08X", (unsigned)j->error.code);
		json_object_set_new(json_object_get(o, "error"), "code",
		    json_string(code));
	}
	return o;
}

/* The digest of the manifest in force: SHA-256 over each file read (the
 * live file, or the last-known-good copy standing for it), by base name
 * and bytes, in reading order.  Hosts given the same manifest report the
 * same digest wherever their manifest directory is, so a fleet's
 * Prometheus can tell which hosts have not converged to it. */
static json_t *
manifest_digest(const struct reconcile_input *in)
{
	struct sha256 *h;
	uint8_t d[32];
	char hex[65];
	size_t i, k;

	/* Copies in force: reconcile_load hashed the bytes it parsed. */
	if (in->digest[0] != '\0')
		return json_string(in->digest);
	if (in->m == NULL || (h = sha256_new()) == NULL)
		return json_null();
	for (i = 0; i < in->m->nfiles; i++) {
		const char *f = in->m->files[i];
		char *data = NULL;
		size_t len = 0;

		if (util_read_file(f, 16u << 20, &data, &len) == -1) {
			(void)sha256_final(h, d);	/* frees h */
			return json_null();
		}
		reconcile_digest_file(h, f, data, len);
		free(data);
	}
	if (sha256_final(h, d) != 0)
		return json_null();
	for (k = 0; k < 32; k++)
		snprintf(hex + 2 * k, 3, "%02x", d[k]);
	return json_string(hex);
}

json_t *
status_build(const struct reconcile_input *in, const struct reconcile_view *v,
    int64_t now, int executed)
{
	json_t *root = json_object(), *sets = json_array(), *dg = json_array();
	json_t *lkg = json_array(), *held = json_array();
	size_t i, n_sync = 0, n_xfer = 0, n_fail = 0, n_drift = 0, n_held = 0;
	size_t n_pend = 0;

	for (i = 0; i < in->diags.n; i++) {
		const struct diag *d = &in->diags.v[i];

		json_array_append_new(dg, json_pack("{s:s?,s:i,s:i,s:s,s:s,"
		    "s:s}", "file", d->file, "line", (int)d->line, "column",
		    (int)d->col, "severity", diag_severity_name(d->severity),
		    "rule", d->rule, "message", d->message));
	}
	for (i = 0; i < in->nlkg_used; i++)
		json_array_append_new(lkg, json_string(in->lkg_used[i]));
	for (i = 0; i < in->nheld; i++)
		json_array_append_new(held, json_string(in->held[i]));
	for (i = 0; i < v->plan.n; i++) {
		const struct plan_action *a = &v->plan.v[i];
		const struct state_set *r = a->recorded;
		const struct mset *ms = a->desired ? a->desired->set : NULL;
		const char *st = set_state(a, executed);
		int64_t next = 0;
		json_t *o;

		if (ms != NULL && ms->settings.refresh > 0 && r != NULL &&
		    r->last_check > 0)
			next = a->check_at;	/* recheck.h */
		if (strcmp(st, "in-sync") == 0)
			n_sync++;
		else if (strcmp(st, "transferring") == 0)
			n_xfer++;
		else if (strcmp(st, "pending") == 0 ||
		    strcmp(st, "queued") == 0)
			n_pend++;
		else if (strcmp(st, "drift") == 0)
			n_drift++;
		else if (strcmp(st, "held") == 0)
			n_held++;
		else if (strcmp(st, "removing") != 0)
			n_fail++;
		o = json_object();
		json_object_set_new(o, "name", json_string(a->set));
		json_object_set_new(o, "state", json_string(st));
		json_object_set_new(o, "action",
		    json_string(plan_verb_name(a->verb)));
		json_object_set_new(o, "reason",
		    json_string(plan_reason_text(a->reason)));
		json_object_set_new(o, "mode", ms == NULL ? json_null() :
		    json_string(ms->settings.mode == MODE_MONITOR ?
		    "monitor" : "enforce"));
		json_object_set_new(o, "manifest_file", ms != NULL ?
		    json_string(reconcile_origin(in, ms)) :
		    r && r->manifest_file ? json_string(r->manifest_file) :
		    json_null());
		json_object_set_new(o, "spec", a->desired ?
		    json_string(a->desired->spec->hash) : json_null());
		json_object_set_new(o, "last_success",
		    json_integer(r ? r->last_success : 0));
		json_object_set_new(o, "next_check", json_integer(next));
		json_object_set_new(o, "attempts",
		    json_integer(r ? r->attempts : 0));
		json_object_set_new(o, "retry_at", json_integer(
		    a->reason == PLAN_R_BACKOFF ? a->retry_at : 0));
		json_object_set_new(o, "last_error", r && r->last_error ?
		    json_string(r->last_error) : json_null());
		json_object_set_new(o, "job", job_json(a->job));
		json_array_append_new(sets, o);
	}
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "generated", json_integer(now));
	json_object_set_new(root, "pid", json_integer(getpid()));
	json_object_set_new(root, "manifest", json_pack("{s:b,s:o,s:o,s:o,"
	    "s:o}", "valid", in->valid, "digest", manifest_digest(in),
	    "diagnostics", dg, "last_known_good", lkg, "held", held));
	json_object_set_new(root, "summary", json_pack("{s:I,s:I,s:I,s:I,"
	    "s:I,s:I,s:I}", "sets", (json_int_t)(n_sync + n_xfer + n_fail +
	    n_drift + n_held + n_pend), "in_sync", (json_int_t)n_sync,
	    "transferring", (json_int_t)n_xfer, "pending", (json_int_t)n_pend,
	    "failed", (json_int_t)n_fail, "drift", (json_int_t)n_drift, "held",
	    (json_int_t)n_held));
	json_object_set_new(root, "sets", sets);
	return root;
}

int
status_write_file(const char *path, const json_t *j)
{
	char *tmp;
	FILE *f;

	/* Replaced in one step: readers see the old or the new file. */
	if ((f = platform_replace_open(path, &tmp)) == NULL)
		return -1;
	if (json_dumpf(j, f, JSON_INDENT(1)) == -1) {
		platform_replace_abort(f, tmp);
		errno = ENOMEM;
		return -1;
	}
	return platform_replace_commit(f, tmp, path);
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void
label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

int
status_write_metrics(const char *path, const json_t *j, int64_t last)
{
	const json_t *sets = json_object_get(j, "sets"), *s, *x;
	char *tmp;
	size_t i;
	FILE *f = platform_replace_open(path, &tmp);

	if (f == NULL)
		return -1;
	fprintf(f, "# HELP bitsync_manifest_valid 1 when every manifest file "
	    "validates.\n# TYPE bitsync_manifest_valid gauge\n"
	    "bitsync_manifest_valid %d\n", json_is_true(json_object_get(
	    json_object_get(j, "manifest"), "valid")) ? 1 : 0);
	fprintf(f, "# HELP bitsync_last_reconcile_timestamp_seconds Start of "
	    "the last completed reconcile pass.\n# TYPE "
	    "bitsync_last_reconcile_timestamp_seconds gauge\n"
	    "bitsync_last_reconcile_timestamp_seconds %lld\n",
	    (long long)last);
	x = json_object_get(json_object_get(j, "manifest"), "digest");
	fputs("# HELP bitsync_manifest_info The manifest in force: SHA-256 "
	    "over its files (names and bytes).\n# TYPE bitsync_manifest_info "
	    "gauge\n", f);
	if (json_is_string(x))
		fprintf(f, "bitsync_manifest_info{digest=\"%s\"} 1\n",
		    json_string_value(x));
	fputs("# HELP bitsync_set_state 1 for the state the set is in, 0 for "
	    "the others.\n# TYPE bitsync_set_state gauge\n", f);
	json_array_foreach(sets, i, s) {
		static const char *const states[] = { "in_sync",
		    "transferring", "waiting", "failed", "drift", "held" };
		const char *st = json_string_value(json_object_get(s,
		    "state")), *m;
		size_t k;

		if (strcmp(st, "in-sync") == 0)
			m = "in_sync";
		else if (strcmp(st, "waiting-to-retry") == 0 ||
		    strcmp(st, "queued") == 0)
			m = "waiting";
		else if (strcmp(st, "pending") == 0)
			m = "transferring";
		else if (strcmp(st, "removing") == 0)
			continue;
		else
			m = st;
		for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
			fputs("bitsync_set_state{set=\"", f);
			label(f, json_string_value(json_object_get(s, "name")));
			fprintf(f, "\",state=\"%s\"} %d\n", states[k],
			    strcmp(m, states[k]) == 0);
		}
	}
	fputs("# HELP bitsync_set_in_sync 1 when the set is in sync.\n"
	    "# TYPE bitsync_set_in_sync gauge\n", f);
	json_array_foreach(sets, i, s) {
		fputs("bitsync_set_in_sync{set=\"", f);
		label(f, json_string_value(json_object_get(s, "name")));
		fprintf(f, "\"} %d\n", strcmp(json_string_value(
		    json_object_get(s, "state")), "in-sync") == 0);
	}
	fputs("# HELP bitsync_set_bytes_transferred Bytes of the set's "
	    "current job transferred.\n# TYPE bitsync_set_bytes_transferred "
	    "gauge\n", f);
	json_array_foreach(sets, i, s) {
		const json_t *job = json_object_get(s, "job");

		fputs("bitsync_set_bytes_transferred{set=\"", f);
		label(f, json_string_value(json_object_get(s, "name")));
		fprintf(f, "\"} %lld\n", json_is_object(job) ?
		    (long long)json_integer_value(json_object_get(job,
		    "bytes_transferred")) : 0LL);
	}
	/* The daemon's counters (status_build alone has none). */
	{
		static const struct {
			const char *key, *name, *help;
		} ctr[] = {
			{ "failures", "bitsync_set_failures_total",
			    "Failures of the set seen since the agent started "
			    "(job errors, checksum mismatches, refused "
			    "creates)." },
			{ "retries", "bitsync_set_retries_total",
			    "Retries of the set after failures since the "
			    "agent started." },
			{ "files_committed", "bitsync_set_files_committed_total",
			    "Files of the set committed since the agent "
			    "started." },
			{ "bytes_committed", "bitsync_set_bytes_committed_total",
			    "Bytes of the set committed since the agent "
			    "started." },
		};
		size_t k;

		for (k = 0; k < sizeof(ctr) / sizeof(ctr[0]); k++) {
			fprintf(f, "# HELP %s %s\n# TYPE %s counter\n",
			    ctr[k].name, ctr[k].help, ctr[k].name);
			json_array_foreach(sets, i, s) {
				const json_t *c = json_object_get(json_object_get(
				    s, "counters"), ctr[k].key);

				fprintf(f, "%s{set=\"", ctr[k].name);
				label(f, json_string_value(json_object_get(s,
				    "name")));
				fprintf(f, "\"} %lld\n", (long long)
				    json_integer_value(c));
			}
		}
	}
	command_metrics(f, sets);
	fprintf(f, "# HELP bitsync_build_info The agent's version.\n"
	    "# TYPE bitsync_build_info gauge\n"
	    "bitsync_build_info{version=\"%s\"} 1\n", BITSYNC_VERSION);
	fputs("# HELP bitsync_set_errors Consecutive failures of the set.\n"
	    "# TYPE bitsync_set_errors gauge\n", f);
	json_array_foreach(sets, i, s) {
		fputs("bitsync_set_errors{set=\"", f);
		label(f, json_string_value(json_object_get(s, "name")));
		fprintf(f, "\"} %lld\n", (long long)json_integer_value(
		    json_object_get(s, "attempts")));
	}
	return platform_replace_commit(f, tmp, path);
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "never");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static void
fmt_bytes(double b, char *buf, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

void
status_print_text(const json_t *j, FILE *out, int bars)
{
	const json_t *sets = json_object_get(j, "sets"), *s;
	const json_t *man = json_object_get(j, "manifest");
	const json_t *sum = json_object_get(j, "summary");
	const json_t *x;
	size_t i;
	char t1[32], t2[32];

	/* Whether an agent runs, and how old what follows is. */
	x = json_object_get(j, "agent");
	if (json_is_true(json_object_get(x, "running"))) {
		fmt_time(json_integer_value(json_object_get(x, "since")), t1,
		    sizeof(t1));
		fprintf(out, "agent: running, pid %lld, bitsync %s, since %s; "
		    "data %lld s old\n", (long long)json_integer_value(
		    json_object_get(x, "pid")), json_string_value(
		    json_object_get(x, "version")) ? json_string_value(
		    json_object_get(x, "version")) : "?", t1, (long long)(
		    time(NULL) - json_integer_value(json_object_get(j,
		    "generated"))));
	} else
		fputs("agent: not running; worked out now from the manifest, "
		    "the state and the jobs\n", out);
	json_array_foreach(sets, i, s) {
		const char *st = json_string_value(json_object_get(s, "state"));
		const json_t *job = json_object_get(s, "job");
		const char *err = json_string_value(json_object_get(s,
		    "last_error"));

		fprintf(out, "%-24s %-16s %s\n",
		    json_string_value(json_object_get(s, "name")), st,
		    json_string_value(json_object_get(s, "reason")));
		if (json_is_object(job)) {
			json_int_t tot = json_integer_value(
			    json_object_get(job, "bytes_total"));
			json_int_t done = json_integer_value(
			    json_object_get(job, "bytes_transferred"));
			char b1[32], b2[32];

			fmt_bytes((double)done, b1, sizeof(b1));
			fmt_bytes((double)tot, b2, sizeof(b2));
			fprintf(out, "    job %s %s: %s of %s, files %lld/%lld\n",
			    json_string_value(json_object_get(job, "id")),
			    json_string_value(json_object_get(job, "state")),
			    b1, json_is_integer(json_object_get(job,
			    "bytes_total")) ? b2 : "?",
			    (long long)json_integer_value(json_object_get(job,
			    "files_transferred")),
			    (long long)json_integer_value(json_object_get(job,
			    "files_total")));
			if (json_is_real(json_object_get(job, "rate"))) {
				fmt_bytes(json_real_value(json_object_get(job,
				    "rate")), b1, sizeof(b1));
				fprintf(out, "    rate %s/s (10 s average)", b1);
				if (json_is_integer(json_object_get(job,
				    "eta_seconds")))
					fprintf(out, ", ETA %llds", (long long)
					    json_integer_value(json_object_get(
					    job, "eta_seconds")));
				fputc('\n', out);
			}
			if (bars && tot > 0) {
				int w = 40, k, fill = (int)((double)done /
				    (double)tot * w);

				fputs("    [", out);
				for (k = 0; k < w; k++)
					fputc(k < fill ? '#' : '.', out);
				fprintf(out, "] %3d%%\n", (int)((double)done *
				    100 / (double)tot));
			}
			if (json_is_object(x = json_object_get(job, "error")))
				fprintf(out, "    error: %s (context %s, %s)\n",
				    json_string_value(json_object_get(x,
				    "text")) ? json_string_value(
				    json_object_get(x, "text")) : "?",
				    json_string_value(json_object_get(x,
				    "context")), json_string_value(
				    json_object_get(x, "code")));
		}
		if (err != NULL)
			fprintf(out, "    last error: %s (%lld attempt%s)\n", err,
			    (long long)json_integer_value(json_object_get(s,
			    "attempts")), json_integer_value(json_object_get(
			    s, "attempts")) == 1 ? "" : "s");
		if (json_integer_value(json_object_get(s, "retry_at")) > 0) {
			fmt_time(json_integer_value(json_object_get(s,
			    "retry_at")), t1, sizeof(t1));
			fprintf(out, "    retry at %s\n", t1);
		}
		if (json_is_object(x = json_object_get(s, "on_change"))) {
			char line[1024];

			command_status_text(x, line, sizeof(line));
			fprintf(out, "    %s\n", line);
		}
		fmt_time(json_integer_value(json_object_get(s,
		    "last_success")), t1, sizeof(t1));
		fmt_time(json_integer_value(json_object_get(s, "next_check")),
		    t2, sizeof(t2));
		fprintf(out, "    declared in %s; last success %s; next check "
		    "%s\n", json_string_value(json_object_get(s,
		    "manifest_file")) ? json_string_value(json_object_get(s,
		    "manifest_file")) : "-", t1, t2);
	}
	json_array_foreach(json_object_get(man, "diagnostics"), i, s)
		fprintf(out, "%s:%lld:%lld: %s: %s [%s]\n",
		    json_string_value(json_object_get(s, "file")),
		    (long long)json_integer_value(json_object_get(s, "line")),
		    (long long)json_integer_value(json_object_get(s,
		    "column")), json_string_value(json_object_get(s,
		    "severity")), json_string_value(json_object_get(s,
		    "message")), json_string_value(json_object_get(s, "rule")));
	json_array_foreach(json_object_get(man, "last_known_good"), i, s)
		fprintf(out, "note: %s is invalid; its last valid version "
		    "stays in force\n", json_string_value(s));
	json_array_foreach(json_object_get(man, "held"), i, s)
		fprintf(out, "note: %s is invalid and never validated; its "
		    "sets are held\n", json_string_value(s));
	fmt_time(json_integer_value(json_object_get(j, "generated")), t1,
	    sizeof(t1));
	fprintf(out, "%lld set(s): %lld in sync, %lld transferring, %lld "
	    "pending, %lld failed, %lld drift, %lld held (as of %s)\n",
	    (long long)json_integer_value(json_object_get(sum, "sets")),
	    (long long)json_integer_value(json_object_get(sum, "in_sync")),
	    (long long)json_integer_value(json_object_get(sum,
	    "transferring")),
	    (long long)json_integer_value(json_object_get(sum, "pending")),
	    (long long)json_integer_value(json_object_get(sum, "failed")),
	    (long long)json_integer_value(json_object_get(sum, "drift")),
	    (long long)json_integer_value(json_object_get(sum, "held")), t1);
}

json_t *
status_file_load(const char *path)
{
	json_t *j = NULL;
#ifndef _WIN32
	struct stat sb;
#endif
	int fd;

	if (path == NULL || *path == '\0' ||
	    (fd = platform_open_nofollow(path)) == -1)
		return NULL;
#ifndef _WIN32
	/* Anyone who can write the folder can put a file of theirs there,
	 * saying "all in sync" with a live pid: only root's or ours is the
	 * daemon's. */
	if (fstat(fd, &sb) != 0 || (sb.st_uid != 0 && sb.st_uid != geteuid()))
		goto done;
#endif
	j = json_loadfd(fd, 0, NULL);
#ifndef _WIN32
done:
#endif
	close(fd);
	return j;
}

/* A C1 control (U+0080..U+009F, CSI among them) is two bytes in UTF-8. */
static int
is_c1(const unsigned char *v, size_t i, size_t n)
{
	return v[i] == 0xc2 && i + 1 < n && v[i + 1] >= 0x80 &&
	    v[i + 1] <= 0x9f;
}

static void
scrub_string(json_t *s)
{
	const unsigned char *v = (const unsigned char *)json_string_value(s);
	size_t i, o = 0, n = json_string_length(s);
	char *copy;
	int dirty = 0;

	for (i = 0; i < n && !dirty; i++)
		dirty = v[i] < 0x20 || v[i] == 0x7f || is_c1(v, i, n);
	if (!dirty)
		return;
	copy = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		if (is_c1(v, i, n)) {
			copy[o++] = '?';
			i++;
		} else
			copy[o++] = v[i] < 0x20 || v[i] == 0x7f ? '?' :
			    (char)v[i];
	}
	copy[o] = '\0';
	json_string_set(s, copy);
	free(copy);
}

void
status_scrub(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_string(j))
		scrub_string(j);
	else if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			status_scrub(v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			status_scrub(v);
	}
}
